/*
 * usermap -- recipient address to spamsift user (see usermap.h).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "conf/conf.h"
#include "conf/usermap.h"

struct alias {
	char *address;          /* lowercase address */
	char *user;             /* user it maps to */
	size_t line;            /* its line in the table, for errors */
};

struct usermap {
	int mode;               /* USERMAP_* */
	char delims[16];        /* start an address extension; "" none */
	struct alias *aliases;  /* sorted by address */
	size_t naliases;        /* number of aliases */
};

int usermap_mode(const char *name)
{
	if (strcasecmp(name, "full") == 0)
		return USERMAP_FULL;
	if (strcasecmp(name, "localpart") == 0)
		return USERMAP_LOCALPART;
	if (strcasecmp(name, "alias") == 0)
		return USERMAP_ALIAS;
	return -1;
}

int usermap_address(const char *address, char *buf, size_t len)
{
	size_t n = 0;
	const char *end;

	while (*address == ' ' || *address == '\t' || *address == '<')
		address++;
	/*
	 * A source route (<@relay,@relay2:bob@d>, RFC 5321's obsolete form)
	 * is dropped, as Postfix drops it: it delivers to bob@d.
	 */
	if (*address == '@' && (end = strchr(address, ':')) != NULL)
		address = end + 1;
	/*
	 * A quoted local part ("bob+x"@d, "bob"@d) in Postfix's internal
	 * form, quotes and backslashes gone: Postfix delivers it to bob@d,
	 * so it is bob's mail, and a sender so written is the same sender
	 * as for the lists ("spammer"@d was not on a blocklist of
	 * spammer@d). Left as it is without its closing quote.
	 */
	if (*address == '"') {
		/* the closing quote: the first one not escaped */
		end = address + 1;
		while (*end && *end != '"')
			end += end[0] == '\\' && end[1] != '\0' ? 2 : 1;
		if (*end == '"') {
			/* (written behind what is read: buf may be address) */
			for (const char *p = address + 1; p < end; p++) {
				if (*p == '\\')
					p++;
				if (n + 1 >= len)
					return -ERANGE;
				buf[n++] = (char)tolower((unsigned char)*p);
			}
			address = end + 1;
		}
	}
	for (; *address && *address != '>'; address++) {
		if (n + 1 >= len)
			return -ERANGE;
		buf[n++] = (char)tolower((unsigned char)*address);
	}
	while (n > 0 && (buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		n--;
	/* A domain's final dot too (bob@d.): Postfix delivers to bob@d. */
	{
		size_t at = n;

		while (at > 0 && buf[at - 1] != '@')
			at--;
		while (at > 0 && n > at + 1 && buf[n - 1] == '.')
			n--;
	}
	if (len == 0)
		return -ERANGE;
	buf[n] = '\0';
	return n ? 0 : -EINVAL;
}

static int cmp_alias(const void *a, const void *b)
{
	return strcmp(((const struct alias *)a)->address,
	    ((const struct alias *)b)->address);
}

/* The longest line of an alias file, without its line end. */
#define ALIAS_LINE 2046

static int load_aliases(usermap *m, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	/* ALIAS_LINE bytes, then CR LF and the NUL */
	char line[ALIAS_LINE + 3];
	size_t cap = 0, lineno = 0;
	long pos = 0;
	int rc = 0;

	if (f == NULL) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return rc;
	}
	{
		struct stat st;

		if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
			snprintf(err, errlen, "%s: not a regular file", path);
			fclose(f);
			return -EINVAL;
		}
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char addr[512], user[512], extra[2], *p = line;
		int k;
		size_t len = strlen(line);
		long next = ftell(f);
		struct alias *a;

		lineno++;
		/* (its CR LF, or LF, not counted) */
		if ((len == sizeof(line) - 1 && line[len - 1] != '\n' &&
		    !feof(f)) || len - (len > 0 && line[len - 1] == '\n') -
		    (len > 1 && line[len - 1] == '\n' && line[len - 2] == '\r') >
		    ALIAS_LINE) {
			snprintf(err, errlen, "%s:%zu: line longer than %d bytes",
			    path, lineno, ALIAS_LINE);
			rc = -EINVAL;
			break;
		}
		/*
		 * fgets read more than strlen sees: a NUL byte, which would cut
		 * the line short unseen (a zeroed file read as an empty table).
		 */
		if (next >= 0 && (size_t)(next - pos) != len) {
			snprintf(err, errlen, "%s:%zu: NUL byte in line", path, lineno);
			rc = -EINVAL;
			break;
		}
		pos = next;
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '#' || *p == '\0')
			continue;
		/* Two fields, neither cut at the buffer's size, then at most a comment. */
		k = sscanf(p, "%511s %511s %1s", addr, user, extra);
		/* ("addr #comment": no user, not a user named #comment) */
		if ((k != 2 && (k != 3 || extra[0] != '#')) || user[0] == '#' ||
		    strlen(addr) >= sizeof(addr) - 1 ||
		    strlen(user) >= sizeof(user) - 1 ||
		    usermap_address(addr, addr, sizeof(addr)) < 0) {
			snprintf(err, errlen, "%s:%zu: expected \"address user\"",
			    path, lineno);
			rc = -EINVAL;
			break;
		}
		if (m->naliases == cap) {
			cap = cap ? cap * 2 : 32;
			a = realloc(m->aliases, cap * sizeof(*a));
			if (a == NULL) {
				rc = -ENOMEM;
				break;
			}
			m->aliases = a;
		}
		a = &m->aliases[m->naliases];
		a->address = strdup(addr);
		a->user = strdup(user);
		a->line = lineno;
		if (a->address == NULL || a->user == NULL) {
			free(a->address);
			free(a->user);
			rc = -ENOMEM;
			break;
		}
		m->naliases++;
	}
	if (rc == 0 && ferror(f)) {
		snprintf(err, errlen, "%s: read error", path);
		rc = -EIO;
	}
	fclose(f);
	/* An empty file leaves aliases NULL, which qsort must not get. */
	if (rc == 0 && m->naliases > 1)
		qsort(m->aliases, m->naliases, sizeof(*m->aliases), cmp_alias);
	/* One address, one user: which of two lines won was up to qsort. */
	for (size_t i = 1; rc == 0 && i < m->naliases; i++)
		if (strcmp(m->aliases[i - 1].address, m->aliases[i].address) == 0) {
			size_t l1 = m->aliases[i - 1].line, l2 = m->aliases[i].line;

			snprintf(err, errlen, "%s:%zu: %s is listed twice (first at "
			    "line %zu)", path, l1 > l2 ? l1 : l2,
			    m->aliases[i].address, l1 < l2 ? l1 : l2);
			rc = -EINVAL;
		}
	return rc;
}

