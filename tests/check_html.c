/*
 * check_html -- Check suite for classifier/html (visible text, entities,
 * markup tokens), fed in any pieces.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classifier/html.h"
#include "tests/testutil.h"

static tokset *set;
static words *w, *hw;    /* shown text, hidden text */
static html *h;

static void setup(void)
{
	ck_assert_int_eq(tokset_new(0, 1, &set), 0);
	ck_assert_int_eq(words_new(40, 0, 0, &w), 0);
	ck_assert_int_eq(words_new(40, 0, 0, &hw), 0);
	ck_assert_int_eq(html_new(&h), 0);
}

static void teardown(void)
{
	html_free(h);
	words_free(w);
	words_free(hw);
	tokset_free(set);
}

static int has(const char *t)
{
	return tokset_find(set, tok_hash(t, strlen(t))) >= 0;
}

static void run(const char *s, size_t step)
{
	size_t n = strlen(s);

	tokset_clear(set);
	words_begin(w, set, NULL);
	words_begin(hw, set, "hidden:");
	html_begin(h, w, hw, set);
	for (size_t o = 0; o < n; o += step)
		ck_assert_int_eq(html_feed(h, s + o, n - o < step ? n - o : step), 0);
	ck_assert_int_eq(html_end(h), 0);
}

START_TEST(test_text_and_tags)
{
	static const char doc[] =
	    "<HTML><body>Fr<!-- -- > still comment -->ee<span>dom</span> "
	    "now<br>later<p>para&amp;graph &#72;&#x49; &bogus; &lt;b&gt; &nbsp"
	    "<script type=x>hidden1 < 3</script><STYLE>hidden2</style >after "
	    "<a href=http://a.example/q title='x > y'>link</a><?php no ?>"
	    "<!DOCTYPE html><img src=\"cid:part1\" width=0></body>";

	for (size_t step = 1; step <= 9; step += 4) {
		run(doc, step);
		ck_assert(has("freedom"));
		ck_assert(has("now"));
		ck_assert(has("later"));      /* <br> splits */
		ck_assert(has("para"));
		ck_assert(has("graph"));
		ck_assert(has("hi"));         /* numeric entities */
		ck_assert(has("bogus"));      /* unknown entity kept as text */
		ck_assert(has("after"));
		ck_assert(has("link"));
		ck_assert(has("html:html"));
		ck_assert(has("html:span"));
		ck_assert(has("html:a-href"));
		ck_assert(has("html:a-title"));
		ck_assert(has("url:host:a.example"));
		ck_assert(has("url:scheme:cid"));
		ck_assert(has("html:img-tiny"));
		ck_assert(has("html:comment"));
		ck_assert(!has("hidden1"));
		ck_assert(!has("hidden2"));
		ck_assert(!has("still"));
		ck_assert(!has("php"));
		ck_assert(!has("doctype"));
	}
}
END_TEST

START_TEST(test_unclosed)
{
	/* every unclosed construct just ends the text */
	static const char *const docs[] = { "a <!-- never closed", "b <script>x",
		"c <a href=\"http://u.example", "dd &amp", "e <", "f <b attr", NULL };

	for (int i = 0; docs[i] != NULL; i++)
		run(docs[i], 1);
	run("dd &amp", 1);
	ck_assert(has("dd"));
}
END_TEST

START_TEST(test_style_hidden)
{
	run("<div style=\"DISPLAY : none\">x</div>", 3);
	ck_assert(has("html:hidden"));
	run("<p style='font-size:0px'>x</p>", 3);
	ck_assert(has("html:hidden"));
	run("<p style='font-size:0.9em'>x</p>", 3);
	ck_assert(!has("html:hidden"));
	run("<font color=#FF0000 face='Arial'>x</font>", 2);
	ck_assert(has("html:font-color:#ff0000"));
	ck_assert(has("html:font-face:arial"));
}
END_TEST

/*
 * Hidden text is dropped and does not glue into the word around it: the
 * halves that show join as a reader sees them ("fr<span
 * style=display:none>xyz</span>ee" read "frxyzee"); visibility:hidden
 * leaves a blank. Hiding ends at the element's end, implied or explicit,
 * and at any end tag it cannot match (text a reader sees is never dropped).
 */
