#!/bin/bash
# e2e.sh -- the end-to-end benchmark: what a milter costs Postfix (a
# benchmark, not a test). A private Postfix on 127.0.0.1 (own config, queue
# and log under a temp dir, from tests/integration/lib.sh) relays to
# smtp-sink; it is loaded by smtp-source (5 KiB messages) and by
# send_corpus.py (real SpamAssassin corpus messages), each with 20 sessions,
# with no milter, two do-nothing milters (nullmilter: waiting on every event,
# and with spamsift's no-reply protocol options), spamsift-milter (TEFT on and
# off) and spamass-milter + spamd. Prints one markdown table of messages/s
# (from the first connection to the last delivery at smtp-sink) and the ratio
# to no milter, spamsift-milter's own per-message latency (p50/p99/max of its
# log lines' "N.Nms": from the first header Postfix's cleanup sends to the
# end-of-message reply, at 20 and 100 sessions) and its peak RSS (VmHWM), each
# with the command that produced it, and whether the issue's targets are met.
#
# usage: contrib/bench/e2e.sh [--quick]      (as root, from a build directory
#        or with BUILDDIR set; `make bench` runs it through run.sh)
# Environment (defaults in brackets; --quick shrinks the counts):
#   E2E_SESSIONS [20]        concurrent SMTP sessions of both loads
#   E2E_SOURCE_COUNT [5000]  smtp-source messages per run
#   E2E_SOURCE_SIZE [5120]   smtp-source message size (bytes)
#   E2E_CORPUS_COUNT [3000]  corpus messages per run (the held-out half,
#                            cycled if larger)
#   E2E_HIGH_SESSIONS [100]  sessions of the latency/RSS run at high load
#                            (0: no such run)
#   E2E_SPAMASS_COUNT [200]  messages per spamass-milter run (it is slow)
#   E2E_TIMEOUT [180]        seconds a run may send for (and then drain)
#   E2E_REPEAT [3]           runs per configuration and load (median shown)
#   E2E_CONFIGS ["none wait noreply fields teft notrain spamass"]
#   E2E_LOADS ["source corpus"]
#   E2E_OUT [e2e-results.md] where the table is also written
#   E2E_SPAMSIFT_OPTS [""]   more spamsift-milter arguments (-o Key=Value ...)
#   E2E_PACED_RATE [half the no-milter corpus rate, else 100]  messages/s
#                            offered in the paced latency run (20 sessions)
#   E2E_LAT_MAX_BYTES [102400]  latency percentiles count messages up to
#                            this size (the issue's "messages up to 100 KiB")
#   E2E_MILTER_NICE [-10]    nice value of every milter process (all of its
#                            threads, and its session's scheduling group:
#                            each milter runs in a session of its own, as a
#                            service of systemd does; spamass: spamass-milter,
#                            not spamd), as contrib/systemd/spamsift-milter.service
#                            runs it
#   SPAMSIFT_CORPUS [~/.cache/spamsift-corpus]  corpus cache (npm pack)
#   IT_KEEP=1                keep the temp dir (logs) for inspection
set -eu

here=$(cd "$(dirname "$0")" && pwd)
srcdir=$(cd "$here/../.." && pwd)
builddir=$(cd "${BUILDDIR:-$(pwd)}" && pwd)
# shellcheck source=corpus.sh
. "$here/corpus.sh"

