/*
 * login.c - the login phase (RFC 7143 6 and 11.12/11.13): security
 * negotiation with CHAP (12.1.3), the initiator ACL, and operational
 * negotiation through the table in text.c.
 *
 * The target is always the responder. It answers each key once, declares
 * its own MaxRecvDataSegmentLength, TargetAlias and TargetPortalGroupTag,
 * and moves to the next stage only when the initiator asked to (T bit) and
 * the current stage is complete (authentication done). Any failure sends a
 * Login Response with the status class/detail of 11.13.5 and closes the
 * connection. Login PDUs are bounded by the 8192-byte default
 * MaxRecvDataSegmentLength that applies during login (13.12), and a whole
 * multi-PDU (C bit) request by LOGIN_TEXT_MAX.
 *
 * Time is bounded from the accept on (admit.c): the first PDU header must
 * be complete within first_pdu_timeout_s, the whole login within
 * login_timeout_s, and every wait on the socket ends at the current bound
 * (c->io_deadline_ms), so trickling bytes buys a peer nothing.
 */
#include "config.h"

#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chap.h"
#include "util/metrics.h"

#define LOGIN_PDU_MAX	 8192
#define LOGIN_TEXT_MAX	 65536
#define LOGIN_ROUNDS_MAX 32
#define MS_PER_S	 1000

enum auth_state {
	AUTH_NONE,	/* nothing asked yet */
	AUTH_WAIT_ALG,	/* AuthMethod=CHAP agreed; waiting for CHAP_A */
	AUTH_WAIT_RESP, /* challenge sent; waiting for CHAP_N/CHAP_R */
	AUTH_DONE,
};

struct login {
	struct iscsi_conn *c;
	uint8_t first[ISCSI_BHS_LEN];
	bool started;
	int stage;
	bool need_auth;
	bool method_none; /* AuthMethod=None agreed */
	enum auth_state auth;
	const struct iscsi_chap *chap;
	int alg;
	uint8_t id;
	uint8_t challenge[CHAP_MAX_DIGEST];
	size_t clen;
	struct neg_state neg;
	bool declared;
	bool sent_tpgt;
	char target_name[224];
	bool have_session_type;
};

static int login_respond(struct login *l, uint8_t flags, const struct kv_out *o, uint16_t status)
{
	struct iscsi_conn *c = l->c;
	uint8_t h[ISCSI_BHS_LEN] = {OP_LOGIN_RSP, flags};
	h[LOGIN_VERSION_MAX] = 0;
	h[LOGIN_VERSION_MIN] = 0; /* VersionActive */
	memcpy(h + LOGIN_ISID, c->isid, 6);
	put_be16(h + LOGIN_TSIH, status == LOGIN_OK && (flags & LOGIN_TRANSIT) &&
					 LOGIN_NSG(flags) == STAGE_FULL_FEATURE
				     ? c->tsih
				     : 0);
	memcpy(h + BHS_ITT, l->first + BHS_ITT, 4);
	/* 11.13.4: every Login Response, the first included, takes a StatSN. */
	put_be32(h + 24, c->stat_sn++);
	put_be32(h + 28, c->exp_cmdsn);
	put_be32(h + 32, c->max_cmdsn);
	h[LOGIN_STATUS_CLASS] = (uint8_t)(status >> 8);
	h[LOGIN_STATUS_DETAIL] = (uint8_t)status;
	return tx_pdu(c, h, o ? o->buf : NULL, o ? (uint32_t)o->len : 0);
}

static int login_fail(struct login *l, uint16_t status, const char *why)
{
	conn_log(l->c, "login refused (status 0x%04x): %s", status, why);
	met_iscsi_login(false);
	login_respond(l, (uint8_t)(l->stage << 2), NULL, status);
	return -EACCES;
}

static bool has_item(const char *list, const char *item)
{
	size_t n = strlen(item);
	for (const char *p = list; *p;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		if (len == n && !strncmp(p, item, n))
			return true;
		if (!comma)
			break;
		p = comma + 1;
	}
	return false;
}

/* Declarative keys of the first request: who and what (RFC 7143 13.4-13.6,
 * 13.21). Returns a login status. */
