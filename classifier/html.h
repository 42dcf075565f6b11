/*
 * html -- streaming HTML reader: passes the visible text to the word
 * tokenizer and turns markup into tokens. Input is UTF-8 (already decoded
 * from its transfer encoding and charset) and may be split anywhere.
 * Pure C: no SQLite, libmilter or syslog. Not thread-safe: one per msg.
 *
 * - Comments, declarations, unknown and inline tags never split a word
 *   ("fr<!-- x -->ee" and "fr<b></b>ee" read "free"); block tags (p, br,
 *   div, td, li, ...) do. <script> and <style> content is skipped.
 * - Text hidden by an inline style (display:none, font-size:0,
 *   visibility:hidden; not on html or body, whose style webmail drops), or
 *   by a rule of an earlier <style> element of the part whose selector is
 *   one class or id (".junk", "span.junk", "#junk"), goes to the hidden
 *   tokenizer (html_begin) up to the element's end tag, explicit or implied; an end tag
 *   that matches nothing open inside it ends it too. The rules and the
 *   element's own style meet as CSS's cascade has them, per property:
 *   !important, then the style attribute, then the more specific selector
 *   (id, class, element), then the later rule (of the part's sheets);
 *   within one block or style, the last declaration unless an earlier
 *   one is !important; quoted strings and comments hold none; a value
 *   not known to hide ("0x", "hiddenx") shows. Read: the first 4 KiB of
 *   each sheet (a "<!--" "-->" around it ignored), rules of @media for
 *   all media or screen. Skipped: other at-rules (@media print or with a
 *   condition, such as responsive mail's max-width; @supports), rules
 *   with nested blocks, selectors of any other form (".a.b", "div .a",
 *   "*.a"); where a skipped rule shows a property, no rule hides by it
 *   any more, nor, when it is !important, a style attribute that is not
 *   (text is never taken for hidden on a guess); past 32
 *   selectors that hide or show, no rule counts. An element's first class
 *   and id attributes count; an id is one name.
 *   What shows on both sides joins as a reader sees it: display:none and
 *   font-size:0 take no room ("fr<span style=display:none>xyz</span>ee"
 *   reads "free"; the block break of a display:none element is gone too),
 *   visibility:hidden leaves a blank. Markup inside still gives its tokens.
 *   Under font-size:0 or visibility:hidden, which a descendant may undo, an
 *   element that sets a size (style, <font size>), visibility:visible, a
 *   class or an id shows the text from there on, as a mismatch does.
 * - Entities (&amp; &nbsp; &#233; &#xE9;, HTML 4's Latin-1 names and a
 *   few dozen more) are decoded; an unknown entity is kept as text.
 * Tokens (lowercase, names at most 15 bytes, values at most 24):
 *   html:<tag>                 each element start ("html:img", "html:font")
 *   html:<tag>-<attr>          each attribute ("html:font-color")
 *   html:<tag>-<attr>:<value>  for color, bgcolor, size, face, align
 *   html:hidden                a style with display:none, visibility:hidden
 *                              or font-size:0 (inline or by a rule)
 *   html:img-tiny              an image 0 or 1 pixel wide or high
 *   html:comment               a comment
 *   html:a-mismatch            a link whose text shows a URL on another
 *                              registrable domain than its href
 *   url:...                    href, src, action, background: see url.h
 */
#ifndef SPAMSIFT_HTML_H
#define SPAMSIFT_HTML_H

#include <stddef.h>

#include "classifier/tok.h"
#include "classifier/words.h"

typedef struct html html;

/* html_new -- create a reader; 0 and *out (caller frees), or -ENOMEM. */
int html_new(html **out);

/* html_free -- free; accepts NULL. */
void html_free(html *h);

/*
 * html_begin -- start a new HTML text: visible text goes to text, text a
 * style hides to hidden (or nowhere when NULL), markup tokens to out
 * (all borrowed; the tokenizers already begun by the caller, hidden's with
 * a prefix of its own).
 */
void html_begin(html *h, words *text, words *hidden, tokset *out);

/* html_feed -- read len more bytes; 0 or -ENOMEM. */
int html_feed(html *h, const char *s, size_t len);

/* html_end -- end of the HTML text (flushes the text tokenizers); 0 or -ENOMEM. */
int html_end(html *h);

#endif
