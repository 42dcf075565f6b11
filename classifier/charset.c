/*
 * charset -- iconv-based conversion to UTF-8 with a descriptor cache (see
 * charset.h). Pure C: no SQLite, libmilter or syslog.
 */
#include "config.h"

#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "classifier/charset.h"

#define CS_NAMEMAX 40       /* longest charset name kept */
#define CS_OUTBUF 4096      /* output piece size */
#define CS_PENDMAX 16       /* bytes of an incomplete character carried over */

struct cs_entry {
	char name[CS_NAMEMAX];  /* normalized charset name, "" = unused */
	iconv_t cd;             /* descriptor, or (iconv_t)-1 when unknown */
	int ascii;              /* cd reads ASCII as ASCII (reads_ascii) */
	unsigned long used;     /* last use, for LRU replacement; 0 = unused */
	unsigned long msg;      /* message that last used it (charset_budget) */
};

/*
 * Two caches of CHARSET_OPENS entries, one for headers' encoded words
 * (charset_convert) and one for body parts (charset_select): a charset a
 * message has used is never evicted during that message, so each costs at
 * most one iconv_open per message and cache, and what one cache has seen
 * never decides whether the other converts.
 */
struct charset {
	struct cs_entry head[CHARSET_OPENS]; /* charsets of encoded words */
	struct cs_entry body[CHARSET_OPENS]; /* charsets of body parts */
	unsigned long clock;    /* use counter */
	unsigned long msg;      /* current message, from 1 (charset_budget) */
	iconv_t cur;            /* streaming descriptor, (iconv_t)-1 = pass-through */
	char pend[CS_PENDMAX];  /* incomplete character from the last feed */
	size_t npend;           /* bytes in pend */
	int ascii;              /* cur reads ASCII as ASCII, without state */
	int single;             /* cur is a single-byte charset */
	struct cs_entry none;   /* what lookup gives past the budget */
};

int charset_new(charset **out)
{
	charset *cs = calloc(1, sizeof(*cs));

	*out = NULL;
	if (cs == NULL)
		return -ENOMEM;
	cs->cur = (iconv_t)-1;
	cs->none.cd = (iconv_t)-1;
	cs->msg = 1;
	*out = cs;
	return 0;
}

void charset_budget(charset *cs)
{
	cs->msg++;
}

static void close_all(struct cs_entry *cache)
{
	for (int i = 0; i < CHARSET_OPENS; i++)
		if (cache[i].name[0] != '\0' && cache[i].cd != (iconv_t)-1)
			iconv_close(cache[i].cd);
}

void charset_free(charset *cs)
{
	if (cs == NULL)
		return;
	close_all(cs->head);
	close_all(cs->body);
	free(cs);
}

