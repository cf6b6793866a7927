/*
 * test_gather.c - small blocks written in buffered mode to a cartridge
 * stored clear are gathered and written 64 KiB at a time (scsi/tape.c,
 * write_combined; tape.h, tape_write_held), at CDB level.
 *
 * What a host must see is what it saw when each block was written at
 * once: the position and every block read back after any command, a write
 * error of gathered blocks reported to their writer as a deferred error
 * (SPC-4 4.5.5) with INFORMATION counting all of them and the position
 * before the first, or as the current error of the WRITE whose block made
 * the 64 KiB, and a crash after a flushing WRITE FILEMARKS losing nothing
 * written before it. A real drive on a real cartridge in a temporary
 * directory; the write error is a real one (RLIMIT_FSIZE), as in
 * test_at_rest.c.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "scsi/be.h"
#include "scsi/sense.h"
#include "scsi/ssc.h"
#include "tests/scsi/cdb_harness.h"
#include "tests/tmpdir.h"

#define N1 1 /* the writer */
#define N2 2 /* another initiator */

static struct scsi_dev dev;
static char root[PATH_MAX];
static char tapedir[PATH_MAX + 16];

static void make_tape(void)
{
	struct tape_info info;

	memset(&info, 0, sizeof(info));
	snprintf(info.barcode, sizeof(info.barcode), "GAT001L6");
	snprintf(info.serial, sizeof(info.serial), "MSNGAT001");
	info.media = TAPE_LTO6;
	info.created = 1700000000;
	snprintf(tapedir, sizeof(tapedir), "%s/GAT001L6", root);
	cr_assert_eq(tape_format(tapedir, &info), 0);
}

static void make_drive(void)
{
	struct ssc_config cfg = {
	    .generation = TAPE_LTO6,
	    .vendor = SSC_VENDOR_IBM,
	    .serial = "1013000777",
	    .naa = 0x5000e11100000077ull,
	    .rel_port = 1,
	};
	cr_assert_eq(ssc_drive_init(&dev, &cfg), 0);
	cr_assert_eq(ssc_insert(&dev, tapedir), 0);
	cdb_drain_ua(&dev, N1);
	cdb_drain_ua(&dev, N2);
}

static void setup(void)
{
	tmpdir_make(root, sizeof(root), "gather");
	make_tape();
	make_drive();
}

static void teardown(void)
{
	ssc_drive_destroy(&dev);
	tmpdir_remove(root);
}

TestSuite(ssc_gather, .init = setup, .fini = teardown);

static void cmd6(struct scsi_cmd *c, uint64_t nexus, uint8_t op, uint8_t b1, uint32_t len24,
		 const void *out, uint32_t out_len, void *in, uint32_t in_cap)
{
	uint8_t cdb[6] = {op, b1};

	put_be24(cdb + 2, len24);
	cdb_exec(&dev, c, nexus, cdb, 6, out, out_len, in, in_cap);
}

/* Block k: its length and bytes, the same on every call (every seventh
 * compresses, the others do not). */
static uint32_t blk_len(unsigned k)
{
	return 512 + (k * 997) % 7000;
}

static void blk_fill(uint8_t *buf, unsigned k)
{
	uint32_t x = k * 2654435761u + 1;

	for (uint32_t i = 0; i < blk_len(k); i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = k % 7 == 0 ? (uint8_t)(i / 64) : (uint8_t)x;
	}
}

static void write_blk(unsigned k)
{
	static uint8_t buf[8192];
	struct scsi_cmd c;

	blk_fill(buf, k);
	cmd6(&c, N1, WRITE_6, 0, blk_len(k), buf, blk_len(k), NULL, 0);
	cdb_assert_good(&c);
}

static void read_blk(unsigned k)
{
	static uint8_t want[8192], got[8192];
	struct scsi_cmd c;

	blk_fill(want, k);
	cmd6(&c, N1, READ_6, 0, blk_len(k), NULL, 0, got, sizeof(got));
	cdb_assert_good(&c);
	cr_assert_eq(c.in_len, blk_len(k), "block %u", k);
	cr_assert_eq(memcmp(got, want, blk_len(k)), 0, "block %u", k);
}

