/*
 * learn -- the spamsift subcommands that read mail: train, retrain,
 * classify, tokens; and the learning step of `quarantine release`.
 */
#ifndef SPAMSIFT_LEARN_H
#define SPAMSIFT_LEARN_H

#include "cli/cli.h"

/*
 * learn_release -- learn a released quarantined message as innocent: by its
 * signature when it has one (reversing what was learned), else as an error
 * correction from its bytes. Returns a CLI_* status (prints errors).
 */
int learn_release(cli *c, const char *user, int64_t uid, const db_quar *q);

/* At most this many signatures of a message are tried (learn_signatures,
 * then the marks train finds in its encoded text parts: sigscan). */
#define LEARN_SIGS_MAX 256

/*
 * learn_signatures -- the spamsift signature ids a message carries, in the
 * order to try them: first the X-Spamsift-Signature fields of its header
 * (the milter removes those a sender wrote), then the "!spamsift:ID!" marks
 * (and X-Spamsift-Signature lines) of its body from the last to the first:
 * the milter appends the recipients' lines at the end, after anything the
 * sender wrote, so a quoted reply's or a forged line is tried after the
 * message's own, and a forwarded or bounced copy's only when it has none.
 * A message to several users carries one for each. ids gets up to max ids
 * (lower case, NUL-terminated); returns how many. *body (body may be NULL)
 * gets where the message's body starts, found in the same pass over the
 * header: after its first empty line (LF or CRLF), len when there is none.
 */
size_t learn_signatures(const char *data, size_t len, char (*ids)[33],
    size_t max, size_t *body);

#endif
