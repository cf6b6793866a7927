/*
 * test_iscsi_protocol.c - RFC 7143 protocol families against the real
 * vtld, the equivalents of what libiscsi's iscsi-test-cu checks on disks
 * (it needs READ CAPACITY(10) and cannot start on tape or changer LUNs):
 * CmdSN (window edges, duplicates, immediate commands, gaps), unsolicited
 * and solicited Data-Out (DataSN, FirstBurstLength, ImmediateData), SCSI
 * residuals on READ(6), task management, NOP and SendTargets. Hand-made
 * PDUs go through tests/iscsi/rawpdu.c; libiscsi where it can express the
 * case. Every test ends by checking that vtld is still running.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "rawpdu.h"
#include "scsi/be.h"
#include "vtld_proc.h"

static struct vtld_proc vtl;

/* vtld with one tape (ITP001L8) loaded in drive 1 (LUN 1). */
static void start(void)
{
	vp_start(&vtl, NULL);
	char out[4096];
	cr_assert_eq(vp_ctl(&vtl, out, sizeof(out), "tape create ITP001L8"), 0, "%s", out);
	cr_assert_eq(vp_ctl(&vtl, out, sizeof(out), "tape move ITP001L8 --to drive:1"), 0, "%s",
		     out);
}

static void stop(void)
{
	cr_expect(vtl.pid == 0 || vp_alive(&vtl), "vtld died during the test");
	vp_stop(&vtl);
}

TestSuite(proto_cmdsn, .init = start, .fini = stop, .timeout = 60);
TestSuite(proto_dataout, .init = start, .fini = stop, .timeout = 60);
TestSuite(proto_residual, .init = start, .fini = stop, .timeout = 60);
TestSuite(proto_tmf, .init = start, .fini = stop, .timeout = 60);
TestSuite(proto_nop, .init = start, .fini = stop, .timeout = 60);
TestSuite(proto_text, .init = start, .fini = stop, .timeout = 60);

/* ---- raw SCSI helpers ---- */

static uint32_t wfm_itt(struct raw *r, bool immediate)
{
	static const uint8_t wfm[6] = {0x10, 0, 0, 0, 1, 0};
	return raw_cmd(r, 1, wfm, 6, 0x80, 0, NULL, 0, immediate);
}

/* A libiscsi session on the same vtld: READ POSITION of LUN 1. */
static uint32_t position_seen_by_another_session(void)
{
	struct iscsi_context *iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 1);
	uint32_t pos = th_read_position(iscsi, 1);
	th_logout(iscsi);
	return pos;
}

/* ---- CmdSN (RFC 7143 4.2.2.1) ---- */

Test(proto_cmdsn, immediate_command_runs_without_advancing_expcmdsn)
{
	struct raw r;
	raw_login(&r, vtl.port, VP_INITIATOR, vtl.iqn, NULL);
	raw_tur_clear(&r, 1);
	uint32_t exp = r.exp_cmdsn;
	cr_assert_eq(exp, r.cmdsn);
	/* Immediate: carries CmdSN = ExpCmdSN and does not consume it. */
	cr_expect_eq(raw_tur(&r, 1, true), 0);
	cr_expect_eq(r.exp_cmdsn, exp, "an immediate command does not advance ExpCmdSN");
	/* The same CmdSN, non-immediate, is the next command and runs. */
	cr_expect_eq(raw_tur(&r, 1, false), 0);
	cr_expect_eq(r.exp_cmdsn, exp + 1);
	/* An immediate WRITE FILEMARKS really executes. */
	cr_expect_eq(raw_status(&r, wfm_itt(&r, true), NULL, 0, NULL), 0);
	cr_expect_eq(raw_read_position(&r, 1), 1u);
	close(r.fd);
}

Test(proto_cmdsn, command_one_past_maxcmdsn_is_ignored_and_not_executed)
{
	struct raw r;
	raw_login(&r, vtl.port, VP_INITIATOR, vtl.iqn, NULL);
	raw_tur_clear(&r, 1);
	uint32_t exp = r.exp_cmdsn, max = r.max_cmdsn;
	cr_assert_geq(max - exp + 1, 1u, "a window of at least one command");
	/* WRITE FILEMARKS with CmdSN = MaxCmdSN + 1: outside the window. */
	r.cmdsn = max + 1;
	wfm_itt(&r, false);
	r.cmdsn = exp;
	raw_nop_ping(&r, true);
	cr_expect_eq(r.exp_cmdsn, exp, "ExpCmdSN did not move");
	cr_expect_eq(raw_read_position(&r, 1), 0u, "the filemark was not written");
	close(r.fd);
	cr_expect_eq(position_seen_by_another_session(), 0u);
}

