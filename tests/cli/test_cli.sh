#!/bin/bash
# test_cli.sh - the real vtld and vtlctl binaries together: a daemon on a
# temporary data directory, then vtlctl commands checked for their output,
# JSON, exit codes and error messages. Every vtld started here is stopped
# on exit, whatever happens.
#
# Run from the build directory (make check does): ./vtld and ./vtlctl.
set -u

BUILD=${BUILD:-$PWD}
VTLD=$BUILD/vtld
VTLCTL=$BUILD/vtlctl
# jq reads vtlctl's JSON; a missing jq is a failure, not a skip, so the
# suite cannot pass without running (Debian package jq).
command -v jq >/dev/null || { echo "FAIL: jq not installed: apt-get install jq"; exit 1; }

T=$(mktemp -d /tmp/vtl-cli-XXXXXX)
PIDS=()
cleanup() {
	# Only the daemons still running as this shell's jobs: a PID of one
	# that exited earlier may belong to another process by now (PIDs wrap
	# at pid_max, 32768 here), such as another suite's vtld under make -j.
	local running
	running=$(jobs -p)
	for p in "${PIDS[@]}"; do
		grep -qx "$p" <<<"$running" || continue
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	rm -rf "$T"
}
trap cleanup EXIT

# ok, bad, checks_end
. "$(dirname "$0")/../checks.sh"

