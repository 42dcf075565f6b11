#!/bin/sh
# robust-security.sh -- privilege drop (uid/gid of the running milter), the
# socket's owner and mode (and that Postfix is refused when the mode says
# so), no shell on quarantine release (hostile recipient addresses reach
# sendmail as one argv element), SQL through the CLI with user names and
# list entries holding quotes, %, _, semicolons and 10,000-byte strings, and
# one user's tokens, lists, preferences and quarantine never reaching another
# user's commands. (Forged X-Spamsift-* headers: milter-actions.sh case 3;
# Trust for the CLI: cli.sh, "Trust, deployed as README describes".)
. "$(dirname "$0")/lib.sh"

it_setup
CLI() { "$CLI_BIN" -c "$SAMPLE_CONF" -o "Home=$IT_DIR/run" "$@"; }
expect() { # STATUS CMD...: run, compare the exit status (output in $IT_DIR/out, err)
	want=$1; shift
	"$@" >"$IT_DIR/out" 2>"$IT_DIR/err"; got=$?
	[ "$got" = "$want" ] || { head -c 2000 "$IT_DIR/out" "$IT_DIR/err" >&2; it_fail "$(echo "$*" | cut -c1-200) exited $got, expected $want"; }
}
sink_count() { find "$IT_DIR/sink" -type f | wc -l; }
# A milter that dropped privileges cannot remove its root-owned socket on
# exit: remove it, so it_milter waits for the new one.
milter_restart() { kill "$IT_MILTER_PID" 2>/dev/null; wait "$IT_MILTER_PID" 2>/dev/null; rm -f "$IT_SOCK"; it_milter "$@"; }
# sock_is 'OWNER GROUP MODE': the socket gets its owner and mode just after
# bind; wait (bounded) for them.
sock_is() {
	i=0
	while [ "$(stat -c '%U %G %a' "$IT_SOCK")" != "$1" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	[ "$(stat -c '%U %G %a' "$IT_SOCK")" = "$1" ]
}
mkmsg() { # FILE FROM TO SUBJECT
	printf 'From: <%s>\nTo: <%s>\nSubject: %s\nMessage-ID: <%s@security>\n\nHello, this is %s.\n' \
		"$2" "$3" "$4" "$(basename "$1")" "$4" >"$1"
}

CLI db init >/dev/null || it_fail "db init"
it_sink

# 1. Privilege drop: started as root with User=nobody Group=nogroup, the
# running milter has uid and gid nobody/nogroup (real, effective, saved,
# filesystem) and no supplementary groups; it still serves mail.
id nobody >/dev/null 2>&1 && getent group nogroup >/dev/null || it_skip "needs user nobody and group nogroup"
NH="$IT_DIR/nobody-home"
mkdir -p "$NH"
"$CLI_BIN" -c "$SAMPLE_CONF" -o "Home=$NH" db init >/dev/null || it_fail "db init for nobody"
chown -R nobody:nogroup "$NH"
it_milter -o User=nobody -o Group=nogroup -o "Home=$NH"
it_postfix "unix:$IT_SOCK"
uid=$(id -u nobody); gid=$(getent group nogroup | cut -d: -f3)
st="/proc/$IT_MILTER_PID/status"
[ "$(awk '/^Uid:/ {print $2,$3,$4,$5}' "$st")" = "$uid $uid $uid $uid" ] || it_fail "Uid after drop: $(grep ^Uid: "$st")"
[ "$(awk '/^Gid:/ {print $2,$3,$4,$5}' "$st")" = "$gid $gid $gid $gid" ] || it_fail "Gid after drop: $(grep ^Gid: "$st")"
groups=$(awk '/^Groups:/ {$1=""; print}' "$st" | tr -d ' ')
[ -z "$groups" ] || [ "$groups" = "$gid" ] || it_fail "supplementary groups kept: $(grep ^Groups: "$st")"
grep -q '^CapEff:[[:space:]]*0*$' "$st" || it_fail "capabilities kept: $(grep ^CapEff: "$st")"
mkmsg "$IT_DIR/p1" a@example.org bob@example.net "privdrop"
[ "$(it_send "$IT_DIR/p1" a@example.org bob@example.net)" = 250 ] || it_fail "dropped milter does not serve"
it_wait_sink 1 || it_fail "privdrop: not relayed"
grep -q '^X-Spamsift-Result:' "$(grep -l 'Message-ID: <p1@security>' "$IT_DIR"/sink/*)" || it_fail "privdrop: no verdict"
[ "$(stat -c %U "$NH/spamsift.db")" = nobody ] || it_fail "store changed owner"
it_log "privilege drop: uid $uid gid $gid, serving"
# An unknown User is refused at start, not ignored.
"$MILTER_BIN" -f -c "$SAMPLE_CONF" -o "Home=$IT_DIR/run" -p "unix:$IT_DIR/x.sock" \
	-o User=no-such-user-spamsift >"$IT_DIR/out" 2>&1 </dev/null &
p=$!
i=0; while kill -0 $p 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
kill -0 $p 2>/dev/null && { kill $p; it_fail "milter started with an unknown User"; }
grep -q 'no-such-user-spamsift' "$IT_DIR/out" || it_fail "unknown User: unclear error: $(cat "$IT_DIR/out")"

# 2. Socket owner, group and mode as configured; a mode that shuts smtpd
# (user postfix) out makes Postfix apply milter_default_action.
milter_restart -o SocketOwner=postfix -o SocketGroup=postdrop -o SocketMode=0660
sock_is "postfix postdrop 660" || it_fail "socket: $(stat -c '%U %G %a' "$IT_SOCK")"
mkmsg "$IT_DIR/p2" a@example.org bob@example.net "socket owner"
[ "$(it_send "$IT_DIR/p2" a@example.org bob@example.net)" = 250 ] || it_fail "postfix-owned socket: not accepted"
milter_restart -o SocketMode=0600
sock_is "root root 600" || it_fail "socket 0600: $(stat -c '%U %G %a' "$IT_SOCK")"
# smtpd cannot reach the milter: it tempfails the session (at MAIL FROM).
code=$(python3 - "$IT_SMTP_PORT" <<'EOF_PY'
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), local_hostname="client.spamsift.test", timeout=30)
try:
    s.sendmail("a@example.org", ["bob@example.net"], b"Subject: x\r\n\r\nx\r\n")
    print(250)
