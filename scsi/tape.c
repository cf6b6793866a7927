/*
 * tape.c - the medium: one virtual cartridge in a directory of segment
 * files (the contract is tape.h, the format docs/medium-format.md).
 *
 * A cartridge is a list of segments; the last one, the active segment, is
 * the only file ever appended to. Each record (block or filemark) is one
 * pwritev of a 32-byte header and the payload; the position is a logical
 * object number (SSC-4 4.2.4), and EOD is implied by the end of the list.
 *
 * What keeps it crash safe (docs/medium-format.md "Why it is crash safe"):
 *   - The manifest is the only commit record, replaced atomically. It never
 *     names a byte of a segment that has not been fdatasync'd first.
 *   - Segment files are never reused (ids only grow) and nothing is written
 *     into a segment below its committed length, so committed bytes never
 *     change. Writing in the middle (SSC-4 4.2.7) commits the shorter valid
 *     length of the segment at the position and a fresh segment for what
 *     follows, before a byte of new data is written; no data is copied.
 *   - On open, the active segment is scanned past its commit point and
 *     complete, CRC-valid records in sequence are kept; a torn tail is cut.
 *
 * Positioning is O(log n): a binary search over the segment list by first
 * object number, then the segment's record offsets (in memory for the
 * active segment, from its index sidecar for a sealed one), and a sorted
 * array of filemark object numbers for SPACE and tape_file(). Only the
 * filemarks and the active segment's offsets are held for the whole tape;
 * other offsets are loaded a segment at a time into a small cache.
 *
 * The directory is created 0700 and every file in it 0600, whatever the
 * umask: a cartridge holds someone's backup data.
 *
 * Beside this file, each with a concept of its own (tape_int.h holds what
 * they share): tape_disk.c, record headers, the manifest, the index
 * sidecars and the segment scanner; tape_segcache.c, where a record's
 * bytes are (the segments' descriptors and offsets, kept a few at a time,
 * and the fetch of an evicted segment); tape_position.c, REWIND, LOCATE
 * and SPACE; tape_read.c, the read of a record and its decoding;
 * tape_crypt.c, the ciphers; tape_compress.c, per-record compression;
 * tape_readahead.c, the blocks read ahead of the host and the window of
 * small records; tape_buffered.c, the writes held back in buffered mode;
 * tape_repair.c and tape_files.c, the cartridge's files for repair and
 * for the layers above.
 */
#include "config.h"

#include "tape_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "crc32c.h"

#define WRITE_BEHIND (8u << 20) /* start writeback after this many bytes */

/* ---- media -------------------------------------------------------------- */

/* Native capacities and density codes from the LTO program's generation
 * table and SSC-4 REPORT DENSITY SUPPORT as IBM and HPE drives return it. */
static const struct {
	enum tape_media media;
	uint64_t capacity;
	uint8_t density;
	const char *name;
} media_tab[] = {
    {TAPE_LTO5, 1500000000000ull, 0x58, "LTO-5"},  {TAPE_LTO6, 2500000000000ull, 0x5a, "LTO-6"},
    {TAPE_LTO7, 6000000000000ull, 0x5c, "LTO-7"},  {TAPE_LTO8, 12000000000000ull, 0x5e, "LTO-8"},
    {TAPE_LTO9, 18000000000000ull, 0x60, "LTO-9"},
};

#define NMEDIA (sizeof(media_tab) / sizeof(media_tab[0]))

uint64_t tape_media_capacity(enum tape_media media)
{
	for (size_t i = 0; i < NMEDIA; i++)
		if (media_tab[i].media == media)
			return media_tab[i].capacity;
	return 0;
}

uint8_t tape_media_density(enum tape_media media)
{
	for (size_t i = 0; i < NMEDIA; i++)
		if (media_tab[i].media == media)
			return media_tab[i].density;
	return 0;
}

const char *tape_media_name(enum tape_media media)
{
	for (size_t i = 0; i < NMEDIA; i++)
		if (media_tab[i].media == media)
			return media_tab[i].name;
	return NULL;
}

/* Accepts "LTO-7", "LTO7", any case. */
int tape_media_parse(const char *name, enum tape_media *media)
{
	for (size_t i = 0; name && i < NMEDIA; i++) {
		const char *n = media_tab[i].name;

		if (strcasecmp(name, n) == 0 ||
		    (strncasecmp(name, "LTO", 3) == 0 && strcmp(name + 3, n + 4) == 0)) {
			*media = media_tab[i].media;
			return 0;
		}
	}
	return -EINVAL;
}

/* ---- small helpers ------------------------------------------------------- */

static uint64_t eod_of(const struct tape *t)
{
	const struct seg *a = tape_active(t);

	return a->first + a->nobj;
}

/* Also what the other files of the medium ask for EOD. */
uint64_t tape_eod(const struct tape *t)
{
	return eod_of(t);
}

/* The segment holding object obj (< EOD): the last one starting at or
 * before it. */
