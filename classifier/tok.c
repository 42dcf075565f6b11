/*
 * tok -- token set (open-addressing hash table over 64-bit token hashes) and
 * the token hash. Pure C: no SQLite, libmilter or syslog.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <xxhash.h>

#include "classifier/tok.h"

struct tokset {
	uint64_t *hashes;   /* tokens in insertion order */
	char **texts;       /* token texts, parallel to hashes, or NULL */
	size_t count;       /* tokens in the set */
	size_t cap;         /* allocated length of hashes/texts */
	uint32_t *slots;    /* open-addressing table: index+1 into hashes, 0 = empty */
	size_t nslots;      /* power of two, at least 2 * cap */
	size_t max;         /* cap on distinct tokens */
	size_t dropped;     /* tokens refused at the cap */
	size_t head;        /* leading tokens from the header, or TOKSET_NO_HEAD */
	int keep_text;      /* keep token texts */
	uint64_t seed;      /* mixed into slot indexes (slot_at) */
};

/*
 * Where hash h starts probing. The token hash is public (XXH3 of the
 * text), so a sender could pick words whose hashes share their low bits
 * and make every insert probe the whole run; a random seed per set,
 * mixed through, keeps the index out of the sender's reach.
 */
static size_t slot_at(const tokset *s, uint64_t h)
{
	uint64_t x = h ^ s->seed;

	/* splitmix64's finalizer: every bit of x reaches every bit */
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return (size_t)(x ^ (x >> 31)) & (s->nslots - 1);
}

uint64_t tok_hash(const char *text, size_t len)
{
	return XXH3_64bits(text, len);
}

int tokset_new(size_t max_tokens, int keep_text, tokset **out)
{
	tokset *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (s == NULL)
		return -ENOMEM;
	s->max = max_tokens ? max_tokens : TOKSET_DEFAULT_MAX;
	s->head = TOKSET_NO_HEAD;
	s->keep_text = keep_text;
	if (getrandom(&s->seed, sizeof(s->seed), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(s->seed))
		s->seed = (uint64_t)(uintptr_t)s * 0xbf58476d1ce4e5b9ULL;
	*out = s;
	return 0;
}

void tokset_free(tokset *s)
{
	if (s == NULL)
		return;
	tokset_clear(s);
	free(s->hashes);
	free(s->texts);
	free(s->slots);
	free(s);
}

int tokset_keep_text(tokset *s, int on)
{
	if (s->count != 0)
		return -EBUSY;
	/* grow() sized texts only while texts were kept */
	if (on && !s->keep_text && s->cap > 0) {
		char **t = realloc(s->texts, s->cap * sizeof(*t));

		if (t == NULL)
			return -ENOMEM;
		s->texts = t;
	}
	s->keep_text = on != 0;
	return 0;
}

void tokset_clear(tokset *s)
{
	/* (texts while not kept: NULL entries, fewer than count) */
	if (s->keep_text && s->texts != NULL)
		for (size_t i = 0; i < s->count; i++) {
			free(s->texts[i]);
			s->texts[i] = NULL;
		}
	if (s->slots != NULL && s->count * 8 < s->nslots) {
		/*
		 * A few tokens in a big table (a small message after a large
		 * one): empty just their slots instead of the whole table. In
		 * reverse insertion order, every probe path is still intact
		 * when its entry is looked up (later entries are gone already).
		 */
		for (size_t i = s->count; i > 0; i--) {
			size_t mask = s->nslots - 1;
			size_t k = slot_at(s, s->hashes[i - 1]);

			while (s->slots[k] != (uint32_t)i)
				k = (k + 1) & mask;
			s->slots[k] = 0;
		}
	} else if (s->slots != NULL) {
		memset(s->slots, 0, s->nslots * sizeof(*s->slots));
	}
	s->count = 0;
	s->dropped = 0;
	s->head = TOKSET_NO_HEAD;
}

/* Slot for hash h: where it is, or the empty slot where it would go. */
static size_t slot_of(const tokset *s, uint64_t h)
{
	size_t mask = s->nslots - 1;
	size_t i = slot_at(s, h);

	while (s->slots[i] != 0 && s->hashes[s->slots[i] - 1] != h)
		i = (i + 1) & mask;
	return i;
}

static int grow(tokset *s)
{
	size_t ncap = s->cap ? s->cap * 2 : 256;
	size_t nslots = ncap * 2;
	uint64_t *h;
	uint32_t *slots;

	h = realloc(s->hashes, ncap * sizeof(*h));
	if (h == NULL)
		return -ENOMEM;
	s->hashes = h;
	if (s->keep_text) {
		char **t = realloc(s->texts, ncap * sizeof(*t));

		if (t == NULL)
			return -ENOMEM;
		s->texts = t;
	}
	slots = calloc(nslots, sizeof(*slots));
	if (slots == NULL)
		return -ENOMEM;
	free(s->slots);
	s->slots = slots;
	s->nslots = nslots;
	s->cap = ncap;
	for (size_t i = 0; i < s->count; i++)
		s->slots[slot_of(s, s->hashes[i])] = (uint32_t)(i + 1);
	return 0;
}

static int add(tokset *s, uint64_t h, const char *text, size_t len)
{
	size_t slot;

	if (s->count == s->cap) {
		if (s->count >= s->max) {
			if (tokset_find(s, h) < 0)
				s->dropped++;
			return 0;
		}
		if (grow(s) < 0)
			return -ENOMEM;
	}
	slot = slot_of(s, h);
	if (s->slots[slot] != 0)
		return 0;
	if (s->count >= s->max) {
		s->dropped++;
		return 0;
	}
	if (s->keep_text) {
		char *t = NULL;

		if (text != NULL) {
			t = malloc(len + 1);
			if (t == NULL)
				return -ENOMEM;
			memcpy(t, text, len);
			t[len] = '\0';
		}
		s->texts[s->count] = t;
	}
	s->hashes[s->count] = h;
	s->slots[slot] = (uint32_t)(++s->count);
	return 1;
}

int tokset_add(tokset *s, const char *text, size_t len)
{
	return add(s, tok_hash(text, len), text, len);
}

int tokset_add_hash(tokset *s, uint64_t hash)
{
	return add(s, hash, NULL, 0);
}

size_t tokset_count(const tokset *s)
{
	return s->count;
}

uint64_t tokset_hash(const tokset *s, size_t i)
{
	return s->hashes[i];
}

const char *tokset_text(const tokset *s, size_t i)
{
	return s->keep_text ? s->texts[i] : NULL;
}

long tokset_find(const tokset *s, uint64_t h)
{
	size_t slot;

	if (s->nslots == 0)
		return -1;
	slot = slot_of(s, h);
	return s->slots[slot] ? (long)s->slots[slot] - 1 : -1;
}

size_t tokset_dropped(const tokset *s)
{
	return s->dropped;
}

size_t tokset_max(const tokset *s)
{
	return s->max;
}

int tokset_keeps_text(const tokset *s)
{
	return s->keep_text;
}

void tokset_mark_head(tokset *s)
{
	s->head = s->count;
}

size_t tokset_head(const tokset *s)
{
	return s->head;
}
