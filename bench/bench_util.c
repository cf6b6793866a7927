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

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void bench_rm_tree(const char *dir)
{
	if (dir[0])
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
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
		 * that forked it blocks (bench_iscsi blocks the signals that
		 * stop it, for its own thread to take), or SIGTERM would not
		 * stop it. */
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
		if (waitpid(pid, &st, WNOHANG) == pid) {
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
