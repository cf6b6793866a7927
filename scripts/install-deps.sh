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
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
