#!/bin/bash
# run-bench.sh - the library through Linux LIO (tcm_loop + TCMU, and LIO's
# iSCSI target + TCMU) against vtld's built-in iSCSI target: the same tape
# workload through the Linux st driver on each path, in one QEMU guest run
# (the guest of tests/e2e, booted with its run-guest; bench/tcmu/guest-bench.sh
# does the work in it). Prints MB/s per path and record size and the ratios
# of the two TCMU paths to the built-in target (docs/benchmarks.md).
#
# Usage: bench/tcmu/run-bench.sh [--keep]     (from the build directory;
#        `make bench` runs it as bench/bench_tcmu)
# Environment: VTLD, VTLCTL (default: found in the current directory),
#   E2E_CACHE (the guest kernel, shared with tests/e2e), E2E_SMP (vCPUs,
#   default 1), BENCH_TCMU_MIB (MiB per pass, default 32), BENCH_TCMU_ROUNDS
#   (default 3), BENCH_TCMU_SIZES (record sizes in KiB, default "256 64"),
#   BENCH_TCMU_LIO_PARAMS (vtld: LIO's iSCSI target offers the segment and
#   burst sizes and R2T policy vtld offers, the default; lio: LIO's own),
#   BENCH_TCMU_BUDGET (guest time limit in seconds, default 1500),
#   BENCH_TCMU_LOGS (default: <cache>/../e2e-logs/bench-tcmu),
#   BENCH_STRICT=1 (a missing prerequisite fails instead of skipping).
# Exit: 0 done or skipped (a missing QEMU or guest tool prints one
# "skipped" line, so `make bench` goes on); 1 when the run failed.
set -uo pipefail
. "$(dirname "$0")/../../tests/e2e/lib.sh"

keep=0
for a in "$@"; do
	case $a in
	--keep) keep=1 ;;
	*) die "usage: bench/tcmu/run-bench.sh [--keep]" ;;
	esac
done
skipped() {
	if [ "${BENCH_STRICT:-0}" = 1 ]; then
		echo "bench/tcmu: FAILED (BENCH_STRICT=1): $1"
		exit 1
	fi
	echo "bench/tcmu: skipped: $1"
	exit 0
}

# What the guest needs from the host root (tests/tcmu/run.sh and
# tests/e2e/build-guest check the same).
missing=""
for c in qemu-system-x86_64 busybox cpio depmod lsscsi mt mtx iscsiadm iscsid timeout setsid; do
	command -v "$c" >/dev/null 2>&1 || missing="$missing $c"
done
[ -x /bin/busybox ] && file_is_static /bin/busybox || missing="$missing busybox-static"
[ -z "$missing" ] || skipped "missing$missing; install with scripts/install-deps.sh e2e"
vtld=$(find_prog vtld) || skipped "no vtld binary (run from the build directory or set VTLD)"
vtlctl=$(find_prog vtlctl) || skipped "no vtlctl binary (run from the build directory or set VTLCTL)"
"$E2E_DIR/build-guest" >/dev/null || die "build-guest failed (the guest kernel is fetched once with apt-get download)"
kver=$(cat "$E2E_CACHE/kernel/VERSION")
[ -f "$E2E_CACHE/kernel/lib/modules/$kver/kernel/drivers/target/target_core_user.ko" ] ||
	skipped "the guest kernel $kver has no target_core_user module"

