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

# ok, bad, checks_end
. "$(dirname "$0")/../checks.sh"

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

# The four drives' target is judged on three alternating rounds of their
# own, not on the one pass of the table.
grep -qF "one drive against four drives at once, 256K, vtld at its defaults, unpinned; 3 rounds" <<<"$OUT" &&
	grep -qE "^    four drives: write [0-9.]+x, read [0-9.]+x one drive, medians of 3 alternating rounds \(>= 1.5x\) (met|MISSED)$" <<<"$OUT" &&
	ok "the four drives are judged on the medians of three rounds" ||
	bad "no four-drive verdict on rounds" "$OUT"

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

# BENCH_4K=only with BENCH_ONLY=vtld: the 4 KiB rows of the one run made,
# "-" for the figures not measured; no rows of zeros for the streams and
# the four drives it left out, no verdict ("met" or "MISSED") on figures
# it did not measure.
OUT=$(cd "$BUILD" && BENCH_4K=only BENCH_ONLY=vtld BENCH_PIN=no VTLD="$BUILD/vtld" \
	VTLCTL="$BUILD/vtlctl" ./bench/bench_iscsi "$T" 0.01 100 2>&1)
rc=$?
[ "$rc" = 0 ] && ok "BENCH_4K=only ran to the end" || bad "BENCH_4K=only: bench_iscsi exited $rc" "$OUT"
grep -qE "^  4K write x100 +cmd/s +[0-9]+ +- +- \| +- +- +- \| +[0-9]+ +- +-$" <<<"$OUT" &&
	ok "BENCH_4K=only gives the 4K rows, - where not measured" ||
	bad "BENCH_4K=only: no 4K row with - where not measured" "$OUT"
grep -qE "^  (256K|1M|64K) |four drives at once|one drive, write" <<<"$OUT" &&
	bad "BENCH_4K=only prints workloads it did not run" "$OUT" ||
	ok "BENCH_4K=only prints only what it ran"
grep -qF "defaults  256K not measured; 4K not measured" <<<"$OUT" &&
	grep -qF "at tgt's  256K not measured; 4K not measured" <<<"$OUT" &&
	ok "BENCH_4K=only says not measured" || bad "BENCH_4K=only: no 'not measured'" "$OUT"
grep -qE "met|MISSED" <<<"$OUT" && bad "BENCH_4K=only judges figures it did not measure" "$OUT" ||
	ok "BENCH_4K=only judges nothing it did not measure"

# Both sides, 4 KiB only: the target at each side's defaults is judged on
# three alternating rounds of vtld and tgt of their own, each round
# printed, not on the one pass of the table.
OUT=$(cd "$BUILD" && BENCH_4K=only BENCH_PIN=no VTLD="$BUILD/vtld" VTLCTL="$BUILD/vtlctl" \
	./bench/bench_iscsi "$T" 0.01 100 2>&1)
rc=$?
[ "$rc" = 0 ] && ok "vtld against tgt, 4K only, ran to the end" || bad "4K rounds: bench_iscsi exited $rc" "$OUT"
N=$(grep -cE "^  round [123] \((vtld|tgt) first\): write [0-9]+ / [0-9]+ cmd/s = [0-9.]+x \(p99 [0-9.]+ / [0-9.]+ us\); read" <<<"$OUT")
[ "$N" = 3 ] && grep -qF "round 2 (tgt first)" <<<"$OUT" &&
	ok "three 4K rounds, the order alternating" || bad "$N 4K rounds, not 3 alternating" "$OUT"
grep -qE "^    defaults  256K not measured; 4K write [0-9.]+x >= 2x tgt's cmd/s, p99 [0-9.]+ <= [0-9.]+ us (met|MISSED); 4K read [0-9.]+x >= 2x, p99 [0-9.]+ <= [0-9.]+ us (met|MISSED) \(medians of 3 alternating rounds\)$" <<<"$OUT" &&
	ok "the 4K target at each side's defaults is judged on the rounds" ||
	bad "no 4K verdict on the rounds" "$OUT"

# Stopped by signals, its temporary directory goes and so does its vtld,
# even when a second signal comes while it is stopping: a vtld that takes
# its time to exit (stopped here with SIGSTOP, so that the second signal
# surely finds the first one's cleanup waiting for it) used to let
# SIGTERM's handler end the process in the middle of SIGINT's, the
# directory left in /dev/shm and vtld stopped for ever.
D="$T/interrupted"
mkdir "$D"
(cd "$BUILD" && BENCH_ONLY=vtld BENCH_PIN=no VTLD="$BUILD/vtld" VTLCTL="$BUILD/vtlctl" \
	exec ./bench/bench_iscsi "$D" 0.01 100 >"$T/interrupted.log" 2>&1) &
bpid=$!
vpid=
# Its first vtld, once that serves (its control socket is there).
for _ in $(seq 600); do
	vpid=$(pgrep -P "$bpid" -x vtld | head -1)
	vdir=$([ -n "$vpid" ] && tr '\0' '\n' <"/proc/$vpid/cmdline" 2>/dev/null |
		grep -A1 -x -- --data-dir | tail -1)
	[ -n "$vdir" ] && [ -S "$vdir/vtld.sock" ] && break
	vpid=
	sleep 0.1
done
if [ -z "$vpid" ]; then
	bad "bench_iscsi started no vtld" "$(cat "$T/interrupted.log")"
	kill -KILL "$bpid" 2>/dev/null
else
	kill -STOP "$vpid"
	kill -INT "$bpid"
	# The first signal's cleanup has sent vtld its SIGTERM (pending, as
	# vtld is stopped): now the second signal.
	for _ in $(seq 600); do
		pend=$(awk '/^ShdPnd:/ {print $2}' "/proc/$vpid/status" 2>/dev/null)
		[ -z "$pend" ] && break
		(((16#$pend >> 14) & 1)) && break
		sleep 0.1
	done
	kill -TERM "$bpid" 2>/dev/null
	wait "$bpid"
	rc=$?
	left=$(ls -d "$D"/bench_iscsi.* 2>/dev/null)
	[ -z "$left" ] && ok "interrupted twice, bench_iscsi removes its temporary directory" ||
		bad "interrupted twice, bench_iscsi left $left" "$(cat "$T/interrupted.log")"
	kill -0 "$vpid" 2>/dev/null && bad "interrupted twice, bench_iscsi left its vtld $vpid" ||
		ok "interrupted twice, bench_iscsi stops its vtld"
	kill -KILL "$vpid" 2>/dev/null
	[ "$rc" = 130 ] && ok "bench_iscsi dies of the first signal (status 130)" ||
		bad "bench_iscsi exited $rc after SIGINT" "$(cat "$T/interrupted.log")"
fi

checks_end
