/*
 * test_tape.c - the medium (scsi/tape.h) on real files in a scratch
 * directory: records, filemarks, EOD, positioning, overwrite, compression,
 * segments and their index sidecars, reopen, corruption and recovery.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>

#include "scsi/tape.h"
#include "tape_util.h"

static char tmp[64];
static char dir[512];
static struct tape *t;
static uint8_t *wbuf, *rbuf;

static void setup(void)
{
	struct tape_info info = tu_info(TAPE_LTO9, 0);

	tmpdir_make(tmp, sizeof(tmp), "tape");
	snprintf(dir, sizeof(dir), "%s/tape", tmp);
	cr_assert_eq(tape_format(dir, &info), 0);
	cr_assert_eq(tape_open(dir, &t), 0);
	wbuf = malloc(TAPE_MAX_BLOCK);
	rbuf = malloc(TAPE_MAX_BLOCK);
	cr_assert(wbuf && rbuf);
}

static void teardown(void)
{
	if (t)
		tape_close(t);
	t = NULL;
	tmpdir_remove(tmp);
	free(wbuf);
	free(rbuf);
}

static void reopen(void)
{
	cr_assert_eq(tape_close(t), 0);
	t = NULL;
	cr_assert_eq(tape_open(dir, &t), 0);
}

/* Write a block whose contents derive from seed. */
static void put_block(uint32_t len, uint64_t seed)
{
	tu_fill(wbuf, len, seed, 0);
	cr_assert_eq(tape_write(t, wbuf, len), 0, "write of %u bytes", len);
}

/* Read the next object and check it is the block (len, seed). */
static void expect_block(uint32_t len, uint64_t seed, int compressible)
{
	uint32_t got;
	enum tape_obj kind;

	tu_fill(wbuf, len, seed, compressible);
	cr_assert_eq(tape_read(t, rbuf, TAPE_MAX_BLOCK, &got, &kind), 0, "read at %llu",
		     (unsigned long long)tape_pos(t));
	cr_assert_eq(kind, TAPE_BLOCK, "kind at %llu", (unsigned long long)tape_pos(t) - 1);
	cr_assert_eq(got, len);
	cr_assert(memcmp(rbuf, wbuf, len) == 0, "contents of block of %u bytes", len);
}

static void expect_kind(enum tape_obj want)
{
	uint32_t got;
	enum tape_obj kind;

	cr_assert_eq(tape_read(t, rbuf, TAPE_MAX_BLOCK, &got, &kind), 0);
	cr_assert_eq(kind, want);
	cr_assert_eq(got, 0);
}

static void seg_path(char *out, size_t n, uint64_t id, const char *ext)
{
	snprintf(out, n, "%s/seg-%016llx.%s", dir, (unsigned long long)id, ext);
}

TestSuite(tape_media);

Test(tape_media, lto_generations_have_native_capacity_density_and_name)
{
	static const struct {
		enum tape_media m;
		uint64_t cap;
		uint8_t density;
		const char *name;
	} want[] = {
	    {TAPE_LTO5, 1500000000000ull, 0x58, "LTO-5"},
	    {TAPE_LTO6, 2500000000000ull, 0x5a, "LTO-6"},
	    {TAPE_LTO7, 6000000000000ull, 0x5c, "LTO-7"},
	    {TAPE_LTO8, 12000000000000ull, 0x5e, "LTO-8"},
	    {TAPE_LTO9, 18000000000000ull, 0x60, "LTO-9"},
	};
	enum tape_media m;

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		cr_assert_eq(tape_media_capacity(want[i].m), want[i].cap);
		cr_assert_eq(tape_media_density(want[i].m), want[i].density);
		cr_assert_str_eq(tape_media_name(want[i].m), want[i].name);
		cr_assert_eq(tape_media_parse(want[i].name, &m), 0);
		cr_assert_eq(m, want[i].m);
	}
	cr_assert_eq(tape_media_parse("lto7", &m), 0);
	cr_assert_eq(m, TAPE_LTO7);
	cr_assert_eq(tape_media_parse("LTO-4", &m), -EINVAL);
	cr_assert_eq(tape_media_capacity((enum tape_media)4), 0);
	cr_assert_eq(tape_media_density((enum tape_media)10), 0);
	cr_assert_null(tape_media_name((enum tape_media)10));
}

TestSuite(tape_format, .init = setup, .fini = teardown);

Test(tape_format, blank_tape_is_at_bot_and_eod)
{
	uint32_t len = 1;
	enum tape_obj kind;

	cr_assert_eq(tape_pos(t), 0);
	cr_assert_eq(tape_eod(t), 0);
	cr_assert_eq(tape_file(t), 0);
	cr_assert_eq(tape_used_bytes(t), 0);
	cr_assert_eq(tape_read(t, rbuf, 10, &len, &kind), 0);
	cr_assert_eq(kind, TAPE_EOD);
	cr_assert_eq(len, 0);
	cr_assert_eq(tape_pos(t), 0);
}

Test(tape_format, info_is_persisted_and_capacity_defaults_to_native)
{
	const struct tape_info *info = tape_get_info(t);

	cr_assert_str_eq(info->barcode, "TST001L9");
	cr_assert_str_eq(info->serial, "SN-TEST-0001");
	cr_assert_eq(info->media, TAPE_LTO9);
	cr_assert_eq(tape_capacity(t), 18000000000000ull);
	cr_assert_neq(info->created, 0);
	cr_assert_eq(tape_count_load(t), 0);
	cr_assert_eq(tape_count_load(t), 0);
	reopen();
	cr_assert_eq(tape_get_info(t)->load_count, 2);
	cr_assert_str_eq(tape_get_info(t)->barcode, "TST001L9");
}

Test(tape_format, existing_directory_is_refused)
{
	struct tape_info info = tu_info(TAPE_LTO5, 0);

	cr_assert_eq(tape_format(dir, &info), -EEXIST);
}

Test(tape_format, empty_lto9_costs_no_space)
{
	struct stat sb;
	char p[600];

	seg_path(p, sizeof(p), 1, "dat");
	cr_assert_eq(stat(p, &sb), 0);
	cr_assert_eq(sb.st_size, 0);
}

Test(tape_format, second_open_is_busy)
{
	struct tape *t2;

	cr_assert_eq(tape_open(dir, &t2), -EBUSY);
}

Test(tape_format, open_of_missing_directory_fails)
{
	struct tape *t2;
	char p[600];

	snprintf(p, sizeof(p), "%s/nope", tmp);
	cr_assert_eq(tape_open(p, &t2), -ENOENT);
}

TestSuite(tape_rw, .init = setup, .fini = teardown);

static const uint32_t sizes[] = {
    1, 2, 31, 32, 33, 511, 4095, 4096, 4097, 65536, 262144, (1u << 20) + 7, TAPE_MAX_BLOCK,
};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

Test(tape_rw, blocks_of_every_size_read_back_byte_for_byte)
{
	for (size_t i = 0; i < NSIZES; i++)
		put_block(sizes[i], i);
	cr_assert_eq(tape_eod(t), NSIZES);
	cr_assert_eq(tape_pos(t), NSIZES);
	tape_rewind(t);
	for (size_t i = 0; i < NSIZES; i++)
		expect_block(sizes[i], i, 0);
	expect_kind(TAPE_EOD);
	reopen();
	for (size_t i = 0; i < NSIZES; i++)
		expect_block(sizes[i], i, 0);
}

Test(tape_rw, short_buffer_gets_prefix_and_full_length)
{
	uint32_t len;
	enum tape_obj kind;

	put_block(1000, 7);
	tape_rewind(t);
	memset(rbuf, 0xee, 200);
	cr_assert_eq(tape_read(t, rbuf, 100, &len, &kind), 0);
	cr_assert_eq(kind, TAPE_BLOCK);
	cr_assert_eq(len, 1000);
	cr_assert(memcmp(rbuf, wbuf, 100) == 0);
	cr_assert_eq(rbuf[100], 0xee, "nothing past cap");
	cr_assert_eq(tape_pos(t), 1);
}

Test(tape_rw, verify_only_read_moves_past_the_block)
{
	uint32_t len;
	enum tape_obj kind;

	put_block(5000, 1);
	tape_rewind(t);
	cr_assert_eq(tape_read(t, NULL, 0, &len, &kind), 0);
	cr_assert_eq(len, 5000);
	cr_assert_eq(tape_pos(t), 1);
}