mib=${BENCH_TCMU_MIB:-32}
rounds=${BENCH_TCMU_ROUNDS:-3}
sizes=${BENCH_TCMU_SIZES:-256 64}
params=${BENCH_TCMU_LIO_PARAMS:-vtld}
smp=${E2E_SMP:-1}
budget=${BENCH_TCMU_BUDGET:-1500}
logs=${BENCH_TCMU_LOGS:-$(dirname "$E2E_CACHE")/e2e-logs/bench-tcmu}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vtl-bench-tcmu.XXXXXX")
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
E2E_SCRIPT=$E2E_SRCDIR/bench/tcmu/guest-bench.sh
E2E_SRCDIR=$E2E_SRCDIR
VTLD=$vtld
VTLCTL=$vtlctl
CONTRIB=$E2E_SRCDIR/contrib/tcmu/vtl-lio.sh
BENCH_MIB=$mib
BENCH_ROUNDS=$rounds
BENCH_SIZES="$sizes"
BENCH_LIO_PARAMS=$params
ENV
echo "tcm_loop + TCMU and LIO iSCSI + TCMU against vtld's built-in iSCSI target, st in a QEMU guest"
echo "guest: TCG (no KVM), $smp vCPU, kernel $kver; $(nproc) host CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
say "booting the guest (budget ${budget}s; logs in $logs)"
# The guest's clock runs on while the host gives QEMU no CPU, and on this
# shared host that swings the figures by 2-3x from one minute to the next.
# So the guest also reads, around every pass, QEMU's CPU time and the host
# clock from $share/qemu-cpu, which this loop rewrites every 0.1 s in place
# (fixed width, so a reader never sees it empty): "<clock ticks> <us>".
sample_qemu() {
	local qemu='' p st
	for _ in $(seq 1 300); do
		for p in $(pgrep -f "id=e2eout,path=$share,"); do
			[ "$(cat "/proc/$p/comm" 2>/dev/null)" = qemu-system-x86 ] && qemu=$p
		done
		[ -n "$qemu" ] && break
		sleep 0.1
	done
	[ -n "$qemu" ] || { say "QEMU's process not found: no host CPU figures"; return; }
	while read -r -a st 2>/dev/null <"/proc/$qemu/stat"; do
		printf '%20d %20d\n' "$((st[13] + st[14]))" "${EPOCHREALTIME/./}" 1<>"$share/qemu-cpu"
		sleep 0.1
	done
}
sample_qemu &
sampler=$!
E2E_SMP=$smp "$E2E_DIR/run-guest" --timeout "$budget" "$share"
rc=$?
kill "$sampler" 2>/dev/null
grep '^not ok\|^#\|^Bail' "$share/tap" 2>/dev/null
res=$share/results.tsv
want=$(($(wc -w <<<"$sizes") * 2 * 3 * rounds))
have=0
[ -f "$res" ] && have=$(grep -c . "$res")
if [ "$rc" -ne 0 ] || [ "$have" -ne "$want" ]; then
	echo "bench/tcmu: FAILED: guest exit $rc, $have of $want passes measured (see $logs/guest.log, console.log)"
	exit 1
fi

# Negotiated iSCSI parameters of the two iSCSI paths.
awk '/^Target:/ { t = $2 }
	/MaxRecvDataSegmentLength|MaxXmitDataSegmentLength|FirstBurstLength|MaxBurstLength|ImmediateData|InitialR2T:/ {
		p[t] = p[t] " " $1 $2 }
	END { for (t in p) printf "iSCSI %s:%s\n", t, p[t] }' "$share/sessions.txt" | sort

# The report: per round, then medians and ratios on the guest clock and per
# host CPU second, a per-record cost split, and where the guest's CPU went.
awk -F'\t' -v mib="$mib" -v rounds="$rounds" -v sizes="$sizes" -v hz="$(getconf CLK_TCK)" \
	-v secs="$(cat "$share/guest-seconds")" '
