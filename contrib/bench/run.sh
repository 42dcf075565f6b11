#!/bin/bash
# run.sh -- every benchmark in one go (`make bench` runs it from the build
# directory): the tokenizer (tokenize.sh) and accuracy (accuracy.sh) when
# present and executable, and the end-to-end Postfix benchmark (e2e.sh).
# Arguments are passed to e2e.sh (--quick for a smoke run).
set -u
here=$(cd "$(dirname "$0")" && pwd)
rc=0
for b in tokenize accuracy store; do
	if [ -x "$here/$b.sh" ]; then
		echo "## $b"
		"$here/$b.sh" || { echo "run.sh: $b.sh failed" >&2; rc=1; }
		echo
	fi
done
echo "## End to end"
"$here/e2e.sh" "$@" || { echo "run.sh: e2e.sh failed" >&2; rc=1; }
exit $rc
