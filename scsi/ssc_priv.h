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

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "ssc.h"

/* Host-type MAM attributes (SPC-4 7.4.2.4) the drive supports; their values
 * live with the cartridge (tape_get_attr/tape_set_attrs). */
#define SSC_HOST_ATTR_MAX TAPE_ATTR_MAX_LEN
#define SSC_N_HOST_ATTRS  10

#define SSC_DIAG_ENTRIES 12 /* tape diagnostic data entries, as IBM's TD6 has */
/* Read-ahead is paused for SSC_RA_PAUSE READs (64 MiB of 256 KiB records)
 * after SSC_RA_STARVED READs in a row found nothing read ahead (ssc_wait). */
#define SSC_RA_STARVED 8u
#define SSC_RA_PAUSE   256u

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
	bool host_unloaded;    /* SSC_UNLOADED by a host's LOAD UNLOAD (DT device status HUI) */

	struct ssc_crypto *crypto; /* data encryption parameters (ssc_crypto.c) */

	/* Tape diagnostic data log page 16h (ssc_logs.c): the drive's last
	 * medium and hardware errors, diag[0] the most recent; diag_new
	 * (TDDEC) since the page was last read. cleaned_s: monotonic
	 * seconds of the last cleaning, 0 for none since the drive came up. */
	struct ssc_diag_entry {
		uint8_t density, medium_type;
		uint8_t sense_key, asc, ascq;
		uint8_t opcode, sa;
		uint8_t ts_origin;
		uint32_t hours_since_clean;
		uint64_t timestamp;
		char medium_id[33];
	} diag[SSC_DIAG_ENTRIES];
	unsigned n_diag;
	bool diag_new;
	uint64_t cleaned_s;

	/* Error counter log pages (SPC-4 7.3.4 / 7.3.17). */
	uint64_t read_errors_uncorrected;
	uint64_t write_errors_uncorrected;

	/* Logical block protection (ssc_lbp.c): control data protection
	 * mode page. */
	uint8_t lbp_method; /* SSC_LBP_*; 0 = off */
	bool lbp_w, lbp_r, lbp_rbdp;
	/* Append-only mode (ssc_lbp.c): WRITE MODE 1h, and the position one
	 * ALLOW OVERWRITE opened. */
	bool append_only;
	bool overwrite_ok;
	uint64_t overwrite_obj;

	struct ssc_buffers *buffers; /* READ/WRITE BUFFER (ssc_buffer.c), lazily */

	/* Read-ahead (ssc_set_readahead): called, with dev->lock held, when a
	 * READ armed one; it only wakes the caller's thread. */
	void (*worker_kick)(void *arg);
	void *worker_arg;
	/* ssc_readahead's job (tape_prefetch_begin), made on its first use
	 * and used by that thread only; pf_done is broadcast, dev->lock
	 * held, each time a job ends, for a READ waiting for its block
	 * (ssc_wait). */
	struct tape_pf_job *pf_job;
	pthread_cond_t pf_done;
	/* A read-ahead that does not pay (ssc_wait): READs in a row that
	 * found nothing read ahead, and READs still to run without it. */
	unsigned ra_starved, ra_pause;
	/* Write-behind (tape_write_buffered): the nexus that wrote the last
	 * block pending (left behind or gathered, tape_write_held) and
	 * whether in fixed-block mode; a write error of them (wb_err) not
	 * yet reported to that nexus, what INFORMATION then reports (the
	 * bytes of the blocks lost in variable mode, their number in fixed
	 * mode), and the logical object number of the first one
	 * (wb_block), which an operator's forced unload names when it
	 * discards the error. */
	uint64_t wb_nexus;
	bool wb_fixed;
	int64_t wb_residue;
	uint64_t wb_block;
	uint64_t wb_count; /* how many blocks from wb_block were lost */
	int wb_err;

	/* Device statistics log page (ssc_logs.c), since the drive object
	 * was made (vtld start): loads, loads since LOG SELECT reset, and
	 * the monotonic time the drive came up. */
	uint64_t loads, loads_since_reset;
	uint64_t started_s;
	/* Volume statistics log page: unrecovered errors since the
	 * cartridge was last loaded. */
	uint64_t mount_write_errors, mount_read_errors;
	/* Data cartridge loads since the last cleaning (ssc_clean.c). */
	uint64_t loads_since_clean;
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
uint64_t ssc_tapealert_supported(const struct ssc_drive *d);
/* A data cartridge was loaded: count it towards the cleaning interval. */
void ssc_clean_count_load(struct ssc_drive *d);
/* Is cleaning due (cfg.clean_interval loads since the last cleaning)? */
bool ssc_clean_due(const struct ssc_drive *d);
int ssc_tapealert_test(struct scsi_dev *dev, int32_t number);
/* The flags set now, for informational exception reporting (spc.c). */
uint64_t ssc_ie_flags(struct scsi_dev *dev);
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
/* Are data encryption parameters that encrypt or decrypt established for
 * any I_T nexus (DT device status EPP)? */
bool ssc_crypto_params_present(const struct ssc_drive *d);

