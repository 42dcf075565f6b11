/*
 * check_db_cache -- the shared token read cache (db_cache_* in db/db.h) on
 * real SQLite files: coherence when another handle or another process
 * writes, own commits applied instead of emptying, whole models loaded,
 * eviction under the memory bound, and several threads reading while one
 * writes.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "db/db.h"
#include "db/db_impl.h"
#include "tests/testutil.h"

static char dir[64];
static char path[128];
static char err[512];

/*
 * Allocation failures on demand: the test binary is linked with
 * --wrap=calloc,realloc, so the library's calls come here. Armed, the next
 * calloc, or the next realloc that allocates anew (NULL), fails once.
 */
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
static volatile int fail_calloc, fail_new_realloc;

void *__wrap_calloc(size_t n, size_t size)
{
	if (fail_calloc) {
		fail_calloc = 0;
		return NULL;
	}
	return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size)
{
	if (p == NULL && fail_new_realloc) {
		fail_new_realloc = 0;
		return NULL;
	}
	return __real_realloc(p, size);
}

static db *open_ok(void)
{
	db *d = NULL;
	int rc = db_open(path, DB_OPEN_CREATE, &d, err, sizeof(err));

	ck_assert_msg(rc == 0, "db_open: %d %s", rc, err);
	return d;
}

static void setup(void)
{
	test_mkdtemp(dir, sizeof(dir), "check_db_cache");
	snprintf(path, sizeof(path), "%s/store.db", dir);
}

static void teardown(void)
{
	ck_assert_int_eq(test_rmtree(dir), 0);
}

static int64_t get_spam(db *d, int64_t uid, uint64_t h)
{
	db_token t = { .hash = h };

	ck_assert_int_eq(db_tokens_get(d, uid, &t, 1), 0);
	return t.spam_hits;
}

START_TEST(test_api)
{
	db *d = open_ok();
	db_cache *c = db_cache_new(1 << 20);
	db_cache_stats st;

	ck_assert_ptr_null(db_cache_new(100));
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(db_cache_attach(NULL, c), -EINVAL);
	ck_assert_int_eq(db_begin(d), 0);
	ck_assert_int_eq(db_cache_attach(d, c), -EINVAL);
	ck_assert_int_eq(db_commit(d), 0);
	ck_assert_int_eq(db_cache_attach(d, c), 0);
	db_cache_stats_get(c, &st);
	ck_assert_int_eq(st.entries, 0);
	ck_assert_int_gt(st.max_entries, 1000);
	ck_assert_int_le(st.bytes, 1 << 20);
	db_close(d);
	db_cache_free(c);
	db_cache_free(NULL);
}
END_TEST

/* Another handle writes: the cached reader sees it after the commit. */
START_TEST(test_other_handle)
{
	db *w = open_ok(), *r = open_ok();
	db_cache *c = db_cache_new(1 << 20);
	db_cache_stats st;
	uint64_t h[2] = { 5, 6 };
	int64_t uid;

	ck_assert_int_eq(db_user(w, "alice", 1, &uid), 0);
	ck_assert_int_eq(db_tokens_update(w, uid, h, 2, 1, 0, 1), 0);
	ck_assert_int_eq(db_cache_attach(r, c), 0);
	ck_assert_int_eq(get_spam(r, uid, 5), 1);
	ck_assert_int_eq(get_spam(r, uid, 5), 1);
	ck_assert_int_eq(get_spam(r, uid, 99), 0);
	db_cache_stats_get(c, &st);
	ck_assert_int_eq(st.hits, 1);
	ck_assert_int_eq(st.misses, 2);
	/* a transaction: invisible until its commit, then seen */
	ck_assert_int_eq(db_begin(w), 0);
	ck_assert_int_eq(db_tokens_update(w, uid, h, 2, 2, 0, 1), 0);
	ck_assert_int_eq(db_tokens_update(w, uid, &(uint64_t){ 99 }, 1, 4, 0, 1), 0);
	ck_assert_int_eq(get_spam(r, uid, 5), 1);
	ck_assert_int_eq(db_commit(w), 0);
	ck_assert_int_eq(get_spam(r, uid, 5), 3);
	ck_assert_int_eq(get_spam(r, uid, 6), 3);
	ck_assert_int_eq(get_spam(r, uid, 99), 4);
	/* a decrement and a purge are seen too */
	ck_assert_int_eq(db_tokens_update(w, uid, h, 1, -3, 0, 1), 0);
	ck_assert_int_eq(get_spam(r, uid, 5), 0);
	{
		int64_t n;

		ck_assert_int_eq(db_purge(w, 100, 10, &n), 0);
		ck_assert_int_eq(n, 2);
	}
	ck_assert_int_eq(get_spam(r, uid, 6), 0);
	ck_assert_int_eq(get_spam(r, uid, 99), 0);
	db_cache_stats_get(c, &st);
	ck_assert_int_ge(st.clears, 3);
	db_close(r);
	db_close(w);
	db_cache_free(c);
}
END_TEST

/* A deleted user's tokens are gone for cached readers, whoever deletes. */
START_TEST(test_user_delete_seen)
{
	db *w = open_ok(), *r = open_ok();
	db_cache *c = db_cache_new(1 << 20);
	uint64_t h[2] = { 5, 6 };
	int64_t uid;

	ck_assert_int_eq(db_user(w, "alice", 1, &uid), 0);
	ck_assert_int_eq(db_tokens_update(w, uid, h, 2, 2, 0, 1), 0);
	ck_assert_int_eq(db_cache_attach(r, c), 0);
	ck_assert_int_eq(get_spam(r, uid, 5), 2);
	ck_assert_int_eq(get_spam(r, uid, 5), 2);      /* a hit */
	ck_assert_int_eq(db_user_delete(w, uid, 0, NULL), 0);
	ck_assert_int_eq(get_spam(r, uid, 5), 0);
	/* the deleting handle shares the cache (the milter's writer) and
	 * keeps a change log of its commits, which says nothing of a delete */
	ck_assert_int_eq(db_cache_attach(w, c), 0);
	ck_assert_int_eq(db_tokens_update(w, uid, h, 2, 3, 0, 1), 0);
	ck_assert_int_eq(get_spam(r, uid, 6), 3);
	ck_assert_int_eq(get_spam(r, uid, 6), 3);
	ck_assert_int_eq(db_user_delete(w, uid, 0, NULL), 0);
	ck_assert_int_eq(get_spam(r, uid, 6), 0);
	ck_assert_int_eq(get_spam(w, uid, 5), 0);
	db_close(r);
	db_close(w);
	db_cache_free(c);
}
END_TEST

