/*
 * scsi.h - the transport-neutral SCSI command, as frontends hand it to the
 * device emulation in scsi/.
 *
 * A frontend (the built-in iSCSI target, the TCMU ring) fills a struct
 * scsi_cmd with the CDB, the I_T nexus it came from and, for a data-out
 * command, all of its data; it points `in` at a buffer of the initiator's
 * expected data-in length. The device writes at most in_cap bytes there,
 * sets in_len to what it produced and sets status and, for CHECK CONDITION,
 * the sense data. The frontend computes the residual from in_len (SAM-5
 * 5.2: an under- or overrun is the transport's to report). in_len may
 * exceed in_cap when the command had more to return than the room given
 * (READ of a record larger than the initiator expects); only in_cap bytes
 * are in `in`, and the frontend reports the excess as an overflow.
 *
 * Nothing in scsi/ does network I/O or owns a thread.
 */
#ifndef VTL_SCSI_H
#define VTL_SCSI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* SAM-5 5.3 status codes. */
enum {
	SAM_STAT_GOOD = 0x00,
	SAM_STAT_CHECK_CONDITION = 0x02,
	SAM_STAT_CONDITION_MET = 0x04,
	SAM_STAT_BUSY = 0x08,
	SAM_STAT_RESERVATION_CONFLICT = 0x18,
	SAM_STAT_TASK_SET_FULL = 0x28,
	SAM_STAT_ACA_ACTIVE = 0x30,
	SAM_STAT_TASK_ABORTED = 0x40,
};

/* SPC-4 4.5: 252 bytes is the largest sense data a device may return. */
#define SCSI_SENSE_MAX 252

struct scsi_cmd {
	uint64_t lun;
	/*
	 * The I_T nexus (SAM-5 4.7): the frontend derives `nexus` from the
	 * initiator port name and the target port, so the same initiator port
	 * gets the same id in every session (persistent reservations are held
	 * by the I_T nexus, not by a login); never 0. initiator_port is that
	 * name as SPC-4 7.6.4 TransportIDs spell it (iSCSI: "iqn...,i,0x<ISID>"),
	 * or NULL when the frontend has none.
	 */
	uint64_t nexus;
	const char *initiator_port;
	/*
	 * The target port the command came through, for the port designators
	 * of VPD page 83h (SPC-4 7.8.6): its name as a SCSI name string
	 * designator spells it (iSCSI: "iqn...,t,0x<TPGT>", SPC-4 7.8.6.11;
	 * RFC 7143 4.4.1) and the SPC-4 protocol identifier of the transport
	 * (SPC-4 7.6.1 table 362: iSCSI 5). NULL when the frontend does not
	 * know them (TCMU: the port is LIO's); then the page carries the
	 * relative target port alone, without a protocol.
	 */
	const char *target_port;
	uint8_t target_proto;
	uint8_t cdb[16];
	uint8_t cdb_len;

	const uint8_t *out; /* data-out, all of it, received before dispatch */
	uint32_t out_len;
	/*
	 * 0: `out` is the frontend's and is only read. Otherwise the
	 * frontend lends it: `out` was malloc'd with out_size bytes
	 * (>= out_len), and the device may keep it (a WRITE whose block is
	 * written behind: no copy), setting `out` and out_size to a
	 * malloc'd buffer it no longer needs, or to NULL and 0. After the
	 * command the frontend owns, and in the end frees, the buffer `out`
	 * names then.
	 */
	size_t out_size;

	uint8_t *in; /* data-in buffer of the expected transfer length */
	uint32_t in_cap;
	uint32_t in_len; /* bytes the device produced */
	/*
	 * 0: `in` is the frontend's and is only written to (TCMU: the
	 * ring's data area). Otherwise the frontend lends it: `in` was
	 * malloc'd with in_size bytes (>= in_cap), and the device may
	 * exchange it for a malloc'd buffer of its own that already holds
	 * the data (a READ of a block read ahead: no copy), setting `in`
	 * and in_size (still >= in_cap) to it and keeping the old one.
	 * After the command the frontend owns, and in the end frees, the
	 * buffer `in` names then, whatever the device does later.
	 */
	size_t in_size;

	uint8_t status;
	uint8_t sense_len;
	bool desc_sense; /* set by the dispatcher from the control mode page */
	uint8_t sense[SCSI_SENSE_MAX];
};

#define SCSI_PROTO_ISCSI 5 /* SPC-4 7.6.1 table 362 */

