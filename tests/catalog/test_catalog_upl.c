/*
 * test_catalog_upl.c - the uploader's tables (catalog/catalog_upl.h) at
 * SQL level, on a real SQLite catalog in a scratch directory.
 *
 * The contract under test is the one that lets uploads resume after
 * kill -9: what the uploader recorded (segments, their upload ids and
 * finished objects, the parts the store acknowledged, the tape's manifest
 * generation and store state) is there again after the catalog is closed
 * and opened anew; parts come back in number order, once each; the totals
 * the operator sees add up from the rows; forgetting a tape removes its
 * rows and no other tape's; and a call on something the catalog does not
 * know fails with the errno catalog_upl.h names, changing nothing.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog.h"
#include "catalog/catalog_upl.h"
#include "tests/tmpdir.h"

static char dir[64];
static char dbpath[128];
static struct cat *C;

/* Close and open the catalog again, as vtld does after a crash. */
static void reopen(void)
{
	cat_close(C);
	C = NULL;
	cr_assert_eq(cat_open(dbpath, &C), 0);
}

/* A catalog with a library of four slots and the tapes A00001L8 and
 * B00001L8. */
static void setup(void)
{
	tmpdir_make(dir, sizeof(dir), "catupl");
	snprintf(dbpath, sizeof(dbpath), "%s/catalog.db", dir);
	cr_assert_eq(cat_open(dbpath, &C), 0);

	struct cat_library l = {.vendor = "STK",
				.product = "L700",
				.revision = "0107",
				.serial = "VLUPL0001",
				.drive_vendor = "IBM",
				.drive_media = "LTO-8"};
	l.base[CAT_TRANSPORT] = 1;
	l.count[CAT_TRANSPORT] = 1;
	l.base[CAT_IE] = 10;
	l.count[CAT_IE] = 1;
	l.base[CAT_DRIVE] = 500;
	l.count[CAT_DRIVE] = 1;
	l.base[CAT_STORAGE] = 1000;
	l.count[CAT_STORAGE] = 4;
	struct cat_drive d = {.lun = 1, .serial = "D1"};
	cr_assert_eq(cat_library_create(C, &l, &d, 1), 0);

	struct cat_tape t[2];
	memset(t, 0, sizeof(t));
	for (int i = 0; i < 2; i++) {
		snprintf(t[i].barcode, sizeof(t[i].barcode), "%c00001L8", 'A' + i);
		strcpy(t[i].media, "LTO-8");
		t[i].capacity = 12000000000000ull;
	}
	cr_assert_eq(cat_tape_create(C, t, 2, "test", NULL), 0);
}

static void teardown(void)
{
	cat_close(C);
	C = NULL;
	tmpdir_remove(dir);
}

TestSuite(catalog_upl, .init = setup, .fini = teardown);

/* ---- helpers ---- */

/* A segment row: an upload in progress when upload_id is not "", else a
 * finished object of object_size bytes (none when etag is ""). */
static int seg_put(const char *bc, uint64_t seg, uint64_t valid, const char *upload_id,
		   uint64_t object_size, const char *etag)
{
	struct cat_upl_seg s = {
	    .seg = seg, .part_size = 5u << 20, .valid = valid, .object_size = object_size};
	snprintf(s.upload_id, sizeof(s.upload_id), "%s", upload_id);
	snprintf(s.object_etag, sizeof(s.object_etag), "%s", etag);
	return cat_upl_seg_put(C, bc, &s);
}

static int part_add(const char *bc, uint64_t seg, int number, uint64_t size, const char *etag)
{
	struct cat_upl_part p = {.number = number, .size = size};
	snprintf(p.etag, sizeof(p.etag), "%s", etag);
	return cat_upl_part_add(C, bc, seg, &p);
}

/* The segments of bc; *n of them, freed by the caller. */
static struct cat_upl_seg *segs(const char *bc, size_t *n)
{
	struct cat_upl_seg *s = NULL;
	cr_assert_eq(cat_upl_segs(C, bc, &s, n), 0);
	cr_assert_not_null(s);
	return s;
}

