/*
 * db_sqlite -- the SQLite storage backend ("sqlite:PATH" or a plain PATH),
 * the default store. The only file of spamsift that includes sqlite3.h.
 *
 * Concurrency: the store runs in WAL mode, so readers (the milter's
 * classification threads, one handle each) never block on the writer and the
 * writer never blocks on readers; writers serialise on BEGIN IMMEDIATE, which
 * waits up to the busy timeout (default 10 s) and is retried on SQLITE_BUSY.
 * synchronous=NORMAL: in WAL mode a commit survives a crash of the process
 * (the WAL is written before COMMIT returns) and the store can never be
 * corrupted; only a power loss or OS crash may roll back the last commits
 * (the WAL is synced at checkpoints). Losing the last few trained messages is
 * acceptable for token statistics; db_quar_put, which must not lose a
 * message that was rejected or discarded, switches to synchronous=FULL for
 * its own commit.
 *
 * Schema: versioned with PRAGMA user_version (and application_id marks the
 * file as ours); migrations[] brings an older store up to SCHEMA_VERSION on
 * open; a newer one is refused with -EPROTO. Token hashes (uint64) are stored
 * as their int64 bit pattern; signature hash lists as little-endian BLOBs.
 * Schema 2 adds the token generation (one row, raised by a random step by
 * db.c in every transaction that changes tokens) that read caches compare;
 * schema 3 the envelope sender of each signature; schema 4 the day each
 * sender of the automatic whitelisting's history was last seen
 * (db_sender_purge); schema 5 how many of a signature's hashes are tokens
 * and header tokens; schema 6 adds nothing but raises learned totals that
 * older versions left below their tokens' hits.
 *
 * Combined increments (db.c) arrive sorted in one tokens_add call and are
 * merged by one statement over the spamsift_rows virtual table (below).
 *
 * The quarantine lock (db_quar_lock) is an flock on PATH-quarantine.lock,
 * a file of its own next to the store (below).
 *
 * Every statement uses bound parameters and is prepared once per handle
 * (stmt cache). Iterators read all rows before calling back.
 *
 * Must not depend on: libmilter, syslog, conf/.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "db/db.h"
#include "db/db_impl.h"

#define SCHEMA_VERSION 6
#define APPLICATION_ID 0x53705366       /* "SpSf" */
#define DEFAULT_BUSY_MS 10000

/*
 * The default db_tokens_get strategy and batch size, chosen with
 * contrib/bench/db_lookup.c: messages of 1000 tokens (half known), warm
 * cache, best of 5, CPU microseconds per message (2 vCPUs, shared and loaded,
 * SQLite 3.40.1, default 2 MiB page cache):
 *
 *   strategy                 300k tokens   1M tokens
 *   point lookup per token       1573        2231
 *   IN batch 16                  1711        2072
 *   IN batch 32                  1774        1992
 *   IN batch 64                  1424        1942
 *   IN batch 128                 1551        1883
 *   IN batch 256                 1497        2068
 *   IN batch 500                 1581        2337
 *   json_each batch 100          1759        2417
 *   json_each batch 500          1646        2417
 *
 * Batched IN with 64..128 parameters is 10-15% cheaper than point lookups,
 * json_each is the slowest (it formats and parses text). The page cache
 * matters more than the strategy: with PRAGMA mmap_size = 1 GiB the same
 * lookups cost 960-1180 (300k) and 1380-1650 (1M), all strategies within
 * about 10% of each other; with cache_size = 64 MiB 830-1120 (300k). We keep
 * SQLite's default cache (a handle per milter thread would each grow one;
 * mmap turns disk I/O errors into SIGBUS).
 */
#define DEFAULT_LOOKUP DB_SQLITE_LOOKUP_IN
#define DEFAULT_BATCH 64
/* Log size past which it is copied into the store: SQLite's default of
 * 1000 frames, as it was with 4 KiB pages. */
#define CHECKPOINT_BYTES (4000 * 1024)
/*
 * Size the log file is cut back to when it starts over (journal_size_limit).
 * SQLite writes the log from its start again once a checkpoint has copied
 * all of it, but never shrinks the file: a reader that keeps a snapshot a
 * long time (an export, db check) stops the checkpoints short, the log
 * grows by every commit meanwhile (the milter's, a hundred MiB in a minute
 * under load), and without a limit the file kept that size for as long as
 * any handle stayed open, that is for the milter's life. Above the log's
 * usual size (CHECKPOINT_BYTES and the commit that passed it), so that in
 * steady operation it is never cut.
 */
#define JOURNAL_LIMIT_BYTES (4 * CHECKPOINT_BYTES)

/* migrations[v] brings schema version v to v + 1. */
static const char *const migrations[SCHEMA_VERSION] = {
	/* 0 -> 1: the initial schema */
	"CREATE TABLE users("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE);"
	"CREATE TABLE tokens("
	"  uid INTEGER NOT NULL,"
	"  hash INTEGER NOT NULL,"
	"  spam_hits INTEGER NOT NULL DEFAULT 0,"
	"  innocent_hits INTEGER NOT NULL DEFAULT 0,"
	"  last_hit INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY(uid, hash)) WITHOUT ROWID;"
	"CREATE TABLE totals("
	"  uid INTEGER PRIMARY KEY,"
	"  spam_learned INTEGER NOT NULL DEFAULT 0,"
	"  innocent_learned INTEGER NOT NULL DEFAULT 0,"
	"  spam_misclassified INTEGER NOT NULL DEFAULT 0,"
	"  innocent_misclassified INTEGER NOT NULL DEFAULT 0,"
	"  spam_corpusfed INTEGER NOT NULL DEFAULT 0,"
	"  innocent_corpusfed INTEGER NOT NULL DEFAULT 0,"
	"  spam_classified INTEGER NOT NULL DEFAULT 0,"
	"  innocent_classified INTEGER NOT NULL DEFAULT 0,"
	"  spam_inoculated INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE signatures("
	"  uid INTEGER NOT NULL,"
	"  id TEXT NOT NULL,"
	"  class INTEGER NOT NULL,"
	"  learned INTEGER NOT NULL,"
	"  created INTEGER NOT NULL,"
	"  hashes BLOB NOT NULL,"
	"  PRIMARY KEY(uid, id));"
	"CREATE INDEX signatures_created ON signatures(created);"
	"CREATE TABLE lists("
	"  uid INTEGER NOT NULL,"
	"  kind INTEGER NOT NULL,"
	"  pattern TEXT NOT NULL COLLATE NOCASE,"
	"  automatic INTEGER NOT NULL DEFAULT 0,"
	"  added INTEGER NOT NULL,"
	"  added_by TEXT NOT NULL DEFAULT '',"
	"  UNIQUE(uid, kind, pattern));"
	"CREATE TABLE senders("
	"  uid INTEGER NOT NULL,"
	"  sender TEXT NOT NULL,"
	"  innocent INTEGER NOT NULL DEFAULT 0,"
	"  spam INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY(uid, sender));"
	"CREATE TABLE prefs("
	"  uid INTEGER NOT NULL,"
	"  key TEXT NOT NULL,"
	"  value TEXT NOT NULL,"
	"  PRIMARY KEY(uid, key));"
	"CREATE TABLE quarantine("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  uid INTEGER NOT NULL,"
	"  sender TEXT NOT NULL,"
	"  recipients TEXT NOT NULL,"
	"  subject TEXT NOT NULL,"
	"  signature TEXT NOT NULL,"
	"  probability REAL NOT NULL,"
	"  time INTEGER NOT NULL,"
	"  data BLOB NOT NULL);"
	"CREATE INDEX quarantine_uid ON quarantine(uid, time);"
	"CREATE INDEX quarantine_time ON quarantine(time);",
	/*
	 * 1 -> 2: the token generation that read caches compare (db_cache in
	 * db.h). It starts at a random value so that a cache never mistakes a
	 * new or restored store for the one it has seen.
	 */
	"CREATE TABLE generation("
	"  id INTEGER PRIMARY KEY CHECK(id = 1),"
	"  gen INTEGER NOT NULL);"
	"INSERT INTO generation VALUES(1, abs(random() >> 20));",
	/*
	 * 2 -> 3: the envelope sender of a signature, so that a retrain by
	 * signature alone moves the sender's history and automatic whitelist
	 * entry as a retrain with the message does. Older signatures have
	 * none ('').
	 */
	"ALTER TABLE signatures ADD COLUMN sender TEXT NOT NULL DEFAULT '';",
	/*
	 * 3 -> 4: the day (since the epoch) each sender's history was last
	 * added to, so that db_sender_purge can forget the senders not seen
	 * for long (one row was kept for every sender ever seen, for good).
	 * Senders already there count as seen on the day of the upgrade.
	 */
	"ALTER TABLE senders ADD COLUMN last_seen INTEGER NOT NULL DEFAULT 0;"
	"UPDATE senders SET last_seen = "
	"  CAST(strftime('%s', 'now') AS INTEGER) / 86400;",
	/*
	 * 4 -> 5: how many of a signature's hashes are the message's tokens
	 * (the rest are BNR patterns) and how many of those came from its
	 * header, so that a retrain by signature scores the message as
	 * classification did (test-conditional training). Older signatures
	 * have 0: not known, scored as one stream.
	 */
	"ALTER TABLE signatures ADD COLUMN ntok INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE signatures ADD COLUMN head INTEGER NOT NULL DEFAULT 0;",
	/*
	 * 5 -> 6: no new table or column: each user's learned totals are
	 * raised to the most hits any of the user's tokens has of that
	 * class. Older versions took a message from a class's total for a
	 * correction without a signature (train --source error) of a message
	 * never learned as that class, while its tokens kept their hits: db
	 * check called such a store damaged for good and import refused the
	 * user's export. The bound is the one such a correction keeps now
	 * (filter.c); a store without such a user is left as it was.
	 */
	"UPDATE totals SET"
	"  spam_learned = max(spam_learned, m.spam),"
	"  innocent_learned = max(innocent_learned, m.innocent)"
	"  FROM (SELECT uid, max(spam_hits) AS spam,"
	"    max(innocent_hits) AS innocent FROM tokens GROUP BY uid) AS m"
	"  WHERE m.uid = totals.uid AND (m.spam > totals.spam_learned OR"
	"    m.innocent > totals.innocent_learned);",
};

/* The cached statements. */
enum {
	S_BEGIN, S_BEGIN_READ, S_COMMIT, S_ROLLBACK,
	S_USER_GET, S_USER_ADD, S_USER_ALL,
	S_TOK_GET1, S_TOK_JSON, S_TOK_UPD, S_TOK_DEL0,
	S_TOT_GET, S_TOT_ADD,
	S_SIG_PUT, S_SIG_GET, S_SIG_UPD, S_SIG_EXP,
	S_LIST_ADD, S_LIST_DEL, S_LIST_HAS, S_LIST_ALL,
	S_SENDER_ADD, S_SENDER_PURGE, S_SENDER_PURGE_END,
	S_PREF_GET, S_PREF_SET, S_PREF_DEL, S_PREF_ALL,
	S_QUAR_PUT, S_QUAR_ALL, S_QUAR_GET, S_QUAR_DEL, S_QUAR_EXP,
	S_PURGE, S_PURGE_END, S_TOK_ALL,
	S_TOK_ADD, S_GEN_GET, S_GEN_BUMP,
	S_COUNT
};

#define TOTAL_COLS "spam_learned, innocent_learned, spam_misclassified, " \
	"innocent_misclassified, spam_corpusfed, innocent_corpusfed, " \
	"spam_classified, innocent_classified, spam_inoculated"
