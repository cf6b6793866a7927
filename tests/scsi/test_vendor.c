/*
 * test_vendor.c - what IBM's and HPE's tools read from a tape drive beyond
 * SSC-4's core pages, at CDB level: the vendor VPD pages of each
 * personality (scsi/ssc_vendor.c), the volume statistics log page 17h
 * (scsi/ssc_logs.c), informational exception reporting of TapeAlert flags
 * (mode page 1Ch, scsi/spc.c) and the drive asking for cleaning.
 *
 * Every test drives a real drive object through spc_dispatch() on a real
 * cartridge in a fresh temporary directory; nothing is mocked.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

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

static uint32_t clean_interval; /* for the next make_drive */

static void make_drive(enum tape_media gen, enum ssc_vendor vendor)
{
	struct ssc_config cfg = {
	    .generation = gen,
	    .vendor = vendor,
	    .serial = "1013000123",
	    .naa = 0x5000e11100000001ull,
	    .rel_port = 1,
	    .clean_interval = clean_interval,
	};
	tmpdir_make(root, sizeof(root), "vendor");
	cr_assert_eq(ssc_drive_init(&dev, &cfg), 0);
	have_dev = true;
	cdb_drain_ua(&dev, NX);
}

static const char *make_tape(const char *name, enum tape_media media, bool worm)
{
	struct tape_info info;

	memset(&info, 0, sizeof(info));
	snprintf(info.barcode, sizeof(info.barcode), "%s", name);
	snprintf(info.serial, sizeof(info.serial), "MSN%s", name);
	info.media = media;
	info.worm = worm;
	info.created = 1700000000;
	snprintf(tapedir, sizeof(tapedir), "%s/%s", root, name);
	cr_assert_eq(tape_format(tapedir, &info), 0, "tape_format %s", tapedir);
	return tapedir;
}

static void ibm(void)
{
	make_drive(TAPE_LTO6, SSC_VENDOR_IBM);
}

static void hpe(void)
{
	make_drive(TAPE_LTO8, SSC_VENDOR_HPE);
}

static void teardown(void)
{
	if (have_dev)
		ssc_drive_destroy(&dev);
	have_dev = false;
	tmpdir_remove(root);
}

/* INQUIRY with EVPD of page, into buf; GOOD asserted. Returns the bytes
 * transferred. */
static uint32_t vpd(uint8_t page, uint8_t *buf, uint16_t cap)
{
	struct scsi_cmd c;

	cdb_exec(&dev, &c, NX, CDB(INQUIRY, 1, page, (uint8_t)(cap >> 8), (uint8_t)cap, 0), NULL, 0,
		 buf, cap);
	cdb_assert_good(&c);
	return c.in_len;
}

static bool lists_page(uint8_t page)
{
	uint8_t b[64];
	uint32_t n = vpd(0x00, b, sizeof(b));

	cr_assert_geq(n, 4u);
	for (uint32_t i = 4; i < 4u + get_be16(b + 2) && i < n; i++)
		if (b[i] == page)
			return true;
	return false;
}

static void vpd_refused(uint8_t page)
{
	struct scsi_cmd c;
	uint8_t b[128];

	cdb_exec(&dev, &c, NX, CDB(INQUIRY, 1, page, 0, 128, 0), NULL, 0, b, sizeof(b));
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	cdb_assert_field(&c, true, 2, -1);
}

static bool all_digits(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return false;
	return true;
}

/* ---- IBM vendor VPD pages ---- */

Test(vendor_vpd, ibm_lists_c0_c1_in_supported_pages, .init = ibm, .fini = teardown)
{
	uint8_t b[64];
	uint32_t n = vpd(0x00, b, sizeof(b));
	const uint8_t want[] = {0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2, 0xc0, 0xc1};

	cr_assert_eq(get_be16(b + 2), sizeof(want));
	cr_assert_eq(n, 4 + sizeof(want));
	cr_assert_arr_eq(b + 4, want, sizeof(want), "ascending, each once");
}

