/*
 * test_iscsi_raw.c - the target seen through a raw TCP socket: what no
 * well-behaved initiator sends (malformed, truncated and oversized PDUs,
 * CmdSN outside the window, garbage), plus protocol details libiscsi does
 * not exercise (CHAP_A=7 SHA-256, data digests, negotiation answers,
 * NOP-In pings to a dead peer, ABORT TASK of a command waiting for R2T,
 * the Async Message at shutdown). After each abuse the target must still
 * serve a libiscsi session.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "rawpdu.h"
#include "scsi/be.h"
#include "scsi/crc32c.h"

static void start(void)
{
	th_start(NULL);
}

TestSuite(iscsi_raw, .init = start, .fini = th_stop, .timeout = 60);

/* A raw login to TH_LIB on the in-process target, straight to full feature
 * phase with the extra keys. */
static void login_to_lib(struct raw *r, const char *const *extra)
{
	raw_login(r, th_port(), TH_INITIATOR, TH_LIB, extra);
}

/* A libiscsi session still works: the target survived. */
static void still_serving(void)
{
	struct iscsi_context *iscsi = th_login(TH_LIB);
	struct scsi_task *t = iscsi_inquiry_sync(iscsi, 0, 0, 0, 36);
	cr_assert_not_null(t);
	cr_expect_eq(t->status, SCSI_STATUS_GOOD);
	scsi_free_scsi_task(t);
	th_logout(iscsi);
}

Test(iscsi_raw, negotiation_answers_follow_the_result_functions)
{
	static const char *const keys[] = {"HeaderDigest=CRC32C,None",
					   "DataDigest=None",
					   "InitialR2T=No",
					   "ImmediateData=Yes",
					   "MaxBurstLength=100",
					   "FirstBurstLength=65536",
					   "MaxOutstandingR2T=64",
					   "ErrorRecoveryLevel=2",
					   "DefaultTime2Wait=0",
					   "DefaultTime2Retain=3600",
					   "MaxConnections=8",
					   "DataPDUInOrder=No",
					   "DataSequenceInOrder=No",
					   "IFMarker=No",
					   "OFMarkInt=2048",
					   "X-com.example.foo=bar",
					   "MaxRecvDataSegmentLength=65536",
					   NULL};
	struct raw r;
	login_to_lib(&r, keys);
	cr_expect_str_eq(raw_resp_val(&r, "HeaderDigest"), "CRC32C");
	cr_expect_str_eq(raw_resp_val(&r, "DataDigest"), "None");
	cr_expect_str_eq(raw_resp_val(&r, "InitialR2T"), "No");		  /* OR */
	cr_expect_str_eq(raw_resp_val(&r, "ImmediateData"), "Yes");	  /* AND */
	cr_expect_str_eq(raw_resp_val(&r, "MaxBurstLength"), "Reject");	  /* < 512 */
	cr_expect_str_eq(raw_resp_val(&r, "FirstBurstLength"), "65536");  /* min */
	cr_expect_str_eq(raw_resp_val(&r, "MaxOutstandingR2T"), "4");	  /* min */
	cr_expect_str_eq(raw_resp_val(&r, "ErrorRecoveryLevel"), "0");	  /* min */
	cr_expect_str_eq(raw_resp_val(&r, "DefaultTime2Wait"), "2");	  /* max */
	cr_expect_str_eq(raw_resp_val(&r, "DefaultTime2Retain"), "0");	  /* min */
	cr_expect_str_eq(raw_resp_val(&r, "MaxConnections"), "1");	  /* min */
	cr_expect_str_eq(raw_resp_val(&r, "DataPDUInOrder"), "Yes");	  /* OR */
	cr_expect_str_eq(raw_resp_val(&r, "DataSequenceInOrder"), "Yes"); /* OR */
	cr_expect_str_eq(raw_resp_val(&r, "IFMarker"), "No");
	cr_expect_str_eq(raw_resp_val(&r, "OFMarkInt"), "Reject");
	cr_expect_str_eq(raw_resp_val(&r, "X-com.example.foo"), "NotUnderstood");
	cr_expect_str_eq(raw_resp_val(&r, "MaxRecvDataSegmentLength"), "262144"); /* ours */
	cr_expect_str_eq(raw_resp_val(&r, "TargetPortalGroupTag"), "1");
	cr_expect(r.hd);
	raw_nop_ping(&r, true); /* with a header digest both ways */
	close(r.fd);
}

