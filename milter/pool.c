/*
 * pool -- shared store and libmagic handles for the milter (see pool.h).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <magic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "milter/clock.h"
#include "milter/log.h"
#include "milter/pool.h"

typedef struct slot {
	db *d;                  /* the connection, NULL while it is opened */
	char path[4096];        /* what it was opened with */
	int out;                /* checked out */
	dev_t dev;              /* identity of the file it opened */
	ino_t ino;
	time_t checked;         /* when that was last compared */
} slot;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t store_back = PTHREAD_COND_INITIALIZER; /* one came back */
static pthread_cond_t magic_back = PTHREAD_COND_INITIALIZER;
static slot stores[POOL_MAX];
static size_t nstores;
static magic_t magics[POOL_MAGIC_MAX];
static int magic_out[POOL_MAGIC_MAX];
static size_t nmagics;
static int magic_broken;        /* libmagic failed to load: stop trying */
static db_cache *cache;         /* shared token cache, or NULL */
static char cache_path[4096];   /* the store it serves */
static pthread_t warm_th;       /* pool_warm's thread */
static int warm_started;        /* warm_th runs or ran (to be joined) */
static int closed;              /* pool_close ran: no more handles */
static char cur_path[4096];     /* the store the last handle opened was of */
static dev_t cur_dev;           /* and its file then (0, 0: unknown) */
static ino_t cur_ino;

int pool_cache_init(const char *path, size_t max_bytes)
{
	if (max_bytes == 0)
		return 0;
	cache = db_cache_new(max_bytes < 4096 ? 4096 : max_bytes);
	if (cache == NULL)
		return -ENOMEM;
	snprintf(cache_path, sizeof(cache_path), "%s", path);
	return 0;
}

db_cache *pool_cache_for(const char *path)
{
	return cache != NULL && strcmp(path, cache_path) == 0 ? cache : NULL;
}

/*
 * The warm-up: read @global into the cache (or its key filter), then quit.
 * Its own handle, closed at the end: the pool's connections stay as they
 * were (opened on first use; an administrator may still remount the
 * store's file system read-only while no mail has come).
 */
static void *warm_main(void *arg)
{
	char err[1024];
	struct timespec t0;
	db_cache_stats s0, s1;
	db *d = NULL;
	int64_t uid = 0;
	double ms;
	int rc;

	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (db_open(cache_path, 0, &d, err, sizeof(err)) < 0) {
		log_warning("NOQUEUE: token cache warm-up: %s", err);
		return NULL;
	}
	db_cache_stats_get(cache, &s0);
	rc = db_cache_attach(d, cache);
	if (rc == 0)
		rc = db_user(d, DB_GLOBAL_USER, 0, &uid);
	if (rc == 0 && uid > 0)
		rc = db_cache_prefetch(d, uid);
	db_cache_stats_get(cache, &s1);
	if (rc < 0)
		log_warning("NOQUEUE: token cache warm-up: %s", db_errmsg(d));
	db_cache_attach(d, NULL);
	db_close(d);
	ms = clock_since_ms(&t0);
	/* What TokenCacheSize needs is the administrator's question here. */
	if (rc == 0 && uid > 0 && s1.loads > s0.loads)
		log_info("token cache: %s read in %.0f ms, held whole (%zu tokens)",
		    DB_GLOBAL_USER, ms, s1.whole_tokens);
	else if (rc == 0 && uid > 0)
		log_info("token cache: %s read in %.0f ms, too big to hold whole "
		    "in TokenCacheSize (25 bytes a token): %s", DB_GLOBAL_USER,
		    ms, s1.filters > s0.filters ? "a filter of its keys instead" :
		    "looked up token by token");
	return NULL;
}

int pool_warm(void)
{
	if (cache == NULL || warm_started)
		return 0;
	if (pthread_create(&warm_th, NULL, warm_main, NULL) != 0)
		return -EAGAIN;
	(void)pthread_setname_np(warm_th, "ss-warm");
	warm_started = 1;
	return 0;
}

int pool_file_id(const char *path, dev_t *dev, ino_t *ino)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return -errno;
	*dev = st.st_dev;
	*ino = st.st_ino;
	return 0;
}

int pool_file_moved(const char *path, dev_t dev, ino_t ino, time_t *checked)
{
	time_t now = time(NULL);
	dev_t d;
	ino_t i;

	if (now == *checked || (dev == 0 && ino == 0))
		return 0;
	*checked = now;
	if (pool_file_id(path, &d, &i) < 0)
		return 1;
	return d != dev || i != ino;
}

