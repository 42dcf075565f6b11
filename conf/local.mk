# conf/: configuration parser and the sample spamsift.conf.
libspamsift_a_SOURCES += \
	conf/conf.c conf/conf.h
dist_sysconf_DATA += conf/spamsift.conf
dist_man_MANS += conf/spamsift.conf.5
