/*
 * fileset -- files by device and inode (see fileset.h): an open-addressing
 * hash table with linear probing, doubled at three quarters full.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "cli/fileset.h"

#define FILESET_MIN 256 /* slots of a new set (a power of two) */

/* One slot: a file, or free. */
struct slot {
	uint64_t dev;           /* st_dev */
	uint64_t ino;           /* st_ino */
	int tag;                /* the caller's tag from fileset_add */
	int used;               /* the slot holds a file */
};

struct fileset {
	struct slot *slot;      /* cap slots */
	size_t cap;             /* a power of two */
	size_t n;               /* used slots */
};

/* splitmix64's finalizer: inode numbers are dense, the low bits must mix. */
static size_t hash(uint64_t dev, uint64_t ino)
{
	uint64_t x = ino ^ (dev * 0x9e3779b97f4a7c15u);

	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
	return (size_t)(x ^ (x >> 31));
}

/* The slot of (dev, ino), or the free one where it would go. */
static struct slot *find(const fileset *s, uint64_t dev, uint64_t ino)
{
	size_t i = hash(dev, ino) & (s->cap - 1);

	while (s->slot[i].used && (s->slot[i].dev != dev || s->slot[i].ino != ino))
		i = (i + 1) & (s->cap - 1);
	return &s->slot[i];
}

int fileset_new(fileset **out)
{
	fileset *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (s == NULL || (s->slot = calloc(FILESET_MIN, sizeof(*s->slot))) == NULL) {
		free(s);
		return -ENOMEM;
	}
	s->cap = FILESET_MIN;
	*out = s;
	return 0;
}

void fileset_free(fileset *s)
{
	if (s == NULL)
		return;
	free(s->slot);
	free(s);
}

static int grow(fileset *s)
{
	fileset ns = { NULL, s->cap * 2, 0 };

	if (ns.cap < s->cap || (ns.slot = calloc(ns.cap, sizeof(*ns.slot))) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < s->cap; i++)
		if (s->slot[i].used)
			*find(&ns, s->slot[i].dev, s->slot[i].ino) = s->slot[i];
	ns.n = s->n;
	free(s->slot);
	*s = ns;
	return 0;
}

int fileset_add(fileset *s, dev_t dev, ino_t ino, int tag, int *first)
{
	struct slot *e = find(s, (uint64_t)dev, (uint64_t)ino);

	if (e->used) {
		if (first != NULL)
			*first = e->tag;
		return 0;
	}
	/* Three quarters full at most: probes stay short. */
	if ((s->n + 1) * 4 > s->cap * 3) {
		if (grow(s) < 0)
			return -ENOMEM;
		e = find(s, (uint64_t)dev, (uint64_t)ino);
	}
	e->dev = (uint64_t)dev;
	e->ino = (uint64_t)ino;
	e->tag = tag;
	e->used = 1;
	s->n++;
	return 1;
}
