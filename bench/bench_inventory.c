/*
 * bench_inventory.c - the library's inventory at scale (docs/benchmarks.md,
 * "Inventory at scale"): a library of N storage slots (10,000 by default,
 * the most [library] slots allows) filled by one `vtlctl tape create
 * --count N`, then listed by `vtlctl tape list`, reported by READ ELEMENT
 * STATUS of every slot over iSCSI (SMC-3 6.11, what a backup application's
 * inventory asks), and restarted: the time from exec until vtld is ready
 * (its log says so and the control socket answers) and the CPU time of
 * vtld's main thread until then, then the first `vtlctl library show` after
 * it apart. The peer in the same run is the
 * same library empty: its restart and its READ ELEMENT STATUS, so the
 * ratios say what the tapes cost.
 *
 * Then the disk space of one tape written through a drive (BENCH_SPACE_MIB,
 * default 1280: a sealed 1 GiB segment and an active one) on the default
 * configuration against link_segments = no, the copy of every segment
 * the local store held before: tapes/ + store/ against the bytes written.
 *
 * Then the uploader's CPU with a tape in a drive being written (64 KiB
 * records every 20 ms, a filemark every 2 s) for BENCH_UPLOAD_SECS (60,
 * so that each window holds the uploader's full round of every minute)
 * seconds, in a library of TAPES tapes against one holding that tape
 * alone, alternated, BENCH_ROUNDS windows each: the CPU time of vtld's
 * thread "vtl-upload" (/proc/PID/task/TID/schedstat), so what the other
 * tapes cost its rounds.
 *
 * Usage: bench_inventory [TAPES]   (environment: VTLD, VTLCTL, BENCH_DIR,
 * BENCH_ROUNDS: rounds of list/RES/restart and of the uploader's windows,
 * median printed, default 3; BENCH_UPLOAD_SECS, 0: no uploader phase;
 * BENCH_SPACE_MIB, 0: no space phase).
 * Runs from the build directory (make bench): ./vtld and ./vtlctl. The
 * libraries live in BENCH_DIR/bench_inventory.XXXXXX (BENCH_DIR: "."),
 * removed at the end and also on failure or when the program is stopped:
 * an atexit handler and a thread that waits for SIGINT, SIGTERM, SIGHUP
 * and SIGQUIT stop the vtlds and remove it (bench_stop_signals_start), and
 * every child has PR_SET_PDEATHSIG.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <iscsi.h>
#include <scsi-lowlevel.h>

#include "bench_util.h"

static char tmp_root[PATH_MAX / 2];

/* Run by exit() or by the signal thread (bench_stop_signals_start),
 * under the cleanup lock; what it stops and removes it forgets. */
static void cleanup(void)
{
	bench_children_stop(10);
	bench_rm_tree(tmp_root);
	tmp_root[0] = '\0';
}

struct lib {
	char dir[PATH_MAX];
	char conf[PATH_MAX + 16];
	char log[PATH_MAX + 16];
	char sock[PATH_MAX + 16];
	char tool_log[PATH_MAX + 16];
	char iqn[256];
	char portal[64];
	pid_t pid;
};

/* The CPU seconds vtld's main thread has run so far (the first field of
 * /proc/PID/task/PID/schedstat, in ns): the start itself, exec to
 * "ready", which the machine's other load moves less than the wall time.
 * The threads it leaves working after (the check of the media, the
 * uploader) are not in it. */
static double main_cpu(pid_t pid)
{
	char p[64], stat[256];
	snprintf(p, sizeof(p), "/proc/%d/task/%d/schedstat", (int)pid, (int)pid);
	FILE *f = fopen(p, "r");
	if (!f)
		return -1;
	size_t k = fread(stat, 1, sizeof(stat) - 1, f);
	fclose(f);
	stat[k] = 0;
	unsigned long long ns;
	return sscanf(stat, "%llu", &ns) == 1 ? (double)ns / 1e9 : -1;
}

/* Start vtld on l and wait until it is ready: its log says "ready" (the
 * point at which it tells systemd READY=1: the iSCSI target listens, the
 * control socket is open) and the control socket answers a request whose
 * answer is the same whatever the library holds (`autocreate list`: no
 * policies in either library), so that the two libraries are timed to
 * the same point. Returns the seconds from exec; *show, if not NULL, the
 * seconds of the first `library show` after it (every slot, its barcode
 * and state: an answer a full library makes longer); *cpu, if not NULL,
 * the CPU seconds of vtld's main thread at the ready point. */
