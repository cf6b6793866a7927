#!/bin/bash
# guest.sh - runs in the QEMU guest (tests/tcmu/run.sh boots it): load LIO
# and target_core_user, start the host's vtld with the TCMU frontend,
# export the library through tcm_loop and through LIO iSCSI to the guest's
# own open-iscsi, and drive both paths with the tools of the end-to-end
# tier: lsscsi, mtx, mt, tar and Bacula's btape test. Then vtld restarts
# under LIO, a backstore is removed with a command in flight, and the
# netlink answers are checked with backstores that wait for them.
#
# Which tape goes where (slots as vtlctl created them):
#   slot 1 -> drive 1 through tcm_loop (/dev/nst0, drive index 0): tar,
#             then btape; then drive 2 over iSCSI (index 1) for btape
#             again (btape's autochanger test always loads slot 1);
#   slot 2 -> drive 2 over iSCSI: mtx, mt, tar;
#   slot 3 -> drive 1 through tcm_loop: the vtld restarts;
#   slot 4 -> drive 2 through tcm_loop (/dev/nst1): removal in flight, then
#             the backstore created again without nl_reply_supported=-1.
#
# Settings in /e2e/env (from run.sh): E2E_SRCDIR, VTLD, VTLCTL, CONTRIB
# (vtl-lio.sh), TCMU_DRIVES, TCMU_SPIKE=1 (also record the kernel's
# behaviour for docs/tcmu.md in /e2e/spike.log), TCMU_BTAPE (1: btape
# over both paths), TCMU_BTAPE_TIMEOUT (seconds per btape run).
# Results: TAP in /e2e/tap, the transcript in /e2e/guest.log (guest-lib.sh).
. /e2e/env
. "$E2E_SRCDIR/tests/e2e/guest-lib.sh"

W=$WORK
CFS=/sys/kernel/config/target
NLP=/sys/module/target_core_user/parameters
# A pipe nobody writes to: `read -t` on it sleeps without starting a
# process (each costs 0.1-0.3 s under TCG).
mkfifo "$W/tick"
exec {TICK}<>"$W/tick"
nap() { read -r -t "$1" -u "$TICK" _; }

# step NAME TIMEOUT CMD...: one test, passing when CMD exits 0.
step() {
	local name=$1
	shift
	if run "$@"; then
		pass "$name"
	else
		fail "$name"
		return 1
	fi
}
stepsh() { # step for a shell pipeline
	local name=$1
	shift
	if runsh "$@"; then
		pass "$name"
	else
		fail "$name"
		return 1
	fi
}

# bg CMD...: start CMD in the background (BG_PID). bg_wait T: wait up to T
# seconds for it; RC, OUT, and ELAPSED (ms since bg). A configfs write behind
# a netlink event sleeps uninterruptibly until a handler answers (Linux 6.1
# has no timeout there): if it is still blocked after T seconds, release it
# (block_netlink + reset_netlink make the write fail with EINTR) so that the
# run goes on, and say so in OUT.
bg() {
	local up _
	read -r up _ </proc/uptime
	LAST_CMD="$*"
	log "[$up] \$ $* &"
	BG_T0=$EPOCHREALTIME
	"$@" >"$W/bg.out" 2>&1 </dev/null &
	BG_PID=$!
}
bg_wait() {
	local i reset=""
	for ((i = 0; i < $1 * 10; i++)); do
		kill -0 "$BG_PID" 2>/dev/null || break
		nap 0.1
	done
	if kill -0 "$BG_PID" 2>/dev/null; then
		echo 1 >$NLP/block_netlink
		echo 1 >$NLP/reset_netlink
		echo 0 >$NLP/block_netlink
		reset="
[still blocked after $1 s: the kernel got no netlink answer; reset_netlink released it]"
	fi
	wait "$BG_PID"
	RC=$?
	ELAPSED=$(((${EPOCHREALTIME/./} - ${BG_T0/./}) / 1000))
	OUT="$(<"$W/bg.out")$reset"
	log "$OUT"
	log "[exit $RC, $ELAPSED ms]"
}
guarded() { # guarded T CMD...
	local secs=$1
	shift
	bg "$@"
	bg_wait "$secs"
}
# vtld_logged REGEX: vtld's log (since its last start) matches.
vtld_logged() { sed -n '/^=== vtld start/h; /^=== vtld start/!H; ${x;p}' /e2e/vtld.log | grep -Eq "$1"; }
# reply_support: the kernel's last "tcmu daemon: command reply support N."
# (what vtld's TCMU_CMD_SET_FEATURES set).
reply_support() { dmesg | sed -n 's/.*tcmu daemon: command reply support \([0-9]*\).*/\1/p' | tail -n 1; }
online() { runsh 30 "for i in \$(seq 40); do mt -f $1 status 2>&1 | grep -q ONLINE && exit 0; sleep 0.5; done; exit 1"; }

