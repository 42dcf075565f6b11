#!/bin/sh
# setup-debian.sh -- install what spamsift needs on Debian 12, then build it.
#
# Run as root from the top of the source tree. Installs only the packages
# that are missing (after apt-get update), then autoreconf, configure, make.
# Extra arguments are passed to ./configure (e.g. --enable-sanitizers).
set -eu

# Build dependencies, then what the test suite and benchmarks drive:
# a real Postfix (smtp-source/smtp-sink included), miltertest, python3 for
# the SMTP client of the integration tests.
PKGS="build-essential autoconf automake pkg-config
libmilter-dev libsqlite3-dev libmagic-dev libxxhash-dev check
postfix miltertest python3 sqlite3 file"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "setup-debian: installing:$missing"
	apt-get update
	# Postfix must not ask questions nor configure the system mailer.
	echo "postfix postfix/main_mailer_type select No configuration" |
		debconf-set-selections
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
fi

[ -x configure ] || autoreconf -fi
./configure "$@"
make -j"$(nproc)"
