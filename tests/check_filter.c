/*
 * check_filter -- Check suite for classifier/filter: merged model, training
 * modes, signatures (exact reversal, expiry), test-conditional training,
 * white/block lists and automatic whitelisting, counters, what a deferred
 * classification's pending write holds in memory. Runs on the
 * in-memory backend ("mem:"); one case repeats the basic flow on a real
 * SQLite file in a temporary directory.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "classifier/filter.h"
#include "tests/testutil.h"

#define T0 ((time_t)1700000000)

static db *d;
static filter_params P;

static void setup(void)
{
	char err[256];

	ck_assert_int_eq(db_open("mem:", DB_OPEN_CREATE, &d, err, sizeof(err)), 0);
	filter_params_default(&P);
	/* These cases train models of a few messages: no young-model shrink
	 * (check_bayes and test_young_model_is_cautious cover it). */
	P.bayes.young = 0;
}

static void teardown(void)
{
	db_close(d);
	d = NULL;
}

/* Add space-separated words to s. */
static void add_words(tokset *s, const char *p)
{
	while (*p) {
		size_t n = strcspn(p, " ");

		if (n > 0)
			ck_assert_int_ge(tokset_add(s, p, n), 0);
		p += n;
		p += strspn(p, " ");
	}
}

/* A token set from space-separated words (caller frees). */
static tokset *msg(const char *words)
{
	tokset *s;

	ck_assert_int_eq(tokset_new(0, 1, &s), 0);
	add_words(s, words);
	return s;
}

static int64_t uid_of(const char *user)
{
	int64_t uid = 0;

	ck_assert_int_eq(db_user(d, user, 0, &uid), 0);
	return uid;
}

/* Hits of one word in user's own model. */
static db_token hits(const char *user, const char *word)
{
	db_token t = { tok_hash(word, strlen(word)), 0, 0 };
	int64_t uid = uid_of(user);

	if (uid != 0)
		ck_assert_int_eq(db_tokens_get(d, uid, &t, 1), 0);
	return t;
}

static db_totals totals(const char *user)
{
	db_totals t;
	int64_t uid = uid_of(user);

	memset(&t, 0, sizeof(t));
	if (uid != 0)
		ck_assert_int_eq(db_totals_get(d, uid, &t), 0);
	return t;
}

static void train(const char *user, const char *words, int spam, int times)
{
	tokset *s = msg(words);

	for (int i = 0; i < times; i++)
		ck_assert_int_eq(filter_train(d, user, s, spam,
		    FILTER_SRC_CORPUS, &P, T0), 0);
	tokset_free(s);
}

static filter_result classify(const char *user, const char *words,
    const char *sender, time_t now)
{
	tokset *s = msg(words);
	filter_result r;

	ck_assert_int_eq(filter_classify(d, user, s, sender, &P, now, &r), 0);
	tokset_free(s);
	return r;
}

#define SPAMMY "cheap pills viagra winner"
#define HAMMY "meeting agenda lunch minutes"

/* A global model that knows SPAMMY and HAMMY words. */
static void global_corpus(int times)
{
	train(DB_GLOBAL_USER, SPAMMY, 1, times);
	train(DB_GLOBAL_USER, HAMMY, 0, times);
}

START_TEST(test_new_user_gets_global_verdicts)
{
	filter_result r;
	db_totals g;

	global_corpus(20);
	r = classify("alice", SPAMMY, NULL, T0);
	ck_assert_int_eq(r.verdict.cls, BAYES_SPAM);
	ck_assert(r.verdict.probability > 0.99);
	ck_assert_uint_gt(r.verdict.ntop, 0);
	ck_assert_ptr_nonnull(r.verdict.top[0].text);
	r = classify("alice", HAMMY, NULL, T0);
	ck_assert_int_eq(r.verdict.cls, BAYES_INNOCENT);
	ck_assert(r.verdict.probability < 0.01);
	/* Alice's model learned both (TEFT); the global model is untouched. */
	ck_assert_int_eq(totals("alice").spam_learned, 1);
	ck_assert_int_eq(totals("alice").innocent_learned, 1);
	ck_assert_int_eq(totals("alice").spam_classified, 1);
	ck_assert_int_eq(totals("alice").innocent_classified, 1);
	g = totals(DB_GLOBAL_USER);
	ck_assert_int_eq(g.spam_learned, 20);
	ck_assert_int_eq(g.spam_corpusfed, 20);
	ck_assert_int_eq(g.spam_classified, 0);
	ck_assert_int_eq(hits(DB_GLOBAL_USER, "viagra").spam_hits, 20);
	ck_assert_int_eq(hits("alice", "viagra").spam_hits, 1);
}
END_TEST

START_TEST(test_global_model_off)
{
	filter_result r;

	global_corpus(20);
	P.global_model = 0;
	P.training_mode = FILTER_MODE_NOTRAIN;
	r = classify("alice", SPAMMY, NULL, T0);
	ck_assert_int_eq(r.verdict.cls, BAYES_INNOCENT);
	ck_assert_uint_eq(r.verdict.used, 0);
}
END_TEST

START_TEST(test_user_training_dominates_as_it_grows)
{
	filter_result r;

	/* The global model (400 messages) has seen "newsletter" only in spam. */
	train(DB_GLOBAL_USER, "newsletter offer", 1, 200);
	train(DB_GLOBAL_USER, "hello there", 0, 200);
	P.training_mode = FILTER_MODE_NOTRAIN;
	P.merge_maturity = 100;
	r = classify("bob", "newsletter", NULL, T0);
	ck_assert_int_eq(r.verdict.cls, BAYES_SPAM);
	/* Bob has his own spam and subscribes. After 5 innocent newsletters
	 * (global weight 100^2 / (100^2 + 105 * 400) = 0.19: 38.5 spam hits
	 * of 138.5 spam vs 5 of 43.5 innocent, f = 0.71) it still leans
	 * spam... */
	P.training_mode = FILTER_MODE_TEFT;
	train("bob", "bob-spam", 1, 100);
	train("bob", "newsletter", 0, 5);
	P.training_mode = FILTER_MODE_NOTRAIN;
	r = classify("bob", "newsletter", NULL, T0);
	ck_assert(r.verdict.probability > 0.5);
	/* ...after 400 his own training dominates (weight 0.048). */
	P.training_mode = FILTER_MODE_TEFT;
	train("bob", "newsletter", 0, 395);
	P.training_mode = FILTER_MODE_NOTRAIN;
	r = classify("bob", "newsletter", NULL, T0);
	ck_assert_int_eq(r.verdict.cls, BAYES_INNOCENT);
	ck_assert(r.verdict.probability < 0.1);
	/* Another new user still gets the global verdict. */
	r = classify("carol", "newsletter", NULL, T0);
	ck_assert_int_eq(r.verdict.cls, BAYES_SPAM);
}
END_TEST

START_TEST(test_retrain_reverses_exactly)
{
	filter_result r;
	db_token before[4], after;
	db_totals tb, ta;
	const char *w[4] = { "cheap", "pills", "viagra", "winner" };
	int changed;

	global_corpus(20);
	P.tcr = 0;
	train("alice", "meeting cheap", 0, 3);
	for (int i = 0; i < 4; i++)
		before[i] = hits("alice", w[i]);
	tb = totals("alice");
	r = classify("alice", SPAMMY, NULL, T0);
	ck_assert_int_eq(r.verdict.cls, BAYES_SPAM);
	ck_assert_int_eq(r.learned, 1);
	ck_assert_int_eq(hits("alice", "viagra").spam_hits, before[2].spam_hits + 1);
	/* "It was innocent": unlearn spam, learn innocent, count an FP. */
	ck_assert_int_eq(filter_retrain(d, "alice", r.sig_id, 0, NULL, &P,
	    T0 + 60, &changed), 0);
	ck_assert_int_eq(changed, 1);
	for (int i = 0; i < 4; i++) {
		after = hits("alice", w[i]);
		ck_assert_int_eq(after.spam_hits, before[i].spam_hits);
		ck_assert_int_eq(after.innocent_hits, before[i].innocent_hits + 1);
	}
	ta = totals("alice");
	ck_assert_int_eq(ta.spam_learned, tb.spam_learned);
	ck_assert_int_eq(ta.innocent_learned, tb.innocent_learned + 1);
	ck_assert_int_eq(ta.innocent_misclassified, 1);
	ck_assert_int_eq(ta.spam_misclassified, 0);
	/* And back: every count as right after classification. */
	ck_assert_int_eq(filter_retrain(d, "alice", r.sig_id, 1, NULL, &P,
	    T0 + 120, &changed), 0);
	ck_assert_int_eq(changed, 1);
	for (int i = 0; i < 4; i++) {
		after = hits("alice", w[i]);
		ck_assert_int_eq(after.spam_hits, before[i].spam_hits + 1);
		ck_assert_int_eq(after.innocent_hits, before[i].innocent_hits);
	}
	ta = totals("alice");
	ck_assert_int_eq(ta.spam_learned, tb.spam_learned + 1);
	ck_assert_int_eq(ta.innocent_learned, tb.innocent_learned);
	ck_assert_int_eq(ta.spam_misclassified, 1);
	/* Same class again: nothing to do. */
	ck_assert_int_eq(filter_retrain(d, "alice", r.sig_id, 1, NULL, &P,
	    T0 + 180, &changed), 0);
	ck_assert_int_eq(changed, 0);
	ck_assert_int_eq(totals("alice").spam_learned, tb.spam_learned + 1);
}
END_TEST

