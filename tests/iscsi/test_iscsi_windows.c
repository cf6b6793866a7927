/*
 * test_iscsi_windows.c - what a Windows backup server sends, replayed at
 * PDU and CDB level against the real vtld, for every changer personality.
 * Windows cannot run here; what it sends is taken from public sources:
 *
 * - The Microsoft initiator's first Login Request: the bytes of a captured
 *   one (iqn.1991-05.com.microsoft:win2003s, kept as a test vector in the
 *   iSCSI.net project's ISCSICommandStructures unit tests): opcode 43h,
 *   flags 81h (T, CSG 0, NSG 1), ISID 40 00 01 37 00 00 (type 01b: IANA
 *   enterprise number 311, Microsoft's), TSIH 0, ITT 1, CID 1, CmdSN 1,
 *   ExpStatSN 0, keys InitiatorName, SessionType=Normal, TargetName,
 *   AuthMethod=None in that order; the target there answered
 *   TargetPortalGroupTag=1 and AuthMethod=None with ExpCmdSN 1.
 * - The operational keys a user tunes in the Microsoft initiator
 *   (MSiSCSI_HBASessionConfig, learn.microsoft.com: InitialR2T,
 *   ImmediateData, MaxRecvDataSegmentLength, MaxBurstLength,
 *   FirstBurstLength, MaxOutstandingR2T) at the values AWS Storage Gateway
 *   tells Windows users to set ("Customizing your Windows iSCSI settings":
 *   FirstBurstLength 262144, MaxBurstLength 1048576,
 *   MaxRecvDataSegmentLength 262144), with MaxConnections above 1 as an
 *   initiator offering multiple connections per session does.
 * - The changer class driver's miniclass requests (Windows DDK 3790
 *   src/storage/changers, e.g. drivers/adicsc/adicsc.c ChangerGetParameters;
 *   the structures in mcd.h): MODE SENSE(6) with DBD=1 for pages 1Dh, 1Eh
 *   and 1Fh with allocation lengths of the 4-byte mode parameter header
 *   plus MODE_ELEMENT_ADDRESS_PAGE (20), MODE_TRANSPORT_GEOMETRY_PAGE (4)
 *   and MODE_DEVICE_CAPABILITIES_PAGE (16); the barcode reader read from
 *   INQUIRY byte 55 bit 0 (VendorSpecific[19]); INITIALIZE ELEMENT STATUS,
 *   the vendor E7h form WITH RANGE (INIT_ELEMENT_RANGE in scsi.h), READ
 *   ELEMENT STATUS with VolTag, PREVENT ALLOW MEDIUM REMOVAL for the I/E
 *   port lock, TEST UNIT READY for the status.
 * - The drives: INQUIRY and the VPD pages 00h/80h/83h (device
 *   identifiers), then what the DDK's SCSI-3 streaming tape miniclass
 *   (src/storage/tape/dlttape/dlttape.c) sends: TapeGetDriveParameters,
 *   MODE SENSE(6) DBD=1 of the device configuration page (10h) and the data
 *   compression page (0Fh), each 4 + 16 bytes (MODE_DEVICE_CONFIG_PAGE,
 *   MODE_DATA_COMPRESS_PAGE: DCC gives TAPE_DRIVE_COMPRESSION), then READ
 *   BLOCK LIMITS; GetMediaParameters, TEST UNIT READY and MODE SENSE(6) of
 *   12 bytes with the block descriptor (MODE_PARM_READ_WRITE_DATA: block
 *   length and WP); GetPosition, WRITE FILEMARKS(6) of 0 marks with IMMED=0
 *   (a flush) and READ POSITION of 20 bytes; PREVENT ALLOW MEDIUM
 *   REMOVAL.
 *
 * No public byte dump of these devices' INQUIRY/VPD/mode data was found
 * beyond the identity strings docs/compatibility.md lists, so the answers
 * are checked against those strings and the standards' formats (SPC-4
 * 6.6 and 7.8 for INQUIRY and the VPD pages; SMC-3's element address
 * assignment, transport geometry and device capabilities mode pages and
 * READ ELEMENT STATUS; SSC-4 8.3.2 and 8.3.3 for the drive's pages), and
 * against what the Windows drivers above read from them.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rawpdu.h"
#include "scsi/be.h"
#include "vtld_proc.h"

#define MS_INITIATOR "iqn.1991-05.com.microsoft:backup01.example.com"
#define TAPE	     "WIN001L8"
#define KIB	     1024u
#define MIB	     (1024u * 1024u)

/* The captured ISID: type 01b (IANA enterprise number), 311 (Microsoft). */
static const uint8_t ms_isid[6] = {0x40, 0x00, 0x01, 0x37, 0x00, 0x00};

static struct vtld_proc vtl;

/* 2 drives, 8 slots, 2 I/E slots; the tape in the first free slot. */
static void start_with(const char *changer, const char *drive_vendor, const char *iscsi)
{
	char conf[512];
	snprintf(conf, sizeof(conf),
		 "[library]\nchanger = %s\ndrive_vendor = %s\ndrives = 2\nslots = 8\n"
		 "ie_slots = 2\n%s",
		 changer, drive_vendor, iscsi ? iscsi : "");
	vp_start(&vtl, conf);
	char out[4096];
	cr_assert_eq(vp_ctl(&vtl, out, sizeof(out), "tape create " TAPE), 0, "%s", out);
}

