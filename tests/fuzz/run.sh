#!/bin/sh
# run.sh -- build every libFuzzer target (tests/fuzz/fuzz_*.c) with clang in a
# build directory of its own and run each for a bounded time, seeded from
# tests/fuzz/corpus_NAME (when present) and tests/data/. Not part of
# `make check`; CI runs it when clang is installed.
#
# usage: tests/fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
#   SECONDS_PER_TARGET  default $FUZZ_SECONDS or 60
#   TARGET              fuzz_conf, fuzz_mbox, ... (default: every fuzz_*.c)
# Environment:
#   FUZZ_BUILDDIR  build directory (default /tmp/spamsift-fuzz-build); it is
#                  configured with CC=clang --enable-fuzzers when needed
#   FUZZ_OUT       where the working corpora, logs and crash inputs go
#                  (default $FUZZ_BUILDDIR/fuzz-out)
#   FUZZ_JOBS      make -j (default 2)
# Exit status: 0 when no target crashed, leaked, hung or failed to build;
# 1 otherwise (the crash inputs are listed: each one must become a fixture
# under tests/data/ and a regression test).
set -u

srcdir=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-${FUZZ_SECONDS:-60}}
[ $# -gt 0 ] && shift
builddir=${FUZZ_BUILDDIR:-/tmp/spamsift-fuzz-build}
out=${FUZZ_OUT:-$builddir/fuzz-out}
jobs=${FUZZ_JOBS:-2}

case $secs in
'' | *[!0-9]*) echo "usage: $0 [SECONDS_PER_TARGET] [TARGET...]" >&2; exit 2 ;;
esac
command -v clang >/dev/null 2>&1 || { echo "run.sh: clang not found" >&2; exit 2; }

if [ $# -gt 0 ]; then
	targets="$*"
else
	targets=$(cd "$srcdir/tests/fuzz" && ls fuzz_*.c 2>/dev/null | sed 's/\.c$//')
fi
[ -n "$targets" ] || { echo "run.sh: no fuzz targets" >&2; exit 2; }

mkdir -p "$builddir" "$out" || exit 2
[ -x "$srcdir/configure" ] || (cd "$srcdir" && autoreconf -fi) || exit 2
if ! grep -q 'enable-fuzzers' "$builddir/config.status" 2>/dev/null; then
	(cd "$builddir" && CC=clang "$srcdir/configure" -q --enable-fuzzers) ||
		{ echo "run.sh: configure failed" >&2; exit 2; }
fi

status=0
for t in $targets; do
	if ! (cd "$builddir" && make -j"$jobs" "tests/fuzz/$t") >"$out/$t.build.log" 2>&1; then
		echo "FAIL: $t does not build (see $out/$t.build.log)"
		tail -n 20 "$out/$t.build.log"
		status=1
		continue
	fi
	# The working corpus grows in $out; the seeds in the tree are read only.
	mkdir -p "$out/corpus_$t" "$out/crashes_$t"
	seeds="$srcdir/tests/data"
	[ -d "$srcdir/tests/fuzz/corpus_${t#fuzz_}" ] && seeds="$srcdir/tests/fuzz/corpus_${t#fuzz_} $seeds"
	echo "# $t: ${secs}s"
	# shellcheck disable=SC2086
	"$builddir/tests/fuzz/$t" -max_total_time="$secs" -timeout=10 \
		-rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
		-artifact_prefix="$out/crashes_$t/" "$out/corpus_$t" $seeds \
		>"$out/$t.log" 2>&1
	rc=$?
	grep -E '^stat::number_of_executed_runs|^Done ' "$out/$t.log" | sed "s/^/#   /"
	if [ $rc != 0 ] || [ -n "$(ls "$out/crashes_$t" 2>/dev/null)" ]; then
		echo "FAIL: $t (exit $rc); inputs in $out/crashes_$t/:"
		ls "$out/crashes_$t"
		grep -m 5 -E 'ERROR|SUMMARY|runtime error' "$out/$t.log"
		status=1
	else
		echo "ok: $t"
	fi
done
exit $status
