/*
 * test_spc.c - the SPC-4 command set at CDB level.
 *
 * Every test drives a real tape drive (ssc_drive_init) through
 * spc_dispatch() with the CDB bytes an initiator would send, from one or
 * more I_T nexuses, and checks status, sense (key, ASC/ASCQ, field
 * pointer) and data-in byte for byte against SPC-4. No cartridge is loaded:
 * a medium command that gets past the reservation check reports NOT READY,
 * MEDIUM NOT PRESENT, which tells "allowed" from RESERVATION CONFLICT.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <stdbool.h>
#include <string.h>

#include "scsi/be.h"
#include "scsi/sense.h"
#include "scsi/spc.h"
#include "scsi/ssc.h"
#include "tests/scsi/cdb_harness.h"

enum { N1 = 0x101, N2 = 0x102, N3 = 0x103 };
/* An unregistered onlooker that reads PR state without consuming the
 * unit attentions of the nexuses under test. */
enum { NX = 0x1ff };

static struct scsi_dev dev;
static struct scsi_cmd cmd;
static uint8_t in[16384];

static void drive_up(void)
{
	struct ssc_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.generation = TAPE_LTO6;
	cfg.vendor = SSC_VENDOR_IBM;
	strcpy(cfg.serial, "1013000123");
	cfg.naa = 0x5005076312345678ull;
	cfg.rel_port = 2;
	cr_assert_eq(ssc_drive_init(&dev, &cfg), 0);
}

static void drive_down(void)
{
	ssc_drive_destroy(&dev);
}

/* The initiator port name the next commands carry, as a frontend sets it. */
static const char *port_name;
/* The target port name and protocol, as the iSCSI frontend sets them. */
static const char *target_port;

static uint8_t run(uint64_t nexus, const uint8_t *cdb, size_t len, const void *out,
		   uint32_t out_len)
{
	memset(in, 0xee, sizeof(in));
	cdb_fill(&cmd, nexus, cdb, len, out, out_len, in, sizeof(in));
	cmd.initiator_port = port_name;
	cmd.target_port = target_port;
	cmd.target_proto = target_port ? SCSI_PROTO_ISCSI : 0;
	spc_dispatch(&dev, &cmd);
	return cmd.status;
}

#define RUN(n, ...)		      run((n), CDB(__VA_ARGS__), NULL, 0)
#define RUN_OUT(n, out, out_len, ...) run((n), CDB(__VA_ARGS__), (out), (out_len))

static void expect_conflict(void)
{
	cr_assert_eq(cmd.status, SAM_STAT_RESERVATION_CONFLICT, "status 0x%02x asc %04x",
		     cmd.status, sense_asc(cmd.sense, cmd.sense_len));
}

/* Not a conflict: allowed and then NOT READY for want of a cartridge. */
static void expect_allowed_medium(void)
{
	cdb_assert_sense(&cmd, SK_NOT_READY, ASC_MEDIUM_NOT_PRESENT);
}

/* ILLEGAL REQUEST with asc, pointing at byte and bit of the CDB (in_cdb)
 * or of the parameter list. */
static void expect_field(uint16_t asc, bool in_cdb, uint16_t byte, int bit)
{
	cdb_assert_sense(&cmd, SK_ILLEGAL_REQUEST, asc);
	cdb_assert_field(&cmd, in_cdb, byte, bit);
}

/* Consume the unit attentions a nexus has pending (power on first). */
static void attach(uint64_t nexus)
{
	for (int i = 0; i < 2 * SPC_UA_QUEUE; i++) {
		RUN(nexus, REQUEST_SENSE, 0, 0, 0, 252, 0);
		cdb_assert_good(&cmd);
		if (sense_key(in, cmd.in_len) != SK_UNIT_ATTENTION)
			return;
	}
	cr_assert_fail("unit attentions never ran out");
}

/* The next unit attention of a nexus, via REQUEST SENSE; 0 if none. */
static uint16_t next_ua(uint64_t nexus)
{
	RUN(nexus, REQUEST_SENSE, 0, 0, 0, 252, 0);
	cdb_assert_good(&cmd);
	if (sense_key(in, cmd.in_len) != SK_UNIT_ATTENTION)
		return 0;
	return sense_asc(in, cmd.in_len);
}

static void setup(void)
{
	drive_up();
	attach(N1);
	attach(N2);
	attach(N3);
	attach(NX);
}

/* ------------------------------------------------------------------ */

TestSuite(spc_inquiry, .init = setup, .fini = drive_down);

Test(spc_inquiry, standard_data_is_spc4_tape_with_padded_identity)
{
	RUN(N1, INQUIRY, 0, 0, 0, 255, 0);
	cdb_assert_good(&cmd);
	cr_assert_eq(cmd.in_len, 96);
	cr_assert_eq(in[0], SCSI_TYPE_TAPE);
	cr_assert_eq(in[1], 0x80, "RMB");
	cr_assert_eq(in[2], 0x06, "VERSION SPC-4");
	cr_assert_eq(in[3], 0x12, "HISUP + response data format 2");
	cr_assert_eq(in[4], 91, "ADDITIONAL LENGTH");
	cr_assert_eq(in[7] & 0x02, 0x02, "CMDQUE");

	uint8_t want[28];
	spc_pad_ascii(want, dev.ident.vendor, 8);
	spc_pad_ascii(want + 8, dev.ident.product, 16);
	spc_pad_ascii(want + 24, dev.ident.revision, 4);
	cr_assert_arr_eq(in + 8, want, 28);

	bool sam5 = false, spc4 = false, ssc4 = false, iscsi = false;
	for (int i = 0; i < 8; i++) {
		uint16_t vd = get_be16(in + 58 + 2 * i);
		sam5 |= vd == 0x00a0;
		spc4 |= vd == 0x0460;
		ssc4 |= vd == 0x0520;
		iscsi |= vd == 0x0960;
	}
	cr_assert(sam5 && spc4 && ssc4 && iscsi, "version descriptors");
}

Test(spc_inquiry, allocation_length_truncates_without_error)
{
	RUN(N1, INQUIRY, 0, 0, 0, 5, 0);
	cdb_assert_good(&cmd);
	cr_assert_eq(cmd.in_len, 5);
	cr_assert_eq(in[4], 91, "ADDITIONAL LENGTH still tells the full size");
	cr_assert_eq(in[5], 0xee, "nothing written past the allocation length");
}

Test(spc_inquiry, page_code_without_evpd_is_invalid_field_at_byte_2)
{
	RUN(N1, INQUIRY, 0, 0x80, 0, 255, 0);
	expect_field(ASC_INVALID_FIELD_IN_CDB, true, 2, -1);
}

Test(spc_inquiry, cmddt_bit_is_rejected_at_byte_1_bit_1)
{
	RUN(N1, INQUIRY, 0x02, 0, 0, 255, 0);
	expect_field(ASC_INVALID_FIELD_IN_CDB, true, 1, 1);
}

Test(spc_inquiry, vpd_00_lists_pages_ascending_with_the_builtin_ones)
{
	RUN(N1, INQUIRY, 1, 0x00, 0, 255, 0);
	cdb_assert_good(&cmd);
	cr_assert_eq(in[0], SCSI_TYPE_TAPE);
	cr_assert_eq(in[1], 0x00);
	uint16_t n = get_be16(in + 2);
	cr_assert_eq(cmd.in_len, 4u + n);
	/* The built-in three and every page of the type this logical unit
	 * has (a vendor page belongs to one personality). */
	size_t has = 0;
	for (size_t i = 0; i < dev.type->n_vpd; i++)
		has += !dev.type->vpd[i].present || dev.type->vpd[i].present(&dev);
	cr_assert_eq(n, 3 + has);
	cr_assert_eq(in[4], 0x00);
	for (uint16_t i = 1; i < n; i++)
		cr_assert_gt(in[4 + i], in[3 + i], "ascending");
	bool s80 = false, s83 = false;
	for (uint16_t i = 0; i < n; i++) {
		s80 |= in[4 + i] == 0x80;
		s83 |= in[4 + i] == 0x83;
	}
	cr_assert(s80 && s83);
	/* Every page listed can be read. */
	uint8_t pages[64];
	memcpy(pages, in + 4, n);
	for (uint16_t i = 0; i < n; i++) {
		RUN(N1, INQUIRY, 1, pages[i], 0x10, 0, 0);
		cdb_assert_good(&cmd);
		cr_assert_eq(in[1], pages[i]);
	}
}

Test(spc_inquiry, vpd_80_is_the_unit_serial_number)
{
	RUN(N1, INQUIRY, 1, 0x80, 0, 255, 0);
	cdb_assert_good(&cmd);
	cr_assert_eq(in[1], 0x80);
	cr_assert_eq(in[3], strlen("1013000123"));
	cr_assert_arr_eq(in + 4, "1013000123", 10);
}