static uint16_t login_identify(struct login *l, const struct kv_pair *pairs, int n)
{
	struct iscsi_conn *c = l->c;
	const char *iname = NULL, *tname = NULL, *stype = NULL;
	for (int i = 0; i < n; i++) {
		if (!strcmp(pairs[i].key, "InitiatorName"))
			iname = pairs[i].val;
		else if (!strcmp(pairs[i].key, "TargetName"))
			tname = pairs[i].val;
		else if (!strcmp(pairs[i].key, "SessionType"))
			stype = pairs[i].val;
	}
	if (!iname || !*iname || strlen(iname) >= sizeof(c->initiator))
		return LOGIN_MISSING_PARAMETER;
	snprintf(c->initiator, sizeof(c->initiator), "%s", iname);
	if (stype && !strcmp(stype, "Discovery"))
		c->discovery = true;
	else if (stype && strcmp(stype, "Normal"))
		return LOGIN_SESSION_TYPE_UNSUPPORTED;

	const struct iscsi_server_config *cfg = &c->srv->cfg;
	if (c->discovery) {
		l->chap = &cfg->discovery_chap;
	} else {
		if (!tname || !*tname)
			return LOGIN_MISSING_PARAMETER;
		snprintf(l->target_name, sizeof(l->target_name), "%s", tname);
		c->tgt = srv_find_target(c->srv, tname);
		if (!c->tgt)
			return LOGIN_NOT_FOUND;
		/* Per-target initiator ACL: known target, initiator not
		 * allowed (11.13.5 "Authorization failure"). */
		if (!srv_target_allows(c->tgt, c->initiator))
			return LOGIN_AUTHORIZATION_FAILED;
		l->chap = &c->tgt->cfg.chap;
	}
	l->need_auth = l->chap->user[0] != '\0';
	l->neg.discovery = c->discovery;
	return LOGIN_OK;
}

/* Values of the CHAP keys found in one request. */
struct chap_keys {
	const char *a, *i, *c, *n, *r;
};

/* RFC 7143 12.1.3 steps: CHAP_A -> challenge; CHAP_N/CHAP_R -> verify and,
 * for mutual CHAP, answer the initiator's CHAP_I/CHAP_C. */
static uint16_t login_chap(struct login *l, const struct chap_keys *k, struct kv_out *o)
{
	if (l->auth == AUTH_WAIT_ALG && k->a) {
		l->alg = chap_pick_alg(k->a);
		if (l->alg < 0) {
			kv_add(o, "CHAP_A", "Reject");
			return LOGIN_AUTH_FAILED;
		}
		l->clen = chap_digest_len(l->alg);
		if (l->clen < 16)
			l->clen = 16;
		if (chap_random(&l->id, 1) || chap_random(l->challenge, l->clen))
			return LOGIN_TARGET_ERROR;
		char hex[2 * CHAP_MAX_DIGEST + 3];
		chap_encode_hex(l->challenge, l->clen, hex);
		kv_add(o, "CHAP_A", "%d", l->alg);
		kv_add(o, "CHAP_I", "%u", l->id);
		kv_add(o, "CHAP_C", "%s", hex);
		l->auth = AUTH_WAIT_RESP;
		return LOGIN_OK;
	}
	if (l->auth != AUTH_WAIT_RESP)
		return k->a || k->n || k->r || k->i || k->c ? LOGIN_INITIATOR_ERROR : LOGIN_OK;
	if (!k->n && !k->r)
		return LOGIN_OK;
	if (!k->n || !k->r)
		return LOGIN_AUTH_FAILED;

	size_t dlen = chap_digest_len(l->alg);
	uint8_t got[CHAP_MAX_BIN], want[CHAP_MAX_DIGEST];
	size_t glen;
	if (strcmp(k->n, l->chap->user))
		return LOGIN_AUTH_FAILED;
	if (chap_decode(k->r, got, sizeof(got), &glen) || glen != dlen)
		return LOGIN_AUTH_FAILED;
	if (chap_response(l->alg, l->id, l->chap->secret, l->challenge, l->clen, want) ||
	    !chap_equal(got, want, dlen))
		return LOGIN_AUTH_FAILED;

	if (k->i || k->c) {
		/* Mutual CHAP: the initiator challenges us. */
		if (!k->i || !k->c || !l->chap->mutual_user[0])
			return LOGIN_AUTH_FAILED;
		char *end;
		unsigned long id = strtoul(k->i, &end, 0);
		uint8_t ich[CHAP_MAX_BIN];
		size_t ilen;
		if (*end || id > 255 || chap_decode(k->c, ich, sizeof(ich), &ilen) || ilen == 0)
			return LOGIN_AUTH_FAILED;
		/* 12.1.3: a reflected challenge is refused. */
		if (ilen == l->clen && chap_equal(ich, l->challenge, ilen))
			return LOGIN_AUTH_FAILED;
		uint8_t rsp[CHAP_MAX_DIGEST];
		char hex[2 * CHAP_MAX_DIGEST + 3];
		if (chap_response(l->alg, (uint8_t)id, l->chap->mutual_secret, ich, ilen, rsp))
			return LOGIN_TARGET_ERROR;
		chap_encode_hex(rsp, dlen, hex);
		kv_add(o, "CHAP_N", "%s", l->chap->mutual_user);
		kv_add(o, "CHAP_R", "%s", hex);
	}
	l->auth = AUTH_DONE;
	return LOGIN_OK;
}

