/*
 * test_iscsi_library.c - the whole library through the real vtld process,
 * driven by libiscsi as backup software drives a library: tapes created
 * with the real vtlctl, READ ELEMENT STATUS with VOLTAG through the
 * changer (LUN 0), a tape loaded with MOVE MEDIUM (slot -> drive), the
 * drive's unit attention, records written, spaced, located and read back
 * byte for byte, unloaded (LOAD UNLOAD) and returned with MOVE MEDIUM; the
 * refusal to move a cartridge the host has not unloaded; two drives written
 * at once from two sessions; task management; malformed PDUs while another
 * session works; CHAP and digests as configured in vtld.conf; and the data
 * and the tape locations across a vtld restart.
 *
 * Default library (README): changer LUN 0, drives LUN 1-4 at element
 * addresses 500-503, storage slots 1000-1039, import/export 10-13.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "rawpdu.h"
#include "scsi/be.h"
#include "vtld_proc.h"

enum { DRIVE0 = 500, SLOT0 = 1000, IE0 = 10 };

static struct vtld_proc vtl;

static void start(void)
{
	vp_start(&vtl, NULL);
}

static void stop(void)
{
	vp_stop(&vtl);
}

TestSuite(vtld_library, .init = start, .fini = stop, .timeout = 60);
TestSuite(vtld_tmf, .init = start, .fini = stop, .timeout = 60);
TestSuite(vtld_robustness, .init = start, .fini = stop, .timeout = 60);
TestSuite(vtld_security, .fini = stop, .timeout = 60);

/* A library whose MOVE MEDIUM leaves unloading to the host. */
static void start_strict(void)
{
	vp_start(&vtl, "[library]\nauto_unload = no\n");
}

TestSuite(vtld_strict_unload, .init = start_strict, .fini = stop, .timeout = 60);

/* ---- helpers ---- */

static void create_tapes(int n)
{
	char args[256] = "tape create", out[4096];
	for (int i = 0; i < n; i++) {
		size_t l = strlen(args);
		snprintf(args + l, sizeof(args) - l, " ITS%03dL8", i + 1);
	}
	cr_assert_eq(vp_ctl(&vtl, out, sizeof(out), args), 0, "vtlctl %s: %s", args, out);
}

static void barcode(int i, char *out)
{
	sprintf(out, "ITS%03dL8", i + 1);
}

/* The fixed-format sense data libiscsi keeps in datain (after the 2-byte
 * SenseLength of the SCSI Response data segment). */
static const uint8_t *sense_bytes(const struct scsi_task *t)
{
	cr_assert_geq(t->datain.size, 2 + 18, "no sense data");
	const uint8_t *s = t->datain.data + 2;
	cr_assert_eq(s[0] & 0x7f, 0x70, "fixed format sense expected");
	return s;
}

/* INFORMATION (a signed residue on tape), asserting VALID. */
static int32_t sense_info(const struct scsi_task *t)
{
	const uint8_t *s = sense_bytes(t);
	cr_assert(s[0] & 0x80, "sense INFORMATION not valid");
	return (int32_t)get_be32(s + 3);
}

static struct scsi_task *cmd_none(struct iscsi_context *iscsi, int lun, const uint8_t *cdb, int len)
{
	struct scsi_task *t = th_cmd(iscsi, lun, cdb, len, SCSI_XFER_NONE, 0, NULL, 0);
	cr_assert_not_null(t, "%s", iscsi_get_error(iscsi));
	return t;
}

static void expect_sense(struct scsi_task *t, int key, int asc_ascq, const char *what)
{
	cr_expect_eq(t->status, SCSI_STATUS_CHECK_CONDITION, "%s: status %d", what, t->status);
	cr_expect_eq(t->sense.key, key, "%s: sense key %x", what, t->sense.key);
	cr_expect_eq(t->sense.ascq, asc_ascq, "%s: asc/ascq %04x", what, t->sense.ascq);
}

struct element {
	uint16_t addr;
	uint8_t type, flags;
	bool svalid;
	uint16_t source;
	char tag[33]; /* primary volume tag, trailing spaces removed */
};

enum { EL_FULL = 0x01, EL_IMPEXP = 0x02, EL_EXCEPT = 0x04, EL_ACCESS = 0x08 };

/* READ ELEMENT STATUS (SMC-3 6.12) with VOLTAG of every element; parses
 * the pages into els (at most cap); returns how many. */
static int read_element_status(struct iscsi_context *iscsi, struct element *els, int cap)
{
	uint8_t cdb[12] = {0xb8, 0x10, 0, 0, 0xff, 0xff};
	put_be24(cdb + 7, 65535);
	struct scsi_task *t = th_cmd(iscsi, 0, cdb, 12, SCSI_XFER_READ, 65535, NULL, 0);
	cr_assert_not_null(t);
	cr_assert_eq(t->status, SCSI_STATUS_GOOD, "READ ELEMENT STATUS: sense %x/%04x",
		     t->sense.key, t->sense.ascq);
	const uint8_t *d = t->datain.data;
	int size = t->datain.size;
	cr_assert_geq(size, 8);
	int n = 0;
	uint32_t total = get_be24(d + 5);
	cr_assert_eq(total + 8u, (uint32_t)size, "report byte count vs data");
	for (int off = 8; off + 8 <= size && n < cap;) {
		const uint8_t *page = d + off;
		uint8_t type = page[0];
		cr_assert(page[1] & 0x80, "PVOLTAG set with VOLTAG");
		uint16_t dl = get_be16(page + 2);
		uint32_t bytes = get_be24(page + 5);
		off += 8;
		for (uint32_t k = 0; k + dl <= bytes && n < cap; k += dl) {
			const uint8_t *e = d + off + k;
			struct element *el = &els[n++];
			memset(el, 0, sizeof(*el));
			el->addr = get_be16(e);
			el->type = type;
			el->flags = e[2];
			el->svalid = e[9] & 0x80;
			el->source = get_be16(e + 10);
			memcpy(el->tag, e + 12, 32);
			for (int j = 31; j >= 0 && (el->tag[j] == ' ' || !el->tag[j]); j--)
				el->tag[j] = '\0';
		}
		off += (int)bytes;
	}
	scsi_free_scsi_task(t);
	return n;
}

