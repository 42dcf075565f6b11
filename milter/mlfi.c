/*
 * mlfi -- libmilter callbacks (see mlfi.h).
 *
 * Protocol economy: every event Postfix must wait for costs a round trip, so
 * the negotiation skips the steps we do not use and asks for no-reply on the
 * headers and body chunks we only read.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "milter/log.h"
#include "milter/mlfi.h"

/* The current configuration snapshot; swapped under lock on reload. */
static pthread_mutex_t conf_lock = PTHREAD_MUTEX_INITIALIZER;
static conf *current;

/* Per-connection state. */
typedef struct conn {
	conf *cf;               /* config snapshot for the connection's life */
	char *client_addr;      /* client IP address */
	char *queue_id;         /* Postfix queue id of the current message */
	unsigned long pflags;   /* protocol flags granted by the MTA */
} conn;

int mlfi_init(conf *c, const char *path, char **overrides, size_t noverrides)
{
	(void)path;
	(void)overrides;
	(void)noverrides;
	current = conf_ref(c);
	return 0;
}

void mlfi_shutdown(void)
{
	pthread_mutex_lock(&conf_lock);
	conf_unref(current);
	current = NULL;
	pthread_mutex_unlock(&conf_lock);
}

static conf *snapshot(void)
{
	conf *c;

	pthread_mutex_lock(&conf_lock);
	c = conf_ref(current);
	pthread_mutex_unlock(&conf_lock);
	return c;
}

static void msg_reset(conn *cn)
{
	free(cn->queue_id);
	cn->queue_id = NULL;
}

static sfsistat mlfi_negotiate(SMFICTX *ctx, unsigned long f0,
    unsigned long f1, unsigned long f2, unsigned long f3, unsigned long *pf0,
    unsigned long *pf1, unsigned long *pf2, unsigned long *pf3)
{
	unsigned long want = SMFIP_NOCONNECT | SMFIP_NOHELO | SMFIP_NOUNKNOWN |
	    SMFIP_NODATA | SMFIP_NR_HDR | SMFIP_NR_EOH | SMFIP_NR_BODY |
	    SMFIP_NR_MAIL | SMFIP_NR_RCPT | SMFIP_NOHDRS | SMFIP_NOBODY |
	    SMFIP_NOEOH | SMFIP_NORCPT;
	conn *cn;

	(void)f2;
	(void)f3;
	*pf0 = f0 & (SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_DELRCPT |
	    SMFIF_QUARANTINE);
	*pf1 = f1 & want;
	*pf2 = 0;
	*pf3 = 0;
	cn = calloc(1, sizeof(*cn));
	if (cn == NULL)
		return SMFIS_TEMPFAIL;
	cn->cf = snapshot();
	cn->pflags = *pf1;
	smfi_setpriv(ctx, cn);
	return SMFIS_CONTINUE;
}

/* A callback granted a no-reply flag must answer SMFIS_NOREPLY. */
static sfsistat reply(SMFICTX *ctx, unsigned long flag, sfsistat normal)
{
	conn *cn = smfi_getpriv(ctx);

	if (cn != NULL && (cn->pflags & flag) && normal == SMFIS_CONTINUE)
		return SMFIS_NOREPLY;
	return normal;
}

static sfsistat mlfi_envfrom(SMFICTX *ctx, char **argv)
{
	(void)argv;
	return reply(ctx, SMFIP_NR_MAIL, SMFIS_CONTINUE);
}

static sfsistat mlfi_eom(SMFICTX *ctx)
{
	conn *cn = smfi_getpriv(ctx);
	const char *qid = smfi_getsymval(ctx, "i");

	if (cn != NULL) {
		log_info("%s: accepted", qid ? qid : "NOQUEUE");
		msg_reset(cn);
	}
	return SMFIS_ACCEPT;
}

static sfsistat mlfi_abort(SMFICTX *ctx)
{
	conn *cn = smfi_getpriv(ctx);

	if (cn != NULL)
		msg_reset(cn);
	return SMFIS_CONTINUE;
}

static sfsistat mlfi_close(SMFICTX *ctx)
{
	conn *cn = smfi_getpriv(ctx);

	if (cn != NULL) {
		msg_reset(cn);
		conf_unref(cn->cf);
		free(cn->client_addr);
		free(cn);
		smfi_setpriv(ctx, NULL);
	}
	return SMFIS_CONTINUE;
}

struct smfiDesc mlfi_desc = {
	.xxfi_name = "spamsift",
	.xxfi_version = SMFI_VERSION,
	.xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_DELRCPT |
	    SMFIF_QUARANTINE,
	.xxfi_envfrom = mlfi_envfrom,
	.xxfi_eom = mlfi_eom,
	.xxfi_abort = mlfi_abort,
	.xxfi_close = mlfi_close,
	.xxfi_negotiate = mlfi_negotiate,
};
