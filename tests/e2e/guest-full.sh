#!/bin/bash
# guest-full.sh - the slow end-to-end tier (tests/e2e/run-full.sh, on
# demand): what takes minutes under emulation.
#
#   mt weof on an empty drive through st: st's blocking open waits
#     ST_BLOCK_SECONDS (120 s) for a tape, then fails with ENOMEDIUM
#   Bacula `btape fill` on a small tape (E2F*, created small by the host):
#     writes to early warning and end of medium, then re-reads the last block
#   Amanda `amtapetype` on a tape of about 1 GB (E2A*): capacity found
#     consistent with the size the tape was created with
#
#   Amanda round trip through the changer (chg-robot, drive 2, slots 1-2):
#     amlabel, amdump of a small directory, amfetchdump and amrecover
#     restore the same bytes (amanda.conf written here)
#
# E2E_PARTS (default "weof fill amtapetype amanda") picks the parts to run.
. /e2e/env
. "$E2E_SRCDIR/tests/e2e/guest-lib.sh"

PARTS=" ${E2E_PARTS:-weof fill amtapetype amanda} "
part() { [[ $PARTS == *" $1 "* ]]; }
log "== guest-full on $(uname -r), portal $E2E_PORTAL, $(date)"
login_and_map
refresh

first_with_prefix() { # PREFIX: the first created barcode starting with it
	local t
	for t in $E2E_TAPES; do
		case $t in "$1"*) echo "$t"; return 0 ;; esac
	done
	return 1
}

# budget_left: seconds left of the guest's budget, less time to report.
budget_left() {
	local up _ left
	read -r up _ </proc/uptime
	left=$(( ${E2E_BUDGET:-1800} - ${up%.*} - 60 ))
	[ "$left" -lt 60 ] && left=60
	echo "$left"
}

# load BARCODE DRIVE: move the tape into the drive (remembering its slot in
# LOADED_FROM) and wait for the drive to come ONLINE.
load() {
	LOADED_FROM=$(slot_of "$1") || { RC=1 OUT="tape $1 is in no storage slot"; LAST_CMD="mtx status"; return 1; }
	run 120 mtx -f "$CHG_SG" load "$LOADED_FROM" "$2" || return 1
	wait_for 30 bash -c "mt -f $(nst "$2") status 2>/dev/null | grep -q ONLINE"
}
# unload DRIVE: eject the tape, then put it back where it came from.
unload() {
	run 60 mt -f "$(nst "$1")" offline
	run 120 mtx -f "$CHG_SG" unload "$LOADED_FROM" "$1"
	refresh
}

# ------------------------------------------------ empty drive through st
if part weof; then
D=$(nst 3)
run 200 mt -f "$D" weof 1
if [ "$RC" -ne 0 ] && [ "$RC" -ne 124 ] && has 'no medium'; then
	pass "empty drive: mt weof fails with 'No medium found' (after st's 120 s wait)"
else
	fail "empty drive: mt weof fails with 'No medium found' (after st's 120 s wait)" \
		"TEST UNIT READY keeps answering NOT READY 3A/00; st gives up after ST_BLOCK_SECONDS with ENOMEDIUM"
fi

fi

# ------------------------------------------------------------ btape fill
FILL=$(first_with_prefix E2F)
if ! part fill; then
	:
elif [ -z "$FILL" ]; then
	skip "btape fill" "no E2F tape created by the host"
elif ! load "$FILL" 0; then
	fail "mtx load $FILL for btape fill"
else
	pass "mtx load $FILL for btape fill"
	mkdir -p /var/lib/bacula /run/bacula
	cat >"$WORK/bacula-fill.conf" <<EOF
