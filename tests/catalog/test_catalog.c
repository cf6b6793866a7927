/*
 * test_catalog.c - the catalog at SQL level (schema, constraints,
 * transitions, barcode history), and crash safety of moves: a child process
 * moving cartridges through the changer is killed at random instants; after
 * each kill the catalog is reopened and every tape must be in exactly one
 * place, with the changer and the drives agreeing with the catalog.
 */
#include "config.h"

#include "tests/catalog/libtest.h"

#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <time.h>

#include "catalog/catalog.h"
#include "catalog/catalog_int.h" /* cat_prepare, cat_release: the statement cache */
#include "catalog/catalog_key.h"

static char dir[256];
static char dbpath[300];
static struct cat *C;

static void setup(void)
{
	tmpdir_make(dir, sizeof(dir), "cat");
	snprintf(dbpath, sizeof(dbpath), "%s/catalog.db", dir);
	cr_assert_eq(cat_open(dbpath, &C), 0);
}

static void teardown(void)
{
	cat_close(C);
	C = NULL;
	tmpdir_remove(dir);
}

/* A small library: transport 1, I/E 10-11, drives 500-501, slots 1000-1003. */
static void make_library(void)
{
	struct cat_library l;
	memset(&l, 0, sizeof(l));
	strcpy(l.vendor, "STK");
	strcpy(l.product, "L700");
	strcpy(l.revision, "0107");
	strcpy(l.serial, "VLTEST0001");
	strcpy(l.drive_vendor, "IBM");
	strcpy(l.drive_media, "LTO-8");
	l.base[CAT_TRANSPORT] = 1;
	l.count[CAT_TRANSPORT] = 1;
	l.base[CAT_IE] = 10;
	l.count[CAT_IE] = 2;
	l.base[CAT_DRIVE] = 500;
	l.count[CAT_DRIVE] = 2;
	l.base[CAT_STORAGE] = 1000;
	l.count[CAT_STORAGE] = 4;
	struct cat_drive d[2] = {{.lun = 1, .serial = "D1"}, {.lun = 2, .serial = "D2"}};
	cr_assert_eq(cat_library_create(C, &l, d, 2), 0);
}

static void new_tape(struct cat_tape *t, const char *barcode)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->barcode, sizeof(t->barcode), "%s", barcode);
	strcpy(t->media, "LTO-8");
	t->capacity = 1000000;
}

static int create(const char *barcode)
{
	struct cat_tape t;
	new_tape(&t, barcode);
	return cat_tape_create(C, &t, 1, "test", NULL);
}

static int sql_int(const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int v = -1;
	cr_assert_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			v = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	return v;
}

static int sql_exec(const char *sql)
{
	sqlite3 *db;
	cr_assert_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL);
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_close(db);
	return rc;
}

TestSuite(catalog, .init = setup, .fini = teardown);

