#!/bin/sh
# milter-reload-daemon.sh -- a daemonized spamsift-milter (daemon() moves it
# to /) started with a relative -c and a relative -o Home reloads on SIGHUP
# from the same files: the edited config takes effect (a relative -c was
# not found from / before) and learning still reaches the store under the
# start's directory (it went to /Home/spamsift.db, relative to /, before).
# SIGHUPs that arrive during a reload do not stop it (libmilter's signal
# thread took them as "stop" before). The -c file is a symbolic link, switched
# to an edited copy as configuration management does: the reload reads the
# new target (the first one was read for good before).
. "$(dirname "$0")/lib.sh"

it_miltertest_setup rl
rel=store-$(basename "$IT_DIR")         # under /, this does not exist
cp "$SAMPLE_CONF" "$IT_DIR/v1.conf"
cd "$IT_DIR" || it_fail "cd"
ln -s v1.conf my.conf
mkdir "$rel"
"$CLI_BIN" -c my.conf -o "Home=$rel" db init >/dev/null || it_fail "db init"
# A model to draw factors from (ten of each class: past the young model).
mkdir spam ham
for i in 0 1 2 3 4 5 6 7 8 9; do
	printf 'Subject: model %s\n\na few words for the model\n' $i >spam/$i
	printf 'Subject: lunch %s\n\nshall we meet on friday\n' $i >ham/$i
done
"$CLI_BIN" -c my.conf -o "Home=$rel" train --user @global --no-signature \
	--spam spam --ham ham >/dev/null || it_fail "train"
"$MILTER_BIN" -c my.conf -o "Home=$rel" -o "PidFile=$IT_DIR/m.pid" \
	-p "unix:$IT_DIR/m.sock" -o SocketMode=0666 || it_fail "the daemon did not start"
it_wait_file "$IT_DIR/m.pid" || it_fail "no pid file"
pid=$(cat "$IT_DIR/m.pid")
IT_PIDS="$pid"
it_wait_file "$IT_DIR/m.sock" || it_fail "no socket"
# Serving first: libmilter's own signal thread, which takes SIGHUP as
# "stop", waits for signals from its start, and while the milter starts up
# the sanitizer build's main thread can block them for a moment (in one CI
# run a SIGHUP sent then stopped the milter). A SIGHUP before the handlers
# exist no longer kills it (main.c holds the signals until then).
i=0
until SPAMSIFT_SOCK="unix:$IT_DIR/m.sock" miltertest -s "$top_srcdir/tests/miltertest/one.lua" \
    >"$IT_DIR/mt.log" 2>&1; do
	i=$((i + 1))
	[ $i -lt 50 ] || { cat "$IT_DIR/mt.log" >&2; it_fail "the daemon does not serve"; }
	sleep 0.1
done
# What the reload must read: factors shown from now on.
sed 's/^Preference "showFactors=off"/Preference "showFactors=on"/' v1.conf >v2.conf
grep -q 'showFactors=on' v2.conf || it_fail "edit the config"
ln -sfn v2.conf my.conf
kill -HUP "$pid"
sleep 0.5
kill -0 "$pid" || it_fail "the daemon died on SIGHUP"
SPAMSIFT_SOCK="unix:$IT_DIR/m.sock" WANT_FACTORS=1 miltertest -s "$top_srcdir/tests/miltertest/one.lua" \
	>"$IT_DIR/mt.log" 2>&1 || { cat "$IT_DIR/mt.log" >&2; it_fail "miltertest failed"; }
# The writer commits within half a second (the first message, then this).
i=0
while [ "$(sqlite3 "$IT_DIR/$rel/spamsift.db" 'SELECT count(*) FROM signatures')" != 2 ] && [ $i -lt 50 ]; do
	sleep 0.1; i=$((i + 1))
done
[ "$(sqlite3 "$IT_DIR/$rel/spamsift.db" 'SELECT count(*) FROM signatures')" = 2 ] ||
	it_fail "after the reload the message was not learned in $IT_DIR/$rel"
# SIGHUPs that arrive while a reload runs (a big alias table makes it last)
# reload again; libmilter, which takes SIGHUP as "stop", must never see one.
awk 'BEGIN { for (i = 0; i < 400000; i++) printf "user%d@example.org u%d\n", i, i }' \
	>"$IT_DIR/aliases"
printf "UserMap alias\nAliasFile %s/aliases\n" "$IT_DIR" >>my.conf
for n in 1 2 3 4 5 6 7 8; do
	kill -HUP "$pid" 2>/dev/null || break
	sleep 0.03
done
sleep 1
kill -0 "$pid" 2>/dev/null || it_fail "SIGHUPs during a reload stopped the daemon"
SPAMSIFT_SOCK="unix:$IT_DIR/m.sock" WANT_FACTORS=1 miltertest -s "$top_srcdir/tests/miltertest/one.lua" \
	>"$IT_DIR/mt.log" 2>&1 || { cat "$IT_DIR/mt.log" >&2; it_fail "miltertest failed after the SIGHUPs"; }
kill "$pid"
i=0; while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -e "$IT_DIR/m.pid" ] && it_fail "the pid file was left at exit"
it_log "reloaded from the start's files; learned in $rel; SIGHUPs during a reload reload again"
exit 0
