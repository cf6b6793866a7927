/*
 * sense.h - the one place sense data is built (SPC-4 4.5).
 *
 * Handlers never write sense bytes themselves: they call sense_set() and its
 * variants with a sense key and one of the named ASC/ASCQ pairs below. The
 * builder produces fixed format (SPC-4 4.5.3) or descriptor format
 * (SPC-4 4.5.2) sense according to cmd->desc_sense, which the dispatcher
 * copies from the D_SENSE bit of the control mode page.
 */
#ifndef VTL_SENSE_H
#define VTL_SENSE_H

#include "scsi.h"

/* Sense keys (SPC-4 4.5.6 table 27). */
enum {
	SK_NO_SENSE = 0x0,
	SK_RECOVERED_ERROR = 0x1,
	SK_NOT_READY = 0x2,
	SK_MEDIUM_ERROR = 0x3,
	SK_HARDWARE_ERROR = 0x4,
	SK_ILLEGAL_REQUEST = 0x5,
	SK_UNIT_ATTENTION = 0x6,
	SK_DATA_PROTECT = 0x7,
	SK_BLANK_CHECK = 0x8,
	SK_VENDOR_SPECIFIC = 0x9,
	SK_COPY_ABORTED = 0xa,
	SK_ABORTED_COMMAND = 0xb,
	SK_VOLUME_OVERFLOW = 0xd,
	SK_MISCOMPARE = 0xe,
};

/*
 * ASC/ASCQ pairs (SPC-4 annex D), as one 16-bit value: ASC << 8 | ASCQ.
 * Only the ones this project uses are named; add here, never inline.
 */