void usermap_close(usermap *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->naliases; i++) {
		free(m->aliases[i].address);
		free(m->aliases[i].user);
	}
	free(m->aliases);
	free(m);
}

static int resolve_users(usermap *m, const char *path, char *err,
    size_t errlen);

int usermap_open(int mode, const char *alias_file, const char *delims,
    usermap **out, char *err, size_t errlen)
{
	usermap *m;
	int rc;

	*out = NULL;
	if (delims != NULL && strlen(delims) >= sizeof(m->delims)) {
		snprintf(err, errlen, "RecipientDelimiter: too many characters");
		return -EINVAL;
	}
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return -ENOMEM;
	m->mode = mode;
	snprintf(m->delims, sizeof(m->delims), "%s", delims ? delims : "");
	if (mode == USERMAP_ALIAS) {
		if (alias_file == NULL || *alias_file == '\0') {
			snprintf(err, errlen, "UserMap alias needs AliasFile");
			free(m);
			return -EINVAL;
		}
		rc = load_aliases(m, alias_file, err, errlen);
		if (rc == 0)
			rc = resolve_users(m, alias_file, err, errlen);
		if (rc < 0) {
			usermap_close(m);
			return rc;
		}
	}
	*out = m;
	return 0;
}

/* The line of the table for addr, or NULL. */
static struct alias *alias_find(const usermap *m, char *addr)
{
	struct alias key = { addr, NULL, 0 };

