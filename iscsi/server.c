/*
 * server.c - the iSCSI server object: configuration, targets, the
 * listening portal and its acceptor thread, and the session table
 * (reinstatement, RFC 7143 6.3.5; TSIH and I_T nexus ids).
 *
 * Every accepted connection gets its own detached thread (conn.c), once
 * admit.c has found it room in the login budget. The server keeps the list
 * of live connections so that iscsi_server_stop() can end them (an Async
 * Message first, from each connection's own thread) and wait for all of
 * them. Targets are only ever added, so a target pointer stays valid for
 * the server's lifetime.
 *
 * The acceptor never spins and never stalls: a refused connection is
 * closed at once, and when the process is out of descriptors (EMFILE) an
 * idle connection in login is evicted to make room or, with none idle, a
 * spare descriptor is given up to accept and close the waiting connection,
 * so the peer sees a close instead of a hang and poll() does not report
 * the same connection again (accept_failed).
 */
#include "config.h"

#include "internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define STOP_GRACE_MS	  3000
#define REINSTATE_WAIT_MS 10000
#define LISTEN_BACKLOG	  SOMAXCONN
#define ACCEPT_BACKOFF_MS 100  /* pause of the acceptor when accept() cannot go on */
#define REPORT_POLL_MS	  1000 /* how often the acceptor looks for a log line due */
#define FD_RESERVE	  256  /* descriptors the rest of the process may hold */

/* Defaults of what a peer that has not logged in can hold. */
#define DEFAULT_MAX_SESSIONS		   1024
#define DEFAULT_MAX_LOGIN_CONNS		   128
#define DEFAULT_MAX_LOGIN_CONNS_PER_SOURCE 16
#define DEFAULT_FIRST_PDU_TIMEOUT_S	   5
#define DEFAULT_LOGIN_TIMEOUT_S		   15 /* as LIO's TA_LOGIN_TIMEOUT */
#define MAX_TIMEOUT_S			   3600
#define MAX_COUNT			   65535 /* TSIH is 16 bits (RFC 7143 11.12.6) */

uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void deadline_in(struct timespec *ts, uint64_t ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

void iscsi_server_config_defaults(struct iscsi_server_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->listen, sizeof(cfg->listen), "127.0.0.1:3260");
	cfg->nop_interval_s = 15;
	cfg->nop_timeout_s = 30;
	cfg->max_recv_data_segment = 262144;
	cfg->max_burst = 16776192;
	cfg->first_burst = 262144;
	cfg->queue_depth = 32;
	cfg->max_outstanding_r2t = 4;
	cfg->max_cmd_data = 16u << 20;
	cfg->tpgt = 1;
	cfg->header_digest = ISCSI_DIGEST_ALLOW;
	cfg->data_digest = ISCSI_DIGEST_ALLOW;
	cfg->max_sessions = DEFAULT_MAX_SESSIONS;
	cfg->max_login_conns = DEFAULT_MAX_LOGIN_CONNS;
	cfg->max_login_conns_per_source = DEFAULT_MAX_LOGIN_CONNS_PER_SOURCE;
	cfg->first_pdu_timeout_s = DEFAULT_FIRST_PDU_TIMEOUT_S;
	cfg->login_timeout_s = DEFAULT_LOGIN_TIMEOUT_S;
}

void srv_log(struct iscsi_server *srv, const char *fmt, ...)
{
	const struct iscsi_server_config *cfg = &srv->cfg;
	if (!cfg->log)
		return;
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cfg->log(cfg->log_arg, msg);
}

