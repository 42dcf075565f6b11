/*
 * db_mem -- the in-memory storage backend ("mem:"), for tests of the
 * classifier, milter and CLI that need no disk. Each db_open("mem:") is a
 * new, empty store private to its handle; it disappears on db_close.
 *
 * Simple rather than fast: tokens live in an open-addressing hash table;
 * every other record is a generic row in one array scanned linearly.
 *
 * Transactions keep what a rollback needs, and nothing is allocated by the
 * rollback itself: the old contents of every token slot written (an undo
 * log, replayed backwards; a table rebuilt during the transaction is kept
 * as it was before the rebuild, and the log applies to it), a shallow copy
 * of the row array (strings are shared: one a transaction replaces or
 * deletes is freed at commit, one it creates is freed at rollback), and a
 * copy of the totals. (Copying the whole state at every db_begin made the
 * accuracy benchmark, a transaction a message over a growing model, spend
 * three quarters of its time in memcpy.)
 *
 * Must not depend on: sqlite3.h, libmilter, syslog, conf/.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "db/db.h"
#include "db/db_impl.h"

/* One token's counts; state 0 empty, 1 used, 2 deleted (tombstone). */
typedef struct mtok {
	uint64_t hash;          /* token hash */
	int64_t uid;            /* owner */
	int64_t spam;           /* spam hits */
	int64_t innocent;       /* innocent hits */
	int day;                /* last hit day */
	int state;              /* 0 empty, 1 used, 2 tombstone */
} mtok;

enum { T_USER, T_SIG, T_LIST, T_SENDER, T_PREF, T_QUAR };
#define NSTR 5

/*
 * A generic row; which fields mean what depends on table:
 * USER uid, s0 name. SIG uid, s0 id, i0 cls, i1 learned, i2 created, s1 hashes,
 * s2 sender, i3 ntok, i4 head.
 * LIST uid, i0 kind, s0 pattern, i1 automatic, i2 added, s1 added_by.
 * SENDER uid, s0 sender, i0 innocent, i1 spam, i2 day last seen. PREF uid,
 * s0 key, s1 value.
 * QUAR uid, i0 id, i1 when, f probability, s0 sender, s1 recipients,
 * s2 subject, s3 signature, s4 data.
 */
typedef struct mrow {
	int table;              /* T_* */
	int64_t uid;            /* owning user (USER: the user's id) */
	int64_t i[5];           /* integer fields */
	double f;               /* probability (QUAR) */
	char *s[NSTR];          /* string/blob fields, NUL-terminated, or NULL */
	size_t slen[NSTR];      /* their lengths */
} mrow;

/* One user's totals. */
typedef struct mtot {
	int64_t uid;            /* owner */
	db_totals t;            /* the totals */
} mtot;

/* Everything a store holds. */
typedef struct mstate {
	mtok *toks;             /* token hash table */
	size_t tcap;            /* its size (power of two, or 0) */
	size_t tused;           /* used slots */
	size_t ttomb;           /* tombstones */
	mrow *rows;             /* all other records */
	size_t nrows, rcap;     /* count and capacity */
	mtot *tots;             /* totals per user */
	size_t ntots, totcap;   /* count and capacity */
	int64_t next_uid;       /* next user id */
	int64_t next_qid;       /* next quarantine id */
	uint64_t gen;           /* token generation (gen_get, gen_bump) */
} mstate;

/* A token slot's contents before a write of the transaction. */
typedef struct mundo {
	size_t slot;            /* index in the table the write went to */
	mtok old;               /* its contents before */
} mundo;

/* What a rollback restores (see the top of this file). */
typedef struct mtxn {
	int active;             /* a transaction is open */
	mtok *pre;              /* table before a rebuild in the transaction */
	size_t tcap, tused, ttomb;      /* table sizes at db_begin */
	mundo *undo;            /* token writes, oldest first (to pre, if set) */
	size_t nundo, undocap;
	mrow *rows;             /* the row array at db_begin (shallow) */
	size_t nrows, rowscap;
	mtot *tots;             /* the totals at db_begin */
	size_t ntots, totscap;
	int64_t next_uid, next_qid;
	uint64_t gen;
	char **born, **dead;    /* strings made / dropped by the transaction */
	size_t nborn, borncap, ndead, deadcap;
	size_t nstr0;           /* strings at db_begin (dead has room for
	                           them and every string born since) */
} mtxn;

typedef struct dbm {
	db base;                /* must be first */
	mstate st;              /* the store */
	mtxn tx;                /* the open transaction */
} dbm;

#define M(d) ((dbm *)(d))

/* ---- state ---- */

static void row_free(mrow *r)
{
	for (int k = 0; k < NSTR; k++)
		free(r->s[k]);
}

static void state_free(mstate *s)
{
	free(s->toks);
	for (size_t i = 0; i < s->nrows; i++)
		row_free(&s->rows[i]);
	free(s->rows);
	free(s->tots);
	memset(s, 0, sizeof(*s));
}

static char *memdup0(const void *p, size_t n)
{
	char *c = malloc(n + 1);

	if (!c)
		return NULL;
	if (n)
		memcpy(c, p, n);
	c[n] = '\0';
	return c;
}

static int row_copy(mrow *dst, const mrow *src)
{
	*dst = *src;
	for (int k = 0; k < NSTR; k++) {
		dst->s[k] = NULL;
		if (src->s[k] && !(dst->s[k] = memdup0(src->s[k], src->slen[k]))) {
			row_free(dst);
			return -ENOMEM;
		}
	}
	return 0;
}

