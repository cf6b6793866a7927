/*
 * readahead.c - the read-ahead threads of the tape drives.
 *
 * A READ of a cartridge encrypted at rest arms a read-ahead of the next
 * block (tape_prefetch_arm) and calls the drive's kick with the drive's
 * lock held; the kick only sets a flag and signals, under this drive's own
 * mutex. The drive's thread wakes, drops its mutex and calls
 * ssc_readahead(), which takes the drive's lock and reads the block ahead
 * while the frontend sends the host the one just read: the AES-GCM pass
 * of the next block leaves the READ's path.
 *
 * Locking: the drive's lock, then this mutex (in the kick), never the
 * other way round: the thread never holds its mutex while it calls into
 * the drive. One thread per drive, so one drive's read-ahead never waits
 * for another's ("Threads and performance" in ARCHITECTURE.md).
 */
#include "config.h"

#include "readahead.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "scsi/ssc.h"

struct ra_drive {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool wanted, stop;
	struct scsi_dev *dev;
	pthread_t thread;
};

struct readahead {
	struct ra_drive *d;
	size_t n; /* threads running */
};

static void kick(void *arg)
{
	struct ra_drive *d = arg;

	pthread_mutex_lock(&d->mu);
	d->wanted = true;
	pthread_cond_signal(&d->cv);
	pthread_mutex_unlock(&d->mu);
}

static void *ra_main(void *arg)
{
	struct ra_drive *d = arg;

	pthread_setname_np(pthread_self(), "vtl-readahead"); /* top -H, ps -L */
	pthread_mutex_lock(&d->mu);
	for (;;) {
		while (!d->wanted && !d->stop)
			pthread_cond_wait(&d->cv, &d->mu);
		if (d->stop)
			break;
		d->wanted = false;
		pthread_mutex_unlock(&d->mu);
		ssc_readahead(d->dev);
		pthread_mutex_lock(&d->mu);
	}
	pthread_mutex_unlock(&d->mu);
	return NULL;
}

void ra_stop(struct readahead *ra)
{
	if (!ra)
		return;
	for (size_t i = 0; i < ra->n; i++) {
		struct ra_drive *d = &ra->d[i];

		/* No kick after this returns (it takes the drive's lock). */
		ssc_set_readahead(d->dev, NULL, NULL);
		pthread_mutex_lock(&d->mu);
		d->stop = true;
		pthread_cond_signal(&d->cv);
		pthread_mutex_unlock(&d->mu);
		pthread_join(d->thread, NULL);
		pthread_cond_destroy(&d->cv);
		pthread_mutex_destroy(&d->mu);
	}
	free(ra->d);
	free(ra);
}

int ra_start(struct readahead **out, struct scsi_dev *drives, size_t n)
{
	struct readahead *ra = calloc(1, sizeof(*ra));
	int rc = 0;

	*out = NULL;
	if (!ra)
		return -ENOMEM;
	ra->d = calloc(n ? n : 1, sizeof(*ra->d));
	if (!ra->d) {
		free(ra);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		struct ra_drive *d = &ra->d[i];

		d->dev = &drives[i];
		rc = -pthread_mutex_init(&d->mu, NULL);
		if (rc)
			break;
		rc = -pthread_cond_init(&d->cv, NULL);
		if (rc) {
			pthread_mutex_destroy(&d->mu);
			break;
		}
		rc = -pthread_create(&d->thread, NULL, ra_main, d);
		if (rc) {
			pthread_cond_destroy(&d->cv);
			pthread_mutex_destroy(&d->mu);
			break;
		}
		ra->n++;
		ssc_set_readahead(d->dev, kick, d);
	}
	if (rc) {
		ra_stop(ra);
		return rc;
	}
	*out = ra;
	return 0;
}