tcmu_finish() {
	if [ -n "${VTLD_PID:-}" ]; then
		kill -TERM "$VTLD_PID" 2>/dev/null
		wait "$VTLD_PID" 2>/dev/null
	fi
	finish
}

# --- set up: modules, vtld, backstores, tcm_loop --------------------------------
log "== tcmu guest on $(uname -r), $(date)"
for m in configfs target_core_mod target_core_user tcm_loop iscsi_target_mod uio st ch sg; do
	modprobe "$m" || log "modprobe $m failed"
done
mountpoint -q /sys/kernel/config || mount -t configfs configfs /sys/kernel/config

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
# start_vtld: (re)start vtld on the same data directory, log appended to
# /e2e/vtld.log; returns once its control socket answers.
start_vtld() {
	rm -f "$DATA/vtld.sock"
	echo "=== vtld start at $(cut -d' ' -f1 /proc/uptime) s" >>/e2e/vtld.log
	"$VTLD" -c "$W/vtld.conf" --data-dir "$DATA" --listen 127.0.0.1:0 --foreground \
		--log-level "${TCMU_VTLD_LOG:-info}" >>/e2e/vtld.log 2>&1 &
	VTLD_PID=$!
	wait_for 20 test -S "$DATA/vtld.sock"
}
: >/e2e/vtld.log
if ! start_vtld; then
	RC=1 OUT=$(tail -n 20 /e2e/vtld.log)
	fail "vtld starts with [tcmu] enable = yes"
	tcmu_finish
fi
pass "vtld starts with [tcmu] enable = yes"
OUT=$(dmesg | grep 'tcmu daemon' | tail -n 3)
if [ "$(reply_support)" = 1 ]; then
	pass "vtld tells the kernel that it answers device events (SET_FEATURES)"
else
	fail "vtld tells the kernel that it answers device events (SET_FEATURES)" \
		"dmesg: tcmu daemon: command reply support 1."
fi
export VTL_SOCKET=$DATA/vtld.sock
# btape writes 2 x 10000 records of 16 KiB: its tape needs room for that.
step "vtlctl creates 4 tapes" 30 "$VTLCTL" tape create \
	--size "$([ "${TCMU_BTAPE:-1}" = 1 ] && echo 1GiB || echo 200MiB)" --prefix TCM --count 4

step "contrib/tcmu/vtl-lio.sh creates the backstores and the tcm_loop target" 60 \
	"$CONTRIB" create --library e2e --drives "$TCMU_DRIVES" --loop
wait_for 30 test -e /dev/nst$((TCMU_DRIVES - 1)) -a -e /dev/sch0
run 10 lsscsi -g
LSSCSI=$OUT
log "$(grep -H . /sys/class/uio/uio*/name 2>&1)"
if grep -q "mediumx" <<<"$LSSCSI" && [ "$(grep -c ' tape ' <<<"$LSSCSI")" -eq "$TCMU_DRIVES" ]; then
	pass "lsscsi shows the changer and $TCMU_DRIVES drives through tcm_loop"
else
	fail "lsscsi shows the changer and $TCMU_DRIVES drives through tcm_loop"
fi
if ! step "/dev/sch0 and /dev/nst0 exist" 5 test -c /dev/sch0 -a -c /dev/nst0; then
	log "$(dmesg | tail -n 40)"
	tcmu_finish