static double lib_start_show(struct lib *l, double *show, double *cpu)
{
	const char *vtld = bench_env_or("VTLD", "./vtld");
	const char *vtlctl = bench_env_or("VTLCTL", "./vtlctl");
	FILE *lf = fopen(l->log, "w"); /* a fresh log: the port line is looked for in it */
	if (lf)
		fclose(lf);
	char *argv[] = {(char *)vtld, "--config",    l->conf,	     "--data-dir", l->dir,
			"--listen",   "127.0.0.1:0", "--foreground", NULL};
	double t0 = bench_now();
	l->pid = bench_spawn(argv, NULL, l->log, -1, -1);
	unsigned port = 0;
	bool ready = false;
	char text[16384] = "";
	for (int waited = 0; waited < 600000 && !ready; waited++) {
		usleep(1000);
		FILE *f = fopen(l->log, "r");
		if (!f)
			continue;
		size_t n = fread(text, 1, sizeof(text) - 1, f);
		fclose(f);
		text[n] = '\0';
		const char *s = strstr(text, "iSCSI target ");
		if (!port && s && strchr(s, '\n') &&
		    sscanf(s, "iSCSI target %255s listening on port %u", l->iqn, &port) != 2)
			port = 0;
		ready = port && strstr(text, " info: ready\n");
		int st;
		if (waitpid(l->pid, &st, WNOHANG) == l->pid) {
			bench_child_forget(l->pid);
			bench_die("vtld exited at start-up; log:\n%s", text);
		}
	}
	if (!ready)
		bench_die("vtld did not report its port and \"ready\"; log:\n%s", text);
	snprintf(l->portal, sizeof(l->portal), "127.0.0.1:%u", port);
	char *ask[] = {(char *)vtlctl, "--socket", l->sock, "autocreate", "list", NULL};
	while (bench_run_tool(ask, NULL, l->tool_log, NULL, 0, NULL) != 0)
		usleep(1000);
	double up = bench_now() - t0;
	if (cpu)
		*cpu = main_cpu(l->pid);
	if (show) {
		char *sh[] = {(char *)vtlctl, "--socket", l->sock, "library", "show", NULL};
		double t1 = bench_now();
		if (bench_run_tool(sh, NULL, l->tool_log, NULL, 0, NULL) != 0)
			bench_die("vtlctl library show failed after a start; see %s", l->tool_log);
		*show = bench_now() - t1;
	}
	return up;
}

static double lib_start(struct lib *l)
{
	return lib_start_show(l, NULL, NULL);
}

static void lib_stop(struct lib *l)
{
	if (!bench_child_stop(l->pid, 30))
		bench_die("vtld did not stop on SIGTERM within 30 s");
	l->pid = 0;
}

static void lib_make(struct lib *l, const char *name, unsigned slots, const char *extra)
{
	memset(l, 0, sizeof(*l));
	snprintf(l->dir, sizeof(l->dir), "%s/%s", tmp_root, name);
	if (mkdir(l->dir, 0700) != 0)
		bench_die("mkdir %s: %s", l->dir, strerror(errno));
	snprintf(l->conf, sizeof(l->conf), "%s.conf", l->dir);
	snprintf(l->log, sizeof(l->log), "%s.log", l->dir);
	snprintf(l->sock, sizeof(l->sock), "%s/vtld.sock", l->dir);
	snprintf(l->tool_log, sizeof(l->tool_log), "%s.vtlctl.log", l->dir);
	FILE *f = fopen(l->conf, "w");
	if (!f)
		bench_die("cannot write %s: %s", l->conf, strerror(errno));
	fprintf(f, "[library]\nslots = %u\n%s", slots, extra);
	fclose(f);
}

