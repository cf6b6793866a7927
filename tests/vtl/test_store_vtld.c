/*
 * test_store_vtld.c - the uploader and the shelf end to end: the
 * real vtld and vtlctl (tests/iscsi/vtld_proc.c), data written through a
 * drive with libiscsi, the local-directory object store opened by the test
 * itself to check what arrived there. The checks of the shelf are those of
 * tests/vtl/test_store_rgw.c too (tests/vtl/shelf_check.c).
 */
#include "config.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <iscsi.h>

#include "tests/iscsi/harness.h"
#include "s3/store.h"
#include "tests/iscsi/vtld_proc.h"
#include "tests/vtl/backlog_check.h"
#include "tests/vtl/shelf_check.h"
#include "tests/tmpdir.h"

static struct vtld_proc vtl;
/* A temporary directory that outlives a data directory (the stores of
 * the shelf tests), or "". */
static char apart_root[64];

static void stop(void)
{
	vp_stop(&vtl);
	if (apart_root[0]) {
		cr_expect_eq(tmpdir_remove(apart_root), 0);
		apart_root[0] = 0;
	}
}

TestSuite(store_vtld, .fini = stop, .timeout = 120);

static const uint32_t sizes[] = {1, 512, 80000, 262144, 1048576, 7, 4096, 100000};
enum { NREC = sizeof(sizes) / sizeof(sizes[0]) };

static const struct th_records recs = {sizes, NREC};

/* This suite's vtld and records for the shelf checks (shelf_check.h); a
 * tape written is read back before it is unloaded. */
static const struct shelf_suite suite = {&vtl, &recs, true};

static int count_keys(void *arg, const struct store_list_entry *e)
{
	(void)e;
	(*(int *)arg)++;
	return 0;
}

static int count_uploads(void *arg, const struct store_upload *u)
{
	(void)u;
	(*(int *)arg)++;
	return 0;
}

static struct store *open_store(void)
{
	char path[PATH_MAX + 16];
	struct store *st;
	snprintf(path, sizeof(path), "%s/store", vtl.dir);
	cr_assert_eq(store_local_open(path, &st, NULL), 0);
	return st;
}

Test(store_vtld, tape_written_through_a_drive_is_in_the_store_archived_and_retrieved_intact)
{
	char out[8192];
	vp_start(&vtl, "[store]\npart_size = 5M\nidle_complete = 1\n"
		       "archive_storage_class = GLACIER\n");
	vp_ctl_ok(&vtl, "tape create STO001L8", out, sizeof(out));
	shelf_write_tape(&suite, "STO001L8", 7, 12);
	vp_wait_uploaded(&vtl, "STO001L8");

	struct store *st = open_store();
	compare_store(&vtl, st, "STO001L8");
	int n = 0;
	struct store_list_opts lo = {.prefix = "tapes/STO001L8/manifest/"};
	cr_assert_eq(store_list(st, &lo, count_keys, &n, NULL), 0);
	cr_assert_eq(n, 1, "one manifest in the store, found %d", n);

	/* The shelf: archive, local copy gone, archive class set. */
	vp_ctl_ok(&vtl, "tape archive STO001L8 --wait", out, sizeof(out));
	vp_ctl_ok(&vtl, "--json tape show STO001L8", out, sizeof(out));
	cr_assert(strstr(out, "\"ARCHIVED\""), "%s", out);
	char dir[PATH_MAX + 64];
	snprintf(dir, sizeof(dir), "%s/tapes/STO001L8", vtl.dir);
	cr_assert_neq(access(dir, F_OK), 0, "local copy of an ARCHIVED tape still there");
	struct store_object_info info;
	cr_assert_eq(store_head(st, "tapes/STO001L8/seg/0000000000000001", &info, NULL), 0);
	cr_assert_str_eq(info.storage_class, "GLACIER");
	vp_ctl_ok(&vtl, "events --tape STO001L8 --json", out, sizeof(out));
	cr_assert(strstr(out, "uploaded and verified"), "%s", out);

	/* Retrieve: read-only in an I/E element, data identical through the drive. */
	vp_ctl_ok(&vtl, "tape retrieve STO001L8 --wait", out, sizeof(out));
	vp_ctl_ok(&vtl, "--json tape show STO001L8", out, sizeof(out));
	cr_assert(strstr(out, "\"RETRIEVED\""), "%s", out);
	vp_ctl_ok(&vtl, "tape move STO001L8 --to drive:2", out, sizeof(out));
	struct iscsi_context *iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 2);
	th_records_verify(iscsi, 2, &recs, 7, 12);
	th_logout(iscsi);
	store_close(st);
}

/* Does the library record in st name barcode? */
static bool record_names(struct store *st, const char *barcode)
{
	static char text[1 << 16];
	size_t got = 0;
	if (store_get(st, "library/record.json", 0, sizeof(text) - 1, text, &got, NULL, NULL))
		return false;
	text[got] = 0;
	return strstr(text, barcode) != NULL;
}

/* A blank tape has no object but its line in the library record; the
 * uploader, quiet once everything is in the store and the record current
 * (vtl/uploader.c), still sees the tape's first load and write, and sends
 * it. */
Test(store_vtld, a_blank_tape_is_in_the_record_and_uploaded_after_its_first_load)
{
	char out[8192];
	vp_start(&vtl, "[store]\npart_size = 5M\nidle_complete = 1\n");
	vp_ctl_ok(&vtl, "tape create QUI001L8 QUI002L8", out, sizeof(out));
	shelf_write_tape(&suite, "QUI001L8", 3, 6);
	vp_wait_uploaded(&vtl, "QUI001L8");
	struct store *st = open_store();
	bool named = false;
	for (int i = 0; i < 300 && !named; i++) {
		named = record_names(st, "QUI002L8");
		if (!named)
			usleep(100000);
	}
	cr_assert(named, "the library record names the blank tape QUI002L8");
	int n = 0;
	struct store_list_opts lo = {.prefix = "tapes/QUI002L8/"};
	cr_assert_eq(store_list(st, &lo, count_keys, &n, NULL), 0);
	cr_assert_eq(n, 0, "no object of a blank tape, found %d", n);
	sleep(2); /* rounds go by: the uploader has nothing left to do */
	shelf_write_tape(&suite, "QUI002L8", 4, 6);
	vp_wait_uploaded(&vtl, "QUI002L8");
	compare_store(&vtl, st, "QUI002L8");
	compare_store(&vtl, st, "QUI001L8");
	store_close(st);
}

