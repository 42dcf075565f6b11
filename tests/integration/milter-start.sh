#!/bin/sh
# milter-start.sh -- what spamsift-milter's start does with the files it is
# given, run in the background as a service manager runs it (no -f):
# - the caller's exit status is the start's: a PidFile it cannot write
#   (2), a store it cannot open or a TempDir User cannot write (3); each
#   said on the caller's terminal (daemon() returned 0 before all of those
#   were tried, and their messages went to /dev/null);
# - a Socket path that names a file that is not a socket is refused, and
#   the file kept (it was deleted);
# - the pid file is written as a new file renamed into place: a symbolic
#   link that User put in its directory is replaced, not followed (root
#   wrote the pid over the file it named);
# - a pid file that names another running milter is refused, and that
#   milter's pid file stays (stopping the second removed the first's);
# - a reload to a store that cannot be opened, or to a TempDir the milter
#   cannot create files in, keeps the running configuration (it was
#   taken, and every message, or every one to a user who quarantines,
#   then deferred).
. "$(dirname "$0")/lib.sh"

it_miltertest_setup st
D=$IT_DIR
mkdir "$D/home" "$D/run" "$D/piddir"
"$CLI_BIN" -c "$SAMPLE_CONF" -o "Home=$D/home" db init >/dev/null || it_fail "db init"
chown -R nobody "$D/home" "$D/run" "$D/piddir"
M() { "$MILTER_BIN" -c "$SAMPLE_CONF" -o "Home=$D/home" -o SocketMode=0666 "$@"; }

# Start-up failures in the background reach the caller.
M -p "unix:$D/run/a.sock" -o "PidFile=$D/nodir/m.pid" >"$D/out" 2>&1
rc=$?
[ $rc = 2 ] && grep -q "$D/nodir/m.pid: No such file or directory" "$D/out" ||
	it_fail "an unwritable PidFile in the background: exit $rc, $(cat "$D/out")"
M -p "unix:$D/run/a.sock" -o "StorePath=$D/nodir/x.db" >"$D/out" 2>&1
rc=$?
[ $rc = 3 ] && grep -q "directory $D/nodir: No such file or directory" "$D/out" ||
	it_fail "a store that cannot be opened, in the background: exit $rc, $(cat "$D/out")"
mkdir "$D/tmp"; chmod 755 "$D/tmp"     # root's: not nobody's
M -p "unix:$D/run/a.sock" -o User=nobody -o "TempDir=$D/tmp" >"$D/out" 2>&1
rc=$?
[ $rc = 3 ] && grep -q "TempDir $D/tmp: Permission denied" "$D/out" ||
	it_fail "a TempDir User cannot write: exit $rc, $(cat "$D/out")"
[ -e "$D/run/a.sock" ] && it_fail "a failed start left its socket"

# A Socket that names a file.
echo precious >"$D/precious"
M -p "unix:$D/precious" >"$D/out" 2>&1
rc=$?
[ $rc = 2 ] && grep -q "$D/precious exists and is not a socket" "$D/out" &&
	[ "$(cat "$D/precious")" = precious ] ||
	it_fail "a Socket naming a file: exit $rc, $(cat "$D/out"), file: $(cat "$D/precious" 2>&1)"

# The pid file's directory is User's: a link there is not followed.
echo secret >"$D/victim"; chmod 600 "$D/victim"
su -s /bin/sh nobody -c "ln -s '$D/victim' '$D/piddir/m.pid'" || it_fail "ln as nobody"
M -p "unix:$D/run/m.sock" -o User=nobody -o "PidFile=$D/piddir/m.pid" >"$D/out" 2>&1 ||
	it_fail "start: $(cat "$D/out")"
[ "$(cat "$D/victim")" = secret ] || it_fail "the pid file's link was followed: $(cat "$D/victim")"
[ -f "$D/piddir/m.pid" ] && [ ! -L "$D/piddir/m.pid" ] || it_fail "no pid file in place of the link"
pid=$(cat "$D/piddir/m.pid")
IT_PIDS="$pid"
kill -0 "$pid" || it_fail "the milter of the pid file is not running"

# A second milter on another socket with the same pid file.
M -p "unix:$D/run/b.sock" -o "PidFile=$D/piddir/m.pid" >"$D/out" 2>&1
rc=$?
[ $rc = 2 ] && grep -q "names milter $pid, which is running" "$D/out" ||
	it_fail "a second milter with the same PidFile: exit $rc, $(cat "$D/out")"
[ "$(cat "$D/piddir/m.pid")" = "$pid" ] || it_fail "the first milter's pid file changed"

