/*
 * delivered -- a copy of a message as delivered, back to what the milter
 * read of it (see delivered.h).
 */
#include "classifier/delivered.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MARK "!spamsift:"
#define MARK_LEN (sizeof(MARK) - 1)

/*
 * A spamSubject that is not ASCII ("[СПАМ]") as RFC 2047 encoded words
 * (UTF-8, base64) into out: raw 8-bit bytes made a header that is invalid
 * without SMTPUTF8 and, beside encoded words, garbled in most readers.
 * Words of 42 to 45 bytes of text (at most 72 characters, RFC 2047's limit
 * is 75), cut between characters (a UTF-8 character has at most 3 bytes
 * after its first: bytes that are not UTF-8, which the preference check
 * refuses but an older store may hold, are cut anywhere), separated by a
 * space (which decoding drops): for 128 bytes, at most 4 words of 73
 * characters. out holds at least 4 * strlen(tag) + 32 bytes.
 */
static void encode_tag(const char *tag, char *out)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *t = (const unsigned char *)tag;
	size_t n = strlen(tag), o = 0;

	for (size_t i = 0; i < n;) {
		size_t w = n - i > 45 ? 45 : n - i;

		/* not inside a character: back to its first byte */
		for (int b = 0; b < 3 && w < n - i &&
		    (t[i + w] & 0xc0) == 0x80; b++)
			w--;
		o += (size_t)sprintf(out + o, "%s=?UTF-8?B?", i ? " " : "");
		for (size_t k = 0; k < w; k += 3) {
			unsigned v = (unsigned)t[i + k] << 16 |
			    (k + 1 < w ? (unsigned)t[i + k + 1] << 8 : 0) |
			    (k + 2 < w ? t[i + k + 2] : 0);

			out[o++] = b64[v >> 18 & 63];
			out[o++] = b64[v >> 12 & 63];
			out[o++] = k + 1 < w ? b64[v >> 6 & 63] : '=';
			out[o++] = k + 2 < w ? b64[v & 63] : '=';
		}
		o += (size_t)sprintf(out + o, "?=");
		i += w;
	}
	out[o] = '\0';
}

const char *delivered_tag_trim(const char *tag, char out[129])
{
	size_t n;

	tag += strspn(tag, " \t");
	n = strlen(tag);
	while (n > 0 && (tag[n - 1] == ' ' || tag[n - 1] == '\t'))
		n--;
	if (n > 128)
		n = 128;
	memcpy(out, tag, n);
	out[n] = '\0';
	return out;
}

const char *delivered_tag(const char *tag, char *out)
{
	for (const char *p = tag; *p; p++)
		if ((unsigned char)*p >= 0x80 && strlen(tag) <= 128) {
			encode_tag(tag, out);
			return out;
		}
	return tag;
}

/* Where the line that starts at i ends (after its '\n', or len). */
static size_t line_end(const char *d, size_t len, size_t i)
{
	const char *nl = memchr(d + i, '\n', len - i);

	return nl != NULL ? (size_t)(nl - d) + 1 : len;
}

static int blank(char c)
{
	return c == ' ' || c == '\t';
}

/* The line at i is empty: the header's end. */
static int empty_at(const char *d, size_t len, size_t i)
{
	return d[i] == '\n' || (d[i] == '\r' && i + 1 < len && d[i + 1] == '\n');
}

/* The field at i is named name: the name, blanks, then ':'. */
static int named(const char *d, size_t end, size_t i, const char *name)
{
	size_t n = strlen(name);

	if (end - i < n + 1 || strncasecmp(d + i, name, n) != 0)
		return 0;
	for (i += n; i < end && blank(d[i]); i++)
		;
	return i < end && d[i] == ':';
}

/* The line [i, end) is a signature mark alone. */
static int mark_line(const char *d, size_t i, size_t end)
{
	if (end > i && d[end - 1] == '\n')
		end--;
	if (end > i && d[end - 1] == '\r')
		end--;
	if (end - i != MARK_LEN + 32 + 1 || memcmp(d + i, MARK, MARK_LEN) != 0 ||
	    d[end - 1] != '!')
		return 0;
	for (size_t k = i + MARK_LEN; k < end - 1; k++)
		if (!isxdigit((unsigned char)d[k]))
			return 0;
	return 1;
}

/*
 * The bytes of the Subject field [i, end) to drop for tag (tl bytes): its
 * start (past the name, the colon and blanks) in *at; 0 when it does not
 * start with the tag. *alone: the tag is all of its value.
 */
static size_t tag_span(const char *d, size_t i, size_t end, const char *tag,
    size_t *at, int *alone)
{
	size_t tl = strlen(tag), p = i;

	*alone = 0;
	while (d[p] != ':')
		p++;
	for (p++; p < end && blank(d[p]); p++)
		;
	if (tl == 0 || end - p < tl || memcmp(d + p, tag, tl) != 0)
		return 0;
	*at = p;
	p += tl;
	if (p == end) {
		*alone = 1;
		return tl;
	}
	if (blank(d[p]))                        /* "[SPAM] subject" */
		return tl + 1;
	if (d[p] == '\r' && p + 1 < end && d[p + 1] == '\n')
		p++;
	if (d[p] == '\n' && p + 1 < end && blank(d[p + 1]))
		return p + 2 - *at;             /* folded after the tag */
	if (d[p] == '\n' && p + 1 == end) {
		*alone = 1;                     /* the tag alone */
		return tl;
	}
	return 0;                               /* "[SPAM]x": not our tag */
}

