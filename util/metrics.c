/*
 * metrics.c - the counters of metrics.h and their text exposition.
 *
 * Storage is static: one block of atomics per registered device, one per
 * opcode class histogram, and scalars. Registration writes a device's
 * slot and then publishes the new count with release order; the counting
 * calls read the count with acquire order and look the device up among
 * the published slots, so a frontend that starts after registration always
 * finds its device and never reads a half-written name.
 *
 * Text format: Prometheus exposition format 0.0.4 ("Exposition formats",
 * prometheus.io/docs/instrumenting/exposition_formats): # HELP and # TYPE
 * before each family, histograms as cumulative _bucket{le=...} series with
 * le="+Inf", _sum and _count. Durations are counted in nanoseconds and
 * shown in seconds (the base unit the naming conventions ask for).
 */
#include "config.h"

#include "metrics.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scsi/scsi.h"

typedef _Atomic uint64_t acount;

#define NS_PER_S 1e9

/* ---- Opcode classes ------------------------------------------------------ */

enum op_class {
	CL_READ,
	CL_WRITE,
	CL_FILEMARK,
	CL_POSITION,
	CL_MEDIA,
	CL_STATUS,
	CL_OTHER,
	CL_N,
};

static const char *const class_names[CL_N] = {"read",  "write",	 "filemark", "position",
					      "media", "status", "other"};

/* SSC-4 and SMC-3 share some opcodes: 2Bh is LOCATE(10) on a drive and
 * POSITION TO ELEMENT on a changer (both move a position), 1Bh LOAD UNLOAD
 * and OPEN/CLOSE IMPORT/EXPORT ELEMENT (both move media). */
static enum op_class op_class(uint8_t op)
{
	switch (op) {
	case READ_6:
	case READ_16:
		return CL_READ;
	case WRITE_6:
	case WRITE_16:
		return CL_WRITE;
	case WRITE_FILEMARKS_6:
	case WRITE_FILEMARKS_16:
		return CL_FILEMARK;
	case REWIND:
	case SPACE_6:
	case SPACE_16:
	case LOCATE_10:
	case LOCATE_16:
	case READ_POSITION:
		return CL_POSITION;
	case LOAD_UNLOAD:
	case MOVE_MEDIUM:
	case EXCHANGE_MEDIUM:
	case ERASE_6:
	case ERASE_16:
	case FORMAT_MEDIUM:
	case PREVENT_ALLOW_MEDIUM_REMOVAL:
		return CL_MEDIA;
	case TEST_UNIT_READY:
	case REQUEST_SENSE:
	case INQUIRY:
	case MODE_SENSE_6:
	case MODE_SENSE_10:
	case MODE_SELECT_6:
	case MODE_SELECT_10:
	case LOG_SENSE:
	case LOG_SELECT:
	case READ_BLOCK_LIMITS:
	case READ_ELEMENT_STATUS:
	case INITIALIZE_ELEMENT_STATUS:
	case INITIALIZE_ELEMENT_STATUS_WITH_RANGE:
	case INITIALIZE_ELEMENT_STATUS_WITH_RANGE_STD:
	case REPORT_LUNS:
	case REPORT_DENSITY_SUPPORT:
	case MAINTENANCE_IN:
	case READ_ATTRIBUTE:
	case SERVICE_ACTION_IN_12:
		return CL_STATUS;
	default:
		return CL_OTHER;
	}
}

/* SPC-4 4.5.6, table 28: the sense keys by name (as the label value). */
static const char *const sense_key_names[16] = {
    "NO_SENSE",	      "RECOVERED_ERROR", "NOT_READY",	   "MEDIUM_ERROR",
    "HARDWARE_ERROR", "ILLEGAL_REQUEST", "UNIT_ATTENTION", "DATA_PROTECT",
    "BLANK_CHECK",    "VENDOR_SPECIFIC", "COPY_ABORTED",   "ABORTED_COMMAND",
    "RESERVED_C",     "VOLUME_OVERFLOW", "MISCOMPARE",	   "COMPLETED",
};

/* ---- Histograms ---------------------------------------------------------- */

/* Upper bounds in nanoseconds: 100 us to 60 s, for SCSI commands (a
 * buffered WRITE takes tens of microseconds, a LOCATE over a fetched
 * segment seconds), object-store GETs and catalog commits alike. */
