/*
 * msg -- streaming message parser (see msg.h): line splitting, header
 * fields, the MIME part stack, transfer decoding, charset conversion and
 * attachments; words, HTML, headers and URLs are tokenized by their own
 * modules. Pure C: no SQLite, libmilter or syslog.
 *
 * Data flow: bytes -> line pieces (at most LINECAP bytes; a longer line
 * comes in several pieces, only the first can be a boundary) -> header
 * fields or body lines of the current part -> base64/QP decoder -> iconv ->
 * words or html (text parts) or the attachment head buffer (libmagic).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <magic.h>

#include "classifier/charset.h"
#include "classifier/dec.h"
#include "classifier/hdr.h"
#include "classifier/html.h"
#include "classifier/msg.h"
#include "classifier/words.h"

#define LINECAP 4096     /* longest line piece handled at once */
#define HEADMAX 8192     /* decoded bytes of an attachment given to libmagic */
/*
 * Attachments of a message typed by libmagic. A call costs 0.03-2 ms (0.2
 * ms for a part of two bytes, more for text): 22,000 one-byte attachments
 * in 512 KiB took 4 s of CPU, and the milter's one libmagic handle with
 * them. Past this many, an attachment is typed by its name and declared
 * type only, and attach:magic:limit says so once.
 */
#define MAGIC_MAX 16
#define BOUNDMAX 256     /* longest boundary (RFC 2046: 70; readers take
                            longer ones, and so do we; a longer one reads
                            the part as text) */
