#!/bin/sh
# robust-store-start.sh -- a corrupt store file is reported when the milter
# starts (a clear error naming the file, non-zero exit), not only later as a
# tempfail on every message (that part: robust-faults.sh case 6). What a
# killed milter leaves (its unix socket, its pid file) does not stop the next
# start; a second milter started on a running one's socket exits and leaves
# the running one its socket.
. "$(dirname "$0")/lib.sh"

T=$(mktemp -d /tmp/spamsift-start.XXXXXX)
trap 'rm -rf "$T"' EXIT
head -c 8192 /dev/urandom >"$T/corrupt.db"
"$MILTER_BIN" -f -c "$SAMPLE_CONF" -o "Home=$T" -o "StorePath=$T/corrupt.db" \
	-p "unix:$T/milter.sock" >"$T/out" 2>&1 </dev/null &
pid=$!
# It either exits or starts serving (its socket appears): bounded wait.
i=0
while kill -0 $pid 2>/dev/null && [ ! -S "$T/milter.sock" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
if kill -0 $pid 2>/dev/null; then
	kill -9 $pid; wait $pid
	it_fail "milter started serving with a corrupt store"
fi
wait $pid
rc=$?
[ $rc != 0 ] || it_fail "milter exited 0 with a corrupt store"
grep -q "$T/corrupt.db" "$T/out" || it_fail "start-up error does not name the store: $(cat "$T/out")"

# Start a milter on $T/m.sock with pid file $T/m.pid (its output in $T/$1);
# its pid in $pid once its socket accepts connections.
accepts() {
	python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])' "$1" 2>/dev/null
}
start() {
	"$MILTER_BIN" -f -c "$SAMPLE_CONF" -o "Home=$T" -o "PidFile=$T/m.pid" \
		-p "unix:$T/m.sock" >"$T/$1" 2>&1 </dev/null &
	pid=$!
	i=0
	while ! grep -q 'listening on' "$T/$1" && kill -0 $pid 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
	grep -q 'listening on' "$T/$1" && accepts "$T/m.sock" || { cat "$T/$1" >&2; it_fail "milter $1 did not start"; }
}
start first.out
first=$pid
# kill -9 leaves the socket and the pid file: the next start replaces both.
kill -9 $first; wait $first 2>/dev/null
[ -S "$T/m.sock" ] && [ -e "$T/m.pid" ] || it_fail "kill -9 left no socket or pid file (the case is not tested)"
start second.out
second=$pid
[ "$(cat "$T/m.pid")" = "$second" ] || it_fail "pid file holds $(cat "$T/m.pid"), not $second"
# A third on the running one's socket: refused, the socket and pid file kept.
ino=$(stat -c %i "$T/m.sock")
"$MILTER_BIN" -f -c "$SAMPLE_CONF" -o "Home=$T" -o "PidFile=$T/m.pid" \
	-p "unix:$T/m.sock" >"$T/third.out" 2>&1 </dev/null &
third=$!
i=0
while kill -0 $third 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
if kill -0 $third 2>/dev/null; then
	kill $third; wait $third; kill $second
	it_fail "a second milter started on a running one's socket: $(cat "$T/third.out")"
fi
wait $third
rc=$?
[ $rc = 2 ] || { kill $second; it_fail "second milter on a used socket: exit $rc, not 2: $(cat "$T/third.out")"; }
grep -q "m.sock is in use" "$T/third.out" || { kill $second; it_fail "no reason given: $(cat "$T/third.out")"; }
[ "$(stat -c %i "$T/m.sock" 2>/dev/null)" = "$ino" ] && accepts "$T/m.sock" ||
	{ kill $second; it_fail "the running milter lost its socket"; }
[ "$(cat "$T/m.pid")" = "$second" ] || { kill $second; it_fail "the running milter lost its pid file"; }
kill $second; wait $second
[ ! -e "$T/m.sock" ] && [ ! -e "$T/m.pid" ] || it_fail "socket or pid file left after a clean stop"
exit 0
