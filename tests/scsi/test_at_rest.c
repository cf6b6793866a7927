/*
 * test_at_rest.c - library encryption of cartridges at rest (flags bit 3
 * of a record, docs/medium-format.md "Records encrypted at rest"): on the
 * medium (tape_set_data_key, what is stored, what is refused without the
 * key or with another one, altered and misplaced records, old clear
 * cartridges) and at CDB level through a real drive (ssc_insert_keyed,
 * READ, WRITE, SPACE, LOCATE, READ POSITION, and drive encryption on top).
 * After writing, every file of the cartridge is searched for the data key
 * and the plaintext. Every nonce ever written under a key is collected from
 * the segment files, records that writes in the middle and a crash
 * discarded included, and none may repeat; a tampered block hands out no
 * byte on any of the read paths.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "scsi/be.h"
#include "scsi/crc32c.h"
#include "scsi/sense.h"
#include "scsi/ssc.h"
#include "scsi/ssc_priv.h"
#include "scsi/tape.h"
#include "tests/scsi/cdb_harness.h"
#include "tests/tmpdir.h"

#define N1 1

static char root[PATH_MAX];
static char tapedir[PATH_MAX + 16];

static const uint8_t dkey[32] = {0x3c, 0x91, 0x0e, 0x77, 0xd2, 0x48, 0xa1, 0x5f, 0x26, 0xb9, 0xc4,
				 0x13, 0x8a, 0x6d, 0xf0, 0x29, 0x57, 0xe3, 0x02, 0xbe, 0x74, 0x1a,
				 0xcd, 0x98, 0x45, 0x3f, 0x60, 0xdb, 0x81, 0x0c, 0xa6, 0xe5};
static const uint8_t other[32] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb,
				  0xcc, 0xdd, 0xee, 0xff, 0x01, 0x12, 0x23, 0x34, 0x45, 0x56, 0x67,
				  0x78, 0x89, 0x9a, 0xab, 0xbc, 0xcd, 0xde, 0xef, 0xf1, 0x02};
static const uint8_t drive_key[32] = {
    0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0,
    0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xeb, 0xec, 0xed, 0xee, 0xef, 0xf0};

static const char secret[] = "a backup's bytes that the object store must never see in clear";

/* ---- helpers ---- */

static void format(const char *barcode, bool at_rest)
{
	struct tape_info info;

	memset(&info, 0, sizeof(info));
	snprintf(info.barcode, sizeof(info.barcode), "%s", barcode);
	snprintf(info.serial, sizeof(info.serial), "MSN%s", barcode);
	info.media = TAPE_LTO6;
	info.created = 1700000000;
	info.at_rest = at_rest;
	snprintf(tapedir, sizeof(tapedir), "%s/%s", root, barcode);
	cr_assert_eq(tape_format(tapedir, &info), 0);
}

static void setup(void)
{
	tmpdir_make(root, sizeof(root), "atrest");
}

static void teardown(void)
{
	tmpdir_remove(root);
}

static struct tape *open_tape(const uint8_t *key)
{
	struct tape *t;

	cr_assert_eq(tape_open(tapedir, &t), 0);
	if (key)
		cr_assert_eq(tape_set_data_key(t, key), 0);
	return t;
}

/* The record contents: text with the secret repeated (compressible), or
 * random-looking bytes seeded by n with the secret at its start. */
static void fill(uint8_t *buf, size_t len, unsigned n, bool compressible)
{
	uint64_t s = 0x9e3779b97f4a7c15ull * (n + 1);

	for (size_t i = 0; i < len; i++) {
		if (compressible) {
			buf[i] = (uint8_t)secret[i % (sizeof(secret) - 1)];
		} else {
			s ^= s << 13;
			s ^= s >> 7;
			s ^= s << 17;
			buf[i] = (uint8_t)s;
		}
	}
	if (len >= sizeof(secret) - 1)
		memcpy(buf, secret, sizeof(secret) - 1);
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
	DIR *d = opendir(tapedir);
	struct dirent *de;
	bool found = false;

	cr_assert_not_null(d);
	while (!found && (de = readdir(d))) {
		char path[PATH_MAX + 300];
		struct stat sb;

		snprintf(path, sizeof(path), "%s/%s", tapedir, de->d_name);
		if (stat(path, &sb) < 0 || !S_ISREG(sb.st_mode))
			continue;
		uint8_t *buf = malloc((size_t)sb.st_size + 1);
		FILE *f = fopen(path, "rb");
		cr_assert(buf && f);
		size_t n = fread(buf, 1, (size_t)sb.st_size, f);
		fclose(f);
		found = memmem_found(buf, n, needle, m);
		free(buf);
	}
	closedir(d);
	return found;
}

static uint8_t *slurp(const char *name, size_t *len)
{
	char path[PATH_MAX + 64];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/%s", tapedir, name);
	cr_assert_eq(stat(path, &sb), 0);
	uint8_t *buf = malloc((size_t)sb.st_size + 1);
	FILE *f = fopen(path, "rb");
	cr_assert(buf && f);
	*len = fread(buf, 1, (size_t)sb.st_size, f);
	fclose(f);
	return buf;
}

/* Change a byte of the first record's stored payload and make its CRCs
 * whole again: damage no CRC catches, as someone with the store's
 * credentials could make. */
static void tamper_record(uint64_t at_off, size_t at)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/seg-0000000000000001.dat", tapedir);
	int fd = open(path, O_RDWR);
	cr_assert_geq(fd, 0);
	uint8_t h[32], p[4096];
	cr_assert_eq(pread(fd, h, 32, (off_t)at_off), 32);
	uint32_t stored = get_le32(h + 20);
	cr_assert_leq(stored, sizeof(p));
	cr_assert_eq(pread(fd, p, stored, (off_t)at_off + 32), (ssize_t)stored);
	p[at] ^= 0x01;
	put_le32(h + 24, crc32c(p, stored));
	put_le32(h + 28, crc32c(h, 28));
	cr_assert_eq(pwrite(fd, h, 32, (off_t)at_off), 32);
	cr_assert_eq(pwrite(fd, p, stored, (off_t)at_off + 32), (ssize_t)stored);
	close(fd);
}

/* ---- the medium ---- */

TestSuite(tape_at_rest, .init = setup, .fini = teardown);

Test(tape_at_rest, blocks_read_back_and_nothing_reaches_the_disk_in_clear)
{
	static uint8_t w[TAPE_MAX_BLOCK], r[TAPE_MAX_BLOCK];
	const uint32_t sizes[] = {1, 80, 4096, 65536, 262144, TAPE_MAX_BLOCK};
	struct tape *t;
	uint32_t len;
	enum tape_obj kind;

	format("REST01L6", true);
	t = open_tape(dkey);
	cr_assert(tape_get_info(t)->at_rest);
	cr_assert(tape_has_data_key(t));
	/* Clear, then compressed (compress, then encrypt at rest). */
	for (int comp = 0; comp < 2; comp++) {
		tape_set_compression(t, comp ? TAPE_COMP_LZ4 : TAPE_COMP_NONE);
		for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			fill(w, sizes[i], i, i % 2 == 0);
			cr_assert_eq(tape_write(t, w, sizes[i]), 0);
		}
		cr_assert_eq(tape_write_filemarks(t, 1), 0);
	}
	cr_assert_eq(tape_close(t), 0);

	cr_assert_not(medium_holds(secret, 16), "plaintext is on the medium");
	cr_assert_not(medium_holds(dkey, 8), "the data key is on the medium");

	t = open_tape(dkey);
	for (int comp = 0; comp < 2; comp++) {
		for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			fill(w, sizes[i], i, i % 2 == 0);
			memset(r, 0, sizes[i]);
			cr_assert_eq(tape_read(t, r, TAPE_MAX_BLOCK, &len, &kind), 0);
			cr_assert_eq(kind, TAPE_BLOCK);
			cr_assert_eq(len, sizes[i]);
			cr_assert_eq(memcmp(w, r, len), 0, "block %u of pass %d", i, comp);
		}
		cr_assert_eq(tape_read(t, r, TAPE_MAX_BLOCK, &len, &kind), 0);
		cr_assert_eq(kind, TAPE_FILEMARK);
	}
	/* A short read (SILI) of an encrypted block returns its start. */
	cr_assert_eq(tape_locate(t, 3), 0);
	fill(w, sizes[3], 3, false);
	cr_assert_eq(tape_read(t, r, 100, &len, &kind), 0);
	cr_assert_eq(len, sizes[3]);
	cr_assert_eq(memcmp(w, r, 100), 0);
	/* The stored bytes include the 28 of nonce and tag. */
	struct tape_stats st;
	tape_get_stats(t, &st);
	cr_assert_geq(st.bytes_read_stored, 28u * 13);
	cr_assert_eq(tape_close(t), 0);

	/* The key-less checks the uploader and the cache make still pass. */
	size_t n;
	uint8_t *seg = slurp("seg-0000000000000001.dat", &n);
	cr_assert_eq(tape_records_verify(seg, n), 0);
	free(seg);
}

Test(tape_at_rest, largest_record_is_tape_rec_max)
{
	static uint8_t w[TAPE_MAX_BLOCK];
	struct tape_key k;
	struct tape *t;
	size_t n;

	format("REST02L6", true);
	t = open_tape(dkey);
	memset(&k, 0, sizeof(k));
	memcpy(k.key, drive_key, sizeof(k.key));
	k.ukad_len = TAPE_UKAD_MAX;
	k.akad_len = TAPE_AKAD_MAX;
	cr_assert_eq(tape_set_crypto(t, &k, NULL, TAPE_DECRYPT_OFF), 0);
	fill(w, TAPE_MAX_BLOCK, 9, false);
	cr_assert_eq(tape_write(t, w, TAPE_MAX_BLOCK), 0);
	cr_assert_eq(tape_close(t), 0);
	uint8_t *seg = slurp("seg-0000000000000001.dat", &n);
	cr_assert_eq(n, TAPE_REC_MAX);
	cr_assert_eq(tape_records_verify(seg, n), 0);
	free(seg);
}

Test(tape_at_rest, without_its_key_nothing_is_read_or_written)
{
	uint8_t buf[256];
	struct tape *t;
	uint32_t len;
	enum tape_obj kind;
	int64_t done;
	enum tape_obj stop;

	format("REST03L6", true);
	t = open_tape(dkey);
	cr_assert_eq(tape_write(t, secret, sizeof(secret)), 0);
	cr_assert_eq(tape_write_filemarks(t, 1), 0);
	cr_assert_eq(tape_write(t, secret, sizeof(secret)), 0);
	cr_assert_eq(tape_close(t), 0);

	t = open_tape(NULL);
	cr_assert_not(tape_has_data_key(t));
	uint64_t gen_eod = tape_eod(t);
	cr_assert_eq(tape_read(t, buf, sizeof(buf), &len, &kind), -EACCES);
	cr_assert_eq(tape_pos(t), 0, "a refused read does not move");
	cr_assert_eq(tape_write(t, secret, sizeof(secret)), -EACCES);
	cr_assert_eq(tape_write_filemarks(t, 1), -EACCES);
	cr_assert_eq(tape_erase(t), -EACCES);
	cr_assert_eq(tape_eod(t), gen_eod, "nothing was discarded");
	/* Positioning needs no key: headers and filemarks are clear. */
	cr_assert_eq(tape_space_filemarks(t, 1, &done, &stop), 0);
	cr_assert_eq(tape_pos(t), 2);
	cr_assert_eq(tape_locate(t, 1), 0);
	cr_assert_eq(tape_read(t, buf, sizeof(buf), &len, &kind), 0);
	cr_assert_eq(kind, TAPE_FILEMARK);
	cr_assert_eq(tape_space_blocks(t, 1, &done, &stop), 0);
	cr_assert_eq(tape_pos(t), 3);

	/* Another key is rejected and leaves the tape without one. */
	cr_assert_eq(tape_set_data_key(t, other), -EKEYREJECTED);
	cr_assert_not(tape_has_data_key(t));
	cr_assert_eq(tape_locate(t, 0), 0);
	cr_assert_eq(tape_read(t, buf, sizeof(buf), &len, &kind), -EACCES);
	struct tape_stats st;
	tape_get_stats(t, &st);
	cr_assert_eq(st.crc_errors, 0, "a rejected key is not a medium error");
	/* The right one reads. */
	cr_assert_eq(tape_set_data_key(t, dkey), 0);
	cr_assert_eq(tape_read(t, buf, sizeof(buf), &len, &kind), 0);
	cr_assert_eq(len, sizeof(secret));
	cr_assert_str_eq((char *)buf, secret);
	cr_assert_eq(tape_close(t), 0);
}

