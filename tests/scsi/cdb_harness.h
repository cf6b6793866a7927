/*
 * cdb_harness.h - running CDBs against a real scsi_dev in a test.
 *
 * The SCSI suites (tests/scsi/test_spc.c, test_ssc.c) and the library ones
 * (tests/vtl/test_library.c, tests/catalog/test_catalog.c) all build a
 * scsi_cmd from CDB bytes, hand it to spc_dispatch() as a frontend would,
 * and check status and sense. This is the one place that does it, so a
 * check means the same thing in every suite. Nothing is mocked: the command
 * runs on the device object vtld itself uses.
 */
#ifndef VTL_TESTS_CDB_HARNESS_H
#define VTL_TESTS_CDB_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scsi/spc.h"

/* A CDB written inline: CDB(INQUIRY, 0, 0, 0, 255, 0) expands to the bytes
 * and their count, the two arguments cdb_exec() takes. */
#define CDB(...) (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__})

/* Zero c and fill it with a command from nexus: the CDB, the data-out
 * buffer (out, out_len) and room for data-in (in, in_cap). */
void cdb_fill(struct scsi_cmd *c, uint64_t nexus, const uint8_t *cdb, size_t len, const void *out,
	      uint32_t out_len, void *in, uint32_t in_cap);

/* cdb_fill(), then spc_dispatch() on dev. */
void cdb_exec(struct scsi_dev *dev, struct scsi_cmd *c, uint64_t nexus, const uint8_t *cdb,
	      size_t len, const void *out, uint32_t out_len, void *in, uint32_t in_cap);

/* The sense key, ASC/ASCQ, flags (FILEMARK, EOM, ILI) and INFORMATION of a
 * completed command. cdb_asc() is 0 for GOOD; cdb_info() fails the test if
 * INFORMATION is not valid. */
uint8_t cdb_key(const struct scsi_cmd *c);
uint16_t cdb_asc(const struct scsi_cmd *c);
uint8_t cdb_flags(const struct scsi_cmd *c);
int64_t cdb_info(const struct scsi_cmd *c);

/* Fail the test unless the command completed GOOD, or CHECK CONDITION with
 * this sense key and ASC/ASCQ. */
void cdb_assert_good(const struct scsi_cmd *c);
void cdb_assert_sense(const struct scsi_cmd *c, uint8_t key, uint16_t asc);

/* Fail the test unless the sense-key specific field pointer (SPC-4
 * 4.5.2.4.2, fixed or descriptor format) is valid and points at byte of
 * the CDB (in_cdb) or of the parameter list, and at bit; bit < 0 means the
 * bit pointer must not be valid. */
void cdb_assert_field(const struct scsi_cmd *c, bool in_cdb, uint16_t byte, int bit);

/* Pop the unit attentions pending for nexus with TEST UNIT READY until the
 * answer is something else. cdb_saw_ua() tells whether asc_ascq was among
 * them. */
void cdb_drain_ua(struct scsi_dev *dev, uint64_t nexus);
bool cdb_saw_ua(struct scsi_dev *dev, uint64_t nexus, uint16_t asc_ascq);

#endif
