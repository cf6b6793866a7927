/*
 * datadir.h - the layout of vtld's data directory, spelled out here and
 * nowhere else (vtl/datadir.c):
 *
 *   DATA_DIR/catalog.db   the catalog (catalog/catalog.h)
 *   DATA_DIR/tapes/BC     the medium of tape BC (scsi/tape.h): the local
 *                         copy, which the cache (vtl/cache.h) may thin out
 *   DATA_DIR/store        the object store when [store] names no place
 *                         (type local, s3/store_local.c)
 *   DATA_DIR/vtld.lock    held (flock) by the vtld that uses the directory
 *   DATA_DIR/vtld.sock    the control socket, unless configured elsewhere
 *
 * Every directory vtld creates here is private (0700). A path that does
 * not fit is -ENAMETOOLONG, never a cut path: lib_open refuses a data
 * directory so long that a barcode's path would not fit.
 */
#ifndef VTL_DATADIR_H
#define VTL_DATADIR_H

#include <stddef.h>

int datadir_catalog(const char *data_dir, char *buf, size_t cap);
int datadir_tapes(const char *data_dir, char *buf, size_t cap);
int datadir_tape(const char *data_dir, const char *barcode, char *buf, size_t cap);
/* The wrapped data key kept beside a cartridge encrypted at rest:
 * DATA_DIR/tapes/BARCODE/KEY (docs/design.md, "Encryption of cartridges
 * at rest"). */
int datadir_tape_key(const char *data_dir, const char *barcode, char *buf, size_t cap);
int datadir_store(const char *data_dir, char *buf, size_t cap);
int datadir_lock(const char *data_dir, char *buf, size_t cap);
int datadir_socket(const char *data_dir, char *buf, size_t cap);

/* Create DATA_DIR and DATA_DIR/tapes (0700) if missing; err names the
 * directory that could not be made. */
int datadir_make(const char *data_dir, char *err, size_t errlen);

/* Remove a tree (a deleted tape's medium, a failed download); 0 when
 * there is nothing at path. */
int datadir_rm_rf(const char *path);

/* Write text to path (in directory dir) atomically and durably, mode 0600:
 * a temporary file fsynced, renamed over path, dir fsynced. A cartridge's
 * KEY file is written this way. */
int datadir_write_private(const char *dir, const char *path, const char *text);

#endif
