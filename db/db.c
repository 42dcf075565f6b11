/*
 * db -- the storage interface: picks a backend from the spec, validates
 * arguments, enforces read-only handles and the transaction state, and
 * dispatches through the backend's db_ops table. Also the helpers shared by
 * the backends (error text, one-block allocations, reports).
 *
 * Must not depend on: sqlite3.h, libmilter, syslog, conf/.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/random.h>

#include "db/db.h"
#include "db/db_impl.h"

/* Backends by spec prefix; the first is the default for a plain path. */
static const db_ops *const backends[] = {
	&db_sqlite_ops,
	&db_mem_ops,
};

#define NBACKENDS (sizeof(backends) / sizeof(backends[0]))

/*
 * ---- combined token increments ----
 *
 * Training adds +1 to the same tokens again and again. Positive deltas
 * commute, so they are summed here per (user, token) in a hash table and
 * handed to the backend once, sorted by (user, hash), as one tokens_add
 * call: sorted upserts into the WITHOUT ROWID B-tree cost a fraction of
 * random ones (db_sqlite.c, spamsift_rows). Two tables use this:
 *
 * - d->tokbuf, inside a backend transaction: flushed into it before any
 *   token read, before a negative update (clamping at 0 must see the real
 *   count), and at commit; rollback drops it.
 * - d->defer->buf, deferred writes (db_defer): increments of many
 *   transactions kept in memory with no transaction open, written by
 *   db_flush in one short transaction.
 *
 * A slot is a db_tokadd; uid 0 marks an empty slot (user ids are > 0).
 */

/* Entries combined inside a backend transaction before a flush is forced. */
#define TOKBUF_MAX 262144

struct db_tokbuf {
	db_tokadd *slots;       /* open addressing, power-of-two size */
	size_t cap;             /* number of slots */
	size_t n;               /* entries in use */
	int fill;               /* % full that makes it grow (0: 50) */
	uint64_t seed;          /* of db_slot_mix, set with the first slots */
};

static void tokbuf_free(struct db_tokbuf *b)
{
	free(b->slots);
	memset(b, 0, sizeof(*b));
}

/*
 * Memory for the large tables of training (the combined counts, the sort's
 * copy): probed at random over tens of MiB, so every probe missed the TLB
 * with 4 KiB pages. Above 4 MiB they are 2 MiB aligned and asked for huge
 * pages (MADV_HUGEPAGE; the kernel may refuse: then it is only a hint that
 * failed). Training the corpus half: 1.30 -> 1.13 s, system time halved.
 * Freed with free().
 */
#define BIG_ALLOC_MIN ((size_t)4 << 20)
#define HUGE_PAGE ((size_t)2 << 20)

static void *big_alloc(size_t n)
{
	void *p;

	if (n < BIG_ALLOC_MIN)
		return malloc(n);
	if (posix_memalign(&p, HUGE_PAGE, n) != 0)
		return NULL;
	(void)madvise(p, n, MADV_HUGEPAGE);
	return p;
}

/* big_alloc, zeroed. */
static void *big_zalloc(size_t n)
{
	void *p = big_alloc(n);

	if (p != NULL)
		memset(p, 0, n);
	return p;
}

static void tokbuf_drop(db *d)
{
	if (d->tokbuf == NULL)
		return;
	tokbuf_free(d->tokbuf);
	free(d->tokbuf);
	d->tokbuf = NULL;
}

/*
 * A transaction's table of combined increments is kept, emptied, for the
 * next one on the handle when it is at most this big. The milter's writer
 * commits a batch of learning every 500 ms into a table of 1-5 MiB: freed,
 * each batch grew a new one from 1,024 slots, rehashing at every doubling,
 * and every block of 256 KiB or more (milter/main.c) came as fresh pages
 * and went back with a TLB shootdown that interrupted the other core, 15%
 * of the writer's CPU. A corpus trained by the CLI fills larger tables,
 * freed as before.
 */
#define TOKBUF_KEEP_BYTES ((size_t)8 << 20)

/* Empty the transaction's combined increments (kept or freed, as above). */
static void tokbuf_clear(db *d)
{
	struct db_tokbuf *b = d->tokbuf;

	if (b == NULL)
		return;
	if (b->cap * sizeof(*b->slots) > TOKBUF_KEEP_BYTES) {
		tokbuf_drop(d);
		return;
	}
	/* (with no entry the table is all zeros already) */
	if (b->n > 0)
		memset(b->slots, 0, b->cap * sizeof(*b->slots));
	b->n = 0;
}

uint64_t db_seed(void)
{
	uint64_t seed;

	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed))
		seed = (uint64_t)time(NULL) * 0xBF58476D1CE4E5B9ULL ^
		    (uint64_t)(uintptr_t)&seed;
	return seed;
}

static size_t tokent_slot(const struct db_tokbuf *b, int64_t uid, uint64_t h)
{
	size_t i;

	for (i = (size_t)db_slot_mix(b->seed, uid, h) & (b->cap - 1);
	    b->slots[i].uid != 0 &&
	    (b->slots[i].uid != uid || b->slots[i].hash != h);
	    i = (i + 1) & (b->cap - 1))
		;
	return i;
}

static int tokbuf_grow(struct db_tokbuf *b)
{
	size_t ncap = b->cap ? b->cap * 2 : 1024;
	db_tokadd *old = b->slots, *ns = calloc(ncap, sizeof(*ns));
	size_t ocap = b->cap;

	if (ns == NULL)
		return -ENOMEM;
	if (ocap == 0)
		b->seed = db_seed();
	b->slots = ns;
	b->cap = ncap;
	for (size_t i = 0; i < ocap; i++)
		if (old[i].uid != 0)
			b->slots[tokent_slot(b, old[i].uid, old[i].hash)] = old[i];
	free(old);
	return 0;
}

/* The entry of (uid, h), NULL when absent. */
static const db_tokadd *tokbuf_find(const struct db_tokbuf *b, int64_t uid,
    uint64_t h)
{
	const db_tokadd *e;

	if (b == NULL || b->n == 0)
		return NULL;
	e = &b->slots[tokent_slot(b, uid, h)];
	return e->uid != 0 ? e : NULL;
}

/* Add deltas to (uid, h); *old_day gets the entry's day before (or -1 if new). */
static int tokbuf_put(struct db_tokbuf *b, int64_t uid, uint64_t h,
    int64_t spam, int64_t innocent, int day, int *old_day)
{
	db_tokadd *e;

	if ((b->n + 1) * 100 > b->cap * (size_t)(b->fill ? b->fill : 50) &&
	    tokbuf_grow(b) < 0)
		return -ENOMEM;
	e = &b->slots[tokent_slot(b, uid, h)];
	if (e->uid == 0) {
		e->uid = uid;
		e->hash = h;
		e->day = day;
		b->n++;
		if (old_day)
			*old_day = -1;
	} else if (old_day) {
		*old_day = e->day;
	}
	e->spam += spam;
	e->innocent += innocent;
	if (day > e->day)
		e->day = day;
	return 0;
}

/* Rows of a bucket past which it is not insertion-sorted. */
#define BUCKET_SORT_MAX 64

/*
 * Sort rows by (uid, hash), hashes compared as the int64 the store keeps.
 * Training is almost always one user, and hashes are uniform (XXH3): one
 * counting pass over the top bits (about four rows per bucket), one
 * scatter, then an insertion sort of each small bucket. Three passes over
 * the rows instead of the sixteen of a byte-wise radix sort (an eighth of a
 * corpus flush). Several users, or few rows: qsort.
 */
static int cmp_uid(const void *a, const void *b)
{
	const db_tokadd *x = a, *y = b;

	if (x->uid != y->uid)
		return x->uid < y->uid ? -1 : 1;
	return (int64_t)x->hash < (int64_t)y->hash ? -1 :
	    (int64_t)x->hash > (int64_t)y->hash;
}

