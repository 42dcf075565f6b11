/*
 * pool -- the milter's shared handles: store connections and libmagic
 * handles, checked out by a callback for its own length and given back.
 *
 * libmilter runs each SMTP session on its own thread. A store connection
 * (with its page cache and prepared statements) and a libmagic handle (its
 * compiled database, about 8 MB) per thread made the milter's memory grow
 * with the number of sessions; on the small machines a milter runs on, a
 * few handles serve any number of sessions, because only as many callbacks
 * as there are cores run at once (and a libmagic handle is needed only for
 * one call per attachment). The connections (and the writer
 * thread's) share one token cache (db_cache), so a token read once serves
 * every session. A callback that finds every handle out
 * waits for one to come back (a callback holds one for a few ms at most).
 * Thread-safe; handles are made on first use.
 */
#ifndef SPAMSIFT_POOL_H
#define SPAMSIFT_POOL_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "db/db.h"

/* Store connections at most. */
#define POOL_MAX 4
/*
 * libmagic handles at most. A handle is lent for one magic_buffer call on
 * an attachment's first 8 KiB (pool_magic_type), tens of microseconds, so
 * one serves every session; each handle maps libmagic's compiled database
 * (8 MB, about 3 MB of it resident: 12 MiB of the milter's peak RSS with
 * four).
 */
#define POOL_MAGIC_MAX 1

/*
 * pool_store_get -- a store connection to path (opened with DB_OPEN_CREATE
 * if none is free), for this callback only. Returns 0 with *out set, or
 * -errno with why (whylen bytes) naming the file.
 */
int pool_store_get(const char *path, db **out, char *why, size_t whylen);

/*
 * pool_store_put -- give d back (NULL is ignored). broken: the connection
 * failed in a way that may leave it unusable (it is closed, the next get
 * opens a new one). A read snapshot still open on d is ended first (d is
 * closed as broken when that fails).
 */
void pool_store_put(db *d, int broken);

/*
 * pool_cache_init -- create the token cache shared by every connection to
 * path (the StorePath at start), of max_bytes (0: none). Connections to
 * another store (after a reload changed StorePath) go without. Call once,
 * before any get. Returns 0 or -ENOMEM.
 */
int pool_cache_init(const char *path, size_t max_bytes);

/*
 * pool_warm -- in a thread of its own, read the global model (DB_GLOBAL_USER)
 * of the cache's store into the shared cache now, or, when it is too big,
 * its key filter: otherwise the message that reaches the cache's load
 * threshold pays for that scan (about 0.4 s for the whole SpamAssassin
 * corpus), on a connection of its own that it closes. Messages meanwhile
 * read the store. No-op without a cache. Once, after pool_cache_init;
 * pool_close waits for it. Returns 0 or -EAGAIN.
 */
int pool_warm(void);

/* pool_cache_for -- the shared cache if path is the store it serves, else NULL. */
db_cache *pool_cache_for(const char *path);

/*
 * A store file deleted or replaced (a restored backup) under an open
 * connection would take that connection's writes, quarantined mail
 * included, to a file nobody sees again. Connections remember the file's
 * identity when they open it and check it at most once a second.
 * pool_file_id -- the identity of the file at path: 0, or -errno.
 * pool_file_moved -- 1 if the file at path is no longer (dev, ino) (checked
 * at most once a second, *checked is when it last was), else 0.
 */
int pool_file_id(const char *path, dev_t *dev, ino_t *ino);
int pool_file_moved(const char *path, dev_t dev, ino_t ino, time_t *checked);

/* pool_magic_get -- a libmagic handle (magic_t), or NULL if libmagic cannot load. */
void *pool_magic_get(void);

/* pool_magic_put -- give a handle from pool_magic_get back (NULL is ignored). */
void pool_magic_put(void *magic);

/*
 * pool_magic_type -- the parser's msg_opts.magic_type: the MIME type
 * libmagic finds in buf[0..len), copied into out (outlen bytes), with a
 * handle borrowed for this call only. Returns out, or NULL (no libmagic, or
 * no answer). arg is unused.
 */
const char *pool_magic_type(void *arg, const void *buf, size_t len,
    char *out, size_t outlen);

/*
 * pool_close -- close every handle, at exit. A handle still checked out is
 * waited for up to 5 s, then left open (with the token cache); from then
 * on pool_store_get fails (-ESHUTDOWN) and pool_magic_get gives NULL.
 */
void pool_close(void);

#endif