function median(a, key, n, i, j, t, v) {
	n = cnt[key]
	for (i = 1; i <= n; i++) v[i] = a[key, i]
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
	return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
function table(a, title, s, o, p, m) {
	printf "%s\n", title
	printf "  %-11s %15s %15s %15s   ratio to built-in\n", "medians", name["loop"], name["lio"], name["builtin"]
	printf "  %-11s %15s %15s %15s   %9s %9s\n", "", "MB/s  ms/rec", "MB/s  ms/rec", "MB/s  ms/rec", "tcm_loop", "LIO-iSCSI"
	for (s = 1; s <= ns; s++) for (o = 1; o <= no; o++) {
		printf "  %4sK %-5s ", S[s], O[o]
		for (p = 1; p <= np; p++) {
			m[P[p]] = median(a, P[p] SUBSEP S[s] SUBSEP O[o])
			ms[P[p], s, o] = S[s] * 1024 / (m[P[p]] * 1e6) * 1000
			printf " %7.2f %7.1f", m[P[p]], ms[P[p], s, o]
		}
		printf "   %9.2f %9.2f\n", m["loop"] / m["builtin"], m["lio"] / m["builtin"]
	}
}
BEGIN {
	np = split("loop lio builtin", P, " ")
	name["loop"] = "tcm_loop+TCMU"; name["lio"] = "LIO-iSCSI+TCMU"; name["builtin"] = "built-in"
	ns = split(sizes, S, " ")
	no = split("write read", O, " ")
}
{
	key = $2 SUBSEP $3 SUBSEP $4
	n = ++cnt[key]
	mbs[key, n] = $5 / $6 / 1e6
	per[$1, key] = mbs[key, n]
	# The share of a host CPU that QEMU had during the pass: on a host that
	# gave it a whole CPU the pass would have taken $6 * share seconds.
	share = $13 > 0 ? ($12 / hz) / ($13 / 1e6) : 0
	if (share > 0) { cpu_mbs[key, n] = $5 / ($6 * share) / 1e6; have_share = 1 }
	shares[$1] += share; passes[$1]++
	if (!(($1, $2) in seen)) { seen[$1, $2] = 1; order[$1] = order[$1] (order[$1] == "" ? "" : ", ") name[$2] }
	for (k = 7; k <= 11; k++) cpu[$2, k] += $k
}
END {
	printf "%d MiB per pass of incompressible data, compression off, variable records; %d rounds; guest %d s\n", mib, rounds, secs
	printf "MB/s = 10^6 bytes/s over dd'"'"'s own time on the guest clock; per round: %s, %s, %s\n", name["loop"], name["lio"], name["builtin"]
	for (r = 1; r <= rounds; r++) {
		printf "  round %d (order %s; QEMU had %.0f%% of a host CPU):\n   ", r, order[r], 100 * shares[r] / passes[r]
		for (s = 1; s <= ns; s++) for (o = 1; o <= no; o++) {
			printf "%s %sK %s", (s == 1 && o == 1 ? "" : " |"), S[s], O[o]
			for (p = 1; p <= np; p++) printf " %.2f", per[r, P[p] SUBSEP S[s] SUBSEP O[o]]
		}
		printf "\n"
	}
	table(mbs, "on the guest clock:")
	if (have_share) table(cpu_mbs, "per second of host CPU given to QEMU (the guest clock times QEMU'"'"'s CPU share in the pass):")
	if (ns >= 2) {
		# Two record sizes split the time of one record into a fixed cost
		# per command and a cost per byte: t = a + b * size.
		printf "per record = fixed ms + ms per MiB (%sK and %sK medians of the last table):\n", S[1], S[2]
		for (o = 1; o <= no; o++) {
			printf "  %-5s", O[o]
			for (p = 1; p <= np; p++) {
				b = (ms[P[p], 1, o] - ms[P[p], 2, o]) / ((S[1] - S[2]) / 1024)
				a = ms[P[p], 2, o] - b * S[2] / 1024
				printf "  %s %.1f + %.0f/MiB", name[P[p]], a, b
			}
			printf "\n"
		}
	}
	printf "guest CPU over all passes (user / system / irq+softirq / idle; vtld'"'"'s share of the busy time):\n"
	for (p = 1; p <= np; p++) {
		t = cpu[P[p], 7] + cpu[P[p], 8] + cpu[P[p], 9] + cpu[P[p], 10]
		busy = t - cpu[P[p], 10]
		printf "  %-15s %3.0f%% / %3.0f%% / %3.0f%% / %3.0f%%; vtld %3.0f%%\n", name[P[p]],
			100 * cpu[P[p], 7] / t, 100 * cpu[P[p], 8] / t, 100 * cpu[P[p], 9] / t, 100 * cpu[P[p], 10] / t,
			busy ? 100 * cpu[P[p], 11] / busy : 0
	}
}' "$res"