static struct cat_upl_part *parts(const char *bc, uint64_t seg, size_t *n)
{
	struct cat_upl_part *p = NULL;
	cr_assert_eq(cat_upl_parts(C, bc, seg, &p, n), 0);
	cr_assert_not_null(p);
	return p;
}

/* Rows of a table, read with a connection of its own: what is on disk. */
static int rows(const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int v = -1;
	cr_assert_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s",
		     sqlite3_errmsg(db));
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* Upload ids as cat_upl_upload_ids reports them, "BARCODE/SEG=ID;" each. */
struct ids {
	char text[512];
	int calls, stop_after;
};

static int id_cb(void *arg, const char *barcode, uint64_t seg, const char *upload_id)
{
	struct ids *x = arg;
	size_t len = strlen(x->text);
	snprintf(x->text + len, sizeof(x->text) - len, "%s/%llu=%s;", barcode,
		 (unsigned long long)seg, upload_id);
	x->calls++;
	return x->stop_after && x->calls == x->stop_after ? 7 : 0;
}

static const char *upload_ids(void)
{
	static struct ids x;
	memset(&x, 0, sizeof(x));
	cr_assert_eq(cat_upl_upload_ids(C, id_cb, &x), 0);
	return x.text;
}

/* ---- the resume contract: what is recorded survives a reopen ---- */

Test(catalog_upl, segments_parts_and_tape_state_survive_close_and_reopen)
{
	cr_assert_eq(seg_put("A00001L8", 0, 1000, "", 1000, "\"etag-0\""), 0);
	cr_assert_eq(seg_put("A00001L8", 1, 7000, "upload-1", 0, ""), 0);
	cr_assert_eq(part_add("A00001L8", 1, 1, 4000, "\"p1\""), 0);
	cr_assert_eq(part_add("A00001L8", 1, 2, 2500, "\"p2\""), 0);
	cr_assert_eq(cat_upl_tape_set(C, "A00001L8", 3, "ARCHIVED"), 0);

	reopen();

	size_t n;
	struct cat_upl_seg *s = segs("A00001L8", &n);
	cr_assert_eq(n, 2);
	cr_expect_eq(s[0].seg, 0);
	cr_expect_eq(s[0].part_size, 5u << 20);
	cr_expect_eq(s[0].valid, 1000);
	cr_expect_str_empty(s[0].upload_id);
	cr_expect_eq(s[0].object_size, 1000);
	cr_expect_str_eq(s[0].object_etag, "\"etag-0\"");
	cr_expect_eq(s[0].parts, 0);
	cr_expect_eq(s[0].parts_bytes, 0);
	cr_expect_eq(s[1].seg, 1);
	cr_expect_eq(s[1].valid, 7000);
	cr_expect_str_eq(s[1].upload_id, "upload-1");
	cr_expect_eq(s[1].object_size, 0);
	cr_expect_str_empty(s[1].object_etag);
	cr_expect_eq(s[1].parts, 2);
	cr_expect_eq(s[1].parts_bytes, 6500);
	free(s);

	struct cat_upl_part *p = parts("A00001L8", 1, &n);
	cr_assert_eq(n, 2);
	cr_expect_eq(p[0].number, 1);
	cr_expect_eq(p[0].size, 4000);
	cr_expect_str_eq(p[0].etag, "\"p1\"");
	cr_expect_eq(p[1].number, 2);
	cr_expect_eq(p[1].size, 2500);
	cr_expect_str_eq(p[1].etag, "\"p2\"");
	free(p);

	uint64_t gen = 0;
	char state[32];
	cr_assert_eq(cat_upl_tape_get(C, "A00001L8", &gen, state, sizeof(state)), 0);
	cr_expect_eq(gen, 3);
	cr_expect_str_eq(state, "ARCHIVED");

	cr_expect_str_eq(upload_ids(), "A00001L8/1=upload-1;");
}

