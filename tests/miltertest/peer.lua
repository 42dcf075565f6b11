-- peer.lua -- clients at MAIL FROM, by {client_addr} and {client_name}
-- as the README's milter_mail_macros sends them: PEER1 is DebugPeer
-- mx1.example.org by name (in other case), PEER2 is not listed; PEER3 and
-- PEER4 are IPv6 clients as Postfix names them ("IPv6:" and the address),
-- in DebugPeer and SkipNetworks by address (run with DebugPeer 2001:db8::7
-- and SkipNetworks 2001:db8:1::/48). Each sends
-- a whole message: MAIL gets no reply, the end of message does, so the
-- milter has handled MAIL (and logged) when this script ends.
local function one(id, addr, name, from)
	local conn = mt.connect(os.getenv("SPAMSIFT_SOCK"))
	if conn == nil then error("cannot connect") end
	mt.macro(conn, SMFIC_MAIL, "i", id, "{client_addr}", addr,
	    "{client_name}", name)
	assert(mt.mailfrom(conn, from) == nil)
	assert(mt.rcptto(conn, "<bob@example.net>") == nil)
	assert(mt.header(conn, "Subject", " peers") == nil)
	assert(mt.eoh(conn) == nil)
	assert(mt.bodystring(conn, "a few words\r\n") == nil)
	assert(mt.eom(conn) == nil)
	mt.disconnect(conn)
end
one("PEER1", "192.0.2.7", "MX1.Example.ORG", "<peer1@example.org>")
one("PEER2", "192.0.2.8", "mx2.example.org", "<peer2@example.org>")
one("PEER3", "IPv6:2001:db8::7", "mx3.example.org", "<peer3@example.org>")
one("PEER4", "IPv6:2001:db8:1::9", "mx4.example.org", "<peer4@example.org>")