static int sort_rows(db_tokadd *r, size_t n)
{
	db_tokadd *tmp;
	size_t *start, nb;
	int bits = 8;

	if (n < 2)
		return 0;
	for (size_t i = 1; i < n; i++)
		if (r[i].uid != r[0].uid) {
			qsort(r, n, sizeof(*r), cmp_uid);
			return 0;
		}
	if (n < 2048) {
		qsort(r, n, sizeof(*r), cmp_uid);
		return 0;
	}
	while (bits < 20 && ((size_t)4 << (bits + 1)) <= n)
		bits++;
	nb = (size_t)1 << bits;
	/* Without memory for the buckets, the slower sort that needs none:
	 * the caller's table is already packed and cannot be taken back. */
	if ((tmp = big_alloc(n * sizeof(*tmp))) == NULL) {
		qsort(r, n, sizeof(*r), cmp_uid);
		return 0;
	}
	if ((start = calloc(nb + 1, sizeof(*start))) == NULL) {
		free(tmp);
		qsort(r, n, sizeof(*r), cmp_uid);
		return 0;
	}
#define BUCKET(h) ((size_t)(((h) ^ (1ULL << 63)) >> (64 - bits)))
	for (size_t i = 0; i < n; i++)
		start[BUCKET(r[i].hash) + 1]++;
	for (size_t k = 0; k < nb; k++)
		start[k + 1] += start[k];
	/* start[k] is bucket k's first row; it becomes its end as we fill. */
	for (size_t i = 0; i < n; i++)
		tmp[start[BUCKET(r[i].hash)]++] = r[i];
#undef BUCKET
	for (size_t k = 0, lo = 0; k < nb; lo = start[k++]) {
		/* A sender can pick words whose hashes share their top bits:
		 * a crowded bucket is sorted in n log n, not n squared. */
		if (start[k] - lo > BUCKET_SORT_MAX) {
			qsort(tmp + lo, start[k] - lo, sizeof(*tmp), cmp_uid);
			continue;
		}
		for (size_t i = lo + 1; i < start[k]; i++) {
			db_tokadd x = tmp[i];
			size_t j = i;

			for (; j > lo && (int64_t)tmp[j - 1].hash > (int64_t)x.hash; j--)
				tmp[j] = tmp[j - 1];
			tmp[j] = x;
		}
	}
	memcpy(r, tmp, n * sizeof(*r));
	free(start);
	free(tmp);
	return 0;
}

/*
 * Turn b into rows sorted by (uid, hash) in place (entries whose deltas
 * cancelled out are left out); *rows points into b, which must then be
 * emptied with tokbuf_free.
 */
static int tokbuf_rows(struct db_tokbuf *b, db_tokadd **rows, size_t *n)
{
	size_t k = 0;

	for (size_t i = 0; i < b->cap; i++)
		if (b->slots[i].uid != 0 &&
		    (b->slots[i].spam != 0 || b->slots[i].innocent != 0))
			b->slots[k++] = b->slots[i];
	*rows = b->slots;
	*n = k;
	return sort_rows(b->slots, k);
}

/*
 * ---- the change log of a backend transaction, for an attached cache ----
 * Every token change written in the open backend transaction, in order, so
 * that a committed transaction can update the cache instead of emptying it.
 */
#define CLOG_MAX 1048576        /* more changes: the cache is emptied instead */

struct db_cachelog {
	db_tokadd *rows;        /* changes (deltas may be negative) */
	size_t n, cap;          /* count and capacity */
	int overflow;           /* too many: empty the cache at commit */
};

static void clog_reset(db *d)
{
	if (d->clog != NULL) {
		d->clog->n = 0;
		d->clog->overflow = 0;
	}
}

static void clog_add(db *d, const db_tokadd *r)
{
	struct db_cachelog *l;

	if (d->cache == NULL)
		return;
	if ((l = d->clog) == NULL && (l = d->clog = calloc(1, sizeof(*l))) == NULL) {
		d->txn_clear = 1;       /* no log: empty the cache at commit */
		return;
	}
	if (l->overflow)
		return;
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 1024;
		db_tokadd *nr;

		if (ncap > CLOG_MAX || (nr = realloc(l->rows,
		    ncap * sizeof(*nr))) == NULL) {
			l->overflow = 1;
			return;
		}
		l->rows = nr;
		l->cap = ncap;
	}
	l->rows[l->n++] = *r;
}

/* ---- backend transactions (real ones, as opposed to deferred) ---- */

/* Open a backend transaction as the outermost level (d->in_txn = 1). */
static int txn_open(db *d)
{
	int rc = d->ops->begin(d);

	if (rc < 0)
		return rc;
	d->in_txn = 1;
	d->txn_virtual = 0;
	d->txn_failed = 0;
	d->txn_tokens = 0;
	d->txn_clear = 0;
	clog_reset(d);
	return 0;
}

/* Hand the transaction's combined increments to the backend. */
static int tokbuf_flush(db *d)
{
	struct db_tokbuf *b = d->tokbuf;
	db_tokadd *rows;
	size_t n;
	int rc;

	if (b == NULL || b->n == 0)
		return 0;
	if ((rc = tokbuf_rows(b, &rows, &n)) < 0) {
		tokbuf_drop(d);
		return db_seterr(d, rc, "update tokens: out of memory");
	}
	rc = n > 0 ? d->ops->tokens_add(d, rows, n) : 0;
	if (rc == 0 && n > 0) {
		d->txn_tokens = 1;
		for (size_t i = 0; i < n && d->cache != NULL; i++)
			clog_add(d, &rows[i]);
	}
	tokbuf_clear(d);
	return rc;
}

/*
 * Commit the outermost backend transaction: flush the combined increments,
 * raise the token generation when tokens changed, commit, and bring an
 * attached cache up to date. On failure everything is rolled back.
 */
static int txn_close(db *d)
{
	uint64_t gen = 0, step = 1 + ((db_seed() & 0xfffff) << 20), from;
	int rc = 0;

	if (d->txn_failed) {
		tokbuf_clear(d);
		d->in_txn = 0;
		d->ops->rollback(d);
		return db_seterr(d, -ECANCELED, "commit: an inner transaction "
		    "was rolled back, so the whole transaction was undone");
	}
	rc = tokbuf_flush(d);
	if (rc == 0 && d->txn_tokens)
		rc = d->ops->gen_bump(d, step, &gen);
	from = (gen - step) & DB_GEN_MASK;
	d->in_txn = 0;
	if (rc < 0) {
		d->ops->rollback(d);
		return rc;
	}
	/* Readers that see gen before the cache does bypass it meanwhile. */
	if (d->cache != NULL && d->txn_tokens)
		db_cache_precommit(d->cache, from, gen);
	if ((rc = d->ops->commit(d)) < 0) {
		if (d->cache != NULL && d->txn_tokens)
			db_cache_precommit(d->cache, 0, 0);
		return rc;
	}
	if (d->cache != NULL && d->txn_tokens) {
		struct db_cachelog *l = d->clog;
		int clear = d->txn_clear || l == NULL || l->overflow;

		db_cache_commit(d->cache, from, gen, clear ? NULL :
		    l->rows, clear ? 0 : l->n, clear);
	}
	clog_reset(d);
	return 0;
}

static void txn_abort(db *d)
{
	tokbuf_clear(d);
	d->in_txn = 0;
	d->ops->rollback(d);
	clog_reset(d);
}

/*
 * ---- deferred writes (db_defer) ----
 *
 * Increments and totals additions made outside a backend transaction are
 * kept in d->defer. A db_begin at the outermost level opens a deferred
 * transaction (d->txn_virtual): it takes no lock; its token increments go
 * straight into the deferred table with an undo record, its totals into
 * txn_tot, so a rollback can take them out again. Anything else that
 * writes converts it into a backend transaction (txn_make_real).
 */
typedef struct undo {
	int64_t uid;            /* owner */
	uint64_t hash;          /* token */
	int64_t spam;           /* spam delta added */
	int64_t innocent;       /* innocent delta added */
	int old_day;            /* the entry's day before, -1 if it was new */
	int day;                /* the day this change set */
} undo;

typedef struct pendtot {
	int64_t uid;            /* owner */
	db_totals t;            /* summed additions */
} pendtot;

struct db_defer {
	size_t max;             /* memory bound in bytes */
	struct db_tokbuf buf;   /* combined increments */
	pendtot *tot;           /* combined totals, per user */
	size_t ntot;            /* users in tot */
	undo *undo;             /* the deferred transaction's increments */
	size_t nundo, capundo;  /* count and capacity */
	pendtot *txn_tot;       /* the deferred transaction's totals */
	size_t ntxn_tot;        /* users in txn_tot */
};

static void defer_free(db *d)
{
	struct db_defer *f = d->defer;

	if (f == NULL)
		return;
	tokbuf_free(&f->buf);
	free(f->tot);
	free(f->undo);
	free(f->txn_tot);
	free(f);
	d->defer = NULL;
}

