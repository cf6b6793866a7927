/*
 * bench_util.c - what the benchmark programs share (see bench_util.h).
 */
#include "config.h"

#include "bench/bench_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CHILDREN 16

extern char **environ;

const char *bench_prog = "bench";
static pid_t children[MAX_CHILDREN];

static pthread_mutex_t cleanup_mu = PTHREAD_MUTEX_INITIALIZER;
static void (*cleanup_fn)(void);
static sigset_t stop_signals;

double bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void bench_die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fflush(stdout);
	fprintf(stderr, "%s: ", bench_prog);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

const char *bench_env_or(const char *name, const char *def)
{
	const char *v = getenv(name);
	return v && v[0] ? v : def;
}

void bench_print_loadavg(const char *when)
{
	char buf[128] = "?\n";
	FILE *f = fopen("/proc/loadavg", "r");
	if (f) {
		if (!fgets(buf, sizeof(buf), f))
			snprintf(buf, sizeof(buf), "?\n");
		fclose(f);
	}
	printf("load average %s: %s", when, buf);
	fflush(stdout);
}

/* Every entry tried: one that cannot go yet (a directory a writer has
 * just added to) is left for the next walk. */
static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* Walked again until the directory is gone: the signal thread may remove
 * it while the program's own thread still writes in it (bench_stream,
 * bench_bigtape write the medium themselves), and that writer fails soon
 * after its directories are gone. A second of trying at most. */
void bench_rm_tree(const char *dir)
{
	struct stat sb;
	for (int i = 0; dir[0] && i < 100 && lstat(dir, &sb) == 0; i++) {
		if (i)
			usleep(10000);
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	}
}

void bench_cleanup_lock(void)
{
	pthread_mutex_lock(&cleanup_mu);
}

void bench_cleanup_unlock(void)
{
	pthread_mutex_unlock(&cleanup_mu);
}

/* The atexit handler, and the signal thread's cleanup. */
static void run_cleanup(void)
{
	pthread_mutex_lock(&cleanup_mu);
	if (cleanup_fn)
		cleanup_fn();
	pthread_mutex_unlock(&cleanup_mu);
}

static void *signal_main(void *arg)
{
	(void)arg;
	int sig = 0;
	if (sigwait(&stop_signals, &sig) != 0)
		return NULL;
	/* The lock is kept until the process dies: a thread that fails
	 * once its directory is gone, and exits, waits in the atexit
	 * handler rather than ending the process with its own status. */
	pthread_mutex_lock(&cleanup_mu);
	if (cleanup_fn)
		cleanup_fn();
	/* Die of the signal: its default action, unblocked in this thread
	 * only, so that no other thread takes it first. */
	sigset_t one;
	sigemptyset(&one);
	sigaddset(&one, sig);
	signal(sig, SIG_DFL);
	pthread_sigmask(SIG_UNBLOCK, &one, NULL);
	raise(sig);
	_exit(128 + sig);
}

void bench_stop_signals_start(void (*cleanup)(void))
{
	cleanup_fn = cleanup;
	atexit(run_cleanup);
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGHUP);
	sigaddset(&stop_signals, SIGQUIT);
	/* Blocked before the thread starts, and so in every thread started
	 * after it: the only thread that takes them is the one that waits. */
	pthread_t th;
	int rc = pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
	if (!rc)
		rc = pthread_create(&th, NULL, signal_main, NULL);
	if (rc)
		bench_die("cannot start the thread that waits for signals: %s", strerror(rc));
	pthread_detach(th);
}

void bench_make_tmp_dir(char *path, size_t size, const char *base, const char *name)
{
	bench_cleanup_lock();
	if (snprintf(path, size, "%s/%s.XXXXXX", base, name) >= (int)size) {
		path[0] = '\0';
		bench_cleanup_unlock();
		bench_die("a temporary directory in %s: the path is too long", base);
	}
	if (!mkdtemp(path)) {
		int e = errno;
		path[0] = '\0';
		bench_cleanup_unlock();
		bench_die("cannot create a temporary directory in %s: %s", base, strerror(e));
	}
	bench_cleanup_unlock();
}

