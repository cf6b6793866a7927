/*
 * ssc_crypto.c - the tape drive's data encryption, as LTO-4 and later
 * drives do it: SECURITY PROTOCOL IN (SPC-4 6.30) and SECURITY PROTOCOL
 * OUT (SPC-4 6.31) with the security protocol information of SPC-4 7.7.1
 * (protocol 00h) and the tape data encryption protocol 20h of SSC-4 8.5,
 * and the data encryption parameters SSC-4 4.2.26 defines (scope, lock,
 * key instance counter, CKOD/CKORP/CKORL), which the read and write
 * commands of ssc.c apply to the medium (tape_set_crypto) before they run.
 *
 * The pages are those HPE's and IBM's LTO SCSI references document for
 * their drives (HPE LTO-5 "SECURITY PROTOCOL IN/OUT", tape data
 * encryption pages; IBM LTO SCSI Reference, sense data tables); see
 * docs/scsi.md, "Drive encryption", for the field-by-field answer.
 *
 * Invariants:
 *   - A key lives in this file's state and the medium's cipher only: it is
 *     never logged, never put in the catalog or an event, never written to
 *     the medium (which keeps a one-way key check value). Every copy is
 *     wiped (OPENSSL_cleanse) when it is cleared.
 *   - A command that reads or writes the medium runs under the parameters
 *     of its I_T nexus (its LOCAL ones, else the public ones established
 *     with scope ALL I_T NEXUS), installed in the medium by
 *     ssc_crypto_prepare(); a nexus whose parameters were cleared under it
 *     gets the unit attention before it could write plain data unawares.
 *   - Runs with dev->lock held, like all of ssc*.c.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "be.h"
#include "sense.h"
#include "ssc_priv.h"

/* Security protocols (SPC-4 7.7.1 table 521 and SSC-4 8.5.1). */
enum { SP_INFO = 0x00, SP_TAPE_DATA_ENCRYPTION = 0x20 };

/* Security protocol information pages (SPC-4 7.7.1). */
enum { SPI_SUPPORTED_PROTOCOLS = 0x0000, SPI_CERTIFICATE = 0x0001 };

/* Tape data encryption pages (SSC-4 8.5.2 for IN, 8.5.3 for OUT). */
enum {
	TDE_IN_SUPPORT = 0x0000,
	TDE_OUT_SUPPORT = 0x0001,
	TDE_CAPABILITIES = 0x0010,
	TDE_KEY_FORMATS = 0x0011,
	TDE_MANAGEMENT_CAPABILITIES = 0x0012,
	TDE_STATUS = 0x0020,
	TDE_NEXT_BLOCK_STATUS = 0x0021,
	TDE_SET_DATA_ENCRYPTION = 0x0010, /* the OUT page */
};

/* SCOPE of the Set Data Encryption page; also the I_T NEXUS SCOPE and KEY
 * SCOPE of the data encryption status page. */
enum { SCOPE_PUBLIC = 0, SCOPE_LOCAL = 1, SCOPE_ALL = 2 };
enum { ENC_DISABLE = 0, ENC_EXTERNAL = 1, ENC_ENCRYPT = 2 };
enum { DEC_DISABLE = 0, DEC_RAW = 1, DEC_DECRYPT = 2, DEC_MIXED = 3 };
/* Key-associated data descriptor types (SSC-4 8.5.4.3). */
enum { KAD_UKAD = 0x00, KAD_AKAD = 0x01, KAD_NONCE = 0x02, KAD_MKAD = 0x03 };

#define ALGORITHM_INDEX 1
/* SSC-4 security algorithm code of AES-256-GCM with a 16-byte tag, the
 * value LTO drives report in their algorithm descriptor. */
#define ALGORITHM_AES256_GCM 0x00010014u
#define SDE_HDR		     20u /* bytes of the Set Data Encryption page before the key */

/* One set of data encryption parameters (SSC-4 4.2.26.3). */
struct params {
	bool valid;
	uint8_t scope; /* SCOPE_LOCAL or SCOPE_ALL */
	uint8_t enc_mode, dec_mode;
	uint8_t ceem, rdmc, kad_format;
	bool ckod, ckorp, ckorl;
	bool has_key;
	struct tape_key key; /* key and key-associated data */
	uint32_t kic;	     /* key instance counter */
	uint64_t owner;	     /* the nexus that established them */
};

