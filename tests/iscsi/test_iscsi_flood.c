/*
 * test_iscsi_flood.c - connections that never log in, against the real
 * vtld: floods of idle TCP connections from one address and from several,
 * a header sent a byte at a time, a login that stalls after its first
 * PDU, and a full session table. Whatever they do, an established session
 * keeps working, an honest initiator still logs in (with CHAP too), and
 * every such connection is closed once its deadline has passed
 * (docs/iscsi.md, "Connections that have not logged in").
 *
 * Every address is on the loopback network: Linux routes all of 127/8 to
 * lo, so a socket bound to 127.0.0.2 before connect() is another source
 * address as the target sees it. Counts are bounded (the largest flood is
 * 1100 connections, more than the 1024 connections of any kind an older
 * vtld accepted) and no assertion is about speed: a deadline is only
 * checked against a bound several times longer.
 */
#include "config.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "rawpdu.h"
#include "scsi/be.h"
#include "vtld_proc.h"

static struct vtld_proc vtl;

static void stop(void)
{
	vp_stop(&vtl);
}

TestSuite(vtld_flood, .fini = stop, .timeout = 90);

/* Short deadlines and small budgets, so that a test sees them pass. */
#define TIGHT_CONF                                                                                 \
	"[iscsi]\n"                                                                                \
	"first_pdu_timeout = 1\n"                                                                  \
	"login_timeout = 2\n"                                                                      \
	"max_login_connections = 16\n"                                                             \
	"max_login_connections_per_address = 8\n"

enum {
	BIG_FLOOD = 1100,  /* beyond the 1024 connections an older vtld held */
	SMALL_FLOOD = 100, /* beyond every budget of TIGHT_CONF */
	TIGHT_PER_SOURCE = 8,
	TIGHT_TOTAL = 16,
	DEFAULT_PER_SOURCE = 16, /* max_login_connections_per_address default */
	CLOSE_BOUND_MS = 10000,	 /* far beyond any deadline these tests set */
	SETTLE_MS = 2000,	 /* below the default first_pdu_timeout */
	ROOM_FDS = 8,		 /* descriptors left to a vtld made short of them */
	LOGIN_BOUND_S = 10,	 /* below the 15 s an older vtld kept idle connections */
	DRIP_MS = 100,
};

/* This process holds every connection of a flood at once. */
static void need_descriptors(rlim_t n)
{
	struct rlimit rl;
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur >= n)
		return;
	if (rl.rlim_max < n)
		cr_skip_test("needs %lu open files, the hard limit is %lu", (unsigned long)n,
			     (unsigned long)rl.rlim_max);
	rl.rlim_cur = n;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
}

/* A TCP connection to vtld from source address src ("127.0.0.N"), or -1. */
static int dial(const char *src)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	struct timeval tv = {.tv_sec = 5}; /* bounds connect() too on Linux */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	struct sockaddr_in a = {.sin_family = AF_INET};
	cr_assert_eq(inet_pton(AF_INET, src, &a.sin_addr), 1);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0, "bind %s", src);
	a.sin_port = htons((uint16_t)vtl.port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		close(fd);
		return -1;
	}
	return fd;
}

/* n idle connections from src into fds; asserts they all connected. */
static void flood(int *fds, int n, const char *src)
{
	for (int i = 0; i < n; i++) {
		fds[i] = dial(src);
		cr_assert_geq(fds[i], 0, "connection %d of the flood from %s", i, src);
	}
}

