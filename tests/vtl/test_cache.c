/*
 * test_cache.c - the cache's own bookkeeping (vtl/cache.c), without vtld:
 * what its status says while an eviction pass runs.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scsi/tape.h"
#include "vtl/cache.h"

#define NSEG	 4000
#define SEG_SIZE 4096u

struct watcher {
	struct vcache *c;
	uint64_t used_in;
	atomic_int stop, ready;
	int samples, bad;
	struct vcache_status last_bad;
};

static void *watch(void *arg)
{
	struct watcher *w = arg;
	atomic_store(&w->ready, 1);
	while (!atomic_load(&w->stop)) {
		struct vcache_status s;
		vcache_status(w->c, &s);
		if (!s.evicted_segments)
			continue;
		w->samples++;
		/* The space an eviction frees is in the same status as its
		 * count: used + evicted is what the pass started from. */
		if (s.used + s.evicted_bytes != w->used_in) {
			w->bad++;
			w->last_bad = s;
		}
	}
	return NULL;
}

/* A status read during a pass never shows an eviction counted while the
 * bytes it freed are still in `used` (a test of vtld saw exactly that
 * under load: evicted_segments 2, used_bytes from before). */
Test(cache, a_status_read_during_eviction_has_the_count_and_the_space_together)
{
	char dir[] = "/tmp/vtl-cache-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	struct vcache_seg *cand = calloc(NSEG, sizeof(*cand));
	cr_assert_not_null(cand);
	static char zeros[SEG_SIZE];
	for (size_t i = 0; i < NSEG; i++) {
		char path[PATH_MAX + 64];
		snprintf(cand[i].dir, sizeof(cand[i].dir), "%s", dir);
		snprintf(cand[i].barcode, sizeof(cand[i].barcode), "CCH001L8");
		cand[i].seg = i + 1;
		cand[i].bytes = SEG_SIZE;
		cand[i].last_use = (time_t)i;
		tape_file_path(dir, TAPE_SEG_DATA, cand[i].seg, path, sizeof(path));
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
		cr_assert_geq(fd, 0, "%s", path);
		cr_assert_eq(write(fd, zeros, SEG_SIZE), (ssize_t)SEG_SIZE);
		close(fd);
	}
	struct vcache_config cfg = {.limit = SEG_SIZE}; /* everything but one goes */
	struct vcache *c;
	cr_assert_eq(vcache_open(&cfg, &c), 0);
	struct watcher w = {.c = c, .used_in = (uint64_t)NSEG * SEG_SIZE};
	atomic_init(&w.stop, 0);
	atomic_init(&w.ready, 0);
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, watch, &w), 0);
	while (!atomic_load(&w.ready))
		sched_yield();
	uint64_t evicted = 0;
	vcache_update(c, cand, NSEG, w.used_in, 0, &evicted);
	atomic_store(&w.stop, 1);
	pthread_join(th, NULL);
	struct vcache_status s;
	vcache_status(c, &s);
	cr_assert_eq(s.evicted_segments, NSEG - 1);
	cr_assert_eq(evicted, (uint64_t)(NSEG - 1) * SEG_SIZE);
	cr_assert_eq(s.used, SEG_SIZE);
	cr_assert_eq(w.bad, 0,
		     "%d of %d statuses read during the pass had evicted_segments %llu, "
		     "evicted_bytes %llu but used %llu",
		     w.bad, w.samples, (unsigned long long)w.last_bad.evicted_segments,
		     (unsigned long long)w.last_bad.evicted_bytes,
		     (unsigned long long)w.last_bad.used);
	vcache_close(c);
	for (size_t i = 0; i < NSEG; i++) {
		char path[PATH_MAX + 64];
		tape_file_path(dir, TAPE_SEG_DATA, cand[i].seg, path, sizeof(path));
		unlink(path);
	}
	rmdir(dir);
	free(cand);
}
