#!/bin/sh
# milter-postfix.sh -- a real Postfix on 127.0.0.1 passes a message through
# spamsift-milter to smtp-sink: the milter is a working libmilter program.
. "$(dirname "$0")/lib.sh"

it_setup
# -t checks what the start would refuse; --help and --version answer.
"$MILTER_BIN" --help | grep -q '^usage: spamsift-milter' || it_fail "--help"
"$MILTER_BIN" --version | grep -q '^spamsift-milter ' || it_fail "--version"
"$MILTER_BIN" -t -c "$SAMPLE_CONF" -o Home=/tmp >/dev/null || it_fail "-t of the sample"
"$MILTER_BIN" -t -c "$SAMPLE_CONF" -o User=no-such-user-here 2>"$IT_DIR/t.err"
[ $? = 2 ] && grep -q 'User: unknown user no-such-user-here' "$IT_DIR/t.err" ||
	it_fail "-t with an unknown User: $(cat "$IT_DIR/t.err")"
# The alias table too, as the start (and config check) open it.
"$MILTER_BIN" -t -c "$SAMPLE_CONF" -o UserMap=alias -o "AliasFile=$IT_DIR/no-aliases" 2>"$IT_DIR/t.err" &&
	it_fail "-t passed a missing AliasFile"
grep -q "no-aliases" "$IT_DIR/t.err" || it_fail "-t with a missing AliasFile: $(cat "$IT_DIR/t.err")"
# The start refuses it with the status of a configuration problem, as -t
# does (2; it exited 3, the status of a store that cannot be opened).
timeout 20 "$MILTER_BIN" -f -c "$SAMPLE_CONF" -o "Home=$IT_DIR" -o UserMap=alias \
	-o "AliasFile=$IT_DIR/no-aliases" -p "unix:$IT_DIR/alias-start.sock" \
	</dev/null >/dev/null 2>"$IT_DIR/t.err"
rc=$?
[ $rc = 2 ] && grep -q "no-aliases" "$IT_DIR/t.err" ||
	it_fail "start with a missing AliasFile: exit $rc: $(cat "$IT_DIR/t.err")"
"$MILTER_BIN" -t -c "$SAMPLE_CONF" -p tcp:bogus 2>"$IT_DIR/t.err"
[ $? = 1 ] && grep -q -- '-p tcp:bogus: expected unix:PATH' "$IT_DIR/t.err" ||
	it_fail "-t with a bad -p: $(cat "$IT_DIR/t.err")"
# A global model before the start: the milter reads it into its token cache
# at once (pool_warm), not at the expense of some message later.
mkdir -p "$IT_DIR/run"
"$CLI_BIN" -c "$SAMPLE_CONF" -o "Home=$IT_DIR/run" db init >/dev/null || it_fail "db init"
printf 'From: a@example.org\nSubject: cheap pills\n\nbuy cheap pills now\n' |
	"$CLI_BIN" -c "$SAMPLE_CONF" -o "Home=$IT_DIR/run" train --user @global --spam >/dev/null ||
	it_fail "train @global"
# The test client is a debug peer: its messages get debug lines too.
it_milter -o DebugPeer=127.0.0.1
i=0; while ! grep -q 'token cache: @global read in' "$IT_DIR/milter.log" && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
grep -q 'token cache: @global read in' "$IT_DIR/milter.log" || it_fail "the milter did not read @global at start"
# (its 14 tokens are held whole: the log says how many, for TokenCacheSize)
grep -q 'token cache: @global read in [0-9]* ms, held whole (14 tokens)' "$IT_DIR/milter.log" ||
	it_fail "the warm-up did not say @global is held whole: $(grep 'token cache' "$IT_DIR/milter.log")"
it_sink
it_postfix "unix:$IT_SOCK"

cat >"$IT_DIR/msg.eml" <<'EOM'
From: Alice <alice@example.org>
To: Bob <bob@example.net>
Subject: lunch on friday
Message-ID: <it-1@example.org>

Shall we meet at noon?
EOM
code=$(it_send "$IT_DIR/msg.eml" alice@example.org bob@example.net)
[ "$code" = 250 ] || it_fail "DATA answered $code"
it_wait_sink 1 || it_fail "message did not reach smtp-sink"
f=$(find "$IT_DIR/sink" -type f | head -n 1)
grep -q '^Subject: lunch on friday' "$f" || it_fail "relayed message lost its Subject"
grep -q 'milter' "$IT_DIR/log/postfix.log" && grep -qi 'milter.*error\|milter.*tempfail' "$IT_DIR/log/postfix.log" &&
	it_fail "postfix logged a milter error"
