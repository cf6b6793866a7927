/*
 * ssc.c - a tape drive logical unit (SSC-4) on the medium of tape.h.
 *
 * This file holds the device object, the command table and the commands
 * that move the medium: READ/WRITE(6) and (16) in fixed and variable mode,
 * WRITE FILEMARKS(6)/(16), SPACE, LOCATE, READ POSITION, REWIND, ERASE,
 * VERIFY(6)/(16), LOAD UNLOAD and READ BLOCK LIMITS. ssc_pages.c holds what the drive reports
 * about itself (INQUIRY identity, VPD, mode and log pages, MAM, densities);
 * ssc_lbp.c logical block protection, append-only mode and ALLOW
 * OVERWRITE, which WRITE and READ consult; ssc_buffer.c READ/WRITE BUFFER;
 * ssc_logs.c the data compression log page.
 *
 * Invariants:
 *   - The command table is the single description of what the drive does:
 *     dispatch, the reserved-bit check and REPORT SUPPORTED OPERATION CODES
 *     all come from it, so each usage mask names exactly the CDB bits the
 *     handler below interprets.
 *   - A command that stops early reports why in the sense data the way
 *     SSC-4 4.2 prescribes (FILEMARK/EOM/ILI bits and the residue in the
 *     INFORMATION field), because host drivers compute their file and block
 *     numbers from it (Linux st.c: st_int_ioctl and read_tape).
 *   - Data acknowledged by a command that SSC-4 defines as flushing (WRITE
 *     FILEMARKS with IMMED=0, REWIND, LOCATE, LOAD UNLOAD, WRITE in
 *     unbuffered mode) is on stable storage before GOOD (tape_flush, see
 *     ARCHITECTURE.md "Durability contract").
 *   - state is SSC_LOADED exactly when tape is usable for media access;
 *     SSC_UNLOADED keeps the tape open (MAM readable, LOAD reloads it).
 */
#include "config.h"

#include "ssc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "be.h"
#include "sense.h"
#include "ssc_priv.h"

/*
 * Early warning (SSC-4 4.2.5): the drive reports EOM when a write ends
 * within this many stored bytes of the physical end. Real LTO drives warn
 * some gigabytes before the end; a test medium with a small capacity gets
 * 1/32 of it.
 */
#define SSC_EW_ZONE_MAX (4ull << 30)
#define SSC_EW_ZONE_DIV 32u

/* Control byte usage: NACA and LINK are not supported (SAM-5 5.2). */
#define CTL SPC_CTL

/* ---- helpers ---- */

void ssc_tapealert_set(struct ssc_drive *d, unsigned flag)
{
	if (flag >= 1 && flag <= 64)
		d->tapealert |= 1ull << (flag - 1);
}

uint8_t ssc_current_density(struct ssc_drive *d)
{
	if (d->tape)
		return tape_media_density(tape_get_info(d->tape)->media);
	return tape_media_density(d->cfg.generation);
}

static uint64_t ew_point(const struct tape *t)
{
	uint64_t cap = tape_capacity(t);
	uint64_t zone = cap / SSC_EW_ZONE_DIV;

	if (zone > SSC_EW_ZONE_MAX)
		zone = SSC_EW_ZONE_MAX;
	return cap - zone;
}

/* Is the position between early warning and the physical end? */
static bool beyond_ew(const struct tape *t)
{
	return tape_bytes_before_pos(t) >= ew_point(t);
}

/*
 * Programmable early warning (SSC-4 4.2.5, device configuration extension
 * mode page PEWS): a point PEWS x 10^6 bytes before early warning. The
 * zone from it to early warning is the PEWZ. Off when PEWS is zero.
 */
static bool beyond_pew(const struct ssc_drive *d)
{
	if (d->pews == 0)
		return beyond_ew(d->tape);
	uint64_t ew = ew_point(d->tape), size = (uint64_t)d->pews * 1000000u;
	return tape_bytes_before_pos(d->tape) >= (size < ew ? ew - size : 0);
}

/*
 * The 16-byte stream commands (READ(16), WRITE(16), WRITE FILEMARKS(16),
 * VERIFY(16)) carry the same bits in byte 1 as their 6-byte forms and the
 * 24-bit length or count in bytes 12-14 instead of 2-4.
 */
static bool is_cdb16(const struct scsi_cmd *cmd)
{
	return cmd->cdb[0] >= 0x80 && cmd->cdb[0] <= 0x9f;
}

static uint16_t len_byte(const struct scsi_cmd *cmd)
{
	return is_cdb16(cmd) ? 12 : 2;
}

static uint32_t xfer_len(const struct scsi_cmd *cmd)
{
	return get_be24(cmd->cdb + len_byte(cmd));
}

/* A 24-bit two's complement count (SPACE(6)). */
static int64_t cdb_count24(const uint8_t *cdb)
{
	uint32_t v = get_be24(cdb + 2);
	if (v & 0x800000u)
		return (int64_t)v - 0x1000000;
	return (int64_t)v;
}

/*
 * Map a medium error to sense. Reads: a record that fails its CRC is
 * MEDIUM ERROR, UNRECOVERED READ ERROR (SSC-4 4.2.13); writes: WRITE ERROR.
 * info is the residue when valid_info.
 */
static void medium_error(struct ssc_drive *d, struct scsi_cmd *cmd, int rc, bool write,
			 bool valid_info, int64_t info)
{
	uint8_t key = SK_MEDIUM_ERROR;
	uint16_t asc = write ? ASC_WRITE_ERROR : ASC_UNRECOVERED_READ_ERROR;

	if (ssc_crypto_sense(d, cmd, rc, valid_info, info))
		return;
	if (rc == -ENOMEM) {
		key = SK_HARDWARE_ERROR;
		asc = ASC_SYSTEM_RESOURCE_FAILURE;
	} else if (rc == -EPERM) {
		/* tape.c's own WORM check (normally caught first by
		 * worm_refused()). */
		ssc_tapealert_set(d, TA_WORM_OVERWRITE_ATTEMPTED);
		key = SK_DATA_PROTECT;
		asc = ASC_WORM_MEDIUM_OVERWRITE_ATTEMPTED;
		valid_info = false;
	} else if (rc == -EROFS) {
		/* tape.c's own write-protect check (normally caught first by
		 * write_protected()). */
		key = SK_DATA_PROTECT;
		asc = ASC_WRITE_PROTECTED;
		valid_info = false;
	} else if (write) {
		d->write_errors_uncorrected++;
		d->mount_write_errors++;
		ssc_tapealert_set(d, TA_HARD_ERROR);
		ssc_tapealert_set(d, TA_WRITE_FAILURE);
	} else {
		d->read_errors_uncorrected++;
		d->mount_read_errors++;
		ssc_tapealert_set(d, TA_HARD_ERROR);
		ssc_tapealert_set(d, TA_READ_FAILURE);
		if (rc == -EBADMSG)
			ssc_tapealert_set(d, TA_MEDIA);
	}
	if (valid_info)
		sense_set_info(cmd, key, asc, 0, info);
	else
		sense_set(cmd, key, asc);
}

/* DATA PROTECT when the medium cannot be written (SSC-4 4.2.14). */
static bool write_protected(struct ssc_drive *d, struct scsi_cmd *cmd)
{
	if (tape_get_info(d->tape)->write_protect) {
		ssc_tapealert_set(d, TA_WRITE_PROTECT);
		sense_set(cmd, SK_DATA_PROTECT, ASC_WRITE_PROTECTED);
		return true;
	}
	if (d->read_only) {
		sense_set(cmd, SK_DATA_PROTECT, ASC_CANNOT_WRITE_MEDIUM_INCOMPATIBLE_FORMAT);
		return true;
	}
	return false;
}

/*
 * A WORM cartridge takes only appends (tape_worm_allows): a write may
 * start at EOD or over the trailing filemarks after the first of them, an
 * erase only at EOD. Anything else is DATA PROTECT, WORM MEDIUM -
 * OVERWRITE ATTEMPTED (30/0C) and TapeAlert flag 3Ch, nothing written, as
 * HP's LTO Ultrium technical reference ("Use of tapes", WORM) and the
 * medium configuration mode page's WORM MODE FILEMARK RESTRICTIONS 02h of
 * IBM-style LTO drives (ssc_pages.c) describe.
 */
