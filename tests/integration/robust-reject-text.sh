#!/bin/sh
# robust-reject-text.sh -- the SMTP reply for spamAction=reject carries the
# enhanced status code once: with the default RejectText
# "5.7.1 Message rejected as spam" the client must see
# "550 5.7.1 Message rejected as spam", not "550 5.7.1 5.7.1 ...".
# Found by tests/stress/load.sh.
# The same when the client quotes the local parts ("spammer"@bad.example,
# "dave+x"@example.net): Postfix hands the milter the addresses as the
# client wrote them, and the quotes made another sender (not on dave's
# blocklist) and another user ("dave, cut inside the quotes), whose
# spamAction was not reject: the mail was delivered.
. "$(dirname "$0")/lib.sh"

it_setup
CLI() { "$CLI_BIN" -c "$SAMPLE_CONF" -o "Home=$IT_DIR/run" "$@"; }
CLI db init >/dev/null || it_fail "db init"
CLI blocklist add --user dave@example.net spammer@bad.example || it_fail "blocklist"
CLI prefs set --user dave@example.net spamAction reject || it_fail "prefs"
it_milter
it_sink
it_postfix "unix:$IT_SOCK"
printf 'From: <spammer@bad.example>\nTo: <dave@example.net>\nSubject: x\n\nbuy now\n' >"$IT_DIR/m"
send() {
python3 - "$IT_SMTP_PORT" "$IT_DIR/m" "$1" "$2" <<'EOF_PY'
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), local_hostname="client.spamsift.test", timeout=30)
try:
    s.sendmail(sys.argv[3], [sys.argv[4]], open(sys.argv[2], "rb").read())
    print("250")
except smtplib.SMTPResponseException as e:
    print(e.smtp_code, e.smtp_error.decode())
EOF_PY
}
for pair in 'spammer@bad.example dave@example.net' \
    '"spammer"@bad.example "dave+x"@example.net' \
    '"Spammer"@Bad.example "Dave"@example.net'; do
	reply=$(send ${pair% *} ${pair#* })
	it_log "$pair: reply: $reply"
	case $reply in
	"550 5.7.1 Message rejected as spam") ;;
	*) it_fail "$pair: reject reply: '$reply'" ;;
	esac
done
exit 0
