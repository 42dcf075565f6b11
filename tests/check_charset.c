/*
 * check_charset -- Check suite for classifier/charset (iconv to UTF-8,
 * streaming across split characters, unknown charsets, cache).
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classifier/charset.h"
#include "tests/testutil.h"

static charset *cs;
static char got[1024];
static size_t ngot;

static int collect(void *ctx, const char *s, size_t n)
{
	(void)ctx;
	ck_assert_uint_le(ngot + n, sizeof(got) - 1);
	memcpy(got + ngot, s, n);
	ngot += n;
	got[ngot] = '\0';
	return 0;
}

static void setup(void)
{
	ck_assert_int_eq(charset_new(&cs), 0);
	ngot = 0;
	got[0] = '\0';
}

static void teardown(void)
{
	charset_free(cs);
	cs = NULL;
}

/* Feed in as pieces of step bytes; the result must not depend on step. */
static void feed(const char *in, size_t n, size_t step)
{
	ngot = 0;
	got[0] = '\0';
	for (size_t o = 0; o < n; o += step)
		ck_assert_int_eq(charset_feed(cs, in + o, n - o < step ? n - o : step,
		    collect, NULL), 0);
}

START_TEST(test_select)
{
	ck_assert_int_eq(charset_select(cs, NULL), 1);
	ck_assert_int_eq(charset_select(cs, "\"UTF-8\""), 1);
	ck_assert_int_eq(charset_select(cs, "us-ascii"), 1);
	ck_assert_int_eq(charset_select(cs, "ISO-8859-1"), 0);
	ck_assert_int_eq(charset_select(cs, "x-no-such-charset"), -ENOENT);
	/* unknown: bytes pass through */
	feed("a\xe9", 2, 1);
	ck_assert_str_eq(got, "a\xe9");
}
END_TEST

START_TEST(test_multibyte_split)
{
	/* "日本語 ok" in Shift_JIS and EUC-JP, fed one byte at a time */
	static const char sjis[] = "\x93\xfa\x96\x7b\x8c\xea ok";
	static const char euc[] = "\xc6\xfc\xcb\xdc\xb8\xec ok";

	for (size_t step = 1; step <= 4; step++) {
		ck_assert_int_eq(charset_select(cs, "shift_jis"), 0);
		feed(sjis, strlen(sjis), step);
		ck_assert_str_eq(got, "日本語 ok");
		ck_assert_int_eq(charset_select(cs, "euc-jp"), 0);
		feed(euc, strlen(euc), step);
		ck_assert_str_eq(got, "日本語 ok");
	}
}
END_TEST

START_TEST(test_single_byte_and_invalid)
{
	ck_assert_int_eq(charset_select(cs, "iso-8859-1"), 0);
	feed("caf\xe9 \x80uro", 9, 3); /* read as windows-1252: 0x80 is the euro sign */
	ck_assert_str_eq(got, "café €uro");
	ck_assert_int_eq(charset_select(cs, "koi8-r"), 0);
	feed("\xf0\xd2\xc9\xd7\xc5\xd4", 6, 1);
	ck_assert_str_eq(got, "Привет");
	/* an invalid sequence is skipped, the rest converted */
	ck_assert_int_eq(charset_select(cs, "shift_jis"), 0);
	feed("a\xff" "b", 3, 1);
	ck_assert_str_eq(got, "ab");
}
END_TEST

/*
 * Windows code pages under the names mail declares, as mail readers take
 * them (WHATWG labels): glibc's strict tables skipped what Windows adds,
 * and the rest of the character read as another ("①" under shift_jis gave
 * "@").
 */
