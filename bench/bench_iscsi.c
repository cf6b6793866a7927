/*
 * bench_iscsi.c - the built-in iSCSI target of vtld against Debian's tgt
 * (tgtd with its bs_ssc tape emulation), both driven by libiscsi over
 * 127.0.0.1 in the same run, with single-stream loopback TCP as the ceiling.
 *
 * The benchmark. Every target instance is started here, fresh, and
 * stopped here (also on failure: an atexit handler and a thread that waits
 * for SIGINT, SIGTERM, SIGHUP and SIGQUIT stop what we started and remove
 * the temporary directories, and every child has PR_SET_PDEATHSIG):
 *   - vtld (./vtld of this build) on 127.0.0.1 port 0 with a temporary data
 *     directory; four LTO-8 tapes created and moved into drives 1..4 with
 *     ./vtlctl (LUN 1..4);
 *   - tgtd -f on a free loopback port with its own control port, one target
 *     with a tape LUN (--device-type tape --bstype ssc) on a tgtimg file.
 *
 * Workloads, identical for both, one command outstanding per session
 * (libiscsi's synchronous API):
 *   - 256 KiB variable records, WRITE(6) of GIB GiB then REWIND and READ(6)
 *     of all of it (every record carries its number at both ends and every
 *     64th is compared byte for byte, so the data is really on the medium);
 *   - the same with 1 MiB and 64 KiB records (GIB/4 each);
 *   - 4 KiB records: COUNT4K WRITE(6) then COUNT4K READ(6), per-command
 *     latency (p50, p99) and commands/s;
 *   - vtld only: four drives at once (four sessions, four threads, GIB/4
 *     per drive), aggregate MB/s and the ratio to one drive; for it and the
 *     one-drive 256 KiB stream, the CPU seconds per GB of vtld (/proc) and of
 *     the initiator (this process, getrusage), the CPUs each kept busy, the
 *     machine's busy CPUs and vtld's CPU by thread name (struct cpu_mark).
 * Each workload on a fresh target (target_renew), its media empty.
 * Each stream ends with a WRITE FILEMARKS (IMMED=0) that is not timed in
 * the MB/s of the write; the 256 KiB write is also given up to the end of
 * it (its data on stable storage), against the disk's own rate: before and
 * after vtld at its defaults, an in-process equivalent of `dd
 * if=<incompressible> of=DIR/dd.bin bs=256K count=GIB*4096 conv=fsync`
 * (256 KiB write(2)s, one fsync at the end, timed to its return) in the
 * media's directory. After vtld's 256 KiB stream (defaults, unpinned) the
 * space its data directory takes (st_blocks of distinct inodes, once the
 * uploader has put the sealed segments into the embedded store) is given
 * against the bytes written.
 *
 * Every workload runs unpinned, then pinned (the target, the initiator and
 * its threads all on one CPU), and with these negotiated parameters:
 *   - each side's defaults: vtld as shipped, tgt as shipped;
 *   - tgt's defaults on both (MaxRecvDataSegmentLength 8 KiB, InitialR2T=Yes,
 *     FirstBurstLength 64 KiB, MaxBurstLength 256 KiB): vtld gets them from
 *     its [iscsi] config keys, InitialR2T=Yes from the initiator;
 *   - vtld's defaults on both (256 KiB segments, InitialR2T=No, FirstBurst
 *     256 KiB): tgt gets them with tgtadm --op update.
 * libiscsi offers MaxBurstLength and FirstBurstLength 256 KiB and declares
 * 256 KiB MaxRecvDataSegmentLength for Data-In; header and data digests off.
 *
 * The media (vtld's data directory, tgt's image) go in DIR; by default
 * /dev/shm when it has room, else the current directory. On tmpfs the
 * figures are the targets' own (tgt fsyncs every record, which is free
 * there); on a disk they include the disk (and tgt's fsyncs).
 *
 * When the media are in memory (tmpfs), a last section measures the disk
 * the same way with vtld's data directory in BENCH_DISK_DIR (default the
 * current directory): the dd-like write, vtld's 256 KiB stream and its
 * disk space, the dd-like write again.
 *
 * Usage: bench_iscsi [DIR [GIB [COUNT4K]]]  (DIR see above, else BENCH_DIR;
 * GIB 4, COUNT4K 20000)
 * Environment: VTLD, VTLCTL (default ./vtld, ./vtlctl), TGTD, TGTADM, TGTIMG
 * (default from PATH), BENCH_CPU (the CPU for pinned runs, default the last),
 * BENCH_ONLY=vtld or tgt (measure one side only, for profiling),
 * BENCH_PIN=yes or no (only the pinned or the unpinned runs), BENCH_4K=only
 * (only the 4 KiB workload, at each side's defaults: for profiling it),
 * BENCH_FOUR=ROUNDS (only the one-drive 256 KiB stream against the four
 * drives at once, vtld at its defaults, ROUNDS alternating rounds with their
 * CPU figures, when each drive finished and the four's rate until the first
 * did, and the medians; BENCH_PIN as above),
 * BENCH_SCRAPE=MS (a last section: vtld at its defaults, unpinned, with
 * [metrics] served and a thread here GETting /metrics every MS ms, as
 * Prometheus would only far more often, against the same vtld unscraped,
 * alternating over SCRAPE_ROUNDS rounds; medians and the ratio; with
 * BENCH_ONLY=scrape only that section runs).
 * Prints every figure, tgt's and the ratio, then the performance targets with
 * "met" or "MISSED"; a figure it did not measure (a side, a workload or a
 * mode left out by the settings above) is "-" and "not measured", never a
 * zero judged. Exits 0 when it could measure (it does not judge).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <iscsi.h> /* libiscsi */
#include <scsi-lowlevel.h>

#include "bench/bench_util.h"
#include "scsi/be.h"

#define KIB	     1024ull
#define MIB	     (1024ull * KIB)
#define GIB_BYTES    (1024ull * MIB)
#define MAX_DRIVES   4
#define VERIFY_EVERY 64 /* full byte compare of every 64th record */
#define TGT_IQN	     "iqn.2024-01.org.vtl.bench:tgt"

/* ---- small helpers ---------------------------------------------------- */

static int ncpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

/* Pin the calling thread (and the threads it creates later) to cpu, or
 * let it run anywhere when cpu < 0. */
static void pin_self(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	if (cpu >= 0) {
		CPU_SET(cpu, &set);
	} else {
		for (int i = 0; i < ncpus() && i < CPU_SETSIZE; i++)
			CPU_SET(i, &set);
	}
	if (sched_setaffinity(0, sizeof(set), &set) != 0)
		bench_die("sched_setaffinity(%d): %s", cpu, strerror(errno));
}

/* ---- children: vtld, tgtd and the short-lived tools ------------------- */

static char tmp_root[PATH_MAX / 2];
static char media_root[PATH_MAX / 2]; /* tmp_root while the disk section borrows it */
static char tgt_socket[PATH_MAX];     /* tgtd's control socket, removed at exit */

/* Run by exit() or by the signal thread (bench_stop_signals_start),
 * under the cleanup lock; what it stops and removes it forgets. */
static void cleanup(void)
{
	bench_children_stop(5);
	if (tgt_socket[0]) {
		char lock[PATH_MAX + 8];
		snprintf(lock, sizeof(lock), "%s.lock", tgt_socket);
		unlink(tgt_socket);
		unlink(lock);
	}
	bench_rm_tree(tmp_root);
	tmp_root[0] = '\0';
	bench_rm_tree(media_root);
	media_root[0] = '\0';
}

static void run_tool_or_die(char *const argv[], const char *log)
{
	if (bench_run_tool(argv, NULL, log, NULL, 0, NULL) != 0)
		bench_die("%s %s %s failed; see %s", argv[0], argv[1] ? argv[1] : "",
			  argv[1] && argv[2] ? argv[2] : "", log);
}

static unsigned free_port(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof(a);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(s, (struct sockaddr *)&a, &len) != 0)
		bench_die("cannot find a free loopback port: %s", strerror(errno));
	close(s);
	return ntohs(a.sin_port);
}

/* /dev/shm when it can hold both media of the largest run, else ".". */
static const char *default_dir(uint64_t total)
{
	struct statvfs v;
	if (statvfs("/dev/shm", &v) == 0 &&
	    (uint64_t)v.f_bavail * v.f_frsize > 2 * total + 2 * GIB_BYTES)
		return "/dev/shm";
	return ".";
}

/* ---- the two targets -------------------------------------------------- */

enum params {
	P_VTLD, /* vtld's defaults: 256 KiB segments, InitialR2T=No */
	P_TGT,	/* tgt's defaults: 8 KiB segments, InitialR2T=Yes, FirstBurst 64 KiB */
};

struct target {
	bool is_tgt;
	enum params params;
	char dir[PATH_MAX];
	char log[PATH_MAX + 16];
	char portal[64];
	char iqn[256];
	int first_lun, n_luns;
	pid_t pid;
	int cpu;	     /* where it runs (-1: anywhere), for target_renew */
	uint64_t tape_bytes; /* tgt's image size, for target_renew */
};

/* ---- BENCH_SCRAPE: a scraper of vtld's /metrics ----------------------- */

static struct {
	pthread_t thread;
	bool running;
	volatile bool stop;
	unsigned port, every_ms;
	uint64_t scrapes, failures;
} scraper;

static void *scrape_main(void *arg)
{
	(void)arg;
	static char buf[65536];
	while (!scraper.stop) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct sockaddr_in a = {.sin_family = AF_INET,
					.sin_port = htons((uint16_t)scraper.port),
					.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		static const char req[] = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
		bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
			  write(fd, req, sizeof(req) - 1) == (ssize_t)(sizeof(req) - 1);
		ssize_t n;
		uint64_t got = 0;
		while (ok && (n = read(fd, buf, sizeof(buf))) > 0)
			got += (uint64_t)n;
		if (fd >= 0)
			close(fd);
		if (ok && got > 0)
			scraper.scrapes++;
		else
			scraper.failures++;
		usleep(scraper.every_ms * 1000u);
	}
	return NULL;
}

static void scraper_start(const char *log_text)
{
	const char *s = strstr(log_text, "metrics listening on port ");
	if (!s || sscanf(s, "metrics listening on port %u", &scraper.port) != 1)
		bench_die("BENCH_SCRAPE: vtld did not report its metrics port");
	scraper.stop = false;
	if (pthread_create(&scraper.thread, NULL, scrape_main, NULL))
		bench_die("BENCH_SCRAPE: cannot start the scraper thread");
	scraper.running = true;
}

static void scraper_stop(void)
{
	if (!scraper.running)
		return;
	scraper.stop = true;
	pthread_join(scraper.thread, NULL);
	scraper.running = false;
}

