/*
 * profile -- per-user effective settings (see profile.h).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf/profile.h"

static int on(const char *v)
{
	return strcasecmp(v, "on") == 0 || strcasecmp(v, "yes") == 0 ||
	    strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0;
}

int profile_apply(profile *p, const char *key, const char *value)
{
	char err[256];

	if (conf_pref_check(key, value, err, sizeof(err)) < 0)
		return -EINVAL;
	if (strcasecmp(key, "spamAction") == 0)
		p->spam_action = strcasecmp(value, "quarantine") == 0 ?
		    PROFILE_QUARANTINE : strcasecmp(value, "reject") == 0 ?
		    PROFILE_REJECT : PROFILE_TAG;
	else if (strcasecmp(key, "spamSubject") == 0)
		snprintf(p->spam_subject, sizeof(p->spam_subject), "%s", value);
	else if (strcasecmp(key, "signatureLocation") == 0)
		p->sig_location = strcasecmp(value, "message") == 0 ?
		    PROFILE_SIG_MESSAGE : PROFILE_SIG_HEADERS;
	else if (strcasecmp(key, "showFactors") == 0)
		p->show_factors = on(value);
	else if (strcasecmp(key, "enableBNR") == 0)
		p->fp.bayes.bnr = on(value);
	else if (strcasecmp(key, "enableWhitelist") == 0)
		p->fp.whitelist = on(value);
	else if (strcasecmp(key, "whitelistThreshold") == 0)
		p->fp.whitelist_threshold = atoi(value);
	else if (strcasecmp(key, "trainingMode") == 0)
		return filter_mode_parse(value, &p->fp.training_mode);
	else if (strcasecmp(key, "statisticalSedation") == 0)
		p->fp.sedation = atoi(value);
	else if (strcasecmp(key, "optIn") == 0)
		p->opt_in = on(value);
	else if (strcasecmp(key, "optOut") == 0)
		p->opt_out = on(value);
	else if (strcasecmp(key, "rejectThreshold") == 0)
		p->reject_threshold = strtod(value, NULL);
	else
		return -EINVAL;
	return 0;
}

static int alg(const char *s)
{
	if (s == NULL)
		return BAYES_ALG_CHI2;
	if (strcasecmp(s, "graham") == 0)
		return BAYES_ALG_GRAHAM;
	if (strcasecmp(s, "burton") == 0)
		return BAYES_ALG_BURTON;
	if (strcasecmp(s, "naive") == 0)
		return BAYES_ALG_NAIVE;
	return BAYES_ALG_CHI2;
}

int profile_filtered(const conf *c, const profile *p)
{
	const char *opt = conf_str(c, "Opt");

	if (p->opt_out)
		return 0;
	return opt != NULL && strcmp(opt, "in") == 0 ? p->opt_in : 1;
}

void profile_site(const conf *c, profile *p)
{
	static const char *const prefs[] = {
		"spamAction", "spamSubject", "signatureLocation", "showFactors",
		"enableBNR", "enableWhitelist", "whitelistThreshold", "trainingMode",
		"statisticalSedation", "optIn", "optOut", "rejectThreshold",
	};
	const char *pv = conf_str(c, "PValue");

	memset(p, 0, sizeof(*p));
	filter_params_default(&p->fp);
	p->fp.bayes.algorithm = alg(conf_str(c, "Algorithm"));
	p->fp.bayes.pvalue = pv && strcasecmp(pv, "graham") == 0 ?
	    BAYES_PVALUE_GRAHAM : BAYES_PVALUE_ROBINSON;
	p->fp.bayes.robinson_s = conf_double(c, "RobinsonS");
	p->fp.bayes.robinson_x = conf_double(c, "RobinsonX");
	p->fp.bayes.min_dev = conf_double(c, "MinDev");
	p->fp.bayes.spam_threshold = conf_double(c, "SpamThreshold");
	p->fp.bayes.graham_tokens = (int)conf_int(c, "GrahamTokens");
	p->fp.bayes.burton_tokens = (int)conf_int(c, "BurtonTokens");
	p->fp.bayes.bnr = conf_has_feature(c, "noise");
	filter_mode_parse(conf_str(c, "TrainingMode"), &p->fp.training_mode);
	p->fp.tcr = conf_bool(c, "TestConditionalTraining");
	p->fp.train_unsure = conf_bool(c, "TrainUnsure");
	p->fp.tum_maturity = conf_int(c, "TumMaturity");
	p->fp.merge_maturity = conf_int(c, "TumMaturity");
	p->fp.global_model = conf_bool(c, "GlobalModel");
	p->fp.whitelist = conf_has_feature(c, "whitelist");
	p->fp.whitelist_threshold = (int)conf_int(c, "WhitelistThreshold");
	p->fp.sig_life = (time_t)conf_int(c, "SignatureLife") * 86400;
	p->fp.read_prefs = 0;
	p->spam_action = PROFILE_TAG;
	snprintf(p->spam_subject, sizeof(p->spam_subject), "[SPAM]");
	p->reject_threshold = 0.999;
	/* Site defaults from Preference lines (validated by conf). */
	for (size_t i = 0; i < sizeof(prefs) / sizeof(prefs[0]); i++) {
		const char *v = conf_pref_default(c, prefs[i]);

		if (v != NULL)
			profile_apply(p, prefs[i], v);
	}
}

typedef struct apply_ctx {
	const conf *c;          /* AllowOverride */
	profile *p;             /* profile being built */
} apply_ctx;

static int apply_one(void *arg, const char *key, const char *value)
{
	apply_ctx *a = arg;
	const char *name = conf_pref_name(key);

	if (name != NULL && conf_pref_overridable(a->c, name))
		profile_apply(a->p, name, value);
	return 0;
}

int profile_prefs(const conf *c, db *d, int64_t uid, profile *p)
{
	apply_ctx a = { c, p };

	if (uid == 0 || d == NULL)
		return 0;
	return db_pref_iter(d, uid, apply_one, &a);
}

int profile_user(const conf *c, db *d, int64_t uid, profile *p)
{
	profile_site(c, p);
	return profile_prefs(c, d, uid, p);
}

void profile_parser(const conf *c, void *magic, profile_parse *pp)
{
	const char *const *list;
	size_t n;

	msg_opts_default(&pp->opts);
	pp->opts.max_scan_bytes = (size_t)conf_int(c, "MaxScanBytes");
	pp->opts.max_header_len = (size_t)conf_int(c, "MaxHeaderLength");
	pp->opts.max_depth = (int)conf_int(c, "MaxMimeDepth");
	pp->opts.max_token_len = (size_t)conf_int(c, "MaxTokenLength");
	pp->opts.chained = conf_has_feature(c, "chained");
	pp->opts.osb = conf_has_feature(c, "osb");
	pp->opts.magic = magic;
	list = conf_list(c, "IgnoreHeader", &n);
	if (n > PROFILE_MAX_IGNORE)     /* conf_finish refused more */
		n = PROFILE_MAX_IGNORE;
	for (size_t i = 0; i < n; i++)
		pp->ignore[i] = list[i];
	pp->ignore[n] = NULL;
	pp->opts.ignore_headers = pp->ignore;
}