static void start_default(void)
{
	start_with("STK-L700", "IBM", NULL);
}

static void stop(void)
{
	cr_expect(vtl.pid == 0 || vp_alive(&vtl), "vtld died during the test");
	vp_stop(&vtl);
}

/* ---- the Microsoft initiator's login ---- */

struct ms_session {
	struct raw r;
	uint16_t tsih;
};

/* One Login Request as the Microsoft initiator builds it; returns the
 * status and leaves the response header in rsp. */
static int ms_login_pdu(struct raw *r, uint8_t flags, uint16_t tsih, uint16_t cid,
			uint32_t exp_statsn, const char *text, size_t len, uint8_t rsp[48])
{
	uint8_t bhs[48] = {0x43, flags};
	memcpy(bhs + 8, ms_isid, 6);
	put_be16(bhs + 14, tsih);
	put_be32(bhs + 16, r->itt);
	put_be16(bhs + 20, cid);
	put_be32(bhs + 24, r->cmdsn);
	put_be32(bhs + 28, exp_statsn);
	raw_send(r, bhs, text, (uint32_t)len);
	int n = raw_recv(r, rsp, r->text, sizeof(r->text), 5000);
	cr_assert_geq(n, 0, "no login response");
	cr_assert_eq(rsp[0] & 0x3f, RAW_LOGIN_RSP);
	r->text_len = (size_t)n;
	r->statsn = get_be32(rsp + 24);
	r->exp_cmdsn = get_be32(rsp + 28);
	r->max_cmdsn = get_be32(rsp + 32);
	return rsp[36] << 8 | rsp[37];
}

static size_t security_keys(char *text, const char *target)
{
	char pair[512];
	snprintf(pair, sizeof(pair), "InitiatorName=%s", MS_INITIATOR);
	size_t off = raw_kv(text, 0, pair);
	off = raw_kv(text, off, "SessionType=Normal");
	snprintf(pair, sizeof(pair), "TargetName=%s", target);
	off = raw_kv(text, off, pair);
	return raw_kv(text, off, "AuthMethod=None");
}

/* The operational keys at AWS's recommended values. */
static size_t operational_keys(char *text)
{
	static const char *const keys[] = {
	    "HeaderDigest=None",
	    "DataDigest=None",
	    "ErrorRecoveryLevel=0",
	    "MaxConnections=8",
	    "InitialR2T=No",
	    "ImmediateData=Yes",
	    "MaxRecvDataSegmentLength=262144",
	    "FirstBurstLength=262144",
	    "MaxBurstLength=1048576",
	    "MaxOutstandingR2T=1",
	    "DefaultTime2Wait=2",
	    "DefaultTime2Retain=20",
	    "DataPDUInOrder=Yes",
	    "DataSequenceInOrder=Yes",
	};
	size_t off = 0;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		off = raw_kv(text, off, keys[i]);
	return off;
}

static void expect_key(const struct raw *r, const char *key, const char *want)
{
	const char *v = raw_resp_val(r, key);
	cr_assert_not_null(v, "the target did not answer %s", key);
	cr_expect_str_eq(v, want, "%s", key);
}

/* Log in as the Microsoft initiator does: security stage, then the
 * operational stage into the full feature phase. */
static void ms_login(struct ms_session *s)
{
	struct raw *r = &s->r;
	memset(s, 0, sizeof(*s));
	r->fd = raw_connect(vtl.port);
	r->itt = 1;
	r->cmdsn = 1;
	char text[4096];
	uint8_t rsp[48];

	size_t len = security_keys(text, vtl.iqn);
	int st = ms_login_pdu(r, 0x81, 0, 1, 0, text, len, rsp);
	cr_assert_eq(st, 0, "security stage: status 0x%04x", st);
	cr_expect_eq(rsp[1], 0x81, "T=1, CSG 0, NSG 1 as asked");
	cr_expect_arr_eq(rsp + 8, ms_isid, 6, "ISID echoed");
	cr_expect_eq(get_be16(rsp + 14), 0, "no TSIH before the last response");
	cr_expect_eq(get_be32(rsp + 16), 1, "ITT echoed");
	cr_expect_eq(get_be32(rsp + 24), 0, "the first StatSN is the initiator's ExpStatSN");
	cr_expect_eq(get_be32(rsp + 28), 1, "ExpCmdSN is the login's CmdSN");
	cr_expect_geq(get_be32(rsp + 32), 1, "MaxCmdSN");
	expect_key(r, "AuthMethod", "None");
	expect_key(r, "TargetPortalGroupTag", "1");

	len = operational_keys(text);
	st = ms_login_pdu(r, 0x87, 0, 1, r->statsn + 1, text, len, rsp);
	cr_assert_eq(st, 0, "operational stage: status 0x%04x", st);
	cr_expect_eq(rsp[1], 0x87, "T=1, CSG 1, NSG 3");
	s->tsih = get_be16(rsp + 14);
	cr_expect_neq(s->tsih, 0, "the last response carries the TSIH");
	cr_expect_eq(get_be32(rsp + 24), 1, "StatSN");
	r->itt = 0x100;
}

