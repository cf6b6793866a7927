/*
 * test_iscsi_drive_features.c - the drive features enterprise backup
 * software sets, through the real vtld and libiscsi as IBM's LTFS sg
 * backend sends them: logical block protection (MODE SELECT of 0Ah/F0h,
 * WRITE with the CRC32C appended, READ returning it), append-only mode
 * (WRITE MODE of 10h/01h) with ALLOW OVERWRITE, READ/WRITE BUFFER and the
 * log pages 14h and 32h. The default library: IBM ULT3580-TD8 drives, a
 * cartridge created with vtlctl and moved into drive 0 (LUN 1).
 * tests/scsi/test_lbp.c covers every error at CDB level; this checks the
 * same bytes arrive and leave through iSCSI and vtld.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "scsi/be.h"
#include "scsi/crc32c.h"
#include "vtld_proc.h"

enum { DRIVE0 = 500, SLOT0 = 1000, LUN = 1 };

static struct vtld_proc vtl;
static struct iscsi_context *iscsi;

static void start(void)
{
	char out[1024];

	vp_start(&vtl, NULL);
	vp_ctl_ok(&vtl, "tape create LBP001L8", out, sizeof(out));
	iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 0);
	uint8_t mv[12] = {0xa5, 0};
	put_be16(mv + 4, SLOT0);
	put_be16(mv + 6, DRIVE0);
	struct scsi_task *t = th_cmd(iscsi, 0, mv, 12, SCSI_XFER_NONE, 0, NULL, 0);
	cr_assert_eq(th_status(t), SCSI_STATUS_GOOD, "MOVE MEDIUM into drive 0");
	th_tur_clear(iscsi, LUN);
}

static void stop(void)
{
	if (iscsi)
		th_logout(iscsi);
	iscsi = NULL;
	vp_stop(&vtl);
}

TestSuite(vtld_drive_features, .init = start, .fini = stop, .timeout = 60);

static struct scsi_task *cmd(const uint8_t *cdb, int len, int dir, int xfer, const void *out,
			     size_t out_len)
{
	if (dir == SCSI_XFER_WRITE)
		xfer = (int)out_len; /* the expected data-out length */
	struct scsi_task *t = th_cmd(iscsi, LUN, cdb, len, dir, xfer, out, out_len);
	cr_assert_not_null(t, "%s", iscsi_get_error(iscsi));
	return t;
}

static void good(struct scsi_task *t, const char *what)
{
	cr_assert_eq(t->status, SCSI_STATUS_GOOD, "%s: sense %x/%04x", what, t->sense.key,
		     t->sense.ascq);
}

static void sense(struct scsi_task *t, int key, int ascq, const char *what)
{
	cr_assert_eq(t->status, SCSI_STATUS_CHECK_CONDITION, "%s: status %d", what, t->status);
	cr_assert_eq(t->sense.key, key, "%s: key %x", what, t->sense.key);
	cr_assert_eq(t->sense.ascq, ascq, "%s: asc/ascq %04x", what, t->sense.ascq);
	scsi_free_scsi_task(t);
}

/* MODE SENSE(10) page/subpage, overwrite n bytes of the page from byte
 * `at` with v, MODE SELECT(10) it back with the mode data length zeroed,
 * as LTFS's _set_lbp and tape_enable_append_only_mode do. */
static struct scsi_task *mode_edit(uint8_t page, uint8_t sub, int at, const uint8_t *v, int n)
{
	uint8_t ms[10] = {0x5a, 0, page, sub, 0, 0, 0, 0, 64, 0};
	struct scsi_task *t = cmd(ms, 10, SCSI_XFER_READ, 64, NULL, 0);
	good(t, "MODE SENSE(10)");
	uint8_t buf[64];
	int len = t->datain.size;
	cr_assert_leq(len, 64);
	memcpy(buf, t->datain.data, (size_t)len);
	scsi_free_scsi_task(t);
	int off = 8 + get_be16(buf + 6);
	buf[0] = buf[1] = 0;
	memcpy(buf + off + at, v, (size_t)n);
	uint8_t sel[10] = {0x55, 0x10, 0, 0, 0, 0, 0, 0, (uint8_t)len, 0};
	return cmd(sel, 10, SCSI_XFER_WRITE, 0, buf, (size_t)len);
}

static void write_block(const uint8_t *b, uint32_t len)
{
	uint8_t w6[6] = {0x0a, 0};
	put_be24(w6 + 2, len);
	struct scsi_task *t = cmd(w6, 6, SCSI_XFER_WRITE, 0, b, len);
	good(t, "WRITE(6)");
	scsi_free_scsi_task(t);
}

Test(vtld_drive_features, lbp_crc32c_through_iscsi)
{
	static const uint8_t lbp[3] = {0x02, 0x04, 0xc0}; /* CRC32C, 4, LBP_W|LBP_R */
	struct scsi_task *t = mode_edit(0x0a, 0xf0, 4, lbp, 3);
	good(t, "MODE SELECT control data protection");
	scsi_free_scsi_task(t);

	uint8_t blk[4096 + 4];
	th_pattern(blk, 4096, 7);
	uint32_t c = crc32c(blk, 4096);
	for (int i = 0; i < 4; i++)
		blk[4096 + i] = (uint8_t)(c >> (8 * i));
	write_block(blk, sizeof(blk));

	blk[100] ^= 0x01;
	uint8_t w6[6] = {0x0a, 0};
	put_be24(w6 + 2, sizeof(blk));
	sense(cmd(w6, 6, SCSI_XFER_WRITE, 0, blk, sizeof(blk)), SCSI_SENSE_COMMAND_ABORTED, 0x1001,
	      "WRITE with a bad CRC");
	blk[100] ^= 0x01;

	th_rewind(iscsi, LUN);
	uint8_t r6[6] = {0x08, 0};
	put_be24(r6 + 2, sizeof(blk));
	t = cmd(r6, 6, SCSI_XFER_READ, sizeof(blk), NULL, 0);
	good(t, "READ(6)");
	cr_assert_eq(t->datain.size, (int)sizeof(blk));
	cr_assert_arr_eq(t->datain.data, blk, sizeof(blk), "data and CRC32C, LSB first");
	scsi_free_scsi_task(t);

	/* One block on the tape: the refused one did not land. */
	cr_assert_eq(th_read_position(iscsi, LUN), 1);
}