Test(vendor_vpd, ibm_c0_firmware_designation, .init = ibm, .fini = teardown)
{
	uint8_t b[128];
	uint32_t n = vpd(0xc0, b, sizeof(b));

	cr_assert_eq(n, 43u);
	cr_assert_eq(b[0], 0x01, "sequential-access device");
	cr_assert_eq(b[1], 0xc0);
	cr_assert_eq(get_be16(b + 2), 0x27);
	cr_assert_arr_eq(b + 4, "vtl-" PACKAGE_VERSION, strlen("vtl-" PACKAGE_VERSION));
	for (size_t i = 4 + strlen("vtl-" PACKAGE_VERSION); i < 16; i++)
		cr_assert_eq(b[i], ' ', "code name space padded (byte %zu)", i);
	cr_assert(all_digits(b + 16, 6), "TIME hhmmss");
	cr_assert_arr_eq(b + 16, VTL_BUILD_TIME, 6);
	cr_assert_eq(b[22], ' ');
	cr_assert(all_digits(b + 23, 8), "DATE yyyymmdd");
	cr_assert_arr_eq(b + 23, VTL_BUILD_DATE, 8);
	cr_assert_arr_eq(b + 31, "vtld        ", 12);
}

Test(vendor_vpd, ibm_c1_drive_serial_numbers, .init = ibm, .fini = teardown)
{
	uint8_t b[128];
	uint32_t n = vpd(0xc1, b, sizeof(b));

	cr_assert_eq(n, 28u);
	cr_assert_eq(b[1], 0xc1);
	cr_assert_eq(get_be16(b + 2), 0x18);
	cr_assert_arr_eq(b + 4, "1013000123  ", 12, "manufacturing serial number");
	cr_assert_arr_eq(b + 16, "1013000123  ", 12, "reported serial number");
}

Test(vendor_vpd, ibm_c0_truncated_to_allocation_length, .init = ibm, .fini = teardown)
{
	uint8_t b[8];
	uint32_t n = vpd(0xc0, b, sizeof(b));

	cr_assert_eq(n, 8u);
	cr_assert_eq(get_be16(b + 2), 0x27, "the page length is the full one");
}

Test(vendor_vpd, ibm_has_no_hpe_pages, .init = ibm, .fini = teardown)
{
	for (uint8_t p = 0xc2; p <= 0xc5; p++) {
		cr_assert(!lists_page(p));
		vpd_refused(p);
	}
}

/* ---- HPE vendor VPD pages ---- */

Test(vendor_vpd, hpe_lists_c0_only, .init = hpe, .fini = teardown)
{
	cr_assert(lists_page(0xc0));
	cr_assert(!lists_page(0xc1), "hardware revision: no hardware to report");
	vpd_refused(0xc1);
	vpd_refused(0xc5);
}

Test(vendor_vpd, hpe_c0_firmware_revision_level, .init = hpe, .fini = teardown)
{
	uint8_t b[128];
	uint32_t n = vpd(0xc0, b, sizeof(b));
	char want_date[17];
	const char *d = VTL_BUILD_DATE, *t = VTL_BUILD_TIME;

	cr_assert_eq(n, 96u);
	cr_assert_eq(b[0], 0x01);
	cr_assert_eq(b[1], 0xc0);
	cr_assert_eq(get_be16(b + 2), 0x5c);
	cr_assert_str_eq((const char *)b + 4, "Firmware", "COMPONENT");
	for (size_t i = 4 + 8; i < 30; i++)
		cr_assert_eq(b[i], 0, "COMPONENT null padded (byte %zu)", i);
	/* VERSION "RRR.VVV" from PACKAGE_VERSION */
	unsigned major = 0, minor = 0;
	cr_assert_eq(sscanf(PACKAGE_VERSION, "%u.%u", &major, &minor), 2);
	char want_ver[8];
	snprintf(want_ver, sizeof(want_ver), "%03u.%03u", major, minor);
	cr_assert_str_eq((const char *)b + 30, want_ver, "VERSION");
	snprintf(want_date, sizeof(want_date), "%.4s/%.2s/%.2s %.2s:%.2s", d, d + 4, d + 6, t,
		 t + 2);
	cr_assert_str_eq((const char *)b + 49, want_date, "DATE YYYY/MM/DD hh:mm");
	cr_assert_str_eq((const char *)b + 73, "Ultrium 8-SCSI", "VARIANT");
	cr_assert_eq(b[95], 0, "each field null terminated");
}

