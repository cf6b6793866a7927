/*
 * test_iscsi_raw.c - the target seen through a raw TCP socket: what no
 * well-behaved initiator sends (malformed, truncated and oversized PDUs,
 * CmdSN outside the window, garbage), plus protocol details libiscsi does
 * not exercise (CHAP_A=7 SHA-256, data digests, negotiation answers,
 * NOP-In pings to a dead peer, ABORT TASK of a command waiting for R2T,
 * the Async Message at shutdown). After each abuse the target must still
 * serve a libiscsi session.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "scsi/be.h"
#include "scsi/crc32c.h"

static void start(void)
{
	th_start(NULL);
}

TestSuite(iscsi_raw, .init = start, .fini = th_stop, .timeout = 60);

struct raw {
	int fd;
	bool hd, dd; /* digests in force */
	uint32_t cmdsn, statsn, itt;
	char text[8192]; /* last login/text response data */
	size_t text_len;
};

static int raw_connect(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(th_port())};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static void send_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n <= 0)
			return; /* the target may already have closed */
		p += n;
		len -= (size_t)n;
	}
}

/* Read exactly len bytes; false on EOF, error or timeout. */
static bool recv_all(int fd, void *buf, size_t len, int timeout_ms)
{
	uint8_t *p = buf;
	while (len) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		if (poll(&pfd, 1, timeout_ms) <= 0)
			return false;
		ssize_t n = recv(fd, p, len, 0);
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* Send a PDU (BHS + data) with the digests in force. */
static void raw_send(struct raw *r, uint8_t *bhs, const void *data, uint32_t len)
{
	uint8_t buf[48 + 4 + 65536 + 8];
	cr_assert_leq(len, 65536u);
	put_be24(bhs + 5, len);
	size_t n = 0;
	memcpy(buf, bhs, 48);
	n = 48;
	if (r->hd) {
		put_le32(buf + n, crc32c(bhs, 48));
		n += 4;
	}
	if (len) {
		memcpy(buf + n, data, len);
		uint32_t pad = (4 - (len & 3)) & 3;
		memset(buf + n + len, 0, pad);
		uint32_t crc = crc32c(buf + n, len + pad);
		n += len + pad;
		if (r->dd) {
			put_le32(buf + n, crc);
			n += 4;
		}
	}
	send_all(r->fd, buf, n);
}

/* Receive a PDU; data (up to cap) into data, returns its length or -1. */
static int raw_recv(struct raw *r, uint8_t *bhs, void *data, size_t cap, int timeout_ms)
{
	if (!recv_all(r->fd, bhs, 48, timeout_ms))
		return -1;
	uint8_t d[4];
	if (r->hd) {
		if (!recv_all(r->fd, d, 4, timeout_ms))
			return -1;
		cr_expect_eq(get_le32(d), crc32c(bhs, 48), "header digest from target");
	}
	uint32_t len = get_be24(bhs + 5);
	uint32_t padded = len + ((4 - (len & 3)) & 3);
	uint8_t *tmp = malloc(padded + 4);
	if (!recv_all(r->fd, tmp, padded + (r->dd && len ? 4 : 0), timeout_ms)) {
		free(tmp);
		return -1;
	}
	if (r->dd && len)
		cr_expect_eq(get_le32(tmp + padded), crc32c(tmp, padded),
			     "data digest from target");
	if (data)
		memcpy(data, tmp, len < cap ? len : cap);
	free(tmp);
	if (bhs[0] != 0x23 && (bhs[1] & 0x01 || bhs[0] == 0x21 || bhs[0] == 0x20))
		r->statsn = get_be32(bhs + 24);
	return (int)len;
}

static size_t kv(char *out, size_t off, const char *pair)
{
	size_t n = strlen(pair) + 1;
	memcpy(out + off, pair, n);
	return off + n;
}

/* Value of key in the last response text, or NULL. */
static const char *resp_val(struct raw *r, const char *key)
{
	size_t kl = strlen(key);
	for (size_t i = 0; i < r->text_len;) {
		const char *p = r->text + i;
		size_t l = strnlen(p, r->text_len - i);
		if (l > kl && !strncmp(p, key, kl) && p[kl] == '=')
			return p + kl + 1;
		i += l + 1;
	}
	return NULL;
}

/* One login request; returns the status (class << 8 | detail). */
static int login_pdu(struct raw *r, uint8_t flags, const char *text, size_t len)
{
	uint8_t bhs[48] = {0x43, flags};
	uint8_t isid[6] = {0x80, 0x12, 0x34, 0x56, 0x00, 0x01};
	memcpy(bhs + 8, isid, 6);
	put_be32(bhs + 16, r->itt);
	put_be32(bhs + 24, r->cmdsn);
	put_be32(bhs + 28, r->statsn + 1);
	raw_send(r, bhs, text, (uint32_t)len);
	uint8_t rsp[48];
	int n = raw_recv(r, rsp, r->text, sizeof(r->text), 5000);
	cr_assert_geq(n, 0, "no login response");
	cr_assert_eq(rsp[0] & 0x3f, 0x23);
	r->text_len = (size_t)n;
	r->statsn = get_be32(rsp + 24);
	return rsp[36] << 8 | rsp[37];
}

static const char *const base_keys[] = {"InitiatorName=" TH_INITIATOR, "SessionType=Normal",
					"TargetName=" TH_LIB, NULL};

/* Operational-stage login straight to full feature phase. */
static void raw_login(struct raw *r, const char *const *extra)
{
	memset(r, 0, sizeof(*r));
	r->fd = raw_connect();
	r->cmdsn = 100;
	r->itt = 1;
	char text[4096];
	size_t off = 0;
	for (const char *const *k = base_keys; *k; k++)
		off = kv(text, off, *k);
	for (const char *const *k = extra; k && *k; k++)
		off = kv(text, off, *k);
	int st = login_pdu(r, 0x80 | (1 << 2) | 3, text, off);
	cr_assert_eq(st, 0, "login status 0x%04x", st);
	const char *hd = resp_val(r, "HeaderDigest"), *dd = resp_val(r, "DataDigest");
	r->hd = hd && !strcmp(hd, "CRC32C");
	r->dd = dd && !strcmp(dd, "CRC32C");
	r->itt = 0x1000;
}

static void nop_ping(struct raw *r, bool expect_answer)
{
	uint8_t bhs[48] = {0x40, 0x80};
	put_be32(bhs + 16, ++r->itt);
	put_be32(bhs + 20, 0xffffffff);
	put_be32(bhs + 24, r->cmdsn);
	put_be32(bhs + 28, r->statsn + 1);
	raw_send(r, bhs, "abcdefg", 7);
	uint8_t rsp[48];
	char data[16];
	int n = raw_recv(r, rsp, data, sizeof(data), 3000);
	if (!expect_answer) {
		cr_expect_lt(n, 0, "connection should be closed");
		return;
	}
	cr_assert_eq(n, 7, "NOP-In expected");
	cr_expect_eq(rsp[0] & 0x3f, 0x20);
	cr_expect_eq(get_be32(rsp + 16), r->itt);
	cr_expect_arr_eq(data, "abcdefg", 7);
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

static bool closed_by_target(int fd, int timeout_ms)
{
	uint8_t buf[4096];
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		if (poll(&pfd, 1, timeout_ms) <= 0)
			return false;
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0)
			return true;
	}
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
	raw_login(&r, keys);
	cr_expect_str_eq(resp_val(&r, "HeaderDigest"), "CRC32C");
	cr_expect_str_eq(resp_val(&r, "DataDigest"), "None");
	cr_expect_str_eq(resp_val(&r, "InitialR2T"), "No");	      /* OR */
	cr_expect_str_eq(resp_val(&r, "ImmediateData"), "Yes");	      /* AND */
	cr_expect_str_eq(resp_val(&r, "MaxBurstLength"), "Reject");   /* < 512 */
	cr_expect_str_eq(resp_val(&r, "FirstBurstLength"), "65536");  /* min */
	cr_expect_str_eq(resp_val(&r, "MaxOutstandingR2T"), "4");     /* min */
	cr_expect_str_eq(resp_val(&r, "ErrorRecoveryLevel"), "0");    /* min */
	cr_expect_str_eq(resp_val(&r, "DefaultTime2Wait"), "2");      /* max */
	cr_expect_str_eq(resp_val(&r, "DefaultTime2Retain"), "0");    /* min */
	cr_expect_str_eq(resp_val(&r, "MaxConnections"), "1");	      /* min */
	cr_expect_str_eq(resp_val(&r, "DataPDUInOrder"), "Yes");      /* OR */
	cr_expect_str_eq(resp_val(&r, "DataSequenceInOrder"), "Yes"); /* OR */
	cr_expect_str_eq(resp_val(&r, "IFMarker"), "No");
	cr_expect_str_eq(resp_val(&r, "OFMarkInt"), "Reject");
	cr_expect_str_eq(resp_val(&r, "X-com.example.foo"), "NotUnderstood");
	cr_expect_str_eq(resp_val(&r, "MaxRecvDataSegmentLength"), "262144"); /* ours */
	cr_expect_str_eq(resp_val(&r, "TargetPortalGroupTag"), "1");
	cr_expect(r.hd);
	nop_ping(&r, true); /* with a header digest both ways */
	close(r.fd);
}

