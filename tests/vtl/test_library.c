/*
 * test_library.c - the media changer at CDB level (SMC-3), with the real
 * library model behind it: catalog on a temporary directory, real drives,
 * real media. Layout of the test library: transport 1, I/E 10-11,
 * drives 500-501 (LUN 1-2), storage 1000-1007.
 */
#include "config.h"

#include <fcntl.h>
#include <inttypes.h>

#include "tests/catalog/libtest.h"
#include "vtl/datadir.h"
#include "vtl/uploader.h"
#include "vtl/vtld_config.h"

enum { N1 = 0x1001, N2 = 0x1002 };
enum { PICKER = 1, IE1 = 10, IE2 = 11, DRV1 = 500, DRV2 = 501, SLOT1 = 1000, SLOT2 = 1001 };

static struct tlib T;
static struct scsi_dev *ch;

static void setup(void)
{
	memset(&T, 0, sizeof(T));
	tlib_start(&T);
	ch = lib_changer(T.lib);
	cdb_drain_ua(ch, N1);
	cdb_drain_ua(ch, N2);
}

static void teardown(void)
{
	tlib_stop(&T);
}

TestSuite(smc, .init = setup, .fini = teardown);

/* [library] auto_unload = no: the host must unload a drive first. */
static void setup_strict(void)
{
	memset(&T, 0, sizeof(T));
	tlib_mkdir(&T);
	T.cfg.auto_unload = false;
	cr_assert_eq(tlib_open(&T), 0, "lib_open: %s", T.err);
	ch = lib_changer(T.lib);
	cdb_drain_ua(ch, N1);
	cdb_drain_ua(ch, N2);
}

TestSuite(smc_strict, .init = setup_strict, .fini = teardown);

/* Create a tape as the operator would, then take the unit attention that
 * announces it so the next command runs. */
static void add_tape(const char *barcode)
{
	tlib_create(&T, barcode);
	cdb_drain_ua(ch, N1);
}

static void expect_at(const char *barcode, const char *loc);

/* A new tape is a catalog row until its first load or export makes its
 * medium (lib_make_medium): export it and take it back, for the tests that
 * look at or damage a medium (any generation, which a drive might not
 * load). */
static void first_load(const char *barcode)
{
	struct cat_tape t;
	cr_assert_eq(lib_tape_get(T.lib, barcode, &t), 0);
	cr_assert(t.unmade, "%s is new", barcode);
	cr_assert_eq(lib_tape_move(T.lib, barcode, CAT_IE, 1, T.err, sizeof(T.err)), 0,
		     "export %s: %s", barcode, T.err);
	cr_assert_eq(lib_tape_move(T.lib, barcode, CAT_STORAGE, t.ordinal, T.err, sizeof(T.err)), 0,
		     "import %s: %s", barcode, T.err);
	cr_assert_eq(lib_tape_get(T.lib, barcode, &t), 0);
	cr_assert_not(t.unmade, "%s has its medium", barcode);
	cdb_drain_ua(ch, N1);
}

/* ---- Identity ------------------------------------------------------------ */

Test(smc, inquiry_reports_an_stk_l700_changer)
{
	struct tcmd t;
	uint8_t cdb[6] = {INQUIRY, 0, 0, 0, 96, 0};
	cr_assert_eq(run(ch, &t, N1, cdb, 6, 96), 0);
	cr_assert_geq(t.c.in_len, 36);
	cr_assert_eq(t.buf[0] & 0x1f, SCSI_TYPE_CHANGER);
	cr_assert_arr_eq(t.buf + 8, "STK     ", 8);
	cr_assert_arr_eq(t.buf + 16, "L700            ", 16);
}

Test(smc, vpd_80_is_the_library_serial)
{
	struct tcmd t;
	uint8_t cdb[6] = {INQUIRY, 1, 0x80, 0, 255, 0};
	cr_assert_eq(run(ch, &t, N1, cdb, 6, 255), 0);
	struct cat_library info;
	lib_info(T.lib, &info);
	cr_assert_eq(t.buf[1], 0x80);
	size_t n = strlen(info.serial);
	cr_assert_geq(t.buf[3], n);
	cr_assert(memmem(t.buf + 4, t.buf[3], info.serial, n) != NULL);
}

Test(smc, vpd_83_has_a_designator)
{
	struct tcmd t;
	uint8_t cdb[6] = {INQUIRY, 1, 0x83, 0, 255, 0};
	cr_assert_eq(run(ch, &t, N1, cdb, 6, 255), 0);
	cr_assert_eq(t.buf[1], 0x83);
	cr_assert_gt(get_be16(t.buf + 2), 4);
}

Test(smc, test_unit_ready_is_good)
{
	struct tcmd t;
	uint8_t cdb[6] = {TEST_UNIT_READY};
	cr_assert_eq(run(ch, &t, N1, cdb, 6, 0), 0);
	cr_assert_eq(t.c.status, SAM_STAT_GOOD);
}

/* Regression: the changer's table once accepted NACA and LINK in the
 * control byte; without ACA support NACA=1 is INVALID FIELD IN CDB
 * (SAM-5 5.10), with the field pointer on it. */
Test(smc, naca_in_the_control_byte_is_invalid_field)
{
	struct tcmd t;
	uint8_t cdb[6] = {TEST_UNIT_READY, 0, 0, 0, 0, 0x04};
	run(ch, &t, N1, cdb, 6, 0);
	cr_assert_eq(cdb_key(&t.c), SK_ILLEGAL_REQUEST);
	cr_assert_eq(sense_asc(t.c.sense, t.c.sense_len), ASC_INVALID_FIELD_IN_CDB);
	cr_assert_eq(t.c.sense[15], 0x80 | 0x40 | 0x08 | 2, "SKSV, C/D, BPV, bit 2");
	cr_assert_eq(get_be16(t.c.sense + 16), 5, "byte 5, the control byte");
}

/* Regression (e2e: `mtx eepos 1 transfer` was refused): the vendor-specific
 * bits 7-6 of the control byte, where mtx puts EEPOS, are accepted. */
Test(smc, vendor_bits_of_the_control_byte_are_accepted)
{
	add_tape("ABC001L8");
	struct tcmd t;
	uint8_t cdb[12] = {MOVE_MEDIUM};
	put_be16(cdb + 4, SLOT1);
	put_be16(cdb + 6, SLOT2);
	cdb[11] = 0x40; /* mtx eepos 1 */
	cr_assert_eq(run(ch, &t, N1, cdb, 12, 0), 0);
	expect_at("ABC001L8", "slot:2");
}

Test(smc, first_command_of_a_nexus_sees_power_on)
{
	struct tcmd t;
	uint8_t cdb[6] = {TEST_UNIT_READY};
	run(ch, &t, 0x77, cdb, 6, 0);
	cr_assert_eq(cdb_key(&t.c), SK_UNIT_ATTENTION);
	cr_assert_eq(sense_asc(t.c.sense, t.c.sense_len) >> 8, 0x29);
}

Test(smc, request_sense_reports_no_sense)
{
	struct tcmd t;
	uint8_t cdb[6] = {REQUEST_SENSE, 0, 0, 0, 252, 0};
	cr_assert_eq(run(ch, &t, N1, cdb, 6, 252), 0);
	cr_assert_geq(t.c.in_len, 8);
	cr_assert_eq(sense_key(t.buf, t.c.in_len), SK_NO_SENSE);
}

/* ---- Mode pages (SMC-3 7.3) ------------------------------------------------ */

static const uint8_t *find_mode_page(const struct tcmd *t, uint8_t page)
{
	/* MODE SENSE(6): 4-byte header, block descriptors, then pages. */
	size_t len = (size_t)t->buf[0] + 1, off = 4 + t->buf[3];
	if (len > t->c.in_len)
		len = t->c.in_len;
	while (off + 2 <= len) {
		if ((t->buf[off] & 0x3f) == page)
			return t->buf + off;
		off += 2u + t->buf[off + 1];
	}
	return NULL;
}

Test(smc, mode_page_1d_reports_the_element_layout)
{
	struct tcmd t;
	uint8_t cdb[6] = {MODE_SENSE_6, 0x08, 0x1d, 0, 255, 0};
	cr_assert_eq(run(ch, &t, N1, cdb, 6, 255), 0);
	const uint8_t *p = find_mode_page(&t, 0x1d);
	cr_assert_not_null(p);
	cr_assert_eq(p[1], 0x12);
	cr_assert_eq(get_be16(p + 2), PICKER);
	cr_assert_eq(get_be16(p + 4), 1);
	cr_assert_eq(get_be16(p + 6), SLOT1);
	cr_assert_eq(get_be16(p + 8), 8);
	cr_assert_eq(get_be16(p + 10), IE1);
	cr_assert_eq(get_be16(p + 12), 2);
	cr_assert_eq(get_be16(p + 14), DRV1);
	cr_assert_eq(get_be16(p + 16), 2);
}

Test(smc, mode_page_1e_and_1f_are_reported)
{
	struct tcmd t;
	uint8_t cdb[6] = {MODE_SENSE_6, 0x08, 0x1e, 0, 255, 0};
	cr_assert_eq(run(ch, &t, N1, cdb, 6, 255), 0);
	cr_assert_not_null(find_mode_page(&t, 0x1e));
	cdb[2] = 0x1f;
	cr_assert_eq(run(ch, &t, N1, cdb, 6, 255), 0);
	const uint8_t *p = find_mode_page(&t, 0x1f);
	cr_assert_not_null(p);
	cr_assert_eq(p[2] & 0x0e, 0x0e, "stores in ST, I/E and DT");
	cr_assert_eq(p[5], 0x0e, "ST -> ST, I/E, DT");
	cr_assert_eq(p[13], 0x0e, "exchanges ST <-> ST, I/E, DT");
}

Test(smc, mode_page_3f_returns_all_changer_pages)
{
	struct tcmd t;
	uint8_t cdb[10] = {MODE_SENSE_10, 0x08, 0x3f, 0, 0, 0, 0, 0x10, 0, 0};
	cr_assert_eq(run(ch, &t, N1, cdb, 10, 4096), 0);
	size_t len = (size_t)get_be16(t.buf) + 2, off = 8 + get_be16(t.buf + 6);
	bool seen[64] = {false};
	while (off + 2 <= len && off + 2 <= t.c.in_len) {
		seen[t.buf[off] & 0x3f] = true;
		off += 2u + t.buf[off + 1];
	}
	cr_assert(seen[0x1d] && seen[0x1e] && seen[0x1f]);
}

/* ---- READ ELEMENT STATUS (SMC-3 6.10) ----------------------------------- */

Test(smc, res_all_types_reports_every_element_in_address_order)
{
	add_tape("ABC001L8");
	struct tcmd t;
	cr_assert_eq(res(ch, &t, N1, SMC_ET_ALL, true, false, 0, 0xffff, 65535), 0);
	cr_assert_eq(get_be16(t.buf + 2), 1 + 2 + 2 + 8, "elements available");
	cr_assert_eq(get_be16(t.buf), PICKER, "first element reported");
	struct res_desc d[32];
	size_t n = res_walk(t.buf, t.c.in_len, d, 32);
	cr_assert_eq(n, 13);
	cr_assert_eq(d[0].type, SMC_ET_TRANSPORT);
	cr_assert_eq(d[1].type, SMC_ET_IE);
	cr_assert_eq(d[3].type, SMC_ET_DRIVE);
	cr_assert_eq(d[5].type, SMC_ET_STORAGE);
	for (size_t i = 1; i < n; i++)
		cr_assert_gt(get_be16(d[i].d), get_be16(d[i - 1].d));
	/* The new tape is in the first storage slot, with its barcode. */
	char bc[33];
	cr_assert_eq(get_be16(d[5].d), SLOT1);
	cr_assert(d[5].d[2] & 0x01, "FULL");
	cr_assert(d[5].d[2] & 0x08, "ACCESS");
	cr_assert(d[5].pvoltag);
	desc_barcode(&d[5], bc);
	cr_assert_str_eq(bc, "ABC001L8");
	/* The volume tag is the barcode padded with spaces to 32 bytes. */
	cr_assert_eq(d[5].d[12 + 8], ' ');
	cr_assert_eq(d[5].d[12 + 31], ' ');
	/* An empty slot has an all-zero volume tag. */
	cr_assert_eq(d[6].d[2] & 0x01, 0);
	cr_assert_eq(d[6].d[12], 0);
}

