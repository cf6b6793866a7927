/*
 * test_cleaning.c - cleaning cartridges and TapeAlert, through the library
 * model (vtl/library.c), the changer (scsi/smc.c) and the drive
 * (scsi/ssc.c, scsi/ssc_clean.c) at CDB level, on a real catalog and real
 * media in a temporary directory.
 *
 * What is checked is what real libraries and LTO drives do (sources in
 * scsi/ssc_clean.c and docs/scsi.md): a CLN... cartridge is a cleaning
 * cartridge good for 50 uses, READ ELEMENT STATUS reports it as MEDIUM
 * TYPE 010b, loading it cleans the drive and counts one use, the drive
 * answers NOT READY, CLEANING CARTRIDGE INSTALLED (30h/03h) to every
 * medium command, TapeAlert reports cleaning media (0Bh) or expired
 * cleaning media (16h), and the flags clear when the 2Eh page is read.
 */
#include "config.h"

#include "tests/catalog/libtest.h"

enum { N1 = 0x1001 };
enum { DRV1 = 500, SLOT1 = 1000, SLOT2 = 1001 };

static struct tlib T;
static struct scsi_dev *ch, *drv;

static void setup(void)
{
	memset(&T, 0, sizeof(T));
	tlib_start(&T);
	ch = lib_changer(T.lib);
	drv = lib_drive(T.lib, 0);
	cdb_drain_ua(ch, N1);
	cdb_drain_ua(drv, N1);
}

static void teardown(void)
{
	tlib_stop(&T);
}

TestSuite(cleaning, .init = setup, .fini = teardown);

static void create_cleaning(const char *barcode, uint32_t uses)
{
	const char *b[] = {barcode};
	struct lib_create c = {.barcodes = b, .n = 1, .clean_max = uses};
	int rc = lib_tape_create(T.lib, &c, NULL, NULL, T.err, sizeof(T.err));
	cr_assert_eq(rc, 0, "create %s: %s", barcode, T.err);
	cdb_drain_ua(ch, N1);
}

static struct cat_tape tape(const char *barcode)
{
	struct cat_tape t;
	cr_assert_eq(lib_tape_get(T.lib, barcode, &t), 0);
	return t;
}

/* Value of TapeAlert flag n in a LOG SENSE 2Eh answer. */
static int ta_flag(struct scsi_dev *dev, unsigned n)
{
	struct tcmd t;
	uint8_t cdb[10] = {LOG_SENSE, 0, 0x40 | 0x2e};
	put_be16(cdb + 7, 512);
	cr_assert_eq(run(dev, &t, N1, cdb, 10, 512), 0);
	cr_assert_eq(t.buf[0], 0x2e);
	uint32_t end = 4u + get_be16(t.buf + 2);
	for (uint32_t off = 4; off + 5 <= end; off += 4u + t.buf[off + 3])
		if (get_be16(t.buf + off) == n)
			return t.buf[off + 4];
	return -1;
}

static uint16_t tur(struct scsi_dev *dev)
{
	struct tcmd t;
	uint8_t cdb[6] = {TEST_UNIT_READY};
	uint16_t asc = run(dev, &t, N1, cdb, 6, 0);
	if (asc)
		cr_assert_eq(cdb_key(&t.c), SK_NOT_READY);
	return asc;
}

/* The MEDIUM TYPE of the storage element at addr (READ ELEMENT STATUS
 * byte 9, SMC-3). */
static uint8_t medium_type(uint16_t addr, char barcode[33])
{
	struct tcmd t;
	cr_assert_eq(res(ch, &t, N1, 2, true, false, addr, 1, 1024), 0);
	struct res_desc d[1];
	cr_assert_eq(res_walk(t.buf, t.c.in_len, d, 1), 1);
	cr_assert(d[0].d[2] & 0x01, "full");
	desc_barcode(&d[0], barcode);
	return d[0].d[9] & 0x07;
}

Test(cleaning, a_cln_label_makes_a_cleaning_cartridge_good_for_50_uses)
{
	tlib_create(&T, "CLN001L1");
	tlib_create(&T, "ABC001L8");
	cdb_drain_ua(ch, N1);
	cr_assert_eq(tape("CLN001L1").clean_max, 50);
	cr_assert_eq(tape("CLN001L1").clean_uses, 0);
	cr_assert_eq(tape("ABC001L8").clean_max, 0);
	char bc[33];
	cr_assert_eq(medium_type(SLOT1, bc), 2, "cleaning medium");
	cr_assert_str_eq(bc, "CLN001L1");
	cr_assert_eq(medium_type(SLOT2, bc), 1, "data medium");
}

