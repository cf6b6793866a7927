/*
 * test_tape_files.c - the cartridge's files as the layers above see them
 * (scsi/tape_files.c): a manifest parsed from memory or a directory, and
 * the records of a segment held in memory, checked. The bytes come from
 * the medium itself, so the tests hold whatever the format is.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "scsi/be.h"
#include "scsi/crc32c.h"
#include "scsi/tape.h"
#include "tape_util.h"

static char tmp[64];
static char dir[512];
static struct tape *t;
static uint8_t *wbuf;

static void setup(void)
{
	struct tape_info info = tu_info(TAPE_LTO7, 0);

	tmpdir_make(tmp, sizeof(tmp), "tape");
	snprintf(dir, sizeof(dir), "%s/tape", tmp);
	cr_assert_eq(tape_format(dir, &info), 0);
	cr_assert_eq(tape_open(dir, &t), 0);
	wbuf = malloc(TAPE_MAX_BLOCK);
	cr_assert(wbuf);
}

static void teardown(void)
{
	if (t)
		tape_close(t);
	t = NULL;
	tmpdir_remove(tmp);
	free(wbuf);
}

/* Read a file of the cartridge into memory. */
static uint8_t *slurp(const char *name, size_t *len)
{
	char p[600];
	struct stat sb;
	uint8_t *buf;
	int fd;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fd = open(p, O_RDONLY);
	cr_assert_geq(fd, 0, "open %s", p);
	cr_assert_eq(fstat(fd, &sb), 0);
	buf = malloc(sb.st_size ? (size_t)sb.st_size : 1);
	cr_assert(buf);
	cr_assert_eq(pread(fd, buf, (size_t)sb.st_size, 0), sb.st_size);
	close(fd);
	*len = (size_t)sb.st_size;
	return buf;
}

/* Blocks and filemarks over several segments, committed and closed. */
static void write_tape(void)
{
	tape_set_segment_size(t, 16 << 10);
	for (uint64_t i = 0; i < 40; i++) {
		uint32_t len = 1000 + (uint32_t)i * 97;

		tu_fill(wbuf, len, i, 0);
		cr_assert_eq(tape_write(t, wbuf, len), 0);
		if (i % 10 == 9)
			cr_assert_eq(tape_write_filemarks(t, 1), 0);
	}
	cr_assert_eq(tape_flush(t), 0);
}

TestSuite(tape_files_manifest, .init = setup, .fini = teardown);

Test(tape_files_manifest, good_manifest_parses_to_the_facts_written)
{
	const struct tape_info want = *tape_get_info(t);
	uint64_t eod, used;
	struct tape_manifest m;
	uint8_t *buf;
	size_t len;

	write_tape();
	cr_assert_eq(tape_set_write_protect(t, true), 0);
	eod = tape_eod(t);
	used = tape_used_bytes(t);
	cr_assert_eq(tape_close(t), 0);
	t = NULL;

	buf = slurp("MANIFEST", &len);
	cr_assert_eq(tape_manifest_parse(buf, len, &m), 0);
	cr_assert_str_eq(m.info.barcode, want.barcode);
	cr_assert_str_eq(m.info.serial, want.serial);
	cr_assert_eq(m.info.media, TAPE_LTO7);
	cr_assert_eq(m.info.capacity, tape_media_capacity(TAPE_LTO7));
	cr_assert(m.info.write_protect);
	cr_assert_gt(m.generation, 1);
	cr_assert_gt(m.nseg, 2, "the tape spans several segments");
	cr_assert_eq(m.segs[0].first, 0);
	for (size_t i = 1; i < m.nseg; i++) {
		cr_assert_gt(m.segs[i].id, m.segs[i - 1].id);
		cr_assert_eq(m.segs[i].first, m.segs[i - 1].first + m.segs[i - 1].objects);
	}
	cr_assert_eq(m.segs[m.nseg - 1].first + m.segs[m.nseg - 1].objects, eod);
	cr_assert_eq(tape_manifest_bytes(&m), used);
	tape_manifest_free(&m);
	cr_assert_eq(m.segs, NULL);
	free(buf);
}

Test(tape_files_manifest, read_from_the_directory_gives_the_bytes_and_the_facts)
{
	struct tape_manifest a, b;
	uint8_t *buf;
	void *raw = NULL;
	size_t len, rawlen = 0;

	write_tape();
	buf = slurp("MANIFEST", &len);
	cr_assert_eq(tape_manifest_read(dir, &a, &raw, &rawlen), 0);
	cr_assert_eq(rawlen, len);
	cr_assert(memcmp(raw, buf, len) == 0);
	cr_assert_eq(tape_manifest_parse(raw, rawlen, &b), 0);
	cr_assert_eq(a.generation, b.generation);
	cr_assert_eq(a.nseg, b.nseg);
	cr_assert(memcmp(a.segs, b.segs, a.nseg * sizeof(*a.segs)) == 0);
	tape_manifest_free(&a);
	tape_manifest_free(&b);
	free(raw);
	free(buf);

	cr_assert_eq(tape_manifest_read(dir, &a, NULL, NULL), 0, "raw is optional");
	tape_manifest_free(&a);
}

