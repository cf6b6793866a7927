#!/bin/bash
# guest-fast.sh - the fast end-to-end tier, run inside the QEMU guest by
# tests/e2e/init (through run-fast.sh). It plays the Linux host a backup
# administrator has: open-iscsi logs into vtld, st/ch/sg attach, and the
# standard tools run against the devices:
#
#   iscsiadm discovery + login through 10.0.2.2 (the address the guest sees)
#   lsscsi, /proc/scsi/scsi, sg_inq, sg_vpd, sg_turs, sg_logs, sg_modes,
#   sg_read_attr
#   an empty drive: NOT READY / MEDIUM NOT PRESENT at once, never a hang
#   mtx status / load / unload / transfer / export to the import/export slot
#   mt status rewind weof fsf bsf fsr bsr eod tell seek setblk compression
#   erase, dd and tar round trips with checksums
#   mtx eepos 0 transfer: import from the import/export slot; eepos 1
#   Bacula btape test (with its autochanger part through mtx-changer)
#   CHAP against a second vtld: one-way and mutual login, wrong secrets
#   refused (chap_tests, guest-lib.sh); the IBM-03584L32-0402 changer
#   there, and the AWS-Gateway-VTL changer with an HPE drive on a third
#   vtld, and every other drive personality on a vtld of its own
#   (drive_personality_tests), each through sg_inq/sg_vpd/sg_modes/sg_logs/
#   loaderinfo/tapeinfo/sg_read_attr, mtx, mt, tar and btape
#   (personality_suite, guest-lib.sh)
#
# Which tape goes where (slots as created by the host, first tape in slot 1):
#   slot 1 -> drive 0 (/dev/nst0) for btape, whose autochanger test wants
#             a writable tape in slot 1;
#   slot 2 -> drive 1 (/dev/nst1) for mt, dd and tar;
#   slot 3 -> slot-to-slot transfers; slot 4 -> drive 2 with mt offline
#   first; slot 5's tape is sent to the shelf and brought back into the
#   first import/export element by the host, then imported into slot 5;
#   the last tape -> the import/export slot (leaves the library);
#   the WORM tape $E2E_WORM (after the others) -> drive 1 for tar appends
#   and a refused overwrite;
#   the tape $E2E_ENC -> drive 1 for drive encryption with Debian's stenc.
#
# Expected behaviour is cited from SSC-4 / SMC-3 / SPC-4 and from what the
# Linux st driver needs (Documentation/scsi/st.rst).
. /e2e/env
. "$E2E_SRCDIR/tests/e2e/guest-lib.sh"

PORTAL=$E2E_PORTAL
log "== guest-fast on $(uname -r), portal $PORTAL, $(date)"

login_and_map

# Debian's kernel has no /proc/scsi/scsi (CONFIG_SCSI_PROC_FS unset);
# lsscsi -c prints the same listing from sysfs.
if [ -e /proc/scsi/scsi ]; then run 5 cat /proc/scsi/scsi; else run 10 lsscsi -c; fi
if has 'Type: +Medium Changer' && has 'Type: +Sequential-Access'; then
	pass "$LAST_CMD lists the changer and the drives"
else
	fail "$LAST_CMD lists the changer and the drives"
fi

# ------------------------------------------------------- inquiry and VPD
inq_check() { # DEV PDT WHAT
	run 20 sg_inq "$1"
	if [ "$RC" -eq 0 ] && has "PDT=$2( |$)"; then
		pass "sg_inq $1 ($3): PDT=$2"
	else
		fail "sg_inq $1 ($3): PDT=$2" "standard INQUIRY data with peripheral device type $2 (SPC-4 6.6.2)"
	fi
	if [ "$RC" -eq 0 ] && has 'RMB=1'; then
		pass "sg_inq $1 ($3): removable medium (RMB=1)"
	else
		fail "sg_inq $1 ($3): removable medium (RMB=1)" "RMB=1 for a tape drive and a changer (SPC-4 6.6.2)"
	fi
}
inq_check "$CHG_SG" 8 changer
for i in "${!TAPE_SG[@]}"; do
	inq_check "${TAPE_SG[$i]}" 1 "empty drive $i"
done

declare -A SERIALS=()
for dev in "$CHG_SG" "${TAPE_SG[@]}"; do
	run 20 sg_vpd -p sn "$dev"
	sn=$(printf '%s\n' "$OUT" | sed -n 's/^ *Unit serial number: *//p')
	if [ "$RC" -eq 0 ] && [ -n "$sn" ]; then
		pass "sg_vpd -p sn $dev: serial '$sn'"
		SERIALS[$sn]+="$dev "
	else
		fail "sg_vpd -p sn $dev" "VPD page 80h with a non-empty PRODUCT SERIAL NUMBER (SPC-4 7.8.15)"
	fi
	run 20 sg_vpd -p di "$dev"
	if [ "$RC" -eq 0 ] && has 'designator type'; then
		pass "sg_vpd -p di $dev: device identification"
	else
		fail "sg_vpd -p di $dev" "VPD page 83h with at least one designator (SPC-4 7.8.6)"
	fi
