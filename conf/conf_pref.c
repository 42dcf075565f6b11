/*
 * conf_pref -- the per-user preferences (DSPAM's names): which exist, which
 * values they take, their site defaults (Preference lines, site keys) and
 * whether users may override them (AllowOverride).
 *
 * Must not depend on: libmilter, SQLite, syslog, db/, classifier/.
 */
#include "config.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf/conf.h"
#include "conf/conf_impl.h"

const char *const conf_training_modes[] = { "teft", "toe", "tum", "notrain",
	NULL };

/* ---- preferences ---- */

enum ptype { P_ENUM, P_BOOL, P_INT, P_DBL, P_TEXT };

struct pref {
	const char *name;          /* canonical spelling */
	enum ptype type;           /* value type */
	const char *def;           /* built-in default (see conf_pref_default) */
	const char *const *enums;  /* P_ENUM values */
	double lo, hi;             /* P_INT / P_DBL range */
};

static const char *const e_action[] = { "tag", "quarantine", "reject", NULL };

static const char *const e_sigloc[] = { "headers", "message", NULL };

static const struct pref prefs[] = {
	{ "spamAction", P_ENUM, "tag", e_action, 0, 0 },
	{ "spamSubject", P_TEXT, "[SPAM]", NULL, 0, 128 },
	{ "signatureLocation", P_ENUM, "headers", e_sigloc, 0, 0 },
	{ "showFactors", P_BOOL, "off", NULL, 0, 0 },
	{ "enableBNR", P_BOOL, "off", NULL, 0, 0 },
	{ "enableWhitelist", P_BOOL, "on", NULL, 0, 0 },
	{ "whitelistThreshold", P_INT, "10", NULL, 1, 1000000 },
	{ "trainingMode", P_ENUM, "teft", conf_training_modes, 0, 0 },
	{ "statisticalSedation", P_INT, "0", NULL, 0, 10 },
	{ "optIn", P_BOOL, "off", NULL, 0, 0 },
	{ "optOut", P_BOOL, "off", NULL, 0, 0 },
	{ "rejectThreshold", P_DBL, "0.999", NULL, 0, 1 },
};

#define NPREFS (sizeof(prefs) / sizeof(prefs[0]))

/*
 * DSPAM preferences spamsift has no use for: a dspam.conf's Preference and
 * AllowOverride lines naming them load with a warning (they stopped it).
 */
static const char *const dspam_prefs[] = {
	"tagSpam", "tagNonspam", "makeCorpus", "storeFragments", "localStore",
	"processorBias", "fallbackDomain", "trainPristine", "optOutClamAV",
	"ignoreRBLLookups", "RBLInoculate", "notifications",
	"dailyQuarantineSummary", "ignoreGroups", NULL
};

static int dspam_pref(const char *name)
{
	for (size_t i = 0; dspam_prefs[i]; i++)
		if (strcasecmp(dspam_prefs[i], name) == 0)
			return 1;
	return 0;
}

static const struct pref *pref_find(const char *key)
{
	for (size_t i = 0; i < NPREFS; i++)
		if (strcasecmp(prefs[i].name, key) == 0)
			return &prefs[i];
	return NULL;
}

/* Check and canonicalise a preference value: returns the canonical text. */
static const char *pref_value(const struct pref *p, const char *value,
    char *why, size_t whylen)
{
	char buf[CONF_WHY_LEN];
	double d;
	long l;
	int i;

	switch (p->type) {
	case P_ENUM:
		i = conf_match(p->enums, value);
		if (i >= 0)
			return p->enums[i];
		conf_enum_list(p->enums, buf, sizeof(buf));
		conf_fmt(why, whylen, "must be %s", buf);
		return NULL;
	case P_BOOL:
		if (conf_match(conf_bool_true, value) >= 0)
			return "on";
		if (conf_match(conf_bool_false, value) >= 0)
			return "off";
		conf_fmt(why, whylen, "must be on or off");
		return NULL;
	case P_INT:
		if (conf_parse_long(value, 10, &l) < 0 || l < (long)p->lo || l > (long)p->hi) {
			conf_fmt(why, whylen, "must be an integer from %ld to %ld",
			    (long)p->lo, (long)p->hi);
			return NULL;
		}
		return value;
	case P_DBL:
		if (conf_parse_double(value, &d) < 0 || d < p->lo || d > p->hi) {
			conf_fmt(why, whylen, "must be a number from %g to %g", p->lo, p->hi);
			return NULL;
		}
		return value;
	case P_TEXT:
		if (strlen(value) > (size_t)p->hi || conf_has_control(value)) {
			conf_fmt(why, whylen, "must be at most %ld printable characters",
			    (long)p->hi);
			return NULL;
		}
		/* Sent as UTF-8 (RFC 2047) when it is not ASCII. */
		for (const unsigned char *u = (const unsigned char *)value; *u;) {
			size_t k = conf_utf8_len(u);

			if (k == 0) {
				conf_fmt(why, whylen, "must be UTF-8");
				return NULL;
			}
			u += k;
		}
		return value;
	}
	return NULL;
}

