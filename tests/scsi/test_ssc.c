/*
 * test_ssc.c - the tape drive (scsi/ssc*.c) at CDB level.
 *
 * Every test drives a real drive object through spc_dispatch() with real
 * CDB bytes, on a real cartridge formatted in a fresh mkdtemp directory
 * (tape_format + ssc_insert). Nothing is mocked: what passes here is what an
 * initiator sees.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "scsi/be.h"
#include "scsi/sense.h"
#include "scsi/ssc.h"
#include "tests/scsi/cdb_harness.h"
#include "tests/tmpdir.h"

#define NX  1 /* the initiator most tests use */
#define NX2 2 /* another initiator */

static struct scsi_dev dev;
static char root[PATH_MAX];
static char tapedir[PATH_MAX + 16];
static bool have_dev;

/* ---- fixture ---- */

static void make_drive(enum tape_media gen, enum ssc_vendor vendor)
{
	struct ssc_config cfg = {
	    .generation = gen,
	    .vendor = vendor,
	    .serial = "1013000123",
	    .naa = 0x5000e11100000001ull,
	    .rel_port = 1,
	};
	cr_assert_eq(ssc_drive_init(&dev, &cfg), 0);
	have_dev = true;
}

/* Format a cartridge in root/<name>; capacity 0 = native. */
static const char *make_tape(const char *name, enum tape_media media, uint64_t capacity, bool wp)
{
	struct tape_info info;

	memset(&info, 0, sizeof(info));
	snprintf(info.barcode, sizeof(info.barcode), "%s", name);
	snprintf(info.serial, sizeof(info.serial), "MSN%s", name);
	info.media = media;
	info.capacity = capacity;
	info.write_protect = wp;
	info.created = 1700000000; /* 2023-11-14 */
	snprintf(tapedir, sizeof(tapedir), "%s/%s", root, name);
	cr_assert_eq(tape_format(tapedir, &info), 0, "tape_format %s", tapedir);
	return tapedir;
}

static void setup_empty(void)
{
	tmpdir_make(root, sizeof(root), "ssc");
	make_drive(TAPE_LTO6, SSC_VENDOR_IBM);
}

/* Drive with a blank LTO-6 cartridge loaded, unit attentions consumed. */
static void setup_loaded(void)
{
	setup_empty();
	cr_assert_eq(ssc_insert(&dev, make_tape("ABC123L6", TAPE_LTO6, 0, false)), 0);
	cdb_drain_ua(&dev, NX);
}

static void teardown(void)
{
	if (have_dev)
		ssc_drive_destroy(&dev);
	have_dev = false;
	tmpdir_remove(root);
}

/* ---- CDB builders ---- */

static void cmd6(struct scsi_cmd *c, uint8_t op, uint8_t b1, uint32_t len24, const void *out,
		 uint32_t out_len, void *in, uint32_t in_cap)
{
	uint8_t cdb[6] = {op, b1};
	put_be24(cdb + 2, len24);
	cdb_exec(&dev, c, NX, cdb, 6, out, out_len, in, in_cap);
}

static void write_rec(struct scsi_cmd *c, const void *data, uint32_t len)
{
	cmd6(c, WRITE_6, 0, len, data, len, NULL, 0);
}

static void write_ok(const void *data, uint32_t len)
{
	struct scsi_cmd c;
	write_rec(&c, data, len);
	cdb_assert_good(&c);
}

static void wfm(struct scsi_cmd *c, uint32_t count, bool immed)
{
	cmd6(c, WRITE_FILEMARKS_6, immed ? 1 : 0, count, NULL, 0, NULL, 0);
}

static void wfm_ok(uint32_t count)
{
	struct scsi_cmd c;
	wfm(&c, count, false);
	cdb_assert_good(&c);
}

static void read_var(struct scsi_cmd *c, bool sili, uint32_t len, void *buf, uint32_t cap)
{
	cmd6(c, READ_6, sili ? 2 : 0, len, NULL, 0, buf, cap);
}

static void space6(struct scsi_cmd *c, uint8_t code, int32_t count)
{
	cmd6(c, SPACE_6, code, (uint32_t)count & 0xffffff, NULL, 0, NULL, 0);
}

static void rewind_ok(void)
{
	struct scsi_cmd c;
	cmd6(&c, REWIND, 0, 0, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
}

/* READ POSITION long form: object number and file number. */
static void position(uint64_t *obj, uint64_t *file, uint8_t *flags)
{
	struct scsi_cmd c;
	uint8_t cdb[10] = {READ_POSITION, 0x06};
	uint8_t buf[32];

	cdb_exec(&dev, &c, NX, cdb, 10, NULL, 0, buf, sizeof(buf));
	cdb_assert_good(&c);
	cr_assert_eq(c.in_len, 32);
	if (obj)
		*obj = get_be64(buf + 8);
	if (file)
		*file = get_be64(buf + 16);
	if (flags)
		*flags = buf[0];
}

static uint64_t pos(void)
{
	uint64_t p;
	position(&p, NULL, NULL);
	return p;
}

static void fill(uint8_t *buf, size_t n, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = (uint8_t)x;
	}
}

/* MODE SELECT(6) of a header and block descriptor only. */
static void mode_select_bd(struct scsi_cmd *c, uint64_t nexus, uint8_t dev_specific,
			   uint8_t density, uint32_t block_len)
{
	uint8_t cdb[6] = {MODE_SELECT_6, 0x10, 0, 0, 12};
	uint8_t p[12] = {0, 0, dev_specific, 8, density};
	put_be24(p + 9, block_len);
	cdb_exec(&dev, c, nexus, cdb, 6, p, 12, NULL, 0);
}

static void set_block_len(uint32_t bl)
{
	struct scsi_cmd c;
	mode_select_bd(&c, NX, 0x10, 0, bl);
	cdb_assert_good(&c);
}

/* Standard tape with: rec0(100) rec1(200) FM rec3(300) FM, position BOT. */
static void std_layout(void)
{
	uint8_t buf[300];
	fill(buf, sizeof(buf), 1);
	write_ok(buf, 100);
	write_ok(buf, 200);
	wfm_ok(1);
	write_ok(buf, 300);
	wfm_ok(1);
	rewind_ok();
}

/* ======================= unit attention, readiness ======================= */

TestSuite(ssc_ready, .init = setup_empty, .fini = teardown);

Test(ssc_ready, empty_drive_reports_medium_not_present)
{
	struct scsi_cmd c;
	cdb_drain_ua(&dev, NX);
	cmd6(&c, TEST_UNIT_READY, 0, 0, NULL, 0, NULL, 0);
	cdb_assert_sense(&c, SK_NOT_READY, ASC_MEDIUM_NOT_PRESENT);
	cmd6(&c, READ_6, 0, 10, NULL, 0, NULL, 0);
	cdb_assert_sense(&c, SK_NOT_READY, ASC_MEDIUM_NOT_PRESENT);
	cr_assert_eq(ssc_state(&dev), SSC_EMPTY);
}

Test(ssc_ready, insert_raises_not_ready_to_ready_change_for_every_nexus)
{
	struct scsi_cmd c;
	cdb_drain_ua(&dev, NX);
	cdb_drain_ua(&dev, NX2);
	cr_assert_eq(ssc_insert(&dev, make_tape("T1L6", TAPE_LTO6, 0, false)), 0);
	cmd6(&c, TEST_UNIT_READY, 0, 0, NULL, 0, NULL, 0);
	cdb_assert_sense(&c, SK_UNIT_ATTENTION, ASC_NOT_READY_TO_READY_CHANGE);
	cmd6(&c, TEST_UNIT_READY, 0, 0, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
	uint8_t tur[6] = {TEST_UNIT_READY};
	cdb_exec(&dev, &c, NX2, tur, 6, NULL, 0, NULL, 0);
	cdb_assert_sense(&c, SK_UNIT_ATTENTION, ASC_NOT_READY_TO_READY_CHANGE);
	cr_assert_eq(ssc_state(&dev), SSC_LOADED);
	char bc[17];
	ssc_barcode(&dev, bc);
	cr_assert_str_eq(bc, "T1L6");
}

Test(ssc_ready, second_insert_is_busy)
{
	cr_assert_eq(ssc_insert(&dev, make_tape("T1L6", TAPE_LTO6, 0, false)), 0);
	cr_assert_eq(ssc_insert(&dev, make_tape("T2L6", TAPE_LTO6, 0, false)), -EBUSY);
}

Test(ssc_ready, too_old_generation_is_refused)
{
	/* An LTO-6 drive cannot read LTO-4 nor anything newer than itself;
	 * LTO-5 is not writable by LTO-7... see the read-only test. */
	cr_assert_eq(ssc_insert(&dev, make_tape("T9L9", TAPE_LTO9, 0, false)), -EMEDIUMTYPE);
	cr_assert_eq(ssc_state(&dev), SSC_EMPTY);
}

Test(ssc_ready, two_generations_back_is_read_only)
{
	struct scsi_cmd c;
	ssc_drive_destroy(&dev);
	make_drive(TAPE_LTO7, SSC_VENDOR_IBM);
	cr_assert_eq(ssc_insert(&dev, make_tape("OLD5L5", TAPE_LTO5, 0, false)), 0);
	cdb_drain_ua(&dev, NX);
	uint8_t b[16] = {0};
	write_rec(&c, b, 16);
	cdb_assert_sense(&c, SK_DATA_PROTECT, ASC_CANNOT_WRITE_MEDIUM_INCOMPATIBLE_FORMAT);
}

Test(ssc_ready, remove_needs_unload_or_force)
{
	cr_assert_eq(ssc_remove(&dev, false), -ENOENT);
	cr_assert_eq(ssc_insert(&dev, make_tape("T1L6", TAPE_LTO6, 0, false)), 0);
	cr_assert_eq(ssc_remove(&dev, false), -EBUSY);
	cr_assert_eq(ssc_remove(&dev, true), 0);
	cr_assert_eq(ssc_state(&dev), SSC_EMPTY);
}

/* ======================= dispatch from the table ======================= */

TestSuite(ssc_cdb, .init = setup_loaded, .fini = teardown);

Test(ssc_cdb, unknown_opcode_is_invalid_command_operation_code)
{
	struct scsi_cmd c;
	uint8_t cdb[10] = {0x28}; /* READ(10): a disk command */
	cdb_exec(&dev, &c, NX, cdb, 10, NULL, 0, NULL, 0);
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_INVALID_COMMAND_OPERATION_CODE);
}

Test(ssc_cdb, reserved_bit_is_rejected_with_field_pointer)
{
	struct scsi_cmd c;
	cmd6(&c, READ_6, 0x04, 10, NULL, 0, NULL, 0);
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	cdb_assert_field(&c, true, 1, 2);
	uint8_t cdb[10] = {LOCATE_10, 0x02}; /* CP: one partition only */
	cdb_exec(&dev, &c, NX, cdb, 10, NULL, 0, NULL, 0);
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	cdb_assert_field(&c, true, 1, 1);
}

Test(ssc_cdb, unknown_read_position_form_is_invalid_field)
{
	struct scsi_cmd c;
	uint8_t cdb[10] = {READ_POSITION, 0x03};
	uint8_t buf[32];
	cdb_exec(&dev, &c, NX, cdb, 10, NULL, 0, buf, sizeof(buf));
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	cdb_assert_field(&c, true, 1, 4);
}

Test(ssc_cdb, rsoc_one_command_reports_usage_mask)
{
	struct scsi_cmd c;
	/* REPORTING OPTIONS 001b: one command, no service action. */
	uint8_t cdb[12] = {MAINTENANCE_IN, MI_REPORT_SUPPORTED_OPERATION_CODES, 0x01, READ_6};
	uint8_t buf[64];
	put_be32(cdb + 6, sizeof(buf));
	cdb_exec(&dev, &c, NX, cdb, 12, NULL, 0, buf, sizeof(buf));
	cdb_assert_good(&c);
	cr_assert_eq(buf[1] & 0x07, 0x03, "SUPPORT: supported per standard");
	cr_assert_eq(get_be16(buf + 2), 6);
	uint8_t want[6] = {READ_6, 0x03, 0xff, 0xff, 0xff, SPC_CTL};
	cr_assert_arr_eq(buf + 4, want, 6);
}

Test(ssc_cdb, rsoc_all_lists_tape_commands)
{
	struct scsi_cmd c;
	uint8_t cdb[12] = {MAINTENANCE_IN, MI_REPORT_SUPPORTED_OPERATION_CODES, 0x00};
	static uint8_t buf[8192];
	put_be32(cdb + 6, sizeof(buf));
	cdb_exec(&dev, &c, NX, cdb, 12, NULL, 0, buf, sizeof(buf));
	cdb_assert_good(&c);
	uint32_t len = get_be32(buf);
	bool seen_space16 = false, seen_rp_long = false, seen_locate = false;
	for (uint32_t off = 4; off + 8 <= len + 4; off += 8 + ((buf[off + 5] & 2) ? 12 : 0)) {
		uint8_t op = buf[off];
		uint16_t sa = get_be16(buf + off + 2);
		if (op == SPACE_16)
			seen_space16 = true;
		if (op == READ_POSITION && sa == 0x06)
			seen_rp_long = true;
		if (op == LOCATE_10)
			seen_locate = true;
	}
	cr_assert(seen_space16 && seen_rp_long && seen_locate);
}

Test(ssc_cdb, inquiry_reports_lto_model)
{
	struct scsi_cmd c;
	uint8_t buf[96];
	cmd6(&c, INQUIRY, 0, 0, NULL, 0, buf, sizeof(buf));
	/* INQUIRY's allocation length is bytes 3-4. */
	uint8_t cdb[6] = {INQUIRY, 0, 0, 0, 96};
	cdb_exec(&dev, &c, NX, cdb, 6, NULL, 0, buf, sizeof(buf));
	cdb_assert_good(&c);
	cr_assert_eq(buf[0] & 0x1f, SCSI_TYPE_TAPE);
	cr_assert(buf[1] & 0x80, "RMB");
	cr_assert_eq(memcmp(buf + 8, "IBM     ", 8), 0);
	cr_assert_eq(memcmp(buf + 16, "ULT3580-TD6     ", 16), 0);
}

