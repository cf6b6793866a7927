/*
 * tape_crypt.c - the encryption envelope of a block on the medium: the
 * drive's AES-256-GCM encryption (SSC-4 4.2.26, "Data encryption") as the
 * records of docs/medium-format.md ("Encrypted records") carry it.
 *
 * Invariants:
 *   - The key is never written: a record carries the key check value, a
 *     truncated SHA-256 of a fixed label and the key, from which the key
 *     cannot be recovered, so that a read under another key is reported as
 *     such (INCORRECT DATA ENCRYPTION KEY) and not as damage.
 *   - Every record has its own 96-bit IV from OpenSSL's DRBG (NIST SP
 *     800-38D 8.2.2, the RBG-based construction; a key may then protect
 *     2^32 records, far more than a cartridge holds at the smallest
 *     useful block size). A key never sees the same IV twice in practice.
 *   - The tag authenticates the envelope's fixed part, the A-KAD, the
 *     record's object number, logical length and compression flags and the
 *     ciphertext: a record moved to another position, a changed length or
 *     an altered byte fails CRYPTOGRAPHIC INTEGRITY VALIDATION. The U-KAD
 *     is, as its name says, not authenticated (SSC-4 8.5.4.3).
 *   - Key copies live only here and in the drive, and are wiped
 *     (OPENSSL_cleanse) when replaced or freed.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "be.h"
#include "tape_int.h"

#define IV_LEN 12u

/* One direction: a GCM context keyed once (the key schedule is not redone
 * per record) and what a record written under the key carries. */
struct dir {
	bool set;
	EVP_CIPHER_CTX *ctx;
	uint8_t kcv[TAPE_KCV_LEN];
	struct tape_key k;
};

struct tape_cipher {
	struct dir enc, dec;
	enum tape_decrypt mode;
};