START_TEST(test_hidden_text)
{
	/* the text shown, and the hidden words, each read as its own */
	static const char *const joined[][2] = {
		{ "fr<span style=display:none>xyz</span>ee", "hidden:xyz" },
		{ "fr<SPAN STYLE=\"Display: None\">xyz</SPAN>ee", "hidden:xyz" },
		/* no box, no break */
		{ "fr<div style='display:none'>xyz</div>ee", "hidden:xyz" },
		{ "fr<span style='font-size:0px'>xyz</span>ee", "hidden:xyz" },
		{ "fr<span style=display:none>&#120;yz<b>xyz</b>xyz</span>ee",
		    "hidden:xyzxyzxyz" },
		/* blocks inside break the hidden words */
		{ "fr<span style=display:none>xyz<br>xyz<p>xyz</span>ee",
		    "hidden:xyz" },
		{ "fr<font style=display:none>xyz<img src=x>xyz</font>ee",
		    "hidden:xyz" },
		{ NULL, NULL } };

	for (int i = 0; joined[i][0] != NULL; i++)
		for (size_t step = 1; step <= 9; step += 4) {
			run(joined[i][0], step);
			ck_assert_msg(has("free"), "%s", joined[i][0]);
			ck_assert_msg(has(joined[i][1]), "%s", joined[i][0]);
			ck_assert_msg(!has("xyz") && !has("frxyzee") &&
			    !has("frxyz") && !has("xyzee") &&
			    !has("hidden:frxyzee") && !has("hidden:xyzee"),
			    "%s", joined[i][0]);
			ck_assert_msg(has("html:hidden"), "%s", joined[i][0]);
		}
	run("fr<span style=visibility:hidden>xyz</span>ee", 1);
	ck_assert(has("fr") && has("ee") && !has("free") && !has("xyz") &&
	    has("hidden:xyz"));
	/* two hidden elements' words do not join across the text shown */
	run("<span style=display:none>ab</span>xx<span style=display:none>cd</span>", 1);
	ck_assert(has("hidden:ab") && has("hidden:cd") && has("xx") &&
	    !has("hidden:abcd"));
	/* spam written all inside hidden elements is still read, apart */
	run("<span style=display:none>cheap pills</span>", 1);
	ck_assert(has("hidden:cheap") && has("hidden:pills"));
	/*
	 * A style sheet can show hidden text again (span{display:inline
	 * !important}): a rule this parser cannot place that does so beats
	 * a style attribute that hides, unless that is !important too.
	 */
	run("<style>span{display:inline!important}</style>"
	    "<span style=display:none>cheap pills</span>", 1);
	ck_assert(has("cheap") && has("pills") && !has("hidden:cheap"));
	run("<style>span{display:inline}</style>"
	    "<span style=display:none>cheap pills</span>", 1);
	ck_assert(has("hidden:cheap") && !has("cheap"));
	run("<style>span{display:inline!important}</style>"
	    "<span style='display:none!important'>cheap pills</span>", 1);
	ck_assert(has("hidden:cheap") && !has("cheap"));
	/* nested, then shown again */
	run("<div style=display:none>aa<div>bb</div>cc</div>dd", 1);
	ck_assert(has("dd") && !has("aa") && !has("bb") && !has("cc"));
	ck_assert(has("hidden:aa") && has("hidden:bb") && has("hidden:cc") &&
	    !has("hidden:dd") && !has("hidden:aabb") && !has("hidden:bbcc"));
	/* an ancestor's end ends it; so does an end tag it cannot match */
	run("<div><span style=display:none>junk</div>shown", 1);
	ck_assert(has("shown") && !has("junk"));
	run("<span style=display:none>junk</b>shown</span>", 1);
	ck_assert(has("shown") && !has("junk"));
	/* the block end that ends it still separates the words around it */
	run("<div>aa<span style=display:none>junk</div>bb", 1);
	ck_assert(has("aa") && has("bb") && !has("aabb") && !has("junk"));
	run("<p>aa<b style=display:none>junk</p>bb", 1);
	ck_assert(has("aa") && has("bb") && !has("aabb"));
	/* implied ends */
	run("<p style=display:none>junk<p>shown", 1);
	ck_assert(has("shown") && !has("junk"));
	run("<ul><li style=display:none>junk<li>shown</ul>", 1);
	ck_assert(has("shown") && !has("junk"));
	run("<table><tr><td style=display:none>junk<td>shown</table>", 1);
	ck_assert(has("shown") && !has("junk"));
	/* void elements hide nothing after them */
	run("<img style=display:none src=x>shown <br style=display:none>too", 1);
	ck_assert(has("shown") && has("too"));
	/*
	 * font-size:0 and visibility:hidden are inherited, not final: a
	 * descendant that sets its own size (or visibility:visible) shows its
	 * text, and a class or id may do so from a style sheet this parser
	 * does not read; such text is read (it was dropped: spam wrapped in
	 * <div style=font-size:0> left the filter nothing to read).
	 */
	run("<div style=font-size:0>junk<span style='font-size:16px'>shown</span></div>", 1);
	ck_assert(has("shown") && has("html:hidden"));
	run("<div style=font-size:0><p><font size=4>shown</font></p></div>", 1);
	ck_assert(has("shown"));
	run("<div style=visibility:hidden><b style=visibility:visible>shown</b></div>", 1);
	ck_assert(has("shown"));
	run("<td style=font-size:0><span class=big>shown</span></td>", 1);
	ck_assert(has("shown"));
	/* but not what cannot show: a size under visibility:hidden, anything
	 * under display:none */
	run("<div style=visibility:hidden>aa<b style=font-size:16px>junk</b></div>", 1);
	ck_assert(!has("junk") && !has("aa"));
	run("<div style=display:none><b style='font-size:16px;visibility:visible' class=x>junk</b></div>", 1);
	ck_assert(!has("junk"));
	/* webmail shows the text of a hidden body */
	run("<body style=display:none>shown</body>", 1);
	ck_assert(has("shown") && has("html:hidden"));
	/* markup inside still gives its tokens */
	run("<div style=display:none><a href=http://evil.example/>x</a></div>", 1);
	ck_assert(has("url:host:evil.example"));
}
END_TEST

