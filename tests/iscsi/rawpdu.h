/*
 * rawpdu.h - an iSCSI initiator on a bare TCP socket, for what no
 * well-behaved initiator library sends: hand-made PDUs (RFC 7143 11) with
 * the digests in force, a login straight to the full feature phase, and
 * helpers to read the answers. Used against the real vtld.
 */
#ifndef VTL_TESTS_ISCSI_RAWPDU_H
#define VTL_TESTS_ISCSI_RAWPDU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct raw {
	int fd;
	bool hd, dd; /* digests in force */
	uint32_t cmdsn, statsn, itt;
	uint32_t exp_cmdsn, max_cmdsn; /* from the last response carrying them */
	char text[8192];	       /* last login/text response data */
	size_t text_len;
};

/* Connect to 127.0.0.1:port (fails the test on error). */
int raw_connect(unsigned port);
/* Send all of buf; quietly stops if the target has closed. */
void raw_send_all(int fd, const void *buf, size_t len);
/* Send a PDU (BHS + data) with the digests in force; sets the DSL. */
void raw_send(struct raw *r, uint8_t *bhs, const void *data, uint32_t len);
/* Receive a PDU; up to cap bytes of its data into data. Returns the data
 * length, or -1 on EOF, error or timeout. Tracks StatSN/ExpCmdSN/MaxCmdSN. */
int raw_recv(struct raw *r, uint8_t *bhs, void *data, size_t cap, int timeout_ms);
/* Append "key=value\0" to out at off; returns the new offset. */
size_t raw_kv(char *out, size_t off, const char *pair);
/* Value of key in the last login/text response, or NULL. */
const char *raw_resp_val(const struct raw *r, const char *key);
/* One login request PDU (flags: T, C, CSG, NSG); returns the status
 * (class << 8 | detail) of the response. */
int raw_login_pdu(struct raw *r, uint8_t flags, const char *text, size_t len);
/* Connect and log in to target (NULL: discovery) with no security stage,
 * straight to full feature phase, with the extra keys; asserts success. */
void raw_login(struct raw *r, unsigned port, const char *initiator, const char *target,
	       const char *const *extra);
/* NOP-Out ping with 7 bytes of data; checks the NOP-In echo (or, when
 * !expect_answer, that the connection is closed). */
void raw_nop_ping(struct raw *r, bool expect_answer);
/* True once the target closed the connection (EOF) within timeout_ms. */
bool raw_closed_by_target(int fd, int timeout_ms);

/* Send a SCSI Command PDU to LUN lun (flags: F 0x80, R 0x40, W 0x20) with
 * the CDB, the expected data transfer length and immediate data; returns
 * its ITT. A non-immediate command takes the next CmdSN. */
uint32_t raw_cmd(struct raw *r, int lun, const uint8_t *cdb, size_t cdb_len, uint8_t flags,
		 uint32_t edtl, const void *imm, uint32_t imm_len, bool immediate);
/* Wait for the status of itt: the SCSI Response, or a Data-In with S (its
 * data gathered into in, up to cap). Returns the SCSI status, or -1 if the
 * connection ended; PDUs of other tasks are passed over. */
int raw_status(struct raw *r, uint32_t itt, uint8_t *in, size_t cap, size_t *in_len);
/* TEST UNIT READY: its status. raw_tur_clear: until GOOD (the unit
 * attentions consumed), or the test fails. */
int raw_tur(struct raw *r, int lun, bool immediate);
void raw_tur_clear(struct raw *r, int lun);
/* READ POSITION (short form, SSC-4 7.7): the block number. */
uint32_t raw_read_position(struct raw *r, int lun);

/* Opcodes and offsets used by the tests (RFC 7143 11). */
enum {
	RAW_NOP_OUT = 0x00,
	RAW_SCSI_CMD = 0x01,
	RAW_TMF = 0x02,
	RAW_TEXT = 0x04,
	RAW_DATA_OUT = 0x05,
	RAW_NOP_IN = 0x20,
	RAW_SCSI_RSP = 0x21,
	RAW_TMF_RSP = 0x22,
	RAW_LOGIN_RSP = 0x23,
	RAW_TEXT_RSP = 0x24,
	RAW_DATA_IN = 0x25,
	RAW_R2T = 0x31,
	RAW_ASYNC = 0x32,
	RAW_REJECT = 0x3f,
	RAW_IMMEDIATE = 0x40,
};

#endif