/*
 * The deferred table is allocated once at the largest power-of-two size
 * whose bytes, with the sort's copy of its rows at a flush (tokbuf_rows,
 * sort_rows), fit the bound (growing it rehashed everything, 11% of
 * training in a profile), and flushed when 70% full: a new key then probes
 * about six slots (0.5 * (1 + 1 / 0.3^2)), most in the same cache line.
 * At 45% full, the corpus half (474k distinct tokens) needed two flushes
 * under 128 MiB, and the second one merged into a table of the first's
 * rows. It grows only past DEFER_FILL (a deferred transaction, which
 * cannot flush, that adds more than the margin): at the tables' usual 50%
 * it doubled before its flush. Training the whole corpus (711k distinct
 * tokens, 128 MiB bound): peak RSS 89 MB, where the table of twice the
 * size, the copy and SQLite's cache took 130.
 */
#define DEFER_FILL 75

static size_t defer_cap(const struct db_defer *f)
{
	size_t cap = 1024;

	/* the doubled table and the sort's copy of 70% of it in the bound */
	while (cap * 2 * sizeof(db_tokadd) / 10 * 17 <= f->max)
		cap *= 2;
	return cap;
}

static int defer_full(const struct db_defer *f)
{
	return f->buf.n > defer_cap(f) / 10 * 7;
}

static size_t defer_bytes(const struct db_defer *f)
{
	if (f == NULL || (f->buf.n == 0 && f->ntot == 0))
		return 0;
	return f->buf.cap * sizeof(db_tokadd) + f->ntot * sizeof(pendtot) +
	    f->capundo * sizeof(undo) + 1;
}

/* a += sign * b, field by field (sign 1 or -1). */
static void totals_add_signed(db_totals *a, const db_totals *b, int sign)
{
	a->spam_learned += sign * b->spam_learned;
	a->innocent_learned += sign * b->innocent_learned;
	a->spam_misclassified += sign * b->spam_misclassified;
	a->innocent_misclassified += sign * b->innocent_misclassified;
	a->spam_corpusfed += sign * b->spam_corpusfed;
	a->innocent_corpusfed += sign * b->innocent_corpusfed;
	a->spam_classified += sign * b->spam_classified;
	a->innocent_classified += sign * b->innocent_classified;
	a->spam_inoculated += sign * b->spam_inoculated;
}

static void totals_sum(db_totals *a, const db_totals *b)
{
	totals_add_signed(a, b, 1);
}

static int totals_nonneg(const db_totals *t)
{
	return t->spam_learned >= 0 && t->innocent_learned >= 0 &&
	    t->spam_misclassified >= 0 && t->innocent_misclassified >= 0 &&
	    t->spam_corpusfed >= 0 && t->innocent_corpusfed >= 0 &&
	    t->spam_classified >= 0 && t->innocent_classified >= 0 &&
	    t->spam_inoculated >= 0;
}

/* Add delta to uid's entry of the list (*v, *n). */
static int pendtot_add(pendtot **v, size_t *n, int64_t uid,
    const db_totals *delta)
{
	pendtot *nv;

	for (size_t i = 0; i < *n; i++)
		if ((*v)[i].uid == uid) {
			totals_sum(&(*v)[i].t, delta);
			return 0;
		}
	if ((nv = realloc(*v, (*n + 1) * sizeof(**v))) == NULL)
		return -ENOMEM;
	*v = nv;
	memset(&nv[*n], 0, sizeof(nv[*n]));
	nv[*n].uid = uid;
	totals_sum(&nv[*n].t, delta);
	(*n)++;
	return 0;
}

/*
 * Write the deferred increments and totals in one transaction of their
 * own (not inside another). On failure they stay pending.
 */
static int defer_flush(db *d)
{
	struct db_defer *f = d->defer;
	db_tokadd *rows;
	size_t n;
	int rc;

	if (f == NULL || (f->buf.n == 0 && f->ntot == 0))
		return 0;
	if ((rc = txn_open(d)) < 0)
		return rc;
	/* Sorting in place leaves the hash table unusable: rebuilt on failure. */
	if ((rc = tokbuf_rows(&f->buf, &rows, &n)) < 0) {
		txn_abort(d);
		return db_seterr(d, rc, "flush: out of memory");
	}
	if (n > 0 && (rc = d->ops->tokens_add(d, rows, n)) == 0) {
		d->txn_tokens = 1;
		for (size_t i = 0; i < n && d->cache != NULL; i++)
			clog_add(d, &rows[i]);
	}
	for (size_t i = 0; i < f->ntot && rc == 0; i++)
		rc = d->ops->totals_add(d, f->tot[i].uid, &f->tot[i].t);
	if (rc == 0)
		rc = txn_close(d);
	else
		txn_abort(d);
	if (rc < 0) {
		/* Put the sorted rows back into a fresh table. */
		struct db_tokbuf nb = { .fill = DEFER_FILL };

		for (size_t i = 0; i < n; i++)
			if (tokbuf_put(&nb, rows[i].uid, rows[i].hash,
			    rows[i].spam, rows[i].innocent, rows[i].day,
			    NULL) < 0) {
				tokbuf_free(&nb);
				tokbuf_free(&f->buf);
				f->ntot = 0;
				return db_seterr(d, -ENOMEM, "flush: out of "
				    "memory: the deferred writes are lost");
			}
		tokbuf_free(&f->buf);
		f->buf = nb;
		return rc;
	}
	tokbuf_free(&f->buf);
	f->ntot = 0;
	return 0;
}

/* Take the deferred transaction's changes out again (rollback). */
static void defer_undo(db *d)
{
	struct db_defer *f = d->defer;

	for (size_t i = f->nundo; i-- > 0;) {
		const undo *u = &f->undo[i];
		db_tokadd *e;

		if (f->buf.n == 0)
			break;
		e = &f->buf.slots[tokent_slot(&f->buf, u->uid, u->hash)];
		if (e->uid == 0)
			continue;
		e->spam -= u->spam;
		e->innocent -= u->innocent;
		if (u->old_day >= 0)
			e->day = u->old_day;
	}
	f->nundo = 0;
	f->ntxn_tot = 0;
}

/*
 * Make the open deferred transaction a backend one: write what earlier
 * transactions deferred in a transaction of its own, then open the backend
 * transaction and move this transaction's own changes into it.
 */
static int txn_make_real(db *d)
{
	struct db_defer *f = d->defer;
	size_t nundo, ntt;
	undo *u;
	pendtot *tt;
	int depth = d->in_txn, failed = d->txn_failed, rc;

	if (!d->in_txn || !d->txn_virtual)
		return 0;
	/* Detach this transaction's changes. */
	u = f->undo;
	nundo = f->nundo;
	tt = f->txn_tot;
	ntt = f->ntxn_tot;
	defer_undo(d);
	f->undo = NULL;
	f->capundo = 0;
	f->txn_tot = NULL;
	d->in_txn = 0;
	d->txn_virtual = 0;
	rc = defer_flush(d);
	if (rc == 0)
		rc = txn_open(d);
	if (rc == 0) {
		d->in_txn = depth;
		d->txn_failed = failed;
		for (size_t i = 0; i < nundo && rc == 0; i++) {
			if (d->tokbuf == NULL &&
			    (d->tokbuf = calloc(1, sizeof(*d->tokbuf))) == NULL)
				rc = -ENOMEM;
			else
				rc = tokbuf_put(d->tokbuf, u[i].uid, u[i].hash,
				    u[i].spam, u[i].innocent, u[i].day, NULL);
		}
		if (rc == -ENOMEM)
			rc = db_seterr(d, rc, "begin transaction: out of memory");
		for (size_t i = 0; i < ntt && rc == 0; i++)
			rc = d->ops->totals_add(d, tt[i].uid, &tt[i].t);
		if (rc < 0)
			d->txn_failed = 1;
	} else {
		/* No transaction could be opened: the level stays, failed. */
		d->in_txn = depth;
		d->txn_virtual = 1;
		d->txn_failed = 1;
	}
	free(u);
	free(tt);
	return rc;
}

/*
 * Before an operation that must see or change the store itself: inside a
 * deferred transaction, make it a backend one; outside any transaction,
 * write what is deferred (only when flush_outside).
 */