START_TEST(test_learn_unlearn_restores_counts)
{
	tokset *s = msg("alpha beta gamma");
	db_token a0, a1;
	db_totals t0, t1;

	train("dave", "alpha delta", 1, 2);
	a0 = hits("dave", "alpha");
	t0 = totals("dave");
	/* TEFT learned it as innocent; an error report as spam reverses it. */
	P.tcr = 0;
	ck_assert_int_eq(filter_train(d, "dave", s, 0, FILTER_SRC_CORPUS, &P,
	    T0), 0);
	ck_assert_int_eq(filter_train(d, "dave", s, 1, FILTER_SRC_ERROR, &P,
	    T0), 0);
	a1 = hits("dave", "alpha");
	t1 = totals("dave");
	ck_assert_int_eq(a1.innocent_hits, a0.innocent_hits);
	ck_assert_int_eq(a1.spam_hits, a0.spam_hits + 1);
	ck_assert_int_eq(t1.innocent_learned, t0.innocent_learned);
	ck_assert_int_eq(t1.spam_learned, t0.spam_learned + 1);
	ck_assert_int_eq(t1.spam_misclassified, 1);
	ck_assert_int_eq(hits("dave", "gamma").innocent_hits, 0);
	tokset_free(s);
}
END_TEST

/*
 * A correction of a copy as delivered: the message as given has tokens
 * delivery added ("delivered"), never learned; another form of it (less
 * those) was learned as innocent, and is the one unlearned and learned as
 * spam. Forms that were not learned are passed over; none learned: only
 * the right class is learned, of the message as given.
 */
START_TEST(test_error_forms)
{
	tokset *given = msg("alpha beta delivered");
	tokset *other = msg("alpha gamma");
	tokset *seen = msg("alpha beta");
	const tokset *forms[] = { given, NULL, other, seen };
	db_totals t;

	P.tcr = 0;
	ck_assert_int_eq(filter_train(d, "gus", seen, 0, FILTER_SRC_CORPUS, &P,
	    T0), 0);
	ck_assert_int_eq(filter_train_forms(d, "gus", forms, 4, 1,
	    FILTER_SRC_ERROR, NULL, &P, T0), 0);
	t = totals("gus");
	ck_assert_int_eq(t.innocent_learned, 0);
	ck_assert_int_eq(t.spam_learned, 1);
	ck_assert_int_eq(t.spam_misclassified, 1);
	ck_assert_int_eq(hits("gus", "beta").innocent_hits, 0);
	ck_assert_int_eq(hits("gus", "beta").spam_hits, 1);
	ck_assert_int_eq(hits("gus", "delivered").spam_hits, 0);
	/* back: the spam form is found again, as given it is not */
	ck_assert_int_eq(filter_train_forms(d, "gus", forms, 4, 0,
	    FILTER_SRC_ERROR, NULL, &P, T0), 0);
	t = totals("gus");
	ck_assert_int_eq(t.innocent_learned, 1);
	ck_assert_int_eq(t.spam_learned, 0);
	/* only the message as given counts for corpus: forms ignored */
	ck_assert_int_eq(filter_train_forms(d, "gus", forms, 4, 1,
	    FILTER_SRC_CORPUS, NULL, &P, T0), 0);
	t = totals("gus");
	ck_assert_int_eq(t.innocent_learned, 1);
	ck_assert_int_eq(hits("gus", "delivered").spam_hits, 1);
	tokset_free(given);
	tokset_free(other);
	tokset_free(seen);
}
END_TEST

/*
 * An error reported without a signature for a message that was never
 * learned (delivered before spamsift, through another server): only the
 * right class is learned. Unlearning it took a message from the innocent
 * total while "delta" kept its 3 hits, more than the 2 left: `db check`
 * then called the store damaged, and its export could not be imported.
 */
START_TEST(test_error_unlearns_only_learned)
{
	tokset *s = msg("alpha beta gamma");
	db_totals t;

	P.tcr = 0;
	train("fred", "alpha delta", 0, 3);
	ck_assert_int_eq(filter_train(d, "fred", s, 1, FILTER_SRC_ERROR, &P,
	    T0), 0);
	t = totals("fred");
	ck_assert_int_eq(t.innocent_learned, 3);
	ck_assert_int_eq(t.spam_learned, 1);
	ck_assert_int_eq(t.spam_misclassified, 1);
	ck_assert_int_eq(hits("fred", "alpha").innocent_hits, 3);
	ck_assert_int_eq(hits("fred", "beta").spam_hits, 1);
	ck_assert_int_le(hits("fred", "delta").innocent_hits, t.innocent_learned);
	/* Never learned, though each of its tokens has an innocent hit: it
	 * is unlearned (there is no telling), but the innocent total keeps
	 * the 3 hits of "delta", outside it (it went to 2: damage). */
	{
		tokset *a = msg("alpha");

		ck_assert_int_eq(filter_train(d, "fred", a, 1,
		    FILTER_SRC_ERROR, &P, T0), 0);
		tokset_free(a);
	}
	t = totals("fred");
	ck_assert_int_eq(t.innocent_learned, 3);
	ck_assert_int_eq(t.spam_learned, 2);
	ck_assert_int_eq(hits("fred", "delta").innocent_hits, 3);
	/* Learned as innocent once (every token has a hit): reversed. */
	ck_assert_int_eq(filter_train(d, "fred", s, 0, FILTER_SRC_CORPUS, &P,
	    T0), 0);
	ck_assert_int_eq(filter_train(d, "fred", s, 1, FILTER_SRC_ERROR, &P,
	    T0), 0);
	t = totals("fred");
	ck_assert_int_eq(t.innocent_learned, 3);
	ck_assert_int_eq(t.spam_learned, 3);
	ck_assert_int_eq(hits("fred", "beta").innocent_hits, 0);
	tokset_free(s);
}
END_TEST

START_TEST(test_toe_learns_only_errors)
{
	filter_result r;
	int changed;

	global_corpus(20);
	P.training_mode = FILTER_MODE_TOE;
	P.tcr = 0;
	r = classify("erin", SPAMMY, NULL, T0);
	ck_assert_int_eq(r.verdict.cls, BAYES_SPAM);
	ck_assert_int_eq(r.learned, 0);
	ck_assert_int_eq(r.training_mode, FILTER_MODE_TOE);
	ck_assert_int_eq(totals("erin").spam_learned, 0);
	ck_assert_int_eq(totals("erin").spam_classified, 1);
	ck_assert_int_eq(hits("erin", "viagra").spam_hits, 0);
	ck_assert_int_eq(filter_retrain(d, "erin", r.sig_id, 0, NULL, &P,
	    T0 + 1, &changed), 0);
	ck_assert_int_eq(hits("erin", "viagra").innocent_hits, 1);
	ck_assert_int_eq(hits("erin", "viagra").spam_hits, 0);
	ck_assert_int_eq(totals("erin").innocent_learned, 1);
	ck_assert_int_eq(totals("erin").innocent_misclassified, 1);
}
END_TEST