/* Run vtlctl with args, its output thrown away; returns the seconds. */
static double ctl(struct lib *l, char *const args[])
{
	char *argv[16] = {(char *)bench_env_or("VTLCTL", "./vtlctl"), "--socket", l->sock};
	int n = 3;
	for (int i = 0; args[i] && n < 15; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	double t0 = bench_now();
	static char out[16 << 20];
	if (bench_run_tool(argv, NULL, l->tool_log, out, sizeof(out), NULL) != 0) {
		char text[4096] = "";
		FILE *f = fopen(l->tool_log, "r");
		if (f) {
			fseek(f, -(long)sizeof(text) + 1, SEEK_END); /* its end */
			size_t k = fread(text, 1, sizeof(text) - 1, f);
			text[k] = '\0';
			fclose(f);
		}
		bench_die("vtlctl %s %s failed:\n%s", args[0], args[1] ? args[1] : "", text);
	}
	return bench_now() - t0;
}

/* A session with l as initiator iqn, the unit attentions of the new nexus
 * (power on, inventory changed) taken on lun first, as an initiator's TEST
 * UNIT READY takes them. */
static struct iscsi_context *login(struct lib *l, const char *iqn, int lun)
{
	struct iscsi_context *c = iscsi_create_context(iqn);
	if (!c)
		bench_die("iscsi_create_context failed");
	iscsi_set_noautoreconnect(c, 1);
	iscsi_set_timeout(c, 120);
	iscsi_set_session_type(c, ISCSI_SESSION_NORMAL);
	iscsi_set_targetname(c, l->iqn);
	if (iscsi_connect_sync(c, l->portal) != 0 || iscsi_login_sync(c) != 0)
		bench_die("login to %s: %s", l->portal, iscsi_get_error(c));
	for (int i = 0; i < 10; i++) {
		struct scsi_task *tur = iscsi_testunitready_sync(c, lun);
		int good = tur && tur->status == SCSI_STATUS_GOOD;
		if (tur)
			scsi_free_scsi_task(tur);
		if (good)
			break;
	}
	return c;
}

/* READ ELEMENT STATUS (SMC-3 6.11) of every storage element with volume
 * tags, one command of up to 16 MiB - 1; returns the seconds, *n the
 * elements reported. */
static double res_all(struct lib *l, unsigned *n)
{
	struct iscsi_context *c = login(l, "iqn.2024-01.org.vtl.bench:inventory", 0);
	const uint32_t alloc = 0xFFFFFF; /* the largest 24-bit allocation length */
	uint8_t *buf = malloc(alloc);
	if (!buf)
		bench_die("out of memory");
	/* Element type 2 (storage), VOLTAG, from address 0, 65535 elements. */
	uint8_t cdb[12] = {0xB8, 0x10 | 0x02, 0, 0, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0};
	cdb[7] = (uint8_t)(alloc >> 16);
	cdb[8] = (uint8_t)(alloc >> 8);
	cdb[9] = (uint8_t)alloc;
	struct scsi_task *task = scsi_create_task(12, cdb, SCSI_XFER_READ, (int)alloc);
	if (!task)
		bench_die("out of memory");
	scsi_task_add_data_in_buffer(task, (int)alloc, buf);
	double t0 = bench_now();
	if (!iscsi_scsi_command_sync(c, 0, task, NULL) || task->status != SCSI_STATUS_GOOD)
		bench_die("READ ELEMENT STATUS: %s", iscsi_get_error(c));
	double dt = bench_now() - t0;
	*n = (unsigned)buf[2] << 8 | buf[3]; /* number of elements available */
	scsi_free_scsi_task(task);
	free(buf);
	iscsi_logout_sync(c);
	iscsi_destroy_context(c);
	return dt;
}

/* ---- Disk space: the data once (docs/object-store.md, "No second copy") */

static long long data_dir_use(const struct lib *l)
{
	struct bench_inodes seen = {0};
	char p[PATH_MAX + 16];
	snprintf(p, sizeof(p), "%s/tapes", l->dir);
	long long n = bench_disk_use(p, &seen);
	snprintf(p, sizeof(p), "%s/store", l->dir);
	n += bench_disk_use(p, &seen);
	free(seen.v);
	return n;
}

/* Write mib MiB of incompressible 256 KiB records and a filemark through
 * drive 1 (LUN 1) of l, as a backup does. */
static void write_tape(struct lib *l, unsigned mib)
{
	struct iscsi_context *c = login(l, "iqn.2024-01.org.vtl.bench:space", 1);
	const uint32_t rec = 256 * 1024;
	uint8_t *buf = malloc(rec);
	if (!buf)
		bench_die("out of memory");
	uint32_t x = 2463534242u;
	for (unsigned r = 0; r < mib * 4; r++) {
		for (uint32_t i = 0; i < rec; i++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			buf[i] = (uint8_t)x;
		}
		uint8_t cdb[6] = {0x0A,		0, (uint8_t)(rec >> 16), (uint8_t)(rec >> 8),
				  (uint8_t)rec, 0};
		struct scsi_task *t = scsi_create_task(6, cdb, SCSI_XFER_WRITE, (int)rec);
		struct scsi_iovec iov = {.iov_base = buf, .iov_len = rec};
		if (!t)
			bench_die("out of memory");
		scsi_task_set_iov_out(t, &iov, 1);
		if (!iscsi_scsi_command_sync(c, 1, t, NULL) || t->status != SCSI_STATUS_GOOD)
			bench_die("WRITE(6) %u: %s", r, iscsi_get_error(c));
		scsi_free_scsi_task(t);
	}
	uint8_t wfm[6] = {0x10, 0, 0, 0, 1, 0};
	struct scsi_task *t = scsi_create_task(6, wfm, SCSI_XFER_NONE, 0);
	if (!t || !iscsi_scsi_command_sync(c, 1, t, NULL) || t->status != SCSI_STATUS_GOOD)
		bench_die("WRITE FILEMARKS: %s", iscsi_get_error(c));
	scsi_free_scsi_task(t);
	free(buf);
	iscsi_logout_sync(c);
	iscsi_destroy_context(c);
}

/* Wait until everything l holds is in its store (vtlctl status). */
static void wait_uploaded(struct lib *l)
{
	char *argv[] = {(char *)bench_env_or("VTLCTL", "./vtlctl"),
			"--socket",
			l->sock,
			"--json",
			"status",
			NULL};
	static char out[1 << 20];
	for (int i = 0; i < 6000; i++) {
		if (bench_run_tool(argv, NULL, l->tool_log, out, sizeof(out), NULL) == 0 &&
		    strstr(out, "\"backlog_bytes\": 0,") && strstr(out, "\"pending_uploads\": 0,"))
			return;
		usleep(100000);
	}
	bench_die("the tape of %s was not in its store after 10 minutes", l->dir);
}

/* One tape written through a drive, unloaded and uploaded on the default
 * configuration and with link_segments = no (the copy vtld made before):
 * disk used by tapes/ and store/ against the bytes written. */
static void space(unsigned mib)
{
	struct lib lk, cp;
	lib_make(&lk, "linked", 40, "");
	lib_make(&cp, "copied", 40, "[store]\nlink_segments = no\n");
	struct lib *both[2] = {&lk, &cp};
	long long used[2];
	for (int k = 0; k < 2; k++) {
		struct lib *l = both[k];
		lib_start(l);
		char *create[] = {"tape", "create", "SPC001L8", NULL};
		char *move[] = {"tape", "move", "SPC001L8", "--to", "drive:1", NULL};
		char *unload[] = {"drive", "unload", "1", NULL};
		ctl(l, create);
		ctl(l, move);
		write_tape(l, mib);
		ctl(l, unload);
		wait_uploaded(l);
		used[k] = data_dir_use(l);
		lib_stop(l);
		bench_rm_tree(l->dir);
	}
	double w = (double)mib * 1048576;
	printf(
	    "disk space for %u MiB written through a drive (tapes/ + store/, each inode once):\n",
	    mib);
	printf("  default (segments linked)   %8.1f MiB   %.3f of the bytes written\n",
	       (double)used[0] / 1048576, (double)used[0] / w);
	printf("  link_segments = no (copies) %8.1f MiB   %.3f of the bytes written\n",
	       (double)used[1] / 1048576, (double)used[1] / w);
	printf("  ratio default / copies      %.3f\n", (double)used[0] / (double)used[1]);
	fflush(stdout);
}

/* ---- The uploader's rounds with a tape in a drive (docs/benchmarks.md) -- */

/* CPU seconds of l's vtld thread named comm, -1 if none. */
static double thread_cpu(const struct lib *l, const char *comm)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)l->pid);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	double cpu = -1;
	struct dirent *e;
	while ((e = readdir(d)) && cpu < 0) {
		char name[64] = "", stat[1024] = "";
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/comm", (int)l->pid, e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		if (!fgets(name, sizeof(name), f))
			name[0] = 0;
		fclose(f);
		name[strcspn(name, "\n")] = 0;
		if (strcmp(name, comm))
			continue;
		/* The nanoseconds it ran (schedstat's first field), finer
		 * than stat's clock ticks of 10 ms. */
		snprintf(path, sizeof(path), "/proc/%d/task/%s/schedstat", (int)l->pid, e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		size_t k = fread(stat, 1, sizeof(stat) - 1, f);
		fclose(f);
		stat[k] = 0;
		unsigned long long ns;
		if (sscanf(stat, "%llu", &ns) == 1)
			cpu = (double)ns / 1e9;
	}
	closedir(d);
	return cpu;
}

