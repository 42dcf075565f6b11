/*
 * conf_check -- value checks for spamsift.conf: sockets, user names, DSPAM
 * aliases of enum values, features, addresses and networks, header names,
 * SMTP reply text, numbers; and the small string helpers the parser shares.
 *
 * Every function takes untrusted text: bounded copies, no allocation.
 * Must not depend on: libmilter, SQLite, syslog, db/, classifier/.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

#include "conf/conf_impl.h"

const char *const conf_algorithms[] = { "chi-square", "graham", "burton",
	"naive", NULL };

/* ---- small helpers ---- */

void conf_fmt(char *buf, size_t len, const char *f, ...)
{
	va_list ap;

	if (buf == NULL || len == 0)
		return;
	va_start(ap, f);
	vsnprintf(buf, len, f, ap);
	va_end(ap);
}

/* Copy s into out (which must hold at least 64 bytes), making it printable. */
const char *conf_printable(const char *s, char *out, size_t outlen)
{
	size_t j = 0;

	for (size_t i = 0; s[i] && j + 4 < outlen; i++) {
		unsigned char ch = (unsigned char)s[i];
		out[j++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
		if (i == 40) {
			out[j++] = '.'; out[j++] = '.'; out[j++] = '.';
			break;
		}
	}
	out[j] = '\0';
	return out;
}

int conf_has_control(const char *s)
{
	for (; *s; s++)
		if (((unsigned char)*s < 0x20 && *s != '\t') || (unsigned char)*s == 0x7f)
			return 1;
	return 0;
}

int conf_copy(const char *in, char *out, size_t outlen)
{
	size_t n = strlen(in);

	if (n >= outlen)
		return -1;
	memcpy(out, in, n + 1);
	return 0;
}

int conf_match(const char *const *e, const char *v)
{
	for (int i = 0; e[i]; i++)
		if (strcasecmp(e[i], v) == 0)
			return i;
	return -1;
}

void conf_enum_list(const char *const *e, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (int i = 0; e[i] && used < len; i++) {
		int n = snprintf(buf + used, len - used, "%s%s",
		    i == 0 ? "" : (e[i + 1] ? ", " : " or "), e[i]);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

/* ---- normalisers ---- */

/* Bytes of a Unix socket's name, its final NUL included. */
#define SUN_PATH_SIZE sizeof(((struct sockaddr_un *)0)->sun_path)

int conf_norm_socket(const char *in, char *out, size_t outlen,
    char *why, size_t whylen, char *warn, size_t warnlen)
{
	const char *rest;

	(void)warn; (void)warnlen;
	if (strncasecmp(in, "unix:", 5) == 0 || strncasecmp(in, "local:", 6) == 0) {
		rest = strchr(in, ':') + 1;
		if (*rest != '/') {
			conf_fmt(why, whylen, "socket path must be absolute");
			return -1;
		}
	} else if (strncasecmp(in, "inet:", 5) == 0 || strncasecmp(in, "inet6:", 6) == 0) {
		char *end;
		long port;

		rest = strchr(in, ':') + 1;
		errno = 0;
		port = strtol(rest, &end, 10);
		if (end == rest || errno || port < 1 || port > 65535 ||
		    (*end != '\0' && *end != '@') || (*end == '@' && end[1] == '\0')) {
			conf_fmt(why, whylen, "expected inet:PORT@HOST with a port 1..65535");
			return -1;
		}
	} else if (in[0] != '/') {
		conf_fmt(why, whylen, "expected unix:PATH, local:PATH, inet:PORT@HOST or inet6:PORT@HOST");
		return -1;
	} else
		rest = in;
	if (*rest == '/' && strlen(rest) + 1 >= SUN_PATH_SIZE) {
		/* (libmilter refused it at start only; it wants a byte more
		 * than the name and its NUL) */
		conf_fmt(why, whylen, "socket path longer than the %zu bytes "
		    "libmilter takes for a Unix socket", SUN_PATH_SIZE - 2);
		return -1;
	}
	if (conf_copy(in, out, outlen) < 0) {
		conf_fmt(why, whylen, "too long");
		return -1;
	}
	/* libmilter takes "UNIX:" too; the daemon's own checks want lower case. */
	for (char *p = out; *p != '\0' && *p != ':' && *p != '/'; p++)
		*p = (char)tolower((unsigned char)*p);
	return 0;
}

/* Unix user or group names: letters, digits, '.', '_', '-', a trailing '$'. */
int conf_norm_user(const char *in, char *out, size_t outlen,
    char *why, size_t whylen, char *warn, size_t warnlen)
{
	size_t n = strlen(in);

	(void)warn; (void)warnlen;
	if (n > 64) {
		conf_fmt(why, whylen, "name too long");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		char ch = in[i];
		if (!isalnum((unsigned char)ch) && ch != '.' && ch != '_' &&
		    !(ch == '-' && i > 0) && !(ch == '$' && i == n - 1)) {
			conf_fmt(why, whylen, "not a valid user or group name");
			return -1;
		}
	}
	return conf_copy(in, out, outlen);
}

int conf_norm_onfail(const char *in, char *out, size_t outlen,
    char *why, size_t whylen, char *warn, size_t warnlen)
{
	(void)why; (void)whylen;
	if (strcasecmp(in, "error") == 0 || strcasecmp(in, "unlearn") == 0) {
		conf_fmt(warn, warnlen, "DSPAM value %s means tempfail for a milter",
		    strcasecmp(in, "error") == 0 ? "error" : "unlearn");
		return conf_copy("tempfail", out, outlen);
	}
	return conf_copy(in, out, outlen);
}

int conf_norm_feature(const char *in, char *out, size_t outlen,
    char *why, size_t whylen, char *warn, size_t warnlen)
{
	static const char *const e[] = { "chained", "osb", "noise", "whitelist",
		NULL };
	int i;

	if (strncasecmp(in, "tb=", 3) == 0) {
		const char *p = in + 3;

		if (*p == '\0' || strspn(p, "0123456789") != strlen(p) || strlen(p) > 3) {
			conf_fmt(why, whylen, "tb= needs a number");
			return -1;
		}
		conf_fmt(warn, warnlen, "DSPAM training buffer %s is not used by spamsift; ignored", in);
		out[0] = '\0';
		return 0;
	}
	if (strcasecmp(in, "sbph") == 0) {
		conf_fmt(warn, warnlen, "sbph is not supported; using osb");
		return conf_copy("osb", out, outlen);
	}
	if (strcasecmp(in, "chain") == 0)
		return conf_copy("chained", out, outlen);
	i = conf_match(e, in);
	if (i < 0) {
		conf_fmt(why, whylen, "%s is not one of chained, osb, noise or whitelist", in);
		return -1;
	}
	return conf_copy(e[i], out, outlen);
}

int conf_norm_tokenizer(const char *in, char *out, size_t outlen,
    char *why, size_t whylen, char *warn, size_t warnlen)
{
	(void)why; (void)whylen;
	if (strcasecmp(in, "chain") == 0)
		return conf_copy("chained", out, outlen);
	if (strcasecmp(in, "sbph") == 0) {
		conf_fmt(warn, warnlen, "sbph is not supported; using osb");
		return conf_copy("osb", out, outlen);
	}
	return conf_copy(in, out, outlen);
}

/*
 * DSPAM lists several algorithms ("graham burton"); spamsift uses one:
 * chi-square if named, else burton if named, else the first.
 */
int conf_norm_algorithm(const char *in, char *out, size_t outlen,
    char *why, size_t whylen, char *warn, size_t warnlen)
{
	char buf[CONF_VALUE_MAX], *save = NULL, *w;
	int first = -1, count = 0, has_chi = 0, has_burton = 0, robinson = 0;
	const char *pick;

	if (conf_copy(in, buf, sizeof(buf)) < 0) {
		conf_fmt(why, whylen, "too long");
		return -1;
	}
	for (w = strtok_r(buf, " \t,", &save); w; w = strtok_r(NULL, " \t,", &save)) {
		int i;

		if (strcasecmp(w, "robinson") == 0) {
			robinson = 1;
			i = 0;
		} else if ((i = conf_match(conf_algorithms, w)) < 0) {
			conf_fmt(why, whylen, "%s is not one of chi-square, graham, burton or naive", w);
			return -1;
		}
		if (first < 0)
			first = i;
		has_chi |= i == 0;
		has_burton |= i == 2;
		count++;
	}
	if (count == 0) {
		conf_fmt(why, whylen, "missing value");
		return -1;
	}
	pick = has_chi ? "chi-square" : has_burton ? "burton" : conf_algorithms[first];
	if (count > 1)
		conf_fmt(warn, warnlen, "spamsift uses one algorithm; using %s", pick);
	else if (robinson)
		conf_fmt(warn, warnlen, "robinson combining is done as chi-square");
	return conf_copy(pick, out, outlen);
}

int conf_norm_pvalue(const char *in, char *out, size_t outlen,
    char *why, size_t whylen, char *warn, size_t warnlen)
{
	(void)why; (void)whylen;
	if (strcasecmp(in, "bcr") == 0) {
		conf_fmt(warn, warnlen, "bcr is computed as graham");
		return conf_copy("graham", out, outlen);
	}
	if (strcasecmp(in, "markov") == 0) {
		conf_fmt(warn, warnlen, "markov is not supported; using robinson");
		return conf_copy("robinson", out, outlen);
	}
	return conf_copy(in, out, outlen);
}

const char *const conf_bool_true[] = { "on", "yes", "true", "1", NULL };

const char *const conf_bool_false[] = { "off", "no", "false", "0", NULL };

/* Parse a number that must fill the whole string; 0 or -1. */
int conf_parse_double(const char *s, double *out)
{
	char *end;

	/* Decimal only: strtod also reads "0x1p-1" and "inf" (a sign is
	 * fine: an older spamsift stored "+0.995" preferences). */
	if (*s == '\0' || strspn(s, "0123456789.eE+-") != strlen(s))
		return -1;
	errno = 0;
	*out = strtod(s, &end);
	if (errno || *end != '\0' || !isfinite(*out))
		return -1;
	return 0;
}

int conf_parse_long(const char *s, int base, long *out)
{
	char *end;

	if (*s == '\0' || isspace((unsigned char)*s) || *s == '+')
		return -1;
	errno = 0;
	*out = strtol(s, &end, base);
	if (end == s || *end != '\0')
		return -1;
	if (errno == ERANGE)
		return -2;
	return errno ? -1 : 0;
}

/* "ADDR" or "ADDR/BITS" for IPv4 or IPv6: 0 or -1. */
static int parse_cidr(const char *in)
{
	char addr[INET6_ADDRSTRLEN + 8];
	unsigned char bin[16];
	const char *slash = strchr(in, '/');
	size_t n = slash ? (size_t)(slash - in) : strlen(in);
	int v6;
	long bits;

	if (n == 0 || n >= sizeof(addr))
		return -1;
	memcpy(addr, in, n);
	addr[n] = '\0';
	v6 = strchr(addr, ':') != NULL;
	if (inet_pton(v6 ? AF_INET6 : AF_INET, addr, bin) != 1)
		return -1;
	if (slash == NULL)
		return 0;
	if (conf_parse_long(slash + 1, 10, &bits) < 0 || bits < 0 || bits > (v6 ? 128 : 32))
		return -1;
	return 0;
}


static int valid_hostname(const char *s)
{
	size_t n = strlen(s), label = 0;

	if (n == 0 || n > 253)
		return 0;
	for (; *s; s++) {
		if (*s == '.') {
			if (label == 0)
				return 0;
			label = 0;
		} else if (isalnum((unsigned char)*s) || *s == '-' || *s == '_') {
			if (++label > 63)
				return 0;
		} else {
			return 0;
		}
	}
	return 1;
}




/* ---- addresses ---- */

int conf_norm_cidr(const char *in, char *out, size_t outlen,
    char *why, size_t whylen, char *warn, size_t warnlen)
{
	(void)warn; (void)warnlen;
	if (parse_cidr(in) < 0) {
		conf_fmt(why, whylen, "not an IP address or network (ADDR/BITS)");
		return -1;
	}
	return conf_copy(in, out, outlen);
}

int conf_norm_peer(const char *in, char *out, size_t outlen,
    char *why, size_t whylen, char *warn, size_t warnlen)
{
	(void)warn; (void)warnlen;
	if (parse_cidr(in) < 0 && (strchr(in, '/') || !valid_hostname(in))) {
		conf_fmt(why, whylen, "not an IP address, network or host name");
		return -1;
	}
	return conf_copy(in, out, outlen);
}

int conf_norm_header(const char *in, char *out, size_t outlen,
    char *why, size_t whylen, char *warn, size_t warnlen)
{
	(void)warn; (void)warnlen;
	/* RFC 5322 field names: printable ASCII except ':'; a trailing ':' is forgiven. */
	size_t n = strlen(in);

	if (n > 1 && in[n - 1] == ':')
		n--;
	if (n == 0 || n > 128 || n >= outlen)
		goto bad;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)in[i] < 33 || (unsigned char)in[i] > 126 || in[i] == ':')
			goto bad;
	/* Legal in a name, but no mail has one: `"X-A" "X-B"` (each name
	 * quoted) gave `X-A"` and `"X-B`, which matched nothing. */
	if (memchr(in, '"', n) != NULL) {
		conf_fmt(why, whylen, "not a header field name (names are not "
		    "quoted one by one)");
		return -1;
	}
	memcpy(out, in, n);
	out[n] = '\0';
	return 0;
bad:
	conf_fmt(why, whylen, "not a header field name");
	return -1;
}

/*
 * RecipientDelimiter, as Postfix's recipient_delimiter: a few characters,
 * any of which starts an extension; not ones that delimit an address.
 */
int conf_norm_delim(const char *in, char *out, size_t outlen,
    char *why, size_t whylen, char *warn, size_t warnlen)
{
	size_t n = strlen(in);

	(void)warn; (void)warnlen;
	if (n > 8 || n >= outlen) {
		conf_fmt(why, whylen, "at most 8 characters");
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)in[i] < 33 || (unsigned char)in[i] > 126 ||
		    strchr("@<>\"\\,;:", in[i]) != NULL) {
			conf_fmt(why, whylen, "'%c' cannot start an address "
			    "extension", in[i]);
			return -1;
		}
	memcpy(out, in, n + 1);
	return 0;
}

