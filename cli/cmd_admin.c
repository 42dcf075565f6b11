/*
 * cmd_admin -- the spamsift subcommands that manage a user's data and the
 * store: whitelist/blocklist, prefs, quarantine, stats, db, config.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "classifier/filter.h"
#include "cli/cli.h"
#include "cli/learn.h"
#include "conf/profile.h"
#include "conf/usermap.h"

/*
 * Parse "--user U" and "--format F" style options shared by subcommands.
 * They may come before or after the operands (getopt moves the operands
 * to the end, as GNU tools do); "--" ends them, for an operand that starts
 * with "-".
 */
typedef struct opts {
	const char *user;       /* --user */
	const char *format;     /* --format text|tsv|json */
	int help;               /* --help */
	int rest;               /* index of the first operand */
} opts;

static int parse_opts(int argc, char **argv, opts *o)
{
	static const struct option longopts[] = {
		{ "user", required_argument, NULL, 'u' },
		{ "format", required_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	memset(o, 0, sizeof(*o));
	o->format = "text";
	optind = 0;
	while ((ch = getopt_long(argc, argv, "u:F:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'u': o->user = optarg; break;
		case 'F': o->format = optarg; break;
		case 'h': o->help = 1; break;
		default: return -1;
		}
	}
	if (strcmp(o->format, "text") != 0 && strcmp(o->format, "tsv") != 0 &&
	    strcmp(o->format, "json") != 0) {
		fprintf(stderr, "spamsift: --format: expected text, tsv or json\n");
		return -1;
	}
	o->rest = optind;
	return 0;
}

/* Refuse --format tsv|json for an action that prints nothing (CLI_USAGE),
 * rather than let a script wait for output it asked for. */
static int format_refused(const opts *o, const char *help, const char *cmd,
    const char *verb)
{
	if (strcmp(o->format, "text") == 0)
		return 0;
	cli_usage(help, "%s %s: --format %s: %s prints nothing (only the "
	    "listing actions have an output format)", cmd, verb, o->format, verb);
	return 1;
}

/* ---- whitelist / blocklist ---- */

static const char list_help[] =
    "usage: spamsift whitelist|blocklist add|del --user U PATTERN...\n"
    "       spamsift whitelist|blocklist list --user U [--format text|tsv|json]\n"
    "\n"
    "A pattern is an address (alice@example.org), a domain (example.org) or\n"
    "a subdomain suffix (.example.org: the domain and every subdomain).\n"
    "Mail from a whitelisted sender is delivered as Whitelisted without\n"
    "classification; mail from a blocklisted sender is spam.\n"
    "list: a line per pattern, pattern<TAB>manual|auto<TAB>added by<TAB>added\n"
    "(Unix time); tsv adds a first line naming the columns (pattern, source,\n"
    "added_by, added); json is one array of objects with these names.\n";

typedef struct list_ctx {
	const char *format;     /* output format */
	int n;                  /* entries printed */
} list_ctx;

static int print_entry(void *arg, const db_list_entry *e)
{
	list_ctx *l = arg;
	const char *source = e->automatic ? "auto" : "manual";
	const char *by = e->added_by ? e->added_by : "";

	if (strcmp(l->format, "json") == 0) {
		printf("%s{\"pattern\":", l->n ? "," : "[");
		cli_json_str(stdout, e->pattern);
		printf(",\"source\":\"%s\",\"added_by\":", source);
		cli_json_str(stdout, by);
		printf(",\"added\":%" PRId64 "}", (int64_t)e->added);
	} else {
		/* text and tsv rows are the same; tsv has its header */
		cli_text_str(stdout, e->pattern);
		printf("\t%s\t", source);
		cli_text_str(stdout, by);
		printf("\t%" PRId64 "\n", (int64_t)e->added);
	}
	l->n++;
	return 0;
}

/*
 * A pattern is an address (local@domain), a domain or a .suffix, as the
 * store matches a sender (db_list_candidates): no empty local part or
 * domain label, no blanks or control bytes in a domain. Stored lowercase,
 * as senders are compared.
 *
 * An address's local part may hold what a sender's holds as the milter
 * compares it (norm_sender in classifier/filter.c): a quoted local part
 * ("john doe"@d, "x\001"@d, which Postfix relays) comes unquoted, blanks
 * and control characters kept, and automatic whitelisting stores it so;
 * and such a sender is kept up to DB_SENDER_MAX - 1 bytes. Those entries
 * were refused here, and so every export holding one by import. Never in
 * one: a line break (an export line could not carry it), a blank or '<'
 * first (the milter's sender starts after them).
 */
int cli_pattern(const char *p, char *out, size_t len)
{
	char unq[CLI_PATTERN_MAX];
	const char *at, *dom;
	size_t n;

	/* "bob"@d is bob@d, as the milter reads senders (usermap_address). */
	if (p[0] == '"') {
		if (usermap_address(p, unq, sizeof(unq)) < 0)
			return -1;
		p = unq;
	}
	at = strrchr(p, '@');
	dom = at ? at + 1 : p;
	n = strlen(p);

	if (n == 0 || n > (at ? CLI_PATTERN_MAX - 1 : 320) || n >= len ||
	    at == p || p[0] == ' ' || p[0] == '<')
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];

		if (ch == '\n' || ch == '\r' || (p + i >= dom &&
		    (ch <= ' ' || ch == '<' || ch == '>' || ch == 0x7f)))
			return -1;
	}
	if (*dom == '.' && at == NULL)
		dom++;          /* .suffix */
	if (*dom == '\0' || *dom == '.' || dom[strlen(dom) - 1] == '.' ||
	    strstr(dom, "..") != NULL)
		return -1;
	for (size_t i = 0; i <= n; i++)
		out[i] = (char)tolower((unsigned char)p[i]);
	return 0;
}

int cmd_list(cli *c, int argc, char **argv)
{
	int kind = strcmp(argv[0], "blocklist") == 0 ? DB_LIST_BLOCK : DB_LIST_WHITE;
	const char *verb;
	char pat[CLI_PATTERN_MAX];
	int64_t uid;
	opts o;
	int rc;

	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(list_help, stdout);
		return CLI_OK;
	}
	if (argc < 2) {
		fputs(list_help, stderr);
		return CLI_USAGE;
	}
	verb = argv[1];
	if (parse_opts(argc - 1, argv + 1, &o) < 0 || o.help) {
		fputs(list_help, o.help ? stdout : stderr);
		return o.help ? CLI_OK : CLI_USAGE;
	}
	if (strcmp(verb, "add") != 0 && strcmp(verb, "del") != 0 &&
	    strcmp(verb, "list") != 0)
		return cli_usage(list_help, "%s: unknown action %s (add, del or "
		    "list)", argv[0], verb);
	if (strcmp(verb, "list") == 0 && argc - 1 - o.rest > 0)
		return cli_usage(list_help, "%s list takes no pattern: %s",
		    argv[0], argv[o.rest + 1]);
	if (strcmp(verb, "list") != 0 && format_refused(&o, list_help, argv[0], verb))
		return CLI_USAGE;
	if (strcmp(verb, "list") != 0 && argc - 1 - o.rest < 1) {
		fprintf(stderr, "spamsift: %s %s: a pattern is required\n", argv[0], verb);
		return CLI_USAGE;
	}
	/* All or nothing: every pattern is checked before any is written
	 * (one to delete may be what an older spamsift took: see below). */
	for (int i = o.rest + 1; i < argc && strcmp(verb, "add") == 0; i++)
		if (cli_pattern(argv[i], pat, sizeof(pat)) < 0) {
			fprintf(stderr, "spamsift: %s: not an address, domain or .suffix\n",
			    argv[i]);
			return CLI_INPUT;
		}
	rc = cli_user(c, o.user, strcmp(verb, "add") == 0, &uid, NULL, 0);
	if (rc != CLI_OK)
		return rc;
	if (strcmp(verb, "list") == 0) {
		list_ctx l = { o.format, 0 };

		if (strcmp(o.format, "tsv") == 0)
			printf("pattern\tsource\tadded_by\tadded\n");
		rc = uid ? db_list_iter(c->store, uid, kind, print_entry, &l) : 0;
		if (rc < 0)
			return cli_store_error(c, "list", rc);
		if (strcmp(o.format, "json") == 0)
			printf("%s\n", l.n ? "]" : "[]");
		return CLI_OK;
	}
	if ((rc = db_begin(c->store)) < 0)
		return cli_store_error(c, argv[0], rc);
	for (int i = o.rest + 1; i < argc; i++) {
		if (strcmp(verb, "add") == 0) {
			db_list_entry e = { pat, 0, time(NULL), c->caller };

			cli_pattern(argv[i], pat, sizeof(pat)); /* checked above */
			rc = db_list_add(c->store, uid, kind, &e);
		} else {
			int found = 0;

			/* Lowercase as add stores it, else as typed: an older
			 * spamsift stored any blank-free text, imports kept case. */
			rc = 0;
			if (uid && cli_pattern(argv[i], pat, sizeof(pat)) == 0)
				rc = db_list_del(c->store, uid, kind, pat, &found);
			if (uid && rc == 0 && !found)
				rc = db_list_del(c->store, uid, kind, argv[i], &found);
			if (rc == 0 && !found) {
				fprintf(stderr, "spamsift: %s: not in the %s (nothing "
				    "changed)\n", argv[i], argv[0]);
				db_rollback(c->store);
				return CLI_INPUT;
			}
		}
		if (rc < 0) {
			db_rollback(c->store);
			return cli_store_error(c, argv[0], rc);
		}
	}
	if ((rc = db_commit(c->store)) < 0)
		return cli_store_error(c, argv[0], rc);
	return CLI_OK;
}