Test(proto_cmdsn, duplicate_cmdsn_is_not_executed_twice)
{
	struct raw r;
	raw_login(&r, vtl.port, VP_INITIATOR, vtl.iqn, NULL);
	raw_tur_clear(&r, 1);
	uint32_t sn = r.cmdsn;
	cr_expect_eq(raw_status(&r, wfm_itt(&r, false), NULL, 0, NULL), 0);
	r.cmdsn = sn; /* the same CmdSN again, a new ITT */
	wfm_itt(&r, false);
	raw_nop_ping(&r, true);
	cr_expect_eq(r.exp_cmdsn, sn + 1);
	cr_expect_eq(raw_read_position(&r, 1), 1u, "one filemark, not two");
	close(r.fd);
}

Test(proto_cmdsn, maxcmdsn_advances_as_commands_complete)
{
	struct raw r;
	raw_login(&r, vtl.port, VP_INITIATOR, vtl.iqn, NULL);
	uint32_t window = r.max_cmdsn - r.exp_cmdsn + 1;
	cr_assert_geq(window, 2u, "queue depth");
	for (int i = 0; i < 20; i++) {
		uint32_t max = r.max_cmdsn;
		raw_tur(&r, 0, false);
		cr_expect_eq(r.max_cmdsn, max + 1, "MaxCmdSN moves with each completion");
		cr_expect_eq(r.max_cmdsn - r.exp_cmdsn + 1, window, "the window stays open");
	}
	close(r.fd);
}

Test(proto_cmdsn, cmdsn_gap_inside_the_window_ends_only_that_session)
{
	struct raw r;
	raw_login(&r, vtl.port, VP_INITIATOR, vtl.iqn, NULL);
	cr_assert_geq(r.max_cmdsn - r.exp_cmdsn, 1u);
	/* CmdSN = ExpCmdSN + 1 on the only connection: a lost command
	 * (docs/iscsi.md: session failure at ERL 0). */
	r.cmdsn++;
	wfm_itt(&r, false);
	cr_expect(raw_closed_by_target(r.fd, 3000));
	close(r.fd);
	cr_expect_eq(position_seen_by_another_session(), 0u, "the command did not run");
}

/* ---- Data-Out: unsolicited and solicited (RFC 7143 11.7, 13.10-13.14) ---- */

static void raw_data_out(struct raw *r, uint32_t itt, uint32_t ttt, uint32_t datasn,
			 uint32_t offset, const uint8_t *data, uint32_t len, bool final)
{
	uint8_t d[48] = {RAW_DATA_OUT, final ? 0x80 : 0};
	d[9] = 1;
	put_be32(d + 16, itt);
	put_be32(d + 20, ttt);
	put_be32(d + 28, r->statsn + 1);
	put_be32(d + 36, datasn);
	put_be32(d + 40, offset);
	raw_send(r, d, data + offset, len);
}

static uint32_t write6_cmd(struct raw *r, uint32_t len, const uint8_t *data, uint32_t imm,
			   bool final)
{
	uint8_t w6[6] = {0x0a, 0};
	put_be24(w6 + 2, len);
	return raw_cmd(r, 1, w6, 6, (uint8_t)(0x20 | (final ? 0x80 : 0)), len, data, imm, false);
}

/* Read the first record back through libiscsi and compare. */
static void expect_first_record(const uint8_t *want, uint32_t len)
{
	struct iscsi_context *iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 1);
	th_rewind(iscsi, 1);
	uint8_t *back = malloc(len);
	th_read6(iscsi, 1, back, len);
	cr_expect_arr_eq(want, back, len, "record read back");
	free(back);
	th_logout(iscsi);
}