#define DEPTHMAX 100     /* upper bound for max_depth (MaxMimeDepth's) */
#define SNIFFMAX 1024    /* bytes of an HTML part searched for a <meta>
                            charset (the HTML standard's prescan length) */

enum kind { K_NONE, K_TEXT, K_HTML, K_MULTI, K_ATTACH, K_SKIP };
enum enc { E_IDENT, E_B64, E_QP };

/* One open multipart: its boundary and the depth of its children. */
struct level {
	char b[BOUNDMAX + 1];   /* boundary (without "--") */
	size_t blen;            /* its length */
	int depth;              /* depth of the parts it contains */
	int digest;             /* multipart/digest: parts default to message/rfc822 */
};

/* The part being read (its header, then its body). */
struct part {
	int full;               /* a message header: every field is tokenized */
	int depth;              /* nesting depth, 0 = top level */
	int in_head;            /* reading its header */
	enum kind kind;         /* what its body is, once the header is read */
	enum enc enc;           /* transfer encoding */
	int attach;             /* it is an attachment (tokens at its end) */
	char type[96];          /* declared type, lowercase, "" = none */
	char cset[48];          /* declared charset */
	char bound[BOUNDMAX + 1]; /* multipart boundary */
	char fname[160];        /* attachment file name, decoded */
	int disp_attach;        /* Content-Disposition: attachment */
	int in_digest;          /* a part of a multipart/digest (RFC 2046 5.1.5) */
	int sniff;              /* HTML without a declared charset: its first
	                           bytes wait in sniffbuf for a <meta> charset */
};

struct msg {
	msg_opts o;             /* options (copied) */
	tokset *out;            /* destination (borrowed) */
	int err;                /* sticky error for this message */
	words *w;               /* word tokenizer */
	words *hw;              /* HTML text hidden by style: "hidden:" words */
	tokset *hidden;         /* ... gathered apart, added at the end */
	html *h;                /* HTML reader */
	charset *cs;            /* iconv cache */
	int api;                /* msg_header/msg_body were used */
	int raw;                /* msg_write was used */
	int eoh;                /* the top-level header has ended */
	int first_line;         /* next raw line is the message's first */
	int stop;               /* feed(): the top-level header just ended */
	/* line splitter */
	int pending_cr;         /* last chunk ended with CR */
	int cont;               /* next piece continues a line */
	int skip_line;          /* ignore the rest of this line */
	size_t llen;            /* bytes in line */
	/* header field accumulator */
	size_t hlen;            /* bytes in hbuf */
	/* MIME */
	struct part p;          /* current part */
	struct level *lv;       /* open multiparts, innermost last */
	int nlv;                /* entries in lv */
	uint32_t dstate;        /* transfer decoder state */
	size_t headlen;         /* bytes in head */
	int unterminated;       /* a multipart lost its final boundary */
	/* facts */
	size_t scanned;         /* body bytes tokenized */
	size_t total;           /* body bytes seen */
	size_t parts;           /* leaf parts */
	size_t magics;          /* attachments typed by libmagic */
	size_t hbytes;          /* bytes of the top-level header's fields */
	char from[256];         /* first From: address */
	/*
	 * Header buffers grow to what the fields need, up to max_header_len
	 * raw bytes (a parser per message in flight: the milter at 100
	 * sessions kept 80 KiB each at the full size).
	 */
	char *subject;          /* decoded Subject, or NULL (none yet) */
	char *hbuf;             /* current header field */
	size_t hcap;            /* its size, at most max_header_len */
	char *dbuf;             /* decoded header value */
	size_t dcap;            /* its size */
	unsigned char *head;    /* attachment head for libmagic, HEADMAX */
	size_t nsniff;          /* bytes in sniffbuf */
	char sniffbuf[SNIFFMAX]; /* an HTML part's first bytes (p.sniff) */
	unsigned char dec[LINECAP + 16]; /* decoder output */
	char line[LINECAP];     /* line being assembled across chunks */
};

void msg_opts_default(msg_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->max_scan_bytes = MSG_DEFAULT_SCAN;
	o->max_header_len = MSG_DEFAULT_HEADER;
	o->max_depth = MSG_DEFAULT_DEPTH;
	o->max_token_len = MSG_DEFAULT_TOKLEN;
}

void msg_free(msg *m)
{
	if (m == NULL)
		return;
	words_free(m->w);
	words_free(m->hw);
	tokset_free(m->hidden);
	html_free(m->h);
	charset_free(m->cs);
	free(m->lv);
	free(m->subject);
	free(m->hbuf);
	free(m->dbuf);
	free(m->head);
	free(m);
}

int msg_new(const msg_opts *o, msg **out)
{
	msg *m = calloc(1, sizeof(*m));

	*out = NULL;
	if (m == NULL)
		return -ENOMEM;
	if (o != NULL)
		m->o = *o;
	else
		msg_opts_default(&m->o);
	if (m->o.max_header_len < 256)
		m->o.max_header_len = 256;
	if (m->o.max_depth < 1)
		m->o.max_depth = 1;
	if (m->o.max_depth > DEPTHMAX)
		m->o.max_depth = DEPTHMAX;
	m->head = malloc(HEADMAX);
	m->lv = calloc((size_t)m->o.max_depth + 1, sizeof(*m->lv));
	if (m->head == NULL || m->lv == NULL ||
	    words_new(m->o.max_token_len, m->o.chained, m->o.osb, &m->w) < 0 ||
	    words_new(m->o.max_token_len, m->o.chained, m->o.osb, &m->hw) < 0 ||
	    html_new(&m->h) < 0 || charset_new(&m->cs) < 0) {
		msg_free(m);
		return -ENOMEM;
	}
	*out = m;
	return 0;
}

static void new_part(msg *m, int full, int depth)
{
	memset(&m->p, 0, sizeof(m->p));
	m->p.full = full;
	m->p.depth = depth;
	m->p.in_head = 1;
	m->hlen = 0;
}

void msg_reset(msg *m, tokset *out)
{
	m->out = out;
	m->err = 0;
	m->api = m->raw = m->eoh = m->stop = 0;
	m->first_line = 1;
	m->pending_cr = m->cont = m->skip_line = 0;
	m->llen = 0;
	m->nlv = 0;
	m->dstate = 0;
	m->headlen = 0;
	m->unterminated = 0;
	m->scanned = m->total = m->parts = m->magics = m->hbytes = 0;
	m->from[0] = '\0';
	free(m->subject);
	m->subject = NULL;
	if (m->hidden != NULL)
		tokset_clear(m->hidden);
	charset_budget(m->cs);
	new_part(m, 1, 0);
}

/*
 * Room in dbuf for the decoded value of vlen raw bytes: 4 x vlen + 16
 * (a byte of a one-byte charset is at most 3 in UTF-8), capped at
 * 2 x max_header_len + 16 as a fixed buffer was. Returns its size, or 0
 * (m->err set) when out of memory.
 */
static size_t dbuf_room(msg *m, size_t vlen)
{
	size_t need = 4 * vlen + 16, max = 2 * m->o.max_header_len + 16;
	char *nb;

	if (need > max)
		need = max;
	if (need <= m->dcap)
		return m->dcap;
	if (need < 1024 && max >= 1024)
		need = 1024;
	if ((nb = realloc(m->dbuf, need)) == NULL) {
		m->err = -ENOMEM;
		return 0;
	}
	m->dbuf = nb;
	m->dcap = need;
	return need;
}

static void add(msg *m, const char *s, size_t n)
{
	if (m->out != NULL && tokset_add(m->out, s, n) < 0)
		m->err = -ENOMEM;
}

/*
 * Where HTML text hidden by style goes: a set of its own, at most a quarter
 * of the message's cap, added after everything else (add_hidden). Filler
 * hidden in a part (thousands of random words under display:none) took the
 * whole cap before the visible text was read, which then gave no token at
 * all. NULL (no hidden words) when there is no destination or no memory.
 */
static tokset *hidden_set(msg *m)
{
	if (m->out == NULL)
		return NULL;
	if (m->hidden == NULL && tokset_new(tokset_max(m->out) / 4 + 1,
	    tokset_keeps_text(m->out), &m->hidden) < 0) {
		m->hidden = NULL;
		m->err = -ENOMEM;
		return NULL;
	}
	if (tokset_count(m->hidden) == 0 &&
	    tokset_keep_text(m->hidden, tokset_keeps_text(m->out)) < 0) {
		m->err = -ENOMEM;
		return NULL;
	}
	return m->hidden;
}

/* Add the hidden words to the message's set, "hidden:truncated" first
 * when some were past their share. */
static void add_hidden(msg *m)
{
	tokset *h = m->hidden;
	size_t n = h != NULL ? tokset_count(h) : 0;

	if (n == 0 || m->out == NULL)
		return;
	if (tokset_dropped(h) > 0)
		add(m, "hidden:truncated", 16);
	for (size_t i = 0; i < n && m->err == 0; i++) {
		const char *t = tokset_text(h, i);

		if ((t != NULL ? tokset_add(m->out, t, strlen(t)) :
		    tokset_add_hash(m->out, tokset_hash(h, i))) < 0)
			m->err = -ENOMEM;
	}
	tokset_clear(h);
}

/* The top-level header has ended (its last field just tokenized). */
static void top_eoh(msg *m)
{
	m->eoh = 1;
	if (m->out != NULL)
		tokset_mark_head(m->out);
}

/* Add the token kind + v. */
static void addf(msg *m, const char *kind, const char *v)
{
	char buf[192];
	size_t k = strlen(kind), n = strlen(v);

	if (n > sizeof(buf) - k)
		n = sizeof(buf) - k;
	memcpy(buf, kind, k);
	memcpy(buf + k, v, n);
	add(m, buf, k + n);
}

/* ------------------------------------------------------------------ */
/* header fields */

static int ignored(const msg *m, const char *canon)
{
	if (strncasecmp(canon, "X-Spamsift-", 11) == 0)
		return 1;
	if (m->o.ignore_headers == NULL)
		return 0;
	for (const char *const *p = m->o.ignore_headers; *p != NULL; p++) {
		size_t n = strlen(*p);

		if (n > 0 && (*p)[n - 1] == '*') {
			if (strncasecmp(canon, *p, n - 1) == 0)
				return 1;
		} else if (strcasecmp(canon, *p) == 0) {
			return 1;
		}
	}
	return 0;
}

static void lower(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s + 32);
}

