#!/bin/sh
# store-concurrency.sh -- the milter classifies (TEFT: it learns every
# message) under load from Postfix while `spamsift train` feeds 1,000
# messages into the same store: no tempfail, no "database is locked" on
# either side, every message gets a verdict, and afterwards the store is
# sound with every message learned.
. "$(dirname "$0")/lib.sh"

it_setup
COUNT=${STORE_CONC_COUNT:-300}
CLI() { "$CLI_BIN" -c "$SAMPLE_CONF" -o "Home=$IT_DIR/run" "$@"; }
CLI db init >/dev/null || it_fail "db init"

# 1,000 distinct messages for the trainer, a handful for the SMTP load.
python3 - "$IT_DIR/corpus" <<'EOF_PY'
import os, random, sys
d = sys.argv[1]
os.makedirs(d)
rnd = random.Random(7)
words = ["offer", "meeting", "invoice", "cheap", "report", "project", "winner",
         "agenda", "pills", "budget", "click", "lunch", "free", "team"]
for i in range(1000):
    body = " ".join(rnd.choice(words) + str(rnd.randrange(500)) for _ in range(60))
    with open(os.path.join(d, "%04d.eml" % i), "w") as f:
        f.write("From: sender%d@example.org\nSubject: note %d\n\n%s\n" % (i % 37, i, body))
EOF_PY
ls "$top_srcdir"/tests/data/*.eml >"$IT_DIR/list"

it_milter
it_sink
it_postfix "unix:$IT_SOCK" "default_process_limit = 100" \
	"smtpd_client_connection_count_limit = 0" "smtpd_client_connection_rate_limit = 0"

CLI train --user @global --spam "$IT_DIR/corpus" >"$IT_DIR/train.out" 2>&1 &
TRAIN=$!
python3 "$top_srcdir/tests/stress/smtp_load.py" --port "$IT_SMTP_PORT" --list "$IT_DIR/list" \
	--count "$COUNT" --sessions 20 --per-session 5 --rcpts bob@example.net >"$IT_DIR/load.json" ||
	it_fail "load generator failed"
wait "$TRAIN" || it_fail "train failed: $(cat "$IT_DIR/train.out")"
grep -q 'learned 1000 messages' "$IT_DIR/train.out" || it_fail "train: $(cat "$IT_DIR/train.out")"
python3 - "$IT_DIR/load.json" "$COUNT" <<'EOF_PY' || it_fail "SMTP replies: $(cat "$IT_DIR/load.json")"
import json, sys
d = json.load(open(sys.argv[1]))
v = d["per_rcpt"]["bob@example.net"]
sys.exit(0 if v["2xx"] == int(sys.argv[2]) and v["4xx"] == v["5xx"] == v["error"] == 0 else 1)
EOF_PY
it_stop_milter
grep -qi 'locked\|busy\|internal error' "$IT_DIR/milter.log" && it_fail "the milter reported: $(grep -i 'locked\|busy\|internal error' "$IT_DIR/milter.log" | head -3)"
n=$(grep -c ' action=' "$IT_DIR/milter.log")
[ "$n" = "$COUNT" ] || it_fail "$n verdict lines for $COUNT messages"
# Every verdict was learned (TEFT): bob's classified counter matches.
CLI stats --user bob@example.net --format tsv >"$IT_DIR/stats" || it_fail "stats"
classified=$(awk -F'\t' 'NR == 2 { print $8 + $9 }' "$IT_DIR/stats")
[ "$classified" = "$COUNT" ] || it_fail "bob: $classified classified messages recorded, expected $COUNT"
CLI db check >/dev/null || it_fail "store not sound after the run"
it_log "$COUNT messages classified and learned while 1000 were trained: no lock errors"
exit 0