size_t conf_utf8_len(const unsigned char *s)
{
	size_t n;
	unsigned int cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* no overlong form, surrogate or value past U+10FFFF */
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 ||
	    cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* Digits at p, 1..max of them: how many, or 0. */
static size_t digits(const char *p, size_t max)
{
	size_t n = strspn(p, "0123456789");

	return n <= max ? n : 0;
}

const char *conf_reply_split(const char *text, char *xcode, size_t len)
{
	size_t b, c = 0, n;

	snprintf(xcode, len, "5.7.1");
	if (text[0] == '5' && text[1] == '.' && (b = digits(text + 2, 3)) > 0 &&
	    text[2 + b] == '.')
		c = digits(text + 3 + b, 3);
	n = c > 0 ? 3 + b + c : 0;
	if (n == 0 || text[n] != ' ' || text[n + strspn(text + n, " ")] == '\0' ||
	    n >= len)
		return text;
	snprintf(xcode, len, "%.*s", (int)n, text);
	return text + n + strspn(text + n, " ");
}

/*
 * smfi_setreply: printable ASCII, and a literal '%' must be written "%%".
 * The reply code is always 550: one written first ("550 5.7.1 text", as
 * Postfix's access tables take it) is dropped with a warning, for it was
 * sent as part of the text. A first word that is meant as an enhanced
 * status code (digits and two dots, or 5. and digits) must be one that
 * conf_reply_split takes (RFC 3463, class 5 as the reply, text after it):
 * the milter sent any other as text after 5.7.1.
 */
int conf_norm_reply(const char *in, char *out, size_t outlen,
    char *why, size_t whylen, char *warn, size_t warnlen)
{
	char xcode[16];
	size_t n, dots = 0;

	if (digits(in, 3) == 3 && (in[3] == ' ' || in[3] == '\0')) {
		conf_fmt(warn, warnlen, "the reply code is always 550; "
		    "'%.3s' dropped", in);
		in += 3;
		in += strspn(in, " ");
		if (*in == '\0') {
			/* (the milter sent a text of its own instead) */
			conf_fmt(why, whylen, "no text after the reply code");
			return -1;
		}
	}
	n = strspn(in, "0123456789.");
	for (size_t i = 0; i < n; i++)
		dots += in[i] == '.';
	if (n > 0 && (in[n] == ' ' || in[n] == '\0') && in[0] != '.' &&
	    (dots >= 2 || (in[0] == '5' && in[1] == '.')) &&
	    conf_reply_split(in, xcode, sizeof(xcode)) == in) {
		if (in[0] != '5' && dots == 2 && in[1] == '.')
			conf_fmt(why, whylen, "enhanced status code %.*s: the "
			    "reply is 550, its class must be 5", (int)n, in);
		else if (in[n + strspn(in + n, " ")] == '\0')
			conf_fmt(why, whylen, "text must follow the status "
			    "code %.*s", (int)n, in);
		else
			conf_fmt(why, whylen, "malformed enhanced status code "
			    "'%.*s' (class.subject.detail, as 5.7.1)", (int)n,
			    in);
		return -1;
	}
	if (strlen(in) > 512) {
		conf_fmt(why, whylen, "longer than 512 characters");
		return -1;
	}
	for (const char *p = in; *p; p++) {
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e) {
			conf_fmt(why, whylen, "must be printable ASCII");
			return -1;
		}
		if (*p == '%') {
			if (p[1] != '%') {
				conf_fmt(why, whylen, "write a literal %% as %%%%");
				return -1;
			}
			p++;
		}
	}
	return conf_copy(in, out, outlen);
}
