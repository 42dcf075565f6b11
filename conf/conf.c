/*
 * conf -- spamsift.conf: a static table of keys (type, range, default, doc),
 * a DSPAM-syntax parser, -o overrides, derived defaults and the accessors.
 * Value checks live in conf_check.c, per-user preferences in conf_pref.c.
 *
 * Every value keeps a canonical text and its source ("default", "FILE:LINE",
 * "-o") so `spamsift config show` can say where a setting came from. Input is
 * untrusted: lines and values have caps, NUL bytes and control characters are
 * errors, never crashes.
 *
 * Must not depend on: libmilter, SQLite, syslog, db/, classifier/. No logging:
 * warnings go to the caller's callback, errors to the caller's buffer.
 */
#include "config.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "conf/conf.h"
#include "conf/conf_impl.h"

#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR "/var"
#endif

#define LINE_MAX_LEN 8192         /* longest accepted line */
#define VALUE_MAX_LEN CONF_VALUE_MAX /* longest accepted value */
#define FILE_MAX_LEN (4L << 20)   /* largest accepted config file */
#define LOC_LEN 512               /* "FILE:LINE" buffer */
#define WHY_LEN CONF_WHY_LEN      /* reason buffers */

enum ktype {
	T_STR,   /* free text */
	T_PATH,  /* file system path */
	T_INT,   /* decimal integer in [imin, imax] */
	T_OCT,   /* octal integer in [imin, imax] (modes) */
	T_DBL,   /* real in [dmin, dmax] */
	T_BOOL,  /* on|off|yes|no|true|false|1|0 */
	T_ENUM,  /* one of enums[] */
	T_LIST   /* repeating: every line adds values */
};

#define K_ABS   0x01 /* path must be absolute */
#define K_EMPTY 0x02 /* empty value allowed */
#define K_SPLIT 0x04 /* list: a line may hold several values (space/comma) */
#define K_BYTES 0x08 /* int: accepts k/M/G suffixes */

struct key {
	const char *name;          /* canonical spelling */
	enum ktype type;           /* value type */
	unsigned flags;            /* K_* */
	const char *def;           /* default text; lists: comma separated */
	long imin, imax;           /* T_INT / T_OCT range */
	double dmin, dmax;         /* T_DBL range */
	const char *const *enums;  /* T_ENUM values, NULL terminated */
	conf_norm_fn norm;         /* optional normaliser, may be NULL */
	const char *doc;           /* one-line description, for readers of this
	                              table (users read spamsift.conf.5) */
};

struct val {
	char *text;     /* canonical value ("" when empty); single-valued keys */
	long i;         /* parsed T_INT / T_OCT / T_BOOL */
	double d;       /* parsed T_DBL */
	char *src;      /* "default", "FILE:LINE" or "-o" */
	char **items;   /* T_LIST values */
	char **isrc;    /* T_LIST sources, parallel to items */
	size_t n;       /* T_LIST count */
	size_t cap;     /* T_LIST allocated slots */
	int defaulted;  /* T_LIST: items are still the built-in default */
};

struct conf {
	atomic_long refs;  /* references; freed at zero */
	struct val *vals;  /* one per keys[] entry */
};

static const char *const e_facility[] = { "mail", "daemon", "local0",
	"local1", "local2", "local3", "local4", "local5", "local6", "local7",
	NULL };
static const char *const e_onfail[] = { "tempfail", "accept", NULL };
static const char *const e_tokenizer[] = { "word", "chained", "osb", NULL };
static const char *const e_pvalue[] = { "robinson", "graham", NULL };
static const char *const e_qmode[] = { "spamsift", "postfix", NULL };
static const char *const e_usermap[] = { "full", "localpart", "alias", NULL };
static const char *const e_opt[] = { "out", "in", NULL };

#define INT(lo, hi) lo, hi, 0, 0, NULL
#define DBL(lo, hi) 0, 0, lo, hi, NULL
#define ENUM(e) 0, 0, 0, 0, e
#define NONE 0, 0, 0, 0, NULL