size_t tape_seg_find(const struct tape *t, uint64_t obj)
{
	size_t lo = 0, hi = t->nseg;

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->segs[mid].first <= obj)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

int tape_pwritev_all(int fd, struct iovec *iov, int cnt, uint64_t off)
{
	while (cnt > 0) {
		ssize_t r = pwritev(fd, iov, cnt, (off_t)off);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		off += (uint64_t)r;
		while (cnt > 0 && (size_t)r >= iov->iov_len) {
			r -= (ssize_t)iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + r;
			iov->iov_len -= (size_t)r;
		}
	}
	return 0;
}

/* Reads exactly the record [off, off + total) or fails; a record that
 * ends early is damaged. */
int tape_preadv_all(int fd, struct iovec *iov, int cnt, uint64_t off)
{
	while (cnt > 0) {
		ssize_t r = preadv(fd, iov, cnt, (off_t)off);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -EBADMSG;
		off += (uint64_t)r;
		while (cnt > 0 && (size_t)r >= iov->iov_len) {
			r -= (ssize_t)iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + r;
			iov->iov_len -= (size_t)r;
		}
	}
	return 0;
}

int tape_scratch(uint8_t **buf)
{
	if (!*buf)
		*buf = malloc(TAPE_STORED_MAX);
	return *buf ? 0 : -ENOMEM;
}

/* ---- commit ---------------------------------------------------------- */

static int sync_active(struct tape *t)
{
	const struct seg *a = tape_active(t);

	if (t->synced < a->len) {
		if (fdatasync(t->afd) < 0)
			return -errno;
		t->synced = a->len;
	}
	return 0;
}

/* Everything written so far durable and named by the manifest. */
static int commit(struct tape *t)
{
	int r = wb_finish(t);

	if (r == 0)
		r = sync_active(t);

	if (r == 0)
		r = manifest_commit(t, t->segs, t->nseg);
	if (r == 0)
		t->dirty = false;
	return r;
}

/* The active segment is locked (flock LOCK_EX) while it is the active one:
 * the local object store links only a file it can lock (store_put_file,
 * s3/store.h), so it never takes a file that can still grow. */
static void lock_active(int fd)
{
	while (flock(fd, LOCK_EX) < 0 && errno == EINTR)
		;
}

/*
 * Make ns[0..keep-1] (a prefix of the segment list, possibly with its last
 * entry shortened) plus a new empty active segment starting at object
 * `first` the cartridge, durably. Segments after the prefix become
 * unreachable and their files are deleted once the manifest no longer
 * names them. Takes ownership of ns (room for keep + 1 entries).
 * The caller has made the kept part of the active segment durable.
 */
static int switch_segments(struct tape *t, struct seg *ns, size_t keep, uint64_t first)
{
	struct seg *n = &ns[keep];
	char name[64];
	int fd, r;

	memset(n, 0, sizeof(*n));
	n->id = t->next_id;
	n->first = first;
	n->base = keep ? ns[keep - 1].base + ns[keep - 1].len : 0;
	seg_name(name, sizeof(name), n->id, "dat");
	/* The file exists before the manifest names it, so a reader of the
	 * committed manifest always finds it; if we crash first, open
	 * deletes it as unnamed. */
	fd = openat(t->dirfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		free(ns);
		return -errno;
	}
	lock_active(fd);
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	t->next_id++;
	r = manifest_commit(t, ns, keep + 1);
	if (r < 0) {
		close(fd);
		unlinkat(t->dirfd, name, 0);
		free(ns);
		return r;
	}

	close(t->afd);
	for (size_t i = keep; i < t->nseg; i++) {
		tape_drop_caches(t, t->segs[i].id);
		seg_name(name, sizeof(name), t->segs[i].id, "dat");
		unlinkat(t->dirfd, name, 0);
		seg_name(name, sizeof(name), t->segs[i].id, "idx");
		unlinkat(t->dirfd, name, 0);
	}
	free(t->segs);
	t->segs = ns;
	t->nseg = keep + 1;
	t->afd = fd;
	t->shared = false;
	t->aoff.n = 0;
	t->synced = 0;
	t->kicked = 0;
	t->dirty = false;
	return 0;
}

