/*
 * ops.c - the metrics collector, readiness and systemd notification (see
 * ops.h; the series are listed in docs/operations.md).
 *
 * The collector answers from the calls `vtlctl status` makes
 * (upl_get_status) and from a catalog connection of its own, read in WAL
 * mode, so a scrape takes neither the changer's lock nor a drive's. The
 * gauges that match AWS Tape Gateway's CloudWatch set are computed as AWS
 * defines them ("Understanding gateway metrics", Tape Gateway User
 * Guide): CachePercentUsed is the cache's used bytes over its size,
 * CachePercentDirty the bytes not yet persisted to the store over the
 * size; with the cache as the upload buffer (vtl has no separate one),
 * UploadBufferPercentUsed is the same ratio. With no [store] cache_limit
 * the cache has no size, and the percentages are not exported.
 *
 * systemd's protocol (sd_notify(3)): READY=1 when every frontend serves,
 * STATUS= with the sessions and the upload backlog, WATCHDOG=1 from the
 * main loop once a second when WatchdogSec= is set (the loop has just
 * taken the changer's lock for the automatic creation policies and read
 * the catalog here: a deadlock in either stops the pings, and systemd
 * restarts vtld), STOPPING=1 at shutdown. Without NOTIFY_SOCKET these
 * calls do nothing.
 */
#include "config.h"

#include "ops.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "catalog/catalog.h"
#include "datadir.h"
#include "iscsi/iscsi.h"
#include "library.h"
#include "metrics_http.h"
#include "uploader.h"
#include "util/metrics.h"

/* STATUS= costs an uploader status (a look at every tape's backlog, about
 * 0.1 ms of CPU per tape here: docs/benchmarks.md), so it is sent every
 * 30 s, and at once when the number of sessions changes. */
#define STATUS_EVERY_S 30

struct ops {
	struct ops_config cfg;
	pthread_mutex_t mu; /* cat */
	struct cat *cat;
	struct mhttp *http;
	uint64_t watchdog_usec; /* 0: systemd did not ask */
	time_t last_status;
	int64_t last_sessions; /* in the last STATUS= */
};

static void say(struct ops *o, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void say(struct ops *o, int level, const char *fmt, ...)
{
	if (!o->cfg.log)
		return;
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	o->cfg.log(level, msg);
}

/* ---- Scrape-time series ------------------------------------------------- */

static void gauge(struct met_buf *b, const char *name, const char *help, double v)
{
	met_buf_family(b, name, "gauge", help);
	met_buf_printf(b, "%s %.17g\n", name, v);
}

static void collect_store(const struct upl_status *s, struct met_buf *b)
{
	gauge(b, "vtl_cache_used_bytes", "Bytes of segment files in the local cache",
	      (double)s->cache_used);
	gauge(b, "vtl_cache_limit_bytes", "The cache's size ([store] cache_limit; 0: none)",
	      (double)s->cache_limit);
	gauge(b, "vtl_cache_dirty_bytes",
	      "Bytes of the local media not yet safe in the object store (the upload backlog)",
	      (double)s->cache_unsent);
	if (s->cache_limit) {
		double lim = (double)s->cache_limit;
		gauge(b, "vtl_cache_percent_used",
		      "Cache used over its size (AWS CachePercentUsed)",
		      100.0 * (double)s->cache_used / lim);
		gauge(b, "vtl_cache_percent_dirty",
		      "Cache bytes not yet in the store over its size (AWS CachePercentDirty)",
		      100.0 * (double)s->cache_unsent / lim);
		gauge(b, "vtl_upload_buffer_percent_used",
		      "The cache is the upload buffer: its bytes waiting for upload over its size "
		      "(AWS UploadBufferPercentUsed)",
		      100.0 * (double)s->cache_unsent / lim);
	}
	gauge(b, "vtl_upload_backlog_tapes", "Tapes with bytes not yet safe in the store",
	      s->backlog_tapes);
	gauge(b, "vtl_upload_pending_uploads", "Segment objects and manifests still to upload",
	      s->pending_segments);
	gauge(b, "vtl_upload_held_tapes",
	      "Tapes whose uploads wait for a person (an error that needs a fix)", s->held_tapes);
	gauge(b, "vtl_cache_writes_waiting",
	      "Drive writes blocked because the cache is full of data not yet in the store",
	      s->writes_waiting);
	gauge(b, "vtl_cache_fetching", "Segments being fetched back from the store now",
	      s->fetching);
	met_buf_family(b, "vtl_cache_evicted_bytes_total", "counter",
		       "Bytes evicted from the cache (safe in the store)");
	met_buf_printf(b, "vtl_cache_evicted_bytes_total %" PRIu64 "\n", s->evicted_bytes);
	met_buf_family(b, "vtl_store_held", "gauge",
		       "1 while uploads wait for a person, by cause (docs/object-store.md)");
	if (s->held_by[0]) {
		met_buf_printf(b, "vtl_store_held{cause=\"");
		met_buf_label(b, s->held_by);
		met_buf_printf(b, "\"} 1\n");
	}
}

static int by_pool_state(const void *a, const void *b)
{
	const struct cat_tape *x = a, *y = b;
	int c = strcmp(x->pool, y->pool);
	return c ? c : (int)x->state - (int)y->state;
}

/* Tapes by state, and by state and pool (pools are few: the operator
 * makes them); sorted once, so ten thousand tapes cost one qsort. */
static void collect_tapes(struct ops *o, struct met_buf *b)
{
	struct cat_tape *t = NULL;
	size_t n = 0;
	pthread_mutex_lock(&o->mu);
	int rc = cat_tape_list(o->cat, -1, false, &t, &n);
	pthread_mutex_unlock(&o->mu);
	if (rc)
		return;
	size_t by_state[CAT_N_STATES] = {0};
	for (size_t i = 0; i < n; i++)
		if ((unsigned)t[i].state < CAT_N_STATES)
			by_state[t[i].state]++;
	met_buf_family(b, "vtl_tapes", "gauge",
		       "Tapes by state (the AWS Tape Gateway states), deleted ones apart");
	for (int s = 0; s < CAT_N_STATES; s++)
		if (s != CAT_DELETED)
			met_buf_printf(b, "vtl_tapes{state=\"%s\"} %zu\n",
				       cat_state_name((enum cat_state)s), by_state[s]);
	met_buf_family(b, "vtl_pool_tapes", "gauge", "Tapes by pool and state (pairs present)");
	if (n)
		qsort(t, n, sizeof(*t), by_pool_state);
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && !by_pool_state(&t[i], &t[j]))
			j++;
		met_buf_printf(b, "vtl_pool_tapes{pool=\"");
		met_buf_label(b, t[i].pool[0] ? t[i].pool : "none");
		met_buf_printf(b, "\",state=\"%s\"} %zu\n", cat_state_name(t[i].state), j - i);
		i = j;
	}
	free(t);
}

