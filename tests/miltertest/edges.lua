-- edges.lua -- protocol edges of spamsift-milter, driven by miltertest
-- without an MTA: abort mid-body, several messages on one connection, RSET,
-- an empty body, a connection dropped mid-message, recipients that fill
-- the log line, a flood of forged headers. The milter must answer
-- every message and survive all of it (the shell wrapper checks it is alive
-- and that it logged exactly the messages that ended).
local sock = os.getenv("SPAMSIFT_SOCK")

local function must(v, what)
	if v ~= nil then error(what .. " failed: " .. tostring(v)) end
end

local function start(conn, id)
	mt.macro(conn, SMFIC_MAIL, "i", id, "{client_addr}", "127.0.0.1")
	must(mt.mailfrom(conn, "<sender@example.org>"), "mailfrom")
	must(mt.rcptto(conn, "<bob@example.net>"), "rcptto")
	must(mt.header(conn, "From", " sender@example.org"), "header From")
	must(mt.header(conn, "Subject", " test " .. id), "header Subject")
	must(mt.eoh(conn), "eoh")
end

local function finish(conn, what)
	must(mt.eom(conn), "eom")
	local r = mt.getreply(conn)
	if r ~= SMFIR_ACCEPT and r ~= SMFIR_CONTINUE then
		error(what .. ": unexpected reply " .. tostring(r))
	end
	if not mt.eom_check(conn, MT_HDRADD, "X-Spamsift-Result") then
		error(what .. ": no X-Spamsift-Result header")
	end
end

local conn = mt.connect(sock, 20, 0.1)
if conn == nil then error("mt.connect failed") end
-- No conninfo/helo: spamsift negotiates those steps away.

-- 1. Two messages on one connection.
start(conn, "MT1")
must(mt.bodystring(conn, "first body\r\n"), "body")
finish(conn, "message 1")
start(conn, "MT2")
must(mt.bodystring(conn, "second body\r\n"), "body")
finish(conn, "message 2")

-- 2. Abort mid-body (as after RSET), then a message with an empty body.
start(conn, "MT3")
must(mt.bodystring(conn, "half a body that is never fin"), "body")
must(mt.abort(conn), "abort")
start(conn, "MT4")
finish(conn, "empty body")

-- 3. A large body in many chunks.
start(conn, "MT5")
for i = 1, 40 do must(mt.bodyrandom(conn, 60000), "bodyrandom") end
finish(conn, "large body")
mt.disconnect(conn)

-- 4. A connection dropped in the middle of a message.
conn = mt.connect(sock, 20, 0.1)
if conn == nil then error("mt.connect (2) failed") end
start(conn, "MT6")
must(mt.bodystring(conn, "dropped before the end"), "body")
mt.disconnect(conn, false)

-- 5. And the milter still serves.
conn = mt.connect(sock, 20, 0.1)
if conn == nil then error("mt.connect (3) failed") end
start(conn, "MT7")
must(mt.bodystring(conn, "still here\r\n"), "body")
finish(conn, "after a dropped connection")

-- 6. Five recipients of about 400 bytes each (five users): more than the
-- log line holds, which is cut, not overrun.
mt.macro(conn, SMFIC_MAIL, "i", "MT8", "{client_addr}", "127.0.0.1")
must(mt.mailfrom(conn, "<sender@example.org>"), "mailfrom")
for i = 1, 5 do
	must(mt.rcptto(conn, "<" .. string.rep(tostring(i), 393) .. "@example.net>"),
	    "rcptto " .. i)
end
must(mt.header(conn, "Subject", " long recipients"), "header Subject")
must(mt.eoh(conn), "eoh")
must(mt.bodystring(conn, "to five long names\r\n"), "body")
finish(conn, "long recipients")

-- A message whose headers add_forged sends (after MAIL and RCPT) must be
-- refused: removing each costs Postfix's cleanup a scan of the headers.
local function refused(conn, id, add_forged, what)
	mt.macro(conn, SMFIC_MAIL, "i", id, "{client_addr}", "127.0.0.1")
	must(mt.mailfrom(conn, "<sender@example.org>"), "mailfrom")
	must(mt.rcptto(conn, "<bob@example.net>"), "rcptto")
	add_forged()
	must(mt.eoh(conn), "eoh")
	must(mt.bodystring(conn, "forged\r\n"), "body")
	must(mt.eom(conn), "eom")
	if mt.getreply(conn) ~= SMFIR_REPLYCODE then
		error(what .. ": not rejected")
	end
end

-- 7. A message with 1,001 copies of X-Spamsift-Result: refused, and the
-- next one is not.
refused(conn, "MT9", function()
	for i = 1, 1001 do
		must(mt.header(conn, "X-Spamsift-Result", " Innocent"), "forged header")
	end
end, "1,001 forged headers")
mt.macro(conn, SMFIC_MAIL, "i", "MT10", "{client_addr}", "127.0.0.1")
must(mt.mailfrom(conn, "<sender@example.org>"), "mailfrom")
must(mt.rcptto(conn, "<bob@example.net>"), "rcptto")
must(mt.header(conn, "X-Spamsift-Result", " Innocent"), "forged header")
must(mt.header(conn, "X-Spamsift-Whitelisted", " yes"), "forged header")
must(mt.eoh(conn), "eoh")
finish(conn, "after the forged headers")
if not mt.eom_check(conn, MT_HDRCHANGE, "X-Spamsift-Result") then
	error("a forged X-Spamsift-Result was not removed")
end
-- any name under the prefix, not only the five spamsift writes
if not mt.eom_check(conn, MT_HDRCHANGE, "X-Spamsift-Whitelisted") then
	error("a forged X-Spamsift-Whitelisted was not removed")
end

-- 8. More X-Spamsift-* names than the milter counts (16): refused too.
refused(conn, "MT11", function()
	for i = 1, 17 do
		must(mt.header(conn, "X-Spamsift-Name" .. i, " x"), "forged header")
	end
end, "17 forged header names")

-- 9. 1,200 copies under two names: the limit counts them all (each name
-- had 1,000, so 16 names let 16,000 deletions reach Postfix's cleanup).
refused(conn, "MT12", function()
	for i = 1, 600 do
		must(mt.header(conn, "X-Spamsift-Result", " Innocent"), "forged header")
		must(mt.header(conn, "X-Spamsift-Other", " x"), "forged header")
	end
end, "1,200 forged headers under two names")

-- 10. One name over 63 bytes: refused, and logged as such (not as too
-- many names).
refused(conn, "MT13", function()
	must(mt.header(conn, "X-Spamsift-" .. string.rep("n", 60), " x"), "forged header")
end, "a forged header name too long")
mt.disconnect(conn)
