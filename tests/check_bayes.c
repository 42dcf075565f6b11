/*
 * check_bayes -- Check suite for classifier/bayes: the math against values
 * computed by hand (and checked with an independent log-space evaluation of
 * the same formulas), token selection, BNR and underflow behaviour.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classifier/bayes.h"
#include "tests/testutil.h"

static bayes_params P;

static void setup(void)
{
	bayes_params_default(&P);
}

static void teardown(void)
{
}

/* A token with counts; text names it for the factor tests. */
static bayes_token tk(const char *text, double b, double g)
{
	bayes_token t;

	t.hash = (uint64_t)(uintptr_t)text * 2654435761u;
	t.text = text;
	t.spam_hits = b;
	t.innocent_hits = g;
	t.stream = BAYES_STREAM_ANY;
	return t;
}

START_TEST(test_chi2_q_known_values)
{
	/* Q(chi|2) = exp(-chi/2) (1 + chi/2) at chi = 0.421442. */
	ck_assert_double_eq_tol(bayes_chi2_q(0.421442, 2), 0.9806840407107602, 1e-12);
	ck_assert_double_eq_tol(bayes_chi2_q(10.0, 5), 0.44049328506521235, 1e-12);
	/* Q(chi|2) = exp(-chi/2) exactly. */
	ck_assert_double_eq_tol(bayes_chi2_q(3.0, 1), exp(-1.5), 1e-15);
	ck_assert_double_eq(bayes_chi2_q(0.0, 7), 1.0);
}
END_TEST

START_TEST(test_chi2_q_large_df_no_underflow)
{
	double q;

	/* exp(-1000) alone underflows; the log-space sum does not. */
	q = bayes_chi2_q(2000.0, 1000);
	ck_assert_double_eq_tol(q, 0.4957947558196655, 1e-9);
	q = bayes_chi2_q(3000.0, 1000);
	ck_assert_double_eq_tol(q / 2.2046986113890502e-43, 1.0, 1e-8);
	q = bayes_chi2_q(1800.0, 1000);
	ck_assert_double_eq_tol(q, 0.9994500977344118, 1e-9);
	/* Far tails: exact 0/1 within double precision, never NaN. */
	q = bayes_chi2_q(1e6, 20000);
	ck_assert(q >= 0.0 && q < 1e-300);
	q = bayes_chi2_q(10.0, 20000);
	ck_assert_double_eq_tol(q, 1.0, 1e-15);
}
END_TEST

START_TEST(test_robinson_token_prob)
{
	bayes_totals t = { 10, 20 };

	/* p = (3/10)/(3/10 + 1/20) = 6/7, f = (s x + 4 p)/(s + 4). */
	ck_assert_double_eq_tol(bayes_token_prob(&P, 3, 1, &t),
	    0.8571175733248577, 1e-12);
	ck_assert_double_eq_tol(bayes_token_prob(&P, 0, 5, &t),
	    3.119812811231326e-05, 1e-15);
	ck_assert_double_eq(bayes_token_prob(&P, 0, 0, &t), P.robinson_x);
	P.robinson_s = 1.0;
	P.robinson_x = 0.5;
	ck_assert_double_eq_tol(bayes_token_prob(&P, 3, 1, &t),
	    0.7857142857142858, 1e-12);
}
END_TEST

START_TEST(test_one_class_only_is_no_evidence)
{
	bayes_totals t = { 1, 0 };
	bayes_token toks[2];
	bayes_result r;

	/* One spam learned, no innocent yet: every token was "only in spam"
	 * by construction, which must not make everything spam. */
	ck_assert_double_eq(bayes_token_prob(&P, 1, 0, &t), P.robinson_x);
	toks[0] = tk("a", 1, 0);
	toks[1] = tk("b", 1, 0);
	ck_assert_int_eq(bayes_classify(&P, toks, 2, &t, NULL, 0, &r), 0);
	ck_assert_double_eq(r.probability, 0.5);
	ck_assert_int_eq(r.cls, BAYES_INNOCENT);
	P.pvalue = BAYES_PVALUE_GRAHAM;
	t.spam = 0;
	t.innocent = 3;
	ck_assert_double_eq(bayes_token_prob(&P, 0, 3, &t), 0.4);
}
END_TEST

