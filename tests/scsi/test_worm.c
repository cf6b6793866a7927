/*
 * test_worm.c - WORM cartridges (tape_info.worm) at CDB level and on the
 * medium.
 *
 * A drive gets a WORM cartridge holding A B FM C FM FM (objects 0..5, EOD
 * 6), formatted in a fresh scratch directory. Every command that writes
 * (WRITE(6), WRITE(16), WRITE FILEMARKS(6), WRITE FILEMARKS(16), ERASE(6),
 * ERASE(16)) is tried at BOT, in the middle of the data, before the first
 * of the trailing filemarks, between the trailing filemarks and at EOD;
 * a refusal must be DATA PROTECT, WORM MEDIUM - OVERWRITE ATTEMPTED
 * (30/0C) with the tape read back exactly as it was, an allowed write
 * must land. Then what hosts read to learn a cartridge is WORM: the MAM
 * MEDIUM TYPE attribute and the medium configuration mode page. Nothing
 * is mocked: a real drive, a real medium.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "scsi/be.h"
#include "scsi/sense.h"
#include "scsi/ssc.h"
#include "tests/scsi/cdb_harness.h"
#include "tests/tmpdir.h"

#define NX 1

static struct scsi_dev dev;
static char root[PATH_MAX];
static char tapedir[PATH_MAX + 16];
static bool have_dev;

/* ---- fixture ---- */

static void make_drive(enum ssc_vendor vendor)
{
	struct ssc_config cfg = {
	    .generation = TAPE_LTO6,
	    .vendor = vendor,
	    .serial = "1013000777",
	    .naa = 0x5000e11100000007ull,
	    .rel_port = 1,
	};
	cr_assert_eq(ssc_drive_init(&dev, &cfg), 0);
	have_dev = true;
}

static void format_tape(const char *name, bool worm)
{
	struct tape_info info;

	memset(&info, 0, sizeof(info));
	snprintf(info.barcode, sizeof(info.barcode), "%s", name);
	snprintf(info.serial, sizeof(info.serial), "MSN%s", name);
	info.media = TAPE_LTO6;
	info.worm = worm;
	info.created = 1700000000;
	snprintf(tapedir, sizeof(tapedir), "%s/%s", root, name);
	cr_assert_eq(tape_format(tapedir, &info), 0, "tape_format %s", tapedir);
}

static void cmd6(struct scsi_cmd *c, uint8_t op, uint8_t b1, uint32_t len24, const void *out,
		 uint32_t out_len, void *in, uint32_t in_cap)
{
	uint8_t cdb[6] = {op, b1};
	put_be24(cdb + 2, len24);
	cdb_exec(&dev, c, NX, cdb, 6, out, out_len, in, in_cap);
}

static void good6(uint8_t op, uint8_t b1, uint32_t len24, const void *out, uint32_t out_len)
{
	struct scsi_cmd c;
	cmd6(&c, op, b1, len24, out, out_len, NULL, 0);
	cdb_assert_good(&c);
}

