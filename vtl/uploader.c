/*
 * uploader.c - the object-store side of vtld (see uploader.h and
 * docs/object-store.md, "The uploader, the shelf and recovery").
 *
 * One thread. Each round it reads the catalog (its own SQLite connection)
 * and, per tape, the medium's MANIFEST file, which the medium replaces
 * atomically at every commit point (docs/medium-format.md, "Manifest").
 * What a manifest names is on stable local storage and never changes:
 * appends go past it, an overwrite in the middle shortens the valid length
 * of a segment and continues in a new one, and segment ids are never
 * reused. So the thread may read those bytes with pread() while the drive
 * keeps writing, without any lock and without ever making the SCSI path
 * wait (ARCHITECTURE.md, "A slow object store never stalls the SCSI
 * path"). A file shorter than the manifest said (cut by an overwrite just
 * now) makes the round for that tape stop; the next round reads the new
 * manifest.
 *
 * Keys (prefix + ...):
 *   tapes/BARCODE/seg/<segment id, 16 hex>     one object per segment
 *   tapes/BARCODE/manifest/<generation, 16 hex> the MANIFEST bytes as-is
 *   tapes/BARCODE/state                        "state=ARCHIVED\n" etc.
 *
 * A segment is a multipart upload of full parts while it grows, completed
 * when it is sealed (no longer the last segment), when the tape is not in
 * a drive, or when its manifest has not changed for idle_secs after a
 * flush. If it grows after completion, a new upload of the same key copies
 * the full parts of the old object server-side (UploadPartCopy) and goes
 * on from there. The catalog records each part after the store
 * acknowledged it, and each object after Complete plus a HEAD check: the
 * durability contract's "uploads in flight resume from the catalog".
 */
#define _GNU_SOURCE
#include "uploader.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "library.h"
#include "scsi/be.h"
#include "scsi/crc32c.h"
#include "scsi/tape.h"

#define MIB	       (1ull << 20)
#define GET_CHUNK      (8u << 20) /* ranged GET size for downloads */
#define TICK_MS	       500
#define THROUGHPUT_WIN 10 /* seconds */

/* ---- Configuration ------------------------------------------------------ */

void upl_config_defaults(struct upl_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->type, sizeof(c->type), "local");
	snprintf(c->addressing, sizeof(c->addressing), "auto");
	c->part_size = 16 * MIB;
	c->idle_secs = 5;
}

int upl_store_open(const struct upl_config *c, const char *data_dir, struct store **out, char *err,
		   size_t errlen)
{
	struct store_err se;
	memset(&se, 0, sizeof(se));
	int rc;
	if (strcmp(c->type, "local") == 0) {
		char path[PATH_MAX];
		if (c->path[0])
			snprintf(path, sizeof(path), "%s", c->path);
		else if (snprintf(path, sizeof(path), "%s/store", data_dir) >= (int)sizeof(path))
			return -ENAMETOOLONG;
		rc = store_local_open(path, out, &se);
	} else if (strcmp(c->type, "s3") == 0) {
		struct store_s3_config sc;
		memset(&sc, 0, sizeof(sc));
		sc.bucket = c->bucket;
		sc.endpoint = c->endpoint[0] ? c->endpoint : NULL;
		sc.region = c->region[0] ? c->region : NULL;
		sc.profile = c->profile[0] ? c->profile : NULL;
		sc.access_key = c->access_key[0] ? c->access_key : NULL;
		sc.secret_key = c->secret_key[0] ? c->secret_key : NULL;
		sc.ca_bundle = c->ca_bundle[0] ? c->ca_bundle : NULL;
		sc.addressing = strcmp(c->addressing, "path") == 0	? STORE_S3_PATH
				: strcmp(c->addressing, "virtual") == 0 ? STORE_S3_VIRTUAL
									: STORE_S3_AUTO;
		if (!c->bucket[0]) {
			snprintf(err, errlen, "[store] type = s3 needs a bucket");
			return -EINVAL;
		}
		rc = store_s3_open(&sc, out, &se);
	} else {
		snprintf(err, errlen, "[store] type = %s: use local or s3", c->type);
		return -EINVAL;
	}
	if (rc)
		snprintf(err, errlen, "cannot open the object store: %s",
			 se.msg[0] ? se.msg : strerror(-rc));
	return rc;
}

/* ---- State -------------------------------------------------------------- */

struct idle_rec {
	char barcode[CAT_BARCODE_MAX + 1];
	uint64_t gen;
	time_t since;
};

struct upl {
	struct lib *lib;
	struct store *st;
	struct upl_config cfg;
	upl_log_fn log;
	struct cat *cat;
	pthread_mutex_t cat_mu; /* the uploader's catalog connection */
	pthread_mutex_t mu;	/* everything below */
	pthread_cond_t cond;
	pthread_t thread;
	bool running, stop, kicked;
	struct upl_status stats;
	uint64_t samples[THROUGHPUT_WIN + 1]; /* bytes_sent at each second */
	time_t sample_t[THROUGHPUT_WIN + 1];
	unsigned part_delay_ms; /* test hook: VTL_UPLOAD_PART_DELAY_MS */
	struct idle_rec *idle;
	size_t n_idle;
	struct vcache *cache;			 /* eviction, read-through, back-pressure */
	char (*reconciled)[STORE_UPLOAD_ID_MAX]; /* uploads checked with ListParts */
	size_t n_reconciled;
	char restore_note[512]; /* the last "waiting for restores" said (retrieve_tape) */
	unsigned nerrors;	/* errors logged (level 0), under mu */
};

static void copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = strnlen(src, cap - 1);
	memcpy(dst, src, n);
	dst[n] = 0;
}

