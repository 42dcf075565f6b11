/*
 * replay -- the store work of spamsift-milter, without the milter and
 * without Postfix (a benchmark, not a test): what each message costs in
 * classification and in the learning commits, apart, in seconds instead of
 * e2e.sh's minutes.
 *
 * Every message of LIST (one path a line) is tokenized first (not timed:
 * tokbench measures the parser). Then, in order, each is classified as a
 * milter session does at the end of a message (filter_classify_deferred on
 * a reader handle, through a token cache shared with the writer, @global
 * read into it beforehand as the milter's start-up thread does), and every
 * -b messages the writer's work follows: filter_commit of each in one
 * transaction on a second handle attached to the same cache, then a
 * checkpoint (the milter's writer thread, which commits 128 messages or
 * every 500 ms, whichever comes first). The sender of each message is its
 * Return-Path or From address, as send_corpus.py gives it to Postfix.
 *
 * usage: replay [-b N] [-c BYTES] [-u USER] [-n] STORE LIST
 *   STORE  a SQLite store, trained beforehand (e2e.sh trains @global on
 *          the other half of the corpus); it is written to: use a copy
 *   -b N   messages a commit [128]
 *   -c     token cache size [12582912, TokenCacheSize's default]
 *   -u     the user the messages are classified for ["user"]
 *   -n     TrainingMode notrain: classification only, nothing committed
 * Prints the thread CPU time per message of each part and the token
 * cache's counters. No libmagic handle: attachments are typed by name.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "classifier/filter.h"
#include "classifier/hdr.h"
#include "classifier/msg.h"
#include "classifier/tok.h"
#include "db/db.h"

/* CPU time of the calling thread, ms: the part timed runs alone. */
static double cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/*
 * The address of the first NAME: field of the header into out (hdr_addr);
 * 0 when there is none.
 */
static int header_addr(const char *buf, size_t len, const char *name,
    char *out, size_t outlen)
{
	size_t nl = strlen(name);

	for (size_t i = 0; i < len; ) {
		size_t e = i;

		while (e < len && buf[e] != '\n')
			e++;
		if (e == i || (e == i + 1 && buf[i] == '\r'))
			return 0;       /* end of the header */
		if (e - i > nl && buf[i + nl] == ':' &&
		    strncasecmp(buf + i, name, nl) == 0)
			return hdr_addr(buf + i + nl + 1, e - i - nl - 1, out,
			    outlen) > 0;
		i = e + 1;
	}
	return 0;
}

struct item {
	tokset *toks;           /* the message's tokens */
	char sender[256];       /* its envelope sender */
};

/* Tokenize every message of the list; 0 or -1 (said on stderr). */
static int load(const char *list, struct item **out, size_t *n)
{
	char line[4096];
	size_t cap = 0;
	msg_opts mo;
	msg *m;
	FILE *lf = fopen(list, "r");

	*out = NULL;
	*n = 0;
	if (lf == NULL) {
		perror(list);
		return -1;
	}
	msg_opts_default(&mo);
	mo.chained = 1;         /* "Feature chained" of the sample config */
	if (msg_new(&mo, &m) < 0) {
		fclose(lf);
		return -1;
	}
	while (fgets(line, sizeof(line), lf) != NULL) {
		static char head[65536], chunk[65536];
		size_t nhead = 0, k;
		struct item *it;
		FILE *f;
		int bad = 0;

		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '\0')
			continue;
		if ((f = fopen(line, "rb")) == NULL) {
			perror(line);
			goto fail;
		}
		if (*n == cap) {
			struct item *ni = realloc(*out, (cap = cap * 2 + 1024) *
			    sizeof(*ni));

			if (ni == NULL) {
				fclose(f);
				goto fail;
			}
			*out = ni;
		}
		it = &(*out)[*n];
		if (tokset_new(0, 0, &it->toks) < 0) {
			fclose(f);
			goto fail;
		}
		(*n)++;
		/* Streamed in chunks, as the milter gets the body. */
		msg_reset(m, it->toks);
		while (!bad && (k = fread(chunk, 1, sizeof(chunk), f)) > 0) {
			if (nhead == 0) {
				memcpy(head, chunk, k);
				nhead = k;
			}
			bad = msg_write(m, chunk, k) < 0;
		}
		fclose(f);
		if (bad || msg_end(m) < 0) {
			fprintf(stderr, "replay: %s: parse error\n", line);
			goto fail;
		}
		/* The sender from the first chunk (the header, as a rule). */
		if (!header_addr(head, nhead, "Return-Path", it->sender,
		    sizeof(it->sender)) && !header_addr(head, nhead, "From",
		    it->sender, sizeof(it->sender)))
			it->sender[0] = '\0';
	}
	fclose(lf);
	msg_free(m);
	return 0;
