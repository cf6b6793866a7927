#!/bin/bash
# run-fast.sh - the fast end-to-end tier (every `make check`): start vtld on
# a free 127.0.0.1 port with a fresh data directory, create tapes, boot the
# QEMU guest, run tests/e2e/guest-fast.sh in it (open-iscsi, st, ch, sg,
# mt, mtx, tar, btape test against vtld; CHAP against a second vtld
# started with a vtld.conf; an import through the I/E slot prepared with
# vtlctl; every changer and drive personality on vtlds of their own: a
# third one with AWS-Gateway-VTL + HP Ultrium 6 and eight more, DRV_SPECS),
# collect its TAP, stop everything.
#
# Usage: tests/e2e/run-fast.sh [--selftest] [--keep]
#   --selftest  no vtld: boot the guest and check that discovery against a
#               closed port fails cleanly (proves the harness itself)
#   --keep      keep the temporary directory (data dir, share) for debugging
# Environment:
#   VTLD, VTLCTL   the binaries (default: found in E2E_BUILDDIR, then srcdir)
#   E2E_BUILDDIR   the build directory (default: the current directory)
#   E2E_CACHE      guest kernel/initramfs cache (default <srcdir>/build/e2e-cache)
#   E2E_LOGS       where the logs of the last run are kept
#                  (default: e2e-logs/fast beside the cache directory)
#   E2E_BUDGET     hard limit on the guest in seconds (default 2400; a run
#                  at load 6-10 on two cores takes about 820)
#   E2E_STRICT=1   a missing prerequisite fails instead of skipping
#   E2E_CHAP=0     no second vtld with CHAP secrets (default 1: the guest
#                  also logs in with one-way and mutual CHAP)
#
# Output: TAP, then "e2e: N passed, N failed, N skipped". Exit 0 when
# nothing failed, 77 (skip) when QEMU/tools/vtld are missing, 1 otherwise.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

tier=${E2E_TIER:-fast}
script=$E2E_DIR/guest-$tier.sh
selftest=0
keep=0
target=vtld
while [ $# -gt 0 ]; do
	case $1 in
	--selftest) selftest=1 ;;
	--keep) keep=1 ;;
	--target) target=$2; shift ;;
	*) die "usage: run-$tier.sh [--selftest] [--keep] [--target vtld|tgt]" ;;
	esac
	shift
done
case $target in
vtld) ;;
tgt) . "$E2E_DIR/tgt-peer.sh" ;;
*) die "unknown target $target (vtld or tgt)" ;;
esac
budget=${E2E_BUDGET:-2400}
logs=${E2E_LOGS:-$(dirname "$E2E_CACHE")/e2e-logs/$tier}
[ "$selftest" = 1 ] && logs=${E2E_LOGS:-$(dirname "$E2E_CACHE")/e2e-logs/selftest}
[ "$target" = tgt ] && logs=${E2E_LOGS:-$(dirname "$E2E_CACHE")/e2e-logs/$tier-tgt}

e2e_check_host_deps
if [ "$selftest" = 0 ] && [ "$target" = vtld ]; then
	find_prog vtld >/dev/null || skip_or_die "no vtld binary (set VTLD or run from the build directory)"
	find_prog vtlctl >/dev/null || skip_or_die "no vtlctl binary (set VTLCTL or run from the build directory)"
fi
"$E2E_DIR/build-guest" >/dev/null || die "build-guest failed"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vtl-e2e.XXXXXX")
share=$tmp/share
data=$tmp/data
mkdir -p "$share" "$data"
HOST_TAP=$tmp/host.tap
: >"$HOST_TAP"
VTLD_PID=
CHAP_PID=
CHAP_PORT=

