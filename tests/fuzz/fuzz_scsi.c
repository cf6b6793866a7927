/*
 * fuzz_scsi.c - CDB dispatch on the library's real devices: the changer
 * (SMC-3, READ ELEMENT STATUS, MOVE MEDIUM... against the catalog), a drive
 * with a written cartridge loaded and an empty drive (SSC-4), each through
 * spc_dispatch() as a frontend calls it.
 *
 * Input: a sequence of commands, each
 *   u8   device (% 3: changer, loaded drive, empty drive), bit 6: take the
 *        pending unit attentions first, bit 7: the second initiator
 *   u8   CDB length (0: from the operation code's group, else 1..16)
 *   ...  the CDB
 *   u16  data-out length, then that many bytes (fewer if the input ends):
 *        MODE SELECT, LOG SELECT, WRITE ATTRIBUTE, PERSISTENT RESERVE OUT,
 *        WRITE... parameter lists as an initiator may send them, of any
 *        length whatever the CDB says
 *   u16  data-in capacity (bit 15: times 32), the initiator's allocation
 * The data-out and data-in buffers are allocated to their exact size, so
 * a read or write past either is an AddressSanitizer report. Every input
 * starts from a fresh copy of the template library (fuzz_util.h).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scsi/scsi.h"
#include "scsi/sense.h"
#include "scsi/spc.h"
#include "tests/fuzz/fuzz_util.h"
#include "vtl/library.h"

enum { MAX_COMMANDS = 64 };

static void run(struct scsi_dev *dev, uint64_t nexus, const uint8_t *cdb, uint8_t cdb_len,
		const uint8_t *out, uint32_t out_len, uint32_t in_cap)
{
	struct scsi_cmd c;
	memset(&c, 0, sizeof(c));
	c.nexus = nexus;
	c.initiator_port = nexus == 1 ? "iqn.2024-01.fuzz:one,i,0x800000000001"
				      : "iqn.2024-01.fuzz:two,i,0x800000000002";
	memcpy(c.cdb, cdb, cdb_len);
	c.cdb_len = cdb_len;
	uint8_t *o = out_len ? malloc(out_len) : NULL;
	uint8_t *in = in_cap ? malloc(in_cap) : NULL;
	if ((out_len && !o) || (in_cap && !in))
		fz_die("out of memory");
	if (out_len)
		memcpy(o, out, out_len);
	c.out = o;
	c.out_len = out_len;
	c.in = in;
	c.in_cap = in_cap;
	spc_dispatch(dev, &c);
	if (c.in_len <= c.in_cap && c.in_len) {
		/* What the frontend sends back: every byte must be defined. */
		volatile uint8_t sum = 0;
		for (uint32_t i = 0; i < c.in_len; i++)
			sum ^= in[i];
		(void)sum;
	}
	if (c.sense_len > SCSI_SENSE_MAX)
		abort();
	free(o);
	free(in);
}

static void drain(struct scsi_dev *dev, uint64_t nexus)
{
	static const uint8_t tur[6] = {TEST_UNIT_READY};
	for (int i = 0; i < 16; i++) {
		struct scsi_cmd c;
		memset(&c, 0, sizeof(c));
		c.nexus = nexus;
		memcpy(c.cdb, tur, 6);
		c.cdb_len = 6;
		spc_dispatch(dev, &c);
		if (c.status != SAM_STAT_CHECK_CONDITION ||
		    sense_key(c.sense, c.sense_len) != SK_UNIT_ATTENTION)
			break;
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_lib_template();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = {data, size};
	struct lib *lib = fz_lib_open_copy();
	struct scsi_dev *devs[3] = {lib_changer(lib), lib_drive(lib, 0), lib_drive(lib, 1)};
	for (int n = 0; n < MAX_COMMANDS && fz_more(&in); n++) {
		uint8_t sel = fz_u8(&in);
		struct scsi_dev *dev = devs[sel % 3];
		uint64_t nexus = sel & 0x80 ? 2 : 1;
		if (sel & 0x40)
			drain(dev, nexus);
		uint8_t cdb[16] = {0};
		uint8_t len = fz_u8(&in);
		size_t got;
		const uint8_t *p = fz_bytes(&in, 1, &got);
		cdb[0] = got ? p[0] : 0;
		if (len == 0)
			len = spc_cdb_len(cdb[0]) ? spc_cdb_len(cdb[0]) : 16;
		if (len > 16)
			len = 16;
		p = fz_bytes(&in, (size_t)len - 1, &got);
		memcpy(cdb + 1, p, got);
		uint16_t want = fz_u16(&in);
		const uint8_t *out = fz_bytes(&in, want, &got);
		uint16_t cap = fz_u16(&in);
		uint32_t in_cap = cap & 0x8000 ? (uint32_t)(cap & 0x7fff) * 32 : cap;
		run(dev, nexus, cdb, len, out, (uint32_t)got, in_cap);
	}
	fz_lib_close(lib);
	return 0;
}