/* What SSC-4 4.2.26.3 saves per I_T nexus. */
struct nexus_state {
	uint64_t id;
	uint8_t scope; /* SCOPE_PUBLIC, SCOPE_LOCAL or SCOPE_ALL */
	bool lock;
	uint32_t kic_at_lock;
	bool registered; /* used the protocol: gets the encryption unit attentions */
	struct params local;
};

struct ssc_crypto {
	struct params pub; /* established with scope ALL I_T NEXUS */
	struct nexus_state *nx;
	size_t n_nx;
	uint32_t kic; /* the last key instance counter assigned */
	/* What the medium holds (tape_set_crypto), to install only on change. */
	const struct tape *inst_tape;
	const struct params *inst_params;
	uint32_t inst_kic;
	bool inst_valid;
	uint8_t dec_mode; /* decryption mode of the command running */
};

/* ---- state ---- */

static void params_clear(struct params *p)
{
	OPENSSL_cleanse(p, sizeof(*p));
	memset(p, 0, sizeof(*p));
}

int ssc_crypto_init(struct ssc_drive *d)
{
	d->crypto = calloc(1, sizeof(*d->crypto));
	return d->crypto ? 0 : -ENOMEM;
}

void ssc_crypto_destroy(struct ssc_drive *d)
{
	struct ssc_crypto *c = d->crypto;

	if (!c)
		return;
	params_clear(&c->pub);
	for (size_t i = 0; i < c->n_nx; i++)
		params_clear(&c->nx[i].local);
	free(c->nx);
	free(c);
	d->crypto = NULL;
}

static struct nexus_state *nexus_find(struct ssc_crypto *c, uint64_t id)
{
	for (size_t i = 0; i < c->n_nx; i++)
		if (c->nx[i].id == id)
			return &c->nx[i];
	return NULL;
}

static struct nexus_state *nexus_get(struct ssc_crypto *c, uint64_t id)
{
	struct nexus_state *n = nexus_find(c, id);

	if (n)
		return n;
	n = realloc(c->nx, (c->n_nx + 1) * sizeof(*n));
	if (!n)
		return NULL;
	c->nx = n;
	n = &c->nx[c->n_nx++];
	memset(n, 0, sizeof(*n));
	n->id = id;
	c->inst_valid = false; /* realloc may have moved the local params */
	return n;
}

/* The parameters a nexus works under, NULL when none (the defaults:
 * encryption and decryption disabled). */
static struct params *params_of(struct ssc_crypto *c, const struct nexus_state *n)
{
	if (n && n->scope == SCOPE_LOCAL)
		return n->local.valid ? (struct params *)&n->local : NULL;
	return c->pub.valid ? &c->pub : NULL;
}

static struct params *params_for(struct ssc_crypto *c, uint64_t nexus)
{
	return params_of(c, nexus_find(c, nexus));
}

/*
 * Parameters p are cleared by an event other than a Set Data Encryption
 * page (CKOD, CKORL, CKORP): every registered nexus working under them,
 * except `except`, gets DATA ENCRYPTION PARAMETERS CHANGED BY VENDOR
 * SPECIFIC EVENT (SSC-4 4.2.26.3; 2Ah/12h).
 */
static void params_drop(struct scsi_dev *dev, struct params *p, uint64_t except)
{
	struct ssc_crypto *c = ssc_drv(dev)->crypto;

	for (size_t i = 0; i < c->n_nx; i++) {
		struct nexus_state *n = &c->nx[i];
		if (n->registered && n->id != except && params_of(c, n) == p)
			spc_ua_raise(dev, n->id, ASC_ENCRYPTION_PARAMETERS_CHANGED_BY_VENDOR_EVENT);
	}
	params_clear(p);
	c->inst_valid = false;
}

/* Does nexus hold a reservation (RESERVE(6) or persistent)? */
static bool holds_reservation(const struct scsi_dev *dev, uint64_t nexus)
{
	if (dev->resv6_held && dev->resv6_holder == nexus)
		return true;
	if (!dev->pr.held)
		return false;
	if (dev->pr.holder == nexus)
		return true;
	/* SPC-4 5.13.10: under the all-registrants types every registrant
	 * holds the reservation. */
	if (dev->pr.type == 0x07 || dev->pr.type == 0x08) {
		for (uint32_t i = 0; i < dev->pr.n_regs; i++)
			if (dev->pr.regs[i].nexus == nexus)
				return true;
	}
	return false;
}

