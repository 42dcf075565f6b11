/*
 * filter -- per-user classification and training over the storage interface:
 * the user's model merged with the global model, training modes (TEFT, TOE,
 * TUM, NOTRAIN) and test-conditional training, signatures that let a
 * correction reverse exactly what was learned, white/block lists with
 * automatic whitelisting, and the per-user counters.
 *
 * Uses db/db.h (an interface) and classifier/bayes + classifier/tok only:
 * no SQLite, libmilter, syslog or conf/. The caller (milter, CLI) fills a
 * filter_params from the configuration:
 *
 *   config key / preference              field                  default
 *   Algorithm, PValue, RobinsonS, ...     bayes (see bayes.h)
 *   TrainingMode teft|toe|tum|notrain     training_mode          FILTER_MODE_TEFT
 *     (preference trainingMode overrides; filter_mode_parse)
 *   TestConditionalTraining on|off        tcr                    1
 *   (no key)                              unsure_low, unsure_high 0.01, 0.999
 *   TumMaturity                           tum_maturity           2500
 *     (also merge_maturity unless set separately)
 *   GlobalModel on|off                    global_model           1
 *   Feature whitelist (pref enableWhitelist) whitelist           1
 *   WhitelistThreshold (pref whitelistThreshold) whitelist_threshold 10
 *   Feature noise (pref enableBNR)        bayes.bnr              0
 *   pref statisticalSedation 0..10        sedation               0
 *   SignatureLife (days)                  sig_life (seconds)     14 days
 * Per-user preferences are read from the store and override the fields
 * marked "pref" (values "on"/"off", numbers, or a mode name).
 *
 * The merged model (global_model on, user other than DB_GLOBAL_USER): counts
 * are summed as in DSPAM's merged groups, but the global model's counts (and
 * totals) are scaled by
 *     a = M^2 / (M^2 + Nu * Ng)
 * where Nu and Ng are the messages learned by the user and by the global model
 * and M is merge_maturity. A new user (Nu = 0) gets the whole global model;
 * when the user has learned M messages the global model weighs about as much
 * as the user's own (a * Ng ~= M for Ng >> M), and beyond that it fades as
 * M^2 / Nu. Learning never touches the global model: it is trained only
 * explicitly, as the user DB_GLOBAL_USER (corpus training of user X feeds X).
 *
 * Threads: as db: one handle per thread; no global state.
 */
#ifndef SPAMSIFT_FILTER_H
#define SPAMSIFT_FILTER_H

#include <stdint.h>
#include <time.h>

#include "classifier/bayes.h"
#include "classifier/tok.h"
#include "db/db.h"

/* Training modes (TrainingMode, preference trainingMode). */
#define FILTER_MODE_TEFT    0  /* learn every classified message as classified */
#define FILTER_MODE_TOE     1  /* learn only errors the user reports (*) */
#define FILTER_MODE_TUM     2  /* TEFT until mature, then TOE (*) */
/* (*) and, as TEFT, while the (merged) model has fewer than bayes.young
 * messages of a class (or none): until spam and innocent have both been
 * learned a few times, verdicts have little basis; and, unless
 * train_unsure is 0 (then TOE proper once the model knows both classes,
 * as DSPAM's), every message whose probability lies in the unsure band [unsure_low,
 * unsure_high) (thick-threshold training, as CRM114/OSBF and bogofilter's
 * "train on unsure" advice: a model fed only errors otherwise never learns
 * the ham it barely got right). */
#define FILTER_MODE_NOTRAIN 3  /* never learn */

/* Learning sources for filter_train (DSPAM's --source). */
#define FILTER_SRC_CORPUS      0  /* fed by an administrator */
#define FILTER_SRC_ERROR       1  /* a user's correction, no signature at hand */
#define FILTER_SRC_INOCULATION 2  /* inoculation from another user or trap */