/* The keys, in the order `config show` and the sample file list them. */
static const struct key keys[] = {
	/* Paths and the socket. */
	{ "Home", T_PATH, K_ABS, LOCALSTATEDIR "/lib/spamsift", NONE, NULL,
	  "data directory; the store and quarantine live here" },
	{ "StorePath", T_PATH, K_EMPTY, "", NONE, NULL,
	  "SQLite store file; empty = $Home/spamsift.db, relative = under Home" },
	{ "Socket", T_STR, 0, "unix:/run/spamsift/spamsift.sock", NONE,
	  conf_norm_socket, "milter socket: unix:PATH, local:PATH, inet:PORT@HOST or inet6:PORT@HOST" },
	{ "SocketOwner", T_STR, K_EMPTY, "", NONE, conf_norm_user,
	  "owner of the unix socket; empty = unchanged" },
	{ "SocketGroup", T_STR, K_EMPTY, "", NONE, conf_norm_user,
	  "group of the unix socket; empty = unchanged" },
	{ "SocketMode", T_OCT, 0, "0660", INT(0, 07777), NULL,
	  "permissions of the unix socket (octal)" },
	{ "User", T_STR, K_EMPTY, "", NONE, conf_norm_user,
	  "user to run as after opening the socket; empty = stay" },
	{ "Group", T_STR, K_EMPTY, "", NONE, conf_norm_user,
	  "group to run as (needs User); empty = User's primary group" },
	{ "PidFile", T_PATH, K_ABS | K_EMPTY, "", NONE, NULL,
	  "file the daemon writes its process id to; empty = none" },
	{ "SyslogFacility", T_ENUM, 0, "mail", ENUM(e_facility), NULL,
	  "syslog facility: mail, daemon or local0..local7" },
	{ "OnFail", T_ENUM, 0, "tempfail", ENUM(e_onfail), conf_norm_onfail,
	  "what to do with mail when filtering fails: tempfail or accept" },
	{ "Trust", T_LIST, K_SPLIT, "root", NONE, conf_norm_user,
	  "Unix users allowed to act for other users in the spamsift command" },

	/* Training and classification. */
	{ "TrainingMode", T_ENUM, 0, "teft", ENUM(conf_training_modes), NULL,
	  "default training mode: teft, toe, tum or notrain" },
	{ "TestConditionalTraining", T_BOOL, 0, "on", NONE, NULL,
	  "when correcting an error, repeat training until the verdict flips" },
	{ "TrainUnsure", T_BOOL, 0, "on", NONE, NULL,
	  "toe and mature tum also learn the verdicts they were unsure of; off: only errors" },
	{ "Feature", T_LIST, K_SPLIT, "chained,whitelist", NONE, conf_norm_feature,
	  "tokenizer and filter features: chained, osb, noise, whitelist" },
	{ "Tokenizer", T_ENUM, K_EMPTY, "", ENUM(e_tokenizer), conf_norm_tokenizer,
	  "DSPAM 3.10 tokenizer: word, chain or osb; sets Feature; empty = use Feature" },
	{ "Algorithm", T_ENUM, 0, "chi-square", ENUM(conf_algorithms), conf_norm_algorithm,
	  "combining algorithm: chi-square, graham, burton or naive" },
	{ "PValue", T_ENUM, 0, "robinson", ENUM(e_pvalue), conf_norm_pvalue,
	  "token probability: robinson or graham" },
	{ "RobinsonS", T_DBL, 0, "0.0003", DBL(0.0001, 10.0), NULL,
	  "Robinson's s: strength of the prior for rare tokens" },
	{ "RobinsonX", T_DBL, 0, "0.52", DBL(0.01, 0.99), NULL,
	  "Robinson's x: assumed probability of an unseen token" },
	{ "MinDev", T_DBL, 0, "0.1", DBL(0.0, 0.5), NULL,
	  "ignore tokens whose probability is within MinDev of 0.5" },
	{ "SpamThreshold", T_DBL, 0, "0.9", DBL(0.0, 1.0), NULL,
	  "a message whose spam probability reaches this is spam" },
	{ "GrahamTokens", T_INT, 0, "15", INT(1, 1000), NULL,
	  "most interesting tokens used by graham (naive uses all)" },
	{ "BurtonTokens", T_INT, 0, "27", INT(1, 1000), NULL,
	  "most interesting tokens used by burton" },
	{ "TumMaturity", T_INT, 0, "2500", INT(0, 100000000), NULL,
	  "tum trains everything until a user has learned this many innocent messages" },
	{ "GlobalModel", T_BOOL, 0, "on", NONE, NULL,
	  "merge each user's token counts with the shared model" },
	{ "Preference", T_LIST, 0, "", NONE, conf_norm_pref,
	  "site default of a preference, as \"name=value\"" },
	{ "AllowOverride", T_LIST, K_SPLIT, "", NONE, conf_norm_prefname,
	  "preferences users may set for themselves" },
	{ "WhitelistThreshold", T_INT, 0, "10", INT(1, 1000000), NULL,
	  "innocent messages from a sender before it is auto-whitelisted" },

	/* Signatures, quarantine and purging. */
	{ "SignatureLife", T_INT, 0, "14", INT(0, 3650), NULL,
	  "days a message signature is kept for retraining; 0 = forever" },
	{ "QuarantineLife", T_INT, 0, "30", INT(0, 3650), NULL,
	  "days a quarantined message is kept; 0 = forever" },
	{ "QuarantineMode", T_ENUM, 0, "spamsift", ENUM(e_qmode), NULL,
	  "quarantine: spamsift (own store) or postfix (HOLD queue)" },
	{ "TokenCacheSize", T_INT, K_BYTES, "12582912", INT(0, 1L << 34), NULL,
	  "memory of the milter's shared token cache; 0 = none" },
	{ "QuarantineMemory", T_INT, K_BYTES, "1048576", INT(0, 1L << 30), NULL,
	  "bytes of a message kept in memory before spilling to TempDir" },
	{ "TempDir", T_PATH, K_ABS, "/tmp", NONE, NULL,
	  "directory for message copies larger than QuarantineMemory" },
	{ "PurgeStaleDays", T_INT, 0, "90", INT(0, 36500), NULL,
	  "purge rare tokens not learned for this many days; 0 = never" },
	{ "PurgeMaxHits", T_INT, 0, "1", INT(0, 1000000), NULL,
	  "tokens with at most this many hits are purged when stale" },

	/* Which mail is filtered and how it is rejected. */
	{ "DebugPeer", T_LIST, K_SPLIT, "", NONE, conf_norm_peer,
	  "client IPs, networks or host names whose mail is logged at debug level" },
	{ "Opt", T_ENUM, 0, "out", ENUM(e_opt), NULL,
	  "out: filter every user but those with optOut=on; in: only those with optIn=on" },
	{ "SkipAuthenticated", T_BOOL, 0, "on", NONE, NULL,
	  "do not filter mail from SMTP-authenticated clients" },
	{ "SkipNetworks", T_LIST, K_SPLIT, "", NONE, conf_norm_cidr,
	  "client networks (CIDR) whose mail is not filtered" },
	{ "RejectText", T_STR, 0, "5.7.1 Message rejected as spam", NONE,
	  conf_norm_reply, "SMTP reply text when spamAction is reject" },

	/* Limits. */
	{ "MaxScanBytes", T_INT, K_BYTES, "524288", INT(1024, 1L << 30), NULL,
	  "bytes of a message tokenized; the rest is not scanned" },
	{ "MaxTokens", T_INT, 0, "20000", INT(100, 10000000), NULL,
	  "distinct tokens kept per message" },
	{ "MaxHeaderLength", T_INT, K_BYTES, "16384", INT(256, 16L << 20), NULL,
	  "longest header field (unfolded) that is tokenized" },
	{ "MaxMimeDepth", T_INT, 0, "16", INT(1, 100), NULL,
	  "deepest MIME nesting that is parsed" },
	/* (up to WORDS_MAXLEN, what the tokenizer honours) */
	{ "MaxTokenLength", T_INT, 0, "40", INT(4, 1024), NULL,
	  "longer words are one skip: token each" },
	{ "IgnoreHeader", T_LIST, K_SPLIT, "", NONE, conf_norm_header,
	  "header fields that are not tokenized" },

	/* Users. */
	{ "UserMap", T_ENUM, 0, "full", ENUM(e_usermap), NULL,
	  "recipient to user: full address, localpart or alias (AliasFile)" },
	{ "AliasFile", T_PATH, K_ABS | K_EMPTY, "", NONE, NULL,
	  "UserMap alias: lines \"address user\"" },
	{ "RecipientDelimiter", T_STR, K_EMPTY, "", NONE, conf_norm_delim,
	  "characters that start an address extension (user+ext@domain)" },
	{ "SendmailPath", T_PATH, K_ABS, "/usr/sbin/sendmail", NONE, NULL,
	  "Postfix's sendmail, used to re-deliver released quarantined mail" },
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

/* DSPAM keys spamsift accepts and ignores (exact names; the families
 * below are not repeated here). */
static const char *const dspam_exact[] = {
	"StorageDriver", "TrustedDeliveryAgent", "UntrustedDeliveryAgent",
	"QuarantineAgent", "QuarantineMailbox", "QuarantineWarnSize",
	"Notifications", "SupressWebStats", "SuppressWebStats", "WebStats",
	"LocalMX", "SystemLog", "UserLog", "ParseToHeaders",
	"ChangeModeOnParse", "ChangeUserOnParse", "Broken", "MaxMessageSize",
	"TrackSources", "Debug", "DebugOpt", "ImprobabilityDrive",
	"StripRcptDomain", "RBLInoculate", "TrainPristine", "Include",
	"EnablePlusedDetail", "DataSource", "FallbackDomains",
	"DefaultProfile", "Profile", "Lookup", "RABLQueue",
	"PurgeSignatures", "PurgeSignature", "PurgeNeutral", "PurgeUnused",
	"PurgeHapaxes", "PurgeHits1S", "PurgeHits1I", "Lib", NULL
};

/* DSPAM key families spamsift accepts and ignores (prefixes): dspam.conf
 * names ClassAliasSpam, Failover.PROFILE, FailoverAttempts, OraServer... */
static const char *const dspam_prefix[] = {
	"MySQL", "PgSQL", "SQLite", "Ora", "Hash", "Delivery", "Server",
	"Client", "LDAP", "ExtLookup", "ClamAV", "RabbitMQ", "Processor",
	"Plused", "ClassAlias", "Failover", NULL
};

static int key_index(const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcasecmp(keys[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* Is name a DSPAM key that spamsift accepts and ignores? */
static int dspam_ignored(const char *name)
{
	for (size_t i = 0; dspam_exact[i]; i++)
		if (strcasecmp(dspam_exact[i], name) == 0)
			return 1;
	for (size_t i = 0; dspam_prefix[i]; i++)
		if (strncasecmp(dspam_prefix[i], name, strlen(dspam_prefix[i])) == 0)
			return 1;
	return 0;
}

static int valid_key_name(const char *s)
{
	if (!isalpha((unsigned char)*s))
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' && *s != '-')
			return 0;
	return 1;
}

/* Case-insensitive edit distance, for "did you mean" (names are short). */
static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[64];

	if (la >= 63 || lb >= 63)
		return 99;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t cost = tolower((unsigned char)a[i - 1]) !=
			    tolower((unsigned char)b[j - 1]);
			size_t best = diag + cost;

			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

static const char *suggest(const char *name)
{
	const char *best = NULL;
	size_t bestd = 3;

	for (size_t i = 0; i < NKEYS; i++) {
		size_t d = distance(name, keys[i].name);
		if (d < bestd) {
			bestd = d;
			best = keys[i].name;
		}
	}
	return best;
}

/* ---- values ---- */

static void val_clear_list(struct val *v)
{
	for (size_t i = 0; i < v->n; i++) {
		free(v->items[i]);
		free(v->isrc[i]);
	}
	v->n = 0;
}

static int list_add(struct val *v, const char *item, const char *src)
{
	char *a, *b;

	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 4;
		char **ni = realloc(v->items, cap * sizeof(*ni));

		if (ni == NULL)
			return -ENOMEM;
		v->items = ni;
		ni = realloc(v->isrc, cap * sizeof(*ni));
		if (ni == NULL)
			return -ENOMEM;
		v->isrc = ni;
		v->cap = cap;
	}
	a = strdup(item);
	b = strdup(src);
	if (a == NULL || b == NULL) {
		free(a);
		free(b);
		return -ENOMEM;
	}
	v->items[v->n] = a;
	v->isrc[v->n] = b;
	v->n++;
	return 0;
}

/*
 * Check raw for key k; on success write the canonical text to out and the
 * parsed number to *num / *dbl. Returns 0 or -1 with the reason in why.
 */
static int check_value(const struct key *k, const char *raw, char *out,
    size_t outlen, long *num, double *dbl, char *why, size_t whylen,
    char *warn, size_t warnlen)
{
	char norm[VALUE_MAX_LEN], buf[WHY_LEN];
	const char *v = raw;
	int i;

	*num = 0;
	*dbl = 0;
	if (strlen(raw) >= VALUE_MAX_LEN) {
		conf_fmt(why, whylen, "value too long");
		return -1;
	}
	if (conf_has_control(raw)) {
		conf_fmt(why, whylen, "control character in value");
		return -1;
	}
	if (*raw == '\0') {
		if (k->flags & K_EMPTY) {
			out[0] = '\0';
			return 0;
		}
		conf_fmt(why, whylen, "must not be empty");
		return -1;
	}
	if (k->norm) {
		if (k->norm(raw, norm, sizeof(norm), why, whylen, warn, warnlen) < 0)
			return -1;
		v = norm;
	}
	switch (k->type) {
	case T_STR:
		break;
	case T_LIST:
		break;
	case T_PATH:
		if ((k->flags & K_ABS) && v[0] != '/') {
			conf_fmt(why, whylen, "must be an absolute path");
			return -1;
		}
		break;
	case T_INT:
	case T_OCT: {
		char tmp[64];
		size_t n = strlen(v);
		long mult = 1;

		if (n >= sizeof(tmp))
			goto bad_int;
		memcpy(tmp, v, n + 1);
		if ((k->flags & K_BYTES) && n > 1) {
			switch (tmp[n - 1]) {
			case 'k': case 'K': mult = 1L << 10; break;
			case 'm': case 'M': mult = 1L << 20; break;
			case 'g': case 'G': mult = 1L << 30; break;
			}
			if (mult > 1)
				tmp[n - 1] = '\0';
		}
		if (k->type == T_OCT && strspn(tmp, "01234567") != strlen(tmp))
			goto bad_int;
		switch (conf_parse_long(tmp, k->type == T_OCT ? 8 : 10, num)) {
		case 0: break;
		case -2: goto range;   /* too many digits: say what fits */
		default: goto bad_int;
		}
		if (*num > k->imax / mult || *num < k->imin / mult)
			goto range;
		*num *= mult;
		if (*num < k->imin || *num > k->imax)
			goto range;
		if (k->type == T_OCT)
			snprintf(norm, sizeof(norm), "%#lo", *num);
		else
			snprintf(norm, sizeof(norm), "%ld", *num);
		v = norm;
		break;
	bad_int:
		conf_fmt(why, whylen, k->type == T_OCT ? "not an octal number" : "not an integer");
		return -1;
	range:
		if (k->type == T_OCT)
			conf_fmt(why, whylen, "must be from %#lo to %#lo", k->imin, k->imax);
		else
			conf_fmt(why, whylen, "must be from %ld to %ld", k->imin, k->imax);
		return -1;
	}
	case T_DBL:
		if (conf_parse_double(v, dbl) < 0) {
			conf_fmt(why, whylen, "not a number");
			return -1;
		}
		if (*dbl < k->dmin || *dbl > k->dmax) {
			conf_fmt(why, whylen, "must be from %g to %g", k->dmin, k->dmax);
			return -1;
		}
		break;
	case T_BOOL:
		if (conf_match(conf_bool_true, v) >= 0)
			*num = 1;
		else if (conf_match(conf_bool_false, v) >= 0)
			*num = 0;
		else {
			conf_fmt(why, whylen, "must be on or off (yes/no, true/false, 1/0)");
			return -1;
		}
		v = *num ? "on" : "off";
		break;
	case T_ENUM:
		i = conf_match(k->enums, v);
		if (i < 0) {
			conf_enum_list(k->enums, buf, sizeof(buf));
			conf_fmt(why, whylen, "must be %s", buf);
			return -1;
		}
		v = k->enums[i];
		break;
	}
	if (conf_copy(v, out, outlen) < 0) {
		conf_fmt(why, whylen, "value too long");
		return -1;
	}
	return 0;
}

static int set_single(struct val *v, const char *text, long num, double dbl,
    const char *src)
{
	char *t = strdup(text), *s = strdup(src);

	if (t == NULL || s == NULL) {
		free(t);
		free(s);
		return -ENOMEM;
	}
	free(v->text);
	free(v->src);
	v->text = t;
	v->src = s;
	v->i = num;
	v->d = dbl;
	return 0;
}

typedef void (*warn_fn)(void *arg, const char *text);

/*
 * Apply one key/value pair (raw already unquoted; "" empties a string and
 * clears a list). loc is "FILE:LINE" or "-o". A list still holding its
 * built-in default is replaced, otherwise values are added.
 */
static int apply(conf *c, const char *name, const char *raw, const char *loc,
    char *err, size_t errlen, warn_fn warn, void *arg)
{
	char why[WHY_LEN], wtext[WHY_LEN], out[VALUE_MAX_LEN], msg[LOC_LEN + 2 * WHY_LEN];
	char pname[64];
	const struct key *k;
	struct val *v;
	int idx = key_index(name), rc;
	long num;
	double dbl;

	if (idx < 0) {
		if (valid_key_name(name) && dspam_ignored(name)) {
			if (warn) {
				snprintf(msg, sizeof(msg), "%s: %s: DSPAM setting not used by spamsift; ignored",
				    loc, conf_printable(name, pname, sizeof(pname)));
				warn(arg, msg);
			}
			return 0;
		}
		if (!valid_key_name(name)) {
			conf_fmt(err, errlen, "%s: %s: invalid key name", loc,
			    conf_printable(name, pname, sizeof(pname)));
		} else {
			const char *s = suggest(name);

			conf_fmt(err, errlen, "%s: %s: unknown key%s%s%s", loc,
			    conf_printable(name, pname, sizeof(pname)),
			    s ? " (did you mean " : "", s ? s : "", s ? "?)" : "");
		}
		return -EINVAL;
	}
	k = &keys[idx];
	v = &c->vals[idx];
	if (k->type == T_LIST) {
		char buf[VALUE_MAX_LEN], *save = NULL, *w;

		if (strlen(raw) >= sizeof(buf)) {
			conf_fmt(err, errlen, "%s: %s: value too long", loc, k->name);
			return -EINVAL;
		}
		/* The first value added replaces the defaults (a value that is
		 * only dropped, as Feature tb=N, leaves them). */
		int fresh = v->defaulted;

		if (*raw == '\0') {
			/* cleared: config show names where */
			char *s = strdup(loc);

			if (s == NULL)
				return -ENOMEM;
			free(v->src);
			v->src = s;
			val_clear_list(v);
			v->defaulted = 0;
			return 0;
		}
		strcpy(buf, raw);
		w = (k->flags & K_SPLIT) ? strtok_r(buf, " \t,", &save) : buf;
		if (w == NULL) {
			conf_fmt(err, errlen, "%s: %s: missing value", loc, k->name);
			return -EINVAL;
		}
		for (; w; w = (k->flags & K_SPLIT) ? strtok_r(NULL, " \t,", &save) : NULL) {
			wtext[0] = '\0';
			if (check_value(k, w, out, sizeof(out), &num, &dbl, why,
			    sizeof(why), wtext, sizeof(wtext)) < 0) {
				conf_fmt(err, errlen, "%s: %s: %s", loc, k->name, why);
				return -EINVAL;
			}
			if (wtext[0] && warn) {
				snprintf(msg, sizeof(msg), "%s: %s: %s", loc, k->name, wtext);
				warn(arg, msg);
			}
			if (out[0] == '\0')
				continue; /* accepted and dropped (Feature tb=N) */
			if (fresh) {
				val_clear_list(v);
				v->defaulted = 0;
				fresh = 0;
			}
			rc = list_add(v, out, loc);
			if (rc < 0) {
				conf_fmt(err, errlen, "%s: %s: out of memory", loc, k->name);
				return rc;
			}
		}
		return 0;
	}
	wtext[0] = '\0';
	if (check_value(k, raw, out, sizeof(out), &num, &dbl, why, sizeof(why),
	    wtext, sizeof(wtext)) < 0) {
		conf_fmt(err, errlen, "%s: %s: %s", loc, k->name, why);
		return -EINVAL;
	}
	if (wtext[0] && warn) {
		snprintf(msg, sizeof(msg), "%s: %s: %s", loc, k->name, wtext);
		warn(arg, msg);
	}
	if (warn && strcmp(loc, "-o") != 0 && strcmp(v->src, "default") != 0 &&
	    strcmp(v->src, "-o") != 0) {
		snprintf(msg, sizeof(msg), "%s: %s: also set at %s; this line wins",
		    loc, k->name, v->src);
		warn(arg, msg);
	}
	rc = set_single(v, out, num, dbl, loc);
	if (rc < 0)
		conf_fmt(err, errlen, "%s: %s: out of memory", loc, k->name);
	return rc;
}

/* Strip surrounding whitespace and one pair of double quotes, in place. */
static char *trim_value(char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
		s[n - 1] = '\0';
		s++;
	}
	return s;
}

/* ---- public API ---- */

static void conf_free(conf *c)
{
	if (c == NULL)
		return;
	if (c->vals) {
		for (size_t i = 0; i < NKEYS; i++) {
			struct val *v = &c->vals[i];

			free(v->text);
			free(v->src);
			val_clear_list(v);
			free(v->items);
			free(v->isrc);
		}
		free(c->vals);
	}
	free(c);
}

int conf_new(conf **out)
{
	conf *c = calloc(1, sizeof(*c));
	char why[WHY_LEN], text[VALUE_MAX_LEN];

	*out = NULL;
	if (c == NULL)
		return -ENOMEM;
	atomic_init(&c->refs, 1);
	c->vals = calloc(NKEYS, sizeof(*c->vals));
	if (c->vals == NULL)
		goto nomem;
	for (size_t i = 0; i < NKEYS; i++) {
		const struct key *k = &keys[i];
		struct val *v = &c->vals[i];
		long num;
		double dbl;

		if (k->type == T_LIST) {
			char buf[256], *save = NULL;

			v->src = strdup("default");
			if (v->src == NULL)
				goto nomem;
			snprintf(buf, sizeof(buf), "%s", k->def);
			for (char *w = strtok_r(buf, ",", &save); w;
			    w = strtok_r(NULL, ",", &save))
				if (list_add(v, w, "default") < 0)
					goto nomem;
			v->defaulted = 1;
			continue;
		}
		/* Defaults go through the same checks as input: the table is tested. */
		if (check_value(k, k->def, text, sizeof(text), &num, &dbl, why,
		    sizeof(why), NULL, 0) < 0) {
			assert(!"bad default in the key table");
			goto nomem;
		}
		if (set_single(v, text, num, dbl, "default") < 0)
			goto nomem;
	}
	*out = c;
	return 0;
nomem:
	conf_free(c);
	return -ENOMEM;
}

/*
 * End the line where a comment starts: at a '#' that begins the line or
 * follows a blank, outside double quotes. DSPAM's own dspam.conf has
 * trailing comments ("Preference \"spamAction=tag\"  # ..."); a '#' inside
 * a word ("[SPAM]#1") or in a quoted value stays. A '"' that no other
 * follows quotes nothing (`RejectText Our 12" filter  # note`: the note
 * went into the reply).
 */
static void cut_comment(char *line)
{
	int quoted = 0;

	for (char *p = line; *p != '\0'; p++) {
		if (*p == '"')
			quoted = !quoted && strchr(p + 1, '"') != NULL;
		else if (*p == '#' && !quoted &&
		    (p == line || p[-1] == ' ' || p[-1] == '\t')) {
			*p = '\0';
			return;
		}
	}
}

int conf_parse(conf *c, const char *name, const char *buf, size_t len,
    char *err, size_t errlen, void (*warn)(void *arg, const char *text),
    void *arg)
{
	char line[LINE_MAX_LEN + 2], loc[LOC_LEN], pname[LOC_LEN - 16];
	size_t pos = 0, lineno = 0;

	assert(c != NULL && name != NULL && (buf != NULL || len == 0));
	conf_printable(name, pname, sizeof(pname));
	/* conf_printable() shortens after 40 characters; keep real paths whole. */
	if (strlen(name) < sizeof(pname) && !conf_has_control(name))
		snprintf(pname, sizeof(pname), "%s", name);
	while (pos < len) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (buf + pos)) : len - pos;
		char *key, *val, *p;
		int rc;

		lineno++;
		snprintf(loc, sizeof(loc), "%s:%zu", pname, lineno);
		/* (a CRLF line's CR is not part of its length) */
		if (n > (size_t)LINE_MAX_LEN + (n > 0 && buf[pos + n - 1] == '\r')) {
			conf_fmt(err, errlen, "%s: line longer than %d bytes", loc, LINE_MAX_LEN);
			return -EINVAL;
		}
		if (memchr(buf + pos, '\0', n) != NULL) {
			conf_fmt(err, errlen, "%s: NUL byte in line", loc);
			return -EINVAL;
		}
		memcpy(line, buf + pos, n);
		line[n] = '\0';
		pos += n + (nl != NULL);
		if (n > 0 && line[n - 1] == '\r')
			line[--n] = '\0';
		cut_comment(line);
		for (key = line; *key == ' ' || *key == '\t'; key++)
			;
		if (*key == '\0' || *key == '#')
			continue;
		for (p = key; *p && *p != ' ' && *p != '\t'; p++)
			;
		val = p;
		if (*p)
			*val++ = '\0';
		/* Missing and explicitly empty ("") values are different things. */
		for (p = val; *p == ' ' || *p == '\t'; p++)
			;
		if (*p == '\0' && key_index(key) >= 0) {
			conf_fmt(err, errlen, "%s: %s: missing value", loc,
			    keys[key_index(key)].name);
			return -EINVAL;
		}
		rc = apply(c, key, trim_value(val), loc, err, errlen, warn, arg);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int conf_load(conf *c, const char *path, char *err, size_t errlen,
    void (*warn)(void *arg, const char *text), void *arg)
{
	FILE *f;
	char *buf;
	size_t len = 0, got;
	int rc;

	assert(c != NULL && path != NULL);
	f = fopen(path, "r");
	if (f == NULL) {
		rc = -errno;
		conf_fmt(err, errlen, "%s: %s", path, strerror(errno));
		return rc;
	}
	buf = malloc(FILE_MAX_LEN + 1);
	if (buf == NULL) {
		fclose(f);
		conf_fmt(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	while ((got = fread(buf + len, 1, FILE_MAX_LEN + 1 - len, f)) > 0)
		len += got;
	if (ferror(f)) {
		rc = errno ? -errno : -EIO;
		conf_fmt(err, errlen, "%s: %s", path, strerror(-rc));
		fclose(f);
		free(buf);
		return rc;
	}
	fclose(f);
	if (len > FILE_MAX_LEN) {
		conf_fmt(err, errlen, "%s: larger than %ld bytes", path, (long)FILE_MAX_LEN);
		free(buf);
		return -EFBIG;
	}
	rc = conf_parse(c, path, buf, len, err, errlen, warn, arg);
	free(buf);
	return rc;
}

int conf_set_warn(conf *c, const char *keyval, char *err, size_t errlen,
    void (*warn)(void *arg, const char *text), void *arg)
{
	char buf[LINE_MAX_LEN + 1], path[2 * VALUE_MAX_LEN], *eq, *key, *val;
	size_t n;
	int idx, rc;

	assert(c != NULL && keyval != NULL);
	if (strlen(keyval) > LINE_MAX_LEN) {
		conf_fmt(err, errlen, "-o: longer than %d bytes", LINE_MAX_LEN);
		return -EINVAL;
	}
	strcpy(buf, keyval);
	eq = strchr(buf, '=');
	if (eq == NULL) {
		char tmp[64];

		conf_fmt(err, errlen, "-o: %s: expected Key=Value", conf_printable(buf, tmp, sizeof(tmp)));
		return -EINVAL;
	}
	*eq = '\0';
	for (key = buf; *key == ' ' || *key == '\t'; key++)
		;
	n = strlen(key);
	while (n > 0 && (key[n - 1] == ' ' || key[n - 1] == '\t'))
		key[--n] = '\0';
	if (n == 0) {
		conf_fmt(err, errlen, "-o: expected Key=Value");
		return -EINVAL;
	}
	val = trim_value(eq + 1);
	/*
	 * A relative path on the command line means the current directory (the
	 * daemon later changes to "/"), not Home as in the file.
	 */
	idx = key_index(key);
	if (idx >= 0 && keys[idx].type == T_PATH && *val != '\0' && *val != '/') {
		char cwd[VALUE_MAX_LEN];

		if (getcwd(cwd, sizeof(cwd)) == NULL) {
			rc = -errno;
			conf_fmt(err, errlen, "-o: %s: cannot resolve a relative path: %s",
			    keys[idx].name, strerror(errno));
			return rc;
		}
		if ((size_t)snprintf(path, sizeof(path), "%s%s%s", cwd,
		    strcmp(cwd, "/") == 0 ? "" : "/", val) >= sizeof(path)) {
			conf_fmt(err, errlen, "-o: %s: value too long", keys[idx].name);
			return -EINVAL;
		}
		val = path;
	}
	return apply(c, key, val, "-o", err, errlen, warn, arg);
}

int conf_set(conf *c, const char *keyval, char *err, size_t errlen)
{
	return conf_set_warn(c, keyval, err, errlen, NULL, NULL);
}

static struct val *val_of(const conf *c, const char *key, const struct key **k)
{
	int idx;

	assert(c != NULL && key != NULL);
	idx = key_index(key);
	assert(idx >= 0 && "unknown configuration key");
	if (idx < 0)
		return NULL;
	if (k)
		*k = &keys[idx];
	return &c->vals[idx];
}

static int list_has(const struct val *v, const char *item)
{
	for (size_t i = 0; i < v->n; i++)
		if (strcasecmp(v->items[i], item) == 0)
			return 1;
	return 0;
}

/* Where a value came from, for error messages: "FILE:LINE: " or "". */
static const char *where(const struct val *v, char *buf, size_t len)
{
	if (strcmp(v->src, "default") == 0)
		buf[0] = '\0';
	else
		snprintf(buf, len, "%s: ", v->src);
	return buf;
}

int conf_finish(conf *c, char *err, size_t errlen)
{
	struct val *tok = val_of(c, "Tokenizer", NULL);
	struct val *feat = val_of(c, "Feature", NULL);
	struct val *store = val_of(c, "StorePath", NULL);
	struct val *home = val_of(c, "Home", NULL);
	char w[LOC_LEN + 4], buf[2 * VALUE_MAX_LEN + 16];
	const char *pref;
	int rc;

	/* Tokenizer (DSPAM 3.10) replaces the tokenizer features chained/osb. */
	if (tok->text[0] != '\0') {
		size_t j = 0;

		for (size_t i = 0; i < feat->n; i++) {
			if (strcmp(feat->items[i], "chained") == 0 ||
			    strcmp(feat->items[i], "osb") == 0) {
				free(feat->items[i]);
				free(feat->isrc[i]);
				continue;
			}
			feat->items[j] = feat->items[i];
			feat->isrc[j] = feat->isrc[i];
			j++;
		}
		feat->n = j;
		feat->defaulted = 0;
		if (strcmp(tok->text, "word") != 0 &&
		    (rc = list_add(feat, tok->text, tok->src)) < 0)
			return rc;
	}

	/* StorePath: empty = $Home/spamsift.db; relative = under Home. */
	if (store->text[0] != '/') {
		const char *rel = store->text[0] ? store->text : "spamsift.db";
		size_t hl = strlen(home->text);
		int sep = hl > 0 && home->text[hl - 1] == '/' ? 0 : 1;

		if ((size_t)snprintf(buf, sizeof(buf), "%s%s%s", home->text,
		    sep ? "/" : "", rel) >= VALUE_MAX_LEN) {
			/* Derived from Home alone: name Home's line. */
			conf_fmt(err, errlen, "%sStorePath: path too long",
			    where(store->text[0] ? store : home, w, sizeof(w)));
			return -EINVAL;
		}
		/* Derived from Home alone: it comes from where Home does. */
		if ((rc = set_single(store, buf, 0, 0, store->text[0] ?
		    store->src : home->src)) < 0)
			return rc;
	}

	if (val_of(c, "IgnoreHeader", NULL)->n > CONF_MAX_IGNORE) {
		struct val *ih = val_of(c, "IgnoreHeader", NULL);

		conf_fmt(err, errlen, "%s: IgnoreHeader: more than %d fields",
		    ih->isrc[CONF_MAX_IGNORE], CONF_MAX_IGNORE);
		return -EINVAL;
	}
	if (val_of(c, "Group", NULL)->text[0] && !val_of(c, "User", NULL)->text[0]) {
		conf_fmt(err, errlen, "%sGroup: needs User", where(val_of(c, "Group", NULL), w, sizeof(w)));
		return -EINVAL;
	}
	if (strcmp(val_of(c, "UserMap", NULL)->text, "alias") == 0 &&
	    !val_of(c, "AliasFile", NULL)->text[0]) {
		conf_fmt(err, errlen, "%sUserMap: alias needs AliasFile",
		    where(val_of(c, "UserMap", NULL), w, sizeof(w)));
		return -EINVAL;
	}
	if (conf_int(c, "GrahamTokens") > conf_int(c, "MaxTokens") ||
	    conf_int(c, "BurtonTokens") > conf_int(c, "MaxTokens")) {
		conf_fmt(err, errlen, "%sMaxTokens: smaller than GrahamTokens or BurtonTokens",
		    where(val_of(c, "MaxTokens", NULL), w, sizeof(w)));
		return -EINVAL;
	}
	/* Only an explicit site rejectThreshold is checked against SpamThreshold. */
	pref = NULL;
	{
		struct val *p = val_of(c, "Preference", NULL);

		for (size_t i = p->n; i-- > 0;)
			if (strncmp(p->items[i], "rejectThreshold=", 16) == 0) {
				pref = p->items[i] + 16;
				snprintf(w, sizeof(w), "%s: ", p->isrc[i]);
				break;
			}
	}
	if (pref != NULL && strtod(pref, NULL) < conf_double(c, "SpamThreshold")) {
		conf_fmt(err, errlen, "%sPreference: rejectThreshold %s is below SpamThreshold %g",
		    w, pref, conf_double(c, "SpamThreshold"));
		return -EINVAL;
	}
	return 0;
}

conf *conf_ref(conf *c)
{
	assert(c != NULL);
	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
	return c;
}

void conf_unref(conf *c)
{
	if (c == NULL)
		return;
	/* acq_rel: the last owner must see every write made before the others let go. */
	if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
		conf_free(c);
}

const char *conf_str(const conf *c, const char *key)
{
	const struct key *k;
	const struct val *v = val_of(c, key, &k);

	if (v == NULL || k->type == T_LIST || v->text[0] == '\0')
		return NULL;
	return v->text;
}

long conf_int(const conf *c, const char *key)
{
	const struct key *k;
	const struct val *v = val_of(c, key, &k);

	assert(v == NULL || k->type == T_INT || k->type == T_OCT);
	return v ? v->i : 0;
}

double conf_double(const conf *c, const char *key)
{
	const struct key *k;
	const struct val *v = val_of(c, key, &k);

	assert(v == NULL || k->type == T_DBL);
	return v ? v->d : 0.0;
}

int conf_bool(const conf *c, const char *key)
{
	const struct key *k;
	const struct val *v = val_of(c, key, &k);

	assert(v == NULL || k->type == T_BOOL);
	return v ? (int)v->i : 0;
}

const char *const *conf_list(const conf *c, const char *key, size_t *n)
{
	const struct key *k;
	const struct val *v = val_of(c, key, &k);

	assert(v == NULL || k->type == T_LIST);
	*n = 0;
	if (v == NULL || k->type != T_LIST || v->n == 0)
		return NULL;
	*n = v->n;
	return (const char *const *)v->items;
}

int conf_has_feature(const conf *c, const char *name)
{
	return list_has(val_of(c, "Feature", NULL), name);
}

int conf_iter(const conf *c,
    int (*fn)(void *arg, const char *key, const char *value, const char *source),
    void *arg)
{
	int rc;

	for (size_t i = 0; i < NKEYS; i++) {
		const struct val *v = &c->vals[i];

		if (keys[i].type != T_LIST) {
			if ((rc = fn(arg, keys[i].name, v->text, v->src)) != 0)
				return rc;
			continue;
		}
		if (v->n == 0 && (rc = fn(arg, keys[i].name, "",
		    v->defaulted ? "default" : v->src)) != 0)
			return rc;
		for (size_t j = 0; j < v->n; j++)
			if ((rc = fn(arg, keys[i].name, v->items[j], v->isrc[j])) != 0)
				return rc;
	}
	return 0;
}

const char *conf_key_name(const char *key)
{
	int idx = key ? key_index(key) : -1;

	return idx < 0 ? NULL : keys[idx].name;
}

/* ---- accounts ---- */

int conf_accounts(const conf *c, char *err, size_t errlen)
{
	static const struct { const char *key; int group; } keys[] = {
		{ "User", 0 }, { "Group", 1 }, { "SocketOwner", 0 },
		{ "SocketGroup", 1 },
	};
	size_t used = 0;

	if (errlen > 0)
		err[0] = '\0';
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *name = conf_str(c, keys[i].key);
		int n;

		if (name == NULL || *name == '\0' ||
		    (keys[i].group ? getgrnam(name) != NULL :
		    getpwnam(name) != NULL))
			continue;
		n = snprintf(err + used, errlen - used, "%s%s: unknown %s %s",
		    used ? "; " : "", keys[i].key,
		    keys[i].group ? "group" : "user", name);
		if (n > 0 && (size_t)n < errlen - used)
			used += (size_t)n;
		else
			used = errlen - 1;
	}
	return used > 0 ? -ENOENT : 0;
}