/* Seal the active segment (it is full) and start the next one. */
static int seal(struct tape *t)
{
	const struct seg *a = tape_active(t);
	size_t j = u64vec_lower(&t->fm, a->first);
	struct seg *ns;
	int r;

	r = wb_finish(t);
	if (r == 0)
		r = sync_active(t);
	if (r < 0)
		return r;
	/* Best effort, like every sidecar: rebuilt from the segment if lost. */
	idx_write(t, a, t->aoff.v, t->fm.n > j ? t->fm.v + j : NULL, t->fm.n - j);
	ns = malloc((t->nseg + 1) * sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	memcpy(ns, t->segs, t->nseg * sizeof(*ns));
	return switch_segments(t, ns, t->nseg, a->first + a->nobj);
}

/*
 * Discard every object at or after p (< EOD), durably (SSC-4 4.2.7). The
 * segment holding p keeps its records before p; what follows goes to a new
 * segment. Nothing is copied.
 */
static int truncate_at(struct tape *t, uint64_t p)
{
	size_t i = tape_seg_find(t, p), keep;
	const struct seg *s = &t->segs[i];
	uint64_t k = p - s->first, cut, end, id = s->id;
	bool active = i == t->nseg - 1;
	struct seg *ns;
	size_t si;
	int r;

	r = tape_record_at(t, p, &si, &cut, &end);
	if (r == 0)
		r = sync_active(t);
	if (r < 0)
		return r;
	/* The objects of a damaged stretch share the offset where the damage
	 * starts (seg_scan), so a cut there can be shorter than the headers of
	 * the objects it keeps. They stay unreadable, but each keeps a
	 * header's room, as the manifest requires of every segment
	 * (tape_int.h): a shorter one would not load, and the whole cartridge
	 * with it. */
	if (cut < k * REC_HDR_LEN)
		cut = k * REC_HDR_LEN;
	keep = k ? i + 1 : i;
	ns = malloc((keep + 1) * sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	memcpy(ns, t->segs, keep * sizeof(*ns));
	if (k) {
		ns[i].nobj = k;
		ns[i].len = cut;
		if (active) {
			size_t j = u64vec_lower(&t->fm, s->first);
			size_t nfm = u64vec_lower(&t->fm, p) - j;

			idx_write(t, &ns[i], t->aoff.v, nfm ? t->fm.v + j : NULL, nfm);
		}
	}
	r = switch_segments(t, ns, keep, p);
	if (r < 0)
		return r;
	t->fm.n = u64vec_lower(&t->fm, p);
	if (k) {
		/* The records past the cut are unreachable: give the space back.
		 * Safe, the manifest already says where the segment ends. Not
		 * when the file has another name: a sealed segment the local
		 * object store holds as a hard link of this inode
		 * (store_put_file, s3/store.h), whose object must keep every
		 * byte. The link is made under the file's flock(LOCK_SH), so
		 * LOCK_EX here makes the count and the cut one step. */
		char name[64];
		struct stat sb;
		int fd;

		tape_drop_caches(t, id);
		seg_name(name, sizeof(name), id, "dat");
		fd = openat(t->dirfd, name, O_WRONLY | O_CLOEXEC);
		if (fd >= 0) {
			while ((r = flock(fd, LOCK_EX)) < 0 && errno == EINTR)
				;
			if (r == 0 && fstat(fd, &sb) == 0 && sb.st_nlink == 1 &&
			    ftruncate(fd, (off_t)cut) < 0) {
				/* Only space is lost; the manifest bounds the segment. */
			}
			close(fd);
		}
	}
	return 0;
}

/* Seal the active segment first if a record of need bytes does not fit. */
int tape_make_room(struct tape *t, uint64_t need)
{
	struct seg *a = tape_active(t);

	if (a->nobj > 0 &&
	    (t->shared || a->len + need > t->seg_limit || a->nobj >= TAPE_SEG_MAX_OBJ))
		return seal(t);
	return 0;
}

/* Write-behind: start writeback of what has piled up, without waiting
 * for it, so the disk works while the host sends more and a flush finds
 * little left to do (what RocksDB's bytes_per_sync and PostgreSQL's
 * backend_flush_after do). Not a durability point. */
void tape_kick_writeback(struct tape *t)
{
	const struct seg *a = tape_active(t);

	if (a->len - t->kicked >= WRITE_BEHIND) {
		sync_file_range(t->afd, (off64_t)t->kicked, (off64_t)(a->len - t->kicked),
				SYNC_FILE_RANGE_WRITE);
		t->kicked = a->len;
	}
}

/* Append one record to the active segment, sealing it first if full. */
static int append_record(struct tape *t, uint8_t type, uint8_t flags, uint32_t len,
			 const void *payload, uint32_t stored, uint32_t crc)
{
	struct seg *a;
	uint64_t need = REC_HDR_LEN + (uint64_t)stored;
	uint8_t hb[REC_HDR_LEN];
	struct rec_hdr h;
	struct iovec iov[2];
	int r;

	r = tape_make_room(t, need);
	if (r < 0)
		return r;
	a = tape_active(t);
	h.type = type;
	h.flags = flags;
	h.obj = a->first + a->nobj;
	h.len = len;
	h.stored = stored;
	h.crc = crc;
	rec_encode(hb, &h);
	iov[0].iov_base = hb;
	iov[0].iov_len = REC_HDR_LEN;
	iov[1].iov_base = (void *)payload;
	iov[1].iov_len = stored;

	r = u64vec_push(&t->aoff, a->len);
	if (r == 0 && type == REC_FILEMARK) {
		r = u64vec_push(&t->fm, h.obj);
		if (r < 0)
			t->aoff.n--;
	}
	if (r < 0)
		return r;
	/* Header and payload in one system call; a failure leaves the bytes
	 * past a->len, which the next append overwrites. */
	r = tape_pwritev_all(t->afd, iov, stored ? 2 : 1, a->len);
	if (r < 0) {
		t->aoff.n--;
		if (type == REC_FILEMARK)
			t->fm.n--;
		return r;
	}
	a->len += need;
	a->nobj++;
	t->dirty = true;
	tape_kick_writeback(t);
	return 0;
}

/* ---- format, open, close ------------------------------------------------- */

static int fsync_parent(const char *dir)
{
	char *copy = strdup(dir), *slash;
	int fd, r = 0;

	if (!copy)
		return -ENOMEM;
	slash = strrchr(copy, '/');
	if (slash == copy)
		slash[1] = 0;
	else if (slash)
		*slash = 0;
	fd = open(slash ? copy : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		r = -errno;
	if (fd >= 0)
		close(fd);
	free(copy);
	return r;
}

static int format(const char *dir, const struct tape_info *info, bool nosync)
{
	struct tape t = {.afd = -1, .nosync = nosync};
	struct seg s = {.id = 1};
	char name[64];
	int fd, r;

	if (!dir || !info || !tape_media_name(info->media))
		return -EINVAL;
	if (mkdir(dir, 0700) < 0)
		return -errno;
	t.dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t.dirfd < 0)
		return -errno;
	t.info = *info;
	t.info.barcode[sizeof(t.info.barcode) - 1] = 0;
	t.info.serial[sizeof(t.info.serial) - 1] = 0;
	if (!t.info.capacity)
		t.info.capacity = tape_media_capacity(info->media);
	if (!t.info.created)
		t.info.created = (uint64_t)time(NULL);
	t.next_id = 2;
	seg_name(name, sizeof(name), s.id, "dat");
	fd = openat(t.dirfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	close(fd);
	r = manifest_commit(&t, &s, 1);
	if (r == 0 && !nosync)
		r = fsync_parent(dir);
out:
	close(t.dirfd);
	return r;
}

int tape_format(const char *dir, const struct tape_info *info)
{
	return format(dir, info, false);
}

int tape_format_nosync(const char *dir, const struct tape_info *info)
{
	return format(dir, info, true);
}

bool parse_seg_name(const char *name, uint64_t *id, const char **ext)
{
	uint64_t v = 0;

	size_t n = strlen(name);

	/* "seg-" 16 hex digits "." and dat, idx or part. */
	if (strncmp(name, "seg-", 4) != 0 || n < 4 + 16 + 4 || n > 4 + 16 + 5 || name[20] != '.')
		return false;
	for (int i = 4; i < 20; i++) {
		char c = name[i];

		if (c >= '0' && c <= '9')
			v = v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint64_t)(c - 'a' + 10);
		else
			return false;
	}
	*id = v;
	*ext = name + 21;
	return true;
}

/* Delete what the manifest does not name: segments made unreachable just
 * before a crash, a segment created but never committed, temp files, and
 * any sidecar of the active segment (it is indexed in memory only). */
static void collect_garbage(struct tape *t)
{
	int fd = dup(t->dirfd);
	struct dirent *de;
	DIR *d;

	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name), lo = 0, hi = t->nseg;
		const char *ext;
		uint64_t id;

		if (n > 4 && strcmp(de->d_name + n - 4, ".tmp") == 0) {
			unlinkat(t->dirfd, de->d_name, 0);
			continue;
		}
		if (!parse_seg_name(de->d_name, &id, &ext))
			continue;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (t->segs[mid].id < id)
				lo = mid + 1;
			else
				hi = mid;
		}
		bool named = lo < t->nseg && t->segs[lo].id == id;

		if ((strcmp(ext, "dat") == 0 && !named) ||
		    (strcmp(ext, "idx") == 0 && (!named || lo == t->nseg - 1)))
			unlinkat(t->dirfd, de->d_name, 0);
	}
	closedir(d);
}

