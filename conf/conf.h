/*
 * conf -- spamsift.conf: parse, validate, override and query the settings.
 *
 * The file holds one "Key value" per line (DSPAM syntax): '#' comments, blank
 * lines, keys case-insensitive, values to the end of the line (surrounding
 * double quotes removed). Some keys repeat and accumulate (Trust, Feature,
 * Preference, AllowOverride, IgnoreHeader, DebugPeer, SkipNetworks); a
 * quoted empty value ("") clears such a list (and empties a string key);; for the
 * others the last line wins. Every key has a documented type and default;
 * unknown keys and bad values are errors naming file, line and key; DSPAM keys
 * that do not apply to a milter (MySQL*, Delivery*, ...) are accepted with a
 * warning.
 *
 * A conf is immutable once loaded and reference counted, so milter threads
 * share a snapshot and a reload swaps in a new one.
 *
 * Must not depend on: libmilter, SQLite, syslog, db/, classifier/.
 */
#ifndef SPAMSIFT_CONF_H
#define SPAMSIFT_CONF_H

#include <stddef.h>

typedef struct conf conf;

/* Default config file. */
#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define CONF_DEFAULT_PATH SYSCONFDIR "/spamsift.conf"

/*
 * conf_new -- a conf holding every key's default. *out has one reference.
 * Returns 0 or -ENOMEM.
 */
int conf_new(conf **out);

/*
 * conf_load -- read path into c (lines override defaults and earlier lines).
 * On error returns -EINVAL (bad key or value) or -errno (cannot read), and
 * writes "FILE:LINE: Key: what is wrong" to err. Warnings (for example DSPAM
 * keys ignored by spamsift) are passed to warn(arg, text) when warn is not NULL.
 */
int conf_load(conf *c, const char *path, char *err, size_t errlen,
    void (*warn)(void *arg, const char *text), void *arg);

/*
 * conf_set -- apply one "Key=Value" override (the -o option). Same errors as
 * conf_load; the source is recorded as "-o". A relative path value (Home,
 * StorePath, TempDir, ...) is made absolute against the current directory.
 * A list key gets the value added (an empty value clears the list).
 */
int conf_set(conf *c, const char *keyval, char *err, size_t errlen);

/* conf_set_warn -- conf_set, passing warnings to warn(arg, text) like conf_load. */
int conf_set_warn(conf *c, const char *keyval, char *err, size_t errlen,
    void (*warn)(void *arg, const char *text), void *arg);

/*
 * conf_parse -- conf_load on the len bytes at buf (no NUL needed; NUL bytes
 * in a line are an error); name is the "FILE" of messages. For tests and the
 * fuzzer. Returns 0 or -EINVAL.
 */
int conf_parse(conf *c, const char *name, const char *buf, size_t len,
    char *err, size_t errlen, void (*warn)(void *arg, const char *text),
    void *arg);

/*
 * conf_finish -- check cross-key constraints and fill derived values (for
 * example StorePath from Home). Call once after loading and overrides.
 * Derived: StorePath empty = Home "/spamsift.db", relative = under Home (so
 * give an absolute path for a file outside Home); Tokenizer, when set,
 * replaces chained/osb in Feature. Constraints: Group needs User, UserMap
 * alias needs AliasFile, MaxTokens >= GrahamTokens and BurtonTokens, a site
 * Preference rejectThreshold >= SpamThreshold. Returns 0, -EINVAL (message
 * in err, naming the source of the value at fault) or -ENOMEM.
 */
int conf_finish(conf *c, char *err, size_t errlen);

/*
 * conf_accounts -- every account the configuration names exists: User and
 * SocketOwner as users, Group and SocketGroup as groups (the milter drops
 * to them and gives its socket to them, and refuses to start without
 * them). 0, or -ENOENT with "Key: unknown user|group NAME" in err for each
 * that does not ("; " between them).
 */
int conf_accounts(const conf *c, char *err, size_t errlen);

/* conf_ref / conf_unref -- take and drop a reference; unref frees at zero. */
conf *conf_ref(conf *c);
void conf_unref(conf *c);

