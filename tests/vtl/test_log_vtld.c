/*
 * test_log_vtld.c - text from peers in vtld's own log: the real vtld
 * (tests/iscsi/vtld_proc.c, its stderr in a file), an initiator name and a
 * control request made to forge a log line, move the terminal and break
 * UTF-8. Every line of the log must still be one of vtld's own, and the
 * peer's bytes must appear escaped (util/escape.h).
 */
#include "config.h"

#include <criterion/criterion.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tests/iscsi/rawpdu.h"
#include "tests/iscsi/vtld_proc.h"

static struct vtld_proc vtl;

static void start(void)
{
	vp_start(&vtl, NULL);
}

static void stop(void)
{
	vp_stop(&vtl);
}

TestSuite(vtld_log, .init = start, .fini = stop, .timeout = 60);

/* What a peer sends after a harmless prefix: a newline, a line of vtld's
 * own format, a colour change and a byte that is no UTF-8. */
#define FORGED "2026-01-01 00:00:00.000 vtld[1] error: forged"
#define EVIL   "\n" FORGED "\x1b[31m\xff"
/* How that reads once escaped. */
#define EVIL_ESCAPED "\\x0a" FORGED "\\x1b[31m\\xff"

static char *read_log(void)
{
	FILE *f = fopen(vtl.log, "r");
	cr_assert_not_null(f, "%s", vtl.log);
	static char buf[1 << 20];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

/* Wait (5 s at most) until the log holds needle; returns the log. */
static char *log_with(const char *needle)
{
	char *log = read_log();
	for (int i = 0; i < 100 && !strstr(log, needle); i++) {
		usleep(50000);
		log = read_log();
	}
	cr_assert_not_null(strstr(log, needle), "no '%s' in the log:\n%s", needle, log);
	return log;
}

/* Every line starts with vtld's own timestamp and name, and no byte is a
 * control or outside ASCII (all the peer sent here is escaped to ASCII). */
static void expect_only_vtld_lines(const char *log)
{
	char prefix[32];
	snprintf(prefix, sizeof(prefix), " vtld[%d] ", (int)vtl.pid);
	for (const char *line = log; *line;) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		cr_expect_neq(strncmp(line, FORGED, strlen(FORGED)), 0, "forged line: %.*s",
			      (int)len, line);
		/* "YYYY-MM-DD HH:MM:SS.mmm vtld[PID] " */
		cr_expect(len > 23 && memcmp(line + 23, prefix, strlen(prefix)) == 0,
			  "not a line of this vtld: %.*s", (int)len, line);
		for (size_t i = 0; i < len; i++) {
			unsigned char c = (unsigned char)line[i];
			cr_expect(c >= 0x20 && c < 0x7f, "byte 0x%02x in log line: %.*s", c,
				  (int)len, line);
		}
		line += len + (nl ? 1 : 0);
	}
}

Test(vtld_log, an_initiator_name_cannot_forge_a_log_line_or_reach_the_terminal)
{
	/* A session that logs in with the name, then goes away... */
	struct raw r;
	raw_login(&r, vtl.port, "iqn.2026-01.test:evil" EVIL, vtl.iqn, NULL);
	close(r.fd);
	/* ...and a login refused before any session, for a target that is
	 * not there: the name is logged with the refusal. */
	memset(&r, 0, sizeof(r));
	r.fd = raw_connect(vtl.port);
	r.cmdsn = 100;
	r.itt = 1;
	char text[1024];
	size_t off = raw_kv(text, 0, "InitiatorName=iqn.2026-01.test:refused" EVIL);
	off = raw_kv(text, off, "SessionType=Normal");
	off = raw_kv(text, off, "TargetName=iqn.2026-01.test:no-such-target");
	int st = raw_login_pdu(&r, 0x80 | (1 << 2) | 3, text, off);
	cr_expect_neq(st, 0, "a login to a missing target succeeded");
	close(r.fd);

	log_with("iqn.2026-01.test:refused");
	char *log = log_with("session ended");
	cr_expect_not_null(strstr(log, "iqn.2026-01.test:evil" EVIL_ESCAPED),
			   "the name is not in the log, escaped:\n%s", log);
	cr_expect_not_null(strstr(log, "iqn.2026-01.test:refused" EVIL_ESCAPED),
			   "the refused name is not in the log, escaped:\n%s", log);
	expect_only_vtld_lines(log);
}

/* One request on the control socket; the answer line is not looked at. */
static void ctl_request(const char *line)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/vtld.sock", vtl.dir);
	cr_assert(n > 0 && (size_t)n < sizeof(sa.sun_path));
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(send(fd, line, strlen(line), MSG_NOSIGNAL), (ssize_t)strlen(line));
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char buf[4096];
	if (poll(&p, 1, 5000) == 1)
		cr_expect_geq(recv(fd, buf, sizeof(buf), 0), 0);
	close(fd);
}

Test(vtld_log, a_control_request_cannot_forge_a_log_line)
{
	/* JSON escapes decode to the newline and ESC; the op is refused and
	 * logged. 0xff cannot travel in JSON (jansson refuses it). */
	ctl_request("{\"op\":\"x\\n" FORGED "\\u001b[31m\\u009b\"}\n");
	ctl_request("{\"op\":\"tape.show\",\"barcode\":\"B\\r\\n" FORGED "\"}\n");
	char *log = log_with("control: tape.show");
	/* (The op is quoted clipped, so the C1 control after it is cut.) */
	cr_expect_not_null(strstr(log, "x\\x0a" FORGED "\\x1b[31m"),
			   "the op is not in the log, escaped:\n%s", log);
	cr_expect_not_null(strstr(log, "B\\x0d\\x0a" FORGED), "the barcode is not escaped:\n%s",
			   log);
	expect_only_vtld_lines(log);
}
