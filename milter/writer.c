/*
 * writer -- batched store writes for the milter (see writer.h).
 *
 * One queue holds two kinds of work: learning (a filter_pending, fire and
 * forget) and quarantine copies (a request on the waiting thread's stack).
 * The thread takes everything queued, commits it in one transaction, and
 * wakes the threads whose quarantine copies it stored. A request's state
 * says who may touch it: QUEUED (its thread may withdraw it), BUSY (a
 * commit is running: only the writer touches it) and DONE (its thread reads
 * the result). Everything shared is under `lock`.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/db.h"
#include "milter/clock.h"
#include "milter/log.h"
#include "milter/pool.h"
#include "milter/writer.h"

/*
 * Gather learning for this long, or until this many messages wait, before
 * a commit: one transaction serves many messages and their common tokens
 * become one update each. A user's token rows are spread over all the
 * pages of his model, so a commit rewrites most of them (in the WAL, then
 * in the file at the checkpoint) however few messages it holds: fewer,
 * larger commits write less. Measured with e2e.sh (corpus, TEFT on, 3,000
 * messages at ~330/s): every 5 ms, 2.2 ms of milter CPU per message; 50
 * ms, 1.7-1.8 ms and 130 KiB written per message; 500 ms, 1.4-1.5 ms and
 * 50 KiB; 1 s, 1.4 ms, but peak RSS +25 MiB (the combined increments of a
 * big transaction): hence the cap in messages. A quarantine copy ends the
 * wait at once.
 */
#define BATCH_WAIT_MS 500
#define BATCH_MAX 128
/*
 * A locked store is tried again after RETRY_MS; each try waits up to
 * LOCK_WAIT_MS for the lock, which paces the tries. A store that cannot be
 * opened (its file unreadable, its directory gone) fails at once: its wait
 * doubles from RETRY_MS up to RETRY_MAX_MS, or the thread tried to open it
 * 50 times a second for as long as it lasted.
 */
#define RETRY_MS 20
#define RETRY_MAX_MS 1000
#define LOCK_WAIT_MS 1000
/* While the store cannot be opened, say so again this often (seconds). */
#define DOWN_LOG_S 60

enum { Q_QUEUED, Q_BUSY, Q_DONE };

/* A quarantine copy waiting to be stored (lives on its thread's stack). */
struct qreq {
	const char *user;       /* owner's user name */
	const db_quar *q;       /* the copy (uid filled in by the writer) */
	int state;              /* Q_QUEUED, Q_BUSY, Q_DONE */
	int rc;                 /* result once Q_DONE */
	int64_t id;             /* quarantine id once stored */
	struct timespec end;    /* its thread answers Postfix then: not
	                           stored after it (CLOCK_MONOTONIC) */
	int timeout_ms;         /* the wait it was given, for the message */
	char why[1024];         /* the store's message on error */
};

typedef struct item {
	filter_pending *pd;     /* learning, or NULL */
	size_t bytes;           /* pd's size and ours (writer_push) */
	struct qreq *qr;        /* a quarantine copy, or NULL */
	struct item *next;      /* queue link */
} item;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;   /* work for the thread */
static pthread_cond_t done = PTHREAD_COND_INITIALIZER;  /* quarantine results */
static pthread_t thread;
static int running;             /* the thread exists */
static int stopping;            /* writer_stop was called */
static int deadline_passed;     /* stop: give up retrying */
static item *head, *tail;       /* the queue */
static item *batch;             /* what the thread holds */
static size_t queued_bytes;     /* sum of bytes in the queue */
static size_t batch_bytes;      /* and in the batch being written */
static size_t queued_learning;  /* learning items in the queue */
static size_t dropped;          /* pending writes refused or lost */
static char path_now[4096];     /* the store to write to */
static time_t last_drop_log;    /* rate limit of the drop warning (clock_now_s) */
static time_t last_ckpt_log;    /* and of the checkpoint warning (thread) */
static time_t last_lost_log;    /* and of the lost learning warning (thread) */
static size_t lost_unlogged;    /* learning lost since that warning (thread) */
static char lost_why[1024];      /* why the last of it was lost (thread) */
static time_t down_since;       /* the store could not be opened since then,
                                   0 while it can (thread) */