TestSuite(win_login, .init = start_default, .fini = stop, .timeout = 60);

/* RFC 7143 13: what each key the Microsoft initiator offers negotiates to
 * at AWS's recommended values. */
Test(win_login, microsoft_keys_at_aws_values_negotiate_as_documented)
{
	struct ms_session s;
	ms_login(&s);
	struct raw *r = &s.r;
	expect_key(r, "HeaderDigest", "None");
	expect_key(r, "DataDigest", "None");
	expect_key(r, "ErrorRecoveryLevel", "0");
	/* 13.2 (min): one connection per session; docs/iscsi.md says why. */
	expect_key(r, "MaxConnections", "1");
	expect_key(r, "InitialR2T", "No");
	expect_key(r, "ImmediateData", "Yes");
	/* 13.12: the target declares what it receives (256 KiB). */
	expect_key(r, "MaxRecvDataSegmentLength", "262144");
	expect_key(r, "FirstBurstLength", "262144");
	expect_key(r, "MaxBurstLength", "1048576");
	expect_key(r, "MaxOutstandingR2T", "1");
	expect_key(r, "DefaultTime2Wait", "2");
	expect_key(r, "DefaultTime2Retain", "0");
	expect_key(r, "DataPDUInOrder", "Yes");
	expect_key(r, "DataSequenceInOrder", "Yes");
	raw_tur_clear(r, 0);
	close(r->fd);
}

/* A second connection naming the session's TSIH: MaxConnections=1, so it
 * is refused with 0206 (too many connections, as LIO answers beyond
 * MaxConnections), an unknown TSIH with 020A, and the session goes on. */
Test(win_login, second_connection_to_a_session_is_refused)
{
	struct ms_session s;
	ms_login(&s);
	raw_tur_clear(&s.r, 0);

	char text[4096];
	uint8_t rsp[48];
	size_t len = security_keys(text, vtl.iqn);
	struct raw add = {.fd = raw_connect(vtl.port), .itt = 7, .cmdsn = s.r.cmdsn};
	int st = ms_login_pdu(&add, 0x81, s.tsih, 2, 0, text, len, rsp);
	cr_expect_eq(st, 0x0206, "adding CID 2 to the session: 0x%04x", st);
	cr_expect(raw_closed_by_target(add.fd, 3000));
	close(add.fd);

	struct raw none = {.fd = raw_connect(vtl.port), .itt = 8, .cmdsn = 1};
	st = ms_login_pdu(&none, 0x81, (uint16_t)(s.tsih + 100), 2, 0, text, len, rsp);
	cr_expect_eq(st, 0x020a, "a TSIH of no session: 0x%04x", st);
	cr_expect(raw_closed_by_target(none.fd, 3000));
	close(none.fd);

	cr_expect_eq(raw_tur(&s.r, 0, false), 0, "the session still works");
	close(s.r.fd);
}

/* ---- the data path at AWS's values, on a drive ---- */

static void load_tape_in_drive_1(void)
{
	char out[4096];
	cr_assert_eq(vp_ctl(&vtl, out, sizeof(out), "tape move " TAPE " --to drive:1"), 0, "%s",
		     out);
}

static void fill(uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(i * 7 + (i >> 12));
}

/* One Data-Out PDU (RFC 7143 11.7). */
static void send_data_out(struct raw *r, uint32_t itt, uint32_t ttt, uint32_t datasn,
			  uint32_t offset, const uint8_t *data, uint32_t len, bool final)
{
	uint8_t bhs[48] = {RAW_DATA_OUT, final ? 0x80 : 0x00};
	bhs[9] = 1;
	put_be32(bhs + 16, itt);
	put_be32(bhs + 20, ttt);
	put_be32(bhs + 28, r->statsn + 1);
	put_be32(bhs + 36, datasn);
	put_be32(bhs + 40, offset);
	raw_send(r, bhs, data, len);
}

/* A 1 MiB record written as the Microsoft initiator sends it at AWS's
 * values: 256 KiB of immediate data (FirstBurstLength), one R2T for the
 * other 768 KiB (within MaxBurstLength 1 MiB), Data-Out PDUs of 256 KiB
 * (the target's MaxRecvDataSegmentLength); read back in Data-In PDUs of at
 * most 256 KiB (ours), one sequence (F at 1 MiB).
 */
