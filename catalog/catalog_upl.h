/*
 * catalog_upl.h - the uploader's persistent state: what of each
 * tape is in the object store, so that after kill -9 or a reboot uploads
 * resume without re-sending finished parts (ARCHITECTURE.md, durability
 * contract: "upload ids and uploaded parts are persisted").
 *
 *   upl_tapes     per tape: the generation of the newest manifest in the
 *                 store, and the state last recorded in the store
 *   upl_segments  per tape segment: the part size, the valid bytes the
 *                 local manifest names, the multipart upload in progress
 *                 (upload_id, NULL when none) and the finished object
 *                 (object_size, object_etag; 0 and "" when none yet)
 *   upl_parts     per part of the upload in progress: number, size, ETag
 *
 * Each function is one statement or one transaction. Same rules as
 * catalog.h: 0 or a negative errno, nothing printed, not thread-safe (the
 * uploader uses its own connection). The errors of bad input:
 *   -ENOENT   a write (seg_put, part_add, tape_set) for a barcode the
 *             catalog does not know; nothing is written. A read, a delete
 *             or forget for such a barcode finds nothing and returns 0.
 *   -EINVAL   a row the schema refuses: part_size 0, a part number
 *             outside 1..10000, a part of a segment with no row.
 */
#ifndef VTL_CATALOG_UPL_H
#define VTL_CATALOG_UPL_H

#include <stddef.h>
#include <stdint.h>

#include "catalog.h"

#define CAT_UPLOAD_ID_MAX 256
#define CAT_ETAG_MAX	  80

struct cat_upl_seg {
	uint64_t seg;
	uint64_t part_size;
	uint64_t valid;
	char upload_id[CAT_UPLOAD_ID_MAX]; /* "" when no upload is in progress */
	uint64_t object_size;		   /* finished object, 0 when none */
	char object_etag[CAT_ETAG_MAX];
	/* Filled by cat_upl_segs: parts of the upload in progress. */
	uint64_t parts_bytes;
	uint32_t parts;
};

struct cat_upl_part {
	int number;
	uint64_t size;
	char etag[CAT_ETAG_MAX];
};

/* Segments of a tape known to the uploader, by id; malloc'd array. */
int cat_upl_segs(struct cat *c, const char *barcode, struct cat_upl_seg **out, size_t *n);
/* Insert or replace a segment row (its parts stay unless the upload id
 * changes, in which case they are dropped in the same transaction). */
int cat_upl_seg_put(struct cat *c, const char *barcode, const struct cat_upl_seg *s);
/* Forget a segment and its parts. */
int cat_upl_seg_delete(struct cat *c, const char *barcode, uint64_t seg);
/* Forget everything the uploader knows about a tape. */
int cat_upl_tape_forget(struct cat *c, const char *barcode);

/* Parts of a segment's upload in progress, ascending; malloc'd array. */
int cat_upl_parts(struct cat *c, const char *barcode, uint64_t seg, struct cat_upl_part **out,
		  size_t *n);
int cat_upl_part_add(struct cat *c, const char *barcode, uint64_t seg,
		     const struct cat_upl_part *p);

/* What the uploader knows of every tape at once (tape list of a large
 * library: one read, not two queries a tape), ascending by barcode. */
struct cat_upl_tape_rows {
	char barcode[CAT_BARCODE_MAX + 1];
	uint64_t manifest_gen;
	char state[32];		  /* "" when none recorded */
	struct cat_upl_seg *segs; /* by id */
	size_t nsegs;
};
int cat_upl_all(struct cat *c, struct cat_upl_tape_rows **out, size_t *n);
void cat_upl_all_free(struct cat_upl_tape_rows *v, size_t n);

/* Manifest generation in the store and the state recorded there. */
int cat_upl_tape_get(struct cat *c, const char *barcode, uint64_t *manifest_gen, char *state,
		     size_t cap);
int cat_upl_tape_set(struct cat *c, const char *barcode, uint64_t manifest_gen, const char *state);

/* Where an archived tape's objects are: their storage class (*known false
 * when not recorded; cls "" then) and the retain-until date (ms since the
 * epoch, 0: none) their Object Lock retention holds. The row must exist
 * (cat_upl_tape_set) for the set. */
int cat_upl_shelf_get(struct cat *c, const char *barcode, char *cls, size_t cap, bool *known,
		      int64_t *locked_until);
int cat_upl_shelf_set(struct cat *c, const char *barcode, const char *cls, int64_t locked_until);

/* The ARCHIVED tapes whose objects may not be where their pool says: the
 * class not recorded, another class than the pool's (its own, else
 * default_class, else STANDARD), or, with object_lock, a lock date later
 * than the one their objects carry. One query a round, however many tapes
 * are archived. *out (free()) receives n barcodes. */
int cat_upl_reclass_due(struct cat *c, const char *default_class, bool object_lock,
			char (**out)[CAT_BARCODE_MAX + 1], size_t *n);

/* Per tape totals: bytes the local manifest names (valid), bytes in the
 * store (finished objects up to their valid length, plus parts sent), and
 * segments not yet fully in the store. */
struct cat_upl_totals {
	uint64_t valid, uploaded;
	uint32_t pending;
	uint64_t manifest_gen;
};
int cat_upl_totals(struct cat *c, const char *barcode, struct cat_upl_totals *t);

/* Every upload id the catalog knows, for the orphan sweep: cb(arg, key
 * suffix "BARCODE/SEG", upload id). */
typedef int (*cat_upl_id_cb)(void *arg, const char *barcode, uint64_t seg, const char *upload_id);
int cat_upl_upload_ids(struct cat *c, cat_upl_id_cb cb, void *arg);

#endif
