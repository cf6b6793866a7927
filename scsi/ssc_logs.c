/*
 * ssc_logs.c - log pages LTO drives answer and tools read beyond the error
 * counters: non-medium errors (06h), DT device status (11h), device and
 * volume statistics (14h, 17h), power condition transitions (1Ah), data
 * compression (1Bh, 32h) and tape usage (30h).
 *
 * 0x14 Device statistics (SSC-4, "Device Statistics log page"; sg_logs -a
 * decodes it as "Device statistics page (ssc-3 and adc)"), the parameters
 * whose values the drive knows:
 *   0000h LIFETIME VOLUME LOADS, 0002h LIFETIME POWER ON HOURS,
 *   000Dh VOLUME LOADS SINCE LAST PARAMETER RESET (LOG SELECT resets it),
 * four bytes each. "Lifetime" is the drive object's life: vtld keeps no
 * drive history across restarts. Head hours, meters of tape, cleaning
 * and duty cycles have no meaning for an emulated drive and are left out
 * rather than reported as invented numbers.
 *
 * 0x17 Volume statistics (SSC-4, "Volume Statistics log page", subpage
 * 00h; sg_logs decodes it as "Volume statistics page (ssc-4)"), what vtld
 * knows of the cartridge in the drive:
 *   0000h PAGE VALID, 1 byte: 1 with a cartridge, else 0 and nothing more
 *   0001h VOLUME MOUNTS (sg_logs: "Thread count"), the cartridge's own
 *         load count, kept with it across drives and restarts (MAM 0003h)
 *   000Ch/000Dh LAST MOUNT UNRECOVERED WRITE / READ ERRORS, since the load
 *   000Eh/000Fh LAST MOUNT MEGABYTES WRITTEN / READ, to and from the
 *         medium (after compression), 10^6 bytes
 *   0012h/0013h LAST LOAD WRITE / READ COMPRESSION RATIO, x100
 *   0016h TOTAL NATIVE CAPACITY and 0017h TOTAL USED NATIVE CAPACITY,
 *         10^6 bytes
 *   0040h VOLUME SERIAL NUMBER and 0042h VOLUME BARCODE, ASCII, 32 bytes
 *   0080h WRITE PROTECT and 0081h WORM, 1 byte each
 * Lifetime byte counts, data sets, retries, servo errors, mount and
 * ready times, tape lot, manufacturer code and head passes are not kept
 * by vtld and are left out rather than invented; a host that reads them
 * finds the parameter absent, as SPC-4 7.3 allows.
 *
 * 0x32 Data compression (IBM LTO SCSI Reference, "Log Page 32h: Data
 * Compression"; HP LTO Ultrium technical reference, same layout), since
 * the cartridge was mounted:
 *   0000h READ COMPRESSION RATIO  x100, 2 bytes
 *   0001h WRITE COMPRESSION RATIO x100, 2 bytes
 *   0002h/0003h MiB / remaining bytes transferred to the host (READ)
 *   0004h/0005h MiB / remaining bytes read from the medium
 *   0006h/0007h MiB / remaining bytes transferred from the host (WRITE)
 *   0008h/0009h MiB / remaining bytes written to the medium
 * Each byte count is split into whole mebibytes and the bytes beyond
 * them. The values are the medium's own counters (tape_get_stats), so the
 * ratio is what the compression of tape_compress.c achieved, not a constant.
 *
 * 0x1B Data compression (SSC-4, "Data Compression log page"): the same
 * ten parameters, standardized, plus 0100h DATA COMPRESSION ENABLED, one
 * byte, the DCE bit of the data compression mode page. IBM's TD5 and
 * later answer both 1Bh and 32h (the TD6's sg_logs -a shows both).
 *
 * 0x06 Non-medium error (SPC-4, "Non-Medium Error log page"): 0000h
 * NON-MEDIUM ERROR COUNT, the recoverable error events other than read,
 * write and verify failures. vtld recovers nothing behind the host's
 * back (no retry, no reconnection inside the device server): every error
 * is reported to the host as it happens, so the count is 0 by
 * construction, as the corrected-error counters of pages 02h/03h are.
 *
 * 0x11 DT device status (SSC-4, "DT Device Status log page"): 0000h VERY
 * HIGH FREQUENCY DATA, four bytes of the drive's state, each bit from the
 * state vtld keeps (ssc_lp_dt_status). The polling delay, ADC encryption
 * control, key management error data and the Fibre Channel / SAS port
 * parameters describe an automation interface and ports the drive does
 * not have and are left out.
 *
 * 0x1A Power condition transitions (SPC-4, "Power Condition Transitions
 * log page"): the drive has no power condition mode page and never leaves
 * the active power condition, so every transition count is 0 by
 * construction. The parameters are those the TD6 reports, 0002h
 * (transitions to idle_a) and 0004h (idle_c), four bytes each.
 *
 * 0x16 Tape diagnostic data (SSC-4, "Tape Diagnostic Data log page"):
 * SSC_DIAG_ENTRIES parameters (twelve, as IBM's TD6 lists), one per
 * MEDIUM ERROR or HARDWARE ERROR the drive reported, 0000h the most
 * recent, the unused ones all zero; each 68 bytes (the layout as sg_logs
 * decodes it): density code and medium type of the
 * cartridge, sense key, ASC and ASCQ, the product revision level, hours
 * since the last cleaning (since the drive came up if it was not cleaned
 * since), the command's operation code and service action, the
 * cartridge's serial number as MEDIUM ID NUMBER and the device's
 * timestamp (REPORT TIMESTAMP's, with its origin). LIFETIME MEDIA MOTION
 * HOURS is 0 (an emulated drive moves no tape), the vendor specific code
 * qualifier 0 and REPEAT 0 (each error is its own entry). LOG SELECT
 * clears the entries; TDDEC in the DT device status page says a new one
 * was made since the page was last read.
 *
 * 0x30 Tape usage (LTO-5 and later, vendor specific; sg_logs decodes it
 * as "Tape usage (lto-5, 6)", the parameter lengths as it checks them):
 * 0001h THREAD COUNT, the cartridge's own load count (as 17h's VOLUME
 * MOUNTS), 4 bytes. Data sets, retries and suspended reads and writes of
 * the cartridge's life are not kept by vtld and are left out.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "be.h"
#include "sense.h"
#include "spc.h"
#include "ssc_priv.h"

static uint8_t *param(uint8_t *p, uint16_t code, uint8_t len)
{
	put_be16(p, code);
	p[2] = 0x00;
	p[3] = len;
	return p + 4;
}

static uint8_t *u8_param(uint8_t *p, uint16_t code, uint8_t v)
{
	p = param(p, code, 1);
	*p = v;
	return p + 1;
}

static uint8_t *u16_param(uint8_t *p, uint16_t code, uint16_t v)
{
	p = param(p, code, 2);
	put_be16(p, v);
	return p + 2;
}

static uint8_t *u32_param(uint8_t *p, uint16_t code, uint32_t v)
{
	p = param(p, code, 4);
	put_be32(p, v);
	return p + 4;
}

static uint32_t sat32(uint64_t v)
{
	return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

/* host / medium x 100, saturated to the 2-byte field; 100 (1:1) when
 * nothing moved yet. */