static struct element element_at(struct iscsi_context *iscsi, uint16_t addr)
{
	struct element els[128];
	int n = read_element_status(iscsi, els, 128);
	for (int i = 0; i < n; i++)
		if (els[i].addr == addr)
			return els[i];
	cr_assert_fail("element %u not reported", addr);
	return els[0];
}

static struct scsi_task *move_medium(struct iscsi_context *iscsi, uint16_t src, uint16_t dst)
{
	uint8_t cdb[12] = {0xa5, 0};
	put_be16(cdb + 4, src);
	put_be16(cdb + 6, dst);
	return cmd_none(iscsi, 0, cdb, 12);
}

static void move_ok(struct iscsi_context *iscsi, uint16_t src, uint16_t dst)
{
	struct scsi_task *t = move_medium(iscsi, src, dst);
	cr_assert_eq(t->status, SCSI_STATUS_GOOD, "MOVE MEDIUM %u -> %u: sense %x/%04x", src, dst,
		     t->sense.key, t->sense.ascq);
	scsi_free_scsi_task(t);
}

static void unload(struct iscsi_context *iscsi, int lun)
{
	static const uint8_t cdb[6] = {0x1b, 0, 0, 0, 0, 0}; /* LOAD=0 */
	struct scsi_task *t = cmd_none(iscsi, lun, cdb, 6);
	cr_assert_eq(t->status, SCSI_STATUS_GOOD, "LOAD UNLOAD: sense %x/%04x", t->sense.key,
		     t->sense.ascq);
	scsi_free_scsi_task(t);
}

static const uint8_t tur[6] = {0};

/* TEST UNIT READY past power-on/reset unit attentions (29/xx); returns
 * the ASC/ASCQ of the first other CHECK CONDITION (a unit attention or
 * NOT READY), or 0 if the unit went GOOD. */
static int first_ua(struct iscsi_context *iscsi, int lun)
{
	for (int i = 0; i < 8; i++) {
		struct scsi_task *t = cmd_none(iscsi, lun, tur, 6);
		int st = t->status, key = t->sense.key, ascq = t->sense.ascq;
		scsi_free_scsi_task(t);
		if (st == SCSI_STATUS_GOOD)
			return 0;
		cr_assert_eq(st, SCSI_STATUS_CHECK_CONDITION, "TUR status %d", st);
		if (key != SCSI_SENSE_UNIT_ATTENTION || (ascq >> 8) != 0x29)
			return ascq;
	}
	cr_assert_fail("unit attentions never cleared");
	return -1;
}

/* Records of file 0 and file 1 written by write_two_files(). */
static const uint32_t file0[] = {1, 512, 80000, 262144, 1048576, 7};
static const uint32_t file1[] = {4096, 4097, 100000};
enum { N0 = sizeof(file0) / sizeof(file0[0]), N1 = sizeof(file1) / sizeof(file1[0]) };

static void write_two_files(struct iscsi_context *iscsi, int lun, uint32_t seed)
{
	uint8_t *rec = malloc(1048576);
	for (uint32_t i = 0; i < N0; i++) {
		th_pattern(rec, file0[i], seed + i);
		th_write6(iscsi, lun, rec, file0[i]);
	}
	th_filemarks(iscsi, lun, 1);
	for (uint32_t i = 0; i < N1; i++) {
		th_pattern(rec, file1[i], seed + 100 + i);
		th_write6(iscsi, lun, rec, file1[i]);
	}
	th_filemarks(iscsi, lun, 1);
	free(rec);
}

/* Read both files back byte for byte from BOT, including the filemarks. */
static void verify_two_files(struct iscsi_context *iscsi, int lun, uint32_t seed)
{
	uint8_t *rec = malloc(1048576), *back = malloc(1048576);
	th_rewind(iscsi, lun);
	for (uint32_t i = 0; i < N0; i++) {
		th_pattern(rec, file0[i], seed + i);
		th_read6(iscsi, lun, back, file0[i]);
		cr_assert_arr_eq(rec, back, file0[i], "file 0 record %u", i);
	}
	uint8_t r6[6] = {0x08, 0};
	put_be24(r6 + 2, 4096);
	struct scsi_task *t = th_cmd(iscsi, lun, r6, 6, SCSI_XFER_READ, 4096, NULL, 0);
	cr_assert_not_null(t);
	expect_sense(t, SCSI_SENSE_NO_SENSE, 0x0001, "READ at the filemark");
	cr_expect(sense_bytes(t)[2] & 0x80, "FILEMARK bit");
	scsi_free_scsi_task(t);
	for (uint32_t i = 0; i < N1; i++) {
		th_pattern(rec, file1[i], seed + 100 + i);
		th_read6(iscsi, lun, back, file1[i]);
		cr_assert_arr_eq(rec, back, file1[i], "file 1 record %u", i);
	}
	free(rec);
	free(back);
}

/* ---- the library ---- */

Test(vtld_library, tapes_created_with_vtlctl_are_reported_by_barcode_in_their_slots)
{
	create_tapes(3);
	struct iscsi_context *iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 0);
	struct element els[128];
	int n = read_element_status(iscsi, els, 128);
	cr_assert_eq(n, 1 + 4 + 4 + 40, "transport, I/E, drives and slots");
	int full = 0;
	for (int i = 0; i < n; i++) {
		const struct element *e = &els[i];
		if (e->type == 2 && e->addr < SLOT0 + 3) {
			char want[16];
			barcode(e->addr - SLOT0, want);
			cr_expect(e->flags & EL_FULL, "slot %u full", e->addr);
			cr_expect_str_eq(e->tag, want, "slot %u barcode", e->addr);
			full++;
		} else {
			cr_expect_eq(e->flags & EL_FULL, 0, "element %u empty", e->addr);
			cr_expect_str_eq(e->tag, "", "element %u has no volume tag", e->addr);
		}
		if (e->type == 4)
			cr_expect(e->flags & EL_ACCESS, "empty drive %u accessible", e->addr);
	}
	cr_expect_eq(full, 3);
	th_logout(iscsi);
}

