/*
 * upload_int.h - private to vtld's object-store side: uploader.c (the
 * thread, its scheduler and status), upload_sync.c (the part pool and the
 * sync of a tape's segments and manifests), upload_backlog.c (what is not
 * yet safe in the store, the cache pass), shelf.c (archive, retrieve,
 * restore), rebuild.c (disaster recovery), upload_keys.c (a tape's KEY
 * object) and upload_util.c (the helpers that keep no state). Nothing
 * else includes it;
 * the rest of vtld sees uploader.h and rebuild.h.
 *
 * It holds the state they share (struct upl, one per vtld, and the
 * thread's record of each tape) and the helpers more than one of them
 * calls: the log with its repeat suppression, the keys of a tape's
 * objects, the manifest as the uploader keeps it. Invariants:
 *   - struct upl's fields below `mu` are read and written under u->mu;
 *     the uploader's catalog connection (u->cat) under u->cat_mu;
 *   - on a running vtld, only the uploader's thread (and the part workers
 *     it starts) puts, copies or deletes a tape's objects; the shelf's
 *     steps run on it, and a rebuild only reads the store (and asks for
 *     restores of archived objects); the one exception is a rotation's
 *     put of a tape's KEY object, under u->key_mu (upload_keys.c);
 *   - upl_rec_for() is called by the thread alone (the array grows under
 *     u->mu because upl_tape_activity reads it from other threads).
 */
#ifndef VTL_UPLOAD_INT_H
#define VTL_UPLOAD_INT_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "datadir.h"
#include "rebuild.h"
#include "scsi/tape.h"
#include "uploader.h"

struct vcache;

#define MIB	       (1ull << 20)
#define THROUGHPUT_WIN 10 /* seconds */
#define LOG_SEEN       32 /* the log lines' causes remembered (upl_logf) */

/* ---- State -------------------------------------------------------------- */

/* Causes of a wait besides the store's faults (enum store_fault): the
 * store holds another tape of the barcode, or a local file of the tape
 * cannot be read. */
enum { FAULT_FOREIGN = 100, FAULT_LOCAL };

/*
 * Uploads held back by an error that needs a person (store_fault other
 * than transient, or FAULT_*): the whole store's (a certificate, the
 * credentials, the bucket, a quota) or one tape's. They stay visible in
 * `vtlctl status` and `tape show` until a try succeeds.
 */
struct hold {
	int fault;	  /* 0: none */
	uint64_t cause;	  /* which error: its fault, errno and S3 code */
	uint64_t logged;  /* the cause last logged (kept when the hold ends), 0
			   * after `store retry` */
	char what[2048];  /* the error and what to do about it */
	int64_t retry_ms; /* upl_mono_ms() of the next try; 0: at the next round */
};

/* What the thread remembers of a tape between rounds. */
struct tape_rec {
	char barcode[CAT_BARCODE_MAX + 1];
	uint64_t gen; /* the manifest generation last seen, since `since` */
	time_t since;
	/* Retrieval waiting for archive restores: the next look, and the
	 * wait before it, doubled each time (RESTORE_POLL_MIN_MS..MAX_MS). */
	int64_t poll_at_ms;
	unsigned poll_ms;
	/* Where its trip to or from the shelf stands, for `tape show` and
	 * `--wait` (upl_tape_activity), "" when none; under u->mu. */
	char note[256];
	/* Its uploads wait for a person (hold.fault), or its last round
	 * failed with an error that the next one may not meet (transient);
	 * under u->mu. */
	struct hold hold;
	char transient[STORE_ERR_MSG_MAX + 256];
	/* Its share of the cache as the last cache pass that looked at it
	 * measured it (upload_backlog.c): bytes of its segment files, and of
	 * them the bytes not yet in the store. Only the thread. */
	uint64_t cache_used, cache_pending;
};

/* The first error of the upload of the tape in hand (upl_errf), for
 * round_once to decide: hold the store or the tape, or try again. */
struct tape_err {
	int fault; /* 0: none yet */
	int rc;
	char code[64];
	char msg[STORE_ERR_MSG_MAX + 512];
};

/* A log line's cause and when it was last said (upl_logf). */
struct log_seen {
	uint64_t key;
	time_t at;
	unsigned suppressed;
};

/* One part of a segment's window: bytes [off, off+len) as part `number`. */
struct part_job {
	int number;
	uint64_t off, len;
	char listed[STORE_ETAG_MAX]; /* the store's ETag for it (ListParts), or "" */
};

/* The parts sync_seg() hands to the pool; next, inflight and err under
 * u->mu, the rest fixed while the window runs. */
struct window {
	const char *bc, *dir, *key;
	const struct cat_upl_seg *s;
	const struct part_job *jobs;
	size_t njobs, next, inflight;
	int err; /* the first failure: no part starts after it */
};