Test(catalog_upl, a_tape_with_nothing_recorded_reads_as_empty)
{
	size_t n = 99;
	struct cat_upl_seg *s = segs("A00001L8", &n);
	cr_expect_eq(n, 0);
	free(s);
	struct cat_upl_part *p = parts("A00001L8", 0, &n);
	cr_expect_eq(n, 0);
	free(p);
	uint64_t gen = 99;
	char state[32] = "junk";
	cr_assert_eq(cat_upl_tape_get(C, "A00001L8", &gen, state, sizeof(state)), 0);
	cr_expect_eq(gen, 0);
	cr_expect_str_empty(state);
	struct cat_upl_totals t;
	memset(&t, 0xff, sizeof(t));
	cr_assert_eq(cat_upl_totals(C, "A00001L8", &t), 0);
	cr_expect_eq(t.valid, 0);
	cr_expect_eq(t.uploaded, 0);
	cr_expect_eq(t.pending, 0);
	cr_expect_eq(t.manifest_gen, 0);
	cr_expect_str_empty(upload_ids());
}

Test(catalog_upl, tape_state_is_replaced_not_added_to)
{
	cr_assert_eq(cat_upl_tape_set(C, "A00001L8", 1, "AVAILABLE"), 0);
	cr_assert_eq(cat_upl_tape_set(C, "A00001L8", 2, NULL), 0);
	reopen();
	uint64_t gen;
	char state[32] = "junk";
	cr_assert_eq(cat_upl_tape_get(C, "A00001L8", &gen, state, sizeof(state)), 0);
	cr_expect_eq(gen, 2);
	cr_expect_str_empty(state, "a NULL state is recorded as none");
	/* The state is optional to the reader too. */
	cr_assert_eq(cat_upl_tape_get(C, "A00001L8", &gen, NULL, 0), 0);
	cr_expect_eq(gen, 2);
	cr_expect_eq(rows("SELECT COUNT(*) FROM upl_tapes"), 1);
}

/* ---- parts: in order, once each ---- */

Test(catalog_upl, parts_come_back_in_number_order_whatever_order_they_were_added)
{
	cr_assert_eq(seg_put("A00001L8", 2, 30, "up", 0, ""), 0);
	cr_assert_eq(part_add("A00001L8", 2, 10, 1, "\"e10\""), 0);
	cr_assert_eq(part_add("A00001L8", 2, 3, 1, "\"e3\""), 0);
	cr_assert_eq(part_add("A00001L8", 2, 1, 1, "\"e1\""), 0);
	cr_assert_eq(part_add("A00001L8", 2, 2, 1, "\"e2\""), 0);
	reopen();
	size_t n;
	struct cat_upl_part *p = parts("A00001L8", 2, &n);
	cr_assert_eq(n, 4);
	int want[] = {1, 2, 3, 10};
	for (size_t i = 0; i < n; i++)
		cr_expect_eq(p[i].number, want[i], "part %zu is %d", i, p[i].number);
	free(p);
}

Test(catalog_upl, a_part_recorded_again_is_kept_once_with_the_last_size_and_etag)
{
	/* After a crash the uploader may send a part again and record it
	 * again: the row is replaced, never doubled, so the totals and the
	 * CompleteMultipartUpload list stay right. */
	cr_assert_eq(seg_put("A00001L8", 0, 9000, "up", 0, ""), 0);
	cr_assert_eq(part_add("A00001L8", 0, 1, 5000, "\"old\""), 0);
	cr_assert_eq(part_add("A00001L8", 0, 1, 5000, "\"new\""), 0);
	size_t n;
	struct cat_upl_part *p = parts("A00001L8", 0, &n);
	cr_assert_eq(n, 1);
	cr_expect_str_eq(p[0].etag, "\"new\"");
	free(p);
	struct cat_upl_seg *s = segs("A00001L8", &n);
	cr_assert_eq(n, 1);
	cr_expect_eq(s[0].parts, 1);
	cr_expect_eq(s[0].parts_bytes, 5000);
	free(s);
}

