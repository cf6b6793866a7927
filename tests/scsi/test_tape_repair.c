/*
 * test_tape_repair.c - a damaged or missing MANIFEST is rebuilt from what
 * survives (scsi/tape_repair.c): the records' own headers, MANIFEST.prev
 * and the caller's hint. Every test writes real records, damages the
 * directory the way a disk or an operator would, repairs, and reads every
 * byte back.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>

#include "tape_util.h"

#define SEG_SIZE 16384u

static char tmp[64];
static char dir[512];
static uint8_t wbuf[8192], rbuf[8192];

static void setup(void)
{
	struct tape_info info = tu_info(TAPE_LTO8, 0);

	tmpdir_make(tmp, sizeof(tmp), "tape");
	snprintf(dir, sizeof(dir), "%s/tape", tmp);
	cr_assert_eq(tape_format(dir, &info), 0);
}

static void teardown(void)
{
	tmpdir_remove(tmp);
}

static uint32_t len_of(uint64_t i)
{
	return 1000u + (uint32_t)(i * 37 % 3000);
}

/* n blocks with seeds base.., a filemark after every tenth; small segments. */
static void write_records(struct tape *t, uint64_t n, uint64_t base)
{
	tape_set_segment_size(t, SEG_SIZE);
	for (uint64_t i = 0; i < n; i++) {
		tu_fill(wbuf, len_of(i), base + i, 0);
		cr_assert_eq(tape_write(t, wbuf, len_of(i)), 0);
		if (i % 10 == 9)
			cr_assert_eq(tape_write_filemarks(t, 1), 0);
	}
	cr_assert_eq(tape_flush(t), 0);
}

/* From the position: n blocks of seeds base.. as write_records laid them. */
static void expect_records(struct tape *t, uint64_t n, uint64_t base)
{
	for (uint64_t i = 0; i < n; i++) {
		uint32_t len = 0;
		enum tape_obj kind;

		cr_assert_eq(tape_read(t, rbuf, sizeof(rbuf), &len, &kind), 0, "record %lu",
			     (unsigned long)i);
		cr_assert_eq(kind, TAPE_BLOCK);
		cr_assert_eq(len, len_of(i));
		tu_fill(wbuf, len, base + i, 0);
		cr_assert_eq(memcmp(rbuf, wbuf, len), 0, "record %lu differs", (unsigned long)i);
		if (i % 10 == 9) {
			cr_assert_eq(tape_read(t, rbuf, sizeof(rbuf), &len, &kind), 0);
			cr_assert_eq(kind, TAPE_FILEMARK);
		}
	}
}

static void flip_byte(const char *name, off_t at)
{
	char path[600];
	uint8_t b;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_RDWR);
	cr_assert(fd >= 0);
	cr_assert_eq(pread(fd, &b, 1, at), 1);
	b ^= 0x20;
	cr_assert_eq(pwrite(fd, &b, 1, at), 1);
	close(fd);
}

