/*
 * shelf.c - the virtual tape shelf (docs/object-store.md, "The uploader,
 * the shelf and recovery"): archiving a tape ejected through the
 * import/export port, retrieving an archived tape back into the library
 * read-only, the restores of an archive storage class, and a damaged
 * local medium restored from the store. The uploader's thread
 * (uploader.c) runs each step; the downloads serve disaster recovery
 * (rebuild.c) too.
 *
 * Where the shelf is: the objects' storage class changed in place
 * ([store] archive_class), or a location apart (archive_bucket,
 * archive_path, archive_prefix; vtl/store_config.h). Invariants (ARCHITECTURE.md,
 * the durability contract):
 *   - a tape becomes ARCHIVING only when every object is in the store
 *     and verified (shelf_verify_tape), and its local copy is dropped
 *     only after that (shelf_finish_archive);
 *   - a download is written to DIR.download, every record's CRC32C
 *     checked, MANIFEST last and fsynced; only then is it renamed in place
 *     of the tape's directory, so a directory with a MANIFEST always holds
 *     a complete, verified tape.
 */
#include "config.h"

#include "upload_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "catalog/catalog_key.h"
#include "library.h"
#include "scsi/tape.h"
#include "util/metrics.h"

#define GET_CHUNK (8u << 20) /* ranged GET size for downloads */
/* Looks at an archived tape's restores: AWS's take minutes (Expedited) to
 * hours (Standard, Bulk), and each look costs a LIST and a HEAD per
 * object, so the wait doubles from a second up to five minutes. */
#define RESTORE_POLL_MIN_MS 1000u
#define RESTORE_POLL_MAX_MS 300000u

/* ---- Archiving ---------------------------------------------------------- */

/*
 * Are the tape's objects on the shelf apart? They are from the moment it
 * is ARCHIVED there until it is deleted: a RETRIEVED tape is a read-only
 * copy (AWS Tape Gateway keeps the archived tape), so nothing of it goes
 * back to the library's location, and archiving it again finds every
 * object on the shelf already.
 */
bool shelf_holds_tape(struct upl *u, const struct cat_tape *t)
{
	char sstate[32] = "";
	uint64_t gen;
	if (!u->shelf_st || t->state == CAT_AVAILABLE)
		return false;
	pthread_mutex_lock(&u->cat_mu);
	int rc = cat_upl_tape_get(u->cat, t->barcode, &gen, sstate, sizeof(sstate));
	pthread_mutex_unlock(&u->cat_mu);
	return rc == 0 && strcmp(sstate, "ARCHIVED") == 0;
}

/* Every object of the tape is in the store with the size and ETag the
 * catalog recorded when its upload completed (ARCHITECTURE.md: "archived
 * only after every byte is in the object store and verified"). A tape on
 * the shelf apart is checked there by size (a copy across buckets may
 * carry another ETag), or in the library's location if it was archived
 * there before the shelf moved. */
int shelf_verify_tape(struct upl *u, const struct cat_tape *t, uint64_t *bytes)
{
	struct cat_upl_seg *rows;
	size_t n;
	*bytes = 0;
	bool shelf = shelf_holds_tape(u, t);
	int rc = upl_cat_segs(u, t->barcode, &rows, &n);
	for (size_t i = 0; !rc && i < n; i++) {
		char key[STORE_KEY_MAX];
		struct store_object_info info;
		struct store_err se;
		bool there = false;
		if (shelf) {
			upl_key_seg(&u->shelf_cfg, t->barcode, rows[i].seg, key);
			rc = store_head(u->shelf_st, key, &info, &se);
			there = rc == 0;
			if (rc == -ENOENT)
				rc = 0;
		}
		if (!rc && !there) {
			upl_key_seg(&u->cfg, t->barcode, rows[i].seg, key);
			rc = store_head(u->st, key, &info, &se);
		}
		if (!rc && (info.size != rows[i].object_size ||
			    (!there && strcmp(info.etag, rows[i].object_etag) != 0) ||
			    rows[i].upload_id[0] || rows[i].object_size < rows[i].valid)) {
			upl_logf(
			    u, 0,
			    "%s does not verify: size %" PRIu64 " ETag %s, catalog %" PRIu64 " %s",
			    key, info.size, info.etag, rows[i].object_size, rows[i].object_etag);
			rc = -EBADMSG;
		}
		*bytes += rows[i].valid;
	}
	if (!rc && n == 0)
		rc = -ENODATA;
	free(rows);
	return rc;
}

/*
 * One object of an ARCHIVING tape onto the shelf apart: copied from the
 * library's location unless the shelf holds it already (a round stopped
 * after copying it, or a tape archived there before), then checked there.
 * want: its size, or UINT64_MAX for the size of the library's copy (none
 * left: a round before copied and deleted it). cls: its class there, NULL
 * for STANDARD.
 */
