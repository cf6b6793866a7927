/*
 * catalog_upl.c - the uploader's tables (see catalog_upl.h; schema in the
 * migration 2 of catalog.c).
 *
 * The rows are the uploader's memory across a crash: a part is recorded
 * only after the store acknowledged it with its ETag, and an object only
 * after CompleteMultipartUpload and a HEAD check, so the catalog never
 * claims more than the store holds. It may claim less (a part sent just
 * before a kill -9 and not recorded is sent again once).
 */
#include "config.h"

#include "catalog_upl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog_int.h"

static int sq(int rc)
{
	switch (rc) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return 0;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_CONSTRAINT:
		return -EINVAL;
	default:
		return -EIO;
	}
}

static void text(char *dst, size_t cap, sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);
	snprintf(dst, cap, "%s", s ? (const char *)s : "");
}

/* Prepare sql (a string literal: cat_prepare) with the tape id of barcode
 * bound as ?1. */
static int prep(struct cat *c, const char *sql, const char *barcode, sqlite3_stmt **st)
{
	int rc = cat_prepare(c, sql, st);
	if (rc != SQLITE_OK)
		return sq(rc);
	sqlite3_bind_text(*st, 1, barcode, -1, SQLITE_TRANSIENT);
	return 0;
}

#define TAPE_ID "(SELECT id FROM tapes WHERE barcode = ?1)"

/* 0 if the catalog knows barcode (a live tape or a deleted one's
 * tombstone), else -ENOENT. Every writer asks first: with an unknown
 * barcode TAPE_ID is NULL, and a NULL stored into upl_tapes.tape, an
 * INTEGER PRIMARY KEY, becomes the next free rowid (SQLite, "ROWIDs and
 * the INTEGER PRIMARY KEY"), which may well be another tape's id: the
 * generation and state would land on that tape. Tapes are never deleted
 * (catalog.h), so the answer cannot change before the write. */
static int known(struct cat *c, const char *barcode)
{
	sqlite3_stmt *st;
	int rc = prep(c, "SELECT 1 FROM tapes WHERE barcode = ?1", barcode, &st);
	if (rc)
		return rc;
	rc = sqlite3_step(st);
	cat_release(c, st);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? -ENOENT : sq(rc);
}

