/*
 * upload_sync.c - the uploader's sync of one tape to the object store:
 * the part pool, each segment's multipart upload, the manifest, and the
 * store's leftovers (uploads the catalog does not know, a deleted tape's
 * objects). The thread (uploader.c) calls upl_sync_tape once per tape and
 * round; see docs/object-store.md, "The uploader, the shelf and recovery".
 *
 * Per tape the thread reads the medium's MANIFEST file, which the medium
 * replaces atomically at every commit point (docs/medium-format.md,
 * "Manifest"). What a manifest names is on stable local storage and never
 * changes: appends go past it, an overwrite in the middle shortens the
 * valid length of a segment and continues in a new one, and segment ids
 * are never reused. So the thread may read those bytes with pread() while
 * the drive keeps writing, without any lock and without ever making the
 * SCSI path wait (ARCHITECTURE.md, "A slow object store never stalls the
 * SCSI path"). A file shorter than the manifest said (cut by an overwrite
 * just now) makes the round for that tape stop; the next round reads the
 * new manifest.
 *
 * A segment is a multipart upload of full parts while it grows, completed
 * when it is sealed (no longer the last segment), when the tape is not in
 * a drive, or when its manifest has not changed for idle_secs after a
 * flush. If it grows after completion, a new upload of the same key copies
 * the full parts of the old object server-side (UploadPartCopy) and goes
 * on from there. The catalog records each part after the store
 * acknowledged it (parts finish out of order, so the recorded parts are a
 * set, not a run), and each object after Complete plus a HEAD check: the
 * durability contract's "uploads in flight resume from the catalog". The
 * manifest object goes up only after every segment it names is complete;
 * segments it no longer names are deleted after it.
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
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "catalog/catalog_key.h"
#include "library.h"
#include "scsi/tape.h"
#include "util/metrics.h"

/* ---- Uploading one tape ------------------------------------------------- */

uint64_t upl_adapt_part_size(uint64_t want)
{
	/* A segment is at most TAPE_SEGMENT_SIZE plus one record; S3 allows
	 * 10,000 parts (Amazon S3 User Guide, "Multipart upload limits"). */
	uint64_t max_seg = TAPE_SEGMENT_SIZE + TAPE_REC_MAX;
	uint64_t need = (max_seg + STORE_PARTS_MAX - 1) / STORE_PARTS_MAX;
	if (want < STORE_PART_MIN)
		want = STORE_PART_MIN;
	if (want < need)
		want = (need + MIB - 1) / MIB * MIB;
	return want;
}

int upl_cat_segs(struct upl *u, const char *bc, struct cat_upl_seg **s, size_t *n)
{
	pthread_mutex_lock(&u->cat_mu);
	int rc = cat_upl_segs(u->cat, bc, s, n);
	pthread_mutex_unlock(&u->cat_mu);
	return rc;
}

const struct cat_upl_seg *upl_row_of(const struct cat_upl_seg *rows, size_t n, uint64_t seg)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (rows[mid].seg == seg)
			return &rows[mid];
		if (rows[mid].seg < seg)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int cat_call_put(struct upl *u, const char *bc, const struct cat_upl_seg *s)
{
	pthread_mutex_lock(&u->cat_mu);
	int rc = cat_upl_seg_put(u->cat, bc, s);
	pthread_mutex_unlock(&u->cat_mu);
	return rc;
}

static int read_range(const char *dir, uint64_t seg, uint64_t off, void *buf, size_t len)
{
	char path[PATH_MAX + 32];
	tape_file_path(dir, TAPE_SEG_DATA, seg, path, sizeof(path));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t got = pread(fd, buf, len, (off_t)off);
	int e = errno;
	close(fd);
	if (got < 0)
		return -e;
	/* Shorter than the manifest said: cut by an overwrite since; the
	 * next round reads the new manifest. */
	return (size_t)got == len ? 0 : -EAGAIN;
}

/* Does the tape's manifest (read now) still name segment seg? A segment
 * file that is missing and no longer named was cut by an overwrite. */
static bool still_named(const char *dir, uint64_t seg)
{
	struct manifest m;
	if (upl_man_read(dir, &m))
		return true; /* unreadable: upl_sync_tape says so at the next round */
	bool named = false;
	for (size_t i = 0; i < m.tm.nseg; i++)
		named |= m.tm.segs[i].id == seg;
	upl_man_free(&m);
	return named;
}

/*
 * The part pool. sync_seg() lists the parts a segment still needs (a
 * window) and waits; parallel_parts workers, each with one buffer of a part
 * size allocated at start, take the next part as soon as they finish one,
 * so up to N parts are in flight and resident memory stays N x part_size.
 * Threads rather than one thread driving curl's multi interface: each part
 * costs an MD5 (Content-MD5) and, signed, a SHA-256 over its bytes, CPU
 * work that threads spread over the cores; the store is thread-safe
 * (s3/store.h) and keeps a connection per pooled handle.
 */

/* Send bytes [off, off+len) of the segment as part `number`, unless the
 * store lists that part already with the MD5 of those bytes. */
