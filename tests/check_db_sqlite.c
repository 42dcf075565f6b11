/*
 * check_db_sqlite -- what only the SQLite backend does: persistence, files
 * that are not stores (random bytes, another program's database, a newer
 * schema), locking between handles, disk full, read-only, corruption, and
 * every db_tokens_get strategy. Real files in a temporary directory.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "db/db.h"
#include "db/db_impl.h"
#include "tests/testutil.h"

static char dir[64];
static char path[128];
static char err[1024];

static void setup(void)
{
	test_mkdtemp(dir, sizeof(dir), "check_db_sqlite");
	snprintf(path, sizeof(path), "%s/store.db", dir);
	err[0] = '\0';
}

static void teardown(void)
{
	ck_assert_int_eq(test_rmtree(dir), 0);
}

static db *open_ok(int flags)
{
	db *d = NULL;
	int rc = db_open(path, flags, &d, err, sizeof(err));

	ck_assert_msg(rc == 0, "open: %d %s", rc, err);
	return d;
}

static void write_file(const char *p, const void *buf, size_t len, off_t at)
{
	int fd = open(p, O_WRONLY | O_CREAT, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, buf, len, at), (ssize_t)len);
	ck_assert_int_eq(close(fd), 0);
}

/* A store with one user and n tokens (hash i+1, spam_hits 1). */
static db *make_store(size_t n, int64_t *uid)
{
	db *d = open_ok(DB_OPEN_CREATE);
	uint64_t *h = malloc(n * sizeof(*h));
	db_totals one = { .spam_learned = 1 };

	ck_assert_ptr_nonnull(h);
	for (size_t i = 0; i < n; i++)
		h[i] = i + 1;
	ck_assert_int_eq(db_user(d, "alice", 1, uid), 0);
	ck_assert_int_eq(db_begin(d), 0);
	ck_assert_int_eq(db_tokens_update(d, *uid, h, n, 1, 0, 1), 0);
	ck_assert_int_eq(db_totals_add(d, *uid, &one), 0);
	ck_assert_int_eq(db_commit(d), 0);
	free(h);
	return d;
}

/* The store file's size in bytes. */
static off_t file_size(const char *p)
{
	struct stat st;

	ck_assert_int_eq(stat(p, &st), 0);
	return st.st_size;
}

/*
 * A handle opened with DB_OPEN_OWN_CHECKPOINT leaves a big commit in the
 * write-ahead log until db_checkpoint copies it into the file; a plain
 * handle checkpoints at the commit.
 */
START_TEST(test_own_checkpoint)
{
	enum { N = 400000 };    /* ~2,500 pages of token rows */
	uint64_t *h = malloc(N * sizeof(*h));
	db *d;
	int64_t uid;
	off_t before;

	ck_assert_ptr_nonnull(h);
	for (size_t i = 0; i < N; i++)
		h[i] = (i + 1) * 0x9E3779B97F4A7C15ULL;
	d = open_ok(DB_OPEN_CREATE | DB_OPEN_OWN_CHECKPOINT);
	ck_assert_int_eq(db_user(d, "alice", 1, &uid), 0);
	ck_assert_int_eq(db_checkpoint(d), 0);  /* small log: nothing to do */
	before = file_size(path);
	ck_assert_int_eq(db_tokens_update(d, uid, h, N, 1, 0, 1), 0);
	ck_assert_int_eq(file_size(path), before);      /* all in the log */
	ck_assert_int_eq(db_begin(d), 0);
	ck_assert_int_eq(db_checkpoint(d), -EINVAL);    /* not in a transaction */
	ck_assert_int_eq(db_rollback(d), 0);
	ck_assert_int_eq(db_checkpoint(d), 0);
	ck_assert_int_gt(file_size(path), before + 4 * 1024 * 1024);
	db_close(d);
	/* a plain handle: the commit checkpoints by itself */
	ck_assert_int_eq(unlink(path), 0);
	d = open_ok(DB_OPEN_CREATE);
	ck_assert_int_eq(db_user(d, "alice", 1, &uid), 0);
	before = file_size(path);
	ck_assert_int_eq(db_tokens_update(d, uid, h, N, 1, 0, 1), 0);
	ck_assert_int_gt(file_size(path), before + 4 * 1024 * 1024);
	db_close(d);
	free(h);
}
END_TEST

/*
 * A reader that holds a snapshot (an export, db check) keeps checkpoints
 * from finishing, so the write-ahead log grows with every commit made
 * meanwhile. Once it is gone the log starts over, and its file is cut back
 * too: it kept its largest size for as long as the milter ran.
 */
START_TEST(test_log_shrinks_after_long_reader)
{
	enum { N = 20000 };
	const off_t limit = 16 * 1024 * 1024;   /* JOURNAL_LIMIT_BYTES, about */
	uint64_t *h = malloc(N * sizeof(*h));
	char wal[160];
	db *w, *r;
	int64_t uid;
	off_t peak = 0;

	ck_assert_ptr_nonnull(h);
	snprintf(wal, sizeof(wal), "%s-wal", path);
	w = open_ok(DB_OPEN_CREATE | DB_OPEN_OWN_CHECKPOINT);
	r = open_ok(0);
	ck_assert_int_eq(db_user(w, "alice", 1, &uid), 0);
	ck_assert_int_eq(db_read_begin(r), 0);
	/* The milter's writer: a commit, then db_checkpoint, over and over. */
	for (uint64_t round = 0; round < 200 && peak <= 3 * limit; round++) {
		for (size_t i = 0; i < N; i++)
			h[i] = (round * N + i + 1) * 0x9E3779B97F4A7C15ULL;
		ck_assert_int_eq(db_tokens_update(w, uid, h, N, 1, 0, 1), 0);
		ck_assert_int_eq(db_checkpoint(w), 0);
		peak = file_size(wal);
	}
	ck_assert_int_gt(peak, 3 * limit);      /* the reader held it back */
	ck_assert_int_eq(db_read_end(r), 0);
	/* Copied at the next checkpoint, started over at the next commit. */
	for (int round = 0; round < 3; round++) {
		h[0] = (uint64_t)round + 1;
		ck_assert_int_eq(db_tokens_update(w, uid, h, 1, 1, 0, 1), 0);
		ck_assert_int_eq(db_checkpoint(w), 0);
	}
	ck_assert_int_le(file_size(wal), limit + 1024 * 1024);
	db_close(r);
	db_close(w);
	free(h);
}
END_TEST

