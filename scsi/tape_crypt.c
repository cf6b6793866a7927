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
#include <pthread.h>
#ifdef HAVE_IPSEC_MB
#include <intel-ipsec-mb.h>
#endif

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
	/* The drive's envelope is sealed before encryption at rest adds its
	 * flag, so that flag is not part of what this tag covers. */
	rec[12] = flags & (REC_COMP_MASK | REC_ENCRYPTED);
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
		tape_wipe(out, e->body_len);
		return -EILSEQ;
	}
	return 0;
}

/* ---- encryption at rest ---------------------------------------------------- */

/*
 * One data key per cartridge, installed by the library (tape_set_data_key).
 * Nonces: a random 64-bit prefix drawn when the key is installed (each open
 * of the tape) and again whenever the 32-bit record counter wraps, so a
 * nonce never repeats under a key in practice (two prefixes collide with
 * probability 2^-64 per pair), and a tail rewritten after a crash gets a
 * fresh prefix, where a nonce derived from the record's place would repeat
 * exactly there. NIST SP 800-38D 8.2.1, the deterministic construction,
 * with the prefix as the fixed field.
 *
 * The AES-256-GCM of encryption at rest runs, when vtld was built with it,
 * in Intel's multi-buffer crypto library (Debian's libipsec-mb), whose
 * AVX-512 VAES and VPCLMULQDQ code does a 256 KiB record in about a
 * quarter of the time of OpenSSL 3.0's AES-NI code, which has none
 * (docs/design.md, "Dependencies"; docs/benchmarks.md). It is the same
 * algorithm (NIST SP 800-38D): the stored bytes are the same either way,
 * which the tests check against OpenSSL. Without it, or when its manager
 * cannot be set up, OpenSSL's EVP does it.
 */
#ifdef HAVE_IPSEC_MB
static IMB_MGR *mb_mgr; /* the direct GCM API only reads its function table */
static pthread_once_t mb_once = PTHREAD_ONCE_INIT;

static void mb_setup(void)
{
	IMB_MGR *m = alloc_mb_mgr(0);
	IMB_ARCH arch = IMB_ARCH_NONE;

	if (!m)
		return;
	init_mb_mgr_auto(m, &arch);
	if (imb_get_errno(m) || arch == IMB_ARCH_NONE) {
		free_mb_mgr(m);
		return;
	}
	mb_mgr = m;
}

static IMB_MGR *mb(void)
{
	pthread_once(&mb_once, mb_setup);
	return mb_mgr;
}
#endif

struct tape_rest {
	EVP_CIPHER_CTX *enc, *dec; /* OpenSSL's, when kd is NULL */
#ifdef HAVE_IPSEC_MB
	struct gcm_key_data *kd; /* the key schedule and hash keys */
#endif
	uint8_t prefix[8];
	uint32_t counter;
};

void trest_free(struct tape_rest *r)
{
	if (!r)
		return;
	EVP_CIPHER_CTX_free(r->enc); /* wipes the key schedule */
	EVP_CIPHER_CTX_free(r->dec);
#ifdef HAVE_IPSEC_MB
	if (r->kd) {
		OPENSSL_cleanse(r->kd, sizeof(*r->kd));
		free(r->kd);
	}
#endif
	OPENSSL_cleanse(r, sizeof(*r));
	free(r);
}

#ifdef HAVE_IPSEC_MB
static struct gcm_key_data *kd_new(void)
{
	return aligned_alloc(64, (sizeof(struct gcm_key_data) + 63) / 64 * 64);
}
#endif

int trest_set(struct tape_rest **out, const uint8_t key[TAPE_KEY_LEN])
{
	struct tape_rest *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	if (RAND_bytes(r->prefix, sizeof(r->prefix)) != 1) {
		trest_free(r);
		return -EIO;
	}
#ifdef HAVE_IPSEC_MB
	if (mb()) {
		r->kd = kd_new();
		if (!r->kd) {
			trest_free(r);
			return -ENOMEM;
		}
		IMB_AES256_GCM_PRE(mb(), key, r->kd);
		trest_free(*out);
		*out = r;
		return 0;
	}
#endif
	r->enc = EVP_CIPHER_CTX_new();
	r->dec = EVP_CIPHER_CTX_new();
	if (!r->enc || !r->dec ||
	    EVP_EncryptInit_ex(r->enc, EVP_aes_256_gcm(), NULL, key, NULL) != 1 ||
	    EVP_DecryptInit_ex(r->dec, EVP_aes_256_gcm(), NULL, key, NULL) != 1) {
		trest_free(r);
		return -EIO;
	}
	trest_free(*out);
	*out = r;
	return 0;
}

