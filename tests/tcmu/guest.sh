#!/bin/bash
# guest.sh - runs in the QEMU guest (tests/tcmu/run.sh boots it): load LIO
# and target_core_user, start the host's vtld with the TCMU frontend,
# export the library through tcm_loop (and LIO iSCSI to the guest's own
# open-iscsi), then drive it with the real tools: lsscsi, mtx, mt, tar.
#
# Settings in /e2e/env (from run.sh): VTLD, VTLCTL, CONTRIB (vtl-lio.sh),
# TCMU_DRIVES, TCMU_SPIKE=1 (also record the kernel's behaviour for
# docs/tcmu.md in /e2e/spike.log).
# Results: TAP in /e2e/tap, the transcript in /e2e/guest.log.
set -u
. /e2e/env
TAP=/e2e/tap
LOG=/e2e/guest.log
W=/tmp/tcmu-work
mkdir -p "$W"
: >"$TAP"
: >"$LOG"
N=0
FAILED=0
log() { printf '%s\n' "$*" >>"$LOG"; }
# run T CMD...: output in $OUT, status in $RC
run() {
	local to=$1
	shift
	log "\$ $*"
	timeout -k 5 "$to" "$@" >"$W/out" 2>&1 </dev/null
	RC=$?
	OUT=$(<"$W/out")
	[ -n "$OUT" ] && log "$OUT"
	log "[exit $RC]"
	return $RC
}
ok() { N=$((N + 1)); echo "ok $N - $1" >>"$TAP"; }
nok() {
	N=$((N + 1))
	FAILED=$((FAILED + 1))
	{
		echo "not ok $N - $1"
		printf '%s\n' "$OUT" | tail -n 15 | sed 's/^/# /'
	} >>"$TAP"
}
check() { # check NAME T CMD...: pass when CMD exits 0
	local name=$1
	shift
	if run "$@"; then
		ok "$name"
	else
		nok "$name (exit $RC: ${*:2})"
		return 1
	fi
}
# wait_for T CMD...: poll every 0.2 s until CMD succeeds
wait_for() {
	local t=$1 i
	shift
	for ((i = 0; i < t * 5; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	return 1
}
finish() {
	echo "1..$N" >>"$TAP"
	dmesg >/e2e/dmesg.log 2>&1
	if [ -n "${VTLD_PID:-}" ]; then
		kill -TERM "$VTLD_PID" 2>/dev/null
		wait "$VTLD_PID" 2>/dev/null
	fi
	[ "$FAILED" -eq 0 ] && exit 0
	exit 1
}

# --- set up: modules, vtld, backstores, tcm_loop --------------------------------
for m in configfs target_core_mod target_core_user tcm_loop iscsi_target_mod uio st ch sg; do
	modprobe "$m" || log "modprobe $m failed"
done
mountpoint -q /sys/kernel/config || mount -t configfs configfs /sys/kernel/config
log "kernel $(uname -r)"

DATA=$W/data
mkdir -p "$DATA"
cat >"$W/vtld.conf" <<CONF
[library]
drives = $TCMU_DRIVES
slots = 8
ie_slots = 2
[tcmu]
enable = yes
library = e2e
CONF
"$VTLD" -c "$W/vtld.conf" --data-dir "$DATA" --listen 127.0.0.1:0 --foreground \
	--log-level debug >/e2e/vtld.log 2>&1 &
VTLD_PID=$!
if ! wait_for 20 test -S "$DATA/vtld.sock"; then
	OUT=$(tail -n 20 /e2e/vtld.log)
	nok "vtld starts with [tcmu] enable = yes"
	finish
fi
ok "vtld starts with [tcmu] enable = yes"
export VTL_SOCKET=$DATA/vtld.sock
check "vtlctl creates 4 tapes" 30 "$VTLCTL" tape create --size 200MiB --prefix TCM --count 4

check "contrib/tcmu/vtl-lio.sh creates the backstores and the tcm_loop target" 60 \
	"$CONTRIB" create --library e2e --drives "$TCMU_DRIVES" --loop
wait_for 30 test -e /dev/nst0 -a -e /dev/sch0
run 10 lsscsi -g
LSSCSI=$OUT
log "$(grep -H . /sys/class/uio/uio*/name 2>&1)"
if grep -q "mediumx" <<<"$LSSCSI" && [ "$(grep -c ' tape ' <<<"$LSSCSI")" -eq "$TCMU_DRIVES" ]; then
	ok "lsscsi shows the changer and $TCMU_DRIVES drives through tcm_loop"
else
	nok "lsscsi shows the changer and $TCMU_DRIVES drives through tcm_loop"
fi
if ! check "/dev/sch0 and /dev/nst0 exist" 5 test -c /dev/sch0 -a -c /dev/nst0; then
	log "$(dmesg | tail -n 40)"
	finish
fi
CHG_SG=$(awk '/mediumx/ {print $NF}' <<<"$LSSCSI")
TAPE_SG=$(awk '/ tape / {print $NF; exit}' <<<"$LSSCSI")

# --- spike: what the kernel does on its own -------------------------------------
if [ "${TCMU_SPIKE:-0}" = 1 ]; then
	S=/e2e/spike.log
	: >$S
	spike() {
		echo "### \$ $*" >>$S
		timeout -k 5 60 "$@" >>$S 2>&1 </dev/null
		echo "### exit $?" >>$S
	}
	spike cat /sys/kernel/config/target/core/user_0/e2e_drive1/info
	spike grep -H . /sys/kernel/config/target/core/user_0/e2e_drive1/attrib/*
	spike grep -H . /sys/kernel/config/target/core/user_0/e2e_drive1/alua_support /sys/kernel/config/target/core/user_0/e2e_drive1/pgr_support
	spike grep -H . /sys/class/uio/uio0/maps/map0/size /sys/class/uio/uio0/name
	spike sg_inq "$TAPE_SG"
	spike sg_luns "$TAPE_SG"
	spike sg_persist -k "$TAPE_SG"
	spike sg_persist -c "$TAPE_SG"
	spike sg_raw -r 64 "$TAPE_SG" 16 00 00 00 00 00
	spike sg_raw -r 64 "$TAPE_SG" 17 00 00 00 00 00
	spike sg_rtpg "$TAPE_SG"
	spike sg_vpd -p di "$TAPE_SG"
	spike sg_vpd -p 0xb0 "$TAPE_SG"
	spike mtx -f "$CHG_SG" load 1 0
	spike mt -f /dev/nst0 status
	# variable-mode WRITE(6) of 1000 bytes, READ(6) asking 4096 (short record: ILI)
	spike mt -f /dev/nst0 setblk 0
	spike sg_raw -s 1000 -i /dev/urandom "$TAPE_SG" 0a 00 00 03 e8 00
	spike sg_raw -s 70000 -i /dev/urandom "$TAPE_SG" 0a 00 01 11 70 00
	spike sg_raw "$TAPE_SG" 10 01 00 00 01 00
	spike mt -f /dev/nst0 rewind
	spike sg_raw -vvv -r 4096 "$TAPE_SG" 08 00 00 10 00 00
	spike sg_raw -vvv -r 100 "$TAPE_SG" 08 00 00 00 64 00
	spike sg_raw -vvv -r 0 "$TAPE_SG" 08 00 00 00 00 00
	spike mt -f /dev/nst0 rewind
	spike dd if=/dev/urandom of=/dev/nst0 bs=1M count=2
	spike dd if=/dev/urandom of=/dev/nst0 bs=8M count=1
	spike mt -f /dev/nst0 rewind
	spike dd if=/dev/nst0 of=/dev/null bs=8M
	spike mt -f /dev/nst0 offline
	spike mtx -f "$CHG_SG" unload 1 0
	grep "tcmu" /e2e/vtld.log | grep -v "cdb 00\|cdb 03" | tail -n 60 >>$S
	dmesg | grep -i -E "tcm|target|uio|st[0-9]|ch[0-9]" | tail -n 40 >>$S
fi

# --- the tool suite through tcm_loop -------------------------------------------
check "mtx status" 60 mtx -f "$CHG_SG" status
if grep -q "VolumeTag *= *TCM" <<<"$OUT"; then ok "mtx status shows the barcodes"; else nok "mtx status shows the barcodes"; fi
check "mtx load 1 0" 60 mtx -f "$CHG_SG" load 1 0
check "mt status" 30 mt -f /dev/nst0 status
check "mt rewind" 30 mt -f /dev/nst0 rewind
mkdir -p "$W/src" "$W/dst"
for i in 1 2 3; do head -c $((i * 300000 + 123)) /dev/urandom >"$W/src/f$i"; done
(cd "$W/src" && sha256sum f1 f2 f3 >"$W/sums")
check "tar writes file 1" 60 tar -C "$W/src" -cf /dev/nst0 -b 128 f1 f2
check "tar writes file 2" 60 tar -C "$W/src" -cf /dev/nst0 -b 64 f3
check "mt rewind" 30 mt -f /dev/nst0 rewind
check "tar reads file 1" 60 tar -C "$W/dst" -xf /dev/nst0 -b 128
check "mt status after file 1" 30 mt -f /dev/nst0 status
# tar stops at its end-of-archive blocks, before the filemark (as on any
# drive): position on file 2 explicitly.
check "mt rewind; mt fsf 1" 30 bash -c "mt -f /dev/nst0 rewind && mt -f /dev/nst0 fsf 1"
check "tar reads file 2" 60 tar -C "$W/dst" -xf /dev/nst0 -b 64
check "checksums match after the tar round trip" 30 bash -c "cd $W/dst && sha256sum -c $W/sums"
check "mt eod; mt tell" 30 bash -c "mt -f /dev/nst0 eod && mt -f /dev/nst0 tell"
check "mt offline" 60 mt -f /dev/nst0 offline
check "mtx unload 1 0" 60 mtx -f "$CHG_SG" unload 1 0

# --- the same LUNs through LIO's iSCSI fabric -------------------------------------
if [ "${TCMU_ISCSI:-1}" = 1 ]; then
	IQN=iqn.2026-11.test.vtl:tcmu
	check "vtl-lio.sh exports the LUNs over LIO iSCSI" 60 \
		"$CONTRIB" create --library e2e --drives "$TCMU_DRIVES" --iscsi "$IQN" --portal 127.0.0.1:3260
	mkdir -p /etc/iscsi
	echo "InitiatorName=iqn.2026-11.test.vtl:guest" >/etc/iscsi/initiatorname.iscsi
	sed -i \
		-e 's/^#* *node.startup *=.*/node.startup = manual/' \
		-e 's/^#* *node.session.timeo.replacement_timeout *=.*/node.session.timeo.replacement_timeout = 10/' \
		-e 's/^#* *node.conn\[0\].timeo.login_timeout *=.*/node.conn[0].timeo.login_timeout = 10/' \
		/etc/iscsi/iscsid.conf
	mkdir -p /run/lock/iscsi /var/lib/iscsi
	# Its own session: iscsid signals its whole process group when it stops.
	setsid iscsid -f >/e2e/iscsid.log 2>&1 &
	ISCSID=$!
	sleep 1
	check "iscsiadm discovery at 127.0.0.1:3260" 30 iscsiadm -m discovery -t st -p 127.0.0.1:3260
	check "iscsiadm login" 30 iscsiadm -m node -T "$IQN" -p 127.0.0.1:3260 --login
	if ! wait_for 30 test -c /dev/sch1; then
		OUT=$(dmesg | tail -n 20)
		nok "the iSCSI session brings /dev/sch1"
		finish
	fi
	run 10 lsscsi -g
	LS2=$OUT
	CHG2=$(awk '/mediumx/ {print $NF}' <<<"$LS2" | tail -n 1)
	if [ "$(grep -c mediumx <<<"$LS2")" -eq 2 ]; then ok "the iSCSI session shows a second changer"; else nok "the iSCSI session shows a second changer"; fi
	NST2=/dev/nst$TCMU_DRIVES
	check "mtx status over iSCSI" 60 mtx -f "$CHG2" status
	check "mtx load 2 0 over iSCSI" 60 mtx -f "$CHG2" load 2 0
	check "mt status over iSCSI" 30 mt -f "$NST2" status
	check "tar write over iSCSI" 60 tar -C "$W/src" -cf "$NST2" -b 128 f1 f2 f3
	check "mt rewind over iSCSI" 30 mt -f "$NST2" rewind
	rm -rf "$W/dst2" && mkdir -p "$W/dst2"
	check "tar read over iSCSI" 60 tar -C "$W/dst2" -xf "$NST2" -b 128
	check "checksums match over iSCSI" 30 bash -c "cd $W/dst2 && sha256sum -c $W/sums"
	check "mtx unload over iSCSI" 60 bash -c "mt -f $NST2 offline; mtx -f $CHG2 unload 2 0"
	run 30 iscsiadm -m node -T "$IQN" -p 127.0.0.1:3260 --logout
	kill "$ISCSID" 2>/dev/null
fi

check "vtl-lio.sh removes everything" 60 "$CONTRIB" remove --library e2e
finish
