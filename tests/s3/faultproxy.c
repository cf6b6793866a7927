/*
 * The fault-injecting proxy of the object-store tests (see faultproxy.h).
 * One thread accepts; one thread per connection relays both directions with
 * poll(2) and frames HTTP/1.1 messages just enough to find request starts
 * and body bytes. It binds 127.0.0.1 only. Response headers are held until
 * complete, so that one can be added (x-amz-restore of the archive flow).
 */
#include "config.h"

#include "tests/s3/faultproxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct faultproxy {
	int lfd, port, target_port;
	char target_host[64];
	pthread_t thread;
	atomic_int stop;
	atomic_int slowdown, drop, delay, delay_ms, corrupt_req, corrupt_resp, stuck;
	atomic_int requests, injected;
	atomic_int active; /* connection threads running */
	/* AWS's archive restore flow (faultproxy_archive). */
	pthread_mutex_t amu;
	char aprefix[512];
	int restore_ms;
	struct {
		char path[512];
		struct timespec asked;
	} akeys[256];
	int nakeys;
	atomic_int restores, refused;
	char restore_body[1024]; /* of the last RestoreObject, under amu */
};

enum { ST_HEADERS, ST_BODY, ST_RAW };

struct parser {
	int state;
	char hdr[32768];
	size_t hlen;
	uint64_t body_left;
	int corrupt; /* flip the first body byte of this message */
	/* A RestoreObject answered here: its body is kept, not relayed, and
	 * the answer (HTTP status hold) goes out once it is read. */
	int hold;
	char body[1024];
	size_t blen;
};

struct conn {
	struct faultproxy *p;
	int cfd, sfd;
	struct parser req, resp;
	char methods[64][8];  /* FIFO of request methods, for HEAD responses */
	char addhdr[64][192]; /* a header line to add to each response, or "" */
	int mhead, mtail;
	char out[65536 + 32768 + 1024]; /* a response chunk as relayed */
	size_t outn;
};

static int take(atomic_int *counter)
{
	int v = atomic_load(counter);
	while (v > 0)
		if (atomic_compare_exchange_weak(counter, &v, v - 1))
			return 1;
	return 0;
}

static int write_all(int fd, const char *buf, size_t n)
{
	while (n) {
		ssize_t w = send(fd, buf, n, MSG_NOSIGNAL);
		if (w <= 0)
			return -1;
		buf += w;
		n -= (size_t)w;
	}
	return 0;
}

static uint64_t header_u64(const char *hdr, const char *name, int *found)
{
	size_t nl = strlen(name);
	for (const char *l = strstr(hdr, "\r\n"); l; l = strstr(l + 2, "\r\n"))
		if (!strncasecmp(l + 2, name, nl)) {
			*found = 1;
			return strtoull(l + 2 + nl, NULL, 10);
		}
	*found = 0;
	return 0;
}

static int header_has(const char *hdr, const char *name, const char *value)
{
	size_t nl = strlen(name);
	for (const char *l = strstr(hdr, "\r\n"); l; l = strstr(l + 2, "\r\n"))
		if (!strncasecmp(l + 2, name, nl)) {
			const char *end = strstr(l + 2, "\r\n");
			const char *v = strcasestr(l + 2 + nl, value);
			return v && (!end || v < end);
		}
	return 0;
}

/* A_HOLD: relay nothing of this chunk, the message is answered here
 * once its body is read. */
enum action { A_NONE, A_CLOSE, A_HOLD };

static void send_slowdown(int cfd)
{
	const char *body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code>"
			   "<Message>Please reduce your request rate.</Message>"
			   "<RequestId>faultproxy</RequestId></Error>";
	char msg[512];
	int n = snprintf(msg, sizeof(msg),
			 "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
			 strlen(body), body);
	write_all(cfd, msg, (size_t)n);
}

/* An answer made here: status, reason and an XML body, then close. */
static void send_reply(int cfd, int status, const char *reason, const char *body)
{
	char msg[2048];
	int n = snprintf(msg, sizeof(msg),
			 "HTTP/1.1 %d %s\r\nContent-Type: application/xml\r\n"
			 "x-amz-request-id: faultproxy\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n%s",
			 status, reason, strlen(body), body);
	write_all(cfd, msg, (size_t)n);
}

