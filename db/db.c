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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "db/db.h"
#include "db/db_impl.h"

/* Backends by spec prefix; the first is the default for a plain path. */
static const db_ops *const backends[] = {
	&db_sqlite_ops,
	&db_mem_ops,
};

#define NBACKENDS (sizeof(backends) / sizeof(backends[0]))

/*
 * ---- token increments combined inside a transaction ----
 *
 * Training many messages in one transaction adds +1 to the same tokens
 * again and again. Positive deltas commute, so inside a transaction they are
 * summed here per (user, token) and handed to the backend once, grouped by
 * delta, when something needs them: before any token read, before a
 * negative update (clamping at 0 must see the real count), and at commit.
 * Rollback drops them. Measured on the SpamAssassin corpus this cuts the
 * backend's upserts by the share of repeated tokens (most of them).
 */

/* Entries combined before a flush is forced (memory bound, ~32 B each). */
#define TOKBUF_MAX 262144

typedef struct tokent {
	int64_t uid;            /* owner */
	uint64_t hash;          /* token */
	int64_t spam;           /* summed spam delta */
	int64_t innocent;       /* summed innocent delta */
	int day;                /* latest last-hit day */
	int used;               /* slot in use */
} tokent;

struct db_tokbuf {
	tokent *slots;          /* open addressing, power-of-two size */
	size_t cap;             /* number of slots */
	size_t n;               /* entries in use */
};

static void tokbuf_drop(db *d)
{
	if (d->tokbuf == NULL)
		return;
	free(d->tokbuf->slots);
	free(d->tokbuf);
	d->tokbuf = NULL;
}

static size_t tokent_slot(const struct db_tokbuf *b, int64_t uid, uint64_t h)
{
	uint64_t x = h ^ ((uint64_t)uid * 0x9E3779B97F4A7C15ULL);
	size_t i;

	x ^= x >> 31;
	for (i = (size_t)x & (b->cap - 1); b->slots[i].used &&
	    (b->slots[i].uid != uid || b->slots[i].hash != h);
	    i = (i + 1) & (b->cap - 1))
		;
	return i;
}

static int tokbuf_grow(struct db_tokbuf *b)
{
	size_t ncap = b->cap ? b->cap * 2 : 4096;
	tokent *old = b->slots, *ns = calloc(ncap, sizeof(*ns));
	size_t ocap = b->cap;

	if (ns == NULL)
		return -ENOMEM;
	b->slots = ns;
	b->cap = ncap;
	for (size_t i = 0; i < ocap; i++)
		if (old[i].used)
			b->slots[tokent_slot(b, old[i].uid, old[i].hash)] = old[i];
	free(old);
	return 0;
}

static int cmp_tokent(const void *a, const void *b)
{
	const tokent *x = a, *y = b;

	if (x->uid != y->uid)
		return x->uid < y->uid ? -1 : 1;
	if (x->spam != y->spam)
		return x->spam < y->spam ? -1 : 1;
	if (x->innocent != y->innocent)
		return x->innocent < y->innocent ? -1 : 1;
	if (x->day != y->day)
		return x->day < y->day ? -1 : 1;
	return x->hash < y->hash ? -1 : x->hash > y->hash;
}

/* Hand the combined increments to the backend, one call per delta group. */
static int tokbuf_flush(db *d)
{
	struct db_tokbuf *b = d->tokbuf;
	uint64_t *hashes;
	size_t k = 0, start;
	int rc = 0;

	if (b == NULL || b->n == 0)
		return 0;
	/* Compact the used slots to the front, then group them. */
	for (size_t i = 0; i < b->cap; i++)
		if (b->slots[i].used)
			b->slots[k++] = b->slots[i];
	qsort(b->slots, k, sizeof(*b->slots), cmp_tokent);
	hashes = malloc(k * sizeof(*hashes));
	if (hashes == NULL) {
		tokbuf_drop(d);
		return db_seterr(d, -ENOMEM, "update tokens: out of memory");
	}
	for (start = 0; start < k && rc == 0;) {
		const tokent *g = &b->slots[start];
		size_t end = start, n = 0;

		while (end < k && b->slots[end].uid == g->uid &&
		    b->slots[end].spam == g->spam &&
		    b->slots[end].innocent == g->innocent &&
		    b->slots[end].day == g->day)
			hashes[n++] = b->slots[end++].hash;
		/* Deltas above INT_MAX cannot happen below TOKBUF_MAX messages. */
		rc = d->ops->tokens_update(d, g->uid, hashes, n, (int)g->spam,
		    (int)g->innocent, g->day);
		start = end;
	}
	free(hashes);
	tokbuf_drop(d);
	return rc;
}