Test(tape_rw, bad_lengths_are_refused)
{
	cr_assert_eq(tape_write(t, wbuf, 0), -EINVAL);
	cr_assert_eq(tape_write(t, wbuf, TAPE_MAX_BLOCK + 1), -EINVAL);
	cr_assert_eq(tape_eod(t), 0);
}

Test(tape_rw, stats_count_blocks_and_bytes)
{
	struct tape_stats st;
	uint32_t len;
	enum tape_obj kind;

	put_block(100, 1);
	put_block(200, 2);
	tape_rewind(t);
	cr_assert_eq(tape_read(t, rbuf, TAPE_MAX_BLOCK, &len, &kind), 0);
	tape_get_stats(t, &st);
	cr_assert_eq(st.blocks_written, 2);
	cr_assert_eq(st.bytes_written_host, 300);
	cr_assert_eq(st.bytes_written_stored, 300);
	cr_assert_eq(st.blocks_read, 1);
	cr_assert_eq(st.bytes_read_host, 100);
	cr_assert_eq(st.crc_errors, 0);
}

Test(tape_rw, used_bytes_count_records_with_overhead)
{
	put_block(100, 1);
	cr_assert_eq(tape_write_filemarks(t, 1), 0);
	put_block(50, 2);
	cr_assert_eq(tape_used_bytes(t), 32 + 100 + 32 + 32 + 50);
	tape_locate(t, 2);
	cr_assert_eq(tape_bytes_before_pos(t), 32 + 100 + 32);
	tape_seek_eod(t);
	cr_assert_eq(tape_bytes_before_pos(t), tape_used_bytes(t));
}

Test(tape_rw, write_past_capacity_is_nospc_and_changes_nothing)
{
	struct tape_info info = tu_info(TAPE_LTO5, 4096);
	char d2[600];

	snprintf(d2, sizeof(d2), "%s/small", tmp);
	cr_assert_eq(tape_format(d2, &info), 0);
	tape_close(t);
	cr_assert_eq(tape_open(d2, &t), 0);
	cr_assert_eq(tape_capacity(t), 4096);
	put_block(2000, 1);
	put_block(2000, 2);
	cr_assert_eq(tape_write(t, wbuf, 2000), -ENOSPC);
	cr_assert_eq(tape_eod(t), 2);
	/* Overwriting the second block fits again: space before it counts. */
	tape_locate(t, 1);
	cr_assert_eq(tape_write(t, wbuf, 4096), -ENOSPC);
	cr_assert_eq(tape_eod(t), 2, "a refused write does not truncate");
	put_block(1000, 3);
	cr_assert_eq(tape_eod(t), 2);
}

Test(tape_rw, write_protect_refuses_writes_and_persists)
{
	put_block(10, 1);
	cr_assert_eq(tape_set_write_protect(t, true), 0);
	tape_rewind(t);
	cr_assert_eq(tape_write(t, wbuf, 10), -EROFS);
	cr_assert_eq(tape_write_filemarks(t, 1), -EROFS);
	cr_assert_eq(tape_erase(t), -EROFS);
	cr_assert_eq(tape_eod(t), 1);
	reopen();
	cr_assert(tape_get_info(t)->write_protect);
	expect_block(10, 1, 0);
	cr_assert_eq(tape_set_write_protect(t, false), 0);
	reopen();
	cr_assert_not(tape_get_info(t)->write_protect);
}

TestSuite(tape_filemark, .init = setup, .fini = teardown);

Test(tape_filemark, filemarks_read_as_filemarks_and_count_files)
{
	/* B B F B F F B */
	put_block(10, 0);
	put_block(10, 1);
	cr_assert_eq(tape_write_filemarks(t, 1), 0);
	put_block(10, 3);
	cr_assert_eq(tape_write_filemarks(t, 2), 0);
	put_block(10, 6);
	cr_assert_eq(tape_eod(t), 7);
	cr_assert_eq(tape_file(t), 3);
	tape_rewind(t);
	cr_assert_eq(tape_file(t), 0);
	expect_block(10, 0, 0);
	expect_block(10, 1, 0);
	cr_assert_eq(tape_file(t), 0);
	expect_kind(TAPE_FILEMARK);
	cr_assert_eq(tape_file(t), 1);
	expect_block(10, 3, 0);
	expect_kind(TAPE_FILEMARK);
	expect_kind(TAPE_FILEMARK);
	cr_assert_eq(tape_file(t), 3);
	expect_block(10, 6, 0);
	expect_kind(TAPE_EOD);
	cr_assert_eq(tape_pos(t), 7, "EOD does not move");
	expect_kind(TAPE_EOD);
}

Test(tape_filemark, zero_filemarks_truncate_at_the_position)
{
	for (int i = 0; i < 5; i++)
		put_block(10, (uint64_t)i);
	tape_locate(t, 2);
	cr_assert_eq(tape_write_filemarks(t, 0), 0);
	cr_assert_eq(tape_eod(t), 2);
	cr_assert_eq(tape_pos(t), 2);
}

TestSuite(tape_locate, .init = setup, .fini = teardown);

Test(tape_locate, any_object_then_read_it)
{
	for (int i = 0; i < 100; i++) {
		if (i % 10 == 9)
			cr_assert_eq(tape_write_filemarks(t, 1), 0);
		else
			put_block((uint32_t)(i * 37 + 1), (uint64_t)i);
	}
	for (int k = 0; k < 300; k++) {
		int i = (int)(tu_mix((uint64_t)k) % 100);

		cr_assert_eq(tape_locate(t, (uint64_t)i), 0);
		cr_assert_eq(tape_file(t), (uint64_t)(i / 10));
		if (i % 10 == 9)
			expect_kind(TAPE_FILEMARK);
		else
			expect_block((uint32_t)(i * 37 + 1), (uint64_t)i, 0);
	}
}

Test(tape_locate, past_eod_stops_at_eod_with_nodata)
{
	put_block(10, 0);
	put_block(10, 1);
	cr_assert_eq(tape_locate(t, 2), 0);
	cr_assert_eq(tape_pos(t), 2);
	tape_rewind(t);
	cr_assert_eq(tape_locate(t, 3), -ENODATA);
	cr_assert_eq(tape_pos(t), 2);
	cr_assert_eq(tape_locate(t, UINT64_MAX), -ENODATA);
	cr_assert_eq(tape_pos(t), 2);
	tape_rewind(t);
	cr_assert_eq(tape_seek_eod(t), 0);
	cr_assert_eq(tape_pos(t), 2);
}

TestSuite(tape_space, .init = setup, .fini = teardown);

/* Layout used by the space tests: objects
 *   0 B  1 B  2 B  3 F  4 B  5 B  6 F  7 F  8 B  9 B   EOD 10 */
static void space_layout(void)
{
	const char *lay = "BBBFBBFFBB";

	for (int i = 0; lay[i]; i++) {
		if (lay[i] == 'F')
			cr_assert_eq(tape_write_filemarks(t, 1), 0);
		else
			put_block(10, (uint64_t)i);
	}
	tape_rewind(t);
}

static void space_b(int64_t count, int64_t want_done, enum tape_obj want_stop, uint64_t want_pos)
{
	int64_t done = -1;
	enum tape_obj stop = TAPE_EOD;

	cr_assert_eq(tape_space_blocks(t, count, &done, &stop), 0);
	cr_assert_eq(done, want_done, "blocks %lld: done %lld", (long long)count, (long long)done);
	cr_assert_eq(stop, want_stop, "blocks %lld: stop %d", (long long)count, stop);
	cr_assert_eq(tape_pos(t), want_pos, "blocks %lld: pos %llu", (long long)count,
		     (unsigned long long)tape_pos(t));
}

static void space_f(int64_t count, int64_t want_done, enum tape_obj want_stop, uint64_t want_pos)
{
	int64_t done = -1;
	enum tape_obj stop = TAPE_EOD;

	cr_assert_eq(tape_space_filemarks(t, count, &done, &stop), 0);
	cr_assert_eq(done, want_done, "filemarks %lld: done %lld", (long long)count,
		     (long long)done);
	cr_assert_eq(stop, want_stop, "filemarks %lld: stop %d", (long long)count, stop);
	cr_assert_eq(tape_pos(t), want_pos, "filemarks %lld: pos %llu", (long long)count,
		     (unsigned long long)tape_pos(t));
}