/*
 * Give the active segment an inode of its own: it shares one with an object
 * of the local store (store_put_file, s3/store.h) and must change in place
 * (a torn tail to cut, or nothing to seal before appending). Copied to a
 * temp file, fsync'ed, renamed over, the directory fsync'ed; the store's
 * object keeps its bytes. Rare: the store links only what was committed.
 */
static int unshare_active(struct tape *t, const char *name)
{
	static const char tmp[] = "seg-unshare.tmp";
	struct stat sb;
	int fd, r = 0;

	if (fstat(t->afd, &sb) < 0)
		return -errno;
	fd = openat(t->dirfd, tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	for (off_t in = 0, out = 0; in < sb.st_size && r == 0;) {
		ssize_t n = copy_file_range(t->afd, &in, fd, &out, (size_t)(sb.st_size - in), 0);
		if (n <= 0)
			r = n < 0 ? -errno : -EIO;
	}
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && renameat(t->dirfd, tmp, t->dirfd, name) < 0)
		r = -errno;
	if (r == 0 && fsync(t->dirfd) < 0)
		r = -errno;
	if (r < 0) {
		close(fd);
		unlinkat(t->dirfd, tmp, 0);
		return r;
	}
	lock_active(fd);
	close(t->afd);
	t->afd = fd;
	return 0;
}

