/*
 * library.h - the library model: one changer and N drives built from the
 * catalog, the coupling between them, and every administrative action.
 *
 * The model owns the catalog and the scsi_dev objects. Each change of the
 * inventory, whether an initiator's MOVE MEDIUM or an operator's command
 * from the control socket, runs under the changer's lock (lock order:
 * changer, then drive) and is one catalog transaction; operator changes
 * then raise the changer unit attention that a real library raises, so
 * initiators re-read the inventory.
 *
 * Functions return 0 or a negative errno. When they refuse, they write a
 * sentence for a person into err (what failed, on which object, what to
 * do); they never print.
 */
#ifndef VTL_LIBRARY_H
#define VTL_LIBRARY_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog/catalog.h"
#include "scsi/ssc.h"

struct scsi_dev;
struct lib;

#define LIB_ERR_MAX 512

struct lib_config {
	char data_dir[PATH_MAX];
	/* The changer's identity (INQUIRY). */
	char vendor[9];
	char product[17];
	char revision[5];
	char serial[33]; /* empty: generated at creation */
	/* Layout, used when the catalog is created; afterwards the catalog
	 * is authoritative. */
	uint16_t n_drives, n_slots, n_ie;
	uint16_t transport_base, drive_base, storage_base, ie_base;
	enum tape_media drive_media;
	enum ssc_vendor drive_vendor;
	/* New tapes. */
	enum tape_media default_media;
	/* The shelf is the object store (vtl/shelf.c): archiving waits for
	 * the upload, retrieving for the download, and lib_open leaves
	 * ARCHIVING and RETRIEVING tapes for the uploader to finish. false:
	 * the local shelf (data stays under DATA_DIR/tapes). */
	bool object_store;
	/* MOVE MEDIUM out of a drive element unloads the drive (most
	 * libraries do; Bacula's mtx-changer and Amanda's chg-robot expect it
	 * by default). false: the host must unload it first (LOAD UNLOAD),
	 * or the move fails with 53/01 as IBM's TS3310 reports. */
	bool auto_unload;
	/* Where the library says what it repaired or refused at open and on
	 * loads (level 0 error, 1 warning, 2 info); NULL: silent. */
	void (*log)(void *arg, int level, const char *msg);
	void *log_arg;
	/* The catalog is being rebuilt (vtld --rebuild-catalog): an empty
	 * catalog may be created over a data directory holding cartridges. */
	bool rebuild;
	/* Does the object store hold tapes already? Asked only before a new
	 * library is created, to say so: 1 yes (found names one key), 0 no,
	 * negative errno when it cannot tell. NULL: not asked. */
	int (*store_holds_tapes)(void *arg, char *found, size_t cap);
	void *store_arg;
};

/* The defaults: STK L700, 4 IBM LTO-8 drives, 40 slots, 4 I/E ports. */
void lib_config_defaults(struct lib_config *cfg);

/*
 * Open the library in cfg->data_dir: create the catalog and the default
 * library on first start, recover from a crash (finish or undo tapes left
 * CREATING, delete the media of DELETED tapes, load cartridges the catalog
 * puts in drives), and build the devices.
 */
int lib_open(const struct lib_config *cfg, struct lib **out, char *err, size_t errlen);
/* Flush and unload the drives (their cartridges stay in the drive elements
 * in the catalog) and close the catalog. */
void lib_close(struct lib *lib);

struct scsi_dev *lib_changer(struct lib *lib);
size_t lib_n_drives(const struct lib *lib);
struct scsi_dev *lib_drive(struct lib *lib, size_t i); /* LUN i + 1 */
uint32_t lib_drive_lun(const struct lib *lib, size_t i);
struct cat *lib_catalog(struct lib *lib); /* for read-only queries */
const char *lib_data_dir(const struct lib *lib);

/* Barcodes: 5 to 16 of A-Z 0-9. Returns 0, or -EINVAL with a reason. */
int lib_barcode_check(const char *barcode, char *err, size_t errlen);

struct lib_create {
	const char *const *barcodes;
	size_t n;
	/* Or: count new barcodes PREFIX + number + "L" + generation, the
	 * lowest numbers never used (barcodes is NULL then). */
	const char *prefix;
	size_t count;
	const char *media; /* NULL: from the barcode suffix (L5..L9) or the default */
	uint64_t size;	   /* 0: the media's native capacity */
};
/* On success *created (may be NULL) gets the malloc'd barcodes made,
 * *n_created their number. */
int lib_tape_create(struct lib *lib, const struct lib_create *req, char (**created)[17],
		    size_t *n_created, char *err, size_t errlen);

/* Where: "slot:N", "drive:N", "ie:N". */
int lib_tape_move(struct lib *lib, const char *barcode, const char *where, char *err,
		  size_t errlen);
int lib_tape_delete(struct lib *lib, const char *barcode, bool force, char *err, size_t errlen);
int lib_tape_archive(struct lib *lib, const char *barcode, char *err, size_t errlen);
int lib_tape_retrieve(struct lib *lib, const char *barcode, char *err, size_t errlen);
/* Operator unload of drive N (1-based): the drive gives the cartridge up
 * (flushing it) and the picker returns it to its home slot. */
int lib_drive_unload(struct lib *lib, uint32_t drive, char *err, size_t errlen);

/* ---- The shelf in the object store (vtl/shelf.c) -------------------- */

struct upl;
/* Attach the uploader: archive and retrieve then hand tapes to it. */
void lib_set_uploader(struct lib *lib, struct upl *upl);
struct upl *lib_uploader(struct lib *lib);
/* DATA_DIR/tapes/BARCODE, the tape's medium directory (the cache). */
void lib_tape_dir(const struct lib *lib, const char *barcode, char *buf, size_t cap);
/* Say something through lib_config's log (level 0 error .. 2 info). */
void lib_say(struct lib *lib, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/*
 * One shelf transition made by the uploader, under the changer's lock, as
 * one catalog transaction with its event: from -> to, out of the library
 * (an import/export element the tape held is freed, and initiators get
 * the unit attention), except to RETRIEVED, which puts the tape
 * write-protected into the first free import/export element (-ENOSPC when
 * none is free). -ESTALE when the tape is no longer in state `from`.
 */
int lib_shelf_step(struct lib *lib, const char *barcode, enum cat_state from, enum cat_state to,
		   const char *cause);
/* An IRRECOVERABLE tape whose medium is in place again (restored from the
 * store): back to its earlier state, into its drive if it is in one. */
int lib_medium_back(struct lib *lib, const char *barcode, const char *cause);
/* Disaster recovery: put a tape found in the store into the catalog, in
 * state ARCHIVED (on the shelf) or AVAILABLE (in the first free slot; its
 * medium must already be in lib_tape_dir). */
int lib_tape_adopt(struct lib *lib, const char *barcode, const char *media, uint64_t capacity,
		   enum cat_state state, const char *cause, char *err, size_t errlen);

/* Snapshots for display. */
struct lib_drive_info {
	uint32_t ordinal;
	uint32_t lun;
	uint16_t address;
	char serial[33];
	char barcode[17];
	enum ssc_medium_state state;
};
int lib_drives_info(struct lib *lib, struct lib_drive_info **out, size_t *n);
int lib_elements(struct lib *lib, struct cat_element **out, size_t *n);
int lib_tape_get(struct lib *lib, const char *barcode, struct cat_tape *t);
int lib_tape_list(struct lib *lib, int state, struct cat_tape **out, size_t *n);
int lib_events(struct lib *lib, const char *barcode, size_t limit, struct cat_event **out,
	       size_t *n);
int lib_info(struct lib *lib, struct cat_library *info);

#endif