static int put_part(struct upl *u, const struct window *w, const struct part_job *j,
		    struct worker *wk)
{
	if (j->len > wk->cap) {
		/* A segment begun with a larger part_size than configured now
		 * (its part size is fixed by its upload). */
		uint8_t *b = realloc(wk->buf, j->len);
		if (!b)
			return -ENOMEM;
		wk->buf = b;
		wk->cap = j->len;
	}
	int rc = read_range(w->dir, w->s->seg, j->off, wk->buf, j->len);
	if (rc == -ENOENT && !still_named(w->dir, w->s->seg))
		rc = -EAGAIN; /* cut by an overwrite since: the next round reads anew */
	if (rc && rc != -EAGAIN) {
		char path[PATH_MAX + 32];
		tape_file_path(w->dir, TAPE_SEG_DATA, w->s->seg, path, sizeof(path));
		return upl_errf(u, NULL, -EIO, FAULT_LOCAL,
				"tape %s: cannot read %s, which its manifest names: %s", w->bc,
				path, strerror(-rc));
	}
	if (rc)
		return rc;
	struct cat_upl_part p = {.number = j->number, .size = j->len};
	bool adopt = false;
	/* A part the store lists is recognised by its MD5, where ETags are
	 * MD5s (store_etags_are_md5); elsewhere it is sent again. */
	if (j->listed[0] && store_etags_are_md5(u->st)) {
		store_md5_hex(wk->buf, j->len, p.etag);
		adopt = strcmp(p.etag, j->listed) == 0;
	}
	if (!adopt) {
		struct store_err se;
		if (u->part_delay_ms) {
			struct timespec ts = {u->part_delay_ms / 1000,
					      (long)(u->part_delay_ms % 1000) * 1000000};
			nanosleep(&ts, NULL);
		}
		rc = store_mpu_put_part(u->st, w->key, w->s->upload_id, j->number, wk->buf, j->len,
					p.etag, &se);
		if (rc == -ENOENT && strcmp(se.code, "NoSuchUpload") == 0)
			return rc; /* sync_seg starts the upload again */
		if (rc)
			return upl_errf(u, &se, rc, 0, "upload of part %d of %s failed: %s",
					j->number, w->key, se.msg);
	}
	/* Only now, acknowledged with its ETag, is the part recorded. */
	pthread_mutex_lock(&u->cat_mu);
	rc = cat_upl_part_add(u->cat, w->bc, w->s->seg, &p);
	pthread_mutex_unlock(&u->cat_mu);
	if (rc)
		return rc;
	if (adopt) {
		upl_logf(u, 2, "part %d of %s was in the store already; adopted, not sent again",
			 j->number, w->key);
		pthread_mutex_lock(&u->mu);
		u->stats.parts_adopted++;
		pthread_mutex_unlock(&u->mu);
	} else {
		upl_count(u, j->len, 1, 0, 0, 0);
	}
	vcache_sent(u->cache, j->len);
	return 0;
}

/* The activity line while parts are in flight. Under u->mu. */
static void window_activity(struct upl *u)
{
	int lo = 0, hi = 0;
	unsigned n = 0;
	for (unsigned i = 0; i < u->nworkers; i++) {
		int x = u->workers[i].number;
		if (!x)
			continue;
		lo = !n || x < lo ? x : lo;
		hi = x > hi ? x : hi;
		n++;
	}
	if (n == 1)
		snprintf(u->stats.activity, sizeof(u->stats.activity), "uploading %s part %d",
			 u->win->key, lo);
	else if (n > 1)
		snprintf(u->stats.activity, sizeof(u->stats.activity),
			 "uploading %s parts %d-%d (%u in flight)", u->win->key, lo, hi, n);
}

/*
 * The calling thread of the uploader takes its name and gives way to the
 * drives ([store] upload_nice): hashing and copying parts is background
 * work, and with it at the same priority a read through a drive ran at a
 * third of its speed while a tape written just before went up
 * (docs/benchmarks.md). Under back-pressure the drives wait, and the
 * uploader has the CPU.
 */
void upl_give_way(struct upl *u, const char *name)
{
	pthread_setname_np(pthread_self(), name); /* for top -H, ps -L */
	if (!u->cfg.upload_nice)
		return;
	id_t tid = (id_t)gettid();
	errno = 0;
	int now = getpriority(PRIO_PROCESS, tid);
	if ((now != -1 || !errno) &&
	    setpriority(PRIO_PROCESS, tid, now + (int)u->cfg.upload_nice) == 0)
		return;
	upl_logf(u, 1, "cannot lower the uploader's priority (upload_nice %u): %s",
		 u->cfg.upload_nice, strerror(errno));
}

static void *worker_main(void *arg)
{
	struct worker *wk = arg;
	struct upl *u = wk->u;
	upl_give_way(u, "vtl-part");
	pthread_mutex_lock(&u->mu);
	while (!u->stop) {
		struct window *w = u->win;
		if (!w || w->next == w->njobs || w->err) {
			pthread_cond_wait(&u->work_cond, &u->mu);
			continue;
		}
		const struct part_job *j = &w->jobs[w->next++];
		w->inflight++;
		met_upload_inflight(1);
		wk->number = j->number;
		window_activity(u);
		pthread_mutex_unlock(&u->mu);
		int rc = put_part(u, w, j, wk);
		pthread_mutex_lock(&u->mu);
		if (rc && !w->err)
			w->err = rc; /* no new parts; those in flight finish and record */
		wk->number = 0;
		w->inflight--;
		met_upload_inflight(-1);
		window_activity(u);
		pthread_cond_broadcast(&u->done_cond);
	}
	pthread_mutex_unlock(&u->mu);
	return NULL;
}

/* Hand the window to the workers and wait until every part is done, one
 * failed (the others in flight finish first) or vtld stops. */
static int run_window(struct upl *u, struct window *w)
{
	pthread_mutex_lock(&u->mu);
	u->win = w;
	pthread_cond_broadcast(&u->work_cond);
	while (w->inflight || (w->next < w->njobs && !w->err && !u->stop))
		pthread_cond_wait(&u->done_cond, &u->mu);
	u->win = NULL;
	int rc = w->err ? w->err : w->next < w->njobs ? -EINTR : 0;
	pthread_mutex_unlock(&u->mu);
	return rc;
}

int upl_pool_start(struct upl *u, unsigned n, size_t part_size)
{
	u->workers = calloc(n, sizeof(*u->workers));
	if (!u->workers)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		struct worker *wk = &u->workers[i];
		wk->u = u;
		wk->buf = malloc(part_size);
		if (!wk->buf)
			return -ENOMEM;
		wk->cap = part_size;
		int rc = -pthread_create(&wk->thread, NULL, worker_main, wk);
		if (rc) {
			free(wk->buf);
			wk->buf = NULL;
			return rc;
		}
		u->nworkers++;
	}
	return 0;
}

