/*
 * check_tok -- Check suite for classifier/tok (token set and hash).
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classifier/tok.h"
#include "tests/testutil.h"

static tokset *set;

static void setup(void)
{
	ck_assert_int_eq(tokset_new(100, 1, &set), 0);
}

static void teardown(void)
{
	tokset_free(set);
	set = NULL;
}

START_TEST(test_hash_is_stable)
{
	/* Stored on disk: the value for a fixed input must never change. */
	ck_assert_uint_eq(tok_hash("", 0), 0x2d06800538d394c2ULL);
	ck_assert_uint_ne(tok_hash("free", 4), tok_hash("Subject:free", 12));
}
END_TEST

START_TEST(test_add_dedups_in_order)
{
	ck_assert_int_eq(tokset_add(set, "free", 4), 1);
	ck_assert_int_eq(tokset_add(set, "money", 5), 1);
	ck_assert_int_eq(tokset_add(set, "free", 4), 0);
	ck_assert_uint_eq(tokset_count(set), 2);
	ck_assert_str_eq(tokset_text(set, 0), "free");
	ck_assert_str_eq(tokset_text(set, 1), "money");
	ck_assert_int_eq(tokset_find(set, tok_hash("money", 5)), 1);
	ck_assert_int_eq(tokset_find(set, tok_hash("absent", 6)), -1);
}
END_TEST

START_TEST(test_cap_counts_dropped)
{
	char buf[32];

	for (int i = 0; i < 150; i++) {
		int n = snprintf(buf, sizeof(buf), "t%d", i);
		ck_assert_int_ge(tokset_add(set, buf, (size_t)n), 0);
	}
	ck_assert_uint_eq(tokset_count(set), 100);
	ck_assert_uint_eq(tokset_dropped(set), 50);
	/* A token already present is not "dropped" when seen again. */
	ck_assert_int_eq(tokset_add(set, "t0", 2), 0);
	ck_assert_uint_eq(tokset_dropped(set), 50);
}
END_TEST

START_TEST(test_clear_reuses)
{
	ck_assert_uint_eq(tokset_head(set), TOKSET_NO_HEAD);
	ck_assert_int_eq(tokset_add(set, "a", 1), 1);
	tokset_mark_head(set);
	ck_assert_int_eq(tokset_add(set, "b", 1), 1);
	ck_assert_uint_eq(tokset_head(set), 1);
	tokset_clear(set);
	ck_assert_uint_eq(tokset_head(set), TOKSET_NO_HEAD);
	ck_assert_uint_eq(tokset_count(set), 0);
	ck_assert_int_eq(tokset_find(set, tok_hash("a", 1)), -1);
	ck_assert_int_eq(tokset_add(set, "a", 1), 1);
}
END_TEST

/* Texts kept from the next message on (the milter, for showFactors). */
START_TEST(test_keep_text_later)
{
	tokset *s;
	char w[16];

	ck_assert_int_eq(tokset_new(10000, 0, &s), 0);
	for (int i = 0; i < 1000; i++) {
		snprintf(w, sizeof(w), "w%d", i);
		ck_assert_int_ge(tokset_add(s, w, strlen(w)), 0);
	}
	ck_assert_ptr_null(tokset_text(s, 0));
	ck_assert_int_eq(tokset_keep_text(s, 1), -EBUSY);      /* not empty */
	tokset_clear(s);
	ck_assert_int_eq(tokset_keep_text(s, 1), 0);
	for (int i = 0; i < 3000; i++) {                        /* and grows */
		snprintf(w, sizeof(w), "t%d", i);
		ck_assert_int_eq(tokset_add(s, w, strlen(w)), 1);
	}
	ck_assert_str_eq(tokset_text(s, 0), "t0");
	ck_assert_str_eq(tokset_text(s, 2999), "t2999");
	tokset_clear(s);
	ck_assert_int_eq(tokset_keep_text(s, 0), 0);
	for (int i = 0; i < 9000; i++) {        /* past the texts' size */
		snprintf(w, sizeof(w), "u%d", i);
		ck_assert_int_eq(tokset_add(s, w, strlen(w)), 1);
	}
	ck_assert_ptr_null(tokset_text(s, 0));
	tokset_clear(s);
	ck_assert_int_eq(tokset_keep_text(s, 1), 0);
	ck_assert_int_eq(tokset_add(s, "y", 1), 1);
	ck_assert_str_eq(tokset_text(s, 0), "y");
	tokset_free(s);
}
END_TEST

START_TEST(test_many_tokens_grow)
{
	tokset *big;
	char buf[32];

	ck_assert_int_eq(tokset_new(100000, 0, &big), 0);
	for (int i = 0; i < 50000; i++) {
		int n = snprintf(buf, sizeof(buf), "w%d", i);
		ck_assert_int_eq(tokset_add(big, buf, (size_t)n), 1);
	}
	ck_assert_uint_eq(tokset_count(big), 50000);
	ck_assert_ptr_null(tokset_text(big, 0));
	ck_assert_int_eq(tokset_find(big, tok_hash("w49999", 6)), 49999);
	tokset_free(big);
}
END_TEST

/*
 * Hashes a sender could aim at a fixed slot index (the old one took the
 * hash's low bits and bits 29 and up, all zero here): 500,000 of them
 * used to probe one run each, quadratic (minutes); with the seeded index
 * they spread. tests/local.mk's 120 s timeout stands guard.
 */
START_TEST(test_colliding_hashes)
{
	tokset *big;
	size_t n = 500000;

	ck_assert_int_eq(tokset_new(n, 0, &big), 0);
	for (size_t i = 1; i <= n; i++)
		ck_assert_int_eq(tokset_add_hash(big, (uint64_t)i << 45), 1);
	ck_assert_uint_eq(tokset_count(big), n);
	ck_assert_int_eq(tokset_find(big, (uint64_t)n << 45), (long)(n - 1));
	tokset_free(big);
}
END_TEST

static Suite *tok_suite(void)
{
	Suite *s = suite_create("tok");
	TCase *tc = tcase_create("tokset");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_hash_is_stable);
	tcase_add_test(tc, test_add_dedups_in_order);
	tcase_add_test(tc, test_keep_text_later);
	tcase_add_test(tc, test_cap_counts_dropped);
	tcase_add_test(tc, test_clear_reuses);
	tcase_add_test(tc, test_many_tokens_grow);
	tcase_add_test(tc, test_colliding_hashes);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run(tok_suite());
}
