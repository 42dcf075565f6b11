-- one.lua -- one message through spamsift-milter at SPAMSIFT_SOCK, tagged
-- (with X-Spamsift-Factors too when WANT_FACTORS is set).
local conn = mt.connect(os.getenv("SPAMSIFT_SOCK"))
if conn == nil then error("cannot connect") end
mt.macro(conn, SMFIC_MAIL, "i", "RL1", "{client_addr}", "127.0.0.1")
assert(mt.mailfrom(conn, "<sender@example.org>") == nil)
assert(mt.rcptto(conn, "<bob@example.net>") == nil)
assert(mt.header(conn, "Subject", " after the reload") == nil)
assert(mt.eoh(conn) == nil)
assert(mt.bodystring(conn, "a few words for the model\r\n") == nil)
assert(mt.eom(conn) == nil)
if not mt.eom_check(conn, MT_HDRADD, "X-Spamsift-Result") then
	error("no X-Spamsift-Result header")
end
if os.getenv("WANT_FACTORS") and not mt.eom_check(conn, MT_HDRADD, "X-Spamsift-Factors") then
	error("no X-Spamsift-Factors header")
end
mt.disconnect(conn)
