/*
 * test_vendor.c - what IBM's and HPE's tools read from a tape drive beyond
 * SSC-4's core pages, at CDB level: the vendor VPD pages of each
 * personality (scsi/ssc_vendor.c), the volume statistics log page 17h and
 * the non-medium error, DT device status, tape diagnostic data, power
 * condition transitions, data compression and tape usage pages 06h, 11h,
 * 16h, 1Ah, 1Bh and 30h
 * (scsi/ssc_logs.c, decoded by sg3-utils' sg_logs as a host would),
 * the comparison with a real IBM ULT3580-TD6's log pages, informational
 * exception reporting of TapeAlert flags
 * (mode page 1Ch, scsi/spc.c) and the drive asking for cleaning.
 *
 * Every test drives a real drive object through spc_dispatch() on a real
 * cartridge in a fresh temporary directory; nothing is mocked.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <fcntl.h>
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
static const uint16_t td6_06[] = {0x0000};
static const uint16_t td6_11[] = {0x0000, 0x0001, 0x0002, 0x0003, 0x0004, 0x0101, 0x0102, 0x0200,
				  0x0201, 0x8000, 0x8001, 0x8100, 0x9101, 0x9102, 0xe000};
static const uint16_t td6_16[] = {0x0000, 0x0001, 0x0002, 0x0003, 0x0004, 0x0005,
				  0x0006, 0x0007, 0x0008, 0x0009, 0x000a, 0x000b};
static const uint16_t td6_1a[] = {0x0002, 0x0004};
static const uint16_t td6_1b[] = {0x0000, 0x0001, 0x0002, 0x0003, 0x0004, 0x0005,
				  0x0006, 0x0007, 0x0008, 0x0009, 0x0100};
static const uint16_t td6_30[] = {0x0001, 0x0002, 0x0003, 0x0004, 0x0005, 0x0006,
				  0x0007, 0x0008, 0x0009, 0x000a, 0x000b};
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

/* The TD6's pages vtld does not answer: IBM's vendor pages whose
 * layout IBM's reference does not give in a public source found here
 * (docs/compatibility.md, "Comparison with real devices"). */
static const uint8_t td6_not_in_vtld[] = {0x33, 0x34, 0x37, 0x38, 0x39, 0x3b, 0x3c, 0x3d};

Test(real_td6, log_page_list_is_the_td6s_but_the_pages_named, .init = td6_loaded, .fini = teardown)
{
	uint8_t b[256], want[sizeof(td6_log_pages)];
	size_t n_want = 0;

	for (size_t i = 0; i < sizeof(td6_log_pages); i++)
		if (!memchr(td6_not_in_vtld, td6_log_pages[i], sizeof(td6_not_in_vtld)))
			want[n_want++] = td6_log_pages[i];
	uint32_t n = log_sense(0x00, b, sizeof(b));
	cr_assert_eq(n - 4, n_want, "vtld lists %u pages, the TD6 less the named %zu", n - 4,
		     n_want);
	cr_assert_arr_eq(b + 4, want, n_want, "the same pages in the same order");
}

Test(real_td6, shared_pages_carry_td6_parameters_in_its_order, .init = td6_loaded, .fini = teardown)
{
	cr_assert_eq(params_within(0x06, td6_06, sizeof(td6_06) / 2), 1, "the only one");
	cr_assert_eq(params_within(0x0c, td6_0c, sizeof(td6_0c) / 2), 5);
	cr_assert_eq(params_within(0x11, td6_11, sizeof(td6_11) / 2), 1, "VHF data");
	cr_assert_eq(params_within(0x14, td6_14, sizeof(td6_14) / 2), 3);
	cr_assert_eq(params_within(0x16, td6_16, sizeof(td6_16) / 2), 12, "all twelve");
	cr_assert_eq(params_within(0x17, td6_17, sizeof(td6_17) / 2), 14);
	cr_assert_eq(params_within(0x1a, td6_1a, sizeof(td6_1a) / 2), 2, "both");
	cr_assert_eq(params_within(0x1b, td6_1b, sizeof(td6_1b) / 2), 11, "all eleven");
	cr_assert_eq(params_within(0x30, td6_30, sizeof(td6_30) / 2), 1, "thread count");
	cr_assert_eq(params_within(0x31, td6_31, sizeof(td6_31) / 2), 4, "all four");
	cr_assert_eq(params_within(0x32, td6_32, sizeof(td6_32) / 2), 10, "all ten");
}

