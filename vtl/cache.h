/*
 * cache.h - the local cache of vtld (ARCHITECTURE.md, "The local
 * cache is the write buffer and a read cache"): the segment files under
 * DATA_DIR/tapes are the cache in front of the object store.
 *
 *   - Eviction: when the segment files add up to more than [store]
 *     cache_limit, sealed segments that are complete and verified in the
 *     store are deleted locally, least recently used first. Never the
 *     active segment, never a segment not yet safely in the store; the
 *     index sidecar stays, so loading and positioning need no download.
 *   - Read-through: a read of an evicted segment reaches the medium's fetch
 *     hook (scsi/tape.h, struct tape_hooks); a fetch job downloads a run
 *     of the segment from the reader's record with ranged GETs of 8 MiB,
 *     up to four ahead of the reader, checks every record's CRC32C, and
 *     hands the medium the run verified so far. The file is seg-<id>.part
 *     until a run covers the whole segment, then renamed seg-<id>.dat
 *     (back in the cache).
 *   - Back-pressure: when the data not yet in the store reaches the limit,
 *     appends wait (the medium's room hook) until uploads make room;
 *     vcache_status() says that writes are waiting and why.
 *
 * The uploader thread drives it: it measures the cache each round (it
 * knows what is in the store), evicts, and reports each part it sent.
 * scsi/ never does network I/O: the hooks run the store calls here.
 */
#ifndef VTL_CACHE_H
#define VTL_CACHE_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "catalog/catalog.h"
#include "s3/store.h"

struct vcache;

/* level as upl_log_fn: 0 error, 1 warning, 2 info, 3 debug. */
typedef void (*vcache_log_fn)(int level, const char *msg);

struct vcache_config {
	struct store *store;   /* shared with the uploader (thread-safe) */
	char prefix[128];      /* key prefix, as the uploader's */
	uint64_t limit;	       /* bytes; 0: no eviction, no back-pressure */
	uint64_t segment_size; /* medium segment size, 0: the default */
	vcache_log_fn log;
	void (*kick)(void *arg); /* writes are waiting: look at the tapes now */
	void *kick_arg;
};

/* Create it and register the medium's hooks (tape_set_hooks). */
int vcache_open(const struct vcache_config *cfg, struct vcache **out);
/* Writes waiting for room go on, and later ones are not held (shutdown). */
void vcache_release_writers(struct vcache *c);
/* Unregister the hooks, cancel fetches, wake waiting writers. */
void vcache_close(struct vcache *c);

/* A local segment the uploader found safely in the store. */
struct vcache_seg {
	char dir[PATH_MAX]; /* the cartridge's directory */
	char barcode[CAT_BARCODE_MAX + 1];
	uint64_t seg;
	uint64_t bytes;
	time_t last_use; /* the later of the file's access and modification */
};

/*
 * One measurement of the cache: `used` bytes of segment files, `pending`
 * of them not yet in the store. Evicts candidates (least recently used
 * first) until used <= limit, resets the write gate to `pending` and wakes
 * writers that may go on. *evicted: bytes freed.
 */
void vcache_update(struct vcache *c, struct vcache_seg *cand, size_t n, uint64_t used,
		   uint64_t pending, uint64_t *evicted);
/* `bytes` more are in the store (a part was acknowledged). */
void vcache_sent(struct vcache *c, uint64_t bytes);

struct vcache_status {
	uint64_t limit, used, pending; /* pending: estimate since the last measurement */
	uint32_t writes_waiting;       /* appends blocked by back-pressure now */
	time_t waiting_since;	       /* 0 when none */
	char waiting_tape[CAT_BARCODE_MAX + 1];
	uint64_t evicted_segments, evicted_bytes;
	uint64_t fetched_segments, fetched_bytes;
	uint32_t fetching; /* fetch jobs running */
};
void vcache_status(struct vcache *c, struct vcache_status *s);

#endif