/* tape_manifest_read reads a short manifest into the stack and a long one
 * into the heap: both give the file's bytes and the same facts as
 * tape_manifest_parse of them, a blank tape's and one of 300 segments
 * (about 10 KB, past the short read's 4 KiB) alike. */
static void read_matches_the_file(void)
{
	struct tape_manifest a, b;
	uint8_t *buf;
	void *raw = NULL;
	size_t len, rawlen = 0;

	buf = slurp("MANIFEST", &len);
	cr_assert_eq(tape_manifest_read(dir, &a, &raw, &rawlen), 0);
	cr_assert_eq(rawlen, len);
	cr_assert(memcmp(raw, buf, len) == 0);
	cr_assert_eq(tape_manifest_parse(buf, len, &b), 0);
	cr_assert_eq(a.generation, b.generation);
	cr_assert_eq(a.nseg, b.nseg);
	cr_assert(memcmp(a.segs, b.segs, a.nseg * sizeof(*a.segs)) == 0);
	tape_manifest_free(&a);
	cr_assert_eq(tape_manifest_read(dir, &a, NULL, NULL), 0);
	cr_assert_eq(a.nseg, b.nseg);
	cr_assert(memcmp(a.segs, b.segs, a.nseg * sizeof(*a.segs)) == 0);
	tape_manifest_free(&a);
	tape_manifest_free(&b);
	free(raw);
	free(buf);
}

Test(tape_files_manifest, short_and_long_manifests_read_whole)
{
	size_t len;

	free(slurp("MANIFEST", &len));
	cr_assert_lt(len, 4096, "a blank tape's manifest is a short one");
	read_matches_the_file();

	tape_set_segment_size(t, 1);
	for (uint64_t i = 0; i < 300; i++) {
		tu_fill(wbuf, 512, i, 0);
		cr_assert_eq(tape_write(t, wbuf, 512), 0);
	}
	cr_assert_eq(tape_flush(t), 0);
	free(slurp("MANIFEST", &len));
	cr_assert_gt(len, 4096, "300 segments make a long one");
	read_matches_the_file();
}

/* The names the upper layers use for a cartridge's files are the ones
 * the medium writes: every segment the manifest names has its data file,
 * every one but the active one its index sidecar. */
Test(tape_files_manifest, file_paths_name_the_files_the_medium_writes)
{
	struct tape_manifest m;
	char path[600], name[64];
	struct stat sb;

	write_tape();
	cr_assert_eq(tape_close(t), 0);
	t = NULL;
	cr_assert_eq(tape_manifest_read(dir, &m, NULL, NULL), 0);
	cr_assert_gt(m.nseg, 2);
	for (size_t i = 0; i < m.nseg; i++) {
		cr_assert_eq(tape_file_path(dir, TAPE_SEG_DATA, m.segs[i].id, path, sizeof(path)),
			     0);
		cr_assert_eq(stat(path, &sb), 0, "%s", path);
		cr_assert_eq(tape_file_path(dir, TAPE_SEG_INDEX, m.segs[i].id, path, sizeof(path)),
			     0);
		if (i + 1 < m.nseg)
			cr_assert_eq(stat(path, &sb), 0, "%s", path);
	}
	cr_assert_eq(tape_file_path(dir, TAPE_FILE_MANIFEST, 0, path, sizeof(path)), 0);
	cr_assert_eq(stat(path, &sb), 0, "%s", path);
	cr_assert_eq(tape_file_path(dir, TAPE_FILE_MANIFEST_PREV, 0, path, sizeof(path)), 0);
	cr_assert_eq(stat(path, &sb), 0, "%s: kept at each commit", path);
	/* Names alone, and paths that do not fit. */
	cr_assert_eq(tape_file_path(NULL, TAPE_SEG_FETCH, 0x2a, name, sizeof(name)), 0);
	cr_assert_str_eq(name, "seg-000000000000002a.part");
	cr_assert_eq(tape_file_path(dir, TAPE_FILE_MANIFEST, 0, path, 8), -ENAMETOOLONG);
	cr_assert_str_eq(path, "");

	/* A fetch a crash left is removed, and nothing else. */
	cr_assert_eq(tape_file_path(dir, TAPE_SEG_FETCH, m.segs[0].id, path, sizeof(path)), 0);
	FILE *f = fopen(path, "w");
	cr_assert(f);
	fclose(f);
	cr_assert_eq(tape_probe(dir), 1);
	cr_assert_eq(tape_remove_fetches(dir), 0);
	cr_assert_neq(stat(path, &sb), 0, "%s is gone", path);
	cr_assert_eq(tape_file_path(dir, TAPE_SEG_DATA, m.segs[0].id, path, sizeof(path)), 0);
	cr_assert_eq(stat(path, &sb), 0, "%s stays", path);

	/* The same in the open that reads the manifest (a start): the same
	 * manifest as tape_manifest_read, the fetch gone, the segment kept. */
	cr_assert_eq(tape_file_path(dir, TAPE_SEG_FETCH, m.segs[0].id, path, sizeof(path)), 0);
	f = fopen(path, "w");
	cr_assert(f);
	fclose(f);
	struct tape_manifest s;
	int swept = 1;
	cr_assert_eq(tape_manifest_read_sweep(dir, &s, &swept), 0);
	cr_assert_eq(swept, 0);
	cr_assert_eq(s.generation, m.generation);
	cr_assert_eq(s.nseg, m.nseg);
	for (size_t i = 0; i < m.nseg; i++)
		cr_assert_eq(s.segs[i].valid, m.segs[i].valid);
	tape_manifest_free(&s);
	cr_assert_neq(stat(path, &sb), 0, "%s is gone", path);
	cr_assert_eq(tape_file_path(dir, TAPE_SEG_DATA, m.segs[0].id, path, sizeof(path)), 0);
	cr_assert_eq(stat(path, &sb), 0, "%s stays", path);
	cr_assert_eq(tape_open(dir, &t), 0);
	tape_manifest_free(&m);
}