fi
CHG_SG=$(awk '/mediumx/ {print $NF}' <<<"$LSSCSI")
LOOP_TAPE_SG=$(awk '/ tape / {print $NF; exit}' <<<"$LSSCSI")
# The tcm_loop host ("[H:C:T:L]"): the iSCSI session's devices are the others.
LOOP_HOST=$(awk '$2 == "mediumx" {gsub(/[][]/, "", $1); split($1, a, ":"); print a[1]; exit}' <<<"$LSSCSI")

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
	spike sg_inq "$LOOP_TAPE_SG"
	spike sg_luns "$LOOP_TAPE_SG"
	spike sg_persist -k "$LOOP_TAPE_SG"
	spike sg_persist -c "$LOOP_TAPE_SG"
	spike sg_raw -r 64 "$LOOP_TAPE_SG" 16 00 00 00 00 00
	spike sg_raw -r 64 "$LOOP_TAPE_SG" 17 00 00 00 00 00
	spike sg_rtpg "$LOOP_TAPE_SG"
	spike sg_vpd -p di "$LOOP_TAPE_SG"
	spike sg_vpd -p 0xb0 "$LOOP_TAPE_SG"
	spike mtx -f "$CHG_SG" load 1 0
	spike mt -f /dev/nst0 status
	# variable-mode WRITE(6) of 1000 bytes, READ(6) asking 4096 (short record: ILI)
	spike mt -f /dev/nst0 setblk 0
	spike sg_raw -s 1000 -i /dev/urandom "$LOOP_TAPE_SG" 0a 00 00 03 e8 00
	spike sg_raw -s 70000 -i /dev/urandom "$LOOP_TAPE_SG" 0a 00 01 11 70 00
	spike sg_raw "$LOOP_TAPE_SG" 10 01 00 00 01 00
	spike mt -f /dev/nst0 rewind
	spike sg_raw -vvv -r 4096 "$LOOP_TAPE_SG" 08 00 00 10 00 00
	spike sg_raw -vvv -r 100 "$LOOP_TAPE_SG" 08 00 00 00 64 00
	spike sg_raw -vvv -r 0 "$LOOP_TAPE_SG" 08 00 00 00 00 00
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
step "mtx status" 60 mtx -f "$CHG_SG" status
if has "VolumeTag *= *TCM"; then pass "mtx status shows the barcodes"; else fail "mtx status shows the barcodes"; fi
step "mtx load 1 0" 60 mtx -f "$CHG_SG" load 1 0
step "mt status" 30 mt -f /dev/nst0 status
step "mt rewind" 30 mt -f /dev/nst0 rewind
mkdir -p "$W/src" "$W/dst"
for i in 1 2 3; do head -c $((i * 300000 + 123)) /dev/urandom >"$W/src/f$i"; done
(cd "$W/src" && sha256sum f1 f2 f3 >"$W/sums")
step "tar writes file 1" 60 tar -C "$W/src" -cf /dev/nst0 -b 128 f1 f2
step "tar writes file 2" 60 tar -C "$W/src" -cf /dev/nst0 -b 64 f3
step "mt rewind" 30 mt -f /dev/nst0 rewind
step "tar reads file 1" 60 tar -C "$W/dst" -xf /dev/nst0 -b 128
step "mt status after file 1" 30 mt -f /dev/nst0 status
# tar stops at its end-of-archive blocks, before the filemark (as on any
# drive): position on file 2 explicitly.
stepsh "mt rewind; mt fsf 1" 30 "mt -f /dev/nst0 rewind && mt -f /dev/nst0 fsf 1"
step "tar reads file 2" 60 tar -C "$W/dst" -xf /dev/nst0 -b 64
stepsh "checksums match after the tar round trip" 30 "cd $W/dst && sha256sum -c $W/sums"
stepsh "mt eod; mt tell" 30 "mt -f /dev/nst0 eod && mt -f /dev/nst0 tell"

