/*
 * test_lbp.c - what enterprise backup software sets and reads on a tape
 * drive beyond reading and writing, at CDB level through spc_dispatch():
 * logical block protection (control data protection mode page 0Ah/F0h,
 * CRC32C and Reed-Solomon CRC checked on WRITE and appended on READ),
 * IBM's append-only mode (WRITE MODE of mode page 10h/01h, ALLOW
 * OVERWRITE), READ BUFFER / WRITE BUFFER and the data compression log
 * page 32h. Each test has a real drive and a real cartridge in a scratch
 * directory; nothing is mocked.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "scsi/be.h"
#include "scsi/crc32c.h"
#include "scsi/sense.h"
#include "scsi/ssc.h"
#include "scsi/ssc_priv.h"
#include "tests/scsi/cdb_harness.h"
#include "tests/tmpdir.h"

#define NX  1
#define NX2 2

static struct scsi_dev dev;
static char root[PATH_MAX];
static char tapedir[PATH_MAX + 16];
static bool have_dev;

/* ---- fixture ---- */

static void load(enum ssc_vendor vendor, enum tape_media gen)
{
	struct ssc_config cfg = {
	    .generation = gen,
	    .vendor = vendor,
	    .serial = "1013000888",
	    .naa = 0x5000e11100000008ull,
	    .rel_port = 1,
	};
	struct tape_info info;

	tmpdir_make(root, sizeof(root), "lbp");
	cr_assert_eq(ssc_drive_init(&dev, &cfg), 0);
	have_dev = true;
	memset(&info, 0, sizeof(info));
	snprintf(info.barcode, sizeof(info.barcode), "LBP001L%d", gen - TAPE_LTO5 + 5);
	snprintf(info.serial, sizeof(info.serial), "MSNLBP001");
	info.media = gen;
	info.created = 1700000000;
	snprintf(tapedir, sizeof(tapedir), "%s/t", root);
	cr_assert_eq(tape_format(tapedir, &info), 0);
	cr_assert_eq(ssc_insert(&dev, tapedir), 0);
	cdb_drain_ua(&dev, NX);
	cdb_drain_ua(&dev, NX2);
}

static void setup_ibm7(void)
{
	load(SSC_VENDOR_IBM, TAPE_LTO7);
}

static void setup_ibm6(void)
{
	load(SSC_VENDOR_IBM, TAPE_LTO6);
}

static void setup_hpe7(void)
{
	load(SSC_VENDOR_HPE, TAPE_LTO7);
}

static void teardown(void)
{
	if (have_dev)
		ssc_drive_destroy(&dev);
	have_dev = false;
	tmpdir_remove(root);
}

/* ---- helpers ---- */

static void write6(struct scsi_cmd *c, bool fixed, uint32_t n, const void *buf, uint32_t len)
{
	uint8_t cdb[6] = {WRITE_6, fixed ? 1 : 0};
	put_be24(cdb + 2, n);
	cdb_exec(&dev, c, NX, cdb, 6, buf, len, NULL, 0);
}

static void read6(struct scsi_cmd *c, bool fixed, uint32_t n, void *buf, uint32_t cap)
{
	uint8_t cdb[6] = {READ_6, fixed ? 1 : 0};
	put_be24(cdb + 2, n);
	cdb_exec(&dev, c, NX, cdb, 6, NULL, 0, buf, cap);
}