Test(real_td6, dt_device_status_vhf_as_the_td6s_with_a_tape_unloaded, .init = td6_loaded,
     .fini = teardown)
{
	/* The TD6's VHF data, its cartridge in but unloaded by the host:
	 * PAMR=0 HUI=1 MACC=0 CMPR=1 WRTP=1 CRQST=0 CRQRD=0 DINIT=1,
	 * INXTN=0 RAA=1 MPRSNT=1 MSTD=0 MTHRD=0 MOUNTED=0, no activity.
	 * vtld's differ in MACC (vtld reads the cartridge memory of an
	 * unloaded cartridge; the TD6 did not) and WRTP (the TD6's
	 * cartridge was write protected, vtld's is not). */
	uint8_t b[64];

	load_unload(false);
	uint32_t n = log_sense(0x11, b, sizeof(b));
	cr_assert_eq(n, 12u);
	cr_assert_eq(get_be16(b + 4), 0x0000);
	cr_assert_eq(b[6], 0x03, "binary format");
	cr_assert_eq(b[7], 4);
	cr_assert_eq(b[8], 0x40 | 0x20 | 0x10 | 0x01, "HUI MACC CMPR DINIT");
	cr_assert_eq(b[9], 0x20 | 0x10, "RAA MPRSNT");
	cr_assert_eq(b[10], 0x00, "no DT device activity");
	cr_assert_eq(b[11], 0x00);
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

/* ---- log pages 06h, 11h, 1Ah, 1Bh, 30h ---- */

static uint8_t vhf(int i)
{
	uint8_t b[64];

	log_sense(0x11, b, sizeof(b));
	cr_assert_eq(get_be16(b + 4), 0x0000, "VERY HIGH FREQUENCY DATA first");
	return b[8 + i];
}

Test(vendor_logs, vhf_of_an_empty_drive, .init = ibm, .fini = teardown)
{
	cr_assert_eq(vhf(0), 0x10 | 0x01, "CMPR (on by default) and DINIT only");
	cr_assert_eq(vhf(1), 0x20, "RAA: the library may load it");
	cr_assert_eq(vhf(3), 0x00);
}

Test(vendor_logs, vhf_of_a_loaded_tape_and_its_removal_prevented, .init = ibm, .fini = teardown)
{
	struct scsi_cmd c;

	load_tape("VHF001L6", false);
	cr_assert_eq(vhf(0), 0x20 | 0x10 | 0x01, "MACC CMPR DINIT");
	cr_assert_eq(vhf(1), 0x10 | 0x04 | 0x02 | 0x01, "MPRSNT MSTD MTHRD MOUNTED, no RAA");
	raise_no_removal();
	cr_assert_eq(vhf(0) & 0x80, 0x80, "PAMR");
	cr_assert_eq(vhf(3), 0x01, "TAFC: TapeAlert 0Ah No removal is set");
	uint8_t ta[512];
	log_sense(0x2e, ta, sizeof(ta));
	cr_assert_eq(vhf(3), 0x00, "TAFC clear once the TapeAlert page was read");
	cdb_exec(&dev, &c, NX, CDB(PREVENT_ALLOW_MEDIUM_REMOVAL, 0, 0, 0, 0, 0), NULL, 0, NULL, 0);
	cdb_assert_good(&c);
	cr_assert_eq(vhf(0) & 0x80, 0, "PAMR clear when allowed");
}

Test(vendor_logs, vhf_write_protect_and_library_unload, .init = ibm, .fini = teardown)
{
	cr_assert_eq(ssc_insert(&dev, make_tape("VHF002L6", TAPE_LTO6, true)), 0);
	cdb_drain_ua(&dev, NX);
	cr_assert_eq(vhf(0) & 0x08, 0, "a WORM cartridge is not write protected");
	cr_assert_eq(ssc_library_unload(&dev), 0);
	cr_assert_eq(vhf(0) & 0x40, 0, "HUI clear: the library unloaded it");
	cr_assert_eq(vhf(1), 0x20 | 0x10, "RAA MPRSNT");
}

Test(vendor_logs, vhf_compression_follows_the_mode_page, .init = ibm, .fini = teardown)
{
	/* Data compression mode page 0Fh with DCE 0 (SSC-4 8.3.2). */
	uint8_t pl[4 + 16] = {0, 0, 0x10, 0, 0x0f, 0x0e, 0x40, 0x80, 0, 0, 0, 1, 0, 0, 0, 1};
	struct scsi_cmd c;

	pl[6] = 0x40; /* DCC 1, DCE 0 */
	cdb_exec(&dev, &c, NX, CDB(MODE_SELECT_6, 0x10, 0, 0, sizeof(pl), 0), pl, sizeof(pl), NULL,
		 0);
	cdb_assert_good(&c);
	cr_assert_eq(vhf(0) & 0x10, 0, "CMPR clear");
	uint8_t b[256];
	log_sense(0x1b, b, sizeof(b));
	cr_assert_eq(log_value(b, 0x0100), 0, "DATA COMPRESSION ENABLED 0");
}

Test(vendor_logs, data_compression_1b_matches_32_and_says_enabled, .init = ibm, .fini = teardown)
{
	uint8_t b1b[256], b32[256];

	load_tape("DC0001L6", false);
	write_block(1 << 20, 0x00);
	wfm();
	uint32_t n1b = log_sense(0x1b, b1b, sizeof(b1b));
	uint32_t n32 = log_sense(0x32, b32, sizeof(b32));
	cr_assert_eq(n1b, n32 + 5, "32h's parameters and 0100h");
	cr_assert_arr_eq(b1b + 4, b32 + 4, n32 - 4, "the same counters");
	cr_assert_eq(log_value(b1b, 0x0100), 1, "DATA COMPRESSION ENABLED");
	cr_assert_eq(log_value(b1b, 0x0006), 1, "1 MiB from the host");
}

Test(vendor_logs, tape_usage_thread_count_is_the_cartridges_loads, .init = ibm, .fini = teardown)
{
	uint8_t b[64];

	cr_assert_eq(log_sense(0x30, b, sizeof(b)), 4u, "no cartridge, no parameter");
	load_tape("TU0001L6", false);
	log_sense(0x30, b, sizeof(b));
	uint64_t first = log_value(b, 0x0001);
	cr_assert_geq(first, 1);
	load_unload(false);
	load_unload(true);
	log_sense(0x30, b, sizeof(b));
	cr_assert_eq(log_value(b, 0x0001), first + 1, "one more thread");
	uint8_t vs[512];
	log_sense(0x17, vs, sizeof(vs));
	cr_assert_eq(log_value(vs, 0x0001), first + 1, "as 17h's VOLUME MOUNTS");
}

Test(vendor_logs, non_medium_and_power_transitions_count_nothing, .init = ibm, .fini = teardown)
{
	uint8_t b[64];

	cr_assert_eq(log_sense(0x06, b, sizeof(b)), 12u);
	cr_assert_eq(log_value(b, 0x0000), 0);
	cr_assert_eq(log_sense(0x1a, b, sizeof(b)), 20u);
	cr_assert_eq(log_value(b, 0x0002), 0);
	cr_assert_eq(log_value(b, 0x0004), 0);
}

/* sg_logs (sg3_utils, Debian) decodes the page in buf: its output, from
 * --in of the bytes in hex, into out. */
static void sg_logs_decode(const uint8_t *buf, uint32_t len, const char *opts, char *out,
			   size_t cap)
{
	char hex[PATH_MAX + 32], cmd[2 * PATH_MAX];
	snprintf(hex, sizeof(hex), "%s/page.hex", root);
	FILE *f = fopen(hex, "w");
	cr_assert_not_null(f);
	for (uint32_t i = 0; i < len; i++)
		fprintf(f, "%02x%c", buf[i], i % 16 == 15 ? '\n' : ' ');
	fclose(f);
	snprintf(cmd, sizeof(cmd), "sg_logs --pdt=1 %s --in=%s 2>&1", opts, hex);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p, "popen %s", cmd);
	size_t n = fread(out, 1, cap - 1, p);
	out[n] = 0;
	int rc = pclose(p);
	cr_assert_eq(rc, 0, "%s exits 0 (is sg3-utils installed? scripts/install-deps.sh): %s", cmd,
		     out);
}

