/*
 * filter -- per-user classification and training through db/db.h: merged
 * model, training modes, signatures, lists and counters (see filter.h).
 * Must not depend on SQLite, libmilter, syslog or conf/.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "classifier/filter.h"

/* Longest sender address we compare; longer ones are not listed. */
#define SENDER_MAX DB_SENDER_MAX

void filter_params_default(filter_params *p)
{
	memset(p, 0, sizeof(*p));
	bayes_params_default(&p->bayes);
	p->training_mode = FILTER_MODE_TEFT;
	p->tcr = 1;
	p->tcr_rounds = 5;
	p->unsure_low = 0.01;
	p->unsure_high = 0.999;
	p->train_unsure = 1;
	p->tum_maturity = 2500;
	p->global_model = 1;
	p->merge_maturity = 2500;
	p->whitelist = 1;
	p->whitelist_threshold = 10;
	p->sedation = 0;
	p->sig_life = 14 * 86400;
	p->read_prefs = 1;
	p->dry_run = 0;
}

int filter_mode_parse(const char *s, int *mode)
{
	static const char *names[] = { "teft", "toe", "tum", "notrain" };

	for (int i = 0; i < 4; i++)
		if (s != NULL && strcasecmp(s, names[i]) == 0) {
			*mode = i;
			return 0;
		}
	return -EINVAL;
}

/* "on"/"off"/"1"/"0"/"yes"/"no" to 1/0; -1 when neither. */
static int parse_bool(const char *s)
{
	if (!strcasecmp(s, "on") || !strcasecmp(s, "yes") ||
	    !strcasecmp(s, "true") || !strcmp(s, "1"))
		return 1;
	if (!strcasecmp(s, "off") || !strcasecmp(s, "no") ||
	    !strcasecmp(s, "false") || !strcmp(s, "0"))
		return 0;
	return -1;
}

/* Overlay uid's preferences on *ep; unparsable values are ignored. */
static int read_prefs(db *d, int64_t uid, filter_params *ep)
{
	char buf[64], *end;
	int found, rc, v;
	long l;

	if (!ep->read_prefs || uid == 0)
		return 0;
	if ((rc = db_pref_get(d, uid, "trainingMode", buf, sizeof(buf),
	    &found)) < 0)
		return rc;
	if (found && filter_mode_parse(buf, &v) == 0)
		ep->training_mode = v;
	if ((rc = db_pref_get(d, uid, "enableBNR", buf, sizeof(buf),
	    &found)) < 0)
		return rc;
	if (found && (v = parse_bool(buf)) >= 0)
		ep->bayes.bnr = v;
	if ((rc = db_pref_get(d, uid, "enableWhitelist", buf, sizeof(buf),
	    &found)) < 0)
		return rc;
	if (found && (v = parse_bool(buf)) >= 0)
		ep->whitelist = v;
	if ((rc = db_pref_get(d, uid, "whitelistThreshold", buf, sizeof(buf),
	    &found)) < 0)
		return rc;
	if (found) {
		l = strtol(buf, &end, 10);
		if (end != buf && *end == '\0' && l > 0 && l <= 1000000)
			ep->whitelist_threshold = (int)l;
	}
	if ((rc = db_pref_get(d, uid, "statisticalSedation", buf, sizeof(buf),
	    &found)) < 0)
		return rc;
	if (found) {
		l = strtol(buf, &end, 10);
		if (end != buf && *end == '\0' && l >= 0 && l <= 10)
			ep->sedation = (int)l;
	}
	return 0;
}

/*
 * Lowercase sender without the angle brackets around it into buf: 1; 0
 * when there is none. A '>' inside it is its own: a quoted local part
 * that the milter gets unquoted ("x>"@evil.example is x>@evil.example)
 * was cut there, and "x" met no list of evil.example (the mail passed
 * a blocklist of the domain, through Postfix). A sender too long for buf
 * (a local part of hundreds of bytes, which Postfix accepts) is 2, buf
 * "@domain": its domain still meets the lists' domain entries (no entry
 * is "@domain"), but it has no history, and no signature keeps it. It was
 * no sender at all: a blocklisted domain escaped with a long local part.
 */
static int norm_sender(const char *s, char *buf, size_t len)
{
	const char *end, *at = NULL;
	size_t n = 0;
	int cut = 0;

	if (s == NULL)
		return 0;
	while (*s == ' ')
		s++;
	end = s + strlen(s);
	while (end > s && end[-1] == ' ')
		end--;
	/*
	 * Brackets only around it all: a '<' first is the local part's when
	 * no '>' ends the sender ("<ceo@good.example>"@evil.example, which
	 * the milter gets unquoted, is not ceo@good.example).
	 */
	if (end - s >= 2 && *s == '<' && end[-1] == '>') {
		s++;
		end--;
	}
	for (const char *p = s; p < end; p++)
		if (*p == '@')
			at = p;
	while (end > s && end[-1] == ' ')
		end--;
	if ((size_t)(end - s) >= len) {
		if (at == NULL || (size_t)(end - at) >= len || end - at < 2)
			return 0;
		s = at;
		cut = 1;
	}
	for (; s < end; s++)
		buf[n++] = (char)tolower((unsigned char)*s);
	buf[n] = '\0';
	return n == 0 ? 0 : cut ? 2 : 1;
}

