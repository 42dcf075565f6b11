#!/bin/sh
# robust-concurrency.sh -- many concurrent SMTP sessions through Postfix
# into spamsift-milter with mail that has attachments (so libmagic runs):
# no tempfail, the milter survives, one verdict line per message. The short
# version of tests/stress/load.sh, for `make check`.
#
# Found: libmilter's worker pool runs one connection's callbacks on several
# threads, and the parser kept the libmagic handle of the thread that made
# it; two sessions then used one magic_t at once (SEGV in magic_buffer).
# Since then the sessions share a pool of store and libmagic handles and a
# token cache, which this load exercises too (the cache's counters are
# logged when the milter stops).
. "$(dirname "$0")/lib.sh"

it_setup
COUNT=${ROBUST_CONC_COUNT:-400}
SESSIONS=${ROBUST_CONC_SESSIONS:-50}
"$CLI_BIN" -c "$SAMPLE_CONF" -o "Home=$IT_DIR/run" db init >/dev/null || it_fail "db init"
ls "$top_srcdir"/tests/data/*.eml >"$IT_DIR/list"
grep -q attach "$IT_DIR/list" || it_fail "no attachment fixtures in tests/data"
it_milter -o TokenCacheSize=4M
it_sink
it_postfix "unix:$IT_SOCK" "default_process_limit = 150" "smtpd_client_connection_count_limit = 0" \
	"smtpd_client_connection_rate_limit = 0" "smtpd_client_message_rate_limit = 0"
python3 "$top_srcdir/tests/stress/smtp_load.py" --port "$IT_SMTP_PORT" --list "$IT_DIR/list" \
	--count "$COUNT" --sessions "$SESSIONS" --per-session 1 \
	--rcpts bob@example.net,carol@example.net >"$IT_DIR/load.json" || it_fail "load generator"
kill -0 "$IT_MILTER_PID" 2>/dev/null || it_fail "the milter died under $SESSIONS concurrent sessions"
eval "$(python3 - "$IT_DIR/load.json" <<'EOF_PY'
import json, sys
d = json.load(open(sys.argv[1]))
c = d["per_rcpt"].values()
print("SENT=%d OK=%d TEMP=%d PERM=%d ERR=%d" % (d["sent"], sum(v["2xx"] for v in c),
      sum(v["4xx"] for v in c), sum(v["5xx"] for v in c), sum(v["error"] for v in c)))
EOF_PY
)"
[ "$TEMP" = 0 ] && [ "$ERR" = 0 ] && [ "$PERM" = 0 ] || it_fail "$TEMP tempfails, $PERM rejects, $ERR errors of $SENT: $(cat "$IT_DIR/load.json")"
n=$(grep -c ' action=' "$IT_DIR/milter.log")
[ "$n" = "$COUNT" ] || it_fail "$n verdict lines for $COUNT messages"
it_stop_milter
grep -q 'token cache: [1-9][0-9]* hits' "$IT_DIR/milter.log" ||
	it_fail "the shared token cache answered no lookup: $(grep 'token cache' "$IT_DIR/milter.log")"
it_log "$COUNT messages over $SESSIONS sessions: all accepted with a verdict"
exit 0
