/*
 * db_lookup -- benchmark of the db_tokens_get strategies of the SQLite
 * backend: one prepared point lookup per token, batches of
 * `hash IN (?,...)` of several sizes, and a JSON array joined through
 * json_each(). Builds a store of -t tokens for one user, then times -r
 * lookups of messages of -m tokens (half of them known, as in real mail),
 * warm cache. Every strategy must return the same counts (checked).
 *
 * Without options it does a trivial run (make check runs it that way); for
 * real numbers: db_lookup -t 1000000 -m 1000 -r 300 [DIR]
 *
 * The second column repeats every strategy after running BENCH_PRAGMA
 * (default "PRAGMA mmap_size = 1073741824"). Times are CPU time of the
 * process, best of 5. The results and the choice are in db/db_sqlite.c
 * (DEFAULT_LOOKUP). Last, the same lookups through a 64 MiB db_cache: the
 * first pass (cold: misses fetched, or the whole model loaded when it fits
 * in half the cache) and the best later pass (warm).
 *
 * Then readers under a writer (issue 5: the milter's writes must not stall
 * classification): the wall time of each message's lookup through an 8 MiB
 * db_cache (the milter's default TokenCacheSize) over -s seconds, p50 / p99
 * / max, first alone, then while a writer thread on its own handle and the
 * same cache commits, every 50 ms (ten times as often as the milter's
 * writer), the learning of 32 messages: the reader never waits for a lock
 * of the store (WAL), only for the cache while a commit is applied to it.
 *
 * Uses the test knobs db_sqlite_lookup_mode() and db_sqlite_exec() from
 * db/db_impl.h; includes no SQLite header.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "db/db.h"
#include "db/db_impl.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* CPU time of this process: steadier than wall time on a loaded machine
 * (lookups from a warm cache do no I/O waits). */
static double cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* Stored token i has hash mix(i): spread over the whole 64-bit range. */
static uint64_t mix(uint64_t i)
{
	i = (i + 1) * 0x9E3779B97F4A7C15ULL;
	i ^= i >> 31;
	return i * 0xBF58476D1CE4E5B9ULL;
}

/* The writer of the concurrency part: learns messages until told to stop. */
typedef struct wr {
	db *d;                  /* its own handle */
	int64_t uid;            /* whose model */
	const uint64_t *known;  /* stored hashes */
	size_t nknown;          /* their number */
	size_t per;             /* tokens per message */
	volatile int stop;      /* set by main */
	size_t commits;         /* done */
	int rc;                 /* first error */
} wr;

