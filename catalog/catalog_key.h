/*
 * catalog_key.h - each tape's data key, wrapped by a master key, and the
 * id of that master key (docs/design.md, "Encryption of cartridges at
 * rest"; schema in migration 5 of catalog.c). The wrapped key is text the
 * catalog does not interpret (vtl/keys.h makes and opens it); the master
 * id names which master key wrapped it, so that a rotation knows which
 * tapes it has still to do.
 *
 * Same rules as catalog.h: 0 or a negative errno, nothing printed, each
 * function one statement. A write for a barcode the catalog does not know
 * is -ENOENT and writes nothing; a read of a tape without a key is
 * -ENOENT.
 */
#ifndef VTL_CATALOG_KEY_H
#define VTL_CATALOG_KEY_H

#include <stddef.h>

#include "catalog.h"

#define CAT_WRAPPED_MAX	  256
#define CAT_MASTER_ID_MAX 17 /* 16 hex digits */

struct cat_key_row {
	char barcode[CAT_BARCODE_MAX + 1];
	char wrapped[CAT_WRAPPED_MAX];
	char master_id[CAT_MASTER_ID_MAX];
};

/* Insert or replace a tape's wrapped key; -EINVAL for an empty wrap or a
 * master id not of 16 characters. */
int cat_key_set(struct cat *c, const char *barcode, const char *wrapped, const char *master_id);
int cat_key_get(struct cat *c, const char *barcode, struct cat_key_row *out);
/* The tapes whose key is wrapped by a master other than except_master
 * (NULL: all of them), in barcode order; malloc'd array. A DELETED tape's
 * key is left out: its data is gone and its barcode never comes back, so
 * it needs no rotation and counts for no master key. */
int cat_key_list(struct cat *c, const char *except_master, struct cat_key_row **out, size_t *n);
/* Destroy a DELETED tape's wrapped key (crypto-shredding: without it, no
 * copy of the tape's data that survives anywhere can be read). A tape in
 * any other state, or one without a key, is left as it is; 0 either way,
 * so that a caller can call it again after a crash. */
int cat_key_shred(struct cat *c, const char *barcode);

#endif