/* Join the workers upl_pool_start started (u->stop is set) and free them. */
void upl_pool_stop(struct upl *u)
{
	for (unsigned i = 0; i < u->nworkers; i++) {
		pthread_join(u->workers[i].thread, NULL);
		free(u->workers[i].buf);
	}
	free(u->workers);
	u->workers = NULL;
	u->nworkers = 0;
}

struct listed_parts {
	struct store_part *v;
	size_t n, cap;
};

static int listed_cb(void *arg, const struct store_part *p)
{
	struct listed_parts *l = arg;
	void *v = upl_grow(l->v, &l->cap, l->n, sizeof(*l->v));
	if (!v)
		return -ENOMEM;
	l->v = v;
	l->v[l->n++] = *p;
	return 0;
}

/* Has this upload been compared with the store's ListParts since start?
 * Marks it so. */
static bool reconciled(struct upl *u, const char *upload_id)
{
	for (size_t i = 0; i < u->n_reconciled; i++)
		if (strcmp(u->reconciled[i], upload_id) == 0)
			return true;
	void *v = realloc(u->reconciled, (u->n_reconciled + 1) * sizeof(*u->reconciled));
	if (!v)
		return true; /* no memory: simply send again */
	u->reconciled = v;
	upl_copy_str(u->reconciled[u->n_reconciled++], STORE_UPLOAD_ID_MAX, upload_id);
	return false;
}

/*
 * Parts the store lists for the upload with the size a job wants: the job
 * gets the store's ETag, and its worker adopts the part (records it as if
 * just sent) when that is the MD5 of our bytes at its offset, whichever
 * parts around it are missing (a kill -9 after the store acknowledged a part
 * and before the catalog recorded it; parts finish out of order).
 */
static void adopt_parts(struct upl *u, const struct cat_upl_seg *s, const char *key,
			struct part_job *jobs, size_t njobs)
{
	struct listed_parts l = {0};
	struct store_err se;
	memset(&se, 0, sizeof(se));
	/* Unlistable (the upload is gone, ...): the parts go as usual and
	 * the normal path finds out. */
	if (store_mpu_list_parts(u->st, key, s->upload_id, listed_cb, &l, &se) == 0) {
		size_t j = 0;
		for (size_t i = 0; i < l.n; i++) { /* both ascending */
			while (j < njobs && jobs[j].number < l.v[i].number)
				j++;
			if (j < njobs && jobs[j].number == l.v[i].number &&
			    jobs[j].len == l.v[i].size)
				upl_copy_str(jobs[j].listed, sizeof(jobs[j].listed), l.v[i].etag);
		}
	}
	free(l.v);
}

/* The store lost the upload of s (aborted elsewhere): the next round
 * starts it again. */
static int upload_gone(struct upl *u, const char *bc, const char *key, struct cat_upl_seg *s)
{
	upl_logf(u, 1, "upload of %s is gone from the store; sending it again", key);
	s->upload_id[0] = 0;
	s->object_size = 0;
	s->object_etag[0] = 0;
	return cat_call_put(u, bc, s);
}

/* Bytes of segment s safe in the store by its row (as upl_tape_backlog). */
static uint64_t row_safe_bytes(const struct cat_upl_seg *s)
{
	uint64_t safe = s->object_etag[0] ? s->object_size : 0;
	return s->upload_id[0] && s->parts_bytes > safe ? s->parts_bytes : safe;
}

/* Is the object of s a copy of exactly its file, which the store could
 * take instead (the last segment, completed by copy while its tape sat
 * idle in a drive, now out of it)? */
static bool copied_whole(const char *dir, const struct cat_upl_seg *s, uint64_t valid)
{
	char path[PATH_MAX + 32];
	struct stat sb;
	tape_file_path(dir, TAPE_SEG_DATA, s->seg, path, sizeof(path));
	return s->object_size == valid && stat(path, &sb) == 0 && sb.st_nlink == 1 &&
	       (uint64_t)sb.st_size == valid;
}

/* The name the local store gives a segment it shares (store_put_file):
 * the medium's digest of its record headers, which carry the CRC32C of
 * every payload, instead of an MD5 of every byte read back. */
static int seg_digest(int fd, uint64_t len, char *out, void *arg)
{
	(void)arg;
	_Static_assert(TAPE_DIGEST_LEN < STORE_ETAG_MAX, "a segment digest fits an ETag");
	return tape_segment_digest(fd, len, out);
}

/*
 * The segment's object made of its file itself (store_put_file: a hard
 * link or a reflink in a local store on the cache's file system), for a
 * segment that can no longer change: sealed, or the last one of a tape out
 * of a drive (the medium seals it before appending again, scsi/tape.c).
 * The file's flock says whether it can still change; the store checks it.
 * 0: done; 1: not possible here, copy as usual; else an error.
 */
static int share_seg(struct upl *u, const char *bc, const char *dir, struct cat_upl_seg *s,
		     const char *key, uint64_t valid)
{
	char path[PATH_MAX + 32], etag[STORE_ETAG_MAX];
	struct store_err se;
	tape_file_path(dir, TAPE_SEG_DATA, s->seg, path, sizeof(path));
	upl_activity(u, "linking %s", key);
	int rc = store_put_file(u->st, key, path, valid, seg_digest, NULL, etag, &se);
	if (rc == -EOPNOTSUPP || rc == -EXDEV) {
		if (u->share >= 0)
			upl_logf(u, 2, "segments are copied to the store: %s", se.msg);
		u->share = -1;
		return 1;
	}
	if (rc == -ERANGE || rc == -EBUSY || rc == -EWOULDBLOCK)
		return 1; /* longer than committed, or its writer holds it */
	if (rc == -EBADMSG) {
		/* Not whole records up to the committed length: copied, so
		 * that the object is every byte as it is, and said. */
		upl_logf(u, 1, "%s is copied to the store: %s", key, se.msg);
		return 1;
	}
	if (rc == -EAGAIN || (rc == -ENOENT && !still_named(dir, s->seg)))
		return -EAGAIN; /* cut since the manifest was read */
	if (rc)
		return upl_errf(u, &se, rc, rc == -ENOENT ? FAULT_LOCAL : 0, "put of %s failed: %s",
				key, se.msg);
	u->share = 1;
	struct store_object_info info;
	rc = store_head(u->st, key, &info, &se);
	if (rc || info.size != valid || strcmp(info.etag, etag) != 0)
		return upl_errf(u, rc ? &se : NULL, rc ? rc : -EBADMSG, STORE_FAULT_TRANSIENT,
				"%s does not verify after the put (size %" PRIu64 ", want %" PRIu64
				")%s%s",
				key, rc ? 0 : info.size, valid, rc ? ": " : "", rc ? se.msg : "");
	/* Parts sent while the segment grew are not needed any more. */
	uint64_t before = row_safe_bytes(s);
	if (s->upload_id[0])
		store_mpu_abort(u->st, key, s->upload_id, &se);
	s->upload_id[0] = 0;
	s->valid = valid;
	s->object_size = valid;
	upl_copy_str(s->object_etag, sizeof(s->object_etag), etag);
	rc = cat_call_put(u, bc, s);
	if (rc)
		return rc;
	upl_count(u, 0, 0, 0, 1, 0);
	pthread_mutex_lock(&u->mu);
	u->stats.objects_linked++;
	u->stats.bytes_linked += valid;
	pthread_mutex_unlock(&u->mu);
	vcache_sent(u->cache, valid > before ? valid - before : 0);
	return 0;
}

