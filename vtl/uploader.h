/*
 * uploader.h - vtld's object-store side: a background thread that puts
 * every cartridge's segments and manifests into the store, and the shelf
 * (archive to the store, retrieve from it). docs/object-store.md, "The
 * uploader, the shelf and recovery". Disaster recovery of the catalog from
 * the bucket alone is rebuild.h's. Implemented in uploader.c (the thread),
 * upload_sync.c (the sync of a tape), upload_backlog.c (what is not yet
 * safe), shelf.c and rebuild.c, which share upload_int.h.
 *
 * Contracts kept (ARCHITECTURE.md, "The medium, the cache and the object
 * store" and the durability contract):
 *   - only bytes a local manifest names are uploaded: they are on stable
 *     local storage and never change (docs/medium-format.md);
 *   - upload ids and finished parts are in the catalog (catalog_upl.h), so
 *     a restart resumes without re-sending finished parts, and multipart
 *     uploads the catalog does not know are aborted at start;
 *   - a manifest object goes up only after every segment it names is a
 *     complete object; segments it no longer names are deleted after it;
 *   - a tape becomes ARCHIVING only when every object is in the store and
 *     verified, and its local copy is dropped only after that;
 *   - the SCSI path never waits for the store (the thread reads the
 *     medium's files, never the drive).
 *
 * Functions return 0 or a negative errno and never print; messages for a
 * person go to the log callback or into err.
 */
#ifndef VTL_UPLOADER_H
#define VTL_UPLOADER_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog/catalog_upl.h"
#include "s3/store.h"
#include "store_config.h"

struct lib;
struct upl;

/* level: 0 error, 1 warning, 2 info, 3 debug. */
typedef void (*upl_log_fn)(int level, const char *msg);

/* Start the thread (it owns st from then on) and attach it to lib. */
int upl_start(struct lib *lib, struct store *st, const struct store_config *c, upl_log_fn log,
	      struct upl **out, char *err, size_t errlen);
/* Detach from lib, stop the thread (an upload in progress stays resumable),
 * close the store. */
void upl_stop(struct upl *u);
/* Look at the tapes now rather than at the next tick. */
void upl_kick(struct upl *u);
/* Reads [store] of vtld's configuration again, into c (which has the
 * defaults); 0, or a negative errno with err. */
typedef int (*upl_reload_fn)(void *arg, struct store_config *c, char *err, size_t errlen);
void upl_set_reload(struct upl *u, upl_reload_fn fn, void *arg);

struct upl_retry {
	uint64_t id;	 /* upl_status.retried reaches it when a round begun after it is over */
	char note[1024]; /* what of the configuration was taken or not, "" */
};
/* `vtlctl store retry` and SIGHUP: the credentials and ca_bundle are read
 * again from the configuration (upl_set_reload; other [store] keys changed
 * are named in r->note as taking a restart), and uploads held back by an
 * error that needs a person are tried again at once (the error, if met
 * again, logged again). */
void upl_retry(struct upl *u, struct upl_retry *r);
/* Shutting down: writes waiting for room in the cache go on (the front
 * ends can then stop); later ones are not held either. */
void upl_release_writers(struct upl *u);