/* The model a user is scored with: ids and the global model's weight. */
struct model {
	int64_t uid;            /* the user, 0 when unknown (dry run) */
	int64_t guid;           /* the global user, 0 when not merged */
	db_totals ut;           /* the user's totals */
	db_totals gt;           /* the global totals */
	double alpha;           /* weight of the global counts */
};

static int model_load(db *d, int64_t uid, const filter_params *ep,
    struct model *m)
{
	int rc;
	double nu, ng, mm;

	memset(m, 0, sizeof(*m));
	m->uid = uid;
	if (uid != 0 && (rc = db_totals_get(d, uid, &m->ut)) < 0)
		return rc;
	if (ep->global_model) {
		if ((rc = db_user(d, DB_GLOBAL_USER, 0, &m->guid)) < 0)
			return rc;
		if (m->guid == uid)
			m->guid = 0;
	}
	if (m->guid != 0 && (rc = db_totals_get(d, m->guid, &m->gt)) < 0)
		return rc;
	nu = (double)(m->ut.spam_learned + m->ut.innocent_learned);
	ng = (double)(m->gt.spam_learned + m->gt.innocent_learned);
	mm = (double)(ep->merge_maturity > 0 ? ep->merge_maturity : 1);
	m->alpha = m->guid != 0 ? mm * mm / (mm * mm + nu * ng) : 0.0;
	return 0;
}

/* Merged counts of hashes[0..n) into bt (text from texts when not NULL). */
static int model_counts(db *d, const struct model *m, const uint64_t *hashes,
    size_t n, const tokset *texts, bayes_token *bt)
{
	db_token *dt;
	int rc = 0;

	if (n == 0)
		return 0;
	if ((dt = malloc(n * sizeof(*dt))) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		bt[i].hash = hashes[i];
		bt[i].text = texts != NULL ? tokset_text(texts, i) : NULL;
		bt[i].spam_hits = bt[i].innocent_hits = 0;
		bt[i].stream = BAYES_STREAM_ANY;
		dt[i].hash = hashes[i];
	}
	if (m->uid != 0) {
		if ((rc = db_tokens_get(d, m->uid, dt, n)) < 0)
			goto out;
		for (size_t i = 0; i < n; i++) {
			bt[i].spam_hits = (double)dt[i].spam_hits;
			bt[i].innocent_hits = (double)dt[i].innocent_hits;
		}
	}
	if (m->guid != 0 && m->alpha > 0) {
		for (size_t i = 0; i < n; i++)
			dt[i].hash = hashes[i];
		if ((rc = db_tokens_get(d, m->guid, dt, n)) < 0)
			goto out;
		for (size_t i = 0; i < n; i++) {
			bt[i].spam_hits += m->alpha * (double)dt[i].spam_hits;
			bt[i].innocent_hits += m->alpha *
			    (double)dt[i].innocent_hits;
		}
	}
out:
	free(dt);
	return rc;
}

static int u64cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* A scored message and what would be learned for it. */
struct scored {
	bayes_result res;       /* the verdict */
	uint64_t *learn;        /* token hashes then distinct BNR patterns */
	size_t nlearn;          /* entries in learn */
	size_t cap;             /* entries allocated in learn */
};

/*
 * Score hashes[0..n) (message order; texts from toks when not NULL) against
 * model m with ep; the first head of them came from the message's header
 * (TOKSET_NO_HEAD: not known, one stream). With BNR also look up the
 * patterns. s->learn receives the hashes to learn for this message (caller
 * frees).
 */
static int score(db *d, const struct model *m, const filter_params *ep,
    const uint64_t *hashes, size_t n, size_t head, const tokset *toks,
    struct scored *s)
{
	bayes_params bp = ep->bayes;
	bayes_totals t;
	bayes_token *bt = NULL, *pt = NULL;
	double *probs = NULL;
	size_t np = 0;
	int rc;

