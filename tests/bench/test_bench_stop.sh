#!/bin/bash
# test_bench_stop.sh - the benchmark programs that start vtlds remove their
# temporary directory and stop their vtlds however they are stopped
# (bench/bench_util.h, bench_stop_signals_start): at the end of a run, and
# on SIGINT even when a second signal comes while they are stopping. Their
# cleanup used to run in a signal handler: a second signal while it waited
# for a vtld slow to exit ended the process in the middle of it, the
# directory left behind and that vtld stopped for ever (and bench_inventory
# did not take SIGHUP or SIGQUIT at all). bench/bench_at_rest and
# bench/bench_inventory, run small with the real ./vtld and ./vtlctl;
# nothing here is timed.
#
# Run from the build directory (make check does).
set -u

BUILD=${BUILD:-$PWD}
T=$(mktemp -d /tmp/vtl-bench-stop-XXXXXX)
trap 'rm -rf "$T"' EXIT

# ok, bad, checks_end
. "$(dirname "$0")/../checks.sh"

export VTLD="$BUILD/vtld" VTLCTL="$BUILD/vtlctl"

# ran NAME DIR CMD...: a whole small run ends with status 0 and nothing
# of it left in DIR.
ran() {
	local name=$1 dir=$2
	shift 2
	local out rc left
	out=$(cd "$BUILD" && "$@" 2>&1)
	rc=$?
	[ "$rc" = 0 ] && ok "$name ran to the end" || bad "$name exited $rc" "$out"
	left=$(ls -d "$dir/$name".* 2>/dev/null)
	[ -z "$left" ] && ok "$name removes its temporary directory at the end" ||
		bad "$name left $left at the end" "$out"
}

# stopped NAME DIR SIG1 SIG2 STATUS CMD...: CMD started in the background;
# once its first vtld serves (its control socket is there), that vtld is
# stopped with SIGSTOP, so that it takes its time to exit and the second
# signal surely finds the first one's cleanup waiting for it. Then SIG1 to
# the program and, once the cleanup has sent vtld its SIGTERM (pending, as
# vtld is stopped), SIG2 ("" for none). The program must remove its
# directory, stop its vtld, and die of SIG1 (exit STATUS).
stopped() {
	local name=$1 dir=$2 sig1=$3 sig2=$4 want=$5
	shift 5
	local log="$dir.log" bpid vpid= vdir pend rc left
	mkdir "$dir"
	(cd "$BUILD" && exec "$@" >"$log" 2>&1) &
	bpid=$!
	for _ in $(seq 1200); do
		vpid=$(pgrep -P "$bpid" -x vtld | head -1)
		vdir=$([ -n "$vpid" ] && { tr '\0' '\n' <"/proc/$vpid/cmdline"; } 2>/dev/null |
			grep -A1 -x -- --data-dir | tail -1)
		[ -n "$vdir" ] && [ -S "$vdir/vtld.sock" ] && break
		vpid=
		sleep 0.05
	done
	if [ -z "$vpid" ]; then
		bad "$name started no vtld" "$(cat "$log")"
		kill -KILL "$bpid" 2>/dev/null
		wait "$bpid"
		return
	fi
	kill -STOP "$vpid"
	kill "-$sig1" "$bpid"
	if [ -n "$sig2" ]; then
		for _ in $(seq 600); do
			pend=$(awk '/^ShdPnd:/ {print $2}' "/proc/$vpid/status" 2>/dev/null)
			[ -z "$pend" ] && break
			(((16#$pend >> 14) & 1)) && break # SIGTERM (15) pending
			sleep 0.1
		done
		kill "-$sig2" "$bpid" 2>/dev/null
	fi
	wait "$bpid"
	rc=$?
	local how="SIG$sig1${sig2:+ then SIG$sig2}"
	left=$(ls -d "$dir/$name".* 2>/dev/null)
	[ -z "$left" ] && ok "$name stopped by $how removes its temporary directory" ||
		bad "$name stopped by $how left $left" "$(cat "$log")"
	kill -0 "$vpid" 2>/dev/null && bad "$name stopped by $how left its vtld $vpid" ||
		ok "$name stopped by $how stops its vtld"
	kill -KILL "$vpid" 2>/dev/null
	[ "$rc" = "$want" ] && ok "$name stopped by $how dies of SIG$sig1 (status $want)" ||
		bad "$name stopped by $how exited $rc, not $want" "$(cat "$log")"
}

# bench_at_rest: 16 MiB (its least), one round to the end, its most (15)
# when stopped, so that a vtld serving is surely seen before it is over.
mkdir "$T/at_rest"
ran bench_at_rest "$T/at_rest" ./bench/bench_at_rest "$T/at_rest" 16 1
stopped bench_at_rest "$T/at_rest-int" INT TERM 130 ./bench/bench_at_rest "$T/at_rest-int" 16 15

# bench_inventory: ten slots, no uploader and no space phase; one round
# to the end, and when stopped its most rounds (50: each restarts both
# vtlds), so that a vtld serving is surely seen before it is over. SIGHUP
# alone too, which it used to leave to its default action.
inv="BENCH_UPLOAD_SECS=0 BENCH_SPACE_MIB=0"
mkdir "$T/inventory"
ran bench_inventory "$T/inventory" \
	env $inv BENCH_ROUNDS=1 BENCH_DIR="$T/inventory" ./bench/bench_inventory 10
stopped bench_inventory "$T/inventory-int" INT TERM 130 \
	env $inv BENCH_ROUNDS=50 BENCH_DIR="$T/inventory-int" ./bench/bench_inventory 10
stopped bench_inventory "$T/inventory-hup" HUP "" 129 \
	env $inv BENCH_ROUNDS=50 BENCH_DIR="$T/inventory-hup" ./bench/bench_inventory 10

checks_end