Test(store_vtld, kill_9_during_an_upload_resumes_without_resending_finished_parts)
{
	char out[8192];
	setenv("VTL_UPLOAD_PART_DELAY_MS", "400", 1);
	/* One part at a time, as before parallel parts (the next test has four).
	 * Copies (link_segments = no), so that the tape goes up in parts. */
	vp_start(&vtl, "[store]\npart_size = 5M\nparallel_parts = 1\nidle_complete = 1\n"
		       "link_segments = no\n");
	vp_ctl_ok(&vtl, "tape create KIL001L8", out, sizeof(out));
	shelf_write_tape(&suite, "KIL001L8", 11, 40); /* about 42 MiB: 9 parts */
	/* Let a few parts go up, then kill -9 in the middle. */
	cr_assert_geq(vp_status_until(&vtl, "parts_sent", 3, out, sizeof(out)), 3, "%s", out);
	vp_kill(&vtl);
	/* What the catalog recorded before the kill. */
	char cmd[PATH_MAX + 256];
	snprintf(cmd, sizeof(cmd), "sqlite3 %s/catalog.db 'SELECT COUNT(*) FROM upl_parts'",
		 vtl.dir);
	FILE *p = popen(cmd, "r");
	int recorded = -1;
	cr_assert(p && fscanf(p, "%d", &recorded) == 1);
	pclose(p);
	cr_assert_geq(recorded, 2);
	/* A kill between the store's acknowledgement of a part and the
	 * catalog commit: the store has a part the catalog does not. */
	snprintf(cmd, sizeof(cmd),
		 "sqlite3 %s/catalog.db 'DELETE FROM upl_parts WHERE rowid = (SELECT rowid "
		 "FROM upl_parts ORDER BY seg DESC, number DESC LIMIT 1)'",
		 vtl.dir);
	cr_assert_eq(system(cmd), 0);
	recorded--;
	unsetenv("VTL_UPLOAD_PART_DELAY_MS");
	vp_restart(&vtl);
	vp_wait_uploaded(&vtl, "KIL001L8");
	vp_ctl_ok(&vtl, "--json status", out, sizeof(out));
	long long adopted = vp_jint(out, "parts_adopted");
	cr_assert_geq(adopted, 1, "the part the store had was not adopted: %s", out);
	long long after = vp_jint(out, "parts_sent") + adopted;
	/* All parts = ceil(segment / 5 MiB); only the missing ones were sent. */
	char seg[PATH_MAX + 64];
	snprintf(seg, sizeof(seg), "%s/tapes/KIL001L8/seg-0000000000000001.dat", vtl.dir);
	struct stat sb;
	cr_assert_eq(stat(seg, &sb), 0);
	long long total = (sb.st_size + (5 << 20) - 1) / (5 << 20);
	cr_assert_eq(after, total - recorded,
		     "after restart %lld parts sent or adopted; %lld in all, %d recorded before "
		     "the kill",
		     after, total, recorded);
	struct store *st = open_store();
	compare_store(&vtl, st, "KIL001L8");
	int n = 0;
	cr_assert_eq(store_mpu_list(st, "tapes/", count_uploads, &n, NULL), 0);
	cr_assert_eq(n, 0, "%d multipart uploads left in the store", n);
	store_close(st);
}

/* Run a shell command and read the integers it prints; returns how many. */
static int sh_ints(const char *cmd, long long *v, int cap)
{
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p, "%s", cmd);
	int n = 0;
	while (n < cap && fscanf(p, "%lld", &v[n]) == 1)
		n++;
	cr_assert_eq(pclose(p), 0, "%s", cmd);
	return n;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "%s", path);
	size_t cap = 1 << 16, len = 0, got;
	char *b = malloc(cap);
	while ((got = fread(b + len, 1, cap - len - 1, f)) > 0) {
		len += got;
		if (cap - len == 1)
			b = realloc(b, cap *= 2);
	}
	fclose(f);
	b[len] = 0;
	return b;
}

/*
 * With parallel_parts = 4 parts finish out of order, so a kill -9 can leave
 * the catalog holding {1, 4, ...}: the restarted vtld sends exactly the parts
 * it does not record (adopting those the store has), none twice, and the
 * object is the segment byte for byte.
 */
Test(store_vtld, kill_9_with_parts_out_of_order_sends_each_missing_part_once)
{
	char out[8192], cmd[PATH_MAX + 512];
	const char *key = "tapes/OOO001L8/seg/0000000000000001";
	/* Parts held back while the tape is written (however long that
	 * takes, e.g. under ASan), then a kill -9; the restart sends them at
	 * four per second, so the next kill lands mid-upload. */
	setenv("VTL_UPLOAD_PART_DELAY_MS", "600000", 1);
	vp_start(&vtl, "[store]\npart_size = 5M\nparallel_parts = 4\nidle_complete = 1\n"
		       "link_segments = no\n");
	vp_ctl_ok(&vtl, "tape create OOO001L8", out, sizeof(out));
	shelf_write_tape(&suite, "OOO001L8", 23, 80); /* about 82 MiB: 17 parts */
	vp_ctl_ok(&vtl, "--json status", out, sizeof(out));
	cr_assert_eq(vp_jint(out, "parts_sent"), 0, "%s", out);
	vp_kill(&vtl);
	setenv("VTL_UPLOAD_PART_DELAY_MS", "1000", 1);
	vp_restart(&vtl);
	long long sent = 0;
	bool several = false;
	for (int i = 0; i < 300 && sent < 4; i++) {
		usleep(100000);
		vp_ctl_ok(&vtl, "--json status", out, sizeof(out));
		sent = vp_jint(out, "parts_sent");
		several |= strstr(out, "in flight)") != NULL;
	}
	cr_assert_geq(sent, 4, "%s", out);
	cr_assert(several, "status never showed several parts in flight: %s", out);
	vp_kill(&vtl);

	long long rec[64];
	snprintf(cmd, sizeof(cmd),
		 "sqlite3 %s/catalog.db 'SELECT number FROM upl_parts WHERE seg = 1 ORDER BY "
		 "number'",
		 vtl.dir);
	int n = sh_ints(cmd, rec, 64);
	cr_assert_geq(n, 4, "parts recorded before the kill: %d", n);
	char seg[PATH_MAX + 64];
	snprintf(seg, sizeof(seg), "%s/tapes/OOO001L8/seg-0000000000000001.dat", vtl.dir);
	struct stat sb;
	cr_assert_eq(stat(seg, &sb), 0);
	long long total = (sb.st_size + (5 << 20) - 1) / (5 << 20);
	cr_assert_lt(rec[n - 1], total, "the kill came after the last part");
	/* Out of order: rec[2] was in flight at the kill (neither the store
	 * nor the catalog has it) while later parts finished; rec[1] was
	 * acknowledged by the store, the kill came before the catalog commit. */
	char id[256] = "";
	snprintf(cmd, sizeof(cmd),
		 "sqlite3 %s/catalog.db 'SELECT upload_id FROM upl_segments WHERE seg = 1'",
		 vtl.dir);
	FILE *p = popen(cmd, "r");
	cr_assert(p && fgets(id, sizeof(id), p), "%s", cmd);
	pclose(p);
	id[strcspn(id, "\n")] = 0;
	cr_assert(id[0], "no upload in progress after the kill");
	snprintf(cmd, sizeof(cmd), "rm '%s/store/uploads/%s/'%05lld.*", vtl.dir, id, rec[2]);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	snprintf(cmd, sizeof(cmd),
		 "sqlite3 %s/catalog.db 'DELETE FROM upl_parts WHERE seg = 1 AND number IN "
		 "(%lld, %lld)'",
		 vtl.dir, rec[1], rec[2]);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	long long recorded = n - 2;

	unsetenv("VTL_UPLOAD_PART_DELAY_MS");
	vp_restart(&vtl);
	vp_wait_uploaded(&vtl, "OOO001L8");
	vp_ctl_ok(&vtl, "--json status", out, sizeof(out));
	long long adopted = vp_jint(out, "parts_adopted");
	long long after = vp_jint(out, "parts_sent") + adopted;
	cr_assert_eq(after, total - recorded,
		     "after restart %lld parts sent or adopted; %lld in all, %lld recorded: a "
		     "part went twice or not at all (%s)",
		     after, total, recorded, out);
	char *log = read_file(vtl.log), want[256];
	snprintf(want, sizeof(want), "part %lld of %s was in the store already", rec[1], key);
	cr_assert(strstr(log, want), "part %lld not adopted; log:\n%s", rec[1], log);
	snprintf(want, sizeof(want), "part %lld of %s was in the store already", rec[2], key);
	cr_assert_null(strstr(log, want), "part %lld adopted but the store lacked it", rec[2]);
	free(log);
	struct store *st = open_store();
	compare_store(&vtl, st, "OOO001L8");
	int nup = 0;
	cr_assert_eq(store_mpu_list(st, "tapes/", count_uploads, &nup, NULL), 0);
	cr_assert_eq(nup, 0, "%d multipart uploads left in the store", nup);
	store_close(st);
}