#define ADD(c, n) c " = max(" c " + ?" #n ", 0)"

static const char *const sql[S_COUNT] = {
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_TOK_ALL] = "SELECT hash, spam_hits, innocent_hits FROM tokens "
	    "WHERE uid = ?1 ORDER BY hash",
	[S_BEGIN_READ] = "BEGIN",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_USER_GET] = "SELECT id FROM users WHERE name = ?1",
	[S_USER_ADD] = "INSERT INTO users(name) VALUES(?1) "
	    "ON CONFLICT(name) DO NOTHING",
	[S_USER_ALL] = "SELECT id, name FROM users ORDER BY id",
	[S_TOK_GET1] = "SELECT spam_hits, innocent_hits FROM tokens "
	    "WHERE uid = ?1 AND hash = ?2",
	[S_TOK_JSON] = "SELECT hash, spam_hits, innocent_hits FROM tokens "
	    "WHERE uid = ?1 AND hash IN (SELECT value FROM json_each(?2))",
	[S_TOK_UPD] = "INSERT INTO tokens(uid, hash, spam_hits, innocent_hits, "
	    "last_hit) VALUES(?1, ?2, max(?3, 0), max(?4, 0), ?5) "
	    "ON CONFLICT(uid, hash) DO UPDATE SET "
	    ADD("spam_hits", 3) ", " ADD("innocent_hits", 4) ", last_hit = ?5",
	[S_TOK_DEL0] = "DELETE FROM tokens WHERE uid = ?1 AND hash = ?2 "
	    "AND spam_hits = 0 AND innocent_hits = 0",
	[S_TOT_GET] = "SELECT " TOTAL_COLS " FROM totals WHERE uid = ?1",
	[S_TOT_ADD] = "INSERT INTO totals(uid, " TOTAL_COLS ") VALUES(?1, "
	    "max(?2, 0), max(?3, 0), max(?4, 0), max(?5, 0), max(?6, 0), "
	    "max(?7, 0), max(?8, 0), max(?9, 0), max(?10, 0)) "
	    "ON CONFLICT(uid) DO UPDATE SET "
	    ADD("spam_learned", 2) ", " ADD("innocent_learned", 3) ", "
	    ADD("spam_misclassified", 4) ", " ADD("innocent_misclassified", 5) ", "
	    ADD("spam_corpusfed", 6) ", " ADD("innocent_corpusfed", 7) ", "
	    ADD("spam_classified", 8) ", " ADD("innocent_classified", 9) ", "
	    ADD("spam_inoculated", 10),
	[S_SIG_PUT] = "INSERT OR REPLACE INTO signatures(uid, id, class, "
	    "learned, created, hashes, sender, ntok, head) "
	    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	[S_SIG_GET] = "SELECT class, learned, created, hashes, sender, ntok, head "
	    "FROM signatures "
	    "WHERE uid = ?1 AND id = ?2",
	[S_SIG_UPD] = "UPDATE signatures SET class = ?3, learned = ?4 "
	    "WHERE uid = ?1 AND id = ?2",
	/* ?3: at most so many rows (-1: all; the rows by their index) */
	[S_SIG_EXP] = "DELETE FROM signatures WHERE rowid IN (SELECT rowid "
	    "FROM signatures WHERE created < ?1 AND (?2 = 0 OR uid = ?2) "
	    "LIMIT ?3)",
	[S_LIST_ADD] = "INSERT INTO lists(uid, kind, pattern, automatic, added, "
	    "added_by) VALUES(?1, ?2, ?3, ?4, ?5, ?6) "
	    "ON CONFLICT(uid, kind, pattern) DO UPDATE SET "
	    "pattern = excluded.pattern, automatic = excluded.automatic, "
	    "added = excluded.added, added_by = excluded.added_by",
	[S_LIST_DEL] = "DELETE FROM lists WHERE uid = ?1 AND kind = ?2 "
	    "AND pattern = ?3",
	/* LIST_IN_MAX patterns a step (unused ones NULL, which match nothing) */
	[S_LIST_HAS] = "SELECT 1 FROM lists WHERE uid = ?1 AND kind = ?2 "
	    "AND pattern IN (?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) LIMIT 1",
	[S_LIST_ALL] = "SELECT pattern, automatic, added, added_by FROM lists "
	    "WHERE uid = ?1 AND kind = ?2 ORDER BY pattern",
	[S_SENDER_ADD] = "INSERT INTO senders(uid, sender, innocent, spam, "
	    "last_seen) VALUES(?1, ?2, max(?3, 0), max(?4, 0), ?5) "
	    "ON CONFLICT(uid, sender) DO UPDATE SET "
	    ADD("innocent", 3) ", " ADD("spam", 4) ", last_seen = ?5 "
	    "RETURNING innocent, spam",
	/* A step of db_sender_purge: the rows (?1 .. ?2] in rowid order */
	[S_SENDER_PURGE] = "DELETE FROM senders WHERE rowid > ?1 AND "
	    "rowid <= ?2 AND last_seen < ?3 AND innocent + spam <= ?4",
	/* ... whose end is the ?2th row after ?1 */
	[S_SENDER_PURGE_END] = "SELECT rowid FROM senders WHERE rowid > ?1 "
	    "ORDER BY rowid LIMIT 1 OFFSET ?2 - 1",
	[S_PREF_GET] = "SELECT value FROM prefs WHERE uid = ?1 AND key = ?2",
	[S_PREF_SET] = "INSERT INTO prefs(uid, key, value) VALUES(?1, ?2, ?3) "
	    "ON CONFLICT(uid, key) DO UPDATE SET value = excluded.value",
	[S_PREF_DEL] = "DELETE FROM prefs WHERE uid = ?1 AND key = ?2",
	[S_PREF_ALL] = "SELECT key, value FROM prefs WHERE uid = ?1 ORDER BY key",
	[S_QUAR_PUT] = "INSERT INTO quarantine(uid, sender, recipients, subject, "
	    "signature, probability, time, data) "
	    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[S_QUAR_ALL] = "SELECT id, sender, recipients, subject, signature, "
	    "probability, time, length(data) FROM quarantine WHERE uid = ?1 "
	    "ORDER BY time, id",
	[S_QUAR_GET] = "SELECT sender, recipients, subject, signature, "
	    "probability, time, data FROM quarantine WHERE uid = ?1 AND id = ?2",
	[S_QUAR_DEL] = "DELETE FROM quarantine WHERE uid = ?1 AND id = ?2",
	[S_QUAR_EXP] = "DELETE FROM quarantine WHERE id IN (SELECT id "
	    "FROM quarantine WHERE time < ?1 AND (?2 = 0 OR uid = ?2) "
	    "LIMIT ?3)",
	/* A step of db_purge: the keys (?1, ?2) .. (?3, ?4] (both indexed) */
	[S_PURGE] = "DELETE FROM tokens WHERE (uid, hash) > (?1, ?2) AND "
	    "(uid, hash) <= (?3, ?4) AND last_hit < ?5 "
	    "AND spam_hits + innocent_hits <= ?6",
	/* ... whose end is the ?3th key after (?1, ?2) */
	[S_PURGE_END] = "SELECT uid, hash FROM tokens WHERE (uid, hash) > "
	    "(?1, ?2) ORDER BY uid, hash LIMIT 1 OFFSET ?3 - 1",
	/* "WHERE true": an upsert after a SELECT needs a WHERE clause */
	[S_TOK_ADD] = "INSERT INTO tokens(uid, hash, spam_hits, innocent_hits, "
	    "last_hit) SELECT uid, hash, spam, innocent, day FROM spamsift_rows "
	    "WHERE true ON CONFLICT(uid, hash) DO UPDATE SET "
	    "spam_hits = spam_hits + excluded.spam_hits, "
	    "innocent_hits = innocent_hits + excluded.innocent_hits, "
	    "last_hit = excluded.last_hit",
	[S_GEN_GET] = "SELECT gen FROM generation WHERE id = 1",
	[S_GEN_BUMP] = "UPDATE generation SET gen = (gen + ?1) & "
	    "4611686018427387903 WHERE id = 1 "
	    "RETURNING gen",
};

typedef struct dbs {
	db base;                        /* must be first */
	sqlite3 *h;                     /* the connection */
	sqlite3_stmt *st[S_COUNT];      /* prepared on first use */
	sqlite3_stmt *in_st;            /* `hash IN (...)` for in_batch hashes */
	size_t in_batch;                /* parameters of in_st (0: none) */
	int busy_ms;                    /* busy timeout */
	int lookup;                     /* DB_SQLITE_LOOKUP_* */
	size_t batch;                   /* batch size for lookups */
	int broken;                     /* the open transaction was lost */
	int reading;                    /* db_read_begin's transaction is open */
	char *json;                     /* buffer for DB_SQLITE_LOOKUP_JSON */
	size_t jsonlen;                 /* its size */
	const db_tokadd *vrows;         /* rows the spamsift_rows table shows */
	size_t vn;                      /* their number */
	int wal_frames;                 /* log frames after the last commit
	                                   (DB_OPEN_OWN_CHECKPOINT) */
	int checkpoint_frames;          /* CHECKPOINT_BYTES in frames */
	int qlock;                      /* the quarantine lock file, open
	                                   (and flocked) while held; -1 */
} dbs;

#define S(d) ((dbs *)(d))

static const struct sqlite3_module rows_module;   /* spamsift_rows, below */
static int wal_hook_frames(void *arg, sqlite3 *h, const char *name,
    int frames);

/* ---- errors ---- */

static int map_rc(sqlite3 *h, int rc)
{
	int sys;

	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_IOERR:
		/* A full disk met while growing the -shm or -wal file is an
		 * I/O error to SQLite, not SQLITE_FULL. */
		sys = h ? sqlite3_system_errno(h) : 0;
		return sys == ENOSPC || sys == EDQUOT ? -ENOSPC : -EIO;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return -EIO;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_CANTOPEN:
		sys = h ? sqlite3_system_errno(h) : 0;
		return sys > 0 ? -sys : -EIO;
	case SQLITE_TOOBIG:
		return -E2BIG;
	case SQLITE_RANGE:
	case SQLITE_MISUSE:
	case SQLITE_MISMATCH:
		return -EINVAL;
	case SQLITE_CONSTRAINT:
		return -EEXIST;
	default:
		return -EIO;
	}
}

/* Set the error text for a failed SQLite call during `what`. */
static int fail(dbs *s, int rc, const char *what)
{
	int e = map_rc(s->h, rc), sys;

	if (e == 0)
		e = -EIO;
	/* "disk I/O error" alone hid why (a full disk, a quota, a file
	 * removed): the system's error says it. */
	if ((rc & 0xff) == SQLITE_IOERR && s->h != NULL &&
	    (sys = sqlite3_system_errno(s->h)) > 0)
		return db_seterr(&s->base, e, "%s: %s (%s)", what,
		    sqlite3_errmsg(s->h), strerror(sys));
	return db_seterr(&s->base, e, "%s: %s",
	    what, s->h ? sqlite3_errmsg(s->h) : sqlite3_errstr(rc));
}

/* ---- statements ---- */

static int prep(dbs *s, int id, sqlite3_stmt **out, const char *what)
{
	int rc;

	if (!s->st[id]) {
		rc = sqlite3_prepare_v3(s->h, sql[id], -1,
		    SQLITE_PREPARE_PERSISTENT, &s->st[id], NULL);
		if (rc != SQLITE_OK) {
			s->st[id] = NULL;
			return fail(s, rc, what);
		}
	}
	*out = s->st[id];
	return 0;
}

