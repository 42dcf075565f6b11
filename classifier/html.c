/*
 * html -- streaming HTML reader (see html.h): a byte-at-a-time state machine
 * with fixed buffers. Pure C: no SQLite, libmilter or syslog.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "classifier/html.h"
#include "classifier/url.h"

#define NAMEMAX 16   /* tag and attribute names kept (with NUL) */
#define VALMAX 1024  /* attribute value bytes kept */
#define ENTMAX 24    /* entity name bytes ("NegativeVeryThinSpace" fits) */
#define HIDEMAX 32   /* elements open inside a hidden one, itself included */
#define SHEETMAX 4096 /* bytes of a <style> element read for its rules */
#define RULEMAX 32   /* class and id selectors kept (that hide or show) */
#define SELMAX 32    /* bytes of one (with '.' or '#' and NUL) */

/* How an element's style hides it (the strongest one counts). */
enum hide {
	HIDE_NO,      /* shown */
	HIDE_ROOM,    /* visibility:hidden: unseen, but its room stays blank */
	HIDE_ZERO,    /* font-size:0: text of no width (a block still breaks) */
	HIDE_GONE     /* display:none: no box at all */
};

/*
 * What a start tag inside hidden text may set to show its own text again,
 * as far as this parser can tell (font-size and visibility are inherited:
 * a descendant may set its own; a class or id may, from a style sheet).
 */
#define RESHOW_SIZE 1 /* a size: shows it under font-size:0 */
#define RESHOW_VIS 2  /* visibility:visible: shows it under hidden */

/*
 * The three properties that hide text, as declarations set them: 1 hides
 * (display:none, font-size:0, visibility:hidden), -1 shows (any other
 * value), 0 not set; and which of them are !important.
 */
enum { P_DISPLAY, P_SIZE, P_VIS, NPROP };

struct decls {
	signed char val[NPROP];
	unsigned char important[NPROP];
};

/*
 * An element's value of each property, from its rules and its own style,
 * by CSS's cascade: the highest rank wins (rank(): !important, then the
 * style attribute over the sheet, then the selector's specificity, then
 * the later rule).
 */
struct cascade {
	signed char val[NPROP];
	long rank[NPROP];
};

#define TAG_CLASS 1 /* (an element's first class and id attributes count) */
#define TAG_ID 2

enum state {
	S_TEXT, S_LT, S_BANG, S_BANGDASH, S_COMMENT, S_DECL, S_TAGNAME, S_ATTRS,
	S_ANAME, S_AAFTER, S_AEQ, S_AVALQ, S_AVAL, S_ENT, S_RAW
};

/* HTML5's comment states: where a '>' ends the comment */
enum cstate {
	CM_START,     /* right after "<!--": '>' ends it ("<!-->") */
	CM_STARTDASH, /* "<!---": '>' ends it ("<!--->") */
	CM_BODY,      /* comment text */
	CM_DASH,      /* one '-' */
	CM_END,       /* "--" or more: '>' ends it */
	CM_BANG       /* "--!": '>' ends it too */
};

struct html {
	words *text;            /* visible text goes here (borrowed) */
	words *hidden;          /* and hidden text here (borrowed), or NULL */
	tokset *out;            /* markup tokens (borrowed) */
	int err;                /* sticky error */
	enum state st;          /* current state */
	int closing;            /* the tag is an end tag */
	enum cstate cm;         /* comment state, in S_COMMENT */
	char quote;             /* quote of the attribute value */
	size_t tlen;            /* bytes in tag */
	size_t alen;            /* bytes in aname */
	size_t vlen;            /* bytes in aval */
	size_t elen;            /* bytes in ent */
	const char *raw_end;    /* "</script" or "</style" while skipping */
	size_t raw_match;       /* bytes of raw_end matched */
	char tag[NAMEMAX];      /* tag name, lowercase */
	char aname[NAMEMAX];    /* attribute name, lowercase */
	char ent[ENTMAX];       /* entity name */
	char aval[VALMAX];      /* attribute value */
	int in_a;               /* inside <a href=...> */
	char a_dom[64];         /* registrable domain of that href, "" = none */
	size_t a_tlen;          /* bytes in a_text */
	char a_text[256];       /* the link's text, blanks collapsed (see
	                         * link_text_room) */
	int a_full;             /* a_text holds its URL: no more needed */
	enum hide tag_hide;     /* the start tag being read has a hiding style */
	int tag_reshow;         /* and RESHOW_* it may show text with */
	enum hide hroot;        /* how the hidden element hides its text */
	int hide_break;         /* the hidden element separates words around it */
	size_t hdepth;          /* elements open in the hidden one (0: shown) */
	char hstack[HIDEMAX][NAMEMAX]; /* their names, the hidden one first */
	struct cascade tag_css; /* what its class, id and style set */
	int in_sheet;           /* the raw text is a <style> element's */
	size_t sheet_len;       /* bytes in sheet */
	char sheet[SHEETMAX + 7]; /* the <style> element being read, and the
	                           * "</style" that ended it */
	size_t nrules;          /* rules kept */
	int rules_off;          /* more rules than kept: none count */
	int sheet_order;        /* rules read in the part's sheets so far */
	unsigned char unsure_show[NPROP]; /* a rule this parser cannot place
	                         * shows the property: no rule hides by it;
	                         * 2: !important, no style attribute either */
	int tag_had;            /* TAG_CLASS, TAG_ID: the tag's attribute seen */
	char rule_sel[RULEMAX][SELMAX]; /* ".class" or "#id", lowercase */
	char rule_tag[RULEMAX][NAMEMAX]; /* on this element only, or "" */
	struct decls rule_decls[RULEMAX]; /* what each sets */
	int rule_order[RULEMAX][NPROP]; /* where in the sheet (later wins) */
};

