/*
 * text.c - iSCSI text key parsing and operational negotiation
 * (RFC 7143 6.1, 6.2 and 13).
 *
 * Negotiation is table driven: each row names a key, its kind (the result
 * function of RFC 7143 6.2.2 / 6.2.1), its valid range and where its value
 * lives in struct iscsi_params. The responder (this target) answers:
 *   - list keys (digests): the first value in the initiator's list that we
 *     allow (6.2.1), or Reject when none is acceptable;
 *   - Boolean OR / AND keys: the result function applied to both values;
 *   - numerical min / max keys: the result function, clamped to range;
 *   - declarative keys: nothing (MaxRecvDataSegmentLength is recorded);
 *   - a value outside its range or not parseable: Reject (6.2.1), and the
 *     default stays in force;
 *   - a key irrelevant in this session type: Irrelevant (6.2.1);
 *   - obsoleted marker keys: No for IFMarker/OFMarker, Reject for
 *     IFMarkInt/OFMarkInt (13.25).
 * Unknown keys are not in the table; the caller answers NotUnderstood.
 */
#include "config.h"

#include "text.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int kv_parse(char *data, size_t len, struct kv_pair *pairs, size_t max)
{
	size_t n = 0;
	size_t i = 0;

	while (i < len) {
		char *start = data + i;
		char *end = memchr(start, '\0', len - i);
		size_t plen = end ? (size_t)(end - start) : len - i;

		if (!end)
			return -EINVAL; /* RFC 7143 6.1: every pair ends with NUL */
		i += plen + 1;
		if (plen == 0)
			continue; /* padding NULs */
		char *eq = memchr(start, '=', plen);
		if (!eq || eq == start || (size_t)(eq - start) > KV_MAX_KEY)
			return -EINVAL;
		if (n == max)
			return -EINVAL;
		*eq = '\0';
		pairs[n].key = start;
		pairs[n].val = eq + 1;
		n++;
	}
	return (int)n;
}

void kv_out_init(struct kv_out *o, size_t limit)
{
	memset(o, 0, sizeof(*o));
	o->limit = limit;
}

void kv_out_free(struct kv_out *o)
{
	free(o->buf);
	memset(o, 0, sizeof(*o));
}

void kv_add(struct kv_out *o, const char *key, const char *fmt, ...)
{
	char val[1024];
	va_list ap;

	va_start(ap, fmt);
	int vn = vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	if (vn < 0 || (size_t)vn >= sizeof(val)) {
		o->overflow = true;
		return;
	}
	size_t need = strlen(key) + 1 + (size_t)vn + 1;
	if (o->len + need > o->limit) {
		o->overflow = true;
		return;
	}
	if (o->len + need > o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 512;
		while (cap < o->len + need)
			cap *= 2;
		char *b = realloc(o->buf, cap);
		if (!b) {
			o->overflow = true;
			return;
		}
		o->buf = b;
		o->cap = cap;
	}
	o->len += (size_t)sprintf(o->buf + o->len, "%s=%s", key, val) + 1;
}

void iscsi_params_defaults(struct iscsi_params *p)
{
	/* The defaults of RFC 7143 13 (each key's own subsection). */
	*p = (struct iscsi_params){
	    .header_digest = false,
	    .data_digest = false,
	    .max_connections = 1,
	    .initial_r2t = true,
	    .immediate_data = true,
	    .max_recv_dsl = 8192,
	    .max_xmit_dsl = 8192,
	    .max_burst = 262144,
	    .first_burst = 65536,
	    .time2wait = 2,
	    .time2retain = 20,
	    .max_outstanding_r2t = 1,
	    .data_pdu_in_order = true,
	    .data_seq_in_order = true,
	    .erl = 0,
	    .protocol_level = 1,
	};
}

