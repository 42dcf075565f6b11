/*
 * nullmilter -- a do-nothing libmilter milter for the end-to-end benchmark
 * (contrib/bench/e2e.sh). It reads nothing and changes nothing: what it
 * costs Postfix is the price of the milter protocol alone.
 *
 *   nullmilter -p SOCKET        the naive floor: takes connect, helo, mail,
 *                               rcpt, each header, eoh, each body chunk and
 *                               eom, and Postfix waits for a reply to each.
 *   nullmilter -n -p SOCKET     the physical limit for a milter that reads
 *                               the message: the events spamsift takes, with
 *                               the same protocol options (no connect, helo,
 *                               unknown, data; no reply to mail, rcpt,
 *                               header, eoh, body), answering SMFIS_NOREPLY.
 *   nullmilter -n -H -p SOCKET  the same, and at the end of each message it
 *                               adds the four X-Spamsift-* fields spamsift
 *                               adds to an innocent message (fixed values of
 *                               the same lengths): what those fields alone
 *                               cost Postfix, with no classification.
 *
 * SOCKET is a libmilter spec (unix:/path or inet:PORT@127.0.0.1); a unix
 * socket is created world-connectable so Postfix's smtpd can reach it.
 * Benchmark tool only: depends on libmilter and nothing of spamsift.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

/* The no-reply protocol options spamsift asks for. */
#define NR_WANT (SMFIP_NOCONNECT | SMFIP_NOHELO | SMFIP_NOUNKNOWN | \
    SMFIP_NODATA | SMFIP_NR_MAIL | SMFIP_NR_RCPT | SMFIP_NR_HDR | \
    SMFIP_NR_EOH | SMFIP_NR_BODY)

/* Protocol options granted by the MTA (-n mode); same for every session. */
static unsigned long granted;

/* -H: add spamsift's four fields to every message. */
static int add_fields;

/* Answer for an event: no reply when its no-reply flag was granted. */
static sfsistat answer(unsigned long flag)
{
	return (granted & flag) ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

static sfsistat nf_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *sa)
{
	(void)ctx; (void)host; (void)sa;
	return SMFIS_CONTINUE;
}

static sfsistat nf_helo(SMFICTX *ctx, char *name)
{
	(void)ctx; (void)name;
	return SMFIS_CONTINUE;
}

static sfsistat nf_envfrom(SMFICTX *ctx, char **argv)
{
	(void)ctx; (void)argv;
	return answer(SMFIP_NR_MAIL);
}

static sfsistat nf_envrcpt(SMFICTX *ctx, char **argv)
{
	(void)ctx; (void)argv;
	return answer(SMFIP_NR_RCPT);
}

static sfsistat nf_header(SMFICTX *ctx, char *name, char *value)
{
	(void)ctx; (void)name; (void)value;
	return answer(SMFIP_NR_HDR);
}

static sfsistat nf_eoh(SMFICTX *ctx)
{
	(void)ctx;
	return answer(SMFIP_NR_EOH);
}

static sfsistat nf_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
	(void)ctx; (void)chunk; (void)len;
	return answer(SMFIP_NR_BODY);
}

static sfsistat nf_eom(SMFICTX *ctx)
{
	/* A field refused (not negotiated) fails the message: no number
	 * measured without them. */
	if (add_fields &&
	    (smfi_addheader(ctx, (char *)"X-Spamsift-Result",
	    (char *)"Innocent") != MI_SUCCESS ||
	    smfi_addheader(ctx, (char *)"X-Spamsift-Probability",
	    (char *)"0.0000") != MI_SUCCESS ||
	    smfi_addheader(ctx, (char *)"X-Spamsift-Confidence",
	    (char *)"1.00") != MI_SUCCESS ||
	    smfi_addheader(ctx, (char *)"X-Spamsift-Signature",
	    (char *)"0123456789abcdef0123456789abcdef") != MI_SUCCESS))
		return SMFIS_TEMPFAIL;
	return SMFIS_ACCEPT;
}

static sfsistat nf_negotiate(SMFICTX *ctx, unsigned long f0,
    unsigned long f1, unsigned long f2, unsigned long f3, unsigned long *pf0,
    unsigned long *pf1, unsigned long *pf2, unsigned long *pf3)
{
	(void)ctx; (void)f2; (void)f3;
	/* -H: the action it uses (asking for none, libmilter refused it) */
	*pf0 = f0 & (add_fields ? SMFIF_ADDHDRS : 0);
	*pf1 = f1 & NR_WANT;
	*pf2 = 0;
	*pf3 = 0;
	granted = *pf1;
	return SMFIS_CONTINUE;
}

static struct smfiDesc desc = {
	.xxfi_name = "nullmilter",
	.xxfi_version = SMFI_VERSION,
	.xxfi_connect = nf_connect,
	.xxfi_helo = nf_helo,
	.xxfi_envfrom = nf_envfrom,
	.xxfi_envrcpt = nf_envrcpt,
	.xxfi_header = nf_header,
	.xxfi_eoh = nf_eoh,
	.xxfi_body = nf_body,
	.xxfi_eom = nf_eom,
};

int main(int argc, char **argv)
{
	const char *sock = NULL;
	int c;

	while ((c = getopt(argc, argv, "Hnp:")) != -1) {
		switch (c) {
		case 'H':
			add_fields = 1;
			desc.xxfi_flags |= SMFIF_ADDHDRS;
			break;
		case 'n':
			desc.xxfi_negotiate = nf_negotiate;
			break;
		case 'p':
			sock = optarg;
			break;
		default:
			goto usage;
		}
	}
	if (sock == NULL || optind != argc)
		goto usage;
	umask(0);
	if (smfi_setconn((char *)sock) == MI_FAILURE ||
	    smfi_register(desc) == MI_FAILURE ||
	    smfi_opensocket(1) == MI_FAILURE) {
		fprintf(stderr, "nullmilter: cannot listen on %s\n", sock);
		return 1;
	}
	return smfi_main() == MI_SUCCESS ? 0 : 1;
usage:
	fprintf(stderr, "usage: nullmilter [-n] [-H] -p SOCKET\n");
	return 2;
}