/* Logical block protection and append-only mode (ssc_lbp.c). */
enum { SSC_LBP_NONE = 0, SSC_LBP_RS_CRC = 1, SSC_LBP_CRC32C = 2 };
#define SSC_LBP_LEN	 4u  /* bytes of protection information per block */
#define SSC_LBP_PAGE_LEN 32u /* control data protection mode page */
extern const struct spc_mode_page ssc_lbp_mode_page;
/* ECMA-319 Reed-Solomon CRC of buf (seed 0). */
uint32_t ssc_rs_crc(const void *buf, size_t len);
/* Bytes of protection information a WRITE block carries / a READ block
 * gets appended: SSC_LBP_LEN when LBP_W / LBP_R is on, else 0. */
uint32_t ssc_lbp_write_len(const struct ssc_drive *d);
uint32_t ssc_lbp_read_len(const struct ssc_drive *d);
/* Does block (len bytes, protection information last) carry the right CRC? */
bool ssc_lbp_check(const struct ssc_drive *d, const uint8_t *block, uint32_t len);
/* Write the protection information of buf[0..data_len) after it, as much
 * of it as fits below cap. */
void ssc_lbp_append(const struct ssc_drive *d, uint8_t *buf, uint32_t data_len, uint32_t cap);
bool ssc_append_changeable(const struct ssc_drive *d);
/* MODE SELECT of WRITE MODE (device configuration extension page byte
 * `byte`): 0 or -1 with sense set. */
int ssc_append_select(struct ssc_drive *d, struct scsi_cmd *cmd, uint8_t write_mode, uint16_t byte);
/* Before a write-type command: false, or true with DATA PROTECT set when
 * append-only mode forbids writing at the position. */
bool ssc_append_refused(struct ssc_drive *d, struct scsi_cmd *cmd);
void ssc_allow_overwrite(struct scsi_dev *dev, struct scsi_cmd *cmd);

/* READ BUFFER / WRITE BUFFER (ssc_buffer.c). */
void ssc_read_buffer(struct scsi_dev *dev, struct scsi_cmd *cmd);
void ssc_write_buffer(struct scsi_dev *dev, struct scsi_cmd *cmd);
void ssc_buffers_free(struct ssc_drive *d);

/* Vendor VPD pages (ssc_vendor.c): which personality has them, and the
 * pages themselves. */
bool ssc_vpd_ibm(const struct scsi_dev *dev);
bool ssc_vpd_hpe(const struct scsi_dev *dev);
uint32_t ssc_vpd_ibm_firmware(struct scsi_dev *dev, uint8_t *buf, uint32_t cap);
uint32_t ssc_vpd_ibm_serials(struct scsi_dev *dev, uint8_t *buf, uint32_t cap);
uint32_t ssc_vpd_hpe_firmware(struct scsi_dev *dev, uint8_t *buf, uint32_t cap);

/* Log pages 06h non-medium errors, 11h DT device status, 14h device
 * statistics, 17h volume statistics, 1Ah power condition transitions,
 * 1Bh and 32h data compression, 30h tape usage (ssc_logs.c). */
/* A log page built at start, its parameters up to end (ssc_pages.c): fill
 * in its header (page code, PAGE LENGTH) and copy at most cap bytes to buf;
 * returns the page's full length. */
uint32_t ssc_log_finish(uint8_t page, uint8_t *start, const uint8_t *end, uint8_t *buf,
			uint32_t cap);
uint32_t ssc_lp_compression(struct scsi_dev *dev, uint8_t *buf, uint32_t cap);
uint32_t ssc_lp_data_compression(struct scsi_dev *dev, uint8_t *buf, uint32_t cap);
uint32_t ssc_lp_non_medium(struct scsi_dev *dev, uint8_t *buf, uint32_t cap);
uint32_t ssc_lp_power_transitions(struct scsi_dev *dev, uint8_t *buf, uint32_t cap);
uint32_t ssc_lp_tape_usage(struct scsi_dev *dev, uint8_t *buf, uint32_t cap);
uint32_t ssc_lp_dt_status(struct scsi_dev *dev, uint8_t *buf, uint32_t cap);
uint32_t ssc_lp_tape_diag(struct scsi_dev *dev, uint8_t *buf, uint32_t cap);
void ssc_lp_tape_diag_reset(struct scsi_dev *dev);
/* After every command (scsi_dev_type.after): a MEDIUM ERROR or HARDWARE
 * ERROR becomes a tape diagnostic data entry. */
void ssc_diag_after(struct scsi_dev *dev, const struct scsi_cmd *cmd);
/* Monotonic seconds now, the clock of the statistics pages. */
uint64_t ssc_now_s(void);
uint32_t ssc_lp_volume_stats(struct scsi_dev *dev, uint8_t *buf, uint32_t cap);
uint32_t ssc_lp_device_stats(struct scsi_dev *dev, uint8_t *buf, uint32_t cap);
void ssc_lp_device_stats_reset(struct scsi_dev *dev);
void ssc_stats_init(struct ssc_drive *d);
void ssc_stats_loaded(struct ssc_drive *d);

#endif
