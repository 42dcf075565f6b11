/*
 * db -- the storage interface: token statistics, per-user totals, signatures,
 * white/block lists, preferences and the quarantine.
 *
 * Callers (classifier, milter, CLI) see only this header. A backend fills a
 * db_ops table (db/db_impl.h) and is chosen by the spec given to db_open():
 * "sqlite:PATH" or a plain PATH for the embedded SQLite store (the default),
 * "mem:" for the in-memory backend used by tests.
 *
 * Errors: functions return 0 or a negative errno value: -EINVAL (bad
 * argument), -ENOMEM, -EIO (I/O error, corrupt store), -EBUSY (store locked
 * past the busy timeout), -EROFS (read-only store), -ENOSPC (disk full),
 * -EPROTO (schema newer than this program). "Not found" is not an error: it is
 * reported through an out-parameter. After an error, db_errmsg() names the
 * store file and says what failed.
 *
 * Threads: a handle is used by one thread at a time; open one per thread.
 * Several processes may open the same store (SQLite WAL mode): readers never
 * wait for the writer; writers wait for each other up to the busy timeout.
 *
 * Writes outside db_begin/db_commit are each atomic (their own transaction).
 * Iterators (db_*_iter) read all rows first and then call fn, so fn may use
 * the same handle; if fn returns non-zero the iteration stops, and the
 * iterator returns fn's value when it is negative, else 0.
 *
 * Must not depend on: libmilter, syslog, conf/.
 */
#ifndef SPAMSIFT_DB_H
#define SPAMSIFT_DB_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef struct db db;
typedef struct db_cache db_cache;

/* The user whose model every user's model is merged with. */
#define DB_GLOBAL_USER "@global"

/* Flags for db_open. */
#define DB_OPEN_CREATE   0x01  /* create the store if it does not exist */
#define DB_OPEN_READONLY 0x02  /* never write */
#define DB_OPEN_BULK     0x04  /* a large page cache, for one process that
                                  reads or writes many messages (training,
                                  batch classification); ~64 MiB */
#define DB_OPEN_OWN_CHECKPOINT 0x08 /* commits never checkpoint the journal:
                                  the caller runs db_checkpoint when it
                                  suits it (see there) */
#define DB_OPEN_NO_TEMP_FILES 0x10 /* keep the backend's temporary data
                                  (sorts, statement journals) in memory:
                                  for a setgid caller, whose own temporary
                                  files would hold pages of everyone's data */

/* One token's statistics in one user's model. */
typedef struct db_token {
	uint64_t hash;          /* token hash (tok_hash) */
	int64_t spam_hits;      /* spam messages that contained the token */
	int64_t innocent_hits;  /* innocent messages that contained the token */
} db_token;

/* Per-user totals and counters, as dspam_stats shows them. */
typedef struct db_totals {
	int64_t spam_learned;           /* spam messages in the model */
	int64_t innocent_learned;       /* innocent messages in the model */
	int64_t spam_misclassified;     /* false negatives reported */
	int64_t innocent_misclassified; /* false positives reported */
	int64_t spam_corpusfed;         /* spam fed by an administrator */
	int64_t innocent_corpusfed;     /* innocent fed by an administrator */
	int64_t spam_classified;        /* messages classified spam */
	int64_t innocent_classified;    /* messages classified innocent */
	int64_t spam_inoculated;        /* spam learned from inoculation */
} db_totals;

/*
 * Messages of each class a token's hits may come from (no token of the
 * user has more: what db_check verifies). *_learned counts every learned
 * message, corpus-fed and inoculated ones too (those are counted again in
 * their own fields), so it alone is the bound.
 */
static inline int64_t db_totals_spam_fed(const db_totals *t)
{
	return t->spam_learned;
}

static inline int64_t db_totals_innocent_fed(const db_totals *t)
{
	return t->innocent_learned;
}

/* What a signature remembers: what was learned for one classified message. */
/* Longest envelope sender stored with a signature (with its NUL). */
#define DB_SENDER_MAX 512