quick=0
[ "${1:-}" = --quick ] && quick=1
if [ $# -gt $quick ]; then
	echo "usage: $0 [--quick]   (counts through E2E_* variables, see the script)" >&2
	exit 2
fi
if [ $quick = 1 ]; then
	: "${E2E_SOURCE_COUNT:=500}" "${E2E_CORPUS_COUNT:=500}" "${E2E_SPAMASS_COUNT:=40}"
	: "${E2E_TIMEOUT:=60}" "${E2E_REPEAT:=1}"
fi
SESSIONS=${E2E_SESSIONS:-20}
SOURCE_COUNT=${E2E_SOURCE_COUNT:-5000}
SOURCE_SIZE=${E2E_SOURCE_SIZE:-5120}
CORPUS_COUNT=${E2E_CORPUS_COUNT:-3000}
HIGH_SESSIONS=${E2E_HIGH_SESSIONS:-100}
SPAMASS_COUNT=${E2E_SPAMASS_COUNT:-200}
TIMEOUT=${E2E_TIMEOUT:-180}
REPEAT=${E2E_REPEAT:-3}
CONFIGS=${E2E_CONFIGS:-none wait noreply fields teft notrain spamass}
LOADS=${E2E_LOADS:-source corpus}
OUT=${E2E_OUT:-$builddir/e2e-results.md}
SPAMSIFT_OPTS=${E2E_SPAMSIFT_OPTS:-}
PACED_RATE=${E2E_PACED_RATE:-}
LAT_MAX=${E2E_LAT_MAX_BYTES:-102400}
MILTER_NICE=${E2E_MILTER_NICE:--10}
# (how a milter is started, for the table: setsid, then the nice value
# given to its threads and its session's group once it runs)
NICE_PREFIX="setsid "
[ "$MILTER_NICE" = 0 ] || NICE_PREFIX="setsid nice -n $MILTER_NICE "

# The issue's targets.
T_NR=0.90       # spamsift TEFT on, corpus: >= this ratio to the no-reply nullmilter
T_NONE=0.75     # ... and >= this ratio to no milter
T_P99=5         # ms, latency p99 at E2E_SESSIONS
T_RSS=65536     # KiB, peak RSS at E2E_HIGH_SESSIONS

top_srcdir=$srcdir
top_builddir=$builddir
# shellcheck source=../../tests/integration/lib.sh
. "$srcdir/tests/integration/lib.sh"
set -e

NULLMILTER=$builddir/contrib/bench/nullmilter
SENDER=$here/send_corpus.py
log() { echo "e2e: $*" >&2; }

for b in "$MILTER_BIN" "$CLI_BIN"; do
	[ -x "$b" ] || { log "no $b: run make in $builddir (or set BUILDDIR)"; exit 1; }
done
[ -x "$NULLMILTER" ] || make -C "$builddir" contrib/bench/nullmilter >/dev/null ||
	{ log "cannot build $NULLMILTER"; exit 1; }

corpus_fetch || exit 1

# lib.sh's it_setup, with a temp dir of our own name (test scripts may clean
# up stale /tmp/spamsift-it.* directories while this runs).
[ "$(id -u)" = 0 ] || { log "needs root to run a private Postfix"; exit 1; }
IT_DIR=$(mktemp -d /tmp/spamsift-e2e.XXXXXX)
chmod 755 "$IT_DIR"
IT_SMTP_PORT=$(it_port)
IT_SINK_PORT=$(it_port)
IT_PIDS=""
mkdir -p "$IT_DIR/sink" "$IT_DIR/run"
chown postfix "$IT_DIR/sink"
chmod 755 "$IT_DIR/run"
D=$IT_DIR
RUN=$D/run
E2E_PIDS=""
# spamsift-milter in a session of its own (setsid: not a process group
# leader here, so it keeps its pid), as every milter runs.
OWN_SESSION=$D/own-session
printf '#!/bin/sh\nexec setsid "%s" "$@"\n' "$MILTER_BIN" >"$OWN_SESSION"
chmod 755 "$OWN_SESSION"
# Our own processes besides lib.sh's: stop them first, then lib.sh's cleanup.
e2e_cleanup() {
	rc=$?
	set +e
	for p in $E2E_PIDS; do kill "$p" 2>/dev/null || true; done
	for p in $E2E_PIDS; do wait "$p" 2>/dev/null || true; done
	(exit $rc); it_cleanup
}
trap e2e_cleanup EXIT
trap 'exit 130' INT TERM

# Halves of the corpus: even positions (sorted by path) train, odd ones are sent.
find "$corpus/package/data" -name '*.txt' | LC_ALL=C sort >"$D/all"
awk 'NR % 2 == 1' "$D/all" >"$D/train"
awk 'NR % 2 == 0' "$D/all" >"$D/test"
mkdir -p "$D/train-spam" "$D/train-ham"
grep '/spam-[^/]*/[^/]*$' "$D/train" | xargs -r -d '\n' ln -s -t "$D/train-spam"
grep -v '/spam-[^/]*/[^/]*$' "$D/train" | xargs -r -d '\n' ln -s -t "$D/train-ham"
NTRAIN=$(wc -l <"$D/train")
NTEST=$(wc -l <"$D/test")

# smtp-sink counts deliveries (-c writes "sess=N quit=N mesg=N\r" updates).
/usr/sbin/smtp-sink -c -u postfix "127.0.0.1:$IT_SINK_PORT" 256 >"$D/sink.out" 2>&1 &
IT_PIDS="$IT_PIDS $!"
it_wait_port "$IT_SINK_PORT" || { log "smtp-sink did not listen"; exit 1; }

S() { "$CLI_BIN" -c "$SAMPLE_CONF" -o "Home=$RUN" "$@"; }

# spamsift's store: @global trained on the training half, kept pristine so
# every spamsift run starts from the same store (TEFT changes it).
TRAIN_SECS=0
mkdir -p "$D/pristine"
case " $CONFIGS " in *" teft "*|*" notrain "*)
	log "training @global on $NTRAIN corpus messages"
	S db init >"$D/train.log" 2>&1
	t0=$(date +%s.%N)
	S train --user @global --spam "$D/train-spam" --ham "$D/train-ham" >>"$D/train.log" 2>&1
	t1=$(date +%s.%N)
	TRAIN_SECS=$(echo "$t1 - $t0" | bc)
	cp "$RUN"/spamsift.db* "$D/pristine/" ;;