Test(cleaning, cleaning_and_worm_together_are_refused)
{
	const char *b[] = {"CLN002LY"};
	struct lib_create c = {.barcodes = b, .n = 1};
	cr_assert_eq(lib_tape_create(T.lib, &c, NULL, NULL, T.err, sizeof(T.err)), -EINVAL);
	cr_assert(strstr(T.err, "cleaning") != NULL, "%s", T.err);
}

Test(cleaning, loading_cleans_the_drive_counts_a_use_and_data_commands_fail)
{
	create_cleaning("CLNU01CU", 50);
	struct tcmd t;
	cr_assert_eq(move_medium(ch, &t, N1, SLOT1, DRV1), 0);
	cr_assert_eq(tape("CLNU01CU").clean_uses, 1);
	cdb_drain_ua(drv, N1);
	cr_assert_eq(tur(drv), ASC_CLEANING_CARTRIDGE_INSTALLED);
	uint8_t rd[6] = {READ_6, 0, 0, 0x01, 0};
	cr_assert_eq(run(drv, &t, N1, rd, 6, 256), ASC_CLEANING_CARTRIDGE_INSTALLED);
	cr_assert_eq(cdb_key(&t.c), SK_NOT_READY);
	uint8_t wr[6] = {WRITE_6, 0, 0, 0, 0, 0};
	cr_assert_eq(run(drv, &t, N1, wr, 6, 0), ASC_CLEANING_CARTRIDGE_INSTALLED);
	uint8_t load[6] = {LOAD_UNLOAD, 0, 0, 0, 0x01, 0};
	cr_assert_eq(run(drv, &t, N1, load, 6, 0), ASC_CLEANING_CARTRIDGE_INSTALLED);
	cr_assert_eq(unload_drive(drv, &t, N1), 0, "it is unloaded already");
	cr_assert_eq(ta_flag(drv, 0x0b), 1, "cleaning media");
	cr_assert_eq(ta_flag(drv, 0x16), 0, "not expired");
	cr_assert_eq(ta_flag(drv, 0x0b), 0, "cleared by the read");
	cr_assert_eq(run(drv, &t, N1, load, 6, 0), ASC_CLEANING_CARTRIDGE_INSTALLED);
	cr_assert_eq(ta_flag(drv, 0x0b), 1, "raised again by the refused LOAD");
	cr_assert_eq(run(drv, &t, N1, rd, 6, 256), ASC_CLEANING_CARTRIDGE_INSTALLED);
	cr_assert_eq(ta_flag(drv, 0x0b), 1, "and by a refused READ");
	/* The picker takes it back; the drive is empty and ready for data. */
	cr_assert_eq(move_medium(ch, &t, N1, DRV1, SLOT1), 0);
	cdb_drain_ua(drv, N1);
	cr_assert_eq(tur(drv), ASC_MEDIUM_NOT_PRESENT);
	cr_assert_eq(tape("CLNU01CU").clean_uses, 1, "unloading is not a use");
}

Test(cleaning, an_expired_cartridge_does_not_clean_and_raises_tapealert_16h)
{
	create_cleaning("CLN003L1", 2);
	struct tcmd t;
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(move_medium(ch, &t, N1, SLOT1, DRV1), 0, "load %d", i);
		cdb_drain_ua(drv, N1);
		cr_assert_eq(ta_flag(drv, 0x16), i == 2 ? 1 : 0, "load %d", i);
		cr_assert_eq(move_medium(ch, &t, N1, DRV1, SLOT1), 0);
	}
	struct cat_tape c = tape("CLN003L1");
	cr_assert_eq(c.clean_uses, 2, "the expired load is not counted");
	cr_assert_eq(c.clean_max, 2);
}