Test(tape_space, blocks_forward_within_a_file)
{
	space_layout();
	space_b(2, 2, TAPE_BLOCK, 2);
	space_b(1, 1, TAPE_BLOCK, 3);
}

Test(tape_space, blocks_forward_stops_after_filemark)
{
	space_layout();
	space_b(5, 3, TAPE_FILEMARK, 4);
	space_b(5, 2, TAPE_FILEMARK, 7);
	space_b(1, 0, TAPE_FILEMARK, 8);
}

Test(tape_space, blocks_forward_stops_at_eod)
{
	space_layout();
	tape_locate(t, 8);
	space_b(5, 2, TAPE_EOD, 10);
	space_b(1, 0, TAPE_EOD, 10);
}

Test(tape_space, blocks_backward_within_a_file)
{
	space_layout();
	tape_locate(t, 3);
	space_b(-2, 2, TAPE_BLOCK, 1);
}

Test(tape_space, blocks_backward_stops_before_filemark)
{
	space_layout();
	tape_locate(t, 10);
	space_b(-5, 2, TAPE_FILEMARK, 7);
	space_b(-1, 0, TAPE_FILEMARK, 6);
}

Test(tape_space, blocks_backward_stops_at_bot)
{
	space_layout();
	tape_locate(t, 2);
	space_b(-5, 2, TAPE_BOT, 0);
	space_b(-1, 0, TAPE_BOT, 0);
}

Test(tape_space, zero_count_does_nothing)
{
	space_layout();
	tape_locate(t, 5);
	space_b(0, 0, TAPE_BLOCK, 5);
	space_f(0, 0, TAPE_BLOCK, 5);
}

Test(tape_space, filemarks_forward_ends_after_the_filemark)
{
	space_layout();
	space_f(1, 1, TAPE_BLOCK, 4);
	cr_assert_eq(tape_file(t), 1);
	space_f(2, 2, TAPE_BLOCK, 8);
	cr_assert_eq(tape_file(t), 3);
}

Test(tape_space, filemarks_forward_stops_at_eod)
{
	space_layout();
	space_f(5, 3, TAPE_EOD, 10);
	space_f(1, 0, TAPE_EOD, 10);
	tape_rewind(t);
	space_f(INT64_MAX, 3, TAPE_EOD, 10);
}

Test(tape_space, filemarks_backward_ends_before_the_filemark)
{
	space_layout();
	tape_locate(t, 10);
	space_f(-1, 1, TAPE_BLOCK, 7);
	space_f(-1, 1, TAPE_BLOCK, 6);
	space_f(-1, 1, TAPE_BLOCK, 3);
}

Test(tape_space, filemarks_backward_stops_at_bot)
{
	space_layout();
	tape_locate(t, 8);
	space_f(-5, 3, TAPE_BOT, 0);
	space_f(-1, 0, TAPE_BOT, 0);
	tape_locate(t, 9);
	space_f(INT64_MIN, 3, TAPE_BOT, 0);
}

TestSuite(tape_overwrite, .init = setup, .fini = teardown);

Test(tape_overwrite, write_in_the_middle_discards_what_follows)
{
	for (int i = 0; i < 10; i++)
		put_block(100, (uint64_t)i);
	cr_assert_eq(tape_write_filemarks(t, 1), 0);
	tape_locate(t, 5);
	put_block(77, 1000);
	cr_assert_eq(tape_eod(t), 6);
	cr_assert_eq(tape_file(t), 0);
	tape_rewind(t);
	for (int i = 0; i < 5; i++)
		expect_block(100, (uint64_t)i, 0);
	expect_block(77, 1000, 0);
	expect_kind(TAPE_EOD);
	cr_assert_eq(tape_used_bytes(t), 6 * 32 + 5 * 100 + 77);
	reopen();
	cr_assert_eq(tape_eod(t), 6);
	cr_assert_eq(tape_file(t), 0);
	tape_locate(t, 5);
	expect_block(77, 1000, 0);
	expect_kind(TAPE_EOD);
	tape_seek_eod(t);
	cr_assert_eq(tape_file(t), 0, "the discarded filemark is gone");
}

Test(tape_overwrite, write_at_bot_replaces_everything)
{
	for (int i = 0; i < 10; i++)
		put_block(100, (uint64_t)i);
	tape_rewind(t);
	put_block(5, 99);
	reopen();
	cr_assert_eq(tape_eod(t), 1);
	expect_block(5, 99, 0);
	expect_kind(TAPE_EOD);
}

Test(tape_overwrite, repeated_overwrites_after_flush_and_reopen)
{
	for (int round = 0; round < 20; round++) {
		uint64_t eod = tape_eod(t);
		uint64_t at = eod ? tu_mix((uint64_t)round) % (eod + 1) : 0;

		tape_locate(t, at);
		for (int i = 0; i < 5; i++)
			put_block(64, (uint64_t)(round * 100 + i));
		if (round % 3 == 0)
			cr_assert_eq(tape_flush(t), 0);
		if (round % 4 == 0)
			reopen();
		cr_assert_eq(tape_eod(t), at + 5);
		tape_locate(t, at);
		for (int i = 0; i < 5; i++)
			expect_block(64, (uint64_t)(round * 100 + i), 0);
		expect_kind(TAPE_EOD);
	}
	/* Only reachable segments remain on disk. */
	reopen();
	cr_assert_leq(tu_count(dir, ".dat"), 21);
}

Test(tape_overwrite, unreachable_segments_are_deleted)
{
	tape_set_segment_size(t, 4096);
	for (int i = 0; i < 200; i++)
		put_block(1000, (uint64_t)i);
	cr_assert_geq(tu_count(dir, ".dat"), 40);
	tape_locate(t, 10);
	put_block(10, 5000);
	/* Three records per segment: four hold objects 0..9, plus the new
	 * active one. */
	cr_assert_eq(tu_count(dir, ".dat"), 5);
	cr_assert_eq(tu_count(dir, ".idx"), 4);
	reopen();
	cr_assert_eq(tape_eod(t), 11);
	for (int i = 0; i < 10; i++)
		expect_block(1000, (uint64_t)i, 0);
	expect_block(10, 5000, 0);
	expect_kind(TAPE_EOD);
}

Test(tape_overwrite, erase_makes_the_position_eod_durably)
{
	for (int i = 0; i < 10; i++)
		put_block(100, (uint64_t)i);
	cr_assert_eq(tape_write_filemarks(t, 1), 0);
	tape_locate(t, 4);
	cr_assert_eq(tape_erase(t), 0);
	cr_assert_eq(tape_eod(t), 4);
	reopen();
	cr_assert_eq(tape_eod(t), 4);
	tape_locate(t, 3);
	expect_block(100, 3, 0);
	expect_kind(TAPE_EOD);
	tape_rewind(t);
	cr_assert_eq(tape_erase(t), 0);
	reopen();
	cr_assert_eq(tape_eod(t), 0);
	cr_assert_eq(tape_used_bytes(t), 0);
}

TestSuite(tape_compression, .init = setup, .fini = teardown);

static void compression_round_trip(enum tape_compression c)
{
	struct tape_stats st;
	uint64_t host = 0;
	uint32_t len;
	enum tape_obj kind;

	tape_set_compression(t, c);
	cr_assert_eq(tape_get_compression(t), c);
	for (int i = 0; i < 20; i++) {
		uint32_t n = (uint32_t)(1000 + i * 30000);

		tu_fill(wbuf, n, (uint64_t)i, 1);
		cr_assert_eq(tape_write(t, wbuf, n), 0);
		host += n;
	}
	tape_get_stats(t, &st);
	cr_assert_eq(st.bytes_written_host, host);
	cr_assert_lt(st.bytes_written_stored, host / 4, "compressible data shrinks");
	cr_assert_eq(tape_used_bytes(t), st.bytes_written_stored + 20 * 32,
		     "capacity counts stored bytes");
	reopen();
	cr_assert_eq(tape_get_compression(t), TAPE_COMP_NONE);
	for (int i = 0; i < 20; i++)
		expect_block((uint32_t)(1000 + i * 30000), (uint64_t)i, 1);
	/* A short read of a compressed record gets the prefix, full length. */
	tape_locate(t, 3);
	tu_fill(wbuf, 91000, 3, 1);
	cr_assert_eq(tape_read(t, rbuf, 500, &len, &kind), 0);
	cr_assert_eq(len, 91000);
	cr_assert(memcmp(rbuf, wbuf, 500) == 0);
	cr_assert_eq(tape_read(t, NULL, 0, &len, &kind), 0);
	cr_assert_eq(len, 121000);
}

