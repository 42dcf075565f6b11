# cli/: the spamsift command.
bin_PROGRAMS += spamsift
spamsift_SOURCES = cli/spamsift.c cli/cli.h cli/cmd_admin.c cli/cmd_learn.c \
	cli/learn.h cli/cmd_quarantine.c cli/cmd_export.c cli/input.c cli/input.h \
	cli/fileset.c cli/fileset.h cli/sigscan.c cli/sigscan.h
spamsift_CFLAGS = $(AM_CFLAGS) -pthread
spamsift_LDADD = $(CORE_LIBS) -lpthread
dist_man_MANS += cli/spamsift.1