esac
restore_store() { rm -f "$RUN"/spamsift.db*; cp "$D/pristine"/spamsift.db* "$RUN/"; }

# spamd for spamass-milter: local tests only, no DNS, no user configs, on a
# private port; Debian's site config plus "dns_available no".
SPAMD_PORT=
SPAMASS_WHY=
start_spamd() {
	if ! command -v spamd >/dev/null 2>&1 && [ ! -x /usr/sbin/spamd ] ||
	    ! command -v spamass-milter >/dev/null 2>&1; then
		SPAMASS_WHY="not installed (apt-get install spamass-milter spamd)"
		return 1
	fi
	SPAMD_PORT=$(it_port)
	mkdir -p "$D/sa"
	cp -r /etc/spamassassin/. "$D/sa/" 2>/dev/null || true
	printf 'dns_available no\nuse_bayes 0\nbayes_auto_learn 0\nskip_rbl_checks 1\n' >>"$D/sa/local.cf"
	chmod -R a+rX "$D/sa"
	/usr/sbin/spamd -L -x --siteconfigpath="$D/sa" -u debian-spamd \
		--listen="127.0.0.1:$SPAMD_PORT" --allowed-ips=127.0.0.1 \
		--max-children=5 -s stderr >"$D/spamd.log" 2>&1 &
	SPAMD_PID=$!
	E2E_PIDS="$E2E_PIDS $SPAMD_PID"
	i=0
	while ! it_wait_port "$SPAMD_PORT"; do
		i=$((i + 1))
		if [ $i -ge 6 ] || ! kill -0 "$SPAMD_PID" 2>/dev/null; then
			SPAMASS_WHY="spamd did not start (see spamd.log)"
			return 1
		fi
	done
}

# Milter commands per configuration (printed in the table).
milter_cmd() {
	case $1 in
	none) echo "" ;;
	wait) echo "contrib/bench/nullmilter -p unix:$RUN/null.sock" ;;
	noreply) echo "contrib/bench/nullmilter -n -p unix:$RUN/null.sock" ;;
	fields) echo "contrib/bench/nullmilter -n -H -p unix:$RUN/null.sock" ;;
	teft) echo "spamsift-milter -f -c conf/spamsift.conf -o Home=$RUN -p unix:$RUN/milter.sock -o SocketMode=0666${SPAMSIFT_OPTS:+ $SPAMSIFT_OPTS}" ;;
	notrain) echo "spamsift-milter -f -c conf/spamsift.conf -o Home=$RUN -p unix:$RUN/milter.sock -o SocketMode=0666${SPAMSIFT_OPTS:+ $SPAMSIFT_OPTS} -o TrainingMode=notrain" ;;
	spamass) echo "spamass-milter -p $RUN/spamass.sock -m -- -p $SPAMD_PORT ; spamd -L -x --siteconfigpath=DIR(dns_available no) --listen=127.0.0.1:$SPAMD_PORT --max-children=5" ;;
	esac
}
config_name() {
	case $1 in
	none) echo "Postfix, no milter" ;;
	wait) echo "nullmilter, waits on every event" ;;
	noreply) echo "nullmilter -n, no-reply options" ;;
	fields) echo "nullmilter -n -H, no-reply, adds spamsift's 4 fields" ;;
	teft) echo "spamsift-milter, TEFT on" ;;
	notrain) echo "spamsift-milter, TEFT off (notrain)" ;;
	spamass) echo "spamass-milter + spamd -L" ;;
	esac
}