enum {
	ASC_NO_ADDITIONAL_SENSE = 0x0000,
	ASC_FILEMARK_DETECTED = 0x0001,
	ASC_END_OF_PARTITION_MEDIUM_DETECTED = 0x0002,
	ASC_BEGINNING_OF_PARTITION_MEDIUM_DETECTED = 0x0004,
	ASC_END_OF_DATA_DETECTED = 0x0005,
	ASC_PROGRAMMABLE_EARLY_WARNING_DETECTED = 0x0007,
	ASC_OPERATION_IN_PROGRESS = 0x0016,
	ASC_LUN_NOT_READY_CAUSE_NOT_REPORTABLE = 0x0400,
	ASC_LUN_BECOMING_READY = 0x0401,
	ASC_LUN_NOT_READY_INIT_REQUIRED = 0x0402,
	ASC_LUN_NOT_READY_MANUAL_INTERVENTION = 0x0403,
	ASC_WRITE_ERROR = 0x0c00,
	ASC_LOGICAL_BLOCK_GUARD_CHECK_FAILED = 0x1001,
	ASC_MAM_WRITE_ERROR = 0x0c0b, /* AUXILIARY MEMORY WRITE ERROR */
	ASC_UNRECOVERED_READ_ERROR = 0x1100,
	ASC_MISCOMPARE_DURING_VERIFY = 0x1d00,
	ASC_RECORDED_ENTITY_NOT_FOUND = 0x1400,
	ASC_LOCATE_OPERATION_FAILURE = 0x1407,
	ASC_SEQUENTIAL_POSITIONING_ERROR = 0x3b00,
	ASC_PARAMETER_LIST_LENGTH_ERROR = 0x1a00,
	ASC_INVALID_COMMAND_OPERATION_CODE = 0x2000,
	ASC_LBA_OUT_OF_RANGE = 0x2100,
	ASC_INVALID_ELEMENT_ADDRESS = 0x2101,
	ASC_INVALID_FIELD_IN_CDB = 0x2400,
	ASC_LOGICAL_UNIT_NOT_SUPPORTED = 0x2500,
	ASC_INVALID_FIELD_IN_PARAMETER_LIST = 0x2600,
	ASC_PARAMETER_NOT_SUPPORTED = 0x2601,
	ASC_PARAMETER_VALUE_INVALID = 0x2602,
	ASC_INVALID_RELEASE_OF_PERSISTENT_RESERVATION = 0x2604,
	ASC_WRITE_PROTECTED = 0x2700,
	ASC_HARDWARE_WRITE_PROTECTED = 0x2701,
	ASC_NOT_READY_TO_READY_CHANGE = 0x2800,
	ASC_IMPORT_OR_EXPORT_ELEMENT_ACCESSED = 0x2801,
	ASC_POWER_ON_RESET_OR_BUS_DEVICE_RESET = 0x2900,
	ASC_COMMAND_SEQUENCE_ERROR = 0x2c00,
	ASC_POWER_ON_OCCURRED = 0x2901,
	ASC_SCSI_BUS_RESET_OCCURRED = 0x2902,
	ASC_BUS_DEVICE_RESET_FUNCTION_OCCURRED = 0x2903,
	ASC_I_T_NEXUS_LOSS_OCCURRED = 0x2907,
	ASC_PARAMETERS_CHANGED = 0x2a00,
	ASC_MODE_PARAMETERS_CHANGED = 0x2a01,
	ASC_LOG_PARAMETERS_CHANGED = 0x2a02,
	ASC_RESERVATIONS_PREEMPTED = 0x2a03,
	ASC_RESERVATIONS_RELEASED = 0x2a04,
	ASC_REGISTRATIONS_PREEMPTED = 0x2a05,
	ASC_TIMESTAMP_CHANGED = 0x2a10,
	/* Tape data encryption (SSC-4 4.2.26, 8.5; SPC-4 table of ASCs). */
	ASC_ENCRYPTION_PARAMETERS_CHANGED_BY_ANOTHER_NEXUS = 0x2a11,
	ASC_ENCRYPTION_PARAMETERS_CHANGED_BY_VENDOR_EVENT = 0x2a12,
	ASC_ENCRYPTION_KEY_INSTANCE_COUNTER_CHANGED = 0x2a13,
	ASC_INCOMPLETE_KEY_ASSOCIATED_DATA_SET = 0x2611,
	ASC_COMMANDS_CLEARED_BY_ANOTHER_INITIATOR = 0x2f00,
	ASC_INCOMPATIBLE_MEDIUM_INSTALLED = 0x3000,
	ASC_CANNOT_READ_MEDIUM_UNKNOWN_FORMAT = 0x3001,
	ASC_CLEANING_CARTRIDGE_INSTALLED = 0x3003,
	ASC_CANNOT_WRITE_MEDIUM_INCOMPATIBLE_FORMAT = 0x3005,
	ASC_WORM_MEDIUM_OVERWRITE_ATTEMPTED = 0x300c,
	ASC_MEDIUM_FORMAT_CORRUPTED = 0x3100,
	ASC_SAVING_PARAMETERS_NOT_SUPPORTED = 0x3900,
	ASC_MEDIUM_NOT_PRESENT = 0x3a00,
	ASC_MEDIUM_NOT_PRESENT_TRAY_CLOSED = 0x3a01,
	ASC_MEDIUM_DESTINATION_ELEMENT_FULL = 0x3b0d,
	ASC_MEDIUM_SOURCE_ELEMENT_EMPTY = 0x3b0e,
	ASC_END_OF_MEDIUM_REACHED = 0x3b0f,
	ASC_MEDIUM_MAGAZINE_NOT_ACCESSIBLE = 0x3b11,
	ASC_MEDIUM_MAGAZINE_REMOVED = 0x3b12,
	ASC_MEDIUM_MAGAZINE_INSERTED = 0x3b13,
	ASC_ECHO_BUFFER_OVERWRITTEN = 0x3f0f,
	ASC_INQUIRY_DATA_HAS_CHANGED = 0x3f03,
	ASC_REPORTED_LUNS_DATA_HAS_CHANGED = 0x3f0e,
	ASC_INTERNAL_TARGET_FAILURE = 0x4400,
	ASC_OVERLAPPED_COMMANDS_ATTEMPTED = 0x4e00,
	ASC_WRITE_APPEND_POSITION_ERROR = 0x5001,
	ASC_MEDIUM_LOAD_OR_EJECT_FAILED = 0x5300,
	ASC_UNLOAD_TAPE_FAILURE = 0x5301,
	ASC_MEDIUM_REMOVAL_PREVENTED = 0x5302,
	ASC_SYSTEM_RESOURCE_FAILURE = 0x5500,
	ASC_INSUFFICIENT_REGISTRATION_RESOURCES = 0x5504,
	ASC_OPERATOR_MEDIUM_REMOVAL_REQUEST = 0x5a01,
	ASC_FAILURE_PREDICTION_THRESHOLD_EXCEEDED = 0x5d00,
	ASC_FAILURE_PREDICTION_THRESHOLD_EXCEEDED_FALSE = 0x5dff,
	ASC_SECURITY_ERROR = 0x7400,
	ASC_UNABLE_TO_DECRYPT_DATA = 0x7401,
	ASC_UNENCRYPTED_DATA_WHILE_DECRYPTING = 0x7402,
	ASC_INCORRECT_DATA_ENCRYPTION_KEY = 0x7403,
	ASC_CRYPTOGRAPHIC_INTEGRITY_VALIDATION_FAILED = 0x7404,
	ASC_ENCRYPTED_BLOCK_NOT_RAW_READ_ENABLED = 0x740a,
};

