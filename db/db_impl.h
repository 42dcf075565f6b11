/*
 * db_impl -- what a storage backend implements: the versioned operations
 * table db_ops and the base handle struct db that every backend handle embeds
 * as its first member (in the style of Postfix's dict.h).
 *
 * Only db/ and the db tests/benchmarks include this header. db.c validates
 * arguments, enforces read-only handles and the transaction state, then calls
 * the backend through d->ops; a backend may therefore assume: d and every
 * pointer argument are non-NULL, uid > 0, kind/cls are valid, n > 0 for the
 * token functions, and write functions are not called on a read-only handle.
 *
 * Must not depend on: sqlite3.h (only db_sqlite.c includes it), libmilter,
 * syslog, conf/.
 */
#ifndef SPAMSIFT_DB_IMPL_H
#define SPAMSIFT_DB_IMPL_H

#include <stdarg.h>

#include "db/db.h"

/* Bumped whenever db_ops changes incompatibly; db_open rejects a mismatch. */
#define DB_OPS_VERSION 8

/*
 * One combined token increment for db_ops.tokens_add: rows handed to the
 * backend are sorted by (uid, hash), unique, with deltas >= 0.
 */
typedef struct db_tokadd {
	int64_t uid;            /* owner */
	uint64_t hash;          /* token */
	int64_t spam;           /* spam hits to add (>= 0) */
	int64_t innocent;       /* innocent hits to add (>= 0) */
	int day;                /* last-hit day to set */
} db_tokadd;

/*
 * Where db_ops.purge goes on: the last key it examined (started 0: none
 * yet, begin at the first), end set once it examined the last row.
 */
typedef struct db_purge_pos {
	int64_t uid;
	int64_t hash;           /* (as the store orders it: signed) */
	int started;
	int end;
} db_purge_pos;

/* Size of the per-handle error text. */
#define DB_ERRMSG_SIZE 1024

typedef struct db_ops {
	int version;            /* DB_OPS_VERSION the backend was built for */
	const char *name;       /* spec prefix: "sqlite", "mem" */
	/* Open path (the spec without "name:"); on error fill err. */
	int (*open)(const char *path, int flags, db **out, char *err,
	    size_t errlen);
	void (*close)(db *d);   /* free everything, including d */
	int (*busy_timeout)(db *d, int ms);
	int (*user)(db *d, const char *name, int create, int64_t *uid);
	int (*user_iter)(db *d, int (*fn)(void *, int64_t, const char *),
	    void *arg);
	int (*tokens_get)(db *d, int64_t uid, db_token *toks, size_t n);
	int (*tokens_update)(db *d, int64_t uid, const uint64_t *hashes,
	    size_t n, int spam_delta, int innocent_delta, int day);
	int (*totals_get)(db *d, int64_t uid, db_totals *out);
	int (*totals_add)(db *d, int64_t uid, const db_totals *delta);
	int (*begin)(db *d);
	int (*commit)(db *d);   /* on failure the transaction is rolled back */
	int (*rollback)(db *d);
	int (*read_begin)(db *d);       /* (may be NULL: reads are atomic) */
	int (*read_end)(db *d);
	int (*sig_put)(db *d, const db_sig *sig);
	int (*sig_get)(db *d, int64_t uid, const char *id, db_sig **out);
	int (*sig_update)(db *d, int64_t uid, const char *id, int cls,
	    int learned);
	/* Of user uid (0: every user's), at most limit rows (0: all). */
	int (*sig_expire)(db *d, int64_t uid, time_t before, int64_t limit,
	    int64_t *n);
	int (*list_add)(db *d, int64_t uid, int kind, const db_list_entry *e);
	int (*list_del)(db *d, int64_t uid, int kind, const char *pattern,
	    int *found);
	int (*list_match)(db *d, int64_t uid, int kind, const char *address,
	    int *matched);
	int (*list_iter)(db *d, int64_t uid, int kind,
	    int (*fn)(void *, const db_list_entry *), void *arg);
	int (*sender_add)(db *d, int64_t uid, const char *sender,
	    int innocent_delta, int spam_delta, int day, db_sender *out);
	int (*pref_get)(db *d, int64_t uid, const char *key, char *buf,
	    size_t len, int *found);
	int (*pref_set)(db *d, int64_t uid, const char *key, const char *value);
	int (*pref_unset)(db *d, int64_t uid, const char *key, int *found);
	int (*pref_iter)(db *d, int64_t uid,
	    int (*fn)(void *, const char *, const char *), void *arg);
	int (*quar_put)(db *d, const db_quar *q, int64_t *id);
	int (*quar_iter)(db *d, int64_t uid,
	    int (*fn)(void *, const db_quar *), void *arg);
	int (*quar_get)(db *d, int64_t uid, int64_t id, db_quar **out);
	int (*quar_del)(db *d, int64_t uid, int64_t id, int *found);
	int (*quar_expire)(db *d, int64_t uid, time_t before, int64_t limit,
	    int64_t *n);
	/* The next max_rows rows (0: all) in key order after *pos. */
	int (*purge)(db *d, int day, int64_t max_hits, db_purge_pos *pos,
	    int64_t max_rows, int64_t *n);
	int (*vacuum)(db *d);
	/* Set *ok; append findings to *report (may be NULL) with db_report. */
	int (*check)(db *d, int *ok, char **report);
	int (*tokens_iter)(db *d, int64_t uid,
	    int (*fn)(void *, const db_token *), void *arg);
	/* ---- version 3 ---- */
	/*
	 * Add rows[0..n) (sorted, see db_tokadd) in the open transaction: one
	 * upsert per row. db.c calls it only inside ops->begin/commit.
	 */
	int (*tokens_add)(db *d, const db_tokadd *rows, size_t n);
	/*
	 * The store's token generation: a number that every write transaction
	 * that changed token rows raised (gen_bump). Read in one cheap query.
	 */
	int (*gen_get)(db *d, uint64_t *gen);
	/*
	 * Raise the generation by step in the open transaction, modulo 2^62
	 * (DB_GEN_MASK); new value in *gen. db.c's step is 1 plus a random
	 * multiple of 2^20 (below 2^40): a store replaced by an older copy and
	 * then written to reached, by steps of one, the very number a cache
	 * had seen on the replaced file, and the cache served that file's
	 * counts. The low 20 bits still count commits (tests read them).
	 */
	int (*gen_bump)(db *d, uint64_t step, uint64_t *gen);
	/* ---- version 4 ---- */
	/* db_checkpoint; NULL: nothing to do for this backend. */
	int (*checkpoint)(db *d);
	/* ---- version 6 ---- */
	/*
	 * db_quar_lock (on: wait for it and take it) and db_quar_unlock (!on:
	 * give it up; called only while held). db.c keeps the state and calls
	 * it outside transactions only. NULL: no other handle can reach the
	 * store (mem:), so there is nothing to exclude.
	 */
	int (*quar_lock)(db *d, int on);
	/* ---- version 7 ---- */
	/*
	 * db_sender_purge: the next max_rows rows (0: all) after *pos, in an
	 * order of the backend's (pos->hash holds where it stopped; pos->uid
	 * is free for it too), as purge does tokens.
	 */
	int (*sender_purge)(db *d, int day, int64_t max_hits,
	    db_purge_pos *pos, int64_t max_rows, int64_t *n);
	/* ---- version 8 ---- */
	/*
	 * db_user_delete, in the open transaction: every row of uid except
	 * its name (tokens, totals, signatures, lists, senders, preferences,
	 * quarantined mail).
	 */
	int (*user_delete)(db *d, int64_t uid);
} db_ops;