/* Does the cache hold writes back now (they wait for the store)? */
static bool writes_waiting(struct upl *u)
{
	struct vcache_status cs;
	if (!u->cache)
		return false;
	vcache_status(u->cache, &cs);
	return cs.writes_waiting > 0;
}

/* Bring one segment's object up to `valid` bytes as far as allowed:
 * full parts always, the rest and the completion when `complete`.
 * `fixed`: the segment can no longer change (sealed, or the last one of a
 * tape out of a drive), so a local store may take the file itself; `is_last`:
 * it is the tape's last segment. */
static int sync_seg(struct upl *u, const char *bc, const char *dir, struct cat_upl_seg *s,
		    uint64_t valid, bool complete, bool fixed, bool is_last)
{
	char key[STORE_KEY_MAX];
	struct store_err se;
	int rc;
	upl_key_seg(&u->cfg, bc, s->seg, key);
	const uint64_t P = s->part_size;

	bool in_store = !s->upload_id[0] && s->object_etag[0] && s->object_size >= valid;
	if (fixed && valid > 0 && u->share >= 0 &&
	    (!in_store || (is_last && copied_whole(dir, s, valid)))) {
		rc = share_seg(u, bc, dir, s, key, valid);
		if (rc != 1)
			return rc;
	}
	/* A store that takes sealed files needs no copy of a segment that is
	 * still growing: its parts would be thrown away at the seal. They go
	 * when the segment must be completed (the tape idle in its drive), or
	 * when writes wait for the store (the cache is full). Not only once a
	 * link was made: after a start the first tape written stays in its
	 * drive, and nothing can be linked before its first seal or unload. */
	bool changed = s->valid != valid;
	s->valid = valid;
	if (u->share >= 0 && !fixed && !complete && !writes_waiting(u))
		return changed ? cat_call_put(u, bc, s) : 0;

	if (s->upload_id[0] && valid == 0 && complete) {
		/* Cut to nothing while uploading: no part is needed. */
		store_mpu_abort(u->st, key, s->upload_id, &se);
		s->upload_id[0] = 0;
		s->object_size = 0;
		s->object_etag[0] = 0;
	}
	if (!s->upload_id[0]) {
		if (s->object_etag[0] && s->object_size >= valid) {
			/* In the store already (a cut segment keeps its
			 * object; the manifest records the valid length). */
			return changed ? cat_call_put(u, bc, s) : 0;
		}
		if (valid == 0) {
			if (!complete)
				return changed ? cat_call_put(u, bc, s) : 0;
			rc = store_put(u->st, key, "", 0, NULL, s->object_etag, &se);
			if (rc)
				return upl_errf(u, &se, rc, 0, "put of %s failed: %s", key, se.msg);
			s->object_size = 0;
			upl_count(u, 0, 0, 0, 1, 0);
			return cat_call_put(u, bc, s);
		}
		uint64_t have = s->object_etag[0] ? s->object_size / P : 0; /* copyable parts */
		if (!complete && valid / P <= have)
			return changed ? cat_call_put(u, bc, s) : 0;
		rc = store_mpu_create(u->st, key, NULL, s->upload_id, &se);
		if (rc)
			return upl_errf(u, &se, rc, 0, "cannot start the upload of %s: %s", key,
					se.msg);
		reconciled(u, s->upload_id); /* new: nothing in the store to adopt */
		rc = cat_call_put(u, bc, s);
		if (rc)
			return rc;
		/* Grown after completion: copy the old object's full parts. */
		for (uint64_t n = 1; n <= have; n++) {
			struct cat_upl_part p = {.number = (int)n, .size = P};
			rc = store_mpu_copy_part(u->st, key, s->upload_id, (int)n, key, (n - 1) * P,
						 P, p.etag, &se);
			if (rc)
				return upl_errf(u, &se, rc, 0,
						"copy of part %" PRIu64 " of %s failed: %s", n, key,
						se.msg);
			pthread_mutex_lock(&u->cat_mu);
			rc = cat_upl_part_add(u->cat, bc, s->seg, &p);
			pthread_mutex_unlock(&u->cat_mu);
			if (rc)
				return rc;
			upl_count(u, 0, 0, 1, 0, 0);
		}
	} else if (changed) {
		rc = cat_call_put(u, bc, s);
		if (rc)
			return rc;
	}

	/* The parts needed: every full one, and with `complete` the short
	 * last one. Parts finish out of order, so the catalog holds a set of
	 * numbers (a kill -9 may leave {1, 2, 4}): send exactly those it does
	 * not record. A recorded short part (a completion interrupted after
	 * it was sent) does unless more data came since. */
	const uint64_t full = valid / P;
	const uint64_t last = complete && valid % P ? full + 1 : full;
	if (last > STORE_PARTS_MAX)
		return -EFBIG;
	struct cat_upl_part *parts;
	size_t np;
	pthread_mutex_lock(&u->cat_mu);
	rc = cat_upl_parts(u->cat, bc, s->seg, &parts, &np);
	pthread_mutex_unlock(&u->cat_mu);
	if (rc)
		return rc;
	struct part_job *jobs = calloc(last ? last : 1, sizeof(*jobs));
	if (!jobs) {
		free(parts);
		return -ENOMEM;
	}
	size_t nj = 0;
	for (uint64_t n = 1, k = 0; n <= last; n++) {
		uint64_t off = (n - 1) * P, len = n <= full ? P : valid - off;
		while (k < np && (uint64_t)parts[k].number < n)
			k++;
		if (k < np && (uint64_t)parts[k].number == n && parts[k].size >= len)
			continue;
		jobs[nj++] = (struct part_job){.number = (int)n, .off = off, .len = len};
	}
	free(parts);
	if (nj && !reconciled(u, s->upload_id))
		/* First look at this upload since start: parts the store
		 * accepted but the catalog never recorded are adopted. */
		adopt_parts(u, s, key, jobs, nj);
	struct window w = {.bc = bc, .dir = dir, .key = key, .s = s, .jobs = jobs, .njobs = nj};
	rc = nj ? run_window(u, &w) : 0;
	free(jobs);
	if (rc == -ENOENT)
		return upload_gone(u, bc, key, s); /* a part was refused: NoSuchUpload */
	if (rc || !complete)
		return rc;

	/* Complete with parts 1..last (any beyond, left by a cut, are
	 * dropped), then verify: the ETag S3 computes from the part ETags
	 * (each the MD5 the store checked with Content-MD5) and the size. */
	pthread_mutex_lock(&u->cat_mu);
	rc = cat_upl_parts(u->cat, bc, s->seg, &parts, &np);
	pthread_mutex_unlock(&u->cat_mu);
	if (rc)
		return rc;
	struct store_part *sp = calloc(last ? last : 1, sizeof(*sp));
	uint64_t total = 0;
	size_t nsp = 0;
	if (!sp) {
		free(parts);
		return -ENOMEM;
	}
	for (size_t i = 0; i < np && nsp < last; i++) {
		if (parts[i].number != (int)nsp + 1)
			break;
		sp[nsp].number = parts[i].number;
		sp[nsp].size = parts[i].size;
		snprintf(sp[nsp].etag, sizeof(sp[nsp].etag), "%s", parts[i].etag);
		total += parts[i].size;
		nsp++;
	}
	free(parts);
	if (nsp != last || total < valid) {
		free(sp);
		return upl_errf(u, NULL, -EIO, STORE_FAULT_TRANSIENT,
				"upload of %s: the catalog lacks parts after sending them", key);
	}
	char etag[STORE_ETAG_MAX] = "", want[STORE_ETAG_MAX] = "";
	upl_activity(u, "completing %s (%zu parts)", key, nsp);
	rc = store_mpu_complete(u->st, key, s->upload_id, sp, nsp, etag, &se);
	/* S3's multipart ETag follows from the parts' only where those are
	 * MD5s; elsewhere (SSE-KMS, SSE-C) the object is checked by its size
	 * and the ETag the completion gave (each part was checked by the
	 * store against its Content-MD5 when sent). */
	bool md5 = store_etags_are_md5(u->st);
	if (!rc && md5)
		rc = store_multipart_etag(sp, nsp, want);
	free(sp);
	if (rc == -ENOENT)
		return upload_gone(u, bc, key, s);
	if (rc)
		return upl_errf(u, &se, rc, 0, "cannot complete %s: %s", key, se.msg);
	struct store_object_info info;
	rc = store_head(u->st, key, &info, &se);
	if (!rc && !md5)
		upl_copy_str(want, sizeof(want), etag[0] ? etag : info.etag);
	if (rc || info.size != total || (etag[0] && strcmp(etag, want) != 0) ||
	    strcmp(info.etag, want) != 0)
		return upl_errf(u, rc ? &se : NULL, rc ? rc : -EBADMSG, STORE_FAULT_TRANSIENT,
				"%s does not verify after completion (size %" PRIu64
				", want %" PRIu64 "; ETag %s, want %s)%s%s",
				key, rc ? 0 : info.size, total, rc ? "?" : info.etag, want,
				rc ? ": " : "", rc ? se.msg : "");
	s->upload_id[0] = 0;
	s->object_size = total;
	snprintf(s->object_etag, sizeof(s->object_etag), "%s", want);
	upl_count(u, 0, 0, 0, 1, 0);
	return cat_call_put(u, bc, s);
}

