#!/bin/sh
# milter-postfix.sh -- a real Postfix on 127.0.0.1 passes a message through
# spamsift-milter to smtp-sink: the milter is a working libmilter program.
. "$(dirname "$0")/lib.sh"

it_setup
it_milter
it_sink
it_postfix "unix:$IT_SOCK"

cat >"$IT_DIR/msg.eml" <<'EOM'
From: Alice <alice@example.org>
To: Bob <bob@example.net>
Subject: lunch on friday
Message-ID: <it-1@example.org>

Shall we meet at noon?
EOM
code=$(it_send "$IT_DIR/msg.eml" alice@example.org bob@example.net)
[ "$code" = 250 ] || it_fail "DATA answered $code"
it_wait_sink 1 || it_fail "message did not reach smtp-sink"
f=$(find "$IT_DIR/sink" -type f | head -n 1)
grep -q '^Subject: lunch on friday' "$f" || it_fail "relayed message lost its Subject"
grep -q 'milter' "$IT_DIR/log/postfix.log" && grep -qi 'milter.*error\|milter.*tempfail' "$IT_DIR/log/postfix.log" &&
	it_fail "postfix logged a milter error"
kill -0 "$IT_MILTER_PID" || it_fail "milter died"
it_log "relayed through spamsift-milter: $(basename "$f")"
exit 0