static uint32_t clamp(uint32_t v, uint32_t lo, uint32_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* 0: the default; else within [lo, hi]. */
static uint32_t or_default(uint32_t v, uint32_t dflt, uint32_t lo, uint32_t hi)
{
	return v ? clamp(v, lo, hi) : clamp(dflt, lo, hi);
}

int iscsi_server_create(const struct iscsi_server_config *cfg, struct iscsi_server **out)
{
	struct iscsi_server *srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->cfg = *cfg;
	struct iscsi_server_config *c = &srv->cfg;
	/* RFC 7143 13.12-13.14 ranges. */
	c->max_recv_data_segment = clamp(c->max_recv_data_segment, 512, 16777215);
	c->max_burst = clamp(c->max_burst, 512, 16777215);
	c->first_burst = clamp(c->first_burst, 512, c->max_burst);
	c->queue_depth = clamp(c->queue_depth, 1, 1024);
	c->max_outstanding_r2t = clamp(c->max_outstanding_r2t, 1, MAX_R2T);
	c->max_cmd_data = clamp(c->max_cmd_data, 65536, 1u << 30);
	if (!c->tpgt)
		c->tpgt = 1;
	if (!c->listen[0])
		snprintf(c->listen, sizeof(c->listen), "127.0.0.1:3260");
	c->max_sessions = or_default(c->max_sessions, DEFAULT_MAX_SESSIONS, 1, MAX_COUNT);
	c->max_login_conns = or_default(c->max_login_conns, DEFAULT_MAX_LOGIN_CONNS, 1, MAX_COUNT);
	c->max_login_conns_per_source =
	    or_default(c->max_login_conns_per_source, DEFAULT_MAX_LOGIN_CONNS_PER_SOURCE, 1,
		       c->max_login_conns);
	c->first_pdu_timeout_s =
	    or_default(c->first_pdu_timeout_s, DEFAULT_FIRST_PDU_TIMEOUT_S, 1, MAX_TIMEOUT_S);
	c->login_timeout_s = or_default(c->login_timeout_s, DEFAULT_LOGIN_TIMEOUT_S,
					c->first_pdu_timeout_s, MAX_TIMEOUT_S);
	if (admit_init(srv)) {
		free(srv);
		return -ENOMEM;
	}
	pthread_mutex_init(&srv->lock, NULL);
	pthread_cond_init(&srv->cv, NULL);
	srv->listen_fd = -1;
	srv->wake[0] = srv->wake[1] = -1;
	srv->spare_fd = -1;
	srv->next_tsih = 1;
	*out = srv;
	return 0;
}

static void target_free(struct iscsi_target *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n_allow; i++)
		free(t->allow[i]);
	free(t->allow);
	free(t->luns);
	free(t);
}

int iscsi_server_add_target(struct iscsi_server *srv, const struct iscsi_target_config *cfg)
{
	if (!cfg->iqn[0] || strlen(cfg->iqn) >= sizeof(cfg->iqn))
		return -EINVAL;
	const struct iscsi_chap *ch = &cfg->chap;
	if (ch->user[0] && !ch->secret[0])
		return -EINVAL;
	/* RFC 7143 12.1.3: a secret is never used in both directions. */
	if (ch->mutual_user[0] &&
	    (!ch->user[0] || !ch->mutual_secret[0] || !strcmp(ch->secret, ch->mutual_secret)))
		return -EINVAL;
	for (size_t i = 0; i < cfg->n_luns; i++) {
		if (!cfg->luns[i].dev || cfg->luns[i].lun >= 16384)
			return -EINVAL;
		for (size_t j = 0; j < i; j++)
			if (cfg->luns[j].lun == cfg->luns[i].lun)
				return -EINVAL;
	}

	struct iscsi_target *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->cfg = *cfg;
	t->luns = calloc(cfg->n_luns ? cfg->n_luns : 1, sizeof(*t->luns));
	t->allow = calloc(cfg->n_allow ? cfg->n_allow : 1, sizeof(*t->allow));
	if (!t->luns || !t->allow) {
		target_free(t);
		return -ENOMEM;
	}
	memcpy(t->luns, cfg->luns, cfg->n_luns * sizeof(*t->luns));
	t->n_luns = cfg->n_luns;
	for (size_t i = 0; i < cfg->n_allow; i++) {
		t->allow[i] = strdup(cfg->allow[i]);
		if (!t->allow[i]) {
			target_free(t);
			return -ENOMEM;
		}
		t->n_allow++;
	}
	t->cfg.luns = t->luns;
	t->cfg.allow = (const char *const *)t->allow;

	pthread_mutex_lock(&srv->lock);
	for (size_t i = 0; i < srv->n_targets; i++) {
		if (!strcasecmp(srv->targets[i]->cfg.iqn, cfg->iqn)) {
			pthread_mutex_unlock(&srv->lock);
			target_free(t);
			return -EEXIST;
		}
	}
	struct iscsi_target **v = realloc(srv->targets, (srv->n_targets + 1) * sizeof(*v));
	if (!v) {
		pthread_mutex_unlock(&srv->lock);
		target_free(t);
		return -ENOMEM;
	}
	srv->targets = v;
	srv->targets[srv->n_targets++] = t;
	pthread_mutex_unlock(&srv->lock);
	return 0;
}

