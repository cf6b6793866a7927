/*
 * uploader.c - the object-store side of vtld (see uploader.h and
 * docs/object-store.md, "The uploader, the shelf and recovery"): the
 * configuration, the thread and its rounds, the holds on errors that need
 * a person and the status; and the shared helpers that touch struct upl
 * (the log, the counters, the thread's record of a tape; upload_int.h).
 *
 * The parts, each in a file of its own:
 *   uploader.c     the thread, its scheduler and status (this file)
 *   upload_sync.c  the part pool and the sync of one tape's segments and
 *                  manifest, the store's leftovers
 *   upload_backlog.c  what is not yet safe in the store, the cache pass
 *   shelf.c        the shelf: archive, retrieve, restore
 *   rebuild.c      disaster recovery: the catalog from the store alone
 *   upload_util.c  the helpers that keep no state: keys, manifests, files
 *
 * One thread, plus a pool of [store] parallel_parts workers that send the
 * parts of a segment (upload_sync.c). Each round the thread reads the
 * catalog (its own SQLite connection) and, per tape, syncs it
 * (upl_sync_tape), archives it (shelf.c) or retrieves it; the shelf's
 * steps run on this thread too. An error that needs a person holds the
 * store's uploads, or one tape's, back until a try succeeds ("Errors that
 * need a person" below).
 *
 * Keys (prefix + ...):
 *   tapes/BARCODE/seg/<segment id, 16 hex>     one object per segment
 *   tapes/BARCODE/manifest/<generation, 16 hex> the MANIFEST bytes as-is
 *   tapes/BARCODE/state                        "state=ARCHIVED\n" etc.
 *   tapes/BARCODE/KEY                          its wrapped data key, if encrypted
 *                                              at rest (upload_keys.c)
 */
#include "config.h"

#include "uploader.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "datadir.h"
#include "library.h"
#include "scsi/tape.h"
#include "upload_int.h"
#include "util/metrics.h"

#define TICK_MS 500
/* An upload held back by an error that waiting cannot fix (a certificate,
 * credentials, the bucket, a quota, a foreign tape, a damaged local file)
 * is tried again after this long, or at once on `vtlctl store retry`: a
 * person has to act first, and every try costs requests. */
#define HOLD_RETRY_MS (5u * 60 * 1000)
/* A log line of the same cause at most once in this many seconds. */
#define LOG_REPEAT_SECS 60

/* ---- The log and the counters (upload_int.h) ---------------------------- */

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

/* The cause of a message: its text without what changes from one try of
 * the same request to the next (the request id, the count of tries). */
static uint64_t msg_cause(uint64_t h, const char *msg)
{
	static const char *const skip[][2] = {{"[request id ", "]"}, {"(after ", ")"}};
	const char *p = msg;
	while (*p) {
		const char *cut = NULL, *end = NULL;
		for (size_t i = 0; i < 2; i++) {
			const char *a = strstr(p, skip[i][0]);
			if (a && (!cut || a < cut)) {
				cut = a;
				end = strstr(a, skip[i][1]);
			}
		}
		if (!cut || !end) {
			h = fnv1a(h, p, strlen(p));
			break;
		}
		h = fnv1a(h, p, (size_t)(cut - p));
		p = end + 1;
	}
	return h;
}

/*
 * Say msg unless the same cause (key) was said less than LOG_REPEAT_SECS
 * ago: an error met at every round (twice a second) or by every part of a
 * window is one line a minute, with the count of those not said. Errors
 * and warnings only; each info line tells of something done once.
 */
static void say(struct upl *u, int level, uint64_t key, const char *msg)
{
	char line[1200];
	upl_copy_str(line, sizeof(line), msg);
	if (level <= 1) {
		time_t now = time(NULL);
		pthread_mutex_lock(&u->mu);
		struct log_seen *e = NULL, *old = &u->seen[0];
		for (size_t i = 0; i < LOG_SEEN && !e; i++) {
			if (u->seen[i].key == key)
				e = &u->seen[i];
			else if (u->seen[i].at < old->at)
				old = &u->seen[i];
		}
		bool quiet = e && now - e->at < LOG_REPEAT_SECS;
		if (quiet) {
			e->suppressed++;
		} else {
			if (e && e->suppressed)
				snprintf(line + strlen(line), sizeof(line) - strlen(line),
					 " (%u more times in the last %ld s)", e->suppressed,
					 (long)(now - e->at));
			e = e ? e : old;
			*e = (struct log_seen){.key = key, .at = now};
		}
		if (level == 0) {
			upl_copy_str(u->stats.last_error, sizeof(u->stats.last_error), msg);
			u->stats.last_error_at = (int64_t)time(NULL);
			u->stats.last_error_current = true;
		}
		pthread_mutex_unlock(&u->mu);
		if (quiet)
			return;
	}
	if (u->log)
		u->log(level, line);
}

void upl_logf(struct upl *u, int level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* One call site with one message is one cause. */
	say(u, level, msg_cause(fnv1a(0xcbf29ce484222325ull, &fmt, sizeof(fmt)), msg), msg);
}

/*
 * An error of the upload of the tape in hand (upl_sync_tape and below, the
 * part workers too): the first one of the tape's round is kept with its
 * fault (the store's, or `fault` when se is NULL or says none) for
 * round_once, which holds the store or the tape back, or logs it and tries
 * again next round. Nothing is logged here then, so a window of parts
 * failing alike is one line. Outside an upload (the shelf's steps) the
 * error is logged at once, as upl_logf does. Returns rc.
 */
static const char *fault_name(int fault);

int upl_errf(struct upl *u, const struct store_err *se, int rc, int fault, const char *fmt, ...)
{
	char msg[sizeof(u->terr.msg)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (se && se->fault)
		fault = (int)se->fault;
	if (!fault)
		fault = (int)store_fault_of(rc, se ? se->code : NULL);
	met_store_error(fault_name(fault));
	pthread_mutex_lock(&u->mu);
	bool uploading = u->current[0] != 0;
	pthread_mutex_unlock(&u->mu);
	if (!uploading) {
		say(u, 0, msg_cause(fnv1a(0xcbf29ce484222325ull, &fmt, sizeof(fmt)), msg), msg);
		return rc;
	}
	pthread_mutex_lock(&u->mu);
	if (!u->terr.fault) {
		u->terr.fault = fault;
		u->terr.rc = rc;
		upl_copy_str(u->terr.code, sizeof(u->terr.code), se ? se->code : "");
		upl_copy_str(u->terr.msg, sizeof(u->terr.msg), msg);
	}
	pthread_mutex_unlock(&u->mu);
	return rc;
}

void upl_activity(struct upl *u, const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&u->mu);
	va_start(ap, fmt);
	vsnprintf(u->stats.activity, sizeof(u->stats.activity), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&u->mu);
}

bool upl_stopping(struct upl *u)
{
	pthread_mutex_lock(&u->mu);
	bool s = u->stop;
	pthread_mutex_unlock(&u->mu);
	return s;
}

void upl_count(struct upl *u, uint64_t bytes, int parts, int copied, int objects, int manifests)
{
	pthread_mutex_lock(&u->mu);
	u->progress++;
	u->stats.bytes_sent += bytes;
	u->stats.parts_sent += (uint64_t)parts;
	u->stats.parts_copied += (uint64_t)copied;
	u->stats.objects_completed += (uint64_t)objects;
	u->stats.manifests_put += (uint64_t)manifests;
	if (bytes || parts || copied || objects || manifests) {
		u->stats.last_success_at = (int64_t)time(NULL);
		u->stats.last_error_current = false;
	}
	pthread_mutex_unlock(&u->mu);
	met_upload(bytes, (unsigned)parts, (unsigned)copied, (unsigned)objects,
		   (unsigned)manifests);
}