	memset(s, 0, sizeof(*s));
	t.spam = (double)m->ut.spam_learned + m->alpha *
	    (double)m->gt.spam_learned;
	t.innocent = (double)m->ut.innocent_learned + m->alpha *
	    (double)m->gt.innocent_learned;
	/* Statistical sedation: raise the threshold towards 1 by sedation/10
	 * of the way, in proportion to how far the user is from maturity. */
	if (ep->sedation > 0 && ep->tum_maturity > 0) {
		double young = 1.0 - (double)m->ut.innocent_learned /
		    (double)ep->tum_maturity;

		if (young > 0)
			bp.spam_threshold += (1.0 - bp.spam_threshold) *
			    ep->sedation / 10.0 * young;
	}
	/* Room for the patterns only when there will be some: without BNR
	 * the array is exactly what a pending write keeps (classify_ro). */
	s->cap = n + (bp.bnr && n >= BAYES_BNR_WINDOW ?
	    n - BAYES_BNR_WINDOW + 1 : 0);
	if (s->cap == 0)
		s->cap = 1;     /* (no malloc(0)) */
	s->learn = malloc(s->cap * sizeof(*s->learn));
	bt = malloc((n + 1) * sizeof(*bt));
	if (s->learn == NULL || bt == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	memcpy(s->learn, hashes, n * sizeof(*hashes));
	s->nlearn = n;
	if ((rc = model_counts(d, m, hashes, n, toks, bt)) < 0)
		goto fail;
	if (head != TOKSET_NO_HEAD)
		for (size_t i = 0; i < n; i++)
			bt[i].stream = i < head ? BAYES_STREAM_HEADER :
			    BAYES_STREAM_BODY;
	if (bp.bnr && n >= BAYES_BNR_WINDOW) {
		probs = malloc(n * sizeof(*probs));
		pt = malloc(n * sizeof(*pt));
		if (probs == NULL || pt == NULL) {
			rc = -ENOMEM;
			goto fail;
		}
		for (size_t i = 0; i < n; i++)
			probs[i] = bayes_token_prob(&bp, bt[i].spam_hits,
			    bt[i].innocent_hits, &t);
		np = bayes_bnr_patterns(probs, n, s->learn + n);
		if ((rc = model_counts(d, m, s->learn + n, np, NULL, pt)) < 0)
			goto fail;
		/* Learn each distinct pattern once. */
		{
			uint64_t *u = s->learn + n;
			size_t k = 0;

			qsort(u, np, sizeof(*u), u64cmp);
			for (size_t i = 0; i < np; i++)
				if (k == 0 || u[k - 1] != u[i])
					u[k++] = u[i];
			s->nlearn = n + k;
			/* pt was filled in window order before sorting. */
		}
	}
	rc = bayes_classify(&bp, bt, n, &t, pt, np, &s->res);
fail:
	free(bt);
	free(pt);
	free(probs);
	if (rc < 0) {
		free(s->learn);
		s->learn = NULL;
		s->nlearn = 0;
		s->cap = 0;
	}
	return rc;
}

/* Learn (times > 0) or unlearn (times < 0) hashes as cls, with totals. */
static int learn(db *d, int64_t uid, const uint64_t *hashes, size_t n,
    int spam, int times, int source, time_t now)
{
	db_totals dt;
	int rc;

	if (times == 0)
		return 0;
	if (n > 0 && (rc = db_tokens_update(d, uid, hashes, n,
	    spam ? times : 0, spam ? 0 : times, (int)(now / 86400))) < 0)
		return rc;
	memset(&dt, 0, sizeof(dt));
	if (spam)
		dt.spam_learned = times;
	else
		dt.innocent_learned = times;
	if (source == FILTER_SRC_CORPUS) {
		if (spam)
			dt.spam_corpusfed = times;
		else
			dt.innocent_corpusfed = times;
	} else if (source == FILTER_SRC_INOCULATION && spam) {
		dt.spam_inoculated = times;
	}
	return db_totals_add(d, uid, &dt);
}

/*
 * Does the mode learn on classification for model m? TEFT always; TUM
 * before maturity; TOE (and TUM) also while the model has learned fewer than
 * bayes.young messages of a class (or none), since until then verdicts have
 * little basis (bayes pulls every token towards 0.5) and only errors would
 * never teach it the class it calls everything.
 */
static int learns_on_classify(const filter_params *ep, const struct model *m)
{
	double ns = (double)m->ut.spam_learned + m->alpha *
	    (double)m->gt.spam_learned;
	double ni = (double)m->ut.innocent_learned + m->alpha *
	    (double)m->gt.innocent_learned;

	if (ep->training_mode == FILTER_MODE_TEFT)
		return 1;
	if (ep->training_mode == FILTER_MODE_NOTRAIN)
		return 0;
	if (!(ns > 0) || !(ni > 0) || ns < ep->bayes.young ||
	    ni < ep->bayes.young)
		return 1;
	if (ep->training_mode == FILTER_MODE_TUM)
		return m->ut.innocent_learned < ep->tum_maturity;
	return 0;
}

/*
 * Thick-threshold training: TOE and TUM also learn a verdict in the unsure
 * band, right or wrong (a wrong one is then corrected as any error).
 */
static int unsure(const filter_params *ep, double prob)
{
	if ((ep->training_mode != FILTER_MODE_TOE &&
	    ep->training_mode != FILTER_MODE_TUM) || !ep->train_unsure)
		return 0;
	return prob >= ep->unsure_low && prob < ep->unsure_high;
}

/*
 * Test-conditional training: re-score the message after learning hashes
 * as the right class and learn them again while the verdict is still
 * wrong. Its tokens are the first ntok hashes (the rest are BNR patterns,
 * learned, not scored), head of them the header's (TOKSET_NO_HEAD: not
 * known, as for an older signature's: one stream). Returns the extra
 * rounds learned (>= 0) or an error.
 */
static int tcr_rounds(db *d, int64_t uid, const filter_params *ep,
    const uint64_t *hashes, size_t ntok, size_t n, size_t head, int spam,
    time_t now)
{
	filter_params np = *ep;
	struct model m;
	struct scored s;
	int rounds = 0, rc;

	if (!ep->tcr || n == 0)
		return 0;
	np.bayes.bnr = 0;       /* the hashes carry no usable order here */
	np.sedation = 0;
	while (rounds < ep->tcr_rounds) {
		if ((rc = model_load(d, uid, &np, &m)) < 0)
			return rc;
		if ((rc = score(d, &m, &np, hashes, ntok, head, NULL, &s)) < 0)
			return rc;
		free(s.learn);
		if ((s.res.cls == BAYES_SPAM) == (spam != 0))
			break;
		if ((rc = learn(d, uid, hashes, n, spam, 1, FILTER_SRC_ERROR,
		    now)) < 0)
			return rc;
		rounds++;
	}
	return rounds;
}

/* 32 lowercase hex digits from the kernel's random source. */
static int new_sig_id(char id[33])
{
	unsigned char r[16];
	size_t got = 0;

	while (got < sizeof(r)) {
		ssize_t k = getrandom(r + got, sizeof(r) - got, 0);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -EIO;
		}
		got += (size_t)k;
	}
	for (int i = 0; i < 16; i++)
		snprintf(id + 2 * i, 3, "%02x", r[i]);
	return 0;
}

