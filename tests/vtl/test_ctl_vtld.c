/*
 * test_ctl_vtld.c - the control socket of the real vtld
 * (tests/iscsi/vtld_proc.c) under requests no vtlctl sends and clients
 * that misbehave: every request line gets one JSON answer, whatever bytes
 * it holds and however long it is; and no client, silent, half-way through
 * a line or not reading its answers, delays another (docs/library.md,
 * "Control protocol").
 *
 * Time limits here only guard against a hang (5 s for what takes
 * milliseconds); none measures speed.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "tests/iscsi/vtld_proc.h"
#include "vtl/ctl.h"

static struct vtld_proc vtl;

static void start(void)
{
	vp_start(&vtl, NULL);
}

static void stop(void)
{
	vp_stop(&vtl);
}

TestSuite(ctl_answers, .init = start, .fini = stop, .timeout = 60);
TestSuite(ctl_clients, .init = start, .fini = stop, .timeout = 90);

enum { GUARD_MS = 5000 };

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A connection to vtld's control socket; nonblocking connect when asked
 * (returns -1 if vtld's backlog is full). */
static int ctl_connect(bool nonblock)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/vtld.sock", vtl.dir);
	cr_assert(n > 0 && (size_t)n < sizeof(sa.sun_path));
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
	cr_assert_geq(fd, 0);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		cr_assert(nonblock && errno == EAGAIN, "connect: %s", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Send all of buf; false if vtld closed the connection first. */
static bool send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		len -= (size_t)w;
	}
	return true;
}

/* One answer line (GUARD_MS at most), parsed; NULL if the connection was
 * closed, or nothing came, or it is no JSON object. */
static json_t *read_answer(int fd)
{
	static char buf[1 << 20];
	size_t len = 0;
	int64_t end = now_ms() + GUARD_MS;
	while (len < sizeof(buf) - 1) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int64_t left = end - now_ms();
		if (left <= 0 || poll(&p, 1, (int)left) != 1)
			return NULL;
		/* One byte at a time past the line would eat the next answer:
		 * peek, then take up to the newline. */
		ssize_t r = recv(fd, buf + len, sizeof(buf) - 1 - len, MSG_PEEK);
		if (r <= 0)
			return NULL;
		char *nl = memchr(buf + len, '\n', (size_t)r);
		size_t take = nl ? (size_t)(nl - (buf + len)) + 1 : (size_t)r;
		cr_assert_eq(recv(fd, buf + len, take, 0), (ssize_t)take);
		len += take;
		if (nl)
			break;
	}
	buf[len] = '\0';
	json_error_t e;
	json_t *j = json_loads(buf, JSON_DISABLE_EOF_CHECK, &e);
	cr_expect(json_is_object(j), "answer is no JSON object: %.300s (%s)", buf, e.text);
	return j;
}

/* One request of len bytes (its newline included) on its own connection;
 * asserts an answer comes and returns it. */
static json_t *ask_n(const char *line, size_t len)
{
	int fd = ctl_connect(false);
	send_all(fd, line, len);
	json_t *a = read_answer(fd);
	close(fd);
	cr_assert_not_null(a, "no answer to %.200s", line);
	return a;
}

static json_t *ask(const char *line)
{
	return ask_n(line, strlen(line));
}

static const char *jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

/* An answer that refuses, with a sentence free of controls that contains
 * `needle`. */
static void expect_refusal(json_t *a, const char *needle)
{
	cr_expect(json_is_false(json_object_get(a, "ok")), "not refused");
	const char *e = jstr(a, "error");
	cr_expect(strstr(e, needle) != NULL, "error '%s' does not say '%s'", e, needle);
	cr_expect_lt(strlen(e), 2048u, "an error of %zu bytes", strlen(e));
	for (const unsigned char *p = (const unsigned char *)e; *p; p++) {
		cr_expect(*p >= 0x20 && *p != 0x7f, "control 0x%02x in error '%s'", *p, e);
		cr_expect(!(p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f), "C1 control in '%s'", e);
	}
	cr_expect_str_neq(jstr(a, "errno"), "");
}