Test(iscsi_raw, data_digest_is_checked_and_a_bad_one_ends_the_session)
{
	static const char *const keys[] = {"HeaderDigest=CRC32C", "DataDigest=CRC32C", NULL};
	struct raw r;
	raw_login(&r, keys);
	cr_assert(r.hd && r.dd);
	nop_ping(&r, true);

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
	send_all(r.fd, pdu, sizeof(pdu));
	uint8_t rsp[48];
	uint8_t data[64];
	int n = raw_recv(&r, rsp, data, sizeof(data), 3000);
	cr_assert_eq(n, 48);
	cr_expect_eq(rsp[0] & 0x3f, 0x3f);
	cr_expect_eq(rsp[2], 0x02);
	cr_expect(closed_by_target(r.fd, 3000));
	close(r.fd);
	still_serving();
}

Test(iscsi_raw, chap_sha256_is_negotiated_when_offered)
{
	struct raw r;
	memset(&r, 0, sizeof(r));
	r.fd = raw_connect();
	r.cmdsn = 7;
	r.itt = 9;
	char text[1024];
	size_t off = kv(text, 0, "InitiatorName=" TH_INITIATOR);
	off = kv(text, off, "SessionType=Normal");
	off = kv(text, off, "TargetName=" TH_CHAP);
	off = kv(text, off, "AuthMethod=CHAP,None");
	cr_assert_eq(login_pdu(&r, 0x80 | 1, text, off), 0);
	cr_expect_str_eq(resp_val(&r, "AuthMethod"), "CHAP");
	off = kv(text, 0, "CHAP_A=7,5");
	cr_assert_eq(login_pdu(&r, 0x01, text, off), 0);
	cr_assert_str_eq(resp_val(&r, "CHAP_A"), "7");
	int id = atoi(resp_val(&r, "CHAP_I"));
	const char *chex = resp_val(&r, "CHAP_C");
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
	off = kv(text, 0, "CHAP_N=" TH_USER);
	off = kv(text, off, rsp);
	cr_assert_eq(login_pdu(&r, 0x80 | 1, text, off), 0, "SHA-256 CHAP refused");
	off = kv(text, 0, "HeaderDigest=None");
	cr_assert_eq(login_pdu(&r, 0x80 | (1 << 2) | 3, text, off), 0);
	r.itt = 0x100;
	nop_ping(&r, true);
	close(r.fd);
}