# --- drive encryption with Debian's stenc through tcm_loop ---------------------
# The same round trip as the iSCSI tier's encryption_tests (guest-fast.sh):
# an encrypted third archive after the two plain ones; off, it does not
# read; with the key it reads back; with another key it does not. Then no
# file of vtld's data directory, nor its log, holds either key.
if command -v stenc >/dev/null; then
	# A 256-bit key in hex with no 0a (newline) byte, so that the search
	# for its bytes below is a plain grep -P.
	key_hex() {
		local k
		while :; do
			k=$(od -An -v -tx1 -N32 /dev/urandom | tr -d ' \n')
			[[ ${#k} -eq 64 && " $(printf '%s' "$k" | sed 's/../& /g')" != *" 0a "* ]] && break
		done
		echo "$k"
	}
	K1=$(key_hex) K2=$(key_hex)
	printf '%s\n' "$K1" >"$W/k1"
	printf '%s\n' "$K2" >"$W/k2"
	chmod 600 "$W/k1" "$W/k2"
	mkdir -p "$W/enc1" "$W/enc2" "$W/enc3"
	step "stenc -e on -k KEYFILE -a 1 through tcm_loop" 30 stenc -f /dev/nst0 -e on -k "$W/k1" -a 1
	stepsh "tar writes an encrypted archive after the plain ones" 60 \
		"mt -f /dev/nst0 eod && tar -C $W/src -cf /dev/nst0 -b 128 f1 f3"
	run 30 stenc -f /dev/nst0 --detail
	if has '(^|: *)Encrypting'; then pass "stenc --detail: the drive is encrypting"; else
		fail "stenc --detail: the drive is encrypting" "data encryption status page: encryption mode 02h"
	fi
	step "stenc -e off" 30 stenc -f /dev/nst0 -e off
	stepsh "with encryption off the encrypted archive does not read" 60 \
		"mt -f /dev/nst0 rewind && mt -f /dev/nst0 fsf 2 && ! tar -C $W/enc1 -xf /dev/nst0 -b 128"
	step "stenc -e on with the key again" 30 stenc -f /dev/nst0 -e on -k "$W/k1" -a 1
	stepsh "with the key the encrypted archive reads back identical" 60 \
		"mt -f /dev/nst0 rewind && mt -f /dev/nst0 fsf 2 && tar -C $W/enc2 -xf /dev/nst0 -b 128 && cmp $W/src/f1 $W/enc2/f1 && cmp $W/src/f3 $W/enc2/f3"
	step "stenc -e on with another key" 30 stenc -f /dev/nst0 -e on -k "$W/k2" -a 1
	stepsh "with another key the encrypted archive does not read" 60 \
		"mt -f /dev/nst0 rewind && mt -f /dev/nst0 fsf 2 && ! tar -C $W/enc3 -xf /dev/nst0 -b 128"
	step "stenc -e off" 30 stenc -f /dev/nst0 -e off
	pat() { printf '%s' "$1" | sed 's/../\\x&/g'; }
	runsh 60 "! LC_ALL=C grep -rlaP -e '$(pat "$K1")' -e '$(pat "$K2")' $DATA /e2e/vtld.log && ! LC_ALL=C grep -rlaiF -e $K1 -e $K2 $DATA /e2e/vtld.log"
	if [ "$RC" -eq 0 ]; then pass "no key given to the drive is in vtld's data directory or log"; else
		fail "no key given to the drive is in vtld's data directory or log" "neither key's bytes nor hex in any file"
	fi
else
	skip "stenc through tcm_loop" "stenc is not installed on the host (scripts/packages-e2e.txt)"
fi

# --- Bacula btape test through tcm_loop -------------------------------------------
# Slot 1's tape is still in drive 1 (index 0). Under TCG every command costs
# milliseconds; btape's 2 x 10000 records make this the longest step.
if [ "${TCMU_BTAPE:-1}" = 1 ]; then
	online /dev/nst0
	btape_run "btape test through tcm_loop passes every part (write/read, position, append, re-read, fsf, autochanger)" \
		/dev/nst0 "$CHG_SG" 0 "${TCMU_BTAPE_TIMEOUT:-600}" /e2e/btape-loop.log
fi
# btape's autochanger test leaves slot 1's tape in the drive as well.
stepsh "mt offline; mtx unload 1 0" 60 \
	"mt -f /dev/nst0 offline; mtx -f $CHG_SG status | grep -q 'Data Transfer Element 0:Empty' || mtx -f $CHG_SG unload 1 0"

# --- vtld restarts while LIO holds the devices -----------------------------------
# Data written and flushed (closing /dev/nst0 writes the filemark) before a
# restart must read back after it; a command sent while vtld is down waits in
# the ring (cmd_time_out 0) and completes once vtld is back.
step "mtx load 3 0 (restart test)" 60 mtx -f "$CHG_SG" load 3 0
head -c 3000000 /dev/urandom >"$W/rs"
stepsh "dd writes 3 MB to /dev/nst0 and closes it (filemark)" 60 \
	"mt -f /dev/nst0 rewind && dd if=$W/rs of=/dev/nst0 bs=64k"
kill -TERM "$VTLD_PID"
runsh 30 "while kill -0 $VTLD_PID 2>/dev/null; do sleep 0.1; done" ||
	kill -KILL "$VTLD_PID" 2>/dev/null # hung: fail below, but go on
wait "$VTLD_PID"
RC=$?
VTLD_PID=
OUT=$(tail -n 15 /e2e/vtld.log)
if [ "$RC" -eq 0 ]; then pass "vtld stops cleanly on SIGTERM while LIO holds its devices"; else fail "vtld stops cleanly on SIGTERM while LIO holds its devices"; fi
OUT=$(dmesg | grep 'tcmu daemon' | tail -n 3)
if [ "$(reply_support)" = 0 ]; then
	pass "on SIGTERM vtld tells the kernel that nobody answers device events now"
else
	fail "on SIGTERM vtld tells the kernel that nobody answers device events now" \
		"dmesg: tcmu daemon: command reply support 0."
fi
# A command while vtld is down: held by LIO, not failed.
bg mt -f /dev/nst0 status
nap 2
if kill -0 "$BG_PID" 2>/dev/null; then
	pass "mt status while vtld is down waits (LIO holds it)"
else
	OUT=$(<"$W/bg.out")
	fail "mt status while vtld is down waits (LIO holds it)"
fi
if start_vtld; then pass "vtld restarts with the backstores in place"; else
	RC=1 OUT=$(tail -n 20 /e2e/vtld.log)
	fail "vtld restarts with the backstores in place"
	tcmu_finish
fi
bg_wait 60
if [ "$RC" -eq 0 ]; then pass "the held mt status completes after the restart"; else fail "the held mt status completes after the restart"; fi
# st saw a POWER ON unit attention; its position is unknown until a rewind.
stepsh "mt status after the restart" 30 "mt -f /dev/nst0 status || { sleep 1; mt -f /dev/nst0 status; }"
step "mt rewind after the restart" 30 mt -f /dev/nst0 rewind
rm -f "$W/rs.back"
stepsh "the data written before the restart reads back through /dev/nst0" 60 \
	"dd if=/dev/nst0 of=$W/rs.back bs=64k && cmp $W/rs $W/rs.back"
# A crash (SIGKILL) instead of a clean stop.
kill -KILL "$VTLD_PID"
wait "$VTLD_PID" 2>/dev/null
VTLD_PID=
if start_vtld; then pass "vtld restarts after SIGKILL"; else
	RC=1 OUT=$(tail -n 20 /e2e/vtld.log)
	fail "vtld restarts after SIGKILL"
	tcmu_finish
fi
rm -f "$W/rs.back"
stepsh "after SIGKILL and restart the data reads back again" 60 \
	"{ mt -f /dev/nst0 rewind || { sleep 1; mt -f /dev/nst0 rewind; }; } && dd if=/dev/nst0 of=$W/rs.back bs=64k && cmp $W/rs $W/rs.back"
stepsh "mt offline; mtx unload 3 0 after the restarts" 60 \
	"mt -f /dev/nst0 offline; mtx -f $CHG_SG unload 3 0"

# --- the same library through LIO's iSCSI fabric ----------------------------------
# Drive 2 (index 1) here, so that this path and tcm_loop's use different
# drives: tar, then btape with its autochanger part through the iSCSI
# changer.
IQN=iqn.2026-11.test.vtl:tcmu
step "vtl-lio.sh exports the LUNs over LIO iSCSI" 60 \
	"$CONTRIB" create --library e2e --drives "$TCMU_DRIVES" --iscsi "$IQN" --portal 127.0.0.1:3260
if start_iscsid; then pass "iscsid runs"; else
	RC=1 OUT=$(cat /e2e/iscsid.log)
	fail "iscsid runs"
	tcmu_finish
fi
step "iscsiadm discovery at 127.0.0.1:3260" 30 iscsiadm -m discovery -t st -p 127.0.0.1:3260
step "iscsiadm login" 30 iscsiadm -m node -T "$IQN" -p 127.0.0.1:3260 --login
iscsi_ready() { # no process spawned: sysfs globs only
	local t c
	shopt -s nullglob
	t=(/sys/class/scsi_tape/st[0-9] /sys/class/scsi_tape/st[0-9][0-9])
	c=(/sys/class/scsi_changer/sch[0-9])
	shopt -u nullglob
	[ "${#t[@]}" -ge $((2 * TCMU_DRIVES)) ] && [ "${#c[@]}" -ge 2 ]
}
wait_for 30 iscsi_ready
run 10 lsscsi -g
LS2=$OUT
# The session's own devices, in LUN order: changer, drive 1, drive 2.
CHG2=$(awk -v h="$LOOP_HOST" '$2 == "mediumx" {gsub(/[][]/, "", $1); split($1, a, ":"); if (a[1] != h) {print $NF; exit}}' <<<"$LS2")
mapfile -t ISCSI_ST < <(awk -v h="$LOOP_HOST" '$2 == "tape" {gsub(/[][]/, "", $1); split($1, a, ":"); if (a[1] != h) print $(NF-1)}' <<<"$LS2")
if [ -z "$CHG2" ] || [ "${#ISCSI_ST[@]}" -ne "$TCMU_DRIVES" ]; then
	fail "the iSCSI session shows a changer and $TCMU_DRIVES drives" \
		"lsscsi lists a second mediumx and $TCMU_DRIVES more tapes on another host than tcm_loop's ($LOOP_HOST)"
	tcmu_finish
fi
pass "the iSCSI session shows a changer and $TCMU_DRIVES drives"
ND=/dev/n${ISCSI_ST[$((TCMU_DRIVES - 1))]#/dev/}
DI=$((TCMU_DRIVES - 1))
log "iSCSI: changer $CHG2, drive index $DI is $ND"
step "mtx status over iSCSI" 60 mtx -f "$CHG2" status
step "mtx load 2 $DI over iSCSI" 60 mtx -f "$CHG2" load 2 "$DI"
online "$ND"
step "mt status over iSCSI" 30 mt -f "$ND" status
step "tar write over iSCSI" 60 tar -C "$W/src" -cf "$ND" -b 128 f1 f2 f3
step "mt rewind over iSCSI" 30 mt -f "$ND" rewind
rm -rf "$W/dst2" && mkdir -p "$W/dst2"
step "tar read over iSCSI" 60 tar -C "$W/dst2" -xf "$ND" -b 128
stepsh "checksums match over iSCSI" 30 "cd $W/dst2 && sha256sum -c $W/sums"
stepsh "mt offline; mtx unload 2 $DI over iSCSI" 60 "mt -f $ND offline; mtx -f $CHG2 unload 2 $DI"
if [ "${TCMU_BTAPE:-1}" = 1 ]; then
	step "mtx load 1 $DI over iSCSI for btape" 60 mtx -f "$CHG2" load 1 "$DI"
	online "$ND"
	btape_run "btape test over LIO iSCSI passes every part (write/read, position, append, re-read, fsf, autochanger)" \
		"$ND" "$CHG2" "$DI" "${TCMU_BTAPE_TIMEOUT:-600}" /e2e/btape-iscsi.log
	runsh 60 "mt -f $ND offline; mtx -f $CHG2 status | grep -q 'Data Transfer Element $DI:Empty' || mtx -f $CHG2 unload 1 $DI"
fi
run 30 iscsiadm -m node -T "$IQN" -p 127.0.0.1:3260 --logout
stop_iscsid

# --- a backstore removed with a command in flight ---------------------------------
# A writer streams records to /dev/nst1 (drive2); vtld is stopped (SIGSTOP)
# so its current command stays in flight, drive2 is removed (the LUN unlink
# waits for that command), then vtld continues: it must complete the
# command, detach from drive2 and keep serving the changer and drive1.
step "mtx load 4 1 (removal test)" 60 mtx -f "$CHG_SG" load 4 1
online /dev/nst1
bash -c 'while dd if=/dev/zero bs=64k count=4 2>/dev/null; do sleep 0.02; done >/dev/nst1' \
	>"$W/writer.out" 2>&1 &
WRITER=$!
nap 1
kill -STOP "$VTLD_PID"
nap 0.5
bg "$CONTRIB" remove --library e2e --unit drive2
nap 2
if kill -0 "$BG_PID" 2>/dev/null; then
	pass "removing drive2 waits for its command in flight"
else
	OUT=$(<"$W/bg.out")
	fail "removing drive2 waits for its command in flight"
fi
kill -CONT "$VTLD_PID"
bg_wait 30
if [ "$RC" -eq 0 ]; then pass "vtl-lio.sh remove --unit drive2 completes once vtld runs again"; else fail "vtl-lio.sh remove --unit drive2 completes once vtld runs again"; fi
if runsh 20 "while kill -0 $WRITER 2>/dev/null; do sleep 0.1; done"; then
	pass "the writer to /dev/nst1 ends (its device is gone)"
else
	kill "$WRITER" 2>/dev/null
	fail "the writer to /dev/nst1 ends (its device is gone)"
fi
step "backstore e2e_drive2 is gone" 5 test ! -e $CFS/core/user_0/e2e_drive2
if wait_for 10 vtld_logged 'e2e_drive2: device gone'; then
	pass "vtld logs that it detached from drive2"
else
	OUT=$(tail -n 10 /e2e/vtld.log)
	fail "vtld logs that it detached from drive2"
fi
step "vtld is still running" 5 kill -0 "$VTLD_PID"
step "mtx status after the removal" 60 mtx -f "$CHG_SG" status
stepsh "mtx load 3 0 and mt status on /dev/nst0 after the removal" 60 \
	"mtx -f $CHG_SG load 3 0 && { mt -f /dev/nst0 status || { sleep 1; mt -f /dev/nst0 status; }; }"
step "vtlctl still answers" 30 "$VTLCTL" library show

# --- netlink answers: backstores that wait for vtld -------------------------------
# vtl-lio.sh --nl-reply leaves nl_reply_supported out of the control string,
# so the kernel waits for vtld's ADDED/REMOVED_DEVICE_DONE (bg_wait releases
# a wait nobody answers). The library still has drive 2 (tape 4 in it).
nl_new_drive() { # the no-rewind node tcm_loop gave LUN 2 (drive2), or ""
	lsscsi -g | awk -v h="$LOOP_HOST" '$2 == "tape" {gsub(/[][]/, "", $1); split($1, a, ":");
		if (a[1] == h && a[4] == 2) {sub("/dev/", "/dev/n", $(NF-1)); print $(NF-1)}}'
}
have_new_drive() { [ -n "$(nl_new_drive)" ]; }
nl_created() { # NAME MAX-MS: the last bg_wait: done in time, and the backstore waits for answers
	local v
	v=$(cat $CFS/core/user_0/e2e_drive2/attrib/nl_reply_supported 2>/dev/null)
	OUT="$OUT
[nl_reply_supported $v]"
	if [ "$RC" -eq 0 ] && [ "$v" = 1 ] && [ "$ELAPSED" -lt "$2" ] &&
		vtld_logged 'e2e_drive2: answered ADDED_DEVICE .*: ok'; then
		pass "$1 (${ELAPSED} ms)"
	else
		fail "$1" "vtl-lio.sh exits 0 within $(($2 / 1000)) s, attrib/nl_reply_supported is 1, vtld logs its ADDED_DEVICE answer"
	fi
}
guarded 30 "$CONTRIB" create --library e2e --drives "$TCMU_DRIVES" --loop --nl-reply
nl_created "a backstore without nl_reply_supported=-1 (drive2 again) is enabled once vtld answers" 10000
wait_for 20 have_new_drive
NEW=$(nl_new_drive)
stepsh "the new drive2 answers INQUIRY and mt status (${NEW:-none})" 60 \
	"sg_inq ${NEW:-/dev/null} | grep -q ULT3580 && { mt -f $NEW status || { sleep 1; mt -f $NEW status; }; }"

guarded 30 "$CONTRIB" create --library e2e --drives $((TCMU_DRIVES + 1)) --nl-reply
if [ "$RC" -ne 0 ] && [ "$ELAPSED" -lt 10000 ] && [ ! -e $CFS/core/user_0/e2e_drive$((TCMU_DRIVES + 1)) ] &&
	vtld_logged "names 'vtl/e2e/drive$((TCMU_DRIVES + 1))', which this library does not have"; then
	pass "a backstore naming a drive the library does not have is refused at once (${ELAPSED} ms)"
else
	OUT="$OUT
$(grep tcmu /e2e/vtld.log | tail -n 5)"
	fail "a backstore naming a drive the library does not have is refused at once" \
		"enable fails within 10 s, vtl-lio.sh removes the backstore, vtld logs why"
fi
guarded 30 "$CONTRIB" create --library nosuch --drives 1 --nl-reply
if [ "$RC" -ne 0 ] && [ "$ELAPSED" -lt 15000 ] && [ ! -e $CFS/core/user_0/nosuch_changer ] &&
	vtld_logged "names 'vtl/nosuch/changer', which is not this library's"; then
	pass "a backstore naming another library is refused once no other vtld took it (${ELAPSED} ms)"
else
	OUT="$OUT
$(grep tcmu /e2e/vtld.log | tail -n 5)"
	fail "a backstore naming another library is refused once no other vtld took it" \
		"enable fails after vtld's 3 s grace, vtld logs why"
fi
guarded 30 "$CONTRIB" remove --library e2e --unit drive2
if [ "$RC" -eq 0 ] && [ "$ELAPSED" -lt 10000 ] && vtld_logged 'e2e_drive2: answered REMOVED_DEVICE'; then
	pass "removing a backstore that waits for answers returns once vtld answers (${ELAPSED} ms)"
else
	fail "removing a backstore that waits for answers returns once vtld answers" \
		"vtl-lio.sh exits 0 within 10 s, vtld logs its REMOVED_DEVICE answer"
fi
# A crash leaves the kernel expecting answers: a backstore enabled while
# vtld is down waits, and vtld answers it from configfs when it starts.
kill -KILL "$VTLD_PID"
wait "$VTLD_PID" 2>/dev/null
VTLD_PID=
bg "$CONTRIB" create --library e2e --drives "$TCMU_DRIVES" --loop --nl-reply
nap 3
if kill -0 "$BG_PID" 2>/dev/null; then
	pass "after SIGKILL, enabling a backstore that waits for answers blocks until vtld is back"
else
	OUT=$(<"$W/bg.out")
	fail "after SIGKILL, enabling a backstore that waits for answers blocks until vtld is back"
fi
if start_vtld; then pass "vtld restarts after SIGKILL (netlink)"; else
	RC=1 OUT=$(tail -n 20 /e2e/vtld.log)
	fail "vtld restarts after SIGKILL (netlink)"
fi
bg_wait 30
nl_created "vtld answers at start-up the backstore enabled while it was down" 60000
wait_for 20 have_new_drive
NEW=$(nl_new_drive)
stepsh "that drive2 answers mt status (${NEW:-none})" 60 \
	"mt -f ${NEW:-/dev/null} status || { sleep 1; mt -f $NEW status; }"

step "vtl-lio.sh removes everything" 60 "$CONTRIB" remove --library e2e
OUT=$(dmesg | grep -E 'tcmu nl cmd|genl|Mismatched' | tail -n 5)
if ! has 'could not find device|Mismatched'; then
	pass "the kernel matched every netlink answer (none sent to a backstore that did not wait)"
else
	fail "the kernel matched every netlink answer (none sent to a backstore that did not wait)"
fi
tcmu_finish