static bool pr_registered(const struct scsi_dev *dev, uint64_t nexus)
{
	for (uint32_t i = 0; i < dev->pr.n_regs; i++)
		if (dev->pr.regs[i].nexus == nexus)
			return true;
	return false;
}

/*
 * CKORL (clear key on reservation loss) and CKORP (clear key on
 * reservation preempt), SSC-4 8.5.3.2: checked whenever the parameters are
 * about to be used. A preempt removes the owner's registration; any loss
 * leaves it without the reservation. Returns true when p was cleared; the
 * unit attention goes to the users other than `asking`, which learns it
 * from the command it is running.
 */
static bool params_check_reservation(struct scsi_dev *dev, struct params *p, uint64_t asking)
{
	if (!p || !p->valid)
		return false;
	bool lost = p->ckorl && !holds_reservation(dev, p->owner);
	bool preempted = p->ckorp && !pr_registered(dev, p->owner);
	if (!lost && !preempted)
		return false;
	params_drop(dev, p, asking);
	return true;
}

/* ---- hooks for ssc.c ---- */

/*
 * Install the nexus's keys in the medium. For a READ, WRITE or VERIFY (io)
 * the parameters must still be the ones the nexus expects; the next block
 * encryption status page only asks whether the key in force fits.
 */
static bool prepare(struct scsi_dev *dev, struct scsi_cmd *cmd, bool io)
{
	struct ssc_drive *d = ssc_drv(dev);
	struct ssc_crypto *c = d->crypto;
	struct nexus_state *n = nexus_find(c, cmd->nexus);
	struct params *p = params_of(c, n);

	if (params_check_reservation(dev, p, cmd->nexus) && io) {
		/* Cleared under this nexus's feet: it learns now, before it
		 * could write a block in the clear it meant to encrypt. */
		sense_set(cmd, SK_UNIT_ATTENTION,
			  ASC_ENCRYPTION_PARAMETERS_CHANGED_BY_VENDOR_EVENT);
		return false;
	}
	if (!p || !p->valid)
		p = NULL;
	/* A locked nexus works only under the key it locked to (SSC-4
	 * 8.5.3.2 LOCK; HPE LTO: DATA PROTECT, 2Ah/13h on WRITE). */
	if (io && n && n->lock && (p ? p->kic : 0) != n->kic_at_lock) {
		sense_set(cmd, SK_DATA_PROTECT, ASC_ENCRYPTION_KEY_INSTANCE_COUNTER_CHANGED);
		return false;
	}
	c->dec_mode = p ? p->dec_mode : DEC_DISABLE;
	if (c->inst_valid && c->inst_tape == d->tape && c->inst_params == p &&
	    c->inst_kic == (p ? p->kic : 0))
		return true;

	const struct tape_key *enc = NULL, *dec = NULL;
	enum tape_decrypt mode = TAPE_DECRYPT_OFF;
	if (p && p->enc_mode == ENC_ENCRYPT)
		enc = &p->key;
	if (p && (p->dec_mode == DEC_DECRYPT || p->dec_mode == DEC_MIXED)) {
		dec = &p->key;
		mode = p->dec_mode == DEC_DECRYPT ? TAPE_DECRYPT_ON : TAPE_DECRYPT_MIXED;
	}
	if (tape_set_crypto(d->tape, enc, dec, mode) < 0) {
		c->inst_valid = false;
		sense_set(cmd, SK_HARDWARE_ERROR, ASC_SYSTEM_RESOURCE_FAILURE);
		return false;
	}
	c->inst_tape = d->tape;
	c->inst_params = p;
	c->inst_kic = p ? p->kic : 0;
	c->inst_valid = true;
	return true;
}

bool ssc_crypto_prepare(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	return prepare(dev, cmd, true);
}

bool ssc_crypto_sense(struct ssc_drive *d, struct scsi_cmd *cmd, int rc, bool valid_info,
		      int64_t info)
{
	uint16_t asc;

	switch (rc) {
	case -ENOKEY:
		/* SSC-4 4.2.26.5: an encrypted block met with decryption
		 * disabled; in RAW mode, encrypted blocks here are never
		 * enabled for raw read (RDMC_C 100b). */
		asc = d->crypto->dec_mode == DEC_RAW ? ASC_ENCRYPTED_BLOCK_NOT_RAW_READ_ENABLED
						     : ASC_UNABLE_TO_DECRYPT_DATA;
		break;
	case -ENOMSG:
		asc = ASC_UNENCRYPTED_DATA_WHILE_DECRYPTING;
		break;
	case -EKEYREJECTED:
		asc = ASC_INCORRECT_DATA_ENCRYPTION_KEY;
		break;
	case -EILSEQ:
		asc = ASC_CRYPTOGRAPHIC_INTEGRITY_VALIDATION_FAILED;
		break;
	default:
		return false;
	}
	if (valid_info)
		sense_set_info(cmd, SK_DATA_PROTECT, asc, 0, info);
	else
		sense_set(cmd, SK_DATA_PROTECT, asc);
	return true;
}

