/*
 * tape_repair.c - rebuild a cartridge's MANIFEST from what survives of it.
 *
 * The manifest is the commit record (docs/medium-format.md), but it is not
 * the only copy of what it says. Every record carries its own object number
 * and CRCs, segment ids only grow, and a write in the middle of the tape
 * always continues in a new segment. So the list of segments can be read
 * back from the segment files themselves:
 *
 *   - walk the segment files in id order; each one's records say where it
 *     starts (its first object) and how far it goes (the complete,
 *     CRC-valid records in sequence from its start);
 *   - a segment that starts at or before the end of what is already chained
 *     is the continuation written after a cut (SSC-4 4.2.7): what was
 *     chained from its first object on is discarded, exactly as the cut
 *     did; one that starts at object 0 is a rewrite from BOT;
 *   - a segment that starts after the end of the chain means its
 *     predecessor stops early on a damaged record: the predecessor is
 *     trusted up to where the next one starts, and the damaged records
 *     read as MEDIUM ERROR (as seg_scan's committed mode steps over them);
 *   - a sealed segment evicted to the object store has no .dat here; its
 *     index sidecar's header (with its own CRC) says where it starts and
 *     ends.
 *
 * The facts no record carries (barcode, serial, media, capacity, load count,
 * host attributes) come from MANIFEST.prev, the generation kept beside it at
 * each commit, else from the caller's hint (the catalog's). The damaged file
 * is kept as MANIFEST.damaged for a person to look at. Nothing here deletes
 * a segment file: those the rebuilt manifest does not name are collected by
 * the next tape_open, as after any crash.
 */
#include "config.h"

#include "tape_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* One segment file found in the directory. */
struct found {
	uint64_t id;
	bool dat, idx;
	uint64_t size;		   /* of the .dat */
	uint64_t first, nobj, len; /* what it holds (valid prefix) */
};

static int cmp_found(const void *a, const void *b)
{
	const struct found *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* Every seg-<id>.dat / .idx of the directory, sorted by id. */
static int list_segments(int dirfd, struct found **out, size_t *n)
{
	struct found *v = NULL;
	size_t cnt = 0, cap = 0;
	struct dirent *de;
	int fd = dup(dirfd), r = 0;
	DIR *d;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	rewinddir(d);
	while ((de = readdir(d))) {
		const char *ext;
		uint64_t id;
		size_t i;

		if (!parse_seg_name(de->d_name, &id, &ext) ||
		    (strcmp(ext, "dat") != 0 && strcmp(ext, "idx") != 0))
			continue;
		for (i = 0; i < cnt && v[i].id != id; i++)
			;
		if (i == cnt) {
			if (cnt == cap) {
				size_t nc = cap ? cap * 2 : 16;
				struct found *nv = realloc(v, nc * sizeof(*v));

				if (!nv) {
					r = -ENOMEM;
					break;
				}
				v = nv;
				cap = nc;
			}
			memset(&v[cnt], 0, sizeof(v[cnt]));
			v[cnt++].id = id;
		}
		if (strcmp(ext, "dat") == 0)
			v[i].dat = true;
		else
			v[i].idx = true;
	}
	closedir(d);
	if (r < 0) {
		free(v);
		return r;
	}
	if (cnt)
		qsort(v, cnt, sizeof(*v), cmp_found);
	*out = v;
	*n = cnt;
	return 0;
}

/* What segment f holds: from its records, or from its sidecar's header
 * when the .dat is gone (evicted). -ENODATA: nothing usable (an empty
 * file, or a first record too damaged to say where it starts). */
static int measure(int dirfd, struct found *f)
{
	struct u64vec off = {0}, fm = {0};
	uint8_t hb[REC_HDR_LEN];
	struct rec_hdr h;
	struct stat sb;
	char name[64];
	int fd, r;

	if (!f->dat)
		return f->idx ? idx_peek(dirfd, f->id, &f->first, &f->nobj, &f->len) : -ENODATA;
	seg_name(name, sizeof(name), f->id, "dat");
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb) < 0) {
		r = -errno;
		goto out;
	}
	f->size = (uint64_t)sb.st_size;
	/* A sealed segment's sidecar says what it holds without reading its
	 * data, when the file still holds all of that. */
	if (f->idx && idx_peek(dirfd, f->id, &f->first, &f->nobj, &f->len) == 0 &&
	    f->len <= f->size && f->len >= f->nobj * REC_HDR_LEN) {
		r = 0;
		goto out;
	}
	r = -ENODATA;
	if (f->size < REC_HDR_LEN || pread(fd, hb, sizeof(hb), 0) != (ssize_t)sizeof(hb) ||
	    rec_decode(hb, &h) < 0) {
		/* A sidecar still says where a sealed segment starts. */
		if (f->size && f->idx && idx_peek(dirfd, f->id, &f->first, &f->nobj, &f->len) == 0)
			r = 0;
		goto out;
	}
	f->first = h.obj;
	r = seg_scan(fd, f->first, 0, 0, true, &off, &fm, &f->len, &f->nobj);