static bool worm_refused(struct ssc_drive *d, struct scsi_cmd *cmd, bool erase)
{
	if (tape_worm_allows(d->tape, erase))
		return false;
	ssc_tapealert_set(d, TA_WORM_OVERWRITE_ATTEMPTED);
	sense_set(cmd, SK_DATA_PROTECT, ASC_WORM_MEDIUM_OVERWRITE_ATTEMPTED);
	return true;
}

/* Flush, mapping a failure to sense. */
static int flush(struct ssc_drive *d, struct scsi_cmd *cmd)
{
	int rc = tape_flush(d->tape);
	if (rc) {
		/* Within a command the only block that can still wait is
		 * this WRITE's own (report_ew): reported here, as a current
		 * error, and not once more as a deferred one. */
		(void)tape_write_behind(d->tape);
		medium_error(d, cmd, rc, true, false, 0);
	}
	return rc;
}

/*
 * After a write completed in full: SSC-4 4.2.5 - in the early-warning zone
 * the command ends with CHECK CONDITION, NO SENSE, EOM and END-OF-PARTITION/
 * MEDIUM DETECTED, INFORMATION = 0 (nothing left over). SEW is one in the
 * device configuration page, so the buffer is synchronised first.
 */
static void report_ew(struct ssc_drive *d, struct scsi_cmd *cmd)
{
	if (!beyond_pew(d)) {
		d->pew_reported = false;
		return;
	}
	if (!beyond_ew(d->tape)) {
		/* SSC-4 4.2.5: crossing PEW is reported once, by the write
		 * that crosses it (or the first one inside the PEWZ after
		 * the position went back before PEW): NO SENSE, PROGRAMMABLE
		 * EARLY WARNING DETECTED, INFORMATION 0. The EOM bit stays
		 * zero: this is not early warning yet, and hosts (Linux st)
		 * take EOM as "stop writing". */
		if (d->pew_reported)
			return;
		d->pew_reported = true;
		if (flush(d, cmd))
			return;
		sense_set_info(cmd, SK_NO_SENSE, ASC_PROGRAMMABLE_EARLY_WARNING_DETECTED, 0, 0);
		return;
	}
	if (flush(d, cmd))
		return;
	sense_set_info(cmd, SK_NO_SENSE, ASC_END_OF_PARTITION_MEDIUM_DETECTED, SENSE_EOM, 0);
}

/* VOLUME OVERFLOW at the physical end: data not written (SSC-4 4.2.5). */
static void volume_overflow(struct scsi_cmd *cmd, int64_t residue)
{
	sense_set_info(cmd, SK_VOLUME_OVERFLOW, ASC_END_OF_PARTITION_MEDIUM_DETECTED, SENSE_EOM,
		       residue);
}

/*
 * Where a 16-byte READ, WRITE, WRITE FILEMARKS or VERIFY starts: its
 * PARTITION (byte 3) and LOGICAL OBJECT IDENTIFIER (bytes 4-11) fields.
 * SSC-4 (READ(16) 6.4, WRITE(16) 6.8, WRITE FILEMARKS(16) 6.9, VERIFY(16)
 * 6.7, as in SSC-3): when they do not name the current logical position the
 * device server first performs a locate operation to them; if that fails
 * the command ends with CHECK CONDITION, LOCATE OPERATION FAILURE and the
 * requested transfer length (`info`) in the INFORMATION field. The only
 * way a locate fails here is a target beyond end-of-data, so the sense key
 * is BLANK CHECK, as LOCATE reports it, and the position is EOD. This
 * cartridge has one partition (LTO without partitioning): any other
 * partition is an invalid field. Returns false with sense set when the
 * command must not go on.
 */
static bool locate_cdb16(struct ssc_drive *d, struct scsi_cmd *cmd, int64_t info)
{
	uint64_t obj = get_be64(cmd->cdb + 4);

	if (cmd->cdb[3] != 0) {
		sense_invalid_cdb(cmd, 3, -1);
		return false;
	}
	if (obj == tape_pos(d->tape))
		return true;
	/* Motion empties the object buffer first (SSC-4 4.2.9). */
	if (flush(d, cmd))
		return false;
	int rc = tape_locate(d->tape, obj);
	if (rc == -ENODATA) {
		sense_set_info(cmd, SK_BLANK_CHECK, ASC_LOCATE_OPERATION_FAILURE, 0, info);
		return false;
	}
	if (rc) {
		medium_error(d, cmd, rc, false, true, info);
		return false;
	}
	return true;
}

/* ---- Write-behind: deferred errors (SPC-4 4.5.5) ---- */

/* Write the block left behind by a WRITE and the blocks gathered
 * (tape_write_held), if any wait, but with keep the gathered ones (before
 * a WRITE, which adds to them); a failure is kept for the nexus that
 * wrote them, with INFORMATION what they held: blocks in fixed-block
 * mode, bytes in variable-block mode, as for the WRITE itself. */
static void write_behind(struct ssc_drive *d, bool keep)
{
	uint64_t blocks, bytes;

	if (!d->tape)
		return;
	int rc = tape_write_behind_lost(d->tape, keep, &blocks, &bytes);
	if (!rc)
		return;
	int64_t residue = d->wb_fixed ? (int64_t)blocks : (int64_t)bytes;
	if (d->wb_err) {
		d->wb_residue += residue;
		d->wb_count += blocks;
		return;
	}
	d->wb_err = rc;
	d->wb_residue = residue;
	d->wb_block = tape_pos(d->tape); /* the first block taken back */
	d->wb_count = blocks;
}

/*
 * Before every command but INQUIRY, REPORT LUNS and REQUEST SENSE: the
 * block a WRITE left behind is written first, so that the command sees
 * the medium as the host does (READ POSITION, a move, a read of it, a
 * flush, a key change). If it could not be written, the nexus that wrote
 * it gets CHECK CONDITION with the deferred error (SPC-4 4.5.5: response
 * code 71h/73h; MEDIUM ERROR, WRITE ERROR, INFORMATION what that WRITE
 * left unwritten: its bytes in variable mode, one block in fixed mode)
 * and its command is not executed; the position is after the last block
 * written. Another nexus's command goes on, and the error waits for the
 * writer.
 */
/*
 * A READ(6) of the block the drive's thread is opening right now (nothing
 * read ahead before it) waits for that block rather than open it a second
 * time on its own thread: the job began before the READ arrived, so it
 * ends sooner than a read would, and its work is not thrown away. The
 * wait ends when the job does (ssc_readahead broadcasts), whatever the
 * job's outcome; a failure is then met by the READ itself.
 */
static void ssc_wait(struct scsi_dev *dev, const struct scsi_cmd *cmd)
{
	struct ssc_drive *d = ssc_drv(dev);

	if (cmd->cdb[0] != READ_6 || !d->tape)
		return;
	/* A READ that finds nothing read ahead pays the block's whole read
	 * itself, or waits for the thread (two context switches); when READs
	 * keep doing so, the thread is not given a CPU in time and the
	 * hand-off costs more than it saves (docs/benchmarks.md, "Read-ahead
	 * off the drive's lock"): the drive reads on the command's path for a
	 * while, then tries again. */
	if (!d->ra_pause && tape_prefetched(d->tape) == 0 && ++d->ra_starved >= SSC_RA_STARVED) {
		d->ra_pause = SSC_RA_PAUSE;
		d->ra_starved = 0;
	} else if (tape_prefetched(d->tape)) {
		d->ra_starved = 0;
	}
	while (d->tape && tape_prefetch_opening(d->tape))
		pthread_cond_wait(&d->pf_done, &dev->lock);
}

static bool ssc_before(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	struct ssc_drive *d = ssc_drv(dev);

	/* A WRITE of the nexus whose blocks are gathered adds to them;
	 * another nexus's WRITE writes them first, so that a failure stays
	 * the error of the nexus that wrote them. */
	bool write = cmd->cdb[0] == WRITE_6 || cmd->cdb[0] == WRITE_16;
	write_behind(d,
		     write && (!d->tape || !tape_write_held(d->tape) || cmd->nexus == d->wb_nexus));
	if (!d->wb_err || cmd->nexus != d->wb_nexus)
		return true;
	int rc = d->wb_err;
	d->wb_err = 0;
	medium_error(d, cmd, rc, true, true, d->wb_residue);
	sense_make_deferred(cmd);
	return false;
}

