/*
 * upload_backlog.c - what of each tape is not yet safe in the object store
 * (upl_tape_backlog; struct backlog in upload_int.h gives the one
 * definition), and the cache pass that evicts the segments which are
 * (vtl/cache.h). `tape show`, `tape list`, the backlog of `vtlctl status`
 * and the cache's accounting and back-pressure all count with it
 * (docs/object-store.md, "Is my data safe?"). The uploader's thread
 * (uploader.c) runs the cache pass each round.
 */
#include "config.h"

#include "upload_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"
#include "library.h"
#include "scsi/tape.h"

/* ---- What is not yet safe in the store ----------------------------------- */

static bool has_local_copy(enum cat_state s)
{
	return s == CAT_AVAILABLE || s == CAT_RETRIEVED || s == CAT_IN_TRANSIT_TO_SHELF;
}

static uint64_t row_safe(const struct cat_upl_seg *r, uint64_t held)
{
	uint64_t safe = r && r->object_etag[0] ? r->object_size : 0;
	if (r && r->upload_id[0] && r->parts_bytes > safe)
		safe = r->parts_bytes; /* a grown object's parts are copied first */
	return safe < held ? safe : held;
}

/* The segments m names against the catalog's rows; dir holds the files. */
static void seg_backlog(const char *dir, const struct manifest *m, const struct cat_upl_seg *rows,
			size_t nrows, struct backlog *b)
{
	for (size_t i = 0; i < m->tm.nseg; i++) {
		const struct cat_upl_seg *row = upl_row_of(rows, nrows, m->tm.segs[i].id);
		uint64_t held = m->tm.segs[i].valid;
		if (i + 1 == m->tm.nseg) {
			/* The active segment: appended to since the manifest. */
			char path[PATH_MAX + 64];
			struct stat sb;
			tape_file_path(dir, TAPE_SEG_DATA, m->tm.segs[i].id, path, sizeof(path));
			if (stat(path, &sb) == 0 && (uint64_t)sb.st_size > held)
				held = (uint64_t)sb.st_size;
		}
		b->held += held;
		b->safe += row_safe(row, held);
		if (!row || row->upload_id[0] || !row->object_etag[0] || row->object_size < held)
			b->uploads++;
	}
}

/* Tape t's backlog (t->used: its used bytes, as the caller knows them). */
void upl_tape_backlog(struct upl *u, const struct cat_tape *t, struct backlog *b)
{
	struct cat_upl_seg *rows = NULL;
	size_t nrows = 0;
	uint64_t gen = 0;
	char sstate[32] = "";
	if (upl_cat_segs(u, t->barcode, &rows, &nrows))
		nrows = 0;
	pthread_mutex_lock(&u->cat_mu);
	cat_upl_tape_get(u->cat, t->barcode, &gen, sstate, sizeof(sstate));
	pthread_mutex_unlock(&u->cat_mu);
	upl_backlog_of(u, t, rows, nrows, gen, sstate, b);
	free(rows);
}

void upl_backlog_of(struct upl *u, const struct cat_tape *t, const struct cat_upl_seg *rows,
		    size_t nrows, uint64_t gen, const char *sstate, struct backlog *b)
{
	char dir[PATH_MAX];
	memset(b, 0, sizeof(*b));
	b->gen = gen;
	b->unclaimed = !nrows && !sstate[0];
	struct manifest m;
	int rc = -ENOENT;
	/* A blank tape never loaded has no medium yet, and nothing to send. */
	if (has_local_copy(t->state) && !t->unmade) {
		lib_tape_dir(u->lib, t->barcode, dir, sizeof(dir));
		rc = upl_man_facts(dir, &m);
	}
	if (rc == 0) {
		seg_backlog(dir, &m, rows, nrows, b);
		/* A retrieved copy of a tape on the shelf apart keeps its
		 * later manifests local (they only count loads). */
		bool shelf_copy =
		    u->shelf_st && t->state != CAT_AVAILABLE && strcmp(sstate, "ARCHIVED") == 0;
		if (!shelf_copy && (m.tm.generation != b->gen || !sstate[0]))
			b->uploads++;
		upl_man_free(&m);
	} else {
		/* No local copy, none yet (being created or downloaded), or a
		 * manifest that cannot be read: the catalog's figures. */
		uint64_t valid = 0;
		for (size_t i = 0; i < nrows; i++) {
			valid += rows[i].valid;
			b->safe += row_safe(&rows[i], rows[i].valid);
			if (rows[i].upload_id[0] || rows[i].object_size < rows[i].valid)
				b->uploads++;
		}
		b->held = has_local_copy(t->state) ? (t->used > valid ? t->used : valid) : b->safe;
		if (rc != -ENOENT && has_local_copy(t->state))
			b->uploads++; /* the manifest, unread */
	}
}