static void simple(uint64_t nexus, uint8_t op, uint8_t b1, uint32_t n, struct scsi_cmd *c)
{
	cmd6(c, nexus, op, b1, n, NULL, 0, NULL, 0);
}

static void ok(uint8_t op, uint8_t b1, uint32_t n)
{
	struct scsi_cmd c;

	simple(N1, op, b1, n, &c);
	cdb_assert_good(&c);
}

static uint64_t position_of(uint64_t nexus)
{
	struct scsi_cmd c;
	uint8_t cdb[10] = {READ_POSITION, 0x06};
	uint8_t buf[32];

	cdb_exec(&dev, &c, nexus, cdb, 10, NULL, 0, buf, sizeof(buf));
	cdb_assert_good(&c);
	return get_be64(buf + 8);
}

static off_t seg_size(void)
{
	char path[PATH_MAX + 64];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/seg-0000000000000001.dat", tapedir);
	cr_assert_eq(stat(path, &sb), 0);
	return sb.st_size;
}

/* The soft limit on file size: a write past it fails (EFBIG). */
static void file_limit(rlim_t bytes)
{
	struct rlimit rl;

	signal(SIGXFSZ, SIG_IGN);
	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &rl), 0);
	rl.rlim_cur = bytes == RLIM_INFINITY ? rl.rlim_max : bytes;
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

static void assert_error(const struct scsi_cmd *c, uint8_t code, int64_t info)
{
	cr_assert_eq(c->status, SAM_STAT_CHECK_CONDITION);
	cr_assert_eq(c->sense[0] & 0x7f, code, "response code %02x", c->sense[0]);
	cr_assert_eq(cdb_key(c), SK_MEDIUM_ERROR);
	cr_assert_eq(cdb_asc(c), ASC_WRITE_ERROR);
	cr_assert_eq(cdb_info(c), info, "INFORMATION %lld, want %lld", (long long)cdb_info(c),
		     (long long)info);
}

Test(ssc_gather, small_blocks_read_back_after_any_command_whatever_their_sizes)
{
	struct scsi_cmd c;

	/* 60 blocks of 0.5 to 7.5 KiB: several 64 KiB gatherings, with a
	 * block too large to be gathered (64 KiB) in the middle. */
	for (unsigned k = 0; k < 30; k++)
		write_blk(k);
	static uint8_t big[65536];
	memset(big, 0x5a, sizeof(big));
	cmd6(&c, N1, WRITE_6, 0, sizeof(big), big, sizeof(big), NULL, 0);
	cdb_assert_good(&c);
	for (unsigned k = 30; k < 60; k++)
		write_blk(k);
	cr_assert_eq(position_of(N1), 61);
	cr_assert_eq(position_of(N2), 61);

	/* A move writes what is gathered: back one block and read it. */
	simple(N1, SPACE_6, 0, 0xffffff, &c); /* SPACE -1 block */
	cdb_assert_good(&c);
	read_blk(59);
	/* Then a few more, read back after a rewind (no filemark between). */
	write_blk(60);
	write_blk(61);
	ok(REWIND, 0, 0);
	for (unsigned k = 0; k < 30; k++)
		read_blk(k);
	static uint8_t got[65536];
	cmd6(&c, N1, READ_6, 0, sizeof(got), NULL, 0, got, sizeof(got));
	cdb_assert_good(&c);
	cr_assert_eq(memcmp(got, big, sizeof(big)), 0);
	for (unsigned k = 30; k < 62; k++)
		read_blk(k);
	cmd6(&c, N1, READ_6, 0, 512, NULL, 0, got, sizeof(got));
	cdb_assert_sense(&c, SK_BLANK_CHECK, ASC_END_OF_DATA_DETECTED);
}