/* Own commits update the cache instead of emptying it. */
START_TEST(test_own_writes)
{
	db *w = open_ok(), *r = open_ok();
	db_cache *c = db_cache_new(1 << 20);
	db_cache_stats st, st2;
	uint64_t h[3] = { 7, 8, 9 };
	int64_t uid;

	ck_assert_int_eq(db_user(w, "alice", 1, &uid), 0);
	ck_assert_int_eq(db_tokens_update(w, uid, h, 3, 2, 0, 1), 0);
	ck_assert_int_eq(db_cache_attach(w, c), 0);
	ck_assert_int_eq(db_cache_attach(r, c), 0);
	ck_assert_int_eq(get_spam(r, uid, 7), 2);
	ck_assert_int_eq(get_spam(r, uid, 8), 2);
	db_cache_stats_get(c, &st);
	/* w's commits: increments, a decrement clamped at 0 */
	ck_assert_int_eq(db_begin(w), 0);
	ck_assert_int_eq(db_tokens_update(w, uid, h, 2, 1, 0, 1), 0);
	ck_assert_int_eq(db_tokens_update(w, uid, h + 1, 1, -5, 0, 1), 0);
	ck_assert_int_eq(db_commit(w), 0);
	ck_assert_int_eq(db_tokens_update(w, uid, h, 1, 1, 0, 1), 0);
	db_cache_stats_get(c, &st2);
	ck_assert_int_eq(st2.clears, st.clears);
	ck_assert_int_eq(st2.updates, st.updates + 2);
	/* served from the updated cache, and right */
	ck_assert_int_eq(get_spam(r, uid, 7), 4);
	ck_assert_int_eq(get_spam(r, uid, 8), 0);
	ck_assert_int_eq(get_spam(w, uid, 7), 4);
	db_cache_stats_get(c, &st);
	ck_assert_int_eq(st.hits, st2.hits + 3);
	/* a rolled-back transaction changes nothing */
	ck_assert_int_eq(db_begin(w), 0);
	ck_assert_int_eq(db_tokens_update(w, uid, h, 1, 10, 0, 1), 0);
	ck_assert_int_eq(db_rollback(w), 0);
	ck_assert_int_eq(get_spam(r, uid, 7), 4);
	db_close(r);
	db_close(w);
	db_cache_free(c);
}
END_TEST

/* Another process trains: the cached reader sees its commits. */
START_TEST(test_other_process)
{
	db *r = open_ok();
	db_cache *c = db_cache_new(1 << 20);
	int64_t uid;
	pid_t pid;
	int status;

	ck_assert_int_eq(db_user(r, "alice", 1, &uid), 0);
	ck_assert_int_eq(db_cache_attach(r, c), 0);
	ck_assert_int_eq(get_spam(r, uid, 42), 0);
	for (int round = 1; round <= 3; round++) {
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			db *w;
			uint64_t h = 42;

			if (db_open(path, 0, &w, err, sizeof(err)) < 0 ||
			    db_defer(w, 1 << 20) < 0 ||
			    db_tokens_update(w, uid, &h, 1, round, 0, 1) < 0 ||
			    db_flush(w) < 0)
				_exit(1);
			db_close(w);
			_exit(0);
		}
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		ck_assert_int_eq(get_spam(r, uid, 42), round * (round + 1) / 2);
	}
	db_close(r);
	db_cache_free(c);
}
END_TEST

/* Many misses load the user's whole model; absent tokens are then answered
 * from memory too, until another writer commits. */
START_TEST(test_whole_model)
{
	db *w = open_ok(), *r = open_ok();
	db_cache *c = db_cache_new(4 << 20);
	db_cache_stats st, st2;
	enum { N = 6000 };
	uint64_t *h = malloc(N * sizeof(*h));
	db_token *t = malloc(2 * N * sizeof(*t));
	int64_t uid;

	ck_assert_ptr_nonnull(h);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(db_user(w, "alice", 1, &uid), 0);
	for (size_t i = 0; i < N; i++)
		h[i] = 2 * i + 1;       /* odd hashes are stored */
	ck_assert_int_eq(db_tokens_update(w, uid, h, N, 3, 1, 1), 0);
	ck_assert_int_eq(db_cache_attach(r, c), 0);
	for (size_t i = 0; i < 2 * N; i++)
		t[i].hash = i;
	ck_assert_int_eq(db_tokens_get(r, uid, t, 2 * N), 0);
	for (size_t i = 0; i < 2 * N; i++) {
		ck_assert_int_eq(t[i].spam_hits, i % 2 ? 3 : 0);
		ck_assert_int_eq(t[i].innocent_hits, i % 2 ? 1 : 0);
	}
	db_cache_stats_get(c, &st);
	ck_assert_int_eq(st.loads, 1);
	ck_assert_int_eq(st.entries, N);
	/* everything again, now all from memory */
	for (size_t i = 0; i < 2 * N; i++)
		t[i].hash = i + 100000;
	ck_assert_int_eq(db_tokens_get(r, uid, t, 2 * N), 0);
	db_cache_stats_get(c, &st2);
	ck_assert_int_eq(st2.misses, st.misses);
	ck_assert_int_eq(st2.hits, st.hits + 2 * N);
	/* another writer adds a token the loaded model did not have */
	ck_assert_int_eq(db_tokens_update(w, uid, &(uint64_t){ 2 }, 1, 9, 0, 1), 0);
	ck_assert_int_eq(get_spam(r, uid, 2), 9);
	free(h);
	free(t);
	db_close(r);
	db_close(w);
	db_cache_free(c);
}
END_TEST

