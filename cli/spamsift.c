/*
 * spamsift -- the command users and administrators run: train, retrain,
 * classify, tokens, lists, prefs, quarantine, stats, db, config.
 *
 * Only main() decides to stop; subcommands return an exit status:
 * 0 ok, 1 usage, 2 bad input, 3 store error.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"

#define EX_OK_ 0
#define EX_USAGE_ 1

static void usage(FILE *f)
{
	fprintf(f,
	    "usage: spamsift [-c FILE] [--db PATH] [-o Key=Value]... COMMAND [ARGS]\n"
	    "\n"
	    "Commands:\n"
	    "  train       learn messages as spam or ham\n"
	    "  retrain     correct a verdict by its signature\n"
	    "  classify    classify messages\n"
	    "  tokens      print the tokens read from messages\n"
	    "  whitelist   manage a user's whitelist\n"
	    "  blocklist   manage a user's blocklist\n"
	    "  prefs       manage a user's preferences\n"
	    "  quarantine  list, show, release, delete quarantined mail\n"
	    "  stats       per-user counters\n"
	    "  db          check, purge, vacuum the store\n"
	    "  config      check or show the configuration\n"
	    "\n"
	    "`spamsift COMMAND --help` describes a command; see spamsift(1).\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EX_USAGE_;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return EX_OK_;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("spamsift %s\n", PACKAGE_VERSION);
		return EX_OK_;
	}
	usage(stderr);
	return EX_USAGE_;
}