# start_side_vtld NAME VAR: a vtld beside the main one, configured by
# $tmp/vtld-NAME.conf, its data in $tmp/NAME-data and its log in
# $tmp/vtld-NAME.log; its pid and port go into VAR_PID and VAR_PORT, the
# main vtld's VTLD_PID and VTLD_PORT are left as they were.
# stop_side_vtld VAR: stops VAR_PID (if any), its exit status into VAR_EXIT.
start_side_vtld() {
	local name=$1 var=$2 save_pid=$VTLD_PID save_port=${VTLD_PORT:-} rc
	mkdir -p "$tmp/$name-data"
	E2E_VTLD_ARGS="-c $tmp/vtld-$name.conf ${E2E_VTLD_ARGS:-}" start_vtld "$tmp/$name-data" "$tmp/vtld-$name.log"
	rc=$?
	printf -v "${var}_PID" '%s' "$VTLD_PID"
	printf -v "${var}_PORT" '%s' "${VTLD_PORT:-}"
	VTLD_PID=$save_pid VTLD_PORT=$save_port
	return "$rc"
}
stop_side_vtld() {
	local pidvar=${1}_PID save_pid=$VTLD_PID save_exit=${VTLD_EXIT:-}
	VTLD_PID=${!pidvar}
	stop_vtld
	printf -v "${1}_EXIT" '%s' "${VTLD_EXIT:-}"
	VTLD_PID=$save_pid VTLD_EXIT=$save_exit
	printf -v "$pidvar" '%s' ""
}

# The CHAP peer: a second vtld, configured by a vtld.conf with one-way and
# mutual CHAP secrets (README.md, "[iscsi]"), one drive, and the
# IBM-03584L32-0402 changer personality, which the guest checks with sg_inq,
# mtx and SEND VOLUME TAG / REQUEST VOLUME ELEMENT ADDRESS.
CHAP_IQN=iqn.2026-11.test.vtl:e2e-chap
CHAP_USER=e2e-initiator
CHAP_SECRET=e2e-initiator-secret
CHAP_MUSER=e2e-target
CHAP_MSECRET=e2e-target-secret-2
start_chap_vtld() {
	cat >"$tmp/vtld-chap.conf" <<EOF
[iscsi]
iqn = $CHAP_IQN
chap_user = $CHAP_USER
chap_secret = $CHAP_SECRET
mutual_user = $CHAP_MUSER
mutual_secret = $CHAP_MSECRET
[library]
changer = IBM-03584L32-0402
drives = 1
slots = 4
ie_slots = 1
EOF
	start_side_vtld chap CHAP
}
stop_chap_vtld() { stop_side_vtld CHAP; }

# The third vtld: the AWS-Gateway-VTL changer and one HPE Ultrium 6 drive
# (LTO-6 tapes), which the guest drives through every tool, mtx, mt, tar
# and btape (aws_personality_tests, guest-lib.sh).
AWS_IQN=iqn.2026-11.test.vtl:e2e-aws
AWS_PID=
AWS_PORT=
start_aws_vtld() {
	cat >"$tmp/vtld-aws.conf" <<EOF
[iscsi]
iqn = $AWS_IQN
[library]
changer = AWS-Gateway-VTL
drives = 1
slots = 4
ie_slots = 1
drive_vendor = HPE
drive_type = LTO-6
[tapes]
default_type = LTO-6
EOF
	start_side_vtld aws AWS
}
stop_aws_vtld() { stop_side_vtld AWS; }

