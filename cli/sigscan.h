/*
 * sigscan -- finds spamsift's signature marks ("!spamsift:ID!", ID 32
 * hexadecimal digits) in text given in pieces split anywhere: the decoded
 * text of a message's base64 or quoted-printable parts (msg_opts'
 * encoded_text), where a look at its raw bytes (learn_signatures) cannot
 * see them, as in a forwarded copy its mail program encoded again.
 * Must not depend on: libmilter, SQLite.
 */
#ifndef SPAMSIFT_SIGSCAN_H
#define SPAMSIFT_SIGSCAN_H

#include <stddef.h>

typedef struct sigscan sigscan;

/* What a mark starts with; its id and a '!' follow (learn_signatures
 * looks for it in raw bytes, sigscan in decoded text). */
#define SIGSCAN_MARK "!spamsift:"

/*
 * sigscan_new -- a scanner that keeps the last max marks it finds (max at
 * least 1). Returns 0 and *out (caller frees with sigscan_free), or -ENOMEM.
 * One per thread.
 */
int sigscan_new(size_t max, sigscan **out);

/* sigscan_free -- free the scanner; accepts NULL. */
void sigscan_free(sigscan *s);

/* sigscan_reset -- forget what was found and given: a new message. */
void sigscan_reset(sigscan *s);

/*
 * sigscan_feed -- the next n bytes of text (borrowed for the call); with
 * n 0 the text ends there (one part's: a mark does not run on into the
 * next). A mark split between two calls is found.
 */
void sigscan_feed(sigscan *s, const char *text, size_t n);

/*
 * sigscan_take -- append the ids found since sigscan_reset (lower case,
 * NUL-terminated) to ids[n..max), the last found first, leaving out those
 * among ids[0..n) (each is one lookup in the store). Returns the new count.
 */
size_t sigscan_take(const sigscan *s, char (*ids)[33], size_t n, size_t max);

/*
 * sigscan_id_at -- whether p starts an id: 32 hexadecimal digits before
 * end, not followed by another. Copies it into id in lower case.
 */
int sigscan_id_at(const char *p, const char *end, char id[33]);

#endif
