/*
 * words -- streaming word tokenizer (see words.h for the rules).
 * Pure C: no SQLite, libmilter or syslog. No allocation after words_new.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "classifier/url.h"
#include "classifier/words.h"

#define URL_MAX 1024 /* bytes of a plain-text URL kept */
#define HIST 4       /* previous words kept for pairs (OSB window 5) */

enum { C_SEP, C_WORD, C_DIGIT, C_INNER, C_DOLLAR, C_COLON, C_HIGH };

/*
 * After a scheme's ':', what it waits for to be a URL (the scheme is still
 * the word, flushed as one when anything else follows).
 */
enum {
	SCHEME_NONE,
	SCHEME_SLASH1,  /* "http:": the first '/' */
	SCHEME_SLASH2,  /* "http:/": the second */
	SCHEME_ADDR     /* "mailto:": an address's first character */
};

struct words {
	tokset *out;            /* borrowed destination */
	int err;                /* sticky error */
	size_t maxlen;          /* longest word kept */
	int chained;            /* adjacent pairs */
	int osb;                /* sparse bigrams */
	size_t plen;            /* prefix length */
	size_t wlen;            /* word length so far (may exceed maxlen) */
	int digits;             /* the word so far is all digits */
	unsigned char u8[4];    /* UTF-8 sequence being read */
	int u8n;                /* its bytes read */
	int u8need;             /* its length, 0 = none */
	int in_url;             /* reading a URL */
	int scheme;             /* the word is a scheme and ':' followed: SCHEME_* */
	size_t ulen;            /* bytes in url */
	unsigned hcount;        /* words seen since words_begin */
	unsigned short hlen[HIST]; /* lengths in hist */
	char hist[HIST][WORDS_MAXLEN]; /* ring of the last words */
	char tok[WORDS_PREFIXMAX + WORDS_MAXLEN + 8]; /* prefix + current word */
	char url[URL_MAX];      /* URL being read */
};

static unsigned char cls[256];
static unsigned char fold[256];
static unsigned char urlc[256]; /* ASCII allowed in a plain-text URL */

/* Build the tables, once per process (pthread_once: thread-safe). */
static void build_tables(void)
{
	for (int c = 0; c < 256; c++) {
		fold[c] = (unsigned char)c;
		if (c >= 'A' && c <= 'Z') {
			cls[c] = C_WORD;
			fold[c] = (unsigned char)(c + 32);
		} else if (c >= 'a' && c <= 'z') {
			cls[c] = C_WORD;
		} else if (c >= '0' && c <= '9') {
			cls[c] = C_DIGIT;
		} else if (c >= 0x80) {
			cls[c] = C_HIGH;
		} else if (strchr(".-_'@,", c) != NULL && c != 0) {
			cls[c] = C_INNER;
		} else if (c == '$') {
			cls[c] = C_DOLLAR;
		} else if (c == ':') {
			cls[c] = C_COLON;
		} else {
			cls[c] = C_SEP;
		}
		urlc[c] = c > 0x20 && c < 0x7f && strchr("\"<>'`^{}|\\", c) == NULL;
	}
}

static void init_tables(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, build_tables);
}

int words_new(size_t max_len, int chained, int osb, words **out)
{
	words *w = calloc(1, sizeof(*w));

	*out = NULL;
	if (w == NULL)
		return -ENOMEM;
	init_tables();
	if (max_len < 2)
		max_len = 2;
	if (max_len > WORDS_MAXLEN)
		max_len = WORDS_MAXLEN;
	w->maxlen = max_len;
	w->chained = chained;
	w->osb = osb;
	w->digits = 1;
	*out = w;
	return 0;
}

void words_free(words *w)
{
	free(w);
}