static void locate(uint32_t obj)
{
	struct scsi_cmd c;
	uint8_t cdb[10] = {LOCATE_10};
	put_be32(cdb + 3, obj);
	cdb_exec(&dev, &c, NX, cdb, 10, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
}

/* The layout every test starts from: A B FM C FM FM, EOD at 6. */
static const char *const layout[] = {"A", "B", NULL, "C", NULL, NULL};
#define LAYOUT_N 6
#define POS_BOT	 0
#define POS_MID	 1 /* before B */
#define POS_RUN	 4 /* after C, before the first trailing filemark */
#define POS_LAST 5 /* between the trailing filemarks: before the last one */
#define POS_EOD	 6

static void load(enum ssc_vendor vendor, bool worm)
{
	tmpdir_make(root, sizeof(root), "worm");
	make_drive(vendor);
	format_tape("WRM001LW", worm);
	cr_assert_eq(ssc_insert(&dev, tapedir), 0);
	cdb_drain_ua(&dev, NX);
	for (int i = 0; i < LAYOUT_N; i++) {
		if (layout[i])
			good6(WRITE_6, 0, 1, layout[i], 1);
		else
			good6(WRITE_FILEMARKS_6, 0, 1, NULL, 0);
	}
}

static void setup_worm(void)
{
	load(SSC_VENDOR_IBM, true);
}

static void teardown(void)
{
	if (have_dev)
		ssc_drive_destroy(&dev);
	have_dev = false;
	tmpdir_remove(root);
}

/*
 * Read the tape from BOT and check it holds `want` (n objects: a string
 * is a one-byte block, NULL a filemark), then EOD.
 */
static void assert_tape(const char *const *want, int n)
{
	struct scsi_cmd c;
	uint8_t buf[16];

	good6(REWIND, 0, 0, NULL, 0);
	for (int i = 0; i < n; i++) {
		cmd6(&c, READ_6, 0x02, sizeof(buf), NULL, 0, buf, sizeof(buf)); /* SILI */
		if (want[i]) {
			cr_assert_eq(c.status, SAM_STAT_GOOD, "object %d: expected block %s", i,
				     want[i]);
			cr_assert_eq(c.in_len, 1, "object %d", i);
			cr_assert_eq(buf[0], (uint8_t)want[i][0], "object %d", i);
		} else {
			cr_assert_eq(cdb_flags(&c) & SENSE_FILEMARK, SENSE_FILEMARK,
				     "object %d: expected a filemark", i);
		}
	}
	cmd6(&c, READ_6, 0x02, sizeof(buf), NULL, 0, buf, sizeof(buf)); /* SILI */
	cdb_assert_sense(&c, SK_BLANK_CHECK, ASC_END_OF_DATA_DETECTED);
}

static void assert_unchanged(void)
{
	assert_tape(layout, LAYOUT_N);
}

static void assert_worm_refused(const struct scsi_cmd *c)
{
	cdb_assert_sense(c, SK_DATA_PROTECT, ASC_WORM_MEDIUM_OVERWRITE_ATTEMPTED);
}

/* The refusing commands, each from the position given. */
static void try_write6(uint32_t pos, struct scsi_cmd *c)
{
	locate(pos);
	cmd6(c, WRITE_6, 0, 1, "X", 1, NULL, 0);
}

static void try_wfm6(uint32_t pos, struct scsi_cmd *c)
{
	locate(pos);
	cmd6(c, WRITE_FILEMARKS_6, 0, 1, NULL, 0, NULL, 0);
}

static void try_erase6(uint32_t pos, struct scsi_cmd *c)
{
	locate(pos);
	cmd6(c, ERASE_6, 0x01, 0, NULL, 0, NULL, 0); /* LONG, as mt erase */
}

/* The 16-byte forms carry the position themselves (LOGICAL OBJECT
 * IDENTIFIER); the drive is left at EOD first. */
static void try_write16(uint32_t pos, struct scsi_cmd *c)
{
	uint8_t cdb[16] = {WRITE_16};
	locate(POS_EOD);
	put_be64(cdb + 4, pos);
	put_be24(cdb + 12, 1);
	cdb_exec(&dev, c, NX, cdb, 16, "X", 1, NULL, 0);
}

static void try_wfm16(uint32_t pos, struct scsi_cmd *c)
{
	uint8_t cdb[16] = {WRITE_FILEMARKS_16};
	locate(POS_EOD);
	put_be64(cdb + 4, pos);
	put_be24(cdb + 12, 1);
	cdb_exec(&dev, c, NX, cdb, 16, NULL, 0, NULL, 0);
}

static void try_erase16(uint32_t pos, struct scsi_cmd *c)
{
	uint8_t cdb[16] = {ERASE_16, 0x01};
	locate(POS_EOD);
	put_be64(cdb + 4, pos);
	cdb_exec(&dev, c, NX, cdb, 16, NULL, 0, NULL, 0);
}

typedef void (*try_fn)(uint32_t pos, struct scsi_cmd *c);

static const struct {
	const char *name;
	try_fn fn;
	bool erase;
} writers[] = {
    {"WRITE(6)", try_write6, false},	     {"WRITE(16)", try_write16, false},
    {"WRITE FILEMARKS(6)", try_wfm6, false}, {"WRITE FILEMARKS(16)", try_wfm16, false},
    {"ERASE(6)", try_erase6, true},	     {"ERASE(16)", try_erase16, true},
};
#define N_WRITERS (sizeof(writers) / sizeof(writers[0]))

/* ---- refusals: every writer, every position inside the data ---- */

TestSuite(ssc_worm, .init = setup_worm, .fini = teardown);

static void refused_everywhere_at(uint32_t pos, bool only_erase)
{
	for (size_t i = 0; i < N_WRITERS; i++) {
		struct scsi_cmd c;

		if (only_erase && !writers[i].erase)
			continue;
		writers[i].fn(pos, &c);
		cr_assert_eq(c.status, SAM_STAT_CHECK_CONDITION, "%s at object %u: not refused",
			     writers[i].name, pos);
		assert_worm_refused(&c);
		assert_unchanged();
	}
}

Test(ssc_worm, every_write_at_bot_with_data_after_it_is_refused)
{
	refused_everywhere_at(POS_BOT, false);
}

Test(ssc_worm, every_write_in_the_middle_of_the_data_is_refused)
{
	refused_everywhere_at(POS_MID, false);
}

Test(ssc_worm, the_first_trailing_filemark_is_never_overwritten)
{
	/* After the last block: the filemark closest to BOP of the run
	 * before EOD stays (WORM MODE FILEMARK RESTRICTIONS 02h). */
	refused_everywhere_at(POS_RUN, false);
}

Test(ssc_worm, erase_between_the_trailing_filemarks_is_refused)
{
	refused_everywhere_at(POS_LAST, true);
}

Test(ssc_worm, a_refusal_raises_tapealert_worm_overwrite_attempted)
{
	struct scsi_cmd c;
	uint8_t buf[512];

	try_write6(POS_MID, &c);
	assert_worm_refused(&c);
	/* LOG SENSE page 2Eh: parameter 003Ch (flag 60). */
	uint8_t cdb[10] = {LOG_SENSE, 0, 0x40 | 0x2e};
	put_be16(cdb + 7, sizeof(buf));
	cdb_exec(&dev, &c, NX, cdb, 10, NULL, 0, buf, sizeof(buf));
	cdb_assert_good(&c);
	const uint8_t *p = buf + 4 + (60 - 1) * 5;
	cr_assert_eq(get_be16(p), 60);
	cr_assert_eq(p[4], 1, "TapeAlert flag 60 not set");
}

/* ---- what is allowed: appends ---- */

Test(ssc_worm, writes_append_at_eod)
{
	const char *const want[] = {"A", "B", NULL, "C", NULL, NULL, "D", NULL};

	locate(POS_EOD);
	good6(WRITE_6, 0, 1, "D", 1);
	good6(WRITE_FILEMARKS_6, 0, 1, NULL, 0);
	assert_tape(want, 8);
}

Test(ssc_worm, space_to_eod_then_append_as_mt_eod_does)
{
	const char *const want[] = {"A", "B", NULL, "C", NULL, NULL, "D"};

	good6(REWIND, 0, 0, NULL, 0);
	good6(SPACE_6, 3, 0, NULL, 0); /* SPACE end-of-data */
	good6(WRITE_6, 0, 1, "D", 1);
	assert_tape(want, 7);
}

Test(ssc_worm, the_last_trailing_filemark_may_be_overwritten_by_data)
{
	const char *const want[] = {"A", "B", NULL, "C", NULL, "X"};
	struct scsi_cmd c;

	try_write6(POS_LAST, &c);
	cdb_assert_good(&c);
	assert_tape(want, 6);
}

Test(ssc_worm, the_last_trailing_filemark_may_be_overwritten_by_filemarks)
{
	const char *const want[] = {"A", "B", NULL, "C", NULL, NULL};
	struct scsi_cmd c;

	try_wfm16(POS_LAST, &c);
	cdb_assert_good(&c);
	assert_tape(want, 6);
}

Test(ssc_worm, erase_at_eod_erases_nothing_and_succeeds)
{
	struct scsi_cmd c;

	try_erase6(POS_EOD, &c);
	cdb_assert_good(&c);
	assert_unchanged();
}

Test(ssc_worm, a_blank_worm_cartridge_is_written_from_bot)
{
	const char *const want[] = {"Z", NULL};

	teardown();
	tmpdir_make(root, sizeof(root), "worm");
	make_drive(SSC_VENDOR_IBM);
	format_tape("WRM002LW", true);
	cr_assert_eq(ssc_insert(&dev, tapedir), 0);
	cdb_drain_ua(&dev, NX);
	good6(WRITE_6, 0, 1, "Z", 1);
	good6(WRITE_FILEMARKS_6, 0, 1, NULL, 0);
	assert_tape(want, 2);
}

Test(ssc_worm, the_hpe_drive_applies_the_same_rules)
{
	struct scsi_cmd c;

	teardown();
	load(SSC_VENDOR_HPE, true);
	try_write6(POS_MID, &c);
	assert_worm_refused(&c);
	try_write6(POS_RUN, &c);
	assert_worm_refused(&c);
	assert_unchanged();
	try_write6(POS_LAST, &c);
	cdb_assert_good(&c);
}

Test(ssc_worm, a_rewritable_cartridge_is_still_overwritten)
{
	const char *const want[] = {"X"};
	struct scsi_cmd c;

	teardown();
	load(SSC_VENDOR_IBM, false);
	try_write6(POS_BOT, &c);
	cdb_assert_good(&c);
	assert_tape(want, 1);
}

/* ---- where hosts see it ---- */

/* MEDIUM TYPE (0408h) through READ ATTRIBUTE, ATTRIBUTE VALUES from it. */
static uint8_t mam_medium_type(void)
{
	struct scsi_cmd c;
	uint8_t buf[64];
	uint8_t cdb[16] = {READ_ATTRIBUTE, 0x00};

	put_be16(cdb + 8, 0x0408);
	put_be32(cdb + 10, sizeof(buf));
	cdb_exec(&dev, &c, NX, cdb, 16, NULL, 0, buf, sizeof(buf));
	cdb_assert_good(&c);
	cr_assert_eq(get_be16(buf + 4), 0x0408);
	cr_assert_eq(buf[6] & 0x80, 0x80, "MEDIUM TYPE is read only");
	cr_assert_eq(get_be16(buf + 7), 1);
	return buf[9];
}

/* The medium configuration mode page (1Dh) for page control pc, without
 * a block descriptor (DBD). */
static const uint8_t *medium_conf_page(uint8_t pc, uint8_t *buf, uint32_t cap)
{
	struct scsi_cmd c;

	uint8_t cdb[6] = {MODE_SENSE_6, 0x08, (uint8_t)(pc << 6 | 0x1d), 0, (uint8_t)cap};
	cdb_exec(&dev, &c, NX, cdb, 6, NULL, 0, buf, cap);
	cdb_assert_good(&c);
	cr_assert_eq(buf[3], 0, "DBD: no block descriptor");
	cr_assert_eq(buf[4] & 0x3f, 0x1d);
	cr_assert_eq(buf[5], 0x1e);
	return buf + 4;
}

Test(ssc_worm, mam_medium_type_is_write_once)
{
	cr_assert_eq(mam_medium_type(), 0x80);
}

Test(ssc_worm, medium_configuration_page_reports_wormm_and_restrictions)
{
	uint8_t buf[64];
	const uint8_t *p = medium_conf_page(0, buf, sizeof(buf));

	cr_assert_eq(p[2] & 0x01, 0x01, "WORMM");
	cr_assert_eq(p[4], 0x00, "WORM MODE LABEL RESTRICTIONS");
	cr_assert_eq(p[5], 0x02, "WORM MODE FILEMARK RESTRICTIONS");
	p = medium_conf_page(1, buf, sizeof(buf)); /* changeable: nothing */
	for (int i = 2; i < 32; i++)
		cr_assert_eq(p[i], 0, "byte %d changeable", i);
}

Test(ssc_worm, mode_select_cannot_clear_wormm)
{
	uint8_t list[4 + 32] = {0, 0, 0x10, 0}; /* header: buffered mode 1, no descriptor */
	struct scsi_cmd c;

	list[4] = 0x1d;
	list[5] = 0x1e;
	list[4 + 5] = 0x02; /* WORMM 0, the restrictions as reported */
	cdb_exec(&dev, &c, NX, CDB(MODE_SELECT_6, 0x10, 0, 0, sizeof(list), 0), list, sizeof(list),
		 NULL, 0);
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_PARAMETER_LIST);
	cdb_assert_field(&c, false, 4 + 2, 0);
	cr_assert_eq(mam_medium_type(), 0x80);
	try_write6(POS_MID, &c);
	assert_worm_refused(&c);
}