static void logf_(struct upl *u, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void logf_(struct upl *u, int level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (level == 0) {
		pthread_mutex_lock(&u->mu);
		copy_str(u->stats.last_error, sizeof(u->stats.last_error), msg);
		u->nerrors++;
		pthread_mutex_unlock(&u->mu);
	}
	if (u->log)
		u->log(level, msg);
}

static void activity(struct upl *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void activity(struct upl *u, const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&u->mu);
	va_start(ap, fmt);
	vsnprintf(u->stats.activity, sizeof(u->stats.activity), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&u->mu);
}

static bool stopping(struct upl *u)
{
	pthread_mutex_lock(&u->mu);
	bool s = u->stop;
	pthread_mutex_unlock(&u->mu);
	return s;
}

static void count(struct upl *u, uint64_t bytes, int parts, int copied, int objects, int manifests)
{
	pthread_mutex_lock(&u->mu);
	u->stats.bytes_sent += bytes;
	u->stats.parts_sent += (uint64_t)parts;
	u->stats.parts_copied += (uint64_t)copied;
	u->stats.objects_completed += (uint64_t)objects;
	u->stats.manifests_put += (uint64_t)manifests;
	pthread_mutex_unlock(&u->mu);
}

/* ---- Keys and the manifest ---------------------------------------------- */

static void key_seg(const struct upl_config *c, const char *bc, uint64_t seg, char *k)
{
	snprintf(k, STORE_KEY_MAX, "%stapes/%s/seg/%016" PRIx64, c->prefix, bc, seg);
}

static void key_manifest(const struct upl_config *c, const char *bc, uint64_t gen, char *k)
{
	snprintf(k, STORE_KEY_MAX, "%stapes/%s/manifest/%016" PRIx64, c->prefix, bc, gen);
}

static void key_tape(const struct upl_config *c, const char *bc, const char *rest, char *k)
{
	snprintf(k, STORE_KEY_MAX, "%stapes/%s/%s", c->prefix, bc, rest);
}

/* The parts of a manifest the uploader needs (docs/medium-format.md). */
struct man_seg {
	uint64_t id, valid;
};
struct manifest {
	uint8_t *buf;
	size_t len;
	uint64_t gen;
	uint32_t media;
	uint64_t capacity;
	size_t nseg;
	struct man_seg *segs;
};

#define MAN_HDR 128u
#define MAN_SEG 32u

static void man_free(struct manifest *m)
{
	free(m->buf);
	free(m->segs);
	memset(m, 0, sizeof(*m));
}

static int man_parse(struct manifest *m)
{
	const uint8_t *b = m->buf;
	if (m->len < MAN_HDR + 4 || memcmp(b, "VTLMAN01", 8) != 0 ||
	    get_le32(b + m->len - 4) != crc32c(b, m->len - 4))
		return -EBADMSG;
	m->gen = get_le64(b + 16);
	m->media = get_le32(b + 32);
	m->nseg = get_le32(b + 36);
	m->capacity = get_le64(b + 40);
	if (m->nseg == 0 || m->nseg > (m->len - MAN_HDR - 4) / MAN_SEG)
		return -EBADMSG;
	m->segs = calloc(m->nseg, sizeof(*m->segs));
	if (!m->segs)
		return -ENOMEM;
	for (size_t i = 0; i < m->nseg; i++) {
		m->segs[i].id = get_le64(b + MAN_HDR + i * MAN_SEG);
		m->segs[i].valid = get_le64(b + MAN_HDR + i * MAN_SEG + 24);
	}
	return 0;
}

static int man_read(const char *dir, struct manifest *m)
{
	char path[PATH_MAX + 16];
	memset(m, 0, sizeof(*m));
	snprintf(path, sizeof(path), "%s/MANIFEST", dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat sb;
	int rc = 0;
	if (fstat(fd, &sb) || sb.st_size < 0 || sb.st_size > (1 << 26)) {
		rc = -EBADMSG;
		goto out;
	}
	m->len = (size_t)sb.st_size;
	m->buf = malloc(m->len ? m->len : 1);
	if (!m->buf) {
		rc = -ENOMEM;
		goto out;
	}
	if (pread(fd, m->buf, m->len, 0) != (ssize_t)m->len) {
		rc = -EIO;
		goto out;
	}
	rc = man_parse(m);
out:
	close(fd);
	if (rc)
		man_free(m);
	return rc;
}

/* Check every record of a segment's valid prefix: header CRC, payload CRC
 * (docs/medium-format.md, "Record"). A segment read from the store alone
 * is verified this way before it is trusted. */
static int verify_records(const uint8_t *p, uint64_t len)
{
	uint64_t off = 0;
	while (off < len) {
		if (len - off < 32 || get_le32(p + off) != 0x5254564cu ||
		    get_le32(p + off + 28) != crc32c(p + off, 28))
			return -EBADMSG;
		uint32_t stored = get_le32(p + off + 20);
		if (len - off - 32 < stored)
			return -EBADMSG;
		if (stored && get_le32(p + off + 24) != crc32c(p + off + 32, stored))
			return -EBADMSG;
		off += 32u + stored;
	}
	return 0;
}

/* ---- Uploading one tape ------------------------------------------------- */

static uint64_t adapt_part_size(uint64_t want)
{
	/* A segment is at most TAPE_SEGMENT_SIZE plus one record; S3 allows
	 * 10,000 parts (Amazon S3 User Guide, "Multipart upload limits"). */
	uint64_t max_seg = TAPE_SEGMENT_SIZE + TAPE_MAX_BLOCK + 32;
	uint64_t need = (max_seg + STORE_PARTS_MAX - 1) / STORE_PARTS_MAX;
	if (want < STORE_PART_MIN)
		want = STORE_PART_MIN;
	if (want < need)
		want = (need + MIB - 1) / MIB * MIB;
	return want;
}

static int cat_call_segs(struct upl *u, const char *bc, struct cat_upl_seg **s, size_t *n)
{
	pthread_mutex_lock(&u->cat_mu);
	int rc = cat_upl_segs(u->cat, bc, s, n);
	pthread_mutex_unlock(&u->cat_mu);
	return rc;
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
	snprintf(path, sizeof(path), "%s/seg-%016" PRIx64 ".dat", dir, seg);
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

static int put_part(struct upl *u, const char *bc, const char *dir, struct cat_upl_seg *s,
		    int number, uint64_t off, uint64_t len, uint8_t *buf)
{
	char key[STORE_KEY_MAX];
	struct store_err se;
	key_seg(&u->cfg, bc, s->seg, key);
	int rc = read_range(dir, s->seg, off, buf, len);
	if (rc)
		return rc;
	if (u->part_delay_ms) {
		struct timespec ts = {u->part_delay_ms / 1000,
				      (long)(u->part_delay_ms % 1000) * 1000000};
		nanosleep(&ts, NULL);
	}
	struct cat_upl_part p = {.number = number, .size = len};
	rc = store_mpu_put_part(u->st, key, s->upload_id, number, buf, len, p.etag, &se);
	if (rc) {
		logf_(u, 0, "upload of part %d of %s failed: %s", number, key, se.msg);
		return rc;
	}
	/* Only now, acknowledged with its ETag, is the part recorded. */
	pthread_mutex_lock(&u->cat_mu);
	rc = cat_upl_part_add(u->cat, bc, s->seg, &p);
	pthread_mutex_unlock(&u->cat_mu);
	if (!rc) {
		count(u, len, 1, 0, 0, 0);
		vcache_sent(u->cache, len);
	}
	return rc;
}

struct listed_parts {
	struct store_part *v;
	size_t n, cap;
};

static int listed_cb(void *arg, const struct store_part *p)
{
	struct listed_parts *l = arg;
	if (l->n == l->cap) {
		size_t nc = l->cap ? 2 * l->cap : 16;
		void *v = realloc(l->v, nc * sizeof(*l->v));
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = nc;
	}
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
	copy_str(u->reconciled[u->n_reconciled++], STORE_UPLOAD_ID_MAX, upload_id);
	return false;
}

/*
 * Full parts number, number+1, ... that the store lists for the upload
 * and whose ETag is the MD5 of our bytes at their offset: record them in
 * the catalog as if just sent. Returns how many were adopted.
 */
static int adopt_parts(struct upl *u, const char *bc, const char *dir, struct cat_upl_seg *s,
		       const char *key, int number, uint64_t off, uint64_t valid, uint8_t *buf)
{
	const uint64_t P = s->part_size;
	struct listed_parts l = {0};
	struct store_err se;
	memset(&se, 0, sizeof(se));
	int rc = store_mpu_list_parts(u->st, key, s->upload_id, listed_cb, &l, &se);
	if (rc) {
		free(l.v);
		/* The upload is gone or unlistable: the normal path finds out. */
		return 0;
	}
	int adopted = 0;
	for (size_t i = 0; i < l.n && off + P <= valid; i++) {
		if (l.v[i].number < number)
			continue;
		if (l.v[i].number != number || l.v[i].size != P)
			break;
		char md5[33];
		rc = read_range(dir, s->seg, off, buf, P);
		if (rc)
			break;
		store_md5_hex(buf, P, md5);
		if (strcmp(md5, l.v[i].etag) != 0)
			break;
		struct cat_upl_part p = {.number = number, .size = P};
		copy_str(p.etag, sizeof(p.etag), l.v[i].etag);
		pthread_mutex_lock(&u->cat_mu);
		rc = cat_upl_part_add(u->cat, bc, s->seg, &p);
		pthread_mutex_unlock(&u->cat_mu);
		if (rc)
			break;
		logf_(u, 2, "part %d of %s was in the store already; adopted, not sent again",
		      number, key);
		pthread_mutex_lock(&u->mu);
		u->stats.parts_adopted++;
		pthread_mutex_unlock(&u->mu);
		vcache_sent(u->cache, P);
		adopted++;
		number++;
		off += P;
	}
	free(l.v);
	return adopted; /* anything not adopted is sent as usual */
}

/* Bring one segment's object up to `valid` bytes as far as allowed:
 * full parts always, the rest and the completion when `complete`. */
static int sync_seg(struct upl *u, const char *bc, const char *dir, struct cat_upl_seg *s,
		    uint64_t valid, bool complete, uint8_t *buf)
{
	char key[STORE_KEY_MAX];
	struct store_err se;
	int rc;
	key_seg(&u->cfg, bc, s->seg, key);
	const uint64_t P = s->part_size;
	bool changed = s->valid != valid;
	s->valid = valid;

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
			if (rc) {
				logf_(u, 0, "put of %s failed: %s", key, se.msg);
				return rc;
			}
			s->object_size = 0;
			count(u, 0, 0, 0, 1, 0);
			return cat_call_put(u, bc, s);
		}
		uint64_t have = s->object_etag[0] ? s->object_size / P : 0; /* copyable parts */
		if (!complete && valid / P <= have)
			return changed ? cat_call_put(u, bc, s) : 0;
		rc = store_mpu_create(u->st, key, NULL, s->upload_id, &se);
		if (rc) {
			logf_(u, 0, "cannot start the upload of %s: %s", key, se.msg);
			return rc;
		}
		reconciled(u, s->upload_id); /* new: nothing in the store to adopt */
		rc = cat_call_put(u, bc, s);
		if (rc)
			return rc;
		/* Grown after completion: copy the old object's full parts. */
		for (uint64_t n = 1; n <= have; n++) {
			struct cat_upl_part p = {.number = (int)n, .size = P};
			rc = store_mpu_copy_part(u->st, key, s->upload_id, (int)n, key, (n - 1) * P,
						 P, p.etag, &se);
			if (rc) {
				logf_(u, 0, "copy of part %" PRIu64 " of %s failed: %s", n, key,
				      se.msg);
				return rc;
			}
			pthread_mutex_lock(&u->cat_mu);
			rc = cat_upl_part_add(u->cat, bc, s->seg, &p);
			pthread_mutex_unlock(&u->cat_mu);
			if (rc)
				return rc;
			count(u, 0, 0, 1, 0, 0);
		}
	} else if (changed) {
		rc = cat_call_put(u, bc, s);
		if (rc)
			return rc;
	}

	struct cat_upl_part *parts;
	size_t np;
	pthread_mutex_lock(&u->cat_mu);
	rc = cat_upl_parts(u->cat, bc, s->seg, &parts, &np);
	pthread_mutex_unlock(&u->cat_mu);
	if (rc)
		return rc;
	/* Full parts recorded, in order; a short last part (a completion
	 * interrupted after it was sent) is sent again if more data came. */
	size_t full = 0;
	while (full < np && parts[full].number == (int)full + 1 && parts[full].size == P)
		full++;
	uint64_t off = full * P;
	bool short_tail = np == full + 1 && parts[full].number == (int)full + 1;
	uint64_t tail_end = short_tail ? off + parts[full].size : off;
	free(parts);
	if (np > full + (short_tail ? 1 : 0)) {
		logf_(u, 0, "upload of %s has parts out of order in the catalog; starting it again",
		      key);
		s->upload_id[0] = 0;
		return cat_call_put(u, bc, s);
	}
	int number = (int)full + 1;
	if (!short_tail && off + P <= valid && !reconciled(u, s->upload_id)) {
		/* First look at this upload since start: parts the store
		 * accepted but the catalog never recorded (kill -9 between the
		 * two) are adopted, not sent again. */
		int adopted = adopt_parts(u, bc, dir, s, key, number, off, valid, buf);
		if (adopted < 0)
			return adopted;
		off += (uint64_t)adopted * P;
		number += adopted;
	}
	while (off + P <= valid) {
		if (stopping(u))
			return -EINTR;
		if (number > STORE_PARTS_MAX)
			return -EFBIG;
		activity(u, "uploading %s part %d", key, number);
		rc = put_part(u, bc, dir, s, number, off, P, buf);
		if (rc)
			return rc;
		off += P;
		number++;
		short_tail = false;
	}
	if (!complete)
		return 0;
	if (off < valid && !(short_tail && tail_end >= valid)) {
		activity(u, "uploading %s last part %d", key, number);
		rc = put_part(u, bc, dir, s, number, off, valid - off, buf);
		if (rc)
			return rc;
	}
	/* Complete, then verify: the ETag S3 computes from the part ETags
	 * (each the MD5 the store checked with Content-MD5) and the size. */
	pthread_mutex_lock(&u->cat_mu);
	rc = cat_upl_parts(u->cat, bc, s->seg, &parts, &np);
	pthread_mutex_unlock(&u->cat_mu);
	if (rc)
		return rc;
	struct store_part *sp = calloc(np ? np : 1, sizeof(*sp));
	uint64_t total = 0;
	if (!sp) {
		free(parts);
		return -ENOMEM;
	}
	for (size_t i = 0; i < np; i++) {
		sp[i].number = parts[i].number;
		sp[i].size = parts[i].size;
		snprintf(sp[i].etag, sizeof(sp[i].etag), "%s", parts[i].etag);
		total += parts[i].size;
	}
	free(parts);
	char etag[STORE_ETAG_MAX] = "", want[STORE_ETAG_MAX] = "";
	activity(u, "completing %s (%zu parts)", key, np);
	rc = store_mpu_complete(u->st, key, s->upload_id, sp, np, etag, &se);
	if (!rc)
		rc = store_multipart_etag(sp, np, want);
	free(sp);
	if (rc == -ENOENT) {
		/* The store lost the upload (aborted elsewhere): start again. */
		logf_(u, 1, "upload of %s is gone from the store; sending it again", key);
		s->upload_id[0] = 0;
		s->object_size = 0;
		s->object_etag[0] = 0;
		return cat_call_put(u, bc, s);
	}
	if (rc) {
		logf_(u, 0, "cannot complete %s: %s", key, se.msg);
		return rc;
	}
	struct store_object_info info;
	rc = store_head(u->st, key, &info, &se);
	if (rc || info.size != total || (etag[0] && strcmp(etag, want) != 0) ||
	    strcmp(info.etag, want) != 0) {
		logf_(u, 0,
		      "%s does not verify after completion (size %" PRIu64 ", want %" PRIu64
		      "; ETag %s, want %s)",
		      key, rc ? 0 : info.size, total, rc ? "?" : info.etag, want);
		return rc ? rc : -EBADMSG;
	}
	s->upload_id[0] = 0;
	s->object_size = total;
	snprintf(s->object_etag, sizeof(s->object_etag), "%s", want);
	count(u, 0, 0, 0, 1, 0);
	return cat_call_put(u, bc, s);
}

static struct idle_rec *idle_for(struct upl *u, const char *bc)
{
	for (size_t i = 0; i < u->n_idle; i++)
		if (strcmp(u->idle[i].barcode, bc) == 0)
			return &u->idle[i];
	struct idle_rec *v = realloc(u->idle, (u->n_idle + 1) * sizeof(*v));
	if (!v)
		return NULL;
	u->idle = v;
	struct idle_rec *r = &v[u->n_idle++];
	memset(r, 0, sizeof(*r));
	snprintf(r->barcode, sizeof(r->barcode), "%s", bc);
	return r;
}

static int put_text(struct upl *u, const char *key, const char *text)
{
	struct store_err se;
	int rc = store_put(u->st, key, text, strlen(text), NULL, NULL, &se);
	if (rc)
		logf_(u, 0, "put of %s failed: %s", key, se.msg);
	return rc;
}

/* What the store records of a tape's state for disaster recovery. */
static const char *store_state_of(enum cat_state s)
{
	return s == CAT_ARCHIVING || s == CAT_ARCHIVED || s == CAT_RETRIEVING ? "ARCHIVED"
									      : "AVAILABLE";
}

static int put_state(struct upl *u, const struct cat_tape *t, const char *state, uint64_t gen)
{
	char key[STORE_KEY_MAX], text[256];
	key_tape(&u->cfg, t->barcode, "state", key);
	snprintf(text, sizeof(text), "state=%s\nmedia=%s\ncapacity=%" PRIu64 "\n", state, t->media,
		 t->capacity);
	int rc = put_text(u, key, text);
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
	if (d->n == d->cap) {
		size_t nc = d->cap ? 2 * d->cap : 16;
		void *nk = realloc(d->keys, nc * sizeof(*d->keys));
		if (!nk)
			return -ENOMEM;
		d->keys = nk;
		d->cap = nc;
	}
	snprintf(d->keys[d->n++], STORE_KEY_MAX, "%s", e->key);
	return 0;
}

/* Delete every object under prefix but `keep`. */
static int delete_under(struct upl *u, const char *prefix, const char *keep)
{
	struct del_ctx d = {.u = u, .keep = keep};
	struct store_list_opts lo = {.prefix = prefix};
	struct store_err se;
	int rc = store_list(u->st, &lo, collect_key, &d, &se);
	for (size_t i = 0; !rc && i < d.n; i++)
		rc = store_delete(u->st, d.keys[i], &se);
	if (rc)
		logf_(u, 0, "cleaning up %s failed: %s", prefix,
		      se.msg[0] ? se.msg : strerror(-rc));
	free(d.keys);
	return rc;
}

/*
 * One round for one tape in the library. *up_to_date: every segment is a
 * complete object and the newest manifest is in the store.
 */
static int sync_tape(struct upl *u, const struct cat_tape *t, bool *up_to_date)
{
	char dir[PATH_MAX];
	struct manifest m;
	*up_to_date = false;
	lib_tape_dir(u->lib, t->barcode, dir, sizeof(dir));
	int rc = man_read(dir, &m);
	if (rc)
		return rc;
	struct idle_rec *ir = idle_for(u, t->barcode);
	time_t now = time(NULL);
	if (ir && ir->gen != m.gen) {
		ir->gen = m.gen;
		ir->since = now;
	}
	bool idle = ir && now - ir->since >= (time_t)u->cfg.idle_secs;
	bool loaded = t->in_library && t->kind == CAT_DRIVE;

	struct cat_upl_seg *rows = NULL;
	size_t nrows = 0;
	uint64_t man_gen = 0;
	char sstate[32] = "";
	uint8_t *buf = NULL;
	rc = cat_call_segs(u, t->barcode, &rows, &nrows);
	if (!rc) {
		pthread_mutex_lock(&u->cat_mu);
		rc = cat_upl_tape_get(u->cat, t->barcode, &man_gen, sstate, sizeof(sstate));
		pthread_mutex_unlock(&u->cat_mu);
	}
	if (rc)
		goto out;
	bool all = true;
	for (size_t i = 0; i < m.nseg && !rc; i++) {
		struct cat_upl_seg s, *row = NULL;
		for (size_t j = 0; j < nrows; j++)
			if (rows[j].seg == m.segs[i].id)
				row = &rows[j];
		if (row) {
			s = *row;
		} else {
			memset(&s, 0, sizeof(s));
			s.seg = m.segs[i].id;
			s.part_size = adapt_part_size(u->cfg.part_size);
		}
		if (!buf && !(buf = malloc(s.part_size))) {
			rc = -ENOMEM;
			break;
		}
		bool complete = i + 1 < m.nseg || !loaded || idle;
		rc = sync_seg(u, t->barcode, dir, &s, m.segs[i].valid, complete, buf);
		if (!rc && (s.upload_id[0] || !s.object_etag[0] || s.object_size < m.segs[i].valid))
			all = false;
		free(buf);
		buf = NULL;
	}
	if (rc || !all)
		goto out;
	if (m.gen != man_gen || !sstate[0]) {
		char key[STORE_KEY_MAX];
		struct store_err se;
		key_manifest(&u->cfg, t->barcode, m.gen, key);
		/* Every segment it names is complete: the manifest may go up. */
		rc = store_put(u->st, key, m.buf, m.len, NULL, NULL, &se);
		if (rc) {
			logf_(u, 0, "put of %s failed: %s", key, se.msg);
			goto out;
		}
		count(u, 0, 0, 0, 0, 1);
		rc = put_state(u, t, store_state_of(t->state), m.gen);
		if (rc)
			goto out;
		/* Now that the manifest which drops them is up: delete the
		 * segments it no longer names, and the older manifests. */
		for (size_t j = 0; j < nrows && !rc; j++) {
			bool named = false;
			for (size_t i = 0; i < m.nseg; i++)
				named |= m.segs[i].id == rows[j].seg;
			if (named)
				continue;
			char sk[STORE_KEY_MAX];
			key_seg(&u->cfg, t->barcode, rows[j].seg, sk);
			if (rows[j].upload_id[0])
				store_mpu_abort(u->st, sk, rows[j].upload_id, &se);
			rc = store_delete(u->st, sk, &se);
			if (!rc) {
				pthread_mutex_lock(&u->cat_mu);
				rc = cat_upl_seg_delete(u->cat, t->barcode, rows[j].seg);
				pthread_mutex_unlock(&u->cat_mu);
			}
		}
		char pfx[STORE_KEY_MAX];
		key_tape(&u->cfg, t->barcode, "manifest/", pfx);
		if (!rc)
			rc = delete_under(u, pfx, key);
	}
	if (!rc)
		*up_to_date = true;
out:
	free(buf);
	free(rows);
	man_free(&m);
	return rc;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path) ? -errno : 0;
}