Test(iscsi_raw, data_digest_is_checked_and_a_bad_one_ends_the_session)
{
	static const char *const keys[] = {"HeaderDigest=CRC32C", "DataDigest=CRC32C", NULL};
	struct raw r;
	login_to_lib(&r, keys);
	cr_assert(r.hd && r.dd);
	raw_nop_ping(&r, true);

	/* Corrupt the data digest of a ping: Reject (data digest error),
	 * then the session ends (ERL 0). */
	uint8_t bhs[48] = {0x40, 0x80};
	put_be32(bhs + 16, ++r.itt);
	put_be32(bhs + 20, 0xffffffff);
	put_be32(bhs + 24, r.cmdsn);
	uint8_t pdu[48 + 4 + 8 + 4];
	memcpy(pdu, bhs, 48);
	put_be24(pdu + 5, 8);
	put_le32(pdu + 48, crc32c(pdu, 48));
	memcpy(pdu + 52, "12345678", 8);
	put_le32(pdu + 60, crc32c("12345678", 8) ^ 1);
	raw_send_all(r.fd, pdu, sizeof(pdu));
	uint8_t rsp[48];
	uint8_t data[64];
	int n = raw_recv(&r, rsp, data, sizeof(data), 3000);
	cr_assert_eq(n, 48);
	cr_expect_eq(rsp[0] & 0x3f, 0x3f);
	cr_expect_eq(rsp[2], 0x02);
	cr_expect(raw_closed_by_target(r.fd, 3000));
	close(r.fd);
	still_serving();
}

Test(iscsi_raw, chap_sha256_is_negotiated_when_offered)
{
	struct raw r;
	memset(&r, 0, sizeof(r));
	r.fd = raw_connect(th_port());
	r.cmdsn = 7;
	r.itt = 9;
	char text[1024];
	size_t off = raw_kv(text, 0, "InitiatorName=" TH_INITIATOR);
	off = raw_kv(text, off, "SessionType=Normal");
	off = raw_kv(text, off, "TargetName=" TH_CHAP);
	off = raw_kv(text, off, "AuthMethod=CHAP,None");
	cr_assert_eq(raw_login_pdu(&r, 0x80 | 1, text, off), 0);
	cr_expect_str_eq(raw_resp_val(&r, "AuthMethod"), "CHAP");
	off = raw_kv(text, 0, "CHAP_A=7,5");
	cr_assert_eq(raw_login_pdu(&r, 0x01, text, off), 0);
	cr_assert_str_eq(raw_resp_val(&r, "CHAP_A"), "7");
	int id = atoi(raw_resp_val(&r, "CHAP_I"));
	const char *chex = raw_resp_val(&r, "CHAP_C");
	cr_assert(chex && !strncmp(chex, "0x", 2));
	uint8_t chal[64];
	size_t clen = strlen(chex + 2) / 2;
	for (size_t i = 0; i < clen; i++)
		sscanf(chex + 2 + 2 * i, "%2hhx", &chal[i]);

	uint8_t md[32];
	unsigned int mdlen;
	uint8_t idb = (uint8_t)id;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	EVP_DigestUpdate(ctx, &idb, 1);
	EVP_DigestUpdate(ctx, TH_SECRET, strlen(TH_SECRET));
	EVP_DigestUpdate(ctx, chal, clen);
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	char rsp[80] = "CHAP_R=0x";
	for (unsigned i = 0; i < mdlen; i++)
		sprintf(rsp + 9 + 2 * i, "%02x", md[i]);
	off = raw_kv(text, 0, "CHAP_N=" TH_USER);
	off = raw_kv(text, off, rsp);
	cr_assert_eq(raw_login_pdu(&r, 0x80 | 1, text, off), 0, "SHA-256 CHAP refused");
	off = raw_kv(text, 0, "HeaderDigest=None");
	cr_assert_eq(raw_login_pdu(&r, 0x80 | (1 << 2) | 3, text, off), 0);
	r.itt = 0x100;
	raw_nop_ping(&r, true);
	close(r.fd);
}