Test(ssc_cdb, inquiry_hpe_vendor_and_product)
{
	struct scsi_cmd c;
	ssc_drive_destroy(&dev);
	make_drive(TAPE_LTO8, SSC_VENDOR_HPE);
	uint8_t buf[96];
	uint8_t cdb[6] = {INQUIRY, 0, 0, 0, 96};
	cdb_exec(&dev, &c, NX, cdb, 6, NULL, 0, buf, sizeof(buf));
	cdb_assert_good(&c);
	cr_assert_eq(memcmp(buf + 8, "HP      ", 8), 0);
	cr_assert_eq(memcmp(buf + 16, "Ultrium 8-SCSI  ", 16), 0);
}

Test(ssc_cdb, vpd_b0_reports_worm_capability)
{
	struct scsi_cmd c;
	uint8_t buf[64];
	uint8_t cdb[6] = {INQUIRY, 1, 0xb0, 0, 64};
	cdb_exec(&dev, &c, NX, cdb, 6, NULL, 0, buf, sizeof(buf));
	cdb_assert_good(&c);
	cr_assert_eq(buf[1], 0xb0);
	cr_assert_eq(get_be16(buf + 2), 2);
	cr_assert_eq(buf[4] & 0x01, 1);
}

Test(ssc_cdb, read_block_limits_reports_max_and_min)
{
	struct scsi_cmd c;
	uint8_t buf[6];
	cmd6(&c, READ_BLOCK_LIMITS, 0, 0, NULL, 0, buf, sizeof(buf));
	cdb_assert_good(&c);
	cr_assert_eq(c.in_len, 6);
	cr_assert_eq(buf[0] & 0x1f, 0);
	cr_assert_eq(get_be24(buf + 1), TAPE_MAX_BLOCK);
	cr_assert_eq(get_be16(buf + 4), 1);
}

/* ======================= READ / WRITE ======================= */

TestSuite(ssc_read, .init = setup_loaded, .fini = teardown);

Test(ssc_read, variable_record_reads_back_byte_for_byte)
{
	struct scsi_cmd c;
	uint8_t w[4096], r[4096];
	fill(w, sizeof(w), 7);
	write_ok(w, sizeof(w));
	rewind_ok();
	read_var(&c, false, sizeof(r), r, sizeof(r));
	cdb_assert_good(&c);
	cr_assert_eq(c.in_len, sizeof(r));
	cr_assert_arr_eq(r, w, sizeof(w));
	cr_assert_eq(pos(), 1);
}

Test(ssc_read, short_record_sets_ili_and_positive_residue)
{
	struct scsi_cmd c;
	uint8_t w[100], r[500];
	fill(w, sizeof(w), 2);
	write_ok(w, 100);
	rewind_ok();
	read_var(&c, false, 500, r, sizeof(r));
	cdb_assert_sense(&c, SK_NO_SENSE, ASC_NO_ADDITIONAL_SENSE);
	cr_assert_eq(cdb_flags(&c), SENSE_ILI);
	cr_assert_eq(cdb_info(&c), 400);
	cr_assert_eq(c.in_len, 100);
	cr_assert_arr_eq(r, w, 100);
	cr_assert_eq(pos(), 1);
}

Test(ssc_read, long_record_sets_ili_negative_residue_and_truncates)
{
	struct scsi_cmd c;
	uint8_t w[1000], r[1000];
	fill(w, sizeof(w), 3);
	write_ok(w, 1000);
	rewind_ok();
	memset(r, 0, sizeof(r));
	read_var(&c, false, 300, r, 300);
	cdb_assert_sense(&c, SK_NO_SENSE, ASC_NO_ADDITIONAL_SENSE);
	cr_assert_eq(cdb_flags(&c), SENSE_ILI);
	cr_assert_eq(cdb_info(&c), -700);
	cr_assert_eq(c.in_len, 300);
	cr_assert_arr_eq(r, w, 300);
	cr_assert_eq(pos(), 1, "positioned after the record");
}

Test(ssc_read, sili_suppresses_short_and_variable_mode_long_records)
{
	struct scsi_cmd c;
	uint8_t w[1000], r[2000];
	fill(w, sizeof(w), 4);
	write_ok(w, 1000);
	write_ok(w, 1000);
	rewind_ok();
	read_var(&c, true, 2000, r, sizeof(r));
	cdb_assert_good(&c);
	cr_assert_eq(c.in_len, 1000);
	read_var(&c, true, 10, r, 10);
	cdb_assert_good(&c);
	cr_assert_eq(c.in_len, 10);
}

Test(ssc_read, sili_reports_long_record_when_block_length_is_set)
{
	struct scsi_cmd c;
	uint8_t w[1000], r[100];
	fill(w, sizeof(w), 5);
	write_ok(w, 1000);
	rewind_ok();
	set_block_len(512);
	read_var(&c, true, 100, r, sizeof(r));
	cdb_assert_sense(&c, SK_NO_SENSE, ASC_NO_ADDITIONAL_SENSE);
	cr_assert_eq(cdb_flags(&c), SENSE_ILI);
	cr_assert_eq(cdb_info(&c), -900);
}

Test(ssc_read, filemark_sets_filemark_bit_and_positions_after_it)
{
	struct scsi_cmd c;
	uint8_t r[512];
	wfm_ok(1);
	write_ok("abc", 3);
	rewind_ok();
	read_var(&c, false, 512, r, sizeof(r));
	cdb_assert_sense(&c, SK_NO_SENSE, ASC_FILEMARK_DETECTED);
	cr_assert_eq(cdb_flags(&c), SENSE_FILEMARK);
	cr_assert_eq(cdb_info(&c), 512);
	cr_assert_eq(c.in_len, 0);
	uint64_t obj, file;
	position(&obj, &file, NULL);
	cr_assert_eq(obj, 1);
	cr_assert_eq(file, 1);
	read_var(&c, false, 512, r, sizeof(r));
	cr_assert_eq(c.in_len, 3);
}

Test(ssc_read, end_of_data_is_blank_check)
{
	struct scsi_cmd c;
	uint8_t r[64];
	write_ok("abc", 3);
	rewind_ok();
	read_var(&c, false, 3, r, sizeof(r));
	cdb_assert_good(&c);
	read_var(&c, false, 64, r, sizeof(r));
	cdb_assert_sense(&c, SK_BLANK_CHECK, ASC_END_OF_DATA_DETECTED);
	cr_assert_eq(cdb_info(&c), 64);
	cr_assert_eq(pos(), 1, "EOD does not move the position");
}

Test(ssc_read, blank_tape_read_is_blank_check)
{
	struct scsi_cmd c;
	uint8_t r[64];
	read_var(&c, false, 64, r, sizeof(r));
	cdb_assert_sense(&c, SK_BLANK_CHECK, ASC_END_OF_DATA_DETECTED);
}

Test(ssc_read, zero_transfer_length_is_no_op)
{
	struct scsi_cmd c;
	write_ok("abc", 3);
	rewind_ok();
	read_var(&c, false, 0, NULL, 0);
	cdb_assert_good(&c);
	cr_assert_eq(pos(), 0);
}

Test(ssc_read, fixed_mode_reads_count_blocks)
{
	struct scsi_cmd c;
	uint8_t w[2048], r[2048];
	fill(w, sizeof(w), 6);
	set_block_len(512);
	cmd6(&c, WRITE_6, 1, 4, w, sizeof(w), NULL, 0);
	cdb_assert_good(&c);
	cr_assert_eq(pos(), 4);
	rewind_ok();
	cmd6(&c, READ_6, 1, 4, NULL, 0, r, sizeof(r));
	cdb_assert_good(&c);
	cr_assert_eq(c.in_len, 2048);
	cr_assert_arr_eq(r, w, sizeof(w));
}

Test(ssc_read, fixed_bit_without_block_length_is_invalid_field)
{
	struct scsi_cmd c;
	uint8_t r[512];
	cmd6(&c, READ_6, 1, 1, NULL, 0, r, sizeof(r));
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	cdb_assert_field(&c, true, 1, 0);
	cmd6(&c, WRITE_6, 1, 1, r, sizeof(r), NULL, 0);
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
}

Test(ssc_read, fixed_with_sili_is_invalid_field)
{
	struct scsi_cmd c;
	uint8_t r[512];
	set_block_len(512);
	cmd6(&c, READ_6, 3, 1, NULL, 0, r, sizeof(r));
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	cdb_assert_field(&c, true, 1, 1);
}

Test(ssc_read, fixed_mode_incorrect_length_block_reports_block_residue)
{
	struct scsi_cmd c;
	uint8_t w[512 * 2], r[512 * 4];
	fill(w, sizeof(w), 8);
	set_block_len(512);
	cmd6(&c, WRITE_6, 1, 2, w, sizeof(w), NULL, 0);
	cdb_assert_good(&c);
	write_ok(w, 100); /* a variable record of 100 bytes */
	write_ok(w, 512);
	rewind_ok();
	cmd6(&c, READ_6, 1, 4, NULL, 0, r, sizeof(r));
	cdb_assert_sense(&c, SK_NO_SENSE, ASC_NO_ADDITIONAL_SENSE);
	cr_assert_eq(cdb_flags(&c), SENSE_ILI);
	cr_assert_eq(cdb_info(&c), 2, "4 requested, 2 read correctly");
	cr_assert_eq(c.in_len, 1024 + 100);
	cr_assert_eq(pos(), 3, "after the incorrect-length block");
}

Test(ssc_read, fixed_mode_filemark_reports_block_residue)
{
	struct scsi_cmd c;
	uint8_t w[512 * 3], r[512 * 5];
	set_block_len(512);
	cmd6(&c, WRITE_6, 1, 3, w, sizeof(w), NULL, 0);
	cdb_assert_good(&c);
	wfm_ok(1);
	rewind_ok();
	cmd6(&c, READ_6, 1, 5, NULL, 0, r, sizeof(r));
	cdb_assert_sense(&c, SK_NO_SENSE, ASC_FILEMARK_DETECTED);
	cr_assert_eq(cdb_flags(&c), SENSE_FILEMARK);
	cr_assert_eq(cdb_info(&c), 2);
	cr_assert_eq(c.in_len, 1536);
	cr_assert_eq(pos(), 4);
}

Test(ssc_read, corrupted_record_is_medium_error)
{
	struct scsi_cmd c;
	uint8_t w[8192], r[8192];
	fill(w, sizeof(w), 9);
	write_ok(w, sizeof(w));
	wfm_ok(0); /* flush */
	/* Flip a payload byte of the only record in the segment file. */
	char path[PATH_MAX * 2];
	bool flipped = false;
	for (int id = 0; id < 8 && !flipped; id++) {
		snprintf(path, sizeof(path), "%s/seg-%016x.dat", tapedir, id);
		int fd = open(path, O_RDWR);
		if (fd < 0)
			continue;
		off_t size = lseek(fd, 0, SEEK_END);
		if (size > 4096) {
			uint8_t b;
			cr_assert_eq(pread(fd, &b, 1, size - 100), 1);
			b ^= 0x40;
			cr_assert_eq(pwrite(fd, &b, 1, size - 100), 1);
			flipped = true;
		}
		close(fd);
	}
	cr_assert(flipped, "found the segment file");
	rewind_ok();
	read_var(&c, false, sizeof(r), r, sizeof(r));
	cdb_assert_sense(&c, SK_MEDIUM_ERROR, ASC_UNRECOVERED_READ_ERROR);
	cr_assert_eq(c.in_len, 0, "never returned as data");
}

TestSuite(ssc_write, .init = setup_loaded, .fini = teardown);

Test(ssc_write, write_protected_cartridge_is_data_protect)
{
	struct scsi_cmd c;
	cr_assert_eq(ssc_remove(&dev, true), 0);
	cr_assert_eq(ssc_insert(&dev, make_tape("WP01L6", TAPE_LTO6, 0, true)), 0);
	cdb_drain_ua(&dev, NX);
	write_rec(&c, "abc", 3);
	cdb_assert_sense(&c, SK_DATA_PROTECT, ASC_WRITE_PROTECTED);
	wfm(&c, 1, false);
	cdb_assert_sense(&c, SK_DATA_PROTECT, ASC_WRITE_PROTECTED);
	cmd6(&c, ERASE_6, 1, 0, NULL, 0, NULL, 0);
	cdb_assert_sense(&c, SK_DATA_PROTECT, ASC_WRITE_PROTECTED);
	/* MODE SENSE reports WP in the device-specific parameter. */
	uint8_t buf[64];
	uint8_t cdb[6] = {MODE_SENSE_6, 0, 0x3f, 0, 64};
	cdb_exec(&dev, &c, NX, cdb, 6, NULL, 0, buf, sizeof(buf));
	cdb_assert_good(&c);
	cr_assert(buf[2] & 0x80);
}

Test(ssc_write, too_long_variable_record_is_invalid_field)
{
	struct scsi_cmd c;
	cmd6(&c, WRITE_6, 0, TAPE_MAX_BLOCK + 1, NULL, 0, NULL, 0);
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
}