static int need_store(db *d, int flush_outside)
{
	if (d->defer == NULL)
		return 0;
	if (d->in_txn)
		return d->txn_virtual ? txn_make_real(d) : 0;
	return flush_outside ? defer_flush(d) : 0;
}

/* Add positive deltas to the deferred table (a deferred transaction or none). */
static int defer_add(db *d, int64_t uid, const uint64_t *hashes, size_t n,
    int spam, int innocent, int day)
{
	struct db_defer *f = d->defer;
	int in_virtual = d->in_txn && d->txn_virtual;

	for (size_t i = 0; i < n; i++) {
		int old_day;

		if (!in_virtual && defer_full(f)) {
			int rc = defer_flush(d);

			if (rc < 0)
				return rc;
		}
		if (f->buf.cap == 0) {
			size_t cap = defer_cap(f);

			if ((f->buf.slots = big_zalloc(cap * sizeof(db_tokadd))) == NULL)
				return db_seterr(d, -ENOMEM, "update tokens: out of memory");
			f->buf.cap = cap;
			f->buf.fill = DEFER_FILL;
			f->buf.seed = db_seed();
		}
		if (in_virtual && f->nundo == f->capundo) {
			size_t ncap = f->capundo ? f->capundo * 2 : 1024;
			undo *nu = realloc(f->undo, ncap * sizeof(*nu));

			if (nu == NULL)
				return db_seterr(d, -ENOMEM, "update tokens: out of memory");
			f->undo = nu;
			f->capundo = ncap;
		}
		/* The table is far larger than the CPU caches: ask for the
		 * slot of a token a few ahead while this one is added. */
		if (i + 8 < n)
			__builtin_prefetch(&f->buf.slots[db_slot_mix(f->buf.seed,
			    uid, hashes[i + 8]) & (f->buf.cap - 1)]);
		if (tokbuf_put(&f->buf, uid, hashes[i], spam, innocent, day,
		    &old_day) < 0)
			return db_seterr(d, -ENOMEM, "update tokens: out of memory");
		if (in_virtual)
			f->undo[f->nundo++] = (undo){ uid, hashes[i], spam,
			    innocent, old_day, day };
	}
	if (!in_virtual && defer_full(f))
		return defer_flush(d);
	return 0;
}

/* Add the pending deltas of toks[0..n) (uid's) to their counts. */
static void defer_merge(const db *d, int64_t uid, db_token *toks, size_t n)
{
	const struct db_defer *f = d->defer;

	if (f == NULL || f->buf.n == 0)
		return;
	for (size_t i = 0; i < n; i++) {
		const db_tokadd *e = tokbuf_find(&f->buf, uid, toks[i].hash);

		if (e != NULL) {
			toks[i].spam_hits += e->spam;
			toks[i].innocent_hits += e->innocent;
		}
	}
}

/* Add positive deltas to the transaction's combined increments. */
static int tokbuf_add(db *d, int64_t uid, const uint64_t *hashes, size_t n,
    int spam_delta, int innocent_delta, int day)
{
	struct db_tokbuf *b = d->tokbuf;

	if (b == NULL) {
		b = d->tokbuf = calloc(1, sizeof(*b));
		if (b == NULL)
			return db_seterr(d, -ENOMEM, "update tokens: out of memory");
	}
	for (size_t i = 0; i < n; i++)
		if (tokbuf_put(b, uid, hashes[i], spam_delta, innocent_delta,
		    day, NULL) < 0)
			return db_seterr(d, -ENOMEM, "update tokens: out of memory");
	return b->n >= TOKBUF_MAX ? tokbuf_flush(d) : 0;
}

/*
 * ---- user ids already resolved ----
 * Users are never deleted or renamed, so a name's id, once known, is kept
 * per handle: classification asks for the same one or two users for every
 * message, each a statement (and a read transaction) saved.
 */
#define KNOWN_MAX 16

struct db_known {
	char *name[KNOWN_MAX];  /* user names (copies) */
	int64_t uid[KNOWN_MAX]; /* their ids */
	size_t n, next;         /* entries; next to replace when full */
};

static int64_t known_get(const db *d, const char *name)
{
	const struct db_known *k = d->known;

	for (size_t i = 0; k != NULL && i < k->n; i++)
		if (strcmp(k->name[i], name) == 0)
			return k->uid[i];
	return 0;
}

static void known_put(db *d, const char *name, int64_t uid)
{
	struct db_known *k = d->known;
	size_t i;
	char *copy;

	if (k == NULL && (k = d->known = calloc(1, sizeof(*k))) == NULL)
		return;
	if ((copy = strdup(name)) == NULL)
		return;
	if (k->n < KNOWN_MAX) {
		i = k->n++;
	} else {
		i = k->next++ % KNOWN_MAX;
		free(k->name[i]);
	}
	k->name[i] = copy;
	k->uid[i] = uid;
}

static void known_free(db *d)
{
	if (d->known == NULL)
		return;
	for (size_t i = 0; i < d->known->n; i++)
		free(d->known->name[i]);
	free(d->known);
	d->known = NULL;
}

/* ---- helpers shared with the backends ---- */

int db_base_init(db *d, const db_ops *ops, const char *name, int flags)
{
	d->ops = ops;
	d->flags = flags;
	d->in_txn = 0;
	d->txn_virtual = 0;
	d->tokbuf = NULL;
	d->defer = NULL;
	d->cache = NULL;
	d->clog = NULL;
	d->known = NULL;
	d->errmsg[0] = '\0';
	d->name = strdup(name);
	return d->name ? 0 : -ENOMEM;
}

void db_base_free(db *d)
{
	free(d->name);
	d->name = NULL;
}

int db_seterr(db *d, int err, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(d->errmsg, sizeof(d->errmsg), "%s: ",
	    d->name ? d->name : "?");
	if (n < 0 || (size_t)n >= sizeof(d->errmsg))
		return err;
	va_start(ap, fmt);
	vsnprintf(d->errmsg + n, sizeof(d->errmsg) - (size_t)n, fmt, ap);
	va_end(ap);
	return err;
}

db_sig *db_sig_alloc(const char *id, size_t nhashes)
{
	db_sig *sig;

	if (nhashes > (SIZE_MAX - sizeof(*sig)) / sizeof(uint64_t))
		return NULL;
	sig = calloc(1, sizeof(*sig) + nhashes * sizeof(uint64_t));
	if (!sig)
		return NULL;
	snprintf(sig->id, sizeof(sig->id), "%s", id);
	sig->hashes = (uint64_t *)(sig + 1);
	sig->nhashes = nhashes;
	return sig;
}

db_quar *db_quar_alloc(const db_quar *q, int with_data)
{
	const char *s[4];
	size_t l[4], total, dlen;
	db_quar *out;
	char *p;

	s[0] = q->sender ? q->sender : "";
	s[1] = q->recipients ? q->recipients : "";
	s[2] = q->subject ? q->subject : "";
	s[3] = q->signature ? q->signature : "";
	dlen = with_data ? q->len : 0;
	total = sizeof(*out) + dlen + 1;
	for (int i = 0; i < 4; i++) {
		l[i] = strlen(s[i]) + 1;
		total += l[i];
	}
	out = malloc(total);
	if (!out)
		return NULL;
	*out = *q;
	p = (char *)(out + 1);
	for (int i = 0; i < 4; i++) {
		memcpy(p, s[i], l[i]);
		s[i] = p;
		p += l[i];
	}
	out->sender = s[0];
	out->recipients = s[1];
	out->subject = s[2];
	out->signature = s[3];
	if (with_data) {
		if (dlen)
			memcpy(p, q->data, dlen);
		p[dlen] = '\0';
		out->data = p;
	} else {
		out->data = NULL;
	}
	return out;
}

int db_report(char **rep, const char *fmt, ...)
{
	va_list ap;
	size_t old;
	char *line, *n;
	int len;

	if (!rep)
		return 0;
	va_start(ap, fmt);
	len = vasprintf(&line, fmt, ap);
	va_end(ap);
	if (len < 0)
		return -ENOMEM;
	old = *rep ? strlen(*rep) : 0;
	n = realloc(*rep, old + (size_t)len + 2);
	if (!n) {
		free(line);
		return -ENOMEM;
	}
	memcpy(n + old, line, (size_t)len);
	n[old + (size_t)len] = '\n';
	n[old + (size_t)len + 1] = '\0';
	*rep = n;
	free(line);
	return 0;
}