static int put_text(struct upl *u, struct store *st, const char *key, const char *text)
{
	struct store_err se;
	int rc = store_put(st, key, text, strlen(text), NULL, NULL, &se);
	if (rc)
		upl_errf(u, &se, rc, 0, "put of %s failed: %s", key, se.msg);
	return rc;
}

/* What the store records of a tape's state for disaster recovery. */
static const char *store_state_of(enum cat_state s)
{
	return s == CAT_ARCHIVING || s == CAT_ARCHIVED || s == CAT_RETRIEVING ? "ARCHIVED"
									      : "AVAILABLE";
}

/* The state object in the location (st, c), then in the catalog. */
int upl_put_state(struct upl *u, struct store *st, const struct store_config *c,
		  const struct cat_tape *t, const char *state, uint64_t gen)
{
	char key[STORE_KEY_MAX], text[256];
	upl_key_tape(c, t->barcode, "state", key);
	snprintf(text, sizeof(text), "state=%s\nmedia=%s\ncapacity=%" PRIu64 "\n", state, t->media,
		 t->capacity);
	int rc = put_text(u, st, key, text);
	if (!rc) {
		pthread_mutex_lock(&u->cat_mu);
		rc = cat_upl_tape_set(u->cat, t->barcode, gen, state);
		pthread_mutex_unlock(&u->cat_mu);
	}
	return rc;
}

