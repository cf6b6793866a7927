/*
 * library.h - the library model: one changer and N drives built from the
 * catalog, the coupling between them, and every administrative action.
 *
 * The model owns the catalog and the scsi_dev objects. Each change of the
 * inventory, whether an initiator's MOVE MEDIUM, an operator's command
 * from the control socket or a step of the shelf's worker, runs under the
 * changer's lock (lock order: changer, then drive) and is one lifecycle
 * event (vtl/lifecycle.h), one catalog transaction; operator changes then
 * raise the changer unit attention that a real library raises, so
 * initiators re-read the inventory. Implemented in library.c (the model)
 * and admin.c (the operator's actions).
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

struct key_master;
#include "lifecycle.h"
#include "scsi/personality.h"
#include "scsi/ssc.h"

struct scsi_dev;
struct lib;

#define LIB_ERR_MAX 512

/* Keys the operator gave, which the changer personality does not replace
 * (lib_config.overrides). */
enum lib_config_set {
	LIB_SET_TRANSPORT = 1u << 0,
	LIB_SET_IE = 1u << 1,
	LIB_SET_DRIVE = 1u << 2,
	LIB_SET_STORAGE = 1u << 3,
};

struct lib_config {
	char data_dir[PATH_MAX];
	/* The changer personality ([library] changer, scsi/personality.h):
	 * its INQUIRY identity, read at every start, and the element
	 * addresses of a new library. */
	const struct smc_personality *changer;
	/* Overrides of the personality's INQUIRY strings; empty: the
	 * personality's. */
	char vendor[9];
	char product[17];
	char revision[5];
	char serial[33]; /* empty: generated at creation */
	/* Layout, used when the catalog is created; afterwards the catalog
	 * is authoritative (so a library keeps its addresses, and every
	 * cartridge its element, when its personality changes). */
	uint16_t n_drives, n_slots, n_ie;
	uint16_t transport_base, drive_base, storage_base, ie_base;
	unsigned overrides; /* enum lib_config_set */
	enum tape_media drive_media;
	enum ssc_vendor drive_vendor;
	/* Loads of data cartridges after which a drive asks for cleaning
	 * (TapeAlert 15h); 0: never. [library] clean_interval. */
	uint32_t clean_interval;
	/* New tapes. */
	enum tape_media default_media;
	/* MOVE MEDIUM out of a drive element unloads the drive (most
	 * libraries do; Bacula's mtx-changer and Amanda's chg-robot expect it
	 * by default). false: the host must unload it first (LOAD UNLOAD),
	 * or the move fails with 53/01 as IBM's TS3310 reports. */
	bool auto_unload;
	/* An administrator may delete or re-pool a tape under a governance
	 * retention lock before its date (--bypass-governance); compliance
	 * locks hold whatever this says. [library] governance_bypass. */
	bool governance_bypass;
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
	/* Encryption at rest (docs/design.md, "Encryption of cartridges at
	 * rest"): with a master key, every tape created from now on gets a
	 * random data key of its own, kept wrapped by it in the catalog and
	 * the cartridge's KEY file, and its cartridge is formatted encrypted
	 * at rest; a load unwraps the key of a tape that has one. NULL: no
	 * new tape is encrypted, and a tape that has a key does not load. */
	const struct key_master *master;
	/* During a rotation ([encryption] previous_key_file): the master key
	 * being replaced, which still opens the tapes not yet rewrapped. */
	const struct key_master *previous;
};

/* The defaults: STK L700, 4 IBM LTO-8 drives, 40 slots, 4 I/E ports. */
void lib_config_defaults(struct lib_config *cfg);
/* Take personality p: its element addresses for the keys not in
 * cfg->overrides; the strings are resolved at lib_open. */
void lib_config_set_changer(struct lib_config *cfg, const struct smc_personality *p);

/*
 * Open the library in cfg->data_dir: create the catalog and the default
 * library on first start, recover from a crash (finish tapes left
 * CREATING, delete the media of DELETED tapes, repair damaged media, load
 * cartridges the catalog puts in drives), and build the devices. Tapes
 * on a trip to or from the shelf wait for its worker.
 */
