/*
 * log -- syslog wrapper for the daemon (see log.h).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/stat.h>
#include <syslog.h>

#include "milter/log.h"

static const struct {
	const char *name; /* facility name as in syslog.conf */
	int value;        /* LOG_* facility */
} facilities[] = {
	{ "mail", LOG_MAIL }, { "daemon", LOG_DAEMON }, { "user", LOG_USER },
	{ "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 },
	{ "local2", LOG_LOCAL2 }, { "local3", LOG_LOCAL3 },
	{ "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },
	{ "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },
};

/*
 * Is standard error systemd's journal? Then the lines syslog sends there
 * already: a copy would show each twice. systemd says so in JOURNAL_STREAM
 * ("DEVICE:INODE" of the stream it connected to stderr).
 */
static int stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	uintmax_t dev, ino;
	struct stat st;

	if (js == NULL || sscanf(js, "%ju:%ju", &dev, &ino) != 2 ||
	    fstat(2, &st) < 0)
		return 0;
	return (uintmax_t)st.st_dev == dev && (uintmax_t)st.st_ino == ino;
}

int log_open(const char *ident, const char *facility, int to_stderr)
{
	int fac = -1;

	for (size_t i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++)
		if (strcasecmp(facility, facilities[i].name) == 0)
			fac = facilities[i].value;
	if (fac < 0)
		return -EINVAL;
	if (to_stderr && stderr_is_journal())
		to_stderr = 0;
	openlog(ident, LOG_PID | LOG_NDELAY | (to_stderr ? LOG_PERROR : 0), fac);
	return 0;
}

void log_close(void)
{
	closelog();
}

#define LOG_FN(name, prio)                     \
	void name(const char *fmt, ...)        \
	{                                      \
		va_list ap;                    \
		va_start(ap, fmt);             \
		vsyslog(prio, fmt, ap);        \
		va_end(ap);                    \
	}

LOG_FN(log_err, LOG_ERR)
LOG_FN(log_warning, LOG_WARNING)
LOG_FN(log_info, LOG_INFO)
LOG_FN(log_debug, LOG_DEBUG)