/* Process one complete login request (all its C-bit pieces). Returns 1
 * when the full feature phase begins, 0 to continue, <0 to close. */
static int login_step(struct login *l, const uint8_t *bhs, char *text, size_t len)
{
	struct iscsi_conn *c = l->c;
	uint8_t flags = bhs[BHS_FLAGS];
	bool transit = flags & LOGIN_TRANSIT;
	int csg = LOGIN_CSG(flags), nsg = LOGIN_NSG(flags);
	struct kv_pair pairs[KV_MAX_PAIRS];
	uint16_t st;

	if (!l->started) {
		memcpy(l->first, bhs, ISCSI_BHS_LEN);
		memcpy(c->isid, bhs + LOGIN_ISID, 6);
		c->tsih = get_be16(bhs + LOGIN_TSIH);
		c->cid = get_be16(bhs + LOGIN_CID);
		/* 4.2.2.1: the first non-immediate command carries the
		 * login's CmdSN; StatSN starts where the initiator expects. */
		c->exp_cmdsn = get_be32(bhs + BHS_CMDSN);
		c->max_cmdsn = c->exp_cmdsn + c->srv->cfg.queue_depth - 1;
		c->stat_sn = get_be32(bhs + BHS_EXPSTATSN);
		l->stage = csg;
		l->started = true;
		/* 11.12.4: version 0 is the only one. */
		if (bhs[LOGIN_VERSION_MIN] > 0)
			return login_fail(l, LOGIN_UNSUPPORTED_VERSION, "version");
		if (csg != STAGE_SECURITY && csg != STAGE_OPERATIONAL)
			return login_fail(l, LOGIN_INITIATOR_ERROR, "bad CSG");
	}
	if (csg != l->stage || (transit && (nsg <= csg || nsg == 2)))
		return login_fail(l, LOGIN_INITIATOR_ERROR, "stage sequence");

	int n = kv_parse(text, len, pairs, KV_MAX_PAIRS);
	if (n < 0)
		return login_fail(l, LOGIN_INITIATOR_ERROR, "malformed text");

	if (!c->initiator[0]) {
		st = login_identify(l, pairs, n);
		if (st != LOGIN_OK)
			return login_fail(l, st, "identification");
		if (c->tsih) {
			/* A non-zero TSIH adds a connection to a session or
			 * reinstates one of its connections (RFC 7143 6.3.4,
			 * 13.2). Sessions here have MaxConnections=1 and ERL
			 * 0, so neither is offered: a live session already
			 * has its one connection (11.13.5 "Too many
			 * connections on this SSID", as LIO answers beyond
			 * MaxConnections); any other TSIH names no session. An
			 * initiator recovers by session reinstatement (TSIH 0,
			 * 6.3.5). */
			if (!c->discovery && srv_session_live(c->srv, c))
				return login_fail(l, LOGIN_TOO_MANY_CONNECTIONS,
						  "a connection to add to a session with "
						  "MaxConnections=1");
			return login_fail(l, LOGIN_NO_SESSION, "TSIH of no live session");
		}
	}
	if (csg == STAGE_OPERATIONAL && l->need_auth && l->auth != AUTH_DONE)
		return login_fail(l, LOGIN_AUTH_FAILED, "authentication required");

	struct kv_out o;
	kv_out_init(&o, LOGIN_PDU_MAX);
	struct chap_keys ck = {0};
	st = LOGIN_OK;
	for (int i = 0; i < n && st == LOGIN_OK; i++) {
		const char *k = pairs[i].key, *v = pairs[i].val;
		if (!strcmp(k, "InitiatorName") || !strcmp(k, "TargetName") ||
		    !strcmp(k, "SessionType")) {
			/* Repeated by some initiators; must not change. */
			if (!strcmp(k, "InitiatorName") && strcmp(v, c->initiator))
				st = LOGIN_INITIATOR_ERROR;
			if (!strcmp(k, "TargetName") && !c->discovery && strcmp(v, l->target_name))
				st = LOGIN_INITIATOR_ERROR;
			continue;
		}
		if (!strcmp(k, "InitiatorAlias"))
			continue;
		if (!strcmp(k, "AuthMethod")) {
			if (csg != STAGE_SECURITY) {
				st = LOGIN_INITIATOR_ERROR;
			} else if (l->need_auth) {
				if (!has_item(v, "CHAP")) {
					kv_add(&o, k, "Reject");
					st = LOGIN_AUTH_FAILED;
				} else {
					kv_add(&o, k, "CHAP");
					l->auth = AUTH_WAIT_ALG;
				}
			} else if (has_item(v, "None")) {
				kv_add(&o, k, "None");
				l->method_none = true;
			} else {
				kv_add(&o, k, "Reject");
				st = LOGIN_AUTH_FAILED;
			}
			continue;
		}
		if (!strncmp(k, "CHAP_", 5) && k[5] && !k[6]) {
			if (csg != STAGE_SECURITY || l->auth == AUTH_NONE || l->auth == AUTH_DONE) {
				st = LOGIN_INITIATOR_ERROR;
				continue;
			}
			switch (k[5]) {
			case 'A':
				ck.a = v;
				break;
			case 'I':
				ck.i = v;
				break;
			case 'C':
				ck.c = v;
				break;
			case 'N':
				ck.n = v;
				break;
			case 'R':
				ck.r = v;
				break;
			default:
				kv_add(&o, k, "NotUnderstood");
			}
			continue;
		}
		if (!strcmp(k, "TargetAlias") || !strcmp(k, "TargetAddress") ||
		    !strcmp(k, "TargetPortalGroupTag")) {
			kv_add(&o, k, "Reject"); /* target-declared keys */
			continue;
		}
		if (!strcmp(k, "SendTargets")) {
			kv_add(&o, k, "Irrelevant"); /* full feature phase only */
			continue;
		}
		enum neg_outcome r = neg_key(&l->neg, k, v, &o);
		if (r == NEG_DUPLICATE)
			st = LOGIN_INITIATOR_ERROR;
		else if (r == NEG_NOT_OPERATIONAL)
			kv_add(&o, k, "NotUnderstood"); /* 6.2 */
	}
	if (st == LOGIN_OK && csg == STAGE_SECURITY)
		st = login_chap(l, &ck, &o);
	if (st != LOGIN_OK) {
		kv_out_free(&o);
		return login_fail(l, st, "negotiation");
	}

	/* 13.9: the first response of a normal session names the portal
	 * group; the target declares its MaxRecvDataSegmentLength (13.12)
	 * and alias in the operational stage. */
	if (!c->discovery && !l->sent_tpgt) {
		kv_add(&o, "TargetPortalGroupTag", "%u", c->srv->cfg.tpgt);
		l->sent_tpgt = true;
	}
	if (csg == STAGE_OPERATIONAL && !l->declared) {
		kv_add(&o, "MaxRecvDataSegmentLength", "%u", c->ours.max_recv_dsl);
		c->p.max_recv_dsl = c->ours.max_recv_dsl;
		if (!c->discovery && c->tgt->cfg.alias[0])
			kv_add(&o, "TargetAlias", "%s", c->tgt->cfg.alias);
		l->declared = true;
	}

	bool may_leave = csg != STAGE_SECURITY || l->auth == AUTH_DONE ||
			 (!l->need_auth && l->auth == AUTH_NONE);
	if (transit && !may_leave && l->need_auth && l->auth == AUTH_NONE) {
		kv_out_free(&o);
		return login_fail(l, LOGIN_AUTH_FAILED, "no authentication offered");
	}
	bool go = transit && may_leave;
	uint8_t rflags = (uint8_t)(csg << 2);
	if (go)
		rflags |= (uint8_t)(LOGIN_TRANSIT | nsg);
	if (o.overflow) {
		kv_out_free(&o);
		return login_fail(l, LOGIN_OUT_OF_RESOURCES, "response too long");
	}

	if (go && nsg == STAGE_FULL_FEATURE) {
		neg_finish(&l->neg);
		int e = srv_session_begin(c);
		if (e < 0) {
			kv_out_free(&o);
			/* 11.13.5: "insufficient session, connection, or
			 * other resources". Evicted: the socket is shut. */
			return e == -EBUSY ? login_fail(l, LOGIN_OUT_OF_RESOURCES,
							"max_sessions are logged in")
					   : e;
		}
	}
	int r = login_respond(l, rflags, &o, LOGIN_OK);
	kv_out_free(&o);
	if (r < 0)
		return r;
	if (go)
		l->stage = nsg;
	if (go && nsg == STAGE_FULL_FEATURE) {
		c->state = CONN_FFP;
		met_iscsi_login(true);
		return 1;
	}
	return 0;
}