	/* (no aliases: the table is NULL, which bsearch must not get) */
	if (m->naliases == 0)
		return NULL;
	return bsearch(&key, m->aliases, m->naliases, sizeof(key), cmp_alias);
}

/* The table's user spelled as name, or else as lower (name in lower
 * case) without regard to case (the first such in the file), or NULL. */
static const char *alias_user(const usermap *m, const char *name,
    const char *lower)
{
	const struct alias *loose = NULL;

	for (size_t i = 0; i < m->naliases; i++) {
		const struct alias *a = &m->aliases[i];

		if (strcmp(a->user, name) == 0)
			return a->user;
		if (strcasecmp(a->user, lower) == 0 &&
		    (loose == NULL || a->line < loose->line))
			loose = a;
	}
	return loose != NULL ? loose->user : NULL;
}

/*
 * Cut the extension out of addr ("bob+x@d" -> "bob@d") as Postfix splits
 * a local part: from its first delimiter to the '@'. Not when the local
 * part starts with a delimiter, not postmaster or mailer-daemon, and with
 * '-' a delimiter, not owner-foo or foo-request (Postfix's
 * owner_request_special). Returns 1 when it cut.
 */
static int cut_extension(const usermap *m, char *addr)
{
	char *at = strrchr(addr, '@');
	size_t n = at != NULL ? (size_t)(at - addr) : 0, k;

	if (m->delims[0] == '\0' || n == 0 ||
	    strchr(m->delims, addr[0]) != NULL ||
	    (n == 10 && strncmp(addr, "postmaster", 10) == 0) ||
	    (n == 13 && strncmp(addr, "mailer-daemon", 13) == 0))
		return 0;
	if (strchr(m->delims, '-') != NULL && ((n > 6 &&
	    strncmp(addr, "owner-", 6) == 0) || (n > 8 &&
	    strncmp(at - 8, "-request", 8) == 0)))
		return 0;
	k = strcspn(addr, m->delims);
	if (k >= n)
		return 0;
	memmove(addr + k, at, strlen(at) + 1);
	return 1;
}

/*
 * The line of the table that address (addr: as usermap_address gave it)
 * leads to, as Postfix's virtual(5) looks: the whole address, then without
 * its extension (addr is left without it), then the domain's catch-all
 * when catchall; NULL when none does.
 */
static struct alias *alias_line(const usermap *m, const char *address,
    char *addr, int catchall)
{
	struct alias *a = alias_find(m, addr);

	if (a == NULL && cut_extension(m, addr))
		a = alias_find(m, addr);
	if (a == NULL && catchall && strchr(address, '@') != NULL &&
	    strrchr(addr, '@') != NULL && strrchr(addr, '@') != addr)
		a = alias_find(m, strrchr(addr, '@'));
	return a;
}

static int lookup(const usermap *m, const char *address, char *buf,
    size_t len, int catchall)
{
	char addr[USERMAP_MAX];
	int rc = usermap_address(address, addr, sizeof(addr));
	const char *user = addr;

	if (rc < 0)
		return rc;
	if (m->mode == USERMAP_ALIAS) {
		const struct alias *line = alias_line(m, address, addr, catchall);
		const char *a = line != NULL ? line->user : NULL;

		/*
		 * A user's name, not an address (spamsift --user, a login):
		 * the table's spelling of it, as the milter stores it ("Robert"
		 * was looked up as "robert", another user).
		 */
		if (a == NULL && strchr(address, '@') == NULL)
			a = alias_user(m, address, addr);
		if (a != NULL)
			user = a;
	} else {
		char *at;

		cut_extension(m, addr);
		at = strrchr(addr, '@');
		if (m->mode == USERMAP_LOCALPART && at != NULL && at != addr)
			*at = '\0';
	}
	if (strlen(user) + 1 > len)
		return -ERANGE;
	strcpy(buf, user);
	return 0;
}

