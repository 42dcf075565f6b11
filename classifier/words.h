/*
 * words -- the word tokenizer: splits streamed UTF-8 text into case-folded
 * words and adds them (with an optional prefix such as "Subject:") to a token
 * set, plus plain-text URLs and, when enabled, word pairs.
 * Pure C: no SQLite, libmilter or syslog. Not thread-safe: one per msg.
 *
 * Rules (bytes, after the prefix):
 * - A word is a run of letters, digits and non-ASCII characters; '.', '-',
 *   '_', '\'', '@' and ',' are kept inside a word but not at its ends; '$'
 *   is kept at its start ("$19.99"). U+2019 (the typographic apostrophe)
 *   reads as '\'' ("don\u2019t" is "don't"). Everything else separates
 *   words.
 * - ASCII is lowercased; so are Latin-1, Latin Extended-A, Greek and Cyrillic
 *   letters. Invisible characters (U+00AD, U+034F, U+200B-U+200F,
 *   U+202A-U+202E, U+2060-U+2064, U+2066-U+2069, U+FE00-U+FE0F, U+FEFF) are
 *   dropped without splitting the word ("fr\u200bee" reads "free");
 *   general punctuation (U+00A0-U+00BF, U+2000-U+206F, U+3000-U+303F, ...)
 *   separates words. CJK characters and emoji (U+2E80-U+2FFF,
 *   U+3040-U+9FFF, U+F900-U+FAFF, U+FF00-U+FFEF, >= U+1F000) are one token
 *   each; Hangul syllables are letters (Korean separates its words by
 *   blanks).
 *   Bytes that are not valid UTF-8 (8-bit text without a declared charset,
 *   broken or overlong sequences, surrogates) are read as windows-1252, so
 *   tokens are always valid UTF-8 ("caf\xe9" reads "café").
 * - Words shorter than 2 bytes are dropped. Words longer than max_len bytes
 *   become one token "skip:<k>:<n>" where k is the class of their first
 *   byte ('a' letter, '9' digit, 'u' other) and n their length rounded down
 *   to a multiple of 10 (SpamBayes' trick: long junk still says something).
 * - Runs of more than 5 digits become "num:<n>d" (n digits: phone numbers,
 *   order numbers and ids are noise individually).
 * - "http://...", "https://...", "ftp://...", "mailto:..." and words starting
 *   with "www." are URLs: they give url_tokens() (no prefix) instead of words.
 *   A scheme is a URL's only when "//" follows its ':' (for mailto, an
 *   address's first character: a letter, digit or one of "!#$%&*+-/=?_~");
 *   otherwise it is a word ("the http: header" is "the", "http", "header";
 *   "http:\\evil.example" is "http", "evil.example").
 *   A URL ends where the reader sees it end, at a separator (a no-break
 *   space too); invisible characters inside it are dropped.
 * - Pairs: chained adds "a+b" for adjacent words; osb adds orthogonal sparse
 *   bigrams over a window of 5: "a+b", "a+?+b", "a+?+?+b", "a+?+?+?+b".
 *   Pairs carry the prefix once ("Subject:a+b") and never span a
 *   words_begin.
 */
#ifndef SPAMSIFT_WORDS_H
#define SPAMSIFT_WORDS_H

#include <stddef.h>

#include "classifier/tok.h"

typedef struct words words;

#define WORDS_MAXLEN 1024  /* upper bound for max_len (MaxTokenLength's) */
#define WORDS_PREFIXMAX 64 /* longest prefix kept */

/*
 * words_new -- create a tokenizer. max_len: longest word kept, in bytes
 * (clamped to 2..WORDS_MAXLEN). chained, osb: add word pairs (see above).
 * Returns 0 and *out (caller frees with words_free), or -ENOMEM.
 */
int words_new(size_t max_len, int chained, int osb, words **out);

/* words_free -- free; accepts NULL. */
void words_free(words *w);

/*
 * words_begin -- start a new text whose tokens go to out (borrowed) with the
 * given prefix (copied, truncated to WORDS_PREFIXMAX - 1 bytes; NULL = none).
 * Drops any unfinished word and the pair history.
 */
void words_begin(words *w, tokset *out, const char *prefix);

/*
 * words_feed -- tokenize len more bytes of text. Returns 0, or -ENOMEM from
 * the token set (sticky until words_begin).
 */
int words_feed(words *w, const char *text, size_t len);

/* words_break -- end the current word, as a separator would; 0 or -ENOMEM. */
int words_break(words *w);

/* words_end -- end of text: flush the last word or URL; 0 or -ENOMEM. */
int words_end(words *w);

/*
 * words_cp1252 -- the code point of byte c in windows-1252: 0x80-0x9F are
 * its letters and punctuation (0x92 is U+2019, 0x80 U+20AC), U+FFFD for
 * the five it leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D); any other
 * byte is its own (Latin-1). Pure; thread-safe.
 */
unsigned words_cp1252(unsigned char c);

#endif