typedef struct db_sig {
	char id[33];            /* signature id: 32 lowercase hex digits */
	int64_t uid;            /* user the message was classified for */
	int cls;                /* DB_CLASS_SPAM or DB_CLASS_INNOCENT, as classified */
	int learned;            /* times the tokens were learned as cls (0: not) */
	time_t created;         /* when the message was classified */
	char sender[DB_SENDER_MAX]; /* envelope sender, lowercase; "" none */
	uint64_t *hashes;       /* the message's token hashes */
	size_t nhashes;         /* number of hashes */
	size_t ntok;            /* the first ntok of them are its tokens (the
	                           rest BNR patterns), head of those from its
	                           header; 0: not known (older signatures) */
	size_t head;
} db_sig;

#define DB_CLASS_INNOCENT 0
#define DB_CLASS_SPAM     1

/* List kinds. */
#define DB_LIST_WHITE 0
#define DB_LIST_BLOCK 1

/* One white/block list entry. */
typedef struct db_list_entry {
	const char *pattern;    /* address, domain, or .suffix (subdomains) */
	int automatic;          /* added by automatic whitelisting */
	time_t added;           /* when */
	const char *added_by;   /* Unix user or "auto" */
} db_list_entry;

/* Sender history for automatic whitelisting. */
typedef struct db_sender {
	int64_t innocent;       /* innocent messages seen from the sender */
	int64_t spam;           /* spam messages seen from the sender */
} db_sender;

/* One quarantined message. */
typedef struct db_quar {
	int64_t id;             /* quarantine id (assigned by db_quar_put) */
	int64_t uid;            /* owner */
	const char *sender;     /* envelope sender */
	const char *recipients; /* envelope recipients, each followed by a
	                         * line feed (older rows: comma-separated) */
	const char *subject;    /* Subject header, decoded, may be "" */
	const char *signature;  /* signature id, may be "" */
	double probability;     /* spam probability */
	time_t when;            /* when quarantined */
	const char *data;       /* the message bytes (CRLF or LF line ends) */
	size_t len;             /* their length */
} db_quar;

/*
 * db_open -- open (and with DB_OPEN_CREATE create) a store and apply any
 * forward schema migrations.
 * spec: "sqlite:PATH", "mem:", or a PATH (SQLite).
 * On failure returns a negative errno and writes a message naming the file to
 * err (errlen bytes, may be 0). On success *out is the handle (db_close).
 */
int db_open(const char *spec, int flags, db **out, char *err, size_t errlen);

/* db_close -- close the handle (an open transaction is rolled back); accepts NULL. */
void db_close(db *d);

/*
 * db_busy_timeout -- how long (ms) a write waits for another writer's lock
 * before failing with -EBUSY (default 10000). Returns 0 or -EINVAL.
 */
int db_busy_timeout(db *d, int ms);

/* db_errmsg -- text of the last error on this handle (borrowed). */
const char *db_errmsg(const db *d);

/*
 * db_user -- the numeric id of user name. With create, an unknown user is
 * added; without, *uid is 0 when the user does not exist.
 */
int db_user(db *d, const char *name, int create, int64_t *uid);

/*
 * db_user_delete -- delete everything stored for user uid: its tokens,
 * totals, signatures, lists, senders' histories, preferences and, with
 * quarantine set, its quarantined mail (*nquar, which may be NULL, is how
 * many messages it had). Without quarantine, a user with quarantined mail
 * keeps everything: -ENOTEMPTY. The name keeps its id, so that a handle
 * that resolved it before (a running milter's) still maps it right: mail
 * for it later starts again from nothing (the global model). One
 * transaction, not inside another (-EINVAL); token caches are emptied.
 */
int db_user_delete(db *d, int64_t uid, int quarantine, int64_t *nquar);

/* db_user_iter -- call fn(arg, uid, name) for every user; stops if fn != 0. */
int db_user_iter(db *d, int (*fn)(void *arg, int64_t uid, const char *name),
    void *arg);

/*
 * db_tokens_get -- fill spam_hits/innocent_hits of toks[0..n) (hash set by
 * the caller) from uid's model in one round trip; absent tokens get 0.
 */
