/*
 * tape_disk.c - the files of a cartridge: record headers, the manifest,
 * the index sidecars and the segment scanner used by recovery and by
 * index rebuilds.
 *
 * Layouts are in docs/medium-format.md. Every multi-byte field is
 * little-endian through be.h's le helpers, and every structure carries a
 * CRC32C, so nothing read from disk is trusted before it is checked. The
 * manifest is the commit record: it is replaced atomically (write a temp
 * file, fsync it, rename over, fsync the directory), so a reader sees
 * either the old or the new one, whole. Index sidecars are caches: written
 * without fsync, rebuilt from the segment whenever they fail a check.
 */
#include "config.h"

#include "tape_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "be.h"
#include "crc32c.h"

/* ---- record header ------------------------------------------------------ */

/*
 *  0 u32 magic      4 u8 type   5 u8 flags (compression, drive encrypted, encrypted
 *                                  at rest)   6 u16 reserved (0)
 *  8 u64 object    16 u32 logical length     20 u32 stored length
 * 24 u32 CRC32C of the stored payload        28 u32 CRC32C of bytes 0..27
 */
void rec_encode(uint8_t out[REC_HDR_LEN], const struct rec_hdr *h)
{
	put_le32(out, REC_MAGIC);
	out[4] = h->type;
	out[5] = h->flags;
	out[6] = 0;
	out[7] = 0;
	put_le64(out + 8, h->obj);
	put_le32(out + 16, h->len);
	put_le32(out + 20, h->stored);
	put_le32(out + 24, h->crc);
	put_le32(out + 28, crc32c(out, 28));
}

int rec_decode(const uint8_t in[REC_HDR_LEN], struct rec_hdr *h)
{
	if (get_le32(in) != REC_MAGIC || get_le32(in + 28) != crc32c(in, 28))
		return -EBADMSG;
	h->type = in[4];
	h->flags = in[5];
	h->obj = get_le64(in + 8);
	h->len = get_le32(in + 16);
	h->stored = get_le32(in + 20);
	h->crc = get_le32(in + 24);
	if (in[6] || in[7] || (h->flags & ~REC_FLAGS))
		return -EBADMSG;
	switch (h->type) {
	case REC_BLOCK: {
		/* What encryption at rest wraps is checked as any payload. */
		uint32_t inner = h->stored;

		if (h->flags & REC_AT_REST) {
			if (inner <= TAPE_AT_REST_OVERHEAD)
				return -EBADMSG;
			inner -= TAPE_AT_REST_OVERHEAD;
		}
		if (h->len == 0 || h->len > TAPE_MAX_BLOCK || inner == 0)
			return -EBADMSG;
		if (h->flags & REC_ENCRYPTED) {
			/* An envelope around the (compressed) data: its own
			 * fields are checked by tcrypt_parse on read. */
			if (inner < ENV_FIXED + ENV_TAG || inner > h->len + TAPE_CRYPT_OVERHEAD_MAX)
				return -EBADMSG;
		} else if (inner > h->len) {
			return -EBADMSG;
		} else if ((h->flags & REC_COMP_MASK) == TAPE_COMP_NONE && inner != h->len) {
			return -EBADMSG;
		}
		if ((h->flags & REC_COMP_MASK) > TAPE_COMP_ZSTD)
			return -EBADMSG;
		return 0;
	}
	case REC_FILEMARK:
		if (h->len || h->stored || h->flags || h->crc)
			return -EBADMSG;
		return 0;
	default:
		return -EBADMSG;
	}
}

/* ---- small helpers ------------------------------------------------------- */

int u64vec_push(struct u64vec *a, uint64_t x)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		uint64_t *v = realloc(a->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		a->v = v;
		a->cap = cap;
	}
	a->v[a->n++] = x;
	return 0;
}

void u64vec_free(struct u64vec *a)
{
	free(a->v);
	a->v = NULL;
	a->n = a->cap = 0;
}

