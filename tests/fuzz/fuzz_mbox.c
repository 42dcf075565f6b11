/*
 * fuzz_mbox -- libFuzzer target for cli/input.c, the spamsift command's
 * message reader: the input is split as an mbox (input_mbox_split, with and
 * without a callback that stops early), tested with input_is_mbox, and read
 * back through input_each from a memory file, so the mmap path, the mbox
 * detection and the single-message path all see hostile bytes. Every message
 * handed to the callback must lie inside the input, in order, without
 * overlap; any crash, leak, out-of-range slice or undefined behaviour is a
 * bug. Must not depend on: libmilter, SQLite.
 *
 * Built with --enable-fuzzers (CC=clang). Run (tests/fuzz/run.sh does this):
 *   tests/fuzz/fuzz_mbox -max_len=65536 CORPUS_DIR $(srcdir)/tests/data
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cli/input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What the callback checks each message against. */
struct seen {
	const char *base;   /* the input buffer, or NULL to skip range checks */
	size_t len;         /* its length */
	size_t next;        /* no message may start before this offset */
	size_t count;       /* messages seen */
	size_t stop_after;  /* return 1 after this many (0: never) */
	size_t sum;         /* bytes touched, so ASan sees every read */
};

static int visit(void *arg, const char *label, const char *msg, size_t len)
{
	struct seen *s = arg;

	s->sum += strlen(label);
	/* Read every byte: a slice past the mapping shows up under ASan. */
	for (size_t i = 0; i < len; i++)
		s->sum += (unsigned char)msg[i];
	if (s->base != NULL) {
		if (msg < s->base + s->next || msg + len > s->base + s->len)
			__builtin_trap();
		s->next = (size_t)(msg - s->base) + len;
	}
	s->count++;
	return s->stop_after && s->count >= s->stop_after ? 1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *d = (const char *)data;
	struct seen s = { d, size, 0, 0, 0, 0 };
	char err[512], path[64];
	int fd, rc;

	(void)input_is_mbox(d, size);
	rc = input_mbox_split("fuzz", d, size, visit, &s);
	if (rc != 0)
		__builtin_trap();
	/* A callback that stops at the first message must stop the split. */
	if (s.count > 0) {
		struct seen one = { d, size, 0, 0, 1, 0 };

		if (input_mbox_split("fuzz", d, size, visit, &one) != 1 ||
		    one.count != 1)
			__builtin_trap();
	}

	/* The same bytes as a file: input_each maps it and detects the mbox. */
	fd = memfd_create("fuzz_mbox", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (size > 0 && write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	{
		struct seen f = { NULL, 0, 0, 0, 0, 0 };

		rc = input_each(path, visit, &f, err, sizeof(err));
		if (rc != 0 || f.count == 0 || (input_is_mbox(d, size) &&
		    f.count != s.count))
			__builtin_trap();
	}
	close(fd);
	return 0;
}
