#!/bin/bash
# guest.sh - runs in the QEMU guest (tests/tcmu/run.sh boots it): load LIO
# and target_core_user, start the host's vtld with the TCMU frontend,
# export the library through tcm_loop (and LIO iSCSI to the guest's own
# open-iscsi), then drive it with the real tools: lsscsi, mtx, mt, tar.
#
# Settings in /e2e/env (from run.sh): VTLD, VTLCTL, CONTRIB (vtl-lio.sh),
# TCMU_DRIVES, TCMU_SPIKE=1 (also record the kernel's behaviour for
# docs/tcmu.md in /e2e/spike.log), TCMU_ISCSI, TCMU_BTAPE=1 (also run
# Bacula's btape test through tcm_loop; slow under TCG).
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
# start_vtld: (re)start vtld on the same data directory, log appended to
# /e2e/vtld.log; returns once its control socket answers.
start_vtld() {
	rm -f "$DATA/vtld.sock"
	echo "=== vtld start at $(cut -d' ' -f1 /proc/uptime) s" >>/e2e/vtld.log
	"$VTLD" -c "$W/vtld.conf" --data-dir "$DATA" --listen 127.0.0.1:0 --foreground \
		--log-level debug >>/e2e/vtld.log 2>&1 &
	VTLD_PID=$!
	wait_for 20 test -S "$DATA/vtld.sock"
}
: >/e2e/vtld.log
if ! start_vtld; then
	OUT=$(tail -n 20 /e2e/vtld.log)
	nok "vtld starts with [tcmu] enable = yes"
	finish
fi
ok "vtld starts with [tcmu] enable = yes"
export VTL_SOCKET=$DATA/vtld.sock
# btape writes 2 x 10000 records of 16 KiB: its tapes need room for that.
check "vtlctl creates 4 tapes" 30 "$VTLCTL" tape create \
	--size "$([ "${TCMU_BTAPE:-0}" = 1 ] && echo 1GiB || echo 200MiB)" --prefix TCM --count 4

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

# --- vtld restarts while LIO holds the devices -----------------------------------
# Data written and flushed (closing /dev/nst0 writes the filemark) before a
# restart must read back after it; a command sent while vtld is down waits in
# the ring (cmd_time_out 0) and completes once vtld is back.
check "mtx load 3 0 (restart test)" 60 mtx -f "$CHG_SG" load 3 0
head -c 3000000 /dev/urandom >"$W/rs"
check "dd writes 3 MB to /dev/nst0 and closes it (filemark)" 60 \
	bash -c "mt -f /dev/nst0 rewind && dd if=$W/rs of=/dev/nst0 bs=64k"
kill -TERM "$VTLD_PID"
run 30 bash -c "while kill -0 $VTLD_PID 2>/dev/null; do sleep 0.1; done" ||
	kill -KILL "$VTLD_PID" 2>/dev/null # hung: fail below, but go on
wait "$VTLD_PID"
RC=$?
VTLD_PID=
OUT=$(tail -n 15 /e2e/vtld.log)
if [ "$RC" -eq 0 ]; then ok "vtld stops cleanly on SIGTERM while LIO holds its devices"; else nok "vtld stops cleanly on SIGTERM while LIO holds its devices (exit $RC)"; fi
# A command while vtld is down: held by LIO, not failed.
timeout -k 5 60 mt -f /dev/nst0 status >"$W/held.out" 2>&1 &
HELD=$!
sleep 2
if kill -0 "$HELD" 2>/dev/null; then ok "mt status while vtld is down waits (LIO holds it)"; else OUT=$(<"$W/held.out"); nok "mt status while vtld is down waits (LIO holds it)"; fi
if start_vtld; then ok "vtld restarts with the backstores in place"; else OUT=$(tail -n 20 /e2e/vtld.log); nok "vtld restarts with the backstores in place"; finish; fi
wait "$HELD"
RC=$?
OUT=$(<"$W/held.out")
log "held mt status: [exit $RC] $OUT"
if [ "$RC" -eq 0 ]; then ok "the held mt status completes after the restart"; else nok "the held mt status completes after the restart (exit $RC)"; fi
# st saw a POWER ON unit attention; its position is unknown until a rewind.
check "mt status after the restart" 30 bash -c "mt -f /dev/nst0 status || { sleep 1; mt -f /dev/nst0 status; }"
check "mt rewind after the restart" 30 mt -f /dev/nst0 rewind
rm -f "$W/rs.back"
check "the data written before the restart reads back through /dev/nst0" 60 \
	bash -c "dd if=/dev/nst0 of=$W/rs.back bs=64k && cmp $W/rs $W/rs.back"