Test(proto_dataout, immediate_and_unsolicited_data_out_in_datasn_order_are_written)
{
	static const char *const keys[] = {"InitialR2T=No", "ImmediateData=Yes",
					   "FirstBurstLength=65536", NULL};
	struct raw r;
	raw_login(&r, vtl.port, VP_INITIATOR, vtl.iqn, keys);
	cr_assert_str_eq(raw_resp_val(&r, "InitialR2T"), "No");
	raw_tur_clear(&r, 1);
	enum { LEN = 20000 };
	static uint8_t rec[LEN];
	th_pattern(rec, LEN, 31);
	/* 4000 immediate, then Data-Out DataSN 0 and 1 (F). */
	uint32_t itt = write6_cmd(&r, LEN, rec, 4000, false);
	raw_data_out(&r, itt, 0xffffffff, 0, 4000, rec, 8000, false);
	raw_data_out(&r, itt, 0xffffffff, 1, 12000, rec, 8000, true);
	cr_expect_eq(raw_status(&r, itt, NULL, 0, NULL), 0);
	close(r.fd);
	expect_first_record(rec, LEN);
}

Test(proto_dataout, unsolicited_data_out_with_a_wrong_datasn_ends_the_session_unwritten)
{
	static const char *const keys[] = {"InitialR2T=No", "ImmediateData=Yes", NULL};
	struct raw r;
	raw_login(&r, vtl.port, VP_INITIATOR, vtl.iqn, keys);
	raw_tur_clear(&r, 1);
	static uint8_t rec[12000];
	th_pattern(rec, sizeof(rec), 32);
	uint32_t itt = write6_cmd(&r, sizeof(rec), rec, 4000, false);
	raw_data_out(&r, itt, 0xffffffff, 1, 4000, rec, 8000, true); /* DataSN must be 0 */
	uint8_t rsp[48], data[64];
	cr_assert_eq(raw_recv(&r, rsp, data, sizeof(data), 3000), 48);
	cr_expect_eq(rsp[0] & 0x3f, RAW_REJECT);
	cr_expect_eq(rsp[2], 0x04, "protocol error");
	cr_expect(raw_closed_by_target(r.fd, 3000));
	close(r.fd);
	cr_expect_eq(position_seen_by_another_session(), 0u, "nothing written");
}

Test(proto_dataout, solicited_data_out_follows_each_r2t_with_datasn_from_zero)
{
	static const char *const keys[] = {"InitialR2T=Yes", "ImmediateData=No",
					   "MaxBurstLength=16384", NULL};
	struct raw r;
	raw_login(&r, vtl.port, VP_INITIATOR, vtl.iqn, keys);
	cr_assert_str_eq(raw_resp_val(&r, "MaxBurstLength"), "16384");
	raw_tur_clear(&r, 1);
	enum { LEN = 40000 };
	static uint8_t rec[LEN];
	th_pattern(rec, LEN, 33);
	uint32_t itt = write6_cmd(&r, LEN, rec, 0, true);
	uint32_t done = 0, r2tsn = 0;
	uint8_t rsp[48];
	while (done < LEN) {
		cr_assert_geq(raw_recv(&r, rsp, NULL, 0, 3000), 0);
		cr_assert_eq(rsp[0] & 0x3f, RAW_R2T, "R2T expected, got 0x%02x", rsp[0] & 0x3f);
		cr_expect_eq(get_be32(rsp + 16), itt);
		cr_expect_eq(get_be32(rsp + 36), r2tsn++, "R2TSN");
		uint32_t ttt = get_be32(rsp + 20), off = get_be32(rsp + 40),
			 want = get_be32(rsp + 44);
		cr_assert_eq(off, done, "R2T offsets in order");
		cr_assert_leq(want, 16384u, "at most MaxBurstLength");
		/* The burst in two Data-Out PDUs: DataSN 0 then 1. */
		uint32_t half = want / 2;
		raw_data_out(&r, itt, ttt, 0, off, rec, half, false);
		raw_data_out(&r, itt, ttt, 1, off + half, rec, want - half, true);
		done += want;
	}
	cr_expect_eq(r2tsn, 3u, "40000 bytes in bursts of 16384");
	cr_expect_eq(raw_status(&r, itt, NULL, 0, NULL), 0);
	close(r.fd);
	expect_first_record(rec, LEN);
}

Test(proto_dataout, immediate_data_beyond_first_burst_length_is_rejected)
{
	static const char *const keys[] = {"InitialR2T=No", "ImmediateData=Yes",
					   "FirstBurstLength=4096", NULL};
	struct raw r;
	raw_login(&r, vtl.port, VP_INITIATOR, vtl.iqn, keys);
	cr_assert_str_eq(raw_resp_val(&r, "FirstBurstLength"), "4096");
	static uint8_t rec[8192];
	write6_cmd(&r, sizeof(rec), rec, sizeof(rec), true);
	uint8_t rsp[48];
	cr_assert_eq(raw_recv(&r, rsp, NULL, 0, 3000), 48);
	cr_expect_eq(rsp[0] & 0x3f, RAW_REJECT);
	cr_expect_eq(rsp[2], 0x04);
	cr_expect(raw_closed_by_target(r.fd, 3000));
	close(r.fd);
	cr_expect_eq(position_seen_by_another_session(), 0u);
}