static time_t last_down_log;    /* rate limit of the line saying so (thread) */
static int retry_ms = RETRY_MS; /* wait before the next try to open (thread) */
static char unavailable_why[1024]; /* why the last try could not open the
                                   store (not locked: gone, unreadable,
                                   newer), "" when it could; for a
                                   quarantine copy withdrawn */
static int urgent;              /* a quarantine copy is queued: commit now */
static int idle;                /* the thread waits for work (not gathering) */

/* Free learning items; quarantine items are only unlinked (their owner waits). */
static void free_items(item *it)
{
	while (it != NULL) {
		item *next = it->next;

		filter_pending_free(it->pd);
		free(it);
		it = next;
	}
}

/* Under lock: set the state of every quarantine request in the batch. */
static void mark(int state)
{
	for (item *it = batch; it != NULL; it = it->next)
		if (it->qr != NULL)
			it->qr->state = state;
}

/* Store one quarantine copy (its own durable transaction); 0 or -errno. */
static int write_quar(db *d, struct qreq *r)
{
	db_quar q = *r->q;
	int64_t uid;
	int rc = db_user(d, r->user, 1, &uid);

	if (rc == 0) {
		q.uid = uid;
		rc = db_quar_put(d, &q, &r->id);
	}
	return rc;
}

/* Commit the learning in [it, end) (end NULL: to the last) in one transaction. */
static int commit_learning(db *d, item *it, item *end)
{
	int rc = db_begin(d);

	if (rc < 0)
		return rc;
	for (; it != end && rc == 0; it = it->next)
		if (it->pd != NULL)
			rc = filter_commit(d, it->pd);
	if (rc < 0) {
		db_rollback(d);
		return rc;
	}
	return db_commit(d);
}

/* Under lock: settle the quarantine request of it, which its thread may read at once. */
static void settle(item *it, int rc, const char *why)
{
	struct qreq *r = it->qr;

	if (r == NULL)
		return;
	r->rc = rc;
	if (rc < 0)
		snprintf(r->why, sizeof(r->why), "%s", why);
	r->state = Q_DONE;
	it->qr = NULL;
}

/* Identity of the file the thread's connection opened (pool.h). */
static dev_t file_dev;
static ino_t file_ino;
static time_t file_checked;

/*
 * Open the store if *dp is closed (short lock waits: we retry), or again if
 * its file was removed or replaced (writes, quarantined mail included, must
 * reach the file the CLI sees); 0 or -EIO.
 */
static int reopen(db **dp, const char *path, char *why, size_t whylen)
{
	if (*dp != NULL && pool_file_moved(path, file_dev, file_ino,
	    &file_checked)) {
		log_warning("NOQUEUE: store %s was removed or replaced while open; "
		    "reopening it", path);
		db_close(*dp);
		*dp = NULL;
	}
	if (*dp != NULL)
		return 0;
	/* Checkpoints after the cache has the commit (writer_main). */
	if (db_open(path, DB_OPEN_CREATE | DB_OPEN_OWN_CHECKPOINT, dp, why,
	    whylen) < 0) {
		*dp = NULL;
		return -EIO;
	}
	if (pool_file_id(path, &file_dev, &file_ino) < 0)
		file_dev = 0, file_ino = 0;     /* not a plain file: no check */
	file_checked = time(NULL);
	/* Our commits then update the shared cache instead of emptying it. */
	if (db_cache_attach(*dp, pool_cache_for(path)) < 0) {
		snprintf(why, whylen, "%s", db_errmsg(*dp));
		db_close(*dp);
		*dp = NULL;
		return -EIO;
	}
	db_busy_timeout(*dp, LOCK_WAIT_MS);
	return 0;
}

/* After a failed write: keep the store's message, close the handle (a failed
 * commit may leave the backend's transaction open). */