/* Hashes of a token set in order (caller frees); NULL with n 0 is fine. */
static int tok_hashes(const tokset *toks, uint64_t **out, size_t *n)
{
	size_t c = tokset_count(toks);

	*out = malloc((c + 1) * sizeof(**out));
	if (*out == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < c; i++)
		(*out)[i] = tokset_hash(toks, i);
	*n = c;
	return 0;
}

static int finish(db *d, int rc)
{
	if (rc < 0) {
		db_rollback(d);
		return rc;
	}
	return db_commit(d);
}

/* What a classification must write: built read-only, written by commit(). */
struct filter_pending {
	char *user;             /* user name (a copy) */
	char snd[SENDER_MAX];   /* normalised envelope sender */
	int has_sender;         /* snd is set */
	int listed;             /* BAYES_BLOCKLISTED/_WHITELISTED, or -1 */
	int spam;               /* classified spam (or blocklisted) */
	int learn;              /* learn the tokens as classified */
	int whitelist;          /* automatic whitelisting on */
	int whitelist_threshold; /* innocent messages to whitelist a sender */
	char sig_id[33];        /* the signature id given to the message */
	uint64_t *hashes;       /* what to learn: tokens then BNR patterns */
	size_t nhashes;         /* entries in hashes */
	size_t ntok;            /* the tokens among them, head of those from */
	size_t head;            /*   the header (TOKSET_NO_HEAD: not known) */
	size_t caphashes;       /* entries allocated in hashes */
	time_t now;             /* when it was classified */
};

size_t filter_pending_bytes(const filter_pending *pd)
{
	if (pd == NULL)
		return 0;
	return sizeof(*pd) + strlen(pd->user) + 1 +
	    pd->caphashes * sizeof(*pd->hashes);
}

void filter_pending_free(filter_pending *pd)
{
	if (pd == NULL)
		return;
	free(pd->user);
	free(pd->hashes);
	free(pd);
}

/*
 * The read-only half of a classification: lists, then the merged model.
 * Fills out (sig_id included when want_sig) and, when pd is not NULL, what
 * must be written (caller frees with filter_pending_free).
 */
static int classify_ro(db *d, const char *user, const tokset *toks,
    const char *sender, const filter_params *p, time_t now,
    filter_result *out, int want_sig, filter_pending **pdout)
{
	filter_params ep = *p;
	struct model m;
	struct scored s = { 0 };
	uint64_t *hashes = NULL;
	size_t n = 0;
	char snd[SENDER_MAX];
	int has_sender, listed = -1, rc, matched;
	int64_t uid = 0;
	filter_pending *pd = NULL;

	has_sender = norm_sender(sender, snd, sizeof(snd));
	if ((rc = tok_hashes(toks, &hashes, &n)) < 0)
		return rc;
	if ((rc = db_user(d, user, 0, &uid)) < 0)
		goto done;
	if ((rc = read_prefs(d, uid, &ep)) < 0)
		goto done;
	out->training_mode = ep.training_mode;
	if (has_sender && uid != 0) {
		if ((rc = db_list_match(d, uid, DB_LIST_BLOCK, snd,
		    &matched)) < 0)
			goto done;
		if (matched)
			listed = BAYES_BLOCKLISTED;
		else {
			if ((rc = db_list_match(d, uid, DB_LIST_WHITE, snd,
			    &matched)) < 0)
				goto done;
			if (matched)
				listed = BAYES_WHITELISTED;
		}
	}
	if ((rc = model_load(d, uid, &ep, &m)) < 0)
		goto done;
	if (listed >= 0) {
		out->verdict.cls = listed;
		out->verdict.probability = listed == BAYES_BLOCKLISTED ? 1 : 0;
		out->verdict.confidence = 1.0;
		s.learn = hashes;
		s.nlearn = n;
		s.cap = n + 1;  /* (tok_hashes) */
		hashes = NULL;
	} else {
		if ((rc = score(d, &m, &ep, hashes, n, tokset_head(toks),
		    toks, &s)) < 0)
			goto done;
		out->verdict = s.res;
	}
	if (want_sig && (rc = new_sig_id(out->sig_id)) < 0)
		goto done;
	if (pdout == NULL)
		goto done;
	pd = calloc(1, sizeof(*pd));
	if (pd == NULL || (pd->user = strdup(user)) == NULL) {
		rc = -ENOMEM;
		goto done;
	}
	memcpy(pd->snd, snd, sizeof(snd));
	pd->has_sender = has_sender == 1;      /* (2: no history, no signature) */
	pd->listed = listed;
	pd->spam = out->verdict.cls == BAYES_SPAM ||
	    out->verdict.cls == BAYES_BLOCKLISTED;
	pd->learn = listed < 0 && (learns_on_classify(&ep, &m) ||
	    unsure(&ep, out->verdict.probability));
	pd->whitelist = ep.whitelist;
	pd->whitelist_threshold = ep.whitelist_threshold;
	memcpy(pd->sig_id, out->sig_id, sizeof(pd->sig_id));
	/*
	 * A pending write waits in a queue (for a store locked a while,
	 * thousands of them) that counts what it allocated. Without BNR the
	 * array fits already and is kept as it is: no realloc a message. With
	 * BNR score() made room for a pattern per window, and the distinct
	 * ones are usually far fewer: shrink only when over a quarter is spare.
	 */
	if (s.nlearn > 0 && (s.cap - s.nlearn) * 4 > s.cap) {
		uint64_t *fit = realloc(s.learn, s.nlearn * sizeof(*s.learn));

		if (fit != NULL) {
			s.learn = fit;
			s.cap = s.nlearn;
		}
	}
	pd->hashes = s.learn;
	pd->nhashes = s.nlearn;
	pd->caphashes = s.cap;
	pd->ntok = n;
	pd->head = tokset_head(toks);
	s.learn = NULL;
	pd->now = now;
	out->learned = pd->learn;
	*pdout = pd;
	pd = NULL;
done:
	filter_pending_free(pd);
	free(hashes);
	free(s.learn);
	return rc;
}