/* Under lock: is slot t of another store than the last one opened (a
 * reload's StorePath before, or a file since replaced)? */
static int stale(const slot *t)
{
	return t->d != NULL && (strcmp(t->path, cur_path) != 0 ||
	    (cur_dev != 0 && t->dev != 0 && (t->dev != cur_dev ||
	    t->ino != cur_ino)));
}

/*
 * s was just opened: it is the store now. Idle handles of another (the
 * store before a reload, or a file since replaced) are closed: they kept
 * it open for good, its disk space too once deleted, when the sessions
 * never needed more handles than those of the new store.
 */
static void close_stale(const slot *s)
{
	db *gone[POOL_MAX];
	size_t n = 0;

	pthread_mutex_lock(&lock);
	snprintf(cur_path, sizeof(cur_path), "%s", s->path);
	cur_dev = s->dev;
	cur_ino = s->ino;
	for (size_t i = 0; i < nstores; i++)
		if (&stores[i] != s && !stores[i].out && stale(&stores[i])) {
			gone[n++] = stores[i].d;
			stores[i].d = NULL;
		}
	pthread_mutex_unlock(&lock);
	for (size_t i = 0; i < n; i++)
		db_close(gone[i]);
}

int pool_store_get(const char *path, db **out, char *why, size_t whylen)
{
	slot *s = NULL;
	int rc;

	pthread_mutex_lock(&lock);
	if (closed) {
		pthread_mutex_unlock(&lock);
		snprintf(why, whylen, "the milter is stopping");
		return -ESHUTDOWN;
	}
	for (;;) {
		slot *other = NULL;

		for (size_t i = 0; i < nstores && s == NULL; i++) {
			if (stores[i].out)
				continue;
			if (strcmp(stores[i].path, path) == 0)
				s = &stores[i];
			else
				other = &stores[i];
		}
		if (s == NULL && other != NULL) {
			/* Free, but for the store before a reload: reopen it. */
			s = other;
			db_close(s->d);
			s->d = NULL;
		}
		if (s == NULL && nstores < POOL_MAX)
			s = &stores[nstores++];
		if (s != NULL)
			break;
		pthread_cond_wait(&store_back, &lock);
	}
	s->out = 1;
	pthread_mutex_unlock(&lock);
	if (s->d != NULL && pool_file_moved(path, s->dev, s->ino, &s->checked)) {
		log_warning("NOQUEUE: store %s was removed or replaced while open; "
		    "reopening it", path);
		db_close(s->d);
		s->d = NULL;
	}
	if (s->d == NULL) {
		snprintf(s->path, sizeof(s->path), "%s", path);
		rc = db_open(path, DB_OPEN_CREATE, &s->d, why, whylen);
		if (rc == 0 && (rc = db_cache_attach(s->d, pool_cache_for(path))) < 0) {
			snprintf(why, whylen, "%s", db_errmsg(s->d));
			db_close(s->d);
		}
		if (rc == 0 && pool_file_id(path, &s->dev, &s->ino) < 0)
			s->dev = 0, s->ino = 0;         /* not a plain file: no check */
		s->checked = time(NULL);
		if (rc == 0)
			close_stale(s);
		if (rc < 0) {
			s->d = NULL;
			pthread_mutex_lock(&lock);
			s->out = 0;
			pthread_cond_signal(&store_back);
			pthread_mutex_unlock(&lock);
			return rc;
		}
	}
	*out = s->d;
	return 0;
}

void pool_store_put(db *d, int broken)
{
	if (d == NULL)
		return;
	/* A snapshot the user left open ends here; a handle that could not
	 * end it is closed, not lent again. */
	if (db_read_end(d) < 0)
		broken = 1;
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < nstores; i++) {
		if (stores[i].d != d)
			continue;
		/* (and one of a store another handle left: see close_stale) */
		if (broken || stale(&stores[i])) {
			db_close(d);
			stores[i].d = NULL;
		}
		stores[i].out = 0;
		pthread_cond_signal(&store_back);
		break;
	}
	pthread_mutex_unlock(&lock);
}