/* ---- transactions ---- */

/* Make room for more entries in *arr (element size sz); 0 or -ENOMEM. */
static int reserve(void **arr, size_t *cap, size_t n, size_t more, size_t sz)
{
	size_t ncap = *cap ? *cap : 64;
	void *p;

	if (n + more <= *cap)
		return 0;
	if (more > SIZE_MAX / 2 / sz - n)
		return -ENOMEM;
	while (ncap < n + more)
		ncap *= 2;
	if (!(p = realloc(*arr, ncap * sz)))
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

/* Room for n more token writes in the undo log (before making them). */
static int undo_reserve(dbm *m, size_t n)
{
	mtxn *x = &m->tx;

	if (!x->active || x->pre != NULL)       /* not logging */
		return 0;
	return reserve((void **)&x->undo, &x->undocap, x->nundo, n,
	    sizeof(mundo));
}

/*
 * Slot i of the table is about to be written (room was reserved). After a
 * rebuild in the transaction nothing more is logged: the table as it was
 * before the rebuild and the log so far give the state at db_begin.
 */
static void undo_log(dbm *m, size_t i)
{
	mtxn *x = &m->tx;

	if (x->active && x->pre == NULL)
		x->undo[x->nundo++] = (mundo){ .slot = i, .old = m->st.toks[i] };
}

/* A string of the state is no longer referenced by it. */
static void str_drop(dbm *m, char *p)
{
	mtxn *x = &m->tx;

	if (p == NULL)
		return;
	if (!x->active) {
		free(p);
		return;
	}
	/* Room for it was reserved at db_begin or when it was made. */
	x->dead[x->ndead++] = p;
}

/* Drop the strings of a row of the state. */
static void row_drop(dbm *m, mrow *r)
{
	for (int k = 0; k < NSTR; k++)
		str_drop(m, r->s[k]);
}

/* Close the transaction (its buffers are kept for the next one). */
static void txn_end(mtxn *x)
{
	free(x->pre);
	x->pre = NULL;
	x->active = 0;
	x->nundo = x->nrows = x->ntots = x->nborn = x->ndead = 0;
}

static void txn_free(mtxn *x)
{
	txn_end(x);
	free(x->undo);
	free(x->rows);
	free(x->tots);
	free(x->born);
	free(x->dead);
	memset(x, 0, sizeof(*x));
}

/* ---- tokens ---- */

static size_t tok_slot(uint64_t hash, int64_t uid)
{
	/* a test store: no sender to keep out, no seed */
	return (size_t)db_slot_mix(0, uid, hash);
}

static mtok *tok_find(mstate *s, int64_t uid, uint64_t hash)
{
	if (!s->tcap)
		return NULL;
	for (size_t i = tok_slot(hash, uid) & (s->tcap - 1);;
	    i = (i + 1) & (s->tcap - 1)) {
		mtok *t = &s->toks[i];

		if (t->state == 0)
			return NULL;
		if (t->state == 1 && t->hash == hash && t->uid == uid)
			return t;
	}
}

/* Rebuild the table (dropping tombstones) with room for extra more tokens. */
static int tok_grow(dbm *m, size_t extra)
{
	mstate *s = &m->st;
	size_t ncap = s->tcap ? s->tcap : 64;
	mtok *old = s->toks, *n;
	size_t ocap = s->tcap;

	while ((s->tused + extra + 1) * 10 >= ncap * 7)
		ncap *= 2;
	n = calloc(ncap, sizeof(mtok));
	if (!n)
		return -ENOMEM;
	for (size_t i = 0; i < ocap; i++) {
		if (old[i].state != 1)
			continue;
		size_t j = tok_slot(old[i].hash, old[i].uid) & (ncap - 1);
		while (n[j].state)
			j = (j + 1) & (ncap - 1);
		n[j] = old[i];
	}
	if (m->tx.active && m->tx.pre == NULL)
		m->tx.pre = old;        /* what the undo log applies to */
	else
		free(old);
	s->toks = n;
	s->tcap = ncap;
	s->ttomb = 0;
	return 0;
}

/*
 * The token's slot, created with zero counts when absent, for the caller to
 * write (logged for a rollback: room for one entry must be reserved).
 */
static int tok_get_or_add(dbm *m, int64_t uid, uint64_t hash, mtok **out)
{
	mstate *s = &m->st;
	mtok *t = tok_find(s, uid, hash);
	size_t i;

	if (t) {
		undo_log(m, (size_t)(t - s->toks));
		*out = t;
		return 0;
	}
	if ((s->tused + s->ttomb + 1) * 10 >= s->tcap * 7) {
		int rc = tok_grow(m, 1);

		if (rc < 0)
			return rc;
	}
	i = tok_slot(hash, uid) & (s->tcap - 1);
	while (s->toks[i].state == 1)
		i = (i + 1) & (s->tcap - 1);
	if (s->toks[i].state == 2)
		s->ttomb--;
	undo_log(m, i);
	s->toks[i] = (mtok){ .hash = hash, .uid = uid, .state = 1 };
	s->tused++;
	*out = &s->toks[i];
	return 0;
}

/* Delete the token (logged: room for one entry must be reserved). */
static void tok_del(dbm *m, mtok *t)
{
	mstate *s = &m->st;

	undo_log(m, (size_t)(t - s->toks));
	t->state = 2;
	s->tused--;
	s->ttomb++;
}

/* ---- rows ---- */

static mrow *row_add(dbm *m, int table, int64_t uid)
{
	mstate *s = &m->st;

	if (s->nrows == s->rcap) {
		size_t ncap = s->rcap ? s->rcap * 2 : 32;
		mrow *n = realloc(s->rows, ncap * sizeof(mrow));

		if (!n)
			return NULL;
		s->rows = n;
		s->rcap = ncap;
	}
	mrow *r = &s->rows[s->nrows++];
	memset(r, 0, sizeof(*r));
	r->table = table;
	r->uid = uid;
	return r;
}

static void row_del(dbm *m, mrow *r)
{
	mstate *s = &m->st;
	size_t i = (size_t)(r - s->rows);

	row_drop(m, r);
	memmove(r, r + 1, (s->nrows - i - 1) * sizeof(mrow));
	s->nrows--;
}

static int row_setstr(dbm *m, mrow *r, int k, const char *p, size_t n)
{
	mtxn *x = &m->tx;
	char *c;

	/* In a transaction the new string is remembered (a rollback frees
	 * it) and may itself be dropped later: room for both first. */
	if (x->active && (reserve((void **)&x->born, &x->borncap, x->nborn, 1,
	    sizeof(char *)) < 0 || reserve((void **)&x->dead, &x->deadcap,
	    x->nstr0 + x->nborn, 1, sizeof(char *)) < 0))
		return -ENOMEM;
	if (!(c = memdup0(p, n)))
		return -ENOMEM;
	if (x->active)
		x->born[x->nborn++] = c;
	str_drop(m, r->s[k]);
	r->s[k] = c;
	r->slen[k] = n;
	return 0;
}

/* The row of table for uid whose s0 equals key (case-insensitive if nocase). */
static mrow *row_find(dbm *m, int table, int64_t uid, int64_t i0, int use_i0,
    const char *key, int nocase)
{
	for (size_t i = 0; i < m->st.nrows; i++) {
		mrow *r = &m->st.rows[i];

		if (r->table != table || r->uid != uid)
			continue;
		if (use_i0 && r->i[0] != i0)
			continue;
		if (key && (nocase ? strcasecmp(r->s[0], key)
		    : strcmp(r->s[0], key)))
			continue;
		return r;
	}
	return NULL;
}

static int64_t clamp_add(int64_t a, int64_t b)
{
	int64_t r;

	if (__builtin_add_overflow(a, b, &r))
		r = b > 0 ? INT64_MAX : 0;
	return r < 0 ? 0 : r;
}

static int nomem(db *d, const char *what)
{
	return db_seterr(d, -ENOMEM, "%s: out of memory", what);
}

/* ---- operations ---- */

static int m_open(const char *path, int flags, db **out, char *err,
    size_t errlen)
{
	dbm *m = calloc(1, sizeof(*m));

	(void)path;
	if (!m || db_base_init(&m->base, &db_mem_ops, "mem:", flags) < 0) {
		free(m);
		if (errlen)
			snprintf(err, errlen, "mem:: out of memory");
		return -ENOMEM;
	}
	m->st.next_uid = 1;
	m->st.next_qid = 1;
	*out = &m->base;
	return 0;
}

static int m_rollback(db *d);

static void m_close(db *d)
{
	dbm *m = M(d);

	if (m->tx.active)
		m_rollback(d);
	txn_free(&m->tx);
	state_free(&m->st);
	db_base_free(d);
	free(m);
}

static int m_busy_timeout(db *d, int ms)
{
	(void)d;
	(void)ms;
	return 0;
}

static int m_user(db *d, const char *name, int create, int64_t *uid)
{
	dbm *m = M(d);

	for (size_t i = 0; i < m->st.nrows; i++) {
		mrow *r = &m->st.rows[i];

		if (r->table == T_USER && strcmp(r->s[0], name) == 0) {
			*uid = r->uid;
			return 0;
		}
	}
	if (!create)
		return 0;
	mrow *r = row_add(m, T_USER, m->st.next_uid);
	if (!r)
		return nomem(d, "add user");
	if (row_setstr(m, r, 0, name, strlen(name)) < 0) {
		m->st.nrows--;
		return nomem(d, "add user");
	}
	*uid = m->st.next_uid++;
	return 0;
}

/*
 * Iteration copies the matching rows first so fn may change the store.
 * pick selects rows; visit calls fn on one copied row.
 */
typedef int (*pick_fn)(const mrow *r, const void *ctx);
typedef int (*visit_fn)(const mrow *r, void *fn, void *arg);
typedef int (*cmp_fn)(const void *, const void *);

static int iterate(db *d, pick_fn pick, const void *ctx, cmp_fn cmp,
    visit_fn visit, void *fn, void *arg, const char *what)
{
	dbm *m = M(d);
	mrow *copy = NULL;
	size_t n = 0;
	int rc = 0;

	if (m->st.nrows) {
		copy = calloc(m->st.nrows, sizeof(mrow));
		if (!copy)
			return nomem(d, what);
	}
	for (size_t i = 0; i < m->st.nrows; i++) {
		if (!pick(&m->st.rows[i], ctx))
			continue;
		if (row_copy(&copy[n], &m->st.rows[i]) < 0) {
			rc = nomem(d, what);
			goto out;
		}
		n++;
	}
	if (cmp && n > 1)
		qsort(copy, n, sizeof(mrow), cmp);
	for (size_t i = 0; i < n; i++) {
		rc = visit(&copy[i], fn, arg);
		if (rc) {
			rc = rc < 0 ? rc : 0;
			break;
		}
	}
out:
	for (size_t i = 0; i < n; i++)
		row_free(&copy[i]);
	free(copy);
	return rc;
}

static int pick_users(const mrow *r, const void *ctx)
{
	(void)ctx;
	return r->table == T_USER;
}

static int visit_user(const mrow *r, void *fn, void *arg)
{
	int (*f)(void *, int64_t, const char *) =
	    (int (*)(void *, int64_t, const char *))fn;

	return f(arg, r->uid, r->s[0]);
}

static int m_user_iter(db *d, int (*fn)(void *, int64_t, const char *),
    void *arg)
{
	/* rows of T_USER are appended in id order and never reordered */
	return iterate(d, pick_users, NULL, NULL, visit_user, (void *)fn, arg,
	    "list users");
}

static int m_tokens_get(db *d, int64_t uid, db_token *toks, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		mtok *t = tok_find(&M(d)->st, uid, toks[i].hash);

		toks[i].spam_hits = t ? t->spam : 0;
		toks[i].innocent_hits = t ? t->innocent : 0;
	}
	return 0;
}