static void send_answer(int cfd, int status, const char *reason, const char *code,
			const char *message)
{
	char body[512] = "";
	if (code)
		snprintf(body, sizeof(body),
			 "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>%s</Code>"
			 "<Message>%s</Message><RequestId>faultproxy</RequestId></Error>",
			 code, message);
	send_reply(cfd, status, reason, body);
}

/* A truncated page of the listing a GET asks for whose marker never moves
 * on (faultproxy_stuck_listing); 0 when the GET is no listing. */
static int stuck_page(const char *hdr, char *body, size_t cap)
{
	char method[8] = "", target[1024] = "";
	if (sscanf(hdr, "%7s %1023s", method, target) != 2 || strcmp(method, "GET"))
		return 0;
	const char *q = strchr(target, '?');
	if (!q)
		return 0;
	const char *head = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>";
	if (strstr(q, "list-type=2"))
		snprintf(body, cap,
			 "%s<ListBucketResult><IsTruncated>true</IsTruncated><KeyCount>0</KeyCount>"
			 "<NextContinuationToken>faultproxy-stuck</NextContinuationToken>"
			 "</ListBucketResult>",
			 head);
	else if (strstr(q, "uploadId="))
		snprintf(body, cap,
			 "%s<ListPartsResult><IsTruncated>true</IsTruncated>"
			 "<NextPartNumberMarker>7</NextPartNumberMarker></ListPartsResult>",
			 head);
	else if (!strncmp(q, "?uploads", 8) || strstr(q, "&uploads"))
		snprintf(body, cap,
			 "%s<ListMultipartUploadsResult><IsTruncated>true</IsTruncated>"
			 "<NextKeyMarker>faultproxy-stuck</NextKeyMarker>"
			 "<NextUploadIdMarker>1</NextUploadIdMarker></ListMultipartUploadsResult>",
			 head);
	else
		return 0;
	return 1;
}

static long ms_since(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)(now.tv_sec - t->tv_sec) * 1000L + (now.tv_nsec - t->tv_nsec) / 1000000L;
}

/* The restore state of an archived object: 0 none asked, 1 running, 2 done.
 * ask: record a RestoreObject now when none was asked. */
static int archive_state(struct faultproxy *p, const char *path, int ask)
{
	int st = 0, i;
	for (i = 0; i < p->nakeys; i++)
		if (!strcmp(p->akeys[i].path, path))
			break;
	if (i < p->nakeys)
		st = ms_since(&p->akeys[i].asked) >= p->restore_ms ? 2 : 1;
	else if (ask && p->nakeys < 256) {
		snprintf(p->akeys[i].path, sizeof(p->akeys[i].path), "%s", path);
		clock_gettime(CLOCK_MONOTONIC, &p->akeys[i].asked);
		p->nakeys++;
	}
	return st;
}

/* AWS's answers for an archived object (faultproxy_archive); A_CLOSE when
 * answered here, *add the header to add to the relayed response. */
static enum action archive_request(struct conn *c, const char *hdr, char *add, size_t addcap)
{
	struct faultproxy *p = c->p;
	char method[8] = "", target[1024] = "";
	enum action a = A_NONE;
	*add = 0;
	if (sscanf(hdr, "%7s %1023s", method, target) != 2)
		return A_NONE;
	char *query = strchr(target, '?');
	if (query)
		*query++ = 0;
	pthread_mutex_lock(&p->amu);
	if (!p->aprefix[0] || strncmp(target, p->aprefix, strlen(p->aprefix))) {
		pthread_mutex_unlock(&p->amu);
		return A_NONE;
	}
	if (!strcmp(method, "POST") && query && !strncmp(query, "restore", 7) &&
	    (query[7] == 0 || query[7] == '=' || query[7] == '&')) {
		int st = archive_state(p, target, 1);
		atomic_fetch_add(&p->restores, 1);
		c->req.hold = st == 0 ? 202 : st == 1 ? 409 : 200;
		c->req.blen = 0;
		a = A_HOLD;
	} else if (!strcmp(method, "GET") && archive_state(p, target, 0) != 2) {
		atomic_fetch_add(&p->refused, 1);
		send_answer(c->cfd, 403, "Forbidden", "InvalidObjectState",
			    "The operation is not valid for the object's storage class");
		a = A_CLOSE;
	} else if (!strcmp(method, "HEAD")) {
		int st = archive_state(p, target, 0);
		if (st == 1)
			snprintf(add, addcap, "x-amz-restore: ongoing-request=\"true\"\r\n");
		else if (st == 2) {
			time_t t = time(NULL) + 86400;
			struct tm tm;
			char date[64];
			gmtime_r(&t, &tm);
			strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
			snprintf(add, addcap,
				 "x-amz-restore: ongoing-request=\"false\", expiry-date=\"%s\"\r\n",
				 date);
		}
	}
	pthread_mutex_unlock(&p->amu);
	return a;
}

