/*
 * test_crypto.c - drive encryption at CDB level: SECURITY PROTOCOL IN and
 * OUT with the tape data encryption protocol (SSC-4 8.5), the data
 * encryption parameters (scope, lock, CKOD, CKORL) and what READ, WRITE,
 * SPACE, LOCATE and READ POSITION do over encrypted records, on a real
 * drive and a real medium in a scratch directory. Every page the drive
 * answers and every error it reports has a test here, and the medium's
 * files are searched for the key and the plaintext after writing.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scsi/be.h"
#include "scsi/crc32c.h"
#include "scsi/sense.h"
#include "scsi/ssc.h"
#include "tests/scsi/cdb_harness.h"
#include "tests/tmpdir.h"

#define N1 1
#define N2 2

static struct scsi_dev dev;
static char root[PATH_MAX];
static char tapedir[PATH_MAX + 16];
static bool have_dev;

static const uint8_t key1[32] = {0x5a, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa,
				 0xbb, 0xcc, 0xdd, 0xee, 0xf0, 0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a,
				 0x69, 0x78, 0x87, 0x96, 0xa5, 0xb4, 0xc3, 0xd2, 0xe1, 0xa5};
static const uint8_t key2[32] = {0xa5, 0xe1, 0xd2, 0xc3, 0xb4, 0xa5, 0x96, 0x87, 0x78, 0x69, 0x5a,
				 0x4b, 0x3c, 0x2d, 0x1e, 0x0f, 0xf0, 0xee, 0xdd, 0xcc, 0xbb, 0xaa,
				 0x99, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0x5a};

static const char secret[] = "the plaintext that must never reach the disk as is";

/* ---- fixture ---- */

static void setup(void)
{
	struct ssc_config cfg = {
	    .generation = TAPE_LTO6,
	    .vendor = SSC_VENDOR_IBM,
	    .serial = "1013000888",
	    .naa = 0x5000e11100000008ull,
	    .rel_port = 1,
	};
	struct tape_info info;

	tmpdir_make(root, sizeof(root), "crypto");
	cr_assert_eq(ssc_drive_init(&dev, &cfg), 0);
	have_dev = true;
	memset(&info, 0, sizeof(info));
	snprintf(info.barcode, sizeof(info.barcode), "ENC001L6");
	snprintf(info.serial, sizeof(info.serial), "MSNENC001");
	info.media = TAPE_LTO6;
	info.created = 1700000000;
	snprintf(tapedir, sizeof(tapedir), "%s/ENC001L6", root);
	cr_assert_eq(tape_format(tapedir, &info), 0);
	cr_assert_eq(ssc_insert(&dev, tapedir), 0);
	cdb_drain_ua(&dev, N1);
	cdb_drain_ua(&dev, N2);
}

static void teardown(void)
{
	if (have_dev)
		ssc_drive_destroy(&dev);
	have_dev = false;
	tmpdir_remove(root);
}

TestSuite(ssc_crypto, .init = setup, .fini = teardown);

/* ---- helpers ---- */

static void spin(struct scsi_cmd *c, uint64_t nexus, uint8_t proto, uint16_t sps, void *in,
		 uint32_t cap)
{
	uint8_t cdb[12] = {SECURITY_PROTOCOL_IN, proto};
	put_be16(cdb + 2, sps);
	put_be32(cdb + 6, cap);
	cdb_exec(&dev, c, nexus, cdb, 12, NULL, 0, in, cap);
}

static void spout(struct scsi_cmd *c, uint64_t nexus, const uint8_t *pg, uint32_t len)
{
	uint8_t cdb[12] = {SECURITY_PROTOCOL_OUT, 0x20, 0x00, 0x10};
	put_be32(cdb + 6, len);
	cdb_exec(&dev, c, nexus, cdb, 12, pg, len, NULL, 0);
}

enum { SC_PUBLIC = 0, SC_LOCAL = 1, SC_ALL = 2 };

/* A Set Data Encryption page (SSC-4 8.5.3.2) in pg; returns its length. */
static uint32_t sde(uint8_t *pg, uint8_t scope, bool lock, uint8_t b5, uint8_t enc, uint8_t dec,
		    const uint8_t *key, const char *ukad, const char *akad)
{
	uint32_t len = 20;

	memset(pg, 0, 256);
	put_be16(pg, 0x0010);
	pg[4] = (uint8_t)(scope << 5 | (lock ? 1 : 0));
	pg[5] = b5;
	pg[6] = enc;
	pg[7] = dec;
	pg[8] = 1;
	if (key) {
		put_be16(pg + 18, 32);
		memcpy(pg + 20, key, 32);
		len += 32;
	}
	if (ukad) {
		pg[len] = 0x00;
		put_be16(pg + len + 2, (uint16_t)strlen(ukad));
		memcpy(pg + len + 4, ukad, strlen(ukad));
		len += 4 + (uint32_t)strlen(ukad);
	}
	if (akad) {
		pg[len] = 0x01;
		put_be16(pg + len + 2, (uint16_t)strlen(akad));
		memcpy(pg + len + 4, akad, strlen(akad));
		len += 4 + (uint32_t)strlen(akad);
	}
	put_be16(pg + 2, (uint16_t)(len - 4));
	return len;
}