static void *writer_main(void *arg)
{
	wr *w = arg;
	uint64_t x = 0x2545F4914F6CDD1DULL, *m = malloc(w->per * sizeof(*m));
	struct timespec pause = { 0, 50 * 1000 * 1000 };

	if (m == NULL) {
		w->rc = -ENOMEM;
		return NULL;
	}
	while (!w->stop && w->rc == 0) {
		if ((w->rc = db_begin(w->d)) < 0)
			break;
		for (int k = 0; k < 32 && w->rc == 0; k++) {
			for (size_t i = 0; i < w->per; i++)
				m[i] = rnd(&x) % 2 ? w->known[rnd(&x) % w->nknown] : rnd(&x);
			w->rc = db_tokens_update(w->d, w->uid, m, w->per, 1, 0, 2);
		}
		if (w->rc == 0 && (w->rc = db_commit(w->d)) == 0)
			w->commits++;
		nanosleep(&pause, NULL);
	}
	free(m);
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * Look up messages of per tokens from msg (rounds of them, cycled) for secs
 * seconds of wall time; print the per-message latency percentiles. Returns
 * 0 or the first error.
 */
static int timed_reads(db *d, int64_t uid, db_token *msg, size_t rounds,
    size_t per, double secs, const char *label)
{
	size_t cap = 1 << 16, n = 0;
	double *lat = malloc(cap * sizeof(*lat)), end = now() + secs;
	int rc = 0;

	if (lat == NULL)
		return -ENOMEM;
	while (now() < end && n < cap) {
		double t0 = now();

		if ((rc = db_tokens_get(d, uid, msg + n % rounds * per, per)) < 0)
			break;
		lat[n++] = (now() - t0) * 1e3;
	}
	qsort(lat, n, sizeof(*lat), cmp_double);
	if (n > 0)
		printf("  %-34s %7zu messages, ms: p50 %.3f  p99 %.3f  max %.3f\n",
		    label, n, lat[n / 2], lat[(n - 1) * 99 / 100], lat[n - 1]);
	free(lat);
	return rc;
}

int main(int argc, char **argv)
{
	size_t ntok = 20000, per = 500, rounds = 5;
	double secs = 0.2;
	char tmp[64] = "", path[512], err[512];
	const char *where;
	int64_t uid;
	db *d;
	int opt, rc;

	while ((opt = getopt(argc, argv, "t:m:r:s:")) != -1) {
		switch (opt) {
		case 's': secs = strtod(optarg, NULL); break;
		case 't': ntok = strtoul(optarg, NULL, 10); break;
		case 'm': per = strtoul(optarg, NULL, 10); break;
		case 'r': rounds = strtoul(optarg, NULL, 10); break;
		default:
			fprintf(stderr, "usage: db_lookup [-t tokens] "
			    "[-m tokens per message] [-r rounds] "
			    "[-s seconds per reader run] [dir]\n");
			return 2;
		}
	}
	if (ntok == 0 || per == 0 || rounds == 0)
		return 2;
	if (optind < argc) {
		where = argv[optind];
	} else {
		snprintf(tmp, sizeof(tmp), "/tmp/db_lookup.XXXXXX");
		if (!mkdtemp(tmp)) {
			perror("mkdtemp");
			return 1;
		}
		where = tmp;
	}
	snprintf(path, sizeof(path), "%s/bench.db", where);
	unlink(path);
	if ((rc = db_open(path, DB_OPEN_CREATE, &d, err, sizeof(err))) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (db_user(d, "bench", 1, &uid) < 0)
		goto dberr;

	/* the store: ntok tokens, learned in messages of 1000 */
	uint64_t *h = malloc(ntok * sizeof(*h));
	if (!h)
		return 1;
	for (size_t i = 0; i < ntok; i++)
		h[i] = mix(i);
	double t0 = now();
	if (db_begin(d) < 0)
		goto dberr;
	for (size_t i = 0; i < ntok; i += 1000) {
		size_t n = ntok - i < 1000 ? ntok - i : 1000;

		if (db_tokens_update(d, uid, h + i, n, (int)(i / 1000 % 3),
		    1, 1) < 0)
			goto dberr;
	}
	if (db_commit(d) < 0)
		goto dberr;
	printf("store: %zu tokens, built in %.2f s (%.2f us/token upsert)\n",
	    ntok, now() - t0, (now() - t0) * 1e6 / (double)ntok);

	/* the messages: half known tokens, half unknown */
	db_token *msg = malloc(rounds * per * sizeof(*msg));
	db_token *ref = malloc(rounds * per * sizeof(*ref));
	if (!msg || !ref)
		return 1;
	uint64_t x = 88172645463325252ULL;
	for (size_t i = 0; i < rounds * per; i++)
		msg[i].hash = rnd(&x) % 2 ? h[rnd(&x) % ntok] : rnd(&x);

	static const struct { int mode; size_t batch; const char *name; } s[] = {
		{ DB_SQLITE_LOOKUP_POINT, 0, "point lookup per token" },
		{ DB_SQLITE_LOOKUP_IN, 16, "IN batch 16" },
		{ DB_SQLITE_LOOKUP_IN, 32, "IN batch 32" },
		{ DB_SQLITE_LOOKUP_IN, 64, "IN batch 64" },
		{ DB_SQLITE_LOOKUP_IN, 128, "IN batch 128" },
		{ DB_SQLITE_LOOKUP_IN, 256, "IN batch 256" },
		{ DB_SQLITE_LOOKUP_IN, 500, "IN batch 500" },
		{ DB_SQLITE_LOOKUP_JSON, 100, "json_each batch 100" },
		{ DB_SQLITE_LOOKUP_JSON, 500, "json_each batch 500" },
	};
	enum { NS = sizeof(s) / sizeof(s[0]), REPS = 5 };
	/* the second column: the same with a tuning pragma (env BENCH_PRAGMA) */
	const char *pragma = getenv("BENCH_PRAGMA");

	if (!pragma)
		pragma = "PRAGMA mmap_size = 1073741824";
	double best[2][NS];

	/* warm the OS and SQLite caches for every message first */
	if (db_sqlite_lookup_mode(d, DB_SQLITE_LOOKUP_POINT, 0) < 0 ||
	    db_tokens_get(d, uid, msg, rounds * per) < 0)
		goto dberr;
	memcpy(ref, msg, rounds * per * sizeof(*ref));
	/* strategies interleaved, best of REPS; without and with mmap */
	for (int mm = 0; mm < 2; mm++) {
		if (mm && db_sqlite_exec(d, pragma) < 0)
			goto dberr;
		for (int rep = 0; rep < REPS; rep++) {
			for (size_t k = 0; k < NS; k++) {
				if (db_sqlite_lookup_mode(d, s[k].mode,
				    s[k].batch) < 0)
					return 1;
				t0 = cpu();
				for (size_t r = 0; r < rounds; r++)
					if (db_tokens_get(d, uid, msg + r * per,
					    per) < 0)
						goto dberr;
				double dt = cpu() - t0;
				if (rep == 0 || dt < best[mm][k])
					best[mm][k] = dt;
				for (size_t i = 0; i < rounds * per; i++)
					if (msg[i].spam_hits != ref[i].spam_hits ||
					    msg[i].innocent_hits !=
					    ref[i].innocent_hits) {
						fprintf(stderr, "%s: token %zu "
						    "differs\n", s[k].name, i);
						return 1;
					}
			}
		}
	}
	printf("lookups: %zu messages of %zu tokens, best of %d, CPU us/message "
	    "(us/token)\n", rounds, per, REPS);
	printf("  %-24s %20s %20s\n", "strategy", "default", "with PRAGMA");
	printf("  (PRAGMA: %s)\n", pragma);
	for (size_t k = 0; k < NS; k++)
		printf("  %-24s %10.1f (%6.3f) %10.1f (%6.3f)\n", s[k].name,
		    best[0][k] * 1e6 / (double)rounds,
		    best[0][k] * 1e6 / (double)(rounds * per),
		    best[1][k] * 1e6 / (double)rounds,
		    best[1][k] * 1e6 / (double)(rounds * per));

	/* the read cache, over the default strategy */
	db_cache *c = db_cache_new((size_t)64 << 20);
	double cold = 0, warm = 0;
	db_cache_stats cs;

	if (c == NULL || db_sqlite_exec(d, "PRAGMA mmap_size = 0") < 0 ||
	    db_sqlite_lookup_mode(d, DB_SQLITE_LOOKUP_IN, 64) < 0 ||
	    db_cache_attach(d, c) < 0)
		goto dberr;
	for (int rep = 0; rep <= REPS; rep++) {
		t0 = cpu();
		for (size_t r = 0; r < rounds; r++)
			if (db_tokens_get(d, uid, msg + r * per, per) < 0)
				goto dberr;
		double dt = cpu() - t0;
		if (rep == 0)
			cold = dt;
		else if (rep == 1 || dt < warm)
			warm = dt;
		for (size_t i = 0; i < rounds * per; i++)
			if (msg[i].spam_hits != ref[i].spam_hits ||
			    msg[i].innocent_hits != ref[i].innocent_hits) {
				fprintf(stderr, "cache: token %zu differs\n", i);
				return 1;
			}
	}
	db_cache_stats_get(c, &cs);
	printf("  %-24s %10.1f (%6.3f)  cold, %s\n", "db_cache 64 MiB",
	    cold * 1e6 / (double)rounds, cold * 1e6 / (double)(rounds * per),
	    cs.loads ? "model loaded whole" : "misses fetched");
	printf("  %-24s %10.1f (%6.3f)  warm: %.1f million lookups/s\n", "",
	    warm * 1e6 / (double)rounds, warm * 1e6 / (double)(rounds * per),
	    (double)(rounds * per) / warm / 1e6);
	db_cache_attach(d, NULL);
	db_cache_free(c);

	/* readers under a writer, through an 8 MiB cache */
	{
		db_cache *mc = db_cache_new((size_t)8 << 20);
		wr w = { .uid = uid, .known = h, .nknown = ntok, .per = per };
		pthread_t th;

		if (mc == NULL || db_cache_attach(d, mc) < 0 ||
		    db_open(path, 0, &w.d, err, sizeof(err)) < 0 ||
		    db_cache_attach(w.d, mc) < 0) {
			fprintf(stderr, "reader/writer setup: %s\n", err);
			return 1;
		}
		printf("readers under a writer (8 MiB db_cache, wall time per message):\n");
		if (timed_reads(d, uid, msg, rounds, per, secs, "alone") < 0)
			goto dberr;
		if (pthread_create(&th, NULL, writer_main, &w) != 0)
			return 1;
		rc = timed_reads(d, uid, msg, rounds, per, secs,
		    "writer committing every 50 ms");
		w.stop = 1;
		pthread_join(th, NULL);
		if (rc < 0)
			goto dberr;
		if (w.rc < 0) {
			fprintf(stderr, "writer: %s\n", db_errmsg(w.d));
			return 1;
		}
		printf("  (the writer committed %zu times, 32 messages of %zu "
		    "tokens each; no reader error)\n", w.commits, per);
		db_cache_attach(d, NULL);
		db_close(w.d);
		db_cache_free(mc);
	}
	db_close(d);
	free(h);
	free(msg);
	free(ref);
	unlink(path);
	if (tmp[0]) {
		char f[600];

		snprintf(f, sizeof(f), "%s-wal", path);
		unlink(f);
		snprintf(f, sizeof(f), "%s-shm", path);
		unlink(f);
		rmdir(tmp);
	}
	return 0;
dberr:
	fprintf(stderr, "%s\n", db_errmsg(d));
	return 1;
}
