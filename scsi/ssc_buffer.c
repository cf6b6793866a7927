/*
 * ssc_buffer.c - READ BUFFER and WRITE BUFFER (SPC-4 6.15 and 6.39) of the
 * tape drive, as firmware-query and diagnostic tools use them (sg3-utils'
 * sg_read_buffer and sg_write_buffer, IBM's LTFS reads a buffer's
 * capacity with descriptor mode before a dump, IBM ITDT, HPE L&TT).
 *
 * Buffers:
 *   - buffer 00h, a data buffer of SSC_DATA_BUF_LEN bytes: WRITE BUFFER
 *     mode 02h (data) stores into it at BUFFER OFFSET, READ BUFFER mode 02h
 *     reads it back, mode 00h (combined header and data) reads it behind a
 *     4-byte header giving its capacity, mode 03h (descriptor) reports the
 *     offset boundary (2^0: any byte offset) and the capacity;
 *   - the echo buffer (modes 0Ah / 0Bh), SSC_ECHO_LEN bytes, with EBOS set:
 *     READ BUFFER echo returns what the same I_T nexus last wrote; if
 *     another nexus wrote since, ABORTED COMMAND, ECHO BUFFER OVERWRITTEN
 *     (3Fh/0Fh); if nothing was written, ILLEGAL REQUEST, COMMAND SEQUENCE
 *     ERROR (SPC-4 6.15.7).
 *
 * WRITE BUFFER's download microcode modes (04h-07h, 0Dh-0Fh) are refused
 * with ILLEGAL REQUEST, INVALID FIELD IN CDB on the MODE field: an
 * emulated drive has no firmware to replace, and accepting an image into
 * nothing would let an update tool report an update that did not happen.
 * Other modes (vendor specific, error history) are refused the same way.
 *
 * The buffers are volatile, like a drive's RAM: gone on restart. Runs with
 * dev->lock held.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "be.h"
#include "sense.h"
#include "ssc_priv.h"

#define SSC_DATA_BUF_LEN (64u * 1024u)
#define SSC_ECHO_LEN	 4096u /* SPC-4: at most 4 KiB, a multiple of four */

enum {
	RB_COMBINED = 0x00,
	RB_DATA = 0x02,
	RB_DESCRIPTOR = 0x03,
	RB_ECHO = 0x0a,
	RB_ECHO_DESCRIPTOR = 0x0b,
};

struct ssc_buffers {
	uint8_t data[SSC_DATA_BUF_LEN];
	uint8_t echo[SSC_ECHO_LEN];
	uint32_t echo_len;
	uint64_t echo_nexus; /* who wrote the echo buffer last; 0 = nobody */
};

static struct ssc_buffers *buffers(struct ssc_drive *d, struct scsi_cmd *cmd)
{
	if (!d->buffers) {
		d->buffers = calloc(1, sizeof(*d->buffers));
		if (!d->buffers)
			sense_set(cmd, SK_HARDWARE_ERROR, ASC_SYSTEM_RESOURCE_FAILURE);
	}
	return d->buffers;
}

void ssc_buffers_free(struct ssc_drive *d)
{
	free(d->buffers);
	d->buffers = NULL;
}

/* Buffer 00h only; offsets and lengths within it. */
static bool data_range(struct scsi_cmd *cmd, uint32_t offset, uint32_t len)
{
	if (cmd->cdb[2] != 0) {
		sense_invalid_cdb(cmd, 2, -1);
		return false;
	}
	if (offset > SSC_DATA_BUF_LEN) {
		sense_invalid_cdb(cmd, 3, -1);
		return false;
	}
	if (len > SSC_DATA_BUF_LEN - offset) {
		sense_invalid_cdb(cmd, 6, -1);
		return false;
	}
	return true;
}

