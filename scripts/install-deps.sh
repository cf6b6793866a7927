#!/bin/sh
# Install the Debian packages listed in scripts/packages-*.txt that are not
# installed yet. Usage: install-deps.sh build|test|e2e|bench ...
# Runs as root on Debian 12; does nothing when everything is present.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
want=""
for set in "$@"; do
	list="$here/packages-$set.txt"
	[ -f "$list" ] || { echo "install-deps: no package list $list" >&2; exit 2; }
	want="$want $(sed -e 's/#.*//' "$list" | tr -s ' \n' ' ')"
done
missing=""
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# The tests start their own servers on 127.0.0.1: a package installed for
# its programs (prometheus would listen on 0.0.0.0:9090) starts no daemon
# now (policy-rc.d, unless the machine has its own) nor at boot.
guard=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	guard=1
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
for p in $missing; do
	case $p in
	prometheus)
		if command -v systemctl >/dev/null 2>&1; then
			systemctl disable --now prometheus.service >/dev/null 2>&1 || true
		fi
		;;
	esac
done
[ -n "$guard" ] && rm -f /usr/sbin/policy-rc.d
exit 0
