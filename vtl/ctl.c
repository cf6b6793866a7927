/*
 * ctl.c - the control socket server (see ctl.h): one thread, one poll()
 * over every client, so that no client, silent, half-way through a line
 * or not reading its answers, makes another wait. Each request line is
 * answered by ctl_requests.c, one at a time.
 */
#include "config.h"

#include "ctl_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "util/escape.h"

static const char CTL_ANSWER_FAILED_LINE[] = CTL_ANSWER_FAILED "\n";

/* ---- The server --------------------------------------------------------- */

/*
 * One poll() over the listening socket, the stop pipe and every client.
 * Every socket is non-blocking and each client has its own buffers, so a
 * client can only ever hold up itself. Limits (ctl.h): CTL_MAX_CLIENTS at
 * once, a new one beyond that closing the client idle longest (an
 * operator is never locked out); CTL_MAX_REQUEST bytes per line, a longer
 * one answered with an error and skipped to its newline; CTL_IDLE_MS to
 * send a whole request (from connecting or from the last answer; bytes
 * trickling in do not extend it) and without progress while an answer is
 * sent. Each line gets one answer, in order: while one is being sent, the
 * lines after it wait in the buffer, and reading stops when that is full.
 */
struct client {
	int fd;
	char *in; /* received, not yet handled; room for a NUL */
	size_t in_len, in_cap;
	bool skipping; /* discarding the rest of an overlong line */
	bool eof;      /* the client shut down its side */
	char *out;     /* the answer line being sent: malloc'd, or CTL_ANSWER_FAILED_LINE */
	size_t out_len, out_off;
	int64_t since; /* start of the current wait (client_clock) */
};

