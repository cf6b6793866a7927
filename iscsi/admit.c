/*
 * admit.c - which connections the portal keeps. A peer that has not logged
 * in must hold only bounded resources for a short time, and no number of
 * idle or half-open connections may lock out an honest initiator
 * (ARCHITECTURE.md, Security).
 *
 * Every connection holds a thread and a descriptor, so each counts against
 * one of two budgets:
 *   - the login budget: accepted, login not complete. At most
 *     max_login_conns_per_source from one source address (an IPv6 peer by
 *     its /64, the smallest block a site is given) and max_login_conns in
 *     all. Each must send a complete PDU header within first_pdu_timeout_s
 *     of its accept and finish its login within login_timeout_s (login.c);
 *   - the session budget: logged in (RFC 7143 6, normal or discovery), at
 *     most max_sessions. A login that finds it full is answered "out of
 *     resources" (11.13.5, 0302); sessions keep their own rules (NOP-In
 *     pings, conn.c).
 *
 * A new connection that finds its source's share or the whole login budget
 * full evicts the oldest idle connection (one that has not sent a complete
 * PDU header) of its own source, or of the most crowded source when the
 * whole budget is full; only when none is idle is the newcomer refused. A
 * flood of idle connections therefore displaces itself: an honest initiator
 * sends its Login Request at once and is never idle for longer than a
 * round trip, even from the flooding address. Refused and evicted
 * connections are closed at once; an evicted one leaves its budget on the
 * spot and its thread ends as soon as it sees the shutdown. The same
 * eviction frees a descriptor when accept() finds none (server.c).
 *
 * Everything here runs under srv->lock, and its bookkeeping is the only
 * writer of conn->budget, conn->spoke and the counts.
 */
#include "config.h"

#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/metrics.h"

#define REPORT_INTERVAL_MS 10000 /* at most one line about shed connections per interval */
#define IPV6_SITE_BYTES	   8	 /* a /64 */

int admit_init(struct iscsi_server *srv)
{
	srv->by_source = calloc(srv->cfg.max_login_conns, sizeof(*srv->by_source));
	return srv->by_source ? 0 : -ENOMEM;
}

void admit_fini(struct iscsi_server *srv)
{
	free(srv->by_source);
	srv->by_source = NULL;
}

static void set_source(struct iscsi_conn *c, const struct sockaddr_storage *peer)
{
	memset(&c->source, 0, sizeof(c->source));
	if (peer->ss_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)peer)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a))
			c->source = *a;
		else
			memcpy(&c->source, a, IPV6_SITE_BYTES);
	} else if (peer->ss_family == AF_INET) {
		/* ::ffff:a.b.c.d, so that both families share one key space. */
		const struct in_addr *a = &((const struct sockaddr_in *)peer)->sin_addr;
		c->source.s6_addr[10] = c->source.s6_addr[11] = 0xff;
		memcpy(c->source.s6_addr + 12, a, sizeof(*a));
	}
}

static bool same_source(const struct iscsi_conn *a, const struct iscsi_conn *b)
{
	return !memcmp(&a->source, &b->source, sizeof(a->source));
}