kill -0 "$IT_MILTER_PID" || it_fail "milter died"
it_log "relayed through spamsift-milter: $(basename "$f")"
# The writer thread (it has learned the message by now) carries its name.
cat "/proc/$IT_MILTER_PID"/task/*/comm 2>/dev/null | grep -qx ss-writer ||
	it_fail "no thread named ss-writer: $(cat "/proc/$IT_MILTER_PID"/task/*/comm | sort | uniq -c | tr '\n' ' ')"
qid=$(sed -n 's/.*id \([0-9A-F]*\)$/\1/p' "$f" | head -n 1)
grep -q "$qid: client=127.0.0.1 from=<alice@example.org> bob@example.net=.* size=[1-9][0-9]* tokens=" "$IT_DIR/milter.log" ||
	it_fail "no per-message log line with queue id, client, sender, verdict and size"
grep -q "$qid: end of message: parser [0-9.]*ms, waiting for a store connection [0-9.]*ms, classifying [0-9.]*ms" "$IT_DIR/milter.log" ||
	it_fail "no debug line for the debug peer: $(grep "$qid" "$IT_DIR/milter.log")"
# Where Linux tells (schedstat), how long the thread ran and waited for a CPU.
if [ -r /proc/thread-self/schedstat ]; then
	grep -q "$qid: end of message: .* users); on a CPU [0-9.]*ms, waiting for one [0-9.]*ms$" "$IT_DIR/milter.log" ||
		it_fail "debug line without the thread's CPU time: $(grep "$qid: end of message" "$IT_DIR/milter.log")"
fi

# The copy as local(8) and an LMTP server would deliver it (Return-Path,
# Delivered-To, X-Original-To and a Received line above what the milter
# read; smtp-sink's Received line stands for a relay after it), without its
# signature (a client that drops it, or one expired): a correction to spam
# still unlearns what TEFT learned as innocent. The fields delivery added
# made it look never learned, and it stayed in both classes.
S() { "$CLI_BIN" -c "$SAMPLE_CONF" -o "Home=$IT_DIR/run" "$@"; }
i=0; until S stats --user bob@example.net --format tsv 2>/dev/null | grep -q '^bob@example.net	0	1	'; do
	[ $i -lt 100 ] || it_fail "the milter's learning: $(S stats --user bob@example.net --format tsv 2>&1)"
	sleep 0.05; i=$((i + 1))
done
{ printf 'Return-Path: <alice@example.org>\nDelivered-To: bob@example.net\nX-Original-To: bob@example.net\n'
  printf 'Received: from mx.example.net (mx.example.net [192.0.2.25])\n\tby mbox.example.net with LMTP id Xk2bA3\n\tfor <bob@example.net>; Fri, 04 Dec 2026 10:00:00 +0000\n'
  sed -e '/^X-Spamsift-Signature:/d' -e '/^X-\(Client\|Helo\|Mail\|Rcpt\)-/d' "$f"; } >"$IT_DIR/delivered.eml"
S train --user bob@example.net --source error --spam "$IT_DIR/delivered.eml" >/dev/null || it_fail "train --source error"
# (spam learned at least once: TCR may learn it again until it scores spam)
S stats --user bob@example.net --format tsv | grep -q '^bob@example.net	[1-9][0-9]*	0	0	1	' ||
	it_fail "correction of a delivered copy: $(S stats --user bob@example.net --format tsv; head -n 20 "$IT_DIR/delivered.eml")"

# SIGHUP reloads without stopping; the milter keeps serving.
kill -HUP "$IT_MILTER_PID"
i=0; while ! grep -q 'reloaded' "$IT_DIR/milter.log" && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
grep -q 'reloaded' "$IT_DIR/milter.log" || it_fail "SIGHUP did not reload"
kill -0 "$IT_MILTER_PID" || it_fail "milter stopped on SIGHUP"
sed 's/it-1@/it-2@/' "$IT_DIR/msg.eml" >"$IT_DIR/msg2.eml"
code=$(it_send "$IT_DIR/msg2.eml" alice@example.org bob@example.net)
[ "$code" = 250 ] || it_fail "after reload, DATA answered $code"
it_wait_sink 2 || it_fail "after reload, message not relayed"