START_TEST(test_toe_learns_until_both_classes_known)
{
	filter_result r;
	int changed;

	P.training_mode = FILTER_MODE_TOE;
	P.tcr = 0;
	/* Empty model: no basis, learned as classified (innocent). */
	r = classify("paul", HAMMY, NULL, T0);
	ck_assert_int_eq(r.verdict.cls, BAYES_INNOCENT);
	ck_assert_int_eq(r.learned, 1);
	/* Still no spam known: a spam is called innocent and learned so... */
	r = classify("paul", SPAMMY, NULL, T0);
	ck_assert_int_eq(r.learned, 1);
	/* ...and the correction reverses that exactly. */
	ck_assert_int_eq(filter_retrain(d, "paul", r.sig_id, 1, NULL, &P, T0,
	    &changed), 0);
	ck_assert_int_eq(totals("paul").innocent_learned, 1);
	ck_assert_int_eq(totals("paul").spam_learned, 1);
	ck_assert_int_eq(hits("paul", "viagra").innocent_hits, 0);
	/* Both classes known: TOE proper (no unsure band here). */
	P.unsure_low = P.unsure_high = 0;
	r = classify("paul", SPAMMY, NULL, T0);
	ck_assert_int_eq(r.verdict.cls, BAYES_SPAM);
	ck_assert_int_eq(r.learned, 0);
	ck_assert_int_eq(totals("paul").spam_learned, 1);
}
END_TEST

/*
 * TrainUnsure off: DSPAM's TOE once the model knows both classes: an
 * unsure verdict is not learned, a reported error is.
 */
START_TEST(test_toe_strict_learns_only_errors)
{
	filter_result r;
	int changed;

	P.global_model = 0;
	P.tcr = 0;
	train("ursula", SPAMMY, 1, 20);
	train("ursula", HAMMY, 0, 20);
	P.training_mode = FILTER_MODE_TOE;
	P.train_unsure = 0;
	r = classify("ursula", "cheap pills meeting agenda", NULL, T0);
	ck_assert(r.verdict.probability >= P.unsure_low &&
	    r.verdict.probability < P.unsure_high);
	ck_assert_int_eq(r.learned, 0);
	ck_assert_int_eq(totals("ursula").spam_learned, 20);
	ck_assert_int_eq(totals("ursula").innocent_learned, 20);
	ck_assert_int_eq(filter_retrain(d, "ursula", r.sig_id,
	    r.verdict.cls != BAYES_SPAM, NULL, &P, T0, &changed), 0);
	ck_assert_int_eq(changed, 1);
	ck_assert_int_eq(totals("ursula").spam_learned +
	    totals("ursula").innocent_learned, 41);
	ck_assert_int_eq(totals("ursula").spam_misclassified +
	    totals("ursula").innocent_misclassified, 1);
	/* the same band is learned with TrainUnsure on */
	P.train_unsure = 1;
	r = classify("ursula", "cheap pills meeting agenda", NULL, T0);
	ck_assert(r.verdict.probability >= P.unsure_low &&
	    r.verdict.probability < P.unsure_high);
	ck_assert_int_eq(r.learned, 1);
}
END_TEST

START_TEST(test_toe_learns_unsure_verdicts)
{
	filter_result r;
	int changed;

	P.global_model = 0;
	P.tcr = 0;
	train("tina", SPAMMY, 1, 20);
	train("tina", HAMMY, 0, 20);
	P.training_mode = FILTER_MODE_TOE;
	ck_assert_double_eq(P.unsure_low, 0.01);
	ck_assert_double_eq(P.unsure_high, 0.999);
	/* Sure verdicts are not learned... */
	r = classify("tina", SPAMMY, NULL, T0);
	ck_assert(r.verdict.probability >= P.unsure_high);
	ck_assert_int_eq(r.learned, 0);
	r = classify("tina", HAMMY, NULL, T0);
	ck_assert(r.verdict.probability < P.unsure_low);
	ck_assert_int_eq(r.learned, 0);
	ck_assert_int_eq(totals("tina").innocent_learned, 20);
	/* ...a message with evidence both ways is, as classified... */
	r = classify("tina", "cheap pills meeting agenda", NULL, T0);
	ck_assert(r.verdict.probability >= P.unsure_low &&
	    r.verdict.probability < P.unsure_high);
	ck_assert_int_eq(r.learned, 1);
	ck_assert_int_eq(totals("tina").innocent_learned +
	    totals("tina").spam_learned, 41);
	/* ...and a correction reverses that exactly. */
	ck_assert_int_eq(filter_retrain(d, "tina", r.sig_id,
	    r.verdict.cls != BAYES_SPAM, NULL, &P, T0, &changed), 0);
	ck_assert_int_eq(changed, 1);
	ck_assert_int_eq(totals("tina").innocent_learned +
	    totals("tina").spam_learned, 41);
	/* Without its signature too: the band's learning is undone (it
	 * stayed in both classes: undo was for TEFT and young models). */
	{
		tokset *s = msg("cheap pills meeting agenda");
		int wrong;

		r = classify("tina", "cheap pills meeting agenda", NULL, T0);
		ck_assert_int_eq(r.learned, 1);
		wrong = r.verdict.cls != BAYES_SPAM;
		ck_assert_int_eq(filter_train(d, "tina", s, wrong,
		    FILTER_SRC_ERROR, &P, T0), 0);
		ck_assert_int_eq(totals("tina").innocent_learned +
		    totals("tina").spam_learned, 42);
		tokset_free(s);
	}
	/* NOTRAIN learns nothing, band or not. */
	P.training_mode = FILTER_MODE_NOTRAIN;
	r = classify("tina", "cheap pills meeting agenda", NULL, T0);
	ck_assert_int_eq(r.learned, 0);
}
END_TEST

START_TEST(test_young_model_is_cautious)
{
	filter_result r;

	P.global_model = 0;
	P.bayes.young = 10;
	train("yves", SPAMMY, 1, 1);
	train("yves", HAMMY, 0, 1);
	/* One message per class: every token is pulled to 0.5 +- 0.05, below
	 * MinDev, so nothing counts yet. */
	P.dry_run = 1;
	r = classify("yves", SPAMMY, NULL, T0);
	ck_assert_double_eq_tol(r.verdict.probability, 0.5, 1e-12);
	ck_assert_uint_eq(r.verdict.used, 0);
	/* TOE learns as TEFT while a class has fewer than 10 messages. */
	P.dry_run = 0;
	P.training_mode = FILTER_MODE_TOE;
	P.unsure_low = P.unsure_high = 0;
	r = classify("yves", HAMMY, NULL, T0);
	ck_assert_int_eq(r.learned, 1);
	train("yves", SPAMMY, 1, 9);
	train("yves", HAMMY, 0, 8);
	r = classify("yves", SPAMMY, NULL, T0);
	ck_assert_int_eq(r.verdict.cls, BAYES_SPAM);
	ck_assert_int_eq(r.learned, 0);
}
END_TEST

START_TEST(test_tum_stops_when_mature)
{
	filter_result r;

	train("fred", SPAMMY, 1, 1);
	P.training_mode = FILTER_MODE_TUM;
	P.tum_maturity = 3;
	for (int i = 0; i < 3; i++) {
		r = classify("fred", HAMMY, NULL, T0);
		ck_assert_int_eq(r.learned, 1);
	}
	ck_assert_int_eq(totals("fred").innocent_learned, 3);
	r = classify("fred", HAMMY, NULL, T0);
	ck_assert_int_eq(r.learned, 0);
	ck_assert_int_eq(totals("fred").innocent_learned, 3);
	ck_assert_int_eq(totals("fred").innocent_classified, 4);
}
END_TEST

START_TEST(test_notrain_and_pref_override)
{
	filter_result r;
	tokset *s = msg(SPAMMY);
	int changed;

	P.training_mode = FILTER_MODE_NOTRAIN;
	r = classify("gina", HAMMY, NULL, T0);
	ck_assert_int_eq(r.learned, 0);
	ck_assert_int_eq(filter_train(d, "gina", s, 1, FILTER_SRC_CORPUS, &P,
	    T0), 0);
	ck_assert_int_eq(totals("gina").spam_learned, 0);
	ck_assert_int_eq(filter_retrain(d, "gina", r.sig_id, 1, NULL, &P,
	    T0, &changed), 0);
	ck_assert_int_eq(changed, 1);
	ck_assert_int_eq(totals("gina").spam_misclassified, 1);
	ck_assert_int_eq(totals("gina").spam_learned, 0);
	ck_assert_int_eq(hits("gina", "meeting").spam_hits, 0);
	/* The user's preference beats the configured mode. */
	ck_assert_int_eq(db_pref_set(d, uid_of("gina"), "trainingMode", "teft"),
	    0);
	r = classify("gina", HAMMY, NULL, T0);
	ck_assert_int_eq(r.training_mode, FILTER_MODE_TEFT);
	ck_assert_int_eq(r.learned, 1);
	ck_assert_int_eq(totals("gina").innocent_learned, 1);
	tokset_free(s);
}
END_TEST

