/*
 * bayes -- per-token probabilities, combining methods, Bayesian noise
 * reduction. Pure math: no storage, no SQLite, libmilter, syslog or conf/.
 *
 * Underflow: no method multiplies probabilities. Products are sums of
 * logarithms, every probability entering a logarithm is clamped to
 * [BAYES_PMIN, 1 - BAYES_PMIN], and the chi-square tail is a log-sum-exp
 * (bayes_chi2_q), so messages with tens of thousands of tokens neither
 * underflow to 0 nor produce NaN.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classifier/bayes.h"
#include "classifier/tok.h"

/* Smallest probability fed to log(): keeps one token from deciding alone. */
#define BAYES_PMIN 1e-6

/* BNR: a pattern is decisive beyond this distance from 0.5 ... */
#define BNR_DECISIVE 0.25
/* ... and then a token of its window farther than this from it is noise. */
#define BNR_RADIUS 0.30

void bayes_params_default(bayes_params *p)
{
	memset(p, 0, sizeof(*p));
	p->algorithm = BAYES_ALG_CHI2;
	p->pvalue = BAYES_PVALUE_ROBINSON;
	p->robinson_s = 0.0003;
	p->robinson_x = 0.52;
	p->min_dev = 0.1;
	p->dependence = 12.0;
	p->header_dependence = 3.0;
	p->indicator = BAYES_IND_SURPRISAL;
	p->young = 10.0;
	p->spam_threshold = 0.9;
	p->graham_tokens = 15;
	p->burton_tokens = 27;
	p->bnr = 0;
	p->top_n = 10;
}

static double clampp(double v)
{
	if (v < BAYES_PMIN)
		return BAYES_PMIN;
	if (v > 1.0 - BAYES_PMIN)
		return 1.0 - BAYES_PMIN;
	return v;
}

/* Shrink f towards 0.5 while the smaller class total m is below young. */
static double young(const bayes_params *p, double f, double m)
{
	if (p->young > 0 && m < p->young)
		return 0.5 + (f - 0.5) * m / p->young;
	return f;
}

/* The PValue formula itself (see bayes_token_prob); both totals > 0. */
static double raw_prob(const bayes_params *p, double b, double g, double ns,
    double ni)
{
	if (p->pvalue == BAYES_PVALUE_GRAHAM) {
		double rb, rg, v;

		g *= 2.0;
		if (b + g < 5.0)
			return 0.4;
		rb = fmin(1.0, b / ns);
		rg = fmin(1.0, g / ni);
		v = rb / (rb + rg);
		return fmax(0.01, fmin(0.99, v));
	}
	/* Robinson: the ratio of per-class frequencies, shrunk towards x by a
	 * prior worth s observations. */
	{
		double n = b + g, pw, s = p->robinson_s, x = p->robinson_x;

		if (n <= 0)
			return x;
		pw = (b / ns) / (b / ns + g / ni);
		if (s + n <= 0)
			return pw;
		return (s * x + n * pw) / (s + n);
	}
}

double bayes_token_prob(const bayes_params *p, double b, double g,
    const bayes_totals *t)
{
	double ns = t->spam > 0 ? t->spam : 1.0;
	double ni = t->innocent > 0 ? t->innocent : 1.0;

	if (b < 0)
		b = 0;
	if (g < 0)
		g = 0;
	/* Until both classes have been learned, a token's presence in one of
	 * them says nothing about the other: no evidence. */
	if (!(t->spam > 0) || !(t->innocent > 0))
		return p->pvalue == BAYES_PVALUE_GRAHAM ? 0.4 : p->robinson_x;
	return young(p, raw_prob(p, b, g, ns, ni), fmin(ns, ni));
}

/*
 * Q(chi | 2k) = exp(-m) * sum_{i=0}^{k-1} m^i / i!, m = chi / 2.
 * exp(-m) underflows past m ~ 745 although the sum may be huge, so the sum
 * is taken in log space: with l_i = -m + i ln m - ln i!, the terms are largest
 * at i* = min(k-1, floor(m)); Q = exp(l_{i*}) * sum_i exp(l_i - l_{i*}), where
 * the ratios exp(l_i - l_{i*}) are at most 1 and are walked outwards from i*
 * by the recurrences t_{i+1} = t_i m / (i+1), t_{i-1} = t_i i / m, stopping
 * once a term is below 1e-17 of the sum. exp(l_{i*}) itself may underflow to 0
 * only when Q is below ~1e-308, where 0 is the right answer.
 */
