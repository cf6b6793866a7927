#!/bin/sh
# Quick start, step 2 of 2: install what is missing and run every test:
# the unit and integration suites (make check), the same suites built with
# AddressSanitizer and UndefinedBehaviorSanitizer, a short run of every
# fuzz target, and the end-to-end tier that boots a Linux guest whose
# kernel initiator uses the library.
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
sets="build test"
[ -f "$src/scripts/packages-e2e.txt" ] && sets="$sets e2e"
# shellcheck disable=SC2086
"$src/scripts/install-deps.sh" $sets

"$src/autogen.sh" >/dev/null 2>&1
status=0
passed=0
failed=0

# Criterion prints "Synthesis: Tested: T | Passing: P | Failing: F | Crashing: C"
# into each suite's log; add them up for one closing line.
tally() {
	for log in "$1"/tests/*/*.log; do
		[ -f "$log" ] || continue
		line=$(grep -a 'Synthesis:' "$log" | tail -1) || continue
		p=$(echo "$line" | sed -n 's/.*Passing: \([0-9]*\).*/\1/p')
		f=$(echo "$line" | sed -n 's/.*Failing: \([0-9]*\).*/\1/p')
		c=$(echo "$line" | sed -n 's/.*Crashing: \([0-9]*\).*/\1/p')
		passed=$((passed + ${p:-0}))
		failed=$((failed + ${f:-0} + ${c:-0}))
	done
}

suite() { # name builddir configure-flags...
	name=$1 dir=$2
	shift 2
	echo "== $name: build in $dir"
	rm -rf "$dir"
	"$src/scripts/build.sh" "$dir" "$@"
	echo "== $name: make check"
	if ! make -C "$dir" -j"$(nproc)" check >"$dir/check.out" 2>&1; then
		status=1
		grep -a -E '^(FAIL|ERROR):' "$dir/check.out" || true
		for log in "$dir"/tests/*/*.log; do
			grep -a -q -E 'Failing: [1-9]|Crashing: [1-9]|^FAIL|ERROR' "$log" 2>/dev/null && tail -40 "$log"
		done
	fi
	grep -a -E '^# (TOTAL|PASS|FAIL|ERROR):' "$dir/check.out" || true
	tally "$dir"
	# The benchmarks are not run here (make bench measures), only built.
	if ! make -C "$dir" -j"$(nproc)" bench-build >"$dir/bench-build.out" 2>&1; then
		status=1
		echo "$name: the benchmark programs do not build"
		tail -20 "$dir/bench-build.out"
	fi
}

suite "unit and integration" "$src/build-check"
suite "sanitizers (ASan+UBSan)" "$src/build-asan" --enable-sanitizers

# Fuzzing (docs/security.md): every committed corpus file replayed, then
# each libFuzzer target run a few seconds, all under ASan and UBSan.
# scripts/fuzz.sh prints "fuzz: N passed, N failed" last; a crash, a
# sanitizer report, a leak or a timeout is a failure.
echo "== fuzzing (libFuzzer, ASan+UBSan, ${FUZZ_TIME:-5} s per target)"
rm -rf "$src/build-fuzz"
mkdir -p "$src/build-fuzz"
out="$src/build-fuzz/check.out"
if ! FUZZ_BUILD="$src/build-fuzz" FUZZ_TIME="${FUZZ_TIME:-5}" "$src/scripts/fuzz.sh" check >"$out" 2>&1; then
	status=1
fi
tail -40 "$out"
p=$(sed -n 's/^fuzz: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$out" | tail -1)
f=$(sed -n 's/^fuzz: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$out" | tail -1)
[ -n "$p" ] || { echo "fuzz: no result line"; status=1; }
passed=$((passed + ${p:-0}))
failed=$((failed + ${f:-0}))

# The guest tiers print "<tier>: N passed, N failed[, N skipped]" last. In
# CI (E2E_STRICT=1) a missing tool is a failure, never a skip.
guest_tier() { # title tag script
	title=$1 tag=$2 script=$3
	[ -x "$script" ] || return 0
	echo "== $title"
	out="$src/build-check/$tag.out"
	if (cd "$src/build-check" && E2E_STRICT=1 VTLD="$src/build-check/vtld" \
		VTLCTL="$src/build-check/vtlctl" "$script") >"$out" 2>&1; then
		:
	else
		status=1
	fi
	tail -40 "$out"
	p=$(sed -n "s/^$tag: \([0-9]*\) passed, \([0-9]*\) failed.*/\1/p" "$out" | tail -1)
	f=$(sed -n "s/^$tag: \([0-9]*\) passed, \([0-9]*\) failed.*/\2/p" "$out" | tail -1)
	[ -n "$p" ] || { echo "$tag: no result line"; status=1; }
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
}

guest_tier "end-to-end (QEMU guest, Linux initiator, st/ch, mt, mtx, tar, btape)" e2e \
	"$src/tests/e2e/run-fast.sh"
guest_tier "TCMU frontend (QEMU guest, LIO tcm_loop and iSCSI fabrics)" tcmu \
	"$src/tests/tcmu/run.sh"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] || status=1
exit $status