static void vtld_start(struct target *t, enum params params, int cpu)
{
	static int seq;
	memset(t, 0, sizeof(*t));
	t->params = params;
	snprintf(t->dir, sizeof(t->dir), "%s/vtld.%d", tmp_root, ++seq);
	if (mkdir(t->dir, 0700) != 0)
		bench_die("mkdir %s: %s", t->dir, strerror(errno));
	snprintf(t->log, sizeof(t->log), "%s/vtld.log", t->dir);

	/* The offered values come from the [iscsi] keys (README.md). */
	char conf[PATH_MAX + 16];
	snprintf(conf, sizeof(conf), "%s/vtld.conf", t->dir);
	FILE *f = fopen(conf, "w");
	if (!f)
		bench_die("cannot write %s: %s", conf, strerror(errno));
	if (params == P_TGT)
		fprintf(f, "[iscsi]\nmax_recv_data_segment = 8192\nfirst_burst = 65536\n"
			   "max_burst = 262144\n");
	if (scraper.every_ms)
		fprintf(f, "[metrics]\nlisten = 127.0.0.1:0\n");
	fclose(f);

	const char *vtld = bench_env_or("VTLD", "./vtld");
	const char *vtlctl = bench_env_or("VTLCTL", "./vtlctl");
	char *argv[] = {(char *)vtld, "--config",    conf,	     "--data-dir", t->dir,
			"--listen",   "127.0.0.1:0", "--foreground", NULL};
	t->pid = bench_spawn(argv, NULL, t->log, -1, cpu);

	unsigned port = 0;
	char text[16384] = "";
	for (int waited = 0; waited < 15000 && !port; waited += 50) {
		usleep(50000);
		FILE *l = fopen(t->log, "r");
		if (!l)
			continue;
		size_t n = fread(text, 1, sizeof(text) - 1, l);
		fclose(l);
		text[n] = '\0';
		const char *s = strstr(text, "iSCSI target ");
		if (s && strchr(s, '\n'))
			if (sscanf(s, "iSCSI target %255s listening on port %u", t->iqn, &port) !=
			    2)
				port = 0;
		int st;
		if (waitpid(t->pid, &st, WNOHANG) == t->pid) {
			bench_child_forget(t->pid);
			t->pid = 0;
			bench_die("vtld exited at start-up; log:\n%s", text);
		}
	}
	if (!port)
		bench_die("vtld did not report its port; log:\n%s", text);
	/* The metrics endpoint is up a moment after the target: wait for
	 * its line too. */
	for (int waited = 0;
	     scraper.every_ms && waited < 10000 && !strstr(text, "metrics listening on port ");
	     waited += 50) {
		usleep(50000);
		FILE *l = fopen(t->log, "r");
		if (!l)
			continue;
		size_t n = fread(text, 1, sizeof(text) - 1, l);
		fclose(l);
		text[n] = '\0';
	}
	if (scraper.every_ms)
		scraper_start(text);
	snprintf(t->portal, sizeof(t->portal), "127.0.0.1:%u", port);
	t->first_lun = 1;
	t->n_luns = MAX_DRIVES;

	char sock[PATH_MAX + 16], tool_log[PATH_MAX + 16];
	snprintf(sock, sizeof(sock), "%s/vtld.sock", t->dir);
	snprintf(tool_log, sizeof(tool_log), "%s/vtlctl.log", t->dir);
	char *create[] = {(char *)vtlctl, "--socket", sock,	  "tape",     "create",
			  "BEN001L8",	  "BEN002L8", "BEN003L8", "BEN004L8", NULL};
	run_tool_or_die(create, tool_log);
	for (int d = 1; d <= MAX_DRIVES; d++) {
		char bc[16], to[16];
		snprintf(bc, sizeof(bc), "BEN%03dL8", d);
		snprintf(to, sizeof(to), "drive:%d", d);
		char *move[] = {(char *)vtlctl, "--socket", sock, "tape", "move", bc,
				"--to",		to,	    NULL};
		run_tool_or_die(move, tool_log);
	}
}

static int tgt_ctl_port;

static int tgtadm(const struct target *t, const char *fmt, ...)
{
	char args[1024], port[16];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(port, sizeof(port), "%d", tgt_ctl_port);
	char *argv[40] = {(char *)bench_env_or("TGTADM", "tgtadm"), "-C", port, "--lld", "iscsi"};
	int n = 5;
	for (char *tok = strtok(args, " "); tok && n < 39; tok = strtok(NULL, " "))
		argv[n++] = tok;
	argv[n] = NULL;
	char tool_log[PATH_MAX + 16];
	snprintf(tool_log, sizeof(tool_log), "%s/tgtadm.log", t->dir);
	return bench_run_tool(argv, NULL, tool_log, NULL, 0, NULL);
}

static void tgt_start(struct target *t, enum params params, uint64_t tape_bytes, int cpu)
{
	static int seq;
	memset(t, 0, sizeof(*t));
	t->is_tgt = true;
	t->params = params;
	snprintf(t->dir, sizeof(t->dir), "%s/tgt.%d", tmp_root, ++seq);
	if (mkdir(t->dir, 0700) != 0)
		bench_die("mkdir %s: %s", t->dir, strerror(errno));
	snprintf(t->log, sizeof(t->log), "%s/tgtd.log", t->dir);

	/* A thin tape image big enough for the longest stream (MB units). */
	char img[PATH_MAX + 16], size[32], tool_log[PATH_MAX + 16];
	snprintf(img, sizeof(img), "%s/tape.img", t->dir);
	snprintf(size, sizeof(size), "--size=%llu",
		 (unsigned long long)(tape_bytes / 1000000 + 1024));
	snprintf(tool_log, sizeof(tool_log), "%s/tgtimg.log", t->dir);
	char *mk[] = {(char *)bench_env_or("TGTIMG", "tgtimg"),
		      "--op=new",
		      "--device-type=tape",
		      "--barcode=TGT001",
		      size,
		      "--type=data",
		      "--thin-provisioning",
		      NULL,
		      NULL};
	char file[PATH_MAX + 32];
	snprintf(file, sizeof(file), "--file=%s", img);
	mk[7] = file;
	run_tool_or_die(mk, tool_log);

	/* A control port nobody else uses (tgtd's socket is in /var/run).
	 * tgtd takes -C 0..32767 only ("out of range" above, seen once pids
	 * passed 12767). */
	for (int tries = 0; tries < 100; tries++) {
		tgt_ctl_port = 1000 + (int)((unsigned)(getpid() + tries * 7919) % 31000u);
		snprintf(tgt_socket, sizeof(tgt_socket), "/var/run/tgtd/socket.%d", tgt_ctl_port);
		if (access(tgt_socket, F_OK) != 0)
			break;
	}
	unsigned port = free_port();
	snprintf(t->portal, sizeof(t->portal), "127.0.0.1:%u", port);
	char portal_arg[96], ctl[16];
	snprintf(portal_arg, sizeof(portal_arg), "portal=%s", t->portal);
	snprintf(ctl, sizeof(ctl), "%d", tgt_ctl_port);
	/* -f: foreground, so the pid we have is tgtd's and SIGTERM stops it. */
	char *argv[] = {
	    (char *)bench_env_or("TGTD", "tgtd"), "-f", "-C", ctl, "--iscsi", portal_arg, NULL};
	t->pid = bench_spawn(argv, NULL, t->log, -1, cpu);

	bool up = false;
	for (int waited = 0; waited < 10000 && !up; waited += 50) {
		usleep(50000);
		int st;
		if (waitpid(t->pid, &st, WNOHANG) == t->pid) {
			bench_child_forget(t->pid);
			t->pid = 0;
			bench_die("tgtd exited at start-up; see %s", t->log);
		}
		up = tgtadm(t, "--mode sys --op show") == 0;
	}
	if (!up)
		bench_die("tgtd did not answer on control port %d; see %s", tgt_ctl_port, t->log);

	if (tgtadm(t, "--mode target --op new --tid 1 --targetname %s", TGT_IQN) != 0 ||
	    tgtadm(t,
		   "--mode logicalunit --op new --tid 1 --lun 1 --backing-store %s "
		   "--bstype ssc --device-type tape",
		   img) != 0 ||
	    tgtadm(t, "--mode target --op bind --tid 1 --initiator-address ALL") != 0)
		bench_die("tgtadm could not set up the tape target; see %s/tgtadm.log", t->dir);
	if (params == P_VTLD) {
		const char *set[][2] = {{"MaxRecvDataSegmentLength", "262144"},
					{"InitialR2T", "No"},
					{"ImmediateData", "Yes"},
					{"FirstBurstLength", "262144"},
					{"MaxBurstLength", "16776192"}};
		for (size_t i = 0; i < sizeof(set) / sizeof(set[0]); i++)
			if (tgtadm(t, "--mode target --op update --tid 1 --name %s --value %s",
				   set[i][0], set[i][1]) != 0)
				bench_die("tgtadm could not set %s=%s; see %s/tgtadm.log",
					  set[i][0], set[i][1], t->dir);
	}
	snprintf(t->iqn, sizeof(t->iqn), "%s", TGT_IQN);
	t->first_lun = 1;
	t->n_luns = 1;
}

static void target_stop(struct target *t)
{
	if (!t->is_tgt)
		scraper_stop();
	bench_child_stop(t->pid, 5);
	t->pid = 0;
	if (t->is_tgt && tgt_socket[0]) {
		char lock[PATH_MAX + 8];
		snprintf(lock, sizeof(lock), "%s.lock", tgt_socket);
		unlink(tgt_socket);
		unlink(lock);
		tgt_socket[0] = '\0';
	}
	bench_rm_tree(t->dir);
	sync(); /* let the next run start with no writeback of this one */
}

static void target_start(struct target *t, bool is_tgt, enum params params, uint64_t tape_bytes,
			 int cpu)
{
	if (is_tgt)
		tgt_start(t, params, tape_bytes, cpu);
	else
		vtld_start(t, params, cpu);
	t->cpu = cpu;
	t->tape_bytes = tape_bytes;
}

/* The same target again, fresh: stopped, its media deleted, started anew.
 * Every workload gets one (docs/benchmarks.md, "Every workload on a fresh
 * target"): media in memory (tmpfs) that a workload before it still holds
 * -- a generation of vtld's tape that its embedded store keeps until the
 * overwrite's manifest is up, tgt's image -- made the next one write into
 * memory that this VM's host had to fault in page by page, ten times
 * slower than memory freed just before, so the order of the workloads
 * and not the targets decided the figures. */
static void target_renew(struct target *t)
{
	bool is_tgt = t->is_tgt;
	enum params params = t->params;
	uint64_t tape_bytes = t->tape_bytes;
	int cpu = t->cpu;
	target_stop(t);
	target_start(t, is_tgt, params, tape_bytes, cpu);
}

/* ---- CPU: what a pass costs the target and the initiator --------------- */

