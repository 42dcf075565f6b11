/*
 * fuzz_msg -- libFuzzer target for the message parser and tokenizer
 * (classifier/msg and the modules under it). The first input byte picks the
 * options and a chunk size; the rest is a raw message. It is parsed twice:
 * in one msg_write and in chunks; the two token sets must be identical (a
 * difference is a streaming bug, reported with abort()). Any crash, leak,
 * out-of-bounds access or undefined behaviour is a bug.
 *
 * Built with --enable-fuzzers (CC=clang). Run (the first directory receives
 * new inputs, tests/data seeds it):
 *   mkdir -p /tmp/fuzz-msg && tests/fuzz/fuzz_msg -max_total_time=60 \
 *       /tmp/fuzz-msg $(srcdir)/tests/data
 * or `make fuzz-msg` for a short bounded run.
 */
#include "config.h"

#include <magic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "classifier/msg.h"
#include "classifier/tok.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static magic_t mg; /* one libmagic handle for the process */

static int cmp64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Parse data with o, in chunks of chunk bytes (0 = one write); sorted hashes. */
static uint64_t *parse(const msg_opts *o, const uint8_t *data, size_t size,
	size_t chunk, size_t *n)
{
	msg *m;
	tokset *set;
	uint64_t *h = NULL;

	*n = 0;
	if (tokset_new(0, 1, &set) < 0)
		return NULL;
	if (msg_new(o, &m) < 0) {
		tokset_free(set);
		return NULL;
	}
	msg_reset(m, set);
	if (chunk == 0)
		chunk = size ? size : 1;
	for (size_t off = 0; off < size; off += chunk)
		if (msg_write(m, (const char *)data + off,
		    size - off < chunk ? size - off : chunk) < 0)
			goto out;
	if (msg_end(m) < 0)
		goto out;
	/* touch the facts so a bad pointer shows up under ASan */
	*n = strlen(msg_subject(m)) + strlen(msg_from_addr(m));
	*n = tokset_count(set);
	h = malloc((*n + 1) * sizeof(*h));
	if (h != NULL) {
		for (size_t i = 0; i < *n; i++) {
			h[i] = tokset_hash(set, i);
			if (strlen(tokset_text(set, i)) > 4096)
				abort();
		}
		qsort(h, *n, sizeof(*h), cmp64);
	}
out:
	msg_free(m);
	tokset_free(set);
	return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t chunks[] = { 1, 2, 3, 7, 64, 4095, 4097, 65536 };
	msg_opts o;
	uint64_t *a, *b;
	size_t na, nb;
	uint8_t flags;

	if (size == 0)
		return 0;
	flags = data[0];
	data++;
	size--;
	msg_opts_default(&o);
	o.chained = flags & 1;
	o.osb = (flags >> 1) & 1;
	o.max_depth = 1 + ((flags >> 2) & 7);
	o.max_header_len = 256;
	o.max_token_len = 12 + (flags >> 5);
	if (flags & 0x80) {
		if (mg == NULL) {
			mg = magic_open(MAGIC_MIME_TYPE);
			if (mg != NULL && magic_load(mg, NULL) != 0) {
				magic_close(mg);
				mg = NULL;
			}
		}
		o.magic = mg;
	}
	a = parse(&o, data, size, 0, &na);
	b = parse(&o, data, size, chunks[flags % 8], &nb);
	if (a != NULL && b != NULL &&
	    (na != nb || memcmp(a, b, na * sizeof(*a)) != 0))
		abort(); /* the chunking changed the tokens */
	free(a);
	free(b);
	return 0;
}
