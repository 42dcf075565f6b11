/*
 * spamsift-milter -- the daemon: options, configuration, socket, privilege
 * drop, signals, then libmilter's main loop. The callbacks live in mlfi.c.
 *
 * Only main() decides to stop the process.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <grp.h>
#include <malloc.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

#include "conf/conf.h"
#include "conf/usermap.h"
#include "db/db.h"
#include "milter/log.h"
#include "milter/mlfi.h"

static void usage(FILE *f)
{
	fprintf(f,
	    "usage: spamsift-milter [-f] [-t] [-c FILE] [-p SOCKET] [-o Key=Value]...\n"
	    "\n"
	    "Bayesian spam filter for Postfix (libmilter).\n"
	    "\n"
	    "  -c FILE        configuration file (default " CONF_DEFAULT_PATH ")\n"
	    "  -p SOCKET      listen on SOCKET: unix:/path (or local:/path, /path),\n"
	    "                 inet:PORT@HOST, inet6:PORT@HOST (overrides Socket)\n"
	    "  -o Key=Value   override a configuration key (repeatable)\n"
	    "  -f             stay in the foreground and log to stderr too\n"
	    "  -t             check the configuration and exit\n"
	    "  -h, --help     show this help\n"
	    "  -V, --version  show the version\n"
	    "\n"
	    "See spamsift-milter(8) and spamsift.conf(5).\n");
}

static int logging;     /* log_open succeeded: messages go to syslog */
static int ready_fd = -1; /* in the background: the pipe to the waiting
                           caller until the start is through (started) */

/* Configuration warnings: to the terminal at start, to syslog on reload. */
static void conf_warn(void *arg, const char *text)
{
	(void)arg;
	if (logging)
		log_warning("%s", text);
	else
		fprintf(stderr, "spamsift-milter: warning: %s\n", text);
}

/*
 * Load config file and overrides into a new snapshot; NULL and the reason
 * in err on error.
 */
static conf *load_conf(const char *path, char **overrides, size_t noverrides,
    char *err, size_t errlen)
{
	conf *c;

	if (conf_new(&c) < 0) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (conf_load(c, path, err, errlen, conf_warn, NULL) < 0)
		goto fail;
	for (size_t i = 0; i < noverrides; i++)
		if (conf_set_warn(c, overrides[i], err, errlen, conf_warn,
		    NULL) < 0)
			goto fail;
	if (conf_finish(c, err, errlen) < 0)
		goto fail;
	return c;
fail:
	conf_unref(c);
	return NULL;
}

/* Remove a stale unix socket file so smfi_opensocket can bind. */
static const char *unix_path(const char *sock)
{
	if (strncmp(sock, "unix:", 5) == 0)
		return sock + 5;
	if (strncmp(sock, "local:", 6) == 0)
		return sock + 6;
	if (sock[0] == '/')
		return sock;
	return NULL;
}

/*
 * Does a process accept connections on the unix socket at path? Its file
 * is then a running milter's, not one left behind by a milter that died
 * (kill -9, a crash: nobody listens, connect is refused).
 */
