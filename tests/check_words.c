/*
 * check_words -- Check suite for classifier/words (the word tokenizer):
 * splitting, folding, limits, URLs and pairs, fed in any pieces.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classifier/words.h"
#include "tests/testutil.h"

static tokset *set;
static words *w;

static void setup(void)
{
	ck_assert_int_eq(tokset_new(0, 1, &set), 0);
	ck_assert_int_eq(words_new(20, 0, 0, &w), 0);
}

static void teardown(void)
{
	tokset_free(set);
	words_free(w);
}

static int has(const char *t)
{
	return tokset_find(set, tok_hash(t, strlen(t))) >= 0;
}

/* Tokenize s with prefix, fed step bytes at a time. */
static void run(const char *prefix, const char *s, size_t step)
{
	size_t n = strlen(s);

	tokset_clear(set);
	words_begin(w, set, prefix);
	for (size_t o = 0; o < n; o += step)
		ck_assert_int_eq(words_feed(w, s + o, n - o < step ? n - o : step), 0);
	ck_assert_int_eq(words_end(w), 0);
}

START_TEST(test_split_any_piece)
{
	static const char text[] = "Ünïcode WORDS, split—anywhere: "
	    "ЖУК http://x.example/p ok";

	for (size_t step = 1; step <= 7; step++) {
		run("", text, step);
		ck_assert(has("ünïcode"));
		ck_assert(has("words"));
		ck_assert(has("split"));   /* the em dash separates */
		ck_assert(has("anywhere"));
		ck_assert(has("жук"));
		ck_assert(has("url:host:x.example"));
		ck_assert(has("url:domain:x.example"));
		ck_assert(has("url:path:p"));
		ck_assert(has("ok"));
		ck_assert_uint_eq(tokset_count(set), 9);
	}
}
END_TEST

START_TEST(test_prefix_and_limits)
{
	run("Subject:", "Hi abcdefghijklmnopqrstuvwxyz 123456789012345678901234 99999 123456 .x. --", 3);
	ck_assert(has("Subject:hi"));
	ck_assert(has("Subject:skip:a:20"));   /* 26 letters > max 20 */
	ck_assert(has("Subject:skip:9:20"));   /* 24 digits */
	ck_assert(has("Subject:99999"));
	ck_assert(has("Subject:num:6d"));
	ck_assert(!has("Subject:x"));
	ck_assert_uint_eq(tokset_count(set), 5);
}
END_TEST

START_TEST(test_obfuscation)
{
	run("", "v\xc2\xad" "i\xe2\x80\x8c" "agra \xef\xbd\x96\xef\xbd\x89\xef\xbd\x81\xef\xbd\x87\xef\xbd\x92\xef\xbd\x81", 1);
	ck_assert(has("viagra"));
	ck_assert_uint_eq(tokset_count(set), 1);
	/* bytes that are not UTF-8 are read as windows-1252 */
	run("", "ab\xff\xde cd\xe2\x82 caf\xe9 \x93quoted\x94 \xc0\xaf \xed\xa0\x80x", 2);
	ck_assert(has("abÿþ"));
	ck_assert(has("cdâ"));   /* E2 82: a broken sequence; 0x82 is a quote mark */
	ck_assert(has("café"));
	ck_assert(has("quoted")); /* curly quotes separate */
	ck_assert(has("à"));      /* overlong C0 AF: "À" then "¯" (a separator) */
	ck_assert(has("í"));      /* surrogate ED A0 80: "í", no-break space, "€" */
	ck_assert(has("€x"));
	ck_assert_uint_eq(tokset_count(set), 7);
}
END_TEST

START_TEST(test_invisible)
{
	/* direction marks, embeddings, invisible operators, isolates */
	static const char *const marks[] = { "\xe2\x80\x8e", "\xe2\x80\x8f",
		"\xe2\x80\xaa", "\xe2\x80\xae", "\xe2\x81\xa1", "\xe2\x81\xa4",
		"\xe2\x81\xa6", "\xe2\x81\xa9",
		/* combining grapheme joiner, variation selectors */
		"\xcd\x8f", "\xef\xb8\x80", "\xef\xb8\x8f", NULL };
	char text[32];

	for (int i = 0; marks[i] != NULL; i++)
		for (size_t step = 1; step <= 20; step += 19) {
			snprintf(text, sizeof(text), "fr%see now", marks[i]);
			run("", text, step);
			ck_assert(has("free"));
			ck_assert(!has("fr"));
			ck_assert_uint_eq(tokset_count(set), 2);
		}
	/* their neighbours still separate */
	run("", "fr\xe2\x80\x90" "ee \xe2\x81\xa5" "x", 1);
	ck_assert(has("fr"));
	ck_assert(has("ee"));
	/* an emoji's presentation selector is no word of its own ("I ❤️ you") */
	run("", "I \xe2\x9d\xa4\xef\xb8\x8f you \xf0\x9f\x9b\x8d\xef\xb8\x8f", 1);
	ck_assert(has("you"));
	ck_assert(has("\xf0\x9f\x9b\x8d"));
	ck_assert(!has("\xef\xb8\x8f"));
	ck_assert_uint_eq(tokset_count(set), 2);
}
END_TEST

