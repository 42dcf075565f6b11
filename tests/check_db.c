/*
 * check_db -- the storage contract: one Check suite run against every
 * backend (SQLite in a temporary directory, and "mem:"). Each test case is
 * added once per backend; only the fixture differs.
 *
 * SQLite-only behaviour (persistence, corrupt files, locking, schema
 * versions) is in check_db_sqlite.c.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db/db.h"
#include "tests/testutil.h"

static char dir[64];
static char spec[128];
static db *d;
static int64_t alice, bob;

static void open_store(int flags)
{
	char err[256];
	int rc = db_open(spec, flags, &d, err, sizeof(err));

	ck_assert_msg(rc == 0, "db_open %s: %d %s", spec, rc, err);
	ck_assert_ptr_nonnull(d);
}

static void make_users(void)
{
	ck_assert_int_eq(db_user(d, "alice", 1, &alice), 0);
	ck_assert_int_eq(db_user(d, "bob", 1, &bob), 0);
	ck_assert_int_gt(alice, 0);
	ck_assert_int_gt(bob, 0);
	ck_assert_int_ne(alice, bob);
}

static void setup_sqlite(void)
{
	test_mkdtemp(dir, sizeof(dir), "check_db");
	snprintf(spec, sizeof(spec), "sqlite:%s/store.db", dir);
	open_store(DB_OPEN_CREATE);
	make_users();
}

static void setup_mem(void)
{
	dir[0] = '\0';
	snprintf(spec, sizeof(spec), "mem:");
	open_store(DB_OPEN_CREATE);
	make_users();
}

static void teardown(void)
{
	db_close(d);
	d = NULL;
	if (dir[0]) {
		ck_assert_int_eq(test_rmtree(dir), 0);
	}
}

/* ---- open ---- */

