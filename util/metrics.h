/*
 * metrics.h - vtld's counters for operators: what Prometheus scrapes
 * (docs/operations.md lists every series and the AWS Tape Gateway
 * CloudWatch metric it matches).
 *
 * The layers count where the events happen, one call per event: the iSCSI
 * target its logins, sessions and commands, the catalog its writes, the
 * object store its GETs and retries, the uploader its parts and errors.
 * Every counter is a C11 atomic updated with relaxed order: a call takes
 * no lock, allocates nothing and never waits, so the data path pays a few
 * atomic additions per command and nothing else. A scrape reads the atomics
 * as they are; two series read in one scrape may be a command apart, which
 * Prometheus's model accepts (each series is its own sample).
 *
 * Labels have bounded values only: the devices registered at start (the
 * changer and the drives, at most MET_MAX_DEVS), a fixed list of opcode
 * classes, the sixteen sense keys, a fixed list of store fault kinds. No
 * barcode, initiator name or object key is ever a label.
 *
 * This module is below every other (util/), so iscsi/, catalog/, s3/ and
 * vtl/ may all call it; it does no I/O. Serving the text over HTTP is
 * vtl/metrics_http.c's; values known only at scrape time (the cache, the
 * tapes by state) are written by a collector vtld registers there.
 */
#ifndef VTL_UTIL_METRICS_H
#define VTL_UTIL_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct scsi_cmd;

/* The changer and up to 64 drives, and one spare. */
#define MET_MAX_DEVS 66

/* ---- Registration (at start, before any frontend runs) ------------------ */

/* Name a device (the changer or a drive) for the labels device="NAME" and
 * lun="LUN"; dev is the frontends' struct scsi_dev pointer, used as a key
 * only. Returns 0, or -ENOSPC past MET_MAX_DEVS. Not thread-safe against
 * itself; safe against the counting calls. */
int met_dev_add(const void *dev, const char *name, uint64_t lun);
/* Forget every device and zero every counter (tests, and vtld's start). */
void met_reset(void);

/* ---- Counting (any thread, lock-free) ----------------------------------- */

/* CLOCK_MONOTONIC in nanoseconds, for the durations counted here. */
static inline uint64_t met_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * A SCSI command finished on dev (NULL or unregistered: counted under
 * device="none"): its opcode class, its status and, for CHECK CONDITION,
 * sense_key; READ and WRITE add their data bytes and `ns` to the drive's
 * read or write totals; every command adds ns to the latency histogram
 * of its class. The frontends (iscsi/conn.c, vtl/tcmu_ring.c) call this
 * once per command, after the device answered.
 */
void met_scsi_cmd(const void *dev, const struct scsi_cmd *cmd, uint8_t sense_key, uint64_t ns);

/* An iSCSI login ended: full feature phase reached (ok) or refused. */
void met_iscsi_login(bool ok);
/* A session began (+1) or ended (-1). */
void met_iscsi_session(int delta);

/* The uploader: bytes acknowledged by the store in parts or whole objects,
 * parts sent, parts copied server-side, objects completed, manifests put. */
void met_upload(uint64_t bytes, unsigned parts, unsigned copied, unsigned objects,
		unsigned manifests);
/* A part started (+1) or ended (-1). */
void met_upload_inflight(int delta);
/* An upload step failed; kind is store_fault_name() or "foreign tape" /
 * "local file" (other strings count as "other"). */
void met_store_error(const char *kind);
/* The S3 client sends a request again after a transient failure. */
void met_store_retry(void);
/* A GET from the object store (ranged or whole) ended: bytes received and
 * how long it took, failed or not. */
void met_store_get(uint64_t bytes, uint64_t ns, bool ok);
/* Bytes the cache fetched back for a drive's read (read-through). */
void met_cache_fetched(uint64_t bytes);

/* The shelf. */
enum met_shelf_op {
	MET_SHELF_ARCHIVED,  /* a tape reached ARCHIVED */
	MET_SHELF_RETRIEVED, /* a tape came back RETRIEVED */
	MET_SHELF_RESTORE,   /* an archive restore was asked of the store */
	MET_SHELF_N,
};
void met_shelf(enum met_shelf_op op);

/* A catalog write became durable (an autocommit write statement, or a
 * COMMIT) after ns. */
void met_catalog_write(uint64_t ns);
/* Catalog rebuild progress: tapes done of total (0 of 0: none running). */
void met_rebuild(uint32_t done, uint32_t total);

/* ---- Reading ------------------------------------------------------------ */

/* iSCSI sessions now (systemd STATUS=, vtlctl). */
int64_t met_iscsi_sessions(void);

struct met_dev_stats {
	char name[32];
	uint64_t lun;
	uint64_t read_bytes, write_bytes, commands;
};
/* The registered devices' totals; returns how many (at most cap). */
size_t met_dev_stats(struct met_dev_stats *out, size_t cap);

/* ---- The text format ---------------------------------------------------- */

/* A growing text buffer; on allocation failure `failed` is set and later
 * writes are dropped. */
struct met_buf {
	char *p;
	size_t len, cap;
	bool failed;
};
void met_buf_printf(struct met_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* # HELP and # TYPE lines of a family (type: "counter", "gauge", ...). */
void met_buf_family(struct met_buf *b, const char *name, const char *type, const char *help);
/* A label value as the exposition format quotes it (backslash, double
 * quote and newline escaped), appended to b. */
void met_buf_label(struct met_buf *b, const char *value);

/* Every family counted here, in the Prometheus text exposition format
 * (version 0.0.4), appended to b. */
void met_render(struct met_buf *b);

#endif