int db_tokens_get(db *d, int64_t uid, db_token *toks, size_t n);

/*
 * db_tokens_update -- add spam_delta and innocent_delta (may be negative;
 * results are clamped at 0) to each of hashes[0..n) in uid's model and set
 * their last-hit day to day (days since the epoch).
 */
int db_tokens_update(db *d, int64_t uid, const uint64_t *hashes, size_t n,
    int spam_delta, int innocent_delta, int day);

/*
 * db_tokens_iter -- call fn(arg, token) for each token of uid's model, in
 * hash order (for export). Rows are streamed, not collected: fn must not use
 * this handle. Stops when fn returns non-zero (returned if negative).
 */
int db_tokens_iter(db *d, int64_t uid,
    int (*fn)(void *arg, const db_token *t), void *arg);

/* db_totals_get -- uid's totals; all zero for a user with none. */
int db_totals_get(db *d, int64_t uid, db_totals *out);

/* db_totals_add -- add each field of delta to uid's totals (clamped at 0). */
int db_totals_add(db *d, int64_t uid, const db_totals *delta);

/*
 * Transactions: db_begin opens a write transaction, db_commit makes it
 * durable, db_rollback undoes it. When db_commit fails the transaction is
 * rolled back. db_commit/db_rollback without db_begin: -EINVAL. A successful
 * db_rollback leaves db_errmsg() as it was (the error that led to it).
 * Nesting: a db_begin inside a transaction only counts a level, so a caller
 * can group many operations that each use a transaction (batch training).
 * Only the outermost db_commit writes; a db_rollback at an inner level makes
 * the outermost db_commit undo everything and return -ECANCELED.
 */
int db_begin(db *d);
int db_commit(db *d);
int db_rollback(db *d);

/*
 * A read snapshot: the reads between db_read_begin and db_read_end see the
 * store as one moment (a backup of a user whose mail is being learned
 * meanwhile stays consistent), and writers are not blocked (a read-only
 * store can be read so too). Not inside a transaction (-EINVAL); writes on
 * the handle are refused (-EINVAL) until db_read_end, which is harmless
 * without db_read_begin.
 */
int db_read_begin(db *d);
int db_read_end(db *d);

/*
 * Deferred writes, for one process that trains many messages (the command's
 * `train`): token increments and totals additions are combined in memory,
 * with no transaction open, and written by db_flush in one short
 * transaction, in key order (much cheaper than message by message), so the
 * write lock is held only for the flush.
 *
 * db_defer -- from now on combine increments (positive deltas of
 * db_tokens_update) and additions (db_totals_add with no negative field)
 * made on this handle, up to about max_bytes of memory; when a commit or
 * an increment outside a transaction leaves more, they are flushed at once.
 * max_bytes 0 flushes and stops deferring. Not inside a transaction
 * (-EINVAL). While deferring:
 * - db_begin at the outermost level takes no lock; db_commit adds the
 *   transaction's increments to the deferred ones, db_rollback drops them.
 *   Any other write in it (a decrement, a signature, a new user ...), and
 *   a signature db_sig_get finds, first writes what earlier transactions
 *   deferred, in a transaction of its own, then makes it an ordinary
 *   transaction.
 * - db_tokens_get and db_totals_get on this handle include what is deferred;
 *   other handles and processes see it only after the flush.
 * - A flush is all or nothing: a process killed before it loses exactly the
 *   deferred writes, never part of them.
 * - db_close discards what was not flushed: call db_flush first.
 * Returns 0 or a negative errno (of the flush).
 *
 * db_flush -- write everything deferred in one transaction. On failure
 * (e.g. -EBUSY) it stays deferred and db_flush may be called again. Not
 * inside a transaction (-EINVAL).
 *
 * db_pending -- bytes held by deferred writes not yet flushed; 0 when
 * everything is in the store.
 */
int db_defer(db *d, size_t max_bytes);
int db_flush(db *d);
size_t db_pending(const db *d);

