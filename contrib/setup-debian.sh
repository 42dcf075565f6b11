#!/bin/sh
# setup-debian.sh -- install what spamsift needs on Debian 12, then build it.
#
# Run as root from the top of the source tree. Installs only the packages
# that are missing (after apt-get update), then autoreconf, configure, make.
# Extra arguments are passed to ./configure (e.g. --enable-sanitizers).
set -eu

# Build dependencies, then what the test suite and benchmarks drive:
# a real Postfix (smtp-source/smtp-sink included), miltertest, python3 for
# the SMTP and IMAP clients of the integration tests, Dovecot with Sieve
# for the contrib/dovecot test (it runs a private instance).
PKGS="build-essential autoconf automake pkg-config
libmilter-dev libsqlite3-dev libmagic-dev libxxhash-dev check
postfix miltertest python3 sqlite3 file dovecot-imapd dovecot-sieve"

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
	# The tests run their own Dovecot on 127.0.0.1; a system IMAP server
	# that the installation started for us is stopped and left disabled.
	case " $missing " in
	*" dovecot-imapd "*)
		if command -v systemctl >/dev/null 2>&1 && systemctl is-enabled dovecot >/dev/null 2>&1; then
			echo "setup-debian: stopping and disabling the system dovecot service (the tests run their own)"
			systemctl disable --now dovecot >/dev/null 2>&1 || true
		fi
		;;
	esac
fi

[ -x configure ] || autoreconf -fi
./configure "$@"
make -j"$(nproc)"