Test(iscsi_raw, garbage_before_login_is_refused_and_the_target_survives)
{
	int fd = raw_connect();
	uint8_t junk[200];
	th_pattern(junk, sizeof(junk), 99);
	junk[0] = 0x43; /* a "login" with absurd lengths */
	junk[5] = 0xff;
	junk[6] = 0xff;
	junk[7] = 0xff;
	send_all(fd, junk, sizeof(junk));
	cr_expect(closed_by_target(fd, 3000));
	close(fd);
	still_serving();
}

Test(iscsi_raw, oversized_data_segment_ends_only_that_session)
{
	struct raw r;
	raw_login(&r, NULL);
	uint8_t bhs[48] = {0x40, 0x80};
	put_be32(bhs + 16, 5);
	put_be24(bhs + 5, 0xffffff); /* 16 MiB > MaxRecvDataSegmentLength */
	send_all(r.fd, bhs, 48);
	cr_expect(closed_by_target(r.fd, 3000));
	close(r.fd);
	still_serving();
}

Test(iscsi_raw, truncated_pdu_then_hangup_leaves_the_target_serving)
{
	struct raw r;
	raw_login(&r, NULL);
	uint8_t bhs[48] = {0x01, 0xa0}; /* WRITE with F and W, then cut */
	put_be32(bhs + 16, 77);
	put_be32(bhs + 20, 65536);
	put_be32(bhs + 24, r.cmdsn);
	bhs[32] = 0x0a;
	put_be24(bhs + 34, 65536);
	put_be24(bhs + 5, 4096);
	send_all(r.fd, bhs, 48);
	send_all(r.fd, "only a little", 13);
	close(r.fd);
	still_serving();
}