/* ---- log page 17h, volume statistics ---- */

static uint32_t log_sense(uint8_t page, uint8_t *buf, uint16_t cap)
{
	struct scsi_cmd c;

	cdb_exec(&dev, &c, NX,
		 CDB(LOG_SENSE, 0, (uint8_t)(0x40 | page), 0, 0, 0, 0, (uint8_t)(cap >> 8),
		     (uint8_t)cap, 0),
		 NULL, 0, buf, cap);
	cdb_assert_good(&c);
	cr_assert_eq(buf[0] & 0x3f, page);
	cr_assert_eq(c.in_len, 4u + get_be16(buf + 2), "whole page returned");
	return c.in_len;
}

/* The parameter `code` of the page in buf: its control byte, length and
 * value (big-endian, up to 8 bytes) or NULL when absent. */
static const uint8_t *log_find(const uint8_t *buf, uint16_t code, uint8_t *ctl, uint8_t *len)
{
	uint32_t end = 4u + get_be16(buf + 2);
	for (uint32_t i = 4; i + 4 <= end; i += 4u + buf[i + 3]) {
		if (get_be16(buf + i) == code) {
			*ctl = buf[i + 2];
			*len = buf[i + 3];
			return buf + i + 4;
		}
	}
	return NULL;
}

static uint64_t log_value(const uint8_t *buf, uint16_t code)
{
	uint8_t ctl, len;
	const uint8_t *v = log_find(buf, code, &ctl, &len);

	cr_assert_not_null(v, "parameter %04xh present", code);
	cr_assert_leq(len, 8);
	uint64_t x = 0;
	for (uint8_t i = 0; i < len; i++)
		x = x << 8 | v[i];
	return x;
}

static bool log_has(const uint8_t *buf, uint16_t code)
{
	uint8_t ctl, len;
	return log_find(buf, code, &ctl, &len) != NULL;
}

static void load_tape(const char *name, bool worm)
{
	cr_assert_eq(ssc_insert(&dev, make_tape(name, TAPE_LTO6, worm)), 0);
	cdb_drain_ua(&dev, NX);
}

static void write_block(uint32_t len, uint8_t fill)
{
	static uint8_t data[1 << 20];
	struct scsi_cmd c;

	memset(data, fill, len);
	for (uint32_t i = 0; fill == 0xa5 && i < len; i++)
		data[i] = (uint8_t)(i * 2654435761u >> 24); /* barely compressible */
	cdb_exec(&dev, &c, NX,
		 CDB(WRITE_6, 0, (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len, 0), data,
		 len, NULL, 0);
	cdb_assert_good(&c);
}

static void wfm(void)
{
	struct scsi_cmd c;
	cdb_exec(&dev, &c, NX, CDB(WRITE_FILEMARKS_6, 0, 0, 0, 1, 0), NULL, 0, NULL, 0);
	cdb_assert_good(&c);
}

static void load_unload(bool load)
{
	struct scsi_cmd c;
	cdb_exec(&dev, &c, NX, CDB(LOAD_UNLOAD, 0, 0, 0, load ? 1 : 0, 0), NULL, 0, NULL, 0);
	cdb_assert_good(&c);
}

Test(vendor_volstat, listed_in_supported_log_pages, .init = ibm, .fini = teardown)
{
	uint8_t b[256];
	uint32_t n = log_sense(0x00, b, sizeof(b));
	bool found = false;

	for (uint32_t i = 4; i < n; i++)
		found |= b[i] == 0x17;
	cr_assert(found);
}

Test(vendor_volstat, empty_drive_page_not_valid, .init = ibm, .fini = teardown)
{
	uint8_t b[512];
	uint32_t n = log_sense(0x17, b, sizeof(b));

	cr_assert_eq(n, 4u + 5u, "PAGE VALID alone");
	cr_assert_eq(log_value(b, 0x0000), 0);
}

Test(vendor_volstat, loaded_cartridge_facts, .init = ibm, .fini = teardown)
{
	uint8_t b[512], ctl, len;

	load_tape("VOL001L6", false);
	log_sense(0x17, b, sizeof(b));
	cr_assert_eq(log_value(b, 0x0000), 1, "PAGE VALID");
	cr_assert_eq(log_value(b, 0x0001), 1, "VOLUME MOUNTS: the first load");
	cr_assert_eq(log_value(b, 0x000c), 0);
	cr_assert_eq(log_value(b, 0x000d), 0);
	cr_assert_eq(log_value(b, 0x000e), 0);
	cr_assert_eq(log_value(b, 0x000f), 0);
	cr_assert_eq(log_value(b, 0x0012), 100, "1:1 before anything is written");
	cr_assert_eq(log_value(b, 0x0016), tape_media_capacity(TAPE_LTO6) / 1000000u,
		     "TOTAL NATIVE CAPACITY in 10^6 bytes");
	cr_assert_eq(log_value(b, 0x0080), 0, "WRITE PROTECT");
	cr_assert_eq(log_value(b, 0x0081), 0, "WORM");

	const uint8_t *v = log_find(b, 0x0040, &ctl, &len);
	cr_assert_not_null(v);
	cr_assert_eq(len, 32);
	cr_assert_eq(ctl & 0x03, 0x01, "ASCII format");
	cr_assert_arr_eq(v, "MSNVOL001L6                     ", 32, "VOLUME SERIAL NUMBER");
	v = log_find(b, 0x0042, &ctl, &len);
	cr_assert_not_null(v);
	cr_assert_arr_eq(v, "VOL001L6                        ", 32, "VOLUME BARCODE");

	/* What vtld does not keep is absent, not zero. */
	const uint16_t absent[] = {0x0002, 0x0003, 0x0007, 0x0008, 0x0010, 0x0011,
				   0x0014, 0x0015, 0x0041, 0x0043, 0x0101, 0x0102};
	for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++)
		cr_assert(!log_has(b, absent[i]), "parameter %04xh absent", absent[i]);
}

