# lib.sh -- shared helpers for the integration tests: a private Postfix on
# 127.0.0.1 (own config_directory, queue and log under a temp dir), smtp-sink
# as the next hop, and spamsift-milter built in this tree.
#
# Sourced by tests/integration/*.sh; `make check` exports top_srcdir and
# top_builddir. Everything started here is stopped by it_cleanup (trap EXIT).

set -u

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
MILTER_BIN="$top_builddir/spamsift-milter"
CLI_BIN="$top_builddir/spamsift"
SAMPLE_CONF="$top_srcdir/conf/spamsift.conf"

it_fail() { echo "FAIL: $*" >&2; exit 1; }
it_skip() { echo "SKIP: $*" >&2; exit 77; }
it_log() { echo "# $*"; }

# A free TCP port on 127.0.0.1.
it_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# it_miltertest_setup NAME: for a test that drives the milter with miltertest
# and no Postfix: needs miltertest and root; a temp dir cleaned at exit.
it_miltertest_setup() {
	command -v miltertest >/dev/null 2>&1 || it_fail "miltertest not installed (apt-get install miltertest)"
	[ "$(id -u)" = 0 ] || it_skip "runs with the integration harness as root"
	IT_DIR=$(mktemp -d "/tmp/spamsift-$1.XXXXXX")
	chmod 755 "$IT_DIR"
	IT_PIDS=""
	trap it_cleanup EXIT
}

# it_setup: make the temp dir and pick ports.
it_setup() {
	[ "$(id -u)" = 0 ] || it_skip "needs root to run a private Postfix"
	command -v postfix >/dev/null 2>&1 || [ -x /usr/sbin/postfix ] ||
		it_fail "postfix not installed (apt-get install postfix)"
	command -v python3 >/dev/null 2>&1 || it_fail "python3 not installed"
	IT_DIR=$(mktemp -d /tmp/spamsift-it.XXXXXX)
	chmod 755 "$IT_DIR"
	IT_SMTP_PORT=$(it_port)
	IT_SINK_PORT=$(it_port)
	IT_PIDS=""
	trap it_cleanup EXIT
	mkdir -p "$IT_DIR/sink" "$IT_DIR/run"
	chown postfix "$IT_DIR/sink"
	chmod 755 "$IT_DIR/run"
}

it_cleanup() {
	rc=$?
	if [ -n "${IT_PF_DIR:-}" ]; then
		/usr/sbin/postfix -c "$IT_PF_DIR" stop >/dev/null 2>&1 || true
	fi
	for p in $IT_PIDS; do kill "$p" 2>/dev/null || true; done
	# Give the milter time to drain and exit, so sanitizers can report.
	i=0
	while [ $i -lt 50 ]; do
		alive=0
		for p in $IT_PIDS; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ $alive = 0 ] && break
		sleep 0.1; i=$((i + 1))
	done
	for p in $IT_PIDS; do kill -9 "$p" 2>/dev/null || true; done
	if [ -n "${IT_DIR:-}" ] && grep -q 'Sanitizer\|runtime error' "$IT_DIR"/milter*.log 2>/dev/null; then
		echo "FAIL: sanitizer report in the milter log" >&2
		rc=1
	fi
	if [ "$rc" != 0 ] && [ -n "${IT_DIR:-}" ]; then
		echo "--- postfix log" >&2; tail -n 40 "$IT_DIR/log/postfix.log" 2>/dev/null >&2
		echo "--- milter log" >&2; tail -n 40 "$IT_DIR/milter.log" 2>/dev/null >&2
	fi
	[ -n "${IT_DIR:-}" ] && [ -z "${IT_KEEP:-}" ] && rm -rf "$IT_DIR"
	exit "$rc"
}

# it_sink: start smtp-sink dumping every message under $IT_DIR/sink.
it_sink() {
	/usr/sbin/smtp-sink -u postfix -d "$IT_DIR/sink/%H%M%S." \
		"127.0.0.1:$IT_SINK_PORT" 256 >"$IT_DIR/sink.log" 2>&1 &
	IT_PIDS="$IT_PIDS $!"
}