static int shelve_one(struct upl *u, const char *src, const char *dst, uint64_t want,
		      const char *cls)
{
	struct store_object_info info;
	struct store_err se;
	memset(&se, 0, sizeof(se));
	int rc = 0;
	if (want == UINT64_MAX) {
		rc = store_head(u->st, src, &info, &se);
		if (rc == 0)
			want = info.size;
		else if (rc == -ENOENT)
			rc = 0;
	}
	if (!rc)
		rc = store_head(u->shelf_st, dst, &info, &se);
	bool have = !rc && (want == UINT64_MAX || info.size == want) &&
		    strcmp(info.storage_class, cls ? cls : "STANDARD") == 0;
	if (rc == -ENOENT && want != UINT64_MAX)
		rc = 0;
	if (!rc && !have) {
		rc = store_copy_from(u->shelf_st, u->st, src, dst, cls, NULL, &se);
		if (!rc)
			rc = store_head(u->shelf_st, dst, &info, &se);
		if (!rc && info.size != want) {
			snprintf(se.msg, sizeof(se.msg),
				 "the copy holds %" PRIu64 " bytes, the original %" PRIu64,
				 info.size, want);
			rc = -EBADMSG;
		}
	}
	if (rc)
		upl_logf(u, 0, "cannot move %s to the shelf as %s: %s", src, dst,
			 se.msg[0] ? se.msg : strerror(-rc));
	return rc;
}

/* Whether the tape is encrypted at rest (a wrapped key in the catalog), so
 * that it has a KEY object. */
static bool tape_keyed(struct upl *u, const char *barcode)
{
	struct cat_key_row kr;
	pthread_mutex_lock(&u->cat_mu);
	bool keyed = cat_key_get(u->cat, barcode, &kr) == 0;
	pthread_mutex_unlock(&u->cat_mu);
	return keyed;
}

/*
 * S3 Object Lock ([store] object_lock): every segment and the manifest of
 * an archived tape of a locked pool keep the pool's mode until until_ms,
 * so that not even the bucket's credentials delete them early (the
 * library's own guard, the lifecycle's, holds until the same date); so
 * does its KEY object when it is encrypted at rest (keyed), since the
 * locked data is worth nothing to a disaster recovery without it. A
 * rotation puts the KEY's new version with the same retention
 * (upl_key_publish); the version it replaces stays locked. Retried whole
 * after a crash: a later date extends a retention, which both modes allow.
 */
static int lock_objects(struct upl *u, struct store *sst, const struct store_config *sc,
			const struct cat_tape *t, const struct cat_upl_seg *rows, size_t n,
			uint64_t gen, const struct cat_pool *pool, int64_t until_ms, bool keyed)
{
	struct store_retention r = {.mode = pool->lock == CAT_LOCK_COMPLIANCE
						? STORE_LOCK_COMPLIANCE
						: STORE_LOCK_GOVERNANCE,
				    .until = until_ms / 1000};
	int rc = 0;
	size_t all = n + 1 + (keyed ? 1 : 0);
	for (size_t i = 0; !rc && i < all; i++) {
		char key[STORE_KEY_MAX];
		struct store_err se;
		memset(&se, 0, sizeof(se));
		if (i < n)
			upl_key_seg(sc, t->barcode, rows[i].seg, key);
		else if (i == n)
			upl_key_manifest(sc, t->barcode, gen, key);
		else
			upl_key_tape(sc, t->barcode, "KEY", key);
		upl_tape_note(u, t->barcode, "locking tape %s (%s): object %zu of %zu", t->barcode,
			      store_lock_mode_name(r.mode), i + 1, all);
		rc = store_set_retention(sst, key, NULL, &r, 0, &se);
		if (rc)
			upl_errf(u, &se, rc, 0, "cannot lock %s until %lld (%s): %s", key,
				 (long long)r.until, store_lock_mode_name(r.mode), se.msg);
	}
	return rc;
}

/*
 * ARCHIVING -> ARCHIVED: the segments in the archive class, on the shelf
 * (moved there when it is apart: copied, checked, the state object written
 * there, then the library's copies deleted, so that every step can be
 * taken again after a crash), the local copy gone. The manifest stays
 * STANDARD: a few KiB, and rebuilding the catalog reads it without a
 * restore (an archive class bills small objects at 40 KiB or more anyway).
 */
