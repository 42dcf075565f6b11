# conf/: configuration parser and the sample spamsift.conf.
libspamsift_a_SOURCES += \
	conf/conf.c conf/conf.h conf/conf_impl.h \
	conf/conf_check.c conf/conf_pref.c
dist_sysconf_DATA += conf/spamsift.conf
dist_man_MANS += conf/spamsift.conf.5

check_PROGRAMS += tests/check_conf
tests_check_conf_SOURCES = tests/check_conf.c
tests_check_conf_CFLAGS = $(TEST_CFLAGS)
tests_check_conf_LDADD = $(TEST_LIBS)