static int judge(struct ops *o, const struct upl_status *s, char *why, size_t cap);
static struct upl_status *store_status(struct ops *o);

/* One scrape: the uploader's status once, for its gauges and readiness. */
static void collect(void *arg, struct met_buf *b)
{
	struct ops *o = arg;
	struct upl_status *s = store_status(o);
	if (o->cfg.upl && !s) {
		b->failed = true;
		return;
	}
	if (s)
		collect_store(s, b);
	collect_tapes(o, b);
	char why[256];
	int r = judge(o, s, why, sizeof(why));
	free(s);
	gauge(b, "vtl_ready", "1 ready, 0.5 degraded (see /readyz), 0 not ready",
	      r > 0    ? 1
	      : r == 0 ? 0.5
		       : 0);
}

/* ---- Readiness ------------------------------------------------------------ */

/* Ready (1), degraded (0) or not (-1), from the catalog, the target and
 * the uploader's status s (NULL: no store). */
static int judge(struct ops *o, const struct upl_status *s, char *why, size_t cap)
{
	pthread_mutex_lock(&o->mu);
	int v = cat_schema_version(o->cat);
	pthread_mutex_unlock(&o->mu);
	if (v <= 0) {
		snprintf(why, cap, "the catalog cannot be read: %s", strerror(v < 0 ? -v : EIO));
		return -1;
	}
	if (o->cfg.srv && !iscsi_server_port(o->cfg.srv)) {
		snprintf(why, cap, "the iSCSI target is not listening");
		return -1;
	}
	if (s && s->held_by[0]) {
		snprintf(why, cap, "uploads wait for a person (%s): %s", s->held_by, s->action);
		return 0;
	}
	if (s && s->writes_waiting) {
		snprintf(why, cap, "%s", s->write_wait);
		return 0;
	}
	return 1;
}

/* The uploader's status, malloc'd (it is large), or NULL without a store
 * or memory. */
static struct upl_status *store_status(struct ops *o)
{
	if (!o->cfg.upl)
		return NULL;
	struct upl_status *s = malloc(sizeof(*s));
	if (s)
		upl_get_status(o->cfg.upl, s);
	return s;
}