static void decodes_as(uint8_t page, const char *opts, const char *const *want, size_t n_want)
{
	uint8_t b[1024];
	char out[8192];
	uint32_t n = log_sense(page, b, sizeof(b));

	sg_logs_decode(b, n, opts, out, sizeof(out));
	for (size_t i = 0; i < n_want; i++)
		cr_assert_not_null(strstr(out, want[i]),
				   "page %02xh: sg_logs says\n%s\nwithout '%s'", page, out,
				   want[i]);
	cr_assert_null(strstr(out, "badly formed"), "page %02xh: %s", page, out);
	cr_assert_null(strstr(out, "less than"), "page %02xh: %s", page, out);
	cr_assert_null(strstr(out, "Reserved"), "page %02xh: %s", page, out);
}

Test(vendor_logs, sg_logs_decodes_every_new_page, .init = ibm, .fini = teardown)
{
	load_tape("SGL001L6", false);
	write_block(4096, 0x11);

	const char *nm[] = {"Non-medium error page", "Non-medium error count = 0"};
	decodes_as(0x06, "", nm, 2);
	const char *dt[] = {"DT device status page",
			    "PAMR=0 HUI=0 MACC=1 CMPR=1 WRTP=0 CRQST=0 CRQRD=0 DINIT=1",
			    "INXTN=0 RAA=0 MPRSNT=1 MSTD=1 MTHRD=1 MOUNTED=1",
			    "DT device activity: No DT device activity",
			    "VS=0 TDDEC=0 EPP=0 ESR=0 RRQST=0 INTFC=0 TAFC=0"};
	decodes_as(0x11, "", dt, 5);
	const char *pc[] = {"Power condition transitions page",
			    "Accumulated transitions to idle_a = 0",
			    "Accumulated transitions to idle_c = 0"};
	decodes_as(0x1a, "", pc, 3);
	const char *dc[] = {"Data compression page  (ssc-4) [0x1b]",
			    "Bytes transferred from server: 4096", "Data compression enabled: 0x1"};
	decodes_as(0x1b, "", dc, 3);
	const char *tu[] = {"Tape usage page", "Thread count: 1"};
	decodes_as(0x30, "", tu, 2);
}

