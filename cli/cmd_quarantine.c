/*
 * cmd_quarantine -- `spamsift quarantine list|show|release|delete|expire`.
 *
 * release re-delivers a message to its original recipients through Postfix's
 * sendmail (fork + execve with an argument vector: no shell), deletes it,
 * then learns it as innocent by its signature (source error), as DSPAM did.
 * Release and delete hold the store's quarantine lock from reading the
 * message to deleting it, so that a message is delivered at most once.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/learn.h"

static const char quar_help[] =
    "usage: spamsift quarantine list|show|release|delete|expire --user U [ID]...\n"
    "\n"
    "  list     one line per message: id, date (UTC), probability, sender,\n"
    "           subject (TAB-separated)\n"
    "  show     print message ID as stored\n"
    "  release  deliver message ID to its recipients with sendmail\n"
    "           (SendmailPath), learn it as innocent, and delete it\n"
    "  delete   delete message ID\n"
    "  expire   delete this user's messages older than QuarantineLife days\n";

/*
 * A field of a list line: a control character (a decoded Subject may hold
 * a tab or a line break: =?utf-8?q?x=0A?=) is printed as a space, so a
 * message is one line of five fields whatever its sender wrote.
 */
static void print_field(const char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		putchar((unsigned char)*s < 0x20 || *s == 0x7f ? ' ' : *s);
}