static int by_source_then_age(const void *pa, const void *pb)
{
	const struct iscsi_conn *a = *(struct iscsi_conn *const *)pa;
	const struct iscsi_conn *b = *(struct iscsi_conn *const *)pb;
	int r = memcmp(&a->source, &b->source, sizeof(a->source));
	if (r)
		return r;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* The oldest idle connection of the source with the most connections in
 * login (ties: the older connection), or NULL when none is idle. */
static struct iscsi_conn *crowded_victim(struct iscsi_server *srv)
{
	struct iscsi_conn **v = srv->by_source;
	size_t n = 0;
	for (struct iscsi_conn *o = srv->conns; o && n < srv->cfg.max_login_conns; o = o->next)
		if (o->budget == BUDGET_LOGIN)
			v[n++] = o;
	qsort(v, n, sizeof(*v), by_source_then_age);

	struct iscsi_conn *best = NULL;
	size_t best_count = 0;
	for (size_t i = 0, j; i < n; i = j) {
		struct iscsi_conn *idle = NULL;
		for (j = i; j < n && same_source(v[i], v[j]); j++)
			if (!idle && !v[j]->spoke)
				idle = v[j]; /* sorted by age: the first is the oldest */
		size_t count = j - i;
		if (idle &&
		    (count > best_count || (count == best_count && idle->seq < best->seq))) {
			best = idle;
			best_count = count;
		}
	}
	return best;
}

static void evict(struct iscsi_server *srv, struct iscsi_conn *v)
{
	v->budget = BUDGET_NONE;
	srv->n_login--;
	srv->shed.evicted++;
	/* Its receiver wakes on end of stream and ends; the peer sees FIN. */
	shutdown(v->fd, SHUT_RDWR);
}

int admit_conn(struct iscsi_server *srv, struct iscsi_conn *c, const struct sockaddr_storage *peer)
{
	const struct iscsi_server_config *cfg = &srv->cfg;
	set_source(c, peer);
	/* Evicted connections leave their budget at once but keep their
	 * thread until it sees the shutdown: bound those too. */
	size_t hard_cap = (size_t)cfg->max_sessions + 2 * (size_t)cfg->max_login_conns;
	if (srv->n_conns >= hard_cap) {
		srv->shed.refused++;
		return -EBUSY;
	}

	size_t same = 0;
	struct iscsi_conn *own_idle = NULL;
	for (struct iscsi_conn *o = srv->conns; o; o = o->next) {
		if (o->budget != BUDGET_LOGIN || !same_source(o, c))
			continue;
		same++;
		if (!o->spoke && (!own_idle || o->seq < own_idle->seq))
			own_idle = o;
	}
	struct iscsi_conn *victim = NULL;
	bool full = false;
	if (same >= cfg->max_login_conns_per_source) {
		victim = own_idle;
		full = true;
	} else if (srv->n_login >= cfg->max_login_conns) {
		victim = crowded_victim(srv);
		full = true;
	}
	if (full && !victim) {
		/* Every waiting connection is mid-login: they end by
		 * login_timeout_s at the latest. */
		srv->shed.refused++;
		return -EBUSY;
	}
	if (victim)
		evict(srv, victim);
	c->budget = BUDGET_LOGIN;
	c->seq = srv->next_seq++;
	srv->n_login++;
	return 0;
}

bool admit_evict_idle(struct iscsi_server *srv)
{
	struct iscsi_conn *v = crowded_victim(srv);
	if (v)
		evict(srv, v);
	return v != NULL;
}

int admit_session(struct iscsi_conn *c)
{
	struct iscsi_server *srv = c->srv;
	if (c->budget != BUDGET_LOGIN)
		return -ECONNRESET;
	if (srv->n_sessions >= srv->cfg.max_sessions)
		return -EBUSY;
	srv->n_login--;
	srv->n_sessions++;
	c->budget = BUDGET_SESSION;
	met_iscsi_session(1);
	return 0;
}

void admit_release(struct iscsi_conn *c)
{
	struct iscsi_server *srv = c->srv;
	if (c->budget == BUDGET_LOGIN)
		srv->n_login--;
	else if (c->budget == BUDGET_SESSION) {
		srv->n_sessions--;
		met_iscsi_session(-1);
	}
	c->budget = BUDGET_NONE;
}

int admit_spoke(struct iscsi_conn *c)
{
	struct iscsi_server *srv = c->srv;
	pthread_mutex_lock(&srv->lock);
	c->spoke = true;
	int r = c->budget == BUDGET_LOGIN ? 0 : -ECONNRESET;
	pthread_mutex_unlock(&srv->lock);
	return r;
}

void admit_expired(struct iscsi_conn *c)
{
	struct iscsi_server *srv = c->srv;
	pthread_mutex_lock(&srv->lock);
	srv->shed.expired++;
	pthread_mutex_unlock(&srv->lock);
}

void admit_report(struct iscsi_server *srv, bool force)
{
	const struct iscsi_server_config *cfg = &srv->cfg;
	pthread_mutex_lock(&srv->lock);
	uint64_t now = now_ms();
	uint64_t evicted = srv->shed.evicted, refused = srv->shed.refused,
		 expired = srv->shed.expired, no_fd = srv->shed.no_fd;
	bool due = (evicted || refused || expired) && (force || now >= srv->shed.next_report_ms);
	if (due) {
		srv->shed.evicted = srv->shed.refused = srv->shed.expired = srv->shed.no_fd = 0;
		srv->shed.next_report_ms = now + REPORT_INTERVAL_MS;
	}
	pthread_mutex_unlock(&srv->lock);
	if (!due)
		return;
	srv_log(srv,
		"connections closed before a login: %llu evicted, %llu refused, %llu sent "
		"no PDU in %us (limits: %u per address, %u in all)",
		(unsigned long long)evicted, (unsigned long long)refused,
		(unsigned long long)expired, cfg->first_pdu_timeout_s,
		cfg->max_login_conns_per_source, cfg->max_login_conns);
	if (no_fd)
		srv_log(srv,
			"%llu of the refused found no free file descriptor; raise the open "
			"files limit (ulimit -n)",
			(unsigned long long)no_fd);
}