size_t u64vec_lower(const struct u64vec *a, uint64_t x)
{
	size_t lo = 0, hi = a->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (a->v[mid] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void seg_name(char *buf, size_t n, uint64_t id, const char *ext)
{
	snprintf(buf, n, "seg-%016" PRIx64 ".%s", id, ext);
}

static int write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t r = write(fd, p, len);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

static int pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t r = pread(fd, p, len, (off_t)off);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -EBADMSG; /* shorter than its metadata says */
		p += r;
		len -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

int read_file_at(int dirfd, const char *name, size_t max, uint8_t **out, size_t *len)
{
	struct stat sb;
	uint8_t *buf;
	int fd, r;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	if ((uint64_t)sb.st_size > max) {
		close(fd);
		return -EBADMSG;
	}
	buf = malloc(sb.st_size ? (size_t)sb.st_size : 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	r = pread_all(fd, buf, (size_t)sb.st_size, 0);
	close(fd);
	if (r < 0) {
		free(buf);
		return r;
	}
	*out = buf;
	*len = (size_t)sb.st_size;
	return 0;
}

/* ---- manifest ------------------------------------------------------------ */

/*
 *   0 magic "VTLMAN01"   8 u32 version (1 or 2)  12 u32 flags (bit 0 write protect,
 *                                                  bit 1 WORM, bit 2 at rest)
 *  16 u64 generation     24 u64 next segment id
 *  32 u32 media          36 u32 number of segments
 *  40 u64 capacity       48 u64 load count   56 u64 created
 *  64 barcode[24]        88 serial[40]       (NUL padded)
 * 128 segments, 32 bytes each: u64 id, u64 first object, u64 objects,
 *     u64 valid bytes (for the last, active, segment: the commit point)
 * version 2 only: u32 number of host attributes, then each: u16 id,
 *     u16 length (1..TAPE_ATTR_MAX_LEN), the value; ids ascending
 * end u32 CRC32C of everything before it
 *
 * A cartridge without host attributes is written as version 1, so that a
 * reader that predates them still opens it.
 */
#define MAN_MAGIC      "VTLMAN01"
#define MAN_VERSION    1u
#define MAN_VERSION_AT 2u /* with the host attribute section */
#define MAN_HDR	       128u
#define MAN_SEG	       32u
#define MAN_WP	       1u
#define MAN_WORM       2u /* write once: readers before it refuse the manifest */
#define MAN_AT_REST    4u /* encrypted at rest: the same, so none reads it as clear */

/* Bytes of the host attribute section (version 2), 0 when there is none. */
static size_t attr_section_len(const struct tape *t)
{
	size_t n = 0;

	if (t->nattr == 0)
		return 0;
	for (size_t i = 0; i < t->nattr; i++)
		n += 4u + t->attrs[i].len;
	return 4 + n;
}

/* Parse the host attribute section [p, end) into t->attrs; -EBADMSG if it
 * is not exactly a well-formed section. */
static int attr_section_load(struct tape *t, const uint8_t *p, const uint8_t *end)
{
	uint32_t n;

	if (end - p < 4)
		return -EBADMSG;
	n = get_le32(p);
	p += 4;
	if (n == 0 || n > TAPE_ATTR_MAX)
		return -EBADMSG;
	for (uint32_t i = 0; i < n; i++) {
		struct attr_slot *a = &t->attrs[i];

		if (end - p < 4)
			return -EBADMSG;
		a->id = get_le16(p);
		a->len = get_le16(p + 2);
		p += 4;
		if (a->len == 0 || a->len > TAPE_ATTR_MAX_LEN || end - p < a->len ||
		    (i && a->id <= t->attrs[i - 1].id))
			return -EBADMSG;
		memcpy(a->val, p, a->len);
		p += a->len;
	}
	if (p != end)
		return -EBADMSG;
	t->nattr = n;
	return 0;
}

int manifest_commit(struct tape *t, const struct seg *segs, size_t nseg)
{
	size_t alen = attr_section_len(t);
	size_t len = MAN_HDR + nseg * MAN_SEG + alen + 4;
	uint8_t *buf = calloc(1, len), *p;
	int fd, r;

	if (!buf)
		return -ENOMEM;
	memcpy(buf, MAN_MAGIC, 8);
	put_le32(buf + 8, alen ? MAN_VERSION_AT : MAN_VERSION);
	put_le32(buf + 12, (t->info.write_protect ? MAN_WP : 0) | (t->info.worm ? MAN_WORM : 0) |
			       (t->info.at_rest ? MAN_AT_REST : 0));
	put_le64(buf + 16, t->generation + 1);
	put_le64(buf + 24, t->next_id);
	put_le32(buf + 32, (uint32_t)t->info.media);
	put_le32(buf + 36, (uint32_t)nseg);
	put_le64(buf + 40, t->info.capacity);
	put_le64(buf + 48, t->info.load_count);
	put_le64(buf + 56, t->info.created);
	memcpy(buf + 64, t->info.barcode, strnlen(t->info.barcode, sizeof(t->info.barcode) - 1));
	memcpy(buf + 88, t->info.serial, strnlen(t->info.serial, sizeof(t->info.serial) - 1));
	p = buf + MAN_HDR;
	for (size_t i = 0; i < nseg; i++, p += MAN_SEG) {
		put_le64(p, segs[i].id);
		put_le64(p + 8, segs[i].first);
		put_le64(p + 16, segs[i].nobj);
		put_le64(p + 24, segs[i].len);
	}
	if (alen) {
		put_le32(p, (uint32_t)t->nattr);
		p += 4;
		for (size_t i = 0; i < t->nattr; i++) {
			put_le16(p, t->attrs[i].id);
			put_le16(p + 2, t->attrs[i].len);
			memcpy(p + 4, t->attrs[i].val, t->attrs[i].len);
			p += 4u + t->attrs[i].len;
		}
	}
	put_le32(p, crc32c(buf, len - 4));

	fd = openat(t->dirfd, TAPE_MANIFEST_TMP, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	r = write_all(fd, buf, len);
	if (r == 0 && !t->nosync && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r < 0)
		goto out;
	/* The generation being replaced stays as MANIFEST.prev (a second
	 * name of the same inode, so no byte is copied): if the new one is
	 * ever damaged, tape_repair takes the tape's facts from it. A crash
	 * between the unlink and the link only loses that spare. */
	if (unlinkat(t->dirfd, TAPE_MANIFEST_PREV, 0) < 0 && errno != ENOENT) {
		r = -errno;
		goto out;
	}
	if (linkat(t->dirfd, TAPE_MANIFEST, t->dirfd, TAPE_MANIFEST_PREV, 0) < 0 &&
	    errno != ENOENT) {
		r = -errno;
		goto out;
	}
	if (renameat(t->dirfd, TAPE_MANIFEST_TMP, t->dirfd, TAPE_MANIFEST) < 0) {
		r = -errno;
		goto out;
	}
	/* The rename, and the directory entries of new segment files, become
	 * durable with the directory. */
	if (!t->nosync && fsync(t->dirfd) < 0) {
		r = -errno;
		goto out;
	}
	t->generation++;
out:
	free(buf);
	return r;
}

int manifest_load(struct tape *t)
{
	return manifest_load_name(t, TAPE_MANIFEST);
}

int manifest_load_name(struct tape *t, const char *name)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	r = read_file_at(t->dirfd, name, SIZE_MAX, &buf, &len);
	if (r < 0)
		return r;
	r = manifest_decode(t, buf, len);
	free(buf);
	return r;
}

int manifest_decode(struct tape *t, const uint8_t *buf, size_t len)
{
	const uint8_t *p;
	size_t nseg;
	uint32_t flags, version;

	if (len < MAN_HDR + 4 || memcmp(buf, MAN_MAGIC, 8) != 0 ||
	    get_le32(buf + len - 4) != crc32c(buf, len - 4))
		return -EBADMSG;
	version = get_le32(buf + 8);
	if (version != MAN_VERSION && version != MAN_VERSION_AT)
		return -EPROTONOSUPPORT;
	nseg = get_le32(buf + 36);
	flags = get_le32(buf + 12);
	if (nseg == 0 || nseg > (len - MAN_HDR - 4) / MAN_SEG ||
	    (flags & ~(MAN_WP | MAN_WORM | MAN_AT_REST)))
		return -EBADMSG;
	if (version == MAN_VERSION && len != MAN_HDR + nseg * MAN_SEG + 4)
		return -EBADMSG;
	t->nattr = 0;
	if (version == MAN_VERSION_AT &&
	    attr_section_load(t, buf + MAN_HDR + nseg * MAN_SEG, buf + len - 4) < 0)
		return -EBADMSG;

	memset(&t->info, 0, sizeof(t->info));
	t->info.write_protect = flags & MAN_WP;
	t->info.worm = flags & MAN_WORM;
	t->info.at_rest = flags & MAN_AT_REST;
	t->generation = get_le64(buf + 16);
	t->next_id = get_le64(buf + 24);
	t->info.media = (enum tape_media)get_le32(buf + 32);
	t->info.capacity = get_le64(buf + 40);
	t->info.load_count = get_le64(buf + 48);
	t->info.created = get_le64(buf + 56);
	memcpy(t->info.barcode, buf + 64, sizeof(t->info.barcode) - 1);
	memcpy(t->info.serial, buf + 88, sizeof(t->info.serial) - 1);

	t->segs = calloc(nseg, sizeof(*t->segs));
	if (!t->segs)
		return -ENOMEM;
	t->nseg = t->segcap = nseg;
	p = buf + MAN_HDR;
	for (size_t i = 0; i < nseg; i++, p += MAN_SEG) {
		struct seg *s = &t->segs[i];

		s->id = get_le64(p);
		s->first = get_le64(p + 8);
		s->nobj = get_le64(p + 16);
		s->len = get_le64(p + 24);
		s->base = i ? t->segs[i - 1].base + t->segs[i - 1].len : 0;
		/* The invariants of tape_int.h, checked rather than trusted. */
		if (s->id >= t->next_id || (i && s->id <= t->segs[i - 1].id) ||
		    (i && s->first != t->segs[i - 1].first + t->segs[i - 1].nobj) ||
		    (i == 0 && s->first != 0) || (i + 1 < nseg && s->nobj == 0) ||
		    s->len < s->nobj * REC_HDR_LEN)
			return -EBADMSG;
	}
	return 0;
}

/* ---- segment scanner ----------------------------------------------------- */

#define SCAN_BUF (1u << 20)

/* A window over the file, refilled by pread as the scan moves. */
struct reader {
	int fd;
	uint8_t *buf;
	uint64_t boff;
	size_t blen;
};

/* Pointer to [off, off + n) (n <= SCAN_BUF), NULL past end of file. */
static const uint8_t *rd_get(struct reader *rd, uint64_t off, size_t n, int *err)
{
	ssize_t r;

	if (off >= rd->boff && off + n <= rd->boff + rd->blen)
		return rd->buf + (off - rd->boff);
	rd->boff = off;
	rd->blen = 0;
	while (rd->blen < SCAN_BUF) {
		r = pread(rd->fd, rd->buf + rd->blen, SCAN_BUF - rd->blen, (off_t)(off + rd->blen));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			*err = -errno;
			return NULL;
		}
		if (r == 0)
			break;
		rd->blen += (size_t)r;
		if (rd->blen >= n)
			break;
	}
	return rd->blen >= n ? rd->buf : NULL;
}

/* Check a record's payload CRC by streaming it through the window. */
static int payload_ok(struct reader *rd, uint64_t off, const struct rec_hdr *h, int *err)
{
	uint32_t crc = 0;
	uint32_t left = h->stored;

	while (left > 0) {
		size_t n = left < SCAN_BUF ? left : SCAN_BUF;
		const uint8_t *p = rd_get(rd, off, n, err);

		if (!p)
			return 0;
		crc = crc32c_update(crc, p, n);
		off += n;
		left -= (uint32_t)n;
	}
	return crc == h->crc;
}

/* A valid header for an object in [lo, hi) that ends by `end`? */
static int header_at(struct reader *rd, uint64_t off, uint64_t end, uint64_t lo, uint64_t hi,
		     struct rec_hdr *h, int *err)
{
	const uint8_t *p;

	if (off + REC_HDR_LEN > end)
		return 0;
	p = rd_get(rd, off, REC_HDR_LEN, err);
	if (!p || rec_decode(p, h) < 0)
		return 0;
	return h->obj >= lo && h->obj < hi && off + REC_HDR_LEN + h->stored <= end;
}

int seg_scan(int fd, uint64_t first, uint64_t trusted_len, uint64_t trusted_nobj, bool tail,
	     struct u64vec *off, struct u64vec *fm, uint64_t *len, uint64_t *nobj)
{
	const uint64_t committed_len = trusted_len;
	struct reader rd = {.fd = fd};
	uint64_t o = 0, obj = first, end_obj = first + trusted_nobj;
	struct rec_hdr h;
	struct stat sb;
	int err = 0, r = 0;

	/* Never search for headers past the end of the file, whatever the
	 * manifest claims. */
	if (fstat(fd, &sb) < 0)
		return -errno;
	if ((uint64_t)sb.st_size < trusted_len)
		trusted_len = (uint64_t)sb.st_size;
	rd.buf = malloc(SCAN_BUF);
	if (!rd.buf)
		return -ENOMEM;

	/* The committed part: exactly trusted_nobj records in trusted_len. */
	while (obj < end_obj && err == 0) {
		if (header_at(&rd, o, trusted_len, obj, obj + 1, &h, &err)) {
			if ((r = u64vec_push(off, o)) < 0)
				goto out;
			if (h.type == REC_FILEMARK && (r = u64vec_push(fm, obj)) < 0)
				goto out;
			o += REC_HDR_LEN + h.stored;
			obj++;
			continue;
		}
		/* Damaged: find the next valid header of a later object. The
		 * objects in between keep offset `o`, which fails on read. */
		uint64_t bad = o, next = o + 1;

		while (next + REC_HDR_LEN <= trusted_len && err == 0 &&
		       !header_at(&rd, next, trusted_len, obj + 1, end_obj, &h, &err))
			next++;
		if (next + REC_HDR_LEN > trusted_len || err) {
			while (obj < end_obj) {
				if ((r = u64vec_push(off, bad)) < 0)
					goto out;
				obj++;
			}
			o = trusted_len;
			break;
		}
		while (obj < h.obj) {
			if ((r = u64vec_push(off, bad)) < 0)
				goto out;
			obj++;
		}
		o = next;
	}
	if (err) {
		r = err;
		goto out;
	}
	/* A committed part ending early (a damaged last header, a file cut
	 * short) still ends where the manifest says: appends go after it. */
	if (o < committed_len)
		o = committed_len;

	/* The tail written after the commit point: whole records only. */
	while (tail) {
		if (!header_at(&rd, o, UINT64_MAX, obj, obj + 1, &h, &err))
			break;
		if (!payload_ok(&rd, o + REC_HDR_LEN, &h, &err))
			break;
		if ((r = u64vec_push(off, o)) < 0)
			goto out;
		if (h.type == REC_FILEMARK && (r = u64vec_push(fm, obj)) < 0)
			goto out;
		o += REC_HDR_LEN + h.stored;
		obj++;
	}
	if (err) {
		r = err;
		goto out;
	}
	*len = o;
	*nobj = obj - first;
out:
	free(rd.buf);
	return r;
}

/* ---- index sidecar ------------------------------------------------------- */

/*
 *  0 magic "VTLIDX01"   8 u64 segment id   16 u64 first object
 * 24 u64 records (n)   32 u64 filemarks (m)   40 u64 bytes covered
 * 48 u32 CRC32C of the offsets section
 * 52 u32 CRC32C of bytes 0..51 and the filemark section
 * 56 filemarks: m x u64 absolute object numbers, ascending
 *    offsets:   n x u64 byte offset of each record in the segment
 */
#define IDX_MAGIC "VTLIDX01"
#define IDX_HDR	  56u

int idx_write(struct tape *t, const struct seg *s, const uint64_t *off, const uint64_t *fm,
	      size_t nfm)
{
	char name[64], tmp[72];
	uint8_t hdr[IDX_HDR];
	uint8_t *body;
	size_t blen = (nfm + s->nobj) * 8;
	uint32_t hcrc;
	int fd, r;

	body = malloc(blen ? blen : 1);
	if (!body)
		return -ENOMEM;
	for (size_t i = 0; i < nfm; i++)
		put_le64(body + 8 * i, fm[i]);
	for (uint64_t i = 0; i < s->nobj; i++)
		put_le64(body + 8 * (nfm + i), off[i]);
	memcpy(hdr, IDX_MAGIC, 8);
	put_le64(hdr + 8, s->id);
	put_le64(hdr + 16, s->first);
	put_le64(hdr + 24, s->nobj);
	put_le64(hdr + 32, nfm);
	put_le64(hdr + 40, s->len);
	put_le32(hdr + 48, crc32c(body + 8 * nfm, 8 * s->nobj));
	hcrc = crc32c_update(crc32c(hdr, 52), body, 8 * nfm);
	put_le32(hdr + 52, hcrc);

	seg_name(name, sizeof(name), s->id, "idx");
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	fd = openat(t->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	r = write_all(fd, hdr, sizeof(hdr));
	if (r == 0)
		r = write_all(fd, body, blen);
	if (close(fd) < 0 && r == 0)
		r = -errno;
	/* No fsync: a sidecar lost or torn in a crash fails its CRC and is
	 * rebuilt from the segment. */
	if (r == 0 && renameat(t->dirfd, tmp, t->dirfd, name) < 0)
		r = -errno;
	if (r < 0)
		unlinkat(t->dirfd, tmp, 0);
out:
	free(body);
	return r;
}

/* Open a sidecar and check its header against the manifest's segment. */
static int idx_open(struct tape *t, const struct seg *s, uint8_t hdr[IDX_HDR], uint64_t *n,
		    uint64_t *m)
{
	char name[64];
	int fd, r;

	seg_name(name, sizeof(name), s->id, "idx");
	fd = openat(t->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = pread_all(fd, hdr, IDX_HDR, 0);
	if (r == 0 && (memcmp(hdr, IDX_MAGIC, 8) != 0 || get_le64(hdr + 8) != s->id ||
		       get_le64(hdr + 16) != s->first || get_le64(hdr + 24) < s->nobj ||
		       get_le64(hdr + 40) < s->len || get_le64(hdr + 24) > (1ull << 40) ||
		       get_le64(hdr + 32) > get_le64(hdr + 24)))
		r = -EBADMSG;
	if (r < 0) {
		close(fd);
		return r;
	}
	*n = get_le64(hdr + 24);
	*m = get_le64(hdr + 32);
	return fd;
}

int idx_read_fm(struct tape *t, const struct seg *s, struct u64vec *fm)
{
	uint8_t hdr[IDX_HDR], *body = NULL;
	uint64_t n, m, prev = 0;
	size_t start = fm->n;
	int fd, r;

	fd = idx_open(t, s, hdr, &n, &m);
	if (fd < 0)
		return fd;
	body = malloc(m ? m * 8 : 1);
	r = body ? pread_all(fd, body, m * 8, IDX_HDR) : -ENOMEM;
	close(fd);
	if (r == 0 && crc32c_update(crc32c(hdr, 52), body, m * 8) != get_le32(hdr + 52))
		r = -EBADMSG;
	for (uint64_t i = 0; r == 0 && i < m; i++) {
		uint64_t x = get_le64(body + 8 * i);

		if (x < s->first || (i && x <= prev)) {
			r = -EBADMSG;
			break;
		}
		prev = x;
		if (x < s->first + s->nobj)
			r = u64vec_push(fm, x);
	}
	if (r < 0)
		fm->n = start;
	free(body);
	return r;
}

int idx_read_off(struct tape *t, const struct seg *s, uint64_t **out)
{
	uint8_t hdr[IDX_HDR], *body = NULL;
	uint64_t n, m, *off = NULL;
	int fd, r;

	fd = idx_open(t, s, hdr, &n, &m);
	if (fd < 0)
		return fd;
	body = malloc(n ? n * 8 : 1);
	off = malloc(s->nobj ? s->nobj * 8 : 1);
	r = body && off ? pread_all(fd, body, n * 8, IDX_HDR + m * 8) : -ENOMEM;
	close(fd);
	if (r == 0 && crc32c(body, n * 8) != get_le32(hdr + 48))
		r = -EBADMSG;
	for (uint64_t i = 0; r == 0 && i < s->nobj; i++) {
		off[i] = get_le64(body + 8 * i);
		/* Equal neighbours are legal: objects of a damaged stretch
		 * share the offset where the damage starts (seg_scan). */
		if (off[i] >= s->len || (i && off[i] < off[i - 1]))
			r = -EBADMSG;
	}
	free(body);
	if (r < 0) {
		free(off);
		return r;
	}
	*out = off;
	return 0;
}

int idx_peek(int dirfd, uint64_t id, uint64_t *first, uint64_t *nobj, uint64_t *len)
{
	uint8_t hdr[IDX_HDR], *body = NULL;
	char name[64];
	uint64_t m;
	int fd, r;

	seg_name(name, sizeof(name), id, "idx");
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = pread_all(fd, hdr, IDX_HDR, 0);
	m = r == 0 ? get_le64(hdr + 32) : 0;
	if (r == 0 && (memcmp(hdr, IDX_MAGIC, 8) != 0 || get_le64(hdr + 8) != id ||
		       get_le64(hdr + 24) > (1ull << 40) || m > get_le64(hdr + 24)))
		r = -EBADMSG;
	if (r == 0) {
		body = malloc(m ? m * 8 : 1);
		r = body ? pread_all(fd, body, m * 8, IDX_HDR) : -ENOMEM;
	}
	close(fd);
	/* The header CRC covers the filemark section too. */
	if (r == 0 && crc32c_update(crc32c(hdr, 52), body, m * 8) != get_le32(hdr + 52))
		r = -EBADMSG;
	free(body);
	if (r < 0)
		return r;
	*first = get_le64(hdr + 16);
	*nobj = get_le64(hdr + 24);
	*len = get_le64(hdr + 40);
	return 0;
}