void ssc_write_behind(struct scsi_dev *dev)
{
	struct ssc_drive *d = ssc_drv(dev);

	pthread_mutex_lock(&dev->lock);
	if (d->state == SSC_LOADED)
		write_behind(d, false);
	pthread_mutex_unlock(&dev->lock);
}

/* ---- READ BLOCK LIMITS (SSC-4 7.6) ---- */

static void ssc_read_block_limits(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	struct ssc_drive *d = ssc_drv(dev);
	uint8_t buf[20] = {0};

	if (cmd->cdb[1] & 0x01) {
		/* MLOI: the maximum logical object identifier the medium can
		 * hold; needs a medium. */
		if (d->state != SSC_LOADED) {
			sense_set(cmd, SK_NOT_READY,
				  d->state == SSC_EMPTY ? ASC_MEDIUM_NOT_PRESENT
							: ASC_LUN_NOT_READY_INIT_REQUIRED);
			return;
		}
		/* Object numbers beyond 32 bits do not fit READ POSITION's
		 * short form nor LOCATE(10). */
		put_be64(buf + 12, UINT32_MAX);
		spc_respond(cmd, buf, 20, cmd->in_cap);
		return;
	}
	buf[0] = 0; /* granularity 2^0 */
	put_be24(buf + 1, TAPE_MAX_BLOCK);
	put_be16(buf + 4, 1);
	spc_respond(cmd, buf, 6, cmd->in_cap);
}

/* ---- READ(6) (SSC-4 7.9) and READ(16) (SSC-4 6.4) ---- */