void ssc_read_buffer(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	struct ssc_drive *d = ssc_drv(dev);
	uint8_t mode = cmd->cdb[1] & 0x1f;
	uint32_t offset = get_be24(cmd->cdb + 3);
	uint32_t alloc = get_be24(cmd->cdb + 6);
	struct ssc_buffers *b;
	uint8_t hdr[4] = {0};

	switch (mode) {
	case RB_DESCRIPTOR:
		/* OFFSET BOUNDARY 00h (byte offsets), BUFFER CAPACITY. */
		if (cmd->cdb[2] != 0) {
			sense_invalid_cdb(cmd, 2, -1);
			return;
		}
		put_be24(hdr + 1, SSC_DATA_BUF_LEN);
		spc_respond(cmd, hdr, 4, alloc);
		return;
	case RB_ECHO_DESCRIPTOR:
		/* EBOS (byte 0 bit 0): the drive reports an overwrite by
		 * another nexus; BUFFER CAPACITY in bytes 2-3 (13 bits). */
		hdr[0] = 0x01;
		put_be16(hdr + 2, SSC_ECHO_LEN);
		spc_respond(cmd, hdr, 4, alloc);
		return;
	case RB_DATA:
		if (!data_range(cmd, offset, alloc) || !(b = buffers(d, cmd)))
			return;
		spc_respond(cmd, b->data + offset, alloc, alloc);
		return;
	case RB_COMBINED: {
		/* 4-byte header (BUFFER CAPACITY in bytes 1-3), then the
		 * buffer from offset 0 (SPC-4 6.15.2: the offset must be 0). */
		if (offset != 0) {
			sense_invalid_cdb(cmd, 3, -1);
			return;
		}
		if (!data_range(cmd, 0, 0) || !(b = buffers(d, cmd)))
			return;
		uint8_t *out = malloc(4 + SSC_DATA_BUF_LEN);
		if (!out) {
			sense_set(cmd, SK_HARDWARE_ERROR, ASC_SYSTEM_RESOURCE_FAILURE);
			return;
		}
		put_be24(hdr + 1, SSC_DATA_BUF_LEN);
		memcpy(out, hdr, 4);
		memcpy(out + 4, b->data, SSC_DATA_BUF_LEN);
		spc_respond(cmd, out, 4 + SSC_DATA_BUF_LEN, alloc);
		free(out);
		return;
	}
	case RB_ECHO:
		/* BUFFER ID and BUFFER OFFSET are ignored (SPC-4 6.15.7). */
		if (!(b = buffers(d, cmd)))
			return;
		if (b->echo_nexus == 0) {
			sense_set(cmd, SK_ILLEGAL_REQUEST, ASC_COMMAND_SEQUENCE_ERROR);
			return;
		}
		if (b->echo_nexus != cmd->nexus) {
			sense_set(cmd, SK_ABORTED_COMMAND, ASC_ECHO_BUFFER_OVERWRITTEN);
			return;
		}
		spc_respond(cmd, b->echo, b->echo_len, alloc);
		return;
	default:
		sense_invalid_cdb(cmd, 1, 4);
		return;
	}
}

void ssc_write_buffer(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	struct ssc_drive *d = ssc_drv(dev);
	uint8_t mode = cmd->cdb[1] & 0x1f;
	uint32_t offset = get_be24(cmd->cdb + 3);
	uint32_t len = get_be24(cmd->cdb + 6);
	struct ssc_buffers *b;

	if (len > cmd->out_len) {
		/* The transport delivered less than the CDB describes. */
		sense_invalid_cdb(cmd, 6, -1);
		return;
	}
	switch (mode) {
	case RB_DATA:
		if (!data_range(cmd, offset, len) || !(b = buffers(d, cmd)))
			return;
		memcpy(b->data + offset, cmd->out, len);
		return;
	case RB_ECHO:
		if (len > SSC_ECHO_LEN) {
			sense_invalid_cdb(cmd, 6, -1);
			return;
		}
		if (!(b = buffers(d, cmd)))
			return;
		memcpy(b->echo, cmd->out, len);
		b->echo_len = len;
		b->echo_nexus = cmd->nexus;
		return;
	default:
		/* Download microcode (04h-07h, 0Dh-0Fh) and everything
		 * else: no firmware to replace (see the top of the file). */
		sense_invalid_cdb(cmd, 1, 4);
		return;
	}
}
