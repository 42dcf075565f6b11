#!/bin/sh
# robust-faults.sh -- faults around a real Postfix and spamsift-milter:
# SIGKILL of the milter mid-session (Postfix applies milter_default_action,
# a restarted milter serves again), SIGKILL of a trainer mid-corpus (the
# store stays consistent), disk full during a quarantine write (tempfail,
# nothing half-written, a clear log line) for the temporary copy and for the
# store (tagged mail still flows; its lost learning is logged once), a
# read-only store, a corrupt store file, the store deleted while the milter
# runs, a full disk when a command opens the store. Disk-full and read-only
# cases use small tmpfs mounts.
. "$(dirname "$0")/lib.sh"

it_setup
MNT="$IT_DIR/mnt"
# Unmount our tmpfs before lib.sh's cleanup removes the temp dir.
trap 'rc=$?; for m in "$MNT"/*; do umount -l "$m" 2>/dev/null; done; (exit $rc); it_cleanup' EXIT
CLI() { "$CLI_BIN" -c "$SAMPLE_CONF" -o "Home=$IT_DIR/run" "$@"; }
sink_count() { find "$IT_DIR/sink" -type f | wc -l; }
mkmsg() { # FILE FROM RCPT [BODY_BYTES]
	python3 - "$@" <<'EOF_PY'
import sys
path, frm, rcpt = sys.argv[1:4]
size = int(sys.argv[4]) if len(sys.argv) > 4 else 0
with open(path, "w") as f:
    f.write("From: <%s>\nTo: <%s>\nSubject: fault test\nMessage-ID: <%s@faults>\n\n"
            % (frm, rcpt, path.rsplit("/", 1)[-1]))
    f.write("hello, this is the body of a test message.\n")
    line = "filler text to make the message bigger than the filesystem\n"
    f.write(line * (size // len(line)))
EOF_PY
}
tmpfs() { # NAME SIZE: mount a tmpfs of SIZE at $MNT/NAME
	mkdir -p "$MNT/$1"
	mount -t tmpfs -o "size=$2,mode=0755" tmpfs "$MNT/$1" || return 1
}
milter_restart() { kill "$IT_MILTER_PID" 2>/dev/null; wait "$IT_MILTER_PID" 2>/dev/null; it_milter "$@"; }
log_lines() { wc -l <"$IT_DIR/milter.log"; }
new_log() { tail -n +"$(($1 + 1))" "$IT_DIR/milter.log"; }

CLI db init >/dev/null || it_fail "db init"
CLI blocklist add --user carol@example.net spammer@bad.example || it_fail "blocklist"
CLI prefs set --user carol@example.net spamAction quarantine || it_fail "prefs carol"
it_milter
it_sink
it_postfix "unix:$IT_SOCK"

# 1. SIGKILL of the milter mid-session: the SMTP client has sent MAIL, RCPT,
# DATA and half the body when the milter dies; Postfix then applies
# milter_default_action (tempfail here): 451, nothing relayed.
mkmsg "$IT_DIR/k1" a@example.org bob@example.net 20000
it_send_halves "$IT_DIR/k1" >"$IT_DIR/k1.code" &
client=$!
it_wait_file "$IT_DIR/half" || it_fail "mid-session client did not start"
kill -9 "$IT_MILTER_PID"
wait "$IT_MILTER_PID" 2>/dev/null
touch "$IT_DIR/go"
wait "$client"
code=$(cat "$IT_DIR/k1.code")
case $code in 4*) ;; *) it_fail "SIGKILL mid-session: expected 4xx (milter_default_action), got '$code'" ;; esac
grep -q 'milter.*\(tempfail\|4\.\)' "$IT_DIR/log/postfix.log" || grep -q "451\|421" "$IT_DIR/log/postfix.log" ||
	it_fail "no milter failure in the postfix log"
before=$(sink_count)
it_milter
mkmsg "$IT_DIR/k2" a@example.org bob@example.net
[ "$(it_send "$IT_DIR/k2" a@example.org bob@example.net)" = 250 ] || it_fail "restarted milter does not serve"
it_wait_sink $((before + 1)) || it_fail "after restart: not relayed"
grep -aq '^X-Spamsift-Result:' "$(grep -al 'Message-ID: <k2@faults>' "$IT_DIR"/sink/*)" ||
	it_fail "after restart: no verdict header"
