-- subject.lua -- spamSubject tags: gus's " [SPAM]" (a leading blank) once
-- per message however often it passes, hal's "[СПАМ]" as an RFC 2047
-- encoded word (raw 8-bit bytes made an invalid header); ivy's
-- signatureLocation=message kept out of bodies it would corrupt.

-- One message from spammer@bad.example to rcpt; headers as name, value
-- pairs.
local function send(id, rcpt, headers, body)
	local conn = mt.connect(os.getenv("SPAMSIFT_SOCK"))
	if conn == nil then error("cannot connect") end
	mt.macro(conn, SMFIC_MAIL, "i", id, "{client_addr}", "127.0.0.1")
	assert(mt.mailfrom(conn, "<spammer@bad.example>") == nil)
	assert(mt.rcptto(conn, rcpt) == nil)
	for i = 1, #headers, 2 do
		assert(mt.header(conn, headers[i], headers[i + 1]) == nil)
	end
	assert(mt.eoh(conn) == nil)
	assert(mt.bodystring(conn, body) == nil)
	assert(mt.eom(conn) == nil)
	return conn
end

local function subj(id, rcpt, subject)
	return send(id, rcpt, { "From", " spammer@bad.example",
		"Subject", subject }, "buy now\r\n")
end

local c = subj("SU1", "<gus@example.net>", " hello")
if not mt.eom_check(c, MT_HDRCHANGE, "Subject", " [SPAM] hello") then
	error("SU1: not tagged ' [SPAM] hello'")
end
mt.disconnect(c)
-- the tagged Subject passes again: left as it is
c = subj("SU2", "<gus@example.net>", " [SPAM] hello")
if mt.eom_check(c, MT_HDRCHANGE, "Subject") then
	error("SU2: a tagged Subject was tagged again")
end
mt.disconnect(c)
-- tagged, then encoded whole by another hop: left as it is
c = subj("SU5", "<gus@example.net>", " =?UTF-8?B?W1NQQU1dIGhlbGxv?=")
if mt.eom_check(c, MT_HDRCHANGE, "Subject") then
	error("SU5: a tagged Subject, encoded again, was tagged again")
end
mt.disconnect(c)
c = subj("SU3", "<hal@example.net>", " hello")
if not mt.eom_check(c, MT_HDRCHANGE, "Subject", " =?UTF-8?B?W9Ch0J/QkNCcXQ==?= hello") then
	error("SU3: the tag is not an encoded word")
end
mt.disconnect(c)
c = subj("SU4", "<hal@example.net>", " =?UTF-8?B?W9Ch0J/QkNCcXQ==?= hello")
if mt.eom_check(c, MT_HDRCHANGE, "Subject") then
	error("SU4: an encoded tag was tagged again")
end
mt.disconnect(c)
-- the tag as raw UTF-8 (an SMTPUTF8 hop decoded it): left as it is
c = subj("SU7", "<hal@example.net>", " [СПАМ] hello")
if mt.eom_check(c, MT_HDRCHANGE, "Subject") then
	error("SU7: a Subject with the raw tag was tagged again")
end
mt.disconnect(c)

-- jon's tag is 128 bytes that are not UTF-8 (an older store's): the
-- site's tag instead (encoded, they overflowed a buffer)
c = subj("SU6", "<jon@example.net>", " hello")
if not mt.eom_check(c, MT_HDRCHANGE, "Subject", " [SPAM] hello") then
	error("SU6: not tagged with the site's tag")
end
mt.disconnect(c)

-- ivy: the body takes a signature line, or the header the signature.
local function sig_in(id, ctype, body, in_body)
	local conn = send(id, "<ivy@example.net>", { "MIME-Version", " 1.0",
		"Content-Type", " " .. ctype }, body)
	if mt.eom_check(conn, MT_BODYCHANGE) ~= in_body then
		error(id .. (in_body and ": no signature line in the body"
			or ": a signature line was added to the body"))
	end
	if not in_body and not mt.eom_check(conn, MT_HDRADD, "X-Spamsift-Signature") then
		error(id .. ": no signature header")
	end
	mt.disconnect(conn)
end
-- a UTF-16 text (an ASCII line decoded as CJK garbage); a UTF-8 one
sig_in("SG1", "text/plain; charset=utf-16le", "H\0i\0\r\0\n\0", false)
sig_in("SG2", "text/plain; charset=utf-8", "hi\r\n", true)
-- a preamble line that only starts like the close ("--o--x") and a last
-- part never closed: the line would go into that part; closed by "--o--"
-- and a blank, the body takes it
local part = "--o\r\nContent-Type: application/octet-stream\r\n" ..
	"Content-Transfer-Encoding: base64\r\n\r\nAAAA\r\n"
sig_in("SG3", "multipart/mixed; boundary=o", "preamble\r\n--o--x\r\n" .. part, false)
sig_in("SG4", "multipart/mixed; boundary=o",
	"preamble\r\n" .. part .. "--o-- \r\nepilogue\r\n", true)