#define BARCODE_RULE "only A-Z and 0-9"
#define LENGTH_RULE  "5 to 16 characters"

/* ---- Every request gets an answer --------------------------------------- */

Test(ctl_answers, a_barcode_with_accents_is_refused_with_the_barcode_rules)
{
	json_t *a = ask("{\"op\":\"tape.create\",\"barcodes\":[\"FZ\\u00e9\\u00e9\\u00e9\"]}\n");
	expect_refusal(a, BARCODE_RULE);
	cr_expect(strstr(jstr(a, "error"), "FZ\xc3\xa9\xc3\xa9\xc3\xa9") != NULL,
		  "the barcode is not named whole: %s", jstr(a, "error"));
	cr_expect_str_eq(jstr(a, "errno"), "EINVAL");
	json_decref(a);
	/* The same in raw UTF-8, and with the accent first. */
	a = ask("{\"op\":\"tape.create\",\"barcodes\":[\"FZ\xc3\xa9\xc3\xa9\xc3\xa9\"]}\n");
	expect_refusal(a, BARCODE_RULE);
	json_decref(a);
	a = ask("{\"op\":\"tape.create\",\"barcodes\":[\"\xc3\xa9"
		"ABCDE\"]}\n");
	expect_refusal(a, BARCODE_RULE);
	json_decref(a);
}

Test(ctl_answers, a_barcode_of_5000_accented_letters_is_refused_in_a_short_sentence)
{
	size_t n = 5000;
	char *line = malloc(64 + 2 * n);
	int off = sprintf(line, "{\"op\":\"tape.create\",\"barcodes\":[\"");
	for (size_t i = 0; i < n; i++)
		off += sprintf(line + off, "\xc3\xa9");
	sprintf(line + off, "\"]}\n");
	json_t *a = ask(line);
	expect_refusal(a, LENGTH_RULE);
	json_decref(a);
	free(line);
}

/* "fields" of tape.list and tape.create: each tape object holds the keys
 * asked for that it has, with the values the full answer gives, and no
 * other; a key that is not one of a tape's is refused by name
 * (docs/library.md). */
Test(ctl_answers, tape_list_fields_answers_those_keys_and_refuses_unknown_ones)
{
	json_t *a = ask("{\"op\":\"tape.create\",\"barcodes\":[\"FLD001L8\",\"CLN001L8\"]}\n");
	cr_assert(json_is_true(json_object_get(a, "ok")), "%s", jstr(a, "error"));
	json_decref(a);
	json_t *all = ask("{\"op\":\"tape.list\"}\n");
	json_t *some =
	    ask("{\"op\":\"tape.list\",\"fields\":[\"barcode\",\"cleaning_uses\",\"state\"]}\n");
	json_t *ta = json_object_get(all, "tapes"), *ts = json_object_get(some, "tapes");
	cr_assert_eq(json_array_size(ta), 2);
	cr_assert_eq(json_array_size(ts), 2);
	for (size_t i = 0; i < 2; i++) {
		json_t *f = json_array_get(ta, i), *o = json_array_get(ts, i);
		bool cleaning = json_object_get(f, "cleaning_uses") != NULL;
		cr_expect_eq(json_object_size(o), cleaning ? 3u : 2u, "keys of %s",
			     jstr(f, "barcode"));
		cr_expect_gt(json_object_size(f), 8u, "the full answer has every key");
		const char *k;
		json_t *v;
		json_object_foreach(o, k, v) cr_expect(json_equal(v, json_object_get(f, k)),
						       "%s of %s", k, jstr(f, "barcode"));
	}
	cr_expect_str_eq(jstr(json_array_get(ts, 0), "barcode"), "CLN001L8");
	json_decref(all);
	json_decref(some);
	a = ask("{\"op\":\"tape.list\",\"fields\":[]}\n");
	cr_expect_eq(json_object_size(json_array_get(json_object_get(a, "tapes"), 0)), 0u);
	json_decref(a);
	a = ask("{\"op\":\"tape.list\",\"fields\":[\"barcode\",\"colour\"]}\n");
	expect_refusal(a, "unknown field 'colour'");
	cr_expect_str_eq(jstr(a, "errno"), "EINVAL");
	json_decref(a);
	a = ask("{\"op\":\"tape.list\",\"fields\":\"barcode\"}\n");
	expect_refusal(a, "fields must be an array");
	json_decref(a);
	/* tape.create answers its new tapes with the same keys; a field it
	 * does not know refuses the request before any tape is made. */
	a = ask("{\"op\":\"tape.create\",\"prefix\":\"FLE\",\"count\":2,"
		"\"fields\":[\"barcode\",\"location\"]}\n");
	json_t *made = json_object_get(a, "tapes");
	cr_assert_eq(json_array_size(made), 2, "%s", jstr(a, "error"));
	for (size_t i = 0; i < 2; i++) {
		json_t *o = json_array_get(made, i);
		cr_expect_eq(json_object_size(o), 2u);
		cr_expect_str_eq(jstr(o, "location"), i ? "slot:4" : "slot:3");
	}
	cr_expect_str_eq(jstr(json_array_get(made, 0), "barcode"), "FLE001L8");
	json_decref(a);
	a = ask("{\"op\":\"tape.create\",\"barcodes\":[\"FLF001L8\"],\"fields\":[\"size\"]}\n");
	expect_refusal(a, "unknown field 'size'");
	json_decref(a);
	a = ask("{\"op\":\"tape.show\",\"barcode\":\"FLF001L8\"}\n");
	cr_expect_str_eq(jstr(a, "errno"), "ENOENT", "no tape made by the refused request");
	json_decref(a);
}