/* The uploader's rounds since start, full and partial, from `vtlctl --json
 * status` (-1: a vtld that does not count them). */
static void upl_rounds(struct lib *l, long long *full, long long *partial)
{
	char *argv[] = {(char *)bench_env_or("VTLCTL", "./vtlctl"),
			"--socket",
			l->sock,
			"--json",
			"status",
			NULL};
	static char out[1 << 20];
	*full = *partial = -1;
	if (bench_run_tool(argv, NULL, l->tool_log, out, sizeof(out), NULL) != 0)
		return;
	const char *r = strstr(out, "\"rounds\"");
	const char *f = r ? strstr(r, "\"full\":") : NULL,
		   *p = r ? strstr(r, "\"partial\":") : NULL;
	if (f && p) {
		*full = strtoll(f + 7, NULL, 10);
		*partial = strtoll(p + 10, NULL, 10);
	}
}

/* Write 64 KiB records through drive 1 of l for secs seconds, one every
 * 20 ms (3.2 MB/s) and a filemark every 2 s (a backup's files: each is a
 * catalog write), and return the CPU seconds l's uploader thread used
 * meanwhile; *rounds: the rounds it ran (-1: not counted). */
static double upload_window(struct lib *l, double secs, long long *rounds)
{
	struct iscsi_context *c = login(l, "iqn.2024-01.org.vtl.bench:rounds", 1);
	const uint32_t rec = 64 * 1024;
	uint8_t *buf = malloc(rec);
	if (!buf)
		bench_die("out of memory");
	uint32_t x = 2463534242u;
	for (uint32_t i = 0; i < rec; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = (uint8_t)x;
	}
	long long f0, p0, f1, p1;
	upl_rounds(l, &f0, &p0);
	double cpu0 = thread_cpu(l, "vtl-upload"), t0 = bench_now(), next_fm = t0 + 2;
	if (cpu0 < 0)
		bench_die("no thread vtl-upload in vtld %d", (int)l->pid);
	for (unsigned r = 0; bench_now() - t0 < secs; r++) {
		buf[0] = (uint8_t)r; /* no two records alike */
		uint8_t cdb[6] = {0x0A,		0, (uint8_t)(rec >> 16), (uint8_t)(rec >> 8),
				  (uint8_t)rec, 0};
		struct scsi_task *t = scsi_create_task(6, cdb, SCSI_XFER_WRITE, (int)rec);
		struct scsi_iovec iov = {.iov_base = buf, .iov_len = rec};
		if (!t)
			bench_die("out of memory");
		scsi_task_set_iov_out(t, &iov, 1);
		if (!iscsi_scsi_command_sync(c, 1, t, NULL) || t->status != SCSI_STATUS_GOOD)
			bench_die("WRITE(6) %u: %s", r, iscsi_get_error(c));
		scsi_free_scsi_task(t);
		if (bench_now() >= next_fm) {
			uint8_t wfm[6] = {0x10, 0, 0, 0, 1, 0};
			t = scsi_create_task(6, wfm, SCSI_XFER_NONE, 0);
			if (!t || !iscsi_scsi_command_sync(c, 1, t, NULL) ||
			    t->status != SCSI_STATUS_GOOD)
				bench_die("WRITE FILEMARKS: %s", iscsi_get_error(c));
			scsi_free_scsi_task(t);
			next_fm += 2;
		}
		usleep(20000);
	}
	double cpu = thread_cpu(l, "vtl-upload") - cpu0;
	upl_rounds(l, &f1, &p1);
	*rounds = f0 >= 0 && f1 >= 0 ? (f1 - f0) + (p1 - p0) : -1;
	free(buf);
	iscsi_logout_sync(c);
	iscsi_destroy_context(c);
	return cpu;
}

