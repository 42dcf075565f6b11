/*
 * mlfi -- libmilter callbacks of spamsift-milter (see mlfi.h).
 *
 * Protocol economy: every event Postfix must wait for costs a round trip, so
 * the negotiation skips the steps we do not use (connect, helo, data,
 * unknown) and asks for no-reply on MAIL, RCPT, headers, end of headers and
 * body chunks: Postfix waits only at end of message.
 *
 * Lifetimes: a conn lives from negotiate to close; its message fields are
 * freed by msg_state_reset() from envfrom (a new transaction), eom, abort and
 * close. Store and libmagic handles are not thread-safe: a callback borrows
 * them from the shared pool (pool.h) and gives them back before it returns.
 *
 * Decisions at end of message, per distinct user among the recipients:
 *   whitelisted/blocklisted sender, else the Bayesian verdict of the user's
 *   merged model; then spamAction: tag (headers, subject prefix), quarantine
 *   (stored in the store's quarantine before the reply, recipient removed;
 *   QuarantineMode postfix holds the whole message in Postfix's hold queue),
 *   reject (550 when every recipient would reject).
 * Headers describe the delivered recipients only: X-Spamsift-Result is their
 * common verdict (Spam or Innocent when they agree on spam or not by
 * different means, such as a blocklist and the model), or "Mixed" when they
 * disagree (then no Subject tag); Probability only for a single recipient;
 * each delivered user gets its own X-Spamsift-Signature line.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "classifier/charset.h"
#include "classifier/delivered.h"
#include "classifier/filter.h"
#include "classifier/hdr.h"
#include "classifier/msg.h"
#include "classifier/tok.h"
#include "conf/profile.h"
#include "conf/usermap.h"
#include "db/db.h"
#include "milter/clock.h"
#include "milter/log.h"
#include "milter/mlfi.h"
#include "milter/pool.h"
#include "milter/writer.h"

/*
 * Incoming X-Spamsift-* header fields (ours, X-Spamsift-Result and the
 * rest, or any other name under that prefix, which sites may filter on) are
 * removed, so a sender cannot forge a verdict or a signature. They are
 * counted per name, at most FORGED_NAMES names of at most FORGED_NAMELEN
 * bytes: the memory for this is fixed whatever the message holds, and a
 * message with more is refused like one with too many copies.
 */
#define FORGED_NAMES 16
#define FORGED_NAMELEN 64
struct forged {
	char name[FORGED_NAMELEN];  /* as first seen (deletion ignores case) */
	unsigned n;                 /* copies in the message */
};

/*
 * How long a message's quarantine copies may wait, all together, for the
 * writer thread's commits to begin: well below Postfix's
 * milter_content_timeout (300 s by default), so the milter answers per
 * OnFail, with its reason logged, before Postfix gives up on it. It was
 * each copy's wait: with the store locked midway, three users' copies took
 * 42 s, Postfix (at 30 s) deferred the message, and the copy stored
 * first was stored again when the sender retried.
 */
#define QUARANTINE_WAIT_MS 20000

/* Recipients per message we track (Postfix's default limit is 1000). */
#define MAX_RCPTS 1000
/* X-Spamsift-* fields a message may carry, all names together (all removed). */
#define FORGED_MAX 1000

/* Configuration snapshot: conf + usermap, refcounted by conf's counter. */
typedef struct snap {
	conf *cf;               /* the configuration */
	usermap *umap;          /* recipient -> user */
	profile site;           /* cf's site defaults (profile_site) */
	int refs;               /* references (under snap_lock) */
} snap;

static pthread_mutex_t snap_lock = PTHREAD_MUTEX_INITIALIZER;
static snap *current;
static int sessions;            /* open connections (under snap_lock) */
static int late_sessions;       /* those of them opened after mlfi_drain
                                   (under snap_lock) */
static int draining;            /* mlfi_drain was called (under snap_lock) */

void mlfi_drain(void)
{
	pthread_mutex_lock(&snap_lock);
	draining = 1;
	pthread_mutex_unlock(&snap_lock);
}

int mlfi_sessions(void)
{
	int n;

	/* Late ones carry no mail: a stop need not wait for them (on a busy
	 * server new ones keep coming, and each stop waited its 30 s). */
	pthread_mutex_lock(&snap_lock);
	n = sessions - late_sessions;
	pthread_mutex_unlock(&snap_lock);
	return n;
}

/* One recipient. */
typedef struct rcpt {
	char *addr;             /* envelope address as given (with <>) */
	char *user;             /* spamsift user it maps to */
	int has_prof;           /* prof was read for this message */
	profile prof;           /* the user's settings (read once per message) */
} rcpt;

/* Per-connection state (message fields reset per message). */
typedef struct conn {
	snap *sn;               /* config snapshot for the connection's life */
	unsigned long pflags;   /* protocol flags granted by the MTA */
	struct pbox *box;       /* parser lent for the message's content */
	msg *parser;            /* box's parser, or NULL */
	tokset *toks;           /* box's tokens of the current message, or NULL */
	/* message state */
	char *sender;           /* envelope sender (lowercase, no <>) */
	char *env_sender;       /* MAIL FROM as given, without its <>: what a
	                         * quarantine release sends as (sender is for
	                         * the lists and the log) */
	char *queue_id;         /* Postfix queue id */
	rcpt *rcpts;            /* recipients */
	size_t nrcpts;          /* number of recipients */
	size_t untracked;       /* recipients mapped to no user (delivered
	                           untouched) */
	struct forged forged[FORGED_NAMES]; /* incoming X-Spamsift-* fields */
	int nforged;            /* names in forged */
	unsigned forged_total;  /* copies of them all */
	int forged_over;        /* 1: too many names, 2: a name too long */
	int skip;               /* do not classify (auth, network, opt-out) */
	int debug;              /* verbose logging for this client */
	int error;              /* an internal error happened: OnFail */
	char errwhy[1200];      /* why */
	int had_subject;        /* message has a Subject header */
	char *raw_subject;      /* its value as received (encoded words intact) */
	int body_sealed;        /* the body cannot take a signature line: its
	                           Content-Type is neither text nor multipart,
	                           or it is encoded (base64, uuencode...) */
	char boundary[80];      /* a multipart body's boundary (RFC 2046: at
	                           most 70 bytes), "" for other bodies */
	char *client_addr;      /* client IP ({client_addr}), or NULL */
	int leadspc;            /* header values keep their leading space */
	int late;               /* opened while the milter stops: no mail */
	FILE *copy;             /* message copy for the quarantine, or NULL */
	char *copybuf;          /* copy's stdio buffer (QuarantineMemory), or NULL */
	size_t copy_len;        /* its length */
	int want_copy;          /* 0 undecided, 1 copying, -1 no copy needed */
	size_t body_off;        /* offset of the body in the copy */
	size_t size;            /* bytes of the message so far (as Postfix sends them) */
	struct timespec start;  /* first content callback (zero before) */
} conn;

/* The store the configuration names ("" when unset: the default). */
static const char *store_path(const conf *cf)
{
	const char *p = conf_str(cf, "StorePath");

	return p != NULL ? p : "";
}

static void snap_unref(snap *s)
{
	int last;

	if (s == NULL)
		return;
	pthread_mutex_lock(&snap_lock);
	last = --s->refs == 0;
	pthread_mutex_unlock(&snap_lock);
	if (last) {
		usermap_close(s->umap);
		conf_unref(s->cf);
		free(s);
	}
}

/* The snapshot for a new session, counted; *late: the milter stops. */
static snap *snap_get(int *late)
{
	snap *s;

	pthread_mutex_lock(&snap_lock);
	*late = draining;
	s = current;
	if (s != NULL) {
		s->refs++;
		sessions++;
		late_sessions += draining;
	}
	pthread_mutex_unlock(&snap_lock);
	return s;
}

int mlfi_install(conf *c, char *err, size_t errlen)
{
	snap *s = calloc(1, sizeof(*s)), *old;

	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (usermap_open_conf(c, &s->umap, err, errlen) < 0) {
		free(s);
		return -EINVAL;
	}
	s->cf = conf_ref(c);
	profile_site(c, &s->site);
	s->refs = 1;
	writer_set_path(conf_str(c, "StorePath"));
	pthread_mutex_lock(&snap_lock);
	old = current;
	current = s;
	pthread_mutex_unlock(&snap_lock);
	snap_unref(old);
	return 0;
}