Storage {
  Name = e2e-sd
  WorkingDirectory = /var/lib/bacula
  Pid Directory = /run/bacula
  Plugin Directory = /usr/lib/bacula
  SDAddress = 127.0.0.1
}
Director {
  Name = e2e-dir
  Password = "e2e"
}
Messages {
  Name = Standard
  console = all
}
Device {
  Name = Drive-0
  Media Type = LTO
  Archive Device = $(nst 0)
  AutomaticMount = yes
  AlwaysOpen = yes
  RemovableMedia = yes
  RandomAccess = no
  Maximum File Size = 64MB
}
EOF
	runsh "$(budget_left)" "printf 'fill\\ns\\nquit\\n' | btape -c $WORK/bacula-fill.conf Drive-0 2>&1 | tee /e2e/btape-fill.log"
	bad='differs|Error writing|ERR=|Bad status|not correct'
	if [ "$RC" -eq 0 ] && has 'The last block on the tape matches\. Test succeeded' && ! has "$bad"; then
		pass "btape fill: writes to end of medium and re-reads the last block"
	else
		OUT="$(printf '%s\n' "$OUT" | grep -Ei -B2 -A2 "$bad|end of (volume|medium|tape)|matches" | head -30)"
		fail "btape fill: writes to end of medium and re-reads the last block" \
			"early warning then end of medium (VOLUME OVERFLOW, EOM 00/02), the block written last reads back (SSC-4 4.2.5)"
	fi
	unload 0
fi

# ------------------------------------------------------------ amtapetype
AMT=$(first_with_prefix E2A)
if ! part amtapetype; then
	:
elif [ -z "$AMT" ]; then
	skip "amtapetype" "no E2A tape created by the host"
elif ! load "$AMT" 1; then
	fail "mtx load $AMT for amtapetype"
else
	pass "mtx load $AMT for amtapetype"
	# Amanda runs as its dump user (backup, in group tape).
	chmod 666 "$(nst 1)"
	mkdir -p /var/log/amanda /var/lib/amanda /etc/amanda
	chown -R backup /var/log/amanda /var/lib/amanda
	runsh "$(budget_left)" "su -s /bin/sh backup -c 'amtapetype -f -t E2E-LTO tape:$(nst 1)' 2>&1 | tee /e2e/amtapetype.log"
	kb=$(printf '%s\n' "$OUT" | sed -n 's/^ *length \([0-9]*\) kbytes.*/\1/p' | head -1)
	want_kb=$(( ${E2E_AMT_BYTES:-1200000000} / 1024 ))
	if [ "$RC" -eq 0 ] && [ -n "$kb" ] && [ "$kb" -ge $((want_kb * 8 / 10)) ] && [ "$kb" -le $((want_kb * 11 / 10)) ]; then
		pass "amtapetype: length $kb kbytes for a tape of $want_kb KiB"
	else
		fail "amtapetype: capacity consistent with the tape" \
			"exit 0 and 'length N kbytes' within 80..110% of $want_kb KiB (end of medium at the created size)"
	fi
	unload 1
fi