/* ln Q(chi | 2k), the sum below left in log space; -inf when k is 0. */
static double chi2_lnq(double chi, size_t k)
{
	double m, lm, lmax, sum, t, lg;
	size_t imax, i;
	int sign;

	if (k == 0)
		return -INFINITY;
	if (!(chi > 0))
		return 0.0;
	m = chi / 2.0;
	lm = log(m);
	imax = m < (double)(k - 1) ? (size_t)m : k - 1;
	lg = lgamma_r((double)imax + 1.0, &sign);
	lmax = -m + (double)imax * lm - lg;
	sum = 1.0;
	for (t = 1.0, i = imax; i + 1 < k; i++) {
		t *= m / (double)(i + 1);
		sum += t;
		if (t < sum * 1e-17)
			break;
	}
	for (t = 1.0, i = imax; i > 0; i--) {
		t *= (double)i / m;
		sum += t;
		if (t < sum * 1e-17)
			break;
	}
	t = lmax + log(sum);
	return t > 0.0 ? 0.0 : t;
}

double bayes_chi2_q(double chi, size_t k)
{
	return exp(chi2_lnq(chi, k));
}

size_t bayes_bnr_patterns(const double *probs, size_t n, uint64_t *out)
{
	char buf[32];
	size_t i, cnt;

	if (n < BAYES_BNR_WINDOW)
		return 0;
	cnt = n - BAYES_BNR_WINDOW + 1;
	for (i = 0; i < cnt; i++) {
		int len = snprintf(buf, sizeof(buf), "\001bnr:%ld,%ld,%ld",
		    lround(probs[i] * BAYES_BNR_BANDS),
		    lround(probs[i + 1] * BAYES_BNR_BANDS),
		    lround(probs[i + 2] * BAYES_BNR_BANDS));
		out[i] = tok_hash(buf, (size_t)len);
	}
	return cnt;
}

/* A token considered for the combination. */
struct cand {
	double prob;    /* its probability */
	double dev;     /* |prob - 0.5| */
	double hits;    /* spam + innocent hits, breaks ties */
	size_t idx;     /* index into the input */
	int header;     /* from the header stream */
};

/*
 * Most significant first; ties by more evidence, then by input order. A
 * strict total order (idx is unique), so every correct sort gives the same
 * order, and the sums below the same bits.
 */
static int cand_before(const struct cand *x, const struct cand *y)
{
	if (x->dev != y->dev)
		return x->dev > y->dev;
	if (x->hits != y->hits)
		return x->hits > y->hits;
	return x->idx < y->idx;
}

/*
 * Sort a[0..n) with cand_before, using tmp (n entries): insertion sort of
 * runs of 16, then merges. Not qsort: its indirect comparator calls were 4%
 * of the milter's CPU with learning off.
 */
static void cand_sort(struct cand *a, struct cand *tmp, size_t n)
{
	enum { RUN = 16 };
	struct cand *src = a, *dst = tmp;

	for (size_t lo = 0; lo < n; lo += RUN) {
		size_t hi = n - lo > RUN ? lo + RUN : n;

		for (size_t i = lo + 1; i < hi; i++) {
			struct cand v = a[i];
			size_t j = i;

			for (; j > lo && cand_before(&v, &a[j - 1]); j--)
				a[j] = a[j - 1];
			a[j] = v;
		}
	}
	for (size_t w = RUN; w < n; w *= 2) {
		for (size_t lo = 0; lo < n; lo += 2 * w) {
			size_t mid = n - lo > w ? lo + w : n;
			size_t hi = n - mid > w ? mid + w : n;
			size_t i = lo, j = mid, k = lo;

			while (i < mid && j < hi)
				dst[k++] = cand_before(&src[j], &src[i]) ?
				    src[j++] : src[i++];
			while (i < mid)
				dst[k++] = src[i++];
			while (j < hi)
				dst[k++] = src[j++];
		}
		struct cand *t = src;

		src = dst;
		dst = t;
	}
	if (src != a)
		memcpy(a, src, n * sizeof(*a));
}

