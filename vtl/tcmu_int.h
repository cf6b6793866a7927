/*
 * tcmu_int.h - private to the TCMU frontend: tcmu.c (the backstores'
 * lifecycle: UIO scan, configfs, netlink events, attach and detach) and
 * tcmu_ring.c (one device's command ring). Nothing else includes it; the
 * rest of vtld sees tcmu.h.
 *
 * Invariants: only the monitor thread (or tcmu_start before it) changes
 * struct tcmu's device list, under t->lock; a struct tcmu_dev's ring, map
 * and buffers belong to its own thread from tcmu_ring_thread's start until
 * it sets `done`.
 */
#ifndef VTL_TCMU_INT_H
#define VTL_TCMU_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "scsi/scsi.h"
#include "tcmu.h"

struct tcmu_dev {
	struct tcmu *t;
	struct tcmu_dev *next;
	char uio[32];	/* "uio3" */
	char name[256]; /* the UIO name */
	char label[96]; /* "<hba>/<device>" for log lines */
	int fd;
	uint8_t *map;
	size_t map_len;
	uint32_t cmdr_off, cmdr_size;
	bool read_len_cap;
	struct scsi_dev *dev;
	/* The kernel waits for our netlink answers to this device's events
	 * (attrib/nl_reply_supported is 1); read at attach time and at every
	 * event, since a REMOVED_DEVICE comes after configfs dropped it. */
	bool waits;
	pthread_t thread;
	atomic_bool done; /* the thread has finished */
	uint8_t *buf;	  /* bounce buffer for scattered data */
	size_t buf_cap;
	struct iovec *iov; /* the request's iovecs, copied out of the ring */
	uint32_t iov_cap;
};

struct tcmu {
	struct tcmu_config cfg;
	char prefix[256];
	/* The part of the prefix every vtld shares ("vtl/"): a backstore
	 * under it but not under prefix names another vtld's library. */
	size_t family_len;
	char uio_class[256];
	int stop_fd; /* eventfd, readable once tcmu_stop began */
	int nl_fd;   /* TCM-USER multicast listener, -1 without one */
	uint16_t nl_family;
	uint32_t nl_seq;
	/* The kernel took SET_FEATURES: it may wait for our answers. */
	bool nl_answer;
	/* Answer the device events we may have missed (before we listened,
	 * or when the socket overflowed) at the next rescan. */
	bool answer_missed;
	pthread_t monitor;
	pthread_mutex_t lock; /* the device list */
	struct tcmu_dev *devs;
	/* UIO names refused and still present, so the log says it once. */
	struct tcmu_refused *refused;
	size_t n_refused;
	/* Backstores naming another library, refused unless its vtld
	 * accepts them first (see defer_refusal in tcmu.c). */
	struct tcmu_deferred *deferred;
	size_t n_deferred;
};

/* Log through the frontend's callback (cfg.log), if it has one. */
void tcmu_log(struct tcmu *t, enum tcmu_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* True when [off, off + len) lies inside the device's mapping. */
static inline bool tcmu_in_map(const struct tcmu_dev *d, uint64_t off, uint64_t len)
{
	return off <= d->map_len && len <= d->map_len - off;
}

/* The device's thread (tcmu_ring.c): serves the ring until the device goes
 * away or tcmu_stop signals t->stop_fd, then sets d->done. */
void *tcmu_ring_thread(void *arg);

#endif