Test(spc_inquiry, vpd_83_has_naa_t10_vendor_and_relative_port_designators)
{
	RUN(N1, INQUIRY, 1, 0x83, 0, 255, 0);
	cdb_assert_good(&cmd);
	cr_assert_eq(in[1], 0x83);
	uint32_t end = 4u + get_be16(in + 2);
	cr_assert_eq(cmd.in_len, end);
	bool naa = false, t10 = false, port = false;
	for (uint32_t i = 4; i < end; i += 4u + in[i + 3]) {
		const uint8_t *d = in + i;
		uint8_t assoc = (d[1] >> 4) & 3, type = d[1] & 0x0f;
		cr_assert_eq(d[1] & 0x80, 0, "PIV is zero: the transport is not known here");
		if (type == 3) {
			cr_assert_eq(d[0] & 0x0f, 1, "binary");
			cr_assert_eq(assoc, 0, "logical unit");
			cr_assert_eq(d[3], 8);
			cr_assert_eq(get_be64(d + 4), 0x5005076312345678ull);
			naa = true;
		} else if (type == 1) {
			char want[64];
			cr_assert_eq(d[0] & 0x0f, 2, "ASCII");
			cr_assert_eq(assoc, 0);
			spc_pad_ascii((uint8_t *)want, dev.ident.vendor, 8);
			spc_pad_ascii((uint8_t *)want + 8, dev.ident.product, 16);
			memcpy(want + 24, "1013000123", 10);
			cr_assert_eq(d[3], 34);
			cr_assert_arr_eq(d + 4, want, 34);
			t10 = true;
		} else if (type == 4) {
			cr_assert_eq(assoc, 1, "target port");
			cr_assert_eq(d[3], 4);
			cr_assert_eq(get_be16(d + 6), 2);
			port = true;
		}
	}
	cr_assert(naa && t10 && port);
}

/* Through iSCSI, the port designators name the transport (PIV 1, protocol
 * 5) and the page adds the target port group, the port's SCSI name string
 * and the target device's, as LIO and a SAS LTO-6 drive report them. */
Test(spc_inquiry, vpd_83_through_iscsi_names_the_target_port_and_device)
{
	static const char name[] = "iqn.2026-11.test.vtl:spc,t,0x0001";
	target_port = name;
	RUN(N1, INQUIRY, 1, 0x83, 0x02, 0x00, 0); /* 512 bytes */
	target_port = NULL;
	cdb_assert_good(&cmd);
	uint32_t end = 4u + get_be16(in + 2);
	cr_assert_eq(cmd.in_len, end);
	int rel = 0, tpg = 0, port = 0, device = 0;
	for (uint32_t i = 4; i < end; i += 4u + in[i + 3]) {
		const uint8_t *d = in + i;
		uint8_t assoc = (d[1] >> 4) & 3, type = d[1] & 0x0f;
		if (assoc == 0) {
			cr_assert_eq(d[1] & 0x80, 0,
				     "PIV is zero for the logical unit's designators");
			continue;
		}
		cr_assert_eq(d[1] & 0x80, 0x80, "PIV: the protocol is known");
		cr_assert_eq(d[0] >> 4, 5, "protocol identifier iSCSI (SPC-4 table 362)");
		if (type == 4) {
			cr_assert_eq(assoc, 1);
			cr_assert_eq(get_be16(d + 6), 2);
			rel++;
		} else if (type == 5) {
			cr_assert_eq(assoc, 1);
			cr_assert_eq(d[3], 4);
			cr_assert_eq(get_be16(d + 6), 0);
			tpg++;
		} else if (type == 8) {
			cr_assert_eq(d[0] & 0x0f, 3, "UTF-8");
			cr_assert_eq(d[3] % 4, 0, "padded to a multiple of 4 (SPC-4 7.8.6.11)");
			const char *want = assoc == 1 ? name : "iqn.2026-11.test.vtl:spc";
			cr_assert_eq(strnlen((const char *)d + 4, d[3]), strlen(want),
				     "null-terminated");
			cr_assert_str_eq((const char *)d + 4, want);
			port += assoc == 1;
			device += assoc == 2;
		}
	}
	cr_assert(rel == 1 && tpg == 1 && port == 1 && device == 1);
}

Test(spc_inquiry, unknown_vpd_page_is_invalid_field_at_byte_2)
{
	RUN(N1, INQUIRY, 1, 0xc7, 0, 255, 0);
	expect_field(ASC_INVALID_FIELD_IN_CDB, true, 2, -1);
}

Test(spc_inquiry, vpd_page_is_truncated_to_allocation_length)
{
	RUN(N1, INQUIRY, 1, 0x83, 0, 6, 0);
	cdb_assert_good(&cmd);
	cr_assert_eq(cmd.in_len, 6);
	cr_assert_gt(get_be16(in + 2), 2, "PAGE LENGTH is the full length");
}

/* ------------------------------------------------------------------ */

TestSuite(spc_cdb, .init = setup, .fini = drive_down);

Test(spc_cdb, reserved_bit_is_invalid_field_with_bit_pointer)
{
	RUN(N1, TEST_UNIT_READY, 0x01, 0, 0, 0, 0);
	expect_field(ASC_INVALID_FIELD_IN_CDB, true, 1, 0);
	RUN(N1, INQUIRY, 0x20, 0, 0, 255, 0);
	expect_field(ASC_INVALID_FIELD_IN_CDB, true, 1, 5);
}