START_TEST(test_graham_token_prob)
{
	bayes_totals t = { 10, 20 };

	P.pvalue = BAYES_PVALUE_GRAHAM;
	ck_assert_double_eq(bayes_token_prob(&P, 8, 0, &t), 0.99);
	ck_assert_double_eq(bayes_token_prob(&P, 0, 10, &t), 0.01);
	ck_assert_double_eq_tol(bayes_token_prob(&P, 5, 1, &t), 5.0 / 6.0, 1e-12);
	/* b + 2g = 3 < 5: unknown, 0.4. */
	ck_assert_double_eq(bayes_token_prob(&P, 1, 1, &t), 0.4);
	ck_assert_double_eq_tol(bayes_token_prob(&P, 4, 4, &t), 0.5, 1e-12);
}
END_TEST

START_TEST(test_chi_square_combination)
{
	bayes_totals t = { 10, 10 };
	bayes_token toks[3];
	bayes_result r;

	P.robinson_s = 0;       /* f = p(w) exactly */
	P.indicator = BAYES_IND_ROBINSON;       /* the classic formula */
	P.dependence = 1;
	toks[0] = tk("a", 9, 1);        /* 0.9 */
	toks[1] = tk("b", 1, 1);        /* 0.5: below MinDev, ignored */
	toks[2] = tk("c", 9, 1);        /* 0.9 */
	ck_assert_int_eq(bayes_classify(&P, toks, 3, &t, NULL, 0, &r), 0);
	/* qh = Q(-2(2 ln .9)|4), qs = Q(-2(2 ln .1)|4), (1 + qh - qs)/2. */
	ck_assert_double_eq_tol(r.probability, 0.9623161667528989, 1e-12);
	ck_assert_uint_eq(r.used, 2);
	ck_assert_int_eq(r.cls, BAYES_SPAM);
	ck_assert_double_eq_tol(r.confidence, 2 * 0.9623161667528989 - 1, 1e-12);

	t.spam = t.innocent = 100;
	toks[0] = tk("x", 99, 1);       /* 0.99 */
	toks[1] = tk("y", 2, 8);        /* 0.2 */
	toks[2] = tk("z", 7, 3);        /* 0.7 */
	ck_assert_int_eq(bayes_classify(&P, toks, 3, &t, NULL, 0, &r), 0);
	ck_assert_double_eq_tol(r.probability, 0.8112921831631932, 1e-12);
	ck_assert_int_eq(r.cls, BAYES_INNOCENT);        /* below 0.9 */
	ck_assert_uint_eq(r.used, 3);
}
END_TEST