/*
 * All or nothing: make room for n tokens in the table and for their undo
 * entries (a write and a deletion each) first, so nothing below can fail
 * (an insertion uses an empty slot or reuses a tombstone).
 */
static int tok_room(dbm *m, size_t n)
{
	mstate *s = &m->st;

	if (n > SIZE_MAX / 40 || ((s->tused + s->ttomb + n) * 10 >= s->tcap * 7
	    && tok_grow(m, n) < 0) || undo_reserve(m, 2 * n) < 0)
		return -ENOMEM;
	return 0;
}

/* Add the deltas to one token's counts (room was made by tok_room). */
static void tok_add(dbm *m, int64_t uid, uint64_t hash, int64_t spam,
    int64_t innocent, int day)
{
	mtok *t = NULL;

	(void)tok_get_or_add(m, uid, hash, &t);  /* cannot fail after tok_room */
	t->spam = clamp_add(t->spam, spam);
	t->innocent = clamp_add(t->innocent, innocent);
	t->day = day;
	if (t->spam == 0 && t->innocent == 0)
		tok_del(m, t);
}

static int m_tokens_update(db *d, int64_t uid, const uint64_t *hashes,
    size_t n, int spam_delta, int innocent_delta, int day)
{
	if (tok_room(M(d), n) < 0)
		return nomem(d, "update tokens");
	for (size_t i = 0; i < n; i++)
		tok_add(M(d), uid, hashes[i], spam_delta, innocent_delta, day);
	return 0;
}