/* In the child: only the credentials and settings given, none of ours. */
static void child_env(char *const env[])
{
	for (size_t i = 0; environ[i];) {
		if (strncmp(environ[i], "AWS_", 4) == 0) {
			char name[128];
			snprintf(name, sizeof(name), "%.*s", (int)strcspn(environ[i], "="),
				 environ[i]);
			unsetenv(name);
		} else {
			i++;
		}
	}
	for (size_t i = 0; env[i]; i++)
		putenv(env[i]);
}

pid_t bench_spawn(char *const argv[], char *const env[], const char *log, int out_fd, int cpu)
{
	pid_t parent = getpid();
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		bench_die("fork: %s", strerror(errno));
	if (pid == 0) {
		/* A child starts with no signal blocked, whatever the thread
		 * that forked it blocks (bench_stop_signals_start blocks the
		 * signals that stop the program, for its own thread to take),
		 * or SIGTERM would not stop it. */
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(127);
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (fd >= 0) {
			dup2(out_fd >= 0 ? out_fd : fd, 1);
			dup2(fd, 2);
		}
		if (cpu >= 0) {
			cpu_set_t set;
			CPU_ZERO(&set);
			CPU_SET(cpu, &set);
			sched_setaffinity(0, sizeof(set), &set);
		}
		if (env)
			child_env(env);
		execvp(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	for (int i = 0; i < MAX_CHILDREN; i++) {
		if (children[i] == 0) {
			children[i] = pid;
			return pid;
		}
	}
	kill(pid, SIGKILL);
	bench_die("too many children");
}

int bench_run_tool(char *const argv[], char *const env[], const char *log, char *out, size_t cap,
		   struct rusage *ru)
{
	int p[2] = {-1, -1};
	if (out && pipe2(p, O_CLOEXEC) != 0)
		bench_die("pipe: %s", strerror(errno));
	pid_t pid = bench_spawn(argv, env, log, p[1], -1);
	if (out) {
		close(p[1]);
		size_t n = 0;
		ssize_t got;
		char rest[4096];
		while (n < cap - 1 && (got = read(p[0], out + n, cap - 1 - n)) > 0)
			n += (size_t)got;
		while (read(p[0], rest, sizeof(rest)) > 0) /* more than asked for: drained */
			;
		out[n] = '\0';
		close(p[0]);
	}
	int st = 0;
	struct rusage r;
	if (wait4(pid, &st, 0, &r) != pid)
		st = -1;
	bench_child_forget(pid);
	if (ru)
		*ru = r;
	return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void bench_child_forget(pid_t pid)
{
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (children[i] == pid)
			children[i] = 0;
}

bool bench_child_stop(pid_t pid, int grace_s)
{
	if (pid <= 0)
		return true;
	kill(pid, SIGTERM);
	int st;
	for (int i = 0; i < grace_s * 20; i++) {
		/* ECHILD: the other of exit() and the signal thread reaped
		 * it; its pid may be another process's by now. */
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid || (w < 0 && errno == ECHILD)) {
			bench_child_forget(pid);
			return true;
		}
		usleep(50000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	bench_child_forget(pid);
	return false;
}

void bench_children_stop(int grace_s)
{
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (children[i] > 0)
			bench_child_stop(children[i], grace_s);
}

long long bench_disk_use(const char *dir, struct bench_inodes *seen)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	long long sum = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		char p[PATH_MAX];
		struct stat sb;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (snprintf(p, sizeof(p), "%s/%s", dir, de->d_name) >= (int)sizeof(p) ||
		    lstat(p, &sb))
			continue;
		if (S_ISDIR(sb.st_mode)) {
			sum += bench_disk_use(p, seen);
			continue;
		}
		bool dup = false;
		for (size_t i = 0; i < seen->n && !dup; i++)
			dup = seen->v[i] == sb.st_ino;
		if (dup)
			continue;
		if (seen->n == seen->cap) {
			seen->cap = seen->cap ? 2 * seen->cap : 256;
			seen->v = realloc(seen->v, seen->cap * sizeof(*seen->v));
			if (!seen->v)
				bench_die("out of memory");
		}
		seen->v[seen->n++] = sb.st_ino;
		sum += (long long)sb.st_blocks * 512;
	}
	closedir(d);
	return sum;
}