Test(ctl_answers, a_one_megabyte_request_is_answered)
{
	size_t n = 1000000;
	char *line = malloc(n + 64);
	int off = sprintf(line, "{\"op\":\"tape.create\",\"barcodes\":[\"");
	memset(line + off, 'A', n);
	strcpy(line + off + n, "\"]}\n");
	json_t *a = ask(line);
	expect_refusal(a, LENGTH_RULE);
	json_decref(a);
	free(line);
}

Test(ctl_answers, invalid_utf8_nul_and_broken_json_get_a_parse_error_answer)
{
	static const char *const lines[] = {
	    "{\"op\":\"tape.create\",\"barcodes\":[\"FZ\xff\xfe\"]}\n",
	    "{\"op\":\"tape.show\",\"barcode\":\"AB\xc3\"}\n",
	    "{\"op\":\"tape.show\",\"barcode\":\"\xed\xa0\x80\"}\n",
	    "{\"op\":\"hello\\u0000\"}\n",
	    "{\"op\":\"tape.show\",\"barcode\":\"\xc0\xaf\xc0\xaf\"}\n",
	    "\x1b[2J{\"op\n",
	    "[1,2,3]\n",
	};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		json_t *a = ask(lines[i]);
		expect_refusal(a, "malformed request");
		json_decref(a);
	}
	/* A NUL byte inside the line itself. */
	static const char nul[] = "{\"op\":\"he\0llo\"}\n";
	json_t *a = ask_n(nul, sizeof(nul) - 1);
	expect_refusal(a, "malformed request");
	json_decref(a);
}