/*
 * A style sheet's rules hide by class or id as an inline style does: junk
 * words in elements of a class the sheet hides are read apart, as hidden.
 * Only rules whose elements the parser can tell (one class or id, on any
 * element or on one) count; others show their text.
 */
START_TEST(test_sheet_hidden)
{
	static const char *const hidden[] = {
		"<style>.x{display:none}</style>fr<span class=x>xyz</span>ee",
		"<STYLE type=text/css>\n/* junk */ .A , .x { FONT-SIZE : 0px }"
		"</STYLE>fr<span class='y X'>xyz</span>ee",
		"<style>@media screen { span.x { display: none !important } }"
		"</style>fr<span class=x>xyz</span>ee",
		"<style>p{color:red} #h{display:none}</style>fr<b id=H>xyz</b>ee",
		NULL };

	for (int i = 0; hidden[i] != NULL; i++)
		for (size_t step = 1; step <= 9; step += 4) {
			run(hidden[i], step);
			ck_assert_msg(has("free") && has("hidden:xyz") &&
			    !has("xyz") && has("html:hidden"), "%s (step %zu)",
			    hidden[i], step);
		}
	/* an element name with a digit; a block keeps its break */
	run("<style>h1.x{font-size:0}</style>fr<h1 class=x>xyz</h1>ee", 1);
	ck_assert(has("fr") && has("ee") && has("hidden:xyz") && !has("xyz"));
	/* visibility:hidden leaves its blank, as inline */
	run("<style>.v{visibility:hidden}</style>fr<span class=v>xyz</span>ee", 1);
	ck_assert(has("fr") && has("ee") && has("hidden:xyz") && !has("xyz"));
	/* rules it cannot tell, or that do not hide: shown */
	run("<style>div .x{display:none} .y:hover{display:none} .z{color:red}"
	    "</style><span class=x>aa</span> <span class=y>bb</span> "
	    "<span class=z>cc</span>", 3);
	ck_assert(has("aa") && has("bb") && has("cc"));
	ck_assert(!has("html:hidden"));
	/* a rule on one element does not hide another of the class */
	run("<style>span.x{display:none}</style><div class=x>dd</div>", 2);
	ck_assert(has("dd") && !has("hidden:dd"));
	/* a rule cut off at the end of the sheet, or in a comment: nothing */
	run("<style>/* .x{display:none} */ .y{display:none</style>"
	    "<span class=x>aa</span> <span class=y>bb</span>", 1);
	ck_assert(has("aa") && has("bb"));
	/* the rules last for the part they are in only */
	run("<style>.x{display:none}</style>", 1);
	run("<span class=x>aa</span>", 1);
	ck_assert(has("aa"));
}
END_TEST