void words_begin(words *w, tokset *out, const char *prefix)
{
	size_t n = prefix ? strlen(prefix) : 0;

	if (n > WORDS_PREFIXMAX - 1)
		n = WORDS_PREFIXMAX - 1;
	if (n > 0)
		memcpy(w->tok, prefix, n);
	w->plen = n;
	w->out = out;
	w->err = 0;
	w->wlen = 0;
	w->digits = 1;
	w->u8n = w->u8need = 0;
	w->in_url = 0;
	w->scheme = SCHEME_NONE;
	w->ulen = 0;
	w->hcount = 0;
}

static void add(words *w, const char *s, size_t n)
{
	if (tokset_add(w->out, s, n) < 0)
		w->err = -ENOMEM;
}

static void pairs(words *w, const char *x, size_t n)
{
	char buf[WORDS_PREFIXMAX + 2 * WORDS_MAXLEN + 16];
	int maxd = w->osb ? HIST : 1;

	for (int d = 1; d <= maxd && (unsigned)d <= w->hcount; d++) {
		unsigned k = (w->hcount - (unsigned)d) % HIST;
		size_t o = w->plen;

		memcpy(buf, w->tok, w->plen);
		memcpy(buf + o, w->hist[k], w->hlen[k]);
		o += w->hlen[k];
		buf[o++] = '+';
		for (int j = 1; j < d; j++) {
			buf[o++] = '?';
			buf[o++] = '+';
		}
		memcpy(buf + o, x, n);
		add(w, buf, o + n);
	}
	memcpy(w->hist[w->hcount % HIST], x, n);
	w->hlen[w->hcount % HIST] = (unsigned short)n;
	w->hcount++;
}

/* Write v in decimal at d (no NUL); returns the digits written. */
static size_t put_num(char *d, size_t v)
{
	char tmp[24];
	size_t k = 0, n;

	do {
		tmp[k++] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	for (n = 0; n < k; n++)
		d[n] = tmp[k - 1 - n];
	return k;
}

static void flush(words *w)
{
	size_t n = w->wlen;
	char *word = w->tok + w->plen;

	w->wlen = 0;
	if (n == 0)
		return;
	if (n > w->maxlen) {
		unsigned char f = (unsigned char)word[0];
		char k = cls[f] == C_DIGIT ? '9' : cls[f] == C_WORD ? 'a' : 'u';

		memcpy(word, "skip:?:", 7);
		word[5] = k;
		n = 7 + put_num(word + 7, n / 10 * 10);
		add(w, w->tok, w->plen + n);
		w->digits = 1;
		return;
	}
	while (n > 0 && cls[(unsigned char)word[n - 1]] == C_INNER)
		n--;
	if (n < 2) {
		w->digits = 1;
		return;
	}
	if (w->digits && n > 5) {
		memcpy(word, "num:", 4);
		n = 4 + put_num(word + 4, n);
		word[n++] = 'd';
	} else if (n > 4 && memcmp(word, "www.", 4) == 0 && memchr(word + 4, '.', n - 4)) {
		w->digits = 1;
		if (url_tokens(w->out, word, n) < 0)
			w->err = -ENOMEM;
		return;
	}
	w->digits = 1;
	add(w, w->tok, w->plen + n);
	if (w->chained || w->osb)
		pairs(w, word, n);
}

static void finish_url(words *w)
{
	w->in_url = 0;
	if (w->ulen > 0 && url_tokens(w->out, w->url, w->ulen) < 0)
		w->err = -ENOMEM;
	w->ulen = 0;
}

static inline void append(words *w, unsigned char c)
{
	if (w->wlen < w->maxlen)
		w->tok[w->plen + w->wlen] = (char)c;
	w->wlen++;
}

/* A word made of one character (CJK, emoji). */
static void single(words *w, const unsigned char *b, int n)
{
	flush(w);
	for (int i = 0; i < n; i++)
		append(w, b[i]);
	w->digits = 0;
	flush(w);
}

/* Simple case folding of a code point (see words.h for the ranges). */
static unsigned lower(unsigned cp)
{
	if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7)
		return cp + 0x20;
	if ((cp >= 0x100 && cp <= 0x137) || (cp >= 0x14A && cp <= 0x177))
		return cp | 1;
	if ((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E))
		return (cp & 1) ? cp + 1 : cp;
	if (cp >= 0x391 && cp <= 0x3A9 && cp != 0x3A2)
		return cp + 0x20;
	if (cp >= 0x410 && cp <= 0x42F)
		return cp + 0x20;
	if (cp >= 0x400 && cp <= 0x40F)
		return cp + 0x50;
	return cp;
}