Test(tape_files_manifest, missing_manifest_or_directory_is_enoent)
{
	char p[600];
	struct tape_manifest m;

	snprintf(p, sizeof(p), "%s/nowhere", tmp);
	cr_assert_eq(tape_manifest_read(p, &m, NULL, NULL), -ENOENT);
	snprintf(p, sizeof(p), "%s/MANIFEST", dir);
	cr_assert_eq(unlink(p), 0);
	cr_assert_eq(tape_manifest_read(dir, &m, NULL, NULL), -ENOENT);
	cr_assert_eq(m.segs, NULL);
	cr_assert_eq(tape_manifest_read_sweep(dir, &m, NULL), -ENOENT, "and at start");
	cr_assert_eq(m.segs, NULL);
}

Test(tape_files_manifest, any_flipped_byte_is_refused)
{
	const struct tape_attr a = {0x0801, 4, (const uint8_t *)"LTFS"};
	struct tape_manifest m;
	uint8_t *buf;
	size_t len;

	write_tape();
	cr_assert_eq(tape_set_attrs(t, &a, 1), 0, "the host attribute section too");
	buf = slurp("MANIFEST", &len);
	for (size_t i = 0; i < len; i++) {
		buf[i] ^= 0x10;
		cr_assert_neq(tape_manifest_parse(buf, len, &m), 0, "byte %zu flipped", i);
		cr_assert_eq(m.segs, NULL);
		buf[i] ^= 0x10;
	}
	cr_assert_eq(tape_manifest_parse(buf, len, &m), 0);
	tape_manifest_free(&m);
	free(buf);
}

Test(tape_files_manifest, truncated_or_extended_manifest_is_refused)
{
	struct tape_manifest m;
	uint8_t *buf;
	size_t len;

	write_tape();
	buf = slurp("MANIFEST", &len);
	for (size_t n = 0; n < len; n++)
		cr_assert_eq(tape_manifest_parse(buf, n, &m), -EBADMSG, "first %zu bytes", n);
	buf = realloc(buf, len + 1);
	cr_assert(buf);
	buf[len] = 0;
	cr_assert_eq(tape_manifest_parse(buf, len + 1, &m), -EBADMSG, "a byte too many");
	free(buf);
}

/* Checks beyond the CRC: a manifest whose CRC is right but whose content
 * is not (offsets from docs/medium-format.md, "Manifest"). */
static void rewrite(uint8_t *buf, size_t len)
{
	put_le32(buf + len - 4, crc32c(buf, len - 4));
}

Test(tape_files_manifest, sound_crc_does_not_excuse_bad_content)
{
	struct tape_manifest m;
	uint8_t *buf;
	size_t len;

	write_tape();
	buf = slurp("MANIFEST", &len);
	put_le32(buf + 8, 3);
	rewrite(buf, len);
	cr_assert_eq(tape_manifest_parse(buf, len, &m), -EPROTONOSUPPORT, "unknown version");
	free(buf);

	buf = slurp("MANIFEST", &len);
	put_le64(buf + 128 + 32 + 8, 1 + get_le64(buf + 128 + 32 + 8));
	rewrite(buf, len);
	cr_assert_eq(tape_manifest_parse(buf, len, &m), -EBADMSG, "segments do not chain");
	free(buf);

	buf = slurp("MANIFEST", &len);
	put_le32(buf + 12, 8); /* bits 0 (write protect), 1 (WORM), 2 (at rest) are known */
	rewrite(buf, len);
	cr_assert_eq(tape_manifest_parse(buf, len, &m), -EBADMSG, "unknown flag");
	free(buf);
}