/* ---- The thread's record of a tape -------------------------------------- */

/* The thread's record of a tape, made when missing (NULL: no memory).
 * Only the thread calls it; the array grows under u->mu because
 * upl_tape_activity reads it from other threads. */
static size_t rec_hash(const struct upl *u, const char *bc)
{
	return (size_t)fnv1a(0xcbf29ce484222325ull, bc, strlen(bc)) & (u->cap_idx - 1);
}

/* Tape bc's record, NULL when it has none. The thread, or under u->mu. */
static struct tape_rec *find_rec(struct upl *u, const char *bc)
{
	if (!u->cap_idx)
		return NULL;
	for (size_t h = rec_hash(u, bc); u->rec_idx[h] != UINT32_MAX;
	     h = (h + 1) & (u->cap_idx - 1))
		if (strcmp(u->recs[u->rec_idx[h]].barcode, bc) == 0)
			return &u->recs[u->rec_idx[h]];
	return NULL;
}

struct tape_rec *upl_rec_find(struct upl *u, const char *bc)
{
	return find_rec(u, bc);
}

static void index_rec(struct upl *u, size_t i)
{
	size_t h = rec_hash(u, u->recs[i].barcode);
	while (u->rec_idx[h] != UINT32_MAX)
		h = (h + 1) & (u->cap_idx - 1);
	u->rec_idx[h] = (uint32_t)i;
}

struct tape_rec *upl_rec_for(struct upl *u, const char *bc)
{
	struct tape_rec *r = find_rec(u, bc);
	if (r)
		return r;
	pthread_mutex_lock(&u->mu);
	if (u->n_recs == u->cap_recs) {
		size_t nc = u->cap_recs ? 2 * u->cap_recs : 64;
		struct tape_rec *v = nc < UINT32_MAX ? realloc(u->recs, nc * sizeof(*v)) : NULL;
		if (!v)
			goto out;
		u->recs = v;
		u->cap_recs = nc;
	}
	if (2 * (u->n_recs + 1) > u->cap_idx) {
		size_t nc = u->cap_idx ? 2 * u->cap_idx : 128;
		uint32_t *ix = malloc(nc * sizeof(*ix));
		if (!ix)
			goto out;
		memset(ix, 0xff, nc * sizeof(*ix));
		free(u->rec_idx);
		u->rec_idx = ix;
		u->cap_idx = nc;
		for (size_t i = 0; i < u->n_recs; i++)
			index_rec(u, i);
	}
	r = &u->recs[u->n_recs];
	memset(r, 0, sizeof(*r));
	snprintf(r->barcode, sizeof(r->barcode), "%s", bc);
	index_rec(u, u->n_recs++);
out:
	pthread_mutex_unlock(&u->mu);
	return r;
}

/* Say where tape bc's trip to or from the shelf stands (fmt "" when it
 * is over); the text, which names the tape, is the thread's activity too. */
void upl_tape_note(struct upl *u, const char *bc, const char *fmt, ...)
{
	struct tape_rec *r = upl_rec_for(u, bc);
	char text[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&u->mu);
	if (r)
		upl_copy_str(r->note, sizeof(r->note), text);
	if (text[0])
		upl_copy_str(u->stats.activity, sizeof(u->stats.activity), text);
	pthread_mutex_unlock(&u->mu);
}

/* ---- Errors that need a person ------------------------------------------ */

/* An error that waiting cannot fix: what it means, and what to do. */
struct fix {
	const char *headline; /* NULL: the message says it already */
	const char *todo;
};

static struct fix fix_for(const struct upl *u, int fault)
{
	bool s3 = strcmp(u->cfg.type, "s3") == 0;
	switch (fault) {
	case STORE_FAULT_TLS:
		return (struct fix){
		    "the store's certificate does not verify",
		    "if a private CA issued it, set [store] ca_bundle to that CA's certificate "
		    "(a PEM file) and run `vtlctl store retry`, which reads it again; if it "
		    "names another host, set [store] endpoint to a name it holds and restart "
		    "vtld"};
	case STORE_FAULT_ACCESS:
		return s3 ? (struct fix){"the store refuses vtld's credentials or access",
					 "check [store] access_key_id and secret_access_key (or "
					 "the profile's files; the AWS_* environment takes a "
					 "restart) and that the key may list, read, write and "
					 "delete in the bucket; then run `vtlctl store retry`, "
					 "which reads them again"}
			  : (struct fix){"vtld may not write the store's directory",
					 "check the owner and mode of [store] path, then run "
					 "`vtlctl store retry`"};
	case STORE_FAULT_BUCKET:
		return (struct fix){"the store's bucket does not exist",
				    "create it and run `vtlctl store retry`, or set [store] "
				    "bucket to one that does and restart vtld"};
	case STORE_FAULT_SPACE:
		return s3 ? (struct fix){"the store is out of space",
					 "raise the bucket's or the user's quota, or delete what "
					 "is no longer needed, then run `vtlctl store retry`"}
			  : (struct fix){"the store's file system is full",
					 "free space there, then run `vtlctl store retry`"};
	case FAULT_FOREIGN:
		return (struct fix){NULL, "then run `vtlctl store retry`"};
	case FAULT_LOCAL:
		return (struct fix){NULL, "the tape's bytes stay in the local cache meanwhile; "
					  "restore the file from a copy, then run `vtlctl store "
					  "retry`"};
	default:
		return (struct fix){"the store refuses a request, and sending it again fails "
				    "again",
				    "correct what the message names, then run `vtlctl store "
				    "retry`"};
	}
}

/* "4m 05s", "12 s" */
static void format_wait(int64_t ms, char *buf, size_t cap)
{
	int64_t s = ms > 0 ? (ms + 999) / 1000 : 0;
	if (s >= 60)
		snprintf(buf, cap, "%" PRId64 "m %02" PRId64 "s", s / 60, s % 60);
	else
		snprintf(buf, cap, "%" PRId64 " s", s);
}

/* Hold uploads back (the store's h, or tape bc's) for error e: said once
 * in the log per cause, shown until a try succeeds, tried again after
 * HOLD_RETRY_MS or at `vtlctl store retry`. */
static void hold_uploads(struct upl *u, struct hold *h, const char *bc, const struct tape_err *e)
{
	char what[sizeof(h->what)];
	struct fix f = fix_for(u, e->fault);
	snprintf(what, sizeof(what), "%s%s%s; %s", f.headline ? f.headline : "",
		 f.headline ? ": " : "", e->msg, f.todo);
	uint64_t cause = fnv1a(0xcbf29ce484222325ull, &e->fault, sizeof(e->fault));
	cause = fnv1a(cause, &e->rc, sizeof(e->rc));
	cause = fnv1a(cause, e->code, strlen(e->code));
	pthread_mutex_lock(&u->mu);
	bool tell = h->logged != cause;
	h->fault = e->fault;
	h->cause = h->logged = cause;
	upl_copy_str(h->what, sizeof(h->what), what);
	h->retry_ms = upl_mono_ms() + HOLD_RETRY_MS;
	upl_copy_str(u->stats.last_error, sizeof(u->stats.last_error), what);
	u->stats.last_error_at = (int64_t)time(NULL);
	u->stats.last_error_current = true;
	pthread_mutex_unlock(&u->mu);
	if (!tell || !u->log)
		return;
	char line[sizeof(what) + 256];
	if (bc)
		snprintf(line, sizeof(line),
			 "%s. Tape %s is not uploaded until this is fixed (tried again every %u "
			 "minutes, or now with `vtlctl store retry`)",
			 what, bc, HOLD_RETRY_MS / 60000);
	else
		snprintf(line, sizeof(line),
			 "%s. Nothing goes to the store until this is fixed (tried again every %u "
			 "minutes, or now with `vtlctl store retry`)",
			 what, HOLD_RETRY_MS / 60000);
	u->log(0, line);
}

