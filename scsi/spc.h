/*
 * spc.h - the SCSI device object, table-driven dispatch, and the SPC-4
 * command set that every device type shares.
 *
 * A device type (ssc.c for tape drives, smc.c for the changer) describes
 * itself with a table of struct scsi_op: one row per operation code (and
 * service action) with its CDB length, the CDB usage mask of SPC-4 6.35.3,
 * flags and handler. From that single table come:
 *   - dispatch (spc_dispatch),
 *   - the reserved-bit check: a CDB bit that is not in the usage mask and is
 *     set is INVALID FIELD IN CDB with the field pointer at that bit,
 *   - REPORT SUPPORTED OPERATION CODES,
 * so what the device reports can never drift from what it implements.
 *
 * The device type also lists its VPD pages, mode pages and log pages in
 * tables; the SPC handlers (INQUIRY, MODE SENSE/SELECT, LOG SENSE) do the
 * framing, allocation-length truncation and page-code validation.
 *
 * Locking: spc_dispatch holds dev->lock for the whole command, so commands
 * to one device run one at a time (a tape drive is sequential by nature).
 * Code outside a command (the library model moving a cartridge) takes the
 * same lock. Lock order is changer before drive.
 */
#ifndef VTL_SPC_H
#define VTL_SPC_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "scsi.h"

struct scsi_dev;

typedef void (*scsi_handler)(struct scsi_dev *dev, struct scsi_cmd *cmd);

enum scsi_op_flags {
	OPF_SA = 1u << 0,	    /* service action in CDB byte 1 bits 4..0 */
	OPF_UA_OK = 1u << 1,	    /* runs with a unit attention pending (SAM-5 5.14) */
	OPF_CONFLICT_OK = 1u << 2,  /* allowed to a nexus that does not hold a reservation */
	OPF_MEDIUM = 1u << 3,	    /* needs a medium: NOT READY, MEDIUM NOT PRESENT otherwise */
	OPF_DATA_OUT = 1u << 4,	    /* carries a data-out buffer */
	OPF_DATA_IN = 1u << 5,	    /* returns data-in */
	OPF_PR_READ = 1u << 6,	    /* medium read: allowed under a WRITE EXCLUSIVE reservation */
	OPF_NOT_READY_OK = 1u << 7, /* runs while the device is becoming ready */
};

struct scsi_op {
	uint8_t opcode;
	uint8_t sa;	 /* service action when flags has OPF_SA */
	uint8_t cdb_len; /* 6, 10, 12 or 16 */
	uint32_t flags;
	uint8_t usage[16]; /* SPC-4 6.35.3 CDB USAGE DATA; usage[0] = opcode */
	scsi_handler handler;
	const char *name;
};

/*
 * Usage of the control byte (SAM-5 5.2): C0h. NACA is not supported (there
 * is no ACA), so a CDB with NACA set is INVALID FIELD IN CDB (SAM-5 5.10),
 * as is the obsolete LINK bit. Bits 7-6 are vendor specific, not reserved:
 * they are accepted and ignored, as libraries do with the EEPOS bits that
 * mtx puts there (mtx eepos 1 transfer ...).
 */
#define SPC_CTL 0xc0

/*
 * The rows that every device type's table shares: SPC-4 commands whose CDB
 * usage is the same whatever the device. Whether a reservation lets them
 * through is decided by spc.c from SPC-4 table 63, not by these flags.
 */
#define SPC_OP_PRIN(sa, what)                                                                      \
	{                                                                                          \
		PERSISTENT_RESERVE_IN, sa, 10, OPF_SA | OPF_DATA_IN | OPF_CONFLICT_OK,             \
		    {PERSISTENT_RESERVE_IN, 0x1f, 0, 0, 0, 0, 0, 0xff, 0xff, SPC_CTL},             \
		    spc_persistent_reserve_in, "PERSISTENT RESERVE IN (" what ")"                  \
	}
#define SPC_OP_PROUT(sa, what)                                                                     \
	{                                                                                          \
		PERSISTENT_RESERVE_OUT, sa, 10, OPF_SA | OPF_DATA_OUT | OPF_CONFLICT_OK,           \
		    {PERSISTENT_RESERVE_OUT, 0x1f, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, SPC_CTL},   \
		    spc_persistent_reserve_out, "PERSISTENT RESERVE OUT (" what ")"                \
	}