int mlfi_init(conf *c, const char *path, char **overrides, size_t noverrides)
{
	char err[1024];

	(void)path;
	(void)overrides;
	(void)noverrides;
	if (mlfi_install(c, err, sizeof(err)) < 0) {
		fprintf(stderr, "spamsift-milter: %s\n", err);
		return -1;
	}
	return 0;
}

int mlfi_start(void)
{
	int late;
	snap *s = snap_get(&late);
	int rc;

	if (s == NULL)
		return -1;
	rc = pool_cache_init(store_path(s->cf),
	    (size_t)conf_int(s->cf, "TokenCacheSize"));
	if (rc == 0)
		rc = writer_start(conf_str(s->cf, "StorePath"));
	if (rc == 0 && pool_warm() < 0)
		log_warning("NOQUEUE: cannot start the token cache warm-up");
	/* snap_get counted a session; this was not one. */
	pthread_mutex_lock(&snap_lock);
	sessions--;
	pthread_mutex_unlock(&snap_lock);
	snap_unref(s);
	if (rc < 0) {
		log_err("cannot start the writer thread");
		return -1;
	}
	return 0;
}

/*
 * Parsers are lent to a message from its first header to its end, not kept
 * per connection: Postfix's cleanup sends a message's content in one burst
 * once the client's DATA is complete, so far fewer messages are in their
 * content phase than there are SMTP sessions (100 sessions kept 100
 * parsers, with their header and decoding buffers, before).
 */
typedef struct pbox {
	snap *sn;               /* configuration it was made with (a reference) */
	profile_parse pp;       /* its options (the parser points into them) */
	msg *parser;            /* streaming parser */
	tokset *toks;           /* its token set */
	struct pbox *next;      /* idle list link */
} pbox;

#define PBOX_IDLE_MAX 16        /* idle parsers kept for reuse */

static pthread_mutex_t pbox_lock = PTHREAD_MUTEX_INITIALIZER;
static pbox *pbox_idle;         /* idle parsers, newest first */
static size_t pbox_nidle;

static void pbox_free(pbox *b)
{
	if (b == NULL)
		return;
	msg_free(b->parser);
	tokset_free(b->toks);
	snap_unref(b->sn);
	free(b);
}

/* Give cn a parser, reset for a new message; 0 or -ENOMEM. */
static int parser_take(conn *cn)
{
	pbox *b = NULL, **l;

	if (cn->box != NULL)
		return 0;
	pthread_mutex_lock(&pbox_lock);
	for (l = &pbox_idle; *l != NULL; l = &(*l)->next) {
		if ((*l)->sn == cn->sn) {
			b = *l;
			*l = b->next;
			pbox_nidle--;
			break;
		}
	}
	pthread_mutex_unlock(&pbox_lock);
	if (b == NULL) {
		if ((b = calloc(1, sizeof(*b))) == NULL)
			return -ENOMEM;
		pthread_mutex_lock(&snap_lock);
		cn->sn->refs++;
		pthread_mutex_unlock(&snap_lock);
		b->sn = cn->sn;
		profile_parser(cn->sn->cf, NULL, &b->pp);
		/* An attachment's true type: a shared libmagic handle, lent
		 * for that one call. */
		b->pp.opts.magic_type = pool_magic_type;
		if (tokset_new((size_t)conf_int(cn->sn->cf, "MaxTokens"), 0,
		    &b->toks) < 0 || msg_new(&b->pp.opts, &b->parser) < 0) {
			pbox_free(b);
			return -ENOMEM;
		}
	}
	tokset_clear(b->toks);
	tokset_keep_text(b->toks, 0);   /* plan_copy turns it on for factors */
	msg_reset(b->parser, b->toks);
	cn->box = b;
	cn->parser = b->parser;
	cn->toks = b->toks;
	return 0;
}

/* Take cn's parser back (kept for reuse while its configuration is current). */
static void parser_give(conn *cn)
{
	pbox *b = cn->box, *stale = NULL;
	int keep;

	if (b == NULL)
		return;
	cn->box = NULL;
	cn->parser = NULL;
	cn->toks = NULL;
	pthread_mutex_lock(&snap_lock);
	keep = b->sn == current;
	pthread_mutex_unlock(&snap_lock);
	pthread_mutex_lock(&pbox_lock);
	for (pbox **l = &pbox_idle; keep && *l != NULL;) {
		pbox *o = *l;

		if (o->sn != b->sn) {   /* made before a reload */
			*l = o->next;
			pbox_nidle--;
			o->next = stale;
			stale = o;
		} else {
			l = &o->next;
		}
	}
	if (keep && pbox_nidle < PBOX_IDLE_MAX) {
		b->next = pbox_idle;
		pbox_idle = b;
		pbox_nidle++;
		b = NULL;
	}
	pthread_mutex_unlock(&pbox_lock);
	pbox_free(b);
	while (stale != NULL) {
		pbox *next = stale->next;

		pbox_free(stale);
		stale = next;
	}
}

void mlfi_shutdown(void)
{
	snap *s;
	size_t lost = writer_stop(10);

	if (lost > 0)
		log_warning("NOQUEUE: %zu messages were classified but not learned "
		    "(store busy or unavailable)", lost);
	pool_close();
	pthread_mutex_lock(&pbox_lock);
	while (pbox_idle != NULL) {
		pbox *b = pbox_idle;

		pbox_idle = b->next;
		pbox_free(b);
	}
	pbox_nidle = 0;
	pthread_mutex_unlock(&pbox_lock);
	pthread_mutex_lock(&snap_lock);
	s = current;
	current = NULL;
	pthread_mutex_unlock(&snap_lock);
	snap_unref(s);
}

static const char *qid(const conn *cn)
{
	return cn->queue_id ? cn->queue_id : "NOQUEUE";
}

/* The sender as log lines show it (log_word), in buf. */
static const char *log_from(const conn *cn, char *buf, size_t len)
{
	snprintf(buf, len, "%s", cn->sender ? cn->sender : "");
	return log_word(buf);
}

static void msg_state_reset(conn *cn)
{
	free(cn->sender);
	cn->sender = NULL;
	free(cn->env_sender);
	cn->env_sender = NULL;
	free(cn->queue_id);
	cn->queue_id = NULL;
	for (size_t i = 0; i < cn->nrcpts; i++) {
		free(cn->rcpts[i].addr);
		free(cn->rcpts[i].user);
	}
	free(cn->rcpts);
	cn->rcpts = NULL;
	cn->nrcpts = 0;
	cn->untracked = 0;
	cn->nforged = 0;
	cn->forged_total = 0;
	cn->forged_over = 0;
	/*
	 * The copy is an unlinked temporary file: closing it deletes it. Its
	 * buffer is dropped first: fclose would write a copy kept in memory
	 * (QuarantineMemory) to TempDir only to delete it.
	 */
	if (cn->copy != NULL) {
		__fpurge(cn->copy);
		fclose(cn->copy);
	}
	cn->copy = NULL;
	free(cn->copybuf);      /* stdio used it until fclose */
	cn->copybuf = NULL;
	cn->copy_len = 0;
	cn->body_off = 0;
	cn->size = 0;
	cn->want_copy = 0;
	memset(&cn->start, 0, sizeof(cn->start));
	cn->skip = 0;
	cn->error = 0;
	cn->errwhy[0] = '\0';
	cn->had_subject = 0;
	cn->body_sealed = 0;
	cn->boundary[0] = '\0';
	free(cn->raw_subject);
	cn->raw_subject = NULL;
	free(cn->client_addr);
	cn->client_addr = NULL;
	parser_give(cn);
}

/* Record an internal error; the message then gets OnFail. */
static void fail(conn *cn, const char *fmt, const char *detail)
{
	if (cn->error)
		return;
	cn->error = 1;
	snprintf(cn->errwhy, sizeof(cn->errwhy), fmt, detail);
}

/* A callback granted a no-reply flag must answer SMFIS_NOREPLY. */
static sfsistat reply(conn *cn, unsigned long flag)
{
	if (cn != NULL && (cn->pflags & flag))
		return SMFIS_NOREPLY;
	return SMFIS_CONTINUE;
}