Test(vtld_drive_features, append_only_mode_refuses_an_overwrite)
{
	uint8_t one[1] = {'A'};
	write_block(one, 1);
	write_block(one, 1);
	static const uint8_t mode[1] = {0x10}; /* WRITE MODE 1h: append-only */
	struct scsi_task *t = mode_edit(0x10, 0x01, 5, mode, 1);
	good(t, "MODE SELECT append-only (Spectrum Protect's SETAPPENDONLY)");
	scsi_free_scsi_task(t);

	th_rewind(iscsi, LUN);
	uint8_t w6[6] = {0x0a, 0, 0, 0, 1, 0};
	sense(cmd(w6, 6, SCSI_XFER_WRITE, 0, one, 1), SCSI_SENSE_DATA_PROTECTION, 0x5001,
	      "overwrite at BOT");

	uint8_t ao[16] = {0x82, 0, 0x01}; /* ALLOW OVERWRITE, current position 0 */
	t = cmd(ao, 16, SCSI_XFER_NONE, 0, NULL, 0);
	good(t, "ALLOW OVERWRITE");
	scsi_free_scsi_task(t);
	write_block(one, 1);
	cr_assert_eq(th_read_position(iscsi, LUN), 1);
}

Test(vtld_drive_features, buffers_and_log_pages_through_iscsi)
{
	/* READ BUFFER descriptor of buffer 0, as LTFS asks before a dump. */
	uint8_t rb[10] = {0x3c, 0x03, 0, 0, 0, 0, 0, 0, 4, 0};
	struct scsi_task *t = cmd(rb, 10, SCSI_XFER_READ, 4, NULL, 0);
	good(t, "READ BUFFER descriptor");
	cr_assert_eq(get_be24(t->datain.data + 1), 65536);
	scsi_free_scsi_task(t);

	/* Echo buffer round trip (sg_write_buffer / sg_read_buffer -m echo). */
	uint8_t msg[256];
	th_pattern(msg, sizeof(msg), 3);
	uint8_t wb[10] = {0x3b, 0x0a, 0, 0, 0, 0, 0, 1, 0, 0};
	t = cmd(wb, 10, SCSI_XFER_WRITE, 0, msg, sizeof(msg));
	good(t, "WRITE BUFFER echo");
	scsi_free_scsi_task(t);
	uint8_t re[10] = {0x3c, 0x0a, 0, 0, 0, 0, 0, 1, 0, 0};
	t = cmd(re, 10, SCSI_XFER_READ, 256, NULL, 0);
	good(t, "READ BUFFER echo");
	cr_assert_arr_eq(t->datain.data, msg, sizeof(msg));
	scsi_free_scsi_task(t);

	/* Download microcode is refused. */
	uint8_t dl[10] = {0x3b, 0x05, 0, 0, 0, 0, 0, 1, 0, 0};
	sense(cmd(dl, 10, SCSI_XFER_WRITE, 0, msg, sizeof(msg)), SCSI_SENSE_ILLEGAL_REQUEST, 0x2400,
	      "WRITE BUFFER download microcode");

	/* Log pages 14h and 32h answer with the drive's counters. */
	uint8_t blk[65536];
	memset(blk, 'z', sizeof(blk));
	write_block(blk, sizeof(blk));
	th_filemarks(iscsi, LUN, 1);
	uint8_t ls[10] = {0x4d, 0, 0x40 | 0x32, 0, 0, 0, 0, 0, 255, 0};
	t = cmd(ls, 10, SCSI_XFER_READ, 255, NULL, 0);
	good(t, "LOG SENSE 32h");
	const uint8_t *p = t->datain.data;
	cr_assert_eq(p[0] & 0x3f, 0x32);
	/* 0006h/0007h: MiB and remaining bytes transferred from the host. */
	uint64_t mib = 0, rest = 0;
	for (int off = 4; off + 4 <= t->datain.size; off += 4 + p[off + 3]) {
		uint16_t code = get_be16(p + off);
		if (code == 6)
			mib = get_be32(p + off + 4);
		if (code == 7)
			rest = get_be32(p + off + 4);
	}
	cr_assert_eq(mib << 20 | rest, sizeof(blk), "bytes written by the host");
	scsi_free_scsi_task(t);

	ls[2] = 0x40 | 0x14;
	t = cmd(ls, 10, SCSI_XFER_READ, 255, NULL, 0);
	good(t, "LOG SENSE 14h");
	cr_assert_eq(t->datain.data[0] & 0x3f, 0x14);
	cr_assert_eq(get_be16(t->datain.data + 4), 0, "LIFETIME VOLUME LOADS first");
	cr_assert_eq(get_be32(t->datain.data + 8), 1, "one load");
	scsi_free_scsi_task(t);
}
