/*
 * fuzz_s3_response.c - the S3 backend (s3/store_s3.c) reading what a
 * server answers: the status, the headers (ETag, Content-Length,
 * x-amz-storage-class, x-amz-restore, Last-Modified, x-amz-version-id,
 * x-amz-object-lock-*...) and the XML body of listings, multipart answers,
 * Object Lock configurations and retentions, and errors, through the real store, libcurl
 * and SigV4 signing over HTTP on 127.0.0.1. The server is this harness: it
 * answers every request of the operation with the fuzzer's status, headers
 * and body. Nothing of ours is replaced; the server plays S3.
 *
 * Input:
 *   u8   operation (low 4 bits: list, list parts, list uploads, create
 *        upload, copy, complete upload, head, get, put, restore, copy part,
 *        delete, put part, abort upload, copy from, Object Lock; high bits:
 *        a variant; for Object Lock bits 4-5 pick the bucket check
 *        (GetObjectLockConfiguration, GetBucketVersioning), GetObjectRetention,
 *        PutObjectRetention or the delete of a version, whose refusal reads
 *        the version's retention)
 *   u16  status: < 200 picks one of the statuses S3 sends, 200..599 is
 *        itself, above that 200 + the value modulo 400
 *   u8   length of the header block, then the block: "Name: value" lines
 *        separated by '\n' (the harness adds Content-Length itself and
 *        leaves out framing headers, which would only desynchronise the
 *        connection)
 *   ...  the body
 * Retries are on (one, after 1 ms), so the answer is read twice when the
 * backend retries it.
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "s3/store.h"
#include "tests/fuzz/fuzz_util.h"

/* ---- The answering server ---------------------------------------------- */

static struct {
	pthread_mutex_t mu;
	int status;
	char headers[4096];
	size_t hlen;
	uint8_t *body;
	size_t blen;
} answer = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int listen_fd = -1;

static bool send_all(int fd, const void *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p = (const char *)p + w;
		n -= (size_t)w;
	}
	return true;
}

/* One request: its head into buf, its body read and dropped. */
static bool read_request(int fd, char *buf, size_t cap, bool *head)
{
	size_t len = 0;
	char *end = NULL;
	while (!end) {
		if (len + 1 >= cap)
			return false;
		ssize_t r = recv(fd, buf + len, cap - 1 - len, 0);
		if (r < 0 && errno == EINTR)
			continue; /* libFuzzer's timer signal */
		if (r <= 0)
			return false;
		len += (size_t)r;
		buf[len] = 0;
		end = strstr(buf, "\r\n\r\n");
	}
	size_t head_len = (size_t)(end + 4 - buf);
	*head = strncmp(buf, "HEAD ", 5) == 0;
	unsigned long long body = 0;
	for (char *l = strstr(buf, "\r\n"); l && l < end; l = strstr(l + 2, "\r\n"))
		if (!strncasecmp(l + 2, "content-length:", 15))
			body = strtoull(l + 17, NULL, 10);
	/* What came after the head belongs to the body (curl sends no second
	 * request before the answer to the first). */
	size_t have = len - head_len;
	while (have < body) {
		char sink[65536];
		size_t want = body - have < sizeof(sink) ? (size_t)(body - have) : sizeof(sink);
		ssize_t r = recv(fd, sink, want, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		have += (size_t)r;
	}
	return true;
}

static void *serve_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	static __thread char req[65536];
	bool head;
	while (read_request(fd, req, sizeof(req), &head)) {
		pthread_mutex_lock(&answer.mu);
		int st = answer.status;
		bool no_body = head || st == 204 || st == 304;
		size_t blen = st == 204 || st == 304 ? 0 : answer.blen;
		char top[256];
		int n = snprintf(top, sizeof(top), "HTTP/1.1 %d Fuzz\r\n", st);
		char tail[64];
		int t = snprintf(tail, sizeof(tail), "Content-Length: %zu\r\n\r\n", blen);
		size_t total = (size_t)n + answer.hlen + (size_t)t + (no_body ? 0 : blen);
		char *out = malloc(total);
		if (out) {
			memcpy(out, top, (size_t)n);
			memcpy(out + n, answer.headers, answer.hlen);
			memcpy(out + (size_t)n + answer.hlen, tail, (size_t)t);
			if (!no_body && blen)
				memcpy(out + (size_t)n + answer.hlen + (size_t)t, answer.body,
				       blen);
		}
		pthread_mutex_unlock(&answer.mu);
		bool ok = out && send_all(fd, out, total);
		free(out);
		if (!ok)
			break;
	}
	close(fd);
	return NULL;
}

static void *acceptor(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return NULL;
		}
		pthread_t th;
		pthread_attr_t a;
		pthread_attr_init(&a);
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&th, &a, serve_conn, (void *)(intptr_t)fd))
			close(fd);
		pthread_attr_destroy(&a);
	}
}

