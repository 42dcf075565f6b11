/*
 * writer -- batched, deferred store writes for the milter (see writer.h).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/db.h"
#include "milter/log.h"
#include "milter/writer.h"

/* Gather work for this long before a commit, so one transaction serves many. */
#define BATCH_WAIT_MS 5
/* A locked store is retried after this long. */
#define RETRY_MS 50

typedef struct item {
	filter_pending *pd;     /* the write */
	size_t bytes;           /* its size estimate */
	struct item *next;      /* queue link */
} item;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static pthread_t thread;
static int running;             /* the thread exists */
static int stopping;            /* writer_stop was called */
static int deadline_passed;     /* stop: give up retrying */
static int busy;                /* the thread holds a batch */
static item *head, *tail;       /* the queue */
static size_t queued_bytes;     /* sum of bytes in the queue */
static size_t dropped;          /* pending writes refused or lost */
static char path_now[4096];     /* the store to write to */
static time_t last_drop_log;    /* rate limit of the drop warning */

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void free_items(item *it)
{
	while (it != NULL) {
		item *next = it->next;

		filter_pending_free(it->pd);
		free(it);
		it = next;
	}
}

/* Commit a batch; 0, -EBUSY (retry the same batch later) or another error. */
static int commit_batch(db *d, item *batch)
{
	int rc = db_begin(d);

	if (rc < 0)
		return rc;
	for (item *it = batch; it != NULL && rc == 0; it = it->next)
		rc = filter_commit(d, it->pd);
	if (rc < 0) {
		db_rollback(d);
		return rc;
	}
	return db_commit(d);
}

static void *writer_main(void *arg)
{
	char path[4096] = "", err[1024];
	db *d = NULL;
	item *batch = NULL;

	(void)arg;
	for (;;) {
		int rc;

		pthread_mutex_lock(&lock);
		while (batch == NULL && head == NULL && !stopping)
			pthread_cond_wait(&wake, &lock);
		if (batch == NULL && head == NULL && stopping) {
			pthread_mutex_unlock(&lock);
			break;
		}
		if (batch == NULL) {
			pthread_mutex_unlock(&lock);
			if (!stopping)
				sleep_ms(BATCH_WAIT_MS);
			pthread_mutex_lock(&lock);
			batch = head;
			head = tail = NULL;
			queued_bytes = 0;
			busy = batch != NULL;
		}
		if (strcmp(path, path_now) != 0) {
			db_close(d);
			d = NULL;
			snprintf(path, sizeof(path), "%s", path_now);
		}
		pthread_mutex_unlock(&lock);

		if (d == NULL && db_open(path, DB_OPEN_CREATE, &d, err,
		    sizeof(err)) < 0) {
			d = NULL;
			rc = -EIO;
		} else {
			rc = commit_batch(d, batch);
			if (rc < 0)
				snprintf(err, sizeof(err), "%s", db_errmsg(d));
		}
		if (rc == 0) {
			free_items(batch);
			batch = NULL;
			pthread_mutex_lock(&lock);
			busy = 0;
			pthread_mutex_unlock(&lock);
			continue;
		}
		pthread_mutex_lock(&lock);
		if ((rc == -EBUSY || rc == -EIO) && !deadline_passed) {
			/* Locked or unavailable for now: keep the batch, retry. */
			pthread_mutex_unlock(&lock);
			if (rc == -EIO) {
				db_close(d);
				d = NULL;
			}
			sleep_ms(RETRY_MS);
			continue;
		}
		for (item *it = batch; it != NULL; it = it->next)
			dropped++;
		busy = 0;
		pthread_mutex_unlock(&lock);
		log_warning("NOQUEUE: learning of a batch lost: %s", err);
		free_items(batch);
		batch = NULL;
	}
	db_close(d);
	return NULL;
}

int writer_start(const char *path)
{
	int rc;

	snprintf(path_now, sizeof(path_now), "%s", path ? path : "");
	stopping = deadline_passed = 0;
	rc = pthread_create(&thread, NULL, writer_main, NULL);
	if (rc != 0)
		return -rc;
	running = 1;
	return 0;
}

void writer_set_path(const char *path)
{
	pthread_mutex_lock(&lock);
	snprintf(path_now, sizeof(path_now), "%s", path ? path : "");
	pthread_mutex_unlock(&lock);
}

void writer_push(filter_pending *pd, size_t bytes)
{
	item *it = malloc(sizeof(*it));
	int warn = 0;

	pthread_mutex_lock(&lock);
	if (it == NULL || !running || stopping ||
	    queued_bytes + bytes > WRITER_MAX_BYTES) {
		time_t now = time(NULL);

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
	it->next = NULL;
	if (tail != NULL)
		tail->next = it;
	else
		head = it;
	tail = it;
	queued_bytes += bytes;
	pthread_cond_signal(&wake);
	pthread_mutex_unlock(&lock);
}

size_t writer_stop(int timeout_s)
{
	time_t end = time(NULL) + timeout_s;
	size_t lost;

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
		idle = head == NULL && !busy;
		if (time(NULL) >= end)
			deadline_passed = 1;
		pthread_mutex_unlock(&lock);
		if (idle || deadline_passed)
			break;
		sleep_ms(20);
	}
	pthread_mutex_lock(&lock);
	deadline_passed = 1;
	pthread_mutex_unlock(&lock);
	pthread_join(thread, NULL);
	running = 0;
	pthread_mutex_lock(&lock);
	for (item *it = head; it != NULL; it = it->next)
		dropped++;
	free_items(head);
	head = tail = NULL;
	lost = dropped;
	pthread_mutex_unlock(&lock);
	return lost;
}
