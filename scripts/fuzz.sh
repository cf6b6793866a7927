#!/bin/sh
# Build and run the libFuzzer targets of tests/fuzz (docs/security.md).
#
#   scripts/fuzz.sh build            configure build-fuzz with clang and build them
#   scripts/fuzz.sh run [TARGET...]  fuzz each target FUZZ_TIME seconds (default 60)
#   scripts/fuzz.sh replay [TARGET...]  run every committed corpus file once
#   scripts/fuzz.sh check            replay, then fuzz each target FUZZ_TIME
#                                    seconds (default 5): what scripts/test.sh runs
#
# Environment: FUZZ_TIME (seconds per target), FUZZ_BUILD (build directory,
# default ./build-fuzz of the source tree), FUZZ_CC (default clang-14, else
# clang), FUZZ_JOBS (make -j, default nproc), FUZZ_FLAGS (more libFuzzer
# flags, e.g. -jobs=2 -workers=2), FUZZ_TMPDIR (where the targets' scratch
# directories go, default /dev/shm).
#
# A run reads the committed inputs (tests/fuzz/corpus/TARGET, but for the
# slow-* ones, which only the replay runs) and keeps what it adds in
# FUZZ_BUILD/corpus/TARGET, so the tree is never written to. A
# crash, a sanitizer report, a leak or a timeout leaves its input in
# FUZZ_BUILD/findings/TARGET/ and fails the run; docs/security.md says how
# it becomes a regression test. The last line is
# "fuzz: N passed, N failed", one result per target and pass.
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
build=${FUZZ_BUILD:-"$src/build-fuzz"}
jobs=${FUZZ_JOBS:-$(nproc)}
all="iscsi iscsi_text scsi ctl config s3_xml s3_response tape tape_rest"

usage() {
	sed -n '2,22s/^# \{0,1\}//p' "$0"
	exit 2
}

pick_cc() {
	if [ -n "${FUZZ_CC:-}" ]; then
		echo "$FUZZ_CC"
	elif command -v clang-14 >/dev/null 2>&1; then
		echo clang-14
	elif command -v clang >/dev/null 2>&1; then
		echo clang
	fi
}

build() {
	cc=$(pick_cc)
	hint="install the Debian packages clang-14 and libclang-rt-14-dev (scripts/install-deps.sh test)"
	[ -n "$cc" ] || { echo "fuzz: no clang found; $hint" >&2; exit 1; }
	probe=$(mktemp -d)
	printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return (int)(d && n); }\n' \
		>"$probe/p.c"
	if ! "$cc" -fsanitize=fuzzer,address,undefined -o "$probe/p" "$probe/p.c" 2>"$probe/err"; then
		cat "$probe/err" >&2
		rm -rf "$probe"
		echo "fuzz: $cc cannot link libFuzzer; $hint" >&2
		exit 1
	fi
	rm -rf "$probe"
	[ -x "$src/configure" ] || "$src/autogen.sh" >/dev/null
	mkdir -p "$build"
	if [ ! -f "$build/Makefile" ]; then
		echo "== fuzz: configure $build (CC=$cc --enable-fuzzing)"
		(cd "$build" && "$src/configure" CC="$cc" --enable-fuzzing >configure.out 2>&1) || {
			tail -20 "$build/configure.out"
			exit 1
		}
	fi
	echo "== fuzz: build the targets"
	make -C "$build" -j"$jobs" fuzz-programs >"$build/build.out" 2>&1 || {
		tail -40 "$build/build.out"
		exit 1
	}
}

passed=0
failed=0

# One libFuzzer invocation; its log in FUZZ_BUILD/logs. Args: title log flags...
invoke() {
	title=$1 log=$2
	shift 2
	rc=0
	# Each run's scratch directory (fuzz_util.c) under one that is removed
	# here, so that a run that crashed leaves nothing behind on tmpfs.
	scratch=$(mktemp -d "${FUZZ_TMPDIR:-/dev/shm}/vtl-fuzz-run.XXXXXX" 2>/dev/null || mktemp -d)
	FUZZ_SCRATCH=$scratch "$@" >"$log" 2>&1 || rc=$?
	rm -rf "$scratch"
	if [ "$rc" -eq 0 ]; then
		passed=$((passed + 1))
		stats=$(grep -a -E '^#[0-9]+.*(DONE|INITED)' "$log" | tail -1 | sed 's/^#\([0-9]*\).*cov: \([0-9]*\).*exec\/s: \([0-9]*\).*/\1 runs, coverage \2, \3 exec\/s/')
		echo "ok   $title ($stats)"
	else
		failed=$((failed + 1))
		echo "FAIL $title (exit $rc): $log"
		grep -a -E 'ERROR:|SUMMARY:|runtime error|Test unit written|deadly signal|timeout|fuzz harness|^the |no answer' \
			"$log" | head -20
	fi
}

replay() {
	for t in "$@"; do
		seeds="$src/tests/fuzz/corpus/$t"
		[ -d "$seeds" ] || continue
		mkdir -p "$build/findings/$t" "$build/logs"
		invoke "replay $t ($(ls "$seeds" | wc -l) files)" "$build/logs/replay-$t.log" \
			"$build/tests/fuzz/fuzz_$t" -runs=0 -timeout=30 -rss_limit_mb=4096 \
			-artifact_prefix="$build/findings/$t/" "$seeds"
	done
}

run() {
	time=$1
	shift
	for t in "$@"; do
		max_len=8192
		case $t in tape | tape_rest) max_len=1024 ;; esac
		dict=
		[ -f "$src/tests/fuzz/dict/$t.dict" ] && dict="-dict=$src/tests/fuzz/dict/$t.dict"
		mkdir -p "$build/corpus/$t" "$build/findings/$t" "$build/logs"
		# The committed inputs seed the run, except slow-* ones: they
		# are replayed, but mutating an input that takes seconds (16
		# million filemarks) would spend the run on its neighbours.
		rm -rf "$build/seeds/$t"
		mkdir -p "$build/seeds/$t"
		for f in "$src/tests/fuzz/corpus/$t"/*; do
			case ${f##*/} in slow-*) ;; *) cp "$f" "$build/seeds/$t/" ;; esac
		done
		# shellcheck disable=SC2086
		invoke "fuzz $t for ${time}s" "$build/logs/fuzz-$t.log" \
			"$build/tests/fuzz/fuzz_$t" -max_total_time="$time" -timeout=30 \
			-rss_limit_mb=4096 -max_len=$max_len -print_final_stats=1 $dict \
			-artifact_prefix="$build/findings/$t/" ${FUZZ_FLAGS:-} \
			"$build/corpus/$t" "$build/seeds/$t"
	done
}

targets() {
	if [ $# -eq 0 ]; then
		echo "$all"
		return
	fi
	for t in "$@"; do
		case " $all " in
		*" $t "*) ;;
		*)
			echo "fuzz: no target '$t'; targets: $all" >&2
			exit 2
			;;
		esac
	done
	echo "$@"
}

# The sanitizers stop at the first report, with a stack a person can read.
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
build)
	build
	exit 0
	;;
run)
	list=$(targets "$@")
	build
	# shellcheck disable=SC2086
	run "${FUZZ_TIME:-60}" $list
	;;
replay)
	list=$(targets "$@")
	build
	# shellcheck disable=SC2086
	replay $list
	;;
check)
	build
	# shellcheck disable=SC2086
	replay $all
	# shellcheck disable=SC2086
	run "${FUZZ_TIME:-5}" $all
	;;
*)
	usage
	;;
esac
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
