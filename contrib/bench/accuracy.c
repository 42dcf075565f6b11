/*
 * accuracy -- benchmark driver for contrib/bench/accuracy.sh (not a test):
 * runs the TREC online protocol for spamsift over a list of labelled
 * messages. For each message in order: tokenize, classify (filter_classify),
 * print "<label> <probability> <verdict>", then train on the true label:
 *   teft: the message was learned as classified; a wrong verdict is
 *         corrected with filter_retrain (unlearn, learn right, TCR);
 *   toe:  only what filter_classify chose to learn (an unsure verdict, or
 *         while the model lacks a class) was learned; a wrong verdict is
 *         corrected by filter_retrain.
 * Input lines: "spam PATH" or "ham PATH".
 *
 * "accuracy --shuffle SEED LIST" prints the lines of LIST in the benchmark's
 * order instead: a Fisher-Yates shuffle driven by splitmix64 seeded with
 * SEED, the same on every platform (shuf --random-source fed with a
 * repeated text gave seeds that shared most of their order).
 *
 * Uses the real tokenizer (classifier/msg.h) when built with -DHAVE_MSG;
 * otherwise a TRIVIAL WHITESPACE SPLITTER (development only, marked in the
 * output) stands in for it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>
#include <stdint.h>
#include <time.h>

#include "classifier/filter.h"
#include "classifier/tok.h"
#include "db/db.h"
#ifdef HAVE_MSG
#include "classifier/msg.h"
#endif

static void usage(void)
{
	fprintf(stderr,
	    "usage: accuracy [--mode teft|toe] [--db SPEC] [-o key=value]... LIST\n"
	    "       accuracy --shuffle SEED LIST\n"
	    "  keys: algorithm=chi-square|graham|burton|naive pvalue=robinson|graham\n"
	    "        s=RobinsonS x=RobinsonX mindev=MinDev threshold=SpamThreshold\n"
	    "        bnr=0|1 tcr=0|1 graham=N burton=N dependence=D\n"
	    "        header_dependence=D (0: header and body one stream)\n"
	    "        indicator=surprisal|robinson young=N\n"
	    "        unsure_low=P unsure_high=P (TOE's thick threshold)\n"
	    "        train_unsure=0|1 (TrainUnsure: 0 = TOE learns errors only)\n"
	    "        chained=0|1 osb=0|1 (tokenizer word pairs)\n"
	    "        explain=1 (the telling tokens of each error on stderr)\n");
	exit(2);
}

/*
 * Tokenizer options (Feature chained / osb), used with classifier/msg.
 * Word pairs are on as in the shipped spamsift.conf ("Feature chained").
 */
static int opt_chained = 1, opt_osb, opt_explain;

