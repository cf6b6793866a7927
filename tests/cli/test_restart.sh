#!/bin/bash
# test_restart.sh - a restart of a library of many tapes after a crash, with
# the real vtld and vtlctl: what a start defers (the check of every medium,
# listed and run by a thread after vtld is ready) is still done, and done
# before anything uses a medium; what recovery finds by state (a creation
# that did not finish, a deleted tape's medium) is recovered before vtld is
# ready (docs/design.md, "Start-up at scale").
#
# Run from the build directory (make check does): ./vtld and ./vtlctl.
set -u

BUILD=${BUILD:-$PWD}
VTLD=$BUILD/vtld
VTLCTL=$BUILD/vtlctl
command -v jq >/dev/null || { echo "FAIL: jq not installed: apt-get install jq"; exit 1; }
command -v sqlite3 >/dev/null || { echo "FAIL: sqlite3 not installed: apt-get install sqlite3"; exit 1; }

T=$(mktemp -d /tmp/vtl-restart-XXXXXX)
VTLD_PID=
cleanup() {
	if [ -n "$VTLD_PID" ] && jobs -p | grep -qx "$VTLD_PID"; then
		kill -KILL "$VTLD_PID" 2>/dev/null
		wait "$VTLD_PID" 2>/dev/null
	fi
	rm -rf "$T"
}
trap cleanup EXIT

# ok, bad, checks_end
. "$(dirname "$0")/../checks.sh"