Test(smc, res_each_type_alone)
{
	struct tcmd t;
	const struct {
		uint8_t type;
		uint16_t first, count;
	} want[] = {{SMC_ET_TRANSPORT, PICKER, 1},
		    {SMC_ET_STORAGE, SLOT1, 8},
		    {SMC_ET_IE, IE1, 2},
		    {SMC_ET_DRIVE, DRV1, 2}};
	for (size_t i = 0; i < 4; i++) {
		cr_assert_eq(res(ch, &t, N1, want[i].type, false, false, 0, 0xffff, 4096), 0);
		cr_assert_eq(get_be16(t.buf), want[i].first);
		cr_assert_eq(get_be16(t.buf + 2), want[i].count);
		struct res_desc d[16];
		size_t n = res_walk(t.buf, t.c.in_len, d, 16);
		cr_assert_eq(n, want[i].count);
		for (size_t k = 0; k < n; k++)
			cr_assert_eq(d[k].type, want[i].type);
		/* Without VOLTAG and DVCID: 12 bytes + 4-byte identifier header. */
		cr_assert_eq(d[0].len, 16);
	}
}

Test(smc, res_starting_address_and_count_select_elements)
{
	struct tcmd t;
	cr_assert_eq(res(ch, &t, N1, SMC_ET_STORAGE, false, false, SLOT1 + 3, 2, 4096), 0);
	cr_assert_eq(get_be16(t.buf), SLOT1 + 3);
	cr_assert_eq(get_be16(t.buf + 2), 2);
	struct res_desc d[4];
	cr_assert_eq(res_walk(t.buf, t.c.in_len, d, 4), 2);
	cr_assert_eq(get_be16(d[1].d), SLOT1 + 4);
}

Test(smc, res_start_between_elements_begins_at_the_next_one)
{
	struct tcmd t;
	cr_assert_eq(res(ch, &t, N1, SMC_ET_ALL, false, false, 12, 3, 4096), 0);
	cr_assert_eq(get_be16(t.buf), DRV1);
}

Test(smc, res_start_beyond_the_last_element_is_invalid_element_address)
{
	struct tcmd t;
	cr_assert_eq(res(ch, &t, N1, SMC_ET_DRIVE, false, false, DRV2 + 1, 5, 4096),
		     ASC_INVALID_ELEMENT_ADDRESS);
	cr_assert_eq(cdb_key(&t.c), SK_ILLEGAL_REQUEST);
}

Test(smc, res_allocation_length_truncates_but_reports_the_full_count)
{
	struct tcmd full, t;
	cr_assert_eq(res(ch, &full, N1, SMC_ET_ALL, true, true, 0, 0xffff, 65535), 0);
	uint32_t total = get_be24(full.buf + 5);
	cr_assert_eq(total + 8, full.c.in_len);
	cr_assert_eq(res(ch, &t, N1, SMC_ET_ALL, true, true, 0, 0xffff, 8), 0);
	cr_assert_eq(t.c.in_len, 8);
	cr_assert_eq(get_be24(t.buf + 5), total, "byte count of the whole report");
	cr_assert_eq(res(ch, &t, N1, SMC_ET_ALL, true, true, 0, 0xffff, 100), 0);
	cr_assert_eq(t.c.in_len, 100);
	cr_assert_arr_eq(t.buf, full.buf, 100);
}

Test(smc, res_dvcid_is_the_drive_unit_serial_and_lun)
{
	struct tcmd t, inq;
	cr_assert_eq(res(ch, &t, N1, SMC_ET_DRIVE, true, true, 0, 0xffff, 4096), 0);
	struct res_desc d[2];
	cr_assert_eq(res_walk(t.buf, t.c.in_len, d, 2), 2);
	cr_assert_eq(d[0].len, 12 + 36 + 4 + 32);
	for (size_t i = 0; i < 2; i++) {
		const uint8_t *id = d[i].d + 12 + 36;
		cr_assert_eq(id[0] & 0x0f, 2, "ASCII");
		cr_assert_eq(id[3], 32);
		/* The drive LUN's VPD 0x80 serial is the identifier. */
		uint8_t cdb[6] = {INQUIRY, 1, 0x80, 0, 255, 0};
		cr_assert_eq(run(lib_drive(T.lib, i), &inq, N1, cdb, 6, 255), 0);
		char serial[64] = "";
		memcpy(serial, inq.buf + 4, inq.buf[3] < 63 ? inq.buf[3] : 63);
		for (int k = (int)strlen(serial) - 1; k >= 0 && serial[k] == ' '; k--)
			serial[k] = 0;
		cr_assert_gt(strlen(serial), 0);
		cr_assert_arr_eq(id + 4, serial, strlen(serial));
		cr_assert_eq(d[i].d[6] & 0x10, 0x10, "LU VALID");
		cr_assert_eq(d[i].d[6] & 0x07, lib_drive_lun(T.lib, i));
	}
}

Test(smc, res_reserved_element_type_is_invalid_field)
{
	struct tcmd t;
	cr_assert_eq(res(ch, &t, N1, 5, false, false, 0, 10, 4096), ASC_INVALID_FIELD_IN_CDB);
}

/* ---- MOVE MEDIUM (SMC-3 6.9) and the drive coupling ---------------------- */

Test(smc, move_into_a_drive_loads_it_and_the_drive_reports_the_change)
{
	add_tape("ABC001L8");
	struct scsi_dev *drv = lib_drive(T.lib, 0);
	cdb_drain_ua(drv, N1);
	struct tcmd t;
	cr_assert_eq(move_medium(ch, &t, N1, SLOT1, DRV1), 0);
	cr_assert_eq(ssc_state(drv), SSC_LOADED);
	char bc[17];
	ssc_barcode(drv, bc);
	cr_assert_str_eq(bc, "ABC001L8");
	cr_assert(cdb_saw_ua(drv, N1, ASC_NOT_READY_TO_READY_CHANGE));
	/* The changer reports it in the drive, source the slot, ACCESS 0. */
	cr_assert_eq(res(ch, &t, N1, SMC_ET_DRIVE, true, false, DRV1, 1, 4096), 0);
	struct res_desc d[1];
	cr_assert_eq(res_walk(t.buf, t.c.in_len, d, 1), 1);
	cr_assert_eq(d[0].d[2] & 0x09, 0x01, "FULL, no ACCESS while loaded");
	cr_assert(d[0].d[9] & 0x80, "SVALID");
	cr_assert_eq(get_be16(d[0].d + 10), SLOT1);
	char vt[33];
	desc_barcode(&d[0], vt);
	cr_assert_str_eq(vt, "ABC001L8");
}

/*
 * Regression (e2e: Bacula's mtx-changer unload failed): with auto_unload,
 * the default, MOVE MEDIUM out of a loaded drive unloads it as the picker
 * of most libraries does: buffered data is flushed first, the drive then
 * reports NOT READY, MEDIUM NOT PRESENT.
 */
Test(smc, move_out_of_a_loaded_drive_unloads_it)
{
	add_tape("ABC001L8");
	struct scsi_dev *drv = lib_drive(T.lib, 0);
	struct tcmd t;
	cr_assert_eq(move_medium(ch, &t, N1, SLOT1, DRV1), 0);
	cdb_drain_ua(drv, N1);
	uint8_t rec[512];
	memset(rec, 0x5a, sizeof(rec));
	uint8_t wcdb[6] = {WRITE_6, 0, 0, 0x02, 0x00, 0};
	struct scsi_cmd *w = tcmd_init(&t, N1, wcdb, 6, 0);
	w->out = rec;
	w->out_len = sizeof(rec);
	spc_dispatch(drv, w);
	cr_assert_eq(w->status, SAM_STAT_GOOD);
	cr_assert_eq(move_medium(ch, &t, N1, DRV1, SLOT2), 0);
	expect_at("ABC001L8", "slot:2");
	uint8_t tur[6] = {TEST_UNIT_READY};
	run(drv, &t, N1, tur, 6, 0);
	cr_assert_eq(cdb_key(&t.c), SK_NOT_READY);
	cr_assert_eq(sense_asc(t.c.sense, t.c.sense_len), ASC_MEDIUM_NOT_PRESENT);
	/* The record written before the move is on the medium. */
	cr_assert_eq(move_medium(ch, &t, N1, SLOT2, DRV1), 0);
	cdb_drain_ua(drv, N1);
	uint8_t rcdb[6] = {READ_6, 0, 0, 0x02, 0x00, 0};
	cr_assert_eq(run(drv, &t, N1, rcdb, 6, sizeof(rec)), 0);
	cr_assert_eq(t.c.in_len, sizeof(rec));
	cr_assert_eq(memcmp(t.buf, rec, sizeof(rec)), 0);
}

Test(smc, move_out_of_a_drive_whose_removal_is_prevented_is_refused)
{
	add_tape("ABC001L8");
	struct scsi_dev *drv = lib_drive(T.lib, 0);
	struct tcmd t;
	cr_assert_eq(move_medium(ch, &t, N1, SLOT1, DRV1), 0);
	cdb_drain_ua(drv, N1);
	uint8_t prevent[6] = {PREVENT_ALLOW_MEDIUM_REMOVAL, 0, 0, 0, 1, 0};
	cr_assert_eq(run(drv, &t, N1, prevent, 6, 0), 0);
	cr_assert_eq(move_medium(ch, &t, N1, DRV1, SLOT2), ASC_MEDIUM_REMOVAL_PREVENTED);
	cr_assert_eq(cdb_key(&t.c), SK_ILLEGAL_REQUEST);
	expect_at("ABC001L8", "drive:1");
	uint8_t allow[6] = {PREVENT_ALLOW_MEDIUM_REMOVAL, 0, 0, 0, 0, 0};
	cr_assert_eq(run(drv, &t, N1, allow, 6, 0), 0);
	cr_assert_eq(move_medium(ch, &t, N1, DRV1, SLOT2), 0);
	expect_at("ABC001L8", "slot:2");
}

Test(smc_strict, move_out_of_a_loaded_drive_is_refused_until_the_host_unloads)
{
	add_tape("ABC001L8");
	struct scsi_dev *drv = lib_drive(T.lib, 0);
	struct tcmd t;
	cr_assert_eq(move_medium(ch, &t, N1, SLOT1, DRV1), 0);
	cr_assert_eq(move_medium(ch, &t, N1, DRV1, SLOT2), ASC_UNLOAD_TAPE_FAILURE);
	cr_assert_eq(cdb_key(&t.c), SK_ILLEGAL_REQUEST);
	struct cat_tape tp;
	cr_assert_eq(lib_tape_get(T.lib, "ABC001L8", &tp), 0);
	cr_assert_str_eq(tp.location, "drive:1", "nothing changed");

	cdb_drain_ua(drv, N1);
	cr_assert_eq(unload_drive(drv, &t, N1), 0);
	cr_assert_eq(ssc_state(drv), SSC_UNLOADED);
	cr_assert_eq(res(ch, &t, N1, SMC_ET_DRIVE, false, false, DRV1, 1, 4096), 0);
	cr_assert_eq(t.buf[16 + 2] & 0x09, 0x09, "FULL and ACCESS once unloaded");
	cr_assert_eq(move_medium(ch, &t, N1, DRV1, SLOT2), 0);
	cr_assert_eq(ssc_state(drv), SSC_EMPTY);
	cr_assert_eq(lib_tape_get(T.lib, "ABC001L8", &tp), 0);
	cr_assert_str_eq(tp.location, "slot:2");
	cr_assert(tp.has_source);
	cr_assert_eq(tp.source, DRV1);
}

Test(smc, move_drive_to_drive_after_unload)
{
	add_tape("ABC001L8");
	struct tcmd t;
	cr_assert_eq(move_medium(ch, &t, N1, SLOT1, DRV1), 0);
	cdb_drain_ua(lib_drive(T.lib, 0), N1);
	cr_assert_eq(unload_drive(lib_drive(T.lib, 0), &t, N1), 0);
	cr_assert_eq(move_medium(ch, &t, N1, DRV1, DRV2), 0);
	cr_assert_eq(ssc_state(lib_drive(T.lib, 0)), SSC_EMPTY);
	cr_assert_eq(ssc_state(lib_drive(T.lib, 1)), SSC_LOADED);
}

