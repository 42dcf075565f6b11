-- peer.lua -- two clients at MAIL FROM, by {client_addr} and {client_name}
-- as the README's milter_mail_macros sends them: PEER1 is DebugPeer
-- mx1.example.org by name (in other case), PEER2 is not listed. Each sends
-- a whole message: MAIL gets no reply, the end of message does, so the
-- milter has handled MAIL (and logged) when this script ends.
local function one(addr, name, from)
	local conn = mt.connect(os.getenv("SPAMSIFT_SOCK"))
	if conn == nil then error("cannot connect") end
	mt.macro(conn, SMFIC_MAIL, "i", "PEER", "{client_addr}", addr,
	    "{client_name}", name)
	assert(mt.mailfrom(conn, from) == nil)
	assert(mt.rcptto(conn, "<bob@example.net>") == nil)
	assert(mt.header(conn, "Subject", " peers") == nil)
	assert(mt.eoh(conn) == nil)
	assert(mt.bodystring(conn, "a few words\r\n") == nil)
	assert(mt.eom(conn) == nil)
	mt.disconnect(conn)
end
one("192.0.2.7", "MX1.Example.ORG", "<peer1@example.org>")
one("192.0.2.8", "mx2.example.org", "<peer2@example.org>")