int html_new(html **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

void html_free(html *h)
{
	free(h);
}

void html_begin(html *h, words *text, words *hidden, tokset *out)
{
	memset(h, 0, sizeof(*h));
	h->text = text;
	h->hidden = hidden;
	h->out = out;
	h->st = S_TEXT;
}

/* Add the token a + b + c + d (NULL ends the list early). */
static void tok(html *h, const char *a, const char *b, const char *c,
	const char *d)
{
	char buf[96];
	const char *parts[4] = { a, b, c, d };
	size_t o = 0;

	for (int i = 0; i < 4 && parts[i] != NULL; i++) {
		size_t n = strlen(parts[i]);

		if (n > sizeof(buf) - o)
			n = sizeof(buf) - o;
		memcpy(buf + o, parts[i], n);
		o += n;
	}
	if (tokset_add(h->out, buf, o) < 0)
		h->err = -ENOMEM;
}

static int is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

/*
 * The link's text filled a_text: make room, keeping what end_link needs.
 * From the first URL that gives a domain on (at the start already: the
 * buffer is done), else the tail, where one may be beginning ("https://www."
 * is 12 bytes): text before the URL must not push it out.
 */
static void link_text_room(html *h)
{
	const char *t = h->a_text;
	size_t n = h->a_tlen, keep = n - 3;
	char dom[64];

	for (size_t i = 0; i + 4 <= n; i++) {
		if (strncasecmp(t + i, "http", 4) != 0 &&
		    strncasecmp(t + i, "www.", 4) != 0)
			continue;
		if (url_regdomain(t + i, n - i, dom, sizeof(dom)) > 0) {
			keep = i;
			break;
		}
		if (i + 16 >= n && i < keep)
			keep = i;
	}
	if (keep == 0) {
		h->a_full = 1;
		return;
	}
	memmove(h->a_text, t + keep, n - keep);
	h->a_tlen = n - keep;
}

static void text(html *h, const char *s, size_t n)
{
	if (h->hdepth > 0) {
		/* hidden: words of its own, no part of the words around */
		if (h->hidden != NULL && words_feed(h->hidden, s, n) < 0)
			h->err = -ENOMEM;
		return;
	}
	/*
	 * A link's text is kept with each run of white space (no-break spaces
	 * too) as one ' ', none first.
	 */
	for (size_t i = 0; h->in_a && !h->a_full && i < n; i++) {
		char c = is_space((unsigned char)s[i]) ? ' ' : s[i];

		if (h->a_tlen == sizeof(h->a_text)) {
			link_text_room(h);
			if (h->a_full)
				break;
		}
		if ((unsigned char)c == 0xA0 && h->a_tlen > 0 &&
		    (unsigned char)h->a_text[h->a_tlen - 1] == 0xC2) {
			h->a_tlen--;
			c = ' ';
		}
		if (c != ' ' || (h->a_tlen > 0 && h->a_text[h->a_tlen - 1] != ' '))
			h->a_text[h->a_tlen++] = c;
	}
	if (words_feed(h->text, s, n) < 0)
		h->err = -ENOMEM;
}

/* In t, a list of names separated by single blanks, is name. */
static int in_list(const char *t, const char *name)
{
	size_t n = strlen(name);

	for (;;) {
		size_t k = strcspn(t, " ");

		if (k == n && memcmp(t, name, n) == 0)
			return 1;
		if (t[k] == '\0')
			return 0;
		t += k + 1;
	}
}

/*
 * HTML's block elements, and the void ones that separate words as a block
 * does (br, hr, img, input): the words on either side of one are two
 * ("alpha<main>beta" is "alpha" and "beta"). ends_p: a start tag of it ends
 * an open <p> (HTML5's implied end tag). Sorted for bsearch.
 */
struct block {
	char name[12];          /* tag name, lowercase */
	unsigned char ends_p;   /* its start tag ends an open p */
};

static const struct block blocks[] = {
	{ "address", 1 }, { "article", 1 }, { "aside", 1 },
	{ "blockquote", 1 }, { "body", 0 }, { "br", 0 }, { "button", 0 },
	{ "caption", 0 }, { "center", 1 }, { "dd", 0 }, { "details", 1 },
	{ "dialog", 1 }, { "dir", 1 }, { "div", 1 }, { "dl", 1 }, { "dt", 0 },
	{ "fieldset", 1 }, { "figcaption", 1 }, { "figure", 1 },
	{ "footer", 1 }, { "form", 1 }, { "h1", 1 }, { "h2", 1 }, { "h3", 1 },
	{ "h4", 1 }, { "h5", 1 }, { "h6", 1 }, { "head", 0 }, { "header", 1 },
	{ "hgroup", 1 }, { "hr", 1 }, { "html", 0 }, { "iframe", 0 },
	{ "img", 0 }, { "input", 0 }, { "legend", 0 }, { "li", 0 },
	{ "main", 1 }, { "menu", 1 }, { "nav", 1 }, { "ol", 1 },
	{ "option", 0 }, { "p", 1 }, { "pre", 1 }, { "section", 1 },
	{ "select", 0 }, { "summary", 0 }, { "table", 1 }, { "tbody", 0 },
	{ "td", 0 }, { "textarea", 0 }, { "th", 0 }, { "thead", 0 },
	{ "title", 0 }, { "tr", 0 }, { "ul", 1 } };

static int block_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct block *)elem)->name);
}

/* The block element named t, or NULL. */
static const struct block *block_of(const char *t)
{
	return bsearch(t, blocks, sizeof(blocks) / sizeof(blocks[0]),
	    sizeof(blocks[0]), block_cmp);
}

static int is_block(const char *t)
{
	return block_of(t) != NULL;
}