/* ---- The cache ------------------------------------------------------------ */

/* The segments a cache pass may evict, gathered tape by tape. */
struct cands {
	struct vcache_seg *v;
	size_t n, cap;
};

/*
 * Tape t's share of the cache (its rows: the uploader's catalog rows of
 * it): *used, the bytes of its segment files, *pending, those not yet in
 * the store; with c, the segments that may be evicted (sealed, complete
 * and verified in the store, with their index sidecar so that loading and
 * positioning need no download) appended to it.
 */
static void tape_share(struct upl *u, const struct cat_tape *t, const struct cat_upl_tape_rows *tr,
		       uint64_t *used, uint64_t *pending, struct cands *c)
{
	char dir[PATH_MAX];
	struct manifest m;
	*used = *pending = 0;
	if (!has_local_copy(t->state) || t->unmade)
		return; /* no medium here, or none made yet */
	const struct cat_upl_seg *rows = tr ? tr->segs : NULL;
	size_t nrows = tr ? tr->nsegs : 0;
	lib_tape_dir(u->lib, t->barcode, dir, sizeof(dir));
	if (upl_man_facts(dir, &m)) {
		struct backlog b; /* the catalog's figures */
		upl_backlog_of(u, t, rows, nrows, tr ? tr->manifest_gen : 0, tr ? tr->state : "",
			       &b);
		*pending = b.held - b.safe;
		return;
	}
	struct backlog b = {0};
	seg_backlog(dir, &m, rows, nrows, &b);
	*pending = b.held - b.safe;
	for (size_t i = 0; i < m.tm.nseg; i++) {
		char path[PATH_MAX + 64];
		struct stat sb, ib;
		const struct cat_upl_seg *row = upl_row_of(rows, nrows, m.tm.segs[i].id);
		tape_file_path(dir, TAPE_SEG_FETCH, m.tm.segs[i].id, path, sizeof(path));
		/* A fetch from a LOCATE writes the .part from its record
		 * on: count the bytes it holds, not its length. */
		if (stat(path, &sb) == 0) {
			uint64_t held = (uint64_t)sb.st_blocks * 512;
			*used += held < (uint64_t)sb.st_size ? held : (uint64_t)sb.st_size;
		}
		tape_file_path(dir, TAPE_SEG_DATA, m.tm.segs[i].id, path, sizeof(path));
		if (stat(path, &sb))
			continue; /* evicted */
		/* The local store's object is this very file (a hard
		 * link, store_put_file): the cache holds no byte of its
		 * own, and deleting its name would free none. */
		if (sb.st_nlink > 1)
			continue;
		uint64_t size = (uint64_t)sb.st_size;
		bool safe = row && !row->upload_id[0] && row->object_etag[0] &&
			    row->object_size >= m.tm.segs[i].valid;
		*used += size;
		tape_file_path(dir, TAPE_SEG_INDEX, m.tm.segs[i].id, path, sizeof(path));
		/* A read-through fetches from the library's location:
		 * with a shelf apart, only AVAILABLE tapes have all
		 * their objects there. */
		if (!c || !safe || i + 1 >= m.tm.nseg || stat(path, &ib) ||
		    (u->shelf_st && t->state != CAT_AVAILABLE))
			continue;
		if (c->n == c->cap) {
			size_t ncap = c->cap ? 2 * c->cap : 16;
			void *v = realloc(c->v, ncap * sizeof(*c->v));
			if (!v)
				continue;
			c->v = v;
			c->cap = ncap;
		}
		struct vcache_seg *cs = &c->v[c->n++];
		upl_copy_str(cs->dir, sizeof(cs->dir), dir);
		upl_copy_str(cs->barcode, sizeof(cs->barcode), t->barcode);
		cs->seg = m.tm.segs[i].id;
		cs->bytes = size;
		cs->last_use = sb.st_atime > sb.st_mtime ? sb.st_atime : sb.st_mtime;
	}
	upl_man_free(&m);
}