Test(win_login, one_mib_record_at_aws_burst_values)
{
	load_tape_in_drive_1();
	struct ms_session s;
	ms_login(&s);
	struct raw *r = &s.r;
	raw_tur_clear(r, 1);

	uint8_t *rec = malloc(MIB), *back = calloc(1, MIB);
	cr_assert(rec && back);
	fill(rec, MIB);
	static const uint8_t write6[6] = {0x0a, 0x00, 0x10, 0x00, 0x00, 0x00};
	uint32_t itt = raw_cmd(r, 1, write6, 6, 0xa0, MIB, rec, 256 * KIB, false);
	uint8_t h[48];
	int n = raw_recv(r, h, NULL, 0, 5000);
	cr_assert_eq(n, 0);
	cr_assert_eq(h[0] & 0x3f, RAW_R2T, "an R2T after the first burst (got 0x%02x)", h[0]);
	cr_expect_eq(get_be32(h + 16), itt);
	cr_expect_eq(get_be32(h + 36), 0, "R2TSN 0");
	cr_expect_eq(get_be32(h + 40), 256 * KIB, "the R2T starts after the first burst");
	cr_expect_eq(get_be32(h + 44), 768 * KIB, "the rest in one burst of at most 1 MiB");
	uint32_t ttt = get_be32(h + 20);
	for (uint32_t i = 0; i < 3; i++) {
		uint32_t off = 256 * KIB * (i + 1);
		send_data_out(r, itt, ttt, i, off, rec + off, 256 * KIB, i == 2);
	}
	cr_assert_eq(raw_status(r, itt, NULL, 0, NULL), 0, "WRITE(6) of 1 MiB");

	static const uint8_t rewind[6] = {0x01};
	itt = raw_cmd(r, 1, rewind, 6, 0x80, 0, NULL, 0, false);
	cr_assert_eq(raw_status(r, itt, NULL, 0, NULL), 0);
	static const uint8_t read6[6] = {0x08, 0x00, 0x10, 0x00, 0x00, 0x00};
	itt = raw_cmd(r, 1, read6, 6, 0xc0, MIB, NULL, 0, false);
	uint32_t got = 0;
	static uint8_t seg[256 * KIB + 4];
	for (;;) {
		n = raw_recv(r, h, seg, sizeof(seg), 5000);
		cr_assert_geq(n, 0, "Data-In");
		cr_assert_eq(h[0] & 0x3f, RAW_DATA_IN, "got 0x%02x", h[0]);
		cr_expect_leq((uint32_t)n, 256 * KIB,
			      "Data-In within our MaxRecvDataSegmentLength");
		uint32_t off = get_be32(h + 40);
		cr_assert_eq(off, got, "Data-In in order");
		memcpy(back + off, seg, (size_t)n);
		got += (uint32_t)n;
		bool final = h[1] & 0x80;
		cr_expect_eq(final, got == MIB, "F only at the end of the 1 MiB sequence");
		if (h[1] & 0x01) {
			cr_expect_eq(h[3], 0, "GOOD");
			break;
		}
	}
	cr_expect_eq(got, MIB);
	cr_expect(memcmp(rec, back, MIB) == 0, "the record reads back byte for byte");
	free(rec);
	free(back);
	close(r->fd);
}

/* The SCSI Response of itt: its status, the sense data in sense. */
static int status_and_sense(struct raw *r, uint32_t itt, uint8_t *sense, size_t cap)
{
	uint8_t rsp[48], data[260];
	int n;
	do {
		n = raw_recv(r, rsp, data, sizeof(data), 5000);
		cr_assert_geq(n, 0, "a response");
	} while (get_be32(rsp + 16) != itt);
	memset(sense, 0, cap);
	if (n >= 2)
		memcpy(sense, data + 2, (size_t)n - 2 < cap ? (size_t)n - 2 : cap);
	return rsp[3];
}

/* The connection is lost without a logout (a cable pulled: vtld still
 * sees it open). Within MaxRequestHoldTime the Microsoft initiator logs in
 * again with the same ISID and TSIH 0, which reinstates the session (RFC
 * 7143 6.3.5): the old connection is closed, the tape stays loaded where
 * it was, and the first command of the new session gets the unit
 * attention of the lost I_T nexus (SAM-5: a new nexus sees 29/00), so a
 * command the initiator resubmits is never taken silently. */
Test(win_login, lost_connection_is_reinstated_with_a_unit_attention)
{
	load_tape_in_drive_1();
	struct ms_session old;
	ms_login(&old);
	raw_tur_clear(&old.r, 1);
	uint8_t rec[4096];
	fill(rec, sizeof(rec));
	static const uint8_t write6[6] = {0x0a, 0x00, 0x00, 0x10, 0x00, 0x00};
	uint32_t itt = raw_cmd(&old.r, 1, write6, 6, 0xa0, sizeof(rec), rec, sizeof(rec), false);
	cr_assert_eq(raw_status(&old.r, itt, NULL, 0, NULL), 0, "one record written");

	struct ms_session s;
	ms_login(&s);
	cr_expect(raw_closed_by_target(old.r.fd, 5000), "the old connection is closed");
	close(old.r.fd);
	static const uint8_t tur[6] = {0};
	itt = raw_cmd(&s.r, 1, tur, 6, 0x80, 0, NULL, 0, false);
	uint8_t sense[32];
	cr_expect_eq(status_and_sense(&s.r, itt, sense, sizeof(sense)), 0x02, "CHECK CONDITION");
	cr_expect_eq(sense[2] & 0x0f, 0x06, "UNIT ATTENTION");
	cr_expect_eq(sense[12], 0x29, "power on, reset or I_T nexus loss");
	raw_tur_clear(&s.r, 1);
	cr_expect_eq(raw_read_position(&s.r, 1), 1, "the record written before the loss stays");
	close(s.r.fd);
}

/* ---- keep-alive while a command is outstanding ---- */

static void start_nop(void)
{
	start_with("STK-L700", "IBM", "[iscsi]\nnop_interval = 1\nnop_timeout = 5\n");
}

TestSuite(win_keepalive, .init = start_nop, .fini = stop, .timeout = 60);