Test(ssc_write, write_in_the_middle_discards_what_follows)
{
	struct scsi_cmd c;
	uint8_t r[64];
	write_ok("one", 3);
	write_ok("two", 3);
	write_ok("three", 5);
	rewind_ok();
	read_var(&c, false, 64, r, sizeof(r));
	write_ok("new", 3);
	rewind_ok();
	read_var(&c, false, 64, r, sizeof(r));
	read_var(&c, false, 64, r, sizeof(r));
	cr_assert_eq(c.in_len, 3);
	cr_assert_eq(memcmp(r, "new", 3), 0);
	read_var(&c, false, 64, r, sizeof(r));
	cdb_assert_sense(&c, SK_BLANK_CHECK, ASC_END_OF_DATA_DETECTED);
}

/* A 1 MiB cartridge: early warning 32 KiB before its end. */
static void small_tape(void)
{
	cr_assert_eq(ssc_remove(&dev, true), 0);
	cr_assert_eq(ssc_insert(&dev, make_tape("SMALL1L6", TAPE_LTO6, 1u << 20, false)), 0);
	cdb_drain_ua(&dev, NX);
}

Test(ssc_write, early_warning_reports_eom_with_no_sense_then_volume_overflow)
{
	struct scsi_cmd c;
	static uint8_t w[16384];
	fill(w, sizeof(w), 10);
	small_tape();
	uint64_t written = 0;
	int i;
	for (i = 0; i < 200; i++) {
		write_rec(&c, w, sizeof(w));
		if (c.status != SAM_STAT_GOOD)
			break;
		written++;
	}
	/* SSC-4 4.2.5: the write that crosses early warning completes. */
	cdb_assert_sense(&c, SK_NO_SENSE, ASC_END_OF_PARTITION_MEDIUM_DETECTED);
	cr_assert_eq(cdb_flags(&c), SENSE_EOM);
	cr_assert_eq(cdb_info(&c), 0);
	written++;
	cr_assert_eq(pos(), written);
	uint8_t fl;
	position(NULL, NULL, &fl);
	cr_assert(fl & 0x01, "BPEW");
	/* Filemarks in the zone also complete with EOM. */
	wfm(&c, 1, false);
	cdb_assert_sense(&c, SK_NO_SENSE, ASC_END_OF_PARTITION_MEDIUM_DETECTED);
	cr_assert_eq(cdb_flags(&c), SENSE_EOM);
	written++;
	/* Keep writing: each write reports EOM until the physical end. */
	for (i = 0; i < 200; i++) {
		write_rec(&c, w, sizeof(w));
		if (sense_key(c.sense, c.sense_len) != SK_NO_SENSE)
			break;
		cr_assert_eq(cdb_flags(&c), SENSE_EOM);
		written++;
	}
	cdb_assert_sense(&c, SK_VOLUME_OVERFLOW, ASC_END_OF_PARTITION_MEDIUM_DETECTED);
	cr_assert_eq(cdb_flags(&c), SENSE_EOM);
	cr_assert_eq(cdb_info(&c), sizeof(w), "nothing of the record was written");
	cr_assert_eq(pos(), written);
}

Test(ssc_write, fixed_mode_volume_overflow_reports_blocks_not_written)
{
	struct scsi_cmd c;
	static uint8_t w[65536 * 4];
	small_tape();
	set_block_len(65536);
	fill(w, sizeof(w), 11);
	uint32_t total = 0;
	for (int i = 0; i < 10; i++) {
		cmd6(&c, WRITE_6, 1, 4, w, sizeof(w), NULL, 0);
		if (sense_key(c.sense, c.sense_len) == SK_VOLUME_OVERFLOW)
			break;
		total += 4;
	}
	cdb_assert_sense(&c, SK_VOLUME_OVERFLOW, ASC_END_OF_PARTITION_MEDIUM_DETECTED);
	int64_t residue = cdb_info(&c);
	cr_assert(residue >= 1 && residue <= 4);
	cr_assert_eq(pos(), total + 4 - (uint64_t)residue);
}

Test(ssc_write, unbuffered_mode_is_settable_and_reported)
{
	struct scsi_cmd c;
	uint8_t buf[64];
	uint8_t cdb[6] = {MODE_SENSE_6, 0, 0x3f, 0, 64};
	cdb_exec(&dev, &c, NX, cdb, 6, NULL, 0, buf, sizeof(buf));
	cdb_assert_good(&c);
	cr_assert_eq((buf[2] >> 4) & 7, 1, "buffered by default");
	mode_select_bd(&c, NX, 0x00, 0, 0);
	cdb_assert_good(&c);
	cdb_exec(&dev, &c, NX, cdb, 6, NULL, 0, buf, sizeof(buf));
	cr_assert_eq((buf[2] >> 4) & 7, 0);
	write_ok("abc", 3);
	/* IMMED needs buffered mode. */
	wfm(&c, 1, true);
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
}

TestSuite(ssc_filemarks, .init = setup_loaded, .fini = teardown);

Test(ssc_filemarks, immed_and_not_immed_both_write_filemarks)
{
	struct scsi_cmd c;
	write_ok("abc", 3);
	wfm(&c, 2, true);
	cdb_assert_good(&c);
	wfm(&c, 1, false);
	cdb_assert_good(&c);
	uint64_t obj, file;
	position(&obj, &file, NULL);
	cr_assert_eq(obj, 4);
	cr_assert_eq(file, 3);
}

Test(ssc_filemarks, count_zero_flushes_without_truncating)
{
	struct scsi_cmd c;
	uint8_t r[16];
	write_ok("one", 3);
	write_ok("two", 3);
	rewind_ok();
	wfm(&c, 0, false);
	cdb_assert_good(&c);
	read_var(&c, true, 16, r, sizeof(r));
	read_var(&c, true, 16, r, sizeof(r));
	cdb_assert_good(&c);
	cr_assert_eq(memcmp(r, "two", 3), 0);
}

Test(ssc_filemarks, flushed_data_survives_reinsert)
{
	struct scsi_cmd c;
	uint8_t r[16];
	write_ok("keep", 4);
	wfm_ok(1);
	cr_assert_eq(ssc_remove(&dev, true), 0);
	cr_assert_eq(ssc_insert(&dev, tapedir), 0);
	cdb_drain_ua(&dev, NX);
	read_var(&c, false, 4, r, sizeof(r));
	cdb_assert_good(&c);
	cr_assert_eq(memcmp(r, "keep", 4), 0);
	read_var(&c, false, 16, r, sizeof(r));
	cdb_assert_sense(&c, SK_NO_SENSE, ASC_FILEMARK_DETECTED);
}

/* ======================= SPACE ======================= */

TestSuite(ssc_space, .init = setup_loaded, .fini = teardown);

Test(ssc_space, blocks_forward)
{
	struct scsi_cmd c;
	std_layout();
	space6(&c, 0, 2);
	cdb_assert_good(&c);
	cr_assert_eq(pos(), 2);
}

Test(ssc_space, blocks_forward_stops_after_filemark_with_residue)
{
	struct scsi_cmd c;
	std_layout();
	space6(&c, 0, 5);
	cdb_assert_sense(&c, SK_NO_SENSE, ASC_FILEMARK_DETECTED);
	cr_assert_eq(cdb_flags(&c), SENSE_FILEMARK);
	cr_assert_eq(cdb_info(&c), 3);
	cr_assert_eq(pos(), 3, "after the filemark");
}

Test(ssc_space, blocks_backward_stops_before_filemark)
{
	struct scsi_cmd c;
	std_layout();
	space6(&c, 1, 2); /* after the second filemark: object 5 */
	cdb_assert_good(&c);
	cr_assert_eq(pos(), 5);
	space6(&c, 0, -3); /* back over FM(4): stops at once */
	cdb_assert_sense(&c, SK_NO_SENSE, ASC_FILEMARK_DETECTED);
	cr_assert_eq(cdb_info(&c), 3);
	cr_assert_eq(pos(), 4, "on the BOP side of the filemark");
}

Test(ssc_space, blocks_backward_past_bot_reports_eom_and_bop)
{
	struct scsi_cmd c;
	std_layout();
	space6(&c, 0, 2);
	space6(&c, 0, -5);
	cdb_assert_sense(&c, SK_NO_SENSE, ASC_BEGINNING_OF_PARTITION_MEDIUM_DETECTED);
	cr_assert_eq(cdb_flags(&c), SENSE_EOM);
	cr_assert_eq(cdb_info(&c), 3);
	cr_assert_eq(pos(), 0);
}

Test(ssc_space, filemarks_forward_to_eod_is_blank_check_with_residue)
{
	struct scsi_cmd c;
	std_layout();
	/* What `mt eod` does first: SPACE filemarks with 0x7fffff. */
	space6(&c, 1, 0x7fffff);
	cdb_assert_sense(&c, SK_BLANK_CHECK, ASC_END_OF_DATA_DETECTED);
	cr_assert_eq(cdb_info(&c), 0x7fffff - 2);
	cr_assert_eq(pos(), 5);
}

Test(ssc_space, filemarks_backward_stops_at_bot)
{
	struct scsi_cmd c;
	std_layout();
	space6(&c, 3, 0);
	cdb_assert_good(&c);
	space6(&c, 1, -4);
	cdb_assert_sense(&c, SK_NO_SENSE, ASC_BEGINNING_OF_PARTITION_MEDIUM_DETECTED);
	cr_assert_eq(cdb_flags(&c), SENSE_EOM);
	cr_assert_eq(cdb_info(&c), 2, "positive residue, as Linux st expects");
	cr_assert_eq(pos(), 0);
}

Test(ssc_space, filemarks_backward_ends_before_filemark)
{
	struct scsi_cmd c;
	std_layout();
	space6(&c, 3, 0);
	space6(&c, 1, -1);
	cdb_assert_good(&c);
	cr_assert_eq(pos(), 4);
}

Test(ssc_space, end_of_data_code_ignores_count)
{
	struct scsi_cmd c;
	std_layout();
	space6(&c, 3, 12345);
	cdb_assert_good(&c);
	uint64_t obj, file;
	position(&obj, &file, NULL);
	cr_assert_eq(obj, 5);
	cr_assert_eq(file, 2);
}

