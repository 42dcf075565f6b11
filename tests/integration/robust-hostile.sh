#!/bin/sh
# robust-hostile.sh -- hostile mail through `spamsift classify`/`train` and
# through the real path (Postfix -> spamsift-milter): a 1 MiB folded header,
# 20,000 header fields, NUL bytes, 4 MiB of base64 whose part never ends,
# 500 boundaries that never close, 10,000-deep multipart and message/rfc822
# nesting, invalid UTF-8, unknown charsets, HTML that never closes.
# Each must get a verdict (or a clean configured failure), within a hang
# guard, with bounded memory, and the milter must keep serving.
. "$(dirname "$0")/lib.sh"

it_setup
H="$IT_DIR/hostile"
CLI() { "$CLI_BIN" -c "$SAMPLE_CONF" -o "Home=$IT_DIR/run" "$@"; }
# Memory bound (KiB of peak RSS) for one classify run and for the milter;
# generous so that a sanitizer build passes too.
MAXRSS=${ROBUST_MAX_RSS_KB:-524288}
# Hang guard per message (not a timing assertion: a hang never finishes).
GUARD=${ROBUST_GUARD_SECONDS:-120}

python3 - "$H" <<'EOF_PY' || it_fail "could not generate the hostile messages"
import base64, os, random, sys
d = sys.argv[1]
os.makedirs(d, exist_ok=True)
rnd = random.Random(9)
H = b"From: <sender@example.org>\nTo: <bob@example.net>\nMessage-ID: <%s@hostile>\n"
def w(name, extra_headers, body):
    with open(os.path.join(d, name + ".eml"), "wb") as f:
        f.write(H % name.encode() + extra_headers + b"\n" + body)
# Huge headers: a 1 MiB Subject folded every 900 bytes; 20,000 fields.
w("huge-header", b"Subject: " + b"\n ".join([b"x" * 900] * 1200) + b"\n", b"short body\n")
w("many-headers", b"Subject: many\n" + b"".join(b"X-Junk-%d: v%d\n" % (i, i) for i in range(20000)), b"body\n")
# NUL bytes in header values and in the body.
w("nul-bytes", b"Subject: nul\x00inside\nX-Nul: \x00\x00\x00\n", (b"word\x00" * 20000 + b"\n") * 10)
# Endless base64: 4 MiB in a part whose closing boundary never comes.
b64 = base64.encodebytes(bytes(rnd.getrandbits(8) for _ in range(3 * 1024 * 1024)))
w("endless-base64", b"Subject: b64\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"B\"\n",
  b"--B\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n" + b64)
# 500 nested boundaries opened, none ever closed.
body = b"".join(b"--b%d\nContent-Type: multipart/mixed; boundary=\"b%d\"\n\npreamble %d\n" % (i, i + 1, i) for i in range(500))
w("unclosed-boundaries", b"Subject: unclosed\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b0\"\n",
  body + b"text at the bottom\n")
# 10,000-deep multipart nesting, every level closed properly.
N = 10000
op = b"".join(b"--n%d\nContent-Type: multipart/mixed; boundary=\"n%d\"\n\n" % (i, i + 1) for i in range(N))
cl = b"".join(b"--n%d--\n" % i for i in range(N, -1, -1))
w("nest-10000-multipart", b"Subject: deep\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"n0\"\n",
  op + b"--n%d\nContent-Type: text/plain\n\ndeep inside\n" % N + cl)
# 10,000-deep message/rfc822 nesting.
w("nest-10000-rfc822", b"Subject: deep822\nMIME-Version: 1.0\nContent-Type: message/rfc822\n",
  b"Content-Type: message/rfc822\n\n" * N + b"Subject: bottom\n\nbottom text\n")