# A crash (SIGKILL) instead of a clean stop.
kill -KILL "$VTLD_PID"
wait "$VTLD_PID" 2>/dev/null
VTLD_PID=
if start_vtld; then ok "vtld restarts after SIGKILL"; else OUT=$(tail -n 20 /e2e/vtld.log); nok "vtld restarts after SIGKILL"; finish; fi
rm -f "$W/rs.back"
check "after SIGKILL and restart the data reads back again" 60 \
	bash -c "{ mt -f /dev/nst0 rewind || { sleep 1; mt -f /dev/nst0 rewind; }; } && dd if=/dev/nst0 of=$W/rs.back bs=64k && cmp $W/rs $W/rs.back"
check "mt offline; mtx unload 3 0 after the restarts" 60 \
	bash -c "mt -f /dev/nst0 offline; mtx -f $CHG_SG unload 3 0"

# --- Bacula btape test through tcm_loop (as tests/e2e/guest-fast.sh runs it) ------
# Off by default (TCMU_BTAPE=1 in run.sh's environment turns it on): under
# QEMU's TCG every WRITE(6) costs ~10 ms, so btape's 20000 records alone take
# well over 100 s of guest time, beyond this tier's budget.
if [ "${TCMU_BTAPE:-0}" = 1 ] && command -v btape >/dev/null; then
	conf=$W/bacula-sd.conf
	mkdir -p /var/lib/bacula /run/bacula
	# mtx-changer waits up to 300 s for ONLINE after a load.
	sed -i 's/-le 300 /-le 30 /' /etc/bacula/scripts/mtx-changer
	cat >"$conf" <<EOF
Storage {
  Name = tcmu-sd
  WorkingDirectory = /var/lib/bacula
  Pid Directory = /run/bacula
  Plugin Directory = /usr/lib/bacula
  SDAddress = 127.0.0.1
}
Director {
  Name = tcmu-dir
  Password = "tcmu"
}
Messages {
  Name = Standard
  console = all
}
Autochanger {
  Name = tcmu-changer
  Device = Drive-0
  Changer Device = $CHG_SG
  Changer Command = "/etc/bacula/scripts/mtx-changer %c %o %S %a %d"
}
Device {
  Name = Drive-0
  Drive Index = 0
  Media Type = LTO
  Archive Device = /dev/nst0
  AutomaticMount = yes
  AlwaysOpen = yes
  RemovableMedia = yes
  RandomAccess = no
  AutoChanger = yes
  Maximum Changer Wait = 120
  Maximum Block Size = 16384
}
EOF
	check "mtx load 1 0 for btape" 60 mtx -f "$CHG_SG" load 1 0
	wait_for 20 bash -c "mt -f /dev/nst0 status | grep -q ONLINE"
	run 600 bash -c "printf 'test\\ny\\nquit\\n' | btape -c $conf Drive-0 2>&1 | tee /e2e/btape-test.log"
	why=""
	[ "$RC" -eq 0 ] || why="btape exit $RC"
	bad='This is NOT correct|Append test failed|must correct this error|Please add|Attempting again|test failed|Bad status|Bad autochanger|ERR='
	grep -Eiq "$bad" <<<"$OUT" && why="$why; btape reported: $(grep -Ei "$bad" <<<"$OUT" | head -5 | tr '\n' '|')"
	[ "$(grep -c '=== Test Succeeded' <<<"$OUT")" -ge 2 ] || why="$why; write/read or position test did not succeed"
	grep -q 'We should be in file 3\. I am at file 3\. This is correct' <<<"$OUT" || why="$why; append test: not at file 3 after EOD"
	grep -q 'End Forward space files test' <<<"$OUT" || why="$why; forward space file test incomplete"
	grep -q 'Block re-read correct' <<<"$OUT" || why="$why; write, backspace and re-read test did not succeed"
	grep -q 'The test autochanger worked' <<<"$OUT" || why="$why; autochanger test did not work"
	if [ -z "$why" ]; then
		ok "btape test through tcm_loop passes every part (write/read, position, append, re-read, fsf, autochanger)"
	else
		OUT="$why (transcript in btape-test.log)"
		nok "btape test through tcm_loop passes every part"
	fi
	run 60 bash -c "mt -f /dev/nst0 offline; mtx -f $CHG_SG status | grep -q 'Data Transfer Element 0:Empty' || mtx -f $CHG_SG unload 1 0"
