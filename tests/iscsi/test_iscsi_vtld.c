/*
 * test_iscsi_vtld.c - the real vtld binary on a temporary data directory,
 * listening on 127.0.0.1 port 0, reached with libiscsi: discovery, login,
 * INQUIRY of the changer (LUN 0) and of a drive (LUN 1), REPORT LUNS,
 * logout, and a clean SIGTERM shutdown.
 *
 * The binary is ./vtld (the build directory, as `make check` runs), or
 * $VTLD.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <iscsi.h> /* libiscsi */
#include <scsi-lowlevel.h>

static pid_t vtld_pid;
static char dir[PATH_MAX];
static char portal[64];
static char iqn[256];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void start_vtld(void)
{
	snprintf(dir, sizeof(dir), "/tmp/vtl-vtld-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	const char *bin = getenv("VTLD") ? getenv("VTLD") : "./vtld";
	cr_assert_eq(access(bin, X_OK), 0, "vtld binary %s not found", bin);

	char logpath[PATH_MAX + 16];
	snprintf(logpath, sizeof(logpath), "%s/vtld.log", dir);
	vtld_pid = fork();
	cr_assert_geq(vtld_pid, 0);
	if (vtld_pid == 0) {
		int fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(bin, bin, "--foreground", "--data-dir", dir, "--listen", "127.0.0.1:0",
		      (char *)NULL);
		_exit(127);
	}

	/* Wait for the line "iSCSI target IQN listening on port N". */
	char log[16384] = "";
	unsigned port = 0;
	for (int waited = 0; waited < 15000 && !port; waited += 100) {
		usleep(100000);
		FILE *f = fopen(logpath, "r");
		if (!f)
			continue;
		size_t n = fread(log, 1, sizeof(log) - 1, f);
		fclose(f);
		log[n] = '\0';
		const char *s = strstr(log, "iSCSI target ");
		if (s && strchr(s, '\n')) {
			char name[256];
			if (sscanf(s, "iSCSI target %255s listening on port %u", name, &port) == 2)
				snprintf(iqn, sizeof(iqn), "%s", name);
		}
	}
	cr_assert_neq(port, 0u, "vtld did not report its port; log:\n%s", log);
	snprintf(portal, sizeof(portal), "127.0.0.1:%u", port);
}

static void stop_vtld(void)
{
	if (vtld_pid > 0) {
		kill(vtld_pid, SIGTERM);
		int st = 0;
		for (int i = 0; i < 100; i++) {
			if (waitpid(vtld_pid, &st, WNOHANG) == vtld_pid)
				break;
			usleep(100000);
			if (i == 99) {
				kill(vtld_pid, SIGKILL);
				waitpid(vtld_pid, &st, 0);
			}
		}
		vtld_pid = 0;
	}
	if (dir[0])
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	dir[0] = '\0';
}

TestSuite(iscsi_vtld, .init = start_vtld, .fini = stop_vtld, .timeout = 60);

static struct iscsi_context *ctx(enum iscsi_session_type type)
{
	struct iscsi_context *iscsi = iscsi_create_context("iqn.2024-01.test.initiator:vtld");
	cr_assert_not_null(iscsi);
	iscsi_set_noautoreconnect(iscsi, 1);
	iscsi_set_timeout(iscsi, 20);
	iscsi_set_session_type(iscsi, type);
	if (type == ISCSI_SESSION_NORMAL)
		iscsi_set_targetname(iscsi, iqn);
	cr_assert_eq(iscsi_connect_sync(iscsi, portal), 0, "%s", iscsi_get_error(iscsi));
	cr_assert_eq(iscsi_login_sync(iscsi), 0, "%s", iscsi_get_error(iscsi));
	return iscsi;
}

Test(iscsi_vtld, discovery_login_and_inquiry_of_changer_and_drive)
{
	struct iscsi_context *d = ctx(ISCSI_SESSION_DISCOVERY);
	struct iscsi_discovery_address *da = iscsi_discovery_sync(d);
	cr_assert_not_null(da, "%s", iscsi_get_error(d));
	cr_expect_str_eq(da->target_name, iqn);
	/* Reached on 127.0.0.1: no TargetAddress, the initiator keeps the
	 * address it discovered on (iscsi/server.c set_portal). */
	cr_expect_null(da->portals);
	iscsi_free_discovery_data(d, da);
	iscsi_logout_sync(d);
	iscsi_destroy_context(d);

	struct iscsi_context *s = ctx(ISCSI_SESSION_NORMAL);
	struct scsi_task *t = iscsi_inquiry_sync(s, 0, 0, 0, 96);
	cr_assert_not_null(t);
	cr_assert_eq(t->status, SCSI_STATUS_GOOD);
	cr_expect_eq(t->datain.data[0] & 0x1f, 0x08, "LUN 0 is the changer");
	scsi_free_scsi_task(t);

	t = iscsi_inquiry_sync(s, 1, 0, 0, 96);
	cr_assert_not_null(t);
	cr_assert_eq(t->status, SCSI_STATUS_GOOD);
	cr_expect_eq(t->datain.data[0] & 0x1f, 0x01, "LUN 1 is a tape drive");
	scsi_free_scsi_task(t);

	t = iscsi_reportluns_sync(s, 0, 256);
	cr_assert_not_null(t);
	cr_assert_eq(t->status, SCSI_STATUS_GOOD);
	cr_expect_geq(t->datain.data[3], 16, "changer and at least one drive");
	scsi_free_scsi_task(t);

	cr_expect_eq(iscsi_logout_sync(s), 0);
	iscsi_destroy_context(s);
}