void ssc_crypto_loaded(struct ssc_drive *d)
{
	d->crypto->inst_valid = false; /* a new medium holds no key yet */
}

/* CKOD (SSC-4 8.5.3.2): parameters that asked for it end with the volume. */
void ssc_crypto_demount(struct scsi_dev *dev, uint64_t nexus)
{
	struct ssc_crypto *c = ssc_drv(dev)->crypto;

	if (c->pub.valid && c->pub.ckod)
		params_drop(dev, &c->pub, nexus);
	for (size_t i = 0; i < c->n_nx; i++)
		if (c->nx[i].local.valid && c->nx[i].local.ckod)
			params_drop(dev, &c->nx[i].local, nexus);
	c->inst_valid = false;
}

/* A logical unit reset sets every nexus's parameters to the defaults
 * (SSC-4 4.2.26.3); the reset unit attention says so. */
void ssc_crypto_lun_reset(struct scsi_dev *dev)
{
	struct ssc_crypto *c = ssc_drv(dev)->crypto;

	params_clear(&c->pub);
	for (size_t i = 0; i < c->n_nx; i++)
		params_clear(&c->nx[i].local);
	free(c->nx);
	c->nx = NULL;
	c->n_nx = 0;
	c->inst_valid = false;
}

/* An I_T nexus loss ends what was saved for it, its LOCAL key first; the
 * public parameters it may have established stay. */
/* Parameters that encrypt or decrypt: DISABLE/DISABLE ones are none. */
static bool params_in_use(const struct params *p)
{
	return p->valid && (p->enc_mode != ENC_DISABLE || p->dec_mode != DEC_DISABLE);
}

bool ssc_crypto_params_present(const struct ssc_drive *d)
{
	const struct ssc_crypto *c = d->crypto;

	if (!c)
		return false;
	if (params_in_use(&c->pub))
		return true;
	for (size_t i = 0; i < c->n_nx; i++)
		if (params_in_use(&c->nx[i].local))
			return true;
	return false;
}

void ssc_crypto_nexus_gone(struct scsi_dev *dev, uint64_t nexus)
{
	struct ssc_crypto *c = ssc_drv(dev)->crypto;
	struct nexus_state *n = nexus_find(c, nexus);

	if (!n)
		return;
	params_clear(&n->local);
	*n = c->nx[--c->n_nx];
	c->inst_valid = false;
}

/* ---- SECURITY PROTOCOL IN ---- */

static uint32_t page_supported_protocols(uint8_t *b)
{
	/* SPC-4 7.7.1.3: six reserved bytes, the list length, the list in
	 * ascending order. */
	put_be16(b + 6, 2);
	b[8] = SP_INFO;
	b[9] = SP_TAPE_DATA_ENCRYPTION;
	return 10;
}

static uint32_t page_list(uint8_t *b, uint16_t code, const uint16_t *pages, size_t n)
{
	put_be16(b, code);
	put_be16(b + 2, (uint16_t)(2 * n));
	for (size_t i = 0; i < n; i++)
		put_be16(b + 4 + 2 * i, pages[i]);
	return (uint32_t)(4 + 2 * n);
}

/* SSC-4 8.5.2.4 data encryption capabilities, with the one algorithm
 * descriptor LTO drives report (HPE LTO-5 reference: page length 28h). */