START_TEST(test_windows_supersets)
{
	static const struct {
		const char *name, *in, *want;
	} t[] = {
		{ "Shift_JIS", "\x87\x40\x82\xa0 \x5c", "\xe2\x91\xa0\xe3\x81\x82 \\" },
		{ "sjis", "\xed\x40", "\xe7\xba\x8a" },
		{ "euc-kr", "\x81\x41\xc7\xd1", "\xea\xb0\x82\xed\x95\x9c" },
		{ "big5", "\xa3\xe1\xa4\x40", "\xe2\x82\xac\xe4\xb8\x80" },
		{ "chinesebig5", "\xa4\x40", "\xe4\xb8\x80" },
		{ "gb2312_charset", "\xd6\xd0", "\xe4\xb8\xad" },
		{ "tis-620", "\x93\xa1\x94", "\xe2\x80\x9c\xe0\xb8\x81\xe2\x80\x9d" },
		{ "iso-8859-9", "\x93\xfd\x94", "\xe2\x80\x9c\xc4\xb1\xe2\x80\x9d" },
		{ "iso8859-1", "\x93\xe9\x94", "\xe2\x80\x9c\xc3\xa9\xe2\x80\x9d" } };
	char out[64];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ck_assert_int_ge(charset_convert(cs, t[i].name, t[i].in, strlen(t[i].in),
		    out, sizeof(out)), 0);
		ck_assert_msg(strcmp(out, t[i].want) == 0, "%s: got %s", t[i].name, out);
		ck_assert_int_eq(charset_select(cs, t[i].name), 0);
		for (size_t step = 1; step <= 3; step++) {
			feed(t[i].in, strlen(t[i].in), step);
			ck_assert_msg(strcmp(got, t[i].want) == 0, "%s/%zu: got %s",
			    t[i].name, step, got);
		}
	}
}
END_TEST

START_TEST(test_convert_and_cache)
{
	char out[64];

	ck_assert_int_eq(charset_convert(cs, "ISO-8859-15", "\xa4", 1, out, sizeof(out)), 3);
	ck_assert_str_eq(out, "€");
	ck_assert_int_eq(charset_convert(cs, "bogus-cs", "x", 1, out, sizeof(out)), -ENOENT);
	ck_assert_int_eq(charset_convert(cs, "utf-8", "abc", 3, out, 3), 2); /* truncated */
	ck_assert_str_eq(out, "ab");
	/* more charsets than cache entries, while one is streaming */
	ck_assert_int_eq(charset_select(cs, "euc-jp"), 0);
	feed("\xc6", 1, 1);
	for (int i = 1; i <= 10; i++) {
		char name[32];

		snprintf(name, sizeof(name), "iso-8859-%d", i);
		ck_assert_int_ge(charset_convert(cs, name, "a", 1, out, sizeof(out)), 1);
	}
	ck_assert_int_eq(charset_feed(cs, "\xfc", 1, collect, NULL), 0);
	ck_assert_str_eq(got, "日");
}
END_TEST

/*
 * Charsets whose ASCII-range bytes are not ASCII, under names a list of
 * prefixes missed: their text must be converted, not passed through
 * (UTF-16 passed through gave no words at all).
 */
START_TEST(test_not_ascii_compatible)
{
	static const struct {
		const char *name, *in;
		size_t len;
		const char *want;
	} c[] = {
		{ "csunicode", "h\0i\0 \0m\0o\0m\0", 12, "hi mom" },
		{ "utf16le", "h\0i\0", 4, "hi" },
		{ "UTF-16BE", "\0h\0i", 4, "hi" },
		{ "utf32le", "h\0\0\0i\0\0\0", 8, "hi" },
		{ "utf7", "caf+AOk-", 8, "café" },
		{ "iso2022jp", "\x1b$BF|K\\\x1b(B ok", 13, "日本 ok" },
		{ "cp1047", "\x88\x89", 2, "hi" },
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		for (size_t step = 1; step <= 3; step++) {
			ck_assert_int_eq(charset_select(cs, c[i].name), 0);
			feed(c[i].in, c[i].len, step);
			ck_assert_msg(strcmp(got, c[i].want) == 0,
			    "%s in steps of %zu: got \"%s\"", c[i].name, step, got);
		}
	}
	/* and an ASCII-compatible one still reads ASCII as ASCII */
	ck_assert_int_eq(charset_select(cs, "windows-1251"), 0);
	feed("plain text \xcf", 12, 5);
	ck_assert_str_eq(got, "plain text П");
}
END_TEST

/* CHARSET_OPENS charsets glibc knows, no two the same after normalize() */
static const char *const names32[] = {
	"iso-8859-2", "iso-8859-3", "iso-8859-4", "iso-8859-5",
	"iso-8859-6", "iso-8859-7", "iso-8859-8", "cp865",
	"iso-8859-10", "iso-8859-13", "iso-8859-14", "iso-8859-15",
	"iso-8859-16", "windows-1250", "windows-1251", "windows-1252",
	"windows-1253", "windows-1254", "windows-1255", "windows-1256",
	"windows-1257", "windows-1258", "koi8-r", "koi8-u", "cp437",
	"cp850", "cp852", "cp855", "cp857", "cp860", "cp861", "cp862",
};