Test(ssc_worm, a_rewritable_cartridge_reports_data_medium_and_no_wormm)
{
	uint8_t buf[64];

	teardown();
	load(SSC_VENDOR_IBM, false);
	cr_assert_eq(mam_medium_type(), 0x00);
	cr_assert_eq(medium_conf_page(0, buf, sizeof(buf))[2] & 0x01, 0);
}

Test(ssc_worm, worm_survives_unload_and_reinsert)
{
	struct scsi_cmd c;

	cr_assert_eq(ssc_remove(&dev, true), 0);
	cr_assert_eq(ssc_insert(&dev, tapedir), 0);
	cdb_drain_ua(&dev, NX);
	cr_assert_eq(mam_medium_type(), 0x80);
	try_write6(POS_MID, &c);
	assert_worm_refused(&c);
	assert_unchanged();
}

/* The MEDIUM TYPE byte of the mode parameter header, by MODE SENSE(6)
 * (byte 1) and MODE SENSE(10) (byte 2), which must agree. */
static uint8_t header_medium_type(void)
{
	struct scsi_cmd c;
	uint8_t b6[64], b10[64];

	cdb_exec(&dev, &c, NX, CDB(MODE_SENSE_6, 0x08, 0x00, 0, sizeof(b6), 0), NULL, 0, b6,
		 sizeof(b6));
	cdb_assert_good(&c);
	uint8_t cdb10[10] = {MODE_SENSE_10, 0x08, 0x00};
	put_be16(cdb10 + 7, sizeof(b10));
	cdb_exec(&dev, &c, NX, cdb10, 10, NULL, 0, b10, sizeof(b10));
	cdb_assert_good(&c);
	cr_assert_eq(b6[1], b10[2], "MODE SENSE(6) and (10) agree on MEDIUM TYPE");
	return b6[1];
}