static uint32_t page_capabilities(struct ssc_drive *d, uint8_t *b)
{
	put_be16(b, TDE_CAPABILITIES);
	put_be16(b + 2, 40);
	/* EXTDECC 01b: not capable of external data encryption; CFG_P 01b:
	 * the parameters may be set by SECURITY PROTOCOL OUT. */
	b[4] = (1u << 2) | 1u;
	uint8_t *a = b + 20;
	a[0] = ALGORITHM_INDEX;
	put_be16(a + 2, 20);
	/* AVFMV (a cartridge is loaded: every LTO-5..9 medium takes the
	 * algorithm), MAC_C, DELB_C, DECRYPT_C 10b, ENCRYPT_C 10b. */
	a[4] = (uint8_t)((d->state != SSC_EMPTY ? 0x80 : 0) | 0x20 | 0x10 | (2u << 2) | 2u);
	/* NONCE_C 01b: the drive makes the IV; KADF_C: KAD FORMAT honoured. */
	a[5] = (1u << 4) | 0x08;
	put_be16(a + 6, TAPE_UKAD_MAX);
	put_be16(a + 8, TAPE_AKAD_MAX);
	put_be16(a + 10, TAPE_KEY_LEN);
	/* DKAD_C 00b, EEMC_C 00b, RDMC_C 100b (every encrypted block is
	 * disabled for raw read), EAREM. */
	a[12] = (4u << 1) | 1u;
	put_be32(a + 20, ALGORITHM_AES256_GCM);
	return 44;
}

static void put_kad(uint8_t *b, uint32_t *len, uint8_t type, uint8_t auth, const uint8_t *v,
		    uint8_t n)
{
	if (!n)
		return;
	b[*len] = type;
	b[*len + 1] = auth;
	put_be16(b + *len + 2, n);
	memcpy(b + *len + 4, v, n);
	*len += 4u + n;
}

/* SSC-4 8.5.2.7 data encryption status, for the nexus asking. */
static uint32_t page_status(struct ssc_crypto *c, uint64_t nexus, uint8_t *b)
{
	const struct nexus_state *n = nexus_find(c, nexus);
	const struct params *p = params_of(c, n);
	uint32_t len = 24;

	put_be16(b, TDE_STATUS);
	b[4] = (uint8_t)(((n ? n->scope : SCOPE_PUBLIC) << 5) | (p ? p->scope : 0));
	if (p) {
		b[5] = p->enc_mode;
		b[6] = p->dec_mode;
		b[7] = ALGORITHM_INDEX;
		put_be32(b + 8, p->kic);
		/* PARAMETERS CONTROL 001b: set by SECURITY PROTOCOL OUT, no
		 * external control; CEEMS as set; RDMD: blocks written are
		 * disabled for raw read. */
		b[12] =
		    (uint8_t)((1u << 4) | (p->ceem << 1) | (p->enc_mode == ENC_ENCRYPT ? 1 : 0));
		if (p->enc_mode == ENC_ENCRYPT) {
			put_kad(b, &len, KAD_UKAD, 0, p->key.ukad, p->key.ukad_len);
			put_kad(b, &len, KAD_AKAD, 0, p->key.akad, p->key.akad_len);
		}
	} else {
		b[12] = 1u << 4;
	}
	put_be16(b + 2, (uint16_t)(len - 4));
	return len;
}

/* SSC-4 8.5.2.8 next block encryption status: the object at the position. */
static int page_next_block(struct scsi_dev *dev, struct scsi_cmd *cmd, uint8_t *b, uint32_t *len)
{
	struct ssc_drive *d = ssc_drv(dev);
	struct tape_next nb;

	if (d->state != SSC_LOADED) {
		sense_set(cmd, SK_NOT_READY,
			  d->state == SSC_EMPTY ? ASC_MEDIUM_NOT_PRESENT
						: ASC_LUN_NOT_READY_INIT_REQUIRED);
		return -1;
	}
	/* Whether the key in force would decrypt it. */
	if (!prepare(dev, cmd, false))
		return -1;
	int rc = tape_peek(d->tape, &nb);
	if (rc < 0) {
		sense_set(cmd, SK_MEDIUM_ERROR, ASC_UNRECOVERED_READ_ERROR);
		return -1;
	}
	*len = 16;
	put_be16(b, TDE_NEXT_BLOCK_STATUS);
	put_be64(b + 4, tape_pos(d->tape));
	/* ENCRYPTION STATUS: 2h not a logical block (a filemark, or EOD,
	 * where there is no object at all: mhVTL answers the same), 3h not
	 * encrypted, 5h encrypted and the key in force decrypts it, 6h
	 * encrypted under another key. Never 1h (unable to determine): the
	 * drive always knows, and stenc 1.0.7 answers 1h by spacing forward
	 * a record at a time, and at EOD, where it cannot, uses memory it
	 * has freed and crashes. COMPRESSION STATUS 0h: not reported. */
	if (nb.kind != TAPE_BLOCK) {
		b[12] = 0x2;
	} else if (!nb.encrypted) {
		b[12] = 0x3;
	} else {
		b[12] = nb.key_matches ? 0x5 : 0x6;
		b[13] = ALGORITHM_INDEX;
		b[14] = 0x01; /* RDMDS: disabled for raw read */
		/* AUTHENTICATED: 001b the U-KAD is not authenticated; 010b
		 * the A-KAD is covered by the block's tag, which this page
		 * does not check. */
		put_kad(b, len, KAD_UKAD, 0x1, nb.ukad, nb.ukad_len);
		put_kad(b, len, KAD_AKAD, 0x2, nb.akad, nb.akad_len);
	}
	put_be16(b + 2, (uint16_t)(*len - 4));
	return 0;
}