/* Fixed-format flag bits in byte 2 (SPC-4 4.5.3 table 26). */
enum {
	SENSE_FILEMARK = 0x80,
	SENSE_EOM = 0x40,
	SENSE_ILI = 0x20,
};

/* Plain CHECK CONDITION with key and ASC/ASCQ. */
void sense_set(struct scsi_cmd *cmd, uint8_t key, uint16_t asc_ascq);

/*
 * CHECK CONDITION carrying the stream-command bits (FILEMARK, EOM, ILI) and
 * the INFORMATION field with VALID set (SSC-4 4.2.13: the residue of a READ,
 * WRITE or SPACE that stopped early). The key may be NO SENSE.
 */
void sense_set_info(struct scsi_cmd *cmd, uint8_t key, uint16_t asc_ascq, uint8_t flags,
		    int64_t info);

/*
 * ILLEGAL REQUEST with the sense-key specific field pointer (SPC-4 4.5.2.4.2):
 * `in_cdb` true for a CDB field, false for the parameter list; `byte` is the
 * field's byte offset and `bit` its most significant bit, or -1 when the
 * whole byte is at fault.
 */
void sense_set_field(struct scsi_cmd *cmd, uint16_t asc_ascq, bool in_cdb, uint16_t byte, int bit);

/* INVALID FIELD IN CDB at byte/bit: the common case of sense_set_field. */
void sense_invalid_cdb(struct scsi_cmd *cmd, uint16_t byte, int bit);

/* INVALID FIELD IN PARAMETER LIST at byte/bit. */
void sense_invalid_param(struct scsi_cmd *cmd, uint16_t byte, int bit);

/*
 * Make the sense data just set a deferred error (SPC-4 4.5.5, "Deferred
 * errors": response code 71h fixed, 73h descriptor): it describes a
 * command that already returned GOOD, not the one it is returned to.
 */
void sense_make_deferred(struct scsi_cmd *cmd);

/* Clear the command to GOOD with no sense. */
void sense_clear(struct scsi_cmd *cmd);

/* Decoders, for tests and logs: key, ASC/ASCQ, flags and info of either format. */
uint8_t sense_key(const uint8_t *sense, size_t len);
uint16_t sense_asc(const uint8_t *sense, size_t len);
uint8_t sense_flags(const uint8_t *sense, size_t len);
bool sense_info(const uint8_t *sense, size_t len, int64_t *info);

#endif
