/*
 * db_cache -- the token read cache shared by the handles of one process
 * (design and guarantees in db.h, "A token read cache"; how db.c uses it in
 * db_impl.h). One mutex guards everything.
 *
 * The table is open addressing with linear probing over a power-of-two
 * number of slots; it starts small and doubles up to the size the memory
 * bound allows (so memory follows use); deletion shifts the
 * following entries back (no tombstones). Eviction is a second chance near
 * the slot being filled: a hit sets the entry's reference bit, eviction
 * clears bits and drops the first nearby entry whose bit is clear (see
 * evict_near). A small table of per-user states remembers which
 * users' models are loaded whole ("complete": a token not there has 0).
 *
 * A model loaded whole is not put in the table: it is kept as a compact
 * copy, its tokens sorted by hash, 16 bytes each plus a directory of about
 * half a byte a token (the table costs 24 bytes an entry at 70% load, 34 a
 * token): the same memory holds twice the model, and eviction never takes
 * it apart. An own commit merges its changes into the copy; a copy that
 * would outgrow its room becomes a key filter instead. Copies and the
 * table share the memory bound: a new copy may take what the table does
 * not use, less a quarter kept for the table, a copy grows into what is
 * free, and the table grows only into what copies leave (and shrinks back
 * when the cache is emptied).
 *
 * A model too big to hold whole gets a key filter instead (a Bloom filter
 * of its token keys): built by the scan that finds it too big to load, or
 * from a copy that its own commits grow past the memory it may take. A
 * token the filter has never seen is absent
 * from that model, so the lookup is answered 0 without the store. Most of
 * a message's tokens that miss the table are tokens the model has never
 * seen (the word pairs of a new message): those were most of the lookups
 * the milter sent to SQLite.
 *
 * Must not depend on: sqlite3.h, libmilter, syslog, conf/.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "db/db_impl.h"

/* Misses of one user (since the last emptying) before its model is loaded. */
#define LOAD_AFTER 4096
/* How many lookups ahead db_cache_lookup prefetches. */
#define PREFETCH 8
/* Slots of the table when it is made or emptied (it grows with use). */
#define CAP_START 1024
/* Per-user states remembered. */
#define NUSERS 32
/* Counts are kept in 31 bits (saturated): stores never get near that. */
#define COUNT_MAX 0x7fffffffu
/*
 * Key filters: FILT_K bits set per key; all of them share one eighth of the
 * cache's memory bound, first come first served; each is a power of two
 * near 16 bits per key when built (0.2% of absent tokens then pass for
 * "maybe"), none is built with fewer than 4 (16% pass).
 */
#define FILT_K 4
#define FILT_SHARE 8
#define FILT_BITS_PER_KEY 16
#define FILT_MIN_BITS_PER_KEY 4
#define FILT_MIN_BITS 512

/* 24 bytes: the reference bit shares a word with a count (one cache line
 * touched per lookup). */
typedef struct cent {
	uint64_t hash;          /* token */
	int64_t uid;            /* owner; 0: empty slot */
	uint32_t spam;          /* spam hits at the cache's generation */
	uint32_t innocent : 31; /* innocent hits */
	uint32_t ref : 1;       /* clock reference bit */
} cent;

/* A token of a compact copy: key is the hash with its top bit flipped, so
 * the store's order (signed hashes) is ascending key order. */
typedef struct sent {
	uint64_t key;           /* hash ^ SIGN_BIT */
	uint32_t spam;          /* spam hits at the cache's generation */
	uint32_t innocent;      /* innocent hits */
} sent;

#define SIGN_BIT 0x8000000000000000ULL

typedef struct ustate {
	int64_t uid;            /* user (0: free) */
	uint64_t misses;        /* misses since the cache was emptied */
	sent *copy;             /* the whole model, sorted by key, or NULL */
	size_t ncopy;           /* its tokens */
	uint32_t *dir;          /* dir[b]: first token whose key's top dbits
	                           bits are >= b; dir[1 << dbits] = ncopy;
	                           NULL: no copy (see whole()) */
	int dbits;              /* directory size, log2 */
	size_t cbytes;          /* memory of copy and dir */
	int noload;             /* too big to load whole */
	int loading;            /* a load of uid is running */
	int pinned;             /* a commit prepares its copy's changes */
	unsigned loads;         /* whole loads since the cache was emptied */
	uint64_t *filt;         /* key filter of the model, or NULL */
	size_t fbits;           /* its size in bits (a power of two) */
} ustate;

/* Is u's whole model in its copy ("complete": a token not there has 0)?
 * (An empty model has a directory and no tokens.) */
static int whole(const ustate *u)
{
	return u->dir != NULL;
}

struct db_cache {
	pthread_mutex_t mu;     /* guards everything below */
	pthread_cond_t merged;  /* merging went back to 0 */
	int merging;            /* a commit works on copies without mu (the
	                           cache then keeps its generation) */
	cent *slots;            /* the table */
	size_t cap;             /* slots (power of two) */
	size_t cap_max;         /* slots the memory bound allows */
	size_t room;            /* bytes for the table and the copies */
	size_t copy_used;       /* bytes the copies use */
	int loading;            /* a whole-model load is running (one at a
	                           time: its buffer is outside copy_used) */
	int shift;              /* 64 - log2(cap): a slot is a key's top bits */
	uint64_t seed;          /* of db_slot_mix (the table's slots) */
	size_t n;               /* entries */
	size_t max;             /* entries allowed now (70% of cap) */
	uint64_t gen;           /* generation every entry is valid for */
	int have_gen;           /* gen is set */
	unsigned behind;        /* lookups in a row that saw an older gen */
	uint64_t inflight;      /* gen an attached handle is committing, or 0 */
	ustate users[NUSERS];   /* per-user states */
	size_t next_user;       /* round-robin replacement in users */
	size_t filt_budget;     /* bits all key filters may use */
	size_t filt_used;       /* bits they use */
	db_cache_stats st;      /* counters */
};