int conf_pref_check(const char *key, const char *value, char *err,
    size_t errlen)
{
	const struct pref *p = pref_find(key);
	char why[CONF_WHY_LEN], name[64];

	assert(key != NULL && value != NULL);
	if (p == NULL) {
		conf_fmt(err, errlen, "%s: unknown preference",
		    conf_printable(key, name, sizeof(name)));
		return -EINVAL;
	}
	if (pref_value(p, value, why, sizeof(why)) == NULL) {
		conf_fmt(err, errlen, "%s: %s", p->name, why);
		return -EINVAL;
	}
	return 0;
}

const char *conf_pref_name(const char *key)
{
	const struct pref *p = key ? pref_find(key) : NULL;

	return p ? p->name : NULL;
}

const char *conf_pref_canon(const char *key, const char *value)
{
	const struct pref *p = key && value ? pref_find(key) : NULL;

	return p ? pref_value(p, value, NULL, 0) : NULL;
}

const char *conf_pref_default(const conf *c, const char *key)
{
	const struct pref *p = key ? pref_find(key) : NULL;
	const char *const *l;
	size_t n, nl;

	if (p == NULL)
		return NULL;
	/* Preference lines are stored canonically as "name=value"; the last wins. */
	l = conf_list(c, "Preference", &n);
	nl = strlen(p->name);
	for (size_t i = n; i-- > 0;)
		if (strncmp(l[i], p->name, nl) == 0 && l[i][nl] == '=')
			return l[i] + nl + 1;
	/* Built-in defaults that follow a site key. */
	if (strcmp(p->name, "trainingMode") == 0)
		return conf_str(c, "TrainingMode");
	if (strcmp(p->name, "whitelistThreshold") == 0)
		return conf_str(c, "WhitelistThreshold");
	if (strcmp(p->name, "enableWhitelist") == 0)
		return conf_has_feature(c, "whitelist") ? "on" : "off";
	if (strcmp(p->name, "enableBNR") == 0)
		return conf_has_feature(c, "noise") ? "on" : "off";
	return p->def;
}

int conf_pref_overridable(const conf *c, const char *key)
{
	const struct pref *p = key ? pref_find(key) : NULL;
	const char *const *l;
	size_t n;

	if (p == NULL)
		return 0;
	/* AllowOverride values are stored in canonical spelling. */
	l = conf_list(c, "AllowOverride", &n);
	for (size_t i = 0; i < n; i++)
		if (strcmp(l[i], p->name) == 0)
			return 1;
	return 0;
}

int conf_norm_pref(const char *in, char *out, size_t outlen,
    char *why, size_t whylen, char *warn, size_t warnlen)
{
	const char *eq = strchr(in, '='), *v;
	char name[64], tmp[64];
	const struct pref *p;
	size_t n;

	if (eq == NULL) {
		conf_fmt(why, whylen, "expected \"name=value\"");
		return -1;
	}
	n = (size_t)(eq - in);
	while (n > 0 && isspace((unsigned char)in[n - 1]))
		n--;
	if (n == 0 || n >= sizeof(name)) {
		conf_fmt(why, whylen, "expected \"name=value\"");
		return -1;
	}
	memcpy(name, in, n);
	name[n] = '\0';
	p = pref_find(name);
	if (p == NULL && dspam_pref(name)) {
		conf_fmt(warn, warnlen, "%s: DSPAM preference not used by "
		    "spamsift; ignored", conf_printable(name, tmp, sizeof(tmp)));
		out[0] = '\0';
		return 0;
	}
	if (p == NULL) {
		conf_fmt(why, whylen, "%s: unknown preference", conf_printable(name, tmp, sizeof(tmp)));
		return -1;
	}
	for (eq++; isspace((unsigned char)*eq); eq++)
		;
	/* DSPAM's "deliver": spam delivered with its headers, the Subject
	 * left alone; spamsift's tag adds the headers, the Subject prefix
	 * only with a spamSubject. */
	if (strcmp(p->name, "spamAction") == 0 && strcasecmp(eq, "deliver") == 0) {
		conf_fmt(warn, warnlen, "spamAction=deliver (DSPAM) is read as "
		    "tag; with Preference \"spamSubject=\" the Subject is left "
		    "alone, as DSPAM's deliver left it");
		eq = "tag";
	}
	v = pref_value(p, eq, NULL, 0);
	if (v == NULL) {
		char w[CONF_WHY_LEN];

		pref_value(p, eq, w, sizeof(w));
		conf_fmt(why, whylen, "%s %s", p->name, w);
		return -1;
	}
	if ((size_t)snprintf(out, outlen, "%s=%s", p->name, v) >= outlen) {
		conf_fmt(why, whylen, "too long");
		return -1;
	}
	return 0;
}

int conf_norm_prefname(const char *in, char *out, size_t outlen,
    char *why, size_t whylen, char *warn, size_t warnlen)
{
	const struct pref *p = pref_find(in);
	char tmp[64];

	if (p == NULL && dspam_pref(in)) {
		conf_fmt(warn, warnlen, "%s: DSPAM preference not used by "
		    "spamsift; ignored", conf_printable(in, tmp, sizeof(tmp)));
		out[0] = '\0';
		return 0;
	}
	if (p == NULL) {
		conf_fmt(why, whylen, "%s: unknown preference", conf_printable(in, tmp, sizeof(tmp)));
		return -1;
	}
	return conf_copy(p->name, out, outlen);
}