static uint16_t ratio(uint64_t host, uint64_t medium)
{
	if (host == 0 || medium == 0)
		return 100;
	uint64_t r = host * 100 / medium;
	return r > UINT16_MAX ? UINT16_MAX : (uint16_t)r;
}

static uint8_t *split(uint8_t *p, uint16_t code, uint64_t bytes)
{
	p = u32_param(p, code, sat32(bytes >> 20));
	return u32_param(p, (uint16_t)(code + 1), (uint32_t)(bytes & 0xfffff));
}

/* Pages 32h and 1Bh: the same counters; 1Bh adds DATA COMPRESSION
 * ENABLED. */
static uint32_t compression_page(struct scsi_dev *dev, uint8_t page, uint8_t *buf, uint32_t cap)
{
	struct ssc_drive *d = ssc_drv(dev);
	struct tape_stats st;
	uint8_t tmp[4 + 2 * 6 + 8 * 8 + 5];
	uint8_t *p = tmp + 4;

	memset(&st, 0, sizeof(st));
	if (d->tape)
		tape_get_stats(d->tape, &st);
	p = u16_param(p, 0x0000, ratio(st.bytes_read_host, st.bytes_read_stored));
	p = u16_param(p, 0x0001, ratio(st.bytes_written_host, st.bytes_written_stored));
	p = split(p, 0x0002, st.bytes_read_host);
	p = split(p, 0x0004, st.bytes_read_stored);
	p = split(p, 0x0006, st.bytes_written_host);
	p = split(p, 0x0008, st.bytes_written_stored);
	if (page == 0x1b)
		p = u8_param(p, 0x0100, d->compression ? 1 : 0);
	return ssc_log_finish(page, tmp, p, buf, cap);
}

uint32_t ssc_lp_compression(struct scsi_dev *dev, uint8_t *buf, uint32_t cap)
{
	return compression_page(dev, 0x32, buf, cap);
}