/* ---- prefs ---- */

static const char prefs_help[] =
    "usage: spamsift prefs get --user U [--format text|tsv|json] KEY\n"
    "       spamsift prefs list --user U [--format text|tsv|json]\n"
    "       spamsift prefs set|unset --user U KEY [VALUE]\n"
    "\n"
    "Per-user preferences override the site defaults (Preference lines of\n"
    "spamsift.conf) only for keys listed in AllowOverride. Keys: spamAction,\n"
    "spamSubject, signatureLocation, showFactors, enableBNR, enableWhitelist,\n"
    "whitelistThreshold, trainingMode, statisticalSedation, optIn, optOut,\n"
    "rejectThreshold. `list` shows every key's effective value and where it\n"
    "comes from (user or default), key<TAB>value<TAB>source; `get` only the\n"
    "value. In tsv (a first line naming the columns key, value, source) and\n"
    "json (one array of objects with these names) get prints list's form.\n";

int cmd_prefs(cli *c, int argc, char **argv)
{
	static const char *const keys[] = {
		"spamAction", "spamSubject", "signatureLocation", "showFactors",
		"enableBNR", "enableWhitelist", "whitelistThreshold", "trainingMode",
		"statisticalSedation", "optIn", "optOut", "rejectThreshold",
	};
	const char *verb, *key = NULL;
	char err[512], val[1024];
	int64_t uid;
	int rc, found = 0, nargs;
	opts o;

	if (cli_wants_help(argc, argv)) {
		fputs(prefs_help, stdout);
		return CLI_OK;
	}
	/* (the verb first: an option in its place was taken for it) */
	if (argc < 2 || argv[1][0] == '-' ||
	    parse_opts(argc - 1, argv + 1, &o) < 0) {
		fputs(prefs_help, stderr);
		return CLI_USAGE;
	}
	verb = argv[1];
	nargs = argc - 1 - o.rest;
	if (nargs >= 1) {
		key = conf_pref_name(argv[1 + o.rest]);
		if (key == NULL) {
			fprintf(stderr, "spamsift: %s: unknown preference\n", argv[1 + o.rest]);
			return CLI_INPUT;
		}
	}
	if ((strcmp(verb, "get") == 0 && nargs != 1) ||
	    (strcmp(verb, "set") == 0 && nargs != 2) ||
	    (strcmp(verb, "unset") == 0 && nargs != 1) ||
	    (strcmp(verb, "list") == 0 && nargs != 0) ||
	    (strcmp(verb, "get") && strcmp(verb, "set") && strcmp(verb, "unset") &&
	    strcmp(verb, "list")))
		return cli_usage(prefs_help, "prefs %s: unknown action, or the "
		    "wrong number of arguments", verb);
	if ((strcmp(verb, "set") == 0 || strcmp(verb, "unset") == 0) &&
	    format_refused(&o, prefs_help, "prefs", verb))
		return CLI_USAGE;
	if (strcmp(verb, "set") == 0) {
		if (conf_pref_check(key, argv[2 + o.rest], err, sizeof(err)) < 0) {
			fprintf(stderr, "spamsift: %s\n", err);
			return CLI_INPUT;
		}
		if (!conf_pref_overridable(c->cf, key))
			fprintf(stderr, "spamsift: warning: %s is not in AllowOverride: "
			    "the site default applies until it is\n", key);
	}
	rc = cli_user(c, o.user, strcmp(verb, "set") == 0, &uid, NULL, 0);
	if (rc != CLI_OK)
		return rc;
	if (strcmp(verb, "set") == 0) {
		/* The canonical value (checked above), as import stores it:
		 * "YES" is listed and exported as "on". */
		rc = db_pref_set(c->store, uid, key,
		    conf_pref_canon(key, argv[2 + o.rest]));
		return rc < 0 ? cli_store_error(c, "prefs set", rc) : CLI_OK;
	}
	if (strcmp(verb, "unset") == 0) {
		rc = uid ? db_pref_unset(c->store, uid, key, &found) : 0;
		return rc < 0 ? cli_store_error(c, "prefs unset", rc) : CLI_OK;
	}
	if (strcmp(o.format, "tsv") == 0)
		printf("key\tvalue\tsource\n");
	for (size_t i = 0, n = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *k = keys[i], *v;

		if (key != NULL && strcmp(key, k) != 0)
			continue;
		found = 0;
		if (uid != 0) {
			rc = db_pref_get(c->store, uid, k, val, sizeof(val), &found);
			if (rc < 0)
				return cli_store_error(c, "prefs get", rc);
		}
		if (found && !conf_pref_overridable(c->cf, k))
			found = 0;
		/* A stored value the milter would not take (an older
		 * version's, a hand edit) is not in effect: the default is. */
		v = found ? conf_pref_canon(k, val) : NULL;
		if (v == NULL) {
			found = 0;
			v = conf_pref_default(c->cf, k);
		}
		if (strcmp(o.format, "json") == 0) {
			printf("%s{\"key\":", n++ ? "," : "[");
			cli_json_str(stdout, k);
			printf(",\"value\":");
			cli_json_str(stdout, v);
			printf(",\"source\":\"%s\"}", found ? "user" : "default");
		} else if (key != NULL && strcmp(o.format, "text") == 0) {
			/* the value alone, as stored (a TAB splits nothing) */
			printf("%s\n", v);
		} else {
			printf("%s\t", k);
			cli_text_str(stdout, v);
			printf("\t%s\n", found ? "user" : "default");
		}
	}
	if (strcmp(o.format, "json") == 0)
		printf("]\n");
	return CLI_OK;
}