int shelf_finish_archive(struct upl *u, const struct cat_tape *t)
{
	struct cat_upl_seg *rows;
	size_t n;
	uint64_t gen = 0;
	int rc = upl_cat_segs(u, t->barcode, &rows, &n);
	if (rc)
		return rc;
	/* The class of the tape's pool, else [store] archive_class. */
	struct cat_pool pool;
	pthread_mutex_lock(&u->cat_mu);
	rc = cat_upl_tape_get(u->cat, t->barcode, &gen, NULL, 0);
	bool pooled = cat_pool_get(u->cat, t->pool, &pool) == 0;
	bool own = pooled && pool.storage_class[0];
	pthread_mutex_unlock(&u->cat_mu);
	const char *cls = own ? pool.storage_class : u->cfg.archive_class;
	struct store *sst = u->shelf_st ? u->shelf_st : u->st;
	const struct store_config *sc = u->shelf_st ? &u->shelf_cfg : &u->cfg;
	for (size_t i = 0; !rc && (u->shelf_st ? i <= n : cls[0] && i < n); i++) {
		char key[STORE_KEY_MAX], dst[STORE_KEY_MAX];
		struct store_object_info info;
		struct store_err se;
		if (i < n) {
			upl_key_seg(&u->cfg, t->barcode, rows[i].seg, key);
			upl_key_seg(sc, t->barcode, rows[i].seg, dst);
		} else {
			upl_key_manifest(&u->cfg, t->barcode, gen, key);
			upl_key_manifest(sc, t->barcode, gen, dst);
		}
		if (u->shelf_st) {
			upl_tape_note(u, t->barcode,
				      "moving tape %s to the shelf: object %zu of %zu", t->barcode,
				      i + 1, n + 1);
			rc = i < n
				 ? shelve_one(u, key, dst, rows[i].object_size, cls[0] ? cls : NULL)
				 : shelve_one(u, key, dst, UINT64_MAX, NULL);
			continue;
		}
		rc = store_head(u->st, key, &info, &se);
		if (!rc && strcmp(info.storage_class, cls) != 0) {
			upl_tape_note(u, t->barcode,
				      "moving tape %s to storage class %s: object %zu of %zu",
				      t->barcode, cls, i + 1, n);
			rc = store_copy(u->st, key, key, cls, NULL, &se);
		}
		if (rc)
			upl_logf(u, 0, "cannot move %s to storage class %s: %s", key, cls, se.msg);
	}
	/* The KEY object of a tape encrypted at rest goes with its manifest;
	 * a rotation waits (key_mu) until the library's copy is gone, so that
	 * its new wrap lands where the tape now is, and locked as it is. */
	bool keyed = tape_keyed(u, t->barcode);
	if (keyed)
		pthread_mutex_lock(&u->key_mu);
	if (!rc && keyed && u->shelf_st) {
		char key[STORE_KEY_MAX], dst[STORE_KEY_MAX];
		upl_key_tape(&u->cfg, t->barcode, "KEY", key);
		upl_key_tape(sc, t->barcode, "KEY", dst);
		rc = shelve_one(u, key, dst, UINT64_MAX, NULL);
	}
	/* The pool's lock, on the objects too when the store enforces it. */
	int64_t until_ms = 0;
	if (!rc && pooled && pool.lock != CAT_LOCK_NONE)
		until_ms = ((int64_t)time(NULL) + (int64_t)pool.retention_days * 86400) * 1000;
	if (!rc && until_ms && u->cfg.object_lock)
		rc = lock_objects(u, sst, sc, t, rows, n, gen, &pool, until_ms, keyed);
	free(rows);
	if (!rc)
		rc = upl_put_state(u, sst, sc, t, "ARCHIVED", gen);
	/* Where its objects now are, for shelf_reclass. */
	if (!rc) {
		pthread_mutex_lock(&u->cat_mu);
		rc = cat_upl_shelf_set(u->cat, t->barcode, cls[0] ? cls : "STANDARD",
				       u->cfg.object_lock ? until_ms : 0);
		pthread_mutex_unlock(&u->cat_mu);
	}
	char pfx[STORE_KEY_MAX], keep[STORE_KEY_MAX];
	if (!rc && u->shelf_st) {
		/* The shelf keeps one manifest, the library's location none. */
		upl_key_tape(sc, t->barcode, "manifest/", pfx);
		upl_key_manifest(sc, t->barcode, gen, keep);
		rc = upl_delete_under(u, sst, pfx, keep);
		upl_key_tape(&u->cfg, t->barcode, "", pfx);
		if (!rc)
			rc = upl_delete_under(u, u->st, pfx, NULL);
	}
	if (keyed)
		pthread_mutex_unlock(&u->key_mu);
	char dir[PATH_MAX];
	lib_tape_dir(u->lib, t->barcode, dir, sizeof(dir));
	if (!rc)
		rc = datadir_rm_rf(dir);
	if (!rc) {
		char cause[PATH_MAX + 2 * STORE_KEY_MAX], at[PATH_MAX + STORE_KEY_MAX];
		upl_key_tape(sc, t->barcode, "", pfx);
		store_where(sst, pfx, at, sizeof(at));
		if (u->shelf_st)
			snprintf(cause, sizeof(cause),
				 "on the shelf at %s (%s); local copy dropped", at,
				 cls[0] ? cls : "STANDARD");
		else
			snprintf(cause, sizeof(cause),
				 "on the shelf in the object store (%s); local copy dropped",
				 cls[0] ? cls : "STANDARD");
		rc = lib_shelf_step(u->lib, t->barcode, LC_SHELVED, until_ms, cause);
	}
	if (!rc) {
		upl_tape_note(u, t->barcode, "%s", ""); /* the trip is over */
		upl_logf(u, 2, "tape %s ARCHIVED", t->barcode);
		met_shelf(MET_SHELF_ARCHIVED);
	}
	return rc;
}

/* ---- An archived tape in another pool ---------------------------------- */

/* The class an archived tape of pool `name` goes to: the pool's, else
 * [store] archive_class, "STANDARD" when neither names one. */
static void archive_class_of(struct upl *u, const char *name, char *cls, size_t cap)
{
	struct cat_pool pool;
	pthread_mutex_lock(&u->cat_mu);
	bool own = cat_pool_get(u->cat, name, &pool) == 0 && pool.storage_class[0];
	pthread_mutex_unlock(&u->cat_mu);
	const char *c = own ? pool.storage_class : u->cfg.archive_class;
	snprintf(cls, cap, "%s", c[0] ? c : "STANDARD");
}