static void failed(db **dp, char *why, size_t whylen)
{
	snprintf(why, whylen, "%s", db_errmsg(*dp));
	db_close(*dp);
	*dp = NULL;
}

/* Under lock: unlink and free the batch's learning items. */
static void drop_learning(void)
{
	item **l = &batch;

	while (*l != NULL) {
		item *it = *l;

		if (it->pd == NULL) {
			l = &it->next;
			continue;
		}
		*l = it->next;
		filter_pending_free(it->pd);
		free(it);
	}
	/* Quarantine copies are not counted: what is left holds none. */
	batch_bytes = 0;
}

/*
 * Log the learning lost since the last such line: once a minute at most
 * while the store refuses writes (disk full: a line per message at low
 * rates), and at once when force (a commit worked again, or the writer
 * ends), so that no loss goes unreported.
 */
static void log_lost(int force)
{
	if (lost_unlogged == 0 || (!force && clock_now_s() - last_lost_log < 60))
		return;
	last_lost_log = clock_now_s();
	log_warning("NOQUEUE: learning of %zu messages lost: %s", lost_unlogged,
	    lost_why);
	lost_unlogged = 0;
}

/*
 * Write the batch (called without lock, its quarantine requests Q_BUSY):
 * the learning in one transaction (item by item if that fails for a reason
 * other than a lock, so one bad item does not sink the rest), then each
 * quarantine copy in its own durable transaction. Returns 0 when all is
 * written or settled, else what is left to retry failed with: -EBUSY (the
 * store is locked) or -EIO (it cannot be opened), and err says why.
 */
static int write_batch(db **dp, const char *path, char *err, size_t errlen)
{
	int rc, left = 0, learning = 0;

	for (item *it = batch; it != NULL; it = it->next)
		learning |= it->pd != NULL;
	if (learning) {
		if ((rc = reopen(dp, path, err, errlen)) < 0)
			return rc;
		if ((rc = commit_learning(*dp, batch, NULL)) == 0)
			log_lost(1);
		else {
			failed(dp, err, errlen);
			if (rc == -EBUSY)
				return rc;
			size_t lost = 0;
			char why[1024];

			for (item *it = batch; it != NULL; it = it->next) {
				if (it->pd == NULL)
					continue;
				if ((rc = reopen(dp, path, why, sizeof(why))) == 0 &&
				    (rc = commit_learning(*dp, it, it->next)) < 0)
					failed(dp, why, sizeof(why));
				lost += rc < 0;
			}
			if (lost > 0) {
				lost_unlogged += lost;
				snprintf(lost_why, sizeof(lost_why), "%s", why);
				log_lost(0);
				pthread_mutex_lock(&lock);
				dropped += lost;
				pthread_mutex_unlock(&lock);
			}
		}
		pthread_mutex_lock(&lock);
		drop_learning();
		pthread_mutex_unlock(&lock);
	}
	/*
	 * The copies, until one finds the store locked or unavailable: the
	 * rest wait for the next try with it (each try waits up to
	 * LOCK_WAIT_MS for the lock: trying them all made a round of N
	 * copies last N seconds, while their threads, their copies being
	 * written, could not give up; Postfix's timeout came first). A copy
	 * whose thread's time is up is not written: that thread answers per
	 * OnFail, so stored, it would be quarantined again on the retry.
	 */
	for (item *it = batch; it != NULL && left == 0; it = it->next) {
		char why[1024];

		if (it->qr == NULL)
			continue;
		why[0] = '\0';
		if (clock_since_ms(&it->qr->end) >= 0) {
			snprintf(why, sizeof(why), "store busy for %d ms",
			    it->qr->timeout_ms);
			rc = -ETIMEDOUT;
		} else if ((rc = reopen(dp, path, why, sizeof(why))) < 0) {
			left = rc;      /* unavailable: retry */
			snprintf(err, errlen, "%s", why);
			continue;
		} else if ((rc = write_quar(*dp, it->qr)) < 0) {
			failed(dp, why, sizeof(why));
		}
		if (rc == -EBUSY) {
			left = rc;      /* locked: retry */
			snprintf(err, errlen, "%s", why);
			continue;
		}
		pthread_mutex_lock(&lock);
		settle(it, rc, why);
		pthread_cond_broadcast(&done);
		pthread_mutex_unlock(&lock);
	}
	return left;
}

