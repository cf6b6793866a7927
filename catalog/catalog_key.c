/*
 * catalog_key.c - the tape_keys table (see catalog_key.h): one row per
 * tape with a data key, written in one statement each, so that a rotation
 * killed at any instant leaves every row naming the master that wraps
 * the key it holds.
 */
#include "config.h"

#include "catalog_key.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "catalog_int.h"

#define TAPE_ID "(SELECT id FROM tapes WHERE barcode = ?1)"

static int known(struct cat *c, const char *barcode)
{
	sqlite3_stmt *st;
	int rc = cat_prepare(c, "SELECT 1 FROM tapes WHERE barcode = ?1", &st);
	if (rc != SQLITE_OK)
		return cat_sq_err(rc);
	sqlite3_bind_text(st, 1, barcode, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	cat_release(c, st);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? -ENOENT : cat_sq_err(rc);
}

int cat_key_set(struct cat *c, const char *barcode, const char *wrapped, const char *master_id)
{
	if (!wrapped[0] || strlen(wrapped) >= CAT_WRAPPED_MAX ||
	    strlen(master_id) != CAT_MASTER_ID_MAX - 1)
		return -EINVAL;
	/* An unknown barcode would make TAPE_ID NULL, and a NULL INTEGER
	 * PRIMARY KEY takes the next rowid: another tape's, perhaps. */
	int rc = known(c, barcode);
	if (rc)
		return rc;
	sqlite3_stmt *st;
	rc = cat_prepare(c,
			 "INSERT OR REPLACE INTO tape_keys (tape, wrapped, master_id) "
			 "VALUES (" TAPE_ID ", ?2, ?3)",
			 &st);
	if (rc != SQLITE_OK)
		return cat_sq_err(rc);
	sqlite3_bind_text(st, 1, barcode, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, wrapped, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, master_id, -1, SQLITE_TRANSIENT);
	rc = cat_step_done(st);
	cat_release(c, st);
	return rc;
}

static void row_of(sqlite3_stmt *st, struct cat_key_row *r)
{
	memset(r, 0, sizeof(*r));
	cat_copy_text(r->barcode, sizeof(r->barcode), sqlite3_column_text(st, 0));
	cat_copy_text(r->wrapped, sizeof(r->wrapped), sqlite3_column_text(st, 1));
	cat_copy_text(r->master_id, sizeof(r->master_id), sqlite3_column_text(st, 2));
}

int cat_key_get(struct cat *c, const char *barcode, struct cat_key_row *out)
{
	sqlite3_stmt *st;
	int rc = cat_prepare(c,
			     "SELECT t.barcode, k.wrapped, k.master_id FROM tape_keys k "
			     "JOIN tapes t ON t.id = k.tape WHERE t.barcode = ?1",
			     &st);
	if (rc != SQLITE_OK)
		return cat_sq_err(rc);
	sqlite3_bind_text(st, 1, barcode, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		row_of(st, out);
	cat_release(c, st);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? -ENOENT : cat_sq_err(rc);
}

int cat_key_list(struct cat *c, const char *except_master, struct cat_key_row **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	sqlite3_stmt *st;
	int rc = cat_prepare(c,
			     "SELECT t.barcode, k.wrapped, k.master_id FROM tape_keys k "
			     "JOIN tapes t ON t.id = k.tape "
			     "WHERE (?1 IS NULL OR k.master_id != ?1) AND t.state != 'DELETED' "
			     "ORDER BY t.barcode",
			     &st);
	if (rc != SQLITE_OK)
		return cat_sq_err(rc);
	if (except_master)
		sqlite3_bind_text(st, 1, except_master, -1, SQLITE_TRANSIENT);
	size_t cap = 0, k = 0;
	struct cat_key_row *v = NULL;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (k == cap) {
			size_t ncap = cap ? 2 * cap : 16;
			struct cat_key_row *nv = realloc(v, ncap * sizeof(*v));
			if (!nv) {
				rc = SQLITE_NOMEM;
				break;
			}
			v = nv;
			cap = ncap;
		}
		row_of(st, &v[k++]);
	}
	cat_release(c, st);
	if (rc != SQLITE_DONE) {
		free(v);
		return cat_sq_err(rc);
	}
	*out = v;
	*n = k;
	return 0;
}

int cat_key_shred(struct cat *c, const char *barcode)
{
	sqlite3_stmt *st;
	int rc =
	    sqlite3_prepare_v2(c->db,
			       "DELETE FROM tape_keys WHERE tape = "
			       "(SELECT id FROM tapes WHERE barcode = ?1 AND state = 'DELETED')",
			       -1, &st, NULL);
	if (rc != SQLITE_OK)
		return cat_sq_err(rc);
	sqlite3_bind_text(st, 1, barcode, -1, SQLITE_TRANSIENT);
	rc = cat_step_done(st);
	sqlite3_finalize(st);
	return rc;
}