except smtplib.SMTPResponseException as e:
    print(e.smtp_code)
except smtplib.SMTPRecipientsRefused as e:
    print(list(e.recipients.values())[0][0])
EOF_PY
)
case $code in 4*) ;; *) it_fail "root-only socket: postfix got through ($code)" ;; esac
grep -q 'Permission denied' "$IT_DIR/log/postfix.log" || it_fail "root-only socket: no 'Permission denied' in the postfix log"
it_log "socket owner/group/mode applied and enforced"

# 3. No shell on release: a quarantined message for a recipient whose quoted
# local part holds shell syntax is released through a stand-in sendmail that
# records its argv; the address arrives as one argument and nothing runs.
milter_restart
CLI blocklist add --user alice@example.net spammer@bad.example || it_fail "blocklist alice"
CLI prefs set --user alice@example.net spamAction quarantine || it_fail "prefs alice"
mkmsg "$IT_DIR/q1" spammer@bad.example alice@example.net "for alice"
[ "$(it_send "$IT_DIR/q1" spammer@bad.example alice@example.net)" = 250 ] || it_fail "q1 not accepted"
qid=$(CLI quarantine list --user alice@example.net | cut -f1)
[ -n "$qid" ] || it_fail "q1 not quarantined for alice"
cat >"$IT_DIR/sendmail" <<'EOS'
#!/bin/sh
for a in "$@"; do printf '%s\n' "$a"; done >"$(dirname "$0")/sendmail.args"
cat >/dev/null
EOS
chmod 755 "$IT_DIR/sendmail"
# The recipient list is taken from the stored entry; give alice an address
# with shell syntax through a second message (usermap "full" keeps it as the user).
evil='"a;touch${IFS}PWNED;`touch${IFS}PWNED2`$(touch${IFS}PWNED3)"@example.net'
CLI blocklist add --user "$evil" spammer@bad.example >/dev/null 2>&1
CLI prefs set --user "$evil" spamAction quarantine >/dev/null 2>&1
code=$(it_send "$IT_DIR/q1" spammer@bad.example "$evil")
if [ "$code" = 250 ] && eid=$(CLI quarantine list --user "$evil" 2>/dev/null | cut -f1) && [ -n "$eid" ]; then
	(cd "$IT_DIR" && CLI -o "SendmailPath=$IT_DIR/sendmail" quarantine release --user "$evil" "$eid") >/dev/null ||
		it_fail "release to the hostile address"
	grep -qxF "$evil" "$IT_DIR/sendmail.args" || grep -qF 'a;touch${IFS}PWNED' "$IT_DIR/sendmail.args" ||
		it_fail "hostile recipient not passed as one argument: $(cat "$IT_DIR/sendmail.args")"
	it_log "release argv: $(tr '\n' ' ' <"$IT_DIR/sendmail.args")"
else
	it_log "hostile address refused before quarantine (reply $code)"
fi
(cd "$IT_DIR" && CLI -o "SendmailPath=$IT_DIR/sendmail" quarantine release --user alice@example.net "$qid") >/dev/null ||
	it_fail "release alice's message"