# Invalid UTF-8 declared as UTF-8: overlong forms, surrogates, 0xff, truncation.
bad = b"\xc0\xaf \xe0\x80\xaf \xed\xa0\x80 \xf8\x88\x80\x80\x80 \xff\xfe\xfd \xc3 trunc \xe2\x82"
w("invalid-utf8", b"Subject: =?UTF-8?B?" + base64.b64encode(bad) + b"?= \xff\xc0\nMIME-Version: 1.0\n"
  b"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n", (bad + b" word\n") * 5000)
# Unknown charsets: in encoded words, and a 5,000-byte charset name on the body.
w("unknown-charset", b"Subject: =?x-no-such-charset?Q?caf=E9?= =?\xff\xfe?B?AAAA?= =?utf-7?B?K0FPUS0=?=\n"
  b"MIME-Version: 1.0\nContent-Type: text/plain; charset=\"x-bogus-" + b"q" * 5000 + b"\"\n"
  b"Content-Transfer-Encoding: quoted-printable\n", b"caf=E9 na=EFve =\n" * 2000)
# HTML that never closes: open tags, an open comment, an open quote, an open script.
w("html-unclosed", b"Subject: html\nMIME-Version: 1.0\nContent-Type: text/html\n",
  b"<html><body>" + b"<div><font><a href=\"http://x.example/" * 20000 + b"<!-- never closed " +
  b"<" * 100000 + b"<script>var a='" + b"z" * 100000 + b"\n")
EOF_PY
NAMES="huge-header many-headers nul-bytes endless-base64 unclosed-boundaries
nest-10000-multipart nest-10000-rfc822 invalid-utf8 unknown-charset html-unclosed"

CLI db init >/dev/null || it_fail "db init"
# A little training so that the hostile messages' tokens meet real counts.
i=0
while [ $i -lt 5 ]; do
	printf 'From: a@example.org\nSubject: cheap pills %s\n\nbuy cheap pills now %s\n' $i $i >"$IT_DIR/s$i.eml"
	printf 'From: b@example.org\nSubject: meeting %s\n\nnotes from the meeting %s\n' $i $i >"$IT_DIR/h$i.eml"
	i=$((i + 1))
done
CLI train --user bob@example.net --spam "$IT_DIR"/s*.eml >/dev/null || it_fail "train spam"
CLI train --user bob@example.net --ham "$IT_DIR"/h*.eml >/dev/null || it_fail "train ham"

# 1. spamsift classify: exit 0, a class, bounded peak RSS, within the guard.
for n in $NAMES; do
	/usr/bin/time -o "$IT_DIR/rss" -f %M timeout "$GUARD" "$CLI_BIN" -c "$SAMPLE_CONF" \
		-o "Home=$IT_DIR/run" classify --user bob@example.net --format tsv \
		"$H/$n.eml" >"$IT_DIR/out" 2>"$IT_DIR/err"
	rc=$?
	[ $rc = 124 ] && it_fail "classify $n: no answer within ${GUARD}s (hang)"
	[ $rc = 0 ] || { cat "$IT_DIR/err" >&2; it_fail "classify $n exited $rc"; }
	cls=$(cut -f2 "$IT_DIR/out")
	case $cls in
	spam | innocent | whitelisted | blocklisted) ;;
	*) it_fail "classify $n: no verdict: $(cat "$IT_DIR/out")" ;;
	esac
	rss=$(tail -n 1 "$IT_DIR/rss")
	[ "$rss" -le "$MAXRSS" ] || it_fail "classify $n: peak RSS ${rss} KiB > $MAXRSS KiB"
	it_log "classify $n: $cls, ${rss} KiB"
done
# tokens and train over the same inputs (train writes: the store must stay sound).
for n in $NAMES; do
	timeout "$GUARD" "$CLI_BIN" -c "$SAMPLE_CONF" -o "Home=$IT_DIR/run" tokens "$H/$n.eml" \
		>/dev/null 2>"$IT_DIR/err" || { cat "$IT_DIR/err" >&2; it_fail "tokens $n"; }