enum { IN_FIRST = 4096, IN_MAX = CTL_MAX_REQUEST + 2 /* the newline, a NUL */ };

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds that count against a client: the time spent handling
 * requests (its own or another's) is left out, so a client whose request
 * waited behind a slow one is never taken for idle. */
static int64_t client_clock(const struct ctl_server *s)
{
	return mono_ms() - s->busy_ms;
}

static char *handle_timed(struct ctl_server *s, const char *line)
{
	int64_t t0 = mono_ms();
	char *a = ctl_answer(s, s->lib, s->upl, line, s->log);
	s->busy_ms += mono_ms() - t0;
	return a;
}

static void client_close(struct client *c)
{
	close(c->fd);
	free(c->in);
	if (c->out != CTL_ANSWER_FAILED_LINE)
		free(c->out);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

/* Takes a (from ctl_answer, NULL when even that failed) and makes it the
 * answer line to send. */
static void set_answer(struct client *c, char *a)
{
	size_t len = a ? strlen(a) : 0;
	char *line = a ? realloc(a, len + 2) : NULL;
	if (line) {
		memcpy(line + len, "\n", 2);
	} else {
		free(a);
		line = (char *)CTL_ANSWER_FAILED_LINE;
		len = sizeof(CTL_ANSWER_FAILED_LINE) - 2;
	}
	c->out = line;
	c->out_len = len + 1;
	c->out_off = 0;
}

/* Send what the socket takes now; false when the client is gone. */
static bool client_flush(struct ctl_server *s, struct client *c)
{
	while (c->out && c->out_off < c->out_len) {
		ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		if (w <= 0)
			return false;
		c->out_off += (size_t)w;
		c->since = client_clock(s);
	}
	if (c->out) {
		if (c->out != CTL_ANSWER_FAILED_LINE)
			free(c->out);
		c->out = NULL;
		c->since = client_clock(s);
	}
	return true;
}

static void drop_input(struct client *c, size_t n)
{
	memmove(c->in, c->in + n, c->in_len - n);
	c->in_len -= n;
}

/* The answer to a line that outgrew CTL_MAX_REQUEST. */
static char *refuse_overlong(struct ctl_server *s)
{
	char msg[200];
	snprintf(msg, sizeof(msg),
		 "request longer than %d bytes; send one JSON object per line "
		 "(docs/library.md, \"Control protocol\")",
		 CTL_MAX_REQUEST);
	if (s->log) {
		char line[sizeof(msg) + 32];
		snprintf(line, sizeof(line), "control: ?: refused: %s", msg);
		s->log(1, line);
	}
	json_t *r = ctl_fail(-EMSGSIZE, msg);
	char *out = r ? json_dumps(r, JSON_COMPACT) : NULL;
	json_decref(r);
	return out;
}

/* Handle what c's buffer holds, up to the first answer not yet sent;
 * false when the client is gone. */
static bool client_work(struct ctl_server *s, struct client *c)
{
	for (;;) {
		if (c->skipping) {
			char *nl = memchr(c->in, '\n', c->in_len);
			if (!nl) {
				c->in_len = 0;
				break;
			}
			drop_input(c, (size_t)(nl - c->in) + 1);
			c->skipping = false;
		}
		if (c->out)
			break;
		char *nl = memchr(c->in, '\n', c->in_len);
		if (nl) {
			*nl = '\0';
			set_answer(c, handle_timed(s, c->in));
			drop_input(c, (size_t)(nl - c->in) + 1);
		} else if (c->in_len >= IN_MAX - 1) {
			set_answer(c, refuse_overlong(s));
			c->in_len = 0;
			c->skipping = true;
		} else if (c->eof && c->in_len) {
			/* A last request without its newline. */
			c->in[c->in_len] = '\0';
			set_answer(c, handle_timed(s, c->in));
			c->in_len = 0;
		} else {
			break;
		}
		if (!client_flush(s, c))
			return false;
	}
	return !(c->eof && !c->out && !c->in_len);
}

/* Read what is there; false when the client is gone or done. */
static bool client_read(struct ctl_server *s, struct client *c)
{
	if (c->in_len + 1 >= c->in_cap) {
		size_t cap = c->in_cap ? 2 * c->in_cap : IN_FIRST;
		if (cap > IN_MAX)
			cap = IN_MAX;
		char *in = realloc(c->in, cap);
		if (!in)
			return false;
		c->in = in;
		c->in_cap = cap;
	}
	size_t room = c->in_cap - 1 - c->in_len;
	if (!room) /* full and waiting for an answer to be read */
		return client_work(s, c);
	ssize_t r = recv(c->fd, c->in + c->in_len, room, MSG_DONTWAIT);
	if (r < 0)
		return errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK;
	if (r == 0)
		c->eof = true;
	c->in_len += (size_t)r;
	return client_work(s, c);
}

static void accept_clients(struct ctl_server *s, struct client *cl)
{
	for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
		int fd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			return;
		struct client *c = NULL, *oldest = NULL;
		for (int k = 0; k < CTL_MAX_CLIENTS && !c; k++) {
			if (cl[k].fd < 0)
				c = &cl[k];
			else if (!oldest || cl[k].since < oldest->since)
				oldest = &cl[k];
		}
		if (!c) {
			if (s->log) {
				char msg[128];
				snprintf(msg, sizeof(msg),
					 "control: %d clients connected; closing the one idle "
					 "longest",
					 CTL_MAX_CLIENTS);
				s->log(1, msg);
			}
			client_close(oldest);
			c = oldest;
		}
		c->fd = fd;
		c->since = client_clock(s);
	}
}

static void close_idle(struct ctl_server *s, struct client *c)
{
	if (s->log) {
		char msg[128];
		snprintf(
		    msg, sizeof(msg),
		    "control: closed a client that sent no request or read no answer for %d ms",
		    CTL_IDLE_MS);
		s->log(1, msg);
	}
	client_close(c);
}

static void *serve(void *arg)
{
	struct ctl_server *s = arg;
	struct client cl[CTL_MAX_CLIENTS];
	for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
		memset(&cl[i], 0, sizeof(cl[i]));
		cl[i].fd = -1;
	}
	for (;;) {
		struct pollfd p[2 + CTL_MAX_CLIENTS];
		int who[2 + CTL_MAX_CLIENTS];
		nfds_t n = 2;
		int64_t now = client_clock(s), wait = -1;
		p[0] = (struct pollfd){s->fd, POLLIN, 0};
		p[1] = (struct pollfd){s->stop_pipe[0], POLLIN, 0};
		for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
			struct client *c = &cl[i];
			if (c->fd < 0)
				continue;
			int64_t left = c->since + CTL_IDLE_MS - now;
			if (wait < 0 || left < wait)
				wait = left < 0 ? 0 : left;
			short ev = c->out ? POLLOUT : 0;
			if (!c->eof && (c->skipping || c->in_len < IN_MAX - 1))
				ev |= POLLIN;
			who[n] = i;
			p[n++] = (struct pollfd){c->fd, ev, 0};
		}
		if (poll(p, n, (int)wait) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		for (nfds_t k = 2; k < n; k++) {
			struct client *c = &cl[who[k]];
			short rev = p[k].revents;
			bool alive = true;
			if (rev & POLLOUT)
				alive = client_flush(s, c) && client_work(s, c);
			if (alive && (rev & (POLLIN | POLLHUP)))
				alive = client_read(s, c);
			/* POLLHUP after the end of input: gone both ways. */
			if (alive && ((rev & (POLLERR | POLLNVAL)) || ((rev & POLLHUP) && c->eof)))
				alive = false;
			if (!alive)
				client_close(c);
			else if (client_clock(s) - c->since >= CTL_IDLE_MS)
				close_idle(s, c);
		}
		if (p[0].revents & POLLIN)
			accept_clients(s, cl);
	}
	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		if (cl[i].fd >= 0)
			client_close(&cl[i]);
	return NULL;
}