static int set_param(filter_params *p, const char *kv)
{
	const char *v = strchr(kv, '=');
	size_t k;

	if (v == NULL)
		return -1;
	k = (size_t)(v - kv);
	v++;
#define KEY(s) (k == strlen(s) && strncmp(kv, s, k) == 0)
	if (KEY("algorithm")) {
		if (!strcmp(v, "chi-square"))
			p->bayes.algorithm = BAYES_ALG_CHI2;
		else if (!strcmp(v, "graham"))
			p->bayes.algorithm = BAYES_ALG_GRAHAM;
		else if (!strcmp(v, "burton"))
			p->bayes.algorithm = BAYES_ALG_BURTON;
		else if (!strcmp(v, "naive"))
			p->bayes.algorithm = BAYES_ALG_NAIVE;
		else
			return -1;
	} else if (KEY("pvalue"))
		p->bayes.pvalue = !strcmp(v, "graham") ? BAYES_PVALUE_GRAHAM :
		    BAYES_PVALUE_ROBINSON;
	else if (KEY("s"))
		p->bayes.robinson_s = atof(v);
	else if (KEY("x"))
		p->bayes.robinson_x = atof(v);
	else if (KEY("mindev"))
		p->bayes.min_dev = atof(v);
	else if (KEY("threshold"))
		p->bayes.spam_threshold = atof(v);
	else if (KEY("bnr"))
		p->bayes.bnr = atoi(v);
	else if (KEY("tcr"))
		p->tcr = atoi(v);
	else if (KEY("graham"))
		p->bayes.graham_tokens = atoi(v);
	else if (KEY("burton"))
		p->bayes.burton_tokens = atoi(v);
	else if (KEY("chained"))
		opt_chained = atoi(v);
	else if (KEY("osb"))
		opt_osb = atoi(v);
	else if (KEY("unsure_low"))
		p->unsure_low = atof(v);
	else if (KEY("unsure_high"))
		p->unsure_high = atof(v);
	else if (KEY("train_unsure"))
		p->train_unsure = atoi(v);
	else if (KEY("dependence"))
		p->bayes.dependence = atof(v);
	else if (KEY("header_dependence"))
		p->bayes.header_dependence = atof(v);
	else if (KEY("young"))
		p->bayes.young = atof(v);
	else if (KEY("indicator")) {
		if (!strcmp(v, "surprisal"))
			p->bayes.indicator = BAYES_IND_SURPRISAL;
		else if (!strcmp(v, "robinson"))
			p->bayes.indicator = BAYES_IND_ROBINSON;
		else
			return -1;
	}
	else if (KEY("explain"))
		opt_explain = atoi(v);
	else
		return -1;
	return 0;
#undef KEY
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0, r;

	if (f == NULL)
		return NULL;
	for (;;) {
		if (n + 65536 > cap) {
			char *nb = realloc(buf, cap = cap * 2 + 65536);

			if (nb == NULL) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
		}
		r = fread(buf + n, 1, cap - n, f);
		if (r == 0)
			break;
		n += r;
	}
	fclose(f);
	*len = n;
	return buf;
}

/* splitmix64 (Steele, Lea, Flood 2014): a small, well-mixed PRNG. */
static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Print the lines of path shuffled by seed; 0 or 1 on error. */
static int shuffle(const char *path, uint64_t seed)
{
	size_t len = 0, n = 0, cap = 0;
	char *buf = slurp(path, &len), **lines = NULL;
	uint64_t st = seed;

	if (buf == NULL) {
		perror(path);
		return 1;
	}
	for (size_t i = 0; i < len; i++) {
		if (i > 0 && buf[i - 1] != '\n')
			continue;
		if (n == cap && (lines = realloc(lines, (cap = cap * 2 + 1024) *
		    sizeof(*lines))) == NULL)
			return 1;
		lines[n++] = buf + i;
	}
	for (size_t i = 0; i < len; i++)
		if (buf[i] == '\n')
			buf[i] = '\0';
	/* Fisher-Yates; the modulo bias (n / 2^64) is negligible. */
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)(splitmix64(&st) % i);
		char *t = lines[i - 1];

		lines[i - 1] = lines[j];
		lines[j] = t;
	}
	for (size_t i = 0; i < n; i++)
		if (lines[i] < buf + len)
			printf("%s\n", lines[i]);
	free(lines);
	free(buf);
	return 0;
}

#ifndef HAVE_MSG
/* TRIVIAL WHITESPACE SPLITTER: development stand-in for classifier/msg. */
static void split(tokset *t, const char *buf, size_t len)
{
	size_t i = 0;

	while (i < len) {
		char w[64];
		size_t n = 0;

		while (i < len && isspace((unsigned char)buf[i]))
			i++;
		while (i < len && !isspace((unsigned char)buf[i])) {
			if (n < sizeof(w))
				w[n++] = (char)tolower((unsigned char)buf[i]);
			i++;
		}
		if (n >= 2 && n < sizeof(w))
			tokset_add(t, w, n);
	}
}
#endif