/* The base handle; each backend's handle starts with one of these. */
struct db {
	const db_ops *ops;      /* the backend */
	char *name;             /* store name for messages: the file or "mem:" */
	int flags;              /* DB_OPEN_* given to db_open */
	int in_txn;             /* db_begin nesting depth (0: no transaction) */
	int in_read;            /* between db_read_begin and db_read_end */
	int txn_failed;         /* an inner level rolled back: undo at the end */
	int txn_virtual;        /* the outermost level is deferred: no backend
	                           transaction is open (db.c; backends never
	                           see such a level: see db_backend_txn) */
	int txn_tokens;         /* the backend transaction changed tokens */
	int txn_clear;          /* ... in a way a read cache cannot follow */
	struct db_tokbuf *tokbuf; /* token increments combined in a transaction (db.c) */
	struct db_defer *defer; /* deferred writes (db_defer), NULL when off (db.c) */
	struct db_cache *cache; /* attached read cache or NULL (db_cache.c) */
	struct db_cachelog *clog; /* token changes of the open transaction, for the cache */
	struct db_known *known; /* user names already resolved (db.c) */
	int quar_locked;        /* holds the quarantine lock (db_quar_lock) */
	char errmsg[DB_ERRMSG_SIZE]; /* last error text, "" if none */
};

/*
 * db_backend_txn -- is a backend transaction open on d (a db_begin level that
 * is not deferred)? Backends use it to decide whether a write needs its own
 * transaction.
 */
static inline int db_backend_txn(const db *d)
{
	return d->in_txn > 0 && !d->txn_virtual;
}

/*
 * db_slot_mix -- where (uid, h) starts in a hash table keyed by token (the
 * combined increments of db.c, the read cache's table), for a table whose
 * seed came from db_seed. Token hashes are public (XXH3 of the text): a
 * sender could pick words whose hashes share the bits a table indexes by
 * and make every insert probe one long run. A random seed per table,
 * mixed through splitmix64's finaliser (every bit of the input reaches
 * every bit of the output), keeps the slots out of the sender's reach.
 * Tables may use any bits of the result.
 */
static inline uint64_t db_slot_mix(uint64_t seed, int64_t uid, uint64_t h)
{
	uint64_t x = h ^ seed ^ ((uint64_t)uid * 0x9E3779B97F4A7C15ULL);

	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
	return x ^ (x >> 31);
}

