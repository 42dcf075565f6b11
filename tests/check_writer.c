/*
 * check_writer -- the milter's writer thread (milter/writer.c) against a
 * store it cannot open: what it says, and when. The daemon's log goes to
 * standard error here (log_open with to_stderr), which each test sends to a
 * file in its temporary directory. Learning comes from
 * filter_classify_deferred on an in-memory store, as the milter makes it.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "classifier/filter.h"
#include "classifier/tok.h"
#include "db/db.h"
#include "milter/log.h"
#include "milter/writer.h"
#include "tests/testutil.h"

static char dir[64];
static char logpath[128];

static void setup(void)
{
	int fd;

	test_mkdtemp(dir, sizeof(dir), "check_writer");
	snprintf(logpath, sizeof(logpath), "%s/log", dir);
	fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(dup2(fd, 2), 2);
	close(fd);
	unsetenv("JOURNAL_STREAM");
	ck_assert_int_eq(log_open("check_writer", "mail", 1), 0);
}

static void teardown(void)
{
	log_close();
	ck_assert_int_eq(test_rmtree(dir), 0);
}

/* Does the log hold a line with text? */
static int logged(const char *text)
{
	char line[4096];
	FILE *f = fopen(logpath, "r");
	int found = 0;

	ck_assert_ptr_nonnull(f);
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = strstr(line, text) != NULL;
	fclose(f);
	return found;
}

/* Wait (at most about 10 s) for a line with text. */
static int wait_logged(const char *text)
{
	for (int i = 0; i < 1000; i++) {
		if (logged(text))
			return 1;
		nanosleep(&(struct timespec){ 0, 10000000 }, NULL);
	}
	return 0;
}

/* One message's learning, as the milter queues it. */
static filter_pending *pending(void)
{
	filter_pending *pd = NULL;
	filter_params p;
	filter_result r;
	tokset *t = NULL;
	db *m = NULL;
	char err[256];

	filter_params_default(&p);
	ck_assert_int_eq(db_open("mem:", DB_OPEN_CREATE, &m, err, sizeof(err)), 0);
	ck_assert_int_eq(tokset_new(100, 0, &t), 0);
	ck_assert_int_ge(tokset_add(t, "lunch", 5), 0);
	ck_assert_int_ge(tokset_add(t, "friday", 6), 0);
	ck_assert_int_eq(filter_classify_deferred(m, "alice", t, "a@x.example",
	    &p, 1700000000, &r, &pd), 0);
	ck_assert_ptr_nonnull(pd);
	tokset_free(t);
	db_close(m);
	return pd;
}

/*
 * A store the writer cannot open (here its directory is missing; a newer
 * spamsift's schema, a store it may not read) is said at once, at err, with
 * why, while the learning waits; it was said only at the stop ("store
 * writes lost at shutdown"), so a milter whose store a newer spamsift had
 * upgraded classified for weeks and learned nothing, without a line. A
 * quarantine copy withdrawn meanwhile gives that reason, not "store busy".
 */
START_TEST(test_unavailable_store_logged)
{
	char path[160], why[1024];
	filter_pending *pd = pending();
	db_quar q = { .sender = "a@x.example", .recipients = "alice",
	    .subject = "s", .data = "x", .len = 1 };
	int64_t id = 0;

	snprintf(path, sizeof(path), "%s/gone/store.db", dir);
	ck_assert_int_eq(writer_start(path), 0);
	writer_push(pd, filter_pending_bytes(pd));
	ck_assert_msg(wait_logged("cannot open store"),
	    "no line while learning waits for a store that cannot be opened");
	ck_assert(logged(path));
	ck_assert(logged("/gone"));     /* why: its directory */
	ck_assert_int_eq(writer_quarantine("alice", &q, 300, &id, why,
	    sizeof(why)), -ETIMEDOUT);
	ck_assert_msg(strstr(why, "store unavailable for 300 ms") != NULL &&
	    strstr(why, "/gone") != NULL, "why: %s", why);
	ck_assert_uint_eq(writer_stop(0), 1);   /* the learning, lost */
}
END_TEST