/* Is the IPv4/IPv6 address addr inside one of the CIDR entries of list? */
static int in_networks(const char *addr, const char *const *list, size_t n)
{
	unsigned char a[16], b[16];
	int fam = strchr(addr, ':') ? AF_INET6 : AF_INET;
	size_t alen = fam == AF_INET6 ? 16 : 4;

	if (inet_pton(fam, addr, a) != 1)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char net[128], *slash;
		long bits;

		snprintf(net, sizeof(net), "%s", list[i]);
		slash = strchr(net, '/');
		bits = slash ? strtol(slash + 1, NULL, 10) : (long)alen * 8;
		if (slash)
			*slash = '\0';
		if ((strchr(net, ':') ? AF_INET6 : AF_INET) != fam ||
		    inet_pton(fam, net, b) != 1)
			continue;
		if (bits < 0 || bits > (long)alen * 8)
			continue;
		size_t full = (size_t)bits / 8, rest = (size_t)bits % 8;

		if (memcmp(a, b, full) != 0)
			continue;
		if (rest && ((a[full] ^ b[full]) & (0xff << (8 - rest)) & 0xff))
			continue;
		return 1;
	}
	return 0;
}

/*
 * Is the client (address addr, host name name; either may be NULL) listed
 * in DebugPeer? spamsift.conf(5) lets it name a host: that is matched
 * against {client_name}, which the README's milter_mail_macros sends.
 */
static int listed_peer(const char *addr, const char *name, const conf *cf)
{
	size_t n;
	const char *const *list = conf_list(cf, "DebugPeer", &n);

	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((addr != NULL && strcasecmp(list[i], addr) == 0) ||
		    (name != NULL && strcasecmp(list[i], name) == 0))
			return 1;
	return addr != NULL && in_networks(addr, list, n);
}

static sfsistat mlfi_negotiate(SMFICTX *ctx, unsigned long f0,
    unsigned long f1, unsigned long f2, unsigned long f3, unsigned long *pf0,
    unsigned long *pf1, unsigned long *pf2, unsigned long *pf3)
{
	unsigned long want = SMFIP_NOCONNECT | SMFIP_NOHELO | SMFIP_NOUNKNOWN |
	    SMFIP_NODATA | SMFIP_NR_HDR | SMFIP_NR_EOH | SMFIP_NR_BODY |
	    SMFIP_NR_MAIL | SMFIP_NR_RCPT | SMFIP_HDR_LEADSPC;
	conn *cn;
	int late;

	(void)f2;
	(void)f3;
	cn = calloc(1, sizeof(*cn));
	if (cn == NULL)
		return SMFIS_TEMPFAIL;
	cn->sn = snap_get(&late);
	/* A late session is answered at MAIL (mlfi_envfrom): Postfix must wait. */
	if (late)
		want &= ~SMFIP_NR_MAIL;
	*pf0 = f0 & (SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_DELRCPT |
	    SMFIF_QUARANTINE | SMFIF_CHGBODY);
	*pf1 = f1 & want;
	*pf2 = 0;
	*pf3 = 0;
	cn->late = late;
	cn->pflags = *pf1;
	cn->leadspc = (*pf1 & SMFIP_HDR_LEADSPC) != 0;
	if (cn->sn == NULL) {
		free(cn);
		return SMFIS_TEMPFAIL;
	}
	smfi_setpriv(ctx, cn);
	return SMFIS_CONTINUE;
}

/*
 * MAIL in a session opened after the stop began (mlfi_drain): the milter
 * stops libmilter only once every session is closed (libmilter then serves
 * none), so this one must end soon. Answered per OnFail, with its line:
 * tempfail as 421, on which Postfix's smtpd hangs up on its client and
 * closes this session; accept lets the message through unclassified.
 */
static sfsistat refuse_late(SMFICTX *ctx, conn *cn, const char *from)
{
	const char *mode = conf_str(cn->sn->cf, "OnFail");
	const char *addr = smfi_getsymval(ctx, "{client_addr}");
	int accept = mode != NULL && strcmp(mode, "accept") == 0;
	char buf[1024];

	if (usermap_address(from, buf, sizeof(buf)) < 0)
		buf[0] = '\0';
	log_info("NOQUEUE: client=%s from=<%s> %s: the milter is stopping",
	    addr ? addr : "?", log_word(buf), accept ? "accepted unclassified" :
	    "refused (421)");
	if (accept)
		return SMFIS_ACCEPT;
	smfi_setreply(ctx, "421", "4.3.2",
	    "Spam filter stopping, try again later");
	return SMFIS_TEMPFAIL;
}

static sfsistat mlfi_envfrom(SMFICTX *ctx, char **argv)
{
	conn *cn = smfi_getpriv(ctx);
	const conf *cf;
	const char *auth, *addr;
	char buf[USERMAP_MAX];  /* (a shorter one lost long senders whole) */
	size_t n;

	if (cn == NULL)
		return SMFIS_TEMPFAIL;
	msg_state_reset(cn);
	if (cn->late)
		return refuse_late(ctx, cn, argv[0] ? argv[0] : "");
	cf = cn->sn->cf;
	if (usermap_address(argv[0] ? argv[0] : "", buf, sizeof(buf)) == 0)
		cn->sender = strdup(buf);
	else
		cn->sender = strdup("");
	{
		/* (the recipients are stored so too: see mlfi_eom) */
		const char *a = argv[0] ? argv[0] : "";
		size_t al;

		a += *a == '<';
		al = strlen(a);
		al -= al > 0 && a[al - 1] == '>';
		cn->env_sender = strndup(a, al);
	}
	addr = smfi_getsymval(ctx, "{client_addr}");
	if (addr != NULL)
		cn->client_addr = strdup(addr);
	/* Postfix sends an IPv6 client as "IPv6:2001:db8::1" (its address
	 * as in an RFC 5321 address literal): matched without the prefix,
	 * logged as sent. No IPv6 entry of DebugPeer or SkipNetworks ever
	 * matched a client, and the checker refuses the prefixed form. */
	if (addr != NULL && strncasecmp(addr, "IPv6:", 5) == 0)
		addr += 5;
	cn->debug = listed_peer(addr, smfi_getsymval(ctx, "{client_name}"), cf);
	auth = smfi_getsymval(ctx, "{auth_authen}");
	if (auth != NULL && *auth && conf_bool(cf, "SkipAuthenticated"))
		cn->skip = 1;
	if (addr != NULL && !cn->skip) {
		const char *const *nets = conf_list(cf, "SkipNetworks", &n);

		if (n && in_networks(addr, nets, n))
			cn->skip = 1;
	}
	if (cn->debug)
		log_debug("NOQUEUE: from=<%s> client=%s skip=%d",
		    log_from(cn, buf, sizeof(buf)),
		    cn->client_addr ? cn->client_addr : "?", cn->skip);
	return reply(cn, SMFIP_NR_MAIL);
}

static sfsistat mlfi_envrcpt(SMFICTX *ctx, char **argv)
{
	conn *cn = smfi_getpriv(ctx);
	char user[USERMAP_MAX];
	rcpt *r;

	if (cn == NULL)
		return SMFIS_TEMPFAIL;
	/*
	 * An address that maps to the global model's name ("@global"@d with
	 * UserMap localpart) is no user's: classified as that user, its mail
	 * was learned into the model every user's is merged with, by whoever
	 * sent it.
	 */
	if (cn->nrcpts >= MAX_RCPTS || usermap_lookup(cn->sn->umap,
	    argv[0] ? argv[0] : "", user, sizeof(user)) < 0 ||
	    strcmp(user, DB_GLOBAL_USER) == 0) {
		cn->untracked++;
		return reply(cn, SMFIP_NR_RCPT);
	}
	r = realloc(cn->rcpts, (cn->nrcpts + 1) * sizeof(*r));
	if (r == NULL) {
		fail(cn, "%s", "out of memory");
		return reply(cn, SMFIP_NR_RCPT);
	}
	cn->rcpts = r;
	r[cn->nrcpts].addr = strdup(argv[0]);
	r[cn->nrcpts].user = strdup(user);
	r[cn->nrcpts].has_prof = 0;
	if (r[cn->nrcpts].addr == NULL || r[cn->nrcpts].user == NULL) {
		free(r[cn->nrcpts].addr);
		free(r[cn->nrcpts].user);
		fail(cn, "%s", "out of memory");
		return reply(cn, SMFIP_NR_RCPT);
	}
	cn->nrcpts++;
	return reply(cn, SMFIP_NR_RCPT);
}

/* Append to the quarantine copy (a temporary file, unlinked at creation). */
static void copy_out(conn *cn, const char *buf, size_t len)
{
	if (cn->copy == NULL || cn->error)
		return;
	if (fwrite(buf, 1, len, cn->copy) != len) {
		fail(cn, "quarantine copy: %s", strerror(errno));
		return;
	}
	cn->copy_len += len;
}

