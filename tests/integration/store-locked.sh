#!/bin/sh
# store-locked.sh -- another process holds the store's write lock (as a
# `spamsift train` stopped mid-flush would) while Postfix sends mail:
# tag-mode mail keeps flowing (classification only reads), a quarantine
# copy that cannot be stored is answered 451 and stored nowhere, the
# learning waits in the writer's queue (past its 64 MiB bound it is
# dropped, and that is logged once) and is written once the lock is
# released, in transactions of at most 128 messages, each message once.
# A store the writer cannot open (its directory moved away) is logged once,
# not at every try, and what waited is written when it is back. A SIGTERM
# while sessions wait for the lock lets each finish, then stops cleanly.
. "$(dirname "$0")/lib.sh"

it_setup
COUNT=600
CLI() { "$CLI_BIN" -c "$SAMPLE_CONF" -o "Home=$IT_DIR/run" "$@"; }
DB="$IT_DIR/run/spamsift.db"
CLI db init >/dev/null || it_fail "db init"
CLI blocklist add --user carol@example.net spammer@bad.example || it_fail "blocklist"
CLI prefs set --user carol@example.net spamAction quarantine || it_fail "prefs carol"

# hold: take the store's write lock in another process until $IT_DIR/hold goes.
hold() {
	python3 - "$DB" "$IT_DIR/hold" <<'EOF_PY' &
import os, sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN IMMEDIATE")
open(sys.argv[2], "w").close()
while os.path.exists(sys.argv[2]):
    time.sleep(0.05)
c.execute("COMMIT")
EOF_PY
	HOLDER=$!
	it_wait_file "$IT_DIR/hold" || it_fail "the lock holder did not start"
}
release() { rm -f "$IT_DIR/hold"; wait "$HOLDER"; }
classified() { # USER: messages whose classification the store recorded
	sqlite3 "$DB" "SELECT coalesce(sum(spam_classified + innocent_classified), 0)
	    FROM totals JOIN users ON users.id = totals.uid WHERE users.name = '$1'"
}
load() { # LIST COUNT SESSIONS RCPT: send with smtp_load.py, all must be 2xx
	python3 "$top_srcdir/tests/stress/smtp_load.py" --port "$IT_SMTP_PORT" \
		--list "$1" --count "$2" --sessions "$3" --per-session 10 \
		--rcpts "$4" >"$IT_DIR/load.json" || it_fail "load generator failed"
	python3 - "$IT_DIR/load.json" "$2" "$4" <<'EOF_PY' || it_fail "lock held: SMTP replies $(cat "$IT_DIR/load.json")"
import json, sys
v = json.load(open(sys.argv[1]))["per_rcpt"][sys.argv[3]]
sys.exit(0 if v["2xx"] == int(sys.argv[2]) else 1)
EOF_PY
}

python3 - "$IT_DIR/small" "$IT_DIR/big" <<'EOF_PY'
import os, random, sys
r = random.Random(5)
small, big = sys.argv[1:3]
os.makedirs(small); os.makedirs(big)
words = ["w%d" % i for i in range(3000)]
for i in range(50):
    with open("%s/%02d.eml" % (small, i), "w") as f:
        f.write("From: s%d@example.org\nSubject: note %d\n\n%s\n" % (i, i, " ".join(r.sample(words, 80))))
# 20,000 distinct tokens each (MaxTokens): about 160 KB of learning queued.
for i in range(20):
    with open("%s/%02d.eml" % (big, i), "w") as f:
        f.write("From: b%d@example.org\nSubject: big %d\n\n%s\n" % (i, i,
                " ".join("t%d" % r.randrange(10**9) for _ in range(12000))))
