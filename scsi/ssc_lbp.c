/*
 * ssc_lbp.c - logical block protection and append-only mode of the tape
 * drive: two things a host sets through mode pages to protect the data it
 * writes, and that the data path of ssc.c consults on every WRITE and READ.
 *
 * Logical block protection (SSC-4, "Logical block protection", and the
 * control data protection mode page 0Ah/F0h): with LBP_W set, every block
 * a WRITE carries ends with protection information - a CRC of the data in
 * front of it - which the drive checks before writing; a block whose CRC
 * does not match is refused and nothing of it reaches the medium. With
 * LBP_R set, every block a READ returns carries the CRC of its data
 * appended. The medium keeps only the data (its own records are CRC32C
 * protected, tape.h), so the protection information is computed when a
 * block is read, never stored. Two methods (SSC-4 table "LOGICAL BLOCK
 * PROTECTION METHOD field"): 01h Reed-Solomon CRC (ECMA-319 Annex B), four
 * bytes most significant first, which LTO-5 and later take, and 02h CRC32C
 * (Castagnoli), four bytes least significant first, which LTO-7 and later
 * take (IBM's LTFS chooses CRC32C from LTO-7 on, RS-CRC before:
 * src/tape_drivers/linux/sg/sg_tape.c, _set_lbp).
 *
 * Append-only mode (SSC-4, "Append-only mode"; WRITE MODE of the device
 * configuration extension mode page 10h/01h): a write-type command
 * (WRITE, WRITE FILEMARKS, ERASE) is accepted only at end of data, or at
 * the one position a host has opened with ALLOW OVERWRITE (SSC-4 7.1).
 * IBM drives implement it, IBM Spectrum Protect turns it on
 * (OP=SETAPPENDONLY, mhVTL issue #59) and so does IBM's LTFS
 * (scsi_append_only_mode); HPE drives do not have it (LTFS issue #212:
 * an HP drive answers that MODE SELECT with 26/00), so WRITE MODE is
 * changeable only in the IBM personality.
 *
 * Everything here runs with dev->lock held.
 */
#include "config.h"

#include <pthread.h>
#include <string.h>

#include "be.h"
#include "crc32c.h"
#include "sense.h"
#include "ssc_priv.h"

/* ---- the CRCs ---- */

/*
 * Reed-Solomon CRC of ECMA-319 Annex B: the remainder of the data, taken
 * as a polynomial over GF(2^8) (field polynomial x^8+x^4+x^3+x^2+1), times
 * x^4, divided by G(x) = (x+a^126)(x+a^127)(x+a^128)(x+a^129) with a = 02h:
 * a palindromic generator (the product of its roots is 1) whose
 * coefficients are 01h 38h CFh 38h 01h. The table holds t*G for each byte
 * t, the usual byte-at-a-time division.
 */
static uint32_t rs_table[256];
static pthread_once_t rs_once = PTHREAD_ONCE_INIT;

static uint8_t gf_mul(uint8_t a, uint8_t b)
{
	unsigned r = 0, x = a;

	while (b) {
		if (b & 1)
			r ^= x;
		x <<= 1;
		if (x & 0x100)
			x ^= 0x11d;
		b >>= 1;
	}
	return (uint8_t)r;
}

static void rs_init(void)
{
	uint8_t g[5] = {1, 0, 0, 0, 0}; /* g[0] is the x^4 coefficient */
	uint8_t root = 1;

	for (int i = 0; i < 126; i++)
		root = gf_mul(root, 2);
	for (int k = 0; k < 4; k++) {
		/* g(x) *= (x + root) */
		for (int i = 4; i > 0; i--)
			g[i] ^= gf_mul(g[i - 1], root);
		root = gf_mul(root, 2);
	}
	for (unsigned t = 0; t < 256; t++)
		rs_table[t] = (uint32_t)gf_mul((uint8_t)t, g[1]) << 24 |
			      (uint32_t)gf_mul((uint8_t)t, g[2]) << 16 |
			      (uint32_t)gf_mul((uint8_t)t, g[3]) << 8 | gf_mul((uint8_t)t, g[4]);
}