fi

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

# --- a backstore removed with a command in flight ---------------------------------
# A writer streams records to /dev/nst1 (drive2); vtld is stopped (SIGSTOP)
# so its current command stays in flight, drive2 is removed (the LUN unlink
# waits for that command), then vtld continues: it must complete the
# command, detach from drive2 and keep serving the changer and drive1.
if [ "$TCMU_DRIVES" -ge 2 ]; then
	check "mtx load 4 1 (removal test)" 60 mtx -f "$CHG_SG" load 4 1
	wait_for 20 bash -c "mt -f /dev/nst1 status | grep -q ONLINE"
	bash -c 'while dd if=/dev/zero bs=64k count=4 2>/dev/null; do sleep 0.02; done >/dev/nst1' \
		>"$W/writer.out" 2>&1 &
	WRITER=$!
	sleep 1
	kill -STOP "$VTLD_PID"
	sleep 0.5
	"$CONTRIB" remove --library e2e --unit drive2 >"$W/remove.out" 2>&1 &
	REMOVER=$!
	sleep 2
	if kill -0 "$REMOVER" 2>/dev/null; then ok "removing drive2 waits for its command in flight"; else OUT=$(<"$W/remove.out"); nok "removing drive2 waits for its command in flight"; fi
	kill -CONT "$VTLD_PID"
	run 30 bash -c "while kill -0 $REMOVER 2>/dev/null; do sleep 0.1; done"
	wait "$REMOVER"
	RC=$?
	OUT=$(<"$W/remove.out")
	if [ "$RC" -eq 0 ]; then ok "vtl-lio.sh remove --unit drive2 completes once vtld runs again"; else nok "vtl-lio.sh remove --unit drive2 completes once vtld runs again (exit $RC)"; fi
	if run 20 bash -c "while kill -0 $WRITER 2>/dev/null; do sleep 0.1; done"; then
		ok "the writer to /dev/nst1 ends (its device is gone)"
	else
		kill "$WRITER" 2>/dev/null
		nok "the writer to /dev/nst1 ends (its device is gone)"
	fi
	check "backstore e2e_drive2 is gone" 5 test ! -e /sys/kernel/config/target/core/user_0/e2e_drive2
	check "vtld logs that it detached from drive2" 10 \
		bash -c "grep -q 'e2e_drive2: device gone' /e2e/vtld.log || { sleep 3; grep -q 'e2e_drive2: device gone' /e2e/vtld.log; }"
	check "vtld is still running" 5 kill -0 "$VTLD_PID"
	check "mtx status after the removal" 60 mtx -f "$CHG_SG" status
	check "mtx load 3 0 and mt status on /dev/nst0 after the removal" 60 \
		bash -c "mtx -f $CHG_SG load 3 0 && { mt -f /dev/nst0 status || { sleep 1; mt -f /dev/nst0 status; }; }"
	check "vtlctl still answers" 30 "$VTLCTL" library show
fi

check "vtl-lio.sh removes everything" 60 "$CONTRIB" remove --library e2e
finish