static uint16_t start_server(void)
{
	listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t sl = sizeof(sa);
	if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(listen_fd, 64) || getsockname(listen_fd, (struct sockaddr *)&sa, &sl))
		fz_die("cannot listen on 127.0.0.1: %s", strerror(errno));
	pthread_t th;
	if (pthread_create(&th, NULL, acceptor, NULL))
		fz_die("cannot start the server thread");
	pthread_detach(th);
	return ntohs(sa.sin_port);
}

/* ---- The store --------------------------------------------------------- */

static struct store *st;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	char endpoint[64];
	snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%u", start_server());
	struct store_s3_config c = {
	    .bucket = "fuzz-bucket",
	    .endpoint = endpoint,
	    .region = "us-east-1",
	    .addressing = STORE_S3_PATH,
	    .access_key = "AKIDFUZZEXAMPLE",
	    .secret_key = "fuzzsecretkeyfuzzsecretkeyfuzzsecret",
	    .max_retries = 1,
	    .retry_base_ms = 1,
	    .retry_max_ms = 1,
	    .connect_timeout_ms = 2000,
	    .timeout_ms = 10000,
	    .low_speed_secs = 5,
	};
	struct store_err err;
	if (store_s3_open(&c, &st, &err))
		fz_die("store_s3_open: %s", err.msg);
	/* One good exchange first, so that every input meets a backend that
	 * has already talked to its server, whatever ran before it (libcurl
	 * state that outlives a transfer is how the use-after-free of
	 * corpus/s3_response/regress-folded-first-header happened). */
	answer.status = 200;
	struct store_object_info info;
	if (store_head(st, "warm-up", &info, &err))
		fz_die("the first request to the harness failed: %s", err.msg);
	return 0;
}

static const int statuses[] = {200, 200, 200, 206, 204, 301, 307, 400,
			       403, 404, 409, 412, 416, 500, 501, 503};

static void set_answer(struct fz_in *in)
{
	uint16_t raw = fz_u16(in);
	int status = raw < 200	 ? statuses[raw % (sizeof(statuses) / sizeof(statuses[0]))]
		     : raw < 600 ? raw
				 : 200 + raw % 400;
	size_t hgot;
	const uint8_t *h = fz_bytes(in, fz_u8(in), &hgot);
	pthread_mutex_lock(&answer.mu);
	answer.status = status;
	/* The header block, one "\r\n" line per '\n', framing headers left out. */
	answer.hlen = 0;
	for (size_t i = 0; i < hgot;) {
		const uint8_t *nl = memchr(h + i, '\n', hgot - i);
		size_t n = nl ? (size_t)(nl - (h + i)) : hgot - i;
		char line[300];
		size_t m = 0;
		for (size_t k = 0; k < n && m < sizeof(line) - 1; k++)
			if (h[i + k] != '\r' && h[i + k] != 0)
				line[m++] = (char)h[i + k];
		line[m] = 0;
		bool framing = !strncasecmp(line, "content-length", 14) ||
			       !strncasecmp(line, "transfer-encoding", 17) ||
			       !strncasecmp(line, "connection", 10);
		if (m && !framing && answer.hlen + m + 2 <= sizeof(answer.headers)) {
			memcpy(answer.headers + answer.hlen, line, m);
			memcpy(answer.headers + answer.hlen + m, "\r\n", 2);
			answer.hlen += m + 2;
		}
		i += n + 1;
	}
	free(answer.body);
	answer.blen = in->n;
	answer.body = malloc(in->n ? in->n : 1);
	if (!answer.body)
		fz_die("out of memory");
	memcpy(answer.body, in->p, in->n);
	pthread_mutex_unlock(&answer.mu);
	in->p += in->n;
	in->n = 0;
}

/* ---- Operations -------------------------------------------------------- */

static size_t seen;

static int on_entry(void *arg, const struct store_list_entry *e)
{
	(void)arg;
	seen += strlen(e->key);
	if (e->etag)
		seen += strlen(e->etag);
	if (e->storage_class)
		seen += strlen(e->storage_class);
	return 0;
}

static int on_part(void *arg, const struct store_part *p)
{
	(void)arg;
	seen += strlen(p->etag);
	return 0;
}

static int on_upload(void *arg, const struct store_upload *u)
{
	(void)arg;
	seen += strlen(u->key) + strlen(u->upload_id);
	return 0;
}

static void check_info(const struct store_object_info *i)
{
	if (!memchr(i->etag, 0, sizeof(i->etag)) ||
	    !memchr(i->storage_class, 0, sizeof(i->storage_class)) ||
	    !memchr(i->restore, 0, sizeof(i->restore)) ||
	    !memchr(i->version_id, 0, sizeof(i->version_id)) ||
	    (unsigned)i->retention.mode > STORE_LOCK_COMPLIANCE)
		abort();
}