Test(vendor_volstat, worm_cartridge_reported, .init = ibm, .fini = teardown)
{
	uint8_t b[512];

	load_tape("WRM001L6", true);
	log_sense(0x17, b, sizeof(b));
	cr_assert_eq(log_value(b, 0x0081), 1);
}

Test(vendor_volstat, mounts_follow_the_cartridge_load_count, .init = ibm, .fini = teardown)
{
	uint8_t b[512];

	load_tape("VOL002L6", false);
	load_unload(false);
	log_sense(0x17, b, sizeof(b));
	cr_assert_eq(log_value(b, 0x0000), 0, "unloaded: not valid");
	load_unload(true);
	log_sense(0x17, b, sizeof(b));
	cr_assert_eq(log_value(b, 0x0001), 2, "the LOAD counted");
}

Test(vendor_volstat, megabytes_written_match_the_medium_counters, .init = ibm, .fini = teardown)
{
	uint8_t b[512], c32[256];

	load_tape("VOL003L6", false);
	for (int i = 0; i < 3; i++)
		write_block(1 << 20, 0xa5);
	for (int i = 0; i < 3; i++)
		write_block(1 << 20, 0x00);
	wfm();
	log_sense(0x17, b, sizeof(b));
	log_sense(0x32, c32, sizeof(c32));
	/* Page 32h: bytes written to the medium as MiB + remainder. */
	uint64_t stored = (log_value(c32, 0x0008) << 20) + log_value(c32, 0x0009);
	uint64_t host = (log_value(c32, 0x0006) << 20) + log_value(c32, 0x0007);
	cr_assert_eq(host, 6u << 20);
	cr_assert_eq(log_value(b, 0x000e), stored / 1000000u, "LAST MOUNT MEGABYTES WRITTEN");
	cr_assert_eq(log_value(b, 0x0012), host * 100 / stored,
		     "LAST LOAD WRITE COMPRESSION RATIO");
	cr_assert_gt(log_value(b, 0x0012), 100, "the zero blocks compressed");
	cr_assert_geq(log_value(b, 0x0017), stored / 1000000u, "USED NATIVE CAPACITY");
}

/* ---- informational exceptions: TapeAlert flags reported as MRIE says ---- */

#define NX2 2

