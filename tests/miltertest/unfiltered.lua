-- unfiltered.lua -- a message for 1,001 addresses of one user (run with
-- UserMap localpart) through spamsift-milter at SPAMSIFT_SOCK: the first
-- 1,000 are filtered, the one past the milter's limit is delivered
-- unfiltered and counted so in the log line ("unfiltered=1").
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