/*
 * A header value into the copy: Postfix sends a folded one with bare line
 * feeds, and the copy's lines end in CRLF (a released copy mixed both).
 */
static void copy_value(conn *cn, const char *v)
{
	for (const char *nl; (nl = strchr(v, '\n')) != NULL; v = nl + 1) {
		size_t n = (size_t)(nl - v);

		copy_out(cn, v, n > 0 && v[n - 1] == '\r' ? n - 1 : n);
		copy_out(cn, "\r\n", 2);
	}
	copy_out(cn, v, strlen(v));
}

/*
 * The first header (or end of headers, or end of message) of a message
 * starts its clock and borrows it a parser.
 */
static void content_starts(conn *cn)
{
	if (cn->start.tv_sec == 0 && cn->start.tv_nsec == 0)
		clock_gettime(CLOCK_MONOTONIC, &cn->start);
	if (cn->box == NULL && !cn->skip && !cn->error && parser_take(cn) < 0)
		fail(cn, "%s", "out of memory");
}

/* Decide at the first header whether a quarantine copy is needed. */
static void plan_copy(conn *cn)
{
	const conf *cf = cn->sn->cf;
	char tmpl[4200];
	size_t mem;
	int fd;

	if (cn->want_copy || cn->skip || cn->error)
		return;
	cn->want_copy = -1;
	/*
	 * A copy is needed by a recipient who may quarantine (in our store) or
	 * wants the signature in the body (the body is then replaced).
	 */
	{
		int hold = strcmp(conf_str(cf, "QuarantineMode") ?
		    conf_str(cf, "QuarantineMode") : "", "postfix") == 0;
		char why[1024];
		db *d = NULL;
		int need = 0, factors = 0;

		if (pool_store_get(store_path(cf), &d, why, sizeof(why)) < 0)
			d = NULL;   /* the end of message reports it */
		/*
		 * The reads of this step, and those of the end of message, in
		 * one snapshot each: outside one every statement was a
		 * transaction of its own, which took and gave back a lock in
		 * SQLite's shared memory (two fcntl calls; about 16 a message
		 * in all). pool_store_put ends it.
		 */
		if (d != NULL && db_read_begin(d) < 0) {
			pool_store_put(d, 1);
			d = NULL;   /* the end of message tries again */
		}

		/* Read each recipient's settings once; EOM uses them too. */
		for (size_t i = 0; i < cn->nrcpts && d != NULL; i++) {
			rcpt *r = &cn->rcpts[i];
			int64_t uid = 0;

			r->prof = cn->sn->site;
			if (db_user(d, r->user, 0, &uid) == 0 &&
			    profile_prefs(cf, d, uid, &r->prof) == 0)
				r->has_prof = 1;
			if (r->has_prof &&
			    ((r->prof.spam_action == PROFILE_QUARANTINE && !hold) ||
			    r->prof.sig_location == PROFILE_SIG_MESSAGE))
				need = 1;
			if (r->has_prof && r->prof.show_factors)
				factors = 1;
		}
		pool_store_put(d, 0);
		/* X-Spamsift-Factors names tokens: keep their texts (before the
		 * first header reaches the parser). */
		if (factors && cn->toks != NULL &&
		    tokset_keep_text(cn->toks, 1) < 0)
			fail(cn, "%s", "out of memory");
		if (!need)
			return;
	}
	snprintf(tmpl, sizeof(tmpl), "%s/spamsift.XXXXXX",
	    conf_str(cf, "TempDir") ? conf_str(cf, "TempDir") : "/tmp");
	fd = mkstemp(tmpl);
	if (fd < 0) {
		fail(cn, "quarantine copy: %s", strerror(errno));
		return;
	}
	unlink(tmpl);
	cn->copy = fdopen(fd, "w+");
	if (cn->copy == NULL) {
		close(fd);
		fail(cn, "quarantine copy: %s", strerror(errno));
		return;
	}
	/*
	 * Stay in memory (stdio buffer) up to QuarantineMemory. The buffer
	 * is ours: given none, glibc ignores the size (4 KiB, then disk).
	 * Pages are touched only as the copy grows. Without it, stdio's own.
	 */
	mem = (size_t)conf_int(cf, "QuarantineMemory");
	if (mem > 0 && (cn->copybuf = malloc(mem)) != NULL &&
	    setvbuf(cn->copy, cn->copybuf, _IOFBF, mem) != 0) {
		free(cn->copybuf);
		cn->copybuf = NULL;
	}
	cn->want_copy = 1;
}

/* A token text fit for X-Spamsift-Factors: 1 to 48 bytes of printable ASCII. */
static int factor_text(const char *t)
{
	size_t n = 0;

	if (t == NULL)
		return 0;
	for (; t[n] != '\0'; n++)
		if ((unsigned char)t[n] <= ' ' || (unsigned char)t[n] >= 0x7f || n >= 48)
			return 0;
	return n > 0;
}

/* One more incoming X-Spamsift-* field called name (see struct forged). */
static void count_forged(conn *cn, const char *name)
{
	int i;

	if (cn->forged_total < UINT_MAX)       /* all of them, for the log */
		cn->forged_total++;
	for (i = 0; i < cn->nforged; i++)
		if (strcasecmp(cn->forged[i].name, name) == 0)
			break;
	if (i == cn->nforged) {
		if (i == FORGED_NAMES || strlen(name) >= FORGED_NAMELEN) {
			if (cn->forged_over == 0)
				cn->forged_over = i == FORGED_NAMES ? 1 : 2;
			return;
		}
		strcpy(cn->forged[i].name, name);
		cn->forged[i].n = 0;
		cn->nforged++;
	}
	if (cn->forged[i].n < UINT_MAX)
		cn->forged[i].n++;
}

/*
 * Would a line appended to the body change what a reader decodes? A body
 * whose header says it is not text (a lone attachment) or is encoded is
 * sealed: the signature line is data there (base64 decoders turn it into
 * bytes of the attachment). A multipart body takes it after its last part.
 */
