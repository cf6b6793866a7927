/*
 * library_int.h - what library.c (the model: open, recovery, the changer's
 * backend, the shelf's steps) and admin.c (the operator's actions) share.
 * Nothing outside those two files includes it.
 *
 * The rules both keep, stated once:
 *   - One lock, the changer's dev->lock, guards the model. spc_dispatch
 *     holds it while a changer command runs; every other entry point takes
 *     it itself. Drives are locked after the changer (scsi/spc.h), inside
 *     ssc_insert/ssc_remove/ssc_state.
 *   - The catalog writer rule: a tape's row (its state, its element, its
 *     write-protect tab) changes only here, under that lock, through the
 *     lifecycle (lc_apply, vtl/lifecycle.h), one transaction with its
 *     event. The uploader writes only its own tables (catalog_upl.h), on
 *     its own connection; it asks for a tape's change through
 *     lib_shelf_step, lib_medium_back and lib_tape_adopt.
 */
#ifndef VTL_LIBRARY_INT_H
#define VTL_LIBRARY_INT_H

#include <stdarg.h>

#include "library.h"
#include "lifecycle.h"
#include "scsi/smc.h"
#include "scsi/spc.h"

struct cat_key_row;

struct lib {
	struct lib_config cfg;
	struct cat *cat;
	struct cat_library info;
	struct scsi_dev changer;
	bool changer_ok;
	struct scsi_dev *drives;
	struct cat_drive *cdrives;
	size_t n_drives;
	size_t n_drives_ok;
	/* Told when a tape starts a trip to or from the shelf. */
	void (*shelf_wake)(void *arg);
	void *shelf_arg;
	bool autocreate_failing;       /* a policy's failure was said (autocreate.c) */
	struct media_pass *media;      /* the check of the media after start (media.c) */
	struct drive_workers *workers; /* the drives' threads (drive_worker.c) */
	/* Why lib_insert last refused a tape's key (said in the log too), for
	 * the operator's command that asked for the load; under the lock. */
	char key_err[512];
};

void lib_lock(struct lib *lib);
void lib_unlock(struct lib *lib);
/* Does barcode fit the changer personality (scsi/personality.h)? 0, or
 * -EINVAL with a message naming the limit and who imposes it. */
int lib_barcode_fits(const struct lib *lib, const char *barcode, char *err, size_t errlen);
void lib_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The drive at element address addr, or -1. */
int lib_drive_at(const struct lib *lib, uint16_t addr);
int lib_element_at(struct lib *lib, uint16_t addr, struct cat_element *out);
/* The first empty element of kind, prefer if it is one; -ENOSPC. */
int lib_first_free(struct lib *lib, enum cat_kind kind, uint16_t prefer, uint16_t *addr,
		   uint32_t *ordinal);
/* Bring the catalog's bytes-used of a tape up to date from its medium. */
void lib_refresh_used(struct lib *lib, const char *barcode);
/* Format t's medium, never over a cartridge (library.c); sync = false:
 * nothing is fsync'ed yet (the caller makes it durable). */
int lib_format_medium(struct lib *lib, const struct cat_tape *t, bool sync);
/* The wrapped data key of tape barcode: the catalog's or, make and a
 * master key configured, a new one committed (library.c). -ENOENT: the
 * tape is not encrypted at rest. */
int lib_creation_key(struct lib *lib, const struct cat_tape *t, bool make, struct cat_key_row *row);
/* Make the medium of a tape whose catalog row says it is not made yet
 * (t->unmade), then record it made; 0 at once for a made one. Changer
 * lock held. */
int lib_make_medium(struct lib *lib, struct cat_tape *t);
/*
 * Put the cartridge of tape `barcode` (its directory dir) in drive i: with
 * its data key, unwrapped by the master key, when the catalog holds one.
 * ssc_insert's errors, and -ENOKEY (no master key configured, or the wrap
 * names another one) or -EKEYREJECTED (the wrap or the key does not open),
 * each said through lib_say with the tape and the fix.
 */
int lib_insert(struct lib *lib, size_t i, const char *barcode, const char *dir);

/*
 * The one move of a cartridge between two elements: the drive coupling
 * (library.c) and the lifecycle's event for it (a move, an export, an
 * import). Called with the lock held; src holds t, dst is empty. On
 * refusal fills *why with the sense an initiator gets, and err (may be
 * NULL) with the sentence an operator gets.
 */
int lib_move(struct lib *lib, const struct cat_tape *t, uint16_t dst, enum cat_kind dst_kind,
	     const char *cause, struct smc_refusal *why, char *err, size_t errlen);

/* The lifecycle event a move of t into an element of kind `to` is. */
enum lc_event lib_move_event(const struct cat_tape *t, enum cat_kind to);

/* cat_pool_get with a sentence for a person (called with the lock). */
int lib_pool_get_locked(struct lib *lib, const char *name, struct cat_pool *p, char *err,
			size_t errlen);

/* Wake the shelf's worker, if one is attached (called with the lock). */
void lib_wake_shelf(struct lib *lib);

#endif
