/*
 * chap.h - CHAP for iSCSI login (RFC 7143 12.1.3, RFC 1994).
 *
 * The response is H(CHAP_I || secret || CHAP_C) with H chosen by CHAP_A from
 * the IANA PPP authentication algorithm registry: 5 MD5, 6 SHA-1,
 * 7 SHA-256, 8 SHA3-256. Hashes come from OpenSSL EVP.
 */
#ifndef VTL_ISCSI_CHAP_H
#define VTL_ISCSI_CHAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { CHAP_MD5 = 5, CHAP_SHA1 = 6, CHAP_SHA256 = 7, CHAP_SHA3_256 = 8 };

/* RFC 7143 12.1.3: binary CHAP values are at most 1024 bytes. */
#define CHAP_MAX_BIN	1024
#define CHAP_MAX_DIGEST 64

/* Digest length of an algorithm, 0 if unsupported. */
size_t chap_digest_len(int alg);

/* The first algorithm in a CHAP_A list that we support, -1 if none. */
int chap_pick_alg(const char *list);

/* out receives chap_digest_len(alg) bytes. Returns 0 or -1. */
int chap_response(int alg, uint8_t id, const char *secret, const uint8_t *challenge, size_t clen,
		  uint8_t *out);

/* Decode a binary value: 0x hex or 0b base64 (RFC 7143 6.1). -1 if malformed
 * or longer than cap. */
int chap_decode(const char *val, uint8_t *out, size_t cap, size_t *len);

/* "0x" + lowercase hex; out holds 2 * len + 3 bytes. */
void chap_encode_hex(const uint8_t *in, size_t len, char *out);

/* Cryptographic random bytes. */
int chap_random(uint8_t *buf, size_t len);

/* Constant-time comparison. */
bool chap_equal(const uint8_t *a, const uint8_t *b, size_t len);

#endif
