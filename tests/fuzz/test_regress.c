/*
 * test_regress.c - what fuzzing found, as unit tests that run in every
 * build (make check, with gcc, and under ASan/UBSan in the sanitizer
 * build). Each test names the behaviour; the input that found it is in
 * tests/fuzz/corpus/<target>/regress-*, replayed by scripts/fuzz.sh.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3/xml.h"
#include "scsi/tape.h"
#include "tests/scsi/tape_util.h"

static struct xml_span span(const char *s)
{
	return (struct xml_span){s, s + strlen(s)};
}

/* fuzz_s3_xml, fuzz_s3_response: a value longer than the caller's buffer
 * left it unterminated, and s3_list's strlen() of an ETag ran off its
 * stack buffer (a server answering a 200-character ETag). */
Test(xml_regress, text_too_long_for_the_buffer_is_empty_and_terminated)
{
	char doc[512], out[96];
	snprintf(doc, sizeof(doc), "<Contents><ETag>\"%0200d\"</ETag></Contents>", 0);
	memset(out, 'A', sizeof(out));
	cr_assert_eq(xml_get(span(doc), "ETag", out, sizeof(out)), -1);
	cr_assert_str_eq(out, "");

	/* The same through each way a byte is decoded: CDATA, entities,
	 * numeric references. */
	static const char *const docs[] = {
	    "<K><![CDATA[0123456789abcdef]]></K>",
	    "<K>&amp;&amp;&amp;&amp;&amp;&amp;&amp;&amp;&amp;&amp;</K>",
	    "<K>&#x20AC;&#x20AC;&#x20AC;&#x20AC;</K>",
	};
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		char small[8];
		memset(small, 'A', sizeof(small));
		cr_assert_eq(xml_get(span(docs[i]), "K", small, sizeof(small)), -1, "%s", docs[i]);
		cr_assert_str_eq(small, "", "%s", docs[i]);
	}
	/* What fits is decoded whole. */
	cr_assert_eq(xml_get(span("<K>&lt;a&gt;</K>"), "K", out, sizeof(out)), 3);
	cr_assert_str_eq(out, "<a>");
}

/* fuzz_scsi: WRITE FILEMARKS with a count of 15532800 held the drive for
 * longer than the fuzzer's 30 s timeout (about a minute unsanitised), one
 * write per filemark. They are written in runs now; a run must still
 * respect the segment limits, the filemark index and reopening, which is
 * what this checks, at small segments and at the per-segment record cap. */
static void filemarks_in_runs(uint64_t segment, uint32_t count)
{
	char root[64], dir[300];
	tmpdir_make(root, sizeof(root), "tape");
	snprintf(dir, sizeof(dir), "%s/tape", root);
	struct tape_info info = {.barcode = "REG001L8", .media = TAPE_LTO8};
	cr_assert_eq(tape_format(dir, &info), 0);
	struct tape *t;
	cr_assert_eq(tape_open(dir, &t), 0);
	tape_set_segment_size(t, segment);
	uint8_t rec[100], back[100];
	memset(rec, 0x5a, sizeof(rec));
	cr_assert_eq(tape_write(t, rec, sizeof(rec)), 0);
	cr_assert_eq(tape_write_filemarks(t, count), 0);
	cr_assert_eq(tape_write(t, rec, sizeof(rec)), 0);
	cr_assert_eq(tape_write_filemarks(t, 1), 0);
	cr_assert_eq(tape_flush(t), 0);
	cr_assert_eq(tape_eod(t), (uint64_t)count + 3);
	cr_assert_eq(tape_close(t), 0);

	cr_assert_eq(tape_open(dir, &t), 0);
	cr_assert_eq(tape_eod(t), (uint64_t)count + 3);
	int64_t done;
	enum tape_obj stop, kind;
	uint32_t len;
	cr_assert_eq(tape_space_filemarks(t, count, &done, &stop), 0);
	cr_assert_eq(done, count);
	cr_assert_eq(tape_pos(t), (uint64_t)count + 1);
	cr_assert_eq(tape_file(t), count);
	cr_assert_eq(tape_read(t, back, sizeof(back), &len, &kind), 0);
	cr_assert_eq(kind, TAPE_BLOCK);
	cr_assert_arr_eq(back, rec, sizeof(rec));
	/* Back over every filemark: before the first, after the first block. */
	cr_assert_eq(tape_space_filemarks(t, -(int64_t)count, &done, &stop), 0);
	cr_assert_eq(done, (int64_t)count);
	cr_assert_eq(tape_pos(t), 1);
	cr_assert_eq(tape_close(t), 0);
	cr_assert_eq(tmpdir_remove(root), 0);
}

Test(tape_regress, many_filemarks_across_small_segments)
{
	filemarks_in_runs(4096, 100000); /* 128 per segment: hundreds of seals */
}

Test(tape_regress, many_filemarks_across_the_record_cap_of_a_segment)
{
	filemarks_in_runs(0, (1u << 20) + 4097); /* past TAPE_SEG_MAX_OBJ records */
}

/* fuzz_tape: a host writing after a damaged stretch of the active
 * segment (its file cut short below the commit point) made the cartridge
 * impossible to open: the objects of the stretch share the offset where
 * the damage starts, the cut there was shorter than their headers, and
 * the manifest that recorded it failed its own checks on the next open.
 * The damaged objects stay unreadable; everything else must stay. */
Test(tape_regress, a_write_after_damage_in_the_active_segment_keeps_the_cartridge)
{
	char root[64], dir[300], seg[340];
	tmpdir_make(root, sizeof(root), "tape");
	snprintf(dir, sizeof(dir), "%s/tape", root);
	struct tape_info info = {.barcode = "REG002L8", .media = TAPE_LTO8};
	cr_assert_eq(tape_format(dir, &info), 0);
	struct tape *t;
	cr_assert_eq(tape_open(dir, &t), 0);
	uint8_t rec[3000], back[3000];
	tu_fill(rec, sizeof(rec), 7, 0);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(tape_write(t, rec, sizeof(rec)), 0);
	cr_assert_eq(tape_write_filemarks(t, 1), 0);
	cr_assert_eq(tape_close(t), 0);

	/* The first record cut in the middle: objects 0 to 3 are damaged. */
	snprintf(seg, sizeof(seg), "%s/seg-0000000000000001.dat", dir);
	cr_assert_eq(truncate(seg, 2805), 0);
	cr_assert_eq(tape_open(dir, &t), 0);
	cr_assert_eq(tape_eod(t), 4);
	uint32_t len;
	enum tape_obj kind;
	cr_assert_eq(tape_read(t, back, sizeof(back), &len, &kind), -EBADMSG);
	cr_assert_eq(tape_locate(t, 3), 0);
	cr_assert_eq(tape_write(t, rec, 100), 0);
	cr_assert_eq(tape_close(t), 0);

	cr_assert_eq(tape_open(dir, &t), 0, "the cartridge no longer opens");
	cr_assert_eq(tape_eod(t), 4);
	cr_assert_eq(tape_locate(t, 3), 0);
	cr_assert_eq(tape_read(t, back, sizeof(back), &len, &kind), 0);
	cr_assert_eq(len, 100);
	cr_assert_arr_eq(back, rec, 100);
	cr_assert_eq(tape_rewind(t), 0);
	cr_assert_eq(tape_read(t, back, sizeof(back), &len, &kind), -EBADMSG);
	cr_assert_eq(tape_close(t), 0);
	cr_assert_eq(tmpdir_remove(root), 0);
}