static int rm_rf(const char *path)
{
	struct stat st;
	if (lstat(path, &st))
		return errno == ENOENT ? 0 : -errno;
	return nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Every object of the tape is in the store with the size and ETag the
 * catalog recorded when its upload completed (ARCHITECTURE.md: "archived
 * only after every byte is in the object store and verified"). */
static int verify_tape(struct upl *u, const struct cat_tape *t, uint64_t *bytes)
{
	struct cat_upl_seg *rows;
	size_t n;
	*bytes = 0;
	int rc = cat_call_segs(u, t->barcode, &rows, &n);
	for (size_t i = 0; !rc && i < n; i++) {
		char key[STORE_KEY_MAX];
		struct store_object_info info;
		struct store_err se;
		key_seg(&u->cfg, t->barcode, rows[i].seg, key);
		rc = store_head(u->st, key, &info, &se);
		if (!rc && (info.size != rows[i].object_size ||
			    strcmp(info.etag, rows[i].object_etag) != 0 || rows[i].upload_id[0] ||
			    rows[i].object_size < rows[i].valid)) {
			logf_(u, 0,
			      "%s does not verify: size %" PRIu64 " ETag %s, catalog %" PRIu64
			      " %s",
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

/* ARCHIVING -> ARCHIVED: archive class, state object, local copy gone. */
static int finish_archive(struct upl *u, const struct cat_tape *t)
{
	struct cat_upl_seg *rows;
	size_t n;
	uint64_t gen = 0;
	int rc = cat_call_segs(u, t->barcode, &rows, &n);
	if (rc)
		return rc;
	pthread_mutex_lock(&u->cat_mu);
	rc = cat_upl_tape_get(u->cat, t->barcode, &gen, NULL, 0);
	pthread_mutex_unlock(&u->cat_mu);
	const char *cls = u->cfg.archive_class;
	for (size_t i = 0; !rc && cls[0] && i <= n; i++) {
		char key[STORE_KEY_MAX];
		struct store_object_info info;
		struct store_err se;
		if (i < n)
			key_seg(&u->cfg, t->barcode, rows[i].seg, key);
		else
			key_manifest(&u->cfg, t->barcode, gen, key);
		rc = store_head(u->st, key, &info, &se);
		if (!rc && strcmp(info.storage_class, cls) != 0) {
			activity(u, "moving %s to %s", key, cls);
			rc = store_copy(u->st, key, key, cls, NULL, &se);
		}
		if (rc)
			logf_(u, 0, "cannot move %s to storage class %s: %s", key, cls, se.msg);
	}
	free(rows);
	if (!rc)
		rc = put_state(u, t, "ARCHIVED", gen);
	char dir[PATH_MAX];
	lib_tape_dir(u->lib, t->barcode, dir, sizeof(dir));
	if (!rc)
		rc = rm_rf(dir);
	if (!rc) {
		char cause[128];
		snprintf(cause, sizeof(cause),
			 "on the shelf in the object store (%s); local copy dropped",
			 cls[0] ? cls : "STANDARD");
		rc = lib_shelf_step(u->lib, t->barcode, CAT_ARCHIVING, CAT_ARCHIVED, cause);
	}
	if (!rc)
		logf_(u, 2, "tape %s ARCHIVED", t->barcode);
	return rc;
}

/* ---- Downloading --------------------------------------------------------- */

struct last_key {
	char key[STORE_KEY_MAX];
};

static int last_cb(void *arg, const struct store_list_entry *e)
{
	struct last_key *l = arg;
	if (!e->is_prefix)
		snprintf(l->key, sizeof(l->key), "%s", e->key);
	return 0;
}

static int get_all(struct store *st, const char *key, uint8_t **out, size_t *len,
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
 * RestoreObject for each of its objects whose HeadObject shows no restore
 * (x-amz-restore absent), nothing for one whose restore runs or is done.
 * All are asked at once, so that their restores run in parallel. The caller
 * retries the download next round, which polls the restores.
 */
#define RESTORE_DAYS 7
#define RESTORE_TIER "Standard"

struct restores {
	struct store *st;
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
	r->rc = store_restore(r->st, key, RESTORE_DAYS, RESTORE_TIER, &r->se);
	if (r->rc == -EINPROGRESS) {
		r->rc = 0;
		r->running++;
	} else if (!r->rc) {
		r->asked++;
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
static int request_restores(struct store *st, const struct upl_config *c, const char *bc,
			    const char *manifest_key, const struct manifest *m, size_t from,
			    char *err, size_t errlen)
{
	struct restores r;
	memset(&r, 0, sizeof(r));
	r.st = st;
	if (manifest_key) {
		char pfx[STORE_KEY_MAX];
		restore_one(&r, manifest_key);
		key_tape(c, bc, "seg/", pfx);
		struct store_list_opts lo = {.prefix = pfx};
		if (!r.rc)
			r.rc = store_list(st, &lo, restore_cb, &r, &r.se);
	}
	for (size_t i = from; m && i < m->nseg && !r.rc; i++) {
		char key[STORE_KEY_MAX];
		key_seg(c, bc, m->segs[i].id, key);
		restore_one(&r, key);
	}
	if (r.rc)
		snprintf(err, errlen, "restore of archived tape %s from the store failed: %s", bc,
			 r.se.msg[0] ? r.se.msg : strerror(-r.rc));
	else
		snprintf(err, errlen,
			 "tape %s is archived: restore requested for %zu objects, %zu restores "
			 "running (%s tier, %d days); waiting until readable",
			 bc, r.asked, r.running, RESTORE_TIER, RESTORE_DAYS);
	return r.rc ? r.rc : -EAGAIN;
}

/*
 * Download the newest manifest of a tape and the valid bytes of every
 * segment it names into dir (created; replaced if present), checking the
 * CRC32C of every record. *m receives the manifest.
 */
static int download_tape(struct store *st, const struct upl_config *c, const char *bc,
			 const char *dir, struct manifest *m, char *err, size_t errlen)
{
	char pfx[STORE_KEY_MAX], tmp[PATH_MAX + 16];
	struct store_err se;
	memset(&se, 0, sizeof(se));
	memset(m, 0, sizeof(*m));
	struct last_key lk = {""};
	key_tape(c, bc, "manifest/", pfx);
	struct store_list_opts lo = {.prefix = pfx};
	int rc = store_list(st, &lo, last_cb, &lk, &se);
	if (!rc && !lk.key[0])
		rc = -ENOENT;
	if (!rc)
		rc = get_all(st, lk.key, &m->buf, &m->len, &se);
	if (rc == -EAGAIN) {
		rc = request_restores(st, c, bc, lk.key, NULL, 0, err, errlen);
		man_free(m);
		return rc;
	}
	if (!rc)
		rc = man_parse(m);
	if (rc) {
		snprintf(err, errlen, "no readable manifest of tape %s in the store (%s): %s", bc,
			 pfx, se.msg[0] ? se.msg : strerror(-rc));
		man_free(m);
		return rc;
	}
	snprintf(tmp, sizeof(tmp), "%s.download", dir);
	rm_rf(tmp);
	if (mkdir(tmp, 0700)) {
		rc = -errno;
		snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
		man_free(m);
		return rc;
	}
	uint8_t *buf = NULL;
	for (size_t i = 0; !rc && i < m->nseg; i++) {
		char key[STORE_KEY_MAX], path[PATH_MAX + 64];
		uint64_t valid = m->segs[i].valid;
		key_seg(c, bc, m->segs[i].id, key);
		if (valid > (2ull << 30)) {
			rc = -EFBIG;
			break;
		}
		buf = malloc(valid ? valid : 1);
		if (!buf) {
			rc = -ENOMEM;
			break;
		}
		/* Ranged GETs (the object may be longer than its valid bytes:
		 * a segment cut by an overwrite keeps its object). */
		for (uint64_t off = 0; !rc && off < valid;) {
			size_t want = valid - off < GET_CHUNK ? (size_t)(valid - off) : GET_CHUNK;
			size_t got = 0;
			rc = store_get(st, key, off, want, buf + off, &got, NULL, &se);
			if (!rc && got != want)
				rc = -EIO;
			off += want;
		}
		if (rc == -EAGAIN)
			rc = request_restores(st, c, bc, NULL, m, i, err, errlen);
		else if (rc)
			snprintf(err, errlen, "download of %s failed: %s", key,
				 se.msg[0] ? se.msg : strerror(-rc));
		if (!rc && (rc = verify_records(buf, valid)) != 0)
			snprintf(err, errlen, "%s fails its record checksums (CRC32C)", key);
		snprintf(path, sizeof(path), "%s/seg-%016" PRIx64 ".dat", tmp, m->segs[i].id);
		if (!rc && (rc = write_file(path, buf, valid)) != 0)
			snprintf(err, errlen, "cannot write %s: %s", path, strerror(-rc));
		free(buf);
		buf = NULL;
	}
	if (!rc) {
		char path[PATH_MAX + 32];
		snprintf(path, sizeof(path), "%s/MANIFEST", tmp);
		rc = write_file(path, m->buf, m->len);
	}
	if (!rc) {
		rm_rf(dir);
		if (rename(tmp, dir))
			rc = -errno;
	}
	if (rc) {
		if (!err[0])
			snprintf(err, errlen, "cannot restore tape %s into %s: %s", bc, dir,
				 strerror(-rc));
		rm_rf(tmp);
		man_free(m);
	}
	return rc;
}

static int retrieve_tape(struct upl *u, const struct cat_tape *t)
{
	char dir[PATH_MAX], err[512] = "";
	struct manifest m;
	lib_tape_dir(u->lib, t->barcode, dir, sizeof(dir));
	activity(u, "retrieving tape %s", t->barcode);
	int rc = download_tape(u->st, &u->cfg, t->barcode, dir, &m, err, sizeof(err));
	if (rc == -EAGAIN) {
		/* Waiting for archive restores: said once, shown as the activity. */
		activity(u, "%s", err);
		if (strcmp(u->restore_note, err))
			logf_(u, 1, "retrieval of tape %s: %s", t->barcode, err);
		copy_str(u->restore_note, sizeof(u->restore_note), err);
		return rc;
	}
	if (rc) {
		logf_(u, 0, "retrieval of tape %s: %s", t->barcode, err);
		return rc;
	}
	man_free(&m);
	/* Read-only (AWS Tape Gateway): the cartridge's write-protect tab. */
	struct tape *tp;
	rc = tape_open(dir, &tp);
	if (!rc) {
		rc = tape_set_write_protect(tp, true);
		int crc = tape_close(tp);
		if (!rc)
			rc = crc;
	}
	if (!rc)
		rc = lib_shelf_step(u->lib, t->barcode, CAT_RETRIEVING, CAT_RETRIEVED,
				    "retrieved from the object store into import/export element "
				    "(read-only)");
	if (rc == -ENOSPC)
		logf_(u, 1, "tape %s is downloaded but no import/export element is free; waiting",
		      t->barcode);
	else if (rc)
		logf_(u, 0, "retrieval of tape %s failed: %s", t->barcode, strerror(-rc));
	else
		logf_(u, 2, "tape %s RETRIEVED", t->barcode);
	return rc;
}

/* ---- The thread ----------------------------------------------------------- */

struct known_ids {
	char (*ids)[STORE_UPLOAD_ID_MAX];
	size_t n, cap;
};

static int known_cb(void *arg, const char *bc, uint64_t seg, const char *id)
{
	(void)bc;
	(void)seg;
	struct known_ids *k = arg;
	if (k->n == k->cap) {
		size_t nc = k->cap ? 2 * k->cap : 16;
		void *v = realloc(k->ids, nc * sizeof(*k->ids));
		if (!v)
			return -ENOMEM;
		k->ids = v;
		k->cap = nc;
	}
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

/* Abort the multipart uploads under our prefix the catalog does not know
 * (a crash between CreateMultipartUpload and the catalog commit). */
static int sweep_orphans(struct upl *u)
{
	struct known_ids k = {0};
	pthread_mutex_lock(&u->cat_mu);
	int rc = cat_upl_upload_ids(u->cat, known_cb, &k);
	pthread_mutex_unlock(&u->cat_mu);
	struct orphan_ctx o = {.u = u, .known = &k};
	char pfx[STORE_KEY_MAX];
	struct store_err se;
	memset(&se, 0, sizeof(se));
	snprintf(pfx, sizeof(pfx), "%stapes/", u->cfg.prefix);
	if (!rc)
		rc = store_mpu_list(u->st, pfx, orphan_cb, &o, &se);
	for (size_t i = 0; !rc && i < o.n; i++) {
		rc = store_mpu_abort(u->st, o.keys[i], o.ids[i], &se);
		if (!rc)
			logf_(u, 2, "aborted multipart upload of %s unknown to the catalog",
			      o.keys[i]);
		else if (rc == -ENOENT)
			rc = 0;
	}
	if (rc)
		logf_(u, 0, "sweep of orphaned uploads failed: %s",
		      se.msg[0] ? se.msg : strerror(-rc));
	free(k.ids);
	free(o.keys);
	free(o.ids);
	return rc;
}

static void forget_deleted(struct upl *u, const struct cat_tape *t)
{
	uint64_t gen;
	struct cat_upl_seg *rows;
	size_t n;
	pthread_mutex_lock(&u->cat_mu);
	int rc = cat_upl_tape_get(u->cat, t->barcode, &gen, NULL, 0);
	pthread_mutex_unlock(&u->cat_mu);
	if (rc || cat_call_segs(u, t->barcode, &rows, &n))
		return;
	bool known = gen || n;
	for (size_t i = 0; i < n; i++) {
		char key[STORE_KEY_MAX];
		struct store_err se;
		key_seg(&u->cfg, t->barcode, rows[i].seg, key);
		if (rows[i].upload_id[0])
			store_mpu_abort(u->st, key, rows[i].upload_id, &se);
	}
	free(rows);
	if (!known)
		return;
	char pfx[STORE_KEY_MAX];
	key_tape(&u->cfg, t->barcode, "", pfx);
	if (delete_under(u, pfx, NULL) == 0) {
		pthread_mutex_lock(&u->cat_mu);
		cat_upl_tape_forget(u->cat, t->barcode);
		pthread_mutex_unlock(&u->cat_mu);
		logf_(u, 2, "deleted tape %s's objects from the store", t->barcode);
	}
}

/* ---- The cache ------------------------------------------------------------ */

static bool has_local_copy(enum cat_state s)
{
	return s == CAT_AVAILABLE || s == CAT_RETRIEVED || s == CAT_IN_TRANSIT_TO_SHELF;
}

/*
 * Measure the local cache (segment files of the tapes that have a local
 * copy), list the segments that may be evicted (sealed, complete and
 * verified in the store, with their index sidecar so that loading and
 * positioning need no download) and let the cache evict and reset its
 * write gate (vtl/cache.h).
 */
static void cache_pass(struct upl *u, const struct cat_tape *tapes, size_t n)
{
	struct vcache_seg *cand = NULL;
	size_t nc = 0, cap = 0;
	uint64_t used = 0, pending = 0, evicted;
	for (size_t k = 0; k < n; k++) {
		const struct cat_tape *t = &tapes[k];
		char dir[PATH_MAX];
		struct manifest m;
		struct cat_upl_seg *rows = NULL;
		size_t nrows = 0;
		if (!has_local_copy(t->state))
			continue;
		lib_tape_dir(u->lib, t->barcode, dir, sizeof(dir));
		if (man_read(dir, &m))
			continue;
		if (cat_call_segs(u, t->barcode, &rows, &nrows)) {
			man_free(&m);
			continue;
		}
		for (size_t i = 0; i < m.nseg; i++) {
			char path[PATH_MAX + 64];
			struct stat sb, ib;
			const struct cat_upl_seg *row = NULL;
			for (size_t j = 0; j < nrows; j++)
				if (rows[j].seg == m.segs[i].id)
					row = &rows[j];
			snprintf(path, sizeof(path), "%s/seg-%016" PRIx64 ".part", dir,
				 m.segs[i].id);
			if (stat(path, &sb) == 0)
				used += (uint64_t)sb.st_size;
			snprintf(path, sizeof(path), "%s/seg-%016" PRIx64 ".dat", dir,
				 m.segs[i].id);
			if (stat(path, &sb))
				continue; /* evicted */
			uint64_t size = (uint64_t)sb.st_size, stored = 0;
			bool safe = false;
			if (row && !row->upload_id[0] && row->object_etag[0]) {
				stored = row->object_size;
				safe = row->object_size >= m.segs[i].valid;
			} else if (row) {
				stored = row->parts_bytes;
			}
			used += size;
			pending += size > stored ? size - stored : 0;
			snprintf(path, sizeof(path), "%s/seg-%016" PRIx64 ".idx", dir,
				 m.segs[i].id);
			if (!safe || i + 1 >= m.nseg || stat(path, &ib))
				continue;
			if (nc == cap) {
				size_t ncap = cap ? 2 * cap : 16;
				void *v = realloc(cand, ncap * sizeof(*cand));
				if (!v)
					continue;
				cand = v;
				cap = ncap;
			}
			struct vcache_seg *c = &cand[nc++];
			copy_str(c->dir, sizeof(c->dir), dir);
			copy_str(c->barcode, sizeof(c->barcode), t->barcode);
			c->seg = m.segs[i].id;
			c->bytes = size;
			c->last_use = sb.st_atime > sb.st_mtime ? sb.st_atime : sb.st_mtime;
		}
		free(rows);
		man_free(&m);
	}
	vcache_update(u->cache, cand, nc, used, pending, &evicted);
	if (evicted)
		logf_(u, 2, "cache: evicted %" PRIu64 " bytes of segments that are in the store",
		      evicted);
	free(cand);
}

/* Partial downloads of evicted segments left by a crash. */
static void sweep_partial_fetches(struct upl *u)
{
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/tapes", lib_data_dir(u->lib));
	DIR *d = opendir(path);
	struct dirent *de;
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		int dfd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			continue;
		DIR *t = fdopendir(dfd);
		if (!t) {
			close(dfd);
			continue;
		}
		struct dirent *e;
		while ((e = readdir(t))) {
			size_t l = strlen(e->d_name);
			if (l > 5 && strncmp(e->d_name, "seg-", 4) == 0 &&
			    strcmp(e->d_name + l - 5, ".part") == 0)
				unlinkat(dirfd(t), e->d_name, 0);
		}
		closedir(t);
	}
	closedir(d);
}

static void round_once(struct upl *u)
{
	struct cat_tape *tapes;
	size_t n;
	pthread_mutex_lock(&u->cat_mu);
	int rc = cat_tape_list(u->cat, -1, true, &tapes, &n);
	pthread_mutex_unlock(&u->cat_mu);
	if (rc) {
		logf_(u, 0, "cannot read the catalog: %s", strerror(-rc));
		return;
	}
	cache_pass(u, tapes, n);
	for (size_t i = 0; i < n && !stopping(u); i++) {
		struct cat_tape *t = &tapes[i];
		bool done = false;
		uint64_t bytes;
		switch (t->state) {
		case CAT_AVAILABLE:
		case CAT_RETRIEVED:
		case CAT_IN_TRANSIT_TO_SHELF:
			pthread_mutex_lock(&u->mu);
			unsigned nerr = u->nerrors;
			pthread_mutex_unlock(&u->mu);
			rc = sync_tape(u, t, &done);
			pthread_mutex_lock(&u->mu);
			bool said = u->nerrors != nerr; /* keep the store's own message */
			pthread_mutex_unlock(&u->mu);
			if (rc && rc != -EAGAIN && rc != -EINTR && rc != -ENOENT && !said)
				logf_(u, 0, "upload of tape %s: %s", t->barcode, strerror(-rc));
			if (rc || !done || t->state != CAT_IN_TRANSIT_TO_SHELF)
				break;
			rc = verify_tape(u, t, &bytes);
			if (rc) {
				logf_(u, 0, "tape %s does not verify in the store: %s", t->barcode,
				      strerror(-rc));
				break;
			}
			char cause[128];
			snprintf(cause, sizeof(cause),
				 "uploaded and verified: %" PRIu64 " bytes in the object store",
				 bytes);
			if (lib_shelf_step(u->lib, t->barcode, CAT_IN_TRANSIT_TO_SHELF,
					   CAT_ARCHIVING, cause) == 0) {
				t->state = CAT_ARCHIVING;
				finish_archive(u, t);
			}
			break;
		case CAT_ARCHIVING:
			finish_archive(u, t);
			break;
		case CAT_RETRIEVING:
			retrieve_tape(u, t);
			break;
		case CAT_DELETED:
			forget_deleted(u, t);
			break;
		default:
			break;
		}
	}
	if (!stopping(u))
		cache_pass(u, tapes, n);
	free(tapes);
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
	sweep_orphans(u);
	while (!stopping(u)) {
		sample(u);
		round_once(u);
		activity(u, "idle");
		sample(u);
		pthread_mutex_lock(&u->mu);
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

int upl_start(struct lib *lib, struct store *st, const struct upl_config *c, upl_log_fn log,
	      struct upl **out, char *err, size_t errlen)
{
	struct upl *u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->lib = lib;
	u->st = st;
	u->cfg = *c;
	u->log = log;
	snprintf(u->stats.backend, sizeof(u->stats.backend), "%s", store_backend(st));
	snprintf(u->stats.activity, sizeof(u->stats.activity), "starting");
	const char *d = getenv("VTL_UPLOAD_PART_DELAY_MS");
	if (d)
		u->part_delay_ms = (unsigned)strtoul(d, NULL, 10);
	pthread_mutex_init(&u->mu, NULL);
	pthread_mutex_init(&u->cat_mu, NULL);
	pthread_cond_init(&u->cond, NULL);
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/catalog.db", lib_data_dir(lib));
	int rc = cat_open(path, &u->cat);
	if (rc) {
		snprintf(err, errlen, "uploader: cannot open the catalog %s: %s", path,
			 strerror(-rc));
		goto fail;
	}
	sweep_partial_fetches(u);
	struct vcache_config vc = {
	    .store = st,
	    .limit = c->cache_limit,
	    .log = log,
	    .kick = kick_cb,
	    .kick_arg = u,
	};
	copy_str(vc.prefix, sizeof(vc.prefix), c->prefix);
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
	rc = -pthread_create(&u->thread, NULL, thread_main, u);
	if (rc) {
		snprintf(err, errlen, "uploader: cannot start its thread: %s", strerror(-rc));
		goto fail;
	}
	u->running = true;
	lib_set_uploader(lib, u);
	*out = u;
	return 0;
fail:
	vcache_close(u->cache);
	cat_close(u->cat);
	pthread_cond_destroy(&u->cond);
	pthread_mutex_destroy(&u->mu);
	pthread_mutex_destroy(&u->cat_mu);
	free(u);
	return rc;
}

void upl_stop(struct upl *u)
{
	if (!u)
		return;
	lib_set_uploader(u->lib, NULL);
	pthread_mutex_lock(&u->mu);
	u->stop = true;
	pthread_cond_broadcast(&u->cond);
	pthread_mutex_unlock(&u->mu);
	if (u->running)
		pthread_join(u->thread, NULL);
	vcache_close(u->cache);
	cat_close(u->cat);
	store_close(u->st);
	pthread_cond_destroy(&u->cond);
	pthread_mutex_destroy(&u->mu);
	pthread_mutex_destroy(&u->cat_mu);
	free(u->idle);
	free(u->reconciled);
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
	s->cache_unsent = cs.pending;
	s->writes_waiting = cs.writes_waiting;
	s->evicted_segments = cs.evicted_segments;
	s->evicted_bytes = cs.evicted_bytes;
	s->fetched_segments = cs.fetched_segments;
	s->fetched_bytes = cs.fetched_bytes;
	s->fetching = cs.fetching;
	if (cs.writes_waiting)
		snprintf(s->write_wait, sizeof(s->write_wait),
			 "%u write%s (tape %s) waiting %lds: the cache holds %" PRIu64
			 " bytes not yet in the object store, cache_limit is %" PRIu64
			 "; they go on as uploads make room%s",
			 cs.writes_waiting, cs.writes_waiting == 1 ? "" : "s", cs.waiting_tape,
			 (long)(time(NULL) - cs.waiting_since), cs.pending, cs.limit,
			 s->last_error[0] ? " (the store reports an error: see last error)" : "");
	/* Backlog: what local manifests name and the store lacks. */
	struct cat_tape *tapes;
	size_t n;
	pthread_mutex_lock(&u->cat_mu);
	if (cat_tape_list(u->cat, -1, false, &tapes, &n) == 0) {
		for (size_t i = 0; i < n; i++) {
			struct cat_upl_totals t;
			if (cat_upl_totals(u->cat, tapes[i].barcode, &t) == 0) {
				s->backlog_bytes += t.valid - t.uploaded;
				s->pending_segments += t.pending;
			}
		}
		free(tapes);
	}
	pthread_mutex_unlock(&u->cat_mu);
}

int upl_tape_totals(struct upl *u, const char *barcode, struct cat_upl_totals *t)
{
	pthread_mutex_lock(&u->cat_mu);
	int rc = cat_upl_totals(u->cat, barcode, t);
	pthread_mutex_unlock(&u->cat_mu);
	return rc;
}

/* ---- Disaster recovery ----------------------------------------------------- */

struct tape_list {
	char (*bc)[CAT_BARCODE_MAX + 1];
	size_t n, cap;
	size_t plen;
};

static int tape_prefix_cb(void *arg, const struct store_list_entry *e)
{
	struct tape_list *l = arg;
	if (!e->is_prefix)
		return 0;
	const char *b = e->key + l->plen;
	size_t len = strlen(b);
	if (len < 2 || len - 1 > CAT_BARCODE_MAX)
		return 0;
	if (l->n == l->cap) {
		size_t nc = l->cap ? 2 * l->cap : 16;
		void *v = realloc(l->bc, nc * sizeof(*l->bc));
		if (!v)
			return -ENOMEM;
		l->bc = v;
		l->cap = nc;
	}
	snprintf(l->bc[l->n], CAT_BARCODE_MAX + 1, "%.*s", (int)(len - 1), b);
	l->n++;
	return 0;
}

int upl_recover_from_store(struct lib *lib, struct store *st, const struct upl_config *c,
			   upl_log_fn log, size_t *nrec, char *err, size_t errlen)
{
	char pfx[STORE_KEY_MAX], path[PATH_MAX + 16];
	struct store_err se;
	memset(&se, 0, sizeof(se));
	*nrec = 0;
	struct cat_tape *existing;
	size_t n_existing;
	int rc = lib_tape_list(lib, -1, &existing, &n_existing);
	if (rc)
		return rc;
	free(existing);
	if (n_existing) {
		snprintf(err, errlen,
			 "the catalog already holds %zu tape%s; recovery from the store needs an "
			 "empty data directory",
			 n_existing, n_existing == 1 ? "" : "s");
		return -EEXIST;
	}
	struct cat *cat;
	snprintf(path, sizeof(path), "%s/catalog.db", lib_data_dir(lib));
	rc = cat_open(path, &cat);
	if (rc) {
		snprintf(err, errlen, "cannot open the catalog %s: %s", path, strerror(-rc));
		return rc;
	}
	snprintf(pfx, sizeof(pfx), "%stapes/", c->prefix);
	struct tape_list tl = {.plen = strlen(pfx)};
	struct store_list_opts lo = {.prefix = pfx, .delimiter = "/"};
	rc = store_list(st, &lo, tape_prefix_cb, &tl, &se);
	if (rc)
		snprintf(err, errlen, "cannot list %s in the store: %s", pfx,
			 se.msg[0] ? se.msg : strerror(-rc));
	for (size_t i = 0; !rc && i < tl.n; i++) {
		const char *bc = tl.bc[i];
		char key[STORE_KEY_MAX], state[32] = "AVAILABLE", dir[PATH_MAX], msg[600];
		uint8_t *text = NULL;
		size_t tlen = 0;
		key_tape(c, bc, "state", key);
		if (get_all(st, key, &text, &tlen, &se) == 0) {
			char *s = strndup((const char *)text, tlen);
			char *p = s ? strstr(s, "state=") : NULL;
			if (p)
				sscanf(p + 6, "%31[A-Z_]", state);
			free(s);
			free(text);
		}
		lib_tape_dir(lib, bc, dir, sizeof(dir));
		struct manifest m;
		bool archived = strcmp(state, "ARCHIVED") == 0;
		if (archived) {
			/* Only the manifest: the data stays on the shelf. */
			char tmp[PATH_MAX + 16];
			snprintf(tmp, sizeof(tmp), "%s.probe", dir);
			struct last_key lk = {""};
			char mp[STORE_KEY_MAX];
			key_tape(c, bc, "manifest/", mp);
			struct store_list_opts ml = {.prefix = mp};
			memset(&m, 0, sizeof(m));
			rc = store_list(st, &ml, last_cb, &lk, &se);
			if (!rc && !lk.key[0])
				rc = -ENOENT;
			if (!rc)
				rc = get_all(st, lk.key, &m.buf, &m.len, &se);
			if (!rc)
				rc = man_parse(&m);
			if (rc)
				snprintf(err, errlen, "no readable manifest of tape %s: %s", bc,
					 se.msg[0] ? se.msg : strerror(-rc));
		} else {
			rc = download_tape(st, c, bc, dir, &m, err, errlen);
		}
		if (rc) {
			if (rc == -ENOENT) {
				/* A prefix without a manifest: not a tape. */
				rc = 0;
				err[0] = 0;
			}
			continue;
		}
		const char *media = tape_media_name((enum tape_media)m.media);
		rc = lib_tape_adopt(lib, bc, media ? media : "LTO-8", m.capacity,
				    archived ? CAT_ARCHIVED : CAT_AVAILABLE, err, errlen);
		/* The uploader's memory: every segment is a complete object. */
		for (size_t j = 0; !rc && j < m.nseg; j++) {
			struct cat_upl_seg s;
			struct store_object_info info;
			memset(&s, 0, sizeof(s));
			s.seg = m.segs[j].id;
			s.valid = m.segs[j].valid;
			s.part_size = adapt_part_size(c->part_size);
			key_seg(c, bc, s.seg, key);
			rc = store_head(st, key, &info, &se);
			if (!rc) {
				s.object_size = info.size;
				snprintf(s.object_etag, sizeof(s.object_etag), "%s", info.etag);
				rc = cat_upl_seg_put(cat, bc, &s);
			} else {
				snprintf(err, errlen, "segment %s of tape %s is missing: %s", key,
					 bc, se.msg);
			}
		}
		if (!rc)
			rc = cat_upl_tape_set(cat, bc, m.gen, archived ? "ARCHIVED" : "AVAILABLE");
		if (!rc) {
			(*nrec)++;
			snprintf(msg, sizeof(msg),
				 "recovered tape %s (%s, %zu segment%s) from the store", bc,
				 archived ? "ARCHIVED" : "AVAILABLE", m.nseg,
				 m.nseg == 1 ? "" : "s");
			if (log)
				log(2, msg);
		}
		man_free(&m);
	}
	free(tl.bc);
	cat_close(cat);
	return rc;
}