const struct iscsi_target *srv_find_target(struct iscsi_server *srv, const char *iqn)
{
	const struct iscsi_target *found = NULL;
	pthread_mutex_lock(&srv->lock);
	/* RFC 7143 4.2.7.1 / RFC 3722: iSCSI names compare case-insensitively
	 * once stringprep'd; ASCII names only here. */
	for (size_t i = 0; i < srv->n_targets && !found; i++)
		if (!strcasecmp(srv->targets[i]->cfg.iqn, iqn))
			found = srv->targets[i];
	pthread_mutex_unlock(&srv->lock);
	return found;
}

bool srv_target_allows(const struct iscsi_target *t, const char *initiator)
{
	if (t->n_allow == 0)
		return true;
	for (size_t i = 0; i < t->n_allow; i++)
		if (!strcasecmp(t->allow[i], initiator))
			return true;
	return false;
}

static bool same_session(const struct iscsi_conn *a, const struct iscsi_conn *b)
{
	return a->registered && a->tgt == b->tgt && !memcmp(a->isid, b->isid, 6) &&
	       !strcasecmp(a->initiator, b->initiator);
}

static bool tsih_in_use(struct iscsi_server *srv, uint16_t tsih)
{
	for (struct iscsi_conn *o = srv->conns; o; o = o->next)
		if (o->registered && o->tsih == tsih)
			return true;
	return false;
}

/*
 * The I_T nexus id (SAM-5 4.7): an initiator port is named by the iSCSI name
 * and the ISID (RFC 7143 4.4.1, "InitiatorName,i,0x<ISID>"), a target port
 * by the target name and its portal group tag. The same initiator port gets
 * the same id in every session, as persistent reservations need (SPC-4
 * 5.13.5: registrations belong to the I_T nexus, not to a login). FNV-1a,
 * 64 bits.
 */
static uint64_t nexus_id(struct iscsi_conn *c)
{
	snprintf(c->port_name, sizeof(c->port_name), "%s,i,0x%02x%02x%02x%02x%02x%02x",
		 c->initiator, c->isid[0], c->isid[1], c->isid[2], c->isid[3], c->isid[4],
		 c->isid[5]);
	snprintf(c->target_port, sizeof(c->target_port), "%s,t,0x%04x",
		 c->tgt ? c->tgt->cfg.iqn : "", c->srv->cfg.tpgt);
	uint64_t h = 0xcbf29ce484222325ull;
	const char *parts[2] = {c->port_name, c->tgt ? c->tgt->cfg.iqn : ""};
	for (int i = 0; i < 2; i++) {
		for (const char *s = parts[i]; *s; s++) {
			h ^= (uint8_t)*s;
			h *= 0x100000001b3ull;
		}
		h ^= 0xff; /* separator */
		h *= 0x100000001b3ull;
	}
	h ^= c->srv->cfg.tpgt;
	h *= 0x100000001b3ull;
	return h ? h : 1;
}

bool srv_session_live(struct iscsi_server *srv, const struct iscsi_conn *c)
{
	pthread_mutex_lock(&srv->lock);
	bool live = false;
	for (struct iscsi_conn *o = srv->conns; o && !live; o = o->next)
		live = o != c && same_session(o, c) && o->tsih == c->tsih;
	pthread_mutex_unlock(&srv->lock);
	return live;
}

int srv_session_begin(struct iscsi_conn *c)
{
	struct iscsi_server *srv = c->srv;
	pthread_mutex_lock(&srv->lock);
	/* RFC 7143 6.3.5: a login with the ISID of a live session and TSIH 0
	 * reinstates it: the old session is closed (its tasks aborted,
	 * its nexus gone) before the new one starts, and gives up its place
	 * in the session budget first. */
	bool waited = false;
	while (!c->discovery) {
		bool found = false;
		for (struct iscsi_conn *o = srv->conns; o; o = o->next) {
			if (o == c || !same_session(o, c))
				continue;
			found = true;
			if (!o->reinstated) {
				o->reinstated = true;
				shutdown(o->fd, SHUT_RDWR);
			}
		}
		if (!found)
			break;
		if (!waited)
			conn_log(c, "reinstating the session, closing the old one");
		waited = true;
		struct timespec ts;
		deadline_in(&ts, REINSTATE_WAIT_MS);
		if (pthread_cond_timedwait(&srv->cv, &srv->lock, &ts) == ETIMEDOUT)
			break; /* the old one is stuck in a command; ids differ */
	}
	int r = admit_session(c);
	if (r == 0 && !c->discovery) {
		do {
			c->tsih = srv->next_tsih++;
		} while (c->tsih == 0 || tsih_in_use(srv, c->tsih));
		c->nexus = nexus_id(c);
		c->registered = true;
	}
	pthread_mutex_unlock(&srv->lock);
	return r;
}

