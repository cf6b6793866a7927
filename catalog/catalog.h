/*
 * catalog.h - the SQLite catalog: the library's layout, its drives, and
 * every tape with its state and its one location, plus an event log.
 *
 * Invariants the catalog keeps (docs/library.md has the schema):
 *   - A tape's location is one column (tapes.element), UNIQUE, so a tape
 *     is in at most one element and an element holds at most one tape, by
 *     construction rather than by bookkeeping in two tables.
 *   - Every move and every state transition is one transaction that also
 *     writes its event row; after a crash at any instant the catalog shows
 *     either the state before or the state after, never a mix.
 *   - A barcode is never reused: a deleted tape keeps its row (state
 *     DELETED, no location) as the tombstone that holds the barcode.
 *
 * All functions return 0 or a negative errno; nothing here prints.
 * A struct cat is not thread-safe; the library model serialises access.
 */
#ifndef VTL_CATALOG_H
#define VTL_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cat;

/* Tape states: the AWS Tape Gateway model (ARCHITECTURE.md). */
enum cat_state {
	CAT_CREATING,
	CAT_AVAILABLE,
	CAT_IN_TRANSIT_TO_SHELF,
	CAT_ARCHIVING,
	CAT_ARCHIVED,
	CAT_RETRIEVING,
	CAT_RETRIEVED,
	CAT_DELETED,
	CAT_IRRECOVERABLE,
	CAT_N_STATES
};

/* Element kinds, numbered as SMC-3 element type codes. */
enum cat_kind {
	CAT_TRANSPORT = 1,
	CAT_STORAGE = 2,
	CAT_IE = 3,
	CAT_DRIVE = 4,
};

#define CAT_BARCODE_MAX 16
#define CAT_LOC_MAX	24 /* "slot:65535", "shelf", "none" */

struct cat_library {
	char vendor[9];
	char product[17];
	char revision[5];
	char serial[33];
	char drive_vendor[8]; /* "IBM" or "HPE" */
	char drive_media[8];  /* drive generation, "LTO-8" */
	uint16_t base[5];     /* first element address by cat_kind */
	uint16_t count[5];    /* number of elements by cat_kind */
	int64_t created;
};

struct cat_drive {
	uint16_t address;
	uint32_t ordinal; /* 1-based: "drive 2" */
	uint32_t lun;
	char serial[33];
};

/* Retention lock (AWS Tape Gateway's, enforced by S3 Object Lock too):
 * governance can be bypassed by an administrator allowed to, compliance
 * by no one. */
enum cat_lock { CAT_LOCK_NONE, CAT_LOCK_GOVERNANCE, CAT_LOCK_COMPLIANCE };
const char *cat_lock_name(enum cat_lock l); /* "none", "governance", "compliance" */
int cat_lock_parse(const char *name, enum cat_lock *l);

#define CAT_POOL_MAX	       32
#define CAT_RETENTION_MAX_DAYS 36500

struct cat_tape {
	int64_t id;
	char barcode[CAT_BARCODE_MAX + 1];
	char media[8]; /* "LTO-8" */
	uint64_t capacity;
	uint64_t used;
	enum cat_state state;
	bool write_protect;
	bool worm;
	char pool[CAT_POOL_MAX + 1];
	/* The retention lock its pool gave it when it was archived, and its
	 * end (ms since the epoch; 0: none). */
	enum cat_lock lock;
	int64_t retain_until;
	bool in_library;  /* element is valid */
	uint16_t element; /* where it is */
	enum cat_kind kind;
	uint32_t ordinal;
	bool has_source; /* source is valid (SMC-3 SVALID) */
	uint16_t source; /* element it last came from */
	int64_t created; /* ms since the epoch */
	int64_t changed;
	char location[CAT_LOC_MAX]; /* "slot:3", "drive:1", "ie:2", "shelf", "none" */
	/* Cleaning cartridge: clean_max > 0 is how many cleanings it is good
	 * for, clean_uses how many it has done (expired when equal). */
	uint32_t clean_max;
	uint32_t clean_uses;
	/* A blank tape whose medium is not made yet: it is a catalog row
	 * only until its first load or export makes it (vtl/library.c,
	 * lib_make_medium). cat_tape_create takes it from the caller. */
	bool unmade;
};

struct cat_element {
	uint16_t address;
	enum cat_kind kind;
	uint32_t ordinal;
	bool full;
	struct cat_tape tape; /* valid when full */
};

struct cat_event {
	int64_t id;
	int64_t time; /* ms since the epoch */
	char barcode[CAT_BARCODE_MAX + 1];
	char from_state[24];
	char to_state[24];
	char from_loc[CAT_LOC_MAX];
	char to_loc[CAT_LOC_MAX];
	char cause[128];
};