/*
 * Each line's user as a lookup of it finds it (spamsift --user names it
 * so): a user written as an address is that address's user, in lower case
 * and without its extension, or the user of the line it leads to in turn
 * ("info@d bob@d" with "bob@d Robert" is Robert's), as Postfix's virtual(5)
 * delivers it; a name listed as an address is that line's user. The mail
 * of "info@d Bob@D" went to a user "Bob@D", which no --user names and not
 * bob@d's. A line that leads back to itself, at once (a user spelled as its
 * address, "bob@d Bob@D") keeps its user; through others it is a loop, an
 * error. Each chain is followed once (lines already resolved end it).
 */
static int resolve_users(usermap *m, const char *path, char *err,
    size_t errlen)
{
	enum { TODO, ON_PATH, DONE };
	unsigned char *state = calloc(m->naliases ? m->naliases : 1, 1);
	size_t *chain = malloc((m->naliases ? m->naliases : 1) * sizeof(*chain));
	char addr[USERMAP_MAX];
	int rc = 0;

	if (state == NULL || chain == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < m->naliases && rc == 0; i++) {
		const char *user = NULL;
		size_t n = 0, j = i;
		char *final;

		if (state[i] == DONE)
			continue;
		state[i] = ON_PATH;
		chain[n++] = i;
		while (user == NULL) {
			const char *cur = m->aliases[j].user;
			struct alias *next;
			size_t k;

			if (usermap_address(cur, addr, sizeof(addr)) < 0) {
				snprintf(err, errlen, "%s:%zu: expected \"address "
				    "user\"", path, m->aliases[j].line);
				rc = -EINVAL;
				break;
			}
			next = alias_line(m, cur, addr, 1);
			if (next == NULL) {
				/* unlisted: an address as lookup gives it, a
				 * name as written */
				user = strchr(cur, '@') != NULL ? addr : cur;
				break;
			}
			k = (size_t)(next - m->aliases);
			if (state[k] == DONE || strcmp(next->user, cur) == 0) {
				user = next->user;
				break;
			}
			if (state[k] == ON_PATH) {
				snprintf(err, errlen, "%s:%zu: %s: a loop of "
				    "aliases (its user leads back to it)", path,
				    next->line, next->address);
				rc = -EINVAL;
				break;
			}
			state[k] = ON_PATH;
			chain[n++] = k;
			j = k;
		}
		if (rc < 0)
			break;
		/* (user may be one of the strings replaced below) */
		if ((final = strdup(user)) == NULL) {
			rc = -ENOMEM;
			break;
		}
		for (size_t c = 0; c < n && rc == 0; c++) {
			char *u = strdup(final);

			if (u == NULL) {
				rc = -ENOMEM;
				break;
			}
			free(m->aliases[chain[c]].user);
			m->aliases[chain[c]].user = u;
			state[chain[c]] = DONE;
		}
		free(final);
	}
out:
	free(state);
	free(chain);
	return rc;
}

int usermap_lookup(const usermap *m, const char *address, char *buf,
    size_t len)
{
	return lookup(m, address, buf, len, 1);
}

int usermap_login(const usermap *m, const char *login, char *buf,
    size_t len)
{
	return lookup(m, login, buf, len, 0);
}

int usermap_open_conf(const conf *cf, usermap **out, char *err, size_t errlen)
{
	const char *mode = conf_str(cf, "UserMap");
	int m = usermap_mode(mode ? mode : "full");

	return usermap_open(m < 0 ? USERMAP_FULL : m, conf_str(cf, "AliasFile"),
	    conf_str(cf, "RecipientDelimiter"), out, err, errlen);
}
