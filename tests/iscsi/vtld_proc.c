/*
 * vtld_proc.c - see vtld_proc.h. Real binaries only: the daemon is the
 * vtld the build made, the CLI the vtlctl it made.
 */
#include "config.h"

#include "vtld_proc.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <iscsi.h> /* libiscsi */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/tmpdir.h"

static const char *bin(const char *env, const char *dflt)
{
	const char *b = getenv(env);
	return b && *b ? b : dflt;
}

/* Fork and exec vtld on p->dir, then wait for the log line
 * "iSCSI target IQN listening on port N" followed by "ready". */
static void spawn(struct vtld_proc *p)
{
	const char *vtld = bin("VTLD", "./vtld");
	cr_assert_eq(access(vtld, X_OK), 0, "vtld binary %s not found", vtld);
	p->starts++;
	snprintf(p->log, sizeof(p->log), "%s/vtld-%d.log", p->dir, p->starts);
	pid_t parent = getpid();

	p->pid = fork();
	cr_assert_geq(p->pid, 0);
	if (p->pid == 0) {
		/* Die with the test, whatever happens to it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		int fd = open(p->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		const char *argv[12];
		int n = 0;
		argv[n++] = vtld;
		argv[n++] = "--foreground";
		if (p->config[0]) {
			argv[n++] = "-c";
			argv[n++] = p->config;
		}
		argv[n++] = "--data-dir";
		argv[n++] = p->dir;
		argv[n++] = "--listen";
		argv[n++] = "127.0.0.1:0";
		if (p->extra[0])
			argv[n++] = p->extra;
		argv[n] = NULL;
		execv(vtld, (char *const *)argv);
		_exit(127);
	}

	char log[16384] = "";
	p->port = 0;
	for (int waited = 0; waited < 15000 && !p->port; waited += 50) {
		usleep(50000);
		FILE *f = fopen(p->log, "r");
		if (!f)
			continue;
		size_t n = fread(log, 1, sizeof(log) - 1, f);
		fclose(f);
		log[n] = '\0';
		const char *s = strstr(log, "iSCSI target ");
		if (s && strstr(s, " ready\n")) {
			char name[256];
			unsigned port;
			if (sscanf(s, "iSCSI target %255s listening on port %u", name, &port) ==
			    2) {
				snprintf(p->iqn, sizeof(p->iqn), "%s", name);
				p->port = port;
			}
		}
		int st;
		if (!p->port && waitpid(p->pid, &st, WNOHANG) == p->pid) {
			p->pid = 0;
			cr_assert_fail("vtld exited at start (status 0x%x); log:\n%s", st, log);
		}
	}
	cr_assert_neq(p->port, 0u, "vtld did not report its port; log:\n%s", log);
	snprintf(p->portal, sizeof(p->portal), "127.0.0.1:%u", p->port);
}

void vp_start(struct vtld_proc *p, const char *config_text)
{
	vp_start_with(p, config_text, NULL);
}

void vp_start_with(struct vtld_proc *p, const char *config_text, const char *extra_arg)
{
	memset(p, 0, sizeof(*p));
	if (extra_arg)
		snprintf(p->extra, sizeof(p->extra), "%s", extra_arg);
	tmpdir_make(p->dir, sizeof(p->dir), "itest");
	if (config_text) {
		snprintf(p->config, sizeof(p->config), "%s/vtld.conf", p->dir);
		FILE *f = fopen(p->config, "w");
		cr_assert_not_null(f);
		fputs(config_text, f);
		fclose(f);
	}
	spawn(p);
}

void vp_kill(struct vtld_proc *p)
{
	if (p->pid <= 0)
		return;
	kill(p->pid, SIGKILL);
	waitpid(p->pid, NULL, 0);
	p->pid = 0;
}

int vp_terminate(struct vtld_proc *p)
{
	if (p->pid <= 0)
		return -1;
	kill(p->pid, SIGTERM);
	int st = 0;
	for (int i = 0; i < 200; i++) {
		if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
			p->pid = 0;
			return st;
		}
		usleep(50000);
	}
	kill(p->pid, SIGKILL);
	waitpid(p->pid, &st, 0);
	p->pid = 0;
	return -1;
}

int vp_start_fails(struct vtld_proc *p, char *log, size_t cap)
{
	cr_assert_eq(p->pid, 0, "vp_start_fails: vtld still running");
	p->starts++;
	snprintf(p->log, sizeof(p->log), "%s/vtld-%d.log", p->dir, p->starts);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int fd = open(p->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		const char *vtld = bin("VTLD", "./vtld");
		/* p->extra as vp_start_with passes it (e.g. --rebuild-catalog). */
		char *extra = p->extra[0] ? p->extra : NULL;
		if (p->config[0])
			execl(vtld, vtld, "--foreground", "-c", p->config, "--data-dir", p->dir,
			      "--listen", "127.0.0.1:0", extra, (char *)NULL);
		else
			execl(vtld, vtld, "--foreground", "--data-dir", p->dir, "--listen",
			      "127.0.0.1:0", extra, (char *)NULL);
		_exit(127);
	}
	int st = -1;
	for (int waited = 0; waited < 15000; waited += 50) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			break;
		usleep(50000);
		st = -1;
	}
	if (st == -1) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	log[0] = 0;
	FILE *f = fopen(p->log, "r");
	if (f) {
		size_t n = fread(log, 1, cap - 1, f);
		log[n] = 0;
		fclose(f);
	}
	cr_assert_neq(st, -1, "vtld did not exit; log:\n%s", log);
	return st;
}