static int print_quar(void *arg, const db_quar *q)
{
	char when[32];
	struct tm tm;

	(void)arg;
	gmtime_r(&q->when, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	printf("%" PRId64 "\t%s\t%.4f\t", q->id, when, q->probability);
	print_field(q->sender);
	putchar('\t');
	print_field(q->subject);
	putchar('\n');
	return 0;
}

/*
 * Split the stored recipients into argv entries appended at av[*n]: each
 * ends with a line feed ("a\nb\n"), or, as older versions stored them,
 * they are separated by commas ("a,b").
 */
static int add_rcpts(const char *list, char **av, size_t *n, size_t max)
{
	const char *sep = strchr(list, '\n') != NULL ? "\n" : ", ";
	char *copy = strdup(list), *save = NULL, *tok;

	if (copy == NULL)
		return -ENOMEM;
	for (tok = strtok_r(copy, sep, &save); tok && *n + 1 < max;
	    tok = strtok_r(NULL, sep, &save)) {
		av[*n] = strdup(tok);
		if (av[*n] == NULL) {
			free(copy);
			return -ENOMEM;
		}
		(*n)++;
	}
	free(copy);
	return 0;
}

/* Run sendmail -i -f SENDER -- RCPT... with the message on its stdin. */
static int deliver(const char *sendmail, const db_quar *q)
{
	const char *list = q->recipients ? q->recipients : "";
	size_t n = 0, fixed, max = 7;   /* 5 fixed, NULL, the last recipient */
	int pfd[2], status, rc = 0;
	struct sigaction ign = { .sa_handler = SIG_IGN }, old_pipe;
	char **av, mcenv[4096], *envp[3] = {
		(char *)"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL, NULL };
	const char *mc;
	pid_t pid;

	/* Room for every recipient: a list has at most one per separator. */
	for (const char *p = list; *p; p++)
		max += *p == ',' || *p == ' ' || *p == '\n';
	if ((av = calloc(max + 1, sizeof(*av))) == NULL)
		return -ENOMEM;

	av[n++] = (char *)sendmail;
	av[n++] = (char *)"-i";
	av[n++] = (char *)"-f";
	av[n++] = (char *)(q->sender && *q->sender ? q->sender : "<>");
	av[n++] = (char *)"--";
	fixed = n;
	if (add_rcpts(list, av, &n, max) < 0) {
		rc = -ENOMEM;
		goto out;
	}
	av[n] = NULL;
	if (n == fixed) {
		fprintf(stderr, "spamsift: quarantine %" PRId64 ": no recipients\n", q->id);
		rc = -EINVAL;
		goto out;
	}
	/*
	 * A fixed environment, but for MAIL_CONFIG: the Postfix instance to
	 * release through on a host with several (postmulti). Postfix's
	 * sendmail accepts another instance from a caller that is not root
	 * only when its default main.cf lists it (alternate_config_directories).
	 */
	mc = getenv("MAIL_CONFIG");
	if (mc != NULL && *mc != '\0' && strlen(mc) < sizeof(mcenv) - 13) {
		snprintf(mcenv, sizeof(mcenv), "MAIL_CONFIG=%s", mc);
		envp[1] = mcenv;
	}
	if (pipe(pfd) < 0) {
		rc = -errno;
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		rc = -errno;
		close(pfd[0]);
		close(pfd[1]);
		goto out;
	}
	if (pid == 0) {
		dup2(pfd[0], STDIN_FILENO);
		close(pfd[0]);
		close(pfd[1]);
		execve(sendmail, av, envp);
		_exit(127);
	}
	close(pfd[0]);
	/* A sendmail that stops reading early must not kill us (SIGPIPE):
	 * the write fails and its exit status says why. */
	sigaction(SIGPIPE, &ign, &old_pipe);
	for (size_t off = 0; off < q->len;) {
		ssize_t w = write(pfd[1], q->data + off, q->len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			rc = -EPIPE;
			break;
		}
		off += (size_t)w;
	}
	close(pfd[1]);
	sigaction(SIGPIPE, &old_pipe, NULL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
		fprintf(stderr, "spamsift: cannot run %s (SendmailPath)\n",
		    sendmail);
		rc = -ENOEXEC;
	} else if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
		fprintf(stderr, "spamsift: %s exited with status %d\n",
		    sendmail, WEXITSTATUS(status));
		rc = -EIO;
	} else if (!WIFEXITED(status)) {
		fprintf(stderr, "spamsift: %s was killed by signal %d\n",
		    sendmail, WIFSIGNALED(status) ? WTERMSIG(status) : 0);
		rc = -EIO;
	}
out:
	for (size_t i = fixed; i < n; i++)
		free(av[i]);
	free(av);
	return rc;
}

/*
 * The store's quarantine lock (db_quar_lock) is held by a release from
 * reading its message to learning it, and by a delete too: a second
 * release of the message (two administrators, a double click) waits for the
 * first and then finds the message gone, so it is delivered once. Its file
 * lies next to the store and may have to be created: a setgid run takes its
 * group for that, as it does to open the store (and keeps it while it waits
 * for another release to finish, at most the busy timeout).
 */
int cli_quar_lock(cli *c)
{
	int rc;

	if (cli_privilege(c, 1) < 0)
		return CLI_STORE;
	rc = db_quar_lock(c->store);
	if (cli_privilege(c, 0) < 0) {
		db_quar_unlock(c->store);
		return CLI_STORE;
	}
	return rc < 0 ? cli_store_error(c, "quarantine", rc) : CLI_OK;
}

/* The message is not there; under the lock, a release or delete that ran
 * meanwhile is the likely reason. */
static int no_such(long long id, int locked)
{
	fprintf(stderr, "spamsift: quarantine %lld: no such message%s\n", id,
	    locked ? " (already released or deleted?)" : "");
	return CLI_INPUT;
}

/*
 * Deliver message id and delete it, under the quarantine lock. The delete
 * is made first, in a write transaction committed once sendmail took the
 * message (rolled back if it did not): a store locked by another writer
 * makes the release wait, then fail before delivering. The message was
 * delivered first and deleted after: when the delete found the store
 * locked, the message stayed quarantined and a second release delivered
 * it again. sendmail runs with the store's write lock held (the milter's
 * writer waits meanwhile: Postfix's sendmail takes milliseconds). On
 * success *out is the message delivered (caller frees), to learn from.
 */
static int release_one(cli *c, int64_t uid, long long id, db_quar **out)
{
	const char *sm = conf_str(c->cf, "SendmailPath");
	db_quar *q = NULL;
	int found = 0, rc;

	*out = NULL;
	if ((rc = db_begin(c->store)) < 0)
		return cli_store_error(c, "quarantine release", rc);
	if ((rc = db_quar_get(c->store, uid, id, &q)) < 0 ||
	    (q != NULL && (rc = db_quar_del(c->store, uid, id, &found)) < 0)) {
		db_rollback(c->store);
		db_quar_free(q);
		return cli_store_error(c, "quarantine release", rc);
	}
	if (q == NULL) {
		db_rollback(c->store);
		return no_such(id, 1);
	}
	rc = deliver(sm && *sm ? sm : "/usr/sbin/sendmail", q);
	if (rc < 0) {
		db_rollback(c->store);
		/* (deliver said why for -ENOEXEC and -EIO) */
		if (rc == -ENOEXEC || rc == -EIO)
			fprintf(stderr, "spamsift: quarantine %lld: "
			    "not delivered, still quarantined\n", id);
		else
			fprintf(stderr, "spamsift: quarantine %lld: "
			    "delivery failed: %s\n", id, strerror(-rc));
		db_quar_free(q);
		return CLI_INPUT;
	}
	/* Only a failing disk can stop this commit (the lock is ours). */
	if ((rc = db_commit(c->store)) < 0) {
		fprintf(stderr, "spamsift: quarantine %lld was delivered but "
		    "is still quarantined\n", id);
		db_quar_free(q);
		return cli_store_error(c, "quarantine release", rc);
	}
	*out = q;
	return CLI_OK;
}

/* Delete message id, under the quarantine lock. */
static int delete_one(cli *c, int64_t uid, long long id)
{
	int found = 0, rc;

	rc = db_quar_del(c->store, uid, id, &found);
	if (rc < 0)
		return cli_store_error(c, "quarantine delete", rc);
	return found ? CLI_OK : no_such(id, 1);
}

int cli_quar_expire(cli *c, int64_t uid, int64_t *n)
{
	long life = conf_int(c->cf, "QuarantineLife");

	*n = 0;
	if (life <= 0)          /* spamsift.conf(5): 0 keeps them */
		return 0;
	return db_quar_expire(c->store, uid, time(NULL) - life * 86400, n);
}

int cmd_quarantine(cli *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "user", required_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *user = NULL, *verb;
	char canon[USERMAP_MAX];
	int64_t uid;
	int ch, rc, bad = CLI_OK;

	if (cli_wants_help(argc, argv)) {
		fputs(quar_help, stdout);
		return CLI_OK;
	}
	if (argc < 2) {
		fputs(quar_help, stderr);
		return CLI_USAGE;
	}
	verb = argv[1];
	optind = 0;
	while ((ch = getopt_long(argc - 1, argv + 1, "u:h", longopts, NULL)) != -1) {
		if (ch == 'u')
			user = optarg;
		else {
			fputs(quar_help, stderr);
			return CLI_USAGE;
		}
	}
	if (strcmp(verb, "list") && strcmp(verb, "expire") && strcmp(verb, "show") &&
	    strcmp(verb, "release") && strcmp(verb, "delete"))
		return cli_usage(quar_help, "quarantine: unknown action %s", verb);
	if ((strcmp(verb, "list") == 0 || strcmp(verb, "expire") == 0) &&
	    optind + 1 < argc)
		return cli_usage(quar_help, "quarantine %s takes no ID: %s",
		    verb, argv[optind + 1]);
	rc = cli_user(c, user, 0, &uid, canon, sizeof(canon));
	if (rc != CLI_OK)
		return rc;
	if (strcmp(verb, "list") == 0) {
		rc = uid ? db_quar_iter(c->store, uid, print_quar, NULL) : 0;
		return rc < 0 ? cli_store_error(c, "quarantine list", rc) : CLI_OK;
	}
	if (strcmp(verb, "expire") == 0) {
		/* This user's only (`db purge` expires every user's). */
		int64_t n = 0;

		rc = uid ? cli_quar_expire(c, uid, &n) : 0;
		if (rc < 0)
			return cli_store_error(c, "quarantine expire", rc);
		printf("expired %" PRId64 " messages\n", n);
		return CLI_OK;
	}
	if (optind + 1 > argc - 1) {
		fprintf(stderr, "spamsift: quarantine %s: an ID is required\n", verb);
		return CLI_USAGE;
	}
	/* Every ID is checked before any is used. */
	for (int i = optind + 1; i < argc; i++) {
		char *end;

		if (*argv[i] == '\0' || strtoll(argv[i], &end, 10) <= 0 ||
		    *end != '\0') {
			fprintf(stderr, "spamsift: %s: not a quarantine id\n", argv[i]);
			return CLI_INPUT;
		}
	}
	/*
	 * An ID that is not there, or a message sendmail refused, is said
	 * and the others are still done (exit status 2 at the end): they
	 * were skipped without a word. A store error stops at once.
	 */
	for (int i = optind + 1; i < argc; i++) {
		long long id = strtoll(argv[i], NULL, 10);
		db_quar *q = NULL;

		if (uid == 0) {         /* a user with nothing in the store */
			bad = no_such(id, 0);
			continue;
		}
		if (strcmp(verb, "show") == 0) {
			rc = db_quar_get(c->store, uid, id, &q);
			if (rc < 0)
				return cli_store_error(c, "quarantine", rc);
			if (q == NULL) {
				bad = no_such(id, 0);
				continue;
			}
			if (fwrite(q->data, 1, q->len, stdout) != q->len)
				bad = CLI_INPUT;
			db_quar_free(q);
			continue;
		}
		if ((rc = cli_quar_lock(c)) != CLI_OK)
			return rc;
		if (strcmp(verb, "release") == 0)
			rc = release_one(c, uid, id, &q);
		else
			rc = delete_one(c, uid, id);
		if (rc == CLI_OK && q != NULL) {
			printf("released %lld\n", id);
			/*
			 * Learn it as innocent (it was a false positive), still
			 * under the lock: a `user delete --force` waiting for
			 * it then deletes this learning too, instead of leaving
			 * the deleted user a model of one message.
			 */
			rc = learn_release(c, canon, uid, q);
		}
		db_quar_free(q);
		db_quar_unlock(c->store);
		if (rc == CLI_INPUT)
			bad = rc;
		else if (rc != CLI_OK)
			return rc;
	}
	return bad;
}