static size_t put_utf8(unsigned cp, char *o)
{
	if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		cp = 0xFFFD;
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xC0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xE0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	o[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* Code point of the entity named e (n bytes, after '&'), or 0 when unknown. */
static unsigned entity(const char *e, size_t n)
{
	/* (with its length: a scan compares that first) */
#define E(name, cp) { name, sizeof(name) - 1, cp }
	static const struct {
		const char *name;
		size_t len;
		unsigned cp;
	} named[] = {
		E("amp", '&'), E("lt", '<'), E("gt", '>'), E("quot", '"'),
		E("apos", '\''), E("nbsp", 0xA0), E("copy", 0xA9), E("reg", 0xAE),
		E("euro", 0x20AC), E("pound", 0xA3), E("yen", 0xA5),
		E("cent", 0xA2), E("hellip", 0x2026), E("mdash", 0x2014),
		E("ndash", 0x2013), E("lsquo", 0x2018), E("rsquo", 0x2019),
		E("ldquo", 0x201C), E("rdquo", 0x201D), E("bull", 0x2022),
		E("trade", 0x2122), E("shy", 0xAD), E("zwnj", 0x200C),
		E("zwj", 0x200D), E("times", 0xD7), E("eacute", 0xE9),
		E("egrave", 0xE8), E("aacute", 0xE1), E("agrave", 0xE0),
		E("oacute", 0xF3), E("uacute", 0xFA), E("iacute", 0xED),
		E("ntilde", 0xF1), E("ccedil", 0xE7), E("auml", 0xE4),
		E("ouml", 0xF6), E("uuml", 0xFC), E("szlig", 0xDF),
		E("iexcl", 0xA1), E("iquest", 0xBF), E("laquo", 0xAB),
		E("raquo", 0xBB), E("middot", 0xB7), E("deg", 0xB0),
		E("Eacute", 0xC9), E("Auml", 0xC4), E("Ouml", 0xD6),
		E("Uuml", 0xDC),
		/* HTML5's names for ASCII punctuation: a link written
		 * "http&colon;&sol;&sol;evil&period;example" is followed */
		E("excl", '!'), E("num", '#'), E("dollar", '$'),
		E("percnt", '%'), E("lpar", '('), E("rpar", ')'),
		E("ast", '*'), E("midast", '*'), E("plus", '+'),
		E("comma", ','), E("period", '.'), E("sol", '/'),
		E("colon", ':'), E("semi", ';'), E("equals", '='),
		E("quest", '?'), E("commat", '@'), E("lsqb", '['),
		E("lbrack", '['), E("bsol", '\\'), E("rsqb", ']'),
		E("rbrack", ']'), E("Hat", '^'), E("lowbar", '_'),
		E("UnderBar", '_'), E("grave", '`'), E("lcub", '{'),
		E("lbrace", '{'), E("verbar", '|'), E("vert", '|'),
		E("VerticalLine", '|'), E("rcub", '}'), E("rbrace", '}'),
		E("Tab", '\t'), E("NewLine", '\n'), E("QUOT", '"'),
		E("AMP", '&'), E("LT", '<'), E("GT", '>'),
		/* invisible: spammers put them inside words */
		E("ZeroWidthSpace", 0x200B), E("NegativeVeryThinSpace", 0x200B),
		E("NegativeThinSpace", 0x200B), E("NegativeMediumSpace", 0x200B),
		E("NegativeThickSpace", 0x200B), E("lrm", 0x200E),
		E("rlm", 0x200F), E("NoBreak", 0x2060),
		E("ApplyFunction", 0x2061), E("InvisibleTimes", 0x2062),
		E("InvisibleComma", 0x2063),
		/* HTML 4's other letters, punctuation and symbols in mail */
		E("OElig", 0x152), E("oelig", 0x153), E("Scaron", 0x160),
		E("scaron", 0x161), E("Yuml", 0x178), E("fnof", 0x192),
		E("circ", 0x2C6), E("tilde", 0x2DC), E("ensp", 0x2002),
		E("emsp", 0x2003), E("thinsp", 0x2009), E("sbquo", 0x201A),
		E("bdquo", 0x201E), E("dagger", 0x2020), E("Dagger", 0x2021),
		E("permil", 0x2030), E("lsaquo", 0x2039), E("rsaquo", 0x203A),
		E("prime", 0x2032), E("Prime", 0x2033), E("larr", 0x2190),
		E("uarr", 0x2191), E("rarr", 0x2192), E("darr", 0x2193),
		E("harr", 0x2194), E("rArr", 0x21D2), E("minus", 0x2212),
		E("le", 0x2264), E("ge", 0x2265), E("ne", 0x2260),
		E("infin", 0x221E), E("asymp", 0x2248), E("loz", 0x25CA),
		E("spades", 0x2660), E("clubs", 0x2663), E("hearts", 0x2665),
		E("diams", 0x2666), { NULL, 0, 0 } };
#undef E
	/*
	 * HTML 4's Latin-1 names, U+00A0 to U+00FF in order: accented
	 * letters are written so in Portuguese, Spanish, French, German mail
	 * ("&atilde;", "&ecirc;tre"); an unknown one split the word in two.
	 */
	static const char *const latin1[96] = {
		"nbsp", "iexcl", "cent", "pound", "curren", "yen", "brvbar", "sect",
		"uml", "copy", "ordf", "laquo", "not", "shy", "reg", "macr",
		"deg", "plusmn", "sup2", "sup3", "acute", "micro", "para", "middot",
		"cedil", "sup1", "ordm", "raquo", "frac14", "frac12", "frac34", "iquest",
		"Agrave", "Aacute", "Acirc", "Atilde", "Auml", "Aring", "AElig", "Ccedil",
		"Egrave", "Eacute", "Ecirc", "Euml", "Igrave", "Iacute", "Icirc", "Iuml",
		"ETH", "Ntilde", "Ograve", "Oacute", "Ocirc", "Otilde", "Ouml", "times",
		"Oslash", "Ugrave", "Uacute", "Ucirc", "Uuml", "Yacute", "THORN", "szlig",
		"agrave", "aacute", "acirc", "atilde", "auml", "aring", "aelig", "ccedil",
		"egrave", "eacute", "ecirc", "euml", "igrave", "iacute", "icirc", "iuml",
		"eth", "ntilde", "ograve", "oacute", "ocirc", "otilde", "ouml", "divide",
		"oslash", "ugrave", "uacute", "ucirc", "uuml", "yacute", "thorn", "yuml" };

	if (n == 0)
		return 0;
	if (e[0] == '#') {
		unsigned long v = 0;
		size_t i = 1;
		int hex = 0, any = 0;

		if (i < n && (e[i] == 'x' || e[i] == 'X')) {
			hex = 1;
			i++;
		}
		for (; i < n; i++) {
			int d;
			char c = e[i];

			if (c >= '0' && c <= '9')
				d = c - '0';
			else if (hex && (c | 0x20) >= 'a' && (c | 0x20) <= 'f')
				d = (c | 0x20) - 'a' + 10;
			else
				return 0;
			/* past U+10FFFF stays there: more digits must not wrap back */
			if (v <= 0x10FFFF)
				v = v * (hex ? 16 : 10) + (unsigned long)d;
			any = 1;
		}
		if (!any)
			return 0;
		/*
		 * HTML5 reads 128-159 as windows-1252 ("don&#146;t" is
		 * "don\u2019t", &#128; the euro sign), as Word's HTML meant
		 * them; the five it leaves undefined stay control characters.
		 */
		if (v >= 0x80 && v <= 0x9F && words_cp1252((unsigned char)v) != 0xFFFD)
			return words_cp1252((unsigned char)v);
		return v && v <= 0x10FFFF ? (unsigned)v : 0xFFFD;
	}
	/* No name is shorter than 2 or longer than 21 ("&a" storms: each
	 * was a scan of every name) */
	if (n < 2 || n > 21)
		return 0;
	for (int i = 0; named[i].name != NULL; i++)
		if (named[i].len == n && named[i].name[0] == e[0] &&
		    memcmp(named[i].name, e, n) == 0)
			return named[i].cp;
	for (unsigned i = 0; i < 96; i++)
		if (latin1[i][0] == e[0] && strncmp(latin1[i], e, n) == 0 &&
		    latin1[i][n] == '\0')
			return 0xA0 + i;
	return 0;
}

/* End of an entity; returns 1 when it was decoded. */
static int end_entity(html *h, int semicolon)
{
	unsigned cp = entity(h->ent, h->elen);
	char buf[ENTMAX + 4];
	size_t n;

	h->st = S_TEXT;
	if (cp != 0) {
		n = put_utf8(cp, buf);
		text(h, buf, n);
		return 1;
	}
	buf[0] = '&';
	memcpy(buf + 1, h->ent, h->elen);
	n = h->elen + 1;
	if (semicolon)
		buf[n++] = ';';
	text(h, buf, n);
	return 0;
}

static int is_alpha(unsigned char c)
{
	return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
}

/*
 * c may continue the reference whose name so far is e (n bytes): a name is
 * letters and digits; "#" and "#x" start a number that only its digits
 * continue ("&#46example" reads ".example").
 */
static int ref_char(const char *e, size_t n, unsigned char c)
{
	int digit = c >= '0' && c <= '9';

	if (n == 0)
		return c == '#' || is_alpha(c) || digit;
	if (e[0] != '#')
		return is_alpha(c) || digit;
	if (n == 1 && (c | 0x20) == 'x')
		return 1;
	if (n >= 2 && (e[1] | 0x20) == 'x')
		return digit || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
	return digit;
}

/*
 * Decode the character references in an attribute value (v, n bytes) in
 * place, as a browser does before it reads the value ("&#104;ttp://" is a
 * link); returns the new length. In place is safe: a reference is never
 * shorter than its UTF-8 ("&#128" is 5 bytes, U+20AC 3; "&#0" 3, U+FFFD 3;
 * named ones are BMP, at most 3 bytes, with names of 2 letters or more).
 * As in HTML5, a name without ';' before '=' stays as written
 * ("?a=1&copy=2" is a query).
 */
static size_t decode_refs(char *v, size_t n)
{
	char *amp = memchr(v, '&', n);
	size_t i, o;

	if (amp == NULL)
		return n;
	for (i = o = (size_t)(amp - v); i < n;) {
		size_t e = i + 1;
		unsigned cp;
		char b[4];
		size_t k;

		if (v[i] != '&') {
			v[o++] = v[i++];
			continue;
		}
		while (e < n && ref_char(v + i + 1, e - i - 1, (unsigned char)v[e]))
			e++;
		cp = entity(v + i + 1, e - i - 1);
		if (cp == 0 || (v[i + 1] != '#' && e < n && v[e] == '=')) {
			v[o++] = v[i++];
			continue;
		}
		k = put_utf8(cp, b);
		memcpy(v + o, b, k);
		o += k;
		i = e < n && v[e] == ';' ? e + 1 : e;
	}
	return o;
}

/* Drop tabs and newlines, as browsers do anywhere in a URL ("ht\ntp://"). */
static size_t drop_newlines(char *v, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++)
		if (v[i] != '\t' && v[i] != '\r' && v[i] != '\n')
			v[o++] = v[i];
	return o;
}

static void lower_copy(char *dst, const char *src, size_t n, size_t cap)
{
	size_t i;

	for (i = 0; i < n && i < cap - 1; i++)
		dst[i] = (char)((src[i] >= 'A' && src[i] <= 'Z') ? src[i] + 32 : src[i]);
	dst[i] = '\0';
}

static int has_scheme(const char *v, size_t n)
{
	size_t i = 0;

	if (n >= 2 && v[0] == '/' && v[1] == '/')
		return 1;
	if (n >= 4 && strncasecmp(v, "www.", 4) == 0)
		return 1;
	while (i < n && i < 16 && (((v[i] | 0x20) >= 'a' && (v[i] | 0x20) <= 'z')))
		i++;
	return i > 0 && i < n && v[i] == ':';
}

/*
 * Copy v[0..n), trimmed and lowercase, to out (cap bytes, NUL-ended); ""
 * when a blank is left inside (two tokens: "disp/ * * /lay", "0 px").
 */
static void css_word(const char *v, size_t n, char *out, size_t cap)
{
	size_t k = 0;

	while (n > 0 && is_space((unsigned char)v[0]))
		v++, n--;
	while (n > 0 && is_space((unsigned char)v[n - 1]))
		n--;
	for (size_t j = 0; j < n && k < cap - 1; j++) {
		if (is_space((unsigned char)v[j])) {
			k = 0;
			break;
		}
		out[k++] = (char)((v[j] >= 'A' && v[j] <= 'Z') ? v[j] + 32 : v[j]);
	}
	out[k] = '\0';
}

/* Is v a length of 0 ("0", "0px", "0em", ...; not "0.5em")? */
static int zero_length(const char *v)
{
	static const char *const units[] = { "", "px", "pt", "pc", "em",
		"rem", "ex", "ch", "%", "vw", "vh", "vmin", "vmax", "mm",
		"cm", "in", "q", NULL };

	if (*v != '0')
		return 0;
	while (*v == '0')
		v++;
	for (int i = 0; units[i] != NULL; i++)
		if (strcmp(v, units[i]) == 0)
			return 1;
	return 0;
}

/*
 * Read CSS declarations v[0..n) ("name: value; ...") into *d: of a
 * property, the last declaration counts, but a later one does not undo an
 * earlier !important. Comments are blanks; a ';' or ':' inside a quoted
 * string is part of it. A value not known for sure to hide shows.
 */
static void css_read(const char *v, size_t n, struct decls *d)
{
	memset(d, 0, sizeof(*d));
	for (size_t i = 0; i < n; ) {
		char name[16], val[24], buf[64];
		size_t e, c = SIZE_MAX, k = 0;
		int p, hides, imp;
		char q = 0;

		/* one declaration, its comments left out, into buf */
		for (e = i; e < n; e++) {
			if (q == 0 && v[e] == '/' && e + 1 < n && v[e + 1] == '*') {
				for (e += 2; e + 1 < n &&
				    !(v[e] == '*' && v[e + 1] == '/'); e++)
					;
				e = e + 1 < n ? e + 1 : n - 1;
				if (k < sizeof(buf) - 1)
					buf[k++] = ' ';  /* a comment separates */
				continue;
			}
			if (q == 0 && v[e] == ';')
				break;
			if (q != 0 && v[e] == q)
				q = 0;
			else if (q == 0 && (v[e] == '"' || v[e] == '\''))
				q = v[e];
			if (q == 0 && v[e] == ':' && c == SIZE_MAX)
				c = k;
			if (k < sizeof(buf) - 1)
				buf[k++] = v[e];
		}
		i = e + 1;
		if (c == SIZE_MAX || c >= k)
			continue;
		css_word(buf, c, name, sizeof(name));
		{
			const char *bang = memchr(buf + c + 1, '!', k - c - 1);
			size_t vn = bang ? (size_t)(bang - buf) - c - 1 : k - c - 1;
			char word[16];

			css_word(buf + c + 1, vn, val, sizeof(val));
			imp = 0;
			if (bang != NULL) {
				css_word(bang + 1, (size_t)(buf + k - bang) - 1,
				    word, sizeof(word));
				if (strcmp(word, "important") != 0)
					continue;       /* not a valid value */
				imp = 1;
			}
		}
		if (strcmp(name, "display") == 0) {
			p = P_DISPLAY;
			hides = strcmp(val, "none") == 0;
		} else if (strcmp(name, "font-size") == 0) {
			p = P_SIZE;
			hides = zero_length(val);
		} else if (strcmp(name, "font") == 0) {
			p = P_SIZE;     /* a size of its own: shown */
			hides = 0;
		} else if (strcmp(name, "visibility") == 0) {
			p = P_VIS;
			if (strcmp(val, "hidden") == 0 ||
			    strcmp(val, "collapse") == 0)
				hides = 1;
			else if (strcmp(val, "visible") == 0)
				hides = 0;
			else
				continue;       /* inherit and the like */
		} else {
			continue;
		}
		if (d->important[p] && !imp)
			continue;
		d->val[p] = hides ? 1 : -1;
		d->important[p] = (unsigned char)imp;
	}
}

/* How an element whose properties are val[] hides (HIDE_*). */
static enum hide hide_of(const signed char *val)
{
	return val[P_DISPLAY] == 1 ? HIDE_GONE : val[P_SIZE] == 1 ?
	    HIDE_ZERO : val[P_VIS] == 1 ? HIDE_ROOM : HIDE_NO;
}

/*
 * The cascade's rank of a declaration: level 0 a rule, 1 the style
 * attribute, 2 a rule's !important, 3 the style's; spec the selector's
 * specificity (an id 100, a class 10, an element 1); order its place in
 * the sheet.
 */
static long rank(int level, int spec, int order)
{
	return ((long)level * 1000 + spec) * 65536 + order + 1;
}

/* Offer the declarations d, of the given levels, to the element's cascade. */
static void cascade_offer(struct cascade *c, const struct decls *d,
    int inline_style, int spec, const int *order, const unsigned char *nohide)
{
	for (int p = 0; p < NPROP; p++) {
		long r;

		if (d->val[p] == 0 || (d->val[p] == 1 && nohide && nohide[p]))
			continue;
		r = rank(2 * d->important[p] + inline_style, spec,
		    order ? order[p] : 0);
		if (r > c->rank[p]) {
			c->rank[p] = r;
			c->val[p] = d->val[p];
		}
	}
}

/*
 * Offer the sheet's rules for class (kind '.') or id (kind '#') v[0..n)
 * to the start tag's cascade: a class attribute is a list of names, an id
 * one name (with a blank, it matches no selector).
 */
static void rules_offer(html *h, char kind, const char *v, size_t n)
{
	for (size_t i = 0; i < n; ) {
		size_t e = i;
		char sel[SELMAX];

		while (e < n && (kind == '#' || !is_space((unsigned char)v[e])))
			e++;
		if (e > i && e - i < SELMAX - 1 &&
		    (kind == '.' || memchr(v + i, ' ', e - i) == NULL)) {
			sel[0] = kind;
			lower_copy(sel + 1, v + i, e - i, SELMAX - 1);
			for (size_t r = 0; r < h->nrules; r++)
				if (strcmp(h->rule_sel[r], sel) == 0 &&
				    (h->rule_tag[r][0] == '\0' ||
				    strcmp(h->rule_tag[r], h->tag) == 0))
					cascade_offer(&h->tag_css,
					    &h->rule_decls[r], 0,
					    (kind == '#' ? 100 : 10) +
					    (h->rule_tag[r][0] != '\0'),
					    h->rule_order[r], h->unsure_show);
		}
		i = e + 1;
	}
}

/*
 * Keep selector s[0..n) of a rule that sets d (at place order in the
 * sheet) when this parser can tell which elements it matches: one class
 * or id, on any element or on one ("tag.class"). Others (descendants,
 * attributes, pseudo-classes) are left out: text is never taken for
 * hidden on a guess. A later rule of the same selector overrides what it
 * sets again (unless only the earlier one is !important). Rules that show
 * are kept too, as they override; past RULEMAX, no rule counts at all.
 * Returns 0 for a selector left out.
 */
static int keep_rule(html *h, const char *s, size_t n, const struct decls *d,
    int order)
{
	size_t k = 0, r;
	char sel[SELMAX], tag[NAMEMAX];

	while (n > 0 && is_space((unsigned char)s[0]))
		s++, n--;
	while (n > 0 && is_space((unsigned char)s[n - 1]))
		n--;
	while (k < n && (((s[k] | 0x20) >= 'a' && (s[k] | 0x20) <= 'z') ||
	    (k > 0 && s[k] >= '0' && s[k] <= '9')))
		k++;            /* the element's name, if any ("h1") */
	if (k == n || (s[k] != '.' && s[k] != '#') || n - k >= SELMAX ||
	    n - k < 2 || k >= NAMEMAX)
		return 0;
	for (size_t i = k + 1; i < n; i++)
		if (!((s[i] | 0x20) >= 'a' && (s[i] | 0x20) <= 'z') &&
		    !(s[i] >= '0' && s[i] <= '9') && s[i] != '-' && s[i] != '_')
			return 0;
	lower_copy(sel, s + k, n - k, SELMAX);
	lower_copy(tag, s, k, NAMEMAX);
	for (r = 0; r < h->nrules; r++)
		if (strcmp(h->rule_sel[r], sel) == 0 &&
		    strcmp(h->rule_tag[r], tag) == 0)
			break;
	if (r == h->nrules) {
		if (h->nrules == RULEMAX) {
			h->rules_off = 1;
			return 1;
		}
		memcpy(h->rule_sel[r], sel, SELMAX);
		memcpy(h->rule_tag[r], tag, NAMEMAX);
		memset(&h->rule_decls[r], 0, sizeof(h->rule_decls[r]));
		h->nrules++;
	}
	for (int p = 0; p < NPROP; p++) {
		struct decls *o = &h->rule_decls[r];

		if (d->val[p] == 0 || (o->important[p] && !d->important[p]))
			continue;
		o->val[p] = d->val[p];
		o->important[p] = d->important[p];
		h->rule_order[r][p] = order;
	}
	return 1;
}

/* The index of the '}' that closes the block opened at s[i] == '{', or n. */
static size_t block_end(const char *s, size_t n, size_t i)
{
	int depth = 0;

	for (; i < n; i++)
		if (s[i] == '{')
			depth++;
		else if (s[i] == '}' && --depth == 0)
			return i;
	return n;
}

/*
 * Is the at-rule s[0..n) ("@media screen") one whose rules always apply
 * on a screen? Only @media for all media or screen with no condition: a
 * width's or a feature's (responsive mail hides one layout's parts on
 * small screens), print and the other at-rules (@supports, @font-face)
 * are skipped whole.
 */
static int media_always(const char *s, size_t n)
{
	if (n < 6 || strncasecmp(s, "@media", 6) != 0 ||
	    (n > 6 && !is_space((unsigned char)s[6])))
		return 0;       /* ("@mediaall" is an unknown at-rule) */
	for (size_t i = 6; i < n; ) {
		size_t e = i;

		if (is_space((unsigned char)s[i]) || s[i] == ',') {
			i++;
			continue;
		}
		while (e < n && !is_space((unsigned char)s[e]) && s[e] != ',')
			e++;
		if (!((e - i == 6 && strncasecmp(s + i, "screen", 6) == 0) ||
		    (e - i == 3 && strncasecmp(s + i, "all", 3) == 0) ||
		    (e - i == 4 && strncasecmp(s + i, "only", 4) == 0)))
			return 0;
		i = e;
	}
	return 1;
}

/* A rule this parser cannot place sets d: what it shows, no rule hides. */
static void unsure(html *h, const struct decls *d)
{
	for (int p = 0; p < NPROP; p++)
		if (d->val[p] == -1 && h->unsure_show[p] < 1 + d->important[p])
			h->unsure_show[p] = (unsigned char)(1 + d->important[p]);
}

/*
 * A block this parser skips (s[0..n), inside its braces): each rule in it
 * (or its own declarations) that shows a property makes the sheets' rules
 * hide by it no more (h->unsure_show): the text may be shown there.
 */
static void note_shows(html *h, const char *s, size_t n)
{
	size_t a = 0;

	for (size_t i = 0; i <= n; i++) {
		struct decls d;

		if (i < n && s[i] == '{') {
			a = i + 1;
			continue;
		}
		if (i < n && s[i] != '}')
			continue;
		css_read(s + a, i - a, &d);
		unsure(h, &d);
		a = i + 1;
	}
}

/*
 * Blank the sheet's comments and the "<!--" "-->" that mail templates wrap
 * sheets in, and turn the text of quoted strings into 'x's, so that no
 * brace, semicolon or comment mark inside one counts.
 */
static void sheet_clean(char *s, size_t n)
{
	char q = 0;

	for (size_t i = 0; i < n; i++) {
		size_t e;

		if (q != 0) {
			if (s[i] == q) {
				q = 0;
			} else if (s[i] == '\\' && i + 1 < n) {
				s[i++] = 'x';
				s[i] = 'x';
			} else {
				s[i] = 'x';
			}
			continue;
		}
		if (s[i] == '"' || s[i] == '\'') {
			q = s[i];
			continue;
		}
		if (i + 1 < n && s[i] == '/' && s[i + 1] == '*') {
			for (e = i + 2; e + 1 < n && !(s[e] == '*' && s[e + 1] == '/'); e++)
				;
			e = e + 1 < n ? e + 2 : n;
		} else if (i + 3 < n && memcmp(s + i, "<!--", 4) == 0) {
			e = i + 4;
		} else if (i + 2 < n && memcmp(s + i, "-->", 3) == 0) {
			e = i + 3;
		} else {
			continue;
		}
		memset(s + i, ' ', e - i);
		i = e - 1;
	}
}

/*
 * The <style> element ended: keep its rules that set how text hides, by
 * class or id, for the elements after it. The blocks of @media rules that
 * always apply on a screen are read through; other at-rules, and rules
 * with nested blocks, are skipped; so are selectors of other forms. A
 * skipped rule that shows a property disables hiding by it (note_shows).
 */
static void read_sheet(html *h)
{
	char *s = h->sheet;
	size_t n = h->sheet_len, sel = 0;

	sheet_clean(s, n);
	for (size_t i = 0; i < n; i++) {
		size_t end;
		struct decls d;

		if (s[i] == '}' || s[i] == ';') {
			sel = i + 1;    /* (an @import ends with ';') */
			continue;
		}
		if (s[i] != '{')
			continue;
		while (sel < i && is_space((unsigned char)s[sel]))
			sel++;
		if (sel < i && s[sel] == '@' && media_always(s + sel, i - sel)) {
			sel = i + 1;    /* its rules follow */
			continue;
		}
		for (end = i + 1; end < n && s[end] != '}' && s[end] != '{'; end++)
			;
		if (end < n && s[end] == '{') {
			/* a nested block, or an at-rule's: skipped whole */
			end = block_end(s, n, i);
			note_shows(h, s + i + 1, (end < n ? end : n) - i - 1);
		} else if (end < n && sel < i && s[sel] == '@') {
			note_shows(h, s + i + 1, end - i - 1);
		} else if (end < n) {
			css_read(s + i + 1, end - i - 1, &d);
			if (h->sheet_order < 65534)   /* (rank: below 65536) */
				h->sheet_order++;
			for (size_t a = sel, b = sel; b <= i; b++) {
				if (b != i && s[b] != ',')
					continue;
				if (!keep_rule(h, s + a, b - a, &d, h->sheet_order))
					unsure(h, &d);
				a = b + 1;
			}
		}
		if (end >= n)
			break;          /* cut short: no more rules */
		sel = end + 1;
		i = end;
	}
	h->sheet_len = 0;
	h->in_sheet = 0;
}

static void attribute(html *h)
{
	const char *a = h->aname, *t = h->tag;
	char *v = h->aval;
	size_t n = decode_refs(h->aval, h->vlen);

	h->aname[h->alen] = '\0';
	while (n > 0 && is_space((unsigned char)v[0])) {
		v++;
		n--;
	}
	while (n > 0 && is_space((unsigned char)v[n - 1]))
		n--;
	if (h->alen == 0 || h->tlen == 0)
		return;
	tok(h, "html:", t, "-", a);
	if (strcmp(a, "class") == 0 || strcmp(a, "id") == 0) {
		int bit = a[0] == 'c' ? TAG_CLASS : TAG_ID;

		h->tag_reshow |= RESHOW_SIZE | RESHOW_VIS;
		if (h->nrules > 0 && !h->rules_off && !(h->tag_had & bit))
			rules_offer(h, a[0] == 'c' ? '.' : '#', v, n);
		h->tag_had |= bit;
	}
	else if (strcmp(a, "size") == 0)        /* <font size=4> */
		h->tag_reshow |= RESHOW_SIZE;
	if (strchr("abcdfhlpsw", a[0]) == NULL)
		return; /* no attribute below starts with another letter */
	if (strcmp(a, "href") == 0 || strcmp(a, "src") == 0 ||
	    strcmp(a, "action") == 0 || strcmp(a, "background") == 0 ||
	    strcmp(a, "lowsrc") == 0 || strcmp(a, "poster") == 0 ||
	    strcmp(a, "formaction") == 0 || strcmp(a, "data") == 0) {
		n = drop_newlines(v, n);
		if (has_scheme(v, n) && url_tokens(h->out, v, n) < 0)
			h->err = -ENOMEM;
		if (t[0] == 'a' && t[1] == '\0' && a[0] == 'h' && has_scheme(v, n))
			url_regdomain(v, n, h->a_dom, sizeof(h->a_dom));
	} else if (strcmp(a, "color") == 0 || strcmp(a, "bgcolor") == 0 ||
	    strcmp(a, "size") == 0 || strcmp(a, "face") == 0 ||
	    strcmp(a, "align") == 0) {
		char low[25];

		lower_copy(low, v, n, sizeof(low));
		{
			char ta[2 * NAMEMAX + 4];
			size_t tl = strlen(t), al = strlen(a);

			memcpy(ta, t, tl);
			ta[tl] = '-';
			memcpy(ta + tl + 1, a, al);
			ta[tl + 1 + al] = ':';
			ta[tl + 2 + al] = '\0';
			tok(h, "html:", ta, low, NULL);
		}
	} else if (strcmp(a, "style") == 0) {
		struct decls d;

		css_read(v, n, &d);
		/* (a rule it cannot place may show it with !important) */
		for (int p = 0; p < NPROP; p++)
			if (d.val[p] == 1 && !d.important[p] &&
			    h->unsure_show[p] == 2)
				d.val[p] = 0;
		cascade_offer(&h->tag_css, &d, 1, 0, NULL, NULL);
		if (d.val[P_SIZE] == -1)
			h->tag_reshow |= RESHOW_SIZE;
		if (d.val[P_VIS] == -1)
			h->tag_reshow |= RESHOW_VIS;
	} else if (strcmp(t, "img") == 0 &&
	    (strcmp(a, "width") == 0 || strcmp(a, "height") == 0) && n >= 1 &&
	    (v[0] == '0' || v[0] == '1') && (n == 1 || (n == 3 && v[1] == 'p'))) {
		tok(h, "html:img-tiny", NULL, NULL, NULL);
	}
}

/*
 * </a>: a link whose text is itself a URL on another domain than its href
 * ("https://www.paypal.com" pointing to evil.example) is a phishing sign.
 */
static void end_link(html *h)
{
	const char *t = h->a_text;
	size_t n = h->a_tlen;
	char dom[64];

	h->in_a = 0;
	if (h->a_dom[0] == '\0')
		return;
	/* the first "http" or "www." that gives a domain ("HTTPS login: https://...") */
	for (size_t i = 0; i + 4 <= n; i++)
		if ((strncasecmp(t + i, "http", 4) == 0 || strncasecmp(t + i, "www.", 4) == 0) &&
		    url_regdomain(t + i, n - i, dom, sizeof(dom)) > 0) {
			if (strcmp(dom, h->a_dom) != 0)
				tok(h, "html:a-mismatch", NULL, NULL, NULL);
			return;
		}
}

static void word_break(html *h)
{
	if (words_break(h->text) < 0)
		h->err = -ENOMEM;
}

/* An element without content and end tag (HTML5's void elements). */
static int is_void(const char *t)
{
	return in_list("area base br col embed hr img input keygen link meta "
	    "param source track wbr", t);
}

/* A start tag t ends the open element e (HTML5's implied end tags). */
static int ends_open(const char *e, const char *t)
{
	if (strcmp(e, "p") == 0) {
		const struct block *b = block_of(t);

		return b != NULL && b->ends_p;
	}
	if (strcmp(e, "li") == 0 || strcmp(e, "option") == 0)
		return strcmp(e, t) == 0;
	if (strcmp(e, "dt") == 0 || strcmp(e, "dd") == 0)
		return in_list("dd dt", t);
	if (strcmp(e, "td") == 0 || strcmp(e, "th") == 0)
		return in_list("td th tr", t);
	if (strcmp(e, "tr") == 0)
		return strcmp(t, "tr") == 0;
	return 0;
}

/* A break between hidden words (a block inside the hidden element). */
static void hidden_break(html *h)
{
	if (h->hidden != NULL && words_break(h->hidden) < 0)
		h->err = -ENOMEM;
}

/* The hidden element ended: what follows is shown again. */
static void unhide(html *h)
{
	h->hdepth = 0;
	hidden_break(h);        /* (nor do the next hidden element's words) */
	if (h->hide_break)
		word_break(h);
}

/*
 * An end tag inside a hidden element: closes the innermost open element
 * of its name. One that names none of them closes an element outside (a
 * browser ends the hidden one with it) or is stray: either way the text is
 * shown from there, as it was before hidden text was dropped, so a
 * mismatched tag never hides text a reader sees; and, as any end tag of a
 * shown block, it separates the words around it ("<div>aa<span
 * style=display:none>x</div>bb" reads "aa" and "bb", not "aabb").
 */
static void end_hidden_tag(html *h)
{
	size_t k = h->hdepth;

	while (k > 0 && strcmp(h->hstack[k - 1], h->tag) != 0)
		k--;
	if (k > 1) {
		h->hdepth = k - 1;
		if (is_block(h->tag))
			hidden_break(h);
		return;
	}
	unhide(h);
	if (k == 0 && is_block(h->tag))
		word_break(h);
}

/*
 * A start tag's '>': its style known, it may begin a hidden element, whose
 * text up to its end tag (or its implied end) is no part of the text shown.
 * display:none and font-size:0 take no room, so the text on both sides
 * joins ("fr<span style=display:none>xyz</span>ee" reads "free", as a
 * reader sees it); visibility:hidden leaves its room blank and separates
 * words. Text that spammers hide is there for the filter only: words to
 * break ones it knows, or innocent words to outweigh the visible spam. It
 * is read as words of its own ("hidden:xyz", the tokenizer html_begin was
 * given), not dropped: spam written all in hidden elements is still read.
 * html:hidden says something was hidden.
 */
static void start_tag(html *h)
{
	const char *t = h->tag;
	int content;

	/* Most tags, shown and showing: as before, no list to look through
	 * (the milter reads every tag of every HTML part). */
	if (h->hdepth == 0 && h->tag_hide == HIDE_NO) {
		if (is_block(t))
			word_break(h);
		return;
	}
	content = !is_void(t) && strcmp(t, "script") != 0 &&
	    strcmp(t, "style") != 0;
	while (h->hdepth > 0 && ends_open(h->hstack[h->hdepth - 1], t))
		if (--h->hdepth == 0)
			unhide(h);
	if (h->hdepth > 0) {
		if (is_block(t))
			hidden_break(h);
		if (!content)
			return;
		if ((h->hroot == HIDE_ZERO && (h->tag_reshow & RESHOW_SIZE)) ||
		    (h->hroot == HIDE_ROOM && (h->tag_reshow & RESHOW_VIS))) {
			/*
			 * It may show its text (spam wrapped in font-size:0,
			 * each word in a sized span, would leave nothing to
			 * read): shown from here, as before hidden text was
			 * dropped. display:none hides whatever is inside.
			 */
			unhide(h);
		} else if (h->hdepth == HIDEMAX) {
			/* nested too deep to follow: shown, as before */
			unhide(h);
		} else {
			memcpy(h->hstack[h->hdepth++], t, NAMEMAX);
			return;
		}
	}
	/* (webmail drops the style of html and body and shows their text) */
	if (content && h->tag_hide != HIDE_NO && strcmp(t, "html") != 0 &&
	    strcmp(t, "body") != 0) {
		h->hide_break = h->tag_hide == HIDE_ROOM ||
		    (h->tag_hide == HIDE_ZERO && is_block(t));
		if (h->hide_break)
			word_break(h);
		memcpy(h->hstack[0], t, NAMEMAX);
		h->hdepth = 1;
		h->hroot = h->tag_hide;
		return;
	}
	if (is_block(t))
		word_break(h);
}

static void tag_name_done(html *h)
{
	h->tag[h->tlen] = '\0';
	if (h->tlen == 0)
		return;
	if (h->tag[0] == 'a' && h->tag[1] == '\0') {
		if (h->in_a)
			end_link(h);
		if (!h->closing) {
			h->in_a = 1;
			h->a_dom[0] = '\0';
			h->a_tlen = 0;
			h->a_full = 0;
		}
	}
	if (!h->closing) {
		/* its break waits for its style (tag_end) */
		tok(h, "html:", h->tag, NULL, NULL);
		return;
	}
	if (h->hdepth > 0)
		end_hidden_tag(h);
	else if (is_block(h->tag))
		word_break(h);
}

/* '>' of a tag. */
static void tag_end(html *h)
{
	h->st = S_TEXT;
	if (h->closing)
		return;
	h->tag_hide = hide_of(h->tag_css.val);
	if (h->tag_hide != HIDE_NO)
		tok(h, "html:hidden", NULL, NULL, NULL);
	start_tag(h);
	if (strcmp(h->tag, "script") == 0) {
		h->raw_end = "</script";
		h->raw_match = 0;
		h->st = S_RAW;
	} else if (strcmp(h->tag, "style") == 0) {
		h->raw_end = "</style";
		h->raw_match = 0;
		h->st = S_RAW;
		h->in_sheet = 1;
		h->sheet_len = 0;
	}
}

int html_feed(html *h, const char *buf, size_t len)
{
	const unsigned char *s = (const unsigned char *)buf;
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];

		switch (h->st) {
		case S_TEXT: {
			size_t j = i;

			while (j < len && s[j] != '<' && s[j] != '&')
				j++;
			if (j > i)
				text(h, buf + i, j - i);
			i = j;
			if (i < len) {
				h->st = s[i] == '<' ? S_LT : S_ENT;
				h->elen = 0;
				i++;
			}
			continue;
		}
		case S_ENT:
			/*
			 * Leading zeros of a number are legal and unbounded: keep
			 * one, so "&#0000000000101;" fits and still reads 'e'.
			 */
			if (c == '0' && h->elen >= 2 && h->ent[0] == '#' &&
			    h->ent[h->elen - 1] == '0' && (h->elen == 2 ||
			    (h->elen == 3 && (h->ent[1] | 0x20) == 'x')))
				break;
			if (ref_char(h->ent, h->elen, c) && h->elen < ENTMAX - 1) {
				h->ent[h->elen++] = (char)c;
				break;
			}
			if (c == ';') {
				end_entity(h, 1);
				break;
			}
			end_entity(h, 0);
			continue; /* reread c as text */
		case S_LT:
			h->closing = 0;
			h->tlen = 0;
			h->tag_hide = HIDE_NO;
			h->tag_reshow = 0;
			memset(&h->tag_css, 0, sizeof(h->tag_css));
			h->tag_had = 0;
			if (c == '!') {
				h->st = S_BANG;
			} else if (c == '/') {
				h->closing = 1;
				h->st = S_TAGNAME;
			} else if (c == '?') {
				h->st = S_DECL;
			} else if (is_alpha(c)) {
				h->st = S_TAGNAME;
				continue;
			} else {
				text(h, "<", 1);
				h->st = S_TEXT;
				continue;
			}
			break;
		case S_BANG:
			h->st = c == '-' ? S_BANGDASH : S_DECL;
			if (c == '>')
				h->st = S_TEXT;
			break;
		case S_BANGDASH:
			if (c == '-') {
				h->st = S_COMMENT;
				h->cm = CM_START;
				tok(h, "html:comment", NULL, NULL, NULL);
			} else {
				h->st = c == '>' ? S_TEXT : S_DECL;
			}
			break;
		case S_COMMENT: {
			/* skip quickly to the next '-' */
			const unsigned char *d;

			if (c == '>' && h->cm != CM_BODY && h->cm != CM_DASH) {
				h->st = S_TEXT;
			} else if (c == '-') {
				h->cm = h->cm == CM_START ? CM_STARTDASH :
				    h->cm == CM_BODY || h->cm == CM_BANG ? CM_DASH : CM_END;
			} else if (c == '!' && h->cm == CM_END) {
				h->cm = CM_BANG;
			} else {
				h->cm = CM_BODY;
				d = memchr(s + i, '-', len - i);
				i = d ? (size_t)(d - s) : len;
				continue;
			}
			break;
		}
		case S_DECL: {
			const unsigned char *d = memchr(s + i, '>', len - i);

			if (d == NULL) {
				i = len;
				continue;
			}
			i = (size_t)(d - s) + 1;
			h->st = S_TEXT;
			continue;
		}
		case S_TAGNAME:
			if (is_alpha(c) || (c >= '0' && c <= '9') || c == '-' || c == ':') {
				if (h->tlen < NAMEMAX - 1)
					h->tag[h->tlen++] = (char)(c | ((c >= 'A' && c <= 'Z') ? 0x20 : 0));
				break;
			}
			tag_name_done(h);
			if (h->closing) {
				h->st = S_DECL;
				continue;
			}
			h->st = S_ATTRS;
			continue;
		case S_ATTRS:
			if (c == '>') {
				tag_end(h);
			} else if (!is_space(c) && c != '/') {
				h->alen = 0;
				h->vlen = 0;
				h->st = S_ANAME;
				continue;
			}
			break;
		case S_ANAME:
			if (c == '=') {
				h->st = S_AEQ;
			} else if (is_space(c)) {
				h->st = S_AAFTER;
			} else if (c == '>' || c == '/') {
				attribute(h);
				h->st = S_ATTRS;
				continue;
			} else if (h->alen < NAMEMAX - 1) {
				h->aname[h->alen++] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
			}
			break;
		case S_AAFTER:
			if (c == '=') {
				h->st = S_AEQ;
			} else if (!is_space(c)) {
				attribute(h);
				h->st = S_ATTRS;
				continue;
			}
			break;
		case S_AEQ:
			if (is_space(c))
				break;
			if (c == '"' || c == '\'') {
				h->quote = (char)c;
				h->st = S_AVALQ;
				break;
			}
			if (c == '>') {
				attribute(h);
				tag_end(h);
				break;
			}
			h->st = S_AVAL;
			continue;
		case S_AVALQ:
			if (c == (unsigned char)h->quote) {
				attribute(h);
				h->st = S_ATTRS;
			} else if (h->vlen < VALMAX) {
				h->aval[h->vlen++] = (char)c;
			}
			break;
		case S_AVAL:
			if (is_space(c) || c == '>') {
				attribute(h);
				h->st = S_ATTRS;
				continue;
			}
			if (h->vlen < VALMAX)
				h->aval[h->vlen++] = (char)c;
			break;
		case S_RAW: {
			unsigned char lc = (c >= 'A' && c <= 'Z') ? c + 32 : c;

			/* SHEETMAX bytes of the sheet, then room for the
			 * "</style" taken off below. */
			if (h->in_sheet && h->sheet_len < SHEETMAX + 7)
				h->sheet[h->sheet_len++] = (char)c;
			if (lc == (unsigned char)h->raw_end[h->raw_match]) {
				if (h->raw_end[++h->raw_match] == '\0') {
					h->st = S_DECL;
					if (h->in_sheet) {
						/* less "</style" */
						h->sheet_len = h->sheet_len >= 7 ?
						    h->sheet_len - 7 : 0;
						read_sheet(h);
					}
				}
			} else {
				h->raw_match = c == '<' ? 1 : 0;
			}
			break;
		}
		}
		i++;
	}
	return h->err;
}

int html_end(html *h)
{
	if (h->in_a)
		end_link(h);
	if (h->st == S_ENT)
		end_entity(h, 0);
	if (words_end(h->text) < 0 ||
	    (h->hidden != NULL && words_end(h->hidden) < 0))
		h->err = -ENOMEM;
	return h->err;
}