/*
 * One segment into class cls, in place: a copy onto itself with the new
 * class (S3's way of changing an object's class), checked by size; then
 * the version it replaced, on a versioned bucket, is deleted if no
 * retention holds it (a locked one stays until its date: the copy does
 * not shorten what protects the data). -EAGAIN when the segment is in an
 * archive class and must be restored before S3 copies it (AWS answers
 * InvalidObjectState): the restore is asked for, and the next round looks
 * again.
 */
static int reclass_one(struct upl *u, struct store *st, const char *key, const char *cls)
{
	struct store_object_info was, now;
	struct store_err se;
	memset(&se, 0, sizeof(se));
	int rc = store_head(st, key, &was, &se);
	if (rc || strcmp(was.storage_class, cls) == 0)
		goto out;
	rc = store_copy(st, key, key, strcmp(cls, "STANDARD") ? cls : NULL, NULL, &se);
	if (rc == -EAGAIN) {
		if (strstr(was.restore, "ongoing-request=\"true\""))
			return -EAGAIN;
		rc = store_restore(st, key, (int)u->cfg.restore_days, u->cfg.restore_tier, &se);
		return rc == 0 || rc == -EINPROGRESS ? -EAGAIN : rc;
	}
	if (!rc)
		rc = store_head(st, key, &now, &se);
	if (!rc && (now.size != was.size || strcmp(now.storage_class, cls) != 0)) {
		snprintf(se.msg, sizeof(se.msg),
			 "the copy holds %" PRIu64 " bytes in %s, not %" PRIu64 " in %s", now.size,
			 now.storage_class, was.size, cls);
		rc = -EBADMSG;
	}
	if (!rc && was.version_id[0] && strcmp(was.version_id, now.version_id) != 0) {
		struct store_err de;
		memset(&de, 0, sizeof(de));
		int drc = store_delete_version(st, key, was.version_id, 0, &de);
		if (drc && drc != -EPERM)
			upl_logf(u, 1, "the version %s of %s stays in %s: %s", was.version_id, key,
				 was.storage_class, de.msg[0] ? de.msg : strerror(-drc));
	}
out:
	if (rc)
		upl_logf(u, 0, "cannot move %s to storage class %s: %s", key, cls,
			 se.msg[0] ? se.msg : strerror(-rc));
	return rc;
}

/*
 * An ARCHIVED tape whose pool changed (`tape assign-pool`, AWS's
 * AssignTapePool of an archived tape): its segments go to the new pool's
 * class, and with [store] object_lock its objects take the lock the
 * lifecycle gave it (the new pool's, never shorter than the one it had).
 * The catalog says where the objects are (cat_upl_shelf_get), so a round
 * asks the store nothing for a tape already in place. A tape archived
 * before that was recorded is looked at once. Restores it needs are
 * waited for as a retrieval's are.
 */
void shelf_reclass(struct upl *u, const struct cat_tape *t)
{
	char cls[STORE_CLASS_MAX], have[STORE_CLASS_MAX];
	bool known;
	int64_t locked;
	uint64_t gen = 0;
	archive_class_of(u, t->pool, cls, sizeof(cls));
	pthread_mutex_lock(&u->cat_mu);
	int rc = cat_upl_shelf_get(u->cat, t->barcode, have, sizeof(have), &known, &locked);
	if (!rc)
		rc = cat_upl_tape_get(u->cat, t->barcode, &gen, NULL, 0);
	pthread_mutex_unlock(&u->cat_mu);
	int64_t until = u->cfg.object_lock && t->lock != CAT_LOCK_NONE ? t->retain_until : 0;
	if (rc || (known && strcmp(have, cls) == 0 && locked >= until))
		return;
	struct tape_rec *pr = upl_rec_for(u, t->barcode);
	if (pr && pr->poll_ms && upl_mono_ms() < pr->poll_at_ms)
		return; /* its restores were looked at a moment ago */

	bool shelf = shelf_holds_tape(u, t);
	struct store *st = shelf ? u->shelf_st : u->st;
	const struct store_config *sc = shelf ? &u->shelf_cfg : &u->cfg;
	struct cat_upl_seg *rows;
	size_t n;
	rc = upl_cat_segs(u, t->barcode, &rows, &n);
	if (rc)
		return;
	bool waiting = false;
	for (size_t i = 0; i < n && (!rc || rc == -EAGAIN) && !upl_stopping(u); i++) {
		char key[STORE_KEY_MAX];
		upl_key_seg(sc, t->barcode, rows[i].seg, key);
		upl_tape_note(u, t->barcode,
			      "moving archived tape %s to pool %s (%s): object %zu of %zu",
			      t->barcode, t->pool, cls, i + 1, n);
		rc = reclass_one(u, st, key, cls);
		if (rc == -EAGAIN)
			waiting = true;
	}
	if (!rc && waiting)
		rc = -EAGAIN;
	/* A rotation waits (key_mu) until the date is recorded, so that the
	 * KEY's new version takes the lock too (upl_key_publish). */
	bool keyed = !rc && until > locked && tape_keyed(u, t->barcode);
	if (keyed)
		pthread_mutex_lock(&u->key_mu);
	if (!rc && until > locked) {
		struct cat_pool lock = {.lock = t->lock};
		rc = lock_objects(u, st, sc, t, rows, n, gen, &lock, until, keyed);
	}
	free(rows);
	if (!rc) {
		pthread_mutex_lock(&u->cat_mu);
		rc = cat_upl_shelf_set(u->cat, t->barcode, cls, until > locked ? until : locked);
		pthread_mutex_unlock(&u->cat_mu);
	}
	if (keyed)
		pthread_mutex_unlock(&u->key_mu);
	if (rc && pr) {
		/* Waiting for restores, or an error (said in the log): looked
		 * at again after a wait doubled each time, so that a refusal
		 * that needs a person costs a few requests an hour, not two
		 * rounds a second. */
		pr->poll_ms = pr->poll_ms ? pr->poll_ms * 2 : RESTORE_POLL_MIN_MS;
		if (pr->poll_ms > RESTORE_POLL_MAX_MS)
			pr->poll_ms = RESTORE_POLL_MAX_MS;
		pr->poll_at_ms = upl_mono_ms() + pr->poll_ms;
		upl_tape_note(u, t->barcode, "archived tape %s %s %s; next look in %u s",
			      t->barcode,
			      rc == -EAGAIN ? "waits for its restores to move to"
					    : "could not yet be moved to",
			      cls, pr->poll_ms / 1000);
	}
	if (rc)
		return;
	if (pr)
		pr->poll_ms = 0;
	upl_tape_note(u, t->barcode, "%s", "");
	upl_logf(u, 2, "archived tape %s is in pool %s: its objects in %s%s", t->barcode, t->pool,
		 cls, until > locked ? ", locked until the pool's date" : "");
}

