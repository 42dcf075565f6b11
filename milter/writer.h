/*
 * writer -- the milter's single writer thread. Classification only reads
 * the store (WAL readers never wait); what a classification must write
 * (TEFT learning, signatures, counters, sender history) is queued here and
 * committed in batches, one transaction every few milliseconds, so mail
 * never waits for the store's write lock, even while `spamsift train` holds
 * it. Quarantine writes do not come here: they must be durable before the
 * reply.
 *
 * Memory is bounded: past WRITER_MAX_BYTES of queued work, new work is
 * dropped (counted, logged once a minute): the verdicts stand, only their
 * learning is lost.
 */
#ifndef SPAMSIFT_WRITER_H
#define SPAMSIFT_WRITER_H

#include "classifier/filter.h"

/* Bytes of queued work (token hashes mostly) before new work is dropped. */
#define WRITER_MAX_BYTES (64u * 1024 * 1024)

/*
 * writer_start -- start the thread; it writes to the store at path (copied).
 * Returns 0 or -errno.
 */
int writer_start(const char *path);

/* writer_set_path -- write to another store from the next batch on (reload). */
void writer_set_path(const char *path);

/*
 * writer_push -- queue pending (takes ownership) with its size estimate in
 * bytes. Never blocks on the store. Thread-safe.
 */
void writer_push(filter_pending *pending, size_t bytes);

/*
 * writer_stop -- commit what is queued (retrying a locked store for up to
 * timeout_s seconds), then stop the thread. Returns the number of pending
 * writes that were lost.
 */
size_t writer_stop(int timeout_s);

#endif
