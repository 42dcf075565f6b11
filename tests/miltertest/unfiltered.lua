-- unfiltered.lua -- a message for 1,001 addresses of one user (run with
-- UserMap localpart) through spamsift-milter at SPAMSIFT_SOCK: the first
-- 1,000 are filtered, the one past the milter's limit is delivered
-- unfiltered and counted so in the log line ("unfiltered=1"). An address
-- that maps to the global model's name ("@global"@d) is no user's either:
-- it was classified and learned as @global, the model every user's is
-- merged with, so that anyone could train it by mail.
local conn = mt.connect(os.getenv("SPAMSIFT_SOCK"))
if conn == nil then error("cannot connect") end
mt.macro(conn, SMFIC_MAIL, "i", "UF1", "{client_addr}", "127.0.0.1")
assert(mt.mailfrom(conn, "<sender@example.org>") == nil)
for i = 1, 1001 do
	assert(mt.rcptto(conn, "<bob@d" .. i .. ".example.net>") == nil)
end
assert(mt.header(conn, "Subject", " for many") == nil)
assert(mt.eoh(conn) == nil)
assert(mt.bodystring(conn, "a few words\r\n") == nil)
assert(mt.eom(conn) == nil)
mt.disconnect(conn)

conn = mt.connect(os.getenv("SPAMSIFT_SOCK"))
if conn == nil then error("cannot connect") end
mt.macro(conn, SMFIC_MAIL, "i", "UF2", "{client_addr}", "127.0.0.1")
assert(mt.mailfrom(conn, "<sender@example.org>") == nil)
assert(mt.rcptto(conn, "<\"@global\"@example.net>") == nil)
assert(mt.header(conn, "Subject", " for the global model") == nil)
assert(mt.eoh(conn) == nil)
assert(mt.bodystring(conn, "a few words\r\n") == nil)
assert(mt.eom(conn) == nil)
if mt.eom_check(conn, MT_HDRADD, "X-Spamsift-Result") then
	error("UF2: \"@global\"@example.net was classified")
end
mt.disconnect(conn)