/* What a READ transfers, saturated to the 32-bit field. */
static void set_in_len(struct scsi_cmd *cmd, uint64_t n)
{
	cmd->in_len = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

/* Both return the medium's error (reported in cmd), else 0. */
static int read_variable(struct ssc_drive *d, struct scsi_cmd *cmd, uint32_t len, bool sili)
{
	uint32_t cap = len < cmd->in_cap ? len : cmd->in_cap;
	uint32_t rlen = 0;
	enum tape_obj kind;

	int rc;

	/* A frontend that lends its buffer (in_size, scsi.h) gets a block
	 * read ahead by exchange rather than by copy (tape_read_lent). */
	if (cap && cmd->in_size)
		rc = tape_read_lent(d->tape, &cmd->in, &cmd->in_size, cap, cmd->in_cap, &rlen,
				    &kind);
	else
		rc = tape_read(d->tape, cap ? cmd->in : NULL, cap, &rlen, &kind);
	if (rc) {
		medium_error(d, cmd, rc, false, true, len);
		return rc;
	}
	if (kind == TAPE_FILEMARK) {
		/* SSC-4 4.2.13: positioned after the filemark; INFORMATION is
		 * the requested length minus the bytes transferred (none). */
		sense_set_info(cmd, SK_NO_SENSE, ASC_FILEMARK_DETECTED, SENSE_FILEMARK, len);
		return 0;
	}
	if (kind == TAPE_EOD) {
		sense_set_info(cmd, SK_BLANK_CHECK, ASC_END_OF_DATA_DETECTED, 0, len);
		return 0;
	}
	if (ssc_lbp_read_len(d)) {
		/* LBP_R: the block as the host sees it ends with the
		 * protection information of its data (ssc_lbp.c). */
		ssc_lbp_append(d, cmd->in, rlen, cap);
		rlen += SSC_LBP_LEN;
	}
	/* in_len is what the command transfers (SSC-4 7.9: the smaller of
	 * the record and the transfer length), even beyond the room the
	 * frontend gave (cap): the excess is the frontend's overflow to
	 * report (RFC 7143 11.4.5.1), not something to hide. */
	cmd->in_len = rlen < len ? rlen : len;
	if (rlen == len)
		return 0;
	/*
	 * Incorrect length (SSC-4 7.9, SILI): with SILI set, an underlength
	 * record is never reported, an overlength one only when the drive is
	 * in fixed-block mode (BLOCK LENGTH nonzero). Otherwise NO SENSE with
	 * ILI and INFORMATION = requested - actual (negative for overlength);
	 * the position is after the record either way.
	 */
	if (sili && (rlen < len || d->block_len == 0))
		return 0;
	sense_set_info(cmd, SK_NO_SENSE, ASC_NO_ADDITIONAL_SENSE, SENSE_ILI,
		       (int64_t)len - (int64_t)rlen);
	return 0;
}

static int read_fixed(struct ssc_drive *d, struct scsi_cmd *cmd, uint32_t count)
{
	uint32_t bl = d->block_len;
	/* Bytes the command has transferred so far, counted whole even
	 * beyond in_cap (see read_variable); 64-bit: count * bl may pass
	 * 4 GiB. */
	uint64_t off = 0;

	for (uint32_t i = 0; i < count; i++) {
		uint64_t room = cmd->in_cap > off ? cmd->in_cap - off : 0;
		uint32_t cap = room < bl ? (uint32_t)room : bl;
		uint32_t rlen = 0;
		enum tape_obj kind;
		int rc = tape_read(d->tape, cap ? cmd->in + off : NULL, cap, &rlen, &kind);

		if (rc) {
			set_in_len(cmd, off);
			medium_error(d, cmd, rc, false, true, count - i);
			return rc;
		}
		if (kind == TAPE_FILEMARK) {
			set_in_len(cmd, off);
			sense_set_info(cmd, SK_NO_SENSE, ASC_FILEMARK_DETECTED, SENSE_FILEMARK,
				       count - i);
			return 0;
		}
		if (kind == TAPE_EOD) {
			set_in_len(cmd, off);
			sense_set_info(cmd, SK_BLANK_CHECK, ASC_END_OF_DATA_DETECTED, 0, count - i);
			return 0;
		}
		if (ssc_lbp_read_len(d)) {
			/* LBP_R: the block length includes the protection
			 * information appended to the record's data. */
			if (cap)
				ssc_lbp_append(d, cmd->in + off, rlen, cap);
			rlen += SSC_LBP_LEN;
		}
		if (rlen != bl) {
			/* SSC-4 7.9: an incorrect-length block in fixed mode
			 * ends the command after that block; its data (up to
			 * the block length) is transferred and INFORMATION is
			 * the count minus the blocks read correctly. */
			set_in_len(cmd, off + (rlen < bl ? rlen : bl));
			sense_set_info(cmd, SK_NO_SENSE, ASC_NO_ADDITIONAL_SENSE, SENSE_ILI,
				       count - i);
			return 0;
		}
		off += bl;
	}
	set_in_len(cmd, off);
	return 0;
}

static void ssc_read(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	struct ssc_drive *d = ssc_drv(dev);
	bool fixed = cmd->cdb[1] & 0x01;
	bool sili = cmd->cdb[1] & 0x02;
	uint32_t len = xfer_len(cmd);

	if (fixed && sili) {
		/* SSC-4 7.9: SILI with FIXED is an invalid combination. */
		sense_invalid_cdb(cmd, 1, 1);
		return;
	}
	if (fixed && d->block_len <= ssc_lbp_read_len(d)) {
		/* No fixed block size, or one that cannot hold the
		 * protection information LBP_R appends. */
		sense_invalid_cdb(cmd, 1, 0);
		return;
	}
	if (len == 0)
		return; /* SSC-4 7.9: not an error, no motion */
	if (!ssc_crypto_prepare(dev, cmd))
		return;
	if (is_cdb16(cmd) && !locate_cdb16(d, cmd, len))
		return;
	int rc = fixed ? read_fixed(d, cmd, len) : read_variable(d, cmd, len, sili);
	/* A host that reads is likely to read on: have the next block read
	 * ahead while this one travels (tape_prefetch_arm). */
	if (rc == 0 && d->worker_kick) {
		if (d->ra_pause)
			d->ra_pause--;
		else if (tape_prefetch_arm(d->tape))
			d->worker_kick(d->worker_arg);
	}
}

/* ---- WRITE(6) (SSC-4 7.11) and WRITE(16) (SSC-4 6.8) ---- */

static void ssc_write(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	struct ssc_drive *d = ssc_drv(dev);
	bool fixed = cmd->cdb[1] & 0x01;
	uint32_t len = xfer_len(cmd);
	uint32_t bl = fixed ? d->block_len : len;
	uint32_t count = fixed ? len : 1;
	/* With LBP_W each block ends with its protection information, which
	 * is checked and not written (ssc_lbp.c). */
	uint32_t pi = ssc_lbp_write_len(d);

	if (fixed && d->block_len == 0) {
		sense_invalid_cdb(cmd, 1, 0);
		return;
	}
	if (!fixed && len > TAPE_MAX_BLOCK + pi) {
		/* Larger than READ BLOCK LIMITS reports. */
		sense_invalid_cdb(cmd, len_byte(cmd), 7);
		return;
	}
	if (len == 0)
		return;
	if (pi && bl <= pi) {
		/* A block too short to hold its protection information. */
		if (fixed)
			sense_invalid_cdb(cmd, 1, 0);
		else
			sense_invalid_cdb(cmd, len_byte(cmd), 7);
		return;
	}
	if ((uint64_t)count * bl > cmd->out_len) {
		/* The transport delivered less than the CDB describes. */
		sense_invalid_cdb(cmd, len_byte(cmd), 7);
		return;
	}
	if (write_protected(d, cmd))
		return;
	if (!ssc_crypto_prepare(dev, cmd))
		return;
	if (is_cdb16(cmd) && !locate_cdb16(d, cmd, fixed ? count : len))
		return;
	if (worm_refused(d, cmd, false) || ssc_append_refused(d, cmd))
		return;
	for (uint32_t i = 0; i < count; i++) {
		const uint8_t *block = cmd->out + (size_t)i * bl;
		if (pi && !ssc_lbp_check(d, block, bl)) {
			/* SSC-4 "Logical block protection": the block and
			 * those after it are not written; ABORTED COMMAND,
			 * LOGICAL BLOCK GUARD CHECK FAILED (10h/01h), as SBC-3
			 * reports a bad guard on WRITE. */
			sense_set_info(cmd, SK_ABORTED_COMMAND,
				       ASC_LOGICAL_BLOCK_GUARD_CHECK_FAILED, 0,
				       fixed ? (int64_t)(count - i) : (int64_t)len);
			return;
		}
		/* In buffered mode the last block may be written behind
		 * the command (tape_write_buffered; a cartridge stored
		 * clear is written now either way). */
		bool behind = d->buffered_mode != 0 && i + 1 == count;
		uint64_t before = tape_pos(d->tape);
		int rc;
		if (behind && count == 1 && cmd->out_size) {
			/* A lent buffer (scsi.h) may be kept for the block
			 * rather than copied (tape_write_buffered_lent). */
			uint8_t *lent = (uint8_t *)cmd->out;
			size_t lent_size = cmd->out_size;

			rc = tape_write_buffered_lent(d->tape, &lent, &lent_size, bl - pi);
			cmd->out = lent;
			cmd->out_size = lent_size;
		} else if (behind) {
			rc = tape_write_buffered(d->tape, block, bl - pi);
		} else {
			rc = tape_write(d->tape, block, bl - pi);
		}
		if (rc == 0 && behind && tape_write_held(d->tape) && !d->wb_err) {
			/* Not while another nexus's error waits for it: that
			 * one stays its own. */
			d->wb_nexus = cmd->nexus;
			d->wb_fixed = fixed;
		}
		/* INFORMATION = bytes (variable) or blocks (fixed) not
		 * written: this block and the rest, and the blocks of
		 * earlier WRITEs held with it (tape_write_held) when writing
		 * them failed: taken here, so that they are not reported
		 * again as a deferred error. The position went back to the
		 * first of those. */
		int64_t residue = fixed ? (int64_t)(count - i) : (int64_t)len;
		if (rc) {
			uint64_t lost, lost_bytes, now = tape_pos(d->tape);
			uint64_t earlier = before > now ? before - now : 0;

			(void)tape_write_behind_lost(d->tape, true, &lost, &lost_bytes);
			if (lost > earlier)
				lost_bytes -= bl - pi; /* this block was among them */
			residue += fixed ? (int64_t)earlier : (int64_t)lost_bytes;
		}
		if (rc == -ENOSPC) {
			/* Physical end: nothing more was written. */
			volume_overflow(cmd, residue);
			return;
		}
		if (rc) {
			medium_error(d, cmd, rc, true, true, residue);
			return;
		}
	}
	/* SSC-4 8.3.1: in unbuffered mode GOOD means on the medium. */
	if (d->buffered_mode == 0 && flush(d, cmd))
		return;
	report_ew(d, cmd);
	if (d->worker_kick && tape_write_pending(d->tape))
		d->worker_kick(d->worker_arg);
}

/* ---- WRITE FILEMARKS(6) (SSC-4 7.12) and (16) (SSC-4 6.9) ---- */

static void ssc_write_filemarks(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	struct ssc_drive *d = ssc_drv(dev);
	bool immed = cmd->cdb[1] & 0x01;
	uint32_t count = xfer_len(cmd);

	if (immed && d->buffered_mode == 0) {
		/* IMMED is only meaningful in buffered mode. */
		sense_invalid_cdb(cmd, 1, 0);
		return;
	}
	if (count > 0) {
		if (write_protected(d, cmd))
			return;
		if (is_cdb16(cmd) && !locate_cdb16(d, cmd, count))
			return;
		if (worm_refused(d, cmd, false) || ssc_append_refused(d, cmd))
			return;
		int rc = tape_write_filemarks(d->tape, count);
		if (rc == -ENOSPC) {
			volume_overflow(cmd, count);
			return;
		}
		if (rc) {
			medium_error(d, cmd, rc, true, true, count);
			return;
		}
	}
	/* IMMED=0: GOOD only once all buffered data and the filemarks are on
	 * the medium; a count of zero is the way hosts ask for just that. */
	if (!immed && flush(d, cmd))
		return;
	if (count > 0)
		report_ew(d, cmd);
}

/* ---- SPACE(6)/(16) (SSC-4, "SPACE(6) command", "SPACE(16) command") ---- */

static void space_result(struct scsi_cmd *cmd, int64_t count, int64_t done, enum tape_obj stop)
{
	int64_t want = count < 0 ? -count : count;
	int64_t residue = want - done; /* magnitude, as st.c expects */

	switch (stop) {
	case TAPE_FILEMARK:
		sense_set_info(cmd, SK_NO_SENSE, ASC_FILEMARK_DETECTED, SENSE_FILEMARK, residue);
		break;
	case TAPE_EOD:
		sense_set_info(cmd, SK_BLANK_CHECK, ASC_END_OF_DATA_DETECTED, 0, residue);
		break;
	case TAPE_BOT:
		sense_set_info(cmd, SK_NO_SENSE, ASC_BEGINNING_OF_PARTITION_MEDIUM_DETECTED,
			       SENSE_EOM, residue);
		break;
	default:
		break;
	}
}

static void do_space(struct ssc_drive *d, struct scsi_cmd *cmd, uint8_t code, int64_t count)
{
	int64_t done = 0;
	enum tape_obj stop = TAPE_BLOCK;
	int rc;

	if (code != 0 && code != 1 && code != 3) {
		/* Sequential filemarks and setmarks are not supported. */
		sense_invalid_cdb(cmd, 1, 3);
		return;
	}
	/* Motion empties the object buffer first (SSC-4 4.2.9). */
	if (flush(d, cmd))
		return;
	switch (code) {
	case 0: /* logical blocks */
		if (count == 0)
			return;
		rc = tape_space_blocks(d->tape, count, &done, &stop);
		break;
	case 1: /* filemarks */
		if (count == 0)
			return;
		rc = tape_space_filemarks(d->tape, count, &done, &stop);
		break;
	default: /* 3: end-of-data; COUNT is ignored */
		rc = tape_seek_eod(d->tape);
		break;
	}
	if (rc) {
		medium_error(d, cmd, rc, false, true, (count < 0 ? -count : count) - done);
		return;
	}
	space_result(cmd, count, done, stop);
}

static void ssc_space6(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	do_space(ssc_drv(dev), cmd, cmd->cdb[1] & 0x0f, cdb_count24(cmd->cdb));
}

static void ssc_space16(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	do_space(ssc_drv(dev), cmd, cmd->cdb[1] & 0x0f, (int64_t)get_be64(cmd->cdb + 4));
}

/* ---- REWIND (SSC-4 7.10) ---- */

static void ssc_rewind(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	struct ssc_drive *d = ssc_drv(dev);

	/* Buffered data is written before the medium moves. */
	if (flush(d, cmd))
		return;
	int rc = tape_rewind(d->tape);
	if (rc)
		medium_error(d, cmd, rc, false, false, 0);
}

/* ---- LOCATE(10)/(16) (SSC-4 7.4; SSC-4, "LOCATE(16) command") ---- */

static void locate_object(struct ssc_drive *d, struct scsi_cmd *cmd, uint64_t obj)
{
	if (flush(d, cmd))
		return;
	int rc = tape_locate(d->tape, obj);
	if (rc == -ENODATA) {
		/* SSC-4 7.4: EOD before the object: BLANK CHECK, END-OF-DATA
		 * DETECTED, positioned at EOD. */
		sense_set(cmd, SK_BLANK_CHECK, ASC_END_OF_DATA_DETECTED);
		return;
	}
	if (rc)
		medium_error(d, cmd, rc, false, false, 0);
}

static void ssc_locate10(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	/* BT=1 asks for a vendor-specific block address; ours is the
	 * logical object number either way. CP=1 (change partition) is not
	 * in the usage mask: one partition only. */
	locate_object(ssc_drv(dev), cmd, get_be32(cmd->cdb + 3));
}

static void ssc_locate16(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	struct ssc_drive *d = ssc_drv(dev);
	uint8_t dest = (cmd->cdb[1] >> 3) & 0x07;
	uint64_t id = get_be64(cmd->cdb + 4);

	switch (dest) {
	case 0: /* logical object identifier */
		locate_object(d, cmd, id);
		return;
	case 1: { /* logical file identifier: first object of file `id` */
		if (flush(d, cmd))
			return;
		int64_t done = 0;
		enum tape_obj stop = TAPE_BLOCK;
		int rc = tape_rewind(d->tape);
		if (!rc && id > 0)
			rc = tape_space_filemarks(d->tape, (int64_t)id, &done, &stop);
		if (rc) {
			medium_error(d, cmd, rc, false, false, 0);
			return;
		}
		if (stop == TAPE_EOD)
			sense_set(cmd, SK_BLANK_CHECK, ASC_END_OF_DATA_DETECTED);
		return;
	}
	case 3: /* end of data */
		if (flush(d, cmd))
			return;
		if (tape_seek_eod(d->tape))
			medium_error(d, cmd, -EIO, false, false, 0);
		return;
	default:
		sense_invalid_cdb(cmd, 1, 5);
		return;
	}
}

/* ---- READ POSITION (SSC-4 7.7) ---- */

enum {
	RP_SHORT = 0x00,
	RP_SHORT_VENDOR = 0x01,
	RP_LONG = 0x06,
	RP_EXTENDED = 0x08,
};

static void ssc_read_position(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	struct ssc_drive *d = ssc_drv(dev);
	uint8_t sa = cmd->cdb[1] & 0x1f;
	uint16_t alloc = get_be16(cmd->cdb + 7);
	uint64_t pos = tape_pos(d->tape);
	bool bop = pos == 0;
	/* EOP: between early warning and the end of the partition; BPEW: in
	 * the programmable early warning zone or beyond early warning
	 * (SSC-4 7.7, READ POSITION data). */
	uint8_t eop = beyond_ew(d->tape) ? 0x40 : 0;
	bool bpew = beyond_pew(d);
	uint8_t buf[32] = {0};
	uint32_t len;

	switch (sa) {
	case RP_SHORT:
	case RP_SHORT_VENDOR:
		/* Table "READ POSITION data format, short form": BOP(7)
		 * EOP(6) LOCU(5) BYCU(4) LOLU(2) PERR(1) BPEW(0). The object
		 * buffer is empty (tape.c writes through), so first and last
		 * locations are both the position. */
		buf[0] = (uint8_t)((bop ? 0x80 : 0) | eop | (bpew ? 0x01 : 0));
		if (pos > UINT32_MAX) {
			buf[0] |= 0x04; /* LOLU: does not fit */
		} else {
			put_be32(buf + 4, (uint32_t)pos);
			put_be32(buf + 8, (uint32_t)pos);
		}
		len = 20;
		break;
	case RP_LONG:
		/* Long form: BOP(7) EOP(6) MPU(3) LONU(2) BPEW(0); partition,
		 * logical object number, logical file identifier. */
		buf[0] = (uint8_t)((bop ? 0x80 : 0) | eop | (bpew ? 0x01 : 0));
		put_be64(buf + 8, pos);
		put_be64(buf + 16, tape_file(d->tape));
		len = 32;
		break;
	case RP_EXTENDED:
		buf[0] = (uint8_t)((bop ? 0x80 : 0) | eop | (bpew ? 0x01 : 0));
		put_be16(buf + 2, 0x1c);
		put_be64(buf + 8, pos);
		put_be64(buf + 16, pos);
		len = 32;
		spc_respond(cmd, buf, len, alloc);
		return;
	default:
		sense_invalid_cdb(cmd, 1, 4);
		return;
	}
	/* The short and long forms have a fixed length; an allocation length
	 * of zero (what Linux st sends) means the whole of it. */
	spc_respond(cmd, buf, len, alloc ? alloc : len);
}

/* ---- ERASE(6)/(16) (SSC-4, "ERASE(6) command", "ERASE(16) command") ---- */

static void do_erase(struct ssc_drive *d, struct scsi_cmd *cmd)
{
	if (write_protected(d, cmd) || worm_refused(d, cmd, true) || ssc_append_refused(d, cmd))
		return;
	/* Short and long erase both leave EOD at the position: the rest of
	 * the partition is unreachable either way (SSC-4 4.2.7). */
	int rc = tape_erase(d->tape);
	if (rc == -ENOSPC)
		volume_overflow(cmd, 0);
	else if (rc)
		medium_error(d, cmd, rc, true, false, 0);
}

static void ssc_erase6(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	do_erase(ssc_drv(dev), cmd);
}

static void ssc_erase16(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	struct ssc_drive *d = ssc_drv(dev);

	if (cmd->cdb[3] != 0) {
		sense_invalid_cdb(cmd, 3, -1); /* one partition */
		return;
	}
	/* ERASE(16) first positions at the logical object identifier. */
	if (write_protected(d, cmd))
		return;
	locate_object(d, cmd, get_be64(cmd->cdb + 4));
	if (cmd->status != SAM_STAT_GOOD)
		return;
	do_erase(d, cmd);
}

/* ---- VERIFY(6) (SSC-4 7.13) and VERIFY(16) (SSC-4 6.7) ---- */

static void ssc_verify(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	struct ssc_drive *d = ssc_drv(dev);
	bool fixed = cmd->cdb[1] & 0x01;
	bool bytcmp = cmd->cdb[1] & 0x02;
	uint32_t len = xfer_len(cmd);
	uint32_t count = fixed ? len : 1;
	uint32_t bl = fixed ? d->block_len : len;
	uint8_t *scratch = NULL;

	if (fixed && d->block_len == 0) {
		sense_invalid_cdb(cmd, 1, 0);
		return;
	}
	if (len == 0)
		return;
	if (bytcmp) {
		if ((uint64_t)count * bl > cmd->out_len) {
			sense_invalid_cdb(cmd, len_byte(cmd), 7);
			return;
		}
		if (bl > TAPE_MAX_BLOCK) {
			sense_invalid_cdb(cmd, len_byte(cmd), 7);
			return;
		}
	}
	if (!ssc_crypto_prepare(dev, cmd))
		return;
	if (is_cdb16(cmd) && !locate_cdb16(d, cmd, count))
		return;
	if (bytcmp) {
		scratch = malloc(bl ? bl : 1);
		if (!scratch) {
			sense_set(cmd, SK_HARDWARE_ERROR, ASC_SYSTEM_RESOURCE_FAILURE);
			return;
		}
	}
	for (uint32_t i = 0; i < count; i++) {
		uint32_t rlen = 0;
		enum tape_obj kind;
		int64_t residue = fixed ? (int64_t)(count - i) : (int64_t)len;
		/* Without BYTCMP only the CRC is checked: no data moves. */
		int rc = tape_read(d->tape, scratch, scratch ? bl : 0, &rlen, &kind);

		if (rc) {
			medium_error(d, cmd, rc, false, true, residue);
			break;
		}
		if (kind == TAPE_FILEMARK) {
			sense_set_info(cmd, SK_NO_SENSE, ASC_FILEMARK_DETECTED, SENSE_FILEMARK,
				       residue);
			break;
		}
		if (kind == TAPE_EOD) {
			sense_set_info(cmd, SK_BLANK_CHECK, ASC_END_OF_DATA_DETECTED, 0, residue);
			break;
		}
		if (rlen != bl) {
			sense_set_info(cmd, SK_NO_SENSE, ASC_NO_ADDITIONAL_SENSE, SENSE_ILI,
				       fixed ? residue : (int64_t)len - (int64_t)rlen);
			break;
		}
		if (scratch && memcmp(scratch, cmd->out + (size_t)i * bl, bl) != 0) {
			sense_set_info(cmd, SK_MISCOMPARE, ASC_MISCOMPARE_DURING_VERIFY, 0,
				       residue);
			break;
		}
	}
	free(scratch);
}

/* ---- LOAD UNLOAD (SSC-4 7.2) ---- */

/* Thread the cartridge: BOP, one more load in the MAM load count (a
 * failure to persist the count is not worth refusing the load), the
 * drive's compression setting. */
static void load_medium(struct ssc_drive *d)
{
	tape_rewind(d->tape);
	(void)tape_count_load(d->tape);
	tape_set_compression(d->tape, d->compression ? TAPE_COMP_LZ4 : TAPE_COMP_NONE);
	ssc_crypto_loaded(d);
	d->pew_reported = false;
	d->ra_starved = 0;
	d->ra_pause = 0;
	d->state = SSC_LOADED;
	ssc_stats_loaded(d);
}

static void ssc_load_unload(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	struct ssc_drive *d = ssc_drv(dev);
	uint8_t b4 = cmd->cdb[4];
	bool load = b4 & 0x01;
	bool eot = b4 & 0x04;
	bool hold = b4 & 0x08;

	if (d->state == SSC_EMPTY) {
		sense_set(cmd, SK_NOT_READY, ASC_MEDIUM_NOT_PRESENT);
		return;
	}
	if (load && eot) {
		/* SSC-4 7.2: EOT with LOAD is invalid. */
		sense_invalid_cdb(cmd, 4, 2);
		return;
	}
	if (load && ssc_cleaning_refused(d, cmd))
		return;
	if (load) {
		if (hold || d->state == SSC_LOADED) {
			/* HOLD: keep the cartridge where it is (MAM only);
			 * already loaded: LOAD positions at BOP. */
			if (d->state == SSC_LOADED) {
				if (flush(d, cmd))
					return;
				tape_rewind(d->tape);
			}
			return;
		}
		load_medium(d);
		spc_ua_raise_others(dev, cmd->nexus, ASC_NOT_READY_TO_READY_CHANGE);
		return;
	}
	/* Unload (RETEN and EOT only change how the tape travels). */
	if (dev->prevent_removal) {
		/* SSC-4 7.2 / SPC-4 6.13: removal is prevented. */
		ssc_tapealert_set(d, TA_NO_REMOVAL);
		sense_set(cmd, SK_ILLEGAL_REQUEST, ASC_MEDIUM_REMOVAL_PREVENTED);
		return;
	}
	if (d->state == SSC_LOADED) {
		if (flush(d, cmd))
			return;
		tape_rewind(d->tape);
		ssc_crypto_demount(dev, cmd->nexus);
	}
	d->state = SSC_UNLOADED;
	d->host_unloaded = true;
}

/* ---- the device type ---- */

static uint16_t ssc_not_ready(struct scsi_dev *dev)
{
	struct ssc_drive *d = ssc_drv(dev);

	if (d->cleaning) {
		/* TapeAlert 0Bh again: "cannot back up or restore to a
		 * cleaning cartridge" (ssc_clean.c). */
		ssc_tapealert_set(d, TA_CLEANING_MEDIA);
		return ASC_CLEANING_CARTRIDGE_INSTALLED;
	}
	switch (d->state) {
	case SSC_LOADED:
		return 0;
	case SSC_UNLOADED:
		/* A cartridge is in the drive but not threaded: a LOAD is
		 * needed (SSC-4 7.2). */
		return ASC_LUN_NOT_READY_INIT_REQUIRED;
	default:
		return ASC_MEDIUM_NOT_PRESENT;
	}
}

#define MEDIA_IN (OPF_MEDIUM | OPF_DATA_IN)
#define RP(sa)                                                                                     \
	{                                                                                          \
		READ_POSITION, sa, 10, OPF_SA | MEDIA_IN | OPF_PR_READ,                            \
		    {READ_POSITION, 0x1f, 0, 0, 0, 0, 0, 0xff, 0xff, CTL}, ssc_read_position,      \
		    "READ POSITION"                                                                \
	}
#define RATTR(sa)                                                                                  \
	{                                                                                          \
		READ_ATTRIBUTE, sa, 16, OPF_SA | OPF_DATA_IN,                                      \
		    {READ_ATTRIBUTE, 0x1f, 0,	 0,    0,    0xff, 0,	 0xff,                     \
		     0xff,	     0xff, 0xff, 0xff, 0xff, 0xff, 0x01, CTL},                     \
		    ssc_read_attribute, "READ ATTRIBUTE"                                           \
	}

static const struct scsi_op ssc_ops[] = {
    /* Own row: a drive is NOT READY without a cartridge (OPF_MEDIUM). */
    {TEST_UNIT_READY,
     0,
     6,
     OPF_MEDIUM | OPF_CONFLICT_OK,
     {TEST_UNIT_READY, 0, 0, 0, 0, CTL},
     spc_test_unit_ready,
     "TEST UNIT READY"},
    {REWIND, 0, 6, OPF_MEDIUM, {REWIND, 0x01, 0, 0, 0, CTL}, ssc_rewind, "REWIND"},
    SPC_OP_REQUEST_SENSE,
    {READ_BLOCK_LIMITS,
     0,
     6,
     OPF_DATA_IN,
     {READ_BLOCK_LIMITS, 0x01, 0, 0, 0, CTL},
     ssc_read_block_limits,
     "READ BLOCK LIMITS"},
    {READ_6,
     0,
     6,
     MEDIA_IN | OPF_PR_READ,
     {READ_6, 0x03, 0xff, 0xff, 0xff, CTL},
     ssc_read,
     "READ(6)"},
    {WRITE_6,
     0,
     6,
     OPF_MEDIUM | OPF_DATA_OUT,
     {WRITE_6, 0x01, 0xff, 0xff, 0xff, CTL},
     ssc_write,
     "WRITE(6)"},
    {WRITE_FILEMARKS_6,
     0,
     6,
     OPF_MEDIUM,
     {WRITE_FILEMARKS_6, 0x01, 0xff, 0xff, 0xff, CTL},
     ssc_write_filemarks,
     "WRITE FILEMARKS(6)"},
    {SPACE_6,
     0,
     6,
     OPF_MEDIUM | OPF_PR_READ,
     {SPACE_6, 0x0f, 0xff, 0xff, 0xff, CTL},
     ssc_space6,
     "SPACE(6)"},
    SPC_OP_INQUIRY,
    {VERIFY_6,
     0,
     6,
     OPF_MEDIUM | OPF_DATA_OUT | OPF_PR_READ,
     {VERIFY_6, 0x07, 0xff, 0xff, 0xff, CTL},
     ssc_verify,
     "VERIFY(6)"},
    SPC_OP_MODE_SELECT_6,
    SPC_OP_RESERVE_6,
    SPC_OP_RELEASE_6,
    {ERASE_6, 0, 6, OPF_MEDIUM, {ERASE_6, 0x03, 0, 0, 0, CTL}, ssc_erase6, "ERASE(6)"},
    SPC_OP_MODE_SENSE_6,
    {LOAD_UNLOAD, 0, 6, 0, {LOAD_UNLOAD, 0x01, 0, 0, 0x0f, CTL}, ssc_load_unload, "LOAD UNLOAD"},
    /* Own row: only SELFTEST, DEVOFFL, UNITOFFL; the changer's mask has more. */
    {SEND_DIAGNOSTIC,
     0,
     6,
     0,
     {SEND_DIAGNOSTIC, 0x07, 0, 0, 0, CTL},
     spc_send_diagnostic,
     "SEND DIAGNOSTIC"},
    SPC_OP_PREVENT_ALLOW,
    {LOCATE_10,
     0,
     10,
     OPF_MEDIUM | OPF_PR_READ,
     {LOCATE_10, 0x05, 0, 0xff, 0xff, 0xff, 0xff, 0, 0xff, CTL},
     ssc_locate10,
     "LOCATE(10)"},
    RP(RP_SHORT),
    RP(RP_SHORT_VENDOR),
    RP(RP_LONG),
    RP(RP_EXTENDED),
    /* SPC-4 6.39 / 6.15: MODE, BUFFER ID, BUFFER OFFSET, length
     * (ssc_buffer.c). */
    {WRITE_BUFFER,
     0,
     10,
     OPF_DATA_OUT,
     {WRITE_BUFFER, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, CTL},
     ssc_write_buffer,
     "WRITE BUFFER"},
    {READ_BUFFER,
     0,
     10,
     OPF_DATA_IN,
     {READ_BUFFER, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, CTL},
     ssc_read_buffer,
     "READ BUFFER"},
    {REPORT_DENSITY_SUPPORT,
     0,
     10,
     OPF_DATA_IN,
     {REPORT_DENSITY_SUPPORT, 0x03, 0, 0, 0, 0, 0, 0xff, 0xff, CTL},
     ssc_report_density_support,
     "REPORT DENSITY SUPPORT"},
    RATTR(0x00),
    RATTR(0x01),
    RATTR(0x02),
    RATTR(0x03),
    RATTR(0x05),
    {WRITE_ATTRIBUTE,
     0,
     16,
     OPF_DATA_OUT,
     {WRITE_ATTRIBUTE, 0x01, 0, 0, 0, 0xff, 0, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, CTL},
     ssc_write_attribute,
     "WRITE ATTRIBUTE"},
    /* The 16-byte forms: byte 1 as the 6-byte form, PARTITION (byte 3),
     * LOGICAL OBJECT IDENTIFIER (4-11), length or count (12-14). FCS and
     * LCS of WRITE(16)/WRITE FILEMARKS(16) (SSC-3) are not supported. */
    {WRITE_FILEMARKS_16,
     0,
     16,
     OPF_MEDIUM,
     {WRITE_FILEMARKS_16, 0x01, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
      0xff, CTL},
     ssc_write_filemarks,
     "WRITE FILEMARKS(16)"},
    /* SSC-4 7.1: ALLOW OVERWRITE (byte 2), PARTITION (3), LOGICAL
     * OBJECT IDENTIFIER (4-11); append-only mode (ssc_lbp.c). */
    {ALLOW_OVERWRITE,
     0,
     16,
     OPF_MEDIUM,
     {ALLOW_OVERWRITE, 0, 0x0f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, CTL},
     ssc_allow_overwrite,
     "ALLOW OVERWRITE"},
    {READ_16,
     0,
     16,
     MEDIA_IN | OPF_PR_READ,
     {READ_16, 0x03, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
      CTL},
     ssc_read,
     "READ(16)"},
    {WRITE_16,
     0,
     16,
     OPF_MEDIUM | OPF_DATA_OUT,
     {WRITE_16, 0x01, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
      CTL},
     ssc_write,
     "WRITE(16)"},
    {VERIFY_16,
     0,
     16,
     OPF_MEDIUM | OPF_DATA_OUT | OPF_PR_READ,
     {VERIFY_16, 0x07, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
      CTL},
     ssc_verify,
     "VERIFY(16)"},
    {SPACE_16,
     0,
     16,
     OPF_MEDIUM | OPF_PR_READ,
     {SPACE_16, 0x0f, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, CTL},
     ssc_space16,
     "SPACE(16)"},
    {LOCATE_16,
     0,
     16,
     OPF_MEDIUM | OPF_PR_READ,
     {LOCATE_16, 0x39, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, CTL},
     ssc_locate16,
     "LOCATE(16)"},
    {ERASE_16,
     0,
     16,
     OPF_MEDIUM,
     {ERASE_16, 0x03, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, CTL},
     ssc_erase16,
     "ERASE(16)"},
    /* SPC-4 6.30 / 6.31: INC_512 (byte 4 bit 7) is not supported. */
    {SECURITY_PROTOCOL_IN,
     0,
     12,
     OPF_DATA_IN,
     {SECURITY_PROTOCOL_IN, 0xff, 0xff, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, CTL},
     ssc_security_protocol_in,
     "SECURITY PROTOCOL IN"},
    SPC_OPS_SHARED,
    {SERVICE_ACTION_IN_12,
     SAI12_READ_MEDIA_SERIAL_NUMBER,
     12,
     OPF_SA | MEDIA_IN,
     {SERVICE_ACTION_IN_12, 0x1f, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, CTL},
     ssc_read_media_serial,
     "READ MEDIA SERIAL NUMBER"},
    {SECURITY_PROTOCOL_OUT,
     0,
     12,
     OPF_DATA_OUT,
     {SECURITY_PROTOCOL_OUT, 0xff, 0xff, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, CTL},
     ssc_security_protocol_out,
     "SECURITY PROTOCOL OUT"},
};

/*
 * The device type. Its page tables include spc.c's generic mode pages,
 * which are objects rather than constant expressions, so the type is
 * completed once at run time (ssc_pages_init) and read-only afterwards.
 */
static struct scsi_dev_type ssc_type = {
    .peripheral_type = SCSI_TYPE_TAPE,
    .ops = ssc_ops,
    .n_ops = sizeof(ssc_ops) / sizeof(ssc_ops[0]),
    .not_ready = ssc_not_ready,
    .before = ssc_before,
    .wait = ssc_wait,
    .tapealert_test = ssc_tapealert_test,
    .ie_flags = ssc_ie_flags,
    .mode_dev_specific = ssc_mode_dev_specific,
    .mode_medium_type = ssc_mode_medium_type,
    .mode_block_desc = ssc_mode_block_desc,
    .mode_select_header = ssc_mode_select_header,
    .lun_reset = ssc_crypto_lun_reset,
    .nexus_gone = ssc_crypto_nexus_gone,
};
static pthread_once_t ssc_type_once = PTHREAD_ONCE_INIT;

static void ssc_type_init(void)
{
	ssc_pages_init(&ssc_type);
}

/* ---- public API ---- */

int ssc_drive_init(struct scsi_dev *dev, const struct ssc_config *cfg)
{
	if (!tape_media_density(cfg->generation))
		return -EINVAL;
	struct ssc_drive *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	pthread_once(&ssc_type_once, ssc_type_init);
	int rc = spc_dev_init(dev, &ssc_type);
	if (rc) {
		free(d);
		return rc;
	}
	rc = ssc_crypto_init(d);
	if (rc) {
		spc_dev_destroy(dev);
		free(d);
		return rc;
	}
	rc = -pthread_cond_init(&d->pf_done, NULL);
	if (rc) {
		spc_dev_destroy(dev);
		free(d);
		return rc;
	}
	d->cfg = *cfg;
	d->state = SSC_EMPTY;
	d->buffered_mode = 1; /* SSC-4 8.3.1: LTO drives default to buffered */
	d->compression = true;
	ssc_stats_init(d);
	dev->priv = d;
	ssc_set_identity(dev);
	return 0;
}

void ssc_drive_destroy(struct scsi_dev *dev)
{
	struct ssc_drive *d = ssc_drv(dev);

	if (d) {
		if (d->tape)
			tape_close(d->tape);
		ssc_crypto_destroy(d);
		ssc_buffers_free(d);
		tape_pf_job_free(d->pf_job);
		pthread_cond_destroy(&d->pf_done);
		free(d);
		dev->priv = NULL;
	}
	spc_dev_destroy(dev);
}

/*
 * Which generations an LTO drive takes (LTO program compatibility rules):
 * its own and the one before read-write; two back read-only up to LTO-7;
 * LTO-8 and LTO-9 drives read only one generation back.
 */
static int media_access(enum tape_media drive, enum tape_media medium, bool *read_only)
{
	int diff = (int)drive - (int)medium;

	*read_only = false;
	if (diff == 0 || diff == 1)
		return 0;
	if (diff == 2 && drive <= TAPE_LTO7) {
		*read_only = true;
		return 0;
	}
	return -EMEDIUMTYPE;
}

int ssc_takes(struct scsi_dev *dev, enum tape_media medium)
{
	struct ssc_drive *d = ssc_drv(dev);
	bool ro;
	pthread_mutex_lock(&dev->lock);
	int rc = media_access(d->cfg.generation, medium, &ro);
	/* TapeAlert 0Ch, as for a refused insert. */
	if (rc == -EMEDIUMTYPE)
		ssc_tapealert_set(d, TA_UNSUPPORTED_FORMAT);
	pthread_mutex_unlock(&dev->lock);
	return rc;
}

int ssc_insert(struct scsi_dev *dev, const char *dir)
{
	return ssc_insert_keyed(dev, dir, NULL);
}

int ssc_insert_keyed(struct scsi_dev *dev, const char *dir, const uint8_t *data_key)
{
	struct ssc_drive *d = ssc_drv(dev);
	struct tape *t;
	bool ro;

	pthread_mutex_lock(&dev->lock);
	int rc = -EBUSY;
	if (d->state != SSC_EMPTY)
		goto out;
	rc = tape_open(dir, &t);
	if (rc)
		goto out;
	rc = media_access(d->cfg.generation, tape_get_info(t)->media, &ro);
	if (rc == 0 && tape_get_info(t)->at_rest)
		rc = data_key ? tape_set_data_key(t, data_key) : -ENOKEY;
	else if (rc == 0 && data_key)
		rc = -EINVAL; /* the library believes it encrypted, and it is not */
	if (rc) {
		/* TapeAlert 0Ch: a load of a format this drive does not take. */
		if (rc == -EMEDIUMTYPE)
			ssc_tapealert_set(d, TA_UNSUPPORTED_FORMAT);
		tape_close(t);
		goto out;
	}
	d->tape = t;
	d->read_only = ro;
	if (ro)
		ssc_tapealert_set(d, TA_READ_ONLY_FORMAT);
	load_medium(d);
	/* SSC-4 / SPC-4 annex: every nexus learns the medium may have
	 * changed. */
	spc_ua_raise_all(dev, ASC_NOT_READY_TO_READY_CHANGE);
out:
	pthread_mutex_unlock(&dev->lock);
	return rc;
}

int ssc_remove(struct scsi_dev *dev, bool force)
{
	struct ssc_drive *d = ssc_drv(dev);
	int rc = 0;

	pthread_mutex_lock(&dev->lock);
	if (d->state == SSC_EMPTY) {
		rc = -ENOENT;
		goto out;
	}
	if (d->state == SSC_LOADED && !force) {
		rc = -EBUSY;
		goto out;
	}
	/* A block left behind is written now; if it (or an earlier one)
	 * failed and its writer has not been told, the cartridge stays:
	 * the error is the writer's to learn (SPC-4 4.5.5) or the
	 * operator's to discard (ssc_untold_error). */
	write_behind(d, false);
	if (d->wb_err) {
		rc = -EIO;
		goto out;
	}
	/* Everything acknowledged goes to stable storage before the
	 * cartridge leaves: if it cannot, the cartridge stays loaded, as it
	 * was, and the removal can be tried again. */
	rc = tape_flush(d->tape);
	if (rc)
		goto out;
	if (d->state == SSC_LOADED)
		ssc_crypto_demount(dev, 0);
	rc = tape_close(d->tape); /* flushed: nothing left to fail */
	d->tape = NULL;
	d->state = SSC_EMPTY;
	d->read_only = false;
	d->cleaning = false;
	dev->prevent_removal = false;
out:
	pthread_mutex_unlock(&dev->lock);
	return rc;
}

bool ssc_untold_error(struct scsi_dev *dev, bool discard, int *err, uint64_t *block,
		      uint64_t *count)
{
	struct ssc_drive *d = ssc_drv(dev);

	pthread_mutex_lock(&dev->lock);
	write_behind(d, false);
	bool untold = d->wb_err != 0;
	if (untold) {
		*err = d->wb_err;
		*block = d->wb_block;
		*count = d->wb_count ? d->wb_count : 1;
		if (discard)
			d->wb_err = 0;
	}
	pthread_mutex_unlock(&dev->lock);
	return untold;
}

int ssc_library_unload(struct scsi_dev *dev)
{
	struct ssc_drive *d = ssc_drv(dev);
	int rc = 0;

	pthread_mutex_lock(&dev->lock);
	if (d->state == SSC_LOADED) {
		write_behind(d, false);
		if (dev->prevent_removal) {
			ssc_tapealert_set(d, TA_NO_REMOVAL);
			rc = -EPERM;
		} else if (d->wb_err) {
			/* A block written behind that failed is its writer's
			 * to learn first (a deferred error). */
			rc = -EIO;
		} else if (tape_flush(d->tape) != 0) {
			rc = -EIO;
		} else {
			tape_rewind(d->tape);
			ssc_crypto_demount(dev, 0);
			d->state = SSC_UNLOADED;
			d->host_unloaded = false;
		}
	}
	pthread_mutex_unlock(&dev->lock);
	return rc;
}

void ssc_set_worker(struct scsi_dev *dev, void (*kick)(void *arg), void *arg)
{
	struct ssc_drive *d = ssc_drv(dev);

	pthread_mutex_lock(&dev->lock);
	d->worker_kick = kick;
	d->worker_arg = arg;
	pthread_mutex_unlock(&dev->lock);
}

/* The cartridge ssc_readahead works on, or NULL (dev->lock held). */
static struct tape *readahead_tape(struct ssc_drive *d)
{
	return d->state == SSC_LOADED ? d->tape : NULL;
}

unsigned ssc_readahead(struct scsi_dev *dev)
{
	struct ssc_drive *d = ssc_drv(dev);
	unsigned waiting;
	int more;

	/*
	 * A block at a time: its place, a duplicate of its segment's
	 * descriptor and a copy of the key taken under the lock
	 * (tape_prefetch_begin), then read, checked and opened without it
	 * (the AES-GCM pass, most of the work), so that a command never
	 * waits for that; then published under the lock unless a move, a
	 * write, a key change or an unload came between, in which case it is
	 * wiped (tape_prefetch_end). An error is left for the host's own READ
	 * of that block to meet and report with its sense.
	 */
	pthread_mutex_lock(&dev->lock);
	if (!d->pf_job)
		d->pf_job = tape_pf_job_new();
	do {
		struct tape *t = readahead_tape(d);

		if (!t) {
			more = 0;
		} else if (!d->pf_job) {
			more = tape_prefetch(t); /* no memory for a job: under the lock */
		} else {
			more = tape_prefetch_begin(t, d->pf_job);
			if (more == 1) {
				pthread_mutex_unlock(&dev->lock);
				tape_prefetch_open(d->pf_job);
				pthread_mutex_lock(&dev->lock);
				/* The tape may have been unloaded, another loaded. */
				more = tape_prefetch_end(readahead_tape(d), d->pf_job);
				pthread_cond_broadcast(&d->pf_done);
			}
		}
		if (more > 0) {
			/* A command that waited for the lock goes first. */
			pthread_mutex_unlock(&dev->lock);
			pthread_mutex_lock(&dev->lock);
		}
	} while (more > 0);
	waiting = readahead_tape(d) ? tape_prefetched(d->tape) : 0;
	pthread_mutex_unlock(&dev->lock);
	return waiting;
}

enum ssc_medium_state ssc_state(struct scsi_dev *dev)
{
	pthread_mutex_lock(&dev->lock);
	enum ssc_medium_state s = ssc_drv(dev)->state;
	pthread_mutex_unlock(&dev->lock);
	return s;
}

void ssc_barcode(struct scsi_dev *dev, char out[17])
{
	struct ssc_drive *d = ssc_drv(dev);

	pthread_mutex_lock(&dev->lock);
	out[0] = '\0';
	if (d->tape) {
		memcpy(out, tape_get_info(d->tape)->barcode, 16);
		out[16] = '\0';
	}
	pthread_mutex_unlock(&dev->lock);
}

bool ssc_used_bytes(struct scsi_dev *dev, const char *barcode, uint64_t *used)
{
	struct ssc_drive *d = ssc_drv(dev);
	bool ok = false;

	pthread_mutex_lock(&dev->lock);
	if (d->tape && strncmp(tape_get_info(d->tape)->barcode, barcode, 16) == 0) {
		*used = tape_used_bytes(d->tape);
		ok = true;
	}
	pthread_mutex_unlock(&dev->lock);
	return ok;
}