/*
 * Under lock: move the queue's quarantine copies and its first BATCH_MAX
 * learning items to the batch, in their order; the rest stays queued for
 * the next batch. After the store was locked for a while the queue holds
 * a backlog: taken whole, it became one transaction of thousands of
 * messages, whose combined increments took memory beyond WRITER_MAX_BYTES
 * and which every quarantine copy queued with it waited for.
 */
static void take_batch(void)
{
	item **l = &head, **end = &batch, *last = NULL;
	size_t n = 0;

	batch_bytes = 0;
	while (*l != NULL) {
		item *it = *l;

		if (it->pd != NULL && n == BATCH_MAX) {
			last = it;      /* stays queued */
			l = &it->next;
			continue;
		}
		*l = it->next;
		it->next = NULL;
		*end = it;
		end = &it->next;
		if (it->pd != NULL) {
			n++;
			queued_bytes -= it->bytes;
			batch_bytes += it->bytes;
			queued_learning--;
		}
	}
	tail = last;
}

/*
 * After a try (thread, without lock): a store the thread cannot open is an
 * administrator's problem (learning waits in memory, and past
 * WRITER_MAX_BYTES is dropped), so it is logged at once with why, once
 * every DOWN_LOG_S while it lasts (not at every try), and when the store
 * opens again. A locked store is not one (`spamsift train` holds the lock
 * for seconds at a time): nothing is said. Returns how long to wait before
 * the next try, in ms, when rc < 0.
 */
static int note_try(int rc, const char *path, const char *why)
{
	time_t now = clock_now_s();

	if (rc == -EBUSY || rc == 0) {
		/* It opened. */
		if (down_since != 0)
			log_info("NOQUEUE: store %s opened again after %lld s",
			    path, (long long)(now - down_since));
		down_since = 0;
		retry_ms = RETRY_MS;
		return RETRY_MS;
	}
	if (down_since == 0) {
		down_since = last_down_log = now;
		log_err("NOQUEUE: cannot open store %s to write learning: %s; "
		    "retrying, the learning waits in memory", path, why);
	} else if (now - last_down_log >= DOWN_LOG_S) {
		last_down_log = now;
		log_err("NOQUEUE: store %s still cannot be opened to write "
		    "learning (for %lld s): %s", path,
		    (long long)(now - down_since), why);
	}
	rc = retry_ms;
	retry_ms = retry_ms * 2 < RETRY_MAX_MS ? retry_ms * 2 : RETRY_MAX_MS;
	return rc;
}