typedef struct filter_params {
	bayes_params bayes;       /* the math (bayes.h); bayes.bnr = Feature noise */
	int training_mode;        /* FILTER_MODE_* (TrainingMode) */
	int tcr;                  /* test-conditional training (TestConditionalTraining) */
	int tcr_rounds;           /* extra learning rounds TCR may add (5) */
	double unsure_low;        /* TOE/TUM also learn verdicts with a probability */
	double unsure_high;       /*   in [unsure_low, unsure_high) (0.01, 0.999) */
	int train_unsure;         /* 0: TOE/TUM do not learn the unsure band
	                             (TrainUnsure off) */
	int64_t tum_maturity;     /* TUM: innocent messages learned to be mature (TumMaturity) */
	int global_model;         /* merge with DB_GLOBAL_USER's model (GlobalModel) */
	int64_t merge_maturity;   /* M of the merge weighting (TumMaturity) */
	int whitelist;            /* automatic whitelisting (Feature whitelist) */
	int whitelist_threshold;  /* innocent messages from a sender to whitelist it */
	int sedation;             /* statistical sedation 0..10 (statisticalSedation) */
	time_t sig_life;          /* signature lifetime in seconds, 0 = forever (SignatureLife) */
	int read_prefs;           /* non-zero: per-user preferences override */
	int dry_run;              /* classify only: no writes, no signature, no counters */
} filter_params;

/* The verdict of filter_classify. */
typedef struct filter_result {
	bayes_result verdict;     /* class, probability, confidence, factors */
	char sig_id[33];          /* signature id (32 hex digits), "" in dry_run */
	int learned;              /* times the message was learned now (0 or more) */
	int training_mode;        /* the mode in effect for this user */
} filter_result;

/* filter_params_default -- fill p with the defaults documented above. */
void filter_params_default(filter_params *p);

/*
 * filter_mode_parse -- "teft", "toe", "tum" or "notrain" (any case) to
 * FILTER_MODE_* in *mode. Returns 0 or -EINVAL.
 */
int filter_mode_parse(const char *s, int *mode);

/*
 * filter_classify -- classify a message for user and act on it, in one
 * transaction:
 *  1. sender (envelope address, may be NULL or "" for none; compared
 *     lowercase, angle brackets dropped) on the user's block list:
 *     BAYES_BLOCKLISTED, probability 1; on the white list: BAYES_WHITELISTED,
 *     probability 0. Listed messages cause no token lookups and are not
 *     learned (the signature is stored unlearned, so a correction learns).
 *  2. otherwise the tokens are scored against the merged model (with BNR
 *     when enabled); statistical sedation raises the spam threshold while the
 *     user's model is young.
 *  3. TEFT (and TUM before maturity, and TOE/TUM while the model lacks a
 *     class or when the probability is in the unsure band) learn the tokens
 *     (and BNR patterns) as classified; a signature with a random id
 *     remembers what was learned.
 *  4. counters (spam/innocent classified, learned) are updated; with
 *     whitelisting on, the sender's history is updated and the sender is
 *     whitelisted (automatic) after whitelist_threshold innocent messages
 *     and no spam.
 * With p->dry_run nothing is written and no transaction is opened (fine on a
 * read-only handle; an unknown user is scored with the global model).
 * toks: distinct tokens in message order (texts, if kept, end up in the
 * factors, borrowed until toks is cleared). now: the clock (injected).
 * Returns 0, -EINVAL, -ENOMEM, -EIO (getrandom failed), or a db error (the
 * transaction is rolled back).
 */
int filter_classify(db *d, const char *user, const tokset *toks,
    const char *sender, const filter_params *p, time_t now,
    filter_result *out);

/*
 * Deferred writes, for a mail filter that must not wait for the store's
 * write lock: filter_classify_deferred does everything filter_classify does
 * that only reads (lists, merged model, verdict, a new signature id in
 * out->sig_id, whether the training mode learns it: out->learned) and
 * returns in *pending what must be written; filter_commit writes it later
 * (learning, counters, signature, sender history), possibly on another
 * handle and thread, possibly nested in a batch transaction (db_begin).
 * Until then the signature is unknown to filter_retrain. A pending write
 * that is never committed is simply lost (the verdict stands).
 */
typedef struct filter_pending filter_pending;

/*
 * filter_classify_deferred -- as filter_classify with no write; *pending
 * (caller frees with filter_pending_free, or hands it to filter_commit).
 * Returns 0, -EINVAL, -ENOMEM, -EIO (getrandom), or a db error.
 */
int filter_classify_deferred(db *d, const char *user, const tokset *toks,
    const char *sender, const filter_params *p, time_t now,
    filter_result *out, filter_pending **pending);

/*
 * filter_commit -- write a pending classification, in one transaction
 * (nested in the caller's). pending stays the caller's. Returns 0, -EINVAL
 * or a db error (rolled back).
 */
