# milter/: the spamsift-milter daemon (libmilter).
sbin_PROGRAMS += spamsift-milter
spamsift_milter_SOURCES = milter/main.c milter/mlfi.c milter/mlfi.h \
	milter/writer.c milter/writer.h milter/pool.c milter/pool.h \
	milter/log.c milter/log.h milter/clock.h
spamsift_milter_CFLAGS = $(AM_CFLAGS) -pthread
spamsift_milter_LDADD = $(CORE_LIBS) $(MILTER_LIBS) -lpthread
dist_man_MANS += milter/spamsift-milter.8
