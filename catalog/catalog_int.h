/*
 * catalog_int.h - the catalog connection, shared by the files of catalog/
 * only (catalog.c: tapes and library; catalog_upl.c: the uploader's
 * tables). Nothing outside catalog/ includes it.
 */
#ifndef VTL_CATALOG_INT_H
#define VTL_CATALOG_INT_H

#include <sqlite3.h>

struct cat {
	sqlite3 *db;
};

#endif