int ctl_server_start(struct lib *lib, struct upl *upl, const char *path, ctl_log_fn log,
		     struct ctl_server **out, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "control socket path too long (max %zu): %s",
			 sizeof(sa.sun_path) - 1, path);
		return -ENAMETOOLONG;
	}
	struct ctl_server *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->lib = lib;
	s->upl = upl;
	s->log = log;
	s->fd = -1;
	s->stop_pipe[0] = s->stop_pipe[1] = -1;
	pthread_mutex_init(&s->rb.mu, NULL);
	snprintf(s->path, sizeof(s->path), "%s", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);

	int rc;
	/* A socket file already there: live (another vtld) or stale. */
	int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe >= 0) {
		if (connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(probe);
			snprintf(
			    err, errlen,
			    "another vtld is serving %s; stop it first or use another --data-dir",
			    path);
			pthread_mutex_destroy(&s->rb.mu);
			free(s);
			return -EADDRINUSE;
		}
		close(probe);
	}
	unlink(path);
	s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s->fd < 0 || pipe2(s->stop_pipe, O_CLOEXEC)) {
		rc = -errno;
		snprintf(err, errlen, "cannot create the control socket: %s", strerror(errno));
		goto fail;
	}
	/* Mode 0600 from the start: no window in which others could connect. */
	mode_t old = umask(077);
	rc = bind(s->fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc || chmod(path, 0600) || listen(s->fd, 8)) {
		rc = -errno;
		snprintf(err, errlen, "cannot listen on control socket %s: %s", path,
			 strerror(errno));
		goto fail;
	}
	rc = -pthread_create(&s->thread, NULL, serve, s);
	if (rc) {
		snprintf(err, errlen, "cannot start the control thread: %s", strerror(-rc));
		unlink(path);
		goto fail;
	}
	*out = s;
	return 0;
fail:
	if (s->fd >= 0)
		close(s->fd);
	if (s->stop_pipe[0] >= 0) {
		close(s->stop_pipe[0]);
		close(s->stop_pipe[1]);
	}
	pthread_mutex_destroy(&s->rb.mu);
	free(s);
	return rc;
}

void ctl_server_stop(struct ctl_server *s)
{
	if (!s)
		return;
	ssize_t w = write(s->stop_pipe[1], "x", 1);
	(void)w;
	pthread_join(s->thread, NULL);
	/* A rebuild in progress stops between two requests to the store; the
	 * next one goes on from what it left (upl_recover_from_store). */
	pthread_mutex_lock(&s->rb.mu);
	s->rb.cancel = true;
	pthread_mutex_unlock(&s->rb.mu);
	if (s->rb.joinable)
		pthread_join(s->rb.thread, NULL);
	ctl_keys_stop(s);
	json_decref(s->rb.tapes);
	json_decref(s->rb.missing);
	pthread_mutex_destroy(&s->rb.mu);
	close(s->fd);
	close(s->stop_pipe[0]);
	close(s->stop_pipe[1]);
	unlink(s->path);
	free(s);
}