# The drive personalities the three vtlds above do not have (issue 18:
# every personality passes mtx, mt, tar and btape): one small vtld each,
# one drive, 4 slots and two tapes of the drive's generation, spread over
# the three changer personalities. drive_vendor and drive_type are fixed
# at a library's first start (README.md), so each has its own data
# directory; all are started before the guest boots, each on its own
# port (a few MB each), and the guest logs in to one at a time
# (drive_personality_tests, guest-lib.sh).
# NAME:CHANGER:VENDOR:GENERATION; NAME in capitals is the barcode prefix.
DRV_SPECS="td5:AWS-Gateway-VTL:IBM:5 hp5:AWS-Gateway-VTL:HPE:5 hp8:AWS-Gateway-VTL:HPE:8
td7:STK-L700:IBM:7 hp7:STK-L700:HPE:7 hp9:STK-L700:HPE:9
td6:IBM-03584L32-0402:IBM:6 td9:IBM-03584L32-0402:IBM:9"
DRV_NAMES=""
# drv_model VENDOR GEN: the drive as lsscsi shows its vendor and product.
drv_model() {
	case $1 in
	IBM) echo "IBM ULT3580-TD$2" ;;
	*) [ "$2" -ge 9 ] && echo "HPE Ultrium $2-SCSI" || echo "HP Ultrium $2-SCSI" ;;
	esac
}
start_drv_vtlds() {
	local spec name chg vendor gen pfx out label
	for spec in $DRV_SPECS; do
		IFS=: read -r name chg vendor gen <<<"$spec"
		pfx=$(tr a-z A-Z <<<"$name")
		label="$chg + $(drv_model "$vendor" "$gen")"
		DRV_NAMES="$DRV_NAMES $name"
		printf -v "DRV_${name}_LABEL" '%s' "$label"
		printf -v "DRV_${name}_CHG" '%s' "$chg"
		printf -v "DRV_${name}_VENDOR" '%s' "$vendor"
		printf -v "DRV_${name}_GEN" '%s' "$gen"
		cat >"$tmp/vtld-$name.conf" <<EOF
[iscsi]
iqn = iqn.2026-11.test.vtl:e2e-$name
[library]
changer = $chg
drives = 1
slots = 4
ie_slots = 1
drive_vendor = $vendor
drive_type = LTO-$gen
[tapes]
default_type = LTO-$gen
EOF
		if ! start_side_vtld "$name" "DRV_$name"; then
			host_fail "a vtld for $label ([library] drive_vendor = $vendor, drive_type = LTO-$gen) starts" \
				"$(tail -n 20 "$tmp/vtld-$name.log")"
			printf -v "DRV_${name}_PID" '%s' ""
			printf -v "DRV_${name}_PORT" '%s' ""
			continue
		fi
		host_ok "a vtld for $label ([library] drive_vendor = $vendor, drive_type = LTO-$gen) starts"
		out=$("$vtlctl" --socket "$tmp/$name-data/vtld.sock" tape create --prefix "$pfx" --count 2 2>&1)
		if [ $? -eq 0 ] && printf '%s\n' "$out" | grep -q "${pfx}001L$gen" &&
			printf '%s\n' "$out" | grep -q "${pfx}002L$gen"; then
			host_ok "$label vtld: vtlctl tape create --prefix $pfx --count 2 (LTO-$gen)"
		else
			host_fail "$label vtld: vtlctl tape create --prefix $pfx --count 2" "$out" \
				"${pfx}001L$gen and ${pfx}002L$gen created"
		fi
	done
}
stop_drv_vtlds() {
	local name pv
	for name in $DRV_NAMES; do
		pv=DRV_${name}_PID
		[ -n "${!pv:-}" ] && stop_side_vtld "DRV_$name"
	done
}
# drv_env: the guest's settings for each of them (E2E_DRV_LIST and, per
# NAME, its label, portal, target name and the lsscsi patterns of its
# changer and drive).
drv_env() {
	local name v chg vendor gen port chg_re drv_re
	echo "E2E_DRV_LIST=\"$DRV_NAMES\""
	for name in $DRV_NAMES; do
		v=DRV_${name}_CHG; chg=${!v}
		v=DRV_${name}_VENDOR; vendor=${!v}
		v=DRV_${name}_GEN; gen=${!v}
		v=DRV_${name}_PORT; port=${!v:-}
		v=DRV_${name}_LABEL
		case $chg in
		AWS-Gateway-VTL) chg_re='mediumx +AWS +Gateway-VTL' ;;
		STK-L700) chg_re='mediumx +STK +L700' ;;
		IBM-03584L32-0402) chg_re='mediumx +IBM +03584L32' ;;
		esac
		case $vendor in
		IBM) drv_re="tape +IBM +ULT3580-TD$gen " ;;
		*) drv_re="tape +HPE? +Ultrium $gen-SCSI " ;;
		esac
		echo "E2E_DRV_${name}_LABEL='${!v}'"
		echo "E2E_DRV_${name}_PORTAL=${port:+10.0.2.2:$port}"
		echo "E2E_DRV_${name}_IQN=iqn.2026-11.test.vtl:e2e-$name"
		echo "E2E_DRV_${name}_CHG='$chg_re'"
		echo "E2E_DRV_${name}_DRV='$drv_re'"
	done
}

