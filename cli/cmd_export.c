/*
 * cmd_export -- `spamsift export|import --user U FILE`: a user's totals,
 * preferences, lists and tokens as a text file, for backups and moving a user
 * between hosts.
 *
 * Format (one record per line, fields separated by one TAB; lines starting
 * with '#' are comments):
 *   # spamsift export 2
 *   totals<TAB>SL<TAB>IL<TAB>FN<TAB>FP<TAB>SC<TAB>IC<TAB>SCL<TAB>ICL<TAB>SI
 *       (spam/innocent learned, false negatives, false positives, spam/innocent
 *       corpusfed, spam/innocent classified, spam inoculated)
 *   pref<TAB>KEY<TAB>VALUE
 *   white|block<TAB>PATTERN<TAB>manual|auto<TAB>ADDED<TAB>BY
 *   token<TAB>HASH (16 hex digits)<TAB>SPAM_HITS<TAB>INNOCENT_HITS
 *   end
 * A preference's value is the rest of its line (it may hold a TAB). The
 * end record, last, tells a whole file from one cut short (a pipe or a
 * disk that failed mid-way): a file that says "export 2" must have it.
 * Version 1 (no end record) is still read. Import adds to what the user
 * already has, in one transaction.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

static const char export_help[] =
    "usage: spamsift export --user U FILE\n"
    "       spamsift import --user U FILE\n"
    "\n"
    "Write a user's totals, preferences, lists and tokens to FILE (- for\n"
    "standard output), or add them from FILE to the user, in one transaction.\n"
    "The format is documented in spamsift(1) and the file's first line.\n";

/* Parse --user U FILE; look U up (*uid 0 when unknown; *name is U). */
static int user_and_file(cli *c, int argc, char **argv, int64_t *uid,
    const char **name, const char **file)
{
	static const struct option longopts[] = {
		{ "user", required_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *user = NULL;
	int ch;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "u:h", longopts, NULL)) != -1) {
		if (ch == 'u')
			user = optarg;
		else if (ch == 'h') {
			fputs(export_help, stdout);
			return -1;
		} else {
			fputs(export_help, stderr);
			return CLI_USAGE;
		}
	}
	if (optind + 1 != argc) {
		fputs(export_help, stderr);
		return CLI_USAGE;
	}
	*file = argv[optind];
	*name = user;
	return cli_user(c, user, 0, uid, NULL, 0);
}

static int out_pref(void *arg, const char *key, const char *value)
{
	fprintf(arg, "pref\t%s\t%s\n", key, value);
	return 0;
}

typedef struct list_out {
	FILE *f;                /* output */
	const char *kind;       /* "white" or "block" */
} list_out;

static int out_list(void *arg, const db_list_entry *e)
{
	list_out *l = arg;

	fprintf(l->f, "%s\t%s\t%s\t%" PRId64 "\t%s\n", l->kind, e->pattern,
	    e->automatic ? "auto" : "manual", (int64_t)e->added,
	    e->added_by ? e->added_by : "");
	return 0;
}

static int out_token(void *arg, const db_token *t)
{
	fprintf(arg, "token\t%016" PRIx64 "\t%" PRId64 "\t%" PRId64 "\n", t->hash,
	    t->spam_hits, t->innocent_hits);
	return 0;
}

/*
 * Where export writes: standard output for "-"; for a regular FILE or a
 * new one, a new file beside it (its name in tmp), renamed over FILE once
 * the export is whole, so that a failed export (a full disk, a store
 * error) leaves the last good backup as it was; with FILE's mode, owner
 * and group, or a new file's (0666 less the umask). Anything else (a
 * symbolic link, a device, a pipe, a FILE with other names), and a FILE in
 * a directory where no new file can be made or whose owner and group the
 * new one cannot take, is written in place (tmp empty). NULL and errno on
 * error.
 */
