/*
 * record.h - the library record in the object store: what the catalog
 * knows of governance that the tapes' own objects do not say (pools,
 * automatic creation policies, each tape's pool and retention lock), so
 * that a catalog rebuilt from the bucket alone gets them back exactly
 * (vtl/record.c; docs/object-store.md, "Disaster recovery").
 *
 * One JSON object under PREFIXlibrary/record.json, written by the
 * uploader's thread when what it would say changes (looked at every
 * RECORD_EVERY_S seconds), read by the rebuild before it adds tapes.
 */
#ifndef VTL_RECORD_H
#define VTL_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "catalog/catalog.h"

#define RECORD_KEY     "library/record.json"
#define RECORD_EVERY_S 10

/* The record of catalog c as a malloc'd JSON text; NULL when it cannot be
 * read (out of memory, the catalog's errno in *rc). */
char *record_build(struct cat *c, int *rc);

/* A record read back. */
struct record_tape {
	char barcode[CAT_BARCODE_MAX + 1];
	char pool[CAT_POOL_MAX + 1];
	enum cat_lock lock;
	int64_t retain_until;
	/* A blank tape whose medium was not made yet: no object of its own
	 * in the store, so what its catalog row needs is here. */
	bool blank;
	char media[8];
	uint64_t capacity;
	bool worm;
	uint32_t clean_max;
	bool at_rest; /* gets a data key (the one it had wrapped nothing) */
};
struct record {
	struct cat_pool *pools;
	size_t n_pools;
	struct cat_autocreate *policies;
	size_t n_policies;
	struct record_tape *tapes;
	size_t n_tapes;
};
/* Parse text (len bytes); -EBADMSG with why when it is not a record this
 * vtld can read. Free with record_free. */
int record_parse(const char *text, size_t len, struct record *r, char *why, size_t cap);
void record_free(struct record *r);
const struct record_tape *record_tape(const struct record *r, const char *barcode);

#endif