Test(catalog_upl, parts_are_kept_per_segment_and_per_tape)
{
	cr_assert_eq(seg_put("A00001L8", 0, 100, "a0", 0, ""), 0);
	cr_assert_eq(seg_put("A00001L8", 1, 100, "a1", 0, ""), 0);
	cr_assert_eq(seg_put("B00001L8", 0, 100, "b0", 0, ""), 0);
	cr_assert_eq(part_add("A00001L8", 0, 1, 11, "\"a0\""), 0);
	cr_assert_eq(part_add("A00001L8", 1, 1, 12, "\"a1\""), 0);
	cr_assert_eq(part_add("B00001L8", 0, 1, 13, "\"b0\""), 0);
	size_t n;
	struct cat_upl_part *p = parts("A00001L8", 1, &n);
	cr_assert_eq(n, 1);
	cr_expect_eq(p[0].size, 12);
	free(p);
	p = parts("B00001L8", 0, &n);
	cr_assert_eq(n, 1);
	cr_expect_eq(p[0].size, 13);
	free(p);
}

/* ---- segments: upload ids and their parts ---- */

Test(catalog_upl, the_same_upload_id_keeps_the_parts_a_new_one_drops_them)
{
	cr_assert_eq(seg_put("A00001L8", 0, 6000, "first", 0, ""), 0);
	cr_assert_eq(part_add("A00001L8", 0, 1, 5000, "\"p1\""), 0);

	/* More valid bytes in the same upload: the parts stay. */
	cr_assert_eq(seg_put("A00001L8", 0, 12000, "first", 0, ""), 0);
	size_t n;
	struct cat_upl_part *p = parts("A00001L8", 0, &n);
	cr_expect_eq(n, 1, "the same upload id dropped its parts");
	free(p);

	/* A new upload: the parts of the old one are no part of it. */
	cr_assert_eq(seg_put("A00001L8", 0, 12000, "second", 0, ""), 0);
	p = parts("A00001L8", 0, &n);
	cr_expect_eq(n, 0, "a new upload id kept %zu parts of the old one", n);
	free(p);
	cr_expect_str_eq(upload_ids(), "A00001L8/0=second;");

	/* Completed: no upload in progress, no parts, the object recorded. */
	cr_assert_eq(part_add("A00001L8", 0, 1, 12000, "\"q1\""), 0);
	cr_assert_eq(seg_put("A00001L8", 0, 12000, "", 12000, "\"obj\""), 0);
	p = parts("A00001L8", 0, &n);
	cr_expect_eq(n, 0);
	free(p);
	cr_expect_str_empty(upload_ids());
	reopen();
	struct cat_upl_seg *s = segs("A00001L8", &n);
	cr_assert_eq(n, 1);
	cr_expect_str_empty(s[0].upload_id);
	cr_expect_eq(s[0].object_size, 12000);
	cr_expect_str_eq(s[0].object_etag, "\"obj\"");
	free(s);
}

Test(catalog_upl, segments_are_listed_in_segment_order)
{
	for (uint64_t seg = 20; seg > 0; seg -= 4)
		cr_assert_eq(seg_put("A00001L8", seg, seg, "", seg, "\"e\""), 0);
	size_t n;
	struct cat_upl_seg *s = segs("A00001L8", &n);
	cr_assert_eq(n, 5, "more rows than cat_upl_segs starts with: %zu", n);
	for (size_t i = 0; i < n; i++)
		cr_expect_eq(s[i].seg, 4 * (i + 1));
	free(s);
}

Test(catalog_upl, many_segments_and_parts_are_all_listed)
{
	/* More rows than the readers' first allocation (8 segments, 16
	 * parts), so the arrays have to grow. */
	for (uint64_t seg = 0; seg < 40; seg++)
		cr_assert_eq(seg_put("A00001L8", seg, 100, seg == 7 ? "up" : "", 0, ""), 0);
	for (int i = 1; i <= 100; i++)
		cr_assert_eq(part_add("A00001L8", 7, i, 1, "\"e\""), 0);
	size_t n;
	struct cat_upl_seg *s = segs("A00001L8", &n);
	cr_expect_eq(n, 40);
	cr_expect_eq(s[7].parts, 100);
	free(s);
	struct cat_upl_part *p = parts("A00001L8", 7, &n);
	cr_assert_eq(n, 100);
	for (size_t i = 0; i < n; i++)
		cr_expect_eq(p[i].number, (int)i + 1);
	free(p);
}