Test(proto_dataout, immediate_data_when_immediatedata_is_no_is_rejected)
{
	static const char *const keys[] = {"ImmediateData=No", NULL};
	struct raw r;
	raw_login(&r, vtl.port, VP_INITIATOR, vtl.iqn, keys);
	cr_assert_str_eq(raw_resp_val(&r, "ImmediateData"), "No");
	static uint8_t rec[1024];
	write6_cmd(&r, sizeof(rec), rec, sizeof(rec), true);
	uint8_t rsp[48];
	cr_assert_eq(raw_recv(&r, rsp, NULL, 0, 3000), 48);
	cr_expect_eq(rsp[0] & 0x3f, RAW_REJECT);
	cr_expect(raw_closed_by_target(r.fd, 3000));
	close(r.fd);
}

/* ---- residuals on READ(6) (RFC 7143 11.4.5, SSC-4 7.9) ---- */

static struct iscsi_context *drive_session(void)
{
	struct iscsi_context *iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 1);
	return iscsi;
}

/* READ(6) variable: CDB transfer length len, SILI, EDTL expect. */
static struct scsi_task *read6(struct iscsi_context *iscsi, uint32_t len, bool sili,
			       uint32_t expect)
{
	uint8_t cdb[6] = {0x08, sili ? 0x02 : 0};
	put_be24(cdb + 2, len);
	struct scsi_task *t = th_cmd(iscsi, 1, cdb, 6, SCSI_XFER_READ, (int)expect, NULL, 0);
	cr_assert_not_null(t, "%s", iscsi_get_error(iscsi));
	return t;
}

static int32_t sense_info(const struct scsi_task *t)
{
	cr_assert_geq(t->datain.size, 2 + 18, "no sense data");
	const uint8_t *s = t->datain.data + 2;
	cr_assert_eq(s[0], 0xf0, "fixed format, VALID");
	return (int32_t)get_be32(s + 3);
}

static bool sense_ili(const struct scsi_task *t)
{
	return t->datain.data[2 + 2] & 0x20;
}

Test(proto_residual, read_longer_than_the_record_is_ili_with_underflow)
{
	struct iscsi_context *iscsi = drive_session();
	uint8_t rec[1000];
	th_pattern(rec, sizeof(rec), 1);
	th_write6(iscsi, 1, rec, sizeof(rec));
	th_rewind(iscsi, 1);
	struct scsi_task *t = read6(iscsi, 4096, false, 4096);
	cr_expect_eq(t->status, SCSI_STATUS_CHECK_CONDITION);
	cr_expect_eq(t->sense.key, SCSI_SENSE_NO_SENSE);
	cr_expect(sense_ili(t), "ILI");
	cr_expect_eq(sense_info(t), 3096, "INFORMATION = requested - actual");
	cr_expect_eq(t->residual_status, SCSI_RESIDUAL_UNDERFLOW);
	cr_expect_eq(t->residual, 3096u);
	scsi_free_scsi_task(t);
	cr_expect_eq(th_read_position(iscsi, 1), 1u, "positioned after the record");
	th_logout(iscsi);
}

Test(proto_residual, read_with_sili_of_a_short_record_is_good_with_underflow)
{
	struct iscsi_context *iscsi = drive_session();
	uint8_t rec[1000];
	th_pattern(rec, sizeof(rec), 2);
	th_write6(iscsi, 1, rec, sizeof(rec));
	th_rewind(iscsi, 1);
	struct scsi_task *t = read6(iscsi, 4096, true, 4096);
	cr_expect_eq(t->status, SCSI_STATUS_GOOD);
	cr_expect_eq(t->datain.size, 1000);
	cr_expect_arr_eq(t->datain.data, rec, 1000);
	cr_expect_eq(t->residual_status, SCSI_RESIDUAL_UNDERFLOW);
	cr_expect_eq(t->residual, 3096u);
	scsi_free_scsi_task(t);
	th_logout(iscsi);
}