static void set_iec(uint8_t flags, uint8_t mrie, int32_t test_flag)
{
	uint8_t pl[16] = {0, 0, 0x10, 0, 0x1c, 0x0a, flags, mrie};
	struct scsi_cmd c;

	put_be32(pl + 12, (uint32_t)test_flag);
	cdb_exec(&dev, &c, NX, CDB(MODE_SELECT_6, 0x10, 0, 0, sizeof(pl), 0), pl, sizeof(pl), NULL,
		 0);
	cdb_assert_good(&c);
}

#define DEXCPT 0x08
#define TEST   0x04

static void tur(struct scsi_cmd *c, uint64_t nexus)
{
	cdb_exec(&dev, c, nexus, CDB(TEST_UNIT_READY, 0, 0, 0, 0, 0), NULL, 0, NULL, 0);
}

static void tur_good(void)
{
	struct scsi_cmd c;
	tur(&c, NX);
	cdb_assert_good(&c);
}

/* PREVENT MEDIUM REMOVAL, then an UNLOAD the drive refuses: TapeAlert 0Ah
 * "No removal", a condition the drive sets itself. */
static void raise_no_removal(void)
{
	struct scsi_cmd c;

	cdb_exec(&dev, &c, NX, CDB(PREVENT_ALLOW_MEDIUM_REMOVAL, 0, 0, 0, 1, 0), NULL, 0, NULL, 0);
	cdb_assert_good(&c);
	cdb_exec(&dev, &c, NX, CDB(LOAD_UNLOAD, 0, 0, 0, 0, 0), NULL, 0, NULL, 0);
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_MEDIUM_REMOVAL_PREVENTED);
}

static void loaded_ibm(void)
{
	ibm();
	load_tape("IEC001L6", false);
}

Test(vendor_iec, mrie_4_reports_a_new_flag_once_on_the_next_command, .init = loaded_ibm,
     .fini = teardown)
{
	struct scsi_cmd c;

	set_iec(0, 4, 0);
	raise_no_removal();
	tur(&c, NX);
	cdb_assert_sense(&c, SK_RECOVERED_ERROR, ASC_FAILURE_PREDICTION_THRESHOLD_EXCEEDED);
	tur_good(); /* reported once */
	uint8_t b[512];
	log_sense(0x2e, b, sizeof(b));
	cr_assert_eq(log_value(b, 0x000a), 1, "the flag is in the TapeAlert page");
}

Test(vendor_iec, mrie_3_acts_as_4, .init = loaded_ibm, .fini = teardown)
{
	struct scsi_cmd c;

	set_iec(0, 3, 0);
	raise_no_removal();
	tur(&c, NX);
	cdb_assert_sense(&c, SK_RECOVERED_ERROR, ASC_FAILURE_PREDICTION_THRESHOLD_EXCEEDED);
}

Test(vendor_iec, reported_command_carried_out_with_its_data, .init = loaded_ibm, .fini = teardown)
{
	struct scsi_cmd c;
	uint8_t b[64];

	set_iec(0, 4, 0);
	raise_no_removal();
	/* INQUIRY neither reports nor consumes it (SPC-4 7.5.7). */
	cdb_exec(&dev, &c, NX, CDB(INQUIRY, 0, 0, 0, 36, 0), NULL, 0, b, 36);
	cdb_assert_good(&c);
	cdb_exec(&dev, &c, NX, CDB(READ_POSITION, 0, 0, 0, 0, 0, 0, 0, 0, 0), NULL, 0, b, 20);
	cdb_assert_sense(&c, SK_RECOVERED_ERROR, ASC_FAILURE_PREDICTION_THRESHOLD_EXCEEDED);
	cr_assert_eq(c.in_len, 20u, "READ POSITION's data still returned");
	cr_assert(b[0] & 0x80, "BOP");
}

Test(vendor_iec, test_flag_number_is_reported_as_false, .init = loaded_ibm, .fini = teardown)
{
	struct scsi_cmd c;

	set_iec(TEST, 4, 0x14); /* TEST FLAG NUMBER 14h, "Clean now" */
	tur(&c, NX);
	cdb_assert_sense(&c, SK_RECOVERED_ERROR, ASC_FAILURE_PREDICTION_THRESHOLD_EXCEEDED_FALSE);
	tur_good();
}