START_TEST(test_open_bad_args)
{
	char err[256];
	db *x = (db *)1;

	ck_assert_int_eq(db_open(spec, 0x100, &x, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_null(x);
	ck_assert_int_ne(err[0], '\0');
	ck_assert_int_eq(db_open(NULL, 0, &x, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(db_open("sqlite:", DB_OPEN_CREATE, &x, err,
	    sizeof(err)), -EINVAL);
	/* errlen 0: no message, no crash */
	ck_assert_int_eq(db_open(NULL, 0, &x, NULL, 0), -EINVAL);
	db_close(NULL);
	ck_assert_str_eq(db_errmsg(NULL), "no store handle");
}
END_TEST

/* ---- users ---- */

static int collect_users(void *arg, int64_t uid, const char *name)
{
	char *buf = arg;

	(void)uid;
	strcat(buf, name);
	strcat(buf, ",");
	return 0;
}

START_TEST(test_user)
{
	int64_t uid = -1, again;
	char names[256] = "";

	ck_assert_int_eq(db_user(d, "alice", 0, &uid), 0);
	ck_assert_int_eq(uid, alice);
	ck_assert_int_eq(db_user(d, "alice", 1, &again), 0);
	ck_assert_int_eq(again, alice);
	ck_assert_int_eq(db_user(d, "nobody", 0, &uid), 0);
	ck_assert_int_eq(uid, 0);
	ck_assert_int_eq(db_user(d, DB_GLOBAL_USER, 1, &uid), 0);
	ck_assert_int_gt(uid, bob);
	ck_assert_int_eq(db_user(d, "", 1, &uid), -EINVAL);
	ck_assert_int_eq(db_user(d, NULL, 1, &uid), -EINVAL);
	ck_assert_int_eq(db_user(d, "x", 1, NULL), -EINVAL);
	ck_assert_ptr_nonnull(strstr(db_errmsg(d), "invalid argument"));
	ck_assert_int_eq(db_user_iter(d, collect_users, names), 0);
	ck_assert_str_eq(names, "alice,bob,@global,");
	ck_assert_int_eq(db_user_iter(d, NULL, NULL), -EINVAL);
}
END_TEST

static int stop_iter(void *arg, int64_t uid, const char *name)
{
	int *count = arg;

	(void)uid;
	(void)name;
	return ++*count == 2 ? -ENOTSUP : 0;
}

START_TEST(test_iter_stop_returns_negative)
{
	int count = 0;

	ck_assert_int_eq(db_user_iter(d, stop_iter, &count), -ENOTSUP);
	ck_assert_int_eq(count, 2);
}
END_TEST

/* Names and patterns that break naive SQL or LIKE matching. */
static const char *nasty[] = {
	"o'brien", "\"quoted\"", "100%", "a_b", "x; DROP TABLE users; --",
	"%", "_", "'; --", "back\\slash",
};
#define NNASTY (sizeof(nasty) / sizeof(nasty[0]))

START_TEST(test_nasty_names)
{
	int64_t uids[NNASTY], uid;
	char *big = malloc(10001);

	ck_assert_ptr_nonnull(big);
	memset(big, 'a', 10000);
	big[10000] = '\0';
	big[5000] = '\'';
	for (size_t i = 0; i < NNASTY; i++) {
		ck_assert_int_eq(db_user(d, nasty[i], 1, &uids[i]), 0);
		for (size_t j = 0; j < i; j++)
			ck_assert_int_ne(uids[i], uids[j]);
	}
	for (size_t i = 0; i < NNASTY; i++) {
		ck_assert_int_eq(db_user(d, nasty[i], 0, &uid), 0);
		ck_assert_int_eq(uid, uids[i]);
	}
	ck_assert_int_eq(db_user(d, big, 1, &uid), 0);
	ck_assert_int_gt(uid, 0);
	ck_assert_int_eq(db_user(d, big, 0, &uids[0]), 0);
	ck_assert_int_eq(uids[0], uid);
	/* the users table still exists and still works */
	ck_assert_int_eq(db_user(d, "alice", 0, &uid), 0);
	ck_assert_int_eq(uid, alice);
	free(big);
}
END_TEST

/* ---- tokens ---- */

START_TEST(test_tokens_absent_are_zero)
{
	db_token t[2] = { { .hash = 1, .spam_hits = 7, .innocent_hits = 7 },
	    { .hash = UINT64_MAX, .spam_hits = 7, .innocent_hits = 7 } };

	ck_assert_int_eq(db_tokens_get(d, alice, t, 2), 0);
	ck_assert_int_eq(t[0].spam_hits, 0);
	ck_assert_int_eq(t[0].innocent_hits, 0);
	ck_assert_int_eq(t[1].spam_hits, 0);
	ck_assert_int_eq(db_tokens_get(d, alice, NULL, 0), 0);
	ck_assert_int_eq(db_tokens_get(d, alice, NULL, 1), -EINVAL);
	ck_assert_int_eq(db_tokens_get(d, 0, t, 1), -EINVAL);
}
END_TEST

START_TEST(test_tokens_update_and_clamp)
{
	/* hashes with the top bit set are stored as negative int64 */
	uint64_t h[3] = { 42, 0x8000000000000000ULL, UINT64_MAX };
	db_token t[3] = { { .hash = 42 }, { .hash = h[1] }, { .hash = h[2] } };

	ck_assert_int_eq(db_tokens_update(d, alice, h, 3, 2, 0, 100), 0);
	ck_assert_int_eq(db_tokens_update(d, alice, h + 1, 2, 0, 5, 101), 0);
	ck_assert_int_eq(db_tokens_get(d, alice, t, 3), 0);
	ck_assert_int_eq(t[0].spam_hits, 2);
	ck_assert_int_eq(t[0].innocent_hits, 0);
	ck_assert_int_eq(t[1].spam_hits, 2);
	ck_assert_int_eq(t[1].innocent_hits, 5);
	ck_assert_int_eq(t[2].spam_hits, 2);
	ck_assert_int_eq(t[2].innocent_hits, 5);
	/* clamp at 0, never negative */
	ck_assert_int_eq(db_tokens_update(d, alice, h, 3, -10, -1, 102), 0);
	ck_assert_int_eq(db_tokens_get(d, alice, t, 3), 0);
	ck_assert_int_eq(t[0].spam_hits, 0);
	ck_assert_int_eq(t[0].innocent_hits, 0);
	ck_assert_int_eq(t[1].spam_hits, 0);
	ck_assert_int_eq(t[1].innocent_hits, 4);
	/* a new token learned negatively stays absent/zero */
	uint64_t fresh = 77;
	t[0].hash = fresh;
	ck_assert_int_eq(db_tokens_update(d, alice, &fresh, 1, -1, -1, 102), 0);
	ck_assert_int_eq(db_tokens_get(d, alice, t, 1), 0);
	ck_assert_int_eq(t[0].spam_hits, 0);
	ck_assert_int_eq(t[0].innocent_hits, 0);
	/* users are separate */
	t[0].hash = 42;
	ck_assert_int_eq(db_tokens_update(d, bob, h, 1, 9, 9, 100), 0);
	ck_assert_int_eq(db_tokens_get(d, alice, t, 1), 0);
	ck_assert_int_eq(t[0].spam_hits, 0);
	ck_assert_int_eq(db_tokens_get(d, bob, t, 1), 0);
	ck_assert_int_eq(t[0].spam_hits, 9);
	ck_assert_int_eq(db_tokens_update(d, alice, NULL, 1, 1, 0, 1), -EINVAL);
	ck_assert_int_eq(db_tokens_update(d, alice, NULL, 0, 1, 0, 1), 0);
}
END_TEST

START_TEST(test_tokens_many)
{
	/* more tokens than any batch size, odd count, duplicates in the query */
	size_t n = 2503;
	uint64_t *h = malloc(n * sizeof(*h));
	db_token *t = malloc((n + 2) * sizeof(*t));

	ck_assert_ptr_nonnull(h);
	ck_assert_ptr_nonnull(t);
	for (size_t i = 0; i < n; i++)
		h[i] = (uint64_t)i * 0x9E3779B97F4A7C15ULL + 1;
	/* even tokens learned once as spam, every third once more as innocent */
	for (size_t i = 0; i < n; i += 2)
		ck_assert_int_eq(db_tokens_update(d, alice, &h[i], 1, 1, 0, 5), 0);
	for (size_t i = 0; i < n; i += 3)
		ck_assert_int_eq(db_tokens_update(d, alice, &h[i], 1, 0, 1, 5), 0);
	for (size_t i = 0; i < n; i++)
		t[i] = (db_token){ .hash = h[n - 1 - i], .spam_hits = -1,
		    .innocent_hits = -1 };
	t[n] = (db_token){ .hash = h[0] };
	t[n + 1] = (db_token){ .hash = h[1] };
	ck_assert_int_eq(db_tokens_get(d, alice, t, n + 2), 0);
	for (size_t k = 0; k < n + 2; k++) {
		size_t i = k < n ? n - 1 - k : k - n;

		ck_assert_int_eq(t[k].spam_hits, i % 2 == 0);
		ck_assert_int_eq(t[k].innocent_hits, i % 3 == 0);
	}
	free(h);
	free(t);
}
END_TEST

/*
 * Token hashes are public: a sender can choose words whose hashes share
 * the bits a table indexes by. Two such sets, each learned in one
 * transaction: hashes whose slot in the combined increments would have
 * been the same for every one of them (unseeded, that table probed one run
 * of a million entries), and hashes sharing their top 20 bits (the bucket
 * of the row sort before the store: an insertion sort of a million rows).
 * Each took past Check's timeout then; each must be learned, and quickly
 * enough for it.
 */
START_TEST(test_tokens_crafted_hashes)
{
	size_t n = (size_t)1 << 20;
	uint64_t *h = malloc(n * sizeof(*h));
	uint64_t mix = (uint64_t)alice * 0x9E3779B97F4A7C15ULL;
	db_token t[4];

	ck_assert_ptr_nonnull(h);
	for (int set = 0; set < 2; set++) {
		for (size_t i = 0; i < n; i++)
			h[i] = set == 0 ?
			    /* bits 0-21 and 31-52 of h ^ mix are zero */
			    ((uint64_t)(i >> 9) << 53 | (uint64_t)(i & 511) << 22) ^ mix :
			    /* one top-20-bit bucket */
			    0xABCDE00000000000ULL | (i * 0x9E3779B97ULL & 0xFFFFFFFFFFFULL);
		ck_assert_int_eq(db_begin(d), 0);
		ck_assert_int_eq(db_tokens_update(d, alice, h, n, 1, 0, 3), 0);
		ck_assert_int_eq(db_commit(d), 0);
		for (int k = 0; k < 4; k++)
			t[k] = (db_token){ .hash = h[(size_t)k * (n / 4) + 7] };
		ck_assert_int_eq(db_tokens_get(d, alice, t, 4), 0);
		for (int k = 0; k < 4; k++) {
			ck_assert_int_eq(t[k].spam_hits, 1);
			ck_assert_int_eq(t[k].innocent_hits, 0);
		}
	}
	free(h);
}
END_TEST

/* ---- totals ---- */

START_TEST(test_totals)
{
	db_totals t, delta = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };

	memset(&t, 0xff, sizeof(t));
	ck_assert_int_eq(db_totals_get(d, alice, &t), 0);
	ck_assert_int_eq(t.spam_learned, 0);
	ck_assert_int_eq(t.spam_inoculated, 0);
	ck_assert_int_eq(db_totals_add(d, alice, &delta), 0);
	ck_assert_int_eq(db_totals_add(d, alice, &delta), 0);
	ck_assert_int_eq(db_totals_get(d, alice, &t), 0);
	ck_assert_int_eq(t.spam_learned, 2);
	ck_assert_int_eq(t.innocent_learned, 4);
	ck_assert_int_eq(t.spam_misclassified, 6);
	ck_assert_int_eq(t.innocent_misclassified, 8);
	ck_assert_int_eq(t.spam_corpusfed, 10);
	ck_assert_int_eq(t.innocent_corpusfed, 12);
	ck_assert_int_eq(t.spam_classified, 14);
	ck_assert_int_eq(t.innocent_classified, 16);
	ck_assert_int_eq(t.spam_inoculated, 18);
	delta = (db_totals){ .spam_learned = -5, .innocent_learned = -1 };
	ck_assert_int_eq(db_totals_add(d, alice, &delta), 0);
	ck_assert_int_eq(db_totals_get(d, alice, &t), 0);
	ck_assert_int_eq(t.spam_learned, 0);
	ck_assert_int_eq(t.innocent_learned, 3);
	ck_assert_int_eq(t.spam_inoculated, 18);
	ck_assert_int_eq(db_totals_get(d, bob, &t), 0);
	ck_assert_int_eq(t.innocent_learned, 0);
	ck_assert_int_eq(db_totals_add(d, alice, NULL), -EINVAL);
	ck_assert_int_eq(db_totals_get(d, alice, NULL), -EINVAL);
}
END_TEST

/* Increments inside a transaction are combined; reads still see them. */
START_TEST(test_txn_combined_increments)
{
	uint64_t h[2] = { 77, 78 };
	db_token t[2] = { { .hash = 77 }, { .hash = 78 } };

	ck_assert_int_eq(db_begin(d), 0);
	for (int i = 0; i < 50; i++)
		ck_assert_int_eq(db_tokens_update(d, alice, h, 2, 1, i % 2, 1), 0);
	ck_assert_int_eq(db_tokens_get(d, alice, t, 2), 0);
	ck_assert_int_eq(t[0].spam_hits, 50);
	ck_assert_int_eq(t[1].innocent_hits, 25);
	/* a decrement sees the real count, clamped at 0 */
	ck_assert_int_eq(db_tokens_update(d, alice, h, 1, -60, 0, 1), 0);
	ck_assert_int_eq(db_tokens_update(d, alice, h, 2, 1, 0, 1), 0);
	ck_assert_int_eq(db_commit(d), 0);
	ck_assert_int_eq(db_tokens_get(d, alice, t, 2), 0);
	ck_assert_int_eq(t[0].spam_hits, 1);
	ck_assert_int_eq(t[1].spam_hits, 51);
	/* rolled back: none of it */
	ck_assert_int_eq(db_begin(d), 0);
	ck_assert_int_eq(db_tokens_update(d, alice, h, 2, 5, 5, 2), 0);
	ck_assert_int_eq(db_rollback(d), 0);
	ck_assert_int_eq(db_tokens_get(d, alice, t, 2), 0);
	ck_assert_int_eq(t[0].spam_hits, 1);
	ck_assert_int_eq(t[0].innocent_hits, 25);
}
END_TEST

/* ---- token iteration (export) ---- */

static int collect_tok(void *arg, const db_token *t)
{
	db_token *out = arg;

	out[out[3].spam_hits++] = *t;
	return 0;
}

START_TEST(test_tokens_iter)
{
	uint64_t h[3] = { 30, 0x8000000000000001ULL, 10 };
	db_token got[4] = { { 0 } };

	ck_assert_int_eq(db_tokens_update(d, alice, h, 3, 2, 1, 1), 0);
	ck_assert_int_eq(db_tokens_update(d, bob, h, 1, 5, 0, 1), 0);
	ck_assert_int_eq(db_tokens_iter(d, alice, collect_tok, got), 0);
	ck_assert_int_eq(got[3].spam_hits, 3);   /* count, alice's only */
	/* every token, each once, with its counts */
	uint64_t seen = 0;
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(got[i].spam_hits, 2);
		ck_assert_int_eq(got[i].innocent_hits, 1);
		seen ^= got[i].hash;
	}
	ck_assert_uint_eq(seen, h[0] ^ h[1] ^ h[2]);
}
END_TEST

/* ---- transactions ---- */

START_TEST(test_txn_nested)
{
	uint64_t h = 9;
	db_token t = { .hash = 9 };

	/* Inner levels commit with the outermost one. */
	ck_assert_int_eq(db_begin(d), 0);
	ck_assert_int_eq(db_begin(d), 0);
	ck_assert_int_eq(db_tokens_update(d, alice, &h, 1, 1, 0, 1), 0);
	ck_assert_int_eq(db_commit(d), 0);
	ck_assert_int_eq(db_begin(d), 0);
	ck_assert_int_eq(db_tokens_update(d, alice, &h, 1, 1, 0, 1), 0);
	ck_assert_int_eq(db_commit(d), 0);
	ck_assert_int_eq(db_commit(d), 0);
	ck_assert_int_eq(db_tokens_get(d, alice, &t, 1), 0);
	ck_assert_int_eq(t.spam_hits, 2);
	/* An inner rollback undoes the whole transaction at the outer commit. */
	ck_assert_int_eq(db_begin(d), 0);
	ck_assert_int_eq(db_tokens_update(d, alice, &h, 1, 1, 0, 1), 0);
	ck_assert_int_eq(db_begin(d), 0);
	ck_assert_int_eq(db_tokens_update(d, alice, &h, 1, 1, 0, 1), 0);
	ck_assert_int_eq(db_rollback(d), 0);
	ck_assert_int_eq(db_commit(d), -ECANCELED);
	ck_assert_ptr_nonnull(strstr(db_errmsg(d), "undone"));
	ck_assert_int_eq(db_tokens_get(d, alice, &t, 1), 0);
	ck_assert_int_eq(t.spam_hits, 2);
	/* And the handle is usable again. */
	ck_assert_int_eq(db_begin(d), 0);
	ck_assert_int_eq(db_commit(d), 0);
}
END_TEST

/*
 * One transaction that deletes, adds (past a rebuild of mem:'s table),
 * replaces and removes rows, then rolled back: everything is as before;
 * the same transaction committed: everything is as it said.
 */
static void big_txn(uint64_t *h, size_t n, uint64_t *hs)
{
	db_sig sig = { .uid = alice, .cls = DB_CLASS_SPAM, .learned = 1,
	    .created = 2, .hashes = hs, .nhashes = 3 };
	db_list_entry e = { .pattern = "b@example.org", .added_by = "t" };
	int found = 0;

	ck_assert_int_eq(db_begin(d), 0);
	ck_assert_int_eq(db_tokens_update(d, alice, h, 50, -1000, -1000, 2), 0);
	ck_assert_int_eq(db_tokens_update(d, alice, h + 50, 50, 3, 0, 2), 0);
	ck_assert_int_eq(db_tokens_update(d, alice, h + 100, n - 100, 1, 0, 2), 0);
	/* a read writes the combined increments into the store's transaction */
	ck_assert_int_eq(db_tokens_get(d, alice, &(db_token){ .hash = h[0] }, 1),
	    0);
	ck_assert_int_eq(db_tokens_update(d, alice, h + 100, 10, -1, 0, 2), 0);
	ck_assert_int_eq(db_tokens_update(d, alice, h, 10, 7, 0, 2), 0);
	ck_assert_int_eq(db_pref_set(d, alice, "a", "2"), 0);
	ck_assert_int_eq(db_pref_set(d, alice, "b", "3"), 0);
	snprintf(sig.id, sizeof(sig.id), "%032d", 2);
	ck_assert_int_eq(db_sig_put(d, &sig), 0);
	snprintf(sig.id, sizeof(sig.id), "%032d", 1);
	ck_assert_int_eq(db_sig_put(d, &sig), 0);       /* replaces */
	ck_assert_int_eq(db_list_del(d, alice, DB_LIST_WHITE, "a@example.org",
	    &found), 0);
	ck_assert_int_eq(found, 1);
	ck_assert_int_eq(db_list_add(d, alice, DB_LIST_WHITE, &e), 0);
	ck_assert_int_eq(db_user(d, "carol", 1, &(int64_t){ 0 }), 0);
	ck_assert_int_eq(db_totals_add(d, alice, &(db_totals){
	    .spam_learned = 5 }), 0);
}

START_TEST(test_txn_rollback_restores_all)
{
	enum { N = 5000 };
	uint64_t *h = malloc(N * sizeof(*h)), hs[3] = { 1, 2, 3 };
	db_sig sig = { .uid = alice, .cls = DB_CLASS_INNOCENT, .learned = 1,
	    .created = 1, .hashes = hs, .nhashes = 2 }, *got = NULL;
	db_list_entry e = { .pattern = "a@example.org", .added_by = "t" };
	db_token t[N];
	char buf[8];
	int found = 0, matched = 0;
	int64_t carol = -1;
	db_totals tot;

	ck_assert_ptr_nonnull(h);
	for (size_t i = 0; i < N; i++)
		h[i] = 1000 + i * 7919;
	ck_assert_int_eq(db_tokens_update(d, alice, h, 100, 1, 1, 1), 0);
	ck_assert_int_eq(db_tokens_update(d, alice, h, 20, 1, 0, 1), 0);
	ck_assert_int_eq(db_pref_set(d, alice, "a", "1"), 0);
	snprintf(sig.id, sizeof(sig.id), "%032d", 1);
	ck_assert_int_eq(db_sig_put(d, &sig), 0);
	ck_assert_int_eq(db_list_add(d, alice, DB_LIST_WHITE, &e), 0);

	big_txn(h, N, hs);
	ck_assert_int_eq(db_rollback(d), 0);
	for (size_t i = 0; i < N; i++)
		t[i] = (db_token){ .hash = h[i] };
	ck_assert_int_eq(db_tokens_get(d, alice, t, N), 0);
	for (size_t i = 0; i < N; i++) {
		ck_assert_int_eq(t[i].spam_hits, i < 20 ? 2 : i < 100 ? 1 : 0);
		ck_assert_int_eq(t[i].innocent_hits, i < 100 ? 1 : 0);
	}
	ck_assert_int_eq(db_pref_get(d, alice, "a", buf, sizeof(buf), &found), 0);
	ck_assert_int_eq(found, 1);
	ck_assert_str_eq(buf, "1");
	ck_assert_int_eq(db_pref_get(d, alice, "b", buf, sizeof(buf), &found), 0);
	ck_assert_int_eq(found, 0);
	ck_assert_int_eq(db_sig_get(d, alice, sig.id, &got), 0);
	ck_assert_ptr_nonnull(got);
	ck_assert_int_eq(got->cls, DB_CLASS_INNOCENT);
	ck_assert_uint_eq(got->nhashes, 2);
	db_sig_free(got);
	got = NULL;
	ck_assert_int_eq(db_sig_get(d, alice, "00000000000000000000000000000002",
	    &got), 0);
	ck_assert_ptr_null(got);
	ck_assert_int_eq(db_list_match(d, alice, DB_LIST_WHITE, "a@example.org",
	    &matched), 0);
	ck_assert_int_eq(matched, 1);
	ck_assert_int_eq(db_list_match(d, alice, DB_LIST_WHITE, "b@example.org",
	    &matched), 0);
	ck_assert_int_eq(matched, 0);
	ck_assert_int_eq(db_user(d, "carol", 0, &carol), 0);
	ck_assert_int_eq(carol, 0);
	ck_assert_int_eq(db_totals_get(d, alice, &tot), 0);
	ck_assert_int_eq(tot.spam_learned, 0);

	/* Committed, the same transaction holds. */
	big_txn(h, N, hs);
	ck_assert_int_eq(db_commit(d), 0);
	ck_assert_int_eq(db_tokens_get(d, alice, t, N), 0);
	for (size_t i = 0; i < N; i++) {
		ck_assert_int_eq(t[i].spam_hits, i < 10 ? 7 : i < 50 ? 0 :
		    i < 100 ? 4 : i < 110 ? 0 : 1);
		ck_assert_int_eq(t[i].innocent_hits, i >= 50 && i < 100 ? 1 : 0);
	}
	ck_assert_int_eq(db_pref_get(d, alice, "a", buf, sizeof(buf), &found), 0);
	ck_assert_str_eq(buf, "2");
	ck_assert_int_eq(db_sig_get(d, alice, sig.id, &got), 0);
	ck_assert_ptr_nonnull(got);
	ck_assert_int_eq(got->cls, DB_CLASS_SPAM);
	ck_assert_uint_eq(got->nhashes, 3);
	db_sig_free(got);
	ck_assert_int_eq(db_list_match(d, alice, DB_LIST_WHITE, "a@example.org",
	    &matched), 0);
	ck_assert_int_eq(matched, 0);
	ck_assert_int_eq(db_user(d, "carol", 0, &carol), 0);
	ck_assert_int_gt(carol, 0);
	ck_assert_int_eq(carol, bob + 1);       /* the rolled-back one took no id */
	ck_assert_int_eq(db_totals_get(d, alice, &tot), 0);
	ck_assert_int_eq(tot.spam_learned, 5);
	free(h);
}
END_TEST

START_TEST(test_txn_commit_and_rollback)
{
	uint64_t h = 5;
	db_token t = { .hash = 5 };
	db_totals tot, one = { .spam_learned = 1 };

	ck_assert_int_eq(db_begin(d), 0);
	ck_assert_int_eq(db_tokens_update(d, alice, &h, 1, 1, 0, 1), 0);
	ck_assert_int_eq(db_totals_add(d, alice, &one), 0);
	/* reads inside the transaction see its writes */
	ck_assert_int_eq(db_tokens_get(d, alice, &t, 1), 0);
	ck_assert_int_eq(t.spam_hits, 1);
	ck_assert_int_eq(db_commit(d), 0);

	ck_assert_int_eq(db_begin(d), 0);
	ck_assert_int_eq(db_tokens_update(d, alice, &h, 1, 1, 0, 1), 0);
	ck_assert_int_eq(db_totals_add(d, alice, &one), 0);
	ck_assert_int_eq(db_user(d, "carol", 1, &(int64_t){ 0 }), 0);
	ck_assert_int_eq(db_rollback(d), 0);

	ck_assert_int_eq(db_tokens_get(d, alice, &t, 1), 0);
	ck_assert_int_eq(t.spam_hits, 1);
	ck_assert_int_eq(db_totals_get(d, alice, &tot), 0);
	ck_assert_int_eq(tot.spam_learned, 1);
	int64_t carol;
	ck_assert_int_eq(db_user(d, "carol", 0, &carol), 0);
	ck_assert_int_eq(carol, 0);
	ck_assert_int_eq(db_commit(d), -EINVAL);
	ck_assert_int_eq(db_rollback(d), -EINVAL);
	/* usable again after all that */
	ck_assert_int_eq(db_begin(d), 0);
	ck_assert_int_eq(db_commit(d), 0);
}
END_TEST

/* The error that made the caller roll back is still the one db_errmsg says
 * (the rollback cleared it: the CLI printed "spamsift: whitelist: "). */
START_TEST(test_txn_rollback_keeps_error)
{
	db_list_entry e = { .pattern = "x@example.org" };

	ck_assert_int_eq(db_begin(d), 0);
	ck_assert_int_eq(db_list_add(d, alice, 7, &e), -EINVAL);
	ck_assert_ptr_nonnull(strstr(db_errmsg(d), "add list entry"));
	ck_assert_int_eq(db_rollback(d), 0);
	ck_assert_ptr_nonnull(strstr(db_errmsg(d), "add list entry"));
	/* a failed rollback says why it failed */
	ck_assert_int_eq(db_rollback(d), -EINVAL);
	ck_assert_ptr_nonnull(strstr(db_errmsg(d), "rollback"));
}
END_TEST

/* ---- signatures ---- */

START_TEST(test_sig)
{
	uint64_t h[3] = { 1, 0xfedcba9876543210ULL, UINT64_MAX };
	db_sig s = { .id = "0123456789abcdef0123456789abcdef", .uid = alice,
	    .cls = DB_CLASS_SPAM, .learned = 1, .created = 1000,
	    .hashes = h, .nhashes = 3, .ntok = 2, .head = 1 };
	db_sig *g = (db_sig *)1;

	ck_assert_int_eq(db_sig_put(d, &s), 0);
	ck_assert_int_eq(db_sig_get(d, alice, s.id, &g), 0);
	ck_assert_ptr_nonnull(g);
	ck_assert_str_eq(g->id, s.id);
	ck_assert_int_eq(g->uid, alice);
	ck_assert_int_eq(g->cls, DB_CLASS_SPAM);
	ck_assert_int_eq(g->learned, 1);
	ck_assert_int_eq(g->created, 1000);
	ck_assert_uint_eq(g->nhashes, 3);
	ck_assert_mem_eq(g->hashes, h, sizeof(h));
	ck_assert_uint_eq(g->ntok, 2);
	ck_assert_uint_eq(g->head, 1);
	db_sig_free(g);

	/* another user's signature is not visible */
	ck_assert_int_eq(db_sig_get(d, bob, s.id, &g), 0);
	ck_assert_ptr_null(g);
	ck_assert_int_eq(db_sig_get(d, alice, "nope", &g), 0);
	ck_assert_ptr_null(g);

	ck_assert_int_eq(db_sig_update(d, alice, s.id, DB_CLASS_INNOCENT, 0), 0);
	ck_assert_int_eq(db_sig_update(d, alice, "absent", DB_CLASS_SPAM, 1), 0);
	ck_assert_int_eq(db_sig_get(d, alice, s.id, &g), 0);
	ck_assert_ptr_nonnull(g);
	ck_assert_int_eq(g->cls, DB_CLASS_INNOCENT);
	ck_assert_int_eq(g->learned, 0);
	db_sig_free(g);

	/* replace with no hashes */
	s.nhashes = 0;
	s.hashes = NULL;
	s.created = 3000;
	ck_assert_int_eq(db_sig_put(d, &s), 0);
	ck_assert_int_eq(db_sig_get(d, alice, s.id, &g), 0);
	ck_assert_ptr_nonnull(g);
	ck_assert_uint_eq(g->nhashes, 0);
	ck_assert_int_eq(g->created, 3000);
	db_sig_free(g);
	db_sig_free(NULL);

	/* invalid */
	s.id[0] = '\0';
	ck_assert_int_eq(db_sig_put(d, &s), -EINVAL);
	memcpy(s.id, "x", 2);
	s.cls = 7;
	ck_assert_int_eq(db_sig_put(d, &s), -EINVAL);
	ck_assert_int_eq(db_sig_update(d, alice, "x", 7, 0), -EINVAL);
}
END_TEST

START_TEST(test_sig_expire)
{
	db_sig s = { .uid = alice, .cls = DB_CLASS_SPAM };
	int64_t n = -1;
	db_sig *g;

	for (int i = 0; i < 5; i++) {
		snprintf(s.id, sizeof(s.id), "sig%d", i);
		s.created = 100 * i;
		s.uid = i % 2 ? bob : alice;
		ck_assert_int_eq(db_sig_put(d, &s), 0);
	}
	ck_assert_int_eq(db_sig_expire(d, 250, &n), 0);
	ck_assert_int_eq(n, 3);
	ck_assert_int_eq(db_sig_get(d, alice, "sig2", &g), 0);
	ck_assert_ptr_null(g);
	ck_assert_int_eq(db_sig_get(d, bob, "sig3", &g), 0);
	ck_assert_ptr_nonnull(g);
	db_sig_free(g);
	ck_assert_int_eq(db_sig_expire(d, 250, NULL), 0);
}
END_TEST

/* ---- lists ---- */

static void add(int64_t uid, int kind, const char *pattern)
{
	db_list_entry e = { .pattern = pattern, .added = 10, .added_by = "root" };

	ck_assert_int_eq(db_list_add(d, uid, kind, &e), 0);
}

static int matches(int64_t uid, int kind, const char *address)
{
	int m = -1;

	int rc = db_list_match(d, uid, kind, address, &m);

	ck_assert_msg(rc == 0, "match %.40s: %d %s", address, rc, db_errmsg(d));
	ck_assert(m == 0 || m == 1);
	return m;
}

START_TEST(test_list_match)
{
	add(alice, DB_LIST_WHITE, "boss@work.example");
	add(alice, DB_LIST_WHITE, "friends.example");
	add(alice, DB_LIST_WHITE, ".partner.example");
	add(alice, DB_LIST_BLOCK, "spam.example");

	ck_assert_int_eq(matches(alice, DB_LIST_WHITE, "boss@work.example"), 1);
	ck_assert_int_eq(matches(alice, DB_LIST_WHITE, "intern@work.example"), 0);
	ck_assert_int_eq(matches(alice, DB_LIST_WHITE, "joe@friends.example"), 1);
	ck_assert_int_eq(matches(alice, DB_LIST_WHITE, "joe@sub.friends.example"), 0);
	ck_assert_int_eq(matches(alice, DB_LIST_WHITE, "a@partner.example"), 1);
	ck_assert_int_eq(matches(alice, DB_LIST_WHITE, "a@x.y.partner.example"), 1);
	ck_assert_int_eq(matches(alice, DB_LIST_WHITE, "a@notpartner.example"), 0);
	ck_assert_int_eq(matches(alice, DB_LIST_WHITE, "a@partner.example.org"), 0);
	/* a deep domain has more candidates than one store query takes */
	ck_assert_int_eq(matches(alice, DB_LIST_WHITE,
	    "a@1.2.3.4.5.6.7.8.9.partner.example"), 1);
	ck_assert_int_eq(matches(alice, DB_LIST_WHITE,
	    "a@1.2.3.4.5.6.7.8.9.partner.example.org"), 0);
	/* kinds and users are separate */
	ck_assert_int_eq(matches(alice, DB_LIST_BLOCK, "boss@work.example"), 0);
	ck_assert_int_eq(matches(alice, DB_LIST_BLOCK, "x@spam.example"), 1);
	ck_assert_int_eq(matches(bob, DB_LIST_WHITE, "boss@work.example"), 0);
	/* patterns compare case-insensitively */
	add(alice, DB_LIST_BLOCK, "Mixed.Example");
	ck_assert_int_eq(matches(alice, DB_LIST_BLOCK, "x@mixed.example"), 1);
	/* empty address never matches */
	ck_assert_int_eq(matches(alice, DB_LIST_WHITE, ""), 0);
	ck_assert_int_eq(db_list_match(d, alice, 5, "a@b", &(int){ 0 }), -EINVAL);
}
END_TEST

START_TEST(test_list_wildcards_are_literal)
{
	/* SQL LIKE wildcards and quotes in patterns are plain characters */
	for (size_t i = 0; i < NNASTY; i++)
		add(alice, DB_LIST_BLOCK, nasty[i]);
	ck_assert_int_eq(matches(alice, DB_LIST_BLOCK, "anyone@anywhere.example"), 0);
	ck_assert_int_eq(matches(alice, DB_LIST_BLOCK, "x@100%"), 1);
	ck_assert_int_eq(matches(alice, DB_LIST_BLOCK, "x@a_b"), 1);
	ck_assert_int_eq(matches(alice, DB_LIST_BLOCK, "x@axb"), 0);
	ck_assert_int_eq(matches(alice, DB_LIST_BLOCK, "o'brien"), 1);

	char *big = malloc(10001);
	ck_assert_ptr_nonnull(big);
	memset(big, 'b', 10000);
	big[10000] = '\0';
	memcpy(big, "x@", 2);
	big[9000] = '%';
	ck_assert_int_eq(matches(alice, DB_LIST_WHITE, big), 0);
	add(alice, DB_LIST_WHITE, big);
	ck_assert_int_eq(matches(alice, DB_LIST_WHITE, big), 1);
	int found = 0;
	ck_assert_int_eq(db_list_del(d, alice, DB_LIST_WHITE, big, &found), 0);
	ck_assert_int_eq(found, 1);
	free(big);
}
END_TEST

typedef struct seen {
	char buf[512];          /* "pattern/automatic/added/by;" ... */
	int stop_after;         /* stop after this many (0: never) */
	int count;              /* calls */
} seen;

static int collect_list(void *arg, const db_list_entry *e)
{
	seen *s = arg;
	char line[128];

	snprintf(line, sizeof(line), "%s/%d/%lld/%s;", e->pattern,
	    e->automatic, (long long)e->added, e->added_by);
	strcat(s->buf, line);
	/* the callback may change the store */
	ck_assert_int_eq(db_list_del(d, alice, DB_LIST_WHITE, e->pattern, NULL), 0);
	return ++s->count == s->stop_after;
}

START_TEST(test_list_add_del_iter)
{
	db_list_entry e = { .pattern = "b.example", .automatic = 1,
	    .added = 50, .added_by = NULL };
	seen s = { .stop_after = 0 };
	int found = -1;

	ck_assert_int_eq(db_list_add(d, alice, DB_LIST_WHITE, &e), 0);
	add(alice, DB_LIST_WHITE, "a@c.example");
	add(alice, DB_LIST_WHITE, "C.example");
	/* replace: same pattern (other case), new fields */
	e.pattern = "B.EXAMPLE";
	e.automatic = 0;
	e.added_by = "admin";
	ck_assert_int_eq(db_list_add(d, alice, DB_LIST_WHITE, &e), 0);

	ck_assert_int_eq(db_list_del(d, alice, DB_LIST_WHITE, "absent", &found), 0);
	ck_assert_int_eq(found, 0);
	ck_assert_int_eq(db_list_del(d, alice, DB_LIST_BLOCK, "c.example", &found), 0);
	ck_assert_int_eq(found, 0);

	ck_assert_int_eq(db_list_iter(d, alice, DB_LIST_WHITE, collect_list, &s), 0);
	ck_assert_str_eq(s.buf, "a@c.example/0/10/root;B.EXAMPLE/0/50/admin;"
	    "C.example/0/10/root;");
	/* the callback deleted them all */
	s.buf[0] = '\0';
	ck_assert_int_eq(db_list_iter(d, alice, DB_LIST_WHITE, collect_list, &s), 0);
	ck_assert_str_eq(s.buf, "");

	add(alice, DB_LIST_WHITE, "1.example");
	add(alice, DB_LIST_WHITE, "2.example");
	s = (seen){ .stop_after = 1 };
	ck_assert_int_eq(db_list_iter(d, alice, DB_LIST_WHITE, collect_list, &s), 0);
	ck_assert_int_eq(s.count, 1);

	e.pattern = "";
	ck_assert_int_eq(db_list_add(d, alice, DB_LIST_WHITE, &e), -EINVAL);
	ck_assert_int_eq(db_list_add(d, alice, 9, &e), -EINVAL);
}
END_TEST

/* ---- senders ---- */

START_TEST(test_sender)
{
	db_sender s;

	ck_assert_int_eq(db_sender_add(d, alice, "a@x.example", 1, 0, 1, &s), 0);
	ck_assert_int_eq(s.innocent, 1);
	ck_assert_int_eq(s.spam, 0);
	ck_assert_int_eq(db_sender_add(d, alice, "a@x.example", 2, 3, 1, &s), 0);
	ck_assert_int_eq(s.innocent, 3);
	ck_assert_int_eq(s.spam, 3);
	ck_assert_int_eq(db_sender_add(d, alice, "a@x.example", -5, -1, 1, &s), 0);
	ck_assert_int_eq(s.innocent, 0);
	ck_assert_int_eq(s.spam, 2);
	ck_assert_int_eq(db_sender_add(d, bob, "a@x.example", 0, 0, 1, &s), 0);
	ck_assert_int_eq(s.spam, 0);
	ck_assert_int_eq(db_sender_add(d, alice, "o'x%_@y", 1, 1, 1, NULL), 0);
	ck_assert_int_eq(db_sender_add(d, alice, "o'x%_@y", 0, 0, 1, &s), 0);
	ck_assert_int_eq(s.innocent, 1);
	ck_assert_int_eq(db_sender_add(d, alice, "", 1, 1, 1, &s), -EINVAL);
}
END_TEST

/*
 * Senders' histories unseen for long, with few messages, are forgotten as
 * tokens are (db purge): one row was kept for every sender ever seen.
 */
START_TEST(test_sender_purge)
{
	db_sender s;
	int64_t n = -1;

	/* old, 1 message; old, 3; recent, 1; bob's, old, 1 */
	ck_assert_int_eq(db_sender_add(d, alice, "once@x.example", 1, 0, 10, NULL), 0);
	ck_assert_int_eq(db_sender_add(d, alice, "often@x.example", 2, 1, 10, NULL), 0);
	ck_assert_int_eq(db_sender_add(d, alice, "new@x.example", 0, 1, 30, NULL), 0);
	ck_assert_int_eq(db_sender_add(d, bob, "once@x.example", 1, 0, 10, NULL), 0);
	/* a message seen again moves its day on */
	ck_assert_int_eq(db_sender_add(d, alice, "again@x.example", 1, 0, 10, NULL), 0);
	ck_assert_int_eq(db_sender_add(d, alice, "again@x.example", -1, 1, 25, NULL), 0);
	ck_assert_int_eq(db_sender_purge(d, 20, 1, &n), 0);
	ck_assert_int_eq(n, 2);
	/* (deltas of 0 read the counts back) */
	ck_assert_int_eq(db_sender_add(d, alice, "once@x.example", 0, 0, 10, &s), 0);
	ck_assert_int_eq(s.innocent + s.spam, 0);
	ck_assert_int_eq(db_sender_add(d, bob, "once@x.example", 0, 0, 10, &s), 0);
	ck_assert_int_eq(s.innocent + s.spam, 0);
	ck_assert_int_eq(db_sender_add(d, alice, "often@x.example", 0, 0, 10, &s), 0);
	ck_assert_int_eq(s.innocent, 2);
	ck_assert_int_eq(s.spam, 1);
	ck_assert_int_eq(db_sender_add(d, alice, "new@x.example", 0, 0, 30, &s), 0);
	ck_assert_int_eq(s.spam, 1);
	ck_assert_int_eq(db_sender_add(d, alice, "again@x.example", 0, 0, 25, &s), 0);
	ck_assert_int_eq(s.spam, 1);
	/* in a transaction, all at once, undone by a rollback */
	ck_assert_int_eq(db_begin(d), 0);
	ck_assert_int_eq(db_sender_purge(d, 100, 10, &n), 0);
	ck_assert_int_ge(n, 3);
	ck_assert_int_eq(db_rollback(d), 0);
	ck_assert_int_eq(db_sender_add(d, alice, "often@x.example", 0, 0, 10, &s), 0);
	ck_assert_int_eq(s.innocent, 2);
	ck_assert_int_eq(db_sender_purge(d, 20, -1, &n), -EINVAL);
}
END_TEST

/* ---- preferences ---- */

static int collect_prefs(void *arg, const char *key, const char *value)
{
	strcat(arg, key);
	strcat(arg, "=");
	strcat(arg, value);
	strcat(arg, ";");
	return 0;
}

START_TEST(test_prefs)
{
	char buf[64], all[256] = "";
	int found = -1;

	ck_assert_int_eq(db_pref_get(d, alice, "mode", buf, sizeof(buf), &found), 0);
	ck_assert_int_eq(found, 0);
	ck_assert_int_eq(db_pref_set(d, alice, "mode", "teft"), 0);
	ck_assert_int_eq(db_pref_set(d, alice, "mode", "toe"), 0);
	ck_assert_int_eq(db_pref_set(d, alice, "action", "quarantine; '%_'"), 0);
	ck_assert_int_eq(db_pref_set(d, bob, "mode", "tum"), 0);
	ck_assert_int_eq(db_pref_get(d, alice, "mode", buf, sizeof(buf), &found), 0);
	ck_assert_int_eq(found, 1);
	ck_assert_str_eq(buf, "toe");
	ck_assert_int_eq(db_pref_get(d, alice, "mode", buf, 3, &found), -ERANGE);
	ck_assert_int_eq(db_pref_get(d, alice, "mode", buf, 4, &found), 0);
	ck_assert_str_eq(buf, "toe");
	ck_assert_int_eq(db_pref_iter(d, alice, collect_prefs, all), 0);
	ck_assert_str_eq(all, "action=quarantine; '%_';mode=toe;");
	ck_assert_int_eq(db_pref_unset(d, alice, "mode", &found), 0);
	ck_assert_int_eq(found, 1);
	ck_assert_int_eq(db_pref_unset(d, alice, "mode", &found), 0);
	ck_assert_int_eq(found, 0);
	ck_assert_int_eq(db_pref_get(d, alice, "mode", buf, sizeof(buf), &found), 0);
	ck_assert_int_eq(found, 0);
	ck_assert_int_eq(db_pref_get(d, bob, "mode", buf, sizeof(buf), &found), 0);
	ck_assert_str_eq(buf, "tum");
	ck_assert_int_eq(db_pref_set(d, alice, "", "x"), -EINVAL);
	ck_assert_int_eq(db_pref_set(d, alice, "k", NULL), -EINVAL);
}
END_TEST

/* ---- quarantine ---- */

typedef struct qseen {
	int64_t ids[8];         /* ids in visiting order */
	int n;                  /* how many */
} qseen;

static int collect_quar(void *arg, const db_quar *q)
{
	qseen *s = arg;

	ck_assert_ptr_null(q->data);
	ck_assert_uint_gt(q->len, 0);
	ck_assert_ptr_nonnull(q->sender);
	s->ids[s->n++] = q->id;
	return 0;
}

START_TEST(test_quarantine)
{
	static const char msg[] = "Subject: hi\r\n\r\nbin\0ary";
	db_quar q = { .uid = alice, .sender = "s@x.example",
	    .recipients = "alice@y.example,bob@y.example", .subject = "hi 'there'",
	    .signature = "abc", .probability = 0.99, .when = 500,
	    .data = msg, .len = sizeof(msg) - 1 };
	int64_t id1, id2, id3, n;
	db_quar *g = (db_quar *)1;
	qseen s = { .n = 0 };
	int found;

	ck_assert_int_eq(db_quar_put(d, &q, &id1), 0);
	q.when = 400;           /* older, stored later */
	q.sender = NULL;
	ck_assert_int_eq(db_quar_put(d, &q, &id2), 0);
	q.uid = bob;
	q.when = 600;
	ck_assert_int_eq(db_quar_put(d, &q, &id3), 0);
	ck_assert_int_ne(id1, id2);
	ck_assert_int_ne(id2, id3);

	ck_assert_int_eq(db_quar_get(d, alice, id1, &g), 0);
	ck_assert_ptr_nonnull(g);
	ck_assert_int_eq(g->id, id1);
	ck_assert_int_eq(g->uid, alice);
	ck_assert_str_eq(g->sender, "s@x.example");
	ck_assert_str_eq(g->recipients, "alice@y.example,bob@y.example");
	ck_assert_str_eq(g->subject, "hi 'there'");
	ck_assert_str_eq(g->signature, "abc");
	ck_assert(g->probability > 0.989 && g->probability < 0.991);
	ck_assert_int_eq(g->when, 500);
	ck_assert_uint_eq(g->len, sizeof(msg) - 1);
	ck_assert_mem_eq(g->data, msg, sizeof(msg));   /* with the NUL */
	db_quar_free(g);
	ck_assert_int_eq(db_quar_get(d, alice, id2, &g), 0);
	ck_assert_str_eq(g->sender, "");
	db_quar_free(g);
	db_quar_free(NULL);
	/* not alice's */
	ck_assert_int_eq(db_quar_get(d, alice, id3, &g), 0);
	ck_assert_ptr_null(g);

	ck_assert_int_eq(db_quar_iter(d, alice, collect_quar, &s), 0);
	ck_assert_int_eq(s.n, 2);
	ck_assert_int_eq(s.ids[0], id2);
	ck_assert_int_eq(s.ids[1], id1);

	ck_assert_int_eq(db_quar_del(d, bob, id1, &found), 0);
	ck_assert_int_eq(found, 0);
	ck_assert_int_eq(db_quar_del(d, alice, id1, &found), 0);
	ck_assert_int_eq(found, 1);
	ck_assert_int_eq(db_quar_get(d, alice, id1, &g), 0);
	ck_assert_ptr_null(g);

	/* bob's expiry leaves alice's old message (id2, at 400) alone */
	ck_assert_int_eq(db_quar_expire(d, bob, 550, &n), 0);
	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(db_quar_get(d, alice, id2, &g), 0);
	ck_assert_ptr_nonnull(g);
	db_quar_free(g);
	ck_assert_int_eq(db_quar_expire(d, alice, 550, &n), 0);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(db_quar_get(d, alice, id2, &g), 0);
	ck_assert_ptr_null(g);
	/* every user's (db purge): bob's, at 600, once older than the limit */
	ck_assert_int_eq(db_quar_expire(d, 0, 550, &n), 0);
	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(db_quar_get(d, bob, id3, &g), 0);
	ck_assert_ptr_nonnull(g);
	db_quar_free(g);
	ck_assert_int_eq(db_quar_expire(d, 0, 650, &n), 0);
	ck_assert_int_eq(n, 1);

	/* never inside a training transaction */
	ck_assert_int_eq(db_begin(d), 0);
	ck_assert_int_eq(db_quar_put(d, &q, &id1), -EINVAL);
	ck_assert_int_eq(db_rollback(d), 0);
	q.data = NULL;
	ck_assert_int_eq(db_quar_put(d, &q, &id1), -EINVAL);
	q.len = 0;
	ck_assert_int_eq(db_quar_put(d, &q, NULL), 0);
}
END_TEST

/* ---- hygiene ---- */

/*
 * The quarantine lock's rules (db_quar_lock), the same on every backend:
 * held once, not taken inside a transaction or a read snapshot, the store
 * usable while it is held, given up by db_close (the teardown).
 */
START_TEST(test_quar_lock)
{
	db_quar q = { .uid = alice, .recipients = "a@x.example", .data = "m",
	    .len = 1 };
	db_quar *g = NULL;
	int64_t id;
	int found = 0;

	ck_assert_int_eq(db_quar_unlock(d), 0);         /* not held: harmless */
	ck_assert_int_eq(db_quar_lock(d), 0);
	ck_assert_int_eq(db_quar_lock(d), -EINVAL);
	ck_assert_ptr_nonnull(strstr(db_errmsg(d), "already held"));
	ck_assert_int_eq(db_quar_put(d, &q, &id), 0);
	ck_assert_int_eq(db_quar_get(d, alice, id, &g), 0);
	ck_assert_ptr_nonnull(g);
	db_quar_free(g);
	ck_assert_int_eq(db_quar_del(d, alice, id, &found), 0);
	ck_assert_int_eq(found, 1);
	ck_assert_int_eq(db_quar_lock(d), -EINVAL);
	ck_assert_int_eq(db_quar_unlock(d), 0);         /* keeps the error */
	ck_assert_ptr_nonnull(strstr(db_errmsg(d), "already held"));
	ck_assert_int_eq(db_quar_unlock(d), 0);
	/* waiting for it while holding the write lock could deadlock */
	ck_assert_int_eq(db_begin(d), 0);
	ck_assert_int_eq(db_quar_lock(d), -EINVAL);
	ck_assert_ptr_nonnull(strstr(db_errmsg(d), "transaction"));
	ck_assert_int_eq(db_rollback(d), 0);
	ck_assert_int_eq(db_read_begin(d), 0);
	ck_assert_int_eq(db_quar_lock(d), -EINVAL);
	ck_assert_int_eq(db_read_end(d), 0);
	ck_assert_int_eq(db_quar_lock(d), 0);
	ck_assert_int_eq(db_quar_lock(NULL), -EINVAL);
	ck_assert_int_eq(db_quar_unlock(NULL), -EINVAL);
}
END_TEST

START_TEST(test_purge)
{
	uint64_t h[4] = { 1, 2, 3, 4 };
	db_token t[4] = { { .hash = 1 }, { .hash = 2 }, { .hash = 3 }, { .hash = 4 } };
	int64_t n = -1;

	/* 1: old, 1 hit; 2: old, 3 hits; 3: recent, 1 hit; 4: bob's, old */
	ck_assert_int_eq(db_tokens_update(d, alice, h, 1, 1, 0, 10), 0);
	ck_assert_int_eq(db_tokens_update(d, alice, h + 1, 1, 2, 1, 10), 0);
	ck_assert_int_eq(db_tokens_update(d, alice, h + 2, 1, 0, 1, 30), 0);
	ck_assert_int_eq(db_tokens_update(d, bob, h + 3, 1, 1, 0, 10), 0);
	ck_assert_int_eq(db_purge(d, 20, 2, &n), 0);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(db_tokens_get(d, alice, t, 3), 0);
	ck_assert_int_eq(t[0].spam_hits, 0);
	ck_assert_int_eq(t[1].spam_hits, 2);
	ck_assert_int_eq(t[2].innocent_hits, 1);
	ck_assert_int_eq(db_tokens_get(d, bob, t + 3, 1), 0);
	ck_assert_int_eq(t[3].spam_hits, 0);
	ck_assert_int_eq(db_purge(d, 20, -1, &n), -EINVAL);
	ck_assert_int_eq(db_vacuum(d), 0);
	ck_assert_int_eq(db_tokens_get(d, alice, t, 3), 0);
	ck_assert_int_eq(t[1].spam_hits, 2);
	ck_assert_int_eq(db_begin(d), 0);
	ck_assert_int_eq(db_vacuum(d), -EINVAL);
	ck_assert_int_eq(db_rollback(d), 0);
}
END_TEST

START_TEST(test_check)
{
	uint64_t h = 9;
	db_totals one = { .spam_learned = 1 };
	int ok = -1;
	char *rep = NULL;

	ck_assert_int_eq(db_tokens_update(d, alice, &h, 1, 1, 0, 1), 0);
	ck_assert_int_eq(db_totals_add(d, alice, &one), 0);
	ck_assert_int_eq(db_check(d, &ok, &rep), 0);
	ck_assert_int_eq(ok, 1);
	ck_assert_ptr_nonnull(rep);
	ck_assert_ptr_nonnull(strstr(rep, "ok"));
	free(rep);
	/* a token with more spam hits than spam learned is insane */
	ck_assert_int_eq(db_tokens_update(d, alice, &h, 1, 1, 0, 1), 0);
	ck_assert_int_eq(db_check(d, &ok, &rep), 0);
	ck_assert_int_eq(ok, 0);
	ck_assert_ptr_nonnull(strstr(rep, "more spam hits"));
	free(rep);
	ck_assert_int_eq(db_check(d, &ok, NULL), 0);
	ck_assert_int_eq(ok, 0);
	ck_assert_int_eq(db_check(d, NULL, NULL), -EINVAL);
}
END_TEST

/*
 * A departed user's data goes (`spamsift user delete`); the name keeps its
 * id, every other user's data stays, and quarantined mail is deleted only
 * when asked for.
 */
static void fill_user(int64_t uid, const char *who)
{
	uint64_t h[2] = { 11, 12 };
	db_totals one = { .spam_learned = 1 };
	db_sig sig = { .uid = uid, .cls = DB_CLASS_SPAM, .learned = 1,
	    .created = 100, .hashes = h, .nhashes = 2 };
	db_list_entry e = { .pattern = "friend@x.example", .added = 5 };
	db_quar q = { .uid = uid, .sender = "s@x.example", .recipients = who,
	    .subject = "s", .signature = "", .probability = 1, .when = 5,
	    .data = "x", .len = 1 };
	int64_t id;

	memset(sig.id, 'a', 32);
	ck_assert_int_eq(db_tokens_update(d, uid, h, 2, 1, 0, 1), 0);
	ck_assert_int_eq(db_totals_add(d, uid, &one), 0);
	ck_assert_int_eq(db_sig_put(d, &sig), 0);
	ck_assert_int_eq(db_list_add(d, uid, DB_LIST_WHITE, &e), 0);
	ck_assert_int_eq(db_sender_add(d, uid, "friend@x.example", 1, 0, 1, NULL), 0);
	ck_assert_int_eq(db_pref_set(d, uid, "spamAction", "tag"), 0);
	ck_assert_int_eq(db_quar_put(d, &q, &id), 0);
}

static int count_cb(void *arg, const db_quar *q)
{
	(void)q;
	(*(int *)arg)++;
	return 0;
}

/* 1 when everything fill_user stored for uid is there, 0 when none is. */
static int has_data(int64_t uid)
{
	db_token t[2] = { { .hash = 11 }, { .hash = 12 } };
	db_totals tot;
	db_sig *sig = NULL;
	db_sender snd;
	char sid[33], val[64];
	int found = 0, listed = 0, nq = 0, n = 0;

	memset(sid, 'a', 32);
	sid[32] = '\0';
	ck_assert_int_eq(db_tokens_get(d, uid, t, 2), 0);
	ck_assert_int_eq(db_totals_get(d, uid, &tot), 0);
	ck_assert_int_eq(db_sig_get(d, uid, sid, &sig), 0);
	ck_assert_int_eq(db_list_match(d, uid, DB_LIST_WHITE, "friend@x.example",
	    &listed), 0);
	ck_assert_int_eq(db_sender_add(d, uid, "friend@x.example", 0, 0, 1, &snd), 0);
	ck_assert_int_eq(db_pref_get(d, uid, "spamAction", val, sizeof(val),
	    &found), 0);
	ck_assert_int_eq(db_quar_iter(d, uid, count_cb, &nq), 0);
	n = (t[0].spam_hits == 1) + (t[1].spam_hits == 1) +
	    (tot.spam_learned == 1) + (sig != NULL) + listed +
	    (snd.innocent == 1) + found + (nq == 1);
	db_sig_free(sig);
	ck_assert_msg(n == 0 || n == 8, "user %lld: %d of 8 kinds of rows",
	    (long long)uid, n);
	return n == 8;
}

START_TEST(test_user_delete)
{
	int64_t nq = -1, again = 0;
	int ok = 0;

	fill_user(alice, "alice@y.example");
	fill_user(bob, "bob@y.example");
	/* Quarantined mail stops it unless asked for: nothing goes. */
	ck_assert_int_eq(db_user_delete(d, alice, 0, &nq), -ENOTEMPTY);
	ck_assert_int_eq(nq, 1);
	ck_assert_ptr_nonnull(strstr(db_errmsg(d), "1 quarantined message"));
	ck_assert_int_eq(has_data(alice), 1);
	ck_assert_int_eq(db_user_delete(d, alice, 1, &nq), 0);
	ck_assert_int_eq(nq, 1);
	ck_assert_int_eq(has_data(alice), 0);
	ck_assert_int_eq(has_data(bob), 1);
	/* The name keeps its id; nothing is left to stop a second delete. */
	ck_assert_int_eq(db_user(d, "alice", 0, &again), 0);
	ck_assert_int_eq(again, alice);
	ck_assert_int_eq(db_user_delete(d, alice, 0, NULL), 0);
	ck_assert_int_eq(db_check(d, &ok, NULL), 0);
	ck_assert_int_eq(ok, 1);
	/* Not inside a transaction; no user 0. */
	ck_assert_int_eq(db_begin(d), 0);
	ck_assert_int_eq(db_user_delete(d, bob, 1, NULL), -EINVAL);
	ck_assert_int_eq(db_rollback(d), 0);
	ck_assert_int_eq(db_user_delete(d, 0, 1, NULL), -EINVAL);
	ck_assert_int_eq(has_data(bob), 1);
}
END_TEST

/* ---- read-only and error text ---- */

START_TEST(test_readonly)
{
	uint64_t h = 1;
	db_token t = { .hash = 1 };
	db_totals z = { 0 };
	db_list_entry e = { .pattern = "x" };
	db_sig s = { .id = "x", .uid = 1 };
	db_quar q = { .uid = 1 };
	int64_t uid, n;
	int found;

	ck_assert_int_eq(db_tokens_update(d, alice, &h, 1, 1, 0, 1), 0);
	db_close(d);
	d = NULL;
	open_store(DB_OPEN_CREATE);     /* mem: starts empty again */
	ck_assert_int_eq(db_user(d, "alice", 1, &alice), 0);
	db_close(d);
	d = NULL;
	open_store(DB_OPEN_READONLY);
	ck_assert_int_eq(db_tokens_get(d, 1, &t, 1), 0);
	ck_assert_int_eq(db_tokens_update(d, 1, &h, 1, 1, 0, 1), -EROFS);
	ck_assert_ptr_nonnull(strstr(db_errmsg(d), "read-only"));
	ck_assert_ptr_nonnull(strstr(db_errmsg(d), spec[0] == 'm' ? "mem:" : dir));
	ck_assert_int_eq(db_user(d, "newbie", 1, &uid), -EROFS);
	ck_assert_int_eq(db_totals_add(d, 1, &z), -EROFS);
	ck_assert_int_eq(db_begin(d), -EROFS);
	ck_assert_int_eq(db_sig_put(d, &s), -EROFS);
	ck_assert_int_eq(db_sig_update(d, 1, "x", 0, 0), -EROFS);
	ck_assert_int_eq(db_sig_expire(d, 1, &n), -EROFS);
	ck_assert_int_eq(db_list_add(d, 1, 0, &e), -EROFS);
	ck_assert_int_eq(db_list_del(d, 1, 0, "x", &found), -EROFS);
	ck_assert_int_eq(db_sender_add(d, 1, "x", 1, 1, 1, NULL), -EROFS);
	ck_assert_int_eq(db_pref_set(d, 1, "k", "v"), -EROFS);
	ck_assert_int_eq(db_pref_unset(d, 1, "k", &found), -EROFS);
	ck_assert_int_eq(db_quar_put(d, &q, &n), -EROFS);
	ck_assert_int_eq(db_quar_del(d, 1, 1, &found), -EROFS);
	ck_assert_int_eq(db_quar_expire(d, 0, 1, &n), -EROFS);
	ck_assert_int_eq(db_quar_lock(d), -EROFS);
	ck_assert_int_eq(db_purge(d, 1, 1, &n), -EROFS);
	ck_assert_int_eq(db_sender_purge(d, 1, 1, &n), -EROFS);
	ck_assert_int_eq(db_vacuum(d), -EROFS);
	/* reads work */
	ck_assert_int_eq(db_busy_timeout(d, 100), 0);
	ck_assert_int_eq(db_busy_timeout(d, -1), -EINVAL);
	ck_assert_int_eq(db_user(d, "newbie", 0, &uid), 0);
	ck_assert_int_eq(uid, 0);
}
END_TEST

/* ---- deferred writes (db_defer) ---- */

START_TEST(test_defer_basic)
{
	uint64_t h[3] = { 11, 12, 13 };
	db_token t[3] = { { .hash = 11 }, { .hash = 12 }, { .hash = 13 } };
	db_totals add = { .spam_learned = 1 }, tot;

	ck_assert_int_eq(db_pending(d), 0);
	ck_assert_int_eq(db_defer(d, 1 << 20), 0);
	for (int i = 0; i < 10; i++) {
		ck_assert_int_eq(db_begin(d), 0);
		ck_assert_int_eq(db_tokens_update(d, alice, h, 2 + (i % 2), 1, 0, 5), 0);
		ck_assert_int_eq(db_totals_add(d, alice, &add), 0);
		ck_assert_int_eq(db_commit(d), 0);
	}
	ck_assert_int_gt(db_pending(d), 0);
	/* this handle reads what is deferred */
	ck_assert_int_eq(db_tokens_get(d, alice, t, 3), 0);
	ck_assert_int_eq(t[0].spam_hits, 10);
	ck_assert_int_eq(t[2].spam_hits, 5);
	ck_assert_int_eq(db_totals_get(d, alice, &tot), 0);
	ck_assert_int_eq(tot.spam_learned, 10);
	/* a rolled-back deferred transaction leaves nothing */
	ck_assert_int_eq(db_begin(d), 0);
	ck_assert_int_eq(db_tokens_update(d, alice, h, 3, 7, 7, 6), 0);
	ck_assert_int_eq(db_totals_add(d, alice, &add), 0);
	ck_assert_int_eq(db_rollback(d), 0);
	/* so does an inner rollback */
	ck_assert_int_eq(db_begin(d), 0);
	ck_assert_int_eq(db_begin(d), 0);
	ck_assert_int_eq(db_tokens_update(d, alice, h, 3, 7, 7, 6), 0);
	ck_assert_int_eq(db_rollback(d), 0);
	ck_assert_int_eq(db_commit(d), -ECANCELED);
	ck_assert_int_eq(db_flush(d), 0);
	ck_assert_int_eq(db_pending(d), 0);
	ck_assert_int_eq(db_defer(d, 0), 0);
	memset(t, 0, sizeof(t));
	t[0].hash = 11, t[1].hash = 12, t[2].hash = 13;
	ck_assert_int_eq(db_tokens_get(d, alice, t, 3), 0);
	ck_assert_int_eq(t[0].spam_hits, 10);
	ck_assert_int_eq(t[1].spam_hits, 10);
	ck_assert_int_eq(t[2].spam_hits, 5);
	ck_assert_int_eq(t[0].innocent_hits, 0);
	ck_assert_int_eq(db_totals_get(d, alice, &tot), 0);
	ck_assert_int_eq(tot.spam_learned, 10);
}
END_TEST

START_TEST(test_defer_other_writes)
{
	uint64_t h[2] = { 21, 22 };
	db_token t[2] = { { .hash = 21 }, { .hash = 22 } };
	db_totals sub = { .spam_learned = -1 }, tot;
	int64_t carol;

	ck_assert_int_eq(db_defer(d, 1 << 20), 0);
	ck_assert_int_eq(db_tokens_update(d, alice, h, 2, 3, 0, 1), 0);
	ck_assert_int_eq(db_totals_add(d, alice,
	    &(db_totals){ .spam_learned = 3 }), 0);
	/* a decrement in a transaction sees the deferred increments, and
	 * a rollback of it keeps them (they were written before) */
	ck_assert_int_eq(db_begin(d), 0);
	ck_assert_int_eq(db_tokens_update(d, alice, h, 1, -2, 0, 1), 0);
	ck_assert_int_eq(db_totals_add(d, alice, &sub), 0);
	ck_assert_int_eq(db_tokens_get(d, alice, t, 2), 0);
	ck_assert_int_eq(t[0].spam_hits, 1);
	ck_assert_int_eq(t[1].spam_hits, 3);
	ck_assert_int_eq(db_rollback(d), 0);
	ck_assert_int_eq(db_pending(d), 0);
	ck_assert_int_eq(db_tokens_get(d, alice, t, 2), 0);
	ck_assert_int_eq(t[0].spam_hits, 3);
	/* a deferred transaction that writes something else becomes a real one */
	ck_assert_int_eq(db_begin(d), 0);
	ck_assert_int_eq(db_tokens_update(d, alice, h, 2, 1, 0, 2), 0);
	ck_assert_int_eq(db_pref_set(d, alice, "k", "v"), 0);
	ck_assert_int_eq(db_user(d, "carol", 1, &carol), 0);
	ck_assert_int_gt(carol, 0);
	ck_assert_int_eq(db_commit(d), 0);
	ck_assert_int_eq(db_pending(d), 0);
	ck_assert_int_eq(db_tokens_get(d, alice, t, 2), 0);
	ck_assert_int_eq(t[0].spam_hits, 4);
	ck_assert_int_eq(t[1].spam_hits, 4);
	ck_assert_int_eq(db_totals_get(d, alice, &tot), 0);
	ck_assert_int_eq(tot.spam_learned, 3);
	/* the memory bound flushes by itself */
	ck_assert_int_eq(db_defer(d, 4096), 0);
	for (uint64_t k = 0; k < 2000; k++) {
		uint64_t x = 1000 + k;

		ck_assert_int_eq(db_tokens_update(d, bob, &x, 1, 1, 0, 3), 0);
	}
	ck_assert_int_lt(db_pending(d), 200000);
	ck_assert_int_eq(db_defer(d, 0), 0);
	ck_assert_int_eq(db_pending(d), 0);
	/* the table stays in its bound with room for its sort's copy (70%) */
	ck_assert_int_eq(db_defer(d, 1 << 20), 0);
	for (uint64_t k = 0; k < 30000; k++) {
		uint64_t x = 100000 + k;

		ck_assert_int_eq(db_tokens_update(d, bob, &x, 1, 1, 0, 3), 0);
		ck_assert_uint_le(db_pending(d) / 10 * 17, 1 << 20);
	}
	ck_assert_int_eq(db_defer(d, 0), 0);
	{
		db_token b = { .hash = 1000 + 1999 };

		ck_assert_int_eq(db_tokens_get(d, bob, &b, 1), 0);
		ck_assert_int_eq(b.spam_hits, 1);
	}
	/* not inside a transaction */
	ck_assert_int_eq(db_begin(d), 0);
	ck_assert_int_eq(db_defer(d, 1), -EINVAL);
	ck_assert_int_eq(db_flush(d), -EINVAL);
	ck_assert_int_eq(db_commit(d), 0);
}
END_TEST

static void add_contract(Suite *s, const char *name, void (*setup)(void))
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_open_bad_args);
	tcase_add_test(tc, test_user);
	tcase_add_test(tc, test_iter_stop_returns_negative);
	tcase_add_test(tc, test_nasty_names);
	tcase_add_test(tc, test_tokens_absent_are_zero);
	tcase_add_test(tc, test_tokens_update_and_clamp);
	tcase_add_test(tc, test_tokens_many);
	tcase_add_test(tc, test_tokens_crafted_hashes);
	tcase_add_test(tc, test_totals);
	tcase_add_test(tc, test_txn_commit_and_rollback);
	tcase_add_test(tc, test_txn_rollback_restores_all);
	tcase_add_test(tc, test_txn_rollback_keeps_error);
	tcase_add_test(tc, test_txn_nested);
	tcase_add_test(tc, test_tokens_iter);
	tcase_add_test(tc, test_txn_combined_increments);
	tcase_add_test(tc, test_sig);
	tcase_add_test(tc, test_sig_expire);
	tcase_add_test(tc, test_list_match);
	tcase_add_test(tc, test_list_wildcards_are_literal);
	tcase_add_test(tc, test_list_add_del_iter);
	tcase_add_test(tc, test_sender);
	tcase_add_test(tc, test_prefs);
	tcase_add_test(tc, test_quarantine);
	tcase_add_test(tc, test_quar_lock);
	tcase_add_test(tc, test_purge);
	tcase_add_test(tc, test_sender_purge);
	tcase_add_test(tc, test_check);
	tcase_add_test(tc, test_user_delete);
	tcase_add_test(tc, test_readonly);
	tcase_add_test(tc, test_defer_basic);
	tcase_add_test(tc, test_defer_other_writes);
	suite_add_tcase(s, tc);
}

int main(void)
{
	Suite *s = suite_create("db");

	add_contract(s, "mem", setup_mem);
	add_contract(s, "sqlite", setup_sqlite);
	return test_run(s);
}
