# tgt-peer.sh - Debian's tgt (scsi-target-utils) set up as the same library
# vtld creates by default (a changer, 4 drives, 40 slots, 4 I/E slots),
# as a peer target for the end-to-end harness: `run-fast.sh --target tgt`.
# It proves the harness against a real third-party target and records
# where tgt's tape emulation falls short (the bar vtld has to clear).
#
# Sourced by run-fast.sh. Layout difference: tgt keeps LUN 0 for its
# controller, so its changer is LUN 5 (vtld: LUN 0); the guest scripts
# find devices by type, not by LUN.

# start_tgt DIR LOG NTAPES: sets VTLD_PID (tgtd, so stop_vtld stops it),
# VTLD_PORT and TGT_TAPES.
start_tgt() {
	local dir=$1 log=$2 ntapes=$3 cn i bc lun
	command -v tgtd >/dev/null || { say "tgt is not installed (apt-get install tgt)"; return 2; }
	cn=$((1000 + RANDOM % 30000))
	TGT_CN=$cn
	VTLD_PORT=$(free_port) || return 1
	mkdir -p "$dir"
	TGT_TAPES=""
	for i in $(seq 1 "$ntapes"); do
		bc=$(printf 'E2E%03dL8' "$((i - 1))")
		tgtimg --op new --device-type tape --barcode "$bc" --size "${E2E_TGT_TAPE_MB:-512}" \
			--type data --file "$dir/$bc" >>"$log" 2>&1 || return 1
		TGT_TAPES="$TGT_TAPES $bc"
	done
	for lun in 1 2 3 4; do # a drive needs a medium file to be created
		tgtimg --op new --device-type tape --barcode "DRV${lun}" --size 1 --type data \
			--file "$dir/drive$lun" >>"$log" 2>&1 || return 1
	done
	dd if=/dev/zero of="$dir/smc" bs=1k count=1 2>/dev/null
	setsid tgtd -f -C "$cn" --iscsi "portal=127.0.0.1:$VTLD_PORT" >>"$log" 2>&1 </dev/null &
	VTLD_PID=$!
	for i in $(seq 1 50); do
		port_open "$VTLD_PORT" && break
		sleep 0.1
	done
	local a="tgtadm -C $cn --lld iscsi"
	{
		$a --op new --mode target --tid 1 -T iqn.2024-01.test.vtl:tgt-peer
		for lun in 1 2 3 4; do
			$a --mode logicalunit --op new --tid 1 --lun $lun -b "$dir/drive$lun" --device-type=tape
			$a --mode logicalunit --op update --tid 1 --lun $lun --params online=0
		done
		$a --mode logicalunit --op new --tid 1 --lun 5 -b "$dir/smc" --device-type=changer
		$a --mode logicalunit --op update --tid 1 --lun 5 --params media_home="$dir"
		$a --mode logicalunit --op update --tid 1 --lun 5 --params element_type=1,start_address=1,quantity=1
		$a --mode logicalunit --op update --tid 1 --lun 5 --params element_type=4,start_address=100,quantity=4
		for lun in 1 2 3 4; do
			$a --mode logicalunit --op update --tid 1 --lun 5 --params "element_type=4,address=$((99 + lun)),tid=1,lun=$lun"
		done
		$a --mode logicalunit --op update --tid 1 --lun 5 --params element_type=2,start_address=1000,quantity=40
		$a --mode logicalunit --op update --tid 1 --lun 5 --params element_type=3,start_address=2000,quantity=4
		i=0
		for bc in $TGT_TAPES; do
			$a --mode logicalunit --op update --tid 1 --lun 5 --params "element_type=2,address=$((1000 + i)),barcode=$bc,sides=1"
			i=$((i + 1))
		done
		$a --op bind --mode target --tid 1 -I ALL
		$a --op show --mode target
	} >>"$log" 2>&1
	kill -0 "$VTLD_PID" 2>/dev/null && port_open "$VTLD_PORT"
}

# stop_tgt: tgtd -f does not exit on SIGTERM; ask it to shut down, then
# kill the process we started and remove its control socket.
stop_tgt() {
	[ -n "${VTLD_PID:-}" ] || return 0
	tgtadm -C "$TGT_CN" --op delete --mode system >/dev/null 2>&1
	sleep 0.5
	kill -KILL "$VTLD_PID" 2>/dev/null
	wait "$VTLD_PID" 2>/dev/null
	VTLD_PID=
	rm -f "/var/run/tgtd/socket.$TGT_CN" "/var/run/tgtd/socket.$TGT_CN.lock"
}