struct worker {
	struct upl *u;
	pthread_t thread;
	uint8_t *buf; /* one part, allocated at start */
	size_t cap;
	int number; /* the part in flight, 0 when none (under u->mu) */
};

struct upl {
	struct lib *lib;
	struct store *st;
	struct store_config cfg;
	/* The shelf apart ([store] archive_bucket, archive_path,
	 * archive_prefix): st itself or a store of its own, and the config
	 * whose prefix names its keys. NULL: the class is changed in place. */
	struct store *shelf_st;
	struct store_config shelf_cfg;
	upl_log_fn log;
	struct cat *cat;
	pthread_mutex_t cat_mu; /* the uploader's catalog connection */
	pthread_mutex_t key_mu; /* a tape's KEY file and object (upload_keys.c) */
	pthread_mutex_t mu;	/* everything below */
	pthread_cond_t cond;
	pthread_t thread;
	bool running, stop, kicked;
	struct upl_status stats;
	uint64_t samples[THROUGHPUT_WIN + 1]; /* bytes_sent at each second */
	time_t sample_t[THROUGHPUT_WIN + 1];
	unsigned part_delay_ms; /* test hook: VTL_UPLOAD_PART_DELAY_MS */
	/* Test hook VTL_UPLOAD_PAUSE_FILE: no round while this file exists,
	 * so that a test sees a tape the uploader has not looked at yet. */
	char pause_file[PATH_MAX];
	/* The library record last put in the store (vtl/record.h), and when
	 * it was last looked at (upl_mono_ms). Only the thread touches them. */
	char *record_last;
	int64_t record_ms;
	/* The catalog's count of changes of what the record says when the
	 * record in the store was built (cat_record_changes), -1: unknown. */
	int64_t record_seq;
	/* A quiet library (uploader.c, round_once): the last round left
	 * nothing to do, no tape was in a drive and the record was current;
	 * the catalog's data_version then, and when that round ran. Rounds
	 * skip their walk of every tape while the catalog stays unchanged.
	 * Only the thread touches them. */
	bool quiet;
	int64_t quiet_dv;
	/* Rounds that look at the tapes with work only (uploader.c,
	 * round_once): the catalog's count of tape changes read before the
	 * last round that went through all its tapes (cat_tape_changes;
	 * valid once seen_ok), when the last full round that did so began
	 * (upl_mono_ms), the tapes that round left work for (sorted by
	 * barcode), whether it tried to move an archived tape's objects
	 * (shelf_reclass), and the catalog's data_version then. Only the
	 * thread touches them. */
	bool seen_ok, reclassed;
	int64_t seq_seen, full_ms, round_dv;
	int64_t full_every_ms; /* QUIET_FULL_MS, or the test hook VTL_UPLOAD_FULL_ROUND_MS */
	char (*busy)[CAT_BARCODE_MAX + 1];
	size_t n_busy;
	/* The sum of every tape's share of the cache (struct tape_rec) as
	 * the cache passes measured it. Only the thread. */
	uint64_t cache_used, cache_pending;
	struct tape_rec *recs;
	size_t n_recs, cap_recs;
	/* Index of recs by barcode (open addressing, UINT32_MAX: empty), so
	 * that a round over 10,000 tapes and `tape list` find each tape's
	 * record at once rather than by a walk of all of them. */
	uint32_t *rec_idx;
	size_t cap_idx;				 /* a power of two, at least twice n_recs */
	struct vcache *cache;			 /* eviction, read-through, back-pressure */
	char (*reconciled)[STORE_UPLOAD_ID_MAX]; /* uploads checked with ListParts */
	size_t n_reconciled;
	char restore_note[512]; /* the last "waiting for restores" said (shelf_retrieve_tape) */
	/* Under mu: the store's hold (struct hold), the error of the tape in
	 * hand, the log lines said lately, `vtlctl store retry` requests
	 * (asked) and the last one a round has answered (retried). */
	struct hold hold;
	struct tape_err terr;
	char current[CAT_BARCODE_MAX + 1]; /* the tape whose upload runs, "" */
	struct log_seen seen[LOG_SEEN];
	uint64_t retry_asked, retried;
	uint64_t progress; /* requests to the store that succeeded (upl_count()) */
	/* Reads [store] of vtld's configuration again (upl_set_reload). */
	upl_reload_fn reload;
	void *reload_arg;
	bool swept; /* the orphan sweep has run (it waits out a hold) */
	/* The store's server-side encryption was checked (store_sse_check):
	 * until then nothing is written to it. */
	bool sse_ok;
	/* Can the store take a sealed segment's file as its object
	 * (store_put_file)? 0 not tried yet (a local store on the cache's
	 * file system: taken to be yes until a link fails), 1 yes, -1 no
	 * (S3, another file system, a link refused): then every segment is
	 * copied. Only the thread. */
	int share;
	/* What store_takes_files said at start; set once, read by any. */
	bool takes_files;
	/* The part pool ([store] parallel_parts). */
	struct worker *workers;
	unsigned nworkers;
	struct window *win;	  /* the segment being sent, under mu */
	pthread_cond_t work_cond; /* a window or stop, for the workers */
	pthread_cond_t done_cond; /* a part done, for run_window */
};
/* A manifest as the uploader keeps it: the file's bytes, copied to the
 * store whole, and what they say (scsi/tape.h). */