Test(catalog_upl, deleting_a_segment_removes_its_parts_and_nothing_else)
{
	cr_assert_eq(seg_put("A00001L8", 0, 100, "a0", 0, ""), 0);
	cr_assert_eq(seg_put("A00001L8", 1, 100, "a1", 0, ""), 0);
	cr_assert_eq(part_add("A00001L8", 0, 1, 50, "\"x\""), 0);
	cr_assert_eq(part_add("A00001L8", 1, 1, 60, "\"y\""), 0);
	cr_assert_eq(cat_upl_seg_delete(C, "A00001L8", 0), 0);
	size_t n;
	struct cat_upl_seg *s = segs("A00001L8", &n);
	cr_assert_eq(n, 1);
	cr_expect_eq(s[0].seg, 1);
	cr_expect_eq(s[0].parts, 1);
	free(s);
	cr_expect_eq(rows("SELECT COUNT(*) FROM upl_parts WHERE seg = 0"), 0,
		     "the parts of a deleted segment stayed");
	cr_expect_eq(rows("SELECT COUNT(*) FROM upl_parts"), 1);
	/* Deleting what is not there is not an error. */
	cr_expect_eq(cat_upl_seg_delete(C, "A00001L8", 0), 0);
}

/* ---- totals ---- */

Test(catalog_upl, totals_add_up_from_the_segments)
{
	/* 0: finished, whole: in the store, not pending. */
	cr_assert_eq(seg_put("A00001L8", 0, 1000, "", 1000, "\"e0\""), 0);
	/* 1: upload in progress, 700 of 2000 sent: pending. */
	cr_assert_eq(seg_put("A00001L8", 1, 2000, "u1", 0, ""), 0);
	cr_assert_eq(part_add("A00001L8", 1, 1, 500, "\"p\""), 0);
	cr_assert_eq(part_add("A00001L8", 1, 2, 200, "\"q\""), 0);
	/* 2: finished object shorter than what is now valid: pending. */
	cr_assert_eq(seg_put("A00001L8", 2, 3000, "", 2500, "\"e2\""), 0);
	/* 3: parts beyond the valid length count only up to it. */
	cr_assert_eq(seg_put("A00001L8", 3, 100, "u3", 0, ""), 0);
	cr_assert_eq(part_add("A00001L8", 3, 1, 400, "\"r\""), 0);
	/* 4: an empty segment with no object yet: pending. */
	cr_assert_eq(seg_put("A00001L8", 4, 0, "", 0, ""), 0);
	/* 5: an empty segment whose empty object is in the store. */
	cr_assert_eq(seg_put("A00001L8", 5, 0, "", 0, "\"empty\""), 0);
	cr_assert_eq(cat_upl_tape_set(C, "A00001L8", 9, "AVAILABLE"), 0);
	/* Another tape's rows count for that tape only. */
	cr_assert_eq(seg_put("B00001L8", 0, 77777, "", 0, ""), 0);

	reopen();
	struct cat_upl_totals t;
	cr_assert_eq(cat_upl_totals(C, "A00001L8", &t), 0);
	cr_expect_eq(t.valid, 1000 + 2000 + 3000 + 100, "valid %llu", (unsigned long long)t.valid);
	cr_expect_eq(t.uploaded, 1000 + 700 + 2500 + 100, "uploaded %llu",
		     (unsigned long long)t.uploaded);
	cr_expect_eq(t.pending, 4, "pending %u", t.pending);
	cr_expect_eq(t.manifest_gen, 9);
}