Test(vendor_iec, dexcpt_disables_reporting, .init = loaded_ibm, .fini = teardown)
{
	set_iec(DEXCPT, 4, 0);
	raise_no_removal();
	tur_good();
}

Test(vendor_iec, mrie_0_never_reports, .init = loaded_ibm, .fini = teardown)
{
	set_iec(0, 0, 0);
	raise_no_removal();
	tur_good();
}

Test(vendor_iec, flags_set_before_reporting_was_enabled_are_not_reported, .init = loaded_ibm,
     .fini = teardown)
{
	raise_no_removal();
	set_iec(0, 4, 0);
	tur_good();
}

Test(vendor_iec, mrie_5_reports_no_sense, .init = loaded_ibm, .fini = teardown)
{
	struct scsi_cmd c;

	set_iec(0, 5, 0);
	raise_no_removal();
	tur(&c, NX);
	cdb_assert_sense(&c, SK_NO_SENSE, ASC_FAILURE_PREDICTION_THRESHOLD_EXCEEDED);
}

Test(vendor_iec, mrie_2_raises_a_unit_attention_for_every_nexus, .init = loaded_ibm,
     .fini = teardown)
{
	struct scsi_cmd c;

	tur(&c, NX2); /* NX2 exists, its power-on attention consumed */
	cdb_drain_ua(&dev, NX2);
	set_iec(0, 2, 0);
	cdb_drain_ua(&dev, NX2); /* mode parameters changed */
	raise_no_removal();
	cr_assert(cdb_saw_ua(&dev, NX, ASC_FAILURE_PREDICTION_THRESHOLD_EXCEEDED));
	cr_assert(cdb_saw_ua(&dev, NX2, ASC_FAILURE_PREDICTION_THRESHOLD_EXCEEDED));
}

Test(vendor_iec, mrie_6_reports_only_in_request_sense, .init = loaded_ibm, .fini = teardown)
{
	struct scsi_cmd c;
	uint8_t s[32];

	set_iec(0, 6, 0);
	raise_no_removal();
	tur_good();
	cdb_exec(&dev, &c, NX, CDB(REQUEST_SENSE, 0, 0, 0, sizeof(s), 0), NULL, 0, s, sizeof(s));
	cdb_assert_good(&c);
	cr_assert_eq(s[0] & 0x7f, 0x70);
	cr_assert_eq(s[2] & 0x0f, SK_NO_SENSE);
	cr_assert_eq(s[12], 0x5d);
	cr_assert_eq(s[13], 0x00);
	cdb_exec(&dev, &c, NX, CDB(REQUEST_SENSE, 0, 0, 0, sizeof(s), 0), NULL, 0, s, sizeof(s));
	cr_assert_eq(s[12], 0x00, "reported once");
}

/* ---- the drive asking for cleaning ---- */

static bool b2_lists(unsigned flag)
{
	uint8_t b[16];
	cr_assert_eq(vpd(0xb2, b, sizeof(b)), 16u);
	return (get_be64(b + 4) >> (64 - flag)) & 1;
}

static void ibm_interval_3(void)
{
	clean_interval = 3;
	ibm();
	clean_interval = 0;
}

Test(vendor_clean, interval_off_never_asks, .init = ibm, .fini = teardown)
{
	uint8_t b[512];

	cr_assert(!b2_lists(0x15), "15h not a flag this drive raises");
	load_tape("CLI001L6", false);
	for (int i = 0; i < 5; i++) {
		load_unload(false);
		load_unload(true);
	}
	log_sense(0x0c, b, sizeof(b));
	cr_assert_eq(log_value(b, 0x0100), 0, "CLEANING REQUIRED");
	log_sense(0x2e, b, sizeof(b));
	cr_assert_eq(log_value(b, 0x0015), 0);
}

Test(vendor_clean, interval_counts_loads_of_data_cartridges, .init = ibm_interval_3,
     .fini = teardown)
{
	uint8_t b[512];

	cr_assert(b2_lists(0x15), "VPD B2h lists 15h");
	load_tape("CLI002L6", false); /* load 1 */
	load_unload(false);
	load_unload(true); /* load 2 */
	log_sense(0x0c, b, sizeof(b));
	cr_assert_eq(log_value(b, 0x0100), 0);
	load_unload(false);
	load_unload(true); /* load 3 */
	log_sense(0x0c, b, sizeof(b));
	cr_assert_eq(log_value(b, 0x0100), 1, "CLEANING REQUIRED");
	log_sense(0x2e, b, sizeof(b));
	cr_assert_eq(log_value(b, 0x0015), 1, "clean periodic");
	cr_assert_eq(log_value(b, 0x0014), 0, "clean now is for a dirty head");
}

