/*
 * smc.h - a media changer logical unit (SMC-3).
 *
 * The changer knows its element layout (what addresses exist and of which
 * type) and the state of its import/export port; it does not own the
 * inventory. Where each cartridge is lives in the catalog, behind the
 * library model (vtl/library.c), which the changer reaches through struct
 * smc_backend. So READ ELEMENT STATUS always reports what the catalog
 * holds, and a MOVE MEDIUM is exactly one catalog transaction (plus the
 * drive load or unload), never a second copy to keep in step.
 *
 * The backend is called with the changer's dev->lock held (inside
 * spc_dispatch). Code outside a command that changes the inventory (the
 * control socket) takes the same lock first, so the changer never sees a
 * half-made change, and then raises the unit attention with smc_notify().
 */
#ifndef VTL_SMC_H
#define VTL_SMC_H

#include <stdbool.h>
#include <stdint.h>

#include "spc.h"

/* Element type codes (SMC-3 table "Element type code"). */
enum smc_element_type {
	SMC_ET_ALL = 0,
	SMC_ET_TRANSPORT = 1,
	SMC_ET_STORAGE = 2,
	SMC_ET_IE = 3,
	SMC_ET_DRIVE = 4,
};

/* First address and count of each element type (mode page 0x1D). */
struct smc_layout {
	uint16_t base[5]; /* indexed by smc_element_type, [0] unused */
	uint16_t count[5];
};

/* What the backend reports for one element. */
struct smc_element {
	uint16_t addr;
	uint8_t type;
	bool full;
	bool impexp; /* I/E only: placed by the operator (1) or by the transport (0) */
	bool except;
	uint16_t asc_ascq; /* with except */
	bool svalid;
	uint16_t source;
	char barcode[17];
	bool cleaning; /* a cleaning cartridge (MEDIUM TYPE 010b) */
	/* Drives only: */
	bool loaded;	/* threaded in the drive: the picker cannot take it (ACCESS 0) */
	char dvcid[33]; /* the drive LUN's unit serial number */
	bool lu_valid;
	uint8_t lun;
};

/* Why a move was refused: a sense key and ASC/ASCQ. */
struct smc_refusal {
	uint8_t key;
	uint16_t asc_ascq;
};

struct smc_backend {
	/*
	 * Fill els[0..n) for the elements whose addresses the changer put in
	 * els[i].addr (in layout order). Return 0 or a negative errno.
	 */
	int (*inventory)(void *ctx, struct smc_element *els, size_t n);
	/*
	 * Move the medium at src to dst (both valid addresses, src full, dst
	 * empty as last reported). Return 0, or fill *why and return a
	 * negative errno (e.g. drive not unloaded, I/O failure).
	 */
	int (*move)(void *ctx, uint16_t src, uint16_t dst, struct smc_refusal *why);
	void *ctx;
};

struct smc_config {
	struct smc_layout layout;
	struct smc_backend backend;
};

/* Make dev a changer. The caller fills dev->ident (INQUIRY) afterwards. */
int smc_changer_init(struct scsi_dev *dev, const struct smc_config *cfg);
void smc_changer_destroy(struct scsi_dev *dev);

/* Type of the element at addr, or -1 if the address is not assigned. */
int smc_element_type_of(const struct scsi_dev *dev, uint16_t addr);
uint16_t smc_element_addr(const struct scsi_dev *dev, enum smc_element_type type, uint32_t ordinal);

/* Is the import/export port open (OPEN/CLOSE IMPORT/EXPORT ELEMENT)?
 * Call with dev->lock held. */
bool smc_ie_open(const struct scsi_dev *dev);

/*
 * The inventory changed outside a command (operator action): raise
 * asc_ascq for every I_T nexus, e.g. IMPORT OR EXPORT ELEMENT ACCESSED when
 * the operator used the I/E port, or NOT READY TO READY CHANGE, MEDIUM MAY
 * HAVE CHANGED otherwise (unit attention conditions, SAM-5; 28h/01h and
 * 28h/00h in SPC-4's table of additional sense codes). Call with
 * dev->lock held.
 */
void smc_notify(struct scsi_dev *dev, uint16_t asc_ascq);

#endif