# start_milter CONFIG: start it, set SPEC (smtpd_milters) and MPID.
start_milter() {
	SPEC=
	MPID=
	case $1 in
	none) ;;
	wait|noreply|fields)
		rm -f "$RUN/null.sock"
		if [ "$1" = noreply ]; then
			setsid "$NULLMILTER" -n -p "unix:$RUN/null.sock" >"$D/null.log" 2>&1 &
		elif [ "$1" = fields ]; then
			setsid "$NULLMILTER" -n -H -p "unix:$RUN/null.sock" >"$D/null.log" 2>&1 &
		else
			setsid "$NULLMILTER" -p "unix:$RUN/null.sock" >"$D/null.log" 2>&1 &
		fi
		MPID=$!
		SPEC="unix:$RUN/null.sock"
		it_wait_file "$RUN/null.sock" || { log "nullmilter did not start"; return 1; } ;;
	teft|notrain)
		restore_store
		rm -f "$RUN/milter.sock"
		: >"$D/milter.log"      # lib.sh appends across restarts
		# shellcheck disable=SC2086
		if [ "$1" = notrain ]; then
			MILTER_BIN=$OWN_SESSION it_milter $SPAMSIFT_OPTS -o TrainingMode=notrain
		else
			MILTER_BIN=$OWN_SESSION it_milter $SPAMSIFT_OPTS
		fi
		MPID=$IT_MILTER_PID
		SPEC="unix:$IT_SOCK" ;;
	spamass)
		rm -f "$RUN/spamass.sock"
		(umask 0; exec setsid spamass-milter -p "$RUN/spamass.sock" -m -- -p "$SPAMD_PORT") \
			>"$D/spamass.log" 2>&1 &
		MPID=$!
		SPEC="unix:$RUN/spamass.sock"
		it_wait_file "$RUN/spamass.sock" || { log "spamass-milter did not start"; return 1; } ;;
	esac
	[ -z "$MPID" ] || E2E_PIDS="$E2E_PIDS $MPID"
	# Postfix's smtpd waits for the milter: run it a little ahead of
	# Postfix's processes, as the shipped systemd unit does (Nice=-10);
	# threads made later inherit it from the thread that makes them.
	# Linux shares the CPU between sessions (autogroups) before nice ranks
	# the threads of one: the milter's session (its own, as under systemd)
	# gets the value too, as spamsift-milter gives it itself at start.
	if [ -n "$MPID" ] && [ "$MILTER_NICE" != 0 ]; then
		for t in /proc/"$MPID"/task/*; do
			# a thread that ended since the glob (the start-up
			# thread reading the global model) needs nothing
			renice -n "$MILTER_NICE" -p "${t##*/}" >/dev/null 2>&1 ||
				[ ! -d "$t" ] ||
				{ log "cannot renice the milter to $MILTER_NICE"; return 1; }
		done
		if [ -w /proc/"$MPID"/autogroup ]; then
			echo "$MILTER_NICE" >/proc/"$MPID"/autogroup ||
				{ log "cannot give nice $MILTER_NICE to the milter's session"; return 1; }
		fi
	fi
}

# stop_milter: stop it; CRASH = its exit status if it died during the run.
stop_milter() {
	local st=0
	CRASH=
	[ -n "$MPID" ] || return 0
	if kill -0 "$MPID" 2>/dev/null; then
		kill "$MPID" 2>/dev/null || true
		wait "$MPID" 2>/dev/null || true
	else
		wait "$MPID" 2>/dev/null || st=$?
		CRASH=$st
	fi
	MPID=
}

load_cmd() {    # LOAD SESSIONS COUNT -> the command line of the load
	case $1 in
	source) echo "smtp-source -c -l $SOURCE_SIZE -m $3 -s $2 -f bench@client.bench.test -t user@example.org 127.0.0.1:$IT_SMTP_PORT" ;;
	corpus) echo "send_corpus.py --port $IT_SMTP_PORT --sessions $2 --count $3 --list HELD-OUT-HALF($NTEST)" ;;
	paced) echo "send_corpus.py --port $IT_SMTP_PORT --sessions $2 --count $3 --rate $PACED_RATE --list HELD-OUT-HALF($NTEST)" ;;
	esac
}

