/*
 * ssc_vendor.c - the vendor-specific VPD pages of the tape drive
 * personalities, the ones IBM's and HPE's tools (and sg_vpd --vendor)
 * read to tell which firmware a drive runs and which serial number it was
 * built with.
 *
 * IBM ULT3580-TD5..TD9 (IBM LTO SCSI Reference GA32-0928, "Firmware
 * Designation page" and "Drive Serial Numbers page"; sg3_utils decodes
 * them as "dcrl" and "dsn", sg_vpd --vendor=ibm_lto):
 *   C0h  page length 27h: CODE NAME (bytes 4-15), TIME "hhmmss" (16-22),
 *        DATE "yyyymmdd" (23-30), PLATFORM (31-42), ASCII, space padded;
 *   C1h  page length 18h: MANUFACTURING SERIAL NUMBER (4-15) and
 *        REPORTED SERIAL NUMBER (16-27), ASCII, space padded.
 * HPE Ultrium 5..9 (HP LTO Ultrium technical reference, volume 3 "Host
 * interface guide", "Drive Component Revision Levels pages"; "frl" in
 * sg_vpd --vendor=hp_lto):
 *   C0h  page length 5Ch: COMPONENT (bytes 4-29, "Firmware"), VERSION
 *        "RRR.VVV" (30-48), DATE "YYYY/MM/DD hh:mm" (49-72), VARIANT
 *        (73-95), each a null-terminated ASCII string.
 *
 * What the pages say is true of vtld: the firmware is vtl itself, so the
 * code name and version are PACKAGE_VERSION and the date and time are
 * those of the build (configure.ac: SOURCE_DATE_EPOCH when set). The
 * drive has one serial number, reported in both fields of IBM's C1h. The
 * HPE pages C1h-C5h describe hardware an emulated drive does not have
 * (hardware, PCA, mechanism, head assembly, autochanger interface
 * revisions) and are left out rather than filled with invented values.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "be.h"
#include "ssc_priv.h"

static void ascii(uint8_t *dst, size_t width, const char *src)
{
	spc_pad_ascii(dst, src, width);
}

/* A null-terminated string in a field of `width` bytes, the rest zero. */
static void asciz(uint8_t *dst, size_t width, const char *src)
{
	size_t n = strlen(src);

	if (n > width - 1)
		n = width - 1;
	memset(dst, 0, width);
	memcpy(dst, src, n);
}

static uint32_t page_out(uint8_t *buf, uint32_t cap, const uint8_t *page, uint32_t len)
{
	memcpy(buf, page, len < cap ? len : cap);
	return len;
}

bool ssc_vpd_ibm(const struct scsi_dev *dev)
{
	return ((const struct ssc_drive *)dev->priv)->cfg.vendor == SSC_VENDOR_IBM;
}

bool ssc_vpd_hpe(const struct scsi_dev *dev)
{
	return ((const struct ssc_drive *)dev->priv)->cfg.vendor == SSC_VENDOR_HPE;
}

#define IBM_C0_LEN 43u
#define IBM_C1_LEN 28u
#define HPE_CX_LEN 96u

/* IBM C0h, firmware designation. */
uint32_t ssc_vpd_ibm_firmware(struct scsi_dev *dev, uint8_t *buf, uint32_t cap)
{
	uint8_t p[IBM_C0_LEN] = {dev->type->peripheral_type, 0xc0, 0, IBM_C0_LEN - 4};

	ascii(p + 4, 12, "vtl-" PACKAGE_VERSION);
	ascii(p + 16, 7, VTL_BUILD_TIME);
	ascii(p + 23, 8, VTL_BUILD_DATE);
	ascii(p + 31, 12, "vtld");
	return page_out(buf, cap, p, sizeof(p));
}

/* IBM C1h, drive serial numbers: the manufacturing and the reported one
 * are the same here. */
uint32_t ssc_vpd_ibm_serials(struct scsi_dev *dev, uint8_t *buf, uint32_t cap)
{
	uint8_t p[IBM_C1_LEN] = {dev->type->peripheral_type, 0xc1, 0, IBM_C1_LEN - 4};

	ascii(p + 4, 12, dev->ident.serial);
	ascii(p + 16, 12, dev->ident.serial);
	return page_out(buf, cap, p, sizeof(p));
}

/* HPE C0h, firmware revision level: VERSION is "RRR.VVV", three digits of
 * major and of minor revision, from PACKAGE_VERSION "major.minor.patch". */
uint32_t ssc_vpd_hpe_firmware(struct scsi_dev *dev, uint8_t *buf, uint32_t cap)
{
	uint8_t p[HPE_CX_LEN] = {dev->type->peripheral_type, 0xc0, 0, HPE_CX_LEN - 4};
	unsigned major = 0, minor = 0;
	char version[24], date[24];
	const char *d = VTL_BUILD_DATE, *t = VTL_BUILD_TIME;

	(void)sscanf(PACKAGE_VERSION, "%u.%u", &major, &minor);
	snprintf(version, sizeof(version), "%03u.%03u", major % 1000, minor % 1000);
	snprintf(date, sizeof(date), "%.4s/%.2s/%.2s %.2s:%.2s", d, d + 4, d + 6, t, t + 2);
	asciz(p + 4, 26, "Firmware");
	asciz(p + 30, 19, version);
	asciz(p + 49, 24, date);
	asciz(p + 73, 23, dev->ident.product);
	return page_out(buf, cap, p, sizeof(p));
}