START_TEST(test_url_end)
{
	/* a URL ends at a separator the reader sees as space; invisibles drop */
	static const char text[] = "http://evil.example\xe2\x80\x8b/p\xc2\xa0now "
	    "http://ev\xc2\xadil2.example\xe2\x80\x83then "
	    "http://b\xc3\xbc" "cher.example/q\xe3\x80\x80" "and "
	    "http://w1252.example/r\x94 done";

	for (size_t step = 1; step <= 7; step++) {
		run("", text, step);
		ck_assert(has("url:domain:evil.example"));
		ck_assert(has("url:path:p"));
		ck_assert(has("now"));
		ck_assert(has("url:domain:evil2.example"));
		ck_assert(has("then"));
		ck_assert(has("url:domain:xn--bcher-kva.example")); /* IDN */
		ck_assert(has("url:path:q"));
		ck_assert(has("and"));
		ck_assert(has("url:path:r"));
		ck_assert(has("done"));
		ck_assert_uint_eq(tokset_count(set), 15);
	}
}
END_TEST

/*
 * Word processors and phones write the apostrophe as U+2019: "we\u2019re"
 * is the word "we're" ASCII mail gives, not "we" and "re".
 */
START_TEST(test_typographic_apostrophe)
{
	for (size_t step = 1; step <= 2; step++) {
		run("", "we\xe2\x80\x99re don\xe2\x80\x99t \xe2\x80\x98quoted\xe2\x80\x99 "
		    "x \xe2\x80\x99 y", step);
		ck_assert(has("we're"));
		ck_assert(has("don't"));
		ck_assert(has("quoted"));
		ck_assert(!has("re"));
		ck_assert_uint_eq(tokset_count(set), 3);
	}
}
END_TEST

START_TEST(test_pairs)
{
	words_free(w);
	ck_assert_int_eq(words_new(20, 1, 0, &w), 0);
	run("S:", "a1 b2 c3", 1);
	ck_assert(has("S:a1+b2"));
	ck_assert(has("S:b2+c3"));
	ck_assert(!has("S:a1+?+c3"));
	words_free(w);
	ck_assert_int_eq(words_new(20, 0, 1, &w), 0);
	run("", "w1 w2 w3 w4 w5 w6", 4);
	ck_assert(has("w1+w2"));
	ck_assert(has("w1+?+?+?+w5"));
	ck_assert(!has("w1+?+?+?+?+w6"));
	ck_assert(has("w2+?+?+?+w6"));
	/* 6 words + 5 + 4 + 3 + 2 pairs */
	ck_assert_uint_eq(tokset_count(set), 6 + 5 + 4 + 3 + 2);
}
END_TEST

/*
 * The trade mark sign and the other letterlike symbols separate words, as
 * (c) and (R) do; the letterlike letters do not. HTML's &#153; became the
 * trade mark sign, which stuck to the word before it ("imakenews.com\u2122")
 * and to a host ("www.example.com\u2122" gave url:host:www.example.xn--...).
 */
START_TEST(test_letterlike_symbols)
{
	static const char text[] = "imakenews.com\xe2\x84\xa2 Quote\xe2\x84\xa2" "d "
	    "www.example.com\xe2\x84\xa2 now \xe2\x84\x96""5 "
	    "copy\xc2\xa9right \xe2\x84\x95ice";

	for (size_t step = 1; step <= 5; step++) {
		run("", text, step);
		ck_assert(has("imakenews.com"));
		ck_assert(has("quote"));
		ck_assert(has("url:host:www.example.com"));
		ck_assert(has("now"));
		ck_assert(has("copy"));
		ck_assert(has("right"));
		ck_assert(has("\xe2\x84\x95" "ice"));   /* a letter: kept */
	}
}
END_TEST

