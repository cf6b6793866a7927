/*
 * The S3 backend: the store interface over HTTP(S) with libcurl, requests
 * signed with AWS Signature Version 4 (s3/sigv4.c), responses read with the
 * small XML reader (s3/xml.c).
 *
 * Operations and their HTTP form are those of the Amazon S3 API Reference:
 * PutObject, GetObject (Range), HeadObject, DeleteObject, ListObjectsV2,
 * CopyObject, RestoreObject, CreateMultipartUpload, UploadPart,
 * UploadPartCopy, ListParts, CompleteMultipartUpload, AbortMultipartUpload,
 * ListMultipartUploads. CopyObject and UploadPartCopy also copy from another
 * bucket of the same service (store_copy_from).
 *
 * Reliability rules:
 *  - Every request is retried on connection errors, timeouts, HTTP 5xx and
 *    the S3 codes that mean "try again" (SlowDown, RequestTimeout,
 *    InternalError, BadDigest, XAmzContentSHA256Mismatch), with exponential
 *    backoff and full jitter ("Exponential Backoff And Jitter", AWS
 *    Architecture Blog). Each try is signed afresh.
 *  - Every body sent carries Content-MD5 and, unless UNSIGNED-PAYLOAD was
 *    asked for over TLS, its SHA-256 in the signature: a byte changed on the
 *    way is refused by the server (BadDigest) and the request is retried.
 *  - A GET that covers a whole single-part object is checked against the
 *    ETag (its MD5); other reads are checked by the caller (record CRC32C).
 *  - CopyObject, UploadPartCopy and CompleteMultipartUpload can fail with
 *    HTTP 200 and an <Error> body (S3 API Reference, CopyObject); the body
 *    is always checked.
 *  - Services that differ from AWS and must be survived (Ceph RGW among
 *    them): an empty <Message> in errors (the code and status are used),
 *    unquoted ETags, an empty ETag in the CompleteMultipartUpload answer
 *    (computed from the parts then), HTTP 501 for RestoreObject.
 *  - The secret key is used only to sign; it appears in no message.
 */
#include "config.h"

#include "s3/store.h"
#include "s3/sigv4.h"
#include "s3/xml.h"
#include "util/metrics.h"

#include <ctype.h>
#include <stddef.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <ini.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#define RESP_ERR_MAX  (64u << 10) /* an error body */
#define RESP_BODY_MAX (64u << 20) /* a listing page */
#define COPY_PART     (1ull << 30)

/*
 * What signs the requests and checks the server: the credentials and the
 * CA bundle. store_s3_reconfigure() replaces the set while requests run
 * (an operator fixed ca_bundle or a key), so each use takes the current
 * one (cred_of) and the sets it replaced stay until the store is closed:
 * a few hundred bytes per reconfiguration.
 */
struct s3_cred {
	char *access_key, *secret_key, *session_token, *ca_bundle;
	struct s3_cred *older;
};

struct s3_store {
	struct store base;
	char *bucket, *region, *scheme, *host;
	_Atomic(struct s3_cred *) cred;
	int virtual_host;
	int unsigned_payload;
	int get_md5_check;
	/* Server-side encryption (store_s3_config.sse): the KMS key id, and
	 * the SSE-C key and its MD5 as base64, as the headers carry them. */
	enum store_sse sse;
	char *kms_key_id;
	char ssec_key[48], ssec_md5[25];
	unsigned max_retries, retry_base_ms, retry_max_ms, connect_timeout_ms, timeout_ms,
	    low_speed_secs;
	pthread_mutex_t lock; /* the jitter state */
	uint64_t rng;
};

static struct s3_store *S(struct store *st)
{
	return (struct s3_store *)st;
}

static const struct s3_cred *cred_of(struct s3_store *s)
{
	return atomic_load_explicit(&s->cred, memory_order_acquire);
}

static void cred_free(struct s3_cred *c)
{
	while (c) {
		struct s3_cred *older = c->older;
		if (c->secret_key)
			memset(c->secret_key, 0, strlen(c->secret_key));
		free(c->access_key);
		free(c->secret_key);
		free(c->session_token);
		free(c->ca_bundle);
		free(c);
		c = older;
	}
}

/* --- small buffers ------------------------------------------------------- */

struct buf {
	char *p;
	size_t len, cap, max;
	int overflow;
};

static int buf_add(struct buf *b, const void *s, size_t n)
{
	if (b->len + n > b->max) {
		b->overflow = 1;
		return -1;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->overflow = 1;
			return -1;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
	return 0;
}

static int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int buf_printf(struct buf *b, const char *fmt, ...)
{
	char tmp[2048];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -1;
	return buf_add(b, tmp, (size_t)n);
}

/* --- one request --------------------------------------------------------- */

#define REQ_QUERY_MAX 8
#define REQ_HDR_MAX   20

struct req {
	const char *what;   /* "put", "get", ... for messages */
	const char *method; /* HTTP method */
	const char *key;    /* NULL: the bucket itself */
	struct sigv4_pair query[REQ_QUERY_MAX];
	size_t nquery;
	struct sigv4_pair hdr[REQ_HDR_MAX]; /* signed and sent */
	size_t nhdr;
	const void *body;
	size_t body_len;
	int error_in_200; /* 200 may carry <Error> */

	/* GET into a caller buffer */
	char *out;
	size_t out_cap;
	uint64_t out_skip; /* bytes to drop when a server ignored Range */
	int check_md5;

	/* response */
	long status;
	size_t out_len;
	struct buf resp;
	size_t upload_off; /* PUT read position */
	char etag[STORE_ETAG_MAX];
	char request_id[128];
	char storage_class[STORE_CLASS_MAX];
	char restore[160];
	char content_range[96];
	char last_modified[64];
	char version_id[STORE_VERSION_ID_MAX];
	char lock_mode[32];
	char lock_until[64];
	char sse[16], sse_kms_key_id[256], sse_c_alg[16], sse_c_md5[32];
	uint64_t content_length;
	int have_length;
};

static void req_query(struct req *r, const char *name, const char *value)
{
	if (r->nquery < REQ_QUERY_MAX)
		r->query[r->nquery++] = (struct sigv4_pair){name, value};
}

static void req_header(struct req *r, const char *name, const char *value)
{
	if (r->nhdr < REQ_HDR_MAX)
		r->hdr[r->nhdr++] = (struct sigv4_pair){name, value};
}

static void req_reset_response(struct req *r)
{
	r->status = 0;
	r->out_len = 0;
	r->resp.len = 0;
	r->resp.overflow = 0;
	if (r->resp.p)
		r->resp.p[0] = 0;
	r->upload_off = 0;
	r->etag[0] = r->request_id[0] = r->storage_class[0] = r->restore[0] = 0;
	r->content_range[0] = r->last_modified[0] = 0;
	r->version_id[0] = r->lock_mode[0] = r->lock_until[0] = 0;
	r->sse[0] = r->sse_kms_key_id[0] = r->sse_c_alg[0] = r->sse_c_md5[0] = 0;
	r->content_length = 0;
	r->have_length = 0;
}

static size_t on_read(char *dst, size_t size, size_t nmemb, void *arg)
{
	struct req *r = arg;
	size_t want = size * nmemb, left = r->body_len - r->upload_off;
	size_t n = want < left ? want : left;
	if (n)
		memcpy(dst, (const char *)r->body + r->upload_off, n);
	r->upload_off += n;
	return n;
}

static int on_seek(void *arg, curl_off_t off, int origin)
{
	struct req *r = arg;
	if (origin != SEEK_SET || off < 0 || (uint64_t)off > r->body_len)
		return CURL_SEEKFUNC_FAIL;
	r->upload_off = (size_t)off;
	return CURL_SEEKFUNC_OK;
}

struct write_ctx {
	struct req *r;
	CURL *h;
};

static size_t on_write(char *src, size_t size, size_t nmemb, void *arg)
{
	struct write_ctx *w = arg;
	struct req *r = w->r;
	size_t n = size * nmemb;
	long status = 0;
	curl_easy_getinfo(w->h, CURLINFO_RESPONSE_CODE, &status);
	if (!r->out || status >= 300) {
		if (!r->resp.max)
			r->resp.max = r->out ? RESP_ERR_MAX : RESP_BODY_MAX;
		return buf_add(&r->resp, src, n) ? 0 : n;
	}
	size_t take = n;
	if (status == 200 && r->out_skip) {
		/* The server sent the whole object: drop what precedes the range. */
		size_t drop = r->out_skip < take ? (size_t)r->out_skip : take;
		r->out_skip -= drop;
		src += drop;
		take -= drop;
	}
	size_t room = r->out_cap - r->out_len;
	if (take > room)
		take = room; /* a server that ignored Range: keep what was asked */
	memcpy(r->out + r->out_len, src, take);
	r->out_len += take;
	return n;
}

static void header_value(const char *line, size_t n, size_t namelen, char *out, size_t outsz)
{
	const char *v = line + namelen;
	size_t vn = n - namelen;
	while (vn && (*v == ' ' || *v == '\t')) {
		v++;
		vn--;
	}
	while (vn && (v[vn - 1] == '\r' || v[vn - 1] == '\n' || v[vn - 1] == ' '))
		vn--;
	if (vn >= outsz)
		vn = outsz - 1;
	memcpy(out, v, vn);
	out[vn] = 0;
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *arg)
{
	struct req *r = arg;
	size_t n = size * nmemb;
	if (n >= 5 && !strncmp(line, "HTTP/", 5)) {
		/* A new response (after 100 Continue or a redirect): forget the old. */
		r->etag[0] = r->request_id[0] = r->storage_class[0] = r->restore[0] = 0;
		r->content_range[0] = r->last_modified[0] = 0;
		r->version_id[0] = r->lock_mode[0] = r->lock_until[0] = 0;
		r->sse[0] = r->sse_kms_key_id[0] = r->sse_c_alg[0] = r->sse_c_md5[0] = 0;
		r->have_length = 0;
		return n;
	}
	static const struct {
		const char *name;
		size_t off, size;
	} fields[] = {
	    {"x-amz-request-id:", offsetof(struct req, request_id),
	     sizeof(((struct req *)0)->request_id)},
	    {"x-amz-storage-class:", offsetof(struct req, storage_class),
	     sizeof(((struct req *)0)->storage_class)},
	    {"x-amz-restore:", offsetof(struct req, restore), sizeof(((struct req *)0)->restore)},
	    {"content-range:", offsetof(struct req, content_range),
	     sizeof(((struct req *)0)->content_range)},
	    {"last-modified:", offsetof(struct req, last_modified),
	     sizeof(((struct req *)0)->last_modified)},
	    {"x-amz-version-id:", offsetof(struct req, version_id),
	     sizeof(((struct req *)0)->version_id)},
	    {"x-amz-object-lock-mode:", offsetof(struct req, lock_mode),
	     sizeof(((struct req *)0)->lock_mode)},
	    {"x-amz-object-lock-retain-until-date:", offsetof(struct req, lock_until),
	     sizeof(((struct req *)0)->lock_until)},
	    {"x-amz-server-side-encryption:", offsetof(struct req, sse),
	     sizeof(((struct req *)0)->sse)},
	    {"x-amz-server-side-encryption-aws-kms-key-id:", offsetof(struct req, sse_kms_key_id),
	     sizeof(((struct req *)0)->sse_kms_key_id)},
	    {"x-amz-server-side-encryption-customer-algorithm:", offsetof(struct req, sse_c_alg),
	     sizeof(((struct req *)0)->sse_c_alg)},
	    {"x-amz-server-side-encryption-customer-key-md5:", offsetof(struct req, sse_c_md5),
	     sizeof(((struct req *)0)->sse_c_md5)},
	};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		size_t nl = strlen(fields[i].name);
		if (n > nl && !strncasecmp(line, fields[i].name, nl)) {
			header_value(line, n, nl, (char *)r + fields[i].off, fields[i].size);
			return n;
		}
	}
	if (n > 5 && !strncasecmp(line, "etag:", 5)) {
		char v[STORE_ETAG_MAX + 8];
		header_value(line, n, 5, v, sizeof(v));
		store_etag_copy(r->etag, v, strlen(v));
	} else if (n > 15 && !strncasecmp(line, "content-length:", 15)) {
		char v[32];
		header_value(line, n, 15, v, sizeof(v));
		r->content_length = strtoull(v, NULL, 10);
		r->have_length = 1;
	}
	return n;
}