/* Recover the active segment: index what the manifest committed, accept
 * the complete records written after it, cut a torn tail. */
static int open_active(struct tape *t)
{
	struct seg *a = tape_active(t);
	uint64_t len, nobj;
	struct stat sb;
	char name[64];
	bool changed;
	int r;

	seg_name(name, sizeof(name), a->id, "dat");
	t->afd = openat(t->dirfd, name, O_RDWR | O_CLOEXEC | (a->len == 0 ? O_CREAT : 0), 0600);
	if (t->afd < 0)
		return errno == ENOENT ? -EBADMSG : -errno;
	lock_active(t->afd);
	posix_fadvise(t->afd, 0, 0, POSIX_FADV_SEQUENTIAL);
	r = seg_scan(t->afd, a->first, a->len, a->nobj, true, &t->aoff, &t->fm, &len, &nobj);
	if (r < 0)
		return r;
	if (fstat(t->afd, &sb) < 0)
		return -errno;
	/* Linked by the store (the tape was out of a drive): the store took
	 * exactly the committed bytes, so appends go to a new segment and
	 * nothing is copied. Anything else to change (a tail to cut, an
	 * empty segment to append to) first gets a copy of its own. */
	t->shared = sb.st_nlink > 1;
	if (t->shared && ((uint64_t)sb.st_size > len || nobj == 0)) {
		r = unshare_active(t, name);
		if (r < 0)
			return r;
		t->shared = false;
	}
	changed = len != a->len || nobj != a->nobj;
	a->len = len;
	a->nobj = nobj;
	if ((uint64_t)sb.st_size > len) {
		if (ftruncate(t->afd, (off_t)len) < 0)
			return -errno;
		changed = true;
	}
	t->kicked = len;
	if (!changed) {
		t->synced = len;
		return 0;
	}
	/* Make the recovered state the committed one, so that a crash during
	 * later appends cannot resurrect the tail cut here. */
	if (fsync(t->afd) < 0)
		return -errno;
	t->synced = len;
	return manifest_commit(t, t->segs, t->nseg);
}

static void tape_free(struct tape *t)
{
	for (unsigned i = 0; i < TAPE_FD_CACHE; i++)
		if (t->rfd[i].fd >= 0)
			close(t->rfd[i].fd);
	for (unsigned i = 0; i < TAPE_IDX_CACHE; i++)
		free(t->idx[i].off);
	if (t->afd >= 0)
		close(t->afd);
	if (t->dirfd >= 0)
		close(t->dirfd); /* releases the flock */
	u64vec_free(&t->aoff);
	u64vec_free(&t->fm);
	free(t->segs);
	pf_free(t);
	wb_free(t);
	/* Scratch held plaintext (compressed, or opened at rest). */
	if (t->cbuf)
		tape_wipe(t->cbuf, TAPE_STORED_MAX);
	if (t->dbuf)
		tape_wipe(t->dbuf, TAPE_STORED_MAX);
	free(t->cbuf);
	free(t->dbuf);
	if (t->ebuf) {
		/* It held plaintext of encrypted records. */
		tape_wipe(t->ebuf, TAPE_STORED_MAX);
		free(t->ebuf);
	}
	tcrypt_free(t->cipher);
	trest_free(t->rest);
	tape_comp_free(t);
	free(t);
}

int tape_open(const char *dir, struct tape **out)
{
	struct tape *t = calloc(1, sizeof(*t));
	int r;

	if (!t)
		return -ENOMEM;
	t->afd = -1;
	for (unsigned i = 0; i < TAPE_FD_CACHE; i++)
		t->rfd[i].fd = -1;
	t->seg_limit =
	    tape_cache_hooks.segment_size ? tape_cache_hooks.segment_size : TAPE_SEGMENT_SIZE;
	pf_drop(t); /* nothing to drop yet: it draws the tape's first generation */
	t->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t->dirfd < 0) {
		r = -errno;
		goto fail;
	}
	/* One owner at a time: a second open (another drive, vtlctl) would
	 * append behind the first one's back. */
	if (flock(t->dirfd, LOCK_EX | LOCK_NB) < 0) {
		r = errno == EWOULDBLOCK ? -EBUSY : -errno;
		goto fail;
	}
	r = manifest_load(t);
	if (r < 0)
		goto fail;
	collect_garbage(t);

	/* Filemarks of the sealed segments, from their sidecars. */
	for (size_t i = 0; i + 1 < t->nseg; i++) {
		r = idx_read_fm(t, &t->segs[i], &t->fm);
		if (r == -EBADMSG || r == -ENOENT) {
			struct u64vec o = {0};

			r = tape_seg_rebuild(t, i, &o, &t->fm);
			u64vec_free(&o);
		}
		if (r < 0)
			goto fail;
	}
	r = open_active(t);
	if (r < 0)
		goto fail;
	*out = t;
	return 0;