Test(cleaning, a_data_cartridge_after_cleaning_reads_and_writes)
{
	create_cleaning("CLN004L1", 50);
	tlib_create(&T, "DAT001L8");
	cdb_drain_ua(ch, N1);
	struct tcmd t;
	cr_assert_eq(move_medium(ch, &t, N1, SLOT1, DRV1), 0);
	cr_assert_eq(move_medium(ch, &t, N1, DRV1, SLOT1), 0);
	cr_assert_eq(move_medium(ch, &t, N1, SLOT2, DRV1), 0);
	cdb_drain_ua(drv, N1);
	cr_assert_eq(tur(drv), 0);
	uint8_t fm[6] = {WRITE_FILEMARKS_6, 0, 0, 0, 1, 0};
	cr_assert_eq(run(drv, &t, N1, fm, 6, 0), 0);
}

/* Regression (e2e: sg_logs showed every flag 0): a LOG SENSE whose
 * allocation length cuts the page, as sg_logs' first 4-byte request does,
 * does not clear the flags; the full read after it still sees them. */
Test(cleaning, a_cut_tapealert_read_does_not_clear_the_flags)
{
	create_cleaning("CLN006L1", 50);
	struct tcmd t;
	cr_assert_eq(move_medium(ch, &t, N1, SLOT1, DRV1), 0);
	cdb_drain_ua(drv, N1);
	uint8_t cdb[10] = {LOG_SENSE, 0, 0x40 | 0x2e};
	put_be16(cdb + 7, 4);
	cr_assert_eq(run(drv, &t, N1, cdb, 10, 4), 0);
	cr_assert_eq(get_be16(t.buf + 2), 64 * 5, "the header gives the length");
	cr_assert_eq(ta_flag(drv, 0x0b), 1, "not cleared by the 4-byte read");
	cr_assert_eq(ta_flag(drv, 0x0b), 0, "cleared by the full one");
	cr_assert_eq(move_medium(ch, &t, N1, DRV1, SLOT1), 0);
	cr_assert_eq(move_medium(ch, &t, N1, SLOT1, SLOT2), 0);
	cr_assert_eq(move_medium(ch, &t, N1, SLOT1, SLOT2), ASC_MEDIUM_SOURCE_ELEMENT_EMPTY);
	put_be16(cdb + 7, 4);
	cr_assert_eq(run(ch, &t, N1, cdb, 10, 4), 0);
	cr_assert_eq(ta_flag(ch, 0x19), 1, "the changer's page likewise");
}

/* SMC-3 TapeAlert: a move the library's state does not allow raises 19h,
 * Library Illegal Operation; reading the page clears it. */
Test(cleaning, changer_tapealert_reports_an_illegal_operation_once)
{
	struct tcmd t;
	cr_assert_eq(ta_flag(ch, 0x19), 0);
	cr_assert_eq(move_medium(ch, &t, N1, SLOT1, SLOT2), ASC_MEDIUM_SOURCE_ELEMENT_EMPTY);
	cr_assert_eq(ta_flag(ch, 0x19), 1);
	cr_assert_eq(ta_flag(ch, 0x19), 0);
	cr_assert_eq(ta_flag(ch, 0x20), 0, "flags 01h-20h are reported");
	cr_assert_eq(ta_flag(ch, 0x21), -1, "and no more");
}

/* MODE SELECT of the Informational Exceptions Control page with TEST set
 * and a TEST FLAG NUMBER (TapeAlert specification, as drive manuals
 * document it): n sets flag n, -n clears it, 7FFFh sets every supported
 * flag, 0 is refused; TEST reads back zero. */
static uint16_t iec_test(struct scsi_dev *dev, struct tcmd *t, int32_t number)
{
	uint8_t data[4 + 12] = {0};
	data[4] = 0x1c;
	data[5] = 10;
	data[6] = 0x08 | 0x04; /* DEXCPT, TEST */
	data[7] = 3;
	put_be32(data + 12, (uint32_t)number);
	uint8_t cdb[6] = {MODE_SELECT_6, 0x10, 0, 0, sizeof(data), 0};
	memset(t->buf, 0, sizeof(t->buf));
	cdb_fill(&t->c, N1, cdb, 6, data, sizeof(data), t->buf, 0);
	spc_dispatch(dev, &t->c);
	return cdb_asc(&t->c);
}