/* --- transfers ---------------------------------------------------------- */

/*
 * Every attempt gets an easy handle of its own; the connection it used stays
 * open in a multi handle of the calling thread, whose next request reuses it.
 * Easy handles are never reused: libcurl 7.88 (Debian 12) keeps a pointer to
 * the previous transfer's last header in the handle, and an answer whose first
 * header line starts with a space (an obsolete folded line, RFC 9112 5.2)
 * makes it unfold into freed memory. On a new handle the same answer is only
 * CURLE_BAD_FUNCTION_ARGUMENT (curl issues 11101 and 11620, fixed in 8.2.1).
 * A multi handle is used by one thread at a time, as libcurl requires, and
 * connections are not shared between threads, which libcurl does not support.
 */
static pthread_key_t multi_key;
static pthread_once_t multi_once = PTHREAD_ONCE_INIT;

static void multi_free(void *m)
{
	curl_multi_cleanup(m);
}

static void multi_key_init(void)
{
	pthread_key_create(&multi_key, multi_free);
}

static CURLM *thread_multi(void)
{
	pthread_once(&multi_once, multi_key_init);
	CURLM *m = pthread_getspecific(multi_key);
	if (!m && (m = curl_multi_init()) && pthread_setspecific(multi_key, m)) {
		curl_multi_cleanup(m);
		m = NULL;
	}
	return m;
}

/* curl_easy_perform(h), on the calling thread's multi handle. */
static CURLcode transfer(CURL *h)
{
	CURLM *m = thread_multi();
	if (!m)
		return CURLE_OUT_OF_MEMORY;
	if (curl_multi_add_handle(m, h) != CURLM_OK)
		return CURLE_FAILED_INIT;
	CURLMcode mc = CURLM_OK;
	int running = 1;
	while (running && mc == CURLM_OK) {
		mc = curl_multi_perform(m, &running);
		if (mc == CURLM_OK && running)
			mc = curl_multi_poll(m, NULL, 0, 1000, NULL);
	}
	CURLcode rc = mc == CURLM_OUT_OF_MEMORY ? CURLE_OUT_OF_MEMORY : CURLE_FAILED_INIT;
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(m, &left)))
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == h)
			rc = msg->data.result;
	curl_multi_remove_handle(m, h);
	return rc;
}

static unsigned jitter(struct s3_store *s, unsigned max)
{
	pthread_mutex_lock(&s->lock);
	s->rng ^= s->rng << 13;
	s->rng ^= s->rng >> 7;
	s->rng ^= s->rng << 17;
	uint64_t x = s->rng;
	pthread_mutex_unlock(&s->lock);
	return max ? (unsigned)(x % (max + 1u)) : 0;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* --- errors -------------------------------------------------------------- */

static int code_errno(long status, const char *code)
{
	static const struct {
		const char *code;
		int err;
	} map[] = {
	    {"NoSuchKey", ENOENT},
	    {"NoSuchUpload", ENOENT},
	    {"NoSuchBucket", ENOENT},
	    {"NotFound", ENOENT},
	    {"AccessDenied", EACCES},
	    {"SignatureDoesNotMatch", EACCES},
	    {"InvalidAccessKeyId", EACCES},
	    {"InvalidToken", EACCES},
	    {"ExpiredToken", EACCES},
	    {"InvalidRange", ERANGE},
	    {"InvalidPart", EINVAL},
	    {"InvalidPartOrder", EINVAL},
	    {"EntityTooSmall", EINVAL},
	    {"EntityTooLarge", EFBIG},
	    {"InvalidArgument", EINVAL},
	    {"InvalidStorageClass", EINVAL},
	    {"MalformedXML", EINVAL},
	    {"InvalidRequest", EINVAL},
	    {"InvalidBucketName", EINVAL},
	    {"InvalidObjectState", EAGAIN},
	    {"RestoreAlreadyInProgress", EINPROGRESS},
	    {"NotImplemented", EOPNOTSUPP},
	    {"BadDigest", EBADMSG},
	    {"XAmzContentSHA256Mismatch", EBADMSG},
	    {"InvalidDigest", EBADMSG},
	    {"BucketAlreadyOwnedByYou", EEXIST},
	    {"BucketAlreadyExists", EEXIST},
	    {"QuotaExceeded", EDQUOT},
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(code, map[i].code))
			return -map[i].err;
	switch (status) {
	case 404:
		return -ENOENT;
	case 403:
		return -EACCES;
	case 416:
		return -ERANGE;
	case 501:
		return -EOPNOTSUPP;
	}
	return -EIO;
}

/* A code for a response with no body (HEAD) or an empty <Code>. */
static const char *status_code(long status)
{
	switch (status) {
	case 400:
		return "BadRequest";
	case 403:
		return "AccessDenied";
	case 404:
		return "NotFound";
	case 409:
		return "Conflict";
	case 416:
		return "InvalidRange";
	case 500:
		return "InternalError";
	case 501:
		return "NotImplemented";
	case 503:
		return "ServiceUnavailable";
	}
	return "HTTPError";
}

static int retryable_code(const char *code)
{
	static const char *const codes[] = {
	    "SlowDown",		  "RequestTimeout",	 "InternalError",
	    "ServiceUnavailable", "BadDigest",		 "XAmzContentSHA256Mismatch",
	    "Throttling",	  "ThrottlingException", "RequestTimeTooSkewed",
	    "OperationAborted",	  "IncompleteBody",
	};
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (!strcmp(code, codes[i]))
			return 1;
	return 0;
}

static int retryable_curl(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_WEIRD_SERVER_REPLY:
		return 1;
	default:
		return 0;
	}
}

static int curl_errno(CURLcode c)
{
	switch (c) {
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
		return -EHOSTUNREACH;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
		return -ECONNRESET;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_CONNECT_ERROR:
		return -EPROTO;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

/* The server's certificate (or the CA bundle to check it with) is the
 * problem: retrying cannot help, a person must fix the configuration. */
static int tls_failure(CURLcode c)
{
	switch (c) {
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		return 1;
	default:
		return 0;
	}
}

/* "s3://bucket/key" for messages. */
static void object_name(struct s3_store *s, const struct req *r, char *out, size_t outsz)
{
	snprintf(out, outsz, "s3://%s/%s", s->bucket, r->key ? r->key : "");
}

/* --- building, signing and sending --------------------------------------- */

static char *url_path(struct s3_store *s, const char *key)
{
	/* Unencoded path; sigv4 and the URL both encode it the same way. */
	size_t n = strlen(s->bucket) + (key ? strlen(key) : 0) + 4;
	char *p = malloc(n);
	if (!p)
		return NULL;
	if (s->virtual_host)
		snprintf(p, n, "/%s", key ? key : "");
	else
		snprintf(p, n, "/%s%s%s", s->bucket, key ? "/" : "", key ? key : "");
	return p;
}

struct prepared {
	char *url;
	struct curl_slist *headers;
	char host[300];
};

static int prepare(struct s3_store *s, struct req *r, struct prepared *pr)
{
	memset(pr, 0, sizeof(*pr));
	char amz_date[17], payload[65];
	sigv4_amz_date(time(NULL), amz_date);
	if (s->unsigned_payload && !strcmp(s->scheme, "https") && r->body_len)
		snprintf(payload, sizeof(payload), "%s", SIGV4_UNSIGNED);
	else
		sigv4_sha256_hex(r->body ? r->body : "", r->body_len, payload);
	if (s->virtual_host)
		snprintf(pr->host, sizeof(pr->host), "%s.%s", s->bucket, s->host);
	else
		snprintf(pr->host, sizeof(pr->host), "%s", s->host);

	struct sigv4_pair h[REQ_HDR_MAX + 4];
	size_t nh = 0;
	h[nh++] = (struct sigv4_pair){"host", pr->host};
	h[nh++] = (struct sigv4_pair){"x-amz-date", amz_date};
	h[nh++] = (struct sigv4_pair){"x-amz-content-sha256", payload};
	const struct s3_cred *cred = cred_of(s);
	if (cred->session_token)
		h[nh++] = (struct sigv4_pair){"x-amz-security-token", cred->session_token};
	for (size_t i = 0; i < r->nhdr; i++)
		h[nh++] = r->hdr[i];

	char *path = url_path(s, r->key);
	char *query = sigv4_canonical_query(r->query, r->nquery);
	size_t plen = path ? 3 * strlen(path) + 1 : 0;
	char *epath = path ? malloc(plen) : NULL;
	int rc = -ENOMEM;
	if (!path || !query || !epath)
		goto out;
	sigv4_uri_encode(path, strlen(path), 1, epath, plen);

	struct sigv4_request sr = {
	    .method = r->method,
	    .path = path,
	    .query = r->query,
	    .nquery = r->nquery,
	    .headers = h,
	    .nheaders = nh,
	    .payload_hash = payload,
	};
	struct sigv4_key k = {cred->access_key, cred->secret_key, s->region, "s3"};
	char auth[1024];
	rc = sigv4_sign(&sr, &k, amz_date, auth, sizeof(auth), NULL);
	if (rc)
		goto out;

	size_t ulen = strlen(s->scheme) + strlen(pr->host) + strlen(epath) + strlen(query) + 8;
	pr->url = malloc(ulen);
	if (!pr->url) {
		rc = -ENOMEM;
		goto out;
	}
	snprintf(pr->url, ulen, "%s://%s%s%s%s", s->scheme, pr->host, epath, *query ? "?" : "",
		 query);

	struct buf line = {.max = 8192};
	struct curl_slist *list = NULL;
	for (size_t i = 0; i < nh; i++) {
		line.len = 0;
		buf_printf(&line, "%s: %s", h[i].name, h[i].value ? h[i].value : "");
		if (line.overflow)
			break;
		struct curl_slist *nl = curl_slist_append(list, line.p);
		if (!nl)
			break;
		list = nl;
	}
	line.len = 0;
	buf_printf(&line, "Authorization: %s", auth);
	struct curl_slist *nl = line.overflow ? NULL : curl_slist_append(list, line.p);
	free(line.p);
	if (!nl) {
		curl_slist_free_all(list);
		rc = -ENOMEM;
		goto out;
	}
	list = nl;
	/* No "Expect: 100-continue" round trip; no default Content-Type. */
	list = curl_slist_append(list, "Expect:");
	list = curl_slist_append(list, "Accept:");
	if (!r->body_len && strcmp(r->method, "GET") && strcmp(r->method, "HEAD"))
		list = curl_slist_append(list, "Content-Type:");
	pr->headers = list;
	rc = list ? 0 : -ENOMEM;
out:
	free(path);
	free(query);
	free(epath);
	return rc;
}

static void setup_handle(struct s3_store *s, CURL *h, struct req *r, struct prepared *pr,
			 struct write_ctx *w)
{
	curl_easy_setopt(h, CURLOPT_URL, pr->url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, pr->headers);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)s->connect_timeout_ms);
	if (s->timeout_ms)
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)s->timeout_ms);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)s->low_speed_secs);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	const char *ca = cred_of(s)->ca_bundle;
	if (ca)
		curl_easy_setopt(h, CURLOPT_CAINFO, ca);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	w->r = r;
	w->h = h;
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, w);
	if (!strcmp(r->method, "GET")) {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	} else if (!strcmp(r->method, "HEAD")) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (!strcmp(r->method, "PUT")) {
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(h, CURLOPT_READDATA, r);
		curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(h, CURLOPT_SEEKDATA, r);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
	} else if (!strcmp(r->method, "POST")) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body ? r->body : "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
	} else {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
	}
}

/* Is the body a whole single-part object whose MD5 must equal the ETag? */
static int md5_mismatch(const struct req *r)
{
	if (!r->check_md5 || strlen(r->etag) != 32)
		return 0;
	uint64_t first = 0, last = 0, total = 0;
	if (r->status == 206) {
		if (sscanf(r->content_range, "bytes %" SCNu64 "-%" SCNu64 "/%" SCNu64, &first,
			   &last, &total) != 3 ||
		    first != 0 || last + 1 != total || r->out_len != total)
			return 0;
	} else if (r->status != 200 || (r->have_length && r->out_len != r->content_length)) {
		return 0;
	}
	for (const char *c = r->etag; *c; c++)
		if (!isxdigit((unsigned char)*c))
			return 0;
	char md5[33];
	store_md5_hex(r->out, r->out_len, md5);
	return strcasecmp(md5, r->etag) != 0;
}

