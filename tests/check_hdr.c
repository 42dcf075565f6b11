/*
 * check_hdr -- Check suite for classifier/hdr (field names, unfolding,
 * RFC 2047, MIME parameters, per-field tokens).
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classifier/hdr.h"
#include "tests/testutil.h"

static charset *cs;
static tokset *set;
static words *w;
static char out[4096];

static void setup(void)
{
	ck_assert_int_eq(charset_new(&cs), 0);
	ck_assert_int_eq(tokset_new(0, 1, &set), 0);
	ck_assert_int_eq(words_new(40, 0, 0, &w), 0);
}

static void teardown(void)
{
	charset_free(cs);
	tokset_free(set);
	words_free(w);
}

static int has(const char *t)
{
	return tokset_find(set, tok_hash(t, strlen(t))) >= 0;
}

static const char *dec(const char *in)
{
	hdr_decode(cs, in, strlen(in), out, sizeof(out));
	return out;
}

START_TEST(test_canon)
{
	char c[HDR_NAMEMAX];

	ck_assert_uint_eq(hdr_canon("MESSAGE-ID ", 11, c), 10);
	ck_assert_str_eq(c, "Message-Id");
	hdr_canon("x-spam\x01 odd", 11, c);
	ck_assert_str_eq(c, "X-Spam__odd");
}
END_TEST

START_TEST(test_decode)
{
	ck_assert_str_eq(dec(" plain\r\n\tfolded "), "plain\tfolded");
	ck_assert_str_eq(dec("=?UTF-8?B?w6k=?= =?ISO-8859-1?Q?=E9_x?= end"), "éé x end");
	ck_assert_str_eq(dec("=?utf-8?q?a?= b =?utf-8?q?c?="), "a b c");
	ck_assert_str_eq(dec("=?utf-8*fr?Q?d=C3=A9j=C3=A0?="), "déjà");
	ck_assert_str_eq(dec("=?bogus?Q?raw=41?="), "rawA");   /* unknown charset: bytes */
	ck_assert_str_eq(dec("=?utf-8?X?nope?= =?utf-8?q?open"), "=?utf-8?X?nope?= =?utf-8?q?open");
	ck_assert_str_eq(dec("=?utf-8?B?"), "=?utf-8?B?");
	ck_assert_str_eq(dec("=?=?"), "=?=?");
}
END_TEST

/*
 * A character split between adjacent encoded words of one charset (as
 * mailers write Shift_JIS, GBK, Big5) reads whole: each word was converted
 * alone, which turned both halves into other characters. Blanks between
 * them still vanish, blanks before text stay.
 */