/*
 * Throughput alone cannot say whether four drives gain little because the
 * machine has no CPU left or because something contends: the CPU seconds
 * each side spends per GB can. A mark taken before and after a pass gives
 * the target's CPU (utime + stime of all its threads, live and exited, from
 * /proc/PID/stat, in clock ticks), the initiator's (this process,
 * getrusage RUSAGE_SELF: the thread of a one-drive pass or the four of the
 * four-drive pass; nothing else here runs meanwhile), the machine's busy
 * time from /proc/stat (everything, other users' work included) and the
 * target's threads by name (/proc/PID/task/TID/stat; threads that exited
 * during the pass are missing there, but not from the total).
 */
#define CPU_NAMES 12

struct cpu_mark {
	double wall;
	double target_s, self_s;
	double machine_busy_s, machine_all_s; /* summed over the CPUs */
	int nnames;
	char name[CPU_NAMES][20];
	double name_s[CPU_NAMES];
	double wait_s, slices; /* the target's threads: /proc/.../schedstat */
	double self_switches;  /* this process's context switches (getrusage) */
};

struct cpu_cost {
	bool measured;
	double gb;		  /* 10^9 bytes moved by the pass */
	double wall;		  /* seconds */
	double target_s, init_s;  /* CPU seconds */
	double machine_busy_cpus; /* CPUs busy on average, whatever ran */
	int nnames;
	char name[CPU_NAMES][20];
	double name_s[CPU_NAMES]; /* CPU seconds of the target's threads by name */
	double wait_s;		  /* the target's threads runnable but not running */
	double slices;		  /* times the target's threads were put on a CPU */
	double init_switches;	  /* the initiator's context switches */
};

/* utime + stime in seconds from a /proc/.../stat line; the name (between
 * the parentheses, which may hold spaces) into name when asked. */
static double stat_cpu(const char *path, char *name, size_t cap)
{
	char buf[1024];
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *open = strchr(buf, '('), *close = strrchr(buf, ')');
	if (!open || !close || close < open)
		return -1;
	if (name) {
		size_t len = (size_t)(close - open - 1);
		if (len >= cap)
			len = cap - 1;
		memcpy(name, open + 1, len);
		name[len] = '\0';
	}
	/* After ") ": state(3) ppid pgrp session tty_nr tpgid flags minflt
	 * cminflt majflt cmajflt utime(14) stime(15) (proc(5)). */
	unsigned long long ut, st;
	if (sscanf(close + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) !=
	    2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void cpu_mark_take(struct cpu_mark *m, pid_t target)
{
	memset(m, 0, sizeof(*m));
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)target);
	m->target_s = target > 0 ? stat_cpu(path, NULL, 0) : -1;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)target);
	DIR *d = target > 0 ? opendir(path) : NULL;
	struct dirent *e;
	while (d && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char tpath[96], name[20];
		snprintf(tpath, sizeof(tpath), "/proc/%d/task/%.16s/stat", (int)target, e->d_name);
		double s = stat_cpu(tpath, name, sizeof(name));
		if (s < 0)
			continue;
		int k = 0;
		while (k < m->nnames && strcmp(m->name[k], name) != 0)
			k++;
		if (k == m->nnames) {
			if (m->nnames == CPU_NAMES)
				continue;
			memcpy(m->name[k], name, sizeof(name));
			m->nnames++;
		}
		m->name_s[k] += s;
		/* schedstat: on-CPU ns, run-queue wait ns, timeslices. */
		snprintf(tpath, sizeof(tpath), "/proc/%d/task/%.16s/schedstat", (int)target,
			 e->d_name);
		FILE *ss = fopen(tpath, "r");
		unsigned long long run_ns, wait_ns, slices;
		if (ss && fscanf(ss, "%llu %llu %llu", &run_ns, &wait_ns, &slices) == 3) {
			m->wait_s += (double)wait_ns / 1e9;
			m->slices += (double)slices;
		}
		if (ss)
			fclose(ss);
	}
	if (d)
		closedir(d);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	m->self_switches = (double)(ru.ru_nvcsw + ru.ru_nivcsw);
	m->self_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
		    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	FILE *f = fopen("/proc/stat", "r");
	unsigned long long v[10] = {0};
	if (f) {
		if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
			   &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]) < 8)
			memset(v, 0, sizeof(v));
		fclose(f);
	}
	/* user nice system idle iowait irq softirq steal (guest is in user) */
	double tick = (double)sysconf(_SC_CLK_TCK);
	double idle = (double)(v[3] + v[4]);
	double all = (double)(v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7]);
	m->machine_busy_s = (all - idle) / tick;
	m->machine_all_s = all / tick;
	m->wall = bench_now();
}

static struct cpu_cost cpu_cost_of(const struct cpu_mark *a, const struct cpu_mark *b, double bytes)
{
	struct cpu_cost c = {.measured = a->target_s >= 0 && b->target_s >= 0,
			     .gb = bytes / 1e9,
			     .wall = b->wall - a->wall,
			     .target_s = b->target_s - a->target_s,
			     .init_s = b->self_s - a->self_s,
			     .wait_s = b->wait_s - a->wait_s,
			     .slices = b->slices - a->slices,
			     .init_switches = b->self_switches - a->self_switches};
	double all = b->machine_all_s - a->machine_all_s;
	c.machine_busy_cpus = all > 0 ? (b->machine_busy_s - a->machine_busy_s) / all * ncpus() : 0;
	for (int k = 0; k < b->nnames; k++) {
		double before = 0;
		for (int j = 0; j < a->nnames; j++)
			if (strcmp(a->name[j], b->name[k]) == 0)
				before = a->name_s[j];
		memcpy(c.name[c.nnames], b->name[k], sizeof(c.name[0]));
		c.name_s[c.nnames++] = b->name_s[k] - before;
	}
	return c;
}

/* "vtld 0.62 s/GB (1.31 CPUs), initiator 0.31 s/GB (0.66), machine 1.98
 * of 2 CPUs busy; vtld's threads s/GB: ..." */
static void cpu_print(const char *what, const struct cpu_cost *c)
{
	if (!c->measured || c->gb <= 0 || c->wall <= 0) {
		printf("    %-22s not measured\n", what);
		return;
	}
	printf("    %-22s vtld %.3f s/GB (%.2f CPUs), initiator %.3f s/GB (%.2f CPUs), "
	       "together %.3f s/GB; machine %.2f of %d CPUs busy; vtld's threads, s/GB:",
	       what, c->target_s / c->gb, c->target_s / c->wall, c->init_s / c->gb,
	       c->init_s / c->wall, (c->target_s + c->init_s) / c->gb, c->machine_busy_cpus,
	       ncpus());
	for (int k = 0; k < c->nnames; k++)
		if (c->name_s[k] / c->gb >= 0.0005)
			printf(" %s %.3f", c->name[k], c->name_s[k] / c->gb);
	/* 256 KiB records: 3815 a GB. */
	double recs = c->gb * 1e9 / (256.0 * 1024);
	printf("; vtld waited for a CPU %.3f s/GB, was scheduled %.2f times a record, the "
	       "initiator switched %.2f times a record\n",
	       c->wait_s / c->gb, c->slices / recs, c->init_switches / recs);
}

/* ---- the initiator ---------------------------------------------------- */

struct sess {
	struct iscsi_context *ctx;
	int lun;
	pid_t target_pid;	/* for the CPU it spends (struct cpu_mark) */
	_Atomic uint64_t *done; /* records done in the current pass, or NULL */
	uint8_t *wbuf, *rbuf;	/* 1 MiB each */
};

static void sess_open(struct sess *s, const struct target *t, int lun, int n)
{
	char name[128];
	snprintf(name, sizeof(name), "iqn.2024-01.org.vtl.bench:init%d", n);
	s->ctx = iscsi_create_context(name);
	if (!s->ctx)
		bench_die("iscsi_create_context failed");
	iscsi_set_noautoreconnect(s->ctx, 1);
	iscsi_set_timeout(s->ctx, 120);
	iscsi_set_session_type(s->ctx, ISCSI_SESSION_NORMAL);
	iscsi_set_targetname(s->ctx, t->iqn);
	iscsi_set_header_digest(s->ctx, ISCSI_HEADER_DIGEST_NONE);
	if (t->params == P_TGT)
		iscsi_set_initial_r2t(s->ctx, ISCSI_INITIAL_R2T_YES);
	if (iscsi_connect_sync(s->ctx, t->portal) != 0 || iscsi_login_sync(s->ctx) != 0)
		bench_die("login to %s at %s: %s", t->iqn, t->portal, iscsi_get_error(s->ctx));
	s->lun = lun;
	s->target_pid = t->pid;
	s->done = NULL;
	if (posix_memalign((void **)&s->wbuf, 4096, MIB) != 0 ||
	    posix_memalign((void **)&s->rbuf, 4096, MIB) != 0)
		bench_die("out of memory");
	uint32_t x = 2463534242u + (uint32_t)n; /* xorshift: incompressible */
	for (size_t i = 0; i < MIB; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		s->wbuf[i] = (uint8_t)x;
	}
}

static void sess_close(struct sess *s)
{
	iscsi_logout_sync(s->ctx);
	iscsi_destroy_context(s->ctx);
	free(s->wbuf);
	free(s->rbuf);
	memset(s, 0, sizeof(*s));
}

/* One command, waited for. Returns the SCSI status; *sense_key for a
 * CHECK CONDITION. */
static int cmd6(struct sess *s, uint8_t op, uint8_t b1, uint32_t len, enum scsi_xfer_dir dir,
		uint8_t *buf, uint32_t buflen, uint32_t *got)
{
	uint8_t cdb[6] = {op, b1, 0, 0, 0, 0};
	put_be24(cdb + 2, len);
	struct scsi_task *task = scsi_create_task(6, cdb, (int)dir, (int)buflen);
	if (!task)
		bench_die("out of memory");
	struct scsi_iovec iov = {.iov_base = buf, .iov_len = buflen};
	if (dir == SCSI_XFER_WRITE)
		scsi_task_set_iov_out(task, &iov, 1);
	else if (dir == SCSI_XFER_READ)
		scsi_task_add_data_in_buffer(task, (int)buflen, buf);
	if (!iscsi_scsi_command_sync(s->ctx, s->lun, task, NULL))
		bench_die("command 0x%02x on LUN %d: %s", op, s->lun, iscsi_get_error(s->ctx));
	int status = task->status;
	if (got)
		*got = buflen - (uint32_t)(task->residual_status == SCSI_RESIDUAL_UNDERFLOW
					       ? task->residual
					       : 0);
	scsi_free_scsi_task(task);
	return status;
}

static void must(struct sess *s, uint8_t op, uint8_t b1, uint32_t len, const char *what)
{
	int st = cmd6(s, op, b1, len, SCSI_XFER_NONE, NULL, 0, NULL);
	if (st != SCSI_STATUS_GOOD)
		bench_die("%s on LUN %d: status 0x%02x", what, s->lun, st);
}

