/*
 * spamsift -- the command users and administrators run: global options,
 * configuration, Trust, the store, and dispatch to the subcommands in
 * cmd_*.c. Only main() decides to stop; subcommands return an exit status
 * (0 ok, 1 usage, 2 bad input, 3 store error).
 */
#include "config.h"

#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <limits.h>
#include <sys/stat.h>
#ifdef __linux__
#include <linux/magic.h>
#include <sys/statfs.h>
#endif
#include <unistd.h>

#include "cli/cli.h"

static void usage(FILE *f)
{
	fprintf(f,
	    "usage: spamsift [-c FILE] [--db PATH] [-o Key=Value]... [-v] COMMAND [ARGS]\n"
	    "\n"
	    "Global options:\n"
	    "  -c FILE          configuration file (default " CONF_DEFAULT_PATH ")\n"
	    "  --db PATH        use this store file (same as -o StorePath=PATH)\n"
	    "  -o Key=Value     override a configuration key (repeatable)\n"
	    "  -v               verbose\n"
	    "\n"
	    "Commands:\n"
	    "  train       learn messages as spam or ham\n"
	    "  retrain     correct a verdict by its signature\n"
	    "  classify    classify messages\n"
	    "  tokens      print the tokens read from messages\n"
	    "  whitelist   manage a user's whitelist\n"
	    "  blocklist   manage a user's blocklist\n"
	    "  prefs       manage a user's preferences\n"
	    "  quarantine  list, show, release, delete, expire quarantined mail\n"
	    "  stats       per-user counters\n"
	    "  user        delete a user's data (a mailbox that is gone)\n"
	    "  db          init, check, purge, vacuum the store\n"
	    "  config      check or show the configuration\n"
	    "  export      write a user's tokens, lists and preferences to a file\n"
	    "  import      read them back\n"
	    "\n"
	    "`spamsift COMMAND --help` describes a command; see spamsift(1).\n"
	    "Exit status: 0 ok, 1 usage, 2 bad input, 3 store error.\n");
}

int cli_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return 0;
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			return 1;
	}
	return 0;
}

int cli_usage(const char *help, const char *fmt, ...)
{
	va_list ap;

	fputs("spamsift: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n", stderr);
	fputs(help, stderr);
	return CLI_USAGE;
}

/*
 * A byte that is not part of valid UTF-8 (a file name in Latin-1) is
 * written as the code point of its value, \u00XX: the string stays valid
 * JSON (the raw byte made the whole line unreadable to JSON parsers).
 */
void cli_json_str(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	fputc('"', f);
	while (*p) {
		size_t n = conf_utf8_len(p);

		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f || n == 0)
			fprintf(f, "\\u%04x", *p);
		else
			fwrite(p, 1, n, f);
		p += n ? n : 1;
	}
	fputc('"', f);
}

size_t cli_text_str(FILE *f, const char *s)
{
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '\\': fputs("\\\\", f); n += 2; break;
		case '\t': fputs("\\t", f); n += 2; break;
		case '\n': fputs("\\n", f); n += 2; break;
		case '\r': fputs("\\r", f); n += 2; break;
		default:
			if (*p < 0x20 || *p == 0x7f) {
				fprintf(f, "\\x%02x", *p);
				n += 4;
			} else {
				fputc(*p, f);
				n++;
			}
		}
	}
	return n;
}

int cli_store_error(cli *c, const char *what, int rc)
{
	fprintf(stderr, "spamsift: %s: %s\n", what,
	    c->store ? db_errmsg(c->store) : strerror(-rc));
	return CLI_STORE;
}

db *cli_store(cli *c, int create)
{
	char err[1024];
	const char *path;
	int rc;

	if (c->store != NULL)
		return c->store;
	path = conf_str(c->cf, "StorePath");
	if (path == NULL || *path == '\0') {
		fprintf(stderr, "spamsift: StorePath: no store configured\n");
		return NULL;
	}
	/* The open reads the store (SQLite then has its WAL and shared
	 * memory files open too), so the privilege may go right after. */
	if (cli_privilege(c, 1) < 0)
		return NULL;
	rc = db_open(path, (create ? DB_OPEN_CREATE : 0) | DB_OPEN_BULK |
	    (c->elevated && !c->trusted ? DB_OPEN_NO_TEMP_FILES : 0),
	    &c->store, err, sizeof(err));
	if (cli_privilege(c, 0) < 0) {
		db_close(c->store);
		c->store = NULL;
		return NULL;
	}
	if (rc < 0) {
		if (rc == -ENOENT && !create)
			fprintf(stderr, "spamsift: %s: no such store (`spamsift "
			    "db init` creates it)\n", path);
		else
			fprintf(stderr, "spamsift: %s\n", err);
		c->store = NULL;
		return NULL;
	}
	return c->store;
}