/*
 * Fisher/Robinson: for the n counted probabilities f and the dependence
 * factor D, with k = max(1, round(n / D)),
 * qh = Q(-2 sum ln f / D | 2k) is small when the tokens look innocent and
 * qs = Q(-2 sum ln(1-f) / D | 2k) is small when they look spammy;
 * the indicator is S / (S + H) with S = -ln qs, H = -ln qh (surprisal; both
 * taken from the log-space tail, so they stay finite and ordered where the
 * tails themselves underflow), or Robinson's (1 + qh - qs) / 2.
 * Split (two streams): the header's tokens (D = header_dependence) and the
 * body's (D = dependence) each give H_i and S_i as above; then
 * H = -ln Q(2 sum H_i | 2K), S likewise, over the K non-empty streams
 * (Fisher's method applied to the streams' tails).
 */

/* -ln of the two tails (*hs innocent, *ss spam) of the tokens of c[0..n)
 * with header == which (which < 0: all), factor dep; *m the tokens taken. */
static void chi2_tails(const struct cand *c, size_t n, int which, double dep,
    double *hs, double *ss, size_t *m)
{
	double lf = 0.0, l1f = 0.0, kd;
	size_t k, cnt = 0;

	for (size_t i = 0; i < n; i++) {
		double f;

		if (which >= 0 && c[i].header != which)
			continue;
		f = clampp(c[i].prob);
		lf += log(f);
		l1f += log1p(-f);
		cnt++;
	}
	*m = cnt;
	*hs = *ss = 0.0;
	if (cnt == 0)
		return;
	if (!(dep >= 1.0))
		dep = 1.0;
	kd = floor((double)cnt / dep + 0.5);
	k = kd < 1.0 ? 1 : (size_t)kd;
	*hs = -chi2_lnq(-2.0 * lf / dep, k);
	*ss = -chi2_lnq(-2.0 * l1f / dep, k);
}

static double combine_chi2(const bayes_params *p, const struct cand *c,
    size_t n, int split)
{
	double hs, ss;
	size_t m;

	if (n == 0)
		return 0.5;
	if (split) {
		double h1, s1, h2, s2;
		size_t m1, m2, k;

		chi2_tails(c, n, 1, p->header_dependence, &h1, &s1, &m1);
		chi2_tails(c, n, 0, p->dependence, &h2, &s2, &m2);
		k = (m1 > 0) + (m2 > 0);
		hs = -chi2_lnq(2.0 * (h1 + h2), k);
		ss = -chi2_lnq(2.0 * (s1 + s2), k);
	} else
		chi2_tails(c, n, -1, p->dependence, &hs, &ss, &m);
	if (p->indicator == BAYES_IND_ROBINSON)
		return (1.0 + exp(-hs) - exp(-ss)) / 2.0;
	if (!(hs + ss > 0.0))
		return 0.5;
	return ss / (hs + ss);
}

/*
 * Bayes' rule with equal priors (Graham, Burton, naive):
 * P = prod p / (prod p + prod (1-p)) = 1 / (1 + exp(sum ln(1-p) - sum ln p)),
 * the sums of logs avoiding the underflow of the products.
 */
static double combine_product(const struct cand *c, size_t n)
{
	double d = 0.0;

	if (n == 0)
		return 0.5;
	for (size_t i = 0; i < n; i++) {
		double f = clampp(c[i].prob);

		d += log1p(-f) - log(f);
	}
	if (d > 700.0)
		return 0.0;
	if (d < -700.0)
		return 1.0;
	return 1.0 / (1.0 + exp(d));
}

/* Mark as noise (BNR) the tokens that disagree with a decisive pattern. */
static void bnr_mark(const bayes_params *p, const double *probs, size_t n,
    const bayes_token *pats, size_t npats, const bayes_totals *t,
    unsigned char *noise)
{
	size_t cnt = n >= BAYES_BNR_WINDOW ? n - BAYES_BNR_WINDOW + 1 : 0;

	if (npats < cnt)
		cnt = npats;
	for (size_t i = 0; i < cnt; i++) {
		double pp = bayes_token_prob(p, pats[i].spam_hits,
		    pats[i].innocent_hits, t);

		if (fabs(pp - 0.5) < BNR_DECISIVE)
			continue;
		for (size_t j = i; j < i + BAYES_BNR_WINDOW; j++)
			if (fabs(probs[j] - pp) > BNR_RADIUS)
				noise[j] = 1;
	}
}

