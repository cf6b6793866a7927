#!/bin/bash
# test_bench_iscsi.sh - bench/bench_iscsi, run small, measures each
# workload on a fresh target (docs/benchmarks.md, "Every workload on a
# fresh target"). In the earlier order every stream, the 4 KiB commands and
# the four drives ran on the vtld (or tgtd) of the first stream, holding what
# the workloads before had written: in memory (tmpfs, make bench's default)
# that put the later workloads into memory this VM's host faults in page by
# page, ten times slower, and made the figures say which workload came
# last rather than what the target does. Nothing here is timed: the test
# reads what the program says each target's directory held when each
# workload started, and that every workload ran. vtld only (the real
# ./vtld and ./vtlctl), unpinned, 10 MiB streams and 100 4 KiB commands.
#
# Run from the build directory (make check does).
set -u

BUILD=${BUILD:-$PWD}
T=$(mktemp -d /tmp/vtl-bench-XXXXXX)
trap 'rm -rf "$T"' EXIT

pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
bad() { fail=$((fail + 1)); echo "FAIL - $1"; [ -n "${2:-}" ] && echo "$2" | sed 's/^/    /'; }

# The media in $T (a directory on disk: no "disk" section, which is for
# media in memory); 10 MiB a stream, so a target that still held the
# stream before would hold at least that much.
OUT=$(cd "$BUILD" && BENCH_ONLY=vtld BENCH_PIN=no BENCH_DISK_DIR="$T" \
	VTLD="$BUILD/vtld" VTLCTL="$BUILD/vtlctl" ./bench/bench_iscsi "$T" 0.01 100 2>&1)
rc=$?
[ "$rc" = 0 ] && ok "bench_iscsi ran to the end" || bad "bench_iscsi exited $rc" "$OUT"

for w in "256K write" "1M write" "64K write" "4K write x100" "four drives at once"; do
	grep -qF "  $w" <<<"$OUT" && ok "the $w workload ran" || bad "no $w line" "$OUT"
done

# The CPU of the 256 KiB passes (one drive, four drives, each direction):
# vtld's from /proc, the initiator's from getrusage, both as s/GB; a line
# that says "not measured" means the marks failed (no /proc entry of vtld).
for w in "one drive, write" "four drives, write" "one drive, read" "four drives, read"; do
	L=$(grep -F "    $w " <<<"$OUT")
	grep -qE "vtld [0-9.]+ s/GB \([0-9.]+ CPUs\), initiator [0-9.]+ s/GB" <<<"$L" &&
		ok "the CPU of the $w pass is given" || bad "no CPU figures for the $w pass" "$OUT"
done

HELD=$(grep -F "held by the target's directory when each workload started" <<<"$OUT")
[ -n "$HELD" ] && ok "the program says what each target held" || bad "no held line" "$OUT"
# vtld at its defaults (five workloads) and at tgt's (four: the four
# drives run at the defaults only), every one on a
# target that held its own metadata only (a catalog, a log, four empty
# tapes: well under the 10 MiB of a stream).
N=$(grep -oE '(256K|1M|64K|4K|four drives) [0-9.]+' <<<"$HELD" | wc -l)
[ "$N" = 9 ] && ok "nine workloads reported (four drives at vtld's defaults only)" || bad "$N workloads in the held line" "$HELD"
BIG=$(grep -oE '(256K|1M|64K|4K|four drives) [0-9.]+' <<<"$HELD" | awk '$NF >= 2 {print}')
[ -z "$BIG" ] && ok "each workload started on a fresh target (under 2 MB held)" ||
	bad "a workload started on a target holding an earlier one's data" "$HELD"

# BENCH_FOUR=2: only the one drive against the four, two rounds in
# alternating order, each with its CPU figures, then the medians.
OUT=$(cd "$BUILD" && BENCH_FOUR=2 BENCH_PIN=no VTLD="$BUILD/vtld" VTLCTL="$BUILD/vtlctl" \
	./bench/bench_iscsi "$T" 0.01 2>&1)
rc=$?
[ "$rc" = 0 ] && ok "BENCH_FOUR ran to the end" || bad "BENCH_FOUR: bench_iscsi exited $rc" "$OUT"
grep -qF "round 1 (one first)" <<<"$OUT" && grep -qF "round 2 (four first)" <<<"$OUT" &&
	ok "BENCH_FOUR alternates the order" || bad "BENCH_FOUR: no two rounds in alternating order" "$OUT"
N=$(grep -cE "^    (one drive|four drives), (write|read) +vtld [0-9.]+ s/GB" <<<"$OUT")
[ "$N" = 8 ] && ok "BENCH_FOUR gives the CPU of each pass of each round" ||
	bad "BENCH_FOUR: $N CPU lines, not 8" "$OUT"
N=$(grep -cE "the four drives finished writing [0-9.]+ to [0-9.]+ s .* until the first finished they wrote [0-9]+ MB/s" <<<"$OUT")
[ "$N" = 2 ] && ok "BENCH_FOUR says when the drives finished and their rate while all four ran" ||
	bad "BENCH_FOUR: $N lines on when the drives finished, not 2" "$OUT"
grep -qE "medians of 2 rounds: write one [0-9]+, four [0-9]+ MB/s, ratio" <<<"$OUT" &&
	ok "BENCH_FOUR gives the medians" || bad "BENCH_FOUR: no medians" "$OUT"
grep -qF "256K write" <<<"$OUT" && bad "BENCH_FOUR ran other workloads" "$OUT" ||
	ok "BENCH_FOUR runs nothing else"

echo "# $pass passed, $fail failed"
# The same closing line as Criterion, so scripts/test.sh counts these too.
echo "[====] Synthesis: Tested: $((pass + fail)) | Passing: $pass | Failing: $fail | Crashing: 0"
[ "$fail" = 0 ]