static int m_tokens_add(db *d, const db_tokadd *rows, size_t n)
{
	if (tok_room(M(d), n) < 0)
		return nomem(d, "update tokens");
	for (size_t i = 0; i < n; i++)
		tok_add(M(d), rows[i].uid, rows[i].hash, rows[i].spam,
		    rows[i].innocent, rows[i].day);
	return 0;
}

static int m_gen_get(db *d, uint64_t *gen)
{
	*gen = M(d)->st.gen;
	return 0;
}

static int m_gen_bump(db *d, uint64_t step, uint64_t *gen)
{
	*gen = M(d)->st.gen = (M(d)->st.gen + step) & DB_GEN_MASK;
	return 0;
}

static mtot *tot_find(mstate *s, int64_t uid)
{
	for (size_t i = 0; i < s->ntots; i++)
		if (s->tots[i].uid == uid)
			return &s->tots[i];
	return NULL;
}

static int m_totals_get(db *d, int64_t uid, db_totals *out)
{
	mtot *t = tot_find(&M(d)->st, uid);

	if (t)
		*out = t->t;
	return 0;
}

static int m_totals_add(db *d, int64_t uid, const db_totals *delta)
{
	mstate *s = &M(d)->st;
	mtot *t = tot_find(s, uid);

	if (!t) {
		if (s->ntots == s->totcap) {
			size_t ncap = s->totcap ? s->totcap * 2 : 8;
			mtot *n = realloc(s->tots, ncap * sizeof(mtot));

			if (!n)
				return nomem(d, "update totals");
			s->tots = n;
			s->totcap = ncap;
		}
		t = &s->tots[s->ntots++];
		memset(t, 0, sizeof(*t));
		t->uid = uid;
	}
	t->t.spam_learned = clamp_add(t->t.spam_learned, delta->spam_learned);
	t->t.innocent_learned = clamp_add(t->t.innocent_learned,
	    delta->innocent_learned);
	t->t.spam_misclassified = clamp_add(t->t.spam_misclassified,
	    delta->spam_misclassified);
	t->t.innocent_misclassified = clamp_add(t->t.innocent_misclassified,
	    delta->innocent_misclassified);
	t->t.spam_corpusfed = clamp_add(t->t.spam_corpusfed,
	    delta->spam_corpusfed);
	t->t.innocent_corpusfed = clamp_add(t->t.innocent_corpusfed,
	    delta->innocent_corpusfed);
	t->t.spam_classified = clamp_add(t->t.spam_classified,
	    delta->spam_classified);
	t->t.innocent_classified = clamp_add(t->t.innocent_classified,
	    delta->innocent_classified);
	t->t.spam_inoculated = clamp_add(t->t.spam_inoculated,
	    delta->spam_inoculated);
	return 0;
}