/* Send r with retries. 0 for a 2xx answer, else a negative errno with err
 * filled. */
static int perform(struct s3_store *s, struct req *r, struct store_err *err)
{
	char name[STORE_KEY_MAX + 300];
	object_name(s, r, name, sizeof(name));
	int rc = -EIO;
	for (unsigned attempt = 0;; attempt++) {
		struct prepared pr;
		struct write_ctx w;
		req_reset_response(r);
		CURL *h = curl_easy_init();
		if (!h) {
			rc = store_set_err(err, -ENOMEM, 0, NULL, NULL, "%s %s: out of memory",
					   r->what, name);
			break;
		}
		rc = prepare(s, r, &pr);
		if (rc) {
			curl_easy_cleanup(h);
			store_set_err(err, rc, 0, NULL, NULL, "%s %s: cannot build the request: %s",
				      r->what, name, strerror(-rc));
			break;
		}
		setup_handle(s, h, r, &pr, &w);
		char cerr[CURL_ERROR_SIZE] = "";
		curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
		CURLcode c = transfer(h);
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
		curl_easy_cleanup(h);
		curl_slist_free_all(pr.headers);
		free(pr.url);

		int retry = 0;
		if (c != CURLE_OK) {
			rc = curl_errno(c);
			retry = retryable_curl(c);
			/* A certificate names its server and is checked against
			 * the CA bundle: say which of each. */
			char tls[PATH_MAX + 600] = "";
			if (tls_failure(c))
				snprintf(tls, sizeof(tls), "server %s://%s, CAs %s, ", s->scheme,
					 s->host,
					 cred_of(s)->ca_bundle ? cred_of(s)->ca_bundle
							       : "of the system");
			store_set_err(err, rc, 0, NULL, NULL, "%s %s: %s%s%s (%safter %u tries)",
				      r->what, name, curl_easy_strerror(c), cerr[0] ? ": " : "",
				      cerr, tls, attempt + 1);
			if (tls[0] && err)
				err->fault = STORE_FAULT_TLS;
		} else {
			struct xml_span doc = {r->resp.p ? r->resp.p : "",
					       r->resp.p ? r->resp.p + r->resp.len : ""};
			struct xml_span e;
			int body_error = r->status >= 200 && r->status < 300 && r->error_in_200 &&
					 xml_find(doc, "Error", &e);
			if (r->status >= 200 && r->status < 300 && !body_error) {
				if (md5_mismatch(r)) {
					rc = store_set_err(err, -EBADMSG, (int)r->status,
							   "BadDigest", r->request_id,
							   "%s %s: the data read does not match "
							   "its ETag %s (MD5); "
							   "corrupted on the way (after %u tries)",
							   r->what, name, r->etag, attempt + 1);
					retry = 1;
				} else {
					rc = 0;
					break;
				}
			} else {
				char code[64] = "", msg[256] = "", rid[128] = "";
				if (!xml_find(doc, "Error", &e))
					e = doc;
				xml_get(e, "Code", code, sizeof(code));
				int bare = !code[0];
				xml_get(e, "Message", msg, sizeof(msg));
				xml_get(e, "RequestId", rid, sizeof(rid));
				if (!code[0])
					snprintf(code, sizeof(code), "%s", status_code(r->status));
				if (!rid[0])
					snprintf(rid, sizeof(rid), "%s", r->request_id);
				long st = body_error ? 500 : r->status;
				rc = code_errno(st, code);
				retry = st >= 500 || retryable_code(code);
				/* A bare 500 without an error code (RGW's answer to an
				 * unknown upload id) is retried, but only twice. */
				if (bare && st == 500 && attempt >= 2)
					retry = 0;
				const char *hint = "";
				if (rc == -EACCES)
					hint = "; check the credentials for the access key id";
				store_set_err(err, rc, (int)r->status, code, rid,
					      "%s %s: %s (HTTP %ld)%s%s%s%s%s [request id %s]%s",
					      r->what, name, code, r->status, msg[0] ? ": " : "",
					      msg, rc == -EACCES ? " (key id " : "",
					      rc == -EACCES ? cred_of(s)->access_key : "",
					      rc == -EACCES ? ")" : "", rid[0] ? rid : "none",
					      hint);
			}
		}
		if (!retry || attempt >= s->max_retries)
			break;
		met_store_retry();
		uint64_t cap = (uint64_t)s->retry_base_ms << (attempt < 20 ? attempt : 20);
		if (cap > s->retry_max_ms)
			cap = s->retry_max_ms;
		sleep_ms(jitter(s, (unsigned)cap));
	}
	return rc;
}

/* --- operations ---------------------------------------------------------- */

static void req_init(struct req *r, const char *what, const char *method, const char *key)
{
	memset(r, 0, sizeof(*r));
	r->what = what;
	r->method = method;
	r->key = key;
}

static void req_free(struct req *r)
{
	free(r->resp.p);
	r->resp.p = NULL;
}

static int64_t parse_http_date(const char *s)
{
	if (!*s)
		return 0;
	time_t t = curl_getdate(s, NULL);
	return t < 0 ? 0 : (int64_t)t;
}

static int64_t parse_iso_date(const char *s)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	if (!*s || !strptime(s, "%Y-%m-%dT%H:%M:%S", &tm))
		return 0;
	return (int64_t)timegm(&tm);
}

/* GOVERNANCE or COMPLIANCE as S3 spells them (RGW echoes what was sent,
 * so the case is not trusted); anything else is no retention. */
static void parse_retention(const char *mode, const char *until, struct store_retention *out)
{
	memset(out, 0, sizeof(*out));
	if (!strcasecmp(mode, "GOVERNANCE"))
		out->mode = STORE_LOCK_GOVERNANCE;
	else if (!strcasecmp(mode, "COMPLIANCE"))
		out->mode = STORE_LOCK_COMPLIANCE;
	else
		return;
	out->until = parse_iso_date(until);
	if (!out->until)
		out->mode = STORE_LOCK_NONE; /* a mode without a date locks nothing */
}

/* "2026-12-07T18:00:00Z" (ISO 8601, UTC), the form S3's
 * x-amz-object-lock-retain-until-date and <RetainUntilDate> take. */
