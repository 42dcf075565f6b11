/*
 * cli -- state shared by the subcommands of the spamsift command: the loaded
 * configuration, the store, who is calling and whether they are trusted.
 *
 * Trust (DSPAM's Trust list): a caller whose Unix login is listed may act for
 * any --user; anyone else only for the user their login maps to. When the
 * command runs setgid (the store is group-owned and not readable by others),
 * an untrusted caller may not choose another config (-c), store (--db) or
 * override keys (-o): otherwise they could lift the rule themselves.
 */
#ifndef SPAMSIFT_CLI_H
#define SPAMSIFT_CLI_H

#include <sys/types.h>

#include <stdint.h>
#include <stdio.h>

#include "conf/conf.h"
#include "conf/usermap.h"
#include "db/db.h"

/* Exit statuses (spamsift(1)). */
#define CLI_OK     0
#define CLI_USAGE  1
#define CLI_INPUT  2
#define CLI_STORE  3

typedef struct cli {
	conf *cf;               /* effective configuration */
	const char *conf_path;  /* config file read */
	usermap *umap;          /* address -> user */
	db *store;              /* the store, opened on first use */
	char caller[256];       /* Unix login of the real uid */
	int trusted;            /* caller is in Trust */
	int verbose;            /* -v */
	int elevated;           /* setgid (or setuid) run: the privilege is
	                           held only while the store is opened or
	                           closed (cli_privilege) */
	gid_t priv_gid;         /* the group (and user) the run was given */
	uid_t priv_uid;
} cli;

/*
 * cli_privilege -- in an elevated run, take (on) or give up (off) the group
 * and user the command was installed with. Everything but opening and closing
 * the store runs without them, so that files named by the caller (inputs,
 * -c, export) are read and written with the caller's own rights. Returns 0
 * or -1 with the error printed.
 */
int cli_privilege(cli *c, int on);

/*
 * cli_store -- the store, opened (and created when create) on first use.
 * Prints the error and returns NULL on failure.
 */
db *cli_store(cli *c, int create);

/*
 * cli_user -- resolve --user name (mapped through UserMap) to a uid after the
 * Trust check. With create, an unknown user is added; without, *uid is 0 when
 * absent. Prints the error; returns CLI_OK or an exit status.
 */
int cli_user(cli *c, const char *name, int create, int64_t *uid,
    char *canon, size_t canonlen);

/* cli_store_error -- print "spamsift: WHAT: store message", return CLI_STORE. */
int cli_store_error(cli *c, const char *what, int rc);

/* Subcommands: argc/argv start at the subcommand name. */
int cmd_train(cli *c, int argc, char **argv);
int cmd_retrain(cli *c, int argc, char **argv);
int cmd_classify(cli *c, int argc, char **argv);
int cmd_tokens(cli *c, int argc, char **argv);
int cmd_list(cli *c, int argc, char **argv);   /* whitelist, blocklist */

/* cli_pattern -- p as a list pattern (address, domain, .suffix), lowercase,
 * into out[len]: 0, or -1 when p is none or longer than out. An address
 * is at most CLI_PATTERN_MAX - 1 bytes (a sender as the milter keeps it),
 * a domain or .suffix 320. */
#define CLI_PATTERN_MAX DB_SENDER_MAX
int cli_pattern(const char *p, char *out, size_t len);
int cmd_prefs(cli *c, int argc, char **argv);
int cmd_quarantine(cli *c, int argc, char **argv);
int cmd_stats(cli *c, int argc, char **argv);
int cmd_user(cli *c, int argc, char **argv);
int cmd_db(cli *c, int argc, char **argv);
int cmd_config(cli *c, int argc, char **argv);
int cmd_export(cli *c, int argc, char **argv);
int cmd_import(cli *c, int argc, char **argv);

/* cli_json_str -- print s to f as a JSON string (quotes, escapes). */
void cli_json_str(FILE *f, const char *s);

/*
 * cli_text_str -- print s to f for a line of text or a TSV field: a
 * backslash, TAB, line feed and carriage return as \\, \t, \n and \r,
 * other control characters as \xHH (they split lines and fields).
 * Returns the bytes written.
 */
size_t cli_text_str(FILE *f, const char *s);

/* cli_wants_help -- non-zero if argv holds -h or --help. */
int cli_wants_help(int argc, char **argv);

/*
 * cli_quar_expire -- delete the quarantined messages of user uid (0: of
 * every user) older than QuarantineLife days; a life of 0 keeps them.
 * *n gets how many. Returns 0 or a db error.
 */
int cli_quar_expire(cli *c, int64_t uid, int64_t *n);

/*
 * cli_quar_lock -- take the store's quarantine lock (db_quar_lock), as a
 * release or delete of quarantined mail does; give it up with
 * db_quar_unlock. Returns CLI_OK, or a CLI_* error with it printed.
 */
int cli_quar_lock(cli *c);

/*
 * cli_usage -- print "spamsift: " and the printf-style message, then the
 * command's help, on stderr; returns CLI_USAGE.
 */
int cli_usage(const char *help, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
