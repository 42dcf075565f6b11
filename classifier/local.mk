# classifier/: MIME parsing, tokenizer and Bayesian math.
# Pure C: no SQLite, libmilter or syslog includes.
libspamsift_a_SOURCES += \
	classifier/tok.c classifier/tok.h

check_PROGRAMS += tests/check_tok
tests_check_tok_SOURCES = tests/check_tok.c
tests_check_tok_CFLAGS = $(TEST_CFLAGS)
tests_check_tok_LDADD = $(TEST_LIBS)

# Streaming message parser and tokenizer (issue 3).
libspamsift_a_SOURCES += \
	classifier/msg.c classifier/msg.h \
	classifier/hdr.c classifier/hdr.h \
	classifier/words.c classifier/words.h \
	classifier/html.c classifier/html.h \
	classifier/url.c classifier/url.h \
	classifier/charset.c classifier/charset.h \
	classifier/dec.c classifier/dec.h

check_PROGRAMS += tests/check_msg
tests_check_msg_SOURCES = tests/check_msg.c
tests_check_msg_CFLAGS = $(TEST_CFLAGS)
tests_check_msg_LDADD = $(TEST_LIBS)

check_PROGRAMS += tests/check_dec tests/check_url tests/check_charset \
	tests/check_hdr tests/check_words tests/check_html
tests_check_dec_SOURCES = tests/check_dec.c
tests_check_dec_CFLAGS = $(TEST_CFLAGS)
tests_check_dec_LDADD = $(TEST_LIBS)
tests_check_url_SOURCES = tests/check_url.c
tests_check_url_CFLAGS = $(TEST_CFLAGS)
tests_check_url_LDADD = $(TEST_LIBS)
tests_check_charset_SOURCES = tests/check_charset.c
tests_check_charset_CFLAGS = $(TEST_CFLAGS)
tests_check_charset_LDADD = $(TEST_LIBS)
tests_check_hdr_SOURCES = tests/check_hdr.c
tests_check_hdr_CFLAGS = $(TEST_CFLAGS)
tests_check_hdr_LDADD = $(TEST_LIBS)
tests_check_words_SOURCES = tests/check_words.c
tests_check_words_CFLAGS = $(TEST_CFLAGS)
tests_check_words_LDADD = $(TEST_LIBS)
tests_check_html_SOURCES = tests/check_html.c
tests_check_html_CFLAGS = $(TEST_CFLAGS)
tests_check_html_LDADD = $(TEST_LIBS)

# Tokenizer benchmark driver (contrib/bench/tokenize.sh); not installed.
noinst_PROGRAMS += contrib/bench/tokbench
contrib_bench_tokbench_SOURCES = contrib/bench/tokbench.c
contrib_bench_tokbench_LDADD = $(CORE_LIBS)
EXTRA_DIST += contrib/bench/tokenize.sh contrib/bench/README.md
bench-tokenize: contrib/bench/tokbench
	$(SHELL) $(srcdir)/contrib/bench/tokenize.sh
.PHONY: bench-tokenize

# libFuzzer target for the parser (./configure --enable-fuzzers CC=clang),
# seeded from tests/data; `make fuzz-msg` runs it for FUZZ_SECONDS.
# The classifier sources are compiled into it for coverage instrumentation.
if FUZZERS
noinst_PROGRAMS += tests/fuzz/fuzz_msg
tests_fuzz_fuzz_msg_SOURCES = tests/fuzz/fuzz_msg.c \
	classifier/msg.c classifier/hdr.c classifier/words.c classifier/html.c \
	classifier/url.c classifier/charset.c classifier/dec.c classifier/tok.c
tests_fuzz_fuzz_msg_CFLAGS = $(AM_CFLAGS) $(XXHASH_CFLAGS) -g -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_msg_LDFLAGS = -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_msg_LDADD = $(XXHASH_LIBS) $(MAGIC_LIBS)
FUZZ_SECONDS = 30
fuzz-msg: tests/fuzz/fuzz_msg
	rm -rf fuzz-msg-corpus && mkdir fuzz-msg-corpus
	./tests/fuzz/fuzz_msg -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	    -timeout=10 -rss_limit_mb=512 fuzz-msg-corpus $(srcdir)/tests/data
else
fuzz-msg:
	@echo "fuzz-msg: configure with --enable-fuzzers CC=clang" >&2; exit 1
endif
.PHONY: fuzz-msg

# Bayesian math and per-user filtering (classifier/bayes, classifier/filter).
libspamsift_a_SOURCES += \
	classifier/bayes.c classifier/bayes.h
# bayes.c uses log/exp/lgamma_r.
CORE_LIBS += -lm

check_PROGRAMS += tests/check_bayes
tests_check_bayes_SOURCES = tests/check_bayes.c
tests_check_bayes_CFLAGS = $(TEST_CFLAGS)
tests_check_bayes_LDADD = $(TEST_LIBS)

libspamsift_a_SOURCES += \
	classifier/filter.c classifier/filter.h \
	classifier/delivered.c classifier/delivered.h

check_PROGRAMS += tests/check_filter tests/check_delivered
tests_check_delivered_SOURCES = tests/check_delivered.c
tests_check_delivered_CFLAGS = $(TEST_CFLAGS)
tests_check_delivered_LDADD = $(TEST_LIBS)
tests_check_filter_SOURCES = tests/check_filter.c
tests_check_filter_CFLAGS = $(TEST_CFLAGS)
tests_check_filter_LDADD = $(TEST_LIBS)