START_TEST(test_tcr_trains_until_right)
{
	filter_result r;
	db_totals t0, t1;
	db_token v0;
	tokset *s = msg(SPAMMY);

	/* Harry's own model is sure that SPAMMY is spam (at 0.95, one
	 * innocent learning already tips this tiny model). */
	P.global_model = 0;
	P.bayes.spam_threshold = 0.9;
	train("harry", SPAMMY, 1, 5);
	train("harry", HAMMY, 0, 5);
	P.training_mode = FILTER_MODE_TOE;
	t0 = totals("harry");
	v0 = hits("harry", "viagra");
	/* One innocent learning is not enough; TCR repeats it until the
	 * message scores innocent. */
	ck_assert_int_eq(filter_train(d, "harry", s, 0, FILTER_SRC_ERROR, &P,
	    T0), 0);
	t1 = totals("harry");
	ck_assert_int_gt(t1.innocent_learned - t0.innocent_learned, 1);
	ck_assert_int_le(t1.innocent_learned - t0.innocent_learned,
	    1 + P.tcr_rounds);
	ck_assert_int_eq(hits("harry", "viagra").innocent_hits,
	    v0.innocent_hits + (t1.innocent_learned - t0.innocent_learned));
	ck_assert_int_eq(t1.innocent_misclassified, 1);
	P.dry_run = 1;
	r = classify("harry", SPAMMY, NULL, T0);
	ck_assert_int_eq(r.verdict.cls, BAYES_INNOCENT);
	/* Without TCR one round only. */
	P.dry_run = 0;
	P.tcr = 0;
	train("hank", SPAMMY, 1, 5);
	train("hank", HAMMY, 0, 5);
	ck_assert_int_eq(filter_train(d, "hank", s, 0, FILTER_SRC_ERROR, &P,
	    T0), 0);
	ck_assert_int_eq(totals("hank").innocent_learned, 6);
	tokset_free(s);
}
END_TEST

START_TEST(test_tcr_retrain_reverses_exactly)
{
	filter_result r;
	db_totals t0;
	db_token v0;
	int changed;

	P.global_model = 0;
	train("ida", SPAMMY, 1, 5);
	train("ida", HAMMY, 0, 5);
	P.training_mode = FILTER_MODE_TOE;
	t0 = totals("ida");
	v0 = hits("ida", "viagra");
	r = classify("ida", SPAMMY, NULL, T0);
	ck_assert_int_eq(r.verdict.cls, BAYES_SPAM);
	ck_assert_int_eq(filter_retrain(d, "ida", r.sig_id, 0, NULL, &P, T0,
	    &changed), 0);
	ck_assert_int_ge(totals("ida").innocent_learned, t0.innocent_learned + 1);
	ck_assert_int_eq(hits("ida", "viagra").innocent_hits - v0.innocent_hits,
	    totals("ida").innocent_learned - t0.innocent_learned);
	/* Retraining back reverses every round learned, TCR's included. */
	ck_assert_int_eq(filter_retrain(d, "ida", r.sig_id, 1, NULL, &P, T0,
	    &changed), 0);
	ck_assert_int_eq(totals("ida").innocent_learned, t0.innocent_learned);
	ck_assert_int_eq(hits("ida", "viagra").innocent_hits, v0.innocent_hits);
	ck_assert_int_eq(totals("ida").spam_learned, t0.spam_learned + 1);
	ck_assert_int_eq(hits("ida", "viagra").spam_hits, v0.spam_hits + 1);
}
END_TEST

START_TEST(test_signature_expiry)
{
	filter_result r, r2;
	int64_t n;
	int changed = -1;

	global_corpus(5);
	r = classify("ivan", SPAMMY, NULL, T0);
	ck_assert_uint_eq(strlen(r.sig_id), 32);
	ck_assert_uint_eq(strspn(r.sig_id, "0123456789abcdef"), 32);
	r2 = classify("ivan", SPAMMY, NULL, T0 + 20 * 86400);
	ck_assert_str_ne(r.sig_id, r2.sig_id);
	/* 15 days later the first signature is stale and changes nothing. */
	ck_assert_int_eq(filter_retrain(d, "ivan", r.sig_id, 0, NULL, &P,
	    T0 + 15 * 86400, &changed), -ESTALE);
	ck_assert_int_eq(changed, 0);
	ck_assert_int_eq(totals("ivan").innocent_misclassified, 0);
	ck_assert_int_eq(totals("ivan").spam_learned, 2);
	ck_assert_int_eq(filter_retrain(d, "ivan", "0123456789abcdef0123456789abcdef",
	    0, NULL, &P, T0, &changed), -ENOENT);
	/* not an id at all: too short, not hexadecimal */
	ck_assert_int_eq(filter_retrain(d, "ivan", "xyz", 0, NULL, &P, T0,
	    &changed), -EINVAL);
	ck_assert_int_eq(filter_retrain(d, "ivan", "0123456789abcdef0123456789abcdeg",
	    0, NULL, &P, T0, &changed), -EINVAL);
	ck_assert_int_eq(filter_retrain(d, "nobody", r.sig_id, 0, NULL, &P, T0,
	    &changed), -ENOENT);
	/* Expiry deletes it; the young one stays. */
	ck_assert_int_eq(filter_expire(d, &P, T0 + 15 * 86400, &n), 0);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(filter_retrain(d, "ivan", r.sig_id, 0, NULL, &P,
	    T0, &changed), -ENOENT);
	ck_assert_int_eq(filter_retrain(d, "ivan", r2.sig_id, 0, NULL, &P,
	    T0 + 21 * 86400, &changed), 0);
	ck_assert_int_eq(changed, 1);
}
END_TEST

START_TEST(test_automatic_whitelist)
{
	filter_result r;
	db_token v;
	int matched;

	global_corpus(20);
	P.whitelist_threshold = 3;
	for (int i = 0; i < 3; i++) {
		r = classify("judy", HAMMY, "<Friend@Example.ORG>", T0);
		ck_assert_int_eq(r.verdict.cls, BAYES_INNOCENT);
	}
	ck_assert_int_eq(db_list_match(d, uid_of("judy"), DB_LIST_WHITE,
	    "friend@example.org", &matched), 0);
	ck_assert_int_eq(matched, 1);
	/* Now even spammy text from the friend passes, and is not learned. */
	v = hits("judy", "viagra");
	r = classify("judy", SPAMMY, "friend@example.org", T0);
	ck_assert_int_eq(r.verdict.cls, BAYES_WHITELISTED);
	ck_assert_double_eq(r.verdict.probability, 0.0);
	ck_assert_int_eq(r.learned, 0);
	ck_assert_uint_eq(r.verdict.used, 0);
	ck_assert_int_eq(hits("judy", "viagra").spam_hits, v.spam_hits);
	/* A sender who once sent spam is never whitelisted automatically. */
	r = classify("judy", SPAMMY, "mixed@example.net", T0);
	ck_assert_int_eq(r.verdict.cls, BAYES_SPAM);
	for (int i = 0; i < 5; i++)
		classify("judy", HAMMY, "mixed@example.net", T0);
	ck_assert_int_eq(db_list_match(d, uid_of("judy"), DB_LIST_WHITE,
	    "mixed@example.net", &matched), 0);
	ck_assert_int_eq(matched, 0);
	/* The user's whitelistThreshold, up to spamsift.conf(5)'s 1000000,
	 * overrides P's. */
	ck_assert_int_eq(db_pref_set(d, uid_of("judy"), "whitelistThreshold",
	    "1000000"), 0);
	for (int i = 0; i < 5; i++)
		classify("judy", HAMMY, "patient@example.com", T0);
	ck_assert_int_eq(db_list_match(d, uid_of("judy"), DB_LIST_WHITE,
	    "patient@example.com", &matched), 0);
	ck_assert_int_eq(matched, 0);
	/* Off: no whitelisting. */
	P.whitelist = 0;
	for (int i = 0; i < 5; i++)
		classify("judy", HAMMY, "other@example.com", T0);
	ck_assert_int_eq(db_list_match(d, uid_of("judy"), DB_LIST_WHITE,
	    "other@example.com", &matched), 0);
	ck_assert_int_eq(matched, 0);
}
END_TEST

/* The whitelist entry of user for pattern: 1 automatic, 0 manual, -1 none. */
struct kind_find {
	const char *pattern;
	int kind;
};

static int kind_cb(void *arg, const db_list_entry *e)
{
	struct kind_find *f = arg;

	if (strcmp(e->pattern, f->pattern) != 0)
		return 0;
	f->kind = e->automatic;
	return 1;
}

