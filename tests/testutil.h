/*
 * testutil -- helpers shared by the Check suites (not part of spamsift).
 */
#ifndef SPAMSIFT_TESTUTIL_H
#define SPAMSIFT_TESTUTIL_H

#include <check.h>

/*
 * test_rmtree -- remove dir and everything below it, without a shell (links
 * are removed, never followed). Returns 0 or -errno.
 */
int test_rmtree(const char *dir);

/*
 * test_run -- run suite s in fork mode (a crash fails one test, not the
 * run), print Check's summary; returns the exit status for main().
 */
int test_run(Suite *s);

#endif