Test(proto_residual, read_shorter_than_the_record_is_ili_with_a_negative_residue)
{
	struct iscsi_context *iscsi = drive_session();
	uint8_t rec[5000];
	th_pattern(rec, sizeof(rec), 3);
	th_write6(iscsi, 1, rec, sizeof(rec));
	th_rewind(iscsi, 1);
	struct scsi_task *t = read6(iscsi, 1000, false, 1000);
	cr_expect_eq(t->status, SCSI_STATUS_CHECK_CONDITION);
	cr_expect(sense_ili(t), "ILI");
	cr_expect_eq(sense_info(t), -4000, "overlength: requested - actual");
	cr_expect_eq(t->residual_status, SCSI_RESIDUAL_NO_RESIDUAL,
		     "all 1000 requested bytes were sent");
	scsi_free_scsi_task(t);
	cr_expect_eq(th_read_position(iscsi, 1), 1u, "positioned after the record");
	th_logout(iscsi);
}

/* The initiator expects less than the CDB asks: the target sends what was
 * expected and reports the rest as overflow (RFC 7143 11.4.5.1). */
static void expect_overflow(uint32_t record, uint32_t expect)
{
	struct iscsi_context *iscsi = drive_session();
	uint8_t *rec = malloc(record);
	th_pattern(rec, record, 4);
	th_write6(iscsi, 1, rec, record);
	th_rewind(iscsi, 1);
	struct scsi_task *t = read6(iscsi, record, false, expect);
	cr_expect_eq(t->status, SCSI_STATUS_GOOD, "sense %x/%04x", t->sense.key, t->sense.ascq);
	cr_expect_eq(t->datain.size, (int)expect);
	if (t->datain.size == (int)expect)
		cr_expect_arr_eq(t->datain.data, rec, expect);
	cr_expect_eq(t->residual_status, SCSI_RESIDUAL_OVERFLOW);
	cr_expect_eq(t->residual, (size_t)(record - expect), "residual %zu", (size_t)t->residual);
	scsi_free_scsi_task(t);
	free(rec);
	cr_expect_eq(th_read_position(iscsi, 1), 1u);
	th_logout(iscsi);
}

Test(proto_residual, read_expecting_less_than_a_small_record_reports_overflow)
{
	expect_overflow(40000, 10000);
}

Test(proto_residual, read_expecting_less_than_a_large_record_reports_the_whole_overflow)
{
	expect_overflow(300000, 100000);
}

/* ---- task management (RFC 7143 11.5) ---- */

static uint8_t raw_tmf(struct raw *r, uint8_t function, int lun, uint32_t ref_itt)
{
	uint8_t bhs[48] = {RAW_TMF | RAW_IMMEDIATE, (uint8_t)(0x80 | function)};
	bhs[9] = (uint8_t)lun;
	put_be32(bhs + 16, ++r->itt);
	put_be32(bhs + 20, ref_itt);
	put_be32(bhs + 24, r->cmdsn);
	put_be32(bhs + 28, r->statsn + 1);
	/* RefCmdSN: a command already done (behind ExpCmdSN), so an unknown
	 * ITT is a task that does not exist, not one the TMF overtook. */
	put_be32(bhs + 32, r->cmdsn - 1);
	raw_send(r, bhs, NULL, 0);
	uint8_t rsp[48];
	cr_assert_geq(raw_recv(r, rsp, NULL, 0, 5000), 0, "no TMF response");
	cr_assert_eq(rsp[0] & 0x3f, RAW_TMF_RSP);
	cr_expect_eq(get_be32(rsp + 16), r->itt);
	return rsp[2];
}

Test(proto_tmf, every_function_gets_its_rfc_response)
{
	struct raw r;
	raw_login(&r, vtl.port, VP_INITIATOR, vtl.iqn, NULL);
	raw_tur_clear(&r, 1);
	cr_expect_eq(raw_tmf(&r, 1, 1, 0x4444), 1, "ABORT TASK, unknown task: does not exist");
	cr_expect_eq(raw_tmf(&r, 2, 1, 0xffffffff), 0, "ABORT TASK SET");
	cr_expect_eq(raw_tmf(&r, 3, 1, 0xffffffff), 5, "CLEAR ACA: not supported");
	cr_expect_eq(raw_tmf(&r, 4, 1, 0xffffffff), 0, "CLEAR TASK SET");
	cr_expect_eq(raw_tmf(&r, 5, 9, 0xffffffff), 2, "LUN RESET of an unmapped LUN");
	cr_expect_eq(raw_tmf(&r, 8, 1, 0x4444), 4, "TASK REASSIGN at ERL 0");
	cr_expect_eq(raw_tmf(&r, 6, 0, 0xffffffff), 0, "TARGET WARM RESET");
	cr_expect_eq(raw_tmf(&r, 20, 0, 0xffffffff), 255, "unknown function: rejected");
	/* After the warm reset every LUN reports the reset. */
	cr_expect_eq(raw_tur(&r, 1, false), 2, "CHECK CONDITION (reset UA)");
	raw_tur_clear(&r, 1);
	raw_nop_ping(&r, true);
	close(r.fd);
}