static int readiness(void *arg, char *why, size_t cap)
{
	struct ops *o = arg;
	struct upl_status *s = store_status(o);
	if (o->cfg.upl && !s) {
		snprintf(why, cap, "out of memory");
		return -1;
	}
	int r = judge(o, s, why, cap);
	free(s);
	return r;
}

/* ---- systemd ---------------------------------------------------------------- */

static void notify_status(struct ops *o, const char *prefix)
{
	char line[512];
	int64_t sessions = met_iscsi_sessions();
	o->last_sessions = sessions;
	const char *sock = getenv("NOTIFY_SOCKET");
	if (!sock || !sock[0]) {
		/* Not run by systemd: nobody reads the line, and its backlog
		 * reads every tape's manifest (a start of 10,000 tapes). */
		o->last_status = time(NULL);
		return;
	}
	int n = snprintf(line, sizeof(line), "%sSTATUS=%" PRId64 " iSCSI session%s", prefix,
			 sessions, sessions == 1 ? "" : "s");
	if (o->cfg.upl && n > 0 && (size_t)n < sizeof(line)) {
		struct upl_status *s = malloc(sizeof(*s));
		if (s) {
			upl_get_status(o->cfg.upl, s);
			snprintf(line + n, sizeof(line) - (size_t)n,
				 ", upload backlog %.1f MiB of %u tape%s at %.1f MiB/s%s%s",
				 (double)s->backlog_bytes / 1048576.0, s->backlog_tapes,
				 s->backlog_tapes == 1 ? "" : "s",
				 (double)s->throughput / 1048576.0, s->held_by[0] ? ", held: " : "",
				 s->held_by);
			free(s);
		}
	}
	sd_notify(0, line);
	o->last_status = time(NULL);
}

void ops_register_devices(struct lib *lib)
{
	met_dev_add(lib_changer(lib), "changer", 0);
	for (size_t i = 0; i < lib_n_drives(lib); i++) {
		char name[32];
		snprintf(name, sizeof(name), "drive%zu", i + 1);
		met_dev_add(lib_drive(lib, i), name, lib_drive_lun(lib, i));
	}
}

int ops_start(const struct ops_config *cfg, struct ops **out, char *err, size_t errlen)
{
	struct ops *o = calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	o->cfg = *cfg;
	pthread_mutex_init(&o->mu, NULL);
	char path[PATH_MAX + 16];
	datadir_catalog(lib_data_dir(cfg->lib), path, sizeof(path));
	int rc = cat_open(path, &o->cat);
	if (rc) {
		snprintf(err, errlen, "metrics: cannot open the catalog %s: %s", path,
			 strerror(-rc));
		free(o);
		return rc;
	}
	if (cfg->listen && cfg->listen[0]) {
		struct mhttp_config hc = {
		    .listen = cfg->listen, .collect = collect, .ready = readiness, .arg = o};
		rc = mhttp_start(&hc, &o->http, err, errlen);
		if (rc) {
			cat_close(o->cat);
			free(o);
			return rc;
		}
		say(o, 2,
		    "metrics listening on port %u: /metrics, /healthz, /readyz ([metrics] listen = "
		    "%s)",
		    (unsigned)mhttp_port(o->http), cfg->listen);
	}
	uint64_t usec = 0;
	if (sd_watchdog_enabled(0, &usec) > 0)
		o->watchdog_usec = usec;
	*out = o;
	return 0;
}

unsigned ops_http_port(const struct ops *o)
{
	return o ? mhttp_port(o->http) : 0;
}

void ops_ready(struct ops *o)
{
	notify_status(o, "READY=1\n");
	if (o->watchdog_usec)
		say(o, 2, "systemd watchdog: pinging every second (WatchdogSec %.1f s)",
		    (double)o->watchdog_usec / 1e6);
}

void ops_tick(struct ops *o)
{
	if (o->watchdog_usec) {
		/* The catalog answers too, or no ping. */
		pthread_mutex_lock(&o->mu);
		int v = cat_schema_version(o->cat);
		pthread_mutex_unlock(&o->mu);
		if (v > 0)
			sd_notify(0, "WATCHDOG=1");
	}
	if (time(NULL) - o->last_status >= STATUS_EVERY_S ||
	    met_iscsi_sessions() != o->last_sessions)
		notify_status(o, "");
}

void ops_stop(struct ops *o)
{
	if (!o)
		return;
	sd_notify(0, "STOPPING=1\nSTATUS=shutting down: flushing the drives");
	mhttp_stop(o->http);
	cat_close(o->cat);
	pthread_mutex_destroy(&o->mu);
	free(o);
}
