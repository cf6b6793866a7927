#!/bin/bash
# guest-bench.sh - runs in the QEMU guest that bench/tcmu/run-bench.sh boots:
# the same tape workload through three paths to vtld, measured in one guest
# run so that their ratios, not the emulation-bound figures, are the result.
#
#   tcm_loop       st -> tcm_loop -> LIO core -> target_core_user ring -> vtld A
#   LIO iSCSI      st -> open-iscsi -> TCP 127.0.0.1:3260 -> LIO iSCSI -> ring -> vtld A
#   built-in       st -> open-iscsi -> TCP 127.0.0.1:3261 -> vtld B's own iSCSI target
#
# One vtld holds one library (one catalog, one data directory), and its
# built-in target and TCMU frontend both serve that library: two libraries
# of the same shape therefore take two vtld processes, the same binary and
# configuration apart from [tcmu] and the portal. vtld A's library goes
# through contrib/tcmu/vtl-lio.sh to tcm_loop and to LIO's iSCSI target;
# the tcm_loop path uses its drive 1, the LIO iSCSI path its drive 2, so
# neither st instance finds the tape where the other one left it.
#
# Workload, the same on each path (docs/benchmarks.md): a tape loaded with
# mtx, compression off, variable-block mode; dd writes BENCH_MIB MiB of
# incompressible data (made once, in tmpfs) in records of each size, closes
# (st writes the filemark), rewind, dd reads it back to /dev/null. The time
# is the one dd reports (guest clock, from after its open to after its
# close), so that the 0.1-0.3 s a process start costs under TCG is left out.
# The three paths' passes of one size and direction run back to back, in an
# order that rotates from round to round. Each line of /e2e/results.tsv is
# one pass: round, path, record KiB, op, bytes, seconds, guest CPU jiffies
# (user, system, irq+softirq, idle+iowait), vtld's CPU jiffies, and QEMU's
# CPU ticks and host microseconds (run-bench.sh) during it.
#
# Settings in /e2e/env: E2E_SRCDIR, VTLD, VTLCTL, CONTRIB (vtl-lio.sh),
# BENCH_MIB, BENCH_ROUNDS, BENCH_SIZES (record sizes in KiB), BENCH_LIO_PARAMS
# (vtld: LIO's iSCSI TPG offers what vtld offers; lio: LIO's defaults).
# Set-up steps are TAP in /e2e/tap, the transcript is /e2e/guest.log.
. /e2e/env
. "$E2E_SRCDIR/tests/e2e/guest-lib.sh"
export LC_ALL=C # dd's "N bytes ... copied, S s" in a fixed format

CFS=/sys/kernel/config/target
LIB=bench
LIO_IQN=iqn.2026-11.bench.vtl:tcmu
BUILTIN_IQN=iqn.2026-11.bench.vtl:builtin
BUILTIN_PORT=3261
DATA=/dev/shm/bench.data
RES=/e2e/results.tsv
: >"$RES"
# Per vtld (tcmu, builtin): its process; per path (loop, lio, builtin): the
# changer's sg node and the drive's no-rewind st node.
declare -A PID CHG NST
# need NAME: the last command (run) succeeded; else report it and stop.
need() {
	if [ "$RC" -eq 0 ]; then
		pass "$1"
	else
		fail "$1"
		bail "$1"
	fi
}

log "== guest-bench on $(uname -r), $(nproc) vCPU, $BENCH_MIB MiB per pass, $(date)"
run 60 modprobe -a configfs target_core_mod target_core_user tcm_loop iscsi_target_mod uio \
	iscsi_tcp st ch sg
need "kernel modules load"
mountpoint -q $CFS/.. || mount -t configfs configfs /sys/kernel/config