START_TEST(test_chi_square_surprisal_indicator)
{
	bayes_totals t = { 10, 10 };
	bayes_token toks[3];
	bayes_result r;

	P.robinson_s = 0;
	P.dependence = 1;
	ck_assert_int_eq(P.indicator, BAYES_IND_SURPRISAL);     /* default */
	toks[0] = tk("a", 9, 1);        /* 0.9 */
	toks[1] = tk("b", 9, 1);        /* 0.9 */
	ck_assert_int_eq(bayes_classify(&P, toks, 2, &t, NULL, 0, &r), 0);
	/* qh = .81 (1 - 2 ln .9) = 0.98068..., qs = .01 (1 - 2 ln .1) =
	 * 0.05605...; S / (S + H) = ln qs / (ln qs + ln qh). */
	ck_assert_double_eq_tol(r.probability, 0.9932764386317102, 1e-12);

	/* Strong evidence both ways: Robinson's indicator is 0.5 for both
	 * messages, the surprisal still ranks the spammier one higher. */
	{
		enum { N = 400 };
		bayes_token m1[N], m2[N];
		bayes_result r1, r2;

		t.spam = t.innocent = 1000;
		for (int i = 0; i < N; i++) {
			m1[i] = i % 2 ? tk(NULL, 999, 1) : tk(NULL, 1, 999);
			m2[i] = i % 2 || i % 10 == 0 ? tk(NULL, 999, 1) :
			    tk(NULL, 1, 999);
		}
		ck_assert_int_eq(bayes_classify(&P, m1, N, &t, NULL, 0, &r1), 0);
		ck_assert_int_eq(bayes_classify(&P, m2, N, &t, NULL, 0, &r2), 0);
		ck_assert(r2.probability > r1.probability + 0.01);
		P.indicator = BAYES_IND_ROBINSON;
		ck_assert_int_eq(bayes_classify(&P, m1, N, &t, NULL, 0, &r1), 0);
		ck_assert_int_eq(bayes_classify(&P, m2, N, &t, NULL, 0, &r2), 0);
		ck_assert_double_eq_tol(r1.probability, 0.5, 1e-12);
		ck_assert_double_eq_tol(r2.probability, 0.5, 1e-12);
	}
}
END_TEST

START_TEST(test_chi_square_dependence)
{
	bayes_totals t = { 10, 10 };
	bayes_token two[2], four[4], three[3];
	bayes_result r2, r4, r3;

	P.robinson_s = 0;
	for (int i = 0; i < 4; i++)
		four[i] = tk(NULL, 9, 1);       /* 0.9 each */
	two[0] = two[1] = four[0];
	/* Dividing the statistic and the degrees of freedom by 2 makes four
	 * tokens weigh as two independent ones. */
	P.dependence = 1;
	ck_assert_int_eq(bayes_classify(&P, two, 2, &t, NULL, 0, &r2), 0);
	P.dependence = 2;
	ck_assert_int_eq(bayes_classify(&P, four, 4, &t, NULL, 0, &r4), 0);
	ck_assert_double_eq_tol(r4.probability, r2.probability, 1e-12);
	ck_assert_double_eq_tol(r4.probability, 0.9932764386317102, 1e-12);
	ck_assert_uint_eq(r4.used, 4);
	/* Fewer tokens than the factor: at least 2 degrees of freedom. */
	P.dependence = 8;
	three[0] = three[1] = three[2] = four[0];
	ck_assert_int_eq(bayes_classify(&P, three, 3, &t, NULL, 0, &r3), 0);
	ck_assert(r3.probability > 0.5 && r3.probability < r2.probability);
	/* Below 1 is invalid. */
	P.dependence = 0.5;
	ck_assert_int_eq(bayes_classify(&P, two, 2, &t, NULL, 0, &r2), -EINVAL);
}
END_TEST

START_TEST(test_header_body_streams)
{
	bayes_totals t = { 10, 10 };
	bayes_token toks[3];
	bayes_result one, split, any;

	P.robinson_s = 0;
	P.dependence = 1;
	P.header_dependence = 1;
	toks[0] = tk("h", 9, 1);        /* 0.9, from the header */
	toks[1] = tk("b1", 3, 7);       /* 0.3, from the body */
	toks[2] = tk("b2", 3, 7);
	/* Streams not known: one chi-square over the three tokens. */
	ck_assert_int_eq(bayes_classify(&P, toks, 3, &t, NULL, 0, &any), 0);
	ck_assert_double_eq_tol(any.probability, 0.5852346071222163, 1e-12);
	/* Known but not asked for: the same. */
	toks[0].stream = BAYES_STREAM_HEADER;
	toks[1].stream = toks[2].stream = BAYES_STREAM_BODY;
	P.header_dependence = 0;
	ck_assert_int_eq(bayes_classify(&P, toks, 3, &t, NULL, 0, &one), 0);
	ck_assert_double_eq_tol(one.probability, any.probability, 1e-15);
	/* Two streams: H_i, S_i of the header (1 token, 2 degrees of
	 * freedom) and of the body (2 tokens, 4), then
	 * H = -ln Q(2 (H_1 + H_2) | 4), S likewise, S / (S + H): the one
	 * header token is no longer outvoted by the two body tokens. */
	P.header_dependence = 1;
	ck_assert_int_eq(bayes_classify(&P, toks, 3, &t, NULL, 0, &split), 0);
	ck_assert_double_eq_tol(split.probability, 0.728055931101846, 1e-12);
	ck_assert_uint_eq(split.used, 3);
	/* Only one stream present: its own chi-square, as if unsplit. */
	toks[0].stream = BAYES_STREAM_BODY;
	ck_assert_int_eq(bayes_classify(&P, toks, 3, &t, NULL, 0, &split), 0);
	ck_assert_double_eq_tol(split.probability, any.probability, 1e-12);
	/* Between 0 and 1 is invalid. */
	P.header_dependence = 0.5;
	ck_assert_int_eq(bayes_classify(&P, toks, 3, &t, NULL, 0, &split),
	    -EINVAL);
}
END_TEST