# run_one CONFIG LOAD SESSIONS COUNT: one measured run; appends a result line
# "config load sessions count rate delivered accepted failed seconds p50 p99
# max n_lat hwm_kib exit-status-if-the-milter-died milter-cpu-ms-per-delivered"
# to $D/results.
run_one() {
	local cfg=$1 load=$2 sess=$3 count=$4 res hwm=- cpu=- ticks lat="- - - 0" eom="- -" tag
	local busy0 busy=-
	tag="$cfg-$load-$sess"
	log "run: $(config_name "$cfg") / $load, $sess sessions, $count messages"
	start_milter "$cfg"
	it_postfix "$SPEC"
	# Sample the milter's memory and CPU twice a second: a milter that dies
	# during the run still has numbers up to then.
	SAMPLER=
	if [ -n "$MPID" ]; then
		: >"$D/sample-$tag"
		while sample "$MPID" >>"$D/sample-$tag" 2>/dev/null; do sleep 0.5; done &
		SAMPLER=$!
	fi
	busy0=$(cpu_busy)
	case $load in
	source)
		res=$(python3 "$SENDER" --port "$IT_SMTP_PORT" --count "$count" \
			--timeout "$TIMEOUT" --sink-log "$D/sink.out" --command \
			/usr/sbin/smtp-source -c -l "$SOURCE_SIZE" -m "$count" -s "$sess" \
			-f bench@client.bench.test -t user@example.org \
			"127.0.0.1:$IT_SMTP_PORT") ;;
	corpus|paced)
		res=$(python3 "$SENDER" --port "$IT_SMTP_PORT" --sessions "$sess" \
			--count "$count" --timeout "$TIMEOUT" --list "$D/test" \
			--sink-log "$D/sink.out" \
			--rate "$([ "$load" = paced ] && echo "$PACED_RATE" || echo 0)") ;;
	esac
	busy=$(echo "$busy0 $(cpu_busy) $(kv delivered "$res")" | awk -v hz="$(getconf CLK_TCK)" \
		'$3 > 0 { printf "%.2f", ($2 - $1) * 1000 / hz / $3; next } { print "-" }')
	log "  $res machine_busy_ms=$busy"
	if [ -n "$MPID" ]; then
		kill "$SAMPLER" 2>/dev/null || true
		wait "$SAMPLER" 2>/dev/null || true
		sample "$MPID" >>"$D/sample-$tag" 2>/dev/null || true
		if [ -s "$D/sample-$tag" ]; then
			read -r hwm ticks <<<"$(tail -n 1 "$D/sample-$tag")"
			cpu=$(printf '%.2f' "$(echo "scale=4; $ticks * 1000 / $(getconf CLK_TCK) / $(kv delivered "$res")" | bc 2>/dev/null)" 2>/dev/null || echo -)
		fi
	fi
	/usr/sbin/postfix -c "$IT_PF_DIR" stop >/dev/null 2>&1 || true
	stop_milter
	case $cfg in
	teft|notrain)
		cp "$D/milter.log" "$D/milter-$tag.log" || : >"$D/milter-$tag.log"
		# The per-message info line has "size=N" and ends with
		# "eom=N.Nms N.Nms": end of message to reply, and first header
		# to reply. Latency counts messages up to $LAT_MAX bytes.
		lat_lines "$D/milter-$tag.log" >"$D/lat-$tag"
		lat=$(cut -d' ' -f2 "$D/lat-$tag" | pctl)
		eom=$(cut -d' ' -f1 "$D/lat-$tag" | pctl | cut -d' ' -f1,2) ;;
	esac
	cp "$D/log/postfix.log" "$D/postfix-$tag.log" 2>/dev/null || true
	: >"$D/log/postfix.log" 2>/dev/null || true
	[ -z "$CRASH" ] || log "  the milter DIED during the run (exit status $CRASH)"
	echo "$cfg $load $sess $count $(kv rate "$res") $(kv delivered "$res")" \
		"$(kv accepted "$res") $(kv failed "$res") $(kv seconds "$res") $lat $hwm" \
		"${CRASH:--}" "$cpu" $eom "$busy" >>"$D/results"
}
# pctl: numbers on stdin -> "p50 p99 max count" ("- - - 0" when none)
pctl() {
	sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "- - - 0"; exit }
		print v[int((NR - 1) * 0.50) + 1], v[int((NR - 1) * 0.99) + 1], v[NR], NR }'
}
# CPU time of the whole machine and the part of it the hypervisor gave to
# other guests ("steal", /proc/stat): on a shared host it moves every rate.
cpu_times() { awk '$1 == "cpu" { t = 0; for (i = 2; i <= 9; i++) t += $i; print t, $9 }' /proc/stat; }
# cpu_busy: ticks both cores spent working (user, nice, system, irq,
# softirq; not idle, iowait nor steal). The runs keep the machine saturated,
# so its busy time a message delivered is what a configuration costs,
# steadier than messages/s, which moves with the host.
cpu_busy() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }
# sample PID: "VmHWM-KiB cpu-ticks" (utime + stime, fields 14 and 15 of
# stat, after the parenthesised name); fails when PID is gone.
sample() {
	local h t
	h=$(awk '/^VmHWM:/ { print $2 }' "/proc/$1/status") || return 1
	t=$(sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }') || return 1
	[ -n "$h" ] && [ -n "$t" ] && echo "$h $t"
}
kv() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
# lat_lines LOG: "eom-ms first-header-ms" of each message up to $LAT_MAX bytes
lat_lines() {
	awk -v max="$LAT_MAX" '/ eom=/ {
		size = -1
		for (i = 1; i <= NF; i++) {
			if ($i ~ /^size=/) size = substr($i, 6) + 0
			if ($i ~ /^eom=/) e = substr($i, 5)
		}
		if (size < 0 || size > max) next
		t = $NF; sub(/ms$/, "", e); sub(/ms$/, "", t)
		print e, t
	}' "$1"
}

: >"$D/results"
case " $CONFIGS " in *" spamass "*)
	start_spamd || { log "spamass-milter: $SPAMASS_WHY"; CONFIGS=$(echo " $CONFIGS " | sed 's/ spamass / /'); } ;;
esac

# From here on lib.sh's helpers run (they are written for `set -u` alone and
# stop the script themselves with it_fail when something cannot start).
set +e

# Warm up Postfix and the page cache (not reported).
log "warm-up"
start_milter none
it_postfix ""
python3 "$SENDER" --port "$IT_SMTP_PORT" --sessions "$SESSIONS" --count 200 \
	--list "$D/test" --sink-log "$D/sink.out" --timeout 60 >/dev/null
