/*
 * catalog_pool.c - pools and automatic tape creation (see catalog.h;
 * schema in migration 3 of catalog.c): where archived tapes go, how long
 * they stay locked, and how many blank tapes the library keeps.
 *
 * The catalog keeps its own rules whatever the caller does: a pool a live
 * tape names cannot be deleted, a tape cannot name a pool that does not
 * exist (triggers), and a lock comes with its days (a CHECK).
 */
#include "config.h"

#include "catalog_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Each pool with the count of the live tapes in it. */
#define POOL_COLS                                                                                  \
	"p.name, p.storage_class, p.lock_mode, p.retention_days, p.builtin, p.created, "           \
	"(SELECT COUNT(*) FROM tapes t WHERE t.pool = p.name AND t.state != 'DELETED')"

/* Room in *v (cap elements of size) for element n; false when out of
 * memory (*v unchanged). */
static bool grow(void **v, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return true;
	size_t nc = *cap ? *cap * 2 : 8;
	void *nv = realloc(*v, nc * size);
	if (!nv)
		return false;
	*v = nv;
	*cap = nc;
	return true;
}

static void read_pool(sqlite3_stmt *st, struct cat_pool *p)
{
	memset(p, 0, sizeof(*p));
	cat_copy_text(p->name, sizeof(p->name), sqlite3_column_text(st, 0));
	cat_copy_text(p->storage_class, sizeof(p->storage_class), sqlite3_column_text(st, 1));
	const char *lk = (const char *)sqlite3_column_text(st, 2);
	if (!lk || cat_lock_parse(lk, &p->lock))
		p->lock = CAT_LOCK_NONE;
	p->retention_days = (uint32_t)sqlite3_column_int(st, 3);
	p->builtin = sqlite3_column_int(st, 4) != 0;
	p->created = sqlite3_column_int64(st, 5);
	p->tapes = (uint32_t)sqlite3_column_int(st, 6);
}

int cat_pool_create(struct cat *c, const struct cat_pool *p)
{
	sqlite3_stmt *st;
	if (!p->name[0] || (p->lock == CAT_LOCK_NONE) != (p->retention_days == 0) ||
	    p->retention_days > CAT_RETENTION_MAX_DAYS)
		return -EINVAL;
	int rc = cat_sq_err(cat_prepare(
	    c,
	    "INSERT INTO pools (name, storage_class, lock_mode, retention_days, created) "
	    "SELECT ?1, ?2, ?3, ?4, ?5 WHERE NOT EXISTS "
	    "(SELECT 1 FROM pools WHERE name = ?1 COLLATE NOCASE)",
	    &st));
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, p->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, p->storage_class, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, cat_lock_name(p->lock), -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, (int)p->retention_days);
	sqlite3_bind_int64(st, 5, cat_now_ms());
	rc = cat_step_done(st);
	if (!rc && sqlite3_changes(c->db) == 0)
		rc = -EEXIST;
	cat_release(c, st);
	return rc;
}

int cat_pool_get(struct cat *c, const char *name, struct cat_pool *p)
{
	sqlite3_stmt *st;
	int rc =
	    cat_sq_err(cat_prepare(c, "SELECT " POOL_COLS " FROM pools p WHERE p.name = ?", &st));
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	int r = sqlite3_step(st);
	if (r == SQLITE_ROW)
		read_pool(st, p);
	rc = r == SQLITE_ROW ? 0 : r == SQLITE_DONE ? -ENOENT : cat_sq_err(r);
	cat_release(c, st);
	return rc;
}

int cat_pools(struct cat *c, struct cat_pool **out, size_t *n)
{
	sqlite3_stmt *st;
	struct cat_pool *v = NULL;
	size_t cnt = 0, cap = 0;
	*out = NULL;
	*n = 0;
	int rc = cat_sq_err(cat_prepare(
	    c, "SELECT " POOL_COLS " FROM pools p ORDER BY p.builtin DESC, p.name", &st));
	if (rc)
		return rc;
	int r;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		if (!grow((void **)&v, &cap, cnt, sizeof(*v))) {
			rc = -ENOMEM;
			break;
		}
		read_pool(st, &v[cnt++]);
	}
	cat_release(c, st);
	if (!rc && r != SQLITE_DONE)
		rc = cat_sq_err(r);
	if (rc) {
		free(v);
		return rc;
	}
	*out = v;
	*n = cnt;
	return 0;
}