/*
 * Several processes create the same new store at once (the milter's first
 * start beside `spamsift db init`, two trainers): every one opens it. The
 * switch to WAL failed at once with "database is locked", and a process
 * that read the version before another's creation and the tables after it
 * took the store for another program's. A race: 100 rounds of 4 openers,
 * released together; the old code failed in about one round in ten.
 */
START_TEST(test_concurrent_create)
{
	enum { ROUNDS = 100, PROCS = 4 };
	char p[160];

	for (int round = 0; round < ROUNDS; round++) {
		int go[2], status, failed = 0;
		pid_t pid[PROCS];

		snprintf(p, sizeof(p), "%s/new%d.db", dir, round);
		ck_assert_int_eq(pipe(go), 0);
		for (int k = 0; k < PROCS; k++) {
			ck_assert_int_ge(pid[k] = fork(), 0);
			if (pid[k] == 0) {
				char c, e[512];
				db *d = NULL;
				int64_t uid = 0;
				int rc;

				close(go[1]);
				(void)!read(go[0], &c, 1);      /* all at once */
				rc = db_open(p, DB_OPEN_CREATE, &d, e, sizeof(e));
				if (rc == 0)
					rc = db_user(d, "alice", 1, &uid);
				if (rc < 0)
					fprintf(stderr, "open %s: %d %s\n", p, rc,
					    d ? db_errmsg(d) : e);
				db_close(d);
				_exit(rc == 0 && uid > 0 ? 0 : 1);
			}
		}
		close(go[0]);
		close(go[1]);           /* EOF releases them */
		for (int k = 0; k < PROCS; k++) {
			ck_assert_int_eq(waitpid(pid[k], &status, 0), pid[k]);
			failed += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
		}
		ck_assert_msg(failed == 0, "round %d: %d of %d opens failed",
		    round, failed, PROCS);
	}
}
END_TEST

START_TEST(test_persists)
{
	int64_t uid, again;
	db *d = make_store(10, &uid);
	db_token t = { .hash = 3 };
	char v[8];
	int found;

	ck_assert_int_eq(db_pref_set(d, uid, "k", "v"), 0);
	db_close(d);
	/* plain path and sqlite: spec name the same store */
	d = open_ok(0);
	ck_assert_int_eq(db_user(d, "alice", 0, &again), 0);
	ck_assert_int_eq(again, uid);
	ck_assert_int_eq(db_tokens_get(d, uid, &t, 1), 0);
	ck_assert_int_eq(t.spam_hits, 1);
	db_close(d);
	char spec[160];
	snprintf(spec, sizeof(spec), "sqlite:%s", path);
	ck_assert_int_eq(db_open(spec, DB_OPEN_READONLY, &d, err, sizeof(err)), 0);
	ck_assert_int_eq(db_pref_get(d, uid, "k", v, sizeof(v), &found), 0);
	ck_assert_int_eq(found, 1);
	ck_assert_str_eq(v, "v");
	db_close(d);
}
END_TEST

START_TEST(test_missing_file)
{
	db *d = (db *)1;

	ck_assert_int_eq(db_open(path, 0, &d, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_null(d);
	ck_assert_ptr_nonnull(strstr(err, path));
	ck_assert_int_eq(db_open(path, DB_OPEN_READONLY | DB_OPEN_CREATE, &d,
	    err, sizeof(err)), -ENOENT);
	/* creating in a directory that does not exist says which */
	{
		char missing[256];

		snprintf(missing, sizeof(missing), "%s/no-such-dir/s.db", dir);
		ck_assert_int_eq(db_open(missing, DB_OPEN_CREATE, &d, err,
		    sizeof(err)), -ENOENT);
		ck_assert_ptr_nonnull(strstr(err, "directory "));
		ck_assert_ptr_nonnull(strstr(err, "no-such-dir: No such file or directory"));
	}
	/* an empty file is not a store unless we may create it */
	write_file(path, "", 0, 0);
	ck_assert_int_eq(db_open(path, 0, &d, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "empty"));
	d = open_ok(DB_OPEN_CREATE);
	db_close(d);
	d = open_ok(0);
	db_close(d);
}
END_TEST

START_TEST(test_random_bytes)
{
	unsigned char junk[8192];
	db *d = (db *)1;

	srand(42);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)rand();
	write_file(path, junk, sizeof(junk), 0);
	ck_assert_int_eq(db_open(path, DB_OPEN_CREATE, &d, err, sizeof(err)), -EIO);
	ck_assert_ptr_null(d);
	ck_assert_ptr_nonnull(strstr(err, path));
	ck_assert_ptr_nonnull(strstr(err, "not a database"));
	ck_assert_int_eq(db_open(path, DB_OPEN_READONLY, &d, err, sizeof(err)), -EIO);
}
END_TEST

START_TEST(test_newer_schema)
{
	int64_t uid;
	db *d = make_store(1, &uid);
	/* user_version: 4 bytes, big-endian, at offset 60 of the header */
	unsigned char v99[4] = { 0, 0, 0, 99 };

	db_close(d);    /* the last close checkpoints the WAL into the file */
	write_file(path, v99, 4, 60);
	ck_assert_int_eq(db_open(path, 0, &d, err, sizeof(err)), -EPROTO);
	ck_assert_ptr_nonnull(strstr(err, path));
	ck_assert_ptr_nonnull(strstr(err, "newer"));
	ck_assert_ptr_nonnull(strstr(err, "99"));
}
END_TEST

/* The store's user_version (4 bytes, big-endian, at offset 60). */
static unsigned file_version(const char *p)
{
	unsigned char v[4];
	int fd = open(p, O_RDONLY);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, v, 4, 60), 4);
	close(fd);
	return (unsigned)v[0] << 24 | (unsigned)v[1] << 16 | (unsigned)v[2] << 8 | v[3];
}

/* The page size in a SQLite file's header (offset 16, big-endian; 1 is 65536). */
static unsigned file_page_size(const char *p)
{
	unsigned char v[2];
	int fd = open(p, O_RDONLY);
	unsigned n;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, v, 2, 16), 2);
	close(fd);
	n = (unsigned)v[0] << 8 | v[1];
	return n == 1 ? 65536 : n;
}