Test(tape_compression, lz4_round_trip_counts_stored_bytes)
{
	compression_round_trip(TAPE_COMP_LZ4);
}

Test(tape_compression, zstd_round_trip_counts_stored_bytes)
{
	compression_round_trip(TAPE_COMP_ZSTD);
}

Test(tape_compression, incompressible_records_are_stored_raw)
{
	struct tape_stats st;

	tape_set_compression(t, TAPE_COMP_ZSTD);
	put_block(100000, 1);
	tape_set_compression(t, TAPE_COMP_LZ4);
	put_block(100000, 2);
	tape_get_stats(t, &st);
	cr_assert_eq(st.bytes_written_stored, 200000);
	cr_assert_eq(tape_used_bytes(t), 200000 + 64);
	tape_rewind(t);
	expect_block(100000, 1, 0);
	expect_block(100000, 2, 0);
}

/* Write one block of len bytes (compressible or not); true when it was
 * stored compressed. */
static bool put_shrinks(uint32_t len, uint64_t seed, int compressible)
{
	struct tape_stats before, after;

	tape_get_stats(t, &before);
	tu_fill(wbuf, len, seed, compressible);
	cr_assert_eq(tape_write(t, wbuf, len), 0);
	tape_get_stats(t, &after);
	return after.bytes_written_stored - before.bytes_written_stored < len;
}

/* A try that does not shrink is followed by records stored raw without a
 * try (1, 3, 7, ... at most 31 after failures in a row); a compressible
 * stream after incompressible data is compressed again within 31 records,
 * every record reads back, and setting compression starts afresh. */
Test(tape_compression, tries_after_incompressible_records_are_spaced_and_bounded)
{
	uint64_t seed = 0;
	int raw = 0;

	tape_set_compression(t, TAPE_COMP_LZ4);
	cr_assert_not(put_shrinks(50000, seed++, 0));
	cr_assert_not(put_shrinks(50000, seed++, 1), "the record after a failed try is raw");
	cr_assert(put_shrinks(50000, seed++, 1), "the next one is tried again");
	cr_assert(put_shrinks(50000, seed++, 1), "a try that shrank keeps the next try");
	for (int i = 0; i < 200; i++)
		cr_assert_not(put_shrinks(50000, seed++, 0));
	while (!put_shrinks(50000, seed++, 1)) {
		raw++;
		cr_assert_leq(raw, 31, "a compressible stream is tried again within 31 records");
	}
	cr_assert_geq(raw, 1);
	for (int i = 0; i < 10; i++)
		cr_assert(put_shrinks(50000, seed++, 1));
	cr_assert_not(put_shrinks(50000, seed++, 0));
	tape_set_compression(t, TAPE_COMP_LZ4);
	cr_assert(put_shrinks(50000, seed++, 1), "setting compression tries the next record");

	tape_rewind(t);
	uint64_t n = seed;
	seed = 0;
	expect_block(50000, seed++, 0);
	for (int i = 0; i < 3; i++)
		expect_block(50000, seed++, 1);
	for (int i = 0; i < 200; i++)
		expect_block(50000, seed++, 0);
	for (int i = 0; i < raw + 11; i++)
		expect_block(50000, seed++, 1);
	expect_block(50000, seed++, 0);
	expect_block(50000, seed++, 1);
	cr_assert_eq(seed, n);
	expect_kind(TAPE_EOD);
}

Test(tape_compression, off_stores_compressible_data_raw)
{
	tu_fill(wbuf, 50000, 1, 1);
	cr_assert_eq(tape_write(t, wbuf, 50000), 0);
	cr_assert_eq(tape_used_bytes(t), 50032);
}

TestSuite(tape_segments, .init = setup, .fini = teardown);

/* Many records over many small segments; record i is a filemark when
 * i % 13 == 12, else a block of size_of(i) bytes. */
static uint32_t size_of(int i)
{
	return (uint32_t)(tu_mix((uint64_t)i) % 3000 + 1);
}

static void many_segments(int n)
{
	tape_set_segment_size(t, 16384);
	for (int i = 0; i < n; i++) {
		if (i % 13 == 12)
			cr_assert_eq(tape_write_filemarks(t, 1), 0);
		else
			put_block(size_of(i), (uint64_t)i);
	}
}

static void check_object(int i)
{
	cr_assert_eq(tape_locate(t, (uint64_t)i), 0);
	cr_assert_eq(tape_file(t), (uint64_t)(i / 13));
	if (i % 13 == 12)
		expect_kind(TAPE_FILEMARK);
	else
		expect_block(size_of(i), (uint64_t)i, 0);
}

Test(tape_segments, sealed_segments_locate_and_read_across)
{
	many_segments(3000);
	cr_assert_geq(tu_count(dir, ".dat"), 100);
	cr_assert_eq(tu_count(dir, ".idx"), tu_count(dir, ".dat") - 1);
	for (int k = 0; k < 2000; k++)
		check_object((int)(tu_mix((uint64_t)k + 77) % 3000));
	tape_rewind(t);
	for (int i = 0; i < 3000; i++) {
		if (i % 13 == 12)
			expect_kind(TAPE_FILEMARK);
		else
			expect_block(size_of(i), (uint64_t)i, 0);
	}
	expect_kind(TAPE_EOD);
}

Test(tape_segments, reopen_preserves_everything)
{
	uint64_t used;

	many_segments(3000);
	used = tape_used_bytes(t);
	reopen();
	cr_assert_eq(tape_eod(t), 3000);
	cr_assert_eq(tape_used_bytes(t), used);
	tape_seek_eod(t);
	cr_assert_eq(tape_file(t), 3000 / 13);
	for (int k = 0; k < 1000; k++)
		check_object((int)(tu_mix((uint64_t)k) % 3000));
}

Test(tape_segments, space_filemarks_across_segments)
{
	int64_t done;
	enum tape_obj stop;

	many_segments(3000);
	tape_rewind(t);
	cr_assert_eq(tape_space_filemarks(t, 100, &done, &stop), 0);
	cr_assert_eq(done, 100);
	cr_assert_eq(tape_pos(t), 1300);
	cr_assert_eq(tape_space_filemarks(t, -50, &done, &stop), 0);
	cr_assert_eq(tape_pos(t), 13 * 50 + 12);
	cr_assert_eq(tape_space_blocks(t, -20, &done, &stop), 0);
	cr_assert_eq(done, 12);
	cr_assert_eq(stop, TAPE_FILEMARK);
	cr_assert_eq(tape_pos(t), 13 * 49 + 12);
	expect_kind(TAPE_FILEMARK);
	expect_block(size_of(13 * 50), 13 * 50, 0);
}

Test(tape_segments, missing_and_corrupt_index_sidecars_are_rebuilt)
{
	char p[600];
	int fd;

	many_segments(1000);
	tape_close(t);
	t = NULL;
	seg_path(p, sizeof(p), 3, "idx");
	cr_assert_eq(unlink(p), 0);
	seg_path(p, sizeof(p), 5, "idx");
	fd = open(p, O_WRONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pwrite(fd, "garbage!", 8, 60), 8);
	close(fd);
	seg_path(p, sizeof(p), 7, "idx");
	cr_assert_eq(truncate(p, 20), 0);
	cr_assert_eq(tape_open(dir, &t), 0);
	seg_path(p, sizeof(p), 3, "idx");
	cr_assert_eq(access(p, F_OK), 0, "rebuilt");
	tape_rewind(t);
	for (int i = 0; i < 1000; i++) {
		if (i % 13 == 12)
			expect_kind(TAPE_FILEMARK);
		else
			expect_block(size_of(i), (uint64_t)i, 0);
	}
	tape_seek_eod(t);
	cr_assert_eq(tape_file(t), 1000 / 13);
	reopen();
	for (int k = 0; k < 300; k++)
		check_object((int)(tu_mix((uint64_t)k) % 1000));
}

