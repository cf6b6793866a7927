# lib.sh - host-side helpers shared by the end-to-end scripts (tests/e2e).
#
# Sourced, never run. Sets E2E_SRCDIR (the source tree), E2E_CACHE (kernel,
# modules and initramfs, reused across runs) and E2E_BUILDDIR (where vtld and
# vtlctl were built), and gives the drivers their common vocabulary: say/die,
# the dependency check, a free loopback port, and starting/stopping vtld.
#
# Every path the guest uses is an absolute host path: the guest sees the
# host's root file system read-only over virtio-9p, at the same paths.

E2E_SRCDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
E2E_DIR=$E2E_SRCDIR/tests/e2e
: "${E2E_BUILDDIR:=$PWD}"
E2E_BUILDDIR=$(cd "$E2E_BUILDDIR" && pwd)
: "${E2E_CACHE:=$E2E_SRCDIR/build/e2e-cache}"

# Exit code automake's test driver reads as SKIP.
E2E_SKIP=77

say() { printf 'e2e: %s\n' "$*" >&2; }
die() { printf 'e2e: %s\n' "$*" >&2; exit 1; }

# skip_or_die MESSAGE: a missing prerequisite skips the test, unless
# E2E_STRICT=1 (CI), where it fails.
skip_or_die() {
	if [ "${E2E_STRICT:-0}" = 1 ]; then
		die "$1"
	fi
	say "SKIP: $1"
	exit "$E2E_SKIP"
}

# The host commands the harness itself runs (the guest runs the rest, from
# the same host root). Debian package names are in scripts/packages-e2e.txt.
e2e_check_host_deps() {
	local missing="" c
	for c in qemu-system-x86_64 busybox cpio depmod modprobe iscsiadm iscsid \
		mt mtx sg_inq lsscsi btape timeout setsid; do
		command -v "$c" >/dev/null 2>&1 || missing="$missing $c"
	done
	[ -x /bin/busybox ] && file_is_static /bin/busybox || missing="$missing busybox-static"
	if [ -n "$missing" ]; then
		skip_or_die "missing host tools:$missing (run: scripts/install-deps.sh e2e)"
	fi
}

file_is_static() {
	# The initramfs has no C library: busybox must be the static build.
	! ldd "$1" >/dev/null 2>&1
}

# free_port: print a TCP port nothing listens on at 127.0.0.1. The caller
# still has to cope with losing a race for it (start_vtld retries).
free_port() {
	local p used
	used=$(ss -Hltn 2>/dev/null | awk '{print $4}' | sed 's/.*://' | sort -u)
	for _ in $(seq 1 50); do
		p=$((20000 + RANDOM % 40000))
		if ! printf '%s\n' "$used" | grep -qx "$p"; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# port_open PORT: true when something accepts TCP on 127.0.0.1:PORT.
port_open() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# find_prog NAME: the vtld/vtlctl binary to test. $VTLD / $VTLCTL win, then
# the build directory, then the source directory (an in-tree build).
find_prog() {
	local name=$1 var
	var=$(echo "$name" | tr '[:lower:]' '[:upper:]')
	if [ -n "${!var:-}" ]; then
		echo "${!var}"
		return 0
	fi
	for d in "$E2E_BUILDDIR" "$E2E_BUILDDIR/vtl" "$E2E_SRCDIR" "$E2E_SRCDIR/vtl"; do
		if [ -x "$d/$name" ]; then
			echo "$d/$name"
			return 0
		fi
	done
	return 1
}

# start_vtld DATADIR LOGFILE: start vtld on a free 127.0.0.1 port, in its own
# process group, and wait until it accepts connections. Sets VTLD_PID and
# VTLD_PORT. Returns non-zero (after printing the log) when it never comes up.
start_vtld() {
	local datadir=$1 log=$2 vtld try i
	vtld=$(find_prog vtld) || return 2
	for try in 1 2 3; do
		VTLD_PORT=$(free_port) || return 1
		say "starting $vtld --data-dir $datadir --listen 127.0.0.1:$VTLD_PORT --foreground"
		setsid "$vtld" --data-dir "$datadir" --listen "127.0.0.1:$VTLD_PORT" \
			--foreground ${E2E_VTLD_ARGS:-} >>"$log" 2>&1 </dev/null &
		VTLD_PID=$!
		for i in $(seq 1 100); do
			if ! kill -0 "$VTLD_PID" 2>/dev/null; then
				break
			fi
			if port_open "$VTLD_PORT" && [ -S "$datadir/vtld.sock" ]; then
				return 0
			fi
			sleep 0.1
		done
		if kill -0 "$VTLD_PID" 2>/dev/null; then
			say "vtld (pid $VTLD_PID) did not accept on 127.0.0.1:$VTLD_PORT or create $datadir/vtld.sock within 10 s"
			stop_vtld
			break
		fi
		wait "$VTLD_PID" 2>/dev/null
		say "vtld exited at start (exit $?), try $try"
		VTLD_PID=
	done
	say "vtld log ($log):"
	sed 's/^/  vtld| /' "$log" >&2
	return 1
}

# stop_vtld: SIGTERM, then SIGKILL after 10 s; only the process we started.
stop_vtld() {
	[ -n "${VTLD_PID:-}" ] || return 0
	if kill -0 "$VTLD_PID" 2>/dev/null; then
		kill -TERM "$VTLD_PID" 2>/dev/null
		for _ in $(seq 1 100); do
			kill -0 "$VTLD_PID" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$VTLD_PID" 2>/dev/null; then
			say "vtld (pid $VTLD_PID) ignored SIGTERM for 10 s; SIGKILL"
			kill -KILL "$VTLD_PID" 2>/dev/null
		fi
	fi
	wait "$VTLD_PID" 2>/dev/null
	VTLD_EXIT=$?
	VTLD_PID=
}

# tap_summary FILE: print the TAP stream, count it, print the plain
# "N passed, N failed" line, and return non-zero on any failure.
tap_summary() {
	local tap=$1 pass fail skip
	pass=$(grep -c '^ok ' "$tap" || true)
	fail=$(grep -c '^not ok ' "$tap" || true)
	skip=$(grep -c '^ok .*# *SKIP' "$tap" || true)
	pass=$((pass - skip))
	echo "e2e: ${pass} passed, ${fail} failed, ${skip} skipped"
	[ "$fail" -eq 0 ]
}
