/*
 * bayes -- the statistics of a spam verdict: per-token probabilities,
 * combining methods (Robinson/Fisher chi-square, Graham, Burton, naive Bayes),
 * Bayesian noise reduction, and the result with its most telling tokens.
 *
 * Pure math over counts handed in by the caller: no storage, no SQLite,
 * libmilter, syslog or conf/. Counts are doubles so that a caller may merge
 * weighted models (classifier/filter). Thread-safe: no global state.
 *
 * Parameters come in a bayes_params filled by the caller (milter/CLI) from the
 * configuration:
 *   Algorithm      chi-square|graham|burton|naive -> algorithm  BAYES_ALG_*
 *   PValue         robinson|graham                -> pvalue     BAYES_PVALUE_*
 *   RobinsonS      -> robinson_s   (strength of the prior, default 0.0003)
 *   RobinsonX      -> robinson_x   (prior for an unknown token, default 0.52)
 *   MinDev         -> min_dev      (chi-square: ignore |f-0.5| < MinDev, 0.1)
 *   (no key)       -> dependence   (chi-square: tokens per independent
 *                                   observation, Brown's correction; the
 *                                   body's when the streams are split, 12)
 *   (no key)       -> header_dependence (chi-square: the same for the
 *                                   header's tokens, 3; 0 = one stream)
 *   (no key)       -> indicator    (chi-square: BAYES_IND_*, surprisal)
 *   (no key)       -> young        (shrink token evidence while a class has
 *                                   fewer messages than this, 10)
 *   SpamThreshold  -> spam_threshold (probability >= it is spam, 0.9)
 *   GrahamTokens   -> graham_tokens (15)
 *   BurtonTokens   -> burton_tokens (27)
 *   Feature noise  -> bnr (non-zero: Bayesian noise reduction)
 * bayes_params_default() sets these defaults.
 */
#ifndef SPAMSIFT_BAYES_H
#define SPAMSIFT_BAYES_H

#include <stddef.h>
#include <stdint.h>

/* Combining methods (config key Algorithm). */
#define BAYES_ALG_CHI2   0  /* Robinson/Fisher inverse chi-square (default) */
#define BAYES_ALG_GRAHAM 1  /* Graham: product of the N most significant */
#define BAYES_ALG_BURTON 2  /* Burton: as Graham with a wider window */
#define BAYES_ALG_NAIVE  3  /* naive Bayes over all tokens, log space */

/* Per-token probability formulas (config key PValue). */
#define BAYES_PVALUE_ROBINSON 0
#define BAYES_PVALUE_GRAHAM   1

/*
 * Final indicators of the chi-square method (bayes_params.indicator), from
 * the two tails qh = Q(-2 sum ln f) (small: innocent evidence) and
 * qs = Q(-2 sum ln(1-f)) (small: spam evidence):
 * SURPRISAL: S / (S + H) with S = -ln qs, H = -ln qh, the share of the
 *   combined surprisal that speaks for spam (0.5 when there is none);
 * ROBINSON: (1 + qh - qs) / 2, Robinson's indicator (bogofilter). It is
 *   exactly 0.5 as soon as both tails are below ~1e-16, whatever their
 *   balance, which ranks every message with strong evidence both ways alike.
 */
#define BAYES_IND_SURPRISAL 0
#define BAYES_IND_ROBINSON  1

/* Verdict classes. */
#define BAYES_INNOCENT    0
#define BAYES_SPAM        1
#define BAYES_WHITELISTED 2  /* set by classifier/filter, never by bayes */
#define BAYES_BLOCKLISTED 3  /* set by classifier/filter, never by bayes */

/* Most telling tokens a result can carry. */
#define BAYES_TOP_MAX 32

/* BNR: window length (consecutive tokens) and p-value band width. */
#define BAYES_BNR_WINDOW 3
#define BAYES_BNR_BANDS 20  /* bands of 0.05: band = round(p * 20) */

typedef struct bayes_params {
	int algorithm;          /* BAYES_ALG_* (Algorithm) */
	int pvalue;             /* BAYES_PVALUE_* (PValue) */
	double robinson_s;      /* Robinson's s: weight of the prior (RobinsonS) */
	double robinson_x;      /* Robinson's x: prior for unseen tokens (RobinsonX) */
	double min_dev;         /* chi-square: minimum |f - 0.5| to count (MinDev) */
	double dependence;      /* chi-square: divide the statistic and its degrees
	                           of freedom by this (>= 1; 1 = tokens independent);
	                           with header_dependence, the body's */
	double header_dependence; /* chi-square: the header's tokens' factor; >= 1:
	                           header and body are two evidence streams (see
	                           bayes_classify), 0: one stream */
	int indicator;          /* chi-square: BAYES_IND_* */
	double young;           /* while the smaller class total t is below this,
	                           scale every |f - 0.5| by t / young (0 = never) */
	double spam_threshold;  /* spam when probability >= this (SpamThreshold) */
	int graham_tokens;      /* tokens combined by Graham (GrahamTokens) */
	int burton_tokens;      /* tokens combined by Burton (BurtonTokens) */
	int bnr;                /* non-zero: Bayesian noise reduction (Feature noise) */
	int top_n;              /* telling tokens to report, 0..BAYES_TOP_MAX */
} bayes_params;

/* Where a token came from (bayes_token.stream). */
#define BAYES_STREAM_ANY    0  /* not known: one stream for the message */
#define BAYES_STREAM_HEADER 1  /* the message's (top-level) header */
#define BAYES_STREAM_BODY   2  /* its body, MIME part headers included */

/* One token of a message with its counts in the (merged) model. */
typedef struct bayes_token {
	uint64_t hash;          /* token hash (tok_hash) */
	const char *text;       /* token text or NULL; borrowed */
	double spam_hits;       /* spam messages of the model containing it */
	double innocent_hits;   /* innocent messages of the model containing it */
	int stream;             /* BAYES_STREAM_*; ANY when unknown */
} bayes_token;