/* Normalize name into buf; returns 1 if it needs no conversion. */
static int normalize(const char *name, char *buf)
{
	static const char *const alias[][2] = {
		/*
		 * mislabels and supersets, as mail clients treat them (the
		 * WHATWG Encoding Standard's labels): Windows writes its code
		 * pages under the ISO and national names, and glibc's strict
		 * tables drop what they add ("\x87\x40", U+2460, under
		 * shift_jis; the euro sign under big5; UHC's syllables under
		 * euc-kr)
		 */
		{ "iso-8859-1", "windows-1252" }, { "latin1", "windows-1252" },
		{ "iso8859-1", "windows-1252" }, { "iso_8859-1", "windows-1252" },
		{ "iso88591", "windows-1252" }, { "iso_8859-1:1987", "windows-1252" },
		{ "l1", "windows-1252" }, { "iso-ir-100", "windows-1252" },
		{ "csisolatin1", "windows-1252" }, { "cp819", "windows-1252" },
		{ "ibm819", "windows-1252" },
		{ "iso-8859-9", "windows-1254" }, { "iso8859-9", "windows-1254" },
		{ "latin5", "windows-1254" }, { "iso_8859-9", "windows-1254" },
		{ "iso88599", "windows-1254" }, { "iso_8859-9:1989", "windows-1254" },
		{ "l5", "windows-1254" }, { "iso-ir-148", "windows-1254" },
		{ "csisolatin5", "windows-1254" },
		{ "tis-620", "windows-874" }, { "iso-8859-11", "windows-874" },
		{ "iso8859-11", "windows-874" }, { "iso885911", "windows-874" },
		{ "ks_c_5601-1987", "cp949" }, { "euc-kr", "cp949" },
		{ "cseuckr", "cp949" },
		{ "gb2312", "gb18030" }, { "gbk", "gb18030" }, { "x-gbk", "gb18030" },
		{ "gb_2312-80", "gb18030" }, { "euc-cn", "gb18030" },
		{ "cp936", "gb18030" }, { "gb2312_charset", "gb18030" },
		{ "csgb2312", "gb18030" },
		{ "big5", "cp950" }, { "x-x-big5", "cp950" },
		{ "chinesebig5", "cp950" }, { "chinesebig5_charset", "cp950" },
		{ "shift_jis", "cp932" }, { "shift-jis", "cp932" },
		{ "sjis", "cp932" }, { "x-sjis", "cp932" }, { "ms_kanji", "cp932" },
		{ "csshiftjis", "cp932" },
		{ "iso-8859-8-i", "iso-8859-8" },
		{ "unicode-1-1-utf-7", "utf-7" },
		/*
		 * WHATWG labels glibc does not know, as glibc names the same
		 * charset (x-mac-cyrillic is its MAC-CYRILLIC, x-mac-roman
		 * its MACINTOSH); the UTF-8 ones need no conversion. Left to
		 * glibc on purpose: us-ascii and ascii (no conversion, as
		 * above), koi8-u (RFC 2319's), big5-hkscs (glibc's has
		 * HKSCS), and iso-2022-kr, hz-gb-2312 and iso-2022-cn, which
		 * browsers refuse but glibc converts.
		 */
		{ "x-cp1250", "windows-1250" }, { "x-cp1251", "windows-1251" },
		{ "x-cp1252", "windows-1252" }, { "x-cp1253", "windows-1253" },
		{ "x-cp1254", "windows-1254" }, { "x-cp1255", "windows-1255" },
		{ "x-cp1256", "windows-1256" }, { "x-cp1257", "windows-1257" },
		{ "x-cp1258", "windows-1258" }, { "dos-874", "windows-874" },
		{ "x-mac-roman", "macintosh" },
		{ "x-mac-cyrillic", "mac-cyrillic" }, { "x-mac-ukrainian", "mac-cyrillic" },
		{ "ks_c_5601-1989", "cp949" }, { "ksc5601", "cp949" },
		{ "ksc_5601", "cp949" }, { "korean", "cp949" },
		{ "csksc56011987", "cp949" }, { "iso-ir-149", "cp949" },
		{ "windows-949", "cp949" },
		{ "chinese", "gb18030" }, { "gb_2312", "gb18030" },
		{ "csiso58gb231280", "gb18030" }, { "iso-ir-58", "gb18030" },
		{ "csbig5", "cp950" }, { "x-euc-jp", "euc-jp" },
		{ "iso-8859-6-e", "iso-8859-6" }, { "iso-8859-6-i", "iso-8859-6" },
		{ "csiso88596e", "iso-8859-6" }, { "csiso88596i", "iso-8859-6" },
		{ "sun_eu_greek", "iso-8859-7" },
		{ "iso-8859-8-e", "iso-8859-8" }, { "csiso88598e", "iso-8859-8" },
		{ "csiso88598i", "iso-8859-8" }, { "visual", "iso-8859-8" },
		{ "logical", "iso-8859-8" },
		{ "l9", "iso-8859-15" }, { "csisolatin9", "iso-8859-15" },
		{ "koi", "koi8-r" }, { "koi8", "koi8-r" }, { "koi8_r", "koi8-r" },
		{ "unicodefffe", "utf-16be" }, { "unicodefeff", "utf-16le" },
		{ "iso-10646-ucs-2", "utf-16le" },
		{ "unicode-1-1-utf-8", "utf-8" }, { "unicode11utf8", "utf-8" },
		{ "unicode20utf8", "utf-8" }, { "x-unicode20utf8", "utf-8" },
		{ NULL, NULL } };
	size_t n = 0;

	while (*name == ' ' || *name == '"' || *name == '\'')
		name++;
	for (; *name != '\0' && n < CS_NAMEMAX - 1; name++) {
		unsigned char c = (unsigned char)*name;

		if (c == '"' || c == '\'' || c == ' ' || c == ';')
			break;
		buf[n++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
	buf[n] = '\0';
	for (int i = 0; alias[i][0] != NULL; i++)
		if (strcmp(buf, alias[i][0]) == 0) {
			strcpy(buf, alias[i][1]);
			break;
		}
	return n == 0 || strcmp(buf, "utf-8") == 0 || strcmp(buf, "utf8") == 0 ||
	    strcmp(buf, "us-ascii") == 0 || strcmp(buf, "ascii") == 0;
}

/*
 * Does cd turn ASCII into the same ASCII, without state? Then ASCII runs
 * need no iconv call (charset_feed's fast path). Asked of iconv itself, not
 * decided by name: UTF-16 and UTF-32 (csunicode, utf16le, ...), UTF-7,
 * the ISO-2022 and HZ families and EBCDIC go by many names, and passing
 * their bytes through unconverted hid a message's text. The probe holds
 * every printable character and each family's shift sequences.
 */
static int reads_ascii(iconv_t cd)
{
	static const char probe[] =
	    "\t\n\r !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~ +AGE- ~{a~} \x1b$Ba\x1b(B\x0ea\x0f";
	char out[4 * sizeof(probe)], *ip = (char *)probe, *op = out;
	size_t il = sizeof(probe) - 1, ol = sizeof(out);
	size_t r = iconv(cd, &ip, &il, &op, &ol);

	iconv(cd, NULL, NULL, NULL, NULL);      /* back to the initial state */
	return r != (size_t)-1 && il == 0 &&
	    (size_t)(op - out) == sizeof(probe) - 1 &&
	    memcmp(out, probe, sizeof(probe) - 1) == 0;
}

/*
 * Entry of cache (cs->head or cs->body) for a normalized name, its cd
 * (iconv_t)-1 when unknown. A name not cached replaces the least recently
 * used entry that this message has not used; when this message has used
 * them all (CHARSET_OPENS charsets), the name is unknown for the rest of
 * the message. So a message opens at most CHARSET_OPENS descriptors per
 * cache however it cycles through them, and which charsets convert does
 * not depend on the messages before it.
 */
static struct cs_entry *lookup(charset *cs, struct cs_entry *cache, const char *norm)
{
	struct cs_entry *victim = NULL;

	cs->clock++;
	for (int i = 0; i < CHARSET_OPENS; i++) {
		struct cs_entry *e = &cache[i];

		if (e->name[0] != '\0' && strcmp(e->name, norm) == 0) {
			e->used = cs->clock;
			e->msg = cs->msg;
			if (e->cd != (iconv_t)-1)
				iconv(e->cd, NULL, NULL, NULL, NULL);
			return e;
		}
		if (e->msg != cs->msg && (victim == NULL || e->used < victim->used))
			victim = e;
	}
	if (victim == NULL)
		return &cs->none;       /* over budget: unknown, nothing evicted */
	if (victim->name[0] != '\0' && victim->cd != (iconv_t)-1)
		iconv_close(victim->cd);
	strcpy(victim->name, norm);
	victim->cd = iconv_open("UTF-8", norm);
	victim->ascii = victim->cd != (iconv_t)-1 && reads_ascii(victim->cd);
	victim->used = cs->clock;
	victim->msg = cs->msg;
	return victim;
}

int charset_select(charset *cs, const char *name)
{
	char norm[CS_NAMEMAX];
	struct cs_entry *e;

	cs->npend = 0;
	cs->cur = (iconv_t)-1;
	if (name == NULL || normalize(name, norm))
		return 1;
	e = lookup(cs, cs->body, norm);
	cs->cur = e->cd;
	cs->ascii = e->ascii;
	cs->single = cs->ascii && (strncmp(norm, "iso-8859-", 9) == 0 ||
	    strncmp(norm, "iso8859", 7) == 0 || strncmp(norm, "windows-125", 11) == 0 ||
	    strncmp(norm, "cp125", 5) == 0 || strncmp(norm, "koi8", 4) == 0 ||
	    strcmp(norm, "windows-874") == 0);
	return cs->cur == (iconv_t)-1 ? -ENOENT : 0;
}

/*
 * Convert in[0..len) with cd, sending output to sink. *used receives the
 * bytes consumed: all but an incomplete trailing character.
 */
static int run(iconv_t cd, const char *in, size_t len, size_t *used,
	charset_sink sink, void *ctx)
{
	char obuf[CS_OUTBUF];
	char *ip = (char *)in;
	size_t il = len;
	int rc;

	while (il > 0) {
		char *op = obuf;
		size_t ol = sizeof(obuf);
		size_t r = iconv(cd, &ip, &il, &op, &ol);
		int e = r == (size_t)-1 ? errno : 0;

		if (op > obuf && (rc = sink(ctx, obuf, (size_t)(op - obuf))) < 0)
			return rc;
		if (e == EILSEQ) {
			ip++;           /* skip one invalid byte */
			il--;
		} else if (e == EINVAL) {
			break;          /* incomplete character at the end */
		} else if (e != 0 && e != E2BIG) {
			break;
		}
	}
	*used = len - il;
	return 0;
}

/*
 * Write out what cd holds back (windows-1258 and windows-1255 keep a base
 * letter until they know no combining mark follows: the last letter of a
 * text was lost) and return it to its initial state.
 */
static int drain(iconv_t cd, charset_sink sink, void *ctx)
{
	char obuf[64];
	char *op = obuf;
	size_t ol = sizeof(obuf);

	(void)iconv(cd, NULL, NULL, &op, &ol);
	iconv(cd, NULL, NULL, NULL, NULL);
	return op > obuf ? sink(ctx, obuf, (size_t)(op - obuf)) : 0;
}

int charset_end(charset *cs, charset_sink sink, void *ctx)
{
	cs->npend = 0;          /* an incomplete character at the end: gone */
	if (cs->cur == (iconv_t)-1)
		return 0;
	return drain(cs->cur, sink, ctx);
}

/* Length of the ASCII prefix of s, eight bytes at a time. */
static size_t ascii_prefix(const char *s, size_t n)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t v;

		memcpy(&v, s + i, 8);
		if (v & 0x8080808080808080ULL)
			break;
	}
	while (i < n && (unsigned char)s[i] < 0x80)
		i++;
	return i;
}