const char *cat_state_name(enum cat_state s);
int cat_state_parse(const char *name, enum cat_state *s);
const char *cat_kind_name(enum cat_kind k); /* "transport", "slot", "ie", "drive" */

/* Open (creating and migrating as needed) the catalog at path. */
int cat_open(const char *path, struct cat **out);
void cat_close(struct cat *c);
/* Many changes in one transaction (one fsync instead of one each): between
 * cat_batch_begin and cat_batch_end every function below that makes a
 * transaction makes a savepoint inside the batch instead, so a failed
 * change still undoes only itself; nothing is durable, or visible to
 * other connections, until cat_batch_end(c, true) commits. false rolls
 * the whole batch back. -EBUSY: a batch is open already. */
int cat_batch_begin(struct cat *c);
int cat_batch_end(struct cat *c, bool commit);
/* Schema version (PRAGMA user_version) of an open catalog. */
int cat_schema_version(struct cat *c);
/* SQLite's PRAGMA data_version of c: a number that changes when another
 * connection (of this process or any) commits a change to the catalog,
 * and not for c's own. The uploader's round skips its walk of every tape
 * while it stays the same (vtl/uploader.c). */
int cat_data_version(struct cat *c, int64_t *v);

/* The library row; -ENOENT when the catalog is new. */
int cat_library_get(struct cat *c, struct cat_library *lib);
/*
 * Create the library, its elements and drives in one transaction.
 * drives[i].address is ignored: drive i gets base[CAT_DRIVE] + i.
 */
int cat_library_create(struct cat *c, const struct cat_library *lib, const struct cat_drive *drives,
		       size_t n_drives);

/* Arrays are malloc'd; free() them. */
int cat_drives(struct cat *c, struct cat_drive **out, size_t *n);
/* Every element in address order with its tape. */
int cat_elements(struct cat *c, struct cat_element **out, size_t *n);

/* A tape whose medium is made, for the check of the media after start. */
struct cat_tape_medium {
	char barcode[CAT_BARCODE_MAX + 1];
	enum cat_state state;
};
/* The tapes with a made medium, neither DELETED nor CREATING, in barcode
 * order: two columns of the rows that have one (a blank tape has none). */
int cat_tape_media(struct cat *c, struct cat_tape_medium **out, size_t *n);

/* The tapes (tombstones left out) whose barcode is longer than max
 * characters, for the start-up warning of a changer personality whose
 * software takes no longer ones: how many (*found), and the first
 * min(want, *found) in barcode order copied into first. One column of the
 * rows that qualify, not a struct cat_tape of every tape. */
int cat_long_barcodes(struct cat *c, unsigned max, char (*first)[CAT_BARCODE_MAX + 1], size_t want,
		      size_t *found);

/* An element as an inventory shows it (`vtlctl library show`): the tape
 * in it by barcode and state only. */
struct cat_inventory_entry {
	uint16_t address;
	enum cat_kind kind;
	uint32_t ordinal;
	bool full;
	char barcode[CAT_BARCODE_MAX + 1]; /* when full */
	enum cat_state state;		   /* when full */
};
/* Every element in address order, as cat_elements without the tape's
 * other columns: one short row each, for a library of 10,000 slots. */
int cat_inventory(struct cat *c, struct cat_inventory_entry **out, size_t *n);
/* The element at address with its tape; -ENOENT if none. */
int cat_element_get(struct cat *c, uint16_t address, struct cat_element *out);
/* Look an element up by kind and 1-based ordinal; -ENOENT if none. */
int cat_element_find(struct cat *c, enum cat_kind kind, uint32_t ordinal, uint16_t *address);

int cat_tape_get(struct cat *c, const char *barcode, struct cat_tape *t);
/* Tapes in barcode order; with_deleted false hides DELETED tombstones;
 * state >= 0 selects one state. */
int cat_tape_list(struct cat *c, int state, bool with_deleted, struct cat_tape **out, size_t *n);
/*
 * The number of changes of tape rows so far (every insert and update of a
 * tape counts one, in the transaction that makes it: triggers of the
 * schema), and the tapes that may have work for the uploader since the
 * number `since`: those changed after it, those in a drive, and those in a
 * state that is a trip under way (CREATING, IN_TRANSIT_TO_SHELF,
 * ARCHIVING, RETRIEVING, IRRECOVERABLE), in barcode order. Read the number
 * before the list: a change between the two is listed again next time,
 * never missed.
 */
int cat_tape_changes(struct cat *c, int64_t *seq);
int cat_tape_list_changed(struct cat *c, int64_t since, struct cat_tape **out, size_t *n);
/* The number of changes of what the library record says (vtl/record.c):
 * pools, automatic creation policies, tape keys, and each tape's insert,
 * delete, barcode, state, pool, lock, blank medium and its size. */
int cat_record_changes(struct cat *c, int64_t *seq);

