/*
 * tape_segcache.c - where a record's bytes are, a segment at a time: the
 * read descriptors of sealed segments (struct tape's rfd), their records'
 * offsets loaded from the index sidecars (struct tape's idx), and the
 * cache hooks through which a segment evicted from the cartridge's
 * directory comes back from the object store, a range at a time
 * (ARCHITECTURE.md, "The medium, the cache and the object store"; the
 * contract is tape.h, tape_set_hooks; the sidecar's bytes are
 * docs/medium-format.md's, read and written by tape_disk.c).
 *
 * tape_record_at finds the bytes of object n: a binary search over the
 * segments (tape_seg_find, tape.c), then the segment's offsets, one
 * sidecar read for a sealed segment not in the cache; tape_seg_fd gives a
 * descriptor on which they are readable.
 *
 * Invariants:
 *   - The active segment is never cached here: its descriptor is t->afd
 *     and its offsets t->aoff, which tape.c keeps as it appends.
 *   - Each cache holds at most one entry a segment, TAPE_FD_CACHE and
 *     TAPE_IDX_CACHE of them, replaced in turn. A descriptor's [lo,
 *     avail) is what is readable on it (all of a local file, what the
 *     fetcher made readable of an evicted one); a read outside it asks
 *     the fetcher again, never reads past what was verified.
 *   - What is cached is of bytes below a segment's valid length, which
 *     never change while the segment is named (docs/medium-format.md).
 *     Before tape.c shortens a segment or drops its files (a write in the
 *     middle, SSC-4 4.2.7), it calls tape_drop_caches, which empties the
 *     read window of that segment too (struct tape's rw).
 *   - A sidecar that is missing or fails its checks is rebuilt by scanning
 *     the segment (tape_seg_rebuild) and written back, best effort: it is
 *     never the only copy of anything.
 *
 * Locking: every function here runs under the caller's exclusion (the
 * drive's lock), as every call on the tape does. The fetch hook is called
 * under it and may block while bytes arrive, which holds up that drive
 * only. The hooks are the process's: set by tape_set_hooks before any
 * cartridge is opened (tape.h), then only read. A descriptor handed out
 * may be closed by the next call that fills its slot; a reader off the
 * lock uses a dup of it (tape_prefetch_begin, tape_readahead.c).
 */
#include "config.h"

#include "tape_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void tape_drop_caches(struct tape *t, uint64_t id)
{
	if (t->rw.id == id)
		t->rw.len = 0;
	for (unsigned i = 0; i < TAPE_FD_CACHE; i++) {
		if (t->rfd[i].fd >= 0 && t->rfd[i].id == id) {
			close(t->rfd[i].fd);
			t->rfd[i].fd = -1;
		}
	}
	for (unsigned i = 0; i < TAPE_IDX_CACHE; i++) {
		if (t->idx[i].off && t->idx[i].id == id) {
			free(t->idx[i].off);
			t->idx[i].off = NULL;
		}
	}
}

/* The cache hooks (tape.h); zero when none are registered. */
struct tape_hooks tape_cache_hooks;

void tape_set_hooks(const struct tape_hooks *h)
{
	if (h)
		tape_cache_hooks = *h;
	else
		memset(&tape_cache_hooks, 0, sizeof(tape_cache_hooks));
}

/* Keep a read descriptor in the cache, replacing segment id's old one;
 * bytes [lo, avail) are readable on it. */
static int rfd_keep(struct tape *t, uint64_t id, int fd, uint64_t lo, uint64_t avail)
{
	unsigned slot = TAPE_FD_CACHE;

	for (unsigned k = 0; k < TAPE_FD_CACHE; k++)
		if (t->rfd[k].fd >= 0 && t->rfd[k].id == id)
			slot = k;
	if (slot == TAPE_FD_CACHE)
		slot = t->rfd_next++ % TAPE_FD_CACHE;
	if (t->rfd[slot].fd >= 0)
		close(t->rfd[slot].fd);
	t->rfd[slot].id = id;
	t->rfd[slot].fd = fd;
	t->rfd[slot].lo = lo;
	t->rfd[slot].avail = avail;
	return fd;
}