/* ---- forgetting a tape ---- */

static void record_everything(const char *bc, uint64_t gen)
{
	cr_assert_eq(seg_put(bc, 0, 100, "", 100, "\"o\""), 0);
	cr_assert_eq(seg_put(bc, 1, 100, "up", 0, ""), 0);
	cr_assert_eq(part_add(bc, 1, 1, 10, "\"p1\""), 0);
	cr_assert_eq(part_add(bc, 1, 2, 10, "\"p2\""), 0);
	cr_assert_eq(cat_upl_tape_set(C, bc, gen, "AVAILABLE"), 0);
}

Test(catalog_upl, forget_removes_everything_of_one_tape_and_nothing_of_another)
{
	record_everything("A00001L8", 4);
	record_everything("B00001L8", 5);
	cr_assert_eq(cat_upl_tape_forget(C, "A00001L8"), 0);
	reopen();

	size_t n;
	struct cat_upl_seg *s = segs("A00001L8", &n);
	cr_expect_eq(n, 0);
	free(s);
	uint64_t gen;
	char state[32];
	cr_assert_eq(cat_upl_tape_get(C, "A00001L8", &gen, state, sizeof(state)), 0);
	cr_expect_eq(gen, 0);
	cr_expect_str_empty(state);
	cr_expect_eq(rows("SELECT COUNT(*) FROM upl_parts p JOIN tapes t ON t.id = p.tape "
			  "WHERE t.barcode = 'A00001L8'"),
		     0, "parts of the forgotten tape stayed");

	s = segs("B00001L8", &n);
	cr_expect_eq(n, 2);
	free(s);
	struct cat_upl_part *p = parts("B00001L8", 1, &n);
	cr_expect_eq(n, 2);
	free(p);
	cr_assert_eq(cat_upl_tape_get(C, "B00001L8", &gen, state, sizeof(state)), 0);
	cr_expect_eq(gen, 5);
	cr_expect_str_eq(state, "AVAILABLE");
	cr_expect_str_eq(upload_ids(), "B00001L8/1=up;");

	/* Forgetting again, or a tape never recorded, is not an error. */
	cr_expect_eq(cat_upl_tape_forget(C, "A00001L8"), 0);
	cr_expect_eq(cat_upl_tape_forget(C, "Z99999L8"), 0);
}

/* ---- the orphan sweep's list ---- */

Test(catalog_upl, upload_ids_lists_every_upload_in_progress_and_stops_when_asked)
{
	cr_assert_eq(seg_put("A00001L8", 0, 1, "", 1, "\"done\""), 0);
	cr_assert_eq(seg_put("A00001L8", 3, 1, "a3", 0, ""), 0);
	cr_assert_eq(seg_put("B00001L8", 8, 1, "b8", 0, ""), 0);
	const char *all = upload_ids();
	cr_expect(strstr(all, "A00001L8/3=a3;") && strstr(all, "B00001L8/8=b8;") &&
		      strlen(all) == strlen("A00001L8/3=a3;B00001L8/8=b8;"),
		  "upload ids: %s", all);

	struct ids x;
	memset(&x, 0, sizeof(x));
	x.stop_after = 1;
	cr_expect_eq(cat_upl_upload_ids(C, id_cb, &x), 7, "the callback's value is returned");
	cr_expect_eq(x.calls, 1);
}

/* ---- what the catalog does not know ---- */