#define SPC_OP_ROW(op, sa, len, flags, handler, name, ...)                                         \
	{                                                                                          \
		op, sa, len, flags, {op, __VA_ARGS__, SPC_CTL}, handler, name                      \
	}

#define SPC_OPS_SHARED                                                                             \
	SPC_OP_ROW(LOG_SELECT, 0, 10, OPF_DATA_OUT, spc_log_select, "LOG SELECT", 0x03, 0xff,      \
		   0xff, 0, 0, 0, 0xff, 0xff),                                                     \
	    SPC_OP_ROW(LOG_SENSE, 0, 10, OPF_DATA_IN | OPF_CONFLICT_OK, spc_log_sense,             \
		       "LOG SENSE", 0x01, 0xff, 0xff, 0, 0xff, 0xff, 0xff, 0xff),                  \
	    SPC_OP_ROW(MODE_SELECT_10, 0, 10, OPF_DATA_OUT, spc_mode_select, "MODE SELECT(10)",    \
		       0x11, 0, 0, 0, 0, 0, 0xff, 0xff),                                           \
	    SPC_OP_ROW(MODE_SENSE_10, 0, 10, OPF_DATA_IN, spc_mode_sense, "MODE SENSE(10)", 0x18,  \
		       0xff, 0xff, 0, 0, 0, 0xff, 0xff),                                           \
	    SPC_OP_PRIN(0x00, "READ KEYS"), SPC_OP_PRIN(0x01, "READ RESERVATION"),                 \
	    SPC_OP_PRIN(0x02, "REPORT CAPABILITIES"), SPC_OP_PRIN(0x03, "READ FULL STATUS"),       \
	    SPC_OP_PROUT(0x00, "REGISTER"), SPC_OP_PROUT(0x01, "RESERVE"),                         \
	    SPC_OP_PROUT(0x02, "RELEASE"), SPC_OP_PROUT(0x03, "CLEAR"),                            \
	    SPC_OP_PROUT(0x04, "PREEMPT"), SPC_OP_PROUT(0x05, "PREEMPT AND ABORT"),                \
	    SPC_OP_PROUT(0x06, "REGISTER AND IGNORE EXISTING KEY"),                                \
	    SPC_OP_ROW(MAINTENANCE_IN, MI_REPORT_SUPPORTED_OPERATION_CODES, 12,                    \
		       OPF_SA | OPF_DATA_IN | OPF_CONFLICT_OK, spc_report_supported_opcodes,       \
		       "REPORT SUPPORTED OPERATION CODES", 0x1f, 0x87, 0xff, 0xff, 0xff, 0xff,     \
		       0xff, 0xff, 0xff, 0),                                                       \
	    SPC_OP_ROW(MAINTENANCE_IN, MI_REPORT_SUPPORTED_TMFS, 12,                               \
		       OPF_SA | OPF_DATA_IN | OPF_CONFLICT_OK, spc_report_supported_tmfs,          \
		       "REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS", 0x1f, 0x80, 0, 0, 0, 0xff,    \
		       0xff, 0xff, 0xff, 0),                                                       \
	    SPC_OP_ROW(MAINTENANCE_IN, MI_REPORT_TIMESTAMP, 12,                                    \
		       OPF_SA | OPF_DATA_IN | OPF_CONFLICT_OK, spc_report_timestamp,               \
		       "REPORT TIMESTAMP", 0x1f, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0),           \
	    SPC_OP_ROW(MAINTENANCE_OUT, MO_SET_TIMESTAMP, 12, OPF_SA | OPF_DATA_OUT,               \
		       spc_set_timestamp, "SET TIMESTAMP", 0x1f, 0, 0, 0, 0, 0xff, 0xff, 0xff,     \
		       0xff, 0)

/*
 * The 6-byte SPC-4 rows that are the same in every device type's table.
 * They are single rows, not one block like SPC_OPS_SHARED, because the
 * 6-byte opcodes interleave with the device's own in the opcode order each
 * table keeps, and REPORT SUPPORTED OPERATION CODES lists rows in table
 * order.
 */