Test(vtld_library,
     tape_moved_into_a_drive_is_written_spaced_located_read_back_unloaded_and_returned)
{
	create_tapes(2);
	struct iscsi_context *iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 0);
	cr_expect_eq(first_ua(iscsi, 1), 0x3a00, "empty drive: MEDIUM NOT PRESENT after UAs");

	/* Slot 2 -> drive 1. */
	move_ok(iscsi, SLOT0 + 1, DRIVE0);
	struct element d = element_at(iscsi, DRIVE0);
	cr_expect(d.flags & EL_FULL);
	cr_expect_str_eq(d.tag, "ITS002L8");
	cr_expect(d.svalid && d.source == SLOT0 + 1, "source element recorded");
	cr_expect_eq(d.flags & EL_ACCESS, 0, "a loaded cartridge is not accessible");
	cr_expect_eq(element_at(iscsi, SLOT0 + 1).flags & EL_FULL, 0, "slot emptied");

	/* SSC-4: NOT READY TO READY CHANGE, MEDIUM MAY HAVE CHANGED, once. */
	cr_expect_eq(first_ua(iscsi, 1), 0x2800);
	cr_expect_eq(first_ua(iscsi, 1), 0, "ready after the unit attention");

	write_two_files(iscsi, 1, 7);
	cr_expect_eq(th_read_position(iscsi, 1), (uint32_t)(N0 + 1 + N1 + 1));
	verify_two_files(iscsi, 1, 7);

	/* SPACE 1 filemark from BOT: the first block of file 1. */
	uint8_t *rec = malloc(100000), *back = malloc(100000);
	th_rewind(iscsi, 1);
	th_space(iscsi, 1, 1, 1);
	cr_expect_eq(th_read_position(iscsi, 1), (uint32_t)N0 + 1);
	/* Two blocks forward, then the third record of file 1. */
	th_space(iscsi, 1, 0, 2);
	th_pattern(rec, file1[2], 7 + 100 + 2);
	th_read6(iscsi, 1, back, file1[2]);
	cr_expect_arr_eq(rec, back, file1[2]);
	/* Blocks backward over it and read it again. */
	th_space(iscsi, 1, 0, -1);
	th_read6(iscsi, 1, back, file1[2]);
	cr_expect_arr_eq(rec, back, file1[2]);

	/* LOCATE to block 2 of file 0; READ POSITION agrees; data is right. */
	th_locate(iscsi, 1, 2);
	cr_expect_eq(th_read_position(iscsi, 1), 2u);
	th_pattern(rec, file0[2], 7 + 2);
	th_read6(iscsi, 1, back, file0[2]);
	cr_expect_arr_eq(rec, back, file0[2]);
	cr_expect_eq(th_read_position(iscsi, 1), 3u);
	free(rec);
	free(back);

	/* Unload (LOAD UNLOAD, LOAD=0), then the picker returns it. */
	unload(iscsi, 1);
	cr_expect(element_at(iscsi, DRIVE0).flags & EL_ACCESS, "unloaded: accessible");
	move_ok(iscsi, DRIVE0, SLOT0 + 1);
	struct element s = element_at(iscsi, SLOT0 + 1);
	cr_expect(s.flags & EL_FULL);
	cr_expect_str_eq(s.tag, "ITS002L8");
	cr_expect_eq(element_at(iscsi, DRIVE0).flags & EL_FULL, 0);
	struct scsi_task *t = cmd_none(iscsi, 1, tur, 6);
	expect_sense(t, SCSI_SENSE_NOT_READY, 0x3a00, "drive after the move out");
	scsi_free_scsi_task(t);

	char out[4096];
	cr_expect_eq(vp_ctl(&vtl, out, sizeof(out), "tape show ITS002L8 --json"), 0);
	cr_expect_not_null(strstr(out, "\"slot:2\""), "catalog location: %s", out);
	th_logout(iscsi);

	/* Loaded again in another drive, the data is all there. */
	iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 0);
	move_ok(iscsi, SLOT0 + 1, DRIVE0 + 3);
	th_tur_clear(iscsi, 4);
	verify_two_files(iscsi, 4, 7);
	th_logout(iscsi);
}

/* "used_bytes" of the first tape object in vtlctl's JSON output. */
static uint64_t json_used_bytes(const char *json)
{
	const char *p = strstr(json, "\"used_bytes\"");
	cr_assert_not_null(p, "no used_bytes in %s", json);
	p = strchr(p, ':');
	cr_assert_not_null(p);
	return strtoull(p + 1, NULL, 10);
}

Test(vtld_library, tape_show_and_list_report_the_usage_of_a_loaded_tape_as_it_grows)
{
	char out[8192];
	create_tapes(1);
	struct iscsi_context *iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 0);
	move_ok(iscsi, SLOT0, DRIVE0);
	th_tur_clear(iscsi, 1);
	cr_assert_eq(vp_ctl(&vtl, out, sizeof(out), "tape show ITS001L8 --json"), 0, "%s", out);
	cr_expect_eq(json_used_bytes(out), 0, "blank tape");

	/* The catalog learns the usage only when the tape leaves the
	 * drive; vtlctl must show it while the tape is loaded. */
	write_two_files(iscsi, 1, 5);
	uint64_t payload = 0;
	for (uint32_t i = 0; i < N0; i++)
		payload += file0[i];
	for (uint32_t i = 0; i < N1; i++)
		payload += file1[i];
	cr_assert_eq(vp_ctl(&vtl, out, sizeof(out), "tape show ITS001L8 --json"), 0, "%s", out);
	uint64_t used = json_used_bytes(out);
	cr_expect_geq(used, payload / 4,
		      "used %llu for %llu bytes written (pattern data may compress)",
		      (unsigned long long)used, (unsigned long long)payload);
	cr_expect_gt(used, 0);
	cr_assert_eq(vp_ctl(&vtl, out, sizeof(out), "tape list --json"), 0, "%s", out);
	cr_expect_eq(json_used_bytes(out), used, "tape list agrees with tape show");

	/* A buffered write (no filemark, no flush) counts at once. */
	uint8_t *rec = malloc(65536);
	th_pattern(rec, 65536, 99);
	th_write6(iscsi, 1, rec, 65536);
	free(rec);
	cr_assert_eq(vp_ctl(&vtl, out, sizeof(out), "tape show ITS001L8 --json"), 0, "%s", out);
	cr_expect_gt(json_used_bytes(out), used);
	th_logout(iscsi);
}