/*
 * Accessors. Reading is thread-safe (a conf is not changed after
 * conf_finish). An unknown key, or conf_int/conf_double/conf_bool/conf_list
 * on a key of another type, is a programmer error (assert).
 */

/*
 * conf_str -- the effective value of a single-valued key (borrowed for the
 * life of c), or NULL when it has no value (empty). key is case-insensitive.
 * Works for every non-list key: numbers, booleans ("on"/"off") and enums
 * come back in canonical text (SocketMode as "0660"). NULL for list keys.
 */
const char *conf_str(const conf *c, const char *key);

/* conf_int -- the value of an integer key (its default when unset);
 * SocketMode is read in octal. */
long conf_int(const conf *c, const char *key);

/* conf_double -- the value of a real-valued key (its default when unset). */
double conf_double(const conf *c, const char *key);

/* conf_bool -- the value of an on/off key (its default when unset). */
int conf_bool(const conf *c, const char *key);

/*
 * conf_list -- the values of a repeating key, in order: *n values, borrowed
 * for the life of c. Returns NULL and *n = 0 when there are none.
 */
const char *const *conf_list(const conf *c, const char *key, size_t *n);

/* At most this many IgnoreHeader fields (conf_finish refuses more). */
#define CONF_MAX_IGNORE 64

/* conf_has_feature -- non-zero if "Feature name" is set (case-insensitive). */
int conf_has_feature(const conf *c, const char *name);

/*
 * conf_iter -- call fn(arg, key, value, source) for every key with its
 * effective value and source ("default", "FILE:LINE" or "-o"), for
 * `spamsift config show`; stops if fn returns non-zero.
 */
int conf_iter(const conf *c,
    int (*fn)(void *arg, const char *key, const char *value, const char *source),
    void *arg);

/*
 * Per-user preferences (DSPAM's preference names): spamAction
 * (tag|quarantine|reject), spamSubject, signatureLocation (headers|message),
 * showFactors, enableBNR, enableWhitelist (on|off), whitelistThreshold (int),
 * trainingMode (teft|toe|tum|notrain), statisticalSedation (0..10),
 * optIn, optOut (on|off), rejectThreshold (0..1).
 */

/*
 * conf_pref_check -- is value valid for preference key? Returns 0, or -EINVAL
 * with a message in err naming the key (unknown key or bad value).
 */
int conf_pref_check(const char *key, const char *value, char *err,
    size_t errlen);

/*
 * conf_pref_default -- the site default of preference key: the last
 * `Preference "key=value"` line, else the built-in default. Borrowed.
 * NULL for an unknown key. Built-in defaults: trainingMode = TrainingMode,
 * whitelistThreshold = WhitelistThreshold, enableWhitelist = on if Feature
 * whitelist, enableBNR = on if Feature noise; spamAction tag, spamSubject
 * "[SPAM]", signatureLocation headers, showFactors off,
 * statisticalSedation 0, optIn off, optOut off, rejectThreshold 0.999.
 */
const char *conf_pref_default(const conf *c, const char *key);

/* conf_pref_overridable -- non-zero if AllowOverride lists key. */
int conf_pref_overridable(const conf *c, const char *key);

/* conf_pref_name -- the canonical spelling of a preference key, or NULL. */
const char *conf_pref_name(const char *key);

/*
 * conf_pref_canon -- the canonical spelling of a valid value of preference
 * key ("on"/"off" for yes/true/1..., lower-case enum values; other values
 * come back as given, borrowed from value), or NULL if key is unknown or
 * value is invalid. Store this rather than what the user typed.
 */
const char *conf_pref_canon(const char *key, const char *value);

/* conf_key_name -- the canonical spelling of a config key, or NULL if unknown. */
const char *conf_key_name(const char *key);

/* conf_utf8_len -- length of the valid UTF-8 character at s (1..4; 1 for
 * ASCII, also NUL), or 0 when s does not start one. */
size_t conf_utf8_len(const unsigned char *s);

/*
 * conf_reply_split -- RejectText's enhanced status code: when text starts
 * with one (5.subject.detail, RFC 3463) followed by text, copy it to xcode
 * and return the text after it; else xcode is 5.7.1 and text is returned.
 */
const char *conf_reply_split(const char *text, char *xcode, size_t len);

#endif