/*
 * A token read cache shared by the handles of one process (the milter's
 * threads, the command's batch classification), in db.c above the
 * backends, so every backend gets it.
 *
 * Coherence: the store keeps a token generation that every transaction
 * that changes tokens raises (in the same transaction). db_tokens_get on a
 * handle with a cache attached reads the generation first (one cheap
 * query); when it differs from the cache's, the cache is emptied. Hits are
 * served from memory; misses are fetched and added, but only when the
 * generation read again after the fetch has not moved (no change was
 * committed in between). So a cached count is always the committed count
 * at the cache's generation, and a reader sees another process's training
 * from the first lookup after its commit. A transaction committed through
 * an attached handle updates the cached counts with its own changes
 * instead of emptying the cache, when no other writer committed in
 * between. Absent tokens are cached as 0.
 *
 * Whole models: when a user's lookups keep missing (about 4096 misses
 * since the cache was last emptied) and the user's tokens fit in the
 * memory the copies may take (below), all of them are read at once (one
 * sequential scan) into a compact copy, sorted (16 bytes a token, and half
 * a byte of directory); after that every lookup of that user is answered
 * from it, absent tokens included, until the generation changes through
 * another writer. Commits through attached handles are merged into the
 * copy; one that would outgrow its memory turns into a key filter. A model
 * too big for a copy gets a key filter from the same scan (a Bloom filter
 * of its tokens, kept up to date by the attached handles' commits like the
 * table): a token it has never seen is answered as absent without the
 * store, the others are looked up as usual.
 *
 * Memory: one eighth of max_bytes is kept for key filters; the rest is
 * shared by the table of single entries (24 bytes each, at most 70% full)
 * and the copies: a new copy may take what the table does not use, less a
 * quarter of that rest kept for the table; a copy grows by its own commits
 * into what is free; the table grows only into what the copies leave, and
 * goes back to a small size when the cache is emptied. When the table is
 * full, an entry not used recently near the new one goes first (second
 * chance); copies are never evicted.
 *
 * Inside a transaction on the handle, db_tokens_get reads the store
 * directly (the transaction's own changes are not cached until commit).
 *
 * Threads: every db_cache_* function and every handle attached to one cache
 * may be used from any thread at the same time (one mutex).
 *
 * db_cache_new -- a cache of at most max_bytes (at least 4096); NULL when
 * out of memory or max_bytes is too small.
 * db_cache_attach -- make d use c (NULL: no cache). Not inside a
 * transaction (-EINVAL). The cache must outlive the attachment.
 * db_cache_free -- free c; no handle may still use it. Accepts NULL.
 * db_cache_stats -- counters since db_cache_new.
 */
typedef struct db_cache_stats {
	uint64_t hits;          /* tokens answered from memory */
	uint64_t misses;        /* tokens fetched from the store */
	uint64_t loads;         /* whole models read */
	uint64_t clears;        /* times emptied (another writer, purge) */
	uint64_t updates;       /* own commits applied instead of emptying */
	uint64_t evictions;     /* entries dropped for room */
	uint64_t filters;       /* key filters built (models too big to load) */
	uint64_t absent;        /* hits answered absent by the key filter */
	size_t entries;         /* entries now (tokens of whole models included) */
	size_t whole_tokens;    /* tokens of the models held whole now */
	size_t max_entries;     /* table entries the memory bound allows */
	size_t bytes;           /* memory used by the table, filters and copies */
} db_cache_stats;

db_cache *db_cache_new(size_t max_bytes);
int db_cache_attach(db *d, db_cache *c);

/*
 * db_cache_prefetch -- read all of uid's tokens into the cache attached to
 * d now, in one scan, when they fit in its copies' memory (as after many
 * misses, without waiting for them). Meant for a batch that looks up many tokens of
 * few users (the command's classify), possibly from another thread with its
 * own handle attached to the same cache while the first messages are
 * parsed; lookups of uid meanwhile go to the store and do not start a
 * second load. Returns 0 (also when the model does not fit: nothing is then
 * loaded) or a negative errno; -EINVAL without a cache or inside a
 * transaction.
 */