static uint64_t progress(struct upl *u)
{
	pthread_mutex_lock(&u->mu);
	uint64_t p = u->progress;
	pthread_mutex_unlock(&u->mu);
	return p;
}

/* A try went through: the hold (if any) is over; said when something went
 * up meanwhile (sent: a round with nothing to send proves nothing). The
 * cause stays known, so that it is not logged again unless a person asks
 * (`vtlctl store retry`). */
static void release(struct upl *u, struct hold *h, const char *bc, bool sent)
{
	pthread_mutex_lock(&u->mu);
	bool was = h->fault != 0;
	uint64_t logged = h->logged;
	memset(h, 0, sizeof(*h));
	h->logged = logged;
	pthread_mutex_unlock(&u->mu);
	if (!was || !sent)
		return;
	if (bc)
		upl_logf(u, 2, "tape %s: the store takes its uploads again", bc);
	else
		upl_logf(u, 2, "the store takes uploads again");
}

/* The thread's record of tape bc, if it has one; under u->mu. */

static const char *fault_name(int fault)
{
	return fault == FAULT_FOREIGN ? "foreign tape"
	       : fault == FAULT_LOCAL ? "local file"
				      : store_fault_name((enum store_fault)fault);
}

/*
 * What tape t's pending bytes wait for (b: its backlog), "" when nothing
 * of it waits; held_by gets the cause when a person must act. Under u->mu.
 */
static void tape_wait(struct upl *u, const struct cat_tape *t, const struct backlog *b, int64_t now,
		      char *buf, size_t cap, char *held_by, size_t hcap)
{
	buf[0] = held_by[0] = 0;
	if (b->held == b->safe && !b->uploads)
		return;
	const struct tape_rec *r = find_rec(u, t->barcode);
	const struct hold *h = u->hold.fault ? &u->hold : r && r->hold.fault ? &r->hold : NULL;
	if (h) {
		char when[32];
		format_wait(h->retry_ms - now, when, sizeof(when));
		snprintf(buf, cap,
			 "waiting for a person: %s; next try in %s, or now with `vtlctl store "
			 "retry`",
			 h->what, when);
		upl_copy_str(held_by, hcap, fault_name(h->fault));
	} else if (strcmp(u->current, t->barcode) == 0) {
		snprintf(buf, cap, "uploading now");
	} else if (r && r->transient[0]) {
		snprintf(buf, cap, "tried again at the next round after an error: %s",
			 r->transient);
	} else if (b->unclaimed) {
		snprintf(buf, cap,
			 "not looked at yet: before a tape's first upload the uploader checks "
			 "that the store holds no other tape of its barcode");
	} else if (t->in_library && t->kind == CAT_DRIVE && u->takes_files) {
		snprintf(buf, cap,
			 "the tape is in a drive: its active segment becomes an object without a "
			 "copy when it is full or the tape is unloaded, and is copied after %u s "
			 "without writes (idle_complete)",
			 u->cfg.idle_secs);
	} else if (t->in_library && t->kind == CAT_DRIVE) {
		snprintf(buf, cap,
			 "the tape is in a drive: its active segment goes up a part (%" PRIu64
			 " bytes) at a time as it fills, and the rest when the tape is unloaded "
			 "or after %u s without writes (idle_complete)",
			 u->stats.part_size, u->cfg.idle_secs);
	} else {
		snprintf(buf, cap, "the uploader's next round");
	}
}

/* Before work whose errors upl_errf keeps for upload_outcome. */
static void begin_upload(struct upl *u, const char *bc)
{
	pthread_mutex_lock(&u->mu);
	memset(&u->terr, 0, sizeof(u->terr));
	upl_copy_str(u->current, sizeof(u->current), bc);
	pthread_mutex_unlock(&u->mu);
}

/*
 * After the upload round of tape bc (or the orphan sweep, bc NULL) that
 * returned rc: an error that needs a person holds the store back (a
 * certificate, credentials, the bucket, a quota: every tape would meet it)
 * or the tape (a foreign tape of its barcode, a damaged local file, a
 * refused request); a transient one is logged (once a minute at most) and
 * the next round tries again. Returns true when the store is held now.
 */
static bool upload_outcome(struct upl *u, const char *bc, int rc, bool sent)
{
	struct tape_err e;
	pthread_mutex_lock(&u->mu);
	e = u->terr;
	memset(&u->terr, 0, sizeof(u->terr));
	u->current[0] = 0;
	pthread_mutex_unlock(&u->mu);
	if (!e.fault && rc && rc != -EAGAIN && rc != -EINTR) {
		/* No message of its own: the catalog, memory. */
		e.fault = STORE_FAULT_TRANSIENT;
		e.rc = rc;
		snprintf(e.msg, sizeof(e.msg), "%s%s: %s", bc ? "upload of tape " : "",
			 bc ? bc : "sweep of orphaned uploads", strerror(-rc));
	}
	struct tape_rec *r = bc ? upl_rec_for(u, bc) : NULL;
	switch (e.fault) {
	case STORE_FAULT_NONE:
		if (r) {
			pthread_mutex_lock(&u->mu);
			r->transient[0] = 0;
			pthread_mutex_unlock(&u->mu);
			release(u, &r->hold, bc, sent);
		}
		if (sent) /* the store took this: its hold, if any, is over */
			release(u, &u->hold, NULL, true);
		return false;
	case STORE_FAULT_TLS:
	case STORE_FAULT_ACCESS:
	case STORE_FAULT_BUCKET:
	case STORE_FAULT_SPACE:
		hold_uploads(u, &u->hold, NULL, &e);
		return true;
	case STORE_FAULT_TRANSIENT: {
		if (r) {
			pthread_mutex_lock(&u->mu);
			upl_copy_str(r->transient, sizeof(r->transient), e.msg);
			pthread_mutex_unlock(&u->mu);
		}
		/* The same failure of every tape and part is one cause. */
		uint64_t key = fnv1a(0x84222325cbf29ce4ull, &e.rc, sizeof(e.rc));
		say(u, 0, fnv1a(key, e.code, strlen(e.code)), e.msg);
		return false;
	}
	default:
		if (r)
			hold_uploads(u, &r->hold, bc, &e);
		else
			hold_uploads(u, &u->hold, NULL, &e);
		return !r;
	}
}

/* The store's hold is over once a round went through without it. */
static bool store_held(struct upl *u, bool *due)
{
	pthread_mutex_lock(&u->mu);
	bool held = u->hold.fault != 0;
	*due = held && upl_mono_ms() >= u->hold.retry_ms;
	pthread_mutex_unlock(&u->mu);
	return held;
}

/* Tape bc waits for a person, and its next try is not due. */
static bool tape_held(struct upl *u, const char *bc)
{
	pthread_mutex_lock(&u->mu);
	struct tape_rec *r = find_rec(u, bc);
	bool held = r && r->hold.fault && upl_mono_ms() < r->hold.retry_ms;
	pthread_mutex_unlock(&u->mu);
	return held;
}

/* ---- The thread --------------------------------------------------------- */

/* Abort the orphaned uploads (upl_sweep_orphans) once, at the first round the
 * store is not held; false when the store is held now. */
/* store_sse_check on the library's store and on a shelf store of its own;
 * sets u->sse_ok when both encrypt as asked. The first error into se. */