/* Step a statement that returns no rows (or whose rows are ignored). */
static int run(dbs *s, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
		sqlite3_reset(st);
		return 0;
	}
	sqlite3_reset(st);
	return fail(s, rc, what);
}

static int run_id(dbs *s, int id, const char *what)
{
	sqlite3_stmt *st = NULL;
	int rc = prep(s, id, &st, what);

	return rc < 0 ? rc : run(s, st, what);
}

static int bind_text(sqlite3_stmt *st, int i, const char *t)
{
	return sqlite3_bind_text(st, i, t, -1, SQLITE_STATIC);
}

/* ---- transactions ---- */

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/*
 * BEGIN IMMEDIATE takes the write lock at once, so a write transaction never
 * has to upgrade a read snapshot (which fails with SQLITE_BUSY without
 * waiting). The busy handler waits for other writers; SQLite may still return
 * SQLITE_BUSY early (e.g. during WAL recovery), so retry until the timeout.
 */
static int begin_immediate(dbs *s, const char *what)
{
	double start = now_ms();
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = prep(s, S_BEGIN, &st, what)) < 0)
		return rc;
	for (;;) {
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc == SQLITE_DONE)
			return 0;
		if ((rc & 0xff) != SQLITE_BUSY || now_ms() - start >= s->busy_ms)
			return fail(s, rc, what);
		nanosleep(&(struct timespec){ 0, 2000000 }, NULL);
	}
}

/* Start a write: its own transaction unless inside db_begin. */
static int wbegin(dbs *s, const char *what)
{
	if (db_backend_txn(&s->base)) {
		if (s->broken)
			return db_seterr(&s->base, -EIO, "%s: the transaction "
			    "was rolled back after an earlier error", what);
		return 0;
	}
	return begin_immediate(s, what);
}

/* Finish a write started with wbegin; rc is its result so far. */
static int wend(dbs *s, int rc, const char *what)
{
	if (db_backend_txn(&s->base)) {
		/* Some errors (disk full, I/O) make SQLite roll back the whole
		 * transaction: later writes would autocommit one by one. */
		if (rc < 0 && sqlite3_get_autocommit(s->h))
			s->broken = 1;
		return rc;
	}
	if (rc == 0) {
		rc = run_id(s, S_COMMIT, what);
		if (rc == 0)
			return 0;
	}
	if (!sqlite3_get_autocommit(s->h)) {
		char save[DB_ERRMSG_SIZE];

		memcpy(save, s->base.errmsg, sizeof(save));
		run_id(s, S_ROLLBACK, what);
		memcpy(s->base.errmsg, save, sizeof(save));
	}
	return rc;
}

static int s_begin(db *d)
{
	S(d)->broken = 0;
	return begin_immediate(S(d), "begin transaction");
}

static int s_commit(db *d)
{
	dbs *s = S(d);
	int rc;

	if (s->broken) {
		s->broken = 0;
		return db_seterr(d, -EIO, "commit: the transaction was rolled "
		    "back after an earlier error");
	}
	rc = run_id(s, S_COMMIT, "commit");
	if (rc < 0 && !sqlite3_get_autocommit(s->h)) {
		char save[DB_ERRMSG_SIZE];

		memcpy(save, d->errmsg, sizeof(save));
		run_id(s, S_ROLLBACK, "rollback");
		memcpy(d->errmsg, save, sizeof(save));
	}
	return rc;
}

static int s_gen_get(db *d, uint64_t *gen);

/*
 * db_read_begin: a deferred BEGIN, then a read, so that the snapshot is
 * taken now rather than at the caller's first statement.
 */
static int s_read_begin(db *d)
{
	dbs *s = S(d);
	uint64_t gen;
	int rc;

	if ((rc = run_id(s, S_BEGIN_READ, "read snapshot")) < 0)
		return rc;
	s->reading = 1;
	if ((rc = s_gen_get(d, &gen)) < 0) {
		s->reading = 0;
		run_id(s, S_ROLLBACK, "read snapshot");
	}
	return rc;
}

static int s_read_end(db *d)
{
	dbs *s = S(d);
	int rc;

	s->reading = 0;
	if (sqlite3_get_autocommit(s->h))
		return 0;
	/* A snapshot left open would hold every checkpoint back. */
	rc = run_id(s, S_COMMIT, "end of read snapshot");
	if (rc < 0 && !sqlite3_get_autocommit(s->h))
		run_id(s, S_ROLLBACK, "end of read snapshot");
	return rc;
}

static int s_rollback(db *d)
{
	dbs *s = S(d);

	s->broken = 0;
	if (sqlite3_get_autocommit(s->h))
		return 0;       /* SQLite already rolled it back */
	return run_id(s, S_ROLLBACK, "rollback");
}

/* A read of several statements sees one snapshot: wrap it unless in db_begin
 * or db_read_begin. */
static int rbegin(dbs *s, const char *what)
{
	return db_backend_txn(&s->base) || s->reading ? 0 :
	    run_id(s, S_BEGIN_READ, what);
}

static int rend(dbs *s, int rc, const char *what)
{
	if (db_backend_txn(&s->base) || s->reading ||
	    sqlite3_get_autocommit(s->h))
		return rc;
	/* COMMIT of a read transaction only releases the snapshot. */
	int rc2 = run_id(s, S_COMMIT, what);

	if (rc2 < 0 && !sqlite3_get_autocommit(s->h))
		run_id(s, S_ROLLBACK, what);
	return rc < 0 ? rc : rc2;
}

/* ---- open / close ---- */

/* Run one PRAGMA or SQL returning at most one integer. */
static int query_int(dbs *s, const char *q, int64_t *v, const char *what)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->h, q, -1, &st, NULL);

	if (rc != SQLITE_OK)
		return fail(s, rc, what);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*v = sqlite3_column_int64(st, 0);
		rc = SQLITE_DONE;
	}
	if (rc != SQLITE_DONE) {
		rc = fail(s, rc, what);
		sqlite3_finalize(st);
		return rc;
	}
	sqlite3_finalize(st);
	return 0;
}

static int exec(dbs *s, const char *q, const char *what)
{
	int rc = sqlite3_exec(s->h, q, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : fail(s, rc, what);
}

/* Check the schema version and apply forward migrations. */
static int schema(dbs *s, int flags)
{
	int64_t v, app, ntables;
	int rc;
	char q[64];

	if ((rc = query_int(s, "PRAGMA user_version", &v, "read schema version")) < 0)
		return rc;
	if (v == SCHEMA_VERSION)
		return 0;
	/*
	 * Version, id and tables from one snapshot: read one by one, a store
	 * that another process created in between (the milter's first start
	 * beside `spamsift db init`) read as version 0 with tables, "another
	 * program's database".
	 */
	if ((rc = exec(s, "BEGIN", "read schema")) < 0)
		return rc;
	if ((rc = query_int(s, "PRAGMA user_version", &v,
	    "read schema version")) == 0 &&
	    (rc = query_int(s, "PRAGMA application_id", &app,
	    "read application id")) == 0)
		rc = query_int(s, "SELECT count(*) FROM sqlite_master",
		    &ntables, "read schema");
	sqlite3_exec(s->h, "COMMIT", NULL, NULL, NULL);
	if (rc < 0)
		return rc;
	if (v == SCHEMA_VERSION)
		return 0;
	if (v > SCHEMA_VERSION)
		return db_seterr(&s->base, -EPROTO, "schema version %lld is "
		    "newer than this program supports (%d): upgrade spamsift",
		    (long long)v, SCHEMA_VERSION);
	if ((app != 0 && app != APPLICATION_ID) || (v == 0 && ntables > 0))
		return db_seterr(&s->base, -EPROTO, "not a spamsift store "
		    "(a SQLite database of another program)");
	if (v == 0 && !(flags & DB_OPEN_CREATE))
		return db_seterr(&s->base, -ENOENT, "the store is empty "
		    "(not created)");
	if (flags & DB_OPEN_READONLY)
		return db_seterr(&s->base, -EROFS, "schema version %lld needs "
		    "an upgrade to %d: open the store read-write once",
		    (long long)v, SCHEMA_VERSION);
	if ((rc = begin_immediate(s, "upgrade schema")) < 0)
		return rc;
	/* another process may have migrated it meanwhile */
	rc = query_int(s, "PRAGMA user_version", &v, "read schema version");
	while (rc == 0 && v < SCHEMA_VERSION) {
		rc = exec(s, migrations[v], "upgrade schema");
		v++;
	}
	if (rc == 0) {
		snprintf(q, sizeof(q), "PRAGMA user_version = %d", SCHEMA_VERSION);
		rc = exec(s, q, "upgrade schema");
	}
	if (rc == 0) {
		snprintf(q, sizeof(q), "PRAGMA application_id = %d", APPLICATION_ID);
		rc = exec(s, q, "upgrade schema");
	}
	if (rc == 0)
		rc = exec(s, "COMMIT", "upgrade schema");
	if (rc < 0 && !sqlite3_get_autocommit(s->h)) {
		char save[DB_ERRMSG_SIZE];

		memcpy(save, s->base.errmsg, sizeof(save));
		sqlite3_exec(s->h, "ROLLBACK", NULL, NULL, NULL);
		memcpy(s->base.errmsg, save, sizeof(save));
	}
	return rc;
}

static void s_close(db *d)
{
	dbs *s = S(d);

	if (s->h && !sqlite3_get_autocommit(s->h))
		sqlite3_exec(s->h, "ROLLBACK", NULL, NULL, NULL);
	for (int i = 0; i < S_COUNT; i++)
		sqlite3_finalize(s->st[i]);
	sqlite3_finalize(s->in_st);
	if (s->qlock >= 0)
		close(s->qlock);
	sqlite3_close(s->h);
	free(s->json);
	db_base_free(d);
	free(s);
}

/*
 * SQLite says only "unable to open database file" when it cannot create
 * the store: if the file does not exist, name what stops it in its
 * directory. Returns that error (set on s), or 0 when nothing was found.
 */
static int cannot_create(dbs *s, const char *path)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	int n = slash == NULL ? 1 : slash == path ? 1 : (int)(slash - path);
	struct stat sb;

	if (stat(path, &sb) == 0 || errno != ENOENT)
		return 0;
	snprintf(dir, sizeof(dir), "%.*s", n, slash == NULL ? "." : path);
	if (stat(dir, &sb) < 0)
		return db_seterr(&s->base, -errno, "open: directory %s: %s", dir,
		    strerror(errno));
	if (!S_ISDIR(sb.st_mode))
		return db_seterr(&s->base, -ENOTDIR, "open: %s is not a directory",
		    dir);
	/* effective ids: the command may run setgid */
	if (faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) < 0)
		return db_seterr(&s->base, -errno, "open: cannot create a file in "
		    "%s: %s", dir, strerror(errno));
	return 0;
}

/* SQLite was told to keep statement journals in memory (DB_OPEN_NO_TEMP_FILES:
 * only the single-threaded command uses it, before SQLite's first use). */
static int stmtjrnl_in_memory;