int delivered_undo(const char *data, size_t len, const char *tag,
    unsigned received, int flags, char **out, size_t *outlen)
{
	char enc[DELIVERED_TAG_MAX], trimmed[129], *o;
	const char *tags[2];
	size_t n = 0, i = 0, dropped = 0;
	unsigned nrecv = 0;
	int subject = 0, top = 1;

	*out = NULL;
	*outlen = 0;
	tag = delivered_tag_trim(tag != NULL ? tag : "", trimmed);
	tags[0] = delivered_tag(tag, enc);      /* as the milter writes it */
	tags[1] = tag;                          /* as an SMTPUTF8 hop keeps it */
	if ((o = malloc(len > 0 ? len : 1)) == NULL)
		return -ENOMEM;
	/* The header: a field is its first line and the lines folded on it. */
	while (i < len && !empty_at(data, len, i)) {
		size_t end = line_end(data, len, i), at = 0, cut = 0;
		int alone = 0;

		while (end < len && blank(data[end]))
			end = line_end(data, len, end);
		if (top && (named(data, end, i, "Return-Path") ||
		    named(data, end, i, "Delivered-To") ||
		    named(data, end, i, "X-Original-To") ||
		    (named(data, end, i, "Received") && nrecv++ < received))) {
			dropped += end - i;
			i = end;
			continue;
		}
		top = 0;
		if (!subject && named(data, end, i, "Subject")) {
			subject = 1;
			for (int k = 0; k < 2 && cut == 0; k++)
				cut = tag_span(data, i, end, tags[k], &at, &alone);
		}
		if (cut > 0 && alone && (flags & DELIVERED_ADDED_SUBJECT)) {
			dropped += end - i;
		} else if (cut > 0) {
			memcpy(o + n, data + i, at - i);
			n += at - i;
			memcpy(o + n, data + at + cut, end - at - cut);
			n += end - at - cut;
			dropped += cut;
		} else {
			memcpy(o + n, data + i, end - i);
			n += end - i;
		}
		i = end;
	}
	if (nrecv < received) {
		free(o);
		return 0;
	}
	/* The body: every line but the marks. */
	while (i < len) {
		size_t end = line_end(data, len, i);

		if (mark_line(data, i, end)) {
			dropped += end - i;
		} else {
			memcpy(o + n, data + i, end - i);
			n += end - i;
		}
		i = end;
	}
	if (dropped == 0) {
		free(o);
		return 0;
	}
	*out = o;
	*outlen = n;
	return 1;
}

/*
 * The address of a Return-Path value v[0..n) as the milter reads the MAIL
 * FROM that delivery copied into it (usermap_address): inside its <...>
 * (a '>' in a quoted local part does not end it), else the whole value,
 * without the line breaks of folding and the blanks around it, a source
 * route (@relay:) dropped, a quoted local part without its quotes and
 * backslashes ("spammer"@d is spammer@d), lowercase, a domain's final dot
 * gone. Read as a header's mailbox (hdr_addr), a quoted local part gave
 * no address at all: the lists never judged such a sender, which the
 * milter had blocklisted. "" for the null sender.
 */
static void envelope_addr(const char *v, size_t n, char *out, size_t cap)
{
	size_t s = 0, e = n, k = 0, at;
	int quoted = 0;

	while (s < n && v[s] != '<')
		s++;
	if (s < n) {
		for (e = ++s; e < n && (quoted || v[e] != '>'); e++) {
			if (v[e] == '"')
				quoted = !quoted;
			else if (v[e] == '\\' && quoted && e + 1 < n)
				e++;
		}
	} else {
		s = 0;
	}
	while (s < e && isspace((unsigned char)v[s]))
		s++;
	if (s < e && v[s] == '@') {             /* <@relay:bob@d> */
		const char *colon = memchr(v + s, ':', e - s);

		if (colon != NULL)
			s = (size_t)(colon - v) + 1;
	}
	if (s < e && v[s] == '"') {
		size_t q = s + 1;

		while (q < e && v[q] != '"')
			q += v[q] == '\\' && q + 1 < e ? 2 : 1;
		if (q < e) {            /* closed: its text, unescaped */
			for (size_t i = s + 1; i < q && k + 1 < cap; i++) {
				if (v[i] == '\\')
					i++;
				if (v[i] != '\r' && v[i] != '\n')
					out[k++] = (char)tolower((unsigned char)v[i]);
			}
			s = q + 1;
		}
	}
	for (size_t i = s; i < e && k + 1 < cap; i++)
		if (v[i] != '\r' && v[i] != '\n')
			out[k++] = (char)tolower((unsigned char)v[i]);
	while (k > 0 && (out[k - 1] == ' ' || out[k - 1] == '\t'))
		k--;
	for (at = k; at > 0 && out[at - 1] != '@'; at--)
		;
	while (at > 0 && k > at + 1 && out[k - 1] == '.')
		k--;
	if (cap > 0)
		out[k] = '\0';
}

int delivered_sender(const char *data, size_t len, char *out, size_t cap)
{
	for (size_t i = 0; i < len && !empty_at(data, len, i); ) {
		size_t end = line_end(data, len, i);

		while (end < len && blank(data[end]))   /* folded lines */
			end = line_end(data, len, end);
		if (named(data, end, i, "Return-Path")) {
			const char *v = memchr(data + i, ':', end - i) + 1;

			envelope_addr(v, (size_t)(data + end - v), out, cap);
			return 1;
		}
		i = end;
	}
	return 0;
}