static void *writer_main(void *arg)
{
	char path[4096] = "", err[1024];
	db *d = NULL;

	(void)arg;
	pthread_mutex_lock(&lock);
	for (;;) {
		item *b;
		int rc, wait_ms;

		while (batch == NULL && head == NULL && !stopping) {
			idle = 1;
			pthread_cond_wait(&wake, &lock);
			idle = 0;
		}
		if (batch == NULL && head == NULL)
			break;
		if (batch == NULL) {
			struct timespec end = clock_after_ms(BATCH_WAIT_MS);

			/* Gather learning; a quarantine copy ends the wait. */
			while (!urgent && !stopping &&
			    queued_learning < BATCH_MAX &&
			    pthread_cond_clockwait(&wake, &lock, CLOCK_MONOTONIC,
			    &end) != ETIMEDOUT)
				;
			urgent = 0;
			take_batch();
			if (batch == NULL)    /* everything was withdrawn */
				continue;
		}
		if (strcmp(path, path_now) != 0) {
			db_close(d);
			d = NULL;
			snprintf(path, sizeof(path), "%s", path_now);
		}
		mark(Q_BUSY);
		pthread_mutex_unlock(&lock);

		rc = write_batch(&d, path, err, sizeof(err));
		wait_ms = note_try(rc, path, err);
		/*
		 * Now that the token cache has the commit, the checkpoint
		 * (syncs, thousands of page copies): until the cache has
		 * applied a commit, readers that see it bypass the cache, so
		 * the checkpoint must not run inside the commit.
		 */
		if (d != NULL && db_checkpoint(d) < 0 &&
		    clock_now_s() - last_ckpt_log >= 60) {
			last_ckpt_log = clock_now_s(); /* once a minute at most */
			log_warning("NOQUEUE: checkpoint of store %s failed: %s",
			    path, db_errmsg(d));
		}

		pthread_mutex_lock(&lock);
		snprintf(unavailable_why, sizeof(unavailable_why), "%s",
		    rc < 0 && rc != -EBUSY ? err : "");
		if (rc < 0 && !deadline_passed) {
			/*
			 * Locked or unavailable for now: keep what is left,
			 * retry. A stop past its time ends the wait.
			 */
			struct timespec end = clock_after_ms(wait_ms);

			mark(Q_QUEUED);
			pthread_cond_broadcast(&done);
			while (!deadline_passed &&
			    pthread_cond_clockwait(&wake, &lock, CLOCK_MONOTONIC,
			    &end) != ETIMEDOUT)
				;
			continue;
		}
		if (rc < 0) {
			/*
			 * Stopping and out of time: the rest of the queue goes
			 * too, not batch by batch (a wait for the lock and a
			 * line each ran past a service manager's stop timeout).
			 */
			size_t n = 0;

			if (head != NULL) {
				item **e = &batch;

				while (*e != NULL)
					e = &(*e)->next;
				*e = head;
				head = tail = NULL;
				queued_bytes = 0;
				queued_learning = 0;
			}
			for (item *it = batch; it != NULL; it = it->next) {
				n += it->pd != NULL;
				settle(it, rc, err);
			}
			dropped += n;
			log_warning("NOQUEUE: store writes lost at shutdown "
			    "(learning of %zu messages): %s", n, err);
		}
		b = batch;
		batch = NULL;
		batch_bytes = 0;
		pthread_cond_broadcast(&done);
		pthread_mutex_unlock(&lock);
		free_items(b);
		pthread_mutex_lock(&lock);
	}
	pthread_mutex_unlock(&lock);
	log_lost(1);
	db_close(d);
	return NULL;
}

int writer_start(const char *path)
{
	int rc;

	snprintf(path_now, sizeof(path_now), "%s", path ? path : "");
	stopping = deadline_passed = 0;
	unavailable_why[0] = '\0';
	rc = pthread_create(&thread, NULL, writer_main, NULL);
	if (rc != 0)
		return -rc;
	/* Named for top -H and ps -L (at most 15 bytes); a failure is harmless. */
	(void)pthread_setname_np(thread, "ss-writer");
	running = 1;
	return 0;
}

void writer_set_path(const char *path)
{
	pthread_mutex_lock(&lock);
	snprintf(path_now, sizeof(path_now), "%s", path ? path : "");
	pthread_mutex_unlock(&lock);
}

/*
 * Under lock: append it to the queue; wake the thread if it waits for work
 * or the batch is full (while it gathers or writes it takes the queue
 * anyway: waking it for every message cost a context switch each).
 */
static void enqueue(item *it)
{
	it->next = NULL;
	if (tail != NULL)
		tail->next = it;
	else
		head = it;
	tail = it;
	queued_learning += it->pd != NULL;
	if (idle || queued_learning == BATCH_MAX)
		pthread_cond_signal(&wake);
}

void writer_push(filter_pending *pd, size_t bytes)
{
	item *it = calloc(1, sizeof(*it));
	int warn = 0;

	bytes += sizeof(*it);
	pthread_mutex_lock(&lock);
	if (it == NULL || !running || stopping ||
	    queued_bytes + batch_bytes + bytes > WRITER_MAX_BYTES) {
		time_t now = clock_now_s();

		dropped++;
		if (now - last_drop_log >= 60) {
			last_drop_log = now;
			warn = 1;
		}
		pthread_mutex_unlock(&lock);
		if (warn)
			log_warning("NOQUEUE: store writes are behind; learning "
			    "dropped (%zu so far)", dropped);
		free(it);
		filter_pending_free(pd);
		return;
	}
	it->pd = pd;
	it->bytes = bytes;
	queued_bytes += bytes;
	enqueue(it);
	pthread_mutex_unlock(&lock);
}