/* Live tapes whose barcode starts with prefix, as vtlctl lists them. */
static int count_prefix(const char *prefix)
{
	static char out[65536];
	char needle[32];
	int n = 0;
	cr_assert_eq(vp_ctl(&vtl, out, sizeof(out), "tape list --json"), 0, "%s", out);
	snprintf(needle, sizeof(needle), "\"barcode\": \"%s", prefix);
	for (const char *p = out; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

static bool wait_prefix(const char *prefix, int want)
{
	for (int i = 0; i < 100; i++) {
		if (count_prefix(prefix) >= want)
			return true;
		usleep(100000);
	}
	return false;
}

/* Automatic tape creation under a backup run: the backup software loads a
 * blank tape and writes to it, and vtld creates the next barcode while the
 * tape is still in the drive. */
Test(vtld_library, a_backup_writing_a_blank_tape_makes_autocreate_add_the_next)
{
	char out[8192];
	vp_ctl_ok(&vtl, "autocreate set ITS --minimum 1", out, sizeof(out));
	cr_assert(wait_prefix("ITS", 1), "the policy made no tape");
	cr_assert_eq(count_prefix("ITS"), 1);
	struct iscsi_context *iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 0);
	move_ok(iscsi, SLOT0, DRIVE0);
	th_tur_clear(iscsi, 1);
	sleep(2);
	cr_assert_eq(count_prefix("ITS"), 1, "a loaded blank tape is still blank");
	write_two_files(iscsi, 1, 5);
	cr_assert(wait_prefix("ITS", 2), "no tape made after the write");
	cr_assert_eq(vp_ctl(&vtl, out, sizeof(out), "events --tape ITS002L8 --json"), 0, "%s", out);
	cr_expect(strstr(out, "created by autocreate policy ITS"), "%s", out);
	th_logout(iscsi);
}

Test(vtld_strict_unload, move_medium_out_of_a_drive_not_unloaded_fails_with_unload_tape_failure)
{
	create_tapes(1);
	struct iscsi_context *iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 0);
	move_ok(iscsi, SLOT0, DRIVE0 + 1);
	th_tur_clear(iscsi, 2);
	uint8_t rec[1000];
	th_pattern(rec, sizeof(rec), 3);
	th_write6(iscsi, 2, rec, sizeof(rec));

	/* docs/library.md: ILLEGAL REQUEST, 53/01 (UNLOAD TAPE FAILURE). */
	struct scsi_task *t = move_medium(iscsi, DRIVE0 + 1, SLOT0);
	expect_sense(t, SCSI_SENSE_ILLEGAL_REQUEST, 0x5301, "MOVE MEDIUM out of a loaded drive");
	scsi_free_scsi_task(t);
	/* Nothing moved: the drive still holds it and works. */
	struct element d = element_at(iscsi, DRIVE0 + 1);
	cr_expect(d.flags & EL_FULL);
	cr_expect_str_eq(d.tag, "ITS001L8");
	cr_expect_eq(element_at(iscsi, SLOT0).flags & EL_FULL, 0);
	th_rewind(iscsi, 2);
	uint8_t back[1000];
	th_read6(iscsi, 2, back, sizeof(back));
	cr_expect_arr_eq(rec, back, sizeof(rec));

	/* A full destination and an empty source are refused too. */
	t = move_medium(iscsi, SLOT0 + 5, SLOT0 + 6);
	expect_sense(t, SCSI_SENSE_ILLEGAL_REQUEST, 0x3b0e, "empty source");
	scsi_free_scsi_task(t);
	unload(iscsi, 2);
	move_ok(iscsi, DRIVE0 + 1, SLOT0);
	th_logout(iscsi);
}