Test(ssc_worm, ibm_mode_header_reports_the_worm_medium_type)
{
	cr_assert_eq(header_medium_type(), 0x6c, "IBM: Ultrium 6 WORM");
	teardown();
	load(SSC_VENDOR_IBM, false);
	cr_assert_eq(header_medium_type(), 0x68, "IBM: Ultrium 6 data");
	cr_assert_eq(ssc_remove(&dev, true), 0);
	cr_assert_eq(header_medium_type(), 0x00, "no cartridge");
}

Test(ssc_worm, hpe_mode_header_reports_the_worm_medium_type)
{
	teardown();
	load(SSC_VENDOR_HPE, true);
	cr_assert_eq(header_medium_type(), 0x01, "HPE: WORM");
	teardown();
	load(SSC_VENDOR_HPE, false);
	cr_assert_eq(header_medium_type(), 0x00, "HPE: data");
}

Test(ssc_worm, mode_select_takes_back_the_medium_type_it_reported)
{
	/* Linux st sends back the header it read, MEDIUM TYPE included. */
	uint8_t list[4] = {0, 0x6c, 0x10, 0};
	struct scsi_cmd c;

	cdb_exec(&dev, &c, NX, CDB(MODE_SELECT_6, 0x10, 0, 0, sizeof(list), 0), list, sizeof(list),
		 NULL, 0);
	cdb_assert_good(&c);
	cr_assert_eq(header_medium_type(), 0x6c);
}