static void simple(uint8_t op, uint8_t b1)
{
	struct scsi_cmd c;
	uint8_t cdb[6] = {op, b1};
	cdb_exec(&dev, &c, NX, cdb, 6, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
}

static uint32_t position(void)
{
	struct scsi_cmd c;
	uint8_t buf[20];
	cdb_exec(&dev, &c, NX, CDB(READ_POSITION, 0, 0, 0, 0, 0, 0, 0, 0, 0), NULL, 0, buf,
		 sizeof(buf));
	cdb_assert_good(&c);
	return get_be32(buf + 4);
}

static void locate(uint32_t obj)
{
	struct scsi_cmd c;
	uint8_t cdb[10] = {LOCATE_10};
	put_be32(cdb + 3, obj);
	cdb_exec(&dev, &c, NX, cdb, 10, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
}

/* MODE SENSE(10) of page/subpage into buf (header, block descriptor,
 * page); returns the offset of the page. */
static uint32_t mode_sense(uint8_t page, uint8_t sub, uint8_t pc, uint8_t *buf, uint16_t cap)
{
	struct scsi_cmd c;
	uint8_t cdb[10] = {MODE_SENSE_10, 0, (uint8_t)(pc << 6 | page), sub};
	put_be16(cdb + 7, cap);
	memset(buf, 0, cap);
	cdb_exec(&dev, &c, NX, cdb, 10, NULL, 0, buf, cap);
	cdb_assert_good(&c);
	return 8u + get_be16(buf + 6);
}

/* MODE SELECT(10) of a page as MODE SENSE returned it, after edit(). */
static void mode_select(struct scsi_cmd *c, uint8_t *buf, uint16_t len)
{
	uint8_t cdb[10] = {MODE_SELECT_10, 0x10};
	put_be16(cdb + 7, len);
	buf[0] = buf[1] = 0; /* MODE DATA LENGTH is reserved in MODE SELECT */
	cdb_exec(&dev, c, NX, cdb, 10, buf, len, NULL, 0);
}

static void set_lbp(struct scsi_cmd *c, uint8_t method, uint8_t len, uint8_t bits)
{
	uint8_t buf[64];
	uint32_t off = mode_sense(0x0a, 0xf0, 0, buf, sizeof(buf));
	buf[off + 4] = method;
	buf[off + 5] = len;
	buf[off + 6] = bits;
	mode_select(c, buf, (uint16_t)(off + SSC_LBP_PAGE_LEN));
}

static void lbp_on(uint8_t method)
{
	struct scsi_cmd c;
	set_lbp(&c, method, 4, 0xc0); /* LBP_W, LBP_R: as IBM's LTFS sets it */
	cdb_assert_good(&c);
}

static void crc32c_le(const uint8_t *data, size_t len, uint8_t out[4])
{
	uint32_t v = crc32c(data, len);
	out[0] = (uint8_t)v;
	out[1] = (uint8_t)(v >> 8);
	out[2] = (uint8_t)(v >> 16);
	out[3] = (uint8_t)(v >> 24);
}

static void pattern(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 31u + seed * 7u + (i >> 8));
}

/* ---- Reed-Solomon CRC ---- */

TestSuite(ssc_rs_crc);

Test(ssc_rs_crc, a_single_one_byte_gives_the_generator_coefficients)
{
	/* The division of x^4 by G leaves G's low coefficients: the entry
	 * for 01h in the table of IBM's LTO SCSI Reference, Appendix D. */
	cr_assert_eq(ssc_rs_crc("\x01", 1), 0x38cf3801u);
	cr_assert_eq(ssc_rs_crc("\x02", 1), 0x70837002u);
	cr_assert_eq(ssc_rs_crc("", 0), 0u);
}

Test(ssc_rs_crc, data_followed_by_its_crc_divides_evenly)
{
	uint8_t buf[1000 + 4];
	pattern(buf, 1000, 3);
	put_be32(buf + 1000, ssc_rs_crc(buf, 1000));
	cr_assert_eq(ssc_rs_crc(buf, sizeof(buf)), 0u, "a codeword has no remainder");
	buf[17] ^= 0x40;
	cr_assert_neq(ssc_rs_crc(buf, sizeof(buf)), 0u, "a flipped bit is detected");
}

/* ---- logical block protection ---- */

TestSuite(ssc_lbp, .init = setup_ibm7, .fini = teardown);

Test(ssc_lbp, the_page_is_off_by_default_and_its_fields_changeable)
{
	uint8_t buf[64];
	uint32_t off = mode_sense(0x0a, 0xf0, 0, buf, sizeof(buf));
	cr_assert_eq(buf[off] & 0x7f, 0x40 | 0x0a, "SPF and page code");
	cr_assert_eq(buf[off + 1], 0xf0);
	cr_assert_eq(get_be16(buf + off + 2), SSC_LBP_PAGE_LEN - 4);
	cr_assert_eq(buf[off + 4], 0);
	cr_assert_eq(buf[off + 5], 0);
	cr_assert_eq(buf[off + 6], 0);
	off = mode_sense(0x0a, 0xf0, 1, buf, sizeof(buf));
	cr_assert_eq(buf[off + 4], 0xff);
	cr_assert_eq(buf[off + 5], 0x3f);
	cr_assert_eq(buf[off + 6], 0xe0);
}

Test(ssc_lbp, crc32c_write_is_checked_and_read_returns_the_crc_appended)
{
	uint8_t blk[512 + 4], got[1024];
	struct scsi_cmd c;

	lbp_on(SSC_LBP_CRC32C);
	uint8_t buf[64];
	uint32_t off = mode_sense(0x0a, 0xf0, 0, buf, sizeof(buf));
	cr_assert_eq(buf[off + 4], SSC_LBP_CRC32C);
	cr_assert_eq(buf[off + 5], 4);
	cr_assert_eq(buf[off + 6], 0xc0);

	pattern(blk, 512, 1);
	crc32c_le(blk, 512, blk + 512);
	write6(&c, false, sizeof(blk), blk, sizeof(blk));
	cdb_assert_good(&c);
	cr_assert_eq(position(), 1);

	simple(REWIND, 0);
	read6(&c, false, sizeof(got), got, sizeof(got));
	cr_assert_eq(cdb_key(&c), SK_NO_SENSE); /* ILI: the record is shorter */
	cr_assert_eq(c.in_len, 516, "data and protection information");
	cr_assert_eq(memcmp(got, blk, 516), 0, "the CRC32C follows the data, LSB first");

	/* With protection off the medium holds only the data. */
	struct scsi_cmd off_cmd;
	set_lbp(&off_cmd, 0, 0, 0);
	cdb_assert_good(&off_cmd);
	simple(REWIND, 0);
	read6(&c, false, 512, got, sizeof(got));
	cdb_assert_good(&c);
	cr_assert_eq(c.in_len, 512);
	cr_assert_eq(memcmp(got, blk, 512), 0);
}

Test(ssc_lbp, a_block_with_a_bad_crc_is_refused_and_not_written)
{
	uint8_t blk[100 + 4];
	struct scsi_cmd c;

	lbp_on(SSC_LBP_CRC32C);
	pattern(blk, 100, 2);
	crc32c_le(blk, 100, blk + 100);
	blk[50] ^= 1; /* the data changed after its CRC was computed */
	write6(&c, false, sizeof(blk), blk, sizeof(blk));
	cdb_assert_sense(&c, SK_ABORTED_COMMAND, ASC_LOGICAL_BLOCK_GUARD_CHECK_FAILED);
	cr_assert_eq(position(), 0, "nothing reached the medium");

	/* A block too short to carry its CRC is an invalid transfer length. */
	write6(&c, false, 3, blk, 3);
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	cdb_assert_field(&c, true, 2, 7);
}

Test(ssc_lbp, fixed_blocks_carry_the_crc_inside_the_block_length)
{
	enum { BL = 260 }; /* 256 bytes of data, 4 of CRC32C */
	uint8_t blks[3 * BL], got[3 * BL];
	struct scsi_cmd c;

	/* Block descriptor: 260-byte fixed blocks. */
	uint8_t ms[64];
	uint32_t off = mode_sense(0x10, 0, 0, ms, sizeof(ms));
	put_be24(ms + 8 + 5, BL);
	mode_select(&c, ms, (uint16_t)(off + 16));
	cdb_assert_good(&c);
	lbp_on(SSC_LBP_CRC32C);

	for (int i = 0; i < 3; i++) {
		pattern(blks + i * BL, BL - 4, 10u + (unsigned)i);
		crc32c_le(blks + i * BL, BL - 4, blks + i * BL + BL - 4);
	}
	/* The third block's CRC is wrong: two blocks land, INFORMATION
	 * says one was not written. */
	blks[2 * BL + BL - 1] ^= 0xff;
	write6(&c, true, 3, blks, sizeof(blks));
	cdb_assert_sense(&c, SK_ABORTED_COMMAND, ASC_LOGICAL_BLOCK_GUARD_CHECK_FAILED);
	cr_assert_eq(cdb_info(&c), 1);
	cr_assert_eq(position(), 2);

	simple(REWIND, 0);
	read6(&c, true, 2, got, sizeof(got));
	cdb_assert_good(&c);
	cr_assert_eq(c.in_len, 2 * BL);
	cr_assert_eq(memcmp(got, blks, 2 * BL), 0, "each block with its CRC");
}

Test(ssc_lbp, reed_solomon_crc_is_big_endian)
{
	uint8_t blk[64 + 4], got[128];
	struct scsi_cmd c;

	lbp_on(SSC_LBP_RS_CRC);
	pattern(blk, 64, 5);
	put_be32(blk + 64, ssc_rs_crc(blk, 64));
	write6(&c, false, sizeof(blk), blk, sizeof(blk));
	cdb_assert_good(&c);
	simple(REWIND, 0);
	read6(&c, false, sizeof(blk), got, sizeof(got));
	cdb_assert_good(&c);
	cr_assert_eq(memcmp(got, blk, sizeof(blk)), 0);

	/* The CRC32C of the same data is not a Reed-Solomon CRC. */
	crc32c_le(blk, 64, blk + 64);
	write6(&c, false, sizeof(blk), blk, sizeof(blk));
	cdb_assert_sense(&c, SK_ABORTED_COMMAND, ASC_LOGICAL_BLOCK_GUARD_CHECK_FAILED);
}

Test(ssc_lbp, a_wrong_information_length_or_method_is_refused)
{
	struct scsi_cmd c;

	set_lbp(&c, SSC_LBP_CRC32C, 8, 0xc0);
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_PARAMETER_LIST);
	set_lbp(&c, 0x03, 4, 0xc0);
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_PARAMETER_LIST);
	set_lbp(&c, 0, 4, 0);
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_PARAMETER_LIST);
}