done
dups=$(for s in "${!SERIALS[@]}"; do set -- ${SERIALS[$s]}; [ $# -gt 1 ] && echo "$s: $*"; done)
if [ -z "$dups" ]; then
	pass "every device has its own serial number"
else
	RC=0 OUT=$dups LAST_CMD="sg_vpd -p sn (all devices)"
	fail "every device has its own serial number" "distinct unit serial numbers"
fi

# -------------------------------------------------- an empty drive answers
D=$(nst 0)
# The first command on a LUN after login gets the power-on UNIT ATTENTION
# (29/00, SPC-4 5.14); an initiator clears it by repeating the command.
run 20 sg_turs "${TAPE_SG[0]}"
[ "$RC" -eq 6 ] && run 20 sg_turs "${TAPE_SG[0]}"
if [ "$RC" -eq 2 ] && has 'not present|not ready'; then
	pass "empty drive: TEST UNIT READY gives NOT READY, MEDIUM NOT PRESENT"
else
	fail "empty drive: TEST UNIT READY gives NOT READY, MEDIUM NOT PRESENT" \
		"CHECK CONDITION, NOT READY, ASC/ASCQ 3A/00 (SPC-4 6.37, SSC-4 4.2.3); sg_turs exit 2"
fi
run 20 mt -f "$D" status
if [ "$RC" -ne 124 ] && { [ "$RC" -eq 0 ] || has 'no medium|not ready'; }; then
	pass "empty drive: mt status answers at once"
else
	fail "empty drive: mt status answers at once" "a status (DR_OPEN) or 'No medium found' within seconds"
fi
# A command that needs a medium gets NOT READY at once. (Through st this
# takes 120 s: a blocking open waits ST_BLOCK_SECONDS for a tape to load
# whatever the target says, then fails with ENOMEDIUM; the full tier runs
# `mt weof` itself. Here the target's answer is checked through sg.)
run 20 sg_raw -v "${TAPE_SG[0]}" 10 00 00 00 01 00
if [ "$RC" -ne 0 ] && [ "$RC" -ne 124 ] && has 'not ready' && has 'medium not present'; then
	pass "empty drive: WRITE FILEMARKS gets NOT READY, MEDIUM NOT PRESENT at once"
else
	fail "empty drive: WRITE FILEMARKS gets NOT READY, MEDIUM NOT PRESENT at once" \
		"CHECK CONDITION, NOT READY, 3A/00 within seconds (SSC-4 4.2.3); never a hang"
fi
run 20 sg_raw -v -r 512 "${TAPE_SG[0]}" 08 00 00 02 00 00
if [ "$RC" -ne 0 ] && [ "$RC" -ne 124 ] && has 'not ready' && has 'medium not present'; then
	pass "empty drive: READ(6) gets NOT READY, MEDIUM NOT PRESENT at once"
else
	fail "empty drive: READ(6) gets NOT READY, MEDIUM NOT PRESENT at once" "CHECK CONDITION, NOT READY, 3A/00"
fi
run 20 sg_turs "$CHG_SG"
run 10 iscsiadm -m session -P 1
if has 'iSCSI Session State: LOGGED_IN' && [ -e "$CHG_SG" ]; then
	pass "empty drive: the session survives (changer still answers)"
else
	fail "empty drive: the session survives (changer still answers)" \
		"the connection stays up after errors on an empty drive (tgt drops it on sg_inq)"
fi

# ------------------------------------------------------------------ mtx
MTX="mtx -f $CHG_SG"
refresh
if [ "$RC" -eq 0 ]; then pass "mtx status"; else fail "mtx status"; fi
hdr=$(printf '%s\n' "$MTX_OUT" | grep 'Storage Changer')
want_slots=$((${E2E_SLOTS:-40} + ${E2E_IE:-4}))
if printf '%s\n' "$hdr" | grep -q ":$want_tapes Drives, $want_slots Slots ( ${E2E_IE:-4} Import/Export )"; then
	pass "mtx status: $want_tapes drives, ${E2E_SLOTS:-40} slots + ${E2E_IE:-4} import/export"
else
	fail "mtx status: $want_tapes drives, ${E2E_SLOTS:-40} slots + ${E2E_IE:-4} import/export" \
		"header ':$want_tapes Drives, $want_slots Slots ( ${E2E_IE:-4} Import/Export )' (READ ELEMENT STATUS, SMC-3 6.11; MODE SENSE 1Dh element address assignment)"
fi
missing=""
for t in $E2E_TAPES; do
	printf '%s\n' "$MTX_OUT" | grep -q "VolumeTag *= *$t\b" || missing="$missing $t"
done
if [ -z "$missing" ]; then
	pass "mtx status shows every created tape by barcode"
else
	fail "mtx status shows every created tape by barcode" "VolumeTag for:$missing (PVOLTAG, SMC-3 6.11.3)"
fi
empty_drives=$(printf '%s\n' "$MTX_OUT" | grep -c '^Data Transfer Element [0-9]*:Empty')
if [ "$empty_drives" -eq "$want_tapes" ]; then
	pass "mtx status: every drive empty at start"
else
	fail "mtx status: every drive empty at start"
fi
run 60 mtx -f "$CHG_CH" status
if [ "$RC" -eq 0 ] && has 'Storage Changer'; then
	pass "mtx through the ch driver node ($CHG_CH)"
else
	fail "mtx through the ch driver node ($CHG_CH)"
fi

ntapes=$(echo $E2E_TAPES | wc -w)
T1=$(slot_tag 1)
T2=$(slot_tag 2)

# mtx load: slot 2 into drive 1, then the drive must come ready at BOT.
D1=$(nst 1)
mtx_do load 2 1
if drive_full 1 && [ "$(drive_tag 1)" = "$T2" ] && ! slot_full 2; then
	pass "mtx load 2 1: drive 1 holds $T2, slot 2 empty"
else
	mtx_fail "mtx load 2 1: drive 1 holds $T2, slot 2 empty" "MOVE MEDIUM slot->drive (SMC-3 6.6); status shows it"
fi
wait_for 20 bash -c "mt -f $D1 status 2>/dev/null | grep -q ONLINE"
run 30 mt -f "$D1" status
if has 'ONLINE' && has 'BOT'; then
	pass "drive 1 ($D1) is ONLINE at BOT after the load"
else
	fail "drive 1 ($D1) is ONLINE at BOT after the load" \
		"TEST UNIT READY GOOD (after one UNIT ATTENTION 28/00), READ POSITION at BOP"
	for i in "${!TAPE_ST[@]}"; do
		mt -f "$(nst "$i")" status 2>/dev/null | grep -q ONLINE && note "the tape came up in $(nst "$i") instead: the drive element order does not follow the LUN order"
	done
fi

# sg_logs, sg_modes, sg_read_attr on a drive with a tape.
S1=${TAPE_SG[1]}
run 20 sg_logs "$S1"
if [ "$RC" -eq 0 ] && has 'Supported log pages'; then
	pass "sg_logs $S1: supported log pages"
else
	fail "sg_logs $S1: supported log pages" "LOG SENSE page 00h (SPC-4 7.3.18)"
fi
for pg in 0x0c 0x2e; do
	run 20 sg_logs -p "$pg" "$S1"
	if [ "$RC" -eq 0 ]; then
		pass "sg_logs -p $pg $S1"
	else
		fail "sg_logs -p $pg $S1" "log page $pg (0Ch sequential-access device, 2Eh TapeAlert; SSC-4 8.2)"
	fi
done
run 20 sg_modes -a "$S1"
if [ "$RC" -eq 0 ]; then pass "sg_modes -a $S1"; else fail "sg_modes -a $S1" "MODE SENSE(6) all pages (SPC-4 6.11)"; fi
for pg in 0x0f 0x10; do
	run 20 sg_modes -p "$pg" "$S1"
	if [ "$RC" -eq 0 ] && has "$(printf '%x' "$pg")"; then
		pass "sg_modes -p $pg $S1"
	else
		fail "sg_modes -p $pg $S1" "mode page $pg (0Fh data compression, 10h device configuration; SSC-4 8.3)"
	fi
done
# LTO statistics and vendor log pages, the control data protection mode
# page and READ BUFFER's descriptor mode (docs/scsi.md).
for pg in 0x14 0x32; do
	run 20 sg_logs -p "$pg" "$S1"
	if [ "$RC" -eq 0 ]; then
		pass "sg_logs -p $pg $S1"
	else
		fail "sg_logs -p $pg $S1" "log page $pg (14h device statistics, 32h data compression)"
	fi
done
run 20 sg_modes -p 0x0a,0xf0 "$S1"
if [ "$RC" -eq 0 ]; then pass "sg_modes -p 0x0a,0xf0 $S1 (control data protection)"; else fail "sg_modes -p 0x0a,0xf0 $S1" "SSC-4 control data protection mode page"; fi
run 20 sg_raw -r 4 "$S1" 3c 03 00 00 00 00 00 00 04 00
if [ "$RC" -eq 0 ] && has '00 01 00 00'; then
	pass "READ BUFFER descriptor (sg_raw) $S1: capacity 65536"
else
	fail "READ BUFFER descriptor (sg_raw) $S1" "00 01 00 00: offset boundary 0, capacity 65536 (SPC-4 6.15.5)"
fi
# Not sg_read_buffer: Debian 12's (sg3-utils 1.46) puts an allocation
# length of 0 in every READ BUFFER CDB whatever -l says (its -vvv shows
# "3c 03 00 00 00 00 00 00 00 00"), so the drive rightly returns nothing.
run 20 sg_modes -p 0x1d "$CHG_SG"
if [ "$RC" -eq 0 ]; then pass "sg_modes -p 0x1d $CHG_SG (element address assignment)"; else fail "sg_modes -p 0x1d $CHG_SG" "SMC-3 7.3.3"; fi
# mtx's loaderinfo: mode pages 1Dh-1Fh and the barcode reader (INQUIRY
# byte 55 bit 0, the Exabyte extension it reads) of the STK-L700 changer.
run 30 loaderinfo -f "$CHG_SG"
if [ "$RC" -eq 0 ] && has 'Bar Code Reader: Yes' && has "Number of Storage Elements: $E2E_SLOTS" &&
	has "Number of Data Transfer Elements: $E2E_DRIVES"; then
	pass "loaderinfo $CHG_SG: barcode reader, $E2E_SLOTS slots, $E2E_DRIVES drives"
else
	fail "loaderinfo $CHG_SG" "Bar Code Reader: Yes; Number of Storage Elements: $E2E_SLOTS; Number of Data Transfer Elements: $E2E_DRIVES"
fi
run 20 sg_read_attr "$S1"
if [ "$RC" -eq 0 ]; then
	pass "sg_read_attr $S1 (medium auxiliary memory)"
	has "$T2" || note "sg_read_attr: barcode $T2 not among the attributes (BARCODE 0806h, SPC-4 7.4.2.5)"
else
	fail "sg_read_attr $S1 (medium auxiliary memory)" "READ ATTRIBUTE attribute values (SPC-4 6.17)"
fi
run 20 sg_read_attr -s 0x5 "$S1" 2>/dev/null
if [ "$RC" -eq 0 ]; then pass "sg_read_attr -s 0x5 (supported attributes)"; else fail "sg_read_attr -s 0x5 (supported attributes)" "READ ATTRIBUTE service action 05h (SPC-4 6.17)"; fi

# -------------------------------------------------------- mt, dd and tar
mkdata() { head -c "$2" /dev/urandom >"$WORK/$1"; }
sum() { sha256sum <"$1" | cut -d' ' -f1; }
# 64 KiB records; C ends on a short record.
mkdata A $((16 * 65536))
mkdata B $((40 * 65536))
mkdata C $((10 * 65536 + 1000))
mkdata D $((3 * 65536))

tape_ok() { # NAME EXPECTED: pass when $RC is 0
	if [ "$RC" -eq 0 ]; then pass "$1"; else fail "$1" "$2"; fi
}
# read_file NAME: read one file (up to its filemark) into $WORK/r.NAME
read_into() { runsh 60 "dd if=$D1 of=$WORK/r.$1 bs=64k"; }
same() { # NAME WHAT: compare $WORK/r.NAME with $WORK/WHAT
	if [ -f "$WORK/r.$1" ] && [ "$(sum "$WORK/r.$1")" = "$(sum "$WORK/$2")" ]; then
		pass "$3"
	else
		RC=$RC OUT="read $(stat -c %s "$WORK/r.$1" 2>/dev/null) bytes, want $(stat -c %s "$WORK/$2"); last: $OUT"
		fail "$3" "the bytes written, read back identical"
	fi
}

run 30 mt -f "$D1" setblk 0
tape_ok "mt setblk 0 (variable-length records)" "MODE SELECT block length 0 (SSC-4 8.3)"
run 60 mt -f "$D1" rewind
tape_ok "mt rewind" "REWIND GOOD"
for f in A B C; do
	runsh 120 "dd if=$WORK/$f of=$D1 bs=64k"
	tape_ok "dd write file $f (64 KiB records) then filemark on close" "WRITE(6) variable + WRITE FILEMARKS"
done
run 30 mt -f "$D1" tell
if has '^At block 70\.'; then
	pass "mt tell after 3 files is block 70"
else
	fail "mt tell after 3 files is block 70" "READ POSITION: 16+1+40+1+11+1 = 70 logical objects (SSC-4 7.7: filemarks count as blocks)"
fi
run 60 mt -f "$D1" rewind
for f in A B C; do
	read_into "$f"
	same "$f" "$f" "dd read back file $f identical"
done
# Reading at EOD: 0 bytes, not an error that hangs.
run 30 dd if="$D1" of=/dev/null bs=64k count=1
run 30 mt -f "$D1" status
tape_ok "mt status at end of data" "status after reading into EOD (BLANK CHECK 00/05)"

run 60 mt -f "$D1" rewind
run 60 mt -f "$D1" fsf 2
tape_ok "mt fsf 2" "SPACE filemarks 2 (SSC-4 7.9)"
run 10 mt -f "$D1" status
has 'File number=2, block number=0' || note "after fsf 2, mt status says: $(echo "$OUT" | grep 'File number')"
read_into C2
same C2 C "fsf 2 lands on file C"

run 60 mt -f "$D1" rewind
run 60 mt -f "$D1" fsf 1
run 30 mt -f "$D1" fsr 2
tape_ok "mt fsr 2" "SPACE blocks 2"
run 30 mt -f "$D1" bsr 1
tape_ok "mt bsr 1" "SPACE blocks -1"
read_into Btail
tail -c $((39 * 65536)) "$WORK/B" >"$WORK/Btail"
same Btail Btail "fsf 1, fsr 2, bsr 1 reads B from its second record"

run 60 mt -f "$D1" rewind
run 60 mt -f "$D1" fsf 2
run 60 mt -f "$D1" bsf 2
tape_ok "mt bsf 2" "SPACE filemarks -2: stops on the BOP side of the filemark after A"
run 60 mt -f "$D1" fsf 1
read_into B2
same B2 B "fsf 2, bsf 2, fsf 1 lands on file B"

run 60 mt -f "$D1" rewind
run 60 mt -f "$D1" fsf 1
run 30 mt -f "$D1" tell
if has '^At block 17\.'; then pass "mt tell at file B is block 17"; else fail "mt tell at file B is block 17" "READ POSITION after 16 records + 1 filemark"; fi
run 60 mt -f "$D1" rewind
run 60 mt -f "$D1" seek 17
tape_ok "mt seek 17" "LOCATE(10) to logical object 17 (SSC-4 7.4)"
read_into B3
same B3 B "seek 17 lands on file B"

# A read with a buffer smaller than the record: ENOMEM from st, not data.
run 60 mt -f "$D1" rewind
run 30 dd if="$D1" of=/dev/null bs=1k count=1
if [ "$RC" -ne 0 ] && has 'cannot allocate memory'; then
	pass "reading a 64 KiB record into 1 KiB fails with ENOMEM (ILI, negative residue)"
else
	fail "reading a 64 KiB record into 1 KiB fails with ENOMEM (ILI, negative residue)" \
		"CHECK CONDITION with ILI=1, VALID=1, INFORMATION = -63 KiB (SSC-4 7.6.2); st returns ENOMEM"
fi

# Append at end of data: the test tgt fails (and so btape's append test).
run 60 mt -f "$D1" rewind
run 60 mt -f "$D1" eod
tape_ok "mt eod" "SPACE to end-of-data (SSC-4 7.9, code 011b)"
run 30 mt -f "$D1" tell
if has '^At block 70\.'; then pass "mt tell at EOD is block 70"; else fail "mt tell at EOD is block 70"; fi
runsh 60 "dd if=$WORK/D of=$D1 bs=64k"
tape_ok "append file D at end of data" "WRITE at EOD"
run 60 mt -f "$D1" rewind
run 60 mt -f "$D1" fsf 3
read_into D
same D D "file D appended after C reads back"
run 60 mt -f "$D1" rewind
run 60 mt -f "$D1" fsf 2
read_into C3
same C3 C "file C is intact after the append"

# weof, and overwrite in the middle discards what follows.
run 60 mt -f "$D1" rewind
run 60 mt -f "$D1" fsf 1
run 30 mt -f "$D1" weof 1
tape_ok "mt weof in the middle of the tape" "WRITE FILEMARKS(6) 1"
run 60 mt -f "$D1" eod
run 30 mt -f "$D1" tell
if has '^At block 18\.'; then
	pass "writing at file B discards the rest: EOD at block 18"
else
	fail "writing at file B discards the rest: EOD at block 18" "a write (or filemark) in the middle makes it the new end of data (SSC-4 4.2.6)"
fi

# Fixed-block mode and compression, then back to variable.
run 30 mt -f "$D1" setblk 32768
tape_ok "mt setblk 32768 (fixed blocks)" "MODE SELECT block descriptor block length 32768"
runsh 60 "dd if=$WORK/B of=$D1 bs=64k"
tape_ok "dd write in fixed-block mode" "WRITE(6) FIXED=1, 2 blocks per 64 KiB"
run 60 mt -f "$D1" rewind
run 60 mt -f "$D1" fsf 2
runsh 60 "dd if=$D1 of=$WORK/r.Bfixed bs=32k"
same Bfixed B "fixed-block file reads back with 32 KiB reads"
run 30 mt -f "$D1" setblk 0
run 30 mt -f "$D1" compression 1
tape_ok "mt compression 1" "MODE SELECT data compression page 0Fh DCE=1 (SSC-4 8.3.2)"
run 30 mt -f "$D1" compression 0
tape_ok "mt compression 0" "MODE SELECT data compression page 0Fh DCE=0"

# tar: two archives, listed and extracted, compared byte for byte.
rm -rf "$WORK/t1" "$WORK/t2" "$WORK/x1" "$WORK/x2"
mkdir -p "$WORK/t1/sub" "$WORK/t2" "$WORK/x1" "$WORK/x2"
: >"$WORK/t1/empty"
printf x >"$WORK/t1/one"
head -c 10000 /dev/urandom >"$WORK/t1/sub/ten-k"
head -c 1048576 /dev/urandom >"$WORK/t1/sub/one-m"
head -c 3000000 /dev/urandom >"$WORK/t2/three-m"
cp /etc/services "$WORK/t2/text"
run 60 mt -f "$D1" rewind
runsh 120 "tar -cf $D1 -b 128 -C $WORK/t1 ."
tape_ok "tar -c archive 1 to $D1" "tar writes 64 KiB records"
runsh 120 "tar -cf $D1 -b 128 -C $WORK/t2 ."
tape_ok "tar -c archive 2 after it" "tar appends after the filemark"
run 60 mt -f "$D1" rewind
runsh 120 "tar -tvf $D1 -b 128"
if [ "$RC" -eq 0 ] && has 'sub/one-m'; then pass "tar -t lists archive 1"; else fail "tar -t lists archive 1"; fi
run 60 mt -f "$D1" rewind
runsh 120 "tar -xf $D1 -b 128 -C $WORK/x1"
tape_ok "tar -x archive 1" "tar reads it back"
run 60 mt -f "$D1" fsf 1
runsh 120 "tar -xf $D1 -b 128 -C $WORK/x2"
tape_ok "mt fsf 1, tar -x archive 2" "tar reads the second archive"
runsh 30 "diff -r $WORK/t1 $WORK/x1 && diff -r $WORK/t2 $WORK/x2"
tape_ok "tar round trip: both trees identical" "identical files"

# erase: afterwards the tape is blank from BOT.
run 60 mt -f "$D1" rewind
run 300 mt -f "$D1" erase
tape_ok "mt erase" "ERASE(6) LONG=1 from BOP (SSC-4 7.3)"
run 60 mt -f "$D1" rewind
runsh 30 "dd if=$D1 bs=64k count=1 2>&1 | tail -3"
if has '^0\+0 records in' || [ "$RC" -ne 0 ]; then
	pass "after erase, reading at BOT finds no data"
else
	fail "after erase, reading at BOT finds no data" "BLANK CHECK, EOD (00/05) at BOP"
fi
run 30 mt -f "$D1" eod
run 30 mt -f "$D1" tell
if has '^At block 0\.'; then pass "after erase, EOD is block 0"; else fail "after erase, EOD is block 0"; fi

# --------------------------------------------- unload, transfer, export
mtx_do unload 2 1
if [ "$RC" -eq 0 ] && ! drive_full 1 && [ "$(slot_tag 2)" = "$T2" ]; then
	pass "mtx unload 2 1 (without mt offline first): $T2 back in slot 2"
else
	mtx_fail "mtx unload 2 1 (without mt offline first): $T2 back in slot 2" \
		"MOVE MEDIUM drive->slot unloads the drive itself (Bacula's mtx-changer does not eject first)"
fi
if [ "$ntapes" -ge 4 ]; then
	D2=$(nst 2)
	T4=$(slot_tag 4)
	mtx_do load 4 2
	wait_for 20 bash -c "mt -f $D2 status 2>/dev/null | grep -q ONLINE"
	run 60 mt -f "$D2" offline
	tape_ok "mt offline on drive 2 ($D2)" "LOAD UNLOAD LOAD=0 (SSC-4 7.2)"
	mtx_do unload 4 2
	if [ "$RC" -eq 0 ] && ! drive_full 2 && [ "$(slot_tag 4)" = "$T4" ]; then
		pass "mt offline then mtx unload 4 2: $T4 back in slot 4"
	else
		mtx_fail "mt offline then mtx unload 4 2: $T4 back in slot 4" "MOVE MEDIUM from a drive that ejected the tape"
	fi
fi
T3=$(slot_tag 3)
if [ -n "$T3" ]; then
	last=${E2E_SLOTS:-40}
	mtx_do transfer 3 "$last"
	if [ "$RC" -eq 0 ] && ! slot_full 3 && [ "$(slot_tag "$last")" = "$T3" ]; then
		pass "mtx transfer 3 $last"
	else
		mtx_fail "mtx transfer 3 $last" "MOVE MEDIUM slot->slot"
	fi
	mtx_do transfer "$last" 3
	if [ "$RC" -eq 0 ] && [ "$(slot_tag 3)" = "$T3" ]; then pass "mtx transfer $last 3 (back)"; else mtx_fail "mtx transfer $last 3 (back)"; fi
	T4b=$(slot_tag 4)
	mtx_do transfer 3 4
	if [ "$RC" -ne 0 ] && [ "$(slot_tag 3)" = "$T3" ] && [ "$(slot_tag 4)" = "$T4b" ]; then
		pass "mtx transfer to a full slot fails and leaves the tape in place"
	else
		mtx_fail "mtx transfer to a full slot fails and leaves the tape in place" "ILLEGAL REQUEST, MEDIUM DESTINATION ELEMENT FULL 3B/0D (SMC-3 6.6)"
	fi
fi
# Import: the host brought tape $E2E_IMPORT back from the shelf into the
# first import/export element (RETRIEVED); `mtx eepos 0 transfer` moves it
# into slot 5 (MOVE MEDIUM I/E -> slot; eepos 0 leaves the CONTROL byte 0).
if [ -n "${E2E_IMPORT:-}" ]; then
	if mtx_match "^ *Storage Element ([0-9]+) IMPORT/EXPORT:Full *:VolumeTag *= *$E2E_IMPORT( |$)"; then
		ie_in=${MATCH[1]}
		pass "mtx status: $E2E_IMPORT waits in import/export element $ie_in"
		mtx_do eepos 0 transfer "$ie_in" 5
		if [ "$RC" -eq 0 ] && [ "$(slot_tag 5)" = "$E2E_IMPORT" ] && ! slot_full "$ie_in"; then
			pass "mtx eepos 0 transfer $ie_in 5: $E2E_IMPORT imported into slot 5"
			echo "$E2E_IMPORT" >/e2e/imported
		else
			mtx_fail "mtx eepos 0 transfer $ie_in 5: $E2E_IMPORT imported into slot 5" \
				"MOVE MEDIUM I/E element -> empty slot (SMC-3 6.6); the import/export element is empty afterwards"
		fi
	else
		RC=1 OUT=$(printf '%s\n' "$MTX_OUT" | grep -E 'IMPORT/EXPORT')
		fail "mtx status: $E2E_IMPORT waits in an import/export element" \
			"'Storage Element N IMPORT/EXPORT:Full :VolumeTag=$E2E_IMPORT' (vtlctl tape retrieve puts it in ie:1)"
	fi
	# eepos 1/2 set the vendor-specific bits 7-6 of MOVE MEDIUM's CONTROL
	# byte (mtx: CDB[11] = eepos << 6; tray extend/retract on some
	# libraries). Either vtld moves the tape or refuses the CDB cleanly
	# (ILLEGAL REQUEST, INVALID FIELD IN CDB); never a hang or a lost tape.
	T5=$(slot_tag 5)
	ep=$((${E2E_SLOTS:-40} - 1))
	if [ -n "$T5" ] && ! slot_full "$ep"; then
		mtx_do eepos 1 transfer 5 $ep
		if [ "$RC" -eq 0 ] && [ "$(slot_tag "$ep")" = "$T5" ]; then
			pass "mtx eepos 1 transfer 5 $ep: moved (the CONTROL byte's vendor bits are ignored)"
			mtx_do transfer "$ep" 5
		elif [ "$RC" -ne 0 ] && [ "$RC" -ne 124 ] && [ "$(slot_tag 5)" = "$T5" ]; then
			pass "mtx eepos 1 transfer 5 $ep: refused cleanly, $T5 stays in slot 5"
			note "mtx eepos 1: $(printf '%s\n' "$MTX_LAST_OUT" | tr '\n' ' ' | cut -c1-200)"
		else
			mtx_fail "mtx eepos 1 transfer 5 $ep: moved, or refused cleanly with the tape in place" \
				"GOOD and the tape in slot $ep, or CHECK CONDITION ILLEGAL REQUEST 24/00 and the tape still in slot 5"
		fi
	fi
fi
if [ "$ntapes" -ge 5 ]; then
	TX=$(slot_tag "$ntapes")
	ie=$((${E2E_SLOTS:-40} + 1))
	mtx_do transfer "$ntapes" "$ie"
	rc_x=$RC
	if [ "$rc_x" -eq 0 ] && ! printf '%s\n' "$MTX_OUT" | grep -Eq "^ *Storage Element [0-9]+:Full *:VolumeTag *= *$TX\b"; then
		pass "mtx transfer $ntapes $ie: $TX moved to the import/export slot"
		echo "$TX" >/e2e/exported
		note "after export: $(printf '%s\n' "$MTX_OUT" | grep -E "IMPORT/EXPORT|$TX" | tr -s ' ' | tr '\n' ';')"
	else
		mtx_fail "mtx transfer $ntapes $ie: $TX moved to the import/export slot" "MOVE MEDIUM slot->I/E element; the tape leaves for the shelf"
	fi
fi

# --------------------------------------------------------- a WORM tape
# The host made $E2E_WORM with `vtlctl tape create --worm` (docs/scsi.md,
# "WORM cartridges"): tar appends after `mt eod`; from BOT a write fails
# (DATA PROTECT, WORM MEDIUM - OVERWRITE ATTEMPTED) and what was written
# reads back; the MAM says it is a write-once medium.
worm_tests() {
	[ -n "${E2E_WORM:-}" ] || return 0
	refresh
	if ! mtx_match "^ *Storage Element ([0-9]+):Full *:VolumeTag *= *$E2E_WORM( |$)"; then
		RC=1 OUT=$MTX_OUT
		fail "mtx status: the WORM tape $E2E_WORM is in a slot" "VolumeTag=$E2E_WORM"
		return
	fi
	local ws=${MATCH[1]}
	mtx_do load "$ws" 1
	if ! drive_full 1 || [ "$(drive_tag 1)" != "$E2E_WORM" ]; then
		mtx_fail "mtx load $ws 1: the WORM tape $E2E_WORM in drive 1"
		return
	fi
	wait_for 20 bash -c "mt -f $D1 status 2>/dev/null | grep -q ONLINE"
	rm -rf "$WORK/wx1" "$WORK/wx2"
	mkdir -p "$WORK/wx1" "$WORK/wx2"
	runsh 120 "tar -cf $D1 -b 128 -C $WORK/t1 ."
	tape_ok "WORM tape: tar -c archive 1 at BOT of the blank tape" "a blank WORM tape is written from BOT"
	run 60 mt -f "$D1" eod
	runsh 120 "tar -cf $D1 -b 128 -C $WORK/t2 ."
	tape_ok "WORM tape: mt eod, tar -c archive 2 appends" "writing at EOD of a WORM tape is allowed"
	run 60 mt -f "$D1" rewind
	runsh 120 "tar -cf $D1 -b 128 -C $WORK/t2 ."
	if [ "$RC" -ne 0 ] && [ "$RC" -ne 124 ]; then
		pass "WORM tape: mt rewind, tar -c over archive 1 fails"
	else
		fail "WORM tape: mt rewind, tar -c over archive 1 fails" \
			"CHECK CONDITION, DATA PROTECT, WORM MEDIUM - OVERWRITE ATTEMPTED (30/0C): tar gets a write error"
	fi
	runsh 10 "dmesg | tail -n 60"
	if has 'WORM medium - overwrite attempted'; then
		pass "WORM tape: the kernel logs the sense: WORM medium - overwrite attempted"
	else
		fail "WORM tape: the kernel logs the sense: WORM medium - overwrite attempted" \
			"st logs Data Protect, Add. Sense 30/0C as the kernel names it"
	fi
	run 60 mt -f "$D1" rewind
	runsh 120 "tar -xf $D1 -b 128 -C $WORK/wx1"
	tape_ok "WORM tape: archive 1 still reads back after the refused overwrite" "tar -x of archive 1"
	run 60 mt -f "$D1" fsf 1
	runsh 120 "tar -xf $D1 -b 128 -C $WORK/wx2"
	tape_ok "WORM tape: mt fsf 1, archive 2 reads back" "tar -x of archive 2"
	runsh 30 "diff -r $WORK/t1 $WORK/wx1 && diff -r $WORK/t2 $WORK/wx2"
	tape_ok "WORM tape: both archives identical to what was written" "identical files"
	run 20 sg_read_attr -f 0x408 "${TAPE_SG[1]}"
	if [ "$RC" -eq 0 ] && has 'medium type: *(0x80|128|write.once)'; then
		pass "sg_read_attr: MEDIUM TYPE (0408h) of the WORM tape is write-once"
	else
		fail "sg_read_attr: MEDIUM TYPE (0408h) of the WORM tape is write-once" \
			"READ ATTRIBUTE MEDIUM TYPE 80h, write-once medium (SPC-4 MAM medium type)"
	fi
	# The mode parameter header's MEDIUM TYPE: IBM's code for a WORM
	# cartridge of its generation (5Ch..9Ch), HPE's 01h.
	run 20 sg_modes -p 0x10 "${TAPE_SG[1]}"
	if [ "$RC" -eq 0 ] && has 'medium type=0x([5-9]c|01)'; then
		pass "sg_modes: the mode header's MEDIUM TYPE is the WORM cartridge's"
	else
		fail "sg_modes: the mode header's MEDIUM TYPE is the WORM cartridge's" \
			"MODE SENSE(10) header byte 2: 5Ch..9Ch (IBM) or 01h (HPE)"
	fi
	mtx_do unload "$ws" 1
	if [ "$RC" -eq 0 ] && [ "$(slot_tag "$ws")" = "$E2E_WORM" ]; then
		pass "mtx unload $ws 1: the WORM tape back in its slot"
	else
		mtx_fail "mtx unload $ws 1: the WORM tape back in its slot"
	fi
}
worm_tests

# ----------------------------------------- cleaning cartridge, TapeAlert
# The host made $E2E_CLEAN (a CLN label). mtx loads it into drive 1: the
# drive cleans and answers NOT READY, CLEANING CARTRIDGE INSTALLED (30/03);
# tapeinfo and sg_logs -p 0x2e show TapeAlert 0Bh "Cleaning media" (SSC-4
# 8.2.5; reading 2Eh clears it, and a refused LOAD raises it again); mtx
# unloads it; the host checks that one use was counted (docs/scsi.md,
# "Cleaning cartridges").
cleaning_tests() {
	[ -n "${E2E_CLEAN:-}" ] || return 0
	refresh
	local cs
	cs=$(slot_of "$E2E_CLEAN") || { RC=1 OUT=$MTX_OUT; fail "mtx status: the cleaning cartridge $E2E_CLEAN is in a slot"; return; }
	local sg=${TAPE_SG[1]}
	mtx_do load "$cs" 1
	if drive_full 1 && [ "$(drive_tag 1)" = "$E2E_CLEAN" ]; then
		pass "mtx load $cs 1: the cleaning cartridge $E2E_CLEAN in drive 1"
	else
		mtx_fail "mtx load $cs 1: the cleaning cartridge $E2E_CLEAN in drive 1"
		return
	fi
	echo "$E2E_CLEAN" >/e2e/cleaned
	sg_turs "$sg" >/dev/null 2>&1 # the unit attention of the load
	run 20 sg_turs -v "$sg"
	check "sg_turs: NOT READY, cleaning cartridge installed (30/03)" "TEST UNIT READY: NOT READY, CLEANING CARTRIDGE INSTALLED (IBM LTO sense table)" \
		has 'Cleaning cartridge installed'
	run 30 tapeinfo -f "$sg"
	check "tapeinfo: TapeAlert[11] cleaning media" "TapeAlert log page 2Eh flag 0Bh set" has 'TapeAlert\[11\]'
	# LOAD UNLOAD with LOAD (sg_raw: st would not open the drive, which
	# is not ready) is refused and raises the flag again.
	run 20 sg_raw "$sg" 1b 00 00 00 01 00
	check "sg_raw LOAD of the cleaning cartridge: NOT READY, cleaning cartridge installed" \
		"LOAD UNLOAD refused with 30/03" has 'Cleaning cartridge installed'
	run 20 sg_logs -p 0x2e "$sg"
	check "sg_logs -p 0x2e: Cleaning media: 1 after a refused LOAD" "LOG SENSE 2Eh parameter 000Bh = 1" \
		has 'Cleaning media: *1'
	run 20 sg_logs -p 0x2e "$sg"
	check "sg_logs -p 0x2e: read again, the flag is cleared" "flags clear when page 2Eh is read" has 'Cleaning media: *0'
	mtx_do unload "$cs" 1
	if [ "$RC" -eq 0 ] && [ "$(slot_tag "$cs")" = "$E2E_CLEAN" ]; then
		pass "mtx unload $cs 1: the cleaning cartridge back in its slot"
	else
		mtx_fail "mtx unload $cs 1: the cleaning cartridge back in its slot"
	fi
	run 20 sg_logs -p 0x2e "$CHG_SG"
	# sg_logs (sg3_utils 1.46) does not decode a changer's 2Eh page: its
	# hex starts with the page code and a length of 32 flags x 5 bytes.
	check "sg_logs -p 0x2e $CHG_SG: the changer's TapeAlert page, flags 01h-20h" \
		"SMC-3 TapeAlert log page 2Eh, page length A0h" has '^ *00 +2e 00 00 a0 00 01 00 01'
}
cleaning_tests

# ------------------------------------------------ drive encryption: stenc
# Debian 12's stenc (1.0.7: `-e on|mixed|rawread|off -k KEYFILE -a INDEX`,
# the key file one line of hex) sets the drive's key with SECURITY
# PROTOCOL OUT (docs/scsi.md, "Drive encryption"); tar writes through it;
# with encryption off the archive does not read (DATA PROTECT, UNABLE TO
# DECRYPT DATA), with the key it reads back, with another key it does not
# (INCORRECT DATA ENCRYPTION KEY).
encryption_tests() {
	[ -n "${E2E_ENC:-}" ] && [ -n "${E2E_KEY1:-}" ] || return 0
	if ! command -v stenc >/dev/null; then
		skip "stenc round trip" "stenc is not installed on the host (scripts/packages-e2e.txt)"
		return 0
	fi
	refresh
	local es
	es=$(slot_of "$E2E_ENC")
	if [ -z "$es" ]; then
		RC=1 OUT=$MTX_OUT
		fail "mtx status: the tape $E2E_ENC for stenc is in a slot" "VolumeTag=$E2E_ENC"
		return
	fi
	mtx_do load "$es" 1
	if ! drive_full 1 || [ "$(drive_tag 1)" != "$E2E_ENC" ]; then
		mtx_fail "mtx load $es 1: the tape $E2E_ENC in drive 1"
		return
	fi
	wait_for 20 bash -c "mt -f $D1 status 2>/dev/null | grep -q ONLINE"
	printf '%s\n' "$E2E_KEY1" >"$WORK/key1"
	printf '%s\n' "$E2E_KEY2" >"$WORK/key2"
	chmod 600 "$WORK/key1" "$WORK/key2"
	rm -rf "$WORK/ex1" "$WORK/ex2" "$WORK/ex3"
	mkdir -p "$WORK/ex1" "$WORK/ex2" "$WORK/ex3"

	run 30 stenc -f "$D1" -e on -k "$WORK/key1" -a 1
	if [ "$RC" -eq 0 ] && has 'Success'; then
		pass "stenc -e on -k KEYFILE -a 1: the drive takes the key"
	else
		fail "stenc -e on -k KEYFILE -a 1: the drive takes the key" \
			"SECURITY PROTOCOL OUT, Set Data Encryption page GOOD; then the status page says Encrypting"
	fi
	run 60 mt -f "$D1" rewind
	runsh 120 "tar -cf $D1 -b 128 -C $WORK/t1 ."
	tape_ok "stenc: tar -c through the encrypting drive" "WRITE with encryption on"
	run 30 stenc -f "$D1" --detail
	if [ "$RC" -eq 0 ] && has '(^|: *)Encrypting' && has '(^|: *)Decrypting'; then
		pass "stenc --detail: the drive is encrypting and decrypting"
	else
		fail "stenc --detail: the drive is encrypting and decrypting" \
			"data encryption status page: encryption mode 02h, decryption mode 02h"
	fi
	run 60 mt -f "$D1" rewind
	run 30 stenc -f "$D1" --detail
	if has 'Encrypted and able to decrypt'; then
		pass "stenc --detail at BOT: the next block is encrypted and decryptable"
	else
		fail "stenc --detail at BOT: the next block is encrypted and decryptable" \
			"next block encryption status: ENCRYPTION STATUS 5h"
	fi

	run 30 stenc -f "$D1" -e off
	tape_ok "stenc -e off" "Set Data Encryption page with both modes DISABLE"
	run 60 mt -f "$D1" rewind
	runsh 120 "tar -xf $D1 -b 128 -C $WORK/ex1"
	if [ "$RC" -ne 0 ] && [ "$RC" -ne 124 ]; then
		pass "stenc: with encryption off the encrypted archive does not read"
	else
		fail "stenc: with encryption off the encrypted archive does not read" \
			"CHECK CONDITION, DATA PROTECT, UNABLE TO DECRYPT DATA (74/01): tar gets an I/O error"
	fi

	run 30 stenc -f "$D1" -e on -k "$WORK/key1" -a 1
	run 60 mt -f "$D1" rewind
	runsh 120 "tar -xf $D1 -b 128 -C $WORK/ex2"
	tape_ok "stenc: the key again, the archive reads back" "READ decrypts with the key it was written under"
	runsh 30 "diff -r $WORK/t1 $WORK/ex2"
	tape_ok "stenc: what reads back is identical to what was written" "identical files"

	run 30 stenc -f "$D1" -e on -k "$WORK/key2" -a 1
	run 60 mt -f "$D1" rewind
	runsh 120 "tar -xf $D1 -b 128 -C $WORK/ex3"
	if [ "$RC" -ne 0 ] && [ "$RC" -ne 124 ]; then
		pass "stenc: with another key the archive does not read"
	else
		fail "stenc: with another key the archive does not read" \
			"CHECK CONDITION, DATA PROTECT, INCORRECT DATA ENCRYPTION KEY (74/03)"
	fi
	run 60 mt -f "$D1" rewind
	run 30 stenc -f "$D1" --detail
	has 'unable to decrypt' || note "stenc --detail with another key: $(printf '%s\n' "$OUT" | grep -i volume)"

	run 30 stenc -f "$D1" -e off
	mtx_do unload "$es" 1
	if [ "$RC" -eq 0 ] && [ "$(slot_tag "$es")" = "$E2E_ENC" ]; then
		pass "mtx unload $es 1: the encrypted tape back in its slot"
	else
		mtx_fail "mtx unload $es 1: the encrypted tape back in its slot"
	fi
}
encryption_tests

# --------------------------------------------------------- Bacula btape
btape_test() {
	mtx_do load 1 0
	if drive_full 0; then pass "mtx load 1 0 for btape"; else mtx_fail "mtx load 1 0 for btape"; return; fi
	wait_for 20 bash -c "mt -f $(nst 0) status 2>/dev/null | grep -q ONLINE"
	# Whatever is left of the guest's budget, less time to report.
	local up left
	read -r up _ </proc/uptime
	left=$(( ${E2E_BUDGET:-480} - ${up%.*} - 40 ))
	[ "$left" -lt 60 ] && left=60
	btape_run "btape test passes every part (write/read, position, append at EOD, re-read, fsf, autochanger)" \
		"$(nst 0)" "$CHG_SG" 0 "$left" /e2e/btape-test.log
}
btape_test

run 60 iscsiadm -m node --logoutall=all
tape_ok "iscsiadm logout" "Logout of [...] successful"
chap_tests
aws_personality_tests
drive_personality_tests
stop_iscsid
finish
