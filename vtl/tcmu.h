/*
 * tcmu.h - the TCMU frontend: Linux LIO's target_core_user backstores
 * served by the scsi/ devices of the running library (docs/tcmu.md).
 *
 * The kernel exposes each TCMU backstore as a UIO device named
 * "tcm-user/<hba>/<device>/<config string>". The frontend attaches to every
 * such device whose config string starts with the configured prefix
 * (normally "vtl/<library>/"), asks the resolver which scsi_dev the rest
 * names ("changer", "drive1".."driveN"), and serves that device's command
 * ring on a thread of its own, so one drive never waits for another.
 * Backstores may come and go while the frontend runs: it attaches when
 * the kernel announces a device on the TCM-USER netlink family (and rescans
 * the UIO class every few seconds), and lets a device go when its UIO node
 * disappears. It answers those announcements (ADDED/REMOVED/RECONFIG_DEVICE
 * _DONE, after telling the kernel so with SET_FEATURES), so that a
 * backstore created without nl_reply_supported=-1 is enabled once it is
 * served, and refused when its config string names nothing this library
 * has.
 *
 * The frontend only moves commands: CDB and data out of the ring into a
 * struct scsi_cmd, status, sense and data back. It owns no SCSI semantics;
 * what LIO answers itself (REPORT LUNS, reservations) never reaches it.
 */
#ifndef VTL_TCMU_H
#define VTL_TCMU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct scsi_dev;
struct tcmu;

enum tcmu_log_level { TCMU_LOG_ERROR, TCMU_LOG_WARN, TCMU_LOG_INFO, TCMU_LOG_DEBUG };

struct tcmu_config {
	/* Config strings this frontend serves, e.g. "vtl/lib0/". */
	const char *prefix;
	/* The device that `unit` (the config string after the prefix) names,
	 * or NULL. Called from the frontend's scanning thread. */
	struct scsi_dev *(*resolve)(void *arg, const char *unit);
	void *arg;
	void (*log)(void *arg, enum tcmu_log_level level, const char *msg);
	void *log_arg;
	/* Where the UIO class lives (tests may point elsewhere); NULL for
	 * /sys/class/uio. */
	const char *uio_class;
	/* Log every command at TCMU_LOG_DEBUG (CDB, transfer, status). */
	bool trace;
	/* Seconds between rescans without a netlink announcement; 0: 2. */
	unsigned rescan_seconds;
};

/* Attach to the matching devices present now and start watching for more.
 * Returns 0 or a negative errno. */
int tcmu_start(const struct tcmu_config *cfg, struct tcmu **out);
/* Number of devices served right now. */
size_t tcmu_attached(struct tcmu *t);
/* Stop every device thread (commands in flight complete first) and free. */
void tcmu_stop(struct tcmu *t);

#endif