out:
	u64vec_free(&off);
	u64vec_free(&fm);
	close(fd);
	return r;
}

/* The byte offset of object obj in segment s (s->first < obj < its end). */
static int offset_of(int dirfd, const struct seg *s, const struct found *f, uint64_t obj,
		     uint64_t *at)
{
	struct u64vec off = {0}, fm = {0};
	uint64_t len, nobj, *ioff = NULL;
	char name[64];
	int fd, r;

	if (!f->dat) {
		struct tape t = {.dirfd = dirfd};

		r = idx_read_off(&t, s, &ioff);
		if (r == 0)
			*at = ioff[obj - s->first];
		free(ioff);
		return r;
	}
	seg_name(name, sizeof(name), s->id, "dat");
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = seg_scan(fd, s->first, s->len, s->nobj, false, &off, &fm, &len, &nobj);
	close(fd);
	if (r == 0)
		*at = off.v[obj - s->first];
	u64vec_free(&off);
	u64vec_free(&fm);
	return r;
}

/* Chain the segments found into the tape they make (see the top). */
static int chain(int dirfd, struct found *f, size_t nf, struct seg **out, size_t *nout,
		 struct tape_repair *rep)
{
	struct seg *c = calloc(nf + 1, sizeof(*c));
	struct found **src = calloc(nf + 1, sizeof(*src));
	size_t n = 0;
	int r = 0;

	if (!c || !src) {
		free(c);
		free(src);
		return -ENOMEM;
	}
	for (size_t i = 0; i < nf && r == 0; i++) {
		uint64_t end = n ? c[n - 1].first + c[n - 1].nobj : 0;
		bool last = i + 1 == nf;

		r = measure(dirfd, &f[i]);
		if (r == -ENODATA) {
			r = 0;
			/* An empty file: the active segment if it is the newest,
			 * else one created just before a crash, never named. */
			if (last && f[i].dat && f[i].size == 0) {
				f[i].first = end;
				f[i].nobj = f[i].len = 0;
			} else {
				if (f[i].size)
					rep->unplaced++;
				continue;
			}
		}
		if (r < 0)
			break;
		if (f[i].nobj == 0 && !last)
			continue; /* never named, or made empty by a cut at its start */
		if (f[i].first > end && n) {
			/* Its predecessor stops early on damage: trust it up to
			 * here, its file permitting. */
			struct seg *p = &c[n - 1];
			struct found *pf = src[n - 1];
			uint64_t want = f[i].first - p->first;

			if (!pf->dat || pf->size < want * REC_HDR_LEN) {
				r = -EBADMSG;
				break;
			}
			p->nobj = want;
			p->len = pf->size;
			rep->stepped++;
			end = f[i].first;
		} else if (f[i].first > end) {
			r = -EBADMSG; /* nothing says what comes before it */
			break;
		}
		/* A cut at f[i].first: drop what the chain holds from there. */
		while (n && c[n - 1].first >= f[i].first)
			n--;
		if (n && c[n - 1].first + c[n - 1].nobj > f[i].first) {
			uint64_t at = 0;

			r = offset_of(dirfd, &c[n - 1], src[n - 1], f[i].first, &at);
			if (r < 0)
				break;
			c[n - 1].nobj = f[i].first - c[n - 1].first;
			c[n - 1].len = at;
		}
		c[n].id = f[i].id;
		c[n].first = f[i].first;
		c[n].nobj = f[i].nobj;
		c[n].len = f[i].len;
		src[n] = &f[i];
		n++;
	}
	if (r == 0 && (n == 0 || !src[n - 1]->dat)) {
		/* No active segment: a new empty one after the last. */
		char name[64];
		uint64_t id = nf ? f[nf - 1].id + 1 : 1;
		int fd;

		seg_name(name, sizeof(name), id, "dat");
		fd = openat(dirfd, name, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0) {
			r = -errno;
		} else {
			close(fd);
			c[n].id = id;
			c[n].first = n ? c[n - 1].first + c[n - 1].nobj : 0;
			n++;
		}
	}
	free(src);
	if (r < 0) {
		free(c);
		return r;
	}
	*out = c;
	*nout = n;
	return 0;
}