/*
 * A scheme is a URL's only with "//" after its ':' (an address after
 * "mailto:"): "the http: header" gave url:host:http, url:domain:http and
 * lost the word, "mailto: link" url:host:mailto.
 */
START_TEST(test_scheme_without_url)
{
	static const char text[] = "the http: header and mailto: link "
	    "http:\\\\evil.example.com\\x ftp:/pub Https:example "
	    "mailto:, real http://a.example/x https://b.example/y?z=1 "
	    "ftp://f.example/z mailto:bob@y.example HTTP://c.example/ end http:";

	for (size_t step = 1; step <= 7; step++) {
		run("", text, step);
		ck_assert(has("the"));
		ck_assert(has("http"));
		ck_assert(has("header"));
		ck_assert(has("mailto"));
		ck_assert(has("link"));
		ck_assert(has("evil.example.com"));
		ck_assert(has("ftp"));
		ck_assert(has("pub"));
		ck_assert(has("https"));
		ck_assert(has("example"));
		ck_assert(!has("url:host:http"));
		ck_assert(!has("url:host:mailto"));
		ck_assert(!has("url:host:evil.example.com"));
		ck_assert(!has("url:host:example"));
		/* real URLs are as they were */
		ck_assert(has("url:host:a.example"));
		ck_assert(has("url:path:x"));
		ck_assert(has("url:host:b.example"));
		ck_assert(has("url:path:y"));
		ck_assert(has("url:scheme:ftp"));
		ck_assert(has("url:host:f.example"));
		ck_assert(has("url:mailto:y.example"));
		ck_assert(has("url:host:c.example"));
		ck_assert(has("end"));
		ck_assert_uint_eq(tokset_count(set), 26);
	}
	/* a break (an HTML block, the end of a header) ends the wait */
	tokset_clear(set);
	words_begin(w, set, "");
	ck_assert_int_eq(words_feed(w, "go http:", 8), 0);
	ck_assert_int_eq(words_break(w), 0);
	ck_assert_int_eq(words_feed(w, "//x.example", 11), 0);
	ck_assert_int_eq(words_end(w), 0);
	ck_assert(has("http"));
	ck_assert(has("x.example"));
	ck_assert(!has("url:host:x.example"));
}
END_TEST

/*
 * MaxTokenLength goes to 1024 and words_new honours it (it capped it at
 * 128: a 200-byte word was "skip:a:200" under MaxTokenLength 1024).
 */
START_TEST(test_max_len_1024)
{
	static char text[2 * 1100 + 8];

	words_free(w);
	ck_assert_int_eq(words_new(1024, 0, 1, &w), 0);
	memset(text, 'q', 1024);
	text[1024] = ' ';
	memset(text + 1025, 'z', 1025);
	text[2050] = ' ';
	memcpy(text + 2051, "end", 4);
	for (size_t step = 1; step <= 1000; step += 999) {
		run("", text, step);
		ck_assert(has("skip:a:1020"));          /* 1025 letters */
		ck_assert(has("end"));
		text[1024] = '\0';
		ck_assert(has(text));                   /* 1024 letters */
		ck_assert(!has("skip:a:1000"));
		{
			char pair[1024 + 16];

			/* a pair keeps the whole long word (a skip: token
			 * is none) */
			memcpy(pair, text, 1024);
			memcpy(pair + 1024, "+end", 5);
			ck_assert(has(pair));
		}
		text[1024] = ' ';
	}
	/* past WORDS_MAXLEN, it is WORDS_MAXLEN */
	words_free(w);
	ck_assert_int_eq(words_new(5000, 0, 0, &w), 0);
	run("", text, 64);
	ck_assert(has("skip:a:1020"));
	ck_assert_uint_eq(tokset_count(set), 3);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("words");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_split_any_piece);
	tcase_add_test(tc, test_prefix_and_limits);
	tcase_add_test(tc, test_obfuscation);
	tcase_add_test(tc, test_pairs);
	tcase_add_test(tc, test_invisible);
	tcase_add_test(tc, test_url_end);
	tcase_add_test(tc, test_typographic_apostrophe);
	tcase_add_test(tc, test_scheme_without_url);
	tcase_add_test(tc, test_letterlike_symbols);
	tcase_add_test(tc, test_max_len_1024);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run(suite());
}