#define SPC_OP_REQUEST_SENSE                                                                       \
	SPC_OP_ROW(REQUEST_SENSE, 0, 6,                                                            \
		   OPF_UA_OK | OPF_CONFLICT_OK | OPF_DATA_IN | OPF_NOT_READY_OK,                   \
		   spc_request_sense, "REQUEST SENSE", 0x01, 0, 0, 0xff)
#define SPC_OP_INQUIRY                                                                             \
	SPC_OP_ROW(INQUIRY, 0, 6, OPF_UA_OK | OPF_CONFLICT_OK | OPF_DATA_IN | OPF_NOT_READY_OK,    \
		   spc_inquiry, "INQUIRY", 0x01, 0xff, 0xff, 0xff)
#define SPC_OP_MODE_SELECT_6                                                                       \
	SPC_OP_ROW(MODE_SELECT_6, 0, 6, OPF_DATA_OUT, spc_mode_select, "MODE SELECT(6)", 0x11, 0,  \
		   0, 0xff)
#define SPC_OP_RESERVE_6 SPC_OP_ROW(RESERVE_6, 0, 6, 0, spc_reserve6, "RESERVE(6)", 0, 0, 0, 0)
#define SPC_OP_RELEASE_6                                                                           \
	SPC_OP_ROW(RELEASE_6, 0, 6, OPF_CONFLICT_OK, spc_release6, "RELEASE(6)", 0, 0, 0, 0)
#define SPC_OP_MODE_SENSE_6                                                                        \
	SPC_OP_ROW(MODE_SENSE_6, 0, 6, OPF_DATA_IN, spc_mode_sense, "MODE SENSE(6)", 0x08, 0xff,   \
		   0xff, 0xff)
#define SPC_OP_PREVENT_ALLOW                                                                       \
	SPC_OP_ROW(PREVENT_ALLOW_MEDIUM_REMOVAL, 0, 6, 0, spc_prevent_allow,                       \
		   "PREVENT ALLOW MEDIUM REMOVAL", 0, 0, 0, 0x03)

/* A VPD page: fill writes the whole page (header included) into buf, at
 * most cap bytes, and returns the page's full length. present, when not
 * NULL, says whether this logical unit has the page (a vendor page of one
 * personality of the device type); a page it lacks is neither listed in
 * page 00h nor answered. */
struct spc_vpd_page {
	uint8_t page;
	uint32_t (*fill)(struct scsi_dev *dev, uint8_t *buf, uint32_t cap);
	bool (*present)(const struct scsi_dev *dev);
};

/* Page control values of MODE SENSE (SPC-4 6.11 table 98). */
enum { MODE_PC_CURRENT = 0, MODE_PC_CHANGEABLE = 1, MODE_PC_DEFAULT = 2, MODE_PC_SAVED = 3 };

/*
 * A mode page. `len` is the whole page including its 2-byte (page_0) or
 * 4-byte (sub_page) header. sense() fills exactly len bytes for page control
 * pc. select() receives a page already checked against the changeable mask
 * (a change to a bit that is not changeable is INVALID FIELD IN PARAMETER
 * LIST, set by the framework); it applies the page or sets sense and
 * returns -1; `offset` is the page's offset in the parameter list, for the
 * field pointer.
 */
struct spc_mode_page {
	uint8_t page;
	uint8_t subpage;
	uint8_t len;
	void (*sense)(struct scsi_dev *dev, int pc, uint8_t *page);
	int (*select)(struct scsi_dev *dev, struct scsi_cmd *cmd, const uint8_t *page,
		      uint16_t offset);
};

/* A log page: fill writes the page (4-byte header included), at most cap
 * bytes, and returns its full length. reset() clears its counters (LOG
 * SELECT PCR) and may be NULL. */
struct spc_log_page {
	uint8_t page;
	uint8_t subpage;
	/* Copies at most cap bytes of the page to buf and returns its full
	 * length. cap is what the host asked for (or more), so a page that is
	 * cleared when read (TapeAlert 2Eh) clears only when cap >= length:
	 * sg_logs' first 4-byte request for the header clears nothing. */
	uint32_t (*fill)(struct scsi_dev *dev, uint8_t *buf, uint32_t cap);
	void (*reset)(struct scsi_dev *dev);
};