Test(vendor_logs, vhf_epp_while_encryption_parameters_are_established, .init = ibm,
     .fini = teardown)
{
	/* SECURITY PROTOCOL OUT, Set Data Encryption page (SSC-4 8.5.3.2):
	 * scope ALL I_T NEXUS, ENCRYPT/DECRYPT, algorithm index 1, a
	 * 32-byte key; then DISABLE/DISABLE, which drops them. */
	uint8_t pg[52], cdb[12] = {SECURITY_PROTOCOL_OUT, 0x20, 0x00, 0x10};
	struct scsi_cmd c;

	cr_assert_eq(vhf(3) & 0x10, 0, "no parameters: EPP 0");
	memset(pg, 0, sizeof(pg));
	put_be16(pg, 0x0010);
	put_be16(pg + 2, sizeof(pg) - 4);
	pg[4] = 2 << 5;
	pg[6] = 2;
	pg[7] = 2;
	pg[8] = 1;
	put_be16(pg + 18, 32);
	memset(pg + 20, 0x5a, 32);
	put_be32(cdb + 6, sizeof(pg));
	cdb_exec(&dev, &c, NX, cdb, sizeof(cdb), pg, sizeof(pg), NULL, 0);
	cdb_assert_good(&c);
	cr_assert_eq(vhf(3) & 0x10, 0x10, "EPP");
	memset(pg + 4, 0, sizeof(pg) - 4);
	pg[4] = 2 << 5;
	pg[8] = 1;
	put_be16(pg + 2, 16);
	put_be32(cdb + 6, 20);
	cdb_exec(&dev, &c, NX, cdb, sizeof(cdb), pg, 20, NULL, 0);
	cdb_assert_good(&c);
	cr_assert_eq(vhf(3) & 0x10, 0, "EPP clear once disabled");
}