static const uint64_t bounds_ns[] = {
    100000ull,	   500000ull,	   1000000ull,	   5000000ull,	   10000000ull,	  25000000ull,
    50000000ull,   100000000ull,   250000000ull,   500000000ull,   1000000000ull, 2500000000ull,
    5000000000ull, 10000000000ull, 30000000000ull, 60000000000ull,
};
#define NBOUNDS (sizeof(bounds_ns) / sizeof(bounds_ns[0]))

struct hist {
	acount bucket[NBOUNDS + 1]; /* not cumulative; the last is above every bound */
	acount sum_ns, count;
};

static void hist_add(struct hist *h, uint64_t ns)
{
	size_t i = 0;
	while (i < NBOUNDS && ns > bounds_ns[i])
		i++;
	atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_ns, ns, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

/* ---- State --------------------------------------------------------------- */

/* One device's counters, on cache lines of their own so that two drives'
 * threads do not share one. */
struct dev {
	const void *key;
	char name[32];
	uint64_t lun;
	acount commands[CL_N];
	acount checks[16];
	acount read_bytes, write_bytes, read_ns, write_ns;
} __attribute__((aligned(64)));

/* Slot MET_MAX_DEVS: commands for no registered device. */
static struct dev devs[MET_MAX_DEVS + 1] = {[MET_MAX_DEVS] = {.name = "none"}};
static _Atomic size_t n_devs;

static struct hist cmd_hist[CL_N];

static const char *const store_kinds[] = {"transient",	  "certificate", "access",
					  "bucket",	  "space",	 "refused",
					  "foreign tape", "local file",	 "other"};
#define NKINDS (sizeof(store_kinds) / sizeof(store_kinds[0]))

static const char *const shelf_names[MET_SHELF_N] = {"archive", "retrieve", "restore_request"};

static struct {
	acount logins_ok, logins_refused;
	_Atomic int64_t sessions;
	acount up_bytes, up_parts, up_copied, up_objects, up_manifests;
	_Atomic int64_t parts_inflight;
	acount store_errors[NKINDS];
	acount store_retries;
	acount down_bytes, down_failed;
	struct hist down_hist;
	acount fetched_bytes;
	acount shelf[MET_SHELF_N];
	struct hist cat_hist;
	_Atomic uint32_t rebuild_done, rebuild_total;
} m;

void met_reset(void)
{
	atomic_store(&n_devs, 0);
	memset(devs, 0, sizeof(devs));
	memset(cmd_hist, 0, sizeof(cmd_hist));
	memset(&m, 0, sizeof(m));
	snprintf(devs[MET_MAX_DEVS].name, sizeof(devs[MET_MAX_DEVS].name), "none");
}

int met_dev_add(const void *key, const char *name, uint64_t lun)
{
	size_t n = atomic_load_explicit(&n_devs, memory_order_relaxed);
	if (n >= MET_MAX_DEVS)
		return -ENOSPC;
	struct dev *d = &devs[n];
	memset(d, 0, sizeof(*d));
	d->key = key;
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->lun = lun;
	atomic_store_explicit(&n_devs, n + 1, memory_order_release);
	return 0;
}

static struct dev *dev_of(const void *key)
{
	size_t n = atomic_load_explicit(&n_devs, memory_order_acquire);
	for (size_t i = 0; key && i < n; i++)
		if (devs[i].key == key)
			return &devs[i];
	return &devs[MET_MAX_DEVS];
}

/* ---- Counting ------------------------------------------------------------ */

void met_scsi_cmd(const void *dev, const struct scsi_cmd *cmd, uint8_t sense_key, uint64_t ns)
{
	struct dev *d = dev_of(dev);
	enum op_class c = op_class(cmd->cdb[0]);
	atomic_fetch_add_explicit(&d->commands[c], 1, memory_order_relaxed);
	if (cmd->status == SAM_STAT_CHECK_CONDITION)
		atomic_fetch_add_explicit(&d->checks[sense_key & 0x0f], 1, memory_order_relaxed);
	if (c == CL_READ) {
		uint64_t got = cmd->in_len < cmd->in_cap ? cmd->in_len : cmd->in_cap;
		atomic_fetch_add_explicit(&d->read_bytes, got, memory_order_relaxed);
		atomic_fetch_add_explicit(&d->read_ns, ns, memory_order_relaxed);
	} else if (c == CL_WRITE) {
		atomic_fetch_add_explicit(&d->write_bytes, cmd->out_len, memory_order_relaxed);
		atomic_fetch_add_explicit(&d->write_ns, ns, memory_order_relaxed);
	}
	hist_add(&cmd_hist[c], ns);
}

void met_iscsi_login(bool ok)
{
	atomic_fetch_add_explicit(ok ? &m.logins_ok : &m.logins_refused, 1, memory_order_relaxed);
}

void met_iscsi_session(int delta)
{
	atomic_fetch_add_explicit(&m.sessions, delta, memory_order_relaxed);
}

void met_upload(uint64_t bytes, unsigned parts, unsigned copied, unsigned objects,
		unsigned manifests)
{
	atomic_fetch_add_explicit(&m.up_bytes, bytes, memory_order_relaxed);
	atomic_fetch_add_explicit(&m.up_parts, parts, memory_order_relaxed);
	atomic_fetch_add_explicit(&m.up_copied, copied, memory_order_relaxed);
	atomic_fetch_add_explicit(&m.up_objects, objects, memory_order_relaxed);
	atomic_fetch_add_explicit(&m.up_manifests, manifests, memory_order_relaxed);
}

void met_upload_inflight(int delta)
{
	atomic_fetch_add_explicit(&m.parts_inflight, delta, memory_order_relaxed);
}

void met_store_error(const char *kind)
{
	size_t i = 0;
	while (i < NKINDS - 1 && (!kind || strcmp(kind, store_kinds[i])))
		i++;
	atomic_fetch_add_explicit(&m.store_errors[i], 1, memory_order_relaxed);
}

void met_store_retry(void)
{
	atomic_fetch_add_explicit(&m.store_retries, 1, memory_order_relaxed);
}

void met_store_get(uint64_t bytes, uint64_t ns, bool ok)
{
	atomic_fetch_add_explicit(&m.down_bytes, bytes, memory_order_relaxed);
	if (!ok)
		atomic_fetch_add_explicit(&m.down_failed, 1, memory_order_relaxed);
	hist_add(&m.down_hist, ns);
}

void met_cache_fetched(uint64_t bytes)
{
	atomic_fetch_add_explicit(&m.fetched_bytes, bytes, memory_order_relaxed);
}

void met_shelf(enum met_shelf_op op)
{
	if ((unsigned)op < MET_SHELF_N)
		atomic_fetch_add_explicit(&m.shelf[op], 1, memory_order_relaxed);
}

void met_catalog_write(uint64_t ns)
{
	hist_add(&m.cat_hist, ns);
}

void met_rebuild(uint32_t done, uint32_t total)
{
	atomic_store_explicit(&m.rebuild_done, done, memory_order_relaxed);
	atomic_store_explicit(&m.rebuild_total, total, memory_order_relaxed);
}

/* ---- Reading ------------------------------------------------------------- */

static uint64_t rd(acount *a)
{
	return atomic_load_explicit(a, memory_order_relaxed);
}

int64_t met_iscsi_sessions(void)
{
	return atomic_load_explicit(&m.sessions, memory_order_relaxed);
}

size_t met_dev_stats(struct met_dev_stats *out, size_t cap)
{
	size_t n = atomic_load_explicit(&n_devs, memory_order_acquire);
	if (n > cap)
		n = cap;
	for (size_t i = 0; i < n; i++) {
		struct dev *d = &devs[i];
		snprintf(out[i].name, sizeof(out[i].name), "%s", d->name);
		out[i].lun = d->lun;
		out[i].read_bytes = rd(&d->read_bytes);
		out[i].write_bytes = rd(&d->write_bytes);
		out[i].commands = 0;
		for (int c = 0; c < CL_N; c++)
			out[i].commands += rd(&d->commands[c]);
	}
	return n;
}

/* ---- Text ---------------------------------------------------------------- */

void met_buf_printf(struct met_buf *b, const char *fmt, ...)
{
	if (b->failed)
		return;
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		size_t room = b->cap - b->len;
		int n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = true;
			return;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap * 2 : 16384;
		while (cap - b->len <= (size_t)n)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->failed = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
}

void met_buf_family(struct met_buf *b, const char *name, const char *type, const char *help)
{
	met_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void met_buf_label(struct met_buf *b, const char *value)
{
	for (const char *s = value; *s; s++) {
		if (*s == '\\')
			met_buf_printf(b, "\\\\");
		else if (*s == '"')
			met_buf_printf(b, "\\\"");
		else if (*s == '\n')
			met_buf_printf(b, "\\n");
		else
			met_buf_printf(b, "%c", *s);
	}
}

static void hist_render(struct met_buf *b, const char *name, const char *labels, struct hist *h)
{
	uint64_t cum = 0;
	const char *sep = labels[0] ? "," : "";
	for (size_t i = 0; i <= NBOUNDS; i++) {
		cum += rd(&h->bucket[i]);
		if (i < NBOUNDS)
			met_buf_printf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep,
				       (double)bounds_ns[i] / NS_PER_S, (unsigned long long)cum);
		else
			met_buf_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
				       (unsigned long long)cum);
	}
	const char *open = labels[0] ? "{" : "", *close = labels[0] ? "}" : "";
	met_buf_printf(b, "%s_sum%s%s%s %.9f\n", name, open, labels, close,
		       (double)rd(&h->sum_ns) / NS_PER_S);
	/* The count is the buckets' total, so that _count equals the +Inf
	 * bucket in every scrape, as the format requires. */
	met_buf_printf(b, "%s_count%s%s%s %llu\n", name, open, labels, close,
		       (unsigned long long)cum);
}