Test(tape_at_rest, a_blank_tape_takes_any_key_and_a_clear_one_none)
{
	struct tape *t;

	format("REST04L6", true);
	t = open_tape(NULL);
	cr_assert_eq(tape_set_data_key(t, other), 0, "nothing written yet to check it on");
	cr_assert_eq(tape_close(t), 0);

	format("PLAIN1L6", false);
	t = open_tape(NULL);
	cr_assert_not(tape_get_info(t)->at_rest);
	cr_assert_eq(tape_set_data_key(t, dkey), -EINVAL);
	cr_assert_eq(tape_close(t), 0);
}

Test(tape_at_rest, clear_cartridges_read_as_before)
{
	uint8_t buf[256];
	struct tape *t;
	uint32_t len;
	enum tape_obj kind;
	size_t n;

	format("PLAIN2L6", false);
	t = open_tape(NULL);
	cr_assert_eq(tape_write(t, secret, sizeof(secret)), 0);
	cr_assert_eq(tape_close(t), 0);
	/* Byte for byte what it was: a header, then the data as written. */
	uint8_t *seg = slurp("seg-0000000000000001.dat", &n);
	cr_assert_eq(n, 32 + sizeof(secret));
	cr_assert_eq(seg[5], 0, "no flag");
	cr_assert_eq(memcmp(seg + 32, secret, sizeof(secret)), 0);
	free(seg);
	t = open_tape(NULL);
	cr_assert_eq(tape_read(t, buf, sizeof(buf), &len, &kind), 0);
	cr_assert_str_eq((char *)buf, secret);
	cr_assert_eq(tape_close(t), 0);
}

Test(tape_at_rest, altered_or_moved_records_never_read_as_data)
{
	uint8_t buf[256];
	struct tape *t;
	uint32_t len;
	enum tape_obj kind;
	size_t n;

	format("REST05L6", true);
	t = open_tape(dkey);
	cr_assert_eq(tape_write(t, secret, sizeof(secret)), 0);
	cr_assert_eq(tape_write(t, secret, sizeof(secret)), 0);
	cr_assert_eq(tape_write(t, secret, sizeof(secret)), 0);
	cr_assert_eq(tape_close(t), 0);

	uint8_t *seg = slurp("seg-0000000000000001.dat", &n);
	uint32_t rec = 32 + get_le32(seg + 20);
	cr_assert_eq(seg[5], 0x08, "flag bit 3");
	cr_assert_eq(get_le32(seg + 20), sizeof(secret) + 28);
	cr_assert_eq(n, 3u * rec);
	/* Nonces differ from record to record. */
	cr_assert_neq(memcmp(seg + 32, seg + rec + 32, 12), 0);
	free(seg);

	/* A ciphertext byte changed, CRCs made whole: the tag fails. */
	tamper_record(0, 12 + 3);
	/* Record 2's header made to say it is record 1 (its CRCs whole): the
	 * AAD binds a record to its place. Rewrite record 1 with record 2's
	 * payload and header, object number changed. */
	{
		char path[PATH_MAX + 64];
		uint8_t h[32], p[256];

		snprintf(path, sizeof(path), "%s/seg-0000000000000001.dat", tapedir);
		int fd = open(path, O_RDWR);
		cr_assert_geq(fd, 0);
		cr_assert_eq(pread(fd, h, 32, 2 * rec), 32);
		cr_assert_eq(pread(fd, p, rec - 32, 2 * rec + 32), (ssize_t)(rec - 32));
		put_le64(h + 8, 1);
		put_le32(h + 28, crc32c(h, 28));
		cr_assert_eq(pwrite(fd, h, 32, rec), 32);
		cr_assert_eq(pwrite(fd, p, rec - 32, rec + 32), (ssize_t)(rec - 32));
		close(fd);
	}
	t = open_tape(NULL);
	/* The first block fails its tag: the check of the key cannot tell
	 * that from another key, and refuses. */
	cr_assert_eq(tape_set_data_key(t, dkey), -EKEYREJECTED);
	cr_assert_eq(tape_close(t), 0);

	/* Put the key on through a tape whose first block is sound: make
	 * record 0 a good one again by reopening and re-tampering back. */
	tamper_record(0, 12 + 3);
	t = open_tape(dkey);
	cr_assert_eq(tape_read(t, buf, sizeof(buf), &len, &kind), 0);
	cr_assert_str_eq((char *)buf, secret);
	memset(buf, 0, sizeof(buf));
	cr_assert_eq(tape_read(t, buf, sizeof(buf), &len, &kind), -EBADMSG, "a moved record");
	cr_assert_eq(tape_pos(t), 1);
	for (size_t i = 0; i < sizeof(buf); i++)
		cr_assert_eq(buf[i], 0, "no byte of what failed reaches the caller");
	cr_assert_eq(tape_locate(t, 2), 0);
	cr_assert_eq(tape_read(t, buf, sizeof(buf), &len, &kind), 0);
	cr_assert_str_eq((char *)buf, secret);
	cr_assert_eq(tape_close(t), 0);
}

Test(tape_at_rest, a_damaged_first_block_says_nothing_about_the_key)
{
	uint8_t buf[256];
	struct tape *t;
	uint32_t len;
	enum tape_obj kind;
	uint32_t rec = 32 + (uint32_t)sizeof(secret) + 28;

	format("REST09L6", true);
	t = open_tape(dkey);
	cr_assert_eq(tape_write(t, secret, sizeof(secret)), 0);
	cr_assert_eq(tape_write(t, secret, sizeof(secret)), 0);
	cr_assert_eq(tape_close(t), 0);
	/* Record 1 altered with its CRCs made whole (its tag fails), record
	 * 0 damaged as a disk damages (its CRC fails). */
	tamper_record(rec, 12 + 1);
	{
		char path[PATH_MAX + 64];
		uint8_t x;

		snprintf(path, sizeof(path), "%s/seg-0000000000000001.dat", tapedir);
		int fd = open(path, O_RDWR);
		cr_assert_geq(fd, 0);
		cr_assert_eq(pread(fd, &x, 1, 32 + 20), 1);
		x ^= 0x80;
		cr_assert_eq(pwrite(fd, &x, 1, 32 + 20), 1);
		close(fd);
	}
	t = open_tape(dkey); /* record 0 fails its CRC: the key is taken */
	cr_assert_eq(tape_read(t, buf, sizeof(buf), &len, &kind), -EBADMSG);
	cr_assert_eq(tape_locate(t, 1), 0);
	cr_assert_eq(tape_read(t, buf, sizeof(buf), &len, &kind), -EBADMSG, "its tag fails");
	/* Installing the key again checks record 0 again: a CRC failure
	 * after a tag failure is still no verdict on the key. */
	cr_assert_eq(tape_set_data_key(t, dkey), 0);
	cr_assert_eq(tape_close(t), 0);
}

Test(tape_at_rest, a_clear_block_on_an_encrypted_cartridge_is_refused)
{
	uint8_t buf[256];
	struct tape *t;
	uint32_t len;
	enum tape_obj kind;

	/* Someone with the store's credentials replaces an encrypted record
	 * by a clear one of the same length, with valid CRCs. */
	format("REST06L6", true);
	t = open_tape(dkey);
	cr_assert_eq(tape_write(t, "first", 5), 0);
	cr_assert_eq(tape_write(t, secret, sizeof(secret)), 0);
	cr_assert_eq(tape_close(t), 0);
	{
		char path[PATH_MAX + 64];
		uint8_t h[32], p[256];
		uint32_t off = 32 + 5 + 28;

		snprintf(path, sizeof(path), "%s/seg-0000000000000001.dat", tapedir);
		int fd = open(path, O_RDWR);
		cr_assert_geq(fd, 0);
		cr_assert_eq(pread(fd, h, 32, off), 32);
		memset(p, 'x', sizeof(p));
		h[5] = 0;
		put_le32(h + 16, sizeof(secret) + 28);
		put_le32(h + 24, crc32c(p, sizeof(secret) + 28));
		put_le32(h + 28, crc32c(h, 28));
		cr_assert_eq(pwrite(fd, h, 32, off), 32);
		cr_assert_eq(pwrite(fd, p, sizeof(secret) + 28, off + 32),
			     (ssize_t)sizeof(secret) + 28);
		close(fd);
	}
	t = open_tape(dkey);
	cr_assert_eq(tape_locate(t, 1), 0);
	cr_assert_eq(tape_read(t, buf, sizeof(buf), &len, &kind), -EBADMSG);
	cr_assert_eq(tape_close(t), 0);
}

Test(tape_at_rest, the_mark_survives_a_manifest_rebuild)
{
	struct tape_repair rep;
	struct tape_info hint;
	char path[PATH_MAX + 64];
	struct tape *t;

	format("REST07L6", true);
	t = open_tape(dkey);
	cr_assert_eq(tape_write(t, secret, sizeof(secret)), 0);
	cr_assert_eq(tape_close(t), 0);
	/* Both manifests gone: only the hint (the catalog's facts) says so. */
	snprintf(path, sizeof(path), "%s/MANIFEST", tapedir);
	cr_assert_eq(unlink(path), 0);
	snprintf(path, sizeof(path), "%s/MANIFEST.prev", tapedir);
	unlink(path);
	memset(&hint, 0, sizeof(hint));
	snprintf(hint.barcode, sizeof(hint.barcode), "REST07L6");
	hint.media = TAPE_LTO6;
	hint.at_rest = true;
	cr_assert_eq(tape_repair(tapedir, &hint, 0, &rep), 0);
	cr_assert(rep.repaired);
	t = open_tape(NULL);
	cr_assert(tape_get_info(t)->at_rest);
	cr_assert_eq(tape_set_data_key(t, dkey), 0);
	cr_assert_eq(tape_close(t), 0);
}

Test(tape_at_rest, a_tail_written_before_a_crash_is_recovered_and_reads)
{
	uint8_t buf[256];
	struct tape *t;
	uint32_t len;
	enum tape_obj kind;

	format("REST08L6", true);
	t = open_tape(dkey);
	cr_assert_eq(tape_write(t, secret, sizeof(secret)), 0);
	cr_assert_eq(tape_flush(t), 0);
	cr_assert_eq(tape_close(t), 0);
	/* vtld killed after the writes reached the file, before a commit:
	 * the recovery scan takes the tail by its CRCs, without the key. */
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct tape *c;
		if (tape_open(tapedir, &c) < 0 || tape_set_data_key(c, dkey) < 0 ||
		    tape_seek_eod(c) < 0)
			_exit(1);
		for (int i = 0; i < 3; i++)
			if (tape_write(c, secret, sizeof(secret)) < 0)
				_exit(1);
		_exit(0); /* no flush, no close */
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	t = open_tape(NULL);
	cr_assert_eq(tape_eod(t), 4);
	cr_assert_eq(tape_set_data_key(t, dkey), 0);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(tape_read(t, buf, sizeof(buf), &len, &kind), 0);
		cr_assert_str_eq((char *)buf, secret);
	}
	/* Appending after the recovered tail draws a new nonce prefix. */
	cr_assert_eq(tape_write(t, secret, sizeof(secret)), 0);
	cr_assert_eq(tape_close(t), 0);
	size_t n;
	uint8_t *seg = slurp("seg-0000000000000001.dat", &n);
	uint32_t rec = 32 + (uint32_t)sizeof(secret) + 28;
	cr_assert_eq(n, 5u * rec);
	cr_assert_neq(memcmp(seg + 32, seg + 4 * rec + 32, 8), 0, "same prefix across opens");
	cr_assert_eq(memcmp(seg + rec + 32, seg + 2 * rec + 32, 8), 0, "one prefix per open");
	free(seg);
	cr_assert_not(medium_holds(secret, 16));
}