/* UTF-8 encoding of cp into b; returns its length (cp valid, < 0x110000). */
static int encode(unsigned cp, unsigned char *b)
{
	if (cp < 0x80) {
		b[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		b[0] = (unsigned char)(0xC0 | (cp >> 6));
		b[1] = (unsigned char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		b[0] = (unsigned char)(0xE0 | (cp >> 12));
		b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		b[2] = (unsigned char)(0x80 | (cp & 0x3F));
		return 3;
	}
	b[0] = (unsigned char)(0xF0 | (cp >> 18));
	b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
	b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
	b[3] = (unsigned char)(0x80 | (cp & 0x3F));
	return 4;
}

/* Spaces, punctuation and symbols: they separate words (and end a URL). */
/*
 * The symbols among the letterlike ones (U+2100..214F): the trade mark
 * sign, numero, care of, ... (&#153; is the trade mark: "example.com&#153;"
 * made a host "example.com\u2122"); the letters there (double-struck,
 * script, Ohm, Kelvin, Angstrom) stay letters.
 */
static int letterlike_symbol(unsigned cp)
{
	static const unsigned short sym[][2] = {
		{ 0x2100, 0x2101 }, { 0x2103, 0x2106 }, { 0x2108, 0x2109 },
		{ 0x2114, 0x2114 }, { 0x2116, 0x2118 }, { 0x211E, 0x2123 },
		{ 0x2125, 0x2125 }, { 0x2127, 0x2127 }, { 0x2129, 0x2129 },
		{ 0x212E, 0x212E }, { 0x213A, 0x213B }, { 0x2140, 0x2144 },
		{ 0x214A, 0x214D }, { 0x214F, 0x214F } };

	for (size_t i = 0; i < sizeof(sym) / sizeof(sym[0]); i++)
		if (cp >= sym[i][0] && cp <= sym[i][1])
			return 1;
	return 0;
}

static int is_separator(unsigned cp)
{
	if (cp >= 0x2100 && cp <= 0x214F)
		return letterlike_symbol(cp);
	return (cp >= 0x80 && cp <= 0xBF && cp != 0xAA && cp != 0xB5 && cp != 0xBA) ||
	    cp == 0xD7 || cp == 0xF7 || (cp >= 0x2000 && cp <= 0x206F) ||
	    (cp >= 0x2190 && cp <= 0x2BFF) || (cp >= 0x3000 && cp <= 0x303F) ||
	    (cp >= 0xFFF0 && cp <= 0xFFFF) || (cp >= 0xFE30 && cp <= 0xFE4F);
}

/* One code point of text (not ASCII): classify, fold, append. */
static void emit_cp(words *w, unsigned cp)
{
	unsigned char b[4];
	int n;

	if (url_invisible(cp))
		return;
	/* the typographic apostrophe is the ASCII one ("don\u2019t", "we\u2019re") */
	if (cp == 0x2019 && w->wlen > 0) {
		append(w, '\'');
		w->digits = 0;
		return;
	}
	if (is_separator(cp)) {
		if (w->wlen > 0)
			flush(w);
		return;
	}
	/* fullwidth ASCII letters and digits read as ASCII */
	if (cp >= 0xFF10 && cp <= 0xFF5A) {
		unsigned char c = (unsigned char)(cp - 0xFF10 + '0');

		if (cls[c] == C_WORD || cls[c] == C_DIGIT) {
			append(w, fold[c]);
			if (cls[c] != C_DIGIT)
				w->digits = 0;
			return;
		}
	}
	n = encode(lower(cp), b);
	if ((cp >= 0x2E80 && cp <= 0x2FFF) || (cp >= 0x3040 && cp <= 0x9FFF) ||
	    (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0xFF00 && cp <= 0xFFEF) ||
	    cp >= 0x1F000) {
		single(w, b, n);
		return;
	}
	w->digits = 0;
	for (int i = 0; i < n; i++)
		append(w, b[i]);
}

/*
 * One code point (not ASCII) of a plain-text URL, b its n bytes: an invisible
 * one is dropped ("evil.example\u200b/x" reads evil.example), a separator
 * (a no-break space) ends the URL, as the reader sees it.
 */
static void url_cp(words *w, unsigned cp, const unsigned char *b, int n)
{
	if (url_invisible(cp))
		return;
	if (is_separator(cp)) {
		finish_url(w);
		return;
	}
	for (int i = 0; i < n && w->ulen < URL_MAX; i++)
		w->url[w->ulen++] = (char)b[i];
}

/* A code point not ASCII, b its n bytes: to the URL being read or the text. */
static void point(words *w, unsigned cp, const unsigned char *b, int n)
{
	if (w->in_url)
		url_cp(w, cp, b, n);
	else
		emit_cp(w, cp);
}

unsigned words_cp1252(unsigned char c)
{
	static const unsigned short c1[32] = {
		0x20AC, 0xFFFD, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
		0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0xFFFD, 0x017D, 0xFFFD,
		0xFFFD, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
		0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0xFFFD, 0x017E, 0x0178 };

	return c >= 0x80 && c < 0xA0 ? c1[c - 0x80] : c;
}

/* The bytes of a broken UTF-8 sequence: each read as windows-1252. */
static void raw_partial(words *w)
{
	int n = w->u8n;

	w->u8n = w->u8need = 0;
	for (int i = 0; i < n; i++)
		point(w, words_cp1252(w->u8[i]), w->u8 + i, 1);
}

/* A complete UTF-8 sequence in w->u8: decode and check it. */
static void code_point(words *w)
{
	const unsigned char *b = w->u8;
	int n = w->u8n;
	unsigned cp;

	if (n == 2)
		cp = ((b[0] & 0x1Fu) << 6) | (b[1] & 0x3Fu);
	else if (n == 3)
		cp = ((b[0] & 0x0Fu) << 12) | ((b[1] & 0x3Fu) << 6) | (b[2] & 0x3Fu);
	else
		cp = ((b[0] & 0x07u) << 18) | ((b[1] & 0x3Fu) << 12) |
		    ((b[2] & 0x3Fu) << 6) | (b[3] & 0x3Fu);
	/* overlong forms, surrogates and values past U+10FFFF are not UTF-8 */
	if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10FFFF))) {
		raw_partial(w);
		return;
	}
	w->u8n = w->u8need = 0;
	point(w, cp, b, n);
}