static int check_sse(struct upl *u, struct store_err *se)
{
	memset(se, 0, sizeof(*se));
	for (int i = 0; i < 2; i++) {
		struct store *where = i ? u->shelf_st : u->st;
		if (!where || (i && where == u->st))
			continue;
		char probe[STORE_KEY_MAX];
		store_config_sse_probe_key(i ? &u->shelf_cfg : &u->cfg, probe, sizeof(probe));
		int rc = store_sse_check(where, probe, se);
		if (rc)
			return rc;
	}
	u->sse_ok = true;
	return 0;
}

/* Before any write of a round: the encryption check, until it passes
 * (false: the round is held, as by any store error). */
static bool sse_once(struct upl *u)
{
	if (u->sse_ok)
		return true;
	begin_upload(u, "(encryption check)");
	struct store_err se;
	int rc = check_sse(u, &se);
	if (rc)
		upl_errf(u, &se, rc, 0, "[store] server-side encryption: %s",
			 se.msg[0] ? se.msg : strerror(-rc));
	return !upload_outcome(u, NULL, rc, !rc);
}

static bool sweep_once(struct upl *u)
{
	if (u->swept)
		return true;
	begin_upload(u, "(sweep)");
	int rc = upl_sweep_orphans(u, u->st, &u->cfg);
	if (!rc && u->shelf_st)
		rc = upl_sweep_orphans(u, u->shelf_st, &u->shelf_cfg);
	u->swept = rc == 0;
	if (u->swept)
		upl_count(u, 0, 0, 0, 0, 0); /* the store answered */
	return !upload_outcome(u, NULL, rc, u->swept);
}

static int cmp_barcode(const void *a, const void *b)
{
	return strcmp(a, b);
}

/*
 * A quiet library costs one catalog read a round. A round that found
 * nothing to do (every tape's objects in the store, none in a drive, none
 * on its way to or from the shelf, no hold, the library record current)
 * notes the catalog's data_version; the rounds after it do nothing while
 * that stays the same, since everything the walk acts on is a catalog row
 * another connection writes (a load, an unload's bytes used, a state, a
 * pool, a key) or a tape in a drive, which keeps rounds going. The rows
 * the uploader writes itself (upl_*) do not change it.
 *
 * A round looks at the tapes that can have work, not at every tape: those
 * whose catalog row changed since the last round (every insert and update
 * of a tape row counts a change, by the catalog's own triggers, in the
 * transaction of the change: cat_tape_changes), those in a drive (their
 * segments are sealed and grow with no catalog write), those on a trip
 * (CREATING, IN_TRANSIT_TO_SHELF, ARCHIVING, RETRIEVING, IRRECOVERABLE:
 * cat_tape_list_changed), and those the last round left work for (an
 * upload not finished, an error to try again, a hold): u->busy. Nothing
 * rests on memory alone: a full round, every tape, runs at start, every
 * QUIET_FULL_MS, after `vtlctl store retry`, and again after a round
 * that did not go through its tapes (the store held, a stop), so a change
 * missed would cost time, never data; and it finds what no row says (a
 * store that came back for a DELETED tape's objects).
 */
#define QUIET_FULL_MS 60000

static bool retry_pending(struct upl *u)
{
	pthread_mutex_lock(&u->mu);
	bool retry = u->retry_asked != u->retried;
	pthread_mutex_unlock(&u->mu);
	return retry;
}

static bool quiet_now(struct upl *u, int64_t *dv)
{
	pthread_mutex_lock(&u->cat_mu);
	int rc = cat_data_version(u->cat, dv);
	pthread_mutex_unlock(&u->cat_mu);
	if (rc)
		*dv = -1;
	/* A `vtlctl store retry` (the store's keys read again) is answered
	 * by a full round. */
	return u->quiet && !rc && !retry_pending(u) && *dv == u->quiet_dv &&
	       upl_mono_ms() - u->full_ms < u->full_every_ms;
}

/*
 * One tape's turn in a round: sync it, archive it, retrieve it, restore
 * it, move it to its pool's class or forget it, as its state asks (moves:
 * the archived tapes whose objects are not where their pool says, sorted).
 * *held: the store is held now. Returns true when the tape has work left
 * for a later round.
 */
static bool tape_turn(struct upl *u, struct cat_tape *t, char (*moves)[CAT_BARCODE_MAX + 1],
		      size_t nmoves, bool *held)
{
	bool busy = false, done = false;
	uint64_t bytes;
	int rc;
	if (t->in_library && t->kind == CAT_DRIVE)
		busy = true; /* written or read without a catalog change */
	switch (t->state) {
	case CAT_AVAILABLE:
	case CAT_RETRIEVED:
	case CAT_IN_TRANSIT_TO_SHELF:
		/* A blank tape never loaded has no medium, and its
		 * barcode is in the library record (record.c). */
		if (t->unmade)
			break;
		/* A retrieved copy: nothing of it goes up again. */
		done = shelf_holds_tape(u, t);
		rc = 0;
		if (!done) {
			if (tape_held(u, t->barcode)) {
				busy = true;
				break; /* it waits for a person */
			}
			uint64_t before = progress(u);
			begin_upload(u, t->barcode);
			rc = upl_sync_tape(u, t, &done);
			*held = upload_outcome(u, t->barcode, rc, progress(u) != before);
			busy = busy || rc || !done;
		}
		busy = busy || t->state == CAT_IN_TRANSIT_TO_SHELF;
		if (rc || !done || t->state != CAT_IN_TRANSIT_TO_SHELF)
			break;
		rc = shelf_verify_tape(u, t, &bytes);
		if (rc) {
			upl_logf(u, 0, "tape %s does not verify in the store: %s", t->barcode,
				 strerror(-rc));
			break;
		}
		char cause[128];
		snprintf(cause, sizeof(cause),
			 "uploaded and verified: %" PRIu64 " bytes in the object store", bytes);
		if (lib_shelf_step(u->lib, t->barcode, LC_UPLOADED, 0, cause) == 0) {
			t->state = CAT_ARCHIVING;
			shelf_finish_archive(u, t);
		}
		break;
	case CAT_ARCHIVING:
		busy = true;
		shelf_finish_archive(u, t);
		break;
	case CAT_ARCHIVED:
		if (nmoves && bsearch(t->barcode, moves, nmoves, sizeof(*moves), cmp_barcode)) {
			busy = true;
			u->reclassed = true;
			shelf_reclass(u, t);
		}
		break;
	case CAT_RETRIEVING:
		busy = true;
		shelf_retrieve_tape(u, t);
		break;
	case CAT_DELETED:
		upl_forget_deleted(u, t);
		break;
	case CAT_IRRECOVERABLE:
		busy = true;
		shelf_restore_damaged(u, t);
		break;
	default:
		busy = true; /* CREATING: the library finishes it */
		break;
	}
	return busy;
}

static int cmp_tape_barcode(const void *a, const void *b)
{
	return strcmp(((const struct cat_tape *)a)->barcode, ((const struct cat_tape *)b)->barcode);
}

static int cmp_key_tape(const void *key, const void *elem)
{
	return strcmp(key, ((const struct cat_tape *)elem)->barcode);
}

/* Add to *tapes (n, sorted by barcode) the tapes of u->busy it does not
 * hold, read from the catalog; a tape gone from it is left out. */
