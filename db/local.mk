# db/: the storage interface and its backends. Only db_sqlite.c includes sqlite3.h.
libspamsift_a_SOURCES += \
	db/db.c db/db.h
