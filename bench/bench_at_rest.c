/*
 * bench_at_rest.c - library encryption of cartridges at rest through the
 * built-in iSCSI target: 256 KiB records written and read by libiscsi on a
 * vtld whose tapes are encrypted at rest ([encryption] mode = library,
 * docs/design.md "Encryption of cartridges at rest"), against the same on
 * a plain vtld, in the same run.
 *
 * The benchmark. Each round starts two vtlds of this build, one after the
 * other, each on 127.0.0.1 port 0 with a fresh data directory, one tape
 * created with ./vtlctl and moved into drive 1 (LUN 1):
 *   - plain: no [encryption] section;
 *   - encrypted: [encryption] mode = library, master_key_file = a file of
 *     32 random bytes, mode 0600, made here.
 * On each: REWIND, WRITE(6) of MIB MiB in 256 KiB variable records (each
 * carries its number at both ends; one command outstanding), an untimed
 * WRITE FILEMARKS (IMMED=0, a flush), REWIND, READ(6) of all of it (every
 * record's numbers checked, every 64th compared byte for byte). After the
 * first encrypted write the cartridge's files are searched for a stretch
 * of the records' bytes: found there, the encrypted side wrote clear data
 * and the benchmark stops; not found on the plain side, the search is
 * broken and it stops too. The two sides alternate which goes first, for
 * ROUNDS rounds; the medians and their ratios are printed.
 *
 * When this vtld refuses the [encryption] section (a build that does not
 * have it), the plain side is still measured and the encrypted side is
 * reported as skipped, with vtld's reason; the program exits 0.
 *
 * Media in DIR: by default /dev/shm when it has room, else ".". On tmpfs
 * the figures are vtld's own, on a disk they include the disk. Everything
 * lives in one temporary directory there, removed at the end and also on
 * failure or when the program is stopped: an atexit handler and a thread
 * that waits for SIGINT, SIGTERM, SIGHUP and SIGQUIT stop the vtlds and
 * remove it (bench_stop_signals_start), and every child has
 * PR_SET_PDEATHSIG.
 *
 * Usage: bench_at_rest [DIR [MIB [ROUNDS]]]   (defaults: see above, 1024, 9)
 * Environment: VTLD, VTLCTL (default ./vtld, ./vtlctl).
 * Exits 0 when it could measure (it does not judge; the target, encrypted
 * >= 0.9 of plain, is printed with "met" or "MISSED").
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dirent.h>
#include <iscsi.h> /* libiscsi */
#include <scsi-lowlevel.h>

#include "bench/bench_util.h"
#include "scsi/be.h"

#define KIB	     1024u
#define MIB	     (1024ull * KIB)
#define RECORD	     (256u * KIB)
#define VERIFY_EVERY 64
#define MAX_ROUNDS   15
#define BARCODE	     "BENAR1L8"
#define PROBE_OFF    4096u /* the stretch of a record searched for on the medium */
#define PROBE_LEN    64u

static char tmp_root[PATH_MAX / 2];

/* Run by exit() or by the signal thread (bench_stop_signals_start),
 * under the cleanup lock; what it stops and removes it forgets. */
static void cleanup(void)
{
	bench_children_stop(5);
	bench_rm_tree(tmp_root);
	tmp_root[0] = '\0';
}

static const char *default_dir(uint64_t total)
{
	struct statvfs v;
	if (statvfs("/dev/shm", &v) == 0 &&
	    (uint64_t)v.f_bavail * v.f_frsize > 4 * total + 1024 * MIB)
		return "/dev/shm";
	return ".";
}

/* ---- vtld ------------------------------------------------------------- */

struct target {
	bool encrypted;
	char dir[PATH_MAX];
	char log[PATH_MAX + 16];
	char portal[64];
	char iqn[256];
	pid_t pid;
};

static void read_log(const struct target *t, char *text, size_t cap)
{
	text[0] = '\0';
	FILE *l = fopen(t->log, "r");
	if (!l)
		return;
	size_t n = fread(text, 1, cap - 1, l);
	fclose(l);
	text[n] = '\0';
}

static void run_tool_or_die(char *const argv[], const char *log)
{
	if (bench_run_tool(argv, NULL, log, NULL, 0, NULL) != 0)
		bench_die("%s %s %s failed; see %s", argv[0], argv[3], argv[4], log);
}