void srv_cold_reset(struct iscsi_server *srv, const struct iscsi_target *tgt,
		    struct iscsi_conn *except)
{
	pthread_mutex_lock(&srv->lock);
	for (struct iscsi_conn *o = srv->conns; o; o = o->next)
		if (o != except && o->registered && o->tgt == tgt)
			shutdown(o->fd, SHUT_RDWR);
	pthread_mutex_unlock(&srv->lock);
}

void srv_conn_gone(struct iscsi_conn *c)
{
	struct iscsi_server *srv = c->srv;
	pthread_mutex_lock(&srv->lock);
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->n_conns--;
	admit_release(c);
	close(c->fd);
	pthread_cond_broadcast(&srv->cv);
	pthread_mutex_unlock(&srv->lock);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->send_lock);
	pthread_cond_destroy(&c->idle_cv);
	free(c);
}

/* "host:port", "[v6]:port", "host" (port 3260); "*" or "" host: any. */
static int parse_listen(const char *s, char *host, size_t hlen, char *port, size_t plen)
{
	const char *p;
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (!end || (size_t)(end - s - 1) >= hlen)
			return -EINVAL;
		memcpy(host, s + 1, (size_t)(end - s - 1));
		host[end - s - 1] = '\0';
		p = end[1] == ':' ? end + 2 : end[1] ? NULL : "3260";
	} else {
		const char *colon = strrchr(s, ':');
		size_t n = colon ? (size_t)(colon - s) : strlen(s);
		if (colon && strchr(s, ':') != colon)
			return -EINVAL; /* a bare IPv6 address needs brackets */
		if (n >= hlen)
			return -EINVAL;
		memcpy(host, s, n);
		host[n] = '\0';
		p = colon ? colon + 1 : "3260";
	}
	if (!p || !*p || strlen(p) >= plen)
		return -EINVAL;
	snprintf(port, plen, "%s", p);
	if (!strcmp(host, "*"))
		host[0] = '\0';
	return 0;
}

static void set_portal(struct iscsi_conn *c)
{
	/* RFC 7143 appendix C / 13.8: TargetAddress is the address this
	 * initiator reached us on (as LIO does for wildcard and loopback
	 * portals), so NAT and VMs get a usable answer. A connection that
	 * arrives on a loopback address may come through a NAT that ends on
	 * this host (QEMU user networking: the guest dialled 10.0.2.2), so the
	 * address we see is not one the initiator can use; then the target
	 * record carries no TargetAddress, and the initiator uses the address
	 * of its discovery session (RFC 7143 appendix C; open-iscsi's
	 * add_target_record falls back to it). */
	char a[INET6_ADDRSTRLEN] = "";
	uint16_t port = 0;
	struct sockaddr_storage *ss = &c->local;
	c->portal_loopback = false;
	if (ss->ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		port = ntohs(s6->sin6_port);
		c->portal_loopback =
		    IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr) ||
		    (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr) && s6->sin6_addr.s6_addr[12] == 127);
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			inet_ntop(AF_INET, s6->sin6_addr.s6_addr + 12, a, sizeof(a));
			snprintf(c->portal, sizeof(c->portal), "%s:%u,%u", a, port,
				 c->srv->cfg.tpgt);
			return;
		}
		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		snprintf(c->portal, sizeof(c->portal), "[%s]:%u,%u", a, port, c->srv->cfg.tpgt);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		port = ntohs(s4->sin_port);
		c->portal_loopback = (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		snprintf(c->portal, sizeof(c->portal), "%s:%u,%u", a, port, c->srv->cfg.tpgt);
	}
}

