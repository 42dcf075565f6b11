-- many.lua -- one message from a blocklisted sender to 300 addresses that
-- all map to one user (UserMap localpart), who quarantines: every address
-- must be stored with the copy (a fixed 4 KiB list cut it after about 100,
-- and the rest were deleted from the message all the same).
local conn = mt.connect(os.getenv("SPAMSIFT_SOCK"))
if conn == nil then error("cannot connect") end
mt.macro(conn, SMFIC_MAIL, "i", "MANY1", "{client_addr}", "127.0.0.1")
-- (the sender in capitals: the blocklist matches it in any case, and
-- release sends the message as that sender, as given)
assert(mt.mailfrom(conn, "<SPAMMER@Bad.Example>") == nil)
for i = 1, 300 do
	assert(mt.rcptto(conn, "<carol@department-number-" .. i .. ".example.net>") == nil)
end
-- and two more spellings of carol: a quoted local part with a blank and a
-- comma (release split it in three), a source route
assert(mt.rcptto(conn, "<\"carol+a b,c\"@example.net>") == nil)
assert(mt.rcptto(conn, "<@relay.example:carol@example.net>") == nil)
assert(mt.header(conn, "From", " <spammer@bad.example>") == nil)
assert(mt.header(conn, "Subject", " for all of carol") == nil)
-- a folded field, with bare line feeds as Postfix sends it
assert(mt.header(conn, "X-Folded", " a\n\tb\n  c") == nil)
assert(mt.eoh(conn) == nil)
assert(mt.bodystring(conn, "cheap pills\r\n") == nil)
assert(mt.eom(conn) == nil)
if mt.getreply(conn) ~= SMFIR_DISCARD then
	error("a message every recipient quarantines was not discarded")
end
mt.disconnect(conn)