/* A block seen in a segment file: its nonce, object number and payload CRC. */
struct seen {
	uint8_t nonce[12];
	uint64_t obj;
	uint32_t crc;
};

/*
 * Every block of the segment files in dir (names "seg-*.dat", also with a
 * prefix), records past a segment's valid length included (those a write
 * in the middle discarded: they stay in the store): walk each file's
 * headers from its start. A block seen twice (the same file under two
 * names) is counted once: same nonce, object and payload CRC, and the
 * contents are unique per write, so those three equal mean one write.
 */
static void collect_nonces(const char *dir, struct seen *v, size_t cap, size_t *k)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	cr_assert_not_null(d);
	while ((de = readdir(d))) {
		size_t n, dl = strlen(de->d_name);
		char path[PATH_MAX + 300];
		struct stat sb;

		if (!strstr(de->d_name, "seg-") || dl < 4 ||
		    strcmp(de->d_name + dl - 4, ".dat") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		cr_assert_eq(stat(path, &sb), 0);
		uint8_t *seg = malloc((size_t)sb.st_size + 1);
		FILE *f = fopen(path, "rb");
		cr_assert(seg && f);
		n = fread(seg, 1, (size_t)sb.st_size, f);
		fclose(f);
		for (size_t off = 0; off + 32 <= n;) {
			uint32_t stored = get_le32(seg + off + 20);

			cr_assert_eq(crc32c(seg + off, 28), get_le32(seg + off + 28),
				     "a whole header at %zu of %s", off, path);
			cr_assert_leq(off + 32 + stored, n);
			if (seg[off + 4] == 1) { /* a block */
				struct seen e;
				size_t j;

				cr_assert_eq(seg[off + 5] & 0x08, 0x08, "every block at rest");
				memcpy(e.nonce, seg + off + 32, 12);
				e.obj = get_le64(seg + off + 8);
				e.crc = get_le32(seg + off + 24);
				for (j = 0; j < *k; j++) {
					if (memcmp(v[j].nonce, e.nonce, 12) != 0)
						continue;
					cr_assert(v[j].obj == e.obj && v[j].crc == e.crc,
						  "a nonce used for two writes (objects %llu and "
						  "%llu)",
						  (unsigned long long)v[j].obj,
						  (unsigned long long)e.obj);
					break;
				}
				if (j == *k) {
					cr_assert_lt(*k, cap);
					v[(*k)++] = e;
				}
			}
			off += 32 + stored;
		}
		free(seg);
	}
	closedir(d);
}

/*
 * Keep every byte of the segment files as they are now, as the local
 * object store does for a sealed segment it holds (a hard link of the same
 * inode, s3/store.h): a write in the middle then leaves the records it
 * discards in the file instead of giving their space back, and
 * all_nonces sees them.
 */
static void pin_segments(void)
{
	static unsigned seq;
	DIR *d = opendir(tapedir);
	struct dirent *de;

	cr_assert_not_null(d);
	while ((de = readdir(d))) {
		char from[PATH_MAX + 300], to[PATH_MAX + 300];

		if (strncmp(de->d_name, "seg-", 4) != 0 || !strstr(de->d_name, ".dat"))
			continue;
		snprintf(from, sizeof(from), "%s/%s", tapedir, de->d_name);
		snprintf(to, sizeof(to), "%s/pinned-%u-%s", root, seq++, de->d_name);
		cr_assert_eq(link(from, to), 0, "link %s", from);
	}
	closedir(d);
}

/* A block of its own for each write: a nonce used twice on the same bytes
 * would give the same ciphertext, indistinguishable from one record. */
static void write_unique(struct tape *t, unsigned *seq)
{
	char b[sizeof(secret) + 16];

	snprintf(b, sizeof(b), "%s %u", secret, (*seq)++);
	cr_assert_eq(tape_write(t, b, (uint32_t)strlen(b) + 1), 0);
}

Test(tape_at_rest, no_nonce_repeats_across_overwrites_reopens_and_a_crash)
{
	static struct seen seen[64];
	size_t k = 0;
	uint8_t buf[256];
	struct tape *t;
	uint32_t len;
	enum tape_obj kind;
	unsigned seq = 0;

	format("REST09L6", true);
	t = open_tape(dkey);
	for (int i = 0; i < 8; i++)
		write_unique(t, &seq);
	cr_assert_eq(tape_flush(t), 0);
	/* Overwrite from the middle in the same open: the records at 3.. are
	 * discarded but stay in the first segment's file. */
	pin_segments();
	cr_assert_eq(tape_locate(t, 3), 0);
	for (int i = 0; i < 4; i++)
		write_unique(t, &seq);
	cr_assert_eq(tape_close(t), 0);
	/* A new open overwrites from 2 again: the same positions as before. */
	t = open_tape(dkey);
	pin_segments();
	cr_assert_eq(tape_locate(t, 2), 0);
	for (int i = 0; i < 3; i++)
		write_unique(t, &seq);
	cr_assert_eq(tape_flush(t), 0);
	cr_assert_eq(tape_close(t), 0);
	/* A writer killed before its commit, then a writer after recovery at
	 * the same position as the lost records. */
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct tape *c;
		if (tape_open(tapedir, &c) < 0 || tape_set_data_key(c, dkey) < 0 ||
		    tape_seek_eod(c) < 0)
			_exit(1);
		for (int i = 0; i < 2; i++) {
			char b[sizeof(secret) + 16];
			snprintf(b, sizeof(b), "%s crash %d", secret, i);
			if (tape_write(c, b, (uint32_t)strlen(b) + 1) < 0)
				_exit(1);
		}
		_exit(0); /* no flush, no close */
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	t = open_tape(dkey);
	cr_assert_eq(tape_eod(t), 7, "the crashed writer's tail recovered");
	pin_segments();
	cr_assert_eq(tape_locate(t, 5), 0);
	for (int i = 0; i < 2; i++)
		write_unique(t, &seq);
	cr_assert_eq(tape_close(t), 0);

	/* 8 + 4 + 3 + 2 + 2 blocks were written, each with a nonce of its
	 * own, those discarded by the writes in the middle and by the crash
	 * included (collect_nonces fails on a nonce used twice). */
	collect_nonces(tapedir, seen, 64, &k);
	collect_nonces(root, seen, 64, &k);
	cr_assert_eq(k, 19, "every block ever written was seen (%zu)", k);
	/* And what is reachable reads back. */
	t = open_tape(dkey);
	cr_assert_eq(tape_eod(t), 7);
	for (int i = 0; i < 7; i++) {
		cr_assert_eq(tape_read(t, buf, sizeof(buf), &len, &kind), 0);
		cr_assert_eq(strncmp((char *)buf, secret, sizeof(secret) - 1), 0);
	}
	cr_assert_eq(tape_close(t), 0);
}

/* Change the middle byte of the ciphertext of the record at offset at_off
 * of the first segment (any size) and make its CRCs whole again. */
static void tamper_middle(uint64_t at_off)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/seg-0000000000000001.dat", tapedir);
	int fd = open(path, O_RDWR);
	cr_assert_geq(fd, 0);
	uint8_t h[32];
	cr_assert_eq(pread(fd, h, 32, (off_t)at_off), 32);
	uint32_t stored = get_le32(h + 20);
	uint8_t *p = malloc(stored);
	cr_assert_not_null(p);
	cr_assert_eq(pread(fd, p, stored, (off_t)at_off + 32), (ssize_t)stored);
	cr_assert_gt(stored, 28u);
	p[12 + (stored - 28) / 2] ^= 0x80;
	put_le32(h + 24, crc32c(p, stored));
	put_le32(h + 28, crc32c(h, 28));
	cr_assert_eq(pwrite(fd, h, 32, (off_t)at_off), 32);
	cr_assert_eq(pwrite(fd, p, stored, (off_t)at_off + 32), (ssize_t)stored);
	free(p);
	close(fd);
}

/* Each way a block encrypted at rest reaches the caller: opened straight
 * into the caller's buffer (whole), through scratch (a short read), and
 * inflated after opening (compressed). Tampered, none hands out a byte,
 * and the block after it still reads. */
Test(tape_at_rest, a_tampered_block_hands_out_nothing_on_any_read_path)
{
	enum { BIG = 65536 };
	static uint8_t w[BIG], r[BIG];
	const struct {
		enum tape_compression comp;
		uint32_t cap;
		bool compressible;
	} ways[] = {
	    {TAPE_COMP_NONE, BIG, false},
	    {TAPE_COMP_NONE, 1000, false},
	    {TAPE_COMP_LZ4, BIG, true},
	    {TAPE_COMP_ZSTD, 1000, true},
	};
	struct tape *t;
	uint32_t len;
	enum tape_obj kind;

	for (unsigned i = 0; i < sizeof(ways) / sizeof(ways[0]); i++) {
		char bc[16];
		snprintf(bc, sizeof(bc), "RT%02uA0L6", i);
		format(bc, true);
		t = open_tape(dkey);
		tape_set_compression(t, ways[i].comp);
		fill(w, BIG, i, ways[i].compressible);
		/* A sound first block (the key check reads it), the victim, a
		 * sound third. */
		cr_assert_eq(tape_write(t, w, BIG), 0);
		cr_assert_eq(tape_write(t, w, BIG), 0);
		cr_assert_eq(tape_write(t, w, BIG), 0);
		cr_assert_eq(tape_close(t), 0);

		size_t n;
		uint8_t *seg = slurp("seg-0000000000000001.dat", &n);
		uint32_t first = 32 + get_le32(seg + 20);
		cr_assert_eq(seg[5] & 0x03, (unsigned)ways[i].comp, "way %u stored as meant", i);
		free(seg);
		tamper_middle(first);

		t = open_tape(dkey);
		cr_assert_eq(tape_locate(t, 1), 0);
		memset(r, 0, sizeof(r));
		cr_assert_eq(tape_read(t, r, ways[i].cap, &len, &kind), -EBADMSG, "way %u", i);
		for (size_t j = 0; j < sizeof(r); j++)
			cr_assert_eq(r[j], 0, "way %u: byte %zu of a block that failed its tag", i,
				     j);
		cr_assert_eq(tape_locate(t, 2), 0);
		cr_assert_eq(tape_read(t, r, ways[i].cap, &len, &kind), 0);
		cr_assert_eq(len, BIG);
		cr_assert_eq(memcmp(r, w, ways[i].cap), 0, "way %u", i);
		cr_assert_eq(tape_close(t), 0);
	}
}

/* The stored form of a block at rest is standard AES-256-GCM (NIST SP
 * 800-38D) whichever library did it (scsi/tape_crypt.c: Intel's
 * multi-buffer library when built with it, else OpenSSL): OpenSSL opens
 * what the medium sealed, and sealing the plaintext again with OpenSSL
 * under the record's nonce gives the very bytes stored, so either build
 * reads the other's cartridges. */
