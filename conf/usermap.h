/*
 * usermap -- which spamsift user a recipient address belongs to, as the
 * config says (UserMap): the full address (default), its local part, or an
 * alias table (AliasFile: "address user" lines; unlisted addresses map to
 * themselves; a user written as an address, or listed as one, is the user
 * it maps to in turn, a loop an error). Addresses are compared lowercase,
 * without angle brackets.
 * With delimiters (RecipientDelimiter, as Postfix's recipient_delimiter), an
 * address's extension goes: "bob+lists@example.org" is bob@example.org's
 * (an alias table is asked for the whole address first, as Postfix's
 * virtual(5) is).
 *
 * Immutable once opened: threads may share one. Must not depend on:
 * libmilter, SQLite, syslog, db/, classifier/.
 */
#ifndef SPAMSIFT_USERMAP_H
#define SPAMSIFT_USERMAP_H

#include <stddef.h>

typedef struct usermap usermap;

#define USERMAP_FULL      0
#define USERMAP_LOCALPART 1
#define USERMAP_ALIAS     2

/*
 * usermap_open -- a map of the given mode; alias_file is read now for
 * USERMAP_ALIAS (NULL otherwise); delims: the characters that start an
 * address extension (NULL or "": none). Errors name the file and line in
 * err. Returns 0, -ENOMEM, -EINVAL (bad line) or -errno (cannot read).
 */
int usermap_open(int mode, const char *alias_file, const char *delims,
    usermap **out, char *err, size_t errlen);

/* usermap_mode -- USERMAP_* from its config name, or -1. */
int usermap_mode(const char *name);

/*
 * usermap_open_conf -- the map a configuration names (UserMap, AliasFile),
 * as the milter and the command open it; as usermap_open.
 */
struct conf;
int usermap_open_conf(const struct conf *cf, usermap **out, char *err,
    size_t errlen);

/* usermap_close -- free the map; accepts NULL. */
void usermap_close(usermap *m);

/*
 * The longest address (and user) mapped, in bytes with the NUL: past any
 * address Postfix takes with its default line_length_limit (2,048), so
 * that an address extension cannot make a recipient unmappable.
 */
#define USERMAP_MAX 4096

/*
 * usermap_lookup -- the user for address (envelope form, "<a@b>" or "a@b")
 * into buf (len bytes). Only an address (with '@') loses its extension: a
 * name alone (a Unix login, "bob-x") is taken whole; with aliases, a name
 * that is a user of the table is spelled as the table spells it. Returns 0, -EINVAL for an empty address, -ERANGE when
 * the user does not fit.
 */
int usermap_lookup(const usermap *m, const char *address, char *buf,
    size_t len);

/*
 * usermap_login -- usermap_lookup for a caller's login (the spamsift
 * command's Trust check): the same, but never a domain's catch-all line
 * ("@example.org user"), which gathers many people's mail: a login
 * spelled as an address ("bob@example.org", as SSSD names them) that the
 * table does not list acted as that user.
 */
int usermap_login(const usermap *m, const char *login, char *buf,
    size_t len);

/*
 * usermap_address -- normalise an envelope address: strip <>, surrounding
 * blanks and lowercase it, into buf. Returns 0 or -ERANGE / -EINVAL.
 */
int usermap_address(const char *address, char *buf, size_t len);

#endif
