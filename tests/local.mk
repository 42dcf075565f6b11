# tests/: one Check suite per module, plus integration tests that run a real
# Postfix on 127.0.0.1 against the real daemon.
TEST_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) -DTEST_DATA_DIR='"$(abs_top_srcdir)/tests/data"'
TEST_LIBS = libtestutil.a $(CORE_LIBS) $(CHECK_LIBS)

# Helpers shared by the Check suites (temp dirs, the runner).
check_LIBRARIES = libtestutil.a
libtestutil_a_SOURCES = tests/testutil.c tests/testutil.h
libtestutil_a_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)

TESTS_ENVIRONMENT = \
	top_srcdir='$(abs_top_srcdir)'; top_builddir='$(abs_top_builddir)'; \
	export top_srcdir top_builddir; \
	CK_DEFAULT_TIMEOUT=120; export CK_DEFAULT_TIMEOUT;

TESTS += $(check_PROGRAMS)

# Integration tests (shell): real Postfix, real milter, real SQLite file.
INTEGRATION_TESTS = \
	tests/integration/milter-postfix.sh \
	tests/integration/milter-actions.sh \
	tests/integration/milter-priority.sh \
	tests/integration/milter-reload-daemon.sh \
	tests/integration/milter-start.sh \
	tests/integration/cli.sh \
	tests/integration/contrib-units.sh \
	tests/integration/dovecot-learn.sh \
	tests/integration/miltertest.sh \
	tests/integration/robust-hostile.sh \
	tests/integration/robust-faults.sh \
	tests/integration/robust-security.sh \
	tests/integration/robust-store-start.sh \
	tests/integration/robust-concurrency.sh \
	tests/integration/robust-reject-text.sh \
	tests/integration/store-concurrency.sh \
	tests/integration/store-locked.sh \
	tests/integration/user-delete.sh
TESTS += $(INTEGRATION_TESTS)
EXTRA_DIST += $(INTEGRATION_TESTS) tests/integration/lib.sh tests/data \
	tests/miltertest/edges.lua tests/miltertest/one.lua tests/miltertest/many.lua \
	tests/miltertest/peer.lua tests/miltertest/unfiltered.lua \
	tests/miltertest/agree.lua tests/miltertest/subject.lua tests/miltertest/magic.lua

# libFuzzer target for the spamsift command's mbox/Maildir reader
# (./configure --enable-fuzzers CC=clang; tests/fuzz/run.sh runs them all).
if FUZZERS
noinst_PROGRAMS += tests/fuzz/fuzz_mbox
tests_fuzz_fuzz_mbox_SOURCES = tests/fuzz/fuzz_mbox.c cli/input.c
tests_fuzz_fuzz_mbox_CFLAGS = $(AM_CFLAGS) -g -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_mbox_LDFLAGS = -fsanitize=fuzzer,address,undefined
# and for classifier/delivered.c, which train --source error runs on any
# message it is given
noinst_PROGRAMS += tests/fuzz/fuzz_delivered
tests_fuzz_fuzz_delivered_SOURCES = tests/fuzz/fuzz_delivered.c classifier/delivered.c \
	classifier/hdr.c classifier/words.c classifier/url.c classifier/charset.c \
	classifier/dec.c classifier/tok.c
tests_fuzz_fuzz_delivered_CFLAGS = $(AM_CFLAGS) $(XXHASH_CFLAGS) -g -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_delivered_LDFLAGS = -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_delivered_LDADD = $(XXHASH_LIBS)
endif
EXTRA_DIST += tests/fuzz/run.sh tests/README.md tests/stress