Test(vtld_library, space_past_the_last_record_stops_at_eod_with_the_residual)
{
	create_tapes(1);
	struct iscsi_context *iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 0);
	move_ok(iscsi, SLOT0, DRIVE0);
	th_tur_clear(iscsi, 1);
	uint8_t rec[2000];
	for (uint32_t i = 0; i < 5; i++) {
		th_pattern(rec, sizeof(rec), i);
		th_write6(iscsi, 1, rec, sizeof(rec));
	}
	th_filemarks(iscsi, 1, 1);
	th_pattern(rec, sizeof(rec), 50);
	th_write6(iscsi, 1, rec, sizeof(rec)); /* object 6, then EOD at 7 */

	/* SPACE 3 filemarks from BOT: one exists; BLANK CHECK, END-OF-DATA
	 * DETECTED, residue 2, at EOD. */
	th_rewind(iscsi, 1);
	uint8_t sp[6] = {0x11, 1};
	put_be24(sp + 2, 3);
	struct scsi_task *t = cmd_none(iscsi, 1, sp, 6);
	expect_sense(t, SCSI_SENSE_BLANK_CHECK, 0x0005, "SPACE 3 filemarks");
	cr_expect_eq(sense_info(t), 2);
	scsi_free_scsi_task(t);
	cr_expect_eq(th_read_position(iscsi, 1), 7u);

	/* SPACE 10 blocks from BOT: stops at the filemark after 5 (FILEMARK
	 * DETECTED, FM bit, residue 5), positioned after it. */
	th_rewind(iscsi, 1);
	sp[1] = 0;
	put_be24(sp + 2, 10);
	t = cmd_none(iscsi, 1, sp, 6);
	expect_sense(t, SCSI_SENSE_NO_SENSE, 0x0001, "SPACE 10 blocks over a filemark");
	cr_expect(sense_bytes(t)[2] & 0x80, "FILEMARK bit");
	cr_expect_eq(sense_info(t), 5);
	scsi_free_scsi_task(t);
	cr_expect_eq(th_read_position(iscsi, 1), 6u);

	/* SPACE 4 blocks from there: one block, then EOD; residue 3. */
	put_be24(sp + 2, 4);
	t = cmd_none(iscsi, 1, sp, 6);
	expect_sense(t, SCSI_SENSE_BLANK_CHECK, 0x0005, "SPACE 4 blocks into EOD");
	cr_expect_eq(sense_info(t), 3);
	scsi_free_scsi_task(t);
	cr_expect_eq(th_read_position(iscsi, 1), 7u);

	/* SPACE to end-of-data (code 3) from BOT; READ there is BLANK CHECK. */
	th_rewind(iscsi, 1);
	uint8_t eod[6] = {0x11, 3};
	t = cmd_none(iscsi, 1, eod, 6);
	cr_expect_eq(t->status, SCSI_STATUS_GOOD);
	scsi_free_scsi_task(t);
	cr_expect_eq(th_read_position(iscsi, 1), 7u);
	uint8_t r6[6] = {0x08, 0};
	put_be24(r6 + 2, 2000);
	t = th_cmd(iscsi, 1, r6, 6, SCSI_XFER_READ, 2000, NULL, 0);
	cr_assert_not_null(t);
	expect_sense(t, SCSI_SENSE_BLANK_CHECK, 0x0005, "READ at EOD");
	scsi_free_scsi_task(t);

	/* Backward one filemark from EOD: before the filemark (BOT side). */
	sp[1] = 1;
	put_be24(sp + 2, (uint32_t)-1 & 0xffffff);
	t = cmd_none(iscsi, 1, sp, 6);
	cr_expect_eq(t->status, SCSI_STATUS_GOOD);
	scsi_free_scsi_task(t);
	cr_expect_eq(th_read_position(iscsi, 1), 5u);
	th_logout(iscsi);
}

/* ---- two drives at once ---- */

struct writer {
	struct vtld_proc *p;
	int lun, records;
	bool ok;
};

static void *write_drive(void *arg)
{
	struct writer *w = arg;
	/* Each thread its own context and session (libiscsi contexts are not
	 * shared between threads). No cr_assert here: a failing assertion
	 * off the test's thread cannot end the test cleanly. */
	struct iscsi_context *iscsi = iscsi_create_context(VP_INITIATOR);
	if (!iscsi)
		return NULL;
	iscsi_set_targetname(iscsi, w->p->iqn);
	iscsi_set_session_type(iscsi, ISCSI_SESSION_NORMAL);
	iscsi_set_noautoreconnect(iscsi, 1);
	iscsi_set_timeout(iscsi, 20);
	if (iscsi_full_connect_sync(iscsi, w->p->portal, -1) != 0) {
		iscsi_destroy_context(iscsi);
		return NULL;
	}
	uint8_t *rec = malloc(65536);
	bool ok = true;
	for (int i = 0; i < 6 && ok; i++) { /* UAs from load and login */
		struct scsi_task *t = iscsi_testunitready_sync(iscsi, w->lun);
		ok = t != NULL;
		if (t && t->status == SCSI_STATUS_GOOD) {
			scsi_free_scsi_task(t);
			break;
		}
		if (t)
			scsi_free_scsi_task(t);
	}
	for (int i = 0; i < w->records && ok; i++) {
		th_pattern(rec, 65536, (uint32_t)(w->lun * 100000 + i));
		uint8_t cdb[6] = {0x0a, 0};
		put_be24(cdb + 2, 65536);
		struct scsi_task *task = scsi_create_task(6, cdb, SCSI_XFER_WRITE, 65536);
		struct iscsi_data d = {.size = 65536, .data = rec};
		struct scsi_task *r = iscsi_scsi_command_sync(iscsi, w->lun, task, &d);
		ok = r && r->status == SCSI_STATUS_GOOD;
		scsi_free_scsi_task(task);
	}
	if (ok) {
		uint8_t wfm[6] = {0x10, 0, 0, 0, 1, 0};
		struct scsi_task *task = scsi_create_task(6, wfm, SCSI_XFER_NONE, 0);
		struct scsi_task *r = iscsi_scsi_command_sync(iscsi, w->lun, task, NULL);
		ok = r && r->status == SCSI_STATUS_GOOD;
		scsi_free_scsi_task(task);
	}
	w->ok = ok;
	free(rec);
	iscsi_logout_sync(iscsi);
	iscsi_destroy_context(iscsi);
	return NULL;
}