Test(ssc_gather, blocks_that_fail_to_be_written_are_a_deferred_error_counting_all_of_them)
{
	struct scsi_cmd c;

	write_blk(0);
	ok(WRITE_FILEMARKS_6, 0, 1); /* written and flushed */

	/* Three blocks gathered; writing them fails under the writer's next
	 * command, which is not executed: INFORMATION is their bytes. */
	write_blk(1);
	write_blk(2);
	write_blk(3);
	file_limit((rlim_t)seg_size());
	simple(N1, TEST_UNIT_READY, 0, 0, &c);
	file_limit(RLIM_INFINITY);
	assert_error(&c, 0x71, blk_len(1) + blk_len(2) + blk_len(3));
	/* Positioned after the last block written: the filemark. */
	cr_assert_eq(position_of(N1), 2);
	cmd6(&c, N1, READ_6, 0, 512, NULL, 0, NULL, 0);
	cdb_assert_sense(&c, SK_BLANK_CHECK, ASC_END_OF_DATA_DETECTED);

	/* It fails under another nexus's command: that one goes on, on the
	 * medium without the blocks; the writer learns it next, once. */
	write_blk(1);
	write_blk(2);
	file_limit((rlim_t)seg_size());
	cr_assert_eq(position_of(N2), 2);
	file_limit(RLIM_INFINITY);
	simple(N2, TEST_UNIT_READY, 0, 0, &c);
	cdb_assert_good(&c);
	simple(N1, TEST_UNIT_READY, 0, 0, &c);
	assert_error(&c, 0x71, blk_len(1) + blk_len(2));
	simple(N1, TEST_UNIT_READY, 0, 0, &c);
	cdb_assert_good(&c);

	/* Another nexus's WRITE writes the writer's blocks first: it goes
	 * on (its block gathered where they were), and the failure is the
	 * writer's, not its. */
	write_blk(1);
	write_blk(2);
	file_limit((rlim_t)seg_size());
	static uint8_t other[700];
	memset(other, 0x77, sizeof(other));
	cmd6(&c, N2, WRITE_6, 0, sizeof(other), other, sizeof(other), NULL, 0);
	file_limit(RLIM_INFINITY);
	cdb_assert_good(&c);
	simple(N1, TEST_UNIT_READY, 0, 0, &c);
	assert_error(&c, 0x71, blk_len(1) + blk_len(2));
	cr_assert_eq(position_of(N2), 3, "the filemark, then the other nexus's block");
	simple(N2, SPACE_6, 0, 0xffffff, &c); /* SPACE -1 block */
	cdb_assert_good(&c);
	static uint8_t got[1024];
	cmd6(&c, N2, READ_6, 0, sizeof(other), NULL, 0, got, sizeof(got));
	cdb_assert_good(&c);
	cr_assert_eq(memcmp(got, other, sizeof(other)), 0);

	/* Fixed-block mode: INFORMATION counts blocks, here two WRITEs of
	 * one block each. */
	uint8_t ms[6] = {MODE_SELECT_6, 0x10, 0, 0, 12, 0};
	uint8_t hdr[12] = {0, 0, 0x10, 8};
	put_be24(hdr + 9, 1024);
	cdb_exec(&dev, &c, N1, ms, 6, hdr, sizeof(hdr), NULL, 0);
	cdb_assert_good(&c);
	static uint8_t fixed[1024];
	memset(fixed, 0x33, sizeof(fixed));
	for (unsigned k = 0; k < 2; k++) {
		cmd6(&c, N1, WRITE_6, 0x01, 1, fixed, sizeof(fixed), NULL, 0);
		cdb_assert_good(&c);
	}
	file_limit((rlim_t)seg_size());
	simple(N1, TEST_UNIT_READY, 0, 0, &c);
	file_limit(RLIM_INFINITY);
	assert_error(&c, 0x71, 2);
	cr_assert_eq(position_of(N1), 3);

	/* The host writes them again; everything reads back. */
	cdb_exec(&dev, &c, N1, ms, 6, (uint8_t[12]){0, 0, 0x10, 8}, 12, NULL, 0);
	cdb_assert_good(&c);
	write_blk(1);
	write_blk(2);
	ok(WRITE_FILEMARKS_6, 0, 1);
	ok(REWIND, 0, 0);
	read_blk(0);
	cmd6(&c, N1, READ_6, 0, 512, NULL, 0, NULL, 0);
	cdb_assert_sense(&c, SK_NO_SENSE, ASC_FILEMARK_DETECTED);
	cmd6(&c, N1, READ_6, 0, sizeof(other), NULL, 0, got, sizeof(got));
	cdb_assert_good(&c);
	cr_assert_eq(memcmp(got, other, sizeof(other)), 0);
	read_blk(1);
	read_blk(2);
}