Test(ctl_answers, strings_quoted_in_an_error_are_escaped_and_cut_between_characters)
{
	json_t *a = ask("{\"op\":\"\\u001b[2J\\u009b\\n\",\"barcode\":\"A\"}\n");
	expect_refusal(a, "unknown request");
	cr_expect(strstr(jstr(a, "error"), "\\x1b[2J\\u009b\\x0a") != NULL, "%s", jstr(a, "error"));
	json_decref(a);
	/* Unknown without a barcode is unknown, not "needs a barcode". */
	a = ask("{\"op\":\"\\u001b[2J\"}\n");
	expect_refusal(a, "unknown request");
	cr_expect(strstr(jstr(a, "error"), "\\x1b[2J") != NULL, "%s", jstr(a, "error"));
	json_decref(a);
	/* Long strings of two-byte characters, where a byte count would cut
	 * one in half. */
	char line[4096], acc[1024] = "";
	for (int i = 0; i < 300; i++)
		strcat(acc, "\xc3\xa9");
	snprintf(line, sizeof(line), "{\"op\":\"%s\",\"barcode\":\"A\"}\n", acc);
	a = ask(line);
	expect_refusal(a, "unknown request");
	json_decref(a);
	snprintf(line, sizeof(line), "{\"op\":\"%s\"}\n", acc);
	a = ask(line);
	expect_refusal(a, "unknown request");
	json_decref(a);
	a = ask("{\"op\":\"tape.archive\"}\n");
	expect_refusal(a, "needs a barcode");
	json_decref(a);
	snprintf(line, sizeof(line), "{\"op\":\"tape.show\",\"barcode\":\"X%s\"}\n", acc);
	a = ask(line);
	expect_refusal(a, "no tape");
	json_decref(a);
	snprintf(line, sizeof(line), "{\"op\":\"tape.list\",\"state\":\"X%s\"}\n", acc);
	a = ask(line);
	expect_refusal(a, "unknown state");
	json_decref(a);
	snprintf(line, sizeof(line), "{\"op\":\"tape.move\",\"barcode\":\"X%s\",\"to\":\"%s\"}\n",
		 acc, acc);
	a = ask(line);
	expect_refusal(a, "");
	json_decref(a);
}

Test(ctl_answers, a_request_longer_than_the_limit_is_refused_and_the_next_one_served)
{
	size_t n = 2 * CTL_MAX_REQUEST;
	char *junk = malloc(n + 1);
	memset(junk, 'x', n);
	junk[n] = '\n';
	int fd = ctl_connect(false);
	cr_assert(send_all(fd, junk, n + 1), "vtld closed the connection mid-request");
	cr_assert(send_all(fd, "{\"op\":\"hello\"}\n", 15));
	json_t *a = read_answer(fd);
	cr_assert_not_null(a, "no answer to a request of %zu bytes", n);
	expect_refusal(a, "longer than");
	json_decref(a);
	a = read_answer(fd);
	cr_assert_not_null(a, "no answer to the request after it");
	cr_expect(json_is_true(json_object_get(a, "ok")));
	cr_expect_eq(json_integer_value(json_object_get(a, "protocol")), CTL_PROTOCOL);
	json_decref(a);
	close(fd);
	free(junk);
}

Test(ctl_answers, a_last_line_without_newline_is_answered_at_end_of_input)
{
	int fd = ctl_connect(false);
	cr_assert(send_all(fd, "{\"op\":\"hello\"}", 14));
	shutdown(fd, SHUT_WR);
	json_t *a = read_answer(fd);
	cr_assert_not_null(a);
	cr_expect(json_is_true(json_object_get(a, "ok")));
	json_decref(a);
	close(fd);
}

/* ---- No client delays another ------------------------------------------- */

/* `vtlctl status` through the real binary, killed after GUARD_MS (exit
 * 124: it waited behind another client). */