/* The target pings an initiator that sends nothing while a command is
 * outstanding (RFC 7143 11.19, NOP-In with a TTT), from the receiver,
 * whatever the device is doing; answered, the session and the command
 * go on. */
Test(win_keepalive, target_pings_while_a_write_waits)
{
	load_tape_in_drive_1();
	struct ms_session s;
	ms_login(&s);
	struct raw *r = &s.r;
	raw_tur_clear(r, 1);

	uint8_t *rec = malloc(64 * KIB);
	cr_assert_not_null(rec);
	fill(rec, 64 * KIB);
	static const uint8_t write6[6] = {0x0a, 0x00, 0x01, 0x00, 0x00, 0x00};
	/* F=1, no immediate data: everything is solicited by R2T. */
	uint32_t itt = raw_cmd(r, 1, write6, 6, 0xa0, 64 * KIB, NULL, 0, false);
	uint8_t h[48];
	cr_assert_eq(raw_recv(r, h, NULL, 0, 5000), 0);
	cr_assert_eq(h[0] & 0x3f, RAW_R2T);
	uint32_t ttt = get_be32(h + 20);

	for (int ping = 0; ping < 3; ping++) {
		int n = raw_recv(r, h, NULL, 0, 4000);
		cr_assert_eq(n, 0, "a NOP-In within nop_interval + slack (ping %d)", ping);
		cr_assert_eq(h[0] & 0x3f, RAW_NOP_IN, "got 0x%02x", h[0]);
		cr_expect_eq(get_be32(h + 16), 0xffffffffu, "a target ping has no ITT");
		uint32_t ping_ttt = get_be32(h + 20);
		cr_expect_neq(ping_ttt, 0xffffffffu, "it asks for an answer");
		uint8_t nop[48] = {RAW_NOP_OUT | RAW_IMMEDIATE, 0x80};
		put_be32(nop + 16, 0xffffffffu);
		put_be32(nop + 20, ping_ttt);
		put_be32(nop + 24, r->cmdsn);
		put_be32(nop + 28, r->statsn + 1);
		raw_send(r, nop, NULL, 0);
	}
	send_data_out(r, itt, ttt, 0, 0, rec, 64 * KIB, true);
	cr_expect_eq(raw_status(r, itt, NULL, 0, NULL), 0, "the write completes after the pings");
	free(rec);
	close(r->fd);
}

/* ---- the changer class driver at device start ---- */

struct changer_expect {
	const char *personality;
	const char *vendor, *product, *revision; /* INQUIRY, space padded */
	uint16_t transport, ie, drive, storage;	 /* first element addresses */
	bool barcode_bit;			 /* INQUIRY byte 55 bit 0 */
};

static const struct changer_expect changers[] = {
    {"STK-L700", "STK     ", "L700            ", "0107", 1, 10, 500, 1000, true},
    {"AWS-Gateway-VTL", "AWS     ", "Gateway-VTL     ", "0100", 1, 10, 500, 1000, true},
    {"IBM-03584L32-0402", "IBM     ", "03584L32        ", "0402", 0x0001, 0x0301, 0x0101, 0x0401,
     false},
};

/* One command with data in; returns the SCSI status, the data in buf. */
static int cmd_in(struct raw *r, int lun, const uint8_t *cdb, size_t cdb_len, uint8_t *buf,
		  size_t cap, size_t *len)
{
	uint32_t itt = raw_cmd(r, lun, cdb, cdb_len, 0xc0, (uint32_t)cap, NULL, 0, false);
	return raw_status(r, itt, buf, cap, len);
}

static int cmd_none(struct raw *r, int lun, const uint8_t *cdb, size_t cdb_len)
{
	uint32_t itt = raw_cmd(r, lun, cdb, cdb_len, 0x80, 0, NULL, 0, false);
	return raw_status(r, itt, NULL, 0, NULL);
}

