#!/bin/sh
# dovecot-learn.sh -- contrib/dovecot as shipped, in a private Dovecot IMAP
# server on 127.0.0.1: a user who moves a message into Junk or out of it
# teaches spamsift through imapsieve, the sieve pipe and spamsift-learn.
# Moving spam to the Trash teaches nothing; a spamsift that fails does not
# stop the move.
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || it_skip "needs root to run a private Dovecot"
command -v dovecot >/dev/null 2>&1 && command -v sievec >/dev/null 2>&1 ||
	it_fail "dovecot not installed (apt-get install dovecot-imapd dovecot-sieve)"
command -v python3 >/dev/null 2>&1 || it_fail "python3 not installed"
id nobody >/dev/null 2>&1 || it_skip "no user nobody"

IT_DIR=$(mktemp -d /tmp/spamsift-dovecot.XXXXXX)
chmod 755 "$IT_DIR"
IT_PIDS=""
D=$IT_DIR
PORT=$(it_port)
USR=alice@example.org
# At exit: stop Dovecot (showing its log on failure), then lib.sh's
# cleanup, which exits with the test's status.
stop_dovecot() {
	st=$?
	if [ "$st" != 0 ] && [ -f "$D/dovecot.log" ]; then
		echo "--- dovecot log" >&2; tail -n 30 "$D/dovecot.log" >&2
	fi
	[ -f "$D/dovecot.conf" ] && dovecot -c "$D/dovecot.conf" stop >/dev/null 2>&1
	return "$st"
}
trap 'stop_dovecot; it_cleanup' EXIT

# spamsift: its own store, owned by the mail user (nobody here, vmail on a
# real server), who is trusted to act for the IMAP users.
mkdir -p "$D/store" "$D/bin" "$D/sieve" "$D/sieve-pipe" "$D/home"
cp "$CLI_BIN" "$D/bin/spamsift"
chmod 755 "$D/bin" "$D/bin/spamsift" "$D/sieve" "$D/sieve-pipe"
{ cat "$SAMPLE_CONF"; echo "Home $D/store"; echo "Trust root nobody"; } >"$D/spamsift.conf"
chmod 644 "$D/spamsift.conf"
S() { "$D/bin/spamsift" -c "$D/spamsift.conf" "$@"; }
spam() { printf 'From: seller@pills.example\nTo: %s\nSubject: cheap pills %s\n\nBuy cheap pills now, best price, online pharmacy, order today %s\n' "$USR" "$1" "$1"; }
ham() { printf 'From: carol@example.net\nTo: %s\nSubject: meeting notes %s\n\nHi Alice, attached are the notes from the project meeting. Regards, Carol %s\n' "$USR" "$1" "$1"; }
mkdir -p "$D/train/spam" "$D/train/ham"
for i in 1 2 3 4 5 6 7 8 9 10 11 12; do spam "$i" >"$D/train/spam/$i"; ham "$i" >"$D/train/ham/$i"; done
S db init >/dev/null || it_fail "db init"
S train --user "$USR" --spam "$D/train/spam" --ham "$D/train/ham" >/dev/null || it_fail "training"
# A message as spamsift-milter delivered it: classified (and learned) as
# innocent, its signature in a header. The user will call it spam.
S classify --user "$USR" --train --format json "$D/train/ham/1" >"$D/out" || it_fail "classify --train"
sig=$(sed -n 's/.*"signature":"\([0-9a-f]*\)".*/\1/p' "$D/out")
[ -n "$sig" ] || it_fail "no signature: $(cat "$D/out")"
{ printf 'X-Spamsift-Result: Innocent\nX-Spamsift-Signature: %s\n' "$sig"; ham 1; } >"$D/signed.eml"
spam 99 >"$D/unsigned.eml"
chown -R nobody:nogroup "$D/store"
chmod 700 "$D/store"

# stats LABEL FIELD VALUE: the user's counter is VALUE.
stat_is() {
	S stats --user "$USR" --format json >"$D/stats" 2>&1 || it_fail "$1: stats: $(cat "$D/stats")"
	grep -q "\"$2\":$3[,}]" "$D/stats" || it_fail "$1: $2 is not $3: $(cat "$D/stats")"
}

# The shipped files, with this test's paths.
sed -e "s|^SPAMSIFT=.*|SPAMSIFT=$D/bin/spamsift|" -e "s|^CONFIG=.*|CONFIG=$D/spamsift.conf|" \
	"$top_srcdir/contrib/dovecot/spamsift-learn" >"$D/sieve-pipe/spamsift-learn"
