#!/bin/sh
# Start or stop a single-node Ceph cluster with radosgw on 127.0.0.1, the
# real S3 server that the object-store tests talk to (ARCHITECTURE.md,
# "Testing with real parts").
#
#   rgw.sh start DIR   creates DIR (tmpfs is best), starts ceph-mon, one
#                      memstore ceph-osd and radosgw on free loopback ports,
#                      creates an S3 user and prints, on stdout:
#                        RGW_ENDPOINT=http://127.0.0.1:PORT
#                        RGW_HTTPS_ENDPOINT=https://127.0.0.1:PORT
#                        RGW_HTTPS_OTHER_ENDPOINT=https://127.0.0.1:PORT
#                        RGW_CA_BUNDLE=DIR/tls/ca.crt
#                        RGW_ACCESS_KEY=...
#                        RGW_SECRET_KEY=...
#                        RGW_STORAGE_CLASSES=STANDARD STANDARD_IA GLACIER DEEP_ARCHIVE
#                      exit status 0 only when the S3 ports answer.
#   rgw.sh quota DIR BUCKET BYTES
#                      sets the bucket's quota to BYTES (-1: none), so that
#                      radosgw answers QuotaExceeded beyond it.
#   rgw.sh raw DIR NAME OUT
#                      the bytes RADOS holds for the objects whose names
#                      contain NAME, one file per RADOS object in the
#                      directory OUT (what is at rest on the server, to
#                      tell encrypted from clear).
#   rgw.sh stop DIR    stops exactly the daemons started in DIR (pid files)
#                      and removes DIR.
#
# HTTPS: the same radosgw serves TLS (beast's ssl_endpoint) with a
# certificate signed by a CA made here (openssl, EC P-256, valid two days):
# RGW_HTTPS_ENDPOINT's names IP:127.0.0.1 and DNS:localhost, so it verifies
# against RGW_CA_BUNDLE; RGW_HTTPS_OTHER_ENDPOINT's, from the same CA, names
# only s3.other.invalid, so it fails the name check and nothing else.
#
# Why a mon and an OSD: Debian 12's Ceph (Pacific, 16.2) has no dbstore
# backend compiled into radosgw, so radosgw needs RADOS underneath. The OSD
# uses memstore (objects in RAM), so nothing touches a disk.
# The cluster runs with cephx disabled: it listens on 127.0.0.1 only, lives
# for one test run, and S3 requests are still authenticated by radosgw with
# SigV4 against the user created here.
set -eu

die() {
	echo "rgw.sh: $*" >&2
	exit 1
}

free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Wait up to $1 seconds for the command in the rest of the arguments.
wait_for() {
	secs=$1
	shift
	i=0
	while [ "$i" -lt $((secs * 5)) ]; do
		if "$@" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.2
		i=$((i + 1))
	done
	return 1
}

