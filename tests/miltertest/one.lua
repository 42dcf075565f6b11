-- one.lua -- one message through spamsift-milter at SPAMSIFT_SOCK, tagged
-- (with X-Spamsift-Factors too when WANT_FACTORS is set, naming tokens).
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
if os.getenv("WANT_FACTORS") then
	if not mt.eom_check(conn, MT_HDRADD, "X-Spamsift-Factors") then
		error("no X-Spamsift-Factors header")
	end
	-- tokens by their text ("words=0.123"), not by hashes only
	local f = mt.getheader(conn, "X-Spamsift-Factors", 0)
	if f == nil or not string.find(f, "[g-zG-Z:][^, ]*=%d") then
		error("X-Spamsift-Factors names no token: " .. tostring(f))
	end
end
mt.disconnect(conn)