/* ---- stats ---- */

static const char stats_help[] =
    "usage: spamsift stats [--user U] [--format text|tsv|json]\n"
    "\n"
    "Per user: spam and innocent learned, false positives, false negatives,\n"
    "corpus-fed, messages classified and accuracy % (like dspam_stats).\n"
    "Without --user, every user the caller may see.\n";

typedef struct stats_ctx {
	cli *c;                 /* command state */
	const char *format;     /* output format */
	int n;                  /* users printed */
	int rc;                 /* first error */
} stats_ctx;

static int print_stats(void *arg, int64_t uid, const char *name)
{
	stats_ctx *s = arg;
	db_totals t;
	int64_t classified, errors;
	double acc;
	int rc = db_totals_get(s->c->store, uid, &t);

	if (rc < 0) {
		s->rc = rc;
		return rc;
	}
	classified = t.spam_classified + t.innocent_classified;
	errors = t.spam_misclassified + t.innocent_misclassified;
	acc = classified ? 100.0 * (double)(classified - errors) / (double)classified : 100.0;
	if (acc < 0)
		acc = 0;
	if (strcmp(s->format, "tsv") == 0) {
		cli_text_str(stdout, name);
		printf("\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64
		    "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%.2f\n",
		    t.spam_learned, t.innocent_learned, t.innocent_misclassified,
		    t.spam_misclassified, t.spam_corpusfed, t.innocent_corpusfed,
		    t.spam_classified, t.innocent_classified, acc);
	} else if (strcmp(s->format, "json") == 0) {
		printf("%s{\"user\":", s->n ? "," : "[");
		cli_json_str(stdout, name);
		printf(",\"spam_learned\":%" PRId64 ",\"innocent_learned\":%" PRId64
		    ",\"false_positives\":%" PRId64 ",\"false_negatives\":%" PRId64
		    ",\"spam_corpusfed\":%" PRId64 ",\"innocent_corpusfed\":%" PRId64
		    ",\"spam_classified\":%" PRId64 ",\"innocent_classified\":%" PRId64
		    ",\"accuracy\":%.2f}", t.spam_learned, t.innocent_learned,
		    t.innocent_misclassified, t.spam_misclassified, t.spam_corpusfed,
		    t.innocent_corpusfed, t.spam_classified, t.innocent_classified, acc);
	} else {
		for (size_t k = cli_text_str(stdout, name); k < 30; k++)
			putchar(' ');
		printf(" TS: %6" PRId64 " TI: %6" PRId64 " FP: %5" PRId64
		    " FN: %5" PRId64 " SC: %6" PRId64 " NC: %6" PRId64
		    " classified: %6" PRId64 " accuracy: %6.2f%%\n",
		    t.spam_learned, t.innocent_learned, t.innocent_misclassified,
		    t.spam_misclassified, t.spam_corpusfed, t.innocent_corpusfed,
		    classified, acc);
	}
	s->n++;
	return 0;
}