/* A slot is the top bits of the mixed key (a doubling rehash then moves
 * each entry to one of two neighbouring slots: the new table fills in
 * order). */
static size_t slot_of(const db_cache *c, int64_t uid, uint64_t h)
{
	return (size_t)(db_slot_mix(c->seed, uid, h) >> c->shift);
}

/*
 * The key filter's bits for (uid, h): double hashing of the mixed key (the
 * slot uses its top bits, the filter its low ones and a second mix).
 */
static void filt_idx(size_t bits, int64_t uid, uint64_t h, size_t idx[FILT_K])
{
	uint64_t x = h ^ ((uint64_t)uid * 0x9E3779B97F4A7C15ULL);
	uint64_t y = ((x >> 29) ^ x) * 0xBF58476D1CE4E5B9ULL | 1;

	for (int i = 0; i < FILT_K; i++)
		idx[i] = (size_t)(x + (uint64_t)i * y) & (bits - 1);
}

static void filt_add(uint64_t *f, size_t bits, int64_t uid, uint64_t h)
{
	size_t idx[FILT_K];

	filt_idx(bits, uid, h, idx);
	for (int i = 0; i < FILT_K; i++)
		f[idx[i] / 64] |= 1ULL << (idx[i] % 64);
}

/* 0: (uid, h) is certainly not in the model the filter holds. */
static int filt_maybe(const uint64_t *f, size_t bits, int64_t uid, uint64_t h)
{
	size_t idx[FILT_K];

	filt_idx(bits, uid, h, idx);
	for (int i = 0; i < FILT_K; i++)
		if (!(f[idx[i] / 64] & (1ULL << (idx[i] % 64))))
			return 0;
	return 1;
}

/*
 * The largest filter the budget has room for, in bits (0: none): at most
 * half of it, so that a user's model and the global one both get one.
 */
static size_t filt_room(const db_cache *c)
{
	size_t left = c->filt_budget - c->filt_used, bits = FILT_MIN_BITS;

	if (left > c->filt_budget / 2)
		left = c->filt_budget / 2;
	if (left < bits)
		return 0;
	while (bits * 2 <= left)
		bits *= 2;
	return bits;
}

/*
 * Halve a filter of nkeys keys while it keeps FILT_BITS_PER_KEY (a bit's
 * index is taken modulo the size, so the upper half folds onto the lower
 * one). Returns its size, or 0 when it is below FILT_MIN_BITS_PER_KEY
 * (then it is not worth keeping).
 */
static size_t filt_fold(uint64_t **f, size_t bits, size_t nkeys)
{
	size_t b0 = bits;
	uint64_t *nf;

	while (bits / 2 >= FILT_MIN_BITS && bits / 2 >= FILT_BITS_PER_KEY * nkeys) {
		size_t half = bits / 2;

		for (size_t i = 0; i < half / 64; i++)
			(*f)[i] |= (*f)[i + half / 64];
		bits = half;
	}
	if (bits < b0 && (nf = realloc(*f, bits / 8)) != NULL)
		*f = nf;
	return bits >= FILT_MIN_BITS_PER_KEY * nkeys ? bits : 0;
}

/* Give u the key filter f of bits bits. */
static void filt_install(db_cache *c, ustate *u, uint64_t *f, size_t bits)
{
	u->filt = f;
	u->fbits = bits;
	c->filt_used += bits;
	c->st.filters++;
}

/* Drop u's compact copy (it is no longer complete). */
static void copy_free(db_cache *c, ustate *u)
{
	c->copy_used -= u->cbytes;
	free(u->copy);
	free(u->dir);
	u->copy = NULL;
	u->dir = NULL;
	u->ncopy = 0;
	u->cbytes = 0;
}

/* Forget a user's state, key filter and copy included. */
static void user_forget(db_cache *c, ustate *u)
{
	if (u->filt != NULL)
		c->filt_used -= u->fbits;
	free(u->filt);
	copy_free(c, u);
	memset(u, 0, sizeof(*u));
}

static void users_forget(db_cache *c)
{
	for (size_t i = 0; i < NUSERS; i++)
		user_forget(c, &c->users[i]);
}

static int log2_of(size_t cap)
{
	int k = 0;

	while (((size_t)1 << k) < cap)
		k++;
	return k;
}

/* The slot of (uid, h), or the empty slot where it would go. */
static size_t find(const db_cache *c, int64_t uid, uint64_t h)
{
	size_t i = slot_of(c, uid, h);

	while (c->slots[i].uid != 0 &&
	    (c->slots[i].uid != uid || c->slots[i].hash != h))
		i = (i + 1) & (c->cap - 1);
	return i;
}