Test(tape_at_rest, the_stored_bytes_are_aes_256_gcm_as_openssl_makes_them)
{
	enum { LEN = 200000 }; /* not a multiple of the AES block */
	static uint8_t w[LEN], plain[LEN], again[LEN];
	uint8_t tag[16];
	struct tape *t;
	int m = 0, f = 0;

	format("RG00A0L6", true);
	t = open_tape(dkey);
	fill(w, LEN, 7, false);
	cr_assert_eq(tape_write(t, w, LEN), 0);
	cr_assert_eq(tape_close(t), 0);

	size_t n;
	uint8_t *seg = slurp("seg-0000000000000001.dat", &n);
	uint32_t stored = get_le32(seg + 20);
	cr_assert_eq(stored, LEN + 28u);
	const uint8_t *nonce = seg + 32, *ct = seg + 32 + 12, *stag = seg + 32 + 12 + LEN;

	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	cr_assert_not_null(c);
	cr_assert_eq(EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, dkey, nonce), 1);
	cr_assert_eq(EVP_DecryptUpdate(c, NULL, &m, seg, 24), 1); /* the header's bytes 0..23 */
	cr_assert_eq(EVP_DecryptUpdate(c, plain, &m, ct, LEN), 1);
	cr_assert_eq(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, (void *)stag), 1);
	cr_assert_eq(EVP_DecryptFinal_ex(c, plain + m, &f), 1, "OpenSSL accepts the tag");
	cr_assert_eq(memcmp(plain, w, LEN), 0);

	cr_assert_eq(EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, dkey, nonce), 1);
	cr_assert_eq(EVP_EncryptUpdate(c, NULL, &m, seg, 24), 1);
	cr_assert_eq(EVP_EncryptUpdate(c, again, &m, w, LEN), 1);
	cr_assert_eq(EVP_EncryptFinal_ex(c, again + m, &f), 1);
	cr_assert_eq(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag), 1);
	cr_assert_eq(memcmp(again, ct, LEN), 0, "the same ciphertext");
	cr_assert_eq(memcmp(tag, stag, 16), 0, "the same tag");
	EVP_CIPHER_CTX_free(c);
	free(seg);
}

/* ---- read-ahead opened off the drive's lock (tape_prefetch_begin..end) ---- */

/*
 * The drive's thread takes a block's place under the drive's lock
 * (tape_prefetch_begin), opens it without the lock (tape_prefetch_open)
 * and publishes it under the lock again (tape_prefetch_end). Here the test
 * does between those calls what another command could do meanwhile; the
 * block must then be dropped, never handed out in place of what is there.
 */
enum { OFF_LEN = 65536, OFF_N = 8 };
static uint8_t off_w[OFF_N + 2][OFF_LEN], off_r[OFF_LEN];

static void off_read_is(struct tape *t, unsigned k)
{
	uint32_t len;
	enum tape_obj kind;

	memset(off_r, 0, sizeof(off_r));
	cr_assert_eq(tape_read(t, off_r, OFF_LEN, &len, &kind), 0, "block %u", k);
	cr_assert_eq(kind, TAPE_BLOCK, "block %u", k);
	cr_assert_eq(len, OFF_LEN);
	cr_assert_eq(memcmp(off_r, off_w[k], OFF_LEN), 0, "block %u", k);
}

/* A job on the next block, as after a host's READ. */
static void off_begin(struct tape *t, struct tape_pf_job *j)
{
	cr_assert(tape_prefetch_arm(t));
	cr_assert_eq(tape_prefetch_begin(t, j), 1);
	cr_assert_eq(tape_prefetch_begin(t, j), 0, "one job at a time");
}

/* The job ends with nothing published. */
static void off_dropped(struct tape *t, struct tape_pf_job *j, const char *why)
{
	cr_assert_eq(tape_prefetch_end(t, j), 0, "%s", why);
	cr_assert_eq(tape_prefetched(t), 0, "%s", why);
	cr_assert_not(tape_prefetch_opening(t), "%s", why);
}

static struct tape *off_tape(enum tape_compression comp, bool compressible, unsigned seed)
{
	struct tape *t = open_tape(dkey);

	tape_set_compression(t, comp);
	for (unsigned k = 0; k < OFF_N + 2; k++)
		fill(off_w[k], OFF_LEN, k + seed, compressible);
	for (unsigned k = 0; k < OFF_N; k++) {
		if (compressible) /* told apart though compressible */
			memcpy(off_w[k] + OFF_LEN / 2, &k, sizeof(k));
		cr_assert_eq(tape_write(t, off_w[k], OFF_LEN), 0);
	}
	cr_assert_eq(tape_rewind(t), 0);
	return t;
}

Test(tape_at_rest, a_block_opened_off_the_lock_is_published_only_if_nothing_came_between)
{
	struct tape_pf_job *j = tape_pf_job_new();
	struct tape *t;
	struct tape_stats st, st2;
	enum tape_obj stop;
	int64_t done;

	cr_assert_not_null(j);
	format("RO00A0L6", true);
	t = off_tape(TAPE_COMP_NONE, false, 90);
	/* Nothing between: published, and the host's READ takes it with the
	 * statistics of a read. */
	off_read_is(t, 0);
	off_begin(t, j);
	cr_assert(tape_prefetch_opening(t), "the job opens the block at the position");
	tape_prefetch_open(j);
	cr_assert_eq(tape_prefetch_end(t, j), 1, "another block may follow");
	cr_assert_eq(tape_prefetched(t), 1);
	cr_assert_not(tape_prefetch_opening(t));
	tape_get_stats(t, &st);
	off_read_is(t, 1);
	tape_get_stats(t, &st2);
	cr_assert_eq(st2.blocks_read, st.blocks_read + 1);
	cr_assert_eq(st2.bytes_read_host, st.bytes_read_host + OFF_LEN);
	cr_assert_eq(tape_pos(t), 2);

	/* The host's READ reads the block itself meanwhile. */
	off_begin(t, j); /* block 2 */
	off_read_is(t, 2);
	tape_prefetch_open(j);
	off_dropped(t, j, "read by the host meanwhile");
	off_read_is(t, 3);

	/* LOCATE back, and LOCATE to the very block (the tape moved: dropped,
	 * though it would be the right one). */
	off_begin(t, j); /* block 4 */
	cr_assert_eq(tape_locate(t, 1), 0);
	tape_prefetch_open(j);
	off_dropped(t, j, "LOCATE back");
	off_read_is(t, 1);
	off_begin(t, j); /* block 2 */
	cr_assert_eq(tape_locate(t, 2), 0);
	tape_prefetch_open(j);
	off_dropped(t, j, "LOCATE to it");
	off_read_is(t, 2);

	/* SPACE back over it, and REWIND. */
	off_begin(t, j); /* block 3 */
	cr_assert_eq(tape_space_blocks(t, -2, &done, &stop), 0);
	tape_prefetch_open(j);
	off_dropped(t, j, "SPACE back");
	off_read_is(t, 1);
	off_begin(t, j); /* block 2 */
	cr_assert_eq(tape_rewind(t), 0);
	tape_prefetch_open(j);
	off_dropped(t, j, "REWIND");
	off_read_is(t, 0);

	/* The worst case: the job read block 2 before a WRITE replaced it,
	 * and a LOCATE put the position back where the job's block was. */
	cr_assert_eq(tape_locate(t, 2), 0);
	cr_assert(tape_prefetch_arm(t));
	cr_assert_eq(tape_prefetch_begin(t, j), 1);
	tape_prefetch_open(j); /* the old block 2, opened */
	cr_assert_eq(tape_write(t, off_w[OFF_N], OFF_LEN), 0);
	cr_assert_eq(tape_locate(t, 2), 0);
	off_dropped(t, j, "WRITE over it, then LOCATE back");
	memcpy(off_w[2], off_w[OFF_N], OFF_LEN);
	off_read_is(t, 2);
	cr_assert_eq(tape_eod(t), 3, "the write ended the tape after it");

	/* A key change (the same key installed again: still a new context). */
	cr_assert_eq(tape_locate(t, 0), 0);
	off_read_is(t, 0);
	off_begin(t, j); /* block 1 */
	cr_assert_eq(tape_set_data_key(t, dkey), 0);
	tape_prefetch_open(j);
	off_dropped(t, j, "key change");
	off_read_is(t, 1);

	cr_assert_eq(tape_close(t), 0);
	tape_pf_job_free(j);
}

/* Compressed blocks are opened and inflated by the job with a
 * decompressor of its own; what it publishes is what tape_read gives. */
Test(tape_at_rest, a_compressed_block_is_opened_off_the_lock_as_tape_read_opens_it)
{
	const enum tape_compression comps[] = {TAPE_COMP_LZ4, TAPE_COMP_ZSTD};
	struct tape_pf_job *j = tape_pf_job_new();

	cr_assert_not_null(j);
	for (unsigned i = 0; i < 2; i++) {
		char bc[16];

		snprintf(bc, sizeof(bc), "RC%02uA0L6", i);
		format(bc, true);
		struct tape *t = off_tape(comps[i], true, 20);

		off_read_is(t, 0);
		for (unsigned k = 1; k < OFF_N; k++) {
			if (tape_prefetched(t) == 0) {
				off_begin(t, j);
				tape_prefetch_open(j);
				cr_assert_eq(tape_prefetch_end(t, j), k + 1 < OFF_N, "block %u", k);
				cr_assert_eq(tape_prefetched(t), 1, "block %u compressed %u", k, i);
			}
			off_read_is(t, k);
		}
		cr_assert_eq(tape_close(t), 0);
	}
	tape_pf_job_free(j);
}

/* An unload (the tape closed) while the job opens: it ends against no
 * tape, or against the next one, which never takes it even at the same
 * position (no two tapes share a read-ahead generation). */
Test(tape_at_rest, a_job_outlives_the_close_of_its_tape_and_is_dropped)
{
	struct tape_pf_job *j = tape_pf_job_new();
	struct tape *t;

	cr_assert_not_null(j);
	format("RO01A0L6", true);
	t = off_tape(TAPE_COMP_NONE, false, 40);
	cr_assert(tape_prefetch_arm(t));
	cr_assert_eq(tape_prefetch_begin(t, j), 1); /* block 0 */
	cr_assert_eq(tape_close(t), 0);
	tape_prefetch_open(j); /* from its own descriptor */
	cr_assert_eq(tape_prefetch_end(NULL, j), 0);

	t = open_tape(dkey);
	cr_assert(tape_prefetch_arm(t));
	cr_assert_eq(tape_prefetch_begin(t, j), 1); /* block 0 */
	cr_assert_eq(tape_close(t), 0);
	tape_prefetch_open(j);
	t = open_tape(dkey); /* the same cartridge, the same position */
	off_dropped(t, j, "another tape's job");
	off_read_is(t, 0);
	cr_assert_eq(tape_close(t), 0);
	tape_pf_job_free(j);
}

/* A block the job cannot open (damaged: a CRC that fails; tampered: a tag
 * that fails) is not published and stops the read-ahead; the host's read
 * of it fails as it does with no read-ahead, counted once. */
Test(tape_at_rest, a_block_that_fails_off_the_lock_is_left_to_the_hosts_read)
{
	struct tape_pf_job *j = tape_pf_job_new();

	cr_assert_not_null(j);
	for (unsigned tampered = 0; tampered < 2; tampered++) {
		char bc[16];

		snprintf(bc, sizeof(bc), "RF%02uA0L6", tampered);
		format(bc, true);
		struct tape *t = off_tape(TAPE_COMP_NONE, false, 60);
		cr_assert_eq(tape_close(t), 0);
		size_t n;
		uint8_t *seg = slurp("seg-0000000000000001.dat", &n);
		uint64_t off = 32 + get_le32(seg + 20); /* block 1 */
		free(seg);
		if (tampered) {
			tamper_middle(off);
		} else {
			char path[PATH_MAX + 64];
			uint8_t b;
			snprintf(path, sizeof(path), "%s/seg-0000000000000001.dat", tapedir);
			int fd = open(path, O_RDWR);
			cr_assert_geq(fd, 0);
			cr_assert_eq(pread(fd, &b, 1, (off_t)off + 32 + 100), 1);
			b ^= 0x10;
			cr_assert_eq(pwrite(fd, &b, 1, (off_t)off + 32 + 100), 1);
			close(fd);
		}

		t = open_tape(dkey);
		off_read_is(t, 0);
		off_begin(t, j);
		tape_prefetch_open(j);
		off_dropped(t, j, tampered ? "tampered" : "damaged");
		cr_assert_not(tape_prefetch_begin(t, j), "the read-ahead stopped there");
		struct tape_stats st, st2;
		tape_get_stats(t, &st);
		uint32_t len;
		enum tape_obj kind;
		memset(off_r, 0, sizeof(off_r));
		cr_assert_eq(tape_read(t, off_r, OFF_LEN, &len, &kind), -EBADMSG);
		for (size_t i = 0; i < sizeof(off_r); i++)
			cr_assert_eq(off_r[i], 0, "byte %zu of a block that failed", i);
		tape_get_stats(t, &st2);
		cr_assert_eq(st2.crc_errors, st.crc_errors + 1, "counted once");
		cr_assert_eq(tape_pos(t), 1);
		cr_assert_eq(tape_locate(t, 2), 0);
		off_read_is(t, 2);
		cr_assert_eq(tape_close(t), 0);
	}
	tape_pf_job_free(j);
}

