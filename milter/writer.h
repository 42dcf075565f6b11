/*
 * writer -- the milter's single writer thread. Classification only reads
 * the store (WAL readers never wait); what a classification must write
 * (TEFT learning, signatures, counters, sender history) is queued here and
 * committed in batches (gathered for up to 500 ms or 128 messages, one
 * transaction each), so mail never waits for the store's write lock, even
 * while `spamsift train` holds it. Quarantine copies come here too, as a group commit: the thread that
 * stores one waits until the transaction holding it is committed, so the
 * copy is durable before the milter replies, and the milter has one writer
 * competing for the store's lock instead of one per session.
 *
 * Memory is bounded: past WRITER_MAX_BYTES of learning queued or in the
 * batch being written (retried while the store is locked), new learning is
 * dropped (counted, logged once a minute): the verdicts stand, only their
 * learning is lost. So is learning the store refuses (a full disk): also
 * logged once a minute at most. A store the thread cannot open (its
 * directory gone) is retried with a growing wait (up to a second) and
 * logged when that starts, once a minute while it lasts, and when it ends;
 * a locked store is only retried.
 */
#ifndef SPAMSIFT_WRITER_H
#define SPAMSIFT_WRITER_H

#include <stdint.h>

#include "classifier/filter.h"
#include "db/db.h"

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
 * writer_push -- queue pending (takes ownership) with its size in bytes
 * (filter_pending_bytes). Never blocks on the store. Thread-safe.
 */
void writer_push(filter_pending *pending, size_t bytes);

/*
 * writer_quarantine -- store q (q->uid is ignored) in the quarantine of user
 * (created if new) and wait until it is committed, at most timeout_ms for the
 * commit to begin. Returns 0 with *id set, or -errno with why (whylen bytes)
 * saying what went wrong. A copy whose commit had not begun by the deadline
 * is withdrawn (-ETIMEDOUT): it is then never stored, so the message is
 * either quarantined or refused, not both. q's strings and data must stay
 * valid until the call returns. Thread-safe.
 */
int writer_quarantine(const char *user, const db_quar *q, int timeout_ms,
    int64_t *id, char *why, size_t whylen);

/*
 * writer_stop -- commit what is queued (retrying a locked store for up to
 * timeout_s seconds), then stop the thread. Returns the number of pending
 * writes that were lost.
 */
size_t writer_stop(int timeout_s);

#endif