Test(vtld_library, two_drives_written_at_once_from_two_sessions_read_back_intact)
{
	create_tapes(2);
	struct iscsi_context *iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 0);
	move_ok(iscsi, SLOT0, DRIVE0);
	move_ok(iscsi, SLOT0 + 1, DRIVE0 + 1);

	pthread_t th[2];
	struct writer w[2] = {{&vtl, 1, 160, false}, {&vtl, 2, 160, false}};
	for (int i = 0; i < 2; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, write_drive, &w[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	cr_assert(w[0].ok, "writer on LUN 1 failed");
	cr_assert(w[1].ok, "writer on LUN 2 failed");

	/* Verified from this (third) session: every record of each drive. */
	uint8_t *rec = malloc(65536), *back = malloc(65536);
	for (int lun = 1; lun <= 2; lun++) {
		th_tur_clear(iscsi, lun);
		th_rewind(iscsi, lun);
		for (int i = 0; i < 160; i++) {
			th_pattern(rec, 65536, (uint32_t)(lun * 100000 + i));
			th_read6(iscsi, lun, back, 65536);
			cr_assert_arr_eq(rec, back, 65536, "LUN %d record %d", lun, i);
		}
		cr_expect_eq(th_read_position(iscsi, lun), 160u);
	}
	free(rec);
	free(back);
	th_logout(iscsi);
}

/* ---- data and locations across a restart ---- */

Test(vtld_library, data_and_tape_locations_survive_a_vtld_restart)
{
	create_tapes(2);
	struct iscsi_context *iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 0);
	/* ITS001L8 stays in drive 1; ITS002L8 is written in drive 2, unloaded
	 * and moved to slot 10. */
	move_ok(iscsi, SLOT0, DRIVE0);
	move_ok(iscsi, SLOT0 + 1, DRIVE0 + 1);
	th_tur_clear(iscsi, 1);
	th_tur_clear(iscsi, 2);
	write_two_files(iscsi, 1, 11);
	write_two_files(iscsi, 2, 22);
	unload(iscsi, 2);
	move_ok(iscsi, DRIVE0 + 1, SLOT0 + 9);
	th_logout(iscsi);

	int st = vp_terminate(&vtl);
	cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "vtld did not stop cleanly on SIGTERM (status %d)", st);
	vp_restart(&vtl);

	char out[4096];
	cr_expect_eq(vp_ctl(&vtl, out, sizeof(out), "tape show ITS001L8 --json"), 0);
	cr_expect_not_null(strstr(out, "\"drive:1\""), "catalog: %s", out);
	cr_expect_eq(vp_ctl(&vtl, out, sizeof(out), "tape show ITS002L8 --json"), 0);
	cr_expect_not_null(strstr(out, "\"slot:10\""), "catalog: %s", out);

	iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 0);
	struct element d = element_at(iscsi, DRIVE0);
	cr_expect(d.flags & EL_FULL);
	cr_expect_str_eq(d.tag, "ITS001L8", "drive 1 after restart");
	struct element s = element_at(iscsi, SLOT0 + 9);
	cr_expect(s.flags & EL_FULL);
	cr_expect_str_eq(s.tag, "ITS002L8", "slot 10 after restart");
	cr_expect_eq(element_at(iscsi, SLOT0).flags & EL_FULL, 0);

	th_tur_clear(iscsi, 1);
	verify_two_files(iscsi, 1, 11);
	move_ok(iscsi, SLOT0 + 9, DRIVE0 + 2);
	th_tur_clear(iscsi, 3);
	verify_two_files(iscsi, 3, 22);
	th_logout(iscsi);
}

/* ---- task management ---- */

Test(vtld_tmf, lun_reset_of_a_drive_raises_the_reset_unit_attention_and_rewinds_nothing)
{
	create_tapes(1);
	struct iscsi_context *iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 0);
	move_ok(iscsi, SLOT0, DRIVE0);
	th_tur_clear(iscsi, 1);
	uint8_t rec[512];
	th_pattern(rec, sizeof(rec), 1);
	th_write6(iscsi, 1, rec, sizeof(rec));
	th_filemarks(iscsi, 1, 1);

	cr_expect_eq(th_tmf(iscsi, 1, ISCSI_TM_LUN_RESET, 0xffffffff, 0), 0u);

	/* SAM-5: the next command gets UNIT ATTENTION, 29/03 (BUS DEVICE
	 * RESET FUNCTION OCCURRED); the changer (another LUN) does not. */
	struct scsi_task *t = cmd_none(iscsi, 1, tur, 6);
	expect_sense(t, SCSI_SENSE_UNIT_ATTENTION, 0x2903, "drive after LUN RESET");
	scsi_free_scsi_task(t);
	t = cmd_none(iscsi, 0, tur, 6);
	cr_expect_eq(t->status, SCSI_STATUS_GOOD, "the changer is not reset");
	scsi_free_scsi_task(t);
	th_tur_clear(iscsi, 1);
	/* The cartridge and its data are still there. */
	th_rewind(iscsi, 1);
	uint8_t back[512];
	th_read6(iscsi, 1, back, sizeof(back));
	cr_expect_arr_eq(rec, back, sizeof(rec));
	th_logout(iscsi);
}

/* ---- robustness ---- */

static void expect_inquiry_ok(struct iscsi_context *iscsi, int lun)
{
	struct scsi_task *t = iscsi_inquiry_sync(iscsi, lun, 0, 0, 36);
	cr_assert_not_null(t, "INQUIRY: %s", iscsi_get_error(iscsi));
	cr_expect_eq(t->status, SCSI_STATUS_GOOD);
	scsi_free_scsi_task(t);
}