ls "$IT_DIR"/PWNED* / 2>/dev/null | grep -q PWNED && it_fail "a shell ran the recipient address"
it_log "release: no shell"

# 4. SQL: hostile user names and list entries round-trip exactly; % and _
# are not wildcards; the store survives; 10,000-byte strings are either
# stored whole or refused with a clear error.
long=$(python3 -c 'print("q" * 10000)')
for u in "o'brien@example.net" "a%@example.net" "a_@example.net" "ab@example.net" \
	"x;drop table users;--@example.net" "quote\"d@example.net" "back\\slash@example.net"; do
	expect 0 CLI whitelist add --user "$u" "o'k@example.org"
	expect 0 CLI blocklist add --user "$u" "%@example.org" "a_b@x.org" "';--" "\");drop-table-lists;--"
	expect 0 CLI prefs set --user "$u" spamSubject "'; DROP TABLE prefs;-- %_"
done
expect 0 CLI whitelist add --user ab@example.net only-ab@example.org
for u in "a%@example.net" "a_@example.net"; do
	expect 0 CLI whitelist list --user "$u"
	grep -q only-ab "$IT_DIR/out" && it_fail "$u sees ab's list entry (wildcard in SQL)"
	[ "$(wc -l <"$IT_DIR/out")" = 1 ] || it_fail "$u: $(cat "$IT_DIR/out")"
	expect 0 CLI blocklist list --user "$u"
	[ "$(cut -f1 "$IT_DIR/out" | sort | tr '\n' ' ')" = "\");drop-table-lists;-- %@example.org ';-- a_b@x.org " ] ||
		it_fail "$u blocklist did not round-trip: $(cut -f1 "$IT_DIR/out")"
	expect 0 CLI prefs get --user "$u" spamSubject
	[ "$(cat "$IT_DIR/out")" = "'; DROP TABLE prefs;-- %_" ] || it_fail "$u pref: $(cat "$IT_DIR/out")"
done
# A % entry is a literal, not a pattern: mail from x@example.org is not blocklisted.
mkmsg "$IT_DIR/w1" x@example.org ab@example.net "pct"
expect 0 CLI classify --user ab@example.net --format tsv "$IT_DIR/w1"
cut -f2 "$IT_DIR/out" | grep -qx blocklisted && it_fail "a '%' list entry matched as a wildcard"
expect 0 CLI whitelist del --user "a%@example.net" "o'k@example.org"
expect 0 CLI whitelist list --user "a_@example.net"
grep -q "o'k@example.org" "$IT_DIR/out" || it_fail "deleting a%'s entry removed a_'s"
# 10,000-byte user name and list entry: stored whole or refused clearly.
"$CLI_BIN" -c "$SAMPLE_CONF" -o "Home=$IT_DIR/run" whitelist add --user "$long@example.net" a@b.example >"$IT_DIR/out" 2>"$IT_DIR/err"
rc=$?
[ $rc = 0 ] || { [ $rc -lt 128 ] && grep -q 'not a valid user' "$IT_DIR/err"; } || it_fail "10,000-byte user: exit $rc"
"$CLI_BIN" -c "$SAMPLE_CONF" -o "Home=$IT_DIR/run" whitelist add --user ab@example.net "$long@example.org" >"$IT_DIR/out" 2>"$IT_DIR/err"
rc=$?
if [ $rc = 0 ]; then
	expect 0 CLI whitelist list --user ab@example.net
	grep -q "^$long@example.org	" "$IT_DIR/out" || it_fail "10,000-byte entry not stored whole"
else
	[ $rc -lt 128 ] && [ -s "$IT_DIR/err" ] || it_fail "10,000-byte entry: exit $rc without a message"
fi
"$CLI_BIN" -c "$SAMPLE_CONF" -o "Home=$IT_DIR/run" prefs set --user ab@example.net spamSubject "$long" >/dev/null 2>&1
rc=$?; [ $rc -lt 128 ] || it_fail "10,000-byte preference: crashed ($rc)"
expect 0 CLI db check
expect 0 CLI stats --format tsv
# (tsv writes a backslash as two: spamsift(1), OUTPUT)
for u in "o'brien@example.net" "x;drop table users;--@example.net" "quote\"d@example.net" "back\\\\slash@example.net"; do
	grep -qF "$u" "$IT_DIR/out" || it_fail "user $u missing from stats"
done
it_log "SQL: hostile names and entries round-trip, no wildcards, store intact"

# 5. Isolation: carol's tokens, lists, preferences, signatures and
# quarantine never reach dave's commands (or his mail).
i=0
while [ $i -lt 10 ]; do
	printf 'From: seller@pills.example\nSubject: cheap pills %s\n\nbuy cheap pills viagra now %s\n' $i $i >"$IT_DIR/cs$i.eml"
	printf 'From: friend@example.org\nSubject: meeting notes %s\n\nthe project meeting is on monday %s\n' $i $i >"$IT_DIR/ch$i.eml"
	i=$((i + 1))
