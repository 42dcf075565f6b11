/*
 * tokbench -- tokenizer benchmark driver: reads each file named on the
 * command line (or listed one per line on stdin with -l), or an mbox on
 * stdin (-s: a new message at each "From " line, as bogolexer reads it),
 * tokenizes each message with msg_write, and prints MB/s (of CPU time spent
 * reading and parsing, so a busy machine skews it less), tokens and peak
 * RSS. With -t, prints the tokens instead (a debugging aid). Not installed.
 */
#include "config.h"

#include <errno.h>
#include <magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "classifier/msg.h"
#include "classifier/tok.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int one(msg *m, tokset *set, const char *path, char *buf, size_t cap,
	size_t *bytes, double *secs)
{
	FILE *f = fopen(path, "rb");
	size_t n;
	double t0;

	if (f == NULL) {
		fprintf(stderr, "tokbench: %s: %s\n", path, strerror(errno));
		return -1;
	}
	n = fread(buf, 1, cap, f);
	fclose(f);
	t0 = now();
	tokset_clear(set);
	msg_reset(m, set);
	if (msg_write(m, buf, n) < 0 || msg_end(m) < 0) {
		fprintf(stderr, "tokbench: %s: out of memory\n", path);
		return -1;
	}
	*secs += now() - t0;
	*bytes += n;
	return 0;
}

int main(int argc, char **argv)
{
	msg_opts o;
	msg *m;
	tokset *set;
	magic_t mg = NULL;
	int show = 0, list = 0, i, use_magic = 0, mbox = 0;
	size_t cap = 64 << 20, bytes = 0, tokens = 0, files = 0;
	double secs = 0;
	char *buf = malloc(cap), line[4096];
	struct rusage ru;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-t") == 0)
			show = 1;
		else if (strcmp(argv[i], "-l") == 0)
			list = 1;
		else if (strcmp(argv[i], "-m") == 0)
			use_magic = 1;
		else if (strcmp(argv[i], "-s") == 0)
			mbox = 1;
		else {
			fprintf(stderr, "usage: tokbench [-t] [-m] [-l | -s | FILE...]\n");
			return 2;
		}
	}
	msg_opts_default(&o);
	if (use_magic) {
		mg = magic_open(MAGIC_MIME_TYPE);
		if (mg == NULL || magic_load(mg, NULL) != 0)
			return 1;
		o.magic = mg;
	}
	if (buf == NULL || tokset_new(0, show, &set) < 0 || msg_new(&o, &m) < 0)
		return 1;
	if (mbox) {
		char *ln = NULL;
		size_t lcap = 0;
		ssize_t n;
		int in_msg = 0;
		double t0 = now();

		msg_reset(m, set);
		while ((n = getline(&ln, &lcap, stdin)) > 0) {
			if (n >= 5 && memcmp(ln, "From ", 5) == 0 && in_msg) {
				if (msg_end(m) < 0)
					return 1;
				files++;
				tokens += tokset_count(set);
				tokset_clear(set);
				msg_reset(m, set);
			}
			in_msg = 1;
			if (msg_write(m, ln, (size_t)n) < 0)
				return 1;
			bytes += (size_t)n;
		}
		if (in_msg) {
			if (msg_end(m) < 0)
				return 1;
			files++;
			tokens += tokset_count(set);
		}
		secs = now() - t0;
		free(ln);
	}
	for (; !mbox;) {
		const char *path;

		if (list) {
			if (fgets(line, sizeof(line), stdin) == NULL)
				break;
			line[strcspn(line, "\n")] = '\0';
			path = line;
		} else {
			if (i >= argc)
				break;
			path = argv[i++];
		}
		if (one(m, set, path, buf, cap, &bytes, &secs) < 0)
			continue;
		files++;
		tokens += tokset_count(set);
		if (show) {
			for (size_t k = 0; k < tokset_count(set); k++)
				printf("%s\n", tokset_text(set, k));
		}
	}
	getrusage(RUSAGE_SELF, &ru);
	if (!show)
		printf("files %zu bytes %zu tokens %zu seconds %.3f MB/s %.1f maxrss_kib %ld\n",
		    files, bytes, tokens, secs, secs > 0 ? (double)bytes / 1e6 / secs : 0.0,
		    ru.ru_maxrss);
	msg_free(m);
	tokset_free(set);
	if (mg != NULL)
		magic_close(mg);
	free(buf);
	return 0;
}