int cli_user(cli *c, const char *name, int create, int64_t *uid, char *canon,
    size_t canonlen)
{
	char mapped[USERMAP_MAX], mine[USERMAP_MAX];
	int rc;

	*uid = 0;
	if (name == NULL || *name == '\0') {
		fprintf(stderr, "spamsift: --user is required\n");
		return CLI_USAGE;
	}
	if (strcmp(name, DB_GLOBAL_USER) == 0)
		snprintf(mapped, sizeof(mapped), "%s", name);
	/* (a control character is taken, as the milter takes it: Postfix
	 * relays "x\001"@d, and its quarantined mail must be reachable;
	 * output escapes it) */
	else if (usermap_lookup(c->umap, name, mapped, sizeof(mapped)) < 0) {
		fprintf(stderr, "spamsift: --user %s: not a valid user\n", name);
		return CLI_INPUT;
	}
	if (!c->trusted) {
		int known = usermap_login(c->umap, c->caller, mine,
		    sizeof(mine)) == 0;

		if (!known || strcmp(mine, mapped) != 0) {
			/* (the user the login maps to: with an alias table,
			 * not the login) */
			fprintf(stderr, "spamsift: %s may act only as %s (not in "
			    "Trust)\n", c->caller, known ? mine : c->caller);
			return CLI_USAGE;
		}
	}
	/* Only `db init` creates the store: a mistyped --db or StorePath
	 * made training go to a new store the milter never reads. */
	if (cli_store(c, 0) == NULL)
		return CLI_STORE;
	rc = db_user(c->store, mapped, create, uid);
	if (rc < 0)
		return cli_store_error(c, "user lookup", rc);
	if (canon != NULL)
		snprintf(canon, canonlen, "%s", mapped);
	return CLI_OK;
}

int cli_privilege(cli *c, int on)
{
	gid_t g = on ? c->priv_gid : getgid();
	uid_t u = on ? c->priv_uid : getuid();

	if (!c->elevated)
		return 0;
	/* The user last when taking, first when giving up: a set-user-ID
	 * run may need its user to change the group. */
	if (!on && geteuid() != u && seteuid(u) < 0)
		goto fail;
	if (getegid() != g && setegid(g) < 0)
		goto fail;
	if (on && geteuid() != u && seteuid(u) < 0)
		goto fail;
	return 0;
fail:
	fprintf(stderr, "spamsift: cannot %s the command's privilege: %s\n",
	    on ? "take" : "give up", strerror(errno));
	return -1;
}

/* Does the -o argument kv (Key=Value, blanks around Key) set key? */
static int override_of(const char *kv, const char *key)
{
	size_t n = strlen(key);

	kv += strspn(kv, " \t");
	if (strncasecmp(kv, key, n) != 0)
		return 0;
	kv += n;
	kv += strspn(kv, " \t");
	return *kv == '=';
}

/* Is login in the Trust list of cf (root always is)? */
static int trusts(const conf *cf, const char *login)
{
	size_t n;
	const char *const *trust = conf_list(cf, "Trust", &n);

	if (getuid() == 0)
		return 1;
	for (size_t k = 0; k < n; k++)
		if (strcmp(trust[k], login) == 0)
			return 1;
	return 0;
}

/*
 * Is path a file only root can have written, as sudo and sshd ask of their
 * files: a regular file owned by root that group and others may not write,
 * in directories (every one up to /, symbolic links resolved) owned by root
 * that group and others may not write either, unless sticky as /tmp (where
 * nobody else may rename what root owns), and not in /proc (a setgid
 * process's /proc/self files belong to root, and some hold text the caller
 * chose). real is the path already resolved (realpath), the one to read.
 */
static int admin_file(const char *real)
{
	struct stat st;
#ifdef __linux__
	struct statfs fs;
#endif
	char dir[PATH_MAX], *slash;

	if (stat(real, &st) < 0 || !S_ISREG(st.st_mode))
		return 0;
#ifdef __linux__
	if (statfs(real, &fs) < 0 || fs.f_type == PROC_SUPER_MAGIC)
		return 0;
#endif
	if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
		return 0;
	snprintf(dir, sizeof(dir), "%s", real);
	for (;;) {
		if ((slash = strrchr(dir, '/')) == NULL || dir[1] == '\0')
			return 1;
		slash[slash == dir] = '\0';      /* "/etc" -> "/" */
		if (stat(dir, &st) < 0 || st.st_uid != 0 ||
		    ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 &&
		    (st.st_mode & S_ISVTX) == 0))
			return 0;
	}
}