/* Is the word w of the last run() shown (1), hidden (0), or neither (-1)? */
static int shown(const char *w)
{
	char hw_[64];

	snprintf(hw_, sizeof(hw_), "hidden:%s", w);
	return has(w) && !has(hw_) ? 1 : !has(w) && has(hw_) ? 0 : -1;
}

/*
 * The sheet's rules as CSS's cascade reads them: the last of a selector,
 * the more specific selector, !important, the element's own style; and
 * what the parser cannot tell (nested rules, conditional @media, other
 * at-rules) shows the text, never hides it.
 */
START_TEST(test_sheet_cascade)
{
	static const struct { const char *doc; int shown; } cases[] = {
		/* nested rules (CSS nesting): .a .b's block is not .a's */
		{ "<style>.a{color:red;.b{display:none}}</style><p class=a>vis</p>", 1 },
		/* @media for print, a width, @supports: skipped whole */
		{ "<style>@media print{.a{display:none}}</style><p class=a>vis</p>", 1 },
		{ "<style>@media (max-width:0){.a{display:none}}</style><p class=a>vis</p>", 1 },
		{ "<style>@media only screen and (max-width:480px){.a{display:none!important}}"
		  "</style><p class=a>vis</p>", 1 },
		{ "<style>@supports (display:grid){.a{display:none}}</style><p class=a>vis</p>", 1 },
		{ "<style>@media only screen, all{.a{display:none}}</style><p class=a>vis</p>", 0 },
		/* the rule after an at-rule skipped still counts */
		{ "<style>@media print{.b{color:red}} .a{display:none}</style><p class=a>vis</p>", 0 },
		{ "<style>@font-face{font-family:x;src:url(y)} .a{font-size:0}</style>"
		  "<p class=a>vis</p>", 0 },
		/* the later rule of a selector wins, unless !important */
		{ "<style>.a{display:none}.a{display:block}</style><p class=a>vis</p>", 1 },
		{ "<style>.a{display:none!important}.a{display:block}</style><p class=a>vis</p>", 0 },
		{ "<style>.a{display:block}.a{display:none}</style><p class=a>vis</p>", 0 },
		/* two classes: the later rule; a more specific selector first */
		{ "<style>.a{display:none}.b{display:block}</style><p class='a b'>vis</p>", 1 },
		{ "<style>.b{display:block}.a{display:none}</style><p class='a b'>vis</p>", 0 },
		{ "<style>span.a{display:none}.a{display:inline}</style><span class=a>vis</span>", 0 },
		{ "<style>#i{display:none}.a{display:block}</style><p class=a id=i>vis</p>", 0 },
		/* the element's own style over the sheet, unless !important */
		{ "<style>.a{display:none}</style><p class=a style='display:block'>vis</p>", 1 },
		{ "<style>.a{display:none}</style><p style='display:block' class=a>vis</p>", 1 },
		{ "<style>.a{display:none !important}</style><p class=a style=display:block>vis</p>", 0 },
		{ "<style>.a{visibility:hidden}</style><p class=a style=visibility:visible>vis</p>", 1 },
		/* inline: the last declaration of a property */
		{ "<p style='display:none;display:block'>vis</p>", 1 },
		{ "<p style='display:block;display:none'>vis</p>", 0 },
		/* a sheet wrapped in an HTML comment, as mail templates do */
		{ "<style><!--\n.a{display:none}\n--></style><p class=a>vis</p>", 0 },
		/* a later sheet's rule is the later rule */
		{ "<style>.x{color:red}.b{display:none}</style><style>.a{display:block}</style>"
		  "<p class='a b'>vis</p>", 1 },
		/* !important within one block or style */
		{ "<p style='display:block!important;display:none'>vis</p>", 1 },
		{ "<style>.a{display:block ! important;display:none}</style><p class=a>vis</p>", 1 },
		/* quoted strings and comments hold no declaration */
		{ "<p style=\"font-family:'x;display:none;y'\">vis</p>", 1 },
		{ "<p style=\"font-family:'x;visibility:hidden'\">vis</p>", 1 },
		{ "<p style='/*;display:none;*/'>vis</p>", 1 },
		{ "<p style='disp/**/lay:none'>vis</p>", 1 },
		{ "<p style='display:/*x*/none'>vis</p>", 0 },
		{ "<style>.x{content:'}.a{'; display:none}</style><p class=a>vis</p>", 1 },
		{ "<style>.a{display:none}.w{content:'/*'}.a{display:block}.w{content:'*/'}</style>"
		  "<p class=a>vis</p>", 1 },
		{ "<style>.w{content:\"\\\"}.a{\"}.a{display:none}</style><p class=a>vis</p>", 0 },
		/* values a browser does not know: the declaration does not count */
		{ "<p style='visibility:hiddenx'>vis</p>", 1 },
		{ "<p style='font-size:0x'>vis</p>", 1 },
		{ "<p style='font-size:0 px'>vis</p>", 1 },
		{ "<p style='font-size:0pt'>vis</p>", 0 },
		{ "<p style='display:none!importantx'>vis</p>", 1 },
		/* a rule this parser cannot place shows: no rule hides by it */
		{ "<style>.a{display:none}.a.b{display:block}</style><p class='a b'>vis</p>", 1 },
		{ "<style>.a{display:none}*.a{display:block}</style><p class=a>vis</p>", 1 },
		{ "<style>.m{display:none}@media (max-width:600px){.m{display:block!important}}"
		  "</style><p class=m>vis</p>", 1 },
		{ "<style>.m{font-size:0}@media (max-width:600px){.m{display:block}}"
		  "</style><p class=m>vis</p>", 0 },
		{ "<style>.m{display:none}@media (max-width:600px){.m{display:none}}"
		  "</style><p class=m>vis</p>", 0 },
		/* an unknown at-rule; an id is one name; the first class counts */
		{ "<style>@mediaall{.a{display:none}}</style><p class=a>vis</p>", 1 },
		{ "<style>#b{display:none}</style><p id='a b'>vis</p>", 1 },
		{ "<style>.b{display:none}</style><p class=a class=b>vis</p>", 1 },
		{ NULL, 0 } };

	for (int i = 0; cases[i].doc != NULL; i++)
		for (size_t step = 1; step <= 9; step += 8) {
			run(cases[i].doc, step);
			ck_assert_msg(shown("vis") == cases[i].shown,
			    "%s (step %zu): %d", cases[i].doc, step, shown("vis"));
		}
}
END_TEST