/* Past CHARSET_OPENS charsets in a message's parts, charsets are unknown. */
START_TEST(test_open_budget)
{
	ck_assert_uint_eq(sizeof(names32) / sizeof(names32[0]), CHARSET_OPENS);
	charset_budget(cs);
	for (size_t i = 0; i < CHARSET_OPENS; i++)
		ck_assert_int_eq(charset_select(cs, names32[i]), 0);
	ck_assert_int_eq(charset_select(cs, "cp863"), -ENOENT);
	/* cached ones still work */
	ck_assert_int_eq(charset_select(cs, "cp862"), 0);
	charset_budget(cs);
	ck_assert_int_eq(charset_select(cs, "cp863"), 0);
}
END_TEST

/*
 * The header's encoded words and the body's parts have a budget each: 32
 * made-up charset names, or real ones cycling through more than a small
 * cache held (each reopen counted), in the headers left the body's charset
 * unknown, and its text unconverted.
 */
START_TEST(test_budget_header_apart)
{
	static const char *const cycle[] = {
		"iso-8859-2", "iso-8859-5", "windows-1251", "koi8-u",
		"iso-8859-7", "cp850", "iso-8859-15",
	};
	char name[32], out[64];

	charset_budget(cs);
	for (int i = 0; i < CHARSET_OPENS; i++) {
		snprintf(name, sizeof(name), "x-junk%d", i);
		ck_assert_int_eq(charset_convert(cs, name, "a", 1, out, sizeof(out)),
		    -ENOENT);
	}
	ck_assert_int_eq(charset_select(cs, "koi8-r"), 0);
	feed("\xf0\xd2\xc9\xd7\xc5\xd4", 6, 1);
	ck_assert_str_eq(got, "Привет");

	/* real charsets, round and round: each opened once, all converted */
	charset_budget(cs);
	for (int r = 0; r < 10; r++)
		for (size_t i = 0; i < sizeof(cycle) / sizeof(cycle[0]); i++)
			ck_assert_msg(charset_convert(cs, cycle[i], "\xe9", 1, out,
			    sizeof(out)) > 0, "round %d, %s", r, cycle[i]);
	ck_assert_int_eq(charset_convert(cs, "iso-8859-15", "caf\xe9", 4, out,
	    sizeof(out)), 5);
	ck_assert_str_eq(out, "café");
	ck_assert_int_eq(charset_select(cs, "koi8-r"), 0);
	feed("\xcd\xc9\xd2", 3, 2);
	ck_assert_str_eq(got, "мир");

	/* the same for the body's parts cycling, and the headers keep theirs */
	charset_budget(cs);
	for (int r = 0; r < 10; r++)
		for (size_t i = 0; i < sizeof(cycle) / sizeof(cycle[0]); i++)
			ck_assert_msg(charset_select(cs, cycle[i]) == 0, "round %d, %s",
			    r, cycle[i]);
	ck_assert_int_ge(charset_convert(cs, "koi8-r", "\xcd", 1, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "м");
}
END_TEST

/*
 * Each budget is still bounded: a message's 32 charsets of either kind are
 * kept (round and round, never evicted and reopened), a 33rd is unknown.
 */
START_TEST(test_budget_bounded)
{
	char out[64];

	charset_budget(cs);
	for (int r = 0; r < 3; r++)
		for (size_t i = 0; i < CHARSET_OPENS; i++) {
			ck_assert_int_ge(charset_convert(cs, names32[i], "a", 1, out,
			    sizeof(out)), 0);
			ck_assert_int_eq(charset_select(cs, names32[i]), 0);
		}
	ck_assert_int_eq(charset_convert(cs, "cp863", "a", 1, out, sizeof(out)),
	    -ENOENT);
	ck_assert_int_eq(charset_select(cs, "cp863"), -ENOENT);
	charset_budget(cs);
	ck_assert_int_eq(charset_convert(cs, "cp863", "a", 1, out, sizeof(out)), 1);
	ck_assert_int_eq(charset_select(cs, "cp863"), 0);
}
END_TEST

/*
 * WHATWG labels that were not in the table: glibc does not know them
 * (x-cp1251, ks_c_5601-1989, x-mac-roman, ...) or reads them as the strict
 * charset where mail readers take the Windows superset (l1, csgb2312).
 */
START_TEST(test_whatwg_labels)
{
	static const struct {
		const char *name, *in, *want;
	} t[] = {
		{ "x-cp1251", "\xcf\xf0\xe8\xe2\xe5\xf2", "Привет" },
		{ "X-CP1250", "\x8a\xb9", "Šą" },
		{ "x-cp1252", "\x80\x93", "€“" },
		{ "l1", "\x80\x93", "€“" },
		{ "ks_c_5601-1989", "\xc7\xd1\xb1\xb9\x81\x41", "한국갂" },
		{ "ksc5601", "\xc7\xd1\xb1\xb9", "한국" },
		{ "korean", "\xc7\xd1\xb1\xb9", "한국" },
		{ "x-mac-roman", "caf\x8e \xa5", "café •" },
		{ "x-mac-cyrillic", "\x8f\xe0\xe8\xa2", "ПаиҐ" },
		{ "x-euc-jp", "\xc6\xfc\xcb\xdc", "日本" },
		{ "csbig5", "\xa4\x40\xa3\xe1", "一€" },
		{ "csgb2312", "\xd6\xd0\x81\x40", "中丂" },
		{ "dos-874", "\xa1\x93", "ก“" },
		{ "iso-8859-8-e", "\xf9\xec\xe5\xed", "שלום" },
		{ "logical", "\xf9\xec\xe5\xed", "שלום" },
		{ "visual", "\xf9\xec\xe5\xed", "שלום" },
		{ "koi8_r", "\xf0\xd2\xc9", "При" },
		{ "l9", "\xa4", "€" },
		{ "unicode11utf8", "\xe2\x82\xac", "€" } };
	char out[64];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ck_assert_msg(charset_convert(cs, t[i].name, t[i].in, strlen(t[i].in),
		    out, sizeof(out)) >= 0, "%s unknown", t[i].name);
		ck_assert_msg(strcmp(out, t[i].want) == 0, "%s: got %s", t[i].name, out);
		ck_assert_int_ge(charset_select(cs, t[i].name), 0);
		for (size_t step = 1; step <= 3; step++) {
			feed(t[i].in, strlen(t[i].in), step);
			ck_assert_msg(strcmp(got, t[i].want) == 0, "%s/%zu: got %s",
			    t[i].name, step, got);
		}
	}
}
END_TEST