static int s_open(const char *path, int flags, db **out, char *err,
    size_t errlen)
{
	dbs *s = calloc(1, sizeof(*s));
	int oflags, rc, why;
	struct stat sb;

	if (!s || db_base_init(&s->base, &db_sqlite_ops, path, flags) < 0) {
		free(s);
		if (errlen)
			snprintf(err, errlen, "%s: open: out of memory", path);
		return -ENOMEM;
	}
	s->qlock = -1;
	s->busy_ms = DEFAULT_BUSY_MS;
	s->lookup = DEFAULT_LOOKUP;
	s->batch = DEFAULT_BATCH;
	if ((!(flags & DB_OPEN_CREATE) || (flags & DB_OPEN_READONLY)) &&
	    stat(path, &sb) < 0) {
		rc = db_seterr(&s->base, -errno, "open: %s", strerror(errno));
		goto fail;
	}
	if (flags & DB_OPEN_READONLY)
		oflags = SQLITE_OPEN_READONLY;
	else
		oflags = SQLITE_OPEN_READWRITE |
		    (flags & DB_OPEN_CREATE ? SQLITE_OPEN_CREATE : 0);
	/*
	 * Statement journals (the undo of one statement inside a transaction)
	 * spill to a temporary file past 64 KiB; temp_store (below) does not
	 * cover them, and this setting can only be made before SQLite's first
	 * use in the process.
	 */
	if ((flags & DB_OPEN_NO_TEMP_FILES) && !stmtjrnl_in_memory) {
		if (sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, -1) != SQLITE_OK) {
			rc = db_seterr(&s->base, -EINVAL, "open: cannot keep "
			    "SQLite's statement journals in memory (SQLite "
			    "was already in use)");
			goto fail;
		}
		stmtjrnl_in_memory = 1;
	}
	/* one handle per thread: no need for SQLite's per-connection mutex */
	rc = sqlite3_open_v2(path, &s->h, oflags | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == SQLITE_CANTOPEN && (flags & DB_OPEN_CREATE) &&
	    (why = cannot_create(s, path)) < 0) {
		rc = why;
		goto fail;
	}
	if (rc != SQLITE_OK) {
		rc = fail(s, rc, "open");
		goto fail;
	}
	sqlite3_extended_result_codes(s->h, 1);
	sqlite3_busy_timeout(s->h, s->busy_ms);
	/* Before anything runs (the schema's creation or upgrade included). */
	if ((flags & DB_OPEN_NO_TEMP_FILES) && (rc = exec(s,
	    "PRAGMA temp_store = MEMORY", "keep temporary data in memory")) < 0)
		goto fail;
	if ((rc = sqlite3_create_module(s->h, "spamsift_rows", &rows_module,
	    s)) != SQLITE_OK) {
		rc = fail(s, rc, "open");
		goto fail;
	}
	/*
	 * The cheap check that this is a database at all: reading the header
	 * fails with SQLITE_NOTADB on a file of random bytes.
	 */
	int64_t v;
	if ((rc = query_int(s, "PRAGMA user_version", &v, "open")) < 0)
		goto fail;
	/*
	 * A new store gets 16 KiB pages (SQLite's default is 4): a learning
	 * commit of the milter's writer, a few hundred messages' tokens
	 * spread by their hash over the whole table, rewrites most of its
	 * leaf pages whatever their size, and fewer, larger pages cost fewer
	 * WAL frames, cell moves and B-tree steps (contrib/bench/README.md,
	 * "What limits spamsift here"). Only an empty file takes it, before
	 * WAL mode; an existing store keeps the size it was made with.
	 */
	if ((flags & DB_OPEN_CREATE) && !(flags & DB_OPEN_READONLY) &&
	    (rc = exec(s, "PRAGMA page_size = 16384", "set page size")) < 0)
		goto fail;
	if (!(flags & DB_OPEN_READONLY)) {
		double start = now_ms();

		/*
		 * Switching a new store to WAL needs it alone: while another
		 * process creates it, SQLite answers SQLITE_BUSY at once,
		 * without its busy handler. Retried as begin_immediate is.
		 */
		for (;;) {
			sqlite3_stmt *st = NULL;

			rc = sqlite3_prepare_v2(s->h, "PRAGMA journal_mode = WAL",
			    -1, &st, NULL);
			if (rc == SQLITE_OK &&
			    (rc = sqlite3_step(st)) == SQLITE_ROW) {
				const char *m =
				    (const char *)sqlite3_column_text(st, 0);

				rc = m && strcmp(m, "wal") == 0 ? SQLITE_OK : -1;
			}
			sqlite3_finalize(st);
			if ((rc & 0xff) != SQLITE_BUSY ||
			    now_ms() - start >= s->busy_ms)
				break;
			nanosleep(&(struct timespec){ 0, 2000000 }, NULL);
		}
		if (rc == -1) {
			rc = db_seterr(&s->base, -EIO, "open: cannot switch "
			    "to WAL journal mode");
			goto fail;
		}
		if (rc != SQLITE_OK) {
			rc = fail(s, rc, "set WAL journal mode");
			goto fail;
		}
		if ((rc = exec(s, "PRAGMA synchronous = NORMAL",
		    "set synchronous mode")) < 0)
			goto fail;
		{
			char q[64];

			snprintf(q, sizeof(q), "PRAGMA journal_size_limit = %d",
			    JOURNAL_LIMIT_BYTES);
			if ((rc = query_int(s, q, &v, "set log size limit")) < 0)
				goto fail;
		}
		/* Our hook replaces SQLite's checkpoint at commit. */
		if (flags & DB_OPEN_OWN_CHECKPOINT)
			sqlite3_wal_hook(s->h, wal_hook_frames, s);
	}
	if ((rc = schema(s, flags)) < 0)
		goto fail;
	/* The log is checkpointed past CHECKPOINT_BYTES whatever the page
	 * size: by our hook's handles (s_checkpoint), by SQLite for others. */
	{
		int64_t ps;
		char q[64];

		if ((rc = query_int(s, "PRAGMA page_size", &ps,
		    "read page size")) < 0)
			goto fail;
		s->checkpoint_frames = ps > 0 ? (int)(CHECKPOINT_BYTES / ps) : 1000;
		snprintf(q, sizeof(q), "PRAGMA wal_autocheckpoint = %d",
		    s->checkpoint_frames);
		if (!(flags & (DB_OPEN_READONLY | DB_OPEN_OWN_CHECKPOINT)) &&
		    (rc = exec(s, q, "set checkpoint size")) < 0)
			goto fail;
	}
	/*
	 * Bulk work touches more pages than the default cache (2 MiB) holds:
	 * training the corpus then spilled pages to the WAL and re-read them,
	 * millions of pwrite/pread calls. 64 MiB keeps a model of a few hundred
	 * thousand tokens in memory. Not for the milter's per-thread handles.
	 */
	if ((flags & DB_OPEN_BULK) &&
	    (rc = exec(s, "PRAGMA cache_size = -65536", "set cache size")) < 0)
		goto fail;
	*out = &s->base;
	return 0;
fail:
	if (errlen)
		snprintf(err, errlen, "%s", s->base.errmsg);
	s_close(&s->base);
	return rc;
}

static int s_busy_timeout(db *d, int ms)
{
	S(d)->busy_ms = ms;
	sqlite3_busy_timeout(S(d)->h, ms);
	return 0;
}

/* ---- users ---- */

static int user_get(dbs *s, const char *name, int64_t *uid, const char *what)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = prep(s, S_USER_GET, &st, what)) < 0)
		return rc;
	bind_text(st, 1, name);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*uid = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : fail(s, rc, what);
}

static int s_user(db *d, const char *name, int create, int64_t *uid)
{
	dbs *s = S(d);
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = user_get(s, name, uid, "look up user")) < 0 || *uid || !create)
		return rc;
	if ((rc = wbegin(s, "add user")) < 0)
		return rc;
	if ((rc = prep(s, S_USER_ADD, &st, "add user")) == 0) {
		bind_text(st, 1, name);
		rc = run(s, st, "add user");
	}
	if (rc == 0)
		rc = user_get(s, name, uid, "add user");
	return wend(s, rc, "add user");
}

/* ---- collecting rows for the iterators ---- */

typedef struct cell {
	int64_t i;              /* integer value */
	double f;               /* real value */
	char *t;                /* text/blob copy, NUL-terminated (or NULL) */
	size_t len;             /* its length */
} cell;

typedef struct rows {
	cell *c;                /* n * ncol cells */
	size_t n, cap;          /* rows and capacity */
	int ncol;               /* columns per row */
} rows;

static void rows_free(rows *r)
{
	for (size_t i = 0; i < r->n * (size_t)r->ncol; i++)
		free(r->c[i].t);
	free(r->c);
}

/* Run st (parameters bound) and copy its rows; text columns in tmask. */
static int collect(dbs *s, sqlite3_stmt *st, int ncol, unsigned tmask,
    rows *r, const char *what)
{
	int rc;

	memset(r, 0, sizeof(*r));
	r->ncol = ncol;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (r->n == r->cap) {
			size_t ncap = r->cap ? r->cap * 2 : 16;
			cell *nc = realloc(r->c, ncap * ncol * sizeof(cell));

			if (!nc)
				goto nomem;
			r->c = nc;
			r->cap = ncap;
		}
		cell *row = &r->c[r->n * ncol];
		memset(row, 0, ncol * sizeof(cell));
		r->n++;
		for (int k = 0; k < ncol; k++) {
			row[k].i = sqlite3_column_int64(st, k);
			row[k].f = sqlite3_column_double(st, k);
			if (!(tmask & (1u << k)))
				continue;
			const void *p = sqlite3_column_blob(st, k);
			size_t l = (size_t)sqlite3_column_bytes(st, k);
			row[k].t = malloc(l + 1);
			if (!row[k].t)
				goto nomem;
			if (l)
				memcpy(row[k].t, p, l);
			row[k].t[l] = '\0';
			row[k].len = l;
		}
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		rows_free(r);
		return fail(s, rc, what);
	}
	return 0;
nomem:
	sqlite3_reset(st);
	rows_free(r);
	return db_seterr(&s->base, -ENOMEM, "%s: out of memory", what);
}

static int stop_rc(int rc)
{
	return rc < 0 ? rc : 0;
}

static int s_user_iter(db *d, int (*fn)(void *, int64_t, const char *),
    void *arg)
{
	dbs *s = S(d);
	sqlite3_stmt *st = NULL;
	rows r;
	int rc;

	if ((rc = prep(s, S_USER_ALL, &st, "list users")) < 0 ||
	    (rc = collect(s, st, 2, 1u << 1, &r, "list users")) < 0)
		return rc;
	for (size_t i = 0; i < r.n && rc == 0; i++)
		rc = fn(arg, r.c[i * 2].i, r.c[i * 2 + 1].t);
	rows_free(&r);
	return stop_rc(rc);
}

/* ---- tokens ---- */

/* A hash and where it is in the caller's array, sorted to match rows. */
typedef struct hpos {
	int64_t h;              /* hash as stored */
	size_t i;               /* index in toks */
} hpos;

static int cmp_hpos(const void *a, const void *b)
{
	int64_t x = ((const hpos *)a)->h, y = ((const hpos *)b)->h;

	return x < y ? -1 : x > y;
}

/* Store a result row's counts into every toks entry with that hash. */
static void scatter(const hpos *pos, size_t n, db_token *toks, int64_t h,
    int64_t spam, int64_t innocent)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (pos[mid].h < h)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < n && pos[lo].h == h; lo++) {
		toks[pos[lo].i].spam_hits = spam;
		toks[pos[lo].i].innocent_hits = innocent;
	}
}

