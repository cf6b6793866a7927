# checks.sh - what the shell suites (tests/cli/*.sh, tests/bench/*.sh)
# share, sourced by each: the counters, ok and bad, and the closing lines.
# shellcheck shell=bash

pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
# bad DESCRIPTION [DETAIL]: DETAIL indented under it. Returns 0, so that
# "cond && bad ... || ok ..." never says both.
bad() {
	fail=$((fail + 1))
	echo "FAIL - $1"
	[ -z "${2:-}" ] || echo "$2" | sed 's/^/    /'
}

# The counts, and the same closing line as Criterion so that
# scripts/test.sh counts these suites too; its status is the suite's.
checks_end() {
	echo "# $pass passed, $fail failed"
	echo "[====] Synthesis: Tested: $((pass + fail)) | Passing: $pass | Failing: $fail | Crashing: 0"
	[ "$fail" = 0 ]
}