done
# Both classes: the classifier gives no evidence until both are learned.
expect 0 CLI train --user carol@example.net --spam "$IT_DIR"/cs*.eml
expect 0 CLI train --user carol@example.net --ham "$IT_DIR"/ch*.eml
expect 0 CLI whitelist add --user carol@example.net secret-friend@carol.example
expect 0 CLI blocklist add --user carol@example.net spammer@bad.example
expect 0 CLI prefs set --user carol@example.net spamAction quarantine
expect 0 CLI prefs set --user carol@example.net spamSubject "[CAROL]"
mkmsg "$IT_DIR/iso1" spammer@bad.example carol@example.net "carol's secret subject"
[ "$(it_send "$IT_DIR/iso1" spammer@bad.example carol@example.net)" = 250 ] || it_fail "iso1"
cq=$(CLI quarantine list --user carol@example.net | cut -f1)
[ -n "$cq" ] || it_fail "carol's message not quarantined"
expect 0 CLI classify --user carol@example.net --train --format json "$IT_DIR/cs0.eml"
csig=$(sed -n 's/.*"signature":"\([0-9a-f]*\)".*/\1/p' "$IT_DIR/out")
# dave sees none of it.
expect 0 CLI whitelist add --user dave@example.net dave-friend@example.org
expect 0 CLI whitelist list --user dave@example.net
grep -q secret-friend "$IT_DIR/out" && it_fail "carol's whitelist reached dave"
expect 0 CLI blocklist list --user dave@example.net
grep -q spammer@bad.example "$IT_DIR/out" && it_fail "carol's blocklist reached dave"
expect 0 CLI prefs get --user dave@example.net spamSubject
grep -q CAROL "$IT_DIR/out" && it_fail "carol's preference reached dave"
expect 0 CLI quarantine list --user dave@example.net
[ -s "$IT_DIR/out" ] && it_fail "dave lists carol's quarantine: $(cat "$IT_DIR/out")"
expect 2 CLI quarantine show --user dave@example.net "$cq"
grep -q "secret subject" "$IT_DIR/out" && it_fail "dave read carol's quarantined message"
expect 2 CLI quarantine delete --user dave@example.net "$cq"
(cd "$IT_DIR" && expect 2 CLI -o "SendmailPath=$IT_DIR/sendmail" quarantine release --user dave@example.net "$cq")
expect 0 CLI quarantine list --user carol@example.net
grep -q "^$cq	" "$IT_DIR/out" || it_fail "dave's commands removed carol's quarantined message"
[ -n "$csig" ] || it_fail "no signature from carol's classify --train"
"$CLI_BIN" -c "$SAMPLE_CONF" -o "Home=$IT_DIR/run" retrain --user dave@example.net --signature "$csig" --ham >/dev/null 2>&1 &&
	it_fail "dave retrained carol's signature"
expect 0 CLI stats --user carol@example.net --format tsv
cs_before=$(cat "$IT_DIR/out")
expect 0 CLI classify --user dave@example.net --format tsv "$IT_DIR/cs1.eml"
case $(cut -f2 "$IT_DIR/out") in spam | blocklisted) it_fail "carol's tokens or lists decided dave's verdict: $(cat "$IT_DIR/out")" ;; esac
expect 0 CLI classify --user carol@example.net --format tsv "$IT_DIR/cs1.eml"
[ "$(cut -f2 "$IT_DIR/out")" = spam ] || it_fail "carol's own verdict: $(cat "$IT_DIR/out")"
expect 0 CLI export --user dave@example.net "$IT_DIR/dave.txt"
grep -q 'pills\|viagra' "$IT_DIR/dave.txt" && it_fail "carol's tokens in dave's export"
expect 0 CLI stats --user carol@example.net --format tsv
[ "$(cat "$IT_DIR/out")" = "$cs_before" ] || it_fail "dave's commands changed carol's counters"
# A message to both: carol quarantines hers; dave's copy is neither blocklisted nor tagged [CAROL].
mkmsg "$IT_DIR/iso2" spammer@bad.example dave@example.net "to both"
before=$(sink_count)
[ "$(it_send "$IT_DIR/iso2" spammer@bad.example carol@example.net dave@example.net)" = 250 ] || it_fail "iso2"
it_wait_sink $((before + 1)) || it_fail "iso2 not relayed to dave"
f=$(grep -l 'Message-ID: <iso2@security>' "$IT_DIR"/sink/*)
grep -q 'Blocklisted\|\[CAROL\]' "$f" && it_fail "carol's list or subject applied to dave's copy"
it_log "isolation: nothing of carol's reaches dave"
exit 0