it_log "SIGKILL mid-session: $code, restarted milter serves"

# 2. SIGKILL of a trainer mid-corpus: the store stays consistent and usable.
mkdir -p "$IT_DIR/corpus"
python3 - "$IT_DIR/corpus" <<'EOF_PY'
import random, sys
r = random.Random(2)
words = ["w%d" % i for i in range(5000)]
for i in range(3000):
    with open("%s/%05d.eml" % (sys.argv[1], i), "w") as f:
        f.write("From: s%d@example.org\nSubject: %s\n\n%s\n" % (i, " ".join(r.sample(words, 5)),
                " ".join(r.sample(words, 200))))
EOF_PY
CLI train --user trainee@example.net --spam "$IT_DIR/corpus" >"$IT_DIR/train.out" 2>&1 &
trainer=$!
# Kill it mid-corpus: as soon as it writes (the WAL grows: a flush of its
# deferred counts), at the latest after 0.5 s. `train` writes whole flushes
# in one transaction (cli/spamsift.1), so the store keeps none or all of a
# flush; killing inside a flush is what check_db_crash does deterministically.
wal0=$(stat -c %s "$IT_DIR/run/spamsift.db-wal" 2>/dev/null || echo 0)
i=0
while [ $i -lt 10 ]; do
	s=$(stat -c %s "$IT_DIR/run/spamsift.db-wal" 2>/dev/null || echo 0)
	[ "$s" -gt "$wal0" ] && break
	kill -0 $trainer 2>/dev/null || break
	sleep 0.05; i=$((i + 1))
done
kill -0 $trainer 2>/dev/null || it_fail "trainer finished before it could be killed (make the corpus bigger)"
kill -9 $trainer
wait $trainer 2>/dev/null
CLI db check >"$IT_DIR/out" 2>&1 || { cat "$IT_DIR/out" >&2; it_fail "db check after SIGKILL of the trainer"; }
CLI stats --user trainee@example.net --format tsv >"$IT_DIR/out" 2>&1 || it_fail "stats after SIGKILL"
learned=$(tail -n 1 "$IT_DIR/out" | cut -f2)
# None, some or all of the corpus, in whole flushes: a flush that committed
# just before the kill counts (the totals must match the tokens: db check).
[ "${learned:-0}" -le 3000 ] || it_fail "learned $learned of 3000 messages"
CLI train --user trainee@example.net --ham "$IT_DIR/k2" >/dev/null || it_fail "train after SIGKILL"
CLI db check >/dev/null || it_fail "db check after retraining"
it_log "SIGKILL of the trainer: store consistent ($learned spam messages kept)"

