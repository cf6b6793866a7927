/*
 * pdu.h - iSCSI PDU wire format (RFC 7143 section 11): opcodes, flag bits,
 * field offsets in the 48-byte Basic Header Segment, and status codes.
 *
 * Every multi-byte field is big-endian and is read and written only through
 * scsi/be.h, so a field here can be checked against the RFC's figure at a
 * glance. Nothing in this file has state.
 */
#ifndef VTL_ISCSI_PDU_H
#define VTL_ISCSI_PDU_H

#include <stdint.h>

#include "scsi/be.h"

#define ISCSI_BHS_LEN	 48
#define ISCSI_DIGEST_LEN 4
#define ISCSI_RSVD_TAG	 0xffffffffu

/* RFC 7143 11.2.1.2: opcodes, initiator to target. */
enum {
	OP_NOP_OUT = 0x00,
	OP_SCSI_CMD = 0x01,
	OP_TMF_REQ = 0x02,
	OP_LOGIN_REQ = 0x03,
	OP_TEXT_REQ = 0x04,
	OP_DATA_OUT = 0x05,
	OP_LOGOUT_REQ = 0x06,
	OP_SNACK_REQ = 0x10,
};

/* Target to initiator. */
enum {
	OP_NOP_IN = 0x20,
	OP_SCSI_RSP = 0x21,
	OP_TMF_RSP = 0x22,
	OP_LOGIN_RSP = 0x23,
	OP_TEXT_RSP = 0x24,
	OP_DATA_IN = 0x25,
	OP_LOGOUT_RSP = 0x26,
	OP_R2T = 0x31,
	OP_ASYNC_MSG = 0x32,
	OP_REJECT = 0x3f,
};

#define BHS_OPCODE_MASK 0x3f
#define BHS_IMMEDIATE	0x40 /* byte 0, I bit (RFC 7143 11.2.1.1) */
#define BHS_FINAL	0x80 /* byte 1, F bit */

/* Common BHS field offsets (RFC 7143 11.2). */
enum {
	BHS_FLAGS = 1,
	BHS_AHS_LEN = 4, /* in 4-byte words */
	BHS_DSL = 5,	 /* 24-bit data segment length */
	BHS_LUN = 8,
	BHS_ITT = 16,
	BHS_TTT = 20,	    /* also EDTL (SCSI Command), RefTaskTag (TMF) */
	BHS_CMDSN = 24,	    /* StatSN in target PDUs */
	BHS_EXPSTATSN = 28, /* ExpCmdSN in target PDUs */
	BHS_MAXCMDSN = 32,
	BHS_CDB = 32,
};

/* SCSI Command (11.3). */
#define SCMD_READ      0x40
#define SCMD_WRITE     0x20
#define SCMD_ATTR_MASK 0x07
#define SCMD_EDTL      20

/* SCSI Response (11.4) and Data-In (11.7.2) flags. */
#define RSP_BIDI_OVERFLOW  0x10
#define RSP_BIDI_UNDERFLOW 0x08
#define RSP_OVERFLOW	   0x04
#define RSP_UNDERFLOW	   0x02
#define DATAIN_ACK	   0x40
#define DATAIN_STATUS	   0x01
enum {
	RSP_EXPDATASN = 36,
	RSP_BIDI_RESIDUAL = 40,
	RSP_RESIDUAL = 44,
	DATA_DATASN = 36,
	DATA_OFFSET = 40,
};
#define ISCSI_RESPONSE_COMPLETED      0x00
#define ISCSI_RESPONSE_TARGET_FAILURE 0x01

/* R2T (11.8). */
enum { R2T_R2TSN = 36, R2T_OFFSET = 40, R2T_LENGTH = 44 };

/* Task Management Function Request (11.5) and Response (11.6.1). */
enum {
	TMF_ABORT_TASK = 1,
	TMF_ABORT_TASK_SET = 2,
	TMF_CLEAR_ACA = 3,
	TMF_CLEAR_TASK_SET = 4,
	TMF_LUN_RESET = 5,
	TMF_TARGET_WARM_RESET = 6,
	TMF_TARGET_COLD_RESET = 7,
	TMF_TASK_REASSIGN = 8,
};
enum { TMF_REFTASKTAG = 20, TMF_REFCMDSN = 32 };
enum {
	TMF_RSP_COMPLETE = 0,
	TMF_RSP_NO_TASK = 1,
	TMF_RSP_NO_LUN = 2,
	TMF_RSP_STILL_ALLEGIANT = 3,
	TMF_RSP_REASSIGN_UNSUPPORTED = 4,
	TMF_RSP_NOT_SUPPORTED = 5,
	TMF_RSP_AUTH_FAILED = 6,
	TMF_RSP_REJECTED = 255,
};