/* ---- through a drive ---- */

static struct scsi_dev dev;
static bool have_dev;

static void drive_setup(void)
{
	struct ssc_config cfg = {
	    .generation = TAPE_LTO6,
	    .vendor = SSC_VENDOR_IBM,
	    .serial = "1013000999",
	    .naa = 0x5000e11100000009ull,
	    .rel_port = 1,
	};

	setup();
	cr_assert_eq(ssc_drive_init(&dev, &cfg), 0);
	have_dev = true;
	format("RESTD1L6", true);
}

static void drive_teardown(void)
{
	if (have_dev)
		ssc_drive_destroy(&dev);
	have_dev = false;
	teardown();
}

TestSuite(ssc_at_rest, .init = drive_setup, .fini = drive_teardown);

static void cmd6(struct scsi_cmd *c, uint8_t op, uint8_t b1, uint32_t len24, const void *out,
		 uint32_t out_len, void *in, uint32_t in_cap)
{
	uint8_t cdb[6] = {op, b1};
	put_be24(cdb + 2, len24);
	cdb_exec(&dev, c, N1, cdb, 6, out, out_len, in, in_cap);
}

static void write_block(const void *buf, uint32_t len)
{
	struct scsi_cmd c;
	cmd6(&c, WRITE_6, 0, len, buf, len, NULL, 0);
	cdb_assert_good(&c);
}