static void close_all(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* No end of stream from the target yet (nothing else is ever sent to a
 * connection that has not logged in). */
static bool still_open(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	if (poll(&p, 1, 0) == 0)
		return true;
	char b;
	return recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

/* How many of fds the target has not closed. */
static int count_open(const int *fds, int n)
{
	int open = 0;
	for (int i = 0; i < n; i++)
		open += still_open(fds[i]);
	return open;
}

/* count_open once it is at most most, or after SETTLE_MS: a FIN the
 * target sent may still be on its way through the loopback device. */
static int count_open_settled(const int *fds, int n, int most)
{
	int open = count_open(fds, n);
	for (int waited = 0; open > most && waited < SETTLE_MS; waited += DRIP_MS) {
		usleep(DRIP_MS * 1000);
		open = count_open(fds, n);
	}
	return open;
}

static void expect_serving(struct iscsi_context *iscsi, const char *who)
{
	struct scsi_task *t = iscsi_inquiry_sync(iscsi, 0, 0, 0, 36);
	cr_assert_not_null(t, "%s: INQUIRY: %s", who, iscsi_get_error(iscsi));
	cr_expect_eq(t->status, SCSI_STATUS_GOOD, "%s: INQUIRY", who);
	scsi_free_scsi_task(t);
	th_tur_clear(iscsi, 0);
}

/* A new session does I/O and logs out. */
static void honest_login(void)
{
	struct iscsi_context *iscsi = vp_login(&vtl, false);
	expect_serving(iscsi, "a new session");
	th_logout(iscsi);
}

/* One login request as a raw initiator sends it: header and text. */
static size_t login_request(uint8_t *pdu, uint8_t flags, const char *target)
{
	char text[512];
	size_t off = raw_kv(text, 0, "InitiatorName=" VP_INITIATOR);
	off = raw_kv(text, off, "SessionType=Normal");
	char pair[300];
	snprintf(pair, sizeof(pair), "TargetName=%s", target);
	off = raw_kv(text, off, pair);
	if (((flags >> 2) & 3) == 0) /* security stage (RFC 7143 6.3.2) */
		off = raw_kv(text, off, "AuthMethod=None");
	memset(pdu, 0, 48);
	pdu[0] = RAW_IMMEDIATE | 0x03;
	pdu[1] = flags;
	pdu[8] = 0x80; /* ISID type random */
	pdu[13] = 7;
	put_be32(pdu + 16, 1);
	put_be24(pdu + 5, (uint32_t)off);
	memcpy(pdu + 48, text, off);
	size_t len = 48 + off;
	while (len % 4)
		pdu[len++] = 0;
	return len;
}

/* A raw login straight to the full feature phase: its status (class <<
 * 8 | detail), or -1 without an answer; the connection in *fd. */
static int login_status(int *fd)
{
	struct raw r = {0};
	r.fd = *fd = dial("127.0.0.1");
	cr_assert_geq(r.fd, 0);
	uint8_t pdu[1024];
	size_t len = login_request(pdu, 0x80 | (1 << 2) | 3, vtl.iqn);
	raw_send_all(r.fd, pdu, len);
	uint8_t rsp[48];
	if (raw_recv(&r, rsp, NULL, 0, 5000) < 0 || (rsp[0] & 0x3f) != RAW_LOGIN_RSP)
		return -1;
	return rsp[36] << 8 | rsp[37];
}

/* Send buf a byte every DRIP_MS until the target closes; true if it
 * closed before the last byte. */
static bool closed_while_dripping(int fd, const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (!still_open(fd))
			return true;
		raw_send_all(fd, buf + i, 1);
		usleep(DRIP_MS * 1000);
	}
	return !still_open(fd);
}

/* ---- CHAP, as vtld.conf configures it ---- */

#define CHAP_CONF                                                                                  \
	"[iscsi]\n"                                                                                \
	"chap_user = backup\n"                                                                     \
	"chap_secret = initiator-secret-1\n"

static struct iscsi_context *chap_session(void)
{
	struct iscsi_context *iscsi = iscsi_create_context(VP_INITIATOR);
	cr_assert_not_null(iscsi);
	iscsi_set_noautoreconnect(iscsi, 1);
	iscsi_set_timeout(iscsi, 20);
	iscsi_set_targetname(iscsi, vtl.iqn);
	iscsi_set_session_type(iscsi, ISCSI_SESSION_NORMAL);
	iscsi_set_initiator_username_pwd(iscsi, "backup", "initiator-secret-1");
	cr_assert_eq(iscsi_connect_sync(iscsi, vtl.portal), 0, "connect: %s",
		     iscsi_get_error(iscsi));
	cr_assert_eq(iscsi_login_sync(iscsi), 0, "CHAP login: %s", iscsi_get_error(iscsi));
	return iscsi;
}

/* How many descriptors process pid has open. */
static int open_fds(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	cr_assert_not_null(d, "%s", path);
	int n = 0;
	for (struct dirent *e; (e = readdir(d));)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* ---- tests ---- */

Test(vtld_flood, idle_connections_beyond_every_limit_lock_out_neither_a_session_nor_a_login)
{
	need_descriptors(BIG_FLOOD + 256);
	vp_start(&vtl, CHAP_CONF);
	struct iscsi_context *live = chap_session();
	expect_serving(live, "the established session");

	static int fds[BIG_FLOOD];
	flood(fds, BIG_FLOOD, "127.0.0.1");

	expect_serving(live, "the established session under the flood");
	struct iscsi_context *fresh = chap_session();
	expect_serving(fresh, "a CHAP login under the flood");
	th_logout(fresh);
	/* The login above was accepted after every connection of the flood,
	 * so the target has judged them all: it holds no more of them than
	 * one address may keep waiting. */
	cr_expect_leq(count_open_settled(fds, BIG_FLOOD, DEFAULT_PER_SOURCE), DEFAULT_PER_SOURCE,
		      "idle connections from one address still held");
	close_all(fds, BIG_FLOOD);
	expect_serving(live, "the established session after the flood");
	th_logout(live);
	cr_expect(vp_alive(&vtl));
}

Test(vtld_flood, idle_connections_are_closed_once_the_first_pdu_deadline_passes)
{
	vp_start(&vtl, TIGHT_CONF);
	struct iscsi_context *live = vp_login(&vtl, false);

	int fds[SMALL_FLOOD];
	flood(fds, SMALL_FLOOD, "127.0.0.1");
	expect_serving(live, "the established session under the flood");
	honest_login();

	/* Every idle one ends: evicted by newer ones or at its deadline. */
	int open = 0;
	for (int i = 0; i < SMALL_FLOOD; i++)
		open += !raw_closed_by_target(fds[i], CLOSE_BOUND_MS);
	cr_expect_eq(open, 0, "idle connections never closed by the target");
	close_all(fds, SMALL_FLOOD);
	expect_serving(live, "the established session after the flood");
	th_logout(live);
}

Test(vtld_flood, a_header_sent_a_byte_at_a_time_is_dropped_at_the_first_pdu_deadline)
{
	vp_start(&vtl, TIGHT_CONF);
	uint8_t pdu[1024];
	login_request(pdu, 0x80 | (1 << 2) | 3, vtl.iqn);

	/* Half a header, then silence. */
	int half = dial("127.0.0.1");
	cr_assert_geq(half, 0);
	raw_send_all(half, pdu, 24);
	cr_expect(raw_closed_by_target(half, CLOSE_BOUND_MS), "half a header kept open");
	close(half);

	/* A byte at a time: never a complete header within the deadline. */
	int drip = dial("127.0.0.1");
	cr_assert_geq(drip, 0);
	cr_expect(closed_while_dripping(drip, pdu, 47), "a dripped header kept open");
	close(drip);
	honest_login();
}

Test(vtld_flood, a_login_that_stalls_after_its_first_pdu_is_dropped_at_the_login_deadline)
{
	vp_start(&vtl, TIGHT_CONF);
	struct raw r = {0};
	r.fd = dial("127.0.0.1");
	cr_assert_geq(r.fd, 0);
	/* A security stage request that does not ask to move on: the target
	 * answers and waits for the next one, which comes a byte at a time. */
	uint8_t pdu[1024];
	size_t len = login_request(pdu, 0, vtl.iqn);
	raw_send_all(r.fd, pdu, len);
	uint8_t rsp[48];
	cr_assert_geq(raw_recv(&r, rsp, NULL, 0, 5000), 0, "first login response");
	cr_assert_eq(rsp[0] & 0x3f, RAW_LOGIN_RSP);
	cr_assert_eq(rsp[36], 0, "login status class");
	len = login_request(pdu, 0x80 | 1, vtl.iqn);
	cr_expect(closed_while_dripping(r.fd, pdu, len), "a stalled login kept open");
	close(r.fd);
	honest_login();
}

Test(vtld_flood, a_flood_from_one_address_evicts_its_own_idle_connections_first)
{
	/* Deadlines far away: only the budgets close anything here. */
	vp_start(&vtl, "[iscsi]\n"
		       "first_pdu_timeout = 60\n"
		       "login_timeout = 60\n"
		       "max_login_connections = 16\n"
		       "max_login_connections_per_address = 8\n");
	int other = dial("127.0.0.3");
	cr_assert_geq(other, 0);
	enum { N2 = 40 };
	int from2[N2];
	flood(from2, N2, "127.0.0.2");
	honest_login(); /* accepted after the flood: the target judged it all */

	cr_expect(still_open(other), "the other address's idle connection was dropped");
	for (int i = 0; i < N2 - TIGHT_PER_SOURCE; i++)
		cr_expect(raw_closed_by_target(from2[i], CLOSE_BOUND_MS),
			  "an older connection %d of the flooding address kept", i);
	for (int i = N2 - TIGHT_PER_SOURCE; i < N2; i++)
		cr_expect(still_open(from2[i]), "one of the newest %d connections dropped",
			  TIGHT_PER_SOURCE);

	/* Now the total: 1 + 8 held, 8 more from a third address. The last
	 * one finds 16 waiting and evicts the oldest idle connection of the
	 * most crowded address (127.0.0.2, 8 against 7); the honest login
	 * after it then evicts one of 127.0.0.4 (now 8 against 7). */
	int from4[TIGHT_PER_SOURCE];
	flood(from4, TIGHT_PER_SOURCE, "127.0.0.4");
	honest_login();
	cr_expect(still_open(other), "the least crowded address lost its connection");
	int first2 = N2 - TIGHT_PER_SOURCE;
	cr_expect(raw_closed_by_target(from2[first2], CLOSE_BOUND_MS),
		  "the oldest of the most crowded address kept");
	cr_expect(raw_closed_by_target(from4[0], CLOSE_BOUND_MS),
		  "the oldest of the then most crowded address kept");
	cr_expect_eq(count_open(from2, N2), TIGHT_PER_SOURCE - 1);
	cr_expect_eq(count_open(from4, TIGHT_PER_SOURCE), TIGHT_PER_SOURCE - 1);
	cr_expect_eq(count_open(from2, N2) + count_open(from4, TIGHT_PER_SOURCE) + 1,
		     TIGHT_TOTAL - 1);
	close_all(from2, N2);
	close_all(from4, TIGHT_PER_SOURCE);
	close(other);
}

Test(vtld_flood, a_full_session_table_refuses_a_login_with_out_of_resources)
{
	vp_start(&vtl, "[iscsi]\nmax_sessions = 2\n");
	struct iscsi_context *one = vp_login(&vtl, false);
	struct iscsi_context *two = vp_login(&vtl, true);

	int fd;
	int st = login_status(&fd);
	cr_expect_eq(st, 0x0302, "status 0x%04x, not out of resources (RFC 7143 11.13.5)", st);
	cr_expect(raw_closed_by_target(fd, CLOSE_BOUND_MS));
	close(fd);
	expect_serving(one, "a session in the full table");

	/* A place is free again once the discovery session's connection has
	 * ended, a moment after its Logout Response. */
	th_logout(two);
	for (int i = 0; i < 50 && st != 0; i++) {
		usleep(DRIP_MS * 1000);
		st = login_status(&fd);
		close(fd);
	}
	cr_expect_eq(st, 0, "no login after a session ended");
	th_logout(one);
}

Test(vtld_flood, out_of_descriptors_an_idle_connection_gives_way_to_a_login)
{
	/* Deadlines far away: only eviction can make room here. */
	vp_start(&vtl, "[iscsi]\nfirst_pdu_timeout = 60\nlogin_timeout = 60\n");
	struct iscsi_context *live = vp_login(&vtl, false);
	struct rlimit was, tight;
	cr_assert_eq(prlimit(vtl.pid, RLIMIT_NOFILE, NULL, &was), 0);
	tight = was;
	tight.rlim_cur = (rlim_t)open_fds(vtl.pid) + ROOM_FDS;
	cr_assert_eq(prlimit(vtl.pid, RLIMIT_NOFILE, &tight, NULL), 0);

	int fds[SMALL_FLOOD];
	flood(fds, SMALL_FLOOD, "127.0.0.1");
	expect_serving(live, "the established session with no descriptor left");
	struct iscsi_context *fresh = iscsi_create_context(VP_INITIATOR);
	cr_assert_not_null(fresh);
	iscsi_set_noautoreconnect(fresh, 1);
	iscsi_set_timeout(fresh, LOGIN_BOUND_S);
	iscsi_set_targetname(fresh, vtl.iqn);
	iscsi_set_session_type(fresh, ISCSI_SESSION_NORMAL);
	cr_assert_eq(iscsi_connect_sync(fresh, vtl.portal), 0);
	cr_expect_eq(iscsi_login_sync(fresh), 0, "login with no descriptor left: %s",
		     iscsi_get_error(fresh));
	expect_serving(fresh, "a new session");
	th_logout(fresh);

	close_all(fds, SMALL_FLOOD);
	cr_assert_eq(prlimit(vtl.pid, RLIMIT_NOFILE, &was, NULL), 0); /* for a clean stop */
	expect_serving(live, "the established session after the flood");
	th_logout(live);
	cr_expect(vp_alive(&vtl));
}
