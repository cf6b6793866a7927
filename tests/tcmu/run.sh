#!/bin/bash
# run.sh - the TCMU frontend end to end: boot the QEMU guest of tests/e2e
# (its build-guest and run-guest, used as they are), and in it start vtld
# with [tcmu] enable = yes, export the library through LIO's tcm_loop and
# iSCSI fabrics with contrib/tcmu/vtl-lio.sh and run lsscsi, mtx, mt, tar
# and Bacula's btape test against /dev/sch* and /dev/nst* on both paths,
# restart vtld, remove a backstore, and check the netlink answers
# (tests/tcmu/guest.sh).
#
# Usage: tests/tcmu/run.sh [--spike] [--keep]     (from the build directory)
#   --spike  also record what the kernel answers itself in spike.log (and
#            log every command vtld serves)
#   --keep   keep the temporary share directory
# Environment: VTLD, VTLCTL (default: found in E2E_BUILDDIR, the current
#   directory), E2E_CACHE, TCMU_BUDGET (hard limit in seconds, default
#   BUDGET_BTAPE, or BUDGET_QUICK with TCMU_BTAPE=0), TCMU_LOGS (default:
#   <cache>/../e2e-logs/tcmu), E2E_STRICT=1 (a missing prerequisite fails
#   instead of skipping), TCMU_BTAPE=0 (leave out the two btape runs, the
#   longest steps: for quick local runs), E2E_BTAPE_BLOCK (btape's Maximum
#   Block Size, default 4096: vtld runs in the guest, where every byte is
#   copied and hashed under emulation), E2E_SMP (guest vCPUs, default 1),
#   TCMU_VTLD_LOG (vtld's --log-level in the guest: info, or debug with
#   --spike: a log line per command costs a 9p write).
# Output: TAP, then "tcmu: N passed, N failed". Exit 0, 1 on failure, 77
# when QEMU or the binaries are missing.
set -uo pipefail
. "$(dirname "$0")/../e2e/lib.sh"

spike=0
keep=0
for a in "$@"; do
	case $a in
	--spike) spike=1 ;;
	--keep) keep=1 ;;
	*) die "usage: tests/tcmu/run.sh [--spike] [--keep]" ;;
	esac
done
btape=${TCMU_BTAPE:-1}
# Guest seconds: the budget kills a run that hangs, with room for a loaded
# host. A run takes 230-310 s with btape, about 105 s without (docs/tcmu.md).
BUDGET_BTAPE=900
BUDGET_QUICK=360
budget=${TCMU_BUDGET:-$([ "$btape" = 1 ] && echo $BUDGET_BTAPE || echo $BUDGET_QUICK)}
logs=${TCMU_LOGS:-$(dirname "$E2E_CACHE")/e2e-logs/tcmu}

for c in qemu-system-x86_64 lsscsi mt mtx sg_inq iscsiadm timeout; do
	command -v "$c" >/dev/null || skip_or_die "missing $c (scripts/install-deps.sh e2e)"
done
vtld=$(find_prog vtld) || skip_or_die "no vtld binary (set VTLD or run from the build directory)"
vtlctl=$(find_prog vtlctl) || skip_or_die "no vtlctl binary"
"$E2E_DIR/build-guest" >/dev/null || die "build-guest failed"
kver=$(cat "$E2E_CACHE/kernel/VERSION")
[ -f "$E2E_CACHE/kernel/lib/modules/$kver/kernel/drivers/target/target_core_user.ko" ] ||
	skip_or_die "the guest kernel $kver has no target_core_user module"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vtl-tcmu.XXXXXX")
share=$tmp/share
mkdir -p "$share"
cleanup() {
	rm -rf "$logs"
	mkdir -p "$logs"
	cp -a "$share/." "$logs/" 2>/dev/null
	if [ "$keep" = 1 ]; then say "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cat >"$share/env" <<ENV
E2E_SCRIPT=$E2E_SRCDIR/tests/tcmu/guest.sh
E2E_SRCDIR=$E2E_SRCDIR
VTLD=$vtld
VTLCTL=$vtlctl
CONTRIB=$E2E_SRCDIR/contrib/tcmu/vtl-lio.sh
TCMU_DRIVES=2
TCMU_SPIKE=$spike
TCMU_BTAPE=$btape
TCMU_BTAPE_TIMEOUT=$((budget * 2 / 5))
E2E_BTAPE_BLOCK=${E2E_BTAPE_BLOCK:-4096}
TCMU_VTLD_LOG=${TCMU_VTLD_LOG:-$([ "$spike" = 1 ] && echo debug || echo info)}
ENV
say "booting the guest (budget ${budget}s; logs in $logs)"
# One vCPU: vtld, LIO and the tools share it, and every command then costs
# a guest context switch instead of a wake-up of the other vCPU's host
# thread (measured: 2.3 ms per TEST UNIT READY instead of 15 ms).
E2E_SMP=${E2E_SMP:-1} "$E2E_DIR/run-guest" --timeout "$budget" "$share"
rc=$?
[ -f "$share/tap" ] && cat "$share/tap"
pass=$(grep -c '^ok ' "$share/tap" 2>/dev/null)
fail=$(grep -c '^not ok ' "$share/tap" 2>/dev/null)
if [ "$rc" -ne 0 ] && [ "${fail:-0}" -eq 0 ]; then
	fail=1
	echo "not ok - the guest did not finish (run-guest exit $rc; see $logs/console.log)"
fi
echo "tcmu: ${pass:-0} passed, ${fail:-0} failed"
[ "${fail:-0}" -eq 0 ] && [ "$rc" -eq 0 ]