int charset_feed(charset *cs, const char *in, size_t len, charset_sink sink,
	void *ctx)
{
	size_t used;
	int rc;

	if (cs->cur == (iconv_t)-1)
		return len > 0 ? sink(ctx, in, len) : 0;
	if (cs->ascii && cs->npend == 0) {
		size_t i = ascii_prefix(in, len);

		if (i == len)
			return len > 0 ? sink(ctx, in, len) : 0;
		if (cs->single) {
			/* alternate ASCII runs (as they are) and 8-bit runs (iconv) */
			size_t s = 0;

			while (s < len) {
				size_t e = s + ascii_prefix(in + s, len - s);

				if (e > s && (rc = sink(ctx, in + s, e - s)) < 0)
					return rc;
				s = e;
				while (e < len && (unsigned char)in[e] >= 0x80)
					e++;
				if (e > s && (rc = run(cs->cur, in + s, e - s, &used, sink, ctx)) < 0)
					return rc;
				s = e;
			}
			return 0;
		}
	}
	/* finish a character split over two feeds, a few bytes at a time */
	while (cs->npend > 0 && len > 0) {
		size_t take = CS_PENDMAX - cs->npend, total;

		if (take > len)
			take = len;
		memcpy(cs->pend + cs->npend, in, take);
		total = cs->npend + take;
		if ((rc = run(cs->cur, cs->pend, total, &used, sink, ctx)) < 0)
			return rc;
		if (used >= cs->npend) {
			/* the pending bytes went through; go on after them */
			in += used - cs->npend;
			len -= used - cs->npend;
			cs->npend = 0;
			break;
		}
		/* still incomplete: keep the unconverted rest */
		memmove(cs->pend, cs->pend + used, total - used);
		cs->npend = total - used;
		in += take;
		len -= take;
		if (cs->npend == CS_PENDMAX) /* never completes: drop a byte */
			memmove(cs->pend, cs->pend + 1, --cs->npend);
	}
	if (len == 0)
		return 0;
	if ((rc = run(cs->cur, in, len, &used, sink, ctx)) < 0)
		return rc;
	if (len - used > CS_PENDMAX)
		used = len - CS_PENDMAX;
	cs->npend = len - used;
	memcpy(cs->pend, in + used, cs->npend);
	return 0;
}

struct fixed {
	char *out;      /* destination */
	size_t cap;     /* its size */
	size_t n;       /* bytes written */
};

static int fixed_sink(void *ctx, const char *s, size_t len)
{
	struct fixed *f = ctx;

	if (f->cap == 0)
		return 0;
	if (len > f->cap - 1 - f->n)
		len = f->cap - 1 - f->n;
	memcpy(f->out + f->n, s, len);
	f->n += len;
	return 0;
}

long charset_convert(charset *cs, const char *name, const char *in, size_t len,
	char *out, size_t cap)
{
	char norm[CS_NAMEMAX];
	struct fixed f = { out, cap, 0 };
	iconv_t cd;
	size_t used;

	if (cap > 0)
		out[0] = '\0';
	if (normalize(name, norm)) {
		fixed_sink(&f, in, len);
	} else {
		cd = lookup(cs, cs->head, norm)->cd;
		if (cd == (iconv_t)-1)
			return -ENOENT;
		run(cd, in, len, &used, fixed_sink, &f);
		drain(cd, fixed_sink, &f);      /* and back to the initial state */
	}
	if (cap > 0)
		out[f.n] = '\0';
	return (long)f.n;
}