static int run(struct cat *c, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	cat_release(c, st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : sq(rc);
}

int cat_upl_segs(struct cat *c, const char *barcode, struct cat_upl_seg **out, size_t *n)
{
	sqlite3_stmt *st;
	int rc = prep(
	    c,
	    "SELECT s.seg, s.part_size, s.valid, s.upload_id, s.object_size, "
	    "s.object_etag, (SELECT COALESCE(SUM(size), 0) FROM upl_parts p WHERE "
	    "p.tape = s.tape AND p.seg = s.seg), (SELECT COUNT(*) FROM upl_parts p "
	    "WHERE p.tape = s.tape AND p.seg = s.seg) FROM upl_segments s WHERE s.tape = " TAPE_ID
	    " ORDER BY s.seg",
	    barcode, &st);
	if (rc)
		return rc;
	size_t cap = 8, k = 0;
	struct cat_upl_seg *v = malloc(cap * sizeof(*v));
	while (v && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (k == cap) {
			struct cat_upl_seg *nv = realloc(v, 2 * cap * sizeof(*v));
			if (!nv) {
				free(v);
				v = NULL;
				break;
			}
			v = nv;
			cap *= 2;
		}
		struct cat_upl_seg *s = &v[k++];
		memset(s, 0, sizeof(*s));
		s->seg = (uint64_t)sqlite3_column_int64(st, 0);
		s->part_size = (uint64_t)sqlite3_column_int64(st, 1);
		s->valid = (uint64_t)sqlite3_column_int64(st, 2);
		text(s->upload_id, sizeof(s->upload_id), st, 3);
		s->object_size = (uint64_t)sqlite3_column_int64(st, 4);
		text(s->object_etag, sizeof(s->object_etag), st, 5);
		s->parts_bytes = (uint64_t)sqlite3_column_int64(st, 6);
		s->parts = (uint32_t)sqlite3_column_int(st, 7);
	}
	cat_release(c, st);
	if (!v)
		return -ENOMEM;
	if (rc != SQLITE_DONE) {
		free(v);
		return sq(rc);
	}
	*out = v;
	*n = k;
	return 0;
}

int cat_upl_seg_put(struct cat *c, const char *barcode, const struct cat_upl_seg *s)
{
	int rc = known(c, barcode);
	if (rc)
		return rc;
	rc = sq(sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL));
	if (rc)
		return rc;
	sqlite3_stmt *st;
	/* A new upload id invalidates the parts of the previous one. */
	rc = prep(c,
		  "DELETE FROM upl_parts WHERE tape = " TAPE_ID " AND seg = ?2 AND "
		  "(SELECT COALESCE(upload_id, '') FROM upl_segments WHERE tape = " TAPE_ID
		  " AND seg = ?2) != ?3",
		  barcode, &st);
	if (!rc) {
		sqlite3_bind_int64(st, 2, (sqlite3_int64)s->seg);
		sqlite3_bind_text(st, 3, s->upload_id, -1, SQLITE_STATIC);
		rc = run(c, st);
	}
	if (!rc)
		rc = prep(
		    c,
		    "INSERT INTO upl_segments (tape, seg, part_size, valid, upload_id, "
		    "object_size, object_etag) VALUES (" TAPE_ID
		    ", ?2, ?3, ?4, NULLIF(?5, ''), ?6, ?7) ON CONFLICT (tape, seg) DO UPDATE SET "
		    "part_size = excluded.part_size, valid = excluded.valid, upload_id = "
		    "excluded.upload_id, object_size = excluded.object_size, object_etag = "
		    "excluded.object_etag",
		    barcode, &st);
	if (!rc) {
		sqlite3_bind_int64(st, 2, (sqlite3_int64)s->seg);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)s->part_size);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)s->valid);
		sqlite3_bind_text(st, 5, s->upload_id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 6, (sqlite3_int64)s->object_size);
		sqlite3_bind_text(st, 7, s->object_etag, -1, SQLITE_STATIC);
		rc = run(c, st);
	}
	if (!rc)
		rc = sq(sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL));
	if (rc)
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

int cat_upl_seg_delete(struct cat *c, const char *barcode, uint64_t seg)
{
	sqlite3_stmt *st;
	int rc =
	    prep(c, "DELETE FROM upl_segments WHERE tape = " TAPE_ID " AND seg = ?2", barcode, &st);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 2, (sqlite3_int64)seg);
	return run(c, st);
}

/* One transaction, as catalog_upl.h promises: a crash between the two
 * deletes would leave a tape with no segments but the manifest generation
 * and store state of objects that are gone from the store. */
int cat_upl_tape_forget(struct cat *c, const char *barcode)
{
	int rc = sq(sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL));
	if (rc)
		return rc;
	sqlite3_stmt *st;
	rc = prep(c, "DELETE FROM upl_segments WHERE tape = " TAPE_ID, barcode, &st);
	if (!rc)
		rc = run(c, st);
	if (!rc)
		rc = prep(c, "DELETE FROM upl_tapes WHERE tape = " TAPE_ID, barcode, &st);
	if (!rc)
		rc = run(c, st);
	if (!rc)
		rc = sq(sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL));
	if (rc)
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

int cat_upl_parts(struct cat *c, const char *barcode, uint64_t seg, struct cat_upl_part **out,
		  size_t *n)
{
	sqlite3_stmt *st;
	int rc = prep(c,
		      "SELECT number, size, etag FROM upl_parts WHERE tape = " TAPE_ID
		      " AND seg = ?2 ORDER BY number",
		      barcode, &st);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 2, (sqlite3_int64)seg);
	size_t cap = 16, k = 0;
	struct cat_upl_part *v = malloc(cap * sizeof(*v));
	while (v && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (k == cap) {
			struct cat_upl_part *nv = realloc(v, 2 * cap * sizeof(*v));
			if (!nv) {
				free(v);
				v = NULL;
				break;
			}
			v = nv;
			cap *= 2;
		}
		v[k].number = sqlite3_column_int(st, 0);
		v[k].size = (uint64_t)sqlite3_column_int64(st, 1);
		text(v[k].etag, sizeof(v[k].etag), st, 2);
		k++;
	}
	cat_release(c, st);
	if (!v)
		return -ENOMEM;
	if (rc != SQLITE_DONE) {
		free(v);
		return sq(rc);
	}
	*out = v;
	*n = k;
	return 0;
}

