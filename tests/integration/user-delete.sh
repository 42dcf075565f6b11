#!/bin/sh
# user-delete.sh -- `spamsift user delete` while spamsift-milter runs, once
# it has learned (TEFT) for that user: the user's rows go, its id stays its own (a
# user made later gets another); the running milter, whose handles resolved
# the name before, keeps serving and learns the next message under the same
# id (no rows of an unknown user: db check passes), from a model that starts
# over. (Learning still queued in the milter at the delete is written after
# it, as spamsift(1) says; that window is not tested.)
. "$(dirname "$0")/lib.sh"

it_miltertest_setup ud
mkdir -p "$IT_DIR/run"
CLI() { "$CLI_BIN" -c "$SAMPLE_CONF" -o "Home=$IT_DIR/run" "$@"; }
DB="$IT_DIR/run/spamsift.db"
q() { sqlite3 "$DB" "$1"; }
BOB="(SELECT id FROM users WHERE name = 'bob@example.net')"
CLI db init >/dev/null || it_fail "db init"
mkdir "$IT_DIR/spam" "$IT_DIR/ham"
for i in 0 1 2 3 4 5 6 7 8 9; do
	printf 'Subject: model %s\n\na few words for the model\n' $i >"$IT_DIR/spam/$i"
	printf 'Subject: lunch %s\n\nshall we meet on friday\n' $i >"$IT_DIR/ham/$i"
done
CLI train --user @global --no-signature --spam "$IT_DIR/spam" --ham "$IT_DIR/ham" \
	>/dev/null || it_fail "train @global"
it_milter
send() {
	SPAMSIFT_SOCK="unix:$IT_SOCK" miltertest -s "$top_srcdir/tests/miltertest/one.lua" \
		>"$IT_DIR/mt.log" 2>&1 || { cat "$IT_DIR/mt.log" >&2; it_fail "miltertest failed"; }
}
wait_sigs() { # N: until bob has N signatures (the writer commits within 0.5 s)
	i=0
	while [ "$(q "SELECT count(*) FROM signatures WHERE uid = $BOB")" != "$1" ] && [ $i -lt 50 ]; do
		sleep 0.1; i=$((i + 1))
	done
	[ "$(q "SELECT count(*) FROM signatures WHERE uid = $BOB")" = "$1" ] ||
		it_fail "bob has $(q "SELECT count(*) FROM signatures WHERE uid = $BOB") signatures, expected $1"
}
send; send; send
wait_sigs 3
id=$(q "SELECT id FROM users WHERE name = 'bob@example.net'")
[ "$(q "SELECT innocent_learned + spam_learned FROM totals WHERE uid = $id")" = 3 ] ||
	it_fail "TEFT did not learn the three messages"
CLI user delete --user bob@example.net >"$IT_DIR/out" 2>&1 || it_fail "user delete: $(cat "$IT_DIR/out")"
for t in tokens totals signatures; do
	[ "$(q "SELECT count(*) FROM $t WHERE uid = $id")" = 0 ] || it_fail "$t rows left after user delete"
done
# A user made now gets an id of its own: the milter's handles, which
# resolved bob's name to $id before, would otherwise read that user's
# model and preferences as bob's.
CLI prefs set --user carol@example.net spamAction tag || it_fail "prefs carol"
[ "$(q "SELECT id FROM users WHERE name = 'carol@example.net'")" != "$id" ] ||
	it_fail "a new user took the deleted user's id"
# The milter serves on and learns the next message as the same user,
# starting over.
send
wait_sigs 1
[ "$(q "SELECT id FROM users WHERE name = 'bob@example.net'")" = "$id" ] || it_fail "bob's id changed"
[ "$(q "SELECT innocent_learned + spam_learned FROM totals WHERE uid = $id")" = 1 ] ||
	it_fail "after the delete bob's model did not start over: $(q "SELECT * FROM totals WHERE uid = $id")"
[ "$(q "SELECT count(*) FROM tokens WHERE uid NOT IN (SELECT id FROM users)")" = 0 ] ||
	it_fail "tokens of an unknown user"
CLI db check >"$IT_DIR/out" 2>&1 || it_fail "db check: $(cat "$IT_DIR/out")"
kill -0 "$IT_MILTER_PID" || it_fail "the milter died"
it_log "deleted while the milter learned for the user; it learned on under the same id"
exit 0