static void ours_from_config(struct iscsi_conn *c)
{
	const struct iscsi_server_config *cfg = &c->srv->cfg;
	struct iscsi_params *o = &c->ours;
	iscsi_params_defaults(o);
	o->initial_r2t = false; /* unsolicited data welcome */
	o->immediate_data = true;
	o->max_recv_dsl = cfg->max_recv_data_segment;
	o->max_burst = cfg->max_burst;
	o->first_burst = cfg->first_burst;
	o->max_outstanding_r2t = cfg->max_outstanding_r2t;
	o->time2retain = 0; /* ERL 0: nothing is kept for reassignment */
	o->erl = 0;
	o->max_connections = 1;
	iscsi_params_defaults(&c->p);
}

int iscsi_login(struct iscsi_conn *c)
{
	struct login l;
	memset(&l, 0, sizeof(l));
	l.c = c;
	ours_from_config(c);
	l.neg.result = &c->p;
	l.neg.ours = &c->ours;
	l.neg.header_digest = c->srv->cfg.header_digest;
	l.neg.data_digest = c->srv->cfg.data_digest;

	char *text = malloc(LOGIN_TEXT_MAX);
	if (!text)
		return -ENOMEM;
	size_t tlen = 0;
	int r = 0;
	/* During login the 8192-byte default applies to what we receive. */
	c->p.max_recv_dsl = LOGIN_PDU_MAX;
	const struct iscsi_server_config *cfg = &c->srv->cfg;
	uint64_t login_end = c->accepted_ms + cfg->login_timeout_s * (uint64_t)MS_PER_S;
	c->io_deadline_ms = c->accepted_ms + cfg->first_pdu_timeout_s * (uint64_t)MS_PER_S;
	for (int round = 0; round < LOGIN_ROUNDS_MAX; round++) {
		uint8_t bhs[ISCSI_BHS_LEN];
		r = rx_pdu_header(c, bhs, -1, false); /* the deadline bounds the wait */
		if (r == -EMSGSIZE || r == -EPROTO)
			conn_log(c, "unexpected PDU during login (opcode 0x%02x, %u bytes)",
				 bhs_opcode(bhs), bhs_dsl(bhs));
		if (r < 0)
			break;
		if (!c->spoke) {
			/* No longer idle: no newcomer evicts it now, and it
			 * has the rest of the login time. */
			r = admit_spoke(c);
			if (r < 0)
				break;
			c->io_deadline_ms = login_end;
		}
		uint32_t dsl = bhs_dsl(bhs);
		if (bhs_opcode(bhs) != OP_LOGIN_REQ || dsl > LOGIN_PDU_MAX ||
		    tlen + dsl > LOGIN_TEXT_MAX) {
			/* RFC 7143 6.3, 11.12: only Login Requests until the
			 * login completes. */
			conn_log(c, "unexpected PDU during login (opcode 0x%02x, %u bytes)",
				 bhs_opcode(bhs), dsl);
			r = -EPROTO;
			break;
		}
		r = rx_data(c, (uint8_t *)text + tlen, dsl, false);
		if (r < 0)
			break;
		tlen += dsl;
		if (bhs[BHS_FLAGS] & LOGIN_CONTINUE) {
			/* 11.12.2: acknowledge a partial request with an empty
			 * response and wait for the rest. */
			if (!l.started) {
				memcpy(l.first, bhs, ISCSI_BHS_LEN);
				memcpy(c->isid, bhs + LOGIN_ISID, 6);
				c->exp_cmdsn = get_be32(bhs + BHS_CMDSN);
				c->max_cmdsn = c->exp_cmdsn + c->srv->cfg.queue_depth - 1;
				c->stat_sn = get_be32(bhs + BHS_EXPSTATSN);
			}
			r = login_respond(&l, (uint8_t)(LOGIN_CSG(bhs[BHS_FLAGS]) << 2), NULL,
					  LOGIN_OK);
			if (r < 0)
				break;
			continue;
		}
		r = login_step(&l, bhs, text, tlen);
		tlen = 0;
		if (r != 0)
			break;
	}
	free(text);
	if (r == -ETIMEDOUT && !c->spoke)
		admit_expired(c); /* counted, not logged one by one: floods are */
	else if (r == -ETIMEDOUT)
		conn_log(c, "login not completed within %us", cfg->login_timeout_s);
	c->io_deadline_ms = 0; /* sessions keep their own rules (NOP-In pings) */
	if (r == 1)
		return 0;
	return r < 0 ? r : -EPROTO;
}