/* ---- Downloading --------------------------------------------------------- */

int shelf_last_cb(void *arg, const struct store_list_entry *e)
{
	struct shelf_last_key *l = arg;
	if (!e->is_prefix)
		snprintf(l->key, sizeof(l->key), "%s", e->key);
	return 0;
}

int shelf_get_all(struct store *st, const char *key, uint8_t **out, size_t *len,
		  struct store_err *se)
{
	struct store_object_info info;
	int rc = store_head(st, key, &info, se);
	if (rc)
		return rc;
	if (info.size > (1u << 26))
		return -EFBIG;
	uint8_t *b = malloc(info.size ? info.size : 1);
	if (!b)
		return -ENOMEM;
	size_t got = 0;
	rc = info.size ? store_get(st, key, 0, info.size, b, &got, NULL, se) : 0;
	if (!rc && got != info.size)
		rc = -EIO;
	if (rc) {
		free(b);
		return rc;
	}
	*out = b;
	*len = info.size;
	return 0;
}

static int write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int rc = 0;
	if (len && write(fd, buf, len) != (ssize_t)len)
		rc = -EIO;
	if (!rc && fsync(fd))
		rc = -errno;
	close(fd);
	return rc;
}

/*
 * An archived tape (AWS: GET answers 403 InvalidObjectState): a
 * RestoreObject ([store] restore_days, restore_tier) for each of its
 * objects whose HeadObject shows no restore (x-amz-restore absent), nothing
 * for one whose restore runs or is done. All are asked at once, so that
 * their restores run in parallel. The caller retries the download next
 * round, which polls the restores.
 */
struct restores {
	struct store *st;
	const struct store_config *c;
	size_t asked, running;
	int rc;
	struct store_err se;
};

static void restore_one(struct restores *r, const char *key)
{
	struct store_object_info info;
	if (r->rc || (r->rc = store_head(r->st, key, &info, &r->se)) != 0)
		return;
	if (strstr(info.restore, "ongoing-request=\"true\"")) {
		r->running++;
		return;
	}
	if (info.restore[0] || !strcmp(info.storage_class, "STANDARD"))
		return; /* restored (readable until its expiry date), or not archived */
	r->rc = store_restore(r->st, key, (int)r->c->restore_days, r->c->restore_tier, &r->se);
	if (r->rc == -EINPROGRESS) {
		r->rc = 0;
		r->running++;
	} else if (!r->rc) {
		r->asked++;
		met_shelf(MET_SHELF_RESTORE);
	}
}

static int restore_cb(void *arg, const struct store_list_entry *e)
{
	if (!e->is_prefix)
		restore_one(arg, e->key);
	return 0;
}

/* The manifest `manifest_key` (then every object under the tape's seg/,
 * since the manifest naming them is unreadable) or m's segments from
 * index `from` on. Returns -EAGAIN (waiting) or the error. */