/* The model's message totals. */
typedef struct bayes_totals {
	double spam;            /* spam messages learned */
	double innocent;        /* innocent messages learned */
} bayes_totals;

/* One telling token of a verdict. */
typedef struct bayes_factor {
	uint64_t hash;          /* token hash */
	const char *text;       /* token text or NULL; borrowed from the input */
	double prob;            /* its spam probability as used */
	double spam_hits;       /* its spam count */
	double innocent_hits;   /* its innocent count */
} bayes_factor;

/* A verdict. */
typedef struct bayes_result {
	int cls;                /* BAYES_SPAM, BAYES_INNOCENT (or _WHITELISTED/_BLOCKLISTED) */
	double probability;     /* spam probability 0..1 */
	double confidence;      /* |2 * probability - 1|: 0 undecided .. 1 certain */
	size_t used;            /* tokens that entered the combination */
	size_t noise;           /* tokens dropped by BNR */
	size_t ntop;            /* entries in top */
	bayes_factor top[BAYES_TOP_MAX]; /* most telling first (largest |p-0.5|) */
} bayes_result;

/* bayes_params_default -- fill p with the documented defaults. */
void bayes_params_default(bayes_params *p);

/*
 * bayes_token_prob -- spam probability of a token seen spam_hits times in
 * spam and innocent_hits times in innocent messages of a model with totals t.
 *
 * Robinson (BAYES_PVALUE_ROBINSON): with the hit ratios normalised by the
 * totals, p(w) = (b/Ns) / (b/Ns + g/Ni), n = b + g, and
 * f(w) = (s*x + n*p(w)) / (s + n); an unseen token gets x.
 * Graham (BAYES_PVALUE_GRAHAM): innocent hits count double; a token with
 * b + 2g < 5 gets 0.4 (Graham's value for unknown words); otherwise
 * p = min(1,b/Ns) / (min(1,2g/Ni) + min(1,b/Ns)) clamped to [0.01, 0.99].
 * While either total is 0 (one class never learned) every token gets x
 * (Graham: 0.4): its absence from the other class is no evidence. A zero
 * total is otherwise treated as 1. While the smaller total m is below
 * p->young, the result f becomes 0.5 + (f - 0.5) * m / young: after a handful
 * of messages of a class, a token's absence from them is weak evidence
 * (Robinson's s alone lets one sighting in 3 messages give 0.003).
 * Returns a value in [0, 1].
 */
double bayes_token_prob(const bayes_params *p, double spam_hits,
    double innocent_hits, const bayes_totals *t);

/*
 * bayes_chi2_q -- upper tail Q(chi | 2*half_df) of the chi-square
 * distribution with an even number 2*half_df of degrees of freedom: the
 * probability that such a variable exceeds chi. half_df >= 1, chi >= 0.
 * Computed in log space (see bayes.c), so it neither underflows nor
 * overflows for thousands of degrees of freedom.
 */
double bayes_chi2_q(double chi, size_t half_df);

/*
 * bayes_bnr_patterns -- the BNR pattern hashes of a message whose token
 * probabilities in message order are probs[0..n). Each window of
 * BAYES_BNR_WINDOW consecutive tokens gives the pattern of their p-value bands;
 * its hash goes to out[i] for window i. Writes max(0, n - WINDOW + 1) hashes
 * (the caller sizes out with n) and returns that count. Patterns are learned
 * and looked up like tokens; their hash space is disjoint from real tokens'
 * in practice (the pattern text starts with a control byte).
 */
size_t bayes_bnr_patterns(const double *probs, size_t n, uint64_t *out);

/*
 * bayes_classify -- combine a message's tokens into a verdict.
 * p: parameters. toks[0..n): the message's tokens in message order with their
 * counts (n may be 0: probability 0.5, innocent). t: the model's totals.
 * pats[0..npats): with p->bnr, the counts of the BNR patterns in the order
 * bayes_bnr_patterns() produced them from the token probabilities
 * (bayes_token_prob of toks); NULL/0 otherwise. BNR drops each token of a
 * window whose pattern is decisive (|p-0.5| >= 0.25) when the token's
 * probability lies more than 0.3 from the pattern's.
 * out: the verdict; its factors borrow texts from toks.
 * Chi-square (Fisher's method) assumes independent probabilities; a
 * message's tokens are not (a word, its two word pairs, an address with its
 * host and domain), so the statistic -2 sum ln f of the n counted tokens and
 * its 2n degrees of freedom are both divided by p->dependence (Brown's
 * method for dependent p-values with a fixed factor; degrees of freedom
 * rounded, at least 2), then p->indicator combines the two tails.
 * Two streams: with p->header_dependence >= 1 and at least one token marked
 * BAYES_STREAM_HEADER or _BODY, the header's counted tokens (factor
 * header_dependence) and the rest (factor dependence) each give their own
 * two tails, and each pair of tails is combined by Fisher's method again
 * (-2 sum ln q over the K non-empty streams, 2K degrees of freedom): a
 * message's header and body are separate witnesses, and the many correlated
 * words of a body no longer drown the few tokens of its header.
 * Which tokens count: chi-square every token with |f-0.5| >= min_dev
 * (bogofilter); Graham and Burton the graham_tokens/burton_tokens tokens of
 * largest |f-0.5| (DSPAM); naive Bayes every token.
 * Returns 0, -EINVAL on bad parameters, -ENOMEM.
 */
int bayes_classify(const bayes_params *p, const bayes_token *toks, size_t n,
    const bayes_totals *t, const bayes_token *pats, size_t npats,
    bayes_result *out);

#endif
