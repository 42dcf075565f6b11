/*
 * conf_impl -- internals shared by conf.c (table, parser, values),
 * conf_check.c (value checks) and conf_pref.c (per-user preferences). Not
 * for other modules: they use conf.h.
 *
 * Must not depend on: libmilter, SQLite, syslog, db/, classifier/.
 */
#ifndef SPAMSIFT_CONF_IMPL_H
#define SPAMSIFT_CONF_IMPL_H

#include <stddef.h>

#define CONF_VALUE_MAX 4096 /* longest accepted value, NUL included */
#define CONF_WHY_LEN 256    /* size of "what is wrong" buffers */

/*
 * A normaliser checks one raw value (NUL-terminated, no control characters,
 * not empty) before the generic type check: it writes the canonical text to
 * out (outlen bytes; an empty out means "accepted and dropped"), may write a
 * warning to warn (warnlen bytes, may be NULL/0), and returns 0, or -1 with
 * the reason in why (whylen bytes).
 */
typedef int (*conf_norm_fn)(const char *in, char *out, size_t outlen,
    char *why, size_t whylen, char *warn, size_t warnlen);

/* conf_fmt -- snprintf into buf that accepts buf == NULL or len == 0. */
void conf_fmt(char *buf, size_t len, const char *f, ...)
    __attribute__((format(printf, 3, 4)));

/* conf_printable -- s shortened to ~40 characters with non-printables as '?'. */
const char *conf_printable(const char *s, char *out, size_t outlen);

/* conf_has_control -- non-zero if s holds a control character other than tab. */
int conf_has_control(const char *s);

/* conf_copy -- copy in to out; -1 if it does not fit. */
int conf_copy(const char *in, char *out, size_t outlen);

/* conf_match -- index of v in the NULL-terminated e (case-insensitive), or -1. */
int conf_match(const char *const *e, const char *v);

/* conf_enum_list -- "a, b or c" from e, into buf. */
void conf_enum_list(const char *const *e, char *buf, size_t len);

/*
 * conf_parse_long / conf_parse_double -- the whole of s as a number; 0 or -1.
 * conf_parse_long returns -2 for digits alone whose value does not fit a long
 * (a number out of any range, not "not a number").
 */
int conf_parse_long(const char *s, int base, long *out);
int conf_parse_double(const char *s, double *out);

/* Spellings of booleans; training modes; combining algorithms. */
extern const char *const conf_bool_true[];
extern const char *const conf_bool_false[];
extern const char *const conf_training_modes[];
extern const char *const conf_algorithms[];

/* Normalisers of conf_check.c: see the key table in conf.c. */
int conf_norm_socket(const char *, char *, size_t, char *, size_t, char *, size_t);
int conf_norm_user(const char *, char *, size_t, char *, size_t, char *, size_t);
int conf_norm_onfail(const char *, char *, size_t, char *, size_t, char *, size_t);
int conf_norm_feature(const char *, char *, size_t, char *, size_t, char *, size_t);
int conf_norm_tokenizer(const char *, char *, size_t, char *, size_t, char *, size_t);
int conf_norm_algorithm(const char *, char *, size_t, char *, size_t, char *, size_t);
int conf_norm_pvalue(const char *, char *, size_t, char *, size_t, char *, size_t);
int conf_norm_peer(const char *, char *, size_t, char *, size_t, char *, size_t);
int conf_norm_cidr(const char *, char *, size_t, char *, size_t, char *, size_t);
int conf_norm_header(const char *, char *, size_t, char *, size_t, char *, size_t);
int conf_norm_delim(const char *, char *, size_t, char *, size_t, char *, size_t);
int conf_norm_reply(const char *, char *, size_t, char *, size_t, char *, size_t);

/* Normalisers of conf_pref.c: "name=value" (Preference), a name (AllowOverride). */
int conf_norm_pref(const char *, char *, size_t, char *, size_t, char *, size_t);
int conf_norm_prefname(const char *, char *, size_t, char *, size_t, char *, size_t);

#endif