/* A small cache keeps to its bound and still answers right. */
START_TEST(test_eviction)
{
	db *w = open_ok(), *r = open_ok();
	db_cache *c = db_cache_new(64 * 1024);
	db_cache_stats st;
	enum { N = 20000 };
	uint64_t *h = malloc(N * sizeof(*h));
	int64_t uid;

	ck_assert_ptr_nonnull(h);
	ck_assert_int_eq(db_user(w, "alice", 1, &uid), 0);
	for (size_t i = 0; i < N; i++)
		h[i] = i * 7919 + 1;
	ck_assert_int_eq(db_tokens_update(w, uid, h, N, 1, 0, 1), 0);
	ck_assert_int_eq(db_tokens_update(w, uid, h, N / 2, 1, 0, 1), 0);
	ck_assert_int_eq(db_cache_attach(r, c), 0);
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < N; i += 100) {
			db_token t[100];

			for (size_t k = 0; k < 100; k++)
				t[k].hash = h[i + k];
			ck_assert_int_eq(db_tokens_get(r, uid, t, 100), 0);
			for (size_t k = 0; k < 100; k++)
				ck_assert_int_eq(t[k].spam_hits,
				    i + k < N / 2 ? 2 : 1);
		}
	db_cache_stats_get(c, &st);
	ck_assert_int_le(st.bytes, 64 * 1024);
	ck_assert_int_le(st.entries, st.max_entries);
	ck_assert_int_gt(st.evictions, 0);
	ck_assert_int_eq(st.loads, 0);  /* too big to load whole */
	free(h);
	db_close(r);
	db_close(w);
	db_cache_free(c);
}
END_TEST

/*
 * Threads: READERS threads read through one cache while a writer commits
 * ROUNDS transactions, each adding 1 spam and 1 innocent hit to every token
 * of a set (and, with thr_fresh, to FRESH tokens new to the model). Every
 * read must see both counts equal (one snapshot per token, never half a
 * commit) and never going back; after the writer is done, everyone sees
 * ROUNDS (and 1 for each new token).
 */
enum { READERS = 4, ROUNDS = 200, NTOK = 64, FRESH = 16 };
/* Tokens read: the set, then every round's new ones (not yet stored: 0). */
#define THR_READ (NTOK + ROUNDS * FRESH)

static int64_t thr_uid;
static int thr_fresh;
static volatile int writer_done;

static uint64_t thr_hash(size_t k)
{
	return k < NTOK ? 1000 + k : 100000 + k;
}

static void *reader(void *arg)
{
	db_cache *c = arg;
	db *d = NULL;
	static __thread int64_t last[THR_READ];
	static __thread db_token t[THR_READ];
	size_t nread = thr_fresh ? THR_READ : NTOK;
	long bad = 0;

	memset(last, 0, sizeof(last));
	if (db_open(path, 0, &d, NULL, 0) < 0 ||
	    db_cache_attach(d, c) < 0)
		return (void *)1L;
	for (int done = 0; !done;) {
		done = __atomic_load_n(&writer_done, __ATOMIC_ACQUIRE);
		for (size_t k = 0; k < nread; k++)
			t[k].hash = thr_hash(k);
		if (db_tokens_get(d, thr_uid, t, nread) < 0) {
			bad++;
			break;
		}
		for (size_t k = 0; k < nread; k++) {
			if (t[k].spam_hits != t[k].innocent_hits ||
			    t[k].spam_hits < last[k])
				bad++;
			last[k] = t[k].spam_hits;
			if (done && t[k].spam_hits != (k < NTOK ? ROUNDS : 1))
				bad++;
		}
	}
	db_close(d);
	return (void *)bad;
}

static void *writer(void *arg)
{
	db_cache *c = arg;
	db *d = NULL;
	uint64_t h[THR_READ];
	long bad = 0;

	for (size_t k = 0; k < THR_READ; k++)
		h[k] = thr_hash(k);
	if (db_open(path, 0, &d, NULL, 0) < 0)
		return (void *)1L;
	/* The writer shares the cache too: its commits update it. */
	if (db_cache_attach(d, c) < 0)
		bad++;
	for (int i = 0; i < ROUNDS && !bad; i++) {
		if (db_begin(d) < 0 ||
		    db_tokens_update(d, thr_uid, h, NTOK, 1, 0, 1) < 0 ||
		    db_tokens_update(d, thr_uid, h, NTOK, 0, 1, 1) < 0 ||
		    (thr_fresh && db_tokens_update(d, thr_uid,
		    h + NTOK + i * FRESH, FRESH, 1, 1, 1) < 0) ||
		    db_commit(d) < 0)
			bad++;
	}
	__atomic_store_n(&writer_done, 1, __ATOMIC_RELEASE);
	db_close(d);
	return (void *)bad;
}

/* Tokens of the model held whole before test_threads_whole's commits: each
 * merge then rewrites a copy big enough to take a while. */
enum { BIG = 100000 };

static uint64_t mixed(uint64_t x);

static void run_threads(int fresh)
{
	db *d = open_ok();
	db_cache *c = db_cache_new(fresh ? 8 << 20 : 1 << 20);
	db_cache_stats st;
	pthread_t rt[READERS], wt;
	void *res;

	ck_assert_int_eq(db_user(d, "alice", 1, &thr_uid), 0);
	thr_fresh = fresh;
	if (fresh) {
		/* the model held whole: each commit merges new tokens in */
		uint64_t *h = malloc(BIG * sizeof(*h));

		ck_assert_ptr_nonnull(h);
		for (size_t i = 0; i < BIG; i++)
			h[i] = mixed(i);
		ck_assert_int_eq(db_tokens_update(d, thr_uid, h, BIG, 1, 1, 1), 0);
		free(h);
		ck_assert_int_eq(db_cache_attach(d, c), 0);
		ck_assert_int_eq(db_cache_prefetch(d, thr_uid), 0);
	}
	db_close(d);
	writer_done = 0;
	for (int i = 0; i < READERS; i++)
		ck_assert_int_eq(pthread_create(&rt[i], NULL, reader, c), 0);
	ck_assert_int_eq(pthread_create(&wt, NULL, writer, c), 0);
	ck_assert_int_eq(pthread_join(wt, &res), 0);
	ck_assert_int_eq((long)res, 0);
	for (int i = 0; i < READERS; i++) {
		ck_assert_int_eq(pthread_join(rt[i], &res), 0);
		ck_assert_int_eq((long)res, 0);
	}
	db_cache_stats_get(c, &st);
	if (fresh) {
		/* (no clear: the copy followed every commit) */
		ck_assert_int_eq(st.clears, 0);
		ck_assert_int_eq(st.whole_tokens, BIG + THR_READ);
	}
	db_cache_free(c);
}

START_TEST(test_threads)
{
	run_threads(0);
}
END_TEST

/* The same on a model held whole, merging each commit's new tokens into
 * its copy while readers read it. */
START_TEST(test_threads_whole)
{
	run_threads(1);
}
END_TEST

/*
 * The race between an attached handle's commit and readers: a reader that
 * reads the new generation before the committing handle has applied its
 * changes bypasses the cache instead of emptying it; the changes then
 * apply in place. A whole-model load that the store outran is not retried
 * at once.
 */