struct snap {
	char text[16384];
};

static int snap_cb(void *arg, const struct store_list_entry *e)
{
	struct snap *s = arg;
	size_t n = strlen(s->text);
	snprintf(s->text + n, sizeof(s->text) - n, "%s %" PRIu64 " %s\n", e->key, e->size,
		 e->etag ? e->etag : "");
	return 0;
}

/* Regression: a tape created again with the barcode of a tape that only the
 * store still knows (a lost catalog, a second library on the same bucket)
 * used to be uploaded over it, its manifests deleted. Now the uploader
 * refuses and says why; the store's tape stays byte for byte. */
Test(store_vtld, a_new_tape_never_overwrites_a_store_tape_of_the_same_barcode)
{
	char out[8192], storedir[64], conf[512];
	tmpdir_make(storedir, sizeof(storedir), "shared-store");
	snprintf(conf, sizeof(conf),
		 "[store]\ntype = local\npath = %s\npart_size = 5M\nidle_complete = 1\n", storedir);
	vp_start(&vtl, conf);
	vp_ctl_ok(&vtl, "tape create DUP001L8", out, sizeof(out));
	shelf_write_tape(&suite, "DUP001L8", 3, 2);
	vp_wait_uploaded(&vtl, "DUP001L8");
	vp_stop(&vtl);

	struct store *st;
	cr_assert_eq(store_local_open(storedir, &st, NULL), 0);
	struct snap before = {""}, after = {""};
	struct store_list_opts lo = {.prefix = "tapes/"};
	cr_assert_eq(store_list(st, &lo, snap_cb, &before, NULL), 0);
	cr_assert(strstr(before.text, "tapes/DUP001L8/manifest/"), "%s", before.text);

	/* A new data directory, the same store, the same barcode. */
	vp_start(&vtl, conf);
	vp_ctl_ok(&vtl, "tape create DUP001L8", out, sizeof(out));
	shelf_write_tape(&suite, "DUP001L8", 99, 1);
	bool said = false;
	for (int i = 0; i < 100 && !said; i++) {
		vp_ctl_ok(&vtl, "--json status", out, sizeof(out));
		said = strstr(out, "already holds a tape with this barcode") != NULL;
		if (!said)
			usleep(100000);
	}
	cr_assert(said, "no error about the store's tape DUP001L8: %s", out);
	cr_assert(strstr(out, "catalog rebuild"), "the error names no fix: %s", out);
	/* Every byte of it waits, everywhere an operator looks; the log says
	 * it once, however many rounds pass. */
	struct tape_view t;
	tape_view_read(&vtl, "DUP001L8", &t);
	cr_assert_gt(t.used, 0, "%s", t.json);
	cr_assert_eq(t.pending, t.used, "%s", t.json);
	cr_assert_eq(t.uploaded, 0, "%s", t.json);
	cr_assert(strstr(t.json, "\"upload_held_by\": \"foreign tape\""), "%s", t.json);
	struct backlog_view v;
	backlog_read(&vtl, &v);
	cr_assert_eq(v.backlog, t.used, "%s", v.status);
	cr_assert(strstr(v.status, "\"activity\": \"waiting for a person"), "%s", v.status);
	sleep(2); /* rounds go by */
	cr_assert_eq(log_count(&vtl, "already holds a tape with this barcode"), 1);

	lo.pages = 0;
	cr_assert_eq(store_list(st, &lo, snap_cb, &after, NULL), 0);
	cr_assert_str_eq(after.text, before.text, "the store's tape DUP001L8 changed");
	store_close(st);
	cr_assert_eq(tmpdir_remove(storedir), 0);
}

/* ---- The shelf apart from the library's objects ------------------------- */

/* The library's store in ROOT/library, the shelf in ROOT/vault under
 * shelf/: both outside the data directory, so that a vtld on a new one
 * finds them. Opens both into lib and shelf; the config into conf. */
static void start_apart(char *conf, size_t cap, struct place *lib, struct place *shelf)
{
	tmpdir_make(apart_root, sizeof(apart_root), "apart");
	snprintf(conf, cap,
		 "[store]\ntype = local\npath = %s/library\narchive_path = %s/vault\n"
		 "archive_prefix = shelf/\narchive_storage_class = GLACIER\n"
		 "part_size = 5M\nidle_complete = 1\n",
		 apart_root, apart_root);
	vp_start(&vtl, conf);
	char path[128];
	snprintf(path, sizeof(path), "%s/library", apart_root);
	cr_assert_eq(store_local_open(path, &lib->st, NULL), 0, "%s", path);
	lib->prefix = "";
	snprintf(path, sizeof(path), "%s/vault", apart_root);
	cr_assert_eq(store_local_open(path, &shelf->st, NULL), 0, "%s", path);
	shelf->prefix = "shelf/";
}