/* Copy every segment file of the tape into (or back from) dir2. */
static void copy_segments(const char *from, const char *to, bool only_longer)
{
	DIR *d = opendir(from);
	struct dirent *de;

	cr_assert(d);
	while ((de = readdir(d))) {
		char a[700], b[700];
		struct stat sa, sb;
		static uint8_t buf[1 << 16];

		if (strncmp(de->d_name, "seg-", 4) != 0)
			continue;
		snprintf(a, sizeof(a), "%s/%s", from, de->d_name);
		snprintf(b, sizeof(b), "%s/%s", to, de->d_name);
		cr_assert_eq(stat(a, &sa), 0);
		if (only_longer && stat(b, &sb) == 0 && sb.st_size >= sa.st_size)
			continue;
		int in = open(a, O_RDONLY), out = open(b, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		cr_assert(in >= 0 && out >= 0);
		ssize_t n;
		while ((n = read(in, buf, sizeof(buf))) > 0)
			cr_assert_eq(write(out, buf, (size_t)n), n);
		close(in);
		close(out);
	}
	closedir(d);
}

static bool exists(const char *name)
{
	char path[600];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

TestSuite(tape_repair, .init = setup, .fini = teardown);

Test(tape_repair, a_sound_manifest_is_left_alone)
{
	struct tape_repair rep;

	cr_assert_eq(tape_repair(dir, NULL, 0, &rep), 0);
	cr_assert_not(rep.repaired);
	cr_assert_not(exists("MANIFEST.damaged"));
}

Test(tape_repair, a_flipped_manifest_byte_is_rebuilt_from_the_records)
{
	struct tape *t;
	struct tape_repair rep;

	cr_assert_eq(tape_open(dir, &t), 0);
	write_records(t, 60, 1);
	uint64_t eod = tape_eod(t), used = tape_used_bytes(t);
	cr_assert_eq(tape_close(t), 0);
	cr_assert(tu_count(dir, ".dat") > 3, "several segments");

	flip_byte("MANIFEST", 70);
	cr_assert_eq(tape_open(dir, &t), -EBADMSG);
	cr_assert_eq(tape_repair(dir, NULL, 0, &rep), 0);
	cr_assert(rep.repaired);
	cr_assert_eq(rep.cause, -EBADMSG);
	cr_assert(rep.from_prev);
	cr_assert_eq(rep.objects, eod);
	cr_assert_str_eq(rep.barcode, "TST001L8");
	cr_assert(exists("MANIFEST.damaged"));

	cr_assert_eq(tape_open(dir, &t), 0);
	cr_assert_eq(tape_eod(t), eod);
	cr_assert_eq(tape_used_bytes(t), used);
	cr_assert_str_eq(tape_get_info(t)->barcode, "TST001L8");
	cr_assert_eq(tape_get_info(t)->media, TAPE_LTO8);
	expect_records(t, 60, 1);
	/* And it goes on as a tape: append, flush, reopen. */
	cr_assert_eq(tape_seek_eod(t), 0);
	write_records(t, 5, 500);
	cr_assert_eq(tape_close(t), 0);
	cr_assert_eq(tape_open(dir, &t), 0);
	cr_assert_eq(tape_eod(t), eod + 5);
	tape_close(t);
}

Test(tape_repair, both_manifests_lost_the_hint_names_the_tape)
{
	struct tape *t;
	struct tape_repair rep;
	struct tape_info hint = tu_info(TAPE_LTO8, 0);
	char path[600];

	cr_assert_eq(tape_open(dir, &t), 0);
	write_records(t, 25, 7);
	uint64_t eod = tape_eod(t);
	cr_assert_eq(tape_close(t), 0);
	snprintf(path, sizeof(path), "%s/MANIFEST", dir);
	cr_assert_eq(unlink(path), 0);
	snprintf(path, sizeof(path), "%s/MANIFEST.prev", dir);
	cr_assert_eq(unlink(path), 0);

	/* Nothing says which tape it is: refused, nothing changed. */
	cr_assert_eq(tape_repair(dir, NULL, 0, &rep), -EBADMSG);
	cr_assert_not(exists("MANIFEST"));

	hint.write_protect = true;
	cr_assert_eq(tape_repair(dir, &hint, 41, &rep), 0);
	cr_assert(rep.repaired);
	cr_assert_eq(rep.cause, -ENOENT);
	cr_assert_not(rep.from_prev);
	cr_assert_eq(tape_open(dir, &t), 0);
	cr_assert_eq(tape_eod(t), eod);
	cr_assert(tape_get_info(t)->write_protect);
	expect_records(t, 25, 7);
	tape_close(t);
}

Test(tape_repair, a_write_in_the_middle_stays_cut)
{
	struct tape *t;
	struct tape_repair rep;

	char keep[600];

	snprintf(keep, sizeof(keep), "%s/before", tmp);
	cr_assert_eq(mkdir(keep, 0700), 0);
	cr_assert_eq(tape_open(dir, &t), 0);
	write_records(t, 40, 1);
	copy_segments(dir, keep, false);
	/* Rewrite from object 12 (inside a sealed segment): 12 .. EOD go. */
	cr_assert_eq(tape_locate(t, 12), 0);
	for (uint64_t i = 0; i < 6; i++) {
		tu_fill(wbuf, 2000, 900 + i, 0);
		cr_assert_eq(tape_write(t, wbuf, 2000), 0);
	}
	cr_assert_eq(tape_flush(t), 0);
	cr_assert_eq(tape_eod(t), 18);
	cr_assert_eq(tape_close(t), 0);
	/* As if the power went after the commit of the cut, before the cut
	 * segment was truncated and the ones after it deleted. */
	copy_segments(keep, dir, true);

	flip_byte("MANIFEST", 20);
	flip_byte("MANIFEST.prev", 20);
	struct tape_info hint = tu_info(TAPE_LTO8, 0);
	cr_assert_eq(tape_repair(dir, &hint, 0, &rep), 0);
	cr_assert_eq(tape_open(dir, &t), 0);
	cr_assert_eq(tape_eod(t), 18, "EOD %lu", (unsigned long)tape_eod(t));
	expect_records(t, 10, 1); /* objects 0..10: ten blocks and a filemark */
	uint32_t len = 0;
	enum tape_obj kind;
	cr_assert_eq(tape_read(t, rbuf, sizeof(rbuf), &len, &kind), 0); /* object 11 */
	cr_assert_eq(len, len_of(10));
	for (uint64_t i = 0; i < 6; i++) {
		cr_assert_eq(tape_read(t, rbuf, sizeof(rbuf), &len, &kind), 0);
		tu_fill(wbuf, 2000, 900 + i, 0);
		cr_assert_eq(len, 2000);
		cr_assert_eq(memcmp(rbuf, wbuf, len), 0);
	}
	tape_close(t);
}

Test(tape_repair, an_evicted_segment_is_placed_by_its_sidecar)
{
	struct tape *t;
	struct tape_repair rep;
	char path[600];

	cr_assert_eq(tape_open(dir, &t), 0);
	write_records(t, 60, 3);
	uint64_t eod = tape_eod(t);
	cr_assert_eq(tape_close(t), 0);
	/* The cache drops a sealed segment's .dat, keeping its .idx. */
	snprintf(path, sizeof(path), "%s/seg-0000000000000002.dat", dir);
	cr_assert_eq(unlink(path), 0);
	flip_byte("MANIFEST", 9);
	cr_assert_eq(tape_repair(dir, NULL, 0, &rep), 0);
	cr_assert_eq(tape_open(dir, &t), 0);
	cr_assert_eq(tape_eod(t), eod);
	tape_close(t);
}

Test(tape_repair, a_damaged_record_is_stepped_over_not_the_rest)
{
	struct tape *t;
	struct tape_repair rep;

	cr_assert_eq(tape_open(dir, &t), 0);
	write_records(t, 60, 5);
	uint64_t eod = tape_eod(t);
	cr_assert_eq(tape_close(t), 0);
	/* A second damage: the header of a record inside segment 1, whose
	 * sidecar is lost too, so only its records can say what it holds. */
	char path[600];
	snprintf(path, sizeof(path), "%s/seg-0000000000000001.idx", dir);
	cr_assert_eq(unlink(path), 0);
	flip_byte("seg-0000000000000001.dat", 0 + 32 + len_of(0) + 3);
	flip_byte("MANIFEST", 100);
	cr_assert_eq(tape_repair(dir, NULL, 0, &rep), 0);
	cr_assert_eq(rep.stepped, 1);
	cr_assert_eq(tape_open(dir, &t), 0);
	cr_assert_eq(tape_eod(t), eod);
	uint32_t len = 0;
	enum tape_obj kind;
	cr_assert_eq(tape_read(t, rbuf, sizeof(rbuf), &len, &kind), 0);
	cr_assert_eq(tape_read(t, rbuf, sizeof(rbuf), &len, &kind), -EBADMSG);
	/* Everything after the damaged segment reads as written: object 33
	 * is block 30 (a filemark follows every tenth block). */
	cr_assert_eq(tape_locate(t, 33), 0);
	cr_assert_eq(tape_read(t, rbuf, sizeof(rbuf), &len, &kind), 0);
	tu_fill(wbuf, len_of(30), 5 + 30, 0);
	cr_assert_eq(len, len_of(30));
	cr_assert_eq(memcmp(rbuf, wbuf, len), 0);
	tape_close(t);
}

Test(tape_repair, probe_tells_a_cartridge_from_an_unfinished_format)
{
	char other[600];

	cr_assert_eq(tape_probe(dir), 1);
	snprintf(other, sizeof(other), "%s/none", tmp);
	cr_assert_eq(tape_probe(other), 0);
	cr_assert_eq(mkdir(other, 0700), 0);
	cr_assert_eq(tape_probe(other), 0);
	snprintf(other, sizeof(other), "%s/none/seg-0000000000000001.dat", tmp);
	int fd = open(other, O_CREAT | O_WRONLY, 0600);
	cr_assert(fd >= 0);
	close(fd);
	snprintf(other, sizeof(other), "%s/none", tmp);
	cr_assert_eq(tape_probe(other), 0, "an empty segment is no cartridge");
}