/*
 * A sheet is read to SHEETMAX (4 KiB) bytes: a rule that ends within
 * them counts, one past them does not. Past RULEMAX selectors, none
 * counts (one left out could have shown what another hides).
 */
START_TEST(test_sheet_limits)
{
	static char doc[8192];
	static const char rule[] = ".a{display:none}";
	const char *tail = "</style><p class=a>vis</p>";
	size_t len;

	/* the rule's last byte is the sheet's 4,096th */
	strcpy(doc, "<style>");
	len = 4096 - strlen(rule);
	memset(doc + 7, ' ', len);
	strcpy(doc + 7 + len, rule);
	strcat(doc, tail);
	run(doc, 1);
	ck_assert_int_eq(shown("vis"), 0);
	run(doc, 4000);
	ck_assert_int_eq(shown("vis"), 0);
	/* one byte more: cut short */
	strcpy(doc, "<style>");
	memset(doc + 7, ' ', len + 1);
	strcpy(doc + 8 + len, rule);
	strcat(doc, tail);
	run(doc, 1);
	ck_assert_int_eq(shown("vis"), 1);
	/* nshow selectors that show, then the one that hides: RULEMAX is 32 */
	for (int nshow = 31; nshow <= 32; nshow++) {
		strcpy(doc, "<style>");
		for (int i = 0; i < nshow; i++)
			sprintf(doc + strlen(doc), ".s%d{display:block}", i);
		strcat(doc, rule);
		strcat(doc, tail);
		run(doc, 7);
		ck_assert_int_eq(shown("vis"), nshow == 32);
	}
}
END_TEST