START_TEST(test_commit_in_flight)
{
	db_cache *c = db_cache_new(1 << 20);
	db_token t = { .hash = 42, .spam_hits = 3, .innocent_hits = 1 };
	db_tokadd add = { .uid = 7, .hash = 42, .spam = 2, .innocent = 0 };
	db_cache_stats st;
	unsigned char hit;
	int load;

	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(db_cache_lookup(c, 5, 7, &t, 1, &hit, &load), 1);
	db_cache_fill(c, 5, 7, &t, 1);
	db_cache_precommit(c, 5, 6);
	/* A reader already sees generation 6: it must miss, not empty. */
	ck_assert_uint_eq(db_cache_lookup(c, 6, 7, &t, 1, &hit, &load), 1);
	ck_assert_int_eq(hit, 0);
	db_cache_commit(c, 5, 6, &add, 1, 0);
	db_cache_stats_get(c, &st);
	ck_assert_uint_eq(st.clears, 0);
	ck_assert_uint_eq(st.updates, 1);
	t.spam_hits = t.innocent_hits = 0;
	ck_assert_uint_eq(db_cache_lookup(c, 6, 7, &t, 1, &hit, &load), 0);
	ck_assert_int_eq(t.spam_hits, 5);
	ck_assert_int_eq(t.innocent_hits, 1);
	/* A failed commit (precommit 0): generation 7 then empties, as any
	 * change by another writer does. */
	db_cache_precommit(c, 6, 7);
	db_cache_precommit(c, 0, 0);
	ck_assert_uint_eq(db_cache_lookup(c, 7, 7, &t, 1, &hit, &load), 1);
	db_cache_stats_get(c, &st);
	ck_assert_uint_eq(st.clears, 1);
	db_cache_free(c);
}
END_TEST

/*
 * Token hashes are public: a sender can choose words whose hashes share
 * the bits the table indexes by. A million such tokens (unseeded, the table
 * put all of them in one run: each fill and each lookup probed it, twenty
 * minutes in all) are filled and found again quickly enough for Check's timeout.
 */
START_TEST(test_crafted_hashes)
{
	size_t n = 1000000;
	db_cache *c = db_cache_new(64 << 20);
	db_token *t = malloc(n * sizeof(*t));
	unsigned char *hit = malloc(n);
	db_cache_stats st;
	int load;

	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_nonnull(t);
	ck_assert_ptr_nonnull(hit);
	for (size_t i = 0; i < n; i++)
		/* the top 20 bits of hash ^ uid * golden ratio all the same */
		t[i] = (db_token){ .hash = (0xABCDE00000000000ULL | i * 977) ^
		    7 * 0x9E3779B97F4A7C15ULL, .spam_hits = 1 };
	ck_assert_uint_eq(db_cache_lookup(c, 5, 7, t, 1, hit, &load), 1);
	db_cache_fill(c, 5, 7, t, n);
	for (size_t i = 0; i < n; i++)
		t[i].spam_hits = 0;
	ck_assert_uint_eq(db_cache_lookup(c, 5, 7, t, n, hit, &load), 0);
	for (size_t i = 0; i < n; i += 997) {
		ck_assert_int_eq(hit[i], 1);
		ck_assert_int_eq(t[i].spam_hits, 1);
	}
	db_cache_stats_get(c, &st);
	ck_assert_uint_eq(st.hits, n);
	free(hit);
	free(t);
	db_cache_free(c);
}
END_TEST

/* db_cache_prefetch through a second handle: the reader's lookups of that
 * user are then all answered from memory, absent tokens included. */
START_TEST(test_prefetch)
{
	db *w = open_ok(), *r = open_ok(), *p = open_ok();
	db_cache *c = db_cache_new(4 << 20);
	db_cache_stats st;
	uint64_t h[100];
	db_token t[200];
	int64_t uid;

	ck_assert_int_eq(db_user(w, "alice", 1, &uid), 0);
	for (size_t i = 0; i < 100; i++)
		h[i] = 2 * i + 1;
	ck_assert_int_eq(db_tokens_update(w, uid, h, 100, 2, 1, 1), 0);
	ck_assert_int_eq(db_cache_prefetch(p, uid), -EINVAL);      /* no cache */
	ck_assert_int_eq(db_cache_attach(p, c), 0);
	ck_assert_int_eq(db_cache_attach(r, c), 0);
	ck_assert_int_eq(db_cache_prefetch(p, 0), -EINVAL);
	ck_assert_int_eq(db_cache_prefetch(p, uid), 0);
	db_cache_stats_get(c, &st);
	ck_assert_int_eq(st.loads, 1);
	ck_assert_int_eq(st.entries, 100);
	for (size_t i = 0; i < 200; i++)
		t[i].hash = i;
	ck_assert_int_eq(db_tokens_get(r, uid, t, 200), 0);
	for (size_t i = 0; i < 200; i++)
		ck_assert_int_eq(t[i].spam_hits, i % 2 ? 2 : 0);
	db_cache_stats_get(c, &st);
	ck_assert_int_eq(st.misses, 0);
	ck_assert_int_eq(st.hits, 200);
	/* a second prefetch of a loaded model does nothing */
	ck_assert_int_eq(db_cache_prefetch(p, uid), 0);
	db_cache_stats_get(c, &st);
	ck_assert_int_eq(st.loads, 1);
	db_close(p);
	db_close(r);
	db_close(w);
	db_cache_free(c);
}
END_TEST

/*
 * Out of memory in the cache's own work never changes an answer: a commit
 * whose change log cannot be made empties the cache (it applied the
 * commit's other rows and kept the first one stale for good), and a
 * whole-model load that cannot get its buffer leaves the read to go on
 * token by token (the read failed).
 */