/* The answer to a RestoreObject whose body is read (see struct parser). */
static void restore_answer(struct conn *c)
{
	struct parser *ps = &c->req;
	pthread_mutex_lock(&c->p->amu);
	snprintf(c->p->restore_body, sizeof(c->p->restore_body), "%.*s", (int)ps->blen, ps->body);
	pthread_mutex_unlock(&c->p->amu);
	if (ps->hold == 202)
		send_answer(c->cfd, 202, "Accepted", NULL, NULL);
	else if (ps->hold == 409)
		send_answer(c->cfd, 409, "Conflict", "RestoreAlreadyInProgress",
			    "Object restore is already in progress");
	else
		send_answer(c->cfd, 200, "OK", NULL, NULL);
	ps->hold = 0;
}

/* Feed client->server bytes; may change them. */
static enum action feed_request(struct conn *c, char *buf, size_t n)
{
	struct parser *ps = &c->req;
	struct faultproxy *p = c->p;
	for (size_t i = 0; i < n;) {
		if (ps->state == ST_RAW)
			return ps->hold ? A_HOLD : A_NONE;
		if (ps->state == ST_BODY) {
			size_t k = n - i < ps->body_left ? n - i : (size_t)ps->body_left;
			if (k && ps->corrupt) {
				buf[i] ^= 0x20;
				ps->corrupt = 0;
				atomic_fetch_add(&p->injected, 1);
			}
			if (ps->hold) {
				size_t room = sizeof(ps->body) - ps->blen;
				memcpy(ps->body + ps->blen, buf + i, k < room ? k : room);
				ps->blen += k < room ? k : room;
			}
			i += k;
			ps->body_left -= k;
			if (!ps->body_left)
				ps->state = ST_HEADERS;
			if (!ps->body_left && ps->hold) {
				restore_answer(c);
				return A_CLOSE;
			}
			continue;
		}
		if (ps->hlen + 1 >= sizeof(ps->hdr)) {
			ps->state = ST_RAW;
			return A_NONE;
		}
		ps->hdr[ps->hlen++] = buf[i++];
		ps->hdr[ps->hlen] = 0;
		if (ps->hlen < 4 || memcmp(ps->hdr + ps->hlen - 4, "\r\n\r\n", 4))
			continue;
		/* A whole request header. */
		atomic_fetch_add(&p->requests, 1);
		int found;
		ps->body_left = header_u64(ps->hdr, "content-length:", &found);
		if (header_has(ps->hdr, "transfer-encoding:", "chunked"))
			ps->state = ST_RAW;
		else
			ps->state = ps->body_left ? ST_BODY : ST_HEADERS;
		char method[8] = "";
		sscanf(ps->hdr, "%7s", method);
		snprintf(c->methods[c->mtail % 64], 8, "%s", method);
		enum action aa =
		    archive_request(c, ps->hdr, c->addhdr[c->mtail % 64], sizeof(c->addhdr[0]));
		c->mtail++;
		ps->hlen = 0;
		if (aa == A_CLOSE) {
			atomic_fetch_add(&p->injected, 1);
			return A_CLOSE;
		}
		if (aa == A_HOLD) {
			atomic_fetch_add(&p->injected, 1);
			if (ps->state != ST_BODY) {
				restore_answer(c);
				return A_CLOSE;
			}
			continue; /* the body follows */
		}
		char page[1024];
		if (stuck_page(ps->hdr, page, sizeof(page)) && take(&p->stuck)) {
			atomic_fetch_add(&p->injected, 1);
			send_reply(c->cfd, 200, "OK", page);
			return A_CLOSE;
		}
		if (take(&p->slowdown)) {
			atomic_fetch_add(&p->injected, 1);
			send_slowdown(c->cfd);
			return A_CLOSE;
		}
		if (take(&p->drop)) {
			atomic_fetch_add(&p->injected, 1);
			return A_CLOSE;
		}
		if (take(&p->delay)) {
			atomic_fetch_add(&p->injected, 1);
			int ms = atomic_load(&p->delay_ms);
			struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
			nanosleep(&ts, NULL);
		}
		if (ps->state == ST_BODY && take(&p->corrupt_req))
			ps->corrupt = 1;
	}
	return ps->hold ? A_HOLD : A_NONE;
}

