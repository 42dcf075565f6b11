/*
 * delivered -- a copy of a message as delivered, back to what the milter
 * read of it. Delivery adds fields above the header the milter saw
 * (Postfix's local(8) Return-Path, Delivered-To and X-Original-To; an LMTP
 * server or a relay after the milter a Received line each), the milter
 * tags a spam Subject (spamSubject; it adds a Subject of the tag alone to a
 * message without one) and, with signatureLocation=message, ends the body
 * with a "!spamsift:ID!" line. A correction without a usable signature
 * (spamsift train --source error) compares the message's tokens with the
 * model, and those were never learned.
 * Pure C: no SQLite, libmilter or syslog.
 */
#ifndef SPAMSIFT_DELIVERED_H
#define SPAMSIFT_DELIVERED_H

#include <stddef.h>

/* At most this many Received fields are taken as added after the milter. */
#define DELIVERED_MAX_RECEIVED 3

/* delivered_undo's flags: a Subject that is the tag alone is taken as one
 * the milter added (the message had none), and removed. */
#define DELIVERED_ADDED_SUBJECT 1

/* Room delivered_tag needs: a spamSubject is at most 128 bytes. */
#define DELIVERED_TAG_MAX (4 * 128 + 32)

/*
 * delivered_tag_trim -- spamSubject without its leading and trailing blanks
 * (a tag's own blanks are not part of it: " [SPAM]" made a Subject that
 * starts "[SPAM]" look untagged, "[SPAM] " wrote two blanks) into out
 * (129 bytes: a spamSubject is at most 128), which is returned.
 */
const char *delivered_tag_trim(const char *tag, char out[129]);

/*
 * delivered_tag -- the Subject tag as the milter writes it: tag itself, or,
 * when it has a byte past ASCII (and at most 128 bytes), RFC 2047 encoded
 * words (UTF-8, base64) in out (DELIVERED_TAG_MAX bytes), which is then
 * returned.
 */
const char *delivered_tag(const char *tag, char *out);

/*
 * delivered_undo -- data (len bytes, a whole message or its start) without
 * what delivery added on top of its header: the fields at its top, up to
 * the first other field, that are Return-Path, Delivered-To, X-Original-To
 * or one of the first `received` Received fields (fields of these names
 * further down were there when the milter read it); with `tag` (when not
 * empty; its leading blanks are not part of it), as the milter writes it or
 * as it is, and the blank or line break after it, taken from the start of
 * the first Subject's value (with DELIVERED_ADDED_SUBJECT, a Subject of the
 * tag alone is removed whole); and without each body line that is a
 * signature mark alone ("!spamsift:" 32 hex digits "!").
 * Returns 1 and a copy in *out (malloc'ed, *outlen bytes), 0 when the top
 * has fewer than `received` Received fields or nothing would be removed
 * (*out NULL), or -ENOMEM.
 */
int delivered_undo(const char *data, size_t len, const char *tag,
    unsigned received, int flags, char **out, size_t *outlen);

/*
 * delivered_sender -- the envelope sender of a delivered message: the
 * address of the first Return-Path field of its header (delivery writes
 * it; "" for the null sender "<>"), as the milter reads MAIL FROM (a
 * quoted local part without its quotes and backslashes, lowercase), into
 * out (cap bytes, NUL-terminated, cut to fit). 1 when there is one, 0
 * when the header has none.
 */
int delivered_sender(const char *data, size_t len, char *out, size_t cap);

#endif