static int list_kind(const char *user, const char *pattern)
{
	struct kind_find f = { pattern, -1 };

	ck_assert_int_eq(db_list_iter(d, uid_of(user), DB_LIST_WHITE, kind_cb,
	    &f), 0);
	return f.kind;
}

/* Blocklist pattern for user (by hand). */
static void block(const char *user, const char *pattern)
{
	db_list_entry e = { pattern, 0, T0, "admin" };

	ck_assert_int_eq(db_list_add(d, uid_of(user), DB_LIST_BLOCK, &e), 0);
}

START_TEST(test_retrain_spam_drops_auto_whitelist)
{
	filter_result r;
	int matched, changed;

	global_corpus(20);
	P.whitelist_threshold = 2;
	classify("kim", HAMMY, "x@example.org", T0);
	r = classify("kim", HAMMY, "x@example.org", T0);
	ck_assert_int_eq(db_list_match(d, uid_of("kim"), DB_LIST_WHITE,
	    "x@example.org", &matched), 0);
	ck_assert_int_eq(matched, 1);
	ck_assert_int_eq(filter_retrain(d, "kim", r.sig_id, 1, "x@example.org",
	    &P, T0, &changed), 0);
	ck_assert_int_eq(db_list_match(d, uid_of("kim"), DB_LIST_WHITE,
	    "x@example.org", &matched), 0);
	ck_assert_int_eq(matched, 0);
	/* Retrained back (the user's slip): the entry is back, automatic. */
	ck_assert_int_eq(filter_retrain(d, "kim", r.sig_id, 0, "x@example.org",
	    &P, T0, &changed), 0);
	ck_assert_int_eq(changed, 1);
	ck_assert_int_eq(list_kind("kim", "x@example.org"), 1);
	/* A sender the user blocklisted meanwhile is not whitelisted. */
	ck_assert_int_eq(filter_retrain(d, "kim", r.sig_id, 1, "x@example.org",
	    &P, T0, &changed), 0);
	ck_assert_int_eq(list_kind("kim", "x@example.org"), -1);
	block("kim", "example.org");
	ck_assert_int_eq(filter_retrain(d, "kim", r.sig_id, 0, "x@example.org",
	    &P, T0, &changed), 0);
	ck_assert_int_eq(list_kind("kim", "x@example.org"), -1);
}
END_TEST

/*
 * Retrained by its id alone (`spamsift retrain --signature`, or `train` of
 * a message that carries it), the sender stored with the signature moves:
 * the automatic entry that let spam through as Whitelisted goes (it stayed).
 */
START_TEST(test_retrain_by_id_uses_stored_sender)
{
	filter_result r;
	db_sig *sig;
	int changed;

	global_corpus(20);
	P.whitelist_threshold = 2;
	classify("kit", HAMMY, "<Y@Example.org>", T0);
	classify("kit", HAMMY, "y@example.org", T0);
	r = classify("kit", SPAMMY, "y@example.org", T0);
	ck_assert_int_eq(r.verdict.cls, BAYES_WHITELISTED);
	ck_assert_int_eq(db_sig_get(d, uid_of("kit"), r.sig_id, &sig), 0);
	ck_assert_ptr_nonnull(sig);
	ck_assert_str_eq(sig->sender, "y@example.org");
	db_sig_free(sig);
	ck_assert_int_eq(filter_retrain(d, "kit", r.sig_id, 1, NULL, &P, T0,
	    &changed), 0);
	ck_assert_int_eq(changed, 1);
	ck_assert_int_eq(list_kind("kit", "y@example.org"), -1);
	r = classify("kit", SPAMMY, "y@example.org", T0);
	ck_assert_int_ne(r.verdict.cls, BAYES_WHITELISTED);
	/* No sender, none stored. */
	r = classify("kit", SPAMMY, NULL, T0);
	ck_assert_int_eq(db_sig_get(d, uid_of("kit"), r.sig_id, &sig), 0);
	ck_assert_str_eq(sig->sender, "");
	db_sig_free(sig);
}
END_TEST

START_TEST(test_blocklist)
{
	filter_result r;
	db_list_entry e = { "spammer.example", 0, T0, "admin" };
	int64_t uid;

	global_corpus(20);
	ck_assert_int_eq(db_begin(d), 0);
	ck_assert_int_eq(db_user(d, "lee", 1, &uid), 0);
	ck_assert_int_eq(db_list_add(d, uid, DB_LIST_BLOCK, &e), 0);
	ck_assert_int_eq(db_commit(d), 0);
	r = classify("lee", HAMMY, "a@spammer.example", T0);
	ck_assert_int_eq(r.verdict.cls, BAYES_BLOCKLISTED);
	ck_assert_double_eq(r.verdict.probability, 1.0);
	ck_assert_int_eq(totals("lee").spam_classified, 1);
	ck_assert_int_eq(totals("lee").innocent_learned, 0);
	ck_assert_int_eq(totals("lee").spam_learned, 0);
}
END_TEST

/*
 * A sender of hundreds of bytes (Postfix takes them) still meets its
 * domain's list entries: it counted as no sender, and a blocklisted domain
 * escaped with a long local part. It gets no history (no automatic
 * whitelisting of a cut address).
 */
START_TEST(test_long_sender_meets_domain_lists)
{
	filter_result r;
	db_list_entry e = { "spammer.example", 0, T0, "admin" };
	char snd[1200];
	int64_t uid;
	int matched;

	global_corpus(20);
	ck_assert_int_eq(db_begin(d), 0);
	ck_assert_int_eq(db_user(d, "lou", 1, &uid), 0);
	ck_assert_int_eq(db_list_add(d, uid, DB_LIST_BLOCK, &e), 0);
	ck_assert_int_eq(db_commit(d), 0);
	memset(snd, 'a', 1000);
	snprintf(snd + 1000, sizeof(snd) - 1000, "@Spammer.Example");
	r = classify("lou", HAMMY, snd, T0);
	ck_assert_int_eq(r.verdict.cls, BAYES_BLOCKLISTED);
	/* a long sender elsewhere: classified, no history, never listed */
	P.whitelist_threshold = 1;
	snprintf(snd + 1000, sizeof(snd) - 1000, "@friends.example");
	for (int i = 0; i < 3; i++) {
		r = classify("lou", HAMMY, snd, T0);
		ck_assert_int_eq(r.verdict.cls, BAYES_INNOCENT);
	}
	ck_assert_int_eq(db_list_match(d, uid, DB_LIST_WHITE, "x@friends.example",
	    &matched), 0);
	ck_assert_int_eq(matched, 0);
	ck_assert_int_eq(db_list_match(d, uid, DB_LIST_WHITE, "@friends.example",
	    &matched), 0);
	ck_assert_int_eq(matched, 0);
	/* no domain in reach: no sender, as before */
	memset(snd, 'a', sizeof(snd) - 1);
	snd[sizeof(snd) - 1] = '\0';
	r = classify("lou", HAMMY, snd, T0);
	ck_assert_int_eq(r.verdict.cls, BAYES_INNOCENT);
}
END_TEST

/*
 * A '>' in a sender is its own, but for the brackets around it: the milter
 * gets "x>"@evil.example unquoted, x>@evil.example, which was cut at the
 * '>' to "x" and passed a blocklist of evil.example.
 */
START_TEST(test_sender_with_gt_meets_lists)
{
	db_list_entry e = { "evil.example", 0, T0, "admin" };
	filter_result r;
	int64_t uid;

	global_corpus(20);
	ck_assert_int_eq(db_begin(d), 0);
	ck_assert_int_eq(db_user(d, "lou", 1, &uid), 0);
	ck_assert_int_eq(db_list_add(d, uid, DB_LIST_BLOCK, &e), 0);
	ck_assert_int_eq(db_commit(d), 0);
	r = classify("lou", HAMMY, "x>@evil.example", T0);
	ck_assert_int_eq(r.verdict.cls, BAYES_BLOCKLISTED);
	r = classify("lou", HAMMY, "<x>@Evil.Example>", T0);
	ck_assert_int_eq(r.verdict.cls, BAYES_BLOCKLISTED);
	r = classify("lou", HAMMY, " <bob@evil.example>", T0);
	ck_assert_int_eq(r.verdict.cls, BAYES_BLOCKLISTED);
	r = classify("lou", HAMMY, "<x@good.example>", T0);
	ck_assert_int_eq(r.verdict.cls, BAYES_INNOCENT);
}
END_TEST