TestSuite(tape_files_records, .init = setup, .fini = teardown);

/* The first segment's bytes: blocks and a filemark, sealed. */
static uint8_t *first_segment(size_t *len)
{
	write_tape();
	cr_assert_eq(tape_close(t), 0);
	t = NULL;
	return slurp("seg-0000000000000001.dat", len);
}

Test(tape_files_records, a_segment_as_written_verifies)
{
	size_t len, ok = 0;
	uint8_t *buf = first_segment(&len);

	cr_assert_gt(len, 0);
	cr_assert_eq(tape_records_verify(buf, len), 0);
	cr_assert_eq(tape_records_prefix(buf, len, &ok), 0);
	cr_assert_eq(ok, len);
	cr_assert_eq(tape_records_verify(buf, 0), 0, "no records is a valid run");
	free(buf);
}

Test(tape_files_records, damaged_payload_fails_verification)
{
	size_t len, ok;
	uint8_t *buf = first_segment(&len);

	/* The first record is a block of 1000 bytes: byte 100 is in its
	 * payload, whose CRC alone can tell. */
	buf[100] ^= 0x01;
	cr_assert_eq(tape_records_verify(buf, len), -EBADMSG);
	cr_assert_eq(tape_records_prefix(buf, len, &ok), -EBADMSG);
	buf[100] ^= 0x01;
	/* Any byte at all: header or payload. */
	for (size_t i = 0; i < len; i += 331) {
		buf[i] ^= 0x40;
		cr_assert_eq(tape_records_verify(buf, len), -EBADMSG, "byte %zu flipped", i);
		buf[i] ^= 0x40;
	}
	free(buf);
}

Test(tape_files_records, truncated_run_fails_and_its_prefix_is_whole_records)
{
	size_t len, ok, prev = 0;
	uint8_t *buf = first_segment(&len);

	for (size_t n = len - 1; n > 0; n -= n > 97 ? 97 : n) {
		cr_assert_eq(tape_records_verify(buf, n), -EBADMSG, "first %zu bytes", n);
		cr_assert_eq(tape_records_prefix(buf, n, &ok), 0);
		cr_assert_lt(ok, n);
		/* The prefix is itself a run of whole records. */
		cr_assert_eq(tape_records_verify(buf, ok), 0);
		if (prev)
			cr_assert_leq(ok, prev);
		prev = ok;
	}
	cr_assert_eq(tape_records_prefix(buf, 31, &ok), 0, "less than a header");
	cr_assert_eq(ok, 0);
	free(buf);
}

Test(tape_files_records, largest_record_fits_tape_rec_max)
{
	size_t len;
	uint8_t *buf;

	tu_fill(wbuf, TAPE_MAX_BLOCK, 7, 0);
	cr_assert_eq(tape_write(t, wbuf, TAPE_MAX_BLOCK), 0);
	cr_assert_eq(tape_close(t), 0);
	t = NULL;
	buf = slurp("seg-0000000000000001.dat", &len);
	cr_assert_eq(len, TAPE_MAX_BLOCK + 32u, "a plain block: header and data");
	cr_assert_eq(tape_records_verify(buf, len), 0);
	free(buf);
}

/* The largest record of all: an incompressible largest block encrypted
 * with the most key-associated data (docs/medium-format.md, "Encrypted
 * records"). */
Test(tape_files_records, largest_encrypted_record_is_tape_rec_max)
{
	struct tape_key k;
	size_t len;
	uint8_t *buf;

	memset(&k, 0, sizeof(k));
	memset(k.key, 0x42, sizeof(k.key));
	k.ukad_len = TAPE_UKAD_MAX;
	k.akad_len = TAPE_AKAD_MAX;
	cr_assert_eq(tape_set_crypto(t, &k, NULL, TAPE_DECRYPT_OFF), 0);
	tu_fill(wbuf, TAPE_MAX_BLOCK, 7, 0);
	cr_assert_eq(tape_write(t, wbuf, TAPE_MAX_BLOCK), 0);
	cr_assert_eq(tape_close(t), 0);
	t = NULL;
	buf = slurp("seg-0000000000000001.dat", &len);
	/* The rest of TAPE_REC_MAX is encryption at rest's (test_at_rest). */
	cr_assert_eq(len, TAPE_REC_MAX - TAPE_AT_REST_OVERHEAD);
	cr_assert_eq(tape_records_verify(buf, len), 0);
	free(buf);
}