static FILE *export_open(const char *file, char *tmp, size_t len)
{
	struct stat st;
	mode_t mode, um;
	FILE *f;
	int fd, e, exists = 0;

	tmp[0] = '\0';
	if (strcmp(file, "-") == 0)
		return stdout;
	if (lstat(file, &st) == 0) {
		if (!S_ISREG(st.st_mode))
			return fopen(file, "w");
		mode = st.st_mode & 07777;
		exists = 1;
	} else if (errno == ENOENT) {
		um = umask(0);
		umask(um);
		mode = 0666 & ~um;
	} else {
		return NULL;
	}
	if ((size_t)snprintf(tmp, len, "%s.XXXXXX", file) >= len) {
		tmp[0] = '\0';
		errno = ENAMETOOLONG;
		return NULL;
	}
	/* A directory the caller may not add to, with a FILE they may
	 * write: in place, as before. */
	if ((fd = mkstemp(tmp)) < 0) {
		tmp[0] = '\0';
		return fopen(file, "w");
	}
	/*
	 * The new file must be FILE as it was, but for its contents: with
	 * its owner and group (root's export of a user's file took it from
	 * them), and not a second name of it (a hard link kept the old
	 * contents). Where that cannot be, in place.
	 */
	if (exists && (st.st_nlink > 1 || ((st.st_uid != geteuid() ||
	    st.st_gid != getegid()) && fchown(fd, st.st_uid, st.st_gid) < 0))) {
		close(fd);
		unlink(tmp);
		tmp[0] = '\0';
		return fopen(file, "w");
	}
	if (fchmod(fd, mode) < 0 || (f = fdopen(fd, "w")) == NULL) {
		e = errno;
		close(fd);
		unlink(tmp);
		errno = e;
		return NULL;
	}
	return f;
}

/*
 * The new file an export writes, for a signal that ends the run (^C, a
 * cron job's timeout, a shutdown) to remove: it was left beside FILE, a
 * partial export as large as the user's model, one more each time.
 */
static char killed_tmp[PATH_MAX + 8];
static const int killers[] = { SIGHUP, SIGINT, SIGTERM };
static struct sigaction killers_old[sizeof(killers) / sizeof(killers[0])];