void vp_restart(struct vtld_proc *p)
{
	cr_assert_eq(p->pid, 0, "vp_restart: vtld still running");
	spawn(p);
}

void vp_stop(struct vtld_proc *p)
{
	if (p->pid > 0) {
		/* A clean exit on SIGTERM: no crash, no hang, and under the
		 * sanitizers no leak or error report (those exit non-zero). */
		int st = vp_terminate(p);
		if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			char log[8192] = "";
			FILE *f = fopen(p->log, "r");
			if (f) {
				if (fseek(f, -(long)sizeof(log) + 1, SEEK_END))
					rewind(f);
				size_t n = fread(log, 1, sizeof(log) - 1, f);
				log[n] = '\0';
				fclose(f);
			}
			cr_expect_fail(
			    "vtld did not exit cleanly on SIGTERM (status 0x%x); log:\n%s",
			    (unsigned)st, log);
		}
	}
	if (p->dir[0] && !getenv("VP_KEEP"))
		tmpdir_remove(p->dir);
	p->dir[0] = '\0';
}

bool vp_alive(struct vtld_proc *p)
{
	int st;
	return p->pid > 0 && waitpid(p->pid, &st, WNOHANG) == 0;
}

int vp_ctl(struct vtld_proc *p, char *out, size_t cap, const char *args)
{
	char cmd[PATH_MAX * 2 + 1024];
	snprintf(cmd, sizeof(cmd), "%s --socket %s/vtld.sock %s 2>&1", bin("VTLCTL", "./vtlctl"),
		 p->dir, args);
	FILE *f = popen(cmd, "r");
	cr_assert_not_null(f, "popen %s", cmd);
	size_t n = fread(out, 1, cap - 1, f);
	out[n] = '\0';
	int st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

struct iscsi_context *vp_login(struct vtld_proc *p, bool discovery)
{
	struct iscsi_context *iscsi = iscsi_create_context(VP_INITIATOR);
	cr_assert_not_null(iscsi);
	iscsi_set_noautoreconnect(iscsi, 1);
	iscsi_set_timeout(iscsi, 20);
	if (discovery) {
		iscsi_set_session_type(iscsi, ISCSI_SESSION_DISCOVERY);
	} else {
		iscsi_set_session_type(iscsi, ISCSI_SESSION_NORMAL);
		iscsi_set_targetname(iscsi, p->iqn);
	}
	cr_assert_eq(iscsi_connect_sync(iscsi, p->portal), 0, "connect: %s",
		     iscsi_get_error(iscsi));
	cr_assert_eq(iscsi_login_sync(iscsi), 0, "login: %s", iscsi_get_error(iscsi));
	return iscsi;
}

void vp_ctl_ok(struct vtld_proc *p, const char *args, char *out, size_t cap)
{
	cr_assert_eq(vp_ctl(p, out, cap, args), 0, "vtlctl %s: %s", args, out);
}

long long vp_jint(const char *json, const char *key)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	const char *at = strstr(json, pat);
	return at ? strtoll(at + strlen(pat), NULL, 10) : -1;
}

long long vp_status_until(struct vtld_proc *p, const char *key, long long least, char *out,
			  size_t cap)
{
	long long v = -1;
	for (int i = 0; i < 300; i++) {
		vp_ctl_ok(p, "--json status", out, cap);
		v = vp_jint(out, key);
		if (v >= least)
			break;
		usleep(100000);
	}
	return v;
}

void vp_wait_uploaded(struct vtld_proc *p, const char *barcode)
{
	char out[8192], args[64];
	snprintf(args, sizeof(args), "--json tape show %s", barcode);
	for (int i = 0; i < 600; i++) {
		vp_ctl_ok(p, args, out, sizeof(out));
		/* A blank tape never loaded has no medium and nothing to send:
		 * the library record names it (vtl/record.c). */
		if (strstr(out, "\"medium_made\": false"))
			return;
		if (vp_jint(out, "pending_uploads") == 0 &&
		    vp_jint(out, "manifest_generation") > 0 && vp_jint(out, "pending_bytes") == 0)
			return;
		usleep(100000);
	}
	cr_assert_fail("tape %s not uploaded in 60 s: %s", barcode, out);
}