Test(iscsi_raw, garbage_before_login_is_refused_and_the_target_survives)
{
	int fd = raw_connect(th_port());
	uint8_t junk[200];
	th_pattern(junk, sizeof(junk), 99);
	junk[0] = 0x43; /* a "login" with absurd lengths */
	junk[5] = 0xff;
	junk[6] = 0xff;
	junk[7] = 0xff;
	raw_send_all(fd, junk, sizeof(junk));
	cr_expect(raw_closed_by_target(fd, 3000));
	close(fd);
	still_serving();
}

Test(iscsi_raw, oversized_data_segment_ends_only_that_session)
{
	struct raw r;
	login_to_lib(&r, NULL);
	uint8_t bhs[48] = {0x40, 0x80};
	put_be32(bhs + 16, 5);
	put_be24(bhs + 5, 0xffffff); /* 16 MiB > MaxRecvDataSegmentLength */
	raw_send_all(r.fd, bhs, 48);
	cr_expect(raw_closed_by_target(r.fd, 3000));
	close(r.fd);
	still_serving();
}

Test(iscsi_raw, truncated_pdu_then_hangup_leaves_the_target_serving)
{
	struct raw r;
	login_to_lib(&r, NULL);
	uint8_t bhs[48] = {0x01, 0xa0}; /* WRITE with F and W, then cut */
	put_be32(bhs + 16, 77);
	put_be32(bhs + 20, 65536);
	put_be32(bhs + 24, r.cmdsn);
	bhs[32] = 0x0a;
	put_be24(bhs + 34, 65536);
	put_be24(bhs + 5, 4096);
	raw_send_all(r.fd, bhs, 48);
	raw_send_all(r.fd, "only a little", 13);
	close(r.fd);
	still_serving();
}

Test(iscsi_raw, unknown_opcode_is_rejected_and_the_session_continues)
{
	struct raw r;
	login_to_lib(&r, NULL);
	uint8_t bhs[48] = {0x1c, 0x80}; /* vendor-specific opcode */
	put_be32(bhs + 16, 3);
	raw_send(&r, bhs, NULL, 0);
	uint8_t rsp[48], data[64];
	int n = raw_recv(&r, rsp, data, sizeof(data), 3000);
	cr_assert_eq(n, 48);
	cr_expect_eq(rsp[0] & 0x3f, 0x3f);
	cr_expect_eq(rsp[2], 0x05);  /* command not supported */
	cr_expect_eq(data[0], 0x1c); /* the rejected header comes back */
	raw_nop_ping(&r, true);
	close(r.fd);
}

Test(iscsi_raw, snack_at_erl0_is_a_protocol_error_reject)
{
	struct raw r;
	login_to_lib(&r, NULL);
	uint8_t bhs[48] = {0x10, 0x80};
	raw_send(&r, bhs, NULL, 0);
	uint8_t rsp[48];
	cr_assert_eq(raw_recv(&r, rsp, NULL, 0, 3000), 48);
	cr_expect_eq(rsp[0] & 0x3f, 0x3f);
	cr_expect_eq(rsp[2], 0x04);
	raw_nop_ping(&r, true);
	close(r.fd);
}

Test(iscsi_raw, command_outside_the_cmdsn_window_is_ignored)
{
	struct raw r;
	login_to_lib(&r, NULL);
	uint8_t bhs[48] = {0x01, 0x80}; /* TUR */
	put_be32(bhs + 16, 0x55);
	put_be32(bhs + 24, r.cmdsn + 100000);
	raw_send(&r, bhs, NULL, 0);
	/* Duplicate (behind ExpCmdSN) too. */
	put_be32(bhs + 16, 0x56);
	put_be32(bhs + 24, r.cmdsn - 5);
	raw_send(&r, bhs, NULL, 0);
	/* The next thing back answers the ping; ExpCmdSN did not move. */
	uint8_t p[48] = {0x40, 0x80};
	put_be32(p + 16, 0x57);
	put_be32(p + 20, 0xffffffff);
	put_be32(p + 24, r.cmdsn);
	raw_send(&r, p, NULL, 0);
	uint8_t rsp[48];
	cr_assert_eq(raw_recv(&r, rsp, NULL, 0, 3000), 0);
	cr_expect_eq(rsp[0] & 0x3f, 0x20);
	cr_expect_eq(get_be32(rsp + 16), 0x57u);
	cr_expect_eq(get_be32(rsp + 28), r.cmdsn);
	/* An in-window command with the right CmdSN runs. */
	put_be32(bhs + 16, 0x58);
	put_be32(bhs + 24, r.cmdsn);
	raw_send(&r, bhs, NULL, 0);
	cr_assert_geq(raw_recv(&r, rsp, NULL, 0, 3000), 0);
	cr_expect_eq(rsp[0] & 0x3f, 0x21);
	cr_expect_eq(get_be32(rsp + 16), 0x58u);
	cr_expect_eq(get_be32(rsp + 28), r.cmdsn + 1);
	close(r.fd);
}