static void sess_prepare(struct sess *s)
{
	for (int i = 0; i < 8; i++) /* clear power-on and medium-changed UAs */
		if (cmd6(s, 0x00 /* TEST UNIT READY */, 0, 0, SCSI_XFER_NONE, NULL, 0, NULL) ==
		    SCSI_STATUS_GOOD)
			return;
	bench_die("LUN %d is not ready", s->lun);
}

/* Stamp a record with its number at both ends. */
static void stamp(uint8_t *rec, uint32_t len, uint64_t n)
{
	put_le64(rec, n);
	if (len >= 16)
		put_le64(rec + len - 8, ~n);
}

static void check(const struct sess *s, uint32_t len, uint64_t n)
{
	if (get_le64(s->rbuf) != n || (len >= 16 && get_le64(s->rbuf + len - 8) != ~n))
		bench_die("LUN %d: record %llu read back is not the one written", s->lun,
			  (unsigned long long)n);
	if (n % VERIFY_EVERY == 0 && len > 16 && memcmp(s->rbuf + 8, s->wbuf + 8, len - 16) != 0)
		bench_die("LUN %d: record %llu read back differs", s->lun, (unsigned long long)n);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

struct pass {
	double secs;
	double flush_secs;     /* the closing WRITE FILEMARKS (IMMED=0) of a write pass */
	double p50_us, p99_us; /* when latencies were kept */
};

/* WRITE(6) n records of len bytes from BOT (lat: per-command times, or
 * NULL), then WRITE FILEMARKS (IMMED=0, not timed). */
static struct pass write_pass(struct sess *s, uint32_t len, uint64_t n, double *lat)
{
	must(s, 0x01 /* REWIND */, 0, 0, "REWIND");
	double t0 = bench_now();
	for (uint64_t i = 0; i < n; i++) {
		stamp(s->wbuf, len, i);
		double c0 = lat ? bench_now() : 0;
		int st = cmd6(s, 0x0a /* WRITE(6) */, 0, len, SCSI_XFER_WRITE, s->wbuf, len, NULL);
		if (st != SCSI_STATUS_GOOD)
			bench_die("WRITE(6) of record %llu (%u bytes) on LUN %d: status 0x%02x",
				  (unsigned long long)i, len, s->lun, st);
		if (s->done)
			atomic_store_explicit(s->done, i + 1, memory_order_relaxed);
		if (lat)
			lat[i] = (bench_now() - c0) * 1e6;
	}
	struct pass p = {.secs = bench_now() - t0};
	double f0 = bench_now();
	must(s, 0x10 /* WRITE FILEMARKS(6) */, 0, 1, "WRITE FILEMARKS");
	p.flush_secs = bench_now() - f0;
	return p;
}

static struct pass read_pass(struct sess *s, uint32_t len, uint64_t n, double *lat)
{
	must(s, 0x01 /* REWIND */, 0, 0, "REWIND");
	double t0 = bench_now();
	for (uint64_t i = 0; i < n; i++) {
		uint32_t got = 0;
		double c0 = lat ? bench_now() : 0;
		int st = cmd6(s, 0x08 /* READ(6) */, 0, len, SCSI_XFER_READ, s->rbuf, len, &got);
		if (lat)
			lat[i] = (bench_now() - c0) * 1e6;
		if (st != SCSI_STATUS_GOOD || got != len)
			bench_die(
			    "READ(6) of record %llu (%u bytes) on LUN %d: status 0x%02x, %u bytes",
			    (unsigned long long)i, len, s->lun, st, got);
		check(s, len, i);
		if (s->done)
			atomic_store_explicit(s->done, i + 1, memory_order_relaxed);
	}
	return (struct pass){.secs = bench_now() - t0};
}

static void percentiles(struct pass *p, double *lat, uint64_t n)
{
	qsort(lat, n, sizeof(*lat), cmp_double);
	p->p50_us = lat[n / 2];
	p->p99_us = lat[(n * 99) / 100];
}

/* ---- results ---------------------------------------------------------- */

struct stream_result {
	double write_mbs, read_mbs;
	double durable_mbs; /* the write up to the end of its flushing WRITE FILEMARKS */
	struct cpu_cost write_cpu, read_cpu; /* the passes' CPU, the flush included */
	/* Four drives: the first and the last drive to finish each pass,
	 * seconds after the pass started (a straggler leaves CPU idle). */
	double write_first, write_last, read_first, read_last;
	double write_all_mbs, read_all_mbs; /* until the first drive finished */
};

struct lat_result {
	double write_cps, read_cps;
	double write_p50, write_p99, read_p50, read_p99;
};

struct space_result {
	double written; /* bytes on the tape after the 256 KiB stream */
	double used;	/* st_blocks of the distinct inodes of the data directory */
	double linked;	/* bytes the store took as links (vtlctl status) */
	double backlog; /* bytes not yet in the store when measured */
	bool measured;
};

/* The workloads of run_workloads, in order: what the target's directory
 * held when each started (all on a fresh target: only its own metadata). */
enum { W_256K, W_1M, W_64K, W_4K, W_FOUR, W_N };
static const char *const w_name[W_N] = {"256K", "1M", "64K", "4K", "four drives"};

struct run_result {
	bool valid;
	double held[W_N]; /* bytes under the target's directory at the start, -1: not run */
	struct stream_result s256, s1m, s64k;
	struct lat_result l4k;
	struct stream_result four; /* vtld only */
	struct space_result space; /* vtld at its defaults, unpinned */
};

static struct stream_result stream(struct sess *s, uint32_t len, uint64_t total)
{
	uint64_t n = total / len;
	double bytes = (double)(n * len);
	struct cpu_mark m0, m1, m2;
	cpu_mark_take(&m0, s->target_pid);
	struct pass w = write_pass(s, len, n, NULL);
	cpu_mark_take(&m1, s->target_pid);
	struct pass r = read_pass(s, len, n, NULL);
	cpu_mark_take(&m2, s->target_pid);
	return (struct stream_result){.write_mbs = bytes / w.secs / 1e6,
				      .read_mbs = bytes / r.secs / 1e6,
				      .durable_mbs = bytes / (w.secs + w.flush_secs) / 1e6,
				      .write_cpu = cpu_cost_of(&m0, &m1, bytes),
				      .read_cpu = cpu_cost_of(&m1, &m2, bytes)};
}

static struct lat_result latency(struct sess *s, uint64_t n)
{
	double *lat = malloc(n * sizeof(*lat));
	if (!lat)
		bench_die("out of memory");
	struct lat_result r;
	struct pass w = write_pass(s, 4096, n, lat);
	percentiles(&w, lat, n);
	struct pass rd = read_pass(s, 4096, n, lat);
	percentiles(&rd, lat, n);
	free(lat);
	r.write_cps = (double)n / w.secs;
	r.read_cps = (double)n / rd.secs;
	r.write_p50 = w.p50_us;
	r.write_p99 = w.p99_us;
	r.read_p50 = rd.p50_us;
	r.read_p99 = rd.p99_us;
	return r;
}

/* Four drives at once: one session and one thread per drive, both phases
 * started together; aggregate bytes over the wall time of the phase. The
 * main thread meets the drives' threads at the barriers, so that it can
 * take the CPU marks while no drive is moving data: before the writes,
 * between the last write and the first read, after the reads. */
struct all_four;

struct drive_job {
	struct sess s;
	uint64_t n;
	pthread_barrier_t *bar;
	double w0, w1, r0, r1;
	_Atomic uint64_t done;
	struct all_four *all;
};

/* While all four drives ran: the first drive to finish a pass counts the
 * records every drive had done by then (a straggler at the end leaves a
 * CPU idle, which the aggregate over the whole pass includes). */
struct all_four {
	struct drive_job *jobs;
	atomic_int first_w, first_r;
	double w_bytes, w_secs, r_bytes, r_secs;
};

static void first_to_finish(struct drive_job *j, atomic_int *flag, double start, double *bytes,
			    double *secs)
{
	if (atomic_exchange(flag, 1) != 0)
		return;
	double now = bench_now();
	uint64_t recs = 0;
	for (int d = 0; d < MAX_DRIVES; d++)
		recs += atomic_load_explicit(&j->all->jobs[d].done, memory_order_relaxed);
	*bytes = (double)recs * 256 * KIB;
	*secs = now - start;
}

static void *drive_thread(void *arg)
{
	struct drive_job *j = arg;
	must(&j->s, 0x01, 0, 0, "REWIND");
	pthread_barrier_wait(j->bar);
	j->w0 = bench_now();
	struct pass w = write_pass(&j->s, 256 * KIB, j->n, NULL);
	j->w1 = j->w0 + w.secs;
	first_to_finish(j, &j->all->first_w, j->w0, &j->all->w_bytes, &j->all->w_secs);
	atomic_store(&j->done, 0);
	pthread_barrier_wait(j->bar); /* the writes are over: a mark */
	pthread_barrier_wait(j->bar);
	j->r0 = bench_now();
	struct pass r = read_pass(&j->s, 256 * KIB, j->n, NULL);
	j->r1 = j->r0 + r.secs;
	first_to_finish(j, &j->all->first_r, j->r0, &j->all->r_bytes, &j->all->r_secs);
	return NULL;
}

static struct stream_result four_drives(const struct target *t, uint64_t per_drive)
{
	struct drive_job jobs[MAX_DRIVES];
	pthread_t th[MAX_DRIVES];
	pthread_barrier_t bar;
	struct all_four all = {.jobs = jobs};
	pthread_barrier_init(&bar, NULL, MAX_DRIVES + 1);
	for (int d = 0; d < MAX_DRIVES; d++) {
		memset(&jobs[d], 0, sizeof(jobs[d]));
		sess_open(&jobs[d].s, t, t->first_lun + d, 10 + d);
		sess_prepare(&jobs[d].s);
		jobs[d].n = per_drive / (256 * KIB);
		jobs[d].bar = &bar;
		jobs[d].all = &all;
		jobs[d].s.done = &jobs[d].done;
	}
	for (int d = 0; d < MAX_DRIVES; d++)
		if (pthread_create(&th[d], NULL, drive_thread, &jobs[d]) != 0)
			bench_die("pthread_create failed");
	struct cpu_mark m0, m1, m2;
	cpu_mark_take(&m0, t->pid);
	pthread_barrier_wait(&bar); /* the writes start */
	pthread_barrier_wait(&bar); /* every drive's writes and its flush are done */
	cpu_mark_take(&m1, t->pid);
	pthread_barrier_wait(&bar); /* the reads start */
	double w0 = 1e300, w1 = 0, r0 = 1e300, r1 = 0, bytes = 0;
	for (int d = 0; d < MAX_DRIVES; d++)
		pthread_join(th[d], NULL);
	cpu_mark_take(&m2, t->pid);
	for (int d = 0; d < MAX_DRIVES; d++) {
		w0 = fmin(w0, jobs[d].w0);
		w1 = fmax(w1, jobs[d].w1);
		r0 = fmin(r0, jobs[d].r0);
		r1 = fmax(r1, jobs[d].r1);
		bytes += (double)(jobs[d].n * 256 * KIB);
		sess_close(&jobs[d].s);
	}
	pthread_barrier_destroy(&bar);
	double wf = 1e300, rf = 1e300;
	for (int d = 0; d < MAX_DRIVES; d++) {
		wf = fmin(wf, jobs[d].w1);
		rf = fmin(rf, jobs[d].r1);
	}
	return (struct stream_result){
	    .write_mbs = bytes / (w1 - w0) / 1e6,
	    .read_mbs = bytes / (r1 - r0) / 1e6,
	    .write_cpu = cpu_cost_of(&m0, &m1, bytes),
	    .read_cpu = cpu_cost_of(&m1, &m2, bytes),
	    .write_first = wf - w0,
	    .write_last = w1 - w0,
	    .read_first = rf - r0,
	    .read_last = r1 - r0,
	    .write_all_mbs = all.w_secs > 0 ? all.w_bytes / all.w_secs / 1e6 : 0,
	    .read_all_mbs = all.r_secs > 0 ? all.r_bytes / all.r_secs / 1e6 : 0};
}

struct config {
	uint64_t total;	  /* bytes of the 256 KiB stream */
	uint64_t count4k; /* 4 KiB commands per direction */
	bool four;	  /* run the four-drive workload */
	bool only4k;	  /* BENCH_4K=only: the 4 KiB workload alone */
	bool space;	  /* measure vtld's disk space after the 256 KiB stream */
};

/* ---- disk space against bytes written --------------------------------- */

/* A number of vtlctl status --json, or -1. */
static double status_field(const char *json, const char *name)
{
	char key[64];
	snprintf(key, sizeof(key), "\"%s\":", name);
	const char *p = strstr(json, key);
	return p ? strtod(p + strlen(key), NULL) : -1;
}

/* After the 256 KiB stream of vtld at its defaults: wait (up to 30 s)
 * until the uploader has put all of the tape into the embedded store (the
 * sealed segments as links; the last one, in its drive, is completed
 * `idle_complete` seconds after the flush), then the space the data
 * directory takes against the bytes on the tape. The session says TEST
 * UNIT READY every quarter second meanwhile, as an initiator polling a
 * drive does, so that it is not idle. */
static struct space_result measure_space(const struct target *t, struct sess *s, uint64_t written)
{
	struct space_result r = {.written = (double)written, .measured = true};
	const char *vtlctl = bench_env_or("VTLCTL", "./vtlctl");
	char sock[PATH_MAX + 16], tool_log[PATH_MAX + 16];
	snprintf(sock, sizeof(sock), "%s/vtld.sock", t->dir);
	snprintf(tool_log, sizeof(tool_log), "%s/vtlctl.log", t->dir);
	char *argv[] = {(char *)vtlctl, "--socket", sock, "status", "--json", NULL};
	static char out[65536];
	for (int waited = 0; waited <= 30000; waited += 250) {
		out[0] = '\0';
		if (bench_run_tool(argv, NULL, tool_log, out, sizeof(out), NULL) != 0)
			bench_die("vtlctl status --json failed; see %s", tool_log);
		r.linked = status_field(out, "bytes_linked");
		r.backlog = status_field(out, "backlog_bytes");
		if (r.backlog == 0)
			break;
		usleep(250000);
		must(s, 0x00 /* TEST UNIT READY */, 0, 0, "TEST UNIT READY");
	}
	struct bench_inodes seen = {0};
	r.used = (double)bench_disk_use(t->dir, &seen);
	free(seen.v);
	return r;
}

/* ---- the disk's own rate: what `dd bs=256K conv=fsync` measures -------- */

/* The media are on tmpfs: a write there is a copy into memory, and no
 * disk's rate to compare with. */
static bool media_in_memory;

/* The file system type of path, for the report. */
static const char *fs_name(const char *path, char *buf, size_t cap)
{
	struct statfs f;
	if (statfs(path, &f) != 0)
		return "?";
	switch ((unsigned long)f.f_type) {
	case 0x01021994UL:
		media_in_memory = true;
		return "tmpfs";
	case 0xEF53UL:
		return "ext4";
	case 0x58465342UL:
		return "xfs";
	case 0x9123683EUL:
		return "btrfs";
	case 0x794C7630UL:
		return "overlayfs";
	case 0x2FC12FC1UL:
		return "zfs";
	}
	snprintf(buf, cap, "0x%lx", (unsigned long)f.f_type);
	return buf;
}

/* In-process `dd if=<incompressible> of=DIR/file bs=256K count=total/256K
 * conv=fsync`: one write(2) of 256 KiB a block into a new file of the
 * media's directory, one fsync at the end, timed to its return (as dd
 * times conv=fsync). The file is removed and the page cache of it dropped
 * with it. MB/s = 10^6 bytes/s. */
static double disk_write(const char *dir, uint64_t total)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/dd.bin", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		bench_die("cannot create %s: %s", path, strerror(errno));
	uint8_t *buf;
	if (posix_memalign((void **)&buf, 4096, 256 * KIB) != 0)
		bench_die("out of memory");
	uint32_t x = 88172645u; /* xorshift: incompressible, as the records */
	for (size_t i = 0; i < 256 * KIB; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = (uint8_t)x;
	}
	uint64_t n = total / (256 * KIB);
	double t0 = bench_now();
	for (uint64_t i = 0; i < n; i++) {
		put_le64(buf, i); /* no two blocks alike */
		size_t done = 0;
		while (done < 256 * KIB) {
			ssize_t w = write(fd, buf + done, 256 * KIB - done);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				bench_die("write %s: %s", path, w < 0 ? strerror(errno) : "short");
			done += (size_t)w;
		}
	}
	if (fsync(fd) != 0)
		bench_die("fsync %s: %s", path, strerror(errno));
	double secs = bench_now() - t0;
	close(fd);
	unlink(path);
	free(buf);
	sync();
	return (double)(n * 256 * KIB) / secs / 1e6;
}

