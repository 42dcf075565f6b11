/*
 * check_url -- Check suite for classifier/url (URL tokens, registrable
 * domain heuristic).
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "classifier/url.h"
#include "tests/testutil.h"

static tokset *set;

static void setup(void)
{
	ck_assert_int_eq(tokset_new(0, 1, &set), 0);
}

static void teardown(void)
{
	tokset_free(set);
	set = NULL;
}

static int has(const char *t)
{
	return tokset_find(set, tok_hash(t, strlen(t))) >= 0;
}

static const char *dom(const char *host)
{
	return host + url_domain(host, strlen(host));
}

START_TEST(test_domain)
{
	ck_assert_str_eq(dom("www.example.com"), "example.com");
	ck_assert_str_eq(dom("example.com"), "example.com");
	ck_assert_str_eq(dom("com"), "com");
	ck_assert_str_eq(dom("a.b.example.co.uk"), "example.co.uk");
	ck_assert_str_eq(dom("example.co.uk"), "example.co.uk");
	ck_assert_str_eq(dom("shop.example.com.au"), "example.com.au");
	ck_assert_str_eq(dom("x.example.de"), "example.de");
	ck_assert_str_eq(dom(""), "");
}
END_TEST

START_TEST(test_tokens)
{
	static const char u[] = "HTTPS://Bob:pw@Login.Bank.Example.co.uk:8443/Verify/x?y=1#z).";

	ck_assert_int_eq(url_tokens(set, u, strlen(u)), 0);
	ck_assert(has("url:host:login.bank.example.co.uk"));
	ck_assert(has("url:domain:example.co.uk"));
	ck_assert(has("url:path:verify"));
	ck_assert(has("url:userinfo"));
	ck_assert(has("url:port"));
	ck_assert(!has("url:scheme:https"));
	tokset_clear(set);
	ck_assert_int_eq(url_tokens(set, "http://192.0.2.9/a", 18), 0);
	ck_assert(has("url:ip:192.0.2.9"));
	ck_assert(has("url:path:a"));
	ck_assert_uint_eq(tokset_count(set), 2);
	tokset_clear(set);
	ck_assert_int_eq(url_tokens(set, "mailto:Sales@Deals.Example?subject=x", 36), 0);
	ck_assert(has("url:mailto:deals.example"));
	ck_assert_int_eq(url_tokens(set, "javascript:void(0)", 18), 0);
	ck_assert(has("url:scheme:javascript"));
	ck_assert_int_eq(url_tokens(set, "www.plain.example/p", 19), 0);
	ck_assert(has("url:host:www.plain.example"));
	ck_assert(has("url:path:p"));
}
END_TEST

START_TEST(test_invisible_host)
{
	/* invisible characters in a host (an href's is not cleaned by words) */
	static const char u[] = "http://EV\xc2\xadil.ex\xe2\x80\x8b" "amp\xef\xbb\xbf"
	    "le\xe2\x81\xa0.\xe2\x80\x8e\xcd\x8f/p";

	ck_assert_int_eq(url_tokens(set, u, strlen(u)), 0);
	ck_assert(has("url:host:evil.example"));
	ck_assert(has("url:domain:evil.example"));
	ck_assert_uint_eq(tokset_count(set), 3);
}
END_TEST

/*
 * One host, one token, however it is spelled: percent escapes decoded, an
 * address written as one number, in hexadecimal or octal read as browsers
 * read it (each gave a token of its own: a free new name per message).
 */
START_TEST(test_host_spellings)
{
	static const char *const evil[] = { "http://%65vil.example/", "http://%45VIL.example/" };
	static const char *const loop[] = { "http://2130706433/", "http://0x7f.1/",
		"http://0177.0.0.01/", "http://0x7F000001/" };

	for (size_t i = 0; i < sizeof(evil) / sizeof(evil[0]); i++) {
		tokset_clear(set);
		ck_assert_int_eq(url_tokens(set, evil[i], strlen(evil[i])), 0);
		ck_assert_msg(has("url:host:evil.example"), "%s", evil[i]);
		ck_assert_msg(has("url:domain:evil.example"), "%s", evil[i]);
	}
	for (size_t i = 0; i < sizeof(loop) / sizeof(loop[0]); i++) {
		tokset_clear(set);
		ck_assert_int_eq(url_tokens(set, loop[i], strlen(loop[i])), 0);
		ck_assert_msg(has("url:ip:127.0.0.1"), "%s", loop[i]);
		ck_assert_uint_eq(tokset_count(set), 1);
	}
	/* not an address: as written; a name that starts with a digit: a name */
	tokset_clear(set);
	ck_assert_int_eq(url_tokens(set, "http://999.1.1.1/", 17), 0);
	ck_assert(has("url:ip:999.1.1.1"));
	tokset_clear(set);
	ck_assert_int_eq(url_tokens(set, "http://123.com/", 15), 0);
	ck_assert(has("url:host:123.com"));
}
END_TEST

/*
 * An IDN host is one token in its Unicode and its Punycode spelling, as a
 * browser maps it: fullwidth letters and ideographic full stops are ASCII
 * ("ｐａｙｐａｌ。com" is paypal.com); each spelling was a host of its own.
 */
