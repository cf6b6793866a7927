/*
 * tape_files.c - a cartridge's files for the layers above the medium: the
 * manifest parsed from memory or from a directory, and the records of a
 * segment run held in memory, checked.
 *
 * vtld's uploader and cache move manifests and segments between the
 * cartridge directory and the object store and verify what comes back;
 * this is how they learn what the bytes say without knowing their layout
 * (docs/medium-format.md). Nothing here decodes on its own: the manifest
 * goes through manifest_decode, the decoder tape_open uses, and each
 * record header through rec_decode, so that a check the medium makes can
 * never be missing from the copy the store holds.
 */
#include "config.h"

#include "tape_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "crc32c.h"

_Static_assert(TAPE_REC_MAX ==
		   TAPE_MAX_BLOCK + REC_HDR_LEN + TAPE_CRYPT_OVERHEAD_MAX + TAPE_AT_REST_OVERHEAD,
	       "TAPE_REC_MAX is header + block + drive envelope + nonce and tag at rest");

/* A manifest longer than this is not one (2^21 segments): refused before
 * it is read into memory. */
#define MANIFEST_MAX (1u << 26)

void tape_manifest_free(struct tape_manifest *m)
{
	free(m->segs);
	memset(m, 0, sizeof(*m));
}

int tape_manifest_parse(const void *buf, size_t len, struct tape_manifest *m)
{
	/* manifest_decode fills a struct tape; only the facts are kept. On
	 * the stack, not the heap: a list of 10,000 tapes parses 10,000. */
	struct tape t;
	int r;

	memset(m, 0, sizeof(*m));
	memset(&t, 0, sizeof(t));
	r = manifest_decode(&t, buf, len);
	if (r == 0) {
		m->segs = calloc(t.nseg, sizeof(*m->segs));
		if (!m->segs)
			r = -ENOMEM;
	}
	if (r == 0) {
		m->generation = t.generation;
		m->info = t.info;
		m->nseg = t.nseg;
		for (size_t i = 0; i < t.nseg; i++) {
			m->segs[i].id = t.segs[i].id;
			m->segs[i].first = t.segs[i].first;
			m->segs[i].objects = t.segs[i].nobj;
			m->segs[i].valid = t.segs[i].len;
		}
	}
	free(t.segs);
	return r;
}

/* A manifest this short is read into the stack by one open and one read:
 * a blank or lightly written tape's (header, a few segments, attributes),
 * what most of a list of thousands of tapes reads. */
#define MANIFEST_SMALL 4096

/* Whole of MANIFEST in dir into buf when it is shorter than buf: 0 and
 * *len; 1 when it is not (read it with read_file_at), or a negative errno. */
static int read_small(const char *dir, uint8_t *buf, size_t cap, size_t *len)
{
	char path[PATH_MAX];
	int fd, r = 0;

	if (snprintf(path, sizeof(path), "%s/%s", dir, TAPE_MANIFEST) >= (int)sizeof(path))
		return 1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	*len = 0;
	while (*len < cap) {
		ssize_t k = read(fd, buf + *len, cap - *len);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			r = -errno;
			break;
		}
		if (k == 0)
			break;
		*len += (size_t)k;
	}
	close(fd);
	return r ? r : *len == cap;
}

int tape_manifest_read(const char *dir, struct tape_manifest *m, void **raw, size_t *rawlen)
{
	uint8_t small[MANIFEST_SMALL], *buf = NULL;
	size_t len = 0;
	int dirfd, r;

	memset(m, 0, sizeof(*m));
	r = read_small(dir, small, sizeof(small), &len);
	if (r < 0)
		return r;
	if (r == 0) {
		r = tape_manifest_parse(small, len, m);
		if (r == 0 && raw) {
			*raw = malloc(len ? len : 1);
			if (!*raw) {
				tape_manifest_free(m);
				return -ENOMEM;
			}
			memcpy(*raw, small, len);
			*rawlen = len;
		}
		return r;
	}
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return -errno;
	r = read_file_at(dirfd, TAPE_MANIFEST, MANIFEST_MAX, &buf, &len);
	close(dirfd);
	if (r < 0)
		return r;
	r = tape_manifest_parse(buf, len, m);
	if (r == 0 && raw) {
		*raw = buf;
		*rawlen = len;
		buf = NULL;
	}
	free(buf);
	return r;
}

uint64_t tape_manifest_bytes(const struct tape_manifest *m)
{
	uint64_t b = 0;

	for (size_t i = 0; i < m->nseg; i++)
		b += m->segs[i].valid;
	return b;
}

int tape_records_prefix(const void *buf, size_t len, size_t *ok)
{
	const uint8_t *p = buf;
	size_t off = 0;
	struct rec_hdr h;

	while (len - off >= REC_HDR_LEN) {
		if (rec_decode(p + off, &h) < 0)
			return -EBADMSG;
		if (len - off - REC_HDR_LEN < h.stored)
			break; /* cut by len: the rest of it is not here yet */
		if (h.stored && crc32c(p + off + REC_HDR_LEN, h.stored) != h.crc)
			return -EBADMSG;
		off += REC_HDR_LEN + h.stored;
	}
	*ok = off;
	return 0;
}

int tape_records_verify(const void *buf, size_t len)
{
	size_t ok;
	int r = tape_records_prefix(buf, len, &ok);

	if (r < 0)
		return r;
	return ok == len ? 0 : -EBADMSG;
}

