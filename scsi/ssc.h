/*
 * ssc.h - a tape drive logical unit (SSC-4) on top of the medium (tape.h).
 *
 * The library model creates one drive per drive LUN and moves cartridges in
 * and out of it; the frontends send commands through spc_dispatch().
 */
#ifndef VTL_SSC_H
#define VTL_SSC_H

#include <stdbool.h>
#include <stdint.h>

#include "spc.h"
#include "tape.h"

enum ssc_vendor {
	SSC_VENDOR_IBM, /* IBM ULT3580-TD5..TD9 */
	SSC_VENDOR_HPE, /* HPE Ultrium 5-SCSI..9-SCSI */
};

struct ssc_config {
	enum tape_media generation; /* drive generation: LTO-5..LTO-9 */
	enum ssc_vendor vendor;
	char serial[33]; /* unit serial number (VPD 0x80), also the DVCID the changer reports */
	uint64_t naa;	 /* NAA designator for VPD 0x83 */
	uint16_t rel_port;
	/* Loads of data cartridges after which the drive asks for cleaning
	 * (TapeAlert 15h, ssc_clean.c); 0: it never does. */
	uint32_t clean_interval;
};

/* What a drive holds, as the changer sees it. */
enum ssc_medium_state {
	SSC_EMPTY,    /* no cartridge */
	SSC_LOADED,   /* threaded and usable */
	SSC_UNLOADED, /* unloaded by LOAD UNLOAD, ready for the picker */
};

/* Make dev a tape drive. */
int ssc_drive_init(struct scsi_dev *dev, const struct ssc_config *cfg);
void ssc_drive_destroy(struct scsi_dev *dev);

/*
 * Insert the cartridge stored in directory `dir` (the changer's MOVE MEDIUM
 * into the drive element, or a test). The drive opens and loads it, raising
 * NOT READY TO READY CHANGE, MEDIUM MAY HAVE CHANGED for every nexus
 * (a unit attention condition, SAM-5; 28h/00h in SPC-4's table of
 * additional sense codes). Returns -EBUSY if a cartridge is present,
 * -EMEDIUMTYPE if the drive cannot read the cartridge's generation (LTO
 * rules: same or one older read-write, two older read-only up to LTO-7),
 * or tape_open()'s error. Takes dev->lock.
 */
int ssc_insert(struct scsi_dev *dev, const char *dir);
/* Does the drive take a cartridge of generation `medium` (the rule
 * above)? 0, or -EMEDIUMTYPE with TapeAlert 0Ch raised as a refused
 * ssc_insert does: asked before the cartridge exists (vtl/library.c makes
 * a blank tape's medium only for a drive that takes it). Takes dev->lock. */
int ssc_takes(struct scsi_dev *dev, enum tape_media medium);

/*
 * ssc_insert() of a cartridge encrypted at rest (tape_info.at_rest,
 * tape_set_data_key): data_key is its data key, which the medium checks
 * against the tape's first block. -ENOKEY when the cartridge is encrypted
 * at rest and data_key is NULL, -EKEYREJECTED when data_key is not its
 * key, -EINVAL when a key is given for a cartridge stored clear; in each
 * case nothing is loaded. ssc_insert(dev, dir) is
 * ssc_insert_keyed(dev, dir, NULL).
 */
int ssc_insert_keyed(struct scsi_dev *dev, const char *dir, const uint8_t *data_key);

/*
 * Insert the cleaning cartridge stored in `dir` (ssc_clean.c): the drive
 * cleans its head, unless `expired` (no cleaning left on it), and holds
 * the cartridge unthreaded, ready for the picker. Medium commands report
 * NOT READY, CLEANING CARTRIDGE INSTALLED until it is removed; TapeAlert
 * reports cleaning media, and expired cleaning media when `expired`.
 * -EBUSY if a cartridge is present, or tape_open()'s error. Takes
 * dev->lock.
 */
int ssc_insert_cleaning(struct scsi_dev *dev, const char *dir, bool expired);

