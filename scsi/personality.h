/*
 * personality.h - the changer personalities a library can take: the
 * identity and conventions of a real (or AWS's virtual) medium changer, so
 * that backup software and Windows drivers that key on the INQUIRY strings
 * find the device they know.
 *
 * The names are AWS Tape Gateway's medium changer types (Storage Gateway
 * API Reference, UpdateVTLDeviceType, DeviceType: STK-L700 |
 * AWS-Gateway-VTL | IBM-03584L32-0402), chosen per library with
 * `[library] changer =` (docs/library.md). A personality gives:
 *   - the standard INQUIRY data (vendor, product, revision and, where the
 *     vendor documents its own layout, the rest of the bytes);
 *   - the element addresses a new library gets (the catalog keeps them
 *     afterwards, so switching personality never moves a cartridge);
 *   - the constraints the software that needs it imposes (barcode length).
 * Where each value comes from is in docs/compatibility.md.
 */
#ifndef VTL_PERSONALITY_H
#define VTL_PERSONALITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spc.h"

struct smc_personality {
	const char *name; /* AWS's DeviceType value, e.g. "IBM-03584L32-0402" */
	const char *vendor, *product, *revision;
	/* First element address of each type in a new library. */
	uint16_t transport_base, ie_base, drive_base, storage_base;
	/* Longest barcode the software that needs this personality takes;
	 * 0: the library's own limit. */
	uint8_t max_barcode;
	const char *max_barcode_why; /* who imposes it, for the message */
	/* Standard INQUIRY laid out as the vendor documents it (struct
	 * spc_inquiry_layout); NULL: SPC-4's full answer. */
	const struct spc_inquiry_layout *inquiry;
	/* SPC-4's answer only: report the barcode reader in byte 55 bit 0,
	 * the Exabyte extension mtx's loaderinfo reads. */
	bool exabyte_barcode_bit;
};

/* The personality named name (case-insensitive), or NULL. */
const struct smc_personality *smc_personality_find(const char *name);
/* STK-L700, the default. */
const struct smc_personality *smc_personality_default(void);
/* The names, for messages; personality.c checks it against its table. */
#define SMC_PERSONALITY_NAMES "STK-L700, AWS-Gateway-VTL or IBM-03584L32-0402"
/* Set the parts of id that the personality lays out beyond the strings
 * (id->inq and its vendor specific bytes, from id->serial): call after
 * filling id->serial. */
void smc_personality_ident(const struct smc_personality *p, struct spc_ident *id);

#endif