START_TEST(test_cache_out_of_memory)
{
	db *w = open_ok(), *r = open_ok(), *plain = open_ok();
	db_cache *c = db_cache_new(4 << 20);
	enum { N = 10000 };
	static uint64_t many[N];
	static db_token t[N];
	uint64_t h[2] = { 111, 222 };
	int64_t uid, uid2;

	ck_assert_int_eq(db_user(w, "alice", 1, &uid), 0);
	ck_assert_int_eq(db_tokens_update(w, uid, h, 2, 1, 0, 1), 0);
	ck_assert_int_eq(db_cache_attach(w, c), 0);
	ck_assert_int_eq(db_cache_attach(r, c), 0);
	ck_assert_int_eq(get_spam(r, uid, 111), 1);
	ck_assert_int_eq(get_spam(r, uid, 222), 1);
	ck_assert_int_eq(db_begin(w), 0);
	ck_assert_int_eq(db_tokens_update(w, uid, &h[0], 1, 1, 0, 1), 0);
	ck_assert_int_eq(db_tokens_update(w, uid, &h[1], 1, 1, 0, 1), 0);
	fail_calloc = 1;
	ck_assert_int_eq(db_commit(w), 0);
	ck_assert_int_eq(fail_calloc, 0);
	ck_assert_int_eq(get_spam(plain, uid, 111), 2);
	ck_assert_int_eq(get_spam(r, uid, 111), 2);
	ck_assert_int_eq(get_spam(r, uid, 222), 2);

	ck_assert_int_eq(db_user(w, "bob", 1, &uid2), 0);
	for (size_t i = 0; i < N; i++)
		many[i] = 1000 + i;
	ck_assert_int_eq(db_tokens_update(w, uid2, many, N, 1, 1, 1), 0);
	for (size_t i = 0; i < N; i++)
		t[i].hash = 1000 + 2 * i;       /* half of them absent */
	fail_new_realloc = 1;
	ck_assert_int_eq(db_tokens_get(r, uid2, t, N), 0);
	ck_assert_int_eq(fail_new_realloc, 0);
	for (size_t i = 0; i < N; i++)
		ck_assert_int_eq(t[i].spam_hits, i < N / 2 ? 1 : 0);
	db_close(plain);
	db_close(r);
	db_close(w);
	db_cache_free(c);
}
END_TEST

/*
 * One whole-model load at a time: each buffers up to the copies' room
 * before the cache counts it, so several at once went past the memory
 * bound. A load asked for meanwhile does not happen (its reader reads token
 * by token); asked again later, it does.
 */
static const db_ops *real_ops;
static db *second;
static int64_t second_uid;

static int iter_during(db *d, int64_t uid,
    int (*fn)(void *arg, const db_token *t), void *arg)
{
	ck_assert_int_eq(db_cache_prefetch(second, second_uid), 0);
	return real_ops->tokens_iter(d, uid, fn, arg);
}

START_TEST(test_one_load_at_a_time)
{
	db *w = open_ok(), *p = open_ok();
	db_cache *c = db_cache_new(4 << 20);
	static db_ops hooked;
	db_cache_stats st;
	uint64_t h[100];
	int64_t uid;

	second = open_ok();
	ck_assert_int_eq(db_user(w, "alice", 1, &uid), 0);
	ck_assert_int_eq(db_user(w, "bob", 1, &second_uid), 0);
	for (size_t i = 0; i < 100; i++)
		h[i] = 2 * i + 1;
	ck_assert_int_eq(db_tokens_update(w, uid, h, 100, 1, 0, 1), 0);
	ck_assert_int_eq(db_tokens_update(w, second_uid, h, 100, 0, 1, 1), 0);
	ck_assert_int_eq(db_cache_attach(p, c), 0);
	ck_assert_int_eq(db_cache_attach(second, c), 0);
	real_ops = p->ops;
	hooked = *real_ops;
	hooked.tokens_iter = iter_during;
	p->ops = &hooked;
	ck_assert_int_eq(db_cache_prefetch(p, uid), 0);
	p->ops = real_ops;
	db_cache_stats_get(c, &st);
	ck_assert_int_eq(st.loads, 1);
	ck_assert_int_eq(st.whole_tokens, 100);
	ck_assert_int_eq(db_cache_prefetch(second, second_uid), 0);
	db_cache_stats_get(c, &st);
	ck_assert_int_eq(st.loads, 2);
	ck_assert_int_eq(st.whole_tokens, 200);
	db_close(second);
	db_close(p);
	db_close(w);
	db_cache_free(c);
}
END_TEST

/*
 * One read, one commit's counts: hits come from the cache at generation g;
 * when a commit lands before the misses are fetched, all are read again
 * (a read returned 111 from before a commit and 222 from after it).
 */
static db *committer;
static int64_t commit_uid;
static int commit_once;

static int get_after_commit(db *d, int64_t uid, db_token *toks, size_t n)
{
	if (commit_once) {
		uint64_t h[2] = { 111, 222 };

		commit_once = 0;
		ck_assert_int_eq(db_tokens_update(committer, commit_uid, h, 2, 1,
		    0, 1), 0);
	}
	return real_ops->tokens_get(d, uid, toks, n);
}

START_TEST(test_read_is_one_commit)
{
	db *r = open_ok();
	db_cache *c = db_cache_new(1 << 20);
	static db_ops hooked;
	db_token t[2] = { { .hash = 111 }, { .hash = 222 } };
	uint64_t h[2] = { 111, 222 };

	committer = open_ok();
	ck_assert_int_eq(db_user(committer, "alice", 1, &commit_uid), 0);
	ck_assert_int_eq(db_tokens_update(committer, commit_uid, h, 2, 5, 0, 1), 0);
	ck_assert_int_eq(db_cache_attach(r, c), 0);
	ck_assert_int_eq(get_spam(r, commit_uid, 111), 5);      /* a hit next */
	real_ops = r->ops;
	hooked = *real_ops;
	hooked.tokens_get = get_after_commit;
	r->ops = &hooked;
	commit_once = 1;
	ck_assert_int_eq(db_tokens_get(r, commit_uid, t, 2), 0);
	r->ops = real_ops;
	ck_assert_int_eq(commit_once, 0);
	ck_assert_int_eq(t[0].spam_hits, 6);
	ck_assert_int_eq(t[1].spam_hits, 6);
	db_close(committer);
	db_close(r);
	db_cache_free(c);
}
END_TEST

/* Token hashes are uniform (XXH3): so are these (splitmix64). */
static uint64_t mixed(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ULL;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
	return x ^ (x >> 31);
}

/*
 * A model read whole is a compact copy, outside the table: other users'
 * lookups that fill the table and evict do not take it apart (the milter's
 * cache used to reload one model hundreds of times per 3,000 messages), and
 * its absent tokens keep being answered from memory.
 */