Test(cleaning, iec_test_flag_number_sets_and_clears_a_flag)
{
	struct tcmd t;
	cr_assert_eq(iec_test(drv, &t, 0x14), 0);
	cr_assert_eq(iec_test(drv, &t, 0x0b), 0);
	cr_assert_eq(iec_test(drv, &t, -0x0b), 0);
	cr_assert_eq(ta_flag(drv, 0x14), 1, "clean now, set by the test");
	cr_assert_eq(ta_flag(drv, 0x0b), 0, "set then cleared");
	cr_assert_eq(iec_test(drv, &t, 0), ASC_INVALID_FIELD_IN_PARAMETER_LIST);
	cr_assert_eq(iec_test(drv, &t, 65), ASC_INVALID_FIELD_IN_PARAMETER_LIST);
	cr_assert_eq(iec_test(drv, &t, 0x7fff), 0);
	cr_assert_eq(ta_flag(drv, 0x16), 1, "expired cleaning media is supported");
	cr_assert_eq(iec_test(ch, &t, 0x18), 0);
	cr_assert_eq(iec_test(ch, &t, 0x21), ASC_INVALID_FIELD_IN_PARAMETER_LIST);
	cr_assert_eq(ta_flag(ch, 0x18), 1, "library inventory");
	/* MODE SENSE: TEST reads back zero, DEXCPT kept. */
	uint8_t ms[6] = {MODE_SENSE_6, 0x08, 0x1c, 0, 255, 0};
	cr_assert_eq(run(drv, &t, N1, ms, 6, 255), 0);
	cr_assert_eq(t.buf[4], 0x1c);
	cr_assert_eq(t.buf[6] & 0x0c, 0x08);
}

/* The changer reports its own TapeAlert flags as informational exceptions
 * too (SPC-4 7.5.7): MRIE 4h, a refused move sets 19h, the next command
 * gets RECOVERED ERROR 5Dh/00h once. */
Test(cleaning, changer_reports_a_new_flag_by_mrie)
{
	struct tcmd t;
	uint8_t data[4 + 12] = {0, 0, 0, 0, 0x1c, 10, 0x00, 4};
	uint8_t sel[6] = {MODE_SELECT_6, 0x10, 0, 0, sizeof(data), 0};
	cdb_fill(&t.c, N1, sel, 6, data, sizeof(data), t.buf, 0);
	spc_dispatch(ch, &t.c);
	cdb_assert_good(&t.c);
	cr_assert_eq(move_medium(ch, &t, N1, SLOT1, SLOT2), ASC_MEDIUM_SOURCE_ELEMENT_EMPTY);
	uint8_t tur_cdb[6] = {TEST_UNIT_READY};
	cr_assert_eq(run(ch, &t, N1, tur_cdb, 6, 0), ASC_FAILURE_PREDICTION_THRESHOLD_EXCEEDED);
	cr_assert_eq(cdb_key(&t.c), SK_RECOVERED_ERROR);
	cr_assert_eq(run(ch, &t, N1, tur_cdb, 6, 0), 0, "once");
}

/* The cleaning state reaches the drive's page 12h (TapeAlert response,
 * SSC-4), flag 01h in the most significant bit, and reading 12h does
 * not clear it. */
Test(cleaning, tapealert_response_page_reports_without_clearing)
{
	create_cleaning("CLN005L1", 50);
	struct tcmd t;
	cr_assert_eq(move_medium(ch, &t, N1, SLOT1, DRV1), 0);
	cdb_drain_ua(drv, N1);
	uint8_t cdb[10] = {LOG_SENSE, 0, 0x40 | 0x12};
	put_be16(cdb + 7, 64);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(run(drv, &t, N1, cdb, 10, 64), 0);
		cr_assert_eq(t.buf[0], 0x12);
		cr_assert_eq(get_be16(t.buf + 2), 12);
		uint64_t f = get_be64(t.buf + 8);
		cr_assert(f & (1ull << (64 - 0x0b)), "cleaning media, read %d", i);
	}
	cr_assert_eq(ta_flag(drv, 0x0b), 1);
}

/* An LTO-7 library: its drives read LTO-5 read-only and refuse LTO-4. */
static void setup_lto7(void)
{
	memset(&T, 0, sizeof(T));
	tlib_mkdir(&T);
	T.cfg.drive_media = TAPE_LTO7;
	cr_assert_eq(tlib_open(&T), 0, "lib_open: %s", T.err);
	ch = lib_changer(T.lib);
	drv = lib_drive(T.lib, 0);
	cdb_drain_ua(ch, N1);
	cdb_drain_ua(drv, N1);
}

TestSuite(tapealert_lto7, .init = setup_lto7, .fini = teardown);