Test(vendor_clean, clean_periodic_reported_by_mrie, .init = ibm_interval_3, .fini = teardown)
{
	struct scsi_cmd c;

	load_tape("CLI003L6", false);
	set_iec(0, 4, 0);
	load_unload(false);
	load_unload(true);
	load_unload(false);
	load_unload(true); /* the third load sets 15h */
	tur(&c, NX);
	cdb_assert_sense(&c, SK_RECOVERED_ERROR, ASC_FAILURE_PREDICTION_THRESHOLD_EXCEEDED);
}

/* ---- comparison with a real IBM ULT3580-TD6 ----
 *
 * The facts below are from a published `sg_logs -a` of a real IBM
 * ULT3580-TD6, firmware KAJ8 (docs/compatibility.md, "Comparison with real
 * devices"): the log pages it lists, and the parameter codes each page it
 * shares with vtld carries. sg_logs printed decoded values, not bytes,
 * so what is compared is what the decoded output fixes: page codes,
 * parameter codes and order, units, and the bytes it printed in hex. */

static const uint8_t td6_log_pages[] = {0x00, 0x02, 0x03, 0x06, 0x0c, 0x11, 0x12, 0x14,
					0x16, 0x17, 0x1a, 0x1b, 0x2e, 0x30, 0x31, 0x32,
					0x33, 0x34, 0x37, 0x38, 0x39, 0x3b, 0x3c, 0x3d};

/* Parameter codes of the TD6's pages, as its sg_logs output lists them. */
static const uint16_t td6_0c[] = {0x0000, 0x0001, 0x0002, 0x0003, 0x0004, 0x0005, 0x0006,
				  0x0007, 0x0008, 0x0100, 0x8000, 0x8001, 0x8002, 0x8003};
static const uint16_t td6_14[] = {0x0000, 0x0001, 0x0002, 0x0003, 0x0004, 0x0005, 0x0006,
				  0x0007, 0x0008, 0x0009, 0x000a, 0x000b, 0x000c, 0x000d,
				  0x000e, 0x000f, 0x0010, 0x0011, 0x0012, 0x0013, 0x0014,
				  0x0015, 0x0040, 0x0041, 0x0080, 0x0081, 0x1000};
static const uint16_t td6_17[] = {0x0000, 0x0001, 0x0002, 0x0003, 0x0004, 0x0005, 0x0006, 0x0007,
				  0x0008, 0x0009, 0x000c, 0x000d, 0x000e, 0x000f, 0x0010, 0x0011,
				  0x0012, 0x0013, 0x0014, 0x0015, 0x0016, 0x0017, 0x0040, 0x0041,
				  0x0042, 0x0043, 0x0044, 0x0045, 0x0080, 0x0081, 0x0082, 0x0101,
				  0x0102, 0x0200, 0x0201, 0x0202, 0x0203, 0x0204};
static const uint16_t td6_31[] = {0x0001, 0x0002, 0x0003, 0x0004};
static const uint16_t td6_32[] = {0x0000, 0x0001, 0x0002, 0x0003, 0x0004,
				  0x0005, 0x0006, 0x0007, 0x0008, 0x0009};

static bool in_list(const uint16_t *l, size_t n, uint16_t v)
{
	for (size_t i = 0; i < n; i++)
		if (l[i] == v)
			return true;
	return false;
}

/* Every parameter of vtld's page is one the TD6 sends, in ascending
 * order as the TD6 sends them; returns how many. */
static size_t params_within(uint8_t page, const uint16_t *td6, size_t n)
{
	uint8_t b[1024];
	uint32_t len = log_sense(page, b, sizeof(b));
	size_t count = 0;
	int last = -1;

	for (uint32_t i = 4; i + 4 <= len; i += 4u + b[i + 3]) {
		uint16_t code = get_be16(b + i);
		cr_assert(in_list(td6, n, code), "page %02xh parameter %04xh: the TD6 has none",
			  page, code);
		cr_assert_gt((int)code, last, "page %02xh: ascending", page);
		last = code;
		count++;
	}
	return count;
}