START_TEST(test_whole_model_kept)
{
	db *w = open_ok(), *r = open_ok();
	db_cache *c = db_cache_new(64 << 10);
	db_cache_stats st, st2;
	enum { N = 200, M = 4096 };
	uint64_t h[N];
	db_token *t = calloc(M, sizeof(*t));
	int64_t a, b;

	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(db_user(w, "alice", 1, &a), 0);
	ck_assert_int_eq(db_user(w, "bob", 1, &b), 0);
	for (size_t i = 0; i < N; i++)
		h[i] = mixed(i);
	ck_assert_int_eq(db_tokens_update(w, a, h, N, 1, 0, 1), 0);
	ck_assert_int_eq(db_cache_attach(r, c), 0);
	/* 4096 misses: alice's model is read whole (through db_tokens_get) */
	for (size_t i = 0; i < M; i++)
		t[i].hash = mixed(10000 + i);
	ck_assert_int_eq(db_tokens_get(r, a, t, M), 0);
	ck_assert_int_eq(db_tokens_get(r, a, t, 1), 0);
	db_cache_stats_get(c, &st);
	ck_assert_int_eq(st.loads, 1);
	/* bob's lookups (absent tokens are cached as 0) fill the table */
	for (size_t i = 0; i < M - 100; i++)    /* fewer than would load his */
		t[i].hash = mixed(20000 + i);
	ck_assert_int_eq(db_tokens_get(r, b, t, M - 100), 0);
	db_cache_stats_get(c, &st);
	ck_assert_int_gt(st.evictions, 0);
	ck_assert_int_le(st.bytes, 64 << 10);
	/* alice: every lookup from memory, present and absent, and right */
	for (size_t i = 0; i < M; i++)
		t[i].hash = i < N ? h[i] : mixed(30000 + i);
	ck_assert_int_eq(db_tokens_get(r, a, t, M), 0);
	for (size_t i = 0; i < M; i++)
		ck_assert_int_eq(t[i].spam_hits, i < N ? 1 : 0);
	db_cache_stats_get(c, &st2);
	ck_assert_int_eq(st2.misses, st.misses);
	ck_assert_int_eq(st2.hits, st.hits + M);
	ck_assert_int_eq(st2.loads, 1);
	/* the table took its share: alice's copy still takes a new token of
	 * her own commit (the quarter kept for the table is for new copies) */
	ck_assert_int_eq(db_cache_attach(w, c), 0);
	ck_assert_int_eq(db_tokens_update(w, a, &(uint64_t){ mixed(777) }, 1,
	    4, 0, 1), 0);
	ck_assert_int_eq(get_spam(r, a, mixed(777)), 4);
	ck_assert_int_eq(get_spam(r, a, h[0]), 1);
	db_cache_stats_get(c, &st);
	ck_assert_int_eq(st.misses, st2.misses);
	ck_assert_int_eq(st.filters, 0);
	ck_assert_int_eq(st.whole_tokens, N + 1);
	free(t);
	db_close(r);
	db_close(w);
	db_cache_free(c);
}
END_TEST

/*
 * Another process's training empties the cache; the table, which had grown
 * meanwhile, goes back to its first size, so the global model fits whole
 * again when it is read next (it did at start).
 */
START_TEST(test_reload_after_clear)
{
	db *w = open_ok(), *r = open_ok(), *o = open_ok();
	db_cache *c = db_cache_new(256 << 10);
	db_cache_stats st;
	enum { N = 8000, M = 4000 };
	uint64_t *h = malloc(N * sizeof(*h));
	db_token *t = calloc(M, sizeof(*t));
	int64_t g, b;

	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_nonnull(h);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(db_user(w, "@global", 1, &g), 0);
	ck_assert_int_eq(db_user(w, "bob", 1, &b), 0);
	for (size_t i = 0; i < N; i++)
		h[i] = mixed(i);
	ck_assert_int_eq(db_tokens_update(w, g, h, N, 1, 0, 1), 0);
	ck_assert_int_eq(db_cache_attach(r, c), 0);
	ck_assert_int_eq(db_cache_prefetch(r, g), 0);
	db_cache_stats_get(c, &st);
	ck_assert_int_eq(st.loads, 1);
	ck_assert_int_eq(st.whole_tokens, N);
	/* bob's lookups grow the table as far as the copy lets it */
	for (size_t i = 0; i < M; i++)
		t[i].hash = mixed(100000 + i);
	ck_assert_int_eq(db_tokens_get(r, b, t, M), 0);
	/* another process trains: the next lookup empties the cache */
	ck_assert_int_eq(db_tokens_update(o, g, h, 1, 1, 0, 1), 0);
	ck_assert_int_eq(get_spam(r, g, h[0]), 2);
	db_cache_stats_get(c, &st);
	ck_assert_int_eq(st.clears, 1);
	ck_assert_int_eq(st.whole_tokens, 0);
	/* read again: whole, as at start */
	ck_assert_int_eq(db_cache_prefetch(r, g), 0);
	db_cache_stats_get(c, &st);
	ck_assert_int_eq(st.loads, 2);
	ck_assert_int_eq(st.whole_tokens, N);
	ck_assert_int_le(st.bytes, 256 << 10);
	ck_assert_int_eq(get_spam(r, g, h[0]), 2);
	ck_assert_int_eq(get_spam(r, g, h[1]), 1);
	free(h);
	free(t);
	db_close(o);
	db_close(r);
	db_close(w);
	db_cache_free(c);
}
END_TEST

/*
 * Look up m tokens uid never had (mixed(base ..)): all must come back 0,
 * and at least 9 in 10 of them answered by uid's key filter.
 */
static void check_absent(db *r, db_cache *c, int64_t uid, db_token *t,
    size_t m, uint64_t base)
{
	db_cache_stats st, st2;

	db_cache_stats_get(c, &st);
	for (size_t i = 0; i < m; i++)
		t[i].hash = mixed(base + i);
	ck_assert_int_eq(db_tokens_get(r, uid, t, m), 0);
	for (size_t i = 0; i < m; i++)
		ck_assert_int_eq(t[i].spam_hits + t[i].innocent_hits, 0);
	db_cache_stats_get(c, &st2);
	ck_assert_int_ge(st2.absent - st.absent, m * 9 / 10);
	ck_assert_int_le(st2.misses - st.misses, m / 10);
}

/*
 * A model too big to load whole gets a key filter: tokens it never had are
 * answered as absent without the store, the rest are read as before, and
 * the filter follows the attached handle's commits and empties with the
 * cache when another writer commits.
 */
