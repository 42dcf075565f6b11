#!/bin/sh
# milter-actions.sh -- a real Postfix with spamsift-milter attached tags,
# quarantines, rejects and whitelists as each recipient's preferences say
# (a recipient who quarantines is removed from the message, also when RCPT
# TO gave a source route); forged X-Spamsift-* headers are stripped; QuarantineMode postfix holds the
# message; OnFail decides when the store is unavailable.
#
# Verdicts are made deterministic with block/white lists (the Bayesian
# verdicts themselves are tested by the classifier suites and cli tests).
. "$(dirname "$0")/lib.sh"

it_setup
STORE="$IT_DIR/run/spamsift.db"
CLI() { "$CLI_BIN" -c "$SAMPLE_CONF" -o "Home=$IT_DIR/run" "$@"; }

CLI db init >/dev/null || it_fail "db init"
for u in bob@example.net carol@example.net dave@example.net; do
	CLI blocklist add --user "$u" spammer@bad.example || it_fail "blocklist add"
	CLI whitelist add --user "$u" .good.example || it_fail "whitelist add"
done
CLI prefs set --user carol@example.net spamAction quarantine || it_fail "prefs carol"
CLI prefs set --user dave@example.net spamAction reject || it_fail "prefs dave"
CLI blocklist add --user erin@example.net spammer@bad.example || it_fail "blocklist erin"
CLI prefs set --user erin@example.net signatureLocation message || it_fail "prefs erin"

it_milter
it_sink
it_postfix "unix:$IT_SOCK"