Test(smc, move_from_an_empty_element_is_source_empty)
{
	struct tcmd t;
	cr_assert_eq(move_medium(ch, &t, N1, SLOT1, SLOT2), ASC_MEDIUM_SOURCE_ELEMENT_EMPTY);
	cr_assert_eq(cdb_key(&t.c), SK_ILLEGAL_REQUEST);
	cr_assert_eq(move_medium(ch, &t, N1, DRV1, SLOT2), ASC_MEDIUM_SOURCE_ELEMENT_EMPTY);
}

Test(smc, move_to_a_full_element_is_destination_full)
{
	add_tape("ABC001L8");
	add_tape("ABC002L8");
	struct tcmd t;
	cr_assert_eq(move_medium(ch, &t, N1, SLOT1, SLOT2), ASC_MEDIUM_DESTINATION_ELEMENT_FULL);
	cr_assert_eq(cdb_key(&t.c), SK_ILLEGAL_REQUEST);
	cr_assert_eq(move_medium(ch, &t, N1, SLOT1, DRV1), 0);
	cr_assert_eq(move_medium(ch, &t, N1, SLOT2, DRV1), ASC_MEDIUM_DESTINATION_ELEMENT_FULL);
}

Test(smc, move_with_an_unassigned_address_is_invalid_element_address)
{
	add_tape("ABC001L8");
	struct tcmd t;
	/* Source, destination and transport, each with the field pointer. */
	cr_assert_eq(move_medium(ch, &t, N1, 2000, SLOT2), ASC_INVALID_ELEMENT_ADDRESS);
	uint8_t cdb[12] = {MOVE_MEDIUM};
	put_be16(cdb + 4, SLOT1);
	put_be16(cdb + 6, 999);
	cr_assert_eq(run(ch, &t, N1, cdb, 12, 0), ASC_INVALID_ELEMENT_ADDRESS);
	cr_assert_eq(get_be16(t.c.sense + 16), 6, "field pointer on the destination");
	put_be16(cdb + 6, SLOT2);
	put_be16(cdb + 2, SLOT1);
	cr_assert_eq(run(ch, &t, N1, cdb, 12, 0), ASC_INVALID_ELEMENT_ADDRESS);
	cr_assert_eq(get_be16(t.c.sense + 16), 2, "field pointer on the transport");
	/* The transport itself is not a place to move to. */
	cr_assert_eq(move_medium(ch, &t, N1, SLOT1, PICKER), ASC_INVALID_ELEMENT_ADDRESS);
	/* Transport 0 (the default) and the picker's own address work. */
	put_be16(cdb + 2, PICKER);
	cr_assert_eq(run(ch, &t, N1, cdb, 12, 0), 0);
}

Test(smc, move_with_invert_is_invalid_field)
{
	add_tape("ABC001L8");
	struct tcmd t;
	uint8_t cdb[12] = {MOVE_MEDIUM};
	put_be16(cdb + 4, SLOT1);
	put_be16(cdb + 6, SLOT2);
	cdb[10] = 1;
	cr_assert_eq(run(ch, &t, N1, cdb, 12, 0), ASC_INVALID_FIELD_IN_CDB);
	cr_assert_eq(get_be16(t.c.sense + 16), 10);
}

Test(smc, move_to_an_ie_element_exports_toward_the_shelf)
{
	add_tape("ABC001L8");
	struct tcmd t;
	cr_assert_eq(move_medium(ch, &t, N1, SLOT1, IE1), 0);
	struct cat_tape tp;
	cr_assert_eq(lib_tape_get(T.lib, "ABC001L8", &tp), 0);
	cr_assert_eq(tp.state, CAT_IN_TRANSIT_TO_SHELF);
	cr_assert_str_eq(tp.location, "ie:1");
	cr_assert_eq(res(ch, &t, N1, SMC_ET_IE, true, false, 0, 0xffff, 4096), 0);
	struct res_desc d[2];
	cr_assert_eq(res_walk(t.buf, t.c.in_len, d, 2), 2);
	cr_assert_eq(d[0].d[2] & 0x0b, 0x09, "FULL, ACCESS, IMPEXP 0: placed by the picker");
	cr_assert(d[0].d[9] & 0x80);
	cr_assert_eq(get_be16(d[0].d + 10), SLOT1);
	/* Importing it back cancels the export. */
	cr_assert_eq(move_medium(ch, &t, N1, IE1, SLOT2), 0);
	cr_assert_eq(lib_tape_get(T.lib, "ABC001L8", &tp), 0);
	cr_assert_eq(tp.state, CAT_AVAILABLE);
}

/* The shelf's worker vtld runs: the uploader, over a local-directory
 * object store in the test's directory. */
static struct upl *start_shelf(void)
{
	struct store_config c;
	struct store *st;
	struct upl *u;
	store_config_defaults(&c);
	c.idle_secs = 1;
	cr_assert_eq(store_config_open(&c, T.cfg.data_dir, &st, T.err, sizeof(T.err)), 0, "%s",
		     T.err);
	cr_assert_eq(upl_start(T.lib, st, &c, NULL, &u, T.err, sizeof(T.err)), 0, "%s", T.err);
	return u;
}

/* Wait (at most 30 s) for the worker to bring the tape to state s. */
static void wait_state(const char *barcode, enum cat_state s)
{
	struct cat_tape tp;
	for (int i = 0; i < 3000; i++) {
		cr_assert_eq(lib_tape_get(T.lib, barcode, &tp), 0);
		if (tp.state == s)
			return;
		usleep(10000);
	}
	cr_assert_fail("tape %s is %s, not %s", barcode, cat_state_name(tp.state),
		       cat_state_name(s));
}

Test(smc, retrieved_tape_appears_in_an_ie_element_placed_by_the_operator)
{
	add_tape("ABC001L8");
	struct upl *u = start_shelf();
	cr_assert_eq(lib_tape_archive(T.lib, "ABC001L8", T.err, sizeof(T.err)), 0, "%s", T.err);
	cr_assert(cdb_saw_ua(ch, N1, ASC_NOT_READY_TO_READY_CHANGE));
	wait_state("ABC001L8", CAT_ARCHIVED);
	cr_assert_eq(lib_tape_retrieve(T.lib, "ABC001L8", T.err, sizeof(T.err)), 0, "%s", T.err);
	wait_state("ABC001L8", CAT_RETRIEVED);
	upl_stop(u);
	/* Operator action at the port: every initiator hears of it. */
	cr_assert(cdb_saw_ua(ch, N1, ASC_IMPORT_OR_EXPORT_ELEMENT_ACCESSED));
	cr_assert(cdb_saw_ua(ch, N2, ASC_IMPORT_OR_EXPORT_ELEMENT_ACCESSED));
	struct tcmd t;
	cr_assert_eq(res(ch, &t, N1, SMC_ET_IE, true, false, 0, 0xffff, 4096), 0);
	struct res_desc d[2];
	cr_assert_eq(res_walk(t.buf, t.c.in_len, d, 2), 2);
	cr_assert_eq(d[0].d[2] & 0x03, 0x03, "FULL and IMPEXP");
	char bc[33];
	desc_barcode(&d[0], bc);
	cr_assert_str_eq(bc, "ABC001L8");
	/* Read-only: loaded into a drive, it is write protected. */
	cr_assert_eq(move_medium(ch, &t, N1, IE1, DRV1), 0);
	struct scsi_dev *drv = lib_drive(T.lib, 0);
	cdb_drain_ua(drv, N1);
	uint8_t ms[6] = {MODE_SENSE_6, 0, 0x3f, 0, 255, 0};
	cr_assert_eq(run(drv, &t, N1, ms, 6, 255), 0);
	cr_assert(t.buf[2] & 0x80, "WP in the mode parameter header");
}

/* A tape goes to its pool's storage class, and takes its pool's lock. */
Test(smc, archive_puts_a_tape_in_its_pools_class_and_lock)
{
	struct cat_pool p = {.name = "COLD",
			     .storage_class = "DEEP_ARCHIVE",
			     .lock = CAT_LOCK_GOVERNANCE,
			     .retention_days = 3};
	cr_assert_eq(lib_pool_create(T.lib, &p, T.err, sizeof(T.err)), 0, "%s", T.err);
	const char *b[] = {"ABC001L8"};
	struct lib_create req = {.barcodes = b, .n = 1, .pool = "COLD"};
	cr_assert_eq(lib_tape_create(T.lib, &req, NULL, NULL, T.err, sizeof(T.err)), 0, "%s",
		     T.err);
	struct upl *u = start_shelf();
	cr_assert_eq(lib_tape_archive(T.lib, "ABC001L8", T.err, sizeof(T.err)), 0, "%s", T.err);
	wait_state("ABC001L8", CAT_ARCHIVED);
	upl_stop(u);

	struct cat_tape t;
	cr_assert_eq(lib_tape_get(T.lib, "ABC001L8", &t), 0);
	cr_assert_eq(t.lock, CAT_LOCK_GOVERNANCE);
	int64_t left = t.retain_until - t.changed;
	cr_assert(left >= 3 * 86400000ll - 5000 && left <= 3 * 86400000ll, "%lld", (long long)left);
	/* Its segments, in the store, are in the pool's class. */
	struct store_config c;
	struct store *st;
	store_config_defaults(&c);
	cr_assert_eq(store_config_open(&c, T.cfg.data_dir, &st, T.err, sizeof(T.err)), 0);
	char key[STORE_KEY_MAX];
	struct store_object_info info;
	struct store_err se;
	size_t found = 0;
	for (uint64_t seg = 0; seg < 4; seg++) {
		snprintf(key, sizeof(key), "tapes/ABC001L8/seg/%016" PRIx64, seg);
		if (store_head(st, key, &info, &se) == 0) {
			cr_assert_str_eq(info.storage_class, "DEEP_ARCHIVE", "%s", key);
			found++;
		}
	}
	store_close(st);
	cr_assert_gt(found, 0, "no segment of the tape in the store");
	/* Locked: the operator cannot delete it. */
	cr_assert_eq(lib_tape_delete(T.lib, "ABC001L8", true, false, T.err, sizeof(T.err)), -EPERM);
	cr_assert(strstr(T.err, "GOVERNANCE"), "%s", T.err);
}

Test(smc, archive_without_a_shelf_worker_waits_in_transit)
{
	add_tape("ABC001L8");
	cr_assert_eq(lib_tape_archive(T.lib, "ABC001L8", T.err, sizeof(T.err)), 0, "%s", T.err);
	struct cat_tape tp;
	cr_assert_eq(lib_tape_get(T.lib, "ABC001L8", &tp), 0);
	cr_assert_eq(tp.state, CAT_IN_TRANSIT_TO_SHELF);
	cr_assert_not(tp.in_library, "it left the library for the shelf");
	cr_assert_str_eq(tp.location, "shelf");
}

Test(smc, operator_changes_raise_unit_attentions_on_the_changer)
{
	tlib_create(&T, "ABC001L8");
	cr_assert(cdb_saw_ua(ch, N1, ASC_NOT_READY_TO_READY_CHANGE));
	cr_assert_eq(lib_tape_move(T.lib, "ABC001L8", CAT_IE, 2, T.err, sizeof(T.err)), 0, "%s",
		     T.err);
	cr_assert(cdb_saw_ua(ch, N2, ASC_IMPORT_OR_EXPORT_ELEMENT_ACCESSED));
}

/* ---- Import/export port, PREVENT ALLOW, the rest ------------------------ */

static uint16_t open_close(uint64_t nexus, struct tcmd *t, uint16_t addr, uint8_t action)
{
	uint8_t cdb[6] = {OPEN_CLOSE_IMPORT_EXPORT_ELEMENT, 0, 0, 0, action, 0};
	put_be16(cdb + 2, addr);
	return run(ch, t, nexus, cdb, 6, 0);
}

Test(smc, open_ie_is_refused_while_removal_is_prevented)
{
	struct tcmd t;
	uint8_t prevent[6] = {PREVENT_ALLOW_MEDIUM_REMOVAL, 0, 0, 0, 1, 0};
	cr_assert_eq(run(ch, &t, N1, prevent, 6, 0), 0);
	cr_assert_eq(open_close(N1, &t, IE1, 0), ASC_MEDIUM_REMOVAL_PREVENTED);
	cr_assert_eq(cdb_key(&t.c), SK_ILLEGAL_REQUEST);
	prevent[4] = 0;
	cr_assert_eq(run(ch, &t, N1, prevent, 6, 0), 0);
	cr_assert_eq(open_close(N1, &t, IE1, 0), 0);
}