static void field(msg *m, const char *name, size_t nlen, const char *v, size_t vlen)
{
	char canon[HDR_NAMEMAX];
	size_t dlen, dcap;

	int over = 0;

	/* (as hbuf_append cuts a raw field, "Name:value" at max_header_len:
	 * msg_header's value comes whole) */
	if (nlen + 1 + vlen > m->o.max_header_len)
		vlen = m->o.max_header_len > nlen + 1 ?
		    m->o.max_header_len - nlen - 1 : 0;
	/*
	 * The top-level header is read up to max_scan_bytes, as the body
	 * is: past it its fields give no token, and hdr:truncated says so
	 * once; the Content-* fields still shape the body, the first From
	 * and Subject are still read (a sender padding the header to hide
	 * his From from a blocklist). Each field cost its decoding and
	 * tokens: 10 MB of "X:" lines, which Postfix takes (its limits are
	 * per field), cost 0.25 s.
	 */
	if (m->p.depth == 0 && (m->hbytes += nlen + vlen + 2) >
	    m->o.max_scan_bytes) {
		if (m->hbytes - (nlen + vlen + 2) <= m->o.max_scan_bytes)
			add(m, "hdr:truncated", 13);
		/* (a From's address straight from its raw value: millions
		 * of From fields without one cost no decoding) */
		if (nlen == 4 && strncasecmp(name, "From", 4) == 0) {
			if (m->from[0] == '\0')
				hdr_addr(v, vlen, m->from, sizeof(m->from));
			return;
		}
		if (!(nlen >= 8 && strncasecmp(name, "Content-", 8) == 0) &&
		    !(nlen == 7 && strncasecmp(name, "Subject", 7) == 0 &&
		    m->subject == NULL))
			return;
		over = 1;
	}
	hdr_canon(name, nlen, canon);
	if (canon[0] == '\0' || ignored(m, canon))
		return;
	if ((dcap = dbuf_room(m, vlen)) == 0)
		return;
	if (strcasecmp(canon, "Content-Type") == 0) {
		hdr_type(v, vlen, m->p.type, sizeof(m->p.type));
		hdr_param(v, vlen, "charset", m->p.cset, sizeof(m->p.cset));
		lower(m->p.cset);
		/* cut, it would match no delimiter line: the part is hidden */
		if (hdr_param(v, vlen, "boundary", m->dbuf, dcap) &&
		    strlen(m->dbuf) < sizeof(m->p.bound))
			strcpy(m->p.bound, m->dbuf);
		else
			m->p.bound[0] = '\0';
		if (m->p.fname[0] == '\0' &&
		    hdr_param(v, vlen, "name", m->dbuf, dcap))
			hdr_decode(m->cs, m->dbuf, strlen(m->dbuf), m->p.fname,
			    sizeof(m->p.fname));
	} else if (strcasecmp(canon, "Content-Transfer-Encoding") == 0) {
		char enc[32];

		{
			size_t i = 0, k = 0;

			while (i < vlen && (v[i] == ' ' || v[i] == '\t'))
				i++;
			while (i < vlen && k < sizeof(enc) - 1 && v[i] != ' ' &&
			    v[i] != '\t' && v[i] != ';' && v[i] != '\r' && v[i] != '\n')
				enc[k++] = v[i++];
			enc[k] = '\0';
			lower(enc);
		}
		if (strcmp(enc, "base64") == 0)
			m->p.enc = E_B64;
		else if (strcmp(enc, "quoted-printable") == 0)
			m->p.enc = E_QP;
		else
			m->p.enc = E_IDENT;
		if (enc[0] != '\0')
			addf(m, "mime:cte:", enc);
	} else if (strcasecmp(canon, "Content-Disposition") == 0) {
		size_t i = 0;

		while (i < vlen && (v[i] == ' ' || v[i] == '\t'))
			i++;
		if (vlen - i >= 10 && strncasecmp(v + i, "attachment", 10) == 0)
			m->p.disp_attach = 1;
		if (hdr_param(v, vlen, "filename", m->dbuf, dcap))
			hdr_decode(m->cs, m->dbuf, strlen(m->dbuf), m->p.fname,
			    sizeof(m->p.fname));
	}
	if (!m->p.full)
		return;
	dlen = hdr_decode(m->cs, v, vlen, m->dbuf, dcap);
	if (m->p.depth == 0) {
		if (strcmp(canon, "Subject") == 0 && m->subject == NULL) {
			if ((m->subject = malloc(dlen + 1)) == NULL)
				m->err = -ENOMEM;
			else
				memcpy(m->subject, m->dbuf, dlen + 1);
		}
		/* (from the raw value: a display name's encoded word may
		 * decode to a '<' or an address of the sender's choice) */
		else if (strcmp(canon, "From") == 0 && m->from[0] == '\0')
			hdr_addr(v, vlen, m->from, sizeof(m->from));
	}
	if (!over && m->out != NULL &&
	    hdr_tokens(m->out, m->w, canon, m->dbuf, dlen) < 0)
		m->err = -ENOMEM;
}