Test(catalog_upl, writes_for_an_unknown_barcode_fail_with_enoent_and_change_nothing)
{
	record_everything("A00001L8", 4);
	cr_expect_eq(seg_put("Z99999L8", 0, 1, "up", 0, ""), -ENOENT);
	cr_expect_eq(part_add("Z99999L8", 0, 1, 1, "\"e\""), -ENOENT);
	cr_expect_eq(cat_upl_tape_set(C, "Z99999L8", 42, "ARCHIVED"), -ENOENT);

	/* Tape B has no uploader rows yet. cat_upl_tape_set once stored the
	 * unknown barcode's NULL tape id into upl_tapes' INTEGER PRIMARY KEY,
	 * which SQLite turned into the next rowid: tape B's id, so tape B
	 * showed generation 42, ARCHIVED. */
	uint64_t gen = 99;
	char state[32];
	cr_assert_eq(cat_upl_tape_get(C, "B00001L8", &gen, state, sizeof(state)), 0);
	cr_expect_eq(gen, 0, "tape B took the unknown tape's generation");
	cr_expect_str_empty(state);
	cr_assert_eq(cat_upl_tape_get(C, "A00001L8", &gen, state, sizeof(state)), 0);
	cr_expect_eq(gen, 4);
	cr_expect_str_eq(state, "AVAILABLE");
	cr_expect_eq(rows("SELECT COUNT(*) FROM upl_tapes"), 1);
	cr_expect_eq(rows("SELECT COUNT(*) FROM upl_segments"), 2);
	cr_expect_eq(rows("SELECT COUNT(*) FROM upl_parts"), 2);
}

Test(catalog_upl, reads_for_an_unknown_barcode_find_nothing)
{
	record_everything("A00001L8", 4);
	size_t n = 99;
	struct cat_upl_seg *s = segs("Z99999L8", &n);
	cr_expect_eq(n, 0);
	free(s);
	struct cat_upl_part *p = parts("Z99999L8", 1, &n);
	cr_expect_eq(n, 0);
	free(p);
	uint64_t gen = 99;
	cr_assert_eq(cat_upl_tape_get(C, "Z99999L8", &gen, NULL, 0), 0);
	cr_expect_eq(gen, 0);
	struct cat_upl_totals t;
	cr_assert_eq(cat_upl_totals(C, "Z99999L8", &t), 0);
	cr_expect_eq(t.valid + t.uploaded + t.pending + t.manifest_gen, 0);
}

Test(catalog_upl, rows_the_schema_refuses_are_einval_and_change_nothing)
{
	cr_assert_eq(seg_put("A00001L8", 0, 100, "up", 0, ""), 0);
	cr_assert_eq(part_add("A00001L8", 0, 1, 10, "\"ok\""), 0);

	/* A part of a segment the uploader never recorded. */
	cr_expect_eq(part_add("A00001L8", 5, 1, 10, "\"e\""), -EINVAL);
	/* Part numbers are 1 to 10000 (the S3 multipart limits). */
	cr_expect_eq(part_add("A00001L8", 0, 0, 10, "\"e\""), -EINVAL);
	cr_expect_eq(part_add("A00001L8", 0, 10001, 10, "\"e\""), -EINVAL);
	/* A segment needs a part size. */
	struct cat_upl_seg bad = {.seg = 1, .part_size = 0, .valid = 5};
	cr_expect_eq(cat_upl_seg_put(C, "A00001L8", &bad), -EINVAL);
	/* A refused put of an existing segment leaves it and its parts. */
	bad.seg = 0;
	snprintf(bad.upload_id, sizeof(bad.upload_id), "other");
	cr_expect_eq(cat_upl_seg_put(C, "A00001L8", &bad), -EINVAL);

	size_t n;
	struct cat_upl_seg *s = segs("A00001L8", &n);
	cr_assert_eq(n, 1);
	cr_expect_str_eq(s[0].upload_id, "up");
	cr_expect_eq(s[0].valid, 100);
	cr_expect_eq(s[0].parts, 1, "a refused put dropped the parts");
	free(s);
	cr_expect_eq(rows("SELECT COUNT(*) FROM upl_parts"), 1);
}

/* Where an archived tape's objects are (migration 4): not known until
 * recorded, kept by a later cat_upl_tape_set, and survives a reopen. */