static void create_typed(const char *barcode, const char *type)
{
	const char *b[] = {barcode};
	struct lib_create c = {.barcodes = b, .n = 1, .media = type};
	int rc = lib_tape_create(T.lib, &c, NULL, NULL, T.err, sizeof(T.err));
	cr_assert_eq(rc, 0, "create %s: %s", barcode, T.err);
	cdb_drain_ua(ch, N1);
}

Test(tapealert_lto7, a_read_only_generation_raises_11h_and_an_unreadable_one_0ch)
{
	create_typed("OLD005L5", "LTO-5");
	create_typed("OLD008L8", "LTO-8");
	struct tcmd t;
	cr_assert_eq(move_medium(ch, &t, N1, SLOT1, DRV1), 0);
	cdb_drain_ua(drv, N1);
	cr_assert_eq(ta_flag(drv, 0x11), 1, "read only format");
	cr_assert_eq(ta_flag(drv, 0x0c), 0);
	cr_assert_eq(move_medium(ch, &t, N1, DRV1, SLOT1), 0);
	/* A newer generation than the drive: the load fails. */
	cr_assert_neq(move_medium(ch, &t, N1, SLOT2, DRV1), 0);
	cr_assert_eq(ta_flag(drv, 0x0c), 1, "unsupported format");
}

/* [library] clean_interval: the drive asks for cleaning (TapeAlert 15h
 * "Clean periodic", CLEANING REQUIRED in the sequential-access log page)
 * after that many data cartridge loads, and a cleaning cartridge loaded
 * by the library clears the request. */
static void setup_interval(void)
{
	memset(&T, 0, sizeof(T));
	tlib_mkdir(&T);
	T.cfg.clean_interval = 2;
	cr_assert_eq(tlib_open(&T), 0, "%s", T.err);
	ch = lib_changer(T.lib);
	drv = lib_drive(T.lib, 0);
	cdb_drain_ua(ch, N1);
	cdb_drain_ua(drv, N1);
}

TestSuite(clean_interval, .init = setup_interval, .fini = teardown);

/* CLEANING REQUIRED, sequential-access log page 0Ch parameter 0100h. */
static int cleaning_required(void)
{
	struct tcmd t;
	uint8_t cdb[10] = {LOG_SENSE, 0, 0x40 | 0x0c};
	put_be16(cdb + 7, 512);
	cr_assert_eq(run(drv, &t, N1, cdb, 10, 512), 0);
	uint32_t end = 4u + get_be16(t.buf + 2);
	for (uint32_t off = 4; off + 5 <= end; off += 4u + t.buf[off + 3])
		if (get_be16(t.buf + off) == 0x0100)
			return t.buf[off + 4];
	return -1;
}

static void load_and_return(uint16_t slot)
{
	struct tcmd t;
	cr_assert_eq(move_medium(ch, &t, N1, slot, DRV1), 0);
	cdb_drain_ua(drv, N1);
	cr_assert_eq(move_medium(ch, &t, N1, DRV1, slot), 0);
	cdb_drain_ua(drv, N1);
}

Test(clean_interval, drive_asks_after_the_interval_and_a_cleaning_clears_it)
{
	tlib_create(&T, "DAT001L8");
	cdb_drain_ua(ch, N1);
	load_and_return(SLOT1);
	cr_assert_eq(ta_flag(drv, 0x15), 0, "one load: not due");
	cr_assert_eq(cleaning_required(), 0);
	load_and_return(SLOT1);
	cr_assert_eq(cleaning_required(), 1, "two loads: due");
	cr_assert_eq(ta_flag(drv, 0x15), 1, "clean periodic");
	cr_assert_eq(ta_flag(drv, 0x14), 0, "not clean now: nothing is dirty");
	load_and_return(SLOT1);
	cr_assert_eq(ta_flag(drv, 0x15), 1, "raised again at each load until cleaned");

	create_cleaning("CLN001L1", 50);
	struct tcmd t;
	cr_assert_eq(move_medium(ch, &t, N1, SLOT2, DRV1), 0);
	cdb_drain_ua(drv, N1);
	cr_assert_eq(ta_flag(drv, 0x15), 0, "cleaned");
	cr_assert_eq(move_medium(ch, &t, N1, DRV1, SLOT2), 0);
	cdb_drain_ua(drv, N1);
	cr_assert_eq(cleaning_required(), 0);
	load_and_return(SLOT1);
	cr_assert_eq(ta_flag(drv, 0x15), 0, "the count starts again");
}
