/*
 * ssc_clean.c - cleaning cartridges in the tape drive, and the drive's
 * TapeAlert parts beyond the 2Eh page itself (ssc_pages.c): the TapeAlert
 * response log page 12h and the TEST FLAG NUMBER of mode page 1Ch.
 *
 * A cleaning cartridge is a cartridge the library marks as one (a CLN...
 * label). Loaded into a drive it cleans the head and is left unthreaded at
 * the ready-to-eject position, as LTO drives do: IBM's drives "complete
 * the cleaning automatically" and eject the cartridge, and eject an
 * expired one "without running the cleaning process" (IBM TS4300
 * documentation, "Cleaning cartridge"); HP's drives leave it in the ready
 * eject position, cartridge type "cleaning", and raise TapeAlert flag 22
 * for an expired one (HP LTO Ultrium 4 technical reference, volume 2,
 * "Cleaning cartridge"). Cleaning takes no time here, so the drive is
 * found in the after-cleaning state at once.
 *
 * While it is in the drive:
 *   - TEST UNIT READY and every medium access command (READ, WRITE,
 *     SPACE, ...) are NOT READY, CLEANING CARTRIDGE INSTALLED (30h/03h:
 *     "an operation could not be carried out because the cartridge in the
 *     drive is a cleaning cartridge", IBM LTO drive sense table in the
 *     TS3100/TS3310/Dell TL2000 manuals);
 *   - LOAD is refused the same way; UNLOAD succeeds (it is unloaded);
 *   - TapeAlert 0Bh "Cleaning media" is set at the load and by each
 *     command refused for it (ssc.c, ssc_not_ready), and 16h "Expired cleaning
 *     media" when it had no cleaning left (TapeAlert specification 3,
 *     flags 11 and 22); a successful cleaning clears 14h "Clean now" and
 *     15h "Clean periodic";
 *   - the MAM MEDIUM TYPE attribute reads 01h, cleaning medium (SPC-4,
 *     MEDIUM TYPE attribute).
 * The library counts the use in the catalog (vtl/library.c).
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "be.h"
#include "sense.h"
#include "ssc_priv.h"
#include "tapealert.h"

int ssc_insert_cleaning(struct scsi_dev *dev, const char *dir, bool expired)
{
	struct ssc_drive *d = ssc_drv(dev);
	struct tape *t;

	pthread_mutex_lock(&dev->lock);
	int rc = -EBUSY;
	if (d->state != SSC_EMPTY)
		goto out;
	/* Universal cleaning cartridges fit every generation: no
	 * media_access() check, and no data key (nothing is read). */
	rc = tape_open(dir, &t);
	if (rc)
		goto out;
	d->tape = t;
	d->cleaning = true;
	d->read_only = true;
	d->state = SSC_UNLOADED;
	ssc_tapealert_set(d, TA_CLEANING_MEDIA);
	if (expired) {
		ssc_tapealert_set(d, TA_EXPIRED_CLEANING_MEDIA);
	} else {
		d->tapealert &= ~((1ull << (TA_CLEAN_NOW - 1)) | (1ull << (TA_CLEAN_PERIODIC - 1)));
		d->loads_since_clean = 0;
	}
	spc_ua_raise_all(dev, ASC_NOT_READY_TO_READY_CHANGE);
out:
	pthread_mutex_unlock(&dev->lock);
	return rc;
}

bool ssc_cleaning_refused(struct ssc_drive *d, struct scsi_cmd *cmd)
{
	if (!d->cleaning)
		return false;
	ssc_tapealert_set(d, TA_CLEANING_MEDIA);
	sense_set(cmd, SK_NOT_READY, ASC_CLEANING_CARTRIDGE_INSTALLED);
	return true;
}

/* Flags this drive can raise (VPD B2h, TEST FLAG NUMBER 7FFFh). */
static const unsigned ta_supported[] = {
    TA_HARD_ERROR,
    TA_MEDIA,
    TA_READ_FAILURE,
    TA_WRITE_FAILURE,
    TA_WRITE_PROTECT,
    TA_NO_REMOVAL,
    TA_CLEANING_MEDIA,
    TA_UNSUPPORTED_FORMAT,
    TA_EXPIRED_CLEANING_MEDIA,
    TA_WORM_OVERWRITE_ATTEMPTED,
};

uint64_t ssc_tapealert_supported(const struct ssc_drive *d)
{
	uint64_t f = 0;
	for (size_t i = 0; i < sizeof(ta_supported) / sizeof(ta_supported[0]); i++)
		f |= 1ull << (ta_supported[i] - 1);
	if (d->cfg.clean_interval)
		f |= 1ull << (TA_CLEAN_PERIODIC - 1);
	return f;
}

/*
 * The drive asks for cleaning after cfg.clean_interval loads of data
 * cartridges since its last cleaning: TapeAlert 15h "Clean periodic"
 * ("the tape drive is due for routine cleaning", TapeAlert
 * specification, a warning) is set at that load and at every load after
 * it until a cleaning cartridge cleans the drive, and the sequential-
 * access log page reports CLEANING REQUIRED (SSC-4 8.2.3, parameter
 * 0100h) meanwhile. 14h "Clean now" is left to real need (a head that
 * reads badly), which an emulated drive never has. The count lives with
 * the drive object: a vtld restart starts it again, as the device
 * statistics page's counts do.
 */
void ssc_clean_count_load(struct ssc_drive *d)
{
	d->loads_since_clean++;
	if (ssc_clean_due(d))
		ssc_tapealert_set(d, TA_CLEAN_PERIODIC);
}

bool ssc_clean_due(const struct ssc_drive *d)
{
	return d->cfg.clean_interval && d->loads_since_clean >= d->cfg.clean_interval;
}

uint64_t ssc_ie_flags(struct scsi_dev *dev)
{
	return ssc_drv(dev)->tapealert;
}

int ssc_tapealert_test(struct scsi_dev *dev, int32_t number)
{
	struct ssc_drive *d = ssc_drv(dev);
	return tapealert_test(&d->tapealert, ssc_tapealert_supported(d), 64, number);
}

/*
 * 0x12 TapeAlert response (SSC-4, TapeAlert response log page): parameter 0000h, the 64 flags in
 * eight bytes, flag 01h in the most significant bit. Reading it does not
 * clear them; reading the 2Eh page does. The control byte is FORMAT AND
 * LINKING 11b (binary list); the IBM personality also sets bit 6 (DS,
 * "disable save" before SPC-4 made it obsolete: nothing here is saved),
 * as a real IBM ULT3580-TD6 sends it (43h, docs/compatibility.md).
 */
uint32_t ssc_lp_tapealert_response(struct scsi_dev *dev, uint8_t *buf, uint32_t cap)
{
	uint8_t p[4 + 4 + 8] = {0x12, 0, 0, 12};

	put_be16(p + 4, 0x0000);
	p[6] = ssc_drv(dev)->cfg.vendor == SSC_VENDOR_IBM ? 0x43 : 0x03;
	p[7] = 8;
	put_be64(p + 8, tapealert_msb_first(ssc_drv(dev)->tapealert));
	memcpy(buf, p, cap < sizeof(p) ? cap : sizeof(p));
	return sizeof(p);
}