static ustate *user_get(db_cache *c, int64_t uid, int add)
{
	for (size_t i = 0; i < NUSERS; i++)
		if (c->users[i].uid == uid)
			return &c->users[i];
	if (!add)
		return NULL;
	for (size_t i = 0; i < NUSERS; i++)
		if (c->users[i].uid == 0) {
			c->users[i].uid = uid;
			return &c->users[i];
		}
	/*
	 * Full: replace one, round robin, preferring one that holds nothing
	 * (a copy or a key filter costs a scan of the model to get back: the
	 * global model's must survive a server's many users).
	 */
	ustate *u = NULL;

	for (size_t i = 0; i < NUSERS && u == NULL; i++) {
		ustate *v = &c->users[(c->next_user + i) % NUSERS];

		if (!whole(v) && v->filt == NULL && !v->loading && !v->pinned)
			u = v;
	}
	/* else one not being loaded (its loader would find a stranger) */
	for (size_t i = 0; i < NUSERS && u == NULL; i++) {
		ustate *v = &c->users[(c->next_user + i) % NUSERS];

		if (!v->loading && !v->pinned)
			u = v;
	}
	/* else one not pinned: a commit is working on its copy */
	for (size_t i = 0; i < NUSERS && u == NULL; i++) {
		ustate *v = &c->users[(c->next_user + i) % NUSERS];

		if (!v->pinned)
			u = v;
	}
	if (u == NULL)
		return NULL;
	c->next_user = (size_t)(u - c->users) + 1;
	user_forget(c, u);
	u->uid = uid;
	return u;
}

/*
 * Empty the cache. The table goes back to its first size: what it grew to
 * would otherwise keep from the copies for good the memory they share (a
 * global model that another process's training made the cache read again
 * would no longer fit whole). It grows again with use.
 */
static void clear(db_cache *c)
{
	size_t cap0 = c->cap_max < CAP_START ? c->cap_max : CAP_START;
	cent *ns = c->cap > cap0 ? calloc(cap0, sizeof(*ns)) : NULL;

	if (ns != NULL) {
		free(c->slots);
		c->slots = ns;
		c->cap = cap0;
		c->shift = 64 - log2_of(cap0);
		c->max = cap0 / 10 * 7;
	} else
		memset(c->slots, 0, c->cap * sizeof(*c->slots));
	users_forget(c);
	c->n = 0;
	c->st.clears++;
}

/* Remove the entry in slot i, shifting the entries after it back. */
static void del_slot(db_cache *c, size_t i)
{
	size_t j = i;

	c->slots[i].uid = 0;
	c->slots[i].ref = 0;
	c->n--;
	for (;;) {
		size_t home;

		j = (j + 1) & (c->cap - 1);
		if (c->slots[j].uid == 0)
			return;
		home = slot_of(c, c->slots[j].uid, c->slots[j].hash);
		/* Move j back to i when i lies cyclically in [home, j). */
		if ((j > i && (home <= i || home > j)) ||
		    (j < i && (home <= i && home > j))) {
			c->slots[i] = c->slots[j];
			c->slots[j].uid = 0;
			c->slots[j].ref = 0;
			i = j;
		}
	}
}

static uint32_t sat(int64_t v)
{
	return v < 0 ? 0 : v > (int64_t)COUNT_MAX ? COUNT_MAX : (uint32_t)v;
}

/* log2 of the directory's entries for a copy of n tokens. */
static int dir_bits(size_t n)
{
	int k = 0;

	/* about eight tokens a directory entry */
	while (((size_t)16 << k) <= n)
		k++;
	return k;
}

/* Bytes of a compact copy of n tokens: the tokens and the directory. */
static size_t copy_bytes(size_t n)
{
	return n * sizeof(sent) + (((size_t)1 << dir_bits(n)) + 1) *
	    sizeof(uint32_t);
}

/*
 * Bytes copies may add now: the room less the table as it is and the
 * copies; a new copy (fresh) also leaves a quarter of the room to the
 * table, a copy that grows by its own commits does not (it only loses
 * what the table took since).
 */
static size_t copy_room(const db_cache *c, int fresh)
{
	size_t used = c->cap * sizeof(cent) + c->copy_used +
	    (fresh ? c->room / 4 : 0);

	return used < c->room ? c->room - used : 0;
}

/* The directory entry of key. */
static size_t copy_bucket(const ustate *u, uint64_t key)
{
	return u->dbits > 0 ? (size_t)(key >> (64 - u->dbits)) : 0;
}

/* Build u's directory for its ncopy tokens (dir sized by copy_bytes). */
static void copy_index(ustate *u)
{
	size_t nb = (size_t)1 << u->dbits, i = 0;

	for (size_t b = 0; b < nb; b++) {
		while (i < u->ncopy && copy_bucket(u, u->copy[i].key) < b)
			i++;
		u->dir[b] = (uint32_t)i;
	}
	u->dir[nb] = (uint32_t)u->ncopy;
}

/* Size u's directory for ncopy tokens; 0 or -ENOMEM (then it is unchanged). */
static int copy_dir(ustate *u)
{
	int bits = dir_bits(u->ncopy);
	uint32_t *d = u->dir;

	if (d == NULL || bits != u->dbits) {
		d = malloc((((size_t)1 << bits) + 1) * sizeof(*d));
		if (d == NULL)
			return -ENOMEM;
		free(u->dir);
		u->dir = d;
		u->dbits = bits;
	}
	copy_index(u);
	return 0;
}