# --- two vtld processes, two libraries of the same shape, media in tmpfs ---------
# start_lib NAME CONF-EXTRA LISTEN: vtld on /dev/shm/vtl-NAME; sets PID[NAME].
start_lib() {
	local name=$1 extra=$2 listen=$3 dir=/dev/shm/vtl-$1
	mkdir -p "$dir"
	# The uploader copies every segment to the object store (here the
	# local directory store) in parts while it grows, and completes it
	# after idle_complete seconds: work that does not depend on the
	# frontend but would land in some later pass of either vtld. A part
	# larger than a pass and no idle completion keep it out of the run.
	printf '[library]\ndrives = 2\nslots = 8\nie_slots = 2\n[store]\npart_size = %dM\nidle_complete = 86400\n%b' \
		$((BENCH_MIB * 2 + 16)) "$extra" >"$dir.conf"
	"$VTLD" -c "$dir.conf" --data-dir "$dir" --listen "$listen" --foreground \
		>>"/e2e/vtld-$name.log" 2>&1 </dev/null &
	PID[$name]=$!
	if wait_for 30 test -S "$dir/vtld.sock"; then
		pass "vtld ($name) starts on $dir"
	else
		RC=1 OUT=$(<"/e2e/vtld-$name.log")
		fail "vtld ($name) starts on $dir"
		bail "no vtld"
	fi
	run 60 "$VTLCTL" --socket "$dir/vtld.sock" tape create --size 4GiB --prefix BT --count 2
	need "vtlctl creates 2 tapes in $name"
}
start_lib tcmu "[tcmu]\nenable = yes\nlibrary = $LIB\n" 127.0.0.1:0
start_lib builtin "[iscsi]\niqn = $BUILTIN_IQN\n" "127.0.0.1:$BUILTIN_PORT"

# The incompressible data, made once and read from tmpfs by every write.
run 120 dd if=/dev/urandom of=$DATA bs=1M count="$BENCH_MIB"
need "$BENCH_MIB MiB of random data in $DATA"

