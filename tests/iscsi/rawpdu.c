/*
 * rawpdu.c - see rawpdu.h.
 */
#include "config.h"

#include "rawpdu.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "scsi/be.h"
#include "scsi/crc32c.h"

int raw_connect(unsigned port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

void raw_send_all(int fd, const void *buf, size_t len)
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

void raw_send(struct raw *r, uint8_t *bhs, const void *data, uint32_t len)
{
	size_t cap = 48 + 4 + (size_t)len + 8;
	uint8_t *buf = malloc(cap);
	cr_assert_not_null(buf);
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
	raw_send_all(r->fd, buf, n);
	free(buf);
}

int raw_recv(struct raw *r, uint8_t *bhs, void *data, size_t cap, int timeout_ms)
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
	cr_assert_not_null(tmp);
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
	uint8_t op = bhs[0] & 0x3f;
	/* StatSN is meaningful in responses carrying status (11.7.4 for
	 * Data-In: only with the S bit). */
	if (op != RAW_LOGIN_RSP && op != RAW_R2T && (op != RAW_DATA_IN || (bhs[1] & 0x01)))
		r->statsn = get_be32(bhs + 24);
	if (op != RAW_LOGIN_RSP && op != RAW_REJECT) {
		r->exp_cmdsn = get_be32(bhs + 28);
		r->max_cmdsn = get_be32(bhs + 32);
	}
	return (int)len;
}

size_t raw_kv(char *out, size_t off, const char *pair)
{
	size_t n = strlen(pair) + 1;
	memcpy(out + off, pair, n);
	return off + n;
}

const char *raw_resp_val(const struct raw *r, const char *key)
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

int raw_login_pdu(struct raw *r, uint8_t flags, const char *text, size_t len)
{
	uint8_t bhs[48] = {0x43, flags};
	static const uint8_t isid[6] = {0x80, 0x12, 0x34, 0x56, 0x00, 0x02};
	memcpy(bhs + 8, isid, 6);
	put_be32(bhs + 16, r->itt);
	put_be32(bhs + 24, r->cmdsn);
	put_be32(bhs + 28, r->statsn + 1);
	raw_send(r, bhs, text, (uint32_t)len);
	uint8_t rsp[48];
	int n = raw_recv(r, rsp, r->text, sizeof(r->text), 5000);
	cr_assert_geq(n, 0, "no login response");
	cr_assert_eq(rsp[0] & 0x3f, RAW_LOGIN_RSP);
	r->text_len = (size_t)n;
	r->statsn = get_be32(rsp + 24);
	r->exp_cmdsn = get_be32(rsp + 28);
	r->max_cmdsn = get_be32(rsp + 32);
	return rsp[36] << 8 | rsp[37];
}

void raw_login(struct raw *r, unsigned port, const char *initiator, const char *target,
	       const char *const *extra)
{
	memset(r, 0, sizeof(*r));
	r->fd = raw_connect(port);
	r->cmdsn = 100;
	r->itt = 1;
	char text[4096], pair[512];
	snprintf(pair, sizeof(pair), "InitiatorName=%s", initiator);
	size_t off = raw_kv(text, 0, pair);
	if (target) {
		off = raw_kv(text, off, "SessionType=Normal");
		snprintf(pair, sizeof(pair), "TargetName=%s", target);
		off = raw_kv(text, off, pair);
	} else {
		off = raw_kv(text, off, "SessionType=Discovery");
	}
	for (const char *const *k = extra; k && *k; k++)
		off = raw_kv(text, off, *k);
	/* T=1, CSG=1 (operational), NSG=3 (full feature). */
	int st = raw_login_pdu(r, 0x80 | (1 << 2) | 3, text, off);
	cr_assert_eq(st, 0, "login status 0x%04x", st);
	const char *hd = raw_resp_val(r, "HeaderDigest"), *dd = raw_resp_val(r, "DataDigest");
	r->hd = hd && !strcmp(hd, "CRC32C");
	r->dd = dd && !strcmp(dd, "CRC32C");
	r->itt = 0x1000;
}