Test(smc, open_ie_blocks_the_picker_and_close_raises_ie_accessed)
{
	add_tape("ABC001L8");
	struct tcmd t;
	cr_assert_eq(open_close(N1, &t, IE1, 0), 0);
	cr_assert_eq(res(ch, &t, N1, SMC_ET_IE, false, false, 0, 0xffff, 4096), 0);
	cr_assert_eq(t.buf[16 + 2] & 0x08, 0, "no ACCESS while open");
	cr_assert_eq(move_medium(ch, &t, N1, SLOT1, IE1), ASC_MEDIUM_MAGAZINE_NOT_ACCESSIBLE);
	cr_assert_eq(open_close(N1, &t, IE1, 1), 0);
	cr_assert(cdb_saw_ua(ch, N2, ASC_IMPORT_OR_EXPORT_ELEMENT_ACCESSED));
	cr_assert_eq(move_medium(ch, &t, N1, SLOT1, IE1), 0);
}

Test(smc, open_close_on_a_non_ie_element_is_invalid_element_address)
{
	struct tcmd t;
	cr_assert_eq(open_close(N1, &t, SLOT1, 0), ASC_INVALID_ELEMENT_ADDRESS);
	cr_assert_eq(open_close(N1, &t, IE1, 5), ASC_INVALID_FIELD_IN_CDB);
}

Test(smc, archive_from_ie_is_refused_while_an_initiator_prevents_removal)
{
	add_tape("ABC001L8");
	struct tcmd t;
	cr_assert_eq(move_medium(ch, &t, N1, SLOT1, IE1), 0);
	uint8_t prevent[6] = {PREVENT_ALLOW_MEDIUM_REMOVAL, 0, 0, 0, 1, 0};
	cr_assert_eq(run(ch, &t, N1, prevent, 6, 0), 0);
	cr_assert_eq(lib_tape_archive(T.lib, "ABC001L8", T.err, sizeof(T.err)), -EBUSY);
	cr_assert(strstr(T.err, "prevents medium removal"));
}

Test(smc, initialize_element_status_and_with_range)
{
	struct tcmd t;
	uint8_t ies[6] = {INITIALIZE_ELEMENT_STATUS};
	cr_assert_eq(run(ch, &t, N1, ies, 6, 0), 0);
	uint8_t iesr[10] = {INITIALIZE_ELEMENT_STATUS_WITH_RANGE, 0x01};
	put_be16(iesr + 2, SLOT1);
	put_be16(iesr + 6, 4);
	cr_assert_eq(run(ch, &t, N1, iesr, 10, 0), 0);
	put_be16(iesr + 2, 3000);
	cr_assert_eq(run(ch, &t, N1, iesr, 10, 0), ASC_INVALID_ELEMENT_ADDRESS);
}

/* With and without a barcode scan, as changer drivers ask for both: FAST
 * (byte 1 bit 1: no volume tag scan, SMC-3) of INITIALIZE ELEMENT STATUS
 * WITH RANGE under either opcode, alone and with RANGE; and INITIALIZE
 * ELEMENT STATUS with the vendor-specific bits of its control byte (SAM-5
 * 5.2), where some libraries take a "no barcode" flag: all GOOD. */
Test(smc, initialize_element_status_with_and_without_barcode_scan)
{
	struct tcmd t;
	uint8_t ies[6] = {INITIALIZE_ELEMENT_STATUS, 0, 0, 0, 0, 0x80};
	cr_assert_eq(run(ch, &t, N1, ies, 6, 0), 0);
	const uint8_t ops[] = {INITIALIZE_ELEMENT_STATUS_WITH_RANGE,
			       INITIALIZE_ELEMENT_STATUS_WITH_RANGE_STD};
	for (size_t i = 0; i < sizeof(ops); i++) {
		for (uint8_t b1 = 0; b1 <= 0x03; b1++) {
			uint8_t iesr[10] = {ops[i], b1};
			put_be16(iesr + 2, SLOT1);
			put_be16(iesr + 6, 8);
			cr_assert_eq(run(ch, &t, N1, iesr, 10, 0), 0, "opcode %02x byte 1 %02x",
				     ops[i], b1);
		}
	}
}

Test(smc, position_to_element)
{
	struct tcmd t;
	uint8_t cdb[10] = {POSITION_TO_ELEMENT};
	put_be16(cdb + 4, DRV2);
	cr_assert_eq(run(ch, &t, N1, cdb, 10, 0), 0);
	put_be16(cdb + 4, 4242);
	cr_assert_eq(run(ch, &t, N1, cdb, 10, 0), ASC_INVALID_ELEMENT_ADDRESS);
}

static uint16_t exchange(struct tcmd *t, uint16_t src, uint16_t d1, uint16_t d2)
{
	uint8_t cdb[12] = {EXCHANGE_MEDIUM};
	put_be16(cdb + 4, src);
	put_be16(cdb + 6, d1);
	put_be16(cdb + 8, d2);
	return run(ch, t, N1, cdb, 12, 0);
}

static void expect_at(const char *barcode, const char *loc)
{
	struct cat_tape tp;
	cr_assert_eq(lib_tape_get(T.lib, barcode, &tp), 0);
	cr_assert_str_eq(tp.location, loc, "%s", barcode);
}

Test(smc, exchange_medium_swaps_two_cartridges)
{
	add_tape("ABC001L8");
	add_tape("ABC002L8");
	struct tcmd t;
	cr_assert_eq(exchange(&t, SLOT1, SLOT2, SLOT1), 0);
	expect_at("ABC001L8", "slot:2");
	expect_at("ABC002L8", "slot:1");
	/* The picker is empty again. */
	cr_assert_eq(res(ch, &t, N1, SMC_ET_TRANSPORT, false, false, 0, 1, 4096), 0);
	cr_assert_eq(t.buf[16 + 2] & 0x01, 0);
}

Test(smc_strict, exchange_medium_with_a_second_destination_and_a_drive)
{
	add_tape("ABC001L8");
	add_tape("ABC002L8");
	struct tcmd t;
	cr_assert_eq(move_medium(ch, &t, N1, SLOT1, DRV1), 0);
	/* The cartridge in the drive must be unloaded first. */
	cr_assert_eq(exchange(&t, SLOT2, DRV1, SLOT1 + 5), ASC_UNLOAD_TAPE_FAILURE);
	expect_at("ABC001L8", "drive:1");
	expect_at("ABC002L8", "slot:2");
	cdb_drain_ua(lib_drive(T.lib, 0), N1);
	cr_assert_eq(unload_drive(lib_drive(T.lib, 0), &t, N1), 0);
	cr_assert_eq(exchange(&t, SLOT2, DRV1, SLOT1 + 5), 0);
	expect_at("ABC001L8", "slot:6");
	expect_at("ABC002L8", "drive:1");
	char bc[17];
	ssc_barcode(lib_drive(T.lib, 0), bc);
	cr_assert_str_eq(bc, "ABC002L8");
}

Test(smc, exchange_medium_checks_sources_and_destination)
{
	add_tape("ABC001L8");
	add_tape("ABC002L8");
	add_tape("ABC003L8");
	struct tcmd t;
	cr_assert_eq(exchange(&t, SLOT1, SLOT1 + 5, SLOT1), ASC_MEDIUM_SOURCE_ELEMENT_EMPTY);
	cr_assert_eq(exchange(&t, SLOT1, SLOT2, SLOT1 + 2), ASC_MEDIUM_DESTINATION_ELEMENT_FULL);
	cr_assert_eq(exchange(&t, SLOT1, SLOT2, 4000), ASC_INVALID_ELEMENT_ADDRESS);
	expect_at("ABC001L8", "slot:1");
	expect_at("ABC002L8", "slot:2");
}

Test(smc, initialize_element_status_with_range_smc3_opcode)
{
	struct tcmd t;
	uint8_t cdb[10] = {INITIALIZE_ELEMENT_STATUS_WITH_RANGE_STD, 0x01};
	put_be16(cdb + 2, DRV1);
	put_be16(cdb + 6, 2);
	cr_assert_eq(run(ch, &t, N1, cdb, 10, 0), 0);
}

Test(smc, rsoc_lists_the_changer_commands)
{
	struct tcmd t;
	uint8_t cdb[12] = {MAINTENANCE_IN, MI_REPORT_SUPPORTED_OPERATION_CODES, 0x01, MOVE_MEDIUM};
	put_be32(cdb + 6, 512);
	cr_assert_eq(run(ch, &t, N1, cdb, 12, 512), 0);
	cr_assert_eq(t.buf[1] & 0x07, 0x03, "supported");
	cdb[3] = READ_ELEMENT_STATUS;
	cr_assert_eq(run(ch, &t, N1, cdb, 12, 512), 0);
	cr_assert_eq(t.buf[1] & 0x07, 0x03, "supported");
}

/* ---- Data on the medium: accounting and delete ------------------------- */

Test(smc, a_tape_holding_data_is_deleted_only_with_force)
{
	add_tape("ABC001L8");
	struct tcmd t;
	cr_assert_eq(move_medium(ch, &t, N1, SLOT1, DRV1), 0);
	struct scsi_dev *drv = lib_drive(T.lib, 0);
	cdb_drain_ua(drv, N1);
	/* WRITE(6), variable block mode, 4 KiB. */
	static uint8_t block[4096];
	/* Incompressible, so the stored size is at least the block's (the
	 * drive compresses by default, as LTO drives do). */
	uint32_t x = 2463534242u;
	for (size_t i = 0; i < sizeof(block); i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		block[i] = (uint8_t)x;
	}
	uint8_t w[6] = {WRITE_6, 0, 0, 0x10, 0x00, 0};
	struct scsi_cmd *c = tcmd_init(&t, N1, w, 6, 0);
	c->out = block;
	c->out_len = sizeof(block);
	spc_dispatch(drv, c);
	cr_assert_eq(c->status, SAM_STAT_GOOD, "WRITE: %04x", sense_asc(c->sense, c->sense_len));
	cr_assert_eq(unload_drive(drv, &t, N1), 0);
	cr_assert_eq(move_medium(ch, &t, N1, DRV1, SLOT1), 0);
	struct cat_tape tp;
	cr_assert_eq(lib_tape_get(T.lib, "ABC001L8", &tp), 0);
	cr_assert_geq(tp.used, sizeof(block), "used bytes recorded at unload: %llu",
		      (unsigned long long)tp.used);

	cr_assert_eq(lib_tape_delete(T.lib, "ABC001L8", false, false, T.err, sizeof(T.err)),
		     -ENOTEMPTY);
	cr_assert(strstr(T.err, "--force"), "%s", T.err);
	cr_assert_eq(lib_tape_delete(T.lib, "ABC001L8", true, false, T.err, sizeof(T.err)), 0, "%s",
		     T.err);
	cr_assert_eq(lib_tape_get(T.lib, "ABC001L8", &tp), 0);
	cr_assert_eq(tp.state, CAT_DELETED);
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/tapes/ABC001L8", T.cfg.data_dir);
	cr_assert_neq(access(path, F_OK), 0, "medium removed");
	cr_assert(cdb_saw_ua(ch, N1, ASC_NOT_READY_TO_READY_CHANGE));
	cr_assert_eq(res(ch, &t, N1, SMC_ET_STORAGE, false, false, SLOT1, 1, 4096), 0);
	cr_assert_eq(t.buf[16 + 2] & 0x01, 0, "slot 1 empty");
}

Test(smc, a_restart_loads_the_cartridges_the_catalog_puts_in_drives)
{
	add_tape("ABC001L8");
	struct tcmd t;
	cr_assert_eq(move_medium(ch, &t, N1, SLOT1, DRV2), 0);
	lib_close(T.lib);
	T.lib = NULL;
	cr_assert_eq(tlib_open(&T), 0, "%s", T.err);
	ch = lib_changer(T.lib);
	char bc[17];
	ssc_barcode(lib_drive(T.lib, 1), bc);
	cr_assert_str_eq(bc, "ABC001L8");
	cr_assert_eq(ssc_state(lib_drive(T.lib, 1)), SSC_LOADED);
}

/* A restart removes the partial downloads of evicted segments a crash
 * left (in the one open of each tape's directory that reads its manifest,
 * by the check of the media that runs after start) and leaves the tape's
 * own files alone. */