static void iso_date(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Adds the Object Lock headers of a new object (PutObject, CopyObject,
 * CreateMultipartUpload) to r; `date` holds the date's text until r is sent. */
static void lock_headers(struct req *r, const struct store_put_opts *opts, char date[32])
{
	if (!opts || opts->retention.mode == STORE_LOCK_NONE)
		return;
	iso_date(opts->retention.until, date);
	req_header(r, "x-amz-object-lock-mode", store_lock_mode_name(opts->retention.mode));
	req_header(r, "x-amz-object-lock-retain-until-date", date);
}

static void fill_info(const struct req *r, struct store_object_info *info)
{
	memset(info, 0, sizeof(*info));
	snprintf(info->version_id, sizeof(info->version_id), "%s",
		 strcmp(r->version_id, "null") ? r->version_id : "");
	parse_retention(r->lock_mode, r->lock_until, &info->retention);
	snprintf(info->etag, sizeof(info->etag), "%s", r->etag);
	snprintf(info->storage_class, sizeof(info->storage_class), "%s",
		 r->storage_class[0] ? r->storage_class : "STANDARD");
	snprintf(info->restore, sizeof(info->restore), "%s", r->restore);
	snprintf(info->sse, sizeof(info->sse), "%s", r->sse_c_alg[0] ? "SSE-C" : r->sse);
	snprintf(info->sse_kms_key_id, sizeof(info->sse_kms_key_id), "%s", r->sse_kms_key_id);
	info->mtime = parse_http_date(r->last_modified);
	uint64_t a, b, total;
	if (r->content_range[0] &&
	    sscanf(r->content_range, "bytes %" SCNu64 "-%" SCNu64 "/%" SCNu64, &a, &b, &total) == 3)
		info->size = total;
	else
		info->size = r->content_length;
}

/* --- server-side encryption ----------------------------------------------
 * Amazon S3 User Guide, "Protecting data with server-side encryption"
 * (SSE-S3, SSE-KMS, SSE-C); the headers per operation are those of the S3
 * API Reference for PutObject, CreateMultipartUpload, UploadPart,
 * UploadPartCopy, GetObject and HeadObject. */

#define SSEC_HEADERS 3 /* algorithm, key, key MD5 */

/* The SSE-C key headers, added last (ssec_drop takes them off again);
 * copy_source: the ones that open the source of an UploadPartCopy. */
static void ssec_headers(struct s3_store *s, struct req *r, int copy_source)
{
	if (s->sse != STORE_SSE_C)
		return;
	if (copy_source) {
		req_header(r, "x-amz-copy-source-server-side-encryption-customer-algorithm",
			   "AES256");
		req_header(r, "x-amz-copy-source-server-side-encryption-customer-key", s->ssec_key);
		req_header(r, "x-amz-copy-source-server-side-encryption-customer-key-md5",
			   s->ssec_md5);
	} else {
		req_header(r, "x-amz-server-side-encryption-customer-algorithm", "AES256");
		req_header(r, "x-amz-server-side-encryption-customer-key", s->ssec_key);
		req_header(r, "x-amz-server-side-encryption-customer-key-md5", s->ssec_md5);
	}
}

/* The encryption headers of a request that makes a new object (PutObject,
 * CreateMultipartUpload). UploadPart carries only SSE-C's: the others are
 * the upload's. */
static void sse_new_headers(struct s3_store *s, struct req *r)
{
	switch (s->sse) {
	case STORE_SSE_S3:
		req_header(r, "x-amz-server-side-encryption", "AES256");
		break;
	case STORE_SSE_KMS:
		req_header(r, "x-amz-server-side-encryption", "aws:kms");
		if (s->kms_key_id)
			req_header(r, "x-amz-server-side-encryption-aws-kms-key-id", s->kms_key_id);
		break;
	case STORE_SSE_C:
		ssec_headers(s, r, 0);
		break;
	case STORE_SSE_NONE:
		break;
	}
}

/* Does the KMS key the service names match the one asked? AWS answers with
 * the key's ARN ("arn:aws:kms:REGION:ACCOUNT:key/ID") whether an ID, an ARN
 * or an alias was asked; an alias cannot be told from its key here. */
static int kms_key_matches(const char *asked, const char *said)
{
	if (!asked)
		return 1; /* the service's default key: whichever it is */
	if (strstr(asked, "alias/"))
		return 1;
	size_t a = strlen(asked), n = strlen(said);
	if (!strcmp(asked, said))
		return 1;
	return n > a && !strcmp(said + n - a, asked) &&
	       (said[n - a - 1] == '/' || said[n - a - 1] == ':');
}

/* A header value from the service, made printable for a message. */
static void printable(const char *in, char *out, size_t outsz)
{
	size_t j = 0;
	for (size_t i = 0; in[i] && j + 1 < outsz; i++)
		out[j++] = isprint((unsigned char)in[i]) ? in[i] : '?';
	out[j] = 0;
}

/* What the service said of an object's encryption, for a message. */
static void sse_said(const char *sse, const char *kms, const char *alg, const char *md5, char *out,
		     size_t outsz)
{
	char a[300], b[300];
	if (alg[0]) {
		printable(alg, a, sizeof(a));
		printable(md5, b, sizeof(b));
		snprintf(out, outsz, "SSE-C with %s under the key whose MD5 is %s", a,
			 b[0] ? b : "(not said)");
	} else if (sse[0]) {
		printable(sse, a, sizeof(a));
		printable(kms, b, sizeof(b));
		snprintf(out, outsz, "x-amz-server-side-encryption: %s%s%s", a,
			 b[0] ? " with KMS key " : "", b);
	} else {
		snprintf(out, outsz,
			 "no encryption at all (no x-amz-server-side-encryption "
			 "header): the object is stored in clear");
	}
}

/* What [store] asks, for a message. */
static void sse_asked(struct s3_store *s, char *out, size_t outsz)
{
	if (s->sse == STORE_SSE_KMS)
		snprintf(out, outsz, "aws:kms with KMS key %s",
			 s->kms_key_id ? s->kms_key_id : "(the service's default)");
	else if (s->sse == STORE_SSE_C)
		snprintf(out, outsz, "SSE-C under the key whose MD5 is %s", s->ssec_md5);
	else
		snprintf(out, outsz, "%s", store_sse_name(s->sse));
}

/* -EPROTO (a refusal: the same request fails the same way) naming what was
 * asked of which object and what the service said. */
static int sse_refused(struct s3_store *s, const char *what, const char *key, const char *said,
		       long status, const char *rid, struct store_err *err)
{
	char asked[200];
	sse_asked(s, asked, sizeof(asked));
	int rc = store_set_err(err, -EPROTO, (int)status, STORE_SSE_NOT_APPLIED, rid,
			       "%s s3://%s/%s: [store] asks server-side encryption %s, but the "
			       "service answered %s; it does not encrypt as asked, so vtl "
			       "writes no more there (what this request wrote is deleted): "
			       "choose an encryption this service implements "
			       "(docs/object-store.md, \"Server-side encryption\")",
			       what, s->bucket, key, asked, said);
	if (err)
		err->fault = STORE_FAULT_REFUSED;
	return rc;
}

/* Does the answer to r (a PutObject, CreateMultipartUpload or, with SSE-C,
 * UploadPart) say the encryption asked? 0, or sse_refused. */
static int sse_answered(struct s3_store *s, const struct req *r, struct store_err *err)
{
	int ok = 1;
	switch (s->sse) {
	case STORE_SSE_S3:
		ok = !strcmp(r->sse, "AES256");
		break;
	case STORE_SSE_KMS:
		ok = !strcmp(r->sse, "aws:kms") && (r->sse_kms_key_id[0] || !s->kms_key_id) &&
		     kms_key_matches(s->kms_key_id, r->sse_kms_key_id);
		break;
	case STORE_SSE_C:
		ok = !strcasecmp(r->sse_c_alg, "AES256") && !strcmp(r->sse_c_md5, s->ssec_md5);
		break;
	case STORE_SSE_NONE:
		break;
	}
	if (ok)
		return 0;
	char said[700];
	sse_said(r->sse, r->sse_kms_key_id, r->sse_c_alg, r->sse_c_md5, said, sizeof(said));
	return sse_refused(s, r->what, r->key, said, r->status, r->request_id, err);
}

/*
 * perform() for a GetObject or HeadObject. With SSE-C the key goes with
 * it; an object written before SSE-C was configured is in clear, and S3
 * refuses the key for it (HTTP 400), so the request is made once more
 * without the key, and its answer (the object, or the first refusal) is
 * kept.
 */
static int perform_read(struct s3_store *s, struct req *r, struct store_err *err)
{
	ssec_headers(s, r, 0);
	struct store_err own;
	if (!err)
		err = &own;
	int rc = perform(s, r, err);
	if (!rc || s->sse != STORE_SSE_C || err->http_status != 400)
		return rc;
	struct store_err first = *err;
	r->nhdr -= SSEC_HEADERS;
	rc = perform(s, r, err);
	if (rc)
		*err = first;
	return rc;
}

static int s3_del(struct store *st, const char *key, struct store_err *err);

static int s3_put(struct store *st, const char *key, const void *buf, size_t len,
		  const struct store_put_opts *opts, char *etag, struct store_err *err)
{
	struct s3_store *s = S(st);
	struct req r;
	char md5[25];
	req_init(&r, "put", "PUT", key);
	store_md5_base64(buf, len, md5);
	req_header(&r, "content-md5", md5);
	if (opts && opts->storage_class)
		req_header(&r, "x-amz-storage-class", opts->storage_class);
	char date[32];
	lock_headers(&r, opts, date);
	sse_new_headers(s, &r);
	r.body = buf;
	r.body_len = len;
	int rc = perform(s, &r, err);
	if (!rc && (rc = sse_answered(s, &r, err)))
		s3_del(st, key, NULL); /* not left in clear */
	if (!rc && opts && opts->version_id)
		snprintf(opts->version_id, STORE_VERSION_ID_MAX, "%s",
			 strcmp(r.version_id, "null") ? r.version_id : "");
	if (!rc) {
		if (r.etag[0])
			snprintf(etag, STORE_ETAG_MAX, "%s", r.etag);
		else
			store_md5_hex(buf, len, etag);
	}
	req_free(&r);
	return rc;
}

static int s3_head(struct store *st, const char *key, struct store_object_info *info,
		   struct store_err *err)
{
	struct req r;
	req_init(&r, "head", "HEAD", key);
	int rc = perform_read(S(st), &r, err);
	if (!rc)
		fill_info(&r, info);
	else if (rc == -ENOENT && err && !strcmp(err->code, "NotFound"))
		snprintf(err->code, sizeof(err->code), "NoSuchKey");
	req_free(&r);
	return rc;
}

static int s3_get(struct store *st, const char *key, uint64_t off, size_t len, void *buf,
		  size_t *got, struct store_object_info *info, struct store_err *err)
{
	struct s3_store *s = S(st);
	*got = 0;
	if (len == 0)
		return s3_head(st, key, info, err);
	struct req r;
	char range[64];
	req_init(&r, "get", "GET", key);
	snprintf(range, sizeof(range), "bytes=%" PRIu64 "-%" PRIu64, off, off + len - 1);
	req_header(&r, "range", range);
	r.out = buf;
	r.out_cap = len;
	r.out_skip = off;
	r.check_md5 = s->get_md5_check;
	int rc = perform_read(s, &r, err);
	if (rc == -ERANGE && off == 0) {
		/* An empty object has no byte 0: S3 answers InvalidRange. */
		req_free(&r);
		rc = s3_head(st, key, info, err);
		if (!rc && info->size != 0)
			rc = store_set_err(err, -EIO, 0, "InvalidRange", NULL,
					   "get s3://%s/%s: InvalidRange for byte 0 of a %" PRIu64
					   "-byte object",
					   s->bucket, key, info->size);
		return rc;
	}
	if (!rc) {
		fill_info(&r, info);
		*got = r.out_len;
	}
	req_free(&r);
	return rc;
}

static int s3_get_retention(struct store *st, const char *key, const char *version_id,
			    struct store_retention *out, struct store_err *err);

/*
 * A refusal of a delete (or of a retention change) that Object Lock made:
 * S3 answers AccessDenied (HTTP 403) "Access Denied because object
 * protected by object lock", radosgw AccessDenied "forbidden by object
 * lock", and some services InvalidRequest (HTTP 400) naming the lock.
 * AccessDenied alone also means wrong credentials, so the version's
 * retention is read to tell them apart. Returns -EPERM with err rewritten
 * to say which object, under what and until when; else rc unchanged.
 */
static int lock_refusal(struct s3_store *s, const char *what, const char *key,
			const char *version_id, int bypass, int rc, struct store_err *err)
{
	if ((rc != -EACCES && rc != -EINVAL) || !err)
		return rc;
	struct store_err inner = *err;
	if (strcmp(inner.code, "AccessDenied") && strcmp(inner.code, "InvalidRequest"))
		return rc;
	/* The server's words follow "(HTTP nnn)" (the key may say "lock" too).
	 * Only AccessDenied is taken on its words: InvalidRequest naming the
	 * lock is also how a bucket without Object Lock refuses retention. */
	char said[STORE_ERR_MSG_MAX] = "";
	const char *from = strstr(inner.msg, "(HTTP ");
	if (from) {
		snprintf(said, sizeof(said), "%s", from);
		said[strcspn(said, "[")] = 0; /* not the request id */
		char *key_id = strstr(said, " (key id ");
		if (key_id)
			*key_id = 0; /* nor the access key id */
	}
	int named = !strcmp(inner.code, "AccessDenied") && strcasestr(said, "lock");
	struct store_retention ret;
	struct store_err gerr;
	int active = !s3_get_retention(&s->base, key, version_id, &ret, &gerr) &&
		     ret.mode != STORE_LOCK_NONE && ret.until > (int64_t)time(NULL);
	if (!active && !named)
		return rc;
	char name[STORE_KEY_MAX + 400], until[32] = "";
	snprintf(name, sizeof(name), "s3://%s/%s%s%s", s->bucket, key,
		 version_id ? " version " : "", version_id ? version_id : "");
	const char *how = "";
	if (active && ret.mode == STORE_LOCK_COMPLIANCE)
		how = "; COMPLIANCE retention yields to nobody before that date";
	else if (active && !bypass)
		how = "; GOVERNANCE retention yields only to a request that bypasses it "
		      "(x-amz-bypass-governance-retention, with the s3:BypassGovernanceRetention "
		      "permission)";
	else if (active)
		how = "; the bypass of GOVERNANCE retention was refused: the access key needs "
		      "the s3:BypassGovernanceRetention permission";
	if (active)
		iso_date(ret.until, until);
	store_set_err(err, -EPERM, inner.http_status, inner.code, inner.request_id,
		      "%s %s: the object is under %s retention%s%s%s (%s, HTTP %d) "
		      "[request id %s]",
		      what, name, active ? store_lock_mode_name(ret.mode) : "Object Lock",
		      active ? " until " : "", until, how, inner.code, inner.http_status,
		      inner.request_id[0] ? inner.request_id : "none");
	err->fault = STORE_FAULT_REFUSED;
	return -EPERM;
}

static int s3_del_version(struct store *st, const char *key, const char *version_id, int bypass,
			  struct store_err *err)
{
	struct store_err own;
	if (!err)
		err = &own; /* the refusal is told apart by its code */
	struct req r;
	req_init(&r, "delete", "DELETE", key);
	if (version_id)
		req_query(&r, "versionId", version_id);
	if (bypass)
		req_header(&r, "x-amz-bypass-governance-retention", "true");
	int rc = perform(S(st), &r, err);
	req_free(&r);
	if (rc == -ENOENT && err &&
	    (!strcmp(err->code, "NoSuchKey") || !strcmp(err->code, "NoSuchVersion")))
		return 0;
	return lock_refusal(S(st), "delete", key, version_id, bypass, rc, err);
}

static int s3_del(struct store *st, const char *key, struct store_err *err)
{
	return s3_del_version(st, key, NULL, 0, err);
}

/* --- Object Lock ----------------------------------------------------------
 * Amazon S3 API Reference: GetObjectLockConfiguration, GetBucketVersioning,
 * PutObjectRetention, GetObjectRetention. */

static int s3_lock_check(struct store *st, struct store_err *err)
{
	struct s3_store *s = S(st);
	struct store_err own;
	if (!err)
		err = &own;
	struct req r;
	req_init(&r, "get object lock configuration", "GET", NULL);
	req_query(&r, "object-lock", "");
	int rc = perform(s, &r, err);
	char enabled[32] = "";
	if (!rc) {
		struct xml_span doc = {r.resp.p ? r.resp.p : "",
				       r.resp.p ? r.resp.p + r.resp.len : ""};
		struct xml_span conf;
		if (xml_find(doc, "ObjectLockConfiguration", &conf))
			xml_get(conf, "ObjectLockEnabled", enabled, sizeof(enabled));
	}
	req_free(&r);
	/* No configuration: S3's ObjectLockConfigurationNotFoundError (404);
	 * radosgw says the same, or InvalidRequest for a bucket without lock. */
	struct store_err answer = {0}; /* store_set_err clears err first */
	if (rc)
		answer = *err;
	else
		snprintf(answer.code, sizeof(answer.code), "ObjectLockConfigurationNotFoundError");
	int missing = !rc ? strcmp(enabled, "Enabled") != 0
			  : !strcmp(answer.code, "ObjectLockConfigurationNotFoundError") ||
				!strcmp(answer.code, "InvalidRequest") ||
				!strcmp(answer.code, "NotFound");
	if (rc && !missing)
		return rc;
	if (missing)
		return store_set_err(
		    err, -ENOLCK, answer.http_status, answer.code, answer.request_id,
		    "bucket %s has no Object Lock (ObjectLockEnabled is not "
		    "Enabled), so the store cannot keep objects from deletion; "
		    "create a bucket with it (aws s3api create-bucket --bucket NAME "
		    "--object-lock-enabled-for-bucket) and use that one, or, where "
		    "the service allows it on an existing versioned bucket (AWS; "
		    "not radosgw), aws s3api put-object-lock-configuration "
		    "--bucket %s --object-lock-configuration ObjectLockEnabled=Enabled",
		    s->bucket, s->bucket);
	req_init(&r, "get bucket versioning", "GET", NULL);
	req_query(&r, "versioning", "");
	rc = perform(s, &r, err);
	char status[32] = "";
	if (!rc) {
		struct xml_span doc = {r.resp.p ? r.resp.p : "",
				       r.resp.p ? r.resp.p + r.resp.len : ""};
		xml_get(doc, "Status", status, sizeof(status));
	}
	req_free(&r);
	if (rc)
		return rc;
	if (strcmp(status, "Enabled"))
		return store_set_err(
		    err, -ENOLCK, 0, "InvalidBucketState", NULL,
		    "bucket %s has Object Lock but its versioning is %s, not "
		    "Enabled; Object Lock protects versions only while versioning "
		    "is on: enable it (aws s3api put-bucket-versioning --bucket %s "
		    "--versioning-configuration Status=Enabled)",
		    s->bucket, status[0] ? status : "off", s->bucket);
	return 0;
}

static int s3_set_retention(struct store *st, const char *key, const char *version_id,
			    const struct store_retention *ret, int bypass, struct store_err *err)
{
	struct s3_store *s = S(st);
	struct store_err own;
	if (!err)
		err = &own;
	char body[256], md5[25], until[32];
	iso_date(ret->until, until);
	int n = snprintf(body, sizeof(body),
			 "<Retention xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
			 "<Mode>%s</Mode><RetainUntilDate>%s</RetainUntilDate></Retention>",
			 store_lock_mode_name(ret->mode), until);
	struct req r;
	req_init(&r, "set retention", "PUT", key);
	req_query(&r, "retention", "");
	if (version_id)
		req_query(&r, "versionId", version_id);
	/* S3 requires Content-MD5 on PutObjectRetention. */
	store_md5_base64(body, (size_t)n, md5);
	req_header(&r, "content-md5", md5);
	req_header(&r, "content-type", "application/xml");
	if (bypass)
		req_header(&r, "x-amz-bypass-governance-retention", "true");
	r.body = body;
	r.body_len = (size_t)n;
	int rc = perform(s, &r, err);
	req_free(&r);
	return lock_refusal(s, "set retention on", key, version_id, bypass, rc, err);
}

static int s3_get_retention(struct store *st, const char *key, const char *version_id,
			    struct store_retention *out, struct store_err *err)
{
	struct s3_store *s = S(st);
	struct store_err own;
	if (!err)
		err = &own;
	struct req r;
	memset(out, 0, sizeof(*out));
	req_init(&r, "get retention", "GET", key);
	req_query(&r, "retention", "");
	if (version_id)
		req_query(&r, "versionId", version_id);
	int rc = perform(s, &r, err);
	if (!rc) {
		struct xml_span doc = {r.resp.p ? r.resp.p : "",
				       r.resp.p ? r.resp.p + r.resp.len : ""};
		struct xml_span ret;
		char mode[32] = "", until[64] = "";
		if (xml_find(doc, "Retention", &ret)) {
			xml_get(ret, "Mode", mode, sizeof(mode));
			xml_get(ret, "RetainUntilDate", until, sizeof(until));
		}
		parse_retention(mode, until, out);
	}
	req_free(&r);
	/* A version without retention: NoSuchObjectLockConfiguration (S3) or
	 * ObjectLockConfigurationNotFoundError (radosgw), HTTP 404; a bucket
	 * without Object Lock: InvalidRequest (HTTP 400). Neither holds it. */
	if (rc && err &&
	    (!strcmp(err->code, "NoSuchObjectLockConfiguration") ||
	     !strcmp(err->code, "ObjectLockConfigurationNotFoundError") ||
	     !strcmp(err->code, "InvalidRequest")))
		rc = 0;
	return rc;
}

struct list_item {
	char *key;
	int is_prefix;
	uint64_t size;
	char etag[STORE_ETAG_MAX];
	char sc[STORE_CLASS_MAX];
	int64_t mtime;
};

/* A new item of a page's list, for key (NULL: no memory). */
static struct list_item *add_item(struct list_item **items, size_t *n, size_t *cap, const char *key)
{
	if (*n == *cap) {
		size_t ncap = *cap ? 2 * *cap : 64;
		struct list_item *ni = realloc(*items, ncap * sizeof(*ni));
		if (!ni)
			return NULL;
		*items = ni;
		*cap = ncap;
	}
	struct list_item *li = &(*items)[*n];
	memset(li, 0, sizeof(*li));
	li->key = strdup(key);
	if (!li->key)
		return NULL;
	(*n)++;
	return li;
}

static int cmp_item(const void *a, const void *b)
{
	return strcmp(((const struct list_item *)a)->key, ((const struct list_item *)b)->key);
}

/*
 * One page of a paginated listing (ListObjectsV2, ListParts,
 * ListMultipartUploads): r performed, *doc its body and *truncated its
 * IsTruncated. The caller frees r.
 */
static int list_page(struct s3_store *s, struct req *r, struct xml_span *doc, int *truncated,
		     struct store_err *err)
{
	int rc = perform(s, r, err);
	if (rc)
		return rc;
	doc->p = r->resp.p ? r->resp.p : "";
	doc->end = r->resp.p ? r->resp.p + r->resp.len : "";
	char flag[16] = "";
	xml_get(*doc, "IsTruncated", flag, sizeof(flag));
	*truncated = !strcmp(flag, "true");
	return 0;
}

/*
 * A truncated page names where the next one starts (`next`, element elem
 * of the answer): missing, or the marker the page was asked from (`prev`),
 * the listing would go round forever, as it did with some S3 services.
 * That is an error, not the end: a listing cut short would make the
 * orphan sweep or the catalog rebuild miss what it did not see.
 */
static int page_moves_on(const struct s3_store *s, const struct req *r, const char *elem,
			 const char *prev, const char *next, struct store_err *err)
{
	if (next[0] && strcmp(next, prev) != 0)
		return 0;
	return store_set_err(err, -EPROTO, (int)r->status, NULL, r->request_id,
			     "%s s3://%s: the answer says IsTruncated but its %s %s%s%s, so "
			     "the next page is not to be had; the listing stops incomplete",
			     r->what, s->bucket, elem, next[0] ? "repeats \"" : "is missing", next,
			     next[0] ? "\"" : "");
}

/* A truncated page's next marker (element elem) into marker (cap bytes),
 * checked to move on from the one the page was asked from. */
static int next_marker(const struct s3_store *s, const struct req *r, struct xml_span doc,
		       const char *elem, char *marker, size_t cap, struct store_err *err)
{
	char next[1024] = "";
	xml_get(doc, elem, next, cap < sizeof(next) ? cap : sizeof(next));
	int rc = page_moves_on(s, r, elem, marker, next, err);
	snprintf(marker, cap, "%s", next);
	return rc;
}

static int s3_list(struct store *st, struct store_list_opts *opts, store_list_cb cb, void *arg,
		   struct store_err *err)
{
	struct s3_store *s = S(st);
	char token[1024] = "", maxkeys[16];
	snprintf(maxkeys, sizeof(maxkeys), "%u", opts->page_size ? opts->page_size : 1000);
	int rc = 0, truncated = 1;
	while (truncated && !rc) {
		struct req r;
		req_init(&r, "list", "GET", NULL);
		req_query(&r, "list-type", "2");
		req_query(&r, "max-keys", maxkeys);
		if (opts->prefix && *opts->prefix)
			req_query(&r, "prefix", opts->prefix);
		if (opts->delimiter && *opts->delimiter)
			req_query(&r, "delimiter", opts->delimiter);
		if (token[0])
			req_query(&r, "continuation-token", token);
		else if (opts->start_after && *opts->start_after)
			req_query(&r, "start-after", opts->start_after);
		struct xml_span doc;
		rc = list_page(s, &r, &doc, &truncated, err);
		if (!rc && truncated)
			rc = next_marker(s, &r, doc, "NextContinuationToken", token, sizeof(token),
					 err);
		if (rc) {
			req_free(&r);
			break;
		}
		opts->pages++;
		/* Contents and CommonPrefixes, merged into key order. */
		struct list_item *items = NULL;
		size_t n = 0, cap = 0;
		const char *cur = NULL;
		struct xml_span it;
		char key[STORE_KEY_MAX * 6 + 1];
		while (!rc && xml_next(doc, &cur, "Contents", &it)) {
			if (xml_get(it, "Key", key, sizeof(key)) <= 0)
				continue;
			struct list_item *li = add_item(&items, &n, &cap, key);
			if (!li) {
				rc = -ENOMEM;
				break;
			}
			char v[64], etag[STORE_ETAG_MAX + 16];
			xml_get(it, "Size", v, sizeof(v));
			li->size = strtoull(v, NULL, 10);
			xml_get(it, "ETag", etag, sizeof(etag));
			store_etag_copy(li->etag, etag, strlen(etag));
			xml_get(it, "StorageClass", li->sc, sizeof(li->sc));
			if (!li->sc[0])
				snprintf(li->sc, sizeof(li->sc), "STANDARD");
			xml_get(it, "LastModified", v, sizeof(v));
			li->mtime = parse_iso_date(v);
		}
		cur = NULL;
		while (!rc && xml_next(doc, &cur, "CommonPrefixes", &it)) {
			if (xml_get(it, "Prefix", key, sizeof(key)) <= 0)
				continue;
			struct list_item *li = add_item(&items, &n, &cap, key);
			if (!li) {
				rc = -ENOMEM;
				break;
			}
			li->is_prefix = 1;
		}
		if (rc == -ENOMEM)
			store_set_err(err, rc, 0, NULL, NULL, "list s3://%s: out of memory",
				      s->bucket);
		if (!rc && n)
			qsort(items, n, sizeof(*items), cmp_item);
		for (size_t i = 0; i < n && !rc; i++) {
			struct store_list_entry e = {
			    .key = items[i].key,
			    .is_prefix = items[i].is_prefix,
			    .size = items[i].size,
			    .etag = items[i].is_prefix ? NULL : items[i].etag,
			    .storage_class = items[i].is_prefix ? NULL : items[i].sc,
			    .mtime = items[i].mtime,
			};
			rc = cb(arg, &e);
		}
		for (size_t i = 0; i < n; i++)
			free(items[i].key);
		free(items);
		req_free(&r);
	}
	return rc;
}

/*
 * ListObjectVersions (GET /?versions): Version and DeleteMarker entries,
 * the next page from NextKeyMarker and NextVersionIdMarker. A page that
 * names the pair it was asked from would go round forever: an error.
 */
static int s3_list_versions(struct store *st, const char *prefix, store_version_cb cb, void *arg,
			    struct store_err *err)
{
	struct s3_store *s = S(st);
	char kmark[STORE_KEY_MAX * 6 + 1] = "", vmark[STORE_VERSION_ID_MAX] = "";
	int rc = 0, truncated = 1;
	while (truncated && !rc) {
		struct req r;
		req_init(&r, "list versions", "GET", NULL);
		req_query(&r, "versions", "");
		if (*prefix)
			req_query(&r, "prefix", prefix);
		if (kmark[0]) {
			req_query(&r, "key-marker", kmark);
			if (vmark[0])
				req_query(&r, "version-id-marker", vmark);
		}
		struct xml_span doc;
		rc = list_page(s, &r, &doc, &truncated, err);
		if (!rc && truncated) {
			char nk[sizeof(kmark)] = "", nv[sizeof(vmark)] = "";
			xml_get(doc, "NextKeyMarker", nk, sizeof(nk));
			xml_get(doc, "NextVersionIdMarker", nv, sizeof(nv));
			if (!nk[0] || (!strcmp(nk, kmark) && !strcmp(nv, vmark)))
				rc = page_moves_on(s, &r, "NextKeyMarker", kmark,
						   nk[0] ? kmark : "", err);
			snprintf(kmark, sizeof(kmark), "%s", nk);
			snprintf(vmark, sizeof(vmark), "%s", nv);
		}
		static const char *const kinds[] = {"Version", "DeleteMarker"};
		for (int k = 0; k < 2 && !rc; k++) {
			const char *cur = NULL;
			struct xml_span it;
			while (!rc && xml_next(doc, &cur, kinds[k], &it)) {
				char key[STORE_KEY_MAX * 6 + 1], vid[STORE_VERSION_ID_MAX], v[64];
				if (xml_get(it, "Key", key, sizeof(key)) <= 0)
					continue;
				if (xml_get(it, "VersionId", vid, sizeof(vid)) <= 0)
					snprintf(vid, sizeof(vid), "null");
				xml_get(it, "IsLatest", v, sizeof(v));
				struct store_version_entry e = {.key = key,
								.version_id = vid,
								.delete_marker = k == 1,
								.latest = !strcmp(v, "true")};
				if (k == 0 && xml_get(it, "Size", v, sizeof(v)) > 0)
					e.size = strtoull(v, NULL, 10);
				rc = cb(arg, &e);
			}
		}
		req_free(&r);
	}
	return rc;
}

/* "/bucket/key", encoded, for x-amz-copy-source. */
static char *copy_source(const char *bucket, const char *src)
{
	size_t n = strlen(bucket) + strlen(src) + 3;
	char *raw = malloc(n), *enc = malloc(3 * n + 1);
	if (!raw || !enc) {
		free(raw);
		free(enc);
		return NULL;
	}
	snprintf(raw, n, "/%s/%s", bucket, src);
	sigv4_uri_encode(raw, strlen(raw), 1, enc, 3 * n + 1);
	free(raw);
	return enc;
}

static int etag_from_body(struct req *r, const char *elem, char *etag)
{
	struct xml_span doc = {r->resp.p ? r->resp.p : "",
			       r->resp.p ? r->resp.p + r->resp.len : ""};
	struct xml_span res;
	char v[STORE_ETAG_MAX + 16] = "";
	if (xml_find(doc, elem, &res))
		xml_get(res, "ETag", v, sizeof(v));
	store_etag_copy(etag, v, strlen(v));
	return etag[0] ? 0 : -1;
}

static int s3_mpu_create(struct store *st, const char *key, const struct store_put_opts *opts,
			 char *upload_id, struct store_err *err);
static int mpu_copy_part(struct s3_store *s, const char *key, const char *id, int number,
			 const char *src_bucket, const char *src, uint64_t off, uint64_t len,
			 char *etag, struct store_err *err);
static int s3_mpu_complete(struct store *st, const char *key, const char *id,
			   const struct store_part *parts, size_t nparts, char *etag,
			   struct store_err *err);
static int s3_mpu_abort(struct store *st, const char *key, const char *id, struct store_err *err);
static int s3_set_retention(struct store *st, const char *key, const char *version_id,
			    const struct store_retention *ret, int bypass, struct store_err *err);

/*
 * After a copy into dst: its version id into opts->version_id, and the
 * retention opts asks for on it. radosgw 16 (Debian 12) ignores the
 * x-amz-object-lock-* headers of CopyObject and CreateMultipartUpload (it
 * honours them on PutObject) and sends no x-amz-version-id with CopyObject,
 * so the new version is found by a HEAD and given its retention with
 * PutObjectRetention when it lacks it; on AWS the HEAD finds it there
 * already. `vid` is the version id the copy's answer gave, or "".
 */
static int copy_finish(struct store *st, const char *dst, const char *vid,
		       const struct store_put_opts *opts, struct store_err *err)
{
	if (opts->retention.mode == STORE_LOCK_NONE && !opts->version_id)
		return 0;
	struct store_object_info info;
	int rc = s3_head(st, dst, &info, err);
	if (rc)
		return rc;
	const char *v = vid[0] ? vid : info.version_id;
	if (opts->version_id)
		snprintf(opts->version_id, STORE_VERSION_ID_MAX, "%s", v);
	if (opts->retention.mode == STORE_LOCK_NONE ||
	    (info.retention.mode == opts->retention.mode &&
	     info.retention.until == opts->retention.until && !strcmp(info.version_id, v)))
		return 0;
	return s3_set_retention(st, dst, v[0] ? v : NULL, &opts->retention, 0, err);
}

/* CopyObject of more than 5 GiB: a multipart upload of UploadPartCopy parts
 * (S3 API Reference, CopyObject: "to copy an object greater than 5 GB, you
 * must use the multipart upload Upload Part - Copy API"). src is in
 * src_bucket, of the same service as st. */
static int copy_multipart(struct store *st, const char *src_bucket, const char *src,
			  const char *dst, const struct store_put_opts *opts, uint64_t size,
			  char *etag, struct store_err *err)
{
	char id[STORE_UPLOAD_ID_MAX];
	int rc = s3_mpu_create(st, dst, opts, id, err);
	if (rc)
		return rc;
	size_t nparts = (size_t)((size + COPY_PART - 1) / COPY_PART);
	if (!nparts)
		nparts = 1; /* an empty object: one empty part, copied whole */
	struct store_part *parts = calloc(nparts, sizeof(*parts));
	if (!parts)
		rc = store_set_err(err, -ENOMEM, 0, NULL, NULL, "copy %s: out of memory", src);
	for (size_t i = 0; i < nparts && !rc; i++) {
		uint64_t off = i * COPY_PART, len = size - off < COPY_PART ? size - off : COPY_PART;
		parts[i].number = (int)i + 1;
		parts[i].size = len;
		rc = mpu_copy_part(S(st), dst, id, (int)i + 1, src_bucket, src, off, len,
				   parts[i].etag, err);
	}
	if (!rc)
		rc = s3_mpu_complete(st, dst, id, parts, nparts, etag, err);
	if (rc)
		s3_mpu_abort(st, dst, id, NULL);
	free(parts);
	return rc ? rc : copy_finish(st, dst, "", opts, err);
}

/* src of bucket `from` to dst of s, server side; from is s for store_copy,
 * or another bucket of the same service. The HEAD goes to from. */
static int copy_object(struct s3_store *s, struct s3_store *from, const char *src, const char *dst,
		       const struct store_put_opts *opts, char *etag, struct store_err *err)
{
	const char *sc = opts->storage_class;
	struct store_object_info info;
	int rc = s3_head(&from->base, src, &info, err);
	if (rc)
		return rc;
	/* Under server-side encryption, UploadPartCopy: it carries the
	 * encryption of the copy (CreateMultipartUpload) and the SSE-C key of
	 * the source, and radosgw 16 implements it for encrypted sources,
	 * where it answers CopyObject with 501 NotImplemented (and ignores the
	 * encryption asked for a CopyObject's copy of a clear source). */
	if (info.size > STORE_PUT_MAX || s->sse != STORE_SSE_NONE)
		return copy_multipart(&s->base, from->bucket, src, dst, opts, info.size, etag, err);
	char *source = copy_source(from->bucket, src);
	if (!source)
		return store_set_err(err, -ENOMEM, 0, NULL, NULL, "copy %s: out of memory", src);
	struct req r;
	/* Across buckets store_copy_from names both objects before this. */
	req_init(&r, from == s ? "copy" : "CopyObject to", "PUT", dst);
	req_header(&r, "x-amz-copy-source", source);
	req_header(&r, "x-amz-metadata-directive", "COPY");
	req_header(&r, "x-amz-storage-class", sc ? sc : "STANDARD");
	char date[32];
	lock_headers(&r, opts, date);
	r.error_in_200 = 1;
	rc = perform(s, &r, err);
	if (!rc && etag_from_body(&r, "CopyObjectResult", etag))
		snprintf(etag, STORE_ETAG_MAX, "%s", info.etag);
	char vid[STORE_VERSION_ID_MAX];
	snprintf(vid, sizeof(vid), "%s", strcmp(r.version_id, "null") ? r.version_id : "");
	req_free(&r);
	free(source);
	return rc ? rc : copy_finish(&s->base, dst, vid, opts, err);
}

static int s3_copy(struct store *st, const char *src, const char *dst,
		   const struct store_put_opts *opts, char *etag, struct store_err *err)
{
	return copy_object(S(st), S(st), src, dst, opts, etag, err);
}

static const struct store_ops s3_ops;

/* Server side when both buckets are of one service seen with one identity:
 * the same scheme, host and port, and the same access key id (the request
 * is signed for st, and that key must be able to read from's bucket). The
 * addressing style may differ: x-amz-copy-source is "/bucket/key" in both. */
static int s3_copy_from(struct store *st, struct store *from, const char *src, const char *dst,
			const struct store_put_opts *opts, char *etag, struct store_err *err)
{
	if (from->ops != &s3_ops)
		return -EXDEV;
	struct s3_store *s = S(st), *f = S(from);
	if (strcmp(s->scheme, f->scheme) || strcasecmp(s->host, f->host) ||
	    strcmp(cred_of(s)->access_key, cred_of(f)->access_key))
		return -EXDEV;
	/* UploadPartCopy opens the source with st's SSE-C key: another key
	 * (or none) streams through this process instead. */
	if ((s->sse == STORE_SSE_C) != (f->sse == STORE_SSE_C) || strcmp(s->ssec_md5, f->ssec_md5))
		return -EXDEV;
	return copy_object(s, f, src, dst, opts, etag, err);
}

static int s3_restore(struct store *st, const char *key, int days, const char *tier,
		      struct store_err *err)
{
	struct s3_store *s = S(st);
	char body[256], md5[25];
	int n = snprintf(body, sizeof(body),
			 "<RestoreRequest xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
			 "<Days>%d</Days><GlacierJobParameters><Tier>%s</Tier>"
			 "</GlacierJobParameters></RestoreRequest>",
			 days, tier);
	struct req r;
	req_init(&r, "restore", "POST", key);
	req_query(&r, "restore", "");
	store_md5_base64(body, (size_t)n, md5);
	req_header(&r, "content-md5", md5);
	req_header(&r, "content-type", "application/xml");
	r.body = body;
	r.body_len = (size_t)n;
	int rc = perform(s, &r, err);
	req_free(&r);
	return rc;
}

static int s3_mpu_create(struct store *st, const char *key, const struct store_put_opts *opts,
			 char *upload_id, struct store_err *err)
{
	struct s3_store *s = S(st);
	struct req r;
	req_init(&r, "create multipart upload", "POST", key);
	req_query(&r, "uploads", "");
	if (opts && opts->storage_class)
		req_header(&r, "x-amz-storage-class", opts->storage_class);
	char date[32];
	lock_headers(&r, opts, date);
	sse_new_headers(s, &r);
	int rc = perform(s, &r, err);
	int sse_rc = rc ? 0 : sse_answered(s, &r, err);
	if (!rc) {
		struct xml_span doc = {r.resp.p ? r.resp.p : "",
				       r.resp.p ? r.resp.p + r.resp.len : ""};
		if (sse_rc) {
			/* No part is sent to an upload that would not be encrypted. */
			if (xml_get(doc, "UploadId", upload_id, STORE_UPLOAD_ID_MAX) > 0)
				s3_mpu_abort(st, key, upload_id, NULL);
			upload_id[0] = 0;
			rc = sse_rc;
		} else if (xml_get(doc, "UploadId", upload_id, STORE_UPLOAD_ID_MAX) <= 0)
			rc = store_set_err(err, -EPROTO, (int)r.status, NULL, r.request_id,
					   "create multipart upload s3://%s/%s: no UploadId in the "
					   "answer",
					   s->bucket, key);
	}
	req_free(&r);
	return rc;
}

static int s3_mpu_put_part(struct store *st, const char *key, const char *id, int number,
			   const void *buf, size_t len, char *etag, struct store_err *err)
{
	struct s3_store *s = S(st);
	struct req r;
	char md5[25], num[16], what[64];
	snprintf(num, sizeof(num), "%d", number);
	snprintf(what, sizeof(what), "upload part %d of", number);
	req_init(&r, what, "PUT", key);
	req_query(&r, "partNumber", num);
	req_query(&r, "uploadId", id);
	store_md5_base64(buf, len, md5);
	req_header(&r, "content-md5", md5);
	ssec_headers(s, &r, 0);
	r.body = buf;
	r.body_len = len;
	int rc = perform(s, &r, err);
	if (!rc && s->sse == STORE_SSE_C)
		rc = sse_answered(s, &r, err);
	if (!rc) {
		if (r.etag[0])
			snprintf(etag, STORE_ETAG_MAX, "%s", r.etag);
		else
			store_md5_hex(buf, len, etag);
	}
	req_free(&r);
	return rc;
}

static int mpu_copy_part(struct s3_store *s, const char *key, const char *id, int number,
			 const char *src_bucket, const char *src, uint64_t off, uint64_t len,
			 char *etag, struct store_err *err)
{
	char *source = copy_source(src_bucket, src);
	if (!source)
		return store_set_err(err, -ENOMEM, 0, NULL, NULL,
				     "copy part from %s: out of memory", src);
	struct req r;
	char num[16], range[64], what[64];
	snprintf(num, sizeof(num), "%d", number);
	snprintf(what, sizeof(what), "upload part copy %d of", number);
	req_init(&r, what, "PUT", key);
	req_query(&r, "partNumber", num);
	req_query(&r, "uploadId", id);
	req_header(&r, "x-amz-copy-source", source);
	if (len) {
		snprintf(range, sizeof(range), "bytes=%" PRIu64 "-%" PRIu64, off, off + len - 1);
		req_header(&r, "x-amz-copy-source-range", range);
	}
	ssec_headers(s, &r, 0);
	ssec_headers(s, &r, 1);
	r.error_in_200 = 1;
	int rc = perform(s, &r, err);
	if (!rc && etag_from_body(&r, "CopyPartResult", etag))
		rc = store_set_err(err, -EPROTO, (int)r.status, NULL, r.request_id,
				   "upload part copy %d of s3://%s/%s: no ETag in the answer",
				   number, s->bucket, key);
	req_free(&r);
	free(source);
	return rc;
}

static int s3_mpu_copy_part(struct store *st, const char *key, const char *id, int number,
			    const char *src, uint64_t off, uint64_t len, char *etag,
			    struct store_err *err)
{
	return mpu_copy_part(S(st), key, id, number, S(st)->bucket, src, off, len, etag, err);
}

static int s3_mpu_list_parts(struct store *st, const char *key, const char *id, store_part_cb cb,
			     void *arg, struct store_err *err)
{
	struct s3_store *s = S(st);
	char marker[16] = "";
	int rc = 0, truncated = 1;
	while (truncated && !rc) {
		struct req r;
		req_init(&r, "list parts", "GET", key);
		req_query(&r, "uploadId", id);
		req_query(&r, "max-parts", "1000");
		if (marker[0])
			req_query(&r, "part-number-marker", marker);
		struct xml_span doc;
		rc = list_page(s, &r, &doc, &truncated, err);
		if (!rc && truncated)
			rc = next_marker(s, &r, doc, "NextPartNumberMarker", marker, sizeof(marker),
					 err);
		if (rc) {
			req_free(&r);
			break;
		}
		const char *cur = NULL;
		struct xml_span it;
		while (!rc && xml_next(doc, &cur, "Part", &it)) {
			struct store_part p = {0};
			char v[64], etag[STORE_ETAG_MAX + 16];
			xml_get(it, "PartNumber", v, sizeof(v));
			p.number = atoi(v);
			xml_get(it, "Size", v, sizeof(v));
			p.size = strtoull(v, NULL, 10);
			xml_get(it, "ETag", etag, sizeof(etag));
			store_etag_copy(p.etag, etag, strlen(etag));
			rc = cb(arg, &p);
		}
		req_free(&r);
	}
	return rc;
}

static int s3_mpu_list_parts(struct store *st, const char *key, const char *id, store_part_cb cb,
			     void *arg, struct store_err *err);

static int no_parts(void *arg, const struct store_part *p)
{
	(void)arg;
	(void)p;
	return 1; /* one is enough: the upload exists */
}

/* CompleteMultipartUpload failed without a clear answer: a lost response to
 * a completion that happened (retried, RGW then says 500 "completion already
 * in progress"), or an upload that does not exist (RGW: 500 too). Find out
 * which: the object with the ETag these parts give means done; ListParts
 * saying the upload is gone means NoSuchUpload. */
static int complete_recover(struct store *st, const char *key, const char *id,
			    const struct store_part *parts, size_t nparts, char *etag, int rc,
			    struct store_err *err)
{
	struct s3_store *s = S(st);
	char want[STORE_ETAG_MAX];
	struct store_object_info info;
	if (!store_multipart_etag(parts, nparts, want) && !s3_head(st, key, &info, NULL) &&
	    !strcmp(info.etag, want)) {
		snprintf(etag, STORE_ETAG_MAX, "%s", want);
		return 0;
	}
	int lrc = s3_mpu_list_parts(st, key, id, no_parts, NULL, NULL);
	char rid[128] = "";
	int status = 0;
	if (err) {
		snprintf(rid, sizeof(rid), "%s", err->request_id);
		status = err->http_status;
	}
	if (lrc == -ENOENT)
		return store_set_err(
		    err, -ENOENT, status, "NoSuchUpload", rid,
		    "complete multipart upload s3://%s/%s: NoSuchUpload: upload %s "
		    "does not exist (aborted, or completed with other parts)",
		    s->bucket, key, id);
	return rc;
}

static int s3_mpu_complete(struct store *st, const char *key, const char *id,
			   const struct store_part *parts, size_t nparts, char *etag,
			   struct store_err *err)
{
	struct s3_store *s = S(st);
	struct buf body = {.max = 64u << 20};
	buf_printf(&body,
		   "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
	for (size_t i = 0; i < nparts; i++) {
		char e[STORE_ETAG_MAX], esc[STORE_ETAG_MAX * 6];
		store_etag_copy(e, parts[i].etag, strlen(parts[i].etag));
		xml_escape(e, esc, sizeof(esc));
		buf_printf(&body, "<Part><PartNumber>%d</PartNumber><ETag>\"%s\"</ETag></Part>",
			   parts[i].number, esc);
	}
	buf_printf(&body, "</CompleteMultipartUpload>");
	if (body.overflow) {
		free(body.p);
		return store_set_err(err, -ENOMEM, 0, NULL, NULL,
				     "complete multipart upload s3://%s/%s: out of memory",
				     s->bucket, key);
	}
	char md5[25];
	store_md5_base64(body.p, body.len, md5);
	struct req r;
	req_init(&r, "complete multipart upload", "POST", key);
	req_query(&r, "uploadId", id);
	req_header(&r, "content-md5", md5);
	req_header(&r, "content-type", "application/xml");
	r.body = body.p;
	r.body_len = body.len;
	r.error_in_200 = 1;
	int rc = perform(s, &r, err);
	if (rc && rc != -EINVAL && rc != -EACCES && rc != -ENOENT)
		rc = complete_recover(st, key, id, parts, nparts, etag, rc, err);
	else if (!rc && etag_from_body(&r, "CompleteMultipartUploadResult", etag)) {
		/* RGW answers with an empty ETag: compute S3's from the parts. */
		if (store_multipart_etag(parts, nparts, etag)) {
			struct store_object_info info;
			if (!s3_head(st, key, &info, NULL))
				snprintf(etag, STORE_ETAG_MAX, "%s", info.etag);
		}
	}
	req_free(&r);
	free(body.p);
	return rc;
}

static int s3_mpu_abort(struct store *st, const char *key, const char *id, struct store_err *err)
{
	struct req r;
	req_init(&r, "abort multipart upload", "DELETE", key);
	req_query(&r, "uploadId", id);
	int rc = perform(S(st), &r, err);
	req_free(&r);
	return rc;
}

static int s3_mpu_list(struct store *st, const char *prefix, store_upload_cb cb, void *arg,
		       struct store_err *err)
{
	struct s3_store *s = S(st);
	char key_marker[STORE_KEY_MAX * 6 + 1] = "", id_marker[STORE_UPLOAD_ID_MAX] = "";
	int rc = 0, truncated = 1;
	while (truncated && !rc) {
		struct req r;
		req_init(&r, "list multipart uploads", "GET", NULL);
		req_query(&r, "uploads", "");
		if (*prefix)
			req_query(&r, "prefix", prefix);
		if (key_marker[0])
			req_query(&r, "key-marker", key_marker);
		if (id_marker[0])
			req_query(&r, "upload-id-marker", id_marker);
		struct xml_span doc;
		rc = list_page(s, &r, &doc, &truncated, err);
		if (!rc && truncated) {
			/* The pair moves on: one key may have many uploads. */
			char prev[sizeof(key_marker) + sizeof(id_marker) + 2];
			char next[sizeof(prev)] = "";
			snprintf(prev, sizeof(prev), "%s %s", key_marker, id_marker);
			xml_get(doc, "NextKeyMarker", key_marker, sizeof(key_marker));
			xml_get(doc, "NextUploadIdMarker", id_marker, sizeof(id_marker));
			if (key_marker[0])
				snprintf(next, sizeof(next), "%s %s", key_marker, id_marker);
			rc = page_moves_on(s, &r, "NextKeyMarker+NextUploadIdMarker", prev, next,
					   err);
		}
		if (rc) {
			req_free(&r);
			break;
		}
		const char *cur = NULL;
		struct xml_span it;
		while (!rc && xml_next(doc, &cur, "Upload", &it)) {
			char key[STORE_KEY_MAX * 6 + 1], id[STORE_UPLOAD_ID_MAX], when[64];
			xml_get(it, "Key", key, sizeof(key));
			xml_get(it, "UploadId", id, sizeof(id));
			xml_get(it, "Initiated", when, sizeof(when));
			struct store_upload u = {
			    .key = key, .upload_id = id, .initiated = parse_iso_date(when)};
			rc = cb(arg, &u);
		}
		req_free(&r);
	}
	return rc;
}

static int create_bucket(struct store *st, int locked, struct store_err *err)
{
	struct s3_store *s = S(st);
	char body[256];
	int n = 0;
	if (strcmp(s->region, "us-east-1"))
		n = snprintf(body, sizeof(body),
			     "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/"
			     "2006-03-01/\"><LocationConstraint>%s</LocationConstraint>"
			     "</CreateBucketConfiguration>",
			     s->region);
	struct req r;
	req_init(&r, "create bucket", "PUT", NULL);
	if (locked)
		req_header(&r, "x-amz-bucket-object-lock-enabled", "true");
	r.body = n ? body : NULL;
	r.body_len = (size_t)n;
	int rc = perform(s, &r, err);
	req_free(&r);
	if (rc == -EEXIST && err && !strcmp(err->code, "BucketAlreadyOwnedByYou"))
		rc = 0;
	return rc;
}

int store_s3_create_bucket(struct store *st, struct store_err *err)
{
	return create_bucket(st, 0, err);
}

int store_s3_create_bucket_locked(struct store *st, struct store_err *err)
{
	/* An existing bucket of ours is no error to CreateBucket, so whether
	 * it has Object Lock is asked afterwards. */
	int rc = create_bucket(st, 1, err);
	return rc ? rc : s3_lock_check(st, err);
}

/* --- configuration and credentials --------------------------------------- */

struct profile_ctx {
	const char *want; /* profile name */
	int config_file;  /* sections are "profile NAME" except "default" */
	char *access_key, *secret_key, *session_token, *region;
};

static int on_ini(void *user, const char *section, const char *name, const char *value)
{
	struct profile_ctx *p = user;
	char sect[256];
	if (p->config_file && strcmp(p->want, "default"))
		snprintf(sect, sizeof(sect), "profile %s", p->want);
	else
		snprintf(sect, sizeof(sect), "%s", p->want);
	if (strcmp(section, sect))
		return 1;
	char **slot = NULL;
	if (!strcmp(name, "aws_access_key_id"))
		slot = &p->access_key;
	else if (!strcmp(name, "aws_secret_access_key"))
		slot = &p->secret_key;
	else if (!strcmp(name, "aws_session_token"))
		slot = &p->session_token;
	else if (!strcmp(name, "region"))
		slot = &p->region;
	if (slot && !*slot)
		*slot = strdup(value);
	return 1;
}

static void read_profile(struct profile_ctx *p, const char *env, const char *dflt, int config)
{
	char path[4096];
	const char *f = getenv(env);
	if (f && *f) {
		snprintf(path, sizeof(path), "%s", f);
	} else {
		const char *home = getenv("HOME");
		if (!home)
			return;
		snprintf(path, sizeof(path), "%s/%s", home, dflt);
	}
	p->config_file = config;
	ini_parse(path, on_ini, p); /* a missing file is no error */
}

static char *dup_or_null(const char *s)
{
	return s && *s ? strdup(s) : NULL;
}

/* store_sse_check: a probe put, a HEAD, with SSE-C a HEAD without the key;
 * the probe is deleted whatever the answer. */
static int s3_sse_check(struct store *st, const char *key, struct store_err *err)
{
	struct s3_store *s = S(st);
	if (s->sse == STORE_SSE_NONE)
		return 0;
	static const char probe[] = "vtl: a probe of the store's server-side encryption\n";
	char etag[STORE_ETAG_MAX];
	struct store_err own;
	if (!err)
		err = &own;
	int rc = s3_put(st, key, probe, sizeof(probe) - 1, NULL, etag, err);
	if (rc && strcmp(err->code, STORE_SSE_NOT_APPLIED))
		return rc; /* nothing was written, or the service cannot be reached */
	struct store_object_info info;
	if (!rc)
		rc = s3_head(st, key, &info, err);
	if (!rc) {
		int ok = s->sse == STORE_SSE_S3 ? !strcmp(info.sse, "AES256")
			 : s->sse == STORE_SSE_KMS
			     ? !strcmp(info.sse, "aws:kms") &&
				   kms_key_matches(s->kms_key_id, info.sse_kms_key_id)
			     : !strcmp(info.sse, "SSE-C");
		if (!ok) {
			char said[700];
			sse_said(strcmp(info.sse, "SSE-C") ? info.sse : "", info.sse_kms_key_id,
				 strcmp(info.sse, "SSE-C") ? "" : "AES256", "", said, sizeof(said));
			rc = sse_refused(s, "HEAD of", key, said, 200, "", err);
		}
	}
	if (!rc && s->sse == STORE_SSE_C) {
		/* Kept under the key, the object cannot even be HEADed without it. */
		struct req r;
		struct store_err herr;
		req_init(&r, "head without the SSE-C key", "HEAD", key);
		int hrc = perform(s, &r, &herr);
		req_free(&r);
		if (!hrc)
			rc = sse_refused(s, "HEAD without the key of", key,
					 "to a HEAD without the SSE-C key as to one with it",
					 r.status, r.request_id, err);
		else if (hrc != -EINVAL && hrc != -EACCES && hrc != -EIO)
			rc = store_set_err(err, hrc, herr.http_status, herr.code, herr.request_id,
					   "%s", herr.msg);
	}
	s3_del(st, key, NULL);
	return rc;
}

static int s3_etags_md5(const struct store *st)
{
	const struct s3_store *s = (const struct s3_store *)st;
	return s->sse != STORE_SSE_KMS && s->sse != STORE_SSE_C;
}

static void s3_where(struct store *st, const char *key, char *out, size_t outsz)
{
	snprintf(out, outsz, "s3://%s/%s", S(st)->bucket, key);
}

static void s3_close(struct store *st)
{
	struct s3_store *s = S(st);
	pthread_mutex_destroy(&s->lock);
	cred_free(atomic_load(&s->cred));
	free(s->bucket);
	free(s->region);
	free(s->scheme);
	free(s->host);
	free(s->kms_key_id);
	OPENSSL_cleanse(s->ssec_key, sizeof(s->ssec_key));
	free(s);
}

static const struct store_ops s3_ops = {
    .name = "s3",
    .put = s3_put,
    .get = s3_get,
    .head = s3_head,
    .del = s3_del,
    .list = s3_list,
    .copy = s3_copy,
    .copy_from = s3_copy_from,
    .restore = s3_restore,
    .mpu_create = s3_mpu_create,
    .mpu_put_part = s3_mpu_put_part,
    .mpu_copy_part = s3_mpu_copy_part,
    .mpu_list_parts = s3_mpu_list_parts,
    .mpu_complete = s3_mpu_complete,
    .mpu_abort = s3_mpu_abort,
    .mpu_list = s3_mpu_list,
    .lock_check = s3_lock_check,
    .set_retention = s3_set_retention,
    .get_retention = s3_get_retention,
    .del_version = s3_del_version,
    .list_versions = s3_list_versions,
    .sse_check = s3_sse_check,
    .etags_md5 = s3_etags_md5,
    .where = s3_where,
    .close = s3_close,
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int dns_bucket(const char *b)
{
	size_t n = strlen(b);
	if (n < 3 || n > 63)
		return 0;
	for (const char *c = b; *c; c++)
		if (!(islower((unsigned char)*c) || isdigit((unsigned char)*c) || *c == '-'))
			return 0;
	return 1;
}

/*
 * The credentials and CA bundle cfg gives: explicit keys, then the
 * environment, then the profile; and, when region is not NULL, the region
 * (the configuration, the environment, the profile, us-east-1).
 */
static int resolve(const struct store_s3_config *cfg, char **region, struct s3_cred **out,
		   struct store_err *err)
{
	struct s3_cred *c = calloc(1, sizeof(*c));
	if (!c)
		return store_set_err(err, -ENOMEM, 0, NULL, NULL, "s3 store: out of memory");
	const char *profile = cfg->profile ? cfg->profile : getenv("AWS_PROFILE");
	struct profile_ctx p = {.want = profile && *profile ? profile : "default"};
	read_profile(&p, "AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials", 0);
	read_profile(&p, "AWS_CONFIG_FILE", ".aws/config", 1);
	if (cfg->access_key && cfg->secret_key) {
		c->access_key = dup_or_null(cfg->access_key);
		c->secret_key = dup_or_null(cfg->secret_key);
		c->session_token = dup_or_null(cfg->session_token);
	} else if (getenv("AWS_ACCESS_KEY_ID") && getenv("AWS_SECRET_ACCESS_KEY")) {
		c->access_key = dup_or_null(getenv("AWS_ACCESS_KEY_ID"));
		c->secret_key = dup_or_null(getenv("AWS_SECRET_ACCESS_KEY"));
		c->session_token = dup_or_null(getenv("AWS_SESSION_TOKEN"));
	} else {
		c->access_key = dup_or_null(p.access_key);
		c->secret_key = dup_or_null(p.secret_key);
		c->session_token = dup_or_null(p.session_token);
	}
	c->ca_bundle = dup_or_null(cfg->ca_bundle);
	if (region) {
		const char *r = cfg->region;
		if (!r || !*r)
			r = getenv("AWS_REGION");
		if (!r || !*r)
			r = getenv("AWS_DEFAULT_REGION");
		if (!r || !*r)
			r = p.region;
		if (!r || !*r)
			r = "us-east-1";
		*region = strdup(r);
	}
	if (p.secret_key)
		memset(p.secret_key, 0, strlen(p.secret_key));
	free(p.access_key);
	free(p.secret_key);
	free(p.session_token);
	free(p.region);
	int rc = 0;
	if (!c->access_key || !c->secret_key)
		rc = store_set_err(
		    err, -EACCES, 0, "NoCredentials", NULL,
		    "s3 store for bucket %s: no credentials: set AWS_ACCESS_KEY_ID and "
		    "AWS_SECRET_ACCESS_KEY, or profile '%s' in ~/.aws/credentials, or "
		    "the keys in the configuration",
		    cfg->bucket, p.want);
	else if ((cfg->ca_bundle && !c->ca_bundle) || (region && !*region))
		rc = store_set_err(err, -ENOMEM, 0, NULL, NULL, "s3 store: out of memory");
	if (rc) {
		cred_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

int store_s3_reconfigure(struct store *st, const struct store_s3_config *cfg, struct store_err *err)
{
	if (st->ops != &s3_ops)
		return store_set_err(err, -EINVAL, 0, NULL, NULL,
				     "store_s3_reconfigure: not an s3 store");
	struct s3_store *s = S(st);
	struct s3_cred *c;
	int rc = resolve(cfg, NULL, &c, err);
	if (rc)
		return rc;
	/* The set it replaces may be in use: it is freed at close. */
	pthread_mutex_lock(&s->lock);
	c->older = atomic_load(&s->cred);
	atomic_store_explicit(&s->cred, c, memory_order_release);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

int store_s3_open(const struct store_s3_config *cfg, struct store **out, struct store_err *err)
{
	*out = NULL;
	if (!cfg || !cfg->bucket || !*cfg->bucket)
		return store_set_err(err, -EINVAL, 0, NULL, NULL, "s3 store: no bucket configured");
	pthread_once(&curl_once, curl_init_once);
	struct s3_store *s = calloc(1, sizeof(*s));
	if (!s)
		return store_set_err(err, -ENOMEM, 0, NULL, NULL, "s3 store: out of memory");
	s->base.ops = &s3_ops;
	pthread_mutex_init(&s->lock, NULL);
	s->rng = (uint64_t)time(NULL) ^ ((uint64_t)(uintptr_t)s << 16) ^ 0x9e3779b97f4a7c15ull;

	struct s3_cred *cred = NULL;
	int rc = resolve(cfg, &s->region, &cred, err);
	atomic_init(&s->cred, cred);
	if (rc)
		goto fail;

	/* Endpoint: scheme://host[:port] */
	char endpoint[512];
	if (cfg->endpoint && *cfg->endpoint)
		snprintf(endpoint, sizeof(endpoint), "%s", cfg->endpoint);
	else
		snprintf(endpoint, sizeof(endpoint), "https://s3.%s.amazonaws.com", s->region);
	char *sep = strstr(endpoint, "://");
	if (!sep || (strncmp(endpoint, "http://", 7) && strncmp(endpoint, "https://", 8))) {
		rc = store_set_err(err, -EINVAL, 0, NULL, NULL,
				   "s3 store: endpoint '%s' is not http://host[:port] or "
				   "https://host[:port]",
				   endpoint);
		goto fail;
	}
	*sep = 0;
	char *host = sep + 3;
	size_t hl = strlen(host);
	while (hl && host[hl - 1] == '/')
		host[--hl] = 0;
	if (!hl || strchr(host, '/')) {
		rc = store_set_err(err, -EINVAL, 0, NULL, NULL,
				   "s3 store: endpoint host '%s' is empty or has a path", host);
		goto fail;
	}
	s->scheme = strdup(endpoint);
	s->host = strdup(host);
	s->bucket = strdup(cfg->bucket);
	switch (cfg->addressing) {
	case STORE_S3_PATH:
		s->virtual_host = 0;
		break;
	case STORE_S3_VIRTUAL:
		s->virtual_host = 1;
		break;
	default: {
		size_t n = strlen(s->host ? s->host : "");
		s->virtual_host = n >= 14 && !strcmp(s->host + n - 14, ".amazonaws.com") &&
				  dns_bucket(cfg->bucket);
	}
	}
	s->unsigned_payload = cfg->unsigned_payload && !strcmp(s->scheme ? s->scheme : "", "https");
	s->get_md5_check = !cfg->no_get_md5_check;
	s->max_retries = cfg->max_retries ? cfg->max_retries : 6;
	s->retry_base_ms = cfg->retry_base_ms ? cfg->retry_base_ms : 100;
	s->retry_max_ms = cfg->retry_max_ms ? cfg->retry_max_ms : 10000;
	s->connect_timeout_ms = cfg->connect_timeout_ms ? cfg->connect_timeout_ms : 10000;
	s->timeout_ms = cfg->timeout_ms;
	s->low_speed_secs = cfg->low_speed_secs ? cfg->low_speed_secs : 30;
	s->sse = cfg->sse;
	if (cfg->sse == STORE_SSE_KMS && cfg->sse_kms_key_id && *cfg->sse_kms_key_id &&
	    !(s->kms_key_id = strdup(cfg->sse_kms_key_id))) {
		rc = store_set_err(err, -ENOMEM, 0, NULL, NULL, "s3 store: out of memory");
		goto fail;
	}
	if (cfg->sse == STORE_SSE_C) {
		if (!cfg->sse_c_key) {
			rc = store_set_err(err, -EINVAL, 0, NULL, NULL,
					   "s3 store for bucket %s: SSE-C without a key",
					   cfg->bucket);
			goto fail;
		}
		/* The key travels in a header of every request on the object:
		 * S3 refuses SSE-C over plain HTTP, and so does vtl before
		 * sending it (Amazon S3 User Guide, SSE-C: "you must use
		 * HTTPS"). */
		if (strcmp(s->scheme ? s->scheme : "", "https")) {
			rc = store_set_err(err, -EINVAL, 0, NULL, NULL,
					   "s3 store for bucket %s: SSE-C sends the key with every "
					   "request, so the endpoint must be https://, not %s://%s",
					   cfg->bucket, s->scheme ? s->scheme : "?",
					   s->host ? s->host : "?");
			goto fail;
		}
		EVP_EncodeBlock((unsigned char *)s->ssec_key, cfg->sse_c_key,
				STORE_SSE_C_KEY_BYTES);
		store_md5_base64(cfg->sse_c_key, STORE_SSE_C_KEY_BYTES, s->ssec_md5);
	}
	/* AWS's ETags of SSE-KMS and SSE-C objects are not their MD5. */
	if (cfg->sse == STORE_SSE_KMS || cfg->sse == STORE_SSE_C)
		s->get_md5_check = 0;
	if (!s->scheme || !s->host || !s->bucket || !s->region) {
		rc = store_set_err(err, -ENOMEM, 0, NULL, NULL, "s3 store: out of memory");
		goto fail;
	}
	*out = &s->base;
	return 0;
fail:
	s3_close(&s->base);
	return rc;
}