int trest_opener(struct tape_rest **out, const struct tape_rest *src)
{
	struct tape_rest *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
#ifdef HAVE_IPSEC_MB
	if (src->kd) {
		r->kd = kd_new();
		if (!r->kd) {
			trest_free(r);
			return -ENOMEM;
		}
		memcpy(r->kd, src->kd, sizeof(*r->kd));
		trest_free(*out);
		*out = r;
		return 0;
	}
#endif
	r->dec = EVP_CIPHER_CTX_new();
	if (!r->dec || EVP_CIPHER_CTX_copy(r->dec, src->dec) != 1) {
		trest_free(r);
		return -EIO;
	}
	trest_free(*out);
	*out = r;
	return 0;
}

int trest_seal(struct tape_rest *r, const uint8_t aad[REST_AAD], const uint8_t *in, uint32_t n,
	       uint8_t *out)
{
	int m = 0, f = 0;

	if (r->counter == UINT32_MAX) {
		if (RAND_bytes(r->prefix, sizeof(r->prefix)) != 1)
			return -EIO;
		r->counter = 0;
	}
	memcpy(out, r->prefix, sizeof(r->prefix));
	put_be32(out + 8, r->counter++);
#ifdef HAVE_IPSEC_MB
	if (r->kd) {
		struct gcm_context_data ctx;

		IMB_AES256_GCM_ENC(mb(), r->kd, &ctx, out + REST_NONCE, in, n, out, aad, REST_AAD,
				   out + REST_NONCE + n, ENV_TAG);
		OPENSSL_cleanse(&ctx, sizeof(ctx)); /* partial blocks of plaintext */
		return 0;
	}
#endif
	if (EVP_EncryptInit_ex(r->enc, NULL, NULL, NULL, out) != 1 ||
	    EVP_EncryptUpdate(r->enc, NULL, &m, aad, REST_AAD) != 1 ||
	    EVP_EncryptUpdate(r->enc, out + REST_NONCE, &m, in, (int)n) != 1 ||
	    EVP_EncryptFinal_ex(r->enc, out + REST_NONCE + m, &f) != 1 || (uint32_t)(m + f) != n ||
	    EVP_CIPHER_CTX_ctrl(r->enc, EVP_CTRL_GCM_GET_TAG, ENV_TAG, out + REST_NONCE + n) != 1)
		return -EIO;
	return 0;
}

int trest_open(struct tape_rest *r, const uint8_t aad[REST_AAD], const uint8_t *in, uint32_t stored,
	       uint8_t *out)
{
	uint8_t nonce[REST_NONCE], tag[ENV_TAG];
	uint32_t n;
	int m = 0, f = 0;

	if (stored < TAPE_AT_REST_OVERHEAD)
		return -EBADMSG;
	n = stored - TAPE_AT_REST_OVERHEAD;
	/* out may overlap in: keep what is needed after the ciphertext. */
	memcpy(nonce, in, REST_NONCE);
	memcpy(tag, in + REST_NONCE + n, ENV_TAG);
#ifdef HAVE_IPSEC_MB
	if (r->kd) {
		struct gcm_context_data ctx;
		uint8_t got[ENV_TAG];
		int bad;

		IMB_AES256_GCM_DEC(mb(), r->kd, &ctx, out, in + REST_NONCE, n, nonce, aad, REST_AAD,
				   got, ENV_TAG);
		OPENSSL_cleanse(&ctx, sizeof(ctx));
		bad = CRYPTO_memcmp(got, tag, ENV_TAG);
		if (bad) {
			tape_wipe(out, n); /* never hand out what failed its tag */
			return -EBADMSG;
		}
		return 0;
	}
#endif
	if (EVP_DecryptInit_ex(r->dec, NULL, NULL, NULL, nonce) != 1 ||
	    EVP_DecryptUpdate(r->dec, NULL, &m, aad, REST_AAD) != 1 ||
	    EVP_DecryptUpdate(r->dec, out, &m, in + REST_NONCE, (int)n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(r->dec, EVP_CTRL_GCM_SET_TAG, ENV_TAG, tag) != 1)
		return -EIO;
	if (EVP_DecryptFinal_ex(r->dec, out + m, &f) != 1) {
		tape_wipe(out, n); /* never hand out what failed its tag */
		return -EBADMSG;
	}
	return 0;
}
