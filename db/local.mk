# db/: the storage interface and its backends. Only db_sqlite.c includes sqlite3.h.
libspamsift_a_SOURCES += \
	db/db.c db/db.h db/db_impl.h db/db_cache.c db/db_mem.c db/db_sqlite.c

# One contract suite, run against every backend.
check_PROGRAMS += tests/check_db
tests_check_db_SOURCES = tests/check_db.c
tests_check_db_CFLAGS = $(TEST_CFLAGS)
tests_check_db_LDADD = $(TEST_LIBS)

# SQLite only: files that are not stores, locking, disk full, lookup strategies.
check_PROGRAMS += tests/check_db_sqlite
tests_check_db_sqlite_SOURCES = tests/check_db_sqlite.c
tests_check_db_sqlite_CFLAGS = $(TEST_CFLAGS)
tests_check_db_sqlite_LDADD = $(TEST_LIBS)

# Crash safety (SIGKILL mid-training) and concurrent readers/writer (WAL).
check_PROGRAMS += tests/check_db_crash tests/check_db_concurrency
tests_check_db_crash_SOURCES = tests/check_db_crash.c
tests_check_db_crash_CFLAGS = $(TEST_CFLAGS)
tests_check_db_crash_LDADD = $(TEST_LIBS)
tests_check_db_concurrency_SOURCES = tests/check_db_concurrency.c
tests_check_db_concurrency_CFLAGS = $(TEST_CFLAGS) -pthread
tests_check_db_concurrency_LDADD = $(TEST_LIBS) -lpthread

# The shared token read cache: coherence across handles and processes,
# eviction, threads.
check_PROGRAMS += tests/check_db_cache
tests_check_db_cache_SOURCES = tests/check_db_cache.c
tests_check_db_cache_CFLAGS = $(TEST_CFLAGS) -pthread
tests_check_db_cache_LDADD = $(TEST_LIBS) -lpthread
# (allocation failures on demand: the suite's __wrap_calloc/__wrap_realloc)
tests_check_db_cache_LDFLAGS = -Wl,--wrap=calloc -Wl,--wrap=realloc

# Benchmark of the db_tokens_get strategies. make check only does a trivial
# run (and checks every strategy returns the same counts); real numbers:
#   contrib/bench/db_lookup -t 1000000 -m 1000 -r 300 [DIR]
check_PROGRAMS += contrib/bench/db_lookup
contrib_bench_db_lookup_SOURCES = contrib/bench/db_lookup.c
contrib_bench_db_lookup_CFLAGS = $(AM_CFLAGS) -pthread
contrib_bench_db_lookup_LDADD = $(CORE_LIBS) -lpthread