static int is_scheme(const char *s, size_t n)
{
	return (n == 4 && memcmp(s, "http", 4) == 0) ||
	    (n == 5 && memcmp(s, "https", 5) == 0) ||
	    (n == 3 && memcmp(s, "ftp", 3) == 0) ||
	    (n == 6 && memcmp(s, "mailto", 6) == 0);
}

/* The word (a scheme) and what followed it begin a URL, in w->url. */
static void start_url(words *w, const char *rest)
{
	size_t k = strlen(rest);

	memcpy(w->url, w->tok + w->plen, w->wlen);
	memcpy(w->url + w->wlen, rest, k);
	w->ulen = w->wlen + k;
	w->in_url = 1;
	w->wlen = 0;
	w->digits = 1;
}

/*
 * c follows a scheme's ':' (w->scheme set): 1 when it was taken as part of
 * the URL's start ("//"), 0 when c is still to be read: as a URL's first
 * character (after "mailto:"), or as text after the scheme, flushed as a
 * word ("the http: header", "http:\\x": a reader sees no link there).
 */
static int after_scheme(words *w, unsigned char c)
{
	int st = w->scheme;

	w->scheme = SCHEME_NONE;
	if (st == SCHEME_ADDR) {
		/* an address's first character: a letter, digit or atext one */
		if (cls[c] == C_WORD || cls[c] == C_DIGIT ||
		    (c != 0 && strchr("!#$%&*+-/=?_~", c) != NULL)) {
			start_url(w, ":");
			return 0;
		}
	} else if (c == '/' && st == SCHEME_SLASH1) {
		w->scheme = SCHEME_SLASH2;
		return 1;
	} else if (c == '/') {
		start_url(w, "://");
		return 1;
	}
	flush(w);
	return 0;
}