int main(int argc, char **argv)
{
	filter_params p;
	const char *spec = "mem:", *list = NULL;
	int toe = 0, rc;
	char err[512], line[4096];
	db *d;
	tokset *toks;
	FILE *lf;
	time_t now = 1700000000;
#ifdef HAVE_MSG
	msg *m;
#endif

	filter_params_default(&p);
	p.global_model = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--mode") && i + 1 < argc) {
			i++;
			if (!strcmp(argv[i], "toe"))
				toe = 1;
			else if (strcmp(argv[i], "teft"))
				usage();
		} else if (!strcmp(argv[i], "--shuffle") && i + 2 < argc)
			return shuffle(argv[i + 2], strtoull(argv[i + 1], NULL, 10));
		else if (!strcmp(argv[i], "--db") && i + 1 < argc)
			spec = argv[++i];
		else if (!strcmp(argv[i], "-o") && i + 1 < argc) {
			if (set_param(&p, argv[++i]) < 0)
				usage();
		} else if (argv[i][0] == '-')
			usage();
		else
			list = argv[i];
	}
	if (list == NULL)
		usage();
	p.training_mode = toe ? FILTER_MODE_TOE : FILTER_MODE_TEFT;
	if ((rc = db_open(spec, DB_OPEN_CREATE, &d, err, sizeof(err))) < 0) {
		fprintf(stderr, "accuracy: %s\n", err);
		return 1;
	}
	if (tokset_new(0, opt_explain, &toks) < 0)
		return 1;
#ifdef HAVE_MSG
	{
		msg_opts mo;

		msg_opts_default(&mo);
		mo.chained = opt_chained;
		mo.osb = opt_osb;
		if (msg_new(&mo, &m) < 0)
			return 1;
	}
#else
	fprintf(stderr, "accuracy: WARNING: trivial whitespace tokenizer "
	    "(classifier/msg not built)\n");
#endif
	if ((lf = fopen(list, "r")) == NULL) {
		perror(list);
		return 1;
	}
	while (fgets(line, sizeof(line), lf) != NULL) {
		char *path = strchr(line, ' '), *buf;
		size_t len = 0;
		int spam, changed;
		filter_result r;

		line[strcspn(line, "\n")] = '\0';
		if (path == NULL)
			continue;
		*path++ = '\0';
		spam = !strcmp(line, "spam");
		if ((buf = slurp(path, &len)) == NULL) {
			perror(path);
			return 1;
		}
		tokset_clear(toks);
#ifdef HAVE_MSG
		msg_reset(m, toks);
		if (msg_write(m, buf, len) < 0 || msg_end(m) < 0) {
			fprintf(stderr, "accuracy: %s: parse error\n", path);
			return 1;
		}
#else
		split(toks, buf, len);
#endif
		free(buf);
		now += 60;
		if ((rc = filter_classify(d, "bench", toks, NULL, &p, now,
		    &r)) < 0) {
			fprintf(stderr, "accuracy: classify %s: %s (%s)\n", path,
			    strerror(-rc), db_errmsg(d));
			return 1;
		}
		printf("%s %.17g %s\n", spam ? "spam" : "ham",
		    r.verdict.probability,
		    r.verdict.cls == BAYES_SPAM ? "spam" : "ham");
		if (opt_explain && (r.verdict.cls == BAYES_SPAM) != spam) {
			fprintf(stderr, "%s %s p=%.6f used=%zu\n", spam ? "FN" :
			    "FP", path, r.verdict.probability, r.verdict.used);
			for (size_t i = 0; i < r.verdict.ntop; i++)
				fprintf(stderr, "  %.4f %6.1f %6.1f %s\n",
				    r.verdict.top[i].prob,
				    r.verdict.top[i].spam_hits,
				    r.verdict.top[i].innocent_hits,
				    r.verdict.top[i].text ?
				    r.verdict.top[i].text : "?");
		}
		if ((r.verdict.cls == BAYES_SPAM) != spam &&
		    (rc = filter_retrain(d, "bench", r.sig_id, spam, NULL, &p,
		    now, &changed)) < 0) {
			fprintf(stderr, "accuracy: retrain %s: %s (%s)\n", path,
			    strerror(-rc), db_errmsg(d));
			return 1;
		}
	}
	fclose(lf);
#ifdef HAVE_MSG
	msg_free(m);
#endif
	tokset_free(toks);
	db_close(d);
	return 0;
}