/* device="NAME",lun="N" of device i (or the slot of unknown devices). */
static void dev_labels(struct met_buf *b, const struct dev *d, bool known)
{
	met_buf_printf(b, "device=\"");
	met_buf_label(b, d->name);
	if (known)
		met_buf_printf(b, "\",lun=\"%llu\"", (unsigned long long)d->lun);
	else
		met_buf_printf(b, "\",lun=\"\"");
}

/* The devices to show: the registered ones, and the slot of commands for
 * no device once it has any. */
static size_t dev_list(struct dev **list)
{
	size_t n = atomic_load_explicit(&n_devs, memory_order_acquire), k = 0;
	for (size_t i = 0; i < n; i++)
		list[k++] = &devs[i];
	struct dev *none = &devs[MET_MAX_DEVS];
	for (int c = 0; c < CL_N; c++)
		if (rd(&none->commands[c])) {
			list[k++] = none;
			break;
		}
	return k;
}

static void render_devices(struct met_buf *b)
{
	struct dev *list[MET_MAX_DEVS + 1];
	size_t n = dev_list(list);
	met_buf_family(b, "vtl_scsi_commands_total", "counter",
		       "SCSI commands completed, by device and opcode class");
	for (size_t i = 0; i < n; i++)
		for (int c = 0; c < CL_N; c++) {
			met_buf_printf(b, "vtl_scsi_commands_total{");
			dev_labels(b, list[i], list[i] != &devs[MET_MAX_DEVS]);
			met_buf_printf(b, ",class=\"%s\"} %llu\n", class_names[c],
				       (unsigned long long)rd(&list[i]->commands[c]));
		}
	met_buf_family(b, "vtl_scsi_check_conditions_total", "counter",
		       "Commands answered CHECK CONDITION, by device and sense key (keys seen "
		       "so far)");
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < 16; k++) {
			uint64_t v = rd(&list[i]->checks[k]);
			if (!v)
				continue;
			met_buf_printf(b, "vtl_scsi_check_conditions_total{");
			dev_labels(b, list[i], list[i] != &devs[MET_MAX_DEVS]);
			met_buf_printf(b, ",sense_key=\"%s\"} %llu\n", sense_key_names[k],
				       (unsigned long long)v);
		}
	static const struct {
		const char *name, *help;
		size_t off;
		bool seconds;
	} per[] = {
	    {"vtl_drive_read_bytes_total", "Bytes returned by READ commands (AWS ReadBytes)",
	     offsetof(struct dev, read_bytes), false},
	    {"vtl_drive_write_bytes_total", "Bytes taken by WRITE commands (AWS WriteBytes)",
	     offsetof(struct dev, write_bytes), false},
	    {"vtl_drive_read_seconds_total", "Time spent in READ commands (AWS ReadTime)",
	     offsetof(struct dev, read_ns), true},
	    {"vtl_drive_write_seconds_total", "Time spent in WRITE commands (AWS WriteTime)",
	     offsetof(struct dev, write_ns), true},
	};
	for (size_t f = 0; f < sizeof(per) / sizeof(per[0]); f++) {
		met_buf_family(b, per[f].name, "counter", per[f].help);
		for (size_t i = 0; i < n; i++) {
			acount *a = (acount *)((char *)list[i] + per[f].off);
			met_buf_printf(b, "%s{", per[f].name);
			dev_labels(b, list[i], list[i] != &devs[MET_MAX_DEVS]);
			if (per[f].seconds)
				met_buf_printf(b, "} %.9f\n", (double)rd(a) / NS_PER_S);
			else
				met_buf_printf(b, "} %llu\n", (unsigned long long)rd(a));
		}
	}
	met_buf_family(b, "vtl_scsi_command_duration_seconds", "histogram",
		       "Time from a command's dispatch to the device's answer, by opcode class");
	for (int c = 0; c < CL_N; c++) {
		char labels[32];
		snprintf(labels, sizeof(labels), "class=\"%s\"", class_names[c]);
		hist_render(b, "vtl_scsi_command_duration_seconds", labels, &cmd_hist[c]);
	}
}