uint32_t ssc_rs_crc(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint32_t crc = 0;

	pthread_once(&rs_once, rs_init);
	for (size_t i = 0; i < len; i++)
		crc = (crc << 8) ^ rs_table[(crc >> 24) ^ p[i]];
	return crc;
}

/* The protection information of a block's data, as it travels. */
static void lbp_compute(uint8_t method, const uint8_t *data, size_t len, uint8_t pi[SSC_LBP_LEN])
{
	if (method == SSC_LBP_CRC32C) {
		uint32_t c = crc32c(data, len);
		pi[0] = (uint8_t)c;
		pi[1] = (uint8_t)(c >> 8);
		pi[2] = (uint8_t)(c >> 16);
		pi[3] = (uint8_t)(c >> 24);
	} else {
		put_be32(pi, ssc_rs_crc(data, len));
	}
}

/* ---- the data path ---- */

uint32_t ssc_lbp_write_len(const struct ssc_drive *d)
{
	return d->lbp_method && d->lbp_w ? SSC_LBP_LEN : 0;
}

uint32_t ssc_lbp_read_len(const struct ssc_drive *d)
{
	return d->lbp_method && d->lbp_r ? SSC_LBP_LEN : 0;
}

bool ssc_lbp_check(const struct ssc_drive *d, const uint8_t *block, uint32_t len)
{
	uint8_t pi[SSC_LBP_LEN];

	if (len < SSC_LBP_LEN)
		return false;
	lbp_compute(d->lbp_method, block, len - SSC_LBP_LEN, pi);
	return memcmp(pi, block + len - SSC_LBP_LEN, SSC_LBP_LEN) == 0;
}

void ssc_lbp_append(const struct ssc_drive *d, uint8_t *buf, uint32_t data_len, uint32_t cap)
{
	uint8_t pi[SSC_LBP_LEN];

	if (data_len >= cap)
		return; /* the protection information lies beyond the transfer */
	lbp_compute(d->lbp_method, buf, data_len, pi);
	uint32_t room = cap - data_len;
	memcpy(buf + data_len, pi, room < SSC_LBP_LEN ? room : SSC_LBP_LEN);
}

/* ---- control data protection mode page (0Ah/F0h) ---- */

/*
 * SSC-4 "Control Data Protection mode page": byte 4 LOGICAL BLOCK
 * PROTECTION METHOD, byte 5 LOGICAL BLOCK PROTECTION INFORMATION LENGTH
 * (bits 5-0), byte 6 LBP_W (bit 7), LBP_R (bit 6), RBDP (bit 5); 32 bytes
 * in all, as IBM's LTFS reads it (TC_MP_SUB_DP_CTRL_SIZE less the headers).
 * RBDP concerns RECOVER BUFFERED DATA, which this drive does not
 * implement; the bit is kept and reported as the host set it.
 */
static void mp_lbp_sense(struct scsi_dev *dev, int pc, uint8_t *p)
{
	struct ssc_drive *d = ssc_drv(dev);

	memset(p, 0, SSC_LBP_PAGE_LEN);
	if (pc == MODE_PC_CHANGEABLE) {
		p[4] = 0xff;
		p[5] = 0x3f;
		p[6] = 0xe0;
		return;
	}
	if (pc != MODE_PC_CURRENT)
		return; /* default and saved: protection off */
	p[4] = d->lbp_method;
	p[5] = d->lbp_method ? SSC_LBP_LEN : 0;
	p[6] = (uint8_t)((d->lbp_w ? 0x80 : 0) | (d->lbp_r ? 0x40 : 0) | (d->lbp_rbdp ? 0x20 : 0));
}

/* Methods a drive of this generation computes. */
static bool method_supported(const struct ssc_drive *d, uint8_t method)
{
	if (method == SSC_LBP_NONE || method == SSC_LBP_RS_CRC)
		return true;
	return method == SSC_LBP_CRC32C && d->cfg.generation >= TAPE_LTO7;
}