/* Own suite: a suite's .init runs before a test's, so a test-level .init
 * would make a second drive. */
TestSuite(ssc_lbp_lto6, .init = setup_ibm6, .fini = teardown);

Test(ssc_lbp_lto6, takes_reed_solomon_but_not_crc32c)
{
	struct scsi_cmd c;

	set_lbp(&c, SSC_LBP_CRC32C, 4, 0xc0);
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_PARAMETER_LIST);
	lbp_on(SSC_LBP_RS_CRC);
}

/* ---- append-only mode ---- */

static void set_write_mode(struct scsi_cmd *c, uint8_t mode)
{
	uint8_t buf[64];
	uint32_t off = mode_sense(0x10, 0x01, 0, buf, sizeof(buf));
	buf[off + 5] = (uint8_t)(mode << 4);
	mode_select(c, buf, (uint16_t)(off + 32));
}

static void write_abc(void)
{
	struct scsi_cmd c;
	for (int i = 0; i < 3; i++) {
		write6(&c, false, 1, "ABC" + i, 1);
		cdb_assert_good(&c);
	}
}

TestSuite(ssc_append_only, .init = setup_ibm7, .fini = teardown);

Test(ssc_append_only, write_mode_is_changeable_on_ibm_and_reported)
{
	uint8_t buf[64];
	struct scsi_cmd c;

	uint32_t off = mode_sense(0x10, 0x01, 1, buf, sizeof(buf));
	cr_assert_eq(buf[off + 5], 0xf0);
	set_write_mode(&c, 1);
	cdb_assert_good(&c);
	off = mode_sense(0x10, 0x01, 0, buf, sizeof(buf));
	cr_assert_eq(buf[off + 5] >> 4, 1, "append-only");
	set_write_mode(&c, 2);
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_PARAMETER_LIST);
}