/* INQUIRY and the VPD pages 00h, 80h, 83h (SPC-4 6.6, 7.8). */
static void check_identity(struct raw *r, int lun, uint8_t type, const char *vendor,
			   const char *product, const char *revision)
{
	uint8_t d[256];
	size_t len;
	static const uint8_t inq[6] = {0x12, 0, 0, 0, 0x24, 0};
	cr_assert_eq(cmd_in(r, lun, inq, 6, d, 36, &len), 0);
	cr_assert_eq(len, 36, "INQUIRY truncated to the allocation length");
	cr_expect_eq(d[0], type, "peripheral device type");
	cr_expect_arr_eq(d + 8, vendor, 8, "vendor (Windows' hardware ID)");
	cr_expect_arr_eq(d + 16, product, 16, "product");
	cr_expect_arr_eq(d + 32, revision, 4, "revision");

	static const uint8_t vpd0[6] = {0x12, 1, 0x00, 0, 0xff, 0};
	cr_assert_eq(cmd_in(r, lun, vpd0, 6, d, 255, &len), 0);
	cr_expect_eq(d[1], 0x00);
	bool p80 = false, p83 = false;
	for (size_t i = 4; i < 4 + (size_t)d[3] && i < len; i++) {
		if (i > 4)
			cr_expect_gt(d[i], d[i - 1], "VPD pages in ascending order");
		p80 |= d[i] == 0x80;
		p83 |= d[i] == 0x83;
	}
	cr_expect(p80 && p83, "VPD 80h and 83h supported");

	static const uint8_t vpd80[6] = {0x12, 1, 0x80, 0, 0xff, 0};
	cr_assert_eq(cmd_in(r, lun, vpd80, 6, d, 255, &len), 0);
	cr_expect_eq(d[1], 0x80);
	cr_expect_gt(d[3], 0, "a unit serial number");
	for (size_t i = 4; i < 4 + (size_t)d[3]; i++)
		cr_expect(d[i] >= 0x20 && d[i] < 0x7f, "ASCII serial number");

	static const uint8_t vpd83[6] = {0x12, 1, 0x83, 0, 0xff, 0};
	cr_assert_eq(cmd_in(r, lun, vpd83, 6, d, 255, &len), 0);
	cr_expect_eq(d[1], 0x83);
	size_t end = 4 + get_be16(d + 2), lu_ids = 0;
	size_t i = 4;
	while (i + 4 <= end) {
		uint8_t assoc = (d[i + 1] >> 4) & 3, dtype = d[i + 1] & 0x0f;
		if (assoc == 0 && (dtype == 1 || dtype == 3))
			lu_ids++;
		i += 4 + d[i + 3];
	}
	cr_expect_eq(i, end, "designators fill the page exactly");
	cr_expect_geq(lu_ids, 1, "a logical unit designator (T10 vendor ID or NAA)");
}

/* MODE SENSE(6), DBD=1, as the miniclass builds it; returns the page. */
static const uint8_t *mode_sense6(struct raw *r, int lun, uint8_t page, uint8_t alloc, uint8_t *d,
				  size_t *len)
{
	uint8_t cdb[6] = {0x1a, 0x08, page, 0, alloc, 0};
	cr_assert_eq(cmd_in(r, lun, cdb, 6, d, alloc, len), 0, "MODE SENSE page %02Xh", page);
	cr_assert_geq(*len, 6);
	cr_expect_eq(d[3], 0, "no block descriptor with DBD=1");
	cr_expect_eq((d[4] & 0x3f), page);
	return d + 4;
}

