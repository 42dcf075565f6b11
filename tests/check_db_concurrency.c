/*
 * check_db_concurrency -- readers and a writer on one SQLite store at the
 * same time, as the milter uses it: reader processes (and, in a second test,
 * reader threads with a handle each) call db_tokens_get in a loop while a
 * writer trains 1,000 messages in batched transactions. Asserts zero errors
 * (in particular zero -EBUSY) on both sides, and that every read sees one
 * consistent snapshot: tokens present in every message all have the count of
 * the messages committed so far, which never decreases.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "db/db.h"
#include "tests/testutil.h"

#define MESSAGES 1000           /* messages the writer trains */
#define PER_TXN 10              /* messages per write transaction */
#define COMMON 50               /* tokens in every message: hashes 1..50 */
#define PER_MSG 150             /* other tokens per message */
#define POOL 5000               /* distinct other tokens */
#define READERS 2
#define LOOKUP (COMMON * 7)     /* tokens per read (several batches) */

static char dir[64];
static char path[128];

static void setup(void)
{
	char err[512];
	db *d;
	int64_t uid;

	test_mkdtemp(dir, sizeof(dir), "check_db_conc");
	snprintf(path, sizeof(path), "%s/store.db", dir);
	ck_assert_int_eq(db_open(path, DB_OPEN_CREATE, &d, err, sizeof(err)), 0);
	ck_assert_int_eq(db_user(d, "alice", 1, &uid), 0);
	ck_assert_int_eq(uid, 1);
	db_close(d);
}

static void teardown(void)
{
	ck_assert_int_eq(test_rmtree(dir), 0);
}

/* Result counters of one side; failures are counted, not asserted, so a
 * thread or child can report them. */
typedef struct tally {
	long ops;               /* successful calls */
	long busy;              /* -EBUSY results */
	long other;             /* other errors */
	long inconsistent;      /* reads that saw a torn or older state */
	char last[1200];        /* last error text */
} tally;

static void note(tally *t, db *d, int rc)
{
	if (rc == 0) {
		t->ops++;
		return;
	}
	if (rc == -EBUSY)
		t->busy++;
	else
		t->other++;
	snprintf(t->last, sizeof(t->last), "%d %s", rc, db_errmsg(d));
}

static void writer(tally *t)
{
	char err[512];
	uint64_t h[COMMON + PER_MSG];
	db *d;

	if (db_open(path, 0, &d, err, sizeof(err)) < 0) {
		t->other++;
		snprintf(t->last, sizeof(t->last), "%.200s", err);
		return;
	}
	for (int k = 0; k < MESSAGES; k += PER_TXN) {
		int rc = db_begin(d);

		note(t, d, rc);
		if (rc < 0)
			continue;
		for (int m = k; m < k + PER_TXN; m++) {
			db_totals one = { .spam_learned = 1 };

			for (int i = 0; i < COMMON; i++)
				h[i] = (uint64_t)i + 1;
			for (int i = 0; i < PER_MSG; i++)
				h[COMMON + i] = COMMON + 1 +
				    ((uint64_t)m * 7919 + (uint64_t)i) % POOL;
			note(t, d, db_tokens_update(d, 1, h, COMMON + PER_MSG,
			    1, 0, m));
			note(t, d, db_totals_add(d, 1, &one));
		}
		note(t, d, db_commit(d));
	}
	db_close(d);
}

/* One read; returns the count seen for the common tokens, or -1. */
static long read_once(db *d, db_token *toks, long last, tally *t)
{
	int rc;

	/* common tokens every 7th, so they fall into different batches */
	for (int i = 0; i < LOOKUP; i++)
		toks[i].hash = i % 7 == 0 ? (uint64_t)i / 7 + 1 :
		    COMMON + 1 + (uint64_t)(i * 13) % (POOL + 100);
	rc = db_tokens_get(d, 1, toks, LOOKUP);
	note(t, d, rc);
	if (rc < 0)
		return last;
	for (int i = 7; i < LOOKUP; i += 7)
		if (toks[i].spam_hits != toks[0].spam_hits)
			t->inconsistent++;
	if (toks[0].spam_hits < last || toks[0].spam_hits % PER_TXN)
		t->inconsistent++;
	return toks[0].spam_hits;
}

/* Read until stop() says so; at least `min` reads. */
static void reader(tally *t, int (*stop)(void *), void *arg, int ready_fd)
{
	char err[512];
	db_token toks[LOOKUP];
	long last = 0;
	db *d;

	if (db_open(path, DB_OPEN_READONLY, &d, err, sizeof(err)) < 0) {
		t->other++;
		snprintf(t->last, sizeof(t->last), "%.200s", err);
		return;
	}
	last = read_once(d, toks, last, t);
	if (ready_fd >= 0 && write(ready_fd, "r", 1) != 1)
		t->other++;
	while (!stop(arg))
		last = read_once(d, toks, last, t);
	db_close(d);
}

static int fd_closed(void *arg)
{
	struct pollfd p = { .fd = *(int *)arg, .events = POLLIN };

	return poll(&p, 1, 0) > 0;      /* readable = EOF: the writer is done */
}