START_TEST(test_decode_split_character)
{
	/* Shift_JIS "日本語" (93fa 967b 8cea) split after 3 bytes */
	ck_assert_str_eq(dec("=?shift_jis?B?k/qW?=\r\n =?SHIFT_JIS?B?e4zq?= x"),
	    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e x");
	/* GBK "中文" (d6d0 cec4) split inside the second character, Q */
	ck_assert_str_eq(dec("=?gb2312?Q?=D6=D0=CE?= =?gb2312?Q?=C4?=!"),
	    "\xe4\xb8\xad\xe6\x96\x87!");
	/* another charset between them: converted one by one */
	ck_assert_str_eq(dec("=?iso-8859-1?q?=E9?= =?utf-8?q?=C3=A9?=  =?iso-8859-1?q?=E8?=  z"),
	    "\xc3\xa9\xc3\xa9\xc3\xa8  z");
	ck_assert_str_eq(dec("=?bogus?q?a?= =?bogus?q?b?= =?x?q?"), "ab =?x?q?");
}
END_TEST

START_TEST(test_decode_many_unterminated)
{
	/* thousands of "=?" starts without an end: linear, nothing decoded */
	static char big[16000];

	for (size_t i = 0; i + 8 < sizeof(big); i += 8)
		memcpy(big + i, "=?a?q?x ", 8);
	big[sizeof(big) - 1] = '\0';
	ck_assert_uint_gt(hdr_decode(cs, big, strlen(big), out, sizeof(out)), 4000);
	ck_assert(strncmp(out, "=?a?q?x =?a?q?x", 15) == 0);
}
END_TEST

START_TEST(test_params)
{
	static const char ct[] =
	    "multipart/Mixed; BOUNDARY=\"=_a;b\\\"c\"; charset = utf-8 ;"
	    " name*=UTF-8''r%C3%A9sum%C3%A9.pdf; x*1=no";
	char v[128];

	hdr_type(ct, strlen(ct), v, sizeof(v));
	ck_assert_str_eq(v, "multipart/mixed");
	ck_assert_int_eq(hdr_param(ct, strlen(ct), "boundary", v, sizeof(v)), 1);
	ck_assert_str_eq(v, "=_a;b\"c");
	ck_assert_int_eq(hdr_param(ct, strlen(ct), "charset", v, sizeof(v)), 1);
	ck_assert_str_eq(v, "utf-8");
	ck_assert_int_eq(hdr_param(ct, strlen(ct), "name", v, sizeof(v)), 1);
	ck_assert_str_eq(v, "résumé.pdf");
	ck_assert_int_eq(hdr_param(ct, strlen(ct), "x", v, sizeof(v)), 0);
	ck_assert_int_eq(hdr_param(ct, strlen(ct), "missing", v, sizeof(v)), 0);
	ck_assert_str_eq(v, "");
	hdr_type("text", 4, v, sizeof(v));
	ck_assert_str_eq(v, "");
}
END_TEST

/*
 * RFC 2231 continuations, as Thunderbird and Outlook write a long file
 * name: the sections are joined (only the first was kept, so
 * "...invoice.pdf.exe" lost its extension); "charset'lang'" is only at the
 * start of section 0; a section out of order or after a gap ends it.
 */
START_TEST(test_param_continuations)
{
	static const char cd[] =
	    "attachment;\r\n filename*0*=UTF-8''Rechnung%20M%C3%A4rz%20;\r\n"
	    " filename*1*=2024%27s.pdf;\r\n filename*2=\".exe\"; size=12";
	static const char gap[] = "inline; name*0=a; name*2=c; name*1=b; name=z";
	static const char plain[] = "inline; name=\"whole.txt\"; name*0=x";
	char v[128];

	ck_assert_int_eq(hdr_param(cd, strlen(cd), "filename", v, sizeof(v)), 1);
	ck_assert_str_eq(v, "Rechnung M\xc3\xa4rz 2024's.pdf.exe");
	ck_assert_int_eq(hdr_param(gap, strlen(gap), "name", v, sizeof(v)), 1);
	ck_assert_str_eq(v, "ab");
	ck_assert_int_eq(hdr_param(plain, strlen(plain), "name", v, sizeof(v)), 1);
	ck_assert_str_eq(v, "whole.txt");
	/* a cut value still ends in a NUL */
	ck_assert_int_eq(hdr_param(cd, strlen(cd), "filename", v, 10), 1);
	ck_assert_str_eq(v, "Rechnung ");
	hdr_type("a/b/c", 5, v, sizeof(v));
	ck_assert_str_eq(v, "");
}
END_TEST

START_TEST(test_presence_only_when_it_says_more)
{
	/* An empty value, a value of punctuation, the reply fields (whose
	 * hosts go to Message-Id:host:) and Content-* give hdr:NAME. */
	ck_assert_int_eq(hdr_tokens(set, w, "X-Keywords", "", 0), 0);
	ck_assert(has("hdr:X-Keywords"));
	ck_assert_int_eq(hdr_tokens(set, w, "X-Flag", " -- ", 4), 0);
	ck_assert(has("hdr:X-Flag"));
	ck_assert_int_eq(hdr_tokens(set, w, "In-Reply-To", "<a@b.example>", 13), 0);
	ck_assert(has("hdr:In-Reply-To"));
	ck_assert(has("Message-Id:host:b.example"));
	ck_assert_int_eq(hdr_tokens(set, w, "References", "<c@d.example>", 13), 0);
	ck_assert(has("hdr:References"));
	/* Fields whose value gives tokens of their own do not. */
	ck_assert_int_eq(hdr_tokens(set, w, "Subject", "hello there", 11), 0);
	ck_assert(!has("hdr:Subject"));
	ck_assert(has("Subject:hello"));
	ck_assert_int_eq(hdr_tokens(set, w, "Message-Id", "<x@e.example>", 13), 0);
	ck_assert(!has("hdr:Message-Id"));
	ck_assert_int_eq(hdr_tokens(set, w, "X-Mailer", "caf\xc3\xa9", 5), 0);
	ck_assert(!has("hdr:X-Mailer"));
}
END_TEST

START_TEST(test_addresses)
{
	static const char from[] = "\"Bob, Jr\" <Bob.Jr+tag@Mail.Example.CO.UK>, eve@evil.example";
	char a[64];

	ck_assert_int_eq(hdr_tokens(set, w, "From", from, strlen(from)), 0);
	/* The value gives From: tokens: no separate presence token. */
	ck_assert(!has("hdr:From"));
	ck_assert(has("From:addr:bob.jr+tag@mail.example.co.uk"));
	ck_assert(has("From:host:mail.example.co.uk"));
	ck_assert(has("From:domain:example.co.uk"));
	ck_assert(has("From:addr:eve@evil.example"));
	ck_assert(has("From:domain:evil.example"));
	ck_assert(!has("From:host:evil.example")); /* same as its domain */
	ck_assert(has("From:bob"));
	ck_assert_uint_eq(hdr_addr(from, strlen(from), a, sizeof(a)), 29);
	ck_assert_str_eq(a, "bob.jr+tag@mail.example.co.uk");
	ck_assert_uint_eq(hdr_addr("no address @ here", 17, a, sizeof(a)), 0);
	ck_assert_str_eq(a, "");
	/*
	 * The address a mail client shows, not one the sender put in the
	 * display name or a comment (taken as the sender, it passed the
	 * whitelist of the address it named).
	 */
	{
		static const struct { const char *v, *want; } c[] = {
			{ "\"ceo@bank.example\" <spammer@evil.example>",
			    "spammer@evil.example" },
			{ "Bob (mail me at ceo@bank.example) <bob@spam.example>",
			    "bob@spam.example" },
			{ "(ceo@bank.example) bob@spam.example",
			    "bob@spam.example" },
			{ "\"a \\\" ceo@bank.example\" <x@spam.example>",
			    "x@spam.example" },
			{ "ceo@bank.example <x@spam.example>", "x@spam.example" },
			{ "plain@example.org", "plain@example.org" },
			{ "A <first@example.org>, B <second@example.org>",
			    "first@example.org" },
			{ "Name <broken@example.org", "broken@example.org" },
			{ "\"only ceo@bank.example\"", "" },
			/* the first mailbox of a list, not a later one's <...> */
			{ "WebXperts@no.host.example, Design@x.example, "
			    "\"Inc.\" <Web@y.example>", "webxperts@no.host.example" },
			{ "@@@ bad@, (c@d) ok@e.example", "" },
			{ "x <@@a@b.example>", "a@b.example" },
		};

		for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
			hdr_addr(c[i].v, strlen(c[i].v), a, sizeof(a));
			ck_assert_msg(strcmp(a, c[i].want) == 0,
			    "%s: got %s, want %s", c[i].v, a, c[i].want);
		}
	}
}
END_TEST

