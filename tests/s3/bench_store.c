/*
 * `make bench` for the object store: multipart upload and ranged-read
 * throughput of the local-directory backend and of the S3 backend against
 * a radosgw started here (tests/s3/rgw.sh), with 1 and 4 uploading threads;
 * and the shelf apart's copy to another bucket (store_copy_from), server
 * side versus streamed through this process on the same bytes (the
 * streamed peer reaches radosgw as "localhost", which store_copy_from takes
 * for another service). Prints MiB/s; docs/benchmarks.md records them.
 *
 * Its directories (the local store in /tmp, radosgw's in /dev/shm) are
 * removed and radosgw stopped at the end and also on failure or when the
 * program is stopped: an atexit handler and a thread that waits for
 * SIGINT, SIGTERM, SIGHUP and SIGQUIT do it (bench_stop_signals_start).
 *
 *   bench_store [MiB]      (default 256; parts of 8 MiB)
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_util.h"
#include "s3/store.h"

#define PART (8u << 20)

struct job {
	struct store *st;
	const char *key, *id;
	unsigned char *data;
	struct store_part *parts;
	int first, step, nparts;
	int rc;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *upload(void *arg)
{
	struct job *j = arg;
	struct store_err err;
	for (int i = j->first; i < j->nparts && !j->rc; i += j->step) {
		j->parts[i].number = i + 1;
		j->parts[i].size = PART;
		j->rc = store_mpu_put_part(j->st, j->key, j->id, i + 1, j->data + (size_t)i * PART,
					   PART, j->parts[i].etag, &err);
		if (j->rc)
			fprintf(stderr, "bench_store: %s\n", err.msg);
	}
	return NULL;
}

static int run(const char *name, struct store *st, unsigned char *data, int nparts, int threads)
{
	struct store_err err;
	char id[STORE_UPLOAD_ID_MAX], etag[STORE_ETAG_MAX], key[64];
	snprintf(key, sizeof(key), "bench/%s-%d", name, threads);
	struct store_part *parts = calloc((size_t)nparts, sizeof(*parts));
	double t0 = now();
	if (store_mpu_create(st, key, NULL, id, &err)) {
		fprintf(stderr, "bench_store: %s\n", err.msg);
		return 1;
	}
	pthread_t tid[16];
	struct job jobs[16];
	for (int t = 0; t < threads; t++) {
		jobs[t] = (struct job){st, key, id, data, parts, t, threads, nparts, 0};
		pthread_create(&tid[t], NULL, upload, &jobs[t]);
	}
	int rc = 0;
	for (int t = 0; t < threads; t++) {
		pthread_join(tid[t], NULL);
		rc |= jobs[t].rc;
	}
	if (rc || store_mpu_complete(st, key, id, parts, (size_t)nparts, etag, &err)) {
		fprintf(stderr, "bench_store: upload failed: %s\n", err.msg);
		return 1;
	}
	double up = now() - t0;
	unsigned char *buf = malloc(PART);
	t0 = now();
	for (int i = 0; i < nparts; i++) {
		size_t got;
		if (store_get(st, key, (uint64_t)i * PART, PART, buf, &got, NULL, &err) ||
		    got != PART || memcmp(buf, data + (size_t)i * PART, PART)) {
			fprintf(stderr, "bench_store: read back failed: %s\n", err.msg);
			return 1;
		}
	}
	double down = now() - t0;
	double mib = (double)nparts * PART / (1 << 20);
	printf("%-6s threads=%d  upload %7.1f MiB/s  ranged read (8 MiB, 1 thread) %7.1f MiB/s\n",
	       name, threads, mib / up, mib / down);
	store_delete(st, key, NULL);
	free(buf);
	free(parts);
	return 0;
}

/* A copy of key to bucket shelf; MiB/s, or a negative value on failure. */
static double timed_copy(struct store *shelf, struct store *st, const char *key, double mib)
{
	struct store_err err;
	double t0 = now();
	if (store_copy_from(shelf, st, key, "bench/copy", NULL, NULL, &err)) {
		fprintf(stderr, "bench_store: %s\n", err.msg);
		return -1;
	}
	double rate = mib / (now() - t0);
	store_delete(shelf, "bench/copy", NULL);
	return rate;
}