/* The accumulated raw field in hbuf. */
static void flush_field(msg *m)
{
	const char *colon;

	if (m->hlen == 0)
		return;
	colon = memchr(m->hbuf, ':', m->hlen);
	if (colon != NULL && colon > m->hbuf) {
		size_t nl = (size_t)(colon - m->hbuf), k = nl;

		/* a name has no blanks (but "Subject :" is seen in the wild) */
		while (k > 0 && (m->hbuf[k - 1] == ' ' || m->hbuf[k - 1] == '\t'))
			k--;
		while (k > 0 && (unsigned char)m->hbuf[k - 1] > ' ')
			k--;
		if (k == 0)
			field(m, m->hbuf, nl, colon + 1, m->hlen - nl - 1);
		else
			add(m, "hdr:malformed", 13);
	}
	m->hlen = 0;
}

static void hbuf_append(msg *m, const char *s, size_t n)
{
	size_t room = m->o.max_header_len - m->hlen;

	if (n > room)
		n = room;
	if (m->hlen + n > m->hcap) {
		size_t ncap = m->hcap ? 2 * m->hcap : 1024;
		char *nb;

		while (ncap < m->hlen + n)
			ncap *= 2;
		if (ncap > m->o.max_header_len)
			ncap = m->o.max_header_len;
		if ((nb = realloc(m->hbuf, ncap)) == NULL) {
			m->err = -ENOMEM;
			n = m->hcap - m->hlen;
		} else {
			m->hbuf = nb;
			m->hcap = ncap;
		}
	}
	if (n > 0)
		memcpy(m->hbuf + m->hlen, s, n);
	m->hlen += n;
}

/* ------------------------------------------------------------------ */
/* part bodies */

static int text_sink(void *ctx, const char *s, size_t n)
{
	msg *m = ctx;
	int rc = m->p.kind == K_HTML ? html_feed(m->h, s, n) : words_feed(m->w, s, n);

	if (rc < 0)
		m->err = rc;
	return rc;
}

static int lc(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* A character of a charset name. */
static int name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
	    c == ':' || c == '+';
}

/* Does s[0..n) start with the ASCII word w, in any case? */
static int starts_ci(const char *s, size_t n, const char *w)
{
	size_t k = strlen(w);

	return n >= k && strncasecmp(s, w, k) == 0;
}

/*
 * The charset a <meta> element declares in s[0..n), the start of an HTML
 * part: <meta charset="X">, or <meta http-equiv="Content-Type"
 * content="text/html; charset=X">; the first found, copied to out. The
 * HTML standard's prescan, simplified: the word "charset" inside a meta
 * tag, '=', an optional quote, the name. UTF-16 and UTF-32 read as UTF-8,
 * as the standard says (these bytes were read as ASCII to find it).
 * Returns 0 if found.
 */
static int meta_charset(const char *s, size_t n, char *out, size_t outlen)
{
	for (size_t i = 0; i + 6 <= n; i++) {
		size_t end, j, k;

		if (s[i] != '<' || !starts_ci(s + i + 1, n - i - 1, "meta") ||
		    (s[i + 5] != ' ' && s[i + 5] != '\t' && s[i + 5] != '\n' &&
		    s[i + 5] != '\r' && s[i + 5] != '/'))
			continue;
		for (end = i + 5; end < n && s[end] != '>'; end++)
			;
		for (j = i + 5; j + 7 <= end; j++) {
			if (!starts_ci(s + j, end - j, "charset"))
				continue;
			k = j + 7;
			while (k < end && (s[k] == ' ' || s[k] == '\t'))
				k++;
			if (k == end || s[k] != '=')
				continue;
			k++;
			while (k < end && (s[k] == ' ' || s[k] == '\t' ||
			    s[k] == '"' || s[k] == '\''))
				k++;
			for (j = 0; k < end && j + 1 < outlen && name_char(s[k]); k++)
				out[j++] = (char)lc((unsigned char)s[k]);
			out[j] = '\0';
			if (j == 0 || (k < end && name_char(s[k])))
				return -1;      /* none, or too long */
			if (strncmp(out, "utf-16", 6) == 0 ||
			    strncmp(out, "utf-32", 6) == 0)
				snprintf(out, outlen, "utf-8");
			return 0;
		}
		i = end;
	}
	return -1;
}

/*
 * The first bytes of an HTML part without a declared charset are in: read
 * them with the charset its <meta> declares, if any (else as before:
 * UTF-8 where valid, windows-1252 where not).
 */
static void sniff_end(msg *m)
{
	char name[sizeof(m->p.cset)];

	m->p.sniff = 0;
	if (meta_charset(m->sniffbuf, m->nsniff, name, sizeof(name)) == 0 &&
	    charset_select(m->cs, name) == -ENOENT)
		addf(m, "mime:charset-unknown:", name);
	if (m->nsniff > 0)
		charset_feed(m->cs, m->sniffbuf, m->nsniff, text_sink, m);
	m->nsniff = 0;
}

