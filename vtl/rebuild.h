/*
 * rebuild.h - disaster recovery: the catalog rebuilt from the object store
 * alone (docs/object-store.md, "Disaster recovery: rebuilding the
 * catalog"). vtld calls upl_store_holds_tapes and upl_recover_from_store
 * at start; the control server calls upl_rebuild_catalog on the running
 * vtld. Implemented in rebuild.c, which downloads through the shelf.
 *
 * A tape the catalog already knows is never changed, so a rebuild can run
 * again after a failure and recovers only what the catalog lacks.
 */
#ifndef VTL_REBUILD_H
#define VTL_REBUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uploader.h"

/*
 * Disaster recovery: rebuild the catalog from the store. Every
 * tapes/BARCODE/ prefix with a manifest that the catalog does not know
 * becomes a tape: ARCHIVED when the store records it so
 * (tapes/BARCODE/state), else AVAILABLE in a free storage slot with its
 * data downloaded and verified. Tapes the catalog knows are kept as they
 * are; prefixes without a manifest are skipped. Each outcome goes to
 * r->tape (and the log) in the store's order.
 */
enum upl_rebuild_result { UPL_RECOVERED, UPL_KEPT, UPL_SKIPPED, UPL_FAILED };

struct upl_rebuild_tape {
	char barcode[128]; /* the prefix's name, a barcode unless skipped */
	enum upl_rebuild_result result;
	char state[24];	   /* recovered, kept: the state in the catalog */
	char location[24]; /* recovered, kept: "slot:N", "shelf", ... */
	size_t segments;   /* recovered: segments its manifest names */
	uint64_t bytes;	   /* recovered: valid bytes (downloaded unless ARCHIVED) */
	char reason[512];  /* kept, skipped, failed: why */
};

struct upl_rebuild {
	/* false (vtld --rebuild-catalog, at start): refuse a catalog that holds
	 * tapes, as recovery of an empty data directory; true: leave the tapes
	 * the catalog knows alone, so that it can run again. */
	bool keep_known;
	void (*tape)(void *arg, const struct upl_rebuild_tape *t); /* or NULL */
	void (*progress)(void *arg, const char *what);		   /* or NULL */
	bool (*cancelled)(void *arg); /* NULL, or asked between requests */
	void *arg;
	size_t n[4]; /* out: tapes per upl_rebuild_result */
	/* out: what the report says beside the tapes, or "": the library
	 * record could not be read, so tapes never loaded may be missing; the
	 * store could not be listed, so tapes whose only copy is there are
	 * missing, and which (as far as the record tells). */
	char warning[2048];
	/* out: the prefixes that could not be listed, or "" */
	char unlisted[512];
	/* Each barcode the library record names that is not in the catalog
	 * after a rebuild whose store could not be listed; or NULL. */
	void (*missing)(void *arg, const char *barcode);
};

/* Does the store (or its shelf apart) hold any tape's objects, or a
 * library record naming tapes (an earlier library's tapes never loaded
 * have no object but their line in it)? 1 yes, found naming one key; 0 no;
 * a negative errno, found saying why. */
int upl_store_holds_tapes(struct store *st, const struct store_config *c, const char *data_dir,
			  char *found, size_t cap);

/* 0 when every tape found was recovered, kept or skipped (r->unlisted
 * not "" when the store could not be listed: the local media were
 * recovered, the others may be missing, r->warning says which and how to
 * get them); -EIO when some
 * failed, -ENOSPC (nothing changed) when the AVAILABLE ones need more free
 * storage slots than there are, -ECANCELED when cancelled; err says what
 * and the fix. */
int upl_recover_from_store(struct lib *lib, struct store *st, const struct store_config *c,
			   upl_log_fn log, struct upl_rebuild *r, char *err, size_t errlen);
/* The same on the running vtld (lib_tape_adopt takes the library lock; the
 * store is the uploader's), r->keep_known set. -ENODEV when [store] is not
 * configured (the embedded DATA_DIR/store). */
int upl_rebuild_catalog(struct upl *u, struct upl_rebuild *r, char *err, size_t errlen);

#endif