static void set_peer(struct iscsi_conn *c, const struct sockaddr_storage *ss)
{
	char a[INET6_ADDRSTRLEN] = "?";
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		snprintf(c->peer, sizeof(c->peer), "[%s]:%u", a, ntohs(s6->sin6_port));
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		snprintf(c->peer, sizeof(c->peer), "%s:%u", a, ntohs(s4->sin_port));
	}
}

static void tune_socket(int fd)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	int idle = 60, intvl = 10, cnt = 6;
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

/* Wait a little, or until iscsi_server_stop() writes the wake pipe. */
static void back_off(struct iscsi_server *srv)
{
	struct pollfd p = {.fd = srv->wake[0], .events = POLLIN};
	poll(&p, 1, ACCEPT_BACKOFF_MS);
}

/*
 * accept() failed for want of descriptors or memory while a connection
 * waits, so poll() will report it again at once. Out of descriptors, an
 * idle connection in login is evicted and the waiting one is accepted once
 * the evicted one has closed its descriptor; with none idle, the spare
 * descriptor is given up to accept the waiting connection and close it
 * (the peer sees a close, not a hang). Otherwise, or without a spare,
 * back off.
 */
static void accept_failed(struct iscsi_server *srv, int err)
{
	bool no_fd = err == EMFILE || err == ENFILE;
	pthread_mutex_lock(&srv->lock);
	if (no_fd && admit_evict_idle(srv)) {
		struct timespec ts;
		deadline_in(&ts, ACCEPT_BACKOFF_MS);
		pthread_cond_timedwait(&srv->cv, &srv->lock, &ts); /* srv_conn_gone */
		pthread_mutex_unlock(&srv->lock);
		return;
	}
	srv->shed.refused++;
	if (no_fd)
		srv->shed.no_fd++;
	pthread_mutex_unlock(&srv->lock);

	bool shed = false;
	if (no_fd && srv->spare_fd >= 0) {
		close(srv->spare_fd);
		int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0) {
			close(fd);
			shed = true;
		}
		srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	if (!shed || srv->spare_fd < 0)
		back_off(srv);
}

static void accept_one(struct iscsi_server *srv)
{
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	int fd =
	    accept4(srv->listen_fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		int err = errno;
		if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM)
			accept_failed(srv, err);
		return; /* EAGAIN, ECONNABORTED, EINTR: nothing is waiting */
	}
	uint64_t accepted = now_ms();
	tune_socket(fd);

	struct iscsi_conn *c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->srv = srv;
	c->fd = fd;
	socklen_t llen = sizeof(c->local);
	getsockname(fd, (struct sockaddr *)&c->local, &llen);
	set_portal(c);
	set_peer(c, &peer);
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->send_lock, NULL);
	pthread_cond_init(&c->idle_cv, NULL);
	c->next_ttt = 1;
	c->accepted_ms = accepted;

	pthread_mutex_lock(&srv->lock);
	if (srv->stopping || admit_conn(srv, c, &peer) < 0) {
		pthread_mutex_unlock(&srv->lock);
		goto drop;
	}
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	srv->n_conns++;

	pthread_attr_t attr;
	pthread_t th;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int r = pthread_create(&th, &attr, conn_thread, c);
	pthread_attr_destroy(&attr);
	if (r) {
		srv->conns = c->next;
		if (c->next)
			c->next->prev = NULL;
		srv->n_conns--;
		admit_release(c);
		pthread_mutex_unlock(&srv->lock);
		goto drop;
	}
	pthread_mutex_unlock(&srv->lock);
	return;
drop:
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->send_lock);
	pthread_cond_destroy(&c->idle_cv);
	free(c);
	close(fd);
}

static void *acceptor(void *arg)
{
	struct iscsi_server *srv = arg;
	for (;;) {
		struct pollfd p[2] = {{.fd = srv->listen_fd, .events = POLLIN},
				      {.fd = srv->wake[0], .events = POLLIN}};
		int r = poll(p, 2, REPORT_POLL_MS);
		if (r < 0 && errno != EINTR)
			break;
		if (r > 0 && p[1].revents)
			break;
		if (r > 0 && (p[0].revents & POLLIN))
			accept_one(srv);
		admit_report(srv, false);
	}
	admit_report(srv, true);
	return NULL;
}

/* Every connection holds a descriptor: say so when the process may run out
 * of them before the connection limits are reached (accept() then sheds
 * connections, see accept_failed). */