/* REPORT DENSITY SUPPORT with MEDIUM TYPE = 1; returns the descriptors'
 * count after checking the header. */
static unsigned medium_type_report(bool media, uint8_t *buf, uint32_t cap)
{
	struct scsi_cmd c;
	uint8_t cdb[10] = {REPORT_DENSITY_SUPPORT, (uint8_t)(0x02 | (media ? 1 : 0))};

	put_be16(cdb + 7, (uint16_t)cap);
	cdb_exec(&dev, &c, NX, cdb, 10, NULL, 0, buf, cap);
	cdb_assert_good(&c);
	uint16_t avail = get_be16(buf);
	cr_assert_eq((avail - 2) % 56, 0, "56-byte medium type descriptors");
	return (avail - 2) / 56;
}

static void assert_medium_desc(const uint8_t *p, uint8_t code, const uint8_t *dens, unsigned n,
			       uint16_t length, const char *name)
{
	cr_assert_eq(p[0], code);
	cr_assert_eq(get_be16(p + 2), 52, "DESCRIPTOR LENGTH");
	cr_assert_eq(p[4], n, "NUMBER OF DENSITY CODES");
	cr_assert_eq(memcmp(p + 5, dens, n), 0);
	for (unsigned i = n; i < 9; i++)
		cr_assert_eq(p[5 + i], 0);
	cr_assert_eq(get_be16(p + 14), 127, "MEDIA WIDTH");
	cr_assert_eq(get_be16(p + 16), length, "MEDIUM LENGTH");
	cr_assert_eq(memcmp(p + 20, "LTO-CVE ", 8), 0);
	char want[9];
	snprintf(want, sizeof(want), "%-8s", name);
	cr_assert_eq(memcmp(p + 28, want, 8), 0, "MEDIUM TYPE NAME %.8s", p + 28);
}

