/*
 * ssc_priv.h - state shared by the tape drive's files: ssc.c (device
 * object, command table, data path) and ssc_pages.c (INQUIRY identity, VPD,
 * mode and log pages, MAM attributes, density reporting).
 *
 * Everything here runs with dev->lock held (spc_dispatch holds it for the
 * whole command; ssc_insert/ssc_remove take it themselves).
 */
#ifndef VTL_SSC_PRIV_H
#define VTL_SSC_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "ssc.h"

/* Host-type MAM attributes (SPC-4 7.4.2.4) the drive supports; their values
 * live with the cartridge (tape_get_attr/tape_set_attrs). */
#define SSC_HOST_ATTR_MAX TAPE_ATTR_MAX_LEN
#define SSC_N_HOST_ATTRS  10

struct ssc_drive {
	struct ssc_config cfg;
	enum ssc_medium_state state;
	struct tape *tape;     /* open while a cartridge is in the drive */
	bool read_only;	       /* medium of an older generation: read only here */
	uint32_t block_len;    /* mode block descriptor: 0 = variable mode */
	uint8_t buffered_mode; /* SPC-4 7.5.5 / SSC-4 8.3.1: 0 unbuffered, 1, 2 */
	bool compression;      /* data compression page DCE (SSC-4 8.3.2) */
	uint16_t write_delay;  /* device configuration page, 100 ms units */
	uint16_t pews;	       /* programmable early warning size, 10^6 bytes (0 = off) */
	bool pew_reported;     /* PEW crossing reported; again once back before it */
	uint64_t tapealert;    /* TapeAlert flag n is bit n-1; cleared when read */
	bool cleaning;	       /* the cartridge in the drive is a cleaning cartridge */

	struct ssc_crypto *crypto; /* data encryption parameters (ssc_crypto.c) */

	/* Error counter log pages (SPC-4 7.3.4 / 7.3.17). */
	uint64_t read_errors_uncorrected;
	uint64_t write_errors_uncorrected;
};

static inline struct ssc_drive *ssc_drv(struct scsi_dev *dev)
{
	return dev->priv;
}

/* TapeAlert flags raised by this drive (SSC-4 annex, TapeAlert table). */
enum {
	TA_READ_WARNING = 1,
	TA_WRITE_WARNING = 2,
	TA_HARD_ERROR = 3,
	TA_MEDIA = 4,
	TA_READ_FAILURE = 5,
	TA_WRITE_FAILURE = 6,
	TA_WRITE_PROTECT = 9,
	TA_NO_REMOVAL = 10,
	TA_CLEANING_MEDIA = 11,
	TA_UNSUPPORTED_FORMAT = 12,
	TA_READ_ONLY_FORMAT = 17,
	TA_CLEAN_NOW = 20,
	TA_CLEAN_PERIODIC = 21,
	TA_EXPIRED_CLEANING_MEDIA = 22,
	TA_WORM_OVERWRITE_ATTEMPTED = 60,
};

void ssc_tapealert_set(struct ssc_drive *d, unsigned flag);

/* Cleaning cartridges and TapeAlert extras (ssc_clean.c). */
/* A cleaning cartridge is in the drive: NOT READY, CLEANING CARTRIDGE
 * INSTALLED set in cmd and true; false otherwise. */
bool ssc_cleaning_refused(struct ssc_drive *d, struct scsi_cmd *cmd);
uint64_t ssc_tapealert_supported(void);
int ssc_tapealert_test(struct scsi_dev *dev, int32_t number);
uint32_t ssc_lp_tapealert_response(struct scsi_dev *dev, uint8_t *buf, uint32_t cap);

/* Density code the drive writes (and reports) for the loaded medium or its
 * own generation when empty. */
uint8_t ssc_current_density(struct ssc_drive *d);

/* Fill in the VPD, mode and log page tables of the device type (once). */
void ssc_pages_init(struct scsi_dev_type *type);

void ssc_set_identity(struct scsi_dev *dev);
uint8_t ssc_mode_dev_specific(struct scsi_dev *dev);
uint8_t ssc_mode_medium_type(struct scsi_dev *dev);
bool ssc_mode_block_desc(struct scsi_dev *dev, uint8_t bd[8]);
int ssc_mode_select_header(struct scsi_dev *dev, struct scsi_cmd *cmd, uint8_t dev_specific,
			   const uint8_t *bd, uint16_t bd_offset);

/* Command handlers living in ssc_pages.c. */
void ssc_read_attribute(struct scsi_dev *dev, struct scsi_cmd *cmd);
void ssc_write_attribute(struct scsi_dev *dev, struct scsi_cmd *cmd);
void ssc_report_density_support(struct scsi_dev *dev, struct scsi_cmd *cmd);
void ssc_read_media_serial(struct scsi_dev *dev, struct scsi_cmd *cmd);

/* Data encryption (ssc_crypto.c): SECURITY PROTOCOL IN/OUT and the hooks
 * the medium commands call. */
int ssc_crypto_init(struct ssc_drive *d);
void ssc_crypto_destroy(struct ssc_drive *d);
void ssc_security_protocol_in(struct scsi_dev *dev, struct scsi_cmd *cmd);
void ssc_security_protocol_out(struct scsi_dev *dev, struct scsi_cmd *cmd);
/* Before a READ, WRITE or VERIFY: install the nexus's keys in the medium;
 * false with sense set when the command must not run. */
bool ssc_crypto_prepare(struct scsi_dev *dev, struct scsi_cmd *cmd);
/* Sense for the medium's encryption errors (tape.h); false for others. */
bool ssc_crypto_sense(struct ssc_drive *d, struct scsi_cmd *cmd, int rc, bool valid_info,
		      int64_t info);
void ssc_crypto_loaded(struct ssc_drive *d);
/* The volume is demounted (nexus 0: by the library): CKOD. */
void ssc_crypto_demount(struct scsi_dev *dev, uint64_t nexus);
void ssc_crypto_lun_reset(struct scsi_dev *dev);
void ssc_crypto_nexus_gone(struct scsi_dev *dev, uint64_t nexus);

#endif
