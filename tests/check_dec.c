/*
 * check_dec -- Check suite for classifier/dec (streaming base64 and
 * quoted-printable decoders): splits at every position give the same bytes.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "classifier/dec.h"
#include "tests/testutil.h"

static unsigned char *out;

static void setup(void)
{
	out = malloc(4096);
	ck_assert_ptr_nonnull(out);
}

static void teardown(void)
{
	free(out);
	out = NULL;
}

static size_t b64_split(const char *in, size_t at)
{
	uint32_t st = 0;
	size_t n = strlen(in), k;

	k = dec_b64(&st, in, at, out);
	k += dec_b64(&st, in + at, n - at, out + k);
	k += dec_b64_end(&st, out + k);
	return k;
}

START_TEST(test_b64_basic_and_splits)
{
	static const char in[] = "SGVsbG8s\r\nIHdvcmxkIQ==";

	for (size_t at = 0; at <= strlen(in); at++) {
		size_t k = b64_split(in, at);

		ck_assert_uint_eq(k, 13);
		ck_assert(memcmp(out, "Hello, world!", 13) == 0);
	}
}
END_TEST

START_TEST(test_b64_junk_and_missing_padding)
{
	/* junk outside the alphabet is skipped; "Zm9vYmE" lacks its '=' */
	size_t k = b64_split("Zm9v!!*#\x01\xff YmE", 5);

	ck_assert_uint_eq(k, 5);
	ck_assert(memcmp(out, "fooba", 5) == 0);
	k = b64_split("Zg", 1); /* one byte, no padding */
	ck_assert_uint_eq(k, 1);
	ck_assert_int_eq(out[0], 'f');
	k = b64_split("", 0);
	ck_assert_uint_eq(k, 0);
}
END_TEST

/*
 * Padding inside the text: encoders that write each line (or each piece)
 * on its own pad each; the next group starts aligned. It was skipped, and
 * everything after the first padded line decoded shifted into garbage.
 */
START_TEST(test_b64_padding_inside)
{
	static const char in[] = "SGk=\r\nVGhlcmU=\r\nIQ==\r\nZm9vYg==YmFy";

	for (size_t at = 0; at <= strlen(in); at++) {
		size_t k = b64_split(in, at);

		ck_assert_uint_eq(k, 15);
		ck_assert(memcmp(out, "HiThere!foobbar", 15) == 0);
	}
	/* a lone sextet before '=' is no byte; padding alone changes nothing */
	ck_assert_uint_eq(b64_split("Q=QUJD", 2), 3);
	ck_assert(memcmp(out, "ABC", 3) == 0);
}
END_TEST

static size_t qp(const char *const *pieces, const int *eols)
{
	uint32_t st = 0;
	size_t k = 0;

	for (int i = 0; pieces[i] != NULL; i++)
		k += dec_qp(&st, pieces[i], strlen(pieces[i]), eols[i], out + k);
	out[k] = '\0';
	return k;
}

START_TEST(test_qp)
{
	static const char *const p1[] = { "caf=E9 =3D ok=", "next", NULL };
	static const int e1[] = { 1, 1 };
	static const char *const p2[] = { "a=", "4", "1b=", "", NULL };
	static const int e2[] = { 0, 0, 0, 1 };
	static const char *const p3[] = { "bad =ZZ and =4", "x", NULL };
	static const int e3[] = { 1, 1 };
	static const char *const p4[] = { "soft =  ", "line", NULL };
	static const int e4[] = { 1, 1 };

	qp(p1, e1);
	ck_assert_str_eq((char *)out, "caf\xe9 = oknext\n");
	qp(p2, e2);   /* an escape split over three pieces, soft break */
	ck_assert_str_eq((char *)out, "aAb");
	qp(p3, e3);   /* malformed escapes kept literally */
	ck_assert_str_eq((char *)out, "bad =ZZ and =4\nx\n");
	qp(p4, e4);   /* '=' then blanks at the line end: still soft */
	ck_assert_str_eq((char *)out, "soft line\n");
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("dec");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_b64_basic_and_splits);
	tcase_add_test(tc, test_b64_junk_and_missing_padding);
	tcase_add_test(tc, test_b64_padding_inside);
	tcase_add_test(tc, test_qp);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run(suite());
}
