/*
 * url -- tokens for one URL: its host, registrable domain and first path
 * segment. Used for HTML href/src attributes, plain-text URLs and headers.
 * Pure C: no SQLite, libmilter or syslog.
 *
 * Tokens (all lowercase):
 *   url:host:<host>        full host name ("www.example.co.uk"; an IDN one
 *                          in Punycode, "xn--mnchen-3ya.de")
 *   url:domain:<domain>    registrable domain ("example.co.uk"), see url_domain
 *   url:ip:<a.b.c.d>       host given as an IPv4 address (no host/domain)
 *   url:path:<segment>     first path segment, at most 32 bytes
 *   url:scheme:<scheme>    scheme other than http/https ("ftp", "data", ...)
 *   url:mailto:<domain>    domain of a mailto: address
 *   url:userinfo           "user@" before the host (a phishing trick)
 *   url:port               an explicit port
 */
#ifndef SPAMSIFT_URL_H
#define SPAMSIFT_URL_H

#include <stddef.h>

#include "classifier/tok.h"

/*
 * url_tokens -- add the tokens of url (len bytes, not NUL-terminated; with or
 * without a scheme: "www.example.com/x" is read as http) to out.
 * Returns 0, or -ENOMEM from the token set.
 */
int url_tokens(tokset *out, const char *url, size_t len);

/*
 * url_domain -- offset in host (len bytes, lowercase) where its registrable
 * domain starts. Without a public suffix list this is a heuristic: the last
 * two labels, or the last three when the last label has two letters and the
 * one before it is a common second-level label (co, com, net, org, gov, edu,
 * ac, ne, or, go, gob, mil, nic: "example.co.uk", "example.com.au").
 */
size_t url_domain(const char *host, size_t len);

/*
 * url_regdomain -- the registrable domain of url's host (lowercase; the
 * address itself for an IPv4 host) into out (cap bytes, NUL-terminated).
 * url may be followed by more text: the host ends at white space, ASCII or
 * Unicode (U+00A0, U+2000-U+207F, U+3000).
 * Returns its length, 0 when the URL has no host (mailto:, relative, ...)
 * or a non-ASCII one.
 */
size_t url_regdomain(const char *url, size_t len, char *out, size_t cap);

/*
 * url_invisible -- 1 for an invisible format character (soft hyphen,
 * combining grapheme joiner, zero-width spaces and joiners, direction marks,
 * embeddings and isolates, invisible operators, variation selectors, BOM):
 * a reader sees "fr\u200eee" as "free" and
 * "ev\u00adil.example" as evil.example, so words and hosts drop them.
 */
int url_invisible(unsigned cp);

#endif