Test(smc, a_restart_removes_the_partial_downloads_a_crash_left)
{
	add_tape("ABC001L8");
	add_tape("ABC002L8");
	first_load("ABC002L8");
	char dir[PATH_MAX], part[PATH_MAX + 64], seg[PATH_MAX + 64], man[PATH_MAX + 64];
	lib_tape_dir(T.lib, "ABC002L8", dir, sizeof(dir));
	tape_file_path(dir, TAPE_SEG_FETCH, 7, part, sizeof(part));
	tape_file_path(dir, TAPE_SEG_DATA, 1, seg, sizeof(seg));
	tape_file_path(dir, TAPE_FILE_MANIFEST, 0, man, sizeof(man));
	lib_close(T.lib);
	T.lib = NULL;
	FILE *f = fopen(part, "w");
	cr_assert_not_null(f, "%s", part);
	fputs("half a download", f);
	fclose(f);
	cr_assert_eq(tlib_open(&T), 0, "%s", T.err);
	ch = lib_changer(T.lib);
	cdb_drain_ua(ch, N1);
	for (int i = 0; i < 3000 && !lib_media_checked(T.lib); i++)
		usleep(10000);
	cr_assert(lib_media_checked(T.lib), "the check of the media ends");
	cr_assert_neq(access(part, F_OK), 0, "%s removed at start", part);
	cr_assert_eq(access(seg, F_OK), 0, "%s kept", seg);
	cr_assert_eq(access(man, F_OK), 0, "%s kept", man);
	struct tcmd t;
	cr_assert_eq(move_medium(ch, &t, N1, SLOT2, DRV1), 0, "the tape loads");
}

static void reopen_and_wait_for_the_media_check(void)
{
	lib_close(T.lib);
	T.lib = NULL;
	cr_assert_eq(tlib_open(&T), 0, "%s", T.err);
	ch = lib_changer(T.lib);
	cdb_drain_ua(ch, N1);
	for (int i = 0; i < 3000 && !lib_media_checked(T.lib); i++)
		usleep(10000);
	cr_assert(lib_media_checked(T.lib), "the check of the media ends");
}

/* The check of the media runs after start, not before it: a tape in a
 * slot whose manifest is damaged is repaired by it (the old file kept),
 * one whose medium is gone becomes IRRECOVERABLE, and the tape in a
 * drive is checked before it loads. */
Test(smc, the_check_after_start_repairs_and_marks_lost_media)
{
	add_tape("ABC001L8");
	add_tape("ABC002L8");
	add_tape("ABC003L8");
	first_load("ABC001L8");
	first_load("ABC002L8");
	struct tcmd t;
	cr_assert_eq(move_medium(ch, &t, N1, SLOT1 + 2, DRV1), 0);
	char dir[PATH_MAX], man[PATH_MAX + 64], damaged[PATH_MAX + 64];
	lib_tape_dir(T.lib, "ABC001L8", dir, sizeof(dir));
	tape_file_path(dir, TAPE_FILE_MANIFEST, 0, man, sizeof(man));
	tape_file_path(dir, TAPE_FILE_MANIFEST_DAMAGED, 0, damaged, sizeof(damaged));
	lib_close(T.lib);
	T.lib = NULL;
	int fd = open(man, O_RDWR);
	cr_assert_geq(fd, 0, "%s", man);
	uint8_t b;
	cr_assert_eq(pread(fd, &b, 1, 20), 1);
	b ^= 0x01;
	cr_assert_eq(pwrite(fd, &b, 1, 20), 1);
	close(fd);
	char gone[PATH_MAX], away[PATH_MAX + 16];
	cr_assert_eq(tlib_open(&T), 0, "%s", T.err);
	lib_tape_dir(T.lib, "ABC002L8", gone, sizeof(gone));
	snprintf(away, sizeof(away), "%s.away", gone);
	lib_close(T.lib);
	T.lib = NULL;
	cr_assert_eq(rename(gone, away), 0);

	reopen_and_wait_for_the_media_check();
	cr_assert_eq(access(damaged, F_OK), 0, "the damaged manifest is kept aside");
	struct cat_tape tp;
	cr_assert_eq(lib_tape_get(T.lib, "ABC001L8", &tp), 0);
	cr_assert_eq(tp.state, CAT_AVAILABLE);
	cr_assert_eq(lib_tape_get(T.lib, "ABC002L8", &tp), 0);
	cr_assert_eq(tp.state, CAT_IRRECOVERABLE);
	char bc[17];
	ssc_barcode(lib_drive(T.lib, 0), bc);
	cr_assert_str_eq(bc, "ABC003L8");
	cr_assert_eq(move_medium(ch, &t, N1, SLOT1, DRV2), 0, "the repaired tape loads");

	/* Put back: the next check gives it its state again. */
	cr_assert_eq(rename(away, gone), 0);
	reopen_and_wait_for_the_media_check();
	cr_assert_eq(lib_tape_get(T.lib, "ABC002L8", &tp), 0);
	cr_assert_eq(tp.state, CAT_AVAILABLE);
}

/* The recovery at start finds the tapes it has work for by state and by
 * the picker's element, not by a list of every tape: a creation that did
 * not finish is finished, a cartridge left in the picker goes to a slot,
 * and the tapes around them are left as they are. */
Test(smc, a_restart_finishes_a_creation_and_empties_the_picker)
{
	add_tape("REC001L8");
	add_tape("REC002L8");
	lib_close(T.lib);
	T.lib = NULL;
	char path[PATH_MAX];
	struct cat *c;
	cr_assert_eq(datadir_catalog(T.cfg.data_dir, path, sizeof(path)), 0);
	cr_assert_eq(cat_open(path, &c), 0);
	struct cat_tape nt;
	memset(&nt, 0, sizeof(nt));
	snprintf(nt.barcode, sizeof(nt.barcode), "REC003L8");
	snprintf(nt.media, sizeof(nt.media), "LTO-8");
	nt.capacity = 1000000;
	cr_assert_eq(cat_tape_create(c, &nt, 1, "a crash before the format", NULL), 0);
	struct cat_change mv = {.from = CAT_AVAILABLE,
				.to = CAT_AVAILABLE,
				.dest = PICKER,
				.write_protect = -1,
				.cause = "a crash in an EXCHANGE MEDIUM"};
	cr_assert_eq(cat_tape_change(c, "REC001L8", &mv), 0);
	cat_close(c);

	cr_assert_eq(tlib_open(&T), 0, "%s", T.err);
	ch = lib_changer(T.lib);
	cdb_drain_ua(ch, N1);
	struct cat_tape tp;
	cr_assert_eq(lib_tape_get(T.lib, "REC003L8", &tp), 0);
	cr_assert_eq(tp.state, CAT_AVAILABLE, "the creation is finished");
	char dir[PATH_MAX];
	lib_tape_dir(T.lib, "REC003L8", dir, sizeof(dir));
	cr_assert_eq(tape_probe(dir), 1, "its medium is formatted");
	cr_assert_eq(lib_tape_get(T.lib, "REC001L8", &tp), 0);
	cr_assert(tp.in_library && tp.kind == CAT_STORAGE, "back from the picker to a slot");
	cr_assert_eq(lib_tape_get(T.lib, "REC002L8", &tp), 0);
	cr_assert_eq(tp.state, CAT_AVAILABLE);
	cr_assert_eq(tp.element, SLOT2, "untouched");
}

/* ---- Media made at the first load ------------------------------------------ */

/* What a crash can leave of a first load's format, made by hand. */
enum format_left { LEFT_DIR, LEFT_SEGMENT_AND_TMP, LEFT_WHOLE_BLANK };

static void leave_format(const char *barcode, enum format_left what)
{
	char dir[PATH_MAX], path[PATH_MAX + 64];
	lib_tape_dir(T.lib, barcode, dir, sizeof(dir));
	if (what == LEFT_WHOLE_BLANK) {
		/* The format finished; the catalog did not record it. */
		struct tape_info info;
		memset(&info, 0, sizeof(info));
		snprintf(info.barcode, sizeof(info.barcode), "%s", barcode);
		snprintf(info.serial, sizeof(info.serial), "%s", barcode);
		info.media = TAPE_LTO8;
		info.capacity = tape_media_capacity(TAPE_LTO8);
		cr_assert_eq(tape_format(dir, &info), 0);
		return;
	}
	cr_assert_eq(mkdir(dir, 0700), 0, "%s", dir);
	if (what == LEFT_DIR)
		return;
	tape_file_path(dir, TAPE_SEG_DATA, 1, path, sizeof(path));
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "%s", path);
	fclose(f);
	/* The manifest's temporary file (scsi/tape.c writes MANIFEST.tmp and
	 * renames it). */
	snprintf(path, sizeof(path), "%s/MANIFEST.tmp", dir);
	f = fopen(path, "w");
	cr_assert_not_null(f, "%s", path);
	fputs("half a manifest", f);
	fclose(f);
}

static bool unmade(const char *barcode)
{
	struct cat_tape t;
	cr_assert_eq(lib_tape_get(T.lib, barcode, &t), 0);
	return t.unmade;
}

/* A new tape is a catalog row: no directory until its first load, none
 * after a restart and the check of the media (which must not take the
 * missing medium for a lost one), and its first load makes a blank that
 * is written and read like any. */
Test(smc, a_new_tape_gets_its_medium_at_its_first_load)
{
	add_tape("LAZY01L8");
	char dir[PATH_MAX];
	lib_tape_dir(T.lib, "LAZY01L8", dir, sizeof(dir));
	cr_assert_neq(access(dir, F_OK), 0, "no medium at create: %s", dir);
	cr_assert(unmade("LAZY01L8"));
	reopen_and_wait_for_the_media_check();
	struct cat_tape t;
	cr_assert_eq(lib_tape_get(T.lib, "LAZY01L8", &t), 0);
	cr_assert_eq(t.state, CAT_AVAILABLE, "not taken for lost");
	cr_assert_neq(access(dir, F_OK), 0, "still none after a restart");
	struct tcmd c;
	cr_assert_eq(move_medium(ch, &c, N1, SLOT1, DRV1), 0, "the first load");
	cr_assert_eq(tape_probe(dir), 1, "its medium is made");
	cr_assert_not(unmade("LAZY01L8"));
	struct scsi_dev *drv = lib_drive(T.lib, 0);
	cdb_drain_ua(drv, N1);
	uint8_t rec[512];
	memset(rec, 0x3c, sizeof(rec));
	uint8_t wcdb[6] = {WRITE_6, 0, 0, 0x02, 0x00, 0};
	struct scsi_cmd *w = tcmd_init(&c, N1, wcdb, 6, 0);
	w->out = rec;
	w->out_len = sizeof(rec);
	spc_dispatch(drv, w);
	cr_assert_eq(w->status, SAM_STAT_GOOD);
	cr_assert_eq(move_medium(ch, &c, N1, DRV1, SLOT1), 0);
	reopen_and_wait_for_the_media_check();
	drv = lib_drive(T.lib, 0);
	cr_assert_eq(move_medium(ch, &c, N1, SLOT1, DRV1), 0, "loads again");
	cdb_drain_ua(drv, N1);
	uint8_t rcdb[6] = {READ_6, 0, 0, 0x02, 0x00, 0};
	cr_assert_eq(run(drv, &c, N1, rcdb, 6, sizeof(rec)), 0);
	cr_assert_eq(memcmp(c.buf, rec, sizeof(rec)), 0, "the record written after the first load");
}

/* A crash inside the first load's format, or between it and the catalog's
 * record of it, leaves a directory with no data: the next load takes it
 * (the finished blank) or formats again (the leftovers), after a restart. */
