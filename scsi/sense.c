/*
 * sense.c - building and decoding sense data (SPC-4 4.5).
 *
 * Fixed format is 18 bytes (response code 0x70, SPC-4 4.5.3). Descriptor
 * format (0x72, SPC-4 4.5.2) carries the same facts in an information
 * descriptor (type 0x00), a sense-key specific descriptor (0x02) and a
 * stream commands descriptor (0x04, SSC-4 4.2.11 / SPC-4 4.5.2.6) for the
 * FILEMARK, EOM and ILI bits.
 */
#include "config.h"

#include "sense.h"

#include <string.h>

#include "be.h"

enum {
	FIXED_LEN = 18,
	DESC_HDR_LEN = 8,
};

static void sense_build(struct scsi_cmd *cmd, uint8_t key, uint16_t asc_ascq, uint8_t flags,
			bool info_valid, int64_t info, bool sks_valid, const uint8_t sks[3])
{
	uint8_t *s = cmd->sense;

	cmd->status = SAM_STAT_CHECK_CONDITION;
	memset(s, 0, SCSI_SENSE_MAX);
	if (!cmd->desc_sense) {
		s[0] = 0x70 | (info_valid ? 0x80 : 0);
		s[2] = (uint8_t)(flags | (key & 0x0f));
		if (info_valid)
			put_be32(s + 3, (uint32_t)info); /* two's complement when negative */
		s[7] = FIXED_LEN - 8;
		s[12] = (uint8_t)(asc_ascq >> 8);
		s[13] = (uint8_t)asc_ascq;
		if (sks_valid)
			memcpy(s + 15, sks, 3);
		cmd->sense_len = FIXED_LEN;
		return;
	}
	size_t n = DESC_HDR_LEN;
	s[0] = 0x72;
	s[1] = key & 0x0f;
	s[2] = (uint8_t)(asc_ascq >> 8);
	s[3] = (uint8_t)asc_ascq;
	if (info_valid) {
		s[n] = 0x00;
		s[n + 1] = 0x0a;
		s[n + 2] = 0x80;
		put_be64(s + n + 4, (uint64_t)info);
		n += 12;
	}
	if (sks_valid) {
		s[n] = 0x02;
		s[n + 1] = 0x06;
		memcpy(s + n + 4, sks, 3);
		n += 8;
	}
	if (flags) {
		s[n] = 0x04;
		s[n + 1] = 0x02;
		s[n + 3] = flags;
		n += 4;
	}
	s[7] = (uint8_t)(n - DESC_HDR_LEN);
	cmd->sense_len = (uint8_t)n;
}

void sense_set(struct scsi_cmd *cmd, uint8_t key, uint16_t asc_ascq)
{
	sense_build(cmd, key, asc_ascq, 0, false, 0, false, NULL);
}

void sense_set_info(struct scsi_cmd *cmd, uint8_t key, uint16_t asc_ascq, uint8_t flags,
		    int64_t info)
{
	sense_build(cmd, key, asc_ascq, flags, true, info, false, NULL);
}

void sense_set_field(struct scsi_cmd *cmd, uint16_t asc_ascq, bool in_cdb, uint16_t byte, int bit)
{
	uint8_t sks[3];

	/* SPC-4 4.5.2.4.2 table 31: SKSV, C/D, BPV, BIT POINTER, FIELD POINTER. */
	sks[0] = (uint8_t)(0x80 | (in_cdb ? 0x40 : 0) | (bit >= 0 ? 0x08 | (bit & 7) : 0));
	put_be16(sks + 1, byte);
	sense_build(cmd, SK_ILLEGAL_REQUEST, asc_ascq, 0, false, 0, true, sks);
}

void sense_invalid_cdb(struct scsi_cmd *cmd, uint16_t byte, int bit)
{
	sense_set_field(cmd, ASC_INVALID_FIELD_IN_CDB, true, byte, bit);
}

void sense_invalid_param(struct scsi_cmd *cmd, uint16_t byte, int bit)
{
	sense_set_field(cmd, ASC_INVALID_FIELD_IN_PARAMETER_LIST, false, byte, bit);
}

void sense_make_deferred(struct scsi_cmd *cmd)
{
	uint8_t *s = cmd->sense;

	if (cmd->sense_len)
		s[0] = (uint8_t)((s[0] & 0x80) | ((s[0] & 0x7f) == 0x72 ? 0x73 : 0x71));
}

void sense_clear(struct scsi_cmd *cmd)
{
	cmd->status = SAM_STAT_GOOD;
	cmd->sense_len = 0;
}

static bool is_desc(const uint8_t *s, size_t len)
{
	return len > 0 && ((s[0] & 0x7f) == 0x72 || (s[0] & 0x7f) == 0x73);
}

/* Find descriptor `type` in descriptor-format sense, or NULL. */
static const uint8_t *find_desc(const uint8_t *s, size_t len, uint8_t type)
{
	if (len < DESC_HDR_LEN)
		return NULL;
	size_t end = DESC_HDR_LEN + s[7];
	if (end > len)
		end = len;
	for (size_t i = DESC_HDR_LEN; i + 2 <= end; i += 2u + s[i + 1]) {
		if (s[i] == type && i + 2u + s[i + 1] <= end)
			return s + i;
	}
	return NULL;
}

uint8_t sense_key(const uint8_t *s, size_t len)
{
	if (is_desc(s, len))
		return len > 1 ? s[1] & 0x0f : 0;
	return len > 2 ? s[2] & 0x0f : 0;
}

uint16_t sense_asc(const uint8_t *s, size_t len)
{
	if (is_desc(s, len))
		return len > 3 ? get_be16(s + 2) : 0;
	return len > 13 ? get_be16(s + 12) : 0;
}

uint8_t sense_flags(const uint8_t *s, size_t len)
{
	if (is_desc(s, len)) {
		const uint8_t *d = find_desc(s, len, 0x04);
		return d ? d[3] & 0xe0 : 0;
	}
	return len > 2 ? s[2] & 0xe0 : 0;
}

bool sense_info(const uint8_t *s, size_t len, int64_t *info)
{
	if (is_desc(s, len)) {
		const uint8_t *d = find_desc(s, len, 0x00);
		if (!d || !(d[2] & 0x80))
			return false;
		*info = (int64_t)get_be64(d + 4);
		return true;
	}
	if (len < 7 || !(s[0] & 0x80))
		return false;
	*info = (int32_t)get_be32(s + 3);
	return true;
}