static void changer_start(const struct changer_expect *e)
{
	start_with(e->personality, "IBM", NULL);
	struct ms_session s;
	ms_login(&s);
	struct raw *r = &s.r;
	raw_tur_clear(r, 0);
	check_identity(r, 0, 0x08, e->vendor, e->product, e->revision);

	/* The miniclass's own INQUIRY reads the barcode reader bit. */
	uint8_t d[4096];
	size_t len;
	static const uint8_t inq96[6] = {0x12, 0, 0, 0, 0x60, 0};
	cr_assert_eq(cmd_in(r, 0, inq96, 6, d, 0x60, &len), 0);
	cr_assert_geq(len, 56, "INQUIRY reaches byte 55");
	cr_expect_eq((d[55] & 1) != 0, e->barcode_bit, "barcode reader bit (byte 55)");

	/* Page 1Dh: 4 + 20 bytes. */
	const uint8_t *p = mode_sense6(r, 0, 0x1d, 24, d, &len);
	cr_expect_eq(len, 24);
	cr_expect_eq(d[0], 23, "mode data length");
	cr_expect_eq(p[1], 0x12);
	cr_expect_eq(get_be16(p + 2), e->transport);
	cr_expect_eq(get_be16(p + 4), 1);
	cr_expect_eq(get_be16(p + 6), e->storage);
	cr_expect_eq(get_be16(p + 8), 8);
	cr_expect_eq(get_be16(p + 10), e->ie);
	cr_expect_eq(get_be16(p + 12), 2);
	cr_expect_eq(get_be16(p + 14), e->drive);
	cr_expect_eq(get_be16(p + 16), 2);

	/* Page 1Eh: 4 + 4 bytes; Flip (ROTATE) 0. */
	p = mode_sense6(r, 0, 0x1e, 8, d, &len);
	cr_expect_eq(len, 8);
	cr_expect_eq(p[1], 0x02);
	cr_expect_eq(p[2] & 1, 0, "one-sided media");

	/* Page 1Fh: 4 + 16 bytes asked of a 20-byte page: truncated. */
	p = mode_sense6(r, 0, 0x1f, 20, d, &len);
	cr_expect_eq(len, 20, "the allocation length truncates");
	cr_expect_eq(p[1], 0x12);
	cr_expect_eq(p[2] & 0x0e, 0x0e, "storage, I/E and drive elements store media");

	/* ChangerSetAccess: lock and unlock the I/E port. */
	static const uint8_t prevent[6] = {0x1e, 0, 0, 0, 1, 0}, allow[6] = {0x1e};
	cr_expect_eq(cmd_none(r, 0, prevent, 6), 0, "PREVENT MEDIUM REMOVAL");
	cr_expect_eq(cmd_none(r, 0, allow, 6), 0, "ALLOW MEDIUM REMOVAL");

	/* ChangerInitializeElementStatus, plain and with range (E7h as
	 * INIT_ELEMENT_RANGE, 37h as SMC-3), over the storage slots. */
	static const uint8_t ies[6] = {0x07};
	cr_expect_eq(cmd_none(r, 0, ies, 6), 0, "INITIALIZE ELEMENT STATUS");
	uint8_t range[10] = {0xe7, 0x01};
	put_be16(range + 2, e->storage);
	put_be16(range + 6, 8);
	cr_expect_eq(cmd_none(r, 0, range, 10), 0, "E7h with range");
	range[0] = 0x37;
	cr_expect_eq(cmd_none(r, 0, range, 10), 0, "37h with range");

	/* ChangerGetElementStatus: all elements from the lowest address,
	 * with volume tags. */
	uint16_t lowest = e->transport;
	uint8_t res[12] = {0xb8, 0x10};
	put_be16(res + 2, lowest);
	put_be16(res + 4, 13);
	put_be24(res + 7, sizeof(d));
	cr_assert_eq(cmd_in(r, 0, res, 12, d, sizeof(d), &len), 0, "READ ELEMENT STATUS");
	cr_expect_eq(get_be16(d + 0), lowest, "first element address reported");
	cr_expect_eq(get_be16(d + 2), 13, "1 transport, 8 slots, 2 I/E, 2 drives");
	size_t end = 8 + get_be24(d + 5), i = 8, seen = 0;
	bool found = false;
	uint16_t tape_at = 0;
	cr_expect_eq(end, len, "report byte count");
	while (i + 8 <= end) {
		cr_expect(d[i + 1] & 0x80, "PVolTag set in every element page");
		size_t dl = get_be16(d + i + 2), bytes = get_be24(d + i + 5);
		cr_expect_geq(dl, 12 + 36, "descriptor holds the primary volume tag");
		for (size_t k = i + 8; k + dl <= i + 8 + bytes; k += dl) {
			seen++;
			if (d[i] == 2 && (d[k + 2] & 1) && !memcmp(d + k + 12, TAPE, 8)) {
				found = true;
				tape_at = get_be16(d + k);
				for (size_t c = 8; c < 32; c++)
					cr_expect_eq(d[k + 12 + c], ' ', "volume tag padded");
			}
		}
		i += 8 + bytes;
	}
	cr_expect_eq(seen, 13);
	cr_assert(found, "the tape's barcode in a full storage element");

	uint32_t itt;

	/* ChangerMoveMedium: MOVE MEDIUM slot -> first drive (adicsc.c:
	 * transport, source, destination, no Flip), the drive's element
	 * status then shows the tape and where it came from, and back. */
	uint8_t move[12] = {0xa5};
	put_be16(move + 2, e->transport);
	put_be16(move + 4, tape_at);
	put_be16(move + 6, e->drive);
	cr_expect_eq(cmd_none(r, 0, move, 12), 0, "MOVE MEDIUM to the drive");
	uint8_t drv[12] = {0xb8, 0x14};
	put_be16(drv + 2, e->drive);
	put_be16(drv + 4, 1);
	put_be24(drv + 7, 512);
	cr_assert_eq(cmd_in(r, 0, drv, 12, d, 512, &len), 0);
	cr_assert_geq(len, 16 + 12 + 8);
	const uint8_t *dd = d + 16;
	cr_expect_eq(get_be16(dd), e->drive);
	cr_expect(dd[2] & 1, "the drive is full");
	cr_expect(dd[9] & 0x80, "SValid");
	cr_expect_eq(get_be16(dd + 10), tape_at, "source storage element");
	cr_expect_arr_eq(dd + 12, TAPE, 8, "the drive's volume tag");
	put_be16(move + 4, e->drive);
	put_be16(move + 6, tape_at);
	cr_expect_eq(cmd_none(r, 0, move, 12), 0, "MOVE MEDIUM back to its slot");

	/* IOCTL_CHANGER_QUERY_VOLUME_TAGS: SEND VOLUME TAG (translate, 05h,
	 * a 40-byte template) then REQUEST VOLUME ELEMENT ADDRESS with
	 * VolTag (SMC-3). */
	uint8_t svt[12] = {0xb6, 0x00};
	put_be16(svt + 2, lowest);
	svt[5] = 0x05;
	put_be16(svt + 8, 40);
	uint8_t tmpl[40];
	memset(tmpl, 0, sizeof(tmpl));
	memset(tmpl, ' ', 32);
	memcpy(tmpl, TAPE, 8);
	itt = raw_cmd(r, 0, svt, 12, 0xa0, 40, tmpl, 40, false);
	cr_expect_eq(raw_status(r, itt, NULL, 0, NULL), 0, "SEND VOLUME TAG");
	uint8_t rvea[12] = {0xb5, 0x10};
	put_be16(rvea + 2, lowest);
	put_be16(rvea + 4, 13);
	put_be24(rvea + 7, 1024);
	cr_assert_eq(cmd_in(r, 0, rvea, 12, d, 1024, &len), 0, "REQUEST VOLUME ELEMENT ADDRESS");
	cr_assert_geq(len, 8 + 8 + 12 + 8);
	cr_expect_eq(get_be16(d + 2), 1, "one element matches");
	cr_expect_eq(d[4] & 0x1f, 0x05, "the send action code");
	cr_expect_eq(get_be16(d + 16), tape_at, "the tape's element");
	cr_expect_arr_eq(d + 16 + 12, TAPE, 8);

	/* ChangerPerformDiagnostics: SEND DIAGNOSTIC with SelfTest
	 * (CDB6GENERIC CommandUniqueBits 2: byte 1 bit 2). */
	static const uint8_t selftest[6] = {0x1d, 0x04};
	cr_expect_eq(cmd_none(r, 0, selftest, 6), 0, "SEND DIAGNOSTIC self-test");

	/* An element address the changer does not have: 21h/01h, which the
	 * class driver maps to STATUS_ILLEGAL_ELEMENT_ADDRESS. */
	put_be16(range + 2, 0xfff0);
	put_be16(range + 6, 1);
	itt = raw_cmd(r, 0, range, 10, 0x80, 0, NULL, 0, false);
	uint8_t rsp[48], sense[64];
	int n;
	do {
		n = raw_recv(r, rsp, sense, sizeof(sense), 5000);
		cr_assert_geq(n, 0);
	} while (get_be32(rsp + 16) != itt);
	cr_expect_eq(rsp[3], 0x02, "CHECK CONDITION");
	cr_assert_geq(n, 2 + 14);
	const uint8_t *sd = sense + 2;
	cr_expect_eq(sd[2] & 0x0f, 0x05, "ILLEGAL REQUEST");
	cr_expect_eq(sd[12], 0x21);
	cr_expect_eq(sd[13], 0x01, "INVALID ELEMENT ADDRESS");
	close(r->fd);
}