/* A master key file: 32 bytes from /dev/urandom, mode 0600. */
static void make_master_key(const char *path)
{
	uint8_t key[32];
	int in = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (in < 0 || read(in, key, sizeof(key)) != (ssize_t)sizeof(key))
		bench_die("cannot read /dev/urandom: %s", strerror(errno));
	close(in);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, key, sizeof(key)) != (ssize_t)sizeof(key) || close(fd) != 0)
		bench_die("cannot write %s: %s", path, strerror(errno));
	memset(key, 0, sizeof(key));
}

/*
 * Start vtld with one tape in drive 1. false (and *why the line of vtld's
 * log that says why) when the encrypted side's vtld exits at start-up
 * naming the [encryption] section; any other failure stops the benchmark.
 */
static bool vtld_start(struct target *t, bool encrypted, char *why, size_t whylen)
{
	static int seq;
	memset(t, 0, sizeof(*t));
	t->encrypted = encrypted;
	snprintf(t->dir, sizeof(t->dir), "%s/vtld.%d", tmp_root, ++seq);
	if (mkdir(t->dir, 0700) != 0)
		bench_die("mkdir %s: %s", t->dir, strerror(errno));
	snprintf(t->log, sizeof(t->log), "%s/vtld.log", t->dir);

	char conf[PATH_MAX + 16], key[PATH_MAX + 16];
	snprintf(conf, sizeof(conf), "%s/vtld.conf", t->dir);
	snprintf(key, sizeof(key), "%s/master.key", t->dir);
	FILE *f = fopen(conf, "w");
	if (!f)
		bench_die("cannot write %s: %s", conf, strerror(errno));
	if (encrypted) {
		make_master_key(key);
		fprintf(f, "[encryption]\nmode = library\nmaster_key_file = %s\n", key);
	}
	fclose(f);

	const char *vtld = bench_env_or("VTLD", "./vtld");
	const char *vtlctl = bench_env_or("VTLCTL", "./vtlctl");
	char data[PATH_MAX + 16];
	snprintf(data, sizeof(data), "%s/data", t->dir);
	if (mkdir(data, 0700) != 0)
		bench_die("mkdir %s: %s", data, strerror(errno));
	char *argv[] = {(char *)vtld, "--config",    conf,	     "--data-dir", data,
			"--listen",   "127.0.0.1:0", "--foreground", NULL};
	t->pid = bench_spawn(argv, NULL, t->log, -1, -1);

	unsigned port = 0;
	char text[16384];
	for (int waited = 0; waited < 15000 && !port; waited += 50) {
		usleep(50000);
		read_log(t, text, sizeof(text));
		const char *s = strstr(text, "iSCSI target ");
		if (s && strchr(s, '\n') &&
		    sscanf(s, "iSCSI target %255s listening on port %u", t->iqn, &port) != 2)
			port = 0;
		int st;
		if (!port && waitpid(t->pid, &st, WNOHANG) == t->pid) {
			bench_child_forget(t->pid);
			t->pid = 0;
			read_log(t, text, sizeof(text));
			const char *e = strstr(text, "[encryption]");
			if (encrypted && e) {
				const char *b = e;
				while (b > text && b[-1] != '\n')
					b--;
				snprintf(why, whylen, "%.*s", (int)strcspn(b, "\n"), b);
				return false;
			}
			bench_die("vtld exited at start-up; log:\n%s", text);
		}
	}
	if (!port)
		bench_die("vtld did not report its port; log:\n%s", text);
	snprintf(t->portal, sizeof(t->portal), "127.0.0.1:%u", port);

	char sock[PATH_MAX + 32], tool_log[PATH_MAX + 16];
	snprintf(sock, sizeof(sock), "%s/vtld.sock", data);
	snprintf(tool_log, sizeof(tool_log), "%s/vtlctl.log", t->dir);
	char *create[] = {(char *)vtlctl, "--socket", sock, "tape", "create", BARCODE, NULL};
	run_tool_or_die(create, tool_log);
	char *move[] = {(char *)vtlctl, "--socket", sock,      "tape", "move",
			BARCODE,	"--to",	    "drive:1", NULL};
	run_tool_or_die(move, tool_log);
	return true;
}

static void vtld_stop(struct target *t)
{
	bench_child_stop(t->pid, 5);
	t->pid = 0;
	bench_rm_tree(t->dir);
	sync(); /* the next side starts with no writeback of this one */
}

/* Does any file under dir hold the n bytes at needle (first 64 MiB of
 * each file searched)? */
