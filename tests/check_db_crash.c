/*
 * check_db_crash -- crash safety of the SQLite store: a child process trains
 * messages in transactions (tokens and totals together) and is killed with
 * SIGKILL in the middle of its run; the store must then pass db_check, hold
 * only whole transactions, and keep totals that match the token rows.
 *
 * The same with deferred writes (db_defer, as `spamsift train` does): the
 * store then holds whole flushes, each of whole transactions.
 *
 * Deterministic in what it asserts: the kill lands at an arbitrary point, and
 * every property checked must hold wherever it lands.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "db/db.h"
#include "tests/testutil.h"

#define SPECIAL 0xC0FFEEULL     /* the token present in every message */
#define PER_MSG 300             /* other tokens per message */
#define PER_TXN 8               /* messages per transaction */
#define POOL 20000              /* distinct other tokens */

static char dir[64];
static char path[128];

static void setup(void)
{
	test_mkdtemp(dir, sizeof(dir), "check_db_crash");
	snprintf(path, sizeof(path), "%s/store.db", dir);
}

static void teardown(void)
{
	ck_assert_int_eq(test_rmtree(dir), 0);
}

/*
 * The trainer: message k is spam when k is even, innocent when odd; it has
 * SPECIAL and PER_MSG pseudo-random tokens from the pool. It writes 'm' to fd
 * after each message's updates (inside the transaction) and 'c' after each
 * commit that is in the store (deferred: after a commit that flushed).
 * Never returns.
 */
static void trainer(int fd, uint64_t seed, int deferred)
{
	char err[512];
	uint64_t h[PER_MSG + 1];
	db *d;
	int64_t uid;

	if (db_open(path, DB_OPEN_CREATE, &d, err, sizeof(err)) < 0 ||
	    db_user(d, "alice", 1, &uid) < 0)
		_exit(2);
	/* ~3,700 combined tokens: a flush every dozen messages or so */
	if (deferred && db_defer(d, 1 << 20) < 0)
		_exit(2);
	for (uint64_t k = seed;; ) {
		if (db_begin(d) < 0)
			_exit(3);
		for (int m = 0; m < PER_TXN; m++, k++) {
			int spam = k % 2 == 0;
			db_totals t = { .spam_learned = spam,
			    .innocent_learned = !spam };
			uint64_t x = k * 0x9E3779B97F4A7C15ULL + 1;

			h[0] = SPECIAL;
			for (int i = 1; i <= PER_MSG; i++) {
				x ^= x << 13;
				x ^= x >> 7;
				x ^= x << 17;
				h[i] = x % POOL + 1;
			}
			/* duplicates within a message would count twice:
			 * the real token set is distinct, so dedup here */
			for (int i = 1; i <= PER_MSG; i++)
				for (int j = 1; j < i; j++)
					if (h[j] == h[i]) {
						h[i] = POOL + 1 + (uint64_t)i;
						break;
					}
			if (db_tokens_update(d, uid, h, PER_MSG + 1, spam, !spam,
			    (int)(k / 100)) < 0 || db_totals_add(d, uid, &t) < 0)
				_exit(4);
			if (write(fd, "m", 1) != 1)
				_exit(6);
		}
		if (db_commit(d) < 0)
			_exit(5);
		if (!deferred && write(fd, "c", 1) != 1)
			_exit(6);
		/* deferred: every commit so far is in the store */
		if (deferred && db_pending(d) == 0 && write(fd, "f", 1) != 1)
			_exit(6);
	}
}

/*
 * Start a trainer, let it train `messages` messages, kill it: when messages
 * is not a multiple of PER_TXN that is inside a transaction, otherwise just
 * before or during its commit. Returns the commits it acknowledged.
 */
static int train_and_kill(int messages, uint64_t seed, int deferred)
{
	int fds[2], status, commits = 0;
	pid_t pid;
	char c;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(fds[0]);
		trainer(fds[1], seed, deferred);
	}
	close(fds[1]);
	for (int m = 0; m < messages; ) {
		ck_assert_msg(read(fds[0], &c, 1) == 1, "trainer died early");
		if (c == 'm')
			m++;
		else if (c == 'c')
			commits++;
		else            /* 'f': all transactions so far were flushed */
			commits = m / PER_TXN;
	}
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
	    "trainer failed on its own: status %d", status);
	close(fds[0]);
	return commits;
}

static void verify(int64_t min_messages)
{
	char err[512], *rep = NULL;
	db *d;
	int64_t uid;
	int ok = 0;
	db_totals t;
	db_token s = { .hash = SPECIAL };

	ck_assert_int_eq(db_open(path, 0, &d, err, sizeof(err)), 0);
	ck_assert_int_eq(db_check(d, &ok, &rep), 0);
	ck_assert_msg(ok == 1, "store not sound after SIGKILL:\n%s", rep);
	free(rep);
	ck_assert_int_eq(db_user(d, "alice", 0, &uid), 0);
	ck_assert_int_gt(uid, 0);
	ck_assert_int_eq(db_totals_get(d, uid, &t), 0);
	ck_assert_int_eq(db_tokens_get(d, uid, &s, 1), 0);
	/* tokens and totals were committed together */
	ck_assert_int_eq(s.spam_hits, t.spam_learned);
	ck_assert_int_eq(s.innocent_hits, t.innocent_learned);
	/* only whole transactions, and every acknowledged one */
	ck_assert_int_eq((t.spam_learned + t.innocent_learned) % PER_TXN, 0);
	ck_assert_int_ge(t.spam_learned + t.innocent_learned, min_messages);
	db_close(d);
}

/* kill points: first transaction, mid-transaction, at a commit */
static const int kill_at[] = { 3, 5 * PER_TXN + 3, 4 * PER_TXN,
    7 * PER_TXN + PER_TXN - 1, 1, 40 * PER_TXN + 5, 33 * PER_TXN };

static void rounds(int deferred)
{
	int64_t acked = 0;

	/* several rounds: each resumes on the store the last one left */
	for (size_t r = 0; r < sizeof(kill_at) / sizeof(kill_at[0]); r++) {
		acked += train_and_kill(kill_at[r], (uint64_t)r * 1000003,
		    deferred) * PER_TXN;
		verify(acked);
	}
	/* the rounds got far enough to commit (deferred: to flush) */
	ck_assert_int_gt(acked, 0);
}

START_TEST(test_sigkill_mid_training)
{
	rounds(0);
}
END_TEST

START_TEST(test_sigkill_mid_deferred_training)
{
	rounds(1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("db_crash");
	TCase *tc = tcase_create("sigkill");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_sigkill_mid_training);
	tcase_add_test(tc, test_sigkill_mid_deferred_training);
	suite_add_tcase(s, tc);
	return test_run(s);
}