int bayes_classify(const bayes_params *p, const bayes_token *toks, size_t n,
    const bayes_totals *t, const bayes_token *pats, size_t npats,
    bayes_result *out)
{
	struct cand *c = NULL;
	double *probs = NULL;
	unsigned char *noise = NULL;
	size_t nc = 0, use, i;
	double prob;
	int split = 0;

	memset(out, 0, sizeof(*out));
	out->probability = 0.5;
	out->cls = BAYES_INNOCENT;
	if (p == NULL || t == NULL || (n > 0 && toks == NULL) ||
	    (npats > 0 && pats == NULL) || p->algorithm < BAYES_ALG_CHI2 ||
	    p->algorithm > BAYES_ALG_NAIVE || p->top_n < 0 ||
	    p->top_n > BAYES_TOP_MAX || !(p->spam_threshold >= 0.0) ||
	    p->spam_threshold > 1.0 || p->robinson_s < 0 ||
	    p->robinson_x < 0 || p->robinson_x > 1 || !(p->dependence >= 1.0) ||
	    !(p->header_dependence == 0.0 || p->header_dependence >= 1.0) ||
	    (p->indicator != BAYES_IND_SURPRISAL &&
	    p->indicator != BAYES_IND_ROBINSON) || !(p->young >= 0.0))
		return -EINVAL;
	if (n > 0) {
		c = malloc(2 * n * sizeof(*c));     /* and the sort's room */
		probs = malloc(n * sizeof(*probs));
		noise = calloc(n, 1);
		if (c == NULL || probs == NULL || noise == NULL) {
			free(c);
			free(probs);
			free(noise);
			return -ENOMEM;
		}
	}
	for (i = 0; i < n; i++)
		probs[i] = bayes_token_prob(p, toks[i].spam_hits,
		    toks[i].innocent_hits, t);
	if (p->bnr && npats > 0)
		bnr_mark(p, probs, n, pats, npats, t, noise);
	for (i = 0; i < n; i++) {
		if (noise[i]) {
			out->noise++;
			continue;
		}
		c[nc].prob = probs[i];
		c[nc].dev = fabs(probs[i] - 0.5);
		c[nc].hits = toks[i].spam_hits + toks[i].innocent_hits;
		c[nc].idx = i;
		c[nc].header = toks[i].stream == BAYES_STREAM_HEADER;
		if (toks[i].stream != BAYES_STREAM_ANY)
			split = p->header_dependence >= 1.0;
		if (p->algorithm == BAYES_ALG_CHI2 && c[nc].dev < p->min_dev)
			continue;
		nc++;
	}
	if (nc > 1)
		cand_sort(c, c + n, nc);
	use = nc;
	switch (p->algorithm) {
	case BAYES_ALG_CHI2:
		prob = combine_chi2(p, c, use, split);
		break;
	case BAYES_ALG_GRAHAM:
		if (p->graham_tokens > 0 && use > (size_t)p->graham_tokens)
			use = (size_t)p->graham_tokens;
		prob = combine_product(c, use);
		break;
	case BAYES_ALG_BURTON:
		if (p->burton_tokens > 0 && use > (size_t)p->burton_tokens)
			use = (size_t)p->burton_tokens;
		prob = combine_product(c, use);
		break;
	default:
		prob = combine_product(c, use);
		break;
	}
	if (!(prob >= 0.0))
		prob = 0.5;     /* NaN cannot happen, but never report it */
	if (prob > 1.0)
		prob = 1.0;
	if (prob == 0.0)
		prob = 0.0;     /* not -0.0: printed "-0.0000" */
	out->probability = prob;
	out->confidence = fabs(2.0 * prob - 1.0);
	out->cls = prob >= p->spam_threshold ? BAYES_SPAM : BAYES_INNOCENT;
	out->used = use;
	for (i = 0; i < use && i < (size_t)p->top_n; i++) {
		const bayes_token *tk = &toks[c[i].idx];

		out->top[i].hash = tk->hash;
		out->top[i].text = tk->text;
		out->top[i].prob = c[i].prob;
		out->top[i].spam_hits = tk->spam_hits;
		out->top[i].innocent_hits = tk->innocent_hits;
	}
	out->ntop = i;
	free(c);
	free(probs);
	free(noise);
	return 0;
}