TestSuite(tape_corruption, .init = setup, .fini = teardown);

static void flip_byte(uint64_t seg, uint64_t off)
{
	char p[600];
	uint8_t b;
	int fd;

	seg_path(p, sizeof(p), seg, "dat");
	fd = open(p, O_RDWR);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, &b, 1, (off_t)off), 1);
	b ^= 0x10;
	cr_assert_eq(pwrite(fd, &b, 1, (off_t)off), 1);
	close(fd);
}

Test(tape_corruption, flipped_payload_byte_is_ebadmsg_never_data)
{
	struct tape_stats st;
	uint32_t len;
	enum tape_obj kind;

	for (int i = 0; i < 5; i++)
		put_block(1000, (uint64_t)i);
	tape_close(t);
	t = NULL;
	/* Record 2 starts at 2 * 1032; flip a byte in its payload. */
	flip_byte(1, 2 * 1032 + 32 + 500);
	cr_assert_eq(tape_open(dir, &t), 0);
	cr_assert_eq(tape_eod(t), 5);
	tape_locate(t, 2);
	cr_assert_eq(tape_read(t, rbuf, TAPE_MAX_BLOCK, &len, &kind), -EBADMSG);
	cr_assert_eq(tape_pos(t), 2, "no move");
	cr_assert_eq(tape_read(t, NULL, 0, &len, &kind), -EBADMSG);
	tape_get_stats(t, &st);
	cr_assert_eq(st.crc_errors, 2);
	tape_locate(t, 1);
	expect_block(1000, 1, 0);
	tape_locate(t, 3);
	expect_block(1000, 3, 0);
}

Test(tape_corruption, flipped_header_byte_is_ebadmsg_and_neighbours_read)
{
	uint32_t len;
	enum tape_obj kind;

	for (int i = 0; i < 5; i++)
		put_block(1000, (uint64_t)i);
	tape_close(t);
	t = NULL;
	flip_byte(1, 2 * 1032 + 17); /* record 2's length field */
	cr_assert_eq(tape_open(dir, &t), 0);
	cr_assert_eq(tape_eod(t), 5, "a committed record is never dropped");
	tape_locate(t, 2);
	cr_assert_eq(tape_read(t, rbuf, TAPE_MAX_BLOCK, &len, &kind), -EBADMSG);
	tape_locate(t, 3);
	expect_block(1000, 3, 0);
	expect_block(1000, 4, 0);
	tape_rewind(t);
	expect_block(1000, 0, 0);
}

Test(tape_corruption, flipped_byte_in_sealed_segment_is_ebadmsg)
{
	uint32_t len;
	enum tape_obj kind;

	tape_set_segment_size(t, 4000);
	for (int i = 0; i < 20; i++)
		put_block(1000, (uint64_t)i);
	tape_close(t);
	t = NULL;
	/* Three records per segment: object 4 is segment 2's second. */
	flip_byte(2, 1032 + 32 + 999);
	cr_assert_eq(tape_open(dir, &t), 0);
	tape_locate(t, 4);
	cr_assert_eq(tape_read(t, rbuf, TAPE_MAX_BLOCK, &len, &kind), -EBADMSG);
	cr_assert_eq(tape_locate(t, 3), 0);
	expect_block(1000, 3, 0);
	tape_locate(t, 5);
	expect_block(1000, 5, 0);
}

Test(tape_corruption, flipped_byte_in_compressed_record_is_ebadmsg)
{
	uint32_t len;
	enum tape_obj kind;
	struct tape_stats st;

	tape_set_compression(t, TAPE_COMP_LZ4);
	tu_fill(wbuf, 100000, 1, 1);
	cr_assert_eq(tape_write(t, wbuf, 100000), 0);
	tape_get_stats(t, &st);
	tape_close(t);
	t = NULL;
	flip_byte(1, 32 + st.bytes_written_stored / 2);
	cr_assert_eq(tape_open(dir, &t), 0);
	cr_assert_eq(tape_read(t, rbuf, TAPE_MAX_BLOCK, &len, &kind), -EBADMSG);
}

Test(tape_corruption, segment_cut_below_its_commit_point_reads_ebadmsg_not_a_shorter_tape)
{
	char p[600];
	uint32_t len;
	enum tape_obj kind;

	for (int i = 0; i < 5; i++)
		put_block(1000, (uint64_t)i);
	tape_close(t);
	t = NULL;
	seg_path(p, sizeof(p), 1, "dat");
	cr_assert_eq(truncate(p, 2 * 1032 + 500), 0);
	cr_assert_eq(tape_open(dir, &t), 0);
	cr_assert_eq(tape_eod(t), 5, "committed objects are never dropped silently");
	expect_block(1000, 0, 0);
	expect_block(1000, 1, 0);
	for (int i = 2; i < 5; i++) {
		cr_assert_eq(tape_locate(t, (uint64_t)i), 0);
		cr_assert_eq(tape_read(t, rbuf, TAPE_MAX_BLOCK, &len, &kind), -EBADMSG);
	}
	tape_seek_eod(t);
	put_block(10, 5);
	reopen();
	cr_assert_eq(tape_eod(t), 6);
	cr_assert_eq(tape_locate(t, 5), 0);
	expect_block(10, 5, 0);
}

Test(tape_corruption, several_damaged_headers_are_stepped_over)
{
	uint32_t len;
	enum tape_obj kind;

	for (int i = 0; i < 10; i++) {
		if (i == 6)
			cr_assert_eq(tape_write_filemarks(t, 1), 0);
		else
			put_block(1000, (uint64_t)i);
	}
	tape_close(t);
	t = NULL;
	flip_byte(1, 3 * 1032 + 3);  /* magic of object 3 */
	flip_byte(1, 4 * 1032 + 10); /* object number of object 4 */
	cr_assert_eq(tape_open(dir, &t), 0);
	cr_assert_eq(tape_eod(t), 10);
	for (int i = 3; i < 5; i++) {
		cr_assert_eq(tape_locate(t, (uint64_t)i), 0);
		cr_assert_eq(tape_read(t, rbuf, TAPE_MAX_BLOCK, &len, &kind), -EBADMSG);
		cr_assert_eq(tape_pos(t), (uint64_t)i);
	}
	tape_locate(t, 5);
	expect_block(1000, 5, 0);
	expect_kind(TAPE_FILEMARK);
	cr_assert_eq(tape_file(t), 1);
	expect_block(1000, 7, 0);
}

TestSuite(tape_recovery, .init = setup, .fini = teardown);

Test(tape_recovery, torn_tail_is_cut_and_eod_follows_last_complete_record)
{
	char p[600];
	struct stat sb;
	int fd;

	for (int i = 0; i < 5; i++)
		put_block(1000, (uint64_t)i);
	tape_close(t);
	t = NULL;
	/* A record header and half its payload, as a crash leaves it. */
	seg_path(p, sizeof(p), 1, "dat");
	fd = open(p, O_RDWR);
	cr_assert_geq(fd, 0);
	{
		uint8_t rec[1032];

		cr_assert_eq(pread(fd, rec, sizeof(rec), 4 * 1032), (ssize_t)sizeof(rec));
		rec[8] = 5; /* object 5 */
		cr_assert_eq(pwrite(fd, rec, 600, 5 * 1032), 600);
	}
	close(fd);
	cr_assert_eq(tape_open(dir, &t), 0);
	cr_assert_eq(tape_eod(t), 5);
	cr_assert_eq(stat(p, &sb), 0);
	cr_assert_eq(sb.st_size, 5 * 1032, "torn tail truncated");
	tape_seek_eod(t);
	put_block(300, 55);
	reopen();
	tape_locate(t, 5);
	expect_block(300, 55, 0);
	expect_kind(TAPE_EOD);
}

