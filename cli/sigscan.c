/*
 * sigscan -- signature marks in text given in pieces (see sigscan.h).
 *
 * Each piece is scanned after the last MARK_LEN - 1 bytes of the one
 * before (the tail): a mark that starts in the tail is complete only with
 * bytes of this piece. Every position is tried once as a mark's start:
 * one that cannot hold a whole mark yet (the last MARK_LEN - 1 bytes) is
 * kept as the next tail, and tried there, or at the end of the text.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/sigscan.h"

#define MARK SIGSCAN_MARK
#define MARK_PRE (sizeof(MARK) - 1)     /* "!spamsift:" */
/* A mark and the byte after its id (which must not be a digit too). */
#define MARK_LEN (MARK_PRE + 32 + 1)
#define PIECE 4096                      /* text bytes scanned at a time */

struct sigscan {
	char (*ring)[33];       /* the last max ids found, oldest overwritten */
	size_t max;             /* ring slots */
	size_t found;           /* ids found since the reset (may pass max) */
	size_t ntail;           /* bytes of buf kept from the last piece */
	char buf[MARK_LEN - 1 + PIECE]; /* the tail, then the piece */
};

int sigscan_id_at(const char *p, const char *end, char id[33])
{
	size_t k;

	if (end - p < 32)
		return 0;
	for (k = 0; k < 32 && isxdigit((unsigned char)p[k]); k++)
		id[k] = (char)tolower((unsigned char)p[k]);
	if (k < 32 || (p + 32 < end && isxdigit((unsigned char)p[32])))
		return 0;
	id[32] = '\0';
	return 1;
}

int sigscan_new(size_t max, sigscan **out)
{
	sigscan *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (s == NULL || max == 0 ||
	    (s->ring = calloc(max, sizeof(*s->ring))) == NULL) {
		free(s);
		return -ENOMEM;
	}
	s->max = max;
	*out = s;
	return 0;
}

void sigscan_free(sigscan *s)
{
	if (s == NULL)
		return;
	free(s->ring);
	free(s);
}

void sigscan_reset(sigscan *s)
{
	s->found = 0;
	s->ntail = 0;
}

/* Try the starts buf[0..upto) for marks whose bytes end by buf + len. */
static void scan(sigscan *s, size_t upto, size_t len)
{
	const char *p = s->buf, *stop = s->buf + upto, *end = s->buf + len;
	char id[33];

	while (p < stop && (p = memchr(p, '!', (size_t)(stop - p))) != NULL) {
		if ((size_t)(end - p) > MARK_PRE && memcmp(p, MARK, MARK_PRE) == 0 &&
		    sigscan_id_at(p + MARK_PRE, end, id))
			memcpy(s->ring[s->found++ % s->max], id, sizeof(id));
		p++;
	}
}

void sigscan_feed(sigscan *s, const char *text, size_t n)
{
	if (n == 0) {   /* the end: what is left can only end here */
		scan(s, s->ntail, s->ntail);
		s->ntail = 0;
		return;
	}
	while (n > 0) {
		size_t take = n < PIECE ? n : PIECE, len, keep;

		memcpy(s->buf + s->ntail, text, take);
		len = s->ntail + take;
		keep = len < MARK_LEN - 1 ? len : MARK_LEN - 1;
		scan(s, len - keep, len);
		memmove(s->buf, s->buf + len - keep, keep);
		s->ntail = keep;
		text += take;
		n -= take;
	}
}

size_t sigscan_take(const sigscan *s, char (*ids)[33], size_t n, size_t max)
{
	size_t oldest = s->found > s->max ? s->found - s->max : 0;

	for (size_t k = s->found; k > oldest && n < max; k--) {
		const char *id = s->ring[(k - 1) % s->max];
		size_t i;

		for (i = 0; i < n && strcmp(ids[i], id) != 0; i++)
			;
		if (i == n)
			memcpy(ids[n++], id, 33);
	}
	return n;
}