void ssc_security_protocol_in(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	struct ssc_drive *d = ssc_drv(dev);
	uint8_t proto = cmd->cdb[1];
	uint16_t sps = get_be16(cmd->cdb + 2);
	uint32_t alloc = get_be32(cmd->cdb + 6);
	uint8_t b[256];
	uint32_t len = 0;

	memset(b, 0, sizeof(b));
	if (proto == SP_INFO) {
		if (sps == SPI_SUPPORTED_PROTOCOLS) {
			len = page_supported_protocols(b);
		} else if (sps == SPI_CERTIFICATE) {
			len = 4; /* SPC-4 7.7.1.4: no certificate, length 0 */
		} else {
			sense_invalid_cdb(cmd, 2, -1);
			return;
		}
		spc_respond(cmd, b, len, alloc);
		return;
	}
	if (proto != SP_TAPE_DATA_ENCRYPTION) {
		sense_invalid_cdb(cmd, 1, -1);
		return;
	}
	/* SSC-4 8.5.1: a nexus that uses the protocol is registered for the
	 * encryption unit attentions. */
	struct nexus_state *n = nexus_get(d->crypto, cmd->nexus);
	if (!n) {
		sense_set(cmd, SK_HARDWARE_ERROR, ASC_SYSTEM_RESOURCE_FAILURE);
		return;
	}
	n->registered = true;
	switch (sps) {
	case TDE_IN_SUPPORT: {
		static const uint16_t in[] = {TDE_IN_SUPPORT,
					      TDE_OUT_SUPPORT,
					      TDE_CAPABILITIES,
					      TDE_KEY_FORMATS,
					      TDE_MANAGEMENT_CAPABILITIES,
					      TDE_STATUS,
					      TDE_NEXT_BLOCK_STATUS};
		len = page_list(b, TDE_IN_SUPPORT, in, sizeof(in) / sizeof(in[0]));
		break;
	}
	case TDE_OUT_SUPPORT: {
		static const uint16_t out[] = {TDE_SET_DATA_ENCRYPTION};
		len = page_list(b, TDE_OUT_SUPPORT, out, 1);
		break;
	}
	case TDE_CAPABILITIES:
		len = page_capabilities(d, b);
		break;
	case TDE_KEY_FORMATS:
		/* SSC-4 8.5.2.5: one byte per format; 00h plain-text key. */
		put_be16(b, TDE_KEY_FORMATS);
		put_be16(b + 2, 1);
		b[4] = 0x00;
		len = 5;
		break;
	case TDE_MANAGEMENT_CAPABILITIES:
		/* SSC-4 8.5.2.6: LOCK_C; CKOD_C, CKORP_C, CKORL_C; AITN_C,
		 * LOCAL_C, PUBLIC_C (HPE LTO-5: page length 0Ch). */
		put_be16(b, TDE_MANAGEMENT_CAPABILITIES);
		put_be16(b + 2, 12);
		b[4] = 0x01;
		b[5] = 0x07;
		b[7] = 0x07;
		len = 16;
		break;
	case TDE_STATUS:
		(void)params_check_reservation(dev, params_for(d->crypto, cmd->nexus), cmd->nexus);
		len = page_status(d->crypto, cmd->nexus, b);
		break;
	case TDE_NEXT_BLOCK_STATUS:
		if (page_next_block(dev, cmd, b, &len) < 0)
			return;
		break;
	default:
		sense_invalid_cdb(cmd, 2, -1);
		return;
	}
	spc_respond(cmd, b, len, alloc);
}

/* ---- SECURITY PROTOCOL OUT: the Set Data Encryption page ---- */

