/*
 * hdr -- header fields: name canonicalization, unfolding and RFC 2047
 * decoding, MIME parameters, and the tokens of one field.
 * Pure C: no SQLite, libmilter or syslog.
 *
 * Tokens of a field named N (canonical form, see hdr_canon), value decoded:
 *   hdr:N                  the field is present, only when its value gives
 *                          no N: token (Content-*, In-Reply-To, References,
 *                          a value without letters or digits)
 *   N:<word>               words of the value (words.h rules), for all
 *                          fields except Received, Message-Id, In-Reply-To,
 *                          References and Content-* (e.g. "Subject:free")
 *   N:addr:<a@b>           From, To, Cc, Bcc, Reply-To, Return-Path, Sender,
 *   N:host:<b>             Delivered-To, Errors-To, Resent-From: each
 *   N:domain:<reg>         address, its host when it differs from its
 *                          registrable domain, and that domain (url_domain)
 *   Received:helo:<name>   the name after "from"
 *   Received:ip:<a.b.c.d>  each IPv4 address, and its /24 as
 *   Received:net:<a.b.c>
 *   Received:host:<h>      each host name, and its registrable domain as
 *   Received:domain:<reg>
 *   Received:with:<proto>  the protocol after "with"
 *   Message-Id:host:<h>    the part after '@' (also In-Reply-To and
 *                          References); Message-Id:noat when there is none
 *   X-Mailer:full:<value>, User-Agent:full:<value>  the whole value,
 *                          lowercased, at most 64 bytes (plus its words)
 */
#ifndef SPAMSIFT_HDR_H
#define SPAMSIFT_HDR_H

#include <stddef.h>

#include "classifier/charset.h"
#include "classifier/tok.h"
#include "classifier/words.h"

#define HDR_NAMEMAX 64 /* canonical names are truncated to this (with NUL) */

/*
 * hdr_canon -- canonical form of a field name (n bytes): lowercase, with the
 * first letter and each letter after '-' uppercased ("MESSAGE-ID" ->
 * "Message-Id"); trailing blanks removed. Writes at most HDR_NAMEMAX bytes
 * with the NUL to out; returns its length.
 */
size_t hdr_canon(const char *name, size_t n, char *out);

/*
 * hdr_decode -- unfold (drop CR and LF) and decode RFC 2047 encoded words
 * ("=?charset?B?...?=" and "?Q?") to UTF-8 with cs; whitespace between two
 * encoded words is dropped, NUL bytes become spaces, leading and trailing
 * blanks are trimmed. Unknown charsets leave the decoded bytes as they are.
 * out gets at most cap - 1 bytes and a NUL (cap > 0). Returns the length.
 */
size_t hdr_decode(charset *cs, const char *in, size_t n, char *out, size_t cap);

/*
 * hdr_type -- the lowercase "type/subtype" of a Content-Type value into out
 * (cap bytes, NUL-terminated); "" when absent or malformed.
 */
void hdr_type(const char *v, size_t n, char *out, size_t cap);

/*
 * hdr_param -- the value of parameter name (case-insensitive) in a
 * Content-Type or Content-Disposition value: quoted or not; RFC 2231
 * "name*=charset''value" and continuations "name*0=", "name*1*=", ... (joined
 * in order, up to the first missing section) are accepted ("%xx" escapes
 * decoded; the bytes stay in the declared charset). Copies at most cap - 1
 * bytes and a NUL.
 * Returns 1 when found, 0 when not (out is then "").
 */
int hdr_param(const char *v, size_t n, const char *name, char *out, size_t cap);

/*
 * hdr_tokens -- add the tokens of one decoded field value (n bytes) named
 * canon (from hdr_canon) to out, using w (begun here) for words.
 * Returns 0 or -ENOMEM.
 */
int hdr_tokens(tokset *out, words *w, const char *canon, const char *v, size_t n);

/*
 * hdr_addr -- the address of the first mailbox in v (n bytes) as a mail
 * client shows it (inside its <...>, else the first outside quoted strings
 * and comments: not one in a display name), lowercase, into out
 * (cap bytes, NUL-terminated); "" when none. Returns its length.
 */
size_t hdr_addr(const char *v, size_t n, char *out, size_t cap);

#endif