# it_postfix MILTER_SPEC [extra main.cf lines...]: configure and start Postfix.
it_postfix() {
	milter=$1; shift
	IT_PF_DIR="$IT_DIR/postfix"
	mkdir -p "$IT_PF_DIR" "$IT_DIR/queue" "$IT_DIR/data" "$IT_DIR/log"
	chown postfix "$IT_DIR/data" "$IT_DIR/log"
	cat >"$IT_PF_DIR/main.cf" <<EOF_MAIN
compatibility_level = 3.6
queue_directory = $IT_DIR/queue
data_directory = $IT_DIR/data
meta_directory = /etc/postfix
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.spamsift.test
mydomain = spamsift.test
myorigin = spamsift.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relay_domains = example.org example.net
relayhost = [127.0.0.1]:$IT_SINK_PORT
smtp_dns_support_level = disabled
smtp_host_lookup = native
smtpd_peername_lookup = no
disable_dns_lookups = yes
local_transport = error:no local delivery
alias_maps =
alias_database =
maillog_file = $IT_DIR/log/postfix.log
maillog_file_prefixes = /var, /dev/stdout, $IT_DIR
smtpd_milters = $milter
non_smtpd_milters =
milter_protocol = 6
milter_default_action = tempfail
milter_mail_macros = i {mail_addr} {client_addr} {client_name} {auth_authen}
# As contrib/postfix/main.cf.snippet: a handshake may wait for one of
# libmilter's pool workers while others wait for a locked store.
milter_connect_timeout = 30s
milter_command_timeout = 10s
milter_content_timeout = 30s
smtpd_relay_restrictions = permit_mynetworks, reject
default_destination_concurrency_limit = 20
EOF_MAIN
	for line in "$@"; do echo "$line" >>"$IT_PF_DIR/main.cf"; done
	cat >"$IT_PF_DIR/master.cf" <<EOF_MASTER
127.0.0.1:$IT_SMTP_PORT inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF_MASTER
	/usr/sbin/postfix -c "$IT_PF_DIR" check >"$IT_DIR/postfix-check.log" 2>&1 ||
		{ cat "$IT_DIR/postfix-check.log" >&2; it_fail "postfix check"; }
	/usr/sbin/postfix -c "$IT_PF_DIR" start >>"$IT_DIR/postfix-check.log" 2>&1 ||
		{ cat "$IT_DIR/postfix-check.log" >&2; it_fail "postfix start"; }
	it_wait_port "$IT_SMTP_PORT" || it_fail "postfix smtpd did not listen"
}

# it_wait_port PORT: wait up to 10 s for 127.0.0.1:PORT to accept.
it_wait_port() {
	python3 - "$1" <<'EOF_PY'
import socket, sys, time
end = time.time() + 10
while time.time() < end:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.5).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
EOF_PY
}

