/*
 * bench_bigtape.c - does a cartridge as large as an LTO-9 (18 TB native)
 * keep its speed to the end? A stand-in where the disk is short: the
 * medium (scsi/tape.c) with segments of SEG bytes instead of 1 GiB, so
 * that as many segments as an 18 TB tape has (18e12 / 2^30 = 16,764) fit
 * in a few hundred megabytes. Every cost that grows with the tape grows
 * with its segment list (the manifest, the segment search, the index
 * sidecars), so the stand-in has the real tape's segment count, manifest
 * and positioning structures; only the bytes inside each segment are
 * fewer.
 *
 * What it measures, the beginning against the end in the same run:
 *   - writing: records a second over the first and the last WINDOW
 *     segments, each sealed segment made durable and named by a new
 *     manifest (seal: sync, index sidecar, manifest commit);
 *   - a flush (WRITE FILEMARKS, IMMED=0) at the beginning and at the end;
 *   - a load (tape_open: manifest read and checked, segment list);
 *   - reading: records a second over the first and the last WINDOW
 *     segments, from a LOCATE to their first record;
 *   - LOCATE (SSC-4 7.7) to a random record among the first and among the
 *     last segments, then a read of that record: median time of each;
 *   - the manifest's size at the end.
 *
 * Usage: bench_bigtape [DIR [SEGMENTS [SEG_BYTES]]]
 *   (defaults: /dev/shm when it exists, else .; 16764; 16384)
 * Records are 4 KiB of compressible pattern (the medium stores what it is
 * given; this measures its structures, not the disk). The cartridge is
 * made in a temporary directory in DIR, removed at the end and also on
 * failure or when the program is stopped (an atexit handler and a thread
 * that waits for SIGINT, SIGTERM, SIGHUP and SIGQUIT,
 * bench_stop_signals_start). Exits 0: it measures, it does not judge
 * (docs/benchmarks.md).
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/bench_util.h"
#include "scsi/tape.h"

#define REC	   4096u
#define WINDOW	   500u
#define LOCATES	   200u
#define MANIFEST_F "MANIFEST"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n ? v[n / 2] : 0;
}

static void check(int rc, const char *what)
{
	if (rc < 0)
		bench_die("%s: %s", what, strerror(-rc));
}

/* Read n records from obj on; returns records a second. */
static double read_run(struct tape *t, uint64_t obj, uint64_t n, uint8_t *buf)
{
	check(tape_locate(t, obj), "locate");
	double t0 = bench_now();
	for (uint64_t i = 0; i < n; i++) {
		uint32_t len;
		enum tape_obj kind;
		check(tape_read(t, buf, REC, &len, &kind), "read");
		if (len != REC)
			bench_die("record %llu: %u bytes, want %u", (unsigned long long)(obj + i),
				  len, REC);
	}
	return (double)n / (bench_now() - t0);
}

/* Median seconds of a LOCATE to a random record of [lo, hi) and its read. */
static double locate_median(struct tape *t, uint64_t lo, uint64_t hi, uint8_t *buf)
{
	double v[LOCATES];
	for (unsigned i = 0; i < LOCATES; i++) {
		uint64_t obj = lo + (uint64_t)rand() % (hi - lo);
		uint32_t len;
		enum tape_obj kind;
		double t0 = bench_now();
		check(tape_locate(t, obj), "locate");
		check(tape_read(t, buf, REC, &len, &kind), "read after locate");
		v[i] = bench_now() - t0;
	}
	return median(v, LOCATES);
}

static char tmp_root[4000];

/* Run by exit() or by the signal thread (bench_stop_signals_start),
 * under the cleanup lock; what it removes it forgets. */
static void cleanup(void)
{
	bench_rm_tree(tmp_root);
	tmp_root[0] = '\0';
}