Test(store_vtld, shelf_in_another_directory_takes_the_tape_keeps_it_at_retrieval_and_deletes_it)
{
	char conf[512], out[8192];
	struct place lib, shelf;
	struct segs s;
	struct tape_keys shelved, k;
	start_apart(conf, sizeof(conf), &lib, &shelf);
	archive_apart(&suite, "APT001L8", 41, 6, &lib, &shelf, "GLACIER", "shelf/", &s, &shelved);
	retrieve_apart(&suite, "APT001L8", 41, 6, &lib, &shelf, &shelved);

	/* Archived again: the shelf's copy is the same. */
	vp_ctl_ok(&vtl, "tape archive APT001L8 --wait", out, sizeof(out));
	tape_in_state(&vtl, "APT001L8", "ARCHIVED");
	only_on_shelf("APT001L8", &s, &lib, &shelf, "GLACIER", &k);
	cr_assert_str_eq(k.text, shelved.text, "the shelf's keys changed at the second archive");

	/* Deleted: the uploader removes the shelf's objects in the background. */
	vp_ctl_ok(&vtl, "tape delete APT001L8 --force", out, sizeof(out));
	tape_keys(&shelf, "APT001L8", &k);
	for (int i = 0; i < 300 && k.n; i++) {
		usleep(100000);
		tape_keys(&shelf, "APT001L8", &k);
	}
	cr_assert_eq(k.n, 0, "the deleted tape is still on the shelf after 30 s:\n%s", k.text);
	tape_keys(&lib, "APT001L8", &k);
	cr_assert_eq(k.n, 0, "%s", k.text);
	segs_free(&s);
	store_close(lib.st);
	store_close(shelf.st);
}

/* Disaster recovery: a new vtld on an empty data directory with the same
 * [store] finds the tape on the shelf and brings it back. */
Test(store_vtld, catalog_rebuild_finds_a_tape_on_the_shelf_directory_and_retrieves_it)
{
	char conf[512];
	struct place lib, shelf;
	struct segs s;
	struct tape_keys shelved;
	start_apart(conf, sizeof(conf), &lib, &shelf);
	archive_apart(&suite, "APT002L8", 43, 4, &lib, &shelf, "GLACIER", "shelf/", &s, &shelved);
	vp_stop(&vtl);
	vp_start_with(&vtl, conf, "--rebuild-catalog");
	tape_in_state(&vtl, "APT002L8", "ARCHIVED");
	retrieve_apart(&suite, "APT002L8", 43, 4, &lib, &shelf, &shelved);
	segs_free(&s);
	store_close(lib.st);
	store_close(shelf.st);
}

/* ---- Is my data safe? Every byte not in the store counts ----------------- */

/* vtld whose uploader does no round while the file `pause` names exists
 * (test hook VTL_UPLOAD_PAUSE_FILE), the file made: a tape written now is
 * one the uploader has not looked at yet, with no timing to rely on. */
static char pause_file[64];

static void start_paused(void)
{
	snprintf(pause_file, sizeof(pause_file), "/tmp/vtl-pause-XXXXXX");
	int fd = mkstemp(pause_file);
	cr_assert_geq(fd, 0);
	close(fd);
	setenv("VTL_UPLOAD_PAUSE_FILE", pause_file, 1);
	vp_start(&vtl, "[store]\npart_size = 5M\nidle_complete = 1\n");
	unsetenv("VTL_UPLOAD_PAUSE_FILE");
}

static void resume(void)
{
	cr_assert_eq(unlink(pause_file), 0, "%s", pause_file);
}

/* Regression: a tape the uploader had not looked at yet (no catalog row)
 * was missing from the status backlog, which said 0 B while its bytes
 * existed only here. */
Test(store_vtld, a_tape_not_looked_at_yet_counts_every_byte_as_waiting)
{
	char out[16384];
	start_paused();
	vp_ctl_ok(&vtl, "tape create NEW001L8", out, sizeof(out));
	shelf_write_tape(&suite, "NEW001L8", 6, 2);
	struct tape_view t;
	tape_view_read(&vtl, "NEW001L8", &t);
	cr_assert(strstr(t.json, "not looked at yet"), "%s", t.json);
	cr_assert_eq(t.uploaded, 0, "%s", t.json);
	cr_assert_gt(t.used, 2 << 20, "%s", t.json);
	cr_assert_eq(t.pending, t.used, "%s", t.json);
	cr_assert_eq(t.uploads, 2, "its segment and its manifest: %s", t.json);
	struct backlog_view v;
	backlog_read(&vtl, &v);
	cr_assert_eq(v.backlog, t.used, "%s", v.status);
	cr_assert_eq(vp_jint(v.status, "backlog_tapes"), 1, "%s", v.status);
	cr_assert_null(strstr(v.status, "\"activity\": \"idle"), "%s", v.status);
	/* Once it is up, nothing waits, and status says so. */
	resume();
	vp_wait_uploaded(&vtl, "NEW001L8");
	backlog_read(&vtl, &v);
	cr_assert_eq(v.backlog, 0, "%s", v.status);
	tape_view_read(&vtl, "NEW001L8", &t);
	cr_assert_eq(t.uploaded, t.used, "%s", t.json);
	cr_assert_null(strstr(t.json, "upload_wait"), "%s", t.json);
}

/* Regression: a tape whose MANIFEST could not be read was tried twice a
 * second forever, logging "upload of tape X: Bad message" each time. */
