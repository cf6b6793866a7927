/*
 * fuzz_iscsi.c - the built-in iSCSI target (RFC 7143) as an initiator on the
 * network sees it: a real server (iscsi_server_start on 127.0.0.1, port 0)
 * in front of a real library, and the fuzzer's bytes sent on TCP
 * connections to it. Everything behind the socket runs as in vtld: the
 * acceptor, the connection thread, login and negotiation, CHAP, the full
 * feature phase, the LUN workers and the changer and drives.
 *
 * Two targets: iqn.2024-01.fuzz:vtl without authentication and
 * iqn.2024-01.fuzz:chap with mutual CHAP, both mapping the changer (LUN 0)
 * and the two drives (LUN 1, 2).
 *
 * Input: up to MAX_CONNS connections, separated by NEXT_CONN; each is
 *   u8   mode: bit 0 sends a valid login to iqn.2024-01.fuzz:vtl first
 *        (normal session, no digests, CmdSN 1), so that most inputs reach
 *        the full feature phase; bit 1 makes that a discovery session;
 *        bit 2 sends an immediate Logout after the bytes, which lets the
 *        commands before it finish (a connection that just closes may
 *        have its queued commands dropped, as the target should)
 *   ...  the bytes the initiator sends, PDUs or not
 * The harness reads everything the target answers, half-closes its side
 * when the bytes are sent and waits for the target to close the
 * connection: a target that holds a connection after the initiator is
 * gone is a finding too (ARCHITECTURE.md: bounded resources). Connections
 * run one after the other, so an input replays the same way.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "iscsi/iscsi.h"
#include "scsi/be.h"
#include "tests/fuzz/fuzz_util.h"
#include "vtl/library.h"

#define NEXT_CONN     "\nFZ-NEXT-CONNECTION\n"
#define MAX_CONNS     4
#define CLOSE_WAIT_MS 10000

static const char target_iqn[] = "iqn.2024-01.fuzz:vtl";
static const char chap_iqn[] = "iqn.2024-01.fuzz:chap";

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static size_t add_key(char *text, size_t len, size_t cap, const char *key, const char *val)
{
	int n = snprintf(text + len, cap - len, "%s=%s", key, val);
	if (n < 0 || (size_t)n + 1 >= cap - len)
		fz_die("canned login does not fit");
	return len + (size_t)n + 1; /* the NUL ends the pair (RFC 7143 6.1) */
}

/* A Login Request (RFC 7143 11.12) from the operational stage straight to
 * the full feature phase, as an initiator with no authentication sends. */
static size_t canned_login(uint8_t *buf, size_t cap, bool discovery)
{
	char text[512];
	size_t len = 0;
	len = add_key(text, len, sizeof(text), "InitiatorName", "iqn.2024-01.fuzz:initiator");
	if (!discovery)
		len = add_key(text, len, sizeof(text), "TargetName", target_iqn);
	len = add_key(text, len, sizeof(text), "SessionType", discovery ? "Discovery" : "Normal");
	len = add_key(text, len, sizeof(text), "HeaderDigest", "None");
	len = add_key(text, len, sizeof(text), "DataDigest", "None");
	len = add_key(text, len, sizeof(text), "MaxRecvDataSegmentLength", "262144");
	if (!discovery) {
		len = add_key(text, len, sizeof(text), "ImmediateData", "Yes");
		len = add_key(text, len, sizeof(text), "InitialR2T", "No");
	}
	size_t total = 48 + len + ((4 - (len & 3)) & 3);
	if (total > cap)
		fz_die("canned login does not fit");
	memset(buf, 0, total);
	buf[0] = 0x43;		      /* Login Request, immediate */
	buf[1] = 0x80 | (1 << 2) | 3; /* T, CSG operational, NSG full feature */
	put_be24(buf + 5, (uint32_t)len);
	static const uint8_t isid[6] = {0x80, 0x00, 0x00, 0x00, 0x00, 0x01};
	memcpy(buf + 8, isid, 6);
	put_be32(buf + 16, 1); /* ITT */
	put_be32(buf + 24, 1); /* CmdSN */
	memcpy(buf + 48, text, len);
	return total;
}

static struct iscsi_server *start_server(struct lib *lib)
{
	struct iscsi_server_config sc;
	iscsi_server_config_defaults(&sc);
	snprintf(sc.listen, sizeof(sc.listen), "127.0.0.1:0");
	sc.nop_interval_s = 0;
	struct iscsi_server *srv;
	if (iscsi_server_create(&sc, &srv))
		fz_die("iscsi_server_create");
	struct iscsi_lun luns[1 + FZ_DRIVES];
	luns[0].lun = 0;
	luns[0].dev = lib_changer(lib);
	for (size_t i = 0; i < FZ_DRIVES; i++) {
		luns[i + 1].lun = lib_drive_lun(lib, i);
		luns[i + 1].dev = lib_drive(lib, i);
	}
	struct iscsi_target_config tc;
	memset(&tc, 0, sizeof(tc));
	snprintf(tc.iqn, sizeof(tc.iqn), "%s", target_iqn);
	snprintf(tc.alias, sizeof(tc.alias), "fuzz");
	tc.luns = luns;
	tc.n_luns = 1 + FZ_DRIVES;
	if (iscsi_server_add_target(srv, &tc))
		fz_die("iscsi_server_add_target");
	snprintf(tc.iqn, sizeof(tc.iqn), "%s", chap_iqn);
	snprintf(tc.chap.user, sizeof(tc.chap.user), "fuzzuser");
	snprintf(tc.chap.secret, sizeof(tc.chap.secret), "fuzzsecret12");
	snprintf(tc.chap.mutual_user, sizeof(tc.chap.mutual_user), "fuzztarget");
	snprintf(tc.chap.mutual_secret, sizeof(tc.chap.mutual_secret), "targetsecret1");
	if (iscsi_server_add_target(srv, &tc) || iscsi_server_start(srv))
		fz_die("iSCSI server on 127.0.0.1 does not start");
	return srv;
}

