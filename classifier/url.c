/*
 * url -- URL tokens (see url.h). Pure C: no SQLite, libmilter or syslog.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "classifier/url.h"

#define URL_TOKMAX 300 /* longest token built here */

static int is_sld(const char *s, size_t n)
{
	static const char *const sld[] = { "co", "com", "net", "org", "gov",
		"edu", "ac", "ne", "or", "go", "gob", "mil", "nic", NULL };

	for (int i = 0; sld[i] != NULL; i++)
		if (strlen(sld[i]) == n && memcmp(sld[i], s, n) == 0)
			return 1;
	return 0;
}

size_t url_domain(const char *host, size_t len)
{
	size_t dots[3] = { 0, 0, 0 }; /* positions after the last three dots */
	int nd = 0;

	for (size_t i = len; i > 0; i--)
		if (host[i - 1] == '.') {
			dots[nd++] = i;
			if (nd == 3)
				break;
		}
	if (nd < 2)
		return 0;
	/* tld = host[dots[0]..len), second = host[dots[1]..dots[0]-1) */
	if (len - dots[0] == 2 && is_sld(host + dots[1], dots[0] - 1 - dots[1]))
		return nd == 3 ? dots[2] : 0;
	return dots[1];
}

static int add(tokset *out, const char *pfx, const char *s, size_t n)
{
	char buf[URL_TOKMAX];
	size_t pl = strlen(pfx);

	if (n > URL_TOKMAX - pl)
		n = URL_TOKMAX - pl;
	memcpy(buf, pfx, pl);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		buf[pl + i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
	return tokset_add(out, buf, pl + n) < 0 ? -ENOMEM : 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/*
 * A host written as a number, the way browsers still read it
 * ("http://2130706433/", "0x7f.1", "0177.0.0.01": inet_aton's forms): 0
 * into ip (16 bytes) as the dotted quad, so each address is one url:ip
 * token however it is spelled: 1; else 0.
 */
static int numeric_host(const char *h, size_t n, char ip[16])
{
	struct in_addr a;
	char buf[64];

	if (n >= sizeof(buf) || h[0] < '0' || h[0] > '9')
		return 0;
	memcpy(buf, h, n);
	buf[n] = '\0';
	if (strspn(buf, "0123456789abcdefx.") < n || inet_aton(buf, &a) == 0)
		return 0;
	return inet_ntop(AF_INET, &a, ip, 16) != NULL;
}

static int is_ipv4(const char *s, size_t n)
{
	int dots = 0;

	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.')
			dots++;
		else if (s[i] < '0' || s[i] > '9')
			return 0;
	}
	return dots == 3;
}

int url_invisible(unsigned cp)
{
	return cp == 0xAD || cp == 0x34F || (cp >= 0x200B && cp <= 0x200F) ||
	    (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2060 && cp <= 0x2064) ||
	    (cp >= 0x2066 && cp <= 0x2069) || (cp >= 0xFE00 && cp <= 0xFE0F) ||
	    cp == 0xFEFF;
}

/* Bytes of an invisible character in UTF-8 at b (n bytes), 0 for none. */
static size_t invisible(const unsigned char *b, size_t n)
{
	if (n >= 2 && (b[0] & 0xE0) == 0xC0 && (b[1] & 0xC0) == 0x80)
		return url_invisible((unsigned)(b[0] & 0x1F) << 6 | (b[1] & 0x3F)) ? 2 : 0;
	if (n >= 3 && (b[0] & 0xF0) == 0xE0 && (b[1] & 0xC0) == 0x80 &&
	    (b[2] & 0xC0) == 0x80)
		return url_invisible((unsigned)(b[0] & 0x0F) << 12 |
		    (unsigned)(b[1] & 0x3F) << 6 | (b[2] & 0x3F)) ? 3 : 0;
	return 0;
}

/*
 * RFC 3492 Punycode of the code points cp[0..n) (each below 0x110000) into
 * out (cap bytes, no NUL); returns its length, or 0 when it does not fit.
 */
static size_t punycode(const unsigned *cp, size_t n, char *out, size_t cap)
{
	enum { BASE = 36, TMIN = 1, TMAX = 26, SKEW = 38, DAMP = 700 };
	unsigned long next = 128, delta = 0, bias = 72;
	size_t o = 0, h, b = 0;

	for (size_t i = 0; i < n; i++)
		if (cp[i] < 0x80) {
			if (o >= cap)
				return 0;
			out[o++] = (char)cp[i];
			b++;
		}
	if (b > 0) {
		if (o >= cap)
			return 0;
		out[o++] = '-';
	}
	for (h = b; h < n; next++, delta++) {
		unsigned long m = 0x110000;

		for (size_t i = 0; i < n; i++)
			if (cp[i] >= next && cp[i] < m)
				m = cp[i];
		if (m == 0x110000)
			return 0;       /* none left below it: no progress */
		delta += (m - next) * (h + 1); /* n <= 64, m < 0x110000: no overflow */
		next = m;
		for (size_t i = 0; i < n; i++) {
			unsigned long q = delta;

			if (cp[i] < next)
				delta++;
			if (cp[i] != next)
				continue;
			for (unsigned long k = BASE;; k += BASE) {
				unsigned long t = k <= bias ? TMIN : k >= bias + TMAX ? TMAX : k - bias;
				unsigned long d;

				if (q < t)
					break;
				d = t + (q - t) % (BASE - t);
				if (o >= cap)
					return 0;
				out[o++] = (char)(d < 26 ? 'a' + d : '0' + d - 26);
				q = (q - t) / (BASE - t);
			}
			if (o >= cap)
				return 0;
			out[o++] = (char)(q < 26 ? 'a' + q : '0' + q - 26);
			/* adapt the bias (RFC 3492 6.1) */
			delta = h == b ? delta / DAMP : delta / 2;
			delta += delta / (h + 1);
			bias = 0;
			while (delta > ((BASE - TMIN) * TMAX) / 2) {
				delta /= BASE - TMIN;
				bias += BASE;
			}
			bias += (BASE - TMIN + 1) * delta / (delta + SKEW);
			delta = 0;
			h++;
		}
	}
	return o;
}

/*
 * A host with non-ASCII bytes (h, n bytes of UTF-8, into h, at most cap) as
 * a browser's IDNA mapping writes it: fullwidth ASCII is ASCII, the
 * ideographic full stops separate labels, and a label still not ASCII is
 * "xn--" + Punycode, so "пример.рф" in a link's text and the
 * "xn--e1afmkfd.xn--p1ai" of its href are one host. (No Unicode case
 * folding or normalization beyond that.) Returns the new length; a host
 * that is not UTF-8 or does not fit stays as it is.
 */
static size_t idna(char *h, size_t n, size_t cap)
{
	char out[256];
	unsigned cp[64];
	size_t o = 0, ncp = 0, i = 0, ascii = 1;

	while (i <= n) {
		unsigned c;

		if (i == n) {
			c = '.';
			i++;
		} else {
			const unsigned char *u = (const unsigned char *)h + i;
			size_t k = u[0] < 0x80 ? 1 : u[0] >= 0xC2 && u[0] < 0xE0 ? 2 :
			    u[0] >= 0xE0 && u[0] < 0xF0 ? 3 : u[0] >= 0xF0 && u[0] < 0xF5 ? 4 : 0;

			if (k == 0 || i + k > n)
				return n;
			c = k == 1 ? u[0] : u[0] & (0x7F >> k);
			for (size_t j = 1; j < k; j++) {
				if ((u[j] & 0xC0) != 0x80)
					return n;
				c = c << 6 | (u[j] & 0x3F);
			}
			/*
			 * Past U+10FFFF (F4 90 and up), a surrogate or an
			 * overlong form is not UTF-8 either: Punycode of a
			 * code point past U+10FFFF never ended (a hang found
			 * by fuzz_msg).
			 */
			if (c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF) ||
			    (k == 3 && c < 0x800) || (k == 4 && c < 0x10000))
				return n;
			i += k;
			if (c >= 0xFF01 && c <= 0xFF5E) { /* fullwidth forms */
				c -= 0xFF01 - 0x21;
				/* Letters, digits and '-' only: a fullwidth
				 * '／', '＠', '？' ends the host, as a browser
				 * refuses it in one ("evil.com／paypal.com"). */
				if (!(c >= '0' && c <= '9') && !(c >= 'a' &&
				    c <= 'z') && !(c >= 'A' && c <= 'Z') &&
				    c != '-' && c != '.') {
					c = '.';
					n = i - 3;      /* a fullwidth form is 3 bytes */
					i = n + 1;
				}
			}
			if (c == 0x3002 || c == 0xFF0E || c == 0xFF61)
				c = '.';
			if (c >= 'A' && c <= 'Z')
				c += 32;
		}
		if (c != '.') {
			if (ncp == sizeof(cp) / sizeof(cp[0]))
				return n;
			cp[ncp++] = c;
			ascii &= c < 0x80;
			continue;
		}
		/* end of a label */
		if (ascii) {
			if (o + ncp + 1 > sizeof(out))
				return n;
			for (size_t j = 0; j < ncp; j++)
				out[o++] = (char)cp[j];
		} else {
			size_t p;

			if (o + 5 > sizeof(out))
				return n;
			memcpy(out + o, "xn--", 4);
			p = punycode(cp, ncp, out + o + 4, sizeof(out) - o - 5);
			if (p == 0)
				return n;
			o += 4 + p;
		}
		out[o++] = '.';
		ncp = 0;
		ascii = 1;
	}
	o--; /* the '.' after the last label */
	if (o > cap)
		return n;
	memcpy(h, out, o);
	return o;
}