static double median(double *v, int n);

/* The uploader's CPU with a tape in a drive being written, in a library
 * of `tapes` tapes against one holding that tape alone (the peer), the
 * two alternated window by window. */
static void upload_rounds(unsigned tapes, int rounds, double secs)
{
	struct lib big, one;
	/* The uploader at the drives' priority (upload_nice = 0): at nice 19
	 * on a loaded machine it would run fewer rounds, not cheaper ones. */
	const char *conf = "[store]\nupload_nice = 0\n";
	lib_make(&big, "upl_big", tapes, conf);
	lib_make(&one, "upl_one", tapes, conf);
	lib_start(&big);
	lib_start(&one);
	char count[16];
	snprintf(count, sizeof(count), "%u", tapes - 1);
	char *create[] = {"tape", "create", "--prefix", "U", "--count", count, NULL};
	if (tapes > 1)
		ctl(&big, create);
	char *mine[] = {"tape", "create", "UPL001L8", NULL};
	char *move[] = {"tape", "move", "UPL001L8", "--to", "drive:1", NULL};
	struct lib *both[2] = {&big, &one};
	for (int k = 0; k < 2; k++) {
		ctl(both[k], mine);
		ctl(both[k], move);
	}
	/* The first rounds after the create and the load, and the library
	 * record they change (looked at every 10 s), before the windows. */
	sleep(25);
	bench_print_loadavg("before the uploader's rounds");
	double *v = calloc((size_t)rounds * 2, sizeof(double));
	double *cb = v, *co = v + rounds;
	long long nb = -1, no = -1;
	for (int r = 0; r < rounds; r++) {
		long long rb, ro;
		if (r % 2 == 0) {
			cb[r] = upload_window(&big, secs, &rb);
			co[r] = upload_window(&one, secs, &ro);
		} else {
			co[r] = upload_window(&one, secs, &ro);
			cb[r] = upload_window(&big, secs, &rb);
		}
		nb = rb;
		no = ro;
		printf("window %d (%.0f s each, %s first): uploader CPU %.3f s with %u tapes, "
		       "%.3f s with 1, ratio %.2f",
		       r + 1, secs, r % 2 ? "1 tape" : "all tapes", cb[r], tapes, co[r],
		       co[r] > 0 ? cb[r] / co[r] : 0.0);
		if (rb > 0 && ro > 0)
			printf("; %lld and %lld rounds, %.2f and %.2f ms a round", rb, ro,
			       1000 * cb[r] / (double)rb, 1000 * co[r] / (double)ro);
		printf("\n");
		fflush(stdout);
	}
	double mb = median(cb, rounds), mo = median(co, rounds);
	printf("\nuploader with a tape in a drive being written, medians of %d windows:\n", rounds);
	printf("  %u tapes   %.3f CPU s a minute\n", tapes, 60 * mb / secs);
	printf("  1 tape     %.3f CPU s a minute\n", 60 * mo / secs);
	printf("  ratio      %.2f\n", mo > 0 ? mb / mo : 0.0);
	if (nb > 0 && no > 0)
		printf("  (last windows: %lld and %lld rounds)\n", nb, no);
	bench_print_loadavg("after the uploader's rounds");
	free(v);
	lib_stop(&big);
	lib_stop(&one);
	bench_rm_tree(big.dir);
	bench_rm_tree(one.dir);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
	bench_prog = "bench_inventory";
	unsigned tapes = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 10000;
	int rounds = atoi(bench_env_or("BENCH_ROUNDS", "3"));
	if (tapes < 1 || tapes > 10000 || rounds < 1 || rounds > 50)
		bench_die("usage: bench_inventory [TAPES 1-10000], BENCH_ROUNDS 1-50");
	const char *base = bench_env_or("BENCH_DIR", ".");
	bench_stop_signals_start(cleanup);
	bench_make_tmp_dir(tmp_root, sizeof(tmp_root), base, "bench_inventory");
	bench_print_loadavg("at start");

	struct lib empty, full;
	lib_make(&empty, "empty", tapes, "");
	lib_make(&full, "full", tapes, "");
	double first = lib_start(&empty);
	lib_start(&full);
	printf("first start of a library of %u slots: %.2f s\n", tapes, first);

	char count[16];
	snprintf(count, sizeof(count), "%u", tapes);
	char *create[] = {"tape", "create", "--prefix", "I", "--count", count, NULL};
	double tc = ctl(&full, create);
	printf("tape create --count %u: %.2f s (%.2f ms a tape)\n", tapes, tc, 1000 * tc / tapes);
	fflush(stdout);

	/* Alternate the two libraries, round by round: the machine's other
	 * load falls on both alike; medians printed. */
	double *v = calloc((size_t)rounds * 12, sizeof(double));
	double *list = v, *res = v + rounds, *res0 = v + 2 * rounds, *rs = v + 3 * rounds,
	       *rs0 = v + 4 * rounds, *json = v + 5 * rounds, *sh = v + 6 * rounds,
	       *sh0 = v + 7 * rounds, *both = v + 8 * rounds, *both0 = v + 9 * rounds,
	       *cpu = v + 10 * rounds, *cpu0 = v + 11 * rounds;
	char *ls[] = {"tape", "list", NULL};
	char *lsj[] = {"tape", "list", "--json", NULL};
	for (int r = 0; r < rounds; r++) {
		unsigned n, n0;
		list[r] = ctl(&full, ls);
		json[r] = ctl(&full, lsj);
		res[r] = res_all(&full, &n);
		res0[r] = res_all(&empty, &n0);
		if (n != tapes || n0 != tapes)
			bench_die("READ ELEMENT STATUS reported %u and %u slots, want %u", n, n0,
				  tapes);
		/* The restarts alternate which library goes first, as the
		 * other phases alternate the libraries. */
		struct lib *first_lib = r % 2 ? &full : &empty;
		struct lib *second_lib = r % 2 ? &empty : &full;
		double *t1 = r % 2 ? rs : rs0, *t2 = r % 2 ? rs0 : rs;
		double *s1 = r % 2 ? sh : sh0, *s2 = r % 2 ? sh0 : sh;
		double *c1 = r % 2 ? cpu : cpu0, *c2 = r % 2 ? cpu0 : cpu;
		lib_stop(first_lib);
		t1[r] = lib_start_show(first_lib, &s1[r], &c1[r]);
		lib_stop(second_lib);
		t2[r] = lib_start_show(second_lib, &s2[r], &c2[r]);
		both[r] = rs[r] + sh[r];
		both0[r] = rs0[r] + sh0[r];
		printf("round %d: list %.3f s, list --json %.3f s, RES %.3f s (empty %.3f s), "
		       "restart %.3f s (empty %.3f s; main thread CPU %.3f s, empty %.3f s), then "
		       "library show %.3f s (empty %.3f s), %s first\n",
		       r + 1, list[r], json[r], res[r], res0[r], rs[r], rs0[r], cpu[r], cpu0[r],
		       sh[r], sh0[r], r % 2 ? "full" : "empty");
		fflush(stdout);
	}
	double ml = median(list, rounds), mj = median(json, rounds), mr = median(res, rounds),
	       mr0 = median(res0, rounds), ms = median(rs, rounds), ms0 = median(rs0, rounds);
	printf("\nmedians of %d rounds, %u tapes:\n", rounds, tapes);
	printf("  tape list            %.3f s\n", ml);
	printf("  tape list --json     %.3f s\n", mj);
	printf("  READ ELEMENT STATUS  %.3f s   empty library %.3f s   ratio %.2f\n", mr, mr0,
	       mr / mr0);
	double msh = median(sh, rounds), msh0 = median(sh0, rounds), mb = median(both, rounds),
	       mb0 = median(both0, rounds);
	printf("  restart              %.3f s   empty library %.3f s   ratio %.2f\n", ms, ms0,
	       ms / ms0);
	double mc = median(cpu, rounds), mc0 = median(cpu0, rounds);
	printf("  its main thread CPU  %.3f s   empty library %.3f s   ratio %.2f\n", mc, mc0,
	       mc / mc0);
	printf("  then library show    %.3f s   empty library %.3f s   ratio %.2f\n", msh, msh0,
	       msh / msh0);
	printf("  restart + that show  %.3f s   empty library %.3f s   ratio %.2f\n", mb, mb0,
	       mb / mb0);
	free(v);
	lib_stop(&empty);
	lib_stop(&full);
	bench_rm_tree(empty.dir);
	bench_rm_tree(full.dir);

	double usecs = atof(bench_env_or("BENCH_UPLOAD_SECS", "60"));
	if (usecs > 0)
		upload_rounds(tapes, rounds, usecs);

	unsigned mib = (unsigned)atoi(bench_env_or("BENCH_SPACE_MIB", "1280"));
	if (mib)
		space(mib);
	bench_print_loadavg("at end");
	return 0;
}
