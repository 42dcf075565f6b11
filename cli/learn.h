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

/*
 * learn_find_signature -- the next spamsift signature id carried by a
 * message (an X-Spamsift-Signature header or a "!spamsift:ID!" line in the
 * body) at or after *pos, into id (33 bytes); *pos moves past it. A message
 * to several users carries one for each. Returns 1 when found, 0 when not.
 */
int learn_find_signature(const char *data, size_t len, size_t *pos,
    char id[33]);

#endif