void tape_key_check(const uint8_t key[TAPE_KEY_LEN], uint8_t kcv[TAPE_KCV_LEN])
{
	static const char label[] = "vtl tape data encryption key check v1";
	uint8_t md[32];
	unsigned int n = 0;
	EVP_MD_CTX *m = EVP_MD_CTX_new();

	memset(md, 0, sizeof(md));
	if (m && EVP_DigestInit_ex(m, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(m, label, sizeof(label) - 1) == 1 &&
	    EVP_DigestUpdate(m, key, TAPE_KEY_LEN) == 1)
		EVP_DigestFinal_ex(m, md, &n);
	EVP_MD_CTX_free(m);
	memcpy(kcv, md, TAPE_KCV_LEN);
	OPENSSL_cleanse(md, sizeof(md));
}

static void dir_clear(struct dir *d)
{
	EVP_CIPHER_CTX_free(d->ctx);
	OPENSSL_cleanse(d, sizeof(*d));
}

static int dir_set(struct dir *d, const struct tape_key *k, bool encrypt)
{
	dir_clear(d);
	if (!k)
		return 0;
	d->ctx = EVP_CIPHER_CTX_new();
	if (!d->ctx)
		return -ENOMEM;
	int ok = encrypt ? EVP_EncryptInit_ex(d->ctx, EVP_aes_256_gcm(), NULL, k->key, NULL)
			 : EVP_DecryptInit_ex(d->ctx, EVP_aes_256_gcm(), NULL, k->key, NULL);
	if (ok != 1) {
		dir_clear(d);
		return -EIO;
	}
	d->k = *k;
	tape_key_check(k->key, d->kcv);
	d->set = true;
	return 0;
}

int tcrypt_set(struct tape_cipher **c, const struct tape_key *enc, const struct tape_key *dec,
	       enum tape_decrypt mode)
{
	if (!*c) {
		if (!enc && !dec && mode == TAPE_DECRYPT_OFF)
			return 0;
		*c = calloc(1, sizeof(**c));
		if (!*c)
			return -ENOMEM;
	}
	int r = dir_set(&(*c)->enc, enc, true);
	if (r == 0)
		r = dir_set(&(*c)->dec, dec, false);
	(*c)->mode = mode;
	return r;
}

void tcrypt_free(struct tape_cipher *c)
{
	if (!c)
		return;
	dir_clear(&c->enc);
	dir_clear(&c->dec);
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
}

uint32_t tcrypt_overhead(const struct tape_cipher *c)
{
	if (!c || !c->enc.set)
		return 0;
	return ENV_FIXED + c->enc.k.akad_len + c->enc.k.ukad_len + ENV_TAG;
}

enum tape_decrypt tcrypt_mode(const struct tape_cipher *c)
{
	return c ? c->mode : TAPE_DECRYPT_OFF;
}

bool tcrypt_key_matches(const struct tape_cipher *c, const uint8_t *kcv)
{
	return c && c->dec.set && CRYPTO_memcmp(c->dec.kcv, kcv, TAPE_KCV_LEN) == 0;
}

int tcrypt_parse(const uint8_t *p, uint32_t avail, uint32_t stored, struct tcrypt_env *e)
{
	if (stored < ENV_FIXED + ENV_TAG || avail < ENV_FIXED)
		return -EBADMSG;
	if (p[0] != ENV_AES_GCM || p[1] > TAPE_AKAD_MAX || p[2] > TAPE_UKAD_MAX || p[3] != 0)
		return -EBADMSG;
	e->alen = p[1];
	e->ulen = p[2];
	uint32_t head = ENV_FIXED + e->alen + e->ulen;
	if (stored < head + ENV_TAG || avail < head)
		return -EBADMSG;
	e->kcv = p + 4;
	e->iv = p + 12;
	e->akad = p + ENV_FIXED;
	e->ukad = e->akad + e->alen;
	e->body = p + head;
	e->body_len = stored - head - ENV_TAG;
	e->tag = e->body + e->body_len;
	return 0;
}

/* What the tag covers besides the ciphertext. */
static int put_aad(EVP_CIPHER_CTX *ctx, uint64_t obj, uint32_t len, uint8_t flags,
		   const uint8_t *env, uint32_t env_len)
{
	uint8_t rec[13];
	int n;

	put_le64(rec, obj);
	put_le32(rec + 8, len);
	rec[12] = flags & REC_FLAGS;
	return EVP_CipherUpdate(ctx, NULL, &n, rec, sizeof(rec)) == 1 &&
		       EVP_CipherUpdate(ctx, NULL, &n, env, (int)env_len) == 1
		   ? 0
		   : -EIO;
}

int tcrypt_seal(struct tape_cipher *c, uint64_t obj, uint32_t len, uint8_t flags, const uint8_t *in,
		uint32_t n, uint8_t *out)
{
	struct dir *d = &c->enc;
	uint32_t head = ENV_FIXED + d->k.akad_len + d->k.ukad_len;
	int m = 0, f = 0;

	out[0] = ENV_AES_GCM;
	out[1] = d->k.akad_len;
	out[2] = d->k.ukad_len;
	out[3] = 0;
	memcpy(out + 4, d->kcv, TAPE_KCV_LEN);
	if (RAND_bytes(out + 12, IV_LEN) != 1)
		return -EIO;
	memcpy(out + ENV_FIXED, d->k.akad, d->k.akad_len);
	memcpy(out + ENV_FIXED + d->k.akad_len, d->k.ukad, d->k.ukad_len);
	if (EVP_EncryptInit_ex(d->ctx, NULL, NULL, NULL, out + 12) != 1 ||
	    put_aad(d->ctx, obj, len, flags, out, ENV_FIXED + d->k.akad_len) < 0 ||
	    EVP_EncryptUpdate(d->ctx, out + head, &m, in, (int)n) != 1 ||
	    EVP_EncryptFinal_ex(d->ctx, out + head + m, &f) != 1 || (uint32_t)(m + f) != n ||
	    EVP_CIPHER_CTX_ctrl(d->ctx, EVP_CTRL_GCM_GET_TAG, ENV_TAG, out + head + n) != 1)
		return -EIO;
	return 0;
}

int tcrypt_open(struct tape_cipher *c, uint64_t obj, uint32_t len, uint8_t flags,
		const struct tcrypt_env *e, uint8_t *out)
{
	if (!c || !c->dec.set || c->mode == TAPE_DECRYPT_OFF)
		return -ENOKEY;
	if (!tcrypt_key_matches(c, e->kcv))
		return -EKEYREJECTED;

	struct dir *d = &c->dec;
	uint8_t tag[ENV_TAG];
	int m = 0, f = 0;

	memcpy(tag, e->tag, ENV_TAG);
	if (EVP_DecryptInit_ex(d->ctx, NULL, NULL, NULL, e->iv) != 1 ||
	    put_aad(d->ctx, obj, len, flags, e->kcv - 4, ENV_FIXED + e->alen) < 0 ||
	    EVP_DecryptUpdate(d->ctx, out, &m, e->body, (int)e->body_len) != 1 ||
	    EVP_CIPHER_CTX_ctrl(d->ctx, EVP_CTRL_GCM_SET_TAG, ENV_TAG, tag) != 1)
		return -EIO;
	if (EVP_DecryptFinal_ex(d->ctx, out + m, &f) != 1) {
		/* Never hand out what failed its tag. */
		OPENSSL_cleanse(out, e->body_len);
		return -EILSEQ;
	}
	return 0;
}