Test(spc_cdb, unknown_opcode_is_invalid_command_operation_code)
{
	RUN(N1, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
	cdb_assert_sense(&cmd, SK_ILLEGAL_REQUEST, ASC_INVALID_COMMAND_OPERATION_CODE);
}

Test(spc_cdb, unknown_service_action_points_at_the_field)
{
	RUN(N1, MAINTENANCE_IN, 0x1e, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0);
	expect_field(ASC_INVALID_FIELD_IN_CDB, true, 1, 4);
}

Test(spc_cdb, send_diagnostic_default_self_test_passes_other_forms_do_not)
{
	RUN(N1, SEND_DIAGNOSTIC, 0x04, 0, 0, 0, 0);
	cdb_assert_good(&cmd);
	RUN(N1, SEND_DIAGNOSTIC, 0x00, 0, 0, 0, 0);
	expect_field(ASC_INVALID_FIELD_IN_CDB, true, 1, 2);
}

Test(spc_cdb, report_supported_tmfs_lists_what_iscsi_executes)
{
	RUN(N1, MAINTENANCE_IN, MI_REPORT_SUPPORTED_TMFS, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0);
	cdb_assert_good(&cmd);
	cr_assert_eq(cmd.in_len, 4);
	cr_assert_eq(in[0], 0xfa, "ATS ATSS CACAS CTSS LURS TRS");
	RUN(N1, MAINTENANCE_IN, MI_REPORT_SUPPORTED_TMFS, 0x80, 0, 0, 0, 0, 0, 0, 16, 0, 0);
	cdb_assert_good(&cmd);
	cr_assert_eq(cmd.in_len, 16);
	cr_assert_eq(in[3], 0x0c);
}

/* ------------------------------------------------------------------ */

TestSuite(spc_ua, .init = drive_up, .fini = drive_down);

Test(spc_ua, first_command_of_a_nexus_reports_power_on_once)
{
	RUN(N1, TEST_UNIT_READY, 0, 0, 0, 0, 0);
	cdb_assert_sense(&cmd, SK_UNIT_ATTENTION, ASC_POWER_ON_RESET_OR_BUS_DEVICE_RESET);
	RUN(N1, TEST_UNIT_READY, 0, 0, 0, 0, 0);
	expect_allowed_medium();
	/* Another nexus has its own. */
	RUN(N2, TEST_UNIT_READY, 0, 0, 0, 0, 0);
	cdb_assert_sense(&cmd, SK_UNIT_ATTENTION, ASC_POWER_ON_RESET_OR_BUS_DEVICE_RESET);
}

Test(spc_ua, inquiry_runs_and_leaves_the_attention_pending)
{
	RUN(N1, INQUIRY, 0, 0, 0, 96, 0);
	cdb_assert_good(&cmd);
	RUN(N1, TEST_UNIT_READY, 0, 0, 0, 0, 0);
	cdb_assert_sense(&cmd, SK_UNIT_ATTENTION, ASC_POWER_ON_RESET_OR_BUS_DEVICE_RESET);
}

Test(spc_ua, request_sense_returns_the_attention_and_clears_it)
{
	RUN(N1, REQUEST_SENSE, 0, 0, 0, 252, 0);
	cdb_assert_good(&cmd);
	cr_assert_eq(in[0] & 0x7f, 0x70, "fixed format");
	cr_assert_eq(sense_key(in, cmd.in_len), SK_UNIT_ATTENTION);
	cr_assert_eq(sense_asc(in, cmd.in_len), ASC_POWER_ON_RESET_OR_BUS_DEVICE_RESET);
	/* Nothing pending any more: the drive tells why it is not ready. */
	RUN(N1, REQUEST_SENSE, 0, 0, 0, 252, 0);
	cdb_assert_good(&cmd);
	cr_assert_eq(sense_key(in, cmd.in_len), SK_NOT_READY);
	cr_assert_eq(sense_asc(in, cmd.in_len), ASC_MEDIUM_NOT_PRESENT);
	RUN(N1, TEST_UNIT_READY, 0, 0, 0, 0, 0);
	expect_allowed_medium();
}

Test(spc_ua, request_sense_desc_bit_selects_descriptor_format)
{
	RUN(N1, REQUEST_SENSE, 0x01, 0, 0, 252, 0);
	cdb_assert_good(&cmd);
	cr_assert_eq(in[0], 0x72);
	cr_assert_eq(in[1] & 0x0f, SK_UNIT_ATTENTION);
	cr_assert_eq(get_be16(in + 2), ASC_POWER_ON_RESET_OR_BUS_DEVICE_RESET);
	cr_assert_eq(cmd.in_len, 8u + in[7]);
}

Test(spc_ua, request_sense_honours_allocation_length)
{
	RUN(N1, REQUEST_SENSE, 0, 0, 0, 8, 0);
	cdb_assert_good(&cmd);
	cr_assert_eq(cmd.in_len, 8);
	cr_assert_eq(in[8], 0xee);
}

Test(spc_ua, attentions_queue_and_come_out_oldest_first)
{
	attach(N1);
	RUN(N2, INQUIRY, 0, 0, 0, 96, 0); /* N2 exists, power on pending */
	uint8_t ts[12] = {0};
	put_be48(ts + 4, 1700000000000ull);
	RUN_OUT(N1, ts, 12, MAINTENANCE_OUT, MO_SET_TIMESTAMP, 0, 0, 0, 0, 0, 0, 0, 12, 0, 0);
	cdb_assert_good(&cmd);
	RUN(N1, LOG_SELECT, 0x02, 0x40, 0, 0, 0, 0, 0, 0, 0);
	cdb_assert_good(&cmd);

	cr_assert_eq(next_ua(N2), ASC_POWER_ON_RESET_OR_BUS_DEVICE_RESET);
	cr_assert_eq(next_ua(N2), ASC_TIMESTAMP_CHANGED);
	cr_assert_eq(next_ua(N2), ASC_LOG_PARAMETERS_CHANGED);
	cr_assert_eq(next_ua(N2), 0);
	cr_assert_eq(next_ua(N1), 0, "the nexus that changed things is not told");
}

Test(spc_ua, lun_reset_raises_reset_attention_for_everyone)
{
	attach(N1);
	attach(N2);
	pthread_mutex_lock(&dev.lock);
	spc_lun_reset(&dev, N1);
	pthread_mutex_unlock(&dev.lock);
	cr_assert_eq(next_ua(N1), ASC_BUS_DEVICE_RESET_FUNCTION_OCCURRED);
	cr_assert_eq(next_ua(N2), ASC_BUS_DEVICE_RESET_FUNCTION_OCCURRED);
}

/* ------------------------------------------------------------------ */

TestSuite(spc_rsoc, .init = setup, .fini = drive_down);

Test(spc_rsoc, all_commands_lists_every_table_row)
{
	RUN(N1, MAINTENANCE_IN, MI_REPORT_SUPPORTED_OPERATION_CODES, 0, 0, 0, 0, 0, 0, 0x40, 0, 0,
	    0);
	cdb_assert_good(&cmd);
	uint32_t len = get_be32(in);
	cr_assert_eq(len, dev.type->n_ops * 8);
	cr_assert_eq(cmd.in_len, 4 + len);
	for (size_t i = 0; i < dev.type->n_ops; i++) {
		const struct scsi_op *op = &dev.type->ops[i];
		bool found = false;
		for (uint32_t off = 4; off < 4 + len; off += 8) {
			const uint8_t *d = in + off;
			bool servactv = d[5] & 1;
			if (d[0] != op->opcode || servactv != !!(op->flags & OPF_SA))
				continue;
			if (servactv && get_be16(d + 2) != op->sa)
				continue;
			cr_assert_eq(get_be16(d + 6), op->cdb_len, "%s", op->name);
			cr_assert_eq(d[5] & 2, 0, "no CTDP without RCTD");
			found = true;
		}
		cr_assert(found, "%s listed", op->name);
	}
}

Test(spc_rsoc, rctd_adds_a_timeouts_descriptor_to_each)
{
	RUN(N1, MAINTENANCE_IN, MI_REPORT_SUPPORTED_OPERATION_CODES, 0x80, 0, 0, 0, 0, 0, 0x40, 0,
	    0, 0);
	cdb_assert_good(&cmd);
	uint32_t len = get_be32(in);
	cr_assert_eq(len, dev.type->n_ops * 20);
	for (uint32_t off = 4; off < 4 + len; off += 20) {
		cr_assert(in[off + 5] & 2, "CTDP");
		cr_assert_eq(get_be16(in + off + 8), 0x0a);
		cr_assert_gt(get_be32(in + off + 16), 0, "recommended timeout");
	}
}

Test(spc_rsoc, one_command_returns_its_cdb_usage_mask)
{
	RUN(N1, MAINTENANCE_IN, MI_REPORT_SUPPORTED_OPERATION_CODES, 0x01, INQUIRY, 0, 0, 0, 0, 1,
	    0, 0, 0);
	cdb_assert_good(&cmd);
	const struct scsi_op *op = spc_find_op(dev.type, INQUIRY, 0);
	cr_assert_eq(in[1] & 0x07, 0x03, "SUPPORT: supported per standard");
	cr_assert_eq(get_be16(in + 2), 6);
	cr_assert_arr_eq(in + 4, op->usage, 6);
	cr_assert_eq(cmd.in_len, 10);
}

Test(spc_rsoc, one_command_by_service_action_carries_the_action_in_usage)
{
	RUN(N1, MAINTENANCE_IN, MI_REPORT_SUPPORTED_OPERATION_CODES, 0x82, MAINTENANCE_IN, 0,
	    MI_REPORT_SUPPORTED_OPERATION_CODES, 0, 0, 1, 0, 0, 0);
	cdb_assert_good(&cmd);
	cr_assert_eq(in[1], 0x83, "CTDP + SUPPORT 011b");
	cr_assert_eq(get_be16(in + 2), 12);
	cr_assert_eq(in[4], MAINTENANCE_IN);
	cr_assert_eq(in[5] & 0x1f, MI_REPORT_SUPPORTED_OPERATION_CODES);
	const struct scsi_op *op =
	    spc_find_op(dev.type, MAINTENANCE_IN, MI_REPORT_SUPPORTED_OPERATION_CODES);
	cr_assert_arr_eq(in + 6, op->usage + 2, 10);
	cr_assert_eq(get_be16(in + 16), 0x0a, "timeouts descriptor");
	cr_assert_eq(cmd.in_len, 4 + 12 + 12);
}

Test(spc_rsoc, unsupported_command_reports_support_001b)
{
	RUN(N1, MAINTENANCE_IN, MI_REPORT_SUPPORTED_OPERATION_CODES, 0x01, 0xc5, 0, 0, 0, 0, 1, 0,
	    0, 0);
	cdb_assert_good(&cmd);
	cr_assert_eq(in[1] & 7, 0x01);
	cr_assert_eq(get_be16(in + 2), 0);
}

Test(spc_rsoc, opcode_alone_for_a_service_action_command_is_invalid_field)
{
	RUN(N1, MAINTENANCE_IN, MI_REPORT_SUPPORTED_OPERATION_CODES, 0x01, MAINTENANCE_IN, 0, 0, 0,
	    0, 1, 0, 0, 0);
	expect_field(ASC_INVALID_FIELD_IN_CDB, true, 3, -1);
	RUN(N1, MAINTENANCE_IN, MI_REPORT_SUPPORTED_OPERATION_CODES, 0x02, INQUIRY, 0, 0, 0, 0, 1,
	    0, 0, 0);
	expect_field(ASC_INVALID_FIELD_IN_CDB, true, 3, -1);
}

Test(spc_rsoc, unknown_reporting_option_is_invalid_field)
{
	RUN(N1, MAINTENANCE_IN, MI_REPORT_SUPPORTED_OPERATION_CODES, 0x05, 0, 0, 0, 0, 0, 1, 0, 0,
	    0);
	expect_field(ASC_INVALID_FIELD_IN_CDB, true, 2, 2);
}

/* ------------------------------------------------------------------ */

TestSuite(spc_mode, .init = setup, .fini = drive_down);

/* MODE SENSE(6) of one page, current values, with block descriptor. */
static uint32_t mode_sense6(uint8_t pc_page, uint8_t subpage)
{
	RUN(N1, MODE_SENSE_6, 0, pc_page, subpage, 255, 0);
	cdb_assert_good(&cmd);
	return cmd.in_len;
}

Test(spc_mode, all_pages_have_header_block_descriptor_and_ascending_pages)
{
	uint32_t n = mode_sense6(0x3f, 0);
	cr_assert_eq(in[0], n - 1, "MODE DATA LENGTH");
	cr_assert_eq(in[3], 8, "one short block descriptor");
	int last = -1;
	size_t count = 0;
	for (uint32_t off = 12; off < n;) {
		cr_assert_eq(in[off] & 0x40, 0, "subpage 0 pages only");
		int page = in[off] & 0x3f;
		cr_assert_gt(page, last, "ascending");
		last = page;
		off += 2u + in[off + 1];
		cr_assert_leq(off, n);
		count++;
	}
	size_t want = 0;
	for (size_t i = 0; i < dev.type->n_mode; i++)
		want += dev.type->mode[i].subpage == 0;
	cr_assert_eq(count, want);
}

Test(spc_mode, mode_sense10_dbd_suppresses_the_block_descriptor)
{
	RUN(N1, MODE_SENSE_10, 0x08, 0x0a, 0, 0, 0, 0, 0, 255, 0);
	cdb_assert_good(&cmd);
	cr_assert_eq(get_be16(in), cmd.in_len - 2);
	cr_assert_eq(get_be16(in + 6), 0, "BLOCK DESCRIPTOR LENGTH");
	cr_assert_eq(in[4] & 1, 0, "LONGLBA");
	cr_assert_eq(in[8], 0x0a);
	cr_assert_eq(in[9], 0x0a);
	cr_assert_eq(cmd.in_len, 8 + 12);
}

Test(spc_mode, llbaa_still_gets_a_short_descriptor)
{
	RUN(N1, MODE_SENSE_10, 0x10, 0x0a, 0, 0, 0, 0, 0, 255, 0);
	cdb_assert_good(&cmd);
	cr_assert_eq(in[4] & 1, 0, "LONGLBA = 0");
	cr_assert_eq(get_be16(in + 6), 8);
}

Test(spc_mode, all_pages_and_subpages_include_the_control_extension)
{
	RUN(N1, MODE_SENSE_10, 0x08, 0x3f, 0xff, 0, 0, 0, 0x10, 0, 0);
	cdb_assert_good(&cmd);
	uint32_t n = cmd.in_len;
	cr_assert_eq(get_be16(in), n - 2);
	size_t count = 0;
	for (uint32_t off = 8; off < n; count++)
		off += (in[off] & 0x40) ? 4u + get_be16(in + off + 2) : 2u + in[off + 1];
	cr_assert_eq(count, dev.type->n_mode);
}

Test(spc_mode, saved_values_are_not_supported)
{
	RUN(N1, MODE_SENSE_6, 0, 0xca, 0, 255, 0);
	expect_field(ASC_SAVING_PARAMETERS_NOT_SUPPORTED, true, 2, 7);
}

Test(spc_mode, unknown_page_is_invalid_field_at_byte_2)
{
	RUN(N1, MODE_SENSE_6, 0, 0x2b, 0, 255, 0);
	expect_field(ASC_INVALID_FIELD_IN_CDB, true, 2, 5);
	RUN(N1, MODE_SENSE_6, 0, 0x0a, 0x07, 255, 0);
	expect_field(ASC_INVALID_FIELD_IN_CDB, true, 3, -1);
}

Test(spc_mode, changeable_control_page_shows_d_sense_only)
{
	mode_sense6(0x4a, 0);
	cr_assert_eq(in[12], 0x0a);
	cr_assert_eq(in[13], 10);
	cr_assert_eq(in[14], 0x04, "D_SENSE changeable");
	for (int i = 15; i < 24; i++)
		cr_assert_eq(in[i], 0, "byte %d not changeable", i - 12);
}

/* MODE SENSE(6) of the control page, edited by `edit`, sent back as MODE
 * SELECT(6) from N1 (header and block descriptor as read). */
static void select_control(void (*edit)(uint8_t *page))
{
	uint8_t list[24];
	uint32_t n = mode_sense6(0x0a, 0);
	cr_assert_eq(n, 24);
	memcpy(list, in, 24);
	list[0] = 0; /* MODE DATA LENGTH is reserved in MODE SELECT */
	edit(list + 12);
	RUN_OUT(N1, list, 24, MODE_SELECT_6, 0x10, 0, 0, 24, 0);
}

static void set_d_sense(uint8_t *p)
{
	p[2] |= 0x04;
}

static void flip_qerr(uint8_t *p)
{
	p[3] ^= 0x02;
}

static void no_change(uint8_t *p)
{
	(void)p;
}

Test(spc_mode, d_sense_switches_every_nexus_to_descriptor_sense)
{
	select_control(set_d_sense);
	cdb_assert_good(&cmd);
	mode_sense6(0x0a, 0);
	cr_assert(in[14] & 0x04, "D_SENSE now current");

	RUN(N1, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
	cdb_assert_sense(&cmd, SK_ILLEGAL_REQUEST, ASC_INVALID_COMMAND_OPERATION_CODE);
	cr_assert_eq(cmd.sense[0], 0x72, "descriptor format");
	cr_assert_eq(cmd.sense_len, 8);

	/* N2 learns of it, in descriptor format, then gets the field pointer
	 * in a sense-key specific descriptor. */
	RUN(N2, TEST_UNIT_READY, 0, 0, 0, 0, 0);
	cdb_assert_sense(&cmd, SK_UNIT_ATTENTION, ASC_MODE_PARAMETERS_CHANGED);
	cr_assert_eq(cmd.sense[0], 0x72);
	RUN(N2, TEST_UNIT_READY, 0x02, 0, 0, 0, 0);
	expect_field(ASC_INVALID_FIELD_IN_CDB, true, 1, 1);
	/* REQUEST SENSE follows its own DESC bit. */
	RUN(N3, REQUEST_SENSE, 0, 0, 0, 252, 0);
	cr_assert_eq(in[0] & 0x7f, 0x70);
}

Test(spc_mode, unchanged_select_raises_no_attention)
{
	select_control(no_change);
	cdb_assert_good(&cmd);
	cr_assert_eq(next_ua(N2), 0);
}

Test(spc_mode, changing_an_unchangeable_bit_points_into_the_parameter_list)
{
	select_control(flip_qerr);
	expect_field(ASC_INVALID_FIELD_IN_PARAMETER_LIST, false, 15, 1);
}

Test(spc_mode, sp_bit_is_invalid_field_in_cdb)
{
	uint8_t list[4] = {0};
	RUN_OUT(N1, list, 4, MODE_SELECT_6, 0x11, 0, 0, 4, 0);
	expect_field(ASC_INVALID_FIELD_IN_CDB, true, 1, 0);
}

Test(spc_mode, list_shorter_than_its_header_is_parameter_list_length_error)
{
	uint8_t list[4] = {0};
	RUN_OUT(N1, list, 2, MODE_SELECT_6, 0x10, 0, 0, 2, 0);
	cdb_assert_sense(&cmd, SK_ILLEGAL_REQUEST, ASC_PARAMETER_LIST_LENGTH_ERROR);
	uint8_t l10[8] = {0};
	RUN_OUT(N1, l10, 6, MODE_SELECT_10, 0x10, 0, 0, 0, 0, 0, 0, 6, 0);
	cdb_assert_sense(&cmd, SK_ILLEGAL_REQUEST, ASC_PARAMETER_LIST_LENGTH_ERROR);
}

Test(spc_mode, truncated_page_is_parameter_list_length_error)
{
	uint8_t list[4 + 12] = {0, 0, 0, 0, 0x0a, 0x0a};
	RUN_OUT(N1, list, 10, MODE_SELECT_6, 0x10, 0, 0, 10, 0);
	cdb_assert_sense(&cmd, SK_ILLEGAL_REQUEST, ASC_PARAMETER_LIST_LENGTH_ERROR);
}

Test(spc_mode, wrong_page_length_and_unknown_page_are_invalid_fields)
{
	uint8_t list[4 + 12] = {0, 0, 0, 0, 0x0a, 0x09};
	RUN_OUT(N1, list, 15, MODE_SELECT_6, 0x10, 0, 0, 15, 0);
	expect_field(ASC_INVALID_FIELD_IN_PARAMETER_LIST, false, 5, -1);
	uint8_t bad[4 + 4] = {0, 0, 0, 0, 0x2b, 0x02};
	RUN_OUT(N1, bad, 8, MODE_SELECT_6, 0x10, 0, 0, 8, 0);
	expect_field(ASC_INVALID_FIELD_IN_PARAMETER_LIST, false, 4, 5);
}

Test(spc_mode, mode_select10_without_block_descriptor_sets_d_sense)
{
	RUN(N1, MODE_SENSE_10, 0x08, 0x0a, 0, 0, 0, 0, 0, 255, 0);
	cdb_assert_good(&cmd);
	uint8_t list[20];
	memcpy(list, in, 20);
	list[0] = list[1] = 0;
	list[8 + 2] |= 0x04;
	RUN_OUT(N1, list, 20, MODE_SELECT_10, 0x10, 0, 0, 0, 0, 0, 0, 20, 0);
	cdb_assert_good(&cmd);
	cr_assert(dev.d_sense);
}

Test(spc_mode, zero_length_select_changes_nothing)
{
	RUN(N1, MODE_SELECT_6, 0x10, 0, 0, 0, 0);
	cdb_assert_good(&cmd);
	cr_assert_eq(next_ua(N2), 0);
}

/* ------------------------------------------------------------------ */

TestSuite(spc_log, .init = setup, .fini = drive_down);

Test(spc_log, page_0_lists_supported_pages_ascending)
{
	RUN(N1, LOG_SENSE, 0, 0x00, 0, 0, 0, 0, 0x01, 0, 0);
	cdb_assert_good(&cmd);
	cr_assert_eq(in[0], 0x00);
	cr_assert_eq(in[1], 0x00);
	uint16_t n = get_be16(in + 2);
	cr_assert_eq(cmd.in_len, 4u + n);
	cr_assert_eq(in[4], 0x00);
	for (uint16_t i = 1; i < n; i++)
		cr_assert_gt(in[4 + i], in[3 + i]);
	for (size_t i = 0; i < dev.type->n_log; i++) {
		if (dev.type->log[i].subpage)
			continue;
		cr_assert_not_null(memchr(in + 4, dev.type->log[i].page, n), "page %02x listed",
				   dev.type->log[i].page);
	}
	/* And every listed page answers with its own page code. */
	uint8_t pages[64];
	memcpy(pages, in + 4, n);
	for (uint16_t i = 1; i < n; i++) {
		RUN(N1, LOG_SENSE, 0, (uint8_t)(0x40 | pages[i]), 0, 0, 0, 0, 0x10, 0, 0);
		cdb_assert_good(&cmd);
		cr_assert_eq(in[0] & 0x3f, pages[i]);
		cr_assert_eq(cmd.in_len, 4u + get_be16(in + 2));
	}
}

Test(spc_log, subpage_ff_lists_page_and_subpage_pairs)
{
	RUN(N1, LOG_SENSE, 0, 0x00, 0xff, 0, 0, 0, 0x01, 0, 0);
	cdb_assert_good(&cmd);
	cr_assert_eq(in[0], 0x40, "SPF");
	cr_assert_eq(in[1], 0xff);
	uint16_t n = get_be16(in + 2);
	cr_assert_eq(n, 2 * (2 + dev.type->n_log));
	cr_assert_eq(get_be16(in + 4), 0x0000);
	cr_assert_eq(get_be16(in + 6), 0x00ff);
	for (uint16_t i = 2; i < n; i += 2)
		cr_assert_gt(get_be16(in + 4 + i), get_be16(in + 2 + i));
}

Test(spc_log, unknown_page_is_invalid_field_at_byte_2)
{
	RUN(N1, LOG_SENSE, 0, 0x45, 0, 0, 0, 0, 0x01, 0, 0);
	expect_field(ASC_INVALID_FIELD_IN_CDB, true, 2, 5);
}

Test(spc_log, parameter_pointer_beyond_the_list_is_invalid_field)
{
	RUN(N1, LOG_SENSE, 0, 0x00, 0, 0, 0, 1, 0x01, 0, 0);
	expect_field(ASC_INVALID_FIELD_IN_CDB, true, 5, -1);
}

Test(spc_log, truncated_to_allocation_length)
{
	RUN(N1, LOG_SENSE, 0, 0x00, 0, 0, 0, 0, 0, 5, 0);
	cdb_assert_good(&cmd);
	cr_assert_eq(cmd.in_len, 5);
}

Test(spc_log, select_with_pcr_resets_and_tells_the_others)
{
	RUN(N1, LOG_SELECT, 0x02, 0x40, 0, 0, 0, 0, 0, 0, 0);
	cdb_assert_good(&cmd);
	cr_assert_eq(next_ua(N2), ASC_LOG_PARAMETERS_CHANGED);
	cr_assert_eq(next_ua(N1), 0);
}

Test(spc_log, select_with_pcr_and_a_list_is_invalid_field)
{
	uint8_t list[4] = {0};
	RUN_OUT(N1, list, 4, LOG_SELECT, 0x02, 0x40, 0, 0, 0, 0, 0, 4, 0);
	expect_field(ASC_INVALID_FIELD_IN_CDB, true, 7, -1);
}

/* ------------------------------------------------------------------ */

TestSuite(spc_timestamp, .init = setup, .fini = drive_down);

static uint64_t report_ts(uint8_t *origin)
{
	RUN(N1, MAINTENANCE_IN, MI_REPORT_TIMESTAMP, 0, 0, 0, 0, 0, 0, 0, 12, 0, 0);
	cdb_assert_good(&cmd);
	cr_assert_eq(cmd.in_len, 12);
	cr_assert_eq(get_be16(in), 0x0a);
	*origin = in[2] & 7;
	return get_be48(in + 4);
}

Test(spc_timestamp, starts_at_power_on_origin)
{
	uint8_t origin;
	report_ts(&origin);
	cr_assert_eq(origin, 0);
}

Test(spc_timestamp, set_then_report_returns_the_value_and_origin_010b)
{
	const uint64_t t = 1700000000000ull;
	uint8_t list[12] = {0};
	put_be48(list + 4, t);
	RUN_OUT(N1, list, 12, MAINTENANCE_OUT, MO_SET_TIMESTAMP, 0, 0, 0, 0, 0, 0, 0, 12, 0, 0);
	cdb_assert_good(&cmd);
	uint8_t origin;
	uint64_t now = report_ts(&origin);
	cr_assert_eq(origin, 2);
	cr_assert_geq(now, t);
	cr_assert_lt(now, t + 5000);
	cr_assert_eq(next_ua(N2), ASC_TIMESTAMP_CHANGED);
	cr_assert_eq(next_ua(N1), 0);
}

Test(spc_timestamp, short_parameter_list_is_length_error)
{
	uint8_t list[12] = {0};
	RUN_OUT(N1, list, 8, MAINTENANCE_OUT, MO_SET_TIMESTAMP, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0);
	cdb_assert_sense(&cmd, SK_ILLEGAL_REQUEST, ASC_PARAMETER_LIST_LENGTH_ERROR);
}

/* ------------------------------------------------------------------ */

TestSuite(spc_resv6, .init = setup, .fini = drive_down);

Test(spc_resv6, reserve_shuts_out_other_nexuses_but_for_spc2_exceptions)
{
	RUN(N1, RESERVE_6, 0, 0, 0, 0, 0);
	cdb_assert_good(&cmd);

	RUN(N2, TEST_UNIT_READY, 0, 0, 0, 0, 0);
	expect_conflict();
	RUN(N2, MODE_SENSE_6, 0, 0x3f, 0, 255, 0);
	expect_conflict();
	RUN(N2, READ_6, 0, 0, 0, 1, 0);
	expect_conflict();
	RUN(N2, PERSISTENT_RESERVE_IN, 0, 0, 0, 0, 0, 0, 0, 64, 0);
	expect_conflict();
	RUN(N2, RESERVE_6, 0, 0, 0, 0, 0);
	expect_conflict();
	RUN(N2, PREVENT_ALLOW_MEDIUM_REMOVAL, 0, 0, 0, 1, 0);
	expect_conflict();

	RUN(N2, INQUIRY, 0, 0, 0, 96, 0);
	cdb_assert_good(&cmd);
	RUN(N2, REQUEST_SENSE, 0, 0, 0, 18, 0);
	cdb_assert_good(&cmd);
	RUN(N2, LOG_SENSE, 0, 0x00, 0, 0, 0, 0, 0x01, 0, 0);
	cdb_assert_good(&cmd);
	RUN(N2, PREVENT_ALLOW_MEDIUM_REMOVAL, 0, 0, 0, 0, 0);
	cdb_assert_good(&cmd);

	/* The holder itself goes on. */
	RUN(N1, TEST_UNIT_READY, 0, 0, 0, 0, 0);
	expect_allowed_medium();
	RUN(N1, RESERVE_6, 0, 0, 0, 0, 0);
	cdb_assert_good(&cmd);
}

Test(spc_resv6, release_by_another_nexus_is_good_and_changes_nothing)
{
	RUN(N1, RESERVE_6, 0, 0, 0, 0, 0);
	RUN(N2, RELEASE_6, 0, 0, 0, 0, 0);
	cdb_assert_good(&cmd);
	RUN(N2, TEST_UNIT_READY, 0, 0, 0, 0, 0);
	expect_conflict();
	RUN(N1, RELEASE_6, 0, 0, 0, 0, 0);
	cdb_assert_good(&cmd);
	RUN(N2, TEST_UNIT_READY, 0, 0, 0, 0, 0);
	expect_allowed_medium();
}

Test(spc_resv6, conflict_comes_before_a_pending_unit_attention)
{
	RUN(N1, RESERVE_6, 0, 0, 0, 0, 0);
	/* A new nexus with power on pending is shut out first ... */
	RUN(0x999, TEST_UNIT_READY, 0, 0, 0, 0, 0);
	expect_conflict();
	RUN(N1, RELEASE_6, 0, 0, 0, 0, 0);
	/* ... and still sees its unit attention once it may proceed. */
	RUN(0x999, TEST_UNIT_READY, 0, 0, 0, 0, 0);
	cdb_assert_sense(&cmd, SK_UNIT_ATTENTION, ASC_POWER_ON_RESET_OR_BUS_DEVICE_RESET);
}

Test(spc_resv6, lun_reset_and_nexus_loss_end_the_reservation)
{
	RUN(N1, RESERVE_6, 0, 0, 0, 0, 0);
	pthread_mutex_lock(&dev.lock);
	spc_lun_reset(&dev, N2);
	pthread_mutex_unlock(&dev.lock);
	attach(N2);
	RUN(N2, TEST_UNIT_READY, 0, 0, 0, 0, 0);
	expect_allowed_medium();

	RUN(N2, RESERVE_6, 0, 0, 0, 0, 0);
	cdb_assert_good(&cmd);
	pthread_mutex_lock(&dev.lock);
	spc_nexus_gone(&dev, N2);
	pthread_mutex_unlock(&dev.lock);
	attach(N1);
	RUN(N1, TEST_UNIT_READY, 0, 0, 0, 0, 0);
	expect_allowed_medium();
}

/* ------------------------------------------------------------------ */

static uint8_t prout(uint64_t nexus, uint8_t sa, uint8_t type, uint64_t key, uint64_t sa_key,
		     uint8_t flags)
{
	uint8_t p[24];
	memset(p, 0, sizeof(p));
	put_be64(p, key);
	put_be64(p + 8, sa_key);
	p[20] = flags;
	return RUN_OUT(nexus, p, 24, PERSISTENT_RESERVE_OUT, sa, type, 0, 0, 0, 0, 0, 24, 0);
}

static void prin(uint64_t nexus, uint8_t sa)
{
	RUN(nexus, PERSISTENT_RESERVE_IN, sa, 0, 0, 0, 0, 0, 0x10, 0, 0);
	cdb_assert_good(&cmd);
}

enum { REG = 0, RES = 1, REL = 2, CLR = 3, PRE = 4, PRA = 5, RIG = 6 };
enum { WE = 1, EA = 3, WE_RO = 5, EA_RO = 6, WE_AR = 7, EA_AR = 8 };

static uint32_t generation(void)
{
	prin(NX, 0);
	return get_be32(in);
}

static bool has_key(uint64_t key)
{
	prin(NX, 0);
	for (uint32_t i = 0; i < get_be32(in + 4); i += 8)
		if (get_be64(in + 8 + i) == key)
			return true;
	return false;
}

/* READ RESERVATION: the type held, or 0 for none; *key the holder key. */
static uint8_t reservation(uint64_t *key)
{
	prin(NX, 1);
	if (get_be32(in + 4) == 0)
		return 0;
	cr_assert_eq(get_be32(in + 4), 16);
	if (key)
		*key = get_be64(in + 8);
	cr_assert_eq(in[21] >> 4, 0, "LU scope");
	return in[21] & 0x0f;
}

TestSuite(spc_pr, .init = setup, .fini = drive_down);

Test(spc_pr, register_lists_the_key_and_bumps_the_generation)
{
	uint32_t g = generation();
	cr_assert_eq(prout(N1, REG, 0, 0, 0xaa, 0), SAM_STAT_GOOD);
	cr_assert_eq(generation(), g + 1);
	prin(N2, 0);
	cr_assert_eq(get_be32(in + 4), 8);
	cr_assert_eq(get_be64(in + 8), 0xaa);
	cr_assert_eq(cmd.in_len, 16);
	/* Re-registering with the right key changes it. */
	cr_assert_eq(prout(N1, REG, 0, 0xaa, 0xab, 0), SAM_STAT_GOOD);
	cr_assert(has_key(0xab) && !has_key(0xaa));
	cr_assert_eq(generation(), g + 2);
}

Test(spc_pr, register_with_a_wrong_key_conflicts)
{
	prout(N1, REG, 0, 0, 0xaa, 0);
	prout(N1, REG, 0, 0xbb, 0xcc, 0);
	expect_conflict();
	/* Unregistered nexus must send reservation key 0. */
	prout(N2, REG, 0, 0x11, 0x22, 0);
	expect_conflict();
	cr_assert(!has_key(0x22));
}

Test(spc_pr, register_and_ignore_existing_key_replaces_any_key)
{
	prout(N1, REG, 0, 0, 0xaa, 0);
	cr_assert_eq(prout(N1, RIG, 0, 0x1234, 0xbb, 0), SAM_STAT_GOOD);
	cr_assert(has_key(0xbb) && !has_key(0xaa));
	cr_assert_eq(prout(N2, RIG, 0, 0x5555, 0xcc, 0), SAM_STAT_GOOD);
	cr_assert(has_key(0xcc));
}

Test(spc_pr, register_with_zero_service_action_key_unregisters)
{
	prout(N1, REG, 0, 0, 0xaa, 0);
	uint32_t g = generation();
	cr_assert_eq(prout(N1, REG, 0, 0xaa, 0, 0), SAM_STAT_GOOD);
	cr_assert(!has_key(0xaa));
	cr_assert_eq(generation(), g + 1);
	/* Unregistered with key 0 and SA key 0: nothing happens. */
	cr_assert_eq(prout(N1, REG, 0, 0, 0, 0), SAM_STAT_GOOD);
	cr_assert_eq(generation(), g + 1);
}

Test(spc_pr, aptpl_all_tg_pt_and_spec_i_pt_are_rejected)
{
	prout(N1, REG, 0, 0, 0xaa, 0x01);
	expect_field(ASC_INVALID_FIELD_IN_PARAMETER_LIST, false, 20, 0);
	prout(N1, REG, 0, 0, 0xaa, 0x04);
	expect_field(ASC_INVALID_FIELD_IN_PARAMETER_LIST, false, 20, 2);
	prout(N1, REG, 0, 0, 0xaa, 0x08);
	expect_field(ASC_INVALID_FIELD_IN_PARAMETER_LIST, false, 20, 3);
	cr_assert(!has_key(0xaa));
}

Test(spc_pr, parameter_list_other_than_24_bytes_is_length_error)
{
	uint8_t p[32] = {0};
	RUN_OUT(N1, p, 32, PERSISTENT_RESERVE_OUT, REG, 0, 0, 0, 0, 0, 0, 32, 0);
	cdb_assert_sense(&cmd, SK_ILLEGAL_REQUEST, ASC_PARAMETER_LIST_LENGTH_ERROR);
	RUN_OUT(N1, p, 20, PERSISTENT_RESERVE_OUT, REG, 0, 0, 0, 0, 0, 0, 20, 0);
	cdb_assert_sense(&cmd, SK_ILLEGAL_REQUEST, ASC_PARAMETER_LIST_LENGTH_ERROR);
}

Test(spc_pr, reserve_needs_a_registration_and_its_key)
{
	prout(N1, RES, WE, 0, 0, 0);
	expect_conflict();
	prout(N1, REG, 0, 0, 0xaa, 0);
	prout(N1, RES, WE, 0xab, 0, 0);
	expect_conflict();
	cr_assert_eq(reservation(NULL), 0);
}

Test(spc_pr, reserve_is_reported_by_read_reservation_without_generation_change)
{
	prout(N1, REG, 0, 0, 0xaa, 0);
	uint32_t g = generation();
	cr_assert_eq(prout(N1, RES, EA, 0xaa, 0, 0), SAM_STAT_GOOD);
	uint64_t key;
	cr_assert_eq(reservation(&key), EA);
	cr_assert_eq(key, 0xaa);
	cr_assert_eq(get_be32(in), g, "RESERVE does not bump PRgeneration");
}

Test(spc_pr, reserve_again_same_type_is_good_other_type_conflicts)
{
	prout(N1, REG, 0, 0, 0xaa, 0);
	prout(N2, REG, 0, 0, 0xbb, 0);
	prout(N1, RES, WE, 0xaa, 0, 0);
	cr_assert_eq(prout(N1, RES, WE, 0xaa, 0, 0), SAM_STAT_GOOD);
	prout(N1, RES, EA, 0xaa, 0, 0);
	expect_conflict();
	prout(N2, RES, WE, 0xbb, 0, 0);
	expect_conflict();
	cr_assert_eq(reservation(NULL), WE);
}

Test(spc_pr, bad_type_or_scope_is_invalid_field_in_cdb)
{
	prout(N1, REG, 0, 0, 0xaa, 0);
	prout(N1, RES, 0x02, 0xaa, 0, 0);
	expect_field(ASC_INVALID_FIELD_IN_CDB, true, 2, 3);
	prout(N1, RES, 0x10 | WE, 0xaa, 0, 0);
	expect_field(ASC_INVALID_FIELD_IN_CDB, true, 2, 7);
}

Test(spc_pr, release_with_another_type_is_invalid_release)
{
	prout(N1, REG, 0, 0, 0xaa, 0);
	prout(N1, RES, WE, 0xaa, 0, 0);
	prout(N1, REL, EA, 0xaa, 0, 0);
	cdb_assert_sense(&cmd, SK_ILLEGAL_REQUEST, ASC_INVALID_RELEASE_OF_PERSISTENT_RESERVATION);
	cr_assert_eq(reservation(NULL), WE);
	cr_assert_eq(prout(N1, REL, WE, 0xaa, 0, 0), SAM_STAT_GOOD);
	cr_assert_eq(reservation(NULL), 0);
	cr_assert(has_key(0xaa), "RELEASE keeps the registration");
}

Test(spc_pr, release_by_a_registered_non_holder_is_good_and_changes_nothing)
{
	prout(N1, REG, 0, 0, 0xaa, 0);
	prout(N2, REG, 0, 0, 0xbb, 0);
	prout(N1, RES, EA, 0xaa, 0, 0);
	cr_assert_eq(prout(N2, REL, EA, 0xbb, 0, 0), SAM_STAT_GOOD);
	cr_assert_eq(reservation(NULL), EA);
	/* An unregistered nexus may not even try. */
	prout(N3, REL, EA, 0, 0, 0);
	expect_conflict();
}

Test(spc_pr, releasing_a_registrants_only_reservation_tells_the_other_registrants)
{
	prout(N1, REG, 0, 0, 0xaa, 0);
	prout(N2, REG, 0, 0, 0xbb, 0);
	prout(N1, RES, WE_RO, 0xaa, 0, 0);
	cr_assert_eq(prout(N1, REL, WE_RO, 0xaa, 0, 0), SAM_STAT_GOOD);
	cr_assert_eq(next_ua(N2), ASC_RESERVATIONS_RELEASED);
	cr_assert_eq(next_ua(N3), 0, "not registered, not told");
	cr_assert_eq(next_ua(N1), 0);
}

Test(spc_pr, unregistering_the_holder_releases_the_reservation)
{
	prout(N1, REG, 0, 0, 0xaa, 0);
	prout(N2, REG, 0, 0, 0xbb, 0);
	prout(N1, RES, EA_RO, 0xaa, 0, 0);
	cr_assert_eq(prout(N1, REG, 0, 0xaa, 0, 0), SAM_STAT_GOOD);
	cr_assert_eq(reservation(NULL), 0);
	cr_assert_eq(next_ua(N2), ASC_RESERVATIONS_RELEASED);
}

Test(spc_pr, all_registrants_reservation_lasts_until_the_last_registrant_leaves)
{
	prout(N1, REG, 0, 0, 0xaa, 0);
	prout(N2, REG, 0, 0, 0xbb, 0);
	prout(N1, RES, EA_AR, 0xaa, 0, 0);
	uint64_t key = 1;
	cr_assert_eq(reservation(&key), EA_AR);
	cr_assert_eq(key, 0, "all-registrants reports key 0");
	/* N2 is a holder too. */
	RUN(N2, WRITE_6, 0, 0, 0, 0, 0);
	expect_allowed_medium();
	prout(N1, REG, 0, 0xaa, 0, 0);
	cr_assert_eq(reservation(NULL), EA_AR);
	prout(N2, REG, 0, 0xbb, 0, 0);
	cr_assert_eq(reservation(NULL), 0);
}

Test(spc_pr, clear_removes_everything_and_raises_reservations_preempted)
{
	prout(N1, REG, 0, 0, 0xaa, 0);
	prout(N2, REG, 0, 0, 0xbb, 0);
	prout(N1, RES, WE, 0xaa, 0, 0);
	uint32_t g = generation();
	cr_assert_eq(prout(N2, CLR, 0, 0xbb, 0, 0), SAM_STAT_GOOD);
	cr_assert_eq(reservation(NULL), 0);
	cr_assert_eq(get_be32(in), g + 1);
	prin(NX, 0);
	cr_assert_eq(get_be32(in + 4), 0);
	cr_assert_eq(next_ua(N1), ASC_RESERVATIONS_PREEMPTED);
	cr_assert_eq(next_ua(N2), 0);
	cr_assert_eq(next_ua(N3), 0);
}

Test(spc_pr, clear_from_unregistered_nexus_conflicts)
{
	prout(N1, REG, 0, 0, 0xaa, 0);
	prout(N3, CLR, 0, 0, 0, 0);
	expect_conflict();
	cr_assert(has_key(0xaa));
}

Test(spc_pr, preempt_removes_other_registration_and_raises_ua)
{
	prout(N1, REG, 0, 0, 0xaa, 0);
	prout(N2, REG, 0, 0, 0xbb, 0);
	uint32_t g = generation();
	cr_assert_eq(prout(N1, PRE, WE, 0xaa, 0xbb, 0), SAM_STAT_GOOD);
	cr_assert(!has_key(0xbb) && has_key(0xaa));
	cr_assert_eq(generation(), g + 1);
	cr_assert_eq(reservation(NULL), 0, "no reservation to take over");
	cr_assert_eq(next_ua(N2), ASC_REGISTRATIONS_PREEMPTED);
	cr_assert_eq(next_ua(N1), 0);
}

Test(spc_pr, preempting_the_holder_takes_over_its_reservation)
{
	prout(N1, REG, 0, 0, 0xaa, 0);
	prout(N2, REG, 0, 0, 0xbb, 0);
	prout(N3, REG, 0, 0, 0xcc, 0);
	prout(N1, RES, EA, 0xaa, 0, 0);
	RUN(N2, READ_6, 0, 0, 0, 1, 0);
	expect_conflict();

	cr_assert_eq(prout(N2, PRE, WE, 0xbb, 0xaa, 0), SAM_STAT_GOOD);
	uint64_t key;
	cr_assert_eq(reservation(&key), WE);
	cr_assert_eq(key, 0xbb);
	cr_assert(!has_key(0xaa) && has_key(0xbb) && has_key(0xcc));
	cr_assert_eq(next_ua(N1), ASC_REGISTRATIONS_PREEMPTED);
	/* The type changed: the registrant that stays learns of it. */
	cr_assert_eq(next_ua(N3), ASC_RESERVATIONS_RELEASED);
	RUN(N2, WRITE_6, 0, 0, 0, 0, 0);
	expect_allowed_medium();
	RUN(N1, WRITE_6, 0, 0, 0, 0, 0);
	expect_conflict();
}

Test(spc_pr, preempt_and_abort_acts_as_preempt)
{
	prout(N1, REG, 0, 0, 0xaa, 0);
	prout(N2, REG, 0, 0, 0xbb, 0);
	prout(N1, RES, WE, 0xaa, 0, 0);
	cr_assert_eq(prout(N2, PRA, WE, 0xbb, 0xaa, 0), SAM_STAT_GOOD);
	uint64_t key;
	cr_assert_eq(reservation(&key), WE);
	cr_assert_eq(key, 0xbb);
	cr_assert_eq(next_ua(N1), ASC_REGISTRATIONS_PREEMPTED);
}

Test(spc_pr, preempt_of_an_unknown_key_conflicts)
{
	prout(N1, REG, 0, 0, 0xaa, 0);
	uint32_t g = generation();
	prout(N1, PRE, WE, 0xaa, 0x77, 0);
	expect_conflict();
	cr_assert_eq(generation(), g);
}

Test(spc_pr, preempt_with_zero_key_outside_all_registrants_is_invalid)
{
	prout(N1, REG, 0, 0, 0xaa, 0);
	prout(N1, RES, WE, 0xaa, 0, 0);
	prout(N2, REG, 0, 0, 0xbb, 0);
	prout(N2, PRE, WE, 0xbb, 0, 0);
	expect_field(ASC_INVALID_FIELD_IN_PARAMETER_LIST, false, 8, -1);
}

Test(spc_pr, preempt_all_registrants_with_zero_key_keeps_only_the_preemptor)
{
	prout(N1, REG, 0, 0, 0xaa, 0);
	prout(N2, REG, 0, 0, 0xbb, 0);
	prout(N3, REG, 0, 0, 0xcc, 0);
	prout(N1, RES, WE_AR, 0xaa, 0, 0);
	cr_assert_eq(prout(N2, PRE, EA, 0xbb, 0, 0), SAM_STAT_GOOD);
	uint64_t key;
	cr_assert_eq(reservation(&key), EA);
	cr_assert_eq(key, 0xbb);
	prin(NX, 0);
	cr_assert_eq(get_be32(in + 4), 8);
	cr_assert_eq(next_ua(N1), ASC_REGISTRATIONS_PREEMPTED);
	cr_assert_eq(next_ua(N3), ASC_REGISTRATIONS_PREEMPTED);
}

Test(spc_pr, report_capabilities_lists_the_six_types)
{
	prin(N1, 2);
	cr_assert_eq(cmd.in_len, 8);
	cr_assert_eq(get_be16(in), 8);
	cr_assert_eq(in[2], 0x10, "CRH, no SIP_C/ATP_C/PTPL_C");
	cr_assert_eq(in[3], 0xa0, "TMV, ALLOW COMMANDS 010b");
	cr_assert_eq(in[4], 0xea);
	cr_assert_eq(in[5], 0x01);
}

Test(spc_pr, read_full_status_marks_the_holder)
{
	prout(N1, REG, 0, 0, 0xaa, 0);
	prout(N2, REG, 0, 0, 0xbb, 0);
	prout(N2, RES, EA_RO, 0xbb, 0, 0);
	prin(N3, 3);
	uint32_t len = get_be32(in + 4);
	cr_assert_eq(cmd.in_len, 8 + len);
	int holders = 0, descs = 0;
	for (uint32_t off = 8; off < 8 + len; descs++) {
		const uint8_t *d = in + off;
		if (d[12] & 1) {
			holders++;
			cr_assert_eq(get_be64(d), 0xbb);
			cr_assert_eq(d[13], EA_RO);
		}
		cr_assert_eq(get_be16(d + 18), 2, "relative target port");
		off += 24 + get_be32(d + 20);
	}
	cr_assert_eq(descs, 2);
	cr_assert_eq(holders, 1);
}

Test(spc_pr, read_full_status_names_iscsi_initiator_ports)
{
	port_name = "iqn.1994-05.com.redhat:host1,i,0x23d000000001";
	prout(N1, REG, 0, 0, 0xaa, 0);
	port_name = NULL;
	prin(N3, 3);
	cr_assert_eq(get_be32(in + 4), 24 + 52);
	const uint8_t *tid = in + 8 + 24;
	cr_assert_eq(get_be32(in + 8 + 20), 52, "TransportID length");
	cr_assert_eq(tid[0], 0x45, "FORMAT CODE 01b, PROTOCOL IDENTIFIER iSCSI");
	cr_assert_eq(get_be16(tid + 2), 48, "name padded to a multiple of 4, NUL included");
	cr_assert_str_eq((const char *)tid + 4, "iqn.1994-05.com.redhat:host1,i,0x23d000000001");
}

Test(spc_pr, unknown_service_action_is_invalid_field)
{
	RUN(N1, PERSISTENT_RESERVE_IN, 0x09, 0, 0, 0, 0, 0, 0x10, 0, 0);
	expect_field(ASC_INVALID_FIELD_IN_CDB, true, 1, 4);
	uint8_t p[24] = {0};
	RUN_OUT(N1, p, 24, PERSISTENT_RESERVE_OUT, 0x07, 0, 0, 0, 0, 0, 0, 24, 0);
	expect_field(ASC_INVALID_FIELD_IN_CDB, true, 1, 4);
}

/*
 * SPC-4 5.13.1 table 63 for each type: N1 registered and holding, N2
 * registered, N3 not registered. A medium read (READ(6)), a medium write
 * (WRITE(6)), and commands allowed under every reservation.
 */
Test(spc_pr, conflict_matrix_follows_spc4_table_63)
{
	static const struct {
		uint8_t type;
		bool reg_read, reg_write, other_read;
	} rows[] = {
	    {WE, true, false, true},	{EA, false, false, false}, {WE_RO, true, true, true},
	    {EA_RO, true, true, false}, {WE_AR, true, true, true}, {EA_AR, true, true, false},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		drive_down();
		setup();
		prout(N1, REG, 0, 0, 0xaa, 0);
		prout(N2, REG, 0, 0, 0xbb, 0);
		cr_assert_eq(prout(N1, RES, rows[i].type, 0xaa, 0, 0), SAM_STAT_GOOD);

		RUN(N1, READ_6, 0, 0, 0, 1, 0);
		expect_allowed_medium();
		RUN(N1, WRITE_6, 0, 0, 0, 0, 0);
		expect_allowed_medium();

		RUN(N2, READ_6, 0, 0, 0, 1, 0);
		if (rows[i].reg_read)
			expect_allowed_medium();
		else
			expect_conflict();
		RUN(N2, WRITE_6, 0, 0, 0, 0, 0);
		if (rows[i].reg_write)
			expect_allowed_medium();
		else
			expect_conflict();

		RUN(N3, READ_6, 0, 0, 0, 1, 0);
		if (rows[i].other_read)
			expect_allowed_medium();
		else
			expect_conflict();
		RUN(N3, WRITE_6, 0, 0, 0, 0, 0);
		expect_conflict();
		RUN(N3, MODE_SELECT_6, 0x10, 0, 0, 0, 0);
		expect_conflict();
		RUN(N3, MODE_SENSE_6, 0x08, 0x0a, 0, 255, 0);
		if (rows[i].other_read)
			cdb_assert_good(&cmd);
		else
			expect_conflict();
		RUN(N3, MAINTENANCE_OUT, MO_SET_TIMESTAMP, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
		expect_conflict();
		RUN(N3, MAINTENANCE_IN, MI_REPORT_TIMESTAMP, 0, 0, 0, 0, 0, 0, 0, 12, 0, 0);
		cdb_assert_good(&cmd);
		RUN(N3, PREVENT_ALLOW_MEDIUM_REMOVAL, 0, 0, 0, 1, 0);
		expect_conflict();

		/* Allowed for everyone under every type. */
		RUN(N3, INQUIRY, 0, 0, 0, 96, 0);
		cdb_assert_good(&cmd);
		RUN(N3, REQUEST_SENSE, 0, 0, 0, 18, 0);
		cdb_assert_good(&cmd);
		RUN(N3, LOG_SENSE, 0, 0x00, 0, 0, 0, 0, 0x01, 0, 0);
		cdb_assert_good(&cmd);
		RUN(N3, TEST_UNIT_READY, 0, 0, 0, 0, 0);
		expect_allowed_medium();
		RUN(N3, PREVENT_ALLOW_MEDIUM_REMOVAL, 0, 0, 0, 0, 0);
		cdb_assert_good(&cmd);
		prin(N3, 0);
		/* N3 may register even now. */
		cr_assert_eq(prout(N3, REG, 0, 0, 0xcc, 0), SAM_STAT_GOOD);
	}
}

Test(spc_pr, reserve6_conflicts_while_registrations_exist)
{
	prout(N1, REG, 0, 0, 0xaa, 0);
	RUN(N2, RESERVE_6, 0, 0, 0, 0, 0);
	expect_conflict();
	RUN(N1, RESERVE_6, 0, 0, 0, 0, 0);
	expect_conflict(); /* registered but holding nothing */
	prout(N1, RES, WE, 0xaa, 0, 0);
	/* SPC-4 5.13.3: from the holder, GOOD with no effect. */
	RUN(N1, RESERVE_6, 0, 0, 0, 0, 0);
	cdb_assert_good(&cmd);
	cr_assert(!dev.resv6_held);
	RUN(N1, RELEASE_6, 0, 0, 0, 0, 0);
	cdb_assert_good(&cmd);
	cr_assert_eq(reservation(NULL), WE);
	RUN(N2, RELEASE_6, 0, 0, 0, 0, 0);
	expect_conflict();
}

Test(spc_pr, persistent_reserve_conflicts_under_reserve6_of_another_nexus)
{
	RUN(N1, RESERVE_6, 0, 0, 0, 0, 0);
	prout(N2, REG, 0, 0, 0xbb, 0);
	expect_conflict();
	cr_assert_eq(prout(N1, REG, 0, 0, 0xaa, 0), SAM_STAT_GOOD);
}

/* ------------------------------------------------------------------ */

TestSuite(spc_prevent, .init = setup, .fini = drive_down);

Test(spc_prevent, prevention_is_lifted_only_by_the_nexus_that_set_it)
{
	RUN(N1, PREVENT_ALLOW_MEDIUM_REMOVAL, 0, 0, 0, 1, 0);
	cdb_assert_good(&cmd);
	cr_assert(dev.prevent_removal);
	RUN(N2, PREVENT_ALLOW_MEDIUM_REMOVAL, 0, 0, 0, 0, 0);
	cdb_assert_good(&cmd);
	cr_assert(dev.prevent_removal);
	RUN(N1, PREVENT_ALLOW_MEDIUM_REMOVAL, 0, 0, 0, 0, 0);
	cdb_assert_good(&cmd);
	cr_assert(!dev.prevent_removal);
}

Test(spc_prevent, prevent_values_above_one_are_invalid)
{
	RUN(N1, PREVENT_ALLOW_MEDIUM_REMOVAL, 0, 0, 0, 2, 0);
	expect_field(ASC_INVALID_FIELD_IN_CDB, true, 4, 1);
	cr_assert(!dev.prevent_removal);
}

/* ------------------------------------------------------------------ */

TestSuite(spc_pages, .init = setup, .fini = drive_down);

Test(spc_pages, informational_exceptions_mrie_is_changeable_within_range)
{
	RUN(N1, MODE_SENSE_10, 0x08, 0x1c, 0, 0, 0, 0, 0, 255, 0);
	cdb_assert_good(&cmd);
	cr_assert_eq(cmd.in_len, 8 + 12);
	uint8_t list[20];
	memcpy(list, in, 20);
	list[0] = list[1] = 0;
	list[8 + 3] = 0x03; /* MRIE: conditionally generate recovered error */
	put_be32(list + 8 + 8, 1);
	RUN_OUT(N1, list, 20, MODE_SELECT_10, 0x10, 0, 0, 0, 0, 0, 0, 20, 0);
	cdb_assert_good(&cmd);
	RUN(N1, MODE_SENSE_10, 0x08, 0x1c, 0, 0, 0, 0, 0, 255, 0);
	cr_assert_eq(in[8 + 3], 0x03);
	cr_assert_eq(get_be32(in + 8 + 8), 1);
	cr_assert_eq(next_ua(N2), ASC_MODE_PARAMETERS_CHANGED);

	list[8 + 3] = 0x07; /* reserved MRIE value */
	RUN_OUT(N1, list, 20, MODE_SELECT_10, 0x10, 0, 0, 0, 0, 0, 0, 20, 0);
	expect_field(ASC_INVALID_FIELD_IN_PARAMETER_LIST, false, 11, 3);
	list[8 + 3] = 0x03;
	/* TEST on a tape drive: bytes 8-11 are a TEST FLAG NUMBER, and 0 is
	 * none (scsi/tapealert.h). */
	list[8 + 2] |= 0x04;
	put_be32(list + 8 + 8, 0);
	RUN_OUT(N1, list, 20, MODE_SELECT_10, 0x10, 0, 0, 0, 0, 0, 0, 20, 0);
	expect_field(ASC_INVALID_FIELD_IN_PARAMETER_LIST, false, 16, -1);
	/* Flag 1 set by the test: REPORT COUNT keeps its value, TEST reads
	 * back zero. */
	put_be32(list + 8 + 8, 1);
	RUN_OUT(N1, list, 20, MODE_SELECT_10, 0x10, 0, 0, 0, 0, 0, 0, 20, 0);
	cdb_assert_good(&cmd);
	RUN(N1, MODE_SENSE_10, 0x08, 0x1c, 0, 0, 0, 0, 0, 255, 0);
	cr_assert_eq(in[8 + 2] & 0x04, 0);
	cr_assert_eq(get_be32(in + 8 + 8), 1);
}

Test(spc_pages, default_values_of_control_page_have_d_sense_clear)
{
	dev.d_sense = true;
	RUN(N1, MODE_SENSE_6, 0x08, 0x8a, 0, 255, 0);
	cdb_assert_good(&cmd);
	cr_assert_eq(in[3], 0, "DBD");
	cr_assert_eq(in[4], 0x0a);
	cr_assert_eq(in[6] & 0x04, 0);
}

Test(spc_pages, log_select_accepts_bare_page_headers_but_no_parameters)
{
	RUN(N1, LOG_SENSE, 0, 0x00, 0, 0, 0, 0, 0x01, 0, 0);
	uint8_t page = in[5]; /* first page after 0x00 */
	uint8_t hdr[4] = {page, 0, 0, 0};
	RUN_OUT(N1, hdr, 4, LOG_SELECT, 0, 0x40, 0, 0, 0, 0, 0, 4, 0);
	cdb_assert_good(&cmd);
	uint8_t param[8] = {page, 0, 0, 4, 0, 1, 0x03, 0};
	RUN_OUT(N1, param, 8, LOG_SELECT, 0, 0x40, 0, 0, 0, 0, 0, 8, 0);
	expect_field(ASC_PARAMETER_NOT_SUPPORTED, false, 4, -1);
}

Test(spc_pages, rsoc_option_3_matches_with_or_without_service_action)
{
	RUN(N1, MAINTENANCE_IN, MI_REPORT_SUPPORTED_OPERATION_CODES, 0x03, INQUIRY, 0, 0, 0, 0, 1,
	    0, 0, 0);
	cdb_assert_good(&cmd);
	cr_assert_eq(in[1] & 7, 3);
	RUN(N1, MAINTENANCE_IN, MI_REPORT_SUPPORTED_OPERATION_CODES, 0x03, MAINTENANCE_IN, 0,
	    MI_REPORT_TIMESTAMP, 0, 0, 1, 0, 0, 0);
	cdb_assert_good(&cmd);
	cr_assert_eq(in[1] & 7, 3);
	cr_assert_eq(in[5] & 0x1f, MI_REPORT_TIMESTAMP);
	RUN(N1, MAINTENANCE_IN, MI_REPORT_SUPPORTED_OPERATION_CODES, 0x03, INQUIRY, 0, 1, 0, 0, 1,
	    0, 0, 0);
	cdb_assert_good(&cmd);
	cr_assert_eq(in[1] & 7, 1, "INQUIRY has no service action 1");
}

Test(spc_pages, mode_sense6_is_truncated_to_allocation_length)
{
	RUN(N1, MODE_SENSE_6, 0, 0x3f, 0, 7, 0);
	cdb_assert_good(&cmd);
	cr_assert_eq(cmd.in_len, 7);
	cr_assert_gt(in[0], 6, "MODE DATA LENGTH reports the whole list");
}