EOF_PY
ls "$IT_DIR"/small/*.eml >"$IT_DIR/small.list"
ls "$IT_DIR"/big/*.eml >"$IT_DIR/big.list"
printf 'From: <spammer@bad.example>\nTo: <carol@example.net>\nSubject: q1\nMessage-ID: <q1@locked>\n\nbuy now\n' >"$IT_DIR/q1"

it_milter -o TokenCacheSize=0
it_sink
it_postfix "unix:$IT_SOCK" "default_process_limit = 100" "message_size_limit = 0" \
	"smtpd_client_connection_count_limit = 0" "smtpd_client_connection_rate_limit = 0"
gen0=$(sqlite3 "$DB" 'SELECT gen FROM generation')

# 1. The lock held: tag-mode mail flows; a quarantine copy waits 20 s for
# the lock (QUARANTINE_WAIT_MS), then is answered 451 and stored nowhere.
# Meanwhile big messages (20,000 tokens each, 96 MB of learning in all) to
# dave fill the writer's queue: past 64 MiB their learning is dropped, with
# one warning, not one per message.
hold
l=$(wc -l <"$IT_DIR/milter.log")
it_send "$IT_DIR/q1" spammer@bad.example carol@example.net >"$IT_DIR/q1.code" &
qsend=$!
load "$IT_DIR/small.list" "$COUNT" 20 bob@example.net
load "$IT_DIR/big.list" 600 8 dave@example.net
wait "$qsend"
[ "$(cat "$IT_DIR/q1.code")" = 451 ] || it_fail "lock held: quarantine answered $(cat "$IT_DIR/q1.code"), not 451"
tail -n +"$((l + 1))" "$IT_DIR/milter.log" >"$IT_DIR/held.log"
grep -q 'internal error, tempfail: quarantine: store busy for 20000 ms' "$IT_DIR/held.log" ||
	it_fail "lock held: no reason logged for the 451"
n=$(grep -c 'store writes are behind; learning dropped' "$IT_DIR/held.log")
# (once a minute at most: a second line if sending took that long)
[ "$n" -ge 1 ] && [ "$n" -le 2 ] || it_fail "lock held, queue full: the drop logged $n times"
# One line per message, nothing per retry.
[ "$(grep -c ' action=' "$IT_DIR/held.log")" = $((COUNT + 600)) ] || it_fail "lock held: not one line per message"
[ "$(wc -l <"$IT_DIR/held.log")" = $((COUNT + 600 + 2)) ] ||
	it_fail "lock held: other lines: $(grep -v ' action=' "$IT_DIR/held.log" | head -n 3)"
release
it_log "lock held: $COUNT + 600 tagged messages delivered, quarantine 451, queue full logged once"

# 2. Released: every message queued is learned once, in transactions of at
# most 128 messages (each one that changes tokens adds one to the
# generation's commit count); bob's, queued first, come first.
i=0
while [ "$(classified bob@example.net)" -lt "$COUNT" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ "$(classified bob@example.net)" = "$COUNT" ] ||
	it_fail "released: $(classified bob@example.net) of $COUNT messages learned"
[ "$(classified carol@example.net)" = 0 ] || it_fail "released: the tempfailed message was learned"
[ "$(sqlite3 "$DB" 'SELECT count(*) FROM quarantine')" = 0 ] || it_fail "released: the withdrawn copy was stored"
# (the generation's low 20 bits count commits: db_impl.h)
commits=$((($(sqlite3 "$DB" 'SELECT gen FROM generation') - gen0) & 1048575))
[ "$commits" -ge $(((COUNT + 127) / 128)) ] ||
	it_fail "released: $COUNT messages learned in $commits transactions (at most 128 each)"
it_log "released: $COUNT messages learned once, $commits transactions so far"

# 3. Learning goes on once the backlog is written: dave's count stops
# growing (what was not dropped is learned), then a new message is learned.
prev=-1; i=0
while [ "$(classified dave@example.net)" != "$prev" ] && [ $i -lt 20 ]; do
	prev=$(classified dave@example.net); sleep 1.5; i=$((i + 1))
done
[ "$prev" -gt 0 ] || it_fail "after: none of dave's messages learned"
[ "$(it_send "$IT_DIR/small/00.eml" s0@example.org bob@example.net)" = 250 ] || it_fail "after: not accepted"
i=0
while [ "$(classified bob@example.net)" -lt $((COUNT + 1)) ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
[ "$(classified bob@example.net)" = $((COUNT + 1)) ] || it_fail "after: a new message was not learned"
CLI db check >/dev/null || it_fail "after: db check"
it_log "after: learning resumed, store sound"

# 4. The store's directory goes away while learning waits for the lock (an
# administrator moves it): the writer cannot open the store. That is said
# once, with why (it retried every 20 ms in silence, only the read side
# said anything, and only about mail), its tries back off, and when the
# directory is back a line says so and the learning that waited is written.
DB="$IT_DIR/st/spamsift.db"
mkdir "$IT_DIR/st"
CLI --db "$DB" db init >/dev/null || it_fail "db init in st/"
it_stop_milter
it_milter -o TokenCacheSize=0 -o "StorePath=$DB"
hold
load "$IT_DIR/small.list" 20 2 erin@example.net
l=$(wc -l <"$IT_DIR/milter.log")
mv "$IT_DIR/st" "$IT_DIR/st.away"
# The writer's try under way waits a second for the lock; every try after
# it fails to open the store: 3 s of them.
sleep 3
release
tail -n +"$((l + 1))" "$IT_DIR/milter.log" >"$IT_DIR/down.log"
n=$(grep -c "cannot open store $DB to write learning: .*st: No such file or directory; retrying" "$IT_DIR/down.log")
[ "$n" = 1 ] || it_fail "store gone: the writer's failure logged $n times: $(head -n 3 "$IT_DIR/down.log")"
[ "$(wc -l <"$IT_DIR/down.log")" = 1 ] || it_fail "store gone: other lines: $(cat "$IT_DIR/down.log")"
[ "$(DB="$IT_DIR/st.away/spamsift.db"; classified erin@example.net)" = 0 ] || it_fail "store gone: learning written to the moved store"
mv "$IT_DIR/st.away" "$IT_DIR/st"
i=0
while ! grep -q "store $DB opened again after [0-9]* s$" "$IT_DIR/milter.log" && [ $i -lt 100 ]; do
	sleep 0.05; i=$((i + 1))
done
grep -q "store $DB opened again after [0-9]* s$" "$IT_DIR/milter.log" ||
	it_fail "store back: no line says so: $(tail -n 3 "$IT_DIR/milter.log")"
i=0
while [ "$(classified erin@example.net)" -lt 20 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ "$(classified erin@example.net)" = 20 ] || it_fail "store back: $(classified erin@example.net) of 20 messages learned"
CLI --db "$DB" db check >/dev/null || it_fail "store back: db check"
it_log "store gone while learning waited: logged once, written when back"

# 5. SIGTERM with sessions in flight: four quarantine copies wait for the
# lock in their end of message and a client is halfway through its DATA.
# Each gets its answer (the tagged message at once, the copies once the
# lock is free), a connection opened meanwhile is told 421 at MAIL (Postfix
# hangs up), the milter exits 0 as soon as the last session has closed,
# and libmilter logs nothing. (It stopped libmilter first: the client in
# DATA got no verdict, only Postfix's timeout, sessions that finished
# logged TASKMGR_LOCK errors, and the drain waited its 30 s for sessions
# libmilter would never close.)
DB="$IT_DIR/run/spamsift.db"
it_stop_milter
it_milter -o TokenCacheSize=0
hold
qpids=
for n in 1 2 3 4; do
	printf 'From: <spammer@bad.example>\nTo: <carol@example.net>\nSubject: q5\nMessage-ID: <q5-%s@locked>\n\nbuy now\n' \
		"$n" >"$IT_DIR/q5-$n"
	it_send "$IT_DIR/q5-$n" spammer@bad.example carol@example.net >"$IT_DIR/q5-$n.code" &
	qpids="$qpids $!"
done
printf 'From: <a@example.org>\nTo: <bob@example.net>\nSubject: d5\nMessage-ID: <d5@locked>\n\nhello, half now and half later\n' >"$IT_DIR/d5"
it_send_halves "$IT_DIR/d5" >"$IT_DIR/d5.code" &
dpid=$!
# (Up to 40 s: libmilter's worker pool can leave a session's handshake
# waiting for a worker while the copies' ends of message hold the others,
# until an idle worker's 10 s timed wait ends; on a loaded machine more.)
i=0
while [ ! -e "$IT_DIR/half" ] && [ $i -lt 800 ]; do sleep 0.05; i=$((i + 1)); done
[ -e "$IT_DIR/half" ] || it_fail "drain: the client in DATA did not start"
# Postfix's cleanup logs each copy's Message-ID before it sends the milter
# the content: then the end of message waits for the lock.
i=0
while [ "$(grep -c 'message-id=<q5-' "$IT_DIR/log/postfix.log")" -lt 4 ] && [ $i -lt 800 ]; do sleep 0.05; i=$((i + 1)); done
[ "$(grep -c 'message-id=<q5-' "$IT_DIR/log/postfix.log")" = 4 ] ||
	it_fail "drain: not every quarantine copy reached its end of message"
sleep 0.5
l=$(wc -l <"$IT_DIR/milter.log")
kill -TERM "$IT_MILTER_PID"
i=0; while ! grep -q 'stopping: draining' "$IT_DIR/milter.log" && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
code=$(python3 - "$IT_SMTP_PORT" <<'EOF_PY'
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), local_hostname="late.spamsift.test", timeout=30)
s.ehlo()
print(s.mail("late@example.org")[0])
EOF_PY
)
[ "$code" = 421 ] || it_fail "drain: a new connection got $code at MAIL, not 421"
touch "$IT_DIR/go"
i=0; while [ ! -s "$IT_DIR/d5.code" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
[ "$(cat "$IT_DIR/d5.code")" = 250 ] || it_fail "drain: the client in DATA got '$(cat "$IT_DIR/d5.code")' within 10 s, not 250"
wait "$dpid"
kill -0 "$IT_MILTER_PID" 2>/dev/null || it_fail "drain: the milter did not wait for the quarantine copies"
release
wait $qpids
for n in 1 2 3 4; do
	[ "$(cat "$IT_DIR/q5-$n.code")" = 250 ] || it_fail "drain: quarantine copy $n answered '$(cat "$IT_DIR/q5-$n.code")'"
done
i=0; while kill -0 "$IT_MILTER_PID" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
kill -0 "$IT_MILTER_PID" 2>/dev/null && it_fail "drain: the milter still runs 5 s after its last session"
wait "$IT_MILTER_PID"; rc=$?
[ "$rc" = 0 ] || it_fail "drain: the milter exited $rc"
[ "$(sqlite3 "$DB" "SELECT count(*) FROM quarantine WHERE subject = 'q5'")" = 4 ] || it_fail "drain: not 4 copies stored"
i=0; while ! grep -qs 'd5@locked' "$IT_DIR"/sink/* && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
grep -qs 'd5@locked' "$IT_DIR"/sink/* || it_fail "drain: the tagged message was not relayed"
tail -n +"$((l + 1))" "$IT_DIR/milter.log" >"$IT_DIR/drain.log"
[ "$(grep -c ' action=' "$IT_DIR/drain.log")" = 5 ] || it_fail "drain: not one verdict line for each of 5 messages"
grep -q 'NOQUEUE: client=.* from=<late@example.org> refused (421): the milter is stopping' "$IT_DIR/drain.log" ||
	it_fail "drain: no line for the refused connection"
other=$(grep -v ' action=\|stopping: draining [0-9]* sessions\|refused (421): the milter is stopping\|stopped$\|token cache: ' "$IT_DIR/drain.log")
[ -z "$other" ] || it_fail "drain: other lines (libmilter's?): $other"
it_log "SIGTERM with 5 sessions in flight: each answered, a new one 421, exit 0, no libmilter error"
exit 0
