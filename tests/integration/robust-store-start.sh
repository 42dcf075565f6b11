#!/bin/sh
# robust-store-start.sh -- a corrupt store file is reported when the milter
# starts (a clear error naming the file, non-zero exit), not only later as a
# tempfail on every message (that part: robust-faults.sh case 6).
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
exit 0