void raw_nop_ping(struct raw *r, bool expect_answer)
{
	uint8_t bhs[48] = {RAW_NOP_OUT | RAW_IMMEDIATE, 0x80};
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
	cr_expect_eq(rsp[0] & 0x3f, RAW_NOP_IN);
	cr_expect_eq(get_be32(rsp + 16), r->itt);
	cr_expect_arr_eq(data, "abcdefg", 7);
}

bool raw_closed_by_target(int fd, int timeout_ms)
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

/* ---- SCSI commands over the raw session ---- */

/* Send a SCSI Command PDU to LUN lun (flags: F 0x80, R 0x40, W 0x20). */
uint32_t raw_cmd(struct raw *r, int lun, const uint8_t *cdb, size_t cdb_len, uint8_t flags,
		 uint32_t edtl, const void *imm, uint32_t imm_len, bool immediate)
{
	uint8_t bhs[48] = {(uint8_t)(RAW_SCSI_CMD | (immediate ? RAW_IMMEDIATE : 0)), flags};
	bhs[9] = (uint8_t)lun;
	uint32_t itt = ++r->itt;
	put_be32(bhs + 16, itt);
	put_be32(bhs + 20, edtl);
	put_be32(bhs + 24, r->cmdsn);
	if (!immediate)
		r->cmdsn++;
	put_be32(bhs + 28, r->statsn + 1);
	memcpy(bhs + 32, cdb, cdb_len);
	raw_send(r, bhs, imm, imm_len);
	return itt;
}

/* Wait for the status of itt: the SCSI Response, or a Data-In with S
 * (its data gathered into in, up to cap). Returns the SCSI status, or -1
 * if the connection ended. */
int raw_status(struct raw *r, uint32_t itt, uint8_t *in, size_t cap, size_t *in_len)
{
	uint8_t rsp[48];
	static uint8_t data[1 << 18];
	if (in_len)
		*in_len = 0;
	for (;;) {
		int n = raw_recv(r, rsp, data, sizeof(data), 5000);
		if (n < 0)
			return -1;
		uint8_t op = rsp[0] & 0x3f;
		if (get_be32(rsp + 16) != itt)
			continue;
		if (op == RAW_DATA_IN) {
			uint32_t off = get_be32(rsp + 40);
			if (in && off + (size_t)n <= cap)
				memcpy(in + off, data, (size_t)n);
			if (in_len)
				*in_len = off + (size_t)n;
			if (rsp[1] & 0x01)
				return rsp[3];
			continue;
		}
		if (op == RAW_SCSI_RSP)
			return rsp[3];
		cr_assert_fail("unexpected PDU 0x%02x for itt 0x%x", op, itt);
	}
}

int raw_tur(struct raw *r, int lun, bool immediate)
{
	static const uint8_t tur[6] = {0};
	uint32_t itt = raw_cmd(r, lun, tur, 6, 0x80, 0, NULL, 0, immediate);
	return raw_status(r, itt, NULL, 0, NULL);
}

void raw_tur_clear(struct raw *r, int lun)
{
	for (int i = 0; i < 6; i++)
		if (raw_tur(r, lun, false) == 0)
			return;
	cr_assert_fail("LUN %d never ready", lun);
}

/* READ POSITION (short form) over the raw session: the block number. */
uint32_t raw_read_position(struct raw *r, int lun)
{
	static const uint8_t rp[10] = {0x34};
	uint8_t d[20];
	size_t n;
	uint32_t itt = raw_cmd(r, lun, rp, 10, 0xc0, 20, NULL, 0, false);
	cr_assert_eq(raw_status(r, itt, d, sizeof(d), &n), 0);
	cr_assert_eq(n, 20u);
	return get_be32(d + 4);
}
