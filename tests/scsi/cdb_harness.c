/*
 * cdb_harness.c - running CDBs against a real scsi_dev in a test; see
 * cdb_harness.h.
 */
#include "cdb_harness.h"

#include <criterion/criterion.h>
#include <string.h>

#include "scsi/be.h"
#include "scsi/sense.h"

void cdb_fill(struct scsi_cmd *c, uint64_t nexus, const uint8_t *cdb, size_t len, const void *out,
	      uint32_t out_len, void *in, uint32_t in_cap)
{
	cr_assert_leq(len, sizeof(c->cdb), "CDB of %zu bytes", len);
	memset(c, 0, sizeof(*c));
	c->nexus = nexus;
	memcpy(c->cdb, cdb, len);
	c->cdb_len = (uint8_t)len;
	c->out = out;
	c->out_len = out_len;
	c->in = in;
	c->in_cap = in_cap;
}

void cdb_exec(struct scsi_dev *dev, struct scsi_cmd *c, uint64_t nexus, const uint8_t *cdb,
	      size_t len, const void *out, uint32_t out_len, void *in, uint32_t in_cap)
{
	cdb_fill(c, nexus, cdb, len, out, out_len, in, in_cap);
	spc_dispatch(dev, c);
}

uint8_t cdb_key(const struct scsi_cmd *c)
{
	return sense_key(c->sense, c->sense_len);
}

uint16_t cdb_asc(const struct scsi_cmd *c)
{
	if (c->status == SAM_STAT_GOOD)
		return 0;
	return sense_asc(c->sense, c->sense_len);
}

uint8_t cdb_flags(const struct scsi_cmd *c)
{
	return sense_flags(c->sense, c->sense_len);
}

int64_t cdb_info(const struct scsi_cmd *c)
{
	int64_t info = 0;
	cr_assert(sense_info(c->sense, c->sense_len, &info), "INFORMATION not valid");
	return info;
}

void cdb_assert_good(const struct scsi_cmd *c)
{
	cr_assert_eq(c->status, SAM_STAT_GOOD, "cdb %02x: status %02x key %x asc %04x", c->cdb[0],
		     c->status, cdb_key(c), sense_asc(c->sense, c->sense_len));
}

void cdb_assert_sense(const struct scsi_cmd *c, uint8_t key, uint16_t asc)
{
	cr_assert_eq(c->status, SAM_STAT_CHECK_CONDITION, "cdb %02x: status %02x", c->cdb[0],
		     c->status);
	cr_assert_eq(cdb_key(c), key, "cdb %02x: key %x, want %x", c->cdb[0], cdb_key(c), key);
	cr_assert_eq(sense_asc(c->sense, c->sense_len), asc, "cdb %02x: asc %04x, want %04x",
		     c->cdb[0], sense_asc(c->sense, c->sense_len), asc);
}

void cdb_assert_field(const struct scsi_cmd *c, bool in_cdb, uint16_t byte, int bit)
{
	const uint8_t *sks = NULL;

	/* Fixed format: bytes 15-17. Descriptor format: the sense key
	 * specific descriptor, type 02h (SPC-4 4.5.2.4). */
	if ((c->sense[0] & 0x7f) == 0x70 || (c->sense[0] & 0x7f) == 0x71) {
		sks = c->sense + 15;
	} else {
		for (size_t i = 8; i + 2 <= c->sense_len; i += 2u + c->sense[i + 1])
			if (c->sense[i] == 0x02)
				sks = c->sense + i + 4;
	}
	cr_assert_not_null(sks, "no sense-key specific field");
	cr_assert(sks[0] & 0x80, "SKSV");
	cr_assert_eq(!!(sks[0] & 0x40), in_cdb, "C/D");
	cr_assert_eq(get_be16(sks + 1), byte, "field pointer %u, want %u", get_be16(sks + 1), byte);
	if (bit < 0) {
		cr_assert_eq(sks[0] & 0x08, 0, "BPV");
	} else {
		cr_assert(sks[0] & 0x08, "BPV");
		cr_assert_eq(sks[0] & 0x07, bit, "bit pointer %d, want %d", sks[0] & 7, bit);
	}
}

/* Pending unit attentions of nexus, each popped by a TEST UNIT READY; true
 * if asc_ascq was among them. 16 is more than SPC_UA_QUEUE can hold. */
bool cdb_saw_ua(struct scsi_dev *dev, uint64_t nexus, uint16_t asc_ascq)
{
	struct scsi_cmd c;
	bool seen = false;

	for (int i = 0; i < 16; i++) {
		cdb_exec(dev, &c, nexus, CDB(TEST_UNIT_READY, 0, 0, 0, 0, 0), NULL, 0, NULL, 0);
		if (c.status != SAM_STAT_CHECK_CONDITION || cdb_key(&c) != SK_UNIT_ATTENTION)
			break;
		if (sense_asc(c.sense, c.sense_len) == asc_ascq)
			seen = true;
	}
	return seen;
}

void cdb_drain_ua(struct scsi_dev *dev, uint64_t nexus)
{
	(void)cdb_saw_ua(dev, nexus, 0);
}