TestSuite(ssc_append_only_hpe, .init = setup_hpe7, .fini = teardown);

Test(ssc_append_only_hpe, hpe_drives_have_no_append_only_mode)
{
	uint8_t buf[64];
	struct scsi_cmd c;

	uint32_t off = mode_sense(0x10, 0x01, 1, buf, sizeof(buf));
	cr_assert_eq(buf[off + 5], 0);
	set_write_mode(&c, 1);
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_PARAMETER_LIST);
}

Test(ssc_append_only, writes_before_eod_are_refused_and_the_data_kept)
{
	struct scsi_cmd c;
	uint8_t got[8];

	write_abc();
	set_write_mode(&c, 1);
	cdb_assert_good(&c);
	locate(1);
	write6(&c, false, 1, "X", 1);
	cdb_assert_sense(&c, SK_DATA_PROTECT, ASC_WRITE_APPEND_POSITION_ERROR);
	cdb_exec(&dev, &c, NX, CDB(WRITE_FILEMARKS_6, 0, 0, 0, 1, 0), NULL, 0, NULL, 0);
	cdb_assert_sense(&c, SK_DATA_PROTECT, ASC_WRITE_APPEND_POSITION_ERROR);
	cdb_exec(&dev, &c, NX, CDB(ERASE_6, 1, 0, 0, 0, 0), NULL, 0, NULL, 0);
	cdb_assert_sense(&c, SK_DATA_PROTECT, ASC_WRITE_APPEND_POSITION_ERROR);

	locate(1);
	read6(&c, false, 1, got, sizeof(got));
	cdb_assert_good(&c);
	cr_assert_eq(got[0], 'B', "B is still there");

	/* At EOD the write appends. */
	locate(3);
	write6(&c, false, 1, "D", 1);
	cdb_assert_good(&c);
	cr_assert_eq(position(), 4);
}