/* Parse the key-associated data descriptors of [off, end) (SSC-4
 * 8.5.4.3) into p; false with sense set when one is not acceptable. */
static bool parse_kads(struct scsi_cmd *cmd, const uint8_t *pg, uint32_t off, uint32_t end,
		       struct params *p)
{
	bool seen_u = false, seen_a = false;

	while (off < end) {
		if (end - off < 4) {
			sense_set(cmd, SK_ILLEGAL_REQUEST, ASC_PARAMETER_LIST_LENGTH_ERROR);
			return false;
		}
		uint8_t type = pg[off];
		uint16_t n = get_be16(pg + off + 2);
		if (end - off - 4 < n) {
			sense_set(cmd, SK_ILLEGAL_REQUEST, ASC_PARAMETER_LIST_LENGTH_ERROR);
			return false;
		}
		if (type == KAD_UKAD && !seen_u && n <= TAPE_UKAD_MAX) {
			memcpy(p->key.ukad, pg + off + 4, n);
			p->key.ukad_len = (uint8_t)n;
			seen_u = true;
		} else if (type == KAD_AKAD && !seen_a && n <= TAPE_AKAD_MAX) {
			memcpy(p->key.akad, pg + off + 4, n);
			p->key.akad_len = (uint8_t)n;
			seen_a = true;
		} else if (type == KAD_UKAD || type == KAD_AKAD) {
			/* Too long (capabilities page) or given twice. */
			sense_invalid_param(cmd, (uint16_t)(off + 2), -1);
			return false;
		} else {
			/* The drive makes its own nonce; no external mode, so
			 * no M-KAD. */
			sense_invalid_param(cmd, (uint16_t)off, -1);
			return false;
		}
		off += 4u + n;
	}
	return true;
}

/* Check the page (SSC-4 8.5.3.2) into p; false with sense set. */
static bool parse_sde(struct scsi_dev *dev, struct scsi_cmd *cmd, const uint8_t *pg, uint32_t n,
		      struct params *p, bool *lock)
{
	memset(p, 0, sizeof(*p));
	if (n < 4 || 4u + get_be16(pg + 2) > n || get_be16(pg + 2) < SDE_HDR - 4) {
		sense_set(cmd, SK_ILLEGAL_REQUEST, ASC_PARAMETER_LIST_LENGTH_ERROR);
		return false;
	}
	if (get_be16(pg) != TDE_SET_DATA_ENCRYPTION) {
		sense_invalid_param(cmd, 0, -1);
		return false;
	}
	uint32_t end = 4u + get_be16(pg + 2);
	p->scope = pg[4] >> 5;
	*lock = pg[4] & 0x01;
	if (p->scope > SCOPE_ALL) {
		sense_invalid_param(cmd, 4, 7);
		return false;
	}
	if (pg[4] & 0x1e) {
		sense_invalid_param(cmd, 4, 4);
		return false;
	}
	if (p->scope == SCOPE_PUBLIC)
		return true; /* SSC-4 8.5.3.2: every other field is ignored */
	p->ceem = pg[5] >> 6;
	p->rdmc = (pg[5] >> 4) & 0x03;
	p->ckod = pg[5] & 0x04;
	p->ckorp = pg[5] & 0x02;
	p->ckorl = pg[5] & 0x01;
	if (p->rdmc == 0x01) { /* reserved */
		sense_invalid_param(cmd, 5, 5);
		return false;
	}
	if (pg[5] & 0x08) { /* SDK: no supplemental decryption keys (SDK_C 0) */
		sense_invalid_param(cmd, 5, 3);
		return false;
	}
	/* CKORP and CKORL need a reservation to lose (T10000 and HPE LTO
	 * references: INVALID FIELD IN PARAMETER LIST otherwise). */
	if (p->ckorp && !(dev->pr.held && pr_registered(dev, cmd->nexus))) {
		sense_invalid_param(cmd, 5, 1);
		return false;
	}
	if (p->ckorl && !holds_reservation(dev, cmd->nexus)) {
		sense_invalid_param(cmd, 5, 0);
		return false;
	}
	p->enc_mode = pg[6];
	p->dec_mode = pg[7];
	if (p->enc_mode != ENC_DISABLE && p->enc_mode != ENC_ENCRYPT) {
		sense_invalid_param(cmd, 6, -1); /* EXTERNAL: EXTDECC 01b */
		return false;
	}
	if (p->dec_mode > DEC_MIXED) {
		sense_invalid_param(cmd, 7, -1);
		return false;
	}
	bool need_key =
	    p->enc_mode == ENC_ENCRYPT || p->dec_mode == DEC_DECRYPT || p->dec_mode == DEC_MIXED;
	uint16_t klen = get_be16(pg + 18);
	if (SDE_HDR + (uint32_t)klen > end) {
		sense_set(cmd, SK_ILLEGAL_REQUEST, ASC_PARAMETER_LIST_LENGTH_ERROR);
		return false;
	}
	if (!need_key)
		return true; /* no key needed: key and KAD are ignored */
	if (pg[8] != ALGORITHM_INDEX) {
		sense_invalid_param(cmd, 8, -1);
		return false;
	}
	if (pg[9] != 0x00) { /* plain-text key only (page 0011h) */
		sense_invalid_param(cmd, 9, -1);
		return false;
	}
	if (pg[10] > 0x02) { /* KAD FORMAT: unspecified, binary, ASCII */
		sense_invalid_param(cmd, 10, -1);
		return false;
	}
	for (uint16_t i = 11; i < 18; i++) {
		if (pg[i]) {
			sense_invalid_param(cmd, i, -1);
			return false;
		}
	}
	if (klen != TAPE_KEY_LEN) {
		sense_invalid_param(cmd, 18, -1);
		return false;
	}
	p->kad_format = pg[10];
	memcpy(p->key.key, pg + SDE_HDR, TAPE_KEY_LEN);
	p->has_key = true;
	if (p->enc_mode == ENC_ENCRYPT && !parse_kads(cmd, pg, SDE_HDR + TAPE_KEY_LEN, end, p))
		return false;
	return true;
}