static void write_fm(uint32_t n)
{
	struct scsi_cmd c;
	cmd6(&c, WRITE_FILEMARKS_6, 0, n, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
}

static void rewind_tape(void)
{
	struct scsi_cmd c;
	cmd6(&c, REWIND, 0, 0, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
}

static uint32_t position(void)
{
	struct scsi_cmd c;
	uint8_t b[20];
	uint8_t cdb[10] = {READ_POSITION};
	cdb_exec(&dev, &c, N1, cdb, 10, NULL, 0, b, sizeof(b));
	cdb_assert_good(&c);
	return get_be32(b + 4);
}

static void unload_remove(void)
{
	struct scsi_cmd c;
	uint8_t unload[6] = {LOAD_UNLOAD, 0, 0, 0, 0};
	cdb_exec(&dev, &c, N1, unload, 6, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
	cr_assert_eq(ssc_remove(&dev, false), 0);
}

Test(ssc_at_rest, insert_needs_the_cartridges_own_key)
{
	cr_assert_eq(ssc_insert(&dev, tapedir), -ENOKEY);
	cr_assert_eq(ssc_state(&dev), SSC_EMPTY);
	cr_assert_eq(ssc_insert_keyed(&dev, tapedir, dkey), 0);
	cdb_drain_ua(&dev, N1);
	write_block(secret, sizeof(secret));
	unload_remove();
	cr_assert_eq(ssc_insert_keyed(&dev, tapedir, other), -EKEYREJECTED);
	cr_assert_eq(ssc_state(&dev), SSC_EMPTY);

	/* A key for a clear cartridge is refused: the library would believe
	 * it encrypted. */
	char enc[sizeof(tapedir)];
	snprintf(enc, sizeof(enc), "%s", tapedir);
	format("PLAIND1L", false);
	cr_assert_eq(ssc_insert_keyed(&dev, tapedir, dkey), -EINVAL);
	cr_assert_eq(ssc_insert(&dev, tapedir), 0, "a clear cartridge loads as before");
}

Test(ssc_at_rest, read_write_space_locate_and_drive_encryption_on_top)
{
	static uint8_t big[262144], rb[262144];
	struct scsi_cmd c;
	uint8_t buf[256];

	cr_assert_eq(ssc_insert_keyed(&dev, tapedir, dkey), 0);
	cdb_drain_ua(&dev, N1);
	fill(big, sizeof(big), 1, true);
	write_block(big, sizeof(big));
	write_block(secret, sizeof(secret));
	write_fm(1);
	/* Drive encryption on (Set Data Encryption, SSC-4 8.5.3.2): the
	 * drive's envelope is then encrypted at rest as well. */
	uint8_t pg[64] = {0};
	put_be16(pg, 0x0010);
	put_be16(pg + 2, 16 + 32);
	pg[4] = 2 << 5; /* scope ALL I_T NEXUS */
	pg[6] = 2;	/* ENCRYPT */
	pg[7] = 3;	/* MIXED: clear and encrypted blocks are read */
	pg[8] = 1;	/* algorithm index */
	put_be16(pg + 18, 32);
	memcpy(pg + 20, drive_key, 32);
	uint8_t so[12] = {SECURITY_PROTOCOL_OUT, 0x20, 0x00, 0x10};
	put_be32(so + 6, 52);
	cdb_exec(&dev, &c, N1, so, 12, pg, 52, NULL, 0);
	cdb_assert_good(&c);
	write_block(secret, sizeof(secret));
	write_fm(0); /* flush */

	cr_assert_not(medium_holds(secret, 16), "plaintext is on the medium");
	cr_assert_not(medium_holds(dkey, 8), "the data key is on the medium");
	cr_assert_not(medium_holds(drive_key, 8), "the drive's key is on the medium");

	rewind_tape();
	cmd6(&c, READ_6, 0x02, sizeof(rb), NULL, 0, rb, sizeof(rb));
	cdb_assert_good(&c);
	cr_assert_eq(c.in_len, sizeof(big));
	cr_assert_eq(memcmp(rb, big, sizeof(big)), 0);

	/* SPACE one filemark, READ POSITION, then the drive-encrypted block:
	 * its next block encryption status is read through the layer at
	 * rest (SSC-4 8.5.2.8). */
	uint8_t sp[6] = {SPACE_6, 0x01, 0, 0, 1};
	cdb_exec(&dev, &c, N1, sp, 6, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
	cr_assert_eq(position(), 3);
	uint8_t si[12] = {SECURITY_PROTOCOL_IN, 0x20, 0x00, 0x21};
	uint8_t st[128];
	put_be32(si + 6, sizeof(st));
	cdb_exec(&dev, &c, N1, si, 12, NULL, 0, st, sizeof(st));
	cdb_assert_good(&c);
	cr_assert_eq(st[12] & 0x0f, 0x5, "encrypted, decryptable with the key in force");
	cmd6(&c, READ_6, 0x02, sizeof(buf), NULL, 0, buf, sizeof(buf));
	cdb_assert_good(&c);
	cr_assert_str_eq((char *)buf, secret);

	/* LOCATE back to the block the drive wrote clear: encryption at
	 * rest is invisible to the host. */
	uint8_t loc[10] = {LOCATE_10, 0, 0, 0, 0, 0, 1};
	cdb_exec(&dev, &c, N1, loc, 10, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
	cdb_exec(&dev, &c, N1, si, 12, NULL, 0, st, sizeof(st));
	cdb_assert_good(&c);
	cr_assert_eq(st[12] & 0x0f, 0x3, "not encrypted by the drive");
	memset(buf, 0, sizeof(buf));
	cmd6(&c, READ_6, 0x02, sizeof(buf), NULL, 0, buf, sizeof(buf));
	cdb_assert_good(&c);
	cr_assert_str_eq((char *)buf, secret);
	cr_assert_eq(position(), 2);
}

/* ---- read-ahead (tape_prefetch through ssc_readahead) ---- */

/*
 * The library's read-ahead thread calls ssc_readahead() when the drive
 * kicks it; here the test is that thread: it counts the kicks and calls
 * ssc_readahead() itself, between the host's commands, where the thread
 * could run.
 */
static unsigned kicks;

static void count_kick(void *arg)
{
	(void)arg;
	kicks++;
}

enum { RA_LEN = 65536, RA_N = 8 };
static uint8_t ra_w[RA_N + 2][RA_LEN], ra_r[RA_LEN];

static void ra_load(void)
{
	cr_assert_eq(ssc_insert_keyed(&dev, tapedir, dkey), 0);
	cdb_drain_ua(&dev, N1);
	ssc_set_worker(&dev, count_kick, NULL);
	kicks = 0;
}

/* READ(6) of one variable block: it must be block k, whole. */
static void read_is(unsigned k)
{
	struct scsi_cmd c;

	memset(ra_r, 0, sizeof(ra_r));
	cmd6(&c, READ_6, 0x00, RA_LEN, NULL, 0, ra_r, RA_LEN);
	cdb_assert_good(&c);
	cr_assert_eq(c.in_len, RA_LEN);
	cr_assert_eq(memcmp(ra_r, ra_w[k], RA_LEN), 0, "block %u", k);
}

static void locate(uint32_t obj)
{
	struct scsi_cmd c;
	uint8_t loc[10] = {LOCATE_10};

	put_be32(loc + 3, obj);
	cdb_exec(&dev, &c, N1, loc, 10, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
}

Test(ssc_at_rest, read_ahead_hands_out_the_same_blocks_at_the_same_positions)
{
	struct scsi_cmd c;

	ra_load();
	for (unsigned k = 0; k < RA_N + 2; k++)
		fill(ra_w[k], RA_LEN, k + 10, false);
	for (unsigned k = 0; k < RA_N; k++)
		write_block(ra_w[k], RA_LEN);
	write_fm(1);
	write_block(ra_w[RA_N], RA_LEN);
	write_block(ra_w[RA_N + 1], RA_LEN);
	write_fm(0);
	cr_assert_eq(kicks, RA_N + 2, "each WRITE in buffered mode leaves its block behind");
	kicks = 0;

	rewind_tape();
	cr_assert_eq(ssc_readahead(&dev), 0, "nothing read ahead before the host reads");
	read_is(0);
	cr_assert_eq(kicks, 1, "a READ kicks the read-ahead");
	cr_assert_eq(ssc_readahead(&dev), 4, "a few blocks are read ahead");
	/* The host's position is not the read-ahead's (SSC-4 7.7, READ
	 * POSITION: the logical object identifier of the next block the
	 * host would read). */
	cr_assert_eq(position(), 1);
	for (unsigned k = 1; k < RA_N; k++) {
		read_is(k);
		cr_assert_eq(position(), k + 1);
		ssc_readahead(&dev);
	}
	/* It stops at the filemark: the READ meets it as on any drive. */
	cr_assert_eq(ssc_readahead(&dev), 0);
	cmd6(&c, READ_6, 0x00, RA_LEN, NULL, 0, ra_r, RA_LEN);
	cdb_assert_sense(&c, SK_NO_SENSE, ASC_FILEMARK_DETECTED);
	cr_assert(cdb_flags(&c) & SENSE_FILEMARK);
	cr_assert_eq(position(), RA_N + 1);
	read_is(RA_N);
	cr_assert_eq(ssc_readahead(&dev), 1);
	read_is(RA_N + 1);
	cr_assert_eq(ssc_readahead(&dev), 0, "nothing beyond EOD");
	cmd6(&c, READ_6, 0x00, RA_LEN, NULL, 0, ra_r, RA_LEN);
	cdb_assert_sense(&c, SK_BLANK_CHECK, ASC_END_OF_DATA_DETECTED);

	/* A short READ of a block read ahead: ILI, and the position after
	 * the block, as without read-ahead (SSC-4 7.9). */
	rewind_tape();
	read_is(0);
	cr_assert_eq(ssc_readahead(&dev), 4);
	cmd6(&c, READ_6, 0x00, 1000, NULL, 0, ra_r, 1000);
	cdb_assert_sense(&c, SK_NO_SENSE, ASC_NO_ADDITIONAL_SENSE);
	cr_assert(cdb_flags(&c) & SENSE_ILI);
	cr_assert_eq(cdb_info(&c), 1000 - RA_LEN);
	cr_assert_eq(memcmp(ra_r, ra_w[1], 1000), 0);
	cr_assert_eq(position(), 2);
	read_is(2);
}

Test(ssc_at_rest, read_ahead_is_dropped_by_every_move_write_and_unload)
{
	struct scsi_cmd c;

	ra_load();
	for (unsigned k = 0; k < RA_N + 1; k++)
		fill(ra_w[k], RA_LEN, k + 30, false);
	for (unsigned k = 0; k < RA_N; k++)
		write_block(ra_w[k], RA_LEN);
	write_fm(0);

	/* LOCATE past what was read ahead, then back into it. */
	rewind_tape();
	read_is(0);
	cr_assert_eq(ssc_readahead(&dev), 4); /* 1..4 */
	locate(6);
	read_is(6);
	cr_assert_eq(ssc_readahead(&dev), 1); /* 7, then EOD */
	locate(2);
	read_is(2);

	/* SPACE backward over blocks read ahead and forward over them. */
	cr_assert_eq(ssc_readahead(&dev), 4);		     /* 3..6 */
	uint8_t back[6] = {SPACE_6, 0x00, 0xff, 0xff, 0xfe}; /* -2 blocks */
	cdb_exec(&dev, &c, N1, back, 6, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
	read_is(1);
	cr_assert_eq(ssc_readahead(&dev), 4); /* 2..5 */
	uint8_t fwd[6] = {SPACE_6, 0x00, 0, 0, 3};
	cdb_exec(&dev, &c, N1, fwd, 6, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
	read_is(5);

	/* A WRITE in the middle discards what follows, read ahead or not:
	 * the blocks after it are gone, the new one is what is read. */
	rewind_tape();
	read_is(0);
	cr_assert_eq(ssc_readahead(&dev), 4); /* 1..4 */
	write_block(ra_w[RA_N], RA_LEN);      /* becomes block 1, EOD after it */
	write_fm(0);
	rewind_tape();
	read_is(0);
	cr_assert_eq(ssc_readahead(&dev), 1);
	read_is(RA_N);
	cmd6(&c, READ_6, 0x00, RA_LEN, NULL, 0, ra_r, RA_LEN);
	cdb_assert_sense(&c, SK_BLANK_CHECK, ASC_END_OF_DATA_DETECTED);

	/* Unload and load: at BOT again, nothing left of before. */
	rewind_tape();
	read_is(0);
	cr_assert_eq(ssc_readahead(&dev), 1);
	uint8_t unload[6] = {LOAD_UNLOAD, 0, 0, 0, 0};
	cdb_exec(&dev, &c, N1, unload, 6, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
	cr_assert_eq(ssc_readahead(&dev), 0, "nothing is read ahead of an unloaded tape");
	uint8_t load[6] = {LOAD_UNLOAD, 0, 0, 0, 1};
	cdb_exec(&dev, &c, N1, load, 6, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
	cr_assert_eq(position(), 0);
	read_is(0);
}

/*
 * A frontend that lends its data-in buffer (struct scsi_cmd's in_size, as
 * the iSCSI target does) takes a block read ahead by exchange: after the
 * READ, `in` names the read-ahead's buffer, which the frontend now owns
 * and frees, and its old one has gone into the ring. What the frontend
 * holds must stay the block it read whatever the drive does next (a move
 * that drops the read-ahead, a write over it, an unload), and a READ that
 * is not of a whole block read ahead is a copy into the lent buffer.
 */
static uint8_t *lent_read(uint8_t *buf, size_t *size, uint32_t len, uint32_t *in_len)
{
	struct scsi_cmd c;
	uint8_t cdb[6] = {READ_6, 0x00};

	put_be24(cdb + 2, len);
	cdb_fill(&c, N1, cdb, 6, NULL, 0, buf, len);
	c.in_size = *size;
	spc_dispatch(&dev, &c);
	cr_assert(c.in_size >= len, "the buffer handed back has the room asked for");
	*size = c.in_size;
	*in_len = c.in_len;
	if (len == RA_LEN)
		cdb_assert_good(&c);
	return c.in;
}

Test(ssc_at_rest, a_lent_buffer_is_exchanged_for_the_block_read_ahead_and_stays_the_hosts)
{
	enum { HELD = 6 };
	uint8_t *held[HELD];
	size_t size = RA_LEN, held_size[HELD];
	uint8_t *buf = malloc(size);
	unsigned exchanged = 0;
	uint32_t n;

	cr_assert(buf);
	ra_load();
	for (unsigned k = 0; k < RA_N + 1; k++)
		fill(ra_w[k], RA_LEN, k + 50, false);
	for (unsigned k = 0; k < RA_N; k++)
		write_block(ra_w[k], RA_LEN);
	write_fm(0);
	rewind_tape();

	/* Block 0 is read from the medium into the lent buffer itself. */
	uint8_t *got = lent_read(buf, &size, RA_LEN, &n);
	cr_assert_eq(got, buf, "nothing read ahead yet: no exchange");
	cr_assert_eq(n, RA_LEN);
	cr_assert_eq(memcmp(got, ra_w[0], RA_LEN), 0);
	cr_assert_eq(ssc_readahead(&dev), 4);

	/* Blocks 1..6: each READ hands the frontend a buffer it keeps (a
	 * frontend still sending it when the next command arrives), and a
	 * fresh buffer of its own is lent each time. */
	for (unsigned k = 1; k <= HELD; k++) {
		size_t sz = RA_LEN;
		uint8_t *mine = malloc(sz);

		cr_assert(mine);
		held[k - 1] = lent_read(mine, &sz, RA_LEN, &n);
		held_size[k - 1] = sz;
		if (held[k - 1] != mine)
			exchanged++;
		cr_assert_eq(n, RA_LEN);
		cr_assert_eq(memcmp(held[k - 1], ra_w[k], RA_LEN), 0, "block %u", k);
		cr_assert_eq(position(), k + 1);
		ssc_readahead(&dev);
	}
	cr_assert_eq(exchanged, HELD, "every block read ahead is handed over, not copied");

	/* The drive moves on while the frontend holds them: a LOCATE back,
	 * a read ahead into the ring (which holds the lent buffers now), a
	 * SPACE, a WRITE over blocks read ahead, an unload. */
	locate(1);
	got = lent_read(got, &size, RA_LEN, &n);
	cr_assert_eq(memcmp(got, ra_w[1], RA_LEN), 0);
	cr_assert_eq(ssc_readahead(&dev), 4); /* 2..5, into the lent buffers */
	struct scsi_cmd c;
	uint8_t fwd[6] = {SPACE_6, 0x00, 0, 0, 2};
	cdb_exec(&dev, &c, N1, fwd, 6, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
	got = lent_read(got, &size, RA_LEN, &n);
	cr_assert_eq(memcmp(got, ra_w[4], RA_LEN), 0, "SPACE dropped what it passed over");
	cr_assert_eq(ssc_readahead(&dev), 3);
	write_block(ra_w[RA_N], RA_LEN); /* becomes block 5 */
	write_fm(0);
	locate(5);
	got = lent_read(got, &size, RA_LEN, &n);
	cr_assert_eq(memcmp(got, ra_w[RA_N], RA_LEN), 0, "the block written, not one read ahead");

	/* A short READ of a block read ahead is a copy into the lent buffer
	 * (ILI), never an exchange: the frontend asked for less. */
	locate(1);
	got = lent_read(got, &size, RA_LEN, &n);
	cr_assert_eq(ssc_readahead(&dev), 4);
	uint8_t *before = got;
	got = lent_read(got, &size, 1000, &n);
	cr_assert_eq(got, before);
	cr_assert_eq(n, 1000);
	cr_assert_eq(memcmp(got, ra_w[2], 1000), 0);
	cr_assert_eq(position(), 3);

	unload_remove();
	for (unsigned k = 0; k < HELD; k++) {
		cr_assert_geq(held_size[k], RA_LEN);
		cr_assert_eq(memcmp(held[k], ra_w[k + 1], RA_LEN), 0,
			     "block %u, held by the frontend across moves, writes and an unload",
			     k + 1);
		free(held[k]);
	}
	free(got);
}

/*
 * A frontend that lends its data-out buffer (out_size, as the iSCSI target
 * does) has it kept for a block written behind instead of the block being
 * copied out, and gets back the one kept for the block before, written by
 * then: the frontend may overwrite and free it at once. A block that
 * compression shrinks is copied (what is written is the compressed form),
 * and the lent buffer stays the frontend's.
 */
static uint8_t *lent_write(const uint8_t *data, uint32_t len, uint8_t **kept, size_t *size)
{
	struct scsi_cmd c;
	uint8_t cdb[6] = {WRITE_6, 0x00};
	uint8_t *buf = malloc(len);

	cr_assert(buf);
	memcpy(buf, data, len);
	put_be24(cdb + 2, len);
	cdb_fill(&c, N1, cdb, 6, buf, len, NULL, 0);
	c.out_size = len;
	spc_dispatch(&dev, &c);
	cdb_assert_good(&c);
	*kept = buf;
	*size = c.out_size;
	return (uint8_t *)c.out;
}

Test(ssc_at_rest, a_lent_buffer_is_kept_for_the_block_written_behind_and_the_last_one_handed_back)
{
	uint8_t *lent[6], *back;
	size_t size;

	ra_load();
	for (unsigned k = 0; k < 6; k++)
		fill(ra_w[k], RA_LEN, k + 110, k == 2);

	back = lent_write(ra_w[0], RA_LEN, &lent[0], &size);
	cr_assert_null(back, "nothing kept before the first block");
	cr_assert_eq(size, 0);
	ssc_write_behind(&dev);
	back = lent_write(ra_w[1], RA_LEN, &lent[1], &size);
	cr_assert_eq(back, lent[0], "the buffer of block 0 comes back, block 0 written");
	cr_assert_eq(size, RA_LEN);
	cr_assert_eq(memcmp(back, ra_w[0], RA_LEN), 0);
	memset(back, 0xaa, RA_LEN); /* the frontend reuses it at once */
	free(back);
	/* Not written behind by the thread this time: the next WRITE
	 * writes block 1 itself, from the buffer it kept. */
	back = lent_write(ra_w[2], RA_LEN, &lent[2], &size);
	cr_assert_eq(back, lent[2], "a compressed block is copied; the lent buffer stays");
	memset(back, 0xbb, RA_LEN);
	free(back);
	back = lent_write(ra_w[3], RA_LEN, &lent[3], &size);
	cr_assert_eq(back, lent[1], "block 1's buffer, kept across the compressed block");
	memset(back, 0xcc, RA_LEN);
	free(back);
	ssc_write_behind(&dev);
	write_fm(0);
	/* A block left behind in a lent buffer when the cartridge is
	 * unloaded: the unload writes it, the close frees the buffer. */
	back = lent_write(ra_w[4], RA_LEN, &lent[4], &size);
	cr_assert_eq(back, lent[3]);
	free(back);
	unload_remove();
	ra_load();
	for (unsigned k = 0; k < 5; k++)
		read_is(k);
	struct scsi_cmd c;
	cmd6(&c, READ_6, 0x00, RA_LEN, NULL, 0, ra_r, RA_LEN);
	cdb_assert_sense(&c, SK_BLANK_CHECK, ASC_END_OF_DATA_DETECTED);
}

/* A block that fails its tag is not read ahead: the host's own READ
 * meets it and reports it (MEDIUM ERROR), and the blocks before it,
 * read ahead, are handed out as they are. */
Test(ssc_at_rest, a_tampered_block_is_reported_by_the_hosts_read_not_the_read_ahead)
{
	struct scsi_cmd c;
	struct tape *t = open_tape(dkey);

	for (unsigned k = 0; k < 4; k++) {
		fill(ra_w[k], RA_LEN, k + 50, false);
		cr_assert_eq(tape_write(t, ra_w[k], RA_LEN), 0);
	}
	cr_assert_eq(tape_close(t), 0);
	size_t n;
	uint8_t *seg = slurp("seg-0000000000000001.dat", &n);
	uint64_t off = 0;
	for (unsigned k = 0; k < 2; k++)
		off += 32 + get_le32(seg + off + 20);
	free(seg);
	tamper_middle(off); /* block 2 */

	ra_load();
	read_is(0);
	cr_assert_eq(ssc_readahead(&dev), 1, "block 1 only: block 2 fails its tag");
	read_is(1);
	cr_assert_eq(ssc_readahead(&dev), 0);
	memset(ra_r, 0, sizeof(ra_r));
	cmd6(&c, READ_6, 0x00, RA_LEN, NULL, 0, ra_r, RA_LEN);
	cdb_assert_sense(&c, SK_MEDIUM_ERROR, ASC_UNRECOVERED_READ_ERROR);
	for (size_t j = 0; j < sizeof(ra_r); j++)
		cr_assert_eq(ra_r[j], 0, "byte %zu of a block that failed its tag", j);
	cr_assert_eq(position(), 2, "no move past a block that failed");
	locate(3);
	read_is(3);
}

/* Set Data Encryption page (SSC-4 8.5.3.2) with key, scope ALL I_T NEXUS,
 * encrypt and decrypt (MIXED) on. */
static void drive_encryption(const uint8_t key[32])
{
	struct scsi_cmd c;
	uint8_t pg[64] = {0};

	put_be16(pg, 0x0010);
	put_be16(pg + 2, 16 + 32);
	pg[4] = 2 << 5;
	pg[6] = 2;
	pg[7] = 3;
	pg[8] = 1;
	put_be16(pg + 18, 32);
	memcpy(pg + 20, key, 32);
	uint8_t so[12] = {SECURITY_PROTOCOL_OUT, 0x20, 0x00, 0x10};
	put_be32(so + 6, 52);
	cdb_exec(&dev, &c, N1, so, 12, pg, 52, NULL, 0);
	cdb_assert_good(&c);
}

/* Blocks the drive encrypted, read ahead under its key: once the host
 * installs another key, the next READ answers as the drive would under
 * that key (INCORRECT DATA ENCRYPTION KEY), never with what was opened
 * under the old one. */
Test(ssc_at_rest, a_key_change_drops_what_was_read_ahead_under_the_old_key)
{
	struct scsi_cmd c;

	ra_load();
	drive_encryption(drive_key);
	for (unsigned k = 0; k < 4; k++) {
		fill(ra_w[k], RA_LEN, k + 70, false);
		write_block(ra_w[k], RA_LEN);
	}
	write_fm(0);
	rewind_tape();
	read_is(0);
	cr_assert_eq(ssc_readahead(&dev), 3);
	drive_encryption(other);
	cmd6(&c, READ_6, 0x00, RA_LEN, NULL, 0, ra_r, RA_LEN);
	cdb_assert_sense(&c, SK_DATA_PROTECT, ASC_INCORRECT_DATA_ENCRYPTION_KEY);
	drive_encryption(drive_key);
	read_is(1);
}

/* READs that keep finding nothing read ahead (the drive's thread does not
 * get a CPU in time) pause the read-ahead: after SSC_RA_STARVED of them in
 * a row the drive reads on the command's path for SSC_RA_PAUSE READs,
 * kicking no thread, then tries again. The data is the same throughout. */
Test(ssc_at_rest, a_read_ahead_that_never_comes_in_time_pauses_itself)
{
	enum { TOTAL = SSC_RA_STARVED + SSC_RA_PAUSE + 8 };
	unsigned k = 0;

	ra_load();
	for (unsigned i = 0; i < RA_N + 2; i++)
		fill(ra_w[i], RA_LEN, i + 130, false);
	for (unsigned i = 0; i < TOTAL; i++)
		write_block(ra_w[i % (RA_N + 2)], RA_LEN);
	write_fm(0);
	rewind_tape();
	kicks = 0;

	/* The thread never runs between these READs. */
	for (; k < SSC_RA_STARVED; k++)
		read_is(k % (RA_N + 2));
	cr_assert_eq(kicks, SSC_RA_STARVED - 1, "the last READ of the run kicks no thread");
	cr_assert_eq(ssc_readahead(&dev), 0, "nothing is read ahead while paused");
	for (; k < SSC_RA_STARVED + SSC_RA_PAUSE - 1; k++) {
		read_is(k % (RA_N + 2));
		cr_assert_eq(ssc_readahead(&dev), 0, "READ %u", k);
	}
	cr_assert_eq(kicks, SSC_RA_STARVED - 1);
	/* The pause is over: the next READ arms it again, and when the thread
	 * keeps up READs take what it read ahead. */
	read_is(k++ % (RA_N + 2));
	cr_assert_eq(kicks, SSC_RA_STARVED);
	cr_assert_eq(ssc_readahead(&dev), 4);
	for (; k < TOTAL; k++) {
		read_is(k % (RA_N + 2));
		ssc_readahead(&dev);
	}
	cr_assert_eq(position(), TOTAL);
}

/*
 * The drive's thread for real: a thread woken by the drive's kick runs
 * ssc_write_behind() and ssc_readahead() as vtl/drive_worker.c does, while
 * this one reads, moves, writes over, unloads and reloads the tape. Every
 * READ must return the block at its position whatever the thread was
 * doing (a block opened off the lock while the tape moved is dropped, a
 * READ of the block being opened waits for it), and nothing is left of it
 * after an unload.
 */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool wanted, stop;
	pthread_t th;
} drv_thread = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void thread_kick(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&drv_thread.mu);
	drv_thread.wanted = true;
	pthread_cond_signal(&drv_thread.cv);
	pthread_mutex_unlock(&drv_thread.mu);
}

static void *drv_thread_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&drv_thread.mu);
	for (;;) {
		while (!drv_thread.wanted && !drv_thread.stop)
			pthread_cond_wait(&drv_thread.cv, &drv_thread.mu);
		if (drv_thread.stop)
			break;
		drv_thread.wanted = false;
		pthread_mutex_unlock(&drv_thread.mu);
		ssc_write_behind(&dev);
		ssc_readahead(&dev);
		pthread_mutex_lock(&drv_thread.mu);
	}
	pthread_mutex_unlock(&drv_thread.mu);
	return NULL;
}

Test(ssc_at_rest, reads_stay_exact_while_the_drives_thread_opens_blocks_off_the_lock)
{
	enum { N = RA_N + 2, ROUNDS = 400 };
	unsigned model[N + 1], eod = RA_N, pos = 0;
	uint64_t s = 12345;
	struct scsi_cmd c;

	for (unsigned k = 0; k < N; k++)
		fill(ra_w[k], RA_LEN, k + 110, false);
	cr_assert_eq(ssc_insert_keyed(&dev, tapedir, dkey), 0);
	cdb_drain_ua(&dev, N1);
	for (unsigned k = 0; k < RA_N; k++) {
		write_block(ra_w[k], RA_LEN);
		model[k] = k;
	}
	write_fm(0);
	drv_thread.wanted = drv_thread.stop = false;
	cr_assert_eq(pthread_create(&drv_thread.th, NULL, drv_thread_main, NULL), 0);
	ssc_set_worker(&dev, thread_kick, NULL);
	rewind_tape();

	for (unsigned round = 0; round < ROUNDS; round++) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		unsigned what = (unsigned)(s >> 33) % 16;

		if (what < 11) {
			/* READs, mostly: streaming is what arms the read-ahead. */
			if (pos < eod) {
				read_is(model[pos]);
				pos++;
			} else {
				cmd6(&c, READ_6, 0x00, RA_LEN, NULL, 0, ra_r, RA_LEN);
				cdb_assert_sense(&c, SK_BLANK_CHECK, ASC_END_OF_DATA_DETECTED);
			}
		} else if (what < 13) {
			pos = (unsigned)(s >> 40) % eod;
			locate(pos);
		} else if (what == 13) {
			uint8_t back[6] = {SPACE_6, 0x00, 0xff, 0xff, 0xff}; /* -1 block */
			cdb_exec(&dev, &c, N1, back, 6, NULL, 0, NULL, 0);
			if (pos > 0) {
				cdb_assert_good(&c);
				pos--;
			}
		} else if (what == 14 && pos < eod) {
			/* A WRITE over blocks that may be read ahead or opening. */
			unsigned w = RA_N + (round & 1);
			write_block(ra_w[w], RA_LEN);
			model[pos++] = w;
			eod = pos;
			write_fm(0);
			if (eod < 3) {
				/* Keep something to read: append again. */
				for (unsigned k = 0; eod < RA_N; k++) {
					write_block(ra_w[k], RA_LEN);
					model[eod++] = k;
				}
				write_fm(0);
				pos = eod;
			}
		} else {
			/* Unload and load, the drive's thread possibly opening. */
			uint8_t unload[6] = {LOAD_UNLOAD, 0, 0, 0, 0};
			uint8_t load[6] = {LOAD_UNLOAD, 0, 0, 0, 1};
			cdb_exec(&dev, &c, N1, unload, 6, NULL, 0, NULL, 0);
			cdb_assert_good(&c);
			cdb_exec(&dev, &c, N1, load, 6, NULL, 0, NULL, 0);
			cdb_assert_good(&c);
			pos = 0;
		}
		cr_assert_eq(position(), pos, "round %u", round);
	}
	/* The library's own unload while the thread may be opening. */
	locate(0);
	read_is(model[0]);
	unload_remove();
	cr_assert_eq(ssc_readahead(&dev), 0);

	ssc_set_worker(&dev, NULL, NULL);
	pthread_mutex_lock(&drv_thread.mu);
	drv_thread.stop = true;
	pthread_cond_signal(&drv_thread.cv);
	pthread_mutex_unlock(&drv_thread.mu);
	cr_assert_eq(pthread_join(drv_thread.th, NULL), 0);
}

/* ---- write-behind (tape_write_buffered through ssc_write_behind) ---- */

#define N2 2

/* The size of the active segment file (the cartridge's only one here). */
static off_t seg_size(void)
{
	char path[PATH_MAX + 64];
	struct stat sb;
	snprintf(path, sizeof(path), "%s/seg-0000000000000001.dat", tapedir);
	cr_assert_eq(stat(path, &sb), 0);
	return sb.st_size;
}

/* Files of this process may not grow past `bytes` (RLIMIT_FSIZE): the
 * kernel fails the write with EFBIG, a real write error. */
static void file_limit(rlim_t bytes)
{
	struct rlimit rl;
	signal(SIGXFSZ, SIG_IGN);
	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &rl), 0);
	rl.rlim_cur = bytes == RLIM_INFINITY ? rl.rlim_max : bytes; /* the soft limit only */
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

static uint32_t position_of(uint64_t nexus)
{
	struct scsi_cmd c;
	uint8_t b[20];
	uint8_t cdb[10] = {READ_POSITION};
	cdb_exec(&dev, &c, nexus, cdb, 10, NULL, 0, b, sizeof(b));
	cdb_assert_good(&c);
	return get_be32(b + 4);
}

/* The sense of c is a deferred error (SPC-4 4.5.5), fixed format. */
static void assert_deferred(const struct scsi_cmd *c, uint8_t key, uint16_t asc, int64_t info)
{
	cr_assert_eq(c->status, SAM_STAT_CHECK_CONDITION, "info %lld", (long long)info);
	cr_assert_eq(c->sense[0] & 0x7f, 0x71, "response code %02x", c->sense[0]);
	cr_assert_eq(cdb_key(c), key);
	cr_assert_eq(cdb_asc(c), asc);
	cr_assert_eq(cdb_info(c), info);
}

Test(ssc_at_rest, a_write_left_behind_is_written_before_any_other_command_sees_the_medium)
{
	struct scsi_cmd c;

	ra_load();
	cdb_drain_ua(&dev, N2);
	for (unsigned k = 0; k < 3; k++)
		fill(ra_w[k], RA_LEN, k + 90, false);
	off_t empty = seg_size();
	write_block(ra_w[0], RA_LEN);
	cr_assert_eq(kicks, 1);
	cr_assert_eq(seg_size(), empty, "GOOD before the block is written (buffered mode 1)");
	/* The drive's thread writes it ... */
	ssc_write_behind(&dev);
	off_t one = seg_size();
	cr_assert_gt(one, empty);
	/* ... or, if it has not yet, the next command does, before it looks
	 * at the medium: READ POSITION, a read back, a flush. */
	write_block(ra_w[1], RA_LEN);
	cr_assert_eq(seg_size(), one);
	cr_assert_eq(position(), 2);
	cr_assert_gt(seg_size(), one);
	write_block(ra_w[2], RA_LEN);
	uint8_t back[6] = {SPACE_6, 0x00, 0xff, 0xff, 0xff}; /* -1 block */
	cdb_exec(&dev, &c, N1, back, 6, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
	read_is(2);
	rewind_tape();
	read_is(0);
	read_is(1);
	read_is(2);

	/* Another nexus's command writes it too. */
	write_block(ra_w[0], RA_LEN);
	cr_assert_eq(position_of(N2), 4);
	rewind_tape();
	locate(3);
	read_is(0);

	/* Buffered mode 0 (MODE SELECT, SSC-4 8.3.1): GOOD means written,
	 * nothing is left behind. */
	uint8_t hdr[4] = {0, 0, 0x00, 0};
	uint8_t ms[6] = {MODE_SELECT_6, 0x10, 0, 0, sizeof(hdr), 0};
	cdb_exec(&dev, &c, N1, ms, 6, hdr, sizeof(hdr), NULL, 0);
	cdb_assert_good(&c);
	kicks = 0;
	off_t before = seg_size();
	write_block(ra_w[1], RA_LEN);
	cr_assert_eq(kicks, 0);
	cr_assert_gt(seg_size(), before);
}

Test(ssc_at_rest, a_write_that_fails_behind_is_a_deferred_error_for_its_writer)
{
	struct scsi_cmd c;

	ra_load();
	cdb_drain_ua(&dev, N2);
	for (unsigned k = 0; k < 3; k++)
		fill(ra_w[k], RA_LEN, k + 110, false);
	write_block(ra_w[0], RA_LEN);
	write_fm(0); /* written and flushed */

	/* The drive's thread fails to write block 1: its writer's next
	 * command gets the deferred error and is not executed. */
	write_block(ra_w[1], RA_LEN);
	file_limit((rlim_t)seg_size());
	ssc_write_behind(&dev);
	file_limit(RLIM_INFINITY);
	cmd6(&c, WRITE_6, 0, RA_LEN, ra_w[2], RA_LEN, NULL, 0);
	assert_deferred(&c, SK_MEDIUM_ERROR, ASC_WRITE_ERROR, RA_LEN);
	/* Positioned after the last block written; the WRITE did nothing. */
	cr_assert_eq(position(), 1);
	cmd6(&c, READ_6, 0x00, RA_LEN, NULL, 0, ra_r, RA_LEN);
	cdb_assert_sense(&c, SK_BLANK_CHECK, ASC_END_OF_DATA_DETECTED);

	/* It fails under another nexus's command: that command goes on, on
	 * the medium without the block; the writer learns it next. */
	write_block(ra_w[1], RA_LEN);
	file_limit((rlim_t)seg_size());
	cr_assert_eq(position_of(N2), 1);
	file_limit(RLIM_INFINITY);
	uint8_t tur[6] = {TEST_UNIT_READY};
	cdb_exec(&dev, &c, N2, tur, 6, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
	cdb_exec(&dev, &c, N1, tur, 6, NULL, 0, NULL, 0);
	assert_deferred(&c, SK_MEDIUM_ERROR, ASC_WRITE_ERROR, RA_LEN);
	cdb_exec(&dev, &c, N1, tur, 6, NULL, 0, NULL, 0);
	cdb_assert_good(&c);

	/* The host writes it again; everything reads back. */
	write_block(ra_w[1], RA_LEN);
	write_block(ra_w[2], RA_LEN);
	write_fm(1);
	rewind_tape();
	read_is(0);
	read_is(1);
	read_is(2);
	cmd6(&c, READ_6, 0x00, RA_LEN, NULL, 0, ra_r, RA_LEN);
	cdb_assert_sense(&c, SK_NO_SENSE, ASC_FILEMARK_DETECTED); /* at EOD now */

	/* Fixed-block mode: INFORMATION counts blocks (one was behind). */
	uint8_t hdr[12] = {0, 0, 0x10, 8};
	put_be24(hdr + 9, RA_LEN);
	uint8_t ms[6] = {MODE_SELECT_6, 0x10, 0, 0, sizeof(hdr), 0};
	cdb_exec(&dev, &c, N1, ms, 6, hdr, sizeof(hdr), NULL, 0);
	cdb_assert_good(&c);
	uint8_t *two = malloc(2 * RA_LEN);
	cr_assert_not_null(two);
	memcpy(two, ra_w[0], RA_LEN);
	memcpy(two + RA_LEN, ra_w[1], RA_LEN);
	cmd6(&c, WRITE_6, 0x01, 2, two, 2 * RA_LEN, NULL, 0);
	cdb_assert_good(&c);
	file_limit((rlim_t)seg_size());
	cdb_exec(&dev, &c, N1, tur, 6, NULL, 0, NULL, 0);
	file_limit(RLIM_INFINITY);
	assert_deferred(&c, SK_MEDIUM_ERROR, ASC_WRITE_ERROR, 1);
	cr_assert_eq(position(), 5, "the first block of the two is written");
	free(two);
}

/* The durability contract (ARCHITECTURE.md): after GOOD of WRITE
 * FILEMARKS with IMMED=0, a crash loses nothing written before it; a
 * block written behind after it and never flushed may be lost, and the
 * tape then ends cleanly at EOD. */
Test(ssc_at_rest, a_crash_after_a_filemark_loses_nothing_before_it)
{
	struct scsi_cmd c;
	for (unsigned k = 0; k < 4; k++)
		fill(ra_w[k], RA_LEN, k + 130, false);

	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		/* The drive dies with a block left behind, unwritten. */
		if (ssc_insert_keyed(&dev, tapedir, dkey) != 0)
			_exit(1);
		cdb_drain_ua(&dev, N1);
		for (unsigned k = 0; k < 3; k++) {
			cmd6(&c, WRITE_6, 0, RA_LEN, ra_w[k], RA_LEN, NULL, 0);
			if (c.status != SAM_STAT_GOOD)
				_exit(2);
		}
		cmd6(&c, WRITE_FILEMARKS_6, 0, 1, NULL, 0, NULL, 0);
		if (c.status != SAM_STAT_GOOD)
			_exit(3);
		cmd6(&c, WRITE_6, 0, RA_LEN, ra_w[3], RA_LEN, NULL, 0);
		if (c.status != SAM_STAT_GOOD)
			_exit(4);
		_exit(0); /* no flush, no unload: a kill -9 */
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);

	ra_load();
	read_is(0);
	read_is(1);
	read_is(2);
	cmd6(&c, READ_6, 0x00, RA_LEN, NULL, 0, ra_r, RA_LEN);
	cdb_assert_sense(&c, SK_NO_SENSE, ASC_FILEMARK_DETECTED);
	cmd6(&c, READ_6, 0x00, RA_LEN, NULL, 0, ra_r, RA_LEN);
	cdb_assert_sense(&c, SK_BLANK_CHECK, ASC_END_OF_DATA_DETECTED);
	cr_assert_eq(position(), 4);
	/* Writing goes on at EOD. */
	write_block(ra_w[3], RA_LEN);
	write_fm(0);
	locate(4);
	read_is(3);
}

/* The library's unload does not swallow a deferred error its writer has
 * not seen; the host's next command reports it, and the unload then
 * proceeds. */
Test(ssc_at_rest, a_library_unload_waits_for_the_writer_to_learn_a_deferred_error)
{
	struct scsi_cmd c;

	ra_load();
	fill(ra_w[0], RA_LEN, 150, false);
	write_block(ra_w[0], RA_LEN);
	write_fm(0);
	write_block(ra_w[0], RA_LEN);
	file_limit((rlim_t)seg_size());
	cr_assert_eq(ssc_library_unload(&dev), -EIO, "the unload meets the failure itself");
	file_limit(RLIM_INFINITY);
	cr_assert_eq(ssc_library_unload(&dev), -EIO, "and keeps it for the writer");
	cr_assert_eq(ssc_state(&dev), SSC_LOADED);
	uint8_t tur[6] = {TEST_UNIT_READY};
	cdb_exec(&dev, &c, N1, tur, 6, NULL, 0, NULL, 0);
	assert_deferred(&c, SK_MEDIUM_ERROR, ASC_WRITE_ERROR, RA_LEN);
	cr_assert_eq(ssc_library_unload(&dev), 0);
	cr_assert_eq(ssc_remove(&dev, false), 0);
}

/* A WRITE in the early-warning zone flushes (SSC-4 4.2.5, SEW): if its own
 * block, left behind, fails there, that WRITE reports it as its current
 * error, and no later command reports it again. */
Test(ssc_at_rest, a_block_that_fails_in_the_early_warning_flush_is_reported_once)
{
	struct scsi_cmd c;
	struct tape_info info;

	memset(&info, 0, sizeof(info));
	snprintf(info.barcode, sizeof(info.barcode), "RESTEWL6");
	snprintf(info.serial, sizeof(info.serial), "MSNRESTEW");
	info.media = TAPE_LTO6;
	info.created = 1700000000;
	info.at_rest = true;
	info.capacity = 200000; /* early warning at 193750 bytes: the third block */
	snprintf(tapedir, sizeof(tapedir), "%s/RESTEWL6", root);
	cr_assert_eq(tape_format(tapedir, &info), 0);

	ra_load();
	for (unsigned k = 0; k < 3; k++)
		fill(ra_w[k], RA_LEN, k + 170, false);
	write_block(ra_w[0], RA_LEN);
	write_block(ra_w[1], RA_LEN);
	write_fm(0);
	file_limit((rlim_t)seg_size());
	cmd6(&c, WRITE_6, 0, RA_LEN, ra_w[2], RA_LEN, NULL, 0);
	file_limit(RLIM_INFINITY);
	cr_assert_eq(c.status, SAM_STAT_CHECK_CONDITION);
	cr_assert_eq(c.sense[0] & 0x7f, 0x70, "a current error: response code %02x", c.sense[0]);
	cr_assert_eq(cdb_key(&c), SK_MEDIUM_ERROR);
	cr_assert_eq(cdb_asc(&c), ASC_WRITE_ERROR);
	uint8_t tur[6] = {TEST_UNIT_READY};
	cdb_exec(&dev, &c, N1, tur, 6, NULL, 0, NULL, 0);
	cdb_assert_good(&c);
	cr_assert_eq(position(), 2);
	/* Written again: early warning, as any write there. */
	cmd6(&c, WRITE_6, 0, RA_LEN, ra_w[2], RA_LEN, NULL, 0);
	cdb_assert_sense(&c, SK_NO_SENSE, ASC_END_OF_PARTITION_MEDIUM_DETECTED);
	cr_assert_eq(position(), 3);
}