Test(proto_tmf, target_cold_reset_answers_then_closes_the_session)
{
	struct raw r;
	raw_login(&r, vtl.port, VP_INITIATOR, vtl.iqn, NULL);
	cr_expect_eq(raw_tmf(&r, 7, 0, 0xffffffff), 0, "TARGET COLD RESET");
	cr_expect(raw_closed_by_target(r.fd, 5000));
	close(r.fd);
	cr_expect_eq(position_seen_by_another_session(), 0u);
}

/* ---- NOP (RFC 7143 11.18, 11.19) ---- */

static void nop_cb(struct iscsi_context *iscsi, int status, void *data, void *priv)
{
	(void)iscsi;
	(void)status;
	struct iscsi_data *in = data;
	int *done = priv;
	/* libiscsi hands over the data segment with its pad to 4 bytes; the
	 * exact DataSegmentLength is checked by raw_nop_ping. */
	*done = status == SCSI_STATUS_GOOD && in && in->size >= 11 && in->size <= 12 &&
			!memcmp(in->data, "hello, tape", 11)
		    ? 1
		    : 2;
}

Test(proto_nop, nop_out_ping_data_comes_back_through_libiscsi)
{
	struct iscsi_context *iscsi = vp_login(&vtl, false);
	volatile int done = 0;
	cr_assert_eq(
	    iscsi_nop_out_async(iscsi, nop_cb, (unsigned char *)"hello, tape", 11, (void *)&done),
	    0);
	cr_assert(th_service_until(iscsi, &done, 5000), "no NOP-In");
	cr_expect_eq(done, 1, "echoed data differs");
	th_logout(iscsi);
}

Test(proto_nop, nop_out_with_the_reserved_itt_is_not_answered)
{
	struct raw r;
	raw_login(&r, vtl.port, VP_INITIATOR, vtl.iqn, NULL);
	uint8_t bhs[48] = {RAW_NOP_OUT | RAW_IMMEDIATE, 0x80};
	put_be32(bhs + 16, 0xffffffff);
	put_be32(bhs + 20, 0xffffffff);
	put_be32(bhs + 24, r.cmdsn);
	raw_send(&r, bhs, NULL, 0);
	/* The next PDU from the target answers the ping sent after it. */
	raw_nop_ping(&r, true);
	close(r.fd);
}

/* ---- SendTargets (RFC 7143 appendix C) ---- */

static void text_request(struct raw *r, const char *pair)
{
	uint8_t bhs[48] = {RAW_TEXT | RAW_IMMEDIATE, 0x80};
	put_be32(bhs + 16, ++r->itt);
	put_be32(bhs + 20, 0xffffffff);
	put_be32(bhs + 24, r->cmdsn);
	put_be32(bhs + 28, r->statsn + 1);
	raw_send(r, bhs, pair, (uint32_t)strlen(pair) + 1);
	uint8_t rsp[48];
	int n = raw_recv(r, rsp, r->text, sizeof(r->text), 3000);
	cr_assert_geq(n, 0, "no Text Response");
	cr_assert_eq(rsp[0] & 0x3f, RAW_TEXT_RSP);
	cr_expect(rsp[1] & 0x80, "final");
	r->text_len = (size_t)n;
}