Test(tape_recovery, unflushed_records_of_a_killed_writer_are_kept_when_complete)
{
	pid_t pid;
	int status;

	for (int i = 0; i < 5; i++)
		put_block(100, (uint64_t)i);
	cr_assert_eq(tape_close(t), 0);
	t = NULL;
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct tape *c;

		if (tape_open(dir, &c) < 0)
			_exit(1);
		tape_seek_eod(c);
		for (int i = 5; i < 10; i++) {
			tu_fill(wbuf, 100, (uint64_t)i, 0);
			if (tape_write(c, wbuf, 100) < 0)
				_exit(2);
		}
		raise(SIGKILL); /* no flush, no close */
		_exit(3);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFSIGNALED(status));
	cr_assert_eq(tape_open(dir, &t), 0);
	cr_assert_eq(tape_eod(t), 10);
	for (int i = 0; i < 10; i++)
		expect_block(100, (uint64_t)i, 0);
}

Test(tape_recovery, record_with_wrong_object_number_ends_the_tail)
{
	char p[600];
	int fd;

	for (int i = 0; i < 3; i++)
		put_block(100, (uint64_t)i);
	tape_close(t);
	t = NULL;
	/* A complete, CRC-valid copy of record 1 appended after record 2 is
	 * out of sequence: not part of the tape. */
	seg_path(p, sizeof(p), 1, "dat");
	fd = open(p, O_RDWR);
	cr_assert_geq(fd, 0);
	{
		uint8_t rec[132];

		cr_assert_eq(pread(fd, rec, sizeof(rec), 132), 132);
		cr_assert_eq(pwrite(fd, rec, sizeof(rec), 3 * 132), 132);
	}
	close(fd);
	cr_assert_eq(tape_open(dir, &t), 0);
	cr_assert_eq(tape_eod(t), 3);
}

Test(tape_recovery, stray_files_of_an_interrupted_commit_are_removed)
{
	char p[600];
	int fd;

	put_block(100, 1);
	tape_close(t);
	t = NULL;
	seg_path(p, sizeof(p), 9, "dat");
	fd = open(p, O_CREAT | O_WRONLY, 0644);
	cr_assert_geq(fd, 0);
	close(fd);
	snprintf(p, sizeof(p), "%s/MANIFEST.tmp", dir);
	fd = open(p, O_CREAT | O_WRONLY, 0644);
	cr_assert_geq(fd, 0);
	close(fd);
	cr_assert_eq(tape_open(dir, &t), 0);
	cr_assert_eq(tu_count(dir, ".dat"), 1);
	cr_assert_eq(tu_count(dir, ".tmp"), 0);
	expect_block(100, 1, 0);
}

Test(tape_recovery, corrupt_manifest_refuses_to_open)
{
	char p[600];
	int fd;

	tape_close(t);
	t = NULL;
	snprintf(p, sizeof(p), "%s/MANIFEST", dir);
	fd = open(p, O_RDWR);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pwrite(fd, "X", 1, 70), 1);
	close(fd);
	cr_assert_eq(tape_open(dir, &t), -EBADMSG);
	t = NULL;
}

/* ---- host attributes (MAM values WRITE ATTRIBUTE sets) ---- */

TestSuite(tape_attrs, .init = setup, .fini = teardown);

static uint8_t manifest_version(void)
{
	char p[600];
	uint8_t hdr[12];
	int fd;

	snprintf(p, sizeof(p), "%s/MANIFEST", dir);
	fd = open(p, O_RDONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, hdr, sizeof(hdr), 0), (ssize_t)sizeof(hdr));
	close(fd);
	return hdr[8];
}

Test(tape_attrs, attributes_survive_close_and_reopen)
{
	const struct tape_attr a[] = {
	    {0x0800, 8, (const uint8_t *)"BACULA  "},
	    {0x0803, 5, (const uint8_t *)"label"},
	};
	uint8_t v[TAPE_ATTR_MAX_LEN];
	size_t len = 0;

	cr_assert_eq(tape_get_attr(t, 0x0800, v, sizeof(v), &len), -ENOENT);
	cr_assert_eq(manifest_version(), 1, "no attributes: the original format");
	cr_assert_eq(tape_set_attrs(t, a, 2), 0);
	put_block(1000, 7);
	reopen();
	cr_assert_eq(tape_get_attr(t, 0x0800, v, sizeof(v), &len), 0);
	cr_assert_eq(len, 8);
	cr_assert_eq(memcmp(v, "BACULA  ", 8), 0);
	cr_assert_eq(tape_get_attr(t, 0x0803, v, sizeof(v), &len), 0);
	cr_assert_eq(len, 5);
	cr_assert_eq(memcmp(v, "label", 5), 0);
	cr_assert_eq(manifest_version(), 2);
	/* The data written after the attributes is intact. */
	expect_block(1000, 7, 0);
	expect_kind(TAPE_EOD);
}

Test(tape_attrs, attributes_are_kept_by_later_commits_and_deleted_by_zero_length)
{
	const struct tape_attr set = {0x0806, 6, (const uint8_t *)"ABC123"};
	const struct tape_attr del = {0x0806, 0, NULL};
	uint8_t v[8];
	size_t len;

	cr_assert_eq(tape_set_attrs(t, &set, 1), 0);
	put_block(100, 1);
	cr_assert_eq(tape_write_filemarks(t, 1), 0);
	cr_assert_eq(tape_flush(t), 0);
	cr_assert_eq(tape_count_load(t), 0);
	reopen();
	cr_assert_eq(tape_get_attr(t, 0x0806, v, sizeof(v), &len), 0);
	cr_assert_eq(memcmp(v, "ABC123", 6), 0);
	cr_assert_eq(tape_set_attrs(t, &del, 1), 0);
	reopen();
	cr_assert_eq(tape_get_attr(t, 0x0806, v, sizeof(v), &len), -ENOENT);
	cr_assert_eq(manifest_version(), 1, "back to the original format");
	expect_block(100, 1, 0);
}

Test(tape_attrs, oversized_value_and_too_many_attributes_change_nothing)
{
	static uint8_t big[TAPE_ATTR_MAX_LEN + 1];
	struct tape_attr a[TAPE_ATTR_MAX + 1];
	size_t len;

	a[0] = (struct tape_attr){0x0800, TAPE_ATTR_MAX_LEN + 1, big};
	cr_assert_eq(tape_set_attrs(t, a, 1), -EINVAL);
	for (uint16_t i = 0; i <= TAPE_ATTR_MAX; i++)
		a[i] = (struct tape_attr){(uint16_t)(0x0800 + i), 1, big};
	cr_assert_eq(tape_set_attrs(t, a, TAPE_ATTR_MAX + 1), -ENOSPC);
	cr_assert_eq(tape_get_attr(t, 0x0800, NULL, 0, &len), -ENOENT, "all or nothing");
	cr_assert_eq(tape_set_attrs(t, a, TAPE_ATTR_MAX), 0);
	reopen();
	cr_assert_eq(tape_get_attr(t, 0x0800 + TAPE_ATTR_MAX - 1, NULL, 0, &len), 0);
	cr_assert_eq(len, 1);
}

Test(tape_attrs, damaged_attribute_section_refuses_to_open)
{
	const struct tape_attr a = {0x0801, 4, (const uint8_t *)"LTFS"};
	char p[600];
	struct stat sb;
	int fd;

	cr_assert_eq(tape_set_attrs(t, &a, 1), 0);
	tape_close(t);
	t = NULL;
	snprintf(p, sizeof(p), "%s/MANIFEST", dir);
	fd = open(p, O_RDWR);
	cr_assert_geq(fd, 0);
	cr_assert_eq(fstat(fd, &sb), 0);
	cr_assert_eq(pwrite(fd, "X", 1, sb.st_size - 6), 1);
	close(fd);
	cr_assert_eq(tape_open(dir, &t), -EBADMSG);
	t = NULL;
}

/*
 * A segment file with a second name: the local object store takes a
 * segment that can no longer change as a hard link of its file
 * (store_put_file, s3/store.h). The medium must then never change that
 * inode: not by a cut, not by an append, not by a recovery.
 */
TestSuite(tape_shared, .init = setup, .fini = teardown);

/* The bytes of a file, malloc'ed; its size into *n. */
static uint8_t *slurp(const char *path, size_t *n)
{
	struct stat sb;
	int fd = open(path, O_RDONLY);

	cr_assert_geq(fd, 0, "%s", path);
	cr_assert_eq(fstat(fd, &sb), 0);
	uint8_t *b = malloc((size_t)sb.st_size + 1);
	cr_assert_not_null(b);
	cr_assert_eq(pread(fd, b, (size_t)sb.st_size, 0), sb.st_size);
	close(fd);
	*n = (size_t)sb.st_size;
	return b;
}