/* ---- comparison with a real IBM ULTRIUM-HH8 ----
 *
 * A published `tapeinfo -f /dev/nst0` (mtx 1.3) of an IBM ULTRIUM-HH8,
 * firmware MA21, with an LTO-8 cartridge at BOP (docs/compatibility.md,
 * "Comparison with real devices"). tapeinfo prints fields of READ BLOCK
 * LIMITS, the MODE SENSE(6) header and block descriptor, mode pages 0Fh
 * and 10h and READ POSITION; each is compared here at the byte tapeinfo
 * reads it from, on vtld's IBM LTO-8 drive (ULT3580-TD8, the full-height
 * model of the same generation). Not compared: the identity strings and
 * revision (another model), NumPartitions/MaxPartitions (mode page 11h,
 * which vtld does not have: it does not partition) and "Partition 0
 * Remaining Kbytes: -1" (the HH8 answered FFFFFFFFh in log page 31h; vtld
 * reports the cartridge's capacity). */

static void hh8_loaded(void)
{
	make_drive(TAPE_LTO8, SSC_VENDOR_IBM);
	cr_assert_eq(ssc_insert(&dev, make_tape("HH8001L8", TAPE_LTO8, false)), 0);
	cdb_drain_ua(&dev, NX);
}

/* tapeinfo's mode_sense(): MODE SENSE(6), DBD 0, 255 bytes. */
static uint32_t mode_sense6_255(uint8_t page, uint8_t *buf)
{
	struct scsi_cmd c;

	cdb_exec(&dev, &c, NX, CDB(MODE_SENSE_6, 0, page, 0, 255, 0), NULL, 0, buf, 255);
	cdb_assert_good(&c);
	return c.in_len;
}

Test(real_hh8, block_limits_as_tapeinfo_shows, .init = hh8_loaded, .fini = teardown)
{
	uint8_t b[6];
	struct scsi_cmd c;

	cdb_exec(&dev, &c, NX, CDB(READ_BLOCK_LIMITS, 0, 0, 0, 0, 0), NULL, 0, b, sizeof(b));
	cdb_assert_good(&c);
	cr_assert_eq(get_be16(b + 4), 1, "MinBlock: 1");
	cr_assert_eq(get_be24(b + 1), 8388608, "MaxBlock: 8388608");
}