struct upl_status {
	char backend[16];
	/* Where ARCHIVED tapes are: "s3://BUCKET/PREFIXtapes/" or a
	 * directory (the shelf apart), or "storage class GLACIER in place". */
	char shelf[PATH_MAX + 160];
	unsigned parallel_parts;
	uint64_t part_size;
	/* Bytes of the local media not yet safe in the store, the tapes that
	 * hold them, and the uploads (segments, manifests) they need: the
	 * definition of upl_tape_totals. */
	uint64_t backlog_bytes;
	uint32_t backlog_tapes;
	uint32_t pending_segments;
	uint64_t bytes_sent; /* since start */
	uint64_t parts_sent, parts_copied, objects_completed, manifests_put;
	uint64_t parts_adopted; /* found in the store after a crash, not sent again */
	/* Sealed segments the store took as its own file (store_put_file: a
	 * hard link or reflink, no byte copied), and their bytes. */
	uint64_t objects_linked, bytes_linked;
	uint64_t throughput; /* bytes/s over the last ~10 s */
	/* What the thread is doing, what the backlog waits for, or "idle". */
	char activity[2560];
	char last_error[1024]; /* "" when none */
	/* When it was met, and when the store last took something (a part,
	 * an object, a manifest), in seconds since the epoch, 0: never; and
	 * whether the store has taken nothing since the error (else the error
	 * is history, not the state). */
	int64_t last_error_at, last_success_at;
	bool last_error_current;
	/* An error that needs a person and holds uploads back (the store's,
	 * or the first held tape's), with what to do; "" when none. */
	char action[2560];
	char held_by[16];     /* its cause: store_fault_name(), "foreign tape", "local file" */
	uint32_t held_tapes;  /* tapes with bytes held back (by the store's hold: all) */
	int64_t next_try_ms;  /* until the held uploads are tried again, -1: none */
	uint64_t retry_asked; /* `vtlctl store retry` requests */
	uint64_t retried;     /* the last one a round answered */
	/* The local cache (vtl/cache.h). */
	uint64_t cache_limit, cache_used, cache_unsent;
	uint32_t writes_waiting; /* appends blocked by back-pressure now */
	char write_wait[512];	 /* why they wait, "" when none do */
	uint64_t evicted_segments, evicted_bytes, fetched_segments, fetched_bytes;
	uint32_t fetching;
	/* The uploader's rounds since start: those that looked at every tape
	 * (at start, each minute, after `vtlctl store retry`) and those that
	 * looked only at the tapes that can have work (changed, in a drive,
	 * on a trip, left busy); the tapes the last round looked at. */
	uint64_t rounds_full, rounds_partial;
	uint32_t round_tapes;
};
void upl_get_status(struct upl *u, struct upl_status *s);

/*
 * What of tape t is safe in the store (t->used: its used bytes as the
 * caller knows them, live for a loaded tape). A byte is safe once the store
 * acknowledged it with a checksum it verified and the catalog recorded it
 * (a completed, verified object, or an acknowledged part of an upload in
 * progress); every other byte of the local medium is pending, whatever
 * holds it back. The same definition gives the backlog of upl_status and
 * the cache's bytes not yet in the store (docs/object-store.md, "Is my
 * data safe?").
 */
struct upl_totals {
	uint64_t uploaded;     /* bytes safe in the store */
	uint64_t pending;      /* bytes of the local medium that are not */
	uint32_t uploads;      /* segments not yet complete objects, and the manifest */
	uint64_t manifest_gen; /* the newest manifest in the store, 0: none */
	char held_by[16];      /* as upl_status.held_by when held back, else "" */
	/* What the pending bytes wait for, "" when none: the error that holds
	 * them and what to do, a transient error, the uploader's next round,
	 * more data in the active segment, ... */
	char wait[2560];
};
int upl_tape_totals(struct upl *u, const struct cat_tape *t, struct upl_totals *out);
/* The same for many tapes (tape list, tape create of a batch): the
 * uploader's catalog rows of every tape read at once, then each tape from
 * them. NULL when they cannot be read: use upl_tape_totals. */
struct upl_snapshot;
struct upl_snapshot *upl_snapshot(struct upl *u);
void upl_snapshot_free(struct upl_snapshot *s);
int upl_tape_totals_in(struct upl *u, const struct upl_snapshot *s, const struct cat_tape *t,
		       struct upl_totals *out);
/* Where the tape's trip to or from the shelf stands ("moving tape X to the
 * shelf: object 2 of 5", "downloading tape X: segment 1 of 3", the restores
 * it waits for); -ENOENT when it is on no such trip. */
int upl_tape_activity(struct upl *u, const char *barcode, char *buf, size_t cap);

/*
 * A master-key rotation's publish step (vtl/keys.h, key_publish_fn): the
 * tape's new wrap put as its KEY object where the store holds the tape
 * (the library's location or the shelf apart) and then written to its
 * cartridge's KEY file (private, atomically), before the catalog names
 * the new master key. -EBUSY when the tape is on its way to or from the
 * shelf; err says what and the fix.
 */
int upl_key_publish(struct upl *u, const char *barcode, const char *wrapped, char *err,
		    size_t errlen);

#endif
