/*
 * store_config.h - the [store] section of vtld's configuration: where the
 * object store is and how to reach it, where the shelf is, and how the
 * uploader uses it (vtl/store_config.c). One struct for all its keys
 * (vtl/config.c fills it from vtld.conf); opening the store it names, and
 * the checks of the shelf's keys, are here too, so that the uploader, the
 * rebuild and vtld open stores one way.
 */
#ifndef VTL_STORE_CONFIG_H
#define VTL_STORE_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "s3/store.h"

/* The most [store] parallel_parts allows; the S3 backend's handle pool
 * (s3/store_s3.c, POOL_MAX) keeps at least this many connections. */
#define STORE_PARALLEL_MAX 64

struct store_config {
	char type[8];	     /* "local" (default) or "s3" */
	char path[PATH_MAX]; /* local: the store's directory; "": DATA_DIR/store */
	char endpoint[256];
	char bucket[64];
	char region[64];
	char prefix[128];    /* prepended to every key, e.g. "vtl/" */
	char addressing[16]; /* "auto", "path", "virtual" */
	char ca_bundle[PATH_MAX];
	char profile[64];
	char access_key[128]; /* "": the environment or the profile */
	char secret_key[128]; /* used for signing only, never logged */
	/* Server-side encryption (docs/object-store.md, "Server-side
	 * encryption"): sse "" (none), "AES256" or "aws:kms" with
	 * sse_kms_key_id; or SSE-C with the 32-byte key in
	 * sse_customer_key_file (mode 0600), read when the store is opened
	 * and held only by the S3 backend. Checked at start against the
	 * service's answer (store_sse_check). */
	char sse[16];
	char sse_kms_key_id[256];
	char sse_customer_key_file[PATH_MAX];
	uint64_t part_size; /* bytes; >= 5 MiB; raised so a segment needs <= 10,000 parts */
	/* Parts in flight at once, 1..STORE_PARALLEL_MAX. */
	unsigned parallel_parts;
	char archive_class[STORE_CLASS_MAX]; /* "" keeps STANDARD */
	/* The shelf apart from the library's objects, for stores without
	 * archive classes (or to keep archived tapes in a bucket of their
	 * own): another bucket of the same S3 service (archive_bucket), another
	 * directory (archive_path, type local), and/or another key prefix
	 * (archive_prefix; it defaults to `prefix` when a bucket or directory
	 * is named). None of them set: the shelf is the objects' storage
	 * class, changed in place. */
	char archive_bucket[64];
	char archive_path[PATH_MAX];
	char archive_prefix[128];
	bool archive_prefix_set;
	/* RestoreObject of an archived tape's objects at retrieval: the days
	 * the restored copy stays readable (1..30000) and the tier
	 * ("Standard", "Bulk", "Expedited"), AWS's trade of speed for price. */
	unsigned restore_days;
	/* Archived objects of a tape whose pool has a retention lock carry it
	 * as S3 Object Lock retention (mode and retain-until date), so that
	 * not even the bucket's credentials delete them early; the bucket must
	 * have Object Lock (and versioning) enabled, checked at start. */
	bool object_lock;
	/* A local store on the cache's file system takes a segment that can
	 * no longer change as a hard link or reflink of its file, no copy
	 * (store_put_file); false: an independent copy of every segment. */
	bool link_segments;
	char restore_tier[16];
	uint64_t cache_limit; /* 0: none (vtl/cache.h) */
	unsigned idle_secs;   /* complete the active segment after a flush and this idle */
	/* Added to the nice value of the uploader's threads (0..19), so that
	 * hashing and copying parts yield the CPU to the drives. */
	unsigned upload_nice;
};

void store_config_defaults(struct store_config *c);

/* Open the store c names (type local with no path: DATA_DIR/store). */
int store_config_open(const struct store_config *c, const char *data_dir, struct store **out,
		      char *err, size_t errlen);

/*
 * The shelf apart (archive_bucket, archive_path, archive_prefix), its keys
 * checked against the library's: *out is st itself (another prefix of the
 * same bucket or directory) or a store of its own (close it with
 * store_config_close_shelf), and *sc the config naming its keys; *out is
 * NULL when the shelf is the archive class changed in place. -EINVAL with
 * err naming the key when the keys contradict each other or overlap the
 * library's.
 */
int store_config_open_shelf(const struct store_config *c, const char *data_dir, struct store *st,
			    struct store **out, struct store_config *sc, char *err, size_t errlen);
void store_config_close_shelf(struct store *shelf, struct store *st);

/* The key under which vtld probes the store's encryption at start. */
void store_config_sse_probe_key(const struct store_config *c, char *out, size_t outsz);

/* An S3 store opened with another configuration takes c's credentials and
 * ca_bundle (store_s3_reconfigure); its other keys need a new store. */
int store_config_reconfigure(const struct store_config *c, struct store *st, struct store_err *se);

#endif