static void check_err(int rc, const struct store_err *e)
{
	if (rc > 0)
		abort(); /* 0 or a negative errno */
	if (rc && (!memchr(e->msg, 0, sizeof(e->msg)) || !memchr(e->code, 0, sizeof(e->code)) ||
		   !memchr(e->request_id, 0, sizeof(e->request_id))))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = {data, size};
	uint8_t op = fz_u8(&in);
	set_answer(&in);
	struct store_err err;
	memset(&err, 0, sizeof(err));
	char etag[STORE_ETAG_MAX] = "", id[STORE_UPLOAD_ID_MAX] = "";
	struct store_object_info info;
	memset(&info, 0, sizeof(info));
	const char *key = "tapes/FZA001L8/seg/0000000000000001";
	int rc = 0;
	switch (op & 15) {
	case 0: {
		struct store_list_opts lo = {.prefix = "tapes/",
					     .delimiter = op & 16 ? "/" : NULL,
					     .start_after = op & 32 ? "tapes/A" : NULL,
					     .page_size = op & 64 ? 2 : 0};
		rc = store_list(st, &lo, on_entry, NULL, &err);
		break;
	}
	case 1:
		rc = store_mpu_list_parts(st, key, "upload-1", on_part, NULL, &err);
		break;
	case 2:
		rc = store_mpu_list(st, op & 16 ? "tapes/" : "", on_upload, NULL, &err);
		break;
	case 3:
		rc = store_mpu_create(st, key, NULL, id, &err);
		if (!rc && !memchr(id, 0, sizeof(id)))
			abort();
		break;
	case 4:
		rc = store_copy(st, key, "tapes/FZA001L8/copy", op & 16 ? "GLACIER" : NULL, etag,
				&err);
		break;
	case 5: {
		struct store_part parts[2] = {
		    {1, STORE_PART_MIN, "0123456789abcdef0123456789abcdef"},
		    {2, 100, "fedcba9876543210fedcba9876543210"}};
		rc = store_mpu_complete(st, key, "upload-1", parts, op & 16 ? 1 : 2, etag, &err);
		break;
	}
	case 6:
		rc = store_head(st, key, &info, &err);
		check_info(&info);
		break;
	case 7: {
		size_t len = (size_t)(op >> 4) * 37 + 1, got = 0;
		uint8_t *buf = malloc(len);
		if (!buf)
			fz_die("out of memory");
		rc = store_get(st, key, op & 128 ? 0 : 5, len, buf, &got, &info, &err);
		if (!rc && got > len)
			abort();
		check_info(&info);
		free(buf);
		break;
	}
	case 8:
		rc = store_put(st, key, "data", 4, NULL, etag, &err);
		break;
	case 9:
		rc = store_restore(st, key, 7, op & 16 ? "Bulk" : NULL, &err);
		break;
	case 10:
		rc = store_mpu_copy_part(st, key, "upload-1", 1, "tapes/FZA001L8/src", 0,
					 op & 16 ? 0 : 4096, etag, &err);
		break;
	case 11:
		rc = store_delete(st, key, &err);
		break;
	case 12:
		rc = store_mpu_put_part(st, key, "upload-1", 3, "part", 4, etag, &err);
		break;
	case 13:
		rc = store_mpu_abort(st, key, "upload-1", &err);
		break;
	case 14:
		rc = store_copy_from(st, st, key, "tapes/FZA001L8/other", NULL, etag, &err);
		break;
	default: {
		struct store_retention r = {STORE_LOCK_COMPLIANCE, (int64_t)time(NULL) + 86400};
		const char *vid = op & 64 ? "3sL4kqtJlcpXroDTDmJ-rmSpXd3dIbrH" : NULL;
		switch ((op >> 4) & 3) {
		case 0:
			rc = store_lock_check(st, &err);
			break;
		case 1:
			memset(&r, 0, sizeof(r));
			rc = store_get_retention(st, key, vid, &r, &err);
			if ((unsigned)r.mode > STORE_LOCK_COMPLIANCE ||
			    (r.mode == STORE_LOCK_NONE && r.until))
				abort();
			break;
		case 2:
			rc = store_set_retention(st, key, vid, &r, op & 128, &err);
			break;
		default:
			rc = store_delete_version(st, key, vid, op & 128, &err);
			break;
		}
		break;
	}
	}
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "operation %d: %d %s\n", op & 15, rc, rc ? err.msg : "");
	check_err(rc, &err);
	if (!memchr(etag, 0, sizeof(etag)))
		abort();
	return 0;
}
