/*
 * drive_worker.h - one thread per tape drive that does, off the commands'
 * path, the work a drive does in the background: the write of the block a
 * WRITE left behind in buffered mode (ssc_write_behind) and the read-ahead
 * of the next blocks after a READ (ssc_readahead), both for cartridges
 * encrypted at rest, whose AES-GCM pass is what they move off the path
 * (docs/design.md, "Write-behind and read-ahead of records encrypted at
 * rest"). scsi/ owns no thread; this is the library's.
 */
#ifndef VTL_DRIVE_WORKER_H
#define VTL_DRIVE_WORKER_H

#include <stddef.h>

#include "scsi/spc.h"

struct drive_workers;

/* Start a thread for each of the n drives and give each drive its kick.
 * 0 or a negative errno (then none is left running). */
int dw_start(struct drive_workers **out, struct scsi_dev *drives, size_t n);
/* Take the kicks back and stop and join the threads; NULL is a no-op.
 * Before the drives are destroyed. */
void dw_stop(struct drive_workers *dw);

#endif