/* Host tokens: url:ip, or url:host + url:domain. */
static int host_tokens(tokset *out, const char *pfx_host, const char *pfx_dom,
	const char *h, size_t n)
{
	char low[256], ip[16];
	size_t k = 0;
	int rc;

	/*
	 * Invisible characters drop: the reader sees the host without them
	 * (browsers' IDNA mapping ignores U+00AD, U+200B, U+2060, U+FEFF).
	 */
	for (size_t i = 0; i < n && k < sizeof(low); i++) {
		size_t skip = invisible((const unsigned char *)h + i, n - i);
		char c = h[i];

		if (skip > 0) {
			i += skip - 1;
			continue;
		}
		/* %XX: browsers decode it ("%65vil.example" is evil.example) */
		if (c == '%' && i + 2 < n && hexval(h[i + 1]) >= 0 &&
		    hexval(h[i + 2]) >= 0) {
			c = (char)(hexval(h[i + 1]) * 16 + hexval(h[i + 2]));
			i += 2;
		}
		low[k++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
	n = k;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)low[i] >= 0x80) {
			n = idna(low, n, sizeof(low));
			break;
		}
	while (n > 0 && low[n - 1] == '.')
		n--;
	if (n == 0)
		return 0;
	if (numeric_host(low, n, ip))
		return add(out, "url:ip:", ip, strlen(ip));
	if (is_ipv4(low, n))    /* not an address (999.1.1.1): as written */
		return add(out, "url:ip:", low, n);
	if ((rc = add(out, pfx_host, low, n)) < 0)
		return rc;
	if (pfx_dom != NULL) {
		size_t d = url_domain(low, n);

		rc = add(out, pfx_dom, low + d, n - d);
	}
	return rc;
}