static int stats_filter(void *arg, int64_t uid, const char *name)
{
	stats_ctx *s = arg;
	char mine[USERMAP_MAX];

	if (!s->c->trusted && (usermap_login(s->c->umap, s->c->caller, mine,
	    sizeof(mine)) < 0 || strcmp(mine, name) != 0))
		return 0;
	return print_stats(arg, uid, name);
}

int cmd_stats(cli *c, int argc, char **argv)
{
	stats_ctx s = { c, NULL, 0, 0 };
	char name[USERMAP_MAX];
	int64_t uid = 0;
	opts o;
	int rc;

	if (parse_opts(argc, argv, &o) < 0 || o.help || o.rest != argc) {
		fputs(stats_help, o.help ? stdout : stderr);
		return o.help ? CLI_OK : CLI_USAGE;
	}
	s.format = o.format;
	if (o.user != NULL) {
		rc = cli_user(c, o.user, 0, &uid, name, sizeof(name));
		if (rc != CLI_OK)
			return rc;
		if (uid == 0) {
			fprintf(stderr, "spamsift: %s: no such user in the store\n", o.user);
			return CLI_INPUT;
		}
	} else if (cli_store(c, 0) == NULL)
		return CLI_STORE;
	/* The header even without a row, as prefs and the lists print it. */
	if (strcmp(o.format, "tsv") == 0)
		printf("user\tspam_learned\tinnocent_learned\tfalse_positives\t"
		    "false_negatives\tspam_corpusfed\tinnocent_corpusfed\t"
		    "spam_classified\tinnocent_classified\taccuracy\n");
	if (o.user != NULL)
		rc = print_stats(&s, uid, name);
	else
		rc = db_user_iter(c->store, stats_filter, &s);
	if (strcmp(o.format, "json") == 0)
		printf("%s\n", s.n ? "]" : "[]");
	if (rc < 0 || s.rc < 0)
		return cli_store_error(c, "stats", rc < 0 ? rc : s.rc);
	return CLI_OK;
}