static int mp_lbp_select(struct scsi_dev *dev, struct scsi_cmd *cmd, const uint8_t *p,
			 uint16_t offset)
{
	struct ssc_drive *d = ssc_drv(dev);
	uint8_t method = p[4], len = p[5] & 0x3f;

	if (!method_supported(d, method)) {
		sense_invalid_param(cmd, (uint16_t)(offset + 4), -1);
		return -1;
	}
	/* The information length is the size of the CRC, or zero when
	 * protection is off. */
	if (len != (method ? SSC_LBP_LEN : 0)) {
		sense_invalid_param(cmd, (uint16_t)(offset + 5), -1);
		return -1;
	}
	d->lbp_method = method;
	d->lbp_w = method && (p[6] & 0x80);
	d->lbp_r = method && (p[6] & 0x40);
	d->lbp_rbdp = method && (p[6] & 0x20);
	return 0;
}

const struct spc_mode_page ssc_lbp_mode_page = {0x0a, 0xf0, SSC_LBP_PAGE_LEN, mp_lbp_sense,
						mp_lbp_select};

/* ---- append-only mode ---- */

bool ssc_append_changeable(const struct ssc_drive *d)
{
	return d->cfg.vendor == SSC_VENDOR_IBM;
}

int ssc_append_select(struct ssc_drive *d, struct scsi_cmd *cmd, uint8_t write_mode, uint16_t byte)
{
	if (write_mode > 1) {
		sense_invalid_param(cmd, byte, 7);
		return -1;
	}
	/* Back to overwrite-allowed only without a cartridge mounted: IBM's
	 * LTFS unloads before it turns append-only mode off
	 * (tape_enable_append_only_mode), so a drive must not let a mounted
	 * volume lose the protection underneath an application. */
	if (d->append_only && write_mode == 0 && d->state == SSC_LOADED) {
		sense_invalid_param(cmd, byte, 7);
		return -1;
	}
	d->append_only = write_mode == 1;
	d->overwrite_ok = false;
	return 0;
}

bool ssc_append_refused(struct ssc_drive *d, struct scsi_cmd *cmd)
{
	if (!d->append_only)
		return false;
	uint64_t pos = tape_pos(d->tape);
	if (pos == tape_eod(d->tape))
		return false;
	if (d->overwrite_ok && pos == d->overwrite_obj) {
		d->overwrite_ok = false; /* one write-type command per permission */
		return false;
	}
	/* Data beyond the position would be lost: DATA PROTECT, WRITE
	 * APPEND POSITION ERROR (SPC-4 table of ASC/ASCQ, 50h/01h). */
	sense_set(cmd, SK_DATA_PROTECT, ASC_WRITE_APPEND_POSITION_ERROR);
	return true;
}

/*
 * ALLOW OVERWRITE (SSC-4 7.1): byte 2 bits 3-0 ALLOW OVERWRITE (0h
 * disabled, 1h current position, 2h format), byte 3 PARTITION, bytes 4-11
 * LOGICAL OBJECT IDENTIFIER, which must name the current position. Only
 * meaningful in append-only mode. FORMAT allows FORMAT MEDIUM, which this
 * drive does not implement, so 2h is an invalid field.
 */
void ssc_allow_overwrite(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	struct ssc_drive *d = ssc_drv(dev);
	uint8_t what = cmd->cdb[2] & 0x0f;

	if (what > 1) {
		sense_invalid_cdb(cmd, 2, 3);
		return;
	}
	if (what == 0) {
		d->overwrite_ok = false;
		return;
	}
	if (!d->append_only) {
		/* Nothing to allow in overwrite-allowed mode. */
		sense_set(cmd, SK_ILLEGAL_REQUEST, ASC_COMMAND_SEQUENCE_ERROR);
		return;
	}
	if (cmd->cdb[3] != 0 || get_be64(cmd->cdb + 4) != tape_pos(d->tape)) {
		sense_set(cmd, SK_ILLEGAL_REQUEST, ASC_SEQUENTIAL_POSITIONING_ERROR);
		return;
	}
	d->overwrite_ok = true;
	d->overwrite_obj = tape_pos(d->tape);
}
