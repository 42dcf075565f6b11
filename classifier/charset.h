/*
 * charset -- conversion of text from a declared MIME charset to UTF-8 with
 * iconv, streaming (input may be split anywhere, even inside a multi-byte
 * character). Keeps caches of iconv descriptors (and of names iconv does
 * not know), one for encoded words and one for body parts, so a message
 * opens each charset it uses at most once. Pure C: no SQLite, libmilter or
 * syslog. Not thread-safe: one per msg.
 */
#ifndef SPAMSIFT_CHARSET_H
#define SPAMSIFT_CHARSET_H

#include <stddef.h>

typedef struct charset charset;

/* Receives converted UTF-8 text; returns 0 or a negative errno to stop. */
typedef int (*charset_sink)(void *ctx, const char *utf8, size_t len);

/* charset_new -- create a converter; 0 or -ENOMEM. Caller frees. */
int charset_new(charset **out);

/* charset_free -- close all cached descriptors and free; accepts NULL. */
void charset_free(charset *cs);

/*
 * charset_budget -- start a new message. A message may use CHARSET_OPENS
 * charsets in its headers' encoded words (charset_convert) and, apart,
 * CHARSET_OPENS in its body parts (charset_select), each opened at most
 * once per message however often it recurs; past that, a further charset
 * of that kind is unknown (-ENOENT, bytes pass through) until the next
 * charset_budget. This bounds a message's iconv_open calls to
 * 2 x CHARSET_OPENS, and no header can use up what the body's parts get.
 */
#define CHARSET_OPENS 32
void charset_budget(charset *cs);

/*
 * charset_select -- convert from the charset called name (case-insensitive,
 * quotes allowed; NULL or "" means no conversion) in the following
 * charset_feed calls; drops any partial character pending.
 * Returns 1 when no conversion is needed (UTF-8, US-ASCII or none: bytes pass
 * through), 0 when iconv converts, -ENOENT when iconv does not know the
 * charset (bytes then pass through unchanged).
 */
int charset_select(charset *cs, const char *name);

/*
 * charset_feed -- convert len bytes and hand the UTF-8 result to sink, in
 * pieces. Invalid bytes are skipped. An incomplete character at the end is
 * kept (at most 16 bytes) for the next call.
 * Returns 0 or the sink's negative value.
 */
int charset_feed(charset *cs, const char *in, size_t len, charset_sink sink,
	void *ctx);

/*
 * charset_end -- the text selected ends: hand sink what the converter
 * still holds (a letter windows-1258 keeps for a combining mark that may
 * follow) and drop an incomplete character. Returns 0 or the sink's value.
 */
int charset_end(charset *cs, charset_sink sink, void *ctx);

/*
 * charset_convert -- one-shot conversion of in (len bytes) from charset name
 * into out (cap bytes, always NUL-terminated when cap > 0), for encoded words
 * in headers; output that does not fit is dropped. Does not disturb the
 * streaming selection. Returns the bytes written (without the NUL), or
 * -ENOENT for an unknown charset (nothing written).
 */
long charset_convert(charset *cs, const char *name, const char *in, size_t len,
	char *out, size_t cap);

#endif