/* A store it can open gets the learning and no such line. */
START_TEST(test_store_written)
{
	char path[160], err[256];
	filter_pending *pd = pending();
	db *d = NULL;
	int64_t uid = 0;

	snprintf(path, sizeof(path), "%s/store.db", dir);
	ck_assert_int_eq(writer_start(path), 0);
	writer_push(pd, filter_pending_bytes(pd));
	ck_assert_uint_eq(writer_stop(10), 0);
	ck_assert(!logged("cannot open store"));
	ck_assert_int_eq(db_open(path, 0, &d, err, sizeof(err)), 0);
	ck_assert_int_eq(db_user(d, "alice", 0, &uid), 0);
	ck_assert_int_gt(uid, 0);
	db_close(d);
}
END_TEST

/* One thread's quarantine copy, and how its wait ended. */
struct qthread {
	pthread_t t;
	int timeout_ms;         /* its wait */
	int rc;
	double ms;              /* how long writer_quarantine took */
	char why[1024];
};

static int count_cb(void *arg, const db_quar *q)
{
	(void)q;
	(*(int *)arg)++;
	return 0;
}

static void *quarantine_one(void *arg)
{
	struct qthread *w = arg;
	db_quar q = { .sender = "a@x.example", .recipients = "alice",
	    .subject = "s", .data = "x", .len = 1 };
	struct timespec t0, t1;
	int64_t id = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	w->rc = writer_quarantine("alice", &q, w->timeout_ms, &id, w->why,
	    sizeof(w->why));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	w->ms = (double)(t1.tv_sec - t0.tv_sec) * 1000 +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	return NULL;
}

/*
 * Copies queued together while another process holds the store's write
 * lock: each thread has its answer soon after its own wait (1 and 3 s here),
 * and none is stored after it (its thread answered Postfix per OnFail, so
 * the sender's retry would be quarantined again). The writer tried every
 * copy of a round, each waiting a second for the lock, while their threads
 * could not give up: the 7 copies queued behind the first answered after
 * 7 s or more, and those tried once the lock was gone were stored though
 * their threads had given up.
 */
START_TEST(test_locked_copies_answered_in_time)
{
	enum { N = 8 };
	struct qthread w[N];
	char path[160], err[256];
	db *holder = NULL;
	int64_t uid = 0;
	int stored = 0;

	snprintf(path, sizeof(path), "%s/store.db", dir);
	ck_assert_int_eq(db_open(path, DB_OPEN_CREATE, &holder, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(db_user(holder, "alice", 1, &uid), 0);
	ck_assert_int_eq(db_begin(holder), 0);          /* the write lock */
	ck_assert_int_eq(db_pref_set(holder, uid, "spamAction", "tag"), 0);
	ck_assert_int_eq(writer_start(path), 0);
	/*
	 * The first copy is the writer's batch, tried again and again; the
	 * others queue meanwhile, and become one batch when it gives up.
	 */
	for (int i = 0; i < N; i++) {
		w[i].timeout_ms = i == 0 ? 1000 : 3000;
		ck_assert_int_eq(pthread_create(&w[i].t, NULL, quarantine_one,
		    &w[i]), 0);
		if (i == 0)
			nanosleep(&(struct timespec){ 0, 300000000 }, NULL);
	}
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(pthread_join(w[i].t, NULL), 0);
	ck_assert_int_eq(db_rollback(holder), 0);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(w[i].rc, -ETIMEDOUT);
		ck_assert_msg(strstr(w[i].why, "store busy") != NULL,
		    "why: %s", w[i].why);
		/* its wait, then at most one try of the lock (1 s) */
		ck_assert_msg(w[i].ms < w[i].timeout_ms + 1800, "copy %d "
		    "answered after %.0f ms, its wait %d ms", i, w[i].ms,
		    w[i].timeout_ms);
	}
	ck_assert_uint_eq(writer_stop(10), 0);
	ck_assert_int_eq(db_quar_iter(holder, uid, count_cb, &stored), 0);
	ck_assert_int_eq(stored, 0);
	db_close(holder);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("writer");
	TCase *tc = tcase_create("writer");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_unavailable_store_logged);
	tcase_add_test(tc, test_store_written);
	tcase_add_test(tc, test_locked_copies_answered_in_time);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return test_run(s);
}
