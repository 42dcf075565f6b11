/*
 * check_conf -- Check suite for conf/ (spamsift.conf parser, -o overrides,
 * derived defaults, preferences). Fixtures live in tests/data/conf/.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/conf.h"
#include "conf/profile.h"
#include "conf/usermap.h"
#include "tests/testutil.h"

#define DATA TEST_DATA_DIR "/conf/"
#define SAMPLE TEST_DATA_DIR "/../../conf/spamsift.conf"

static conf *c;
static char err[1024];
static char warns[16384]; /* every warning, one per line */
static int nwarn;

static void collect(void *arg, const char *text)
{
	(void)arg;
	strncat(warns, text, sizeof(warns) - strlen(warns) - 2);
	strcat(warns, "\n");
	nwarn++;
}

static void setup(void)
{
	ck_assert_int_eq(conf_new(&c), 0);
	err[0] = '\0';
	warns[0] = '\0';
	nwarn = 0;
}

static void teardown(void)
{
	conf_unref(c);
	c = NULL;
}

/* Parse text as if it were file "t.conf". */
static int parse(const char *text)
{
	return conf_parse(c, "t.conf", text, strlen(text), err, sizeof(err),
	    collect, NULL);
}

#define ck_err(text, want) do { \
	ck_assert_int_eq(parse(text), -EINVAL); \
	ck_assert_msg(strstr(err, want) != NULL, "error \"%s\" lacks \"%s\"", err, want); \
} while (0)