int tape_repair(const char *dir, const struct tape_info *hint, uint64_t min_generation,
		struct tape_repair *rep)
{
	struct tape t, prev;
	struct found *f = NULL;
	struct seg *segs = NULL;
	size_t nf = 0, nseg = 0;
	int r;

	memset(rep, 0, sizeof(*rep));
	memset(&t, 0, sizeof(t));
	memset(&prev, 0, sizeof(prev));
	t.afd = -1;
	t.dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t.dirfd < 0)
		return -errno;
	/* The same lock as tape_open: never under a drive's feet. */
	if (flock(t.dirfd, LOCK_EX | LOCK_NB) < 0) {
		r = errno == EWOULDBLOCK ? -EBUSY : -errno;
		goto out;
	}
	r = manifest_load(&t);
	if (r == 0 || (r != -EBADMSG && r != -ENOENT))
		goto out; /* sound, or not a question of damage (I/O, newer format) */
	rep->cause = r;

	prev.dirfd = t.dirfd;
	if (manifest_load_name(&prev, TAPE_MANIFEST_PREV) == 0) {
		t.info = prev.info;
		memcpy(t.attrs, prev.attrs, sizeof(t.attrs));
		t.nattr = prev.nattr;
		t.generation = prev.generation + 1;
		t.next_id = prev.next_id;
		rep->from_prev = true;
		if (hint && strcmp(hint->barcode, prev.info.barcode) != 0) {
			r = -EBADMSG; /* another tape's file: not ours to mix */
			goto out;
		}
	} else if (hint) {
		t.info = *hint;
		t.nattr = 0;
	} else {
		r = -EBADMSG; /* nothing says which tape this is */
		goto out;
	}
	if (hint) {
		t.info.write_protect = hint->write_protect;
		/* WORM is for life: either source saying so keeps it. */
		t.info.worm = t.info.worm || hint->worm;
		/* So is encryption at rest: a clear manifest over encrypted
		 * records would only make them unreadable. */
		t.info.at_rest = t.info.at_rest || hint->at_rest;
	}
	if (t.generation < min_generation)
		t.generation = min_generation;

	r = list_segments(t.dirfd, &f, &nf);
	if (r == 0)
		r = chain(t.dirfd, f, nf, &segs, &nseg, rep);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < nf; i++)
		if (f[i].id >= t.next_id)
			t.next_id = f[i].id + 1;
	for (size_t i = 0; i < nseg; i++)
		if (segs[i].id >= t.next_id)
			t.next_id = segs[i].id + 1;

	/* Keep the damaged file for a person; the commit replaces nothing. */
	if (rep->cause == -EBADMSG &&
	    renameat(t.dirfd, TAPE_MANIFEST, t.dirfd, TAPE_MANIFEST_BAD) < 0 && errno != ENOENT) {
		r = -errno;
		goto out;
	}
	r = manifest_commit(&t, segs, nseg);
	if (r < 0)
		goto out;
	rep->repaired = true;
	rep->segments = nseg;
	rep->objects = segs[nseg - 1].first + segs[nseg - 1].nobj;
	for (size_t i = 0; i < nseg; i++)
		rep->bytes += segs[i].len;
	snprintf(rep->barcode, sizeof(rep->barcode), "%s", t.info.barcode);
out:
	free(segs);
	free(f);
	free(t.segs);
	free(prev.segs);
	close(t.dirfd); /* releases the lock */
	return r;
}

int tape_probe(const char *dir)
{
	struct dirent *de;
	int found = 0;
	DIR *d = opendir(dir);

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d)) && !found) {
		const char *ext;
		uint64_t id;

		if (strncmp(de->d_name, TAPE_MANIFEST, strlen(TAPE_MANIFEST)) == 0 &&
		    strcmp(de->d_name, TAPE_MANIFEST_TMP) != 0) {
			found = 1;
		} else if (parse_seg_name(de->d_name, &id, &ext) && strcmp(ext, "part") != 0) {
			struct stat sb;

			/* An empty segment is what an unfinished tape_format
			 * leaves; anything in one is somebody's data. */
			if (fstatat(dirfd(d), de->d_name, &sb, 0) < 0 || sb.st_size > 0 ||
			    strcmp(ext, "dat") != 0)
				found = 1;
		}
	}
	closedir(d);
	return found;
}
