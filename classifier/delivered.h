/*
 * delivered -- a copy of a message as delivered, back to what the milter
 * read of it. Delivery adds fields above the header the milter saw
 * (Postfix's local(8) Return-Path, Delivered-To and X-Original-To; an LMTP
 * server or a relay after the milter a Received line each), the milter
 * tags a spam Subject (spamSubject) and, with signatureLocation=message,
 * ends the body with a "!spamsift:ID!" line. A correction without a usable
 * signature (spamsift train --source error) compares the message's tokens
 * with the model, and those were never learned.
 * Pure C: no SQLite, libmilter or syslog.
 */
#ifndef SPAMSIFT_DELIVERED_H
#define SPAMSIFT_DELIVERED_H

#include <stddef.h>

/* At most this many Received fields are taken as added after the milter. */
#define DELIVERED_MAX_RECEIVED 3

/*
 * delivered_undo -- data (len bytes, a whole message or its start) without
 * every Return-Path, Delivered-To and X-Original-To field of its header,
 * without the first `received` Received fields (in header order), with
 * `tag` (when not empty; its leading blanks are not part of it) and the
 * blank or line break after it taken from the start of the first
 * Subject's value, and without each body line that is a signature mark
 * alone ("!spamsift:" 32 hex digits "!", as the milter writes it).
 * Returns 1 and a copy in *out (malloc'ed, *outlen bytes), 0 when the
 * header has fewer than `received` Received fields or nothing would be
 * removed (*out NULL), or -ENOMEM.
 */
int delivered_undo(const char *data, size_t len, const char *tag,
    unsigned received, char **out, size_t *outlen);

#endif