# start_vtld: start the daemon and wait until its log says "ready" and its
# control socket answers.
start_vtld() {
	: >"$T/vtld.log"
	"$VTLD" -c "$T/vtl.conf" --data-dir "$D" --listen 127.0.0.1:0 --foreground 2>>"$T/vtld.log" &
	VTLD_PID=$!
	for _ in $(seq 300); do
		grep -q ' info: ready$' "$T/vtld.log" && "$VTLCTL" autocreate list >/dev/null 2>&1 && return 0
		kill -0 "$VTLD_PID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

run() { # EXPECTED_RC NAME VTLCTL-ARGS...
	local want=$1 name=$2
	shift 2
	OUT=$("$VTLCTL" "$@" 2>"$T/err")
	RC=$?
	if [ "$RC" -eq "$want" ]; then ok "$name (exit $RC)"; else bad "$name: exit $RC, want $want" "$OUT$(cat "$T/err")"; fi
}

# flip_byte FILE OFFSET: damage one byte, as a bad disk would.
flip_byte() {
	local b
	b=$(od -An -tu1 -j"$2" -N1 "$1" | tr -d ' ')
	printf "$(printf '\\%03o' $((b ^ 1)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

N=3000
D=$T/data
export VTL_SOCKET=$D/vtld.sock
printf '[library]\nslots = %s\n' "$N" >"$T/vtl.conf"
start_vtld || { cat "$T/vtld.log"; echo "FAIL - vtld did not start"; exit 1; }
run 0 "tape create --count $N" tape create --prefix R --count "$N"
# Media made by a first load for four of them; R00003L8 stays in drive 2.
for bc in R00001L8 R00002L8 R00004L8; do
	run 0 "first load of $bc" tape move "$bc" --to drive:1
	run 0 "unload $bc" drive unload 1
done
run 0 "R00003L8 into drive 2" tape move R00003L8 --to drive:2

# The crash, and what it and the disk left behind.
{
	kill -KILL "$VTLD_PID"
	wait "$VTLD_PID"
} 2>/dev/null
part1=$D/tapes/R00001L8/seg-0000000000000007.part
part4=$D/tapes/R00004L8/seg-0000000000000007.part
echo "half a download" >"$part1"
echo "half a download" >"$part4"
flip_byte "$D/tapes/R00002L8/MANIFEST" 20
flip_byte "$D/tapes/R00003L8/MANIFEST" 20
# A creation that did not finish, and a deletion whose medium was not yet
# removed (what recovery finds by state).
sqlite3 "$D/catalog.db" "UPDATE tapes SET state = 'CREATING' WHERE barcode = 'R01000L8'" ||
	bad "torn creation"
mkdir -p "$D/tapes/R01001L8" && echo data >"$D/tapes/R01001L8/seg-0000000000000001.dat"
sqlite3 "$D/catalog.db" "UPDATE tapes SET state = 'DELETED', element = NULL WHERE barcode = 'R01001L8'" ||
	bad "torn deletion"

start_vtld || { cat "$T/vtld.log"; bad "vtld after the crash"; exit 1; }
# Before vtld said "ready": recovery by state, and the tape in a drive
# checked (its damaged manifest rebuilt) and loaded again.
run 0 "the torn creation" tape show --json R01000L8
[ "$(jq -r .state <<<"$OUT")" = AVAILABLE ] && ok "a creation cut by the crash finished at start" ||
	bad "torn creation after restart" "$OUT"
[ ! -e "$D/tapes/R01001L8" ] && ok "a deleted tape's medium removed at start" || bad "deleted medium kept"
[ -f "$D/tapes/R00003L8/MANIFEST.damaged" ] &&
	ok "the tape in a drive had its damaged manifest rebuilt before it loaded" || bad "drive tape not checked"
run 0 "library show" --json library show
[ "$(jq -r '.drives[1].barcode + " " + .drives[1].status' <<<"$OUT")" = "R00003L8 loaded" ] &&
	ok "R00003L8 loaded in drive 2 again" || bad "drive 2 after restart" "$(jq -c .drives <<<"$OUT")"
[ "$(jq '[.slots[] | select(.barcode != null)] | length' <<<"$OUT")" = $((N - 2)) ] &&
	ok "every other tape in its slot" || bad "slots after restart" "$(jq '.slots | length' <<<"$OUT")"

# A load right after the start, whether or not the check of the media
# has come to the tape: its partial download is gone before a read can
# start one, and the check leaves the loaded tape alone.
run 0 "load R00004L8 right after the start" tape move R00004L8 --to drive:1
[ ! -e "$part4" ] && ok "its partial download removed by the load" || bad "partial download kept at load"
# The rest of the check, after start: wait for what it does (the
# uploader runs no round before it is over).
for _ in $(seq 300); do
	[ -f "$D/tapes/R00002L8/MANIFEST.damaged" ] && [ ! -e "$part1" ] && break
	sleep 0.1
done
[ -f "$D/tapes/R00002L8/MANIFEST.damaged" ] && ok "the check after start rebuilt a damaged manifest in a slot" ||
	bad "R00002L8 not repaired" "$(cat "$T/vtld.log")"
[ ! -e "$part1" ] && ok "the check after start removed a partial download" || bad "partial download kept"
run 0 "R00004L8 still loaded" --json library show
[ "$(jq -r '.drives[0].barcode + " " + .drives[0].status' <<<"$OUT")" = "R00004L8 loaded" ] &&
	ok "the loaded tape was left alone" || bad "drive 1" "$(jq -c .drives <<<"$OUT")"
[ -f "$D/tapes/R00004L8/MANIFEST" ] && ok "its medium whole" || bad "R00004L8's manifest"
run 0 "the repaired tape loads" tape move R00002L8 --to drive:3
run 0 "its state" tape show --json R00002L8
[ "$(jq -r .state <<<"$OUT")" = AVAILABLE ] && ok "R00002L8 AVAILABLE" || bad "R00002L8 state" "$OUT"
kill -TERM "$VTLD_PID"
wait "$VTLD_PID"
[ $? = 0 ] && ok "vtld stops" || bad "vtld exit status"

# A stop puts the library record as the catalog has it; the uploader's
# first round after the next start (it waits for the check of the media)
# finds the store's record the same, byte for byte: not put again (a put
# renames a new file in place).
rec=$D/store/objects/library@d/record.json
[ -f "$rec" ] && ok "the library record is in the store" || bad "no library record at $rec"
rec_was=$(stat -c '%i %Y' "$rec")
start_vtld || { cat "$T/vtld.log"; bad "vtld after a clean stop"; exit 1; }
for _ in $(seq 300); do
	[ "$("$VTLCTL" --json status | jq '.rounds.full')" -ge 1 ] 2>/dev/null && break
	sleep 0.1
done
run 0 "status" --json status
[ "$(jq '.rounds.full' <<<"$OUT")" -ge 1 ] && ok "the uploader ran its first full round" ||
	bad "no full round" "$OUT"
[ "$(stat -c '%i %Y' "$rec")" = "$rec_was" ] && ok "the same library record is not put again at a restart" ||
	bad "the library record was rewritten" "$(stat "$rec")"
kill -TERM "$VTLD_PID"
wait "$VTLD_PID"
VTLD_PID=

checks_end