int cat_pool_delete(struct cat *c, const char *name)
{
	struct cat_pool p;
	sqlite3_stmt *st;
	int rc = cat_begin(c);
	if (rc)
		return rc;
	rc = cat_pool_get(c, name, &p);
	if (!rc && p.builtin)
		rc = -EPERM;
	else if (!rc && p.tapes)
		rc = -EBUSY;
	if (!rc)
		rc = cat_sq_err(cat_prepare(c, "DELETE FROM pools WHERE name = ?", &st));
	if (!rc) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		rc = cat_step_done(st);
		cat_release(c, st);
		/* The trigger's refusal: a policy names it. */
		if (rc == -EINVAL)
			rc = -EBUSY;
	}
	if (!rc)
		rc = cat_commit(c);
	if (rc)
		cat_rollback(c);
	return rc;
}

/* ---- Automatic tape creation --------------------------------------------- */

int cat_autocreate_set(struct cat *c, const struct cat_autocreate *a)
{
	sqlite3_stmt *st;
	if (!a->prefix[0] || a->minimum < 1 || a->minimum > CAT_AUTOCREATE_MAX)
		return -EINVAL;
	int rc = cat_sq_err(cat_prepare(
	    c,
	    "INSERT OR REPLACE INTO autocreate (prefix, pool, media, size, minimum, created) "
	    "VALUES (?, ?, ?, ?, ?, ?)",
	    &st));
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, a->prefix, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, a->pool[0] ? a->pool : "default", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, a->media, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (int64_t)a->size);
	sqlite3_bind_int(st, 5, (int)a->minimum);
	sqlite3_bind_int64(st, 6, a->created ? a->created : cat_now_ms());
	rc = cat_step_done(st);
	cat_release(c, st);
	return rc;
}

int cat_autocreates(struct cat *c, struct cat_autocreate **out, size_t *n)
{
	sqlite3_stmt *st;
	struct cat_autocreate *v = NULL;
	size_t cnt = 0, cap = 0;
	*out = NULL;
	*n = 0;
	int rc = cat_sq_err(cat_prepare(
	    c, "SELECT prefix, pool, media, size, minimum, created FROM autocreate ORDER BY prefix",
	    &st));
	if (rc)
		return rc;
	int r;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		if (!grow((void **)&v, &cap, cnt, sizeof(*v))) {
			rc = -ENOMEM;
			break;
		}
		struct cat_autocreate *a = &v[cnt++];
		memset(a, 0, sizeof(*a));
		cat_copy_text(a->prefix, sizeof(a->prefix), sqlite3_column_text(st, 0));
		cat_copy_text(a->pool, sizeof(a->pool), sqlite3_column_text(st, 1));
		cat_copy_text(a->media, sizeof(a->media), sqlite3_column_text(st, 2));
		a->size = (uint64_t)sqlite3_column_int64(st, 3);
		a->minimum = (uint32_t)sqlite3_column_int(st, 4);
		a->created = sqlite3_column_int64(st, 5);
	}
	cat_release(c, st);
	if (!rc && r != SQLITE_DONE)
		rc = cat_sq_err(r);
	if (rc) {
		free(v);
		return rc;
	}
	*out = v;
	*n = cnt;
	return 0;
}

int cat_autocreate_remove(struct cat *c, const char *prefix)
{
	sqlite3_stmt *st;
	int rc = cat_sq_err(cat_prepare(c, "DELETE FROM autocreate WHERE prefix = ?", &st));
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, prefix, -1, SQLITE_STATIC);
	rc = cat_step_done(st);
	if (!rc && sqlite3_changes(c->db) == 0)
		rc = -ENOENT;
	cat_release(c, st);
	return rc;
}

int cat_autocreate_blank(struct cat *c, const struct cat_autocreate *a, uint32_t *n)
{
	sqlite3_stmt *st;
	int rc = cat_sq_err(cat_prepare(
	    c,
	    "SELECT COUNT(*) FROM tapes WHERE state = 'AVAILABLE' AND element IS NOT NULL "
	    "AND used = 0 AND pool = ?1 AND substr(barcode, 1, length(?2)) = ?2",
	    &st));
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, a->pool, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, a->prefix, -1, SQLITE_STATIC);
	int r = sqlite3_step(st);
	if (r == SQLITE_ROW)
		*n = (uint32_t)sqlite3_column_int(st, 0);
	rc = r == SQLITE_ROW ? 0 : cat_sq_err(r);
	cat_release(c, st);
	return rc;
}