/* A new store gets 16 KiB pages; a file made before keeps its own. */
START_TEST(test_page_size)
{
	int64_t uid;
	db *d = make_store(10, &uid);
	db_token t = { .hash = 3 };
	sqlite3 *h;

	db_close(d);
	ck_assert_uint_eq(file_page_size(path), 16384);
	/* An empty database file with SQLite's default 4 KiB pages, as every
	 * store was before: spamsift creates its schema in it. */
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(sqlite3_open(path, &h), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(h, "PRAGMA page_size = 4096; "
	    "PRAGMA journal_mode = WAL", NULL, NULL, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_close(h), SQLITE_OK);
	d = make_store(10, &uid);
	db_close(d);
	ck_assert_uint_eq(file_page_size(path), 4096);
	d = open_ok(0);
	ck_assert_int_eq(db_tokens_get(d, uid, &t, 1), 0);
	ck_assert_int_eq(t.spam_hits, 1);
	db_close(d);
}
END_TEST

START_TEST(test_migrate_from_1)
{
	int64_t uid;
	db *d = make_store(10, &uid);
	db_token t = { .hash = 3 };
	uint64_t h = 3;

	/* Make it what schema 1 was: no generation table, no signature
	 * senders, no day a sender was last seen. */
	ck_assert_int_eq(db_sqlite_exec(d, "DROP TABLE generation; "
	    "ALTER TABLE signatures DROP COLUMN sender; "
	    "ALTER TABLE senders DROP COLUMN last_seen; "
	    "ALTER TABLE signatures DROP COLUMN ntok; "
	    "ALTER TABLE signatures DROP COLUMN head; "
	    "PRAGMA user_version = 1"), 0);
	db_close(d);
	ck_assert_uint_eq(file_version(path), 1);
	/* Opening migrates it forward; what it held is intact and it learns
	 * (every write raises the generation the migration added). */
	d = open_ok(0);
	ck_assert_int_eq(db_tokens_get(d, uid, &t, 1), 0);
	ck_assert_int_eq(t.spam_hits, 1);
	ck_assert_int_eq(db_tokens_update(d, uid, &h, 1, 1, 0, 2), 0);
	ck_assert_int_eq(db_tokens_get(d, uid, &t, 1), 0);
	ck_assert_int_eq(t.spam_hits, 2);
	ck_assert_int_eq(db_sqlite_exec(d, "SELECT gen FROM generation"), 0);
	db_close(d);
	ck_assert_uint_eq(file_version(path), 6);
}
END_TEST

/* Schema 3 keeps a signature's sender; older signatures read with none. */
START_TEST(test_migrate_from_2)
{
	int64_t uid;
	db *d = make_store(1, &uid);
	uint64_t h = 7;
	db_sig sig = { .id = "0123456789abcdef0123456789abcdef", .uid = uid,
	    .cls = DB_CLASS_SPAM, .learned = 1, .created = 5,
	    .sender = "x@example.org", .hashes = &h, .nhashes = 1 };
	db_sig *got = NULL;

	ck_assert_int_eq(db_sig_put(d, &sig), 0);
	ck_assert_int_eq(db_sig_get(d, uid, sig.id, &got), 0);
	ck_assert_ptr_nonnull(got);
	ck_assert_str_eq(got->sender, "x@example.org");
	db_sig_free(got);
	ck_assert_int_eq(db_sqlite_exec(d, "ALTER TABLE signatures DROP COLUMN "
	    "sender; ALTER TABLE senders DROP COLUMN last_seen; "
	    "ALTER TABLE signatures DROP COLUMN ntok; "
	    "ALTER TABLE signatures DROP COLUMN head; "
	    "PRAGMA user_version = 2"), 0);
	db_close(d);
	ck_assert_uint_eq(file_version(path), 2);
	d = open_ok(0);
	ck_assert_int_eq(db_sig_get(d, uid, sig.id, &got), 0);
	ck_assert_ptr_nonnull(got);
	ck_assert_str_eq(got->sender, "");
	ck_assert_int_eq(got->cls, DB_CLASS_SPAM);
	ck_assert_uint_eq(got->nhashes, 1);
	ck_assert_uint_eq(got->hashes[0], 7);
	ck_assert_uint_eq(got->ntok, 0);        /* not known */
	db_sig_free(got);
	db_close(d);
	ck_assert_uint_eq(file_version(path), 6);
}
END_TEST

/*
 * Schema 4 notes the day each sender was last seen: senders of an older
 * store count as seen on the day of the upgrade (not as never seen, which
 * the first purge would have forgotten at once), and purge goes on from
 * there.
 */
START_TEST(test_migrate_from_3)
{
	int64_t uid, n = -1;
	db *d = make_store(1, &uid);
	int today = (int)(time(NULL) / 86400);
	db_sender s;

	ck_assert_int_eq(db_sender_add(d, uid, "old@x.example", 1, 0, 10,
	    NULL), 0);
	ck_assert_int_eq(db_sqlite_exec(d, "ALTER TABLE senders DROP COLUMN "
	    "last_seen; ALTER TABLE signatures DROP COLUMN ntok; "
	    "ALTER TABLE signatures DROP COLUMN head; PRAGMA user_version = 3"), 0);
	db_close(d);
	ck_assert_uint_eq(file_version(path), 3);
	d = open_ok(0);
	ck_assert_int_eq(db_sender_purge(d, today - 1, 1, &n), 0);
	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(db_sender_add(d, uid, "old@x.example", 0, 0, today,
	    &s), 0);
	ck_assert_int_eq(s.innocent, 1);
	ck_assert_int_eq(db_sender_purge(d, today + 2, 1, &n), 0);
	ck_assert_int_eq(n, 1);
	db_close(d);
	ck_assert_uint_eq(file_version(path), 6);
}
END_TEST

/*
 * Older versions took a message from a class's learned total for a
 * correction of a message never learned as that class, while its tokens
 * kept their hits: the upgrade raises such a total to its tokens' most
 * hits (db check then passes) and leaves every other count as it was.
 */
START_TEST(test_migrate_from_5)
{
	int64_t uid, bob;
	db *d = make_store(3, &uid);
	uint64_t h = 9;
	db_totals t, two = { .spam_learned = 2, .innocent_learned = 1 };
	char *rep = NULL;
	int ok = 0;

	ck_assert_int_eq(db_user(d, "bob", 1, &bob), 0);
	ck_assert_int_eq(db_begin(d), 0);
	ck_assert_int_eq(db_tokens_update(d, bob, &h, 1, 2, 1, 1), 0);
	ck_assert_int_eq(db_totals_add(d, bob, &two), 0);
	ck_assert_int_eq(db_commit(d), 0);
	/* alice's one spam taken back by such a correction */
	ck_assert_int_eq(db_sqlite_exec(d, "UPDATE totals SET spam_learned = 0, "
	    "innocent_learned = 1, innocent_misclassified = 1 WHERE uid = "
	    "(SELECT id FROM users WHERE name = 'alice'); "
	    "PRAGMA user_version = 5"), 0);
	ck_assert_int_eq(db_check(d, &ok, &rep), 0);
	ck_assert_int_eq(ok, 0);
	free(rep);
	rep = NULL;
	db_close(d);
	ck_assert_uint_eq(file_version(path), 5);
	d = open_ok(0);
	ck_assert_int_eq(db_check(d, &ok, &rep), 0);
	ck_assert_msg(ok, "%s", rep);
	free(rep);
	ck_assert_int_eq(db_totals_get(d, uid, &t), 0);
	ck_assert_int_eq(t.spam_learned, 1);
	ck_assert_int_eq(t.innocent_learned, 1);
	ck_assert_int_eq(t.innocent_misclassified, 1);
	ck_assert_int_eq(db_totals_get(d, bob, &t), 0);
	ck_assert_int_eq(t.spam_learned, 2);
	ck_assert_int_eq(t.innocent_learned, 1);
	db_close(d);
	ck_assert_uint_eq(file_version(path), 6);
}
END_TEST

START_TEST(test_foreign_database)
{
	int64_t uid;
	db *d = make_store(1, &uid);

	/* another program's database: tables, no version, no application id */
	ck_assert_int_eq(db_sqlite_exec(d, "PRAGMA user_version = 0; "
	    "PRAGMA application_id = 0"), 0);
	db_close(d);
	ck_assert_int_eq(db_open(path, DB_OPEN_CREATE, &d, err, sizeof(err)),
	    -EPROTO);
	ck_assert_ptr_nonnull(strstr(err, "not a spamsift store"));
	ck_assert_int_eq(db_sqlite_exec(NULL, "SELECT 1"), -EINVAL);
}
END_TEST

START_TEST(test_locked)
{
	int64_t uid;
	db *a = make_store(5, &uid);
	db *b = open_ok(0);
	uint64_t h = 1;
	db_token t = { .hash = 1 };

	ck_assert_int_eq(db_busy_timeout(b, 50), 0);
	ck_assert_int_eq(db_begin(a), 0);
	ck_assert_int_eq(db_tokens_update(a, uid, &h, 1, 1, 0, 2), 0);
	/* writers wait, then fail with -EBUSY and a clear message */
	ck_assert_int_eq(db_begin(b), -EBUSY);
	ck_assert_ptr_nonnull(strstr(db_errmsg(b), path));
	ck_assert_ptr_nonnull(strstr(db_errmsg(b), "locked"));
	ck_assert_int_eq(db_tokens_update(b, uid, &h, 1, 1, 0, 2), -EBUSY);
	ck_assert_int_eq(db_pref_set(b, uid, "k", "v"), -EBUSY);
	/* readers do not wait, and see the last commit */
	ck_assert_int_eq(db_tokens_get(b, uid, &t, 1), 0);
	ck_assert_int_eq(t.spam_hits, 1);
	ck_assert_int_eq(db_commit(a), 0);
	ck_assert_int_eq(db_tokens_get(b, uid, &t, 1), 0);
	ck_assert_int_eq(t.spam_hits, 2);
	ck_assert_int_eq(db_begin(b), 0);
	ck_assert_int_eq(db_commit(b), 0);
	db_close(a);
	db_close(b);
}
END_TEST

/*
 * The quarantine lock (what keeps two releases of a message from both
 * delivering it): another handle, of this process too, cannot take it
 * (an flock: a POSIX lock would be the process's) and gets -EBUSY after the
 * busy timeout, naming the lock file; it is not a lock on the data; it is
 * given up by db_quar_unlock, by db_close, and by the death of its holder
 * (a release killed half way must not leave the quarantine locked for
 * good). Its file gets read and write for whoever may write the store,
 * whatever the umask.
 */
START_TEST(test_quar_lock)
{
	int64_t uid, id;
	db *a = make_store(1, &uid);
	db *b = open_ok(0);
	db_quar q = { .uid = uid, .recipients = "a@x.example", .data = "m",
	    .len = 1 };
	char lp[160], x = 0;
	struct stat st;
	int pfd[2], status, found = 0;
	pid_t pid;
	mode_t old;

	snprintf(lp, sizeof(lp), "%s-quarantine.lock", path);
	ck_assert_int_eq(chmod(path, 0660), 0);
	ck_assert_int_eq(db_busy_timeout(a, 0), 0);
	ck_assert_int_eq(db_busy_timeout(b, 0), 0);
	old = umask(077);
	ck_assert_int_eq(db_quar_lock(a), 0);
	umask(old);
	ck_assert_int_eq(stat(lp, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0660);
	ck_assert_int_eq(db_quar_lock(b), -EBUSY);
	ck_assert_ptr_nonnull(strstr(db_errmsg(b), lp));
	ck_assert_int_eq(db_busy_timeout(b, 50), 0);
	ck_assert_int_eq(db_quar_lock(b), -EBUSY);
	ck_assert_int_eq(db_quar_put(b, &q, &id), 0);
	ck_assert_int_eq(db_quar_del(b, uid, id, &found), 0);
	ck_assert_int_eq(found, 1);
	ck_assert_int_eq(db_quar_unlock(a), 0);
	ck_assert_int_eq(db_quar_lock(b), 0);
	ck_assert_int_eq(db_quar_lock(a), -EBUSY);
	db_close(b);
	ck_assert_int_eq(db_quar_lock(a), 0);
	ck_assert_int_eq(db_quar_unlock(a), 0);
	/* A holder killed while it holds the lock. */
	ck_assert_int_eq(pipe(pfd), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		db *c = NULL;

		if (db_open(path, 0, &c, NULL, 0) < 0 || db_quar_lock(c) < 0 ||
		    write(pfd[1], "l", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(pfd[1]);
	ck_assert_int_eq(read(pfd[0], &x, 1), 1);
	close(pfd[0]);
	ck_assert_int_eq(db_quar_lock(a), -EBUSY);
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_int_eq(db_quar_lock(a), 0);
	db_close(a);
}
END_TEST

/*
 * A deferred transaction whose commit must flush, while another writer
 * holds the lock: the commit fails and the transaction is undone, so a
 * later flush writes only what came before it (it used to write it too).
 */
START_TEST(test_deferred_commit_fails_undone)
{
	int64_t uid;
	db *a = make_store(0, &uid), *b = open_ok(0);
	uint64_t first = 9999, h[800];
	db_totals one = { .spam_learned = 1 }, t;
	db_token tok = { .hash = 1 }, tf = { .hash = 9999 };

	for (size_t i = 0; i < 800; i++)
		h[i] = i + 1;
	ck_assert_int_eq(db_busy_timeout(a, 50), 0);
	ck_assert_int_eq(db_defer(a, 4096), 0);  /* full past ~700 tokens */
	/* an earlier message, deferred */
	ck_assert_int_eq(db_begin(a), 0);
	ck_assert_int_eq(db_tokens_update(a, uid, &first, 1, 1, 0, 1), 0);
	ck_assert_int_eq(db_totals_add(a, uid, &one), 0);
	ck_assert_int_eq(db_commit(a), 0);
	/* this one fills the buffer while b holds the write lock */
	ck_assert_int_eq(db_begin(b), 0);
	ck_assert_int_eq(db_pref_set(b, uid, "k", "v"), 0);
	ck_assert_int_eq(db_begin(a), 0);
	ck_assert_int_eq(db_tokens_update(a, uid, h, 800, 1, 0, 1), 0);
	ck_assert_int_eq(db_totals_add(a, uid, &one), 0);
	ck_assert_int_eq(db_commit(a), -EBUSY);
	ck_assert_int_eq(db_commit(b), 0);
	ck_assert_int_eq(db_flush(a), 0);
	ck_assert_int_eq(db_tokens_get(b, uid, &tf, 1), 0);
	ck_assert_int_eq(tf.spam_hits, 1);      /* the earlier one is stored */
	ck_assert_int_eq(db_tokens_get(b, uid, &tok, 1), 0);
	ck_assert_int_eq(tok.spam_hits, 0);     /* the failed one is not */
	ck_assert_int_eq(db_totals_get(b, uid, &t), 0);
	ck_assert_int_eq(t.spam_learned, 2);    /* make_store's and the first */
	/* and committed again once the lock is free, it is */
	ck_assert_int_eq(db_begin(a), 0);
	ck_assert_int_eq(db_tokens_update(a, uid, h, 800, 1, 0, 1), 0);
	ck_assert_int_eq(db_totals_add(a, uid, &one), 0);
	ck_assert_int_eq(db_commit(a), 0);
	ck_assert_int_eq(db_flush(a), 0);
	ck_assert_int_eq(db_tokens_get(b, uid, &tok, 1), 0);
	ck_assert_int_eq(tok.spam_hits, 1);
	ck_assert_int_eq(db_totals_get(b, uid, &t), 0);
	ck_assert_int_eq(t.spam_learned, 3);
	db_close(a);
	db_close(b);
}
END_TEST

/*
 * A signature read in a deferred transaction (`train` retraining by
 * signature) takes the write lock: another process cannot retrain the same
 * signature between that read and this transaction's writes (both reversed
 * the same learning: a message moved to Junk twice was counted twice).
 */
START_TEST(test_deferred_sig_read_locks)
{
	int64_t uid;
	db *a = make_store(1, &uid), *b = open_ok(0);
	uint64_t h = 1;
	db_sig sig = { .id = "0123456789abcdef0123456789abcdef", .uid = uid,
	    .cls = DB_CLASS_INNOCENT, .learned = 1, .created = 1,
	    .hashes = &h, .nhashes = 1 };
	db_sig *got = NULL;

	ck_assert_int_eq(db_sig_put(a, &sig), 0);
	ck_assert_int_eq(db_busy_timeout(b, 50), 0);
	ck_assert_int_eq(db_defer(a, 1 << 20), 0);
	ck_assert_int_eq(db_begin(a), 0);
	ck_assert_int_eq(db_sig_get(a, uid, sig.id, &got), 0);
	ck_assert_ptr_nonnull(got);
	ck_assert_int_eq(got->cls, DB_CLASS_INNOCENT);
	/* the other retrain waits for this transaction */
	ck_assert_int_eq(db_sig_update(b, uid, sig.id, DB_CLASS_SPAM, 1),
	    -EBUSY);
	ck_assert_int_eq(db_sig_update(a, uid, sig.id, DB_CLASS_SPAM, 1), 0);
	ck_assert_int_eq(db_commit(a), 0);
	db_sig_free(got);
	got = NULL;
	ck_assert_int_eq(db_sig_get(b, uid, sig.id, &got), 0);
	ck_assert_ptr_nonnull(got);
	ck_assert_int_eq(got->cls, DB_CLASS_SPAM);
	db_sig_free(got);
	/* outside a transaction a read takes no lock */
	ck_assert_int_eq(db_sig_get(a, uid, sig.id, &got), 0);
	db_sig_free(got);
	ck_assert_int_eq(db_sig_update(b, uid, sig.id, DB_CLASS_INNOCENT, 1), 0);
	/* Nor one that is not there, in a deferred transaction (train of
	 * old signed mail flushed its deferred counts at every message). */
	ck_assert_int_eq(db_begin(a), 0);
	ck_assert_int_eq(db_sig_get(a, uid, "ffffffffffffffffffffffffffffffff",
	    &got), 0);
	ck_assert_ptr_null(got);
	ck_assert_int_eq(db_sig_update(b, uid, sig.id, DB_CLASS_SPAM, 1), 0);
	ck_assert_int_eq(db_commit(a), 0);
	ck_assert_int_eq(db_defer(a, 0), 0);
	db_close(a);
	db_close(b);
}
END_TEST

static int count_token(void *arg, const db_token *t)
{
	*(int64_t *)arg += t->spam_hits;
	return 0;
}

/*
 * db_read_begin: reads see one moment while another handle commits, the
 * writer is not blocked, writes on the reading handle are refused; after
 * db_read_end the commit is seen.
 */
START_TEST(test_read_snapshot)
{
	int64_t uid, sum = 0;
	db *b = make_store(3, &uid), *a = open_ok(0);
	uint64_t h[3] = { 1, 2, 3 };
	db_totals one = { .spam_learned = 1 }, t;

	ck_assert_int_eq(db_read_begin(a), 0);
	ck_assert_int_eq(db_read_begin(a), -EINVAL);
	ck_assert_int_eq(db_totals_get(a, uid, &t), 0);
	ck_assert_int_eq(t.spam_learned, 1);
	/* the other handle learns a message meanwhile, without waiting */
	ck_assert_int_eq(db_busy_timeout(b, 0), 0);
	ck_assert_int_eq(db_begin(b), 0);
	ck_assert_int_eq(db_tokens_update(b, uid, h, 3, 1, 0, 1), 0);
	ck_assert_int_eq(db_totals_add(b, uid, &one), 0);
	ck_assert_int_eq(db_commit(b), 0);
	ck_assert_int_eq(db_totals_get(a, uid, &t), 0);
	ck_assert_int_eq(t.spam_learned, 1);
	ck_assert_int_eq(db_tokens_iter(a, uid, count_token, &sum), 0);
	ck_assert_int_eq(sum, 3);
	ck_assert_int_eq(db_begin(a), -EINVAL);
	ck_assert_int_eq(db_tokens_update(a, uid, h, 1, 1, 0, 1), -EINVAL);
	ck_assert_int_eq(db_read_end(a), 0);
	ck_assert_int_eq(db_totals_get(a, uid, &t), 0);
	ck_assert_int_eq(t.spam_learned, 2);
	sum = 0;
	ck_assert_int_eq(db_tokens_iter(a, uid, count_token, &sum), 0);
	ck_assert_int_eq(sum, 6);
	ck_assert_int_eq(db_read_end(a), 0);    /* harmless */
	ck_assert_int_eq(db_begin(a), 0);       /* writes allowed again */
	ck_assert_int_eq(db_commit(a), 0);
	db_close(a);
	db_close(b);
}
END_TEST

START_TEST(test_close_rolls_back)
{
	int64_t uid;
	db *a = make_store(5, &uid);
	uint64_t h = 1;
	db_token t = { .hash = 1 };

	ck_assert_int_eq(db_begin(a), 0);
	ck_assert_int_eq(db_tokens_update(a, uid, &h, 1, 5, 0, 2), 0);
	db_close(a);
	a = open_ok(0);
	ck_assert_int_eq(db_tokens_get(a, uid, &t, 1), 0);
	ck_assert_int_eq(t.spam_hits, 1);
	ck_assert_int_eq(db_begin(a), 0);       /* the lock was released */
	ck_assert_int_eq(db_rollback(a), 0);
	db_close(a);
}
END_TEST

START_TEST(test_disk_full)
{
	int64_t uid, n;
	db *d = make_store(10, &uid);
	uint64_t h[2000];
	db_token t = { .hash = 1 };
	int ok;

	for (size_t i = 0; i < 2000; i++)
		h[i] = 1000000 + i;
	/* a store that may not grow stands in for a full disk */
	ck_assert_int_eq(db_sqlite_exec(d, "PRAGMA max_page_count = 1"), 0);
	ck_assert_int_eq(db_tokens_update(d, uid, h, 2000, 1, 0, 3), -ENOSPC);
	ck_assert_ptr_nonnull(strstr(db_errmsg(d), path));
	ck_assert_ptr_nonnull(strstr(db_errmsg(d), "update tokens"));
	/* nothing of the failed update was kept */
	t.hash = h[0];
	ck_assert_int_eq(db_tokens_get(d, uid, &t, 1), 0);
	ck_assert_int_eq(t.spam_hits, 0);
	/*
	 * Inside a transaction increments are combined until the commit (or a
	 * read): the failure is reported there, and nothing is kept.
	 */
	ck_assert_int_eq(db_begin(d), 0);
	ck_assert_int_eq(db_tokens_update(d, uid, h, 2000, 1, 0, 3), 0);
	ck_assert_int_eq(db_commit(d), -ENOSPC);
	ck_assert_ptr_nonnull(strstr(db_errmsg(d), "update tokens"));
	ck_assert_int_eq(db_tokens_get(d, uid, &t, 1), 0);
	ck_assert_int_eq(t.spam_hits, 0);
	/* a read inside the transaction reports it too */
	ck_assert_int_eq(db_begin(d), 0);
	ck_assert_int_eq(db_tokens_update(d, uid, h, 2000, 1, 0, 3), 0);
	ck_assert_int_eq(db_tokens_get(d, uid, &t, 1), -ENOSPC);
	ck_assert_int_eq(db_rollback(d), 0);
	ck_assert_int_eq(db_sqlite_exec(d, "PRAGMA max_page_count = 1000000"), 0);
	ck_assert_int_eq(db_tokens_update(d, uid, h, 2000, 1, 0, 3), 0);
	ck_assert_int_eq(db_purge(d, 4, 1, &n), 0);
	ck_assert_int_eq(n, 2010);
	ck_assert_int_eq(db_check(d, &ok, NULL), 0);
	ck_assert_int_eq(ok, 1);
	db_close(d);
}
END_TEST

/* Rows of the SQL query q's single integer result. */
static int64_t count_rows(const char *q)
{
	sqlite3 *h;
	sqlite3_stmt *st;
	int64_t v;

	ck_assert_int_eq(sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL),
	    SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(h, q, -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return v;
}

/*
 * Outside a transaction a purge and the expiries commit in steps (db.c's
 * STEP_TOKENS, STEP_ROWS): every row they should delete goes, whatever step
 * it falls in, and nothing else; each token step is a commit of its own.
 */
/*
 * A store replaced by an older copy and then written to must not come back
 * to the generation the replaced file had: the milter's token cache took
 * that number for the same contents and served the replaced file's
 * counts. Generations move by random steps, not by one (their low 20
 * bits still count commits).
 */
START_TEST(test_generation_after_restore)
{
	char backup[160], q[256];
	uint64_t h = 42, g1, g2, g3;
	int64_t uid;
	db *d = open_ok(DB_OPEN_CREATE);

	snprintf(backup, sizeof(backup), "%s/backup.db", dir);
	ck_assert_int_eq(db_begin(d), 0);
	ck_assert_int_eq(db_user(d, "u", 1, &uid), 0);
	ck_assert_int_eq(db_tokens_update(d, uid, &h, 1, 1, 0, 1), 0);
	ck_assert_int_eq(db_commit(d), 0);
	ck_assert_int_eq(d->ops->gen_get(d, &g1), 0);
	snprintf(q, sizeof(q), "VACUUM INTO '%s'", backup);
	ck_assert_int_eq(db_sqlite_exec(d, q), 0);
	ck_assert_int_eq(db_begin(d), 0);
	ck_assert_int_eq(db_tokens_update(d, uid, &h, 1, 1, 0, 1), 0);
	ck_assert_int_eq(db_commit(d), 0);
	ck_assert_int_eq(d->ops->gen_get(d, &g2), 0);
	db_close(d);
	/* the backup comes back, and another change is made to it */
	ck_assert_int_eq(rename(backup, path), 0);
	d = open_ok(0);
	ck_assert_int_eq(db_begin(d), 0);
	ck_assert_int_eq(db_tokens_update(d, uid, &h, 1, 0, 1, 1), 0);
	ck_assert_int_eq(db_commit(d), 0);
	ck_assert_int_eq(d->ops->gen_get(d, &g3), 0);
	db_close(d);
	/* one commit each: the low 20 bits count them */
	ck_assert_uint_eq((g2 - g1) & 0xfffff, 1);
	ck_assert_uint_eq((g3 - g1) & 0xfffff, 1);
	ck_assert_msg(g3 != g2, "the restored store reached the replaced "
	    "one's generation %llu", (unsigned long long)g2);
}
END_TEST

START_TEST(test_purge_in_steps)
{
	int64_t uid, n;
	uint64_t g0, g1;
	db *d = make_store(1, &uid);

	/* 3 users x 150,000 tokens (replacing alice's one), hashes either
	 * side of 0; a third of each user's match (old, few hits). 2,500 old signatures and quarantined messages of
	 * users 1 and 2, 10 new ones of each. */
	ck_assert_int_eq(db_sqlite_exec(d,
	    "DELETE FROM tokens; INSERT INTO users(id, name) VALUES(2, 'b'), "
	    "(3, 'c');"
	    "WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c "
	    "WHERE i < 449999) INSERT INTO tokens SELECT 1 + i % 3, "
	    "i / 3 - 75000, i / 3 % 3, 0, i / 3 % 10 FROM c;"
	    "WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c "
	    "WHERE i < 2509) INSERT INTO signatures(uid, id, class, learned, "
	    "created, hashes, sender) SELECT 1 + i % 2, "
	    "printf('%032x', i), 1, 1, CASE WHEN i < 2500 THEN 100 ELSE 900 "
	    "END, x'00', '' FROM c;"
	    "WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c "
	    "WHERE i < 2509) INSERT INTO quarantine(uid, sender, recipients, "
	    "subject, signature, probability, time, data) SELECT 1 + i % 2, "
	    "'', '', '', '', 1, CASE WHEN i < 2500 THEN 100 ELSE 900 END, "
	    "x'00' FROM c;"), 0);
	ck_assert_int_eq(count_rows("SELECT count(*) FROM tokens"), 450000);
	ck_assert_int_eq(count_rows("SELECT count(*) FROM tokens WHERE "
	    "last_hit < 5 AND spam_hits + innocent_hits <= 1"), 150000);
	ck_assert_int_eq(d->ops->gen_get(d, &g0), 0);
	ck_assert_int_eq(db_purge(d, 5, 1, &n), 0);
	ck_assert_int_eq(n, 150000);
	ck_assert_int_eq(count_rows("SELECT count(*) FROM tokens"), 300000);
	ck_assert_int_eq(count_rows("SELECT count(*) FROM tokens WHERE "
	    "last_hit < 5 AND spam_hits + innocent_hits <= 1"), 0);
	ck_assert_int_eq(d->ops->gen_get(d, &g1), 0);
	ck_assert_uint_ge((g1 - g0) & 0xfffff, 3);     /* commits */
	/* nothing left to purge: no commit raises the generation */
	ck_assert_int_eq(db_purge(d, 5, 1, &n), 0);
	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(d->ops->gen_get(d, &g0), 0);
	ck_assert_uint_eq(g0, g1);

	ck_assert_int_eq(db_sig_expire(d, 500, &n), 0);
	ck_assert_int_eq(n, 2500);
	ck_assert_int_eq(count_rows("SELECT count(*) FROM signatures"), 10);
	/* one user's only, then every user's */
	ck_assert_int_eq(db_quar_expire(d, 2, 500, &n), 0);
	ck_assert_int_eq(n, 1250);
	ck_assert_int_eq(db_quar_expire(d, 0, 500, &n), 0);
	ck_assert_int_eq(n, 1250);
	ck_assert_int_eq(count_rows("SELECT count(*) FROM quarantine"), 10);

	/* 450,000 senders, with gaps in their rowids; a part of them old
	 * with at most one message: three steps. */
	int64_t senders, stale;

	ck_assert_int_eq(db_sqlite_exec(d,
	    "WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c "
	    "WHERE i < 459999) INSERT INTO senders SELECT 1 + i % 3, "
	    "printf('s%d@x.example', i), i % 3, i % 7 = 0, i % 10 FROM c;"
	    "DELETE FROM senders WHERE rowid % 46 = 0;"), 0);
	senders = count_rows("SELECT count(*) FROM senders");
	stale = count_rows("SELECT count(*) FROM senders WHERE last_seen < 5 "
	    "AND innocent + spam <= 1");
	ck_assert_int_gt(senders, 400000);
	ck_assert_int_gt(stale, 100000);
	ck_assert_int_eq(db_sender_purge(d, 5, 1, &n), 0);
	ck_assert_int_eq(n, stale);
	ck_assert_int_eq(count_rows("SELECT count(*) FROM senders"),
	    senders - stale);
	ck_assert_int_eq(count_rows("SELECT count(*) FROM senders WHERE "
	    "last_seen < 5 AND innocent + spam <= 1"), 0);
	db_close(d);
}
END_TEST

START_TEST(test_readonly_store_errors)
{
	int64_t uid;
	db *d = make_store(1, &uid);

	db_close(d);
	d = open_ok(DB_OPEN_READONLY);
	/* past db.c's own check, SQLite itself refuses */
	ck_assert_int_eq(db_sqlite_exec(d, "DELETE FROM tokens"), -EROFS);
	ck_assert_ptr_nonnull(strstr(db_errmsg(d), path));
	db_close(d);
}
END_TEST

START_TEST(test_corrupt_pages)
{
	int64_t uid;
	db *d = make_store(20000, &uid);
	char junk[4096];
	int ok = 1, rc;
	char *rep = NULL;

	db_close(d);
	/* keep the header page, smash pages in the middle of the token tree */
	memset(junk, 0xA5, sizeof(junk));
	for (int p = 3; p < 40; p += 3)
		write_file(path, junk, sizeof(junk), (off_t)p * 4096);
	rc = db_open(path, 0, &d, err, sizeof(err));
	if (rc == 0) {
		rc = db_check(d, &ok, &rep);
		ck_assert_msg(rc == -EIO || (rc == 0 && ok == 0),
		    "corruption not detected: rc %d ok %d", rc, ok);
		if (rc == 0)
			ck_assert_ptr_nonnull(strstr(rep, "NOT ok"));
		free(rep);
		db_close(d);
	} else {
		ck_assert_int_eq(rc, -EIO);
		ck_assert_ptr_nonnull(strstr(err, path));
	}
}
END_TEST

START_TEST(test_lookup_modes)
{
	int64_t uid;
	db *d = make_store(3000, &uid);
	static const int modes[] = { DB_SQLITE_LOOKUP_POINT, DB_SQLITE_LOOKUP_IN,
	    DB_SQLITE_LOOKUP_JSON };
	static const size_t batches[] = { 1, 7, 64, 500 };
	size_t n = 1237;
	db_token *t = malloc(n * sizeof(*t));
	uint64_t odd[1];

	ck_assert_ptr_nonnull(t);
	/* token 2 also has innocent hits; hashes with the top bit set exist */
	odd[0] = 2;
	ck_assert_int_eq(db_tokens_update(d, uid, odd, 1, 0, 4, 1), 0);
	odd[0] = UINT64_MAX - 1;
	ck_assert_int_eq(db_tokens_update(d, uid, odd, 1, 3, 0, 1), 0);
	for (size_t m = 0; m < 3; m++) {
		for (size_t b = 0; b < 4; b++) {
			ck_assert_int_eq(db_sqlite_lookup_mode(d, modes[m],
			    batches[b]), 0);
			for (size_t i = 0; i < n; i++) {
				/* present: 1..3000; absent: above; duplicates */
				t[i].hash = i % 5 == 0 ? 5000 + i : (i * 7) % 3100 + 1;
				t[i].spam_hits = t[i].innocent_hits = -1;
			}
			t[n - 1].hash = UINT64_MAX - 1;
			t[n - 2].hash = 2;
			ck_assert_int_eq(db_tokens_get(d, uid, t, n), 0);
			for (size_t i = 0; i < n - 2; i++) {
				int present = t[i].hash <= 3000;

				ck_assert_int_eq(t[i].spam_hits, present);
				ck_assert_int_eq(t[i].innocent_hits,
				    t[i].hash == 2 ? 4 : 0);
			}
			ck_assert_int_eq(t[n - 1].spam_hits, 3);
			ck_assert_int_eq(t[n - 2].spam_hits, 1);
			ck_assert_int_eq(t[n - 2].innocent_hits, 4);
		}
	}
	ck_assert_int_eq(db_sqlite_lookup_mode(d, 9, 0), -EINVAL);
	ck_assert_int_eq(db_sqlite_lookup_mode(d, 1, DB_SQLITE_MAX_BATCH + 1), -EINVAL);
	free(t);
	db_close(d);
}
END_TEST

START_TEST(test_check_report)
{
	int64_t uid;
	db *d = make_store(10, &uid);
	char *rep = NULL;
	int ok = 0;

	ck_assert_int_eq(db_check(d, &ok, &rep), 0);
	ck_assert_int_eq(ok, 1);
	ck_assert_ptr_nonnull(strstr(rep, "integrity: ok"));
	free(rep);
	/* rows of a user that does not exist */
	ck_assert_int_eq(db_sqlite_exec(d, "DELETE FROM users"), 0);
	ck_assert_int_eq(db_check(d, &ok, &rep), 0);
	ck_assert_int_eq(ok, 0);
	ck_assert_ptr_nonnull(strstr(rep, "rows of unknown users: 11"));
	free(rep);
	ck_assert_int_eq(db_vacuum(d), 0);
	db_close(d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("db_sqlite");
	TCase *tc = tcase_create("sqlite");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_persists);
	tcase_add_test(tc, test_concurrent_create);
	tcase_add_test(tc, test_missing_file);
	tcase_add_test(tc, test_random_bytes);
	tcase_add_test(tc, test_newer_schema);
	tcase_add_test(tc, test_migrate_from_5);
	tcase_add_test(tc, test_migrate_from_3);
	tcase_add_test(tc, test_migrate_from_2);
	tcase_add_test(tc, test_migrate_from_1);
	tcase_add_test(tc, test_page_size);
	tcase_add_test(tc, test_foreign_database);
	tcase_add_test(tc, test_locked);
	tcase_add_test(tc, test_quar_lock);
	tcase_add_test(tc, test_close_rolls_back);
	tcase_add_test(tc, test_deferred_commit_fails_undone);
	tcase_add_test(tc, test_deferred_sig_read_locks);
	tcase_add_test(tc, test_read_snapshot);
	tcase_add_test(tc, test_disk_full);
	tcase_add_test(tc, test_purge_in_steps);
	tcase_add_test(tc, test_generation_after_restore);
	tcase_add_test(tc, test_readonly_store_errors);
	tcase_add_test(tc, test_corrupt_pages);
	tcase_add_test(tc, test_lookup_modes);
	tcase_add_test(tc, test_check_report);
	tcase_add_test(tc, test_own_checkpoint);
	tcase_add_test(tc, test_log_shrinks_after_long_reader);
	suite_add_tcase(s, tc);
	return test_run(s);
}