/* Keep tape bc's share in its record and in the sums. A tape with no
 * share gets no record made for it: 10,000 blank tapes cost none. */
static void keep_share(struct upl *u, const char *bc, uint64_t used, uint64_t pending)
{
	struct tape_rec *r = used || pending ? upl_rec_for(u, bc) : upl_rec_find(u, bc);
	if (!r)
		return;
	u->cache_used += used - r->cache_used;
	u->cache_pending += pending - r->cache_pending;
	r->cache_used = used;
	r->cache_pending = pending;
}

static void cache_update(struct upl *u, struct vcache_seg *cand, size_t nc)
{
	uint64_t evicted;
	vcache_update(u->cache, cand, nc, u->cache_used, u->cache_pending, &evicted);
	if (evicted)
		upl_logf(u, 2, "cache: evicted %" PRIu64 " bytes of segments that are in the store",
			 evicted);
}

/*
 * Measure the local cache (segment files of the tapes that have a local
 * copy), list the segments that may be evicted and let the cache evict
 * and reset its write gate (vtl/cache.h). What the cache counts as not
 * yet in the store is the backlog of each tape (upl_tape_backlog), the
 * figure status shows. Each tape's share is kept (struct tape_rec), so
 * that upl_cache_pass_some can measure again only the tapes that changed.
 */
void upl_cache_pass(struct upl *u, const struct cat_tape *tapes, size_t n)
{
	struct cands c = {0};
	/* The uploader's rows of every tape in one read, not a query a tape.
	 * This thread is the one that writes the rows of a tape with a local
	 * copy (upl_sync_tape, upl_forget_deleted; a catalog rebuild adds
	 * rows only for tapes it brings in, which have none), so the rows
	 * read here are the ones a query per tape would read. */
	struct upl_snapshot *snap = upl_snapshot(u);
	if (!snap)
		return; /* the next round measures */
	/* Every share from scratch: a tape gone from the catalog since has
	 * none. */
	for (size_t i = 0; i < u->n_recs; i++)
		u->recs[i].cache_used = u->recs[i].cache_pending = 0;
	u->cache_used = u->cache_pending = 0;
	for (size_t k = 0; k < n; k++) {
		uint64_t used, pending;
		tape_share(u, &tapes[k], upl_snapshot_rows(snap, tapes[k].barcode), &used, &pending,
			   &c);
		keep_share(u, tapes[k].barcode, used, pending);
	}
	upl_snapshot_free(snap);
	cache_update(u, c.v, c.n);
	free(c.v);
}

bool upl_cache_pass_some(struct upl *u, const struct cat_tape *tapes, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		const struct cat_tape *t = &tapes[k];
		struct cat_upl_tape_rows tr = {.barcode = ""};
		uint64_t used, pending;
		/* This tape's rows alone: two queries a tape changed, not a
		 * read of every tape's. */
		if (has_local_copy(t->state) && !t->unmade) {
			if (upl_cat_segs(u, t->barcode, &tr.segs, &tr.nsegs))
				tr.nsegs = 0;
			pthread_mutex_lock(&u->cat_mu);
			cat_upl_tape_get(u->cat, t->barcode, &tr.manifest_gen, tr.state,
					 sizeof(tr.state));
			pthread_mutex_unlock(&u->cat_mu);
		}
		tape_share(u, t, &tr, &used, &pending, NULL);
		free(tr.segs);
		keep_share(u, t->barcode, used, pending);
	}
	/* Over the limit: what to evict may be any tape's segment. */
	if (u->cfg.cache_limit && u->cache_used > u->cfg.cache_limit)
		return false;
	cache_update(u, NULL, 0);
	return true;
}