/* Under lock: unlink the item holding r from list *l; 1 if it was there. */
static int unlink_req(item **l, item **last, const struct qreq *r)
{
	item *prev = NULL;

	for (item *it = *l; it != NULL; prev = it, it = it->next) {
		if (it->qr != r)
			continue;
		if (prev != NULL)
			prev->next = it->next;
		else
			*l = it->next;
		if (last != NULL && *last == it)
			*last = prev;
		free(it);
		return 1;
	}
	return 0;
}

int writer_quarantine(const char *user, const db_quar *q, int timeout_ms,
    int64_t *id, char *why, size_t whylen)
{
	struct qreq r = { .user = user, .q = q, .state = Q_QUEUED,
	    .end = clock_after_ms(timeout_ms), .timeout_ms = timeout_ms };
	item *it = calloc(1, sizeof(*it));
	int rc;

	pthread_mutex_lock(&lock);
	if (it == NULL || !running || stopping) {
		pthread_mutex_unlock(&lock);
		free(it);
		snprintf(why, whylen, "%s", it == NULL ? "out of memory" :
		    "the writer thread is not running");
		return it == NULL ? -ENOMEM : -EAGAIN;
	}
	it->qr = &r;
	urgent = 1;
	enqueue(it);
	pthread_cond_signal(&wake);     /* ends the gathering wait */
	while (r.state != Q_DONE) {
		if (r.state == Q_QUEUED &&
		    pthread_cond_clockwait(&done, &lock, CLOCK_MONOTONIC,
		    &r.end) == ETIMEDOUT &&
		    r.state == Q_QUEUED) {
			/* Not started: withdraw it, it will never be stored. */
			if (!unlink_req(&head, &tail, &r))
				unlink_req(&batch, NULL, &r);
			if (unavailable_why[0] != '\0')
				snprintf(why, whylen, "store unavailable for %d "
				    "ms: %s", timeout_ms, unavailable_why);
			else
				snprintf(why, whylen, "store busy for %d ms",
				    timeout_ms);
			pthread_mutex_unlock(&lock);
			return -ETIMEDOUT;
		}
		if (r.state == Q_BUSY)  /* a commit is running: its end decides */
			pthread_cond_wait(&done, &lock);
	}
	pthread_mutex_unlock(&lock);
	rc = r.rc;
	if (rc == 0)
		*id = r.id;
	else
		snprintf(why, whylen, "%s", r.why[0] ? r.why : strerror(-rc));
	return rc;
}

size_t writer_stop(int timeout_s)
{
	struct timespec start;
	size_t lost;

	clock_gettime(CLOCK_MONOTONIC, &start);
	if (!running)
		return 0;
	pthread_mutex_lock(&lock);
	stopping = 1;
	pthread_cond_signal(&wake);
	pthread_mutex_unlock(&lock);
	/* Let it drain; past the deadline it stops retrying a locked store. */
	for (;;) {
		int idle;

		pthread_mutex_lock(&lock);
		idle = head == NULL && batch == NULL;
		if (clock_since_ms(&start) >= timeout_s * 1000.0)
			deadline_passed = 1;
		pthread_mutex_unlock(&lock);
		if (idle || deadline_passed)
			break;
		clock_sleep_ms(20);
	}
	pthread_mutex_lock(&lock);
	deadline_passed = 1;
	pthread_cond_signal(&wake);
	pthread_mutex_unlock(&lock);
	pthread_join(thread, NULL);
	running = 0;
	pthread_mutex_lock(&lock);
	lost = dropped;
	pthread_mutex_unlock(&lock);
	return lost;
}