/* The index of key in u's copy, or ncopy when it is not there. */
static size_t copy_find(const ustate *u, uint64_t key)
{
	size_t b = copy_bucket(u, key);
	size_t lo = u->dir[b], hi = u->dir[b + 1];

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (u->copy[mid].key < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < u->dir[b + 1] && u->copy[lo].key == key ? lo : u->ncopy;
}

static int sent_cmp(const void *a, const void *b)
{
	uint64_t x = ((const sent *)a)->key, y = ((const sent *)b)->key;

	return x < y ? -1 : x > y;
}

/* A changed token new to a copy, in the order the commit changed it. */
typedef struct newtok {
	uint64_t key;
	size_t order;           /* index in the commit's rows */
	int64_t spam, innocent; /* deltas */
} newtok;

static int newtok_cmp(const void *a, const void *b)
{
	const newtok *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/*
 * A copy that cannot take its new tokens (memory): it becomes the model's
 * key filter (its keys and the new ones), or, without room for that, is
 * only dropped. Either way the model is no longer complete and is not read
 * whole again (noload) until the cache is emptied.
 */
static void copy_to_filter(db_cache *c, ustate *u, const newtok *nw, size_t nn)
{
	size_t bits = u->filt == NULL ? filt_room(c) : 0, nkeys = u->ncopy + nn;
	uint64_t *f = bits ? calloc(bits / 64, sizeof(*f)) : NULL;

	if (f != NULL) {
		for (size_t i = 0; i < u->ncopy; i++)
			filt_add(f, bits, u->uid, u->copy[i].key ^ SIGN_BIT);
		for (size_t i = 0; i < nn; i++)
			filt_add(f, bits, u->uid, nw[i].key ^ SIGN_BIT);
		if ((bits = filt_fold(&f, bits, nkeys)) > 0)
			filt_install(c, u, f, bits);
		else
			free(f);
	}
	copy_free(c, u);
	u->noload = 1;
	u->misses = 0;
}

/*
 * A commit's changes to one model held whole, worked out by copy_prep
 * without the cache's lock and put in by copy_install under it. Tokens the
 * copy lacks make a new, merged copy (for that while, the old copy and the
 * new one both take memory); the copy and its directory are read, never
 * written, meanwhile.
 */
typedef struct cupd {
	size_t k;               /* index in the copy (the merged one if made) */
	int64_t spam, innocent; /* deltas */
} cupd;

typedef struct cprep {
	ustate *u;              /* the model (pinned while prepared) */
	newtok *nw;             /* tokens new to it, summed, in key order */
	size_t add;             /* how many */
	cupd *upd;              /* changes of tokens it has, in commit order */
	size_t nupd;
	sent *copy;             /* the merged copy (add > 0), its changes in */
	uint32_t *dir;          /* and its directory */
	int dbits;
	size_t room;            /* bytes the copy may grow by (copy_room when
	                           pinned: a copy that outgrows it is not made) */
	int nomem;              /* 1: the new tokens are unknown; 2: the merged
	                           copy was not made (memory, or no room) */
} cprep;

/* Apply one change to a copy's token (the backends' max(count + delta, 0)). */
static void cupd_apply(sent *e, const cupd *d)
{
	e->spam = sat((int64_t)e->spam + d->spam);
	e->innocent = sat((int64_t)e->innocent + d->innocent);
}

/* Prepare the rows of u's user in rows[0..n) for copy_install. */
static void copy_prep(const ustate *u, const db_tokadd *rows, size_t n,
    cprep *p)
{
	size_t nn = 0, cap = 0, ucap = 0;

	for (size_t i = 0; i < n; i++) {
		const db_tokadd *r = &rows[i];
		size_t k;

		if (r->uid != u->uid)
			continue;
		k = copy_find(u, r->hash ^ SIGN_BIT);
		if (k < u->ncopy) {
			if (p->nupd == ucap) {
				size_t ncap = ucap ? ucap * 2 : 1024;
				cupd *t = realloc(p->upd, ncap * sizeof(*t));

				if (t == NULL)
					goto nomem;
				p->upd = t;
				ucap = ncap;
			}
			p->upd[p->nupd++] = (cupd){ k, r->spam, r->innocent };
			continue;
		}
		if (nn == cap) {
			size_t ncap = cap ? cap * 2 : 1024;
			newtok *t = realloc(p->nw, ncap * sizeof(*t));

			if (t == NULL)
				goto nomem;
			p->nw = t;
			cap = ncap;
		}
		p->nw[nn++] = (newtok){ r->hash ^ SIGN_BIT, i, r->spam, r->innocent };
	}
	if (nn == 0)
		return;
	/* Each new token's changes, in order (counts start at 0). */
	qsort(p->nw, nn, sizeof(*p->nw), newtok_cmp);
	for (size_t i = 0; i < nn; ) {
		int64_t sp = 0, in = 0;
		uint64_t key = p->nw[i].key;

		for (; i < nn && p->nw[i].key == key; i++) {
			sp = sat(sp + p->nw[i].spam);
			in = sat(in + p->nw[i].innocent);
		}
		if (sp > 0 || in > 0)     /* else absent, as it was */
			p->nw[p->add++] = (newtok){ key, 0, sp, in };
	}
	if (p->add == 0)
		return;
	{
		ustate m = { 0 };
		size_t i = 0, j = 0, o = 0;

		m.ncopy = u->ncopy + p->add;
		if (copy_bytes(m.ncopy) - u->cbytes > p->room) {
			p->nomem = 2;   /* (copy_install checks again) */
			return;
		}
		m.dbits = dir_bits(m.ncopy);
		m.copy = malloc(m.ncopy * sizeof(*m.copy));
		m.dir = malloc((((size_t)1 << m.dbits) + 1) * sizeof(*m.dir));
		if (m.copy == NULL || m.dir == NULL) {
			free(m.copy);
			free(m.dir);
			p->nomem = 2;
			return;
		}
		/* Merge the new tokens into the sorted copy. */
		while (o < m.ncopy) {
			if (j < p->add && (i == u->ncopy ||
			    p->nw[j].key < u->copy[i].key)) {
				m.copy[o++] = (sent){ p->nw[j].key,
				    (uint32_t)p->nw[j].spam,
				    (uint32_t)p->nw[j].innocent };
				j++;
			} else
				m.copy[o++] = u->copy[i++];
		}
		copy_index(&m);
		/* The changes of tokens it had, in order, on the merged copy. */
		for (size_t q = 0; q < p->nupd; q++)
			cupd_apply(&m.copy[copy_find(&m, u->copy[p->upd[q].k].key)],
			    &p->upd[q]);
		p->nupd = 0;
		p->copy = m.copy;
		p->dir = m.dir;
		p->dbits = m.dbits;
	}
	return;
nomem:
	p->nomem = 1;
}

/*
 * Put p in its model (under the lock): the changes in place, or the merged
 * copy in place of the old one (which p then holds, for copy_prep_free);
 * a copy that outgrows the room becomes the model's key filter.
 */
static void copy_install(db_cache *c, cprep *p)
{
	ustate *u = p->u;

	if (p->nomem == 1) {
		/* (not a filter: it would lack this commit's new keys) */
		copy_free(c, u);
		u->noload = 1;
		return;
	}
	for (size_t q = 0; q < p->nupd; q++)
		cupd_apply(&u->copy[p->upd[q].k], &p->upd[q]);
	if (p->add == 0)
		return;
	{
		size_t nb = copy_bytes(u->ncopy + p->add);
		sent *oc = u->copy;
		uint32_t *od = u->dir;

		if (p->nomem || nb - u->cbytes > copy_room(c, 0)) {
			copy_to_filter(c, u, p->nw, p->add);
			return;
		}
		u->copy = p->copy;
		u->dir = p->dir;
		u->dbits = p->dbits;
		u->ncopy += p->add;
		c->copy_used += nb - u->cbytes;
		u->cbytes = nb;
		p->copy = oc;
		p->dir = od;
	}
}

static void copy_prep_free(cprep *p)
{
	free(p->nw);
	free(p->upd);
	free(p->copy);
	free(p->dir);
}

/*
 * Drop one entry near slot `at` (where a new entry is going), a second
 * chance in the neighbourhood: the first of the next EVICT_SCAN entries
 * whose reference bit is clear, clearing the bits it passes, else the first
 * of them. (Models loaded whole are in their copies, not here.)
 *
 * Not a clock sweeping the table: evicting behind a moving hand while new
 * entries land anywhere left the table densest just ahead of the hand, and
 * linear probing there took hundreds of milliseconds per message (seen in
 * the milter at 8 MiB). Evicting where the entry is inserted keeps the
 * density even.
 */
#define EVICT_SCAN 8

static void evict_near(db_cache *c, size_t at)
{
	size_t i = at, victim = c->cap;

	for (int seen = 0; seen < EVICT_SCAN; i = (i + 1) & (c->cap - 1)) {
		if (c->slots[i].uid == 0)
			continue;
		if (victim == c->cap)
			victim = i;
		if (!c->slots[i].ref) {
			victim = i;
			break;
		}
		c->slots[i].ref = 0;
		seen++;
	}
	del_slot(c, victim);
	c->st.evictions++;
}

/* Make the table ncap slots (more than now, at most the bound allows);
 * 0 or -ENOMEM (then it stays). */
static int resize(db_cache *c, size_t ncap)
{
	size_t ocap = c->cap;
	cent *old = c->slots, *ns;

	/* the copies keep what they have */
	if (ncap > c->cap_max || ncap * sizeof(cent) + c->copy_used > c->room)
		return -ENOMEM;
	if ((ns = calloc(ncap, sizeof(*ns))) == NULL)
		return -ENOMEM;
	c->slots = ns;
	c->cap = ncap;
	c->shift = 64 - log2_of(ncap);
	c->max = ncap / 10 * 7;
	for (size_t i = 0; i < ocap; i++)
		if (old[i].uid != 0)
			c->slots[find(c, old[i].uid, old[i].hash)] = old[i];
	free(old);
	return 0;
}

/* Double the table when the bound allows. */
static int grow(db_cache *c)
{
	return resize(c, c->cap * 2);
}

/* Set (uid, h) to the given counts, making room when full. */
static void put(db_cache *c, int64_t uid, uint64_t h, int64_t spam,
    int64_t innocent)
{
	size_t i = find(c, uid, h);

	if (c->slots[i].uid == 0) {
		if (c->n >= c->max) {
			if (grow(c) < 0)
				evict_near(c, slot_of(c, uid, h));
			i = find(c, uid, h);
		}
		c->slots[i].uid = uid;
		c->slots[i].hash = h;
		c->n++;
	}
	c->slots[i].spam = sat(spam);
	c->slots[i].innocent = sat(innocent);
	c->slots[i].ref = 1;
}

db_cache *db_cache_new(size_t max_bytes)
{
	db_cache *c;
	size_t per = sizeof(cent), cap_max = 64, cap, fbits = 512;

	if (max_bytes < 4096)
		return NULL;
	/* The key filter's share first (bits = 8 x bytes), the table after. */
	while (fbits * 2 <= max_bytes / FILT_SHARE * 8)
		fbits *= 2;
	while (cap_max * 2 * per <= max_bytes - fbits / 8)
		cap_max *= 2;
	cap = cap_max < CAP_START ? cap_max : CAP_START;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->slots = calloc(cap, sizeof(*c->slots));
	if (c->slots == NULL || pthread_mutex_init(&c->mu, NULL) != 0) {
		free(c->slots);
		free(c);
		return NULL;
	}
	if (pthread_cond_init(&c->merged, NULL) != 0) {
		pthread_mutex_destroy(&c->mu);
		free(c->slots);
		free(c);
		return NULL;
	}
	c->cap = cap;
	c->shift = 64 - log2_of(cap);
	c->seed = db_seed();
	c->cap_max = cap_max;
	c->max = cap / 10 * 7;
	c->filt_budget = fbits;
	c->room = max_bytes - fbits / 8;
	return c;
}

void db_cache_free(db_cache *c)
{
	if (c == NULL)
		return;
	pthread_cond_destroy(&c->merged);
	pthread_mutex_destroy(&c->mu);
	users_forget(c);
	free(c->slots);
	free(c);
}

void db_cache_stats_get(db_cache *c, db_cache_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	*out = c->st;
	out->entries = c->n;
	for (size_t i = 0; i < NUSERS; i++)
		out->whole_tokens += c->users[i].ncopy;
	out->entries += out->whole_tokens;
	out->max_entries = c->cap_max / 10 * 7;
	out->bytes = c->cap * sizeof(cent) + c->filt_used / 8 + c->copy_used;
	pthread_mutex_unlock(&c->mu);
}

/*
 * Bring the cache to generation gen (emptying it) when gen is newer. Returns
 * 0 when the cache may answer for gen, -1 when gen is older than the cache
 * (a reader that read the generation just before a commit the cache has
 * already followed) or the generation an attached handle is committing
 * right now (its changes reach the cache in a moment: emptying it would
 * throw away what they update), or any other while a commit works on copies
 * outside the lock: that lookup bypasses the cache. Generations only grow,
 * except when the store file is replaced by an older copy: after many older
 * lookups in a row the cache follows that too.
 */
static int at_gen(db_cache *c, uint64_t gen)
{
	if (c->have_gen && c->gen == gen) {
		c->behind = 0;
		return 0;
	}
	if (c->merging)
		return -1;
	if (c->have_gen && gen < c->gen && ++c->behind < 1000)
		return -1;
	if (c->have_gen && c->inflight != 0 && gen == c->inflight)
		return -1;
	if (c->n > 0 || c->have_gen)
		clear(c);
	c->gen = gen;
	c->have_gen = 1;
	c->behind = 0;
	return 0;
}

size_t db_cache_lookup(db_cache *c, uint64_t gen, int64_t uid, db_token *toks,
    size_t n, unsigned char *hit, int *load)
{
	size_t nmiss = 0;
	ustate *u;

	pthread_mutex_lock(&c->mu);
	if (at_gen(c, gen) < 0) {
		memset(hit, 0, n);
		c->st.misses += n;
		*load = 0;
		pthread_mutex_unlock(&c->mu);
		return n;
	}
	u = user_get(c, uid, 1);
	if (u != NULL && whole(u)) {
		for (size_t i = 0; i < n; i++) {
			size_t k;

			/* A lookup is a directory entry, then a few tokens: ask
			 * for the first a few lookups ahead, the second after. */
			if (i + 2 * PREFETCH < n)
				__builtin_prefetch(&u->dir[copy_bucket(u,
				    toks[i + 2 * PREFETCH].hash ^ SIGN_BIT)]);
			if (i + PREFETCH < n && u->ncopy > 0)
				__builtin_prefetch(&u->copy[u->dir[copy_bucket(u,
				    toks[i + PREFETCH].hash ^ SIGN_BIT)]]);
			k = copy_find(u, toks[i].hash ^ SIGN_BIT);

			if (k < u->ncopy) {
				toks[i].spam_hits = u->copy[k].spam;
				toks[i].innocent_hits = u->copy[k].innocent;
			} else
				toks[i].spam_hits = toks[i].innocent_hits = 0;
			hit[i] = 1;
		}
		c->st.hits += n;
		*load = 0;
		pthread_mutex_unlock(&c->mu);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		size_t k;

		/* The table is far larger than the CPU caches: ask for the
		 * slots a few tokens ahead while probing this one. */
		if (i + PREFETCH < n)
			__builtin_prefetch(&c->slots[slot_of(c, uid,
			    toks[i + PREFETCH].hash)]);
		k = find(c, uid, toks[i].hash);
		if (c->slots[k].uid != 0) {
			toks[i].spam_hits = c->slots[k].spam;
			toks[i].innocent_hits = c->slots[k].innocent;
			c->slots[k].ref = 1;
			hit[i] = 1;
		} else if (u != NULL && u->filt != NULL &&
		    !filt_maybe(u->filt, u->fbits, uid, toks[i].hash)) {
			toks[i].spam_hits = toks[i].innocent_hits = 0;
			hit[i] = 1;
			c->st.absent++;
		} else {
			hit[i] = 0;
			nmiss++;
		}
	}
	c->st.hits += n - nmiss;
	c->st.misses += nmiss;
	/* A model that keeps losing entries to eviction is reloaded ever more
	 * rarely: each load reads all of it. */
	*load = 0;
	if (u != NULL) {
		u->misses += nmiss;
		*load = !whole(u) && !u->noload && !u->loading &&
		    u->misses >= (uint64_t)LOAD_AFTER <<
		    (u->loads < 8 ? u->loads : 8);
	}
	pthread_mutex_unlock(&c->mu);
	return nmiss;
}

void db_cache_fill(db_cache *c, uint64_t gen, int64_t uid,
    const db_token *toks, size_t n)
{
	pthread_mutex_lock(&c->mu);
	if (c->have_gen && c->gen == gen)
		for (size_t i = 0; i < n; i++)
			put(c, uid, toks[i].hash, toks[i].spam_hits,
			    toks[i].innocent_hits);
	pthread_mutex_unlock(&c->mu);
}

void db_cache_precommit(db_cache *c, uint64_t from, uint64_t gen)
{
	pthread_mutex_lock(&c->mu);
	c->inflight = gen != 0 && c->have_gen && c->gen == from ? gen : 0;
	pthread_mutex_unlock(&c->mu);
}

void db_cache_commit(db_cache *c, uint64_t from, uint64_t gen,
    const db_tokadd *rows, size_t n, int clr)
{
	cprep prep[NUSERS];
	size_t np = 0;

	memset(prep, 0, sizeof(prep));
	pthread_mutex_lock(&c->mu);
	while (c->merging)
		pthread_cond_wait(&c->merged, &c->mu);
	if (clr || !c->have_gen || c->gen != from) {
		if (c->n > 0)
			clear(c);
		users_forget(c);
	} else {
		/*
		 * The same arithmetic as the backends: max(count + delta, 0).
		 * Models held whole first: merging a commit's new tokens into
		 * a copy rewrites all of it (a user's model grows by about a
		 * hundred tokens a message; at hundreds of thousands of tokens
		 * that took 10-30 ms, seen in the milter, while every session
		 * waited for the lock). So it is done without the lock, on
		 * pinned copies that only this commit changes; meanwhile
		 * lookups at the old generation read them as they are, at the
		 * new one (or any other) bypass the cache, and a load does not
		 * install a copy that this commit would miss.
		 */
		int64_t last = 0;
		ustate *u = NULL;

		for (size_t i = 0; i < n; i++) {
			if (rows[i].uid == last)
				continue;
			last = rows[i].uid;
			for (size_t k = 0; k < NUSERS; k++) {
				ustate *v = &c->users[k];

				if (v->uid == last && whole(v) && !v->pinned) {
					v->pinned = 1;
					prep[np].room = copy_room(c, 0);
					prep[np++].u = v;
				}
			}
		}
		if (np > 0) {
			c->merging = 1;
			pthread_mutex_unlock(&c->mu);
			for (size_t k = 0; k < np; k++)
				copy_prep(prep[k].u, rows, n, &prep[k]);
			pthread_mutex_lock(&c->mu);
		}
		/*
		 * Then the table, under the lock (readers wait: the rows
		 * mostly come sorted by user, so each user's state is looked
		 * up once, and slots are prefetched as in db_cache_lookup),
		 * and the prepared copies (the entries here are older lookups,
		 * kept right for when a copy is dropped).
		 */
		last = 0;
		for (size_t i = 0; i < n; i++) {
			const db_tokadd *r = &rows[i];
			size_t k;

			if (i + PREFETCH < n)
				__builtin_prefetch(&c->slots[slot_of(c,
				    rows[i + PREFETCH].uid, rows[i + PREFETCH].hash)]);
			if (r->uid != last) {
				u = user_get(c, r->uid, 0);
				last = r->uid;
			}
			k = find(c, r->uid, r->hash);

			if (u != NULL && u->filt != NULL && (r->spam > 0 ||
			    r->innocent > 0))
				filt_add(u->filt, u->fbits, r->uid, r->hash);
			if (c->slots[k].uid != 0) {
				c->slots[k].spam = sat((int64_t)c->slots[k].spam +
				    r->spam);
				c->slots[k].innocent = sat(
				    (int64_t)c->slots[k].innocent + r->innocent);
			}
		}
		for (size_t k = 0; k < np; k++) {
			copy_install(c, &prep[k]);
			prep[k].u->pinned = 0;
		}
		c->st.updates++;
	}
	c->gen = gen;
	c->have_gen = 1;
	c->inflight = 0;
	if (c->merging) {
		c->merging = 0;
		pthread_cond_broadcast(&c->merged);
	}
	pthread_mutex_unlock(&c->mu);
	for (size_t k = 0; k < np; k++)
		copy_prep_free(&prep[k]);
}

/* Collected rows of one user's model (db_cache_load). */
typedef struct loadbuf {
	sent *t;                /* rows, as a compact copy */
	size_t n, cap;          /* count and capacity */
	size_t limit;           /* more rows than this: too big to load */
	int over;               /* there were more */
	int sorted;             /* rows came in key order */
	int64_t uid;            /* whose model */
	size_t rows;            /* rows seen */
	size_t fbits;           /* key filter size, 0: none wanted */
	uint64_t *filt;         /* the filter, once the model is too big */
} loadbuf;

static int load_row(void *arg, const db_token *t)
{
	loadbuf *b = arg;
	uint64_t key = t->hash ^ SIGN_BIT;

	b->rows++;
	if (b->n >= b->limit) {
		/* Too big to load: its keys go to a filter, or stop. */
		b->over = 1;
		if (b->fbits == 0)
			return 1;
		if (b->filt == NULL) {
			b->filt = calloc(b->fbits / 64, sizeof(*b->filt));
			if (b->filt == NULL)
				return 1;
			for (size_t i = 0; i < b->n; i++)
				filt_add(b->filt, b->fbits, b->uid,
				    b->t[i].key ^ SIGN_BIT);
			free(b->t);
			b->t = NULL;
			b->cap = 0;
		}
		filt_add(b->filt, b->fbits, b->uid, t->hash);
		return 0;
	}
	if (b->n == b->cap) {
		/* (realloc of a big block remaps it: no copy, and only the
		 * pages written are resident) */
		size_t ncap = b->cap ? b->cap * 2 : 4096;
		sent *nt;

		if (ncap > b->limit)
			ncap = b->limit;
		if ((nt = realloc(b->t, ncap * sizeof(*nt))) == NULL)
			return -ENOMEM;
		b->t = nt;
		b->cap = ncap;
	}
	if (b->n > 0 && b->t[b->n - 1].key >= key)
		b->sorted = 0;
	b->t[b->n++] = (sent){ key, sat(t->spam_hits), sat(t->innocent_hits) };
	return 0;
}

int db_cache_load(db_cache *c, db *d, int64_t uid, uint64_t gen)
{
	loadbuf b = { 0 };
	uint64_t g2;
	ustate *u;
	int rc;

	pthread_mutex_lock(&c->mu);
	/* What the copies' memory has room for (about 16.5 bytes a token). */
	b.limit = copy_room(c, 1) / (sizeof(sent) + 1);
	b.sorted = 1;
	b.uid = uid;
	/*
	 * One load at a time: each buffers up to the copies' room before it is
	 * counted, so concurrent loads of several users would together exceed
	 * the bound. The others read token by token and try again later.
	 */
	if (c->loading || at_gen(c, gen) < 0 ||
	    (u = user_get(c, uid, 1)) == NULL || whole(u) || u->noload ||
	    u->loading) {
		pthread_mutex_unlock(&c->mu);
		return 0;
	}
	b.fbits = u->filt == NULL ? filt_room(c) : 0;
	u->loading = 1;
	c->loading = 1;
	pthread_mutex_unlock(&c->mu);
	/* The scan is read between two generation reads: equal means it saw
	 * the store at gen. */
	rc = d->ops->tokens_iter(d, uid, load_row, &b);
	if (rc == 0)
		rc = d->ops->gen_get(d, &g2);
	pthread_mutex_lock(&c->mu);
	c->loading = 0;
	/* (emptying the cache meanwhile reset the user's state: then the
	 * load is dropped, and no other user's state is given up for it) */
	u = user_get(c, uid, 0);
	if (u != NULL)
		u->loading = 0;
	if (rc < 0 || u == NULL) {
		/*
		 * Out of memory for the load's buffer: the load was only a
		 * shortcut, the caller reads token by token (not again before
		 * another LOAD_AFTER misses). A store error is the caller's.
		 */
		if (rc == -ENOMEM && u != NULL) {
			u->misses = 0;
			rc = 0;
		}
		pthread_mutex_unlock(&c->mu);
		free(b.t);
		free(b.filt);
		return rc;
	}
	if (b.over && b.filt != NULL &&
	    c->have_gen && c->gen == gen && g2 == gen) {
		/* Too big to load whole: its key filter instead. */
		size_t bits = filt_fold(&b.filt, b.fbits, b.rows);

		u->noload = 1;
		if (bits > 0 && u->filt == NULL &&
		    c->filt_used + bits <= c->filt_budget) {
			filt_install(c, u, b.filt, bits);
			b.filt = NULL;
		}
	} else if (b.over && b.filt != NULL) {
		/* The store moved on during the scan: try again later. */
		u->misses = 0;
		u->loads++;
	} else if (b.over) {
		u->noload = 1;
	} else if (c->have_gen && c->gen == gen && g2 == gen && !c->merging &&
	    !whole(u) && !u->noload && copy_bytes(b.n) <= copy_room(c, 1)) {
		sent *t = b.n > 0 ? realloc(b.t, b.n * sizeof(*t)) : b.t;

		if (t != NULL)
			b.t = t;
		if (!b.sorted)
			qsort(b.t, b.n, sizeof(*b.t), sent_cmp);
		u->copy = b.t;
		u->ncopy = b.n;
		if (copy_dir(u) == 0) {
			b.t = NULL;
			u->cbytes = copy_bytes(b.n);
			c->copy_used += u->cbytes;
			c->st.loads++;
			u->loads++;
		} else {
			u->copy = NULL;
			u->ncopy = 0;
		}
		u->misses = 0;
	} else {
		/* The store moved on during the scan: not again before another
		 * LOAD_AFTER misses (each try reads the whole model). */
		u->misses = 0;
	}
	pthread_mutex_unlock(&c->mu);
	free(b.t);
	free(b.filt);
	return 0;
}
