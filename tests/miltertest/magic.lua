-- magic.lua -- one message with an attachment (libmagic types it).
local conn = mt.connect(os.getenv("SPAMSIFT_SOCK"))
if conn == nil then error("cannot connect") end
mt.macro(conn, SMFIC_MAIL, "i", "MG1", "{client_addr}", "127.0.0.1")
assert(mt.mailfrom(conn, "<sender@example.org>") == nil)
assert(mt.rcptto(conn, "<bob@example.net>") == nil)
assert(mt.header(conn, "MIME-Version", " 1.0") == nil)
assert(mt.header(conn, "Content-Type", " application/pdf; name=x.pdf") == nil)
assert(mt.header(conn, "Content-Transfer-Encoding", " base64") == nil)
assert(mt.eoh(conn) == nil)
assert(mt.bodystring(conn, "JVBERi0xLjQKJcfsj6IK\r\n") == nil)
assert(mt.eom(conn) == nil)
if mt.getreply(conn) ~= SMFIR_CONTINUE then
	error("the message was not let through")
end
mt.disconnect(conn)
