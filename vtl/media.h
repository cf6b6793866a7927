/*
 * media.h - the library's cartridges on local disk: finding them and
 * repairing a damaged one (vtl/media.c). No function here takes the
 * library's lock; see media.c for who calls them when.
 */
#ifndef VTL_MEDIA_H
#define VTL_MEDIA_H

#include <stdbool.h>
#include <stddef.h>

#include "library.h"
#include "scsi/tape.h"

/* The cartridge facts the catalog holds of t (its medium's serial is its
 * barcode): what a format writes and what a repair takes as its hint.
 * -EINVAL for an unknown media type (info says LTO-8 then). */
int media_info_of(const struct cat_tape *t, struct tape_info *info);

/* Repair t's medium if its manifest is missing or damaged (logged).
 * 0: nothing to do, 1: repaired, -ENOENT: no medium directory, another
 * negative errno: cannot be repaired (logged). */
int media_repair(struct lib *lib, const struct cat_tape *t);

/* At start: media_repair every tape the catalog holds; a tape whose
 * medium is due here but missing or beyond repair becomes IRRECOVERABLE,
 * and an IRRECOVERABLE one whose medium opens again gets its earlier
 * state back. */
void media_check_all(struct lib *lib);

/* The check of one tape: lib_open's for each tape the catalog puts in a
 * drive, before it loads. */
void media_check_tape(struct lib *lib, const struct cat_tape *t);

/*
 * The same check, spread so that a start does not wait for it: prepare
 * (in lib_open) sets the pass up; start runs a thread that lists the tapes
 * (the one list of every tape, off the path to "ready") and checks them
 * one by one under the library's lock, skipping those in drives; a load of
 * a tape not yet checked, or before the list is made (media_pass_loading,
 * lock held), removes its partial downloads first; over says when every
 * tape has been checked (the uploader waits for it); stop (lib_close) ends
 * the thread.
 */
void media_pass_prepare(struct lib *lib);
void media_pass_start(struct lib *lib);
void media_pass_loading(struct lib *lib, const char *barcode);
bool media_pass_over(struct lib *lib);
void media_pass_stop(struct lib *lib);

/* The state t had before it was marked IRRECOVERABLE (its events say). */
enum cat_state media_state_before(struct lib *lib, const struct cat_tape *t);

/* Count the cartridges under DATA_DIR/tapes (tape_probe); names gets the
 * first few, comma separated. */
int media_scan(const char *data_dir, size_t *count, char *names, size_t cap);

#endif
