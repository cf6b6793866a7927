/*
 * bench_upload.c - the uploader of vtld moving a tape to radosgw, against
 * Debian's AWS CLI (`aws s3 cp`) and boto3's transfer manager sending the
 * same bytes to the same radosgw in the same run.
 *
 * Everything is started here and stopped here, also on failure or when the
 * program is stopped (an atexit handler and a thread that waits for
 * SIGINT, SIGTERM, SIGHUP and SIGQUIT, bench_stop_signals_start; every
 * child has PR_SET_PDEATHSIG; radosgw's daemons are stopped with
 * tests/s3/rgw.sh stop, and the temporary directories removed), all on
 * 127.0.0.1:
 *
 *  1. vtld of this build with [store] type = s3 pointing at a loopback port
 *     that is bound here and never listened on, so the store is unreachable
 *     (connection refused) and everything stays in the local cache. One
 *     LTO-8 tape in drive 1; SIZE bytes of random data (incompressible: the
 *     drive's LZ4 stores the records as written) through libiscsi WRITE(6)
 *     in 256 KiB variable records, WRITE FILEMARKS (a flush), `vtlctl drive
 *     unload 1` (a tape out of a drive has its segments completed at once,
 *     not after idle_complete), vtld stopped.
 *  2. radosgw started with tests/s3/rgw.sh (memstore OSD, its RAM cap raised
 *     through CEPH_ARGS so that a 4 GiB object fits), a bucket created, and
 *     SIZE bytes uploaded and deleted untimed (rgw_warm_up says why).
 *  3. vtld started again on the same data directory with the real endpoint;
 *     timed from its start until `vtlctl tape show --json` says every byte
 *     is uploaded (no pending upload, no pending byte, a manifest in the
 *     store). Its peak RSS is VmHWM from /proc/PID/status just before it is
 *     stopped. The bucket is checked: the segment objects hold as many
 *     bytes as the local segment files.
 *  4. The local segment files concatenated, in order, into one file: the
 *     very bytes vtld sent, as one object. Then, each timed from its start
 *     to its exit, its peak RSS from wait4()'s ru_maxrss: `/usr/bin/aws s3
 *     cp` with its default chunk size and concurrency; boto3's upload_file
 *     with TransferConfig's defaults; boto3 with vtld's part_size and
 *     parallel_parts. Each object is checked by HEAD, then deleted.
 *  Between runs every object is deleted and radosgw's garbage collector is
 *  run (`radosgw-admin gc process --include-all`), so the OSD's RAM never
 *  holds more than one copy.
 *
 * Usage: bench_upload [-s SIZE] [-p PARALLEL_PARTS] [-P PART_SIZE] [-d DIR]
 * Environment (the same, for `make bench`): BENCH_UPLOAD_SIZE (default 4G;
 * K/M/G are powers of 1024), BENCH_PARALLEL_PARTS, BENCH_PART_SIZE (written
 * into vtld's [store] section only when given; otherwise vtld's defaults
 * apply), BENCH_DIR (vtld's data directory and the peers' file: /dev/shm
 * when it and the RAM have room, else the current directory); VTLD, VTLCTL
 * (./vtld, ./vtlctl).
 * The boto3 run "as vtld" uses the part_size and parallel_parts given, else
 * vtld's defaults (16 MiB; 4, or 1 for a vtld that does not know the key,
 * which is asked by starting it once with the key).
 * Prints each run's MB/s (10^6 bytes/s), peak RSS and the CPU seconds of the
 * client, radosgw and the OSD, the ratio vtld/peer and whether the target
 * (ratio >= 1 against every peer) was met; exits 0 when it could measure
 * (it does not judge).
 */
#include "config.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <iscsi.h> /* libiscsi */
#include <jansson.h>
#include <scsi-lowlevel.h>

#include "bench/bench_util.h"
#include "s3/store.h"

#define KIB	((uint64_t)1024)
#define MIB	(1024 * KIB)
#define GIB	(1024 * MIB)
#define RECORD	(256 * KIB)
#define BARCODE "UPL001L8"
#define BUCKET	"vtl-bench-upload"
#define AWS	"/usr/bin/aws"
#define PYTHON	"/usr/bin/python3"
/* A run that uploads nothing new for this long has failed. */
#define STALL_SECS 180

/* ---- small helpers ---------------------------------------------------- */

/* "4G", "512M", "16M", "1048576": K, M, G are powers of 1024. */
static uint64_t parse_size(const char *s, const char *what)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	uint64_t mul = 1;
	if (*end == 'K' || *end == 'k')
		mul = KIB;
	else if (*end == 'M' || *end == 'm')
		mul = MIB;
	else if (*end == 'G' || *end == 'g')
		mul = GIB;
	if (mul != 1)
		end++;
	if (errno || end == s || *end || v == 0)
		bench_die("%s '%s': give bytes, or a number with K, M or G (powers of 1024)", what,
			  s);
	return v * mul;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0)
		bench_die("cannot write %s: %s", path, strerror(errno));
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);
	size_t got;
	while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
		n += got;
		if (n + 1 == cap) {
			char *b = realloc(buf, cap *= 2);
			if (!b)
				free(buf);
			buf = b;
		}
	}
	fclose(f);
	if (buf)
		buf[n] = '\0';
	return buf;
}

/* The last lines of a log, for a message that says why something failed. */
static const char *log_tail(const char *path)
{
	static char tail[2048];
	char *text = read_file(path);
	if (!text)
		return "(no log)";
	size_t n = strlen(text);
	snprintf(tail, sizeof(tail), "%s",
		 n > sizeof(tail) - 1 ? text + n - (sizeof(tail) - 1) : text);
	free(text);
	return tail;
}

/* A line "Key:   123 kB" of /proc/PID/status, in bytes; 0 if absent. */
static uint64_t proc_status_kb(pid_t pid, const char *key)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	uint64_t v = 0;
	size_t klen = strlen(key);
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, key, klen) == 0 && line[klen] == ':')
			v = strtoull(line + klen + 1, NULL, 10) * KIB;
	if (f)
		fclose(f);
	return v;
}

