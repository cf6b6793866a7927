/*
 * cache.c - eviction, read-through and back-pressure of the local segment
 * cache (see cache.h; docs/object-store.md, "The cache").
 *
 * Invariants:
 *   - A segment file is deleted only when the uploader found its object
 *     complete and verified in the store (cat_upl: object ETag recorded
 *     after Complete + HEAD) at least as long as its valid bytes, it is not
 *     the active segment, and no fetch job is bringing it back. Eviction and
 *     the end of a fetch (the rename of .part to .dat) hold the same mutex,
 *     so neither can undo the other.
 *   - The medium reads only bytes a fetch job has verified: a job hands
 *     out [base, done), a run of whole records that all passed their
 *     header and payload CRC32C (tape_records_prefix, scsi/tape.h), each
 *     at its own offset in the .part file. Only a run from byte 0 to the
 *     segment's end makes the file whole (.dat).
 *   - A descriptor the medium holds stays valid whatever happens to the
 *     name (eviction unlinks, completion renames), so a read in progress
 *     never sees a file change under it.
 */
#include "config.h"

#include "cache.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scsi/tape.h"
#include "util/metrics.h"

#define CHUNK	   (8u << 20) /* one ranged GET */
#define AHEAD	   4u	      /* GETs ahead of the reader */
#define IDLE_SECS  60	      /* a job nobody asks anything of is given up */
#define NO_RESTART UINT64_MAX

struct fjob {
	struct fjob *next;
	struct vcache *c;
	char barcode[CAT_BARCODE_MAX + 1];
	uint64_t seg, valid;
	int dirfd, fd; /* the cartridge's directory, seg-<id>.part */
	/* [base, done) of the segment is in the file, verified; the job
	 * fetches on from done. A reader asking for a record outside that run
	 * (or well past it) sets `restart` to the record's start: the run
	 * begins again there. NO_RESTART: none asked. */
	uint64_t base, done, restart;
	uint64_t want; /* the furthest byte a reader asked for */
	time_t last_use;
	int err;
	bool finished;
	unsigned refs; /* the thread + callers inside fetch() */
};

struct vcache {
	struct vcache_config cfg;
	pthread_mutex_t mu;
	pthread_cond_t cond; /* jobs' progress, wants, the gate */
	bool stop;
	/* Read without mu by the room hook's no-wait path. */
	atomic_bool released;
	struct fjob *jobs;
	unsigned threads; /* job threads alive */
	_Atomic uint64_t pending;
	struct vcache_status st;
};

