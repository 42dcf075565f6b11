/*
 * mlfi -- the libmilter callbacks of spamsift-milter and their shared state.
 *
 * Connection state lives from connect to close; message state from MAIL FROM
 * to EOM/abort and is freed by one reset function. Threads share only the
 * reference-counted configuration snapshot.
 */
#ifndef SPAMSIFT_MLFI_H
#define SPAMSIFT_MLFI_H

#include <stddef.h>

#include <libmilter/mfapi.h>

#include "conf/conf.h"

/* The filter description registered with smfi_register. */
extern struct smfiDesc mlfi_desc;

/*
 * mlfi_init -- take a reference to the configuration c for the callbacks and
 * remember how to reload it (path and -o overrides, borrowed for the life of
 * the process). Returns 0, or -1 after printing why.
 */
int mlfi_init(conf *c, const char *path, char **overrides, size_t noverrides);

/*
 * mlfi_install -- make c (with its user map) the snapshot new connections
 * take; connections in flight keep theirs. Returns 0 or -errno with err set.
 */
int mlfi_install(conf *c, char *err, size_t errlen);

/*
 * mlfi_start -- start the threads the callbacks rely on (the store writer).
 * Call after daemonizing and dropping privileges. Returns 0 or -1 (logged).
 */
int mlfi_start(void);

/*
 * mlfi_drain -- the milter stops: connections opened from now on get no
 * mail (each MAIL is answered per OnFail, tempfail as 421 so that Postfix
 * closes them); those already open are served to their end. Thread-safe.
 */
void mlfi_drain(void);

/*
 * mlfi_sessions -- connections currently open that were opened before
 * mlfi_drain (for draining at stop: those opened after it carry no mail,
 * and the stop does not wait for them). Thread-safe.
 */
int mlfi_sessions(void);

/* mlfi_shutdown -- release what mlfi_init took. */
void mlfi_shutdown(void);

#endif
