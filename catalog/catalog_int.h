/*
 * catalog_int.h - the catalog connection, shared by the files of catalog/
 * only (catalog.c: tapes and library; catalog_upl.c: the uploader's
 * tables). Nothing outside catalog/ includes it.
 */
#ifndef VTL_CATALOG_INT_H
#define VTL_CATALOG_INT_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "catalog.h"

struct cat {
	sqlite3 *db;
	/* cat_batch_begin: one outer transaction is open; cat_begin and its
	 * kin then make savepoints inside it. */
	bool batch;
};

/* catalog.c's helpers: a SQLite result code as a negative errno; one
 * statement; an IMMEDIATE transaction; the wall clock in ms; a column's
 * text into a buffer; a statement run to its end. */
int cat_sq_err(int rc);
int cat_exec(struct cat *c, const char *sql);
int cat_begin(struct cat *c);
int cat_commit(struct cat *c);
void cat_rollback(struct cat *c);
int64_t cat_now_ms(void);
void cat_copy_text(char *dst, size_t cap, const unsigned char *src);
int cat_step_done(sqlite3_stmt *st);

#endif