static int m_begin(db *d)
{
	dbm *m = M(d);
	mtxn *x = &m->tx;
	mstate *s = &m->st;
	size_t nstr = 0;

	for (size_t i = 0; i < s->nrows; i++)
		for (int k = 0; k < NSTR; k++)
			nstr += s->rows[i].s[k] != NULL;
	if (reserve((void **)&x->rows, &x->rowscap, 0, s->nrows,
	    sizeof(mrow)) < 0 || reserve((void **)&x->tots, &x->totscap, 0,
	    s->ntots, sizeof(mtot)) < 0 || reserve((void **)&x->dead,
	    &x->deadcap, 0, nstr, sizeof(char *)) < 0)
		return nomem(d, "begin transaction");
	if (s->nrows)
		memcpy(x->rows, s->rows, s->nrows * sizeof(mrow));
	if (s->ntots)
		memcpy(x->tots, s->tots, s->ntots * sizeof(mtot));
	x->nrows = s->nrows;
	x->ntots = s->ntots;
	x->nstr0 = nstr;
	x->tcap = s->tcap;
	x->tused = s->tused;
	x->ttomb = s->ttomb;
	x->next_uid = s->next_uid;
	x->next_qid = s->next_qid;
	x->gen = s->gen;
	x->active = 1;
	return 0;
}

static int m_commit(db *d)
{
	mtxn *x = &M(d)->tx;

	for (size_t i = 0; i < x->ndead; i++)
		free(x->dead[i]);
	txn_end(x);
	return 0;
}

static void swap_arrays(void **a, size_t *acap, void **b, size_t *bcap)
{
	void *p = *a;
	size_t n = *acap;

	*a = *b;
	*acap = *bcap;
	*b = p;
	*bcap = n;
}

/* Cannot fail: it allocates nothing. */
static int m_rollback(db *d)
{
	mtxn *x = &M(d)->tx;
	mstate *s = &M(d)->st;

	if (x->pre != NULL) {           /* the table was rebuilt: back to it */
		free(s->toks);
		s->toks = x->pre;
		x->pre = NULL;
	}
	while (x->nundo > 0) {
		mundo *u = &x->undo[--x->nundo];

		s->toks[u->slot] = u->old;
	}
	s->tcap = x->tcap;
	s->tused = x->tused;
	s->ttomb = x->ttomb;
	for (size_t i = 0; i < x->nborn; i++)
		free(x->born[i]);
	/* The arrays trade places (the copy's strings are the live ones; the
	 * transaction's array is reused by the next one). */
	swap_arrays((void **)&s->rows, &s->rcap, (void **)&x->rows, &x->rowscap);
	s->nrows = x->nrows;
	swap_arrays((void **)&s->tots, &s->totcap, (void **)&x->tots,
	    &x->totscap);
	s->ntots = x->ntots;
	s->next_uid = x->next_uid;
	s->next_qid = x->next_qid;
	s->gen = x->gen;
	txn_end(x);
	return 0;
}

static int m_sig_put(db *d, const db_sig *sig)
{
	dbm *m = M(d);
	mrow *r = row_find(m, T_SIG, sig->uid, 0, 0, sig->id, 0);
	int isnew = !r;

	if (!r && !(r = row_add(m, T_SIG, sig->uid)))
		return nomem(d, "store signature");
	r->i[0] = sig->cls;
	r->i[1] = sig->learned;
	r->i[2] = (int64_t)sig->created;
	r->i[3] = (int64_t)sig->ntok;
	r->i[4] = (int64_t)sig->head;
	if (row_setstr(m, r, 0, sig->id, strlen(sig->id)) < 0 ||
	    row_setstr(m, r, 1, (const char *)sig->hashes,
	    sig->nhashes * sizeof(uint64_t)) < 0 ||
	    row_setstr(m, r, 2, sig->sender, strlen(sig->sender)) < 0) {
		if (isnew)
			row_del(m, r);
		return nomem(d, "store signature");
	}
	return 0;
}

static int m_sig_get(db *d, int64_t uid, const char *id, db_sig **out)
{
	mrow *r = row_find(M(d), T_SIG, uid, 0, 0, id, 0);
	db_sig *sig;

	if (!r)
		return 0;
	sig = db_sig_alloc(id, r->slen[1] / sizeof(uint64_t));
	if (!sig)
		return nomem(d, "read signature");
	sig->uid = uid;
	sig->cls = (int)r->i[0];
	sig->learned = (int)r->i[1];
	sig->created = (time_t)r->i[2];
	sig->ntok = (size_t)r->i[3];
	sig->head = (size_t)r->i[4];
	snprintf(sig->sender, sizeof(sig->sender), "%s", r->s[2] ? r->s[2] : "");
	if (sig->nhashes)
		memcpy(sig->hashes, r->s[1], sig->nhashes * sizeof(uint64_t));
	*out = sig;
	return 0;
}

static int m_sig_update(db *d, int64_t uid, const char *id, int cls,
    int learned)
{
	mrow *r = row_find(M(d), T_SIG, uid, 0, 0, id, 0);

	if (r) {
		r->i[0] = cls;
		r->i[1] = learned;
	}
	return 0;
}

/* Delete table's rows of uid (0: any) whose field i[field] < before, until
 * *n reaches limit (0: all); count in *n. */
static void expire_rows(dbm *m, int table, int64_t uid, int field,
    int64_t before, int64_t limit, int64_t *n)
{
	for (size_t i = 0; i < m->st.nrows && (limit == 0 || *n < limit); ) {
		mrow *r = &m->st.rows[i];

		if (r->table == table && (uid == 0 || r->uid == uid) &&
		    r->i[field] < before) {
			row_del(m, r);
			(*n)++;
		} else {
			i++;
		}
	}
}