static void export_killed(int sig)
{
	unlink(killed_tmp);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Remove tmp when a signal ends the run (one the caller ignores still
 * does not); unguard_tmp puts back what was there. */
static void guard_tmp(const char *tmp)
{
	struct sigaction sa = { .sa_handler = export_killed };

	snprintf(killed_tmp, sizeof(killed_tmp), "%s", tmp);
	sigemptyset(&sa.sa_mask);
	for (size_t k = 0; k < sizeof(killers) / sizeof(killers[0]); k++)
		sigaddset(&sa.sa_mask, killers[k]);
	for (size_t k = 0; k < sizeof(killers) / sizeof(killers[0]); k++)
		if (sigaction(killers[k], NULL, &killers_old[k]) == 0 &&
		    killers_old[k].sa_handler != SIG_IGN)
			sigaction(killers[k], &sa, NULL);
}

static void unguard_tmp(void)
{
	for (size_t k = 0; k < sizeof(killers) / sizeof(killers[0]); k++)
		sigaction(killers[k], &killers_old[k], NULL);
}

int cmd_export(cli *c, int argc, char **argv)
{
	const char *file;
	list_out lo;
	db_totals t;
	int64_t uid;
	FILE *f;
	const char *name;
	char tmp[PATH_MAX + 8];
	int said = 0, rc = user_and_file(c, argc, argv, &uid, &name, &file);

	if (rc != CLI_OK)
		return rc < 0 ? CLI_OK : rc;
	if (uid == 0) {
		fprintf(stderr, "spamsift: export: no such user in the store\n");
		return CLI_INPUT;
	}
	f = export_open(file, tmp, sizeof(tmp));
	if (f == NULL) {
		fprintf(stderr, "spamsift: %s: %s\n", file, strerror(errno));
		return CLI_INPUT;
	}
	if (tmp[0])
		guard_tmp(tmp);
	fprintf(f, "# spamsift export 2\n");
	/*
	 * One snapshot for all of it: read apart, tokens learned meanwhile
	 * could outnumber the totals read before them, and import would
	 * refuse the file.
	 */
	rc = db_read_begin(c->store);
	if (rc == 0)
		rc = db_totals_get(c->store, uid, &t);
	if (rc == 0)
		fprintf(f, "totals\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64
		    "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\n",
		    t.spam_learned, t.innocent_learned, t.spam_misclassified,
		    t.innocent_misclassified, t.spam_corpusfed, t.innocent_corpusfed,
		    t.spam_classified, t.innocent_classified, t.spam_inoculated);
	if (rc == 0)
		rc = db_pref_iter(c->store, uid, out_pref, f);
	lo.f = f;
	lo.kind = "white";
	if (rc == 0)
		rc = db_list_iter(c->store, uid, DB_LIST_WHITE, out_list, &lo);
	lo.kind = "block";
	if (rc == 0)
		rc = db_list_iter(c->store, uid, DB_LIST_BLOCK, out_list, &lo);
	if (rc == 0)
		rc = db_tokens_iter(c->store, uid, out_token, f);
	if (rc == 0)
		fputs("end\n", f);
	/* The error to say is the first: ending the snapshot after it
	 * replaced the message ("end of read snapshot", not "list tokens"). */
	if (rc < 0)
		said = cli_store_error(c, "export", rc);
	{
		int rc2 = db_read_end(c->store);

		if (rc == 0)
			rc = rc2;
	}
	if (f != stdout) {
		int bad = ferror(f), err = 0;
		struct stat st;

		if (fflush(f) != 0 || (tmp[0] && fsync(fileno(f)) < 0))
			bad = 1;
		if (fclose(f) != 0 || bad)
			err = errno ? errno : EIO;
		if (tmp[0]) {
			sigset_t set, prev;

			/* (renamed or removed before a signal is handled) */
			sigemptyset(&set);
			for (size_t k = 0; k < sizeof(killers) /
			    sizeof(killers[0]); k++)
				sigaddset(&set, killers[k]);
			sigprocmask(SIG_BLOCK, &set, &prev);
			/* The new file replaces FILE only whole. */
			if (rc == 0 && err == 0 && rename(tmp, file) < 0)
				err = errno;
			if ((rc < 0 || err != 0) && unlink(tmp) < 0)
				fprintf(stderr, "spamsift: %s: %s (it holds a "
				    "partial export)\n", tmp, strerror(errno));
			unguard_tmp();
			sigprocmask(SIG_SETMASK, &prev, NULL);
		}
		/*
		 * What a failed export wrote in place (through a symbolic
		 * link) is no backup, yet it imported cleanly (the totals
		 * without the tokens): empty it, which import refuses. Only a
		 * regular file: not a device or pipe.
		 */
		else if ((rc < 0 || err != 0) && stat(file, &st) == 0 &&
		    S_ISREG(st.st_mode) && truncate(file, 0) < 0)
			fprintf(stderr, "spamsift: %s: %s (it holds a partial "
			    "export)\n", file, strerror(errno));
		if (err != 0 && rc == 0) {
			fprintf(stderr, "spamsift: %s: %s\n", file, strerror(err));
			return CLI_INPUT;
		}
	}
	if (rc < 0)
		return said ? said : cli_store_error(c, "export", rc);
	return CLI_OK;
}

/* A decimal count in [0, max], digits only; 0 or -EINVAL. */
static int count_field(const char *s, long long max, long long *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*out = strtoll(s, &end, 10);
	return *end != '\0' || errno != 0 || *out > max ? -EINVAL : 0;
}

/*
 * Apply one import line: 1 for a token line (its hash in tok->hash), 0 for
 * another, -EINVAL for a malformed one, or a store error. Fields are
 * exactly as export writes them: one tab between two, numbers in their
 * plain form, patterns and preferences as the commands accept them (a
 * hand-edited file must not store what they would refuse).
 */
#define IMPORT_SKIPPED 2        /* import_line: a list entry left out */
#define IMPORT_END 3            /* import_line: the end record */
#define IMPORT_SKIPPED_PREF 4   /* import_line: a preference left out */

/*
 * A list record: the kind, then PATTERN, manual|auto, ADDED and BY, read
 * from the right: a pattern may hold a TAB (a sender's quoted local part,
 * "x\ty"@d, which Postfix relays and automatic whitelisting stores), so
 * it is what lies between the kind and the last three fields. Without BY
 * (an older hand-made form), the last two. As import_line returns.
 */
static int import_list(db *d, int64_t uid, char *line)
{
	char pat[CLI_PATTERN_MAX], *f[4], *p = line + 6;   /* past "white\t" */
	int n = 0, kind = line[0] == 'w' ? DB_LIST_WHITE : DB_LIST_BLOCK;
	db_list_entry e;
	long long added;
	char *tab;

	while (n < 3 && (tab = strrchr(p, '\t')) != NULL) {
		*tab = '\0';
		f[n++] = tab + 1;
	}
	if (n < 2)
		return -EINVAL;
	/* f[] from the right: BY, ADDED, source; or ADDED, source */
	if (n == 3 && strcmp(f[2], "auto") != 0 && strcmp(f[2], "manual") != 0) {
		/* PATTERN SOURCE ADDED, the pattern's TAB taken for a field */
		f[2][-1] = '\t';
		n = 2;
	}
	e.added_by = n == 3 ? f[0] : "";
	if ((strcmp(f[n - 1], "auto") != 0 && strcmp(f[n - 1], "manual") != 0) ||
	    count_field(f[n - 2], INT64_MAX, &added) < 0)
		return -EINVAL;
	if (cli_pattern(p, pat, sizeof(pat)) < 0) {
		/* What an older spamsift stored ("alice@", "@") matches
		 * no sender: its backups still import, without it. */
		size_t k = strlen(p);

		if (k == 0 || k >= CLI_PATTERN_MAX || strpbrk(p, " \t<>") != NULL)
			return -EINVAL;
		return IMPORT_SKIPPED;
	}
	e.pattern = pat;
	e.automatic = strcmp(f[n - 1], "auto") == 0;
	e.added = (time_t)added;
	return db_list_add(d, uid, kind, &e);
}

static int import_line(db *d, int64_t uid, char *line, db_token *tok)
{
	char *f[12] = { NULL }, *p = line;
	long long v[9];
	/* A preference's value is the rest of the line. */
	int rc, n = 0, max = strncmp(line, "pref\t", 5) == 0 ? 2 : 12;

	if (strncmp(line, "white\t", 6) == 0 || strncmp(line, "block\t", 6) == 0)
		return import_list(d, uid, line);
	while (p != NULL && n < max)
		f[n++] = strsep(&p, "\t");
	if (p != NULL && n == 2 && strcmp(f[0], "pref") == 0)
		f[n++] = p, p = NULL;
	if (p != NULL)
		return -EINVAL;         /* more than 12 fields */
	if (strcmp(f[0], "end") == 0 && n == 1)
		return IMPORT_END;
	if (strcmp(f[0], "totals") == 0 && n == 10) {
		/* Counts only: a negative one would take from the user's
		 * totals, below what their tokens say was learned. */
		for (int k = 0; k < 9; k++)
			if (count_field(f[k + 1], INT64_MAX / 4, &v[k]) < 0)
				return -EINVAL;
		db_totals t = { v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7],
			v[8] }, h;

		/* Nor may it carry what the user has past the same bound (a
		 * backup imported five times overflowed into a REAL). */
		if ((rc = db_totals_get(d, uid, &h)) < 0)
			return rc;
		{
			int64_t have[9] = { h.spam_learned, h.innocent_learned,
			    h.spam_misclassified, h.innocent_misclassified,
			    h.spam_corpusfed, h.innocent_corpusfed,
			    h.spam_classified, h.innocent_classified,
			    h.spam_inoculated };

			for (int k = 0; k < 9; k++)
				if (have[k] > INT64_MAX / 4 - v[k])
					return -EINVAL;
		}
		return db_totals_add(d, uid, &t);
	}
	if (strcmp(f[0], "pref") == 0 && n == 3) {
		/* Stored as `prefs set` stores them: canonical key and value
		 * ("trainingmode" was kept as written, unseen by prefs list and
		 * unset, and still read by the filter). */
		const char *key = conf_pref_name(f[1]), *val;

		if (key == NULL)
			return -EINVAL;
		/* A value the milter does not take (an older spamsift's: a
		 * spamSubject not in UTF-8) is not in effect, the default is
		 * (prefs list): its backups still import, without it. */
		if ((val = conf_pref_canon(key, f[2])) == NULL)
			return IMPORT_SKIPPED_PREF;
		return db_pref_set(d, uid, key, val);
	}
	if (strcmp(f[0], "token") == 0 && n == 4) {
		char *end;
		uint64_t h;

		if (strlen(f[1]) != 16 || strspn(f[1], "0123456789abcdef") != 16 ||
		    count_field(f[2], INT32_MAX, &v[0]) < 0 ||
		    count_field(f[3], INT32_MAX, &v[1]) < 0)
			return -EINVAL;
		h = strtoull(f[1], &end, 16);
		tok->hash = h;
		rc = db_tokens_update(d, uid, &h, 1, (int)v[0], (int)v[1],
		    (int)(time(NULL) / 86400));
		return rc < 0 ? rc : 1;
	}
	return -EINVAL;
}

