-- agree.lua -- recipients who agree on spam or not by different means: dan
-- blocklists the sender, emma's model calls the text spam; dan whitelists
-- another sender, fay's model (empty) calls it innocent. Their copy says
-- Spam (with the Subject tag) or Innocent; it said Mixed, untagged.
local function send(id, from, rcpts, subject, body)
	local conn = mt.connect(os.getenv("SPAMSIFT_SOCK"))
	if conn == nil then error("cannot connect") end
	mt.macro(conn, SMFIC_MAIL, "i", id, "{client_addr}", "127.0.0.1")
	assert(mt.mailfrom(conn, from) == nil)
	for _, r in ipairs(rcpts) do assert(mt.rcptto(conn, r) == nil) end
	assert(mt.header(conn, "From", " " .. from) == nil)
	assert(mt.header(conn, "Subject", " " .. subject) == nil)
	assert(mt.eoh(conn) == nil)
	assert(mt.bodystring(conn, body) == nil)
	assert(mt.eom(conn) == nil)
	return conn
end

local spam = "cheap pills casino lottery prize winner claim now\r\n"
local c = send("AG1", "<spammer@bad.example>",
	{ "<dan@example.net>", "<emma@example.net>" }, "cheap pills", spam)
local r = mt.getheader(c, "X-Spamsift-Result", 0)
if r ~= " Spam" and r ~= "Spam" then
	error("AG1: X-Spamsift-Result " .. tostring(r) .. ", not Spam")
end
if not mt.eom_check(c, MT_HDRCHANGE, "Subject", " [SPAM] cheap pills") then
	error("AG1: the Subject was not tagged")
end
mt.disconnect(c)

c = send("AG2", "<friend@good.example>",
	{ "<dan@example.net>", "<fay@example.net>" }, "lunch",
	"see you at noon\r\n")
r = mt.getheader(c, "X-Spamsift-Result", 0)
if r ~= " Innocent" and r ~= "Innocent" then
	error("AG2: X-Spamsift-Result " .. tostring(r) .. ", not Innocent")
end
mt.disconnect(c)

-- A sender of 600 bytes in a blocklisted domain: it was no sender at
-- all (the filter kept 511 bytes), and passed. (miltertest itself dies
-- on a sender of more than about 1,000 bytes.)
c = send("AG3", "<" .. string.rep("a", 600) .. "@LongSender.example>",
	{ "<dan@example.net>" }, "hello", "see you at noon\r\n")
r = mt.getheader(c, "X-Spamsift-Result", 0)
if r ~= " Blocklisted" and r ~= "Blocklisted" then
	error("AG3: X-Spamsift-Result " .. tostring(r) .. ", not Blocklisted")
end
mt.disconnect(c)

-- Quoted local parts with blanks and '>' that read as fields of the log
-- line (miltertest.sh checks it).
c = send("AG4", "<\"x> carol=Blocklisted/1.0000/quarantine action=discard\"@bad.example>",
	{ "<\"y action=discard z\"@example.net>", "<fay@example.net>" }, "hi",
	"see you\r\n")
mt.disconnect(c)