static int get_point(dbs *s, int64_t uid, db_token *toks, size_t n)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = prep(s, S_TOK_GET1, &st, "read tokens")) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, uid);
	for (size_t i = 0; i < n; i++) {
		sqlite3_bind_int64(st, 2, (int64_t)toks[i].hash);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			toks[i].spam_hits = sqlite3_column_int64(st, 0);
			toks[i].innocent_hits = sqlite3_column_int64(st, 1);
		} else if (rc != SQLITE_DONE) {
			sqlite3_reset(st);
			return fail(s, rc, "read tokens");
		}
		sqlite3_reset(st);
	}
	return 0;
}

static int in_stmt(dbs *s, size_t batch)
{
	char *q;
	size_t len = 128 + batch * 4;
	int rc;

	if (s->in_st && s->in_batch == batch)
		return 0;
	sqlite3_finalize(s->in_st);
	s->in_st = NULL;
	s->in_batch = 0;
	q = malloc(len);
	if (!q)
		return db_seterr(&s->base, -ENOMEM, "read tokens: out of memory");
	size_t o = (size_t)snprintf(q, len, "SELECT hash, spam_hits, "
	    "innocent_hits FROM tokens WHERE uid = ?1 AND hash IN (?2");
	for (size_t i = 1; i < batch; i++) {
		memcpy(q + o, ",?", 2);
		o += 2;
	}
	memcpy(q + o, ")", 2);
	rc = sqlite3_prepare_v3(s->h, q, -1, SQLITE_PREPARE_PERSISTENT,
	    &s->in_st, NULL);
	free(q);
	if (rc != SQLITE_OK) {
		s->in_st = NULL;
		return fail(s, rc, "read tokens");
	}
	s->in_batch = batch;
	return 0;
}

/*
 * Batches of `hash IN (?,...)` with a fixed number of parameters (so one
 * prepared statement serves every batch); a short last batch repeats its
 * first hash. Rows come back in index order, not in ours: they are matched
 * to the caller's entries through a sorted copy of the batch.
 */
static int get_in(dbs *s, int64_t uid, db_token *toks, size_t n)
{
	hpos pos[DB_SQLITE_MAX_BATCH];
	size_t b = s->batch;
	int rc;

	if ((rc = in_stmt(s, b)) < 0)
		return rc;
	sqlite3_stmt *st = s->in_st;
	sqlite3_bind_int64(st, 1, uid);
	for (size_t off = 0; off < n; off += b) {
		size_t m = n - off < b ? n - off : b;

		for (size_t k = 0; k < m; k++) {
			pos[k].h = (int64_t)toks[off + k].hash;
			pos[k].i = off + k;
		}
		for (size_t k = 0; k < b; k++)
			sqlite3_bind_int64(st, (int)k + 2, pos[k < m ? k : 0].h);
		qsort(pos, m, sizeof(pos[0]), cmp_hpos);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			scatter(pos, m, toks, sqlite3_column_int64(st, 0),
			    sqlite3_column_int64(st, 1),
			    sqlite3_column_int64(st, 2));
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			return fail(s, rc, "read tokens");
	}
	return 0;
}

/* Batches passed as one JSON array text joined through json_each(). */
static int get_json(dbs *s, int64_t uid, db_token *toks, size_t n)
{
	size_t b = s->batch, need = b * 22 + 4;
	hpos *pos;
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = prep(s, S_TOK_JSON, &st, "read tokens")) < 0)
		return rc;
	if (s->jsonlen < need) {
		char *j = realloc(s->json, need);

		if (!j)
			return db_seterr(&s->base, -ENOMEM, "read tokens: out of memory");
		s->json = j;
		s->jsonlen = need;
	}
	pos = malloc(b * sizeof(*pos));
	if (!pos)
		return db_seterr(&s->base, -ENOMEM, "read tokens: out of memory");
	sqlite3_bind_int64(st, 1, uid);
	for (size_t off = 0; off < n && rc == 0; off += b) {
		size_t m = n - off < b ? n - off : b, o = 1;

		s->json[0] = '[';
		for (size_t k = 0; k < m; k++) {
			pos[k].h = (int64_t)toks[off + k].hash;
			pos[k].i = off + k;
			o += (size_t)snprintf(s->json + o, need - o, "%s%lld",
			    k ? "," : "", (long long)pos[k].h);
		}
		s->json[o++] = ']';
		sqlite3_bind_text(st, 2, s->json, (int)o, SQLITE_STATIC);
		qsort(pos, m, sizeof(pos[0]), cmp_hpos);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			scatter(pos, m, toks, sqlite3_column_int64(st, 0),
			    sqlite3_column_int64(st, 1),
			    sqlite3_column_int64(st, 2));
		sqlite3_reset(st);
		rc = rc == SQLITE_DONE ? 0 : fail(s, rc, "read tokens");
	}
	sqlite3_clear_bindings(st);
	free(pos);
	return rc;
}

static int s_tokens_get(db *d, int64_t uid, db_token *toks, size_t n)
{
	dbs *s = S(d);
	int multi, rc;

	for (size_t i = 0; i < n; i++)
		toks[i].spam_hits = toks[i].innocent_hits = 0;
	/* several statements: read them from one snapshot */
	multi = s->lookup == DB_SQLITE_LOOKUP_POINT ? n > 1 : n > s->batch;
	if (multi && (rc = rbegin(s, "read tokens")) < 0)
		return rc;
	switch (s->lookup) {
	case DB_SQLITE_LOOKUP_POINT:
		rc = get_point(s, uid, toks, n);
		break;
	case DB_SQLITE_LOOKUP_JSON:
		rc = get_json(s, uid, toks, n);
		break;
	default:
		rc = get_in(s, uid, toks, n);
		break;
	}
	return multi ? rend(s, rc, "read tokens") : rc;
}

/*
 * ---- spamsift_rows: the rows of one tokens_add call as a table ----
 *
 * An eponymous virtual table (registered on every connection) that shows
 * the caller's db_tokadd array, so that a whole sorted batch is merged by
 * one INSERT ... SELECT ... ON CONFLICT statement. Measured on 474k rows
 * (contrib/bench/README.md, Storage): 0.30 us per row into an empty table and
 * 0.78 into a full one, against 1.14 and 1.10 for one prepared upsert per
 * row -- the statement keeps its cursor open, and SQLite's seek from the
 * current leaf pays off when the keys come in order.
 */
typedef struct vtab {
	sqlite3_vtab base;              /* must be first */
	dbs *s;                         /* the connection's handle */
} vtab;

typedef struct vcur {
	sqlite3_vtab_cursor base;       /* must be first */
	size_t i;                       /* current row */
} vcur;

static int v_connect(sqlite3 *h, void *aux, int argc, const char *const *argv,
    sqlite3_vtab **out, char **err)
{
	vtab *v;
	int rc;

	(void)argc;
	(void)argv;
	(void)err;
	rc = sqlite3_declare_vtab(h, "CREATE TABLE x(uid INTEGER, "
	    "hash INTEGER, spam INTEGER, innocent INTEGER, day INTEGER)");
	if (rc != SQLITE_OK)
		return rc;
	if ((v = sqlite3_malloc(sizeof(*v))) == NULL)
		return SQLITE_NOMEM;
	memset(v, 0, sizeof(*v));
	v->s = aux;
	*out = &v->base;
	return SQLITE_OK;
}

static int v_disconnect(sqlite3_vtab *v)
{
	sqlite3_free(v);
	return SQLITE_OK;
}

static int v_best_index(sqlite3_vtab *v, sqlite3_index_info *ii)
{
	(void)v;
	ii->estimatedCost = 1e6;
	return SQLITE_OK;
}

static int v_open(sqlite3_vtab *v, sqlite3_vtab_cursor **out)
{
	vcur *c = sqlite3_malloc(sizeof(*c));

	(void)v;
	if (c == NULL)
		return SQLITE_NOMEM;
	memset(c, 0, sizeof(*c));
	*out = &c->base;
	return SQLITE_OK;
}

static int v_close(sqlite3_vtab_cursor *c)
{
	sqlite3_free(c);
	return SQLITE_OK;
}

static int v_filter(sqlite3_vtab_cursor *c, int idx, const char *idxstr,
    int argc, sqlite3_value **argv)
{
	(void)idx;
	(void)idxstr;
	(void)argc;
	(void)argv;
	((vcur *)c)->i = 0;
	return SQLITE_OK;
}

static int v_next(sqlite3_vtab_cursor *c)
{
	((vcur *)c)->i++;
	return SQLITE_OK;
}

/* The connection's handle (the module's client data). */
static dbs *v_owner(sqlite3_vtab_cursor *c)
{
	return ((vtab *)c->pVtab)->s;
}

static int v_eof(sqlite3_vtab_cursor *c)
{
	return ((vcur *)c)->i >= v_owner(c)->vn;
}

static int v_column(sqlite3_vtab_cursor *c, sqlite3_context *ctx, int col)
{
	const db_tokadd *r = &v_owner(c)->vrows[((vcur *)c)->i];

	switch (col) {
	case 0: sqlite3_result_int64(ctx, r->uid); break;
	case 1: sqlite3_result_int64(ctx, (int64_t)r->hash); break;
	case 2: sqlite3_result_int64(ctx, r->spam); break;
	case 3: sqlite3_result_int64(ctx, r->innocent); break;
	default: sqlite3_result_int(ctx, r->day); break;
	}
	return SQLITE_OK;
}

static int v_rowid(sqlite3_vtab_cursor *c, sqlite3_int64 *rowid)
{
	*rowid = (sqlite3_int64)((vcur *)c)->i;
	return SQLITE_OK;
}

static const sqlite3_module rows_module = {
	.iVersion = 0,
	.xCreate = NULL,                /* eponymous only */
	.xConnect = v_connect,
	.xBestIndex = v_best_index,
	.xDisconnect = v_disconnect,
	.xOpen = v_open,
	.xClose = v_close,
	.xFilter = v_filter,
	.xNext = v_next,
	.xEof = v_eof,
	.xColumn = v_column,
	.xRowid = v_rowid,
};

static int s_tokens_add(db *d, const db_tokadd *rows, size_t n)
{
	dbs *s = S(d);
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = prep(s, S_TOK_ADD, &st, "update tokens")) < 0)
		return rc;
	if ((rc = wbegin(s, "update tokens")) < 0)
		return rc;
	s->vrows = rows;
	s->vn = n;
	rc = run(s, st, "update tokens");
	s->vrows = NULL;
	s->vn = 0;
	return wend(s, rc, "update tokens");
}

static int s_gen_get(db *d, uint64_t *gen)
{
	dbs *s = S(d);
	sqlite3_stmt *st = NULL;
	int rc;

	*gen = 0;
	if ((rc = prep(s, S_GEN_GET, &st, "read generation")) < 0)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*gen = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 :
	    fail(s, rc, "read generation");
}

static int s_gen_bump(db *d, uint64_t step, uint64_t *gen)
{
	dbs *s = S(d);
	sqlite3_stmt *st = NULL;
	int rc;

	*gen = 0;
	if ((rc = prep(s, S_GEN_BUMP, &st, "update generation")) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)step);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*gen = (uint64_t)sqlite3_column_int64(st, 0);
		rc = sqlite3_step(st);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : fail(s, rc, "update generation");
}

