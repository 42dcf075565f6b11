/*
 * log -- the daemon's only way to syslog. Severities follow Postfix: err needs
 * an administrator, warning is handled but degraded, info is the one line per
 * message and start/stop/reload, debug only for DebugPeer clients.
 *
 * Must not be used from classifier/, db/ or conf/ (they return errors).
 */
#ifndef SPAMSIFT_LOG_H
#define SPAMSIFT_LOG_H

#include <stdarg.h>

/*
 * log_open -- open syslog as ident with facility (a name such as "mail");
 * with to_stderr, lines are also written to standard error (foreground),
 * unless standard error is systemd's journal (JOURNAL_STREAM), which gets
 * the syslog lines already.
 * Returns 0, or -EINVAL for an unknown facility name.
 */
int log_open(const char *ident, const char *facility, int to_stderr);

/* log_close -- close syslog. */
void log_close(void);

/*
 * s made one field of a log line, in place: blanks and angle brackets
 * become '?' (a quoted local part, "x> carol=Blocklisted/1.0000/quarantine
 * action=discard"@d, read as fields of its own). Returns s.
 */
char *log_word(char *s);

/* Log one line at the given severity; printf-style. Thread-safe. */
void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