/* Ask the fetcher for an evicted segment i with [from, need) readable. */
static int seg_fetch(struct tape *t, size_t i, uint64_t from, uint64_t need)
{
	const struct seg *s = &t->segs[i];
	struct tape_fetch_req req = {
	    .dirfd = t->dirfd,
	    .barcode = t->info.barcode,
	    .seg_id = s->id,
	    .valid = s->len,
	    .from = from,
	    .need = need < s->len ? need : s->len,
	};
	uint64_t avail = 0;
	int fd = -1, r;

	r = tape_cache_hooks.fetch(tape_cache_hooks.arg, &req, &fd, &avail);
	if (r < 0)
		return r == -ENOENT ? -EBADMSG : r;
	if (fd < 0 || avail < req.need) {
		if (fd >= 0)
			close(fd);
		return -EIO;
	}
	return rfd_keep(t, s->id, fd, req.from, avail);
}

/*
 * A read descriptor for segment i on which [from, need) is readable (the
 * active one is open read-write); from is where a record starts. A sealed
 * segment evicted from the cache comes back through the fetch hook, a
 * range at a time.
 */
int tape_seg_fd(struct tape *t, size_t i, uint64_t from, uint64_t need)
{
	uint64_t id = t->segs[i].id;
	char name[64];
	int fd;

	if (i == t->nseg - 1)
		return t->afd;
	for (unsigned k = 0; k < TAPE_FD_CACHE; k++) {
		if (t->rfd[k].fd >= 0 && t->rfd[k].id == id) {
			if (t->rfd[k].lo <= from && t->rfd[k].avail >= need)
				return t->rfd[k].fd;
			return seg_fetch(t, i, from, need);
		}
	}
	seg_name(name, sizeof(name), id, "dat");
	fd = openat(t->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && tape_cache_hooks.fetch)
		return seg_fetch(t, i, from, need);
	if (fd < 0)
		return errno == ENOENT ? -EBADMSG : -errno;
	/* Tape reads stream: let the kernel read ahead generously. */
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	/* The cache evicts the least recently used segments first: record
	 * this use as the file's access time, whatever the mount options. */
	if (tape_cache_hooks.fetch) {
		const struct timespec ts[2] = {{.tv_nsec = UTIME_NOW}, {.tv_nsec = UTIME_OMIT}};

		futimens(fd, ts);
	}
	return rfd_keep(t, id, fd, 0, UINT64_MAX);
}

/* Rebuild segment i's index sidecar by scanning the segment. */
int tape_seg_rebuild(struct tape *t, size_t i, struct u64vec *off, struct u64vec *fm)
{
	struct seg *s = &t->segs[i];
	uint64_t len, nobj;
	int fd, r;

	fd = tape_seg_fd(t, i, 0, s->len);
	if (fd < 0)
		return fd;
	r = seg_scan(fd, s->first, s->len, s->nobj, false, off, fm, &len, &nobj);
	if (r < 0)
		return r;
	/* Best effort: a sidecar that cannot be written is rebuilt next time. */
	idx_write(t, s, off->v, fm->v, fm->n);
	return 0;
}

/* Offsets of segment i's records: s->nobj entries. */
static int seg_offsets(struct tape *t, size_t i, const uint64_t **out)
{
	struct seg *s = &t->segs[i];
	uint64_t *off = NULL;
	unsigned slot;
	int r;

	if (i == t->nseg - 1) {
		*out = t->aoff.v;
		return 0;
	}
	for (unsigned k = 0; k < TAPE_IDX_CACHE; k++) {
		if (t->idx[k].off && t->idx[k].id == s->id) {
			*out = t->idx[k].off;
			return 0;
		}
	}
	r = idx_read_off(t, s, &off);
	if (r == -EBADMSG || r == -ENOENT) {
		struct u64vec o = {0}, f = {0};

		r = tape_seg_rebuild(t, i, &o, &f);
		u64vec_free(&f);
		if (r < 0) {
			u64vec_free(&o);
			return r;
		}
		off = o.v;
	}
	if (r < 0)
		return r;
	slot = t->idx_next++ % TAPE_IDX_CACHE;
	free(t->idx[slot].off);
	t->idx[slot].id = s->id;
	t->idx[slot].off = off;
	*out = off;
	return 0;
}

/* Byte range [*off, *end) of object obj (< EOD) in segment *seg. */
int tape_record_at(struct tape *t, uint64_t obj, size_t *seg, uint64_t *off, uint64_t *end)
{
	size_t i = tape_seg_find(t, obj);
	const struct seg *s = &t->segs[i];
	uint64_t k = obj - s->first;
	const uint64_t *offs;
	int r;

	r = seg_offsets(t, i, &offs);
	if (r < 0)
		return r;
	*seg = i;
	*off = offs[k];
	*end = k + 1 < s->nobj ? offs[k + 1] : s->len;
	return 0;
}