static int add_busy(struct upl *u, struct cat_tape **tapes, size_t *n)
{
	size_t want = *n;
	for (size_t i = 0; i < u->n_busy; i++)
		if (!*n || !bsearch(u->busy[i], *tapes, *n, sizeof(**tapes), cmp_key_tape))
			want++;
	if (want == *n)
		return 0;
	struct cat_tape *v = realloc(*tapes, want * sizeof(*v));
	if (!v)
		return -ENOMEM;
	*tapes = v;
	size_t k = *n;
	for (size_t i = 0; i < u->n_busy; i++) {
		if (*n && bsearch(u->busy[i], v, *n, sizeof(*v), cmp_key_tape))
			continue;
		pthread_mutex_lock(&u->cat_mu);
		int rc = cat_tape_get(u->cat, u->busy[i], &v[k]);
		pthread_mutex_unlock(&u->cat_mu);
		if (rc == 0)
			k++;
		else if (rc != -ENOENT)
			return rc;
	}
	*n = k;
	qsort(v, k, sizeof(*v), cmp_tape_barcode);
	return 0;
}

/* The cache pass of a round: every tape in a full one; in one of the
 * tapes with work, those, unless the cache must find what to evict. */
static void cache_pass(struct upl *u, bool full, const struct cat_tape *tapes, size_t n)
{
	if (full) {
		upl_cache_pass(u, tapes, n);
		return;
	}
	if (upl_cache_pass_some(u, tapes, n))
		return;
	struct cat_tape *all;
	size_t nall;
	pthread_mutex_lock(&u->cat_mu);
	int rc = cat_tape_list(u->cat, -1, true, &all, &nall);
	pthread_mutex_unlock(&u->cat_mu);
	if (rc)
		return; /* the next round measures */
	upl_cache_pass(u, all, nall);
	free(all);
}

static void round_once(struct upl *u)
{
	struct cat_tape *tapes;
	size_t n;
	int64_t dv, seq = 0, started = upl_mono_ms();
	if (quiet_now(u, &dv))
		return;
	u->quiet = false;
	bool full = !u->seen_ok || started - u->full_ms >= u->full_every_ms || retry_pending(u);
	bool busy = false; /* work left for a later round */
	/* The count of changes before the list: a change made between the
	 * two is listed again by the next round, never missed. */
	pthread_mutex_lock(&u->cat_mu);
	int rc = cat_tape_changes(u->cat, &seq);
	if (!rc)
		rc = full ? cat_tape_list(u->cat, -1, true, &tapes, &n)
			  : cat_tape_list_changed(u->cat, u->seq_seen, &tapes, &n);
	pthread_mutex_unlock(&u->cat_mu);
	if (!rc && !full && (rc = add_busy(u, &tapes, &n)) != 0)
		free(tapes);
	if (rc) {
		upl_logf(u, 0, "cannot read the catalog: %s", strerror(-rc));
		return;
	}
	cache_pass(u, full, tapes, n);
	/* The archived tapes whose objects are not where their pool says
	 * (shelf_reclass), found by one query rather than one per tape: in a
	 * full round, and in another when the catalog changed (a pool) or
	 * the last round tried to move some. */
	char(*moves)[CAT_BARCODE_MAX + 1] = NULL;
	size_t nmoves = 0;
	if (full || dv != u->round_dv || u->reclassed) {
		pthread_mutex_lock(&u->cat_mu);
		if (cat_upl_reclass_due(u->cat, u->cfg.archive_class, u->cfg.object_lock, &moves,
					&nmoves))
			nmoves = 0;
		pthread_mutex_unlock(&u->cat_mu);
	}
	u->round_dv = dv;
	u->reclassed = false;
	/* Held for an error that needs a person: nothing is asked of the
	 * store until the next try is due (or `vtlctl store retry`). */
	bool due, held = store_held(u, &due) && !due;
	uint64_t p0 = progress(u);
	if (!held)
		held = !sse_once(u);
	if (!held)
		held = !sweep_once(u);
	char(*left)[CAT_BARCODE_MAX + 1] = n ? malloc(n * sizeof(*left)) : NULL;
	size_t nleft = 0, i;
	for (i = 0; i < n && !held && !upl_stopping(u); i++) {
		if (!tape_turn(u, &tapes[i], moves, nmoves, &held))
			continue;
		busy = true;
		if (left)
			upl_copy_str(left[nleft++], sizeof(*left), tapes[i].barcode);
	}
	/* Every tape had its turn: the next rounds look at what changed
	 * after seq, at the tapes in drives and on trips, and at those left
	 * busy (tapes is sorted, so left is too). Otherwise the tapes of
	 * this round are listed again (seq_seen and the busy list stay), and
	 * a full round that did not go through runs again. */
	bool through = i == n && !held && !upl_stopping(u) && (left || !n);
	if (through) {
		free(u->busy);
		u->busy = left;
		u->n_busy = nleft;
		left = NULL;
		u->seq_seen = seq;
		u->seen_ok = true;
		if (full)
			u->full_ms = started;
	}
	free(left);
	pthread_mutex_lock(&u->mu);
	if (full)
		u->stats.rounds_full++;
	else
		u->stats.rounds_partial++;
	u->stats.round_tapes = (uint32_t)n;
	pthread_mutex_unlock(&u->mu);
	if (!held && !upl_stopping(u))
		release(u, &u->hold, NULL, progress(u) != p0);
	/* The library record, only while the store takes requests: a store
	 * held for a person is asked nothing until the next try. */
	bool current = !held && !upl_stopping(u) && upl_record_pass(u);
	if (!upl_stopping(u))
		cache_pass(u, full, tapes, n);
	free(moves);
	free(tapes);
	if (!busy && !held && current && dv >= 0 && !upl_stopping(u)) {
		u->quiet = true;
		u->quiet_dv = dv;
	}
}

static void sample(struct upl *u)
{
	pthread_mutex_lock(&u->mu);
	time_t now = time(NULL);
	size_t slot = (size_t)(now % (THROUGHPUT_WIN + 1));
	u->samples[slot] = u->stats.bytes_sent;
	u->sample_t[slot] = now;
	pthread_mutex_unlock(&u->mu);
}

static void *thread_main(void *arg)
{
	struct upl *u = arg;
	upl_give_way(u, "vtl-upload");
	while (!upl_stopping(u)) {
		/* A `vtlctl store retry` asked before this round is answered
		 * by it. */
		pthread_mutex_lock(&u->mu);
		uint64_t asked = u->retry_asked;
		pthread_mutex_unlock(&u->mu);
		sample(u);
		if (u->pause_file[0] && access(u->pause_file, F_OK) == 0) {
			upl_activity(u, "paused while %s exists (test hook VTL_UPLOAD_PAUSE_FILE)",
				     u->pause_file);
		} else if (!lib_media_checked(u->lib)) {
			/* A medium not yet checked since start may be repaired,
			 * marked IRRECOVERABLE or come back (vtl/media.c): the
			 * uploader acts on none before it is. */
			upl_activity(u, "waiting for the check of the media after start");
		} else {
			round_once(u);
			upl_activity(u, "%s", ""); /* between rounds: upl_get_status says why */
		}
		sample(u);
		pthread_mutex_lock(&u->mu);
		u->retried = asked;
		if (!u->stop && !u->kicked) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += TICK_MS * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&u->cond, &u->mu, &ts);
		}
		u->kicked = false;
		pthread_mutex_unlock(&u->mu);
	}
	return NULL;
}

static void kick_cb(void *arg)
{
	upl_kick(arg);
}

