# conf/: configuration parser and the sample spamsift.conf.
libspamsift_a_SOURCES += \
	conf/conf.c conf/conf.h conf/conf_impl.h \
	conf/conf_check.c conf/conf_pref.c
dist_sysconf_DATA += conf/spamsift.conf
dist_man_MANS += conf/spamsift.conf.5
# usermap: recipient address -> spamsift user (lead's module).
libspamsift_a_SOURCES += conf/usermap.c conf/usermap.h
# profile: per-user effective settings -> classifier parameters (lead's module).
libspamsift_a_SOURCES += conf/profile.c conf/profile.h

check_PROGRAMS += tests/check_conf
tests_check_conf_SOURCES = tests/check_conf.c
tests_check_conf_CFLAGS = $(TEST_CFLAGS)
tests_check_conf_LDADD = $(TEST_LIBS)

# libFuzzer target for the parser (./configure --enable-fuzzers CC=clang).
# The conf sources are compiled into it so they get coverage instrumentation.
if FUZZERS
noinst_PROGRAMS += tests/fuzz/fuzz_conf
tests_fuzz_fuzz_conf_SOURCES = tests/fuzz/fuzz_conf.c \
	conf/conf.c conf/conf_check.c conf/conf_pref.c
tests_fuzz_fuzz_conf_CFLAGS = $(AM_CFLAGS) -g -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_conf_LDFLAGS = -fsanitize=fuzzer,address,undefined
endif
EXTRA_DIST += tests/fuzz/corpus_conf
