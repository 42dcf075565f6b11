/*
 * testutil -- helpers shared by the Check suites (see testutil.h).
 */
#include "config.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

#include "tests/testutil.h"

static int remove_one(const char *path, const struct stat *st, int type,
    struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path) == 0 ? 0 : -errno;
}

int test_rmtree(const char *dir)
{
	int rc = nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);

	return rc == -1 ? -errno : rc;
}

/* The run's directory, made by test_run before the tests fork. */
static char run_dir[64];

void test_mkdtemp(char *dir, size_t len, const char *name)
{
	int n;

	ck_assert_msg(run_dir[0] != '\0', "test_mkdtemp outside test_run");
	n = snprintf(dir, len, "%s/%s.XXXXXX", run_dir, name);
	ck_assert(n > 0 && (size_t)n < len);
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

int test_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	snprintf(run_dir, sizeof(run_dir), "/tmp/spamsift-check.XXXXXX");
	if (mkdtemp(run_dir) == NULL) {
		perror("mkdtemp /tmp/spamsift-check.XXXXXX");
		srunner_free(sr);
		return EXIT_FAILURE;
	}
	if (getenv("CK_FORK") == NULL)         /* CK_FORK=no still works */
		srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (test_rmtree(run_dir) != 0) {
		fprintf(stderr, "cannot remove %s\n", run_dir);
		failed++;
	}
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