int upl_start(struct lib *lib, struct store *st, const struct store_config *c, upl_log_fn log,
	      struct upl **out, char *err, size_t errlen)
{
	struct upl *u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->lib = lib;
	u->st = st;
	u->cfg = *c;
	u->log = log;
	/* store_put_file: see upload_sync.c */
	char tapes[PATH_MAX];
	bool named = datadir_tapes(lib_data_dir(lib), tapes, sizeof(tapes)) == 0;
	/* Not named (too long to ask about): store_put_file says, file by file. */
	u->takes_files = c->link_segments && (!named || store_takes_files(st, tapes));
	u->share = u->takes_files ? 0 : -1;
	if (c->link_segments && !u->takes_files && strcmp(c->type, "local") == 0)
		upl_logf(u, 2,
			 "segments are copied to the store: its directory is on another file "
			 "system than %s",
			 tapes);
	snprintf(u->stats.backend, sizeof(u->stats.backend), "%s", store_backend(st));
	u->stats.parallel_parts = c->parallel_parts ? c->parallel_parts : 1;
	u->stats.part_size = upl_adapt_part_size(c->part_size);
	snprintf(u->stats.activity, sizeof(u->stats.activity), "starting");
	const char *d = getenv("VTL_UPLOAD_PART_DELAY_MS");
	if (d)
		u->part_delay_ms = (unsigned)strtoul(d, NULL, 10);
	/* Test hook: full rounds further apart, so that a test sees the
	 * rounds of the tapes with work do a job alone. */
	const char *fr = getenv("VTL_UPLOAD_FULL_ROUND_MS");
	u->full_every_ms = fr ? strtoll(fr, NULL, 10) : QUIET_FULL_MS;
	const char *pf = getenv("VTL_UPLOAD_PAUSE_FILE");
	if (pf)
		upl_copy_str(u->pause_file, sizeof(u->pause_file), pf);
	pthread_mutex_init(&u->mu, NULL);
	pthread_mutex_init(&u->cat_mu, NULL);
	pthread_mutex_init(&u->key_mu, NULL);
	pthread_cond_init(&u->cond, NULL);
	pthread_cond_init(&u->work_cond, NULL);
	pthread_cond_init(&u->done_cond, NULL);
	char path[PATH_MAX + 16];
	datadir_catalog(lib_data_dir(lib), path, sizeof(path));
	int rc = cat_open(path, &u->cat);
	if (rc) {
		snprintf(err, errlen, "uploader: cannot open the catalog %s: %s", path,
			 strerror(-rc));
		goto fail;
	}
	rc = store_config_open_shelf(c, lib_data_dir(lib), st, &u->shelf_st, &u->shelf_cfg, err,
				     errlen);
	if (rc)
		goto fail;
	/* A service that answers that it does not encrypt as asked stops vtld
	 * here; one that cannot be asked now (down, a certificate, a
	 * credential) is asked again before the first write of each round. */
	struct store_err sse_err;
	rc = check_sse(u, &sse_err);
	if (rc && !strcmp(sse_err.code, STORE_SSE_NOT_APPLIED)) {
		snprintf(err, errlen, "[store] server-side encryption: %s", sse_err.msg);
		goto fail;
	}
	if (rc)
		upl_logf(u, 1,
			 "[store] server-side encryption not checked yet (%s); nothing is written "
			 "to the store until it is",
			 sse_err.msg[0] ? sse_err.msg : strerror(-rc));
	rc = 0;
	if (c->object_lock) {
		/* Where archived objects are must enforce their retention. */
		struct store_err se;
		memset(&se, 0, sizeof(se));
		rc = store_lock_check(u->shelf_st ? u->shelf_st : st, &se);
		if (rc) {
			snprintf(err, errlen,
				 "[store] object_lock = yes, but the store cannot lock archived "
				 "objects: %s",
				 se.msg[0] ? se.msg : strerror(-rc));
			goto fail;
		}
	}
	if (u->shelf_st) {
		char pfx[STORE_KEY_MAX];
		snprintf(pfx, sizeof(pfx), "%stapes/", u->shelf_cfg.prefix);
		store_where(u->shelf_st, pfx, u->stats.shelf, sizeof(u->stats.shelf));
	} else {
		snprintf(u->stats.shelf, sizeof(u->stats.shelf), "storage class %s in place",
			 c->archive_class[0] ? c->archive_class : "STANDARD");
	}
	/* The partial downloads a crash left are removed by the check of
	 * the media after start (vtl/media.c), which this thread's rounds
	 * wait for, or by the load of a tape the check has not reached,
	 * before any fetch can run. */
	struct vcache_config vc = {
	    .store = st,
	    .limit = c->cache_limit,
	    .log = log,
	    .kick = kick_cb,
	    .kick_arg = u,
	};
	upl_copy_str(vc.prefix, sizeof(vc.prefix), c->prefix);
	/* Test hook: small segments, so that tests see sealing and eviction
	 * without writing gigabytes. */
	const char *ss = getenv("VTL_SEGMENT_SIZE");
	if (ss)
		vc.segment_size = strtoull(ss, NULL, 10);
	rc = vcache_open(&vc, &u->cache);
	if (rc) {
		snprintf(err, errlen, "uploader: cannot set up the cache: %s", strerror(-rc));
		goto fail;
	}
	unsigned np = c->parallel_parts ? c->parallel_parts : 1;
	size_t psize = upl_adapt_part_size(c->part_size);
	rc = upl_pool_start(u, np, psize);
	if (rc) {
		snprintf(err, errlen,
			 "uploader: cannot start %u part workers with %zu-byte buffers: %s", np,
			 psize, strerror(-rc));
		goto fail;
	}
	rc = -pthread_create(&u->thread, NULL, thread_main, u);
	if (rc) {
		snprintf(err, errlen, "uploader: cannot start its thread: %s", strerror(-rc));
		goto fail;
	}
	u->running = true;
	lib_set_shelf_worker(lib, kick_cb, u);
	*out = u;
	return 0;
fail:
	pthread_mutex_lock(&u->mu);
	u->stop = true;
	pthread_cond_broadcast(&u->work_cond);
	pthread_mutex_unlock(&u->mu);
	upl_pool_stop(u);
	vcache_close(u->cache);
	cat_close(u->cat);
	store_config_close_shelf(u->shelf_st, u->st);
	pthread_cond_destroy(&u->done_cond);
	pthread_cond_destroy(&u->work_cond);
	pthread_cond_destroy(&u->cond);
	pthread_mutex_destroy(&u->mu);
	pthread_mutex_destroy(&u->cat_mu);
	pthread_mutex_destroy(&u->key_mu);
	free(u);
	return rc;
}

void upl_stop(struct upl *u)
{
	if (!u)
		return;
	lib_set_shelf_worker(u->lib, NULL, NULL);
	pthread_mutex_lock(&u->mu);
	u->stop = true;
	pthread_cond_broadcast(&u->cond);
	pthread_cond_broadcast(&u->work_cond);
	pthread_cond_broadcast(&u->done_cond);
	pthread_mutex_unlock(&u->mu);
	if (u->running)
		pthread_join(u->thread, NULL);
	/* The library record once more, whatever its last time: the blank
	 * tapes created in the last RECORD_EVERY_S seconds have no object
	 * but their line in it (record.c). Not while the store is held for a
	 * person: a stop does not wait for a store that refuses. */
	bool due;
	if (u->running && (!store_held(u, &due) || due)) {
		u->record_ms = 0;
		upl_record_pass(u);
	}
	upl_pool_stop(u); /* after the thread: its window's parts in flight finish first */
	vcache_close(u->cache);
	cat_close(u->cat);
	store_config_close_shelf(u->shelf_st, u->st);
	store_close(u->st);
	pthread_cond_destroy(&u->done_cond);
	pthread_cond_destroy(&u->work_cond);
	pthread_cond_destroy(&u->cond);
	pthread_mutex_destroy(&u->mu);
	pthread_mutex_destroy(&u->cat_mu);
	pthread_mutex_destroy(&u->key_mu);
	free(u->recs);
	free(u->busy);
	free(u->rec_idx);
	free(u->reconciled);
	free(u->record_last);
	free(u);
}

