/*
 * testutil -- helpers shared by the Check suites (not part of spamsift).
 */
#ifndef SPAMSIFT_TESTUTIL_H
#define SPAMSIFT_TESTUTIL_H

#include <stddef.h>

#include <check.h>

/*
 * test_rmtree -- remove dir and everything below it, without a shell (links
 * are removed, never followed). Returns 0 or -errno.
 */
int test_rmtree(const char *dir);

/*
 * test_mkdtemp -- create a fresh directory for one test, named after name,
 * inside the run's own directory under /tmp, and write its path to dir
 * (len bytes). test_run removes the run's directory with everything in it
 * when the suite ends, so a failed test (whose teardown does not run in its
 * forked child) leaves nothing behind. Fails the test on error.
 */
void test_mkdtemp(char *dir, size_t len, const char *name);

/*
 * test_run -- run suite s in fork mode (a crash fails one test, not the
 * run), print Check's summary, remove test_mkdtemp's directories; returns
 * the exit status for main().
 */
int test_run(Suite *s);

#endif