Test(iscsi_raw, data_out_breaking_the_sequence_ends_the_session)
{
	static const char *const keys[] = {"InitialR2T=No", "ImmediateData=Yes", NULL};
	struct raw r;
	login_to_lib(&r, keys);
	uint8_t bhs[48] = {0x01, 0x20}; /* WRITE(6) 8192, F=0: unsolicited follows */
	put_be32(bhs + 16, 0x66);
	put_be32(bhs + 20, 8192);
	put_be32(bhs + 24, r.cmdsn);
	bhs[32] = 0x0a;
	put_be24(bhs + 34, 8192);
	raw_send(&r, bhs, NULL, 0);
	uint8_t d[48] = {0x05, 0x80}; /* Data-Out at offset 4096: a gap */
	put_be32(d + 16, 0x66);
	put_be32(d + 20, 0xffffffff);
	put_be32(d + 40, 4096);
	uint8_t payload[4096] = {0};
	raw_send(&r, d, payload, sizeof(payload));
	uint8_t rsp[48];
	cr_assert_eq(raw_recv(&r, rsp, NULL, 0, 3000), 48);
	cr_expect_eq(rsp[0] & 0x3f, 0x3f);
	cr_expect(raw_closed_by_target(r.fd, 3000));
	close(r.fd);
	still_serving();
}

/* ABORT TASK of a WRITE whose data the target is asking for (RFC 7143
 * 11.5.1): the one test of it, on the wire, where all of it shows: the R2T,
 * the TMF response, the silent discard of Data-Out in flight for the
 * aborted task, no response for it, the CmdSN slot given back, and nothing
 * written to the medium. */
Test(iscsi_raw, abort_task_of_a_write_waiting_for_r2t_data)
{
	static const char *const keys[] = {"InitialR2T=Yes", "ImmediateData=No",
					   "MaxBurstLength=65536", NULL};
	struct raw r;
	login_to_lib(&r, keys);
	/* Clear the power-on unit attention on LUN 0. */
	for (int i = 0; i < 2; i++) {
		uint8_t tur[48] = {0x01, 0x80};
		put_be32(tur + 16, 0x200u + (uint32_t)i);
		put_be32(tur + 24, r.cmdsn++);
		raw_send(&r, tur, NULL, 0);
		uint8_t rsp[48];
		cr_assert_geq(raw_recv(&r, rsp, NULL, 0, 3000), 0);
	}
	uint8_t w[48] = {0x01, 0xa0}; /* WRITE(6) 262144, F=1 W=1 */
	put_be32(w + 16, 0x77);
	put_be32(w + 20, 262144);
	put_be32(w + 24, r.cmdsn++);
	w[32] = 0x0a;
	put_be24(w + 34, 262144);
	raw_send(&r, w, NULL, 0);
	uint8_t rsp[48];
	cr_assert_eq(raw_recv(&r, rsp, NULL, 0, 3000), 0);
	cr_assert_eq(rsp[0] & 0x3f, 0x31, "R2T expected");
	cr_expect_eq(get_be32(rsp + 44), 65536u);

	uint8_t tmf[48] = {0x42, 0x80 | 1}; /* ABORT TASK, immediate */
	put_be32(tmf + 16, 0x78);
	put_be32(tmf + 20, 0x77);
	put_be32(tmf + 24, r.cmdsn);
	put_be32(tmf + 32, r.cmdsn - 1);
	raw_send(&r, tmf, NULL, 0);
	/* Further R2Ts may come first; then the TMF response. */
	for (int i = 0; i < 8; i++) {
		cr_assert_geq(raw_recv(&r, rsp, NULL, 0, 3000), 0);
		if ((rsp[0] & 0x3f) == 0x22)
			break;
		cr_assert_eq(rsp[0] & 0x3f, 0x31);
	}
	cr_assert_eq(rsp[0] & 0x3f, 0x22);
	cr_expect_eq(rsp[2], 0, "function complete");
	/* Data-Out the initiator had in flight is discarded silently. */
	uint8_t d[48] = {0x05, 0x80};
	put_be32(d + 16, 0x77);
	put_be32(d + 20, 1);
	uint8_t payload[1024] = {0};
	raw_send(&r, d, payload, sizeof(payload));
	/* The LUN is free: the next command runs (and its CmdSN window
	 * slot was given back). */
	uint8_t tur[48] = {0x01, 0x80};
	put_be32(tur + 16, 0x79);
	put_be32(tur + 24, r.cmdsn++);
	raw_send(&r, tur, NULL, 0);
	cr_assert_geq(raw_recv(&r, rsp, NULL, 0, 3000), 0);
	cr_expect_eq(rsp[0] & 0x3f, 0x21);
	cr_expect_eq(get_be32(rsp + 16), 0x79u, "the aborted task answered");
	/* Nothing of the aborted WRITE reached the medium. */
	cr_expect_eq(raw_read_position(&r, 0), 0u, "the aborted write moved the tape");
	close(r.fd);
}

