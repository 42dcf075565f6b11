/*
 * log -- syslog wrapper for the daemon (see log.h).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "milter/log.h"

static const struct {
	const char *name; /* facility name as in syslog.conf */
	int value;        /* LOG_* facility */
} facilities[] = {
	{ "mail", LOG_MAIL }, { "daemon", LOG_DAEMON },
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

/*
 * Where no syslog daemon listens (a container, a test machine), glibc's
 * syslog tries to connect to /dev/log again for every line: nine system
 * calls a line, two or three per cent of the milter's time in the
 * benchmark. So we look for the socket at most every CHECK_S seconds and
 * in between, while it is missing, write the standard-error copy
 * ourselves (as glibc formats it) or nothing. Lines from a daemon that is
 * down are lost either way.
 */
#define CHECK_S 10
static char ident_copy[64];     /* for our own standard-error lines */
static int perror_too;          /* lines also go to standard error */
static atomic_llong next_check; /* CLOCK_MONOTONIC second of the next look */
static atomic_int have_log;     /* _PATH_LOG was there at the last look */

static int syslog_listens(void)
{
	struct timespec now;
	struct stat st;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if ((long long)now.tv_sec >= atomic_load_explicit(&next_check,
	    memory_order_relaxed)) {
		atomic_store_explicit(&next_check, (long long)now.tv_sec +
		    CHECK_S, memory_order_relaxed);
		atomic_store_explicit(&have_log, stat(_PATH_LOG, &st) == 0 &&
		    S_ISSOCK(st.st_mode), memory_order_relaxed);
	}
	return atomic_load_explicit(&have_log, memory_order_relaxed);
}

/*
 * Format a line into buf (size bytes) or a larger block (*big, freed by the
 * caller), control characters made '?': a sender or recipient address may
 * hold any (Postfix relays "x\001"@d), and a TAB or line break split the
 * fields and lines log readers parse. Returns the line, or NULL.
 */
static char *format_line(char *buf, size_t size, char **big, const char *fmt,
    va_list ap)
{
	char *line = buf;
	va_list aq;
	int len;

	*big = NULL;
	va_copy(aq, ap);
	len = vsnprintf(buf, size, fmt, aq);
	va_end(aq);
	if (len < 0)
		return NULL;
	if ((size_t)len >= size) {
		if ((*big = malloc((size_t)len + 1)) == NULL)
			return NULL;
		vsnprintf(*big, (size_t)len + 1, fmt, ap);
		line = *big;
	}
	for (char *p = line; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return line;
}

/* The line glibc's LOG_PERROR writes, "ident[pid]: text", in one write. */
static void stderr_line(const char *text)
{
	size_t n = strlen(text);
	char head[96], *line;
	int hl = snprintf(head, sizeof(head), "%s[%ld]: ", ident_copy,
	    (long)getpid());

	if (hl < 0 || (line = malloc((size_t)hl + n + 1)) == NULL)
		return;
	memcpy(line, head, (size_t)hl);
	memcpy(line + hl, text, n);
	line[(size_t)hl + n] = '\n';
	(void)!write(2, line, (size_t)hl + n + 1);
	free(line);
}

char *log_word(char *s)
{
	for (char *p = s; *p; p++)
		if (*p == ' ' || *p == '<' || *p == '>')
			*p = '?';
	return s;
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
	snprintf(ident_copy, sizeof(ident_copy), "%s", ident);
	perror_too = to_stderr;
	atomic_store(&next_check, 0);
	openlog(ident, LOG_PID | LOG_NDELAY | (to_stderr ? LOG_PERROR : 0), fac);
	return 0;
}

void log_close(void)
{
	closelog();
}

static void emit(int prio, const char *fmt, va_list ap)
{
	char buf[4096], *big, *line;
	int listens = syslog_listens();

	if (!listens && !perror_too)
		return;
	if ((line = format_line(buf, sizeof(buf), &big, fmt, ap)) == NULL)
		return;
	if (listens)
		syslog(prio, "%s", line);
	else
		stderr_line(line);
	free(big);
}

#define LOG_FN(name, prio)                     \
	void name(const char *fmt, ...)        \
	{                                      \
		va_list ap;                    \
		va_start(ap, fmt);             \
		emit(prio, fmt, ap);           \
		va_end(ap);                    \
	}

LOG_FN(log_err, LOG_ERR)
LOG_FN(log_warning, LOG_WARNING)
LOG_FN(log_info, LOG_INFO)
LOG_FN(log_debug, LOG_DEBUG)