/*
 * A '<' that starts a sender is a bracket only if a '>' ends it: the milter
 * gets "<ceo@good.example>"@evil.example unquoted, <ceo@good.example>@evil.example
 * (usermap_address), which was read as ceo@good.example: it passed a
 * blocklist of evil.example and met a whitelist of good.example.
 */
START_TEST(test_sender_with_lt_first_keeps_its_domain)
{
	db_list_entry b = { "evil.example", 0, T0, "admin" };
	db_list_entry w = { "good.example", 0, T0, "admin" };
	filter_result r;
	int64_t uid;

	global_corpus(20);
	ck_assert_int_eq(db_begin(d), 0);
	ck_assert_int_eq(db_user(d, "lou", 1, &uid), 0);
	ck_assert_int_eq(db_list_add(d, uid, DB_LIST_BLOCK, &b), 0);
	ck_assert_int_eq(db_list_add(d, uid, DB_LIST_WHITE, &w), 0);
	ck_assert_int_eq(db_commit(d), 0);
	r = classify("lou", HAMMY, "<ceo@good.example>@evil.example", T0);
	ck_assert_int_eq(r.verdict.cls, BAYES_BLOCKLISTED);
	r = classify("lou", HAMMY, "<<ceo@good.example>@evil.example>", T0);
	ck_assert_int_eq(r.verdict.cls, BAYES_BLOCKLISTED);
	r = classify("lou", HAMMY, "<ceo@good.example> ", T0);
	ck_assert_int_eq(r.verdict.cls, BAYES_WHITELISTED);
}
END_TEST

START_TEST(test_sources_and_counters)
{
	tokset *s = msg("trap words");

	ck_assert_int_eq(filter_train(d, "mia", s, 1, FILTER_SRC_INOCULATION,
	    &P, T0), 0);
	ck_assert_int_eq(totals("mia").spam_inoculated, 1);
	ck_assert_int_eq(totals("mia").spam_learned, 1);
	ck_assert_int_eq(totals("mia").spam_corpusfed, 0);
	ck_assert_int_eq(filter_train(d, "mia", s, 0, FILTER_SRC_CORPUS,
	    &P, T0), 0);
	ck_assert_int_eq(totals("mia").innocent_corpusfed, 1);
	ck_assert_int_eq(totals("mia").innocent_learned, 1);
	ck_assert_int_eq(filter_train(d, "mia", s, 0, 7, &P, T0), -EINVAL);
	tokset_free(s);
}
END_TEST

START_TEST(test_dry_run_writes_nothing)
{
	filter_result r;

	global_corpus(20);
	P.dry_run = 1;
	r = classify("nina", SPAMMY, "z@example.org", T0);
	ck_assert_int_eq(r.verdict.cls, BAYES_SPAM);
	ck_assert_str_eq(r.sig_id, "");
	ck_assert_int_eq(uid_of("nina"), 0);
}
END_TEST

/* Deferred: read-only classification, then the same writes as classify. */
START_TEST(test_deferred_commit_equals_classify)
{
	filter_result a, b;
	filter_pending *pd = NULL;
	tokset *t = msg(SPAMMY);
	db_totals before, after;
	int changed = 0;

	global_corpus(20);
	a = classify("olga", SPAMMY, "x@example.org", T0);
	ck_assert_int_eq(filter_classify_deferred(d, "pia", t, "x@example.org",
	    &P, T0, &b, &pd), 0);
	ck_assert_ptr_nonnull(pd);
	ck_assert_int_eq(b.verdict.cls, a.verdict.cls);
	ck_assert_double_eq_tol(b.verdict.probability, a.verdict.probability, 1e-12);
	ck_assert_int_eq((int)strlen(b.sig_id), 32);
	/* Nothing written yet: no user, the signature unknown. */
	ck_assert_int_eq(uid_of("pia"), 0);
	/* Committed inside a caller's batch transaction. */
	ck_assert_int_eq(db_begin(d), 0);
	ck_assert_int_eq(filter_commit(d, pd), 0);
	ck_assert_int_eq(db_commit(d), 0);
	filter_pending_free(pd);
	before = totals("olga");
	after = totals("pia");
	ck_assert_int_eq(after.spam_classified, before.spam_classified);
	ck_assert_int_eq(after.spam_learned, before.spam_learned);
	ck_assert_int_eq(hits("pia", "viagra").spam_hits, hits("olga", "viagra").spam_hits);
	/* And the signature retrains exactly. */
	ck_assert_int_eq(filter_retrain(d, "pia", b.sig_id, 0, NULL, &P, T0 + 60,
	    &changed), 0);
	ck_assert_int_eq(changed, 1);
	ck_assert_int_eq(totals("pia").innocent_misclassified, 1);
	tokset_free(t);
}
END_TEST