int db_list_candidates(const char *address, char *buf, size_t len,
    const char **cand, size_t max, size_t *n)
{
	const char *domain, *p;
	size_t k = 0, dlen;

	*n = 0;
	domain = strrchr(address, '@');
	domain = domain ? domain + 1 : address;
	dlen = strlen(domain);
	if (len < dlen + 2 || max < 3)
		return -EINVAL;
	cand[k++] = address;
	if (domain != address && *domain)
		cand[k++] = domain;
	if (!*domain) {
		*n = k;
		return 0;
	}
	/* ".domain" is built; ".parent" for each parent domain is already a
	 * substring of the address, starting at a dot. */
	buf[0] = '.';
	memcpy(buf + 1, domain, dlen + 1);
	cand[k++] = buf;
	for (p = strchr(domain, '.'); p; p = strchr(p + 1, '.')) {
		if (k >= max)
			return -EINVAL;
		cand[k++] = p;
	}
	*n = k;
	return 0;
}

/* ---- dispatch ---- */

/* Common checks; they set the error text so callers always get one. */
#define CHECK_HANDLE(d) do { if (!(d)) return -EINVAL; (d)->errmsg[0] = '\0'; } while (0)
#define CHECK_ARG(d, cond, what) do { \
	if (!(cond)) return db_seterr((d), -EINVAL, "%s: invalid argument", (what)); \
} while (0)
/* Writes other than increments need the store: see need_store. */
#define NEED_STORE(d) do { \
	int rc_ = need_store((d), 0); \
	if (rc_ < 0) return rc_; \
} while (0)
#define CHECK_WRITE(d, what) do { \
	if ((d)->flags & DB_OPEN_READONLY) \
		return db_seterr((d), -EROFS, "%s: store opened read-only", (what)); \
	if ((d)->in_read) \
		return db_seterr((d), -EINVAL, "%s: not in a read snapshot", (what)); \
} while (0)

int db_open(const char *spec, int flags, db **out, char *err, size_t errlen)
{
	const db_ops *ops = backends[0];
	const char *path = spec;
	const char *colon;
	int rc;

	if (out)
		*out = NULL;
	if (errlen)
		err[0] = '\0';
	if (!spec || !out || (flags & ~(DB_OPEN_CREATE | DB_OPEN_READONLY |
	    DB_OPEN_BULK | DB_OPEN_OWN_CHECKPOINT | DB_OPEN_NO_TEMP_FILES))) {
		if (errlen)
			snprintf(err, errlen, "%s: invalid arguments to db_open",
			    spec ? spec : "(null)");
		return -EINVAL;
	}
	/* "name:rest" picks a backend only when name is a known backend, so
	 * a plain path that contains a colon still means SQLite. */
	colon = strchr(spec, ':');
	if (colon) {
		for (size_t i = 0; i < NBACKENDS; i++) {
			size_t l = strlen(backends[i]->name);

			if ((size_t)(colon - spec) == l &&
			    strncmp(spec, backends[i]->name, l) == 0) {
				ops = backends[i];
				path = colon + 1;
				break;
			}
		}
	}
	if (ops->version != DB_OPS_VERSION) {
		if (errlen)
			snprintf(err, errlen, "%s: backend %s has interface "
			    "version %d, expected %d", spec, ops->name,
			    ops->version, DB_OPS_VERSION);
		return -EPROTO;
	}
	if (*path == '\0' && ops != &db_mem_ops) {
		if (errlen)
			snprintf(err, errlen, "%s: empty file name", spec);
		return -EINVAL;
	}
	rc = ops->open(path, flags, out, err, errlen);
	if (rc < 0)
		*out = NULL;
	return rc;
}

void db_close(db *d)
{
	if (!d)
		return;
	tokbuf_drop(d);
	defer_free(d);
	if (d->clog != NULL) {
		free(d->clog->rows);
		free(d->clog);
		d->clog = NULL;
	}
	d->cache = NULL;
	known_free(d);
	(void)db_quar_unlock(d);
	d->ops->close(d);
}

const char *db_errmsg(const db *d)
{
	return d ? d->errmsg : "no store handle";
}

int db_busy_timeout(db *d, int ms)
{
	CHECK_HANDLE(d);
	CHECK_ARG(d, ms >= 0, "busy timeout");
	return d->ops->busy_timeout(d, ms);
}

int db_user(db *d, const char *name, int create, int64_t *uid)
{
	int rc;

	CHECK_HANDLE(d);
	CHECK_ARG(d, uid, "user");
	*uid = 0;
	CHECK_ARG(d, name && *name, "user");
	if ((*uid = known_get(d, name)) != 0)
		return 0;
	/* Only committed users are remembered (a transaction may roll back). */
	if ((rc = d->ops->user(d, name, 0, uid)) < 0)
		return rc;
	if (*uid != 0) {
		if (!db_backend_txn(d))
			known_put(d, name, *uid);
		return 0;
	}
	if (!create)
		return 0;
	CHECK_WRITE(d, "add user");
	if ((rc = need_store(d, 0)) < 0)
		return rc;
	return d->ops->user(d, name, create, uid);
}

static int count_quar(void *arg, const db_quar *q)
{
	(void)q;
	(*(int64_t *)arg)++;
	return 0;
}

int db_user_delete(db *d, int64_t uid, int quarantine, int64_t *nquar)
{
	int64_t dummy;
	int rc;

	CHECK_HANDLE(d);
	if (!nquar)
		nquar = &dummy;
	*nquar = 0;
	CHECK_ARG(d, uid > 0, "delete user");
	CHECK_WRITE(d, "delete user");
	if (d->in_txn)
		return db_seterr(d, -EINVAL, "delete user: not allowed inside "
		    "a transaction");
	/* Deferred increments reach the store first, or they come back. */
	if ((rc = need_store(d, 1)) < 0 || (rc = txn_open(d)) < 0)
		return rc;
	/* Counted in the transaction: no message is quarantined meanwhile. */
	rc = d->ops->quar_iter(d, uid, count_quar, nquar);
	if (rc == 0 && *nquar > 0 && !quarantine)
		rc = db_seterr(d, -ENOTEMPTY, "delete user: %" PRId64
		    " quarantined message%s", *nquar, *nquar == 1 ? "" : "s");
	if (rc == 0)
		rc = d->ops->user_delete(d, uid);
	if (rc < 0) {
		txn_abort(d);
		return rc;
	}
	/* A cache cannot tell which rows went: it is emptied. */
	d->txn_tokens = d->txn_clear = 1;
	return txn_close(d);
}

int db_user_iter(db *d, int (*fn)(void *arg, int64_t uid, const char *name),
    void *arg)
{
	CHECK_HANDLE(d);
	CHECK_ARG(d, fn, "list users");
	return d->ops->user_iter(d, fn, arg);
}

/*
 * Committed counts of toks[0..n) through the attached cache: hits are
 * served from it, misses fetched from the backend and added to it when no
 * token change was committed in between (the generation read before and
 * after the fetch is the same); when one was, all n are read again from
 * the backend, so the answer is one commit's counts.
 */
static int cached_get(db *d, int64_t uid, db_token *toks, size_t n)
{
	db_cache *c = d->cache;
	uint64_t g, g2;
	unsigned char *hit;
	db_token *miss;
	size_t nmiss, k;
	int rc, load;

	if ((rc = d->ops->gen_get(d, &g)) < 0)
		return rc;
	if ((hit = malloc(n)) == NULL)
		return db_seterr(d, -ENOMEM, "read tokens: out of memory");
	nmiss = db_cache_lookup(c, g, uid, toks, n, hit, &load);
	if (load && nmiss > 0) {
		/* Read all of uid's model into the cache when it is worth it. */
		if ((rc = db_cache_load(c, d, uid, g)) < 0)
			goto out;
		nmiss = db_cache_lookup(c, g, uid, toks, n, hit, &load);
	}
	if (nmiss == 0) {
		rc = 0;
		goto out;
	}
	if ((miss = malloc(nmiss * sizeof(*miss))) == NULL) {
		rc = db_seterr(d, -ENOMEM, "read tokens: out of memory");
		goto out;
	}
	for (size_t i = 0, j = 0; i < n; i++)
		if (!hit[i])
			miss[j++].hash = toks[i].hash;
	rc = d->ops->tokens_get(d, uid, miss, nmiss);
	if (rc == 0)
		rc = d->ops->gen_get(d, &g2);
	if (rc == 0 && g2 == g) {
		k = 0;
		for (size_t i = 0; i < n; i++)
			if (!hit[i])
				toks[i] = miss[k++];
		db_cache_fill(c, g, uid, miss, nmiss);
	} else if (rc == 0) {
		/* A commit between the hits and the misses: read all of them
		 * again, in one snapshot, not half of each. */
		rc = d->ops->tokens_get(d, uid, toks, n);
	}
	free(miss);
out:
	free(hit);
	return rc;
}