START_TEST(test_young_model_shrinks_evidence)
{
	bayes_totals t = { 2, 20 };

	P.robinson_s = 0;
	P.young = 10;
	/* Two spam learned: p(w) = 1 becomes 0.5 + 0.5 * 2/10. */
	ck_assert_double_eq_tol(bayes_token_prob(&P, 2, 0, &t), 0.6, 1e-12);
	ck_assert_double_eq_tol(bayes_token_prob(&P, 0, 5, &t), 0.4, 1e-12);
	/* Grown up: no change. */
	t.spam = 10;
	ck_assert_double_eq_tol(bayes_token_prob(&P, 2, 0, &t), 1.0, 1e-12);
	P.young = 0;
	t.spam = 2;
	ck_assert_double_eq_tol(bayes_token_prob(&P, 2, 0, &t), 1.0, 1e-12);
}
END_TEST

START_TEST(test_graham_and_burton_tiny_model)
{
	bayes_totals t = { 10, 20 };
	bayes_token toks[5];
	bayes_result r;

	P.pvalue = BAYES_PVALUE_GRAHAM;
	P.algorithm = BAYES_ALG_GRAHAM;
	toks[0] = tk("free", 8, 0);     /* 0.99 */
	toks[1] = tk("meeting", 0, 10); /* 0.01, more hits: ranks before free */
	toks[2] = tk("offer", 5, 1);    /* 5/6 */
	toks[3] = tk("rare", 1, 1);     /* 0.4 */
	toks[4] = tk("the", 4, 4);      /* 0.5 */
	P.graham_tokens = 3;
	ck_assert_int_eq(bayes_classify(&P, toks, 5, &t, NULL, 0, &r), 0);
	/* .99 * .01 * 5/6 / (that + .01 * .99 * 1/6) = 5/6. */
	ck_assert_double_eq_tol(r.probability, 5.0 / 6.0, 1e-12);
	ck_assert_uint_eq(r.used, 3);
	ck_assert_str_eq(r.top[0].text, "meeting");
	ck_assert_str_eq(r.top[1].text, "free");
	ck_assert_str_eq(r.top[2].text, "offer");

	P.graham_tokens = 2;
	ck_assert_int_eq(bayes_classify(&P, toks, 5, &t, NULL, 0, &r), 0);
	ck_assert_double_eq_tol(r.probability, 0.5, 1e-12);

	P.algorithm = BAYES_ALG_BURTON;
	P.burton_tokens = 4;
	ck_assert_int_eq(bayes_classify(&P, toks, 5, &t, NULL, 0, &r), 0);
	/* 5/6 * .4 / (5/6 * .4 + 1/6 * .6) = 10/13. */
	ck_assert_double_eq_tol(r.probability, 10.0 / 13.0, 1e-12);
	ck_assert_uint_eq(r.used, 4);
}
END_TEST