Test(store_vtld, a_damaged_manifest_holds_its_tape_with_one_error_naming_the_file)
{
	char out[16384], path[PATH_MAX + 64];
	start_paused();
	vp_ctl_ok(&vtl, "tape create BAD001L8", out, sizeof(out));
	shelf_write_tape(&suite, "BAD001L8", 9, 1);
	struct tape_view t;
	tape_view_read(&vtl, "BAD001L8", &t);
	cr_assert(strstr(t.json, "not looked at yet"), "%s", t.json);
	/* One byte of the manifest changed on the disk: its CRC32C fails. */
	snprintf(path, sizeof(path), "%s/tapes/BAD001L8/MANIFEST", vtl.dir);
	FILE *f = fopen(path, "r+b");
	cr_assert_not_null(f, "%s", path);
	uint8_t good[4096];
	size_t len = fread(good, 1, sizeof(good), f);
	cr_assert_gt(len, 64);
	uint8_t flipped = good[40] ^ 0x20;
	cr_assert_eq(fseek(f, 40, SEEK_SET), 0);
	cr_assert_eq(fwrite(&flipped, 1, 1, f), 1);
	cr_assert_eq(fclose(f), 0);
	resume();

	tape_wait_held(&vtl, "BAD001L8", "local file", 60,
		       "the damaged manifest holds nothing back", &t);
	cr_assert(strstr(t.json, path), "the file is not named: %s", t.json);
	cr_assert_eq(t.uploaded, 0, "%s", t.json);
	cr_assert_eq(t.pending, t.used, "%s", t.json);
	struct backlog_view v;
	backlog_read(&vtl, &v);
	cr_assert_eq(v.backlog, t.used, "%s", v.status);
	cr_assert(strstr(v.status, path), "status does not name the file: %s", v.status);
	sleep(2); /* rounds go by */
	cr_assert_eq(log_count(&vtl, "MANIFEST cannot be read"), 1);

	/* The file restored, the operator asks for a retry: it goes up. */
	f = fopen(path, "r+b");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(good, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
	vp_ctl_ok(&vtl, "store retry", out, sizeof(out));
	vp_wait_uploaded(&vtl, "BAD001L8");
	tape_view_read(&vtl, "BAD001L8", &t);
	cr_assert_null(strstr(t.json, "upload_held_by"), "%s", t.json);
	cr_assert_eq(t.uploaded, t.used, "%s", t.json);
	cr_assert_eq(log_count(&vtl, "tape BAD001L8: the store takes its uploads again"), 1);
}

/* The log of vtld's current run. */
static void log_of(const struct vtld_proc *p, char *buf, size_t cap)
{
	FILE *f = fopen(p->log, "r");
	cr_assert_not_null(f, "%s", p->log);
	size_t n = fread(buf, 1, cap - 1, f);
	buf[n] = 0;
	fclose(f);
}

/* vtld on a new data directory over the local store APART/library. */
static void start_over_record(char *conf, size_t cap)
{
	if (!apart_root[0])
		tmpdir_make(apart_root, sizeof(apart_root), "record");
	snprintf(conf, cap,
		 "[store]\ntype = local\npath = %s/library\npart_size = 5M\nidle_complete = 1\n",
		 apart_root);
	vp_start(&vtl, conf);
}

static struct store *open_apart(void)
{
	char path[128];
	struct store *st;
	snprintf(path, sizeof(path), "%s/library", apart_root);
	cr_assert_eq(store_local_open(path, &st, NULL), 0, "%s", path);
	return st;
}

static void wait_record_names(struct store *st, const char *bc)
{
	bool named = false;
	for (int i = 0; i < 300 && !named; i++) {
		named = record_names(st, bc);
		if (!named)
			usleep(100000);
	}
	cr_assert(named, "the library record names %s", bc);
}

/*
 * A library whose tapes were never loaded leaves nothing in the store but
 * its library record. A new library started over that store is told of
 * them, as of an earlier library's tapes with objects, keeps the record,
 * and vtlctl catalog rebuild brings the blank tapes in.
 */
Test(store_vtld, a_new_library_over_a_record_of_blank_tapes_is_told_of_them)
{
	char conf[512], out[16384];
	static char logbuf[1 << 16];
	start_over_record(conf, sizeof(conf));
	vp_ctl_ok(&vtl, "tape create ERB001L8 ERB002L8", out, sizeof(out));
	struct store *st = open_apart();
	wait_record_names(st, "ERB002L8");
	vp_stop(&vtl); /* the data directory goes: a new library follows */
	int n = 0;
	struct store_list_opts lo = {.prefix = "tapes/"};
	cr_assert_eq(store_list(st, &lo, count_keys, &n, NULL), 0);
	cr_assert_eq(n, 0, "blank tapes have no object, found %d", n);

	vp_start(&vtl, conf);
	log_of(&vtl, logbuf, sizeof(logbuf));
	cr_assert(strstr(logbuf, "the object store holds tapes of an earlier one (its library "
				 "record library/record.json names 2 tapes, 2 never loaded, first "
				 "ERB001L8): bring them into this catalog with vtlctl catalog "
				 "rebuild"),
		  "%s", logbuf);
	vp_ctl_ok(&vtl, "catalog rebuild", out, sizeof(out));
	cr_assert(strstr(out, "ERB001L8") && strstr(out, "ERB002L8") &&
		      strstr(out, "total: 2 recovered"),
		  "%s", out);
	/* Where each came from, not a download that did not happen. */
	cr_assert(strstr(out, "ERB002L8          recovered: AVAILABLE in slot:2 (0 segments, 0 B, "
			      "from the library record (a blank tape, never loaded))"),
		  "%s", out);
	cr_assert_null(strstr(out, "downloaded"), "%s", out);
	vp_ctl_ok(&vtl, "--json tape show ERB002L8", out, sizeof(out));
	cr_assert(strstr(out, "\"AVAILABLE\"") && strstr(out, "\"medium_made\": false"), "%s", out);
	cr_assert(record_names(st, "ERB001L8"), "the earlier library's record was overwritten");
	store_close(st);
}

/*
 * vtld --rebuild-catalog on the local media brings back the tapes never
 * loaded too, from the store's library record; without the record (a store
 * that is not the one the library wrote to, or cannot be read), the report
 * says that blank tapes may be missing and how to get them, and the
 * rebuild from the store adds them later.
 */
Test(store_vtld, a_rebuild_from_the_media_brings_blank_tapes_or_says_they_may_be_missing)
{
	char conf[512], out[16384], rec[256], aside[300], blocker[300], inside[300];
	static char logbuf[1 << 16];
	start_over_record(conf, sizeof(conf));
	vp_ctl_ok(&vtl, "tape create LRB001L8 LRB002L8", out, sizeof(out));
	shelf_write_tape(&suite, "LRB001L8", 5, 2);
	vp_wait_uploaded(&vtl, "LRB001L8");
	struct store *st = open_apart();
	wait_record_names(st, "LRB002L8");
	cr_assert_eq(vp_terminate(&vtl), 0);

	/* The catalog lost; the store and its record there. */
	char cmd[PATH_MAX + 64];
	snprintf(cmd, sizeof(cmd), "rm -f %s/catalog.db*", vtl.dir);
	cr_assert_eq(system(cmd), 0);
	snprintf(vtl.extra, sizeof(vtl.extra), "--rebuild-catalog");
	vp_restart(&vtl);
	vtl.extra[0] = 0;
	vp_ctl_ok(&vtl, "--json tape show LRB002L8", out, sizeof(out));
	cr_assert(strstr(out, "\"AVAILABLE\"") && strstr(out, "\"medium_made\": false"), "%s", out);
	vp_ctl_ok(&vtl, "events --tape LRB001L8", out, sizeof(out));
	cr_assert(strstr(out, "recovered from the local medium"), "%s", out);
	log_of(&vtl, logbuf, sizeof(logbuf));
	cr_assert_null(strstr(logbuf, "may be missing"), "%s", logbuf);
	cr_assert_eq(vp_terminate(&vtl), 0);

	/* Without the record: the local medium comes back, and the log says
	 * what may be missing and the way to it. A directory where the
	 * record's file was keeps the running vtld's own record out too
	 * (the local store's put cannot rename over it). */
	snprintf(rec, sizeof(rec), "%s/library/objects/library@d/record.json", apart_root);
	snprintf(aside, sizeof(aside), "%s.aside", rec);
	snprintf(blocker, sizeof(blocker), "%s.dir", rec);
	cr_assert_eq(rename(rec, aside), 0, "%s", rec);
	cr_assert_eq(mkdir(rec, 0700), 0, "%s", rec);
	snprintf(inside, sizeof(inside), "%s/x", rec);
	cr_assert_eq(mkdir(inside, 0700), 0, "%s", inside);
	cr_assert_eq(system(cmd), 0);
	snprintf(vtl.extra, sizeof(vtl.extra), "--rebuild-catalog");
	vp_restart(&vtl);
	vtl.extra[0] = 0;
	log_of(&vtl, logbuf, sizeof(logbuf));
	cr_assert(strstr(logbuf, "1 recovered, 0 skipped; but the library record "
				 "library/record.json cannot be read (the store holds none): tapes "
				 "never loaded (blank") &&
		      strstr(logbuf, "may be missing from the catalog") &&
		      strstr(logbuf, "run vtlctl catalog rebuild"),
		  "%s", logbuf);
	vp_ctl_ok(&vtl, "--json tape show LRB001L8", out, sizeof(out));
	cr_assert(strstr(out, "\"AVAILABLE\""), "%s", out);
	cr_assert_neq(vp_ctl(&vtl, out, sizeof(out), "tape show LRB002L8"), 0, "%s", out);
	/* vtlctl catalog rebuild says it too, and in its JSON. */
	vp_ctl_ok(&vtl, "catalog rebuild", out, sizeof(out));
	cr_assert(strstr(out, "total: 0 recovered, 1 kept") &&
		      strstr(out, "vtlctl: warning: the library record library/record.json cannot "
				  "be read") &&
		      strstr(out, "run vtlctl catalog rebuild"),
		  "%s", out);
	vp_ctl_ok(&vtl, "catalog rebuild --json", out, sizeof(out));
	cr_assert(strstr(out, "\"warning\": \"the library record"), "%s", out);

	/* The record back: the rebuild from the store adds the blank tape. */
	cr_assert_eq(rename(rec, blocker), 0);
	cr_assert_eq(rename(aside, rec), 0);
	vp_ctl_ok(&vtl, "catalog rebuild", out, sizeof(out));
	cr_assert(strstr(out, "LRB002L8") && strstr(out, "total: 1 recovered, 1 kept"), "%s", out);
	cr_assert_null(strstr(out, "warning"), "%s", out);
	vp_ctl_ok(&vtl, "--json tape show LRB002L8", out, sizeof(out));
	cr_assert(strstr(out, "\"AVAILABLE\"") && strstr(out, "\"medium_made\": false"), "%s", out);
	store_close(st);
}

/*
 * The store's objects under tapes/ cannot be listed (a directory that
 * cannot be opened; an S3 endpoint that refuses is the same to the
 * rebuild): the rebuild still brings back the tapes whose media are on
 * local disk, names the tapes the library record says may be missing,
 * changes nothing of them (neither blank nor gone), and a rebuild once the
 * store answers adds them and records what the store holds of the tapes
 * recovered from local media, which the uploader then takes as its own.
 */
Test(store_vtld,
     a_rebuild_while_the_store_cannot_be_listed_recovers_local_media_and_says_what_is_missing)
{
	char conf[512], out[16384], tapes[200], aside[240], cmd[2 * PATH_MAX + 64];
	static char logbuf[1 << 16];
	start_over_record(conf, sizeof(conf));
	vp_ctl_ok(&vtl, "tape create ULS001L8 ULS002L8 ULS003L8", out, sizeof(out));
	shelf_write_tape(&suite, "ULS001L8", 5, 1);
	shelf_write_tape(&suite, "ULS002L8", 6, 1);
	vp_wait_uploaded(&vtl, "ULS001L8");
	vp_wait_uploaded(&vtl, "ULS002L8");
	struct store *st = open_apart();
	wait_record_names(st, "ULS003L8");
	store_close(st);
	cr_assert_eq(vp_terminate(&vtl), 0);

	/* The catalog lost, ULS002L8's medium too (only the store has it);
	 * the store's tapes/ cannot be opened: a symbolic link to itself. */
	snprintf(cmd, sizeof(cmd), "rm -rf %s/catalog.db* %s/tapes/ULS002L8", vtl.dir, vtl.dir);
	cr_assert_eq(system(cmd), 0);
	snprintf(tapes, sizeof(tapes), "%s/library/objects/tapes@d", apart_root);
	snprintf(aside, sizeof(aside), "%s.aside", tapes);
	cr_assert_eq(rename(tapes, aside), 0, "%s", tapes);
	cr_assert_eq(symlink("tapes@d", tapes), 0, "%s", tapes);

	snprintf(vtl.extra, sizeof(vtl.extra), "--rebuild-catalog");
	vp_restart(&vtl);
	vtl.extra[0] = 0;
	log_of(&vtl, logbuf, sizeof(logbuf));
	cr_assert(strstr(logbuf, "1 recovered, 0 skipped; but the object store could not be "
				 "listed (cannot list tapes/") &&
		      strstr(logbuf, "which ones cannot be known until it is listed: any tape "
				     "whose medium is not on this disk") &&
		      strstr(logbuf, "pool or lock) names 1: ULS003L8") &&
		      strstr(logbuf, "run vtlctl catalog rebuild"),
		  "%s", logbuf);
	vp_ctl_ok(&vtl, "--json tape show ULS001L8", out, sizeof(out));
	cr_assert(strstr(out, "\"AVAILABLE\""), "%s", out);
	/* Neither blank nor gone: not in the catalog at all. */
	cr_assert_neq(vp_ctl(&vtl, out, sizeof(out), "tape show ULS002L8"), 0, "%s", out);
	cr_assert_neq(vp_ctl(&vtl, out, sizeof(out), "tape show ULS003L8"), 0, "%s", out);

	/* vtlctl says it too, in its JSON, and exits 1: not everything is back. */
	cr_assert_neq(vp_ctl(&vtl, out, sizeof(out), "catalog rebuild"), 0, "%s", out);
	cr_assert(strstr(out, "total: 0 recovered, 1 kept") &&
		      strstr(out, "vtlctl: warning: the object store could not be listed") &&
		      strstr(out, "names 1: ULS003L8") &&
		      strstr(out, "vtlctl: the object store could not be listed"),
		  "%s", out);
	cr_assert_neq(vp_ctl(&vtl, out, sizeof(out), "catalog rebuild --json"), 0, "%s", out);
	cr_assert(strstr(out, "\"unlisted\": \"tapes/\"") && strstr(out, "\"may_be_missing\": [") &&
		      strstr(out, "\"ULS003L8\""),
		  "%s", out);

	/* The store back: the rest comes in, ULS001L8 is left as it is but
	 * what the store holds of it is recorded. */
	cr_assert_eq(unlink(tapes), 0);
	cr_assert_eq(rename(aside, tapes), 0);
	vp_ctl_ok(&vtl, "catalog rebuild", out, sizeof(out));
	cr_assert(strstr(out, "total: 2 recovered, 1 kept") &&
		      strstr(out, "ULS001L8          kept: known to the catalog; what the store "
				  "holds of it is recorded now"),
		  "%s", out);
	cr_assert_null(strstr(out, "warning"), "%s", out);
	vp_ctl_ok(&vtl, "--json tape show ULS002L8", out, sizeof(out));
	cr_assert(strstr(out, "\"AVAILABLE\""), "%s", out);
	vp_ctl_ok(&vtl, "--json tape show ULS003L8", out, sizeof(out));
	cr_assert(strstr(out, "\"AVAILABLE\"") && strstr(out, "\"medium_made\": false"), "%s", out);
	vp_ctl_ok(&vtl, "store retry", out, sizeof(out));
	vp_wait_uploaded(&vtl, "ULS001L8");
	vp_ctl_ok(&vtl, "--json tape show ULS001L8", out, sizeof(out));
	cr_assert_null(strstr(out, "upload_held_by"), "%s", out);
}

/* GET http://127.0.0.1:port/path: the body (malloc'd), NULL on failure. */
static char *http_get(unsigned port, const char *path)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_geq(fd, 0);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		close(fd);
		return NULL;
	}
	char req[256];
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
	cr_assert_eq(write(fd, req, (size_t)n), n);
	static char buf[65536];
	size_t got = 0;
	ssize_t k;
	while (got < sizeof(buf) - 1 && (k = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
		got += (size_t)k;
	close(fd);
	buf[got] = 0;
	char *body = strstr(buf, "\r\n\r\n");
	return body ? strdup(body + 4) : NULL;
}

static unsigned metrics_port_of(const struct vtld_proc *p)
{
	static char logbuf[1 << 16];
	log_of(p, logbuf, sizeof(logbuf));
	const char *s = strstr(logbuf, "metrics listening on port ");
	unsigned port = 0;
	cr_assert(s && sscanf(s, "metrics listening on port %u", &port) == 1, "%s", logbuf);
	return port;
}

/*
 * /readyz answers one line, whatever the reason quotes: here the key of
 * another tape's object the store holds under the barcode (so the
 * uploader holds the tape), a key with a newline and a forged answer in
 * it. A probe that records the answer (Kubernetes puts it in an event)
 * gets the newline escaped, not a second line.
 */
Test(store_vtld, readyz_answers_one_line_whatever_the_store_quotes)
{
	char conf[512], out[16384];
	if (!apart_root[0])
		tmpdir_make(apart_root, sizeof(apart_root), "readyz");
	snprintf(conf, sizeof(conf),
		 "[store]\ntype = local\npath = %s/library\npart_size = 5M\nidle_complete = 1\n"
		 "[metrics]\nlisten = 127.0.0.1:0\n",
		 apart_root);
	vp_start(&vtl, conf);
	unsigned port = metrics_port_of(&vtl);
	struct store *st = open_apart();
	cr_assert_eq(store_put(st, "tapes/RDY001L8/x\nready", "x", 1, NULL, NULL, NULL), 0);
	store_close(st);
	vp_ctl_ok(&vtl, "tape create RDY001L8", out, sizeof(out));
	shelf_write_tape(&suite, "RDY001L8", 5, 1);

	char *body = NULL;
	for (int i = 0; i < 300; i++) {
		free(body);
		body = http_get(port, "/readyz");
		if (body && strncmp(body, "degraded: ", 10) == 0)
			break;
		usleep(100000);
	}
	cr_assert(body && strncmp(body, "degraded: ", 10) == 0, "%s", body ? body : "(none)");
	cr_assert(strstr(body, "tapes/RDY001L8/x\\x0aready"), "%s", body);
	cr_assert_eq(strchr(body, '\n'), body + strlen(body) - 1, "more than one line: %s", body);
	free(body);
}

/* ---- Rounds that look at the tapes with work (vtl/uploader.c) ----------- */

/* The uploader's rounds as `vtlctl --json status` gives them. */
struct rounds {
	long long full, partial, last_tapes;
};

static void rounds_read(struct rounds *r, char *out, size_t cap)
{
	vp_ctl_ok(&vtl, "--json status", out, cap);
	const char *at = strstr(out, "\"rounds\"");
	cr_assert_not_null(at, "no rounds in the status: %s", out);
	r->full = vp_jint(at, "full");
	r->partial = vp_jint(at, "partial");
	r->last_tapes = vp_jint(at, "last_tapes");
	cr_assert(r->full >= 0 && r->partial >= 0 && r->last_tapes >= 0, "%s", at);
}

/* vtld whose uploader runs a full round (every tape) at start and after a
 * round that did not go through, but not each minute (the test hook
 * VTL_UPLOAD_FULL_ROUND_MS): what these tests see done was done by the
 * rounds of the tapes with work. */
static void start_rare_full_rounds(const char *config)
{
	setenv("VTL_UPLOAD_FULL_ROUND_MS", "3600000", 1);
	vp_start(&vtl, config);
	unsetenv("VTL_UPLOAD_FULL_ROUND_MS");
}

/* Wait until the first full round is over (it waits for the check of the
 * media after start, docs/design.md "Start-up at scale") and a round with
 * tape bc in a drive looked at `want` tapes. */
static void wait_round_of(long long want, struct rounds *r)
{
	char out[16384];
	for (int i = 0; i < 600; i++) {
		rounds_read(r, out, sizeof(out));
		if (r->full >= 1 && r->last_tapes == want)
			return;
		usleep(100000);
	}
	cr_assert_fail("no round looked at %lld tapes alone in 60 s: %s", want, out);
}

Test(store_vtld, a_tape_archived_while_another_sits_in_a_drive_needs_no_round_of_every_tape)
{
	char out[16384];
	struct rounds r0, r1;
	start_rare_full_rounds("[store]\npart_size = 5M\nidle_complete = 1\n");
	vp_ctl_ok(&vtl, "tape create --prefix BLK --count 20", out, sizeof(out));
	vp_ctl_ok(&vtl, "tape create ARC001L8 DRV001L8", out, sizeof(out));
	shelf_write_tape(&suite, "ARC001L8", 5, 3);
	vp_wait_uploaded(&vtl, "ARC001L8");
	vp_ctl_ok(&vtl, "tape move DRV001L8 --to drive:2", out, sizeof(out));
	/* The tape in the drive keeps every round going, and each looks at
	 * it alone, not at the 22 tapes. */
	wait_round_of(1, &r0);
	vp_ctl_ok(&vtl, "tape archive ARC001L8 --wait", out, sizeof(out));
	vp_ctl_ok(&vtl, "--json tape show ARC001L8", out, sizeof(out));
	cr_assert(strstr(out, "\"ARCHIVED\""), "%s", out);
	char dir[PATH_MAX + 64];
	snprintf(dir, sizeof(dir), "%s/tapes/ARC001L8", vtl.dir);
	cr_assert_neq(access(dir, F_OK), 0, "local copy of an ARCHIVED tape still there");
	rounds_read(&r1, out, sizeof(out));
	cr_assert_eq(r1.full, r0.full, "a full round ran: %s", out);
	cr_assert_gt(r1.partial, r0.partial, "%s", out);
	wait_round_of(1, &r1);
	/* A full round still finds every tape (a `store retry` asks one). */
	vp_ctl_ok(&vtl, "store retry", out, sizeof(out));
	rounds_read(&r1, out, sizeof(out));
	cr_assert_gt(r1.full, r0.full, "%s", out);
}

Test(store_vtld, a_segment_sealed_in_a_drive_goes_up_while_the_tape_stays_loaded)
{
	char out[16384];
	struct rounds r0, r1;
	setenv("VTL_SEGMENT_SIZE", "4194304", 1);
	start_rare_full_rounds("[store]\npart_size = 5M\n");
	unsetenv("VTL_SEGMENT_SIZE");
	vp_ctl_ok(&vtl, "tape create SEA001L8", out, sizeof(out));
	vp_ctl_ok(&vtl, "tape move SEA001L8 --to drive:1", out, sizeof(out));
	wait_round_of(1, &r0);
	struct iscsi_context *iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 1);
	th_records_write(iscsi, 1, &recs, 8, 12); /* about 14 MiB: 4 MiB segments sealed */
	struct store *st = open_store();
	struct store_object_info info;
	bool up = false;
	for (int i = 0; i < 600 && !up; i++) {
		up = store_head(st, "tapes/SEA001L8/seg/0000000000000001", &info, NULL) == 0 &&
		     store_head(st, "tapes/SEA001L8/seg/0000000000000002", &info, NULL) == 0;
		if (!up)
			usleep(100000);
	}
	if (!up) {
		char st_out[8192], log[8192] = "";
		vp_ctl(&vtl, out, sizeof(out), "--json tape show SEA001L8");
		vp_ctl(&vtl, st_out, sizeof(st_out), "--json status");
		FILE *f = fopen(vtl.log, "r");
		if (f) {
			fseek(f, 0, SEEK_END);
			long end = ftell(f);
			fseek(f, end > (long)sizeof(log) - 1 ? end - (long)sizeof(log) + 1 : 0,
			      SEEK_SET);
			log[fread(log, 1, sizeof(log) - 1, f)] = 0;
			fclose(f);
		}
		cr_assert_fail("the sealed segments of a loaded tape are not in the store after "
			       "60 s\n%s\n%s\nlog:\n%s",
			       out, st_out, log);
	}
	rounds_read(&r1, out, sizeof(out));
	cr_assert_eq(r1.full, r0.full, "a full round ran: %s", out);
	/* Still loaded: the rest goes up at the unload. */
	vp_ctl_ok(&vtl, "--json tape show SEA001L8", out, sizeof(out));
	cr_assert(strstr(out, "drive:1"), "%s", out);
	th_logout(iscsi);
	vp_ctl_ok(&vtl, "drive unload 1", out, sizeof(out));
	vp_wait_uploaded(&vtl, "SEA001L8");
	compare_store(&vtl, st, "SEA001L8");
	rounds_read(&r1, out, sizeof(out));
	cr_assert_eq(r1.full, r0.full, "a full round ran: %s", out);
	store_close(st);
}