static void cache_log(struct vcache *c, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void cache_log(struct vcache *c, int level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	if (!c->cfg.log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->cfg.log(level, msg);
}

/* ---- Read-through ----------------------------------------------------------- */

static void job_put(struct fjob *j)
{
	if (--j->refs)
		return;
	if (j->fd >= 0)
		close(j->fd);
	if (j->dirfd >= 0)
		close(j->dirfd);
	free(j);
}

static void job_unlink(struct vcache *c, struct fjob *j)
{
	for (struct fjob **p = &c->jobs; *p; p = &(*p)->next) {
		if (*p == j) {
			*p = j->next;
			return;
		}
	}
}

/*
 * The job's thread: ranged GETs from where the run ends, verified and
 * written at their offsets in the .part file, while the reader is less than
 * AHEAD GETs behind. A restart (see struct fjob) moves the run, so that a
 * read after a LOCATE costs one ranged GET from its record, not the
 * segment up to it (ARCHITECTURE.md). 0 once the run covers the whole
 * segment; a run that does not waits for a reader until it is idle.
 */
static int job_run(struct vcache *c, struct fjob *j)
{
	char key[STORE_KEY_MAX];
	snprintf(key, sizeof(key), "%stapes/%s/seg/%016" PRIx64, c->cfg.prefix, j->barcode, j->seg);
	/* A whole record may straddle a GET: keep its start for the next. */
	size_t cap = CHUNK + TAPE_REC_MAX, fill = 0;
	uint8_t *buf = malloc(cap);
	uint64_t fetched = 0; /* the next byte to GET: done + fill */
	int rc = 0;
	if (!buf)
		return -ENOMEM;
	for (;;) {
		bool whole = false;
		pthread_mutex_lock(&c->mu);
		while (!rc) {
			if (c->stop) {
				rc = -ECANCELED;
				break;
			}
			if (j->restart != NO_RESTART) {
				j->base = j->done = fetched = j->restart;
				j->restart = NO_RESTART;
				fill = 0;
			}
			whole = j->base == 0 && fetched >= j->valid;
			if (whole ||
			    (fetched < j->valid && fetched < j->want + (uint64_t)AHEAD * CHUNK))
				break;
			if (time(NULL) - j->last_use > IDLE_SECS && j->refs == 1) {
				rc = -ECANCELED;
				break;
			}
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&c->cond, &c->mu, &ts);
		}
		uint64_t done = j->done;
		pthread_mutex_unlock(&c->mu);
		if (rc || whole)
			break;
		size_t want = CHUNK;
		if (want > cap - fill)
			want = cap - fill;
		if (want > j->valid - fetched)
			want = (size_t)(j->valid - fetched);
		size_t got = 0;
		struct store_err se;
		memset(&se, 0, sizeof(se));
		rc = store_get(c->cfg.store, key, fetched, want, buf + fill, &got, NULL, &se);
		if (rc) {
			cache_log(c, 0, "fetch of %s (tape %s) failed: %s", key, j->barcode,
				  se.msg[0] ? se.msg : strerror(-rc));
			break;
		}
		if (got != want) {
			cache_log(c, 0,
				  "fetch of %s: the object is shorter than the tape's %" PRIu64
				  " valid bytes",
				  key, j->valid);
			rc = -EIO;
			break;
		}
		fetched += got;
		fill += got;
		size_t ok = 0;
		rc = tape_records_prefix(buf, fill, &ok);
		if (rc || (fetched == j->valid && ok != fill)) {
			cache_log(c, 0,
				  "fetch of %s: a record near byte %" PRIu64
				  " fails its CRC32C; the tape reads MEDIUM ERROR there",
				  key, done);
			rc = -EBADMSG;
			break;
		}
		/* The bytes are the segment's at their offsets: right in the
		 * file even if a restart came meanwhile. */
		if (ok > 0 && pwrite(j->fd, buf, ok, (off_t)done) != (ssize_t)ok) {
			rc = -EIO;
			break;
		}
		memmove(buf, buf + ok, fill - ok);
		fill -= ok;
		pthread_mutex_lock(&c->mu);
		j->done += ok;
		c->st.fetched_bytes += ok;
		met_cache_fetched(ok);
		pthread_cond_broadcast(&c->cond);
		pthread_mutex_unlock(&c->mu);
	}
	free(buf);
	if (!rc && fdatasync(j->fd))
		rc = -errno;
	return rc;
}

static void *job_main(void *arg)
{
	struct fjob *j = arg;
	struct vcache *c = j->c;
	char part[64], dat[64];
	tape_file_path(NULL, TAPE_SEG_FETCH, j->seg, part, sizeof(part));
	tape_file_path(NULL, TAPE_SEG_DATA, j->seg, dat, sizeof(dat));
	int rc = job_run(c, j);
	pthread_mutex_lock(&c->mu);
	if (!rc && renameat(j->dirfd, part, j->dirfd, dat))
		rc = -errno;
	if (rc) {
		unlinkat(j->dirfd, part, 0);
		j->err = rc;
	} else {
		j->finished = true;
		c->st.fetched_segments++;
		cache_log(c, 3, "segment %016" PRIx64 " of tape %s is back in the cache", j->seg,
			  j->barcode);
	}
	job_unlink(c, j);
	c->st.fetching--;
	c->threads--;
	pthread_cond_broadcast(&c->cond);
	job_put(j);
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

/* Called with c->mu held. */
static int job_start(struct vcache *c, const struct tape_fetch_req *req, struct fjob **out)
{
	char part[64];
	struct fjob *j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->c = c;
	snprintf(j->barcode, sizeof(j->barcode), "%s", req->barcode);
	j->seg = req->seg_id;
	j->valid = req->valid;
	/* The run begins at the first reader's record, or at byte 0 when that
	 * is within a GET: the segment can then come back whole. */
	j->restart = req->from > CHUNK ? req->from : 0;
	j->last_use = time(NULL);
	j->refs = 1;
	tape_file_path(NULL, TAPE_SEG_FETCH, j->seg, part, sizeof(part));
	j->dirfd = openat(req->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	j->fd = j->dirfd < 0 ? -1
			     : openat(j->dirfd, part, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (j->fd < 0) {
		int rc = -errno;
		job_put(j);
		return rc;
	}
	pthread_t th;
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	int rc = -pthread_create(&th, &at, job_main, j);
	pthread_attr_destroy(&at);
	if (rc) {
		unlinkat(j->dirfd, part, 0);
		job_put(j);
		return rc;
	}
	j->next = c->jobs;
	c->jobs = j;
	c->threads++;
	c->st.fetching++;
	*out = j;
	return 0;
}

/* The medium's fetch hook (scsi/tape.h). */
static int fetch(void *arg, const struct tape_fetch_req *req, int *fd, uint64_t *avail)
{
	struct vcache *c = arg;
	char dat[64];
	int rc = 0;
	tape_file_path(NULL, TAPE_SEG_DATA, req->seg_id, dat, sizeof(dat));
	pthread_mutex_lock(&c->mu);
	struct fjob *j = NULL;
	for (;;) {
		/* Back in the cache already (fetched since, or never gone). */
		*fd = openat(req->dirfd, dat, O_RDONLY | O_CLOEXEC);
		if (*fd >= 0) {
			*avail = req->valid;
			break;
		}
		if (j) {
			if (j->err) {
				rc = j->err;
				break;
			}
			if (j->restart == NO_RESTART && j->base <= req->from &&
			    j->done >= req->need) {
				*fd = fcntl(j->fd, F_DUPFD_CLOEXEC, 0);
				rc = *fd < 0 ? -errno : 0;
				*avail = j->done;
				break;
			}
			if (j->finished || c->stop) {
				rc = c->stop ? -ECANCELED : -EIO;
				break;
			}
			pthread_cond_wait(&c->cond, &c->mu);
			continue;
		}
		for (j = c->jobs; j; j = j->next)
			if (j->seg == req->seg_id && strcmp(j->barcode, req->barcode) == 0)
				break;
		if (!j) {
			rc = job_start(c, req, &j);
			if (rc)
				break;
			cache_log(c, 3, "fetching evicted segment %016" PRIx64 " of tape %s",
				  req->seg_id, req->barcode);
		}
		j->refs++;
		/* A record before the run, or more than a GET past its end (a
		 * LOCATE): the run starts again there. */
		if (req->from < j->base || req->from > j->done + CHUNK) {
			j->restart = req->from;
			j->want = req->need;
		} else if (j->want < req->need) {
			j->want = req->need;
		}
		j->last_use = time(NULL);
		pthread_cond_broadcast(&c->cond);
	}
	if (j)
		job_put(j);
	pthread_mutex_unlock(&c->mu);
	return rc;
}

/* ---- Back-pressure ------------------------------------------------------------ */

/* True when `bytes` more unsent data would take the cache over its limit. */
static bool over_limit(struct vcache *c, uint64_t bytes)
{
	uint64_t p = atomic_load(&c->pending);
	/* p > 0: a record larger than the whole limit still goes once the
	 * cache is empty of unsent data. */
	return !atomic_load(&c->released) && p > 0 && p + bytes > c->cfg.limit;
}

/* The medium's room hook (scsi/tape.h). */
static int room(void *arg, const char *barcode, uint64_t bytes, bool wait)
{
	struct vcache *c = arg;
	if (!c->cfg.limit)
		return 0;
	if (!wait) {
		if (over_limit(c, bytes))
			return -EAGAIN;
		atomic_fetch_add(&c->pending, bytes);
		return 0;
	}
	pthread_mutex_lock(&c->mu);
	if (!c->st.writes_waiting++) {
		c->st.waiting_since = time(NULL);
		snprintf(c->st.waiting_tape, sizeof(c->st.waiting_tape), "%s", barcode);
		cache_log(c, 1,
			  "writes to tape %s wait: the cache holds %" PRIu64
			  " bytes not yet in the object store (cache_limit %" PRIu64 ")",
			  barcode, atomic_load(&c->pending), c->cfg.limit);
	}
	pthread_mutex_unlock(&c->mu);
	if (c->cfg.kick)
		c->cfg.kick(c->cfg.kick_arg);
	pthread_mutex_lock(&c->mu);
	while (!c->stop && over_limit(c, bytes)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&c->cond, &c->mu, &ts);
	}
	if (!--c->st.writes_waiting) {
		c->st.waiting_since = 0;
		c->st.waiting_tape[0] = 0;
	}
	atomic_fetch_add(&c->pending, bytes);
	pthread_mutex_unlock(&c->mu);
	return 0;
}

void vcache_release_writers(struct vcache *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	atomic_store(&c->released, true);
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->mu);
}

void vcache_sent(struct vcache *c, uint64_t bytes)
{
	if (!c)
		return;
	uint64_t p = atomic_load(&c->pending);
	while (!atomic_compare_exchange_weak(&c->pending, &p, p > bytes ? p - bytes : 0))
		;
	pthread_mutex_lock(&c->mu);
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->mu);
}

/* ---- Eviction ----------------------------------------------------------------- */

static int by_last_use(const void *a, const void *b)
{
	const struct vcache_seg *x = a, *y = b;
	return x->last_use < y->last_use ? -1 : x->last_use > y->last_use;
}

void vcache_update(struct vcache *c, struct vcache_seg *cand, size_t n, uint64_t used,
		   uint64_t pending, uint64_t *evicted)
{
	*evicted = 0;
	if (!c)
		return;
	if (c->cfg.limit && used > c->cfg.limit && n) {
		qsort(cand, n, sizeof(*cand), by_last_use);
		for (size_t i = 0; i < n && used > c->cfg.limit; i++) {
			char path[PATH_MAX + 64];
			bool busy = false;
			tape_file_path(cand[i].dir, TAPE_SEG_DATA, cand[i].seg, path, sizeof(path));
			pthread_mutex_lock(&c->mu);
			for (struct fjob *j = c->jobs; j; j = j->next)
				busy |= j->seg == cand[i].seg &&
					strcmp(j->barcode, cand[i].barcode) == 0;
			int rc = busy ? -EBUSY : unlink(path) ? -errno : 0;
			if (!rc) {
				/* The status says an eviction and the bytes it
				 * freed together: a reader never sees the count
				 * without the space (seen in a test under load). */
				used -= cand[i].bytes;
				c->st.used = used;
				c->st.evicted_segments++;
				c->st.evicted_bytes += cand[i].bytes;
			}
			pthread_mutex_unlock(&c->mu);
			if (rc)
				continue;
			*evicted += cand[i].bytes;
			cache_log(c, 3,
				  "evicted segment %016" PRIx64 " of tape %s (%" PRIu64
				  " bytes, in the object store)",
				  cand[i].seg, cand[i].barcode, cand[i].bytes);
		}
	}
	pthread_mutex_lock(&c->mu);
	c->st.used = used;
	atomic_store(&c->pending, pending);
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->mu);
}

void vcache_status(struct vcache *c, struct vcache_status *s)
{
	memset(s, 0, sizeof(*s));
	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	*s = c->st;
	s->limit = c->cfg.limit;
	s->pending = atomic_load(&c->pending);
	pthread_mutex_unlock(&c->mu);
}

/* ---- Life ------------------------------------------------------------------- */

int vcache_open(const struct vcache_config *cfg, struct vcache **out)
{
	struct vcache *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->cfg = *cfg;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cond, NULL);
	atomic_init(&c->pending, 0);
	atomic_init(&c->released, false);
	struct tape_hooks h = {
	    .fetch = fetch,
	    .room = cfg->limit ? room : NULL,
	    .segment_size = cfg->segment_size,
	    .arg = c,
	};
	tape_set_hooks(&h);
	*out = c;
	return 0;
}

void vcache_close(struct vcache *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	c->stop = true;
	pthread_cond_broadcast(&c->cond);
	/* Jobs see stop at their next step and end; writers go on. */
	while (c->threads || c->st.writes_waiting) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&c->cond, &c->mu, &ts);
	}
	pthread_mutex_unlock(&c->mu);
	tape_set_hooks(NULL);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->mu);
	free(c);
}