void upl_release_writers(struct upl *u)
{
	if (u)
		vcache_release_writers(u->cache);
}

void upl_kick(struct upl *u)
{
	if (!u)
		return;
	pthread_mutex_lock(&u->mu);
	u->kicked = true;
	pthread_cond_broadcast(&u->cond);
	pthread_mutex_unlock(&u->mu);
}

struct upl_snapshot {
	struct cat_upl_tape_rows *v;
	size_t n;
};

struct upl_snapshot *upl_snapshot(struct upl *u)
{
	struct upl_snapshot *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	pthread_mutex_lock(&u->cat_mu);
	int rc = cat_upl_all(u->cat, &s->v, &s->n);
	pthread_mutex_unlock(&u->cat_mu);
	if (rc) {
		free(s);
		return NULL;
	}
	return s;
}

void upl_snapshot_free(struct upl_snapshot *s)
{
	if (!s)
		return;
	cat_upl_all_free(s->v, s->n);
	free(s);
}

static int cmp_rows_barcode(const void *key, const void *elem)
{
	return strcmp(key, ((const struct cat_upl_tape_rows *)elem)->barcode);
}

const struct cat_upl_tape_rows *upl_snapshot_rows(const struct upl_snapshot *s, const char *bc)
{
	return s && s->n ? bsearch(bc, s->v, s->n, sizeof(*s->v), cmp_rows_barcode) : NULL;
}

void upl_get_status(struct upl *u, struct upl_status *s)
{
	pthread_mutex_lock(&u->mu);
	*s = u->stats;
	time_t now = time(NULL), oldest = now;
	uint64_t base = s->bytes_sent;
	for (size_t i = 0; i <= THROUGHPUT_WIN; i++) {
		if (u->sample_t[i] && now - u->sample_t[i] <= THROUGHPUT_WIN &&
		    u->sample_t[i] < oldest) {
			oldest = u->sample_t[i];
			base = u->samples[i];
		}
	}
	s->throughput = now > oldest ? (s->bytes_sent - base) / (uint64_t)(now - oldest) : 0;
	pthread_mutex_unlock(&u->mu);
	struct vcache_status cs;
	vcache_status(u->cache, &cs);
	s->cache_limit = cs.limit;
	s->cache_used = cs.used;
	s->writes_waiting = cs.writes_waiting;
	s->evicted_segments = cs.evicted_segments;
	s->evicted_bytes = cs.evicted_bytes;
	s->fetched_segments = cs.fetched_segments;
	s->fetched_bytes = cs.fetched_bytes;
	s->fetching = cs.fetching;
	/* The backlog, tape by tape (upl_backlog_of), and what it waits for:
	 * the uploader's rows of every tape in one read (a snapshot), not
	 * two queries a tape. */
	struct cat_tape *tapes = NULL;
	size_t n = 0;
	pthread_mutex_lock(&u->cat_mu);
	if (cat_tape_list(u->cat, -1, false, &tapes, &n))
		n = 0;
	pthread_mutex_unlock(&u->cat_mu);
	struct upl_snapshot *snap = n > 1 ? upl_snapshot(u) : NULL;
	char first[CAT_BARCODE_MAX + 1] = "", wait[sizeof(s->activity)] = "", cause[16];
	const struct hold *held_tape = NULL;
	int64_t mnow = upl_mono_ms();
	for (size_t i = 0; i < n; i++) {
		struct backlog b;
		const struct cat_upl_tape_rows *tr = upl_snapshot_rows(snap, tapes[i].barcode);
		if (snap)
			upl_backlog_of(u, &tapes[i], tr ? tr->segs : NULL, tr ? tr->nsegs : 0,
				       tr ? tr->manifest_gen : 0, tr ? tr->state : "", &b);
		else
			upl_tape_backlog(u, &tapes[i], &b);
		if (b.held == b.safe && !b.uploads)
			continue;
		s->backlog_bytes += b.held - b.safe;
		s->backlog_tapes++;
		s->pending_segments += b.uploads;
		pthread_mutex_lock(&u->mu);
		const struct tape_rec *r = find_rec(u, tapes[i].barcode);
		if (r && r->hold.fault) {
			s->held_tapes++;
			if (!held_tape) {
				held_tape = &r->hold;
				snprintf(s->action, sizeof(s->action), "tape %s: %s", r->barcode,
					 r->hold.what);
				upl_copy_str(s->held_by, sizeof(s->held_by),
					     fault_name(r->hold.fault));
				s->next_try_ms =
				    r->hold.retry_ms > mnow ? r->hold.retry_ms - mnow : 0;
			}
		}
		if (!first[0]) {
			upl_copy_str(first, sizeof(first), tapes[i].barcode);
			tape_wait(u, &tapes[i], &b, mnow, wait, sizeof(wait), cause, sizeof(cause));
		}
		pthread_mutex_unlock(&u->mu);
	}
	free(tapes);
	upl_snapshot_free(snap);
	/* The cache's bytes not yet in the store are the backlog, as of now:
	 * its own figure (cs.pending, which gates the writes) is the same
	 * definition as of the last round, moved on by appends and parts
	 * since only while a cache_limit is set. */
	s->cache_unsent = s->backlog_bytes;
	pthread_mutex_lock(&u->mu);
	s->next_try_ms = held_tape ? s->next_try_ms : -1;
	if (u->hold.fault) {
		upl_copy_str(s->action, sizeof(s->action), u->hold.what);
		upl_copy_str(s->held_by, sizeof(s->held_by), fault_name(u->hold.fault));
		s->held_tapes = s->backlog_tapes;
		s->next_try_ms = u->hold.retry_ms > mnow ? u->hold.retry_ms - mnow : 0;
	}
	if (!s->activity[0]) {
		/* Between rounds: say what the backlog waits for, never "idle"
		 * while bytes wait. */
		const struct hold *h = u->hold.fault ? &u->hold : held_tape;
		char when[32];
		if (h)
			format_wait(h->retry_ms - mnow, when, sizeof(when));
		if (!first[0])
			snprintf(s->activity, sizeof(s->activity), "idle");
		else if (h)
			snprintf(s->activity, sizeof(s->activity),
				 "waiting for a person (see action needed): %s%s; %" PRIu64
				 " bytes of %u tape%s are not yet in the store; next try in %s, or "
				 "now with `vtlctl store retry`",
				 h == held_tape ? "a tape is held back: " : "",
				 fix_for(u, h->fault).headline ? fix_for(u, h->fault).headline
							       : fault_name(h->fault),
				 s->backlog_bytes, s->backlog_tapes,
				 s->backlog_tapes == 1 ? "" : "s", when);
		else
			snprintf(s->activity, sizeof(s->activity),
				 "waiting: %" PRIu64
				 " bytes of %u tape%s are not yet in the store; "
				 "tape %s: %s",
				 s->backlog_bytes, s->backlog_tapes,
				 s->backlog_tapes == 1 ? "" : "s", first, wait);
	}
	s->retry_asked = u->retry_asked;
	s->retried = u->retried;
	pthread_mutex_unlock(&u->mu);
	if (cs.writes_waiting)
		snprintf(s->write_wait, sizeof(s->write_wait),
			 "%u write%s (tape %s) waiting %lds: the cache holds %" PRIu64
			 " bytes not yet in the object store, cache_limit is %" PRIu64
			 "; they go on as uploads make room%s",
			 cs.writes_waiting, cs.writes_waiting == 1 ? "" : "s", cs.waiting_tape,
			 (long)(time(NULL) - cs.waiting_since), cs.pending, cs.limit,
			 s->action[0]		 ? " (uploads wait for a person: see action needed)"
			 : s->last_error_current ? " (the store reports an error: see last error)"
						 : "");
}

