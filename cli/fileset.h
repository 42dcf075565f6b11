/*
 * fileset -- a set of files by device and inode number, for the spamsift
 * command to read each file of one run once, whatever name reaches it (a
 * symbolic link, a hard link, the same path given twice). Each file keeps a
 * small tag from when it was added (train: the class it was read as).
 * Must not depend on: libmilter, SQLite, the classifier.
 */
#ifndef SPAMSIFT_FILESET_H
#define SPAMSIFT_FILESET_H

#include <sys/types.h>

typedef struct fileset fileset;

/*
 * fileset_new -- an empty set. Returns 0 and *out (caller frees with
 * fileset_free), or -ENOMEM.
 */
int fileset_new(fileset **out);

/* fileset_free -- free the set; accepts NULL. */
void fileset_free(fileset *s);

/*
 * fileset_add -- add the file (dev, ino) with tag. Returns 1 when it was
 * not in the set (added), 0 when it was (then *first, if not NULL, gets
 * the tag it was added with; the set is unchanged), or -ENOMEM. The set
 * grows by 24 bytes or so a file, as many as the run reads (a directory's
 * listing takes more). Not thread-safe: one thread adds.
 */
int fileset_add(fileset *s, dev_t dev, ino_t ino, int tag, int *first);

#endif