static int m_sig_expire(db *d, int64_t uid, time_t before, int64_t limit,
    int64_t *n)
{
	expire_rows(M(d), T_SIG, uid, 2, (int64_t)before, limit, n);
	return 0;
}

static int m_list_add(db *d, int64_t uid, int kind, const db_list_entry *e)
{
	dbm *m = M(d);
	mrow *r = row_find(m, T_LIST, uid, kind, 1, e->pattern, 1);
	const char *by = e->added_by ? e->added_by : "";
	int isnew = !r;

	if (!r && !(r = row_add(m, T_LIST, uid)))
		return nomem(d, "add list entry");
	r->i[0] = kind;
	r->i[1] = e->automatic ? 1 : 0;
	r->i[2] = (int64_t)e->added;
	if (row_setstr(m, r, 0, e->pattern, strlen(e->pattern)) < 0 ||
	    row_setstr(m, r, 1, by, strlen(by)) < 0) {
		if (isnew)
			row_del(m, r);
		return nomem(d, "add list entry");
	}
	return 0;
}

static int m_list_del(db *d, int64_t uid, int kind, const char *pattern,
    int *found)
{
	dbm *m = M(d);
	mrow *r = row_find(m, T_LIST, uid, kind, 1, pattern, 1);

	if (r) {
		row_del(m, r);
		*found = 1;
	}
	return 0;
}

static int m_list_match(db *d, int64_t uid, int kind, const char *address,
    int *matched)
{
	size_t blen = strlen(address) + 2, nc;
	const char *cand[130];
	char *buf = malloc(blen);
	int rc;

	if (!buf)
		return nomem(d, "match list");
	rc = db_list_candidates(address, buf, blen, cand, 130, &nc);
	if (rc < 0) {
		free(buf);
		return db_seterr(d, rc, "match list: address has too many "
		    "domain labels");
	}
	for (size_t i = 0; i < nc && !*matched; i++)
		if (row_find(M(d), T_LIST, uid, kind, 1, cand[i], 1))
			*matched = 1;
	free(buf);
	return 0;
}

typedef struct ukey {
	int64_t uid;            /* user */
	int64_t kind;           /* list kind (lists only) */
} ukey;

static int pick_list(const mrow *r, const void *ctx)
{
	const ukey *k = ctx;

	return r->table == T_LIST && r->uid == k->uid && r->i[0] == k->kind;
}

static int cmp_s0_nocase(const void *a, const void *b)
{
	return strcasecmp(((const mrow *)a)->s[0], ((const mrow *)b)->s[0]);
}

static int visit_list(const mrow *r, void *fn, void *arg)
{
	int (*f)(void *, const db_list_entry *) =
	    (int (*)(void *, const db_list_entry *))fn;
	db_list_entry e = {
		.pattern = r->s[0], .automatic = (int)r->i[1],
		.added = (time_t)r->i[2], .added_by = r->s[1],
	};

	return f(arg, &e);
}

static int m_list_iter(db *d, int64_t uid, int kind,
    int (*fn)(void *, const db_list_entry *), void *arg)
{
	ukey k = { uid, kind };

	return iterate(d, pick_list, &k, cmp_s0_nocase, visit_list,
	    (void *)fn, arg, "list entries");
}

static int m_sender_add(db *d, int64_t uid, const char *sender,
    int innocent_delta, int spam_delta, int day, db_sender *out)
{
	dbm *m = M(d);
	mrow *r = row_find(m, T_SENDER, uid, 0, 0, sender, 0);

	if (!r) {
		if (!(r = row_add(m, T_SENDER, uid)))
			return nomem(d, "update sender");
		if (row_setstr(m, r, 0, sender, strlen(sender)) < 0) {
			row_del(m, r);
			return nomem(d, "update sender");
		}
	}
	r->i[0] = clamp_add(r->i[0], innocent_delta);
	r->i[1] = clamp_add(r->i[1], spam_delta);
	r->i[2] = day;          /* last seen */
	out->innocent = r->i[0];
	out->spam = r->i[1];
	return 0;
}

static int m_pref_get(db *d, int64_t uid, const char *key, char *buf,
    size_t len, int *found)
{
	mrow *r = row_find(M(d), T_PREF, uid, 0, 0, key, 0);

	if (!r)
		return 0;
	if (r->slen[1] + 1 > len)
		return db_seterr(d, -ERANGE, "read preference %s: value longer "
		    "than the buffer", key);
	memcpy(buf, r->s[1], r->slen[1] + 1);
	*found = 1;
	return 0;
}

static int m_pref_set(db *d, int64_t uid, const char *key, const char *value)
{
	dbm *m = M(d);
	mrow *r = row_find(m, T_PREF, uid, 0, 0, key, 0);
	int isnew = !r;

	if (!r && !(r = row_add(m, T_PREF, uid)))
		return nomem(d, "set preference");
	if (row_setstr(m, r, 0, key, strlen(key)) < 0 ||
	    row_setstr(m, r, 1, value, strlen(value)) < 0) {
		if (isnew)
			row_del(m, r);
		return nomem(d, "set preference");
	}
	return 0;
}

static int m_pref_unset(db *d, int64_t uid, const char *key, int *found)
{
	dbm *m = M(d);
	mrow *r = row_find(m, T_PREF, uid, 0, 0, key, 0);

	if (r) {
		row_del(m, r);
		*found = 1;
	}
	return 0;
}

static int pick_uid_table(const mrow *r, const void *ctx)
{
	const ukey *k = ctx;

	return r->table == k->kind && r->uid == k->uid;
}

