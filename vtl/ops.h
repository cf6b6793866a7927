/*
 * ops.h - vtld for its operators (docs/operations.md): the metrics
 * endpoint with what only a scrape can read (the cache, the backlog, the
 * tapes by state and pool), /readyz's answer, and systemd's notification
 * protocol (READY=1 once serving, STATUS= lines, WATCHDOG=1, STOPPING=1).
 *
 * vtld.c starts it once the library, the store and the frontends are up,
 * calls ops_tick from its once-a-second loop and stops it first at
 * shutdown. Nothing here is on a data path: the scrape runs on
 * libmicrohttpd's thread, the tick on vtld's main thread.
 */
#ifndef VTL_OPS_H
#define VTL_OPS_H

#include <stddef.h>

struct lib;
struct upl;
struct iscsi_server;
struct ops;

struct ops_config {
	struct lib *lib;
	struct upl *upl;	  /* NULL: no object store */
	struct iscsi_server *srv; /* NULL: no iSCSI target */
	const char *listen;	  /* [metrics] listen; "" or NULL: no HTTP endpoint */
	void (*log)(int level, const char *msg); /* 0 error, 1 warning, 2 info */
};

/* Name the library's devices for util/metrics.h's labels (changer, LUN 0;
 * driveN, LUN N): before a frontend starts, so that no command of theirs
 * counts as device="none". */
void ops_register_devices(struct lib *lib);
/* Open a catalog connection of its own and serve HTTP when listen is set.
 * 0, or a negative errno with err. */
int ops_start(const struct ops_config *cfg, struct ops **out, char *err, size_t errlen);
/* The HTTP port bound, 0 when none. */
unsigned ops_http_port(const struct ops *o);
/* Tell systemd vtld is ready (READY=1 and a first STATUS=). */
void ops_ready(struct ops *o);
/* Once a second from vtld's main loop, after the work that would stall
 * in a deadlock: WATCHDOG=1 when systemd asked for it (WatchdogSec=),
 * STATUS= every few seconds. */
void ops_tick(struct ops *o);
/* Shutdown begins: STOPPING=1, and the HTTP endpoint stops. */
void ops_stop(struct ops *o);

#endif
