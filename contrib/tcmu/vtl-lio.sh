#!/bin/bash
# vtl-lio.sh - export a vtld library through Linux LIO: create (or remove)
# one target_core_user backstore per library unit and map them to LUNs of
# tcm_loop (local /dev/sch*, /dev/nst*) and/or the LIO iSCSI target.
# Raw configfs, so it needs neither targetcli nor rtslib (docs/tcmu.md has
# the targetcli equivalent).
#
# Usage:
#   vtl-lio.sh create [--library NAME] [--drives N] [--hba N] [--loop]
#                     [--iscsi IQN] [--portal ADDR:PORT] [--data-mb N] [--nl-reply]
#   vtl-lio.sh remove [--library NAME] [--hba N] [--unit changer|driveN]
#   vtl-lio.sh show
#
# The backstores are user_<hba>/<NAME>_changer and <NAME>_drive1..N with
# the config strings vtl/<NAME>/changer and vtl/<NAME>/driveN, which vtld
# serves when its configuration has [tcmu] enable = yes, library = NAME.
# remove --unit takes one unit out of every fabric and deletes its backstore,
# leaving the others in service (vtld detaches from it and keeps running).
# LUN 0 is the changer, LUN n drive n, on every fabric. vtld may be started
# before or after this script; the devices wait for it (LIO holds commands
# until cmd_time_out, which this script turns off: tape commands such as
# REWIND or LOCATE may legitimately run for minutes).
# --nl-reply creates the backstores without nl_reply_supported=-1: enabling
# one then waits for vtld's netlink answer, so a unit vtld does not have is
# refused at once; but while no vtld answers (one ran and was killed) the
# kernel waits with no timeout (docs/tcmu.md, "Netlink").
set -euo pipefail

CFS=/sys/kernel/config/target
library=vtl
drives=
hba=0
loop=0
iqn=
portal=0.0.0.0:3260
data_mb=64
unit=
nl_reply=",nl_reply_supported=-1"

die() { echo "vtl-lio: $*" >&2; exit 1; }
usage() { sed -n '/^# Usage:/,/^# The backstores/p' "$0" | sed 's/^# \{0,1\}//' | head -n -1 >&2; exit 2; }

[ $# -ge 1 ] || usage
action=$1
shift
while [ $# -gt 0 ]; do
	case $1 in
	--library) library=$2; shift ;;
	--drives) drives=$2; shift ;;
	--hba) hba=$2; shift ;;
	--loop) loop=1 ;;
	--iscsi) iqn=$2; shift ;;
	--portal) portal=$2; shift ;;
	--data-mb) data_mb=$2; shift ;;
	--unit) unit=$2; shift ;;
	--nl-reply) nl_reply= ;;
	*) usage ;;
	esac
	shift
done

load_modules() {
	local m
	for m in target_core_mod target_core_user "$@"; do
		modprobe "$m" 2>/dev/null || [ -d "/sys/module/$m" ] ||
			die "cannot load kernel module $m"
	done
	if [ ! -d $CFS ]; then
		mountpoint -q /sys/kernel/config || mount -t configfs configfs /sys/kernel/config ||
			die "cannot mount configfs on /sys/kernel/config"
	fi
	[ -d $CFS/core ] || die "$CFS/core is missing: is target_core_mod loaded?"
}

# units: changer drive1 .. driveN
units() {
	echo changer
	for i in $(seq 1 "$drives"); do echo "drive$i"; done
}

backstore() { echo "$CFS/core/user_$hba/${library}_$1"; }

create_backstore() {
	local unit=$1 bs
	bs=$(backstore "$unit")
	if [ -d "$bs" ] && [ "$(cat "$bs/enable" 2>/dev/null)" = 1 ]; then
		return 0
	fi
	mkdir -p "$bs"
	# The data area must hold the largest transfer (a tape record); it is
	# set through control before enable (attrib/max_data_area_mb is
	# read-only in 6.1).
	echo "dev_config=vtl/$library/$unit,dev_size=1073741824$nl_reply,max_data_area_mb=$data_mb" >"$bs/control"
	local err
	if ! err=$({ echo 1 >"$bs/enable"; } 2>&1); then
		rmdir "$bs"
		die "enabling backstore ${library}_$unit (vtl/$library/$unit) failed (${err##*: }): vtld's log says why"
	fi
	# Tape commands may run for minutes (REWIND, LOCATE, a flush to slow
	# storage): no command timeout, and wait for vtld forever if it is down.
	echo 0 >"$bs/attrib/cmd_time_out"
	echo -1 >"$bs/attrib/qfull_time_out" 2>/dev/null || true
}