START_TEST(test_idn_host)
{
	static const struct {
		const char *u, *host;
	} t[] = {
		{ "http://\xd0\xbf\xd1\x80\xd0\xb8\xd0\xbc\xd0\xb5\xd1\x80.\xd1\x80\xd1\x84/x",
		  "url:host:xn--e1afmkfd.xn--p1ai" },
		{ "http://xn--e1afmkfd.xn--p1ai/x", "url:host:xn--e1afmkfd.xn--p1ai" },
		{ "https://www.m\xc3\xbc" "nchen.de/", "url:host:www.xn--mnchen-3ya.de" },
		{ "http://%C3%BC.example/", "url:host:xn--tda.example" },
		{ "http://\xe3\x83\x89\xe3\x83\xa1\xe3\x82\xa4\xe3\x83\xb3."
		  "\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88", "url:host:xn--eckwd4c7c.xn--zckzah" },
		{ "http://a-b-\xc3\xbc.example.", "url:host:xn--a-b--3ra.example" },
		{ "http://\xef\xbd\x90\xef\xbd\x81\xef\xbd\x99\xef\xbc\xb0\xef\xbc\xa1"
		  "\xef\xbd\x8c\xe3\x80\x82" "com/", "url:host:paypal.com" },
		{ "http://evil\xef\xbc\x8e" "example/", "url:host:evil.example" },
		/* a fullwidth '/' (U+FF0F) ends the host, it is not one of it */
		{ "http://evil.\xc3\xbc.com\xef\xbc\x8fpaypal.com/",
		  "url:host:evil.xn--tda.com" },
		/* past U+10FFFF (its Punycode never ended), a surrogate, an
		 * overlong form: not UTF-8, as it is */
		{ "http://co\xf4\xad\x8b\xa5jec.example/",
		  "url:host:co\xf4\xad\x8b\xa5jec.example" },
		{ "http://a\xed\xa0\x80.example/", "url:host:a\xed\xa0\x80.example" },
		{ "http://a\xe0\x81\x81.example/", "url:host:a\xe0\x81\x81.example" },
		/* not UTF-8: as it is (last: its domain is checked below) */
		{ "http://caf\xe9.example/", "url:host:caf\xe9.example" } };

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		tokset_clear(set);
		ck_assert_int_eq(url_tokens(set, t[i].u, strlen(t[i].u)), 0);
		ck_assert_msg(has(t[i].host), "%s: no %s", t[i].u, t[i].host);
	}
	ck_assert(has("url:domain:caf\xe9.example"));
	tokset_clear(set);
	ck_assert_int_eq(url_tokens(set, t[0].u, strlen(t[0].u)), 0);
	ck_assert(has("url:domain:xn--e1afmkfd.xn--p1ai"));
}
END_TEST

static const char *reg(const char *u)
{
	static char out[64];

	url_regdomain(u, strlen(u), out, sizeof(out));
	return out;
}

START_TEST(test_regdomain)
{
	ck_assert_str_eq(reg("https://x:y@WWW.Shop.Example.co.uk:443/a"), "example.co.uk");
	ck_assert_str_eq(reg("www.example.com/path"), "example.com");
	ck_assert_str_eq(reg("http://10.1.2.3/x"), "10.1.2.3");
	ck_assert_str_eq(reg("mailto:a@b.example"), "");
	ck_assert_str_eq(reg("/relative/path"), "");
	ck_assert_str_eq(reg("http://localhost/"), "");
	ck_assert_str_eq(reg("http://b.example) more"), "b.example");
	/* a URL in text ends at white space, ASCII or Unicode */
	ck_assert_str_eq(reg("https://www.paypal.com\n</a>"), "paypal.com");
	ck_assert_str_eq(reg("www.paypal.com\r\nx.y"), "paypal.com");
	ck_assert_str_eq(reg("www.paypal.com\tx.y"), "paypal.com");
	ck_assert_str_eq(reg("www.paypal.com\xc2\xa0x.y"), "paypal.com");
	ck_assert_str_eq(reg("www.paypal.com\xe2\x80\x83x.y"), "paypal.com");
	ck_assert_str_eq(reg("www.paypal.com\xe3\x80\x80x.y"), "paypal.com");
	ck_assert_str_eq(reg("http://shop.b\xc3\xbc" "cher.example/"), "");
}
END_TEST

START_TEST(test_degenerate)
{
	static const char *const bad[] = { "", "http:", "http://", "http:///", "://",
		"mailto:", "mailto:@", "http://@", "http://:80", "....", NULL };

	for (int i = 0; bad[i] != NULL; i++)
		ck_assert_int_eq(url_tokens(set, bad[i], strlen(bad[i])), 0);
	for (size_t i = 0; i < tokset_count(set); i++)
		ck_assert(strncmp(tokset_text(set, i), "url:", 4) == 0);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("url");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_domain);
	tcase_add_test(tc, test_tokens);
	tcase_add_test(tc, test_invisible_host);
	tcase_add_test(tc, test_host_spellings);
	tcase_add_test(tc, test_idn_host);
	tcase_add_test(tc, test_regdomain);
	tcase_add_test(tc, test_degenerate);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run(suite());
}