done
timeout "$GUARD" "$CLI_BIN" -c "$SAMPLE_CONF" -o "Home=$IT_DIR/run" train \
	--user bob@example.net --spam "$H" >"$IT_DIR/out" 2>"$IT_DIR/err" ||
	{ cat "$IT_DIR/err" >&2; it_fail "train over the hostile set"; }
grep -q 'learned 10 messages' "$IT_DIR/out" || it_fail "train hostile: $(cat "$IT_DIR/out")"
CLI db check >/dev/null || it_fail "db check after training hostile mail"
# All of them in one mbox, and on standard input.
for n in $NAMES; do echo "From sender@example.org Mon Jan  1 00:00:00 2026"; cat "$H/$n.eml"; echo; done >"$IT_DIR/all.mbox"
timeout "$GUARD" "$CLI_BIN" -c "$SAMPLE_CONF" -o "Home=$IT_DIR/run" classify \
	--user bob@example.net --format tsv - <"$IT_DIR/all.mbox" >"$IT_DIR/out" 2>"$IT_DIR/err" ||
	{ cat "$IT_DIR/err" >&2; it_fail "classify of the hostile mbox on stdin"; }
[ "$(wc -l <"$IT_DIR/out")" = 10 ] || it_fail "hostile mbox: $(wc -l <"$IT_DIR/out") verdicts, expected 10"
it_log "cli: verdicts for every hostile message"

# 2. The real path: Postfix -> spamsift-milter -> smtp-sink.
it_milter
it_sink
it_postfix "unix:$IT_SOCK" "message_size_limit = 20480000"
sent=0
for n in $NAMES; do
	# it_send's socket timeout and Postfix's milter timeouts bound each send.
	code=$(it_send "$H/$n.eml" sender@example.org bob@example.net 2>"$IT_DIR/err")
	kill -0 "$IT_MILTER_PID" 2>/dev/null || it_fail "milter died on $n"
	case $code in
	250)
		sent=$((sent + 1))
		it_wait_sink $sent || it_fail "$n accepted but not relayed"
		f=$(grep -al "^Message-ID: <$n@hostile>" "$IT_DIR"/sink/* | head -n 1)
		[ -n "$f" ] || it_fail "$n: relayed copy not found"
		grep -aq "^X-Spamsift-Result: " "$f" || it_fail "$n: relayed without a verdict header"
		it_log "milter $n: $(grep -a "^X-Spamsift-Result: " "$f")" ;;
	451)
		# A clean configured failure (OnFail=tempfail) must say why.
		grep -q 'internal error, tempfail' "$IT_DIR/milter.log" || it_fail "$n: 451 without an OnFail log line"
		it_log "milter $n: tempfail (OnFail), logged" ;;
	*)
		cat "$IT_DIR/err" >&2
		it_fail "$n: SMTP reply '$code' (expected 250, or 451 with an OnFail line)" ;;
	esac
done
# One info line per message, the milter still alive and within the memory bound.
n=$(grep -c 'action=' "$IT_DIR/milter.log")
[ "$n" -ge 10 ] || it_fail "milter logged $n verdict lines for 10 messages"
hwm=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$IT_MILTER_PID/status")
[ "$hwm" -le "$MAXRSS" ] || it_fail "milter peak RSS ${hwm} KiB > $MAXRSS KiB"
# And it still serves ordinary mail.
printf 'From: <a@example.org>\nTo: <bob@example.net>\nMessage-ID: <after@hostile>\nSubject: after\n\nordinary mail\n' >"$IT_DIR/after.eml"
[ "$(it_send "$IT_DIR/after.eml" a@example.org bob@example.net)" = 250 ] || it_fail "ordinary mail after the hostile set"
it_wait_sink $((sent + 1)) || it_fail "ordinary mail not relayed"
it_log "milter: $sent relayed with a verdict, peak RSS ${hwm} KiB, still serving"
exit 0