Test(iscsi_raw, unknown_opcode_is_rejected_and_the_session_continues)
{
	struct raw r;
	raw_login(&r, NULL);
	uint8_t bhs[48] = {0x1c, 0x80}; /* vendor-specific opcode */
	put_be32(bhs + 16, 3);
	raw_send(&r, bhs, NULL, 0);
	uint8_t rsp[48], data[64];
	int n = raw_recv(&r, rsp, data, sizeof(data), 3000);
	cr_assert_eq(n, 48);
	cr_expect_eq(rsp[0] & 0x3f, 0x3f);
	cr_expect_eq(rsp[2], 0x05);  /* command not supported */
	cr_expect_eq(data[0], 0x1c); /* the rejected header comes back */
	nop_ping(&r, true);
	close(r.fd);
}

Test(iscsi_raw, snack_at_erl0_is_a_protocol_error_reject)
{
	struct raw r;
	raw_login(&r, NULL);
	uint8_t bhs[48] = {0x10, 0x80};
	raw_send(&r, bhs, NULL, 0);
	uint8_t rsp[48];
	cr_assert_eq(raw_recv(&r, rsp, NULL, 0, 3000), 48);
	cr_expect_eq(rsp[0] & 0x3f, 0x3f);
	cr_expect_eq(rsp[2], 0x04);
	nop_ping(&r, true);
	close(r.fd);
}

Test(iscsi_raw, command_outside_the_cmdsn_window_is_ignored)
{
	struct raw r;
	raw_login(&r, NULL);
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
	raw_login(&r, keys);
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
	cr_expect(closed_by_target(r.fd, 3000));
	close(r.fd);
	still_serving();
}

Test(iscsi_raw, abort_task_of_a_write_waiting_for_r2t_data)
{
	static const char *const keys[] = {"InitialR2T=Yes", "ImmediateData=No",
					   "MaxBurstLength=65536", NULL};
	struct raw r;
	raw_login(&r, keys);
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
	put_be32(tur + 24, r.cmdsn);
	raw_send(&r, tur, NULL, 0);
	cr_assert_geq(raw_recv(&r, rsp, NULL, 0, 3000), 0);
	cr_expect_eq(rsp[0] & 0x3f, 0x21);
	cr_expect_eq(get_be32(rsp + 16), 0x79u);
	close(r.fd);
}

Test(iscsi_raw, a_dead_initiator_is_pinged_then_dropped)
{
	th_stop();
	struct th_options o = {.nop_interval_s = 1, .nop_timeout_s = 1};
	th_start(&o);
	struct raw r;
	raw_login(&r, NULL);
	uint8_t rsp[48];
	cr_assert_eq(raw_recv(&r, rsp, NULL, 0, 3000), 0);
	cr_expect_eq(rsp[0] & 0x3f, 0x20, "NOP-In ping");
	cr_expect_eq(get_be32(rsp + 16), 0xffffffffu);
	cr_expect_neq(get_be32(rsp + 20), 0xffffffffu);
	cr_expect(closed_by_target(r.fd, 4000), "unanswered ping must drop the connection");
	close(r.fd);
	still_serving();
}

Test(iscsi_raw, server_stop_sends_an_async_message)
{
	struct raw r;
	raw_login(&r, NULL);
	iscsi_server_stop(th_server());
	uint8_t rsp[48];
	cr_assert_eq(raw_recv(&r, rsp, NULL, 0, 5000), 0);
	cr_expect_eq(rsp[0] & 0x3f, 0x32);
	cr_expect_eq(rsp[36], 3); /* will drop all connections */
	cr_expect(closed_by_target(r.fd, 5000));
	close(r.fd);
}

Test(iscsi_raw, login_without_initiator_name_misses_a_parameter)
{
	struct raw r;
	memset(&r, 0, sizeof(r));
	r.fd = raw_connect();
	char text[256];
	size_t off = kv(text, 0, "TargetName=" TH_LIB);
	cr_expect_eq(login_pdu(&r, 0x80 | (1 << 2) | 3, text, off), 0x0207);
	cr_expect(closed_by_target(r.fd, 3000));
	close(r.fd);
}