static int cmp_s0(const void *a, const void *b)
{
	return strcmp(((const mrow *)a)->s[0], ((const mrow *)b)->s[0]);
}

static int visit_pref(const mrow *r, void *fn, void *arg)
{
	int (*f)(void *, const char *, const char *) =
	    (int (*)(void *, const char *, const char *))fn;

	return f(arg, r->s[0], r->s[1]);
}

static int cmp_tok_hash(const void *a, const void *b)
{
	uint64_t x = ((const db_token *)a)->hash, y = ((const db_token *)b)->hash;

	return x < y ? -1 : x > y;
}

static int m_tokens_iter(db *d, int64_t uid,
    int (*fn)(void *, const db_token *), void *arg)
{
	mstate *s = &M(d)->st;
	db_token *all = NULL;
	size_t n = 0;
	int rc = 0;

	if (s->tcap) {
		all = malloc(s->tcap * sizeof(*all));
		if (all == NULL)
			return nomem(d, "list tokens");
	}
	for (size_t i = 0; i < s->tcap; i++)
		if (s->toks[i].state == 1 && s->toks[i].uid == uid)
			all[n++] = (db_token){ s->toks[i].hash, s->toks[i].spam,
				s->toks[i].innocent };
	if (n > 1)
		qsort(all, n, sizeof(*all), cmp_tok_hash);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = fn(arg, &all[i]);
	free(all);
	return rc < 0 ? rc : 0;
}

static int m_pref_iter(db *d, int64_t uid,
    int (*fn)(void *, const char *, const char *), void *arg)
{
	ukey k = { uid, T_PREF };

	return iterate(d, pick_uid_table, &k, cmp_s0, visit_pref, (void *)fn,
	    arg, "list preferences");
}

static void quar_from_row(const mrow *r, db_quar *q)
{
	q->id = r->i[0];
	q->uid = r->uid;
	q->when = (time_t)r->i[1];
	q->probability = r->f;
	q->sender = r->s[0];
	q->recipients = r->s[1];
	q->subject = r->s[2];
	q->signature = r->s[3];
	q->data = r->s[4];
	q->len = r->slen[4];
}

static int m_quar_put(db *d, const db_quar *q, int64_t *id)
{
	dbm *m = M(d);
	mrow *r = row_add(m, T_QUAR, q->uid);
	const char *s[4] = { q->sender, q->recipients, q->subject,
	    q->signature };

	if (!r)
		return nomem(d, "quarantine message");
	r->i[0] = m->st.next_qid;
	r->i[1] = (int64_t)q->when;
	r->f = q->probability;
	for (int k = 0; k < 4; k++) {
		const char *v = s[k] ? s[k] : "";

		if (row_setstr(m, r, k, v, strlen(v)) < 0)
			goto fail;
	}
	if (row_setstr(m, r, 4, q->data ? q->data : "", q->len) < 0)
		goto fail;
	*id = m->st.next_qid++;
	return 0;
fail:
	row_del(m, r);
	return nomem(d, "quarantine message");
}

static int cmp_quar(const void *a, const void *b)
{
	const mrow *x = a, *y = b;

	if (x->i[1] != y->i[1])
		return x->i[1] < y->i[1] ? -1 : 1;
	return x->i[0] < y->i[0] ? -1 : x->i[0] > y->i[0];
}

static int visit_quar(const mrow *r, void *fn, void *arg)
{
	int (*f)(void *, const db_quar *) =
	    (int (*)(void *, const db_quar *))fn;
	db_quar q;

	quar_from_row(r, &q);
	q.data = NULL;
	return f(arg, &q);
}

static int m_quar_iter(db *d, int64_t uid,
    int (*fn)(void *, const db_quar *), void *arg)
{
	ukey k = { uid, T_QUAR };

	return iterate(d, pick_uid_table, &k, cmp_quar, visit_quar, (void *)fn,
	    arg, "list quarantine");
}

static mrow *quar_find(dbm *m, int64_t uid, int64_t id)
{
	return row_find(m, T_QUAR, uid, id, 1, NULL, 0);
}

static int m_quar_get(db *d, int64_t uid, int64_t id, db_quar **out)
{
	mrow *r = quar_find(M(d), uid, id);
	db_quar q;

	if (!r)
		return 0;
	quar_from_row(r, &q);
	*out = db_quar_alloc(&q, 1);
	return *out ? 0 : nomem(d, "read quarantined message");
}

static int m_quar_del(db *d, int64_t uid, int64_t id, int *found)
{
	mrow *r = quar_find(M(d), uid, id);

	if (r) {
		row_del(M(d), r);
		*found = 1;
	}
	return 0;
}

static int m_quar_expire(db *d, int64_t uid, time_t before, int64_t limit,
    int64_t *n)
{
	expire_rows(M(d), T_QUAR, uid, 1, (int64_t)before, limit, n);
	return 0;
}

/* All in one step (the table has no order to go on from). */
static int m_purge(db *d, int day, int64_t max_hits, db_purge_pos *pos,
    int64_t max_rows, int64_t *n)
{
	mstate *s = &M(d)->st;

	(void)max_rows;
	pos->started = pos->end = 1;
	for (size_t i = 0; i < s->tcap; i++) {
		mtok *t = &s->toks[i];

		if (t->state == 1 && t->day < day &&
		    t->spam + t->innocent <= max_hits) {
			if (undo_reserve(M(d), 1) < 0)
				return nomem(d, "purge");
			tok_del(M(d), t);
			(*n)++;
		}
	}
	return 0;
}