START_TEST(test_defaults)
{
	size_t n;
	const char *const *l;

	ck_assert_str_eq(conf_str(c, "Home"), LOCALSTATEDIR "/lib/spamsift");
	ck_assert_str_eq(conf_str(c, "Socket"), "unix:/run/spamsift/spamsift.sock");
	ck_assert_ptr_null(conf_str(c, "User"));
	ck_assert_ptr_null(conf_str(c, "Group"));
	ck_assert_ptr_null(conf_str(c, "PidFile"));
	ck_assert_ptr_null(conf_str(c, "SocketOwner"));
	ck_assert_int_eq(conf_int(c, "SocketMode"), 0660);
	ck_assert_str_eq(conf_str(c, "SocketMode"), "0660");
	ck_assert_str_eq(conf_str(c, "SyslogFacility"), "mail");
	ck_assert_str_eq(conf_str(c, "OnFail"), "tempfail");
	ck_assert_str_eq(conf_str(c, "TrainingMode"), "teft");
	ck_assert_int_eq(conf_bool(c, "TestConditionalTraining"), 1);
	ck_assert_str_eq(conf_str(c, "Algorithm"), "chi-square");
	ck_assert_str_eq(conf_str(c, "PValue"), "robinson");
	ck_assert_double_eq_tol(conf_double(c, "RobinsonS"), 0.0003, 1e-12);
	ck_assert_double_eq_tol(conf_double(c, "RobinsonX"), 0.52, 1e-12);
	ck_assert_double_eq_tol(conf_double(c, "MinDev"), 0.1, 1e-12);
	ck_assert_double_eq_tol(conf_double(c, "SpamThreshold"), 0.9, 1e-12);
	ck_assert_int_eq(conf_int(c, "GrahamTokens"), 15);
	ck_assert_int_eq(conf_int(c, "BurtonTokens"), 27);
	ck_assert_int_eq(conf_int(c, "TumMaturity"), 2500);
	ck_assert_int_eq(conf_bool(c, "GlobalModel"), 1);
	ck_assert_int_eq(conf_int(c, "WhitelistThreshold"), 10);
	ck_assert_int_eq(conf_int(c, "SignatureLife"), 14);
	ck_assert_int_eq(conf_int(c, "QuarantineLife"), 30);
	ck_assert_str_eq(conf_str(c, "QuarantineMode"), "spamsift");
	ck_assert_int_eq(conf_int(c, "QuarantineMemory"), 1048576);
	ck_assert_str_eq(conf_str(c, "TempDir"), "/tmp");
	ck_assert_int_eq(conf_int(c, "PurgeStaleDays"), 90);
	ck_assert_int_eq(conf_int(c, "PurgeMaxHits"), 1);
	ck_assert_int_eq(conf_bool(c, "SkipAuthenticated"), 1);
	ck_assert_str_eq(conf_str(c, "RejectText"), "5.7.1 Message rejected as spam");
	ck_assert_int_eq(conf_int(c, "MaxScanBytes"), 524288);
	ck_assert_int_eq(conf_int(c, "MaxTokens"), 20000);
	ck_assert_int_eq(conf_int(c, "MaxHeaderLength"), 16384);
	ck_assert_int_eq(conf_int(c, "MaxMimeDepth"), 16);
	ck_assert_int_eq(conf_int(c, "MaxTokenLength"), 40);
	ck_assert_str_eq(conf_str(c, "UserMap"), "full");
	l = conf_list(c, "Trust", &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(l[0], "root");
	ck_assert_int_ne(conf_has_feature(c, "chained"), 0);
	ck_assert_int_ne(conf_has_feature(c, "WHITELIST"), 0);
	ck_assert_int_eq(conf_has_feature(c, "noise"), 0);
	ck_assert_ptr_null(conf_list(c, "DebugPeer", &n));
	ck_assert_uint_eq(n, 0);
	/* Keys are case-insensitive for queries too. */
	ck_assert_int_eq(conf_int(c, "maxtokens"), 20000);
}
END_TEST

START_TEST(test_finish_derives_storepath)
{
	ck_assert_ptr_null(conf_str(c, "StorePath"));
	ck_assert_int_eq(conf_set(c, "Home=/srv/ss/", err, sizeof(err)), 0);
	ck_assert_int_eq(conf_finish(c, err, sizeof(err)), 0);
	ck_assert_str_eq(conf_str(c, "StorePath"), "/srv/ss/spamsift.db");
	/* Twice is harmless. */
	ck_assert_int_eq(conf_finish(c, err, sizeof(err)), 0);
	ck_assert_str_eq(conf_str(c, "StorePath"), "/srv/ss/spamsift.db");
}
END_TEST

START_TEST(test_finish_relative_and_absolute_store)
{
	conf *d;

	ck_assert_int_eq(parse("Home /srv/ss\nStorePath data/x.db\n"), 0);
	ck_assert_int_eq(conf_finish(c, err, sizeof(err)), 0);
	ck_assert_str_eq(conf_str(c, "StorePath"), "/srv/ss/data/x.db");

	ck_assert_int_eq(conf_new(&d), 0);
	ck_assert_int_eq(conf_set(d, "StorePath=/elsewhere/s.db", err, sizeof(err)), 0);
	ck_assert_int_eq(conf_finish(d, err, sizeof(err)), 0);
	ck_assert_str_eq(conf_str(d, "StorePath"), "/elsewhere/s.db");
	conf_unref(d);
}
END_TEST

START_TEST(test_finish_constraints)
{
	ck_assert_int_eq(parse("Home /srv\nGroup mail\n"), 0);
	ck_assert_int_eq(conf_finish(c, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "t.conf:2: Group: needs User");
	ck_assert_int_eq(conf_set(c, "User=spamsift", err, sizeof(err)), 0);
	ck_assert_int_eq(conf_finish(c, err, sizeof(err)), 0);

	ck_assert_int_eq(conf_set(c, "UserMap=alias", err, sizeof(err)), 0);
	ck_assert_int_eq(conf_finish(c, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "-o: UserMap: alias needs AliasFile");
	ck_assert_int_eq(conf_set(c, "AliasFile=/etc/spamsift/aliases", err, sizeof(err)), 0);
	ck_assert_int_eq(conf_finish(c, err, sizeof(err)), 0);

	ck_assert_int_eq(conf_set(c, "MaxTokens=100", err, sizeof(err)), 0);
	ck_assert_int_eq(conf_set(c, "BurtonTokens=200", err, sizeof(err)), 0);
	ck_assert_int_eq(conf_finish(c, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "MaxTokens"));
	ck_assert_int_eq(conf_set(c, "BurtonTokens=27", err, sizeof(err)), 0);

	/* A StorePath made from Home names Home's line when too long. */
	{
		char *home = malloc(5000);
		conf *d;

		ck_assert_ptr_nonnull(home);
		memcpy(home, "Home /", 6);
		memset(home + 6, 'a', 4088);
		strcpy(home + 4094, "\n");
		ck_assert_int_eq(conf_new(&d), 0);
		ck_assert_int_eq(conf_parse(d, "h.conf", home, strlen(home), err,
		    sizeof(err), NULL, NULL), 0);
		free(home);
		ck_assert_int_eq(conf_finish(d, err, sizeof(err)), -EINVAL);
		ck_assert_str_eq(err, "h.conf:1: StorePath: path too long");
		conf_unref(d);
	}

	ck_assert_int_eq(parse("SpamThreshold 0.9\nPreference \"rejectThreshold=0.5\"\n"), 0);
	ck_assert_int_eq(conf_finish(c, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "t.conf:2: Preference: rejectThreshold 0.5 is below SpamThreshold 0.9");
}
END_TEST

START_TEST(test_override_relative_paths)
{
	char dir[128], want[256];

	test_mkdtemp(dir, sizeof(dir), "check_conf");
	ck_assert_int_eq(chdir(dir), 0);
	ck_assert_int_eq(conf_set(c, "Home=run", err, sizeof(err)), 0);
	snprintf(want, sizeof(want), "%s/run", dir);
	ck_assert_str_eq(conf_str(c, "Home"), want);
	ck_assert_int_eq(conf_set(c, "StorePath=x.db", err, sizeof(err)), 0);
	ck_assert_int_eq(conf_finish(c, err, sizeof(err)), 0);
	snprintf(want, sizeof(want), "%s/x.db", dir);
	ck_assert_str_eq(conf_str(c, "StorePath"), want);
	/* In a file, a relative Home is an error. */
	ck_err("Home run\n", "t.conf:1: Home: must be an absolute path");
	ck_assert_int_eq(chdir("/"), 0);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

START_TEST(test_string_and_path)
{
	ck_assert_int_eq(parse("Home /data\nPidFile /run/spamsift.pid\nSocketOwner postfix\n"), 0);
	ck_assert_str_eq(conf_str(c, "Home"), "/data");
	ck_assert_str_eq(conf_str(c, "PidFile"), "/run/spamsift.pid");
	ck_assert_str_eq(conf_str(c, "SocketOwner"), "postfix");
	ck_err("\nHome relative/dir\n", "t.conf:2: Home: must be an absolute path");
	ck_err("TempDir \"\"\n", "t.conf:1: TempDir: must not be empty");
	ck_err("SocketOwner bad:user\n", "t.conf:1: SocketOwner: not a valid user or group name");
	/* Quoted empty clears an optional string. */
	ck_assert_int_eq(parse("PidFile \"\"\n"), 0);
	ck_assert_ptr_null(conf_str(c, "PidFile"));
}
END_TEST

START_TEST(test_socket)
{
	ck_assert_int_eq(parse("Socket inet:8891@127.0.0.1\n"), 0);
	ck_assert_str_eq(conf_str(c, "Socket"), "inet:8891@127.0.0.1");
	ck_assert_int_eq(parse("Socket local:/var/run/s.sock\n"), 0);
	ck_assert_int_eq(parse("Socket /var/run/s.sock\n"), 0);
	ck_assert_int_eq(parse("Socket inet6:8891@[::1]\n"), 0);
	/* libmilter takes any case; the daemon's socket handling wants lower. */
	ck_assert_int_eq(parse("Socket UNIX:/var/run/S.sock\n"), 0);
	ck_assert_str_eq(conf_str(c, "Socket"), "unix:/var/run/S.sock");
	ck_assert_int_eq(parse("Socket Inet:8891@LocalHost\n"), 0);
	ck_assert_str_eq(conf_str(c, "Socket"), "inet:8891@LocalHost");
	ck_err("Socket inet:99999@localhost\n", "t.conf:1: Socket: expected inet:PORT@HOST");
	ck_err("Socket unix:relative.sock\n", "t.conf:1: Socket: socket path must be absolute");
	ck_err("Socket tcp:1234\n", "t.conf:1: Socket: expected unix:PATH");
	{
		/* a Unix socket's name: 106 bytes at most, as libmilter takes
		 * it (it failed at start on a longer one that -t had passed) */
		char line[300], path[200];

		memset(path, 's', sizeof(path));
		memcpy(path, "/tmp/", 5);
		path[106] = '\0';
		snprintf(line, sizeof(line), "Socket unix:%s\n", path);
		ck_assert_int_eq(parse(line), 0);
		snprintf(line, sizeof(line), "Socket %s\n", path);
		ck_assert_int_eq(parse(line), 0);
		path[106] = 's';
		path[107] = '\0';
		snprintf(line, sizeof(line), "Socket unix:%s\n", path);
		ck_err(line, "t.conf:1: Socket: socket path longer than the 106 bytes");
		snprintf(line, sizeof(line), "Socket local:%s\n", path);
		ck_err(line, "t.conf:1: Socket: socket path longer");
		snprintf(line, sizeof(line), "Socket %s\n", path);
		ck_err(line, "t.conf:1: Socket: socket path longer");
	}
}
END_TEST

START_TEST(test_int)
{
	ck_assert_int_eq(parse("GrahamTokens 20\nMaxScanBytes 2M\nQuarantineMemory 64k\n"), 0);
	ck_assert_int_eq(conf_int(c, "GrahamTokens"), 20);
	ck_assert_int_eq(conf_int(c, "MaxScanBytes"), 2L << 20);
	ck_assert_int_eq(conf_int(c, "QuarantineMemory"), 65536);
	ck_assert_str_eq(conf_str(c, "QuarantineMemory"), "65536");
	ck_err("GrahamTokens 0\n", "t.conf:1: GrahamTokens: must be from 1 to 1000");
	ck_err("GrahamTokens 12abc\n", "t.conf:1: GrahamTokens: not an integer");
	ck_err("GrahamTokens 1k\n", "GrahamTokens: not an integer"); /* no suffix here */
	/* Too many digits for a long is out of range, not "not an integer". */
	ck_err("MaxTokens 99999999999999999999999\n", "t.conf:1: MaxTokens: must be from 100 to 10000000");
	ck_err("MaxTokens -99999999999999999999999\n", "MaxTokens: must be from 100 to 10000000");
	ck_err("TokenCacheSize 99999999999999999999k\n", "TokenCacheSize: must be from 0 to");
	ck_err("MaxTokens 99999999999999999999999x\n", "MaxTokens: not an integer");
	ck_err("MaxScanBytes 5G\n", "MaxScanBytes: must be from 1024 to");
	ck_err("MaxTokens -5\n", "MaxTokens: must be from 100 to");
	ck_err("MaxTokens\n", "t.conf:1: MaxTokens: missing value");
	ck_err("MaxTokens   \t \n", "t.conf:1: MaxTokens: missing value");
}
END_TEST

START_TEST(test_octal)
{
	ck_assert_int_eq(parse("SocketMode 600\n"), 0);
	ck_assert_int_eq(conf_int(c, "SocketMode"), 0600);
	ck_assert_str_eq(conf_str(c, "SocketMode"), "0600");
	ck_err("SocketMode 0689\n", "t.conf:1: SocketMode: not an octal number");
	ck_err("SocketMode 77777\n", "SocketMode: must be from 0 to 07777");
	ck_err("SocketMode 7777777777777777777777777\n", "SocketMode: must be from 0 to 07777");
}
END_TEST

START_TEST(test_recipient_delimiter)
{
	ck_assert_int_eq(parse("RecipientDelimiter +-\n"), 0);
	ck_assert_str_eq(conf_str(c, "RecipientDelimiter"), "+-");
	ck_err("RecipientDelimiter @\n", "RecipientDelimiter: '@' cannot start");
	ck_err("RecipientDelimiter +-_.=!#$%&\n", "RecipientDelimiter: at most 8");
}
END_TEST

START_TEST(test_double)
{
	ck_assert_int_eq(parse("SpamThreshold 0.95\nRobinsonX .52\nMinDev 0\n"), 0);
	ck_assert_double_eq_tol(conf_double(c, "SpamThreshold"), 0.95, 1e-12);
	ck_assert_double_eq_tol(conf_double(c, "RobinsonX"), 0.52, 1e-12);
	ck_assert_double_eq_tol(conf_double(c, "MinDev"), 0.0, 1e-12);
	ck_err("SpamThreshold high\n", "t.conf:1: SpamThreshold: not a number");
	ck_err("SpamThreshold nan\n", "SpamThreshold: not a number");
	ck_err("SpamThreshold inf\n", "SpamThreshold: not a number");
	ck_err("MinDev 0.6\n", "t.conf:1: MinDev: must be from 0 to 0.5");
}
END_TEST

START_TEST(test_bool)
{
	static const char *yes[] = { "on", "YES", "true", "1" };
	static const char *no[] = { "off", "No", "FALSE", "0" };
	char line[64];

	for (size_t i = 0; i < 4; i++) {
		snprintf(line, sizeof(line), "GlobalModel %s\n", no[i]);
		ck_assert_int_eq(parse(line), 0);
		ck_assert_int_eq(conf_bool(c, "GlobalModel"), 0);
		ck_assert_str_eq(conf_str(c, "GlobalModel"), "off");
		snprintf(line, sizeof(line), "GlobalModel %s\n", yes[i]);
		ck_assert_int_eq(parse(line), 0);
		ck_assert_int_eq(conf_bool(c, "GlobalModel"), 1);
		ck_assert_str_eq(conf_str(c, "GlobalModel"), "on");
	}
	ck_err("GlobalModel maybe\n", "t.conf:1: GlobalModel: must be on or off");
}
END_TEST

START_TEST(test_enum)
{
	ck_assert_int_eq(parse("SyslogFacility LOCAL5\nQuarantineMode Postfix\n"), 0);
	ck_assert_str_eq(conf_str(c, "SyslogFacility"), "local5");
	ck_assert_str_eq(conf_str(c, "QuarantineMode"), "postfix");
	ck_err("SyslogFacility local8\n", "t.conf:1: SyslogFacility: must be mail, daemon,");
	ck_err("TrainingMode sometimes\n", "TrainingMode: must be teft, toe, tum or notrain");
	ck_err("OnFail bounce\n", "OnFail: must be tempfail or accept");
}
END_TEST

START_TEST(test_dspam_enum_aliases)
{
	ck_assert_int_eq(parse("OnFail error\n"), 0);
	ck_assert_str_eq(conf_str(c, "OnFail"), "tempfail");
	ck_assert_ptr_nonnull(strstr(warns, "t.conf:1: OnFail: DSPAM value error"));
	ck_assert_int_eq(parse("Algorithm graham burton\n"), 0);
	ck_assert_str_eq(conf_str(c, "Algorithm"), "burton");
	ck_assert_ptr_nonnull(strstr(warns, "t.conf:1: Algorithm: spamsift uses one algorithm; using burton"));
	ck_assert_int_eq(parse("Algorithm graham\n"), 0);
	ck_assert_str_eq(conf_str(c, "Algorithm"), "graham");
	ck_assert_int_eq(parse("Algorithm naive chi-square\n"), 0);
	ck_assert_str_eq(conf_str(c, "Algorithm"), "chi-square");
	ck_err("Algorithm graham bogus\n", "Algorithm: bogus is not one of");
	ck_assert_int_eq(parse("PValue BCR\n"), 0);
	ck_assert_str_eq(conf_str(c, "PValue"), "graham");
	ck_assert_ptr_nonnull(strstr(warns, "PValue: bcr is computed as graham"));
	ck_assert_int_eq(parse("PValue markov\n"), 0);
	ck_assert_str_eq(conf_str(c, "PValue"), "robinson");
	ck_err("PValue fisher\n", "PValue: must be robinson or graham");
}
END_TEST

START_TEST(test_feature_and_tokenizer)
{
	size_t n;

	/* The first line replaces the built-in default; later ones add. */
	ck_assert_int_eq(parse("Feature noise\nFeature osb, whitelist\n"), 0);
	ck_assert_ptr_nonnull(conf_list(c, "Feature", &n));
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(conf_has_feature(c, "chained"), 0);
	ck_assert_int_ne(conf_has_feature(c, "osb"), 0);
	ck_assert_int_ne(conf_has_feature(c, "noise"), 0);
	ck_assert_int_eq(nwarn, 0);
	ck_assert_int_eq(parse("Feature tb=5\nFeature sbph\n"), 0);
	ck_assert_int_eq(nwarn, 2);
	ck_assert_ptr_nonnull(strstr(warns, "t.conf:1: Feature: DSPAM training buffer tb=5"));
	ck_assert_ptr_nonnull(strstr(warns, "t.conf:2: Feature: sbph is not supported; using osb"));
	ck_err("Feature telepathy\n", "t.conf:1: Feature: telepathy is not one of chained, osb, noise or whitelist");
	ck_err("Feature tb=x\n", "Feature: tb= needs a number");

	/* Tokenizer replaces chained/osb at conf_finish. */
	ck_assert_int_eq(parse("Tokenizer chain\n"), 0);
	ck_assert_str_eq(conf_str(c, "Tokenizer"), "chained");
	ck_assert_int_eq(conf_finish(c, err, sizeof(err)), 0);
	ck_assert_int_eq(conf_has_feature(c, "osb"), 0);
	ck_assert_int_ne(conf_has_feature(c, "chained"), 0);
	ck_assert_int_ne(conf_has_feature(c, "noise"), 0);
	ck_assert_int_eq(conf_set(c, "Tokenizer=word", err, sizeof(err)), 0);
	ck_assert_int_eq(conf_finish(c, err, sizeof(err)), 0);
	ck_assert_int_eq(conf_has_feature(c, "chained"), 0);
	ck_assert_int_ne(conf_has_feature(c, "whitelist"), 0);
	ck_err("Tokenizer markov\n", "Tokenizer: must be word, chained or osb");
}
END_TEST

/* A Feature line that is only ignored (DSPAM's tb=N) keeps the default. */
START_TEST(test_feature_ignored_keeps_default)
{
	ck_assert_int_eq(parse("Feature tb=5\n"), 0);
	ck_assert_int_ne(conf_has_feature(c, "chained"), 0);
	ck_assert_int_ne(conf_has_feature(c, "whitelist"), 0);
	ck_assert_int_eq(parse("Feature noise\n"), 0);
	ck_assert_int_eq(conf_has_feature(c, "chained"), 0);
	ck_assert_int_ne(conf_has_feature(c, "noise"), 0);
}
END_TEST

START_TEST(test_lists)
{
	const char *const *l;
	size_t n;

	ck_assert_int_eq(parse("Trust postfix\nTrust amavis  spamsift\n"), 0);
	l = conf_list(c, "Trust", &n);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(l[0], "postfix");
	ck_assert_str_eq(l[1], "amavis");
	ck_assert_str_eq(l[2], "spamsift");
	/* "" clears a list. */
	ck_assert_int_eq(parse("Trust \"\"\n"), 0);
	ck_assert_ptr_null(conf_list(c, "Trust", &n));
	ck_assert_uint_eq(n, 0);

	ck_assert_int_eq(parse("DebugPeer 192.0.2.1\nDebugPeer 2001:db8::/32 mx1.example.org\n"), 0);
	conf_list(c, "DebugPeer", &n);
	ck_assert_uint_eq(n, 3);
	ck_err("DebugPeer 192.0.2.0/33\n", "t.conf:1: DebugPeer: not an IP address, network or host name");
	ck_err("DebugPeer bad!host\n", "DebugPeer: not an IP address");
	ck_assert_int_eq(parse("SkipNetworks 10.0.0.0/8, 192.168.0.0/16\n"), 0);
	conf_list(c, "SkipNetworks", &n);
	ck_assert_uint_eq(n, 2);
	ck_err("SkipNetworks mx.example.org\n", "SkipNetworks: not an IP address or network");
	ck_err("SkipNetworks 10.0.0.0/x\n", "SkipNetworks: not an IP address or network");

	ck_assert_int_eq(parse("IgnoreHeader X-Spam-Status:\nIgnoreHeader Received\n"), 0);
	l = conf_list(c, "IgnoreHeader", &n);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(l[0], "X-Spam-Status");
	ck_err("IgnoreHeader :\n", "IgnoreHeader: not a header field name");
	ck_err("IgnoreHeader \"X-Spam-Status\" \"X-Spam-Level\"\n",
	    "IgnoreHeader: not a header field name (names are not quoted one by one)");
	ck_assert_int_eq(parse("IgnoreHeader \"X-Spam-Status X-Spam-Level\"\n"), 0);
	l = conf_list(c, "IgnoreHeader", &n);
	ck_assert_uint_eq(n, 4);        /* (the two above, the two here) */
	ck_assert_str_eq(l[3], "X-Spam-Level");
}
END_TEST

START_TEST(test_reject_text)
{
	ck_assert_int_eq(parse("RejectText \"5.7.1 100%% spam\"\n"), 0);
	ck_assert_str_eq(conf_str(c, "RejectText"), "5.7.1 100%% spam");
	ck_err("RejectText 5.7.1 100% spam\n", "RejectText: write a literal % as %%");
	ck_err("RejectText \"caf\xc3\xa9\"\n", "RejectText: must be printable ASCII");
	/*
	 * A status code the milter cannot send was taken: libmilter refused
	 * it, or it went out as part of the text after 5.7.1.
	 */
	ck_err("RejectText \"5.1234.1 no\"\n",
	    "RejectText: malformed enhanced status code '5.1234.1'");
	ck_err("RejectText \"5.7 no\"\n", "malformed enhanced status code '5.7'");
	ck_err("RejectText \"5..1 no\"\n", "malformed enhanced status code");
	ck_err("RejectText \"4.7.1 no\"\n", "its class must be 5");
	ck_err("RejectText 5.7.1\n", "text must follow the status code 5.7.1");
	/* A reply code first is dropped, with a warning: it is always 550. */
	ck_assert_int_eq(parse("RejectText \"550 5.7.0 go away\"\n"), 0);
	ck_assert_str_eq(conf_str(c, "RejectText"), "5.7.0 go away");
	ck_assert_ptr_nonnull(strstr(warns,
	    "t.conf:1: RejectText: the reply code is always 550; '550' dropped"));
	/* ... and one with nothing after it left an empty text (refused
	 * when written empty) */
	ck_err("RejectText 550\n", "t.conf:1: RejectText: no text after the reply code");
	ck_err("RejectText \"550  \"\n", "RejectText: no text after the reply code");
	/* Text that only starts with a number is text. */
	ck_assert_int_eq(parse("RejectText \"1.5 million spams a day\"\n"), 0);
	ck_assert_str_eq(conf_str(c, "RejectText"), "1.5 million spams a day");
}
END_TEST

/* What the milter sends for RejectText: its own status code, or 5.7.1. */
START_TEST(test_reply_split)
{
	char x[16];

	ck_assert_str_eq(conf_reply_split("5.7.0 go away", x, sizeof(x)), "go away");
	ck_assert_str_eq(x, "5.7.0");
	ck_assert_str_eq(conf_reply_split("5.123.456  spam", x, sizeof(x)), "spam");
	ck_assert_str_eq(x, "5.123.456");
	ck_assert_str_eq(conf_reply_split("spam 5.7.1", x, sizeof(x)), "spam 5.7.1");
	ck_assert_str_eq(x, "5.7.1");
	ck_assert_str_eq(conf_reply_split("5.7.1", x, sizeof(x)), "5.7.1");
	ck_assert_str_eq(x, "5.7.1");
	ck_assert_str_eq(conf_reply_split("5.1234.1 no", x, sizeof(x)), "5.1234.1 no");
	ck_assert_str_eq(x, "5.7.1");
}
END_TEST

START_TEST(test_unknown_key)
{
	ck_assert_int_eq(conf_load(c, DATA "unknown-key.conf", err, sizeof(err),
	    collect, NULL), -EINVAL);
	ck_assert_str_eq(err, DATA "unknown-key.conf:3: StorPath: unknown key (did you mean StorePath?)");
	ck_err("Frobnicate yes\n", "t.conf:1: Frobnicate: unknown key");
	ck_assert_ptr_null(strstr(err, "did you mean"));
	ck_err("Fr\xff\x01" "b yes\n", "t.conf:1: Fr??b: invalid key name");
}
END_TEST

START_TEST(test_bad_value_file)
{
	ck_assert_int_eq(conf_load(c, DATA "bad-double.conf", err, sizeof(err),
	    collect, NULL), -EINVAL);
	ck_assert_str_eq(err, DATA "bad-double.conf:4: SpamThreshold: must be from 0 to 1");
}
END_TEST

START_TEST(test_unreadable_file)
{
	ck_assert_int_eq(conf_load(c, DATA "does-not-exist.conf", err, sizeof(err),
	    NULL, NULL), -ENOENT);
	ck_assert_str_eq(err, DATA "does-not-exist.conf: No such file or directory");
	ck_assert_int_eq(conf_load(c, DATA, err, sizeof(err), NULL, NULL), -EISDIR);
	ck_assert_ptr_nonnull(strstr(err, "Is a directory"));
}
END_TEST

START_TEST(test_dspam_keys_warn)
{
	ck_assert_int_eq(parse("Home /srv\nMySQLServer localhost\nDeliveryHost 127.0.0.1\n"
	    "StorageDriver /usr/lib/dspam/libhash_drv.so\nPurgeHapaxes 30\nServerPID\n"), 0);
	ck_assert_int_eq(nwarn, 5);
	ck_assert_ptr_nonnull(strstr(warns, "t.conf:2: MySQLServer: DSPAM setting not used by spamsift; ignored"));
	ck_assert_ptr_nonnull(strstr(warns, "t.conf:3: DeliveryHost:"));
	ck_assert_ptr_nonnull(strstr(warns, "t.conf:4: StorageDriver:"));
	ck_assert_ptr_nonnull(strstr(warns, "t.conf:5: PurgeHapaxes:"));
	ck_assert_ptr_nonnull(strstr(warns, "t.conf:6: ServerPID:"));
	/* Our own Purge* keys are not swallowed by the DSPAM family. */
	ck_assert_int_eq(parse("PurgeStaleDays 30\n"), 0);
	ck_assert_int_eq(conf_int(c, "PurgeStaleDays"), 30);
	ck_assert_int_eq(nwarn, 5);
	/* ... and a typo in them is an error, not a DSPAM key. */
	ck_err("PurgeStaleDay 30\n", "t.conf:1: PurgeStaleDay: unknown key (did you mean PurgeStaleDays?)");
}
END_TEST

/*
 * The keys DSPAM's own dspam.conf shows (commented out, for the admin to
 * enable) load too: ClassAlias is a family (ClassAliasSpam), so are
 * Failover.PROFILE / FailoverAttempts and Oracle's Ora*; Lookup, RABLQueue
 * and the SQL section's PurgeSignature are plain keys. They were "unknown".
 */
START_TEST(test_dspam_conf_examples_load)
{
	ck_assert_int_eq(parse("ClassAliasSpam badstuff\nClassAliasNonspam goodstuff\n"
	    "Failover.DECAlpha SUN420R\nFailoverAttempts 1\n"
	    "OraServer \"(DESCRIPTION=(ADDRESS=(PROTOCOL=TCP)))\"\nOraUser dspam\n"
	    "Lookup \"sbl.yourdomain.com\"\nRABLQueue /var/spool/rabl\n"
	    "PurgeSignature off # Specified in purge.sql\n"
	    "ProcessorBias on\nPlusedCharacter +\nExtLookupServer x\n"), 0);
	ck_assert_int_eq(nwarn, 12);
	ck_assert_ptr_nonnull(strstr(warns, "t.conf:1: ClassAliasSpam: DSPAM setting not used"));
	ck_assert_ptr_nonnull(strstr(warns, "t.conf:3: Failover.DECAlpha: DSPAM setting"));
	ck_assert_ptr_nonnull(strstr(warns, "t.conf:5: OraServer: DSPAM setting"));
	ck_assert_ptr_nonnull(strstr(warns, "t.conf:8: RABLQueue: DSPAM setting"));
	ck_assert_ptr_nonnull(strstr(warns, "t.conf:9: PurgeSignature: DSPAM setting"));
	/* spamsift's own Opt is not taken for Oracle's family */
	ck_assert_int_eq(parse("Opt in\n"), 0);
	ck_assert_str_eq(conf_str(c, "Opt"), "in");
}
END_TEST

START_TEST(test_dspam_site_config)
{
	const char *const *l;
	size_t n;

	ck_assert_int_eq(conf_load(c, DATA "dspam-site.conf", err, sizeof(err),
	    collect, NULL), 0);
	ck_assert_int_eq(conf_finish(c, err, sizeof(err)), 0);
	ck_assert_int_gt(nwarn, 40);
	ck_assert_ptr_nonnull(strstr(warns, "dspam-site.conf:4: StorageDriver: DSPAM setting"));
	ck_assert_ptr_nonnull(strstr(warns, "dspam-site.conf:10: OnFail: DSPAM value error"));
	ck_assert_str_eq(conf_str(c, "Home"), "/var/spool/dspam");
	ck_assert_str_eq(conf_str(c, "StorePath"), "/var/spool/dspam/spamsift.db");
	ck_assert_str_eq(conf_str(c, "Algorithm"), "burton");
	ck_assert_str_eq(conf_str(c, "PValue"), "graham");
	l = conf_list(c, "Trust", &n);
	ck_assert_uint_eq(n, 4);
	ck_assert_str_eq(l[3], "postfix");
	ck_assert_int_ne(conf_has_feature(c, "chained"), 0);
	ck_assert_int_ne(conf_has_feature(c, "noise"), 0);
	ck_assert_str_eq(conf_pref_default(c, "spamAction"), "quarantine");
	ck_assert_str_eq(conf_pref_default(c, "signatureLocation"), "message");
	ck_assert_int_ne(conf_pref_overridable(c, "spamaction"), 0);
	ck_assert_int_eq(conf_pref_overridable(c, "trainingMode"), 0);
	conf_list(c, "IgnoreHeader", &n);
	ck_assert_uint_eq(n, 2);
	/* DSPAM preferences spamsift lacks load with a warning (they were
	 * errors: a stock dspam.conf did not load), and DSPAM's
	 * spamAction=deliver is tag. */
	ck_assert_ptr_nonnull(strstr(warns, "tagSpam: DSPAM preference not used"));
	ck_assert_ptr_nonnull(strstr(warns, "fallbackDomain: DSPAM preference not used"));
	ck_assert_int_eq(conf_pref_overridable(c, "tagSpam"), 0);
	l = conf_list(c, "Preference", &n);
	ck_assert_uint_eq(n, 4);
	ck_assert_int_eq(conf_set_warn(c, "Preference=spamAction=deliver", err,
	    sizeof(err), collect, NULL), 0);
	ck_assert_ptr_nonnull(strstr(warns, "spamAction=deliver (DSPAM) is read as tag"));
	ck_assert_str_eq(conf_pref_default(c, "spamAction"), "tag");
	ck_assert_int_eq(conf_set(c, "Preference=noSuchPref=1", err, sizeof(err)), -EINVAL);
}
END_TEST

START_TEST(test_overrides)
{
	ck_assert_int_eq(conf_load(c, DATA "all-types.conf", err, sizeof(err),
	    collect, NULL), 0);
	ck_assert_int_eq(nwarn, 0);
	ck_assert_int_eq(conf_set(c, "Home=/override", err, sizeof(err)), 0);
	ck_assert_int_eq(conf_set(c, " SpamThreshold = \"0.5\" ", err, sizeof(err)), 0);
	ck_assert_str_eq(conf_str(c, "Home"), "/override");
	ck_assert_double_eq_tol(conf_double(c, "SpamThreshold"), 0.5, 1e-12);
	ck_assert_int_eq(conf_set(c, "NoSuchKey=1", err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "-o: NoSuchKey: unknown key");
	ck_assert_int_eq(conf_set(c, "SpamThreshold", err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "-o: SpamThreshold: expected Key=Value");
	ck_assert_int_eq(conf_set(c, "=1", err, sizeof(err)), -EINVAL);
	/* A real is decimal: strtod's hexadecimal and inf are not (a sign
	 * is: preferences stored by an older spamsift have one). */
	ck_assert_int_eq(conf_set(c, "SpamThreshold=0x1p-1", err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(conf_set(c, "SpamThreshold=+0.5", err, sizeof(err)), 0);
	ck_assert_int_eq(conf_set(c, "SpamThreshold=infinity", err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(conf_set(c, "SpamThreshold=5e-1", err, sizeof(err)), 0);
	ck_assert_double_eq_tol(conf_double(c, "SpamThreshold"), 0.5, 1e-12);
	ck_assert_int_eq(conf_set(c, "MinDev=2", err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "-o: MinDev: must be from 0 to 0.5");
	/* An -o list value adds to what the file set. */
	ck_assert_int_eq(conf_set(c, "Feature=noise", err, sizeof(err)), 0);
	ck_assert_int_ne(conf_has_feature(c, "osb"), 0);
	ck_assert_int_ne(conf_has_feature(c, "noise"), 0);
	/* Warnings from -o go to the callback of conf_set_warn. */
	ck_assert_int_eq(conf_set_warn(c, "MySQLUser=x", err, sizeof(err), collect, NULL), 0);
	ck_assert_str_eq(warns, "-o: MySQLUser: DSPAM setting not used by spamsift; ignored\n");

}
END_TEST

/* conf_iter callback: record the first value and source of p->key. */
struct probe {
	const char *key;   /* key to find */
	char value[256];   /* its first value */
	char source[512];  /* its first source */
	int seen;          /* how many entries it had */
	int total;         /* entries visited */
};

static int probe_fn(void *arg, const char *key, const char *value,
    const char *source)
{
	struct probe *p = arg;

	p->total++;
	if (strcmp(key, p->key) == 0 && p->seen++ == 0) {
		snprintf(p->value, sizeof(p->value), "%s", value);
		snprintf(p->source, sizeof(p->source), "%s", source);
	}
	return 0;
}

static struct probe probe(const char *key)
{
	struct probe p;

	memset(&p, 0, sizeof(p));
	p.key = key;
	ck_assert_int_eq(conf_iter(c, probe_fn, &p), 0);
	return p;
}

START_TEST(test_sources)
{
	struct probe p;

	ck_assert_int_eq(conf_load(c, DATA "all-types.conf", err, sizeof(err),
	    collect, NULL), 0);
	ck_assert_int_eq(conf_set(c, "Home=/override", err, sizeof(err)), 0);
	ck_assert_int_eq(conf_finish(c, err, sizeof(err)), 0);
	p = probe("Home");
	ck_assert_str_eq(p.value, "/override");
	ck_assert_str_eq(p.source, "-o");
	p = probe("SocketMode");
	ck_assert_str_eq(p.value, "0600");
	ck_assert_str_eq(p.source, DATA "all-types.conf:3");
	p = probe("MaxTokens");
	ck_assert_str_eq(p.value, "20000");
	ck_assert_str_eq(p.source, "default");
	p = probe("StorePath");        /* derived from Home: Home's source */
	ck_assert_str_eq(p.value, "/override/spamsift.db");
	ck_assert_str_eq(p.source, "-o");
	p = probe("DebugPeer");
	ck_assert_int_eq(p.seen, 4);
	ck_assert_str_eq(p.value, "192.0.2.7");
	ck_assert_str_eq(p.source, DATA "all-types.conf:18");
	p = probe("AllowOverride"); /* empty lists still show up once */
	ck_assert_int_eq(p.seen, 1);
	ck_assert_str_eq(p.value, "");
	ck_assert_str_eq(p.source, "default");
	ck_assert_int_gt(p.total, 45);
	/* a list emptied by -o says so */
	ck_assert_int_eq(conf_set(c, "DebugPeer=", err, sizeof(err)), 0);
	p = probe("DebugPeer");
	ck_assert_int_eq(p.seen, 1);
	ck_assert_str_eq(p.source, "-o");
}
END_TEST

static int stop_fn(void *arg, const char *key, const char *value,
    const char *source)
{
	(void)key; (void)value; (void)source;
	return ++*(int *)arg == 3 ? 42 : 0;
}

START_TEST(test_iter_stops)
{
	int count = 0;

	ck_assert_int_eq(conf_iter(c, stop_fn, &count), 42);
	ck_assert_int_eq(count, 3);
}
END_TEST

START_TEST(test_repeated_keys)
{
	const char *const *l;
	size_t n;

	ck_assert_int_eq(conf_load(c, DATA "repeated.conf", err, sizeof(err),
	    collect, NULL), 0);
	ck_assert_double_eq_tol(conf_double(c, "SpamThreshold"), 0.8, 1e-12);
	ck_assert_int_eq(nwarn, 1);
	ck_assert_ptr_nonnull(strstr(warns, "repeated.conf:3: SpamThreshold: also set at "));
	ck_assert_ptr_nonnull(strstr(warns, "repeated.conf:2; this line wins"));
	l = conf_list(c, "Trust", &n);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(l[0], "postfix");
	ck_assert_str_eq(l[1], "amavis");
	/* -o over a file value: no warning. */
	ck_assert_int_eq(conf_set_warn(c, "SpamThreshold=0.6", err, sizeof(err), collect, NULL), 0);
	ck_assert_int_eq(nwarn, 1);
}
END_TEST

START_TEST(test_crlf_quotes_whitespace)
{
	const char *const *l;
	size_t n;

	ck_assert_int_eq(conf_load(c, DATA "crlf-quotes.conf", err, sizeof(err),
	    collect, NULL), 0);
	ck_assert_int_eq(nwarn, 0);
	ck_assert_str_eq(conf_str(c, "Home"), "/srv/with space");
	ck_assert_double_eq_tol(conf_double(c, "SpamThreshold"), 0.8, 1e-12);
	ck_assert_str_eq(conf_str(c, "RejectText"), "5.7.1 no");
	/* '#' inside a value is not a comment. */
	ck_assert_str_eq(conf_pref_default(c, "spamSubject"), "[JUNK] #1");
	l = conf_list(c, "Trust", &n);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(l[2], "carol");
	l = conf_list(c, "Feature", &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(l[0], "noise");
	/* No final newline, a lone quote, a comment after whitespace. */
	ck_assert_int_eq(parse("  # x\nSpamSubject\n") , -EINVAL);
	ck_assert_int_eq(parse("RejectText \"\n"), 0);
	ck_assert_str_eq(conf_str(c, "RejectText"), "\"");
	ck_assert_int_eq(parse("MaxTokens 300"), 0);
	ck_assert_int_eq(conf_int(c, "MaxTokens"), 300);
}
END_TEST

/*
 * A '#' after a blank starts a comment, as in DSPAM's own dspam.conf; it
 * was part of the value, so a commented StorePath named another (empty)
 * store and DSPAM's sample did not load.
 */
START_TEST(test_trailing_comments)
{
	const char *const *l;
	size_t n;

	ck_assert_int_eq(parse("Home /srv\nStorePath spamsift.db   # the store\n"
	    "Preference \"signatureLocation=message\"\t# 'message' or 'headers'\n"
	    "IgnoreHeader X-Spam-Flag # from spamassassin\n"
	    "Preference spamSubject=[SPAM]#1\n"
	    "RejectText \"5.7.1 no # really\" # quoted\n"), 0);
	ck_assert_int_eq(conf_finish(c, err, sizeof(err)), 0);
	ck_assert_str_eq(conf_str(c, "StorePath"), "/srv/spamsift.db");
	ck_assert_str_eq(conf_pref_default(c, "signatureLocation"), "message");
	ck_assert_str_eq(conf_pref_default(c, "spamSubject"), "[SPAM]#1");
	ck_assert_str_eq(conf_str(c, "RejectText"), "5.7.1 no # really");
	l = conf_list(c, "IgnoreHeader", &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(l[0], "X-Spam-Flag");
	/* Nothing left but the comment: the value is missing. */
	ck_err("MaxTokens # none\n", "t.conf:1: MaxTokens: missing value");
	/* A lone '"' quotes nothing: the comment after it is one (it went
	 * into the reply). */
	ck_assert_int_eq(parse("RejectText 5.7.1 Our 12\" filter says no  "
	    "# reviewed\n"), 0);
	ck_assert_str_eq(conf_str(c, "RejectText"), "5.7.1 Our 12\" filter says no");
}
END_TEST

/* More IgnoreHeader fields than the parser takes are refused, not dropped. */
START_TEST(test_ignore_header_limit)
{
	char line[64];

	for (int i = 0; i < CONF_MAX_IGNORE; i++) {
		snprintf(line, sizeof(line), "IgnoreHeader X-H%d\n", i);
		ck_assert_int_eq(parse(line), 0);
	}
	ck_assert_int_eq(conf_finish(c, err, sizeof(err)), 0);
	ck_assert_int_eq(parse("IgnoreHeader X-One-Too-Many\n"), 0);
	ck_assert_int_eq(conf_finish(c, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "t.conf:1: IgnoreHeader: more than 64 fields");
}
END_TEST

START_TEST(test_hostile_input)
{
	size_t big = 100000;
	char *buf = malloc(big + 1);

	ck_assert_ptr_nonnull(buf);
	/* A very long line. */
	memset(buf, 'A', big);
	buf[big] = '\0';
	ck_assert_int_eq(conf_parse(c, "t.conf", buf, big, err, sizeof(err), collect, NULL), -EINVAL);
	ck_assert_str_eq(err, "t.conf:1: line longer than 8192 bytes");
	/* A comment line of 8192 bytes loads, with LF or CRLF (the CR was
	 * counted: one byte short); one byte more is refused either way. */
	memset(buf, '#', 8192);
	memcpy(buf + 8192, "\r\n", 2);
	ck_assert_int_eq(conf_parse(c, "t.conf", buf, 8194, err, sizeof(err), collect, NULL), 0);
	buf[8192] = '\n';
	ck_assert_int_eq(conf_parse(c, "t.conf", buf, 8193, err, sizeof(err), collect, NULL), 0);
	memset(buf, '#', 8193);
	memcpy(buf + 8193, "\r\n", 2);
	ck_assert_int_eq(conf_parse(c, "t.conf", buf, 8195, err, sizeof(err), collect, NULL), -EINVAL);
	ck_assert_str_eq(err, "t.conf:1: line longer than 8192 bytes");
	memset(buf, 'A', big);
	/* A long value on a line within the limit. */
	memcpy(buf, "Home /", 6);
	ck_assert_int_eq(conf_parse(c, "t.conf", buf, 8000, err, sizeof(err), collect, NULL), -EINVAL);
	ck_assert_str_eq(err, "t.conf:1: Home: value too long");
	memcpy(buf, "Trust ", 6);
	ck_assert_int_eq(conf_parse(c, "t.conf", buf, 8000, err, sizeof(err), collect, NULL), -EINVAL);
	ck_assert_str_eq(err, "t.conf:1: Trust: value too long");
	/* NUL bytes. */
	ck_assert_int_eq(conf_parse(c, "t.conf", "Home /a\nHome /b\0c\n", 18, err,
	    sizeof(err), collect, NULL), -EINVAL);
	ck_assert_str_eq(err, "t.conf:2: NUL byte in line");
	/* Control characters in values. */
	ck_err("Home /a\x1b[31m\n", "t.conf:1: Home: control character in value");
	/* Binary junk: every byte value, deterministic pseudo-random lines. */
	{
		unsigned x = 12345;

		for (int round = 0; round < 200; round++) {
			size_t len = 1 + round * 7 % 300;
			conf *d;
			int rc;

			for (size_t i = 0; i < len; i++) {
				x = x * 1103515245u + 12345u;
				buf[i] = (char)(x >> 16);
			}
			ck_assert_int_eq(conf_new(&d), 0);
			rc = conf_parse(d, "junk", buf, len, err, sizeof(err), NULL, NULL);
			ck_assert(rc == 0 || rc == -EINVAL);
			if (rc < 0)
				ck_assert_int_eq(strncmp(err, "junk:", 5), 0);
			conf_unref(d);
		}
	}
	/* Overrides get the same checks. */
	memset(buf, 'x', big);
	memcpy(buf, "Home=", 5);
	ck_assert_int_eq(conf_set(c, buf, err, sizeof(err)), -EINVAL);
	/* A tiny error buffer truncates, never overflows. */
	{
		char small[8];

		ck_assert_int_eq(conf_set(c, "Nope=1", small, sizeof(small)), -EINVAL);
		ck_assert_str_eq(small, "-o: Nop");
		ck_assert_int_eq(conf_set(c, "Nope=1", NULL, 0), -EINVAL);
	}
	free(buf);
}
END_TEST

START_TEST(test_sample_loads_clean)
{
	ck_assert_int_eq(conf_load(c, SAMPLE, err, sizeof(err), collect, NULL), 0);
	ck_assert_msg(nwarn == 0, "warnings: %s", warns);
	/* The local run of the README. */
	ck_assert_int_eq(conf_set(c, "Home=/tmp/run", err, sizeof(err)), 0);
	ck_assert_int_eq(conf_set(c, "Socket=unix:/tmp/run/spamsift.sock", err, sizeof(err)), 0);
	ck_assert_int_eq(conf_finish(c, err, sizeof(err)), 0);
	ck_assert_str_eq(conf_str(c, "StorePath"), "/tmp/run/spamsift.db");
	ck_assert_ptr_null(conf_str(c, "User"));
	ck_assert_ptr_null(conf_str(c, "Group"));
	/* users choose their training mode, as in DSPAM's dspam.conf */
	ck_assert_int_ne(conf_pref_overridable(c, "trainingMode"), 0);
	ck_assert_int_eq(conf_pref_overridable(c, "rejectThreshold"), 0);
}
END_TEST

/* conf_iter callback: append each distinct key name, space separated. */
static int collect_keys(void *arg, const char *key, const char *value,
    const char *source)
{
	char *names = arg, pat[80];

	(void)value; (void)source;
	snprintf(pat, sizeof(pat), " %s ", key);
	if (strstr(names, pat) == NULL)
		strcat(strcat(names, key), " ");
	return 0;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *text = calloc(1, 200001);

	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(text);
	ck_assert_uint_lt(fread(text, 1, 200000, f), 200000);
	fclose(f);
	return text;
}

START_TEST(test_sample_and_man_document_every_key)
{
	static char names[4096] = " ";
	char *sample = slurp(SAMPLE), *man = slurp(SAMPLE ".5");
	char *save = NULL, *k;
	int nkeys = 0;

	/* Every key conf knows: set or commented out in the sample, and in the man page. */
	ck_assert_int_eq(conf_iter(c, collect_keys, names), 0);
	for (k = strtok_r(names, " ", &save); k; k = strtok_r(NULL, " ", &save)) {
		char pat1[80], pat2[80], pat3[80];

		nkeys++;
		ck_assert_str_eq(conf_key_name(k), k);
		snprintf(pat1, sizeof(pat1), "\n%s ", k);
		snprintf(pat2, sizeof(pat2), "\n#%s ", k);
		ck_assert_msg(strstr(sample, pat1) || strstr(sample, pat2),
		    "sample does not document %s", k);
		snprintf(pat3, sizeof(pat3), "\n.B %s ", k);
		ck_assert_msg(strstr(man, pat3), "spamsift.conf.5 does not document %s", k);
	}
	ck_assert_int_eq(nkeys, 53);
	free(sample);
	free(man);
}
END_TEST

START_TEST(test_refcount)
{
	conf *r = conf_ref(c);

	ck_assert_ptr_eq(r, c);
	conf_unref(c); /* back to one reference: still usable */
	ck_assert_str_eq(conf_str(r, "OnFail"), "tempfail");
	conf_unref(NULL);
	/* teardown drops the last reference (ASan would flag a double free). */
}
END_TEST

START_TEST(test_pref_check)
{
	ck_assert_int_eq(conf_pref_check("spamAction", "quarantine", err, sizeof(err)), 0);
	ck_assert_int_eq(conf_pref_check("SPAMACTION", "Reject", err, sizeof(err)), 0);
	ck_assert_int_eq(conf_pref_check("spamAction", "deliver", err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "spamAction: must be tag, quarantine or reject");
	ck_assert_int_eq(conf_pref_check("showFactors", "yes", err, sizeof(err)), 0);
	ck_assert_int_eq(conf_pref_check("showFactors", "sometimes", err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "showFactors: must be on or off");
	ck_assert_int_eq(conf_pref_check("whitelistThreshold", "0", err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(conf_pref_check("whitelistThreshold", "5", err, sizeof(err)), 0);
	ck_assert_int_eq(conf_pref_check("statisticalSedation", "11", err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "statisticalSedation: must be an integer from 0 to 10");
	ck_assert_int_eq(conf_pref_check("rejectThreshold", "0.99", err, sizeof(err)), 0);
	ck_assert_int_eq(conf_pref_check("rejectThreshold", "1.5", err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(conf_pref_check("trainingMode", "TUM", err, sizeof(err)), 0);
	ck_assert_int_eq(conf_pref_check("spamSubject", "[SPAM]\r\nBcc: x", err, sizeof(err)), -EINVAL);
	/* not ASCII: UTF-8 only (it goes out as RFC 2047 UTF-8 words) */
	ck_assert_int_eq(conf_pref_check("spamSubject", "[\xd0\xa1\xd0\x9f\xd0\x90\xd0\x9c]",
	    err, sizeof(err)), 0);
	ck_assert_int_eq(conf_pref_check("spamSubject", "[\xa7SPAM]", err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "spamSubject: must be UTF-8"));
	ck_assert_int_eq(conf_pref_check("spamSubject", "\xed\xa0\x80", err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(conf_pref_check("signatureLocation", "attachment", err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(conf_pref_check("favouriteColour", "blue", err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "favouriteColour: unknown preference");
	ck_assert_str_eq(conf_pref_name("ENABLEbnr"), "enableBNR");
	ck_assert_ptr_null(conf_pref_name("nope"));
	ck_assert_str_eq(conf_pref_canon("optIn", "TRUE"), "on");
	ck_assert_str_eq(conf_pref_canon("spamAction", "TAG"), "tag");
	ck_assert_str_eq(conf_pref_canon("spamSubject", "[Junk]"), "[Junk]");
	ck_assert_ptr_null(conf_pref_canon("optIn", "perhaps"));
}
END_TEST

START_TEST(test_pref_defaults)
{
	static const char *const builtin[][2] = {
		{ "spamAction", "tag" }, { "spamSubject", "[SPAM]" },
		{ "signatureLocation", "headers" }, { "showFactors", "off" },
		{ "enableBNR", "off" }, { "enableWhitelist", "on" },
		{ "whitelistThreshold", "10" }, { "trainingMode", "teft" },
		{ "statisticalSedation", "0" }, { "optIn", "off" },
		{ "optOut", "off" }, { "rejectThreshold", "0.999" },
	};

	for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++)
		ck_assert_str_eq(conf_pref_default(c, builtin[i][0]), builtin[i][1]);
	ck_assert_ptr_null(conf_pref_default(c, "nope"));
	/* Site keys feed the built-in defaults. */
	ck_assert_int_eq(parse("TrainingMode tum\nWhitelistThreshold 25\nFeature noise\n"), 0);
	ck_assert_str_eq(conf_pref_default(c, "trainingMode"), "tum");
	ck_assert_str_eq(conf_pref_default(c, "whitelistThreshold"), "25");
	ck_assert_str_eq(conf_pref_default(c, "enableBNR"), "on");
	ck_assert_str_eq(conf_pref_default(c, "enableWhitelist"), "off");
	/* Preference lines win, the last one most; stored canonically. */
	ck_assert_int_eq(parse("Preference \"trainingMode=TOE\"\n"
	    "Preference \"SpamAction = quarantine\"\nPreference \"spamAction=Reject\"\n"), 0);
	ck_assert_str_eq(conf_pref_default(c, "TRAININGMODE"), "toe");
	ck_assert_str_eq(conf_pref_default(c, "spamAction"), "reject");
	ck_err("Preference \"spamAction=drop\"\n", "t.conf:1: Preference: spamAction must be tag, quarantine or reject");
	ck_err("Preference \"colour=blue\"\n", "t.conf:1: Preference: colour: unknown preference");
	ck_err("Preference spamAction\n", "t.conf:1: Preference: expected \"name=value\"");
}
END_TEST

START_TEST(test_allow_override)
{
	ck_assert_int_eq(conf_pref_overridable(c, "spamAction"), 0);
	ck_assert_int_eq(parse("AllowOverride spamAction\nAllowOverride SPAMSUBJECT, optIn\n"), 0);
	ck_assert_int_ne(conf_pref_overridable(c, "spamaction"), 0);
	ck_assert_int_ne(conf_pref_overridable(c, "spamSubject"), 0);
	ck_assert_int_ne(conf_pref_overridable(c, "optIn"), 0);
	ck_assert_int_eq(conf_pref_overridable(c, "trainingMode"), 0);
	ck_assert_int_eq(conf_pref_overridable(c, "nope"), 0);
	ck_err("AllowOverride everything\n", "t.conf:1: AllowOverride: everything: unknown preference");
}
END_TEST

START_TEST(test_opt)
{
	profile p;

	/* Opt out (the default): everyone but optOut=on. */
	ck_assert_int_eq(parse(""), 0);
	profile_site(c, &p);
	ck_assert_int_eq(profile_filtered(c, &p), 1);
	profile_apply(&p, "optOut", "on");
	ck_assert_int_eq(profile_filtered(c, &p), 0);
	/* Opt in: only optIn=on, and optOut still wins. */
	ck_assert_int_eq(parse("Opt in\n"), 0);
	profile_site(c, &p);
	ck_assert_int_eq(profile_filtered(c, &p), 0);
	profile_apply(&p, "optIn", "on");
	ck_assert_int_eq(profile_filtered(c, &p), 1);
	profile_apply(&p, "optOut", "on");
	ck_assert_int_eq(profile_filtered(c, &p), 0);
	ck_err("Opt sometimes\n", "t.conf:1: Opt: must be out or in");
}
END_TEST

/* spamSubject may be 128 characters, and all of them are used (127 were). */
START_TEST(test_spam_subject_whole)
{
	char subj[129], err2[256];
	profile p;

	memset(subj, 'S', 128);
	subj[128] = '\0';
	ck_assert_int_eq(conf_pref_check("spamSubject", subj, err2, sizeof(err2)), 0);
	profile_site(c, &p);
	ck_assert_int_eq(profile_apply(&p, "spamSubject", subj), 0);
	ck_assert_str_eq(p.spam_subject, subj);
}
END_TEST

START_TEST(test_key_name)
{
	ck_assert_str_eq(conf_key_name("storepath"), "StorePath");
	ck_assert_ptr_null(conf_key_name("MySQLServer"));
}
END_TEST

/* An alias file holding text, in a fresh directory; its path in path. */
static void alias_file(char *path, size_t len, const char *text)
{
	char dir[256];
	FILE *f;

	test_mkdtemp(dir, sizeof(dir), "check_conf_alias");
	snprintf(path, len, "%s/aliases", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

/* The user address maps to (usermap_lookup), or a login (usermap_login). */
static void maps_to(const usermap *m, const char *address, const char *want)
{
	char user[USERMAP_MAX];

	ck_assert_int_eq(usermap_lookup(m, address, user, sizeof(user)), 0);
	ck_assert_str_eq(user, want);
}

static void login_is(const usermap *m, const char *login, const char *want)
{
	char user[USERMAP_MAX];

	ck_assert_int_eq(usermap_login(m, login, user, sizeof(user)), 0);
	ck_assert_str_eq(user, want);
}

START_TEST(test_usermap)
{
	char path[512], err[1024], user[512], *big;
	usermap *m = NULL;

	alias_file(path, sizeof(path), "# team\nInfo@Example.org  alice\n\n"
	    "<sales@example.org> bob\n");
	ck_assert_int_eq(usermap_open(USERMAP_ALIAS, path, NULL, &m, err, sizeof(err)), 0);
	maps_to(m, "<info@example.org>", "alice");
	maps_to(m, "Sales@Example.org", "bob");
	maps_to(m, "carol@example.org", "carol@example.org");
	usermap_close(m);
	/* A domain's catch-all, as in virtual(5): after the address and the
	 * address without its extension (it loaded and was never used). */
	alias_file(path, sizeof(path), "Bob@Example.org Robert\n"
	    "@example.org catchall\n");
	ck_assert_int_eq(usermap_open(USERMAP_ALIAS, path, "+", &m, err, sizeof(err)), 0);
	maps_to(m, "alice@Example.ORG", "catchall");
	maps_to(m, "bob+x@example.org", "Robert");
	maps_to(m, "alice@example.net", "alice@example.net");
	maps_to(m, "catchall", "catchall");
	/* ... but not for a caller's login spelled as an address (the
	 * CLI's Trust check): it acted as the catch-all's user */
	login_is(m, "alice@example.org", "alice@example.org");
	login_is(m, "bob@example.org", "Robert");
	usermap_close(m);
	/* An address extension of 1,500 bytes is still the user's mail (past
	 * 1,023 bytes an address mapped to no user: unfiltered); an address
	 * longer than USERMAP_MAX is refused. */
	{
		char *a = malloc(5100);

		ck_assert_ptr_nonnull(a);
		strcpy(a, "<Bob+");
		memset(a + 5, 'x', 1500);
		strcpy(a + 1505, "@Example.org>");
		ck_assert_int_eq(usermap_open(USERMAP_FULL, NULL, "+", &m, err,
		    sizeof(err)), 0);
		ck_assert_int_eq(usermap_lookup(m, a, user, sizeof(user)), 0);
		ck_assert_str_eq(user, "bob@example.org");
		memset(a, 'y', 5000);
		strcpy(a + 5000, "@example.org");
		ck_assert_int_eq(usermap_lookup(m, a, user, sizeof(user)), -ERANGE);
		usermap_close(m);
		free(a);
	}
	/* A user's name (spamsift --user, a login) is spelled as the table
	 * spells it: "Robert" was looked up as "robert", another user. */
	alias_file(path, sizeof(path), "bob@example.org Robert\nrob@example.org robert\n"
	    "ann@example.org Ann\n");
	ck_assert_int_eq(usermap_open(USERMAP_ALIAS, path, NULL, &m, err, sizeof(err)), 0);
	maps_to(m, "bob@example.org", "Robert");
	maps_to(m, "Robert", "Robert");
	maps_to(m, "robert", "robert");
	maps_to(m, "ann", "Ann");
	maps_to(m, "Carl", "carl");
	usermap_close(m);
	/* Two spellings and neither exact: the first in the file (the table
	 * is sorted by address, "a@" before "z@"). */
	alias_file(path, sizeof(path), "z@example.org ROBERT\na@example.org Robert\n");
	ck_assert_int_eq(usermap_open(USERMAP_ALIAS, path, NULL, &m, err, sizeof(err)), 0);
	maps_to(m, "robert", "ROBERT");
	usermap_close(m);

	/* mistakes are refused with the place, not half-read */
	alias_file(path, sizeof(path), "dave@x.org dave\nbroken\n");
	ck_assert_int_eq(usermap_open(USERMAP_ALIAS, path, NULL, &m, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, ":2:"));
	alias_file(path, sizeof(path), "dave@x.org dave\nDave@X.org mallory\n");
	ck_assert_int_eq(usermap_open(USERMAP_ALIAS, path, NULL, &m, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "twice"));
	/* ... naming the line that repeats it, and the first one */
	alias_file(path, sizeof(path), "a@x.org a\ndave@x.org dave\nb@x.org b\n"
	    "# moved\nDave@X.org mallory\n");
	ck_assert_int_eq(usermap_open(USERMAP_ALIAS, path, NULL, &m, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "/aliases:5: dave@x.org is listed twice (first at line 2)"),
	    "error \"%s\"", err);
	/* a third field, or a field cut at 511 bytes, is not a pair */
	alias_file(path, sizeof(path), "bob@x.org bob alice\n");
	ck_assert_int_eq(usermap_open(USERMAP_ALIAS, path, NULL, &m, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, ":1:"));
	/* nor an address with a comment and no user (it mapped carol's mail
	 * to a user named "#retired") */
	alias_file(path, sizeof(path), "bob@x.org bob\ncarol@x.org #retired\n");
	ck_assert_int_eq(usermap_open(USERMAP_ALIAS, path, NULL, &m, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, ":2:"));
	big = malloc(1100);
	ck_assert_ptr_nonnull(big);
	memset(big, 'a', 515);
	strcpy(big + 515, "@x.org carol\n");
	alias_file(path, sizeof(path), big);
	free(big);
	ck_assert_int_eq(usermap_open(USERMAP_ALIAS, path, NULL, &m, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, ":1:"));
	/* a comment after the pair is fine */
	alias_file(path, sizeof(path), "bob@x.org bob # since 2024\n");
	ck_assert_int_eq(usermap_open(USERMAP_ALIAS, path, NULL, &m, err, sizeof(err)), 0);
	maps_to(m, "bob@x.org", "bob");
	usermap_close(m);
	*strrchr(path, '/') = '\0';            /* the directory itself */
	ck_assert_int_eq(usermap_open(USERMAP_ALIAS, path, NULL, &m, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "regular file"));
	big = malloc(5000);
	ck_assert_ptr_nonnull(big);
	memset(big, 'a', 4998);
	memcpy(big, "x@y.org ", 8);
	big[4998] = '\n';
	big[4999] = '\0';
	alias_file(path, sizeof(path), big);
	free(big);
	ck_assert_int_eq(usermap_open(USERMAP_ALIAS, path, NULL, &m, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "longer"));
	/* A comment line of 2,046 bytes loads with LF and with CRLF (the CR
	 * was counted: refused one byte short); 2,047 bytes do not. */
	big = malloc(2100);
	ck_assert_ptr_nonnull(big);
	memset(big, '#', 2046);
	strcpy(big + 2046, "\r\nbob@x.org bob\n");
	alias_file(path, sizeof(path), big);
	ck_assert_int_eq(usermap_open(USERMAP_ALIAS, path, NULL, &m, err, sizeof(err)), 0);
	usermap_close(m);
	strcpy(big + 2046, "\nbob@x.org bob\n");
	alias_file(path, sizeof(path), big);
	ck_assert_int_eq(usermap_open(USERMAP_ALIAS, path, NULL, &m, err, sizeof(err)), 0);
	usermap_close(m);
	memset(big, '#', 2047);
	strcpy(big + 2047, "\r\nbob@x.org bob\n");
	alias_file(path, sizeof(path), big);
	ck_assert_int_eq(usermap_open(USERMAP_ALIAS, path, NULL, &m, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, ":1: line longer than 2046 bytes"));
	free(big);
	ck_assert_int_eq(usermap_open(USERMAP_ALIAS, "", NULL, &m, err, sizeof(err)), -EINVAL);
	/* no aliases at all: every address is its own user (an empty table
	 * once reached qsort as a null pointer: UBSan's nonnull check) */
	alias_file(path, sizeof(path), "# nobody yet\n");
	ck_assert_int_eq(usermap_open(USERMAP_ALIAS, path, NULL, &m, err, sizeof(err)), 0);
	maps_to(m, "<Dave@X.org>", "dave@x.org");
	usermap_close(m);

	/*
	 * A NUL byte is an error, as in spamsift.conf: fgets stopped seeing the
	 * line there, so a zeroed table (a crash mid-write) was an empty one
	 * and "b\0junk" mapped to b.
	 */
	{
#define NUL_CASE(s) { s, sizeof(s) - 1 }
		static const struct { const char *text; size_t len; } nul[] = {
			NUL_CASE("a@x.org b\0junk\n"), NUL_CASE("\0\0\0\0\0\0\0\0"),
			NUL_CASE("a@x.org a\n\0c@x.org c\n") };
#undef NUL_CASE

		for (size_t i = 0; i < 3; i++) {
			FILE *f;

			alias_file(path, sizeof(path), "");
			f = fopen(path, "w");
			ck_assert_ptr_nonnull(f);
			ck_assert_uint_eq(fwrite(nul[i].text, 1, nul[i].len, f), nul[i].len);
			ck_assert_int_eq(fclose(f), 0);
			ck_assert_int_eq(usermap_open(USERMAP_ALIAS, path, NULL, &m, err,
			    sizeof(err)), -EINVAL);
			ck_assert_msg(strstr(err, i == 2 ? ":2: NUL byte" : ":1: NUL byte"),
			    "error \"%s\"", err);
		}
	}

	/* localpart */
	ck_assert_int_eq(usermap_open(USERMAP_LOCALPART, NULL, NULL, &m, err, sizeof(err)), 0);
	maps_to(m, "<Erin@Example.net>", "erin");
	/* without RecipientDelimiter an extension is part of the name */
	maps_to(m, "erin+lists@example.net", "erin+lists");
	usermap_close(m);
}
END_TEST

/*
 * RecipientDelimiter, as Postfix's recipient_delimiter: bob+lists@ is bob's
 * (each extension was a user of its own, with none of bob's model, lists
 * or preferences). An alias table is asked for the whole address first.
 */
START_TEST(test_usermap_delimiter)
{
	char path[4096], user[256], err[256];
	usermap *m;

	ck_assert_int_eq(usermap_open(USERMAP_FULL, NULL, "+-", &m, err, sizeof(err)), 0);
	maps_to(m, "<Bob+Lists@Example.org>", "bob@example.org");
	maps_to(m, "bob-x+y@example.org", "bob@example.org");
	/* as Postfix splits: not a local part that starts with a delimiter,
	 * not postmaster, owner-foo or foo-request (with '-'); a name
	 * without '@' is whole */
	maps_to(m, "+x@example.org", "+x@example.org");
	maps_to(m, "+a+b@example.org", "+a+b@example.org");
	maps_to(m, "owner-list@example.org", "owner-list@example.org");
	maps_to(m, "list-request@example.org", "list-request@example.org");
	maps_to(m, "Postmaster@example.org", "postmaster@example.org");
	maps_to(m, "bob-x", "bob-x");
	/*
	 * A quoted local part is read as Postfix reads it, quotes and
	 * backslashes gone: "bob+x"@d was its own user, "bob+x"@d once cut,
	 * and bob's preferences and lists did not apply to his mail.
	 */
	maps_to(m, "<\"Bob+x\"@example.org>", "bob@example.org");
	maps_to(m, "\"bob\"@example.org", "bob@example.org");
	maps_to(m, "\"a\\\"b c\"@example.org", "a\"b c@example.org");
	/* a source route and a domain's final dot are dropped, as Postfix
	 * drops them (they made users and senders of their own) */
	ck_assert_int_eq(usermap_lookup(m, "<@a.example,@b.example:Bob+x@Example.org>",
	    user, sizeof(user)), 0);
	ck_assert_str_eq(user, "bob@example.org");
	maps_to(m, "<bob@example.org.>", "bob@example.org");
	maps_to(m, "bob.", "bob.");
	maps_to(m, "bob@.", "bob@.");
	/* without its closing quote, as it came */
	maps_to(m, "\"bob\\\"@example.org", "\"bob\\\"@example.org");
	{
		char a[64];

		/* the same in place (the alias file's addresses) */
		strcpy(a, "<\"Spammer\"@Bad.example>");
		ck_assert_int_eq(usermap_address(a, a, sizeof(a)), 0);
		ck_assert_str_eq(a, "spammer@bad.example");
		ck_assert_int_eq(usermap_address("\"x\"@d", a, 3), -ERANGE);
		/* a control character is kept: Postfix relays "x\001"@d, and
		 * the sender must still match a blocklist of its domain */
		ck_assert_int_eq(usermap_address("\"x\001\"@Evil.example", a, sizeof(a)), 0);
		ck_assert_str_eq(a, "x\001@evil.example");
		ck_assert_int_eq(usermap_address(" x@d\t", a, sizeof(a)), 0);
		ck_assert_str_eq(a, "x@d");
	}
	usermap_close(m);

	ck_assert_int_eq(usermap_open(USERMAP_LOCALPART, NULL, "+", &m, err, sizeof(err)), 0);
	maps_to(m, "erin+x@example.net", "erin");
	usermap_close(m);

	alias_file(path, sizeof(path), "sales+eu@x.org eu-team\nsales@x.org carol\n");
	ck_assert_int_eq(usermap_open(USERMAP_ALIAS, path, "+", &m, err, sizeof(err)), 0);
	maps_to(m, "sales+eu@x.org", "eu-team");
	maps_to(m, "sales+us@x.org", "carol");
	maps_to(m, "dave+x@x.org", "dave@x.org");
	usermap_close(m);
	ck_assert_int_eq(usermap_open(USERMAP_FULL, NULL, "+-_.=!#$%&*/?^`{|}~",
	    &m, err, sizeof(err)), -EINVAL);
}
END_TEST

/*
 * A table's user is the user that --user names it by: each line's user is
 * the user a lookup of it finds. "info@ Bob@Example.org" gave info's mail
 * to a user "Bob@Example.org", not bob@example.org's, whom no --user
 * named (stats listed it; --user Bob@Example.org was bob@example.org); a
 * chain (info@ -> bob@ -> Robert) stopped after one line; a loop loaded.
 */
START_TEST(test_usermap_alias_users)
{
	char path[512], err[1024], user[USERMAP_MAX];
	usermap *m = NULL;
	static const char *const addrs[] = { "info@example.org",
		"sales@example.org", "x@example.org", "list@example.org",
		"self@example.org", "z@example.org", "q@other.org",
		"bob@example.org", "bob", "Self@Example.org" };

	alias_file(path, sizeof(path),
	    "info@example.org Alice@Example.org\n"      /* an address's case */
	    "sales@example.org bob@example.org\n"       /* a chain */
	    "bob@example.org Robert\n"
	    "x@example.org bob\n"                       /* a name listed */
	    "bob Rob\n"
	    "self@example.org Self@Example.org\n"       /* its own spelling */
	    "list@example.org <Carol+lists@Example.org.>\n"
	    "@other.org catch\n"
	    "z@example.org y@other.org\n"               /* stops itself */
	    "y@other.org y@other.org\n");
	ck_assert_int_eq(usermap_open(USERMAP_ALIAS, path, "+", &m, err,
	    sizeof(err)), 0);
	maps_to(m, "<info@example.org>", "alice@example.org");
	maps_to(m, "Alice@Example.org", "alice@example.org");
	maps_to(m, "sales@example.org", "Robert");
	maps_to(m, "x@example.org", "Rob");
	maps_to(m, "self@example.org", "Self@Example.org");
	maps_to(m, "Self@Example.org", "Self@Example.org");
	maps_to(m, "list@example.org", "carol@example.org");
	maps_to(m, "z@example.org", "y@other.org");
	maps_to(m, "q@other.org", "catch");
	/* every user mail goes to is one --user names so */
	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		ck_assert_int_eq(usermap_lookup(m, addrs[i], user, sizeof(user)), 0);
		maps_to(m, user, user);
	}
	usermap_close(m);

	/* a loop is an error naming a line of it */
	alias_file(path, sizeof(path), "a@x.org b@x.org\nb@x.org c@x.org\n"
	    "c@x.org A@X.org\n");
	ck_assert_int_eq(usermap_open(USERMAP_ALIAS, path, NULL, &m, err,
	    sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "/aliases:1: a@x.org: a loop of aliases"),
	    "error \"%s\"", err);
	/* ... as is a user that is no address and no name */
	alias_file(path, sizeof(path), "a@x.org b\nc@x.org <>\n");
	ck_assert_int_eq(usermap_open(USERMAP_ALIAS, path, NULL, &m, err,
	    sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "/aliases:2: expected"), "error \"%s\"", err);
	/* a line that leads to itself through its extension is no loop */
	alias_file(path, sizeof(path), "a@x.org a+1@x.org\n");
	ck_assert_int_eq(usermap_open(USERMAP_ALIAS, path, "+", &m, err,
	    sizeof(err)), 0);
	maps_to(m, "a@x.org", "a+1@x.org");
	maps_to(m, "a+2@x.org", "a+1@x.org");
	usermap_close(m);
}
END_TEST

static Suite *conf_suite(void)
{
	Suite *s = suite_create("conf");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_finish_derives_storepath);
	tcase_add_test(tc, test_finish_relative_and_absolute_store);
	tcase_add_test(tc, test_finish_constraints);
	tcase_add_test(tc, test_override_relative_paths);
	tcase_add_test(tc, test_string_and_path);
	tcase_add_test(tc, test_socket);
	tcase_add_test(tc, test_int);
	tcase_add_test(tc, test_octal);
	tcase_add_test(tc, test_double);
	tcase_add_test(tc, test_bool);
	tcase_add_test(tc, test_enum);
	tcase_add_test(tc, test_dspam_enum_aliases);
	tcase_add_test(tc, test_feature_and_tokenizer);
	tcase_add_test(tc, test_feature_ignored_keeps_default);
	tcase_add_test(tc, test_lists);
	tcase_add_test(tc, test_reject_text);
	tcase_add_test(tc, test_reply_split);
	tcase_add_test(tc, test_unknown_key);
	tcase_add_test(tc, test_bad_value_file);
	tcase_add_test(tc, test_unreadable_file);
	tcase_add_test(tc, test_dspam_keys_warn);
	tcase_add_test(tc, test_dspam_conf_examples_load);
	tcase_add_test(tc, test_dspam_site_config);
	tcase_add_test(tc, test_overrides);
	tcase_add_test(tc, test_sources);
	tcase_add_test(tc, test_iter_stops);
	tcase_add_test(tc, test_repeated_keys);
	tcase_add_test(tc, test_crlf_quotes_whitespace);
	tcase_add_test(tc, test_hostile_input);
	tcase_add_test(tc, test_trailing_comments);
	tcase_add_test(tc, test_spam_subject_whole);
	tcase_add_test(tc, test_ignore_header_limit);
	tcase_add_test(tc, test_sample_loads_clean);
	tcase_add_test(tc, test_sample_and_man_document_every_key);
	tcase_add_test(tc, test_refcount);
	tcase_add_test(tc, test_pref_check);
	tcase_add_test(tc, test_pref_defaults);
	tcase_add_test(tc, test_allow_override);
	tcase_add_test(tc, test_opt);
	tcase_add_test(tc, test_key_name);
	tcase_add_test(tc, test_usermap);
	tcase_add_test(tc, test_usermap_delimiter);
	tcase_add_test(tc, test_usermap_alias_users);
	tcase_add_test(tc, test_recipient_delimiter);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run(conf_suite());
}