/* Decoded bytes of the current part. */
static void sink(msg *m, const unsigned char *s, size_t n)
{
	if (n == 0)
		return;
	if (m->p.attach && m->headlen < HEADMAX) {
		size_t take = HEADMAX - m->headlen < n ? HEADMAX - m->headlen : n;

		memcpy(m->head + m->headlen, s, take);
		m->headlen += take;
	}
	if (m->p.kind != K_TEXT && m->p.kind != K_HTML)
		return;
	if (m->p.sniff) {
		size_t take = SNIFFMAX - m->nsniff < n ? SNIFFMAX - m->nsniff : n;

		memcpy(m->sniffbuf + m->nsniff, s, take);
		m->nsniff += take;
		s += take;
		n -= take;
		if (m->nsniff < SNIFFMAX)
			return;
		sniff_end(m);
		if (n == 0)
			return;
	}
	charset_feed(m->cs, (const char *)s, n, text_sink, m);
}

/* Decoded bytes of an encoded text part, for opts.encoded_text. */
static void encoded(msg *m, const unsigned char *s, size_t n)
{
	if (m->o.encoded_text != NULL && n > 0 &&
	    (m->p.kind == K_TEXT || m->p.kind == K_HTML))
		m->o.encoded_text(m->o.encoded_arg, (const char *)s, n);
}

static void body_line(msg *m, const char *s, size_t n, int eol)
{
	size_t k;

	if (m->p.kind != K_TEXT && m->p.kind != K_HTML && m->p.kind != K_ATTACH)
		return;
	/* an attachment's head is all libmagic needs */
	if (m->p.kind == K_ATTACH && m->headlen >= HEADMAX)
		return;
	switch (m->p.enc) {
	case E_B64:
		k = dec_b64(&m->dstate, s, n, m->dec);
		encoded(m, m->dec, k);
		sink(m, m->dec, k);
		break;
	case E_QP:
		k = dec_qp(&m->dstate, s, n, eol, m->dec);
		encoded(m, m->dec, k);
		sink(m, m->dec, k);
		break;
	default:
		sink(m, (const unsigned char *)s, n);
		if (eol)
			sink(m, (const unsigned char *)"\n", 1);
		break;
	}
}

static const char *ext_type(const char *ext)
{
	static const char *const map[][2] = {
		{ "pdf", "application/pdf" }, { "zip", "application/zip" },
		{ "doc", "application/msword" }, { "xls", "application/vnd.ms-excel" },
		{ "ppt", "application/vnd.ms-powerpoint" },
		{ "docx", "application/zip" }, { "xlsx", "application/zip" },
		{ "pptx", "application/zip" }, { "odt", "application/zip" },
		{ "jar", "application/zip" }, { "jpg", "image/jpeg" },
		{ "jpeg", "image/jpeg" }, { "png", "image/png" }, { "gif", "image/gif" },
		{ "bmp", "image/bmp" }, { "tif", "image/tiff" }, { "tiff", "image/tiff" },
		{ "txt", "text/plain" }, { "htm", "text/html" }, { "html", "text/html" },
		{ "csv", "text/csv" }, { "rtf", "text/rtf" }, { "xml", "text/xml" },
		{ "exe", "application/x-dosexec" }, { "scr", "application/x-dosexec" },
		{ "com", "application/x-dosexec" }, { "pif", "application/x-dosexec" },
		{ "dll", "application/x-dosexec" }, { "rar", "application/x-rar" },
		{ "gz", "application/gzip" }, { "7z", "application/x-7z-compressed" },
		{ "mp3", "audio/mpeg" }, { "wav", "audio/x-wav" }, { NULL, NULL } };

	for (int i = 0; map[i][0] != NULL; i++)
		if (strcmp(ext, map[i][0]) == 0)
			return map[i][1];
	return NULL;
}

/* Family of a MIME type for the mismatch test: equal families agree. */
static const char *family(const char *t)
{
	static const char *const fam[][2] = {
		{ "application/zip", "zip" }, { "application/x-zip", "zip" },
		{ "application/x-zip-compressed", "zip" },
		{ "application/vnd.openxmlformats", "zip" },
		{ "application/vnd.oasis", "zip" }, { "application/java-archive", "zip" },
		{ "application/epub+zip", "zip" },
		{ "application/msword", "ole" }, { "application/vnd.ms-", "ole" },
		{ "application/x-ole-storage", "ole" }, { "application/cdfv2", "ole" },
		{ "application/x-dosexec", "exe" }, { "application/x-msdownload", "exe" },
		{ "application/x-ms-dos-executable", "exe" },
		{ "application/vnd.microsoft.portable-executable", "exe" },
		{ "application/x-executable", "exe" },
		{ "application/x-rar", "rar" }, { "application/vnd.rar", "rar" },
		{ "application/gzip", "gz" }, { "application/x-gzip", "gz" },
		{ "image/jpeg", "jpeg" }, { "image/pjpeg", "jpeg" },
		{ "image/jpg", "jpeg" },
		{ "image/png", "png" }, { "image/x-png", "png" },
		{ "application/pdf", "pdf" }, { "application/x-pdf", "pdf" },
		{ "audio/mpeg", "mp3" }, { "audio/mp3", "mp3" },
		{ "audio/x-mpeg", "mp3" },
		{ "text/", "text" }, { "message/", "text" }, { NULL, NULL } };

	for (int i = 0; fam[i][0] != NULL; i++)
		if (strncmp(t, fam[i][0], strlen(fam[i][0])) == 0)
			return fam[i][1];
	return t;
}