Test(ssc_space, space16_filemarks_backward)
{
	struct scsi_cmd c;
	std_layout();
	space6(&c, 3, 0);
	uint8_t cdb[16] = {SPACE_16, 1};
	put_be64(cdb + 4, (uint64_t)-2);
	cdb_exec(&dev, &c, NX, cdb, 16, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
	cr_assert_eq(pos(), 2);
}

Test(ssc_space, unsupported_code_is_invalid_field)
{
	struct scsi_cmd c;
	space6(&c, 4, 1); /* setmarks */
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	cdb_assert_field(&c, true, 1, 3);
}

/* ======================= positioning ======================= */

TestSuite(ssc_position, .init = setup_loaded, .fini = teardown);

Test(ssc_position, locate10_moves_to_object)
{
	struct scsi_cmd c;
	uint8_t r[512];
	std_layout();
	uint8_t cdb[10] = {LOCATE_10, 0x04}; /* BT=1, as Linux st sends */
	put_be32(cdb + 3, 3);
	cdb_exec(&dev, &c, NX, cdb, 10, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
	read_var(&c, false, 512, r, sizeof(r));
	cr_assert_eq(c.in_len, 300);
}

Test(ssc_position, locate_beyond_eod_is_blank_check_at_eod)
{
	struct scsi_cmd c;
	std_layout();
	uint8_t cdb[10] = {LOCATE_10};
	put_be32(cdb + 3, 100);
	cdb_exec(&dev, &c, NX, cdb, 10, NULL, 0, NULL, 0);
	cdb_assert_sense(&c, SK_BLANK_CHECK, ASC_END_OF_DATA_DETECTED);
	cr_assert_eq(pos(), 5);
}

Test(ssc_position, locate16_to_file_and_eod)
{
	struct scsi_cmd c;
	std_layout();
	uint8_t cdb[16] = {LOCATE_16, 1 << 3}; /* DEST_TYPE 1: logical file */
	put_be64(cdb + 4, 1);
	cdb_exec(&dev, &c, NX, cdb, 16, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
	cr_assert_eq(pos(), 3);
	uint8_t eod[16] = {LOCATE_16, 3 << 3};
	cdb_exec(&dev, &c, NX, eod, 16, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
	cr_assert_eq(pos(), 5);
	uint8_t obj[16] = {LOCATE_16, 0};
	put_be64(obj + 4, 1);
	cdb_exec(&dev, &c, NX, obj, 16, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
	cr_assert_eq(pos(), 1);
}

Test(ssc_position, read_position_short_form_reports_bop)
{
	struct scsi_cmd c;
	uint8_t buf[20];
	std_layout();
	/* Linux st sends service action 01h with allocation length 0. */
	uint8_t cdb[10] = {READ_POSITION, 0x01};
	cdb_exec(&dev, &c, NX, cdb, 10, NULL, 0, buf, sizeof(buf));
	cdb_assert_good(&c);
	cr_assert_eq(c.in_len, 20);
	cr_assert(buf[0] & 0x80, "BOP");
	cr_assert_eq(buf[0] & 0x04, 0, "position known");
	cr_assert_eq(get_be32(buf + 4), 0);
	space6(&c, 0, 2);
	cdb[1] = 0;
	cdb_exec(&dev, &c, NX, cdb, 10, NULL, 0, buf, sizeof(buf));
	cdb_assert_good(&c);
	cr_assert_eq(buf[0] & 0x80, 0);
	cr_assert_eq(get_be32(buf + 4), 2);
	cr_assert_eq(get_be32(buf + 8), 2);
}

Test(ssc_position, read_position_long_form_reports_object_and_file)
{
	struct scsi_cmd c;
	std_layout();
	space6(&c, 1, 1);
	space6(&c, 0, 1);
	uint64_t obj, file;
	uint8_t fl;
	position(&obj, &file, &fl);
	cr_assert_eq(obj, 4);
	cr_assert_eq(file, 1);
	cr_assert_eq(fl & 0x80, 0);
}

Test(ssc_position, read_position_extended_form)
{
	struct scsi_cmd c;
	uint8_t buf[32];
	std_layout();
	space6(&c, 0, 1);
	uint8_t cdb[10] = {READ_POSITION, 0x08, 0, 0, 0, 0, 0, 0, 32};
	cdb_exec(&dev, &c, NX, cdb, 10, NULL, 0, buf, sizeof(buf));
	cdb_assert_good(&c);
	cr_assert_eq(c.in_len, 32);
	cr_assert_eq(get_be16(buf + 2), 0x1c);
	cr_assert_eq(get_be64(buf + 8), 1);
	cr_assert_eq(get_be64(buf + 16), 1);
}

Test(ssc_position, rewind_returns_to_bop)
{
	struct scsi_cmd c;
	std_layout();
	space6(&c, 3, 0);
	rewind_ok();
	uint8_t fl;
	position(NULL, NULL, &fl);
	cr_assert(fl & 0x80);
	cr_assert_eq(pos(), 0);
}

/* ======================= ERASE, VERIFY ======================= */

TestSuite(ssc_erase, .init = setup_loaded, .fini = teardown);

Test(ssc_erase, erase_leaves_eod_at_position)
{
	struct scsi_cmd c;
	uint8_t r[512];
	std_layout();
	space6(&c, 0, 1);
	cmd6(&c, ERASE_6, 1, 0, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
	rewind_ok();
	read_var(&c, false, 100, r, sizeof(r));
	cdb_assert_good(&c);
	read_var(&c, false, 512, r, sizeof(r));
	cdb_assert_sense(&c, SK_BLANK_CHECK, ASC_END_OF_DATA_DETECTED);
	cr_assert_eq(pos(), 1);
}

Test(ssc_erase, erase16_erases_from_the_given_object)
{
	struct scsi_cmd c;
	std_layout();
	uint8_t cdb[16] = {ERASE_16, 0x01};
	put_be64(cdb + 4, 2);
	cdb_exec(&dev, &c, NX, cdb, 16, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
	space6(&c, 3, 0);
	cr_assert_eq(pos(), 2);
}

TestSuite(ssc_verify, .init = setup_loaded, .fini = teardown);

Test(ssc_verify, verify_checks_records_without_data_transfer)
{
	struct scsi_cmd c;
	std_layout();
	cmd6(&c, VERIFY_6, 0, 100, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
	cr_assert_eq(c.in_len, 0);
	cr_assert_eq(pos(), 1);
	cmd6(&c, VERIFY_6, 0, 100, NULL, 0, NULL, 0);
	cdb_assert_sense(&c, SK_NO_SENSE, ASC_NO_ADDITIONAL_SENSE);
	cr_assert_eq(cdb_flags(&c), SENSE_ILI);
	cr_assert_eq(cdb_info(&c), -100);
	cmd6(&c, VERIFY_6, 0, 100, NULL, 0, NULL, 0);
	cdb_assert_sense(&c, SK_NO_SENSE, ASC_FILEMARK_DETECTED);
}

Test(ssc_verify, bytcmp_reports_miscompare)
{
	struct scsi_cmd c;
	uint8_t w[256], other[256];
	fill(w, sizeof(w), 12);
	memcpy(other, w, sizeof(w));
	write_ok(w, sizeof(w));
	write_ok(w, sizeof(w));
	rewind_ok();
	cmd6(&c, VERIFY_6, 2, 256, w, sizeof(w), NULL, 0);
	cdb_assert_good(&c);
	other[10] ^= 1;
	cmd6(&c, VERIFY_6, 2, 256, other, sizeof(other), NULL, 0);
	cdb_assert_sense(&c, SK_MISCOMPARE, ASC_MISCOMPARE_DURING_VERIFY);
}

/* ======================= LOAD UNLOAD ======================= */

TestSuite(ssc_load, .init = setup_loaded, .fini = teardown);

Test(ssc_load, unload_makes_drive_not_ready_until_load)
{
	struct scsi_cmd c;
	write_ok("abc", 3);
	cmd6(&c, LOAD_UNLOAD, 0, 0, NULL, 0, NULL, 0); /* byte 4 = 0: unload */
	cdb_assert_good(&c);
	cr_assert_eq(ssc_state(&dev), SSC_UNLOADED);
	cmd6(&c, TEST_UNIT_READY, 0, 0, NULL, 0, NULL, 0);
	cdb_assert_sense(&c, SK_NOT_READY, ASC_LUN_NOT_READY_INIT_REQUIRED);
	uint8_t load[6] = {LOAD_UNLOAD, 0, 0, 0, 0x01};
	cdb_exec(&dev, &c, NX, load, 6, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
	cmd6(&c, TEST_UNIT_READY, 0, 0, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
	cr_assert_eq(pos(), 0);
	cr_assert_eq(ssc_remove(&dev, false), -EBUSY);
}

Test(ssc_load, unloaded_cartridge_can_be_removed)
{
	struct scsi_cmd c;
	cmd6(&c, LOAD_UNLOAD, 1, 0, NULL, 0, NULL, 0); /* IMMED */
	cdb_assert_good(&c);
	cr_assert_eq(ssc_remove(&dev, false), 0);
	cmd6(&c, TEST_UNIT_READY, 0, 0, NULL, 0, NULL, 0);
	cdb_assert_sense(&c, SK_NOT_READY, ASC_MEDIUM_NOT_PRESENT);
	cmd6(&c, LOAD_UNLOAD, 0, 0, NULL, 0, NULL, 0);
	cdb_assert_sense(&c, SK_NOT_READY, ASC_MEDIUM_NOT_PRESENT);
}

Test(ssc_load, load_with_eot_is_invalid_field)
{
	struct scsi_cmd c;
	uint8_t cdb[6] = {LOAD_UNLOAD, 0, 0, 0, 0x05};
	cdb_exec(&dev, &c, NX, cdb, 6, NULL, 0, NULL, 0);
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	cdb_assert_field(&c, true, 4, 2);
}

Test(ssc_load, prevent_medium_removal_blocks_unload)
{
	struct scsi_cmd c;
	uint8_t prevent[6] = {PREVENT_ALLOW_MEDIUM_REMOVAL, 0, 0, 0, 1};
	cdb_exec(&dev, &c, NX, prevent, 6, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
	cmd6(&c, LOAD_UNLOAD, 0, 0, NULL, 0, NULL, 0);
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_MEDIUM_REMOVAL_PREVENTED);
	cr_assert_eq(ssc_state(&dev), SSC_LOADED);
	uint8_t allow[6] = {PREVENT_ALLOW_MEDIUM_REMOVAL};
	cdb_exec(&dev, &c, NX, allow, 6, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
	cmd6(&c, LOAD_UNLOAD, 0, 0, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
}

/* ======================= mode pages ======================= */

TestSuite(ssc_mode, .init = setup_loaded, .fini = teardown);

static uint32_t mode_sense10(uint8_t page, uint8_t pc, uint8_t *buf, uint16_t cap)
{
	struct scsi_cmd c;
	uint8_t cdb[10] = {MODE_SENSE_10, 0, (uint8_t)(pc << 6 | page)};
	put_be16(cdb + 7, cap);
	cdb_exec(&dev, &c, NX, cdb, 10, NULL, 0, buf, cap);
	cdb_assert_good(&c);
	return c.in_len;
}

Test(ssc_mode, block_descriptor_reports_density_and_block_length)
{
	uint8_t buf[128];
	mode_sense10(0x10, 0, buf, sizeof(buf));
	cr_assert_eq(get_be16(buf + 6), 8, "one short block descriptor");
	cr_assert_eq(buf[8], 0x5a, "LTO-6 density code");
	cr_assert_eq(get_be24(buf + 8 + 5), 0, "variable mode");
	set_block_len(1024);
	mode_sense10(0x10, 0, buf, sizeof(buf));
	cr_assert_eq(get_be24(buf + 8 + 5), 1024);
}

Test(ssc_mode, mode_select_raises_parameters_changed_for_other_nexus)
{
	struct scsi_cmd c;
	cdb_drain_ua(&dev, NX2);
	set_block_len(2048);
	uint8_t tur[6] = {TEST_UNIT_READY};
	cdb_exec(&dev, &c, NX2, tur, 6, NULL, 0, NULL, 0);
	cdb_assert_sense(&c, SK_UNIT_ATTENTION, ASC_MODE_PARAMETERS_CHANGED);
	cmd6(&c, TEST_UNIT_READY, 0, 0, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
}

Test(ssc_mode, oversized_block_length_is_invalid_parameter)
{
	struct scsi_cmd c;
	mode_select_bd(&c, NX, 0x10, 0, TAPE_MAX_BLOCK + 1);
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_PARAMETER_LIST);
}

Test(ssc_mode, compression_page_toggles_dce)
{
	struct scsi_cmd c;
	uint8_t buf[64];
	mode_sense10(0x0f, 0, buf, sizeof(buf));
	uint8_t *pg = buf + 8 + 8;
	cr_assert_eq(pg[0] & 0x3f, 0x0f);
	cr_assert_eq(pg[1], 0x0e);
	cr_assert(pg[2] & 0x80, "DCE on by default, as LTO drives ship");
	cr_assert(pg[2] & 0x40, "DCC");
	cr_assert_eq(get_be32(pg + 4), 1);
	/* Linux st_compression: read, clear DCE, write back (MODE SELECT(6)). */
	uint8_t p[4 + 8 + 16] = {0, 0, 0x10, 8};
	memcpy(p + 4, buf + 8, 8);
	memcpy(p + 12, pg, 16);
	p[12] &= 0x3f; /* PS is reserved in MODE SELECT */
	p[14] &= 0x7f;
	uint8_t cdb[6] = {MODE_SELECT_6, 0x10, 0, 0, sizeof(p)};
	cdb_exec(&dev, &c, NX, cdb, 6, p, sizeof(p), NULL, 0);
	cdb_assert_good(&c);
	mode_sense10(0x0f, 0, buf, sizeof(buf));
	cr_assert_eq(pg[2] & 0x80, 0);
	mode_sense10(0x10, 0, buf, sizeof(buf));
	cr_assert_eq(buf[16 + 14], 0, "SELECT DATA COMPRESSION ALGORITHM follows DCE");
}

Test(ssc_mode, compression_changes_stored_bytes)
{
	struct scsi_cmd c;
	static uint8_t zeros[65536];
	uint8_t buf[128];
	write_ok(zeros, sizeof(zeros));
	uint8_t cdb[10] = {LOG_SENSE, 0, 0x40 | 0x0c};
	put_be16(cdb + 7, sizeof(buf));
	cdb_exec(&dev, &c, NX, cdb, 10, NULL, 0, buf, sizeof(buf));
	cdb_assert_good(&c);
	cr_assert_eq(buf[0] & 0x3f, 0x0c);
	uint64_t host = get_be64(buf + 4 + 4);
	uint64_t stored = get_be64(buf + 4 + 12 + 4);
	cr_assert_eq(host, sizeof(zeros));
	cr_assert_lt(stored, host, "zeros compress");
}

Test(ssc_mode, device_configuration_page_reports_lois_and_sew)
{
	uint8_t buf[64];
	mode_sense10(0x10, 0, buf, sizeof(buf));
	uint8_t *pg = buf + 16;
	cr_assert_eq(pg[0] & 0x3f, 0x10);
	cr_assert(pg[8] & 0x40, "LOIS");
	cr_assert(pg[10] & 0x08, "SEW");
	cr_assert_eq(pg[14], 1);
}

Test(ssc_mode, d_sense_gives_descriptor_sense)
{
	struct scsi_cmd c;
	uint8_t buf[64];
	mode_sense10(0x0a, 0, buf, sizeof(buf));
	uint8_t *pg = buf + 16;
	cr_assert_eq(pg[0] & 0x3f, 0x0a);
	uint8_t p[8 + 8 + 12];
	memset(p, 0, sizeof(p));
	put_be16(p + 6, 8);
	memcpy(p + 8, buf + 8, 8);
	memcpy(p + 16, pg, 12);
	p[16] &= 0x3f;
	p[18] |= 0x04; /* D_SENSE */
	uint8_t cdb[10] = {MODE_SELECT_10, 0x10};
	put_be16(cdb + 7, sizeof(p));
	cdb_exec(&dev, &c, NX, cdb, 10, p, sizeof(p), NULL, 0);
	cdb_assert_good(&c);
	uint8_t r[64];
	read_var(&c, false, 64, r, sizeof(r));
	cr_assert_eq(c.sense[0] & 0x7f, 0x72);
	cdb_assert_sense(&c, SK_BLANK_CHECK, ASC_END_OF_DATA_DETECTED);
	cr_assert_eq(cdb_info(&c), 64);
}

/* ======================= log pages ======================= */

TestSuite(ssc_log, .init = setup_loaded, .fini = teardown);

static uint32_t log_sense(uint8_t page, uint8_t *buf, uint16_t cap)
{
	struct scsi_cmd c;
	uint8_t cdb[10] = {LOG_SENSE, 0, (uint8_t)(0x40 | page)};
	put_be16(cdb + 7, cap);
	cdb_exec(&dev, &c, NX, cdb, 10, NULL, 0, buf, cap);
	cdb_assert_good(&c);
	return c.in_len;
}

/* Value of parameter `code` in a log page, or -1. */
static int64_t log_param_value(const uint8_t *buf, uint32_t len, uint16_t code)
{
	uint32_t end = 4 + get_be16(buf + 2);
	if (end > len)
		end = len;
	for (uint32_t off = 4; off + 4 <= end; off += 4u + buf[off + 3]) {
		if (get_be16(buf + off) != code)
			continue;
		int64_t v = 0;
		for (uint8_t i = 0; i < buf[off + 3]; i++)
			v = v << 8 | buf[off + 4 + i];
		return v;
	}
	return -1;
}

Test(ssc_log, supported_pages_list_tape_pages)
{
	uint8_t buf[64];
	uint32_t n = log_sense(0x00, buf, sizeof(buf));
	bool seen[256] = {false};
	for (uint32_t i = 4; i < n; i++)
		seen[buf[i]] = true;
	cr_assert(seen[0x02] && seen[0x03] && seen[0x0c] && seen[0x2e] && seen[0x31]);
}

Test(ssc_log, tapealert_flags_write_protect_and_clears_on_read)
{
	struct scsi_cmd c;
	uint8_t buf[512];
	cr_assert_eq(ssc_remove(&dev, true), 0);
	cr_assert_eq(ssc_insert(&dev, make_tape("WP02L6", TAPE_LTO6, 0, true)), 0);
	cdb_drain_ua(&dev, NX);
	write_rec(&c, "abc", 3);
	uint32_t n = log_sense(0x2e, buf, sizeof(buf));
	cr_assert_eq(get_be16(buf + 2), 64 * 5);
	cr_assert_eq(log_param_value(buf, n, 9), 1, "flag 9: write protect");
	cr_assert_eq(log_param_value(buf, n, 3), 0);
	n = log_sense(0x2e, buf, sizeof(buf));
	cr_assert_eq(log_param_value(buf, n, 9), 0, "read clears");
}

Test(ssc_log, tape_capacity_page_reports_remaining_and_maximum)
{
	uint8_t buf[64];
	static uint8_t w[1 << 20];
	fill(w, sizeof(w), 13);
	write_ok(w, sizeof(w));
	write_ok(w, sizeof(w));
	uint32_t n = log_sense(0x31, buf, sizeof(buf));
	int64_t max = log_param_value(buf, n, 3);
	int64_t rem = log_param_value(buf, n, 1);
	cr_assert_eq(max, (int64_t)(tape_media_capacity(TAPE_LTO6) >> 20));
	cr_assert(rem <= max - 2 && rem >= max - 3, "rem %lld max %lld", (long long)rem,
		  (long long)max);
}

Test(ssc_log, error_counters_count_unrecovered_read_errors)
{
	uint8_t buf[128];
	uint32_t n = log_sense(0x03, buf, sizeof(buf));
	cr_assert_eq(log_param_value(buf, n, 6), 0);
	n = log_sense(0x02, buf, sizeof(buf));
	cr_assert_eq(log_param_value(buf, n, 5), 0);
	write_ok("abcd", 4);
	n = log_sense(0x02, buf, sizeof(buf));
	cr_assert_eq(log_param_value(buf, n, 5), 4, "bytes processed");
}

/* ======================= MAM, serial, density ======================= */

TestSuite(ssc_mam, .init = setup_loaded, .fini = teardown);

static uint32_t read_attr(struct scsi_cmd *c, uint8_t sa, uint16_t first, uint8_t *buf,
			  uint32_t cap)
{
	uint8_t cdb[16] = {READ_ATTRIBUTE, sa};
	put_be16(cdb + 8, first);
	put_be32(cdb + 10, cap);
	cdb_exec(&dev, c, NX, cdb, 16, NULL, 0, buf, cap);
	return c->in_len;
}

/* Find attribute `id` in ATTRIBUTE VALUES data. */
static const uint8_t *find_attr(const uint8_t *buf, uint32_t n, uint16_t id)
{
	uint32_t end = 4 + get_be32(buf);
	if (end > n)
		end = n;
	for (uint32_t off = 4; off + 5 <= end; off += 5u + get_be16(buf + off + 3))
		if (get_be16(buf + off) == id)
			return buf + off;
	return NULL;
}

Test(ssc_mam, attribute_values_report_capacity_serial_barcode_and_load_count)
{
	struct scsi_cmd c;
	static uint8_t buf[4096];
	uint32_t n = read_attr(&c, 0x00, 0, buf, sizeof(buf));
	cdb_assert_good(&c);
	const uint8_t *a = find_attr(buf, n, 0x0001);
	cr_assert_not_null(a);
	cr_assert_eq(a[2], 0x80, "read only, binary");
	cr_assert_eq(get_be64(a + 5), tape_media_capacity(TAPE_LTO6) >> 20);
	a = find_attr(buf, n, 0x0000);
	cr_assert_not_null(a);
	cr_assert_eq(get_be64(a + 5), tape_media_capacity(TAPE_LTO6) >> 20);
	a = find_attr(buf, n, 0x0003);
	cr_assert_not_null(a);
	cr_assert_eq(get_be64(a + 5), 1, "one load");
	a = find_attr(buf, n, 0x0401);
	cr_assert_not_null(a);
	cr_assert_eq(memcmp(a + 5, "MSNABC123L6 ", 12), 0);
	a = find_attr(buf, n, 0x0405);
	cr_assert_not_null(a);
	cr_assert_eq(a[5], 0x5a);
	a = find_attr(buf, n, 0x0406);
	cr_assert_not_null(a);
	cr_assert_eq(memcmp(a + 5, "20231114", 8), 0);
	a = find_attr(buf, n, 0x0806);
	cr_assert_not_null(a);
	cr_assert_eq(a[2] & 0x80, 0, "barcode is a host attribute");
	cr_assert_eq(memcmp(a + 5, "ABC123L6 ", 9), 0);
	a = find_attr(buf, n, 0x0408);
	cr_assert_not_null(a);
	cr_assert_eq(a[5], 0);
}

Test(ssc_mam, first_attribute_identifier_skips_lower_ones)
{
	struct scsi_cmd c;
	static uint8_t buf[4096];
	uint32_t n = read_attr(&c, 0x00, 0x0400, buf, sizeof(buf));
	cdb_assert_good(&c);
	cr_assert_null(find_attr(buf, n, 0x0001));
	cr_assert_not_null(find_attr(buf, n, 0x0400));
}

Test(ssc_mam, attribute_list_names_existing_attributes)
{
	struct scsi_cmd c;
	uint8_t buf[256];
	uint32_t n = read_attr(&c, 0x01, 0, buf, sizeof(buf));
	cdb_assert_good(&c);
	cr_assert_eq(n, 4 + get_be32(buf));
	bool has_0001 = false, has_0800 = false;
	for (uint32_t off = 4; off + 2 <= n; off += 2) {
		has_0001 |= get_be16(buf + off) == 0x0001;
		has_0800 |= get_be16(buf + off) == 0x0800;
	}
	cr_assert(has_0001);
	cr_assert(!has_0800, "application vendor not written yet");
}

Test(ssc_mam, write_attribute_then_read_it_back)
{
	struct scsi_cmd c;
	static uint8_t buf[4096];
	uint8_t p[4 + 5 + 8];
	put_be32(p, 13);
	put_be16(p + 4, 0x0800);
	p[6] = 0x01;
	put_be16(p + 7, 8);
	memcpy(p + 9, "BACULA  ", 8);
	uint8_t cdb[16] = {WRITE_ATTRIBUTE, 0x01};
	put_be32(cdb + 10, sizeof(p));
	cdb_exec(&dev, &c, NX, cdb, 16, p, sizeof(p), NULL, 0);
	cdb_assert_good(&c);
	uint32_t n = read_attr(&c, 0x00, 0x0800, buf, sizeof(buf));
	const uint8_t *a = find_attr(buf, n, 0x0800);
	cr_assert_not_null(a);
	cr_assert_eq(memcmp(a + 5, "BACULA  ", 8), 0);
}

Test(ssc_mam, write_of_read_only_attribute_is_invalid_parameter)
{
	struct scsi_cmd c;
	uint8_t p[4 + 5 + 8];
	put_be32(p, 13);
	put_be16(p + 4, 0x0001);
	p[6] = 0x00;
	put_be16(p + 7, 8);
	memset(p + 9, 0, 8);
	uint8_t cdb[16] = {WRITE_ATTRIBUTE};
	put_be32(cdb + 10, sizeof(p));
	cdb_exec(&dev, &c, NX, cdb, 16, p, sizeof(p), NULL, 0);
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_PARAMETER_LIST);
}

Test(ssc_mam, nonzero_partition_is_invalid_field)
{
	struct scsi_cmd c;
	uint8_t buf[64];
	uint8_t cdb[16] = {READ_ATTRIBUTE, 0, 0, 0, 0, 0, 0, 1};
	put_be32(cdb + 10, sizeof(buf));
	cdb_exec(&dev, &c, NX, cdb, 16, NULL, 0, buf, sizeof(buf));
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	cdb_assert_field(&c, true, 7, -1);
}

Test(ssc_mam, read_media_serial_number)
{
	struct scsi_cmd c;
	uint8_t buf[64];
	uint8_t cdb[12] = {SERVICE_ACTION_IN_12, SAI12_READ_MEDIA_SERIAL_NUMBER};
	put_be32(cdb + 6, sizeof(buf));
	cdb_exec(&dev, &c, NX, cdb, 12, NULL, 0, buf, sizeof(buf));
	cdb_assert_good(&c);
	cr_assert_eq(get_be32(buf), 12);
	cr_assert_eq(memcmp(buf + 4, "MSNABC123L6 ", 12), 0);
}

Test(ssc_mam, report_density_support_lists_drive_densities)
{
	struct scsi_cmd c;
	uint8_t buf[512];
	uint8_t cdb[10] = {REPORT_DENSITY_SUPPORT};
	put_be16(cdb + 7, sizeof(buf));
	cdb_exec(&dev, &c, NX, cdb, 10, NULL, 0, buf, sizeof(buf));
	cdb_assert_good(&c);
	/* LTO-6 drive: LTO-6 and LTO-5 read-write, LTO-4 read-only (not modelled). */
	cr_assert_eq(get_be16(buf), 2 + 2 * 52);
	cr_assert_eq(buf[4], 0x5a);
	cr_assert(buf[4 + 2] & 0x80, "WRTOK");
	cr_assert(buf[4 + 2] & 0x20, "DEFLT");
	cr_assert_eq(buf[4 + 52], 0x58);
	cr_assert_eq(memcmp(buf + 4 + 16, "LTO-CVE ", 8), 0);
	cdb[1] = 0x01; /* MEDIA */
	cdb_exec(&dev, &c, NX, cdb, 10, NULL, 0, buf, sizeof(buf));
	cdb_assert_good(&c);
	cr_assert_eq(get_be16(buf), 2 + 52);
	cr_assert_eq(buf[4], 0x5a);
	cr_assert_eq(get_be32(buf + 4 + 12), 2500000);
}

/* ======================= more dispatch and readiness ======================= */

Test(ssc_cdb, rsoc_service_action_reports_read_position_long_mask)
{
	struct scsi_cmd c;
	/* REPORTING OPTIONS 010b: one command with its service action. */
	uint8_t cdb[12] = {
	    MAINTENANCE_IN, MI_REPORT_SUPPORTED_OPERATION_CODES, 0x02, READ_POSITION, 0, 0x06};
	uint8_t buf[64];
	put_be32(cdb + 6, sizeof(buf));
	cdb_exec(&dev, &c, NX, cdb, 12, NULL, 0, buf, sizeof(buf));
	cdb_assert_good(&c);
	cr_assert_eq(buf[1] & 0x07, 0x03);
	cr_assert_eq(get_be16(buf + 2), 10);
	/* The SERVICE ACTION field of the usage data carries the action. */
	uint8_t want[10] = {READ_POSITION, 0x06, 0, 0, 0, 0, 0, 0xff, 0xff, SPC_CTL};
	cr_assert_arr_eq(buf + 4, want, 10);
}

Test(ssc_cdb, mode_sense_all_pages_includes_tape_pages)
{
	struct scsi_cmd c;
	uint8_t buf[512];
	uint8_t cdb[10] = {MODE_SENSE_10, 0, 0x3f, 0xff};
	put_be16(cdb + 7, sizeof(buf));
	cdb_exec(&dev, &c, NX, cdb, 10, NULL, 0, buf, sizeof(buf));
	cdb_assert_good(&c);
	bool seen[64] = {false};
	uint32_t end = 2u + get_be16(buf);
	for (uint32_t off = 8 + get_be16(buf + 6); off + 2 <= end && off < c.in_len;) {
		seen[buf[off] & 0x3f] = true;
		off += (buf[off] & 0x40) ? 4u + get_be16(buf + off + 2) : 2u + buf[off + 1];
	}
	cr_assert(seen[0x0a] && seen[0x0f] && seen[0x10] && seen[0x1c]);
}

Test(ssc_cdb, vpd_supported_pages_list_tape_pages)
{
	struct scsi_cmd c;
	uint8_t buf[64];
	uint8_t cdb[6] = {INQUIRY, 1, 0x00, 0, 64};
	cdb_exec(&dev, &c, NX, cdb, 6, NULL, 0, buf, sizeof(buf));
	cdb_assert_good(&c);
	bool seen[256] = {false};
	for (uint32_t i = 4; i < 4u + buf[3] && i < c.in_len; i++)
		seen[buf[i]] = true;
	cr_assert(seen[0x80] && seen[0x83] && seen[0xb0] && seen[0xb1] && seen[0xb2]);
	uint8_t b1[6] = {INQUIRY, 1, 0xb1, 0, 64};
	cdb_exec(&dev, &c, NX, b1, 6, NULL, 0, buf, sizeof(buf));
	cdb_assert_good(&c);
	cr_assert_eq(memcmp(buf + 4, "1013000123", 10), 0);
}

Test(ssc_cdb, read_block_limits_mloi_reports_maximum_object_identifier)
{
	struct scsi_cmd c;
	uint8_t buf[20];
	cmd6(&c, READ_BLOCK_LIMITS, 1, 0, NULL, 0, buf, sizeof(buf));
	cdb_assert_good(&c);
	cr_assert_eq(c.in_len, 20);
	cr_assert_eq(get_be64(buf + 12), UINT32_MAX);
}

Test(ssc_ready, media_commands_on_empty_drive_are_not_ready)
{
	struct scsi_cmd c;
	cdb_drain_ua(&dev, NX);
	uint8_t ra[16] = {READ_ATTRIBUTE};
	uint8_t buf[64];
	put_be32(ra + 10, sizeof(buf));
	cdb_exec(&dev, &c, NX, ra, 16, NULL, 0, buf, sizeof(buf));
	cdb_assert_sense(&c, SK_NOT_READY, ASC_MEDIUM_NOT_PRESENT);
	uint8_t rds[10] = {REPORT_DENSITY_SUPPORT, 1, 0, 0, 0, 0, 0, 0, 64};
	cdb_exec(&dev, &c, NX, rds, 10, NULL, 0, buf, sizeof(buf));
	cdb_assert_sense(&c, SK_NOT_READY, ASC_MEDIUM_NOT_PRESENT);
	/* What the drive itself supports needs no medium. */
	rds[1] = 0;
	cdb_exec(&dev, &c, NX, rds, 10, NULL, 0, buf, sizeof(buf));
	cdb_assert_good(&c);
	cmd6(&c, READ_BLOCK_LIMITS, 0, 0, NULL, 0, buf, 6);
	cdb_assert_good(&c);
	uint8_t ms[6] = {MODE_SENSE_6, 0, 0x3f, 0, 64};
	cdb_exec(&dev, &c, NX, ms, 6, NULL, 0, buf, sizeof(buf));
	cdb_assert_good(&c);
	cr_assert_eq(buf[4], 0x5a, "drive's own density with no medium");
}

Test(ssc_load, host_load_raises_not_ready_to_ready_for_other_nexus)
{
	struct scsi_cmd c;
	cdb_drain_ua(&dev, NX2);
	cmd6(&c, LOAD_UNLOAD, 0, 0, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
	uint8_t load[6] = {LOAD_UNLOAD, 0, 0, 0, 0x01};
	cdb_exec(&dev, &c, NX, load, 6, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
	uint8_t tur[6] = {TEST_UNIT_READY};
	cdb_exec(&dev, &c, NX2, tur, 6, NULL, 0, NULL, 0);
	cdb_assert_sense(&c, SK_UNIT_ATTENTION, ASC_NOT_READY_TO_READY_CHANGE);
	cdb_exec(&dev, &c, NX, tur, 6, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
}

Test(ssc_load, mam_is_readable_while_unloaded)
{
	struct scsi_cmd c;
	static uint8_t buf[4096];
	cmd6(&c, LOAD_UNLOAD, 0, 0, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
	uint32_t n = read_attr(&c, 0x00, 0x0401, buf, sizeof(buf));
	cdb_assert_good(&c);
	cr_assert_not_null(find_attr(buf, n, 0x0401));
}

Test(ssc_load, load_count_grows_with_each_load)
{
	struct scsi_cmd c;
	static uint8_t buf[4096];
	cmd6(&c, LOAD_UNLOAD, 0, 0, NULL, 0, NULL, 0);
	uint8_t load[6] = {LOAD_UNLOAD, 0, 0, 0, 0x01};
	cdb_exec(&dev, &c, NX, load, 6, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
	uint32_t n = read_attr(&c, 0x00, 0x0003, buf, sizeof(buf));
	const uint8_t *a = find_attr(buf, n, 0x0003);
	cr_assert_not_null(a);
	cr_assert_eq(get_be64(a + 5), 2);
}

/* Page code 00h: header and block descriptor only, as tape drives answer
 * it. Linux st reads the block size and the write-protect bit this way when
 * it opens the device. */
Test(ssc_mode, linux_st_mode_sense_page_zero_returns_block_descriptor)
{
	struct scsi_cmd c;
	uint8_t buf[12];
	/* st.c check_tape: MODE SENSE(6), page 0, allocation length 12. */
	uint8_t cdb[6] = {MODE_SENSE_6, 0, 0, 0, 12};
	set_block_len(512);
	cdb_exec(&dev, &c, NX, cdb, 6, NULL, 0, buf, sizeof(buf));
	cdb_assert_good(&c);
	cr_assert_eq(c.in_len, 12);
	cr_assert_eq(buf[3], 8);
	cr_assert_eq(buf[4], 0x5a);
	cr_assert_eq(get_be24(buf + 9), 512);
	cr_assert_eq((buf[2] >> 4) & 7, 1);
}

/* ======================= MAM host attributes persist ======================= */

/* WRITE ATTRIBUTE of one attribute (len 0 deletes). */
static void write_attr(struct scsi_cmd *c, uint16_t id, uint8_t format, const char *val,
		       uint16_t len)
{
	uint8_t p[4 + 5 + 160];
	uint8_t cdb[16] = {WRITE_ATTRIBUTE, 0x01};

	put_be32(p, 5u + len);
	put_be16(p + 4, id);
	p[6] = format;
	put_be16(p + 7, len);
	memcpy(p + 9, val, len);
	put_be32(cdb + 10, 9u + len);
	cdb_exec(&dev, c, NX, cdb, 16, p, 9u + len, NULL, 0);
}

Test(ssc_mam, host_attributes_survive_remove_and_insert)
{
	struct scsi_cmd c;
	static uint8_t buf[4096];

	write_attr(&c, 0x0801, 0x01, "LTFS", 4);
	cdb_assert_good(&c);
	write_attr(&c, 0x0808, 0x02, "Daily pool", 10);
	cdb_assert_good(&c);
	cr_assert_eq(ssc_remove(&dev, true), 0);
	cr_assert_eq(ssc_insert(&dev, tapedir), 0);
	cdb_drain_ua(&dev, NX);
	uint32_t n = read_attr(&c, 0x00, 0x0800, buf, sizeof(buf));
	cdb_assert_good(&c);
	const uint8_t *a = find_attr(buf, n, 0x0801);
	cr_assert_not_null(a, "application name kept with the cartridge");
	cr_assert_eq(get_be16(a + 3), 32, "ASCII attributes are space padded to their length");
	cr_assert_eq(memcmp(a + 5, "LTFS    ", 8), 0);
	a = find_attr(buf, n, 0x0808);
	cr_assert_not_null(a, "media pool kept with the cartridge");
	cr_assert_eq(get_be16(a + 3), 10);
	cr_assert_eq(memcmp(a + 5, "Daily pool", 10), 0);
}

Test(ssc_mam, host_attributes_follow_the_cartridge_to_another_drive)
{
	struct scsi_cmd c;
	static uint8_t buf[4096];

	write_attr(&c, 0x0800, 0x01, "BACULA", 6);
	cdb_assert_good(&c);
	cr_assert_eq(ssc_remove(&dev, true), 0);
	ssc_drive_destroy(&dev);
	have_dev = false;
	make_drive(TAPE_LTO7, SSC_VENDOR_HPE);
	cr_assert_eq(ssc_insert(&dev, tapedir), 0);
	cdb_drain_ua(&dev, NX);
	uint32_t n = read_attr(&c, 0x00, 0x0800, buf, sizeof(buf));
	cdb_assert_good(&c);
	const uint8_t *a = find_attr(buf, n, 0x0800);
	cr_assert_not_null(a);
	cr_assert_eq(memcmp(a + 5, "BACULA  ", 8), 0);
}

Test(ssc_mam, written_barcode_replaces_library_label_until_deleted)
{
	struct scsi_cmd c;
	static uint8_t buf[4096];
	const uint8_t *a;
	uint32_t n;

	write_attr(&c, 0x0806, 0x01, "HOSTLBL1", 8);
	cdb_assert_good(&c);
	n = read_attr(&c, 0x00, 0x0806, buf, sizeof(buf));
	a = find_attr(buf, n, 0x0806);
	cr_assert_not_null(a);
	cr_assert_eq(memcmp(a + 5, "HOSTLBL1 ", 9), 0);
	write_attr(&c, 0x0806, 0x01, "", 0);
	cdb_assert_good(&c);
	n = read_attr(&c, 0x00, 0x0806, buf, sizeof(buf));
	a = find_attr(buf, n, 0x0806);
	cr_assert_not_null(a);
	cr_assert_eq(memcmp(a + 5, "ABC123L6 ", 9), 0, "the library's label again");
}

Test(ssc_mam, mam_space_remaining_shrinks_by_written_attribute)
{
	struct scsi_cmd c;
	static uint8_t buf[4096];
	const uint8_t *a;

	uint32_t n = read_attr(&c, 0x00, 0x0004, buf, sizeof(buf));
	a = find_attr(buf, n, 0x0004);
	cr_assert_not_null(a);
	uint64_t before = get_be64(a + 5);
	write_attr(&c, 0x0803, 0x02, "Monday full", 11);
	cdb_assert_good(&c);
	n = read_attr(&c, 0x00, 0x0004, buf, sizeof(buf));
	a = find_attr(buf, n, 0x0004);
	cr_assert_eq(get_be64(a + 5), before - 5 - 11);
}

/* ======================= 16-byte READ, WRITE, WRITE FILEMARKS, VERIFY ======================= */

TestSuite(ssc_cdb16, .init = setup_loaded, .fini = teardown);

/* A 16-byte stream command: byte 1, partition, logical object identifier,
 * 24-bit length. */
static void cmd16(struct scsi_cmd *c, uint8_t op, uint8_t b1, uint8_t partition, uint64_t obj,
		  uint32_t len24, const void *out, uint32_t out_len, void *in, uint32_t in_cap)
{
	uint8_t cdb[16] = {op, b1, 0, partition};
	put_be64(cdb + 4, obj);
	put_be24(cdb + 12, len24);
	cdb_exec(&dev, c, NX, cdb, 16, out, out_len, in, in_cap);
}

Test(ssc_cdb16, write16_and_read16_at_the_current_position)
{
	struct scsi_cmd c;
	uint8_t data[500], buf[500];

	fill(data, sizeof(data), 9);
	cmd16(&c, WRITE_16, 0, 0, 0, 500, data, 500, NULL, 0);
	cdb_assert_good(&c);
	cmd16(&c, WRITE_16, 0, 0, 1, 300, data, 300, NULL, 0);
	cdb_assert_good(&c);
	cr_assert_eq(pos(), 2);
	rewind_ok();
	cmd16(&c, READ_16, 0, 0, 0, 500, NULL, 0, buf, sizeof(buf));
	cdb_assert_good(&c);
	cr_assert_eq(c.in_len, 500);
	cr_assert_arr_eq(buf, data, 500);
	cr_assert_eq(pos(), 1);
}

Test(ssc_cdb16, read16_locates_to_the_named_object_first)
{
	struct scsi_cmd c;
	uint8_t want[300], buf[300];

	std_layout();
	fill(want, sizeof(want), 1);
	/* Object 3 is the 300-byte record after the first filemark. */
	cmd16(&c, READ_16, 0, 0, 3, 300, NULL, 0, buf, sizeof(buf));
	cdb_assert_good(&c);
	cr_assert_eq(c.in_len, 300);
	cr_assert_arr_eq(buf, want, 300);
	cr_assert_eq(pos(), 4);
	/* Backwards too, and the file number follows. */
	cmd16(&c, READ_16, 0x02, 0, 1, 1000, NULL, 0, buf, sizeof(buf));
	cdb_assert_good(&c);
	cr_assert_eq(c.in_len, 200);
	uint64_t obj, file;
	position(&obj, &file, NULL);
	cr_assert_eq(obj, 2);
	cr_assert_eq(file, 0);
}

Test(ssc_cdb16, read16_of_a_filemark_reports_it_like_read6)
{
	struct scsi_cmd c;
	uint8_t buf[64];

	std_layout();
	cmd16(&c, READ_16, 0, 0, 2, 64, NULL, 0, buf, sizeof(buf));
	cdb_assert_sense(&c, SK_NO_SENSE, ASC_FILEMARK_DETECTED);
	cr_assert(cdb_flags(&c) & SENSE_FILEMARK);
	cr_assert_eq(cdb_info(&c), 64);
	cr_assert_eq(pos(), 3, "after the filemark");
}

Test(ssc_cdb16, read16_beyond_end_of_data_is_locate_operation_failure)
{
	struct scsi_cmd c;
	uint8_t buf[64];

	std_layout();
	cmd16(&c, READ_16, 0, 0, 9, 64, NULL, 0, buf, sizeof(buf));
	cdb_assert_sense(&c, SK_BLANK_CHECK, ASC_LOCATE_OPERATION_FAILURE);
	cr_assert_eq(cdb_info(&c), 64, "INFORMATION: the requested transfer length");
	cr_assert_eq(c.in_len, 0);
	cr_assert_eq(pos(), 5, "at end-of-data");
}

Test(ssc_cdb16, write16_elsewhere_locates_and_discards_what_follows)
{
	struct scsi_cmd c;
	uint8_t data[128], buf[256];

	std_layout();
	fill(data, sizeof(data), 42);
	cmd16(&c, WRITE_16, 0, 0, 1, 128, data, 128, NULL, 0);
	cdb_assert_good(&c);
	wfm_ok(0);
	cr_assert_eq(pos(), 2);
	/* Object 2 (the old filemark) is gone: end-of-data follows. */
	read_var(&c, false, 256, buf, sizeof(buf));
	cdb_assert_sense(&c, SK_BLANK_CHECK, ASC_END_OF_DATA_DETECTED);
	cmd16(&c, READ_16, 0, 0, 1, 128, NULL, 0, buf, sizeof(buf));
	cdb_assert_good(&c);
	cr_assert_arr_eq(buf, data, 128);
}

Test(ssc_cdb16, write16_beyond_end_of_data_writes_nothing)
{
	struct scsi_cmd c;
	uint8_t data[64] = {1};

	std_layout();
	cmd16(&c, WRITE_16, 0, 0, 7, 64, data, 64, NULL, 0);
	cdb_assert_sense(&c, SK_BLANK_CHECK, ASC_LOCATE_OPERATION_FAILURE);
	cr_assert_eq(cdb_info(&c), 64);
	uint8_t cdb[10] = {READ_POSITION, 0x06};
	uint8_t rp[32];
	cdb_exec(&dev, &c, NX, cdb, 10, NULL, 0, rp, sizeof(rp));
	cr_assert_eq(get_be64(rp + 8), 5, "EOD unchanged");
}

Test(ssc_cdb16, fixed_mode_write16_and_read16_count_blocks)
{
	struct scsi_cmd c;
	uint8_t data[4 * 512], buf[4 * 512];

	set_block_len(512);
	fill(data, sizeof(data), 3);
	cmd16(&c, WRITE_16, 0x01, 0, 0, 4, data, sizeof(data), NULL, 0);
	cdb_assert_good(&c);
	cr_assert_eq(pos(), 4);
	cmd16(&c, READ_16, 0x01, 0, 1, 3, NULL, 0, buf, sizeof(buf));
	cdb_assert_good(&c);
	cr_assert_eq(c.in_len, 3 * 512);
	cr_assert_arr_eq(buf, data + 512, 3 * 512);
	/* Past EOD in fixed mode: BLANK CHECK with the blocks not read. */
	cmd16(&c, READ_16, 0x01, 0, 3, 2, NULL, 0, buf, sizeof(buf));
	cdb_assert_sense(&c, SK_BLANK_CHECK, ASC_END_OF_DATA_DETECTED);
	cr_assert_eq(cdb_info(&c), 1);
	cr_assert_eq(c.in_len, 512);
}

Test(ssc_cdb16, fixed_and_sili_together_and_fixed_without_block_length_are_invalid)
{
	struct scsi_cmd c;
	uint8_t buf[16];

	cmd16(&c, READ_16, 0x03, 0, 0, 1, NULL, 0, buf, sizeof(buf));
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	cdb_assert_field(&c, true, 1, 1);
	cmd16(&c, WRITE_16, 0x01, 0, 0, 1, buf, sizeof(buf), NULL, 0);
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	cdb_assert_field(&c, true, 1, 0);
}

Test(ssc_cdb16, other_partition_is_invalid_field_and_does_not_move)
{
	struct scsi_cmd c;
	uint8_t buf[16] = {0};

	std_layout();
	cmd16(&c, READ_16, 0, 1, 3, 16, NULL, 0, buf, sizeof(buf));
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	cdb_assert_field(&c, true, 3, -1);
	cmd16(&c, WRITE_16, 0, 2, 0, 16, buf, sizeof(buf), NULL, 0);
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	cdb_assert_field(&c, true, 3, -1);
	cr_assert_eq(pos(), 0);
}

Test(ssc_cdb16, too_long_variable_write16_points_at_the_length_field)
{
	struct scsi_cmd c;
	cmd16(&c, WRITE_16, 0, 0, 0, TAPE_MAX_BLOCK + 1, NULL, 0, NULL, 0);
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	cdb_assert_field(&c, true, 12, 7);
}

Test(ssc_cdb16, zero_length_read16_does_not_move)
{
	struct scsi_cmd c;
	std_layout();
	cmd16(&c, READ_16, 0, 0, 3, 0, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
	cr_assert_eq(pos(), 0);
}

Test(ssc_cdb16, write_filemarks16_writes_at_the_object_and_flushes)
{
	struct scsi_cmd c;

	std_layout();
	/* Two filemarks after the first record: objects 1 and 2. */
	cmd16(&c, WRITE_FILEMARKS_16, 0, 0, 1, 2, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
	uint64_t obj, file;
	position(&obj, &file, NULL);
	cr_assert_eq(obj, 3);
	cr_assert_eq(file, 2);
	/* Durable: a forced removal and reinsert keep them, EOD after. */
	cr_assert_eq(ssc_remove(&dev, true), 0);
	cr_assert_eq(ssc_insert(&dev, tapedir), 0);
	cdb_drain_ua(&dev, NX);
	space6(&c, 3, 0);
	cdb_assert_good(&c);
	cr_assert_eq(pos(), 3);
	/* IMMED in unbuffered mode is invalid, as for WRITE FILEMARKS(6). */
	mode_select_bd(&c, NX, 0x00, 0, 0);
	cdb_assert_good(&c);
	cmd16(&c, WRITE_FILEMARKS_16, 0x01, 0, 3, 1, NULL, 0, NULL, 0);
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	cdb_assert_field(&c, true, 1, 0);
}

Test(ssc_cdb16, write_filemarks16_on_write_protected_cartridge_is_data_protect)
{
	struct scsi_cmd c;

	cr_assert_eq(ssc_remove(&dev, true), 0);
	cr_assert_eq(ssc_insert(&dev, make_tape("WP0001L6", TAPE_LTO6, 0, true)), 0);
	cdb_drain_ua(&dev, NX);
	cmd16(&c, WRITE_FILEMARKS_16, 0, 0, 0, 1, NULL, 0, NULL, 0);
	cdb_assert_sense(&c, SK_DATA_PROTECT, ASC_WRITE_PROTECTED);
}

Test(ssc_cdb16, verify16_compares_at_the_named_object)
{
	struct scsi_cmd c;
	uint8_t want[300];

	std_layout();
	fill(want, sizeof(want), 1);
	cmd16(&c, VERIFY_16, 0x02, 0, 3, 300, want, 300, NULL, 0);
	cdb_assert_good(&c);
	cr_assert_eq(pos(), 4);
	want[10] ^= 1;
	cmd16(&c, VERIFY_16, 0x02, 0, 3, 300, want, 300, NULL, 0);
	cdb_assert_sense(&c, SK_MISCOMPARE, ASC_MISCOMPARE_DURING_VERIFY);
	/* Without BYTCMP only the record is checked. */
	cmd16(&c, VERIFY_16, 0x00, 0, 0, 100, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
	cr_assert_eq(pos(), 1);
}

Test(ssc_cdb16, rsoc_reports_the_16_byte_usage_masks)
{
	static const struct {
		uint8_t op, b1;
	} want[] = {
	    {READ_16, 0x03}, {WRITE_16, 0x01}, {WRITE_FILEMARKS_16, 0x01}, {VERIFY_16, 0x07}};

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		struct scsi_cmd c;
		uint8_t cdb[12] = {MAINTENANCE_IN, MI_REPORT_SUPPORTED_OPERATION_CODES, 0x01,
				   want[i].op};
		uint8_t buf[64];
		put_be32(cdb + 6, sizeof(buf));
		cdb_exec(&dev, &c, NX, cdb, 12, NULL, 0, buf, sizeof(buf));
		cdb_assert_good(&c);
		cr_assert_eq(buf[1] & 0x07, 0x03, "%02x supported", want[i].op);
		cr_assert_eq(get_be16(buf + 2), 16);
		uint8_t mask[16] = {want[i].op, want[i].b1, 0,	  0xff, 0xff, 0xff, 0xff, 0xff,
				    0xff,	0xff,	    0xff, 0xff, 0xff, 0xff, 0xff, SPC_CTL};
		cr_assert_arr_eq(buf + 4, mask, 16, "usage mask of %02x", want[i].op);
	}
}

Test(ssc_cdb16, reserved_bit_in_byte_2_is_rejected)
{
	struct scsi_cmd c;
	uint8_t cdb[16] = {READ_16, 0, 0x80};
	uint8_t buf[16];
	put_be24(cdb + 12, 16);
	cdb_exec(&dev, &c, NX, cdb, 16, NULL, 0, buf, sizeof(buf));
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	cdb_assert_field(&c, true, 2, 7);
}

/* ======================= programmable early warning ======================= */

TestSuite(ssc_pew, .init = setup_loaded, .fini = teardown);

/* MODE SENSE(10) of the device configuration extension page, DBD set. */
static void devconf_ext_sense(uint8_t pc, uint8_t page[32])
{
	struct scsi_cmd c;
	uint8_t cdb[10] = {MODE_SENSE_10, 0x08, (uint8_t)(pc << 6 | 0x10), 0x01};
	uint8_t buf[8 + 32];
	put_be16(cdb + 7, sizeof(buf));
	cdb_exec(&dev, &c, NX, cdb, 10, NULL, 0, buf, sizeof(buf));
	cdb_assert_good(&c);
	cr_assert_eq(c.in_len, sizeof(buf));
	memcpy(page, buf + 8, 32);
}

/* What IBM's LTFS does to set PEWS: sense the page, clear the header, set
 * bytes 6-7, MODE SELECT(10) it back. */
static void set_pews(uint16_t mb)
{
	struct scsi_cmd c;
	uint8_t list[8 + 32] = {0};
	devconf_ext_sense(0, list + 8);
	list[8] &= 0x7f;
	put_be16(list + 8 + 6, mb);
	uint8_t cdb[10] = {MODE_SELECT_10, 0x10};
	put_be16(cdb + 7, sizeof(list));
	cdb_exec(&dev, &c, NX, cdb, 10, list, sizeof(list), NULL, 0);
	cdb_assert_good(&c);
}

Test(ssc_pew, device_configuration_extension_page_has_changeable_pews)
{
	uint8_t p[32];
	devconf_ext_sense(0, p);
	cr_assert_eq(p[0], 0x50, "SPF, page 0x10");
	cr_assert_eq(p[1], 0x01);
	cr_assert_eq(get_be16(p + 2), 0x1c);
	cr_assert_eq(get_be16(p + 6), 0, "off by default");
	devconf_ext_sense(1, p);
	cr_assert_eq(get_be16(p + 6), 0xffff, "PEWS changeable");
	cr_assert_eq(p[5], 0xf0, "WRITE MODE changeable: IBM's append-only mode (test_lbp.c)");
	set_pews(1234);
	devconf_ext_sense(0, p);
	cr_assert_eq(get_be16(p + 6), 1234);
}

Test(ssc_pew, write_crossing_pew_reports_it_once_then_early_warning_follows)
{
	struct scsi_cmd c;
	static uint8_t w[65536];
	uint8_t fl;
	int i;

	cr_assert_eq(ssc_remove(&dev, true), 0);
	cr_assert_eq(ssc_insert(&dev, make_tape("PEW001L6", TAPE_LTO6, 8u << 20, false)), 0);
	cdb_drain_ua(&dev, NX);
	fill(w, sizeof(w), 77);
	set_pews(1); /* 10^6 bytes before early warning */
	for (i = 0; i < 200; i++) {
		write_rec(&c, w, sizeof(w));
		if (c.status != SAM_STAT_GOOD)
			break;
	}
	cdb_assert_sense(&c, SK_NO_SENSE, ASC_PROGRAMMABLE_EARLY_WARNING_DETECTED);
	cr_assert_eq(cdb_flags(&c) & SENSE_EOM, 0, "not early warning yet");
	cr_assert_eq(cdb_info(&c), 0, "the record was written");
	position(NULL, NULL, &fl);
	cr_assert_eq(fl & 0x41, 0x01, "BPEW without EOP");
	/* Reported once: the next writes in the zone are GOOD, until early
	 * warning itself. */
	write_rec(&c, w, sizeof(w));
	cdb_assert_good(&c);
	for (i = 0; i < 200; i++) {
		write_rec(&c, w, sizeof(w));
		if (c.status != SAM_STAT_GOOD)
			break;
	}
	cdb_assert_sense(&c, SK_NO_SENSE, ASC_END_OF_PARTITION_MEDIUM_DETECTED);
	cr_assert_eq(cdb_flags(&c), SENSE_EOM);
	position(NULL, NULL, &fl);
	cr_assert_eq(fl & 0x41, 0x41, "EOP and BPEW beyond early warning");
}

Test(ssc_pew, pew_is_reported_again_after_going_back_before_it)
{
	struct scsi_cmd c;
	static uint8_t w[65536];
	int i, crossed = -1;

	cr_assert_eq(ssc_remove(&dev, true), 0);
	cr_assert_eq(ssc_insert(&dev, make_tape("PEW002L6", TAPE_LTO6, 8u << 20, false)), 0);
	cdb_drain_ua(&dev, NX);
	fill(w, sizeof(w), 78);
	set_pews(2);
	for (i = 0; i < 200 && crossed < 0; i++) {
		write_rec(&c, w, sizeof(w));
		if (c.status != SAM_STAT_GOOD)
			crossed = i;
	}
	cdb_assert_sense(&c, SK_NO_SENSE, ASC_PROGRAMMABLE_EARLY_WARNING_DETECTED);
	/* Back before PEW: overwrite from the record before the crossing. */
	uint8_t cdb[10] = {LOCATE_10};
	put_be32(cdb + 3, (uint32_t)crossed - 1);
	cdb_exec(&dev, &c, NX, cdb, 10, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
	write_rec(&c, w, sizeof(w));
	cdb_assert_good(&c);
	write_rec(&c, w, sizeof(w));
	cdb_assert_sense(&c, SK_NO_SENSE, ASC_PROGRAMMABLE_EARLY_WARNING_DETECTED);
}

Test(ssc_pew, pews_zero_leaves_only_early_warning)
{
	struct scsi_cmd c;
	static uint8_t w[65536];
	int i;

	cr_assert_eq(ssc_remove(&dev, true), 0);
	cr_assert_eq(ssc_insert(&dev, make_tape("PEW003L6", TAPE_LTO6, 8u << 20, false)), 0);
	cdb_drain_ua(&dev, NX);
	fill(w, sizeof(w), 79);
	for (i = 0; i < 200; i++) {
		write_rec(&c, w, sizeof(w));
		if (c.status != SAM_STAT_GOOD)
			break;
	}
	cdb_assert_sense(&c, SK_NO_SENSE, ASC_END_OF_PARTITION_MEDIUM_DETECTED);
}

/* ======================= Linux st and Bacula btape sequences ======================= */

TestSuite(ssc_hosts, .init = setup_loaded, .fini = teardown);

Test(ssc_hosts, linux_st_open_sequence_tur_block_limits_mode_sense)
{
	struct scsi_cmd c;
	uint8_t buf[12];

	/* st.c check_tape(): TEST UNIT READY until the unit attentions are
	 * consumed, READ BLOCK LIMITS, MODE SENSE(6) page 0 for the block
	 * descriptor and WP. */
	ssc_remove(&dev, true);
	cr_assert_eq(ssc_insert(&dev, make_tape("STOPEN", TAPE_LTO6, 0, true)), 0);
	cmd6(&c, TEST_UNIT_READY, 0, 0, NULL, 0, NULL, 0);
	cdb_assert_sense(&c, SK_UNIT_ATTENTION, ASC_NOT_READY_TO_READY_CHANGE);
	cmd6(&c, TEST_UNIT_READY, 0, 0, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
	uint8_t rbl[6] = {READ_BLOCK_LIMITS};
	cdb_exec(&dev, &c, NX, rbl, 6, NULL, 0, buf, 6);
	cdb_assert_good(&c);
	cr_assert_eq(c.in_len, 6);
	cr_assert_eq(get_be24(buf + 1), TAPE_MAX_BLOCK);
	cr_assert_eq(get_be16(buf + 4), 1);
	uint8_t ms[6] = {MODE_SENSE_6, 0, 0, 0, 12};
	cdb_exec(&dev, &c, NX, ms, 6, NULL, 0, buf, 12);
	cdb_assert_good(&c);
	cr_assert_eq(buf[3], 8, "block descriptor present");
	cr_assert(buf[2] & 0x80, "WP reported for a write-protected cartridge");
	cr_assert_eq(get_be24(buf + 9), 0, "variable block mode");
}

Test(ssc_hosts, linux_st_tell_and_seek_use_read_position_and_locate_with_bt)
{
	struct scsi_cmd c;
	uint8_t buf[20], data[300];

	std_layout();
	/* mt seek 3: LOCATE(10) with BT=1 (st's default) and IMMED. */
	uint8_t loc[10] = {LOCATE_10, 0x04 | 0x01};
	put_be32(loc + 3, 3);
	cdb_exec(&dev, &c, NX, loc, 10, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
	/* mt tell: READ POSITION service action 1, allocation length 0. */
	uint8_t rp[10] = {READ_POSITION, 0x01};
	cdb_exec(&dev, &c, NX, rp, 10, NULL, 0, buf, sizeof(buf));
	cdb_assert_good(&c);
	cr_assert_eq(c.in_len, 20);
	cr_assert_eq(buf[0] & 0x04, 0, "position known (st fails the ioctl otherwise)");
	cr_assert_eq(buf[1], 0, "partition 0");
	cr_assert_eq(get_be32(buf + 4), 3);
	/* The data is the record after the first filemark. */
	read_var(&c, false, 300, data, sizeof(data));
	cdb_assert_good(&c);
	cr_assert_eq(c.in_len, 300);
	/* stsetoptions scsi2logical: BT=0 and service action 0 agree. */
	loc[1] = 0;
	put_be32(loc + 3, 1);
	cdb_exec(&dev, &c, NX, loc, 10, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
	rp[1] = 0;
	cdb_exec(&dev, &c, NX, rp, 10, NULL, 0, buf, sizeof(buf));
	cdb_assert_good(&c);
	cr_assert_eq(get_be32(buf + 4), 1);
}

Test(ssc_hosts, mt_eod_spaces_filemarks_0x7fffff_to_eod_with_the_residue)
{
	struct scsi_cmd c;

	std_layout();
	/* st MTEOM without fast_mteom: SPACE filemarks 0x7fffff. */
	space6(&c, 1, 0x7fffff);
	cdb_assert_sense(&c, SK_BLANK_CHECK, ASC_END_OF_DATA_DETECTED);
	cr_assert_eq(cdb_info(&c), 0x7fffff - 2, "two filemarks passed");
	uint64_t obj, file;
	position(&obj, &file, NULL);
	cr_assert_eq(obj, 5);
	cr_assert_eq(file, 2);
	/* With fast_mteom: SPACE end-of-data, GOOD, same place. */
	rewind_ok();
	space6(&c, 3, 0);
	cdb_assert_good(&c);
	cr_assert_eq(pos(), 5);
}

Test(ssc_hosts, mt_setblk_switches_to_fixed_blocks_and_back)
{
	struct scsi_cmd c;
	uint8_t data[3 * 1024], buf[3 * 1024];

	/* st MTSETBLK: MODE SELECT(6) PF, header with buffered mode 1, a
	 * block descriptor with the current density and the block length. */
	uint8_t cdb[6] = {MODE_SELECT_6, 0x10, 0, 0, 12};
	uint8_t p[12] = {0, 0, 0x10, 8, 0x5a};
	put_be24(p + 9, 1024);
	cdb_exec(&dev, &c, NX, cdb, 6, p, sizeof(p), NULL, 0);
	cdb_assert_good(&c);
	fill(data, sizeof(data), 5);
	cmd6(&c, WRITE_6, 0x01, 3, data, sizeof(data), NULL, 0);
	cdb_assert_good(&c);
	cr_assert_eq(pos(), 3, "three fixed blocks");
	rewind_ok();
	cmd6(&c, READ_6, 0x01, 3, NULL, 0, buf, sizeof(buf));
	cdb_assert_good(&c);
	cr_assert_arr_eq(buf, data, sizeof(data));
	/* mt setblk 0: variable again; a fixed READ is now invalid. */
	put_be24(p + 9, 0);
	cdb_exec(&dev, &c, NX, cdb, 6, p, sizeof(p), NULL, 0);
	cdb_assert_good(&c);
	cmd6(&c, READ_6, 0x01, 1, NULL, 0, buf, sizeof(buf));
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	rewind_ok();
	read_var(&c, false, 4096, buf, sizeof(buf));
	cdb_assert_sense(&c, SK_NO_SENSE, ASC_NO_ADDITIONAL_SENSE);
	cr_assert(cdb_flags(&c) & SENSE_ILI);
	cr_assert_eq(cdb_info(&c), 4096 - 1024, "each fixed block is a 1024-byte record");
}

Test(ssc_hosts, mt_compression_mode_sense_with_block_descriptor_and_select_back)
{
	struct scsi_cmd c;
	uint8_t buf[255];

	/* st_compression: MODE SENSE(6) page 0x0F with block descriptors,
	 * allocation 255; DCC must be one. */
	uint8_t ms[6] = {MODE_SENSE_6, 0, 0x0f, 0, 255};
	cdb_exec(&dev, &c, NX, ms, 6, NULL, 0, buf, sizeof(buf));
	cdb_assert_good(&c);
	uint8_t pgo = (uint8_t)(4 + buf[3]);
	cr_assert_eq(buf[3], 8);
	cr_assert(buf[pgo + 2] & 0x40, "DCC");
	/* write_mode_page: clear mode data length, medium type, WP and PS,
	 * turn DCE off, MODE SELECT(6) PF of header + descriptor + page. */
	uint8_t len = (uint8_t)(pgo + buf[pgo + 1] + 2);
	buf[0] = 0;
	buf[1] = 0;
	buf[2] &= 0x7f;
	buf[pgo] &= 0x3f;
	buf[pgo + 2] &= 0x7f;
	uint8_t sel[6] = {MODE_SELECT_6, 0x10, 0, 0, len};
	cdb_exec(&dev, &c, NX, sel, 6, buf, len, NULL, 0);
	cdb_assert_good(&c);
	cdb_exec(&dev, &c, NX, ms, 6, NULL, 0, buf, sizeof(buf));
	cdb_assert_good(&c);
	cr_assert_eq(buf[pgo + 2] & 0x80, 0, "DCE off");
}

Test(ssc_hosts, mt_erase_long_at_bot_leaves_a_blank_tape)
{
	struct scsi_cmd c;
	uint8_t buf[64];

	std_layout();
	/* st MTERASE: ERASE(6) with LONG when an argument is given. */
	cmd6(&c, ERASE_6, 0x01, 0, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
	read_var(&c, false, 64, buf, sizeof(buf));
	cdb_assert_sense(&c, SK_BLANK_CHECK, ASC_END_OF_DATA_DETECTED);
	space6(&c, 3, 0);
	cdb_assert_good(&c);
	cr_assert_eq(pos(), 0);
}

Test(ssc_hosts, btape_append_at_end_of_data_then_read_everything_back)
{
	struct scsi_cmd c;
	uint8_t data[4096], buf[4096];

	/* btape "append" test: write a file, rewind, go to EOD, learn the
	 * file number, append a file, rewind and read both back. */
	for (uint32_t i = 0; i < 3; i++) {
		fill(data, sizeof(data), 100 + i);
		write_ok(data, sizeof(data));
	}
	wfm_ok(1);
	rewind_ok();
	space6(&c, 3, 0);
	cdb_assert_good(&c);
	uint64_t obj, file;
	position(&obj, &file, NULL);
	cr_assert_eq(obj, 4);
	cr_assert_eq(file, 1, "mt status: file number 1 at EOD");
	for (uint32_t i = 0; i < 2; i++) {
		fill(data, sizeof(data), 200 + i);
		write_ok(data, sizeof(data));
	}
	wfm_ok(1);
	rewind_ok();
	for (uint32_t i = 0; i < 3; i++) {
		fill(data, sizeof(data), 100 + i);
		read_var(&c, false, sizeof(buf), buf, sizeof(buf));
		cdb_assert_good(&c);
		cr_assert_arr_eq(buf, data, sizeof(data));
	}
	read_var(&c, false, sizeof(buf), buf, sizeof(buf));
	cdb_assert_sense(&c, SK_NO_SENSE, ASC_FILEMARK_DETECTED);
	for (uint32_t i = 0; i < 2; i++) {
		fill(data, sizeof(data), 200 + i);
		read_var(&c, false, sizeof(buf), buf, sizeof(buf));
		cdb_assert_good(&c);
		cr_assert_arr_eq(buf, data, sizeof(data));
	}
	read_var(&c, false, sizeof(buf), buf, sizeof(buf));
	cdb_assert_sense(&c, SK_NO_SENSE, ASC_FILEMARK_DETECTED);
	read_var(&c, false, sizeof(buf), buf, sizeof(buf));
	cdb_assert_sense(&c, SK_BLANK_CHECK, ASC_END_OF_DATA_DETECTED);
}

Test(ssc_hosts, btape_bsf_at_eom_then_fsf_returns_to_end_of_data)
{
	struct scsi_cmd c;
	uint8_t buf[512];

	std_layout();
	space6(&c, 3, 0);
	cdb_assert_good(&c);
	/* "BSF at EOM = yes": from EOD, BSF 1 ends before the last filemark,
	 * FSF 1 after it, where end-of-data is. */
	space6(&c, 1, -1);
	cdb_assert_good(&c);
	uint64_t obj, file;
	position(&obj, &file, NULL);
	cr_assert_eq(obj, 4);
	cr_assert_eq(file, 1);
	space6(&c, 1, 1);
	cdb_assert_good(&c);
	position(&obj, &file, NULL);
	cr_assert_eq(obj, 5);
	cr_assert_eq(file, 2);
	read_var(&c, false, sizeof(buf), buf, sizeof(buf));
	cdb_assert_sense(&c, SK_BLANK_CHECK, ASC_END_OF_DATA_DETECTED);
	/* BSF 2 from EOD: before the first filemark, in file 0. */
	space6(&c, 1, -2);
	cdb_assert_good(&c);
	position(&obj, &file, NULL);
	cr_assert_eq(obj, 2);
	cr_assert_eq(file, 0);
	/* st's MTBSFM (BSF then FSF 1): at the start of file 1. */
	space6(&c, 1, 1);
	cdb_assert_good(&c);
	cr_assert_eq(pos(), 3);
}

Test(ssc_hosts, space_blocks_over_a_filemark_reports_the_blocks_not_spaced)
{
	struct scsi_cmd c;

	std_layout();
	/* st MTFSR 5 from BOT: two blocks, then the filemark stops it;
	 * st computes drv_block from INFORMATION = 5 - 2. */
	space6(&c, 0, 5);
	cdb_assert_sense(&c, SK_NO_SENSE, ASC_FILEMARK_DETECTED);
	cr_assert(cdb_flags(&c) & SENSE_FILEMARK);
	cr_assert_eq(cdb_info(&c), 3);
	cr_assert_eq(pos(), 3, "after the filemark");
	/* MTBSR 5 from there: the filemark stops it at once, before it. */
	space6(&c, 0, -5);
	cdb_assert_sense(&c, SK_NO_SENSE, ASC_FILEMARK_DETECTED);
	cr_assert_eq(cdb_info(&c), 5);
	cr_assert_eq(pos(), 2);
}

Test(ssc_hosts, drive_reports_live_used_bytes_of_its_cartridge_only)
{
	uint8_t data[1000];
	uint64_t used = 1;

	cr_assert(ssc_used_bytes(&dev, "ABC123L6", &used));
	cr_assert_eq(used, 0);
	fill(data, sizeof(data), 1);
	write_ok(data, sizeof(data));
	cr_assert(ssc_used_bytes(&dev, "ABC123L6", &used));
	cr_assert_geq(used, sizeof(data), "buffered write counted at once");
	cr_assert(!ssc_used_bytes(&dev, "OTHER1L6", &used));
	cr_assert_eq(ssc_remove(&dev, true), 0);
	cr_assert(!ssc_used_bytes(&dev, "ABC123L6", &used), "empty drive");
}
