/*
 * drive_worker.c - the drives' background threads.
 *
 * A WRITE that left its last block behind (tape_write_buffered) and a READ
 * that armed a read-ahead (tape_prefetch_arm) of a cartridge encrypted at
 * rest call the drive's kick, with the drive's lock held; the kick only
 * sets a flag and signals, under this drive's own mutex. The drive's
 * thread wakes, drops its mutex and calls ssc_write_behind(), then
 * ssc_readahead(), each of which takes the drive's lock: the block left
 * behind is encrypted and written while the frontend receives the next
 * WRITE's data, and the next blocks are read and opened while it sends
 * the host the one just read (opened with the drive's lock released:
 * ssc_readahead).
 *
 * Small blocks of a clear cartridge written in buffered mode are gathered
 * in memory (tape_write_buffered) with no kick, and written when a command
 * other than the writer's next WRITE comes. So that they do not wait in
 * memory for a host that has gone quiet, the thread also wakes every
 * DW_FORCE_MS and writes whatever is held (ssc_write_behind): what a drive
 * does with the WRITE DELAY TIME of its device configuration page (SSC-4
 * 8.3.3), here at most a second, whatever the page says, since writing
 * sooner only makes the host's data safer.
 *
 * Locking: the drive's lock, then this mutex (in the kick), never the
 * other way round: the thread never holds its mutex while it calls into
 * the drive. One thread per drive, so one drive's work never waits for
 * another's ("Threads and performance" in ARCHITECTURE.md).
 */
#include "config.h"

#include "drive_worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "scsi/ssc.h"

#define DW_FORCE_MS 1000

struct dw_drive {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool wanted, stop;
	struct scsi_dev *dev;
	pthread_t thread;
};

struct drive_workers {
	struct dw_drive *d;
	size_t n; /* threads running */
};

static void kick(void *arg)
{
	struct dw_drive *d = arg;

	pthread_mutex_lock(&d->mu);
	d->wanted = true;
	pthread_cond_signal(&d->cv);
	pthread_mutex_unlock(&d->mu);
}

static void *dw_main(void *arg)
{
	struct dw_drive *d = arg;

	pthread_setname_np(pthread_self(), "vtl-drive"); /* top -H, ps -L */
	pthread_mutex_lock(&d->mu);
	for (;;) {
		struct timespec until;
		bool timed_out = false;

		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += DW_FORCE_MS / 1000;
		while (!d->wanted && !d->stop && !timed_out)
			timed_out = pthread_cond_timedwait(&d->cv, &d->mu, &until) == ETIMEDOUT;
		if (d->stop)
			break;
		bool wanted = d->wanted;
		d->wanted = false;
		pthread_mutex_unlock(&d->mu);
		ssc_write_behind(d->dev); /* also what is held, on a timeout */
		if (wanted)
			ssc_readahead(d->dev);
		pthread_mutex_lock(&d->mu);
	}
	pthread_mutex_unlock(&d->mu);
	return NULL;
}

void dw_stop(struct drive_workers *dw)
{
	if (!dw)
		return;
	for (size_t i = 0; i < dw->n; i++) {
		struct dw_drive *d = &dw->d[i];

		/* No kick after this returns (it takes the drive's lock). */
		ssc_set_worker(d->dev, NULL, NULL);
		pthread_mutex_lock(&d->mu);
		d->stop = true;
		pthread_cond_signal(&d->cv);
		pthread_mutex_unlock(&d->mu);
		pthread_join(d->thread, NULL);
		pthread_cond_destroy(&d->cv);
		pthread_mutex_destroy(&d->mu);
	}
	free(dw->d);
	free(dw);
}

int dw_start(struct drive_workers **out, struct scsi_dev *drives, size_t n)
{
	struct drive_workers *dw = calloc(1, sizeof(*dw));
	int rc = 0;

	*out = NULL;
	if (!dw)
		return -ENOMEM;
	dw->d = calloc(n ? n : 1, sizeof(*dw->d));
	if (!dw->d) {
		free(dw);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		struct dw_drive *d = &dw->d[i];

		d->dev = &drives[i];
		rc = -pthread_mutex_init(&d->mu, NULL);
		if (rc)
			break;
		pthread_condattr_t ca;
		rc = -pthread_condattr_init(&ca);
		if (!rc) {
			rc = -pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
			if (!rc)
				rc = -pthread_cond_init(&d->cv, &ca);
			pthread_condattr_destroy(&ca);
		}
		if (rc) {
			pthread_mutex_destroy(&d->mu);
			break;
		}
		rc = -pthread_create(&d->thread, NULL, dw_main, d);
		if (rc) {
			pthread_cond_destroy(&d->cv);
			pthread_mutex_destroy(&d->mu);
			break;
		}
		dw->n++;
		ssc_set_worker(d->dev, kick, d);
	}
	if (rc) {
		dw_stop(dw);
		return rc;
	}
	*out = dw;
	return 0;
}