uint32_t ssc_lp_data_compression(struct scsi_dev *dev, uint8_t *buf, uint32_t cap)
{
	return compression_page(dev, 0x1b, buf, cap);
}

uint64_t ssc_now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

void ssc_stats_init(struct ssc_drive *d)
{
	d->started_s = ssc_now_s();
}

void ssc_stats_loaded(struct ssc_drive *d)
{
	ssc_clean_count_load(d);
	d->loads++;
	d->loads_since_reset++;
	d->mount_write_errors = 0;
	d->mount_read_errors = 0;
}

/* An ASCII parameter (FORMAT AND LINKING 01b), space padded to 32 bytes. */
#define VOLSTAT_ASCII_LEN 32

static uint8_t *ascii_param(uint8_t *p, uint16_t code, const char *s)
{
	p = param(p, code, VOLSTAT_ASCII_LEN);
	p[-2] = 0x01;
	spc_pad_ascii(p, s, VOLSTAT_ASCII_LEN);
	return p + VOLSTAT_ASCII_LEN;
}

static uint32_t mb(uint64_t bytes)
{
	return sat32(bytes / 1000000u);
}

uint32_t ssc_lp_volume_stats(struct scsi_dev *dev, uint8_t *buf, uint32_t cap)
{
	struct ssc_drive *d = ssc_drv(dev);
	uint8_t tmp[4 + 5 + 9 * 8 + 2 * 6 + 2 * (4 + VOLSTAT_ASCII_LEN) + 2 * 5];
	uint8_t *p = tmp + 4;

	/* Only a threaded data cartridge has volume statistics. */
	bool valid = d->tape && d->state == SSC_LOADED && !d->cleaning;
	p = u8_param(p, 0x0000, valid ? 1 : 0);
	if (valid) {
		const struct tape_info *info = tape_get_info(d->tape);
		struct tape_stats st;

		tape_get_stats(d->tape, &st);
		p = u32_param(p, 0x0001, sat32(info->load_count));
		p = u32_param(p, 0x000c, sat32(d->mount_write_errors));
		p = u32_param(p, 0x000d, sat32(d->mount_read_errors));
		p = u32_param(p, 0x000e, mb(st.bytes_written_stored));
		p = u32_param(p, 0x000f, mb(st.bytes_read_stored));
		p = u16_param(p, 0x0012, ratio(st.bytes_written_host, st.bytes_written_stored));
		p = u16_param(p, 0x0013, ratio(st.bytes_read_host, st.bytes_read_stored));
		p = u32_param(p, 0x0016, mb(tape_capacity(d->tape)));
		p = u32_param(p, 0x0017, mb(tape_used_bytes(d->tape)));
		p = ascii_param(p, 0x0040, info->serial);
		p = ascii_param(p, 0x0042, info->barcode);
		p = u8_param(p, 0x0080, info->write_protect || d->read_only ? 1 : 0);
		p = u8_param(p, 0x0081, info->worm ? 1 : 0);
	}

	uint32_t len = (uint32_t)(p - tmp);
	tmp[0] = 0x17;
	tmp[1] = 0;
	put_be16(tmp + 2, (uint16_t)(len - 4));
	memcpy(buf, tmp, len < cap ? len : cap);
	return len;
}

uint32_t ssc_lp_device_stats(struct scsi_dev *dev, uint8_t *buf, uint32_t cap)
{
	struct ssc_drive *d = ssc_drv(dev);
	uint8_t tmp[4 + 3 * 8];
	uint8_t *p = tmp + 4;

	p = u32_param(p, 0x0000, sat32(d->loads));
	p = u32_param(p, 0x0002, sat32((ssc_now_s() - d->started_s) / 3600));
	p = u32_param(p, 0x000d, sat32(d->loads_since_reset));

	uint32_t len = (uint32_t)(p - tmp);
	tmp[0] = 0x14;
	tmp[1] = 0;
	put_be16(tmp + 2, (uint16_t)(len - 4));
	memcpy(buf, tmp, len < cap ? len : cap);
	return len;
}

void ssc_lp_device_stats_reset(struct scsi_dev *dev)
{
	ssc_drv(dev)->loads_since_reset = 0;
}

uint32_t ssc_lp_non_medium(struct scsi_dev *dev, uint8_t *buf, uint32_t cap)
{
	uint8_t tmp[4 + 8];
	(void)dev;

	return ssc_log_finish(0x06, tmp, u32_param(tmp + 4, 0x0000, 0), buf, cap);
}