START_TEST(test_naive_uses_all_tokens)
{
	bayes_totals t = { 10, 10 };
	bayes_token toks[3];
	bayes_result r;

	P.algorithm = BAYES_ALG_NAIVE;
	P.robinson_s = 0;
	toks[0] = tk("a", 9, 1);        /* 0.9 */
	toks[1] = tk("b", 2, 8);        /* 0.2 */
	toks[2] = tk("c", 5, 5);        /* 0.5 */
	ck_assert_int_eq(bayes_classify(&P, toks, 3, &t, NULL, 0, &r), 0);
	/* .9*.2*.5 / (.9*.2*.5 + .1*.8*.5) = 9/13 */
	ck_assert_double_eq_tol(r.probability, 9.0 / 13.0, 1e-12);
	ck_assert_uint_eq(r.used, 3);
}
END_TEST

START_TEST(test_many_tokens_do_not_underflow)
{
	enum { N = 20000 };
	bayes_token *toks = malloc(N * sizeof(*toks));
	bayes_totals t = { 100, 100 };
	bayes_result r;
	int alg;

	ck_assert_ptr_nonnull(toks);
	for (alg = BAYES_ALG_CHI2; alg <= BAYES_ALG_NAIVE; alg++) {
		P.algorithm = alg;
		for (int i = 0; i < N; i++)
			toks[i] = tk(NULL, 99, 1);
		ck_assert_int_eq(bayes_classify(&P, toks, N, &t, NULL, 0, &r), 0);
		ck_assert_double_eq_tol(r.probability, 1.0, 1e-9);
		for (int i = 0; i < N; i++)
			toks[i] = tk(NULL, 1, 99);
		ck_assert_int_eq(bayes_classify(&P, toks, N, &t, NULL, 0, &r), 0);
		ck_assert_double_eq_tol(r.probability, 0.0, 1e-9);
		/* Evenly split evidence: undecided (chi-square, naive: all
		 * tokens; x = 0.5 keeps the halves symmetric), never NaN. */
		P.robinson_x = 0.5;
		for (int i = 0; i < N; i++)
			toks[i] = i % 2 ? tk(NULL, 1, 99) : tk(NULL, 99, 1);
		ck_assert_int_eq(bayes_classify(&P, toks, N, &t, NULL, 0, &r), 0);
		if (alg == BAYES_ALG_CHI2 || alg == BAYES_ALG_NAIVE)
			ck_assert_double_eq_tol(r.probability, 0.5, 1e-6);
		ck_assert(r.probability >= 0.0 && r.probability <= 1.0);
		P.robinson_x = 0.52;
	}
	free(toks);
}
END_TEST

/* A spam tail of exactly 1 made the probability -0, printed "-0.0000". */
START_TEST(test_no_negative_zero)
{
	bayes_totals t = { 100, 200 };
	bayes_token toks[30];
	bayes_result r;

	for (int i = 0; i < 30; i++) {
		toks[i] = tk(NULL, 0, 99);
		toks[i].hash = (uint64_t)i * 7919 + 1;
	}
	ck_assert_int_eq(bayes_classify(&P, toks, 30, &t, NULL, 0, &r), 0);
	ck_assert_double_eq(r.probability, 0.0);
	ck_assert(!signbit(r.probability));
}
END_TEST

START_TEST(test_top_factors_and_texts)
{
	bayes_totals t = { 10, 10 };
	bayes_token toks[4];
	bayes_result r;

	P.robinson_s = 0;
	P.top_n = 2;
	toks[0] = tk("mild", 6, 4);     /* 0.6 */
	toks[1] = tk("strong", 1, 9);   /* 0.1 */
	toks[2] = tk("medium", 8, 2);   /* 0.8 */
	toks[3] = tk("neutral", 5, 5);  /* 0.5, ignored */
	ck_assert_int_eq(bayes_classify(&P, toks, 4, &t, NULL, 0, &r), 0);
	ck_assert_uint_eq(r.ntop, 2);
	ck_assert_str_eq(r.top[0].text, "strong");
	ck_assert_double_eq_tol(r.top[0].prob, 0.1, 1e-12);
	ck_assert_double_eq(r.top[0].innocent_hits, 9);
	ck_assert_str_eq(r.top[1].text, "medium");
	ck_assert_uint_eq(r.top[1].hash, toks[2].hash);
}
END_TEST