Test(ssc_worm, report_density_support_names_the_mounted_medium_type)
{
	uint8_t buf[4 + 8 * 56];
	const uint8_t lto6 = 0x5a;

	cr_assert_eq(medium_type_report(true, buf, sizeof(buf)), 1);
	assert_medium_desc(buf + 4, 0x6c, &lto6, 1, 846, "LTO-6W");
	cr_assert_eq(memcmp(buf + 4 + 36, "Ultrium 6 WORM      ", 20), 0);
}

Test(ssc_worm, report_density_support_lists_data_and_worm_types_in_order)
{
	uint8_t buf[4 + 8 * 56];
	const uint8_t lto5 = 0x58, lto6 = 0x5a, both[2] = {0x58, 0x5a};

	/* IBM LTO-6: Ultrium 5 and 6 cartridges, data and WORM, each code
	 * one generation, ascending. */
	cr_assert_eq(medium_type_report(false, buf, sizeof(buf)), 4);
	assert_medium_desc(buf + 4, 0x58, &lto5, 1, 846, "LTO-5");
	assert_medium_desc(buf + 4 + 56, 0x5c, &lto5, 1, 846, "LTO-5W");
	assert_medium_desc(buf + 4 + 112, 0x68, &lto6, 1, 846, "LTO-6");
	assert_medium_desc(buf + 4 + 168, 0x6c, &lto6, 1, 846, "LTO-6W");
	/* HPE: one code for data, one for WORM, each every density. */
	teardown();
	load(SSC_VENDOR_HPE, true);
	cr_assert_eq(medium_type_report(false, buf, sizeof(buf)), 2);
	assert_medium_desc(buf + 4, 0x00, both, 2, 846, "LTO-6");
	assert_medium_desc(buf + 4 + 56, 0x01, both, 2, 846, "LTO-6W");
}