void upl_set_reload(struct upl *u, upl_reload_fn fn, void *arg)
{
	pthread_mutex_lock(&u->mu);
	u->reload = fn;
	u->reload_arg = arg;
	pthread_mutex_unlock(&u->mu);
}

/* Add name to the list in buf when its value differs. */
static void note_key(char *buf, size_t cap, bool differs, const char *name)
{
	size_t n = strlen(buf);
	if (differs)
		snprintf(buf + n, cap - n, "%s%s", n ? ", " : "", name);
}

/*
 * [store] as the configuration says now: the credentials and ca_bundle go
 * to the store (and the shelf's own bucket) for the requests from now on;
 * any other key changed is named as taking a restart (the store's place,
 * the uploader's sizes: changing them under running uploads and the
 * catalog's records of them would not be safe). What happened into note.
 */
static void reload_store(struct upl *u, char *note, size_t cap)
{
	pthread_mutex_lock(&u->mu);
	upl_reload_fn fn = u->reload;
	void *arg = u->reload_arg;
	pthread_mutex_unlock(&u->mu);
	note[0] = 0;
	struct store_config *c = calloc(1, sizeof(*c));
	if (!fn || !c) {
		free(c);
		return;
	}
	char err[1024] = "";
	store_config_defaults(c);
	if (fn(arg, c, err, sizeof(err))) {
		snprintf(note, cap,
			 "the configuration cannot be read, so nothing of it is taken: %s", err);
		free(c);
		return;
	}
	const struct store_config *o = &u->cfg;
	char changed[512] = "";
	note_key(changed, sizeof(changed), strcmp(o->type, c->type), "type");
	note_key(changed, sizeof(changed), strcmp(o->path, c->path), "path");
	note_key(changed, sizeof(changed), strcmp(o->endpoint, c->endpoint), "endpoint");
	note_key(changed, sizeof(changed), strcmp(o->bucket, c->bucket), "bucket");
	note_key(changed, sizeof(changed), strcmp(o->region, c->region), "region");
	note_key(changed, sizeof(changed), strcmp(o->prefix, c->prefix), "prefix");
	note_key(changed, sizeof(changed), strcmp(o->addressing, c->addressing), "addressing");
	note_key(changed, sizeof(changed), o->part_size != c->part_size, "part_size");
	note_key(changed, sizeof(changed), o->parallel_parts != c->parallel_parts,
		 "parallel_parts");
	note_key(changed, sizeof(changed), strcmp(o->archive_class, c->archive_class),
		 "archive_storage_class");
	note_key(changed, sizeof(changed), strcmp(o->archive_bucket, c->archive_bucket),
		 "archive_bucket");
	note_key(changed, sizeof(changed), strcmp(o->archive_path, c->archive_path),
		 "archive_path");
	note_key(changed, sizeof(changed), strcmp(o->archive_prefix, c->archive_prefix),
		 "archive_prefix");
	note_key(changed, sizeof(changed), o->restore_days != c->restore_days, "restore_days");
	note_key(changed, sizeof(changed), strcmp(o->restore_tier, c->restore_tier),
		 "restore_tier");
	note_key(changed, sizeof(changed), o->cache_limit != c->cache_limit, "cache_limit");
	note_key(changed, sizeof(changed), o->idle_secs != c->idle_secs, "idle_complete");
	note_key(changed, sizeof(changed), o->upload_nice != c->upload_nice, "upload_nice");
	/* The encryption is the store's, opened and checked at start. */
	note_key(changed, sizeof(changed), strcmp(o->sse, c->sse), "sse");
	note_key(changed, sizeof(changed), strcmp(o->sse_kms_key_id, c->sse_kms_key_id),
		 "sse_kms_key_id");
	note_key(changed, sizeof(changed),
		 strcmp(o->sse_customer_key_file, c->sse_customer_key_file),
		 "sse_customer_key_file");
	note_key(changed, sizeof(changed), o->link_segments != c->link_segments, "link_segments");
	size_t n = 0;
	if (strcmp(o->type, "s3") == 0 && strcmp(c->type, "s3") == 0) {
		struct store_err se;
		memset(&se, 0, sizeof(se));
		int rc = store_config_reconfigure(c, u->st, &se);
		if (!rc && u->shelf_st && u->shelf_st != u->st)
			rc = store_config_reconfigure(c, u->shelf_st, &se);
		n = (size_t)snprintf(note, cap, "%s",
				     rc ? se.msg : "[store] credentials and ca_bundle read again");
	}
	if (changed[0] && n < cap)
		snprintf(note + n, cap - n,
			 "%s[store] %s changed: they take a restart of vtld, and until then the "
			 "values it started with stay",
			 n ? "; " : "", changed);
	free(c);
}

void upl_retry(struct upl *u, struct upl_retry *r)
{
	reload_store(u, r->note, sizeof(r->note));
	if (r->note[0])
		upl_logf(u, 2, "retry asked: %s", r->note);
	pthread_mutex_lock(&u->mu);
	uint64_t id = ++u->retry_asked;
	/* Due now, and said again if met again: the person may have changed
	 * something. */
	u->hold.retry_ms = 0;
	u->hold.logged = 0;
	for (size_t i = 0; i < u->n_recs; i++) {
		u->recs[i].hold.retry_ms = 0;
		u->recs[i].hold.logged = 0;
	}
	u->kicked = true;
	pthread_cond_broadcast(&u->cond);
	pthread_mutex_unlock(&u->mu);
	r->id = id;
}

int upl_tape_activity(struct upl *u, const char *barcode, char *buf, size_t cap)
{
	int rc = -ENOENT;
	pthread_mutex_lock(&u->mu);
	const struct tape_rec *r = find_rec(u, barcode);
	if (r && r->note[0]) {
		upl_copy_str(buf, cap, r->note);
		rc = 0;
	}
	pthread_mutex_unlock(&u->mu);
	return rc;
}

static void totals_of(struct upl *u, const struct cat_tape *t, const struct backlog *bl,
		      struct upl_totals *out);

int upl_tape_totals_in(struct upl *u, const struct upl_snapshot *s, const struct cat_tape *t,
		       struct upl_totals *out)
{
	const struct cat_upl_tape_rows *r = upl_snapshot_rows(s, t->barcode);
	struct backlog b;
	upl_backlog_of(u, t, r ? r->segs : NULL, r ? r->nsegs : 0, r ? r->manifest_gen : 0,
		       r ? r->state : "", &b);
	totals_of(u, t, &b, out);
	return 0;
}

int upl_tape_totals(struct upl *u, const struct cat_tape *t, struct upl_totals *out)
{
	struct backlog b;
	upl_tape_backlog(u, t, &b);
	totals_of(u, t, &b, out);
	return 0;
}

static void totals_of(struct upl *u, const struct cat_tape *t, const struct backlog *bl,
		      struct upl_totals *out)
{
	struct backlog b = *bl;
	memset(out, 0, sizeof(*out));
	out->uploaded = b.safe;
	out->pending = b.held - b.safe;
	out->uploads = b.uploads;
	out->manifest_gen = b.gen;
	pthread_mutex_lock(&u->mu);
	tape_wait(u, t, &b, upl_mono_ms(), out->wait, sizeof(out->wait), out->held_by,
		  sizeof(out->held_by));
	pthread_mutex_unlock(&u->mu);
}