# A reload to a store that cannot be opened is refused, and it still serves.
sed "s|^#*StorePath .*|StorePath $D/nodir/x.db|" "$SAMPLE_CONF" >"$D/bad.conf"
grep -q "^StorePath $D/nodir" "$D/bad.conf" || it_fail "edit the config"
kill "$pid"
i=0; while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -e "$D/piddir/m.pid" ] && it_fail "the pid file was left at exit"
cp "$SAMPLE_CONF" "$D/my.conf"
"$MILTER_BIN" -f -c "$D/my.conf" -o "Home=$D/home" -o SocketMode=0666 \
	-p "unix:$D/run/m.sock" >"$D/milter.log" 2>&1 &
pid=$!
IT_PIDS="$pid"
it_wait_file "$D/run/m.sock" || it_fail "no socket: $(cat "$D/milter.log")"
cp "$D/bad.conf" "$D/my.conf"
kill -HUP "$pid"
i=0
until grep -q "reload of $D/my.conf failed ($D/nodir/x.db: .*); keeping the running configuration" "$D/milter.log"; do
	i=$((i + 1))
	[ $i -lt 50 ] || it_fail "a reload to a store that cannot be opened: $(cat "$D/milter.log")"
	sleep 0.1
done
SPAMSIFT_SOCK="unix:$D/run/m.sock" miltertest -s "$top_srcdir/tests/miltertest/one.lua" \
	>"$D/mt.log" 2>&1 || { cat "$D/mt.log" "$D/milter.log" >&2; it_fail "no service after the refused reload"; }
# Nor to a TempDir it cannot create files in, which start refuses: the
# reload was taken, and every message to a user who quarantines (a copy
# is made for each) was deferred from then on.
sed -e "s|^#*TempDir .*|TempDir $D/nodir|" \
    -e 's|^Preference "spamAction=tag"|Preference "spamAction=quarantine"|' \
    "$SAMPLE_CONF" >"$D/my.conf"
grep -q "^TempDir $D/nodir" "$D/my.conf" && grep -q 'spamAction=quarantine' "$D/my.conf" ||
	it_fail "edit the config"
kill -HUP "$pid"
i=0
until grep -q "reload of $D/my.conf failed (TempDir $D/nodir: No such file or directory); keeping the running configuration" "$D/milter.log"; do
	i=$((i + 1))
	[ $i -lt 50 ] || it_fail "a reload to a TempDir that cannot be used: $(cat "$D/milter.log")"
	sleep 0.1
done
SPAMSIFT_SOCK="unix:$D/run/m.sock" miltertest -s "$top_srcdir/tests/miltertest/one.lua" \
	>"$D/mt.log" 2>&1 || { cat "$D/mt.log" "$D/milter.log" >&2; it_fail "no service after the refused TempDir reload"; }

# After a reload to another store, idle handles of the first are closed
# (up to three stayed open for good, and kept it on disk once deleted).
mkdir "$D/home2"
"$CLI_BIN" -c "$SAMPLE_CONF" -o "Home=$D/home2" db init >/dev/null || it_fail "db init 2"
cp "$SAMPLE_CONF" "$D/my.conf"
kill -HUP "$pid"
sleep 0.5
drivers=""
for j in 1 2 3 4 5 6; do
	( for k in 1 2 3 4 5 6 7 8; do
		SPAMSIFT_SOCK="unix:$D/run/m.sock" miltertest -s "$top_srcdir/tests/miltertest/one.lua" >/dev/null 2>&1
	done ) &
	drivers="$drivers $!"
done
for p in $drivers; do wait "$p"; done   # (not the milter)
n1=$(ls -l "/proc/$pid/fd" | grep -c "$D/home/spamsift.db")
[ "$n1" -gt 1 ] || it_fail "parallel sessions opened $n1 handles of the store (the test needs several)"
printf 'StorePath %s/home2/spamsift.db\n' "$D" >>"$D/my.conf"
kill -HUP "$pid"
i=0
until [ "$(grep -c "reloaded $D/my.conf" "$D/milter.log")" -ge 2 ]; do
	i=$((i + 1)); [ $i -lt 50 ] || it_fail "no reload: $(cat "$D/milter.log")"; sleep 0.1
done
for k in 1 2 3 4 5 6 7 8 9 10; do
	SPAMSIFT_SOCK="unix:$D/run/m.sock" miltertest -s "$top_srcdir/tests/miltertest/one.lua" \
		>"$D/mt.log" 2>&1 || { cat "$D/mt.log" >&2; it_fail "miltertest after the store moved"; }
done
sleep 1
n1=$(ls -l "/proc/$pid/fd" | grep -c "$D/home/spamsift.db")
n2=$(ls -l "/proc/$pid/fd" | grep -c "$D/home2/spamsift.db")
[ "$n1" = 0 ] && [ "$n2" -gt 0 ] ||
	it_fail "after the reload to home2: $n1 handles still on the first store, $n2 on the new one"
it_log "start failures reach the caller; a file at Socket kept; pid file link not followed, nor taken from a running milter; a reload to a missing store or TempDir refused; the first store's handles closed after a reload to another"
exit 0