/* Heap in use, mmapped chunks included. */
static size_t heap_used(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

/*
 * A pending write holds what it will write and no more: the milter queues
 * thousands of them while the store is locked, bounded by their
 * filter_pending_bytes, which counts what it allocated. It kept score()'s
 * room for as many BNR patterns as tokens: twice what it counted. (Checked
 * by the plain build: under AddressSanitizer glibc's mallinfo2 sees none of
 * the heap, and held is 0.)
 */
START_TEST(test_deferred_pending_holds_no_spare)
{
	enum { NTOK = 20000 };
	filter_result r;
	filter_pending *pd = NULL;
	tokset *t;
	size_t before, held;
	char w[32];

	global_corpus(5);
	ck_assert_int_eq(tokset_new(0, 1, &t), 0);
	for (int i = 0; i < NTOK; i++) {
		int n = snprintf(w, sizeof(w), "word%d", i);

		ck_assert_int_ge(tokset_add(t, w, (size_t)n), 0);
	}
	/* Without BNR, and with it (room for a pattern a window, of which
	 * these 20,000 unknown words give one). */
	for (P.bayes.bnr = 0; P.bayes.bnr <= 1; P.bayes.bnr++) {
		/* A first one warms whatever the backend keeps. */
		ck_assert_int_eq(filter_classify_deferred(d, "quinn", t,
		    "x@example.org", &P, T0, &r, &pd), 0);
		filter_pending_free(pd);
		pd = NULL;
		before = heap_used();
		ck_assert_int_eq(filter_classify_deferred(d, "quinn", t,
		    "x@example.org", &P, T0, &r, &pd), 0);
		held = heap_used() - before;
		ck_assert_uint_ge(filter_pending_bytes(pd),
		    NTOK * sizeof(uint64_t));
		ck_assert_uint_le(filter_pending_bytes(pd),
		    (NTOK + 1000) * sizeof(uint64_t));
		ck_assert_uint_le(held, filter_pending_bytes(pd) + 4096);
		filter_pending_free(pd);
		pd = NULL;
	}
	tokset_free(t);
}
END_TEST

START_TEST(test_bnr_patterns_learned_and_reversed)
{
	filter_result r;
	db_totals t;
	db_sig *sig;
	int changed;

	global_corpus(20);
	P.bayes.bnr = 1;
	P.tcr = 0;
	r = classify("olga", SPAMMY " " HAMMY, NULL, T0);
	ck_assert_int_eq(db_sig_get(d, uid_of("olga"), r.sig_id, &sig), 0);
	ck_assert_ptr_nonnull(sig);
	/* 8 tokens and at least one distinct pattern of 6 windows. */
	ck_assert_uint_gt(sig->nhashes, 8);
	ck_assert_uint_le(sig->nhashes, 8 + 6);
	db_sig_free(sig);
	ck_assert_int_eq(filter_retrain(d, "olga", r.sig_id,
	    r.verdict.cls != BAYES_SPAM, NULL, &P, T0, &changed), 0);
	ck_assert_int_eq(filter_retrain(d, "olga", r.sig_id,
	    r.verdict.cls == BAYES_SPAM, NULL, &P, T0, &changed), 0);
	t = totals("olga");
	ck_assert_int_eq(t.spam_learned + t.innocent_learned, 1);
}
END_TEST

/* A user's model: its tokens with a count, in hash order (db_tokens_iter). */
struct model_snap {
	db_token t[128];        /* the tokens */
	size_t n;               /* entries in t */
};

static int snap_cb(void *arg, const db_token *t)
{
	struct model_snap *m = arg;

	if (t->spam_hits == 0 && t->innocent_hits == 0)
		return 0;
	ck_assert_uint_lt(m->n, 128);
	m->t[m->n++] = *t;
	return 0;
}

static void snapshot(const char *user, struct model_snap *m)
{
	m->n = 0;
	ck_assert_int_eq(db_tokens_iter(d, uid_of(user), snap_cb, m), 0);
}

/* Counts of hash in m, zeros when absent. */
static db_token snap_find(const struct model_snap *m, uint64_t hash)
{
	db_token z = { hash, 0, 0 };

	for (size_t i = 0; i < m->n; i++)
		if (m->t[i].hash == hash)
			return m->t[i];
	return z;
}

/*
 * Every count of now is was's, plus one in class cls for each hash of sig
 * (a message learned once more).
 */
static void assert_learned_once(const struct model_snap *was,
    const struct model_snap *now, const db_sig *sig, int cls)
{
	for (size_t i = 0; i < now->n; i++) {
		db_token a = snap_find(was, now->t[i].hash), b = now->t[i];
		int in = 0;

		for (size_t k = 0; k < sig->nhashes; k++)
			in |= sig->hashes[k] == b.hash;
		ck_assert_int_eq(b.spam_hits, a.spam_hits +
		    (in && cls == DB_CLASS_SPAM));
		ck_assert_int_eq(b.innocent_hits, a.innocent_hits +
		    (in && cls == DB_CLASS_INNOCENT));
	}
	for (size_t k = 0; k < sig->nhashes; k++)
		ck_assert_int_eq(snap_find(now, sig->hashes[k]).hash,
		    sig->hashes[k]);
}

/*
 * A correction without a signature (`spamsift train --source error`) after
 * TEFT learned the message undoes its BNR patterns too, as a retrain by the
 * signature does: the patterns stayed in the class it was wrongly learned
 * as (one more count at each correction back and forth).
 */
#define MIXED "cheap meeting pills agenda viagra lunch winner minutes"

START_TEST(test_error_without_signature_reverses_bnr)
{
	struct model_snap base, now, bysig;
	filter_result ra, rb;
	tokset *t = msg(MIXED);
	db_sig *sig = NULL;
	db_totals tb;
	int changed, cls, other;

	global_corpus(20);
	P.bayes.bnr = 1;
	P.tcr = 0;
	train("ann", "meeting cheap", 0, 3);
	train("bob", "meeting cheap", 0, 3);
	snapshot("bob", &base);
	tb = totals("bob");
	ra = classify("ann", MIXED, NULL, T0);
	rb = classify("bob", MIXED, NULL, T0);
	ck_assert_int_eq(rb.learned, 1);
	ck_assert_int_eq(ra.verdict.cls, rb.verdict.cls);
	cls = rb.verdict.cls == BAYES_SPAM ? DB_CLASS_SPAM : DB_CLASS_INNOCENT;
	other = !cls;
	ck_assert_int_eq(db_sig_get(d, uid_of("bob"), rb.sig_id, &sig), 0);
	ck_assert_ptr_nonnull(sig);
	/* 8 tokens and at least one pattern. */
	ck_assert_uint_gt(sig->nhashes, 8);
	/* Bob says it was the other class, from the message alone. */
	ck_assert_int_eq(filter_train(d, "bob", t, other == DB_CLASS_SPAM,
	    FILTER_SRC_ERROR, &P, T0 + 60), 0);
	snapshot("bob", &now);
	assert_learned_once(&base, &now, sig, other);
	ck_assert_int_eq(totals("bob").spam_learned + totals("bob").
	    innocent_learned, tb.spam_learned + tb.innocent_learned + 1);
	/* The same as Ann's retrain by the signature. */
	ck_assert_int_eq(filter_retrain(d, "ann", ra.sig_id, other ==
	    DB_CLASS_SPAM, NULL, &P, T0 + 60, &changed), 0);
	ck_assert_int_eq(changed, 1);
	snapshot("ann", &bysig);
	ck_assert_uint_eq(bysig.n, now.n);
	for (size_t i = 0; i < now.n; i++) {
		ck_assert(bysig.t[i].hash == now.t[i].hash);
		ck_assert_int_eq(bysig.t[i].spam_hits, now.t[i].spam_hits);
		ck_assert_int_eq(bysig.t[i].innocent_hits, now.t[i].innocent_hits);
	}
	/* And back: as right after classification. */
	ck_assert_int_eq(filter_train(d, "bob", t, cls == DB_CLASS_SPAM,
	    FILTER_SRC_ERROR, &P, T0 + 120), 0);
	snapshot("bob", &now);
	assert_learned_once(&base, &now, sig, cls);
	db_sig_free(sig);
	tokset_free(t);
}
END_TEST

START_TEST(test_invalid_arguments)
{
	filter_result r;
	tokset *s = msg("a");
	int mode;

	ck_assert_int_eq(filter_classify(d, NULL, s, NULL, &P, T0, &r), -EINVAL);
	ck_assert_int_eq(filter_train(NULL, "u", s, 1, 0, &P, T0), -EINVAL);
	ck_assert_int_eq(filter_retrain(d, "u", NULL, 1, NULL, &P, T0, NULL),
	    -EINVAL);
	ck_assert_int_eq(filter_mode_parse("TUM", &mode), 0);
	ck_assert_int_eq(mode, FILTER_MODE_TUM);
	ck_assert_int_eq(filter_mode_parse("sometimes", &mode), -EINVAL);
	tokset_free(s);
}
END_TEST

/* The same flow on a real SQLite store in a temporary directory. */
static char tmpdir[64], dbpath[128];

static void sqlite_setup(void)
{
	char err[256];

	test_mkdtemp(tmpdir, sizeof(tmpdir), "check_filter");
	snprintf(dbpath, sizeof(dbpath), "sqlite:%s/spamsift.db", tmpdir);
	ck_assert_int_eq(db_open(dbpath, DB_OPEN_CREATE, &d, err, sizeof(err)), 0);
	filter_params_default(&P);
}

static void sqlite_teardown(void)
{
	char path[160];

	db_close(d);
	d = NULL;
	for (const char *sfx = ""; sfx != NULL;
	    sfx = !*sfx ? "-wal" : !strcmp(sfx, "-wal") ? "-shm" : NULL) {
		snprintf(path, sizeof(path), "%s/spamsift.db%s", tmpdir, sfx);
		unlink(path);
	}
	rmdir(tmpdir);
}

START_TEST(test_sqlite_classify_retrain_persist)
{
	filter_result r;
	char err[256];
	int changed;

	global_corpus(10);
	P.tcr = 0;
	r = classify("quinn", SPAMMY, "q@example.org", T0);
	ck_assert_int_eq(r.verdict.cls, BAYES_SPAM);
	ck_assert_int_eq(hits("quinn", "viagra").spam_hits, 1);
	ck_assert_int_eq(filter_retrain(d, "quinn", r.sig_id, 0, NULL, &P, T0,
	    &changed), 0);
	ck_assert_int_eq(changed, 1);
	/* Durable: a new handle sees the reversed counts and the signature. */
	db_close(d);
	ck_assert_int_eq(db_open(dbpath, 0, &d, err, sizeof(err)), 0);
	ck_assert_int_eq(hits("quinn", "viagra").spam_hits, 0);
	ck_assert_int_eq(hits("quinn", "viagra").innocent_hits, 1);
	ck_assert_int_eq(totals("quinn").innocent_misclassified, 1);
	ck_assert_int_eq(filter_retrain(d, "quinn", r.sig_id, 1, NULL, &P, T0,
	    &changed), 0);
	ck_assert_int_eq(hits("quinn", "viagra").spam_hits, 1);
	ck_assert_int_eq(hits("quinn", "viagra").innocent_hits, 0);
	ck_assert_int_eq(totals("quinn").spam_learned, 1);
	ck_assert_int_eq(totals("quinn").innocent_learned, 0);
	ck_assert_int_eq(totals(DB_GLOBAL_USER).spam_learned, 10);
}
END_TEST

START_TEST(test_sqlite_read_only_store)
{
	filter_result r;
	tokset *s = msg(SPAMMY);
	char err[256];
	int64_t before;

	global_corpus(10);
	classify("rita", HAMMY, NULL, T0);
	before = totals("rita").innocent_classified;
	db_close(d);
	ck_assert_int_eq(db_open(dbpath, DB_OPEN_READONLY, &d, err,
	    sizeof(err)), 0);
	/* A read-only store refuses the transaction; nothing half-done. */
	ck_assert_int_lt(filter_classify(d, "rita", s, NULL, &P, T0, &r), 0);
	ck_assert_str_eq(r.sig_id, "");
	/* A dry run works: the verdict without writing. */
	P.dry_run = 1;
	ck_assert_int_eq(filter_classify(d, "rita", s, NULL, &P, T0, &r), 0);
	ck_assert_int_eq(r.verdict.cls, BAYES_SPAM);
	ck_assert_int_eq(totals("rita").innocent_classified, before);
	ck_assert_int_eq(totals("rita").spam_classified, 0);
	tokset_free(s);
}
END_TEST

/*
 * A retrain made while the user's mode is NOTRAIN learns nothing, so the
 * signature keeps saying what the tokens hold: a later retrain in TEFT
 * reverses the original learning instead of adding to it.
 */
START_TEST(test_retrain_across_notrain)
{
	filter_result r;
	int changed;
	db_token v0;

	global_corpus(20);
	P.tcr = 0;
	v0 = hits("zed", "viagra");
	r = classify("zed", SPAMMY, NULL, T0);
	ck_assert_int_eq(r.learned, 1);
	P.training_mode = FILTER_MODE_NOTRAIN;
	ck_assert_int_eq(filter_retrain(d, "zed", r.sig_id, 0, NULL, &P, T0,
	    &changed), 0);
	P.training_mode = FILTER_MODE_TEFT;
	ck_assert_int_eq(filter_retrain(d, "zed", r.sig_id, 1, NULL, &P, T0,
	    &changed), 0);
	ck_assert_int_eq(hits("zed", "viagra").spam_hits, v0.spam_hits + 1);
}
END_TEST

/* A token set of header words, marked, then body words (caller frees). */
static tokset *msg_head(const char *head, const char *body)
{
	tokset *s = msg(head);

	tokset_mark_head(s);
	add_words(s, body);
	return s;
}

/*
 * A retrain by signature scores the message as classification did, header
 * and body apart (test-conditional training): it learns as many rounds as
 * the same correction made from the message. It scored the signature's
 * hashes as one stream, and on a young model learned up to 5 more rounds.
 */
START_TEST(test_sig_retrain_scores_as_classified)
{
	const char *users[2] = { "sigA", "sigB" };
	tokset *m = msg_head("from:seller subject:offer subject:today "
	    "subject:friday subject:notes", "cheap pills now");
	filter_result r;
	db_token a, b;
	int changed;

	P.global_model = 0;
	for (int k = 0; k < 2; k++) {
		train(users[k], SPAMMY " from:seller", 1, 3);
		train(users[k], HAMMY " subject:notes subject:friday "
		    "subject:today subject:offer", 0, 3);
		ck_assert_int_eq(filter_classify(d, users[k], m, NULL, &P, T0,
		    &r), 0);
		ck_assert_int_eq(r.learned, 1);
		if (r.verdict.cls == BAYES_SPAM)
			ck_assert_int_eq(filter_retrain(d, users[k], r.sig_id, 0,
			    NULL, &P, T0, &changed), 0);
		/* The correction to spam: by signature, or from the message. */
		if (k == 0)
			ck_assert_int_eq(filter_retrain(d, users[k], r.sig_id, 1,
			    NULL, &P, T0, &changed), 0);
		else
			ck_assert_int_eq(filter_train(d, users[k], m, 1,
			    FILTER_SRC_ERROR, &P, T0), 0);
	}
	ck_assert_int_eq(totals("sigA").spam_learned, totals("sigB").spam_learned);
	a = hits("sigA", "pills");
	b = hits("sigB", "pills");
	ck_assert_int_eq(a.spam_hits, b.spam_hits);
	ck_assert_int_eq(a.innocent_hits, b.innocent_hits);
	tokset_free(m);
}
END_TEST

/*
 * In NOTRAIN a signature holds nothing learned: a retrain gives it the
 * class, so the same retrain again changes nothing (each repeat counted
 * another false positive, as a mail client's repeated moves would).
 */
START_TEST(test_notrain_retrain_once)
{
	filter_result r;
	int changed;

	global_corpus(20);
	P.tcr = 0;
	P.training_mode = FILTER_MODE_NOTRAIN;
	r = classify("zack", SPAMMY, NULL, T0);
	ck_assert_int_eq(r.learned, 0);
	ck_assert_int_eq(filter_retrain(d, "zack", r.sig_id, 0, NULL, &P, T0,
	    &changed), 0);
	ck_assert_int_eq(changed, 1);
	ck_assert_int_eq(filter_retrain(d, "zack", r.sig_id, 0, NULL, &P, T0,
	    &changed), 0);
	ck_assert_int_eq(changed, 0);
	ck_assert_int_eq(totals("zack").innocent_misclassified, 1);
	ck_assert_int_eq(totals("zack").innocent_learned, 0);
}
END_TEST

/*
 * A blocklisted sender's message never entered the sender's history, so
 * retraining it (either way) leaves that history alone.
 */
START_TEST(test_retrain_listed_sender_history)
{
	filter_result r;
	int changed;
	db_sender h;
	db_list_entry e = { "bad@example.org", 0, T0, "" };

	global_corpus(20);
	classify("zoe", HAMMY, NULL, T0);
	ck_assert_int_eq(db_list_add(d, uid_of("zoe"), DB_LIST_BLOCK, &e), 0);
	r = classify("zoe", HAMMY, "bad@example.org", T0);
	ck_assert_int_eq(r.verdict.cls, BAYES_BLOCKLISTED);
	ck_assert_int_eq(filter_retrain(d, "zoe", r.sig_id, 0,
	    "bad@example.org", &P, T0, &changed), 0);
	ck_assert_int_eq(filter_retrain(d, "zoe", r.sig_id, 1,
	    "bad@example.org", &P, T0, &changed), 0);
	ck_assert_int_eq(db_sender_add(d, uid_of("zoe"), "bad@example.org", 0,
	    0, 1, &h), 0);
	ck_assert_int_eq(h.innocent, 0);
	ck_assert_int_eq(h.spam, 0);
}
END_TEST

static Suite *filter_suite(void)
{
	Suite *s = suite_create("filter");
	TCase *tc = tcase_create("mem");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_new_user_gets_global_verdicts);
	tcase_add_test(tc, test_global_model_off);
	tcase_add_test(tc, test_user_training_dominates_as_it_grows);
	tcase_add_test(tc, test_retrain_reverses_exactly);
	tcase_add_test(tc, test_learn_unlearn_restores_counts);
	tcase_add_test(tc, test_error_unlearns_only_learned);
	tcase_add_test(tc, test_error_forms);
	tcase_add_test(tc, test_toe_learns_only_errors);
	tcase_add_test(tc, test_toe_learns_until_both_classes_known);
	tcase_add_test(tc, test_toe_learns_unsure_verdicts);
	tcase_add_test(tc, test_toe_strict_learns_only_errors);
	tcase_add_test(tc, test_young_model_is_cautious);
	tcase_add_test(tc, test_tum_stops_when_mature);
	tcase_add_test(tc, test_notrain_and_pref_override);
	tcase_add_test(tc, test_tcr_trains_until_right);
	tcase_add_test(tc, test_tcr_retrain_reverses_exactly);
	tcase_add_test(tc, test_signature_expiry);
	tcase_add_test(tc, test_automatic_whitelist);
	tcase_add_test(tc, test_retrain_spam_drops_auto_whitelist);
	tcase_add_test(tc, test_retrain_by_id_uses_stored_sender);
	tcase_add_test(tc, test_blocklist);
	tcase_add_test(tc, test_long_sender_meets_domain_lists);
	tcase_add_test(tc, test_sender_with_gt_meets_lists);
	tcase_add_test(tc, test_sender_with_lt_first_keeps_its_domain);
	tcase_add_test(tc, test_sources_and_counters);
	tcase_add_test(tc, test_dry_run_writes_nothing);
	tcase_add_test(tc, test_deferred_commit_equals_classify);
	tcase_add_test(tc, test_deferred_pending_holds_no_spare);
	tcase_add_test(tc, test_bnr_patterns_learned_and_reversed);
	tcase_add_test(tc, test_error_without_signature_reverses_bnr);
	tcase_add_test(tc, test_invalid_arguments);
	tcase_add_test(tc, test_retrain_across_notrain);
	tcase_add_test(tc, test_notrain_retrain_once);
	tcase_add_test(tc, test_sig_retrain_scores_as_classified);
	tcase_add_test(tc, test_retrain_listed_sender_history);
	suite_add_tcase(s, tc);
	tc = tcase_create("sqlite");
	tcase_add_checked_fixture(tc, sqlite_setup, sqlite_teardown);
	tcase_add_test(tc, test_sqlite_classify_retrain_persist);
	tcase_add_test(tc, test_sqlite_read_only_store);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run(filter_suite());
}
