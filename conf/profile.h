/*
 * profile -- one user's effective settings: the site configuration, the
 * user's stored preferences where AllowOverride permits, mapped onto the
 * classifier's parameter structs. The milter and the CLI both use it, so the
 * two never disagree about a user.
 *
 * The one module of conf/ that knows the classifier's and the store's types
 * (it bridges them); conf.c itself stays independent of both.
 */
#ifndef SPAMSIFT_PROFILE_H
#define SPAMSIFT_PROFILE_H

#include <stdint.h>

#include "classifier/filter.h"
#include "classifier/msg.h"
#include "conf/conf.h"
#include "db/db.h"

#define PROFILE_TAG        0
#define PROFILE_QUARANTINE 1
#define PROFILE_REJECT     2

#define PROFILE_SIG_HEADERS 0
#define PROFILE_SIG_MESSAGE 1

typedef struct profile {
	filter_params fp;          /* classifier and training parameters */
	int spam_action;           /* PROFILE_TAG|QUARANTINE|REJECT (spamAction) */
	char spam_subject[128 + 1]; /* Subject prefix for spam (spamSubject, 128 at most) */
	int sig_location;          /* PROFILE_SIG_* (signatureLocation) */
	int show_factors;          /* add X-Spamsift-Factors (showFactors) */
	int opt_in;                /* optIn */
	int opt_out;               /* optOut */
	double reject_threshold;   /* reject when probability >= (rejectThreshold) */
} profile;

/*
 * profile_filtered -- 1 if mail to the user of p is filtered: with the site's
 * "Opt out" (the default) unless optOut=on, with "Opt in" only if optIn=on
 * (and not optOut=on); else 0.
 */
int profile_filtered(const conf *c, const profile *p);

/*
 * profile_site -- the site defaults of c into *p (no user preferences).
 */
void profile_site(const conf *c, profile *p);

/*
 * profile_user -- the site defaults overridden by uid's stored preferences
 * (only keys in AllowOverride; invalid stored values are ignored). uid 0
 * means no stored preferences. Returns 0 or a db error.
 */
int profile_user(const conf *c, db *d, int64_t uid, profile *p);

/*
 * profile_prefs -- as profile_user, on a *p that already holds the site
 * defaults (a copy of profile_site's result, which a daemon computes once
 * per configuration instead of once per recipient).
 */
int profile_prefs(const conf *c, db *d, int64_t uid, profile *p);

/*
 * profile_apply -- apply one preference (canonical key, value) to *p.
 * Returns 0, or -EINVAL for an unknown key or bad value (p unchanged).
 */
int profile_apply(profile *p, const char *key, const char *value);

/* Parser options from the configuration, with the IgnoreHeader list. */
#define PROFILE_MAX_IGNORE CONF_MAX_IGNORE
typedef struct profile_parse {
	msg_opts opts;                                /* options for msg_new */
	const char *ignore[PROFILE_MAX_IGNORE + 1];   /* NULL-terminated IgnoreHeader */
} profile_parse;

/*
 * profile_parser -- fill pp from c (MaxScanBytes, MaxHeaderLength,
 * MaxMimeDepth, MaxTokenLength, Feature chained/osb, IgnoreHeader) and the
 * borrowed libmagic handle. pp->opts points into pp and c: both must outlive
 * the parser made from it.
 */
void profile_parser(const conf *c, void *magic, profile_parse *pp);

#endif