/* Logout Request (11.14), immediate: close the session. */
static size_t canned_logout(uint8_t *buf)
{
	memset(buf, 0, 48);
	buf[0] = 0x46;
	buf[1] = 0x80;
	put_be32(buf + 16, 0x7fffffff); /* ITT */
	return 48;
}

/* FUZZ_VERBOSE=1: what the target answered, one line per PDU (assuming no
 * digests), to check what a seed reaches. */
static void show(const uint8_t *p, size_t n)
{
	while (n >= 48) {
		size_t len = 48 + (size_t)p[4] * 4 + get_be24(p + 5);
		len += (4 - (len & 3)) & 3;
		fprintf(stderr,
			"  <- op 0x%02x flags 0x%02x itt %08x ttt %08x response %02x status %02x "
			"@36 %08x @40 %08x @44 %08x\n",
			p[0] & 0x3f, p[1], get_be32(p + 16), get_be32(p + 20), p[2], p[3],
			get_be32(p + 36), get_be32(p + 40), get_be32(p + 44));
		if (len > n)
			break;
		p += len;
		n -= len;
	}
}

/* Send data on a new connection, read all the target answers, and wait
 * for it to close. */
static void converse(uint16_t port, const uint8_t *data, size_t len)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		fz_die("socket: %s", strerror(errno));
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) && errno != EINTR)
		fz_die("connect to 127.0.0.1:%u: %s", port, strerror(errno));
	/* Interrupted (libFuzzer's timer signal), the connection goes on being
	 * made (connect(2)): wait for it. */
	struct pollfd cp = {.fd = fd, .events = POLLOUT};
	int soerr = 0;
	socklen_t sl = sizeof(soerr);
	while (poll(&cp, 1, -1) < 0 && errno == EINTR)
		;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) || soerr)
		fz_die("connect to 127.0.0.1:%u: %s", port, strerror(soerr));
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);

	uint8_t *login = NULL, logout[48];
	size_t login_len = 0, logout_len = 0;
	uint8_t mode = len ? data[0] : 0;
	if (len) {
		data++;
		len--;
	}
	if (mode & 1) {
		login = malloc(1024);
		if (!login)
			fz_die("out of memory");
		login_len = canned_login(login, 1024, mode & 2);
	}
	if (mode & 4)
		logout_len = canned_logout(logout);
	size_t sent = 0, total = login_len + len + logout_len;
	bool shut = false;
	uint64_t deadline = 0;
	static uint8_t sink[1 << 16];
	bool verbose = getenv("FUZZ_VERBOSE") != NULL;
	uint8_t *got = NULL;
	size_t got_len = 0;
	for (;;) {
		if (sent == total && !shut) {
			shutdown(fd, SHUT_WR);
			shut = true;
			deadline = now_ms() + CLOSE_WAIT_MS;
		}
		struct pollfd p = {.fd = fd, .events = (short)(POLLIN | (shut ? 0 : POLLOUT))};
		int r = poll(&p, 1, 1000);
		if (r < 0 && errno != EINTR)
			fz_die("poll: %s", strerror(errno));
		if (shut && now_ms() > deadline) {
			fprintf(stderr,
				"the target still holds the connection %d ms after the "
				"initiator closed its side\n",
				CLOSE_WAIT_MS);
			abort();
		}
		if (r <= 0)
			continue;
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = recv(fd, sink, sizeof(sink), 0);
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
				break; /* closed by the target: the conversation is over */
			if (verbose && n > 0 && (got = realloc(got, got_len + (size_t)n))) {
				memcpy(got + got_len, sink, (size_t)n);
				got_len += (size_t)n;
			}
		}
		if (!shut && (p.revents & POLLOUT)) {
			const uint8_t *src;
			size_t chunk;
			if (sent < login_len) {
				src = login + sent;
				chunk = login_len - sent;
			} else if (sent < login_len + len) {
				src = data + (sent - login_len);
				chunk = login_len + len - sent;
			} else {
				src = logout + (sent - login_len - len);
				chunk = total - sent;
			}
			ssize_t n = send(fd, src, chunk, MSG_NOSIGNAL);
			if (n > 0)
				sent += (size_t)n;
			else if (n < 0 && errno != EAGAIN && errno != EINTR)
				break; /* the target closed first (a rejected login) */
		}
	}
	/* Everything is read: no TIME_WAIT left behind for each of the many
	 * connections a run makes. */
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	free(login);
	if (verbose) {
		fprintf(stderr, "connection: sent %zu bytes, received %zu\n", total, got_len);
		show(got, got_len);
		free(got);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	fz_lib_template();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lib *lib = fz_lib_open_copy();
	struct iscsi_server *srv = start_server(lib);
	uint16_t port = iscsi_server_port(srv);
	const size_t seplen = sizeof(NEXT_CONN) - 1;
	for (int i = 0; i < MAX_CONNS && (i == 0 || size > 0); i++) {
		const uint8_t *sep =
		    i + 1 < MAX_CONNS ? memmem(data, size, NEXT_CONN, seplen) : NULL;
		size_t len = sep ? (size_t)(sep - data) : size;
		converse(port, data, len);
		data += len;
		size -= len;
		if (sep) {
			data += seplen;
			size -= seplen;
		}
	}
	iscsi_server_stop(srv);
	iscsi_server_destroy(srv);
	fz_lib_close(lib);
	return 0;
}