/* What a device type supplies to the common code. */
struct scsi_dev_type {
	uint8_t peripheral_type;
	const struct scsi_op *ops;
	size_t n_ops;
	const struct spc_vpd_page *vpd; /* beyond 0x00, 0x80, 0x83, which spc.c builds */
	size_t n_vpd;
	const struct spc_mode_page *mode;
	size_t n_mode;
	const struct spc_log_page *log; /* beyond page 0x00, which spc.c builds */
	size_t n_log;
	/* NULL means always ready. Otherwise return 0 when ready, or the
	 * ASC/ASCQ of the NOT READY condition (e.g. ASC_MEDIUM_NOT_PRESENT). */
	uint16_t (*not_ready)(struct scsi_dev *dev);
	/* NULL, or run before every command but INQUIRY, REPORT LUNS and
	 * REQUEST SENSE, after reservations and unit attentions: false
	 * (with sense set) ends the command there, unexecuted, as a
	 * deferred error does (SPC-4 4.5.5). */
	bool (*before)(struct scsi_dev *dev, struct scsi_cmd *cmd);
	/* NULL, or run first of all, dev->lock just taken: it may wait on a
	 * condition variable with dev->lock (which releases it meanwhile),
	 * since nothing of the command has been looked at yet. */
	void (*wait)(struct scsi_dev *dev, const struct scsi_cmd *cmd);
	/* Mode parameter header and block descriptor (SPC-4 7.5.4/7.5.5):
	 * device-specific parameter byte and an optional 8-byte short block
	 * descriptor; bd NULL when the type has none. */
	uint8_t (*mode_dev_specific)(struct scsi_dev *dev);
	/* The header's MEDIUM TYPE byte (SPC-4 7.5.5: its meaning is the
	 * device type's); NULL means 00h. */
	uint8_t (*mode_medium_type)(struct scsi_dev *dev);
	bool (*mode_block_desc)(struct scsi_dev *dev, uint8_t bd[8]);
	/* MODE SELECT of header + block descriptor; NULL if nothing is settable.
	 * dev_specific is the header byte, bd NULL when no descriptor was sent. */
	int (*mode_select_header)(struct scsi_dev *dev, struct scsi_cmd *cmd, uint8_t dev_specific,
				  const uint8_t *bd, uint16_t bd_offset);
	/* State of the type that a logical unit reset (spc_lun_reset) or the
	 * loss of an I_T nexus (spc_nexus_gone) ends; NULL when none. */
	void (*lun_reset)(struct scsi_dev *dev);
	void (*nexus_gone)(struct scsi_dev *dev, uint64_t nexus);
	/* MODE SELECT of the Informational Exceptions Control page with TEST
	 * set: act on its TEST FLAG NUMBER (tapealert_test); -EINVAL refuses
	 * the number. NULL: TEST is not changeable. */
	int (*tapealert_test)(struct scsi_dev *dev, int32_t number);
	/* The TapeAlert flags the logical unit has set now (flag n in bit
	 * n-1): a flag newly set is an informational exception condition,
	 * reported as the Informational Exceptions Control page's MRIE says
	 * (spc_ie_report). NULL: the type has none. */
	uint64_t (*ie_flags)(struct scsi_dev *dev);
	/* NULL, or run at the end of every command spc_dispatch completes
	 * (dev->lock held), with its status and sense: the tape drive keeps
	 * its medium and hardware errors for the tape diagnostic data log
	 * page (ssc_logs.c). */
	void (*after)(struct scsi_dev *dev, const struct scsi_cmd *cmd);
};

/*
 * A standard INQUIRY laid out as a vendor documents it rather than SPC-4's
 * full 96-byte answer with version descriptors (scsi/personality.c, e.g.
 * IBM's 3584 library): the bytes that differ and the total length (36 to
 * 56); bytes 36 up to the length are the ident's inq_vs.
 */
struct spc_inquiry_layout {
	uint8_t version; /* byte 2 */
	uint8_t flags3;	 /* byte 3: NORMACA, HISUP, RESPONSE DATA FORMAT */
	uint8_t flags6;	 /* byte 6, e.g. IBM's BarC in the vendor specific bit 5 */
	uint8_t flags7;	 /* byte 7: CMDQUE */
	uint8_t length;
};