Test(ssc_worm, report_density_support_of_the_medium_needs_a_cartridge)
{
	struct scsi_cmd c;
	uint8_t buf[4 + 8 * 56];

	cr_assert_eq(ssc_remove(&dev, true), 0);
	cdb_exec(&dev, &c, NX, CDB(REPORT_DENSITY_SUPPORT, 0x03, 0, 0, 0, 0, 0, 0, 64, 0), NULL, 0,
		 buf, sizeof(buf));
	cdb_assert_sense(&c, SK_NOT_READY, ASC_MEDIUM_NOT_PRESENT);
	/* MEDIA = 0 needs none. */
	cr_assert_eq(medium_type_report(false, buf, sizeof(buf)), 4);
}

/* ---- the medium ---- */

TestSuite(tape_worm, .init = setup_worm, .fini = teardown);

Test(tape_worm, the_medium_refuses_an_overwrite_itself)
{
	struct tape *t;

	cr_assert_eq(ssc_remove(&dev, true), 0);
	cr_assert_eq(tape_open(tapedir, &t), 0);
	cr_assert(tape_get_info(t)->worm);
	cr_assert_eq(tape_locate(t, POS_MID), 0);
	cr_assert_eq(tape_write(t, "X", 1), -EPERM);
	cr_assert_eq(tape_write_filemarks(t, 1), -EPERM);
	cr_assert_eq(tape_erase(t), -EPERM);
	cr_assert_eq(tape_eod(t), POS_EOD);
	cr_assert_eq(tape_locate(t, POS_LAST), 0);
	cr_assert(tape_worm_allows(t, false));
	cr_assert_not(tape_worm_allows(t, true));
	cr_assert_eq(tape_close(t), 0);
}

Test(tape_worm, repair_keeps_worm_from_manifest_prev_and_from_the_hint)
{
	char path[PATH_MAX + 64];
	struct tape_repair rep;
	struct tape_info hint;
	struct tape *t;

	cr_assert_eq(ssc_remove(&dev, true), 0);
	/* From MANIFEST.prev, whatever the hint says. */
	snprintf(path, sizeof(path), "%s/MANIFEST", tapedir);
	cr_assert_eq(unlink(path), 0);
	memset(&hint, 0, sizeof(hint));
	snprintf(hint.barcode, sizeof(hint.barcode), "WRM001LW");
	hint.media = TAPE_LTO6;
	cr_assert_eq(tape_repair(tapedir, &hint, 0, &rep), 0);
	cr_assert(rep.repaired && rep.from_prev);
	cr_assert_eq(tape_open(tapedir, &t), 0);
	cr_assert(tape_get_info(t)->worm);
	cr_assert_eq(tape_close(t), 0);
	/* From the hint alone. */
	cr_assert_eq(unlink(path), 0);
	snprintf(path, sizeof(path), "%s/MANIFEST.prev", tapedir);
	cr_assert(unlink(path) == 0 || errno == ENOENT);
	hint.worm = true;
	cr_assert_eq(tape_repair(tapedir, &hint, 0, &rep), 0);
	cr_assert(rep.repaired && !rep.from_prev);
	cr_assert_eq(tape_open(tapedir, &t), 0);
	cr_assert(tape_get_info(t)->worm);
	cr_assert_eq(tape_eod(t), POS_EOD);
	cr_assert_eq(tape_close(t), 0);
}
