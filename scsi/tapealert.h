/*
 * tapealert.h - TapeAlert flags kept by a logical unit and the log pages
 * that report them: the TapeAlert log page 2Eh of a tape drive (SSC-4
 * 8.2.5 and its annex of flags 01h-40h) and of a media changer (SMC-3
 * annex "TapeAlert", flags 01h-20h for libraries), and the TEST FLAG
 * NUMBER of the Informational Exceptions Control mode page (1Ch) that
 * sets or clears a flag on request (TapeAlert specification 3, as drives
 * document it: HP/Quantum DDS and DAT SCSI manuals, Tandberg SLR, Oracle
 * SL150).
 *
 * Flags are a uint64_t with flag n in bit n-1. The 2Eh page clears them
 * once a host has read it in full (the read-and-clear model of the TapeAlert
 * specification); nothing here locks: callers hold dev->lock.
 */
#ifndef VTL_TAPEALERT_H
#define VTL_TAPEALERT_H

#include <stdint.h>

/* Changer flags (SMC-3 annex; Veeam's "Tape Changer Alerts" lists the
 * same table). */
enum {
	TA_LIB_INVENTORY = 0x18,	 /* inconsistent media inventory */
	TA_LIB_ILLEGAL_OPERATION = 0x19, /* an operation invalid at this time */
};

/* The TEST FLAG NUMBER that sets every supported flag. */
#define TAPEALERT_TEST_ALL 0x7fff

void tapealert_raise(uint64_t *flags, unsigned n);

/* Flags as the 64-bit fields of VPD B2h, MAM 0002h and log page 12h
 * carry them: flag 1 in the most significant bit. */
uint64_t tapealert_msb_first(uint64_t flags);

/*
 * The TapeAlert log page 2Eh with parameters 0001h..n_flags, one byte
 * each, into buf (cap bytes: what the host asked for, spc_log_page).
 * Returns the page's full length; when the host gets all of it (cap >=
 * length) the flags are cleared.
 */
uint32_t tapealert_log_page(uint64_t *flags, unsigned n_flags, uint8_t *buf, uint32_t cap);

/*
 * A TEST FLAG NUMBER (Informational Exceptions Control page bytes 8-11
 * with TEST=1): 1..64 sets flag n, -1..-64 clears it, 7FFFh sets every
 * flag in `supported`. Returns 0, or -EINVAL for any other number or a
 * flag beyond n_flags.
 */
int tapealert_test(uint64_t *flags, uint64_t supported, unsigned n_flags, int32_t number);

#endif
