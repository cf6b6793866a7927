# guest-lib.sh - helpers for the guest-side test scripts (sourced in the
# guest, chrooted into the host root, as root).
#
# Results: a TAP stream in /e2e/tap, written line by line so that the host
# still reads every finished test if the guest is killed on its budget, and
# a full transcript in /e2e/guest.log: every command, its output, its exit
# code and how long it took. A failed test also carries the command, its
# output and what was expected as TAP diagnostics ("# ..."), so that the
# host's report alone says what went wrong.
#
# Settings come from /e2e/env, written by the host driver (run-fast.sh,
# run-full.sh): E2E_PORTAL (10.0.2.2:PORT), E2E_DRIVES, E2E_SLOTS, E2E_IE,
# E2E_TAPES (the barcodes the host created), E2E_SELFTEST (no vtld: check
# that the harness fails cleanly).

set -u
. /e2e/env

TAP=/e2e/tap
LOG=/e2e/guest.log
WORK=/tmp/e2e-work
mkdir -p "$WORK"
: >"$TAP"
: >"$LOG"
T_N=0
T_FAILED=0
OUT=""
RC=0
LAST_CMD=""

# Under emulation every process started costs a few hundred milliseconds,
# so the helpers below use bash builtins only; the commands under test are
# the only processes started (plus one `timeout` each).
log() { printf '%s\n' "$*" >>"$LOG"; }
note() {
	printf '# %s\n' "$*" >>"$TAP"
	printf '# %s\n' "$*" >>"$LOG"
}

# run TIMEOUT CMD...: run a command with a hard timeout; its output (stdout
# and stderr) in $OUT, its exit code in $RC (124: timed out). Returns $RC.
run() {
	local to=$1 t0 up _
	shift
	LAST_CMD="$*"
	read -r up _ </proc/uptime
	log "[$up] \$ $*"
	t0=$EPOCHREALTIME
	timeout -k 5 "$to" "$@" >"$WORK/out" 2>&1 </dev/null
	RC=$?
	{ OUT=$(<"$WORK/out"); } 2>/dev/null
	[ -n "$OUT" ] && log "$OUT"
	if [ "$RC" -eq 124 ] || [ "$RC" -eq 137 ]; then
		log "[TIMED OUT after ${to}s]"
		OUT="$OUT
[TIMED OUT after ${to}s]"
	fi
	local us=$(( ${EPOCHREALTIME/./} - ${t0/./} ))
	log "[exit $RC, $((us / 1000)) ms]"
	return "$RC"
}

# runsh TIMEOUT 'shell pipeline': run() for a pipeline or redirection.
runsh() {
	local to=$1
	shift
	run "$to" bash -c "set -o pipefail; $1"
}

pass() {
	T_N=$((T_N + 1))
	printf 'ok %d - %s\n' "$T_N" "$1" >>"$TAP"
	printf 'ok %d - %s\n' "$T_N" "$1" >>"$LOG"
}

