/*
 * test_iscsi_vtld.c - the real vtld binary on a temporary data directory,
 * listening on 127.0.0.1 port 0, reached with libiscsi: discovery, login,
 * INQUIRY of the changer (LUN 0) and of a drive (LUN 1), REPORT LUNS,
 * logout, and a clean SIGTERM shutdown.
 *
 * vtld is started and stopped by tests/iscsi/vtld_proc.c: ./vtld (the
 * build directory, as `make check` runs), or $VTLD.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <stdbool.h>

#include <iscsi.h> /* libiscsi */
#include <scsi-lowlevel.h>

#include "vtld_proc.h"

static struct vtld_proc vtld;

static void start_vtld(void)
{
	vp_start(&vtld, NULL);
}

/* vp_stop also fails the test unless vtld exits 0 on SIGTERM. */
static void stop_vtld(void)
{
	vp_stop(&vtld);
}

TestSuite(iscsi_vtld, .init = start_vtld, .fini = stop_vtld, .timeout = 60);

Test(iscsi_vtld, discovery_login_and_inquiry_of_changer_and_drive)
{
	struct iscsi_context *d = vp_login(&vtld, true);
	struct iscsi_discovery_address *da = iscsi_discovery_sync(d);
	cr_assert_not_null(da, "%s", iscsi_get_error(d));
	cr_expect_str_eq(da->target_name, vtld.iqn);
	/* Reached on 127.0.0.1: no TargetAddress, the initiator keeps the
	 * address it discovered on (iscsi/server.c set_portal). */
	cr_expect_null(da->portals);
	iscsi_free_discovery_data(d, da);
	iscsi_logout_sync(d);
	iscsi_destroy_context(d);

	struct iscsi_context *s = vp_login(&vtld, false);
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