/* Add positive deltas for hashes[0..n) to the buffer. */
static int tokbuf_add(db *d, int64_t uid, const uint64_t *hashes, size_t n,
    int spam_delta, int innocent_delta, int day)
{
	struct db_tokbuf *b = d->tokbuf;

	if (b == NULL) {
		b = d->tokbuf = calloc(1, sizeof(*b));
		if (b == NULL)
			return db_seterr(d, -ENOMEM, "update tokens: out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		tokent *e;

		if ((b->n + 1) * 2 > b->cap && tokbuf_grow(b) < 0)
			return db_seterr(d, -ENOMEM, "update tokens: out of memory");
		e = &b->slots[tokent_slot(b, uid, hashes[i])];
		if (!e->used) {
			e->used = 1;
			e->uid = uid;
			e->hash = hashes[i];
			e->day = day;
			b->n++;
		}
		e->spam += spam_delta;
		e->innocent += innocent_delta;
		if (day > e->day)
			e->day = day;
	}
	return b->n >= TOKBUF_MAX ? tokbuf_flush(d) : 0;
}

/* ---- helpers shared with the backends ---- */

int db_base_init(db *d, const db_ops *ops, const char *name, int flags)
{
	d->ops = ops;
	d->flags = flags;
	d->in_txn = 0;
	d->tokbuf = NULL;
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
#define CHECK_WRITE(d, what) do { \
	if ((d)->flags & DB_OPEN_READONLY) \
		return db_seterr((d), -EROFS, "%s: store opened read-only", (what)); \
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
	if (!spec || !out || (flags & ~(DB_OPEN_CREATE | DB_OPEN_READONLY | DB_OPEN_BULK))) {
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
	if (create && (d->flags & DB_OPEN_READONLY)) {
		rc = d->ops->user(d, name, 0, uid);
		if (rc == 0 && *uid == 0)
			CHECK_WRITE(d, "add user");
		return rc;
	}
	return d->ops->user(d, name, create, uid);
}

int db_user_iter(db *d, int (*fn)(void *arg, int64_t uid, const char *name),
    void *arg)
{
	CHECK_HANDLE(d);
	CHECK_ARG(d, fn, "list users");
	return d->ops->user_iter(d, fn, arg);
}

int db_tokens_get(db *d, int64_t uid, db_token *toks, size_t n)
{
	int rc;

	CHECK_HANDLE(d);
	CHECK_ARG(d, uid > 0 && (toks || n == 0), "read tokens");
	if (n == 0)
		return 0;
	if ((rc = tokbuf_flush(d)) < 0)
		return rc;
	return d->ops->tokens_get(d, uid, toks, n);
}

int db_tokens_update(db *d, int64_t uid, const uint64_t *hashes, size_t n,
    int spam_delta, int innocent_delta, int day)
{
	int rc;

	CHECK_HANDLE(d);
	CHECK_ARG(d, uid > 0 && (hashes || n == 0), "update tokens");
	CHECK_WRITE(d, "update tokens");
	if (n == 0)
		return 0;
	if (d->in_txn && spam_delta >= 0 && innocent_delta >= 0)
		return tokbuf_add(d, uid, hashes, n, spam_delta, innocent_delta,
		    day);
	/* A decrement clamps at 0: it must see the combined increments. */
	if ((rc = tokbuf_flush(d)) < 0)
		return rc;
	return d->ops->tokens_update(d, uid, hashes, n, spam_delta,
	    innocent_delta, day);
}

int db_totals_get(db *d, int64_t uid, db_totals *out)
{
	CHECK_HANDLE(d);
	CHECK_ARG(d, out, "read totals");
	memset(out, 0, sizeof(*out));
	CHECK_ARG(d, uid > 0, "read totals");
	return d->ops->totals_get(d, uid, out);
}

int db_totals_add(db *d, int64_t uid, const db_totals *delta)
{
	CHECK_HANDLE(d);
	CHECK_ARG(d, uid > 0 && delta, "update totals");
	CHECK_WRITE(d, "update totals");
	return d->ops->totals_add(d, uid, delta);
}

int db_begin(db *d)
{
	int rc;

	CHECK_HANDLE(d);
	CHECK_WRITE(d, "begin transaction");
	/* Nested: only the outermost level talks to the backend. */
	if (d->in_txn) {
		d->in_txn++;
		return 0;
	}
	rc = d->ops->begin(d);
	if (rc == 0) {
		d->in_txn = 1;
		d->txn_failed = 0;
	}
	return rc;
}

int db_commit(db *d)
{
	int rc;

	CHECK_HANDLE(d);
	if (!d->in_txn)
		return db_seterr(d, -EINVAL, "commit: no transaction is open");
	if (d->in_txn > 1) {
		d->in_txn--;
		return 0;
	}
	/* Flush while the backend still sees its transaction open. */
	if (!d->txn_failed && (rc = tokbuf_flush(d)) < 0) {
		d->in_txn = 0;
		d->ops->rollback(d);
		return rc;
	}
	tokbuf_drop(d);
	d->in_txn = 0;
	if (d->txn_failed) {
		d->ops->rollback(d);
		return db_seterr(d, -ECANCELED, "commit: an inner transaction "
		    "was rolled back, so the whole transaction was undone");
	}
	return d->ops->commit(d);
}

int db_rollback(db *d)
{
	CHECK_HANDLE(d);
	if (!d->in_txn)
		return db_seterr(d, -EINVAL, "rollback: no transaction is open");
	if (--d->in_txn > 0) {
		/* The outermost commit will undo everything. */
		d->txn_failed = 1;
		return 0;
	}
	tokbuf_drop(d);
	return d->ops->rollback(d);
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
	return d->ops->sig_put(d, sig);
}

int db_sig_get(db *d, int64_t uid, const char *id, db_sig **out)
{
	CHECK_HANDLE(d);
	CHECK_ARG(d, out, "read signature");
	*out = NULL;
	CHECK_ARG(d, uid > 0 && id, "read signature");
	if (!*id || strlen(id) >= sizeof(((db_sig *)0)->id))
		return 0;       /* cannot exist */
	return d->ops->sig_get(d, uid, id, out);
}

int db_sig_update(db *d, int64_t uid, const char *id, int cls, int learned)
{
	CHECK_HANDLE(d);
	CHECK_ARG(d, uid > 0 && id &&
	    (cls == DB_CLASS_SPAM || cls == DB_CLASS_INNOCENT),
	    "update signature");
	CHECK_WRITE(d, "update signature");
	return d->ops->sig_update(d, uid, id, cls, learned);
}

void db_sig_free(db_sig *sig)
{
	free(sig);
}

int db_sig_expire(db *d, time_t before, int64_t *n)
{
	int64_t dummy;

	CHECK_HANDLE(d);
	CHECK_WRITE(d, "expire signatures");
	if (!n)
		n = &dummy;
	*n = 0;
	return d->ops->sig_expire(d, before, n);
}

#define KIND_OK(k) ((k) == DB_LIST_WHITE || (k) == DB_LIST_BLOCK)

int db_list_add(db *d, int64_t uid, int kind, const db_list_entry *e)
{
	CHECK_HANDLE(d);
	CHECK_ARG(d, uid > 0 && KIND_OK(kind) && e && e->pattern &&
	    *e->pattern, "add list entry");
	CHECK_WRITE(d, "add list entry");
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
    int spam_delta, db_sender *out)
{
	db_sender dummy;

	CHECK_HANDLE(d);
	if (!out)
		out = &dummy;
	memset(out, 0, sizeof(*out));
	CHECK_ARG(d, uid > 0 && sender && *sender, "update sender");
	CHECK_WRITE(d, "update sender");
	return d->ops->sender_add(d, uid, sender, innocent_delta, spam_delta,
	    out);
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
	return d->ops->pref_unset(d, uid, key, found);
}

int db_tokens_iter(db *d, int64_t uid,
    int (*fn)(void *arg, const db_token *t), void *arg)
{
	int rc;

	CHECK_HANDLE(d);
	CHECK_ARG(d, uid > 0 && fn, "list tokens");
	if ((rc = tokbuf_flush(d)) < 0)
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
	return d->ops->quar_del(d, uid, id, found);
}

int db_quar_expire(db *d, time_t before, int64_t *n)
{
	int64_t dummy;

	CHECK_HANDLE(d);
	if (!n)
		n = &dummy;
	*n = 0;
	CHECK_WRITE(d, "expire quarantine");
	return d->ops->quar_expire(d, before, n);
}

int db_purge(db *d, int day, int64_t max_hits, int64_t *n)
{
	int64_t dummy;
	int rc;

	CHECK_HANDLE(d);
	if (!n)
		n = &dummy;
	*n = 0;
	CHECK_ARG(d, max_hits >= 0, "purge tokens");
	CHECK_WRITE(d, "purge tokens");
	if ((rc = tokbuf_flush(d)) < 0)
		return rc;
	return d->ops->purge(d, day, max_hits, n);
}

int db_vacuum(db *d)
{
	CHECK_HANDLE(d);
	CHECK_WRITE(d, "vacuum");
	if (d->in_txn)
		return db_seterr(d, -EINVAL,
		    "vacuum: not allowed inside a transaction");
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
	if ((rc = tokbuf_flush(d)) < 0)
		return rc;
	rc = d->ops->check(d, ok, report);
	if (rc < 0 && report) {
		free(*report);
		*report = NULL;
	}
	return rc;
}