/* Feed server->client bytes into c->out (may change or add to them). */
static void feed_response(struct conn *c, const char *buf, size_t n)
{
	struct parser *ps = &c->resp;
	struct faultproxy *p = c->p;
	c->outn = 0;
	for (size_t i = 0; i < n;) {
		if (ps->state == ST_RAW) {
			memcpy(c->out + c->outn, buf + i, n - i);
			c->outn += n - i;
			return;
		}
		if (ps->state == ST_BODY) {
			size_t k = n - i < ps->body_left ? n - i : (size_t)ps->body_left;
			memcpy(c->out + c->outn, buf + i, k);
			if (k && ps->corrupt) {
				c->out[c->outn] ^= 0x20;
				ps->corrupt = 0;
				atomic_fetch_add(&p->injected, 1);
			}
			c->outn += k;
			i += k;
			ps->body_left -= k;
			if (!ps->body_left)
				ps->state = ST_HEADERS;
			continue;
		}
		if (ps->hlen + 1 >= sizeof(ps->hdr)) {
			memcpy(c->out + c->outn, ps->hdr, ps->hlen);
			c->outn += ps->hlen;
			ps->hlen = 0;
			ps->state = ST_RAW;
			continue;
		}
		ps->hdr[ps->hlen++] = buf[i++];
		ps->hdr[ps->hlen] = 0;
		if (ps->hlen < 4 || memcmp(ps->hdr + ps->hlen - 4, "\r\n\r\n", 4))
			continue;
		int status = 0, found;
		sscanf(ps->hdr, "HTTP/%*s %d", &status);
		size_t hlen = ps->hlen;
		ps->hlen = 0;
		if (status >= 100 && status < 200) {
			memcpy(c->out + c->outn, ps->hdr, hlen);
			c->outn += hlen;
			continue;
		}
		const char *add = "";
		const char *method = "";
		if (c->mhead < c->mtail) {
			method = c->methods[c->mhead % 64];
			add = c->addhdr[c->mhead % 64];
			c->mhead++;
		}
		/* The whole header, with the added line before its blank line. */
		memcpy(c->out + c->outn, ps->hdr, hlen - 2);
		c->outn += hlen - 2;
		memcpy(c->out + c->outn, add, strlen(add));
		c->outn += strlen(add);
		memcpy(c->out + c->outn, "\r\n", 2);
		c->outn += 2;
		ps->body_left = header_u64(ps->hdr, "content-length:", &found);
		if (!strcmp(method, "HEAD") || status == 204 || status == 304)
			ps->body_left = 0;
		if (header_has(ps->hdr, "transfer-encoding:", "chunked")) {
			ps->state = ST_RAW;
			continue;
		}
		ps->state = ps->body_left ? ST_BODY : ST_HEADERS;
		if (ps->state == ST_BODY && (status == 200 || status == 206) &&
		    take(&p->corrupt_resp))
			ps->corrupt = 1;
	}
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	char buf[65536];
	struct pollfd fds[2] = {{c->cfd, POLLIN, 0}, {c->sfd, POLLIN, 0}};
	while (!atomic_load(&c->p->stop)) {
		int r = poll(fds, 2, 200);
		if (r < 0)
			break;
		if (r == 0)
			continue;
		if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = recv(c->cfd, buf, sizeof(buf), 0);
			if (n <= 0)
				break;
			enum action a = feed_request(c, buf, (size_t)n);
			if (a == A_CLOSE)
				break;
			if (a == A_HOLD)
				continue;
			if (write_all(c->sfd, buf, (size_t)n))
				break;
		}
		if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = recv(c->sfd, buf, sizeof(buf), 0);
			if (n <= 0)
				break;
			feed_response(c, buf, (size_t)n);
			if (write_all(c->cfd, c->out, c->outn))
				break;
		}
	}
	close(c->cfd);
	close(c->sfd);
	atomic_fetch_sub(&c->p->active, 1);
	free(c);
	return NULL;
}