# 3. Disk full while the quarantine copy spills to TempDir: tempfail, a log
# line saying why, nothing quarantined, relayed or learned.
if tmpfs tmp 64k; then
	# A message within QuarantineMemory (1 MiB by default) that is not
	# quarantined never needs TempDir: the copy stays in its buffer
	# (setvbuf with no buffer of ours ignored the size: 4 KiB, then disk).
	milter_restart -o "TempDir=$MNT/tmp"
	mkmsg "$IT_DIR/q0" friend@good.example carol@example.net 300000
	before=$(sink_count)
	code=$(it_send "$IT_DIR/q0" friend@good.example carol@example.net)
	[ "$code" = 250 ] || it_fail "copy within QuarantineMemory, TempDir full: expected 250, got $code"
	it_wait_sink $((before + 1)) || it_fail "copy within QuarantineMemory: not relayed"
	it_log "copy within QuarantineMemory: kept in memory, TempDir not needed"
	# Nor when it is quarantined: the copy is taken from its buffer (it
	# was flushed to TempDir and read back: 451 for every quarantine
	# while TempDir was full, however small the message).
	mkmsg "$IT_DIR/q0q" spammer@bad.example carol@example.net 300000
	nq=$(CLI quarantine list --user carol@example.net | wc -l)
	code=$(it_send "$IT_DIR/q0q" spammer@bad.example carol@example.net)
	[ "$code" = 250 ] || it_fail "quarantine within QuarantineMemory, TempDir full: expected 250, got $code"
	[ "$(CLI quarantine list --user carol@example.net | wc -l)" = $((nq + 1)) ] ||
		it_fail "quarantine within QuarantineMemory, TempDir full: not quarantined"
	id=$(CLI quarantine list --user carol@example.net | awk 'END { print $1 }')
	CLI quarantine show --user carol@example.net "$id" | grep -q 'Subject:' ||
		it_fail "quarantine within QuarantineMemory: the stored copy has no header"
	expect_size=$(wc -c <"$IT_DIR/q0q")
	[ "$(CLI quarantine show --user carol@example.net "$id" | wc -c)" -ge $((expect_size - 100)) ] ||
		it_fail "quarantine within QuarantineMemory: the stored copy is short"
	CLI quarantine delete --user carol@example.net "$id" >/dev/null
	it_log "quarantine within QuarantineMemory: stored from memory, TempDir full"
	# Nor is it written there when the message is done: closing the copy
	# must not flush the buffer to the unlinked file. What the milter
	# writes meanwhile (wchar: the learning's few store pages, the log)
	# stays far below the message's 900 KB.
	tmpfs roomy 4m || it_fail "mount the roomy TempDir"
	milter_restart -o "TempDir=$MNT/roomy"
	mkmsg "$IT_DIR/q0b" friend@good.example carol@example.net 900000
	before=$(sink_count)
	w0=$(sed -n 's/^wchar: //p' "/proc/$IT_MILTER_PID/io")
	code=$(it_send "$IT_DIR/q0b" friend@good.example carol@example.net)
	[ "$code" = 250 ] || it_fail "copy within QuarantineMemory: expected 250, got $code"
	it_wait_sink $((before + 1)) || it_fail "copy within QuarantineMemory: not relayed"
	sleep 1.5       # the writer commits the learning within half a second
	w1=$(sed -n 's/^wchar: //p' "/proc/$IT_MILTER_PID/io")
	[ $((w1 - w0)) -lt 450000 ] ||
		it_fail "copy within QuarantineMemory: the milter wrote $((w1 - w0)) bytes for a 900 KB message"
	it_log "copy within QuarantineMemory: never written ($((w1 - w0)) bytes written in all)"

	milter_restart -o "TempDir=$MNT/tmp" -o QuarantineMemory=4096
	mkmsg "$IT_DIR/q1" spammer@bad.example carol@example.net 300000
	l=$(log_lines); before=$(sink_count)
	sigs=$(sqlite3 "$IT_DIR/run/spamsift.db" 'SELECT count(*) FROM signatures')
	code=$(it_send "$IT_DIR/q1" spammer@bad.example carol@example.net)
	[ "$code" = 451 ] || it_fail "TempDir full: expected 451, got $code"
	new_log "$l" | grep -q 'internal error, tempfail: quarantine copy: No space left on device' ||
		{ new_log "$l" >&2; it_fail "TempDir full: no clear log line"; }
	CLI quarantine list --user carol@example.net | grep -q . && it_fail "TempDir full: something was quarantined"
	[ "$(sink_count)" = "$before" ] || it_fail "TempDir full: the message was relayed"
	[ -z "$(ls -A "$MNT/tmp")" ] || it_fail "TempDir full: temporary files left behind"
	# Deferred, so not learned: its next try will be (the writer commits
	# within half a second).
	sleep 1.5
	[ "$(sqlite3 "$IT_DIR/run/spamsift.db" 'SELECT count(*) FROM signatures')" = "$sigs" ] ||
		it_fail "TempDir full: the deferred message was learned"
	it_log "disk full (TempDir): 451, logged, nothing kept, nothing learned"

	# 4. Disk full in the store itself while the quarantined copy is written.
	tmpfs store 2m || it_fail "mount store tmpfs"
	CLI --db "$MNT/store/s.db" db init >/dev/null || it_fail "db init on tmpfs"
	CLI --db "$MNT/store/s.db" blocklist add --user carol@example.net spammer@bad.example || it_fail "blocklist"
	CLI --db "$MNT/store/s.db" prefs set --user carol@example.net spamAction quarantine || it_fail "prefs"
	milter_restart -o "StorePath=$MNT/store/s.db"
	# Another process keeps the store open, so its -wal and -shm files exist
	# and the milter can open the store: the disk fills up under the write.
	python3 - "$MNT/store/s.db" "$IT_DIR/holder.ready" <<'EOF_PY' &