START_TEST(test_key_filter)
{
	db *w = open_ok(), *r = open_ok(), *o = open_ok();
	db_cache *c = db_cache_new(64 << 10);   /* loads at most ~700 rows */
	db_cache_stats st, st2;
	enum { N = 5000, M = 4096 };
	uint64_t *h = malloc(N * sizeof(*h));
	db_token *t = calloc(M, sizeof(*t));
	int64_t uid;

	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_nonnull(h);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(db_user(o, "alice", 1, &uid), 0);
	for (size_t i = 0; i < N; i++)
		h[i] = mixed(i);
	ck_assert_int_eq(db_tokens_update(o, uid, h, N, 2, 1, 1), 0);
	ck_assert_int_eq(db_cache_attach(r, c), 0);
	ck_assert_int_eq(db_cache_attach(w, c), 0);
	/* 4096 misses: too big to load, so the scan builds the filter */
	for (size_t i = 0; i < M; i++)
		t[i].hash = mixed(100000 + i);
	ck_assert_int_eq(db_tokens_get(r, uid, t, M), 0);
	ck_assert_int_eq(db_tokens_get(r, uid, t, 1), 0);
	db_cache_stats_get(c, &st);
	ck_assert_int_eq(st.loads, 0);
	ck_assert_int_eq(st.filters, 1);
	/* absent tokens never seen before: nearly all answered by the filter */
	check_absent(r, c, uid, t, M, 200000);
	/* present tokens still come from the store, right */
	for (size_t i = 0; i < 1000; i++)
		t[i].hash = h[i];
	ck_assert_int_eq(db_tokens_get(r, uid, t, 1000), 0);
	for (size_t i = 0; i < 1000; i++) {
		ck_assert_int_eq(t[i].spam_hits, 2);
		ck_assert_int_eq(t[i].innocent_hits, 1);
	}
	/* a token the model did not have, learned through an attached
	 * handle: the filter learns it too */
	ck_assert_int_eq(db_tokens_update(w, uid, &(uint64_t){ mixed(300000) },
	    1, 5, 0, 1), 0);
	ck_assert_int_eq(get_spam(r, uid, mixed(300000)), 5);
	db_cache_stats_get(c, &st);
	ck_assert_int_eq(st.clears, 0);
	/* another writer's commit empties the cache, filter included */
	ck_assert_int_eq(db_tokens_update(o, uid, &(uint64_t){ mixed(300001) },
	    1, 7, 0, 1), 0);
	ck_assert_int_eq(get_spam(r, uid, mixed(300001)), 7);
	db_cache_stats_get(c, &st2);
	ck_assert_int_gt(st2.clears, st.clears);
	ck_assert_int_eq(st2.absent, st.absent);
	ck_assert_int_le(st2.bytes, 64 << 10);
	free(h);
	free(t);
	db_close(o);
	db_close(r);
	db_close(w);
	db_cache_free(c);
}
END_TEST

/*
 * The in-memory backend lists a model in unsigned hash order, SQLite in
 * signed order: a copy read from either finds every token (hashes with the
 * top bit set and clear, a small model: one directory entry).
 */
START_TEST(test_copy_mem_backend)
{
	db *d = NULL;
	db_cache *c = db_cache_new(1 << 20);
	db_cache_stats st;
	uint64_t h[6] = { 1, 0x7fffffffffffffffULL, 0x8000000000000000ULL,
	    0xffffffffffffffffULL, 0x123456789abcdef0ULL, 0xfedcba9876543210ULL };
	db_token t[7];
	int64_t uid;

	ck_assert_int_eq(db_open("mem:", DB_OPEN_CREATE, &d, err, sizeof(err)), 0);
	ck_assert_int_eq(db_user(d, "alice", 1, &uid), 0);
	for (size_t i = 0; i < 6; i++)
		ck_assert_int_eq(db_tokens_update(d, uid, &h[i], 1, (int)i + 1, 0,
		    1), 0);
	ck_assert_int_eq(db_cache_attach(d, c), 0);
	ck_assert_int_eq(db_cache_prefetch(d, uid), 0);
	db_cache_stats_get(c, &st);
	ck_assert_int_eq(st.whole_tokens, 6);
	for (size_t i = 0; i < 6; i++)
		t[i].hash = h[i];
	t[6].hash = 2;
	ck_assert_int_eq(db_tokens_get(d, uid, t, 7), 0);
	for (size_t i = 0; i < 6; i++)
		ck_assert_int_eq(t[i].spam_hits, (int64_t)i + 1);
	ck_assert_int_eq(t[6].spam_hits, 0);
	db_cache_stats_get(c, &st);
	ck_assert_int_eq(st.misses, 0);
	db_cache_attach(d, NULL);
	db_close(d);
	db_cache_free(c);
}
END_TEST

/*
 * The cache remembers the state of 32 users; a server has more. Users that
 * come and go take the place of those that hold nothing, not of a model
 * held whole (the global model's copy would be read again and again).
 */
START_TEST(test_many_users)
{
	db *w = open_ok(), *r = open_ok();
	db_cache *c = db_cache_new(4 << 20);
	db_cache_stats st, st2;
	enum { N = 1000 };
	uint64_t h[N];
	db_token t[N];
	int64_t g, uid;
	char name[32];

	ck_assert_int_eq(db_user(w, "@global", 1, &g), 0);
	for (size_t i = 0; i < N; i++)
		h[i] = mixed(i);
	ck_assert_int_eq(db_tokens_update(w, g, h, N, 1, 1, 1), 0);
	ck_assert_int_eq(db_cache_attach(r, c), 0);
	ck_assert_int_eq(db_cache_prefetch(r, g), 0);
	for (int u = 0; u < 100; u++) {
		snprintf(name, sizeof(name), "user%d", u);
		ck_assert_int_eq(db_user(w, name, 1, &uid), 0);
		for (size_t i = 0; i < 10; i++)
			t[i].hash = mixed(5000 + i);
		ck_assert_int_eq(db_tokens_get(r, uid, t, 10), 0);
	}
	db_cache_stats_get(c, &st);
	for (size_t i = 0; i < N; i++)
		t[i].hash = h[i];
	ck_assert_int_eq(db_tokens_get(r, g, t, N), 0);
	for (size_t i = 0; i < N; i++)
		ck_assert_int_eq(t[i].spam_hits, 1);
	db_cache_stats_get(c, &st2);
	ck_assert_int_eq(st2.loads, 1);
	ck_assert_int_eq(st2.misses, st.misses);
	db_close(r);
	db_close(w);
	db_cache_free(c);
}
END_TEST

/*
 * A model held whole follows the attached handle's commits exactly: counts
 * up and down (clamped at 0), tokens new to it, a token changed twice in
 * one transaction; compared with a handle that reads the store itself.
 */