# --- the fabrics ----------------------------------------------------------------
# Each path's devices hang off the SCSI host its set-up step added (tcm_loop
# adds one per target, iscsi_tcp one per session).
snap_hosts() {
	local h
	BEFORE=" "
	shopt -s nullglob
	for h in /sys/class/scsi_host/host*; do BEFORE+="${h##*/host} "; done
	shopt -u nullglob
}
host_added() { # sets NEW_HOST
	local h
	shopt -s nullglob
	for h in /sys/class/scsi_host/host*; do
		h=${h##*/host}
		if [[ $BEFORE != *" $h "* ]]; then
			NEW_HOST=$h
			shopt -u nullglob
			return 0
		fi
	done
	shopt -u nullglob
	return 1
}
# unit_dev HOST LUN CLASS: /dev/<CLASS>N (st, sg) of HOST's LUN, or fail.
unit_dev() {
	local d n
	for d in /sys/bus/scsi/devices/"$1":*:*:"$2"/scsi_{tape,generic}/*; do
		n=${d##*/}
		[[ $n =~ ^$3[0-9]+$ ]] && { echo "/dev/$n"; return 0; }
	done
	return 1
}
# map_path NAME DRIVE-LUN: after a set-up step, find the new host and wait
# for its changer and drive; sets CHG[NAME] and NST[NAME].
map_path() {
	local name=$1 lun=$2 chg st
	NEW_HOST=
	wait_for 30 host_added
	wait_for 60 unit_dev "$NEW_HOST" "$lun" st >/dev/null
	wait_for 10 unit_dev "$NEW_HOST" 0 sg >/dev/null
	chg=$(unit_dev "$NEW_HOST" 0 sg) st=$(unit_dev "$NEW_HOST" "$lun" st)
	run 10 lsscsi -g
	if [ -n "$NEW_HOST" ] && [ -n "$chg" ] && [ -n "$st" ]; then
		CHG[$name]=$chg
		NST[$name]=/dev/n${st#/dev/}
		pass "$name: changer $chg, drive LUN $lun /dev/n${st#/dev/} (SCSI host $NEW_HOST)"
	else
		fail "$name: a changer and drive LUN $lun appear on a new SCSI host (host '$NEW_HOST')"
		bail "no devices for $name"
	fi
}

snap_hosts
run 60 "$CONTRIB" create --library $LIB --drives 2 --loop
need "vtl-lio.sh creates the backstores and a tcm_loop target"
map_path loop 1

run 60 "$CONTRIB" create --library $LIB --drives 2 --iscsi $LIO_IQN --portal 127.0.0.1:3260
need "vtl-lio.sh exports the same backstores over LIO iSCSI"
if [ "$BENCH_LIO_PARAMS" = vtld ]; then
	# Offer what vtld's built-in target offers (iscsi/server.c defaults), so
	# the two iSCSI paths run with the same negotiated bursts and R2T
	# policy; with LIO's own (FirstBurstLength 64 KiB, MaxBurstLength
	# 256 KiB, InitialR2T=Yes) a record of more than 64 KiB waits for an R2T.
	for kv in MaxRecvDataSegmentLength=262144 FirstBurstLength=262144 \
		MaxBurstLength=16776192 InitialR2T=No ImmediateData=Yes; do
		echo "${kv#*=}" >"$CFS/iscsi/$LIO_IQN/tpgt_1/param/${kv%%=*}" ||
			log "cannot set LIO parameter $kv"
	done
fi
if start_iscsid; then pass "iscsid runs"; else bail "no iscsid"; fi
# login_to NAME PORTAL IQN DRIVE-LUN
login_to() {
	snap_hosts
	run 60 iscsiadm -m discovery -t sendtargets -p "$2"
	need "$1: discovery at $2"
	run 60 iscsiadm -m node -T "$3" -p "$2" --login
	need "$1: login to $3"
	map_path "$1" "$4"
}
login_to lio 127.0.0.1:3260 $LIO_IQN 2
login_to builtin 127.0.0.1:$BUILTIN_PORT $BUILTIN_IQN 1
run 10 iscsiadm -m session -P 2
printf '%s\n' "$OUT" >/e2e/sessions.txt

# --- tapes in the drives: variable blocks, compression off --------------------
load() { # CHANGER SLOT DRIVE-ELEMENT
	run 120 mtx -f "$1" load "$2" "$3"
	need "mtx -f $1 load $2 $3"
}
load "${CHG[loop]}" 1 0
load "${CHG[loop]}" 2 1
load "${CHG[builtin]}" 1 0
online() { mt -f "$1" status 2>/dev/null | grep -q ONLINE; }
for p in loop lio builtin; do
	wait_for 30 online "${NST[$p]}"
	run 30 mt -f "${NST[$p]}" setblk 0 && run 30 mt -f "${NST[$p]}" compression 0 &&
		run 60 mt -f "${NST[$p]}" rewind
	need "$p: ${NST[$p]} online, variable blocks, compression off"
done

# --- the passes -----------------------------------------------------------------
# cpu_snap: guest CPU jiffies (user, system, irq+softirq, idle+iowait) and
# the path's vtld's own (all threads), read with builtins only.
# Then QEMU's own CPU time on the host and the host clock (clock ticks and
# microseconds, from the file run-bench.sh rewrites every 0.1 s; 0 0
# without it): how much of a host CPU the guest got during a pass.
cpu_snap() {
	local u n s i w q sq _ f qt=0 qus=0
	read -r _ u n s i w q sq _ </proc/stat
	read -r -a f <"/proc/$1/stat"
	[ -f /e2e/qemu-cpu ] && read -r qt qus _ </e2e/qemu-cpu
	SNAP=("$((u + n))" "$s" "$((q + sq))" "$((i + w))" "$((f[13] + f[14]))" "$qt" "$qus")
}
DD_RE='([0-9]+) bytes .*copied, ([0-9.]+(e[-+]?[0-9]+)?) s'
# xfer ROUND PATH KIB OP: one timed dd through the path's drive.
xfer() {
	local round=$1 path=$2 kib=$3 op=$4 nst=${NST[$2]} vpid=${PID[tcmu]} a b k
	[ "$path" = builtin ] && vpid=${PID[builtin]}
	cpu_snap "$vpid"
	a=("${SNAP[@]}")
	if [ "$op" = write ]; then
		run 900 dd if=$DATA of="$nst" bs="${kib}k"
	else
		run 900 dd if="$nst" of=/dev/null bs="${kib}k"
	fi
	cpu_snap "$vpid"
	b=("${SNAP[@]}")
	if [ "$RC" -ne 0 ] || ! [[ $OUT =~ $DD_RE ]] || [ "${BASH_REMATCH[1]}" -ne $((BENCH_MIB << 20)) ]; then
		fail "round $round: $path $op of $BENCH_MIB MiB in $kib KiB records" \
			"dd moves all $((BENCH_MIB << 20)) bytes"
		return 1
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s' "$round" "$path" "$kib" "$op" "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" >>"$RES"
	for k in 0 1 2 3 4 5 6; do printf '\t%s' "$((b[k] - a[k]))" >>"$RES"; done
	printf '\n' >>"$RES"
}
# one_pass ROUND PATH KIB OP: rewind (untimed), then the timed dd.
one_pass() {
	run 120 mt -f "${NST[$2]}" rewind || { fail "round $1: $2: rewind"; return 1; }
	xfer "$@"
}
# verify PATH KIB: the bytes on the tape are the data (untimed, round 1).
verify() {
	runsh 900 "mt -f ${NST[$1]} rewind && dd if=${NST[$1]} bs=${2}k status=none | cmp - $DATA"
	if [ "$RC" -eq 0 ]; then
		pass "$1: $BENCH_MIB MiB in $2 KiB records read back identical"
	else
		fail "$1: $BENCH_MIB MiB in $2 KiB records read back identical"
	fi
}
# What the store holds before the passes. A new tape's medium is made at
# its first load (the loads above; docs/library.md, "A new tape is a
# catalog row"), and the uploader then puts its first objects and the
# library record (at most every 10 s): the snapshot is taken once the
# store has not changed for 12 s (at most 120 s).
STORE_BEFORE=/tmp/store.before
STORE_LIST="find /dev/shm/vtl-*/store -type f -printf '%p %s\n' | sort"
store_was=$(eval "$STORE_LIST")
for ((i = 0, still = 0; i < 120 && still < 12; i++)); do
	sleep 1
	store_now=$(eval "$STORE_LIST")
	if [ "$store_now" = "$store_was" ]; then
		still=$((still + 1))
	else
		still=0 store_was=$store_now
	fi
done
printf '%s\n' "$store_was" >$STORE_BEFORE
PATHS=(loop lio builtin)
for ((r = 1; r <= BENCH_ROUNDS; r++)); do
	# The three paths' passes of one size and direction follow each other,
	# so that they see the same host load (other guests come and go within
	# a minute); the order rotates from round to round, so that each path
	# runs first, second and last once in three rounds.
	order=()
	for ((j = 0; j < ${#PATHS[@]}; j++)); do
		order+=("${PATHS[(j + r - 1) % ${#PATHS[@]}]}")
	done
	log "== round $r: ${order[*]}"
	for kib in $BENCH_SIZES; do
		for op in write read; do
			for p in "${order[@]}"; do
				one_pass "$r" "$p" "$kib" "$op" || bail "round $r: $p $op failed"
			done
		done
		if [ "$r" = 1 ]; then
			for p in "${order[@]}"; do verify "$p" "$kib"; done
		fi
	done
	pass "round $r (${order[*]})"
done
# The uploader was to stay out of the passes (start_lib): the store holds
# what it held before them (the blank tapes' objects, uploaded after their
# first load); a difference is printed.
check "no upload to the object store ran during the passes" \
	"the same files in /dev/shm/vtl-*/store before and after the passes" \
	runsh 30 "$STORE_LIST | diff $STORE_BEFORE -"
finish