int url_tokens(tokset *out, const char *u, size_t len)
{
	size_t i = 0, hs, he, at = (size_t)-1, colon = (size_t)-1;
	int rc;

	/* trailing punctuation that belongs to the surrounding text */
	while (len > 0 && strchr(".,;:!?)]}'\"", u[len - 1]) != NULL)
		len--;
	/* scheme */
	while (i < len && i < 16 && ((u[i] | 0x20) >= 'a' && (u[i] | 0x20) <= 'z'))
		i++;
	if (i < len && i > 0 && u[i] == ':') {
		size_t sl = i;

		if (sl == 6 && strncasecmp(u, "mailto", 6) == 0) {
			const char *a = memchr(u, '@', len);
			size_t s, e;

			if (a == NULL)
				return 0;
			s = (size_t)(a - u) + 1;
			for (e = s; e < len && u[e] != '?' && u[e] != '>' && u[e] != '&'; e++)
				;
			return host_tokens(out, "url:mailto:", NULL, u + s, e - s);
		}
		if (!((sl == 4 && strncasecmp(u, "http", 4) == 0) ||
		    (sl == 5 && strncasecmp(u, "https", 5) == 0)))
			if ((rc = add(out, "url:scheme:", u, sl)) < 0)
				return rc;
		i++;
	} else {
		i = 0;
	}
	while (i < len && (u[i] == '/' || u[i] == '\\'))
		i++;
	hs = i;
	while (i < len && u[i] != '/' && u[i] != '?' && u[i] != '#' && u[i] != '\\') {
		if (u[i] == '@')
			at = i;
		i++;
	}
	he = i;
	if (at != (size_t)-1) {
		hs = at + 1;
		if ((rc = add(out, "url:userinfo", "", 0)) < 0)
			return rc;
	}
	for (size_t k = hs; k < he; k++)
		if (u[k] == ':') {
			colon = k;
			break;
		}
	if (colon != (size_t)-1) {
		if ((rc = add(out, "url:port", "", 0)) < 0)
			return rc;
		he = colon;
	}
	if ((rc = host_tokens(out, "url:host:", "url:domain:", u + hs, he - hs)) < 0)
		return rc;
	/* first path segment */
	if (i < len && u[i] == '/') {
		size_t ps = ++i, pe;

		while (i < len && u[i] != '/' && u[i] != '?' && u[i] != '#')
			i++;
		pe = i;
		if (pe > ps) {
			if (pe - ps > 32)
				pe = ps + 32;
			rc = add(out, "url:path:", u + ps, pe - ps);
		}
	}
	return rc < 0 ? rc : 0;
}