Test(catalog_upl, an_archived_tapes_class_and_lock_date_are_kept)
{
	char cls[32];
	bool known = true;
	int64_t until = -1;
	cr_assert_eq(cat_upl_shelf_set(C, "A00001L8", "GLACIER", 5), -ENOENT, "no row yet");
	cr_assert_eq(cat_upl_tape_set(C, "A00001L8", 3, "ARCHIVED"), 0);
	cr_assert_eq(cat_upl_shelf_get(C, "A00001L8", cls, sizeof(cls), &known, &until), 0);
	cr_assert(!known);
	cr_assert_str_empty(cls);
	cr_assert_eq(until, 0);
	cr_assert_eq(cat_upl_shelf_set(C, "A00001L8", "DEEP_ARCHIVE", 1800000000000ll), 0);
	cr_assert_eq(cat_upl_tape_set(C, "A00001L8", 4, "ARCHIVED"), 0);
	reopen();
	cr_assert_eq(cat_upl_shelf_get(C, "A00001L8", cls, sizeof(cls), &known, &until), 0);
	cr_assert(known);
	cr_assert_str_eq(cls, "DEEP_ARCHIVE");
	cr_assert_eq(until, 1800000000000ll);
}

Test(catalog_upl, every_tape_at_once_gives_the_same_rows_as_one_tape_at_a_time)
{
	struct cat_tape t;
	memset(&t, 0, sizeof(t));
	snprintf(t.barcode, sizeof(t.barcode), "C00001L8");
	strcpy(t.media, "LTO-8");
	t.capacity = 12000000000000ull;
	cr_assert_eq(cat_tape_create(C, &t, 1, "test", NULL), 0);
	/* B: segments, parts and a state; A: a state only; C: a segment only. */
	cr_assert_eq(seg_put("B00001L8", 2, 200, "up-2", 0, ""), 0);
	cr_assert_eq(seg_put("B00001L8", 1, 100, "", 100, "e1"), 0);
	cr_assert_eq(part_add("B00001L8", 2, 1, 64, "p1"), 0);
	cr_assert_eq(part_add("B00001L8", 2, 2, 36, "p2"), 0);
	cr_assert_eq(cat_upl_tape_set(C, "B00001L8", 7, "AVAILABLE"), 0);
	cr_assert_eq(cat_upl_tape_set(C, "A00001L8", 3, "ARCHIVED"), 0);
	cr_assert_eq(seg_put("C00001L8", 5, 0, "", 0, ""), 0);

	struct cat_upl_tape_rows *v;
	size_t n;
	cr_assert_eq(cat_upl_all(C, &v, &n), 0);
	cr_assert_eq(n, 3);
	cr_assert_str_eq(v[0].barcode, "A00001L8");
	cr_assert_str_eq(v[1].barcode, "B00001L8");
	cr_assert_str_eq(v[2].barcode, "C00001L8");
	cr_assert_eq(v[0].nsegs, 0);
	cr_assert_eq(v[0].manifest_gen, 3);
	cr_assert_str_eq(v[0].state, "ARCHIVED");
	cr_assert_eq(v[2].nsegs, 1);
	cr_assert_eq(v[2].manifest_gen, 0);
	cr_assert_str_eq(v[2].state, "");
	for (size_t k = 0; k < n; k++) {
		size_t m;
		struct cat_upl_seg *one = segs(v[k].barcode, &m);
		cr_assert_eq(m, v[k].nsegs, "%s", v[k].barcode);
		for (size_t i = 0; i < m; i++) {
			cr_assert_eq(one[i].seg, v[k].segs[i].seg);
			cr_assert_eq(one[i].valid, v[k].segs[i].valid);
			cr_assert_str_eq(one[i].upload_id, v[k].segs[i].upload_id);
			cr_assert_eq(one[i].object_size, v[k].segs[i].object_size);
			cr_assert_str_eq(one[i].object_etag, v[k].segs[i].object_etag);
			cr_assert_eq(one[i].parts_bytes, v[k].segs[i].parts_bytes);
			cr_assert_eq(one[i].parts, v[k].segs[i].parts);
		}
		free(one);
	}
	cr_assert_eq(v[1].segs[1].parts_bytes, 100);
	cr_assert_eq(v[1].segs[1].parts, 2);
	cat_upl_all_free(v, n);
}