Test(store_vtld, an_upload_that_failed_is_tried_again_by_the_next_rounds_and_goes_up)
{
	char out[16384], path[PATH_MAX + 64];
	struct rounds r0, r1;
	start_rare_full_rounds("[store]\npart_size = 5M\nidle_complete = 1\n");
	/* A file where the store's directory of the tape's objects goes
	 * (s3/store_local.c names the directory of "tapes/" "tapes@d"):
	 * every put of the tape fails (ENOTDIR), an error that waiting may
	 * cure, as a store down does. */
	snprintf(path, sizeof(path), "%s/store/objects/tapes@d", vtl.dir);
	cr_assert(mkdir(path, 0700) == 0 || errno == EEXIST, "%s", path);
	snprintf(path, sizeof(path), "%s/store/objects/tapes@d/FAI001L8@d", vtl.dir);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "%s", path);
	fclose(f);
	vp_ctl_ok(&vtl, "tape create FAI001L8 DRV002L8", out, sizeof(out));
	vp_ctl_ok(&vtl, "tape move DRV002L8 --to drive:2", out, sizeof(out));
	shelf_write_tape(&suite, "FAI001L8", 4, 2);
	bool failed = false;
	for (int i = 0; i < 600 && !failed; i++) {
		vp_ctl_ok(&vtl, "--json tape show FAI001L8", out, sizeof(out));
		failed = strstr(out, "tried again at the next round after an error") != NULL;
		if (!failed)
			usleep(100000);
	}
	cr_assert(failed, "the upload did not fail: %s", out);
	rounds_read(&r0, out, sizeof(out));
	cr_assert_eq(unlink(path), 0, "%s", path);
	vp_wait_uploaded(&vtl, "FAI001L8");
	struct store *st = open_store();
	compare_store(&vtl, st, "FAI001L8");
	store_close(st);
	rounds_read(&r1, out, sizeof(out));
	cr_assert_eq(r1.full, r0.full, "a full round ran: %s", out);
}