struct del_ctx {
	struct upl *u;
	const char *keep;
	char (*keys)[STORE_KEY_MAX];
	size_t n, cap;
};

static int collect_key(void *arg, const struct store_list_entry *e)
{
	struct del_ctx *d = arg;
	if (e->is_prefix || (d->keep && strcmp(e->key, d->keep) == 0))
		return 0;
	void *nk = upl_grow(d->keys, &d->cap, d->n, sizeof(*d->keys));
	if (!nk)
		return -ENOMEM;
	d->keys = nk;
	snprintf(d->keys[d->n++], STORE_KEY_MAX, "%s", e->key);
	return 0;
}

/* Delete every object of st under prefix but `keep`. */
int upl_delete_under(struct upl *u, struct store *st, const char *prefix, const char *keep)
{
	struct del_ctx d = {.u = u, .keep = keep};
	struct store_list_opts lo = {.prefix = prefix};
	struct store_err se;
	memset(&se, 0, sizeof(se));
	int rc = store_list(st, &lo, collect_key, &d, &se);
	for (size_t i = 0; !rc && i < d.n; i++)
		rc = store_delete(st, d.keys[i], &se);
	if (rc)
		upl_errf(u, &se, rc, 0, "cleaning up %s failed: %s", prefix,
			 se.msg[0] ? se.msg : strerror(-rc));
	free(d.keys);
	return rc;
}

struct version_ctx {
	struct {
		char key[STORE_KEY_MAX];
		char vid[STORE_VERSION_ID_MAX];
	} * v;
	size_t n, cap;
};

static int collect_version(void *arg, const struct store_version_entry *e)
{
	struct version_ctx *c = arg;
	void *nv = upl_grow(c->v, &c->cap, c->n, sizeof(*c->v));
	if (!nv)
		return -ENOMEM;
	c->v = nv;
	snprintf(c->v[c->n].key, STORE_KEY_MAX, "%s", e->key);
	snprintf(c->v[c->n].vid, STORE_VERSION_ID_MAX, "%s", e->version_id);
	c->n++;
	return 0;
}

/*
 * Delete every version and delete marker under prefix, for good: on a
 * versioned bucket ([store] object_lock) a plain DeleteObject only hides
 * an object behind a marker, and the bytes stay, billed, forever. The
 * library's guard let the tape go (its lock ended, or an administrator
 * allowed to bypassed a governance one), so a version a governance
 * retention still holds is deleted with the bypass; one the server
 * refuses even so (COMPLIANCE, or credentials without
 * s3:BypassGovernanceRetention) stays, said in the log with the reason,
 * and is not asked again: it is the store's to keep until its date.
 */
int upl_delete_versions_under(struct upl *u, struct store *st, const char *prefix)
{
	struct version_ctx c = {0};
	struct store_err se;
	memset(&se, 0, sizeof(se));
	int rc = store_list_versions(st, prefix, collect_version, &c, &se);
	size_t kept = 0;
	for (size_t i = 0; !rc && i < c.n; i++) {
		rc = store_delete_version(st, c.v[i].key, c.v[i].vid, 0, &se);
		if (rc != -EPERM)
			continue;
		/* Locked: with the bypass, which a COMPLIANCE retention refuses
		 * (-EPERM) and credentials without the permission too (-EACCES
		 * here, where the same credentials were just let in). */
		rc = store_delete_version(st, c.v[i].key, c.v[i].vid, 1, &se);
		if (rc == -EPERM || rc == -EACCES) {
			upl_logf(u, 1, "the store keeps version %s of %s: %s", c.v[i].vid,
				 c.v[i].key, se.msg[0] ? se.msg : strerror(-rc));
			kept++;
			rc = 0;
		}
	}
	if (rc)
		upl_errf(u, &se, rc, 0, "deleting the versions under %s failed: %s", prefix,
			 se.msg[0] ? se.msg : strerror(-rc));
	else if (kept)
		upl_logf(u, 1, "%zu of %zu versions under %s stay in the store under retention",
			 kept, c.n, prefix);
	free(c.v);
	return rc;
}

int upl_any_key(void *arg, const struct store_list_entry *e)
{
	snprintf(arg, STORE_KEY_MAX, "%s", e->key);
	return 1; /* one is enough */
}

/*
 * Before the first byte of a tape goes up: the catalog has no row for it,
 * so anything under tapes/BARCODE/ in the store belongs to another tape of
 * the same barcode (created again after a lost catalog, or by a second
 * library on the same bucket). Uploading would overwrite its segments and
 * delete its manifests, so the tape is not uploaded until the store's copy
 * is brought back (`vtlctl catalog rebuild`) or removed: round_once holds
 * the tape (FAULT_FOREIGN) and looks again on the slow schedule or at
 * `vtlctl store retry`. A shelf apart counts too: an archived tape of that barcode
 * is there. When the prefix is free, a row for the first segment claims
 * the tape for this catalog before anything is written (a crash after the
 * first PUT must not look like a foreign tape).
 */
static int claim_prefix(struct upl *u, const struct cat_tape *t, const struct manifest *m)
{
	char pfx[STORE_KEY_MAX], found[STORE_KEY_MAX] = "";
	struct store_err se;
	memset(&se, 0, sizeof(se));
	for (int shelf = 0; shelf < 2 && !found[0]; shelf++) {
		if (shelf && !u->shelf_st)
			break;
		upl_key_tape(shelf ? &u->shelf_cfg : &u->cfg, t->barcode, "", pfx);
		struct store_list_opts lo = {.prefix = pfx, .page_size = 1};
		int rc = store_list(shelf ? u->shelf_st : u->st, &lo, upl_any_key, found, &se);
		if (rc < 0)
			return upl_errf(
			    u, &se, rc, 0,
			    "cannot check %s in the store before the first upload of %s: %s", pfx,
			    t->barcode, se.msg[0] ? se.msg : strerror(-rc));
	}
	upl_count(u, 0, 0, 0, 0, 0); /* the store answered */
	if (found[0])
		return upl_errf(u, NULL, -EEXIST, FAULT_FOREIGN,
				"tape %s is not uploaded: the store already holds a tape with this "
				"barcode (%s), which the catalog does not know; bring it back with "
				"`vtlctl catalog rebuild` (after deleting the local tape %s), or "
				"delete %s* from the bucket",
				t->barcode, found, t->barcode, pfx);
	struct cat_upl_seg s;
	memset(&s, 0, sizeof(s));
	s.seg = m->tm.segs[0].id;
	s.part_size = upl_adapt_part_size(u->cfg.part_size);
	return cat_call_put(u, t->barcode, &s);
}