Test(smc, a_first_load_cut_by_a_crash_is_done_again)
{
	const char *bc[] = {"LEFT01L8", "LEFT02L8", "LEFT03L8"};
	const enum format_left what[] = {LEFT_DIR, LEFT_SEGMENT_AND_TMP, LEFT_WHOLE_BLANK};
	for (int i = 0; i < 3; i++)
		add_tape(bc[i]);
	for (int i = 0; i < 3; i++)
		leave_format(bc[i], what[i]);
	reopen_and_wait_for_the_media_check();
	for (int i = 0; i < 3; i++) {
		struct tcmd c;
		struct cat_tape t;
		cr_assert_eq(lib_tape_get(T.lib, bc[i], &t), 0);
		cr_assert_eq(t.state, CAT_AVAILABLE, "%s", bc[i]);
		cr_assert_eq(move_medium(ch, &c, N1, (uint16_t)(SLOT1 + i), DRV1), 0, "%s loads",
			     bc[i]);
		cr_assert_not(unmade(bc[i]));
		char got[17];
		ssc_barcode(lib_drive(T.lib, 0), got);
		cr_assert_str_eq(got, bc[i]);
		cr_assert_eq(move_medium(ch, &c, N1, DRV1, (uint16_t)(SLOT1 + i)), 0);
	}
}

/* A cartridge with data where a blank tape's medium is to be made is
 * somebody's: the load fails with a clear sense, nothing is formatted
 * over, and the tape waits, not made. */
Test(smc, a_first_load_never_formats_over_a_cartridge)
{
	add_tape("BUSY01L8");
	char dir[PATH_MAX], seg[PATH_MAX + 64];
	lib_tape_dir(T.lib, "BUSY01L8", dir, sizeof(dir));
	cr_assert_eq(mkdir(dir, 0700), 0);
	tape_file_path(dir, TAPE_SEG_DATA, 1, seg, sizeof(seg));
	FILE *f = fopen(seg, "w");
	cr_assert_not_null(f);
	fputs("somebody's records", f);
	fclose(f);
	struct tcmd c;
	cr_assert_eq(move_medium(ch, &c, N1, SLOT1, DRV1), ASC_MEDIUM_LOAD_OR_EJECT_FAILED);
	cr_assert_eq(cdb_key(&c.c), SK_HARDWARE_ERROR);
	cr_assert(unmade("BUSY01L8"), "not recorded as made");
	expect_at("BUSY01L8", "slot:1");
	cr_assert_eq(access(seg, F_OK), 0, "the data is kept");
}

/* A never-loaded tape is deleted like any: no medium to remove. */
Test(smc, a_tape_never_loaded_is_deleted)
{
	add_tape("GONE01L8");
	cr_assert_eq(lib_tape_delete(T.lib, "GONE01L8", false, false, T.err, sizeof(T.err)), 0,
		     "%s", T.err);
	struct cat_tape t;
	cr_assert_eq(lib_tape_get(T.lib, "GONE01L8", &t), 0);
	cr_assert_eq(t.state, CAT_DELETED);
	reopen_and_wait_for_the_media_check();
	cr_assert_eq(lib_tape_get(T.lib, "GONE01L8", &t), 0);
	cr_assert_eq(t.state, CAT_DELETED);
}

/* ---- WORM tapes ----------------------------------------------------------- */

TestSuite(lib_worm, .init = setup, .fini = teardown);

static void create_worm(const char *barcode, bool worm)
{
	const char *b[] = {barcode};
	struct lib_create c = {.barcodes = b, .n = 1, .worm = worm};
	cr_assert_eq(lib_tape_create(T.lib, &c, NULL, NULL, T.err, sizeof(T.err)), 0,
		     "create %s: %s", barcode, T.err);
	cdb_drain_ua(ch, N1);
}

/* What the tape's medium says, opened as a drive would. */
static struct tape_info medium_info(const char *barcode)
{
	char dir[PATH_MAX];
	struct tape *tp;
	first_load(barcode);
	lib_tape_dir(T.lib, barcode, dir, sizeof(dir));
	cr_assert_eq(tape_open(dir, &tp), 0, "open %s", dir);
	struct tape_info info = *tape_get_info(tp);
	cr_assert_eq(tape_close(tp), 0);
	return info;
}

Test(lib_worm, a_tape_created_worm_is_worm_in_the_catalog_and_on_the_medium)
{
	struct cat_tape t;

	create_worm("WORM01", true);
	cr_assert_eq(lib_tape_get(T.lib, "WORM01", &t), 0);
	cr_assert(t.worm);
	struct tape_info info = medium_info("WORM01");
	cr_assert(info.worm);
	cr_assert_eq(info.media, TAPE_LTO8);
}

Test(lib_worm, a_plain_tape_is_rewritable)
{
	struct cat_tape t;

	create_worm("ABC001L8", false);
	cr_assert_eq(lib_tape_get(T.lib, "ABC001L8", &t), 0);
	cr_assert_not(t.worm);
	cr_assert_not(medium_info("ABC001L8").worm);
}

Test(lib_worm, worm_labels_lv_to_lz_make_worm_tapes_of_their_generation)
{
	static const struct {
		const char *barcode;
		enum tape_media media;
	} labels[] = {{"WRM005LV", TAPE_LTO5},
		      {"WRM006LW", TAPE_LTO6},
		      {"WRM007LX", TAPE_LTO7},
		      {"WRM008LY", TAPE_LTO8},
		      {"WRM009LZ", TAPE_LTO9}};

	for (size_t i = 0; i < sizeof(labels) / sizeof(labels[0]); i++) {
		create_worm(labels[i].barcode, false);
		struct tape_info info = medium_info(labels[i].barcode);
		cr_assert(info.worm, "%s", labels[i].barcode);
		cr_assert_eq(info.media, labels[i].media, "%s", labels[i].barcode);
	}
}

Test(lib_worm, worm_on_a_rewritable_label_is_refused_and_nothing_is_created)
{
	const char *b[] = {"ABC002L7"};
	struct lib_create c = {.barcodes = b, .n = 1, .worm = true};
	struct cat_tape t;

	cr_assert_eq(lib_tape_create(T.lib, &c, NULL, NULL, T.err, sizeof(T.err)), -EINVAL);
	cr_assert(strstr(T.err, "a WORM one ends in LX"), "%s", T.err);
	cr_assert_eq(lib_tape_get(T.lib, "ABC002L7", &t), -ENOENT);
}

Test(lib_worm, a_worm_tape_loaded_by_the_picker_refuses_an_overwrite)
{
	struct scsi_dev *drv = lib_drive(T.lib, 0);
	struct scsi_cmd c;

	create_worm("WORM02", true);
	cr_assert_eq(lib_tape_move(T.lib, "WORM02", CAT_DRIVE, 1, T.err, sizeof(T.err)), 0, "%s",
		     T.err);
	cdb_drain_ua(drv, N1);
	cdb_exec(drv, &c, N1, CDB(WRITE_6, 0, 0, 0, 1, 0), "A", 1, NULL, 0);
	cdb_assert_good(&c);
	cdb_exec(drv, &c, N1, CDB(REWIND, 0, 0, 0, 0, 0), NULL, 0, NULL, 0);
	cdb_assert_good(&c);
	cdb_exec(drv, &c, N1, CDB(WRITE_6, 0, 0, 0, 1, 0), "B", 1, NULL, 0);
	cdb_assert_sense(&c, SK_DATA_PROTECT, ASC_WORM_MEDIUM_OVERWRITE_ATTEMPTED);
}

/* ---- Changer personalities (scsi/personality.h) ---------------------------- */

static char said[4096];

static void keep_log(void *arg, int level, const char *msg)
{
	(void)arg;
	(void)level;
	size_t n = strlen(said);
	snprintf(said + n, sizeof(said) - n, "%s\n", msg);
}

/* Open (or reopen) the test library as personality name. */
static void open_as(const char *name)
{
	if (T.lib)
		lib_close(T.lib);
	T.lib = NULL;
	const struct smc_personality *p = smc_personality_find(name);
	cr_assert_not_null(p, "%s", name);
	lib_config_set_changer(&T.cfg, p);
	T.cfg.log = keep_log;
	said[0] = 0;
	cr_assert_eq(tlib_open(&T), 0, "lib_open as %s: %s", name, T.err);
	ch = lib_changer(T.lib);
	cdb_drain_ua(ch, N1);
}

static void setup_empty(void)
{
	memset(&T, 0, sizeof(T));
	tlib_mkdir(&T);
	ch = NULL;
}

TestSuite(personality, .init = setup_empty, .fini = teardown);

static void inquiry_strings(const char *vendor, const char *product, const char *revision)
{
	struct tcmd t;
	uint8_t cdb[6] = {INQUIRY, 0, 0, 0, 255, 0};
	cr_assert_eq(run(ch, &t, N1, cdb, 6, 255), 0);
	char v[9], p[17], r[5];
	snprintf(v, sizeof(v), "%-8s", vendor);
	snprintf(p, sizeof(p), "%-16s", product);
	snprintf(r, sizeof(r), "%-4s", revision);
	cr_assert_arr_eq(t.buf + 8, v, 8, "vendor %.8s", t.buf + 8);
	cr_assert_arr_eq(t.buf + 16, p, 16, "product %.16s", t.buf + 16);
	cr_assert_arr_eq(t.buf + 32, r, 4, "revision %.4s", t.buf + 32);
}

/* SMC_PERSONALITY_NAMES, which error messages show, names every row. */
Test(personality, every_name_in_the_message_is_a_personality)
{
	char names[] = SMC_PERSONALITY_NAMES;
	size_t n = 0;
	for (char *s = strtok(names, ", "); s; s = strtok(NULL, ", ")) {
		if (strcmp(s, "or") == 0)
			continue;
		cr_assert_not_null(smc_personality_find(s), "%s", s);
		n++;
	}
	cr_assert_eq(n, 3);
	cr_assert_null(smc_personality_find("STK-L180"));
	cr_assert_str_eq(smc_personality_default()->name, "STK-L700");
}

/*
 * IBM's standard INQUIRY of a 3584 logical library (IBM TS4500 SCSI
 * reference, "Inquiry Standard Data: Valid LUN", table 1), byte for byte:
 * 56 bytes, ANSI version 3, response data format 2 without HISUP, BarC set,
 * IBM / 03584L32 / the revision, plant code, 12-character serial, "00".
 */
Test(personality, ibm_03584l32_standard_inquiry_is_ibms_layout)
{
	open_as("IBM-03584L32-0402");
	struct tcmd t;
	uint8_t cdb[6] = {INQUIRY, 0, 0, 0, 255, 0};
	cr_assert_eq(run(ch, &t, N1, cdb, 6, 255), 0);
	struct cat_library info;
	lib_info(T.lib, &info);
	char serial[13];
	size_t sl = strlen(info.serial);
	cr_assert_leq(sl, 12);
	memset(serial, '0', 12);
	memcpy(serial + 12 - sl, info.serial, sl);
	uint8_t want[56] = {0x08, 0x80, 0x03, 0x02, 0x33, 0x00, 0x20, 0x02};
	memcpy(want + 8, "IBM     03584L32        0402", 28);
	memcpy(want + 36, "00", 2);
	memcpy(want + 38, serial, 12);
	memcpy(want + 50, "00", 2);
	cr_assert_eq(t.c.in_len, 56);
	for (size_t i = 0; i < sizeof(want); i++)
		cr_assert_eq(t.buf[i], want[i], "byte %zu: %02x, IBM's layout has %02x", i,
			     t.buf[i], want[i]);
}

/* A new IBM library gets IBM's data transfer element addresses (0101h on)
 * and the I/E and storage bases chosen to follow them (0301h, 0401h). */
Test(personality, ibm_03584l32_new_library_takes_its_element_addresses)
{
	open_as("IBM-03584L32-0402");
	struct tcmd t;
	uint8_t cdb[6] = {MODE_SENSE_6, 0x08, 0x1d, 0, 255, 0};
	cr_assert_eq(run(ch, &t, N1, cdb, 6, 255), 0);
	const uint8_t *p = find_mode_page(&t, 0x1d);
	cr_assert_not_null(p);
	cr_assert_eq(get_be16(p + 2), 0x0001);
	cr_assert_eq(get_be16(p + 6), 0x0401);
	cr_assert_eq(get_be16(p + 10), 0x0301);
	cr_assert_eq(get_be16(p + 14), 0x0101);
	cr_assert_eq(get_be16(p + 16), 2);
}

Test(personality, aws_gateway_vtl_and_stk_l700_strings)
{
	open_as("AWS-Gateway-VTL");
	inquiry_strings("AWS", "Gateway-VTL", "0100");
	open_as("stk-l700"); /* names are case-insensitive */
	inquiry_strings("STK", "L700", "0107");
}

