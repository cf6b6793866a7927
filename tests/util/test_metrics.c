/*
 * test_metrics.c - util/metrics.c: what each counting call adds to which
 * series, the text exposition (histograms cumulative with _count equal to
 * +Inf, label values quoted), bounded labels (an unknown device counts as
 * device="none", an unknown fault kind as kind="other", no more devices
 * than MET_MAX_DEVS) and that counting from many threads at once loses
 * nothing. The whole exposition is linted by promtool in
 * tests/vtl/test_metrics_rgw.c.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "scsi/scsi.h"
#include "util/metrics.h"

static char *render(void)
{
	struct met_buf b = {0};
	met_render(&b);
	cr_assert(!b.failed && b.p);
	return b.p;
}

/* text holds line (a whole line). */
static void has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = strstr(text, line); p; p = strstr(p + 1, line))
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return;
	cr_assert_fail("no line '%s' in:\n%s", line, text);
}

static struct scsi_cmd cmd(uint8_t op, uint8_t status, uint32_t out_len, uint32_t in_len)
{
	struct scsi_cmd c;
	memset(&c, 0, sizeof(c));
	c.cdb[0] = op;
	c.status = status;
	c.out_len = out_len;
	c.in_len = in_len;
	c.in_cap = in_len;
	return c;
}

static int drive1, drive2, changer;

static void setup(void)
{
	met_reset();
	cr_assert_eq(met_dev_add(&changer, "changer", 0), 0);
	cr_assert_eq(met_dev_add(&drive1, "drive1", 1), 0);
	cr_assert_eq(met_dev_add(&drive2, "drive2", 2), 0);
}

TestSuite(metrics, .init = setup);

Test(metrics, a_write_counts_its_bytes_time_class_and_latency_bucket)
{
	struct scsi_cmd c = cmd(WRITE_6, SAM_STAT_GOOD, 262144, 0);
	met_scsi_cmd(&drive1, &c, 0, 2000000); /* 2 ms */
	char *t = render();
	has_line(t, "vtl_drive_write_bytes_total{device=\"drive1\",lun=\"1\"} 262144");
	has_line(t, "vtl_drive_write_seconds_total{device=\"drive1\",lun=\"1\"} 0.002000000");
	has_line(t, "vtl_drive_write_bytes_total{device=\"drive2\",lun=\"2\"} 0");
	has_line(t, "vtl_scsi_commands_total{device=\"drive1\",lun=\"1\",class=\"write\"} 1");
	has_line(t, "vtl_scsi_commands_total{device=\"drive1\",lun=\"1\",class=\"read\"} 0");
	/* Cumulative buckets: not in <= 1 ms, in <= 5 ms and every one above. */
	has_line(t, "vtl_scsi_command_duration_seconds_bucket{class=\"write\",le=\"0.001\"} 0");
	has_line(t, "vtl_scsi_command_duration_seconds_bucket{class=\"write\",le=\"0.005\"} 1");
	has_line(t, "vtl_scsi_command_duration_seconds_bucket{class=\"write\",le=\"60\"} 1");
	has_line(t, "vtl_scsi_command_duration_seconds_bucket{class=\"write\",le=\"+Inf\"} 1");
	has_line(t, "vtl_scsi_command_duration_seconds_count{class=\"write\"} 1");
	has_line(t, "vtl_scsi_command_duration_seconds_sum{class=\"write\"} 0.002000000");
	free(t);
}

Test(metrics, a_read_counts_what_reached_the_initiator_not_what_the_record_held)
{
	struct scsi_cmd c = cmd(READ_16, SAM_STAT_CHECK_CONDITION, 0, 100000);
	c.in_cap = 65536; /* the record is larger than the transfer length */
	met_scsi_cmd(&drive2, &c, 0x0, 1000);
	char *t = render();
	has_line(t, "vtl_drive_read_bytes_total{device=\"drive2\",lun=\"2\"} 65536");
	has_line(t, "vtl_scsi_check_conditions_total{device=\"drive2\",lun=\"2\",sense_key="
		    "\"NO_SENSE\"} 1");
	free(t);
}

Test(metrics, check_conditions_by_sense_key_and_classes_of_the_changer)
{
	struct scsi_cmd tur = cmd(TEST_UNIT_READY, SAM_STAT_CHECK_CONDITION, 0, 0);
	met_scsi_cmd(&drive2, &tur, 0x2, 1000);
	met_scsi_cmd(&drive2, &tur, 0x6, 1000);
	met_scsi_cmd(&drive2, &tur, 0x2, 1000);
	struct scsi_cmd move = cmd(MOVE_MEDIUM, SAM_STAT_GOOD, 0, 0);
	met_scsi_cmd(&changer, &move, 0, 1000);
	char *t = render();
	has_line(t, "vtl_scsi_check_conditions_total{device=\"drive2\",lun=\"2\",sense_key="
		    "\"NOT_READY\"} 2");
	has_line(t, "vtl_scsi_check_conditions_total{device=\"drive2\",lun=\"2\",sense_key="
		    "\"UNIT_ATTENTION\"} 1");
	has_line(t, "vtl_scsi_commands_total{device=\"drive2\",lun=\"2\",class=\"status\"} 3");
	has_line(t, "vtl_scsi_commands_total{device=\"changer\",lun=\"0\",class=\"media\"} 1");
	cr_assert_null(strstr(t, "sense_key=\"MEDIUM_ERROR\""), "a key never answered shows");
	free(t);
}

