# milter/: the spamsift-milter daemon (libmilter).
sbin_PROGRAMS += spamsift-milter
spamsift_milter_SOURCES = milter/main.c milter/mlfi.c milter/mlfi.h \
	milter/writer.c milter/writer.h milter/pool.c milter/pool.h \
	milter/log.c milter/log.h milter/clock.h
spamsift_milter_CFLAGS = $(AM_CFLAGS) -pthread
spamsift_milter_LDADD = $(CORE_LIBS) $(MILTER_LIBS) -lpthread
dist_man_MANS += milter/spamsift-milter.8

# The writer thread against stores it can and cannot open (no libmilter).
check_PROGRAMS += tests/check_writer
tests_check_writer_SOURCES = tests/check_writer.c milter/writer.c \
	milter/pool.c milter/log.c
tests_check_writer_CFLAGS = $(TEST_CFLAGS) -pthread
tests_check_writer_LDADD = $(TEST_LIBS) -lpthread