/usr/sbin/postfix -c "$IT_PF_DIR" stop >/dev/null 2>&1 || true
: >"$D/log/postfix.log"

START=$(date +%s)
LOAD0=$(cut -d' ' -f1 /proc/loadavg)
CPU0=$(cpu_times)
# Repetitions interleave the configurations, so a slow spell of the machine
# hits them all; the table shows each one's median run. Each repetition
# starts one configuration later than the one before (none noreply teft,
# then noreply teft none, ...), so that no configuration always runs right
# after the same other one while the machine's load drifts.
rep=0
while [ $rep -lt "$REPEAT" ]; do
	rep=$((rep + 1))
	order=$(echo $CONFIGS | awk -v k=$((rep - 1)) \
		'{ for (i = 0; i < NF; i++) printf "%s ", $((i + k) % NF + 1) }')
	for load in $LOADS; do
		n=$([ "$load" = source ] && echo "$SOURCE_COUNT" || echo "$CORPUS_COUNT")
		for cfg in $order; do
			c=$n
			if [ "$cfg" = spamass ]; then
				# Once is enough for a ratio near 0.03.
				[ $rep = 1 ] || continue
				c=$SPAMASS_COUNT
			fi
			run_one "$cfg" "$load" "$SESSIONS" "$c"
		done
	done
done
# Latency and memory at high concurrency: spamsift TEFT on, real mail.
case " $CONFIGS " in *" teft "*)
	case "$HIGH_SESSIONS: $LOADS " in
	"$SESSIONS:"*" corpus "*|"0:"*) ;;     # measured already, or not asked for
	*) run_one teft corpus "$HIGH_SESSIONS" "$CORPUS_COUNT" ;;
	esac
	# Latency at a load the machine sustains: the runs above send as
	# fast as 20 sessions go, so every process waits for a core and
	# latency there is mostly that queue. Paced at half of what Postfix
	# alone delivered (or E2E_PACED_RATE), 20 sessions.
	if [ -z "$PACED_RATE" ]; then
		PACED_RATE=$(awk '$1 == "none" && $2 == "corpus" { print $5 }' "$D/results" |
			sort -g | awk '{ v[NR] = $1 } END { if (NR) printf "%.0f", v[int((NR + 1) / 2)] / 2 }')
		[ -n "$PACED_RATE" ] || PACED_RATE=100
	fi
	run_one teft paced "$SESSIONS" "$CORPUS_COUNT" ;;
esac
ELAPSED=$(( $(date +%s) - START ))
LOAD1=$(cut -d' ' -f1 /proc/loadavg)
STEAL=$(echo "$CPU0 $(cpu_times)" | awk '{ d = $3 - $1; printf "%.0f", (d > 0 ? 100 * ($4 - $2) / d : 0) }')

# ---- the report -------------------------------------------------------------
get() {         # CONFIG LOAD SESSIONS FIELD# -> value from the median run
	awk -v c="$1" -v l="$2" -v s="$3" '$1 == c && $2 == l && $3 == s' "$D/results" |
		sort -k5,5g | awk -v f="$4" '{ v[NR] = $f } END { if (NR) print v[int((NR + 1) / 2)] }'
}
ratio() {       # A B -> A/B with 2 decimals, or -
	if [ -n "$1" ] && [ -n "$2" ] && [ "$1" != - ] && [ "$2" != - ] &&
	    [ "$(echo "$2 > 0" | bc)" = 1 ]; then
		printf '%.2f' "$(echo "scale=4; $1 / $2" | bc)"
	else
		echo -
	fi
}
ge() { [ "$1" != - ] && [ -n "$1" ] && [ "$(echo "$1 >= $2" | bc)" = 1 ]; }
le() { [ "$1" != - ] && [ -n "$1" ] && [ "$(echo "$1 <= $2" | bc)" = 1 ]; }