enum key_kind {
	K_DIGEST,	  /* list: None, CRC32C (13.1) */
	K_BOOL_OR,	  /* result: OR (6.2.2) */
	K_BOOL_AND,	  /* result: AND */
	K_MIN,		  /* numerical, result: minimum */
	K_MAX,		  /* numerical, result: maximum */
	K_DECLARE_MRDSL,  /* declarative MaxRecvDataSegmentLength (13.12) */
	K_MARKER,	  /* obsoleted IFMarker/OFMarker (13.25): answer No */
	K_REJECT,	  /* obsoleted IFMarkInt/OFMarkInt: answer Reject */
	K_TASK_REPORTING, /* RFC 7144 TaskReporting: we do RFC3720 */
};

#define NO_DISCOVERY 1u /* Irrelevant when SessionType=Discovery */

struct key_def {
	const char *name;
	enum key_kind kind;
	uint32_t lo, hi;
	size_t off; /* offset of the bool or uint32_t in struct iscsi_params */
	unsigned flags;
};

#define P(f) offsetof(struct iscsi_params, f)

static const struct key_def keys[] = {
    {"HeaderDigest", K_DIGEST, 0, 0, P(header_digest), 0},			      /* 13.1 */
    {"DataDigest", K_DIGEST, 0, 0, P(data_digest), 0},				      /* 13.1 */
    {"MaxConnections", K_MIN, 1, 65535, P(max_connections), NO_DISCOVERY},	      /* 13.2 */
    {"InitialR2T", K_BOOL_OR, 0, 0, P(initial_r2t), NO_DISCOVERY},		      /* 13.10 */
    {"ImmediateData", K_BOOL_AND, 0, 0, P(immediate_data), NO_DISCOVERY},	      /* 13.11 */
    {"MaxRecvDataSegmentLength", K_DECLARE_MRDSL, 512, 16777215, P(max_xmit_dsl), 0}, /* 13.12 */
    {"MaxBurstLength", K_MIN, 512, 16777215, P(max_burst), NO_DISCOVERY},	      /* 13.13 */
    {"FirstBurstLength", K_MIN, 512, 16777215, P(first_burst), NO_DISCOVERY},	      /* 13.14 */
    {"DefaultTime2Wait", K_MAX, 0, 3600, P(time2wait), 0},			      /* 13.15 */
    {"DefaultTime2Retain", K_MIN, 0, 3600, P(time2retain), 0},			      /* 13.16 */
    {"MaxOutstandingR2T", K_MIN, 1, 65535, P(max_outstanding_r2t), NO_DISCOVERY},     /* 13.17 */
    {"DataPDUInOrder", K_BOOL_OR, 0, 0, P(data_pdu_in_order), NO_DISCOVERY},	      /* 13.18 */
    {"DataSequenceInOrder", K_BOOL_OR, 0, 0, P(data_seq_in_order), NO_DISCOVERY},     /* 13.19 */
    {"ErrorRecoveryLevel", K_MIN, 0, 2, P(erl), 0},				      /* 13.20 */
    {"iSCSIProtocolLevel", K_MIN, 0, 31, P(protocol_level), 0}, /* RFC 7144 13.1 */
    {"IFMarker", K_MARKER, 0, 0, 0, 0},				/* 13.25 */
    {"OFMarker", K_MARKER, 0, 0, 0, 0},
    {"IFMarkInt", K_REJECT, 0, 0, 0, 0},
    {"OFMarkInt", K_REJECT, 0, 0, 0, 0},
    {"TaskReporting", K_TASK_REPORTING, 0, 0, 0, 0}, /* RFC 7144 13.2 */
};

_Static_assert(sizeof(keys) / sizeof(keys[0]) <= 64, "seen mask is 64 bits");

static bool *field_bool(struct iscsi_params *p, size_t off)
{
	return (bool *)((char *)p + off);
}

static uint32_t *field_u32(struct iscsi_params *p, size_t off)
{
	return (uint32_t *)((char *)p + off);
}

static bool cfield_bool(const struct iscsi_params *p, size_t off)
{
	return *(const bool *)((const char *)p + off);
}

static uint32_t cfield_u32(const struct iscsi_params *p, size_t off)
{
	return *(const uint32_t *)((const char *)p + off);
}