START_TEST(test_link_mismatch)
{
	char pad[601], doc[700], filler[401], words[500], words_ok[500];

	run("<a href=\"http://evil.example/login\">https://www.PayPal.com/signin</a>", 5);
	ck_assert(has("html:a-mismatch"));
	run("<a href='http://192.0.2.1/'><b>http://bank.example</b></a>", 1);
	ck_assert(has("html:a-mismatch"));
	run("<a href=https://secure.paypal.com/x>www.paypal.com</a>", 3);
	ck_assert(!has("html:a-mismatch"));
	run("<a href=http://a.example>click here</a> http://b.example", 3);
	ck_assert(!has("html:a-mismatch"));
	run("<a href=/relative>http://b.example</a>", 3);
	ck_assert(!has("html:a-mismatch"));
	run("<a href=http://a.example>unclosed http://b.example", 2);
	ck_assert(has("html:a-mismatch"));
	/* the text's URL ends at white space */
	for (size_t step = 1; step <= 80; step += 79) {
		run("<a href=\"https://www.paypal.com/\">\n https://www.paypal.com\n</a>", step);
		ck_assert(!has("html:a-mismatch"));
		run("<a href=https://www.paypal.com/>\twww.paypal.com&nbsp;</a>", step);
		ck_assert(!has("html:a-mismatch"));
	}
	/* the first candidate need not be the URL; padding does not hide it */
	memset(pad, ' ', 150);
	memset(pad + 150, '\n', 150);
	for (int i = 0; i < 50; i++)
		memcpy(pad + 300 + 6 * i, "&nbsp;", 6);
	pad[600] = '\0';
	snprintf(doc, sizeof(doc), "<a href=http://evil.example/>%s https://www.paypal.com/</a>", pad);
	for (int i = 0; i < 50; i++)
		memcpy(filler + 8 * i, "wording ", 8);
	filler[400] = '\0';
	snprintf(words, sizeof(words), "<a href=http://evil.example/>HTTP help: %s"
	    "www. and https://www.paypal.com/</a>", filler);
	snprintf(words_ok, sizeof(words_ok), "<a href=https://www.paypal.com/>%s"
	    "https://www.paypal.com/signin</a>", filler);
	for (size_t step = 1; step <= 800; step += 799) {
		run("<a href=http://evil.example/>HTTPS login: https://www.paypal.com/</a>", step);
		ck_assert(has("html:a-mismatch"));
		run("<a href=http://evil.example/>http or www. <b>www.paypal.com</b></a>", step);
		ck_assert(has("html:a-mismatch"));
		run(doc, step);
		ck_assert(has("html:a-mismatch"));
		/* nor do 400 bytes of words, however the URL starts */
		run(words, step);
		ck_assert(has("html:a-mismatch"));
		run(words_ok, step);
		ck_assert(!has("html:a-mismatch"));
	}
	/* the URL across the end of the kept text, at every offset */
	for (int k = 230; k <= 280; k++) {
		snprintf(words, sizeof(words), "<a href=http://evil.example/>%.*s"
		    "https://www.paypal.com/</a>", k, filler);
		run(words, 7);
		ck_assert_msg(has("html:a-mismatch"), "%d", k);
		snprintf(words_ok, sizeof(words_ok), "<a href=https://www.paypal.com/>"
		    "%.*shttps://www.paypal.com/</a>", k, filler);
		run(words_ok, 7);
		ck_assert_msg(!has("html:a-mismatch"), "%d", k);
	}
}
END_TEST

START_TEST(test_comment_ends)
{
	/* HTML5: "<!-->" and "<!--->" are whole comments; "--!>" ends one */
	static const char *const docs[] = { "<!-->buy cheap pills",
		"<!--->buy cheap pills", "<!-- x --!>buy cheap pills",
		"<!---->buy cheap pills", NULL };

	for (int i = 0; docs[i] != NULL; i++)
		for (size_t step = 1; step <= 30; step += 29) {
			run(docs[i], step);
			ck_assert(has("html:comment"));
			ck_assert(has("pills"));
		}
	/* these do not end a comment */
	run("<!--!>hidden --!->hidden -!>hidden --x>hidden --> shown", 1);
	ck_assert(!has("hidden"));
	ck_assert(has("shown"));
	run("<!---!>hidden --> shown", 1);
	ck_assert(!has("hidden"));
	ck_assert(has("shown"));
}
END_TEST

START_TEST(test_entities)
{
	static const char *const docs[] = { "fr&ZeroWidthSpace;ee",
		"fr&NegativeVeryThinSpace;ee", "fr&lrm;ee", "fr&rlm;ee",
		"fr&NoBreak;ee", "fr&InvisibleTimes;ee", "fr&#0000000000101;e",
		"fr&#x000000000000065;e", NULL };

	for (int i = 0; docs[i] != NULL; i++)
		for (size_t step = 1; step <= 40; step += 39) {
			run(docs[i], step);
			ck_assert_msg(has("free"), "%s", docs[i]);
		}
	/* HTML5's punctuation names in text: an address, a spelled URL */
	run("mail me&commat;shop&period;example or www&period;pills&period;example&sol;buy", 1);
	ck_assert(has("me@shop.example"));
	ck_assert(has("url:host:www.pills.example"));
	/* U+FFFD (a separator) for NUL and past U+10FFFF, whatever follows */
	run("ab&#00;cd ab&#x1100000;cd ab&#x11000001;cd ab&#99999999999999999999;cd", 1);
	ck_assert(has("ab"));
	ck_assert(has("cd"));
	ck_assert_uint_eq(tokset_count(set), 2);
}
END_TEST

