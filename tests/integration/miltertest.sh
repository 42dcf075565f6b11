#!/bin/sh
# miltertest.sh -- protocol edges (tests/miltertest/edges.lua) against the
# real daemon: abort mid-body, several messages per connection, RSET, empty
# body, a connection dropped mid-message, recipients that fill the log
# line, 1,001 forged X-Spamsift-Result headers (rejected), a forged header of
# another X-Spamsift-* name (removed), 17 such names (rejected), 1,200 under
# two names (rejected: the limit is for all names together), recipients
# who agree on spam by a blocklist and a model (agree.lua), spamSubject
# tags with a leading blank or not in ASCII (and a tagged Subject folded
# before its tag left alone), a signature line kept out of
# a UTF-16 text (subject.lua), an address that maps to @global, the global
# model's name, delivered unfiltered (unfiltered.lua).
. "$(dirname "$0")/lib.sh"

it_miltertest_setup mt
mkdir -p "$IT_DIR/run"
it_milter
SPAMSIFT_SOCK="unix:$IT_SOCK" miltertest -s "$top_srcdir/tests/miltertest/edges.lua" \
	>"$IT_DIR/mt.log" 2>&1 || { cat "$IT_DIR/mt.log" >&2; it_fail "miltertest script failed"; }
kill -0 "$IT_MILTER_PID" || it_fail "milter died"
for id in MT1 MT2 MT4 MT5 MT7 MT8 MT10; do
	grep -q "^spamsift-milter.*: $id: " "$IT_DIR/milter.log" || it_fail "no log line for $id"
done
for id in MT3 MT6; do
	grep -q "^spamsift-milter.*: $id: " "$IT_DIR/milter.log" && it_fail "aborted $id was logged as delivered"
done
grep -q "^spamsift-milter.*: MT9: client=[^ ]* from=<[^>]*> forged=1001/X-Spamsift-Result action=reject size=[1-9][0-9]* tokens=0 eom=[0-9.]*ms [0-9.]*ms$" "$IT_DIR/milter.log" ||
	it_fail "no reject line for MT9's forged headers"
grep -q "^spamsift-milter.*: MT11: .* forged=17/too-many-names action=reject " "$IT_DIR/milter.log" ||
	it_fail "no reject line for MT11's forged header names"
grep -q "^spamsift-milter.*: MT12: .* forged=1200/[^ ]* action=reject " "$IT_DIR/milter.log" ||
	it_fail "no reject line for MT12's forged headers under two names"
grep -q "^spamsift-milter.*: MT13: .* forged=1/name-too-long action=reject " "$IT_DIR/milter.log" ||
	it_fail "no reject line for MT13's forged header name too long"
it_log "protocol edges ok"

# A quarantined copy keeps every address of its user, and release delivers
# to them all (the milter cut the list at 4 KiB, release at 254 addresses).
it_stop_milter
CLI() { "$CLI_BIN" -c "$SAMPLE_CONF" -o "Home=$IT_DIR/run" -o UserMap=localpart "$@"; }
CLI blocklist add --user carol spammer@bad.example >/dev/null || it_fail "blocklist carol"
CLI prefs set --user carol spamAction quarantine >/dev/null || it_fail "prefs carol"
it_milter -o UserMap=localpart
SPAMSIFT_SOCK="unix:$IT_SOCK" miltertest -s "$top_srcdir/tests/miltertest/many.lua" \
	>"$IT_DIR/many.log" 2>&1 || { cat "$IT_DIR/many.log" >&2; it_fail "many.lua failed"; }