Test(vtld_robustness, malformed_pdus_leave_vtld_and_another_session_serving)
{
	create_tapes(1);
	/* A session that stays up through all of it. */
	struct iscsi_context *live = vp_login(&vtl, false);
	th_tur_clear(live, 0);
	move_ok(live, SLOT0, DRIVE0);
	th_tur_clear(live, 1);

	uint8_t rec[8192];
	th_pattern(rec, sizeof(rec), 77);
	for (int round = 0; round < 7; round++) {
		struct raw r;
		uint8_t bhs[48] = {0};
		switch (round) {
		case 0: { /* garbage before login, absurd data segment length */
			int fd = raw_connect(vtl.port);
			uint8_t junk[300];
			th_pattern(junk, sizeof(junk), 99);
			junk[0] = 0x43;
			junk[5] = junk[6] = junk[7] = 0xff;
			raw_send_all(fd, junk, sizeof(junk));
			cr_expect(raw_closed_by_target(fd, 3000), "garbage login");
			close(fd);
			break;
		}
		case 1: /* oversized data segment in full feature phase */
			raw_login(&r, vtl.port, VP_INITIATOR, vtl.iqn, NULL);
			bhs[0] = 0x40;
			bhs[1] = 0x80;
			put_be24(bhs + 5, 0xffffff);
			raw_send_all(r.fd, bhs, 48);
			cr_expect(raw_closed_by_target(r.fd, 3000), "oversized PDU");
			close(r.fd);
			break;
		case 2: /* a WRITE to the loaded drive cut mid-data */
			raw_login(&r, vtl.port, VP_INITIATOR, vtl.iqn, NULL);
			bhs[0] = RAW_SCSI_CMD;
			bhs[1] = 0xa0;
			bhs[9] = 1; /* LUN 1 */
			put_be32(bhs + 16, 77);
			put_be32(bhs + 20, 65536);
			put_be32(bhs + 24, r.cmdsn);
			bhs[32] = 0x0a;
			put_be24(bhs + 34, 65536);
			put_be24(bhs + 5, 8192);
			raw_send_all(r.fd, bhs, 48);
			raw_send_all(r.fd, rec, 1000);
			close(r.fd);
			break;
		case 3: /* unknown opcode: Reject, the session continues */
			raw_login(&r, vtl.port, VP_INITIATOR, vtl.iqn, NULL);
			bhs[0] = 0x1c;
			bhs[1] = 0x80;
			put_be32(bhs + 16, 3);
			raw_send(&r, bhs, NULL, 0);
			{
				uint8_t rsp[48];
				cr_expect_eq(raw_recv(&r, rsp, NULL, 0, 3000), 48);
				cr_expect_eq(rsp[0] & 0x3f, RAW_REJECT);
			}
			raw_nop_ping(&r, true);
			close(r.fd);
			break;
		case 4: /* a Login PDU in the full feature phase, then a SCSI
			 * command with immediate data on a read */
			raw_login(&r, vtl.port, VP_INITIATOR, vtl.iqn, NULL);
			bhs[0] = 0x03;
			bhs[1] = 0x87;
			raw_send(&r, bhs, NULL, 0);
			memset(bhs, 0, sizeof(bhs));
			bhs[0] = RAW_SCSI_CMD;
			bhs[1] = 0xc0; /* F, R */
			put_be32(bhs + 16, 5);
			put_be32(bhs + 20, 36);
			put_be32(bhs + 24, r.cmdsn);
			bhs[32] = 0x12;
			bhs[36] = 36;
			raw_send(&r, bhs, rec, 100);
			cr_expect(raw_closed_by_target(r.fd, 3000), "protocol errors");
			close(r.fd);
			break;
		case 5: /* a header digest error (digests negotiated) */
		{
			static const char *const keys[] = {"HeaderDigest=CRC32C", NULL};
			raw_login(&r, vtl.port, VP_INITIATOR, vtl.iqn, keys);
			cr_expect(r.hd);
			uint8_t pdu[52] = {0x40, 0x80};
			put_be32(pdu + 16, 9);
			put_be32(pdu + 20, 0xffffffff);
			memcpy(pdu + 48, "\xde\xad\xbe\xef", 4);
			raw_send_all(r.fd, pdu, sizeof(pdu));
			cr_expect(raw_closed_by_target(r.fd, 3000), "header digest error");
			close(r.fd);
			break;
		}
		case 6: /* a connection that just goes away after login */
			raw_login(&r, vtl.port, VP_INITIATOR, vtl.iqn, NULL);
			close(r.fd);
			break;
		}
		/* After each: vtld alive, the live session still writes. */
		cr_assert(vp_alive(&vtl), "vtld died after round %d", round);
		th_write6(live, 1, rec, sizeof(rec));
	}
	th_rewind(live, 1);
	uint8_t back[8192];
	for (int i = 0; i < 7; i++) {
		th_read6(live, 1, back, sizeof(back));
		cr_expect_arr_eq(rec, back, sizeof(back), "record %d", i);
	}
	/* Nothing from the cut WRITE reached the tape. */
	cr_expect_eq(th_read_position(live, 1), 7u);
	uint8_t r6[6] = {0x08, 0, 0, 0x20, 0};
	struct scsi_task *t = th_cmd(live, 1, r6, 6, SCSI_XFER_READ, 8192, NULL, 0);
	cr_assert_not_null(t);
	expect_sense(t, SCSI_SENSE_BLANK_CHECK, 0x0005, "EOD after the 7 records");
	scsi_free_scsi_task(t);
	expect_inquiry_ok(live, 0);
	th_logout(live);

	/* And a new session logs in. */
	struct iscsi_context *fresh = vp_login(&vtl, false);
	expect_inquiry_ok(fresh, 1);
	th_logout(fresh);
}

/* ---- security and digests, as configured in vtld.conf ---- */

#define CHAP_CONF                                                                                  \
	"[iscsi]\n"                                                                                \
	"iqn = iqn.2026-11.test.vtl:chap\n"                                                        \
	"chap_user = backup\n"                                                                     \
	"chap_secret = initiator-secret-1\n"                                                       \
	"mutual_user = vtl\n"                                                                      \
	"mutual_secret = target-secret-22\n"

static int chap_login(const char *user, const char *secret, const char *tuser, const char *tsecret)
{
	struct iscsi_context *iscsi = iscsi_create_context(VP_INITIATOR);
	cr_assert_not_null(iscsi);
	iscsi_set_noautoreconnect(iscsi, 1);
	iscsi_set_timeout(iscsi, 10);
	iscsi_set_targetname(iscsi, vtl.iqn);
	iscsi_set_session_type(iscsi, ISCSI_SESSION_NORMAL);
	if (user)
		iscsi_set_initiator_username_pwd(iscsi, user, secret);
	if (tuser)
		iscsi_set_target_username_pwd(iscsi, tuser, tsecret);
	cr_assert_eq(iscsi_connect_sync(iscsi, vtl.portal), 0);
	int rc = iscsi_login_sync(iscsi);
	if (rc == 0) {
		expect_inquiry_ok(iscsi, 0);
		iscsi_logout_sync(iscsi);
	}
	iscsi_destroy_context(iscsi);
	return rc;
}

