/*
 * personality.c - the table of changer personalities (see personality.h).
 *
 * One row per AWS Tape Gateway medium changer type. What is known of each
 * real device, and from where, is in docs/compatibility.md ("Changer
 * personalities"); where no public source shows a value, the row says what
 * was chosen instead, so the two never drift apart:
 *
 *   STK-L700: vendor STK, product L700, revision 0107 (the strings mhVTL's
 *     L700 and vtl have always reported; AWS does not publish its
 *     revision); element addresses of the StorageTek L700e/L180 SCSI
 *     reference: transport 1, CAP (I/E) from 10, drives from 500, storage
 *     from 1000; SPC-4's standard INQUIRY, with the barcode reader in
 *     byte 55 bit 0 (chosen: no L700 dump shows that byte).
 *   AWS-Gateway-VTL: no public INQUIRY dump of AWS's own changer was found;
 *     vendor AWS, product Gateway-VTL (AWS's name split at the vendor
 *     field's 8 bytes, as "STK-L700" is STK / L700), revision 0100 chosen;
 *     the L700's element addresses and INQUIRY layout.
 *   IBM-03584L32-0402: vendor IBM, product 03584L32 (IBM TS4500/TS3500
 *     SCSI reference, "Inquiry Standard Data: Valid LUN": the LTO logical
 *     library), revision 0402 (AWS's name); the standard INQUIRY in IBM's
 *     documented 56-byte layout: VERSION 03h, HISUP 0, BarC 1, bytes 36-37
 *     plant of manufacture, 38-49 the serial number, 50-51 ASCII "0";
 *     drives from 0101h as IBM's reference gives the data transfer element
 *     range; I/E from 0301h and storage from 0401h chosen to follow it;
 *     barcodes of at most 8 characters, as AWS requires for IBM Spectrum
 *     Protect.
 */
#include "config.h"

#include "personality.h"

#include <string.h>
#include <strings.h>

/* IBM 3584 standard INQUIRY (IBM TS4500 SCSI reference, "Inquiry Standard
 * Data: Valid LUN"): ANSI version 3, response data format 2, BarC. */
static const struct spc_inquiry_layout ibm_3584_inquiry = {
    .version = 0x03,
    .flags3 = 0x02,
    .flags6 = 0x20,
    .flags7 = 0x02,
    .length = 56,
};

static const struct smc_personality personalities[] = {
    {
	.name = "STK-L700",
	.vendor = "STK",
	.product = "L700",
	.revision = "0107",
	.transport_base = 1,
	.ie_base = 10,
	.drive_base = 500,
	.storage_base = 1000,
	.exabyte_barcode_bit = true,
    },
    {
	.name = "AWS-Gateway-VTL",
	.vendor = "AWS",
	.product = "Gateway-VTL",
	.revision = "0100",
	.transport_base = 1,
	.ie_base = 10,
	.drive_base = 500,
	.storage_base = 1000,
	.exabyte_barcode_bit = true,
    },
    {
	.name = "IBM-03584L32-0402",
	.vendor = "IBM",
	.product = "03584L32",
	.revision = "0402",
	.transport_base = 0x0001,
	.ie_base = 0x0301,
	.drive_base = 0x0101,
	.storage_base = 0x0401,
	.max_barcode = 8,
	.max_barcode_why = "IBM Spectrum Protect, which this personality is for, takes barcodes "
			   "of at most 8 characters (AWS Tape Gateway documentation)",
	.inquiry = &ibm_3584_inquiry,
    },
};

const struct smc_personality *smc_personality_find(const char *name)
{
	for (size_t i = 0; i < sizeof(personalities) / sizeof(personalities[0]); i++)
		if (strcasecmp(name, personalities[i].name) == 0)
			return &personalities[i];
	return NULL;
}

const struct smc_personality *smc_personality_default(void)
{
	return &personalities[0];
}

void smc_personality_ident(const struct smc_personality *p, struct spc_ident *id)
{
	id->inq = p->inquiry;
	memset(id->inq_vs, 0, sizeof(id->inq_vs));
	if (!p->inquiry) {
		/* Byte 55 bit 0: a barcode reader is present (Exabyte's
		 * extension; mtx's loaderinfo reads it when the additional
		 * length is above 32h). Every vtld changer reads barcodes. */
		if (p->exabyte_barcode_bit)
			id->inq_vs[19] = 0x01;
		return;
	}
	/* IBM's bytes 36-51: plant of manufacture (2 ASCII characters, "00":
	 * a virtual library is made nowhere), the 12-character serial
	 * number right-aligned and zero-filled as IBM library serials are,
	 * then ASCII "0" twice; 52-55 reserved. */
	uint8_t *v = id->inq_vs;
	memcpy(v, "00", 2);
	size_t n = strnlen(id->serial, sizeof(id->serial));
	const char *s = id->serial + (n > 12 ? n - 12 : 0);
	size_t k = n > 12 ? 12 : n;
	memset(v + 2, '0', 12 - k);
	memcpy(v + 2 + 12 - k, s, k);
	memcpy(v + 14, "00", 2);
}
