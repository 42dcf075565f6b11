/* db_sqlite -- placeholder, replaced by the SQLite backend. */
#include "config.h"
#include <errno.h>
#include <stdio.h>
#include "db/db_impl.h"
static int s_open(const char *path, int flags, db **out, char *err, size_t errlen)
{
	(void)flags; (void)out;
	if (errlen)
		snprintf(err, errlen, "%s: not yet", path);
	return -ENOSYS;
}
const db_ops db_sqlite_ops = { .version = DB_OPS_VERSION, .name = "sqlite", .open = s_open };
int db_sqlite_exec(db *d, const char *sql) { (void)d; (void)sql; return -EINVAL; }
int db_sqlite_lookup_mode(db *d, int mode, size_t batch) { (void)d; (void)mode; (void)batch; return -EINVAL; }
