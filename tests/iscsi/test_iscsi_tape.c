/*
 * test_iscsi_tape.c - SCSI over the target: REPORT LUNS and unmapped LUNs,
 * a tape written, spaced, located, read back and unloaded (immediate data,
 * unsolicited Data-Out and R2T paths), residual overflow and underflow,
 * sense data, two drives written concurrently from two sessions, the CmdSN
 * window under many outstanding commands, and task management.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "scsi/be.h"

static void start(void)
{
	th_start(NULL);
}

TestSuite(iscsi_scsi, .init = start, .fini = th_stop, .timeout = 120);
TestSuite(iscsi_tape, .init = start, .fini = th_stop, .timeout = 120);
TestSuite(iscsi_tmf, .init = start, .fini = th_stop, .timeout = 120);

Test(iscsi_scsi, report_luns_lists_every_lun)
{
	struct iscsi_context *iscsi = th_login(TH_LIB);
	struct scsi_task *t = iscsi_reportluns_sync(iscsi, 0, 64);
	cr_assert_not_null(t);
	cr_assert_eq(t->status, SCSI_STATUS_GOOD);
	cr_assert_geq(t->datain.size, 24);
	cr_expect_eq(get_be32(t->datain.data), 16u);
	cr_expect_eq(t->datain.data[8 + 1], 0);
	cr_expect_eq(t->datain.data[16 + 1], 1);
	scsi_free_scsi_task(t);
	th_logout(iscsi);
}

Test(iscsi_scsi, inquiry_of_an_unmapped_lun_reports_no_device)
{
	struct iscsi_context *iscsi = th_login(TH_LIB);
	struct scsi_task *t = iscsi_inquiry_sync(iscsi, 9, 0, 0, 36);
	cr_assert_not_null(t);
	cr_assert_eq(t->status, SCSI_STATUS_GOOD);
	cr_expect_eq(t->datain.data[0], 0x7f);
	scsi_free_scsi_task(t);
	th_logout(iscsi);
}

Test(iscsi_scsi, command_to_an_unmapped_lun_fails_with_lun_not_supported)
{
	struct iscsi_context *iscsi = th_login(TH_LIB);
	static const uint8_t tur[6] = {0};
	struct scsi_task *t = th_cmd(iscsi, 9, tur, 6, SCSI_XFER_NONE, 0, NULL, 0);
	cr_assert_not_null(t);
	cr_assert_eq(t->status, SCSI_STATUS_CHECK_CONDITION);
	cr_expect_eq(t->sense.key, SCSI_SENSE_ILLEGAL_REQUEST);
	cr_expect_eq(t->sense.ascq, 0x2500);
	scsi_free_scsi_task(t);
	/* A write to it drains its unsolicited data and the session goes on. */
	uint8_t buf[300000];
	uint8_t w6[6] = {0x0a, 0};
	put_be24(w6 + 2, sizeof(buf));
	t = th_cmd(iscsi, 9, w6, 6, SCSI_XFER_WRITE, sizeof(buf), buf, sizeof(buf));
	cr_assert_not_null(t);
	cr_expect_eq(t->status, SCSI_STATUS_CHECK_CONDITION);
	scsi_free_scsi_task(t);
	th_tur_clear(iscsi, 0);
	th_logout(iscsi);
}

Test(iscsi_scsi, residual_underflow_when_the_device_returns_less)
{
	struct iscsi_context *iscsi = th_login(TH_LIB);
	uint8_t cdb[6] = {0x12, 0, 0, 0, 255, 0};
	struct scsi_task *t = th_cmd(iscsi, 0, cdb, 6, SCSI_XFER_READ, 255, NULL, 0);
	cr_assert_not_null(t);
	cr_assert_eq(t->status, SCSI_STATUS_GOOD);
	int got = t->datain.size;
	cr_assert_lt(got, 255);
	cr_expect_eq(t->residual_status, SCSI_RESIDUAL_UNDERFLOW);
	cr_expect_eq(t->residual, (size_t)(255 - got));
	scsi_free_scsi_task(t);
	th_logout(iscsi);
}

