/*
 * fuzz_iscsi_text.c - the key=value data segment of Login and Text PDUs
 * (iscsi/text.c, RFC 7143 6.1, 6.2 and 13) and the CHAP values in it
 * (iscsi/chap.c, 12.1.3): split into pairs, every operational key
 * negotiated through the table as login.c does, every value decoded as a
 * CHAP binary value and a CHAP_A list. fuzz_iscsi reaches the same code
 * through a connection; this one runs thousands of times faster.
 *
 * Input: u8 flags (bit 0: discovery session; bits 1-2 and 3-4: header and
 * data digest policy), then the data segment.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "iscsi/chap.h"
#include "iscsi/text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t flags = data[0];
	data++;
	size--;
	/* Exactly the segment's bytes, so that a read past it is reported. */
	char *seg = malloc(size ? size : 1);
	if (!seg)
		return 0;
	memcpy(seg, data, size);
	struct kv_pair pairs[KV_MAX_PAIRS];
	int n = kv_parse(seg, size, pairs, KV_MAX_PAIRS);

	struct iscsi_params ours, result;
	iscsi_params_defaults(&ours);
	ours.max_recv_dsl = 262144;
	ours.max_burst = 16776192;
	ours.first_burst = 262144;
	iscsi_params_defaults(&result);
	struct neg_state ns = {
	    .result = &result,
	    .ours = &ours,
	    .header_digest = (enum iscsi_digest_policy)((flags >> 1) % 3),
	    .data_digest = (enum iscsi_digest_policy)((flags >> 3) % 3),
	    .discovery = flags & 1,
	};
	struct kv_out out;
	kv_out_init(&out, 8192);
	for (int i = 0; i < n; i++) {
		neg_key(&ns, pairs[i].key, pairs[i].val, &out);
		uint8_t bin[CHAP_MAX_BIN];
		size_t len;
		if (chap_decode(pairs[i].val, bin, sizeof(bin), &len) == 0 && len > sizeof(bin))
			abort();
		int alg = chap_pick_alg(pairs[i].val);
		if (alg >= 0 && chap_digest_len(alg) == 0)
			abort();
	}
	neg_finish(&ns);
	if (out.len > out.cap || (out.len && out.buf[out.len - 1] != 0))
		abort();
	kv_out_free(&out);
	free(seg);
	return 0;
}
