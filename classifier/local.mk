# classifier/: MIME parsing, tokenizer and Bayesian math.
# Pure C: no SQLite, libmilter or syslog includes.
libspamsift_a_SOURCES += \
	classifier/tok.c classifier/tok.h

check_PROGRAMS += tests/check_tok
tests_check_tok_SOURCES = tests/check_tok.c
tests_check_tok_CFLAGS = $(TEST_CFLAGS)
tests_check_tok_LDADD = $(TEST_LIBS)
