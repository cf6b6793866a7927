/*
 * ssc_logs.c - log pages LTO drives answer and tools read beyond the error
 * counters: device statistics (14h) and data compression (32h).
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
 * ratio is what the compression of tape.c achieved, not a constant.
 */
#include "config.h"

#include <string.h>
#include <time.h>

#include "be.h"
#include "spc.h"
#include "ssc_priv.h"

static uint8_t *param(uint8_t *p, uint16_t code, uint8_t len)
{
	put_be16(p, code);
	p[2] = 0x00;
	p[3] = len;
	return p + 4;
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

uint32_t ssc_lp_compression(struct scsi_dev *dev, uint8_t *buf, uint32_t cap)
{
	struct ssc_drive *d = ssc_drv(dev);
	struct tape_stats st;
	uint8_t tmp[4 + 2 * 6 + 8 * 8];
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

	uint32_t len = (uint32_t)(p - tmp);
	tmp[0] = 0x32;
	tmp[1] = 0;
	put_be16(tmp + 2, (uint16_t)(len - 4));
	memcpy(buf, tmp, len < cap ? len : cap);
	return len;
}

static uint64_t now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

void ssc_stats_init(struct ssc_drive *d)
{
	d->started_s = now_s();
}

void ssc_stats_loaded(struct ssc_drive *d)
{
	ssc_clean_count_load(d);
	d->loads++;
	d->loads_since_reset++;
	d->mount_write_errors = 0;
	d->mount_read_errors = 0;
}

static uint8_t *u8_param(uint8_t *p, uint16_t code, uint8_t v)
{
	p = param(p, code, 1);
	*p = v;
	return p + 1;
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
	p = u32_param(p, 0x0002, sat32((now_s() - d->started_s) / 3600));
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