fail:
	fclose(lf);
	msg_free(m);
	return -1;
}

/* The writer's part: pd[0..np) in one transaction, then a checkpoint. */
static int commit(db *w, filter_pending **pd, size_t np)
{
	int rc = db_begin(w);

	for (size_t i = 0; i < np && rc == 0; i++)
		if (pd[i] != NULL)
			rc = filter_commit(w, pd[i]);
	if (rc < 0) {
		db_rollback(w);
		return rc;
	}
	if ((rc = db_commit(w)) < 0)
		return rc;
	return db_checkpoint(w);
}

static void usage(void)
{
	fprintf(stderr, "usage: replay [-b N] [-c BYTES] [-u USER] [-n] "
	    "STORE LIST\n");
	exit(2);
}

int main(int argc, char **argv)
{
	size_t batch = 128, cache_bytes = 12582912, n = 0, np = 0, commits = 0;
	const char *user = "user";
	double t_class = 0, t_commit = 0, t0;
	filter_pending **pd;
	filter_params p;
	struct item *items;
	db_cache_stats cs;
	db_cache *cache;
	db *r = NULL, *w = NULL;
	char err[512];
	int64_t gid = 0;
	int c, rc;

	filter_params_default(&p);
	while ((c = getopt(argc, argv, "b:c:u:n")) != -1) {
		switch (c) {
		case 'b':
			batch = strtoul(optarg, NULL, 10);
			break;
		case 'c':
			cache_bytes = strtoul(optarg, NULL, 10);
			break;
		case 'u':
			user = optarg;
			break;
		case 'n':
			p.training_mode = FILTER_MODE_NOTRAIN;
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 2 || batch == 0 || cache_bytes < 4096)
		usage();
	if (load(argv[optind + 1], &items, &n) < 0 || n == 0)
		return 1;
	if ((cache = db_cache_new(cache_bytes)) == NULL ||
	    (pd = calloc(batch, sizeof(*pd))) == NULL)
		return 1;
	if (db_open(argv[optind], 0, &r, err, sizeof(err)) < 0 ||
	    db_open(argv[optind], DB_OPEN_OWN_CHECKPOINT, &w, err,
	    sizeof(err)) < 0) {
		fprintf(stderr, "replay: %s\n", err);
		return 1;
	}
	if (db_cache_attach(r, cache) < 0 || db_cache_attach(w, cache) < 0 ||
	    db_user(r, DB_GLOBAL_USER, 0, &gid) < 0 ||
	    (gid > 0 && db_cache_prefetch(r, gid) < 0)) {
		fprintf(stderr, "replay: %s\n", db_errmsg(r));
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		filter_result res;

		t0 = cpu_ms();
		rc = filter_classify_deferred(r, user, items[i].toks,
		    items[i].sender[0] ? items[i].sender : NULL, &p,
		    time(NULL), &res, &pd[np]);
		t_class += cpu_ms() - t0;
		if (rc < 0) {
			fprintf(stderr, "replay: classify: %s\n", db_errmsg(r));
			return 1;
		}
		np++;
		if (np < batch && i + 1 < n)
			continue;
		if (p.training_mode != FILTER_MODE_NOTRAIN) {
			t0 = cpu_ms();
			rc = commit(w, pd, np);
			t_commit += cpu_ms() - t0;
			if (rc < 0) {
				fprintf(stderr, "replay: commit: %s\n",
				    db_errmsg(w));
				return 1;
			}
			commits++;
		}
		for (size_t k = 0; k < np; k++) {
			filter_pending_free(pd[k]);
			pd[k] = NULL;
		}
		np = 0;
	}
	db_cache_stats_get(cache, &cs);
	printf("%zu messages, %zu commits of up to %zu: classification %.3f "
	    "ms of CPU a message, commits %.3f ms\n", n, commits, batch,
	    t_class / (double)n, t_commit / (double)n);
	printf("token cache: %llu hits, %llu misses, %llu whole loads, %llu "
	    "commits applied, %zu KiB\n", (unsigned long long)cs.hits,
	    (unsigned long long)cs.misses, (unsigned long long)cs.loads,
	    (unsigned long long)cs.updates, cs.bytes / 1024);
	for (size_t i = 0; i < n; i++)
		tokset_free(items[i].toks);
	free(items);
	free(pd);
	db_close(r);
	db_close(w);
	db_cache_free(cache);
	return 0;
}
