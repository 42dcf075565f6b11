-- subject.lua -- spamSubject tags: gus's " [SPAM] " (blanks around it) once
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

-- The Subject is tagged to want, or (want nil) left as it is.
local function tagged(id, rcpt, subject, want, why)
	local c = subj(id, rcpt, subject)
	local ok
	if want == nil then
		ok = not mt.eom_check(c, MT_HDRCHANGE, "Subject")
	else
		ok = mt.eom_check(c, MT_HDRCHANGE, "Subject", want)
	end
	if not ok then error(id .. ": " .. why) end
	mt.disconnect(c)
end

tagged("SU1", "<gus@example.net>", " hello", " [SPAM] hello",
	"not tagged ' [SPAM] hello'")
-- the tagged Subject passes again: left as it is
tagged("SU2", "<gus@example.net>", " [SPAM] hello", nil,
	"a tagged Subject was tagged again")
-- folded before its first word (Postfix sends the line break): left as
-- it is (it was tagged again, "[SPAM] \n [SPAM] hello")
tagged("SU8", "<gus@example.net>", "\n [SPAM] hello", nil,
	"a tagged Subject folded before its tag was tagged again")
-- tagged, then encoded whole by another hop: left as it is
tagged("SU5", "<gus@example.net>", " =?UTF-8?B?W1NQQU1dIGhlbGxv?=", nil,
	"a tagged Subject, encoded again, was tagged again")
tagged("SU3", "<hal@example.net>", " hello",
	" =?UTF-8?B?W9Ch0J/QkNCcXQ==?= hello", "the tag is not an encoded word")
tagged("SU4", "<hal@example.net>", " =?UTF-8?B?W9Ch0J/QkNCcXQ==?= hello",
	nil, "an encoded tag was tagged again")
-- the tag as raw UTF-8 (an SMTPUTF8 hop decoded it): left as it is
tagged("SU7", "<hal@example.net>", " [СПАМ] hello", nil,
	"a Subject with the raw tag was tagged again")

-- jon's tag is 128 bytes that are not UTF-8 (an older store's): the
-- site's tag instead (encoded, they overflowed a buffer)
tagged("SU6", "<jon@example.net>", " hello", " [SPAM] hello",
	"not tagged with the site's tag")

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