/*
 * The writing half: learn as classified (per the training mode decided at
 * classification), count, store the signature, move the sender's history
 * (automatic whitelisting). One transaction, nested in the caller's if any.
 */
static int commit(db *d, const filter_pending *pd)
{
	db_totals cnt;
	db_sig sig;
	int64_t uid;
	int rc;

	if ((rc = db_begin(d)) < 0)
		return rc;
	if ((rc = db_user(d, pd->user, 1, &uid)) < 0)
		goto end;
	if (pd->learn && (rc = learn(d, uid, pd->hashes, pd->nhashes,
	    pd->spam, 1, -1, pd->now)) < 0)
		goto end;
	memset(&cnt, 0, sizeof(cnt));
	if (pd->spam)
		cnt.spam_classified = 1;
	else
		cnt.innocent_classified = 1;
	if ((rc = db_totals_add(d, uid, &cnt)) < 0)
		goto end;
	memset(&sig, 0, sizeof(sig));
	memcpy(sig.id, pd->sig_id, sizeof(sig.id));
	sig.uid = uid;
	sig.cls = pd->spam ? DB_CLASS_SPAM : DB_CLASS_INNOCENT;
	sig.learned = pd->learn;
	sig.created = pd->now;
	if (pd->has_sender)
		memcpy(sig.sender, pd->snd, sizeof(sig.sender));
	sig.hashes = pd->hashes;
	sig.nhashes = pd->nhashes;
	/* (0 tokens: nothing to score; "not known" reads the same) */
	if (pd->ntok <= pd->nhashes && pd->head != TOKSET_NO_HEAD &&
	    pd->head <= pd->ntok) {
		sig.ntok = pd->ntok;
		sig.head = pd->head;
	}
	if ((rc = db_sig_put(d, &sig)) < 0)
		goto end;
	if (pd->whitelist && pd->has_sender && pd->listed < 0) {
		db_sender hist;

		if ((rc = db_sender_add(d, uid, pd->snd, pd->spam ? 0 : 1,
		    pd->spam ? 1 : 0, (int)(pd->now / 86400), &hist)) < 0)
			goto end;
		if (!pd->spam && hist.spam == 0 &&
		    hist.innocent >= pd->whitelist_threshold) {
			db_list_entry e = { pd->snd, 1, pd->now, "auto" };

			if ((rc = db_list_add(d, uid, DB_LIST_WHITE, &e)) < 0)
				goto end;
		}
	}
end:
	return finish(d, rc);
}

int filter_classify(db *d, const char *user, const tokset *toks,
    const char *sender, const filter_params *p, time_t now,
    filter_result *out)
{
	filter_pending *pd = NULL;
	int rc;

	if (d == NULL || user == NULL || toks == NULL || p == NULL ||
	    out == NULL)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (p->dry_run)
		return classify_ro(d, user, toks, sender, p, now, out, 0, NULL);
	/*
	 * Read and write in one transaction, so the verdict and what is
	 * learned from it come from the same state of the model.
	 */
	if ((rc = db_begin(d)) < 0)
		return rc;
	rc = classify_ro(d, user, toks, sender, p, now, out, 1, &pd);
	if (rc == 0)
		rc = commit(d, pd);
	filter_pending_free(pd);
	rc = finish(d, rc);
	if (rc < 0)
		memset(out, 0, sizeof(*out));
	return rc;
}

int filter_classify_deferred(db *d, const char *user, const tokset *toks,
    const char *sender, const filter_params *p, time_t now,
    filter_result *out, filter_pending **pending)
{
	int rc;

	if (d == NULL || user == NULL || toks == NULL || p == NULL ||
	    out == NULL || pending == NULL)
		return -EINVAL;
	*pending = NULL;
	memset(out, 0, sizeof(*out));
	rc = classify_ro(d, user, toks, sender, p, now, out, 1, pending);
	if (rc < 0)
		memset(out, 0, sizeof(*out));
	return rc;
}