/* [library] vendor/product/revision still override the personality's. */
Test(personality, vendor_product_revision_keys_override_the_personality)
{
	snprintf(T.cfg.vendor, sizeof(T.cfg.vendor), "SONY");
	snprintf(T.cfg.product, sizeof(T.cfg.product), "TSL-A500C");
	open_as("IBM-03584L32-0402");
	inquiry_strings("SONY", "TSL-A500C", "0402");
}

/* AWS: barcodes of at most 8 characters for Spectrum Protect's changer. */
Test(personality, ibm_03584l32_refuses_barcodes_longer_than_8)
{
	open_as("IBM-03584L32-0402");
	const char *b[] = {"ABC0001L8"};
	struct lib_create c = {.barcodes = b, .n = 1};
	cr_assert_eq(lib_tape_create(T.lib, &c, NULL, NULL, T.err, sizeof(T.err)), -EINVAL);
	cr_assert(strstr(T.err, "'ABC0001L8' has 9 characters") != NULL, "%s", T.err);
	cr_assert(strstr(T.err, "IBM-03584L32-0402") != NULL, "%s", T.err);
	cr_assert(strstr(T.err, "at most 8") != NULL, "%s", T.err);
	struct lib_create g = {.prefix = "ABCDEFG", .count = 1};
	cr_assert_eq(lib_tape_create(T.lib, &g, NULL, NULL, T.err, sizeof(T.err)), -EINVAL);
	cr_assert(strstr(T.err, "at most 8") != NULL, "%s", T.err);
	tlib_create(&T, "ABC001L8");
	struct lib_create ok = {.prefix = "XY", .count = 2};
	cr_assert_eq(lib_tape_create(T.lib, &ok, NULL, NULL, T.err, sizeof(T.err)), 0, "%s", T.err);
}

/*
 * UpdateVTLDeviceType: a library restarted as another personality keeps
 * every tape where it was (catalog, slots, a drive's cartridge), and its
 * element addresses, which the catalog holds; only the identity changes.
 */
Test(personality, switching_keeps_every_tape_and_element)
{
	open_as("STK-L700");
	add_tape("ABC001L8");
	add_tape("ABC002L8");
	add_tape("LONGER001L8");
	struct tcmd t;
	cr_assert_eq(move_medium(ch, &t, N1, SLOT1 + 1, DRV2), 0);

	open_as("IBM-03584L32-0402");
	cr_assert(strstr(said, "LONGER001L8") != NULL, "the long barcode is named: %s", said);
	cr_assert(strstr(said, "at most 8") != NULL || strstr(said, "longer than 8") != NULL, "%s",
		  said);
	struct tcmd i;
	uint8_t inq[6] = {INQUIRY, 0, 0, 0, 255, 0};
	cr_assert_eq(run(ch, &i, N1, inq, 6, 255), 0);
	cr_assert_arr_eq(i.buf + 16, "03584L32", 8);
	expect_at("ABC001L8", "slot:1");
	expect_at("ABC002L8", "drive:2");
	expect_at("LONGER001L8", "slot:3");
	char bc[17];
	ssc_barcode(lib_drive(T.lib, 1), bc);
	cr_assert_str_eq(bc, "ABC002L8");
	/* READ ELEMENT STATUS at the addresses the library was created with. */
	cr_assert_eq(res(ch, &t, N1, SMC_ET_STORAGE, true, false, SLOT1, 1, 4096), 0);
	cr_assert_eq(get_be16(t.buf + 16), SLOT1);
	cr_assert_arr_eq(t.buf + 16 + 12, "ABC001L8", 8);

	open_as("AWS-Gateway-VTL");
	inquiry_strings("AWS", "Gateway-VTL", "0100");
	expect_at("ABC002L8", "drive:2");
	open_as("STK-L700");
	inquiry_strings("STK", "L700", "0107");
	expect_at("ABC001L8", "slot:1");
	expect_at("LONGER001L8", "slot:3");
}

/* [library] changer in vtld.conf: the personality's addresses fill the
 * keys the operator did not set, whatever the order; an unknown name is
 * refused with the ones that exist. */