int db_tokens_get(db *d, int64_t uid, db_token *toks, size_t n)
{
	int rc;

	CHECK_HANDLE(d);
	CHECK_ARG(d, uid > 0 && (toks || n == 0), "read tokens");
	if (n == 0)
		return 0;
	if (db_backend_txn(d)) {
		/* The transaction's own changes: only the backend sees them. */
		if ((rc = tokbuf_flush(d)) < 0)
			return rc;
		return d->ops->tokens_get(d, uid, toks, n);
	}
	if (d->cache != NULL)
		rc = cached_get(d, uid, toks, n);
	else
		rc = d->ops->tokens_get(d, uid, toks, n);
	if (rc == 0)
		defer_merge(d, uid, toks, n);
	return rc;
}

/* Run a backend token write in its own transaction (no db_begin open). */
static int own_txn(db *d, int rc_begin)
{
	return rc_begin < 0 ? rc_begin : txn_close(d);
}

int db_tokens_update(db *d, int64_t uid, const uint64_t *hashes, size_t n,
    int spam_delta, int innocent_delta, int day)
{
	int rc, own = 0;

	CHECK_HANDLE(d);
	CHECK_ARG(d, uid > 0 && (hashes || n == 0), "update tokens");
	CHECK_WRITE(d, "update tokens");
	if (n == 0)
		return 0;
	if (spam_delta >= 0 && innocent_delta >= 0 &&
	    (spam_delta > 0 || innocent_delta > 0)) {
		if (d->defer != NULL && (!d->in_txn || d->txn_virtual))
			return defer_add(d, uid, hashes, n, spam_delta,
			    innocent_delta, day);
		if (d->in_txn)
			return tokbuf_add(d, uid, hashes, n, spam_delta,
			    innocent_delta, day);
	}
	/* A decrement clamps at 0: it must see every increment before it. */
	if ((rc = need_store(d, 1)) < 0)
		return rc;
	if (!d->in_txn) {
		if ((rc = txn_open(d)) < 0)
			return rc;
		own = 1;
	}
	if ((rc = tokbuf_flush(d)) == 0)
		rc = d->ops->tokens_update(d, uid, hashes, n, spam_delta,
		    innocent_delta, day);
	if (rc == 0) {
		d->txn_tokens = 1;
		for (size_t i = 0; i < n && d->cache != NULL; i++)
			clog_add(d, &(db_tokadd){ uid, hashes[i], spam_delta,
			    innocent_delta, day });
	}
	if (!own)
		return rc;
	if (rc < 0) {
		txn_abort(d);
		return rc;
	}
	return own_txn(d, 0);
}

int db_totals_get(db *d, int64_t uid, db_totals *out)
{
	int rc;

	CHECK_HANDLE(d);
	CHECK_ARG(d, out, "read totals");
	memset(out, 0, sizeof(*out));
	CHECK_ARG(d, uid > 0, "read totals");
	rc = d->ops->totals_get(d, uid, out);
	if (rc == 0 && d->defer != NULL) {
		const struct db_defer *f = d->defer;

		for (size_t i = 0; i < f->ntot; i++)
			if (f->tot[i].uid == uid)
				totals_sum(out, &f->tot[i].t);
		for (size_t i = 0; i < f->ntxn_tot; i++)
			if (f->txn_tot[i].uid == uid)
				totals_sum(out, &f->txn_tot[i].t);
	}
	return rc;
}

int db_totals_add(db *d, int64_t uid, const db_totals *delta)
{
	int rc;

	CHECK_HANDLE(d);
	CHECK_ARG(d, uid > 0 && delta, "update totals");
	CHECK_WRITE(d, "update totals");
	if (d->defer != NULL && totals_nonneg(delta)) {
		struct db_defer *f = d->defer;

		if (d->in_txn && d->txn_virtual)
			rc = pendtot_add(&f->txn_tot, &f->ntxn_tot, uid, delta);
		else if (!d->in_txn)
			rc = pendtot_add(&f->tot, &f->ntot, uid, delta);
		else
			return d->ops->totals_add(d, uid, delta);
		return rc < 0 ? db_seterr(d, rc, "update totals: out of memory")
		    : 0;
	}
	/* Clamping at 0 must see the deferred additions first. */
	if ((rc = need_store(d, 1)) < 0)
		return rc;
	return d->ops->totals_add(d, uid, delta);
}

int db_begin(db *d)
{
	CHECK_HANDLE(d);
	CHECK_WRITE(d, "begin transaction");
	/* Nested: only the outermost level talks to the backend. */
	if (d->in_txn) {
		d->in_txn++;
		return 0;
	}
	if (d->defer != NULL) {
		/* Deferred: no lock is taken until something needs the store. */
		d->in_txn = 1;
		d->txn_virtual = 1;
		d->txn_failed = 0;
		d->defer->nundo = 0;
		d->defer->ntxn_tot = 0;
		return 0;
	}
	return txn_open(d);
}

int db_commit(db *d)
{
	struct db_defer *f = d ? d->defer : NULL;

	CHECK_HANDLE(d);
	if (!d->in_txn)
		return db_seterr(d, -EINVAL, "commit: no transaction is open");
	if (d->in_txn > 1) {
		d->in_txn--;
		return 0;
	}
	if (!d->txn_virtual)
		return txn_close(d);
	d->in_txn = 0;
	d->txn_virtual = 0;
	if (d->txn_failed) {
		defer_undo(d);
		return db_seterr(d, -ECANCELED, "commit: an inner transaction "
		    "was rolled back, so the whole transaction was undone");
	}
	/* The transaction's changes join the deferred ones. */
	for (size_t i = 0; i < f->ntxn_tot; i++)
		if (pendtot_add(&f->tot, &f->ntot, f->txn_tot[i].uid,
		    &f->txn_tot[i].t) < 0) {
			f->nundo = 0;
			f->ntxn_tot = 0;
			return db_seterr(d, -ENOMEM, "commit: out of memory");
		}
	if (defer_full(f)) {
		int rc = defer_flush(d);

		if (rc < 0) {
			/*
			 * Not written, so not committed: take this
			 * transaction back out (it stayed pending, and a
			 * later flush wrote a message its caller had been
			 * told was not learned). What came before stays
			 * pending for the next flush.
			 */
			for (size_t i = 0; i < f->ntxn_tot; i++)
				for (size_t j = 0; j < f->ntot; j++)
					if (f->tot[j].uid == f->txn_tot[i].uid)
						totals_add_signed(&f->tot[j].t,
						    &f->txn_tot[i].t, -1);
			defer_undo(d);
			return rc;
		}
	}
	f->nundo = 0;
	f->ntxn_tot = 0;
	return 0;
}

int db_read_begin(db *d)
{
	int rc;

	CHECK_HANDLE(d);
	if (d->in_txn || d->in_read)
		return db_seterr(d, -EINVAL, "read snapshot: a transaction "
		    "or snapshot is open");
	if (d->ops->read_begin != NULL && (rc = d->ops->read_begin(d)) < 0)
		return rc;
	d->in_read = 1;
	return 0;
}

int db_read_end(db *d)
{
	CHECK_HANDLE(d);
	if (!d->in_read)
		return 0;
	d->in_read = 0;
	return d->ops->read_end != NULL ? d->ops->read_end(d) : 0;
}

static int rollback_txn(db *d)
{
	CHECK_HANDLE(d);
	if (!d->in_txn)
		return db_seterr(d, -EINVAL, "rollback: no transaction is open");
	if (--d->in_txn > 0) {
		/* The outermost commit will undo everything. */
		d->txn_failed = 1;
		return 0;
	}
	if (d->txn_virtual) {
		d->txn_virtual = 0;
		defer_undo(d);
		return 0;
	}
	tokbuf_clear(d);
	clog_reset(d);
	return d->ops->rollback(d);
}