Test(iscsi_raw, a_dead_initiator_is_pinged_then_dropped)
{
	th_stop();
	struct th_options o = {.nop_interval_s = 1, .nop_timeout_s = 1};
	th_start(&o);
	struct raw r;
	login_to_lib(&r, NULL);
	uint8_t rsp[48];
	cr_assert_eq(raw_recv(&r, rsp, NULL, 0, 3000), 0);
	cr_expect_eq(rsp[0] & 0x3f, 0x20, "NOP-In ping");
	cr_expect_eq(get_be32(rsp + 16), 0xffffffffu);
	cr_expect_neq(get_be32(rsp + 20), 0xffffffffu);
	cr_expect(raw_closed_by_target(r.fd, 4000), "unanswered ping must drop the connection");
	close(r.fd);
	still_serving();
}

/* Answer a NOP-In ping (RFC 7143 11.18: a NOP-Out with the reserved ITT
 * carrying the ping's TTT back). */
static void answer_ping(struct raw *r, const uint8_t *ping)
{
	uint8_t bhs[48] = {RAW_NOP_OUT | RAW_IMMEDIATE, 0x80};
	memcpy(bhs + 8, ping + 8, 8); /* LUN */
	put_be32(bhs + 16, 0xffffffff);
	memcpy(bhs + 20, ping + 20, 4); /* TTT */
	put_be32(bhs + 24, r->cmdsn);
	put_be32(bhs + 28, r->statsn + 1);
	raw_send(r, bhs, NULL, 0);
}

/* The wait for a PDU is bounded by the NOP-In timeout while a ping is out
 * and by the interval otherwise: after an answer the next ping comes an
 * interval later, not a timeout later, and answering keeps the session. */
Test(iscsi_raw, pings_keep_their_interval_after_an_answer)
{
	th_stop();
	struct th_options o = {.nop_interval_s = 2, .nop_timeout_s = 1};
	th_start(&o);
	struct raw r;
	login_to_lib(&r, NULL);
	uint8_t rsp[48];
	for (int ping = 0; ping < 2; ping++) {
		cr_assert_eq(raw_recv(&r, rsp, NULL, 0, 4000), 0, "ping %d", ping);
		cr_assert_eq(rsp[0] & 0x3f, RAW_NOP_IN);
		cr_assert_eq(get_be32(rsp + 16), 0xffffffffu);
		answer_ping(&r, rsp);
		/* Nothing for well over the timeout (the interval is 2 s). */
		cr_assert_lt(raw_recv(&r, rsp, NULL, 0, 1500), 0, "ping %d came early", ping);
	}
	raw_nop_ping(&r, true);
	raw_tur_clear(&r, 0);
	close(r.fd);
	still_serving();
}