# RecipientDelimiter (the sample's +): bob+lists@ is classified as bob's.
sed 's/it-1@/it-3@/' "$IT_DIR/msg.eml" >"$IT_DIR/msg3.eml"
code=$(it_send "$IT_DIR/msg3.eml" alice@example.org bob+lists@example.net)
[ "$code" = 250 ] || it_fail "to bob+lists, DATA answered $code"
it_wait_sink 3 || it_fail "to bob+lists: not relayed"
f=$(grep -l 'it-3@' "$IT_DIR/sink"/* | head -n 1)
qid=$(sed -n 's/.*id \([0-9A-F]*\)$/\1/p' "$f" | head -n 1)
i=0; while ! grep -q "$qid: client=" "$IT_DIR/milter.log" && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
grep -q "$qid: client=.* bob@example.net=" "$IT_DIR/milter.log" ||
	it_fail "bob+lists was not bob's: $(grep "$qid: client=" "$IT_DIR/milter.log")"

# SIGTERM: drains and exits 0, removing its socket; with no session in
# flight within 2 s (smfi_stop waited for libmilter's listener to end its
# 5 s poll: the milter took up to 5 s).
kill -TERM "$IT_MILTER_PID"
i=0; while kill -0 "$IT_MILTER_PID" 2>/dev/null && [ $i -lt 40 ]; do sleep 0.05; i=$((i + 1)); done
kill -0 "$IT_MILTER_PID" 2>/dev/null && it_fail "milter did not exit within 2 s of SIGTERM"
wait "$IT_MILTER_PID"; rc=$?
[ "$rc" = 0 ] || it_fail "milter exited $rc on SIGTERM"
[ -e "$IT_SOCK" ] && it_fail "socket left behind"
grep -q 'token cache: .* 1 whole models read' "$IT_DIR/milter.log" ||
	it_fail "@global was not read whole into the cache: $(grep 'token cache:' "$IT_DIR/milter.log")"
it_log "reload and stop ok"

# SIGTERM waits for the sessions in flight, not for connections opened
# after it: those carry no mail (MAIL is refused), and on a busy server
# new ones keep coming, so each stop ran its full 30 s. A client that
# connected during the drain and idles does not keep the milter: it exits
# as soon as the session in flight has ended.
it_milter
session() { # NAME: connect, EHLO, touch NAME.up, hang up when NAME.go exists
	python3 - "$IT_SMTP_PORT" "$IT_DIR/$1" <<'EOF_PY'
import os, smtplib, sys, time
port, base = int(sys.argv[1]), sys.argv[2]
s = smtplib.SMTP("127.0.0.1", port, local_hostname="idle.spamsift.test", timeout=60)
s.ehlo()
open(base + ".up", "w").close()
for _ in range(400):
    if os.path.exists(base + ".go"):
        break
    time.sleep(0.05)
s.quit()
EOF_PY
}
session early & epid=$!
it_wait_file "$IT_DIR/early.up" || it_fail "drain: the early session did not start"
l=$(grep -c 'stopping: draining' "$IT_DIR/milter.log")
kill -TERM "$IT_MILTER_PID"
i=0; while [ "$(grep -c 'stopping: draining' "$IT_DIR/milter.log")" -le "$l" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
grep 'stopping: draining' "$IT_DIR/milter.log" | tail -n 1 | grep -q 'draining 1 sessions$' ||
	it_fail "drain: not the one session in flight: $(grep 'stopping: draining' "$IT_DIR/milter.log" | tail -n 1)"
session late & lpid=$!
it_wait_file "$IT_DIR/late.up" || it_fail "drain: the late session did not start"
kill -0 "$IT_MILTER_PID" 2>/dev/null || it_fail "drain: the milter did not wait for the session in flight"
touch "$IT_DIR/early.go"
wait "$epid"
i=0; while kill -0 "$IT_MILTER_PID" 2>/dev/null && [ $i -lt 60 ]; do sleep 0.05; i=$((i + 1)); done
kill -0 "$IT_MILTER_PID" 2>/dev/null &&
	it_fail "drain: the milter waited for a connection opened after SIGTERM"
wait "$IT_MILTER_PID"; rc=$?
[ "$rc" = 0 ] || it_fail "drain with a late connection: exited $rc"
touch "$IT_DIR/late.go"
wait "$lpid"
it_log "stop waits for sessions in flight only"

# Under systemd (stderr is the journal: JOURNAL_STREAM names it) -f does
# not copy syslog lines to stderr, or journalctl would show each twice.
: >"$IT_DIR/journal.log"
js=$(stat -c '%d:%i' "$IT_DIR/journal.log")
JOURNAL_STREAM=$js "$MILTER_BIN" -f -c "$SAMPLE_CONF" -o "Home=$IT_DIR/run" \
	-p "unix:$IT_SOCK" -o SocketMode=0666 2>>"$IT_DIR/journal.log" &
jpid=$!
i=0; while ! grep -q 'listening on' "$IT_DIR/journal.log" && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
grep -q 'listening on' "$IT_DIR/journal.log" || it_fail "milter under JOURNAL_STREAM did not start"
kill -TERM "$jpid"; wait "$jpid"
grep -q 'starting: socket' "$IT_DIR/milter.log" || it_fail "-f did not copy log lines to stderr"
grep -q 'starting: socket' "$IT_DIR/journal.log" &&
	it_fail "-f copied syslog lines to a journal stderr: $(cat "$IT_DIR/journal.log")"
it_log "no copy to the journal ok"

# Overrides that conf accepts also start the milter: a DSPAM key spamsift
# ignores, blanks around a key (both aborted in an assertion). An upper-case
# "UNIX:" socket gets SocketMode and is removed at exit (it kept the
# umask's mode and stayed). A reload that fails logs why, in the syslog
# line itself (a daemon's stderr is /dev/null).
cp "$SAMPLE_CONF" "$IT_DIR/edit.conf"
"$MILTER_BIN" -f -c "$IT_DIR/edit.conf" -o "Home=$IT_DIR/run" -o StorageDriver=hash_drv \
	-o ' DebugPeer = 127.0.0.1' -p "UNIX:$IT_DIR/u.sock" -o SocketMode=0600 2>"$IT_DIR/u.log" &
upid=$!
i=0; while ! grep -q 'listening on' "$IT_DIR/u.log" && [ $i -lt 200 ]; do
	kill -0 "$upid" 2>/dev/null || break
	sleep 0.05; i=$((i + 1))
done
grep -q 'listening on' "$IT_DIR/u.log" || it_fail "milter with accepted overrides did not start: $(cat "$IT_DIR/u.log")"
[ "$(stat -c %a "$IT_DIR/u.sock")" = 600 ] || it_fail "UNIX: socket mode $(stat -c %a "$IT_DIR/u.sock"), SocketMode 0600"
echo "MaxTokenz 10" >>"$IT_DIR/edit.conf"
kill -HUP "$upid"
i=0; while ! grep -q 'reload of' "$IT_DIR/u.log" && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
grep -q "reload of $IT_DIR/edit.conf failed (.*edit.conf:[0-9]*: MaxTokenz: unknown key" "$IT_DIR/u.log" ||
	it_fail "a failed reload does not log why: $(grep reload "$IT_DIR/u.log")"
# A reload that changes keys read only at start says they wait for a
# restart (the -o SocketMode still holds, so that is not one of them).
sed -i '$d' "$IT_DIR/edit.conf"
printf 'TokenCacheSize 1M\nSocketMode 0640\n' >>"$IT_DIR/edit.conf"
kill -HUP "$upid"
i=0; while ! grep -q 'changed' "$IT_DIR/u.log" && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
grep -q 'reload: TokenCacheSize changed (1048576, was 12582912); it is read only at start: it takes effect at a restart' "$IT_DIR/u.log" ||
	it_fail "a start-only key changed by a reload: $(grep reload "$IT_DIR/u.log")"
[ "$(grep -c 'changed (' "$IT_DIR/u.log")" = 1 ] || it_fail "unchanged start-only keys said changed: $(grep 'changed (' "$IT_DIR/u.log")"
kill -TERM "$upid"; wait "$upid" || it_fail "milter with accepted overrides exited $?"
[ -e "$IT_DIR/u.sock" ] && it_fail "UNIX: socket left at exit"
it_log "accepted overrides, UNIX: socket, failed reload logged ok"
exit 0
