/*
 * backlog_check.h - "is my data safe?" as an operator reads it: the bytes
 * not yet safe in the object store, where vtlctl shows them. One figure,
 * so every place must agree: the sum of pending_bytes in `vtlctl tape list
 * --json`, backlog_bytes in `vtlctl status --json` and its cache's
 * unsent_bytes (docs/object-store.md, "Is my data safe?").
 */
#ifndef VTL_TESTS_BACKLOG_CHECK_H
#define VTL_TESTS_BACKLOG_CHECK_H

#include <stddef.h>

#include "tests/iscsi/vtld_proc.h"

struct backlog_view {
	long long listed;   /* the sum of pending_bytes over `tape list` */
	long long backlog;  /* status: backlog_bytes */
	long long unsent;   /* status: cache.unsent_bytes */
	char status[16384]; /* `vtlctl --json status` */
};

/* Read list, status and list again until nothing moved in between (an
 * upload may be running), then fail the test unless the three figures are
 * one. A hang guard gives up after 30 s. */
void backlog_read(struct vtld_proc *p, struct backlog_view *v);

/* One tape as `vtlctl --json tape show` has it. */
struct tape_view {
	long long used, uploaded, pending, uploads;
	char json[8192];
};
void tape_view_read(struct vtld_proc *p, const char *barcode, struct tape_view *t);
/* Read the tape every 100 ms until its upload_held_by is held_by ("space",
 * "certificate", ...), into t; the test fails after `seconds`, saying why
 * (`why`, with the tape's JSON). */
void tape_wait_held(struct vtld_proc *p, const char *barcode, const char *held_by, int seconds,
		    const char *why, struct tape_view *t);

/* Lines of vtld's current log that contain `needle`. */
int log_count(struct vtld_proc *p, const char *needle);

#endif