Test(vtld_security, chap_from_the_config_file_admits_the_right_secret_only)
{
	vp_start(&vtl, CHAP_CONF);
	cr_assert_str_eq(vtl.iqn, "iqn.2026-11.test.vtl:chap");
	cr_expect_eq(chap_login("backup", "initiator-secret-1", NULL, NULL), 0, "one-way CHAP");
	cr_expect_eq(chap_login("backup", "initiator-secret-1", "vtl", "target-secret-22"), 0,
		     "mutual CHAP");
	cr_expect_neq(chap_login("backup", "wrong-secret-xyz", NULL, NULL), 0, "wrong secret");
	cr_expect_neq(chap_login("intruder", "initiator-secret-1", NULL, NULL), 0, "wrong user");
	cr_expect_neq(chap_login(NULL, NULL, NULL, NULL), 0, "no CHAP at all");
	cr_expect_neq(chap_login("backup", "initiator-secret-1", "vtl", "not-the-target-secret"), 0,
		      "the initiator detects a target with the wrong mutual secret");
	/* Discovery needs no CHAP (no discovery secret configured). */
	struct iscsi_context *d = vp_login(&vtl, true);
	struct iscsi_discovery_address *da = iscsi_discovery_sync(d);
	cr_assert_not_null(da);
	cr_expect_str_eq(da->target_name, vtl.iqn);
	iscsi_free_discovery_data(d, da);
	th_logout(d);
	cr_expect(vp_alive(&vtl));
}

Test(vtld_security, login_without_chap_when_none_is_configured)
{
	vp_start(&vtl, NULL);
	cr_expect_eq(chap_login(NULL, NULL, NULL, NULL), 0);
	/* An initiator offering CHAP to a target without it still logs in
	 * (AuthMethod=CHAP,None answered None). */
	cr_expect_eq(chap_login("backup", "initiator-secret-1", NULL, NULL), 0);
}

static void digest_round_trip(enum iscsi_header_digest hd)
{
	create_tapes(1);
	struct iscsi_context *iscsi = iscsi_create_context(VP_INITIATOR);
	iscsi_set_noautoreconnect(iscsi, 1);
	iscsi_set_targetname(iscsi, vtl.iqn);
	iscsi_set_session_type(iscsi, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(iscsi, hd);
	cr_assert_eq(iscsi_connect_sync(iscsi, vtl.portal), 0);
	cr_assert_eq(iscsi_login_sync(iscsi), 0, "%s", iscsi_get_error(iscsi));
	th_tur_clear(iscsi, 0);
	move_ok(iscsi, SLOT0, DRIVE0);
	th_tur_clear(iscsi, 1);
	write_two_files(iscsi, 1, 3);
	verify_two_files(iscsi, 1, 3);
	th_logout(iscsi);
}

Test(vtld_security, header_digest_crc32c_carries_a_tape_round_trip)
{
	vp_start(&vtl, NULL);
	digest_round_trip(ISCSI_HEADER_DIGEST_CRC32C);
}

Test(vtld_security, header_digest_none_carries_a_tape_round_trip)
{
	vp_start(&vtl, NULL);
	digest_round_trip(ISCSI_HEADER_DIGEST_NONE);
}

/* libiscsi negotiates no DataDigest: the raw initiator does, and every PDU
 * the target sends is checked by raw_recv. */
Test(vtld_security, data_digest_crc32c_carries_a_write_and_a_read)
{
	vp_start(&vtl, NULL);
	create_tapes(1);
	struct iscsi_context *iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 0);
	move_ok(iscsi, SLOT0, DRIVE0);
	th_logout(iscsi);

	static const char *const keys[] = {"HeaderDigest=CRC32C", "DataDigest=CRC32C",
					   "ImmediateData=Yes", "InitialR2T=No", NULL};
	struct raw r;
	raw_login(&r, vtl.port, VP_INITIATOR, vtl.iqn, keys);
	cr_assert(r.hd && r.dd, "both digests negotiated");
	uint8_t rsp[48];
	/* TUR until GOOD (power-on and load unit attentions). */
	for (int i = 0; i < 4; i++) {
		uint8_t bhs[48] = {RAW_SCSI_CMD, 0x80};
		bhs[9] = 1;
		put_be32(bhs + 16, ++r.itt);
		put_be32(bhs + 24, r.cmdsn++);
		raw_send(&r, bhs, NULL, 0);
		cr_assert_geq(raw_recv(&r, rsp, NULL, 0, 3000), 0);
		if (rsp[3] == 0)
			break;
	}
	cr_assert_eq(rsp[3], 0, "TUR never GOOD");

	enum { LEN = 5000 };
	uint8_t rec[LEN];
	th_pattern(rec, LEN, 42);
	uint8_t w[48] = {RAW_SCSI_CMD, 0xa0}; /* F, W: all immediate */
	w[9] = 1;
	put_be32(w + 16, ++r.itt);
	put_be32(w + 20, LEN);
	put_be32(w + 24, r.cmdsn++);
	w[32] = 0x0a;
	put_be24(w + 34, LEN);
	raw_send(&r, w, rec, LEN);
	cr_assert_geq(raw_recv(&r, rsp, NULL, 0, 3000), 0);
	cr_assert_eq(rsp[0] & 0x3f, RAW_SCSI_RSP);
	cr_expect_eq(rsp[3], 0, "WRITE(6) GOOD");

	uint8_t rw[48] = {RAW_SCSI_CMD, 0x80}; /* REWIND */
	rw[9] = 1;
	put_be32(rw + 16, ++r.itt);
	put_be32(rw + 24, r.cmdsn++);
	rw[32] = 0x01;
	raw_send(&r, rw, NULL, 0);
	cr_assert_geq(raw_recv(&r, rsp, NULL, 0, 3000), 0);
	cr_expect_eq(rsp[3], 0, "REWIND GOOD");

	uint8_t rd[48] = {RAW_SCSI_CMD, 0xc0}; /* F, R */
	rd[9] = 1;
	put_be32(rd + 16, ++r.itt);
	put_be32(rd + 20, LEN);
	put_be32(rd + 24, r.cmdsn++);
	rd[32] = 0x08;
	put_be24(rd + 34, LEN);
	raw_send(&r, rd, NULL, 0);
	uint8_t back[LEN];
	int n = raw_recv(&r, rsp, back, sizeof(back), 3000);
	cr_assert_eq(n, LEN);
	cr_expect_eq(rsp[0] & 0x3f, RAW_DATA_IN);
	cr_expect(rsp[1] & 0x01, "status in the Data-In");
	cr_expect_eq(rsp[3], 0);
	cr_expect_arr_eq(rec, back, LEN);
	raw_nop_ping(&r, true);
	close(r.fd);
}