/* Give segment id a second name, as the store does; its bytes into *keep. */
static uint8_t *share(uint64_t id, char *other, size_t cap, size_t *n)
{
	char p[600];

	seg_path(p, sizeof(p), id, "dat");
	snprintf(other, cap, "%s/stored-%llu", tmp, (unsigned long long)id);
	cr_assert_eq(link(p, other), 0, "link %s: %s", p, strerror(errno));
	return slurp(other, n);
}

static void unchanged(const char *other, const uint8_t *was, size_t n)
{
	size_t m;
	uint8_t *now = slurp(other, &m);

	cr_assert_eq(m, n, "the store's object changed size: %zu, was %zu", m, n);
	cr_assert(memcmp(now, was, n) == 0, "the store's object changed");
	free(now);
}

Test(tape_shared, a_cut_leaves_a_linked_sealed_segment_whole)
{
	char other[600];
	size_t n;

	tape_set_segment_size(t, 4096);
	for (int i = 0; i < 20; i++)
		put_block(1000, (uint64_t)i);
	cr_assert_eq(tape_flush(t), 0);
	/* Three records a segment: segment 2 holds objects 3..5. */
	uint8_t *was = share(2, other, sizeof(other), &n);
	cr_assert_eq(tape_locate(t, 4), 0);
	put_block(10, 5000);
	cr_assert_eq(tape_flush(t), 0);
	unchanged(other, was, n);
	/* The medium still reads its own valid prefix, then the new block. */
	tape_rewind(t);
	for (int i = 0; i < 4; i++)
		expect_block(1000, (uint64_t)i, 0);
	expect_block(10, 5000, 0);
	expect_kind(TAPE_EOD);
	reopen();
	cr_assert_eq(tape_eod(t), 5);
	tape_locate(t, 3);
	expect_block(1000, 3, 0);
	expect_block(10, 5000, 0);
	unchanged(other, was, n);
	free(was);
}

Test(tape_shared, a_cut_gives_back_the_space_of_a_segment_of_one_name)
{
	char p[600];
	struct stat sb;

	tape_set_segment_size(t, 4096);
	for (int i = 0; i < 20; i++)
		put_block(1000, (uint64_t)i);
	cr_assert_eq(tape_flush(t), 0);
	seg_path(p, sizeof(p), 2, "dat");
	cr_assert_eq(stat(p, &sb), 0);
	off_t before = sb.st_size;
	cr_assert_eq(tape_locate(t, 4), 0);
	put_block(10, 5000);
	cr_assert_eq(stat(p, &sb), 0);
	cr_assert_lt(sb.st_size, before, "a segment of one name keeps its cut-off records");
}

Test(tape_shared, the_active_segment_is_locked_while_open_and_sealed_ones_are_not)
{
	char p[600];

	tape_set_segment_size(t, 4096);
	for (int i = 0; i < 5; i++)
		put_block(1000, (uint64_t)i);
	/* Segment 1 is sealed, segment 2 the active one. */
	seg_path(p, sizeof(p), 2, "dat");
	int fd = open(p, O_RDONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(flock(fd, LOCK_SH | LOCK_NB), -1);
	cr_assert_eq(errno, EWOULDBLOCK);
	close(fd);
	seg_path(p, sizeof(p), 1, "dat");
	fd = open(p, O_RDONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(flock(fd, LOCK_SH | LOCK_NB), 0);
	close(fd);
	/* Closed (out of a drive): the active segment is free to take. */
	cr_assert_eq(tape_close(t), 0);
	t = NULL;
	seg_path(p, sizeof(p), 2, "dat");
	fd = open(p, O_RDONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(flock(fd, LOCK_SH | LOCK_NB), 0);
	close(fd);
}

Test(tape_shared, appends_after_a_linked_active_segment_go_to_a_new_one)
{
	char other[600];
	size_t n;

	for (int i = 0; i < 5; i++)
		put_block(1000, (uint64_t)i);
	cr_assert_eq(tape_flush(t), 0);
	cr_assert_eq(tape_close(t), 0);
	t = NULL;
	/* The store takes the last segment of a tape out of a drive. */
	uint8_t *was = share(1, other, sizeof(other), &n);
	cr_assert_eq(tape_open(dir, &t), 0);
	tape_seek_eod(t);
	put_block(2000, 9);
	cr_assert_eq(tape_write_filemarks(t, 1), 0);
	cr_assert_eq(tape_flush(t), 0);
	unchanged(other, was, n);
	cr_assert_eq(tu_count(dir, ".dat"), 2);
	reopen();
	cr_assert_eq(tape_eod(t), 7);
	for (int i = 0; i < 5; i++)
		expect_block(1000, (uint64_t)i, 0);
	expect_block(2000, 9, 0);
	expect_kind(TAPE_FILEMARK);
	expect_kind(TAPE_EOD);
	/* Writing over it (from object 2) cuts the tape, never the file. */
	tape_locate(t, 2);
	put_block(100, 10);
	cr_assert_eq(tape_flush(t), 0);
	unchanged(other, was, n);
	reopen();
	cr_assert_eq(tape_eod(t), 3);
	tape_locate(t, 1);
	expect_block(1000, 1, 0);
	expect_block(100, 10, 0);
	free(was);
}

Test(tape_shared, a_linked_active_segment_with_a_tail_to_cut_gets_a_file_of_its_own)
{
	char other[600], p[600];
	size_t n;
	struct stat a, b;

	for (int i = 0; i < 5; i++)
		put_block(1000, (uint64_t)i);
	cr_assert_eq(tape_flush(t), 0);
	cr_assert_eq(tape_close(t), 0);
	t = NULL;
	/* Garbage past the commit point, in a file with a second name. */
	seg_path(p, sizeof(p), 1, "dat");
	int fd = open(p, O_WRONLY | O_APPEND);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "torn tail", 9), 9);
	close(fd);
	uint8_t *was = share(1, other, sizeof(other), &n);
	cr_assert_eq(tape_open(dir, &t), 0);
	unchanged(other, was, n);
	cr_assert_eq(stat(p, &a), 0);
	cr_assert_eq(stat(other, &b), 0);
	cr_assert_neq(a.st_ino, b.st_ino, "the tail was cut in the shared inode");
	cr_assert_eq(a.st_size + 9, b.st_size);
	cr_assert_eq(tape_eod(t), 5);
	tape_seek_eod(t);
	put_block(100, 7);
	cr_assert_eq(tape_flush(t), 0);
	unchanged(other, was, n);
	reopen();
	tape_locate(t, 4);
	expect_block(1000, 4, 0);
	expect_block(100, 7, 0);
	expect_kind(TAPE_EOD);
	cr_assert_eq(tu_count(dir, ".tmp"), 0);
	free(was);
}

/*
 * tape_segment_digest: the name the local object store gives a segment it
 * shares (docs/object-store.md, "No second copy"), made of the record
 * headers only.
 */
TestSuite(tape_digest, .init = setup, .fini = teardown);

/* Small records (read 64 KiB at a time), a filemark, large records (read
 * header by header), small again; seed0 varies the contents of one block. */
static void digest_layout(struct tape *tp, uint64_t seed0)
{
	for (int i = 0; i < 200; i++) {
		tu_fill(wbuf, 1000, i == 150 ? seed0 : (uint64_t)i, 0);
		cr_assert_eq(tape_write(tp, wbuf, 1000), 0);
	}
	cr_assert_eq(tape_write_filemarks(tp, 1), 0);
	for (int i = 0; i < 10; i++) {
		tu_fill(wbuf, 300000, 1000 + (uint64_t)i, 0);
		cr_assert_eq(tape_write(tp, wbuf, 300000), 0);
	}
	for (int i = 0; i < 100; i++) {
		tu_fill(wbuf, 4096, 2000 + (uint64_t)i, 0);
		cr_assert_eq(tape_write(tp, wbuf, 4096), 0);
	}
	cr_assert_eq(tape_flush(tp), 0);
}

static int digest_of(const char *path, uint64_t len, char out[TAPE_DIGEST_LEN + 1])
{
	int fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0, "%s", path);
	int rc = tape_segment_digest(fd, len, out);
	close(fd);
	return rc;
}

