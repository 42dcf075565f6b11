/*
 * tok -- the set of distinct tokens read from one message, and the token hash.
 *
 * A token is a short byte string (UTF-8 text such as "Subject:free" or
 * "url:example.com"); the classifier and the store see only its 64-bit hash.
 * The set keeps each distinct token once, in insertion order, up to a cap, and
 * optionally keeps the token text (for --explain and `spamsift tokens`).
 *
 * Pure C: no SQLite, libmilter or syslog. Not thread-safe: one set per message.
 */
#ifndef SPAMSIFT_TOK_H
#define SPAMSIFT_TOK_H

#include <stddef.h>
#include <stdint.h>

typedef struct tokset tokset;

/*
 * tok_hash -- the 64-bit hash of a token: XXH3-64 of its bytes, seed 0.
 * Stable across versions and platforms (it is stored on disk). With an ideal
 * 64-bit hash, 10 million distinct tokens collide with probability about
 * n^2 / 2^65 = 2.7e-6.
 */
uint64_t tok_hash(const char *text, size_t len);

/*
 * tokset_new -- create an empty set.
 * max_tokens: tokens past this many distinct ones are dropped and counted
 *   (0 means the default, TOKSET_DEFAULT_MAX).
 * keep_text: non-zero to keep each token's text (costs memory).
 * Returns 0 and the set in *out (caller frees with tokset_free), or -ENOMEM.
 */
#define TOKSET_DEFAULT_MAX 20000
int tokset_new(size_t max_tokens, int keep_text, tokset **out);

/* tokset_free -- free the set; accepts NULL. */
void tokset_free(tokset *set);

/* tokset_clear -- empty the set for the next message, keeping its memory. */
void tokset_clear(tokset *set);

/*
 * tokset_keep_text -- start or stop keeping token texts; only while the
 * set is empty (-EBUSY otherwise). 0 or -ENOMEM.
 */
int tokset_keep_text(tokset *set, int on);

/*
 * tokset_add -- add a token (text of len bytes, need not be NUL-terminated).
 * Returns 1 if it was new, 0 if it was already there or the cap was reached
 * (see tokset_dropped), -ENOMEM on allocation failure (the set is unchanged).
 */
int tokset_add(tokset *set, const char *text, size_t len);

/* tokset_add_hash -- as tokset_add for a token known only by its hash. */
int tokset_add_hash(tokset *set, uint64_t hash);

/* tokset_count -- number of distinct tokens in the set. */
size_t tokset_count(const tokset *set);

/* tokset_hash -- the hash of the i-th token (0 <= i < count), insertion order. */
uint64_t tokset_hash(const tokset *set, size_t i);

/*
 * tokset_text -- the text of the i-th token, NUL-terminated, borrowed until
 * the set is cleared or freed; NULL when text is not kept.
 */
const char *tokset_text(const tokset *set, size_t i);

/* tokset_find -- index of the token with this hash, or -1 when absent. */
long tokset_find(const tokset *set, uint64_t hash);

/* tokset_dropped -- number of tokens refused because the cap was reached. */
size_t tokset_dropped(const tokset *set);

/* tokset_max -- the cap on distinct tokens; tokset_keeps_text -- whether
 * texts are kept (tokset_new, tokset_keep_text). */
size_t tokset_max(const tokset *set);
int tokset_keeps_text(const tokset *set);

/*
 * tokset_mark_head -- record that the tokens added so far came from the
 * message's header (classifier/msg calls it where the top-level header
 * ends); tokset_head -- how many leading tokens did, or TOKSET_NO_HEAD when
 * the set was never marked since it was cleared. The classifier weighs the
 * header's evidence and the body's separately (bayes_token.stream).
 */
#define TOKSET_NO_HEAD ((size_t)-1)
void tokset_mark_head(tokset *set);
size_t tokset_head(const tokset *set);

#endif