/*
 * One round for one tape in the library. *up_to_date: every segment is a
 * complete object and the newest manifest is in the store.
 */
int upl_sync_tape(struct upl *u, const struct cat_tape *t, bool *up_to_date)
{
	char dir[PATH_MAX];
	struct manifest m;
	*up_to_date = false;
	lib_tape_dir(u->lib, t->barcode, dir, sizeof(dir));
	int rc = upl_man_read(dir, &m);
	if (rc == -ENOENT)
		return 0; /* no medium yet (being created or downloaded) */
	if (rc)
		return upl_errf(u, NULL, rc, FAULT_LOCAL,
				"tape %s: its manifest %s/MANIFEST cannot be read (%s), so nothing "
				"of the tape can be uploaded",
				t->barcode, dir,
				rc == -EBADMSG ? "damaged: bad checksum or length" : strerror(-rc));
	struct tape_rec *ir = upl_rec_for(u, t->barcode);
	time_t now = time(NULL);
	if (ir && ir->gen != m.tm.generation) {
		ir->gen = m.tm.generation;
		ir->since = now;
	}
	bool idle = ir && now - ir->since >= (time_t)u->cfg.idle_secs;
	bool loaded = t->in_library && t->kind == CAT_DRIVE;

	struct cat_upl_seg *rows = NULL;
	size_t nrows = 0;
	uint64_t man_gen = 0;
	char sstate[32] = "";
	rc = upl_cat_segs(u, t->barcode, &rows, &nrows);
	if (!rc) {
		pthread_mutex_lock(&u->cat_mu);
		rc = cat_upl_tape_get(u->cat, t->barcode, &man_gen, sstate, sizeof(sstate));
		pthread_mutex_unlock(&u->cat_mu);
	}
	if (!rc && nrows == 0 && !sstate[0] && m.tm.nseg)
		rc = claim_prefix(u, t, &m);
	if (rc)
		goto out;
	bool all = true;
	for (size_t i = 0; i < m.tm.nseg && !rc; i++) {
		struct cat_upl_seg s;
		const struct cat_upl_seg *row = upl_row_of(rows, nrows, m.tm.segs[i].id);
		if (row) {
			s = *row;
		} else {
			memset(&s, 0, sizeof(s));
			s.seg = m.tm.segs[i].id;
			s.part_size = upl_adapt_part_size(u->cfg.part_size);
		}
		bool sealed = i + 1 < m.tm.nseg;
		bool complete = sealed || !loaded || idle;
		rc = sync_seg(u, t->barcode, dir, &s, m.tm.segs[i].valid, complete,
			      sealed || !loaded, !sealed);
		if (!rc &&
		    (s.upload_id[0] || !s.object_etag[0] || s.object_size < m.tm.segs[i].valid))
			all = false;
	}
	if (rc || !all)
		goto out;
	if (m.tm.generation != man_gen || !sstate[0]) {
		char key[STORE_KEY_MAX];
		struct store_err se;
		upl_key_manifest(&u->cfg, t->barcode, m.tm.generation, key);
		/* A tape encrypted at rest: its wrapped data key first, so that
		 * no manifest is in the store that recovery could not open. */
		if (m.tm.info.at_rest && (rc = upl_put_key(u, t)) != 0)
			goto out;
		/* Every segment it names is complete: the manifest may go up. */
		rc = store_put(u->st, key, m.buf, m.len, NULL, NULL, &se);
		if (rc) {
			upl_errf(u, &se, rc, 0, "put of %s failed: %s", key, se.msg);
			goto out;
		}
		upl_count(u, 0, 0, 0, 0, 1);
		rc = upl_put_state(u, u->st, &u->cfg, t, store_state_of(t->state), m.tm.generation);
		if (rc)
			goto out;
		/* Now that the manifest which drops them is up: delete the
		 * segments it no longer names, and the older manifests. The
		 * rows it names are marked through the rows' order, not by a
		 * pass over the manifest for each row (tens of thousands of
		 * segments on a large tape). */
		bool *named = calloc(nrows ? nrows : 1, sizeof(*named));
		if (!named) {
			rc = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < m.tm.nseg; i++) {
			const struct cat_upl_seg *r = upl_row_of(rows, nrows, m.tm.segs[i].id);
			if (r)
				named[r - rows] = true;
		}
		for (size_t j = 0; j < nrows && !rc; j++) {
			if (named[j])
				continue;
			char sk[STORE_KEY_MAX];
			upl_key_seg(&u->cfg, t->barcode, rows[j].seg, sk);
			if (rows[j].upload_id[0])
				store_mpu_abort(u->st, sk, rows[j].upload_id, &se);
			rc = store_delete(u->st, sk, &se);
			if (rc)
				upl_errf(u, &se, rc, 0, "delete of %s failed: %s", sk, se.msg);
			if (!rc) {
				pthread_mutex_lock(&u->cat_mu);
				rc = cat_upl_seg_delete(u->cat, t->barcode, rows[j].seg);
				pthread_mutex_unlock(&u->cat_mu);
			}
		}
		free(named);
		char pfx[STORE_KEY_MAX];
		upl_key_tape(&u->cfg, t->barcode, "manifest/", pfx);
		if (!rc)
			rc = upl_delete_under(u, u->st, pfx, key);
	}
	if (!rc)
		*up_to_date = true;
out:
	free(rows);
	upl_man_free(&m);
	return rc;
}

/* ---- The store's leftovers ---------------------------------------------- */

