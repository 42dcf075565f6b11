/*
 * input -- where the spamsift command reads messages from: a single message
 * file, an mbox file (detected by its "From " first line), a Maildir (a
 * directory with cur/ or new/), a plain directory of message files (as public
 * corpora ship) and of folders of them, read whole, or standard input ("-").
 *
 * Files are mapped, not copied; each message is handed to a callback as a
 * borrowed byte range. Must not depend on: libmilter, SQLite.
 */
#ifndef SPAMSIFT_INPUT_H
#define SPAMSIFT_INPUT_H

#include <stddef.h>
#include <sys/stat.h>

/*
 * input_fn -- called once per message. label names it ("FILE", "MBOX#N" or
 * "-"); data/len are borrowed for the duration of the call. A non-zero
 * return stops the iteration and is returned by input_each.
 */
typedef int (*input_fn)(void *arg, const char *label, const char *data,
    size_t len);

/*
 * input_each -- call fn for every message found at path ("-" for stdin).
 * A directory's files that cannot be read are named on stderr and the rest
 * is read; folders it does not read (a loop, too deep) are named there too.
 * Returns 0, fn's non-zero value, or a negative errno with a message naming
 * the path in err.
 */
int input_each(const char *path, input_fn fn, void *arg, char *err,
    size_t errlen);

/*
 * input_admit_fn -- asked before a regular file is read (an input named, or
 * a file of a directory), with what fstat(2) says of it (st_dev and st_ino
 * tell the same file by another name). Returns 0 to read it, 1 to skip it
 * (nothing is said), or a negative errno: the file is then reported as one
 * that cannot be read.
 */
typedef int (*input_admit_fn)(void *arg, const char *path,
    const struct stat *st);

/*
 * input_each_admit -- input_each, asking admit (with arg) before each
 * regular file is read (standard input is not asked).
 */
int input_each_admit(const char *path, input_admit_fn admit, input_fn fn,
    void *arg, char *err, size_t errlen);

/*
 * input_mbox_split -- call fn for each message of an mbox held in data:
 * messages start at a line beginning "From " at the start, and after a
 * blank line at a "From " line that carries a ctime() date (a weekday and a
 * month name): one without is body text (mboxo does not quote it). The
 * separator line itself is not part of the message. label is used
 * as "LABEL#N". Exposed for tests and the fuzzer.
 */
int input_mbox_split(const char *label, const char *data, size_t len,
    input_fn fn, void *arg);

/* input_is_mbox -- non-zero when data starts like an mbox ("From " line). */
int input_is_mbox(const char *data, size_t len);

#endif