/* A WRITE whose header and data arrive apart, as libiscsi sends them (two
 * calls), with the data in pieces, once with a pause longer than the
 * NOP-In interval (2 s here) that bounds the wait for a header: the rest
 * of a PDU is waited for until it comes, with no ping and no timeout in
 * the middle. Every record must be written whole, in order, and the
 * session kept. */
Test(iscsi_raw, a_write_whose_data_arrives_after_its_header_is_written_whole)
{
	th_stop();
	struct th_options o = {.nop_interval_s = 2, .nop_timeout_s = 1};
	th_start(&o);
	static const char *const keys[] = {"InitialR2T=No", "ImmediateData=Yes", NULL};
	struct raw r;
	login_to_lib(&r, keys);
	raw_tur_clear(&r, 1);

	static const unsigned pause_ms[] = {0, 30, 2500}; /* the last past the bound */
	enum { N = sizeof(pause_ms) / sizeof(pause_ms[0]), LEN = 4096 };
	static uint8_t rec[N][LEN];
	for (unsigned i = 0; i < N; i++) {
		th_pattern(rec[i], LEN, 700 + i);
		uint8_t bhs[48] = {RAW_SCSI_CMD, 0x80 | 0x20}; /* F, W */
		put_be24(bhs + 5, LEN);			       /* immediate data */
		bhs[9] = 1;
		uint32_t itt = ++r.itt;
		put_be32(bhs + 16, itt);
		put_be32(bhs + 20, LEN);
		put_be32(bhs + 24, r.cmdsn++);
		put_be32(bhs + 28, r.statsn + 1);
		bhs[32] = 0x0a; /* WRITE(6), variable */
		put_be24(bhs + 34, LEN);
		raw_send_all(r.fd, bhs, sizeof(bhs));
		usleep(pause_ms[i] * 1000);
		raw_send_all(r.fd, rec[i], 1000);
		usleep(pause_ms[i] * 1000 / 4);
		raw_send_all(r.fd, rec[i] + 1000, LEN - 1000);
		cr_assert_eq(raw_status(&r, itt, NULL, 0, NULL), 0, "WRITE %u", i);
	}

	static const uint8_t rewind[6] = {0x01};
	cr_assert_eq(
	    raw_status(&r, raw_cmd(&r, 1, rewind, 6, 0x80, 0, NULL, 0, false), NULL, 0, NULL), 0);
	for (unsigned i = 0; i < N; i++) {
		uint8_t read6[6] = {0x08};
		put_be24(read6 + 2, LEN);
		static uint8_t back[LEN];
		size_t got = 0;
		uint32_t itt = raw_cmd(&r, 1, read6, 6, 0xc0, LEN, NULL, 0, false);
		cr_assert_eq(raw_status(&r, itt, back, LEN, &got), 0, "READ %u", i);
		cr_assert_eq(got, (size_t)LEN);
		cr_assert_eq(memcmp(back, rec[i], LEN), 0, "record %u", i);
	}
	raw_nop_ping(&r, true);
	close(r.fd);
	still_serving();
}

Test(iscsi_raw, server_stop_sends_an_async_message)
{
	struct raw r;
	login_to_lib(&r, NULL);
	iscsi_server_stop(th_server());
	uint8_t rsp[48];
	cr_assert_eq(raw_recv(&r, rsp, NULL, 0, 5000), 0);
	cr_expect_eq(rsp[0] & 0x3f, 0x32);
	cr_expect_eq(rsp[36], 3); /* will drop all connections */
	cr_expect(raw_closed_by_target(r.fd, 5000));
	close(r.fd);
}

Test(iscsi_raw, login_without_initiator_name_misses_a_parameter)
{
	struct raw r;
	memset(&r, 0, sizeof(r));
	r.fd = raw_connect(th_port());
	char text[256];
	size_t off = raw_kv(text, 0, "TargetName=" TH_LIB);
	cr_expect_eq(raw_login_pdu(&r, 0x80 | (1 << 2) | 3, text, off), 0x0207);
	cr_expect(raw_closed_by_target(r.fd, 3000));
	close(r.fd);
}