struct known_ids {
	char (*ids)[STORE_UPLOAD_ID_MAX];
	size_t n, cap;
};

static int known_cb(void *arg, const char *bc, uint64_t seg, const char *id)
{
	(void)bc;
	(void)seg;
	struct known_ids *k = arg;
	void *v = upl_grow(k->ids, &k->cap, k->n, sizeof(*k->ids));
	if (!v)
		return -ENOMEM;
	k->ids = v;
	snprintf(k->ids[k->n++], STORE_UPLOAD_ID_MAX, "%s", id);
	return 0;
}

struct orphan_ctx {
	struct upl *u;
	struct known_ids *known;
	struct store_upload *v;
	char (*keys)[STORE_KEY_MAX];
	char (*ids)[STORE_UPLOAD_ID_MAX];
	size_t n, cap;
};

static int orphan_cb(void *arg, const struct store_upload *up)
{
	struct orphan_ctx *o = arg;
	for (size_t i = 0; i < o->known->n; i++)
		if (strcmp(o->known->ids[i], up->upload_id) == 0)
			return 0;
	if (o->n == o->cap) {
		size_t nc = o->cap ? 2 * o->cap : 16;
		void *a = realloc(o->keys, nc * sizeof(*o->keys));
		if (!a)
			return -ENOMEM;
		o->keys = a;
		void *b = realloc(o->ids, nc * sizeof(*o->ids));
		if (!b)
			return -ENOMEM;
		o->ids = b;
		o->cap = nc;
	}
	snprintf(o->keys[o->n], STORE_KEY_MAX, "%s", up->key);
	snprintf(o->ids[o->n], STORE_UPLOAD_ID_MAX, "%s", up->upload_id);
	o->n++;
	return 0;
}

/* Abort the multipart uploads under the tapes/ prefix of (st, c) the
 * catalog does not know: a crash between CreateMultipartUpload and the
 * catalog commit, or in a copy to the shelf apart (the catalog knows none
 * of those). */
int upl_sweep_orphans(struct upl *u, struct store *st, const struct store_config *c)
{
	struct known_ids k = {0};
	pthread_mutex_lock(&u->cat_mu);
	int rc = cat_upl_upload_ids(u->cat, known_cb, &k);
	pthread_mutex_unlock(&u->cat_mu);
	struct orphan_ctx o = {.u = u, .known = &k};
	char pfx[STORE_KEY_MAX];
	struct store_err se;
	memset(&se, 0, sizeof(se));
	snprintf(pfx, sizeof(pfx), "%stapes/", c->prefix);
	if (!rc)
		rc = store_mpu_list(st, pfx, orphan_cb, &o, &se);
	for (size_t i = 0; !rc && i < o.n; i++) {
		rc = store_mpu_abort(st, o.keys[i], o.ids[i], &se);
		if (!rc)
			upl_logf(u, 2, "aborted multipart upload of %s unknown to the catalog",
				 o.keys[i]);
		else if (rc == -ENOENT)
			rc = 0;
	}
	if (rc)
		upl_errf(u, &se, rc, 0, "sweep of orphaned uploads failed: %s",
			 se.msg[0] ? se.msg : strerror(-rc));
	free(k.ids);
	free(o.keys);
	free(o.ids);
	return rc;
}

/* A deleted tape's data key goes once no object of the tape is left in
 * the store (its KEY object went with them): from then on no copy of its
 * data, wherever one survives, can be read. Kept until then, so that an
 * operator can still see what the store holds. */
static void shred_key(struct upl *u, const char *barcode)
{
	struct cat_key_row k;
	pthread_mutex_lock(&u->cat_mu);
	/* Read first: this runs for every deleted tape each round, and a
	 * wrapped key is no secret. */
	int rc = cat_key_get(u->cat, barcode, &k) ? 0 : cat_key_shred(u->cat, barcode);
	pthread_mutex_unlock(&u->cat_mu);
	if (rc)
		upl_logf(u, 1,
			 "deleted tape %s: its data key could not be removed from the catalog "
			 "(%s); tried again next round",
			 barcode, strerror(-rc));
}

void upl_forget_deleted(struct upl *u, const struct cat_tape *t)
{
	uint64_t gen;
	struct cat_upl_seg *rows;
	size_t n;
	pthread_mutex_lock(&u->cat_mu);
	int rc = cat_upl_tape_get(u->cat, t->barcode, &gen, NULL, 0);
	pthread_mutex_unlock(&u->cat_mu);
	if (rc || upl_cat_segs(u, t->barcode, &rows, &n))
		return;
	bool known = gen || n;
	for (size_t i = 0; i < n; i++) {
		char key[STORE_KEY_MAX];
		struct store_err se;
		upl_key_seg(&u->cfg, t->barcode, rows[i].seg, key);
		if (rows[i].upload_id[0])
			store_mpu_abort(u->st, key, rows[i].upload_id, &se);
	}
	free(rows);
	if (!known) {
		shred_key(u, t->barcode);
		return;
	}
	char pfx[STORE_KEY_MAX];
	/* A versioned bucket ([store] object_lock) keeps what a plain delete
	 * removes: every version goes. */
	upl_key_tape(&u->cfg, t->barcode, "", pfx);
	int rc2 = u->cfg.object_lock ? upl_delete_versions_under(u, u->st, pfx)
				     : upl_delete_under(u, u->st, pfx, NULL);
	if (!rc2 && u->shelf_st) {
		upl_key_tape(&u->shelf_cfg, t->barcode, "", pfx);
		rc2 = u->cfg.object_lock ? upl_delete_versions_under(u, u->shelf_st, pfx)
					 : upl_delete_under(u, u->shelf_st, pfx, NULL);
	}
	if (rc2 == 0) {
		pthread_mutex_lock(&u->cat_mu);
		cat_upl_tape_forget(u->cat, t->barcode);
		pthread_mutex_unlock(&u->cat_mu);
		upl_logf(u, 2, "deleted tape %s's objects from the store", t->barcode);
		shred_key(u, t->barcode);
	}
}