# start_vtld DIR [ARGS...]: start a daemon in the foreground and wait for
# its control socket.
start_vtld() {
	local d=$1
	shift
	"$VTLD" --data-dir "$d" --listen 127.0.0.1:0 --foreground "$@" 2>>"$T/vtld.log" &
	VTLD_PID=$!
	PIDS+=("$VTLD_PID")
	for _ in $(seq 100); do
		[ -S "$d/vtld.sock" ] && "$VTLCTL" --socket "$d/vtld.sock" library show >/dev/null 2>&1 && return 0
		kill -0 "$VTLD_PID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

stop_vtld() {
	kill -TERM "$VTLD_PID"
	wait "$VTLD_PID"
	STOP_RC=$?
}

# run EXPECTED_RC NAME CMD...: run vtlctl, keep stdout/stderr in OUT/ERR.
run() {
	local want=$1 name=$2
	shift 2
	OUT=$("$VTLCTL" "$@" 2>"$T/err")
	RC=$?
	ERR=$(cat "$T/err")
	if [ "$RC" -eq "$want" ]; then ok "$name (exit $RC)"; else bad "$name: exit $RC, want $want" "$OUT$ERR"; fi
}

expect() { # NAME HAYSTACK NEEDLE
	if grep -qF -- "$3" <<<"$2"; then ok "$1"; else bad "$1: no '$3'" "$2"; fi
}

D=$T/data
start_vtld "$D" || { cat "$T/vtld.log"; echo "FAIL - vtld did not start"; exit 1; }
export VTL_SOCKET=$D/vtld.sock

# --- The default library on a fresh data directory.
[ "$(stat -c %a "$D/vtld.sock")" = 600 ] && ok "control socket is mode 0600" || bad "socket mode"
[ -f "$D/catalog.db" ] && [ -d "$D/tapes" ] && ok "data dir has catalog.db and tapes/" || bad "data dir layout"
run 0 "library show" library show
expect "library show names the changer" "$OUT" "STK L700"
expect "library show names the changer personality" "$OUT" "(STK-L700)"
run 0 "library show --json" library show --json
[ "$(jq '.drives | length' <<<"$OUT")" = 4 ] && ok "4 drives" || bad "drives" "$OUT"
[ "$(jq '.slots | length' <<<"$OUT")" = 40 ] && ok "40 slots" || bad "slots"
[ "$(jq '.ie | length' <<<"$OUT")" = 4 ] && ok "4 I/E" || bad "ie"
[ "$(jq -r '.drives[1].lun' <<<"$OUT")" = 2 ] && ok "drive 2 is LUN 2" || bad "lun"

# --- The live view (vtlctl top, status --watch): each drive, uploads, shelf.
run 0 "top --count 2" top --count 2
[ "$(grep -c '^vtl top ' <<<"$OUT")" = 2 ] && ok "top: two views, a second apart" || bad "top views" "$OUT"
expect "top: drive 4 on LUN 4" "$OUT" "4      4    -          empty"
expect "top: a rate once two answers are in" "$OUT" "0.0        0.0"
expect "top: the shelf line" "$OUT" "SHELF    no tape on its way to or from the shelf"
run 0 "status --watch --count 1" status --watch --count 1
expect "status --watch is top" "$OUT" "DRIVE  LUN  TAPE"
run 2 "top --count 0 refused" top --count 0
expect "top --count explains" "$ERR" "use a number of views, 1 or more"

# --- Creating tapes.
run 0 "tape create" tape create ABC123L8 ABC124L6
expect "create reports the slot" "$OUT" "created tape ABC123L8 (LTO-8, 12.0 TB) in slot:1"
expect "LTO-6 from the barcode suffix" "$OUT" "ABC124L6 (LTO-6"
run 0 "tape create --type --size" tape create --type LTO-7 --size 10G TYPE01
expect "size override" "$OUT" "TYPE01 (LTO-7, 10.0 GB)"
run 0 "tape create --prefix --count" tape create --prefix VTL --count 3
expect "prefix barcodes" "$OUT" "VTL003L8"
run 0 "long barcode accepted" tape create ABCDEFGHIJ12
expect "long barcode warns" "$ERR" "warning: barcode ABCDEFGHIJ12 has 12 characters"

before=$("$VTLCTL" tape list --json)
run 1 "duplicate barcode refused" tape create NEW001L8 ABC123L8
expect "duplicate names the tape" "$ERR" "vtlctl: tape ABC123L8 already exists"
# Regression: an LTO-6 tape into an LTO-8 drive said only "Wrong medium type".
run 1 "LTO-6 tape refused by an LTO-8 drive" tape move ABC124L6 --to drive:1
expect "incompatible media names tape, drive and fix" "$ERR" "tape ABC124L6 is LTO-6 media, which drive 1 (an LTO-8 drive) cannot load; use a tape of the drive's generation or the one before"
run 0 "refused tape is still in its slot" tape show ABC124L6
expect "refused tape stays in slot 2" "$OUT" "slot:2"
run 1 "bad barcode refused" tape create abc12
expect "bad barcode explains" "$ERR" "only A-Z and 0-9"
run 1 "short barcode refused" tape create AB1
expect "short barcode explains" "$ERR" "5 to 16 characters"
run 1 "same barcode twice refused" tape create NEW001L8 NEW001L8
run 1 "bad type refused" tape create --type LTO-3 NEW001L8
expect "bad type explains" "$ERR" "use LTO-5"
# (the upload figures move on their own while the uploader works)
NOUPL='map(del(.uploaded_bytes, .pending_bytes, .pending_uploads, .manifest_generation, .upload_wait, .upload_held_by))'
[ "$(jq -c "$NOUPL" <<<"$before")" = "$("$VTLCTL" tape list --json | jq -c "$NOUPL")" ] && ok "refusals changed nothing" || bad "refusal changed the catalog"

# --- Listing.
run 0 "tape list" tape list
expect "table header" "$OUT" "BARCODE"
expect "table row" "$OUT" "ABC123L8"
run 0 "tape list --json" tape list --json
[ "$(jq -r '.[0] | [.barcode,.state,.location,.type,.capacity_bytes,.used_bytes] | @tsv' <<<"$OUT")" = \
	"$(printf 'ABC123L8\tAVAILABLE\tslot:1\tLTO-8\t12000000000000\t0')" ] && ok "stable JSON fields" || bad "json fields" "$OUT"
run 0 "tape list --state" tape list --state AVAILABLE --json
[ "$(jq length <<<"$OUT")" = 7 ] && ok "7 available" || bad "state filter" "$OUT"
run 1 "unknown state refused" tape list --state BOGUS
run 0 "tape show" tape show ABC123L8
expect "show has capacity" "$OUT" "capacity_bytes   12000000000000"
run 1 "show unknown tape" tape show NOPE12
expect "unknown tape message" "$ERR" "no tape NOPE12"

# --- Moves, drives, refusals that name the fix.
run 0 "move to drive" tape move ABC123L8 --to drive:2
run 0 "library show after load" library show --json
[ "$(jq -r '.drives[1].barcode' <<<"$OUT")" = ABC123L8 ] && ok "drive 2 holds it" || bad "drive 2" "$OUT"
[ "$(jq -r '.drives[1].status' <<<"$OUT")" = loaded ] && ok "drive 2 loaded" || bad "loaded"
run 1 "move out of a loaded drive refused" tape move ABC123L8 --to slot:20
expect "names drive and fix" "$ERR" "vtlctl: tape ABC123L8 is in drive 2; unload it first (vtlctl drive unload 2)"
run 1 "delete of a loaded tape refused" tape delete ABC123L8
expect "delete names the fix" "$ERR" "unload it first (vtlctl drive unload 2)"
run 1 "move to a full slot refused" tape move ABC124L6 --to slot:3
expect "full slot named" "$ERR" "slot 3 holds tape"
run 1 "move to a missing slot refused" tape move ABC124L6 --to slot:41
run 1 "bad destination" tape move ABC124L6 --to shelf:1
run 0 "drive unload" --json drive unload 2
[ "$(jq -c . <<<"$OUT")" = '{"drive":2,"unloaded":true}' ] && ok "drive unload --json answers JSON" || bad "unload json" "$OUT"
run 0 "tape back home" tape show ABC123L8 --json
[ "$(jq -r .location <<<"$OUT")" = slot:1 ] && ok "unload returned it to slot 1" || bad "home" "$OUT"
run 1 "unload an empty drive" drive unload 2
run 0 "slot to slot" tape move ABC123L8 --to slot:40

# --- Export, archive, retrieve.
run 0 "move to ie" tape move VTL001L8 --to ie:1
run 0 "show exported" tape show VTL001L8 --json
# The uploader may already be archiving it (object store shelf).
[[ "$(jq -r .state <<<"$OUT")" =~ ^(IN_TRANSIT_TO_SHELF|ARCHIVING|ARCHIVED)$ ]] && ok "exported tape is IN_TRANSIT_TO_SHELF" || bad "export" "$OUT"
run 0 "archive" tape archive VTL001L8 --wait
run 0 "show archived" tape show VTL001L8 --json
[ "$(jq -r '.state + " " + .location' <<<"$OUT")" = "ARCHIVED shelf" ] && ok "archived on the shelf" || bad "archive" "$OUT"
run 1 "archive twice refused" tape archive VTL001L8
run 1 "move of an archived tape refused" tape move VTL001L8 --to slot:30
expect "names retrieve" "$ERR" "vtlctl tape retrieve"
run 0 "archive from a slot" tape archive VTL002L8
run 0 "retrieve" tape retrieve VTL001L8 --wait
run 0 "show retrieved" tape show VTL001L8 --json
[ "$(jq -r '.state + " " + .location + " " + (.write_protected|tostring)' <<<"$OUT")" = "RETRIEVED ie:1 true" ] &&
	ok "retrieved read-only into ie:1" || bad "retrieve" "$OUT"
run 1 "retrieve of an available tape refused" tape retrieve ABC124L6

# --- Delete and the barcode history.
run 0 "delete" tape delete ABC124L6
expect "delete message" "$OUT" "deleted"
run 1 "deleted barcode is never reused" tape create ABC124L6
expect "reuse message" "$ERR" "never reused"
run 0 "events --tape" events --tape ABC124L6 --json
[ "$(jq -r '.[-1].to_state' <<<"$OUT")" = DELETED ] && ok "delete recorded" || bad "events" "$OUT"
run 0 "events" events
expect "events table" "$OUT" "created blank"

# --- Full library changes nothing.
n_before=$("$VTLCTL" tape list --json | jq length)
run 1 "full library refused" tape create --prefix FULL --count 40
expect "full library explains" "$ERR" "the library is full"
[ "$("$VTLCTL" tape list --json | jq length)" = "$n_before" ] && ok "full library changed nothing" || bad "full"

# --- Is my data safe? The list shows bytes; store retry answers.
run 0 "tape list" tape list
expect "the list has uploaded and pending bytes" "$(head -1 <<<"$OUT")" "UPLOADED  PENDING"
grep -E '^ABC123L8 .* [0-9.]+ (B|kB|MB|GB)$' <<<"$OUT" >/dev/null && ok "PENDING is in bytes" || bad "PENDING is no byte count" "$OUT"
run 0 "store retry" store retry
expect "store retry says the store takes uploads" "$OUT" "the store takes uploads"
run 0 "store retry --json" store retry --json
[ "$(jq '.retried >= .retry_requested and .retry_requested >= 2 and .action_needed == ""' <<<"$OUT")" = true ] &&
	ok "store retry --json: the retry was answered, nothing held" || bad "store retry json" "$OUT"
run 2 "store retry takes no argument" store retry ABC123L8
run 0 "help lists store retry" --help
expect "help names store retry" "$OUT" "store retry [--json]"

# --- Usage errors exit 2.
run 2 "no command"
run 2 "unknown command" bogus
run 2 "move without --to" tape move ABC123L8
run 2 "unknown option" tape list --frobnicate
run 2 "drive unload without a number" drive unload
run 0 "help" --help
expect "help lists catalog rebuild" "$OUT" "catalog rebuild [--json]"

# --- catalog rebuild: this vtld keeps its objects in DATA_DIR/store (no
# [store] in a config file), so there is nothing to rebuild from.
run 1 "catalog rebuild without a store refused" catalog rebuild
expect "no store: names the section and the fix" "$ERR" "vtld has no [store] configured"
expect "no store: says what to set" "$ERR" "set [store] type = s3"
run 1 "catalog rebuild --json without a store" catalog rebuild --json
[ "$(jq -r '.errno + " " + (.recovered|tostring)' <<<"$OUT")" = "ENODEV 0" ] &&
	ok "no store: JSON has the error" || bad "rebuild json" "$OUT"
run 2 "catalog rebuild with an argument" catalog rebuild ABC123L8
run 2 "catalog without a verb" catalog

# --- Pools and the retention lock.
run 0 "pool list" pool list --json
[ "$(jq -c '[.[] | select(.builtin) | .name]' <<<"$OUT")" = '["DEEP_ARCHIVE","GLACIER","default"]' ] &&
	ok "built-in pools: default, GLACIER, DEEP_ARCHIVE" || bad "built-in pools" "$OUT"
run 0 "pool create governance" pool create GOV30 --storage-class GLACIER --lock governance --retention-days 30
expect "pool create shows the pool" "$OUT" "governance"
run 1 "a pool name taken in another case" pool create gov30
expect "taken name explained" "$ERR" "exists already"
run 1 "a lock needs days" pool create NODAYS --lock governance
expect "lock without days explained" "$ERR" "retention days from 1 to 36500"
run 2 "days out of range" pool create LONG --lock compliance --retention-days 36501
run 1 "a bad lock mode" pool create ODD --lock forever --retention-days 3
expect "bad lock named" "$ERR" "use none, governance or compliance"
run 1 "a storage class that is no S3 name" pool create ODDCLASS --storage-class 'glacier;rm'
expect "bad class named" "$ERR" "is not an S3 class name"
run 0 "pool create compliance" pool create COMP1 --lock compliance --retention-days 1
run 0 "tape create in a pool" tape create --pool GOV30 POOL01L8
expect "create names the pool" "$OUT" "pool GOV30"
run 0 "tape create in a compliance pool" tape create --pool COMP1 POOL02L8
run 1 "tape create in no pool" tape create --pool NOPE POOL03L8
expect "no pool named, and the fix" "$ERR" "no pool NOPE (vtlctl pool list"
run 0 "tape list --pool" tape list --pool GOV30 --json
[ "$(jq -c '[.[].barcode]' <<<"$OUT")" = '["POOL01L8"]' ] && ok "list by pool" || bad "list by pool" "$OUT"
run 1 "tape list --pool of no pool" tape list --pool NOPE
run 0 "archive a governance tape" tape archive POOL01L8 --wait
run 0 "archive a compliance tape" tape archive POOL02L8 --wait
run 0 "show a locked tape" tape show POOL01L8
expect "show says the lock and its end" "$OUT" "retention_lock   governance until 20"
run 1 "delete of a governance tape refused" tape delete POOL01L8 --force
expect "refusal names the rule, the pool and the date" "$ERR" "under GOVERNANCE retention until 20"
expect "refusal names the pool" "$ERR" "(pool GOV30)"
run 1 "bypass refused where vtld.conf does not allow it" tape delete POOL01L8 --force --bypass-governance
expect "bypass refusal names the key" "$ERR" "governance_bypass = yes"
run 1 "delete of a compliance tape refused" tape delete POOL02L8 --force
expect "compliance: no one" "$ERR" "no one can have it deleted"
run 1 "re-pooling a locked tape refused" tape assign-pool POOL02L8 default
run 0 "re-pooling an unlocked tape" tape assign-pool ABC123L8 GLACIER
expect "assign says the pool" "$OUT" "in pool GLACIER"
run 1 "a pool in use is kept" pool delete GOV30
expect "in use explained" "$ERR" "holds 1 tape"
run 1 "a built-in pool is kept" pool delete GLACIER
expect "built in explained" "$ERR" "built in"
run 0 "pool create, then delete an empty one" pool create EMPTY
run 0 "pool delete" pool delete EMPTY
run 1 "pool show of a deleted pool" pool show EMPTY
run 2 "pool without a name" pool show
run 2 "pool assign without a pool" tape assign-pool ABC123L8

# --- Automatic tape creation.
# wait_tapes PREFIX N: up to 10 s for N live tapes whose barcode starts so.
wait_tapes() {
	for _ in $(seq 100); do
		[ "$("$VTLCTL" tape list --json | jq "[.[] | select(.barcode | startswith(\"$1\"))] | length")" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
run 0 "autocreate set" autocreate set AUTO --minimum 2 --pool GOV30 --type LTO-7
wait_tapes AUTO 2 && ok "the policy made 2 blank tapes" || bad "autocreate made no tapes" "$("$VTLCTL" tape list)"
run 0 "autocreate list" autocreate list --json
[ "$(jq -c '.[0] | [.prefix, .minimum, .pool, .type]' <<<"$OUT")" = '["AUTO",2,"GOV30","LTO-7"]' ] &&
	ok "the policy as set" || bad "autocreate list" "$OUT"
run 0 "the new tapes are in the pool" tape list --pool GOV30 --json
[ "$(jq -c '[.[] | select(.barcode | startswith("AUTO")) | .barcode + " " + .type + " " + .state]' <<<"$OUT")" = '["AUTO01L7 LTO-7 AVAILABLE","AUTO02L7 LTO-7 AVAILABLE"]' ] &&
	ok "blank AVAILABLE tapes, lowest barcodes first" || bad "autocreated tapes" "$OUT"
run 0 "the backup software exports one" tape move AUTO01L7 --to ie:2
wait_tapes AUTO 3 && ok "the next barcode was created" || bad "no replacement" "$("$VTLCTL" tape list)"
run 0 "events say why" events --tape AUTO03L7 --json
expect "the event names the policy" "$(jq -r '.[0].cause' <<<"$OUT")" "created by autocreate policy AUTO"
run 1 "autocreate of no pool refused" autocreate set AUTOX --minimum 1 --pool NOPE
expect "no pool explained" "$ERR" "no pool NOPE"
run 2 "autocreate without --minimum" autocreate set AUTOY
run 0 "a pool for a policy" pool create POLICY1
run 0 "a policy in it" autocreate set PX --minimum 1 --pool POLICY1
run 1 "that pool cannot go" pool delete POLICY1
expect "the refusal names the pool" "$ERR" "pool POLICY1"
run 0 "autocreate remove" autocreate remove PX
run 1 "remove twice" autocreate remove PX
expect "no policy explained" "$ERR" "no autocreate policy for prefix PX"

# --- Restart keeps everything; SIGTERM is a clean shutdown.
list_before=$("$VTLCTL" tape list --json | jq -c "$NOUPL")
stop_vtld
[ "$STOP_RC" = 0 ] && ok "SIGTERM exits 0" || bad "SIGTERM exit $STOP_RC"
expect "shutdown logged" "$(cat "$T/vtld.log")" "stopped"
[ ! -e "$D/vtld.sock" ] && ok "socket removed at exit" || bad "socket left behind"
run 1 "no daemon: clear error" tape list
expect "connect error names the socket" "$ERR" "cannot connect to vtld at $D/vtld.sock"
start_vtld "$D" || bad "restart"
[ "$("$VTLCTL" tape list --json | jq -c "$NOUPL")" = "$list_before" ] && ok "restart keeps the catalog" || bad "restart lost data"

# A second vtld on the same data directory is refused.
"$VTLD" --data-dir "$D" --foreground --listen 127.0.0.1:0 2>"$T/second.log" &
p=$!
PIDS+=("$p")
wait "$p"
[ $? = 1 ] && grep -q "another vtld" "$T/second.log" && ok "second vtld refused" || bad "second vtld" "$(cat "$T/second.log")"
stop_vtld

# --- Configuration file.
cat >"$T/vtl.conf" <<EOF
[vtld]
log_level = debug
[library]
vendor = IBM
product = 03584L32
drives = 2
slots = 10
ie_slots = 1
governance_bypass = yes
[tapes]
default_type = LTO-7
EOF
start_vtld "$T/data2" -c "$T/vtl.conf" || bad "vtld -c"
export VTL_SOCKET=$T/data2/vtld.sock
run 0 "configured library" library show --json
[ "$(jq -r '.changer.product + " " + (.drives|length|tostring) + " " + (.slots|length|tostring)' <<<"$OUT")" = "03584L32 2 10" ] &&
	ok "config keys applied" || bad "config" "$OUT"
run 0 "default type from config" tape create CFG001
expect "LTO-7 default" "$OUT" "(LTO-7"
# governance_bypass = yes: an administrator may delete a governance tape.
run 0 "a governance pool" pool create GOV7 --lock governance --retention-days 7
run 0 "a tape in it" tape create --pool GOV7 GOVB01
run 0 "archived" tape archive GOVB01 --wait
run 1 "without the bypass still refused" tape delete GOVB01 --force
run 0 "with the bypass" tape delete GOVB01 --force --bypass-governance
run 0 "the bypass is in the events" events --tape GOVB01 --json
expect "bypass recorded" "$(jq -r '.[-1].cause' <<<"$OUT")" "governance retention bypassed"
stop_vtld
printf '[library]\nbogus = 1\n' >"$T/bad.conf"
"$VTLD" -c "$T/bad.conf" --data-dir "$T/data3" --foreground 2>"$T/bad.log"
[ $? = 1 ] && grep -q "bad.conf:2: unknown key 'bogus'" "$T/bad.log" && ok "unknown config key refused" || bad "bad config" "$(cat "$T/bad.log")"
"$VTLD" --frobnicate 2>/dev/null
[ $? = 2 ] && ok "vtld usage error exits 2" || bad "vtld usage"
"$VTLD" --help | grep -q -- "--rebuild-catalog" && ok "vtld --help names --rebuild-catalog" || bad "vtld help"
printf '[store]\nrestore_tier = Fast\n' >"$T/tier.conf"
"$VTLD" -c "$T/tier.conf" --data-dir "$T/data3" --foreground 2>"$T/bad.log"
[ $? = 1 ] && grep -qF "tier.conf:2: [store] restore_tier = Fast: use Standard, Bulk or Expedited" "$T/bad.log" &&
	ok "bad restore_tier refused" || bad "restore_tier" "$(cat "$T/bad.log")"
printf '[store]\nrestore_days = 0\n' >"$T/days.conf"
"$VTLD" -c "$T/days.conf" --data-dir "$T/data3" --foreground 2>"$T/bad.log"
[ $? = 1 ] && grep -qF "days.conf:2: [store] restore_days = 0: days a restored copy of an archived object stays readable, 1 to 30000" "$T/bad.log" &&
	ok "bad restore_days refused" || bad "restore_days" "$(cat "$T/bad.log")"
printf '[store]\nupload_nice = 20\n' >"$T/nice.conf"
"$VTLD" -c "$T/nice.conf" --data-dir "$T/data3" --foreground 2>"$T/bad.log"
[ $? = 1 ] && grep -qF "nice.conf:2: [store] upload_nice = 20: added to the uploader threads' nice value, 0 (none) to 19" "$T/bad.log" &&
	ok "bad upload_nice refused" || bad "upload_nice" "$(cat "$T/bad.log")"
# The shelf apart: a bucket is for S3, and its keys must not be the library's.
printf '[store]\narchive_bucket = vtl-shelf\n' >"$T/shelf.conf"
"$VTLD" -c "$T/shelf.conf" --data-dir "$T/data3" --foreground 2>"$T/bad.log"
[ $? = 1 ] && grep -qF "[store] archive_bucket = vtl-shelf needs type = s3; a local store's shelf is another directory: set archive_path instead" "$T/bad.log" &&
	ok "archive_bucket on a local store refused" || bad "archive_bucket" "$(cat "$T/bad.log")"
printf '[store]\nprefix = vtl/\narchive_prefix = vtl/\n' >"$T/shelf.conf"
"$VTLD" -c "$T/shelf.conf" --data-dir "$T/data3" --foreground 2>"$T/bad.log"
[ $? = 1 ] && grep -qF 'choose another archive_prefix, such as "vtl/shelf/"' "$T/bad.log" &&
	ok "archive_prefix equal to prefix refused" || bad "archive_prefix" "$(cat "$T/bad.log")"
printf '[store]\narchive_prefix = shelf/\n' >"$T/shelf.conf"
start_vtld "$T/data5" -c "$T/shelf.conf" || bad "vtld with archive_prefix"
export VTL_SOCKET=$T/data5/vtld.sock
run 0 "status with a shelf apart" status
expect "status names the shelf" "$OUT" "$T/data5/store/shelf/tapes/"
# [store] upload_nice (default 19): the uploader's threads, by name, run at
# vtld's nice plus 19 (setpriority(2) stops at 19), the rest of vtld at its
# own (field 19 of /proc/PID/task/TID/stat). vtld's own is the one it was
# started with, this script's (under `nice make check` too), not 0: what
# is checked is that vtld lowers only the uploader's threads.
base=$(nice)
up=$((base + 19 > 19 ? 19 : base + 19))
nices=$(for t in /proc/"$VTLD_PID"/task/*; do
	printf '%s=%s\n' "$(cat "$t/comm")" "$(sed 's/.*) //' "$t/stat" | cut -d' ' -f17)"
done | sort | uniq -c | tr -s ' ' | tr '\n' ';')
expect "the uploader thread at nice $up" "$nices" " 1 vtl-upload=$up;"
expect "four part workers at nice $up" "$nices" " 4 vtl-part=$up;"
expect "the main thread at the nice vtld started with ($base)" "$nices" " vtld=$base;"
stop_vtld

# --recover-from-store, the first name of --rebuild-catalog, still works.
start_vtld "$T/data4" --recover-from-store || bad "vtld --recover-from-store"
expect "old flag rebuilds the catalog" "$(cat "$T/vtld.log")" "rebuilt the catalog from the media and the object store: 0 recovered"
stop_vtld

# --- WORM tapes: --worm, WORM labels (LV..LZ), tape show/list, and a
# catalog rebuilt from the local media keeps them WORM.
W=$T/data6
start_vtld "$W" || bad "vtld for WORM tapes"
export VTL_SOCKET=$W/vtld.sock
run 0 "tape create --worm" tape create --worm WORM01
expect "create says WORM" "$OUT" "created tape WORM01 (LTO-8 WORM, 12.0 TB) in slot:1"
run 0 "tape create of a WORM label" tape create ABC001LY ABC002LX
expect "LY is an LTO-8 WORM label" "$OUT" "ABC001LY (LTO-8 WORM"
expect "LX is an LTO-7 WORM label" "$OUT" "ABC002LX (LTO-7 WORM"
run 0 "tape create --worm --prefix" tape create --worm --prefix WRM --count 1
expect "WORM prefix barcodes end in LY" "$OUT" "WRM001LY (LTO-8 WORM"
run 1 "--worm on a rewritable label refused" tape create --worm ABC003L8
expect "the refusal names the WORM label" "$ERR" "barcode ABC003L8 is the label of a rewritable LTO-8 cartridge; a WORM one ends in LY (or drop --worm)"
run 1 "refused WORM tape not created" tape show ABC003L8
run 0 "plain tape create" tape create ABC004L8
run 0 "tape show --json of a WORM tape" tape show --json WORM01
[ "$(jq -r .worm <<<"$OUT")" = true ] && ok "tape show: worm true" || bad "worm in show" "$OUT"
run 0 "tape show of a WORM tape" tape show WORM01
expect "tape show says worm yes" "$OUT" "worm             yes"
run 0 "tape list --json" tape list --json
[ "$(jq -r '[.[] | select(.worm) | .barcode] | sort | join(" ")' <<<"$OUT")" = "ABC001LY ABC002LX WORM01 WRM001LY" ] &&
	ok "tape list: worm on the WORM tapes only" || bad "worm in list" "$OUT"
stop_vtld
rm -f "$W/catalog.db" "$W/catalog.db-wal" "$W/catalog.db-shm"
start_vtld "$W" --rebuild-catalog || bad "vtld --rebuild-catalog for WORM tapes"
run 0 "rebuilt WORM tape" tape show --json WORM01
[ "$(jq -r .worm <<<"$OUT")" = true ] && ok "rebuild keeps WORM from the medium" || bad "worm after rebuild" "$OUT"
run 0 "rebuilt rewritable tape" tape show --json ABC004L8
[ "$(jq -r .worm <<<"$OUT")" = false ] && ok "rebuild keeps a rewritable tape rewritable" || bad "rewritable after rebuild" "$OUT"
stop_vtld

# --- Cleaning cartridges: a CLN label or --cleaning [--uses N]; tape
# list/show count the cleanings, a load into a drive counts one.
K=$T/clean
start_vtld "$K" || bad "vtld for cleaning cartridges"
export VTL_SOCKET=$K/vtld.sock
run 0 "tape create of a CLN label" tape create CLN001L1
expect "create says cleaning, 50 uses" "$OUT" "created cleaning cartridge CLN001L1 (good for 50 cleanings) in slot:1"
run 0 "tape create --cleaning --uses" tape create --cleaning --uses 2 CLEAN2
run 2 "--uses without --cleaning refused" tape create --uses 3 ABC009L8
expect "--uses names --cleaning" "$ERR" "--uses N goes with --cleaning"
run 2 "--uses 0 refused" tape create --cleaning --uses 0 CLEAN3
run 0 "load the cleaning cartridge" tape move CLEAN2 --to drive:1
run 0 "unload it" tape move CLEAN2 --to slot:2
run 0 "tape show --json of a cleaning cartridge" tape show --json CLEAN2
[ "$(jq -c '[.cleaning, .cleaning_uses, .cleaning_max_uses, .cleaning_expired]' <<<"$OUT")" = '[true,1,2,false]' ] &&
	ok "tape show: one of two cleanings used" || bad "cleaning in show" "$OUT"
run 0 "tape show of a cleaning cartridge" tape show CLEAN2
expect "tape show counts the cleanings" "$OUT" "cleaning         1 of 2 used"
run 0 "tape list" tape list
expect "tape list shows the cleanings" "$OUT" "cleaning 0/50"
stop_vtld

# --- Many tapes at once: catalog rows in one transaction, no medium made
# until a tape's first load (docs/library.md, "A new tape is a catalog
# row"). A power loss before the commit leaves the batch CREATING: the next
# start finishes it.
C=$T/many
start_vtld "$C" || bad "vtld for the batch"
export VTL_SOCKET=$C/vtld.sock
run 0 "tape create --count 30" tape create --prefix MNY --count 30
run 0 "tape list of the batch" tape list --json
[ "$(jq '[.[] | select(.state == "AVAILABLE")] | length' <<<"$OUT")" = 30 ] &&
	ok "30 tapes AVAILABLE after one batch" || bad "batch states" "$OUT"
[ "$(jq -r '[.[] | .location] | join(" ")' <<<"$OUT")" = "$(seq -f 'slot:%g' 1 30 | tr '\n' ' ' | sed 's/ $//')" ] &&
	ok "the batch took slots 1-30 in order" || bad "batch slots" "$OUT"
[ "$(jq '[.[] | select(.medium_made == false and .used_bytes == 0 and .pending_bytes == 0)] | length' <<<"$OUT")" = 30 ] &&
	ok "no medium made for the batch" || bad "batch media" "$OUT"
[ -z "$(ls "$C/tapes")" ] && ok "tapes/ holds no directory before a load" || bad "media made at create" "$(ls "$C/tapes")"
stop_vtld
sqlite3 "$C/catalog.db" "UPDATE tapes SET state = 'CREATING' WHERE barcode = 'MNY007L8'"
start_vtld "$C" || bad "vtld after a torn batch"
run 0 "a torn batch is finished at start" tape show --json MNY007L8
[ "$(jq -r '.state + " " + (.medium_made|tostring)' <<<"$OUT")" = "AVAILABLE false" ] &&
	ok "MNY007L8 AVAILABLE again, its medium still to make" || bad "torn batch" "$OUT"
# A never-loaded tape survives a restart (the check of the media does not
# take its missing medium for a lost one) and its first load makes it.
run 0 "a never-loaded tape after a restart" tape show --json MNY008L8
[ "$(jq -r '.state + " " + (.medium_made|tostring)' <<<"$OUT")" = "AVAILABLE false" ] &&
	ok "not IRRECOVERABLE after a restart" || bad "restart of a blank" "$OUT"
run 0 "and it loads" tape move MNY007L8 --to drive:1
run 0 "made at its first load" tape show --json MNY007L8
[ "$(jq -r .medium_made <<<"$OUT")" = true ] && [ -f "$C/tapes/MNY007L8/MANIFEST" ] &&
	ok "the first load made the medium" || bad "first load" "$OUT"
[ "$(stat -c %a "$C/tapes/MNY007L8")" = 700 ] && ok "the medium's directory is private" || bad "medium mode"
run 0 "unload it" drive unload 1
# Export, archive and retrieve of a tape never loaded: the shelf gets a
# blank made for it; delete of one removes a catalog row.
run 0 "archive a never-loaded tape" tape archive MNY009L8 --wait
run 0 "show it archived" tape show --json MNY009L8
[ "$(jq -r '.state + " " + (.medium_made|tostring)' <<<"$OUT")" = "ARCHIVED true" ] &&
	ok "a never-loaded tape archived" || bad "archive of a blank" "$OUT"
run 0 "retrieve it" tape retrieve MNY009L8 --wait
run 0 "show it retrieved" tape show --json MNY009L8
[ "$(jq -r .state <<<"$OUT")" = RETRIEVED ] && ok "a never-loaded tape retrieved" || bad "retrieve of a blank" "$OUT"
run 0 "export a never-loaded tape" tape move MNY010L8 --to ie:2
[ -f "$C/tapes/MNY010L8/MANIFEST" ] && ok "export made its medium" || bad "export of a blank"
run 0 "delete a never-loaded tape" tape delete MNY011L8
[ ! -e "$C/tapes/MNY011L8" ] && ok "deleted, no medium" || bad "delete of a blank"
# SIGKILL while first loads make media: every tape is AVAILABLE and made
# or not, and each loads after the restart (docs/library.md).
for i in 12 13 14 15 16 17; do
	"$VTLCTL" tape move "MNY0${i}L8" --to drive:2 >/dev/null 2>&1 &
	sleep "0.0$((RANDOM % 10))"
	kill -KILL "$VTLD_PID"
	wait "$VTLD_PID" 2>/dev/null
	wait $! 2>/dev/null
	start_vtld "$C" || bad "restart after SIGKILL during a first load"
	run 0 "after a SIGKILL during its first load" tape show --json "MNY0${i}L8"
	[[ "$(jq -r .state <<<"$OUT")" = AVAILABLE ]] || bad "state after SIGKILL" "$OUT"
	where=$(jq -r .location <<<"$OUT")
	[ "$where" = "drive:2" ] || run 0 "it loads after the restart" tape move "MNY0${i}L8" --to drive:2
	run 0 "its medium is there" tape show --json "MNY0${i}L8"
	[ "$(jq -r .medium_made <<<"$OUT")" = true ] && [ -f "$C/tapes/MNY0${i}L8/MANIFEST" ] &&
		ok "MNY0${i}L8 made after SIGKILL" || bad "medium after SIGKILL" "$OUT"
	run 0 "unload drive 2" drive unload 2
done
stop_vtld
# Rebuilt from the store: the blank tapes come back from the library
# record (docs/object-store.md), their media still to make.
rm -f "$C/catalog.db" "$C/catalog.db-wal" "$C/catalog.db-shm"
start_vtld "$C" --rebuild-catalog || bad "vtld --rebuild-catalog of blank tapes"
run 0 "a blank tape after a rebuild" tape show --json MNY020L8
[ "$(jq -r '.state + " " + (.medium_made|tostring)' <<<"$OUT")" = "AVAILABLE false" ] &&
	ok "a blank tape rebuilt from the record" || bad "rebuild of a blank" "$OUT"
run 0 "it loads after the rebuild" tape move MNY020L8 --to drive:1
run 0 "a loaded one after a rebuild" tape show --json MNY007L8
[ "$(jq -r '.state + " " + (.medium_made|tostring)' <<<"$OUT")" = "AVAILABLE true" ] &&
	ok "a loaded tape rebuilt from its medium" || bad "rebuild of a loaded tape" "$OUT"
run 0 "the deleted one is gone" tape list --json
[ "$(jq '[.[] | select(.barcode == "MNY011L8")] | length' <<<"$OUT")" = 0 ] &&
	ok "a deleted blank tape not rebuilt" || bad "deleted blank rebuilt" "$OUT"
stop_vtld

# --- Encryption at rest: the [encryption] keys, key status, key rotate.
E=$T/enc
mkdir -p "$T/keys"
head -c 32 /dev/urandom >"$T/keys/old" && head -c 32 /dev/urandom >"$T/keys/new"
chmod 600 "$T/keys/old" "$T/keys/new"
printf '[encryption]\nmaster_key_file = %s\n' "$T/keys/old" >"$T/enc.conf"
"$VTLD" -c "$T/enc.conf" --data-dir "$E" --foreground 2>"$T/bad.log"
[ $? = 1 ] && grep -qF "names a master key but mode is not library; set mode = library" "$T/bad.log" &&
	ok "a master key without mode = library refused" || bad "key without mode" "$(cat "$T/bad.log")"
printf '[encryption]\nmode = library\n' >"$T/enc.conf"
"$VTLD" -c "$T/enc.conf" --data-dir "$E" --foreground 2>"$T/bad.log"
[ $? = 1 ] && grep -qF "mode = library needs a master key: set master_key_file" "$T/bad.log" &&
	ok "mode = library without a key refused" || bad "mode without key" "$(cat "$T/bad.log")"
printf '[encryption]\nmode = disk\n' >"$T/enc.conf"
"$VTLD" -c "$T/enc.conf" --data-dir "$E" --foreground 2>"$T/bad.log"
[ $? = 1 ] && grep -qF "enc.conf:2: [encryption] mode = disk: use none or library" "$T/bad.log" &&
	ok "unknown encryption mode refused" || bad "mode disk" "$(cat "$T/bad.log")"
printf '[encryption]\nmode = library\nkey_command = echo vault sealed >&2; exit 3\n' >"$T/enc.conf"
"$VTLD" -c "$T/enc.conf" --data-dir "$E" --foreground 2>"$T/bad.log"
[ $? = 1 ] && grep -qF "key_command failed (exit status 3): vault sealed; vtld does not start" "$T/bad.log" &&
	ok "a failing key command stops vtld, with its stderr" || bad "key command" "$(cat "$T/bad.log")"
[ ! -e "$E/catalog.db" ] && ok "nothing created when the key does not load" || bad "catalog created"
printf '[encryption]\nmode = library\nkey_command = cat %s\n' "$T/keys/old" >"$T/enc.conf"
start_vtld "$E" -c "$T/enc.conf" || bad "vtld with key_command"
export VTL_SOCKET=$E/vtld.sock
run 0 "tapes created under the old key" tape create --prefix KEY --count 3
[ ! -e "$E/tapes/KEY002L8/KEY" ] && ok "no KEY file before the first load" || bad "KEY file at create"
run 0 "first load of a tape encrypted at rest" tape move KEY002L8 --to drive:1
[ "$(stat -c %a "$E/tapes/KEY002L8/KEY" 2>&1)" = 600 ] && ok "its KEY file made at its first load" || bad "KEY file after load"
run 0 "unload it" drive unload 1
run 0 "key status" key status
expect "key status: mode" "$OUT" "encryption at rest: library"
expect "key status: three tapes under the current key" "$OUT" "3 tapes  (current)"
run 0 "key status --json" key status --json
OLD_ID=$(jq -r .master <<<"$OUT")
[ "$(jq -r '.tapes, .to_rotate, .masters[0].role' <<<"$OUT" | tr '\n' ' ')" = "3 0 current " ] &&
	ok "key status --json: counts and role" || bad "key status json" "$OUT"
run 0 "key rotate with nothing to do" key rotate
expect "nothing to rotate" "$OUT" "nothing to do: every tape's data key is already wrapped by master key $OLD_ID"
grep -qF "master key $OLD_ID" "$T/vtld.log" && ok "the log names the key's id" || bad "id in log"
run 2 "key rotate takes no argument" key rotate KEY001L8
run 2 "key without a known verb" key forget
stop_vtld
printf '[encryption]\nmode = library\nmaster_key_file = %s\nprevious_key_file = %s\n' \
	"$T/keys/new" "$T/keys/old" >"$T/enc.conf"
start_vtld "$E" -c "$T/enc.conf" || bad "vtld with a previous key"
run 0 "key status during a rotation" key status
expect "old key is the previous one" "$OUT" "3 tapes  (previous)"
expect "says to rotate" "$OUT" "3 tapes are still under another master key: run vtlctl key rotate"
run 0 "key rotate" key rotate
expect "progress to the last tape" "$OUT" "rewrapped 3 of 3 tapes (last: KEY003L8)"
expect "says the previous key may go" "$OUT" "previous_key_file (or previous_key_command) may be removed"
run 0 "key status --json after" key status --json
[ "$(jq -r '.to_rotate, (.masters | length), .masters[0].role' <<<"$OUT" | tr '\n' ' ')" = "0 1 current " ] &&
	ok "every tape under the new key" || bad "after rotation" "$OUT"
run 0 "delete a tape encrypted at rest" tape delete KEY003L8
run 0 "key status --json after a delete" key status --json
[ "$(jq -r .tapes <<<"$OUT")" = 2 ] && ok "a deleted tape's key counts no more" || bad "deleted key" "$OUT"
stop_vtld
printf '[encryption]\nmode = library\nmaster_key_file = %s\n' "$T/keys/old" >"$T/enc.conf"
start_vtld "$E" -c "$T/enc.conf" || bad "vtld with the old key alone"
run 1 "a tape under another master key does not load" tape move KEY001L8 --to drive:1
expect "names both ids and the fix" "$ERR" "tape KEY001L8: its data key is wrapped by master key"
expect "names the configured id" "$ERR" "not by the configured $OLD_ID"
run 1 "key rotate without the key the tapes are under" key rotate
expect "rotate names the missing key" "$ERR" "configure the key with id"
# Each tape's KEY file private (and there is one: stat fails on none).
modes=$(stat -c '%a %n' "$E"/tapes/KEY00*L8/KEY 2>&1)
[ -n "$modes" ] && ! grep -qv '^600 ' <<<"$modes" && ok "KEY files are mode 0600" ||
	bad "KEY file mode" "$modes"
if grep -rqF -f <(od -An -tx1 "$T/keys/old" | tr -d ' \n' | head -c 16) "$T/vtld.log"; then
	bad "a master key's bytes in hex are in the log"
else
	ok "no master key in hex in the log"
fi
stop_vtld
# A blank tape encrypted at rest, rebuilt from the store's library record:
# a new data key under the configured master key (the lost one encrypted
# nothing), and it loads.
printf '[encryption]\nmode = library\nmaster_key_file = %s\n' "$T/keys/new" >"$T/enc.conf"
start_vtld "$E" -c "$T/enc.conf" || bad "vtld with the new key"
run 0 "a blank tape encrypted at rest" tape create KEY004L8
stop_vtld
rm -f "$E/catalog.db" "$E/catalog.db-wal" "$E/catalog.db-shm"
start_vtld "$E" -c "$T/enc.conf" --rebuild-catalog || bad "vtld --rebuild-catalog with blank tapes encrypted at rest"
run 0 "a blank tape encrypted at rest after a rebuild" tape show --json KEY004L8
[ "$(jq -r '.state + " " + (.medium_made|tostring)' <<<"$OUT")" = "AVAILABLE false" ] &&
	ok "rebuilt blank, its medium still to make" || bad "rebuild of an encrypted blank" "$OUT"
run 0 "key status after the rebuild" key status --json
[ "$(jq -r '.tapes, .to_rotate' <<<"$OUT" | tr '\n' ' ')" = "3 0 " ] &&
	ok "the rebuilt blank has a data key under the current master key" || bad "keys after rebuild" "$OUT"
run 0 "the rebuilt blank loads" tape move KEY004L8 --to drive:1
[ "$(stat -c %a "$E/tapes/KEY004L8/KEY" 2>&1)" = 600 ] && ok "its KEY file made at the load" || bad "KEY of the rebuilt blank"
stop_vtld
unset VTL_SOCKET

checks_end