/* RFC 7143 6.1: numerical values are decimal, or hex with 0x. */
static bool parse_number(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
	char *end;
	if (!*s || *s == '-' || *s == '+' || *s == ' ')
		return false;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || *end || v < lo || v > hi)
		return false;
	*out = (uint32_t)v;
	return true;
}

static int parse_bool(const char *s)
{
	if (!strcmp(s, "Yes"))
		return 1;
	if (!strcmp(s, "No"))
		return 0;
	return -1;
}

/* Does a comma-separated list contain `item`? */
static bool list_has(const char *list, const char *item)
{
	size_t n = strlen(item);
	const char *p = list;
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		if (len == n && !memcmp(p, item, n))
			return true;
		if (!comma)
			break;
		p = comma + 1;
	}
	return false;
}

static const char *pick_digest(const char *list, enum iscsi_digest_policy pol)
{
	const char *p = list;
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		if (len == 4 && !memcmp(p, "None", 4) && pol != ISCSI_DIGEST_REQUIRE)
			return "None";
		if (len == 6 && !memcmp(p, "CRC32C", 6) && pol != ISCSI_DIGEST_NONE)
			return "CRC32C";
		if (!comma)
			break;
		p = comma + 1;
	}
	return NULL;
}

enum neg_outcome neg_key(struct neg_state *ns, const char *key, const char *val, struct kv_out *out)
{
	size_t i;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!strcmp(keys[i].name, key))
			break;
	if (i == sizeof(keys) / sizeof(keys[0]))
		return NEG_NOT_OPERATIONAL;

	const struct key_def *k = &keys[i];
	if (ns->seen & (1ull << i))
		return NEG_DUPLICATE;
	ns->seen |= 1ull << i;

	if (ns->discovery && (k->flags & NO_DISCOVERY)) {
		kv_add(out, key, "Irrelevant");
		return NEG_ANSWERED;
	}

	uint32_t v;
	int b;
	switch (k->kind) {
	case K_DIGEST: {
		const char *pick = pick_digest(val, k->off == P(header_digest) ? ns->header_digest
									       : ns->data_digest);
		if (!pick) {
			kv_add(out, key, "Reject");
			break;
		}
		*field_bool(ns->result, k->off) = !strcmp(pick, "CRC32C");
		kv_add(out, key, "%s", pick);
		break;
	}
	case K_BOOL_OR:
	case K_BOOL_AND:
		b = parse_bool(val);
		if (b < 0) {
			kv_add(out, key, "Reject");
			break;
		}
		bool ours = cfield_bool(ns->ours, k->off);
		bool res = k->kind == K_BOOL_OR ? (b || ours) : (b && ours);
		*field_bool(ns->result, k->off) = res;
		kv_add(out, key, "%s", res ? "Yes" : "No");
		break;
	case K_MIN:
	case K_MAX:
		if (!parse_number(val, k->lo, k->hi, &v)) {
			kv_add(out, key, "Reject");
			break;
		}
		uint32_t o = cfield_u32(ns->ours, k->off);
		uint32_t r = k->kind == K_MIN ? (v < o ? v : o) : (v > o ? v : o);
		*field_u32(ns->result, k->off) = r;
		kv_add(out, key, "%u", r);
		break;
	case K_DECLARE_MRDSL:
		/* Declarative (13.12): no answer; the target declares its own
		 * value separately. An invalid value is rejected. */
		if (!parse_number(val, k->lo, k->hi, &v)) {
			kv_add(out, key, "Reject");
			break;
		}
		*field_u32(ns->result, k->off) = v;
		break;
	case K_MARKER:
		kv_add(out, key, "No");
		break;
	case K_REJECT:
		kv_add(out, key, "Reject");
		break;
	case K_TASK_REPORTING:
		kv_add(out, key, "%s", list_has(val, "RFC3720") ? "RFC3720" : "Reject");
		break;
	}
	return NEG_ANSWERED;
}

void neg_finish(struct neg_state *ns)
{
	struct iscsi_params *p = ns->result;
	if (p->first_burst > p->max_burst)
		p->first_burst = p->max_burst;
}