/* ---- user ---- */

static const char user_help[] =
    "usage: spamsift user delete --user U [--force]\n"
    "\n"
    "delete  everything the store holds for user U: tokens, counters,\n"
    "        signatures, white and block lists, senders' histories,\n"
    "        preferences. A user with quarantined mail keeps everything\n"
    "        unless --force, which deletes that mail too. The name stays\n"
    "        known, with nothing (stats shows zeros); mail for U later\n"
    "        starts over from the global model. `db vacuum` gives the\n"
    "        space back to the file system. Only for users in Trust.\n";

int cmd_user(cli *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "user", required_argument, NULL, 'u' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *user = NULL;
	char name[USERMAP_MAX];
	int64_t uid, nquar = 0;
	int ch, force = 0, rc;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "u:fh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'u': user = optarg; break;
		case 'f': force = 1; break;
		case 'h': fputs(user_help, stdout); return CLI_OK;
		default: fputs(user_help, stderr); return CLI_USAGE;
		}
	}
	if (optind + 1 != argc || strcmp(argv[optind], "delete") != 0)
		return cli_usage(user_help, "user: expected the action delete");
	if (!c->trusted) {
		fprintf(stderr, "spamsift: user: only users in Trust may do this\n");
		return CLI_USAGE;
	}
	rc = cli_user(c, user, 0, &uid, name, sizeof(name));
	if (rc != CLI_OK)
		return rc;
	/* As mapped: "@GLOBAL" and "<@global>" name it too. */
	if (strcmp(name, DB_GLOBAL_USER) == 0)
		return cli_usage(user_help, "user delete: %s is the model every "
		    "user's is merged with, not a user", DB_GLOBAL_USER);
	if (uid == 0) {
		fprintf(stderr, "spamsift: %s: no such user in the store\n", user);
		return CLI_INPUT;
	}
	/* A release of the user's mail running now ends first, its message
	 * delivered and learned: with --force not counted deleted too, and
	 * either way its learning deleted (it was learned after the delete,
	 * a model of one message left to a deleted user). */
	if ((rc = cli_quar_lock(c)) != CLI_OK)
		return rc;
	rc = db_user_delete(c->store, uid, force, &nquar);
	db_quar_unlock(c->store);
	if (rc == -ENOTEMPTY) {
		fprintf(stderr, "spamsift: user delete: %s has %" PRId64
		    " quarantined message%s: release or delete %s first (spamsift "
		    "quarantine), or add --force to delete %s too\n", name, nquar,
		    nquar == 1 ? "" : "s", nquar == 1 ? "it" : "them",
		    nquar == 1 ? "it" : "them");
		return CLI_INPUT;
	}
	if (rc < 0)
		return cli_store_error(c, "user delete", rc);
	fputs("deleted ", stdout);
	cli_text_str(stdout, name);
	if (nquar > 0)
		printf(" and %" PRId64 " quarantined message%s", nquar,
		    nquar == 1 ? "" : "s");
	printf("\n");
	return CLI_OK;
}