/* What the target's directory holds now (st_blocks of distinct inodes). */
static double held_now(const struct target *t)
{
	struct bench_inodes seen = {0};
	double b = (double)bench_disk_use(t->dir, &seen);
	free(seen.v);
	return b;
}

/* Every workload on a fresh target (target_renew): t is started, and is
 * left started (another instance) for the caller to stop. */
static void run_workloads(struct target *t, const struct config *cfg, struct run_result *r)
{
	struct sess s;
	for (int w = 0; w < W_N; w++)
		r->held[w] = -1;
	if (!cfg->only4k) {
		r->held[W_256K] = held_now(t);
		sess_open(&s, t, t->first_lun, 1);
		sess_prepare(&s);
		r->s256 = stream(&s, 256 * KIB, cfg->total);
		if (cfg->space && !t->is_tgt)
			r->space = measure_space(t, &s, cfg->total / (256 * KIB) * (256 * KIB));
		sess_close(&s);
		target_renew(t);
		r->held[W_1M] = held_now(t);
		sess_open(&s, t, t->first_lun, 1);
		sess_prepare(&s);
		r->s1m = stream(&s, (uint32_t)MIB, cfg->total / 4);
		sess_close(&s);
		target_renew(t);
		r->held[W_64K] = held_now(t);
		sess_open(&s, t, t->first_lun, 1);
		sess_prepare(&s);
		r->s64k = stream(&s, 64 * KIB, cfg->total / 4);
		sess_close(&s);
		target_renew(t);
	}
	r->held[W_4K] = held_now(t);
	sess_open(&s, t, t->first_lun, 1);
	sess_prepare(&s);
	r->l4k = latency(&s, cfg->count4k);
	sess_close(&s);
	if (cfg->four && !cfg->only4k) {
		target_renew(t);
		r->held[W_FOUR] = held_now(t);
		r->four = four_drives(t, cfg->total / 4);
	}
	r->valid = true;
}

/* ---- loopback TCP: one stream, 256 KiB writes ------------------------- */

struct tcp_sink {
	int lfd;
	uint64_t total;
	int cpu;
	double end;
};

static void *tcp_sink_thread(void *arg)
{
	struct tcp_sink *k = arg;
	pin_self(k->cpu);
	int fd = accept(k->lfd, NULL, NULL);
	if (fd < 0)
		bench_die("accept: %s", strerror(errno));
	uint8_t *buf = malloc(256 * KIB);
	uint64_t got = 0;
	while (got < k->total) {
		ssize_t n = recv(fd, buf, 256 * KIB, 0);
		if (n <= 0)
			bench_die("loopback recv: %s", n ? strerror(errno) : "EOF");
		got += (uint64_t)n;
	}
	k->end = bench_now();
	(void)!send(fd, "k", 1, 0);
	free(buf);
	close(fd);
	return NULL;
}

static double loopback_tcp(uint64_t total, int cpu)
{
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof(a);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(lfd, 1) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &len) != 0)
		bench_die("loopback listen: %s", strerror(errno));
	struct tcp_sink k = {.lfd = lfd, .total = total, .cpu = cpu};
	pthread_t th;
	if (pthread_create(&th, NULL, tcp_sink_thread, &k) != 0)
		bench_die("pthread_create failed");
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		bench_die("loopback connect: %s", strerror(errno));
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	uint8_t *buf = calloc(1, 256 * KIB);
	double t0 = bench_now();
	for (uint64_t sent = 0; sent < total;) {
		ssize_t n = send(fd, buf, 256 * KIB, 0);
		if (n <= 0)
			bench_die("loopback send: %s", strerror(errno));
		sent += (uint64_t)n;
	}
	char ack;
	(void)!recv(fd, &ack, 1, 0);
	pthread_join(th, NULL);
	close(fd);
	close(lfd);
	free(buf);
	return (double)total / (k.end - t0) / 1e6;
}

/* ---- report ----------------------------------------------------------- */

/* Per pinning mode: vtld and tgt each at vtld's and at tgt's parameters. */
struct mode_result {
	double tcp_mbs;
	double disk_mbs[2]; /* the dd-like write before and after vtld at its defaults */
	struct run_result vtld[2], tgt[2]; /* [P_VTLD], [P_TGT] */
};

static double disk_mean(const struct mode_result *m)
{
	return (m->disk_mbs[0] + m->disk_mbs[1]) / 2;
}

static double ratio(double a, double b)
{
	return b > 0 ? a / b : 0;
}

/* Did r measure workload w? A side not run (BENCH_ONLY), a workload
 * left out (BENCH_4K=only) or a mode not run (BENCH_PIN) has no figures:
 * its zeros are not measurements. */