static int m_user_delete(db *d, int64_t uid)
{
	dbm *m = M(d);
	mstate *s = &m->st;
	mtot *t;

	for (size_t i = 0; i < s->tcap; i++) {
		if (s->toks[i].state != 1 || s->toks[i].uid != uid)
			continue;
		if (undo_reserve(m, 1) < 0)
			return nomem(d, "delete user");
		tok_del(m, &s->toks[i]);
	}
	for (size_t i = 0; i < s->nrows; ) {
		if (s->rows[i].uid == uid && s->rows[i].table != T_USER)
			row_del(m, &s->rows[i]);
		else
			i++;
	}
	if ((t = tot_find(s, uid)) != NULL)
		*t = s->tots[--s->ntots];
	return 0;
}

/* All in one step, as m_purge. */
static int m_sender_purge(db *d, int day, int64_t max_hits,
    db_purge_pos *pos, int64_t max_rows, int64_t *n)
{
	dbm *m = M(d);

	(void)max_rows;
	pos->started = pos->end = 1;
	for (size_t i = 0; i < m->st.nrows; ) {
		mrow *r = &m->st.rows[i];

		if (r->table == T_SENDER && r->i[2] < day &&
		    r->i[0] + r->i[1] <= max_hits) {
			row_del(m, r);
			(*n)++;
		} else {
			i++;
		}
	}
	return 0;
}

static int m_vacuum(db *d)
{
	mstate *s = &M(d)->st;

	/* Rebuilding the table drops the tombstones. */
	if (s->tcap && tok_grow(M(d), 0) < 0)
		return nomem(d, "vacuum");
	return 0;
}

static int user_exists(dbm *m, int64_t uid)
{
	for (size_t i = 0; i < m->st.nrows; i++)
		if (m->st.rows[i].table == T_USER && m->st.rows[i].uid == uid)
			return 1;
	return 0;
}

static int m_check(db *d, int *ok, char **report)
{
	dbm *m = M(d);
	mstate *s = &m->st;
	int64_t bad_neg = 0, bad_spam = 0, bad_inn = 0, orphans = 0;
	int rc = 0;

	for (size_t i = 0; i < s->tcap; i++) {
		mtok *t = &s->toks[i];
		mtot *tot;
		db_totals z = { 0 };

		if (t->state != 1)
			continue;
		if (!user_exists(m, t->uid))
			orphans++;
		tot = tot_find(s, t->uid);
		const db_totals *tt = tot ? &tot->t : &z;
		if (t->spam < 0 || t->innocent < 0)
			bad_neg++;
		if (t->spam > db_totals_spam_fed(tt))
			bad_spam++;
		if (t->innocent > db_totals_innocent_fed(tt))
			bad_inn++;
	}
	for (size_t i = 0; i < s->nrows; i++)
		if (s->rows[i].table != T_USER &&
		    !user_exists(m, s->rows[i].uid))
			orphans++;
	for (size_t i = 0; i < s->ntots; i++)
		if (!user_exists(m, s->tots[i].uid))
			orphans++;
	*ok = !bad_neg && !bad_spam && !bad_inn && !orphans;
	rc = db_report(report, "store: in memory, nothing to check on disk");
	if (!rc && bad_neg)
		rc = db_report(report, "tokens with negative counts: %lld",
		    (long long)bad_neg);
	if (!rc && bad_spam)
		rc = db_report(report, "tokens with more spam hits than spam "
		    "learned: %lld", (long long)bad_spam);
	if (!rc && bad_inn)
		rc = db_report(report, "tokens with more innocent hits than "
		    "innocent learned: %lld", (long long)bad_inn);
	if (!rc && orphans)
		rc = db_report(report, "rows of unknown users: %lld",
		    (long long)orphans);
	if (!rc)
		rc = db_report(report, "%s", *ok ? "ok" : "NOT ok");
	return rc < 0 ? nomem(d, "check") : 0;
}

const db_ops db_mem_ops = {
	.version = DB_OPS_VERSION,
	.name = "mem",
	.tokens_add = m_tokens_add,
	.gen_get = m_gen_get,
	.gen_bump = m_gen_bump,
	.open = m_open,
	.close = m_close,
	.busy_timeout = m_busy_timeout,
	.user = m_user,
	.user_iter = m_user_iter,
	.tokens_get = m_tokens_get,
	.tokens_update = m_tokens_update,
	.totals_get = m_totals_get,
	.totals_add = m_totals_add,
	.begin = m_begin,
	.commit = m_commit,
	.rollback = m_rollback,
	.sig_put = m_sig_put,
	.sig_get = m_sig_get,
	.sig_update = m_sig_update,
	.sig_expire = m_sig_expire,
	.list_add = m_list_add,
	.list_del = m_list_del,
	.list_match = m_list_match,
	.list_iter = m_list_iter,
	.sender_add = m_sender_add,
	.pref_get = m_pref_get,
	.pref_set = m_pref_set,
	.pref_unset = m_pref_unset,
	.pref_iter = m_pref_iter,
	.user_delete = m_user_delete,
	.tokens_iter = m_tokens_iter,
	.quar_put = m_quar_put,
	.quar_iter = m_quar_iter,
	.quar_get = m_quar_get,
	.quar_del = m_quar_del,
	.quar_expire = m_quar_expire,
	.purge = m_purge,
	.sender_purge = m_sender_purge,
	.vacuum = m_vacuum,
	.check = m_check,
	/* .quar_lock NULL: a mem: store is private to its handle, no other
	 * handle can take its messages. */
};