/* The shelf apart: an object of nparts parts copied to another bucket. */
static int shelf_copy(struct store *st, const struct store_s3_config *cfg, const char *ep,
		      unsigned char *data, int nparts)
{
	struct store_err err;
	char local_ep[512];
	const char *port = strrchr(ep, ':');
	snprintf(local_ep, sizeof(local_ep), "http://localhost%s", port ? port : "");
	struct store_s3_config sc = *cfg, lc = *cfg;
	sc.bucket = lc.bucket = "vtl-bench-shelf";
	lc.endpoint = local_ep;
	struct store *shelf = NULL, *far = NULL;
	const char *key = "bench/copy-src";
	char id[STORE_UPLOAD_ID_MAX], etag[STORE_ETAG_MAX];
	struct store_part *parts = calloc((size_t)nparts, sizeof(*parts));
	int rc = store_s3_open(&sc, &shelf, &err) || store_s3_create_bucket(shelf, &err) ||
		 store_s3_open(&lc, &far, &err) || store_mpu_create(st, key, NULL, id, &err);
	for (int i = 0; i < nparts && !rc; i++) {
		parts[i].number = i + 1;
		parts[i].size = PART;
		rc = store_mpu_put_part(st, key, id, i + 1, data + (size_t)i * PART, PART,
					parts[i].etag, &err);
	}
	if (!rc)
		rc = store_mpu_complete(st, key, id, parts, (size_t)nparts, etag, &err);
	if (rc) {
		fprintf(stderr, "bench_store: shelf copy: %s\n", err.msg);
	} else {
		double mib = (double)nparts * PART / (1 << 20);
		double server = timed_copy(shelf, st, key, mib);
		double streamed = timed_copy(far, st, key, mib);
		rc = server < 0 || streamed < 0;
		if (!rc)
			printf("rgw    shelf copy of %.0f MiB to another bucket: server side %7.1f "
			       "MiB/s, streamed %7.1f MiB/s (ratio %.2f)\n",
			       mib, server, streamed, server / streamed);
	}
	store_delete(st, key, NULL);
	if (shelf)
		store_close(shelf);
	if (far)
		store_close(far);
	free(parts);
	return rc;
}

static char local_dir[64], rgw_dir[64];

/* rgw.sh through bench_run_tool, not popen() or system(): those leave the
 * stop signals blocked in rgw.sh and the daemons it starts, and system()
 * ignores SIGINT while it waits (POSIX, system()). Its messages go to our
 * stderr, as they did. */
static int rgw(const char *what, char *out, size_t cap)
{
	char *argv[] = {"sh", RGW_SH, (char *)what, rgw_dir, NULL};
	return bench_run_tool(argv, NULL, "/dev/stderr", out, cap, NULL);
}

/* Run by exit() or by the signal thread (bench_stop_signals_start),
 * under the cleanup lock; what it stops and removes it forgets. */
static void cleanup(void)
{
	bench_children_stop(10);
	if (rgw_dir[0] && rgw("stop", NULL, 0) != 0)
		fprintf(stderr, "bench_store: stopping radosgw in %s failed\n", rgw_dir);
	rgw_dir[0] = '\0';
	bench_rm_tree(local_dir);
	local_dir[0] = '\0';
}

int main(int argc, char **argv)
{
	bench_prog = "bench_store";
	bench_stop_signals_start(cleanup);
	int mib = argc > 1 ? atoi(argv[1]) : 256;
	int nparts = mib / 8 > 0 ? mib / 8 : 1;
	unsigned char *data = malloc((size_t)nparts * PART);
	for (size_t i = 0; i < (size_t)nparts * PART; i++)
		data[i] = (unsigned char)(i * 2654435761u >> 13);
	struct store_err err;
	struct store *st;
	int rc = 0;

	bench_make_tmp_dir(local_dir, sizeof(local_dir), "/tmp", "vtl-bench");
	if (store_local_open(local_dir, &st, &err)) {
		fprintf(stderr, "bench_store: local store: %s\n", err.msg);
		return 1;
	}
	rc |= run("local", st, data, nparts, 1);
	rc |= run("local", st, data, nparts, 4);
	store_close(st);
	bench_cleanup_lock();
	bench_rm_tree(local_dir);
	local_dir[0] = '\0';
	bench_cleanup_unlock();

	bench_make_tmp_dir(rgw_dir, sizeof(rgw_dir), "/dev/shm", "vtl-bench-rgw");
	static char out[8192];
	int started = rgw("start", out, sizeof(out));
	char ep[512] = "", ak[512] = "", sk[512] = "";
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		if (!strncmp(line, "RGW_ENDPOINT=", 13))
			snprintf(ep, sizeof(ep), "%s", line + 13);
		else if (!strncmp(line, "RGW_ACCESS_KEY=", 15))
			snprintf(ak, sizeof(ak), "%s", line + 15);
		else if (!strncmp(line, "RGW_SECRET_KEY=", 15))
			snprintf(sk, sizeof(sk), "%s", line + 15);
	}
	if (started != 0 || !ep[0]) {
		fprintf(stderr, "bench_store: radosgw did not start\n");
		return 1;
	}
	struct store_s3_config cfg = {.bucket = "vtl-bench",
				      .endpoint = ep,
				      .addressing = STORE_S3_PATH,
				      .access_key = ak,
				      .secret_key = sk};
	if (store_s3_open(&cfg, &st, &err) || store_s3_create_bucket(st, &err)) {
		fprintf(stderr, "bench_store: %s\n", err.msg);
		rc = 1;
	} else {
		rc |= run("rgw", st, data, nparts, 1);
		rc |= run("rgw", st, data, nparts, 4);
		rc |= shelf_copy(st, &cfg, ep, data, nparts);
		store_close(st);
	}
	bench_cleanup_lock();
	if (rgw("stop", NULL, 0) != 0)
		rc = 1;
	rgw_dir[0] = '\0';
	bench_cleanup_unlock();
	free(data);
	return rc;
}