static int vtlctl_status(char *out, size_t cap)
{
	const char *bin = getenv("VTLCTL") && *getenv("VTLCTL") ? getenv("VTLCTL") : "./vtlctl";
	char cmd[PATH_MAX * 2 + 64];
	snprintf(cmd, sizeof(cmd), "timeout %d %s --socket %s/vtld.sock status 2>&1",
		 GUARD_MS / 1000, bin, vtl.dir);
	FILE *f = popen(cmd, "r");
	cr_assert_not_null(f);
	size_t n = fread(out, 1, cap - 1, f);
	out[n] = '\0';
	int st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Whether vtld closed fd: EOF (or reset) within timeout_ms. */
static bool closed_within(int fd, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	if (poll(&p, 1, timeout_ms) != 1)
		return false;
	char b[64];
	ssize_t r = recv(fd, b, sizeof(b), MSG_DONTWAIT);
	return r == 0 || (r < 0 && errno == ECONNRESET);
}

Test(ctl_clients, silent_and_half_line_clients_neither_delay_vtlctl_nor_stay_for_long)
{
	enum { N = 6 };
	int silent[N], half[N];
	int64_t t0 = now_ms();
	for (int i = 0; i < N; i++) {
		silent[i] = ctl_connect(false);
		half[i] = ctl_connect(false);
		cr_assert(send_all(half[i], "{\"op\":\"hel", 10));
	}
	char out[4096];
	cr_assert_eq(vtlctl_status(out, sizeof(out)), 0, "vtlctl status: %s", out);
	json_t *a = ask("{\"op\":\"hello\"}\n");
	cr_expect(json_is_true(json_object_get(a, "ok")));
	json_decref(a);
	/* Half a line, then the rest: served like any request. */
	for (int i = 0; i < N / 2; i++) {
		cr_assert(send_all(half[i], "lo\"}\n", 5));
		a = read_answer(half[i]);
		cr_assert_not_null(a, "no answer to a request sent in two halves");
		cr_expect_eq(json_integer_value(json_object_get(a, "protocol")), CTL_PROTOCOL);
		json_decref(a);
	}
	/* The others are closed once idle for CTL_IDLE_MS, not before. */
	for (int i = 0; i < 2 * N; i++) {
		int fd = i < N ? silent[i] : half[i - N];
		if (i >= N && i - N < N / 2)
			continue;
		cr_expect(closed_within(fd, CTL_IDLE_MS + GUARD_MS), "client %d not closed", i);
		cr_expect_geq(now_ms() - t0, CTL_IDLE_MS - 50, "client %d closed early", i);
	}
	for (int i = 0; i < N; i++) {
		close(silent[i]);
		close(half[i]);
	}
	cr_expect(vp_alive(&vtl));
}

Test(ctl_clients, more_silent_clients_than_the_limit_do_not_lock_out_vtlctl)
{
	enum { N = 3 * CTL_MAX_CLIENTS };
	int fd[N], n = 0;
	for (int64_t end = now_ms() + 2000; n < N && now_ms() < end;) {
		int f = ctl_connect(true);
		if (f < 0)
			usleep(1000); /* vtld's backlog is full for now */
		else
			fd[n++] = f;
	}
	char out[4096];
	cr_assert_eq(vtlctl_status(out, sizeof(out)), 0, "vtlctl status: %s", out);
	/* The clients idle longest made room: no more than the limit stay. */
	int open = 0;
	for (int i = 0; i < n; i++)
		open += !closed_within(fd[i], 0);
	cr_expect_eq(n, N, "only %d of %d clients connected", n, N);
	cr_expect_leq(open, CTL_MAX_CLIENTS, "%d clients still connected", open);
	for (int i = 0; i < n; i++)
		close(fd[i]);
}

Test(ctl_clients, a_client_that_does_not_read_its_answers_does_not_block_vtlctl)
{
	/* Thousands of requests whose answers (a few KiB each) fill the
	 * socket both ways, and not one answer read. */
	int fd = ctl_connect(true);
	cr_assert_geq(fd, 0);
	static const char req[] = "{\"op\":\"library.show\"}\n";
	enum { LEN = sizeof(req) - 1, N = 4000 };
	char *buf = malloc(N * LEN);
	for (int i = 0; i < N; i++)
		memcpy(buf + i * LEN, req, LEN);
	size_t sent = 0;
	while (sent < N * LEN) {
		ssize_t w = send(fd, buf + sent, N * LEN - sent, MSG_NOSIGNAL);
		if (w > 0) {
			sent += (size_t)w;
			continue;
		}
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		if (w < 0 && errno != EAGAIN)
			break;
		if (poll(&p, 1, 200) != 1)
			break; /* vtld reads no more: its answers wait for us */
	}
	free(buf);
	cr_assert_geq(sent, 300u * LEN, "only %zu bytes of requests went out", sent);
	usleep(200000); /* let vtld fill its side */
	char out[4096];
	cr_assert_eq(vtlctl_status(out, sizeof(out)), 0, "vtlctl status: %s", out);
	close(fd);
}