/*
 * Many tokens with many ties (the sort behind the factors, and behind
 * Graham's N most significant): the factors come most significant first,
 * ties by more evidence, then in input order, and no token left out ranks
 * before the last one reported.
 */
START_TEST(test_factor_order_many_ties)
{
	enum { N = 1000 };
	static char names[N][16];
	bayes_token toks[N];
	bayes_totals t = { 50, 70 };
	bayes_result r;
	unsigned x = 12345;

	P.algorithm = BAYES_ALG_GRAHAM;
	P.graham_tokens = BAYES_TOP_MAX;
	P.top_n = BAYES_TOP_MAX;
	for (int i = 0; i < N; i++) {
		x = x * 1103515245u + 12345u;
		snprintf(names[i], sizeof(names[i]), "t%d", i);
		toks[i] = tk(names[i], (x >> 16) % 6, (x >> 8) % 6);
	}
	ck_assert_int_eq(bayes_classify(&P, toks, N, &t, NULL, 0, &r), 0);
	ck_assert_uint_eq(r.ntop, BAYES_TOP_MAX);
	for (size_t i = 0; i < r.ntop; i++) {
		int idx = atoi(r.top[i].text + 1);
		double dev = fabs(bayes_token_prob(&P, toks[idx].spam_hits,
		    toks[idx].innocent_hits, &t) - 0.5);
		double hits = toks[idx].spam_hits + toks[idx].innocent_hits;

		ck_assert_double_eq(r.top[i].prob, bayes_token_prob(&P,
		    toks[idx].spam_hits, toks[idx].innocent_hits, &t));
		if (i > 0) {
			int pidx = atoi(r.top[i - 1].text + 1);
			double pdev = fabs(r.top[i - 1].prob - 0.5);
			double phits = toks[pidx].spam_hits +
			    toks[pidx].innocent_hits;

			ck_assert(pdev > dev || (pdev == dev && (phits > hits ||
			    (phits == hits && pidx < idx))));
		}
	}
	/* Nothing left out ranks before the last factor. */
	{
		int lidx = atoi(r.top[r.ntop - 1].text + 1);
		double ldev = fabs(r.top[r.ntop - 1].prob - 0.5);
		double lhits = toks[lidx].spam_hits + toks[lidx].innocent_hits;
		size_t before = 0;

		for (int i = 0; i < N; i++) {
			double dev = fabs(bayes_token_prob(&P, toks[i].spam_hits,
			    toks[i].innocent_hits, &t) - 0.5);
			double hits = toks[i].spam_hits + toks[i].innocent_hits;

			before += dev > ldev || (dev == ldev && (hits > lhits ||
			    (hits == lhits && i < lidx)));
		}
		ck_assert_uint_eq(before, r.ntop - 1);
	}
}
END_TEST

START_TEST(test_empty_and_invalid)
{
	bayes_totals t = { 0, 0 };
	bayes_result r;

	ck_assert_int_eq(bayes_classify(&P, NULL, 0, &t, NULL, 0, &r), 0);
	ck_assert_double_eq(r.probability, 0.5);
	ck_assert_int_eq(r.cls, BAYES_INNOCENT);
	ck_assert_uint_eq(r.ntop, 0);
	P.algorithm = 9;
	ck_assert_int_eq(bayes_classify(&P, NULL, 0, &t, NULL, 0, &r), -EINVAL);
	bayes_params_default(&P);
	P.top_n = BAYES_TOP_MAX + 1;
	ck_assert_int_eq(bayes_classify(&P, NULL, 0, &t, NULL, 0, &r), -EINVAL);
	bayes_params_default(&P);
	P.robinson_x = 1.5;
	ck_assert_int_eq(bayes_classify(&P, NULL, 0, &t, NULL, 0, &r), -EINVAL);
}
END_TEST