Test(metrics, a_command_for_no_registered_device_counts_as_none)
{
	char *t = render();
	cr_assert_null(strstr(t, "device=\"none\""), "no none series before such a command");
	free(t);
	struct scsi_cmd c = cmd(INQUIRY, SAM_STAT_GOOD, 0, 36);
	met_scsi_cmd(NULL, &c, 0, 1000);
	int other;
	met_scsi_cmd(&other, &c, 0, 1000);
	t = render();
	has_line(t, "vtl_scsi_commands_total{device=\"none\",lun=\"\",class=\"status\"} 2");
	free(t);
}

Test(metrics, no_more_devices_than_the_bound)
{
	static char keys[MET_MAX_DEVS];
	met_reset();
	for (int i = 0; i < MET_MAX_DEVS; i++)
		cr_assert_eq(met_dev_add(&keys[i], "d", (uint64_t)i), 0);
	int one_more;
	cr_assert_eq(met_dev_add(&one_more, "d", 99), -ENOSPC);
}

Test(metrics, store_errors_by_kind_unknown_kinds_are_other)
{
	met_store_error("certificate");
	met_store_error("certificate");
	met_store_error("local file");
	met_store_error("anything a peer could send");
	met_store_error(NULL);
	char *t = render();
	has_line(t, "vtl_store_errors_total{kind=\"certificate\"} 2");
	has_line(t, "vtl_store_errors_total{kind=\"local file\"} 1");
	has_line(t, "vtl_store_errors_total{kind=\"other\"} 2");
	has_line(t, "vtl_store_errors_total{kind=\"transient\"} 0");
	free(t);
}

Test(metrics, uploads_downloads_shelf_catalog_and_iscsi)
{
	met_upload(5242880, 1, 0, 0, 0);
	met_upload(1000, 0, 1, 1, 1);
	met_upload_inflight(1);
	met_upload_inflight(1);
	met_upload_inflight(-1);
	met_store_retry();
	met_store_get(8388608, 30000000, true);
	met_store_get(0, 1000000, false);
	met_cache_fetched(4096);
	met_shelf(MET_SHELF_ARCHIVED);
	met_shelf(MET_SHELF_RESTORE);
	met_catalog_write(3000000);
	met_rebuild(2, 5);
	met_iscsi_login(true);
	met_iscsi_login(false);
	met_iscsi_session(1);
	met_iscsi_session(1);
	met_iscsi_session(-1);
	char *t = render();
	has_line(t, "vtl_cloud_bytes_uploaded_total 5243880");
	has_line(t, "vtl_upload_parts_total 1");
	has_line(t, "vtl_upload_parts_copied_total 1");
	has_line(t, "vtl_upload_objects_completed_total 1");
	has_line(t, "vtl_upload_manifests_total 1");
	has_line(t, "vtl_upload_parts_in_flight 1");
	has_line(t, "vtl_store_retries_total 1");
	has_line(t, "vtl_cloud_bytes_downloaded_total 8388608");
	has_line(t, "vtl_store_get_failures_total 1");
	has_line(t, "vtl_cloud_download_seconds_count 2");
	has_line(t, "vtl_cloud_download_seconds_bucket{le=\"0.025\"} 1");
	has_line(t, "vtl_cloud_download_seconds_bucket{le=\"0.05\"} 2");
	has_line(t, "vtl_cache_fetched_bytes_total 4096");
	has_line(t, "vtl_shelf_operations_total{op=\"archive\"} 1");
	has_line(t, "vtl_shelf_operations_total{op=\"retrieve\"} 0");
	has_line(t, "vtl_shelf_operations_total{op=\"restore_request\"} 1");
	has_line(t, "vtl_catalog_write_seconds_count 1");
	has_line(t, "vtl_rebuild_tapes_done 2");
	has_line(t, "vtl_rebuild_tapes_planned 5");
	has_line(t, "vtl_iscsi_logins_total{result=\"ok\"} 1");
	has_line(t, "vtl_iscsi_logins_total{result=\"refused\"} 1");
	has_line(t, "vtl_iscsi_sessions 1");
	cr_assert_eq(met_iscsi_sessions(), 1);
	free(t);
}

Test(metrics, label_values_are_quoted_as_the_exposition_format_asks)
{
	struct met_buf b = {0};
	met_buf_label(&b, "a\"b\\c\nd");
	cr_assert_str_eq(b.p, "a\\\"b\\\\c\\nd");
	free(b.p);
}

struct worker {
	const void *dev;
	int n;
};

static void *hammer(void *arg)
{
	struct worker *w = arg;
	struct scsi_cmd c = cmd(WRITE_16, SAM_STAT_GOOD, 512, 0);
	for (int i = 0; i < w->n; i++)
		met_scsi_cmd(w->dev, &c, 0, 1000);
	return NULL;
}

/* Four threads on two drives at once: every command and byte counted. */
Test(metrics, counting_from_many_threads_loses_nothing)
{
	enum { N = 200000 };
	pthread_t th[4];
	struct worker w[4] = {{&drive1, N}, {&drive1, N}, {&drive2, N}, {&drive2, N}};
	for (int i = 0; i < 4; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, hammer, &w[i]), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	struct met_dev_stats st[MET_MAX_DEVS];
	size_t n = met_dev_stats(st, MET_MAX_DEVS);
	cr_assert_eq(n, 3u);
	cr_assert_str_eq(st[1].name, "drive1");
	cr_assert_eq(st[1].commands, 2u * N);
	cr_assert_eq(st[1].write_bytes, 2ull * N * 512);
	cr_assert_eq(st[2].commands, 2u * N);
	char *t = render();
	has_line(t, "vtl_scsi_command_duration_seconds_count{class=\"write\"} 800000");
	free(t);
}
