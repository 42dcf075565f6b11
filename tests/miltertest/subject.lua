-- subject.lua -- spamSubject tags: gus's " [SPAM]" (a leading blank) once
-- per message however often it passes, hal's "[СПАМ]" as an RFC 2047
-- encoded word (raw 8-bit bytes made an invalid header).
local function send(id, rcpt, subject)
	local conn = mt.connect(os.getenv("SPAMSIFT_SOCK"))
	if conn == nil then error("cannot connect") end
	mt.macro(conn, SMFIC_MAIL, "i", id, "{client_addr}", "127.0.0.1")
	assert(mt.mailfrom(conn, "<spammer@bad.example>") == nil)
	assert(mt.rcptto(conn, rcpt) == nil)
	assert(mt.header(conn, "From", " spammer@bad.example") == nil)
	assert(mt.header(conn, "Subject", subject) == nil)
	assert(mt.eoh(conn) == nil)
	assert(mt.bodystring(conn, "buy now\r\n") == nil)
	assert(mt.eom(conn) == nil)
	return conn
end

local c = send("SU1", "<gus@example.net>", " hello")
if not mt.eom_check(c, MT_HDRCHANGE, "Subject", " [SPAM] hello") then
	error("SU1: not tagged ' [SPAM] hello'")
end
mt.disconnect(c)
-- the tagged Subject passes again: left as it is
c = send("SU2", "<gus@example.net>", " [SPAM] hello")
if mt.eom_check(c, MT_HDRCHANGE, "Subject") then
	error("SU2: a tagged Subject was tagged again")
end
mt.disconnect(c)
c = send("SU3", "<hal@example.net>", " hello")
if not mt.eom_check(c, MT_HDRCHANGE, "Subject", " =?UTF-8?B?W9Ch0J/QkNCcXQ==?= hello") then
	error("SU3: the tag is not an encoded word")
end
mt.disconnect(c)
c = send("SU4", "<hal@example.net>", " =?UTF-8?B?W9Ch0J/QkNCcXQ==?= hello")
if mt.eom_check(c, MT_HDRCHANGE, "Subject") then
	error("SU4: an encoded tag was tagged again")
end
mt.disconnect(c)

-- ivy (signatureLocation=message): a UTF-16 text keeps its body, the
-- signature goes in the header (an ASCII line decoded as CJK garbage);
-- a UTF-8 text takes the line.
local function sigmsg(id, charset, body)
	local conn = mt.connect(os.getenv("SPAMSIFT_SOCK"))
	if conn == nil then error("cannot connect") end
	mt.macro(conn, SMFIC_MAIL, "i", id, "{client_addr}", "127.0.0.1")
	assert(mt.mailfrom(conn, "<spammer@bad.example>") == nil)
	assert(mt.rcptto(conn, "<ivy@example.net>") == nil)
	assert(mt.header(conn, "MIME-Version", " 1.0") == nil)
	assert(mt.header(conn, "Content-Type", " text/plain; charset=" .. charset) == nil)
	assert(mt.header(conn, "Content-Transfer-Encoding", " 8bit") == nil)
	assert(mt.eoh(conn) == nil)
	assert(mt.bodystring(conn, body) == nil)
	assert(mt.eom(conn) == nil)
	return conn
end
c = sigmsg("SG1", "utf-16le", "H\0i\0\r\0\n\0")
if mt.eom_check(c, MT_BODYCHANGE) then
	error("SG1: a signature line was added to a UTF-16 body")
end
if not mt.eom_check(c, MT_HDRADD, "X-Spamsift-Signature") then
	error("SG1: no signature header")
end
mt.disconnect(c)
c = sigmsg("SG2", "utf-8", "hi\r\n")
if not mt.eom_check(c, MT_BODYCHANGE) then
	error("SG2: no signature line in a UTF-8 body")
end
mt.disconnect(c)

-- A multipart whose preamble holds a line that only starts like the close
-- ("--o--x") and whose last part is never closed: the line would go into
-- that part; the signature goes in the header. One closed by "--o--" and
-- a blank takes the line.
local function multi(id, body)
	local conn = mt.connect(os.getenv("SPAMSIFT_SOCK"))
	if conn == nil then error("cannot connect") end
	mt.macro(conn, SMFIC_MAIL, "i", id, "{client_addr}", "127.0.0.1")
	assert(mt.mailfrom(conn, "<spammer@bad.example>") == nil)
	assert(mt.rcptto(conn, "<ivy@example.net>") == nil)
	assert(mt.header(conn, "MIME-Version", " 1.0") == nil)
	assert(mt.header(conn, "Content-Type", " multipart/mixed; boundary=o") == nil)
	assert(mt.eoh(conn) == nil)
	assert(mt.bodystring(conn, body) == nil)
	assert(mt.eom(conn) == nil)
	return conn
end
local part = "--o\r\nContent-Type: application/octet-stream\r\n" ..
	"Content-Transfer-Encoding: base64\r\n\r\nAAAA\r\n"
c = multi("SG3", "preamble\r\n--o--x\r\n" .. part)
if mt.eom_check(c, MT_BODYCHANGE) then
	error("SG3: a signature line went into an unclosed last part")
end
if not mt.eom_check(c, MT_HDRADD, "X-Spamsift-Signature") then
	error("SG3: no signature header")
end
mt.disconnect(c)
c = multi("SG4", "preamble\r\n" .. part .. "--o-- \r\nepilogue\r\n")
if not mt.eom_check(c, MT_BODYCHANGE) then
	error("SG4: no signature line after a closed multipart")
end
mt.disconnect(c)