Test(ssc_gather, the_write_that_fills_the_gathering_and_fails_reports_every_block_as_current)
{
	struct scsi_cmd c;
	static uint8_t buf[4096];
	unsigned n = 0;

	ok(WRITE_FILEMARKS_6, 0, 1);
	off_t limit = seg_size();
	/* 4 KiB blocks (32-byte header each) until one makes 64 KiB. */
	file_limit((rlim_t)limit);
	for (;;) {
		uint32_t x = n * 2654435761u + 7; /* incompressible */
		for (size_t i = 0; i < sizeof(buf); i++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			buf[i] = (uint8_t)x;
		}
		cmd6(&c, N1, WRITE_6, 0, sizeof(buf), buf, sizeof(buf), NULL, 0);
		n++;
		if (c.status != SAM_STAT_GOOD)
			break;
		cr_assert_lt(n, 32, "64 KiB gathered and never written");
	}
	file_limit(RLIM_INFINITY);
	cr_assert_eq(n, 16, "the 16th 4 KiB block makes 64 KiB");
	assert_error(&c, 0x70, (int64_t)n * (int64_t)sizeof(buf));
	cr_assert_eq(position_of(N1), 1);
	simple(N1, TEST_UNIT_READY, 0, 0, &c);
	cdb_assert_good(&c); /* reported once */
	cmd6(&c, N1, READ_6, 0, 512, NULL, 0, NULL, 0);
	cdb_assert_sense(&c, SK_BLANK_CHECK, ASC_END_OF_DATA_DETECTED);
}

/* The durability contract (ARCHITECTURE.md): after GOOD of WRITE
 * FILEMARKS with IMMED=0 a crash loses nothing written before it; blocks
 * gathered after it and never flushed are lost, and the tape ends cleanly
 * at EOD after the filemark. */
Test(ssc_gather, a_crash_after_a_filemark_loses_nothing_before_it)
{
	struct scsi_cmd c;

	ssc_drive_destroy(&dev);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		make_drive();
		for (unsigned k = 0; k < 40; k++)
			write_blk(k);
		simple(N1, WRITE_FILEMARKS_6, 0, 1, &c);
		if (c.status != SAM_STAT_GOOD)
			_exit(3);
		for (unsigned k = 40; k < 43; k++)
			write_blk(k);
		_exit(0); /* no flush, no unload: a kill -9 */
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);

	make_drive();
	for (unsigned k = 0; k < 40; k++)
		read_blk(k);
	cmd6(&c, N1, READ_6, 0, 512, NULL, 0, NULL, 0);
	cdb_assert_sense(&c, SK_NO_SENSE, ASC_FILEMARK_DETECTED);
	cmd6(&c, N1, READ_6, 0, 512, NULL, 0, NULL, 0);
	cdb_assert_sense(&c, SK_BLANK_CHECK, ASC_END_OF_DATA_DETECTED);
	cr_assert_eq(position_of(N1), 41);
	write_blk(41); /* writing goes on at EOD */
	ok(WRITE_FILEMARKS_6, 0, 1);
	ok(REWIND, 0, 0);
	ok(SPACE_6, 1, 1); /* one filemark forward */
	read_blk(41);
}