static bool tree_holds(const char *dir, const uint8_t *needle, size_t n)
{
	DIR *d = opendir(dir);
	if (!d)
		return false;
	struct dirent *e;
	bool found = false;
	uint8_t *buf = malloc(64 * MIB);
	if (!buf)
		bench_die("out of memory");
	while (!found && (e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char path[PATH_MAX + 300];
		struct stat sb;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (lstat(path, &sb) != 0)
			continue;
		if (S_ISDIR(sb.st_mode)) {
			found = tree_holds(path, needle, n);
			continue;
		}
		if (!S_ISREG(sb.st_mode))
			continue;
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t got = read(fd, buf, 64 * MIB);
		close(fd);
		for (ssize_t i = 0; !found && got >= (ssize_t)n && i <= got - (ssize_t)n; i++)
			found = buf[i] == needle[0] && memcmp(buf + i, needle, n) == 0;
	}
	free(buf);
	closedir(d);
	return found;
}

/* ---- the initiator ---------------------------------------------------- */

struct sess {
	struct iscsi_context *ctx;
	uint8_t *wbuf, *rbuf;
};

static void sess_open(struct sess *s, const struct target *t)
{
	s->ctx = iscsi_create_context("iqn.2024-01.org.vtl.bench:atrest");
	if (!s->ctx)
		bench_die("iscsi_create_context failed");
	iscsi_set_noautoreconnect(s->ctx, 1);
	iscsi_set_timeout(s->ctx, 120);
	iscsi_set_session_type(s->ctx, ISCSI_SESSION_NORMAL);
	iscsi_set_targetname(s->ctx, t->iqn);
	iscsi_set_header_digest(s->ctx, ISCSI_HEADER_DIGEST_NONE);
	if (iscsi_connect_sync(s->ctx, t->portal) != 0 || iscsi_login_sync(s->ctx) != 0)
		bench_die("login to %s at %s: %s", t->iqn, t->portal, iscsi_get_error(s->ctx));
}

static void sess_close(struct sess *s)
{
	iscsi_logout_sync(s->ctx);
	iscsi_destroy_context(s->ctx);
	s->ctx = NULL;
}

static int cmd6(struct sess *s, uint8_t op, uint32_t len, enum scsi_xfer_dir dir, uint8_t *buf,
		uint32_t *got)
{
	uint8_t cdb[6] = {op, 0, 0, 0, 0, 0};
	put_be24(cdb + 2, len);
	uint32_t buflen = dir == SCSI_XFER_NONE ? 0 : len;
	struct scsi_task *task = scsi_create_task(6, cdb, (int)dir, (int)buflen);
	if (!task)
		bench_die("out of memory");
	struct scsi_iovec iov = {.iov_base = buf, .iov_len = buflen};
	if (dir == SCSI_XFER_WRITE)
		scsi_task_set_iov_out(task, &iov, 1);
	else if (dir == SCSI_XFER_READ)
		scsi_task_add_data_in_buffer(task, (int)buflen, buf);
	if (!iscsi_scsi_command_sync(s->ctx, 1, task, NULL))
		bench_die("command 0x%02x: %s", op, iscsi_get_error(s->ctx));
	int status = task->status;
	if (got)
		*got = buflen - (uint32_t)(task->residual_status == SCSI_RESIDUAL_UNDERFLOW
					       ? task->residual
					       : 0);
	scsi_free_scsi_task(task);
	return status;
}

static void must(struct sess *s, uint8_t op, uint32_t len, const char *what)
{
	int st = cmd6(s, op, len, SCSI_XFER_NONE, NULL, NULL);
	if (st != SCSI_STATUS_GOOD)
		bench_die("%s: status 0x%02x", what, st);
}

struct pass {
	double write_mbs, read_mbs;
	double write_us, read_us; /* vtld's data-path CPU per record (vtld_cpu_ns) */
};

/*
 * CPU time (ns) vtld's threads have run, from /proc/PID/task/TID/schedstat
 * (its first field, nanoseconds on a CPU), leaving out the uploader's
 * threads (vtl-part, vtl-upload: they copy and hash the store's copy in
 * the background, the same work on both sides, docs/benchmarks.md). What
 * is left is the command path: the connection threads, the drive's
 * thread, the main thread. Unlike the wall time, this barely moves with
 * what else runs on the machine, so it shows a change of vtld's own work
 * under load too. Threads that ended between two readings are lost: the
 * data path's do not end during a pass.
 */
static uint64_t vtld_cpu_ns(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return 0;
	uint64_t sum = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char f[PATH_MAX], comm[32] = "";
		snprintf(f, sizeof(f), "%s/%s/comm", path, e->d_name);
		FILE *c = fopen(f, "r");
		if (c) {
			if (!fgets(comm, sizeof(comm), c))
				comm[0] = 0;
			fclose(c);
		}
		if (strncmp(comm, "vtl-part", 8) == 0 || strncmp(comm, "vtl-upload", 10) == 0)
			continue;
		snprintf(f, sizeof(f), "%s/%s/schedstat", path, e->d_name);
		c = fopen(f, "r");
		unsigned long long ns = 0;
		if (c) {
			if (fscanf(c, "%llu", &ns) != 1)
				ns = 0;
			fclose(c);
		}
		sum += ns;
	}
	closedir(d);
	return sum;
}