/* User + system CPU seconds of a process so far (/proc/PID/stat fields
 * 14 and 15); 0 if it is gone. */
static double proc_cpu(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = '\0';
	const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
	unsigned long long ut = 0, st = 0;
	if (!p ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static uint64_t mem_available(void)
{
	char line[256];
	FILE *f = fopen("/proc/meminfo", "r");
	uint64_t v = 0;
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "MemAvailable:", 13) == 0)
			v = strtoull(line + 13, NULL, 10) * KIB;
	if (f)
		fclose(f);
	return v;
}

/* ---- children --------------------------------------------------------- */

static char tmp_root[PATH_MAX / 4];
static char rgw_dir[PATH_MAX / 4];

/* rgw.sh stop through bench_run_tool, not system(): system() ignores
 * SIGINT and SIGQUIT in the whole process while it waits (POSIX, system()),
 * so a signal sent meanwhile would be lost, and its child would start with
 * the stop signals blocked. */
static void rgw_stop(void)
{
	if (!rgw_dir[0])
		return;
	char *argv[] = {"sh", RGW_SH, "stop", rgw_dir, NULL};
	if (bench_run_tool(argv, NULL, "/dev/null", NULL, 0, NULL) != 0)
		fprintf(stderr, "bench_upload: stopping radosgw in %s failed\n", rgw_dir);
	rgw_dir[0] = '\0';
}

/* Run by exit() or by the signal thread (bench_stop_signals_start),
 * under the cleanup lock; what it stops and removes it forgets. */
static void cleanup(void)
{
	bench_children_stop(10);
	rgw_stop();
	bench_rm_tree(tmp_root);
	tmp_root[0] = '\0';
}

/* ---- vtld and vtlctl -------------------------------------------------- */

struct vtld {
	char dir[PATH_MAX / 2];
	char conf[PATH_MAX];
	char log[PATH_MAX];
	char sock[PATH_MAX];
	char portal[64];
	char iqn[256];
	pid_t pid;
};

/* Start vtld on dir with config text; wait until its iSCSI port is
 * reported (the control socket is up by then). */
static void vtld_start(struct vtld *v, const char *config)
{
	snprintf(v->conf, sizeof(v->conf), "%s/vtld.conf", tmp_root);
	snprintf(v->log, sizeof(v->log), "%s/vtld.log", tmp_root);
	snprintf(v->sock, sizeof(v->sock), "%s/vtld.sock", tmp_root);
	write_file(v->conf, config);
	chmod(v->conf, 0600); /* it holds the S3 secret */
	unlink(v->log);
	char *argv[] = {(char *)bench_env_or("VTLD", "./vtld"),
			"--config",
			v->conf,
			"--data-dir",
			v->dir,
			"--socket",
			v->sock,
			"--listen",
			"127.0.0.1:0",
			"--foreground",
			NULL};
	v->pid = bench_spawn(argv, NULL, v->log, -1, -1);
	unsigned port = 0;
	for (int waited = 0; waited < 30000 && !port; waited += 50) {
		usleep(50000);
		char *text = read_file(v->log);
		const char *s = text ? strstr(text, "iSCSI target ") : NULL;
		if (s && strchr(s, '\n') &&
		    sscanf(s, "iSCSI target %255s listening on port %u", v->iqn, &port) != 2)
			port = 0;
		free(text);
		int st;
		if (waitpid(v->pid, &st, WNOHANG) == v->pid) {
			bench_child_forget(v->pid);
			v->pid = 0;
			bench_die("vtld exited at start-up; its log:\n%s", log_tail(v->log));
		}
	}
	if (!port)
		bench_die("vtld did not report its iSCSI port in 30 s; its log:\n%s",
			  log_tail(v->log));
	snprintf(v->portal, sizeof(v->portal), "127.0.0.1:%u", port);
}

static void vtld_stop(struct vtld *v)
{
	if (!bench_child_stop(v->pid, 60))
		fprintf(stderr, "bench_upload: vtld did not stop in 60 s after SIGTERM; killed\n");
	v->pid = 0;
}

/* vtlctl --socket S --json ARGS...: its output, or death. Only the
 * commands that report something answer in JSON; the others say what they
 * did in words (drive unload). */
static void vtlctl_out(const struct vtld *v, char *out, size_t cap, const char *a1, const char *a2,
		       const char *a3, const char *a4, const char *a5)
{
	char *argv[] = {(char *)bench_env_or("VTLCTL", "./vtlctl"),
			"--socket",
			(char *)v->sock,
			"--json",
			(char *)a1,
			(char *)a2,
			(char *)a3,
			(char *)a4,
			(char *)a5,
			NULL};
	char log[PATH_MAX];
	snprintf(log, sizeof(log), "%s/vtlctl.log", tmp_root);
	int rc = bench_run_tool(argv, NULL, log, out, cap, NULL);
	if (rc != 0)
		bench_die("vtlctl %s %s %s failed (exit %d): %s %s", a1, a2 ? a2 : "", a3 ? a3 : "",
			  rc, out, log_tail(log));
}

static json_t *vtlctl(const struct vtld *v, const char *a1, const char *a2, const char *a3)
{
	char out[65536];
	vtlctl_out(v, out, sizeof(out), a1, a2, a3, NULL, NULL);
	json_error_t e;
	json_t *j = json_loads(out, 0, &e);
	if (!j)
		bench_die("vtlctl %s %s %s: not JSON: %s", a1, a2 ? a2 : "", a3 ? a3 : "", out);
	return j;
}