static void td6_loaded(void)
{
	make_drive(TAPE_LTO6, SSC_VENDOR_IBM);
	load_tape("QIM001L6", false);
}

Test(real_td6, identity_strings, .init = td6_loaded, .fini = teardown)
{
	uint8_t b[96];
	struct scsi_cmd c;

	cdb_exec(&dev, &c, NX, CDB(INQUIRY, 0, 0, 0, 96, 0), NULL, 0, b, sizeof(b));
	cdb_assert_good(&c);
	cr_assert_arr_eq(b + 8, "IBM     ", 8);
	cr_assert_arr_eq(b + 16, "ULT3580-TD6     ", 16);
}

Test(real_td6, every_log_page_listed_is_one_the_td6_has, .init = td6_loaded, .fini = teardown)
{
	uint8_t b[256];
	uint32_t n = log_sense(0x00, b, sizeof(b));

	for (uint32_t i = 4; i < n; i++) {
		bool found = false;
		for (size_t k = 0; k < sizeof(td6_log_pages); k++)
			found |= td6_log_pages[k] == b[i];
		cr_assert(found, "page %02xh: the TD6 has none", b[i]);
	}
}

Test(real_td6, shared_pages_carry_td6_parameters_in_its_order, .init = td6_loaded, .fini = teardown)
{
	cr_assert_eq(params_within(0x0c, td6_0c, sizeof(td6_0c) / 2), 5);
	cr_assert_eq(params_within(0x14, td6_14, sizeof(td6_14) / 2), 3);
	cr_assert_eq(params_within(0x17, td6_17, sizeof(td6_17) / 2), 14);
	cr_assert_eq(params_within(0x31, td6_31, sizeof(td6_31) / 2), 4, "all four");
	cr_assert_eq(params_within(0x32, td6_32, sizeof(td6_32) / 2), 10, "all ten");
}

Test(real_td6, tapealert_page_has_the_td6s_64_flags, .init = td6_loaded, .fini = teardown)
{
	uint8_t b[512];
	uint32_t n = log_sense(0x2e, b, sizeof(b));

	/* The TD6 reports flags 01h-40h ("Reserved parameter code 0x40,
	 * flag: 0" is its last line), one byte each. */
	cr_assert_eq(n, 4u + 64u * 5u);
	for (uint16_t f = 1; f <= 64; f++) {
		cr_assert_eq(get_be16(b + 4 + (f - 1) * 5), f);
		cr_assert_eq(b[4 + (f - 1) * 5 + 3], 1);
	}
}

Test(real_td6, tapealert_response_page_as_the_td6_dumped_it, .init = td6_loaded, .fini = teardown)
{
	/* The TD6's bytes: 12 00 00 0c 00 00 43 08 00 00 00 00 00 00 00 00
	 * (control byte: bit 6, DS, and FORMAT AND LINKING 11b). */
	const uint8_t td6[16] = {0x12, 0, 0, 0x0c, 0, 0, 0x43, 0x08};
	uint8_t b[64];
	uint32_t n = log_sense(0x12, b, sizeof(b));

	cr_assert_eq(n, sizeof(td6));
	cr_assert_arr_eq(b, td6, sizeof(td6), "byte for byte");
}

Test(real_td6, volume_statistics_units_as_the_td6s, .init = td6_loaded, .fini = teardown)
{
	/* The TD6's LTO-6 cartridge, formatted in two partitions: native
	 * capacity 2463234 = 36764 + 2426470, its partitions' capacities,
	 * i.e. 10^6-byte units of an LTO-6's 2.5 TB less partition
	 * overhead (2.5e12 / 2^20 would be 2384185). vtld's unpartitioned
	 * LTO-6 is the full 2500000. */
	uint8_t b[512];

	log_sense(0x17, b, sizeof(b));
	cr_assert_eq(log_value(b, 0x0016), 2500000);
	cr_assert_eq(log_value(b, 0x0000), 1, "PAGE VALID, as the TD6's");
}
