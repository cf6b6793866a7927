/*
 * test_crypto_vtld.c - drive encryption through the real vtld (tests/
 * iscsi/vtld_proc.c) and libiscsi: the key set with SECURITY PROTOCOL OUT
 * over iSCSI, records written and read back, the tape unloaded and
 * uploaded to the local-directory store; then every file of the data
 * directory (catalog, media, store, vtld's log) is searched for the key
 * and for the plaintext. After a restart vtld holds no key: the tape does
 * not read until the key is given again (docs/scsi.md, "Drive encryption").
 */
#include "config.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <iscsi.h>
#include <scsi-lowlevel.h>

#include "tests/iscsi/harness.h"
#include "tests/iscsi/vtld_proc.h"
#include "tests/vtl/tree_search.h"

static struct vtld_proc vtl;

static void stop(void)
{
	vp_stop(&vtl);
}

TestSuite(crypto_vtld, .fini = stop, .timeout = 120);

static const uint8_t key[32] = {0xc3, 0x5e, 0x71, 0x09, 0xaa, 0x42, 0x17, 0xe8, 0x3b, 0x90, 0x6d,
				0x24, 0xf1, 0x88, 0x0c, 0x5f, 0x93, 0x2e, 0xb7, 0x61, 0x4a, 0xd8,
				0x15, 0x7c, 0xe2, 0x39, 0xa0, 0x56, 0x0f, 0xcb, 0x84, 0x1d};

/* Plaintext that is easy to find: a repeated sentence. */
static void plaintext(uint8_t *buf, size_t len)
{
	static const char s[] = "vtl drive encryption plaintext marker; ";
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)s[i % (sizeof(s) - 1)];
}

static int spout_key(struct iscsi_context *iscsi, const uint8_t *k, uint8_t enc, uint8_t dec)
{
	uint8_t pg[52] = {0x00, 0x10, 0x00, 48, 2u << 5, 0, enc, dec, 1};
	uint8_t cdb[12] = {0xb5, 0x20, 0x00, 0x10, 0, 0, 0, 0, 0, sizeof(pg)};
	if (k) {
		pg[19] = 32;
		memcpy(pg + 20, k, 32);
	} else {
		pg[3] = 16;
	}
	uint32_t len = k ? sizeof(pg) : 20;
	cdb[9] = (uint8_t)len;
	return th_status(th_cmd(iscsi, 1, cdb, 12, SCSI_XFER_WRITE, (int)len, pg, len));
}

static void write_records(struct iscsi_context *iscsi, int n)
{
	static uint8_t buf[65536];
	plaintext(buf, sizeof(buf));
	for (int i = 0; i < n; i++)
		th_write6(iscsi, 1, buf, sizeof(buf));
	th_filemarks(iscsi, 1, 1);
}

/* READ(6) of one 64 KiB record: its status and sense. */
static int read_record(struct iscsi_context *iscsi, uint8_t *key_out, uint16_t *asc)
{
	uint8_t cdb[6] = {0x08, 0x00, 0x01, 0x00, 0x00};
	struct scsi_task *t = th_cmd(iscsi, 1, cdb, 6, SCSI_XFER_READ, 65536, NULL, 0);
	cr_assert_not_null(t, "READ: %s", iscsi_get_error(iscsi));
	int st = t->status;
	*key_out = (uint8_t)t->sense.key;
	*asc = (uint16_t)t->sense.ascq;
	if (st == SCSI_STATUS_GOOD) {
		static uint8_t want[65536];
		plaintext(want, sizeof(want));
		cr_assert_eq(t->datain.size, 65536);
		cr_assert_eq(memcmp(t->datain.data, want, sizeof(want)), 0, "read back differs");
	}
	scsi_free_scsi_task(t);
	return st;
}

Test(crypto_vtld, encrypted_tape_in_the_store_holds_no_key_nor_plaintext)
{
	char out[8192], found[PATH_MAX] = "";
	uint8_t sk;
	uint16_t asc;

	vp_start(&vtl, "[store]\npart_size = 5M\nidle_complete = 1\n");
	vp_ctl_ok(&vtl, "tape create ENC001L8", out, sizeof(out));
	vp_ctl_ok(&vtl, "tape move ENC001L8 --to drive:1", out, sizeof(out));
	struct iscsi_context *iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 1);
	cr_assert_eq(spout_key(iscsi, key, 2, 2), SCSI_STATUS_GOOD);
	write_records(iscsi, 24);
	th_rewind(iscsi, 1);
	for (int i = 0; i < 24; i++)
		cr_assert_eq(read_record(iscsi, &sk, &asc), SCSI_STATUS_GOOD, "record %d", i);
	th_logout(iscsi);
	vp_ctl_ok(&vtl, "drive unload 1", out, sizeof(out));
	vp_wait_uploaded(&vtl, "ENC001L8");

	char store[PATH_MAX + 16];
	snprintf(store, sizeof(store), "%s/store", vtl.dir);
	struct stat st;
	cr_assert_eq(stat(store, &st), 0, "the store is %s", store);
	tree_search(vtl.dir, key, sizeof(key), found, sizeof(found));
	cr_assert_str_eq(found, "", "the key is in %s", found);
	tree_search(vtl.dir, key, 8, found, sizeof(found));
	cr_assert_str_eq(found, "", "part of the key is in %s", found);
	static const char marker[] = "vtl drive encryption plaintext marker; ";
	tree_search(vtl.dir, marker, sizeof(marker) - 1, found, sizeof(found));
	cr_assert_str_eq(found, "", "plaintext is in %s", found);

	/* A restart forgets every key: the tape does not read without it. */
	cr_assert_eq(vp_terminate(&vtl), 0);
	vp_restart(&vtl);
	vp_ctl_ok(&vtl, "tape move ENC001L8 --to drive:1", out, sizeof(out));
	iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 1);
	cr_assert_eq(read_record(iscsi, &sk, &asc), SCSI_STATUS_CHECK_CONDITION);
	cr_assert_eq(sk, 0x07, "DATA PROTECT");
	cr_assert_eq(asc, 0x7401, "UNABLE TO DECRYPT DATA, got %04x", asc);
	cr_assert_eq(spout_key(iscsi, key, 0, 2), SCSI_STATUS_GOOD);
	cr_assert_eq(read_record(iscsi, &sk, &asc), SCSI_STATUS_GOOD);
	th_logout(iscsi);
	vp_ctl_ok(&vtl, "drive unload 1", out, sizeof(out));
	tree_search(vtl.dir, key, 8, found, sizeof(found));
	cr_assert_str_eq(found, "", "part of the key is in %s", found);
}