static long long jnum(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

/* ---- writing the tape through iSCSI ----------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

/* xorshift64*: random, so incompressible, at several GB/s. */
static void fill_random(uint8_t *buf, size_t len)
{
	uint64_t x = rng_state;
	for (size_t i = 0; i + 8 <= len; i += 8) {
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		uint64_t r = x * 0x2545f4914f6cdd1dull;
		memcpy(buf + i, &r, 8);
	}
	rng_state = x;
}

static int cmd6(struct iscsi_context *ctx, uint8_t op, uint8_t b1, uint32_t len, uint8_t *buf,
		uint32_t buflen)
{
	uint8_t cdb[6] = {op, b1, (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len, 0};
	struct scsi_task *task =
	    scsi_create_task(6, cdb, buf ? SCSI_XFER_WRITE : SCSI_XFER_NONE, (int)buflen);
	if (!task)
		bench_die("out of memory");
	struct scsi_iovec iov = {.iov_base = buf, .iov_len = buflen};
	if (buf)
		scsi_task_set_iov_out(task, &iov, 1);
	if (!iscsi_scsi_command_sync(ctx, 1, task, NULL))
		bench_die("command 0x%02x on drive 1: %s", op, iscsi_get_error(ctx));
	int status = task->status;
	scsi_free_scsi_task(task);
	return status;
}

/* size bytes in RECORD-byte variable records to LUN 1, then one filemark
 * (IMMED=0: returns when everything is on stable local storage). */
static double write_tape(const struct vtld *v, uint64_t size)
{
	struct iscsi_context *ctx = iscsi_create_context("iqn.2024-01.org.vtl.bench:upload");
	if (!ctx)
		bench_die("iscsi_create_context failed");
	iscsi_set_noautoreconnect(ctx, 1);
	iscsi_set_timeout(ctx, 120);
	iscsi_set_session_type(ctx, ISCSI_SESSION_NORMAL);
	iscsi_set_targetname(ctx, v->iqn);
	iscsi_set_header_digest(ctx, ISCSI_HEADER_DIGEST_NONE);
	if (iscsi_connect_sync(ctx, v->portal) != 0 || iscsi_login_sync(ctx) != 0)
		bench_die("iSCSI login to %s at %s: %s", v->iqn, v->portal, iscsi_get_error(ctx));
	int ready = 0;
	for (int i = 0; i < 8 && !ready; i++) /* power-on and medium-changed UAs */
		ready = cmd6(ctx, 0x00 /* TEST UNIT READY */, 0, 0, NULL, 0) == SCSI_STATUS_GOOD;
	if (!ready)
		bench_die("drive 1 is not ready");
	uint8_t *buf = malloc(RECORD);
	if (!buf)
		bench_die("out of memory");
	double t0 = bench_now();
	for (uint64_t done = 0; done < size; done += RECORD) {
		fill_random(buf, RECORD);
		int st = cmd6(ctx, 0x0a /* WRITE(6), variable */, 0, RECORD, buf, RECORD);
		if (st != SCSI_STATUS_GOOD)
			bench_die("WRITE(6) at byte %" PRIu64 ": status 0x%02x; see %s", done, st,
				  v->log);
	}
	if (cmd6(ctx, 0x10 /* WRITE FILEMARKS(6) */, 0, 1, NULL, 0) != SCSI_STATUS_GOOD)
		bench_die("WRITE FILEMARKS failed; see %s", v->log);
	double secs = bench_now() - t0;
	free(buf);
	iscsi_logout_sync(ctx);
	iscsi_destroy_context(ctx);
	return secs;
}

/* The tape's segment files, in segment order (ids are zero-padded hex). */
struct segs {
	char (*name)[64];
	size_t n;
	uint64_t bytes;
};

static int name_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void list_segments(const char *tape_dir, struct segs *s)
{
	memset(s, 0, sizeof(*s));
	DIR *d = opendir(tape_dir);
	if (!d)
		bench_die("cannot open %s: %s", tape_dir, strerror(errno));
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (strncmp(e->d_name, "seg-", 4) != 0 || len < 8 ||
		    strcmp(e->d_name + len - 4, ".dat") != 0 || len >= 64)
			continue;
		void *p = realloc(s->name, (s->n + 1) * sizeof(*s->name));
		if (!p)
			bench_die("out of memory");
		s->name = p;
		snprintf(s->name[s->n++], 64, "%s", e->d_name);
		char path[PATH_MAX + 64];
		snprintf(path, sizeof(path), "%s/%s", tape_dir, e->d_name);
		struct stat sb;
		if (stat(path, &sb) != 0)
			bench_die("stat %s: %s", path, strerror(errno));
		s->bytes += (uint64_t)sb.st_size;
	}
	closedir(d);
	qsort(s->name, s->n, sizeof(*s->name), name_cmp);
	if (!s->n)
		bench_die("no segment file in %s", tape_dir);
}

/* Append the segment files to out, removing each once copied (so that a
 * tmpfs never holds the tape twice). */
static void concat_segments(const char *tape_dir, const struct segs *s, const char *out)
{
	int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		bench_die("cannot create %s: %s", out, strerror(errno));
	for (size_t i = 0; i < s->n; i++) {
		char path[PATH_MAX + 64];
		if (snprintf(path, sizeof(path), "%s/%s", tape_dir, s->name[i]) >=
		    (int)sizeof(path))
			bench_die("%s: path too long", tape_dir);
		int in = open(path, O_RDONLY | O_CLOEXEC);
		if (in < 0)
			bench_die("cannot open %s: %s", path, strerror(errno));
		ssize_t n;
		while ((n = copy_file_range(in, NULL, fd, NULL, 64 * MIB, 0)) > 0)
			;
		if (n < 0)
			bench_die("copying %s into %s: %s", path, out, strerror(errno));
		close(in);
		unlink(path);
	}
	if (close(fd) != 0)
		bench_die("writing %s: %s", out, strerror(errno));
}

/* ---- radosgw ---------------------------------------------------------- */

struct rgw {
	char endpoint[128], access[64], secret[128];
	struct store *st;
};

static void rgw_start(struct rgw *r, uint64_t size)
{
	const char *shm = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	bench_make_tmp_dir(rgw_dir, sizeof(rgw_dir), shm, "bench_upload-rgw");
	/* rgw.sh caps the memstore OSD at 4 GiB of RAM; the cap is only a
	 * figure reported to the full-ratio checks, the RAM used is what is
	 * stored. One object of SIZE plus room: command-line options (here
	 * CEPH_ARGS) override rgw.sh's ceph.conf. */
	char ceph_args[96], log[PATH_MAX], out[4096];
	snprintf(ceph_args, sizeof(ceph_args), "CEPH_ARGS=--memstore_device_bytes=%" PRIu64,
		 2 * size + 4 * GIB);
	snprintf(log, sizeof(log), "%s/rgw-start.log", tmp_root);
	char *env[] = {ceph_args, NULL};
	char *argv[] = {"timeout", "300", "sh", RGW_SH, "start", rgw_dir, NULL};
	if (bench_run_tool(argv, env, log, out, sizeof(out), NULL) != 0)
		bench_die("tests/s3/rgw.sh start failed (radosgw, ceph-mon, ceph-osd come with "
			  "scripts/install-deps.sh test):\n%s",
			  log_tail(log));
	memset(r, 0, sizeof(*r));
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		if (strncmp(line, "RGW_ENDPOINT=", 13) == 0)
			snprintf(r->endpoint, sizeof(r->endpoint), "%s", line + 13);
		else if (strncmp(line, "RGW_ACCESS_KEY=", 15) == 0)
			snprintf(r->access, sizeof(r->access), "%s", line + 15);
		else if (strncmp(line, "RGW_SECRET_KEY=", 15) == 0)
			snprintf(r->secret, sizeof(r->secret), "%s", line + 15);
	}
	if (!r->endpoint[0] || !r->access[0] || !r->secret[0])
		bench_die("tests/s3/rgw.sh start printed no endpoint and keys");
	struct store_s3_config cfg = {.bucket = BUCKET,
				      .endpoint = r->endpoint,
				      .region = "us-east-1",
				      .addressing = STORE_S3_PATH,
				      .access_key = r->access,
				      .secret_key = r->secret};
	struct store_err err;
	if (store_s3_open(&cfg, &r->st, &err) || store_s3_create_bucket(r->st, &err))
		bench_die("cannot create the bucket %s on %s: %s", BUCKET, r->endpoint, err.msg);
	/* radosgw creates its data pools (objects, multipart metadata) at
	 * the first write of each kind, which takes seconds on a fresh
	 * cluster; a PUT and a one-part multipart upload here keep that out
	 * of whichever run would come first. */
	char id[STORE_UPLOAD_ID_MAX], etag[STORE_ETAG_MAX];
	struct store_part part = {.number = 1, .size = 1};
	if (store_put(r->st, "warm-up/put", "x", 1, NULL, etag, &err) ||
	    store_mpu_create(r->st, "warm-up/mpu", NULL, id, &err) ||
	    store_mpu_put_part(r->st, "warm-up/mpu", id, 1, "x", 1, part.etag, &err) ||
	    store_mpu_complete(r->st, "warm-up/mpu", id, &part, 1, etag, &err))
		bench_die("the first writes to s3://%s failed: %s", BUCKET, err.msg);
}