# ------------------------------------------------ Amanda round trip
# The sample configuration users get (contrib/amanda/vtl): chg-robot on the
# changer's sg node (through mtx), here with drive 2 and slots 1-2 (E2E
# tapes); a GNU tar dump of a small directory, its disklist entry adding
# auth "local" (the server is its own client), straight to tape (no
# holding disk), indexed so that amrecover can browse it.
amanda_round_trip() {
	local C=/etc/amanda/vtl S=/var/lib/amanda/vtl SRC=$WORK/amanda-src
	local D2 drive=2
	D2=$(nst "$drive")
	refresh
	if [ -z "$(slot_tag 1)" ]; then
		RC=1 OUT="slot 1 is empty"
		fail "Amanda: a tape in slot 1 for amlabel"
		return
	fi
	chmod 666 "$CHG_SG" "$D2" "${TAPE_SG[$drive]}"
	umount "$SRC" 2>/dev/null
	rm -rf "$C" "$S" "$SRC"
	mkdir -p "$C" "$S/curinfo" "$S/index" "$S/log" "$SRC" /var/lib/amanda/gnutar-lists
	# The source on a file system of its own: on the guest's overlay root a
	# file reports the upper layer's st_dev and its directory the overlay's,
	# and Amanda's GNU tar (--one-file-system) would skip every file.
	mount -t tmpfs -o size=16m tmpfs "$SRC"
	mkdir -p "$SRC/sub/deeper"
	head -c 700000 /dev/urandom >"$SRC/random-700k"
	head -c 70000 /dev/urandom >"$SRC/sub/random-70k"
	cp /etc/services "$SRC/sub/deeper/services"
	: >"$SRC/empty"
	ln -s random-700k "$SRC/link"
	# No mail from the guest: amreport then prints the report.
	sed -e "s|chg-robot:/dev/sg4|chg-robot:$CHG_SG|" -e 's|^mailto .*|mailto ""|' \
		-e "s|^\(  property \"tape-device\" \).*|\1\"$drive=tape:$D2\"|" \
		-e "s|^\(  property \"use-slots\" \)\"[^\"]*\"|\1\"1-2\"|" \
		"$E2E_SRCDIR/contrib/amanda/vtl/amanda.conf" >"$C/amanda.conf"
	if ! grep -q "chg-robot:$CHG_SG\"" "$C/amanda.conf" ||
		! grep -q "\"$drive=tape:$D2\"\$" "$C/amanda.conf" || ! grep -q '"use-slots" "1-2"' "$C/amanda.conf"; then
		RC=1 OUT=$(cat "$C/amanda.conf")
		fail "Amanda: contrib/amanda/vtl/amanda.conf takes the guest's device nodes"
		return
	fi
	cat >"$C/disklist" <<EOF
localhost $SRC {
  vtl-tar
  auth "local"
  holdingdisk never
  estimate server
  record no
}
EOF
	chown -R backup "$C" "$S" /var/lib/amanda/gnutar-lists
	chmod -R a+rX "$SRC"
	as_backup() { runsh "$1" "su -s /bin/sh backup -c '$2' 2>&1"; }

	as_backup 300 "amlabel vtl VTL-01 slot 1"
	if [ "$RC" -eq 0 ] && has 'Success'; then
		pass "Amanda: amlabel vtl VTL-01 slot 1 (chg-robot loads slot 1 into drive $drive)"
	else
		fail "Amanda: amlabel vtl VTL-01 slot 1 (chg-robot loads slot 1 into drive $drive)" \
			"chg-robot moves the tape with mtx, amlabel writes and checks the label"
		return
	fi
	as_backup "$(budget_left)" "amdump vtl; echo amdump-exit=\$?; amreport vtl"
	if has '^amdump-exit=0' && has 'VTL-01 .* 1 +1' && ! has 'FAILED|STRANGE'; then
		pass "Amanda: amdump vtl writes the directory to VTL-01"
	else
		fail "Amanda: amdump vtl writes the directory to VTL-01" \
			"amdump exit 0; amreport: 1 DLE taped to VTL-01, nothing FAILED"
		return
	fi
	rm -rf "$WORK/am-fetch" "$WORK/am-rec"
	mkdir -p "$WORK/am-fetch/x" "$WORK/am-rec"
	chown backup "$WORK/am-fetch"
	as_backup 300 "cd $WORK/am-fetch && amfetchdump -a -p vtl localhost $SRC >dump.tar"
	local rc_f=$RC
	runsh 60 "tar -xf $WORK/am-fetch/dump.tar -C $WORK/am-fetch/x && diff -r --no-dereference $SRC $WORK/am-fetch/x"
	if [ "$rc_f" -eq 0 ] && [ "$RC" -eq 0 ]; then
		pass "Amanda: amfetchdump restores the same bytes (diff -r)"
	else
		fail "Amanda: amfetchdump restores the same bytes (diff -r)" "the dump image read back from tape, identical files"
	fi
	runsh 300 "cd $WORK/am-rec && printf 'sethost localhost\nsetdisk $SRC\nadd .\nextract\nY\nY\nquit\n' | amrecover vtl -s localhost -t localhost -o auth=local 2>&1"
	local rc_r=$RC
	runsh 60 "diff -r --no-dereference $SRC $WORK/am-rec"
	if [ "$rc_r" -eq 0 ] && [ "$RC" -eq 0 ]; then
		pass "Amanda: amrecover (index browse, add ., extract) restores the same bytes"
	else
		fail "Amanda: amrecover (index browse, add ., extract) restores the same bytes" \
			"amindexd lists the dump, amidxtaped reads it through chg-robot, identical files"
	fi
	cp -r "$S/log" /e2e/amanda-log 2>/dev/null
	run 120 mtx -f "$CHG_SG" status
	refresh
	drive_full "$drive" && run 120 mtx -f "$CHG_SG" unload 1 "$drive"
	unset -f as_backup
}
part amanda && amanda_round_trip

run 60 iscsiadm -m node --logoutall=all
stop_iscsid
finish
