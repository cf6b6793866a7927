/*
 * The fault-injecting proxy of the object-store tests (see faultproxy.h).
 * One thread accepts; one thread per connection relays both directions with
 * poll(2) and frames HTTP/1.1 messages just enough to find request starts
 * and body bytes. It binds 127.0.0.1 only.
 */
#define _GNU_SOURCE
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
	atomic_int slowdown, drop, delay, delay_ms, corrupt_req, corrupt_resp;
	atomic_int requests, injected;
	atomic_int active; /* connection threads running */
};

enum { ST_HEADERS, ST_BODY, ST_RAW };

struct parser {
	int state;
	char hdr[32768];
	size_t hlen;
	uint64_t body_left;
	int corrupt; /* flip the first body byte of this message */
};

struct conn {
	struct faultproxy *p;
	int cfd, sfd;
	struct parser req, resp;
	char methods[64][8]; /* FIFO of request methods, for HEAD responses */
	int mhead, mtail;
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

enum action { A_NONE, A_CLOSE };

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

/* Feed client->server bytes; may change them. */
static enum action feed_request(struct conn *c, char *buf, size_t n)
{
	struct parser *ps = &c->req;
	struct faultproxy *p = c->p;
	for (size_t i = 0; i < n;) {
		if (ps->state == ST_RAW)
			return A_NONE;
		if (ps->state == ST_BODY) {
			size_t k = n - i < ps->body_left ? n - i : (size_t)ps->body_left;
			if (k && ps->corrupt) {
				buf[i] ^= 0x20;
				ps->corrupt = 0;
				atomic_fetch_add(&p->injected, 1);
			}
			i += k;
			ps->body_left -= k;
			if (!ps->body_left)
				ps->state = ST_HEADERS;
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
		snprintf(c->methods[c->mtail++ % 64], 8, "%s", method);
		ps->hlen = 0;
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
	return A_NONE;
}

/* Feed server->client bytes; may change them. */
static void feed_response(struct conn *c, char *buf, size_t n)
{
	struct parser *ps = &c->resp;
	struct faultproxy *p = c->p;
	for (size_t i = 0; i < n;) {
		if (ps->state == ST_RAW)
			return;
		if (ps->state == ST_BODY) {
			size_t k = n - i < ps->body_left ? n - i : (size_t)ps->body_left;
			if (k && ps->corrupt) {
				buf[i] ^= 0x20;
				ps->corrupt = 0;
				atomic_fetch_add(&p->injected, 1);
			}
			i += k;
			ps->body_left -= k;
			if (!ps->body_left)
				ps->state = ST_HEADERS;
			continue;
		}
		if (ps->hlen + 1 >= sizeof(ps->hdr)) {
			ps->state = ST_RAW;
			return;
		}
		ps->hdr[ps->hlen++] = buf[i++];
		ps->hdr[ps->hlen] = 0;
		if (ps->hlen < 4 || memcmp(ps->hdr + ps->hlen - 4, "\r\n\r\n", 4))
			continue;
		int status = 0, found;
		sscanf(ps->hdr, "HTTP/%*s %d", &status);
		ps->hlen = 0;
		if (status >= 100 && status < 200)
			continue;
		const char *method = c->mhead < c->mtail ? c->methods[c->mhead++ % 64] : "";
		ps->body_left = header_u64(ps->hdr, "content-length:", &found);
		if (!strcmp(method, "HEAD") || status == 204 || status == 304)
			ps->body_left = 0;
		if (header_has(ps->hdr, "transfer-encoding:", "chunked")) {
			ps->state = ST_RAW;
			return;
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
			if (feed_request(c, buf, (size_t)n) == A_CLOSE)
				break;
			if (write_all(c->sfd, buf, (size_t)n))
				break;
		}
		if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = recv(c->sfd, buf, sizeof(buf), 0);
			if (n <= 0)
				break;
			feed_response(c, buf, (size_t)n);
			if (write_all(c->cfd, buf, (size_t)n))
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

int faultproxy_requests(const struct faultproxy *p)
{
	return atomic_load(&((struct faultproxy *)p)->requests);
}

int faultproxy_injected(const struct faultproxy *p)
{
	return atomic_load(&((struct faultproxy *)p)->injected);
}