static void counter(struct met_buf *b, const char *name, const char *help, uint64_t v)
{
	met_buf_family(b, name, "counter", help);
	met_buf_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

static void gauge(struct met_buf *b, const char *name, const char *help, int64_t v)
{
	met_buf_family(b, name, "gauge", help);
	met_buf_printf(b, "%s %lld\n", name, (long long)v);
}

void met_render(struct met_buf *b)
{
	met_buf_family(b, "vtl_iscsi_logins_total", "counter",
		       "iSCSI logins that reached the full feature phase (ok) or were refused");
	met_buf_printf(b, "vtl_iscsi_logins_total{result=\"ok\"} %llu\n",
		       (unsigned long long)rd(&m.logins_ok));
	met_buf_printf(b, "vtl_iscsi_logins_total{result=\"refused\"} %llu\n",
		       (unsigned long long)rd(&m.logins_refused));
	gauge(b, "vtl_iscsi_sessions", "iSCSI sessions logged in now (normal and discovery)",
	      atomic_load_explicit(&m.sessions, memory_order_relaxed));
	render_devices(b);

	counter(b, "vtl_cloud_bytes_uploaded_total",
		"Bytes the object store acknowledged: parts and whole objects (AWS "
		"CloudBytesUploaded)",
		rd(&m.up_bytes));
	counter(b, "vtl_upload_parts_total", "Multipart upload parts sent", rd(&m.up_parts));
	counter(b, "vtl_upload_parts_copied_total",
		"Parts copied inside the store rather than sent (UploadPartCopy)",
		rd(&m.up_copied));
	counter(b, "vtl_upload_objects_completed_total", "Segment objects completed",
		rd(&m.up_objects));
	counter(b, "vtl_upload_manifests_total", "Tape manifests put", rd(&m.up_manifests));
	gauge(b, "vtl_upload_parts_in_flight", "Parts being sent now",
	      atomic_load_explicit(&m.parts_inflight, memory_order_relaxed));
	met_buf_family(b, "vtl_store_errors_total", "counter",
		       "Failed object-store steps of the uploader and the shelf, by kind of fault");
	for (size_t i = 0; i < NKINDS; i++)
		met_buf_printf(b, "vtl_store_errors_total{kind=\"%s\"} %llu\n", store_kinds[i],
			       (unsigned long long)rd(&m.store_errors[i]));
	counter(b, "vtl_store_retries_total", "S3 requests sent again after a transient failure",
		rd(&m.store_retries));
	counter(b, "vtl_cloud_bytes_downloaded_total",
		"Bytes received from the object store by GETs (AWS CloudBytesDownloaded)",
		rd(&m.down_bytes));
	counter(b, "vtl_store_get_failures_total", "Object-store GETs that failed",
		rd(&m.down_failed));
	met_buf_family(b, "vtl_cloud_download_seconds", "histogram",
		       "Time of each object-store GET (AWS CloudDownloadLatency)");
	hist_render(b, "vtl_cloud_download_seconds", "", &m.down_hist);
	counter(b, "vtl_cache_fetched_bytes_total",
		"Bytes fetched back from the store for drive reads (cache misses, read-through)",
		rd(&m.fetched_bytes));
	met_buf_family(b, "vtl_shelf_operations_total", "counter",
		       "Shelf operations: tapes archived, tapes retrieved, archive restores asked");
	for (int i = 0; i < MET_SHELF_N; i++)
		met_buf_printf(b, "vtl_shelf_operations_total{op=\"%s\"} %llu\n", shelf_names[i],
			       (unsigned long long)rd(&m.shelf[i]));
	met_buf_family(b, "vtl_catalog_write_seconds", "histogram",
		       "Time until a catalog write is durable (autocommit statement or COMMIT)");
	hist_render(b, "vtl_catalog_write_seconds", "", &m.cat_hist);
	gauge(b, "vtl_rebuild_tapes_done",
	      "Catalog rebuild: tapes of its plan done (equal to the planned once over)",
	      atomic_load_explicit(&m.rebuild_done, memory_order_relaxed));
	gauge(b, "vtl_rebuild_tapes_planned",
	      "Catalog rebuild: tapes in its plan (0 before the first)",
	      atomic_load_explicit(&m.rebuild_total, memory_order_relaxed));
}