int cat_upl_part_add(struct cat *c, const char *barcode, uint64_t seg, const struct cat_upl_part *p)
{
	sqlite3_stmt *st;
	int rc = known(c, barcode);
	if (rc)
		return rc;
	rc = prep(c,
		  "INSERT OR REPLACE INTO upl_parts (tape, seg, number, size, etag) VALUES "
		  "(" TAPE_ID ", ?2, ?3, ?4, ?5)",
		  barcode, &st);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 2, (sqlite3_int64)seg);
	sqlite3_bind_int(st, 3, p->number);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)p->size);
	sqlite3_bind_text(st, 5, p->etag, -1, SQLITE_STATIC);
	return run(c, st);
}

/* The tape rows of barcode in v[0..n) (sorted), appended when missing:
 * both queries below come in barcode order, so it is the last or new. */
static struct cat_upl_tape_rows *rows_for(struct cat_upl_tape_rows **v, size_t *n, size_t *cap,
					  const char *barcode)
{
	if (*n && strcmp((*v)[*n - 1].barcode, barcode) == 0)
		return &(*v)[*n - 1];
	if (*n == *cap) {
		size_t nc = *cap ? 2 * *cap : 64;
		struct cat_upl_tape_rows *nv = realloc(*v, nc * sizeof(**v));
		if (!nv)
			return NULL;
		*v = nv;
		*cap = nc;
	}
	struct cat_upl_tape_rows *r = &(*v)[(*n)++];
	memset(r, 0, sizeof(*r));
	snprintf(r->barcode, sizeof(r->barcode), "%s", barcode);
	return r;
}

static int cmp_rows(const void *a, const void *b)
{
	return strcmp(((const struct cat_upl_tape_rows *)a)->barcode,
		      ((const struct cat_upl_tape_rows *)b)->barcode);
}

void cat_upl_all_free(struct cat_upl_tape_rows *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i].segs);
	free(v);
}

