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

/* Statements kept prepared (cat_prepare): more than the catalog's
 * distinct statements, so that none is ever prepared twice. */
#define CAT_STMT_CACHE 128

struct cat_stmt_slot {
	const char *sql; /* the string literal the statement was prepared from */
	sqlite3_stmt *st;
	bool busy; /* handed out, not yet given back by cat_release */
};

struct cat {
	sqlite3 *db;
	/* cat_batch_begin: one outer transaction is open; cat_begin and its
	 * kin then make savepoints inside it. */
	bool batch;
	struct cat_stmt_slot stmts[CAT_STMT_CACHE];
	size_t n_stmts;
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
/*
 * The statement of sql, prepared once per connection and kept: parsing and
 * planning a statement cost more than running the small ones the catalog
 * mostly runs (a quarter of `tape create --count 10000` before). sql must
 * be a string literal: the cache knows a statement by the literal's
 * address. A statement already handed out and not given back (the same
 * query nested in itself) is prepared anew for the nested user. Returns a
 * SQLite result code, as sqlite3_prepare_v2 does.
 */
int cat_prepare(struct cat *c, const char *sql, sqlite3_stmt **st);
/* Give st back: reset, its bindings cleared, kept for the next
 * cat_prepare of its text (finalized when it is not a kept one). NULL is
 * allowed. */
void cat_release(struct cat *c, sqlite3_stmt *st);

#endif