/* Inputs of import are read whole before the store is written; at most this. */
#define IMPORT_MAX (1024u * 1024 * 1024)

/*
 * Read f whole into *buf (NUL-terminated; caller frees): the store's write
 * lock is then never held while the input comes slowly (a pipe held open
 * would stall the milter's writes). 0, or -errno (-EFBIG past IMPORT_MAX).
 */
static int read_whole(FILE *f, char **buf, size_t *len)
{
	size_t cap = 65536, n = 0, got;
	char *b = malloc(cap), *nb;

	if (b == NULL)
		return -ENOMEM;
	errno = 0;
	while ((got = fread(b + n, 1, cap - n - 1, f)) > 0) {
		size_t grow;

		n += got;
		if (n + 1 < cap)
			continue;
		/* Full at IMPORT_MAX bytes: only a byte more is too many (a
		 * file of IMPORT_MAX - 1 bytes was refused). */
		if (cap > IMPORT_MAX) {
			if (fgetc(f) == EOF)
				break;
			free(b);
			return -EFBIG;
		}
		grow = cap * 2 > IMPORT_MAX + 1 ? IMPORT_MAX + 1 : cap * 2;
		if ((nb = realloc(b, grow)) == NULL) {
			free(b);
			return -ENOMEM;
		}
		b = nb;
		cap = grow;
	}
	if (ferror(f)) {
		int e = errno ? errno : EIO;

		free(b);
		return -e;
	}
	b[n] = '\0';
	*buf = b;
	*len = n;
	return 0;
}

