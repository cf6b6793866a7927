/*
 * vtld_proc.h - the real vtld and vtlctl binaries for integration tests:
 * vtld started in the foreground on a temporary data directory, listening
 * on 127.0.0.1 port 0 (the port is read from its log), optionally with a
 * configuration file; stopped with SIGTERM (SIGKILL if it hangs) and
 * restarted on the same data directory; vtlctl run against its control
 * socket.
 *
 * The binaries are ./vtld and ./vtlctl (the build directory, as `make
 * check` runs), or $VTLD and $VTLCTL. A vtld started here also dies with
 * the test process (PR_SET_PDEATHSIG), so a crashed or timed-out test
 * leaves no daemon behind.
 */
#ifndef VTL_TESTS_ISCSI_VTLD_PROC_H
#define VTL_TESTS_ISCSI_VTLD_PROC_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define VP_INITIATOR "iqn.2024-01.test.initiator:vtld"

struct vtld_proc {
	pid_t pid;
	int starts; /* how many times started (log file vtld-N.log) */
	unsigned port;
	char dir[PATH_MAX];	    /* data directory */
	char portal[64];	    /* "127.0.0.1:PORT" */
	char iqn[256];		    /* the target name vtld reported */
	char config[PATH_MAX + 16]; /* the config file, or "" */
	char log[PATH_MAX + 32];    /* the current log file */
	char extra[64];		    /* one more vtld argument (vp_start_with), or "" */
};

/* Start vtld on a new temporary data directory; config_text (or NULL) is
 * written to DIR/vtld.conf and passed with -c. Fails the test if vtld does
 * not report its port within 15 s. */
void vp_start(struct vtld_proc *p, const char *config_text);
/* Start vtld on p's data directory (after vp_terminate) expecting it to
 * refuse: returns its exit status once it exits (within 15 s), with its
 * log in log. */
int vp_start_fails(struct vtld_proc *p, char *log, size_t cap);
/* vp_start, passing vtld one more argument (e.g. "--recover-from-store");
 * restarts pass it too unless p->extra is cleared. */
void vp_start_with(struct vtld_proc *p, const char *config_text, const char *extra_arg);
/* SIGTERM and wait (SIGKILL after 10 s); returns the exit status as
 * waitpid reports it, or -1 if it had to be killed. */
int vp_terminate(struct vtld_proc *p);
/* SIGKILL, as a crash (nothing is flushed or closed), and reap it. */
void vp_kill(struct vtld_proc *p);
/* Start again on the same data directory (after vp_terminate). */
void vp_restart(struct vtld_proc *p);
/* Terminate if running, failing the test (with the log's tail) unless
 * vtld exits 0, and remove the data directory. */
void vp_stop(struct vtld_proc *p);
/* vtld is still running (has not exited). */
bool vp_alive(struct vtld_proc *p);

/* Run `vtlctl --socket DIR/vtld.sock ARGS` (ARGS: a shell word list of
 * safe characters); stdout and stderr into out. Returns the exit code. */
int vp_ctl(struct vtld_proc *p, char *out, size_t cap, const char *args);
/* vp_ctl that fails the test unless vtlctl exits 0. */
void vp_ctl_ok(struct vtld_proc *p, const char *args, char *out, size_t cap);
/* The integer after "key": in vtlctl's JSON, or -1. */
long long vp_jint(const char *json, const char *key);
/* Poll `vtlctl --json status` (into out) every 100 ms, 30 s at most, until
 * the integer at key is at least `least`; returns the last value read (the
 * caller asserts on it, with out as the message). */
long long vp_status_until(struct vtld_proc *p, const char *key, long long least, char *out,
			  size_t cap);
/* Wait (60 s at most, else fail the test) until `vtlctl tape show BARCODE`
 * reports no pending upload or byte and a manifest in the store. */
void vp_wait_uploaded(struct vtld_proc *p, const char *barcode);

/* A libiscsi context (initiator VP_INITIATOR) connected and logged in to
 * p's target, or a discovery session when discovery is true. Fails the
 * test on error. */
struct iscsi_context;
struct iscsi_context *vp_login(struct vtld_proc *p, bool discovery);

#endif