/* CPU seconds used so far by one of the cluster's daemons ("client.rgw.a"
 * is radosgw, "osd.0" the OSD), from the pid files rgw.sh leaves. */
static double daemon_cpu(const char *name)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/run/%s.pid", rgw_dir, name);
	char *text = read_file(path);
	double cpu = text ? proc_cpu((pid_t)atoi(text)) : 0;
	free(text);
	return cpu;
}

struct key_list {
	char (*key)[STORE_KEY_MAX];
	size_t n;
	uint64_t bytes;
};

static int key_cb(void *arg, const struct store_list_entry *e)
{
	struct key_list *l = arg;
	void *p = realloc(l->key, (l->n + 1) * sizeof(*l->key));
	if (!p)
		return -ENOMEM;
	l->key = p;
	snprintf(l->key[l->n++], STORE_KEY_MAX, "%s", e->key);
	l->bytes += e->size;
	return 0;
}

static void list_keys(struct rgw *r, const char *prefix, struct key_list *l)
{
	memset(l, 0, sizeof(*l));
	struct store_list_opts o = {.prefix = prefix};
	struct store_err err;
	if (store_list(r->st, &o, key_cb, l, &err))
		bench_die("cannot list s3://%s/%s: %s", BUCKET, prefix, err.msg);
}

static int abort_cb(void *arg, const struct store_upload *u)
{
	struct store_err err;
	return store_mpu_abort(arg, u->key, u->upload_id, &err);
}

/* Empty the bucket and have radosgw free the RAM now: deleted objects'
 * data goes to its garbage collector, which waits two hours by default. */
static void rgw_empty(struct rgw *r)
{
	struct key_list l;
	struct store_err err;
	list_keys(r, "", &l);
	for (size_t i = 0; i < l.n; i++)
		if (store_delete(r->st, l.key[i], &err))
			bench_die("cannot delete s3://%s/%s: %s", BUCKET, l.key[i], err.msg);
	free(l.key);
	if (store_mpu_list(r->st, "", abort_cb, r->st, &err))
		bench_die("cannot abort the uploads left in s3://%s: %s", BUCKET, err.msg);
	char conf[PATH_MAX], log[PATH_MAX];
	snprintf(conf, sizeof(conf), "%s/ceph.conf", rgw_dir);
	snprintf(log, sizeof(log), "%s/rgw-gc.log", tmp_root);
	char *argv[] = {"timeout", "300",     "radosgw-admin", "-c", conf, "-n", "client.rgw.a",
			"gc",	   "process", "--include-all", NULL};
	if (bench_run_tool(argv, NULL, log, NULL, 0, NULL) != 0)
		bench_die("radosgw-admin gc process failed:\n%s", log_tail(log));
}

/*
 * An untimed upload of size bytes before any timed run. The first large
 * upload into a fresh memstore OSD costs it far more CPU than the next ones
 * (measured here for 4 GiB with boto3, three uploads in a row: 13.7 s of
 * OSD CPU, then 7.4 s and 7.8 s), as the OSD grows to hold it; on two cores
 * that would slow whichever run came first. The parts all carry the same
 * random 16 MiB: the OSD stores each as its own objects all the same.
 */
struct warm_up {
	struct store *st;
	const char *upload_id;
	const uint8_t *buf;
	int nparts;
	int next; /* guarded by mu */
	pthread_mutex_t mu;
	struct store_part *parts;
	int rc;
	char msg[STORE_ERR_MSG_MAX];
};