static int request_restores(struct store *st, const struct store_config *c, const char *bc,
			    const char *manifest_key, const struct manifest *m, size_t from,
			    char *err, size_t errlen)
{
	struct restores r;
	memset(&r, 0, sizeof(r));
	r.st = st;
	r.c = c;
	if (manifest_key) {
		char pfx[STORE_KEY_MAX];
		restore_one(&r, manifest_key);
		upl_key_tape(c, bc, "seg/", pfx);
		struct store_list_opts lo = {.prefix = pfx};
		if (!r.rc)
			r.rc = store_list(st, &lo, restore_cb, &r, &r.se);
	}
	for (size_t i = from; m && i < m->tm.nseg && !r.rc; i++) {
		char key[STORE_KEY_MAX];
		upl_key_seg(c, bc, m->tm.segs[i].id, key);
		restore_one(&r, key);
	}
	if (r.rc)
		upl_errmsg(err, errlen, "restore of archived tape %s from the store failed: %s", bc,
			   r.se.msg[0] ? r.se.msg : strerror(-r.rc));
	else
		upl_errmsg(err, errlen,
			   "tape %s is archived: restore requested for %zu objects, %zu restores "
			   "running (%s tier, %u days); waiting until readable",
			   bc, r.asked, r.running, c->restore_tier, c->restore_days);
	return r.rc ? r.rc : -EAGAIN;
}

/* A download that rebuilding the catalog or a retrieval watches: stopped
 * when vtld shuts down (upl_rebuild.cancelled). */
bool shelf_rebuild_cancelled(const struct upl_rebuild *r)
{
	return r && r->cancelled && r->cancelled(r->arg);
}

/*
 * Download the newest manifest of a tape and the valid bytes of every
 * segment it names into tmp (made anew), checking the CRC32C of every
 * record. MANIFEST is written last, after every segment file is fsynced:
 * a directory with a MANIFEST holds a complete, verified tape. *m receives
 * the manifest.
 */