uint32_t ssc_lp_power_transitions(struct scsi_dev *dev, uint8_t *buf, uint32_t cap)
{
	uint8_t tmp[4 + 2 * 8];
	uint8_t *p = tmp + 4;
	(void)dev;

	p = u32_param(p, 0x0002, 0); /* accumulated transitions to idle_a */
	p = u32_param(p, 0x0004, 0); /* accumulated transitions to idle_c */
	return ssc_log_finish(0x1a, tmp, p, buf, cap);
}

uint32_t ssc_lp_tape_usage(struct scsi_dev *dev, uint8_t *buf, uint32_t cap)
{
	struct ssc_drive *d = ssc_drv(dev);
	uint8_t tmp[4 + 8];
	uint8_t *p = tmp + 4;

	/* Only a data cartridge in the drive has a usage to report. */
	if (d->tape && !d->cleaning)
		p = u32_param(p, 0x0001, sat32(tape_get_info(d->tape)->load_count));
	return ssc_log_finish(0x30, tmp, p, buf, cap);
}

/* VERY HIGH FREQUENCY DATA bits (SSC-4, DT Device Status log page; the
 * positions as sg_logs decodes them). */
enum {
	VHF0_PAMR = 0x80,  /* prevent/allow medium removal: removal prevented */
	VHF0_HUI = 0x40,   /* host initiated unload */
	VHF0_MACC = 0x20,  /* medium auxiliary memory accessible */
	VHF0_CMPR = 0x10,  /* compression enabled */
	VHF0_WRTP = 0x08,  /* write protected */
	VHF0_CRQST = 0x04, /* cleaning requested */
	VHF0_CRQRD = 0x02, /* cleaning required */
	VHF0_DINIT = 0x01, /* DT device initialized: the data is valid */
	VHF1_INXTN = 0x80, /* in transition */
	VHF1_RAA = 0x20,   /* robotic access allowed */
	VHF1_MPRSNT = 0x10,
	VHF1_MSTD = 0x04, /* medium seated */
	VHF1_MTHRD = 0x02,
	VHF1_MOUNTED = 0x01,
	VHF3_TDDEC = 0x20, /* tape diagnostic data entry created */
	VHF3_EPP = 0x10,   /* encryption parameters present */
	VHF3_ESR = 0x08,   /* encryption service request */
	VHF3_RRQST = 0x04, /* recovery requested */
	VHF3_INTFC = 0x02, /* interface changed */
	VHF3_TAFC = 0x01,  /* TapeAlert state flag changed */
};

/* The four bytes of VERY HIGH FREQUENCY DATA (DT device status 0000h). */
static void vhf_data(struct scsi_dev *dev, uint8_t vhf[4])
{
	struct ssc_drive *d = ssc_drv(dev);
	bool present = d->state != SSC_EMPTY;
	bool loaded = d->state == SSC_LOADED;
	uint8_t b0 = VHF0_DINIT, b1 = 0, b3 = 0;

	if (dev->prevent_removal)
		b0 |= VHF0_PAMR;
	if (d->state == SSC_UNLOADED && d->host_unloaded)
		b0 |= VHF0_HUI;
	if (present)
		b0 |= VHF0_MACC; /* READ ATTRIBUTE answers whenever a cartridge is in */
	if (d->compression)
		b0 |= VHF0_CMPR;
	if (loaded && (d->read_only || tape_get_info(d->tape)->write_protect))
		b0 |= VHF0_WRTP;
	/* The drive asks for cleaning (TapeAlert 15h, "Clean periodic")
	 * when its load interval has passed; it never needs one to go on. */
	if (ssc_clean_due(d))
		b0 |= VHF0_CRQST;
	/* The library may take the cartridge (MOVE MEDIUM out of the drive)
	 * once it is unloaded and not prevented, or put one into an empty
	 * drive. */
	if (!loaded && !dev->prevent_removal)
		b1 |= VHF1_RAA;
	if (present)
		b1 |= VHF1_MPRSNT;
	if (loaded)
		b1 |= VHF1_MSTD | VHF1_MTHRD | VHF1_MOUNTED;
	if (ssc_crypto_params_present(d))
		b3 |= VHF3_EPP;
	if (d->diag_new)
		b3 |= VHF3_TDDEC;
	if (d->tapealert)
		b3 |= VHF3_TAFC; /* set since the TapeAlert page was last read */
	vhf[0] = b0;
	vhf[1] = b1;
	vhf[2] = 0x00; /* DT DEVICE ACTIVITY: none (commands run one at a time) */
	vhf[3] = b3;
}