int cat_upl_all(struct cat *c, struct cat_upl_tape_rows **out, size_t *n)
{
	struct cat_upl_tape_rows *v = NULL;
	size_t k = 0, cap = 0;
	sqlite3_stmt *st;
	int rc = sq(cat_prepare(
	    c,
	    "SELECT t.barcode, s.seg, s.part_size, s.valid, s.upload_id, s.object_size, "
	    "s.object_etag, (SELECT COALESCE(SUM(size), 0) FROM upl_parts p WHERE "
	    "p.tape = s.tape AND p.seg = s.seg), (SELECT COUNT(*) FROM upl_parts p "
	    "WHERE p.tape = s.tape AND p.seg = s.seg) FROM upl_segments s JOIN tapes t ON "
	    "t.id = s.tape ORDER BY t.barcode, s.seg",
	    &st));
	while (!rc && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		rc = 0;
		char bc[CAT_BARCODE_MAX + 1];
		text(bc, sizeof(bc), st, 0);
		struct cat_upl_tape_rows *r = rows_for(&v, &k, &cap, bc);
		struct cat_upl_seg *ns = r ? realloc(r->segs, (r->nsegs + 1) * sizeof(*ns)) : NULL;
		if (!ns) {
			rc = -ENOMEM;
			break;
		}
		r->segs = ns;
		struct cat_upl_seg *g = &ns[r->nsegs++];
		memset(g, 0, sizeof(*g));
		g->seg = (uint64_t)sqlite3_column_int64(st, 1);
		g->part_size = (uint64_t)sqlite3_column_int64(st, 2);
		g->valid = (uint64_t)sqlite3_column_int64(st, 3);
		text(g->upload_id, sizeof(g->upload_id), st, 4);
		g->object_size = (uint64_t)sqlite3_column_int64(st, 5);
		text(g->object_etag, sizeof(g->object_etag), st, 6);
		g->parts_bytes = (uint64_t)sqlite3_column_int64(st, 7);
		g->parts = (uint32_t)sqlite3_column_int(st, 8);
	}
	if (rc == SQLITE_DONE)
		rc = 0;
	else if (rc > 0)
		rc = sq(rc);
	cat_release(c, st);
	/* Then the tapes' rows, merged in: those with segments are found by
	 * a binary search, the others appended and everything sorted. */
	size_t with_segs = k;
	if (!rc)
		rc = sq(cat_prepare(c,
				    "SELECT t.barcode, u.manifest_gen, u.store_state FROM "
				    "upl_tapes u JOIN tapes t ON t.id = u.tape",
				    &st));
	else
		st = NULL;
	while (!rc && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		rc = 0;
		struct cat_upl_tape_rows key, *r;
		text(key.barcode, sizeof(key.barcode), st, 0);
		r = with_segs ? bsearch(&key, v, with_segs, sizeof(*v), cmp_rows) : NULL;
		if (!r) {
			if (k == cap) {
				size_t nc = cap ? 2 * cap : 64;
				struct cat_upl_tape_rows *nv = realloc(v, nc * sizeof(*v));
				if (!nv) {
					rc = -ENOMEM;
					break;
				}
				v = nv;
				cap = nc;
			}
			r = &v[k++];
			memset(r, 0, sizeof(*r));
			snprintf(r->barcode, sizeof(r->barcode), "%s", key.barcode);
		}
		r->manifest_gen = (uint64_t)sqlite3_column_int64(st, 1);
		text(r->state, sizeof(r->state), st, 2);
	}
	if (rc == SQLITE_DONE)
		rc = 0;
	else if (rc > 0)
		rc = sq(rc);
	cat_release(c, st);
	if (rc) {
		cat_upl_all_free(v, k);
		return rc;
	}
	if (k > with_segs)
		qsort(v, k, sizeof(*v), cmp_rows);
	*out = v;
	*n = k;
	return 0;
}

int cat_upl_tape_get(struct cat *c, const char *barcode, uint64_t *manifest_gen, char *state,
		     size_t cap)
{
	sqlite3_stmt *st;
	int rc = prep(c, "SELECT manifest_gen, store_state FROM upl_tapes WHERE tape = " TAPE_ID,
		      barcode, &st);
	if (rc)
		return rc;
	*manifest_gen = 0;
	if (state && cap)
		state[0] = 0;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*manifest_gen = (uint64_t)sqlite3_column_int64(st, 0);
		if (state)
			text(state, cap, st, 1);
	}
	cat_release(c, st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : sq(rc);
}

int cat_upl_tape_set(struct cat *c, const char *barcode, uint64_t manifest_gen, const char *state)
{
	sqlite3_stmt *st;
	int rc = known(c, barcode);
	if (rc)
		return rc;
	rc = prep(c,
		  "INSERT INTO upl_tapes (tape, manifest_gen, store_state) VALUES (" TAPE_ID
		  ", ?2, ?3) ON CONFLICT (tape) DO UPDATE SET manifest_gen = "
		  "excluded.manifest_gen, store_state = excluded.store_state",
		  barcode, &st);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 2, (sqlite3_int64)manifest_gen);
	sqlite3_bind_text(st, 3, state ? state : "", -1, SQLITE_STATIC);
	return run(c, st);
}

int cat_upl_shelf_get(struct cat *c, const char *barcode, char *cls, size_t cap, bool *known,
		      int64_t *locked_until)
{
	sqlite3_stmt *st;
	int rc = prep(c, "SELECT shelf_class, locked_until FROM upl_tapes WHERE tape = " TAPE_ID,
		      barcode, &st);
	if (rc)
		return rc;
	*known = false;
	*locked_until = 0;
	if (cap)
		cls[0] = 0;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*known = sqlite3_column_type(st, 0) != SQLITE_NULL;
		text(cls, cap, st, 0);
		*locked_until = sqlite3_column_int64(st, 1);
	}
	cat_release(c, st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : sq(rc);
}