/*
 * Take the cartridge out (the changer's MOVE MEDIUM from the drive element).
 * Refused with -EBUSY unless the host unloaded it (SSC_UNLOADED) or `force`
 * (administrative removal). Returns -ENOENT if empty. Before the cartridge
 * leaves, a block written behind is written and everything is flushed to
 * stable storage; the cartridge stays in the drive, as it was, with -EIO
 * when a block written behind failed and its writer has not been told
 * (ssc_untold_error), or with tape_flush()'s error, so that nothing
 * acknowledged is dropped and the removal can be retried.
 * Takes dev->lock.
 */
int ssc_remove(struct scsi_dev *dev, bool force);

/*
 * Is there a block written behind that failed and whose writer has not
 * been told (a deferred error, SPC-4 4.5.5)? A block still waiting is
 * written first. If so, its error (negative errno) into *err, the logical
 * object number of the first block lost into *block and how many were
 * lost into *count (small blocks gathered and written together are lost
 * together, tape_write_buffered); with `discard` the error is
 * forgotten, so that the writer is never told (the operator's
 * `vtlctl drive unload --force`, which records that it did). Takes
 * dev->lock.
 */
bool ssc_untold_error(struct scsi_dev *dev, bool discard, int *err, uint64_t *block,
		      uint64_t *count);

/*
 * The library unloads the drive itself, as a MOVE MEDIUM out of a drive
 * element does in most libraries (the picker asks the drive to eject):
 * the buffer is written out, the tape rewound and ejected, exactly as
 * LOAD UNLOAD with LOAD=0 (SSC-4 7.2), and the drive reports NOT READY.
 * -EPERM when a host has prevented removal (SPC-4 6.13), -EIO when the
 * buffer cannot be written or a block written behind failed and its
 * writer has not been told yet (its next command gets the deferred
 * error; ssc_untold_error can discard it), 0 when already unloaded or
 * empty.
 * Takes dev->lock.
 */
int ssc_library_unload(struct scsi_dev *dev);

/*
 * The drive's background work on cartridges encrypted at rest (docs/
 * design.md, "Write-behind and read-ahead of records encrypted at rest").
 * scsi/ owns no thread: the library gives the drive kick, which a WRITE
 * that left a block behind and a READ that armed a read-ahead call with
 * dev->lock held, and which must only wake a thread of the caller's (never
 * take dev->lock, never block); that thread then calls ssc_write_behind()
 * and ssc_readahead(). kick NULL: no thread (the default); a block left
 * behind is then written by the next command. These take dev->lock.
 *
 * ssc_readahead() reads the next blocks ahead (a few) if nothing has moved
 * the tape since the READ: each block's place under dev->lock, its read
 * and AES-GCM pass without it, its publication under it again unless the
 * tape moved meanwhile (tape_prefetch_begin). One thread per drive calls
 * it (its job is the drive's).
 */
void ssc_set_worker(struct scsi_dev *dev, void (*kick)(void *arg), void *arg);
unsigned ssc_readahead(struct scsi_dev *dev); /* blocks then read ahead */

/*
 * Write-behind (tape_write_buffered; docs/design.md, "Write-behind of
 * records encrypted at rest"). In buffered mode (SSC-4 8.3.1, mode 1 or 2)
 * a WRITE of a cartridge encrypted at rest returns GOOD with its last
 * block accounted for and not yet encrypted nor written, and calls the
 * same kick; the thread then calls ssc_write_behind(), which takes
 * dev->lock and writes it. Every later command (but INQUIRY, REPORT LUNS
 * and REQUEST SENSE) writes it first if it still waits; a failure is
 * reported to the nexus that wrote it as a deferred error (SPC-4 4.5.5),
 * that command unexecuted. In unbuffered mode (0) a WRITE returns only
 * once its blocks are on the medium, as before.
 */
void ssc_write_behind(struct scsi_dev *dev);

enum ssc_medium_state ssc_state(struct scsi_dev *dev); /* takes dev->lock */

/* Barcode of the cartridge present, or "" (takes dev->lock). */
void ssc_barcode(struct scsi_dev *dev, char out[17]);

/*
 * Stored bytes the cartridge `barcode` uses right now (tape_used_bytes:
 * everything before EOD, written or still buffered), if that cartridge is
 * in the drive; false otherwise. Takes dev->lock briefly, so the library
 * can report live usage of a loaded tape without a catalog write per
 * WRITE.
 */
bool ssc_used_bytes(struct scsi_dev *dev, const char *barcode, uint64_t *used);

#endif