/* Device identity, shown by INQUIRY and VPD 0x80/0x83. Strings are ASCII,
 * padded with spaces by the INQUIRY builder. */
struct spc_ident {
	char vendor[9];
	char product[17];
	char revision[5];
	char serial[33];
	uint64_t naa;	   /* NAA IEEE Registered designator (type 6 high 64 bits) */
	uint16_t rel_port; /* relative target port identifier */
	const struct spc_inquiry_layout *inq; /* NULL: SPC-4's standard INQUIRY */
	uint8_t inq_vs[20];		      /* standard INQUIRY bytes 36..55, vendor specific */
};

#define SPC_UA_QUEUE 8

#define SPC_PORT_NAME_MAX 256

struct spc_nexus {
	uint64_t id;
	char port_name[SPC_PORT_NAME_MAX]; /* scsi_cmd.initiator_port, "" if none */
	uint16_t ua[SPC_UA_QUEUE];	   /* pending unit attention ASC/ASCQ, oldest first */
	uint8_t n_ua;
};

#define SPC_MAX_PR_KEYS 64

struct spc_pr_reg {
	uint64_t nexus;
	uint64_t key;
	char port_name[SPC_PORT_NAME_MAX]; /* for READ FULL STATUS TransportIDs */
};

struct spc_pr {
	uint32_t generation;
	struct spc_pr_reg regs[SPC_MAX_PR_KEYS];
	uint32_t n_regs;
	bool held;
	uint64_t holder; /* nexus, meaningless for all-registrants types */
	uint64_t holder_key;
	uint8_t type; /* SPC-4 6.15.2 table 175 */
	bool aptpl;
};

struct scsi_dev {
	pthread_mutex_t lock;
	const struct scsi_dev_type *type;
	struct spc_ident ident;
	void *priv; /* the device type's state (struct ssc_drive, struct smc_changer) */

	struct spc_nexus *nexus;
	size_t n_nexus;

	/* RESERVE(6)/RELEASE(6) (SPC-2 7.21/7.16). */
	bool resv6_held;
	uint64_t resv6_holder;
	struct spc_pr pr;

	/* Control mode page (SPC-4 7.5.7). */
	bool d_sense;
	bool tst_per_nexus;

	/* Informational Exceptions Control mode page (SPC-4 7.5): the
	 * changeable fields, zero (enabled, MRIE 0) at power on. */
	uint8_t iec_flags; /* page byte 2: DEXCPT, LOGERR */
	uint8_t iec_mrie;
	uint32_t iec_interval;
	uint32_t iec_count;
	/* Informational exception reporting (spc_ie_report): the flags seen
	 * after the last command, and a condition waiting to be reported
	 * with its ASC/ASCQ (0: none). */
	uint64_t ie_seen;
	uint16_t ie_pending;
	bool ie_test; /* the next condition comes from a TEST FLAG NUMBER */

	/* Timestamp (SPC-4 5.12): device clock = monotonic ms + offset. */
	int64_t ts_offset_ms;
	uint8_t ts_origin;

	bool prevent_removal; /* PREVENT ALLOW MEDIUM REMOVAL */
	uint64_t prevent_nexus;
};

/* Set up the common part. The caller fills ident and priv afterwards. */
int spc_dev_init(struct scsi_dev *dev, const struct scsi_dev_type *type);
void spc_dev_destroy(struct scsi_dev *dev);

/*
 * Run one command to completion: lookup, unit attention, reserved bits,
 * reservations, readiness, handler. Takes dev->lock.
 */
void spc_dispatch(struct scsi_dev *dev, struct scsi_cmd *cmd);

/* SAM-5 / SPC-4 4.2.5.1: a CDB's length from its opcode's group code; 0
 * for the variable-length and vendor-specific groups. */
uint8_t spc_cdb_len(uint8_t opcode);

/* Find the table row for a CDB, NULL if unsupported. */
const struct scsi_op *spc_find_op(const struct scsi_dev_type *type, uint8_t opcode, uint8_t sa);

/* Unit attentions (SAM-5 5.14). Call with dev->lock held. */
void spc_ua_raise_all(struct scsi_dev *dev, uint16_t asc_ascq);
/*
 * After a command (dispatch, with dev->lock held): report a pending
 * informational exception on it if MRIE 3h, 4h or 5h says so, then note
 * the TapeAlert flags the command newly set as a new condition (SPC-4
 * 7.5.7, Informational Exceptions Control mode page).
 */
