#!/bin/sh
# miltertest.sh -- protocol edges (tests/miltertest/edges.lua) against the
# real daemon: abort mid-body, several messages per connection, RSET, empty
# body, a connection dropped mid-message, recipients that fill the log
# line, 1,001 forged X-Spamsift-Result headers (rejected), a forged header of
# another X-Spamsift-* name (removed), 17 such names (rejected).
. "$(dirname "$0")/lib.sh"

it_miltertest_setup mt
mkdir -p "$IT_DIR/run"
it_milter
SPAMSIFT_SOCK="unix:$IT_SOCK" miltertest -s "$top_srcdir/tests/miltertest/edges.lua" \
	>"$IT_DIR/mt.log" 2>&1 || { cat "$IT_DIR/mt.log" >&2; it_fail "miltertest script failed"; }
kill -0 "$IT_MILTER_PID" || it_fail "milter died"
for id in MT1 MT2 MT4 MT5 MT7 MT8 MT10; do
	grep -q "^spamsift-milter.*: $id: " "$IT_DIR/milter.log" || it_fail "no log line for $id"
done
for id in MT3 MT6; do
	grep -q "^spamsift-milter.*: $id: " "$IT_DIR/milter.log" && it_fail "aborted $id was logged as delivered"
done
grep -q "^spamsift-milter.*: MT9: .*reject: 1001 X-Spamsift-Result header fields" "$IT_DIR/milter.log" ||
	it_fail "no reject line for MT9's forged headers"
grep -q "^spamsift-milter.*: MT11: .*reject: more than 16 X-Spamsift-\* header names" "$IT_DIR/milter.log" ||
	it_fail "no reject line for MT11's forged header names"
it_log "protocol edges ok"
exit 0
