/*
 * bench_stream.c - streaming throughput of a tape drive through the scsi/
 * entry point, against dd on the same filesystem in the same run.
 *
 * The benchmark: WRITE(6) of 4 GiB in 256 KiB variable-length
 * records with a WRITE FILEMARKS (IMMED=0, so a flush to stable storage)
 * after every GiB, then REWIND and READ(6) of all of it. The peer is
 * `dd bs=256k conv=fsync` writing the same number of bytes to a file in the
 * same directory, and dd reading it back. Both read passes start with the
 * data evicted from the page cache (POSIX_FADV_DONTNEED after the fsync),
 * so each reads from the device as a restore from tape would.
 *
 * A third pass writes and reads the same with drive encryption on (a
 * 256-bit key set by SECURITY PROTOCOL OUT, AES-256-GCM per record,
 * docs/scsi.md "Drive encryption"), and a fourth on a cartridge encrypted
 * at rest (its data key given to the drive at insertion, AES-256-GCM per
 * record, docs/medium-format.md "Records encrypted at rest"), both
 * compared with the plain vtl pass.
 *
 * The disks of shared machines are noisy, so the sides alternate for
 * ROUNDS rounds and the medians are compared.
 *
 * Everything is written in one temporary directory in DIR, removed at the
 * end and also on failure or when the program is stopped: an atexit
 * handler and a thread that waits for SIGINT, SIGTERM, SIGHUP and SIGQUIT
 * stop dd and remove it (bench_stop_signals_start).
 *
 * Usage: bench_stream [DIR [GIB [ROUNDS]]]   (defaults: ., 4, 3)
 * Prints MB/s for each pass and the ratios; exits 0 (it measures, it does
 * not judge: targets live in docs/benchmarks.md).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_util.h"
#include "scsi/be.h"
#include "scsi/sense.h"
#include "scsi/spc.h"
#include "scsi/ssc.h"
#include "scsi/tape.h"

#define RECORD (256u * 1024u)
#define GIB    (1024ull * 1024 * 1024)

static char tmp_root[4096];

/* Run by exit() or by the signal thread (bench_stop_signals_start),
 * under the cleanup lock; what it stops and removes it forgets. */
static void cleanup(void)
{
	bench_children_stop(5);
	bench_rm_tree(tmp_root);
	tmp_root[0] = '\0';
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_stream: %s\n", what);
	exit(1);
}

static int run(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	cmd->nexus = 1;
	spc_dispatch(dev, cmd);
	return cmd->status;
}

static void cdb6(struct scsi_cmd *cmd, uint8_t op, uint8_t b1, uint32_t len)
{
	memset(cmd->cdb, 0, sizeof(cmd->cdb));
	cmd->cdb[0] = op;
	cmd->cdb[1] = b1;
	put_be24(cmd->cdb + 2, len);
	cmd->cdb_len = 6;
}

/* Evict every file under dir from the page cache. */
static void evict_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		struct stat st;
		if (stat(path, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			evict_dir(path);
			continue;
		}
		int fd = open(path, O_RDONLY);
		if (fd >= 0) {
			fdatasync(fd);
			posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
			close(fd);
		}
	}
	closedir(d);
}

/* dd is started by bench_run_tool, not system(): system() ignores SIGINT
 * and SIGQUIT in the whole process while it waits (POSIX, system()), so an
 * interrupt would be lost, and dd would start with the stop signals
 * blocked; this way it is a child the cleanup stops. Its messages go to
 * our stderr, as they did (a log in the directory would be removed with
 * it at exit). */
static void dd(char *const argv[], const char *what)
{
	if (bench_run_tool(argv, NULL, "/dev/stderr", NULL, 0, NULL) != 0)
		bench_die("dd %s failed", what);
}

static double dd_write(const char *file, uint64_t bytes)
{
	char of[4300], count[32];
	snprintf(of, sizeof(of), "of=%s", file);
	snprintf(count, sizeof(count), "count=%llu", (unsigned long long)(bytes / RECORD));
	char *argv[] = {"dd",	      "if=/dev/zero", of,  "bs=256k", count,
			"conv=fsync", "status=none",  NULL};
	double t = now();
	dd(argv, "write");
	return (double)bytes / (now() - t) / 1e6;
}

static double dd_read(const char *file, uint64_t bytes)
{
	char in[4300];
	int fd = open(file, O_RDONLY);
	if (fd >= 0) {
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		close(fd);
	}
	snprintf(in, sizeof(in), "if=%s", file);
	char *argv[] = {"dd", in, "of=/dev/null", "bs=256k", "status=none", NULL};
	double t = now();
	dd(argv, "read");
	return (double)bytes / (now() - t) / 1e6;
}

struct pass {
	double write_mbs, read_mbs;
};