Test(ssc_append_only, allow_overwrite_opens_the_current_position_once)
{
	struct scsi_cmd c;
	uint8_t cdb[16] = {ALLOW_OVERWRITE, 0, 0x01};

	write_abc();
	set_write_mode(&c, 1);
	cdb_assert_good(&c);
	locate(2);

	/* The position named must be the current one. */
	put_be64(cdb + 4, 1);
	cdb_exec(&dev, &c, NX, cdb, 16, NULL, 0, NULL, 0);
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_SEQUENTIAL_POSITIONING_ERROR);

	put_be64(cdb + 4, 2);
	cdb_exec(&dev, &c, NX, cdb, 16, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
	write6(&c, false, 1, "Z", 1);
	cdb_assert_good(&c);
	cr_assert_eq(position(), 3);

	/* Spent: back at 2 the write is refused again. */
	locate(2);
	write6(&c, false, 1, "Y", 1);
	cdb_assert_sense(&c, SK_DATA_PROTECT, ASC_WRITE_APPEND_POSITION_ERROR);

	cdb[2] = 0x02; /* FORMAT: no FORMAT MEDIUM here */
	cdb_exec(&dev, &c, NX, cdb, 16, NULL, 0, NULL, 0);
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	cdb_assert_field(&c, true, 2, 3);
}

Test(ssc_append_only, allow_overwrite_outside_append_only_mode_is_a_sequence_error)
{
	struct scsi_cmd c;
	cdb_exec(&dev, &c, NX, CDB(ALLOW_OVERWRITE, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
		 NULL, 0, NULL, 0);
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_COMMAND_SEQUENCE_ERROR);
}

Test(ssc_append_only, turned_off_only_without_a_mounted_cartridge)
{
	struct scsi_cmd c;

	set_write_mode(&c, 1);
	cdb_assert_good(&c);
	set_write_mode(&c, 0);
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_PARAMETER_LIST);
	cdb_exec(&dev, &c, NX, CDB(LOAD_UNLOAD, 0, 0, 0, 0, 0), NULL, 0, NULL, 0); /* unload */
	cdb_assert_good(&c);
	set_write_mode(&c, 0);
	cdb_assert_good(&c);
}

/* ---- READ BUFFER / WRITE BUFFER ---- */

TestSuite(ssc_buffer, .init = setup_ibm7, .fini = teardown);

static void read_buffer(struct scsi_cmd *c, uint64_t nexus, uint8_t mode, uint8_t id,
			uint32_t offset, void *buf, uint32_t len)
{
	uint8_t cdb[10] = {READ_BUFFER, mode, id};
	put_be24(cdb + 3, offset);
	put_be24(cdb + 6, len);
	cdb_exec(&dev, c, nexus, cdb, 10, NULL, 0, buf, len);
}

