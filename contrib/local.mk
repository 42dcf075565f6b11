# contrib/: Postfix and systemd snippets, benchmarks.
EXTRA_DIST += contrib/setup-debian.sh contrib/postfix/main.cf.snippet contrib/systemd/spamsift-milter.service \
	contrib/bench/run.sh