/* db_seed -- a random seed for db_slot_mix (db.c). */
uint64_t db_seed(void);

/*
 * ---- the read cache (db_cache.c), as db.c uses it ----
 * Every entry holds a token's counts as of the store's generation c->gen.
 *
 * db_cache_lookup -- serve toks[0..n) of uid from the cache for a store
 * whose generation is gen (read just before; a different one empties the
 * cache first). hit[i] says whether toks[i] was filled. Returns the number
 * of misses; *load is set when uid's whole model should be read
 * (db_cache_load).
 * db_cache_fill -- add fetched counts (the value at gen) unless the cache
 * moved to another generation meanwhile.
 * db_cache_load -- read all of uid's tokens through d into the cache when
 * they fit; afterwards a miss of uid means 0 counts. 0 or a negative errno.
 * db_cache_commit -- a transaction through an attached handle raised the
 * generation from `from` to gen with the token changes rows[0..n) (deltas,
 * in order): if the cache was at from it applies them, else (or with clear)
 * it empties.
 * db_cache_precommit -- an attached handle is about to commit generation
 * gen, from `from` (gen 0: that commit failed): until db_cache_commit,
 * lookups that already see gen bypass the cache instead of emptying it.
 */
size_t db_cache_lookup(db_cache *c, uint64_t gen, int64_t uid, db_token *toks,
    size_t n, unsigned char *hit, int *load);
void db_cache_fill(db_cache *c, uint64_t gen, int64_t uid,
    const db_token *toks, size_t n);
int db_cache_load(db_cache *c, db *d, int64_t uid, uint64_t gen);
void db_cache_commit(db_cache *c, uint64_t from, uint64_t gen,
    const db_tokadd *rows, size_t n, int clear);
void db_cache_precommit(db_cache *c, uint64_t from, uint64_t gen);

/* Generations are kept below 2^62 (wrapping: a cache then starts over). */
#define DB_GEN_MASK 0x3fffffffffffffffULL

/* The backends (db_sqlite.c, db_mem.c). */
extern const db_ops db_sqlite_ops;
extern const db_ops db_mem_ops;

/*
 * db_base_init -- initialise the base part of a backend handle: ops, a copy
 * of name, flags. Returns 0 or -ENOMEM.
 */
int db_base_init(db *d, const db_ops *ops, const char *name, int flags);

/* db_base_free -- free what db_base_init allocated (not d itself). */
void db_base_free(db *d);

/*
 * db_seterr -- set d's error text to "NAME: " followed by the formatted
 * message; returns err (a negative errno) so backends can `return
 * db_seterr(d, -EIO, ...)`.
 */
int db_seterr(db *d, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * db_sig_alloc -- one allocation holding a db_sig and room for nhashes
 * hashes (sig->hashes points into it), freed by db_sig_free. The id is
 * copied (truncated to 32 characters). NULL on allocation failure.
 */
db_sig *db_sig_alloc(const char *id, size_t nhashes);

/*
 * db_quar_alloc -- one allocation holding a copy of *q: its strings and (when
 * with_data) its data, NUL-terminated; freed by db_quar_free. NULL strings
 * become "". NULL on allocation failure.
 */
db_quar *db_quar_alloc(const db_quar *q, int with_data);

/*
 * db_report -- append a formatted line (a newline is added) to the report
 * string *rep (malloc'd, may be NULL at first). rep itself may be NULL: then
 * nothing is done. Returns 0 or -ENOMEM.
 */
int db_report(char **rep, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * db_list_candidates -- see db_list_match: the patterns that can match
 * address: the address, its domain, and ".suffix" for the domain and each
 * parent domain. Fills cand[0..*n) with pointers into address or buf (size
 * len, at least strlen(address) + 2); max is the capacity of cand (>= 3).
 * Returns 0 or -EINVAL (buf too small, more than max candidates).
 */
int db_list_candidates(const char *address, char *buf, size_t len,
    const char **cand, size_t max, size_t *n);

/*
 * For tests and benchmarks only: SQLite-specific knobs. They return -EINVAL
 * on a handle of another backend.
 *
 * db_sqlite_exec -- run SQL (no parameters, no result rows) on the handle.
 * db_sqlite_lookup_mode -- how db_tokens_get fetches counts:
 *   DB_SQLITE_LOOKUP_POINT one prepared point lookup per token,
 *   DB_SQLITE_LOOKUP_IN    batches of `WHERE hash IN (?,...)` of size batch,
 *   DB_SQLITE_LOOKUP_JSON  one statement joining json_each(?) per batch.
 *   batch 0 keeps the current size (1..DB_SQLITE_MAX_BATCH).
 */
#define DB_SQLITE_LOOKUP_POINT 0
#define DB_SQLITE_LOOKUP_IN    1
#define DB_SQLITE_LOOKUP_JSON  2
#define DB_SQLITE_MAX_BATCH    500
int db_sqlite_exec(db *d, const char *sql);
int db_sqlite_lookup_mode(db *d, int mode, size_t batch);

#endif