START_TEST(test_ids_and_mailer)
{
	ck_assert_int_eq(hdr_tokens(set, w, "Message-Id", "<x.1@Host.Example>", 18), 0);
	ck_assert(has("Message-Id:host:host.example"));
	ck_assert(!has("Message-Id:x.1"));
	ck_assert_int_eq(hdr_tokens(set, w, "Message-Id", "<nohost>", 8), 0);
	ck_assert(has("Message-Id:noat"));
	ck_assert_int_eq(hdr_tokens(set, w, "User-Agent", "Mutt/2.2 (Linux)", 16), 0);
	ck_assert(has("User-Agent:full:mutt/2.2 (linux)"));
	ck_assert(has("User-Agent:mutt"));
	ck_assert_int_eq(hdr_tokens(set, w, "Content-Type", "text/plain", 10), 0);
	ck_assert(has("hdr:Content-Type"));
	ck_assert(!has("Content-Type:text"));
}
END_TEST

START_TEST(test_received)
{
	static const char r[] = "from [10.0.0.1] (unknown [198.51.100.7]) by mx.example.org "
	    "(Post.Office MTA v3.5.3) with ESMTPSA id ABC123 for <u@example.org>; Mon, 1 Jan 2024";

	ck_assert_int_eq(hdr_tokens(set, w, "Received", r, strlen(r)), 0);
	ck_assert(has("Received:helo:10.0.0.1"));
	ck_assert(has("Received:ip:198.51.100.7"));
	ck_assert(has("Received:net:198.51.100"));
	ck_assert(has("Received:host:mx.example.org"));
	ck_assert(has("Received:domain:example.org"));
	ck_assert(has("Received:with:esmtpsa"));
	ck_assert(!has("Received:ip:999.1.1.1"));
	ck_assert(!has("Received:abc123"));
	ck_assert(!has("Received:host:v3.5.3"));
	ck_assert(!has("Received:domain:5.3"));
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("hdr");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_canon);
	tcase_add_test(tc, test_decode);
	tcase_add_test(tc, test_decode_many_unterminated);
	tcase_add_test(tc, test_decode_split_character);
	tcase_add_test(tc, test_params);
	tcase_add_test(tc, test_param_continuations);
	tcase_add_test(tc, test_presence_only_when_it_says_more);
	tcase_add_test(tc, test_addresses);
	tcase_add_test(tc, test_ids_and_mailer);
	tcase_add_test(tc, test_received);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run(suite());
}