TestSuite(win_changer, .fini = stop, .timeout = 60);

Test(win_changer, stk_l700_start_sequence)
{
	changer_start(&changers[0]);
}

Test(win_changer, aws_gateway_vtl_start_sequence)
{
	changer_start(&changers[1]);
}

Test(win_changer, ibm_03584l32_start_sequence)
{
	changer_start(&changers[2]);
}

/* ---- the tape class driver at device start ---- */

static void drive_start(const char *vendor_cfg, const char *vendor, const char *product,
			const char *revision)
{
	start_with("AWS-Gateway-VTL", vendor_cfg, NULL);
	load_tape_in_drive_1();
	struct ms_session s;
	ms_login(&s);
	struct raw *r = &s.r;
	raw_tur_clear(r, 1);
	check_identity(r, 1, 0x01, vendor, product, revision);

	uint8_t d[256];
	size_t len;
	/* TapeGetDriveParameters. */
	const uint8_t *p = mode_sense6(r, 1, 0x10, 20, d, &len);
	cr_expect_eq(len, 20);
	cr_expect_eq(p[1], 0x0e, "device configuration page length (SSC-4 8.3.3)");
	p = mode_sense6(r, 1, 0x0f, 20, d, &len);
	cr_expect_eq(len, 20);
	cr_expect_eq(p[1], 0x0e, "data compression page length (SSC-4 8.3.2)");
	cr_expect(p[2] & 0x40, "DCC: the drive can compress");
	static const uint8_t rbl[6] = {0x05};
	cr_assert_eq(cmd_in(r, 1, rbl, 6, d, 6, &len), 0, "READ BLOCK LIMITS");
	cr_expect_eq(len, 6);
	uint32_t max = get_be24(d + 1);
	uint16_t min = get_be16(d + 4);
	cr_expect_geq(max, MIB, "1 MiB records, AWS's maximum block size, fit");
	cr_expect_leq(min, 1);

	/* GetMediaParameters: the block descriptor of a 12-byte MODE SENSE. */
	static const uint8_t ms12[6] = {0x1a, 0, 0, 0, 12, 0};
	cr_assert_eq(cmd_in(r, 1, ms12, 6, d, 12, &len), 0);
	cr_expect_eq(len, 12);
	cr_expect_eq(d[3], 8, "one block descriptor");
	cr_expect_eq(d[2] & 0x80, 0, "WP clear: the tape is writable");
	cr_expect_eq(get_be24(d + 9), 0, "block length 0: variable blocks");

	/* GetPosition: a flushing WRITE FILEMARKS of 0, then READ POSITION. */
	static const uint8_t wfm0[6] = {0x10};
	cr_expect_eq(cmd_none(r, 1, wfm0, 6), 0, "WRITE FILEMARKS(6) 0, IMMED=0");
	static const uint8_t rpos[10] = {0x34};
	cr_assert_eq(cmd_in(r, 1, rpos, 10, d, 20, &len), 0, "READ POSITION");
	cr_expect_eq(len, 20);
	cr_expect(d[0] & 0x80, "BOP");
	cr_expect_eq(get_be32(d + 4), 0, "first block 0");

	static const uint8_t prevent[6] = {0x1e, 0, 0, 0, 1, 0}, allow[6] = {0x1e};
	cr_expect_eq(cmd_none(r, 1, prevent, 6), 0);
	cr_expect_eq(cmd_none(r, 1, allow, 6), 0);
	close(r->fd);
}

TestSuite(win_drive, .fini = stop, .timeout = 60);

Test(win_drive, ibm_ult3580_td8_start_sequence)
{
	drive_start("IBM", "IBM     ", "ULT3580-TD8     ", "N9M1");
}

Test(win_drive, hp_ultrium_8_start_sequence)
{
	drive_start("HPE", "HP      ", "Ultrium 8-SCSI  ", "K5HW");
}