uint32_t ssc_lp_dt_status(struct scsi_dev *dev, uint8_t *buf, uint32_t cap)
{
	uint8_t tmp[4 + 8];
	uint8_t *p = param(tmp + 4, 0x0000, 4);

	p[-2] = 0x03; /* FORMAT AND LINKING 11b: binary */
	vhf_data(dev, p);
	return ssc_log_finish(0x11, tmp, p + 4, buf, cap);
}

/* ---- tape diagnostic data (16h) ---- */

#define DIAG_PARAM_LEN 68u

void ssc_diag_after(struct scsi_dev *dev, const struct scsi_cmd *cmd)
{
	struct ssc_drive *d = ssc_drv(dev);

	if (cmd->status != SAM_STAT_CHECK_CONDITION)
		return;
	uint8_t key = sense_key(cmd->sense, cmd->sense_len);
	if (key != SK_MEDIUM_ERROR && key != SK_HARDWARE_ERROR)
		return;
	memmove(&d->diag[1], &d->diag[0], sizeof(d->diag[0]) * (SSC_DIAG_ENTRIES - 1));
	if (d->n_diag < SSC_DIAG_ENTRIES)
		d->n_diag++;
	struct ssc_diag_entry *e = &d->diag[0];
	memset(e, 0, sizeof(*e));
	if (d->tape && !d->cleaning) {
		const struct tape_info *info = tape_get_info(d->tape);
		e->density = tape_media_density(info->media);
		e->medium_type = ssc_mode_medium_type(dev);
		snprintf(e->medium_id, sizeof(e->medium_id), "%s", info->serial);
	}
	uint16_t asc = sense_asc(cmd->sense, cmd->sense_len);
	e->sense_key = key;
	e->asc = (uint8_t)(asc >> 8);
	e->ascq = (uint8_t)asc;
	e->opcode = cmd->cdb[0];
	const struct scsi_op *op = spc_find_op(dev->type, cmd->cdb[0], cmd->cdb[1] & 0x1f);
	if (op && (op->flags & OPF_SA))
		e->sa = cmd->cdb[1] & 0x1f;
	uint64_t now = ssc_now_s();
	uint64_t since = d->cleaned_s ? d->cleaned_s : d->started_s;
	e->hours_since_clean = sat32((now - since) / 3600);
	e->ts_origin = dev->ts_origin & 0x07;
	e->timestamp = spc_timestamp_now(dev);
	d->diag_new = true;
}

uint32_t ssc_lp_tape_diag(struct scsi_dev *dev, uint8_t *buf, uint32_t cap)
{
	struct ssc_drive *d = ssc_drv(dev);
	uint8_t tmp[4 + SSC_DIAG_ENTRIES * (4 + DIAG_PARAM_LEN)];
	uint8_t *p = tmp + 4;

	/* Every entry, as the TD6 lists its twelve: one not used (yet, or
	 * since LOG SELECT) is all zero, sense key NO SENSE. */
	for (unsigned i = 0; i < SSC_DIAG_ENTRIES; i++) {
		const struct ssc_diag_entry *e = &d->diag[i];
		uint8_t *v = param(p, (uint16_t)i, DIAG_PARAM_LEN);

		v[-2] = 0x03; /* FORMAT AND LINKING 11b: binary */
		memset(v, 0, DIAG_PARAM_LEN);
		p = v + DIAG_PARAM_LEN;
		if (i >= d->n_diag)
			continue;
		/* Offsets from the parameter's start; v is byte 4. */
		v[6 - 4] = e->density;
		v[7 - 4] = e->medium_type;
		v[13 - 4] = e->sense_key & 0x0f;
		v[14 - 4] = e->asc;
		v[15 - 4] = e->ascq;
		memcpy(v + 20 - 4, dev->ident.revision, 4); /* PRODUCT REVISION LEVEL */
		put_be32(v + 24 - 4, e->hours_since_clean);
		v[28 - 4] = e->opcode;
		v[29 - 4] = e->sa;
		if (e->medium_id[0])
			spc_pad_ascii(v + 32 - 4, e->medium_id, 32);
		v[64 - 4] = e->ts_origin;
		put_be48(v + 66 - 4, e->timestamp);
	}
	uint32_t len = ssc_log_finish(0x16, tmp, p, buf, cap);
	if (cap >= len)
		d->diag_new = false;
	return len;
}

void ssc_lp_tape_diag_reset(struct scsi_dev *dev)
{
	struct ssc_drive *d = ssc_drv(dev);

	memset(d->diag, 0, sizeof(d->diag));
	d->n_diag = 0;
	d->diag_new = false;
}