int filter_commit(db *d, const filter_pending *pending)
{
	if (d == NULL || pending == NULL)
		return -EINVAL;
	return commit(d, pending);
}

/*
 * Was a message of these tokens learned as this class? Then each of them
 * has a hit of that class in the model (unless `db purge` took it since).
 * A message some of whose tokens have none never was (delivered before
 * spamsift, or through another server). *learned is 1 when all have one.
 */
static int was_learned(db *d, int64_t uid, const uint64_t *hashes, size_t n,
    int spam, int *learned)
{
	db_token *t;
	int rc;

	*learned = 0;
	if (n == 0)
		return 0;
	if (!(t = calloc(n, sizeof(*t))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		t[i].hash = hashes[i];
	if ((rc = db_tokens_get(d, uid, t, n)) == 0) {
		*learned = 1;
		for (size_t i = 0; i < n && *learned; i++)
			if ((spam ? t[i].spam_hits : t[i].innocent_hits) <= 0)
				*learned = 0;
	}
	free(t);
	return rc;
}

/* The most hits of a class on one token (db_tokens_iter callback). */
struct most {
	int spam;               /* the class */
	int64_t hits;           /* the most seen */
};

static int most_cb(void *arg, const db_token *t)
{
	struct most *m = arg;
	int64_t h = m->spam ? t->spam_hits : t->innocent_hits;

	if (h > m->hits)
		m->hits = h;
	return 0;
}

/*
 * After a message was unlearned as a class without its signature: a
 * message that passed was_learned and still never was learned as it (its
 * tokens all in other mail) took one from the class's total while some
 * token outside it kept a hit from every message of the class. `db check`
 * then calls the store damaged and import refuses its export: the total
 * is raised back to that token's hits. It reads the user's whole model,
 * with the store's write lock held: about 60 ms at 700,000 tokens, for
 * each message corrected without a signature (those come one at a time
 * from a mail client; `train --source error` of a mailbox pays it for
 * each message).
 */
static int keep_total(db *d, int64_t uid, int spam)
{
	struct most m = { spam, 0 };
	db_totals t, add;
	int64_t total;
	int rc;

	if ((rc = db_tokens_iter(d, uid, most_cb, &m)) < 0 ||
	    (rc = db_totals_get(d, uid, &t)) < 0)
		return rc;
	total = spam ? t.spam_learned : t.innocent_learned;
	if (m.hits <= total)
		return 0;
	memset(&add, 0, sizeof(add));
	if (spam)
		add.spam_learned = m.hits - total;
	else
		add.innocent_learned = m.hits - total;
	return db_totals_add(d, uid, &add);
}

/* Whitelist sender automatically unless a list names it already. */
static int auto_whitelist(db *d, int64_t uid, const char *sender, time_t now)
{
	db_list_entry e = { sender, 1, now, "auto" };
	int listed, rc;

	if ((rc = db_list_match(d, uid, DB_LIST_WHITE, sender, &listed)) < 0 ||
	    listed || (rc = db_list_match(d, uid, DB_LIST_BLOCK, sender,
	    &listed)) < 0 || listed)
		return rc;
	return db_list_add(d, uid, DB_LIST_WHITE, &e);
}

/* Find whether pattern is an automatic entry (db_list_iter callback). */
struct auto_find {
	const char *pattern;    /* what we look for */
	int automatic;          /* found as an automatic entry */
};

static int auto_find_cb(void *arg, const db_list_entry *e)
{
	struct auto_find *f = arg;

	if (strcmp(e->pattern, f->pattern) == 0) {
		f->automatic = e->automatic;
		return 1;
	}
	return 0;
}

/*
 * A message from sender (NULL: none known) was corrected to spam (or
 * innocent): move it in the sender's history, and to spam drop the
 * sender's automatic whitelist entry; back to innocent, whitelisted again
 * where commit would whitelist it.
 */
static int move_sender(db *d, int64_t uid, const filter_params *ep,
    const char *sender, int spam, time_t now)
{
	char snd[SENDER_MAX];
	db_sender hist;
	int rc;

	if (norm_sender(sender, snd, sizeof(snd)) != 1)
		return 0;
	/*
	 * Move the message in the sender's history only if it is there: a
	 * listed sender's messages, or any with whitelisting off, were never
	 * counted (clamped at 0, the move would invent a message of the
	 * other class).
	 */
	if ((rc = db_sender_add(d, uid, snd, 0, 0, (int)(now / 86400),
	    &hist)) < 0)
		return rc;
	if ((spam ? hist.innocent : hist.spam) > 0) {
		if ((rc = db_sender_add(d, uid, snd, spam ? -1 : 1,
		    spam ? 1 : -1, (int)(now / 86400), &hist)) < 0)
			return rc;
		/* Back to innocent: whitelisted again if commit would (a
		 * retrain to spam removed it). */
		if (!spam && ep->whitelist && hist.spam == 0 &&
		    hist.innocent >= ep->whitelist_threshold &&
		    (rc = auto_whitelist(d, uid, snd, now)) < 0)
			return rc;
	}
	if (spam) {
		struct auto_find f = { snd, 0 };
		int found;

		if ((rc = db_list_iter(d, uid, DB_LIST_WHITE, auto_find_cb,
		    &f)) < 0)
			return rc;
		if (f.automatic && (rc = db_list_del(d, uid, DB_LIST_WHITE,
		    snd, &found)) < 0)
			return rc;
	}
	return 0;
}

int filter_train(db *d, const char *user, const tokset *toks, int is_spam,
    int source, const filter_params *p, time_t now)
{
	return filter_train_forms(d, user, &toks, 1, is_spam, source, NULL, p,
	    now);
}

int filter_train_forms(db *d, const char *user, const tokset *const *forms,
    size_t nforms, int is_spam, int source, const char *sender,
    const filter_params *p, time_t now)
{
	const tokset *toks = forms != NULL && nforms > 0 ? forms[0] : NULL;
	filter_params ep;
	struct model m;
	struct scored s = { 0 };
	uint64_t *hashes = NULL;
	size_t n = 0;
	int64_t uid;
	int rc, spam = is_spam != 0, undo, can_undo;

	if (d == NULL || user == NULL || toks == NULL || p == NULL ||
	    source < FILTER_SRC_CORPUS || source > FILTER_SRC_INOCULATION)
		return -EINVAL;
	if ((rc = tok_hashes(toks, &hashes, &n)) < 0)
		return rc;
	if ((rc = db_begin(d)) < 0)
		goto done;
	if ((rc = db_user(d, user, 1, &uid)) < 0)
		goto end;
	ep = *p;
	if ((rc = read_prefs(d, uid, &ep)) < 0)
		goto end;
	if (ep.training_mode == FILTER_MODE_NOTRAIN)
		goto end;
	if ((rc = model_load(d, uid, &ep, &m)) < 0)
		goto end;
	/*
	 * An error without a signature: classification learned the message
	 * as the other class, its tokens and (with BNR) the patterns of their
	 * probabilities in the model before it was learned. The tokens are
	 * unlearned first, with their totals, and the model read again: when
	 * nothing else was learned in between, that is the model the message
	 * was classified with, so scoring gives the same patterns, which are
	 * unlearned too and then learned as the right class with the tokens,
	 * as filter_retrain does from the signature. When other messages were
	 * learned in between, the probabilities may have moved across a
	 * band, and some recomputed patterns are not the ones learned: those
	 * take a count from other messages' same patterns (clamped at 0) and
	 * the learned ones keep theirs. Only the signature, which stores what
	 * was learned, makes that exact (filter.h, spamsift(1)). A message
	 * some of whose tokens the other class lacks was not learned as it
	 * (was_learned): it is only learned as the right class. One that
	 * passes and still never was leaves the class's total no lower than
	 * any token's hits (keep_total).
	 */
	/* (TOE and a mature TUM learn a verdict in the unsure band too: an
	 * error may be one, as was_learned then tells) */
	undo = can_undo = source == FILTER_SRC_ERROR &&
	    (learns_on_classify(&ep, &m) || unsure(&ep, ep.unsure_low));
	if (undo && (rc = was_learned(d, uid, hashes, n, !spam, &undo)) < 0)
		goto end;
	/*
	 * Not as it is: maybe as another form of it (a copy as delivered,
	 * less what delivery added), which is then the message corrected.
	 */
	for (size_t k = 1; can_undo && !undo && k < nforms; k++) {
		uint64_t *fh = NULL;
		size_t fn = 0;

		if (forms[k] == NULL)
			continue;
		if ((rc = tok_hashes(forms[k], &fh, &fn)) < 0)
			goto end;
		if ((rc = was_learned(d, uid, fh, fn, !spam, &undo)) < 0) {
			free(fh);
			goto end;
		}
		if (undo) {
			free(hashes);
			hashes = fh;
			n = fn;
			toks = forms[k];
		} else {
			free(fh);
		}
	}
	if (undo) {
		if ((rc = learn(d, uid, hashes, n, !spam, -1, source, now)) < 0)
			goto end;
		if (ep.bayes.bnr && (rc = model_load(d, uid, &ep, &m)) < 0)
			goto end;
	}
	/* Scoring first gives the BNR patterns to learn with the tokens. */
	if (ep.bayes.bnr) {
		if ((rc = score(d, &m, &ep, hashes, n, tokset_head(toks),
		    toks, &s)) < 0)
			goto end;
	} else {
		s.learn = hashes;
		s.nlearn = n;
		hashes = NULL;
	}
	/* The patterns' counts only: their message left the totals above. */
	if (undo && s.nlearn > n && (rc = db_tokens_update(d, uid,
	    s.learn + n, s.nlearn - n, spam ? 0 : -1, spam ? -1 : 0,
	    (int)(now / 86400))) < 0)
		goto end;
	if (undo && (rc = keep_total(d, uid, !spam)) < 0)
		goto end;
	if ((rc = learn(d, uid, s.learn, s.nlearn, spam, 1, source, now)) < 0)
		goto end;
	if (source == FILTER_SRC_ERROR) {
		db_totals cnt;

		memset(&cnt, 0, sizeof(cnt));
		if (spam)
			cnt.spam_misclassified = 1;
		else
			cnt.innocent_misclassified = 1;
		if ((rc = db_totals_add(d, uid, &cnt)) < 0)
			goto end;
		if ((rc = tcr_rounds(d, uid, &ep, s.learn, n, s.nlearn,
		    tokset_head(toks), spam, now)) < 0)
			goto end;
		/* The sender's history, as a retrain by signature moves it. */
		if ((rc = move_sender(d, uid, &ep, sender, spam, now)) < 0)
			goto end;
	}
	rc = 0;
end:
	rc = finish(d, rc);
done:
	free(hashes);
	free(s.learn);
	return rc;
}

int filter_retrain(db *d, const char *user, const char *sig_id, int is_spam,
    const char *sender, const filter_params *p, time_t now, int *changed)
{
	filter_params ep;
	db_sig *sig = NULL;
	db_totals cnt;
	int64_t uid;
	int rc, spam = is_spam != 0, times = 0;

	if (changed != NULL)
		*changed = 0;
	/* An id is 32 hexadecimal digits (new_sig_id). */
	if (d == NULL || user == NULL || sig_id == NULL || p == NULL ||
	    strlen(sig_id) != 32 || strspn(sig_id, "0123456789abcdefABCDEF") != 32)
		return -EINVAL;
	if ((rc = db_begin(d)) < 0)
		return rc;
	if ((rc = db_user(d, user, 0, &uid)) < 0)
		goto end;
	if (uid == 0) {
		rc = -ENOENT;
		goto end;
	}
	if ((rc = db_sig_get(d, uid, sig_id, &sig)) < 0)
		goto end;
	if (sig == NULL) {
		rc = -ENOENT;
		goto end;
	}
	if (p->sig_life > 0 && sig->created < now - p->sig_life) {
		rc = -ESTALE;
		goto end;
	}
	if ((sig->cls == DB_CLASS_SPAM) == spam)
		goto end;       /* already so: nothing to reverse */
	/* Retrained by its id alone: the sender the message came from. */
	if (sender == NULL && sig->sender[0] != '\0')
		sender = sig->sender;
	ep = *p;
	if ((rc = read_prefs(d, uid, &ep)) < 0)
		goto end;
	if (ep.training_mode != FILTER_MODE_NOTRAIN) {
		/* Reverse exactly what was learned, then learn right. */
		if (sig->learned > 0 && (rc = learn(d, uid, sig->hashes,
		    sig->nhashes, !spam, -sig->learned, FILTER_SRC_ERROR,
		    now)) < 0)
			goto end;
		if ((rc = learn(d, uid, sig->hashes, sig->nhashes, spam, 1,
		    FILTER_SRC_ERROR, now)) < 0)
			goto end;
		if ((rc = tcr_rounds(d, uid, &ep, sig->hashes, sig->ntok > 0 ?
		    sig->ntok : sig->nhashes, sig->nhashes, sig->ntok > 0 ?
		    sig->head : TOKSET_NO_HEAD, spam, now)) < 0)
			goto end;
		times = 1 + rc;
	}
	memset(&cnt, 0, sizeof(cnt));
	if (spam)
		cnt.spam_misclassified = 1;
	else
		cnt.innocent_misclassified = 1;
	if ((rc = db_totals_add(d, uid, &cnt)) < 0)
		goto end;
	/*
	 * The signature says what the tokens hold. NOTRAIN changed nothing
	 * in them: a signature of a message learned before (the mode changed
	 * since) stays as it is, or a later retrain would learn the message
	 * again instead of reversing it. One that holds nothing takes the
	 * class, so that the same retrain again changes nothing (it counted
	 * an error each time).
	 */
	if (ep.training_mode == FILTER_MODE_NOTRAIN) {
		if (sig->learned == 0 && (rc = db_sig_update(d, uid, sig_id,
		    spam ? DB_CLASS_SPAM : DB_CLASS_INNOCENT, 0)) < 0)
			goto end;
		goto sender;
	}
	if ((rc = db_sig_update(d, uid, sig_id, spam ? DB_CLASS_SPAM :
	    DB_CLASS_INNOCENT, times)) < 0)
		goto end;
	if (times > 1) {
		/* The signature must remember how many rounds were learned. A
		 * store that keeps only "learned or not" would make a later
		 * reversal inexact: then keep one round only. */
		db_sig *chk = NULL;

		if ((rc = db_sig_get(d, uid, sig_id, &chk)) < 0)
			goto end;
		if (chk != NULL && chk->learned != times) {
			rc = learn(d, uid, sig->hashes, sig->nhashes, spam,
			    -(times - 1), FILTER_SRC_ERROR, now);
			if (rc == 0)
				rc = db_sig_update(d, uid, sig_id, spam ?
				    DB_CLASS_SPAM : DB_CLASS_INNOCENT, 1);
		}
		db_sig_free(chk);
		if (rc < 0)
			goto end;
	}
sender:
	if ((rc = move_sender(d, uid, &ep, sender, spam, now)) < 0)
		goto end;
	if (changed != NULL)
		*changed = 1;
	rc = 0;
end:
	db_sig_free(sig);
	return finish(d, rc);
}

int filter_expire(db *d, const filter_params *p, time_t now, int64_t *n)
{
	int64_t k = 0;
	int rc;

	if (n != NULL)
		*n = 0;
	if (d == NULL || p == NULL)
		return -EINVAL;
	if (p->sig_life <= 0)
		return 0;
	/* Outside a transaction: in steps (db_sig_expire). */
	rc = db_sig_expire(d, now - p->sig_life, &k);
	if (n != NULL)
		*n = k;
	return rc;
}