/* Login Request/Response (11.12, 11.13). */
#define LOGIN_TRANSIT  0x80
#define LOGIN_CONTINUE 0x40
#define LOGIN_CSG(f)   (((f) >> 2) & 3)
#define LOGIN_NSG(f)   ((f)&3)
enum {
	LOGIN_VERSION_MAX = 2,
	LOGIN_VERSION_MIN = 3, /* VersionActive in the response */
	LOGIN_ISID = 8,
	LOGIN_TSIH = 14,
	LOGIN_CID = 20,
	LOGIN_STATUS_CLASS = 36,
	LOGIN_STATUS_DETAIL = 37,
};
enum { STAGE_SECURITY = 0, STAGE_OPERATIONAL = 1, STAGE_FULL_FEATURE = 3 };

/* Login status (11.13.5), class << 8 | detail. */
enum {
	LOGIN_OK = 0x0000,
	LOGIN_INITIATOR_ERROR = 0x0200,
	LOGIN_AUTH_FAILED = 0x0201,
	LOGIN_AUTHORIZATION_FAILED = 0x0202,
	LOGIN_NOT_FOUND = 0x0203,
	LOGIN_TARGET_REMOVED = 0x0204,
	LOGIN_UNSUPPORTED_VERSION = 0x0205,
	LOGIN_TOO_MANY_CONNECTIONS = 0x0206,
	LOGIN_MISSING_PARAMETER = 0x0207,
	LOGIN_CANT_INCLUDE = 0x0208,
	LOGIN_SESSION_TYPE_UNSUPPORTED = 0x0209,
	LOGIN_NO_SESSION = 0x020a,
	LOGIN_INVALID_REQUEST = 0x020b,
	LOGIN_TARGET_ERROR = 0x0300,
	LOGIN_SERVICE_UNAVAILABLE = 0x0301,
	LOGIN_OUT_OF_RESOURCES = 0x0302,
};

/* Text Request/Response (11.10, 11.11). */
#define TEXT_CONTINUE 0x40

/* Logout (11.14, 11.15). */
enum {
	LOGOUT_CLOSE_SESSION = 0,
	LOGOUT_CLOSE_CONNECTION = 1,
	LOGOUT_REMOVE_FOR_RECOVERY = 2,
};
enum {
	LOGOUT_RSP_OK = 0,
	LOGOUT_RSP_CID_NOT_FOUND = 1,
	LOGOUT_RSP_RECOVERY_UNSUPPORTED = 2,
};
enum { LOGOUT_CID = 20, LOGOUT_TIME2WAIT = 40, LOGOUT_TIME2RETAIN = 42 };

/* Asynchronous Message (11.9). */
enum {
	ASYNC_SCSI_EVENT = 0,
	ASYNC_LOGOUT_REQUEST = 1,
	ASYNC_DROP_CONNECTION = 2,
	ASYNC_DROP_ALL_CONNECTIONS = 3,
	ASYNC_RENEGOTIATE = 4,
};
enum {
	ASYNC_EVENT = 36,
	ASYNC_VCODE = 37,
	ASYNC_PARAM1 = 38,
	ASYNC_PARAM2 = 40,
	ASYNC_PARAM3 = 42
};

/* Reject reasons (11.17.1). */
enum {
	REJECT_DATA_DIGEST = 0x02,
	REJECT_SNACK = 0x03,
	REJECT_PROTOCOL_ERROR = 0x04,
	REJECT_CMD_NOT_SUPPORTED = 0x05,
	REJECT_IMMEDIATE_CMD = 0x06,
	REJECT_TASK_IN_PROGRESS = 0x07,
	REJECT_INVALID_DATA_ACK = 0x08,
	REJECT_INVALID_PDU_FIELD = 0x09,
	REJECT_LONG_OP = 0x0a,
	REJECT_WAITING_FOR_LOGOUT = 0x0c,
};

static inline uint8_t bhs_opcode(const uint8_t *bhs)
{
	return bhs[0] & BHS_OPCODE_MASK;
}

static inline uint32_t bhs_dsl(const uint8_t *bhs)
{
	return get_be24(bhs + BHS_DSL);
}

/* RFC 7143 4.2.2.1: serial number arithmetic (RFC 1982) on 32-bit SNs. */
static inline int sn_cmp(uint32_t a, uint32_t b)
{
	int32_t d = (int32_t)(a - b);
	return d < 0 ? -1 : d > 0;
}

static inline uint32_t pad4(uint32_t n)
{
	return (4 - (n & 3)) & 3;
}

#endif