# fail NAME [EXPECTED]: a failed test, with the last command run, its exit
# code and output (at most 25 lines) and what was expected.
fail() {
	local msg line n=0
	T_N=$((T_N + 1))
	T_FAILED=$((T_FAILED + 1))
	msg="not ok $T_N - $1
#   command: $LAST_CMD
#   exit: $RC"
	while IFS= read -r line; do
		n=$((n + 1))
		[ "$n" -gt 25 ] && break
		msg="$msg
#   | $line"
	done <<<"$OUT"
	[ $# -ge 2 ] && msg="$msg
#   expected: $2"
	printf '%s\n' "$msg" >>"$TAP"
	printf '%s\n' "$msg" >>"$LOG"
}

skip() {
	T_N=$((T_N + 1))
	printf 'ok %d - %s # SKIP %s\n' "$T_N" "$1" "$2" >>"$TAP"
	printf 'ok %d - %s # SKIP %s\n' "$T_N" "$1" "$2" >>"$LOG"
}

# check NAME EXPECTED CONDITION-COMMAND...: pass when the command succeeds.
check() {
	local name=$1 expected=$2
	shift 2
	if "$@"; then pass "$name"; else fail "$name" "$expected"; fi
}

# has REGEX: $OUT matches the extended regular expression, ignoring case
# ("^" and "$" match at line boundaries, as with grep).
has() {
	local line
	shopt -s nocasematch
	while IFS= read -r line; do
		if [[ $line =~ $1 ]]; then
			shopt -u nocasematch
			return 0
		fi
	done <<<"$OUT"
	shopt -u nocasematch
	return 1
}

bail() {
	printf 'Bail out! %s\n' "$1" >>"$TAP"
	printf 'Bail out! %s\n' "$1" >>"$LOG"
	finish
}

finish() {
	printf '1..%d\n' "$T_N" >>"$TAP"
	log "== guest done: $T_N tests, $T_FAILED failed"
	dmesg >/e2e/dmesg.txt 2>&1
	sync
	[ "$T_FAILED" -eq 0 ]
	exit $?
}

# wait_for SECONDS CMD...: poll until CMD succeeds or SECONDS have passed.
# (Under emulation starting a process costs up to a second: poll by time.)
wait_for() {
	local end=$((SECONDS + $1))
	shift
	while :; do
		"$@" && return 0
		[ "$SECONDS" -ge "$end" ] && return 1
		sleep 0.5
	done
}

# Start the host's open-iscsi in the guest: a fixed initiator name, manual
# node startup, and short timeouts so that a target that misbehaves shows
# up as an error within seconds, not after open-iscsi's default two minutes.
start_iscsid() {
	echo "InitiatorName=iqn.2024-01.test.vtl:e2e-guest" >/etc/iscsi/initiatorname.iscsi
	sed -i \
		-e 's/^#* *node.startup *=.*/node.startup = manual/' \
		-e 's/^#* *node.session.timeo.replacement_timeout *=.*/node.session.timeo.replacement_timeout = 10/' \
		-e 's/^#* *node.conn\[0\].timeo.login_timeout *=.*/node.conn[0].timeo.login_timeout = 10/' \
		-e 's/^#* *node.session.initial_login_retry_max *=.*/node.session.initial_login_retry_max = 2/' \
		/etc/iscsi/iscsid.conf
	rm -rf /etc/iscsi/nodes /etc/iscsi/send_targets
	mkdir -p /run/lock/iscsi /var/lib/iscsi
	# Its own session: iscsid signals its whole process group when it stops.
	setsid iscsid -f >>/e2e/iscsid.log 2>&1 &
	ISCSID_PID=$!
	sleep 0.5
	kill -0 "$ISCSID_PID" 2>/dev/null
}

stop_iscsid() {
	[ -n "${ISCSID_PID:-}" ] && kill "$ISCSID_PID" 2>/dev/null
	ISCSID_PID=
}

# login_and_map: load the initiator modules, start iscsid, discover and log
# in through $E2E_PORTAL (tests 1..), wait for the SCSI scan, and map the
# devices: CHG_SG/CHG_CH (changer), TAPE_ST[]/TAPE_SG[] (drives in LUN
# order), nst N (the no-rewind node of drive N). In self-test mode it
# checks the clean failure instead and finishes.
nst() { echo "/dev/n${TAPE_ST[$1]#/dev/}"; }
login_and_map() {
	local PORTAL=$E2E_PORTAL iqn
	if run 30 modprobe -a iscsi_tcp st ch sg; then
		pass "kernel modules iscsi_tcp, st, ch, sg load"
	else
		fail "kernel modules iscsi_tcp, st, ch, sg load"
		bail "no initiator"
	fi
	if start_iscsid; then
		pass "iscsid runs"
	else
		RC=1 OUT=$(cat /e2e/iscsid.log)
		fail "iscsid runs"
		bail "no iscsid"
	fi

	# ------------------------------------------------------------ discovery
	run 60 iscsiadm -m discovery -t sendtargets -p "$PORTAL"
	if [ "${E2E_SELFTEST:-0}" = 1 ]; then
		# No vtld on the port: the harness must see a clean refusal, fast.
		if [ "$RC" -ne 0 ] && [ "$RC" -ne 124 ] && has 'connection refused|cannot make connection'; then
			pass "self-test: discovery without a target fails cleanly (connection refused)"
		else
			fail "self-test: discovery without a target fails cleanly (connection refused)" \
				"iscsiadm exits non-zero within its timeout and says the connection was refused"
		fi
		run 10 iscsiadm -m session
		if [ "$RC" -eq 21 ]; then
			pass "self-test: no session is left behind"
		else
			fail "self-test: no session is left behind" "iscsiadm -m session exits 21 (no active sessions)"
		fi
		finish
	fi
	if [ "$RC" -ne 0 ]; then
		fail "SendTargets discovery via $PORTAL" "iscsiadm lists the vtld target(s)"
		bail "discovery failed"
	fi
	DISC=$OUT
	TARGETS=$(printf '%s\n' "$DISC" | awk '{print $2}' | sort -u)
	if [ -z "$TARGETS" ]; then
		fail "SendTargets discovery via $PORTAL" "at least one 'ADDR:PORT,TPGT IQN' line"
		bail "no target"
	fi
	pass "SendTargets discovery via $PORTAL lists $(echo "$TARGETS" | wc -l) target(s)"
	# RFC 7143 13.12 / appendix C: the TargetAddress a SendTargets answer gives
	# must be reachable by the initiator that asked. Behind QEMU's NAT the
	# target sees 127.0.0.1; the guest can reach it only as 10.0.2.2.
	if printf '%s\n' "$DISC" | awk '{print $1}' | grep -vq "^$PORTAL,"; then
		fail "SendTargets answers with the address the initiator connected to ($PORTAL)" \
			"every portal in the answer is $PORTAL (an address 127.0.0.1 is useless to this initiator; omit TargetAddress or echo the connected address, as LIO does)"
		if [ "${E2E_PORTAL_FIXUP:-0}" = 1 ]; then
			# The failure above stands; node records for the portal we can
			# reach let the rest of the run still say something
			# (E2E_PORTAL_FIXUP=0 stops here instead).
			for iqn in $TARGETS; do
				run 10 iscsiadm -m node -o new -T "$iqn" -p "$PORTAL"
			done
			note "peer workaround: node records created by hand for $PORTAL"
		fi
	else
		pass "SendTargets answers with the address the initiator connected to ($PORTAL)"
	fi

	# ---------------------------------------------------------------- login
	for iqn in $TARGETS; do
		if run 60 iscsiadm -m node -T "$iqn" -p "$PORTAL" --login; then
			pass "login to $iqn"
		else
			fail "login to $iqn" "iscsiadm: Login to [...] successful"
			bail "login failed"
		fi
	done
	run 10 iscsiadm -m session -P 3
	if has 'iSCSI Session State: LOGGED_IN'; then
		pass "session is LOGGED_IN"
	else
		fail "session is LOGGED_IN"
	fi

	# SCSI scan is asynchronous after login: wait for the changer and drives.
	want_tapes=${E2E_DRIVES:-4}
	devices_ready() { # no process spawned: sysfs globs only
		local t c
		shopt -s nullglob
		t=(/sys/class/scsi_tape/st[0-9] /sys/class/scsi_tape/st[0-9][0-9])
		c=(/sys/class/scsi_changer/sch[0-9])
		shopt -u nullglob
		[ "${#t[@]}" -ge "$want_tapes" ] && [ "${#c[@]}" -ge 1 ]
	}
	wait_for 30 devices_ready
	run 10 lsscsi -g
	LSSCSI=$OUT
	n_chg=$(printf '%s\n' "$LSSCSI" | grep -c ' mediumx ')
	n_tape=$(printf '%s\n' "$LSSCSI" | grep -c ' tape ')
	if [ "$n_chg" -eq 1 ] && [ "$n_tape" -eq "$want_tapes" ]; then
		pass "lsscsi shows 1 medium changer and $want_tapes tape drives"
	else
		fail "lsscsi shows 1 medium changer and $want_tapes tape drives" \
			"LUN 0 PDT 8h (mediumx) and LUNs 1..$want_tapes PDT 1h (tape), each bound to ch/st and sg"
	fi
	note "devices: $(printf '%s\n' "$LSSCSI" | tr -s ' ' | tr '\n' ';')"
	[ "$n_chg" -ge 1 ] && [ "$n_tape" -ge 1 ] || bail "no changer or no drive attached"

	# Map the devices: the changer's sg node, and per drive (in LUN order)
	# its st name and sg node.
	CHG_SG=$(printf '%s\n' "$LSSCSI" | awk '$2 == "mediumx" {print $NF; exit}')
	CHG_CH=$(printf '%s\n' "$LSSCSI" | awk '$2 == "mediumx" {print $(NF-1); exit}')
	mapfile -t TAPE_ST < <(printf '%s\n' "$LSSCSI" | awk '$2 == "tape" {print $(NF-1)}')
	mapfile -t TAPE_SG < <(printf '%s\n' "$LSSCSI" | awk '$2 == "tape" {print $NF}')
	log "changer $CHG_CH $CHG_SG; drives ${TAPE_ST[*]} / ${TAPE_SG[*]}"
}

# ------------------------------------------------------- mtx status parsing
mtx_status() { run 60 mtx -f "$CHG_SG" status; }
# mtx_match REGEX: the first line of the last `mtx status` matching REGEX;
# its groups in MATCH[1..]. Bash only: no process per query.
mtx_match() {
	local line
	while IFS= read -r line; do
		if [[ $line =~ $1 ]]; then
			MATCH=("${BASH_REMATCH[@]}")
			return 0
		fi
	done <<<"$MTX_OUT"
	MATCH=()
	return 1
}
# slot_tag N / drive_tag N: the barcode in storage slot / drive N, or "".
slot_tag() { mtx_match "^ *Storage Element $1:Full *:VolumeTag *= *([^ ]*)" && echo "${MATCH[1]}"; }
slot_full() { mtx_match "^ *Storage Element $1( IMPORT/EXPORT)?:Full"; }
drive_full() { mtx_match "^Data Transfer Element $1:Full"; }
drive_tag() { mtx_match "^Data Transfer Element $1:Full.*VolumeTag *= *([^ ]*)" && echo "${MATCH[1]}"; }
refresh() { mtx_status; MTX_OUT=$OUT; }
# slot_of BARCODE: the storage slot holding the tape, from the last refresh.
slot_of() { mtx_match "^ *Storage Element ([0-9]+):Full *:VolumeTag *= *$1( |$)" && echo "${MATCH[1]}"; }
# mtx_do ARGS...: run an mtx command, keep its result, then refresh the
# status; mtx_fail NAME EXPECTED reports the mtx command (not the refresh)
# with the full elements of the status that followed.
mtx_do() {
	run 120 mtx -f "$CHG_SG" "$@"
	MTX_RC=$RC MTX_LAST=$LAST_CMD MTX_LAST_OUT=$OUT
	refresh
	RC=$MTX_RC
	return "$MTX_RC"
}
mtx_fail() {
	local full
	full=$(printf '%s\n' "$MTX_OUT" | grep -E 'Storage Changer|:Full' | head -12)
	RC=$MTX_RC LAST_CMD=$MTX_LAST
	OUT="$MTX_LAST_OUT
-- mtx status afterwards (full elements):
$full"
	fail "$@"
}

# --------------------------------------------------------- Bacula btape
# btape_run NAME DEVICE CHANGER DRIVE-INDEX TIMEOUT LOG: Bacula's `btape
# test` on the tape drive DEVICE (a no-rewind node) with the sample
# contrib/bacula/bacula-sd.conf, whose autochanger part goes through
# Debian's mtx-changer on CHANGER (the changer's sg node) as drive
# DRIVE-INDEX. btape's
# autochanger test unloads the drive and loads slot 1, which must hold a
# writable tape; the caller loads a tape first. Maximum Block Size is
# E2E_BTAPE_BLOCK (default 16384; btape writes a fixed 10000 records per
# file). One TAP test NAME: every part must pass and no Device directive
# workaround may be suggested. The transcript goes to LOG.
btape_run() {
	local name=$1 dev=$2 chg=$3 index=$4 to=$5 log=$6
	local conf=$WORK/bacula-sd-$index.conf
	mkdir -p /var/lib/bacula /run/bacula
	# mtx-changer waits up to 300 s for ONLINE after a load; keep a
	# failure inside the budget.
	sed -i 's/-le 300 /-le 30 /' /etc/bacula/scripts/mtx-changer
	# The sample users get (contrib/bacula/bacula-sd.conf), with this
	# guest's nodes for the changer and the drive, the test's block size,
	# and btape's messages on the console.
	sed -e "s|^\(  Changer Device = \)[^ ]*|\1$chg|" \
		-e "s|^\(  Archive Device = \)/dev/nst$index |\1$dev |" \
		-e "s|^\(  Maximum Block Size = \).*|\1${E2E_BTAPE_BLOCK:-16384}|" \
		-e "s|^\(  director = bacula-dir = all\)\$|\1\n  console = all|" \
		"$E2E_SRCDIR/contrib/bacula/bacula-sd.conf" >"$conf"
	grep -q "^  Archive Device = $dev " "$conf" && grep -q "^  Changer Device = $chg " "$conf" ||
		{ RC=1 OUT=$(cat "$conf"); fail "$name" "contrib/bacula/bacula-sd.conf takes the guest's device nodes"; return; }
	runsh "$to" "printf 'test\\ny\\nquit\\n' | btape -c $conf vtl-drive-$index 2>&1 | tee $log"
	local why=""
	[ "$RC" -eq 0 ] || why="btape exit $RC"
	local bad='This is NOT correct|Append test failed|must correct this error|Please add|Attempting again|test failed|Bad status|Bad autochanger|ERR='
	has "$bad" &&
		why="$why; btape reported: $(printf '%s\n' "$OUT" | grep -Ei "$bad" | head -5 | tr '\n' '|')"
	[ "$(printf '%s\n' "$OUT" | grep -c '=== Test Succeeded')" -ge 2 ] || why="$why; write/read or position test did not succeed"
	has 'We should be in file 3\. I am at file 3\. This is correct' || why="$why; append test: not at file 3 after EOD"
	has 'End Forward space files test' || why="$why; forward space file test incomplete"
	has 'Block re-read correct' || why="$why; write, backspace and re-read test did not succeed"
	has 'The test autochanger worked' || why="$why; autochanger test did not work"
	if [ -z "$why" ]; then
		pass "$name"
	else
		OUT="$why
(full transcript in ${log##*/})
$(printf '%s\n' "$OUT" | grep -Ei -B3 -A3 "$bad" | head -40)"
		fail "$name" "no part fails and no Device directive workaround is suggested"
	fi
}

# ------------------------------------------------- changer personality
# ibm_personality_checks: the CHAP vtld runs `changer = IBM-03584L32-0402`
# with tapes PER001L8 and PER002L8 in slots 1 and 2 (run-fast.sh). While
# chap_tests is logged in to it: the changer's INQUIRY is IBM's (IBM
# 03584L32 0402, ANSI version 3: IBM's 3584 layout), mtx reads the
# inventory with barcodes, and SEND VOLUME TAG (translate 05h, template
# PER002L8) then REQUEST VOLUME ELEMENT ADDRESS find the tape's slot.
ibm_personality_checks() {
	local sg="" line
	find_ibm_changer() {
		run 10 lsscsi -g
		line=$(printf '%s\n' "$OUT" | grep -E 'mediumx +IBM +03584L32 +0402' | head -n 1)
		sg=$(awk '{print $NF}' <<<"$line") # lsscsi ends the line with a blank
		[ -n "$line" ] && [ -c "$sg" ]
	}
	if ! wait_for 30 find_ibm_changer; then
		fail "IBM-03584L32-0402: lsscsi lists the changer as 'mediumx IBM 03584L32 0402'" \
			"a mediumx line with vendor IBM, product 03584L32, revision 0402 and its /dev/sg"
		unset -f find_ibm_changer
		return
	fi
	unset -f find_ibm_changer
	pass "IBM-03584L32-0402: lsscsi lists the changer as 'mediumx IBM 03584L32 0402' ($sg)"
	run 20 sg_inq "$sg"
	if [ "$RC" -eq 0 ] && has 'version=0x03' && has 'Vendor identification: IBM' &&
		has 'Product identification: 03584L32' && has 'Product revision level: 0402'; then
		pass "IBM-03584L32-0402: sg_inq shows IBM's 3584 standard INQUIRY (version 3, IBM 03584L32 0402)"
	else
		fail "IBM-03584L32-0402: sg_inq shows IBM's 3584 standard INQUIRY" "version=0x03 [SPC], IBM, 03584L32, 0402"
	fi
	# IBM's layout keeps byte 55 reserved (BarC is byte 6 bit 5), so
	# loaderinfo, which reads the Exabyte bit, says No, as for a real 3584.
	run 30 loaderinfo -f "$sg"
	if [ "$RC" -eq 0 ] && has 'Number of Storage Elements: 4' && has 'Bar Code Reader: No'; then
		pass "IBM-03584L32-0402: loaderinfo reads the element layout (4 slots) and IBM's INQUIRY"
	else
		fail "IBM-03584L32-0402: loaderinfo" "Number of Storage Elements: 4; Bar Code Reader: No"
	fi
	run 60 mtx -f "$sg" status
	if [ "$RC" -eq 0 ] && has 'Storage Element 1:Full *:VolumeTag *= *PER001L8' &&
		has 'Storage Element 2:Full *:VolumeTag *= *PER002L8'; then
		pass "IBM-03584L32-0402: mtx status reads PER001L8 and PER002L8 in slots 1 and 2"
	else
		fail "IBM-03584L32-0402: mtx status reads the barcodes" "Storage Element 1:Full :VolumeTag=PER001L8"
	fi
	printf 'PER002L8%24s\0\0\0\0\0\0\0\0' '' >/tmp/svt.bin
	run 20 sg_raw -s 40 -i /tmp/svt.bin "$sg" b6 00 00 00 00 05 00 00 00 28 00 00
	if [ "$RC" -eq 0 ]; then
		rm -f /tmp/rvea.bin
		run 20 sg_raw -r 512 -o /tmp/rvea.bin "$sg" b5 10 00 00 00 10 00 00 02 00 00 00
	fi
	if [ "$RC" -eq 0 ] && grep -aq PER002L8 /tmp/rvea.bin && ! grep -aq PER001L8 /tmp/rvea.bin; then
		pass "IBM-03584L32-0402: SEND VOLUME TAG (translate PER002L8) + REQUEST VOLUME ELEMENT ADDRESS find it"
	else
		fail "IBM-03584L32-0402: SEND VOLUME TAG + REQUEST VOLUME ELEMENT ADDRESS" \
			"sg_raw: GOOD, and the report shows PER002L8's storage element only"
	fi
	personality_suite "IBM-03584L32-0402 + IBM ULT3580-TD8" 'mediumx +IBM +03584L32' 'tape +IBM +ULT3580-TD8'
}

# aws_personality_tests: the third vtld (run-fast.sh) is an AWS Tape
# Gateway-like library: the AWS-Gateway-VTL changer with one HPE Ultrium 6
# drive and tapes AWS001L6 and AWS002L6 in slots 1 and 2. Log in (no
# CHAP), run personality_suite, log out. Run after every other session has
# logged out.
aws_personality_tests() {
	if [ -z "${E2E_AWS_PORTAL:-}" ]; then
		skip "AWS-Gateway-VTL + HPE Ultrium 6 personality" "no third vtld (it did not start)"
		return
	fi
	personality_session "AWS-Gateway-VTL" "AWS-Gateway-VTL + HPE Ultrium 6" "$E2E_AWS_PORTAL" "$E2E_AWS_IQN" \
		'mediumx +AWS +Gateway-VTL' 'tape +HP +Ultrium 6-SCSI'
}

# drive_personality_tests: every other drive personality, each on a vtld
# of its own that the host started (run-fast.sh, DRV_SPECS: one drive,
# 4 slots, two tapes of the drive's generation in slots 1 and 2). For
# each in turn: discovery, login, personality_suite, logout. A vtld the
# host could not start is a failure here too. Run after every other
# session has logged out.
drive_personality_tests() {
	local name v label portal iqn chg_re drv_re
	for name in ${E2E_DRV_LIST:-}; do
		v=E2E_DRV_${name}_LABEL; label=${!v}
		v=E2E_DRV_${name}_PORTAL; portal=${!v}
		v=E2E_DRV_${name}_IQN; iqn=${!v}
		v=E2E_DRV_${name}_CHG; chg_re=${!v}
		v=E2E_DRV_${name}_DRV; drv_re=${!v}
		if [ -z "$portal" ]; then
			RC=1 LAST_CMD="(host) vtld -c vtld-$name.conf" OUT="the host could not start it (host.tap, vtld-$name.log)"
			fail "$label: its vtld runs" "a vtld listening for the guest"
			continue
		fi
		personality_session "$label" "$label" "$portal" "$iqn" "$chg_re" "$drv_re"
	done
}

# personality_session NAME LABEL PORTAL IQN CHANGER-RE DRIVE-RE: discover
# and log in to the vtld at PORTAL (no CHAP), run personality_suite LABEL
# CHANGER-RE DRIVE-RE, log out. NAME names the vtld in the test names.
personality_session() {
	local name=$1 label=$2 P=$3 want=$4 chg_re=$5 drv_re=$6 iqn
	run 60 iscsiadm -m discovery -t sendtargets -p "$P"
	iqn=$(printf '%s\n' "$OUT" | awk -v p="$P" '$1 ~ "^"p"," {print $2; exit}')
	if [ "$RC" -ne 0 ] || [ "$iqn" != "$want" ]; then
		fail "$name vtld: SendTargets discovery via $P lists $want" "'$P,1 $want'"
		return
	fi
	run 60 iscsiadm -m node -T "$iqn" -p "$P" --login
	if [ "$RC" -ne 0 ]; then
		fail "$name vtld: login to $iqn" "iscsiadm: Login to [...] successful."
		return
	fi
	pass "$name vtld: login to $iqn"
	personality_suite "$label" "$chg_re" "$drv_re"
	run 60 iscsiadm -m node -T "$iqn" -p "$P" --logout
	check "$name vtld: logout" "Logout of [...] successful." [ "$RC" -eq 0 ]
}

# personality_suite LABEL CHANGER-RE DRIVE-RE: while logged in to a vtld
# with one drive and writable tapes in slots 1 and 2 (and no other session),
# the devices whose lsscsi lines match CHANGER-RE and DRIVE-RE (e.g.
# 'mediumx +AWS +Gateway-VTL') answer every tool a backup administrator
# points at a library: sg_inq -e, sg_vpd -a, sg_modes -a and sg_logs -a on
# both, loaderinfo, and with a tape loaded tapeinfo and sg_read_attr; then
# the tape round trip (mtx load, mt status, tar write, rewind, tar read,
# identical files, mt offline, mtx unload) and Bacula's btape test with its
# autochanger part through mtx-changer (issue 18: every personality passes
# mtx, mt, tar and btape).
personality_suite() {
	local label=$1 chg_re=$2 drv_re=$3 chg="" dsg="" dst="" line nst_dev saved_chg=${CHG_SG:-} saved_out=${MTX_OUT:-}
	find_devices() {
		run 10 lsscsi -g
		line=$(printf '%s\n' "$OUT" | grep -E "$chg_re" | head -n 1)
		chg=$(awk '{print $NF}' <<<"$line")
		line=$(printf '%s\n' "$OUT" | grep -E "$drv_re" | head -n 1)
		dsg=$(awk '{print $NF}' <<<"$line")
		dst=$(awk '{print $(NF-1)}' <<<"$line")
		[ -c "$chg" ] && [ -c "$dsg" ] && [ -c "$dst" ]
	}
	if ! wait_for 30 find_devices; then
		fail "$label: lsscsi lists the changer and the drive" "lines matching '$chg_re' and '$drv_re'"
		unset -f find_devices
		return
	fi
	unset -f find_devices
	pass "$label: lsscsi lists the changer ($chg) and the drive ($dst, $dsg)"
	nst_dev=/dev/n${dst#/dev/}
	local dev what
	# The drive's first command after the login that is not an INQUIRY
	# gets the unit attention 29/00 (SPC-4 6.4: the login is a reset of
	# the I_T nexus); st has not opened the drive yet to take it.
	run 20 sg_turs "$dsg"
	for dev in "$chg" "$dsg"; do
		[ "$dev" = "$chg" ] && what=changer || what=drive
		run 20 sg_inq -e "$dev"
		check "$label: sg_inq -e $what (VPD page 00h decoded)" "INQUIRY with EVPD, page 00h (SPC-4 7.8.13)" [ "$RC" -eq 0 ]
		run 30 sg_vpd -a "$dev"
		if [ "$RC" -eq 0 ] && has 'Unit serial number' && has 'Device Identification'; then
			pass "$label: sg_vpd -a $what (every VPD page it lists decodes)"
		else
			fail "$label: sg_vpd -a $what" "every page of VPD 00h answers, with 80h and 83h among them (SPC-4 7.8)"
		fi
		run 30 sg_modes -a "$dev"
		check "$label: sg_modes -a $what" "MODE SENSE(6) of all pages (SPC-4 6.11)" [ "$RC" -eq 0 ]
		run 30 sg_logs -a "$dev"
		check "$label: sg_logs -a $what" "LOG SENSE of every page that log page 00h lists (SPC-4 6.6)" [ "$RC" -eq 0 ]
	done
	# The drive personality's vendor VPD page C0h, through sg_vpd's own
	# decoder for the vendor (docs/scsi.md, "Vendor VPD pages").
	local vpd_vendor=hp_lto want_c0='Firmware'
	if [[ $drv_re == *IBM* ]]; then
		vpd_vendor=ibm_lto want_c0='Code name: vtl-'
	fi
	run 20 sg_vpd --vendor=$vpd_vendor -p 0xc0 "$dsg"
	if [ "$RC" -eq 0 ] && has "$want_c0"; then
		pass "$label: sg_vpd --vendor=$vpd_vendor -p 0xc0 drive (firmware page decoded)"
	else
		fail "$label: sg_vpd --vendor=$vpd_vendor -p 0xc0 drive" "'$want_c0' (vendor firmware VPD page C0h)"
	fi
	run 30 loaderinfo -f "$chg"
	if [ "$RC" -eq 0 ] && has 'Number of Storage Elements: ' && has 'Number of Data Transfer Elements: 1'; then
		pass "$label: loaderinfo reads the element layout (mode page 1Dh)"
	else
		fail "$label: loaderinfo" "Number of Data Transfer Elements: 1 (SMC-3 7.3.3)"
	fi

	CHG_SG=$chg
	mtx_do load 2 0
	if ! drive_full 0; then
		mtx_fail "$label: mtx load 2 0"
		CHG_SG=$saved_chg MTX_OUT=$saved_out
		return
	fi
	pass "$label: mtx load 2 0"
	wait_for 20 bash -c "mt -f $nst_dev status 2>/dev/null | grep -q ONLINE"
	run 30 mt -f "$nst_dev" status
	if [ "$RC" -eq 0 ] && has 'ONLINE'; then pass "$label: mt status (ONLINE)"; else fail "$label: mt status" "ONLINE"; fi
	run 30 tapeinfo -f "$dsg"
	if [ "$RC" -eq 0 ] && has '^Product Type: Tape Drive' && has '^Ready: yes'; then
		pass "$label: tapeinfo (INQUIRY, block limits, mode pages, TapeAlert)"
	else
		fail "$label: tapeinfo" "Product Type: Tape Drive; Ready: yes"
	fi
	run 20 sg_read_attr "$dsg"
	check "$label: sg_read_attr (medium auxiliary memory)" "READ ATTRIBUTE attribute values (SPC-4 6.17)" [ "$RC" -eq 0 ]
	run 20 sg_logs -p 0x17 "$dsg"
	if [ "$RC" -eq 0 ] && has 'Page valid: 1' && has 'Volume barcode: '; then
		pass "$label: sg_logs -p 0x17 (volume statistics of the loaded tape)"
	else
		fail "$label: sg_logs -p 0x17" "Page valid: 1 and the volume barcode (SSC-4 volume statistics log page)"
	fi
	local src=$WORK/pers-src dst_dir=$WORK/pers-dst
	rm -rf "$src" "$dst_dir"
	mkdir -p "$src" "$dst_dir"
	head -c $((3 * 1024 * 1024 + 4321)) /dev/urandom >"$src/a.bin"
	head -c 100000 /dev/urandom >"$src/b.bin"
	run 30 mt -f "$nst_dev" rewind
	runsh 120 "tar -C $src -b 128 -cf $nst_dev a.bin b.bin"
	check "$label: tar writes two files (64 KiB records)" "WRITE and WRITE FILEMARKS GOOD" [ "$RC" -eq 0 ]
	run 30 mt -f "$nst_dev" rewind
	runsh 120 "tar -C $dst_dir -b 128 -xf $nst_dev"
	if [ "$RC" -eq 0 ] && cmp -s "$src/a.bin" "$dst_dir/a.bin" && cmp -s "$src/b.bin" "$dst_dir/b.bin"; then
		pass "$label: tar reads them back identical"
	else
		fail "$label: tar reads them back identical" "the files written, byte for byte"
	fi
	run 60 mt -f "$nst_dev" offline
	check "$label: mt offline" "LOAD UNLOAD (unload) GOOD" [ "$RC" -eq 0 ]
	mtx_do unload 2 0
	if slot_full 2 && ! drive_full 0; then pass "$label: mtx unload 2 0"; else mtx_fail "$label: mtx unload 2 0"; fi

	mtx_do load 1 0
	if drive_full 0; then
		wait_for 20 bash -c "mt -f $nst_dev status 2>/dev/null | grep -q ONLINE"
		# 4 KiB blocks (a quarter of the data of the main btape run; the
		# parts tested are the same); whatever is left of the guest's
		# budget, less time to report.
		local up left
		read -r up _ </proc/uptime
		left=$((${E2E_BUDGET:-480} - ${up%.*} - 40))
		[ "$left" -lt 60 ] && left=60
		E2E_BTAPE_BLOCK=4096 btape_run \
			"$label: btape test passes every part (write/read, position, append at EOD, re-read, fsf, autochanger)" \
			"$nst_dev" "$chg" 0 "$left" "/e2e/btape-$(tr -c 'A-Za-z0-9' - <<<"$label" | cut -c1-60).log"
		run 60 mt -f "$nst_dev" offline
		mtx_do unload 1 0
	else
		mtx_fail "$label: mtx load 1 0 for btape"
	fi
	CHG_SG=$saved_chg MTX_OUT=$saved_out
}

# ------------------------------------------------------------------ CHAP
# chap_tests: against the second vtld the host started with CHAP secrets
# in its vtld.conf (E2E_CHAP_PORTAL; run-fast.sh): discovery (no discovery
# CHAP configured), a login without CHAP and one with a wrong secret
# refused, one-way CHAP, mutual CHAP (the target proves itself with
# mutual_user/mutual_secret), and a wrong target secret refused by the
# initiator. Run after the main session has logged out.
chap_tests() {
	local P=${E2E_CHAP_PORTAL:-} iqn
	if [ -z "$P" ]; then
		skip "CHAP login" "no CHAP vtld (E2E_CHAP=0 or it did not start)"
		return
	fi
	run 60 iscsiadm -m discovery -t sendtargets -p "$P"
	iqn=$(printf '%s\n' "$OUT" | awk -v p="$P" '$1 ~ "^"p"," {print $2; exit}')
	if [ "$RC" -eq 0 ] && [ "$iqn" = "$E2E_CHAP_IQN" ]; then
		pass "CHAP vtld: SendTargets discovery via $P lists $iqn"
	else
		fail "CHAP vtld: SendTargets discovery via $P lists $E2E_CHAP_IQN" "'$P,1 $E2E_CHAP_IQN'"
		return
	fi
	c_node() { run 10 iscsiadm -m node -T "$iqn" -p "$P" -o update -n "$1" -v "$2"; }
	c_no_session() { ! iscsiadm -m session 2>/dev/null | grep -q "$iqn"; }
	c_login() { run 60 iscsiadm -m node -T "$iqn" -p "$P" --login; }
	c_logout() { run 60 iscsiadm -m node -T "$iqn" -p "$P" --logout; }
	c_refused() { # NAME EXPECTED: the last login failed, fast, no session
		if [ "$RC" -ne 0 ] && [ "$RC" -ne 124 ] && c_no_session; then
			pass "$1"
		else
			[ "$RC" -eq 0 ] && c_logout
			fail "$1" "$2"
		fi
	}
	c_logged_in() { # NAME [HOOK]: the last login succeeded; run HOOK; then log out
		if [ "$RC" -eq 0 ] && iscsiadm -m session 2>/dev/null | grep -q "$iqn"; then
			pass "$1"
			[ $# -ge 2 ] && "$2"
			c_logout
			if [ "$RC" -eq 0 ] && c_no_session; then pass "$1: logout"; else fail "$1: logout"; fi
		else
			fail "$1" "iscsiadm: Login to [iface: default, target: $iqn, portal: $P] successful."
		fi
	}

	c_node node.session.auth.authmethod None
	c_login
	c_refused "CHAP vtld: a login without CHAP is refused" \
		"login status 0201 (authentication failure; RFC 7143 11.13.5): a target with a CHAP user requires AuthMethod=CHAP"

	c_node node.session.auth.authmethod CHAP
	c_node node.session.auth.username "$E2E_CHAP_USER"
	c_node node.session.auth.password "wrong-$E2E_CHAP_SECRET"
	c_login
	c_refused "CHAP vtld: a wrong CHAP secret is refused" \
		"login status 0201 (authentication failure): CHAP_R does not match"

	c_node node.session.auth.password "$E2E_CHAP_SECRET"
	c_login
	c_logged_in "CHAP vtld: one-way CHAP login (node.session.auth.username/password)" ibm_personality_checks

	c_node node.session.auth.username_in "$E2E_CHAP_MUSER"
	c_node node.session.auth.password_in "$E2E_CHAP_MSECRET"
	c_login
	c_logged_in "CHAP vtld: mutual CHAP login (username_in/password_in: the target proves itself)"

	c_node node.session.auth.password_in "wrong-$E2E_CHAP_MSECRET"
	c_login
	c_refused "CHAP vtld: mutual CHAP with a wrong target secret is refused by the initiator" \
		"iscsid rejects the target's CHAP_R and no session is left"
	unset -f c_node c_no_session c_login c_logout c_refused c_logged_in
}