chmod 755 "$D/sieve-pipe/spamsift-learn"
cp "$top_srcdir/contrib/dovecot/report-spam.sieve" "$top_srcdir/contrib/dovecot/report-ham.sieve" "$D/sieve/"
printf '%s:{PLAIN}secret\n' "$USR" >"$D/passwd"
chown nobody:nogroup "$D/home"
cat >"$D/dovecot.conf" <<EOF
base_dir = $D/run
state_dir = $D/state
instance_name = spamsift-test-$$
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
log_path = $D/dovecot.log
mail_location = maildir:~/Maildir
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $D/passwd
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$D/home/%u
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $PORT
  }
  inet_listener imaps {
    port = 0
  }
}
# AddressSanitizer (the sanitizer build) reserves terabytes of address
# space, more than the imap process's default 256 MB, which its pipe inherits.
service imap {
  vsz_limit = 0
}
service submission-login {
  inet_listener submission {
    port = 0
  }
}
!include $top_srcdir/contrib/dovecot/90-spamsift.conf
plugin {
  sieve_pipe_bin_dir = $D/sieve-pipe
  imapsieve_mailbox1_before = file:$D/sieve/report-spam.sieve
  imapsieve_mailbox2_before = file:$D/sieve/report-ham.sieve
}
EOF
for s in report-spam report-ham; do
	sievec -c "$D/dovecot.conf" "$D/sieve/$s.sieve" >"$D/sievec.out" 2>&1 ||
		it_fail "sievec $s.sieve: $(cat "$D/sievec.out")"
done
dovecot -c "$D/dovecot.conf" >"$D/start.out" 2>&1 || it_fail "dovecot did not start: $(cat "$D/start.out")"
it_wait_port "$PORT" || it_fail "dovecot does not listen on $PORT"

# imap OP...: one IMAP session as the user; OPs are run in order:
#   append:BOX:FILE   move:FROM:TO (every message of FROM)   count:BOX
imap() {
	python3 - "$PORT" "$USR" "$@" <<'EOPY'
import imaplib, sys
port, user, ops = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
m = imaplib.IMAP4("127.0.0.1", port)
m.login(user, "secret")
for box in ("Junk", "Trash"):
    m.create(box)
for op in ops:
    kind, a, *rest = op.split(":", 2)
    if kind == "append":
        with open(rest[0], "rb") as f:
            typ, data = m.append(a, None, None, f.read().replace(b"\n", b"\r\n"))
    elif kind == "move":
        m.select(a)
        typ, data = m.uid("MOVE", "1:*", rest[0])
    elif kind == "count":
        typ, data = m.select(a, readonly=True)
        print(int(data[0]))
        continue
    if typ != "OK":
        sys.exit("%s: %s %s" % (op, typ, data))
m.logout()
EOPY
}

stat_is "before" false_negatives 0
imap append:INBOX:"$D/signed.eml" || it_fail "append to INBOX"
stat_is "delivered to INBOX" false_negatives 0
# Into Junk: retrained by its signature, a false negative counted.
imap move:INBOX:Junk || it_fail "move to Junk"
stat_is "moved to Junk" false_negatives 1
stat_is "moved to Junk" false_positives 0
# Back out of Junk: the retrain is reversed by the same signature.
imap move:Junk:INBOX || it_fail "move back to INBOX"
stat_is "moved back" false_positives 1
# A message a client files in Junk itself (APPEND), without a signature:
# learned from its bytes as a correction.
imap append:Junk:"$D/unsigned.eml" || it_fail "append to Junk"
stat_is "appended to Junk" false_negatives 2
# Junk to Trash: nothing learned.
S stats --user "$USR" --format json >"$D/before-trash" || it_fail "stats"
imap move:Junk:Trash || it_fail "move to Trash"
S stats --user "$USR" --format json >"$D/after-trash" || it_fail "stats"
cmp -s "$D/before-trash" "$D/after-trash" ||
	it_fail "Junk to Trash taught spamsift: $(cat "$D/before-trash" "$D/after-trash")"
# A spamsift that fails (its store unreadable) does not stop the move, and
# Dovecot logs why.
chmod 000 "$D/store"
imap move:INBOX:Junk || it_fail "move to Junk with spamsift failing"
[ "$(imap count:Junk)" = 1 ] || it_fail "the message did not reach Junk"
[ "$(imap count:INBOX)" = 0 ] || it_fail "the message stayed in INBOX"
grep -q 'spamsift-learn.*non-zero exit code 3' "$D/dovecot.log" || it_fail "no failure logged"
chmod 700 "$D/store"
stat_is "after the failure" false_negatives 2
it_log "dovecot: Junk moves retrain by signature, Trash teaches nothing, failures do not block"
exit 0