int words_feed(words *w, const char *text, size_t len)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];

		if (w->u8need) {
			if ((c & 0xC0) == 0x80) {
				w->u8[w->u8n++] = c;
				if (w->u8n == w->u8need)
					code_point(w);
				i++;
				continue;
			}
			raw_partial(w);
		}
		if (w->scheme != SCHEME_NONE && after_scheme(w, c)) {
			i++;
			continue;
		}
		/* in a URL, non-ASCII goes through C_HIGH below to url_cp */
		if (w->in_url && c < 0x80) {
			if (urlc[c]) {
				if (w->ulen < URL_MAX)
					w->url[w->ulen++] = (char)c;
				i++;
				continue;
			}
			finish_url(w);
		}
		switch (cls[c]) {
		case C_WORD:
		case C_DIGIT: {
			/* the common case: a run of ASCII letters and digits */
			size_t j = i, room, run;
			unsigned alpha = 0;

			for (; j < len; j++) {
				unsigned k = cls[s[j]];

				if (k != C_WORD && k != C_DIGIT)
					break;
				alpha |= k == C_WORD;
			}
			run = j - i;
			room = w->wlen < w->maxlen ? w->maxlen - w->wlen : 0;
			if (run < room)
				room = run;
			{
				char *d = w->tok + w->plen + w->wlen;

				for (size_t k = 0; k < room; k++)
					d[k] = (char)fold[s[i + k]];
			}
			w->wlen += run;
			if (alpha)
				w->digits = 0;
			i = j;
			continue;
		}
		case C_INNER:
			if (w->wlen > 0) {
				append(w, c);
				w->digits = 0;
			}
			break;
		case C_DOLLAR:
			flush(w);
			append(w, c);
			w->digits = 0;
			break;
		case C_COLON:
			/* a URL if "//" follows (an address after "mailto:") */
			if (w->wlen <= w->maxlen && is_scheme(w->tok + w->plen, w->wlen)) {
				w->scheme = memcmp(w->tok + w->plen, "mailto", w->wlen) == 0 ?
				    SCHEME_ADDR : SCHEME_SLASH1;
			} else {
				flush(w);
			}
			break;
		case C_HIGH:
			if (c >= 0xC2 && c <= 0xF4) {
				w->u8[0] = c;
				w->u8n = 1;
				w->u8need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
			} else {
				point(w, words_cp1252(c), &c, 1); /* not UTF-8 */
			}
			break;
		default:
			if (w->wlen > 0)
				flush(w);
			break;
		}
		i++;
	}
	return w->err;
}

int words_break(words *w)
{
	if (w->u8need)
		raw_partial(w); /* into the URL, if one is being read */
	w->scheme = SCHEME_NONE;        /* no URL: the scheme is a word */
	if (w->in_url)
		finish_url(w);
	flush(w);
	return w->err;
}

int words_end(words *w)
{
	return words_break(w);
}
