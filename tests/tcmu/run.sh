#!/bin/bash
# run.sh - the TCMU frontend end to end: boot the QEMU guest of tests/e2e
# (its build-guest and run-guest, used as they are), and in it start vtld
# with [tcmu] enable = yes, export the library through LIO's tcm_loop and
# iSCSI fabrics with contrib/tcmu/vtl-lio.sh and run lsscsi, mtx, mt and tar
# against /dev/sch* and /dev/nst* (tests/tcmu/guest.sh).
#
# Usage: tests/tcmu/run.sh [--spike] [--keep]     (from the build directory)
#   --spike  also record what the kernel answers itself in spike.log
#   --keep   keep the temporary share directory
# Environment: VTLD, VTLCTL (default: found in E2E_BUILDDIR, the current
#   directory), E2E_CACHE, TCMU_BUDGET (hard limit in seconds, default 360),
#   TCMU_LOGS (default: <cache>/../e2e-logs/tcmu), E2E_STRICT=1 (a missing
#   prerequisite fails instead of skipping), TCMU_BTAPE=1 (also run Bacula's
#   btape test through tcm_loop: minutes more under TCG; budget 900 s).
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
# btape (TCMU_BTAPE=1) needs several more minutes of guest time under TCG.
budget=${TCMU_BUDGET:-$([ "${TCMU_BTAPE:-0}" = 1 ] && echo 900 || echo 360)}
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
VTLD=$vtld
VTLCTL=$vtlctl
CONTRIB=$E2E_SRCDIR/contrib/tcmu/vtl-lio.sh
TCMU_DRIVES=2
TCMU_SPIKE=$spike
TCMU_ISCSI=${TCMU_ISCSI:-1}
TCMU_BTAPE=${TCMU_BTAPE:-0}
ENV
say "booting the guest (budget ${budget}s; logs in $logs)"
E2E_SMP=${E2E_SMP:-2} "$E2E_DIR/run-guest" --timeout "$budget" "$share"
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