void ssc_security_protocol_out(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	struct ssc_drive *d = ssc_drv(dev);
	struct ssc_crypto *c = d->crypto;
	uint16_t sps = get_be16(cmd->cdb + 2);
	uint32_t tlen = get_be32(cmd->cdb + 6);
	struct params p;
	bool lock = false;

	if (cmd->cdb[1] != SP_TAPE_DATA_ENCRYPTION) {
		sense_invalid_cdb(cmd, 1, -1);
		return;
	}
	if (sps != TDE_SET_DATA_ENCRYPTION) {
		sense_invalid_cdb(cmd, 2, -1);
		return;
	}
	if (tlen > cmd->out_len) {
		/* The transport delivered less than the CDB describes. */
		sense_invalid_cdb(cmd, 6, -1);
		return;
	}
	struct nexus_state *n = nexus_get(c, cmd->nexus);
	if (!n) {
		sense_set(cmd, SK_HARDWARE_ERROR, ASC_SYSTEM_RESOURCE_FAILURE);
		return;
	}
	n->registered = true;
	if (!parse_sde(dev, cmd, cmd->out, tlen, &p, &lock)) {
		params_clear(&p);
		return;
	}
	switch (p.scope) {
	case SCOPE_PUBLIC:
		/* Back to the shared parameters; a LOCAL key ends. */
		params_clear(&n->local);
		n->scope = SCOPE_PUBLIC;
		break;
	case SCOPE_LOCAL:
		p.valid = true;
		p.kic = ++c->kic;
		p.owner = cmd->nexus;
		params_clear(&n->local);
		n->local = p;
		n->scope = SCOPE_LOCAL;
		break;
	default:
		p.valid = true;
		p.kic = ++c->kic;
		p.owner = cmd->nexus;
		params_clear(&c->pub);
		c->pub = p;
		params_clear(&n->local);
		n->scope = SCOPE_ALL;
		/* SSC-4 4.2.26.3: every other registered nexus working under
		 * the public parameters learns they changed (2Ah/11h). */
		for (size_t i = 0; i < c->n_nx; i++) {
			struct nexus_state *o = &c->nx[i];
			if (o->id == cmd->nexus || o->scope == SCOPE_LOCAL)
				continue;
			o->scope = SCOPE_PUBLIC;
			if (o->registered)
				spc_ua_raise(dev, o->id,
					     ASC_ENCRYPTION_PARAMETERS_CHANGED_BY_ANOTHER_NEXUS);
		}
		break;
	}
	params_clear(&p);
	const struct params *now = params_of(c, n);
	n->lock = lock;
	n->kic_at_lock = now ? now->kic : 0;
	c->inst_valid = false;
}