/* ---- db ---- */

static const char db_help[] =
    "usage: spamsift db init|check|purge|vacuum\n"
    "\n"
    "  init    create the store (StorePath) if it does not exist\n"
    "  check   integrity check; exit 3 and a report when it fails\n"
    "  purge   delete tokens (and senders' histories) unseen for\n"
    "          PurgeStaleDays with at most PurgeMaxHits hits, signatures\n"
    "          older than SignatureLife days and quarantined mail older\n"
    "          than QuarantineLife days\n"
    "  vacuum  compact the store file (and optimize it)\n";

int cmd_db(cli *c, int argc, char **argv)
{
	const char *verb = argc >= 2 ? argv[1] : "";
	int rc;

	if (cli_wants_help(argc, argv)) {
		fputs(db_help, stdout);
		return CLI_OK;
	}
	if (argc != 2 || !c->trusted) {
		if (argc == 2)
			fprintf(stderr, "spamsift: db: only users in Trust may do this\n");
		else
			fputs(db_help, stderr);
		return CLI_USAGE;
	}
	if (strcmp(verb, "init") == 0) {
		if (cli_store(c, 1) == NULL)
			return CLI_STORE;
		printf("%s: ready\n", conf_str(c->cf, "StorePath"));
		return CLI_OK;
	}
	if (strcmp(verb, "check") == 0) {
		char *report = NULL;
		int ok = 0;

		if (cli_store(c, 0) == NULL)
			return CLI_STORE;
		rc = db_check(c->store, &ok, &report);
		if (rc < 0)
			return cli_store_error(c, "db check", rc);
		if (report != NULL)
			fputs(report, ok ? stdout : stderr);
		free(report);
		printf("%s: %s\n", conf_str(c->cf, "StorePath"), ok ? "ok" : "DAMAGED");
		return ok ? CLI_OK : CLI_STORE;
	}
	if (strcmp(verb, "purge") == 0) {
		time_t now = time(NULL);
		int64_t ntok = 0, nsig = 0, nq = 0;
		int today = (int)(now / 86400);

		if (cli_store(c, 0) == NULL)
			return CLI_STORE;
		/* 0 days keeps them: spamsift.conf(5). The senders of the
		 * automatic whitelisting's history go as tokens do (not
		 * counted in the line below, whose form scripts read). */
		rc = conf_int(c->cf, "PurgeStaleDays") > 0 ? db_purge(c->store,
		    today - (int)conf_int(c->cf, "PurgeStaleDays"),
		    conf_int(c->cf, "PurgeMaxHits"), &ntok) : 0;
		if (rc == 0 && conf_int(c->cf, "PurgeStaleDays") > 0)
			rc = db_sender_purge(c->store, today -
			    (int)conf_int(c->cf, "PurgeStaleDays"),
			    conf_int(c->cf, "PurgeMaxHits"), NULL);
		if (rc == 0) {
			profile site;

			profile_site(c->cf, &site);
			rc = filter_expire(c->store, &site.fp, now, &nsig);
		}
		if (rc == 0)
			rc = cli_quar_expire(c, 0, &nq);
		if (rc < 0)
			return cli_store_error(c, "db purge", rc);
		printf("purged %" PRId64 " tokens, %" PRId64 " signatures, %" PRId64
		    " quarantined messages\n", ntok, nsig, nq);
		return CLI_OK;
	}
	if (strcmp(verb, "vacuum") == 0) {
		if (cli_store(c, 0) == NULL)
			return CLI_STORE;
		rc = db_vacuum(c->store);
		return rc < 0 ? cli_store_error(c, "db vacuum", rc) : CLI_OK;
	}
	return cli_usage(db_help, "db: unknown action %s", verb);
}