/* Operation codes used by this project (SPC-4, SSC-4, SMC-3). */
enum {
	TEST_UNIT_READY = 0x00,
	REWIND = 0x01,
	REQUEST_SENSE = 0x03,
	FORMAT_MEDIUM = 0x04,
	READ_BLOCK_LIMITS = 0x05,
	INITIALIZE_ELEMENT_STATUS = 0x07,
	READ_6 = 0x08,
	WRITE_6 = 0x0a,
	POSITION_TO_ELEMENT = 0x2b,
	WRITE_FILEMARKS_6 = 0x10,
	SPACE_6 = 0x11,
	INQUIRY = 0x12,
	VERIFY_6 = 0x13,
	MODE_SELECT_6 = 0x15,
	RESERVE_6 = 0x16,
	RELEASE_6 = 0x17,
	ERASE_6 = 0x19,
	MODE_SENSE_6 = 0x1a,
	LOAD_UNLOAD = 0x1b,
	RECEIVE_DIAGNOSTIC_RESULTS = 0x1c,
	SEND_DIAGNOSTIC = 0x1d,
	PREVENT_ALLOW_MEDIUM_REMOVAL = 0x1e,
	READ_FORMAT_CAPACITIES = 0x23,
	LOCATE_10 = 0x2b,
	READ_POSITION = 0x34,
	READ_BUFFER = 0x3c,
	WRITE_BUFFER = 0x3b,
	REPORT_DENSITY_SUPPORT = 0x44,
	LOG_SELECT = 0x4c,
	LOG_SENSE = 0x4d,
	MODE_SELECT_10 = 0x55,
	RESERVE_10 = 0x56,
	RELEASE_10 = 0x57,
	MODE_SENSE_10 = 0x5a,
	PERSISTENT_RESERVE_IN = 0x5e,
	PERSISTENT_RESERVE_OUT = 0x5f,
	EXTENDED_COPY = 0x83,
	READ_ATTRIBUTE = 0x8c,
	WRITE_ATTRIBUTE = 0x8d,
	LOCATE_16 = 0x92,
	ERASE_16 = 0x93,
	SPACE_16 = 0x91,
	WRITE_FILEMARKS_16 = 0x80,
	ALLOW_OVERWRITE = 0x82,
	READ_16 = 0x88,
	WRITE_16 = 0x8a,
	VERIFY_16 = 0x8f,
	REPORT_LUNS = 0xa0,
	SECURITY_PROTOCOL_IN = 0xa2,
	SECURITY_PROTOCOL_OUT = 0xb5,
	MAINTENANCE_IN = 0xa3,
	MAINTENANCE_OUT = 0xa4,
	MOVE_MEDIUM = 0xa5,
	EXCHANGE_MEDIUM = 0xa6,
	OPEN_CLOSE_IMPORT_EXPORT_ELEMENT = 0x1b,
	READ_MEDIA_SERIAL_NUMBER = 0xab, /* SERVICE ACTION IN(12), SA 0x01 */
	SERVICE_ACTION_IN_12 = 0xab,
	REQUEST_VOLUME_ELEMENT_ADDRESS = 0xb5,
	SEND_VOLUME_TAG = 0xb6,
	READ_ELEMENT_STATUS = 0xb8,
	INITIALIZE_ELEMENT_STATUS_WITH_RANGE = 0xe7,
	/* The same command under its SMC-3 opcode; 0xE7 is the vendor one
	 * that STK and HP libraries (and software for them) use. */
	INITIALIZE_ELEMENT_STATUS_WITH_RANGE_STD = 0x37,
};

/* MAINTENANCE IN / OUT service actions (SPC-4 6.1). */
enum {
	MI_REPORT_IDENTIFYING_INFORMATION = 0x05,
	MI_REPORT_TARGET_PORT_GROUPS = 0x0a,
	MI_REPORT_SUPPORTED_OPERATION_CODES = 0x0c,
	MI_REPORT_SUPPORTED_TMFS = 0x0d,
	MI_REPORT_TIMESTAMP = 0x0f,
	MO_SET_TIMESTAMP = 0x0f,
	SAI12_READ_MEDIA_SERIAL_NUMBER = 0x01,
};

/* Peripheral device types (SPC-4 6.6.2 table 141). */
enum {
	SCSI_TYPE_TAPE = 0x01,
	SCSI_TYPE_CHANGER = 0x08,
};

#endif