fail:
	tape_free(t);
	return r;
}

int tape_close(struct tape *t)
{
	int r;

	if (!t)
		return 0;
	r = tape_flush(t);
	tape_free(t);
	return r;
}

/* ---- state ----------------------------------------------------------- */

const struct tape_info *tape_get_info(const struct tape *t)
{
	return &t->info;
}

int tape_set_write_protect(struct tape *t, bool wp)
{
	bool old = t->info.write_protect;
	int r;

	t->info.write_protect = wp;
	r = commit(t);
	if (r < 0)
		t->info.write_protect = old;
	return r;
}

int tape_count_load(struct tape *t)
{
	int r;

	t->info.load_count++;
	r = commit(t);
	if (r < 0)
		t->info.load_count--;
	return r;
}

static struct attr_slot *attr_find(const struct tape *t, uint16_t id)
{
	for (size_t i = 0; i < t->nattr; i++)
		if (t->attrs[i].id == id)
			return (struct attr_slot *)&t->attrs[i];
	return NULL;
}

int tape_get_attr(const struct tape *t, uint16_t id, void *buf, size_t cap, size_t *len)
{
	const struct attr_slot *a = attr_find(t, id);

	if (!a)
		return -ENOENT;
	if (buf && cap)
		memcpy(buf, a->val, cap < a->len ? cap : a->len);
	if (len)
		*len = a->len;
	return 0;
}

/* Apply one change to the sorted attribute array. */
static int attr_apply(struct tape *t, const struct tape_attr *a)
{
	size_t i = 0;

	while (i < t->nattr && t->attrs[i].id < a->id)
		i++;
	bool present = i < t->nattr && t->attrs[i].id == a->id;

	if (a->len == 0) {
		if (present) {
			memmove(&t->attrs[i], &t->attrs[i + 1],
				(t->nattr - i - 1) * sizeof(t->attrs[0]));
			t->nattr--;
		}
		return 0;
	}
	if (!present) {
		if (t->nattr == TAPE_ATTR_MAX)
			return -ENOSPC;
		memmove(&t->attrs[i + 1], &t->attrs[i], (t->nattr - i) * sizeof(t->attrs[0]));
		t->nattr++;
	}
	t->attrs[i].id = a->id;
	t->attrs[i].len = a->len;
	memset(t->attrs[i].val, 0, sizeof(t->attrs[i].val));
	memcpy(t->attrs[i].val, a->val, a->len);
	return 0;
}

int tape_set_attrs(struct tape *t, const struct tape_attr *a, size_t n)
{
	struct attr_slot *saved;
	size_t saved_n = t->nattr;
	int r = 0;

	for (size_t i = 0; i < n; i++)
		if (a[i].len > TAPE_ATTR_MAX_LEN || (a[i].len && !a[i].val))
			return -EINVAL;
	saved = malloc(sizeof(t->attrs));
	if (!saved)
		return -ENOMEM;
	memcpy(saved, t->attrs, sizeof(t->attrs));
	for (size_t i = 0; i < n && r == 0; i++)
		r = attr_apply(t, &a[i]);
	/* One commit for the lot: the manifest carries the attributes. */
	if (r == 0)
		r = commit(t);
	if (r < 0) {
		memcpy(t->attrs, saved, sizeof(t->attrs));
		t->nattr = saved_n;
	}
	free(saved);
	return r;
}

void tape_set_segment_size(struct tape *t, uint64_t bytes)
{
	t->seg_limit = bytes ? bytes : TAPE_SEGMENT_SIZE;
}

uint64_t tape_used_bytes(const struct tape *t)
{
	const struct seg *a = tape_active(t);

	return a->base + a->len;
}

uint64_t tape_capacity(const struct tape *t)
{
	return t->info.capacity;
}

uint64_t tape_bytes_before_pos(const struct tape *t)
{
	struct tape *mt = (struct tape *)t; /* the index cache fills on demand */
	uint64_t off, end;
	size_t i;

	if (t->pos >= eod_of(t))
		return tape_used_bytes(t);
	if (tape_record_at(mt, t->pos, &i, &off, &end) < 0)
		return t->segs[tape_seg_find(t, t->pos)].base;
	return t->segs[i].base + off;
}

void tape_get_stats(const struct tape *t, struct tape_stats *st)
{
	*st = t->st;
}

/* ---- write --------------------------------------------------------------- */

/*
 * Common preamble of every write: protection, room for `bytes` more stored
 * bytes at the position, then SSC-4 4.2.7 (discard from the position on).
 * Refusals come before the discard, so they leave the medium as it was.
 */