/*
 * Create tapes in state CREATING, each in the next free storage slot (in
 * address order), in one transaction with their events. Fails without any
 * change: -EEXIST if a barcode is already known (live or deleted; *bad is
 * its index), -ENOSPC if there are fewer free storage slots than tapes.
 * The caller formats the media, then moves each to AVAILABLE.
 */
int cat_tape_create(struct cat *c, struct cat_tape *tapes, size_t n, const char *cause,
		    size_t *bad);

/*
 * One transition: the tape must be in state `from` (and, when check_element,
 * at element `at`, or nowhere when at_none); it goes to state `to` at
 * `dest` (to_none: out of the library). One transaction with one event.
 *   -ENOENT   no such tape
 *   -ESTALE   the tape is not in the expected state or place
 *   -EBUSY    dest holds another tape
 *   -EINVAL   the combination is not allowed (CHECK constraints)
 */
struct cat_change {
	enum cat_state from;
	bool check_element;
	bool at_none;
	uint16_t at;
	enum cat_state to;
	bool to_none;
	uint16_t dest;	   /* ignored when to_none */
	bool keep_element; /* state change only: the tape stays where it is */
	int write_protect; /* -1 keep, 0 or 1 set */
	const char *pool;  /* NULL: keep */
	bool set_lock;	   /* lock and retain_until are set */
	enum cat_lock lock;
	int64_t retain_until;
	const char *cause;
};
int cat_tape_change(struct cat *c, const char *barcode, const struct cat_change *ch);

/* Record bytes used (no event: accounting, not a transition). */
int cat_tape_set_used(struct cat *c, const char *barcode, uint64_t used);

/* The medium of an unmade tape is made (no event: the tape's state and
 * place do not change). */
int cat_tape_set_made(struct cat *c, const char *barcode);

/* One cleaning done by cleaning cartridge `barcode`: -ENOENT when it is not
 * a cleaning cartridge or is expired (clean_uses == clean_max). */
int cat_tape_clean_use(struct cat *c, const char *barcode);

/* Events, oldest first; barcode NULL for all; limit 0 for no limit
 * (with a limit, the newest `limit` events). */
int cat_events(struct cat *c, const char *barcode, size_t limit, struct cat_event **out, size_t *n);

/* Format an element as "slot:3" etc. into buf (CAT_LOC_MAX). */
void cat_loc_format(enum cat_kind kind, uint32_t ordinal, char *buf);

/* ---- Pools (catalog_pool.c) ------------------------------------------- */

/* Where archived tapes go (a storage class; "" keeps [store]
 * archive_class) and how long they are locked once there. A pool's
 * settings are fixed once created, as on AWS. */
struct cat_pool {
	char name[CAT_POOL_MAX + 1];
	char storage_class[32];
	enum cat_lock lock;
	uint32_t retention_days; /* 1..36500 with a lock, else 0 */
	bool builtin;		 /* default, GLACIER, DEEP_ARCHIVE: never deleted */
	int64_t created;
	uint32_t tapes; /* live tapes in it (cat_pools, cat_pool_get) */
};
/* -EEXIST when the name is taken, -EINVAL for settings out of range. */
int cat_pool_create(struct cat *c, const struct cat_pool *p);
int cat_pool_get(struct cat *c, const char *name, struct cat_pool *p); /* -ENOENT */
int cat_pools(struct cat *c, struct cat_pool **out, size_t *n);
/* -ENOENT, -EPERM for a built-in pool, -EBUSY while a live tape or an
 * automatic creation policy names it. */
int cat_pool_delete(struct cat *c, const char *name);

/* Automatic tape creation (AWS Tape Gateway's): keep at least `minimum`
 * blank AVAILABLE tapes of barcode prefix `prefix` in the library. */
#define CAT_AUTOCREATE_MAX 1000
struct cat_autocreate {
	char prefix[13];
	char pool[CAT_POOL_MAX + 1];
	char media[8];	  /* "LTO-8" */
	uint64_t size;	  /* 0: the media's native capacity */
	uint32_t minimum; /* 1..CAT_AUTOCREATE_MAX */
	int64_t created;
};
/* Set (add or replace) the policy of a prefix; -EINVAL for a pool that
 * does not exist or a minimum out of range. */
int cat_autocreate_set(struct cat *c, const struct cat_autocreate *a);
int cat_autocreates(struct cat *c, struct cat_autocreate **out, size_t *n);
int cat_autocreate_remove(struct cat *c, const char *prefix); /* -ENOENT */
/* Blank AVAILABLE tapes of prefix and pool in the library, as the catalog
 * counts them (used bytes 0; a drive's live count is the caller's). */
int cat_autocreate_blank(struct cat *c, const struct cat_autocreate *a, uint32_t *n);

#endif