START_TEST(test_bnr_patterns_are_bands)
{
	double a[4] = { 0.99, 0.51, 0.02, 0.7 };
	double b[4] = { 0.98, 0.49, 0.01, 0.2 };        /* same bands, then not */
	uint64_t ha[4], hb[4];

	ck_assert_uint_eq(bayes_bnr_patterns(a, 2, ha), 0);
	ck_assert_uint_eq(bayes_bnr_patterns(a, 4, ha), 2);
	ck_assert_uint_eq(bayes_bnr_patterns(b, 4, hb), 2);
	ck_assert_uint_eq(ha[0], hb[0]);
	ck_assert_uint_ne(ha[1], hb[1]);
	ck_assert_uint_ne(ha[0], ha[1]);
}
END_TEST

START_TEST(test_bnr_drops_noise)
{
	bayes_totals t = { 100, 100 };
	bayes_token toks[5], pats[3];
	bayes_result with, without;

	P.robinson_s = 0;
	toks[0] = tk("s1", 99, 1);      /* 0.99 */
	toks[1] = tk("s2", 95, 5);      /* 0.95 */
	toks[2] = tk("odd", 2, 98);     /* 0.02: noise in a spam run */
	toks[3] = tk("s3", 90, 10);     /* 0.9 */
	toks[4] = tk("s4", 99, 1);      /* 0.99 */
	pats[0] = tk(NULL, 40, 0);      /* pattern 0.99/0.95/0.02 is spammy */
	pats[1] = tk(NULL, 0, 0);       /* unknown patterns: not decisive */
	pats[2] = tk(NULL, 0, 0);
	ck_assert_int_eq(bayes_classify(&P, toks, 5, &t, pats, 3, &without), 0);
	ck_assert_uint_eq(without.noise, 0);
	P.bnr = 1;
	ck_assert_int_eq(bayes_classify(&P, toks, 5, &t, pats, 3, &with), 0);
	ck_assert_uint_eq(with.noise, 1);
	ck_assert_uint_eq(with.used, 4);
	ck_assert(with.probability > without.probability);
	for (size_t i = 0; i < with.ntop; i++)
		ck_assert_str_ne(with.top[i].text, "odd");
}
END_TEST

static Suite *bayes_suite(void)
{
	Suite *s = suite_create("bayes");
	TCase *tc = tcase_create("math");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_chi2_q_known_values);
	tcase_add_test(tc, test_chi2_q_large_df_no_underflow);
	tcase_add_test(tc, test_robinson_token_prob);
	tcase_add_test(tc, test_graham_token_prob);
	tcase_add_test(tc, test_one_class_only_is_no_evidence);
	tcase_add_test(tc, test_chi_square_combination);
	tcase_add_test(tc, test_chi_square_surprisal_indicator);
	tcase_add_test(tc, test_chi_square_dependence);
	tcase_add_test(tc, test_header_body_streams);
	tcase_add_test(tc, test_young_model_shrinks_evidence);
	tcase_add_test(tc, test_graham_and_burton_tiny_model);
	tcase_add_test(tc, test_naive_uses_all_tokens);
	tcase_add_test(tc, test_many_tokens_do_not_underflow);
	tcase_add_test(tc, test_no_negative_zero);
	tcase_add_test(tc, test_top_factors_and_texts);
	tcase_add_test(tc, test_factor_order_many_ties);
	tcase_add_test(tc, test_empty_and_invalid);
	tcase_add_test(tc, test_bnr_patterns_are_bands);
	tcase_add_test(tc, test_bnr_drops_noise);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run(bayes_suite());
}