Test(tape_digest, names_a_segment_by_its_records_and_changes_with_any_of_them)
{
	char p[600], other[700], d1[TAPE_DIGEST_LEN + 1], d2[TAPE_DIGEST_LEN + 1];
	char d3[TAPE_DIGEST_LEN + 1];
	struct stat sb;

	digest_layout(t, 150);
	seg_path(p, sizeof(p), 1, "dat");
	cr_assert_eq(stat(p, &sb), 0);
	cr_assert_eq(digest_of(p, (uint64_t)sb.st_size, d1), 0);
	cr_assert_eq(strlen(d1), TAPE_DIGEST_LEN);
	cr_assert_eq(strncmp(d1, TAPE_DIGEST_PREFIX, strlen(TAPE_DIGEST_PREFIX)), 0, "%s", d1);
	cr_assert_eq(digest_of(p, (uint64_t)sb.st_size, d2), 0);
	cr_assert_str_eq(d1, d2);

	/* The same records but one block of other bytes: another name. */
	struct tape_info info = tu_info(TAPE_LTO9, 0);
	struct tape *t2;
	char dir2[600];
	snprintf(dir2, sizeof(dir2), "%s/tape2", tmp);
	cr_assert_eq(tape_format(dir2, &info), 0);
	cr_assert_eq(tape_open(dir2, &t2), 0);
	digest_layout(t2, 99999);
	cr_assert_eq(tape_close(t2), 0);
	snprintf(other, sizeof(other), "%s/seg-%016llx.dat", dir2, 1ULL);
	cr_assert_eq(digest_of(other, (uint64_t)sb.st_size, d2), 0);
	cr_assert_str_neq(d1, d2);

	/* A prefix that ends between two records is named too, otherwise. */
	uint64_t last = 32 + 4096;
	cr_assert_eq(digest_of(p, (uint64_t)sb.st_size - last, d3), 0);
	cr_assert_str_neq(d1, d3);
}

Test(tape_digest, refuses_what_is_not_whole_records_with_valid_headers)
{
	char p[600], d[TAPE_DIGEST_LEN + 1];
	struct stat sb;

	digest_layout(t, 150);
	seg_path(p, sizeof(p), 1, "dat");
	cr_assert_eq(stat(p, &sb), 0);
	/* A length inside a record, past the end of the file, or empty of a
	 * whole header. */
	cr_assert_eq(digest_of(p, (uint64_t)sb.st_size - 1, d), -EBADMSG);
	cr_assert_eq(digest_of(p, (uint64_t)sb.st_size + 32, d), -EBADMSG);
	cr_assert_eq(digest_of(p, 10, d), -EBADMSG);
	cr_assert_eq(digest_of(p, 0, d), 0);
	/* A damaged header, among the small records and among the large. */
	flip_byte(1, 8);
	cr_assert_eq(digest_of(p, (uint64_t)sb.st_size, d), -EBADMSG);
	flip_byte(1, 8);
	cr_assert_eq(digest_of(p, (uint64_t)sb.st_size, d), 0);
	uint64_t big = 200 * (32 + 1000) + 32 + 5 * (32 + 300000);
	flip_byte(1, big + 20);
	cr_assert_eq(digest_of(p, (uint64_t)sb.st_size, d), -EBADMSG);
}

/* ---- small records: gathered writes, the read window (tape_int.h) ---- */

TestSuite(tape_window, .init = setup, .fini = teardown);

/* Record i of the layout below: its length and whether it compresses. */
static uint32_t win_len(int i)
{
	return i % 11 == 10 ? 20000 : 64 + (uint32_t)(i * 1499) % 9000;
}

static void win_put(int i)
{
	tu_fill(wbuf, win_len(i), (uint64_t)i, i % 3 == 0);
	cr_assert_eq(tape_write_buffered(t, wbuf, win_len(i)), 0, "write %d", i);
}

static void win_expect(int i)
{
	expect_block(win_len(i), (uint64_t)i, i % 3 == 0);
}

Test(tape_window, small_records_read_back_across_segments_sizes_and_moves)
{
	uint32_t len;
	enum tape_obj kind;

	tape_set_compression(t, TAPE_COMP_LZ4);
	tape_set_segment_size(t, 40000);
	/* 120 records of 64 B to 9 KiB, every eleventh 20 KB (read and
	 * written the ordinary way), a filemark after every 50th. */
	for (int i = 0; i < 120; i++) {
		win_put(i);
		if (i % 50 == 49)
			cr_assert_eq(tape_write_filemarks(t, 1), 0);
	}
	cr_assert_eq(tape_pos(t), 122);
	cr_assert_geq(tu_count(dir, ".dat"), 10);
	tape_rewind(t);
	for (int i = 0; i < 120; i++) {
		win_expect(i);
		if (i % 50 == 49)
			expect_kind(TAPE_FILEMARK);
	}
	expect_kind(TAPE_EOD);
	/* Back and forth: LOCATE, SPACE, a short read and a read without
	 * a buffer, each the record at the position. */
	cr_assert_eq(tape_locate(t, 7), 0);
	win_expect(7);
	cr_assert_eq(tape_read(t, rbuf, 10, &len, &kind), 0);
	cr_assert_eq(kind, TAPE_BLOCK);
	cr_assert_eq(len, win_len(8));
	tu_fill(wbuf, win_len(8), 8, 0);
	cr_assert_eq(memcmp(rbuf, wbuf, 10), 0);
	cr_assert_eq(tape_read(t, NULL, 0, &len, &kind), 0);
	cr_assert_eq(len, win_len(9));
	win_expect(10);
	int64_t done;
	enum tape_obj stop;
	cr_assert_eq(tape_space_blocks(t, -3, &done, &stop), 0);
	win_expect(8);
	cr_assert_eq(tape_locate(t, 51), 0);
	win_expect(50);
	reopen();
	cr_assert_eq(tape_locate(t, 100), 0); /* records 50 on follow the filemark */
	win_expect(99);
}

Test(tape_window, a_byte_flipped_after_a_read_is_found_after_a_move)
{
	uint32_t len;
	enum tape_obj kind;

	for (int i = 0; i < 20; i++)
		put_block(1000, (uint64_t)i);
	cr_assert_eq(tape_flush(t), 0);
	tape_rewind(t);
	expect_block(1000, 0, 0); /* the window now holds records 0 to 19 */
	flip_byte(1, 2 * 1032 + 32 + 500);
	cr_assert_eq(tape_locate(t, 2), 0);
	cr_assert_eq(tape_read(t, rbuf, TAPE_MAX_BLOCK, &len, &kind), -EBADMSG);
	cr_assert_eq(tape_locate(t, 3), 0);
	expect_block(1000, 3, 0);
}

Test(tape_window, records_written_after_a_read_are_read_not_the_old_ones)
{
	for (int i = 0; i < 30; i++)
		put_block(500, (uint64_t)i);
	tape_rewind(t);
	for (int i = 0; i < 10; i++)
		expect_block(500, (uint64_t)i, 0);
	/* Over records 5 on (SSC-4 4.2.7: the rest is discarded). */
	cr_assert_eq(tape_locate(t, 5), 0);
	for (int i = 0; i < 3; i++) {
		tu_fill(wbuf, 700, (uint64_t)(100 + i), 0);
		cr_assert_eq(tape_write_buffered(t, wbuf, 700), 0);
	}
	cr_assert_eq(tape_locate(t, 3), 0);
	expect_block(500, 3, 0);
	expect_block(500, 4, 0);
	for (int i = 0; i < 3; i++)
		expect_block(700, (uint64_t)(100 + i), 0);
	expect_kind(TAPE_EOD);
	/* At EOD a write then a read back: the appended record, not stale
	 * bytes of the window. */
	tu_fill(wbuf, 300, 200, 0);
	cr_assert_eq(tape_write_buffered(t, wbuf, 300), 0);
	int64_t done;
	enum tape_obj stop;
	cr_assert_eq(tape_space_blocks(t, -1, &done, &stop), 0);
	expect_block(300, 200, 0);
	expect_kind(TAPE_EOD);
}
