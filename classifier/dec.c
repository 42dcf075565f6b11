/*
 * dec -- streaming base64 and quoted-printable decoders (see dec.h).
 * Pure C: no allocation, no I/O.
 */
#include "config.h"

#include "classifier/dec.h"

/* Sextet value of a base64 character, or 64 for any other byte. */
static const unsigned char b64val[256] = {
#define X 64
	X,X,X,X,X,X,X,X,X,X,X,X,X,X,X,X, X,X,X,X,X,X,X,X,X,X,X,X,X,X,X,X,
	X,X,X,X,X,X,X,X,X,X,X,62,X,X,X,63, 52,53,54,55,56,57,58,59,60,61,X,X,X,X,X,X,
	X,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14, 15,16,17,18,19,20,21,22,23,24,25,X,X,X,X,X,
	X,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40, 41,42,43,44,45,46,47,48,49,50,51,X,X,X,X,X,
	X,X,X,X,X,X,X,X,X,X,X,X,X,X,X,X, X,X,X,X,X,X,X,X,X,X,X,X,X,X,X,X,
	X,X,X,X,X,X,X,X,X,X,X,X,X,X,X,X, X,X,X,X,X,X,X,X,X,X,X,X,X,X,X,X,
	X,X,X,X,X,X,X,X,X,X,X,X,X,X,X,X, X,X,X,X,X,X,X,X,X,X,X,X,X,X,X,X,
	X,X,X,X,X,X,X,X,X,X,X,X,X,X,X,X, X,X,X,X,X,X,X,X,X,X,X,X,X,X,X,X,
#undef X
};

/*
 * State layout: bits 0-1 = sextets pending (0-3), bits 8-25 = their bits.
 */
size_t dec_b64(uint32_t *state, const char *in, size_t len, unsigned char *out)
{
	uint32_t n = *state & 3, acc = *state >> 8;
	unsigned char *o = out;

	for (size_t i = 0; i < len; i++) {
		unsigned v = b64val[(unsigned char)in[i]];

		if (v == 64) {
			/*
			 * Padding ends a group: a body encoded line by line
			 * ("SGk=\nVGhlcmU=") goes on aligned after it, where
			 * the next sextets read shifted gave garbage.
			 */
			if (in[i] == '=' && n > 0) {
				*state = (acc << 8) | n;
				o += dec_b64_end(state, o);
				n = 0;
				acc = 0;
			}
			continue;
		}
		acc = (acc << 6) | v;
		if (++n == 4) {
			*o++ = (unsigned char)(acc >> 16);
			*o++ = (unsigned char)(acc >> 8);
			*o++ = (unsigned char)acc;
			n = 0;
			acc = 0;
		}
	}
	*state = (acc << 8) | n;
	return (size_t)(o - out);
}

size_t dec_b64_end(uint32_t *state, unsigned char *out)
{
	uint32_t n = *state & 3, acc = *state >> 8;

	*state = 0;
	if (n == 2) {
		out[0] = (unsigned char)(acc >> 4);
		return 1;
	}
	if (n == 3) {
		out[0] = (unsigned char)(acc >> 10);
		out[1] = (unsigned char)(acc >> 2);
		return 2;
	}
	return 0;
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * State: 0 = plain; 1 = after '='; 2 = after '=' and a hex digit (bits 8-15
 * hold the digit character).
 */
size_t dec_qp(uint32_t *state, const char *in, size_t len, int eol,
	unsigned char *out)
{
	uint32_t st = *state & 0xff, first = (*state >> 8) & 0xff;
	unsigned char *o = out;
	size_t i = 0;

	while (i < len) {
		unsigned char c = (unsigned char)in[i];

		if (st == 0) {
			/* Fast path: copy the run up to the next '='. */
			size_t j = i;

			while (j < len && in[j] != '=')
				j++;
			for (size_t k = i; k < j; k++)
				*o++ = (unsigned char)in[k];
			i = j;
			if (i < len) {
				st = 1;
				i++;
			}
			continue;
		}
		if (st == 1) {
			if (hexval(c) >= 0) {
				first = c;
				st = 2;
			} else if (c == ' ' || c == '\t') {
				/* "=  " before the line end: still a soft break */
				i++;
				continue;
			} else {
				*o++ = '=';
				st = 0;
				continue;
			}
			i++;
			continue;
		}
		/* st == 2 */
		if (hexval(c) >= 0) {
			*o++ = (unsigned char)(hexval((unsigned char)first) * 16 + hexval(c));
			i++;
		} else {
			*o++ = '=';
			*o++ = (unsigned char)first;
		}
		st = 0;
	}
	if (eol) {
		if (st == 2) {
			*o++ = '=';
			*o++ = (unsigned char)first;
			*o++ = '\n';
		} else if (st == 0) {
			*o++ = '\n';
		}
		/* st == 1: soft line break, nothing */
		st = 0;
	}
	*state = st | (first << 8);
	return (size_t)(o - out);
}