static int s_tokens_update(db *d, int64_t uid, const uint64_t *hashes,
    size_t n, int spam_delta, int innocent_delta, int day)
{
	dbs *s = S(d);
	sqlite3_stmt *up, *del = NULL;
	/* only a decrement (or a zero learn) can leave a row at 0/0 */
	int may_zero = spam_delta <= 0 && innocent_delta <= 0;
	int rc;

	if ((rc = prep(s, S_TOK_UPD, &up, "update tokens")) < 0 ||
	    (may_zero && (rc = prep(s, S_TOK_DEL0, &del, "update tokens")) < 0))
		return rc;
	if ((rc = wbegin(s, "update tokens")) < 0)
		return rc;
	sqlite3_bind_int64(up, 1, uid);
	sqlite3_bind_int(up, 3, spam_delta);
	sqlite3_bind_int(up, 4, innocent_delta);
	sqlite3_bind_int(up, 5, day);
	if (del)
		sqlite3_bind_int64(del, 1, uid);
	for (size_t i = 0; i < n && rc == 0; i++) {
		sqlite3_bind_int64(up, 2, (int64_t)hashes[i]);
		rc = run(s, up, "update tokens");
		if (rc == 0 && del) {
			sqlite3_bind_int64(del, 2, (int64_t)hashes[i]);
			rc = run(s, del, "update tokens");
		}
	}
	return wend(s, rc, "update tokens");
}

/* ---- totals ---- */

static int s_totals_get(db *d, int64_t uid, db_totals *out)
{
	dbs *s = S(d);
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = prep(s, S_TOT_GET, &st, "read totals")) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, uid);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		int64_t *f[9] = { &out->spam_learned, &out->innocent_learned,
		    &out->spam_misclassified, &out->innocent_misclassified,
		    &out->spam_corpusfed, &out->innocent_corpusfed,
		    &out->spam_classified, &out->innocent_classified,
		    &out->spam_inoculated };

		for (int k = 0; k < 9; k++)
			*f[k] = sqlite3_column_int64(st, k);
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 :
	    fail(s, rc, "read totals");
}

static int s_totals_add(db *d, int64_t uid, const db_totals *t)
{
	dbs *s = S(d);
	sqlite3_stmt *st = NULL;
	int64_t f[9] = { t->spam_learned, t->innocent_learned,
	    t->spam_misclassified, t->innocent_misclassified,
	    t->spam_corpusfed, t->innocent_corpusfed, t->spam_classified,
	    t->innocent_classified, t->spam_inoculated };
	int rc;

	if ((rc = prep(s, S_TOT_ADD, &st, "update totals")) < 0)
		return rc;
	if ((rc = wbegin(s, "update totals")) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, uid);
	for (int k = 0; k < 9; k++)
		sqlite3_bind_int64(st, k + 2, f[k]);
	rc = run(s, st, "update totals");
	return wend(s, rc, "update totals");
}

/* ---- signatures ---- */

static int s_sig_put(db *d, const db_sig *sig)
{
	dbs *s = S(d);
	sqlite3_stmt *st = NULL;
	unsigned char *blob;
	size_t len = sig->nhashes * 8;
	int rc;

	if (len > 0x7fffffff)
		return db_seterr(d, -E2BIG, "store signature: too many hashes");
	blob = malloc(len ? len : 1);
	if (!blob)
		return db_seterr(d, -ENOMEM, "store signature: out of memory");
	for (size_t i = 0; i < sig->nhashes; i++)
		for (int b = 0; b < 8; b++)
			blob[i * 8 + b] = (unsigned char)(sig->hashes[i] >> (8 * b));
	if ((rc = prep(s, S_SIG_PUT, &st, "store signature")) == 0 &&
	    (rc = wbegin(s, "store signature")) == 0) {
		sqlite3_bind_int64(st, 1, sig->uid);
		bind_text(st, 2, sig->id);
		sqlite3_bind_int(st, 3, sig->cls);
		sqlite3_bind_int(st, 4, sig->learned);
		sqlite3_bind_int64(st, 5, (int64_t)sig->created);
		sqlite3_bind_blob(st, 6, blob, (int)len, SQLITE_STATIC);
		bind_text(st, 7, sig->sender);
		sqlite3_bind_int64(st, 8, (int64_t)sig->ntok);
		sqlite3_bind_int64(st, 9, (int64_t)sig->head);
		rc = run(s, st, "store signature");
		sqlite3_clear_bindings(st);
		rc = wend(s, rc, "store signature");
	}
	free(blob);
	return rc;
}

static int s_sig_get(db *d, int64_t uid, const char *id, db_sig **out)
{
	dbs *s = S(d);
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = prep(s, S_SIG_GET, &st, "read signature")) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, uid);
	bind_text(st, 2, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const unsigned char *b = sqlite3_column_blob(st, 3);
		size_t n = (size_t)sqlite3_column_bytes(st, 3) / 8;
		db_sig *sig = db_sig_alloc(id, n);
		const char *snd;

		if (!sig) {
			sqlite3_reset(st);
			return db_seterr(d, -ENOMEM, "read signature: out of memory");
		}
		sig->uid = uid;
		sig->cls = sqlite3_column_int(st, 0);
		sig->learned = sqlite3_column_int(st, 1);
		sig->created = (time_t)sqlite3_column_int64(st, 2);
		snd = (const char *)sqlite3_column_text(st, 4);
		snprintf(sig->sender, sizeof(sig->sender), "%s", snd ? snd : "");
		/* (a value out of range is taken as not known) */
		{
			int64_t nt = sqlite3_column_int64(st, 5);
			int64_t hd = sqlite3_column_int64(st, 6);

			if (nt > 0 && (uint64_t)nt <= n && hd >= 0 && hd <= nt) {
				sig->ntok = (size_t)nt;
				sig->head = (size_t)hd;
			}
		}
		for (size_t i = 0; i < n; i++) {
			uint64_t h = 0;

			for (int k = 7; k >= 0; k--)
				h = h << 8 | b[i * 8 + (size_t)k];
			sig->hashes[i] = h;
		}
		*out = sig;
		rc = SQLITE_DONE;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : fail(s, rc, "read signature");
}

static int s_sig_update(db *d, int64_t uid, const char *id, int cls,
    int learned)
{
	dbs *s = S(d);
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = prep(s, S_SIG_UPD, &st, "update signature")) < 0 ||
	    (rc = wbegin(s, "update signature")) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, uid);
	bind_text(st, 2, id);
	sqlite3_bind_int(st, 3, cls);
	sqlite3_bind_int(st, 4, learned);
	rc = run(s, st, "update signature");
	return wend(s, rc, "update signature");
}

/* An expiry: rows of user uid (0: every user's) before `before`, at most
 * limit of them (0: all); count in *n. */
static int expire(dbs *s, int id, int64_t uid, int64_t before, int64_t limit,
    int64_t *n, const char *what)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = prep(s, id, &st, what)) < 0 || (rc = wbegin(s, what)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, before);
	sqlite3_bind_int64(st, 2, uid);
	sqlite3_bind_int64(st, 3, limit > 0 ? limit : -1);
	rc = run(s, st, what);
	if (rc == 0)
		*n = sqlite3_changes(s->h);
	return wend(s, rc, what);
}

static int s_sig_expire(db *d, int64_t uid, time_t before, int64_t limit,
    int64_t *n)
{
	return expire(S(d), S_SIG_EXP, uid, (int64_t)before, limit, n,
	    "expire signatures");
}

/* ---- lists ---- */

static int s_list_add(db *d, int64_t uid, int kind, const db_list_entry *e)
{
	dbs *s = S(d);
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = prep(s, S_LIST_ADD, &st, "add list entry")) < 0 ||
	    (rc = wbegin(s, "add list entry")) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, uid);
	sqlite3_bind_int(st, 2, kind);
	bind_text(st, 3, e->pattern);
	sqlite3_bind_int(st, 4, e->automatic ? 1 : 0);
	sqlite3_bind_int64(st, 5, (int64_t)e->added);
	bind_text(st, 6, e->added_by ? e->added_by : "");
	rc = run(s, st, "add list entry");
	sqlite3_clear_bindings(st);
	return wend(s, rc, "add list entry");
}

static int s_list_del(db *d, int64_t uid, int kind, const char *pattern,
    int *found)
{
	dbs *s = S(d);
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = prep(s, S_LIST_DEL, &st, "delete list entry")) < 0 ||
	    (rc = wbegin(s, "delete list entry")) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, uid);
	sqlite3_bind_int(st, 2, kind);
	bind_text(st, 3, pattern);
	rc = run(s, st, "delete list entry");
	if (rc == 0)
		*found = sqlite3_changes(s->h) > 0;
	sqlite3_clear_bindings(st);
	return wend(s, rc, "delete list entry");
}

#define LIST_IN_MAX 8      /* the ?3..?10 of S_LIST_HAS */

static int s_list_match(db *d, int64_t uid, int kind, const char *address,
    int *matched)
{
	dbs *s = S(d);
	size_t blen = strlen(address) + 2, nc;
	const char *cand[130];
	sqlite3_stmt *st = NULL;
	char *buf;
	int rc;

	if ((rc = prep(s, S_LIST_HAS, &st, "match list")) < 0)
		return rc;
	if (!(buf = malloc(blen)))
		return db_seterr(d, -ENOMEM, "match list: out of memory");
	if ((rc = db_list_candidates(address, buf, blen, cand, 130, &nc)) < 0) {
		free(buf);
		return db_seterr(d, rc, "match list: address has too many "
		    "domain labels");
	}
	sqlite3_bind_int64(st, 1, uid);
	sqlite3_bind_int(st, 2, kind);
	/* One step looks for up to LIST_IN_MAX of the candidates (an address
	 * has 5 or so): a step each cost 3% of the milter's CPU. */
	for (size_t i = 0; i < nc && !*matched && rc == 0; i += LIST_IN_MAX) {
		for (size_t j = 0; j < LIST_IN_MAX; j++) {
			if (i + j < nc)
				bind_text(st, 3 + (int)j, cand[i + j]);
			else
				sqlite3_bind_null(st, 3 + (int)j);
		}
		int r = sqlite3_step(st);

		if (r == SQLITE_ROW)
			*matched = 1;
		else if (r != SQLITE_DONE)
			rc = fail(s, r, "match list");
		sqlite3_reset(st);
	}
	sqlite3_clear_bindings(st);
	free(buf);
	return rc;
}

static int s_list_iter(db *d, int64_t uid, int kind,
    int (*fn)(void *, const db_list_entry *), void *arg)
{
	dbs *s = S(d);
	sqlite3_stmt *st = NULL;
	rows r;
	int rc;

	if ((rc = prep(s, S_LIST_ALL, &st, "list entries")) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, uid);
	sqlite3_bind_int(st, 2, kind);
	if ((rc = collect(s, st, 4, 1u << 0 | 1u << 3, &r, "list entries")) < 0)
		return rc;
	for (size_t i = 0; i < r.n && rc == 0; i++) {
		cell *c = &r.c[i * 4];
		db_list_entry e = { .pattern = c[0].t, .automatic = (int)c[1].i,
		    .added = (time_t)c[2].i, .added_by = c[3].t };

		rc = fn(arg, &e);
	}
	rows_free(&r);
	return stop_rc(rc);
}

/* ---- senders ---- */

static int s_sender_add(db *d, int64_t uid, const char *sender,
    int innocent_delta, int spam_delta, int day, db_sender *out)
{
	dbs *s = S(d);
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = prep(s, S_SENDER_ADD, &st, "update sender")) < 0 ||
	    (rc = wbegin(s, "update sender")) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, uid);
	bind_text(st, 2, sender);
	sqlite3_bind_int(st, 3, innocent_delta);
	sqlite3_bind_int(st, 4, spam_delta);
	sqlite3_bind_int(st, 5, day);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		out->innocent = sqlite3_column_int64(st, 0);
		out->spam = sqlite3_column_int64(st, 1);
		/* finish the statement so the change is made */
		rc = sqlite3_step(st);
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	rc = rc == SQLITE_DONE ? 0 : fail(s, rc, "update sender");
	return wend(s, rc, "update sender");
}