#define WARM_UP_PART (16 * MIB)
#define WARM_UP_KEY  "warm-up/object"

static void *warm_up_thread(void *arg)
{
	struct warm_up *w = arg;
	for (;;) {
		pthread_mutex_lock(&w->mu);
		int i = w->rc ? w->nparts : w->next++;
		pthread_mutex_unlock(&w->mu);
		if (i >= w->nparts)
			return NULL;
		struct store_err err;
		w->parts[i].number = i + 1;
		w->parts[i].size = WARM_UP_PART;
		int rc = store_mpu_put_part(w->st, WARM_UP_KEY, w->upload_id, i + 1, w->buf,
					    WARM_UP_PART, w->parts[i].etag, &err);
		if (rc) {
			pthread_mutex_lock(&w->mu);
			w->rc = rc;
			snprintf(w->msg, sizeof(w->msg), "%s", err.msg);
			pthread_mutex_unlock(&w->mu);
		}
	}
}

static void rgw_warm_up(struct rgw *r, uint64_t size)
{
	char id[STORE_UPLOAD_ID_MAX], etag[STORE_ETAG_MAX];
	struct store_err err;
	struct warm_up w = {.st = r->st,
			    .upload_id = id,
			    .nparts = (int)((size + WARM_UP_PART - 1) / WARM_UP_PART),
			    .mu = PTHREAD_MUTEX_INITIALIZER};
	uint8_t *buf = malloc(WARM_UP_PART);
	w.parts = calloc((size_t)w.nparts, sizeof(*w.parts));
	if (!buf || !w.parts)
		bench_die("out of memory");
	fill_random(buf, WARM_UP_PART);
	w.buf = buf;
	if (store_mpu_create(r->st, WARM_UP_KEY, NULL, id, &err))
		bench_die("warm-up upload to s3://%s: %s", BUCKET, err.msg);
	pthread_t th[4];
	for (int i = 0; i < 4; i++)
		if (pthread_create(&th[i], NULL, warm_up_thread, &w) != 0)
			bench_die("pthread_create failed");
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	if (w.rc)
		bench_die("warm-up upload to s3://%s: %s", BUCKET, w.msg);
	if (store_mpu_complete(r->st, WARM_UP_KEY, id, w.parts, (size_t)w.nparts, etag, &err))
		bench_die("warm-up upload to s3://%s: %s", BUCKET, err.msg);
	free(w.parts);
	free(buf);
	rgw_empty(r);
}

/* ---- the runs --------------------------------------------------------- */

struct result {
	char name[96];
	double secs;
	uint64_t bytes;
	uint64_t peak_rss;
	double cpu;		 /* CPU seconds of the client (vtld, aws, python) */
	double rgw_cpu, osd_cpu; /* of radosgw and of the OSD meanwhile */
};

static double mbs(const struct result *r)
{
	return r->secs > 0 ? (double)r->bytes / r->secs / 1e6 : 0;
}

/* Does this vtld know [store] parallel_parts? Started once on an empty
 * directory with the key: refused (unknown keys are errors) or serving. */
static bool vtld_knows_parallel_parts(void)
{
	struct vtld p;
	memset(&p, 0, sizeof(p));
	snprintf(p.dir, sizeof(p.dir), "%s/probe", tmp_root);
	if (mkdir(p.dir, 0700) != 0)
		bench_die("mkdir %s: %s", p.dir, strerror(errno));
	char conf[PATH_MAX], log[PATH_MAX];
	snprintf(conf, sizeof(conf), "%s/probe.conf", tmp_root);
	snprintf(log, sizeof(log), "%s/probe.log", tmp_root);
	write_file(conf, "[store]\nparallel_parts = 1\n");
	char *argv[] = {(char *)bench_env_or("VTLD", "./vtld"),
			"--config",
			conf,
			"--data-dir",
			p.dir,
			"--listen",
			"127.0.0.1:0",
			"--foreground",
			NULL};
	pid_t pid = bench_spawn(argv, NULL, log, -1, -1);
	bool known = false, done = false;
	for (int waited = 0; waited < 30000 && !done; waited += 50) {
		usleep(50000);
		char *text = read_file(log);
		if (text && strstr(text, "listening on port"))
			known = done = true;
		free(text);
		int st;
		if (!done && waitpid(pid, &st, WNOHANG) == pid) {
			bench_child_forget(pid);
			pid = 0;
			done = true;
		}
	}
	if (!done)
		bench_die(
		    "vtld neither started nor refused its configuration in 30 s; its log:\n%s",
		    log_tail(log));
	bench_child_stop(pid, 10);
	if (!known && !strstr(log_tail(log), "parallel_parts"))
		bench_die(
		    "vtld refused a configuration for another reason than parallel_parts:\n%s",
		    log_tail(log));
	bench_rm_tree(p.dir);
	return known;
}

static void store_config(char *out, size_t cap, const char *endpoint, const char *access,
			 const char *secret, const char *part_size, const char *parallel)
{
	int n = snprintf(out, cap,
			 "[store]\ntype = s3\nendpoint = %s\nbucket = %s\naddressing = path\n"
			 "region = us-east-1\naccess_key_id = %s\nsecret_access_key = %s\n",
			 endpoint, BUCKET, access, secret);
	if (part_size)
		n += snprintf(out + n, cap - (size_t)n, "part_size = %s\n", part_size);
	if (parallel)
		snprintf(out + n, cap - (size_t)n, "parallel_parts = %s\n", parallel);
}

struct settings {
	uint64_t size;
	const char *part_size_arg, *parallel_arg; /* as given, or NULL */
	uint64_t part_size;			  /* effective */
	unsigned parallel;			  /* effective */
	char parallel_why[128];
	const char *dir;
};