map_luns() {
	# map_luns TPG: LUN 0 changer, LUN n driveN
	local tpg=$1 lun=0 unit
	for unit in $(units); do
		if [ ! -d "$tpg/lun/lun_$lun" ]; then
			mkdir -p "$tpg/lun/lun_$lun"
			ln -s "$(backstore "$unit")" "$tpg/lun/lun_$lun/${library}_$unit"
		fi
		lun=$((lun + 1))
	done
}

wwn() { printf 'naa.5001405%09x' "$(( $(od -An -N4 -tu4 /dev/urandom) % 68719476736 ))"; }

create_loop() {
	local dir tpg
	# One loopback target per library, marked by its LUN 0 link name;
	# LUNs missing from it (a unit removed and created again) are added.
	for dir in $CFS/loopback/naa.*; do
		if [ -e "$dir/tpgt_1/lun/lun_0/${library}_changer" ]; then
			map_luns "$dir/tpgt_1"
			return 0
		fi
	done
	dir=$CFS/loopback/$(wwn)
	tpg=$dir/tpgt_1
	mkdir -p "$tpg"
	# The nexus first: tcm_loop adds the SCSI device when a LUN is linked,
	# and its INQUIRY fails ("I_T Nexus does not exist") without one; it
	# never rescans later.
	wwn >"$tpg/nexus"
	map_luns "$tpg"
}

create_iscsi() {
	local tpg=$CFS/iscsi/$iqn/tpgt_1
	mkdir -p "$tpg"
	map_luns "$tpg"
	[ -d "$tpg/np/$portal" ] || mkdir "$tpg/np/$portal"
	echo 0 >"$tpg/attrib/authentication"
	echo 1 >"$tpg/attrib/generate_node_acls"
	echo 1 >"$tpg/attrib/cache_dynamic_acls"
	echo 0 >"$tpg/attrib/demo_mode_write_protect"
	echo 1 >"$tpg/enable"
}

unmap_tpg() {
	local tpg=$1 l link
	for l in "$tpg"/lun/lun_*; do
		[ -d "$l" ] || continue
		for link in "$l"/*; do [ -L "$link" ] && rm -f "$link"; done
		rmdir "$l"
	done
}

remove_all() {
	local dir tpg np unit bs
	for dir in $CFS/loopback/naa.*; do
		tpg=$dir/tpgt_1
		[ -e "$tpg/lun/lun_0/${library}_changer" ] || continue
		echo NULL >"$tpg/nexus" 2>/dev/null || true
		unmap_tpg "$tpg"
		rmdir "$tpg" "$dir"
	done
	for dir in $CFS/iscsi/iqn.*; do
		tpg=$dir/tpgt_1
		[ -e "$tpg/lun/lun_0/${library}_changer" ] || continue
		echo 0 >"$tpg/enable" 2>/dev/null || true
		for np in "$tpg"/np/*; do [ -d "$np" ] && rmdir "$np"; done
		unmap_tpg "$tpg"
		rmdir "$tpg" "$dir"
	done
	for bs in $CFS/core/user_$hba/${library}_*; do
		[ -d "$bs" ] && rmdir "$bs"
	done
	rmdir "$CFS/core/user_$hba" 2>/dev/null || true
}

# remove_unit UNIT: unlink its LUN from every TPG, then delete the backstore.
# Unlinking waits for the LUN's commands in flight (LIO drains them first).
remove_unit() {
	local u=$1 link
	for link in $CFS/loopback/naa.*/tpgt_*/lun/lun_*/"${library}_$u" \
		$CFS/iscsi/iqn.*/tpgt_*/lun/lun_*/"${library}_$u"; do
		[ -L "$link" ] || continue
		rm -f "$link"
		rmdir "$(dirname "$link")"
	done
	[ -d "$(backstore "$u")" ] && rmdir "$(backstore "$u")"
	return 0
}

case $action in
create)
	[ -n "$drives" ] || die "create needs --drives N (vtlctl library show lists them)"
	[ "$drives" -ge 1 ] 2>/dev/null || die "--drives: a number of at least 1"
	mods=()
	[ "$loop" = 1 ] && mods+=(tcm_loop)
	[ -n "$iqn" ] && mods+=(iscsi_target_mod)
	load_modules "${mods[@]}"
	for unit in $(units); do create_backstore "$unit"; done
	[ "$loop" = 1 ] && create_loop
	[ -n "$iqn" ] && create_iscsi
	exit 0
	;;
remove)
	[ -d $CFS/core ] || exit 0
	if [ -n "$unit" ]; then remove_unit "$unit"; else remove_all; fi
	;;
show)
	for bs in $CFS/core/user_*/*; do
		[ -f "$bs/info" ] || continue
		echo "$bs: $(tr '\n' ' ' <"$bs/info")"
	done
	;;
*) usage ;;
esac