/* ---- preferences ---- */

static int s_pref_get(db *d, int64_t uid, const char *key, char *buf,
    size_t len, int *found)
{
	dbs *s = S(d);
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = prep(s, S_PREF_GET, &st, "read preference")) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, uid);
	bind_text(st, 2, key);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(st, 0);
		size_t l = (size_t)sqlite3_column_bytes(st, 0);

		if (l + 1 > len) {
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			return db_seterr(d, -ERANGE, "read preference %s: value "
			    "longer than the buffer", key);
		}
		memcpy(buf, v ? v : "", l);
		buf[l] = '\0';
		*found = 1;
		rc = SQLITE_DONE;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? 0 : fail(s, rc, "read preference");
}

static int s_pref_set(db *d, int64_t uid, const char *key, const char *value)
{
	dbs *s = S(d);
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = prep(s, S_PREF_SET, &st, "set preference")) < 0 ||
	    (rc = wbegin(s, "set preference")) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, uid);
	bind_text(st, 2, key);
	bind_text(st, 3, value);
	rc = run(s, st, "set preference");
	sqlite3_clear_bindings(st);
	return wend(s, rc, "set preference");
}

static int s_pref_unset(db *d, int64_t uid, const char *key, int *found)
{
	dbs *s = S(d);
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = prep(s, S_PREF_DEL, &st, "unset preference")) < 0 ||
	    (rc = wbegin(s, "unset preference")) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, uid);
	bind_text(st, 2, key);
	rc = run(s, st, "unset preference");
	if (rc == 0)
		*found = sqlite3_changes(s->h) > 0;
	sqlite3_clear_bindings(st);
	return wend(s, rc, "unset preference");
}

/* Rare (an administrator's command): statements made for the call. */
static int s_user_delete(db *d, int64_t uid)
{
	static const char *const tables[] = { "tokens", "totals",
		"signatures", "lists", "senders", "prefs", "quarantine" };
	dbs *s = S(d);
	int rc;

	if ((rc = wbegin(s, "delete user")) < 0)
		return rc;
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]) && rc == 0;
	    i++) {
		sqlite3_stmt *st = NULL;
		char q[64];
		int r;

		snprintf(q, sizeof(q), "DELETE FROM %s WHERE uid = ?1", tables[i]);
		r = sqlite3_prepare_v2(s->h, q, -1, &st, NULL);
		if (r == SQLITE_OK) {
			sqlite3_bind_int64(st, 1, uid);
			r = sqlite3_step(st);
		}
		if (r != SQLITE_DONE)
			rc = fail(s, r, "delete user");
		sqlite3_finalize(st);
	}
	return wend(s, rc, "delete user");
}

static int s_tokens_iter(db *d, int64_t uid,
    int (*fn)(void *, const db_token *), void *arg)
{
	dbs *s = S(d);
	sqlite3_stmt *st = NULL;
	int rc, cb = 0;

	if ((rc = prep(s, S_TOK_ALL, &st, "list tokens")) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, uid);
	while (cb == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		db_token t = { (uint64_t)sqlite3_column_int64(st, 0),
			sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2) };

		cb = fn(arg, &t);
	}
	sqlite3_reset(st);
	if (cb == 0 && rc != SQLITE_DONE)
		return fail(s, rc, "list tokens");
	return cb < 0 ? cb : 0;
}

static int s_pref_iter(db *d, int64_t uid,
    int (*fn)(void *, const char *, const char *), void *arg)
{
	dbs *s = S(d);
	sqlite3_stmt *st = NULL;
	rows r;
	int rc;

	if ((rc = prep(s, S_PREF_ALL, &st, "list preferences")) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, uid);
	if ((rc = collect(s, st, 2, 3, &r, "list preferences")) < 0)
		return rc;
	for (size_t i = 0; i < r.n && rc == 0; i++)
		rc = fn(arg, r.c[i * 2].t, r.c[i * 2 + 1].t);
	rows_free(&r);
	return stop_rc(rc);
}

/* ---- quarantine ---- */

static int s_quar_put(db *d, const db_quar *q, int64_t *id)
{
	dbs *s = S(d);
	sqlite3_stmt *st = NULL;
	const char *str[4] = { q->sender, q->recipients, q->subject,
	    q->signature };
	int rc;

	if (q->len > 0x7fffffff)
		return db_seterr(d, -E2BIG, "quarantine message: too large");
	if ((rc = prep(s, S_QUAR_PUT, &st, "quarantine message")) < 0)
		return rc;
	/* this commit must reach the disk before we report success */
	if ((rc = exec(s, "PRAGMA synchronous = FULL", "quarantine message")) < 0)
		return rc;
	if ((rc = wbegin(s, "quarantine message")) == 0) {
		sqlite3_bind_int64(st, 1, q->uid);
		for (int k = 0; k < 4; k++)
			bind_text(st, k + 2, str[k] ? str[k] : "");
		sqlite3_bind_double(st, 6, q->probability);
		sqlite3_bind_int64(st, 7, (int64_t)q->when);
		sqlite3_bind_blob(st, 8, q->len ? q->data : "", (int)q->len,
		    SQLITE_STATIC);
		rc = run(s, st, "quarantine message");
		if (rc == 0)
			*id = sqlite3_last_insert_rowid(s->h);
		sqlite3_clear_bindings(st);
		rc = wend(s, rc, "quarantine message");
	}
	/*
	 * Back to the store's usual setting. Its failure must not undo a
	 * stored message: reported as an error, the writer thread would
	 * retry and store it twice (the setting then stays FULL: slower
	 * commits, nothing lost).
	 */
	(void)exec(s, "PRAGMA synchronous = NORMAL", "quarantine message");
	return rc;
}

static int s_quar_iter(db *d, int64_t uid,
    int (*fn)(void *, const db_quar *), void *arg)
{
	dbs *s = S(d);
	sqlite3_stmt *st = NULL;
	rows r;
	int rc;

	if ((rc = prep(s, S_QUAR_ALL, &st, "list quarantine")) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, uid);
	if ((rc = collect(s, st, 8, 0x1e, &r, "list quarantine")) < 0)
		return rc;
	for (size_t i = 0; i < r.n && rc == 0; i++) {
		cell *c = &r.c[i * 8];
		db_quar q = { .id = c[0].i, .uid = uid, .sender = c[1].t,
		    .recipients = c[2].t, .subject = c[3].t,
		    .signature = c[4].t, .probability = c[5].f,
		    .when = (time_t)c[6].i, .data = NULL, .len = (size_t)c[7].i };

		rc = fn(arg, &q);
	}
	rows_free(&r);
	return stop_rc(rc);
}

static int s_quar_get(db *d, int64_t uid, int64_t id, db_quar **out)
{
	dbs *s = S(d);
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = prep(s, S_QUAR_GET, &st, "read quarantined message")) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, uid);
	sqlite3_bind_int64(st, 2, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		db_quar q = { .id = id, .uid = uid,
		    .sender = (const char *)sqlite3_column_text(st, 0),
		    .recipients = (const char *)sqlite3_column_text(st, 1),
		    .subject = (const char *)sqlite3_column_text(st, 2),
		    .signature = (const char *)sqlite3_column_text(st, 3),
		    .probability = sqlite3_column_double(st, 4),
		    .when = (time_t)sqlite3_column_int64(st, 5) };

		q.data = sqlite3_column_blob(st, 6);
		q.len = (size_t)sqlite3_column_bytes(st, 6);
		*out = db_quar_alloc(&q, 1);
		sqlite3_reset(st);
		return *out ? 0 : db_seterr(d, -ENOMEM,
		    "read quarantined message: out of memory");
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : fail(s, rc, "read quarantined message");
}

static int s_quar_del(db *d, int64_t uid, int64_t id, int *found)
{
	dbs *s = S(d);
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = prep(s, S_QUAR_DEL, &st, "delete quarantined message")) < 0 ||
	    (rc = wbegin(s, "delete quarantined message")) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, uid);
	sqlite3_bind_int64(st, 2, id);
	rc = run(s, st, "delete quarantined message");
	if (rc == 0)
		*found = sqlite3_changes(s->h) > 0;
	return wend(s, rc, "delete quarantined message");
}

static int s_quar_expire(db *d, int64_t uid, time_t before, int64_t limit,
    int64_t *n)
{
	return expire(S(d), S_QUAR_EXP, uid, (int64_t)before, limit, n,
	    "expire quarantine");
}

/* ---- hygiene ---- */

static int s_purge(db *d, int day, int64_t max_hits, db_purge_pos *pos,
    int64_t max_rows, int64_t *n)
{
	dbs *s = S(d);
	sqlite3_stmt *st = NULL;
	int64_t end_uid = INT64_MAX, end_hash = INT64_MAX;
	int rc;

	if (!pos->started) {
		pos->uid = pos->hash = INT64_MIN;
		pos->started = 1;
	}
	if ((rc = wbegin(s, "purge tokens")) < 0)
		return rc;
	pos->end = 1;
	if (max_rows > 0) {
		if ((rc = prep(s, S_PURGE_END, &st, "purge tokens")) < 0)
			return wend(s, rc, "purge tokens");
		sqlite3_bind_int64(st, 1, pos->uid);
		sqlite3_bind_int64(st, 2, pos->hash);
		sqlite3_bind_int64(st, 3, max_rows);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			end_uid = sqlite3_column_int64(st, 0);
			end_hash = sqlite3_column_int64(st, 1);
			pos->end = 0;
		}
		sqlite3_reset(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return wend(s, fail(s, rc, "purge tokens"),
			    "purge tokens");
	}
	if ((rc = prep(s, S_PURGE, &st, "purge tokens")) < 0)
		return wend(s, rc, "purge tokens");
	sqlite3_bind_int64(st, 1, pos->uid);
	sqlite3_bind_int64(st, 2, pos->hash);
	sqlite3_bind_int64(st, 3, end_uid);
	sqlite3_bind_int64(st, 4, end_hash);
	sqlite3_bind_int(st, 5, day);
	sqlite3_bind_int64(st, 6, max_hits);
	rc = run(s, st, "purge tokens");
	if (rc == 0) {
		*n = sqlite3_changes(s->h);
		pos->uid = end_uid;
		pos->hash = end_hash;
	}
	return wend(s, rc, "purge tokens");
}

/* Senders step by rowid: a plain table, its rowids in its own b-tree. */
static int s_sender_purge(db *d, int day, int64_t max_hits,
    db_purge_pos *pos, int64_t max_rows, int64_t *n)
{
	dbs *s = S(d);
	sqlite3_stmt *st = NULL;
	int64_t end = INT64_MAX;
	int rc;

	if (!pos->started) {
		pos->hash = INT64_MIN;
		pos->started = 1;
	}
	if ((rc = wbegin(s, "purge senders")) < 0)
		return rc;
	pos->end = 1;
	if (max_rows > 0) {
		if ((rc = prep(s, S_SENDER_PURGE_END, &st, "purge senders")) < 0)
			return wend(s, rc, "purge senders");
		sqlite3_bind_int64(st, 1, pos->hash);
		sqlite3_bind_int64(st, 2, max_rows);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			end = sqlite3_column_int64(st, 0);
			pos->end = 0;
		}
		sqlite3_reset(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return wend(s, fail(s, rc, "purge senders"),
			    "purge senders");
	}
	if ((rc = prep(s, S_SENDER_PURGE, &st, "purge senders")) < 0)
		return wend(s, rc, "purge senders");
	sqlite3_bind_int64(st, 1, pos->hash);
	sqlite3_bind_int64(st, 2, end);
	sqlite3_bind_int(st, 3, day);
	sqlite3_bind_int64(st, 4, max_hits);
	rc = run(s, st, "purge senders");
	if (rc == 0) {
		*n = sqlite3_changes(s->h);
		pos->hash = end;
	}
	return wend(s, rc, "purge senders");
}