START_TEST(test_processes)
{
	int ready[2], stop[2], status;
	pid_t rpid[READERS], wpid;
	char c;
	tally *shared;

	ck_assert_int_eq(pipe(ready), 0);
	ck_assert_int_eq(pipe(stop), 0);
	/* each child writes its tally to a file named by its role */
	for (int r = 0; r < READERS; r++) {
		rpid[r] = fork();
		ck_assert_int_ge(rpid[r], 0);
		if (rpid[r] == 0) {
			tally t = { 0 };
			char f[160];
			FILE *fp;

			close(ready[0]);
			close(stop[1]);
			reader(&t, fd_closed, &stop[0], ready[1]);
			snprintf(f, sizeof(f), "%s/reader%d", dir, r);
			fp = fopen(f, "w");
			if (!fp || fwrite(&t, sizeof(t), 1, fp) != 1)
				_exit(2);
			fclose(fp);
			_exit(0);
		}
	}
	close(ready[1]);
	close(stop[0]);
	/* start the writer once every reader is reading */
	for (int r = 0; r < READERS; r++)
		ck_assert_int_eq(read(ready[0], &c, 1), 1);
	wpid = fork();
	ck_assert_int_ge(wpid, 0);
	if (wpid == 0) {
		tally t = { 0 };
		char f[160];
		FILE *fp;

		close(stop[1]);
		writer(&t);
		snprintf(f, sizeof(f), "%s/writer", dir);
		fp = fopen(f, "w");
		if (!fp || fwrite(&t, sizeof(t), 1, fp) != 1)
			_exit(2);
		fclose(fp);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(wpid, &status, 0), wpid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(stop[1]);         /* tells the readers to finish */
	for (int r = 0; r < READERS; r++) {
		ck_assert_int_eq(waitpid(rpid[r], &status, 0), rpid[r]);
		ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	shared = malloc(sizeof(*shared));
	ck_assert_ptr_nonnull(shared);
	for (int r = 0; r <= READERS; r++) {
		char f[160];
		FILE *fp;

		if (r < READERS)
			snprintf(f, sizeof(f), "%s/reader%d", dir, r);
		else
			snprintf(f, sizeof(f), "%s/writer", dir);
		fp = fopen(f, "r");
		ck_assert_ptr_nonnull(fp);
		ck_assert_int_eq(fread(shared, sizeof(*shared), 1, fp), 1);
		fclose(fp);
		ck_assert_msg(shared->busy == 0 && shared->other == 0,
		    "%s: %ld busy, %ld other errors; last: %s", f, shared->busy,
		    shared->other, shared->last);
		ck_assert_msg(shared->inconsistent == 0, "%s: %ld inconsistent "
		    "reads", f, shared->inconsistent);
		ck_assert_int_gt(shared->ops, 0);
		if (r == READERS)       /* begin + 2 per message + commit */
			ck_assert_int_eq(shared->ops, MESSAGES * 2 +
			    MESSAGES / PER_TXN * 2);
	}
	free(shared);
	close(ready[0]);

	/* everything arrived */
	char err[512];
	db *d;
	db_token t = { .hash = 1 };
	db_totals tot;
	ck_assert_int_eq(db_open(path, 0, &d, err, sizeof(err)), 0);
	ck_assert_int_eq(db_tokens_get(d, 1, &t, 1), 0);
	ck_assert_int_eq(t.spam_hits, MESSAGES);
	ck_assert_int_eq(db_totals_get(d, 1, &tot), 0);
	ck_assert_int_eq(tot.spam_learned, MESSAGES);
	db_close(d);
}
END_TEST

/* Threads: one handle per thread, as in the milter. */
typedef struct targ {
	tally t;                /* this thread's results */
	atomic_int *done;       /* set when the writer has finished */
} targ;

static int flag_set(void *arg)
{
	return atomic_load((atomic_int *)arg);
}

static void *reader_thread(void *p)
{
	targ *a = p;

	reader(&a->t, flag_set, a->done, -1);
	return NULL;
}

static void *writer_thread(void *p)
{
	targ *a = p;

	writer(&a->t);
	atomic_store(a->done, 1);
	return NULL;
}

START_TEST(test_threads)
{
	atomic_int done = 0;
	targ r[READERS], w;
	pthread_t rt[READERS], wt;

	memset(&w, 0, sizeof(w));
	w.done = &done;
	for (int i = 0; i < READERS; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		r[i].done = &done;
		ck_assert_int_eq(pthread_create(&rt[i], NULL, reader_thread,
		    &r[i]), 0);
	}
	ck_assert_int_eq(pthread_create(&wt, NULL, writer_thread, &w), 0);
	ck_assert_int_eq(pthread_join(wt, NULL), 0);
	for (int i = 0; i < READERS; i++)
		ck_assert_int_eq(pthread_join(rt[i], NULL), 0);
	ck_assert_msg(w.t.busy == 0 && w.t.other == 0,
	    "writer: %ld busy, %ld other; last: %s", w.t.busy, w.t.other,
	    w.t.last);
	for (int i = 0; i < READERS; i++) {
		ck_assert_msg(r[i].t.busy == 0 && r[i].t.other == 0,
		    "reader: %ld busy, %ld other; last: %s", r[i].t.busy,
		    r[i].t.other, r[i].t.last);
		ck_assert_int_eq(r[i].t.inconsistent, 0);
		ck_assert_int_gt(r[i].t.ops, 0);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("db_concurrency");
	TCase *tc = tcase_create("wal");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_processes);
	tcase_add_test(tc, test_threads);
	suite_add_tcase(s, tc);
	return test_run(s);
}