/* Types that say nothing: they agree with anything. */
static int vague(const char *t)
{
	return t[0] == '\0' || strcmp(t, "application/octet-stream") == 0 ||
	    strcmp(t, "application/x-empty") == 0 || strcmp(t, "inode/x-empty") == 0 ||
	    strcmp(t, "application/unknown") == 0 || strcmp(t, "binary/octet-stream") == 0;
}

/*
 * Do two types agree? Each common alias is its family (image/jpg is a
 * JPEG, image/x-png a PNG: a false mismatch blurs the token that marks a
 * disguised file), and Outlook labels a CSV file an Excel sheet.
 */
static int agree(const char *a, const char *b)
{
	if (vague(a) || vague(b) || strcmp(family(a), family(b)) == 0)
		return 1;
	return (strcmp(a, "application/vnd.ms-excel") == 0 &&
	    strcmp(b, "text/csv") == 0) ||
	    (strcmp(b, "application/vnd.ms-excel") == 0 &&
	    strcmp(a, "text/csv") == 0);
}

static void attach_tokens(msg *m)
{
	const char *dot = strrchr(m->p.fname, '.');
	char ext[16] = "", ext1[32] = "", mt[96] = "";
	const char *expect = NULL;

	if (m->p.fname[0] != '\0') {
		if (dot == NULL || dot[1] == '\0') {
			strcpy(ext, "none");
		} else if (strlen(dot + 1) > 8) {
			strcpy(ext, "long");
		} else {
			snprintf(ext, sizeof(ext), "%s", dot + 1);
			lower(ext);
			expect = ext_type(ext);
			/* a second extension before it: "invoice.pdf.exe" */
			for (size_t k = (size_t)(dot - m->p.fname); k > 0; k--) {
				const char *d = m->p.fname + k - 1;

				if (*d == '.') {
					if (dot - d - 1 >= 1 && dot - d - 1 <= 4) {
						snprintf(ext1, sizeof(ext1), "%.*s.%s",
						    (int)(dot - d - 1), d + 1, ext);
						lower(ext1);
					}
					break;
				}
			}
		}
		addf(m, "attach:ext:", ext);
		if (ext1[0] != '\0')
			addf(m, "attach:ext2:", ext1);
	}
	if ((m->o.magic != NULL || m->o.magic_type != NULL) && m->headlen > 0 &&
	    m->magics++ >= MAGIC_MAX) {
		if (m->magics == MAGIC_MAX + 1)
			add(m, "attach:magic:limit", 18);
	} else if ((m->o.magic != NULL || m->o.magic_type != NULL) &&
	    m->headlen > 0) {
		const char *r;

		if (m->o.magic != NULL) {
			r = magic_buffer((magic_t)m->o.magic, m->head, m->headlen);
			if (r != NULL)
				snprintf(mt, sizeof(mt), "%s", r);
		} else {
			r = m->o.magic_type(m->o.magic_arg, m->head, m->headlen,
			    mt, sizeof(mt));
		}
		if (r != NULL) {
			mt[strcspn(mt, "; ")] = '\0';
			lower(mt);
			addf(m, "attach:magic:", mt);
			if ((expect != NULL && !agree(expect, mt)) ||
			    (m->p.kind == K_ATTACH && !agree(m->p.type, mt))) {
				char buf[160];

				add(m, "attach:mismatch", 15);
				snprintf(buf, sizeof(buf), "%s:%s", ext[0] ? ext : "-", mt);
				addf(m, "attach:mismatch:", buf);
			}
		}
	}
}

/* End of the current part's body. */
static void end_part(msg *m)
{
	if (m->p.in_head) {
		flush_field(m);
		return;
	}
	if (m->p.kind == K_TEXT || m->p.kind == K_HTML || m->p.kind == K_ATTACH) {
		if (m->p.enc == E_B64) {
			size_t k = dec_b64_end(&m->dstate, m->dec);

			encoded(m, m->dec, k);
			sink(m, m->dec, k);
		}
		if (m->o.encoded_text != NULL && m->p.enc != E_IDENT &&
		    m->p.kind != K_ATTACH)
			m->o.encoded_text(m->o.encoded_arg, NULL, 0);
		if (m->p.sniff)
			sniff_end(m);
		if (m->p.kind != K_ATTACH)
			charset_end(m->cs, text_sink, m);
		if (m->p.kind == K_HTML) {
			if (html_end(m->h) < 0)
				m->err = -ENOMEM;
		} else if (words_end(m->w) < 0) {
			m->err = -ENOMEM;
		}
		if (m->p.attach)
			attach_tokens(m);
	}
	m->p.kind = K_NONE;
}