Test(proto_text, sendtargets_in_a_normal_session_reports_its_own_target)
{
	struct raw r;
	raw_login(&r, vtl.port, VP_INITIATOR, vtl.iqn, NULL);
	char pair[320];
	text_request(&r, "SendTargets=");
	cr_expect_str_eq(raw_resp_val(&r, "TargetName"), vtl.iqn);
	cr_expect_null(raw_resp_val(&r, "TargetAddress"), "loopback: no TargetAddress");
	snprintf(pair, sizeof(pair), "SendTargets=%s", vtl.iqn);
	text_request(&r, pair);
	cr_expect_str_eq(raw_resp_val(&r, "TargetName"), vtl.iqn);
	/* All is for discovery sessions (RFC 7143 C: Reject here). */
	text_request(&r, "SendTargets=All");
	cr_expect_str_eq(raw_resp_val(&r, "SendTargets"), "Reject");
	text_request(&r, "X-org.example.Unknown=1");
	cr_expect_str_eq(raw_resp_val(&r, "X-org.example.Unknown"), "NotUnderstood");
	close(r.fd);
}

Test(proto_text, sendtargets_in_a_discovery_session_names_all_or_one_target)
{
	struct raw r;
	raw_login(&r, vtl.port, VP_INITIATOR, NULL, NULL);
	char pair[320];
	text_request(&r, "SendTargets=All");
	cr_expect_str_eq(raw_resp_val(&r, "TargetName"), vtl.iqn);
	cr_expect_null(raw_resp_val(&r, "TargetAddress"), "loopback: no TargetAddress");
	snprintf(pair, sizeof(pair), "SendTargets=%s", vtl.iqn);
	text_request(&r, pair);
	cr_expect_str_eq(raw_resp_val(&r, "TargetName"), vtl.iqn);
	text_request(&r, "SendTargets=iqn.2026-11.nowhere:none");
	cr_expect_null(raw_resp_val(&r, "TargetName"), "an unknown name lists nothing");
	/* A SCSI command in a discovery session: Reject, protocol error. */
	static const uint8_t tur[6] = {0};
	raw_cmd(&r, 0, tur, 6, 0x80, 0, NULL, 0, false);
	uint8_t rsp[48];
	cr_assert_eq(raw_recv(&r, rsp, NULL, 0, 3000), 48);
	cr_expect_eq(rsp[0] & 0x3f, RAW_REJECT);
	cr_expect_eq(rsp[2], 0x04);
	close(r.fd);
}

Test(proto_residual, fixed_block_read_expecting_less_reports_the_whole_overflow)
{
	struct iscsi_context *iscsi = drive_session();
	enum { BL = 65536, N = 5, EXPECT = 2 * BL };
	/* MODE SELECT(6): a block descriptor with BLOCK LENGTH 64 KiB. */
	uint8_t ms[12] = {0, 0, 0x10, 8};
	put_be24(ms + 4 + 5, BL);
	uint8_t cdb[6] = {0x15, 0x10, 0, 0, sizeof(ms), 0};
	struct scsi_task *t = th_cmd(iscsi, 1, cdb, 6, SCSI_XFER_WRITE, sizeof(ms), ms, sizeof(ms));
	cr_assert_not_null(t);
	cr_assert_eq(t->status, SCSI_STATUS_GOOD, "MODE SELECT: %x/%04x", t->sense.key,
		     t->sense.ascq);
	scsi_free_scsi_task(t);

	uint8_t *data = malloc(N * BL);
	th_pattern(data, N * BL, 6);
	uint8_t w6[6] = {0x0a, 0x01};
	put_be24(w6 + 2, N);
	t = th_cmd(iscsi, 1, w6, 6, SCSI_XFER_WRITE, N * BL, data, N * BL);
	cr_assert_not_null(t);
	cr_assert_eq(t->status, SCSI_STATUS_GOOD);
	scsi_free_scsi_task(t);
	th_rewind(iscsi, 1);

	/* READ(6) FIXED of N blocks, the initiator expecting two. */
	uint8_t r6[6] = {0x08, 0x01};
	put_be24(r6 + 2, N);
	t = th_cmd(iscsi, 1, r6, 6, SCSI_XFER_READ, EXPECT, NULL, 0);
	cr_assert_not_null(t);
	cr_expect_eq(t->status, SCSI_STATUS_GOOD);
	cr_expect_eq(t->datain.size, EXPECT);
	if (t->datain.size == EXPECT)
		cr_expect_arr_eq(t->datain.data, data, EXPECT);
	cr_expect_eq(t->residual_status, SCSI_RESIDUAL_OVERFLOW);
	cr_expect_eq(t->residual, (size_t)(N * BL - EXPECT), "residual %zu", (size_t)t->residual);
	scsi_free_scsi_task(t);
	free(data);
	th_logout(iscsi);
}