/* One side of a round: write and read n records; with probe, search the
 * cartridge for a stretch of the records after the write. */
static struct pass side(const struct target *t, struct sess *s, uint64_t n, bool probe)
{
	for (int i = 0;; i++) { /* power-on and medium-changed UAs */
		if (cmd6(s, 0x00 /* TEST UNIT READY */, 0, SCSI_XFER_NONE, NULL, NULL) ==
		    SCSI_STATUS_GOOD)
			break;
		if (i == 8)
			bench_die("LUN 1 is not ready");
	}
	struct pass p;
	must(s, 0x01, 0, "REWIND");
	uint64_t c0 = vtld_cpu_ns(t->pid);
	double t0 = bench_now();
	for (uint64_t i = 0; i < n; i++) {
		put_le64(s->wbuf, i);
		put_le64(s->wbuf + RECORD - 8, ~i);
		int st = cmd6(s, 0x0a /* WRITE(6) */, RECORD, SCSI_XFER_WRITE, s->wbuf, NULL);
		if (st != SCSI_STATUS_GOOD)
			bench_die("WRITE(6) of record %llu: status 0x%02x", (unsigned long long)i,
				  st);
	}
	p.write_mbs = (double)(n * RECORD) / (bench_now() - t0) / 1e6;
	p.write_us = (double)(vtld_cpu_ns(t->pid) - c0) / 1e3 / (double)n;
	must(s, 0x10 /* WRITE FILEMARKS(6) */, 1, "WRITE FILEMARKS");

	if (probe) {
		char tapes[PATH_MAX + 32];
		snprintf(tapes, sizeof(tapes), "%s/data/tapes/%s", t->dir, BARCODE);
		bool clear = tree_holds(tapes, s->wbuf + PROBE_OFF, PROBE_LEN);
		if (t->encrypted && clear)
			bench_die("the encrypted vtld stored the records in clear under %s", tapes);
		if (!t->encrypted && !clear)
			bench_die("the records' bytes were not found in the plain cartridge %s: "
				  "the search for clear data is broken",
				  tapes);
	}

	must(s, 0x01, 0, "REWIND");
	c0 = vtld_cpu_ns(t->pid);
	t0 = bench_now();
	for (uint64_t i = 0; i < n; i++) {
		uint32_t got = 0;
		int st = cmd6(s, 0x08 /* READ(6) */, RECORD, SCSI_XFER_READ, s->rbuf, &got);
		if (st != SCSI_STATUS_GOOD || got != RECORD)
			bench_die("READ(6) of record %llu: status 0x%02x, %u bytes",
				  (unsigned long long)i, st, got);
		if (get_le64(s->rbuf) != i || get_le64(s->rbuf + RECORD - 8) != ~i ||
		    (i % VERIFY_EVERY == 0 && memcmp(s->rbuf + 8, s->wbuf + 8, RECORD - 16) != 0))
			bench_die("record %llu read back is not the one written",
				  (unsigned long long)i);
	}
	p.read_mbs = (double)(n * RECORD) / (bench_now() - t0) / 1e6;
	p.read_us = (double)(vtld_cpu_ns(t->pid) - c0) / 1e3 / (double)n;
	return p;
}

/* Start a side's vtld, measure it, stop it. false: the encrypted side
 * was refused (why says how). */