int filter_commit(db *d, const filter_pending *pending);

/*
 * filter_pending_bytes -- the memory pending holds (its allocations, not
 * malloc's overhead), for a caller that bounds a queue of them; 0 for NULL.
 */
size_t filter_pending_bytes(const filter_pending *pending);

/* filter_pending_free -- free a pending write; accepts NULL. */
void filter_pending_free(filter_pending *pending);

/*
 * filter_train -- learn a message as spam (is_spam != 0) or innocent, for
 * source FILTER_SRC_*, in one transaction, whatever the training mode
 * (except NOTRAIN, which learns nothing and returns 0):
 *  corpus: learn once; counts learned and corpus-fed.
 *  error: when the mode learns on classification (TEFT, TUM before
 *    maturity; TOE and TUM a verdict in the unsure band) and each of
 *    the message's tokens has a hit of the other
 *    class, the message was learned as that class, so that is
 *    unlearned first: its tokens, then with BNR the patterns their
 *    probabilities give in the model without them; then learn (tokens and
 *    those patterns), count a false positive/negative, and with TCR
 *    re-score and learn again (at most tcr_rounds times) until the verdict
 *    is right. The patterns unlearned are the ones classification learned
 *    only if nothing else was learned since (the model then is the one the
 *    message was classified with); otherwise some may differ, a count
 *    taken from other messages' patterns. Prefer filter_retrain, which is
 *    exact: the signature stores what was learned.
 *  inoculation: learn once; counts learned and, for spam, inoculated.
 * Returns 0, -EINVAL, -ENOMEM, or a db error (rolled back).
 */
int filter_train(db *d, const char *user, const tokset *toks, int is_spam,
    int source, const filter_params *p, time_t now);

/*
 * filter_train_forms -- filter_train of forms[0], the message, for which
 * forms[1..nforms-1] (NULL ones skipped) are other forms it may have had
 * when it was classified (delivered.h: a copy as delivered, less what
 * delivery added). For source error, when forms[0] was not learned as the
 * other class and one of them was (each of its tokens has a hit of that
 * class), the first such form is the message unlearned and learned.
 * sender (NULL: unknown) is the envelope sender the message came with:
 * for source error it moves in the sender's history, and its automatic
 * whitelist entry goes with a correction to spam, as filter_retrain does.
 */
int filter_train_forms(db *d, const char *user, const tokset *const *forms,
    size_t nforms, int is_spam, int source, const char *sender,
    const filter_params *p, time_t now);

/*
 * filter_retrain -- the user says the message with signature sig_id is spam
 * (is_spam != 0) or innocent. If it was classified so already nothing
 * changes (*changed = 0). Otherwise, in one transaction: unlearn exactly what
 * the signature learned, learn as the right class (TCR may repeat it), count
 * a false negative (now spam) or false positive (now innocent), and record
 * the new state in the signature, so that retraining back restores every
 * count. The signature's `learned` records how many rounds were learned (TCR
 * may learn more than one); a store that keeps only 0/1 there gets one round
 * (the extra TCR rounds are undone), so reversal stays exact. NOTRAIN only
 * counts, and leaves the signature as it is (it still says what the tokens
 * hold). sender (NULL: the one stored with the signature, if any): the
 * envelope sender, whose history moves by one message when the message is
 * in it (a listed sender's messages never were); a sender turned spam loses
 * an automatic whitelist entry, and gets it back when retrained innocent
 * again (no spam left in the history, whitelist_threshold innocent, no list
 * names it). TCR re-scoring here sees the signature's hashes only (no token
 * order: without BNR).
 * Returns 0 (*changed 1 or 0; changed may be NULL), -ENOENT (unknown user or
 * signature), -ESTALE (the signature is older than sig_life), -EINVAL (also
 * for a sig_id that is not 32 hexadecimal digits),
 * -ENOMEM, or a db error (rolled back).
 */
int filter_retrain(db *d, const char *user, const char *sig_id, int is_spam,
    const char *sender, const filter_params *p, time_t now, int *changed);

/*
 * filter_expire -- delete signatures older than p->sig_life (nothing when it
 * is 0); how many in *n (may be NULL). Returns 0 or a db error.
 */
int filter_expire(db *d, const filter_params *p, time_t now, int64_t *n);

#endif