/*
 * windows-1258 (and -1255) keep a base letter until they know no combining
 * mark follows: the last letter of an encoded word, or of a text part,
 * was lost ("Viêt" read "Viê"); the end of the text hands it over.
 */
START_TEST(test_held_back_letter)
{
	char out[64];

	ck_assert_int_eq(charset_convert(cs, "windows-1258", "Vi\xeat", 4, out,
	    sizeof(out)), 5);
	ck_assert_str_eq(out, "Vi\xc3\xaat");
	ck_assert_int_eq(charset_convert(cs, "windows-1258", "a", 1, out,
	    sizeof(out)), 1);
	ck_assert_str_eq(out, "a");
	ck_assert_int_eq(charset_select(cs, "windows-1258"), 0);
	feed("xin ch\xe0o Vi\xeat", 13, 4);
	ck_assert_int_eq(charset_end(cs, collect, NULL), 0);
	ck_assert_str_eq(got, "xin ch\xc3\xa0o Vi\xc3\xaat");
	/* and the next text starts afresh */
	feed("b", 1, 1);
	ck_assert_int_eq(charset_end(cs, collect, NULL), 0);
	ck_assert_str_eq(got, "b");
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("charset");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_select);
	tcase_add_test(tc, test_multibyte_split);
	tcase_add_test(tc, test_single_byte_and_invalid);
	tcase_add_test(tc, test_windows_supersets);
	tcase_add_test(tc, test_convert_and_cache);
	tcase_add_test(tc, test_not_ascii_compatible);
	tcase_add_test(tc, test_open_budget);
	tcase_add_test(tc, test_budget_header_apart);
	tcase_add_test(tc, test_budget_bounded);
	tcase_add_test(tc, test_whatwg_labels);
	tcase_add_test(tc, test_held_back_letter);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run(suite());
}