Test(personality, config_key_changer)
{
	char path[PATH_MAX], err[512];
	snprintf(path, sizeof(path), "%s/vtld.conf", T.dir);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("[library]\nie_address = 20\nchanger = ibm-03584l32-0402\n", f);
	fclose(f);
	struct vtl_config c;
	vtl_config_defaults(&c);
	cr_assert_str_eq(c.lib.changer->name, "STK-L700");
	cr_assert_eq(vtl_config_load(path, &c, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(c.lib.changer->name, "IBM-03584L32-0402");
	cr_assert_eq(c.lib.ie_base, 20, "the operator's key stays");
	cr_assert_eq(c.lib.drive_base, 0x0101);
	cr_assert_eq(c.lib.storage_base, 0x0401);

	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("[library]\nchanger = STK-L180\n", f);
	fclose(f);
	vtl_config_defaults(&c);
	cr_assert_eq(vtl_config_load(path, &c, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, ":2: [library] changer = STK-L180: use STK-L700, AWS-Gateway-VTL or "
			      "IBM-03584L32-0402") != NULL,
		  "%s", err);
}

/* ---- SEND VOLUME TAG / REQUEST VOLUME ELEMENT ADDRESS (SMC-3) ------------- */

/* SEND VOLUME TAG with a translate action and a template. */
static uint16_t send_volume_tag(uint64_t nexus, uint8_t type, uint8_t action, const char *tmpl,
				uint16_t min_seq, uint16_t max_seq)
{
	uint8_t cdb[12] = {SEND_VOLUME_TAG, type, 0, 0, 0, action, 0, 0, 0, 40, 0, 0};
	uint8_t p[40];
	memset(p, 0, sizeof(p));
	memset(p, ' ', 32);
	memcpy(p, tmpl, strlen(tmpl));
	put_be16(p + 34, min_seq);
	put_be16(p + 38, max_seq);
	struct scsi_cmd c;
	cdb_exec(ch, &c, nexus, cdb, 12, p, sizeof(p), NULL, 0);
	return cdb_asc(&c);
}

static uint16_t rvea(struct tcmd *t, uint64_t nexus, uint16_t start, uint16_t count, uint32_t alloc)
{
	uint8_t cdb[12] = {REQUEST_VOLUME_ELEMENT_ADDRESS, 0x10};
	put_be16(cdb + 2, start);
	put_be16(cdb + 4, count);
	put_be24(cdb + 7, alloc);
	return run(ch, t, nexus, cdb, 12, alloc);
}

Test(smc, rvea_without_send_volume_tag_is_command_sequence_error)
{
	struct tcmd t;
	rvea(&t, N1, 0, 100, 4096);
	cdb_assert_sense(&t.c, SK_ILLEGAL_REQUEST, ASC_COMMAND_SEQUENCE_ERROR);
	/* Another nexus's search is not this one's. */
	cr_assert_eq(send_volume_tag(N2, 0, 0x05, "*", 0, 0), 0);
	rvea(&t, N1, 0, 100, 4096);
	cdb_assert_sense(&t.c, SK_ILLEGAL_REQUEST, ASC_COMMAND_SEQUENCE_ERROR);
}

Test(smc, send_volume_tag_translate_then_rvea_reports_the_matching_elements)
{
	add_tape("ABC001L8");
	add_tape("XYZ001L8");
	add_tape("ABC002L8");
	struct tcmd t;
	cr_assert_eq(move_medium(ch, &t, N1, SLOT1 + 2, DRV1), 0);
	cr_assert_eq(send_volume_tag(N1, 0, 0x05, "ABC*", 0, 0), 0);
	cr_assert_eq(rvea(&t, N1, 0, 100, 4096), 0);
	/* Header: first address, count, send action code, byte count. */
	cr_assert_eq(get_be16(t.buf), DRV1, "lowest matching address first");
	cr_assert_eq(get_be16(t.buf + 2), 2);
	cr_assert_eq(t.buf[4], 0x05);
	struct res_desc d[4];
	size_t n = res_walk(t.buf, t.c.in_len, d, 4);
	cr_assert_eq(n, 2);
	cr_assert_eq(d[0].type, SMC_ET_DRIVE);
	cr_assert_eq(get_be16(d[0].d), DRV1);
	cr_assert_arr_eq(d[0].d + 12, "ABC002L8", 8);
	cr_assert_eq(d[1].type, SMC_ET_STORAGE);
	cr_assert_eq(get_be16(d[1].d), SLOT1);
	cr_assert_arr_eq(d[1].d + 12, "ABC001L8", 8);
	cr_assert_eq(get_be24(t.buf + 5), t.c.in_len - 8);

	/* '?' matches one character; a type code restricts the search. */
	cr_assert_eq(send_volume_tag(N1, SMC_ET_STORAGE, 0x05, "?YZ001L8", 0, 0), 0);
	cr_assert_eq(rvea(&t, N1, 0, 100, 4096), 0);
	cr_assert_eq(get_be16(t.buf + 2), 1);
	cr_assert_eq(get_be16(t.buf), SLOT1 + 1);
	cr_assert_eq(send_volume_tag(N1, SMC_ET_STORAGE, 0x05, "ABC002L8", 0, 0), 0);
	cr_assert_eq(rvea(&t, N1, 0, 100, 4096), 0);
	cr_assert_eq(get_be16(t.buf + 2), 0, "in a drive, not a slot");
}

/* One element at a time: each report starts after the last one shown. */
Test(smc, rvea_walks_the_matches_across_commands)
{
	add_tape("ABC001L8");
	add_tape("ABC002L8");
	struct tcmd t;
	cr_assert_eq(send_volume_tag(N1, 0, 0x04, "ABC*", 0, 0), 0);
	cr_assert_eq(rvea(&t, N1, 0, 1, 4096), 0);
	cr_assert_eq(get_be16(t.buf), SLOT1);
	cr_assert_eq(rvea(&t, N1, 0, 1, 4096), 0);
	cr_assert_eq(get_be16(t.buf), SLOT1 + 1);
	cr_assert_eq(rvea(&t, N1, 0, 1, 4096), 0);
	cr_assert_eq(get_be16(t.buf + 2), 0, "nothing left");
}

/* Tags here have volume sequence number 0 and no alternate tag. */
Test(smc, send_volume_tag_sequence_numbers_and_alternate_tags)
{
	add_tape("ABC001L8");
	struct tcmd t;
	cr_assert_eq(send_volume_tag(N1, 0, 0x01, "ABC001L8", 0, 5), 0);
	cr_assert_eq(rvea(&t, N1, 0, 10, 4096), 0);
	cr_assert_eq(get_be16(t.buf + 2), 1);
	cr_assert_eq(send_volume_tag(N1, 0, 0x01, "ABC001L8", 1, 5), 0);
	cr_assert_eq(rvea(&t, N1, 0, 10, 4096), 0);
	cr_assert_eq(get_be16(t.buf + 2), 0);
	cr_assert_eq(send_volume_tag(N1, 0, 0x06, "*", 0, 0), 0);
	cr_assert_eq(rvea(&t, N1, 0, 10, 4096), 0);
	cr_assert_eq(get_be16(t.buf + 2), 0);
}

/* Assert, replace and undefine would rename a cartridge: refused at the
 * send action code; a wrong parameter list length at its field. */
Test(smc, send_volume_tag_refuses_what_would_rename_a_cartridge)
{
	struct scsi_cmd c;
	uint8_t p[40] = {0};
	cdb_exec(ch, &c, N1, CDB(SEND_VOLUME_TAG, 0, 0x03, 0xe8, 0, 0x08, 0, 0, 0, 40, 0, 0), p,
		 sizeof(p), NULL, 0);
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	cdb_assert_field(&c, true, 5, 4);
	cdb_exec(ch, &c, N1, CDB(SEND_VOLUME_TAG, 0, 0, 0, 0, 0x05, 0, 0, 0, 32, 0, 0), p, 32, NULL,
		 0);
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	cdb_assert_field(&c, true, 8, -1);
	struct tcmd t;
	uint8_t cdb[12] = {MAINTENANCE_IN, MI_REPORT_SUPPORTED_OPERATION_CODES, 0x01,
			   SEND_VOLUME_TAG};
	put_be32(cdb + 6, 512);
	cr_assert_eq(run(ch, &t, N1, cdb, 12, 512), 0);
	cr_assert_eq(t.buf[1] & 0x07, 0x03, "supported");
	cdb[3] = REQUEST_VOLUME_ELEMENT_ADDRESS;
	cr_assert_eq(run(ch, &t, N1, cdb, 12, 512), 0);
	cr_assert_eq(t.buf[1] & 0x07, 0x03, "supported");
}

/* Drive INQUIRY strings where a public dump of the real drive exists
 * (docs/compatibility.md): HP Ultrium 6-SCSI 353D (LTFS issue #354), HPE
 * Ultrium 9-SCSI Q3F9 with vendor HPE (LTFS issue #491). */
static void drive_inquiry_is(enum tape_media gen, const char *want)
{
	if (T.lib)
		lib_close(T.lib);
	T.lib = NULL;
	tlib_stop(&T);
	tlib_mkdir(&T);
	T.cfg.drive_vendor = SSC_VENDOR_HPE;
	T.cfg.drive_media = gen;
	cr_assert_eq(tlib_open(&T), 0, "%s", T.err);
	struct tcmd t;
	uint8_t cdb[6] = {INQUIRY, 0, 0, 0, 96, 0};
	cr_assert_eq(run(lib_drive(T.lib, 0), &t, N1, cdb, 6, 96), 0);
	cr_assert_arr_eq(t.buf + 8, want, 28, "%.28s", t.buf + 8);
}

Test(personality, drive_identity_as_public_dumps_show)
{
	drive_inquiry_is(TAPE_LTO5, "HP      Ultrium 5-SCSI  Z51U");
	drive_inquiry_is(TAPE_LTO6, "HP      Ultrium 6-SCSI  353D");
	drive_inquiry_is(TAPE_LTO9, "HPE     Ultrium 9-SCSI  Q3F9");
}

/* Regression: template matching once recursed on every '*', exponential in
 * their number; 31 stars and a last character no barcode has must answer
 * (nothing matches) as any other template does. Patterns at the edges. */
Test(smc, send_volume_tag_templates_match_as_smc3_says)
{
	add_tape("ABC001L8");
	add_tape("ABC0011L8");
	struct tcmd t;
	cr_assert_eq(send_volume_tag(N1, 0, 0x05, "*******************************Q", 0, 0), 0);
	cr_assert_eq(rvea(&t, N1, 0, 100, 4096), 0);
	cr_assert_eq(get_be16(t.buf + 2), 0);
	static const struct {
		const char *tmpl;
		uint16_t n;
	} cases[] = {
	    {"*", 2},	 {"ABC001L8", 1}, {"ABC001L", 0},   {"ABC001L8*", 1},
	    {"*L8", 2},	 {"A*1*L8", 2},	  {"ABC00??L8", 1}, {"????????", 1},
	    {"*1L8", 2}, {"AB*C*", 2},	  {"X*", 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_assert_eq(send_volume_tag(N1, 0, 0x05, cases[i].tmpl, 0, 0), 0);
		cr_assert_eq(rvea(&t, N1, 0, 100, 4096), 0);
		cr_assert_eq(get_be16(t.buf + 2), cases[i].n, "template %s", cases[i].tmpl);
	}
}

/* The barcode reader, where mtx's loaderinfo looks for it (Exabyte's
 * extension: INQUIRY byte 55 bit 0, read when the additional length is
 * above 32h) on STK-L700 and AWS-Gateway-VTL; IBM's layout has byte 55
 * reserved and BarC in byte 6 bit 5 instead. */
Test(personality, barcode_reader_is_reported_where_each_layout_has_it)
{
	const char *names[] = {"STK-L700", "AWS-Gateway-VTL", "IBM-03584L32-0402"};
	for (size_t i = 0; i < 3; i++) {
		open_as(names[i]);
		struct tcmd t;
		uint8_t cdb[6] = {INQUIRY, 0, 0, 0, 255, 0};
		cr_assert_eq(run(ch, &t, N1, cdb, 6, 255), 0);
		cr_assert_gt(t.buf[4], 0x32, "%s", names[i]);
		bool ibm = i == 2;
		cr_assert_eq(t.buf[55] & 0x01, ibm ? 0 : 1, "%s byte 55", names[i]);
		cr_assert_eq(t.buf[6] & 0x20, ibm ? 0x20 : 0, "%s byte 6", names[i]);
	}
	/* Drives keep bytes 36..55 zero. */
	struct tcmd t;
	uint8_t cdb[6] = {INQUIRY, 0, 0, 0, 96, 0};
	cr_assert_eq(run(lib_drive(T.lib, 0), &t, N1, cdb, 6, 96), 0);
	for (int b = 36; b < 56; b++)
		cr_assert_eq(t.buf[b], 0, "drive byte %d", b);
}

/* ---- Encryption at rest (docs/design.md, "Encryption of cartridges at
 * rest"): a library with a master key ------------------------------------ */

#include <dirent.h>
#include <sys/stat.h>

#include "catalog/catalog_key.h"
#include "vtl/keys.h"

#include <openssl/crypto.h>

static struct key_master master, other_master;
static const char clear_text[] = "what the library stores only encrypted, a line of a backup";

static void setup_at_rest(void)
{
	unsigned char k[KEY_BYTES];
	for (size_t i = 0; i < sizeof(k); i++)
		k[i] = (unsigned char)(0x5a ^ (i * 29));
	cr_assert_eq(key_master_set(&master, k), 0);
	for (size_t i = 0; i < sizeof(k); i++)
		k[i] = (unsigned char)(0xa5 ^ (i * 7));
	cr_assert_eq(key_master_set(&other_master, k), 0);
	memset(&T, 0, sizeof(T));
	tlib_mkdir(&T);
	T.cfg.master = &master;
	cr_assert_eq(tlib_open(&T), 0, "lib_open: %s", T.err);
	ch = lib_changer(T.lib);
	cdb_drain_ua(ch, N1);
}

static void teardown_at_rest(void)
{
	tlib_stop(&T);
	key_master_wipe(&master);
	key_master_wipe(&other_master);
}

TestSuite(lib_at_rest, .init = setup_at_rest, .fini = teardown_at_rest);

static void reopen_with(const struct key_master *m)
{
	lib_close(T.lib);
	T.lib = NULL;
	T.cfg.master = m;
	cr_assert_eq(tlib_open(&T), 0, "lib_open: %s", T.err);
	ch = lib_changer(T.lib);
	cdb_drain_ua(ch, N1);
	cdb_drain_ua(lib_drive(T.lib, 0), N1);
}

static bool file_holds(const char *path, const void *needle, size_t m)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return false;
	static uint8_t buf[16 << 20];
	size_t n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	return memmem(buf, n, needle, m) != NULL;
}

/* Does any file under dir (recursively) hold these bytes? */
static bool tree_holds(const char *dir, const void *needle, size_t m)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	bool found = false;
	if (!d)
		return false;
	while (!found && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char path[1024];
		struct stat sb;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (lstat(path, &sb) < 0)
			continue;
		found = S_ISDIR(sb.st_mode) ? tree_holds(path, needle, m)
					    : S_ISREG(sb.st_mode) && file_holds(path, needle, m);
	}
	closedir(d);
	return found;
}

static void write_through_drive(void)
{
	struct tcmd t;
	struct scsi_dev *drv = lib_drive(T.lib, 0);
	cdb_drain_ua(drv, N1);
	uint8_t w[6] = {WRITE_6, 0, 0, 0, sizeof(clear_text)};
	tcmd_init(&t, N1, w, 6, 0);
	t.c.out = (const uint8_t *)clear_text;
	t.c.out_len = sizeof(clear_text);
	spc_dispatch(drv, &t.c);
	cr_assert_eq(t.c.status, SAM_STAT_GOOD);
	uint8_t fm[6] = {WRITE_FILEMARKS_6, 0, 0, 0, 1};
	cr_assert_eq(run(drv, &t, N1, fm, 6, 0), 0);
}

static void read_back(void)
{
	struct tcmd t;
	struct scsi_dev *drv = lib_drive(T.lib, 0);
	cdb_drain_ua(drv, N1);
	uint8_t rw[6] = {REWIND};
	cr_assert_eq(run(drv, &t, N1, rw, 6, 0), 0);
	uint8_t r[6] = {READ_6, 0x02, 0, 0, 255};
	cr_assert_eq(run(drv, &t, N1, r, 6, 255), 0);
	cr_assert_eq(t.c.in_len, sizeof(clear_text));
	cr_assert_str_eq((char *)t.buf, clear_text);
}

Test(lib_at_rest, a_new_tape_is_encrypted_and_its_key_kept_wrapped)
{
	struct tcmd t;
	char tapes[600], key_path[700];
	add_tape("ENCR01L8");
	struct cat_key_row row;
	cr_assert_eq(cat_key_get(lib_catalog(T.lib), "ENCR01L8", &row), 0);
	cr_assert_str_eq(row.master_id, master.id);
	unsigned char dk[KEY_BYTES];
	cr_assert_eq(key_unwrap(&master, "ENCR01L8", row.wrapped, dk), 0);

	/* The cartridge's KEY file, made with its medium at the first load
	 * or export: the same wrap, private. */
	first_load("ENCR01L8");
	snprintf(key_path, sizeof(key_path), "%s/data/tapes/ENCR01L8/KEY", T.dir);
	struct stat sb;
	cr_assert_eq(stat(key_path, &sb), 0);
	cr_assert_eq(sb.st_mode & 0777, 0600);
	cr_assert(file_holds(key_path, row.wrapped, strlen(row.wrapped)));

	cr_assert_eq(move_medium(ch, &t, N1, SLOT1, DRV1), 0);
	write_through_drive();
	read_back();
	cr_assert_eq(unload_drive(lib_drive(T.lib, 0), &t, N1), 0);
	cr_assert_eq(move_medium(ch, &t, N1, DRV1, SLOT1), 0);

	/* Neither the plaintext nor a key anywhere in the data directory
	 * (catalog, cartridge, KEY file). */
	snprintf(tapes, sizeof(tapes), "%s/data", T.dir);
	cr_assert_not(tree_holds(tapes, clear_text, 16), "plaintext in the data directory");
	cr_assert_not(tree_holds(tapes, dk, 8), "the data key in the data directory");
	cr_assert_not(tree_holds(tapes, master.key, 8), "the master key in the data directory");
	OPENSSL_cleanse(dk, sizeof(dk));

	/* Reopened with the master key: it loads and reads. */
	reopen_with(&master);
	cr_assert_eq(move_medium(ch, &t, N1, SLOT1, DRV1), 0);
	read_back();
}

Test(lib_at_rest, without_the_master_key_it_does_not_load_and_is_not_lost)
{
	struct tcmd t;
	add_tape("ENCR02L8");
	cr_assert_eq(move_medium(ch, &t, N1, SLOT1, DRV1), 0);
	write_through_drive();

	/* Restarted without a master key, the cartridge in the drive stays
	 * out of it, said as a key's refusal, never IRRECOVERABLE. */
	reopen_with(NULL);
	cr_assert_eq(ssc_state(lib_drive(T.lib, 0)), SSC_EMPTY);
	struct cat_tape tp;
	cr_assert_eq(lib_tape_get(T.lib, "ENCR02L8", &tp), 0);
	cr_assert_neq(tp.state, CAT_IRRECOVERABLE);

	/* Another master key: the same. */
	reopen_with(&other_master);
	cr_assert_eq(ssc_state(lib_drive(T.lib, 0)), SSC_EMPTY);
	cr_assert_eq(lib_tape_get(T.lib, "ENCR02L8", &tp), 0);
	cr_assert_neq(tp.state, CAT_IRRECOVERABLE);

	/* The right one: it loads again, the data reads. */
	reopen_with(&master);
	cr_assert_eq(ssc_state(lib_drive(T.lib, 0)), SSC_LOADED);
	read_back();
}

Test(lib_at_rest, tapes_made_before_the_master_key_stay_clear_and_load)
{
	struct tcmd t;
	reopen_with(NULL);
	add_tape("CLEAR1L8");
	struct cat_key_row row;
	cr_assert_eq(cat_key_get(lib_catalog(T.lib), "CLEAR1L8", &row), -ENOENT);
	reopen_with(&master);
	cr_assert_eq(move_medium(ch, &t, N1, SLOT1, DRV1), 0);
	write_through_drive();
	read_back();
	char tapes[600];
	snprintf(tapes, sizeof(tapes), "%s/data/tapes/CLEAR1L8", T.dir);
	cr_assert(tree_holds(tapes, clear_text, 16), "a clear tape is stored as written");
}