static void *accept_main(void *arg)
{
	struct faultproxy *p = arg;
	while (!atomic_load(&p->stop)) {
		struct pollfd pfd = {p->lfd, POLLIN, 0};
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		int cfd = accept(p->lfd, NULL, NULL);
		if (cfd < 0)
			continue;
		int sfd = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in sa = {.sin_family = AF_INET,
					 .sin_port = htons((uint16_t)p->target_port)};
		inet_pton(AF_INET, p->target_host, &sa.sin_addr);
		if (sfd < 0 || connect(sfd, (struct sockaddr *)&sa, sizeof(sa))) {
			if (sfd >= 0)
				close(sfd);
			close(cfd);
			continue;
		}
		int one = 1;
		setsockopt(sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct conn *c = calloc(1, sizeof(*c));
		if (!c) {
			close(cfd);
			close(sfd);
			continue;
		}
		c->p = p;
		c->cfd = cfd;
		c->sfd = sfd;
		pthread_t t;
		atomic_fetch_add(&p->active, 1);
		if (pthread_create(&t, NULL, conn_main, c)) {
			atomic_fetch_sub(&p->active, 1);
			close(cfd);
			close(sfd);
			free(c);
			continue;
		}
		pthread_detach(t);
	}
	return NULL;
}

struct faultproxy *faultproxy_start(const char *target_host, int target_port)
{
	struct faultproxy *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	snprintf(p->target_host, sizeof(p->target_host), "%s", target_host);
	p->target_port = target_port;
	pthread_mutex_init(&p->amu, NULL);
	p->lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	socklen_t sl = sizeof(sa);
	if (p->lfd < 0 || bind(p->lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(p->lfd, 64) ||
	    getsockname(p->lfd, (struct sockaddr *)&sa, &sl)) {
		if (p->lfd >= 0)
			close(p->lfd);
		free(p);
		return NULL;
	}
	p->port = ntohs(sa.sin_port);
	if (pthread_create(&p->thread, NULL, accept_main, p)) {
		close(p->lfd);
		free(p);
		return NULL;
	}
	return p;
}

int faultproxy_port(const struct faultproxy *p)
{
	return p->port;
}

void faultproxy_stop(struct faultproxy *p)
{
	if (!p)
		return;
	atomic_store(&p->stop, 1);
	pthread_join(p->thread, NULL);
	close(p->lfd);
	/* Connection threads notice `stop` within 200 ms (or after a stall). */
	for (int i = 0; i < 300 && atomic_load(&p->active) > 0; i++) {
		struct timespec ts = {0, 50000000L};
		nanosleep(&ts, NULL);
	}
	if (atomic_load(&p->active) == 0)
		free(p);
}

void faultproxy_slowdown(struct faultproxy *p, int count)
{
	atomic_store(&p->slowdown, count);
}

void faultproxy_drop(struct faultproxy *p, int count)
{
	atomic_store(&p->drop, count);
}

void faultproxy_delay(struct faultproxy *p, int count, int ms)
{
	atomic_store(&p->delay_ms, ms);
	atomic_store(&p->delay, count);
}

void faultproxy_corrupt_request(struct faultproxy *p, int count)
{
	atomic_store(&p->corrupt_req, count);
}

void faultproxy_corrupt_response(struct faultproxy *p, int count)
{
	atomic_store(&p->corrupt_resp, count);
}

void faultproxy_stuck_listing(struct faultproxy *p, int count)
{
	atomic_store(&p->stuck, count);
}

int faultproxy_requests(const struct faultproxy *p)
{
	return atomic_load(&((struct faultproxy *)p)->requests);
}

int faultproxy_injected(const struct faultproxy *p)
{
	return atomic_load(&((struct faultproxy *)p)->injected);
}

void faultproxy_archive(struct faultproxy *p, const char *path_prefix, int restore_ms)
{
	pthread_mutex_lock(&p->amu);
	snprintf(p->aprefix, sizeof(p->aprefix), "%s", path_prefix ? path_prefix : "");
	p->restore_ms = restore_ms;
	p->nakeys = 0;
	pthread_mutex_unlock(&p->amu);
}

int faultproxy_restores(const struct faultproxy *p)
{
	return atomic_load(&((struct faultproxy *)p)->restores);
}

int faultproxy_archive_refused(const struct faultproxy *p)
{
	return atomic_load(&((struct faultproxy *)p)->refused);
}

void faultproxy_restore_body(struct faultproxy *p, char *buf, size_t cap)
{
	pthread_mutex_lock(&p->amu);
	snprintf(buf, cap, "%s", p->restore_body);
	pthread_mutex_unlock(&p->amu);
}
