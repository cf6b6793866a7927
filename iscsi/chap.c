/*
 * chap.c - CHAP hashing and value encoding for the iSCSI login
 * (RFC 7143 12.1.3; RFC 1994 4.1 for the response computation).
 */
#include "config.h"

#include "chap.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const EVP_MD *chap_md(int alg)
{
	switch (alg) {
	case CHAP_MD5:
		return EVP_md5();
	case CHAP_SHA1:
		return EVP_sha1();
	case CHAP_SHA256:
		return EVP_sha256();
	case CHAP_SHA3_256:
		return EVP_sha3_256();
	default:
		return NULL;
	}
}

size_t chap_digest_len(int alg)
{
	const EVP_MD *md = chap_md(alg);
	return md ? (size_t)EVP_MD_get_size(md) : 0;
}

int chap_pick_alg(const char *list)
{
	/* RFC 7143 6.2.1: the responder picks the first value of the list
	 * that it supports. */
	const char *p = list;
	while (*p) {
		char *end;
		long v = strtol(p, &end, 10);
		if (end != p && (*end == ',' || *end == '\0') && chap_digest_len((int)v))
			return (int)v;
		const char *comma = strchr(p, ',');
		if (!comma)
			break;
		p = comma + 1;
	}
	return -1;
}

int chap_response(int alg, uint8_t id, const char *secret, const uint8_t *challenge, size_t clen,
		  uint8_t *out)
{
	const EVP_MD *md = chap_md(alg);
	if (!md)
		return -1;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx)
		return -1;
	unsigned int n = 0;
	int ok = EVP_DigestInit_ex(ctx, md, NULL) && EVP_DigestUpdate(ctx, &id, 1) &&
		 EVP_DigestUpdate(ctx, secret, strlen(secret)) &&
		 EVP_DigestUpdate(ctx, challenge, clen) && EVP_DigestFinal_ex(ctx, out, &n);
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -1;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int chap_decode(const char *val, uint8_t *out, size_t cap, size_t *len)
{
	if (val[0] != '0' || (val[1] != 'x' && val[1] != 'X' && val[1] != 'b' && val[1] != 'B'))
		return -1;
	const char *s = val + 2;
	size_t slen = strlen(s);

	if (val[1] == 'x' || val[1] == 'X') {
		/* An odd number of digits has an implied leading zero (6.1). */
		size_t n = (slen + 1) / 2;
		if (slen == 0 || n > cap)
			return -1;
		size_t i = 0, o = 0;
		if (slen & 1) {
			int v = hexval(s[0]);
			if (v < 0)
				return -1;
			out[o++] = (uint8_t)v;
			i = 1;
		}
		for (; i < slen; i += 2) {
			int hi = hexval(s[i]), lo = hexval(s[i + 1]);
			if (hi < 0 || lo < 0)
				return -1;
			out[o++] = (uint8_t)(hi << 4 | lo);
		}
		*len = o;
		return 0;
	}

	/* Base64 (RFC 4648), as 0b<text>. */
	if (slen == 0 || slen % 4 || slen / 4 * 3 > cap + 2)
		return -1;
	uint8_t *tmp = malloc(slen / 4 * 3 + 1);
	if (!tmp)
		return -1;
	int n = EVP_DecodeBlock(tmp, (const unsigned char *)s, (int)slen);
	if (n < 0) {
		free(tmp);
		return -1;
	}
	size_t pad = (s[slen - 1] == '=') + (slen > 1 && s[slen - 2] == '=');
	size_t real = (size_t)n - pad;
	if (real > cap) {
		free(tmp);
		return -1;
	}
	memcpy(out, tmp, real);
	free(tmp);
	*len = real;
	return 0;
}

void chap_encode_hex(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	*out++ = '0';
	*out++ = 'x';
	for (size_t i = 0; i < len; i++) {
		*out++ = digits[in[i] >> 4];
		*out++ = digits[in[i] & 15];
	}
	*out = '\0';
}

int chap_random(uint8_t *buf, size_t len)
{
	return RAND_bytes(buf, (int)len) == 1 ? 0 : -1;
}

bool chap_equal(const uint8_t *a, const uint8_t *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}