static bool measured(const struct run_result *r, int w)
{
	return r->valid && r->held[w] >= 0;
}

/* The three columns of a mode: each side's defaults, both at tgt's, both
 * at vtld's; [0] vtld, [1] tgt. */
struct cols {
	const struct run_result *r[3][2];
};

static double field(const struct run_result *r, size_t off)
{
	double v;
	memcpy(&v, (const char *)r + off, sizeof(v));
	return v;
}

/* One row of figure off of workload w, "-" where not measured, the row
 * left out when nothing in it was; latency rows (lat) give the ratio
 * tgt/vtld, so > 1 means vtld is faster. */
static void row(const char *what, const char *unit, const struct cols *c, int w, size_t off,
		bool lat)
{
	bool any = false;
	for (int i = 0; i < 3; i++)
		any |= measured(c->r[i][0], w) || measured(c->r[i][1], w);
	if (!any)
		return;
	printf("  %-22s %-5s", what, unit);
	for (int i = 0; i < 3; i++) {
		bool mv = measured(c->r[i][0], w), mt = measured(c->r[i][1], w);
		double v = mv ? field(c->r[i][0], off) : 0, t = mt ? field(c->r[i][1], off) : 0;
		printf(i ? " |" : "");
		for (int k = 0; k < 2; k++) {
			bool m = k ? mt : mv;
			if (!m)
				printf(" %8s", "-");
			else
				printf(lat ? " %8.1f" : " %8.0f", k ? t : v);
		}
		if (mv && mt)
			printf(" %5.2f", lat ? ratio(t, v) : ratio(v, t));
		else
			printf(" %5s", "-");
	}
	printf("\n");
}

#define RR_OFF(f) offsetof(struct run_result, f)

static void print_mode(const char *name, const struct mode_result *m, const struct config *cfg)
{
	const struct run_result *vv = &m->vtld[P_VTLD], *vt = &m->vtld[P_TGT];
	const struct run_result *tv = &m->tgt[P_VTLD], *tt = &m->tgt[P_TGT];
	const struct cols c = {{{vv, tt}, {vt, tt}, {vv, tv}}};
	printf("\n== %s; loopback TCP single stream %.0f MB/s\n", name, m->tcp_mbs);
	printf("  %-28s %-23s | %-23s | %s\n", "", "each side's defaults", "both at tgt's defaults",
	       "both at vtld's defaults");
	printf("  %-28s %8s %8s %5s | %8s %8s %5s | %8s %8s %5s\n", "", "vtld", "tgt", "ratio",
	       "vtld", "tgt", "ratio", "vtld", "tgt", "ratio");
	char w[64];
	snprintf(w, sizeof(w), "256K write %.4g GiB", (double)cfg->total / (double)GIB_BYTES);
	row(w, "MB/s", &c, W_256K, RR_OFF(s256.write_mbs), false);
	row("256K read", "MB/s", &c, W_256K, RR_OFF(s256.read_mbs), false);
	snprintf(w, sizeof(w), "1M write %.4g GiB", (double)cfg->total / 4 / (double)GIB_BYTES);
	row(w, "MB/s", &c, W_1M, RR_OFF(s1m.write_mbs), false);
	row("1M read", "MB/s", &c, W_1M, RR_OFF(s1m.read_mbs), false);
	snprintf(w, sizeof(w), "64K write %.4g GiB", (double)cfg->total / 4 / (double)GIB_BYTES);
	row(w, "MB/s", &c, W_64K, RR_OFF(s64k.write_mbs), false);
	row("64K read", "MB/s", &c, W_64K, RR_OFF(s64k.read_mbs), false);
	snprintf(w, sizeof(w), "4K write x%llu", (unsigned long long)cfg->count4k);
	row(w, "cmd/s", &c, W_4K, RR_OFF(l4k.write_cps), false);
	row("4K write p50", "us", &c, W_4K, RR_OFF(l4k.write_p50), true);
	row("4K write p99", "us", &c, W_4K, RR_OFF(l4k.write_p99), true);
	row("4K read", "cmd/s", &c, W_4K, RR_OFF(l4k.read_cps), false);
	row("4K read p50", "us", &c, W_4K, RR_OFF(l4k.read_p50), true);
	row("4K read p99", "us", &c, W_4K, RR_OFF(l4k.read_p99), true);
	if (measured(vv, W_256K))
		printf("  256K write to stable storage (to the end of the flushing WRITE "
		       "FILEMARKS), vtld "
		       "at its defaults: %.0f MB/s; a dd-like write of %.4g GiB (256 KiB blocks, "
		       "fsync) "
		       "in the media's directory: %.0f MB/s before, %.0f MB/s after; ratio %.2f\n",
		       vv->s256.durable_mbs, (double)cfg->total / (double)GIB_BYTES, m->disk_mbs[0],
		       m->disk_mbs[1], ratio(vv->s256.durable_mbs, disk_mean(m)));
	if (vv->space.measured)
		printf("  disk space after the 256K stream (vtld at its defaults, embedded store): "
		       "%.0f MB used by the data directory for %.0f MB written = %.2fx; %.0f MB "
		       "linked into the store, %.0f MB not yet in it (the rest copied)\n",
		       vv->space.used / 1e6, vv->space.written / 1e6,
		       ratio(vv->space.used, vv->space.written), vv->space.linked / 1e6,
		       vv->space.backlog / 1e6);
	if (cfg->four && measured(vv, W_FOUR)) {
		printf("  four drives at once, 256K, %.4g GiB each (vtld at its defaults): write "
		       "%.0f MB/s = %.2fx one drive, read %.0f MB/s = %.2fx one drive\n",
		       (double)cfg->total / 4 / (double)GIB_BYTES, vv->four.write_mbs,
		       ratio(vv->four.write_mbs, vv->s256.write_mbs), vv->four.read_mbs,
		       ratio(vv->four.read_mbs, vv->s256.read_mbs));
		printf(
		    "  CPU of the 256K passes, vtld at its defaults (CPU seconds per 10^9 bytes; "
		    "CPUs = CPU seconds / wall seconds of the pass, its flush included):\n");
		cpu_print("one drive, write", &vv->s256.write_cpu);
		cpu_print("four drives, write", &vv->four.write_cpu);
		cpu_print("one drive, read", &vv->s256.read_cpu);
		cpu_print("four drives, read", &vv->four.read_cpu);
	}
	const struct run_result *held[] = {vv, vt, tt, tv};
	const char *held_label[] = {"vtld", "vtld at tgt's", "tgt", "tgt at vtld's"};
	printf("  held by the target's directory when each workload started (a fresh target "
	       "each), MB:");
	for (size_t i = 0; i < sizeof(held) / sizeof(held[0]); i++) {
		if (!held[i]->valid)
			continue;
		printf(" %s", held_label[i]);
		for (int k = 0; k < W_N; k++)
			if (held[i]->held[k] >= 0)
				printf(" %s %.1f", w_name[k], held[i]->held[k] / 1e6);
		printf(";");
	}
	printf("\n");
}

/*
 * 4 KiB commands at each side's defaults, vtld against tgt, in rounds of
 * their own, the order alternating. At one command outstanding a pass is
 * set by where the scheduler puts a connection's two ends, on one CPU or
 * on two (on this kind of virtual machine a wake-up across CPUs costs
 * tens of microseconds), for tgt as for vtld, and it keeps that placement
 * for the whole pass: one pass of each side compares two draws. The 4 KiB
 * target at each side's defaults is judged on the medians.
 */
#define K4_ROUNDS 3

struct k4_medians {
	bool measured;
	struct lat_result vtld, tgt; /* the medians of each figure */
	double write_x, read_x;	     /* the medians of the rounds' cmd/s ratios */
};