/*
 * HTML 4's named letters, as Portuguese, Spanish and French mail writes
 * them: "&Aacute;gua" is one word "água"; most of them were unknown and
 * split it into "aacute" and "gua".
 */
START_TEST(test_latin1_names)
{
	for (size_t step = 1; step <= 9; step += 8) {
		run("<p>&Aacute;gua promo&ccedil;&atilde;o &ecirc;tre "
		    "Se&ntilde;or &oslash;l &AElig;sop f&ucirc;t &thorn;&eth; "
		    "&OElig;uvre &scaron;koda &yuml;es na&iuml;ve", step);
		ck_assert(has("\xc3\xa1gua"));
		ck_assert(has("promo\xc3\xa7\xc3\xa3o"));
		ck_assert(has("\xc3\xaatre"));
		ck_assert(has("se\xc3\xb1or"));
		ck_assert(has("\xc3\xb8l"));
		ck_assert(has("\xc3\xa6sop"));
		ck_assert(has("f\xc3\xbbt"));
		ck_assert(has("\xc3\xbe\xc3\xb0"));
		ck_assert(has("\xc5\x93uvre"));
		ck_assert(has("\xc5\xa1koda"));
		ck_assert(has("\xc3\xbf" "es"));
		ck_assert(has("na\xc3\xafve"));
		ck_assert(!has("gua"));
		ck_assert(!has("aacute"));
	}
	/* symbols separate words, as their characters do */
	run("buy&rarr;now &hearts;love&minus;x", 1);
	ck_assert(has("buy"));
	ck_assert(has("now"));
	ck_assert(has("love"));
	ck_assert(!has("rarr"));
	ck_assert(!has("hearts"));
}
END_TEST

START_TEST(test_attribute_refs)
{
	/* browsers decode references in attributes and drop a URL's newlines */
	static const char *const docs[] = {
		"<a href=\"&#104;ttp://evil.example/p\">x</a>",
		"<a href=\"http://ev&#105;l.example/p\">x</a>",
		"<a href=http://evil&#46example/p>x</a>",
		"<a href=\"ht\ntp://evil.ex\tample/\r\np\">x</a>",
		"<img src=' \r\n http://evil&#x2E;example&#x2f;p '>",
		"<a href='http&#58;//evil.example/p&#10;'>x</a>",
		"<a href=\"http&colon;&sol;&sol;evil&period;example&sol;p\">x</a>",
		"<a href=\"HTTP&colon;//evil&period;example&sol;p&NewLine;\">x</a>",
		NULL };

	for (int i = 0; docs[i] != NULL; i++)
		for (size_t step = 1; step <= 60; step += 59) {
			run(docs[i], step);
			ck_assert_msg(has("url:host:evil.example"), "%s", docs[i]);
			ck_assert_msg(has("url:domain:evil.example"), "%s", docs[i]);
			ck_assert_msg(has("url:path:p"), "%s", docs[i]);
		}
	run("<a href=\"&#104;ttp://evil.example/\">https://www.paypal.com</a>", 1);
	ck_assert(has("html:a-mismatch"));
	run("fr&#101e &#x66r&#101es", 1); /* a number ends at its last digit */
	ck_assert(has("free"));
	ck_assert(has("frees"));
	run("<div style='display&#58;none'>x</div>", 1);
	ck_assert(has("html:hidden"));
	/* a name before '=' is a query parameter, not a reference */
	run("<a href='http://a.example/p&amp=1&copy;'>x</a><p title='&amp;&#0;'>", 1);
	ck_assert(has("url:path:p&amp=1\xc2\xa9"));
}
END_TEST

/*
 * Every block element separates the words around it; HTML5's sectioning
 * and grouping ones were missing ("alpha<main>beta</main>" read
 * "alphabeta"). The same list ends an open <p> (a hidden one too).
 */
