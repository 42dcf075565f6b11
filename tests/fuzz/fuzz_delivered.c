/*
 * fuzz_delivered -- libFuzzer target for classifier/delivered.c, which
 * `spamsift train --source error` and classify run on any message they are
 * given: each input's Return-Path is read (delivered_sender), and it is
 * undone with an ASCII tag, a tag past ASCII and a tag taken from
 * the input itself, with none to DELIVERED_MAX_RECEIVED + 1 Received
 * fields and with and without DELIVERED_ADDED_SUBJECT. The copy must be
 * shorter than the input and made of its bytes in order (it only removes);
 * any crash, leak or undefined behaviour is a bug. Must not depend on:
 * libmilter, SQLite.
 *
 * Built with --enable-fuzzers (CC=clang). Run (tests/fuzz/run.sh does this):
 *   tests/fuzz/fuzz_delivered -max_len=65536 CORPUS_DIR $(srcdir)/tests/data
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "classifier/delivered.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* out is a subsequence of in, and shorter. */
static void check(const char *in, size_t n, const char *out, size_t m)
{
	size_t j = 0;

	if (m >= n && n > 0)
		abort();
	for (size_t i = 0; i < n && j < m; i++)
		if (in[i] == out[j])
			j++;
	if (j != m)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *d = (const char *)data;
	char own[129], enc[DELIVERED_TAG_MAX];
	const char *tags[] = { "[SPAM]", "  [\xd0\xa1\xd0\x9f\xd0\x90\xd0\x9c]", own };
	size_t ol = size < 128 ? size : 128;

	/* the input's first bytes up to a NUL as a tag of its own */
	memcpy(own, d, ol);
	own[ol] = '\0';
	(void)delivered_tag(own, enc);
	{
		char snd[256];

		if (delivered_sender(d, size, snd, sizeof(snd)) == 1 &&
		    strlen(snd) >= sizeof(snd))
			abort();
	}
	for (size_t t = 0; t < sizeof(tags) / sizeof(tags[0]); t++)
		for (unsigned k = 0; k <= DELIVERED_MAX_RECEIVED + 1; k++)
			for (int f = 0; f < 2; f++) {
				char *out;
				size_t m;
				int rc = delivered_undo(d, size, tags[t], k,
				    f ? DELIVERED_ADDED_SUBJECT : 0, &out, &m);

				if (rc < 0)
					continue;
				if (rc == 0 && out != NULL)
					abort();
				if (rc == 1)
					check(d, size, out, m);
				free(out);
			}
	return 0;
}
