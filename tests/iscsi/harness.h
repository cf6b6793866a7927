/*
 * harness.h - a real iSCSI target on 127.0.0.1 (port 0) serving real tape
 * drives (ssc_drive_init, a cartridge made by tape_format in a temporary
 * directory and inserted with ssc_insert), for tests driven by libiscsi.
 *
 * Targets created by th_start():
 *   TH_LIB            LUN 0..n-1 = drive 0..n-1 (multi-LUN: worker threads)
 *   TH_DRIVE(i)       LUN 0 = drive i (single LUN: commands run inline)
 *   TH_CHAP           LUN 0 = drive 0, one-way + mutual CHAP (TH_USER...)
 *   TH_ACL            LUN 0 = drive 0, only TH_INITIATOR_OK may log in
 */
#ifndef VTL_TESTS_ISCSI_HARNESS_H
#define VTL_TESTS_ISCSI_HARNESS_H

#include <iscsi.h> /* libiscsi */
#include <scsi-lowlevel.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iscsi/iscsi.h"

#define TH_MAX_DRIVES	 4
#define TH_LIB		 "iqn.2024-01.test.vtl:library"
#define TH_DRIVE_FMT	 "iqn.2024-01.test.vtl:drive%d"
#define TH_CHAP		 "iqn.2024-01.test.vtl:chap"
#define TH_ACL		 "iqn.2024-01.test.vtl:acl"
#define TH_INITIATOR	 "iqn.2024-01.test.initiator:one"
#define TH_INITIATOR_OK	 "iqn.2024-01.test.initiator:allowed"
#define TH_USER		 "backupuser"
#define TH_SECRET	 "backup-secret-123"
#define TH_MUTUAL_USER	 "vtltarget"
#define TH_MUTUAL_SECRET "target-secret-456"

struct th_options {
	int drives;				/* default 2 */
	uint32_t nop_interval_s, nop_timeout_s; /* default 0: off */
	uint32_t max_recv_data_segment;		/* default: the library default */
	uint32_t first_burst, max_burst;
};

/* Start the server (in this process) with fresh drives and cartridges. */
void th_start(const struct th_options *opt);
void th_stop(void);
struct iscsi_server *th_server(void);
uint16_t th_port(void);
const char *th_portal(void); /* "127.0.0.1:PORT" */
const char *th_drive_iqn(int i);

/* libiscsi context for `target` (NULL: discovery), not yet connected. */
struct iscsi_context *th_context(const char *initiator, const char *target);
/* Connect and log in; returns NULL (and fails the test) on error. */
struct iscsi_context *th_login(const char *target);
void th_logout(struct iscsi_context *iscsi);

/* One SCSI command. dir: SCSI_XFER_NONE / READ / WRITE. */
struct scsi_task *th_cmd(struct iscsi_context *iscsi, int lun, const uint8_t *cdb, int cdb_len,
			 int dir, int xfer, const void *out, size_t out_len);
/* Status of a command (frees the task); -1 if the transport failed. */
int th_status(struct scsi_task *task);

/* Tape helpers on top of th_cmd; they assert GOOD status. */
void th_tur_clear(struct iscsi_context *iscsi, int lun); /* TUR until GOOD */
void th_write6(struct iscsi_context *iscsi, int lun, const void *buf, uint32_t len);
void th_read6(struct iscsi_context *iscsi, int lun, void *buf, uint32_t len);
void th_filemarks(struct iscsi_context *iscsi, int lun, uint32_t n);
void th_rewind(struct iscsi_context *iscsi, int lun);
void th_space(struct iscsi_context *iscsi, int lun, int code, int32_t count);
void th_locate(struct iscsi_context *iscsi, int lun, uint32_t obj);
uint32_t th_read_position(struct iscsi_context *iscsi, int lun);

/* Fill a record with a pattern derived from (seed, i). */
void th_pattern(void *buf, size_t len, uint32_t seed);

/* The records a suite writes to a tape and reads back byte for byte:
 * n records of sizes[i] bytes, contents th_pattern(seed + i), then `big`
 * records of 1 MiB, contents th_pattern(seed + 1000 + i); the writer ends
 * them with a filemark, the reader rewinds first. */
struct th_records {
	const uint32_t *sizes;
	size_t n;
};
void th_records_write(struct iscsi_context *iscsi, int lun, const struct th_records *r,
		      uint32_t seed, int big);
void th_records_verify(struct iscsi_context *iscsi, int lun, const struct th_records *r,
		       uint32_t seed, int big);

/* Run the libiscsi event loop until *done or timeout_ms; false on timeout
 * or error. */
bool th_service_until(struct iscsi_context *iscsi, const volatile int *done, int timeout_ms);

/* Task management (RFC 7143 11.5): function f on lun, for the task of
 * ref_itt and ref_cmdsn (ABORT TASK; 0xffffffff and 0 for the others).
 * The test fails unless the answer comes within 10 s; returns the
 * response (0 function complete, 1 task does not exist, 2 LUN does not
 * exist, 5 not supported). */
uint32_t th_tmf(struct iscsi_context *iscsi, int lun, enum iscsi_task_mgmt_funcs f,
		uint32_t ref_itt, uint32_t ref_cmdsn);

#endif
