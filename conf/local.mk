# conf/: configuration parser and the sample spamsift.conf.
libspamsift_a_SOURCES += \
	conf/conf.c conf/conf.h conf/conf_impl.h \
	conf/conf_check.c conf/conf_pref.c
# The sample configuration is installed as spamsift.conf only where none is
# yet: `make install` of a new version must not overwrite the site's file
# (it then goes beside it as spamsift.conf.sample). Uninstall removes the
# file only while it is still the sample.
EXTRA_DIST += conf/spamsift.conf
install-data-local: install-sample-conf
install-sample-conf:
	$(MKDIR_P) '$(DESTDIR)$(sysconfdir)'
	if test -f '$(DESTDIR)$(sysconfdir)/spamsift.conf' && \
	    ! cmp -s '$(srcdir)/conf/spamsift.conf' '$(DESTDIR)$(sysconfdir)/spamsift.conf'; then \
		$(INSTALL_DATA) '$(srcdir)/conf/spamsift.conf' '$(DESTDIR)$(sysconfdir)/spamsift.conf.sample'; \
		echo "kept $(DESTDIR)$(sysconfdir)/spamsift.conf; the new sample is spamsift.conf.sample"; \
	else \
		$(INSTALL_DATA) '$(srcdir)/conf/spamsift.conf' '$(DESTDIR)$(sysconfdir)/spamsift.conf'; \
	fi
uninstall-local: uninstall-sample-conf
uninstall-sample-conf:
	rm -f '$(DESTDIR)$(sysconfdir)/spamsift.conf.sample'
	if cmp -s '$(srcdir)/conf/spamsift.conf' '$(DESTDIR)$(sysconfdir)/spamsift.conf'; then \
		rm -f '$(DESTDIR)$(sysconfdir)/spamsift.conf'; \
	fi
.PHONY: install-sample-conf uninstall-sample-conf
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