int db_cache_prefetch(db *d, int64_t uid);
void db_cache_free(db_cache *c);
void db_cache_stats_get(db_cache *c, db_cache_stats *out);

/*
 * db_sig_put -- store a signature (sig->id, uid, cls, learned, created,
 * hashes), replacing one with the same uid and id. id: 1..32 characters.
 */
int db_sig_put(db *d, const db_sig *sig);

/*
 * db_sig_get -- the signature id of user uid; *out is NULL when not found,
 * else caller frees with db_sig_free. Found inside a deferred transaction
 * (db_defer), it makes it an ordinary one and reads the signature again, so
 * it cannot change before the transaction's own writes (read, then updated:
 * retrain).
 */
int db_sig_get(db *d, int64_t uid, const char *id, db_sig **out);

/* db_sig_update -- change cls and learned of a stored signature (no-op if absent). */
int db_sig_update(db *d, int64_t uid, const char *id, int cls, int learned);

/* db_sig_free -- free a signature from db_sig_get; accepts NULL. */
void db_sig_free(db_sig *sig);

/*
 * db_sig_expire -- delete signatures created before `before`; count in *n.
 * Outside db_begin it commits in short steps (other writers get the store
 * in between); after an error the steps before it stay done, counted in *n.
 * The same holds for db_quar_expire and db_purge.
 */
int db_sig_expire(db *d, time_t before, int64_t *n);

/*
 * db_list_add -- add or replace a list entry for uid. Patterns compare
 * case-insensitively (ASCII), in db_list_add, db_list_del and db_list_match.
 * e->added_by NULL is stored as "".
 */
int db_list_add(db *d, int64_t uid, int kind, const db_list_entry *e);

/* db_list_del -- remove pattern from uid's list; *found says if it was there. */
int db_list_del(db *d, int64_t uid, int kind, const char *pattern, int *found);

/*
 * db_list_match -- does address (lowercase "local@domain") match uid's list?
 * An entry matches when it equals the address, equals its domain, or is
 * ".suffix" and the domain is suffix or ends with ".suffix".
 */
int db_list_match(db *d, int64_t uid, int kind, const char *address,
    int *matched);

/* db_list_iter -- call fn for each entry of uid's list; stops if fn != 0. */
int db_list_iter(db *d, int64_t uid, int kind,
    int (*fn)(void *arg, const db_list_entry *e), void *arg);

/*
 * db_sender_add -- add to the innocent/spam counts of sender (lowercase
 * address) for uid, note day (days since the epoch) as the day it was last
 * seen, and return the new counts in *out (may be NULL).
 */
int db_sender_add(db *d, int64_t uid, const char *sender, int innocent_delta,
    int spam_delta, int day, db_sender *out);

/*
 * db_sender_purge -- forget the history of senders (of every user) last
 * seen before day (days since the epoch) with innocent + spam <= max_hits,
 * as db_purge does tokens: without it every envelope sender ever seen (a
 * spammer's random one, a mailing list's per-message bounce address) kept
 * a row for good. Their automatic whitelist entries stay. Count in *n;
 * outside db_begin it goes in short steps as db_sig_expire.
 */
int db_sender_purge(db *d, int day, int64_t max_hits, int64_t *n);

/*
 * db_pref_get -- uid's value of key into buf; *found is 0 when unset.
 * -ERANGE when the value (with its NUL) does not fit in len bytes.
 */
int db_pref_get(db *d, int64_t uid, const char *key, char *buf, size_t len,
    int *found);
int db_pref_set(db *d, int64_t uid, const char *key, const char *value);
int db_pref_unset(db *d, int64_t uid, const char *key, int *found);
int db_pref_iter(db *d, int64_t uid,
    int (*fn)(void *arg, const char *key, const char *value), void *arg);

/*
 * db_quar_put -- store q durably (committed and synced on return); its id in
 * *id (may be NULL). NULL strings are stored as "". Not inside db_begin
 * (-EINVAL): quarantine must not depend on a training transaction.
 */
int db_quar_put(db *d, const db_quar *q, int64_t *id);