cleanup() {
	[ "$target" = tgt ] && stop_tgt
	stop_vtld
	stop_chap_vtld
	stop_aws_vtld
	stop_drv_vtlds
	rm -rf "$logs"
	mkdir -p "$logs"
	cp -a "$share/." "$logs/" 2>/dev/null
	[ -f "$tmp/vtld.log" ] && cp "$tmp/vtld.log" "$logs/"
	[ -f "$tmp/vtld-chap.log" ] && cp "$tmp/vtld-chap.log" "$logs/"
	[ -f "$tmp/vtld-aws.log" ] && cp "$tmp/vtld-aws.log" "$logs/"
	for name in $DRV_NAMES; do
		[ -f "$tmp/vtld-$name.log" ] && cp "$tmp/vtld-$name.log" "$logs/"
	done
	cp "$HOST_TAP" "$logs/host.tap" 2>/dev/null
	if [ "$keep" = 1 ]; then
		say "kept $tmp"
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

host_ok() { echo "ok - $1" >>"$HOST_TAP"; }
# A random 256-bit key as 64 hex digits, without a 0a (newline) byte.
new_key() {
	local k
	while :; do
		k=$(od -An -v -tx1 -N32 /dev/urandom | tr -d ' \n')
		[ ${#k} -eq 64 ] || continue
		case $(printf '%s' "$k" | sed 's/../& /g') in *"0a "*) continue ;; esac
		echo "$k"
		return
	done
}
# key_files HEX PATH...: the files under PATH holding the key, as bytes
# or as its hex text.
key_files() {
	local hex=$1 pat
	shift
	pat=$(printf '%s' "$hex" | sed 's/../\\x&/g')
	LC_ALL=C grep -rlaP -e "$pat" -- "$@" 2>/dev/null
	LC_ALL=C grep -rlaiF -e "$hex" -- "$@" 2>/dev/null
}
host_fail() {
	{
		echo "not ok - $1"
		[ $# -ge 2 ] && printf '%s\n' "$2" | head -n 25 | sed 's/^/#   | /'
		[ $# -ge 3 ] && echo "#   expected: $3"
	} >>"$HOST_TAP"
}

t0=$(date +%s)
tapes=""
if [ "$selftest" = 1 ]; then
	port=$(free_port)
	say "self-test: nothing listens on 127.0.0.1:$port"
elif [ "$target" = tgt ]; then
	if ! start_tgt "$data" "$tmp/vtld.log" "${E2E_NTAPES:-6}"; then
		host_fail "tgtd starts" "$(tail -n 20 "$tmp/vtld.log")"
		cat "$HOST_TAP"; tap_summary "$HOST_TAP"; exit 1
	fi
	host_ok "tgtd (peer) starts and listens on 127.0.0.1:$VTLD_PORT"
	port=$VTLD_PORT
	tapes=$TGT_TAPES
else
	vtlctl=$(find_prog vtlctl)
	if ! start_vtld "$data" "$tmp/vtld.log"; then
		host_fail "vtld starts and listens on 127.0.0.1" "$(tail -n 20 "$tmp/vtld.log")" \
			"vtld --data-dir DIR --listen 127.0.0.1:PORT --foreground accepts iSCSI connections and creates DIR/vtld.sock"
		cat "$HOST_TAP"
		tap_summary "$HOST_TAP"
		exit 1
	fi
	host_ok "vtld starts and listens on 127.0.0.1:$VTLD_PORT"
	port=$VTLD_PORT
	ntapes=${E2E_NTAPES:-6}
	out=$("$vtlctl" --socket "$data/vtld.sock" tape create --prefix E2E --count "$ntapes" ${E2E_TAPE_ARGS:-} 2>&1)
	rc=$?
	echo "$out" >"$tmp/vtlctl-create.log"
	if [ "$rc" -ne 0 ]; then
		host_fail "vtlctl tape create --prefix E2E --count $ntapes" "$out" "exit 0"
	else
		host_ok "vtlctl tape create --prefix E2E --count $ntapes"
	fi
	# The slow tier adds tapes of given sizes: E2E_EXTRA_TAPES="PREFIX:COUNT:SIZE ...".
	for spec in ${E2E_EXTRA_TAPES:-}; do
		IFS=: read -r pfx cnt size <<<"$spec"
		more=$("$vtlctl" --socket "$data/vtld.sock" tape create --size "$size" --prefix "$pfx" --count "$cnt" 2>&1)
		rc=$?
		echo "$more" >>"$tmp/vtlctl-create.log"
		if [ "$rc" -ne 0 ]; then
			host_fail "vtlctl tape create --size $size --prefix $pfx --count $cnt" "$more" "exit 0"
		else
			host_ok "vtlctl tape create --size $size --prefix $pfx --count $cnt"
		fi
		out="$out
$more"
	done
	tapes=$(printf '%s\n' "$out" | grep -oE '\<(E2E|E2F|E2A)[A-Z0-9]*' | sort -u | tr '\n' ' ')
	if [ -z "$tapes" ]; then
		list=$("$vtlctl" --socket "$data/vtld.sock" tape list 2>&1)
		tapes=$(printf '%s\n' "$list" | grep -oE '\<(E2E|E2F|E2A)[A-Z0-9]*' | sort -u | tr '\n' ' ')
	fi
	say "tapes: $tapes"
	# A WORM tape, in the slot after the others, for the guest's WORM
	# tests (guest-fast.sh, worm_tests); not among E2E_TAPES.
	E2E_WORM=
	if [ "$tier" = fast ]; then
		out=$("$vtlctl" --socket "$data/vtld.sock" tape create --worm --prefix E2W --count 1 2>&1)
		echo "$out" >>"$tmp/vtlctl-create.log"
		E2E_WORM=$(printf '%s\n' "$out" | grep -oE '\<E2W[A-Z0-9]*' | head -n 1)
		if [ -n "$E2E_WORM" ]; then
			host_ok "vtlctl tape create --worm --prefix E2W --count 1: $E2E_WORM"
		else
			host_fail "vtlctl tape create --worm --prefix E2W --count 1" "$out" "created tape E2W001LY (LTO-8 WORM, ...)"
		fi
	fi
	# A tape for drive encryption with stenc (guest-fast.sh,
	# encryption_tests), and two keys without a newline byte so that the
	# search for them after the run is a plain grep -P.
	E2E_ENC= E2E_KEY1= E2E_KEY2=
	if [ "$tier" = fast ] && command -v stenc >/dev/null; then
		out=$("$vtlctl" --socket "$data/vtld.sock" tape create --prefix E2C --count 1 2>&1)
		echo "$out" >>"$tmp/vtlctl-create.log"
		E2E_ENC=$(printf '%s\n' "$out" | grep -oE '\<E2C[A-Z0-9]*' | head -n 1)
		if [ -n "$E2E_ENC" ]; then
			host_ok "vtlctl tape create --prefix E2C --count 1: $E2E_ENC for stenc"
		else
			host_fail "vtlctl tape create --prefix E2C --count 1" "$out" "created tape E2C001L8"
		fi
		E2E_KEY1=$(new_key)
		E2E_KEY2=$(new_key)
	fi
	# A cleaning cartridge (a CLN label: 50 cleanings) after the others,
	# for the guest's cleaning and TapeAlert tests (cleaning_tests).
	E2E_CLEAN=
	if [ "$tier" = fast ]; then
		out=$("$vtlctl" --socket "$data/vtld.sock" tape create CLN001L1 2>&1)
		echo "$out" >>"$tmp/vtlctl-create.log"
		if printf '%s\n' "$out" | grep -q 'created cleaning cartridge CLN001L1 (good for 50 cleanings)'; then
			host_ok "vtlctl tape create CLN001L1: a cleaning cartridge good for 50 cleanings"
			E2E_CLEAN=CLN001L1
		else
			host_fail "vtlctl tape create CLN001L1" "$out" "created cleaning cartridge CLN001L1 (good for 50 cleanings)"
		fi
	fi
	# Import through the I/E slot: the fifth tape (slot 5, which the guest
	# leaves alone) goes to the shelf and comes back RETRIEVED into the
	# first import/export element, as an operator would bring it; the guest
	# imports it with `mtx eepos 0 transfer`.
	E2E_IMPORT=
	imp=$(printf '%s\n' $tapes | grep '^E2E' | sed -n 5p)
	if [ -n "$imp" ] && [ "$tier" = fast ]; then
		out=$( { "$vtlctl" --socket "$data/vtld.sock" tape archive "$imp" --wait &&
			"$vtlctl" --socket "$data/vtld.sock" tape retrieve "$imp" --wait; } 2>&1)
		if [ $? -eq 0 ] && printf '%s\n' "$out" | grep -q 'RETRIEVED (ie:1)'; then
			host_ok "vtlctl tape archive + retrieve $imp: RETRIEVED into ie:1 for the guest to import"
			E2E_IMPORT=$imp
		else
			host_fail "vtlctl tape archive + retrieve $imp: RETRIEVED into ie:1 for the guest to import" "$out" \
				"tape $imp is RETRIEVED (ie:1)"
		fi
	fi
	if [ "${E2E_CHAP:-1}" = 1 ] && [ "$tier" = fast ]; then
		if start_chap_vtld; then
			host_ok "a second vtld with CHAP secrets (vtld -c) listens on 127.0.0.1:$CHAP_PORT"
			csock=$tmp/chap-data/vtld.sock
			out=$("$vtlctl" --socket "$csock" tape create --prefix PER --count 2 2>&1)
			if [ $? -eq 0 ] && printf '%s\n' "$out" | grep -q PER002L8; then
				host_ok "IBM-03584L32-0402 vtld: vtlctl tape create --prefix PER --count 2 (8-character barcodes)"
			else
				host_fail "IBM-03584L32-0402 vtld: vtlctl tape create --prefix PER --count 2" "$out" "PER001L8 and PER002L8 created"
			fi
			out=$("$vtlctl" --socket "$csock" tape create PERLONG01L8 2>&1)
			if [ $? -ne 0 ] && printf '%s\n' "$out" | grep -q 'at most 8'; then
				host_ok "IBM-03584L32-0402 vtld: a 11-character barcode is refused, naming the limit"
			else
				host_fail "IBM-03584L32-0402 vtld: a 11-character barcode is refused" "$out" \
					"vtlctl exits non-zero: barcode 'PERLONG01L8' has 11 characters; ... at most 8"
			fi
		else
			host_fail "a second vtld with CHAP secrets (vtld -c) listens on 127.0.0.1:$CHAP_PORT" \
				"$(tail -n 20 "$tmp/vtld-chap.log")"
		fi
	fi
	if [ "$tier" = fast ]; then
		if start_aws_vtld; then
			host_ok "a third vtld (AWS-Gateway-VTL changer, HPE Ultrium 6 drive) listens on 127.0.0.1:$AWS_PORT"
			out=$("$vtlctl" --socket "$tmp/aws-data/vtld.sock" tape create --prefix AWS --count 2 2>&1)
			if [ $? -eq 0 ] && printf '%s\n' "$out" | grep -q AWS002L6; then
				host_ok "AWS-Gateway-VTL vtld: vtlctl tape create --prefix AWS --count 2 (LTO-6)"
			else
				host_fail "AWS-Gateway-VTL vtld: vtlctl tape create --prefix AWS --count 2" "$out" "AWS001L6 and AWS002L6 created"
			fi
		else
			host_fail "a third vtld (AWS-Gateway-VTL changer, HPE Ultrium 6 drive) listens on 127.0.0.1:$AWS_PORT" \
				"$(tail -n 20 "$tmp/vtld-aws.log")"
		fi
		start_drv_vtlds
	fi
fi
t_vtld=$(date +%s)

cat >"$share/env" <<EOF
E2E_SCRIPT=$script
E2E_SRCDIR=$E2E_SRCDIR
E2E_PORTAL=10.0.2.2:$port
E2E_DRIVES=${E2E_DRIVES:-4}
E2E_SLOTS=${E2E_SLOTS:-40}
E2E_IE=${E2E_IE:-4}
E2E_TAPES="$tapes"
E2E_SELFTEST=$selftest
E2E_BUDGET=$budget
E2E_BTAPE_BLOCK=${E2E_BTAPE_BLOCK:-16384}
E2E_AMT_BYTES=${E2E_AMT_BYTES:-}
E2E_TARGET=$target
E2E_PORTAL_FIXUP=${E2E_PORTAL_FIXUP:-0}
E2E_IMPORT=${E2E_IMPORT:-}
E2E_WORM=${E2E_WORM:-}
E2E_ENC=${E2E_ENC:-}
E2E_CLEAN=${E2E_CLEAN:-}
E2E_KEY1=${E2E_KEY1:-}
E2E_KEY2=${E2E_KEY2:-}
E2E_PARTS="${E2E_PARTS:-}"
E2E_CHAP_PORTAL=${CHAP_PORT:+10.0.2.2:$CHAP_PORT}
E2E_CHAP_IQN=$CHAP_IQN
E2E_CHAP_USER=$CHAP_USER
E2E_CHAP_SECRET=$CHAP_SECRET
E2E_CHAP_MUSER=$CHAP_MUSER
E2E_CHAP_MSECRET=$CHAP_MSECRET
E2E_AWS_PORTAL=${AWS_PORT:+10.0.2.2:$AWS_PORT}
E2E_AWS_IQN=$AWS_IQN
EOF
drv_env >>"$share/env"

say "booting the guest (budget ${budget}s, logs in $logs)"
"$E2E_DIR/run-guest" --timeout "$budget" "$share"
grc=$?
t_guest=$(date +%s)
case $grc in
124) host_fail "the guest finishes within ${budget}s" "$(tail -n 15 "$share/console.log" 2>/dev/null)" \
	"every tool returns; a hang points at a command vtld never completed (see guest.log)" ;;
125) host_fail "the guest boots and runs $(basename "$script")" "$(tail -n 15 "$share/console.log" 2>/dev/null)" ;;
esac

if [ "$selftest" = 0 ]; then
	if kill -0 "$VTLD_PID" 2>/dev/null; then
		host_ok "$target is still running after the guest's tests"
	else
		wait "$VTLD_PID" 2>/dev/null
		host_fail "$target is still running after the guest's tests" "$(tail -n 20 "$tmp/vtld.log")" "no crash"
		VTLD_PID=
	fi
	if [ -s "$share/exported" ] && [ -n "$VTLD_PID" ] && [ "$target" = vtld ]; then
		tx=$(cat "$share/exported")
		list=$("$vtlctl" --socket "$data/vtld.sock" tape list 2>&1)
		echo "$list" >"$share/vtlctl-tape-list.txt"
		if printf '%s\n' "$list" | grep "$tx" | grep -Eqi 'shelf|transit|archiv'; then
			host_ok "the tape exported through the I/E slot ($tx) is on its way to the shelf"
		else
			host_fail "the tape exported through the I/E slot ($tx) is on its way to the shelf" \
				"$list" "vtlctl tape list shows $tx IN_TRANSIT_TO_SHELF, ARCHIVING or ARCHIVED"
		fi
	fi
	if [ -n "${E2E_IMPORT:-}" ] && [ -s "$share/imported" ] && [ -n "$VTLD_PID" ]; then
		list=$("$vtlctl" --socket "$data/vtld.sock" tape show "$E2E_IMPORT" 2>&1)
		echo "$list" >"$share/vtlctl-tape-show-imported.txt"
		if printf '%s\n' "$list" | grep -q 'slot:5'; then
			host_ok "the tape imported from the I/E slot ($E2E_IMPORT) is in slot 5 for vtlctl too"
		else
			host_fail "the tape imported from the I/E slot ($E2E_IMPORT) is in slot 5 for vtlctl too" \
				"$list" "vtlctl tape show: location slot:5"
		fi
	fi
	# The guest loaded the cleaning cartridge once: one use counted.
	if [ -n "${E2E_CLEAN:-}" ] && [ -s "$share/cleaned" ] && [ -n "$VTLD_PID" ]; then
		out=$("$vtlctl" --socket "$data/vtld.sock" tape show "$E2E_CLEAN" 2>&1)
		if printf '%s\n' "$out" | grep -q 'cleaning *1 of 50 used'; then
			host_ok "vtlctl tape show $E2E_CLEAN: the guest's load counted one cleaning (1 of 50 used)"
		else
			host_fail "vtlctl tape show $E2E_CLEAN: one cleaning counted" "$out" "cleaning 1 of 50 used"
		fi
	fi
	# The keys stenc gave the drive are nowhere vtld writes: not in the
	# catalog, the media, the store or the log (docs/scsi.md, "Drive
	# encryption").
	if [ -n "${E2E_KEY1:-}" ] && [ "$target" = vtld ]; then
		where=$(key_files "$E2E_KEY1" "$data" "$tmp/vtld.log"; key_files "$E2E_KEY2" "$data" "$tmp/vtld.log")
		if [ -z "$where" ]; then
			host_ok "no key given to the drive is in the catalog, the media, the store or vtld's log"
		else
			host_fail "no key given to the drive is in the catalog, the media, the store or vtld's log" \
				"$where" "neither the key bytes nor their hex text in any file"
		fi
	fi
	if [ -n "$CHAP_PID" ]; then
		stop_chap_vtld
		if [ "${CHAP_EXIT:-1}" -eq 0 ]; then
			host_ok "the CHAP vtld stops cleanly on SIGTERM (exit 0)"
		else
			host_fail "the CHAP vtld stops cleanly on SIGTERM (exit 0)" "exit $CHAP_EXIT; $(tail -n 10 "$tmp/vtld-chap.log")"
		fi
	fi
	if [ -n "$AWS_PID" ]; then
		stop_aws_vtld
		if [ "${AWS_EXIT:-1}" -eq 0 ]; then
			host_ok "the AWS-Gateway-VTL vtld stops cleanly on SIGTERM (exit 0)"
		else
			host_fail "the AWS-Gateway-VTL vtld stops cleanly on SIGTERM (exit 0)" "exit $AWS_EXIT; $(tail -n 10 "$tmp/vtld-aws.log")"
		fi
	fi
	for name in $DRV_NAMES; do
		pv=DRV_${name}_PID lv=DRV_${name}_LABEL ev=DRV_${name}_EXIT
		[ -n "${!pv:-}" ] || continue
		if kill -0 "${!pv}" 2>/dev/null; then
			stop_side_vtld "DRV_$name"
			if [ "${!ev:-1}" -eq 0 ]; then
				host_ok "the ${!lv} vtld stops cleanly on SIGTERM (exit 0)"
			else
				host_fail "the ${!lv} vtld stops cleanly on SIGTERM (exit 0)" "exit ${!ev}; $(tail -n 10 "$tmp/vtld-$name.log")"
			fi
		else
			wait "${!pv}" 2>/dev/null
			host_fail "the ${!lv} vtld is still running after the guest's tests" "$(tail -n 20 "$tmp/vtld-$name.log")" "no crash"
			printf -v "$pv" '%s' ""
		fi
	done
	if [ -n "$VTLD_PID" ] && [ "$target" = vtld ]; then
		stop_vtld
		if [ "${VTLD_EXIT:-1}" -eq 0 ]; then
			host_ok "vtld stops cleanly on SIGTERM (exit 0)"
		else
			host_fail "vtld stops cleanly on SIGTERM (exit 0)" "exit $VTLD_EXIT; $(tail -n 10 "$tmp/vtld.log")"
		fi
	fi
fi
t_end=$(date +%s)

# One TAP stream: the guest's tests, then the host's, numbered in order.
all=$tmp/all.tap
{
	grep -v '^1\.\.' "$share/tap" 2>/dev/null
	cat "$HOST_TAP"
} | awk '
	/^(ok|not ok)/ {
		n++
		sub(/^ok( [0-9]+)?/, "ok " n) || sub(/^not ok( [0-9]+)?/, "not ok " n)
	}
	{ print }
	END { print "1.." n }' >"$all"
cat "$all"
cp "$all" "$share/all.tap"
say "timings: vtld+tapes $((t_vtld - t0))s, guest $((t_guest - t_vtld))s, total $((t_end - t0))s"
tap_summary "$all"