Test(catalog, new_catalog_is_migrated_to_the_latest_schema_in_wal_mode)
{
	cr_assert_eq(cat_schema_version(C), 8);
	cr_assert_eq(sql_int("PRAGMA user_version"), 8);
	sqlite3 *db;
	sqlite3_stmt *st;
	cr_assert_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
	cr_assert_str_eq((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	sqlite3_close(db);
	struct cat_library l;
	cr_assert_eq(cat_library_get(C, &l), -ENOENT);
}

Test(catalog, reopening_keeps_the_schema_and_data)
{
	make_library();
	cr_assert_eq(create("AAA001L8"), 0);
	cat_close(C);
	cr_assert_eq(cat_open(dbpath, &C), 0);
	struct cat_tape t;
	cr_assert_eq(cat_tape_get(C, "AAA001L8", &t), 0);
	cr_assert_eq(t.state, CAT_CREATING);
	cr_assert_str_eq(t.location, "slot:1");
}

/* Whether this process holds a POSIX lock on path: a child asks with
 * F_GETLK for a write lock on the whole file (locks are per process, so
 * only another process sees them). */
static bool held_by_this_process(const char *path)
{
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int fd = open(path, O_RDWR | O_CLOEXEC);
		struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
		_exit(fd >= 0 && fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK ? 0 : 1);
	}
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* vtld opens the catalog once for the library and then again for the
 * uploader, ops and key jobs. Opening another connection must leave the
 * first one's SQLite locks in place: cat_open closed its own descriptors
 * of the files, and any close drops every POSIX lock of the process on the
 * file, so another process (the tests' sqlite3 reader, an operator's)
 * took the -shm for its own, reset it and vtld died of SIGBUS. */
Test(catalog, opening_another_connection_keeps_the_first_ones_locks)
{
	make_library(); /* a write: the -wal and -shm exist, C holds the -shm */
	char shm[320];
	snprintf(shm, sizeof(shm), "%s-shm", dbpath);
	cr_assert(held_by_this_process(shm), "the first connection holds no lock on %s", shm);
	struct cat *c2;
	cr_assert_eq(cat_open(dbpath, &c2), 0);
	cr_assert(held_by_this_process(shm), "opening a second connection dropped the locks on %s",
		  shm);
	cat_close(c2);
	cr_assert(held_by_this_process(shm), "closing the second connection dropped them");
	/* Still a working catalog for a reader and for C. */
	cr_assert_eq(sql_int("SELECT count(*) FROM tapes"), 0);
	cr_assert_eq(create("LCK001L8"), 0);
	cr_assert_eq(sql_int("SELECT count(*) FROM tapes"), 1);
}

Test(catalog, a_newer_schema_is_refused)
{
	cat_close(C);
	C = NULL;
	cr_assert_eq(sql_exec("PRAGMA user_version = 99"), SQLITE_OK);
	cr_assert_eq(cat_open(dbpath, &C), -EPROTO);
}

Test(catalog, library_layout_round_trips)
{
	make_library();
	struct cat_library l;
	cr_assert_eq(cat_library_get(C, &l), 0);
	cr_assert_str_eq(l.product, "L700");
	cr_assert_eq(l.base[CAT_DRIVE], 500);
	cr_assert_eq(l.count[CAT_STORAGE], 4);
	struct cat_drive *d;
	size_t n;
	cr_assert_eq(cat_drives(C, &d, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert_eq(d[1].address, 501);
	cr_assert_eq(d[1].ordinal, 2);
	cr_assert_str_eq(d[1].serial, "D2");
	free(d);
	uint16_t a;
	cr_assert_eq(cat_element_find(C, CAT_IE, 2, &a), 0);
	cr_assert_eq(a, 11);
	cr_assert_eq(cat_element_find(C, CAT_IE, 3, &a), -ENOENT);
}

Test(catalog, new_tapes_take_free_storage_slots_in_order)
{
	make_library();
	struct cat_tape t[3];
	new_tape(&t[0], "AAA001L8");
	new_tape(&t[1], "AAA002L8");
	new_tape(&t[2], "AAA003L8");
	cr_assert_eq(cat_tape_create(C, t, 3, "test", NULL), 0);
	cr_assert_eq(t[0].element, 1000);
	cr_assert_eq(t[2].element, 1002);
	cr_assert_eq(sql_int("SELECT count(*) FROM events"), 3);
}

Test(catalog, duplicate_barcode_changes_nothing)
{
	make_library();
	cr_assert_eq(create("AAA001L8"), 0);
	struct cat_tape t[2];
	new_tape(&t[0], "AAA002L8");
	new_tape(&t[1], "AAA001L8");
	size_t bad = 99;
	cr_assert_eq(cat_tape_create(C, t, 2, "test", &bad), -EEXIST);
	cr_assert_eq(bad, 1);
	cr_assert_eq(sql_int("SELECT count(*) FROM tapes"), 1);
	cr_assert_eq(sql_int("SELECT count(*) FROM events"), 1);
}

Test(catalog, full_library_changes_nothing)
{
	make_library();
	struct cat_tape t[5];
	char bc[5][17];
	for (int i = 0; i < 5; i++) {
		snprintf(bc[i], 17, "AAA%03dL8", i);
		new_tape(&t[i], bc[i]);
	}
	cr_assert_eq(cat_tape_create(C, t, 5, "test", NULL), -ENOSPC);
	cr_assert_eq(sql_int("SELECT count(*) FROM tapes"), 0);
	cr_assert_eq(cat_tape_create(C, t, 4, "test", NULL), 0);
	cr_assert_eq(create("BBB001L8"), -ENOSPC);
}

Test(catalog, deleted_barcode_is_never_reused)
{
	make_library();
	cr_assert_eq(create("AAA001L8"), 0);
	struct cat_change ch = {.from = CAT_CREATING,
				.to = CAT_DELETED,
				.to_none = true,
				.write_protect = -1,
				.cause = "test"};
	cr_assert_eq(cat_tape_change(C, "AAA001L8", &ch), 0);
	struct cat_tape t;
	cr_assert_eq(cat_tape_get(C, "AAA001L8", &t), 0);
	cr_assert_eq(t.state, CAT_DELETED);
	cr_assert(!t.in_library);
	cr_assert_eq(create("AAA001L8"), -EEXIST);
	/* The tombstone is hidden from the normal list. */
	struct cat_tape *list;
	size_t n;
	cr_assert_eq(cat_tape_list(C, -1, false, &list, &n), 0);
	cr_assert_eq(n, 0);
	free(list);
	cr_assert_eq(cat_tape_list(C, CAT_DELETED, false, &list, &n), 0);
	cr_assert_eq(n, 1);
	free(list);
}

/* A list of one state is asked by that state alone (the recovery at
 * start asks for CREATING and DELETED in a library of 10,000): it holds
 * that state's tapes only, in barcode order, DELETED ones when asked by
 * name; the list of every state hides them unless asked. */
Test(catalog, a_list_of_one_state_holds_that_state_in_barcode_order)
{
	make_library();
	cr_assert_eq(create("AAA003L8"), 0);
	cr_assert_eq(create("AAA002L8"), 0);
	cr_assert_eq(create("AAA001L8"), 0);
	cr_assert_eq(create("AAA004L8"), 0);
	struct cat_change del = {.from = CAT_CREATING,
				 .to = CAT_DELETED,
				 .to_none = true,
				 .write_protect = -1,
				 .cause = "test"};
	cr_assert_eq(cat_tape_change(C, "AAA002L8", &del), 0);
	struct cat_change done = {.from = CAT_CREATING,
				  .to = CAT_AVAILABLE,
				  .keep_element = true,
				  .write_protect = -1,
				  .cause = "test"};
	cr_assert_eq(cat_tape_change(C, "AAA004L8", &done), 0);
	struct cat_tape *list;
	size_t n;
	cr_assert_eq(cat_tape_list(C, CAT_CREATING, false, &list, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(list[0].barcode, "AAA001L8");
	cr_assert_str_eq(list[1].barcode, "AAA003L8");
	cr_assert_eq(list[0].state, CAT_CREATING);
	cr_assert(list[0].in_library && list[0].kind == CAT_STORAGE, "joined with its element");
	free(list);
	cr_assert_eq(cat_tape_list(C, CAT_DELETED, false, &list, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(list[0].barcode, "AAA002L8");
	free(list);
	cr_assert_eq(cat_tape_list(C, CAT_AVAILABLE, true, &list, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(list[0].barcode, "AAA004L8");
	free(list);
	cr_assert_eq(cat_tape_list(C, -1, false, &list, &n), 0);
	cr_assert_eq(n, 3, "every state but DELETED");
	free(list);
	cr_assert_eq(cat_tape_list(C, -1, true, &list, &n), 0);
	cr_assert_eq(n, 4);
	cr_assert_str_eq(list[1].barcode, "AAA002L8");
	free(list);
}

/* The check of the media after start lists the tapes that have a medium
 * only, by barcode, with their state: not a blank tape never loaded, not
 * a tombstone, not a creation under way. */
Test(catalog, the_tapes_with_a_medium_are_listed_for_the_check_after_start)
{
	make_library();
	const char *bcs[] = {"MED004L8", "MED002L8", "MED001L8", "MED003L8"};
	for (size_t i = 0; i < 4; i++) {
		struct cat_tape t;
		new_tape(&t, bcs[i]);
		t.unmade = true;
		cr_assert_eq(cat_tape_create(C, &t, 1, "test", NULL), 0);
	}
	struct cat_change done = {.from = CAT_CREATING,
				  .to = CAT_AVAILABLE,
				  .keep_element = true,
				  .write_protect = -1,
				  .cause = "test"};
	cr_assert_eq(cat_tape_change(C, "MED001L8", &done), 0);
	cr_assert_eq(cat_tape_change(C, "MED004L8", &done), 0);
	cr_assert_eq(cat_tape_change(C, "MED002L8", &done), 0);
	cr_assert_eq(cat_tape_set_made(C, "MED004L8"), 0);
	cr_assert_eq(cat_tape_set_made(C, "MED001L8"), 0);
	cr_assert_eq(cat_tape_set_made(C, "MED003L8"), 0); /* still CREATING */
	struct cat_tape_medium *v;
	size_t n;
	cr_assert_eq(cat_tape_media(C, &v, &n), 0);
	cr_assert_eq(n, 2, "MED002L8 is blank, MED003L8 being created");
	cr_assert_str_eq(v[0].barcode, "MED001L8");
	cr_assert_str_eq(v[1].barcode, "MED004L8");
	cr_assert_eq(v[0].state, CAT_AVAILABLE);
	free(v);
}

/* The start-up warning of a changer whose software takes barcodes of 8
 * characters at most finds the longer ones by a query of their own: how
 * many, the first ones in barcode order, never a tombstone. */
Test(catalog, the_barcodes_longer_than_a_changer_takes_are_counted_and_the_first_named)
{
	make_library(); /* four slots */
	const char *bcs[] = {"LONG0003L8", "SHORT1L8", "LONG0001L8", "GONE0001L8"};
	for (size_t i = 0; i < 4; i++)
		cr_assert_eq(create(bcs[i]), 0, "%s", bcs[i]);
	struct cat_change gone = {.from = CAT_CREATING,
				  .to = CAT_DELETED,
				  .to_none = true,
				  .write_protect = -1,
				  .cause = "test"};
	cr_assert_eq(cat_tape_change(C, "GONE0001L8", &gone), 0);
	char first[1][CAT_BARCODE_MAX + 1];
	size_t found = 99;
	cr_assert_eq(cat_long_barcodes(C, 8, first, 1, &found), 0);
	cr_assert_eq(found, 2, "the tombstone and the 8-character barcode are not counted");
	cr_assert_str_eq(first[0], "LONG0001L8");
	cr_assert_eq(cat_long_barcodes(C, 10, first, 1, &found), 0);
	cr_assert_eq(found, 0);
}

/* The inventory (`vtlctl library show`) says of every element what
 * cat_elements says: address, kind, ordinal, and the barcode and state of
 * the tape in it. */
Test(catalog, the_inventory_says_what_the_elements_say)
{
	make_library();
	cr_assert_eq(create("INV001L8"), 0);
	cr_assert_eq(create("INV002L8"), 0);
	struct cat_change done = {.from = CAT_CREATING,
				  .to = CAT_AVAILABLE,
				  .keep_element = true,
				  .write_protect = -1,
				  .cause = "test"};
	cr_assert_eq(cat_tape_change(C, "INV002L8", &done), 0);
	struct cat_element *els;
	struct cat_inventory_entry *inv;
	size_t n, m;
	cr_assert_eq(cat_elements(C, &els, &n), 0);
	cr_assert_eq(cat_inventory(C, &inv, &m), 0);
	cr_assert_eq(m, n);
	cr_assert_eq(n, 1 + 2 + 2 + 4, "picker, ports, drives, slots");
	size_t full = 0;
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(inv[i].address, els[i].address);
		cr_assert_eq(inv[i].kind, els[i].kind);
		cr_assert_eq(inv[i].ordinal, els[i].ordinal);
		cr_assert_eq(inv[i].full, els[i].full, "element %u", els[i].address);
		if (!els[i].full)
			continue;
		full++;
		cr_assert_str_eq(inv[i].barcode, els[i].tape.barcode);
		cr_assert_eq(inv[i].state, els[i].tape.state);
	}
	cr_assert_eq(full, 2);
	free(els);
	free(inv);
}

Test(catalog, a_move_is_one_transaction_with_its_event)
{
	make_library();
	cr_assert_eq(create("AAA001L8"), 0);
	struct cat_change ch = {.from = CAT_CREATING,
				.check_element = true,
				.at = 1000,
				.to = CAT_AVAILABLE,
				.dest = 500,
				.write_protect = -1,
				.cause = "load"};
	cr_assert_eq(cat_tape_change(C, "AAA001L8", &ch), 0);
	struct cat_tape t;
	cr_assert_eq(cat_tape_get(C, "AAA001L8", &t), 0);
	cr_assert_str_eq(t.location, "drive:1");
	cr_assert(t.has_source);
	cr_assert_eq(t.source, 1000);
	struct cat_event *ev;
	size_t n;
	cr_assert_eq(cat_events(C, "AAA001L8", 0, &ev, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(ev[1].from_state, "CREATING");
	cr_assert_str_eq(ev[1].to_state, "AVAILABLE");
	cr_assert_str_eq(ev[1].from_loc, "slot:1");
	cr_assert_str_eq(ev[1].to_loc, "drive:1");
	cr_assert_str_eq(ev[1].cause, "load");
	free(ev);
}

/* The change `tape create` records for each new medium. */
static int formatted(const char *barcode, uint16_t at)
{
	struct cat_change ch = {.from = CAT_CREATING,
				.check_element = true,
				.at = at,
				.to = CAT_AVAILABLE,
				.keep_element = true,
				.write_protect = -1,
				.cause = "medium formatted"};
	return cat_tape_change(C, barcode, &ch);
}

Test(catalog, a_batch_commits_together_and_a_failed_change_undoes_only_itself)
{
	make_library();
	cr_assert_eq(create("AAA001L8"), 0);
	cr_assert_eq(create("AAA002L8"), 0);
	cr_assert_eq(create("AAA003L8"), 0);
	cr_assert_eq(cat_batch_begin(C), 0);
	cr_assert_eq(cat_batch_begin(C), -EBUSY);
	cr_assert_eq(formatted("AAA001L8", 1000), 0);
	cr_assert_eq(formatted("AAA002L8", 1003), -ESTALE); /* not where it is */
	cr_assert_eq(formatted("AAA003L8", 1002), 0);
	/* Nothing is visible to another connection before the commit. */
	cr_assert_eq(sql_int("SELECT count(*) FROM tapes WHERE state = 'AVAILABLE'"), 0);
	cr_assert_eq(cat_batch_end(C, true), 0);
	cr_assert_eq(sql_int("SELECT count(*) FROM tapes WHERE state = 'AVAILABLE'"), 2);
	struct cat_tape t;
	cr_assert_eq(cat_tape_get(C, "AAA002L8", &t), 0);
	cr_assert_eq(t.state, CAT_CREATING);
	cr_assert_eq(sql_int("SELECT count(*) FROM events"), 5);
	cr_assert_eq(cat_batch_end(C, true), -EINVAL);
	/* Ordinary transactions again after it. */
	cr_assert_eq(formatted("AAA002L8", 1001), 0);
	cr_assert_eq(sql_int("SELECT count(*) FROM tapes WHERE state = 'AVAILABLE'"), 3);
}

Test(catalog, a_batch_rolled_back_changes_nothing)
{
	make_library();
	cr_assert_eq(create("AAA001L8"), 0);
	cr_assert_eq(cat_batch_begin(C), 0);
	cr_assert_eq(formatted("AAA001L8", 1000), 0);
	cr_assert_eq(create("AAA002L8"), 0);
	cr_assert_eq(cat_batch_end(C, false), 0);
	cr_assert_eq(sql_int("SELECT count(*) FROM tapes"), 1);
	cr_assert_eq(sql_int("SELECT count(*) FROM tapes WHERE state = 'CREATING'"), 1);
	cr_assert_eq(sql_int("SELECT count(*) FROM events"), 1);
}

Test(catalog, many_tapes_take_the_free_slots_in_order_in_one_call)
{
	make_library();
	cr_assert_eq(create("AAA001L8"), 0);
	struct cat_tape t[3];
	new_tape(&t[0], "BBB001L8");
	new_tape(&t[1], "BBB002L8");
	new_tape(&t[2], "BBB003L8");
	cr_assert_eq(cat_tape_create(C, t, 3, "test", NULL), 0);
	cr_assert_eq(t[0].element, 1001);
	cr_assert_eq(t[1].element, 1002);
	cr_assert_eq(t[2].element, 1003);
	cr_assert_eq(t[2].ordinal, 4);
	cr_assert_str_eq(t[2].location, "slot:4");
	cr_assert_eq(sql_int("SELECT count(DISTINCT element) FROM tapes"), 4);
}

Test(catalog, stale_expectations_and_full_destinations_change_nothing)
{
	make_library();
	cr_assert_eq(create("AAA001L8"), 0);
	cr_assert_eq(create("AAA002L8"), 0);
	struct cat_change ch = {.from = CAT_AVAILABLE,
				.to = CAT_AVAILABLE,
				.dest = 1002,
				.write_protect = -1,
				.cause = "x"};
	cr_assert_eq(cat_tape_change(C, "AAA001L8", &ch), -ESTALE, "wrong state");
	ch.from = CAT_CREATING;
	ch.check_element = true;
	ch.at = 1003;
	cr_assert_eq(cat_tape_change(C, "AAA001L8", &ch), -ESTALE, "wrong place");
	ch.at = 1000;
	ch.dest = 1001;
	cr_assert_eq(cat_tape_change(C, "AAA001L8", &ch), -EBUSY, "destination full");
	cr_assert_eq(cat_tape_change(C, "NOPE1L8", &ch), -ENOENT);
	cr_assert_eq(sql_int("SELECT count(*) FROM events"), 2);
}

Test(catalog, an_available_tape_must_be_somewhere)
{
	make_library();
	cr_assert_eq(create("AAA001L8"), 0);
	struct cat_change ch = {.from = CAT_CREATING,
				.to = CAT_AVAILABLE,
				.to_none = true,
				.write_protect = -1,
				.cause = "x"};
	cr_assert_eq(cat_tape_change(C, "AAA001L8", &ch), -EINVAL);
}

Test(catalog, sql_constraints_keep_one_tape_per_element_and_one_element_per_tape)
{
	make_library();
	cr_assert_eq(create("AAA001L8"), 0);
	cr_assert_eq(create("AAA002L8"), 0);
	/* Even raw SQL cannot put two tapes in one element... */
	cr_assert_neq(sql_exec("UPDATE tapes SET element = 1000 WHERE barcode = 'AAA002L8'"),
		      SQLITE_OK);
	/* ...nor a tape in an element that does not exist. */
	cr_assert_neq(sql_exec("UPDATE tapes SET element = 4242 WHERE barcode = 'AAA002L8'"),
		      SQLITE_OK);
	/* ...nor reuse a barcode. */
	cr_assert_neq(sql_exec("INSERT INTO tapes (barcode, media, capacity, state, created, "
			       "changed) VALUES ('AAA001L8','LTO-8',1,'ARCHIVED',0,0)"),
		      SQLITE_OK);
}

/* The catalog keeps its statements prepared (cat_prepare): each call still
 * answers from the rows as they are, with nothing bound by the last one. */
Test(catalog, kept_statements_answer_each_call_afresh)
{
	make_library();
	struct cat_tape t;
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(create("AAA001L8"), i ? -EEXIST : 0, "round %d", i);
		cr_assert_eq(cat_tape_get(C, "AAA001L8", &t), 0);
		cr_assert_eq(cat_tape_get(C, "NOPE01L8", &t), -ENOENT, "no barcode left bound");
	}
	cr_assert_eq(t.state, CAT_CREATING);
	cr_assert_eq(formatted("AAA001L8", 1000), 0);
	cr_assert_eq(cat_tape_get(C, "AAA001L8", &t), 0);
	cr_assert_eq(t.state, CAT_AVAILABLE, "the change is seen by the kept statement");
	cr_assert_eq(create("AAA002L8"), 0, "a failed insert left its statement usable");
	struct cat_tape *v;
	size_t n;
	cr_assert_eq(cat_tape_list(C, (int)CAT_CREATING, false, &v, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(v[0].barcode, "AAA002L8");
	free(v);
	cr_assert_eq(cat_tape_list(C, -1, false, &v, &n), 0);
	cr_assert_eq(n, 2, "no state left bound");
	free(v);
}

/* A statement used again while it is still out (the same query inside
 * itself) gets one of its own; both step, and the kept one is handed out
 * again once given back. */
Test(catalog, a_statement_nested_in_itself_gets_its_own)
{
	static const char sql[] = "SELECT count(*) FROM elements";
	sqlite3_stmt *a, *b, *c;
	make_library();
	cr_assert_eq(cat_prepare(C, sql, &a), SQLITE_OK);
	cr_assert_eq(cat_prepare(C, sql, &b), SQLITE_OK);
	cr_assert_neq(a, b);
	cr_assert_eq(sqlite3_step(a), SQLITE_ROW);
	cr_assert_eq(sqlite3_step(b), SQLITE_ROW);
	cr_assert_eq(sqlite3_column_int(a, 0), 9);
	cr_assert_eq(sqlite3_column_int(b, 0), 9);
	cat_release(C, b);
	cat_release(C, a);
	cr_assert_eq(cat_prepare(C, sql, &c), SQLITE_OK);
	cr_assert_eq(c, a, "the kept one again");
	cr_assert_eq(sqlite3_step(c), SQLITE_ROW, "reset when given back");
	cat_release(C, c);
}

/* Closing finalizes the kept statements: SQLite closes the connection for
 * real, and the last connection's close checkpoints and removes the WAL
 * file (SQLite, "Write-Ahead Logging"), which a connection left open by an
 * unfinalized statement would not. */
Test(catalog, closing_finalizes_the_kept_statements)
{
	make_library();
	cr_assert_eq(create("AAA001L8"), 0);
	struct cat_tape t;
	cr_assert_eq(cat_tape_get(C, "AAA001L8", &t), 0);
	char wal[320];
	snprintf(wal, sizeof(wal), "%s-wal", dbpath);
	cr_assert_eq(access(wal, F_OK), 0, "a WAL file while open");
	cat_close(C);
	C = NULL;
	cr_assert_eq(access(wal, F_OK), -1, "no WAL file after the close");
	cr_assert_eq(errno, ENOENT);
}

Test(catalog, events_limit_returns_the_newest)
{
	make_library();
	cr_assert_eq(create("AAA001L8"), 0);
	cr_assert_eq(create("AAA002L8"), 0);
	cr_assert_eq(create("AAA003L8"), 0);
	struct cat_event *ev;
	size_t n;
	cr_assert_eq(cat_events(C, NULL, 2, &ev, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(ev[0].barcode, "AAA002L8");
	cr_assert_str_eq(ev[1].barcode, "AAA003L8");
	free(ev);
}

/* An event's cause may quote text from outside (an object store's path or
 * answer): it is stored escaped (util/escape.h), so no reader of the
 * events (vtlctl, a log) meets a control or invalid UTF-8. */
Test(catalog, an_event_cause_with_outside_text_is_stored_escaped)
{
	make_library();
	struct cat_tape t;
	new_tape(&t, "AAA001L8");
	cr_assert_eq(cat_tape_create(C, &t, 1, "made\n2026-01-01 00:00:00.000 x\x1b[31m\xff", NULL),
		     0);
	struct cat_change ch = {.from = CAT_CREATING,
				.keep_element = true,
				.to = CAT_AVAILABLE,
				.write_protect = -1,
				.cause = "moved\r\xc2\x9b\xc3\xa9"};
	cr_assert_eq(cat_tape_change(C, "AAA001L8", &ch), 0);
	cr_expect_eq(sql_int("SELECT count(*) FROM events WHERE cause = "
			     "'made\\x0a2026-01-01 00:00:00.000 x\\x1b[31m\\xff'"),
		     1);
	cr_expect_eq(sql_int("SELECT count(*) FROM events WHERE instr(cause, char(10)) OR "
			     "instr(cause, char(13)) OR instr(cause, char(27))"),
		     0);
	struct cat_event *ev;
	size_t n;
	cr_assert_eq(cat_events(C, "AAA001L8", 0, &ev, &n), 0);
	cr_assert_eq(n, 2);
	cr_expect_str_eq(ev[0].cause, "made\\x0a2026-01-01 00:00:00.000 x\\x1b[31m\\xff");
	cr_expect_str_eq(ev[1].cause, "moved\\x0d\\u009b\xc3\xa9");
	free(ev);
}

/* A cause longer than struct cat_event's field is cut between two
 * characters, and a row written raw (by an older vtld) is read escaped. */
Test(catalog, an_event_cause_is_read_back_whole_characters_and_escaped)
{
	make_library();
	char cause[301] = "";
	for (int i = 0; i < 100; i++)
		strcat(cause, "\xc3\xa9"); /* 200 bytes */
	struct cat_tape t;
	new_tape(&t, "AAA001L8");
	cr_assert_eq(cat_tape_create(C, &t, 1, cause, NULL), 0);
	cr_assert_eq(create("AAA002L8"), 0);
	cr_assert_eq(sql_exec("UPDATE events SET cause = 'raw' || char(10) || 'line' || "
			      "char(27) WHERE tape = (SELECT id FROM tapes WHERE barcode = "
			      "'AAA002L8')"),
		     SQLITE_OK);
	struct cat_event *ev;
	size_t n;
	cr_assert_eq(cat_events(C, NULL, 0, &ev, &n), 0);
	cr_assert_eq(n, 2);
	size_t len = strlen(ev[0].cause);
	cr_expect_eq(len, sizeof(ev[0].cause) - 2, "63 whole characters of 2 bytes");
	cr_expect_eq(memcmp(ev[0].cause, cause, len), 0);
	cr_expect_str_eq(ev[1].cause, "raw\\x0aline\\x1b");
	free(ev);
}

/* ---- Crash during moves ------------------------------------------------- */

enum { CRASH_TAPES = 3, CRASH_ROUNDS = 25 };

/* The child: moves cartridges round slot -> drive -> (unload) -> slot,
 * slot -> I/E -> slot, and swaps slots with EXCHANGE MEDIUM, forever,
 * through the changer and the drives, as an initiator would. */
static void mover(struct tlib *t, int ready)
{
	struct lib *lib;
	if (lib_open(&t->cfg, &lib, t->err, sizeof(t->err)))
		_exit(3);
	struct scsi_dev *ch = lib_changer(lib);
	const uint64_t nx = 0x55;
	cdb_drain_ua(ch, nx);
	for (size_t d = 0; d < lib_n_drives(lib); d++)
		cdb_drain_ua(lib_drive(lib, d), nx);
	struct tcmd c;
	for (unsigned i = 0;; i++) {
		/* A swap through the picker (EXCHANGE MEDIUM); refused when a
		 * slot is empty, which is fine. */
		uint8_t x[12] = {EXCHANGE_MEDIUM};
		put_be16(x + 4, (uint16_t)(1000 + i % 8));
		put_be16(x + 6, (uint16_t)(1000 + (i + 3) % 8));
		put_be16(x + 8, (uint16_t)(1000 + i % 8));
		run(ch, &c, nx, x, 12, 0);
		struct cat_element *els;
		size_t n;
		if (lib_elements(lib, &els, &n))
			_exit(4);
		for (size_t k = 0; k < n; k++) {
			if (!els[k].full)
				continue;
			uint16_t a = els[k].address;
			if (els[k].kind == CAT_DRIVE) {
				struct scsi_dev *drv = lib_drive(lib, a - 500);
				cdb_drain_ua(drv, nx);
				unload_drive(drv, &c, nx);
				for (uint16_t s = 1000; s < 1008; s++)
					if (move_medium(ch, &c, nx, a, s) == 0)
						break;
			} else if (els[k].kind == CAT_IE) {
				for (uint16_t s = 1000; s < 1008; s++)
					if (move_medium(ch, &c, nx, a, s) == 0)
						break;
			} else if ((i + k) % 3 == 0) {
				move_medium(ch, &c, nx, a, (uint16_t)(10 + (i % 2)));
			} else {
				move_medium(ch, &c, nx, a, (uint16_t)(500 + (i % 2)));
			}
		}
		free(els);
		/* A first pass of moves is done: the kill lands in real work,
		 * however slow the open and the moves (a sanitizer build on a
		 * loaded machine). */
		if (i == 0 && write(ready, "r", 1) != 1)
			_exit(5);
	}
}

/* After a crash: every tape in exactly one element; the changer's report,
 * the catalog and the drives agree. */
static void check_consistent(struct tlib *t)
{
	cr_assert_eq(tlib_open(t), 0, "reopen after crash: %s", t->err);
	struct cat_tape *tapes;
	size_t n;
	cr_assert_eq(lib_tape_list(t->lib, -1, &tapes, &n), 0);
	cr_assert_eq(n, CRASH_TAPES);
	for (size_t i = 0; i < n; i++) {
		cr_assert(tapes[i].in_library, "tape %s is nowhere", tapes[i].barcode);
		cr_assert(tapes[i].state == CAT_AVAILABLE ||
			      tapes[i].state == CAT_IN_TRANSIT_TO_SHELF,
			  "%s is %s", tapes[i].barcode, cat_state_name(tapes[i].state));
	}
	struct scsi_dev *ch = lib_changer(t->lib);
	cdb_drain_ua(ch, 9);
	struct tcmd c;
	cr_assert_eq(res(ch, &c, 9, SMC_ET_ALL, true, false, 0, 0xffff, 65535), 0);
	struct res_desc d[32];
	size_t nd = res_walk(c.buf, c.c.in_len, d, 32);
	size_t seen = 0;
	for (size_t i = 0; i < nd; i++) {
		if (!(d[i].d[2] & 0x01))
			continue;
		char bc[33];
		desc_barcode(&d[i], bc);
		bool found = false;
		for (size_t k = 0; k < n; k++) {
			if (strcmp(tapes[k].barcode, bc) == 0) {
				cr_assert_eq(tapes[k].element, get_be16(d[i].d),
					     "%s: changer and catalog disagree", bc);
				found = true;
			}
		}
		cr_assert(found, "changer reports unknown tape %s", bc);
		seen++;
		if (d[i].type == SMC_ET_DRIVE) {
			char in_drive[17];
			ssc_barcode(lib_drive(t->lib, get_be16(d[i].d) - 500), in_drive);
			cr_assert_str_eq(in_drive, bc, "the drive holds what the catalog says");
		}
	}
	cr_assert_eq(seen, CRASH_TAPES, "each tape reported exactly once");
	for (size_t k = 0; k < lib_n_drives(t->lib); k++) {
		char in_drive[17];
		ssc_barcode(lib_drive(t->lib, k), in_drive);
		if (in_drive[0]) {
			struct cat_tape tp;
			cr_assert_eq(lib_tape_get(t->lib, in_drive, &tp), 0);
			cr_assert_eq(tp.element, 500 + k);
		}
	}
	free(tapes);
	lib_close(t->lib);
	t->lib = NULL;
}

Test(catalog_crash, tape_is_in_exactly_one_place_after_kill_during_moves, .timeout = 120)
{
	struct tlib t;
	memset(&t, 0, sizeof(t));
	tlib_start(&t);
	tlib_create(&t, "CRA001L8");
	tlib_create(&t, "CRA002L8");
	tlib_create(&t, "CRA003L8");
	lib_close(t.lib);
	t.lib = NULL;
	srand((unsigned)time(NULL));
	for (int round = 0; round < CRASH_ROUNDS; round++) {
		int pfd[2];
		cr_assert_eq(pipe(pfd), 0);
		pid_t pid = fork();
		cr_assert_geq(pid, 0);
		if (pid == 0) {
			close(pfd[0]);
			mover(&t, pfd[1]);
		}
		close(pfd[1]);
		/* Every other round the kill may land in lib_open's recovery
		 * too; the others wait until the mover has made its first pass
		 * of moves, so that the kills land in real work however slow
		 * the machine. */
		char r;
		if (round % 2 == 0 && read(pfd[0], &r, 1) != 1)
			cr_assert_fail("the mover did not open the library: %s", t.err);
		close(pfd[0]);
		struct timespec ts = {0, (long)(5 + rand() % 60) * 1000000L};
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		int status;
		waitpid(pid, &status, 0);
		cr_assert(WIFSIGNALED(status), "mover exited by itself: %d", WEXITSTATUS(status));
		check_consistent(&t);
	}
	/* The kills did land in the middle of real work. */
	cr_assert_eq(tlib_open(&t), 0);
	struct cat_event *ev;
	size_t n, moves = 0;
	cr_assert_eq(lib_events(t.lib, NULL, 0, &ev, &n), 0);
	for (size_t i = 0; i < n; i++)
		moves += strncmp(ev[i].cause, "MOVE MEDIUM", 11) == 0;
	free(ev);
	cr_assert_gt(moves, CRASH_ROUNDS, "only %zu moves were made", moves);
	tlib_stop(&t);
}

/* ---- Cleaning cartridges (migration 6) -------------------------------------- */

/* Back to what migration 7 left (a test that drops a table first drops
 * its triggers with it). */
#define DROP_CHANGES                                                                               \
	"DROP TRIGGER tapes_changed_insert; DROP TRIGGER tapes_changed_update;"                    \
	"DROP TRIGGER tapes_record_update; DROP TRIGGER tapes_record_delete;"                      \
	"DROP TRIGGER IF EXISTS pools_record_insert; DROP TRIGGER IF EXISTS pools_record_update;"  \
	"DROP TRIGGER IF EXISTS pools_record_delete; DROP TRIGGER IF EXISTS "                      \
	"autocreate_record_insert;"                                                                \
	"DROP TRIGGER IF EXISTS autocreate_record_update; DROP TRIGGER IF EXISTS "                 \
	"autocreate_record_delete;"                                                                \
	"DROP TRIGGER IF EXISTS tape_keys_record_insert; DROP TRIGGER IF EXISTS "                  \
	"tape_keys_record_update;"                                                                 \
	"DROP TRIGGER IF EXISTS tape_keys_record_delete;"                                          \
	"DROP INDEX tapes_change_seq; ALTER TABLE tapes DROP COLUMN change_seq;"                   \
	"DROP TABLE tape_changes;"

/* Back to what migration 6 left. */
#define DROP_MEDIUM DROP_CHANGES "ALTER TABLE tapes DROP COLUMN medium;"

/* Back to what migration 5 left. */
#define DROP_CLEANING                                                                              \
	DROP_MEDIUM                                                                                \
	"ALTER TABLE tapes DROP COLUMN clean_max; ALTER TABLE tapes DROP COLUMN clean_uses;"

Test(catalog, a_catalog_of_schema_5_gets_cleaning_counts_and_keeps_its_tapes)
{
	make_library();
	cr_assert_eq(create("OLD005L8"), 0);
	cat_close(C);
	C = NULL;
	cr_assert_eq(sql_exec(DROP_CLEANING "PRAGMA user_version = 5"), SQLITE_OK);
	cr_assert_eq(cat_open(dbpath, &C), 0);
	cr_assert_eq(cat_schema_version(C), 8);
	struct cat_tape t;
	cr_assert_eq(cat_tape_get(C, "OLD005L8", &t), 0);
	cr_assert_eq(t.clean_max, 0, "a data cartridge");
	cr_assert_eq(cat_tape_clean_use(C, "OLD005L8"), -ENOENT, "not a cleaning cartridge");
}

Test(catalog, cleaning_uses_count_up_to_the_maximum_and_no_further)
{
	make_library();
	struct cat_tape t;
	new_tape(&t, "CLN001L1");
	t.clean_max = 2;
	cr_assert_eq(cat_tape_create(C, &t, 1, "test", NULL), 0);
	cr_assert_eq(cat_tape_clean_use(C, "CLN001L1"), 0);
	cr_assert_eq(cat_tape_clean_use(C, "CLN001L1"), 0);
	cr_assert_eq(cat_tape_clean_use(C, "CLN001L1"), -ENOENT, "expired");
	cr_assert_eq(cat_tape_get(C, "CLN001L1", &t), 0);
	cr_assert_eq(t.clean_uses, 2);
	cr_assert_eq(t.clean_max, 2);
	cat_close(C);
	cr_assert_eq(cat_open(dbpath, &C), 0);
	cr_assert_eq(cat_tape_get(C, "CLN001L1", &t), 0);
	cr_assert_eq(t.clean_uses, 2, "kept across a reopen");
}

/* ---- Media made at the first load (migration 7) ---------------------------- */

Test(catalog, a_catalog_of_schema_6_keeps_its_tapes_with_their_media_made)
{
	make_library();
	cr_assert_eq(create("OLD006L8"), 0);
	cat_close(C);
	C = NULL;
	cr_assert_eq(sql_exec(DROP_MEDIUM "PRAGMA user_version = 6"), SQLITE_OK);
	cr_assert_eq(cat_open(dbpath, &C), 0);
	cr_assert_eq(cat_schema_version(C), 8);
	struct cat_tape t;
	cr_assert_eq(cat_tape_get(C, "OLD006L8", &t), 0);
	cr_assert_not(t.unmade, "a tape of before the column has its medium");
}

Test(catalog, an_unmade_tape_is_recorded_made_once)
{
	make_library();
	struct cat_tape t;
	new_tape(&t, "LAZY01L8");
	t.unmade = true;
	cr_assert_eq(cat_tape_create(C, &t, 1, "test", NULL), 0);
	cr_assert_eq(cat_tape_get(C, "LAZY01L8", &t), 0);
	cr_assert(t.unmade);
	cr_assert_eq(cat_tape_set_made(C, "LAZY01L8"), 0);
	cat_close(C);
	cr_assert_eq(cat_open(dbpath, &C), 0);
	cr_assert_eq(cat_tape_get(C, "LAZY01L8", &t), 0);
	cr_assert_not(t.unmade, "kept across a reopen");
	cr_assert_eq(cat_tape_set_made(C, "NONE01L8"), -ENOENT);
}

/* ---- Each tape's change number (migration 8) ------------------------------ */

/* The barcodes cat_tape_list_changed gives since `since`, "A,B,". */
static void changed_since(int64_t since, char *out, size_t cap)
{
	struct cat_tape *v;
	size_t n;
	cr_assert_eq(cat_tape_list_changed(C, since, &v, &n), 0);
	out[0] = 0;
	for (size_t i = 0; i < n; i++)
		snprintf(out + strlen(out), cap - strlen(out), "%s,", v[i].barcode);
	free(v);
}

Test(catalog, every_change_of_a_tape_row_is_counted_and_listed_since_the_count_before_it)
{
	char got[256];
	int64_t s0, s1, s2, s3;
	make_library();
	cr_assert_eq(create("CHG001L8"), 0);
	cr_assert_eq(create("CHG002L8"), 0);
	cr_assert_eq(create("CHG003L8"), 0);
	changed_since(0, got, sizeof(got));
	cr_assert_str_eq(got, "CHG001L8,CHG002L8,CHG003L8,");
	cr_assert_eq(formatted("CHG001L8", 1000), 0);
	cr_assert_eq(formatted("CHG002L8", 1001), 0);
	cr_assert_eq(formatted("CHG003L8", 1002), 0);
	cr_assert_eq(cat_tape_changes(C, &s0), 0);
	cr_assert_geq(s0, 6, "three inserts and three changes counted, got %lld", (long long)s0);
	changed_since(s0, got, sizeof(got));
	cr_assert_str_eq(got, "", "nothing changed since");
	/* The bytes written, no event: counted too. */
	cr_assert_eq(cat_tape_set_used(C, "CHG002L8", 4096), 0);
	cr_assert_eq(cat_tape_changes(C, &s1), 0);
	cr_assert_gt(s1, s0);
	changed_since(s0, got, sizeof(got));
	cr_assert_str_eq(got, "CHG002L8,");
	changed_since(s1, got, sizeof(got));
	cr_assert_str_eq(got, "");
	/* Any writer, any statement: another connection's bare UPDATE. */
	cr_assert_eq(sql_exec("UPDATE tapes SET write_protect = 1 WHERE barcode = 'CHG003L8'"),
		     SQLITE_OK);
	changed_since(s1, got, sizeof(got));
	cr_assert_str_eq(got, "CHG003L8,");
	/* A tape in a drive is listed whatever the count. */
	struct cat_change load = {.from = CAT_AVAILABLE,
				  .check_element = true,
				  .at = 1000,
				  .to = CAT_AVAILABLE,
				  .dest = 500,
				  .write_protect = -1,
				  .cause = "load"};
	cr_assert_eq(cat_tape_change(C, "CHG001L8", &load), 0);
	cr_assert_eq(cat_tape_changes(C, &s2), 0);
	changed_since(s2, got, sizeof(got));
	cr_assert_str_eq(got, "CHG001L8,", "in drive 1");
	/* So is a tape on a trip (CREATING here), and the count survives a
	 * reopen: it is in the catalog, not in memory. */
	cr_assert_eq(create("CHG004L8"), 0);
	cat_close(C);
	cr_assert_eq(cat_open(dbpath, &C), 0);
	cr_assert_eq(cat_tape_changes(C, &s3), 0);
	cr_assert_gt(s3, s2);
	changed_since(s3, got, sizeof(got));
	cr_assert_str_eq(got, "CHG001L8,CHG004L8,");
	/* A deleted row does not take the count back. */
	cr_assert_eq(sql_exec("DELETE FROM events WHERE tape = (SELECT id FROM tapes WHERE barcode "
			      "= 'CHG004L8'); DELETE FROM tapes WHERE barcode = 'CHG004L8'"),
		     SQLITE_OK);
	cr_assert_eq(cat_tape_set_used(C, "CHG003L8", 1), 0);
	changed_since(s3, got, sizeof(got));
	cr_assert_str_eq(got, "CHG001L8,CHG003L8,");
}

static int64_t record_changes(void)
{
	int64_t v = -1;
	cr_assert_eq(cat_record_changes(C, &v), 0);
	return v;
}

/* The library record is built again only when this count moves: it must
 * move for everything the record says, and not for the bytes a drive
 * writes. */
Test(catalog, what_the_library_record_says_is_counted_apart_from_the_bytes_written)
{
	make_library();
	int64_t r0 = record_changes();
	cr_assert_eq(create("REC001L8"), 0);
	int64_t r1 = record_changes();
	cr_assert_gt(r1, r0, "a new tape");
	cr_assert_eq(formatted("REC001L8", 1000), 0);
	int64_t r2 = record_changes();
	cr_assert_gt(r2, r1, "its state");
	cr_assert_eq(cat_tape_set_used(C, "REC001L8", 65536), 0);
	cr_assert_eq(record_changes(), r2, "the bytes written say nothing the record says");
	struct cat_pool p = {.name = "Vault-1", .storage_class = "GLACIER"};
	cr_assert_eq(cat_pool_create(C, &p), 0);
	int64_t r3 = record_changes();
	cr_assert_gt(r3, r2, "a pool");
	cr_assert_eq(sql_exec("UPDATE tapes SET pool = 'Vault-1' WHERE barcode = 'REC001L8'"),
		     SQLITE_OK);
	int64_t r4 = record_changes();
	cr_assert_gt(r4, r3, "a tape's pool");
	cr_assert_eq(cat_key_set(C, "REC001L8", "v1:0123456789abcdef:AAAA", "0123456789abcdef"), 0);
	int64_t r5 = record_changes();
	cr_assert_gt(r5, r4, "a tape's key");
	cr_assert_eq(sql_exec("UPDATE tapes SET write_protect = 1 WHERE barcode = 'REC001L8'"),
		     SQLITE_OK);
	cr_assert_eq(record_changes(), r5, "write protection is not in the record");
	cr_assert_eq(sql_exec("INSERT INTO autocreate (prefix, pool, media, minimum, created) "
			      "VALUES ('AUT', 'default', 'LTO-8', 2, 0)"),
		     SQLITE_OK);
	cr_assert_gt(record_changes(), r5, "an automatic creation policy");
}

Test(catalog, a_catalog_of_schema_7_gets_change_numbers_and_keeps_its_tapes)
{
	make_library();
	cr_assert_eq(create("OLD007L8"), 0);
	cat_close(C);
	C = NULL;
	cr_assert_eq(sql_exec(DROP_CHANGES "PRAGMA user_version = 7"), SQLITE_OK);
	cr_assert_eq(cat_open(dbpath, &C), 0);
	cr_assert_eq(cat_schema_version(C), 8);
	int64_t s0, s1;
	cr_assert_eq(cat_tape_changes(C, &s0), 0);
	cr_assert_eq(s0, 0);
	cr_assert_eq(record_changes(), 0);
	char got[64];
	changed_since(0, got, sizeof(got));
	cr_assert_str_eq(got, "OLD007L8,", "CREATING: on a trip");
	cr_assert_eq(formatted("OLD007L8", 1000), 0);
	cr_assert_eq(cat_tape_changes(C, &s1), 0);
	cr_assert_eq(s1, 1);
	changed_since(0, got, sizeof(got));
	cr_assert_str_eq(got, "OLD007L8,");
	changed_since(1, got, sizeof(got));
	cr_assert_str_eq(got, "");
}

/* ---- Tape keys (migration 5) ---------------------------------------------- */

Test(catalog, a_catalog_of_schema_4_gets_the_key_table_and_keeps_its_tapes)
{
	make_library();
	cr_assert_eq(create("KEY001L8"), 0);
	cat_close(C);
	C = NULL;
	cr_assert_eq(sql_exec("DROP TABLE tape_keys; " DROP_CLEANING "PRAGMA user_version = 4"),
		     SQLITE_OK);
	cr_assert_eq(cat_open(dbpath, &C), 0);
	cr_assert_eq(cat_schema_version(C), 8);
	struct cat_key_row r;
	cr_assert_eq(cat_key_get(C, "KEY001L8", &r), -ENOENT);
	cr_assert_eq(cat_key_set(C, "KEY001L8", "v1:0123456789abcdef:AAAA", "0123456789abcdef"), 0);
	cr_assert_eq(cat_key_get(C, "KEY001L8", &r), 0);
	cr_assert_str_eq(r.master_id, "0123456789abcdef");
}

Test(catalog, only_a_deleted_tapes_key_is_shredded)
{
	make_library();
	cr_assert_eq(create("KEY001L8"), 0);
	cr_assert_eq(create("KEY002L8"), 0);
	cr_assert_eq(cat_key_set(C, "KEY001L8", "v1:0123456789abcdef:AAAA", "0123456789abcdef"), 0);
	cr_assert_eq(cat_key_set(C, "KEY002L8", "v1:0123456789abcdef:BBBB", "0123456789abcdef"), 0);
	/* A live tape's key stays whatever the caller asks. */
	cr_assert_eq(cat_key_shred(C, "KEY001L8"), 0);
	struct cat_key_row r;
	cr_assert_eq(cat_key_get(C, "KEY001L8", &r), 0);
	struct cat_change ch = {.from = CAT_CREATING,
				.to = CAT_DELETED,
				.to_none = true,
				.write_protect = -1,
				.cause = "test"};
	cr_assert_eq(cat_tape_change(C, "KEY001L8", &ch), 0);
	cr_assert_eq(cat_key_shred(C, "KEY001L8"), 0);
	cr_assert_eq(cat_key_get(C, "KEY001L8", &r), -ENOENT);
	cr_assert_eq(sql_int("SELECT count(*) FROM tape_keys"), 1);
	/* Again (after a crash), and for barcodes without a key or unknown. */
	cr_assert_eq(cat_key_shred(C, "KEY001L8"), 0);
	cr_assert_eq(cat_key_shred(C, "NOKEY1L8"), 0);
	cr_assert_eq(cat_key_get(C, "KEY002L8", &r), 0);
	cr_assert_str_eq(r.wrapped, "v1:0123456789abcdef:BBBB");
}

/* ---- Pools (migration 3) -------------------------------------------------- */

Test(catalog, a_catalog_of_schema_2_gets_pools_and_keeps_its_tapes)
{
	make_library();
	cr_assert_eq(create("OLD001L8"), 0);
	cat_close(C);
	C = NULL;
	/* Back to what migration 2 left: no pools, no lock columns, no keys. */
	cr_assert_eq(sql_exec("DROP TABLE tape_keys;" DROP_CLEANING
			      "DROP TRIGGER tapes_pool_insert; DROP TRIGGER tapes_pool_update;"
			      "DROP TRIGGER pools_in_use; DROP TABLE autocreate; DROP TABLE pools;"
			      "ALTER TABLE tapes DROP COLUMN lock_mode;"
			      "ALTER TABLE tapes DROP COLUMN retain_until;"
			      "ALTER TABLE upl_tapes DROP COLUMN shelf_class;"
			      "ALTER TABLE upl_tapes DROP COLUMN locked_until;"
			      "PRAGMA user_version = 2"),
		     SQLITE_OK);
	cr_assert_eq(cat_open(dbpath, &C), 0);
	cr_assert_eq(cat_schema_version(C), 8);
	struct cat_tape t;
	cr_assert_eq(cat_tape_get(C, "OLD001L8", &t), 0);
	cr_assert_str_eq(t.pool, "default");
	cr_assert_eq(t.lock, CAT_LOCK_NONE);
	cr_assert_eq(t.retain_until, 0);
	struct cat_pool p;
	cr_assert_eq(cat_pool_get(C, "default", &p), 0);
	cr_assert_eq(p.tapes, 1);
}

Test(catalog, built_in_pools_are_there_and_kept)
{
	struct cat_pool *v;
	size_t n;
	cr_assert_eq(cat_pools(C, &v, &n), 0);
	cr_assert_eq(n, 3);
	cr_assert_str_eq(v[0].name, "DEEP_ARCHIVE");
	cr_assert_str_eq(v[0].storage_class, "DEEP_ARCHIVE");
	cr_assert_str_eq(v[1].name, "GLACIER");
	cr_assert_str_eq(v[2].name, "default");
	cr_assert_str_eq(v[2].storage_class, "");
	for (size_t i = 0; i < n; i++) {
		cr_assert(v[i].builtin);
		cr_assert_eq(v[i].lock, CAT_LOCK_NONE);
		cr_assert_eq(cat_pool_delete(C, v[i].name), -EPERM);
	}
	free(v);
}

Test(catalog, a_pool_round_trips_and_its_settings_are_checked)
{
	struct cat_pool p = {.name = "Vault-7",
			     .storage_class = "GLACIER",
			     .lock = CAT_LOCK_COMPLIANCE,
			     .retention_days = 36500};
	cr_assert_eq(cat_pool_create(C, &p), 0);
	struct cat_pool q;
	cr_assert_eq(cat_pool_get(C, "Vault-7", &q), 0);
	cr_assert_str_eq(q.storage_class, "GLACIER");
	cr_assert_eq(q.lock, CAT_LOCK_COMPLIANCE);
	cr_assert_eq(q.retention_days, 36500);
	cr_assert_not(q.builtin);
	cr_assert_gt(q.created, 0);
	/* Names are unique without case; settings are fixed. */
	struct cat_pool dup = {.name = "VAULT-7"};
	cr_assert_eq(cat_pool_create(C, &dup), -EEXIST);
	struct cat_pool nodays = {.name = "X", .lock = CAT_LOCK_GOVERNANCE};
	cr_assert_eq(cat_pool_create(C, &nodays), -EINVAL);
	struct cat_pool nolock = {.name = "Y", .retention_days = 3};
	cr_assert_eq(cat_pool_create(C, &nolock), -EINVAL);
	struct cat_pool toolong = {
	    .name = "Z", .lock = CAT_LOCK_GOVERNANCE, .retention_days = 36501};
	cr_assert_eq(cat_pool_create(C, &toolong), -EINVAL);
	cr_assert_eq(cat_pool_get(C, "X", &q), -ENOENT);
}

Test(catalog, a_pool_a_live_tape_names_is_kept_and_a_tape_names_a_pool_that_exists)
{
	make_library();
	struct cat_pool p = {.name = "P1"};
	cr_assert_eq(cat_pool_create(C, &p), 0);
	struct cat_tape t;
	new_tape(&t, "PPP001L8");
	snprintf(t.pool, sizeof(t.pool), "P1");
	cr_assert_eq(cat_tape_create(C, &t, 1, "test", NULL), 0);
	cr_assert_eq(cat_pool_delete(C, "P1"), -EBUSY);
	/* The catalog itself refuses a tape of no pool, whoever writes. */
	new_tape(&t, "PPP002L8");
	snprintf(t.pool, sizeof(t.pool), "NOPE");
	cr_assert_neq(cat_tape_create(C, &t, 1, "test", NULL), 0);
	cr_assert_eq(cat_tape_get(C, "PPP002L8", &t), -ENOENT);
	cr_assert_neq(sql_exec("UPDATE tapes SET pool = 'NOPE' WHERE barcode = 'PPP001L8'"),
		      SQLITE_OK);
	/* Once the tape is deleted, the pool may go. */
	struct cat_change del = {.from = CAT_CREATING,
				 .to = CAT_DELETED,
				 .to_none = true,
				 .write_protect = -1,
				 .cause = "test"};
	cr_assert_eq(cat_tape_change(C, "PPP001L8", &del), 0);
	cr_assert_eq(cat_pool_delete(C, "P1"), 0);
	cr_assert_eq(cat_pool_get(C, "P1", &p), -ENOENT);
}

Test(catalog, autocreate_policies_round_trip_and_keep_their_pool)
{
	make_library();
	struct cat_pool p = {.name = "AUTOP"};
	cr_assert_eq(cat_pool_create(C, &p), 0);
	struct cat_autocreate a = {.prefix = "AC", .pool = "AUTOP", .media = "LTO-8", .minimum = 3};
	cr_assert_eq(cat_autocreate_set(C, &a), 0);
	a.minimum = 5; /* set again: replaced */
	cr_assert_eq(cat_autocreate_set(C, &a), 0);
	struct cat_autocreate *v;
	size_t n;
	cr_assert_eq(cat_autocreates(C, &v, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(v[0].pool, "AUTOP");
	cr_assert_eq(v[0].minimum, 5);
	free(v);
	cr_assert_eq(cat_pool_delete(C, "AUTOP"), -EBUSY);
	struct cat_autocreate bad = {
	    .prefix = "BC", .pool = "NOPE", .media = "LTO-8", .minimum = 1};
	cr_assert_neq(cat_autocreate_set(C, &bad), 0);
	bad.minimum = 0;
	snprintf(bad.pool, sizeof(bad.pool), "AUTOP");
	cr_assert_eq(cat_autocreate_set(C, &bad), -EINVAL);
	/* Blank tapes of the prefix and pool in the library. */
	struct cat_tape t;
	new_tape(&t, "AC0001L8");
	snprintf(t.pool, sizeof(t.pool), "AUTOP");
	cr_assert_eq(cat_tape_create(C, &t, 1, "test", NULL), 0);
	struct cat_change ready = {.from = CAT_CREATING,
				   .to = CAT_AVAILABLE,
				   .keep_element = true,
				   .write_protect = -1,
				   .cause = "test"};
	cr_assert_eq(cat_tape_change(C, "AC0001L8", &ready), 0);
	uint32_t blank = 9;
	cr_assert_eq(cat_autocreate_blank(C, &a, &blank), 0);
	cr_assert_eq(blank, 1);
	cr_assert_eq(cat_tape_set_used(C, "AC0001L8", 4096), 0);
	cr_assert_eq(cat_autocreate_blank(C, &a, &blank), 0);
	cr_assert_eq(blank, 0, "a written tape is not blank");
	cr_assert_eq(cat_autocreate_remove(C, "AC"), 0);
	cr_assert_eq(cat_autocreate_remove(C, "AC"), -ENOENT);
}
