/*
 * readahead.h - one thread per tape drive that reads the next block of a
 * cartridge encrypted at rest ahead of the host (ssc_set_readahead,
 * tape_prefetch; docs/design.md, "Read-ahead of records encrypted at
 * rest"). scsi/ owns no thread; this is the library's.
 */
#ifndef VTL_READAHEAD_H
#define VTL_READAHEAD_H

#include <stddef.h>

#include "scsi/spc.h"

struct readahead;

/* Start a thread for each of the n drives and give each drive its kick.
 * 0 or a negative errno (then none is left running). */
int ra_start(struct readahead **out, struct scsi_dev *drives, size_t n);
/* Take the kicks back and stop and join the threads; NULL is a no-op.
 * Before the drives are destroyed. */
void ra_stop(struct readahead *ra);

#endif