static void check_sealed(conn *cn, const char *name, const char *value)
{
	static const char *const plain[] = { "7bit", "8bit", "binary",
	    "quoted-printable" };
	const char *v = value;
	char type[128];
	size_t n;

	while (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n')
		v++;
	if (strcasecmp(name, "Content-Type") == 0) {
		hdr_type(v, strlen(v), type, sizeof(type));
		if (strncmp(type, "multipart/", 10) == 0) {
			/* Without a boundary that fits, where its last part
			 * ends cannot be checked (body_closed). An empty one
			 * (boundary="") is none: readers still split the body
			 * on "--" lines, and "" would skip the check. */
			if (!hdr_param(v, strlen(v), "boundary", cn->boundary,
			    sizeof(cn->boundary)) || cn->boundary[0] == '\0' ||
			    strlen(cn->boundary) + 1 == sizeof(cn->boundary))
				cn->body_sealed = 1;
		} else if (strncmp(type, "text/", 5) != 0)
			cn->body_sealed = 1;
		else {
			/* A text whose characters are not ASCII's bytes: the
			 * line would decode as garbage (UTF-16 as CJK). */
			char cs[64];

			if (hdr_param(v, strlen(v), "charset", cs, sizeof(cs)) &&
			    (strncasecmp(cs, "utf-16", 6) == 0 ||
			    strncasecmp(cs, "utf-32", 6) == 0 ||
			    strncasecmp(cs, "ucs-2", 5) == 0 ||
			    strncasecmp(cs, "ucs-4", 5) == 0 ||
			    strncasecmp(cs, "utf-7", 5) == 0))
				cn->body_sealed = 1;
		}
	} else if (strcasecmp(name, "Content-Transfer-Encoding") == 0) {
		/* An encoding not read as one of these (a comment first,
		 * "(x) base64", or nothing) may still be decoded by some
		 * reader: sealed too. */
		n = strcspn(v, " \t\r\n;(");
		for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
			if (strlen(plain[i]) == n && strncasecmp(v, plain[i], n) == 0)
				return;
		cn->body_sealed = 1;
	}
}

static sfsistat mlfi_header(SMFICTX *ctx, char *name, char *value)
{
	conn *cn = smfi_getpriv(ctx);

	if (cn == NULL)
		return SMFIS_TEMPFAIL;
	content_starts(cn);
	if (cn->queue_id == NULL) {
		const char *q = smfi_getsymval(ctx, "i");

		if (q != NULL)
			cn->queue_id = strdup(q);
	}
	if (cn->want_copy == 0)
		plan_copy(cn);
	/* (forged fields too: the size is the message's as Postfix sent it) */
	cn->size += strlen(name) + strlen(value) + 3;   /* ":" and CRLF */
	/* A sender must not forge our verdict: count our headers to delete. */
	if (strncasecmp(name, "X-Spamsift-", 11) == 0) {
		count_forged(cn, name);
		return reply(cn, SMFIP_NR_HDR);
	}
	if (strcasecmp(name, "Subject") == 0 && !cn->had_subject) {
		cn->had_subject = 1;
		cn->raw_subject = strdup(value);
	}
	if (cn->copy != NULL) {
		/* Only a body with a copy can take a signature line. */
		check_sealed(cn, name, value);
		/* SMFIP_HDR_LEADSPC: value keeps its leading space. */
		copy_out(cn, name, strlen(name));
		copy_out(cn, ":", 1);
		copy_value(cn, value);
		copy_out(cn, "\r\n", 2);
	}
	if (!cn->skip && !cn->error && cn->parser != NULL &&
	    msg_header(cn->parser, name, value) < 0)
		fail(cn, "%s", "parser: out of memory");
	return reply(cn, SMFIP_NR_HDR);
}

static sfsistat mlfi_eoh(SMFICTX *ctx)
{
	conn *cn = smfi_getpriv(ctx);

	if (cn == NULL)
		return SMFIS_TEMPFAIL;
	content_starts(cn);
	if (cn->want_copy == 0)
		plan_copy(cn);
	cn->size += 2;
	if (cn->copy != NULL) {
		copy_out(cn, "\r\n", 2);
		cn->body_off = cn->copy_len;
	}
	if (!cn->skip && !cn->error && cn->parser != NULL) {
		if (msg_eoh(cn->parser) < 0)
			fail(cn, "%s", "parser: out of memory");
	}
	return reply(cn, SMFIP_NR_EOH);
}

static sfsistat mlfi_body(SMFICTX *ctx, unsigned char *buf, size_t len)
{
	conn *cn = smfi_getpriv(ctx);

	if (cn == NULL)
		return SMFIS_TEMPFAIL;
	cn->size += len;
	if (cn->copy != NULL)
		copy_out(cn, (const char *)buf, len);
	if (!cn->skip && !cn->error && cn->parser != NULL) {
		if (msg_body(cn->parser, (const char *)buf, len) < 0)
			fail(cn, "%s", "parser: out of memory");
	}
	return reply(cn, SMFIP_NR_BODY);
}

/*
 * Add a header; with SMFIP_HDR_LEADSPC the value must carry the space after
 * the colon itself.
 */
static void add_header(SMFICTX *ctx, const conn *cn, const char *name,
    const char *value)
{
	char buf[2048];

	snprintf(buf, sizeof(buf), "%s%s", cn->leadspc ? " " : "", value);
	smfi_addheader(ctx, (char *)name, buf);
}

/*
 * Does the copied body close its multipart ("--boundary--" at the start of
 * a line, then only blanks to its end)? Without it the last part runs to
 * the end, and a line appended there is read as part of it (as bytes of a
 * base64 attachment). A line that only starts so ("--b--x" in a preamble)
 * closes nothing: it was taken for the close.
 */
static int body_closed(conn *cn)
{
	char pat[sizeof(cn->boundary) + 8];
	char buf[32768];
	size_t pl, have = 1, left = cn->copy_len - cn->body_off;

	pl = (size_t)snprintf(pat, sizeof(pat), "\n--%s--", cn->boundary);
	buf[0] = '\n';         /* the body starts a line */
	while (left > 0) {
		size_t want = left < sizeof(buf) - have ? left : sizeof(buf) - have;
		size_t k = want > 0 ? fread(buf + have, 1, want, cn->copy) : 0;
		const char *m = buf, *cut = NULL;

		if (k == 0)
			return 0;       /* unreadable, or a line of blanks past 32 KiB */
		left -= k;
		have += k;
		while ((m = memmem(m, have - (size_t)(m - buf), pat, pl)) != NULL) {
			const char *e = m + pl;

			while (e < buf + have && (*e == ' ' || *e == '\t'))
				e++;
			if (e == buf + have) {
				if (left == 0)
					return 1;       /* at the body's end */
				cut = m;        /* its line goes on: read more */
				break;
			}
			if (*e == '\r' || *e == '\n')
				return 1;
			m++;
		}
		/* Keep what could begin a match across the next read: a match
		 * cut short, else the last pl - 1 bytes. */
		if (cut == NULL)
			cut = buf + (have > pl - 1 ? have - (pl - 1) : 0);
		have -= (size_t)(cut - buf);
		memmove(buf, cut, have);
	}
	return 0;
}

/*
 * Replace the body with the copied one plus one "!spamsift:ID!" line per id
 * in sigs (signatureLocation=message): a forwarded or bounced copy can still
 * be retrained by signature. Returns 0, -ENOENT when it changed nothing
 * (no copy of the body, or it cannot be read), or -1 when replacing failed.
 */
static int body_signatures(SMFICTX *ctx, conn *cn, const char *const *sigs,
    size_t n)
{
	unsigned char buf[65536];
	size_t left;

	if (cn->copy == NULL || fflush(cn->copy) != 0 ||
	    fseek(cn->copy, (long)cn->body_off, SEEK_SET) != 0)
		return -ENOENT;         /* nothing replaced yet */
	if (cn->boundary[0] != '\0' && (!body_closed(cn) ||
	    fseek(cn->copy, (long)cn->body_off, SEEK_SET) != 0)) {
		fseek(cn->copy, 0, SEEK_END);
		return -ENOENT;
	}
	left = cn->copy_len - cn->body_off;
	while (left > 0) {
		size_t k = fread(buf, 1, left < sizeof(buf) ? left : sizeof(buf), cn->copy);

		if (k == 0 || smfi_replacebody(ctx, buf, (int)k) != MI_SUCCESS)
			return -1;
		left -= k;
	}
	for (size_t i = 0; i < n; i++) {
		char line[64];
		int len = snprintf(line, sizeof(line), "\r\n!spamsift:%s!\r\n", sigs[i]);

		if (smfi_replacebody(ctx, (unsigned char *)line, len) != MI_SUCCESS)
			return -1;
	}
	fseek(cn->copy, 0, SEEK_END);
	return 0;
}

/* One distinct user's verdict. */
typedef struct verdict {
	const char *user;       /* user name (borrowed from rcpts) */
	profile prof;           /* effective settings */
	filter_result res;      /* classification */
	int classified;         /* res is valid */
	int action;             /* PROFILE_* taken for spam, -1 none */
	filter_pending *pd;     /* what to learn, once the message is answered */
} verdict;

static const char *result_name(int cls)
{
	switch (cls) {
	case BAYES_SPAM: return "Spam";
	case BAYES_WHITELISTED: return "Whitelisted";
	case BAYES_BLOCKLISTED: return "Blocklisted";
	default: return "Innocent";
	}
}

static int is_spam(int cls)
{
	return cls == BAYES_SPAM || cls == BAYES_BLOCKLISTED;
}

/*
 * The calling thread's time on a CPU and waiting in a run queue for one,
 * in ms, from Linux's /proc/thread-self/schedstat; -1 where that cannot be
 * read (no /proc, a chroot). For the debug lines: an end of message that
 * takes long while its thread ran little waited for a CPU, not for a lock.
 */
static int thread_sched(double *run_ms, double *wait_ms)
{
	unsigned long long run, wait;
	FILE *f = fopen("/proc/thread-self/schedstat", "r");
	int n;

	if (f == NULL)
		return -1;
	n = fscanf(f, "%llu %llu", &run, &wait);
	fclose(f);
	if (n != 2)
		return -1;
	*run_ms = (double)run / 1e6;
	*wait_ms = (double)wait / 1e6;
	return 0;
}

/*
 * Milliseconds (to 0.1) since the first content callback. With
 * smtpd_milters, Postfix's cleanup sends the headers and body once the
 * client's DATA is complete and then waits for the end-of-message reply:
 * this is the time the message spent in the milter, not the client's.
 */
static double elapsed_ms(const conn *cn)
{
	if (cn->start.tv_sec == 0 && cn->start.tv_nsec == 0)
		return 0;
	return clock_since_ms(&cn->start);
}

/* OnFail: the configured answer to an internal error, with one log line. */
static sfsistat on_fail(SMFICTX *ctx, conn *cn)
{
	const char *mode = conf_str(cn->sn->cf, "OnFail");
	int accept = mode != NULL && strcmp(mode, "accept") == 0;
	char from[USERMAP_MAX];

	/* (in place of the message's info line: who it was from too) */
	log_warning("%s: client=%s from=<%s> internal error, %s: %s", qid(cn),
	    cn->client_addr ? cn->client_addr : "?",
	    log_from(cn, from, sizeof(from)), accept ? "accepting" : "tempfail",
	    cn->errwhy);
	if (accept)
		return SMFIS_ACCEPT;
	smfi_setreply(ctx, "451", "4.3.0", "Spam filter temporarily unavailable");
	return SMFIS_TEMPFAIL;
}

/*
 * Remove the recipient addr (as RCPT TO gave it) from the message. Postfix
 * keeps one given with a source route (<@relay,@relay2:bob@d>, RFC 5321's
 * obsolete form) without it, as it delivers it (to bob@d), and deletes
 * only a recipient that matches what it kept: asked for the address with
 * its route, it deleted nothing, and a user who quarantined the message
 * got it too. The route ends at the first ':', as Postfix (and
 * usermap_address) read it.
 */
static void del_rcpt(SMFICTX *ctx, const char *addr)
{
	const char *a = addr + (*addr == '<'), *p = strchr(a, ':');
	char *bare;
	size_t n;

	if (*a != '@' || p == NULL) {
		smfi_delrcpt(ctx, (char *)addr);
		return;
	}
	p++;
	n = strlen(p);
	n -= n > 0 && p[n - 1] == '>';
	if ((bare = malloc(n + 3)) == NULL) {
		smfi_delrcpt(ctx, (char *)addr);
		return;
	}
	snprintf(bare, n + 3, "<%.*s>", (int)n, p);
	smfi_delrcpt(ctx, bare);
	free(bare);
}

/* Store the message in v's user's quarantine; 0, or -errno with why. */
static int quarantine_store(conn *cn, const verdict *v, const char *rcpts,
    long wait_ms, char *why, size_t whylen)
{
	db_quar q = { 0 };
	char *data;
	int64_t id = 0;
	int rc;

	snprintf(why, whylen, "quarantine copy: %s", strerror(EIO));
	if (cn->copy == NULL)
		return -EIO;
	data = malloc(cn->copy_len ? cn->copy_len : 1);
	if (data == NULL) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	/*
	 * A copy still whole in its memory buffer (QuarantineMemory) is
	 * taken from there: flushed and read back, it needed room in TempDir,
	 * and a full TempDir made every quarantine fail however small.
	 */
	if (cn->copybuf != NULL && __fpending(cn->copy) == cn->copy_len)
		memcpy(data, cn->copybuf, cn->copy_len);
	else {
		if (fflush(cn->copy) != 0) {
			rc = -errno;
			snprintf(why, whylen, "quarantine copy: %s",
			    strerror(-rc));
			free(data);
			return rc;
		}
		rewind(cn->copy);
		if (fread(data, 1, cn->copy_len, cn->copy) != cn->copy_len) {
			free(data);
			return -EIO;
		}
		fseek(cn->copy, 0, SEEK_END);
	}
	/* As given: lowercased, unquoted or cut, a release sent it as
	 * another sender, and bounces went astray. */
	q.sender = cn->env_sender ? cn->env_sender :
	    cn->sender ? cn->sender : "";
	q.recipients = rcpts;
	q.subject = msg_subject(cn->parser);
	q.signature = v->res.sig_id;
	q.probability = v->res.verdict.probability;
	q.when = time(NULL);
	q.data = data;
	q.len = cn->copy_len;
	/* Durable before the reply: the writer thread's commit, waited for. */
	rc = writer_quarantine(v->user, &q, wait_ms, &id, why, whylen);
	free(data);
	return rc;
}

/*
 * Prefix the Subject of spam with tag. The raw value is prefixed, so
 * encoded words stay intact. A Subject that already starts with the tag (a
 * message that passes the milter twice: a forward, a bounce, a second
 * hop) is left as it is; an empty or missing one becomes the tag alone.
 */
/* Does s start with tag, followed by a blank, a line end or nothing? */
static int tagged(const char *s, const char *tag)
{
	size_t tl = strlen(tag);

	return strncmp(s, tag, tl) == 0 && (s[tl] == '\0' || s[tl] == ' ' ||
	    s[tl] == '\t' || s[tl] == '\r' || s[tl] == '\n');
}

static void tag_subject(SMFICTX *ctx, conn *cn, const char *tag)
{
	const char *subj = cn->raw_subject ? cn->raw_subject : "";
	const char *plain;
	char enc[DELIVERED_TAG_MAX], trimmed[129];
	size_t tl, sl;
	char *ns;
	int fold;

	/*
	 * The tag without its own blanks: a Subject tagged with " [SPAM]"
	 * starts "[SPAM]" once its blanks are skipped, and was tagged again
	 * at every pass; "[SPAM] " wrote two blanks and tagged "[SPAM]" again.
	 */
	tag = delivered_tag_trim(tag, trimmed);
	if (*tag == '\0')
		return;
	plain = tag;
	tag = delivered_tag(tag, enc);
	tl = strlen(tag);
	sl = tl + strlen(subj) + 4;
	/* Line breaks too: a value folded before its first word
	 * ("Subject:\n [SPAM] hi") starts with the tag all the same, and was
	 * tagged again. */
	while (*subj == ' ' || *subj == '\t' || *subj == '\r' || *subj == '\n')
		subj++;
	/* (our encoded tag, or the tag as raw UTF-8: an SMTPUTF8 hop) */
	if (tagged(subj, tag) || tagged(subj, plain))
		return;
	/* Tagged, then encoded again whole by another hop ("=?UTF-8?B?
	 * W1NQQU1dIGhp?=" for "[SPAM] hi"): tagged as well. */
	if (strstr(subj, "=?") != NULL) {
		charset *cs;
		char dec[1024];

		if (charset_new(&cs) == 0) {
			hdr_decode(cs, subj, strlen(subj), dec, sizeof(dec));
			charset_free(cs);
			if (tagged(dec, plain))
				return;
		}
	}
	if ((ns = malloc(sl)) == NULL)
		return;
	/*
	 * A line is at most 998 bytes (RFC 5322; Postfix's smtp client breaks
	 * a longer one, mid-word): when the tag makes the first line longer,
	 * fold after the tag. Unfolded, the value is the same.
	 */
	fold = sizeof("Subject: ") - 1 + tl + 1 + strcspn(subj, "\r\n") > 998;
	snprintf(ns, sl, "%s%s%s%s", cn->leadspc ? " " : "", tag,
	    *subj == '\0' ? "" : fold ? "\n " : " ", subj);
	if (cn->had_subject)
		smfi_chgheader(ctx, (char *)"Subject", 1, ns);
	else
		smfi_addheader(ctx, (char *)"Subject", ns);
	free(ns);
}

static sfsistat mlfi_eom(SMFICTX *ctx)
{
	conn *cn = smfi_getpriv(ctx);
	const conf *cf;
	verdict *vs = NULL;
	size_t nv = 0, delivered = 0, rejecting = 0, quarantined = 0;
	char why[1024], logbuf[2048], from[USERMAP_MAX];
	size_t lp = 0;
	int all_reject = 1, held = 0, store_broken = 0, rc;
	db *d = NULL;
	sfsistat ret = SMFIS_CONTINUE;
	struct timespec eom_start, qstart = { 0, 0 };
	long left;
	double ms_parse = 0, ms_pool = 0;   /* DebugPeer's breakdown */
	double run0 = 0, wait0 = 0;         /* and the thread's schedstat */
	int sched_ok = 0;

	if (cn == NULL)
		return SMFIS_TEMPFAIL;
	clock_gettime(CLOCK_MONOTONIC, &eom_start);
	if (cn->debug)
		sched_ok = thread_sched(&run0, &wait0) == 0;
	cf = cn->sn->cf;
	if (cn->queue_id == NULL) {
		const char *q = smfi_getsymval(ctx, "i");

		if (q != NULL)
			cn->queue_id = strdup(q);
	}
	/*
	 * Forged verdicts go first, whatever happens next. Each goes in a
	 * request of its own that Postfix's cleanup answers by scanning the
	 * headers: thousands of them are an attack on the MTA, not mail.
	 */
	if (cn->forged_total > FORGED_MAX || cn->forged_over) {
		smfi_setreply(ctx, (char *)"550", (char *)"5.7.1",
		    (char *)"Too many X-Spamsift header fields");
		/* The message line's form, the forged fields for the users. */
		log_info("%s: client=%s from=<%s> forged=%u/%s action=reject "
		    "size=%zu tokens=0 eom=%.1fms %.1fms", qid(cn),
		    cn->client_addr ? cn->client_addr : "?",
		    log_from(cn, from, sizeof(from)), cn->forged_total,
		    cn->forged_over == 1 ? "too-many-names" :
		    cn->forged_over == 2 ? "name-too-long" : cn->forged[0].name,
		    cn->size, clock_since_ms(&eom_start), elapsed_ms(cn));
		ret = SMFIS_REJECT;
		goto done;
	}
	for (int i = 0; i < cn->nforged; i++)
		for (unsigned idx = cn->forged[i].n; idx > 0; idx--)
			smfi_chgheader(ctx, cn->forged[i].name, (int)idx, NULL);
	if (cn->skip) {
		log_info("%s: from=<%s> skipped (trusted sender), %.1fms", qid(cn),
		    log_from(cn, from, sizeof(from)), elapsed_ms(cn));
		goto done;
	}
	content_starts(cn);     /* a message without headers */
	if (!cn->error) {
		if (msg_end(cn->parser) < 0)
			fail(cn, "%s", "parser: out of memory");
	}
	if (cn->debug)
		ms_parse = clock_since_ms(&eom_start);
	if (!cn->error && pool_store_get(store_path(cf), &d, why,
	    sizeof(why)) < 0) {
		d = NULL;
		fail(cn, "store: %s", why);
	}
	if (d != NULL && db_read_begin(d) < 0) {
		fail(cn, "store: %s", db_errmsg(d));
		pool_store_put(d, 1);
		d = NULL;
	}
	if (cn->debug)
		ms_pool = clock_since_ms(&eom_start) - ms_parse;
	if (cn->error) {
		ret = on_fail(ctx, cn);
		goto done;
	}
	vs = calloc(cn->nrcpts ? cn->nrcpts : 1, sizeof(*vs));
	if (vs == NULL) {
		fail(cn, "%s", "out of memory");
		ret = on_fail(ctx, cn);
		goto done;
	}
	/* Classify once per distinct user. */
	for (size_t i = 0; i < cn->nrcpts; i++) {
		verdict *v = NULL;
		int64_t uid = 0;

		for (size_t k = 0; k < nv; k++)
			if (strcmp(vs[k].user, cn->rcpts[i].user) == 0)
				v = &vs[k];
		if (v != NULL)
			continue;
		v = &vs[nv++];
		v->user = cn->rcpts[i].user;
		v->action = -1;
		rc = cn->rcpts[i].has_prof ? 0 : db_user(d, v->user, 0, &uid);
		if (cn->rcpts[i].has_prof)
			v->prof = cn->rcpts[i].prof;
		else if (rc == 0) {
			v->prof = cn->sn->site;
			rc = profile_prefs(cf, d, uid, &v->prof);
		}
		if (rc < 0) {
			fail(cn, "store: %s", db_errmsg(d));
			store_broken = 1;
			break;
		}
		if (!profile_filtered(cf, &v->prof)) {
			all_reject = 0;     /* delivered untouched */
			continue;
		}
		/* Read only: what must be written goes to the writer thread. */
		{
			filter_pending *pd = NULL;

			rc = filter_classify_deferred(d, v->user, cn->toks, cn->sender,
			    &v->prof.fp, time(NULL), &v->res, &pd);
			if (rc < 0) {
				fail(cn, "classify: %s", db_errmsg(d));
				store_broken = 1;
				break;
			}
			v->pd = pd;
		}
		v->classified = 1;
		if (is_spam(v->res.verdict.cls)) {
			v->action = v->prof.spam_action;
			if (v->action == PROFILE_REJECT &&
			    v->res.verdict.probability < v->prof.reject_threshold &&
			    v->res.verdict.cls != BAYES_BLOCKLISTED)
				v->action = PROFILE_TAG;
		}
		if (v->action != PROFILE_REJECT)
			all_reject = 0;
	}
	/* The reads are done: other sessions may use the connection. */
	pool_store_put(d, store_broken);
	d = NULL;
	if (cn->debug) {
		double ms = clock_since_ms(&eom_start), run1, wait1;
		char sched[96] = "";

		if (sched_ok && thread_sched(&run1, &wait1) == 0)
			snprintf(sched, sizeof(sched), "; on a CPU %.2fms, "
			    "waiting for one %.2fms", run1 - run0, wait1 - wait0);
		log_debug("%s: end of message: parser %.2fms, waiting for a store "
		    "connection %.2fms, classifying %.2fms (%zu tokens, %zu "
		    "users)%s", qid(cn), ms_parse, ms_pool,
		    ms - ms_parse - ms_pool, tokset_count(cn->toks), nv, sched);
	}
	if (cn->error) {
		ret = on_fail(ctx, cn);
		goto done;
	}
	if (nv == 0 || cn->untracked > 0)
		all_reject = 0;     /* someone gets the message untouched */
	/* Reject only when every recipient would. */
	if (all_reject) {
		const char *text = conf_str(cf, "RejectText");
		char xcode[16] = "5.7.1";

		if (text == NULL || *text == '\0')
			text = "Message rejected as spam";
		/* RejectText may start with its own enhanced status code. */
		text = conf_reply_split(text, xcode, sizeof(xcode));
		smfi_setreply(ctx, (char *)"550", xcode, (char *)text);
		rejecting = nv;
		ret = SMFIS_REJECT;
		goto log;
	}
	/* Quarantine: Postfix's hold queue, or our store per user. */
	for (size_t k = 0; k < nv; k++) {
		verdict *v = &vs[k];

		if (v->action == PROFILE_REJECT)
			v->action = PROFILE_TAG;   /* others deliver: tag instead */
		if (v->action != PROFILE_QUARANTINE)
			continue;
		if (conf_str(cf, "QuarantineMode") &&
		    strcmp(conf_str(cf, "QuarantineMode"), "postfix") == 0) {
			held = 1;
			continue;
		}
		{
			/* Every one of the user's addresses, whole: release
			 * delivers to this list (a fixed buffer cut it). */
			char *rcpts;
			size_t rl = 0, need = 1;

			for (size_t i = 0; i < cn->nrcpts; i++)
				if (strcmp(cn->rcpts[i].user, v->user) == 0)
					need += strlen(cn->rcpts[i].addr) + 1;
			if ((rcpts = malloc(need)) == NULL) {
				fail(cn, "%s", "quarantine: out of memory");
				ret = on_fail(ctx, cn);
				goto done;
			}
			rcpts[0] = '\0';
			for (size_t i = 0; i < cn->nrcpts; i++) {
				const char *a = cn->rcpts[i].addr;
				size_t al;

				if (strcmp(cn->rcpts[i].user, v->user) != 0)
					continue;
				/*
				 * Stored without angle brackets, as sendmail
				 * takes it, each followed by a line feed (which
				 * no address holds): a comma or blank inside a
				 * quoted local part split it on release.
				 */
				a += *a == '<';
				al = strlen(a);
				al -= al > 0 && a[al - 1] == '>';
				rl += (size_t)snprintf(rcpts + rl, need - rl,
				    "%.*s\n", (int)al, a);
			}
			/* (what is left of the message's wait; 1 ms at least:
			 * a writer that is free takes it at once) */
			left = QUARANTINE_WAIT_MS;
			if (qstart.tv_sec == 0 && qstart.tv_nsec == 0)
				clock_gettime(CLOCK_MONOTONIC, &qstart);
			else
				left -= (long)clock_since_ms(&qstart);
			rc = quarantine_store(cn, v, rcpts, left > 0 ? left : 1,
			    why, sizeof(why));
			free(rcpts);
			if (rc < 0 && quarantined > 0) {
				/*
				 * Other users' copies are stored already: a
				 * tempfail would store them again on every
				 * retry. This user gets the message tagged.
				 */
				char who[USERMAP_MAX];

				snprintf(who, sizeof(who), "%s", v->user);
				log_warning("%s: quarantine for %s failed (%s); "
				    "delivered tagged instead", qid(cn),
				    log_word(who), why);
				v->action = PROFILE_TAG;
				continue;
			}
			if (rc < 0) {
				fail(cn, "quarantine: %s", why);
				ret = on_fail(ctx, cn);
				goto done;
			}
			for (size_t i = 0; i < cn->nrcpts; i++)
				if (strcmp(cn->rcpts[i].user, v->user) == 0)
					del_rcpt(ctx, cn->rcpts[i].addr);
			quarantined++;
		}
	}
	if (held) {
		smfi_quarantine(ctx, (char *)"spamsift: spam");
	}
	/*
	 * Headers for the delivered recipients. Those not filtered (opted
	 * out, or mapped to no user) get the same copy: then no header
	 * speaks for one recipient, the result is Mixed.
	 */
	{
		int common = -1, mixed = 0, same = 1, single;
		size_t plain = cn->untracked;
		const verdict *one = NULL;
		char val[128];

		for (size_t k = 0; k < nv; k++) {
			const verdict *v = &vs[k];

			if (!v->classified) {
				plain++;
				continue;
			}
			if (v->action == PROFILE_QUARANTINE && !held)
				continue;
			delivered++;
			/*
			 * They agree when all call it spam (some by a blocklist)
			 * or all call it not spam (some by a whitelist): the
			 * result is then Spam or Innocent, and a spam gets its
			 * Subject tag.
			 */
			if (common < 0) {
				common = v->res.verdict.cls;
				one = v;
			} else if (common != v->res.verdict.cls) {
				same = 0;
				if (is_spam(common) != is_spam(v->res.verdict.cls))
					mixed = 1;
			}
		}
		if (delivered == 0 && plain == 0 && quarantined > 0) {
			ret = SMFIS_DISCARD;
			goto log;
		}
		if (plain > 0)
			mixed = 1;
		single = delivered == 1 && plain == 0;
		if (common >= 0) {
			add_header(ctx, cn, "X-Spamsift-Result",
			    mixed ? "Mixed" : same ? result_name(common) :
			    is_spam(common) ? "Spam" : "Innocent");
			if (single) {
				snprintf(val, sizeof(val), "%.4f", one->res.verdict.probability);
				add_header(ctx, cn, "X-Spamsift-Probability", val);
				snprintf(val, sizeof(val), "%.2f", one->res.verdict.confidence);
				add_header(ctx, cn, "X-Spamsift-Confidence", val);
			}
			{
				const char **body_sigs = calloc(nv, sizeof(*body_sigs));
				size_t nbody = 0;

				for (size_t k = 0; k < nv; k++) {
					const verdict *v = &vs[k];

					if (!v->classified || !v->res.sig_id[0] ||
					    (v->action == PROFILE_QUARANTINE && !held))
						continue;
					/* A sealed body gets it in the header. */
					if (v->prof.sig_location == PROFILE_SIG_MESSAGE &&
					    !cn->body_sealed && body_sigs != NULL)
						body_sigs[nbody++] = v->res.sig_id;
					else
						add_header(ctx, cn, "X-Spamsift-Signature",
						    v->res.sig_id);
				}
				rc = nbody > 0 ? body_signatures(ctx, cn, body_sigs,
				    nbody) : 0;
				/* No copy of the body to add to (the store could not
				 * be read when the message began), or a multipart
				 * that never ends its last part: the header then. */
				for (size_t k = 0; rc == -ENOENT && k < nbody; k++)
					add_header(ctx, cn, "X-Spamsift-Signature",
					    body_sigs[k]);
				free(body_sigs);
				if (rc < 0 && rc != -ENOENT) {
					/* Part of the body is replaced already:
					 * accepted, it would go out cut short. A
					 * tempfail has Postfix drop this try. */
					log_warning("%s: replacing the body (signature "
					    "line) failed part way: tempfail", qid(cn));
					ret = SMFIS_TEMPFAIL;
					goto log;
				}
			}
			if (single && one->prof.show_factors &&
			    one->res.verdict.ntop > 0) {
				char f[1024];
				size_t fl = 0;

				f[0] = '\0';
				for (size_t i = 0; i < one->res.verdict.ntop && fl + 64 < sizeof(f); i++) {
					const bayes_factor *t = &one->res.verdict.top[i];

					/* The token, or "#" and its hash when it has
					 * no short printable ASCII text. */
					if (factor_text(t->text))
						fl += (size_t)snprintf(f + fl, sizeof(f) - fl,
						    "%s%s=%.3f", i ? ", " : "", t->text, t->prob);
					else
						fl += (size_t)snprintf(f + fl, sizeof(f) - fl,
						    "%s#%016" PRIx64 "=%.3f", i ? ", " : "",
						    t->hash, t->prob);
				}
				add_header(ctx, cn, "X-Spamsift-Factors", f);
			}
			if (!mixed && is_spam(common) && one->prof.spam_subject[0])
				tag_subject(ctx, cn, one->prof.spam_subject);
		}
	}
log:
	/* Recipients past MAX_RCPTS, or whose address maps to no user
	 * (longer than USERMAP_MAX): delivered unfiltered, counted first
	 * (the users' part may fill the line). */
	if (cn->untracked > 0)
		lp = (size_t)snprintf(logbuf, sizeof(logbuf), "unfiltered=%zu",
		    cn->untracked);
	for (size_t k = 0; k < nv && lp + 200 < sizeof(logbuf); k++) {
		const verdict *v = &vs[k];
		static const char *const act[] = { "tag", "quarantine", "reject" };
		char who[USERMAP_MAX];
		int w;

		snprintf(who, sizeof(who), "%s", v->user);
		w = snprintf(logbuf + lp, sizeof(logbuf) - lp,
		    "%s%s=%s/%.4f/%s", lp ? " " : "", log_word(who),
		    v->classified ? result_name(v->res.verdict.cls) : "OptOut",
		    v->classified ? v->res.verdict.probability : 0.0,
		    v->action < 0 ? "deliver" : held && v->action == PROFILE_QUARANTINE ?
		    "hold" : act[v->action]);

		if (w < 0 || (size_t)w >= sizeof(logbuf) - lp) {
			lp = sizeof(logbuf) - 1;        /* cut: the line is full */
			break;
		}
		lp += (size_t)w;
	}
	logbuf[lp] = '\0';
	log_info("%s: client=%s from=<%s> %s action=%s size=%zu tokens=%zu eom=%.1fms "
	    "%.1fms", qid(cn),
	    cn->client_addr ? cn->client_addr : "?",
	    log_from(cn, from, sizeof(from)), logbuf,
	    ret == SMFIS_REJECT ? "reject" : ret == SMFIS_DISCARD ? "discard" :
	    ret == SMFIS_TEMPFAIL ? "tempfail" :
	    held ? "hold" : quarantined ? "quarantine+deliver" : "deliver",
	    cn->size, tokset_count(cn->toks), clock_since_ms(&eom_start), elapsed_ms(cn));
	(void)rejecting;
done:
	pool_store_put(d, store_broken);
	/*
	 * Learn what was classified, unless the message was deferred: its
	 * next try is classified and learned again (learning it now as well
	 * counted it twice).
	 */
	for (size_t k = 0; k < nv; k++) {
		if (ret == SMFIS_TEMPFAIL)
			filter_pending_free(vs[k].pd);
		else if (vs[k].pd != NULL)
			writer_push(vs[k].pd, filter_pending_bytes(vs[k].pd));
	}
	free(vs);
	msg_state_reset(cn);
	return ret;
}

static sfsistat mlfi_abort(SMFICTX *ctx)
{
	conn *cn = smfi_getpriv(ctx);

	if (cn != NULL)
		msg_state_reset(cn);
	return SMFIS_CONTINUE;
}

static sfsistat mlfi_close(SMFICTX *ctx)
{
	conn *cn = smfi_getpriv(ctx);

	if (cn != NULL) {
		int late = cn->late;

		msg_state_reset(cn);
		snap_unref(cn->sn);
		free(cn);
		smfi_setpriv(ctx, NULL);
		pthread_mutex_lock(&snap_lock);
		sessions--;
		late_sessions -= late;
		pthread_mutex_unlock(&snap_lock);
	}
	return SMFIS_CONTINUE;
}

struct smfiDesc mlfi_desc = {
	.xxfi_name = "spamsift",
	.xxfi_version = SMFI_VERSION,
	.xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_DELRCPT |
	    SMFIF_QUARANTINE | SMFIF_CHGBODY,
	.xxfi_envfrom = mlfi_envfrom,
	.xxfi_envrcpt = mlfi_envrcpt,
	.xxfi_header = mlfi_header,
	.xxfi_eoh = mlfi_eoh,
	.xxfi_body = mlfi_body,
	.xxfi_eom = mlfi_eom,
	.xxfi_abort = mlfi_abort,
	.xxfi_close = mlfi_close,
	.xxfi_negotiate = mlfi_negotiate,
};