int lib_open(const struct lib_config *cfg, struct lib **out, char *err, size_t errlen);
/* Flush and unload the drives (their cartridges stay in the drive elements
 * in the catalog) and close the catalog. */
void lib_close(struct lib *lib);

struct scsi_dev *lib_changer(struct lib *lib);
/* The changer personality in force ([library] changer). */
const struct smc_personality *lib_personality(const struct lib *lib);
size_t lib_n_drives(const struct lib *lib);
struct scsi_dev *lib_drive(struct lib *lib, size_t i); /* LUN i + 1 */
uint32_t lib_drive_lun(const struct lib *lib, size_t i);
struct cat *lib_catalog(struct lib *lib); /* for read-only queries */
/* Has every tape's medium been checked since start (vtl/media.c)? */
bool lib_media_checked(struct lib *lib);
const char *lib_data_dir(const struct lib *lib);
/* The configured master keys (lib_config.master, .previous), or NULL. */
const struct key_master *lib_master_key(const struct lib *lib, bool previous);

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
	const char *pool;  /* NULL: "default" */
	const char *cause; /* of the events; NULL: "created by operator" */
	bool worm;	   /* WORM cartridges (also when the label says so: LV..LZ) */
	/* Cleaning cartridges good for this many cleanings; 0: a barcode
	 * starting "CLN" makes one good for LIB_CLEAN_USES_DEFAULT. */
	uint32_t clean_max;
};

/* Cleanings an LTO Ultrium universal cleaning cartridge is good for (IBM
 * TS4300 documentation, "Cleaning cartridge": valid for 50 uses). */
#define LIB_CLEAN_USES_DEFAULT 50u
#define LIB_CLEAN_USES_MAX     65535u
/* On success *created (may be NULL) gets the malloc'd barcodes made,
 * *n_created their number. */
int lib_tape_create(struct lib *lib, const struct lib_create *req, char (**created)[17],
		    size_t *n_created, char *err, size_t errlen);

/* Move a tape to element `ordinal` (1-based) of kind (CAT_STORAGE,
 * CAT_DRIVE or CAT_IE), as the picker would. */
int lib_tape_move(struct lib *lib, const char *barcode, enum cat_kind kind, uint32_t ordinal,
		  char *err, size_t errlen);
/* force: destroy data; bypass_governance: before a governance lock's
 * date (refused unless lib_config.governance_bypass). */
int lib_tape_delete(struct lib *lib, const char *barcode, bool force, bool bypass_governance,
		    char *err, size_t errlen);
/* Put a tape in another pool (AWS's AssignTapePool): where its retention
 * lock allows; an ARCHIVED tape's objects keep their storage class. */
int lib_tape_assign_pool(struct lib *lib, const char *barcode, const char *pool,
			 bool bypass_governance, char *err, size_t errlen);

/* Automatic tape creation (vtl/autocreate.c): policies, and the look
 * vtld takes once a second that creates what they ask for. */
int lib_autocreate_set(struct lib *lib, const struct cat_autocreate *a, char *err, size_t errlen);
int lib_autocreates(struct lib *lib, struct cat_autocreate **out, size_t *n);
int lib_autocreate_remove(struct lib *lib, const char *prefix, char *err, size_t errlen);
void lib_autocreate_tick(struct lib *lib);

/* Pools (catalog.h, struct cat_pool). */
int lib_pool_create(struct lib *lib, const struct cat_pool *p, char *err, size_t errlen);
int lib_pool_get(struct lib *lib, const char *name, struct cat_pool *p, char *err, size_t errlen);
int lib_pools(struct lib *lib, struct cat_pool **out, size_t *n);
int lib_pool_delete(struct lib *lib, const char *name, char *err, size_t errlen);
/* Send a tape to the shelf: it leaves the library now and becomes
 * ARCHIVED once its worker has every byte in the store. */
int lib_tape_archive(struct lib *lib, const char *barcode, char *err, size_t errlen);
/* Ask for an ARCHIVED tape back: the shelf's worker downloads it and puts
 * it, read-only, into a free import/export element. */