static void write_buffer(struct scsi_cmd *c, uint64_t nexus, uint8_t mode, uint8_t id,
			 uint32_t offset, const void *buf, uint32_t len)
{
	uint8_t cdb[10] = {WRITE_BUFFER, mode, id};
	put_be24(cdb + 3, offset);
	put_be24(cdb + 6, len);
	cdb_exec(&dev, c, nexus, cdb, 10, buf, len, NULL, 0);
}

Test(ssc_buffer, descriptor_data_and_combined_modes_agree)
{
	struct scsi_cmd c;
	uint8_t d[4], data[300], got[300];

	read_buffer(&c, NX, 0x03, 0, 0, d, 4);
	cdb_assert_good(&c);
	cr_assert_eq(d[0], 0, "byte offsets");
	uint32_t capacity = get_be24(d + 1);
	cr_assert_eq(capacity, 65536);

	pattern(data, sizeof(data), 9);
	write_buffer(&c, NX, 0x02, 0, 1000, data, sizeof(data));
	cdb_assert_good(&c);
	read_buffer(&c, NX, 0x02, 0, 1000, got, sizeof(got));
	cdb_assert_good(&c);
	cr_assert_eq(memcmp(got, data, sizeof(data)), 0);

	uint8_t comb[4 + 1300];
	read_buffer(&c, NX, 0x00, 0, 0, comb, sizeof(comb));
	cdb_assert_good(&c);
	cr_assert_eq(get_be24(comb + 1), capacity);
	cr_assert_eq(memcmp(comb + 4 + 1000, data, sizeof(data)), 0);
}

Test(ssc_buffer, out_of_range_and_unknown_buffers_are_invalid_fields)
{
	struct scsi_cmd c;
	uint8_t got[16];

	read_buffer(&c, NX, 0x02, 0, 65536 - 8, got, 16);
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	cdb_assert_field(&c, true, 6, -1);
	read_buffer(&c, NX, 0x02, 7, 0, got, 16);
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	cdb_assert_field(&c, true, 2, -1);
	read_buffer(&c, NX, 0x1c, 0, 0, got, 16); /* error history: not kept */
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	cdb_assert_field(&c, true, 1, 4);
}

Test(ssc_buffer, download_microcode_is_refused)
{
	struct scsi_cmd c;
	uint8_t image[64] = {0};

	static const uint8_t modes[] = {0x04, 0x05, 0x06, 0x07, 0x0d, 0x0e, 0x0f};
	for (size_t i = 0; i < sizeof(modes); i++) {
		write_buffer(&c, NX, modes[i], 0, 0, image, sizeof(image));
		cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
		cdb_assert_field(&c, true, 1, 4);
	}
}

Test(ssc_buffer, echo_buffer_belongs_to_the_nexus_that_wrote_it)
{
	struct scsi_cmd c;
	uint8_t d[4], msg[100], got[100];

	read_buffer(&c, NX, 0x0b, 0, 0, d, 4);
	cdb_assert_good(&c);
	cr_assert_eq(d[0] & 1, 1, "EBOS");
	cr_assert_eq(get_be16(d + 2) & 0x1fff, 4096);

	read_buffer(&c, NX, 0x0a, 0, 0, got, sizeof(got));
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_COMMAND_SEQUENCE_ERROR);

	pattern(msg, sizeof(msg), 4);
	write_buffer(&c, NX, 0x0a, 0, 0, msg, sizeof(msg));
	cdb_assert_good(&c);
	read_buffer(&c, NX, 0x0a, 0, 0, got, sizeof(got));
	cdb_assert_good(&c);
	cr_assert_eq(c.in_len, sizeof(msg));
	cr_assert_eq(memcmp(got, msg, sizeof(msg)), 0);

	write_buffer(&c, NX2, 0x0a, 0, 0, "other", 5);
	cdb_assert_good(&c);
	read_buffer(&c, NX, 0x0a, 0, 0, got, sizeof(got));
	cdb_assert_sense(&c, SK_ABORTED_COMMAND, ASC_ECHO_BUFFER_OVERWRITTEN);
}

/* ---- data compression log page ---- */

TestSuite(ssc_logs, .init = setup_ibm7, .fini = teardown);

