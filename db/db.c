/*
 * db -- storage interface dispatch (placeholder until the backends land).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>

#include "db/db.h"

int db_open(const char *spec, int flags, db **out, char *err, size_t errlen)
{
	(void)flags;
	*out = NULL;
	if (errlen)
		snprintf(err, errlen, "%s: no storage backend built", spec);
	return -ENOSYS;
}

void db_close(db *d)
{
	(void)d;
}