void spc_ie_report(struct scsi_dev *dev, struct scsi_cmd *cmd);
void spc_ua_raise_others(struct scsi_dev *dev, uint64_t nexus, uint16_t asc_ascq);
void spc_ua_raise(struct scsi_dev *dev, uint64_t nexus, uint16_t asc_ascq);
/* Take the oldest pending unit attention of a nexus; false if none. */
bool spc_ua_pop(struct scsi_dev *dev, uint64_t nexus, uint16_t *asc_ascq);
/* The nexus's state, created on first sight with POWER ON pending. */
struct spc_nexus *spc_nexus_get(struct scsi_dev *dev, uint64_t nexus);
/* An I_T nexus went away (logout, connection loss): forget its state. */
void spc_nexus_gone(struct scsi_dev *dev, uint64_t nexus);
/* LUN RESET / target reset task management: reset reservations (not PR),
 * raise the reset unit attention, and let the type react. */
void spc_lun_reset(struct scsi_dev *dev, uint64_t from_nexus);

/* Copy `len` bytes of built response into cmd->in, truncated at in_cap and
 * at the CDB's allocation length; sets in_len. */
void spc_respond(struct scsi_cmd *cmd, const void *buf, uint32_t len, uint32_t alloc_len);

/* Copy a space-padded ASCII field. */
void spc_pad_ascii(uint8_t *dst, const char *src, size_t width);

/* Does a reservation (RESERVE(6) or persistent) stop this command from
 * this nexus? Used by the dispatcher (SPC-4 5.13.1 table 63). */
bool spc_reservation_conflict(struct scsi_dev *dev, const struct scsi_op *op,
			      const struct scsi_cmd *cmd);

/* SPC-4 handlers, for device tables to reference. */
void spc_test_unit_ready(struct scsi_dev *dev, struct scsi_cmd *cmd);
void spc_inquiry(struct scsi_dev *dev, struct scsi_cmd *cmd);
void spc_request_sense(struct scsi_dev *dev, struct scsi_cmd *cmd);
void spc_mode_sense(struct scsi_dev *dev, struct scsi_cmd *cmd);  /* 6 and 10 */
void spc_mode_select(struct scsi_dev *dev, struct scsi_cmd *cmd); /* 6 and 10 */
void spc_log_sense(struct scsi_dev *dev, struct scsi_cmd *cmd);
void spc_log_select(struct scsi_dev *dev, struct scsi_cmd *cmd);
void spc_report_supported_opcodes(struct scsi_dev *dev, struct scsi_cmd *cmd);
void spc_report_supported_tmfs(struct scsi_dev *dev, struct scsi_cmd *cmd);
void spc_report_timestamp(struct scsi_dev *dev, struct scsi_cmd *cmd);
void spc_set_timestamp(struct scsi_dev *dev, struct scsi_cmd *cmd);
void spc_reserve6(struct scsi_dev *dev, struct scsi_cmd *cmd);
void spc_release6(struct scsi_dev *dev, struct scsi_cmd *cmd);
void spc_persistent_reserve_in(struct scsi_dev *dev, struct scsi_cmd *cmd);
void spc_persistent_reserve_out(struct scsi_dev *dev, struct scsi_cmd *cmd);
void spc_prevent_allow(struct scsi_dev *dev, struct scsi_cmd *cmd);
void spc_send_diagnostic(struct scsi_dev *dev, struct scsi_cmd *cmd);

/*
 * Generic mode pages any device type may list in its mode table:
 * control (SPC-4 7.5.7; D_SENSE changeable, drives dev->d_sense), control
 * extension (SPC-4 7.5.8, subpage 0x01) and Informational Exceptions
 * Control (SPC-4 7.5, page 0x1C).
 */
extern const struct spc_mode_page spc_control_mode_page;
extern const struct spc_mode_page spc_control_ext_mode_page;
extern const struct spc_mode_page spc_informational_exceptions_mode_page;

/* Current device clock in milliseconds since the epoch (SPC-4 5.12). */
uint64_t spc_timestamp_now(const struct scsi_dev *dev);

#endif