{
	echo "### End to end: Postfix throughput with each milter"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(uname -r), Postfix $(/usr/sbin/postconf -d -h mail_version 2>/dev/null)," \
		"spamsift $(git -C "$srcdir" rev-parse --short HEAD 2>/dev/null || echo '?'); run took ${ELAPSED}s after training;" \
		"load average $LOAD0 at the start, $LOAD1 at the end, ${STEAL}% of the CPU time taken by other guests of the host (steal)" \
		"(other work on the machine skews every number);" \
		"$REPEAT run(s) per cell, median shown."
	echo "spamsift's @global store was first trained on $NTRAIN corpus messages ($(printf "%.1f" "$TRAIN_SECS")s:" \
		"\`spamsift -c conf/spamsift.conf -o Home=DIR db init\`, then \`... train --user @global --spam DIR --ham DIR\`);" \
		"the corpus load sends the other $NTEST (held-out half, sorted path order, odd lines)."
	echo "messages/s = messages delivered at smtp-sink / (first connection .. last delivery); ratio = to Postfix with no milter;" \
		"milter CPU = the milter process's user+system time / messages delivered (spamass: spamass-milter only, not spamd);" \
		"machine CPU = busy time of all cores (Postfix, the load, the sink, the milter) during the load / messages delivered."
	echo
	echo "| milter | command | smtp-source msg/s | ratio | milter CPU ms/msg | machine CPU ms/msg | corpus msg/s | ratio | milter CPU ms/msg | machine CPU ms/msg |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
	for cfg in none wait noreply fields teft notrain spamass; do
		row="| $(config_name "$cfg") | "
		if [ "$cfg" = spamass ] && [ -n "$SPAMASS_WHY" ]; then
			echo "$row not run: $SPAMASS_WHY | - | - | - | - | - | - | - | - |"
			continue
		fi
		case " $CONFIGS " in *" $cfg "*) ;; *) continue ;; esac
		c=$(milter_cmd "$cfg")
		c=${c:+$NICE_PREFIX$c}
		row="$row${c:+\`$c\`} |"
		for load in source corpus; do
			r=$(get "$cfg" "$load" "$SESSIONS" 5)
			b=$(get none "$load" "$SESSIONS" 5)
			dl=$(get "$cfg" "$load" "$SESSIONS" 6)
			cn=$(get "$cfg" "$load" "$SESSIONS" 4)
			if [ -z "$r" ]; then
				row="$row - | - | - | - |"
			else
				note=
				ac=$(get "$cfg" "$load" "$SESSIONS" 7)
				[ "$dl" = "$ac" ] && [ "$ac" = "$cn" ] || note=" ($dl delivered of $cn sent, $ac accepted)"
				cr=$(get "$cfg" "$load" "$SESSIONS" 15)
				[ "$cr" = - ] || note="$note **milter died, exit status $cr**"
				row="$row $r$note | $(ratio "$r" "$b") | $(get "$cfg" "$load" "$SESSIONS" 16) | $(get "$cfg" "$load" "$SESSIONS" 19) |"
			fi
		done
		echo "$row"
	done
	echo
	echo "Loads ($SESSIONS sessions):"
	echo "- smtp-source: \`$(load_cmd source "$SESSIONS" "$SOURCE_COUNT")\` (spamass: -m $SPAMASS_COUNT)"
	echo "- corpus: \`$(load_cmd corpus "$SESSIONS" "$CORPUS_COUNT")\` (one message per SMTP session; spamass: --count $SPAMASS_COUNT)"
	echo
	echo "#### spamsift-milter per-message latency and memory"
	echo
	echo "From spamsift-milter's own per-message log line, TEFT on, corpus load: from the first header"
	echo "Postfix's cleanup sends to the end-of-message reply (includes cleanup's sending of the content),"
	echo "and from the end-of-message event to the reply (what Postfix waits for the verdict)."
	echo
	echo "Messages up to $LAT_MAX bytes (the issue's \"up to 100 KiB\"); the saturated rows send as fast as the"
	echo "sessions go (every process then queues for a core), the paced row offers $PACED_RATE messages/s."
	echo
	echo "| sessions | load | messages counted | p50 ms | p99 ms | max ms | end of message: p50 / p99 ms | peak RSS (VmHWM) | command |"
	echo "|---:|---|---:|---:|---:|---:|---:|---:|---|"
	for row in "corpus $SESSIONS" "corpus $HIGH_SESSIONS" "paced $SESSIONS"; do
		set -- $row
		[ -n "$(get teft "$1" "$2" 1)" ] || continue
		hw=$(get teft "$1" "$2" 14)
		cr=$(get teft "$1" "$2" 15)
		echo "| $2 | $([ "$1" = paced ] && echo "paced, $PACED_RATE msg/s" || echo saturated) | $(get teft "$1" "$2" 13)$([ "$cr" = - ] || echo " **milter died, exit status $cr**") | $(get teft "$1" "$2" 10) | $(get teft "$1" "$2" 11) |" \
			"$(get teft "$1" "$2" 12) | $(get teft "$1" "$2" 17) / $(get teft "$1" "$2" 18) | $([ "$hw" = - ] && echo - || echo "$((hw / 1024)) MiB") |" \
			"\`$(load_cmd "$1" "$2" "$CORPUS_COUNT")\` against \`${NICE_PREFIX}$(milter_cmd teft)\` |"
	done
	echo
	echo "#### Targets"
	echo
	r=$(get teft corpus "$SESSIONS" 5)
	rn=$(ratio "$r" "$(get noreply corpus "$SESSIONS" 5)")
	r0=$(ratio "$r" "$(get none corpus "$SESSIONS" 5)")
	p99=$(get teft corpus "$SESSIONS" 11)
	hw=$(get teft corpus "$HIGH_SESSIONS" 14)
	verdict() {     # CMP VALUE TARGET
		if [ -z "$2" ] || [ "$2" = - ]; then echo "not measured"
		elif "$@"; then echo met; else echo "**MISSED**"; fi
	}
	echo "- spamsift TEFT on, corpus, vs no-reply nullmilter: $rn (target ≥ $T_NR): $(verdict ge "$rn" "$T_NR")"
	echo "- spamsift TEFT on, corpus, vs no milter: $r0 (target ≥ $T_NONE): $(verdict ge "$r0" "$T_NONE")"
	# Each ratio above is of two medians; the rounds show the spread
	# (round k: the k-th run of each configuration).
	rounds() {      # CONFIG -> its corpus rates in run order
		awk -v c="$1" -v s="$SESSIONS" '$1 == c && $2 == "corpus" && $3 == s { printf "%s ", $5 }' "$D/results"
	}
	set -- $(rounds teft)
	tr=$*
	set -- $(rounds noreply)
	k=0 per=
	for t in $tr; do
		k=$((k + 1))
		n=$(echo "$*" | cut -d' ' -f"$k")
		per="$per${per:+, }$(ratio "$t" "$n")"
	done
	[ -n "$per" ] && echo "  (TEFT against the no-reply nullmilter round by round: $per; corpus msg/s TEFT $(rounds teft| sed 's/ $//; s/ /, /g'), nullmilter $(rounds noreply | sed 's/ $//; s/ /, /g'), no milter $(rounds none | sed 's/ $//; s/ /, /g'))"
	# The machine is saturated in these runs, so a rate is the inverse of
	# the CPU all processes spend a message: 0.90 of the nullmilter's rate
	# leaves a milter that much CPU beyond the nullmilter's.
	busy() {        # CONFIG -> median machine CPU ms a message, corpus load
		awk -v c="$1" -v s="$SESSIONS" '$1 == c && $2 == "corpus" && $3 == s && $19 != "-" { print $19 }' "$D/results" |
			sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
	}
	bn=$(busy noreply)
	if [ -n "$bn" ]; then
		echo "  (machine CPU a message, corpus, medians: no-reply nullmilter $bn ms, so $T_NR of its rate leaves" \
			"$(echo "$bn $T_NR" | awk '{ printf "%.2f", $1 / $2 - $1 }') ms for all the rest;" \
			"above the nullmilter: its four X-Spamsift fields alone (nullmilter -n -H) $(echo "$(busy fields) $bn" | awk 'NF == 2 { printf "%+.2f", $1 - $2; next } { print "-" }') ms," \
			"spamsift notrain $(echo "$(busy notrain) $bn" | awk 'NF == 2 { printf "%+.2f", $1 - $2; next } { print "-" }') ms," \
			"TEFT $(echo "$(busy teft) $bn" | awk 'NF == 2 { printf "%+.2f", $1 - $2; next } { print "-" }') ms)"
	fi
	pp99=$(get teft paced "$SESSIONS" 11)
	echo "- latency p99 at $SESSIONS sessions, paced at $PACED_RATE msg/s: ${pp99:--} ms (target ≤ $T_P99 ms): $(verdict le "${pp99:--}" "$T_P99")"
	echo "  (of which the end-of-message reply, p99: $(get teft paced "$SESSIONS" 18) ms)"
	echo "- latency p99 at $SESSIONS sessions, saturated: ${p99:--} ms (target ≤ $T_P99 ms): $(verdict le "${p99:--}" "$T_P99")"
	echo "  (of which the end-of-message reply, p99: $(get teft corpus "$SESSIONS" 18) ms)"
	died=$(awk '($1 == "teft" || $1 == "notrain") && $15 != "-"' "$D/results" | wc -l)
	runs=$(awk '$1 == "teft" || $1 == "notrain"' "$D/results" | wc -l)
	if [ "$runs" = 0 ]; then up="not measured"
	elif [ "$died" = 0 ]; then up=yes
	else up="**NO: it died in $died of $runs runs** (numbers of those runs count only the mail delivered before; see milter-*.log with IT_KEEP=1)"
	fi
	echo "- spamsift-milter stayed up in every run: $up"
	echo "- peak RSS at $HIGH_SESSIONS sessions: $([ -n "$hw" ] && [ "$hw" != - ] && echo "$((hw / 1024)) MiB" || echo -) (target ≤ 64 MiB): $(verdict le "${hw:--}" "$T_RSS")"
} | sed "s|$D|\$D|g" >"$OUT"
echo "(\$D: this run's temp dir, $D; kept with IT_KEEP=1)" >>"$OUT"
cat "$OUT"
log "table written to $OUT; raw results: config load sessions count rate delivered accepted failed seconds p50 p99 max n hwm died cpu_ms/msg eom_p50 eom_p99 machine_ms/msg"
cat "$D/results" >&2