Test(real_hh8, compression_page_and_header_as_tapeinfo_shows, .init = hh8_loaded, .fini = teardown)
{
	uint8_t b[256];

	mode_sense6_255(0x0f, b);
	cr_assert_eq(b[2] & 0x80, 0, "no WriteProtect line");
	cr_assert_neq(b[2] & 0x70, 0, "BufferedMode: yes");
	cr_assert_eq(b[1], 0x88, "Medium Type: 0x88");
	cr_assert_eq(b[3], 8, "one block descriptor");
	cr_assert_eq(b[4], 0x5e, "Density Code: 0x5e");
	cr_assert_eq(get_be24(b + 9), 0, "BlockSize: 0");
	const uint8_t *pg = b + 4 + b[3];
	cr_assert_eq(pg[0] & 0x3f, 0x0f);
	cr_assert_neq(pg[2] & 0x80, 0, "DataCompEnabled: yes");
	cr_assert_neq(pg[2] & 0x40, 0, "DataCompCapable: yes");
	cr_assert_neq(pg[3] & 0x80, 0, "DataDeCompEnabled: yes");
	cr_assert_eq(get_be32(pg + 4), 0xff, "CompType: 0xff");
	cr_assert_eq(get_be32(pg + 8), 0xff, "DeCompType: 0xff");
}

Test(real_hh8, position_and_configuration_as_tapeinfo_shows, .init = hh8_loaded, .fini = teardown)
{
	uint8_t b[256], rp[20];
	struct scsi_cmd c;

	cdb_exec(&dev, &c, NX, CDB(TEST_UNIT_READY, 0, 0, 0, 0, 0), NULL, 0, NULL, 0);
	cdb_assert_good(&c); /* Ready: yes */
	cdb_exec(&dev, &c, NX, CDB(READ_POSITION, 0, 0, 0, 0, 0, 0, 0, 0, 0), NULL, 0, rp,
		 sizeof(rp));
	cdb_assert_good(&c);
	cr_assert_neq(rp[0] & 0x80, 0, "BOP: yes");
	cr_assert_eq(rp[0] & 0x04, 0, "a valid block position");
	cr_assert_eq(get_be32(rp + 4), 0, "Block Position: 0");
	mode_sense6_255(0x10, b);
	const uint8_t *pg = b + 4 + b[3];
	cr_assert_eq(pg[0] & 0x3f, 0x10);
	cr_assert_eq(pg[3], 0, "ActivePartition: 0");
	cr_assert_eq(get_be24(pg + 11), 0, "EarlyWarningSize: 0");
}

Test(real_hh8, earlier_ibm_generations_keep_algorithm_1, .init = ibm, .fini = teardown)
{
	/* tapeinfo of an IBM ULT3580-TD4 shows CompType 0x1; no capture of
	 * a TD5-TD7 shows the field, so the LTO-6 drive keeps 01h. */
	uint8_t b[256];

	mode_sense6_255(0x0f, b);
	cr_assert_eq(get_be32(b + 4 + b[3] + 4), 0x01);
}

/* ---- tape diagnostic data (16h) ---- */

/* Flip a byte near the end of the tape's segment file holding the record
 * just written, so that reading it fails its CRC (MEDIUM ERROR 11/00). */
static void damage_last_record(void)
{
	char path[PATH_MAX * 2];
	bool flipped = false;

	for (int id = 0; id < 8 && !flipped; id++) {
		snprintf(path, sizeof(path), "%s/seg-%016x.dat", tapedir, id);
		int fd = open(path, O_RDWR);
		if (fd < 0)
			continue;
		off_t size = lseek(fd, 0, SEEK_END);
		if (size > 200) {
			uint8_t b;
			cr_assert_eq(pread(fd, &b, 1, size - 100), 1);
			b ^= 0x40;
			cr_assert_eq(pwrite(fd, &b, 1, size - 100), 1);
			flipped = true;
		}
		close(fd);
	}
	cr_assert(flipped, "found the segment file");
}

static void read_damaged_record(void)
{
	struct scsi_cmd c;
	static uint8_t r[8192];

	cdb_exec(&dev, &c, NX, CDB(REWIND, 0, 0, 0, 0, 0), NULL, 0, NULL, 0);
	cdb_assert_good(&c);
	cdb_exec(&dev, &c, NX, CDB(READ_6, 0, 0, 0x20, 0x00, 0), NULL, 0, r, sizeof(r));
	cdb_assert_sense(&c, SK_MEDIUM_ERROR, ASC_UNRECOVERED_READ_ERROR);
}