static void set_keys(uint64_t nexus, uint8_t scope, uint8_t enc, uint8_t dec, const uint8_t *key)
{
	uint8_t pg[256];
	struct scsi_cmd c;
	spout(&c, nexus, pg, sde(pg, scope, false, 0, enc, dec, key, NULL, NULL));
	cdb_assert_good(&c);
}

static void cmd6(struct scsi_cmd *c, uint64_t nexus, uint8_t op, uint8_t b1, uint32_t len24,
		 const void *out, uint32_t out_len, void *in, uint32_t in_cap)
{
	uint8_t cdb[6] = {op, b1};
	put_be24(cdb + 2, len24);
	cdb_exec(&dev, c, nexus, cdb, 6, out, out_len, in, in_cap);
}

static void write_block(uint64_t nexus, const void *buf, uint32_t len)
{
	struct scsi_cmd c;
	cmd6(&c, nexus, WRITE_6, 0, len, buf, len, NULL, 0);
	cdb_assert_good(&c);
}

static void write_fm(uint64_t nexus)
{
	struct scsi_cmd c;
	cmd6(&c, nexus, WRITE_FILEMARKS_6, 0, 1, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
}

static void rewind_tape(uint64_t nexus)
{
	struct scsi_cmd c;
	cmd6(&c, nexus, REWIND, 0, 0, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
}

static void read_block(struct scsi_cmd *c, uint64_t nexus, void *buf, uint32_t cap)
{
	cmd6(c, nexus, READ_6, 0x02, cap, NULL, 0, buf, cap); /* SILI */
}

static uint32_t position(uint64_t nexus)
{
	struct scsi_cmd c;
	uint8_t b[20];
	uint8_t cdb[10] = {READ_POSITION};
	cdb_exec(&dev, &c, nexus, cdb, 10, NULL, 0, b, sizeof(b));
	cdb_assert_good(&c);
	return get_be32(b + 4);
}

/* The next block encryption status page's ENCRYPTION STATUS. */
static uint8_t nbes(uint64_t nexus, uint8_t *page)
{
	struct scsi_cmd c;
	uint8_t b[128];
	spin(&c, nexus, 0x20, 0x0021, b, sizeof(b));
	cdb_assert_good(&c);
	if (page)
		memcpy(page, b, sizeof(b));
	return b[12] & 0x0f;
}

static bool memmem_found(const uint8_t *hay, size_t n, const void *needle, size_t m)
{
	for (size_t i = 0; i + m <= n; i++)
		if (memcmp(hay + i, needle, m) == 0)
			return true;
	return false;
}

/* Does any file of the cartridge's directory hold these bytes? */
static bool medium_holds(const void *needle, size_t m)
{
	char path[PATH_MAX + 64];
	static uint8_t buf[1 << 20];
	const char *names[] = {"MANIFEST", "MANIFEST.prev", "seg-0000000000000001.dat",
			       "seg-0000000000000001.idx"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", tapedir, names[i]);
		FILE *f = fopen(path, "rb");
		if (!f)
			continue;
		size_t n = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		if (memmem_found(buf, n, needle, m))
			return true;
	}
	return false;
}

static void flush(uint64_t nexus)
{
	struct scsi_cmd c;
	cmd6(&c, nexus, WRITE_FILEMARKS_6, 0, 0, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
}

/* ---- security protocol information (SPC-4 7.7.1) ---- */

Test(ssc_crypto, supported_protocols_list_00h_and_20h)
{
	struct scsi_cmd c;
	uint8_t b[64];

	spin(&c, N1, 0x00, 0x0000, b, sizeof(b));
	cdb_assert_good(&c);
	cr_assert_eq(c.in_len, 10);
	cr_assert_eq(get_be16(b + 6), 2);
	cr_assert_eq(b[8], 0x00);
	cr_assert_eq(b[9], 0x20);

	spin(&c, N1, 0x00, 0x0001, b, sizeof(b)); /* certificate: none */
	cdb_assert_good(&c);
	cr_assert_eq(c.in_len, 4);
	cr_assert_eq(get_be16(b + 2), 0);

	spin(&c, N1, 0x00, 0x0002, b, sizeof(b));
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	cdb_assert_field(&c, true, 2, -1);
}

Test(ssc_crypto, unknown_protocol_and_inc_512_are_invalid_fields)
{
	struct scsi_cmd c;
	uint8_t b[64];

	spin(&c, N1, 0xef, 0x0000, b, sizeof(b));
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	cdb_assert_field(&c, true, 1, -1);

	uint8_t cdb[12] = {SECURITY_PROTOCOL_IN, 0x20, 0, 0, 0x80, 0, 0, 0, 0, 64};
	cdb_exec(&dev, &c, N1, cdb, 12, NULL, 0, b, sizeof(b));
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	cdb_assert_field(&c, true, 4, 7);

	uint8_t pg[256];
	uint8_t out[12] = {SECURITY_PROTOCOL_OUT, 0x00, 0x00, 0x10, 0, 0, 0, 0, 0, 20};
	sde(pg, SC_ALL, false, 0, 0, 0, NULL, NULL, NULL);
	cdb_exec(&dev, &c, N1, out, 12, pg, 20, NULL, 0);
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	cdb_assert_field(&c, true, 1, -1);

	out[1] = 0x20;
	out[3] = 0x11; /* no such OUT page */
	cdb_exec(&dev, &c, N1, out, 12, pg, 20, NULL, 0);
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	cdb_assert_field(&c, true, 2, -1);
}

/* ---- the IN pages (SSC-4 8.5.2) ---- */

Test(ssc_crypto, in_and_out_support_pages)
{
	struct scsi_cmd c;
	uint8_t b[64];
	static const uint16_t want[] = {0x0000, 0x0001, 0x0010, 0x0011, 0x0012, 0x0020, 0x0021};

	spin(&c, N1, 0x20, 0x0000, b, sizeof(b));
	cdb_assert_good(&c);
	cr_assert_eq(get_be16(b), 0x0000);
	cr_assert_eq(get_be16(b + 2), 14);
	for (int i = 0; i < 7; i++)
		cr_assert_eq(get_be16(b + 4 + 2 * i), want[i], "entry %d", i);

	spin(&c, N1, 0x20, 0x0001, b, sizeof(b));
	cdb_assert_good(&c);
	cr_assert_eq(get_be16(b), 0x0001);
	cr_assert_eq(get_be16(b + 2), 2);
	cr_assert_eq(get_be16(b + 4), 0x0010);

	spin(&c, N1, 0x20, 0x0030, b, sizeof(b));
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	cdb_assert_field(&c, true, 2, -1);
}

Test(ssc_crypto, capabilities_page_reports_aes256_gcm)
{
	struct scsi_cmd c;
	uint8_t b[64];

	spin(&c, N1, 0x20, 0x0010, b, sizeof(b));
	cdb_assert_good(&c);
	cr_assert_eq(c.in_len, 44);
	cr_assert_eq(get_be16(b), 0x0010);
	cr_assert_eq(get_be16(b + 2), 0x28);
	cr_assert_eq(b[4] & 0x03, 0x01, "CFG_P 01b");
	cr_assert_eq(b[20], 1, "algorithm index");
	cr_assert_eq(get_be16(b + 22), 0x14);
	cr_assert_eq(b[24] & 0x0f, 0x0a, "DECRYPT_C and ENCRYPT_C 10b");
	cr_assert_eq(b[24] & 0x80, 0x80, "AVFMV with a cartridge loaded");
	cr_assert_eq(get_be16(b + 26), 32, "U-KAD");
	cr_assert_eq(get_be16(b + 28), 12, "A-KAD");
	cr_assert_eq(get_be16(b + 30), 32, "key size");
	cr_assert_eq(b[32], 0x09, "RDMC_C 100b, EAREM");
	cr_assert_eq(get_be32(b + 40), 0x00010014u);

	/* Truncated to the allocation length. */
	spin(&c, N1, 0x20, 0x0010, b, 8);
	cdb_assert_good(&c);
	cr_assert_eq(c.in_len, 8);
}

Test(ssc_crypto, key_formats_and_management_capabilities)
{
	struct scsi_cmd c;
	uint8_t b[64];

	spin(&c, N1, 0x20, 0x0011, b, sizeof(b));
	cdb_assert_good(&c);
	cr_assert_eq(get_be16(b), 0x0011);
	cr_assert_eq(get_be16(b + 2), 1);
	cr_assert_eq(b[4], 0x00, "plain-text key");

	spin(&c, N1, 0x20, 0x0012, b, sizeof(b));
	cdb_assert_good(&c);
	cr_assert_eq(c.in_len, 16);
	cr_assert_eq(get_be16(b + 2), 0x0c);
	cr_assert_eq(b[4], 0x01, "LOCK_C");
	cr_assert_eq(b[5], 0x07, "CKOD_C CKORP_C CKORL_C");
	cr_assert_eq(b[7], 0x07, "AITN_C LOCAL_C PUBLIC_C");
}

Test(ssc_crypto, status_page_defaults_then_what_was_set)
{
	struct scsi_cmd c;
	uint8_t b[128], pg[256];

	spin(&c, N1, 0x20, 0x0020, b, sizeof(b));
	cdb_assert_good(&c);
	cr_assert_eq(get_be16(b), 0x0020);
	cr_assert_eq(get_be16(b + 2), 20);
	cr_assert_eq(b[5], 0, "encryption disabled");
	cr_assert_eq(b[6], 0, "decryption disabled");

	spout(&c, N1, pg, sde(pg, SC_ALL, false, 0, 2, 3, key1, "backup key 7", NULL));
	cdb_assert_good(&c);
	spin(&c, N1, 0x20, 0x0020, b, sizeof(b));
	cdb_assert_good(&c);
	cr_assert_eq(b[4], (SC_ALL << 5) | SC_ALL, "I_T nexus scope and key scope");
	cr_assert_eq(b[5], 2);
	cr_assert_eq(b[6], 3);
	cr_assert_eq(b[7], 1);
	cr_assert_eq(get_be32(b + 8), 1, "key instance counter");
	cr_assert_eq(b[12] & 0x01, 0x01, "RDMD");
	cr_assert_eq(b[24], 0x00, "U-KAD descriptor");
	cr_assert_eq(get_be16(b + 26), 12);
	cr_assert_eq(memcmp(b + 28, "backup key 7", 12), 0);
	cr_assert_eq(get_be16(b + 2), 20 + 16);
	cr_assert_not(memmem_found(b, sizeof(b), key1, 8), "the key is never reported");

	/* Another nexus sees the public parameters with its own scope. */
	spin(&c, N2, 0x20, 0x0020, b, sizeof(b));
	cdb_assert_good(&c);
	cr_assert_eq(b[4], (SC_PUBLIC << 5) | SC_ALL);
	cr_assert_eq(b[5], 2);
}

/* ---- encrypted records ---- */

Test(ssc_crypto, encrypted_records_read_back_and_never_reach_the_disk_in_clear)
{
	struct scsi_cmd c;
	uint8_t buf[256], pg[256];

	spout(&c, N1, pg, sde(pg, SC_ALL, false, 0, 2, 2, key1, "label-1", "auth-9"));
	cdb_assert_good(&c);
	write_block(N1, secret, sizeof(secret));
	write_block(N1, secret, sizeof(secret));
	write_fm(N1);
	write_block(N1, "tail", 4);
	flush(N1);

	cr_assert_not(medium_holds(key1, sizeof(key1)), "the key is on the medium");
	cr_assert_not(medium_holds(key1, 8), "part of the key is on the medium");
	cr_assert_not(medium_holds(secret, 16), "plaintext is on the medium");
	cr_assert(medium_holds("label-1", 7), "the U-KAD is kept with the record");

	rewind_tape(N1);
	cr_assert_eq(nbes(N1, buf), 0x5, "encrypted, decryptable");
	cr_assert_eq(get_be64(buf + 4), 0);
	cr_assert_eq(buf[13], 1);
	cr_assert_eq(buf[14] & 0x01, 0x01, "RDMDS");
	cr_assert_eq(buf[16], 0x00, "U-KAD first");
	cr_assert_eq(memcmp(buf + 20, "label-1", 7), 0);
	cr_assert_eq(buf[27], 0x01, "then A-KAD");
	cr_assert_eq(memcmp(buf + 31, "auth-9", 6), 0);

	read_block(&c, N1, buf, sizeof(buf));
	cdb_assert_good(&c);
	cr_assert_eq(c.in_len, sizeof(secret));
	cr_assert_str_eq((char *)buf, secret);

	/* Positioning over encrypted data needs no key and no decryption. */
	uint8_t sp[6] = {SPACE_6, 0x01, 0, 0, 1}; /* one filemark */
	cdb_exec(&dev, &c, N1, sp, 6, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
	cr_assert_eq(position(N1), 3);
	cr_assert_eq(nbes(N1, NULL), 0x5);
	uint8_t loc[10] = {LOCATE_10, 0, 0, 0, 0, 0, 2};
	cdb_exec(&dev, &c, N1, loc, 10, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
	cr_assert_eq(nbes(N1, NULL), 0x2, "a filemark is not a logical block");
	uint8_t eod[6] = {SPACE_6, 0x03};
	cdb_exec(&dev, &c, N1, eod, 6, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
	cr_assert_eq(position(N1), 4);
	cr_assert_eq(nbes(N1, NULL), 0x2, "EOD: not a logical block (stenc 1.0.7 crashes on 1h)");
}

Test(ssc_crypto, compress_then_encrypt)
{
	static uint8_t big[65536], back[65536];
	struct scsi_cmd c;
	uint64_t used = 0;

	memset(big, 'z', sizeof(big));
	set_keys(N1, SC_ALL, 2, 2, key1);
	write_block(N1, big, sizeof(big));
	flush(N1);
	cr_assert(ssc_used_bytes(&dev, "ENC001L6", &used));
	cr_assert_lt(used, 4096, "compressed before it was encrypted: %llu bytes",
		     (unsigned long long)used);
	rewind_tape(N1);
	read_block(&c, N1, back, sizeof(back));
	cdb_assert_good(&c);
	cr_assert_eq(c.in_len, sizeof(back));
	cr_assert_eq(memcmp(big, back, sizeof(big)), 0);

	/* A read shorter than the record still gets its start. */
	rewind_tape(N1);
	read_block(&c, N1, back, 100);
	cdb_assert_good(&c);
	cr_assert_eq(memcmp(big, back, 100), 0);
}

Test(ssc_crypto, no_key_is_unable_to_decrypt_and_does_not_move)
{
	struct scsi_cmd c;
	uint8_t buf[256];

	set_keys(N1, SC_ALL, 2, 2, key1);
	write_block(N1, secret, sizeof(secret));
	set_keys(N1, SC_ALL, 0, 0, NULL);
	rewind_tape(N1);
	read_block(&c, N1, buf, sizeof(buf));
	cdb_assert_sense(&c, SK_DATA_PROTECT, ASC_UNABLE_TO_DECRYPT_DATA);
	cr_assert_eq(c.in_len, 0);
	cr_assert_eq(position(N1), 0, "still before the block");
	cr_assert_eq(nbes(N1, NULL), 0x6, "encrypted, no key for it");

	/* RAW mode: the block is not enabled for raw read. */
	set_keys(N1, SC_ALL, 0, 1, NULL);
	read_block(&c, N1, buf, sizeof(buf));
	cdb_assert_sense(&c, SK_DATA_PROTECT, ASC_ENCRYPTED_BLOCK_NOT_RAW_READ_ENABLED);

	/* VERIFY reads the data as READ does. */
	uint8_t v[6] = {VERIFY_6, 0, 0, 0, sizeof(secret)};
	cdb_exec(&dev, &c, N1, v, 6, NULL, 0, NULL, 0);
	cdb_assert_sense(&c, SK_DATA_PROTECT, ASC_ENCRYPTED_BLOCK_NOT_RAW_READ_ENABLED);

	set_keys(N1, SC_ALL, 0, 2, key1);
	cdb_exec(&dev, &c, N1, v, 6, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
}

Test(ssc_crypto, wrong_key_is_incorrect_data_encryption_key)
{
	struct scsi_cmd c;
	uint8_t buf[256];

	set_keys(N1, SC_ALL, 2, 2, key1);
	write_block(N1, secret, sizeof(secret));
	set_keys(N1, SC_ALL, 2, 2, key2);
	rewind_tape(N1);
	cr_assert_eq(nbes(N1, NULL), 0x6);
	read_block(&c, N1, buf, sizeof(buf));
	cdb_assert_sense(&c, SK_DATA_PROTECT, ASC_INCORRECT_DATA_ENCRYPTION_KEY);
	cr_assert_eq(c.in_len, 0);
	cr_assert_eq(position(N1), 0);

	set_keys(N1, SC_ALL, 2, 2, key1);
	read_block(&c, N1, buf, sizeof(buf));
	cdb_assert_good(&c);
	cr_assert_str_eq((char *)buf, secret);
}

Test(ssc_crypto, plain_data_in_decrypt_mode_and_mixed_mode)
{
	struct scsi_cmd c;
	uint8_t buf[256];

	write_block(N1, "plain", 5);
	set_keys(N1, SC_ALL, 2, 2, key1);
	write_block(N1, secret, sizeof(secret));
	rewind_tape(N1);
	cr_assert_eq(nbes(N1, NULL), 0x3, "not encrypted");
	read_block(&c, N1, buf, sizeof(buf));
	cdb_assert_sense(&c, SK_DATA_PROTECT, ASC_UNENCRYPTED_DATA_WHILE_DECRYPTING);
	cr_assert_eq(position(N1), 0);

	set_keys(N1, SC_ALL, 2, 3, key1); /* MIXED reads both */
	read_block(&c, N1, buf, sizeof(buf));
	cdb_assert_good(&c);
	cr_assert_eq(memcmp(buf, "plain", 5), 0);
	read_block(&c, N1, buf, sizeof(buf));
	cdb_assert_good(&c);
	cr_assert_str_eq((char *)buf, secret);

	/* Decryption disabled reads plain blocks as ever. */
	set_keys(N1, SC_ALL, 0, 0, NULL);
	rewind_tape(N1);
	read_block(&c, N1, buf, sizeof(buf));
	cdb_assert_good(&c);
}

/* Alter one byte of the first record's ciphertext and make its CRCs whole
 * again, as someone who rewrites the medium would. */
static void tamper_first_record(size_t at)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/seg-0000000000000001.dat", tapedir);
	int fd = open(path, O_RDWR);
	cr_assert_geq(fd, 0);
	uint8_t h[32], p[512];
	cr_assert_eq(pread(fd, h, 32, 0), 32);
	uint32_t stored = get_le32(h + 20);
	cr_assert_leq(stored, sizeof(p));
	cr_assert_eq(pread(fd, p, stored, 32), (ssize_t)stored);
	p[at] ^= 0x01;
	put_le32(h + 24, crc32c(p, stored));
	put_le32(h + 28, crc32c(h, 28));
	cr_assert_eq(pwrite(fd, h, 32, 0), 32);
	cr_assert_eq(pwrite(fd, p, stored, 32), (ssize_t)stored);
	close(fd);
}

Test(ssc_crypto, altered_record_fails_integrity_validation)
{
	struct scsi_cmd c;
	uint8_t buf[256];

	set_keys(N1, SC_ALL, 2, 2, key1);
	write_block(N1, secret, sizeof(secret));
	write_block(N1, secret, sizeof(secret));
	flush(N1);
	tamper_first_record(24 + 5); /* a ciphertext byte (no KAD) */
	rewind_tape(N1);
	read_block(&c, N1, buf, sizeof(buf));
	cdb_assert_sense(&c, SK_DATA_PROTECT, ASC_CRYPTOGRAPHIC_INTEGRITY_VALIDATION_FAILED);
	cr_assert_eq(c.in_len, 0);
	/* The next record is unharmed. */
	uint8_t loc[10] = {LOCATE_10, 0, 0, 0, 0, 0, 1};
	cdb_exec(&dev, &c, N1, loc, 10, NULL, 0, NULL, 0);
	read_block(&c, N1, buf, sizeof(buf));
	cdb_assert_good(&c);
}

Test(ssc_crypto, key_is_not_kept_with_the_cartridge)
{
	struct scsi_cmd c;
	uint8_t buf[256];

	set_keys(N1, SC_ALL, 2, 2, key1);
	write_block(N1, secret, sizeof(secret));
	rewind_tape(N1);
	uint8_t unload[6] = {LOAD_UNLOAD, 0, 0, 0, 0};
	cdb_exec(&dev, &c, N1, unload, 6, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
	cr_assert_eq(ssc_remove(&dev, false), 0);
	set_keys(N1, SC_ALL, 0, 0, NULL);
	cr_assert_eq(ssc_insert(&dev, tapedir), 0);
	cdb_drain_ua(&dev, N1);
	read_block(&c, N1, buf, sizeof(buf));
	cdb_assert_sense(&c, SK_DATA_PROTECT, ASC_UNABLE_TO_DECRYPT_DATA);
	set_keys(N1, SC_ALL, 2, 2, key1);
	read_block(&c, N1, buf, sizeof(buf));
	cdb_assert_good(&c);
	cr_assert_str_eq((char *)buf, secret);
}

/* ---- Set Data Encryption page errors (SSC-4 8.5.3.2) ---- */

static void assert_param_refused(const uint8_t *pg, uint32_t len, uint16_t byte, int bit)
{
	struct scsi_cmd c;
	spout(&c, N1, pg, len);
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_PARAMETER_LIST);
	cdb_assert_field(&c, false, byte, bit);
}

Test(ssc_crypto, set_data_encryption_refusals)
{
	struct scsi_cmd c;
	uint8_t pg[256];
	uint32_t n;

	n = sde(pg, SC_ALL, false, 0, 2, 2, key1, NULL, NULL);
	pg[1] = 0x11;
	assert_param_refused(pg, n, 0, -1);

	n = sde(pg, 3, false, 0, 2, 2, key1, NULL, NULL);
	assert_param_refused(pg, n, 4, 7);

	n = sde(pg, SC_ALL, false, 0, 1, 0, key1, NULL, NULL); /* EXTERNAL */
	assert_param_refused(pg, n, 6, -1);

	n = sde(pg, SC_ALL, false, 0, 2, 4, key1, NULL, NULL);
	assert_param_refused(pg, n, 7, -1);

	n = sde(pg, SC_ALL, false, 0, 2, 2, key1, NULL, NULL);
	pg[8] = 2; /* algorithm index */
	assert_param_refused(pg, n, 8, -1);

	n = sde(pg, SC_ALL, false, 0, 2, 2, key1, NULL, NULL);
	pg[9] = 1; /* key format */
	assert_param_refused(pg, n, 9, -1);

	n = sde(pg, SC_ALL, false, 0x08, 2, 2, key1, NULL, NULL); /* SDK */
	assert_param_refused(pg, n, 5, 3);

	n = sde(pg, SC_ALL, false, 0x01, 2, 2, key1, NULL, NULL); /* CKORL, no reservation */
	assert_param_refused(pg, n, 5, 0);

	n = sde(pg, SC_ALL, false, 0x02, 2, 2, key1, NULL, NULL); /* CKORP, no reservation */
	assert_param_refused(pg, n, 5, 1);

	/* A key of 16 bytes where 32 are needed. */
	n = sde(pg, SC_ALL, false, 0, 2, 2, key1, NULL, NULL);
	put_be16(pg + 18, 16);
	put_be16(pg + 2, 16 + 16);
	assert_param_refused(pg, 36, 18, -1);

	/* No key at all with ENCRYPT. */
	n = sde(pg, SC_ALL, false, 0, 2, 0, NULL, NULL, NULL);
	assert_param_refused(pg, n, 18, -1);

	/* A U-KAD longer than the 32 bytes page 0010h announces. */
	n = sde(pg, SC_ALL, false, 0, 2, 2, key1, "0123456789abcdef0123456789abcdef+", NULL);
	assert_param_refused(pg, n, 54, -1);

	/* A nonce descriptor: the drive makes its own. */
	n = sde(pg, SC_ALL, false, 0, 2, 2, key1, "x", NULL);
	pg[52] = 0x02;
	assert_param_refused(pg, n, 52, -1);

	/* A page longer than the transfer. */
	n = sde(pg, SC_ALL, false, 0, 2, 2, key1, NULL, NULL);
	spout(&c, N1, pg, n - 1);
	cdb_assert_sense(&c, SK_ILLEGAL_REQUEST, ASC_PARAMETER_LIST_LENGTH_ERROR);

	/* Nothing was established by any of them. */
	uint8_t b[64];
	spin(&c, N1, 0x20, 0x0020, b, sizeof(b));
	cr_assert_eq(b[5], 0);
	cr_assert_eq(get_be32(b + 8), 0);
}

Test(ssc_crypto, disabling_accepts_and_ignores_a_key)
{
	/* stenc 1.0 turns encryption off with a 32-byte zero key. */
	static const uint8_t zero[32];
	set_keys(N1, SC_ALL, 0, 0, zero);
	uint8_t b[64];
	struct scsi_cmd c;
	spin(&c, N1, 0x20, 0x0020, b, sizeof(b));
	cdb_assert_good(&c);
	cr_assert_eq(b[5], 0);
	cr_assert_eq(b[6], 0);
}

/* ---- scope, lock and the unit attentions (SSC-4 4.2.26.3) ---- */

Test(ssc_crypto, local_scope_is_one_nexus_only_and_ends_with_it)
{
	struct scsi_cmd c;
	uint8_t buf[256];

	set_keys(N1, SC_LOCAL, 2, 2, key1);
	write_block(N1, secret, sizeof(secret));
	/* N2 works without a key: its own writes are plain. */
	write_block(N2, "plain", 5);
	rewind_tape(N2);
	read_block(&c, N2, buf, sizeof(buf));
	cdb_assert_sense(&c, SK_DATA_PROTECT, ASC_UNABLE_TO_DECRYPT_DATA);
	rewind_tape(N1);
	read_block(&c, N1, buf, sizeof(buf));
	cdb_assert_good(&c);
	read_block(&c, N1, buf, sizeof(buf));
	cdb_assert_sense(&c, SK_DATA_PROTECT, ASC_UNENCRYPTED_DATA_WHILE_DECRYPTING);

	uint8_t b[64];
	spin(&c, N1, 0x20, 0x0020, b, sizeof(b));
	cr_assert_eq(b[4], (SC_LOCAL << 5) | SC_LOCAL);

	/* The nexus goes (logout): its key goes with it. */
	pthread_mutex_lock(&dev.lock);
	spc_nexus_gone(&dev, N1);
	pthread_mutex_unlock(&dev.lock);
	cdb_drain_ua(&dev, N1);
	spin(&c, N1, 0x20, 0x0020, b, sizeof(b));
	cdb_assert_good(&c);
	cr_assert_eq(b[5], 0);
	cr_assert_eq(b[4], 0);
}

Test(ssc_crypto, all_nexus_scope_tells_the_other_registered_nexus)
{
	struct scsi_cmd c;
	uint8_t b[64];

	spin(&c, N2, 0x20, 0x0020, b, sizeof(b)); /* N2 registers */
	cdb_assert_good(&c);
	set_keys(N1, SC_ALL, 2, 2, key1);
	cr_assert(cdb_saw_ua(&dev, N2, ASC_ENCRYPTION_PARAMETERS_CHANGED_BY_ANOTHER_NEXUS));
	cr_assert_not(cdb_saw_ua(&dev, N1, ASC_ENCRYPTION_PARAMETERS_CHANGED_BY_ANOTHER_NEXUS));
	/* N2 now writes under the public key. */
	write_block(N2, secret, sizeof(secret));
	flush(N2);
	cr_assert_not(medium_holds(secret, 16));
}

Test(ssc_crypto, locked_nexus_refuses_to_work_under_another_key)
{
	struct scsi_cmd c;
	uint8_t pg[256];

	spout(&c, N1, pg, sde(pg, SC_ALL, true, 0, 2, 2, key1, NULL, NULL));
	cdb_assert_good(&c);
	write_block(N1, secret, sizeof(secret));
	set_keys(N2, SC_ALL, 2, 2, key2);
	cdb_drain_ua(&dev, N1);
	cmd6(&c, N1, WRITE_6, 0, 5, "after", 5, NULL, 0);
	cdb_assert_sense(&c, SK_DATA_PROTECT, ASC_ENCRYPTION_KEY_INSTANCE_COUNTER_CHANGED);
	/* The status pages still answer the locked nexus. */
	cr_assert_eq(nbes(N1, NULL), 0x2, "at EOD");
	/* N2, not locked, writes under its key. */
	write_block(N2, "n2", 2);
	/* Setting its parameters again unlocks N1 (LOCK 0). */
	set_keys(N1, SC_ALL, 2, 2, key1);
	write_block(N1, "again", 5);
}

Test(ssc_crypto, ckod_clears_the_key_on_demount)
{
	struct scsi_cmd c;
	uint8_t pg[256], b[64];

	spin(&c, N2, 0x20, 0x0020, b, sizeof(b)); /* N2 registers */
	spout(&c, N1, pg, sde(pg, SC_ALL, false, 0x04, 2, 2, key1, NULL, NULL));
	cdb_assert_good(&c);
	cdb_drain_ua(&dev, N2);
	uint8_t unload[6] = {LOAD_UNLOAD, 0, 0, 0, 0};
	cdb_exec(&dev, &c, N1, unload, 6, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
	spin(&c, N1, 0x20, 0x0020, b, sizeof(b));
	cdb_assert_good(&c);
	cr_assert_eq(b[5], 0, "cleared on demount");
	cr_assert(cdb_saw_ua(&dev, N2, ASC_ENCRYPTION_PARAMETERS_CHANGED_BY_VENDOR_EVENT));
}

Test(ssc_crypto, ckorl_clears_the_key_when_the_reservation_ends)
{
	struct scsi_cmd c;
	uint8_t pg[256], b[64];

	uint8_t resv[6] = {RESERVE_6};
	cdb_exec(&dev, &c, N1, resv, 6, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
	spout(&c, N1, pg, sde(pg, SC_ALL, false, 0x01, 2, 2, key1, NULL, NULL));
	cdb_assert_good(&c);
	write_block(N1, secret, sizeof(secret));
	uint8_t rel[6] = {RELEASE_6};
	cdb_exec(&dev, &c, N1, rel, 6, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
	/* The next write would have gone out in the clear: refused. */
	cmd6(&c, N1, WRITE_6, 0, 5, "after", 5, NULL, 0);
	cdb_assert_sense(&c, SK_UNIT_ATTENTION, ASC_ENCRYPTION_PARAMETERS_CHANGED_BY_VENDOR_EVENT);
	spin(&c, N1, 0x20, 0x0020, b, sizeof(b));
	cr_assert_eq(b[5], 0);
}

Test(ssc_crypto, lun_reset_clears_every_key)
{
	struct scsi_cmd c;
	uint8_t b[64];

	set_keys(N1, SC_ALL, 2, 2, key1);
	set_keys(N2, SC_LOCAL, 2, 2, key2);
	pthread_mutex_lock(&dev.lock);
	spc_lun_reset(&dev, N1);
	pthread_mutex_unlock(&dev.lock);
	cdb_drain_ua(&dev, N1);
	cdb_drain_ua(&dev, N2);
	spin(&c, N1, 0x20, 0x0020, b, sizeof(b));
	cr_assert_eq(b[5], 0);
	spin(&c, N2, 0x20, 0x0020, b, sizeof(b));
	cr_assert_eq(b[5], 0);
}

Test(ssc_crypto, next_block_status_needs_a_cartridge)
{
	struct scsi_cmd c;
	uint8_t b[64];

	uint8_t unload[6] = {LOAD_UNLOAD, 0, 0, 0, 0};
	cdb_exec(&dev, &c, N1, unload, 6, NULL, 0, NULL, 0);
	cr_assert_eq(ssc_remove(&dev, false), 0);
	spin(&c, N1, 0x20, 0x0021, b, sizeof(b));
	cdb_assert_sense(&c, SK_NOT_READY, ASC_MEDIUM_NOT_PRESENT);
	/* The other pages answer without one. */
	spin(&c, N1, 0x20, 0x0020, b, sizeof(b));
	cdb_assert_good(&c);
	spin(&c, N1, 0x20, 0x0010, b, sizeof(b));
	cdb_assert_good(&c);
	cr_assert_eq(b[24] & 0x80, 0, "AVFMV: no volume");
}

/* PERSISTENT RESERVE OUT (SPC-4 6.16): service action sa, TYPE type, the
 * nexus's key and the service action reservation key. */
static void prout(uint64_t nexus, uint8_t sa, uint8_t type, uint64_t key, uint64_t sa_key)
{
	struct scsi_cmd c;
	uint8_t p[24] = {0};
	uint8_t cdb[10] = {PERSISTENT_RESERVE_OUT, sa, type, 0, 0, 0, 0, 0, sizeof(p)};
	put_be64(p, key);
	put_be64(p + 8, sa_key);
	cdb_exec(&dev, &c, nexus, cdb, 10, p, sizeof(p), NULL, 0);
	cdb_assert_good(&c);
}

Test(ssc_crypto, ckorp_clears_the_key_when_the_registration_is_preempted)
{
	struct scsi_cmd c;
	uint8_t pg[256], b[64];

	prout(N1, 0x00, 0, 0, 0xa1); /* REGISTER */
	prout(N2, 0x00, 0, 0, 0xb2);
	prout(N1, 0x01, 0x01, 0xa1, 0); /* RESERVE, Write Exclusive */
	spout(&c, N1, pg, sde(pg, SC_ALL, false, 0x02, 2, 2, key1, NULL, NULL));
	cdb_assert_good(&c);
	write_block(N1, secret, sizeof(secret));
	spin(&c, N1, 0x20, 0x0020, b, sizeof(b));
	cr_assert_eq(b[5], 2);
	prout(N2, 0x04, 0x01, 0xb2, 0xa1); /* PREEMPT N1 */
	cdb_drain_ua(&dev, N1);
	spin(&c, N1, 0x20, 0x0020, b, sizeof(b));
	cdb_assert_good(&c);
	cr_assert_eq(b[5], 0, "cleared when N1's registration was preempted");
	cr_assert_eq(b[6], 0);
}