/* The current part's header has ended: decide what its body is. */
static void end_head(msg *m)
{
	struct part *p = &m->p;
	const char *t = p->type;

	flush_field(m);
	p->in_head = 0;
	m->dstate = 0;
	m->headlen = 0;
	if (t[0] != '\0')
		addf(m, "mime:type:", t);
	if (p->cset[0] != '\0')
		addf(m, "mime:charset:", p->cset);
	/* a digest's part without a type is a message, not text */
	if (t[0] == '\0' && p->in_digest)
		t = "message/rfc822";
	if (strncmp(t, "multipart/", 10) == 0) {
		if (p->bound[0] == '\0') {
			add(m, "mime:no-boundary", 16);
			t = "text/plain";
		} else if (p->depth + 1 > m->o.max_depth) {
			add(m, "mime:depth-exceeded", 19);
			p->kind = K_SKIP;
			return;
		} else {
			struct level *l = &m->lv[m->nlv++];

			l->blen = strlen(p->bound);
			memcpy(l->b, p->bound, l->blen + 1);
			l->depth = p->depth + 1;
			l->digest = strcmp(t, "multipart/digest") == 0;
			p->kind = K_MULTI; /* preamble */
			return;
		}
	}
	if ((strcmp(t, "message/rfc822") == 0 || strcmp(t, "message/global") == 0) &&
	    p->enc == E_IDENT) {
		if (p->depth + 1 > m->o.max_depth) {
			add(m, "mime:depth-exceeded", 19);
			p->kind = K_SKIP;
			return;
		}
		/* the body is a message: read its header next */
		new_part(m, 1, p->depth + 1);
		return;
	}
	m->parts++;
	if (strcmp(t, "text/html") == 0)
		p->kind = K_HTML;
	else if (t[0] == '\0' || strncmp(t, "text/", 5) == 0 ||
	    strncmp(t, "message/", 8) == 0)
		p->kind = K_TEXT;
	else
		p->kind = K_ATTACH;
	p->attach = p->kind == K_ATTACH || p->fname[0] != '\0' || p->disp_attach;
	if (p->kind == K_TEXT || p->kind == K_HTML) {
		if (charset_select(m->cs, p->cset) == -ENOENT)
			addf(m, "mime:charset-unknown:", p->cset);
		words_begin(m->w, m->out, NULL);
		if (p->kind == K_HTML) {
			p->sniff = p->cset[0] == '\0';
			m->nsniff = 0;
			words_begin(m->hw, hidden_set(m), "hidden:");
			html_begin(m->h, m->w, m->hw, m->out);
		}
	}
}

/* ------------------------------------------------------------------ */
/* lines */

/* Index of the open multipart whose boundary starts line s, or -1. */
static int boundary(const msg *m, const char *s, size_t n, int *closing)
{
	for (int k = m->nlv - 1; k >= 0; k--) {
		const struct level *l = &m->lv[k];
		size_t i = 2 + l->blen;

		if (n < i || memcmp(s + 2, l->b, l->blen) != 0)
			continue;
		*closing = n >= i + 2 && s[i] == '-' && s[i + 1] == '-';
		if (*closing)
			i += 2;
		while (i < n && (s[i] == ' ' || s[i] == '\t'))
			i++;
		if (i == n)
			return k;
	}
	return -1;
}

static void head_line(msg *m, const char *s, size_t n, int start, int eol)
{
	if (!start) {
		hbuf_append(m, s, n);
		return;
	}
	if (m->raw && m->first_line && m->p.depth == 0) {
		m->first_line = 0;
		if (n >= 5 && memcmp(s, "From ", 5) == 0) {
			m->skip_line = !eol;
			return; /* mbox separator */
		}
		{
			const char *c = memchr(s, ':', n);
			size_t i = 0, k = c ? (size_t)(c - s) : 0;

			/* a field name: no blanks, except before the colon */
			while (k > 0 && (s[k - 1] == ' ' || s[k - 1] == '\t'))
				k--;
			while (i < k && (unsigned char)s[i] > ' ')
				i++;
			if (n > 0 && (c == NULL || i < k || k == 0)) {
				/* no header at all: the whole input is body */
				add(m, "msg:no-headers", 14);
				end_head(m);
				top_eoh(m);
				m->stop = 1;
				body_line(m, s, n, eol);
				return;
			}
		}
	}
	if (n == 0 && eol) {
		int top = m->p.depth == 0 && !m->eoh;

		end_head(m);
		if (top) {
			top_eoh(m);
			m->stop = 1;
		}
		return;
	}
	if (n > 0 && (s[0] == ' ' || s[0] == '\t')) {
		hbuf_append(m, s, n);
		return;
	}
	flush_field(m);
	hbuf_append(m, s, n);
}

/* One line piece: n bytes, eol when it ends its line. */
static void piece(msg *m, const char *s, size_t n, int eol)
{
	int start = !m->cont;

	m->cont = !eol;
	if (m->skip_line) {
		m->skip_line = !eol;
		return;
	}
	if (start && m->nlv > 0 && n >= 2 && s[0] == '-' && s[1] == '-') {
		int closing = 0, k = boundary(m, s, n, &closing);

		if (k >= 0) {
			end_part(m);
			if (m->nlv > k + 1)
				m->unterminated = 1;
			m->skip_line = !eol;
			if (closing) {
				m->nlv = k;
				/* the epilogue is ignored */
				memset(&m->p, 0, sizeof(m->p));
				m->p.kind = K_SKIP;
				m->p.depth = m->lv[k].depth - 1;
			} else {
				m->nlv = k + 1;
				new_part(m, 0, m->lv[k].depth);
				m->p.in_digest = m->lv[k].digest;
			}
			return;
		}
	}
	if (m->p.in_head)
		head_line(m, s, n, start, eol);
	else
		body_line(m, s, n, eol);
}

/*
 * Split bytes into line pieces. Returns the bytes consumed: all, or fewer
 * when the top-level header ended (m->stop) so the caller can count the body.
 */