# it_wait_file PATH: wait up to 10 s for PATH to exist.
it_wait_file() {
	i=0
	while [ ! -e "$1" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
	[ -e "$1" ]
}

# it_milter ARGS...: start spamsift-milter in the foreground with the sample
# config, Home under $IT_DIR/run, a unix socket Postfix's smtpd can reach.
it_milter() {
	IT_SOCK="$IT_DIR/run/milter.sock"
	rm -f "$IT_SOCK"
	ready=$(grep -c 'listening on' "$IT_DIR/milter.log" 2>/dev/null)
	"$MILTER_BIN" -f -c "$SAMPLE_CONF" -o "Home=$IT_DIR/run" \
		-p "unix:$IT_SOCK" -o SocketMode=0666 "$@" >>"$IT_DIR/milter.log" 2>&1 &
	IT_MILTER_PID=$!
	IT_PIDS="$IT_PIDS $IT_MILTER_PID"
	it_wait_file "$IT_SOCK" || { cat "$IT_DIR/milter.log" >&2; it_fail "milter did not create its socket"; }
	# Ready once it has checked its store and says it listens.
	i=0
	while [ "$(grep -c 'listening on' "$IT_DIR/milter.log")" -le "${ready:-0}" ] && [ $i -lt 200 ]; do
		kill -0 "$IT_MILTER_PID" 2>/dev/null || break
		sleep 0.05; i=$((i + 1))
	done
	[ "$(grep -c 'listening on' "$IT_DIR/milter.log")" -gt "${ready:-0}" ] ||
		{ cat "$IT_DIR/milter.log" >&2; it_fail "milter did not start"; }
}

# it_stop_milter: SIGTERM the milter started by it_milter and wait until it
# has exited (it drains its sessions first).
it_stop_milter() {
	kill "$IT_MILTER_PID" 2>/dev/null || return 0
	i=0
	while kill -0 "$IT_MILTER_PID" 2>/dev/null && [ $i -lt 100 ]; do
		sleep 0.05; i=$((i + 1))
	done
	kill -9 "$IT_MILTER_PID" 2>/dev/null || true
	wait "$IT_MILTER_PID" 2>/dev/null || true
}

# it_send FILE FROM RCPT...: send FILE over SMTP to the private Postfix.
# Prints the final reply code of DATA; exit status 0 when the SMTP dialogue ran.
it_send() {
	python3 - "$IT_SMTP_PORT" "$@" <<'EOF_PY'
import smtplib, sys
port, path, sender, rcpts = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
data = open(path, "rb").read()
s = smtplib.SMTP("127.0.0.1", port, local_hostname="client.spamsift.test", timeout=30)
try:
    s.sendmail(sender, rcpts, data)
    print(250)
except smtplib.SMTPDataError as e:
    print(e.smtp_code)
except smtplib.SMTPRecipientsRefused as e:
    print(list(e.recipients.values())[0][0])
finally:
    try:
        s.quit()
    except Exception:
        pass
EOF_PY
}

# it_send_halves FILE: send FILE from a@example.org to bob@example.net over
# SMTP, its content in two halves: after the first it creates $IT_DIR/half
# and waits (30 s at most) for $IT_DIR/go. Prints DATA's final reply code.
# Run it in the background, wait for the half, act, then touch the go.
it_send_halves() {
	python3 - "$IT_SMTP_PORT" "$1" "$IT_DIR/half" "$IT_DIR/go" <<'EOF_PY'
import os, smtplib, sys, time
port, path, half, go = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
data = open(path, "rb").read().replace(b"\n", b"\r\n")
# A 4xx to MAIL or RCPT (smtpd could not reach the milter in time: a
# loaded sanitizer build) is tried again on a new connection, 5 times at most.
for attempt in range(5):
    s = smtplib.SMTP("127.0.0.1", port, local_hostname="client.spamsift.test", timeout=60)
    s.ehlo()
    mail, rcpt = s.mail("a@example.org")[0], s.rcpt("bob@example.net")[0]
    if mail == 250 and rcpt == 250:
        break
    print("it_send_halves: MAIL %d, RCPT %d: trying again" % (mail, rcpt),
          file=sys.stderr)
    s.close()
    time.sleep(1)
code, _ = s.docmd("DATA")
assert code == 354, code
s.send(data[: len(data) // 2])
open(half, "w").close()
for _ in range(600):            # wait (bounded) for the shell's go-ahead
    if os.path.exists(go):
        break
    time.sleep(0.05)
s.send(data[len(data) // 2:] + b".\r\n")
print(s.getreply()[0], flush=True)
s.quit()
EOF_PY
}

# it_wait_sink N: wait up to 20 s until smtp-sink has N dumped messages.
it_wait_sink() {
	i=0
	while [ "$(find "$IT_DIR/sink" -type f | wc -l)" -lt "$1" ] && [ $i -lt 400 ]; do
		sleep 0.05; i=$((i + 1))
	done
	[ "$(find "$IT_DIR/sink" -type f | wc -l)" -ge "$1" ]
}