i=0
while [ -z "$(CLI quarantine list --user carol)" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
id=$(CLI quarantine list --user carol | awk 'NR == 1 { print $1 }')
[ -n "$id" ] || it_fail "no quarantined copy for carol"
# The copy's lines end in CRLF, a folded field's too (its bare line feeds
# were kept as Postfix sent them).
CLI quarantine show --user carol "$id" >"$IT_DIR/q.eml" || it_fail "quarantine show"
printf 'a\r\n\tb\r\n  c\r\n' >"$IT_DIR/folded.want"
grep -A2 '^X-Folded:' "$IT_DIR/q.eml" | sed '1s/^X-Folded: *//' | cmp -s - "$IT_DIR/folded.want" ||
	it_fail "the folded field in the copy: $(grep -A2 '^X-Folded:' "$IT_DIR/q.eml" | od -c | head -n 3)"
printf '#!/bin/sh\nprintf "%%s\\n" "$@" >"$(dirname "$0")/sendmail.args"\ncat >/dev/null\n' >"$IT_DIR/sendmail"
chmod +x "$IT_DIR/sendmail"
CLI -o SendmailPath="$IT_DIR/sendmail" quarantine release --user carol "$id" >/dev/null ||
	it_fail "release of the copy for 300 addresses"
# The envelope sender as it came (it was lowercased, and a quoted or long
# local part was mangled or dropped: bounces went astray).
[ "$(sed -n 2,3p "$IT_DIR/sendmail.args" | tr '\n' ' ')" = "-f SPAMMER@Bad.Example " ] ||
	it_fail "release's envelope sender: $(sed -n 2,3p "$IT_DIR/sendmail.args" | tr '\n' ' ')"
n=$(grep -c '^carol@department-number-[0-9]*\.example\.net$' "$IT_DIR/sendmail.args")
[ "$n" = 300 ] || it_fail "release delivered to $n of 300 addresses: $(tail -n 2 "$IT_DIR/sendmail.args")"
grep -qx '"carol+a b,c"@example.net' "$IT_DIR/sendmail.args" && grep -qx '@relay.example:carol@example.net' "$IT_DIR/sendmail.args" ||
	it_fail "release split an address: $(tail -n 4 "$IT_DIR/sendmail.args")"
[ "$(wc -l <"$IT_DIR/sendmail.args")" = 306 ] || it_fail "release: $(wc -l <"$IT_DIR/sendmail.args") arguments, not 4 + 302"
it_log "300 addresses of one user quarantined and released"
# A recipient the milter does not filter (past 1,000 of them, or an address
# too long to map) is counted in the message's log line.
SPAMSIFT_SOCK="unix:$IT_SOCK" miltertest -s "$top_srcdir/tests/miltertest/unfiltered.lua" \
	>"$IT_DIR/uf.log" 2>&1 || { cat "$IT_DIR/uf.log" >&2; it_fail "unfiltered.lua failed"; }
grep -q "^spamsift-milter.*: UF1: client=[^ ]* from=<[^>]*> unfiltered=1 bob=" "$IT_DIR/milter.log" ||
	it_fail "UF1's log line does not count the unfiltered recipient: $(grep UF1 "$IT_DIR/milter.log" | cut -c1-300)"
grep -q "^spamsift-milter.*: UF2: client=[^ ]* from=<[^>]*> unfiltered=1 action=deliver " "$IT_DIR/milter.log" ||
	it_fail "UF2 (\"@global\"@example.net) was not delivered unfiltered: $(grep UF2 "$IT_DIR/milter.log")"

# Recipients who agree on spam (or not) by different means, a list and a
# model, get one copy that says so (it said Mixed, and spam was untagged).
CLI blocklist add --user dan spammer@bad.example >/dev/null || it_fail "blocklist dan"
CLI blocklist add --user dan longsender.example >/dev/null || it_fail "blocklist dan longsender.example"
CLI whitelist add --user dan friend@good.example >/dev/null || it_fail "whitelist dan"
mkdir -p "$IT_DIR/ag/spam" "$IT_DIR/ag/ham"
for i in 1 2 3 4 5 6; do
	printf 'Subject: cheap pills %s\n\ncheap pills casino lottery prize winner claim now\n' $i >"$IT_DIR/ag/spam/$i"
	printf 'Subject: meeting %s\n\nthe quarterly report draft is attached for review\n' $i >"$IT_DIR/ag/ham/$i"
done
CLI train --user emma --spam "$IT_DIR/ag/spam" --ham "$IT_DIR/ag/ham" >/dev/null || it_fail "train emma"
SPAMSIFT_SOCK="unix:$IT_SOCK" miltertest -s "$top_srcdir/tests/miltertest/agree.lua" \
	>"$IT_DIR/ag.log" 2>&1 || { cat "$IT_DIR/ag.log" >&2; it_fail "agree.lua failed"; }
grep -q "^spamsift-milter.*: AG1: .* dan=Blocklisted/.* emma=Spam/" "$IT_DIR/milter.log" ||
	it_fail "AG1 was not blocklisted by dan and spam to emma: $(grep AG1 "$IT_DIR/milter.log")"
grep -q "^spamsift-milter.*: AG2: .* dan=Whitelisted/.* fay=Innocent/" "$IT_DIR/milter.log" ||
	it_fail "AG2 was not whitelisted by dan and innocent to fay: $(grep AG2 "$IT_DIR/milter.log")"
grep -q "^spamsift-milter.*: AG3: .* dan=Blocklisted/" "$IT_DIR/milter.log" ||
	it_fail "AG3's long sender escaped dan's blocklist: $(grep AG3 "$IT_DIR/milter.log" | cut -c 1-300)"
# A sender or user name cannot forge fields of the line: blanks and angle
# brackets are logged as '?'.
ag4=$(grep "^spamsift-milter.*: AG4: " "$IT_DIR/milter.log")
[ "$(printf '%s\n' "$ag4" | grep -o ' action=' | wc -l)" = 1 ] &&
    printf '%s\n' "$ag4" | grep -q 'from=<x??carol=blocklisted/1.0000/quarantine?action=discard@bad.example> y?action=discard?z=Innocent/' ||
	it_fail "AG4's addresses forge fields of its log line: $ag4"
it_log "recipients who agree by different means"

# spamSubject with blanks around it is added once, with one blank after it
# (a trailing blank wrote two, and tagged a tagged Subject again); one that is not ASCII
# as an RFC 2047 encoded word; signatureLocation=message leaves a UTF-16
# text alone.
it_stop_milter
for u in gus hal; do
	CLI blocklist add --user $u spammer@bad.example >/dev/null || it_fail "blocklist $u"
done
CLI -o AllowOverride=spamSubject prefs set --user gus spamSubject " [SPAM] " >/dev/null || it_fail "prefs gus"
CLI -o AllowOverride=spamSubject prefs set --user hal spamSubject "[СПАМ]" >/dev/null || it_fail "prefs hal"
CLI blocklist add --user ivy spammer@bad.example >/dev/null || it_fail "blocklist ivy"
# jon's tag: 128 bytes that are not UTF-8, as an older store may hold
# (prefs set refuses them now); encoded, they overflowed a buffer.
CLI blocklist add --user jon spammer@bad.example >/dev/null || it_fail "blocklist jon"
sqlite3 "$IT_DIR/run/spamsift.db" "INSERT INTO prefs(uid, key, value) SELECT id, 'spamSubject',
    CAST(zeroblob(128) AS TEXT) FROM users WHERE name = 'jon'; UPDATE prefs SET value =
    replace(hex(zeroblob(128)), '00', CAST(x'a7' AS TEXT)) WHERE key = 'spamSubject' AND
    uid = (SELECT id FROM users WHERE name = 'jon')" || it_fail "jon's tag"
CLI prefs set --user ivy signatureLocation message >/dev/null || it_fail "prefs ivy"
it_milter -o UserMap=localpart -o AllowOverride=spamSubject
SPAMSIFT_SOCK="unix:$IT_SOCK" miltertest -s "$top_srcdir/tests/miltertest/subject.lua" \
	>"$IT_DIR/su.log" 2>&1 || { cat "$IT_DIR/su.log" >&2; it_fail "subject.lua failed"; }
it_log "spamSubject with a blank, not in ASCII; no signature line in UTF-16"

# DebugPeer may name a host (spamsift.conf(5)): it is matched, in any case,
# against {client_name}; it was compared with {client_addr} only, so a name
# never matched. The other client gets no debug line.
it_stop_milter
it_milter -o UserMap=localpart -o DebugPeer=mx1.example.org -o DebugPeer=2001:db8::7 \
	-o SkipNetworks=2001:db8:1::/48
SPAMSIFT_SOCK="unix:$IT_SOCK" miltertest -s "$top_srcdir/tests/miltertest/peer.lua" \
	>"$IT_DIR/peer.log" 2>&1 || { cat "$IT_DIR/peer.log" >&2; it_fail "peer.lua failed"; }
grep -q "NOQUEUE: from=<peer1@example.org> client=192.0.2.7 " "$IT_DIR/milter.log" ||
	it_fail "DebugPeer mx1.example.org: no debug line for the client of that name"
grep -q "NOQUEUE: from=<peer2@example.org>" "$IT_DIR/milter.log" &&
	it_fail "a client not in DebugPeer got debug lines"
# An IPv6 client, as Postfix sends it ("IPv6:2001:db8::7"), is matched by
# its address: no IPv6 entry of DebugPeer or SkipNetworks ever matched.
grep -q "NOQUEUE: from=<peer3@example.org> client=IPv6:2001:db8::7 " "$IT_DIR/milter.log" ||
	it_fail "DebugPeer 2001:db8::7: no debug line for IPv6:2001:db8::7: $(grep PEER3 "$IT_DIR/milter.log")"
grep -q "PEER4: .*skipped (trusted sender)" "$IT_DIR/milter.log" ||
	it_fail "SkipNetworks 2001:db8:1::/48: IPv6:2001:db8:1::9 was classified: $(grep PEER4 "$IT_DIR/milter.log")"
grep "PEER3: " "$IT_DIR/milter.log" | grep -q "skipped" && it_fail "PEER3 skipped"
it_log "DebugPeer by host name; IPv6 clients in DebugPeer and SkipNetworks"

# libmagic without its database: mail flows, and the milter says once why
# attachments are typed by name only (it was silent).
it_stop_milter
export MAGIC=/nonexistent/magic.mgc
it_milter -o UserMap=localpart
unset MAGIC
for i in 1 2; do
	SPAMSIFT_SOCK="unix:$IT_SOCK" miltertest -s "$top_srcdir/tests/miltertest/magic.lua" \
		>"$IT_DIR/mg.log" 2>&1 || { cat "$IT_DIR/mg.log" >&2; it_fail "magic.lua failed"; }
done
[ "$(grep -c 'libmagic: cannot load its database' "$IT_DIR/milter.log")" = 1 ] ||
	it_fail "libmagic without its database: $(grep -c libmagic "$IT_DIR/milter.log") warnings, not 1"
it_log "libmagic without its database: said once"
exit 0
