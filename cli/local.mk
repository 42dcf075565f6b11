# cli/: the spamsift command.
bin_PROGRAMS += spamsift
spamsift_SOURCES = cli/spamsift.c
spamsift_LDADD = $(CORE_LIBS)
dist_man_MANS += cli/spamsift.1