/* Steps 1-3 (see the top of the file): the tape, radosgw, the timed vtld. */
static struct result vtld_run(const struct settings *s, struct rgw *r, struct segs *segs,
			      uint64_t *idle_hwm)
{
	struct vtld v;
	memset(&v, 0, sizeof(v));
	snprintf(v.dir, sizeof(v.dir), "%s/vtld", tmp_root);
	if (mkdir(v.dir, 0700) != 0)
		bench_die("mkdir %s: %s", v.dir, strerror(errno));

	/* A loopback port bound here and never listened on: vtld's
	 * connections to it are refused at once. */
	int dead = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t alen = sizeof(a);
	if (dead < 0 || bind(dead, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(dead, (struct sockaddr *)&a, &alen) != 0)
		bench_die("cannot bind a loopback port: %s", strerror(errno));
	char config[2048], endpoint[64];
	snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%u", ntohs(a.sin_port));
	store_config(config, sizeof(config), endpoint, "BENCHNOSTORE", "unused", s->part_size_arg,
		     s->parallel_arg);
	vtld_start(&v, config);
	char out[4096];
	vtlctl_out(&v, out, sizeof(out), "tape", "create", BARCODE, NULL, NULL);
	vtlctl_out(&v, out, sizeof(out), "tape", "move", BARCODE, "--to", "drive:1");
	*idle_hwm = proc_status_kb(v.pid, "VmHWM");
	double wsecs = write_tape(&v, s->size);
	vtlctl_out(&v, out, sizeof(out), "drive", "unload", "1", NULL, NULL);
	json_t *t = vtlctl(&v, "tape", "show", BARCODE);
	if (jnum(t, "uploaded_bytes") > 0)
		bench_die("vtld uploaded data to a store that cannot be reached?\n%s",
			  json_dumps(t, 0));
	json_decref(t);
	vtld_stop(&v);
	close(dead);
	char tape_dir[PATH_MAX];
	snprintf(tape_dir, sizeof(tape_dir), "%s/tapes/%s", v.dir, BARCODE);
	list_segments(tape_dir, segs);
	printf("tape %s: %" PRIu64 " bytes of random data written through libiscsi WRITE(6), "
	       "%" PRIu64 " KiB variable records, in %.1f s (%.0f MB/s), the store unreachable; "
	       "%" PRIu64 " bytes in %zu segment files\n",
	       BARCODE, s->size, RECORD / KIB, wsecs, (double)s->size / wsecs / 1e6, segs->bytes,
	       segs->n);
	fflush(stdout);

	double started = bench_now();
	rgw_start(r, s->size);
	printf("radosgw (tests/s3/rgw.sh, memstore OSD) at %s, started in %.1f s\n", r->endpoint,
	       bench_now() - started);
	fflush(stdout);
	started = bench_now();
	rgw_warm_up(r, s->size);
	printf("warm-up: %" PRIu64 " bytes uploaded into radosgw and deleted, not timed (%.1f s)\n",
	       s->size, bench_now() - started);
	fflush(stdout);

	/* The timed run: vtld's start until the catalog says all is up. */
	store_config(config, sizeof(config), r->endpoint, r->access, r->secret, s->part_size_arg,
		     s->parallel_arg);
	double r0 = daemon_cpu("client.rgw.a"), o0 = daemon_cpu("osd.0"), t0 = bench_now();
	vtld_start(&v, config);
	long long up = 0, last_up = -1;
	double last_progress = bench_now(), first_byte = 0;
	for (;;) {
		t = vtlctl(&v, "tape", "show", BARCODE);
		up = jnum(t, "uploaded_bytes");
		bool done = jnum(t, "pending_uploads") == 0 && jnum(t, "pending_bytes") == 0 &&
			    jnum(t, "manifest_generation") > 0 && up > 0;
		json_decref(t);
		if (up > 0 && !first_byte)
			first_byte = bench_now();
		if (done)
			break;
		if (up != last_up) {
			last_up = up;
			last_progress = bench_now();
		} else if (bench_now() - last_progress > STALL_SECS) {
			json_t *st = vtlctl(&v, "status", NULL, NULL);
			bench_die("no upload progress for %d s (%lld of %" PRIu64
				  " bytes); vtlctl status: %s",
				  STALL_SECS, up, segs->bytes, json_dumps(st, JSON_INDENT(1)));
		}
		usleep(100000);
	}
	struct result res = {.secs = bench_now() - t0, .bytes = (uint64_t)up};
	res.peak_rss = proc_status_kb(v.pid, "VmHWM");
	res.cpu = proc_cpu(v.pid);
	res.rgw_cpu = daemon_cpu("client.rgw.a") - r0;
	res.osd_cpu = daemon_cpu("osd.0") - o0;
	json_t *st = vtlctl(&v, "status", NULL, NULL);
	/* vtlctl prints the daemon's "store" object itself. */
	json_t *store = json_object_get(st, "store") ? json_object_get(st, "store") : st;
	long long reported = jnum(store, "parallel_parts");
	/* Where the fixed costs are: start-up (catalog, orphan sweep, first
	 * round) before the first part is recorded; the last completions,
	 * HEAD checks and the manifest after the last part. */
	printf("vtld: %lld parts sent, %lld objects completed; first part recorded %.1f s after "
	       "start, last one %.1f s before the end\n",
	       jnum(store, "parts_sent"), jnum(store, "objects_completed"), first_byte - t0,
	       t0 + res.secs - last_progress);
	json_decref(st);
	vtld_stop(&v);
	if (reported > 0 && !s->parallel_arg && reported != (long long)s->parallel)
		bench_die("vtld reports parallel_parts %lld, the benchmark assumed %u", reported,
			  s->parallel);
	if ((uint64_t)up != segs->bytes)
		bench_die("vtld reports %lld bytes uploaded, the segment files hold %" PRIu64, up,
			  segs->bytes);
	struct key_list l;
	char prefix[64];
	snprintf(prefix, sizeof(prefix), "tapes/%s/seg/", BARCODE);
	list_keys(r, prefix, &l);
	free(l.key);
	if (l.n != segs->n || l.bytes != segs->bytes)
		bench_die("the bucket holds %zu segment objects of %" PRIu64
			  " bytes, the tape %zu of "
			  "%" PRIu64,
			  l.n, l.bytes, segs->n, segs->bytes);
	char part[32];
	snprintf(part, sizeof(part), "%" PRIu64 " MiB", s->part_size / MIB);
	snprintf(res.name, sizeof(res.name), "vtld uploader (%s x %u)", part, s->parallel);
	return res;
}

/* One peer process, timed from fork to exit, then its object checked. */
static struct result peer_run(struct rgw *r, const char *name, char *const argv[],
			      char *const env[], const char *key, uint64_t bytes, char *out,
			      size_t cap)
{
	char log[PATH_MAX];
	snprintf(log, sizeof(log), "%s/peer.log", tmp_root);
	unlink(log);
	struct rusage ru;
	double r0 = daemon_cpu("client.rgw.a"), o0 = daemon_cpu("osd.0"), t0 = bench_now();
	int rc = bench_run_tool(argv, env, log, out, cap, &ru);
	struct result res = {.secs = bench_now() - t0,
			     .bytes = bytes,
			     .rgw_cpu = daemon_cpu("client.rgw.a") - r0,
			     .osd_cpu = daemon_cpu("osd.0") - o0};
	res.cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
		  (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	if (rc != 0)
		bench_die("%s failed (exit %d):\n%s", name, rc, log_tail(log));
	res.peak_rss = (uint64_t)ru.ru_maxrss * KIB;
	struct store_object_info info;
	struct store_err err;
	if (store_head(r->st, key, &info, &err))
		bench_die("%s: the object is not there: %s", name, err.msg);
	if (info.size != bytes)
		bench_die("%s: s3://%s/%s holds %" PRIu64 " bytes, the file %" PRIu64, name, BUCKET,
			  key, info.size, bytes);
	rgw_empty(r);
	return res;
}

static void print_row(const struct result *r)
{
	printf("  %-40s %7.1f %7.1f %12.1f %10.1f %7.1f %7.1f\n", r->name, r->secs, mbs(r),
	       (double)r->peak_rss / (double)MIB, r->cpu, r->rgw_cpu, r->osd_cpu);
	fflush(stdout);
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_upload [-s SIZE] [-p PARALLEL_PARTS] [-P PART_SIZE] [-d "
			"DIR]\n"
			"  or BENCH_UPLOAD_SIZE, BENCH_PARALLEL_PARTS, BENCH_PART_SIZE, BENCH_DIR "
			"(SIZE like 4G, 512M)\n");
	exit(2);
}

int main(int argc, char **argv)
{
	bench_prog = "bench_upload";
	struct settings s = {
	    .part_size_arg = getenv("BENCH_PART_SIZE"),
	    .parallel_arg = getenv("BENCH_PARALLEL_PARTS"),
	    .dir = getenv("BENCH_DIR"),
	};
	const char *size_arg = bench_env_or("BENCH_UPLOAD_SIZE", "4G");
	int c;
	while ((c = getopt(argc, argv, "s:p:P:d:h")) != -1) {
		switch (c) {
		case 's':
			size_arg = optarg;
			break;
		case 'p':
			s.parallel_arg = optarg;
			break;
		case 'P':
			s.part_size_arg = optarg;
			break;
		case 'd':
			s.dir = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (s.part_size_arg && !s.part_size_arg[0])
		s.part_size_arg = NULL;
	if (s.parallel_arg && !s.parallel_arg[0])
		s.parallel_arg = NULL;
	s.size = parse_size(size_arg, "size") / RECORD * RECORD;
	if (s.size < 64 * MIB)
		bench_die("size %s: at least 64M", size_arg);
	/* vtld's documented default (README.md, [store] part_size). */
	s.part_size = s.part_size_arg ? parse_size(s.part_size_arg, "part size") : 16 * MIB;

	if (access(AWS, X_OK) != 0 ||
	    system(PYTHON " -c 'import boto3, awscli' >/dev/null 2>&1") != 0)
		bench_die("the peers are missing: Debian's awscli (" AWS
			  ") and python3-boto3 (for " PYTHON
			  "); install them with scripts/install-deps.sh bench");

	signal(SIGPIPE, SIG_IGN);
	bench_stop_signals_start(cleanup);

	/* tmpfs keeps the disk out of the figures: vtld's cache holds the
	 * tape, then the peers' file replaces it; radosgw keeps one copy in
	 * RAM besides. */
	struct statvfs vfs;
	if (!s.dir)
		s.dir = statvfs("/dev/shm", &vfs) == 0 &&
				(uint64_t)vfs.f_bavail * vfs.f_frsize > s.size + 2 * GIB &&
				mem_available() > 3 * s.size + 4 * GIB
			    ? "/dev/shm"
			    : ".";
	bench_make_tmp_dir(tmp_root, sizeof(tmp_root), s.dir, "bench_upload");
	char abs_root[PATH_MAX];
	if (!realpath(tmp_root, abs_root))
		bench_die("realpath %s: %s", tmp_root, strerror(errno));
	if (strlen(abs_root) >= sizeof(tmp_root))
		bench_die("%s: path too long", abs_root);
	bench_cleanup_lock(); /* a signal finds one name or the other, whole */
	memcpy(tmp_root, abs_root, strlen(abs_root) + 1);
	bench_cleanup_unlock();

	if (s.parallel_arg) {
		char *end;
		long n = strtol(s.parallel_arg, &end, 10);
		if (*end || n < 1 || n > 64)
			bench_die("parallel_parts '%s': 1 to 64", s.parallel_arg);
		s.parallel = (unsigned)n;
		snprintf(s.parallel_why, sizeof(s.parallel_why), "given");
	} else if (vtld_knows_parallel_parts()) {
		s.parallel = 4; /* vtld's documented default (README.md) */
		snprintf(s.parallel_why, sizeof(s.parallel_why), "not given: vtld's default");
	} else {
		s.parallel = 1;
		snprintf(s.parallel_why, sizeof(s.parallel_why),
			 "this vtld has no parallel_parts: one part at a time");
	}

	char aws_defaults[64] = "";
	char *defs[] = {PYTHON, BENCH_UPLOAD_PY, "aws-defaults", NULL};
	char log[PATH_MAX];
	snprintf(log, sizeof(log), "%s/peer.log", tmp_root);
	unsigned long long aws_chunk = 0, aws_conc = 0;
	if (bench_run_tool(defs, NULL, log, aws_defaults, sizeof(aws_defaults), NULL) != 0 ||
	    sscanf(aws_defaults, "%llu %llu", &aws_chunk, &aws_conc) != 2)
		bench_die("cannot read awscli's transfer defaults:\n%s", log_tail(log));

	printf("upload of a %.4g GiB tape to radosgw: vtld (this build) vs aws s3 cp and boto3, "
	       "127.0.0.1, %ld CPUs, files in %s\n",
	       (double)s.size / (double)GIB, sysconf(_SC_NPROCESSORS_ONLN), s.dir);
	printf("vtld [store] part_size %" PRIu64 " MiB (%s), parallel_parts %u (%s)\n",
	       s.part_size / MIB, s.part_size_arg ? "given" : "not given: vtld's default",
	       s.parallel, s.parallel_why);
	printf("MB/s = 10^6 bytes/s; time from process start to the last byte acknowledged "
	       "(vtld: to the catalog saying so); peak RSS = VmHWM (vtld), ru_maxrss (peers); "
	       "CPU seconds of the client, radosgw and the OSD during the run\n");
	bench_print_loadavg("at start");

	struct rgw r;
	struct segs segs;
	struct result res[4];
	uint64_t idle_hwm = 0;
	res[0] = vtld_run(&s, &r, &segs, &idle_hwm);
	rgw_empty(&r);

	char file[PATH_MAX], tape_dir[PATH_MAX + 64];
	snprintf(file, sizeof(file), "%s/tape.bin", tmp_root);
	snprintf(tape_dir, sizeof(tape_dir), "%s/vtld/tapes/%s", tmp_root, BARCODE);
	concat_segments(tape_dir, &segs, file);
	free(segs.name);
	bench_rm_tree(tape_dir);

	char url[256], ep[160], ak[96], sk[160], cfgpath[PATH_MAX], cfgenv[PATH_MAX + 32],
	    credenv[PATH_MAX + 64];
	snprintf(cfgpath, sizeof(cfgpath), "%s/aws.config", tmp_root);
	write_file(cfgpath, "[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n");
	snprintf(cfgenv, sizeof(cfgenv), "AWS_CONFIG_FILE=%s", cfgpath);
	snprintf(credenv, sizeof(credenv), "AWS_SHARED_CREDENTIALS_FILE=%s/aws.none", tmp_root);
	snprintf(ak, sizeof(ak), "AWS_ACCESS_KEY_ID=%s", r.access);
	snprintf(sk, sizeof(sk), "AWS_SECRET_ACCESS_KEY=%s", r.secret);
	snprintf(ep, sizeof(ep), "%s", r.endpoint);
	char *env[] = {ak,  sk, cfgenv, credenv, "AWS_PAGER=", "AWS_EC2_METADATA_DISABLED=true",
		       NULL};
	char out[256];

	snprintf(url, sizeof(url), "s3://%s/peer/aws-cli", BUCKET);
	char *aws[] = {AWS, "s3", "cp", file, url, "--endpoint-url", ep, "--no-progress", NULL};
	res[1] = peer_run(&r, "aws s3 cp", aws, env, "peer/aws-cli", segs.bytes, NULL, 0);
	snprintf(res[1].name, sizeof(res[1].name), "aws s3 cp (defaults: %llu MiB x %llu)",
		 aws_chunk / MIB, aws_conc);

	char *boto[] = {PYTHON, BENCH_UPLOAD_PY, "upload", file, ep,
			BUCKET, "peer/boto3",	 NULL,	   NULL, NULL};
	res[2] = peer_run(&r, "boto3 upload_file", boto, env, "peer/boto3", segs.bytes, out,
			  sizeof(out));
	unsigned long long chunk = 0, conc = 0;
	sscanf(out, "%llu %llu", &chunk, &conc);
	snprintf(res[2].name, sizeof(res[2].name), "boto3 upload_file (defaults: %llu MiB x %llu)",
		 chunk / MIB, conc);

	char chunk_arg[32], conc_arg[16];
	snprintf(chunk_arg, sizeof(chunk_arg), "%" PRIu64, s.part_size);
	snprintf(conc_arg, sizeof(conc_arg), "%u", s.parallel);
	boto[7] = chunk_arg;
	boto[8] = conc_arg;
	res[3] = peer_run(&r, "boto3 upload_file (as vtld)", boto, env, "peer/boto3", segs.bytes,
			  out, sizeof(out));
	sscanf(out, "%llu %llu", &chunk, &conc);
	snprintf(res[3].name, sizeof(res[3].name), "boto3 upload_file (as vtld: %llu MiB x %llu)",
		 chunk / MIB, conc);

	printf("\nthe same %" PRIu64 " bytes (vtld: the tape's segments; peers: those segment "
	       "files concatenated into one file)\n",
	       segs.bytes);
	printf("  %-40s %7s %7s %12s %10s %7s %7s\n", "", "seconds", "MB/s", "peak RSS MiB",
	       "client CPU", "radosgw", "OSD");
	for (int i = 0; i < 4; i++)
		print_row(&res[i]);
	uint64_t bound = s.parallel * s.part_size;
	double above = ((double)res[0].peak_rss - (double)idle_hwm) / (double)MIB;
	printf("vtld peak RSS %.1f MiB = %.1f MiB idle (the same configuration, before the tape "
	       "was written) + %.1f MiB; in-flight parts bound parallel_parts x part_size = %u x "
	       "%" PRIu64 " MiB = %" PRIu64 " MiB (peak - idle - bound: %+.1f MiB)\n",
	       (double)res[0].peak_rss / (double)MIB, (double)idle_hwm / (double)MIB, above,
	       s.parallel, s.part_size / MIB, bound / MIB, above - (double)(bound / MIB));
	bool met = true;
	for (int i = 1; i < 4; i++) {
		double q = mbs(&res[0]) / mbs(&res[i]);
		met = met && q >= 1.0;
		printf("ratio vtld / %-40s %5.2f\n", res[i].name, q);
	}
	printf("target (vtld at least as fast as every peer, ratio >= 1.0): %s\n",
	       met ? "met" : "MISSED");
	bench_print_loadavg("at end");
	return 0;
}