int db_rollback(db *d)
{
	char why[DB_ERRMSG_SIZE];
	int rc;

	if (d == NULL)
		return -EINVAL;
	/*
	 * A rollback follows an error, which the caller reports after it
	 * (db_errmsg): keep that error's text, unless the rollback fails too.
	 * Cleared, `whitelist add` on a read-only store said only
	 * "spamsift: whitelist: ".
	 */
	memcpy(why, d->errmsg, sizeof(why));
	if ((rc = rollback_txn(d)) == 0)
		memcpy(d->errmsg, why, sizeof(why));
	return rc;
}

int db_defer(db *d, size_t max_bytes)
{
	int rc;

	CHECK_HANDLE(d);
	if (d->in_txn)
		return db_seterr(d, -EINVAL, "defer writes: not allowed inside "
		    "a transaction");
	if (max_bytes == 0) {
		if ((rc = defer_flush(d)) < 0)
			return rc;
		defer_free(d);
		return 0;
	}
	CHECK_WRITE(d, "defer writes");
	if (d->defer == NULL && (d->defer = calloc(1, sizeof(*d->defer))) == NULL)
		return db_seterr(d, -ENOMEM, "defer writes: out of memory");
	d->defer->max = max_bytes;
	return 0;
}

int db_flush(db *d)
{
	CHECK_HANDLE(d);
	if (d->in_txn)
		return db_seterr(d, -EINVAL, "flush: not allowed inside a "
		    "transaction");
	return defer_flush(d);
}

size_t db_pending(const db *d)
{
	return d ? defer_bytes(d->defer) : 0;
}

int db_cache_prefetch(db *d, int64_t uid)
{
	uint64_t g;
	int rc;

	CHECK_HANDLE(d);
	CHECK_ARG(d, uid > 0 && d->cache != NULL, "prefetch tokens");
	if (d->in_txn)
		return db_seterr(d, -EINVAL, "prefetch tokens: not allowed "
		    "inside a transaction");
	if ((rc = d->ops->gen_get(d, &g)) < 0)
		return rc;
	return db_cache_load(d->cache, d, uid, g);
}

int db_cache_attach(db *d, db_cache *c)
{
	CHECK_HANDLE(d);
	if (d->in_txn)
		return db_seterr(d, -EINVAL, "attach cache: not allowed inside "
		    "a transaction");
	d->cache = c;
	return 0;
}

int db_sig_put(db *d, const db_sig *sig)
{
	size_t l;

	CHECK_HANDLE(d);
	CHECK_ARG(d, sig, "store signature");
	l = strnlen(sig->id, sizeof(sig->id));
	CHECK_ARG(d, sig->uid > 0 && l > 0 && l < sizeof(sig->id) &&
	    (sig->cls == DB_CLASS_SPAM || sig->cls == DB_CLASS_INNOCENT) &&
	    (sig->hashes || sig->nhashes == 0), "store signature");
	CHECK_WRITE(d, "store signature");
	NEED_STORE(d);
	return d->ops->sig_put(d, sig);
}

int db_sig_get(db *d, int64_t uid, const char *id, db_sig **out)
{
	int rc;

	CHECK_HANDLE(d);
	CHECK_ARG(d, out, "read signature");
	*out = NULL;
	CHECK_ARG(d, uid > 0 && id, "read signature");
	if (!*id || strlen(id) >= sizeof(((db_sig *)0)->id))
		return 0;       /* cannot exist */
	rc = d->ops->sig_get(d, uid, id, out);
	if (rc < 0 || *out == NULL || d->defer == NULL || !d->in_txn ||
	    !d->txn_virtual)
		return rc;
	/*
	 * Found inside a deferred transaction: it was read to be changed (a
	 * retrain), and no lock is held yet. Take the write lock and read it
	 * again, or another process could retrain it between this read and
	 * our write, and both would reverse the same learning (`train` by
	 * signature). Not for one that is not there: `train` of old signed
	 * mail would flush what it defers at every message.
	 */
	db_sig_free(*out);
	*out = NULL;
	NEED_STORE(d);
	return d->ops->sig_get(d, uid, id, out);
}

int db_sig_update(db *d, int64_t uid, const char *id, int cls, int learned)
{
	CHECK_HANDLE(d);
	CHECK_ARG(d, uid > 0 && id &&
	    (cls == DB_CLASS_SPAM || cls == DB_CLASS_INNOCENT),
	    "update signature");
	CHECK_WRITE(d, "update signature");
	NEED_STORE(d);
	return d->ops->sig_update(d, uid, id, cls, learned);
}

void db_sig_free(db_sig *sig)
{
	free(sig);
}

/*
 * Outside a caller's transaction an expiry or a purge goes in steps, each
 * its own short transaction, so that the milter's writer and the commands
 * get the store in between: a step deletes at most STEP_ROWS signatures or
 * quarantined messages, or examines STEP_TOKENS tokens or senders (about
 * 0.1 s for tokens on the
 * development machine; the whole purge of a 15-million-token store held
 * the lock for 7 s in one transaction).
 */
#define STEP_ROWS 1000
#define STEP_TOKENS 200000
/*
 * Between steps: a writer waiting in SQLite's busy handler tries again
 * every 100 ms once it has waited a while; a step that began at once
 * after the last would take the lock before it, step after step.
 */
#define STEP_PAUSE_MS 100

