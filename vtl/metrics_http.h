/*
 * metrics_http.h - vtld's HTTP endpoint for operators ([metrics] listen):
 *
 *   GET /metrics  the counters of util/metrics.h and what the collector
 *                 adds, in the Prometheus text format (version 0.0.4);
 *   GET /healthz  200 "ok" while the process serves HTTP (liveness);
 *   GET /readyz   200 with "ready" or "degraded: WHY" when vtld does its
 *                 job (catalog open, target listening, store reachable or
 *                 degraded with the reason), 503 "not ready: WHY" when it
 *                 does not.
 *
 * Served by libmicrohttpd on a thread of its own, so a scrape never runs
 * on a frontend's or the uploader's thread; what the collector reads it
 * reads through the same calls `vtlctl status` uses. Other methods get
 * 405, other paths 404. A few connections at a time, each with a time
 * limit, so a stuck or hostile client holds little (docs/operations.md).
 */
#ifndef VTL_METRICS_HTTP_H
#define VTL_METRICS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct met_buf;
struct mhttp;

struct mhttp_config {
	const char *listen; /* "ADDR:PORT" or "[V6]:PORT"; port 0: any free port */
	/* Appends the series known only at scrape time; may be NULL. */
	void (*collect)(void *arg, struct met_buf *b);
	/* 1 ready, 0 degraded (why says how), -1 not ready; why is "" or a
	 * sentence. May be NULL: always ready. */
	int (*ready)(void *arg, char *why, size_t cap);
	void *arg;
};

/* Bind and serve on a thread of libmicrohttpd's; 0, or a negative errno
 * with err. */
int mhttp_start(const struct mhttp_config *cfg, struct mhttp **out, char *err, size_t errlen);
/* The port bound (port 0 picks one). */
uint16_t mhttp_port(const struct mhttp *h);
/* Stop serving and join the thread; NULL is a no-op. */
void mhttp_stop(struct mhttp *h);

#endif