static bool measure(bool encrypted, struct sess *s, uint64_t n, bool probe, struct pass *out,
		    char *why, size_t whylen)
{
	struct target t;
	if (!vtld_start(&t, encrypted, why, whylen)) {
		bench_rm_tree(t.dir);
		return false;
	}
	sess_open(s, &t);
	*out = side(&t, s, n, probe);
	sess_close(s);
	vtld_stop(&t);
	return true;
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

int main(int argc, char **argv)
{
	bench_prog = "bench_at_rest";
	long long mib = argc > 2 ? strtoll(argv[2], NULL, 10) : 1024;
	int rounds = argc > 3 ? atoi(argv[3]) : 9;
	if (mib < 16 || rounds < 1 || rounds > MAX_ROUNDS)
		bench_die("usage: bench_at_rest [DIR [MIB (>= 16) [ROUNDS (1-15)]]]");
	uint64_t n = (uint64_t)mib * MIB / RECORD;
	const char *base = argc > 1 ? argv[1] : default_dir((uint64_t)mib * MIB);

	signal(SIGPIPE, SIG_IGN);
	bench_stop_signals_start(cleanup);
	bench_make_tmp_dir(tmp_root, sizeof(tmp_root), base, "bench_at_rest");

	struct sess s = {0};
	if (posix_memalign((void **)&s.wbuf, 4096, RECORD) != 0 ||
	    posix_memalign((void **)&s.rbuf, 4096, RECORD) != 0)
		bench_die("out of memory");
	uint32_t x = 2463534242u; /* xorshift: incompressible */
	for (size_t i = 0; i < RECORD; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		s.wbuf[i] = (uint8_t)x;
	}

	printf("encryption at rest through iSCSI: vtld [encryption] mode = library vs plain vtld, "
	       "libiscsi, 127.0.0.1, one command outstanding, 256 KiB records, %lld MiB each way, "
	       "media in %s, %d rounds (sides alternate; medians)\n",
	       mib, base, rounds);
	bench_print_loadavg("at start (other work on this machine skews the figures)");

	double pw[MAX_ROUNDS], pr[MAX_ROUNDS], ew[MAX_ROUNDS], er[MAX_ROUNDS];
	double pwc[MAX_ROUNDS], prc[MAX_ROUNDS], ewc[MAX_ROUNDS], erc[MAX_ROUNDS];
	char why[512] = "";
	bool skipped = false;
	for (int r = 0; r < rounds; r++) {
		struct pass p = {0}, e = {0};
		bool enc_first = r % 2 == 1;
		if (enc_first && !skipped)
			skipped = !measure(true, &s, n, r < 2, &e, why, sizeof(why));
		measure(false, &s, n, r == 0, &p, why, sizeof(why));
		if (!enc_first && !skipped)
			skipped = !measure(true, &s, n, r < 2, &e, why, sizeof(why));
		pw[r] = p.write_mbs;
		pr[r] = p.read_mbs;
		ew[r] = e.write_mbs;
		er[r] = e.read_mbs;
		pwc[r] = p.write_us;
		prc[r] = p.read_us;
		ewc[r] = e.write_us;
		erc[r] = e.read_us;
		if (skipped)
			printf(
			    "  round %d: plain write %7.1f read %7.1f MB/s | encrypted skipped\n",
			    r + 1, pw[r], pr[r]);
		else
			printf("  round %d: plain write %7.1f read %7.1f MB/s | encrypted write "
			       "%7.1f read %7.1f MB/s%s\n"
			       "           vtld CPU per record: plain write %5.1f read %5.1f us | "
			       "encrypted write %5.1f read %5.1f us\n",
			       r + 1, pw[r], pr[r], ew[r], er[r],
			       enc_first ? " (encrypted first)" : "", pwc[r], prc[r], ewc[r],
			       erc[r]);
		fflush(stdout);
	}
	double mpw = median(pw, rounds), mpr = median(pr, rounds);
	printf("  plain vtld:     write %8.1f MB/s   read %8.1f MB/s\n", mpw, mpr);
	if (skipped) {
		printf("  encrypted vtld: skipped: this vtld refuses [encryption] mode = library "
		       "(%s)\n",
		       why);
	} else {
		double mew = median(ew, rounds), mer = median(er, rounds);
		printf("  encrypted vtld: write %8.1f MB/s   read %8.1f MB/s\n", mew, mer);
		printf("  encrypted / plain: write %.2f %s, read %.2f %s (target >= 0.90)\n",
		       mew / mpw, mew / mpw >= 0.9 ? "met" : "MISSED", mer / mpr,
		       mer / mpr >= 0.9 ? "met" : "MISSED");
		/* The CPU figure: plain / encrypted is the throughput ratio a
		 * host whose CPUs are all busy would see. */
		double cpw = median(pwc, rounds), cpr = median(prc, rounds);
		double cew = median(ewc, rounds), cer = median(erc, rounds);
		printf("  vtld CPU per 256 KiB record (command path, without the uploader): "
		       "plain write %.1f read %.1f us, encrypted write %.1f read %.1f us; "
		       "plain / encrypted: write %.2f, read %.2f\n",
		       cpw, cpr, cew, cer, cpw / cew, cpr / cer);
	}
	bench_print_loadavg("at end");
	free(s.wbuf);
	free(s.rbuf);
	return 0;
}