/*
 * After an import, no imported token may have more hits than the user has
 * messages of that class (what `db check` verifies of every model): a file
 * whose tokens outrun its totals is not an export, and would make the
 * shared store's check fail. 0, -EINVAL, or a store error.
 */
static int import_consistent(db *d, int64_t uid, db_token *tk, size_t n)
{
	db_totals t;
	int rc;

	if (n == 0)
		return 0;
	if ((rc = db_totals_get(d, uid, &t)) < 0 ||
	    (rc = db_tokens_get(d, uid, tk, n)) < 0)
		return rc;
	for (size_t k = 0; k < n; k++) {
		/* (added to what the user had: past the bound of a field) */
		if (tk[k].spam_hits > INT32_MAX || tk[k].innocent_hits > INT32_MAX)
			return -ERANGE;
		if (tk[k].spam_hits > db_totals_spam_fed(&t) ||
		    tk[k].innocent_hits > db_totals_innocent_fed(&t))
			return -EINVAL;
	}
	return 0;
}

int cmd_import(cli *c, int argc, char **argv)
{
	const char *file;
	char *data = NULL, *line, *next;
	db_token *toks = NULL, *nt;
	size_t lineno = 0, len = 0, ntoks = 0, captoks = 0, nrec = 0;
	int v2 = 0, ended = 0;  /* "export 2" file; its end record seen */
	int64_t uid;
	FILE *f;
	const char *name;
	int rc = user_and_file(c, argc, argv, &uid, &name, &file);

	if (rc != CLI_OK)
		return rc < 0 ? CLI_OK : rc;
	f = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
	if (f == NULL) {
		fprintf(stderr, "spamsift: %s: %s\n", file, strerror(errno));
		return CLI_INPUT;
	}
	rc = read_whole(f, &data, &len);
	if (f != stdin)
		fclose(f);
	if (rc < 0) {
		fprintf(stderr, "spamsift: %s: %s\n", file, rc == -EFBIG ?
		    "larger than 1 GiB" : strerror(-rc));
		return CLI_INPUT;
	}
	if (memchr(data, '\0', len) != NULL) {
		fprintf(stderr, "spamsift: %s: not an export (NUL byte)\n", file);
		free(data);
		return CLI_INPUT;
	}
	if ((rc = db_begin(c->store)) < 0) {
		free(data);
		return cli_store_error(c, "import", rc);
	}
	/* A new user is made inside the transaction: a refused file leaves
	 * nothing behind. */
	if (uid == 0 && (rc = cli_user(c, name, 1, &uid, NULL, 0)) != CLI_OK) {
		db_rollback(c->store);
		free(data);
		return rc;
	}
	for (line = data; *line != '\0'; line = next) {
		size_t n = strcspn(line, "\n");

		next = line + n + (line[n] == '\n');
		line[n] = '\0';
		lineno++;
		while (n > 0 && line[n - 1] == '\r')
			line[--n] = '\0';
		if (lineno == 1 && strcmp(line, "# spamsift export 2") == 0)
			v2 = 1;
		if (line[0] == '#' || line[0] == '\0')
			continue;
		if (ntoks == captoks) {
			captoks = captoks ? 2 * captoks : 1024;
			if ((nt = realloc(toks, captoks * sizeof(*toks))) == NULL) {
				rc = -ENOMEM;
				break;
			}
			toks = nt;
		}
		rc = ended ? -EINVAL : import_line(c->store, uid, line,
		    &toks[ntoks]);
		if (rc == IMPORT_END) {
			ended = 1;
			rc = 0;
			continue;
		}
		if (rc == -EINVAL) {
			fprintf(stderr, "spamsift: %s:%zu: %s\n", file, lineno,
			    ended ? "a record after the end record" :
			    "not an export record");
			db_rollback(c->store);
			free(data);
			free(toks);
			return CLI_INPUT;
		}
		if (rc < 0)
			break;
		if (rc == IMPORT_SKIPPED)
			fprintf(stderr, "spamsift: %s:%zu: list pattern matches no "
			    "sender (an older spamsift took it): skipped\n", file,
			    lineno);
		if (rc == IMPORT_SKIPPED_PREF)
			fprintf(stderr, "spamsift: %s:%zu: preference value not in "
			    "effect (an older spamsift took it): skipped\n", file,
			    lineno);
		ntoks += rc == 1;
		nrec++;
		rc = 0;
	}
	free(data);
	if (rc == 0 && v2 && !ended) {
		fprintf(stderr, "spamsift: %s: no end record: a cut-short "
		    "export, nothing imported\n", file);
		db_rollback(c->store);
		free(toks);
		return CLI_INPUT;
	}
	if (rc == 0 && nrec == 0) {
		/* An export has its totals line at least: an empty file (a
		 * failed backup, /dev/null) made an empty user and said it
		 * was imported. */
		fprintf(stderr, "spamsift: %s: no records: not an export\n", file);
		db_rollback(c->store);
		free(toks);
		return CLI_INPUT;
	}
	if (rc == 0 && (rc = import_consistent(c->store, uid, toks, ntoks)) ==
	    -ERANGE) {
		fprintf(stderr, "spamsift: %s: tokens with more than 2147483647 "
		    "hits once added to the user's: nothing imported\n", file);
		db_rollback(c->store);
		free(toks);
		return CLI_INPUT;
	}
	if (rc == -EINVAL) {
		fprintf(stderr, "spamsift: %s: tokens with more hits than the "
		    "user's learned messages: not an export of a model\n", file);
		db_rollback(c->store);
		free(toks);
		return CLI_INPUT;
	}
	free(toks);
	if (rc == -ENOMEM) {    /* ours or the store's: the same words */
		db_rollback(c->store);
		fprintf(stderr, "spamsift: import: out of memory\n");
		return CLI_STORE;
	}
	if (rc < 0 || (rc = db_commit(c->store)) < 0) {
		db_rollback(c->store);
		return cli_store_error(c, "import", rc);
	}
	printf("imported %zu lines\n", lineno);
	return CLI_OK;
}