int tape_prepare_write(struct tape *t, uint64_t bytes)
{
	int r = wb_finish(t);

	return r < 0 ? r : tape_prepare_append(t, bytes);
}

/* tape_prepare_write for a record that joins the ones gathered in wc: those
 * are at EOD, and stay there unless the position is before it. */
int tape_prepare_append(struct tape *t, uint64_t bytes)
{
	int r;

	pf_drop(t);
	if (t->info.write_protect)
		return -EROFS;
	if (t->info.at_rest && !t->rest)
		return -EACCES; /* nothing is written clear on it, not even a filemark */
	if (!tape_worm_allows(t, false))
		return -EPERM;
	if (tape_bytes_before_pos(t) + bytes > t->info.capacity)
		return -ENOSPC;
	/* Back-pressure: the cache is full of data not yet in the store.
	 * Commit what was written so that it can be uploaded, then wait. */
	if (tape_cache_hooks.room && bytes &&
	    tape_cache_hooks.room(tape_cache_hooks.arg, t->info.barcode, bytes, false) < 0) {
		r = tape_flush(t);
		if (r < 0)
			return r;
		tape_cache_hooks.room(tape_cache_hooks.arg, t->info.barcode, bytes, true);
	}
	if (t->pos < eod_of(t)) {
		r = wb_finish(t);
		return r < 0 ? r : truncate_at(t, t->pos);
	}
	return 0;
}

/*
 * Drive encryption, then encryption at rest, of what would be stored for
 * the block of object obj (len bytes for the host; *payload, *stored and
 * *flags as tape_compress() left them): updated to what is stored. The output
 * goes to the scratch buffers the payload is not in.
 */
int tape_encrypt_payload(struct tape *t, uint64_t obj, uint32_t len, const void **payload,
			 uint32_t *stored, uint8_t *flags)
{
	uint32_t ov = tcrypt_overhead(t->cipher);
	int r;

	if (ov) {
		/* Compress then encrypt, as LTO drives do (encrypted data
		 * does not compress). */
		r = tape_scratch(&t->ebuf);
		if (r < 0)
			return r;
		*flags |= REC_ENCRYPTED;
		r = tcrypt_seal(t->cipher, obj, len, *flags, *payload, *stored, t->ebuf);
		if (r < 0)
			return r;
		*payload = t->ebuf;
		*stored += ov;
	}
	if (t->info.at_rest) {
		/* Then encryption at rest of what would be stored, with the
		 * header's first 24 bytes (type, flags, object number,
		 * lengths) as AAD: the CRC then covers the ciphertext. */
		uint8_t *out;
		struct rec_hdr h = {.type = REC_BLOCK,
				    .flags = (uint8_t)(*flags | REC_AT_REST),
				    .obj = obj,
				    .len = len,
				    .stored = *stored + TAPE_AT_REST_OVERHEAD};
		uint8_t aad[REC_HDR_LEN];

		r = tape_scratch(&t->cbuf);
		if (r == 0)
			r = tape_scratch(&t->ebuf);
		if (r < 0)
			return r;
		out = *payload == t->cbuf ? t->ebuf : t->cbuf;
		rec_encode(aad, &h);
		r = trest_seal(t->rest, aad, *payload, *stored, out);
		if (r < 0)
			return r;
		*flags = h.flags;
		*payload = out;
		*stored = h.stored;
	}
	return 0;
}

int tape_write(struct tape *t, const void *buf, uint32_t len)
{
	const void *payload;
	uint32_t stored, crc;
	uint8_t flags;
	int r;

	if (len == 0 || len > TAPE_MAX_BLOCK || !buf)
		return -EINVAL;
	r = wb_finish(t);
	if (r < 0)
		return r;
	tape_compress(t, buf, len, &payload, &stored, &flags);
	uint32_t ov = tcrypt_overhead(t->cipher);
	uint32_t rest_ov = t->info.at_rest ? TAPE_AT_REST_OVERHEAD : 0;
	r = tape_prepare_write(t, REC_HDR_LEN + (uint64_t)stored + ov + rest_ov);
	if (r < 0)
		return r;
	/* The record's object number is the position: tape_prepare_write made
	 * it EOD. */
	r = tape_encrypt_payload(t, t->pos, len, &payload, &stored, &flags);
	if (r < 0)
		return r;
	crc = crc32c(payload, stored);
	r = append_record(t, REC_BLOCK, flags, len, payload, stored, crc);
	if (r < 0)
		return r;
	t->pos++;
	t->st.blocks_written++;
	t->st.bytes_written_host += len;
	t->st.bytes_written_stored += stored;
	return 0;
}

/*
 * Filemarks are appended in runs, one system call per run of headers
 * rather than one per filemark: WRITE FILEMARKS may ask for 16777215 of
 * them (SSC-4 6.9, a 24-bit count), which one at a time held the drive
 * for about a minute. Each run is what append_record would have written
 * filemark by filemark: it stays inside the active segment's limits,
 * sealing first when the segment is full, and records every offset and
 * filemark in the same vectors.
 */