static int socket_in_use(const char *path)
{
	struct sockaddr_un un;
	int fd, used;

	memset(&un, 0, sizeof(un));
	if (strlen(path) >= sizeof(un.sun_path))
		return 0;
	un.sun_family = AF_UNIX;
	strcpy(un.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return 0;
	used = connect(fd, (struct sockaddr *)&un, sizeof(un)) == 0;
	close(fd);
	return used;
}

/*
 * The account named by config key `key` (NULL when the key is empty; a
 * message and -1 when the name is unknown).
 */
static int find_user(const conf *c, const char *key, struct passwd **out)
{
	const char *name = conf_str(c, key);

	*out = NULL;
	if (name == NULL || *name == '\0')
		return 0;
	if ((*out = getpwnam(name)) == NULL) {
		fprintf(stderr, "spamsift-milter: %s: unknown user %s\n", key, name);
		return -1;
	}
	return 0;
}

/* The group named by config key `key`, as find_user (*gid unchanged if empty). */
static int find_group(const conf *c, const char *key, gid_t *gid)
{
	const char *name = conf_str(c, key);
	struct group *gr;

	if (name == NULL || *name == '\0')
		return 0;
	if ((gr = getgrnam(name)) == NULL) {
		fprintf(stderr, "spamsift-milter: %s: unknown group %s\n", key, name);
		return -1;
	}
	*gid = gr->gr_gid;
	return 0;
}

/* Every account and group the config names exists (at start and for -t). */
static int check_accounts(const conf *c)
{
	char err[1024];

	if (conf_accounts(c, err, sizeof(err)) < 0) {
		fprintf(stderr, "spamsift-milter: %s\n", err);
		return -1;
	}
	return 0;
}

/* Set owner, group and mode of the unix socket so Postfix's smtpd can connect. */
static int socket_perms(const conf *c, const char *path)
{
	long mode = conf_int(c, "SocketMode");
	struct passwd *pw;
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;

	if (find_user(c, "SocketOwner", &pw) < 0 ||
	    find_group(c, "SocketGroup", &gid) < 0)
		return -1;
	if (pw != NULL)
		uid = pw->pw_uid;
	if ((uid != (uid_t)-1 || gid != (gid_t)-1) && chown(path, uid, gid) < 0) {
		fprintf(stderr, "spamsift-milter: chown %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (mode > 0 && chmod(path, (mode_t)mode) < 0) {
		fprintf(stderr, "spamsift-milter: chmod %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Give the milter's nice value to its scheduling group. Linux (with
 * autogroups, on by default in Debian's kernels) shares the CPU between
 * sessions first and applies nice only among the threads of one session;
 * Postfix's processes run in the session of its master, a service of
 * systemd in its own. So the Nice=-10 of the systemd unit alone ranked the
 * milter ahead of nothing that matters; its session's nice (the autogroup's)
 * ranks it ahead of Postfix. Only when the milter leads its session (as
 * under systemd or once daemonized): in a shell's session (-f from a
 * terminal) the value would apply to the shell's other processes too.
 * Before privileges are dropped (a negative value needs root). Silent
 * where there are no autogroups.
 */
static void autogroup_nice(void)
{
	char buf[16];
	int fd, nv, len;

	errno = 0;
	nv = getpriority(PRIO_PROCESS, 0);
	if ((nv == -1 && errno != 0) || getsid(0) != getpid())
		return;
	if ((fd = open("/proc/self/autogroup", O_WRONLY | O_CLOEXEC)) < 0)
		return;
	len = snprintf(buf, sizeof(buf), "%d", nv);
	if (write(fd, buf, (size_t)len) != len)
		log_warning("cannot give nice %d to the milter's scheduling "
		    "group (/proc/self/autogroup): %s; Postfix's processes "
		    "may delay its verdicts on a busy machine", nv,
		    strerror(errno));
	close(fd);
}

/* Drop to User/Group from the config, after the socket is open. */
static int drop_privileges(const conf *c)
{
	struct passwd *pw;
	gid_t gid;

	if (find_user(c, "User", &pw) < 0)
		return -1;
	if (pw == NULL)
		return 0;
	gid = pw->pw_gid;
	if (find_group(c, "Group", &gid) < 0)
		return -1;
	if (getuid() == pw->pw_uid && getgid() == gid)
		return 0;
	if (setgroups(1, &gid) < 0 || setgid(gid) < 0 || setuid(pw->pw_uid) < 0) {
		fprintf(stderr, "spamsift-milter: cannot become %s: %s\n",
		    pw->pw_name, strerror(errno));
		return -1;
	}
	if (setuid(0) == 0) {
		fprintf(stderr, "spamsift-milter: privilege drop did not hold\n");
		return -1;
	}
	return 0;
}

/*
 * daemon() moves to /, and SIGHUP reads -c and the -o values again: so that
 * a reload finds what this start found, a relative -c and every -o value
 * that was a relative path (conf made it absolute: conf_str starts with /)
 * are replaced by their absolute form. New strings go to pinned[] (n + 1
 * slots, freed by the caller).
 */
static void pin_paths(const conf *c, const char **conf_path, char **overrides,
    size_t n, char **pinned)
{
	char *abs, *cwd;

	/* The start directory joined, symbolic links kept: a reload reads
	 * what the link names then (realpath read the first target for good). */
	if ((*conf_path)[0] != '/' && (cwd = getcwd(NULL, 0)) != NULL) {
		if ((abs = malloc(strlen(cwd) + strlen(*conf_path) + 2)) != NULL) {
			sprintf(abs, "%s/%s", cwd, *conf_path);
			*conf_path = pinned[n] = abs;
		}
		free(cwd);
	}
	for (size_t i = 0; i < n; i++) {
		const char *eq = strchr(overrides[i], '='), *v, *key, *s;
		char name[128];
		size_t len;

		if (eq == NULL || eq[1] == '/' || eq[1] == '\0')
			continue;
		/* The key as conf_set_warn reads it: blanks around it do not count. */
		for (s = overrides[i]; *s == ' ' || *s == '\t'; s++)
			;
		for (len = (size_t)(eq - s); len > 0 && (s[len - 1] == ' ' ||
		    s[len - 1] == '\t'); len--)
			;
		if (len >= sizeof(name))
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)len, s);
		/* Accepted but not a key of ours (a DSPAM key spamsift ignores). */
		if ((key = conf_key_name(name)) == NULL)
			continue;
		v = conf_str(c, key);
		if (v == NULL || v[0] != '/' ||
		    (abs = malloc(strlen(key) + strlen(v) + 2)) == NULL)
			continue;
		sprintf(abs, "%s=%s", key, v);
		overrides[i] = pinned[i] = abs;
	}
}

/* The pid a pid file holds, or 0. */
static long pidfile_pid(const char *path)
{
	char buf[32];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return strtol(buf, NULL, 10);
}

/* Does the pid file still name this process (not a later milter's)? */
static int pidfile_ours(const char *path)
{
	return pidfile_pid(path) == (long)getpid();
}

/*
 * Write the pid file as root, before the privilege drop, in a directory
 * that User may write (so that it can remove it at the end): a new file
 * renamed into place. Opening the path itself followed a symbolic link
 * that User had put there, and wrote over the file it named. One that
 * names another running milter is left alone: stopping that one by it
 * stopped this one, and this one's end removed it.
 */
static int write_pidfile(const char *path)
{
	char tmp[4096], comm[32] = "", proc[64];
	long old;
	int fd, n;
	FILE *f;

	if (path == NULL || *path == '\0')
		return 0;
	/* (our own, or the caller waiting for our start in the background,
	 * whose id the stale file may hold after a reboot) */
	if ((old = pidfile_pid(path)) > 0 && old != (long)getpid() &&
	    old != (long)getppid() &&
	    (kill((pid_t)old, 0) == 0 || errno == EPERM)) {
		snprintf(proc, sizeof(proc), "/proc/%ld/comm", old);
		if ((f = fopen(proc, "r")) != NULL) {
			if (fgets(comm, sizeof(comm), f) == NULL)
				comm[0] = '\0';
			fclose(f);
		}
		if (strncmp(comm, "spamsift-milter", 15) == 0) {
			fprintf(stderr, "spamsift-milter: %s: names milter %ld, "
			    "which is running\n", path, old);
			return -1;
		}
	}
	n = snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path);
	if (n < 0 || (size_t)n >= sizeof(tmp) || (fd = mkstemp(tmp)) < 0) {
		fprintf(stderr, "spamsift-milter: %s: %s\n", path,
		    strerror(n < 0 || (size_t)n >= sizeof(tmp) ? ENAMETOOLONG :
		    errno));
		return -1;
	}
	n = dprintf(fd, "%ld\n", (long)getpid());
	if (n < 0 || fchmod(fd, 0644) < 0 || close(fd) < 0 ||
	    rename(tmp, path) < 0) {
		fprintf(stderr, "spamsift-milter: %s: %s\n", path,
		    strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

/*
 * Go to the background: fork, the child in a session of its own with "/"
 * as its directory. The parent waits for the child's started() and exits
 * with the status it sends (3 when the child ended without one). Returns
 * the child's end of the pipe, or -1.
 */
static void sigs_set(sigset_t *set);

static int background(void)
{
	int pfd[2];
	pid_t pid;

	if (pipe(pfd) < 0 || (pid = fork()) < 0) {
		fprintf(stderr, "spamsift-milter: background: %s\n",
		    strerror(errno));
		return -1;
	}
	if (pid > 0) {
		unsigned char st = 3;
		sigset_t held;

		/* (held since main's first line: an interrupt must still
		 * stop the caller that waits) */
		sigs_set(&held);
		sigprocmask(SIG_UNBLOCK, &held, NULL);
		close(pfd[1]);
		while (read(pfd[0], &st, 1) < 0 && errno == EINTR)
			;
		_exit(st);
	}
	close(pfd[0]);
	/* A caller gone (interrupted) must not kill us with the pipe's
	 * SIGPIPE: the write fails instead (libmilter ignores it too). */
	signal(SIGPIPE, SIG_IGN);
	if (setsid() < 0 || chdir("/") < 0) {
		fprintf(stderr, "spamsift-milter: background: %s\n",
		    strerror(errno));
		close(pfd[1]);
		return -1;
	}
	return pfd[1];
}

/*
 * Tell the waiting parent how the start went (once), and from now on keep
 * away from its terminal: standard input, output and error to /dev/null.
 */
static void started(int *fd, int status)
{
	unsigned char st = (unsigned char)status;
	int null;

	if (*fd < 0)
		return;
	if (write(*fd, &st, 1) < 0) {
		/* the parent is gone: nobody to tell */
	}
	close(*fd);
	*fd = -1;
	if ((null = open("/dev/null", O_RDWR)) >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		if (null > STDERR_FILENO)
			close(null);
	}
}

/*
 * Each quarantine copy opens a file in TempDir (it stays empty while the
 * message fits QuarantineMemory): one User cannot write deferred every
 * message of users who quarantine. Checked as User, at start and at each
 * reload (a reload took such a TempDir, and deferred that mail from then
 * on). 0, or -1 with the reason in err.
 */
static int check_tempdir(const conf *c, char *err, size_t errlen)
{
	const char *dir = conf_str(c, "TempDir") ? conf_str(c, "TempDir") : "/tmp";
	char tmpl[4096];
	int fd;

	snprintf(tmpl, sizeof(tmpl), "%s/spamsift.XXXXXX", dir);
	if ((fd = mkstemp(tmpl)) < 0) {
		snprintf(err, errlen, "TempDir %s: %s", dir, strerror(errno));
		return -1;
	}
	close(fd);
	unlink(tmpl);
	return 0;
}

/* Connect to our own socket and hang up (see stop_library). */
static void wake_listener(const char *sock)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;
	const char *path = unix_path(sock);
	int fd;

	memset(&ss, 0, sizeof(ss));
	if (path != NULL) {
		struct sockaddr_un *un = (struct sockaddr_un *)&ss;

		if (strlen(path) >= sizeof(un->sun_path))
			return;
		un->sun_family = AF_UNIX;
		strcpy(un->sun_path, path);
		len = sizeof(*un);
	} else if (strncmp(sock, "inet:", 5) == 0 || strncmp(sock, "inet6:", 6) == 0) {
		int six = sock[4] == '6';
		const char *port = sock + (six ? 6 : 5), *at = strchr(port, '@');
		char host[256];

		snprintf(host, sizeof(host), "%s", at ? at + 1 : (six ? "::1" : "127.0.0.1"));
		if (six) {
			struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

			in6->sin6_family = AF_INET6;
			in6->sin6_port = htons((uint16_t)atoi(port));
			if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
				inet_pton(AF_INET6, "::1", &in6->sin6_addr);
			len = sizeof(*in6);
		} else {
			struct sockaddr_in *in = (struct sockaddr_in *)&ss;

			in->sin_family = AF_INET;
			in->sin_port = htons((uint16_t)atoi(port));
			if (inet_pton(AF_INET, host, &in->sin_addr) != 1 ||
			    in->sin_addr.s_addr == htonl(INADDR_ANY))
				inet_pton(AF_INET, "127.0.0.1", &in->sin_addr);
			len = sizeof(*in);
		}
	}
	if (len == 0 || (fd = socket(ss.ss_family, SOCK_STREAM, 0)) < 0)
		return;
	(void)connect(fd, (struct sockaddr *)&ss, len);
	close(fd);
}

/*
 * Signals reach the main thread through handlers that write the signal's
 * number to this pipe; the main thread reads it (serve). A 0 byte: the
 * libmilter loop ended.
 */
static int sig_pipe[2] = { -1, -1 };

static void on_signal(int sig)
{
	int saved = errno;
	char c = (char)sig;

	(void)!write(sig_pipe[1], &c, 1);
	errno = saved;
}

/*
 * smfi_stop() waits for libmilter's listener thread, which holds a lock of
 * its own while it polls the socket, five seconds at a time: a connection
 * to our socket wakes it. It must arrive while smfi_stop() waits (one made
 * before is served, then the listener polls again; the one made after it,
 * as before, found the socket closed), so a helper knocks until smfi_stop()
 * returns.
 */
static atomic_int lib_stopped;

static void *knock(void *arg)
{
	while (!atomic_load(&lib_stopped)) {
		wake_listener(arg);
		usleep(20000);
	}
	return NULL;
}

static void stop_library(const char *sock)
{
	pthread_t k;
	int knocking = pthread_create(&k, NULL, knock, (void *)sock) == 0;

	smfi_stop();
	atomic_store(&lib_stopped, 1);
	if (knocking)
		pthread_join(k, NULL);
}

/* libmilter's loop runs in its own thread; the main thread takes signals. */
static void *milter_thread(void *arg)
{
	int *rc = arg;
	char c = 0;

	*rc = smfi_main();
	(void)!write(sig_pipe[1], &c, 1);   /* wake the main thread */
	return NULL;
}

/*
 * Serve until SIGTERM/SIGINT; SIGHUP reloads the configuration.
 *
 * libmilter's own signal thread waits (sigwait) for SIGHUP, SIGTERM and
 * SIGINT and takes SIGHUP as "stop"; smfi_main blocks the three in its
 * thread and the threads it makes. Linux gives a signal sent to the process
 * to the main thread whenever that thread does not block it, and to another
 * thread only otherwise; so the main thread takes them with handlers and
 * never blocks them, also while it reloads (waiting in sigwait, as before,
 * left the signal to libmilter whenever the main thread was busy
 * reloading: a second SIGHUP then stopped the milter). SIGTERM drains: the
 * sessions in flight finish (DRAIN_SECONDS at most) while libmilter still
 * serves them, and only then does libmilter stop (smfi_stop). In that order
 * because libmilter's pool of workers stops at smfi_stop: its controller
 * thread ends at its next wake-up, never reads a session again (a message
 * whose content came later was never answered, so Postfix timed out on it)
 * and destroys the lock its workers take when they finish a command (unless
 * an idle worker waits on it: a session that finished while all were busy
 * logged "TASKMGR_LOCK error" and "TASKMGR_UNLOCK error"). Meanwhile the
 * socket still accepts: a connection opened during the drain is told to go
 * away at its first MAIL (mlfi_drain), and the drain does not wait for it
 * (it carries no mail; Postfix applies its milter_default_action if it is
 * still open when libmilter stops). libmilter
 * stopping on its own is an error (exit status 3, so that a service manager
 * restarts the milter).
 */
#define DRAIN_SECONDS 30

/* The signals the main thread takes (libmilter's signal thread waits for
 * the same three). */
static const int sigs[] = { SIGHUP, SIGTERM, SIGINT };

static void sigs_set(sigset_t *set)
{
	sigemptyset(set);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(set, sigs[i]);
}

/* Keys read only at start: a reload keeps their values. */
static const char *const start_keys[] = { "Socket", "SocketOwner",
	"SocketGroup", "SocketMode", "User", "Group", "PidFile",
	"SyslogFacility", "TokenCacheSize" };
#define NSTART (sizeof(start_keys) / sizeof(start_keys[0]))

/* The values of start_keys, as text (conf_iter callback). */
struct start_vals {
	char v[NSTART][256];
};

static int start_val(void *arg, const char *key, const char *value,
    const char *source)
{
	struct start_vals *sv = arg;

	(void)source;
	for (size_t i = 0; i < NSTART; i++)
		if (strcmp(key, start_keys[i]) == 0)
			snprintf(sv->v[i], sizeof(sv->v[i]), "%s", value);
	return 0;
}

/*
 * A reload that changes a key read only at start says so: the change
 * waits for a restart (an administrator who moved the socket and sent a
 * SIGHUP saw "reloaded" and nothing else).
 */
static void start_keys_changed(const conf *running, const conf *nc)
{
	struct start_vals *a = calloc(2, sizeof(*a));

	if (a == NULL)
		return;
	conf_iter(running, start_val, &a[0]);
	conf_iter(nc, start_val, &a[1]);
	for (size_t i = 0; i < NSTART; i++)
		if (strcmp(a[0].v[i], a[1].v[i]) != 0)
			log_warning("reload: %s changed (%s, was %s); it is read "
			    "only at start: it takes effect at a restart",
			    start_keys[i], a[1].v[i], a[0].v[i]);
	free(a);
}

static int serve(const char *sock, const char *conf_path, char **overrides,
    size_t noverrides, const conf *start)
{
	struct sigaction sa;
	sigset_t set;
	pthread_t t;
	int rc = MI_SUCCESS, ours = 0;

	if (pipe2(sig_pipe, O_CLOEXEC) < 0) {
		log_err("cannot make the signal pipe: %s", strerror(errno));
		return MI_FAILURE;
	}
	sigs_set(&set);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_mask = set;               /* one handler at a time */
	sa.sa_flags = SA_RESTART;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	if (mlfi_start() < 0)
		return MI_FAILURE;
	if (pthread_create(&t, NULL, milter_thread, &rc) != 0) {
		log_err("cannot start the milter thread");
		return MI_FAILURE;
	}
	started(&ready_fd, 0);  /* serving: the caller may go */
	for (;;) {
		char c;
		ssize_t n = read(sig_pipe[0], &c, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n == 1 && c == SIGHUP) {
			char err[1024];
			conf *nc = load_conf(conf_path, overrides, noverrides,
			    err, sizeof(err));
			db *d = NULL;

			/* A store or a TempDir start would refuse: every
			 * message then met it, and was deferred. */
			if (nc != NULL && db_open(conf_str(nc, "StorePath"),
			    DB_OPEN_CREATE, &d, err, sizeof(err)) < 0) {
				conf_unref(nc);
				nc = NULL;
			}
			db_close(d);
			if (nc != NULL && check_tempdir(nc, err, sizeof(err)) < 0) {
				conf_unref(nc);
				nc = NULL;
			}
			if (nc == NULL || mlfi_install(nc, err, sizeof(err)) < 0)
				log_err("reload of %s failed (%s); keeping the "
				    "running configuration", conf_path, err);
			else {
				log_info("reloaded %s", conf_path);
				start_keys_changed(start, nc);
			}
			conf_unref(nc);
			continue;
		}
		ours = n == 1 && c != 0;
		break;
	}
	if (!ours)
		log_err("the milter library stopped serving; stopping");
	mlfi_drain();
	log_info("stopping: draining %d sessions", mlfi_sessions());
	for (int i = 0; i < DRAIN_SECONDS * 100 && mlfi_sessions() > 0; i++)
		usleep(10000);
	if (mlfi_sessions() > 0)
		log_warning("stopping: %d sessions still open after %d s are "
		    "cut off (their clients get the milter's default action)",
		    mlfi_sessions(), DRAIN_SECONDS);
	stop_library(sock);
	pthread_join(t, NULL);
	return ours ? rc : MI_FAILURE;
}

/*
 * Does the environment set this malloc parameter, by its variable or by a
 * tunable in GLIBC_TUNABLES? Then glibc's reading of it stands.
 */
static int env_sets_malloc(const char *var, const char *tunable)
{
	const char *t = getenv("GLIBC_TUNABLES");

	return getenv(var) != NULL || (t != NULL && strstr(t, tunable) != NULL);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char *conf_path = CONF_DEFAULT_PATH;
	const char *sock_opt = NULL;
	char **overrides, *sock_over = NULL, **pinned = NULL;
	size_t noverrides = 0;
	int foreground = 0, test_only = 0, ch, rc = 2, inited = 0;
	const char *sock, *path = NULL, *pidfile = NULL;
	conf *c = NULL;

	/*
	 * glibc gives each thread that meets a busy malloc lock its own arena
	 * (up to 8 per core), and each keeps its freed pages: with libmilter's
	 * workers and many sessions that doubled the milter's resident memory
	 * (measured: 86 MiB with the default, 44 MiB with two arenas, same
	 * load and speed). MALLOC_ARENA_MAX in the environment still wins.
	 */
	if (!env_sets_malloc("MALLOC_ARENA_MAX", "glibc.malloc.arena_max"))
		mallopt(M_ARENA_MAX, 2);
	/*
	 * SIGHUP, SIGTERM and SIGINT are held from the start until serve()
	 * has its handlers: a reload sent while a big alias table loaded
	 * killed the milter ("clean" to systemd: not restarted).
	 */
	{
		sigset_t held;

		sigs_set(&held);
		sigprocmask(SIG_BLOCK, &held, NULL);
	}
	/*
	 * Blocks of 256 KiB and more (the token cache's model copies, which a
	 * learning commit replaces, the writer's combined counts) get pages
	 * of their own, given back when freed. glibc's default raises that
	 * threshold to the largest block freed so far (up to 32 MiB), after
	 * which such blocks came from the arenas, whose holes stay resident:
	 * peak RSS grew with the run: after 12,000 corpus messages (TEFT),
	 * 67-71 MiB at 20 sessions and 68 at 100, against 61-63 and 56-65
	 * with this (47 resident between commits), at the same CPU a message
	 * (e2e.sh with E2E_CORPUS_COUNT=12000). The environment still wins.
	 */
	if (!env_sets_malloc("MALLOC_MMAP_THRESHOLD_",
	    "glibc.malloc.mmap_threshold"))
		mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	overrides = calloc((size_t)argc + 1, sizeof(*overrides));
	if (overrides == NULL)
		return EXIT_FAILURE;
	while ((ch = getopt_long(argc, argv, "c:p:o:ftVh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': conf_path = optarg; break;
		case 'p': sock_opt = optarg; break;
		case 'o': overrides[noverrides++] = optarg; break;
		case 'f': foreground = 1; break;
		case 't': test_only = 1; break;
		case 'V': printf("spamsift-milter %s\n", PACKAGE_VERSION); rc = 0; goto out;
		case 'h': usage(stdout); rc = 0; goto out;
		default: usage(stderr); rc = 1; goto out;
		}
	}
	if (optind != argc) {
		usage(stderr);
		rc = 1;
		goto out;
	}
	/* -p is the Socket key, checked as the key is, after every -o. */
	if (sock_opt != NULL) {
		char err[512];

		if ((sock_over = malloc(strlen(sock_opt) + 8)) == NULL ||
		    conf_new(&c) < 0)
			goto out;
		sprintf(sock_over, "Socket=%s", sock_opt);
		if (conf_set(c, sock_over, err, sizeof(err)) < 0) {
			/* err reads "-o: Socket: why" */
			fprintf(stderr, "spamsift-milter: -p %s: %s\n", sock_opt,
			    strncmp(err, "-o: Socket: ", 12) == 0 ? err + 12 : err);
			rc = 1;
			goto out;
		}
		conf_unref(c);
		c = NULL;
		overrides[noverrides++] = sock_over;
	}
	{
		char err[1024];

		if ((c = load_conf(conf_path, overrides, noverrides, err,
		    sizeof(err))) == NULL) {
			fprintf(stderr, "spamsift-milter: %s\n", err);
			goto out;
		}
	}
	/* Before the socket and daemon(): errors still reach the terminal. */
	if (check_accounts(c) < 0)
		goto out;
	if (test_only) {
		char err[1024];
		usermap *um;

		/* The alias table too: the milter would not start without it. */
		if (usermap_open_conf(c, &um, err, sizeof(err)) < 0) {
			fprintf(stderr, "spamsift-milter: %s\n", err);
			goto out;
		}
		usermap_close(um);
		printf("spamsift-milter: %s: configuration ok\n", conf_path);
		rc = 0;
		goto out;
	}
	sock = conf_str(c, "Socket");
	if (sock == NULL || *sock == '\0') {
		fprintf(stderr, "spamsift-milter: no Socket configured and no -p given\n");
		goto out;
	}
	if (log_open("spamsift-milter", conf_str(c, "SyslogFacility") ?
	    conf_str(c, "SyslogFacility") : "mail", foreground) < 0) {
		fprintf(stderr, "spamsift-milter: SyslogFacility: unknown facility\n");
		goto out;
	}
	logging = 1;
	if ((pinned = calloc(noverrides + 1, sizeof(*pinned))) == NULL)
		goto out;
	pin_paths(c, &conf_path, overrides, noverrides, pinned);
	/* It fails when the alias table does not load: a configuration
	 * problem (exit 2, as -t says), not a store that cannot be opened. */
	if (mlfi_init(c, conf_path, overrides, noverrides) < 0)
		goto out;
	inited = 1;

	/*
	 * A socket file left by a milter that died is replaced; one that a
	 * running milter listens on is not: removed, its milter kept running
	 * without mail, and this one's exit removed the socket for good.
	 */
	if (unix_path(sock) != NULL && socket_in_use(unix_path(sock))) {
		fprintf(stderr, "spamsift-milter: socket %s is in use: another "
		    "milter is running\n", sock);
		goto out;
	}
	path = unix_path(sock);
	if (path != NULL) {
		struct stat st;

		/* Only a socket is replaced (a typo in Socket deleted the
		 * file it named: libmilter itself refuses to). */
		if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
			fprintf(stderr, "spamsift-milter: %s exists and is not "
			    "a socket\n", path);
			path = NULL;
			goto out;
		}
		unlink(path);
	}
	if (smfi_setconn((char *)sock) == MI_FAILURE ||
	    smfi_register(mlfi_desc) == MI_FAILURE) {
		fprintf(stderr, "spamsift-milter: cannot use socket %s\n", sock);
		goto out;
	}
	/* The listen backlog follows Postfix's default concurrency. */
	smfi_setbacklog(128);
	if (smfi_opensocket(1) == MI_FAILURE) {
		fprintf(stderr, "spamsift-milter: cannot open socket %s\n", sock);
		goto out;
	}
	if (path != NULL && socket_perms(c, path) < 0)
		goto out;
	/*
	 * In the background: the caller waits for the start's outcome (its
	 * exit status is ours, its terminal gets our errors until then),
	 * which daemon() gave as 0 before the pid file, the privilege drop
	 * and the store were tried.
	 */
	if (!foreground && (ready_fd = background()) < 0)
		goto out;
	pidfile = conf_str(c, "PidFile");
	if (write_pidfile(pidfile) < 0) {
		pidfile = NULL;         /* (not ours: not removed) */
		goto out;
	}
	autogroup_nice();
	if (drop_privileges(c) < 0)
		goto out;
	/*
	 * A store that cannot be opened is an administrator's problem: say so
	 * now, as the user that will write it (so a new store is theirs).
	 */
	{
		char err[1024];
		db *d = NULL;

		if (db_open(conf_str(c, "StorePath"), DB_OPEN_CREATE, &d, err,
		    sizeof(err)) < 0) {
			log_err("%s", err);
			/* (in the background too: the caller's terminal
			 * is ours until started()) */
			fprintf(stderr, "spamsift-milter: %s\n", err);
			rc = 3;
			goto out;
		}
		db_close(d);
	}
	{
		char err[1024];

		if (check_tempdir(c, err, sizeof(err)) < 0) {
			log_err("%s", err);
			fprintf(stderr, "spamsift-milter: %s\n", err);
			rc = 3;
			goto out;
		}
	}
	log_info("starting: socket %s, config %s", sock, conf_path);
	if (foreground)
		fprintf(stderr, "spamsift-milter: listening on %s\n", sock);
	rc = serve(sock, conf_path, overrides, noverrides, c) == MI_SUCCESS ?
	    0 : 3;
	if (ready_fd >= 0)
		fprintf(stderr, "spamsift-milter: could not start serving "
		    "(the log says why)\n");
	log_info("stopped");
out:
	started(&ready_fd, rc);
	if (inited)
		mlfi_shutdown();
	/*
	 * After the privilege drop these need their directories writable. A
	 * socket left behind is harmless (the next start replaces it); a
	 * stale pid file misleads, so that is logged.
	 */
	if (path != NULL && unlink(path) < 0 && errno != ENOENT && logging)
		log_warning("cannot remove socket %s: %s (the next start "
		    "replaces it)", path, strerror(errno));
	if (pidfile != NULL && *pidfile && pidfile_ours(pidfile) &&
	    unlink(pidfile) < 0 && errno != ENOENT)
		log_warning("cannot remove pid file %s: %s", pidfile,
		    strerror(errno));
	conf_unref(c);
	for (size_t i = 0; pinned != NULL && i <= noverrides; i++)
		free(pinned[i]);
	free(pinned);
	free(overrides);
	free(sock_over);
	log_close();
	return rc;
}
