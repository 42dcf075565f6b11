#!/bin/sh
# robust-reject-text.sh -- the SMTP reply for spamAction=reject carries the
# enhanced status code once: with the default RejectText
# "5.7.1 Message rejected as spam" the client must see
# "550 5.7.1 Message rejected as spam", not "550 5.7.1 5.7.1 ...".
# Found by tests/stress/load.sh.
# The same when the client quotes the local parts ("spammer"@bad.example,
# "dave+x"@example.net), adds a source route or a final dot to a domain:
# Postfix hands the milter the addresses as the client wrote them and
# delivers to dave@example.net, but they made another sender (not on
# dave's blocklist) and another user ("dave, cut inside the quotes), whose
# spamAction was not reject: the mail was delivered. So was a sender whose
# quoted local part holds a '>' ("x>"@evil.example: cut there, "x").
. "$(dirname "$0")/lib.sh"

it_setup
CLI() { "$CLI_BIN" -c "$SAMPLE_CONF" -o "Home=$IT_DIR/run" "$@"; }
CLI db init >/dev/null || it_fail "db init"
CLI blocklist add --user dave@example.net spammer@bad.example evil.example || it_fail "blocklist"
CLI prefs set --user dave@example.net spamAction reject || it_fail "prefs"
it_milter
it_sink
it_postfix "unix:$IT_SOCK"
# Raw SMTP: smtplib rewrites source routes.
send() {
python3 - "$IT_SMTP_PORT" "$1" "$2" <<'EOF_PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
f = s.makefile("rwb")
def cmd(c):
    if c is not None:
        f.write(c.encode() + b"\r\n")
        f.flush()
    while True:
        l = f.readline().decode()
        if l[3:4] != "-":
            return l.strip()
for c in (None, "EHLO client.spamsift.test", "MAIL FROM:<%s>" % sys.argv[2],
          "RCPT TO:<%s>" % sys.argv[3], "DATA"):
    r = cmd(c)
    if r[0] not in "23":
        sys.exit("%s: %s" % (c, r))
print(cmd("From: <spammer@bad.example>\r\nTo: <dave@example.net>\r\n"
          "Subject: x\r\n\r\nbuy now\r\n."))
cmd("QUIT")
EOF_PY
}
# The same sender and recipient as Postfix delivers them, however written.
for pair in 'spammer@bad.example dave@example.net' \
    '"spammer"@bad.example "dave+x"@example.net' \
    '"Spammer"@Bad.example "Dave"@example.net' \
    '@relay.example:spammer@bad.example @a.example,@b.example:dave@example.net' \
    'spammer@bad.example. dave@example.net.' \
    '"x>"@evil.example dave@example.net'; do
	reply=$(send "${pair% *}" "${pair#* }")
	it_log "$pair: reply: $reply"
	case $reply in
	"550 5.7.1 Message rejected as spam") ;;
	*) it_fail "$pair: reject reply: '$reply'" ;;
	esac
done
# A control character in a quoted local part (Postfix relays it) is still
# a sender of the blocklisted domain: the address was refused whole, the
# sender taken as empty, and the mail delivered.
for from in "$(printf '"x\001"@evil.example')" "$(printf '"x\tx"@evil.example')"; do
	reply=$(send "$from" dave@example.net)
	it_log "$from: reply: $reply"
	[ "$reply" = "550 5.7.1 Message rejected as spam" ] || it_fail "sender $from: reply '$reply'"
done
# ... and the milter's log line shows it as '?' (a TAB split its fields)
grep -q 'from=<x?@evil.example> ' "$IT_DIR/milter.log" && grep -q 'from=<x?x@evil.example> ' "$IT_DIR/milter.log" ||
	it_fail "control characters in the log: $(grep evil "$IT_DIR/milter.log" | od -c | head -5)"
exit 0