int lib_tape_retrieve(struct lib *lib, const char *barcode, char *err, size_t errlen);
/* Operator unload of drive N (1-based): the drive gives the cartridge up
 * (flushing it) and the picker returns it to its home slot. Refused
 * (-EIO, the cartridge stays) while a block written behind failed and its
 * writer has not been told, unless `force`, which discards that error and
 * records the block lost in the log and the tape's event; refused with
 * the flush's error, the cartridge staying, when it cannot reach stable
 * storage. */
int lib_drive_unload(struct lib *lib, uint32_t drive, bool force, char *err, size_t errlen);

/* ---- For the shelf's worker (vtl/shelf.c, vtl/rebuild.c) ------------- */

/*
 * The one interface between the library and the object store's side, in
 * one direction: the uploader calls these; the library never calls the
 * uploader, it only calls the wake function attached here when a tape
 * starts a trip to or from the shelf (NULL: none attached; such tapes
 * wait). Attach before any thread uses the library, detach (NULL) before
 * the worker goes away.
 */
void lib_set_shelf_worker(struct lib *lib, void (*wake)(void *arg), void *arg);
/* DATA_DIR/tapes/BARCODE, the tape's medium directory (the cache). */
void lib_tape_dir(const struct lib *lib, const char *barcode, char *buf, size_t cap);
/* Say something through lib_config's log (level 0 error .. 2 info). */
void lib_say(struct lib *lib, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/*
 * A step of a tape's trip, as one lifecycle event under the changer's lock:
 * LC_UPLOADED and LC_SHELVED take it out of the library (an import/export
 * element it held is freed and initiators get the unit attention);
 * LC_DOWNLOADED puts it write-protected into the first free import/export
 * element (-ENOSPC when none is free). -ESTALE when the tape's state no
 * longer allows the event. LC_SHELVED gives the tape its pool's retention
 * lock until retain_until (ms since the epoch; 0: now plus the pool's
 * days), the date its objects were locked until.
 */
int lib_shelf_step(struct lib *lib, const char *barcode, enum lc_event ev, int64_t retain_until,
		   const char *cause);
/* An IRRECOVERABLE tape whose medium is in place again (restored from the
 * store): back to its earlier state, into its drive if it is in one. */
int lib_medium_back(struct lib *lib, const char *barcode, const char *cause);
/* Disaster recovery: put a tape found in the store into the catalog, in
 * state ARCHIVED (on the shelf) or AVAILABLE (in the first free slot; its
 * medium must already be in lib_tape_dir). */
int lib_tape_adopt(struct lib *lib, const char *barcode, const char *media, uint64_t capacity,
		   bool worm, enum cat_state state, const char *cause, char *err, size_t errlen);
/* Disaster recovery: a blank tape whose medium was never made, known
 * from the library record alone (vtl/record.h), added AVAILABLE in a
 * free storage slot with its medium to be made at its first load. */
int lib_tape_adopt_blank(struct lib *lib, const char *barcode, const char *media, uint64_t capacity,
			 bool worm, uint32_t clean_max, bool at_rest, const char *cause, char *err,
			 size_t errlen);
/* Disaster recovery: the pool and retention lock the library record
 * (vtl/record.h) kept for a tape just adopted. */
int lib_tape_restore(struct lib *lib, const char *barcode, const char *pool, enum cat_lock lock,
		     int64_t retain_until, char *err, size_t errlen);
/* Record the bytes used of a tape whose medium is not in place yet. */
int lib_tape_record_used(struct lib *lib, const char *barcode, uint64_t used);

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
/* The same, each tape by barcode and state only (cat_inventory). */
int lib_inventory(struct lib *lib, struct cat_inventory_entry **out, size_t *n);
int lib_tape_get(struct lib *lib, const char *barcode, struct cat_tape *t);
int lib_tape_list(struct lib *lib, int state, struct cat_tape **out, size_t *n);
int lib_events(struct lib *lib, const char *barcode, size_t limit, struct cat_event **out,
	       size_t *n);
int lib_info(struct lib *lib, struct cat_library *info);

#endif
