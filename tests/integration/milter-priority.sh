#!/bin/sh
# milter-priority.sh -- Linux shares the CPU between sessions (autogroups)
# before nice ranks threads within one: spamsift-milter gives its nice value
# to its own session's group when it leads that session (as under systemd or
# once daemonized), and leaves the group of a session it shares (a shell's)
# alone.
. "$(dirname "$0")/lib.sh"

[ -w /proc/self/autogroup ] || it_skip "no autogroups here (/proc/self/autogroup)"
command -v setsid >/dev/null 2>&1 || it_skip "no setsid"
ag_nice() { sed -n 's/.* nice \(-*[0-9]*\)$/\1/p' "/proc/$1/autogroup"; }

it_setup
real=$MILTER_BIN
# Its own session, at nice 5 (a positive value needs no privilege).
cat >"$IT_DIR/own-session" <<EOS
#!/bin/sh
exec setsid nice -n 5 "$real" "\$@"
EOS
chmod +x "$IT_DIR/own-session"
MILTER_BIN=$IT_DIR/own-session
it_milter
[ "$(ag_nice "$IT_MILTER_PID")" = 5 ] ||
	it_fail "leading its session at nice 5, its group has: $(cat "/proc/$IT_MILTER_PID/autogroup")"
it_stop_milter

# In this script's session, at nice 5: the session's group keeps its nice.
before=$(ag_nice $$)
cat >"$IT_DIR/shared-session" <<EOS
#!/bin/sh
exec nice -n 5 "$real" "\$@"
EOS
chmod +x "$IT_DIR/shared-session"
MILTER_BIN=$IT_DIR/shared-session
it_milter
[ "$(ag_nice $$)" = "$before" ] ||
	it_fail "a milter in a shared session changed the session's nice: $before -> $(ag_nice $$)"
[ "$(ag_nice "$IT_MILTER_PID")" = "$before" ] || it_fail "the milter is not in this session's group"
it_stop_milter
it_log "own session: its group at nice 5; shared session: left at $before"
exit 0