/*
 * db_quar_iter -- call fn for each of uid's quarantined messages (data NULL,
 * len set), oldest first; stops if fn != 0.
 */
int db_quar_iter(db *d, int64_t uid,
    int (*fn)(void *arg, const db_quar *q), void *arg);

/*
 * db_quar_get -- message id of uid with its data (NUL-terminated after len
 * bytes, for convenience); *out NULL when not found (or owned by another
 * user), else caller frees with db_quar_free.
 */
int db_quar_get(db *d, int64_t uid, int64_t id, db_quar **out);
void db_quar_free(db_quar *q);
int db_quar_del(db *d, int64_t uid, int64_t id, int *found);

/*
 * The quarantine lock: what makes a release deliver a message at most once.
 * A release reads a message, hands it to sendmail and deletes it; two of
 * them at once (two administrators, a double click) would both deliver it.
 * Whoever releases or deletes a quarantined message takes this lock before
 * reading it and gives it up after deleting it: the second one then finds
 * the message gone. Holders exclude each other whether they are handles of
 * one process or of several. It is one lock for the whole store (releases
 * are rare and short), and it is not a lock on the data: readers, the
 * milter's db_quar_put and db_quar_expire neither take nor wait for it.
 *
 * A holder that dies gives it up with its process (and db_close gives it
 * up): a release killed half way leaves its message quarantined and
 * releasable, never locked for good.
 *
 * db_quar_lock -- wait for the lock and take it. Waits up to the busy
 * timeout (db_busy_timeout), then -EBUSY. Not inside a transaction or a read
 * snapshot, nor while this handle holds it (-EINVAL: waiting for it while
 * holding the store's write lock could keep its holder from deleting);
 * -EROFS on a read-only handle. SQLite: an flock(2) on the file
 * "PATH-quarantine.lock" next to the store, created on first use for
 * whoever may write the store (its group; its owner too when root creates
 * it), as SQLite makes its -wal file: the directory must be writable.
 *
 * db_quar_unlock -- give the lock up; harmless when not held. Leaves
 * db_errmsg() as it was (the error that made the caller give up). Returns 0
 * (-EINVAL for a NULL handle).
 */
int db_quar_lock(db *d);
int db_quar_unlock(db *d);

/*
 * db_quar_expire -- delete the messages of user uid (0: of every user)
 * quarantined before `before`; *n gets how many.
 */
int db_quar_expire(db *d, int64_t uid, time_t before, int64_t *n);

/*
 * db_purge -- delete tokens not hit since day (days since the epoch) whose
 * spam_hits + innocent_hits <= max_hits; count in *n.
 */
int db_purge(db *d, int day, int64_t max_hits, int64_t *n);

/* db_vacuum -- compact the store and refresh what its query planner knows
 * (SQLite: VACUUM, PRAGMA optimize); not inside db_begin (-EINVAL). */
int db_vacuum(db *d);

/*
 * db_checkpoint -- copy what the write-ahead log holds into the store file
 * when the log has grown past about 4 MiB since the last time, without
 * waiting for readers (what SQLite does by itself at a commit, unless the
 * handle was opened with DB_OPEN_OWN_CHECKPOINT). The milter's writer does
 * it after its commit has reached the token cache: a checkpoint syncs and
 * copies thousands of pages, and while the commit was running, readers had
 * to bypass the cache. 0 when done or not needed (also on backends without
 * a log); a negative errno on error. Not inside db_begin (-EINVAL).
 * A reader's snapshot (db_read_begin) keeps the copy from reaching the end
 * of the log, which then grows until the reader is done; when it starts
 * over, a read-write handle cuts its file back to about 16 MB (SQLite).
 */
int db_checkpoint(db *d);

/*
 * db_check -- integrity check; *ok is 1 when sound. A report (caller frees)
 * is put in *report when report is not NULL. Checks the file (SQLite
 * integrity_check) and the model's sanity: no negative counts, no token with
 * more spam (innocent) hits than its user's spam (innocent) messages learned
 * + corpusfed + inoculated, no rows of unknown users.
 */
int db_check(db *d, int *ok, char **report);

#endif