/* ---- config ---- */

static const char config_help[] =
    "usage: spamsift config check [FILE] | config show\n"
    "\n"
    "  check   validate FILE (default: the -c file); errors name file, line\n"
    "          and key; exit 2 when invalid\n"
    "  show    print every setting's effective value and its source\n";

static int print_setting(void *arg, const char *key, const char *value,
    const char *source)
{
	(void)arg;
	printf("%-24s %-40s # %s\n", key, value ? value : "", source);
	return 0;
}

static void print_warning(void *arg, const char *text)
{
	(void)arg;
	fprintf(stderr, "spamsift: warning: %s\n", text);
}

int cmd_config(cli *c, int argc, char **argv)
{
	if (cli_wants_help(argc, argv)) {
		fputs(config_help, stdout);
		return CLI_OK;
	}
	if (argc >= 2 && strcmp(argv[1], "show") == 0 && argc == 2) {
		conf_iter(c->cf, print_setting, NULL);
		return CLI_OK;
	}
	if (argc >= 2 && strcmp(argv[1], "check") == 0 && argc <= 3) {
		const char *path = argc == 3 ? argv[2] : c->conf_path;
		char err[1024];
		conf *cf;
		int rc;

		/* (A setgid run reads FILE as the caller: main gave up the
		 * group at start.) */
		if (conf_new(&cf) < 0)
			return CLI_STORE;
		rc = conf_load(cf, path, err, sizeof(err), print_warning, NULL);
		if (rc == 0)
			rc = conf_finish(cf, err, sizeof(err));
		/* the accounts it names, as the milter's -t and start
		 * check them */
		if (rc == 0)
			rc = conf_accounts(cf, err, sizeof(err));
		if (rc == 0) {
			/* the alias table too: the milter reads it at start */
			usermap *um = NULL;

			rc = usermap_open_conf(cf, &um, err, sizeof(err));
			usermap_close(um);
		}
		conf_unref(cf);
		if (rc < 0) {
			fprintf(stderr, "spamsift: %s\n", err);
			return CLI_INPUT;
		}
		printf("%s: ok\n", path);
		return CLI_OK;
	}
	if (argc >= 2 && (strcmp(argv[1], "check") == 0 ||
	    strcmp(argv[1], "show") == 0))
		return cli_usage(config_help, "config %s: too many arguments",
		    argv[1]);
	return cli_usage(config_help, "config: expected check [FILE] or show%s%s",
	    argc >= 2 ? ", not " : "", argc >= 2 ? argv[1] : "");
}