int shelf_fetch_tape(struct store *st, const struct store_config *c, const char *bc,
		     const char *tmp, struct manifest *m, const struct upl_rebuild *r, char *err,
		     size_t errlen)
{
	char pfx[STORE_KEY_MAX];
	struct store_err se;
	memset(&se, 0, sizeof(se));
	memset(m, 0, sizeof(*m));
	struct shelf_last_key lk = {""};
	upl_key_tape(c, bc, "manifest/", pfx);
	struct store_list_opts lo = {.prefix = pfx};
	int rc = store_list(st, &lo, shelf_last_cb, &lk, &se);
	if (!rc && !lk.key[0])
		rc = -ENOENT;
	if (!rc)
		rc = shelf_get_all(st, lk.key, &m->buf, &m->len, &se);
	if (rc == -EAGAIN) {
		rc = request_restores(st, c, bc, lk.key, NULL, 0, err, errlen);
		upl_man_free(m);
		return rc;
	}
	if (!rc)
		rc = upl_man_parse(m);
	if (rc) {
		upl_errmsg(err, errlen, "no readable manifest of tape %s in the store (%s): %s", bc,
			   pfx, se.msg[0] ? se.msg : strerror(-rc));
		upl_man_free(m);
		return rc;
	}
	datadir_rm_rf(tmp);
	if (mkdir(tmp, 0700)) {
		rc = -errno;
		upl_errmsg(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
		upl_man_free(m);
		return rc;
	}
	uint8_t *buf = NULL;
	for (size_t i = 0; !rc && i < m->tm.nseg; i++) {
		char key[STORE_KEY_MAX], path[PATH_MAX + 64];
		uint64_t valid = m->tm.segs[i].valid;
		upl_key_seg(c, bc, m->tm.segs[i].id, key);
		if (valid > (2ull << 30)) {
			rc = -EFBIG;
			break;
		}
		buf = malloc(valid ? valid : 1);
		if (!buf) {
			rc = -ENOMEM;
			break;
		}
		if (r && r->progress) {
			char what[256];
			snprintf(what, sizeof(what), "downloading tape %s: segment %zu of %zu", bc,
				 i + 1, m->tm.nseg);
			r->progress(r->arg, what);
		}
		/* Ranged GETs (the object may be longer than its valid bytes:
		 * a segment cut by an overwrite keeps its object). */
		for (uint64_t off = 0; !rc && off < valid;) {
			size_t want = valid - off < GET_CHUNK ? (size_t)(valid - off) : GET_CHUNK;
			size_t got = 0;
			if (shelf_rebuild_cancelled(r)) {
				rc = -ECANCELED;
				break;
			}
			rc = store_get(st, key, off, want, buf + off, &got, NULL, &se);
			if (!rc && got != want)
				rc = -EIO;
			off += want;
		}
		if (rc == -ECANCELED)
			upl_errmsg(err, errlen,
				   "download of tape %s stopped: vtld is shutting down", bc);
		else if (rc == -EAGAIN)
			rc = request_restores(st, c, bc, NULL, m, i, err, errlen);
		else if (rc)
			upl_errmsg(err, errlen, "download of %s failed: %s", key,
				   se.msg[0] ? se.msg : strerror(-rc));
		if (!rc && (rc = tape_records_verify(buf, valid)) != 0)
			upl_errmsg(err, errlen, "%s fails its record checksums (CRC32C)", key);
		tape_file_path(tmp, TAPE_SEG_DATA, m->tm.segs[i].id, path, sizeof(path));
		if (!rc && (rc = write_file(path, buf, valid)) != 0)
			upl_errmsg(err, errlen, "cannot write %s: %s", path, strerror(-rc));
		free(buf);
		buf = NULL;
	}
	/* The wrapped data key of a tape encrypted at rest, as its KEY file,
	 * before the MANIFEST that makes the download complete. */
	if (!rc && m->tm.info.at_rest)
		rc = upl_fetch_key(st, c, bc, tmp, err, errlen);
	if (!rc) {
		char path[PATH_MAX + 32];
		tape_file_path(tmp, TAPE_FILE_MANIFEST, 0, path, sizeof(path));
		rc = write_file(path, m->buf, m->len);
		if (rc)
			upl_errmsg(err, errlen, "cannot write %s: %s", path, strerror(-rc));
	}
	if (rc) {
		if (!err[0])
			upl_errmsg(err, errlen, "cannot download tape %s into %s: %s", bc, tmp,
				   strerror(-rc));
		datadir_rm_rf(tmp);
		upl_man_free(m);
	}
	return rc;
}

/* Put a complete download (shelf_fetch_tape) in place of the tape's directory,
 * durably: the rename is fsynced in the parent directory. */
int shelf_install_tape(const char *tmp, const char *dir, char *err, size_t errlen)
{
	char parent[PATH_MAX];
	upl_copy_str(parent, sizeof(parent), dir);
	char *slash = strrchr(parent, '/');
	if (slash)
		*slash = 0;
	int rc = datadir_rm_rf(dir);
	if (!rc && rename(tmp, dir))
		rc = -errno;
	int fd = rc ? -1 : open(slash ? parent : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (!rc && (fd < 0 || fsync(fd)))
		rc = -errno;
	if (fd >= 0)
		close(fd);
	if (rc)
		upl_errmsg(err, errlen, "cannot put %s in place of %s: %s", tmp, dir,
			   strerror(-rc));
	return rc;
}

/* Download a tape into dir (replaced if present) through DIR.download;
 * w: progress and cancellation, as shelf_fetch_tape. */
static int shelf_download_tape(struct store *st, const struct store_config *c, const char *bc,
			       const char *dir, struct manifest *m, const struct upl_rebuild *w,
			       char *err, size_t errlen)
{
	char tmp[PATH_MAX + 16];
	snprintf(tmp, sizeof(tmp), "%s.download", dir);
	int rc = shelf_fetch_tape(st, c, bc, tmp, m, w, err, errlen);
	if (!rc && (rc = shelf_install_tape(tmp, dir, err, errlen)) != 0) {
		datadir_rm_rf(tmp);
		upl_man_free(m);
	}
	return rc;
}

/* ---- Retrieving and restoring ------------------------------------------- */

/* A retrieval's download: its progress is the tape's note, and vtld's
 * shutdown stops it (the next start downloads again). */
struct retrieval {
	struct upl *u;
	const char *bc;
};

static void retrieval_progress(void *arg, const char *what)
{
	struct retrieval *w = arg;
	upl_tape_note(w->u, w->bc, "%s", what);
}

static bool retrieval_cancelled(void *arg)
{
	return upl_stopping(((struct retrieval *)arg)->u);
}

int shelf_retrieve_tape(struct upl *u, const struct cat_tape *t)
{
	char dir[PATH_MAX], err[512] = "";
	struct manifest m;
	struct tape_rec *pr = upl_rec_for(u, t->barcode);
	if (pr && pr->poll_ms && upl_mono_ms() < pr->poll_at_ms)
		return -EAGAIN; /* its restores were looked at a moment ago */
	lib_tape_dir(u->lib, t->barcode, dir, sizeof(dir));
	upl_tape_note(u, t->barcode, "retrieving tape %s: reading its manifest", t->barcode);
	struct retrieval rw = {u, t->barcode};
	struct upl_rebuild w = {
	    .progress = retrieval_progress, .cancelled = retrieval_cancelled, .arg = &rw};
	int rc = -ENOENT;
	if (u->shelf_st)
		rc = shelf_download_tape(u->shelf_st, &u->shelf_cfg, t->barcode, dir, &m, &w, err,
					 sizeof(err));
	/* Not on the shelf apart: archived in place, before the shelf moved. */
	if (rc == -ENOENT)
		rc = shelf_download_tape(u->st, &u->cfg, t->barcode, dir, &m, &w, err, sizeof(err));
	if (rc == -EAGAIN && pr) {
		pr->poll_ms = pr->poll_ms ? pr->poll_ms * 2 : RESTORE_POLL_MIN_MS;
		if (pr->poll_ms > RESTORE_POLL_MAX_MS)
			pr->poll_ms = RESTORE_POLL_MAX_MS;
		pr->poll_at_ms = upl_mono_ms() + pr->poll_ms;
	} else if (pr) {
		pr->poll_ms = 0;
	}
	if (rc == -EAGAIN) {
		/* Waiting for archive restores: said once in the log, shown
		 * as the tape's note. */
		upl_tape_note(u, t->barcode, "%s; next look in %u s", err,
			      pr ? pr->poll_ms / 1000 : 1);
		if (strcmp(u->restore_note, err))
			upl_logf(u, 1, "retrieval of tape %s: %s", t->barcode, err);
		upl_copy_str(u->restore_note, sizeof(u->restore_note), err);
		return rc;
	}
	if (rc == -ECANCELED) {
		upl_logf(u, 2, "retrieval of tape %s: %s; it starts again at the next start",
			 t->barcode, err);
		return rc;
	}
	if (rc) {
		upl_tape_note(u, t->barcode, "retrieving tape %s: %s; trying again", t->barcode,
			      err);
		upl_logf(u, 0, "retrieval of tape %s: %s", t->barcode, err);
		return rc;
	}
	upl_man_free(&m);
	/* Read-only (AWS Tape Gateway): the cartridge's write-protect tab. */
	struct tape *tp;
	rc = tape_open(dir, &tp);
	if (!rc) {
		rc = tape_set_write_protect(tp, true);
		int crc = tape_close(tp);
		if (!rc)
			rc = crc;
	}
	/* The trip is over: its note goes first, so that no reader sees the
	 * tape RETRIEVED with the download's note still beside it. */
	if (!rc)
		upl_tape_note(u, t->barcode, "%s", "");
	if (!rc)
		rc = lib_shelf_step(u->lib, t->barcode, LC_DOWNLOADED, 0,
				    "retrieved from the object store into import/export element "
				    "(read-only)");
	if (!rc)
		met_shelf(MET_SHELF_RETRIEVED);
	if (rc == -ENOSPC) {
		upl_tape_note(u, t->barcode,
			      "tape %s is downloaded and waits for a free import/export element",
			      t->barcode);
		upl_logf(u, 1,
			 "tape %s is downloaded but no import/export element is free; waiting",
			 t->barcode);
	} else if (rc)
		upl_logf(u, 0, "retrieval of tape %s failed: %s", t->barcode, strerror(-rc));
	else
		upl_logf(u, 2, "tape %s RETRIEVED", t->barcode);
	return rc;
}

/*
 * An IRRECOVERABLE tape: its medium could not be opened at start and what
 * is left of it here could not be repaired (vtl/media.c). If the store
 * holds it (its manifest was uploaded), the store's copy is what survives:
 * the local directory, if any, is kept aside (never deleted), the tape is
 * downloaded and verified, and it goes back to its earlier state. What was
 * written after its last upload is lost, and the log says how much. Tried
 * at most every RESTORE_DAMAGED_S seconds per tape.
 */
#define RESTORE_DAMAGED_S 300

void shelf_restore_damaged(struct upl *u, const struct cat_tape *t)
{
	char dir[PATH_MAX], kept[PATH_MAX + 64], err[512] = "", sstate[32] = "";
	uint64_t gen = 0;
	struct tape_rec *pr = upl_rec_for(u, t->barcode);
	if (pr && pr->poll_at_ms && upl_mono_ms() < pr->poll_at_ms)
		return;
	if (pr)
		pr->poll_at_ms = upl_mono_ms() + RESTORE_DAMAGED_S * 1000;
	lib_tape_dir(u->lib, t->barcode, dir, sizeof(dir));
	/* Put back by a person since: nothing to fetch. */
	struct tape *tp;
	if (tape_open(dir, &tp) == 0) {
		tape_close(tp);
		if (lib_medium_back(u->lib, t->barcode, "recovery: the medium opens again") == 0)
			upl_logf(u, 1, "tape %s: its medium opens again", t->barcode);
		return;
	}
	pthread_mutex_lock(&u->cat_mu);
	int rc = cat_upl_tape_get(u->cat, t->barcode, &gen, sstate, sizeof(sstate));
	pthread_mutex_unlock(&u->cat_mu);
	if (rc || !sstate[0])
		return; /* never uploaded whole: the store has no copy to give */
	kept[0] = 0;
	if (access(dir, F_OK) == 0 && upl_set_aside(dir, "damaged", kept, sizeof(kept)) != 0) {
		upl_logf(u, 0, "tape %s: cannot move its damaged medium %s aside: %s", t->barcode,
			 dir, strerror(errno));
		return;
	}
	struct manifest m;
	struct retrieval rw = {u, t->barcode};
	struct upl_rebuild w = {
	    .progress = retrieval_progress, .cancelled = retrieval_cancelled, .arg = &rw};
	rc = shelf_download_tape(u->st, &u->cfg, t->barcode, dir, &m, &w, err, sizeof(err));
	if (rc) {
		upl_logf(
		    u, 0,
		    "tape %s: its medium is damaged and the store's copy cannot be fetched: %s",
		    t->barcode, err[0] ? err : strerror(-rc));
		return;
	}
	uint64_t have = tape_manifest_bytes(&m.tm);
	upl_man_free(&m);
	char cause[160];
	snprintf(cause, sizeof(cause),
		 "recovery: the medium was damaged; restored from the object store (generation "
		 "%" PRIu64 ")",
		 gen);
	rc = lib_medium_back(u->lib, t->barcode, cause);
	if (rc) {
		upl_logf(u, 0, "tape %s: restored from the store but not put back: %s", t->barcode,
			 strerror(-rc));
		return;
	}
	uint64_t lost = t->used > have ? t->used - have : 0;
	upl_logf(
	    u, 1,
	    "tape %s: its medium could not be read or repaired; restored from the object store "
	    "(%" PRIu64 " bytes, generation %" PRIu64 ")%s%s; %" PRIu64
	    " bytes written after its last upload are lost",
	    t->barcode, have, gen, kept[0] ? "; the damaged one is kept as " : "", kept, lost);
}