START_TEST(test_html5_blocks)
{
	static const char *const names[] = { "main", "aside", "figure",
		"figcaption", "fieldset", "legend", "caption", "dir", "menu",
		"details", "summary", "dialog", "hgroup",
		/* (the others: a bsearch of the list finds each) */
		"address", "article", "blockquote", "body", "br", "button",
		"center", "dd", "div", "dl", "dt", "footer", "form", "h1", "h2",
		"h3", "h4", "h5", "h6", "head", "header", "hr", "html", "iframe",
		"img", "input", "li", "nav", "ol", "option", "p", "pre",
		"section", "select", "table", "tbody", "td", "textarea", "th",
		"thead", "title", "tr", "ul", NULL };
	char doc[128];

	for (int i = 0; names[i] != NULL; i++)
		for (size_t step = 1; step <= 50; step += 49) {
			snprintf(doc, sizeof(doc), "alpha<%s>beta</%s>gamma",
			    names[i], names[i]);
			run(doc, step);
			ck_assert_msg(has("alpha"), "%s", doc);
			ck_assert_msg(has("beta"), "%s", doc);
			ck_assert_msg(has("gamma"), "%s", doc);
			ck_assert_msg(!has("alphabeta"), "%s", doc);
			ck_assert_msg(!has("betagamma"), "%s", doc);
		}
	/* inline elements still join */
	run("al<span>ph</span>a <b>be</b>ta", 1);
	ck_assert(has("alpha"));
	ck_assert(has("beta"));
	/* a hidden <p> ends at a block that ends it, not at one that does not */
	run("<p style=display:none>xx<main>shown</main>", 1);
	ck_assert(has("hidden:xx"));
	ck_assert(has("shown"));
	run("<p style=display:none>xx<summary>yy</summary>", 1);
	ck_assert(has("hidden:yy"));
	ck_assert(!has("yy"));
}
END_TEST

/*
 * &#128; to &#159; are windows-1252, as HTML5 reads them (Word writes
 * "don&#146;t"): the reference is the character a literal one is, so
 * "don&#146;t" is "don't", as "don\u2019t" is; it read "don" (U+0092, a
 * separator) and dropped "t".
 */
START_TEST(test_c1_refs)
{
	for (size_t step = 1; step <= 60; step += 59) {
		run("don&#146;t we&#x92;re &#128;5 &#X80;9 &#0128;7 a&#150;b "
		    "&#147;quoted&#148; it&#146s", step);
		ck_assert(has("don't"));
		ck_assert(has("we're"));
		ck_assert(has("\xe2\x82\xac" "5"));   /* U+20AC, as "\u20ac5" is */
		ck_assert(has("\xe2\x82\xac" "9"));
		ck_assert(has("\xe2\x82\xac" "7"));
		ck_assert(has("quoted"));           /* curly quotes separate */
		ck_assert(has("it's"));
		ck_assert(!has("don"));
		ck_assert(!has("we"));
		ck_assert_uint_eq(tokset_count(set), 7);
	}
	/* the same as the literal characters */
	run("don\xe2\x80\x99t \xe2\x82\xac" "5", 1);
	ck_assert(has("don't"));
	ck_assert(has("\xe2\x82\xac" "5"));
	/* the five windows-1252 leaves undefined stay C1 controls: separators */
	run("ab&#129;cd ef&#x8D;gh ij&#157;kl", 1);
	ck_assert(has("ab"));
	ck_assert(has("kl"));
	ck_assert_uint_eq(tokset_count(set), 6);
	/* in an attribute too */
	run("<a href='http://a.example/&#x80;'>x</a>", 1);
	ck_assert(has("url:path:\xe2\x82\xac"));
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("html");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_text_and_tags);
	tcase_add_test(tc, test_unclosed);
	tcase_add_test(tc, test_style_hidden);
	tcase_add_test(tc, test_hidden_text);
	tcase_add_test(tc, test_sheet_hidden);
	tcase_add_test(tc, test_sheet_cascade);
	tcase_add_test(tc, test_sheet_limits);
	tcase_add_test(tc, test_link_mismatch);
	tcase_add_test(tc, test_comment_ends);
	tcase_add_test(tc, test_entities);
	tcase_add_test(tc, test_attribute_refs);
	tcase_add_test(tc, test_latin1_names);
	tcase_add_test(tc, test_html5_blocks);
	tcase_add_test(tc, test_c1_refs);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run(suite());
}