static void conf_warn(void *arg, const char *text)
{
	cli *c = arg;

	if (c->verbose)
		fprintf(stderr, "spamsift: warning: %s\n", text);
}

static const struct {
	const char *name;                       /* subcommand */
	int (*fn)(cli *c, int argc, char **argv); /* handler */
} commands[] = {
	{ "train", cmd_train }, { "retrain", cmd_retrain },
	{ "classify", cmd_classify }, { "tokens", cmd_tokens },
	{ "whitelist", cmd_list }, { "blocklist", cmd_list },
	{ "prefs", cmd_prefs }, { "quarantine", cmd_quarantine },
	{ "stats", cmd_stats }, { "user", cmd_user }, { "db", cmd_db }, { "config", cmd_config },
	{ "export", cmd_export }, { "import", cmd_import },
};

/*
 * Output that did not reach its file (a full disk, a closed pipe) is a
 * failure, not a success with a truncated export or listing; rc, or 2.
 */
static int output_done(int rc)
{
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "spamsift: standard output: %s\n",
		    strerror(errno ? errno : EIO));
		if (rc == CLI_OK)
			rc = CLI_INPUT;
	}
	return rc;
}

int main(int argc, char **argv)
{
	cli c = { 0 };
	const char *db_path = NULL;
	char **overrides = calloc((size_t)argc + 1, sizeof(*overrides));
	char err[1024], dbover[4200], conf_real[PATH_MAX];
	size_t noverrides = 0;
	struct passwd *pw;
	int i, rc = CLI_USAGE, elevated, chosen_conf = 0;

	if (overrides == NULL)
		return CLI_STORE;
	/* A reader that closes the pipe early is a write error (exit 2, said
	 * on stderr), not a death by SIGPIPE (status 141). */
	signal(SIGPIPE, SIG_IGN);
	c.conf_path = CONF_DEFAULT_PATH;
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			c.conf_path = argv[++i];
			chosen_conf = 1;
		} else if (strcmp(argv[i], "--db") == 0 && i + 1 < argc) {
			db_path = argv[++i];
		} else if (strncmp(argv[i], "--db=", 5) == 0) {
			db_path = argv[i] + 5;
		} else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) {
			overrides[noverrides++] = argv[++i];
		} else if (strcmp(argv[i], "-v") == 0) {
			c.verbose = 1;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			free(overrides);
			return output_done(CLI_OK);
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("spamsift %s\n", PACKAGE_VERSION);
			free(overrides);
			return output_done(CLI_OK);
		} else if (strcmp(argv[i], "-c") == 0 ||
		    strcmp(argv[i], "--db") == 0 || strcmp(argv[i], "-o") == 0) {
			fprintf(stderr, "spamsift: option %s needs an argument\n",
			    argv[i]);
			usage(stderr);
			free(overrides);
			return CLI_USAGE;
		} else {
			fprintf(stderr, "spamsift: unknown option %s\n", argv[i]);
			usage(stderr);
			free(overrides);
			return CLI_USAGE;
		}
	}
	if (i >= argc) {
		usage(stderr);
		free(overrides);
		return CLI_USAGE;
	}

	pw = getpwuid(getuid());
	snprintf(c.caller, sizeof(c.caller), "%s", pw ? pw->pw_name : "?");
	elevated = getegid() != getgid() || geteuid() != getuid();
	if (elevated) {
		/* Run with the caller's own rights; cli_store takes the
		 * command's back only to open and close the store. libmagic
		 * would read the file $MAGIC names, and $HOME/.magic; SQLite's
		 * temporary files would go to $SQLITE_TMPDIR (for a caller not
		 * in Trust they are kept in memory: DB_OPEN_NO_TEMP_FILES). */
		c.elevated = 1;
		c.priv_gid = getegid();
		c.priv_uid = geteuid();
		unsetenv("MAGIC");
		unsetenv("HOME");
		unsetenv("SQLITE_TMPDIR");
		if (cli_privilege(&c, 0) < 0) {
			free(overrides);
			return CLI_STORE;
		}
	}

	/*
	 * A subcommand's --help needs no configuration and no store. The
	 * command sees only "--help": -h given where an option wants a value
	 * (--signature -h) would otherwise run it without a configuration.
	 */
	if (cli_wants_help(argc - i, argv + i)) {
		char *help_argv[] = { argv[i], (char *)"--help", NULL };

		for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
			if (strcmp(argv[i], commands[k].name) == 0) {
				free(overrides);
				return output_done(commands[k].fn(&c, 2,
				    help_argv));
			}
	}

	/*
	 * `config check FILE` reads only FILE: a broken default config (or -c,
	 * -o) must not stop it from checking the replacement (not for a
	 * setgid run, which checks what the caller may use first).
	 */
	if (!elevated && argc - i == 3 && strcmp(argv[i], "config") == 0 &&
	    strcmp(argv[i + 1], "check") == 0) {
		free(overrides);
		return cmd_config(&c, argc - i, argv + i);
	}

	/*
	 * Running setgid, the file decides who is trusted: one named by -c
	 * must be one only root can have written (read by its resolved path).
	 */
	if (elevated && chosen_conf && getuid() != 0) {
		if (realpath(c.conf_path, conf_real) == NULL) {
			fprintf(stderr, "spamsift: -c %s: %s\n", c.conf_path,
			    strerror(errno));
			free(overrides);
			return CLI_INPUT;
		}
		if (!admin_file(conf_real)) {
			fprintf(stderr, "spamsift: -c %s: only a file that root "
			    "owns and only root may change (nor its directories) "
			    "may be used here\n", c.conf_path);
			free(overrides);
			return CLI_USAGE;
		}
		c.conf_path = conf_real;
	}
	if (conf_new(&c.cf) < 0)
		goto oom;
	rc = conf_load(c.cf, c.conf_path, err, sizeof(err), conf_warn, &c);
	if (rc == -ENOENT && !chosen_conf) {
		/* No installed config: the built-in defaults apply. */
		if (c.verbose)
			fprintf(stderr, "spamsift: %s: not found, using defaults\n",
			    c.conf_path);
		rc = 0;
	}
	if (rc < 0) {
		fprintf(stderr, "spamsift: %s\n", err);
		rc = CLI_INPUT;
		goto out;
	}
	c.trusted = trusts(c.cf, c.caller);
	/*
	 * Running setgid for an untrusted caller: -o and --db could lift the
	 * rule, so they are refused (the -c file was checked above).
	 */
	if (elevated && !c.trusted && (noverrides > 0 || db_path != NULL)) {
		fprintf(stderr, "spamsift: %s is not in Trust: --db and -o "
		    "are not allowed\n", c.caller);
		rc = CLI_USAGE;
		goto out;
	}
	for (size_t k = 0; k < noverrides; k++) {
		/* Trust was decided from the file above: say so, and do not
		 * let config show list a value that is not in force. */
		if (override_of(overrides[k], "Trust")) {
			fprintf(stderr, "spamsift: warning: -o %s ignored: Trust "
			    "is read from the configuration file only\n",
			    overrides[k]);
			continue;
		}
		if (conf_set_warn(c.cf, overrides[k], err, sizeof(err),
		    conf_warn, &c) < 0) {
			fprintf(stderr, "spamsift: %s\n", err);
			rc = CLI_INPUT;
			goto out;
		}
	}
	if (db_path != NULL && *db_path == '\0') {
		/* (an unset variable: not the configured store) */
		fprintf(stderr, "spamsift: --db: empty path\n");
		rc = CLI_USAGE;
		goto out;
	}
	if (db_path != NULL) {
		snprintf(dbover, sizeof(dbover), "StorePath=%s", db_path);
		if (conf_set(c.cf, dbover, err, sizeof(err)) < 0) {
			fprintf(stderr, "spamsift: %s\n", err);
			rc = CLI_INPUT;
			goto out;
		}
	}
	if (conf_finish(c.cf, err, sizeof(err)) < 0) {
		fprintf(stderr, "spamsift: %s\n", err);
		rc = CLI_INPUT;
		goto out;
	}
	if (usermap_open_conf(c.cf, &c.umap, err, sizeof(err)) < 0) {
		fprintf(stderr, "spamsift: %s\n", err);
		rc = CLI_INPUT;
		goto out;
	}

	rc = -1;
	for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
		if (strcmp(argv[i], commands[k].name) == 0)
			rc = commands[k].fn(&c, argc - i, argv + i);
	if (rc < 0) {
		fprintf(stderr, "spamsift: unknown command %s\n", argv[i]);
		usage(stderr);
		rc = CLI_USAGE;
	}
	rc = output_done(rc);
out:
	/* SQLite removes its WAL and shared-memory files at the last close
	 * (it closes anyway if the privilege cannot be taken). */
	if (c.store != NULL)
		(void)cli_privilege(&c, 1);
	db_close(c.store);
	(void)cli_privilege(&c, 0);
	usermap_close(c.umap);
	conf_unref(c.cf);
	free(overrides);
	return rc;
oom:
	fprintf(stderr, "spamsift: out of memory\n");
	free(overrides);
	return CLI_STORE;
}