Test(iscsi_scsi, residual_overflow_when_the_initiator_expects_less)
{
	struct iscsi_context *iscsi = th_login(TH_LIB);
	/* Allocation length 96, but only 8 bytes expected by the initiator. */
	uint8_t cdb[6] = {0x12, 0, 0, 0, 96, 0};
	struct scsi_task *t = th_cmd(iscsi, 0, cdb, 6, SCSI_XFER_READ, 8, NULL, 0);
	cr_assert_not_null(t);
	cr_assert_eq(t->status, SCSI_STATUS_GOOD);
	cr_expect_eq(t->datain.size, 8);
	cr_expect_eq(t->residual_status, SCSI_RESIDUAL_OVERFLOW);
	cr_expect_gt(t->residual, 0u);
	scsi_free_scsi_task(t);
	th_logout(iscsi);
}

Test(iscsi_scsi, sense_data_reaches_the_initiator_with_residual)
{
	struct iscsi_context *iscsi = th_login(TH_LIB);
	th_tur_clear(iscsi, 0);
	uint8_t rec[1000];
	th_pattern(rec, sizeof(rec), 1);
	th_write6(iscsi, 0, rec, sizeof(rec));
	th_rewind(iscsi, 0);
	/* READ(6) of 4096 over a 1000-byte record: ILI, data, then status. */
	uint8_t cdb[6] = {0x08, 0};
	put_be24(cdb + 2, 4096);
	struct scsi_task *t = th_cmd(iscsi, 0, cdb, 6, SCSI_XFER_READ, 4096, NULL, 0);
	cr_assert_not_null(t);
	cr_assert_eq(t->status, SCSI_STATUS_CHECK_CONDITION);
	cr_expect_eq(t->sense.key, SCSI_SENSE_NO_SENSE);
	/* (libiscsi keeps the SCSI Response's sense segment in datain, so
	 * the 1000 data bytes are checked through the residual.) */
	cr_expect_eq(t->residual_status, SCSI_RESIDUAL_UNDERFLOW);
	cr_expect_eq(t->residual, 3096u);
	scsi_free_scsi_task(t);
	th_logout(iscsi);
}

/* Write files of records of many sizes, read them back byte for byte,
 * space over filemarks, locate, and unload. */
static void tape_round_trip(struct iscsi_context *iscsi, int lun)
{
	static const uint32_t sizes[] = {1, 512, 4096, 65536, 262144, 262145, 1048576, 3000000, 77};
	enum { N = sizeof(sizes) / sizeof(sizes[0]) };
	uint8_t *rec = malloc(3000000), *back = malloc(3000000);
	cr_assert(rec && back);

	th_tur_clear(iscsi, lun);
	th_rewind(iscsi, lun);
	/* File 0: every size; file 1: three records. */
	for (int i = 0; i < N; i++) {
		th_pattern(rec, sizes[i], (uint32_t)i);
		th_write6(iscsi, lun, rec, sizes[i]);
	}
	th_filemarks(iscsi, lun, 1);
	for (int i = 0; i < 3; i++) {
		th_pattern(rec, 70000, 100u + (uint32_t)i);
		th_write6(iscsi, lun, rec, 70000);
	}
	th_filemarks(iscsi, lun, 1);
	cr_expect_eq(th_read_position(iscsi, lun), (uint32_t)N + 1 + 3 + 1);

	th_rewind(iscsi, lun);
	for (int i = 0; i < N; i++) {
		th_pattern(rec, sizes[i], (uint32_t)i);
		th_read6(iscsi, lun, back, sizes[i]);
		cr_assert_arr_eq(rec, back, sizes[i], "record %d (%u bytes)", i, sizes[i]);
	}

	/* SPACE 1 filemark forward from BOT lands after it: file 1. */
	th_rewind(iscsi, lun);
	th_space(iscsi, lun, 1, 1);
	cr_expect_eq(th_read_position(iscsi, lun), (uint32_t)N + 1);
	th_space(iscsi, lun, 0, 1); /* one block forward */
	th_pattern(rec, 70000, 101);
	th_read6(iscsi, lun, back, 70000);
	cr_expect_arr_eq(rec, back, 70000);

	/* LOCATE to object 3 and read it. */
	th_locate(iscsi, lun, 3);
	cr_expect_eq(th_read_position(iscsi, lun), 3u);
	th_pattern(rec, sizes[3], 3);
	th_read6(iscsi, lun, back, sizes[3]);
	cr_expect_arr_eq(rec, back, sizes[3]);

	/* LOAD UNLOAD with LOAD=0: unload. */
	uint8_t unload[6] = {0x1b, 0, 0, 0, 0, 0};
	struct scsi_task *t = th_cmd(iscsi, lun, unload, 6, SCSI_XFER_NONE, 0, NULL, 0);
	cr_assert_not_null(t);
	cr_expect_eq(t->status, SCSI_STATUS_GOOD);
	scsi_free_scsi_task(t);
	static const uint8_t tur[6] = {0};
	t = th_cmd(iscsi, lun, tur, 6, SCSI_XFER_NONE, 0, NULL, 0);
	cr_assert_not_null(t);
	cr_expect_eq(t->status, SCSI_STATUS_CHECK_CONDITION);
	cr_expect_eq(t->sense.key, SCSI_SENSE_NOT_READY);
	scsi_free_scsi_task(t);
	free(rec);
	free(back);
}

