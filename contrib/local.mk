# contrib/: Postfix, systemd and Dovecot snippets, benchmarks.
EXTRA_DIST += contrib/setup-debian.sh contrib/postfix/main.cf.snippet contrib/systemd/spamsift-milter.service \
	contrib/systemd/spamsift-purge.service contrib/systemd/spamsift-purge.timer \
	contrib/dovecot/90-spamsift.conf contrib/dovecot/report-spam.sieve \
	contrib/dovecot/report-ham.sieve contrib/dovecot/spamsift-learn \
	contrib/bench/run.sh

# End-to-end benchmark (contrib/bench/e2e.sh): the do-nothing milter, built
# with the tree but not installed or tested; the driver and corpus sender.
noinst_PROGRAMS += contrib/bench/nullmilter
contrib_bench_nullmilter_SOURCES = contrib/bench/nullmilter.c
contrib_bench_nullmilter_LDADD = $(MILTER_LIBS) -lpthread
EXTRA_DIST += contrib/bench/e2e.sh contrib/bench/send_corpus.py

# The milter's store work alone (classification through the shared token
# cache, the writer's batched commits), timed apart: contrib/bench/replay.
noinst_PROGRAMS += contrib/bench/replay
contrib_bench_replay_SOURCES = contrib/bench/replay.c
contrib_bench_replay_LDADD = $(CORE_LIBS)

# Accuracy benchmark (TREC online protocol vs bogofilter and spamprobe); the
# script compiles its driver against the built libspamsift.a.
EXTRA_DIST += contrib/bench/accuracy.sh contrib/bench/accuracy.c contrib/bench/store.sh \
	contrib/bench/corpus.sh