int cat_upl_shelf_set(struct cat *c, const char *barcode, const char *cls, int64_t locked_until)
{
	sqlite3_stmt *st;
	int rc = prep(
	    c, "UPDATE upl_tapes SET shelf_class = ?2, locked_until = ?3 WHERE tape = " TAPE_ID,
	    barcode, &st);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 2, cls, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, locked_until);
	rc = run(c, st);
	if (!rc && sqlite3_changes(c->db) == 0)
		rc = -ENOENT;
	return rc;
}

int cat_upl_reclass_due(struct cat *c, const char *default_class, bool object_lock,
			char (**out)[CAT_BARCODE_MAX + 1], size_t *n)
{
	sqlite3_stmt *st;
	*out = NULL;
	*n = 0;
	int rc = cat_prepare(
	    c,
	    "SELECT t.barcode FROM tapes t JOIN upl_tapes u ON u.tape = t.id "
	    "LEFT JOIN pools p ON p.name = t.pool WHERE t.state = 'ARCHIVED' AND "
	    "(u.shelf_class IS NULL OR u.shelf_class != COALESCE(NULLIF(p.storage_class, ''), "
	    "NULLIF(?1, ''), 'STANDARD') OR (?2 AND t.lock_mode != 'none' AND "
	    "t.retain_until > u.locked_until)) ORDER BY t.barcode",
	    &st);
	if (rc != SQLITE_OK)
		return sq(rc);
	sqlite3_bind_text(st, 1, default_class ? default_class : "", -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, object_lock ? 1 : 0);
	size_t cap = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			void *p = realloc(*out, ncap * sizeof(**out));
			if (!p) {
				rc = SQLITE_NOMEM;
				break;
			}
			*out = p;
			cap = ncap;
		}
		text((*out)[(*n)++], CAT_BARCODE_MAX + 1, st, 0);
	}
	cat_release(c, st);
	if (rc != SQLITE_DONE) {
		free(*out);
		*out = NULL;
		*n = 0;
		return rc == SQLITE_NOMEM ? -ENOMEM : sq(rc);
	}
	return 0;
}

int cat_upl_totals(struct cat *c, const char *barcode, struct cat_upl_totals *t)
{
	memset(t, 0, sizeof(*t));
	struct cat_upl_seg *s;
	size_t n;
	int rc = cat_upl_segs(c, barcode, &s, &n);
	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++) {
		uint64_t up = s[i].upload_id[0] ? s[i].parts_bytes : s[i].object_size;
		if (up > s[i].valid)
			up = s[i].valid;
		t->valid += s[i].valid;
		t->uploaded += up;
		if (s[i].upload_id[0] || s[i].object_size < s[i].valid ||
		    (s[i].valid == 0 && !s[i].object_etag[0]))
			t->pending++;
	}
	free(s);
	return cat_upl_tape_get(c, barcode, &t->manifest_gen, NULL, 0);
}

int cat_upl_upload_ids(struct cat *c, cat_upl_id_cb cb, void *arg)
{
	sqlite3_stmt *st;
	int rc = cat_prepare(c,
			     "SELECT t.barcode, s.seg, s.upload_id FROM upl_segments s JOIN "
			     "tapes t ON t.id = s.tape WHERE s.upload_id IS NOT NULL",
			     &st);
	if (rc != SQLITE_OK)
		return sq(rc);
	int stop = 0;
	while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW)
		stop = cb(arg, (const char *)sqlite3_column_text(st, 0),
			  (uint64_t)sqlite3_column_int64(st, 1),
			  (const char *)sqlite3_column_text(st, 2));
	cat_release(c, st);
	if (stop)
		return stop;
	return rc == SQLITE_DONE ? 0 : sq(rc);
}