static void check_fd_limit(struct iscsi_server *srv)
{
	const struct iscsi_server_config *cfg = &srv->cfg;
	rlim_t want = (rlim_t)cfg->max_sessions + 2 * (rlim_t)cfg->max_login_conns + FD_RESERVE;
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want)
		srv_log(srv,
			"the open files limit (%llu) is below the %llu the connection limits may "
			"need; raise it (ulimit -n) or lower max_sessions",
			(unsigned long long)rl.rlim_cur, (unsigned long long)want);
}

int iscsi_server_start(struct iscsi_server *srv)
{
	char host[128], port[16];
	if (srv->started)
		return -EALREADY;
	int r = parse_listen(srv->cfg.listen, host, sizeof(host), port, sizeof(port));
	if (r < 0)
		return r;

	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *ai;
	if (getaddrinfo(host[0] ? host : NULL, port, &hints, &ai))
		return -EADDRNOTAVAIL;
	/* A wildcard portal prefers the IPv6 socket, which takes IPv4 too. */
	struct addrinfo *pick = ai;
	if (!host[0])
		for (struct addrinfo *a = ai; a; a = a->ai_next)
			if (a->ai_family == AF_INET6)
				pick = a;
	/* Non-blocking: a connection reset between poll() and accept() must
	 * not leave the acceptor blocked (and iscsi_server_stop waiting). */
	int fd = socket(pick->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		r = -errno;
		freeaddrinfo(ai);
		return r;
	}
	int one = 1, zero = 0;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (pick->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, pick->ai_addr, pick->ai_addrlen) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
		r = -errno;
		close(fd);
		freeaddrinfo(ai);
		return r;
	}
	freeaddrinfo(ai);

	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	srv->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						   : ((struct sockaddr_in *)&ss)->sin_port);
	if (pipe2(srv->wake, O_CLOEXEC) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	srv->listen_fd = fd;
	srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	check_fd_limit(srv);
	if (pthread_create(&srv->acceptor, NULL, acceptor, srv)) {
		close(fd);
		close(srv->wake[0]);
		close(srv->wake[1]);
		if (srv->spare_fd >= 0)
			close(srv->spare_fd);
		srv->listen_fd = srv->wake[0] = srv->wake[1] = srv->spare_fd = -1;
		return -EAGAIN;
	}
	srv->started = true;
	return 0;
}

uint16_t iscsi_server_port(const struct iscsi_server *srv)
{
	return srv->port;
}

void iscsi_server_stop(struct iscsi_server *srv)
{
	if (!srv->started)
		return;
	pthread_mutex_lock(&srv->lock);
	srv->stopping = true;
	pthread_mutex_unlock(&srv->lock);
	ssize_t w = write(srv->wake[1], "x", 1);
	(void)w;
	pthread_join(srv->acceptor, NULL);
	close(srv->listen_fd);
	close(srv->wake[0]);
	close(srv->wake[1]);
	if (srv->spare_fd >= 0)
		close(srv->spare_fd);
	srv->listen_fd = srv->wake[0] = srv->wake[1] = srv->spare_fd = -1;

	/* Closing the read side wakes every receiver; each sends its Async
	 * Message (11.9.1 event 3) and ends its session. A connection that
	 * does not go in time is cut. */
	pthread_mutex_lock(&srv->lock);
	for (struct iscsi_conn *c = srv->conns; c; c = c->next)
		shutdown(c->fd, SHUT_RD);
	struct timespec ts;
	deadline_in(&ts, STOP_GRACE_MS);
	while (srv->n_conns > 0)
		if (pthread_cond_timedwait(&srv->cv, &srv->lock, &ts) == ETIMEDOUT)
			break;
	for (struct iscsi_conn *c = srv->conns; c; c = c->next)
		shutdown(c->fd, SHUT_RDWR);
	while (srv->n_conns > 0)
		pthread_cond_wait(&srv->cv, &srv->lock);
	pthread_mutex_unlock(&srv->lock);
	srv->started = false;
}

void iscsi_server_destroy(struct iscsi_server *srv)
{
	if (!srv)
		return;
	iscsi_server_stop(srv);
	for (size_t i = 0; i < srv->n_targets; i++)
		target_free(srv->targets[i]);
	free(srv->targets);
	admit_fini(srv);
	pthread_mutex_destroy(&srv->lock);
	pthread_cond_destroy(&srv->cv);
	free(srv);
}