static void step_pause(void)
{
	struct timespec ts = { 0, STEP_PAUSE_MS * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

typedef int (*expire_fn)(db *, int64_t, time_t, int64_t, int64_t *);

static int expire_steps(db *d, expire_fn fn, int64_t uid, time_t before,
    int64_t *n)
{
	int64_t k;
	int rc;

	if (d->in_txn)
		return fn(d, uid, before, 0, n);
	for (;;) {
		k = 0;
		if ((rc = fn(d, uid, before, STEP_ROWS, &k)) < 0)
			return rc;
		*n += k;
		if (k < STEP_ROWS)
			return 0;
		step_pause();
	}
}

int db_sig_expire(db *d, time_t before, int64_t *n)
{
	int64_t dummy;

	CHECK_HANDLE(d);
	CHECK_WRITE(d, "expire signatures");
	NEED_STORE(d);
	if (!n)
		n = &dummy;
	*n = 0;
	return expire_steps(d, d->ops->sig_expire, 0, before, n);
}

#define KIND_OK(k) ((k) == DB_LIST_WHITE || (k) == DB_LIST_BLOCK)

int db_list_add(db *d, int64_t uid, int kind, const db_list_entry *e)
{
	CHECK_HANDLE(d);
	CHECK_ARG(d, uid > 0 && KIND_OK(kind) && e && e->pattern &&
	    *e->pattern, "add list entry");
	CHECK_WRITE(d, "add list entry");
	NEED_STORE(d);
	return d->ops->list_add(d, uid, kind, e);
}

int db_list_del(db *d, int64_t uid, int kind, const char *pattern, int *found)
{
	int dummy;

	CHECK_HANDLE(d);
	if (!found)
		found = &dummy;
	*found = 0;
	CHECK_ARG(d, uid > 0 && KIND_OK(kind) && pattern, "delete list entry");
	CHECK_WRITE(d, "delete list entry");
	NEED_STORE(d);
	return d->ops->list_del(d, uid, kind, pattern, found);
}

int db_list_match(db *d, int64_t uid, int kind, const char *address,
    int *matched)
{
	CHECK_HANDLE(d);
	CHECK_ARG(d, matched, "match list");
	*matched = 0;
	CHECK_ARG(d, uid > 0 && KIND_OK(kind) && address, "match list");
	if (!*address)
		return 0;
	return d->ops->list_match(d, uid, kind, address, matched);
}

int db_list_iter(db *d, int64_t uid, int kind,
    int (*fn)(void *arg, const db_list_entry *e), void *arg)
{
	CHECK_HANDLE(d);
	CHECK_ARG(d, uid > 0 && KIND_OK(kind) && fn, "list entries");
	return d->ops->list_iter(d, uid, kind, fn, arg);
}

int db_sender_add(db *d, int64_t uid, const char *sender, int innocent_delta,
    int spam_delta, int day, db_sender *out)
{
	db_sender dummy;

	CHECK_HANDLE(d);
	if (!out)
		out = &dummy;
	memset(out, 0, sizeof(*out));
	CHECK_ARG(d, uid > 0 && sender && *sender, "update sender");
	CHECK_WRITE(d, "update sender");
	NEED_STORE(d);
	return d->ops->sender_add(d, uid, sender, innocent_delta, spam_delta,
	    day, out);
}

int db_pref_get(db *d, int64_t uid, const char *key, char *buf, size_t len,
    int *found)
{
	CHECK_HANDLE(d);
	CHECK_ARG(d, found, "read preference");
	*found = 0;
	CHECK_ARG(d, uid > 0 && key && *key && buf && len > 0,
	    "read preference");
	buf[0] = '\0';
	return d->ops->pref_get(d, uid, key, buf, len, found);
}

int db_pref_set(db *d, int64_t uid, const char *key, const char *value)
{
	CHECK_HANDLE(d);
	CHECK_ARG(d, uid > 0 && key && *key && value, "set preference");
	CHECK_WRITE(d, "set preference");
	NEED_STORE(d);
	return d->ops->pref_set(d, uid, key, value);
}

int db_pref_unset(db *d, int64_t uid, const char *key, int *found)
{
	int dummy;

	CHECK_HANDLE(d);
	if (!found)
		found = &dummy;
	*found = 0;
	CHECK_ARG(d, uid > 0 && key && *key, "unset preference");
	CHECK_WRITE(d, "unset preference");
	NEED_STORE(d);
	return d->ops->pref_unset(d, uid, key, found);
}

int db_tokens_iter(db *d, int64_t uid,
    int (*fn)(void *arg, const db_token *t), void *arg)
{
	int rc;

	CHECK_HANDLE(d);
	CHECK_ARG(d, uid > 0 && fn, "list tokens");
	if ((rc = need_store(d, 1)) < 0 || (rc = tokbuf_flush(d)) < 0)
		return rc;
	return d->ops->tokens_iter(d, uid, fn, arg);
}

int db_pref_iter(db *d, int64_t uid,
    int (*fn)(void *arg, const char *key, const char *value), void *arg)
{
	CHECK_HANDLE(d);
	CHECK_ARG(d, uid > 0 && fn, "list preferences");
	return d->ops->pref_iter(d, uid, fn, arg);
}

int db_quar_put(db *d, const db_quar *q, int64_t *id)
{
	int64_t dummy;

	CHECK_HANDLE(d);
	if (!id)
		id = &dummy;
	*id = 0;
	CHECK_ARG(d, q && q->uid > 0 && (q->data || q->len == 0),
	    "quarantine message");
	CHECK_WRITE(d, "quarantine message");
	if (d->in_txn)
		return db_seterr(d, -EINVAL, "quarantine message: not allowed "
		    "inside a transaction");
	return d->ops->quar_put(d, q, id);
}

int db_quar_iter(db *d, int64_t uid,
    int (*fn)(void *arg, const db_quar *q), void *arg)
{
	CHECK_HANDLE(d);
	CHECK_ARG(d, uid > 0 && fn, "list quarantine");
	return d->ops->quar_iter(d, uid, fn, arg);
}

int db_quar_get(db *d, int64_t uid, int64_t id, db_quar **out)
{
	CHECK_HANDLE(d);
	CHECK_ARG(d, out, "read quarantined message");
	*out = NULL;
	CHECK_ARG(d, uid > 0, "read quarantined message");
	return d->ops->quar_get(d, uid, id, out);
}

void db_quar_free(db_quar *q)
{
	free(q);
}

int db_quar_del(db *d, int64_t uid, int64_t id, int *found)
{
	int dummy;

	CHECK_HANDLE(d);
	if (!found)
		found = &dummy;
	*found = 0;
	CHECK_ARG(d, uid > 0, "delete quarantined message");
	CHECK_WRITE(d, "delete quarantined message");
	NEED_STORE(d);
	return d->ops->quar_del(d, uid, id, found);
}

int db_quar_lock(db *d)
{
	int rc;

	CHECK_HANDLE(d);
	CHECK_WRITE(d, "lock the quarantine");
	if (d->in_txn || d->quar_locked)
		return db_seterr(d, -EINVAL, "lock the quarantine: %s",
		    d->in_txn ? "not allowed inside a transaction" :
		    "already held");
	if (d->ops->quar_lock != NULL &&
	    (rc = d->ops->quar_lock(d, 1)) < 0)
		return rc;
	d->quar_locked = 1;
	return 0;
}

int db_quar_unlock(db *d)
{
	/* (not CHECK_HANDLE: the error text stays, as after db_rollback) */
	if (!d)
		return -EINVAL;
	if (!d->quar_locked)
		return 0;
	d->quar_locked = 0;
	return d->ops->quar_lock != NULL ? d->ops->quar_lock(d, 0) : 0;
}

int db_quar_expire(db *d, int64_t uid, time_t before, int64_t *n)
{
	int64_t dummy;

	CHECK_HANDLE(d);
	if (!n)
		n = &dummy;
	*n = 0;
	CHECK_WRITE(d, "expire quarantine");
	NEED_STORE(d);
	if (uid < 0)
		return db_seterr(d, -EINVAL, "expire quarantine: bad user id");
	return expire_steps(d, d->ops->quar_expire, uid, before, n);
}

int db_purge(db *d, int day, int64_t max_hits, int64_t *n)
{
	db_purge_pos pos = { 0 };
	int64_t dummy, k;
	int rc;

	CHECK_HANDLE(d);
	if (!n)
		n = &dummy;
	*n = 0;
	CHECK_ARG(d, max_hits >= 0, "purge tokens");
	CHECK_WRITE(d, "purge tokens");
	if ((rc = need_store(d, 1)) < 0)
		return rc;
	if (d->in_txn) {
		if ((rc = tokbuf_flush(d)) < 0 ||
		    (rc = d->ops->purge(d, day, max_hits, &pos, 0, n)) < 0)
			return rc;
		/* A cache cannot tell which rows went: it is emptied. */
		if (*n > 0)
			d->txn_tokens = d->txn_clear = 1;
		return 0;
	}
	for (;;) {
		k = 0;
		if ((rc = txn_open(d)) < 0)
			return rc;
		if ((rc = d->ops->purge(d, day, max_hits, &pos, STEP_TOKENS,
		    &k)) < 0) {
			txn_abort(d);
			return rc;
		}
		if (k > 0)
			d->txn_tokens = d->txn_clear = 1;
		if ((rc = txn_close(d)) < 0)
			return rc;
		*n += k;
		if (pos.end)
			return 0;
		step_pause();
	}
}

int db_sender_purge(db *d, int day, int64_t max_hits, int64_t *n)
{
	db_purge_pos pos = { 0 };
	int64_t dummy, k;
	int rc;

	CHECK_HANDLE(d);
	if (!n)
		n = &dummy;
	*n = 0;
	CHECK_ARG(d, max_hits >= 0, "purge senders");
	CHECK_WRITE(d, "purge senders");
	NEED_STORE(d);
	if (d->in_txn)
		return d->ops->sender_purge(d, day, max_hits, &pos, 0, n);
	for (;;) {
		k = 0;
		if ((rc = d->ops->sender_purge(d, day, max_hits, &pos,
		    STEP_TOKENS, &k)) < 0)
			return rc;
		*n += k;
		if (pos.end)
			return 0;
		step_pause();
	}
}

int db_checkpoint(db *d)
{
	CHECK_HANDLE(d);
	if (d->in_txn)
		return db_seterr(d, -EINVAL,
		    "checkpoint: not allowed inside a transaction");
	return d->ops->checkpoint != NULL ? d->ops->checkpoint(d) : 0;
}

int db_vacuum(db *d)
{
	int rc;

	CHECK_HANDLE(d);
	CHECK_WRITE(d, "vacuum");
	if (d->in_txn)
		return db_seterr(d, -EINVAL,
		    "vacuum: not allowed inside a transaction");
	if ((rc = defer_flush(d)) < 0)
		return rc;
	return d->ops->vacuum(d);
}

int db_check(db *d, int *ok, char **report)
{
	int rc;

	CHECK_HANDLE(d);
	CHECK_ARG(d, ok, "check");
	*ok = 0;
	if (report)
		*report = NULL;
	if ((rc = need_store(d, 1)) < 0 || (rc = tokbuf_flush(d)) < 0)
		return rc;
	rc = d->ops->check(d, ok, report);
	if (rc < 0 && report) {
		free(*report);
		*report = NULL;
	}
	return rc;
}