void *pool_magic_get(void)
{
	magic_t m = NULL;
	char why[256];
	size_t i;

	pthread_mutex_lock(&lock);
	for (;;) {
		if (magic_broken || closed)
			break;
		for (i = 0; i < nmagics && magic_out[i]; i++)
			;
		if (i < nmagics) {
			magic_out[i] = 1;
			m = magics[i];
			break;
		}
		if (nmagics < POOL_MAGIC_MAX) {
			/* Load outside the lock: it takes a few ms. */
			pthread_mutex_unlock(&lock);
			m = magic_open(MAGIC_MIME_TYPE | MAGIC_NO_CHECK_COMPRESS);
			if (m == NULL)
				snprintf(why, sizeof(why), "%s", strerror(errno));
			else if (magic_load(m, NULL) != 0) {
				snprintf(why, sizeof(why), "cannot load its "
				    "database (%s)", magic_error(m) ?
				    magic_error(m) : "?");
				magic_close(m);
				m = NULL;
			}
			pthread_mutex_lock(&lock);
			if (m == NULL) {
				/* Said once (by the first thread to fail):
				 * attachments are then typed by name only, for
				 * the rest of the milter's life (it was silent). */
				if (!magic_broken)
					log_warning("NOQUEUE: libmagic: %s: "
					    "attachments are typed by their names "
					    "only until a restart", why);
				magic_broken = 1;
				break;
			}
			if (nmagics < POOL_MAGIC_MAX) {
				magic_out[nmagics] = 1;
				magics[nmagics++] = m;
				break;
			}
			magic_close(m);     /* another thread filled the pool */
			m = NULL;
			continue;
		}
		pthread_cond_wait(&magic_back, &lock);
	}
	pthread_mutex_unlock(&lock);
	return m;
}

void pool_magic_put(void *magic)
{
	if (magic == NULL)
		return;
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < nmagics; i++) {
		if (magics[i] == magic) {
			magic_out[i] = 0;
			pthread_cond_signal(&magic_back);
			break;
		}
	}
	pthread_mutex_unlock(&lock);
}

const char *pool_magic_type(void *arg, const void *buf, size_t len,
    char *out, size_t outlen)
{
	magic_t m = pool_magic_get();
	const char *r;

	(void)arg;
	if (m == NULL)
		return NULL;
	r = magic_buffer(m, buf, len);
	if (r != NULL)
		snprintf(out, outlen, "%s", r);  /* r is the handle's until its next call */
	pool_magic_put(m);
	return r != NULL ? out : NULL;
}

/* Under lock: handles checked out (a session still ends a message). */
static size_t busy_handles(void)
{
	size_t n = 0;

	for (size_t i = 0; i < nstores; i++)
		n += stores[i].out != 0;
	for (size_t i = 0; i < nmagics; i++)
		n += magic_out[i] != 0;
	return n;
}

/*
 * A session that outlived the drain may still be in its end of message:
 * its handles are waited for a while (CLOSE_WAIT_MS), then left open with
 * the token cache they read (the process is exiting) rather than freed
 * under it.
 */
#define CLOSE_WAIT_MS 5000

void pool_close(void)
{
	size_t busy;

	if (warm_started) {
		pthread_join(warm_th, NULL);
		warm_started = 0;
	}
	pthread_mutex_lock(&lock);
	for (int waited = 0; (busy = busy_handles()) > 0 &&
	    waited < CLOSE_WAIT_MS; waited += 100) {
		struct timespec ts = clock_after_ms(100);

		pthread_cond_clockwait(&store_back, &lock, CLOCK_MONOTONIC, &ts);
	}
	closed = 1;
	if (busy > 0)
		log_warning("NOQUEUE: %zu store or libmagic handles still in use "
		    "at exit; left open", busy);
	for (size_t i = 0; i < nstores; i++) {
		if (stores[i].out)
			continue;
		db_close(stores[i].d);
		stores[i].d = NULL;
	}
	for (size_t i = 0; i < nmagics; i++)
		if (!magic_out[i])
			magic_close(magics[i]);
	if (busy > 0) {
		pthread_mutex_unlock(&lock);
		return;
	}
	nstores = 0;
	nmagics = 0;
	if (cache != NULL) {
		db_cache_stats st;

		db_cache_stats_get(cache, &st);
		log_info("token cache: %" PRIu64 " hits (%" PRIu64 " absent by "
		    "key filter), %" PRIu64 " misses, %" PRIu64 " whole models "
		    "read, %" PRIu64 " key filters built, emptied %" PRIu64
		    " times, %" PRIu64 " own commits applied, %" PRIu64
		    " evicted, %zu tokens held whole, %zu of %zu entries",
		    st.hits, st.absent, st.misses, st.loads, st.filters,
		    st.clears, st.updates, st.evictions, st.whole_tokens,
		    st.entries - st.whole_tokens, st.max_entries);
	}
	db_cache_free(cache);
	cache = NULL;
	pthread_mutex_unlock(&lock);
}
