/*
 * metrics_http.c - /metrics, /healthz and /readyz over libmicrohttpd (see
 * metrics_http.h; docs/design.md says why this library).
 *
 * libmicrohttpd runs one internal thread that polls every connection
 * (MHD_USE_AUTO_INTERNAL_THREAD); each answer is built whole in memory and
 * handed to it, so no handler waits on a socket. Limits: 16 connections,
 * 4 from one address, 10 s of idleness each. Only GET and HEAD are served.
 */
#include "config.h"

#include "metrics_http.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "util/escape.h"
#include "util/metrics.h"

#define MAX_CONNS	 16
#define MAX_CONNS_PER_IP 4
#define IDLE_S		 10

struct mhttp {
	struct mhttp_config cfg;
	struct MHD_Daemon *d;
	uint16_t port;
};

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned status, const char *type,
			      char *body, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	enum MHD_Result ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* A one-line plain text answer: prefix and msg. msg may quote text from
 * outside (/readyz's reason: a store's error, a key it listed), so it is
 * escaped (util/escape.h): a newline in it cannot make a second line for
 * a probe that records the answer, nor a byte break its UTF-8. */
static enum MHD_Result text(struct MHD_Connection *conn, unsigned status, const char *prefix,
			    const char *msg)
{
	struct met_buf b = {0};
	char safe[4 * 512 + 8]; /* the longest msg: the 512 bytes of a reason */
	met_buf_printf(&b, "%s%s\n", prefix, esc_show(safe, sizeof(safe), msg));
	if (b.failed) {
		free(b.p);
		return MHD_NO;
	}
	return answer(conn, status, "text/plain; charset=utf-8", b.p, b.len);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **con_cls)
{
	struct mhttp *h = cls;
	(void)version;
	(void)upload_data;
	(void)con_cls;
	if (*upload_data_size) /* a body is never wanted: drop it */
		*upload_data_size = 0;
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "", "use GET");
	if (strcmp(url, "/metrics") == 0) {
		struct met_buf b = {0};
		met_render(&b);
		if (h->cfg.collect)
			h->cfg.collect(h->cfg.arg, &b);
		if (b.failed) {
			free(b.p);
			return text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "", "out of memory");
		}
		return answer(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", b.p,
			      b.len);
	}
	if (strcmp(url, "/healthz") == 0)
		return text(conn, MHD_HTTP_OK, "", "ok");
	if (strcmp(url, "/readyz") == 0) {
		char why[512] = "";
		int r = h->cfg.ready ? h->cfg.ready(h->cfg.arg, why, sizeof(why)) : 1;
		if (r > 0)
			return text(conn, MHD_HTTP_OK, "", "ready");
		if (r == 0)
			return text(conn, MHD_HTTP_OK, "degraded: ", why);
		return text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "not ready: ", why);
	}
	return text(conn, MHD_HTTP_NOT_FOUND, "", "not found: use /metrics, /healthz or /readyz");
}

/* "ADDR:PORT" or "[V6]:PORT", numeric only. */
static int parse_listen(const char *s, struct sockaddr_storage *ss, char *err, size_t errlen)
{
	char host[128];
	const char *port;
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (!end || end[1] != ':' || (size_t)(end - s - 1) >= sizeof(host))
			goto bad;
		memcpy(host, s + 1, (size_t)(end - s - 1));
		host[end - s - 1] = 0;
		port = end + 2;
	} else {
		const char *colon = strrchr(s, ':');
		if (!colon || (size_t)(colon - s) >= sizeof(host))
			goto bad;
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = 0;
		port = colon + 1;
	}
	struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
				 .ai_socktype = SOCK_STREAM};
	struct addrinfo *ai;
	if (!host[0] || !port[0] || getaddrinfo(host, port, &hints, &ai))
		goto bad;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	return 0;
bad:
	snprintf(err, errlen,
		 "[metrics] listen = %s: use ADDR:PORT with a numeric address, e.g. "
		 "127.0.0.1:9810 or [::1]:9810",
		 s);
	return -EINVAL;
}

int mhttp_start(const struct mhttp_config *cfg, struct mhttp **out, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	int rc = parse_listen(cfg->listen, &ss, err, errlen);
	if (rc)
		return rc;
	struct mhttp *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->cfg = *cfg;
	unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	h->d = MHD_start_daemon(flags, 0, NULL, NULL, handle, h, MHD_OPTION_SOCK_ADDR,
				(struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
				(unsigned)MAX_CONNS, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
				(unsigned)MAX_CONNS_PER_IP, MHD_OPTION_CONNECTION_TIMEOUT,
				(unsigned)IDLE_S, MHD_OPTION_END);
	if (!h->d) {
		int e = errno ? errno : EADDRINUSE;
		snprintf(err, errlen, "[metrics] listen = %s: cannot serve there: %s", cfg->listen,
			 strerror(e));
		free(h);
		return -e;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
	h->port = info ? info->port : 0;
	*out = h;
	return 0;
}

uint16_t mhttp_port(const struct mhttp *h)
{
	return h ? h->port : 0;
}

void mhttp_stop(struct mhttp *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->d);
	free(h);
}