mkmsg() { # FILE FROM SUBJECT [extra header]
	{
		echo "From: <$2>"
		echo "To: <bob@example.net>"
		echo "Subject: $3"
		echo "Message-ID: <$(basename "$1")@test>"
		[ -n "${4:-}" ] && echo "$4"
		echo
		echo "Body of $(basename "$1"): hello there, see you at the meeting."
	} >"$1"
}
sink_count() { find "$IT_DIR/sink" -type f | wc -l; }
sink_with() { grep -l "Message-ID: <$1@test>" "$IT_DIR"/sink/* 2>/dev/null | head -n 1; }
# relay_one NAME FROM RCPT: send $IT_DIR/NAME, wait for it at the sink; f
# is then its delivered copy.
relay_one() {
	local before
	before=$(sink_count)
	[ "$(it_send "$IT_DIR/$1" "$2" "$3")" = 250 ] || it_fail "$1 not accepted"
	it_wait_sink $((before + 1)) || it_fail "$1 not relayed"
	f=$(sink_with "$1")
	[ -n "$f" ] || it_fail "$1: not found at the sink"
}

# 1. Tag: bob's blocklisted sender -> spam headers and subject prefix.
mkmsg "$IT_DIR/m1" spammer@bad.example "cheap pills"
[ "$(it_send "$IT_DIR/m1" spammer@bad.example bob@example.net)" = 250 ] || it_fail "m1 not accepted"
it_wait_sink 1 || it_fail "m1 not relayed"
f=$(sink_with m1)
grep -q '^X-Spamsift-Result: Blocklisted' "$f" || it_fail "m1: no Blocklisted result header"
grep -q '^Subject: \[SPAM\] cheap pills' "$f" || it_fail "m1: subject not tagged"
grep -q '^X-Spamsift-Signature: [0-9a-f]\{32\}' "$f" || it_fail "m1: no signature"
it_log "tag ok"

# 2. Whitelist: subdomain suffix entry -> Whitelisted, subject untouched.
mkmsg "$IT_DIR/m2" friend@mail.good.example "lunch"
[ "$(it_send "$IT_DIR/m2" friend@mail.good.example bob@example.net)" = 250 ] || it_fail "m2"
it_wait_sink 2 || it_fail "m2 not relayed"
f=$(sink_with m2)
grep -q '^X-Spamsift-Result: Whitelisted' "$f" || it_fail "m2: not Whitelisted"
grep -q '^Subject: lunch$' "$f" || it_fail "m2: subject changed"
it_log "whitelist ok"

# 3. Forged verdict headers are removed.
mkmsg "$IT_DIR/m3" spammer@bad.example "forged" "X-Spamsift-Result: Innocent
X-Spamsift-Signature: 00000000000000000000000000000000"
[ "$(it_send "$IT_DIR/m3" spammer@bad.example bob@example.net)" = 250 ] || it_fail "m3"
it_wait_sink 3 || it_fail "m3 not relayed"
f=$(sink_with m3)
grep -q 'X-Spamsift-Result: Innocent' "$f" && it_fail "m3: forged result kept"
grep -q '00000000000000000000000000000000' "$f" && it_fail "m3: forged signature kept"
[ "$(grep -c '^X-Spamsift-Result:' "$f")" = 1 ] || it_fail "m3: not exactly one result header"
it_log "forged headers stripped"

# 4. Quarantine: carol alone -> stored, nothing relayed (discarded once stored).
mkmsg "$IT_DIR/m4" spammer@bad.example "for carol"
[ "$(it_send "$IT_DIR/m4" spammer@bad.example carol@example.net)" = 250 ] || it_fail "m4"
# 5. Mixed: carol quarantines, bob gets his tagged copy.
mkmsg "$IT_DIR/m5" spammer@bad.example "for both"
[ "$(it_send "$IT_DIR/m5" spammer@bad.example carol@example.net bob@example.net)" = 250 ] || it_fail "m5"
it_wait_sink 4 || it_fail "m5 not relayed to bob"
sleep 1
[ -z "$(sink_with m4)" ] || it_fail "m4 relayed although quarantined"
f=$(sink_with m5)
grep -q '^RCPT TO:<carol@example.net>\|carol@example.net' "$f" 2>/dev/null &&
	grep -q '^X-Rcpt-Args\|^RCPT' "$f" 2>/dev/null && true
grep -q '^X-Spamsift-Result: Blocklisted' "$f" || it_fail "m5: bob's copy not tagged"
n=$(CLI quarantine list --user carol@example.net | wc -l)
[ "$n" = 2 ] || it_fail "carol's quarantine holds $n messages, expected 2"
CLI quarantine list --user bob@example.net | grep -q . && it_fail "bob has quarantined mail"
id=$(CLI quarantine list --user carol@example.net | head -n 1 | cut -f1)
CLI quarantine show --user carol@example.net "$id" | grep -q 'Subject: for carol' ||
	it_fail "quarantined copy lost its Subject"
it_log "quarantine ok"

# 5b. Release: re-delivered through sendmail (here a stand-in that records its
# argument vector), learned as innocent, removed from the quarantine.
cat >"$IT_DIR/sendmail" <<'EOS'
#!/bin/sh
printf '%s\n' "$@" >"$(dirname "$0")/sendmail.args"
cat >"$(dirname "$0")/sendmail.msg"
EOS
chmod +x "$IT_DIR/sendmail"
CLI -o SendmailPath="$IT_DIR/sendmail" quarantine release --user carol@example.net "$id" ||
	it_fail "release failed"
[ "$(tr '\n' ' ' <"$IT_DIR/sendmail.args")" = "-i -f spammer@bad.example -- carol@example.net " ] ||
	it_fail "sendmail argv: $(cat "$IT_DIR/sendmail.args")"
grep -q '^Subject: for carol' "$IT_DIR/sendmail.msg" || it_fail "released message lost its Subject"
[ "$(CLI quarantine list --user carol@example.net | wc -l)" = 1 ] || it_fail "released message still quarantined"
CLI stats --user carol@example.net --format json | grep -q '"false_positives":1' ||
	it_fail "release did not count a false positive: $(CLI stats --user carol@example.net --format json)"
it_log "release ok"

# 5c. A recipient written with a source route, which Postfix accepts and
# keeps without it (it delivers <@relay.example:carol@example.net> to
# carol@example.net): carol quarantines, so she is removed from the message
# all the same. The milter asked Postfix to remove the address with its
# route, which matched nothing: carol got the spam as well, with bob's
# verdict in its header.
nq=$(CLI quarantine list --user carol@example.net | wc -l)
mkmsg "$IT_DIR/m5c" spammer@bad.example "routed to carol"
before=$(sink_count)
python3 - "$IT_SMTP_PORT" "$IT_DIR/m5c" <<'EOF_PY' || it_fail "m5c not accepted"
import smtplib, sys
# (smtplib's sendmail would drop the route itself)
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), local_hostname="client.spamsift.test", timeout=30)
s.ehlo()
ok = s.docmd("MAIL FROM:<spammer@bad.example>")[0] == 250
for r in ("<@relay.example:carol@example.net>", "<bob@example.net>"):
    ok = ok and s.docmd("RCPT TO:" + r)[0] == 250
ok = ok and s.docmd("DATA")[0] == 354
if ok:
    s.send(open(sys.argv[2], "rb").read().replace(b"\n", b"\r\n") + b".\r\n")
    ok = s.getreply()[0] == 250
s.quit()
sys.exit(0 if ok else 1)
EOF_PY
it_wait_sink $((before + 1)) || it_fail "m5c not relayed to bob"
sleep 1
f=$(sink_with m5c)
grep -q '^X-Rcpt-Args: <bob@example.net>' "$f" || it_fail "m5c: not relayed to bob"
[ "$(grep -c '^X-Rcpt-Args:' "$f")" = 1 ] ||
	it_fail "m5c: carol got the message she quarantined: $(grep '^X-Rcpt-Args:' "$f" | tr '\n' ' ')"
[ "$(CLI quarantine list --user carol@example.net | wc -l)" = $((nq + 1)) ] ||
	it_fail "m5c: carol's copy was not quarantined"
it_log "source-routed recipient quarantined and removed"

# 6. Reject: dave alone -> 550 5.7.1.
mkmsg "$IT_DIR/m6" spammer@bad.example "for dave"
code=$(it_send "$IT_DIR/m6" spammer@bad.example dave@example.net)
[ "$code" = 550 ] || it_fail "m6: expected 550, got $code"
grep -q 'milter-reject: END-OF-MESSAGE.*5.7.1' "$IT_DIR/log/postfix.log" || it_fail "no 5.7.1 in postfix log"
it_log "reject ok"

# 6b. signatureLocation=message: the signature travels in the body, and a
# copy of the delivered message retrains by it.
mkmsg "$IT_DIR/m9" spammer@bad.example "sig in body"
before=$(sink_count)
[ "$(it_send "$IT_DIR/m9" spammer@bad.example erin@example.net)" = 250 ] || it_fail "m9"
it_wait_sink $((before + 1)) || it_fail "m9 not relayed"
f=$(sink_with m9)
grep -q '^!spamsift:[0-9a-f]\{32\}!' "$f" || it_fail "m9: no signature line in the body"
grep -q '^X-Spamsift-Signature' "$f" && it_fail "m9: signature header although location=message"
grep -q '^Body of m9' "$f" || it_fail "m9: original body lost"
# The sink's dump starts with envelope lines; the message follows them.
sed -n '/^Received: from mx/,$p' "$f" >"$IT_DIR/m9.delivered"
CLI whitelist add --user erin@example.net spammer@bad.example >/dev/null
# The milter's writer thread stores the signature within half a second of the
# verdict; Postfix may deliver faster. Wait for it in the store.
sig=$(sed -n 's/^!spamsift:\([0-9a-f]\{32\}\)!.*/\1/p' "$f" | head -n 1)
python3 - "$STORE" "$sig" <<'EOF_PY' || it_fail "m9: signature $sig never stored"
import sqlite3, sys, time
for _ in range(100):
    c = sqlite3.connect(sys.argv[1])
    n = c.execute("select count(*) from signatures where id = ?", (sys.argv[2],)).fetchone()[0]
    c.close()
    if n:
        sys.exit(0)
    time.sleep(0.05)
sys.exit(1)
EOF_PY
CLI train --user erin@example.net --ham "$IT_DIR/m9.delivered" >"$IT_DIR/m9.train" ||
	it_fail "train by body signature failed"
grep -q '1 retrained by signature' "$IT_DIR/m9.train" || it_fail "m9: not retrained by its body signature: $(cat "$IT_DIR/m9.train")"
it_log "signature in body ok"

# 6c. A body the line would corrupt keeps its signature in the header: a
# lone base64 part (the line decoded into bytes of it). A multipart body,
# base64 parts and all, still takes the line after its last part.
b64=$(printf 'Hello erin,\nthis is a base64 text part.\n' | base64)
cat >"$IT_DIR/m14" <<EOM
From: <spammer@bad.example>
To: <erin@example.net>
Subject: sig and base64
Message-ID: <m14@test>
MIME-Version: 1.0
Content-Type: application/pdf; name="x.pdf"
Content-Transfer-Encoding: base64

$b64
EOM
cat >"$IT_DIR/m15" <<EOM
From: <spammer@bad.example>
To: <erin@example.net>
Subject: sig and multipart
Message-ID: <m15@test>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b15"

--b15
Content-Type: text/plain
Content-Transfer-Encoding: base64

$b64
--b15--
EOM
before=$(sink_count)
[ "$(it_send "$IT_DIR/m14" spammer@bad.example erin@example.net)" = 250 ] || it_fail "m14"
[ "$(it_send "$IT_DIR/m15" spammer@bad.example erin@example.net)" = 250 ] || it_fail "m15"
it_wait_sink $((before + 2)) || it_fail "m14/m15 not relayed"
f=$(sink_with m14)
grep -q '!spamsift:' "$f" && it_fail "m14: signature line in a base64 body"
grep -q '^X-Spamsift-Signature: [0-9a-f]\{32\}' "$f" || it_fail "m14: no signature header"
python3 - "$f" <<'EOF_PY' || it_fail "m14: the base64 body does not decode as sent"
import email, sys
raw = open(sys.argv[1], "rb").read()
m = email.message_from_bytes(raw[raw.index(b"Received: from mx"):])
sys.exit(m.get_payload(decode=True) != b"Hello erin,\nthis is a base64 text part.\n" or bool(m.defects))
EOF_PY
f=$(sink_with m15)
sed -n '/^--b15--/,$p' "$f" | grep -q '^!spamsift:[0-9a-f]\{32\}!' ||
	it_fail "m15: no signature line after the last part"
grep -q '^X-Spamsift-Signature' "$f" && it_fail "m15: signature header although the body took it"
# A multipart that never closes its last part (no "--b18--"): a line
# appended would be read as part of that base64 part.
cat >"$IT_DIR/m18" <<EOM
From: <spammer@bad.example>
To: <erin@example.net>
Subject: sig and an unterminated multipart
Message-ID: <m18@test>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b18"

--b18
Content-Type: text/plain
Content-Transfer-Encoding: base64

$b64
EOM
relay_one m18 spammer@bad.example erin@example.net
grep -q '!spamsift:' "$f" && it_fail "m18: signature line inside the unterminated last part"
grep -q '^X-Spamsift-Signature: [0-9a-f]\{32\}' "$f" || it_fail "m18: no signature header"
# The same with an empty boundary (boundary=""): its delimiter lines are
# "--", readers split the body on them, and the last part is never closed
# ("----" is missing): the line would be decoded into that base64 part.
b64e=$(printf 'Hello erin,\nthis is a base64 text part!!!\n' | base64)
cat >"$IT_DIR/m19" <<EOM
From: <spammer@bad.example>
To: <erin@example.net>
Subject: sig and an empty boundary
Message-ID: <m19@test>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=""

--
Content-Type: application/octet-stream
Content-Transfer-Encoding: base64

$b64e
EOM
relay_one m19 spammer@bad.example erin@example.net
grep -q '!spamsift:' "$f" && it_fail "m19: signature line inside the last part of an empty boundary"
grep -q '^X-Spamsift-Signature: [0-9a-f]\{32\}' "$f" || it_fail "m19: no signature header"
python3 - "$f" <<'EOF_PY' || it_fail "m19: the base64 part does not decode as sent"
import email, sys
raw = open(sys.argv[1], "rb").read()
m = email.message_from_bytes(raw[raw.index(b"Received: from mx"):])
p = m.get_payload()[0]
sys.exit(p.get_payload(decode=True) != b"Hello erin,\nthis is a base64 text part!!!\n" or bool(p.defects))
EOF_PY
# An encoding after a comment is an encoding all the same.
sed -e 's/^Content-Transfer-Encoding: base64/Content-Transfer-Encoding: (lone part) base64/' \
    -e 's/^Content-Type: .*/Content-Type: text\/plain/' \
    -e 's/m14@test/m20@test/' "$IT_DIR/m14" >"$IT_DIR/m20"
relay_one m20 spammer@bad.example erin@example.net
grep -q '^Content-Transfer-Encoding: (lone part) base64' "$f" &&
	grep -q '^Content-Type: text/plain' "$f" || it_fail "m20: not the message meant"
grep -q '!spamsift:' "$f" && it_fail "m20: signature line in a base64 body behind a comment"
it_log "signature beside a sealed body ok"

# 6d. A Subject line just under RFC 5322's 998 bytes: the tag would make it
# longer, and Postfix's smtp client broke it mid-word. It is folded after
# the tag; unfolded, the Subject is the tag and the original value.
long=$(python3 -c 'print(("abcdefghi " * 99)[:986])')
mkmsg "$IT_DIR/m16" spammer@bad.example "$long"
relay_one m16 spammer@bad.example bob@example.net
python3 - "$f" "$long" <<'EOF_PY' || it_fail "m16: tagged Subject broken"
import re, sys
raw = open(sys.argv[1], "rb").read().decode().replace("\r\n", "\n")
hdr = raw[raw.index("Received: from mx"):].split("\n\n")[0]
subj = [h for h in re.split(r"\n(?![ \t])", hdr) if h.startswith("Subject:")][0]
sys.exit(max(map(len, subj.split("\n"))) > 998 or
    re.sub(r"\n(?=[ \t])", "", subj) != "Subject: [SPAM] " + sys.argv[2])
EOF_PY
it_log "long subject tag ok"

# 6e. A Subject that carries the tag already (a message through the milter
# twice) is not tagged again.
mkmsg "$IT_DIR/m17" spammer@bad.example "[SPAM] cheap pills again"
relay_one m17 spammer@bad.example bob@example.net
grep -q '^X-Spamsift-Result: Blocklisted' "$f" || it_fail "m17: not a spam verdict"
grep -q '^Subject: \[SPAM\] cheap pills again' "$f" || it_fail "m17: Subject $(grep '^Subject:' "$f")"
it_log "tagged subject not tagged twice ok"

# 6b. Opt in: only users with optIn=on are filtered; the others' mail
# passes untouched (no verdict headers, no subject tag), also beside a
# recipient who quarantines.
it_stop_milter
it_milter -o Opt=in
CLI prefs set --user frank@example.net optIn on || it_fail "prefs frank"
CLI blocklist add --user frank@example.net spammer@bad.example || it_fail "blocklist frank"
mkmsg "$IT_DIR/m10" spammer@bad.example "not opted in"
mkmsg "$IT_DIR/m11" spammer@bad.example "opted in"
before=$(sink_count)
[ "$(it_send "$IT_DIR/m10" spammer@bad.example bob@example.net)" = 250 ] || it_fail "m10"
[ "$(it_send "$IT_DIR/m11" spammer@bad.example frank@example.net)" = 250 ] || it_fail "m11"
it_wait_sink $((before + 2)) || it_fail "m10/m11 not relayed"
f=$(sink_with m10)
grep -q '^X-Spamsift-' "$f" && it_fail "m10: bob has not opted in but was filtered"
grep -q '^Subject: not opted in$' "$f" || it_fail "m10: subject changed"
grep -q '^X-Spamsift-Result: Blocklisted' "$(sink_with m11)" || it_fail "m11: frank opted in but was not filtered"
# One copy for bob (not filtered) and carol (opted in, quarantines her
# spam): carol's goes to the quarantine, bob's is delivered untouched, not
# discarded with hers. One copy for bob and frank (opted in, tags): frank's
# verdict is not bob's, so the result is Mixed, without frank's probability
# or subject tag.
CLI prefs set --user carol@example.net optIn on || it_fail "prefs carol optIn"
mkmsg "$IT_DIR/m12" spammer@bad.example "for carol and bob"
mkmsg "$IT_DIR/m13" spammer@bad.example "for frank and bob"
nq=$(CLI quarantine list --user carol@example.net | wc -l)
before=$(sink_count)
[ "$(it_send "$IT_DIR/m12" spammer@bad.example carol@example.net bob@example.net)" = 250 ] || it_fail "m12"
[ "$(it_send "$IT_DIR/m13" spammer@bad.example frank@example.net bob@example.net)" = 250 ] || it_fail "m13"
it_wait_sink $((before + 2)) || it_fail "m12/m13: a copy for bob was lost"
f=$(sink_with m12)
[ -n "$f" ] || it_fail "m12: bob's copy was lost with carol's quarantined one"
grep -q '^X-Spamsift-' "$f" && it_fail "m12: bob's copy carries a verdict"
grep -q '^Subject: for carol and bob$' "$f" || it_fail "m12: bob's subject was tagged"
[ "$(CLI quarantine list --user carol@example.net | wc -l)" = $((nq + 1)) ] ||
	it_fail "m12: carol's copy was not quarantined"
f=$(sink_with m13)
grep -q '^X-Spamsift-Result: Mixed$' "$f" || it_fail "m13: the copy claims frank's verdict for bob"
grep -q '^X-Spamsift-Probability' "$f" && it_fail "m13: the copy carries frank's probability"
grep -q '^X-Spamsift-Signature' "$f" || it_fail "m13: frank's signature is missing"
grep -q '^Subject: for frank and bob$' "$f" || it_fail "m13: the subject was tagged"
it_log "opt in ok"

# 7. QuarantineMode postfix: the whole message goes to the hold queue.
it_stop_milter
it_milter -o QuarantineMode=postfix
mkmsg "$IT_DIR/m7" spammer@bad.example "hold me"
[ "$(it_send "$IT_DIR/m7" spammer@bad.example carol@example.net)" = 250 ] || it_fail "m7"
i=0
while ! /usr/sbin/postqueue -c "$IT_PF_DIR" -p | grep -q '!' && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
/usr/sbin/postqueue -c "$IT_PF_DIR" -p | grep -q '!' || it_fail "m7 not on hold"
grep -q 'milter-hold' "$IT_DIR/log/postfix.log" || it_fail "no milter-hold log line"
it_log "postfix hold ok"

# 8. OnFail when the store becomes unavailable after start (its directory
# replaced by a file: no store can be opened or created there).
it_stop_milter
mkdir -p "$IT_DIR/gone"
it_milter -o StorePath="$IT_DIR/gone/x.db" -o OnFail=tempfail
rm -rf "$IT_DIR/gone"; touch "$IT_DIR/gone"
mkmsg "$IT_DIR/m8" someone@example.org "store gone"
code=$(it_send "$IT_DIR/m8" someone@example.org bob@example.net)
[ "$code" = 451 ] || it_fail "OnFail tempfail: got $code"
# (with the client and sender, in place of the message's info line)
grep -q 'client=127.0.0.1 from=<someone@example.org> internal error, tempfail' "$IT_DIR/milter.log" ||
	it_fail "no OnFail log line: $(grep 'internal error' "$IT_DIR/milter.log")"
it_stop_milter
rm -f "$IT_DIR/gone"; mkdir -p "$IT_DIR/gone"
it_milter -o StorePath="$IT_DIR/gone/x.db" -o OnFail=accept
rm -rf "$IT_DIR/gone"; touch "$IT_DIR/gone"
before=$(sink_count)
code=$(it_send "$IT_DIR/m8" someone@example.org bob@example.net)
[ "$code" = 250 ] || it_fail "OnFail accept: got $code"
it_wait_sink $((before + 1)) || it_fail "OnFail accept: not relayed"
grep -q 'internal error, accepting' "$IT_DIR/milter.log" || it_fail "no OnFail accept log line"
it_log "OnFail ok"
exit 0