Test(iscsi_tape, written_spaced_located_read_back_and_unloaded_multi_lun_target)
{
	struct iscsi_context *iscsi = th_login(TH_LIB);
	tape_round_trip(iscsi, 1);
	th_logout(iscsi);
}

Test(iscsi_tape, written_and_read_back_on_a_single_lun_target)
{
	struct iscsi_context *iscsi = th_login(th_drive_iqn(0));
	tape_round_trip(iscsi, 0);
	th_logout(iscsi);
}

Test(iscsi_tape, written_with_initial_r2t_and_no_immediate_data)
{
	struct iscsi_context *iscsi = th_context(TH_INITIATOR, TH_LIB);
	iscsi_set_initial_r2t(iscsi, ISCSI_INITIAL_R2T_YES);
	iscsi_set_immediate_data(iscsi, ISCSI_IMMEDIATE_DATA_NO);
	cr_assert_eq(iscsi_connect_sync(iscsi, th_portal()), 0);
	cr_assert_eq(iscsi_login_sync(iscsi), 0, "%s", iscsi_get_error(iscsi));
	tape_round_trip(iscsi, 0);
	th_logout(iscsi);
}

Test(iscsi_tape, written_with_small_segments_and_bursts)
{
	th_stop();
	struct th_options o = {
	    .max_recv_data_segment = 4096, .first_burst = 8192, .max_burst = 16384};
	th_start(&o);
	struct iscsi_context *iscsi = th_login(TH_LIB);
	tape_round_trip(iscsi, 0);
	th_logout(iscsi);
}

struct writer {
	int drive;
	int records;
	bool ok;
};

static void *write_drive(void *arg)
{
	struct writer *w = arg;
	struct iscsi_context *iscsi = th_login(th_drive_iqn(w->drive));
	th_tur_clear(iscsi, 0);
	uint8_t *rec = malloc(65536), *back = malloc(65536);
	for (int i = 0; i < w->records; i++) {
		th_pattern(rec, 65536, (uint32_t)(w->drive * 100000 + i));
		th_write6(iscsi, 0, rec, 65536);
	}
	th_filemarks(iscsi, 0, 1);
	th_rewind(iscsi, 0);
	w->ok = true;
	for (int i = 0; i < w->records; i++) {
		th_pattern(rec, 65536, (uint32_t)(w->drive * 100000 + i));
		th_read6(iscsi, 0, back, 65536);
		if (memcmp(rec, back, 65536))
			w->ok = false;
	}
	free(rec);
	free(back);
	th_logout(iscsi);
	return NULL;
}