/* SECURITY PROTOCOL OUT, Set Data Encryption page: scope ALL I_T NEXUS,
 * ENCRYPT and DECRYPT with key (SSC-4 8.5.3.2). */
static void set_key(struct scsi_dev *dev, struct scsi_cmd *cmd, const uint8_t key[32])
{
	static uint8_t pg[52];
	memset(pg, 0, sizeof(pg));
	put_be16(pg, 0x0010);
	put_be16(pg + 2, sizeof(pg) - 4);
	pg[4] = 2u << 5;
	pg[6] = 2;
	pg[7] = 2;
	pg[8] = 1;
	put_be16(pg + 18, 32);
	memcpy(pg + 20, key, 32);
	memset(cmd, 0, sizeof(*cmd));
	cmd->nexus = 1;
	cmd->cdb[0] = SECURITY_PROTOCOL_OUT;
	cmd->cdb[1] = 0x20;
	cmd->cdb[3] = 0x10;
	put_be32(cmd->cdb + 6, sizeof(pg));
	cmd->cdb_len = 12;
	cmd->out = pg;
	cmd->out_len = sizeof(pg);
	if (run(dev, cmd) != SAM_STAT_GOOD)
		die("SECURITY PROTOCOL OUT failed");
}

/* One vtl round: a fresh cartridge in a fresh drive, written and read;
 * encrypted by the drive under key when key is not NULL, and at rest under
 * data_key when that is not NULL. */