/*
 * A URL shown in text ends at white space: U+00A0, U+2000-U+207F (spaces,
 * punctuation, invisible marks) or U+3000, in UTF-8 at b (n bytes).
 */
static int is_uspace(const unsigned char *b, size_t n)
{
	return (n >= 2 && b[0] == 0xC2 && b[1] == 0xA0) ||
	    (n >= 2 && b[0] == 0xE2 && (b[1] == 0x80 || b[1] == 0x81)) ||
	    (n >= 3 && b[0] == 0xE3 && b[1] == 0x80 && b[2] == 0x80);
}

size_t url_regdomain(const char *u, size_t len, char *out, size_t cap)
{
	size_t i = 0, hs, he, n, d;
	char low[256];

	if (cap == 0)
		return 0;
	out[0] = '\0';
	while (i < len && i < 16 && ((u[i] | 0x20) >= 'a' && (u[i] | 0x20) <= 'z'))
		i++;
	if (i < len && i > 0 && u[i] == ':') {
		if (i == 6 && strncasecmp(u, "mailto", 6) == 0)
			return 0;
		i++;
	} else {
		i = 0;
	}
	while (i < len && (u[i] == '/' || u[i] == '\\'))
		i++;
	hs = i;
	while (i < len && u[i] != '/' && u[i] != '?' && u[i] != '#' && u[i] != '\\' &&
	    u[i] != ' ' && u[i] != '\t' && u[i] != '\r' && u[i] != '\n' &&
	    u[i] != '"' && u[i] != '<' && u[i] != '>') {
		if ((unsigned char)u[i] >= 0x80) {
			if (is_uspace((const unsigned char *)u + i, len - i))
				break;
			return 0; /* an IDN host: not comparable with its punycode */
		}
		if (u[i] == '@')
			hs = i + 1;
		i++;
	}
	he = i;
	for (size_t k = hs; k < he; k++)
		if (u[k] == ':') {
			he = k;
			break;
		}
	while (he > hs && (u[he - 1] == '.' || u[he - 1] == ',' || u[he - 1] == ')'))
		he--;
	n = he - hs;
	if (n == 0 || n > sizeof(low))
		return 0;
	for (size_t k = 0; k < n; k++)
		low[k] = (char)(u[hs + k] >= 'A' && u[hs + k] <= 'Z' ? u[hs + k] + 32 : u[hs + k]);
	if (memchr(low, '.', n) == NULL)
		return 0; /* "localhost", a relative path: no domain */
	d = is_ipv4(low, n) ? 0 : url_domain(low, n);
	n -= d;
	if (n > cap - 1)
		n = cap - 1;
	memcpy(out, low + d, n);
	out[n] = '\0';
	return n;
}