static int append_filemarks(struct tape *t, uint32_t count)
{
	enum { RUN = 4096 };
	uint8_t *buf = malloc((size_t)RUN * REC_HDR_LEN);
	uint32_t done = 0;
	int r = buf ? 0 : -ENOMEM;

	while (r == 0 && done < count) {
		struct seg *a = tape_active(t);

		if (a->nobj > 0 && (t->shared || a->len + REC_HDR_LEN > t->seg_limit ||
				    a->nobj >= TAPE_SEG_MAX_OBJ)) {
			r = seal(t);
			if (r < 0)
				break;
			a = tape_active(t);
		}
		uint64_t fit = a->len < t->seg_limit ? (t->seg_limit - a->len) / REC_HDR_LEN : 0;
		if (fit > TAPE_SEG_MAX_OBJ - a->nobj)
			fit = TAPE_SEG_MAX_OBJ - a->nobj;
		if (fit == 0)
			fit = 1; /* a new segment takes a record whatever its limit */
		uint64_t n = count - done;
		if (n > fit)
			n = fit;
		if (n > RUN)
			n = RUN;
		size_t pushed = 0;
		for (uint64_t i = 0; i < n; i++) {
			struct rec_hdr h = {.type = REC_FILEMARK, .obj = a->first + a->nobj + i};

			rec_encode(buf + i * REC_HDR_LEN, &h);
			r = u64vec_push(&t->aoff, a->len + i * REC_HDR_LEN);
			if (r == 0) {
				r = u64vec_push(&t->fm, h.obj);
				if (r < 0)
					t->aoff.n--;
			}
			if (r < 0)
				break;
			pushed++;
		}
		struct iovec iov = {buf, (size_t)n * REC_HDR_LEN};
		if (r == 0)
			r = tape_pwritev_all(t->afd, &iov, 1, a->len);
		if (r < 0) {
			t->aoff.n -= pushed;
			t->fm.n -= pushed;
			break;
		}
		a->len += n * REC_HDR_LEN;
		a->nobj += n;
		t->dirty = true;
		t->pos += n;
		done += (uint32_t)n;
		tape_kick_writeback(t);
	}
	free(buf);
	return r;
}

int tape_write_filemarks(struct tape *t, uint32_t count)
{
	int r = tape_prepare_write(t, (uint64_t)REC_HDR_LEN * count);

	return r < 0 ? r : append_filemarks(t, count);
}

bool tape_worm_allows(const struct tape *t, bool erase)
{
	uint64_t eod = eod_of(t), p = t->pos;

	if (!t->info.worm || p >= eod)
		return true;
	if (erase || p == 0)
		return false;
	/* Objects p - 1 .. EOD - 1 all filemarks: fm is sorted, unique and
	 * holds every filemark before EOD. */
	return t->fm.n - u64vec_lower(&t->fm, p - 1) == eod - (p - 1);
}

int tape_erase(struct tape *t)
{
	if (!t->info.write_protect && !tape_worm_allows(t, true))
		return -EPERM;
	int r = tape_prepare_write(t, 0);

	return r < 0 ? r : tape_flush(t);
}

int tape_set_crypto(struct tape *t, const struct tape_key *enc, const struct tape_key *dec,
		    enum tape_decrypt mode)
{
	int r = wb_finish(t); /* sealed under the keys being replaced */

	if (r < 0)
		return r;
	pf_drop(t); /* it was opened under the keys being replaced */
	return tcrypt_set(&t->cipher, enc, dec, mode);
}

int tape_set_data_key(struct tape *t, const uint8_t key[TAPE_KEY_LEN])
{
	struct tape_rest *was = t->rest;
	uint64_t first = 0;
	uint32_t len;
	enum tape_obj kind;
	int r;

	if (!t->info.at_rest)
		return -EINVAL;
	r = wb_finish(t);
	if (r < 0)
		return r;
	pf_drop(t);
	t->rest = NULL;
	r = trest_set(&t->rest, key);
	if (r < 0) {
		t->rest = was;
		return r;
	}
	/* Check it on the first block, if any: the tag fails under another
	 * key (a damaged record fails its CRC first and says nothing). */
	while (first < t->fm.n && t->fm.v[first] == first)
		first++;
	if (first < eod_of(t)) {
		uint64_t pos = t->pos;
		struct tape_stats st = t->st;

		t->pos = first;
		r = tape_read(t, NULL, 0, &len, &kind);
		t->pos = pos;
		t->st = st; /* a check, not a read the host made */
		if (r == -EBADMSG && t->rest_tag_failed) {
			trest_free(t->rest);
			t->rest = was;
			return -EKEYREJECTED;
		}
	}
	trest_free(was);
	return 0;
}

bool tape_has_data_key(const struct tape *t)
{
	return t->rest != NULL;
}

int tape_flush(struct tape *t)
{
	return t->dirty ? commit(t) : 0;
}