static struct pass vtl_round(const char *dir, uint64_t total, const uint8_t *buf, uint8_t *rbuf,
			     const uint8_t *key, const uint8_t *data_key)
{
	char medium[4200];
	snprintf(medium, sizeof(medium), "%s/tape", dir);

	struct tape_info info = {.media = TAPE_LTO9};
	strcpy(info.barcode, "BENCH1L9");
	strcpy(info.serial, "BENCH1L9");
	info.capacity = tape_media_capacity(TAPE_LTO9);
	info.at_rest = data_key != NULL;
	if (tape_format(medium, &info) != 0)
		die("tape_format failed");

	struct scsi_dev dev;
	struct ssc_config cfg = {.generation = TAPE_LTO9, .vendor = SSC_VENDOR_IBM};
	strcpy(cfg.serial, "BENCHDRV01");
	if (ssc_drive_init(&dev, &cfg) != 0)
		die("ssc_drive_init failed");
	if (ssc_insert_keyed(&dev, medium, data_key) != 0)
		die("ssc_insert failed");

	struct scsi_cmd cmd = {0};
	for (int i = 0; i < 4; i++) { /* clear power-on and medium-changed UAs */
		cdb6(&cmd, TEST_UNIT_READY, 0, 0);
		if (run(&dev, &cmd) == SAM_STAT_GOOD)
			break;
	}
	if (key)
		set_key(&dev, &cmd, key);

	struct pass p;
	double t = now();
	for (uint64_t done = 0; done < total; done += RECORD) {
		cdb6(&cmd, WRITE_6, 0, RECORD);
		cmd.out = buf;
		cmd.out_len = RECORD;
		if (run(&dev, &cmd) != SAM_STAT_GOOD)
			die("WRITE(6) failed");
		if ((done + RECORD) % GIB == 0 || done + RECORD >= total) {
			cdb6(&cmd, WRITE_FILEMARKS_6, 0, 1);
			cmd.out = NULL;
			cmd.out_len = 0;
			if (run(&dev, &cmd) != SAM_STAT_GOOD)
				die("WRITE FILEMARKS(6) failed");
		}
	}
	p.write_mbs = (double)total / (now() - t) / 1e6;

	cdb6(&cmd, REWIND, 0, 0);
	if (run(&dev, &cmd) != SAM_STAT_GOOD)
		die("REWIND failed");
	evict_dir(medium);

	t = now();
	uint64_t got = 0;
	cmd.in = rbuf;
	cmd.in_cap = RECORD;
	while (got < total) {
		cdb6(&cmd, READ_6, 0, RECORD);
		run(&dev, &cmd);
		if (cmd.status == SAM_STAT_GOOD) {
			got += cmd.in_len;
			continue;
		}
		if (sense_flags(cmd.sense, cmd.sense_len) & SENSE_FILEMARK)
			continue;
		die("READ(6) failed");
	}
	p.read_mbs = (double)total / (now() - t) / 1e6;
	if (memcmp(rbuf, buf, RECORD) != 0)
		die("data read back differs");

	ssc_remove(&dev, true);
	ssc_drive_destroy(&dev);
	bench_rm_tree(medium);
	return p;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

enum { MAX_ROUNDS = 15 };

int main(int argc, char **argv)
{
	const char *base = argc > 1 ? argv[1] : ".";
	uint64_t gib = argc > 2 ? strtoull(argv[2], NULL, 10) : 4;
	int rounds = argc > 3 ? atoi(argv[3]) : 3;
	if (gib == 0 || rounds < 1 || rounds > MAX_ROUNDS)
		die("usage: bench_stream [DIR [GIB [ROUNDS (1-15)]]]");
	uint64_t total = gib * GIB;
	char ddfile[4200];
	const char *dir = tmp_root;

	bench_prog = "bench_stream";
	bench_stop_signals_start(cleanup);
	bench_make_tmp_dir(tmp_root, sizeof(tmp_root), base, "bench_stream");
	snprintf(ddfile, sizeof(ddfile), "%s/dd.out", dir);

	uint8_t *buf = malloc(RECORD);
	uint8_t *rbuf = malloc(RECORD);
	if (!buf || !rbuf)
		die("out of memory");
	uint32_t x = 2463534242u;
	for (size_t i = 0; i < RECORD; i++) { /* xorshift: incompressible bytes */
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = (uint8_t)x;
	}

	static const uint8_t key[32] = {0x42, 0x17, 0x99, 0x03, 0x5c, 0xe1, 0x28, 0x7a,
					0xb0, 0x6d, 0x31, 0xf4, 0x0e, 0x8b, 0x55, 0xc2,
					0x19, 0xa7, 0x4e, 0xd3, 0x60, 0x2f, 0x91, 0xbc,
					0x07, 0x7e, 0xe5, 0x38, 0xca, 0x14, 0x6b, 0xf0};
	double vw[MAX_ROUNDS], vr[MAX_ROUNDS], dw[MAX_ROUNDS], dr[MAX_ROUNDS];
	double ew[MAX_ROUNDS], er[MAX_ROUNDS], aw[MAX_ROUNDS], ar[MAX_ROUNDS];
	static const uint8_t data_key[32] = {0x6e, 0x02, 0xd9, 0x44, 0x1b, 0xa8, 0x73, 0xcf,
					     0x35, 0x90, 0xe6, 0x0a, 0x5d, 0xb2, 0x27, 0x81,
					     0xfc, 0x4a, 0x13, 0x68, 0xc5, 0x3e, 0x97, 0xd0,
					     0x29, 0x84, 0x5b, 0xee, 0x16, 0x7f, 0xa3, 0x48};
	printf("stream %llu GiB, 256 KiB records, filemark (flush) every GiB, in %s, %d rounds\n",
	       (unsigned long long)gib, base, rounds);
	for (int r = 0; r < rounds; r++) {
		struct pass p = vtl_round(dir, total, buf, rbuf, NULL, NULL);
		vw[r] = p.write_mbs;
		vr[r] = p.read_mbs;
		dw[r] = dd_write(ddfile, total);
		dr[r] = dd_read(ddfile, total);
		unlink(ddfile);
		p = vtl_round(dir, total, buf, rbuf, key, NULL);
		ew[r] = p.write_mbs;
		er[r] = p.read_mbs;
		p = vtl_round(dir, total, buf, rbuf, NULL, data_key);
		aw[r] = p.write_mbs;
		ar[r] = p.read_mbs;
		printf(
		    "  round %d: vtl write %7.1f read %7.1f MB/s | dd write %7.1f read %7.1f MB/s"
		    " | drive-encrypted write %7.1f read %7.1f MB/s"
		    " | at rest write %7.1f read %7.1f MB/s\n",
		    r + 1, vw[r], vr[r], dw[r], dr[r], ew[r], er[r], aw[r], ar[r]);
		fflush(stdout);
	}
	double mvw = median(vw, rounds), mvr = median(vr, rounds);
	double mdw = median(dw, rounds), mdr = median(dr, rounds);
	printf("  write: vtl %8.1f MB/s   dd conv=fsync %8.1f MB/s   ratio %.2f (target >= 0.80)\n",
	       mvw, mdw, mvw / mdw);
	printf("  read:  vtl %8.1f MB/s   dd            %8.1f MB/s   ratio %.2f (target >= 0.90)\n",
	       mvr, mdr, mvr / mdr);
	double mew = median(ew, rounds), mer = median(er, rounds);
	printf("  drive encryption (AES-256-GCM): write %8.1f MB/s, %.2f of plain vtl;"
	       " read %8.1f MB/s, %.2f of plain vtl\n",
	       mew, mew / mvw, mer, mer / mvr);
	double maw = median(aw, rounds), mar = median(ar, rounds);
	printf("  encryption at rest (AES-256-GCM): write %8.1f MB/s, %.2f of plain vtl;"
	       " read %8.1f MB/s, %.2f of plain vtl (target >= 0.90)\n",
	       maw, maw / mvw, mar, mar / mvr);

	free(buf);
	free(rbuf);
	return 0;
}
