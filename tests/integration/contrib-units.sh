#!/bin/sh
# contrib-units.sh -- the systemd units in contrib/systemd: systemd-analyze
# verify has nothing to say about them (where systemd is installed), and the
# purge service's own command line, run as the timer would, expires old
# signatures and quarantined mail and purges stale tokens and senders of
# automatic whitelisting's history, and keeps the rest.
. "$(dirname "$0")/lib.sh"

command -v sqlite3 >/dev/null 2>&1 || it_fail "sqlite3 not installed (apt-get install sqlite3)"
T=$(mktemp -d /tmp/spamsift-units.XXXXXX)
chmod 755 "$T"
trap 'rm -rf "$T"' EXIT

# The units as installed, but with this tree's programs and a config whose
# store is in $T (and which trusts whoever runs the test).
sed "s|^Home .*|Home $T|" "$SAMPLE_CONF" >"$T/spamsift.conf"
echo "Trust $(id -un)" >>"$T/spamsift.conf"
mkdir "$T/units"
for f in "$top_srcdir"/contrib/systemd/*; do
	sed -e "s|/usr/local/sbin/spamsift-milter|$MILTER_BIN|" \
	    -e "s|/usr/local/bin/spamsift|$CLI_BIN|" \
	    -e "s|/usr/local/etc/spamsift.conf|$T/spamsift.conf|" \
	    "$f" >"$T/units/${f##*/}"
done
[ -f "$T/units/spamsift-purge.timer" ] || it_fail "no spamsift-purge.timer in contrib/systemd"

if command -v systemd-analyze >/dev/null 2>&1; then
	(cd "$T/units" && systemd-analyze verify --man=no ./*.service ./*.timer) >"$T/verify" 2>&1 ||
		it_fail "systemd-analyze verify failed: $(cat "$T/verify")"
	[ -s "$T/verify" ] && it_fail "systemd-analyze verify: $(cat "$T/verify")"
	it_log "systemd-analyze verify: no findings"
else
	it_log "systemd-analyze not installed: unit syntax not checked"
fi

# A store with a learned message, aged: its tokens last seen 400 days ago;
# one signature, one quarantined message and one sender of 40 days ago (a
# sender: 400) and one of today.
"$CLI_BIN" -c "$T/spamsift.conf" db init >/dev/null || it_fail "db init"
printf 'From: a@example.org\nSubject: hello\n\nlunch on friday at noon\n' |
	"$CLI_BIN" -c "$T/spamsift.conf" train --user bob@example.net --ham - >/dev/null ||
	it_fail "train"
old=$(($(date +%s) - 40 * 86400))
now=$(date +%s)
uid=$(sqlite3 "$T/spamsift.db" "SELECT id FROM users WHERE name = 'bob@example.net'")
[ -n "$uid" ] || it_fail "train made no user"
sqlite3 "$T/spamsift.db" "
UPDATE tokens SET last_hit = last_hit - 400;
INSERT INTO signatures(uid, id, class, learned, created, hashes, sender) VALUES($uid, printf('%032x', 1), 1, 1, $old, x'00', ''),
    ($uid, printf('%032x', 2), 1, 1, $now, x'00', '');
INSERT INTO quarantine(uid, sender, recipients, subject, signature,
    probability, time, data) VALUES($uid, '', '', 'old', '', 1, $old, x'00'),
    ($uid, '', '', 'new', '', 1, $now, x'00');
INSERT INTO senders(uid, sender, innocent, spam, last_seen) VALUES
    ($uid, 'old@example.org', 1, 0, $now / 86400 - 400),
    ($uid, 'new@example.org', 1, 0, $now / 86400);" || it_fail "age the store"
[ "$(sqlite3 "$T/spamsift.db" "SELECT count(*) FROM tokens WHERE uid = $uid")" -gt 5 ] ||
	it_fail "training left too few tokens"

cmd=$(sed -n 's/^ExecStart=//p' "$T/units/spamsift-purge.service")
[ -n "$cmd" ] || it_fail "spamsift-purge.service has no ExecStart"
sh -c "$cmd" >"$T/out" 2>&1 || it_fail "$cmd: $(cat "$T/out")"
grep -q '^purged [1-9][0-9]* tokens, 1 signatures, 1 quarantined messages$' "$T/out" ||
	it_fail "purge: $(cat "$T/out")"
[ "$(sqlite3 "$T/spamsift.db" "SELECT count(*) FROM tokens WHERE uid = $uid")" = 0 ] ||
	it_fail "stale tokens left"
[ "$(sqlite3 "$T/spamsift.db" "SELECT group_concat(created = $now) FROM signatures")" = 1 ] ||
	it_fail "signatures left: the new one only expected"
[ "$(sqlite3 "$T/spamsift.db" "SELECT group_concat(subject) FROM quarantine")" = new ] ||
	it_fail "quarantine left: the new one only expected"
[ "$(sqlite3 "$T/spamsift.db" "SELECT group_concat(sender) FROM senders")" = new@example.org ] ||
	it_fail "senders left: the new one only expected"
exit 0