ssize_t tape_pread_full(int fd, uint8_t *buf, size_t len, uint64_t off)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = pread(fd, buf + got, len - got, (off_t)(off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/*
 * The digest of a segment's first len bytes made of its record headers:
 * SHA-256 over the 32-byte headers in order, each checked by rec_decode
 * (magic, header CRC, fields), the records required to end exactly at len.
 * A header holds the CRC32C of its payload, so the digest changes when any
 * payload changes as the medium's own check sees it, and only the headers
 * are read: one small pread a record, or one 64 KiB read for a run of
 * small ones, instead of every byte.
 */
#define DIGEST_WINDOW (64u * 1024u)

int tape_segment_digest(int fd, uint64_t len, char out[TAPE_DIGEST_LEN + 1])
{
	uint8_t *win = malloc(DIGEST_WINDOW);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint64_t off = 0, woff = 0, wlen = 0, last = 0;
	int rc = 0;

	if (!win || !ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		rc = -ENOMEM;
		goto out;
	}
	while (off < len) {
		struct rec_hdr h;
		if (len - off < REC_HDR_LEN) {
			rc = -EBADMSG;
			goto out;
		}
		if (off < woff || off + REC_HDR_LEN > woff + wlen) {
			/* Records of 64 KiB and more: their header alone. */
			size_t want = last < DIGEST_WINDOW ? DIGEST_WINDOW : REC_HDR_LEN;
			if (want > len - off)
				want = (size_t)(len - off);
			ssize_t n = tape_pread_full(fd, win, want, off);
			if (n < 0) {
				rc = (int)n;
				goto out;
			}
			if ((size_t)n < REC_HDR_LEN) {
				rc = -EBADMSG; /* the file is shorter than len */
				goto out;
			}
			woff = off;
			wlen = (uint64_t)n;
		}
		const uint8_t *hb = win + (off - woff);
		if (rec_decode(hb, &h) < 0 || len - off - REC_HDR_LEN < h.stored) {
			rc = -EBADMSG;
			goto out;
		}
		EVP_DigestUpdate(ctx, hb, REC_HDR_LEN);
		last = REC_HDR_LEN + (uint64_t)h.stored;
		off += last;
	}
	uint8_t d[EVP_MAX_MD_SIZE];
	unsigned int dn = 0;
	EVP_DigestFinal_ex(ctx, d, &dn);
	static const char hex[] = "0123456789abcdef";
	memcpy(out, TAPE_DIGEST_PREFIX, sizeof(TAPE_DIGEST_PREFIX) - 1);
	char *o = out + sizeof(TAPE_DIGEST_PREFIX) - 1;
	for (unsigned i = 0; i < 16; i++) {
		o[2 * i] = hex[d[i] >> 4];
		o[2 * i + 1] = hex[d[i] & 15];
	}
	o[32] = 0;
out:
	EVP_MD_CTX_free(ctx);
	free(win);
	return rc;
}

const char *tape_file_name(enum tape_file f)
{
	switch (f) {
	case TAPE_SEG_DATA:
		return "seg-*.dat";
	case TAPE_SEG_INDEX:
		return "seg-*.idx";
	case TAPE_SEG_FETCH:
		return "seg-*.part";
	case TAPE_FILE_MANIFEST:
		return TAPE_MANIFEST;
	case TAPE_FILE_MANIFEST_PREV:
		return TAPE_MANIFEST_PREV;
	case TAPE_FILE_MANIFEST_DAMAGED:
		return TAPE_MANIFEST_BAD;
	}
	return "?";
}

int tape_file_path(const char *dir, enum tape_file f, uint64_t seg, char *buf, size_t cap)
{
	static const char *const ext[] = {
	    [TAPE_SEG_DATA] = "dat", [TAPE_SEG_INDEX] = "idx", [TAPE_SEG_FETCH] = "part"};
	char name[64];
	int n;

	if (f <= TAPE_SEG_FETCH)
		seg_name(name, sizeof(name), seg, ext[f]);
	else
		snprintf(name, sizeof(name), "%s", tape_file_name(f));
	n = dir ? snprintf(buf, cap, "%s/%s", dir, name) : snprintf(buf, cap, "%s", name);
	if (n < 0 || (size_t)n >= cap) {
		if (cap)
			buf[0] = 0;
		return -ENAMETOOLONG;
	}
	return 0;
}

/* Remove the fetch files of d (closed here). */
static int remove_fetches_in(DIR *d)
{
	struct dirent *de;
	int rc = 0;

	while ((de = readdir(d))) {
		uint64_t id;
		const char *ext;

		if (parse_seg_name(de->d_name, &id, &ext) && strcmp(ext, "part") == 0 &&
		    unlinkat(dirfd(d), de->d_name, 0) && !rc)
			rc = -errno;
	}
	closedir(d);
	return rc;
}

int tape_remove_fetches(const char *dir)
{
	DIR *d = opendir(dir);

	return d ? remove_fetches_in(d) : -errno;
}

int tape_manifest_read_sweep(const char *dir, struct tape_manifest *m, int *swept)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int dirfd, r;

	memset(m, 0, sizeof(*m));
	if (swept)
		*swept = 0;
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return -errno;
	r = read_file_at(dirfd, TAPE_MANIFEST, MANIFEST_MAX, &buf, &len);
	/* The same open lists the directory: one path walk a tape. */
	DIR *d = fdopendir(dirfd);
	int s = d ? remove_fetches_in(d) : -errno;
	if (!d)
		close(dirfd);
	if (swept)
		*swept = s;
	if (r == 0)
		r = tape_manifest_parse(buf, len, m);
	free(buf);
	return r;
}