static uint64_t log_param(const uint8_t *page, uint16_t code)
{
	uint32_t len = 4u + get_be16(page + 2);
	for (uint32_t off = 4; off + 4 <= len; off += 4u + page[off + 3]) {
		if (get_be16(page + off) != code)
			continue;
		uint64_t v = 0;
		for (uint8_t i = 0; i < page[off + 3]; i++)
			v = v << 8 | page[off + 4 + i];
		return v;
	}
	cr_assert_fail("parameter %04x missing", code);
	return 0;
}

Test(ssc_logs, compression_page_reports_what_the_medium_did)
{
	struct scsi_cmd c;
	static uint8_t blk[256 * 1024];
	uint8_t page[256];

	memset(blk, 'a', sizeof(blk)); /* compresses well */
	for (int i = 0; i < 8; i++) {
		write6(&c, false, sizeof(blk), blk, sizeof(blk));
		cdb_assert_good(&c);
	}
	simple(WRITE_FILEMARKS_6, 0); /* flush: the stored size is known */

	cdb_exec(&dev, &c, NX, CDB(LOG_SENSE, 0, 0x40 | 0x32, 0, 0, 0, 0, 1, 0, 0), NULL, 0, page,
		 sizeof(page));
	cdb_assert_good(&c);
	cr_assert_eq(page[0] & 0x3f, 0x32);
	uint64_t host = log_param(page, 6) << 20 | log_param(page, 7);
	uint64_t stored = log_param(page, 8) << 20 | log_param(page, 9);
	cr_assert_eq(host, 8 * sizeof(blk), "bytes from the host");
	cr_assert(stored > 0 && stored < host, "compressed: %llu of %llu",
		  (unsigned long long)stored, (unsigned long long)host);
	cr_assert_eq(log_param(page, 1), host * 100 / stored, "write compression ratio x100");
	cr_assert_eq(log_param(page, 0), 100, "nothing read yet: 1:1");

	/* Page 00h lists it. */
	cdb_exec(&dev, &c, NX, CDB(LOG_SENSE, 0, 0x40, 0, 0, 0, 0, 0, 64, 0), NULL, 0, page, 64);
	cdb_assert_good(&c);
	cr_assert_not_null(memchr(page + 4, 0x32, get_be16(page + 2)));
}

static void log_sense(uint8_t page, uint8_t *buf, uint16_t cap)
{
	struct scsi_cmd c;
	uint8_t cdb[10] = {LOG_SENSE, 0, (uint8_t)(0x40 | page)};
	put_be16(cdb + 7, cap);
	cdb_exec(&dev, &c, NX, cdb, 10, NULL, 0, buf, cap);
	cdb_assert_good(&c);
	cr_assert_eq(buf[0] & 0x3f, page);
}

Test(ssc_logs, device_statistics_count_loads_and_reset_the_since_reset_count)
{
	struct scsi_cmd c;
	uint8_t page[128];

	log_sense(0x14, page, sizeof(page));
	cr_assert_eq(log_param(page, 0x0000), 1, "the cartridge loaded by the fixture");
	cr_assert_eq(log_param(page, 0x0002), 0, "power-on hours: just started");
	cr_assert_eq(log_param(page, 0x000d), 1);

	cdb_exec(&dev, &c, NX, CDB(LOAD_UNLOAD, 0, 0, 0, 0, 0), NULL, 0, NULL, 0); /* unload */
	cdb_assert_good(&c);
	cdb_exec(&dev, &c, NX, CDB(LOAD_UNLOAD, 0, 0, 0, 1, 0), NULL, 0, NULL, 0); /* load */
	cdb_assert_good(&c);
	log_sense(0x14, page, sizeof(page));
	cr_assert_eq(log_param(page, 0x0000), 2);
	cr_assert_eq(log_param(page, 0x000d), 2);

	/* LOG SELECT PCR: the since-reset count restarts, lifetime does not. */
	cdb_exec(&dev, &c, NX, CDB(LOG_SELECT, 0x02, 0x40 | 0x14, 0, 0, 0, 0, 0, 0, 0), NULL, 0,
		 NULL, 0);
	cdb_assert_good(&c);
	log_sense(0x14, page, sizeof(page));
	cr_assert_eq(log_param(page, 0x0000), 2);
	cr_assert_eq(log_param(page, 0x000d), 0);
}