show_logs() {
	for f in "$dir"/log/*.log; do
		[ -f "$f" ] || continue
		echo "--- last lines of $f" >&2
		tail -15 "$f" >&2
	done
}

# A CA and two server certificates it signs, in $1 (keys mode 0600).
make_certs() {
	tls=$1
	mkdir -p "$tls"
	(
		umask 077
		cd "$tls" || exit 1
		ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
		# shellcheck disable=SC2086 # $ec is several words
		openssl req -x509 $ec -keyout ca.key -out ca.crt -days 2 -subj "/CN=vtl test CA" \
			-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" &&
			printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >server.ext &&
			printf 'subjectAltName=DNS:s3.other.invalid\n' >other.ext &&
			for name in server other; do
				# shellcheck disable=SC2086
				openssl req $ec -keyout "$name.key" -out "$name.csr" -subj "/CN=$name" &&
					openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial \
						-days 2 -extfile "$name.ext" -out "$name.crt" || exit 1
			done
	) >"$dir/log/openssl.out" 2>&1 || { cat "$dir/log/openssl.out" >&2; die "openssl could not make the test certificates"; }
	chmod 644 "$tls/ca.crt"
}

start() {
	for bin in ceph-mon ceph-osd radosgw radosgw-admin ceph openssl; do
		command -v "$bin" >/dev/null 2>&1 ||
			die "$bin not found: install the Debian packages radosgw ceph-mon ceph-osd openssl (scripts/install-deps.sh test)"
	done
	[ -e "$dir" ] && [ -n "$(ls -A "$dir" 2>/dev/null)" ] && die "$dir exists and is not empty"
	mkdir -p "$dir/run" "$dir/log" "$dir/mon" "$dir/osd" "$dir/rgw"
	fsid=$(cat /proc/sys/kernel/random/uuid)
	osd_uuid=$(cat /proc/sys/kernel/random/uuid)
	mon_port=$(free_port)
	rgw_port=$(free_port)
	ssl_port=$(free_port)
	other_port=$(free_port)
	make_certs "$dir/tls"
	# SSE-KMS with radosgw's testing backend: key ids mapped to 256-bit
	# keys in the configuration itself (docs/object-store.md, "Server-side
	# encryption"); random for each cluster.
	kms_keys=""
	for kid in vtl-test-key-1 vtl-test-key-2; do
		kms_keys="$kms_keys${kms_keys:+ }$kid=$(openssl rand -base64 32)"
	done
	conf="$dir/ceph.conf"
	cat >"$conf" <<CONF
[global]
fsid = $fsid
mon host = v1:127.0.0.1:$mon_port
public network = 127.0.0.0/8
ms bind msgr2 = false
auth cluster required = none
auth service required = none
auth client required = none
run dir = $dir/run
admin socket = $dir/run/\$name.asok
log file = $dir/log/\$name.log
pid file = $dir/run/\$name.pid
log to stderr = false
err to stderr = false
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
osd crush chooseleaf type = 0
mon warn on pool no redundancy = false
[mon.a]
mon data = $dir/mon/a
public addr = 127.0.0.1:$mon_port
[osd]
osd objectstore = memstore
osd data = $dir/osd/\$id
memstore device bytes = 4294967296
osd max object size = 134217728
# The OSD does not place itself in the CRUSH map at start (this script
# does, below, before starting it): Pacific's OSD sends those commands as
# soon as it has authenticated, and under load that can be before the
# monitor's map has reached it, so the command carries a zero fsid, the
# monitor refuses it ("wrong fsid") and the OSD exits (seen in CI).
osd crush update on start = false
osd class update on start = false
[client]
keyring = $dir/run/client.keyring
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$rgw_port ssl_endpoint=127.0.0.1:$ssl_port ssl_certificate=$dir/tls/server.crt ssl_private_key=$dir/tls/server.key, beast ssl_endpoint=127.0.0.1:$other_port ssl_certificate=$dir/tls/other.crt ssl_private_key=$dir/tls/other.key
rgw data = $dir/rgw
rgw dns name = localhost
rgw enable usage log = false
rgw crypt s3 kms backend = testing
rgw crypt s3 kms encryption keys = $kms_keys
CONF
	echo "$rgw_port" >"$dir/rgw.port"

	monmaptool --create --fsid "$fsid" --addv a "[v1:127.0.0.1:$mon_port]" "$dir/monmap" >"$dir/log/monmap.out" 2>&1 ||
		{ cat "$dir/log/monmap.out" >&2; die "monmaptool failed"; }
	ceph-mon -c "$conf" -i a --mkfs --monmap "$dir/monmap" >"$dir/log/mkfs-mon.out" 2>&1 || { cat "$dir/log/mkfs-mon.out" >&2; die "ceph-mon --mkfs failed"; }
	ceph-mon -c "$conf" -i a || { show_logs; die "ceph-mon did not start"; }
	wait_for 30 timeout 10 ceph -c "$conf" mon stat || { show_logs; die "the monitor on 127.0.0.1:$mon_port does not answer"; }

	# The OSD must be created in the OSD map with the same UUID that its
	# --mkfs writes, or the monitor ignores its boot message.
	id=$(timeout 30 ceph -c "$conf" osd create "$osd_uuid") || die "ceph osd create failed"
	timeout 30 ceph -c "$conf" osd crush add "osd.$id" 1.0 root=default >>"$dir/log/admin.out" 2>&1 ||
		{ tail "$dir/log/admin.out" >&2; die "ceph osd crush add osd.$id failed"; }
	mkdir -p "$dir/osd/$id"
	ceph-osd -c "$conf" -i "$id" --mkfs --osd-uuid "$osd_uuid" >"$dir/log/mkfs-osd.out" 2>&1 ||
		{ cat "$dir/log/mkfs-osd.out" >&2; die "ceph-osd --mkfs failed"; }
	# Started twice at most: a port race with another cluster starting on
	# this machine at the same instant is the one failure seen.
	ceph-osd -c "$conf" -i "$id" 2>>"$dir/log/osd-start.out" ||
		{ sleep 1; ceph-osd -c "$conf" -i "$id" 2>>"$dir/log/osd-start.out"; } ||
		{ show_logs; cat "$dir/log/osd-start.out" >&2; die "ceph-osd did not start"; }
	wait_for 60 sh -c "timeout 10 ceph -c '$conf' osd stat | grep -q '1 up'" || { show_logs; die "the OSD did not come up"; }

	# Creating the user also creates the default zone and zonegroup.
	access=$(tr -dc 'A-Z0-9' </dev/urandom | head -c 20)
	secret=$(tr -dc 'A-Za-z0-9' </dev/urandom | head -c 40)
	timeout 60 radosgw-admin -c "$conf" -n client.rgw.a user create --uid=vtltest --display-name="vtl tests" \
		--access-key="$access" --secret-key="$secret" >>"$dir/log/admin.out" 2>&1 ||
		{ tail "$dir/log/admin.out" >&2; die "radosgw-admin user create failed"; }

	# Archive storage classes, as AWS names them. They must exist in the
	# zone and zonegroup before radosgw starts (or it must be restarted).
	for sc in STANDARD_IA GLACIER DEEP_ARCHIVE; do
		lc=$(echo "$sc" | tr 'A-Z_' 'a-z-')
		timeout 60 radosgw-admin -c "$conf" -n client.rgw.a zonegroup placement add --rgw-zonegroup default \
			--placement-id default-placement --storage-class "$sc" >>"$dir/log/admin.out" 2>&1 ||
			{ tail "$dir/log/admin.out" >&2; die "radosgw-admin zonegroup placement add $sc failed"; }
		timeout 60 radosgw-admin -c "$conf" -n client.rgw.a zone placement add --rgw-zone default \
			--placement-id default-placement --storage-class "$sc" \
			--data-pool "default.rgw.$lc.data" >>"$dir/log/admin.out" 2>&1 ||
			{ tail "$dir/log/admin.out" >&2; die "radosgw-admin zone placement add $sc failed"; }
	done

	radosgw -c "$conf" -n client.rgw.a || { show_logs; die "radosgw did not start"; }
	for port in $rgw_port $ssl_port $other_port; do
		wait_for 60 /usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" ||
			{ show_logs; die "radosgw does not listen on 127.0.0.1:$port"; }
	done

	echo "RGW_ENDPOINT=http://127.0.0.1:$rgw_port"
	echo "RGW_HTTPS_ENDPOINT=https://127.0.0.1:$ssl_port"
	echo "RGW_HTTPS_OTHER_ENDPOINT=https://127.0.0.1:$other_port"
	echo "RGW_CA_BUNDLE=$dir/tls/ca.crt"
	echo "RGW_ACCESS_KEY=$access"
	echo "RGW_SECRET_KEY=$secret"
	echo "RGW_STORAGE_CLASSES='STANDARD STANDARD_IA GLACIER DEEP_ARCHIVE'"
}

stop() {
	if [ ! -d "$dir/run" ]; then
		rmdir "$dir" 2>/dev/null || true # start failed before creating anything
		return 0
	fi
	for pidfile in "$dir"/run/*.pid; do
		[ -f "$pidfile" ] || continue
		pid=$(cat "$pidfile")
		kill "$pid" 2>/dev/null || true
	done
	for pidfile in "$dir"/run/*.pid; do
		[ -f "$pidfile" ] || continue
		pid=$(cat "$pidfile")
		i=0
		while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		kill -9 "$pid" 2>/dev/null || true
	done
	rm -rf "$dir"
}

# The bytes radosgw keeps in RADOS for the objects whose RADOS names hold
# $3 (an S3 key names its head object, "MARKER_KEY", and its multipart and
# tail objects), concatenated into $4: what is at rest, below S3.
if [ $# -eq 4 ] && [ "$1" = raw ]; then
	dir=$2
	conf="$dir/ceph.conf"
	mkdir -p "$4"
	found=0
	for pool in $(timeout 30 rados -c "$conf" lspools | grep '\.data$'); do
		for obj in $(timeout 30 rados -c "$conf" -p "$pool" ls | grep -F -- "$3"); do
			# An object deleted since the listing (vtld drops old
			# manifests as it goes) is skipped.
			timeout 30 rados -c "$conf" -p "$pool" get "$obj" "$4/$found" 2>/dev/null || continue
			found=$((found + 1))
		done
	done
	[ "$found" -gt 0 ] || die "no RADOS object names $3"
	exit 0
fi
if [ $# -eq 4 ] && [ "$1" = quota ]; then
	dir=$2
	conf="$dir/ceph.conf"
	admin() { timeout 60 radosgw-admin -c "$conf" -n client.rgw.a "$@" >/dev/null 2>&1; }
	if [ "$4" = -1 ]; then
		admin quota disable --quota-scope=bucket --bucket="$3" || die "radosgw-admin quota disable for bucket $3 failed"
	else
		admin quota set --quota-scope=bucket --bucket="$3" --max-size="$4" || die "radosgw-admin quota set for bucket $3 failed"
		admin quota enable --quota-scope=bucket --bucket="$3" || die "radosgw-admin quota enable for bucket $3 failed"
	fi
	exit 0
fi
[ $# -eq 2 ] || die "usage: rgw.sh start|stop DIR, rgw.sh quota DIR BUCKET BYTES, or rgw.sh raw DIR NAME OUT"
dir=$2
case "$1" in
start)
	# One cluster starts at a time on this machine: its ports are picked
	# free here and bound later by the daemons, so two clusters starting
	# at once (test programs run in parallel by make -j) can pick the same
	# one, and a client of one then talks to the other's monitor (seen in
	# CI: `osd create` refused, the logs showing another cluster's fsid).
	# The lock is held until radosgw listens.
	exec 9>"${TMPDIR:-/tmp}/vtl-rgw-start.lock"
	flock -w 600 9 || die "another radosgw of these tests has been starting for 10 minutes"
	# A cluster that fails to come up (seen once in many runs: an OSD that
	# never boots while another test's cluster starts) is torn down and
	# started afresh, up to three times, so a slow start is not a failed
	# test run; a real failure still fails, with the logs.
	attempt=1
	# The daemons must not inherit the lock (they outlive this script).
	until (start) 9>&-; do
		[ "$attempt" -ge 3 ] && die "radosgw did not start in $attempt attempts"
		echo "rgw.sh: start attempt $attempt failed; tearing down and trying again" >&2
		stop
		attempt=$((attempt + 1))
	done
	exec 9>&-
	;;
stop) stop ;;
*) die "usage: rgw.sh start|stop DIR" ;;
esac