static void load_damaged(void)
{
	ibm();
	load_tape("TDD001L6", false);
	struct scsi_cmd c;

	write_block(8192, 0xa5);
	/* WRITE FILEMARKS of 0: the record is on the medium, and last. */
	cdb_exec(&dev, &c, NX, CDB(WRITE_FILEMARKS_6, 0, 0, 0, 0, 0), NULL, 0, NULL, 0);
	cdb_assert_good(&c);
	damage_last_record();
}

Test(vendor_logs, tape_diag_has_twelve_empty_entries_at_first, .init = ibm, .fini = teardown)
{
	uint8_t b[1024];

	cr_assert_eq(log_sense(0x16, b, sizeof(b)), 4u + 12u * 72u);
	for (uint32_t i = 4; i < 4u + 12u * 72u; i += 72) {
		cr_assert_eq(get_be16(b + i), (i - 4) / 72);
		cr_assert_eq(b[i + 3], 68);
		for (uint32_t k = 4; k < 72; k++)
			cr_assert_eq(b[i + k], 0, "entry %u unused: all zero", (i - 4) / 72);
	}
	cr_assert_eq(vhf(3) & 0x20, 0, "TDDEC clear");
}

Test(vendor_logs, tape_diag_records_a_medium_error, .init = load_damaged, .fini = teardown)
{
	uint8_t b[1024], want_id[32];

	read_damaged_record();
	cr_assert_eq(vhf(3) & 0x20, 0x20, "TDDEC: a new entry");
	log_sense(0x16, b, sizeof(b));
	const uint8_t *e = b + 4;
	cr_assert_eq(get_be16(e), 0x0000, "the most recent first");
	cr_assert_eq(e[6], tape_media_density(TAPE_LTO6), "DENSITY CODE");
	cr_assert_eq(e[7], 0x68, "MEDIUM TYPE: IBM's LTO-6 data cartridge");
	cr_assert_eq(e[13], SK_MEDIUM_ERROR);
	cr_assert_eq(e[14] << 8 | e[15], ASC_UNRECOVERED_READ_ERROR);
	cr_assert_arr_eq(e + 20, "J451", 4, "PRODUCT REVISION LEVEL: the TD6's");
	cr_assert_eq(e[28], READ_6, "OPERATION CODE");
	cr_assert_eq(e[29], 0, "no service action");
	memset(want_id, ' ', sizeof(want_id));
	memcpy(want_id, "MSNTDD001L6", 11);
	cr_assert_arr_eq(e + 32, want_id, 32, "MEDIUM ID NUMBER: the cartridge's serial");
	cr_assert_eq(e[64], 0, "timestamp origin: since power on");
	cr_assert_arr_eq(b + 4 + 72 + 4, (uint8_t[68]){0}, 68, "entry 1 still unused");
	cr_assert_eq(vhf(3) & 0x20, 0, "TDDEC clear once the page was read");

	read_damaged_record();
	log_sense(0x16, b, sizeof(b));
	cr_assert_eq(b[4 + 72 + 13], SK_MEDIUM_ERROR, "the first error moved to entry 1");

	struct scsi_cmd c;
	cdb_exec(&dev, &c, NX, CDB(LOG_SELECT, 0x02, 0x40 | 0x16, 0, 0, 0, 0, 0, 0, 0), NULL, 0,
		 NULL, 0);
	cdb_assert_good(&c);
	log_sense(0x16, b, sizeof(b));
	cr_assert_eq(b[4 + 13], 0, "LOG SELECT (PCR) cleared the entries");
}

Test(vendor_logs, sg_logs_decodes_a_tape_diag_entry, .init = load_damaged, .fini = teardown)
{
	read_damaged_record();
	const char *td[] = {"Tape diagnostics data page", "Sense key: 0x3 [Medium Error]",
			    "Additional sense code: 0x11", "Operation code: 0x8",
			    "Parameter code: 11"};
	decodes_as(0x16, "", td, 5);
}