int main(int argc, char **argv)
{
	bench_prog = "bench_bigtape";
	const char *root = argc > 1 ? argv[1] : access("/dev/shm", W_OK) == 0 ? "/dev/shm" : ".";
	uint64_t nseg = argc > 2 ? strtoull(argv[2], NULL, 10) : 16764;
	uint64_t seg_bytes = argc > 3 ? strtoull(argv[3], NULL, 10) : 16384;
	char dir[4096];
	struct tape_info info;
	struct tape *t;
	uint8_t *buf = malloc(REC);

	if (!buf || nseg < 2 * WINDOW + 1 || seg_bytes < REC)
		bench_die("usage: bench_bigtape [DIR [SEGMENTS >= %u [SEG_BYTES >= %u]]]",
			  2 * WINDOW + 1, REC);
	bench_stop_signals_start(cleanup);
	bench_make_tmp_dir(tmp_root, sizeof(tmp_root), root, "bench_bigtape");
	snprintf(dir, sizeof(dir), "%s/tape", tmp_root);
	memset(&info, 0, sizeof(info));
	snprintf(info.barcode, sizeof(info.barcode), "BIG001L9");
	snprintf(info.serial, sizeof(info.serial), "BIG001L9");
	info.media = TAPE_LTO9;
	check(tape_format(dir, &info), "format");
	check(tape_open(dir, &t), "open");
	tape_set_segment_size(t, seg_bytes);
	for (unsigned i = 0; i < REC; i++)
		buf[i] = (uint8_t)(i * 7);

	/* Records per segment: a segment is sealed once the next record
	 * would take it past seg_bytes; the first record says what one
	 * record takes on the medium (its header included). */
	check(tape_write(t, buf, REC), "write");
	uint64_t per_seg = seg_bytes / tape_used_bytes(t);
	if (!per_seg)
		bench_die("a segment of %llu bytes holds no %u-byte record",
			  (unsigned long long)seg_bytes, REC);
	uint64_t total = nseg * per_seg, win = WINDOW * per_seg;
	printf("bench_bigtape: %llu segments of %llu bytes (the segment count of an 18 TB "
	       "LTO-9 tape at 1 GiB segments), %u-byte records, in %s\n",
	       (unsigned long long)nseg, (unsigned long long)seg_bytes, REC, dir);
	double w_first = 0, flush_first = 0, t0 = bench_now(), tw = 0;
	for (uint64_t obj = 1; obj < total; obj++) {
		if (obj == win) {
			w_first = (double)(obj - 1) / (bench_now() - t0);
			double f0 = bench_now();
			check(tape_flush(t), "flush");
			flush_first = bench_now() - f0;
		}
		if (obj == total - win)
			tw = bench_now();
		check(tape_write(t, buf, REC), "write");
	}
	double w_last = (double)win / (bench_now() - tw);
	double f0 = bench_now();
	check(tape_flush(t), "flush");
	double flush_last = bench_now() - f0;
	uint64_t eod = tape_eod(t);
	check(tape_close(t), "close");

	char man[4200];
	struct stat sb;
	snprintf(man, sizeof(man), "%s/%s", dir, MANIFEST_F);
	if (stat(man, &sb) != 0)
		bench_die("stat %s: %s", man, strerror(errno));
	double o0 = bench_now();
	check(tape_open(dir, &t), "open");
	double open_last = bench_now() - o0;

	double r_first = read_run(t, 0, win, buf);
	double r_last = read_run(t, eod - win, win, buf);
	srand(1);
	double l_first = locate_median(t, 0, win, buf);
	double l_last = locate_median(t, eod - win, eod, buf);
	check(tape_close(t), "close");

	printf("  %llu records, %llu a segment; manifest %lld bytes at the end\n",
	       (unsigned long long)eod, (unsigned long long)per_seg, (long long)sb.st_size);
	printf("  write, first / last %u segments: %.0f / %.0f records/s   last/first %.2f\n",
	       WINDOW, w_first, w_last, w_last / w_first);
	printf("  flush (tape_flush: WRITE FILEMARKS 0), at %u / %llu segments: %.3f / %.3f ms\n",
	       WINDOW, (unsigned long long)nseg, flush_first * 1e3, flush_last * 1e3);
	printf("  load (tape_open) at the end: %.1f ms\n", open_last * 1e3);
	printf("  read, first / last %u segments: %.0f / %.0f records/s   last/first %.2f\n",
	       WINDOW, r_first, r_last, r_last / r_first);
	printf("  LOCATE + read of a random record, first / last %u segments: %.1f / %.1f us "
	       "(medians of %u)   last/first %.2f\n",
	       WINDOW, l_first * 1e6, l_last * 1e6, LOCATES, l_last / l_first);
	printf("  time a segment takes to write, first / last %u: %.3f / %.3f ms (a real "
	       "segment of 1 GiB takes about 2,000 ms at 500 MB/s)\n",
	       WINDOW, (double)per_seg / w_first * 1e3, (double)per_seg / w_last * 1e3);
	free(buf);
	return 0;
}