static size_t feed(msg *m, const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len, *lf = NULL;
	int lf_known = 0;       /* lf is the next LF at or after p (NULL: none) */

	while (p < end && m->err == 0) {
		const char *nl, *cr;
		size_t seg, adv;
		int eol;

		if (m->stop)
			break;
		if (m->pending_cr) {
			m->pending_cr = 0;
			if (*p == '\n') {
				p++;
				continue;
			}
		}
		/* Lines ended by a bare CR must not rescan to the next LF each. */
		if (!lf_known || (lf != NULL && lf < p)) {
			lf = memchr(p, '\n', (size_t)(end - p));
			lf_known = 1;
		}
		nl = lf;
		seg = nl ? (size_t)(nl - p) : (size_t)(end - p);
		cr = memchr(p, '\r', seg);
		if (cr != NULL) {
			seg = (size_t)(cr - p);
			eol = 1;
			if (cr + 1 == end) {
				m->pending_cr = 1;
				adv = seg + 1;
			} else {
				adv = seg + (cr[1] == '\n' ? 2 : 1);
			}
		} else if (nl != NULL) {
			eol = 1;
			adv = seg + 1;
		} else {
			eol = 0;
			adv = seg;
		}
		/* deliver [p, p + seg) in pieces of at most LINECAP */
		{
			const char *s = p;
			size_t n = seg;

			while (m->llen == 0 && n > LINECAP) {
				piece(m, s, LINECAP, 0);
				s += LINECAP;
				n -= LINECAP;
				/* the header ended: the rest is the body's, counted */
				if (m->stop)
					return (size_t)(s - buf);
			}
			if (m->llen == 0 && eol) {
				piece(m, s, n, 1);
			} else {
				while (n > 0) {
					size_t take = LINECAP - m->llen < n ? LINECAP - m->llen : n;

					memcpy(m->line + m->llen, s, take);
					m->llen += take;
					s += take;
					n -= take;
					if (m->llen == LINECAP && (n > 0 || !eol)) {
						piece(m, m->line, LINECAP, 0);
						m->llen = 0;
						if (m->stop)
							return (size_t)(s - buf);
					}
				}
				if (eol) {
					piece(m, m->line, m->llen, 1);
					m->llen = 0;
				}
			}
		}
		p += adv;
	}
	return (size_t)(p - buf);
}

/* ------------------------------------------------------------------ */
/* public API */

int msg_header(msg *m, const char *name, const char *value)
{
	if (m->raw || m->eoh)
		return -EINVAL;
	m->api = 1;
	field(m, name, strlen(name), value, strlen(value));
	return m->err;
}

int msg_eoh(msg *m)
{
	if (m->raw)
		return -EINVAL;
	m->api = 1;
	if (!m->eoh) {
		end_head(m);
		top_eoh(m);
	}
	return m->err;
}

static void body_bytes(msg *m, const char *buf, size_t len)
{
	size_t take = len;

	m->total += len;
	if (m->scanned >= m->o.max_scan_bytes)
		return;
	if (take > m->o.max_scan_bytes - m->scanned)
		take = m->o.max_scan_bytes - m->scanned;
	m->scanned += take;
	feed(m, buf, take);
}

int msg_body(msg *m, const char *buf, size_t len)
{
	int rc;

	if (m->raw)
		return -EINVAL;
	if (!m->eoh && (rc = msg_eoh(m)) < 0)
		return rc;
	body_bytes(m, buf, len);
	return m->err;
}

int msg_write(msg *m, const char *buf, size_t len)
{
	if (m->api)
		return -EINVAL;
	m->raw = 1;
	if (!m->eoh) {
		size_t used = feed(m, buf, len);

		buf += used;
		len -= used;
		m->stop = 0;
	}
	if (m->eoh && m->pending_cr && len > 0) {
		/* the LF of the CRLF that ended the header, split from its CR */
		m->pending_cr = 0;
		if (*buf == '\n') {
			buf++;
			len--;
		}
	}
	if (len > 0 && m->eoh)
		body_bytes(m, buf, len);
	return m->err;
}

int msg_end(msg *m)
{
	char buf[32];
	const char *bucket;

	m->stop = 0;
	if (m->cont || m->llen > 0) {
		piece(m, m->line, m->llen, 1);
		m->llen = 0;
	}
	if (m->p.in_head && m->p.depth == 0 && !m->eoh) {
		end_head(m);
		top_eoh(m);
	}
	end_part(m);
	add_hidden(m);
	if (m->nlv > 0 || m->unterminated)
		add(m, "mime:unterminated", 17);
	bucket = m->parts >= 100 ? "100" : m->parts >= 10 ? "10" :
	    m->parts >= 5 ? "5-9" : NULL;
	if (bucket == NULL) {
		snprintf(buf, sizeof(buf), "%zu", m->parts);
		bucket = buf;
	}
	addf(m, "mime:parts:", bucket);
	if (m->total > m->scanned)
		add(m, "msg:truncated", 13);
	return m->err;
}

const char *msg_subject(const msg *m)
{
	return m->subject != NULL ? m->subject : "";
}

const char *msg_from_addr(const msg *m)
{
	return m->from;
}

size_t msg_scanned(const msg *m)
{
	return m->scanned;
}

size_t msg_total(const msg *m)
{
	return m->total;
}

size_t msg_parts(const msg *m)
{
	return m->parts;
}