START_TEST(test_copy_follows_commits)
{
	db *w = open_ok(), *r = open_ok(), *o = open_ok();
	db_cache *c = db_cache_new(4 << 20);
	db_cache_stats st, st2;
	enum { N = 3000, ROUNDS = 12, K = 400 };
	uint64_t *h = malloc((N + ROUNDS * K) * sizeof(*h));
	db_token *t = calloc(2 * N, sizeof(*t)), *u = calloc(2 * N, sizeof(*u));
	int64_t uid;

	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_nonnull(h);
	ck_assert_ptr_nonnull(t);
	ck_assert_ptr_nonnull(u);
	ck_assert_int_eq(db_user(w, "alice", 1, &uid), 0);
	for (size_t i = 0; i < N + ROUNDS * K; i++)
		h[i] = mixed(i);
	ck_assert_int_eq(db_tokens_update(w, uid, h, N, 2, 1, 1), 0);
	ck_assert_int_eq(db_cache_attach(r, c), 0);
	ck_assert_int_eq(db_cache_attach(w, c), 0);
	ck_assert_int_eq(db_cache_prefetch(r, uid), 0);
	db_cache_stats_get(c, &st);
	ck_assert_int_eq(st.loads, 1);
	for (size_t k = 0; k < ROUNDS; k++) {
		const uint64_t *fresh = h + N + k * K;

		ck_assert_int_eq(db_begin(w), 0);
		/* old tokens up, new ones in (one of them twice) */
		ck_assert_int_eq(db_tokens_update(w, uid, h + k * 200, 200, 1, 0,
		    2), 0);
		ck_assert_int_eq(db_tokens_update(w, uid, fresh, K, 0, 1, 2), 0);
		ck_assert_int_eq(db_tokens_update(w, uid, fresh, 1, 3, 0, 2), 0);
		/* down, past 0 for some */
		ck_assert_int_eq(db_tokens_update(w, uid, h + k * 100, 300, -1, -2,
		    2), 0);
		ck_assert_int_eq(db_tokens_update(w, uid, fresh + 1, 5, 0, -1, 2),
		    0);
		ck_assert_int_eq(db_commit(w), 0);
		/* every token so far and as many never stored */
		for (size_t i = 0; i < 2 * N; i++)
			t[i].hash = u[i].hash = i < N ? h[(i * 7 + k) %
			    (N + (k + 1) * K)] : mixed(900000 + i);
		ck_assert_int_eq(db_tokens_get(r, uid, t, 2 * N), 0);
		ck_assert_int_eq(db_tokens_get(o, uid, u, 2 * N), 0);
		for (size_t i = 0; i < 2 * N; i++) {
			ck_assert_int_eq(t[i].spam_hits, u[i].spam_hits);
			ck_assert_int_eq(t[i].innocent_hits, u[i].innocent_hits);
		}
	}
	db_cache_stats_get(c, &st2);
	ck_assert_int_eq(st2.loads, 1);
	ck_assert_int_eq(st2.clears, 0);
	ck_assert_int_eq(st2.misses, st.misses);
	ck_assert_int_eq(st2.updates, st.updates + ROUNDS);
	free(h);
	free(t);
	free(u);
	db_close(o);
	db_close(r);
	db_close(w);
	db_cache_free(c);
}
END_TEST

/*
 * A whole model that grows by its own commits past the room its copy may
 * take turns into a key filter (its keys and the new ones): its absent
 * tokens stay answered from memory, every count stays right.
 */
START_TEST(test_key_filter_growth)
{
	db *w = open_ok(), *r = open_ok();
	db_cache *c = db_cache_new(64 << 10);   /* copies: ~1,000 tokens */
	db_cache_stats st;
	enum { N = 300, GROW = 2000, M = 4096 };
	uint64_t *h = malloc((N + GROW) * sizeof(*h));
	db_token *t = calloc(M, sizeof(*t));
	int64_t uid;

	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_nonnull(h);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(db_user(w, "alice", 1, &uid), 0);
	for (size_t i = 0; i < N + GROW; i++)
		h[i] = mixed(i);
	ck_assert_int_eq(db_tokens_update(w, uid, h, N, 1, 0, 1), 0);
	ck_assert_int_eq(db_cache_attach(r, c), 0);
	ck_assert_int_eq(db_cache_attach(w, c), 0);
	ck_assert_int_eq(db_cache_prefetch(r, uid), 0);
	db_cache_stats_get(c, &st);
	ck_assert_int_eq(st.loads, 1);
	ck_assert_int_eq(st.filters, 0);
	/* learning through the attached handle grows the whole model */
	for (size_t i = N; i < N + GROW; i += 100)
		ck_assert_int_eq(db_tokens_update(w, uid, h + i, 100, 1, 0, 1), 0);
	db_cache_stats_get(c, &st);
	ck_assert_int_eq(st.filters, 1);
	ck_assert_int_eq(st.clears, 0);
	ck_assert_int_le(st.bytes, 64 << 10);
	/* absent tokens: from the filter; present ones: right */
	check_absent(r, c, uid, t, M, 100000);
	for (size_t i = 0; i < N + GROW; i += 7)
		ck_assert_int_eq(get_spam(r, uid, h[i]), 1);
	free(h);
	free(t);
	db_close(r);
	db_close(w);
	db_cache_free(c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("db_cache");
	TCase *tc = tcase_create("sqlite");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_api);
	tcase_add_test(tc, test_other_handle);
	tcase_add_test(tc, test_user_delete_seen);
	tcase_add_test(tc, test_own_writes);
	tcase_add_test(tc, test_other_process);
	tcase_add_test(tc, test_whole_model);
	tcase_add_test(tc, test_eviction);
	tcase_add_test(tc, test_threads);
	tcase_add_test(tc, test_threads_whole);
	tcase_add_test(tc, test_prefetch);
	tcase_add_test(tc, test_cache_out_of_memory);
	tcase_add_test(tc, test_one_load_at_a_time);
	tcase_add_test(tc, test_read_is_one_commit);
	tcase_add_test(tc, test_commit_in_flight);
	tcase_add_test(tc, test_crafted_hashes);
	tcase_add_test(tc, test_whole_model_kept);
	tcase_add_test(tc, test_key_filter);
	tcase_add_test(tc, test_reload_after_clear);
	tcase_add_test(tc, test_copy_mem_backend);
	tcase_add_test(tc, test_many_users);
	tcase_add_test(tc, test_copy_follows_commits);
	tcase_add_test(tc, test_key_filter_growth);
	suite_add_tcase(s, tc);
	return test_run(s);
}