static double median_of(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static struct lat_result lat_medians(const struct lat_result *r, int n)
{
	double v[6][K4_ROUNDS];
	for (int i = 0; i < n; i++) {
		v[0][i] = r[i].write_cps;
		v[1][i] = r[i].read_cps;
		v[2][i] = r[i].write_p50;
		v[3][i] = r[i].write_p99;
		v[4][i] = r[i].read_p50;
		v[5][i] = r[i].read_p99;
	}
	return (struct lat_result){.write_cps = median_of(v[0], n),
				   .read_cps = median_of(v[1], n),
				   .write_p50 = median_of(v[2], n),
				   .write_p99 = median_of(v[3], n),
				   .read_p50 = median_of(v[4], n),
				   .read_p99 = median_of(v[5], n)};
}

static struct k4_medians k4_compare(const struct config *cfg, int cpu)
{
	struct lat_result v[K4_ROUNDS], t[K4_ROUNDS];
	printf("\n== 4K at each side's defaults, %s: %d rounds, the order alternating\n",
	       cpu >= 0 ? "pinned" : "unpinned", K4_ROUNDS);
	pin_self(cpu);
	for (int r = 0; r < K4_ROUNDS; r++) {
		for (int k = 0; k < 2; k++) {
			bool is_tgt = (r % 2) ? k == 0 : k == 1;
			struct target tg;
			struct sess s;
			target_start(&tg, is_tgt, is_tgt ? P_TGT : P_VTLD, is_tgt ? cfg->total : 0,
				     cpu);
			sess_open(&s, &tg, tg.first_lun, 1);
			sess_prepare(&s);
			(is_tgt ? t : v)[r] = latency(&s, cfg->count4k);
			sess_close(&s);
			target_stop(&tg);
		}
		printf(
		    "  round %d (%s first): write %.0f / %.0f cmd/s = %.2fx (p99 %.1f / %.1f us); "
		    "read %.0f / %.0f cmd/s = %.2fx (p99 %.1f / %.1f us)\n",
		    r + 1, r % 2 ? "tgt" : "vtld", v[r].write_cps, t[r].write_cps,
		    ratio(v[r].write_cps, t[r].write_cps), v[r].write_p99, t[r].write_p99,
		    v[r].read_cps, t[r].read_cps, ratio(v[r].read_cps, t[r].read_cps),
		    v[r].read_p99, t[r].read_p99);
		fflush(stdout);
	}
	pin_self(-1);
	double wx[K4_ROUNDS], rx[K4_ROUNDS];
	for (int r = 0; r < K4_ROUNDS; r++) {
		wx[r] = ratio(v[r].write_cps, t[r].write_cps);
		rx[r] = ratio(v[r].read_cps, t[r].read_cps);
	}
	struct k4_medians k = {.measured = true,
			       .vtld = lat_medians(v, K4_ROUNDS),
			       .tgt = lat_medians(t, K4_ROUNDS),
			       .write_x = median_of(wx, K4_ROUNDS),
			       .read_x = median_of(rx, K4_ROUNDS)};
	printf("  medians: write %.2fx tgt's cmd/s (vtld %.0f, tgt %.0f), p99 %.1f / %.1f us; read "
	       "%.2fx (vtld %.0f, tgt %.0f), p99 %.1f / %.1f us\n",
	       k.write_x, k.vtld.write_cps, k.tgt.write_cps, k.vtld.write_p99, k.tgt.write_p99,
	       k.read_x, k.vtld.read_cps, k.tgt.read_cps, k.vtld.read_p99, k.tgt.read_p99);
	fflush(stdout);
	return k;
}

/* Rounds of one drive against four drives at once that make bench's run
 * judges the four drives' target on. */
#define FOUR_ROUNDS 3

/* The medians of four_compare's rounds, four drives against one. */
struct four_medians {
	bool measured;
	double write, read;
};

/* The performance targets; "defaults" and "matched" are judged separately. */
static void verdict(const char *name, const struct mode_result *m, const struct config *cfg,
		    const struct four_medians *fm, const struct k4_medians *k4)
{
	const struct run_result *vv = &m->vtld[P_VTLD], *vt = &m->vtld[P_TGT];
	const struct run_result *tv = &m->tgt[P_VTLD], *tt = &m->tgt[P_TGT];
	struct {
		const char *label;
		const struct run_result *v, *t;
	} cmp[] = {{"defaults", vv, tt}, {"at tgt's", vt, tt}, {"at vtld's", vv, tv}};
	printf("  %s:\n", name);
	if (!vv->valid && !vt->valid && !tv->valid && !tt->valid) {
		printf("    not measured\n");
		return;
	}
	/* A target is judged only on figures both sides measured. */
	for (size_t i = 0; i < 3; i++) {
		const struct run_result *v = cmp[i].v, *t = cmp[i].t;
		printf("    %-9s", cmp[i].label);
		if (measured(v, W_256K) && measured(t, W_256K)) {
			double need_w = fmin(2 * t->s256.write_mbs, 0.7 * m->tcp_mbs);
			double need_r = fmin(2 * t->s256.read_mbs, 0.7 * m->tcp_mbs);
			bool w_ok = v->s256.write_mbs >= need_w, r_ok = v->s256.read_mbs >= need_r;
			printf(" 256K write %.0f >= %.0f MB/s %s; 256K read %.0f >= %.0f MB/s %s;",
			       v->s256.write_mbs, need_w, w_ok ? "met" : "MISSED", v->s256.read_mbs,
			       need_r, r_ok ? "met" : "MISSED");
		} else {
			printf(" 256K not measured;");
		}
		if (i == 0 && k4 && k4->measured) {
			/* At each side's defaults: on the rounds (k4_compare). */
			const struct lat_result *vl = &k4->vtld, *tl = &k4->tgt;
			bool cw_ok = k4->write_x >= 2 && vl->write_p99 <= tl->write_p99;
			bool cr_ok = k4->read_x >= 2 && vl->read_p99 <= tl->read_p99;
			printf(" 4K write %.2fx >= 2x tgt's cmd/s, p99 %.1f <= %.1f us %s; 4K read "
			       "%.2fx >= 2x, p99 %.1f <= %.1f us %s (medians of %d alternating "
			       "rounds)\n",
			       k4->write_x, vl->write_p99, tl->write_p99, cw_ok ? "met" : "MISSED",
			       k4->read_x, vl->read_p99, tl->read_p99, cr_ok ? "met" : "MISSED",
			       K4_ROUNDS);
		} else if (measured(v, W_4K) && measured(t, W_4K)) {
			bool cw_ok = v->l4k.write_cps >= 2 * t->l4k.write_cps &&
				     v->l4k.write_p99 <= t->l4k.write_p99;
			bool cr_ok = v->l4k.read_cps >= 2 * t->l4k.read_cps &&
				     v->l4k.read_p99 <= t->l4k.read_p99;
			printf(" 4K write %.0f >= %.0f cmd/s, p99 %.1f <= %.1f us %s; 4K read %.0f "
			       ">= %.0f cmd/s, p99 %.1f <= %.1f us %s\n",
			       v->l4k.write_cps, 2 * t->l4k.write_cps, v->l4k.write_p99,
			       t->l4k.write_p99, cw_ok ? "met" : "MISSED", v->l4k.read_cps,
			       2 * t->l4k.read_cps, v->l4k.read_p99, t->l4k.read_p99,
			       cr_ok ? "met" : "MISSED");
		} else {
			printf(" 4K not measured\n");
		}
	}
	if (cfg->only4k || !measured(vv, W_256K))
		return;
	double dr = ratio(vv->s256.durable_mbs, disk_mean(m));
	printf("    256K write to stable storage %.0f >= 0.9 x %.0f MB/s of the dd-like write "
	       "(%.2f) %s\n",
	       vv->s256.durable_mbs, disk_mean(m), dr,
	       media_in_memory ? "not judged: the media are in memory (tmpfs), give a directory "
				 "on a disk"
	       : dr >= 0.9     ? "met"
			       : "MISSED");
	double rr = ratio(vv->s256.read_mbs, tt->s256.read_mbs);
	if (measured(tt, W_256K))
		printf("    256K read %.0f >= 1.5 x tgt's %.0f MB/s, each side's defaults (%.2f) "
		       "%s\n",
		       vv->s256.read_mbs, tt->s256.read_mbs, rr, rr >= 1.5 ? "met" : "MISSED");
	else
		printf("    256K read against 1.5 x tgt's: not measured (tgt not run)\n");
	if (vv->space.measured) {
		double sr = ratio(vv->space.used, vv->space.written);
		printf("    disk space %.2fx the bytes written (<= 1.05: no second copy) %s\n", sr,
		       sr <= 1.05 ? "met" : "MISSED");
	}
	/* Judged on the alternating rounds (four_compare), not on the one
	 * pass of the table: a single pass of each swings with the moment. */
	if (fm && fm->measured)
		printf(
		    "    four drives: write %.2fx, read %.2fx one drive, medians of %d alternating "
		    "rounds (>= 1.5x) %s\n",
		    fm->write, fm->read, FOUR_ROUNDS,
		    fm->write >= 1.5 && fm->read >= 1.5 ? "met" : "MISSED");
	else if (cfg->four && measured(vv, W_FOUR))
		printf(
		    "    four drives: not judged (%s)\n",
		    fm ? "the rounds were not run"
		       : "pinned: target, initiator and the four sessions share one CPU, which one "
			 "drive keeps busy");
}

/* BENCH_FOUR=ROUNDS: the one-drive 256 KiB stream against the four drives
 * at once, vtld at its defaults, nothing else; ROUNDS rounds, the order
 * alternating (one then four, four then one) so that drift of a shared
 * machine falls on both; each on a fresh target. Prints every round with
 * its CPU and the load average, then the medians. */
static struct four_medians four_compare(const struct config *cfg, int rounds, int cpu)
{
	double one_w[64], one_r[64], four_w[64], four_r[64], rw[64], rr[64];
	if (rounds > 64)
		rounds = 64;
	printf("\n== one drive against four drives at once, 256K, vtld at its defaults, %s; "
	       "%d rounds, the order alternating\n",
	       cpu >= 0 ? "pinned" : "unpinned", rounds);
	for (int r = 0; r < rounds; r++) {
		struct stream_result one = {0}, four = {0};
		for (int k = 0; k < 2; k++) {
			bool do_four = (r % 2) ? k == 0 : k == 1;
			struct target t;
			target_start(&t, false, P_VTLD, 0, cpu);
			if (do_four) {
				four = four_drives(&t, cfg->total / 4);
			} else {
				struct sess s;
				sess_open(&s, &t, t.first_lun, 1);
				sess_prepare(&s);
				one = stream(&s, 256 * KIB, cfg->total);
				sess_close(&s);
			}
			target_stop(&t);
		}
		one_w[r] = one.write_mbs;
		one_r[r] = one.read_mbs;
		four_w[r] = four.write_mbs;
		four_r[r] = four.read_mbs;
		rw[r] = ratio(four.write_mbs, one.write_mbs);
		rr[r] = ratio(four.read_mbs, one.read_mbs);
		printf("  round %d (%s first): write one %.0f, four %.0f MB/s = %.2fx; read one "
		       "%.0f, four %.0f MB/s = %.2fx\n",
		       r + 1, r % 2 ? "four" : "one", one.write_mbs, four.write_mbs, rw[r],
		       one.read_mbs, four.read_mbs, rr[r]);
		printf("    the four drives finished writing %.2f to %.2f s and reading %.2f to "
		       "%.2f s after their start; until the first finished they wrote %.0f MB/s "
		       "(%.2fx one drive) and read %.0f MB/s (%.2fx)\n",
		       four.write_first, four.write_last, four.read_first, four.read_last,
		       four.write_all_mbs, ratio(four.write_all_mbs, one.write_mbs),
		       four.read_all_mbs, ratio(four.read_all_mbs, one.read_mbs));
		cpu_print("one drive, write", &one.write_cpu);
		cpu_print("four drives, write", &four.write_cpu);
		cpu_print("one drive, read", &one.read_cpu);
		cpu_print("four drives, read", &four.read_cpu);
		bench_print_loadavg("after the round");
		fflush(stdout);
	}
	double *v[] = {one_w, four_w, rw, one_r, four_r, rr};
	double med[6];
	for (int i = 0; i < 6; i++)
		med[i] = median_of(v[i], rounds); /* sorted in place: the ranges below */
	printf("  medians of %d rounds: write one %.0f, four %.0f MB/s, ratio %.2fx (range "
	       "%.2f-%.2f); read one %.0f, four %.0f MB/s, ratio %.2fx (range %.2f-%.2f)\n",
	       rounds, med[0], med[1], med[2], rw[0], rw[rounds - 1], med[3], med[4], med[5], rr[0],
	       rr[rounds - 1]);
	fflush(stdout);
	return (struct four_medians){.measured = true, .write = med[2], .read = med[5]};
}

#define SCRAPE_ROUNDS 3

static double median_of_rounds(const double *in)
{
	double v[SCRAPE_ROUNDS];
	memcpy(v, in, sizeof(v));
	return median_of(v, SCRAPE_ROUNDS);
}

/* vtld scraped every `every_ms` against vtld unscraped, in one process:
 * off-on, on-off, off-on, so that drift of the machine falls on both. */
static void scrape_compare(const struct config *cfg, unsigned every_ms)
{
	static const char *const name[6] = {"256K write MB/s", "256K read MB/s",  "4K write cmd/s",
					    "4K read cmd/s",   "4K write p99 us", "4K read p99 us"};
	double v[2][6][SCRAPE_ROUNDS];
	struct config c = *cfg;
	c.four = false;
	uint64_t scrapes = 0, failures = 0;
	for (int r = 0; r < SCRAPE_ROUNDS; r++)
		for (int k = 0; k < 2; k++) {
			int on = (r % 2) ? !k : k;
			struct target t;
			struct run_result res;
			memset(&res, 0, sizeof(res));
			scraper.every_ms = on ? every_ms : 0;
			scraper.scrapes = scraper.failures = 0;
			target_start(&t, false, P_VTLD, 0, -1);
			run_workloads(&t, &c, &res);
			target_stop(&t);
			scrapes += scraper.scrapes;
			failures += scraper.failures;
			v[on][0][r] = res.s256.write_mbs;
			v[on][1][r] = res.s256.read_mbs;
			v[on][2][r] = res.l4k.write_cps;
			v[on][3][r] = res.l4k.read_cps;
			v[on][4][r] = res.l4k.write_p99;
			v[on][5][r] = res.l4k.read_p99;
		}
	scraper.every_ms = 0;
	printf("\n== vtld scraped every %u ms vs not scraped (vtld's defaults, unpinned; medians "
	       "of %d alternating rounds; %llu scrapes, %llu failed)\n",
	       every_ms, SCRAPE_ROUNDS, (unsigned long long)scrapes, (unsigned long long)failures);
	printf("  %-16s %10s %10s %7s   each round: off | scraped\n", "", "off", "scraped",
	       "ratio");
	for (int i = 0; i < 6; i++) {
		double mo = median_of_rounds(v[0][i]), mn = median_of_rounds(v[1][i]);
		printf("  %-16s %10.1f %10.1f %7.2f   %.0f %.0f %.0f | %.0f %.0f %.0f\n", name[i],
		       mo, mn, mo > 0 ? mn / mo : 0, v[0][i][0], v[0][i][1], v[0][i][2], v[1][i][0],
		       v[1][i][1], v[1][i][2]);
	}
	fflush(stdout);
}

/* The media are in memory (tmpfs, the default): the 256 KiB write against
 * the disk's own rate is measured once more with vtld's data directory on
 * a disk, dir (BENCH_DISK_DIR, default the current directory): the dd-like
 * write, vtld at its defaults unpinned (the 256 KiB stream and the disk
 * space after it), the dd-like write again. */
static void disk_section(const struct config *cfg, const char *dir)
{
	char fsbuf[32];
	/* Under cleanup's lock: a signal now finds both directories named. */
	bench_cleanup_lock();
	memcpy(media_root, tmp_root, sizeof(media_root));
	snprintf(tmp_root, sizeof(tmp_root), "%s/bench_iscsi.XXXXXX", dir);
	if (!mkdtemp(tmp_root)) {
		int e = errno;
		memcpy(tmp_root, media_root, sizeof(tmp_root));
		media_root[0] = '\0';
		bench_cleanup_unlock();
		bench_die("cannot create a temporary directory in %s: %s", dir, strerror(e));
	}
	bench_cleanup_unlock();
	media_in_memory = false;
	const char *fs = fs_name(tmp_root, fsbuf, sizeof(fsbuf));
	printf("\n== the disk: vtld's data directory in %s (%s), vtld at its defaults, "
	       "unpinned\n",
	       dir, fs);
	if (media_in_memory) {
		printf("  not measured: %s is in memory too; set BENCH_DISK_DIR to a directory on "
		       "a disk\n",
		       dir);
	} else {
		struct mode_result m;
		memset(&m, 0, sizeof(m));
		struct target t;
		struct run_result *r = &m.vtld[P_VTLD];
		m.disk_mbs[0] = disk_write(tmp_root, cfg->total);
		vtld_start(&t, P_VTLD, -1);
		struct sess sess;
		sess_open(&sess, &t, t.first_lun, 1);
		sess_prepare(&sess);
		r->s256 = stream(&sess, 256 * KIB, cfg->total);
		r->space = measure_space(&t, &sess, cfg->total / (256 * KIB) * (256 * KIB));
		sess_close(&sess);
		target_stop(&t);
		m.disk_mbs[1] = disk_write(tmp_root, cfg->total);
		double dr = ratio(r->s256.durable_mbs, disk_mean(&m));
		printf("  256K write %.0f MB/s, to stable storage %.0f MB/s; a dd-like write of "
		       "%.4g GiB: %.0f MB/s before, %.0f MB/s after; ratio %.2f (>= 0.9) %s\n",
		       r->s256.write_mbs, r->s256.durable_mbs,
		       (double)cfg->total / (double)GIB_BYTES, m.disk_mbs[0], m.disk_mbs[1], dr,
		       dr >= 0.9 ? "met" : "MISSED");
		printf("  256K read %.0f MB/s; disk space %.0f MB used for %.0f MB written = %.2fx "
		       "(<= 1.05) %s; %.0f MB linked into the store, %.0f MB not yet in it\n",
		       r->s256.read_mbs, r->space.used / 1e6, r->space.written / 1e6,
		       ratio(r->space.used, r->space.written),
		       ratio(r->space.used, r->space.written) <= 1.05 ? "met" : "MISSED",
		       r->space.linked / 1e6, r->space.backlog / 1e6);
	}
	fflush(stdout);
	bench_cleanup_lock();
	bench_rm_tree(tmp_root);
	memcpy(tmp_root, media_root, sizeof(tmp_root));
	media_root[0] = '\0';
	bench_cleanup_unlock();
	media_in_memory = true;
}

int main(int argc, char **argv)
{
	bench_prog = "bench_iscsi";
	double gib = argc > 2 ? strtod(argv[2], NULL) : 4.0;
	long long count4k = argc > 3 ? strtoll(argv[3], NULL, 10) : 20000;
	if (!(gib > 0) || count4k < 100)
		bench_die("usage: bench_iscsi [DIR [GIB [COUNT4K]]]");
	struct config cfg = {.total = (uint64_t)(gib * (double)GIB_BYTES) / MIB * MIB,
			     .count4k = (uint64_t)count4k,
			     .four = true};
	const char *base = argc > 1 ? argv[1] : bench_env_or("BENCH_DIR", default_dir(cfg.total));
	const char *only = bench_env_or("BENCH_ONLY", "");
	int cpu = getenv("BENCH_CPU") ? atoi(getenv("BENCH_CPU")) : ncpus() - 1;
	unsigned scrape_ms = (unsigned)atoi(bench_env_or("BENCH_SCRAPE", "0"));
	const char *pin_only = bench_env_or("BENCH_PIN", "");
	cfg.only4k = strcmp(bench_env_or("BENCH_4K", ""), "only") == 0;

	signal(SIGPIPE, SIG_IGN);
	bench_stop_signals_start(cleanup);
	bench_make_tmp_dir(tmp_root, sizeof(tmp_root), base, "bench_iscsi");

	char fsbuf[32];
	printf("iSCSI streaming and latency: vtld (this build) vs tgt bs_ssc, libiscsi, "
	       "127.0.0.1, %d CPUs, media in %s (%s)\n",
	       ncpus(), base, fs_name(tmp_root, fsbuf, sizeof(fsbuf)));
	printf("one command outstanding; MB/s = 10^6 bytes/s; 4K latency ratio = tgt/vtld "
	       "(> 1: vtld faster); pinned = target and initiator on CPU %d\n",
	       cpu);
	bench_print_loadavg("at start (other work on this machine skews the figures)");
	fflush(stdout);

	int four_rounds = atoi(bench_env_or("BENCH_FOUR", "0"));
	if (four_rounds > 0) {
		if (strcmp(pin_only, "yes") != 0)
			four_compare(&cfg, four_rounds, -1);
		if (strcmp(pin_only, "no") != 0) {
			pin_self(cpu);
			four_compare(&cfg, four_rounds, cpu);
			pin_self(-1);
		}
		bench_print_loadavg("at end");
		return 0;
	}
	if (scrape_ms && strcmp(only, "scrape") == 0) {
		scrape_compare(&cfg, scrape_ms);
		bench_print_loadavg("at end");
		return 0;
	}
	struct mode_result modes[2];
	memset(modes, 0, sizeof(modes));
	for (int pinned = 0; pinned < 2; pinned++) {
		struct mode_result *m = &modes[pinned];
		int c = pinned ? cpu : -1;
		if ((strcmp(pin_only, "yes") == 0 && !pinned) ||
		    (strcmp(pin_only, "no") == 0 && pinned))
			continue;
		pin_self(c);
		m->tcp_mbs = loopback_tcp(cfg.total < 4 * GIB_BYTES ? cfg.total : 4 * GIB_BYTES, c);
		for (int p = P_VTLD; p <= P_TGT; p++) {
			struct target t;
			struct config c2 = cfg;
			c2.four = p == P_VTLD;
			c2.space = p == P_VTLD && !pinned && !cfg.only4k;
			if (p == P_VTLD && !cfg.only4k)
				m->disk_mbs[0] = disk_write(tmp_root, cfg.total);
			if (strcmp(only, "tgt") != 0 && !(cfg.only4k && p != P_VTLD)) {
				target_start(&t, false, (enum params)p, 0, c);
				run_workloads(&t, &c2, &m->vtld[p]);
				target_stop(&t);
			}
			if (p == P_VTLD && !cfg.only4k)
				m->disk_mbs[1] = disk_write(tmp_root, cfg.total);
			c2.four = false;
			if (strcmp(only, "vtld") != 0 && !(cfg.only4k && p != P_TGT)) {
				target_start(&t, true, (enum params)p, cfg.total, c);
				run_workloads(&t, &c2, &m->tgt[p]);
				target_stop(&t);
			}
		}
		pin_self(-1);
		print_mode(pinned ? "pinned" : "unpinned", m, &cfg);
		fflush(stdout);
	}
	/* The four drives' target, on rounds of their own (unpinned); the
	 * 4 KiB one at each side's defaults too, when both sides run. */
	struct four_medians fm = {0};
	if (!cfg.only4k && strcmp(only, "tgt") != 0 && strcmp(pin_only, "yes") != 0)
		fm = four_compare(&cfg, FOUR_ROUNDS, -1);
	struct k4_medians k4[2] = {{0}, {0}};
	for (int pinned = 0; pinned < 2 && !only[0]; pinned++)
		if (strcmp(pin_only, pinned ? "no" : "yes") != 0)
			k4[pinned] = k4_compare(&cfg, pinned ? cpu : -1);

	printf("\ntargets (256K: >= 2x tgt or >= 70%% of loopback TCP, whichever is "
	       "lower; 4K: >= 2x tgt's cmd/s and p99 no worse; four drives >= 1.5x one):\n");
	verdict("unpinned", &modes[0], &cfg, &fm, &k4[0]);
	verdict("pinned", &modes[1], &cfg, NULL, &k4[1]);
	if (media_in_memory && strcmp(only, "tgt") != 0 && !cfg.only4k)
		disk_section(&cfg, bench_env_or("BENCH_DISK_DIR", "."));
	if (scrape_ms)
		scrape_compare(&cfg, scrape_ms);
	bench_print_loadavg("at end");
	return 0;
}