struct manifest {
	uint8_t *buf;
	size_t len;
	struct tape_manifest tm;
};

struct shelf_last_key {
	char key[STORE_KEY_MAX];
};

/*
 * One definition of the bytes of a tape that are not yet safe in the store,
 * for `tape show` and `tape list`, the backlog of `vtlctl status`, the
 * cache's accounting and its back-pressure alike (docs/object-store.md,
 * "Is my data safe?"). A byte is safe once the store has acknowledged it
 * with a checksum it verified and the catalog has recorded that: in an
 * object completed and verified by HEAD, or in an acknowledged part (its
 * Content-MD5 checked) of the upload in progress, which the store keeps
 * until the completion. Every other byte the local medium holds counts,
 * whatever keeps it back: the tape not looked at yet, its first check
 * failed, the store refusing (a certificate, credentials, a quota), a part
 * that failed, the short tail of the active segment. The medium holds the
 * valid bytes of each segment its manifest names plus what was appended to
 * the last one since (its file is longer): the tape's used bytes. A tape
 * whose manifest cannot be read counts the used bytes the catalog records.
 */
struct backlog {
	uint64_t held;	  /* bytes the medium holds (no local copy: those in the store) */
	uint64_t safe;	  /* of them, bytes safe in the store */
	uint32_t uploads; /* segments not yet complete objects, and the manifest */
	uint64_t gen;	  /* the newest manifest in the store */
	bool unclaimed;	  /* the uploader has not looked at the tape yet */
};

/* ---- Helpers that keep no state (upload_util.c) ------------------------ */