/* The WAL hook of DB_OPEN_OWN_CHECKPOINT handles: note the log's size. */
static int wal_hook_frames(void *arg, sqlite3 *h, const char *name,
    int frames)
{
	(void)h;
	(void)name;
	((dbs *)arg)->wal_frames = frames;
	return SQLITE_OK;
}

static int s_checkpoint(db *d)
{
	dbs *s = S(d);
	int rc;

	if (!(d->flags & DB_OPEN_OWN_CHECKPOINT) ||
	    s->wal_frames < s->checkpoint_frames)
		return 0;
	rc = sqlite3_wal_checkpoint_v2(s->h, NULL, SQLITE_CHECKPOINT_PASSIVE,
	    NULL, NULL);
	if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
		return 0;       /* another process checkpoints: later */
	if (rc != SQLITE_OK)
		return fail(s, rc, "checkpoint");
	s->wal_frames = 0;
	return 0;
}

/*
 * ---- the quarantine lock (db_quar_lock) ----
 *
 * flock(2) on PATH-quarantine.lock, opened at each lock and closed at the
 * unlock (the close drops it; so does the death of the process). Not
 * fcntl(2): a POSIX lock belongs to the process, so two handles of one
 * process would not exclude each other, and closing any descriptor of the
 * file drops it. Not on the store file either: its POSIX locks are
 * SQLite's, and on NFS flock is emulated with them. Close-on-exec, so the
 * sendmail a release runs does not hold it after we exit.
 */
#define QLOCK_SUFFIX "-quarantine.lock"
#define QLOCK_POLL_MS 50

/*
 * Open (creating it if needed) the lock file lp; the descriptor or a
 * negative errno (set on s). Those who may write the store may open it: a
 * new file gets read and write for each class (owner, group, others) that
 * may write the store, whatever the umask, and the store's group (and,
 * when root makes it, the store's owner, as SQLite does for -wal and -shm).
 */
static int qlock_open(dbs *s, const char *lp)
{
	struct stat sb;
	mode_t m = 0600;
	int fd;

	if (stat(s->base.name, &sb) < 0)
		return db_seterr(&s->base, -errno, "lock the quarantine: %s",
		    strerror(errno));
	m |= (sb.st_mode & S_IWGRP ? 0060 : 0) | (sb.st_mode & S_IWOTH ? 0006 : 0);
	fd = open(lp, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, m);
	if (fd >= 0) {
		/* A caller not root may fail to give it the store's group
		 * (not one of theirs): then it keeps their own. */
		if (fchmod(fd, m) < 0 || (fchown(fd, geteuid() == 0 ?
		    sb.st_uid : (uid_t)-1, sb.st_gid) < 0 && geteuid() == 0)) {
			int e = errno;

			close(fd);
			unlink(lp);
			return db_seterr(&s->base, -e, "lock the quarantine: "
			    "%s: %s", lp, strerror(e));
		}
		return fd;
	}
	if (errno == EEXIST)
		fd = open(lp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return db_seterr(&s->base, -errno, "lock the quarantine: %s: %s",
		    lp, strerror(errno));
	return fd;
}

static int s_quar_lock(db *d, int on)
{
	dbs *s = S(d);
	size_t n = strlen(d->name) + sizeof(QLOCK_SUFFIX);
	char *lp;
	int fd, waited = 0, rc = 0;

	if (!on) {
		if (s->qlock >= 0)
			close(s->qlock);
		s->qlock = -1;
		return 0;
	}
	if ((lp = malloc(n)) == NULL)
		return db_seterr(d, -ENOMEM, "lock the quarantine: out of memory");
	snprintf(lp, n, "%s%s", d->name, QLOCK_SUFFIX);
	if ((fd = qlock_open(s, lp)) < 0) {
		free(lp);
		return fd;
	}
	/* Polled, as SQLite's busy handler polls: no signal to interrupt a
	 * blocking flock with, and a library must not set up one. */
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK) {
			rc = db_seterr(d, -errno, "lock the quarantine: %s: %s",
			    lp, strerror(errno));
			break;
		}
		if (waited >= s->busy_ms) {
			rc = db_seterr(d, -EBUSY, "lock the quarantine: %s: "
			    "another release or delete still holds it after "
			    "%d ms", lp, waited);
			break;
		}
		nanosleep(&(struct timespec){ 0, QLOCK_POLL_MS * 1000000L }, NULL);
		waited += QLOCK_POLL_MS;
	}
	free(lp);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	s->qlock = fd;
	return 0;
}

static int s_vacuum(db *d)
{
	dbs *s = S(d);
	int rc = exec(s, "VACUUM", "vacuum");

	/* the query planner's statistics, where SQLite finds them stale */
	if (rc == 0)
		rc = exec(s, "PRAGMA optimize", "optimize");
	/* give the space of the WAL back too */
	return rc < 0 ? rc : exec(s, "PRAGMA wal_checkpoint(TRUNCATE)", "vacuum");
}

/* Sanity checks: (label, query returning one count) */
static const char *const sanity[][2] = {
	{ "tokens with negative counts",
	  "SELECT count(*) FROM tokens WHERE spam_hits < 0 OR innocent_hits < 0" },
	{ "tokens with more spam hits than spam learned",
	  "SELECT count(*) FROM tokens t LEFT JOIN totals s ON s.uid = t.uid "
	  "WHERE t.spam_hits > coalesce(s.spam_learned, 0)" },
	{ "tokens with more innocent hits than innocent learned",
	  "SELECT count(*) FROM tokens t LEFT JOIN totals s ON s.uid = t.uid "
	  "WHERE t.innocent_hits > coalesce(s.innocent_learned, 0)" },
	{ "rows of unknown users",
	  "SELECT (SELECT count(*) FROM tokens WHERE uid NOT IN (SELECT id FROM users))"
	  " + (SELECT count(*) FROM totals WHERE uid NOT IN (SELECT id FROM users))"
	  " + (SELECT count(*) FROM signatures WHERE uid NOT IN (SELECT id FROM users))"
	  " + (SELECT count(*) FROM lists WHERE uid NOT IN (SELECT id FROM users))"
	  " + (SELECT count(*) FROM senders WHERE uid NOT IN (SELECT id FROM users))"
	  " + (SELECT count(*) FROM prefs WHERE uid NOT IN (SELECT id FROM users))"
	  " + (SELECT count(*) FROM quarantine WHERE uid NOT IN (SELECT id FROM users))" },
};

static int s_check(db *d, int *ok, char **report)
{
	dbs *s = S(d);
	sqlite3_stmt *st = NULL;
	int rc, sound = 1;
	int64_t v = 0;

	rc = sqlite3_prepare_v2(s->h, "PRAGMA integrity_check(20)", -1, &st, NULL);
	if (rc != SQLITE_OK)
		goto corrupt;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(st, 0);

		if (t && strcmp(t, "ok") == 0)
			continue;
		sound = 0;
		if (db_report(report, "integrity: %s", t ? t : "?") < 0)
			goto nomem;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		goto corrupt;
	if (sound && db_report(report, "integrity: ok") < 0)
		return db_seterr(d, -ENOMEM, "check: out of memory");
	if (!sound) {
		/* the sanity queries would read damaged pages */
		*ok = 0;
		if (db_report(report, "NOT ok") < 0)
			return db_seterr(d, -ENOMEM, "check: out of memory");
		return 0;
	}
	for (size_t i = 0; i < sizeof(sanity) / sizeof(sanity[0]); i++) {
		if ((rc = query_int(s, sanity[i][1], &v, "check")) < 0)
			return rc;
		if (v == 0)
			continue;
		sound = 0;
		if (db_report(report, "%s: %lld", sanity[i][0], (long long)v) < 0)
			return db_seterr(d, -ENOMEM, "check: out of memory");
	}
	if (db_report(report, "%s", sound ? "ok" : "NOT ok") < 0)
		return db_seterr(d, -ENOMEM, "check: out of memory");
	*ok = sound;
	return 0;
nomem:
	sqlite3_finalize(st);
	return db_seterr(d, -ENOMEM, "check: out of memory");
corrupt:
	/* A store too damaged to check is reported, not an error of db_check;
	 * a busy store or a lack of memory is. */
	if ((rc & 0xff) != SQLITE_CORRUPT && (rc & 0xff) != SQLITE_NOTADB &&
	    (rc & 0xff) != SQLITE_IOERR)
		return fail(s, rc, "check");
	*ok = 0;
	if (db_report(report, "integrity: %s", sqlite3_errmsg(s->h)) < 0 ||
	    db_report(report, "NOT ok") < 0)
		return db_seterr(d, -ENOMEM, "check: out of memory");
	return 0;
}

/* ---- test and benchmark knobs ---- */

int db_sqlite_exec(db *d, const char *q)
{
	if (!d || d->ops != &db_sqlite_ops || !q)
		return -EINVAL;
	return exec(S(d), q, "exec");
}

int db_sqlite_lookup_mode(db *d, int mode, size_t batch)
{
	if (!d || d->ops != &db_sqlite_ops || mode < DB_SQLITE_LOOKUP_POINT ||
	    mode > DB_SQLITE_LOOKUP_JSON || batch > DB_SQLITE_MAX_BATCH)
		return -EINVAL;
	S(d)->lookup = mode;
	if (batch)
		S(d)->batch = batch;
	return 0;
}

const db_ops db_sqlite_ops = {
	.version = DB_OPS_VERSION,
	.name = "sqlite",
	.tokens_add = s_tokens_add,
	.gen_get = s_gen_get,
	.gen_bump = s_gen_bump,
	.open = s_open,
	.close = s_close,
	.busy_timeout = s_busy_timeout,
	.user = s_user,
	.user_iter = s_user_iter,
	.tokens_get = s_tokens_get,
	.tokens_update = s_tokens_update,
	.totals_get = s_totals_get,
	.totals_add = s_totals_add,
	.begin = s_begin,
	.commit = s_commit,
	.rollback = s_rollback,
	.read_begin = s_read_begin,
	.read_end = s_read_end,
	.sig_put = s_sig_put,
	.sig_get = s_sig_get,
	.sig_update = s_sig_update,
	.sig_expire = s_sig_expire,
	.list_add = s_list_add,
	.list_del = s_list_del,
	.list_match = s_list_match,
	.list_iter = s_list_iter,
	.sender_add = s_sender_add,
	.pref_get = s_pref_get,
	.pref_set = s_pref_set,
	.pref_unset = s_pref_unset,
	.pref_iter = s_pref_iter,
	.user_delete = s_user_delete,
	.tokens_iter = s_tokens_iter,
	.quar_put = s_quar_put,
	.quar_iter = s_quar_iter,
	.quar_get = s_quar_get,
	.quar_del = s_quar_del,
	.quar_expire = s_quar_expire,
	.purge = s_purge,
	.vacuum = s_vacuum,
	.check = s_check,
	.checkpoint = s_checkpoint,
	.sender_purge = s_sender_purge,
	.quar_lock = s_quar_lock,
};
