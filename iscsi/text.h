/*
 * text.h - iSCSI text keys (RFC 7143 section 6 and 13): parsing the
 * key=value\0 data segment of Login and Text PDUs, building responses, and
 * the operational parameter negotiation table.
 *
 * The table (text.c) is the single place where each key's type, range,
 * default and result function live; login.c and the Text handler only feed
 * it keys and send what it answers.
 */
#ifndef VTL_ISCSI_TEXT_H
#define VTL_ISCSI_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iscsi.h"

/* RFC 7143 6.1: key names are at most 63 bytes; values at most 255 bytes
 * except where a key says otherwise (CHAP binary values, 12.1.3). */
#define KV_MAX_KEY   63
#define KV_MAX_PAIRS 128

struct kv_pair {
	const char *key;
	const char *val;
};

/*
 * Split a text data segment into pairs, in place (the '=' and trailing NUL
 * become string terminators). Returns the number of pairs, or -EINVAL for a
 * malformed segment (no '=', over-long key, more than KV_MAX_PAIRS).
 */
int kv_parse(char *data, size_t len, struct kv_pair *pairs, size_t max);

/* A growing response buffer, bounded at `limit` bytes. */
struct kv_out {
	char *buf;
	size_t len, cap, limit;
	bool overflow;
};

void kv_out_init(struct kv_out *o, size_t limit);
void kv_out_free(struct kv_out *o);
void kv_add(struct kv_out *o, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Operational parameters (RFC 7143 13). Both sides' limits and the
 * negotiated result use this one shape. */
struct iscsi_params {
	bool header_digest, data_digest;
	uint32_t max_connections;
	bool initial_r2t, immediate_data;
	uint32_t max_recv_dsl; /* what the target accepts (it declares it) */
	uint32_t max_xmit_dsl; /* the initiator's MaxRecvDataSegmentLength */
	uint32_t max_burst, first_burst;
	uint32_t time2wait, time2retain;
	uint32_t max_outstanding_r2t;
	bool data_pdu_in_order, data_seq_in_order;
	uint32_t erl;
	uint32_t protocol_level; /* RFC 7144 */
};

/* The RFC defaults (what applies to a key nobody negotiated). */
void iscsi_params_defaults(struct iscsi_params *p);

struct neg_state {
	struct iscsi_params *result;
	const struct iscsi_params *ours;
	enum iscsi_digest_policy header_digest, data_digest;
	bool discovery;
	uint64_t seen; /* bit per table row: a key offered twice is an error */
};

enum neg_outcome {
	NEG_NOT_OPERATIONAL = 0, /* not in the table: the caller handles it */
	NEG_ANSWERED = 1,
	NEG_DUPLICATE = -1, /* RFC 7143 6.2: a key negotiated twice */
};

/* Negotiate one operational key, appending the answer to out. */
enum neg_outcome neg_key(struct neg_state *ns, const char *key, const char *val,
			 struct kv_out *out);

/* After the operational stage: fix up dependent values (FirstBurstLength
 * never exceeds MaxBurstLength, 13.14). */
void neg_finish(struct neg_state *ns);

#endif