Test(iscsi_tape, two_drives_written_concurrently_from_two_sessions)
{
	pthread_t th[2];
	struct writer w[2] = {{0, 300, false}, {1, 300, false}};
	for (int i = 0; i < 2; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, write_drive, &w[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	cr_expect(w[0].ok, "drive 0 read back differs");
	cr_expect(w[1].ok, "drive 1 read back differs");
}

struct async_state {
	volatile int done;
	int good;
};

static void count_cb(struct iscsi_context *iscsi, int status, void *data, void *priv)
{
	(void)iscsi;
	struct async_state *s = priv;
	if (status == SCSI_STATUS_GOOD)
		s->good++;
	s->done++;
	scsi_free_scsi_task(data);
}

Test(iscsi_scsi, many_outstanding_commands_flow_through_the_cmdsn_window)
{
	struct iscsi_context *iscsi = th_login(TH_LIB);
	th_tur_clear(iscsi, 0);
	th_tur_clear(iscsi, 1);
	enum { N = 200 };
	struct async_state s = {0};
	for (int i = 0; i < N; i++) {
		struct scsi_task *t = scsi_cdb_inquiry(0, 0, 64);
		cr_assert_not_null(t);
		cr_assert_eq(iscsi_scsi_command_async(iscsi, i % 2, t, count_cb, NULL, &s), 0);
	}
	for (int k = 0; k < 600 && s.done < N; k++)
		th_service_until(iscsi, NULL, 50);
	cr_expect_eq(s.good, N);
	th_logout(iscsi);
}

/* ---- task management ---- */

Test(iscsi_tmf, lun_reset_completes_and_raises_a_reset_unit_attention)
{
	struct iscsi_context *iscsi = th_login(TH_LIB);
	th_tur_clear(iscsi, 1);
	cr_expect_eq(th_tmf(iscsi, 1, ISCSI_TM_LUN_RESET, 0xffffffff, 0), 0u);
	static const uint8_t tur[6] = {0};
	struct scsi_task *t = th_cmd(iscsi, 1, tur, 6, SCSI_XFER_NONE, 0, NULL, 0);
	cr_assert_not_null(t);
	cr_expect_eq(t->status, SCSI_STATUS_CHECK_CONDITION);
	cr_expect_eq(t->sense.key, SCSI_SENSE_UNIT_ATTENTION);
	cr_expect_eq(t->sense.ascq, 0x2903);
	scsi_free_scsi_task(t);
	th_tur_clear(iscsi, 1);
	th_logout(iscsi);
}

Test(iscsi_tmf, lun_reset_of_an_unmapped_lun_reports_no_lun)
{
	struct iscsi_context *iscsi = th_login(TH_LIB);
	cr_expect_eq(th_tmf(iscsi, 9, ISCSI_TM_LUN_RESET, 0xffffffff, 0), 2u);
	th_logout(iscsi);
}

Test(iscsi_tmf, abort_task_set_and_target_warm_reset_complete)
{
	struct iscsi_context *iscsi = th_login(TH_LIB);
	th_tur_clear(iscsi, 0);
	cr_expect_eq(th_tmf(iscsi, 0, ISCSI_TM_ABORT_TASK_SET, 0xffffffff, 0), 0u);
	cr_expect_eq(th_tmf(iscsi, 0, ISCSI_TM_CLEAR_TASK_SET, 0xffffffff, 0), 0u);
	cr_expect_eq(th_tmf(iscsi, 0, ISCSI_TM_TARGET_WARM_RESET, 0xffffffff, 0), 0u);
	th_tur_clear(iscsi, 0);
	th_logout(iscsi);
}

Test(iscsi_tmf, abort_task_of_an_unknown_task_reports_task_does_not_exist)
{
	struct iscsi_context *iscsi = th_login(TH_LIB);
	th_tur_clear(iscsi, 0);
	cr_expect_eq(th_tmf(iscsi, 0, ISCSI_TM_ABORT_TASK, 0x7777, 0x12345), 1u);
	th_logout(iscsi);
}
