/*
 * bench_util.h - what the benchmark programs share (the programs of bench/
 * and tests/s3/bench_store.c): their clock, their way to die, the children
 * they start (vtld, tgtd, radosgw's tools, the peers) and their temporary
 * directories, which are stopped and removed however the program ends, at
 * exit or by a signal, since a benchmark that leaves daemons or gigabytes
 * behind spoils the next run. Benchmarks talk to the user and exit; library
 * code never does.
 */
#ifndef VTL_BENCH_UTIL_H
#define VTL_BENCH_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/types.h>

/* The program's name, the prefix of bench_die's messages. */
extern const char *bench_prog;

/* Monotonic seconds. */
double bench_now(void);
/* Say "PROG: message" on stderr and exit(1): the program's atexit handler
 * stops what it started and removes its files. */
void bench_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* getenv(name), or def when it is unset or empty. */
const char *bench_env_or(const char *name, const char *def);
/* "load average WHEN: ..." from /proc/loadavg on stdout. */
void bench_print_loadavg(const char *when);
/* Remove a directory tree (nothing when dir is ""); walked again while
 * something still writes in it, for a second at most. */
void bench_rm_tree(const char *dir);

/*
 * How a benchmark stops. Called first in main, before any thread or child
 * is started: cleanup (stop the children, remove the directories; it must
 * not exit) is registered with atexit, and SIGINT, SIGTERM, SIGHUP and
 * SIGQUIT are blocked in every thread (the children start with none
 * blocked, bench_spawn) and taken by one thread with sigwait, which runs
 * cleanup and then dies of the signal, so the shell sees what stopped it
 * (status 130 for SIGINT). Not a signal handler: cleanup takes locks
 * (malloc's, in nftw and opendir) that an interrupted thread may hold, and
 * a second signal during a handler's exit() would end the process with the
 * directories half removed; here a second signal finds them still blocked.
 * Whoever comes first, exit() or the signal thread, runs cleanup under the
 * cleanup lock. The signal thread coming second runs it again and finds
 * nothing left, so cleanup must forget what it has stopped and removed; an
 * exit() coming second (a thread that fails once its files are gone) waits,
 * as the signal thread keeps the lock until the process dies.
 */
void bench_stop_signals_start(void (*cleanup)(void));
/* The cleanup lock, held while a directory is made and named (or renamed)
 * for cleanup, so that a signal never finds one made and not yet named. */
void bench_cleanup_lock(void);
void bench_cleanup_unlock(void);
/* Make BASE/NAME.XXXXXX (mkdtemp) into path, size bytes, under the cleanup
 * lock; on failure path is "" and the program dies saying why. */
void bench_make_tmp_dir(char *path, size_t size, const char *base, const char *name);

/* Inodes already counted by bench_disk_use; zero it before the first call,
 * free(v) after the last. */
struct bench_inodes {
	ino_t *v;
	size_t n, cap;
};
/* Bytes allocated (st_blocks) to the files under dir, each inode counted
 * once across the calls that share seen, as du counts: a hard link of a
 * segment into the store costs nothing twice. */
long long bench_disk_use(const char *dir, struct bench_inodes *seen);

/*
 * Start argv[0] (PATH searched) with stdout to out_fd (-1: the log) and
 * stderr appended to the log; pinned to cpu when cpu >= 0. env: NULL, or
 * "NAME=value" entries set in the child after every AWS_* variable of ours
 * is removed (a peer sees only the credentials given to it). The child
 * gets SIGTERM if we die, and is remembered until bench_child_forget.
 */
pid_t bench_spawn(char *const argv[], char *const env[], const char *log, int out_fd, int cpu);
/* Run a tool to completion, its stdout into out (cap bytes, NULL: the log);
 * returns its exit status (-1: killed or lost); *ru its resource usage. */
int bench_run_tool(char *const argv[], char *const env[], const char *log, char *out, size_t cap,
		   struct rusage *ru);
/* A child that was waited for elsewhere. */
void bench_child_forget(pid_t pid);
/* SIGTERM, then SIGKILL after grace_s; true when it exited by itself. */
bool bench_child_stop(pid_t pid, int grace_s);
/* Stop every child still running (the atexit handler). */
void bench_children_stop(int grace_s);

#endif