void upl_copy_str(char *dst, size_t cap, const char *src);
/* arr with room for one more element (see upload_util.c), NULL: no memory. */
void *upl_grow(void *arr, size_t *cap, size_t n, size_t elem);
/* A message for a person into buf, cut at cap if need be. */
void upl_errmsg(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int64_t upl_mono_ms(void);

/* Keys of a tape's objects (upload_util.c, "Keys"); k has STORE_KEY_MAX bytes. */
void upl_key_seg(const struct store_config *c, const char *bc, uint64_t seg, char *k);
void upl_key_manifest(const struct store_config *c, const char *bc, uint64_t gen, char *k);
void upl_key_tape(const struct store_config *c, const char *bc, const char *rest, char *k);

int upl_set_aside(const char *dir, const char *why, char *kept, size_t cap);
void upl_man_free(struct manifest *m);
int upl_man_parse(struct manifest *m);
int upl_man_read(const char *dir, struct manifest *m);
/* The same without the bytes (m->buf NULL): what the backlog and the
 * cache pass read of every tape. */
int upl_man_facts(const char *dir, struct manifest *m);

/* ---- The log, the counters, the thread's record (uploader.c) ----------- */

/* Log at level (upl_log_fn), an error or warning of the same cause at most
 * once a minute. */
void upl_logf(struct upl *u, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* An error of the upload of the tape in hand, kept for round_once (or
 * logged at once outside an upload); returns rc. */
int upl_errf(struct upl *u, const struct store_err *se, int rc, int fault, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* What the thread is doing (upl_status.activity). */
void upl_activity(struct upl *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool upl_stopping(struct upl *u);
/* A request to the store that succeeded, and what it sent. */
void upl_count(struct upl *u, uint64_t bytes, int parts, int copied, int objects, int manifests);
/* The thread's record of tape bc, made when missing (NULL: no memory). */
struct tape_rec *upl_rec_for(struct upl *u, const char *bc);
/* The same, NULL when it has none. The thread, or under u->mu. */
struct tape_rec *upl_rec_find(struct upl *u, const char *bc);
/* Where tape bc's trip to or from the shelf stands ("" when over). */
void upl_tape_note(struct upl *u, const char *bc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- The part pool and the sync of a tape (upload_sync.c) -------------- */

uint64_t upl_adapt_part_size(uint64_t want);
int upl_cat_segs(struct upl *u, const char *bc, struct cat_upl_seg **s, size_t *n);
/* The row of segment seg among rows ascending by segment (as cat_upl_segs
 * and cat_upl_all return them), NULL when none: a binary search, so that
 * a tape of tens of thousands of segments costs no pass over its rows for
 * each of them. */
const struct cat_upl_seg *upl_row_of(const struct cat_upl_seg *rows, size_t n, uint64_t seg);
/* Tape bc's rows in a snapshot (uploader.h), NULL when it has none. */
const struct cat_upl_tape_rows *upl_snapshot_rows(const struct upl_snapshot *s, const char *bc);
/* The calling thread's name and nice value ([store] upload_nice). */
void upl_give_way(struct upl *u, const char *name);
int upl_pool_start(struct upl *u, unsigned n, size_t part_size);
void upl_pool_stop(struct upl *u);
int upl_put_state(struct upl *u, struct store *st, const struct store_config *c,
		  const struct cat_tape *t, const char *state, uint64_t gen);
int upl_delete_under(struct upl *u, struct store *st, const char *prefix, const char *keep);
int upl_delete_versions_under(struct upl *u, struct store *st, const char *prefix);
/* A store_list callback: the first key found into arg (STORE_KEY_MAX). */
int upl_any_key(void *arg, const struct store_list_entry *e);
/* One round for tape t: its segments, then its manifest. */
int upl_sync_tape(struct upl *u, const struct cat_tape *t, bool *up_to_date);
int upl_sweep_orphans(struct upl *u, struct store *st, const struct store_config *c);
void upl_forget_deleted(struct upl *u, const struct cat_tape *t);

/* ---- What is not yet safe in the store (upload_backlog.c) ------------- */

/* Tape t's backlog (struct backlog above). */
void upl_tape_backlog(struct upl *u, const struct cat_tape *t, struct backlog *b);
/* The same from the catalog's rows of the tape, read by the caller. */
void upl_backlog_of(struct upl *u, const struct cat_tape *t, const struct cat_upl_seg *rows,
		    size_t nrows, uint64_t gen, const char *sstate, struct backlog *b);
/* Measure the cache and let it evict what is safe in the store (vtl/cache.h):
 * every tape of the library, tapes[0..n). */
void upl_cache_pass(struct upl *u, const struct cat_tape *tapes, size_t n);
/* The same measuring only tapes[0..n) again (the others' shares as last
 * measured); false when the cache is over its limit, so that a pass of
 * every tape must find what to evict. */
bool upl_cache_pass_some(struct upl *u, const struct cat_tape *tapes, size_t n);
/* Put the library record in the store when it changed (record.c). */
/* Put the library record if it changed (at most every RECORD_EVERY_S
 * seconds); true when the store holds the catalog's record as it is now. */
bool upl_record_pass(struct upl *u);

/* ---- The shelf (shelf.c) ----------------------------------------------- */

bool shelf_holds_tape(struct upl *u, const struct cat_tape *t);
int shelf_verify_tape(struct upl *u, const struct cat_tape *t, uint64_t *bytes);
int shelf_finish_archive(struct upl *u, const struct cat_tape *t);
void shelf_reclass(struct upl *u, const struct cat_tape *t);
int shelf_retrieve_tape(struct upl *u, const struct cat_tape *t);
void shelf_restore_damaged(struct upl *u, const struct cat_tape *t);
/* Downloads, for the rebuild too. */
int shelf_last_cb(void *arg, const struct store_list_entry *e);
int shelf_get_all(struct store *st, const char *key, uint8_t **out, size_t *len,
		  struct store_err *se);
bool shelf_rebuild_cancelled(const struct upl_rebuild *r);
int shelf_fetch_tape(struct store *st, const struct store_config *c, const char *bc,
		     const char *tmp, struct manifest *m, const struct upl_rebuild *r, char *err,
		     size_t errlen);
int shelf_install_tape(const char *tmp, const char *dir, char *err, size_t errlen);

/* ---- A tape's KEY object (upload_keys.c) ------------------------------- */

/* Put the tape's wrapped data key (its KEY file, else the catalog's) as
 * tapes/BARCODE/KEY, before a manifest of a tape encrypted at rest. */
int upl_put_key(struct upl *u, const struct cat_tape *t);
/* Read tapes/BARCODE/KEY of (st, c) into wrapped (cap bytes): 0, -ENOENT
 * (none: the tape is not encrypted at rest), -EBADMSG (not a wrap), or
 * the store's error in se. */
int upl_get_key(struct store *st, const struct store_config *c, const char *bc, char *wrapped,
		size_t cap, struct store_err *se);
/* The KEY object, if there is one, as the file tmp/KEY (mode 0600). */
int upl_fetch_key(struct store *st, const struct store_config *c, const char *bc, const char *tmp,
		  char *err, size_t errlen);
/* A KEY file's wrap into wrapped (cap bytes); -EINVAL when it holds none. */
int upl_read_key_file(const char *path, char *wrapped, size_t cap);

#endif