import os, sqlite3, sys, time
c = sqlite3.connect(sys.argv[1])
c.execute("select count(*) from sqlite_master").fetchall()
open(sys.argv[2], "w").close()
while os.path.exists(sys.argv[2]):
    time.sleep(0.05)
c.close()
EOF_PY
	holder=$!
	it_wait_file "$IT_DIR/holder.ready" || it_fail "store holder did not start"
	# Fill the filesystem, leaving a few KiB.
	dd if=/dev/zero of="$MNT/store/filler" bs=4k 2>/dev/null
	rm -f "$MNT/store/filler"; dd if=/dev/zero of="$MNT/store/filler" bs=4k count=$(($(df -k --output=avail "$MNT/store" | tail -n 1) / 4 - 4)) 2>/dev/null
	mkmsg "$IT_DIR/q2" spammer@bad.example carol@example.net 200000
	l=$(log_lines); before=$(sink_count)
	code=$(it_send "$IT_DIR/q2" spammer@bad.example carol@example.net)
	[ "$code" = 451 ] || it_fail "store full: expected 451, got $code"
	new_log "$l" | grep -q 'internal error, tempfail: .*\(full\|space\)' ||
		{ new_log "$l" >&2; it_fail "store full: no clear log line"; }
	[ "$(sink_count)" = "$before" ] || it_fail "store full: the message was relayed"
	# Tagged mail still gets its verdict (classification only reads); its
	# learning is lost, and that is logged once, not once per message
	# (each message here is a batch of the writer's own).
	mkmsg "$IT_DIR/f1" a@example.org bob@example.net
	l=$(log_lines)
	for i in 1 2 3; do
		[ "$(it_send "$IT_DIR/f1" a@example.org bob@example.net)" = 250 ] || it_fail "store full: tagged mail refused"
		sleep 0.7
	done
	n=$(new_log "$l" | grep -c 'learning of .* messages lost: ')
	[ "$n" -le 1 ] || { new_log "$l" >&2; it_fail "store full: lost learning logged $n times for 3 messages"; }
	rm -f "$MNT/store/filler" "$IT_DIR/holder.ready"
	wait $holder
	CLI --db "$MNT/store/s.db" db check >/dev/null || it_fail "store full: db check afterwards"
	CLI --db "$MNT/store/s.db" quarantine list --user carol@example.net | grep -q . &&
		it_fail "store full: a half-written quarantine entry is listed"
	# With space again the same message is quarantined whole.
	[ "$(it_send "$IT_DIR/q2" spammer@bad.example carol@example.net)" = 250 ] || it_fail "store no longer full: not accepted"
	id=$(CLI --db "$MNT/store/s.db" quarantine list --user carol@example.net | cut -f1)
	[ -n "$id" ] || it_fail "store no longer full: not quarantined"
	# Whatever was lost while full is in the log by now (once a minute at
	# most while it lasts, and when writes work again).
	i=0; while [ "$(new_log "$l" | grep -c 'learning of .* messages lost: ')" = 0 ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	new_log "$l" | grep -q 'learning of [1-9][0-9]* messages lost: ' ||
		{ new_log "$l" >&2; it_fail "store full: lost learning never logged"; }
	CLI --db "$MNT/store/s.db" quarantine show --user carol@example.net "$id" >"$IT_DIR/shown" ||
		it_fail "quarantine show"
	# The whole body is there (Postfix may add a final empty line).
	python3 - "$IT_DIR/q2" "$IT_DIR/shown" <<'EOF_PY' || it_fail "store no longer full: quarantined copy incomplete"
import sys
body = lambda p: open(p, "rb").read().replace(b"\r\n", b"\n").split(b"\n\n", 1)[1].rstrip(b"\n")
sys.exit(0 if body(sys.argv[1]) == body(sys.argv[2]) else 1)
EOF_PY
	it_log "disk full (store): 451, logged, nothing half-written; quarantined once space is back"

	# 4b. Two users quarantine; room for the first copy only. The first stays
	# stored, the second user gets the message tagged: a 451 would have
	# stored the first again on every retry (a duplicate each time).
	CLI --db "$MNT/store/s.db" blocklist add --user dan@example.net spammer@bad.example || it_fail "blocklist dan"
	CLI --db "$MNT/store/s.db" prefs set --user dan@example.net spamAction quarantine || it_fail "prefs dan"
	CLI --db "$MNT/store/s.db" quarantine delete --user carol@example.net "$id" >/dev/null || it_fail "quarantine delete"
	milter_restart -o "StorePath=$MNT/store/s.db"
	mkmsg "$IT_DIR/q3" spammer@bad.example carol@example.net 200000
	rm -f "$MNT/store/filler"
	dd if=/dev/zero of="$MNT/store/filler" bs=4k count=$(($(df -k --output=avail "$MNT/store" | tail -n 1) / 4 - 90)) 2>/dev/null
	l=$(log_lines); before=$(sink_count)
	code=$(it_send "$IT_DIR/q3" spammer@bad.example carol@example.net dan@example.net)
	rm -f "$MNT/store/filler"
	[ "$code" = 250 ] || { new_log "$l" >&2; it_fail "second copy fails: expected 250, got $code"; }
	new_log "$l" | grep -q 'quarantine for dan@example.net failed (.*); delivered tagged instead' ||
		{ new_log "$l" >&2; it_fail "second copy fails: no warning"; }
	[ "$(CLI --db "$MNT/store/s.db" quarantine list --user carol@example.net | wc -l)" = 1 ] ||
		it_fail "second copy fails: carol's copy not stored once"
	CLI --db "$MNT/store/s.db" quarantine list --user dan@example.net | grep -q . &&
		it_fail "second copy fails: dan's copy listed"
	it_wait_sink $((before + 1)) || it_fail "second copy fails: dan's tagged copy not relayed"
	f=$(grep -l 'q3@faults' "$IT_DIR"/sink/* | head -n 1)
	grep -q '^Subject: \[SPAM\]' "$f" || it_fail "second copy fails: dan's copy not tagged"
	it_log "store full after one of two copies: first kept once, second user tagged"

	# 5. Read-only store (the filesystem remounted read-only): classification
	# works or fails cleanly (OnFail); the CLI refuses to train with a clear
	# error and does not crash.
	milter_restart -o "StorePath=$MNT/store/s.db"
	# (the milter's start-up read of @global may hold the file a moment)
	i=0; while ! mount -o remount,ro "$MNT/store" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	[ $i -lt 50 ] || it_fail "remount ro"
	mkmsg "$IT_DIR/r1" a@example.org bob@example.net
	l=$(log_lines); before=$(sink_count)
	code=$(it_send "$IT_DIR/r1" a@example.org bob@example.net)
	case $code in
	250) it_wait_sink $((before + 1)) || it_fail "read-only store: accepted, not relayed" ;;
	451) new_log "$l" | grep -q 'internal error, tempfail: ' || it_fail "read-only store: 451 without a log line" ;;
	*) it_fail "read-only store: SMTP reply $code" ;;
	esac
	kill -0 "$IT_MILTER_PID" || it_fail "read-only store: milter died"
	CLI --db "$MNT/store/s.db" train --user bob@example.net --spam "$IT_DIR/r1" >"$IT_DIR/out" 2>"$IT_DIR/err"
	rc=$?
	[ $rc -ne 0 ] && [ $rc -lt 128 ] || it_fail "read-only store: train exited $rc"
	grep -qi 'read-only\|readonly\|s.db' "$IT_DIR/err" || it_fail "read-only store: unclear error: $(cat "$IT_DIR/err")"
	it_log "read-only store: milter $code, train exits $rc: $(head -n 1 "$IT_DIR/err")"
	mount -o remount,rw "$MNT/store"
else
	it_log "SKIP disk-full and read-only cases: cannot mount tmpfs here"
fi

# 6. Corrupt store file: every message gets OnFail (tempfail) with a log line
# naming the file; the CLI exits 3 naming it. (A check at start: see
# robust-store-start.sh.)
# The milter refuses to start on a corrupt store (robust-store-start.sh), so
# the file is corrupted in place once it runs.
CLI --db "$IT_DIR/corrupt.db" db init >/dev/null || it_fail "corrupt store: db init"
milter_restart -o "StorePath=$IT_DIR/corrupt.db"
head -c 8192 /dev/urandom >"$IT_DIR/corrupt.db"
rm -f "$IT_DIR/corrupt.db-wal" "$IT_DIR/corrupt.db-shm"
mkmsg "$IT_DIR/c1" a@example.org bob@example.net
l=$(log_lines)
[ "$(it_send "$IT_DIR/c1" a@example.org bob@example.net)" = 451 ] || it_fail "corrupt store: not tempfailed"
new_log "$l" | grep -q "internal error, tempfail: .*corrupt.db" ||
	{ new_log "$l" >&2; it_fail "corrupt store: log line does not name the file"; }
CLI --db "$IT_DIR/corrupt.db" stats >"$IT_DIR/out" 2>"$IT_DIR/err"
[ $? = 3 ] || it_fail "corrupt store: CLI did not exit 3"
grep -q 'corrupt.db' "$IT_DIR/err" || it_fail "corrupt store: CLI error does not name the file"
it_log "corrupt store: tempfail with the file named"

# 7. The store deleted while the milter runs: mail keeps getting verdicts,
# the milter notices (a log line) and writes to a new store at the same path
# (what it learns and quarantines must not go to the deleted file), and the
# store that results is sound.
milter_restart
mkmsg "$IT_DIR/d1" a@example.org bob@example.net
[ "$(it_send "$IT_DIR/d1" a@example.org bob@example.net)" = 250 ] || it_fail "before deletion"
rm -f "$IT_DIR/run/spamsift.db" "$IT_DIR/run/spamsift.db-wal" "$IT_DIR/run/spamsift.db-shm"
before=$(sink_count)
for i in 1 2 3; do
	code=$(it_send "$IT_DIR/d1" a@example.org bob@example.net)
	case $code in
	250) ;;
	451) grep -q 'internal error, tempfail: ' "$IT_DIR/milter.log" || it_fail "store deleted: 451 without a log line" ;;
	*) it_fail "store deleted: SMTP reply $code" ;;
	esac
done
kill -0 "$IT_MILTER_PID" || it_fail "store deleted: milter died"
# Connections compare the file at most once a second: one more message.
sleep 1.1
[ "$(it_send "$IT_DIR/d1" a@example.org bob@example.net)" = 250 ] || it_fail "store deleted: a second later"
grep -q 'store .* was removed or replaced while open; reopening it' "$IT_DIR/milter.log" ||
	it_fail "store deleted: the milter did not notice"
i=0
while [ ! -f "$IT_DIR/run/spamsift.db" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
[ -f "$IT_DIR/run/spamsift.db" ] || it_fail "store deleted: writes still go to the deleted file"
CLI db check >/dev/null 2>&1 || CLI db init >/dev/null || it_fail "store deleted: cannot recreate"
CLI db check >/dev/null || it_fail "store deleted: db check"
[ "$(it_send "$IT_DIR/d1" a@example.org bob@example.net)" = 250 ] || it_fail "store deleted: not serving after recreate"
it_log "store deleted while running: served, store sound afterwards"

# A store on a full disk that nothing holds open: opening it grows its -shm
# file, which SQLite reports as "disk I/O error"; the command says the
# disk is full (it did not) and exits 3.
if tmpfs full 1m; then
	"$CLI_BIN" -c "$SAMPLE_CONF" -o "Home=$MNT/full" db init >/dev/null || it_fail "db init on the small tmpfs"
	dd if=/dev/zero of="$MNT/full/filler" bs=4k >/dev/null 2>&1
	"$CLI_BIN" -c "$SAMPLE_CONF" -o "Home=$MNT/full" stats >"$IT_DIR/out" 2>&1
	rc=$?
	[ $rc = 3 ] || it_fail "stats on a full disk: exit $rc: $(cat "$IT_DIR/out")"
	grep -q 'No space left on device' "$IT_DIR/out" || it_fail "stats on a full disk: $(cat "$IT_DIR/out")"
	it_log "full disk at open: said so, exit 3"
fi
exit 0
