/*
 * test_cache_vtld.c - the local cache and disaster recovery end to end
 * (docs/object-store.md, "The cache" and "Disaster recovery"):
 * the real vtld and vtlctl (tests/iscsi/vtld_proc.c), data written and read
 * through a drive with libiscsi, the local-directory object store.
 *
 * Small segments (the test hook VTL_SEGMENT_SIZE) and a small cache_limit
 * let a few tens of MiB show sealing, eviction, read-through and
 * back-pressure. Disaster recovery rebuilds the catalog of an empty data
 * directory from the store, on a running vtld and at start.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <ftw.h>
#include <stdbool.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <iscsi.h>
#include <scsi-lowlevel.h>

#include "s3/store.h"
#include "tests/iscsi/harness.h"
#include "tests/iscsi/vtld_proc.h"
#include "tests/tmpdir.h"

static struct vtld_proc vtl;
static char store_dir[64];

static void stop(void)
{
	vp_stop(&vtl);
	if (store_dir[0]) {
		cr_expect_eq(tmpdir_remove(store_dir), 0);
		store_dir[0] = 0;
	}
	unsetenv("VTL_SEGMENT_SIZE");
	unsetenv("VTL_UPLOAD_PART_DELAY_MS");
	unsetenv("VTL_UPLOAD_PAUSE_FILE");
}

TestSuite(cache_vtld, .fini = stop, .timeout = 180);

#define MB 1048576u

/* Records: a few small ones, then `big` of 1 MiB, then a filemark. */
static const uint32_t sizes[] = {1, 512, 80000, 7, 4096};
enum { NREC = sizeof(sizes) / sizeof(sizes[0]) };

static const struct th_records recs = {sizes, NREC};

static void load(const char *bc, int drive)
{
	char out[8192], args[128];
	snprintf(args, sizeof(args), "tape move %s --to drive:%d", bc, drive);
	vp_ctl_ok(&vtl, args, out, sizeof(out));
}

static void unload(int drive)
{
	char out[8192], args[64];
	snprintf(args, sizeof(args), "drive unload %d", drive);
	vp_ctl_ok(&vtl, args, out, sizeof(out));
}

/* Segment files (.dat) of a tape in the data directory. */
static int local_segments(const char *bc)
{
	char dir[PATH_MAX + 64];
	snprintf(dir, sizeof(dir), "%s/tapes/%s", vtl.dir, bc);
	DIR *d = opendir(dir);
	cr_assert_not_null(d, "%s", dir);
	struct dirent *de;
	int n = 0;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		n += l > 4 && strcmp(de->d_name + l - 4, ".dat") == 0;
	}
	closedir(d);
	return n;
}

/* link_segments = no: the store holds copies, so that evicting a segment
 * frees its space and reading it fetches (a linked segment is neither
 * counted nor evicted: tests/vtl/test_linked_vtld.c). */
#define CACHE_CONFIG                                                                               \
	"[store]\npart_size = 5M\nidle_complete = 1\ncache_limit = 12M\n"                          \
	"link_segments = no\n"

Test(cache_vtld, evicted_segments_come_back_byte_for_byte_through_a_drive)
{
	char out[16384];
	setenv("VTL_SEGMENT_SIZE", "4194304", 1);
	vp_start(&vtl, CACHE_CONFIG);
	vp_ctl_ok(&vtl, "tape create CAC001L8", out, sizeof(out));
	load("CAC001L8", 1);
	struct iscsi_context *iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 1);
	th_records_write(iscsi, 1, &recs, 21, 40); /* 40 MiB: 10 segments of 4 MiB and more */
	th_logout(iscsi);
	unload(1);
	vp_wait_uploaded(&vtl, "CAC001L8");

	/* Uploaded sealed segments leave the cache until it is under 12 MiB. */
	long long used = -1, evicted = 0;
	for (int i = 0; i < 100 && (evicted <= 0 || used > 12 * MB); i++) {
		usleep(100000);
		vp_ctl_ok(&vtl, "--json status", out, sizeof(out));
		used = vp_jint(out, "used_bytes");
		evicted = vp_jint(out, "evicted_segments");
	}
	cr_assert_gt(evicted, 0, "%s", out);
	cr_assert_leq(used, 12 * MB, "%s", out);
	int before = local_segments("CAC001L8");
	cr_assert_lt(before, 10, "%d segment files still local", before);

	/* Read-through: every record, evicted or not, reads back intact. */
	load("CAC001L8", 2);
	iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 2);
	th_records_verify(iscsi, 2, &recs, 21, 40);
	th_logout(iscsi);
	vp_ctl_ok(&vtl, "--json status", out, sizeof(out));
	cr_assert_gt(vp_jint(out, "fetched_segments"), 0, "%s", out);
	cr_assert_geq(vp_jint(out, "fetched_bytes"), (long long)(4 * MB), "%s", out);
	vp_ctl_ok(&vtl, "status", out, sizeof(out));
	cr_assert(strstr(out, "cache evictions"), "%s", out);
	unload(2);
}

/* A read after a LOCATE into an evicted segment costs one ranged read from
 * its record on (ARCHITECTURE.md: "O(log n) plus one ranged read"), not
 * the segment up to it; reading from the start afterwards still brings
 * the whole segment back into the cache. */
Test(cache_vtld, a_locate_into_an_evicted_segment_fetches_from_the_record_on)
{
	char out[16384];
	setenv("VTL_SEGMENT_SIZE", "50331648", 1); /* 48 MiB */
	vp_start(&vtl, CACHE_CONFIG);
	vp_ctl_ok(&vtl, "tape create CAC004L8", out, sizeof(out));
	load("CAC004L8", 1);
	struct iscsi_context *iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 1);
	th_records_write(iscsi, 1, &recs, 41, 100); /* two sealed segments of 48 MiB, and more */
	th_logout(iscsi);
	unload(1);
	vp_wait_uploaded(&vtl, "CAC004L8");
	cr_assert_eq(vp_status_until(&vtl, "evicted_segments", 2, out, sizeof(out)), 2, "%s", out);
	cr_assert_eq(local_segments("CAC004L8"), 1, "only the active segment stays");
	long long active = vp_jint(out, "used_bytes");

	load("CAC004L8", 2);
	iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 2);
	uint8_t *rec = malloc(MB), *back = malloc(MB);
	/* Big records 44 and 45 lie at about 44 MiB of the first segment. */
	th_locate(iscsi, 2, NREC + 44);
	for (uint32_t k = 44; k < 46; k++) {
		th_pattern(rec, MB, 41 + 1000 + k);
		th_read6(iscsi, 2, back, MB);
		cr_assert_arr_eq(rec, back, MB, "big record %u", k);
	}
	vp_ctl_ok(&vtl, "--json status", out, sizeof(out));
	long long fetched = vp_jint(out, "fetched_bytes");
	cr_assert_gt(fetched, 2 * MB, "%s", out);
	cr_assert_leq(fetched, 8 * MB, "reading at 44 MiB fetched %lld bytes of the segment",
		      fetched);
	cr_assert_eq(vp_jint(out, "fetched_segments"), 0, "%s", out);
	/* The cache counts what the .part holds (the bytes fetched), not its
	 * length up to the end of the segment (48 MiB). The fetch goes on to
	 * the segment's end after the reads, so the bound is the whole run
	 * (from 44 MiB to the end, within the 8 MiB checked above), not the
	 * figure of the status before. */
	long long used = vp_status_until(&vtl, "used_bytes", active + 2 * MB, out, sizeof(out));
	cr_assert_geq(used, active + 2 * MB, "%s", out);
	cr_assert_leq(used, active + 8 * MB + 65536, "%s", out); /* + block rounding */

	/* From the start: the first segment's run begins again at byte 0,
	 * and both segments come back whole. */
	th_records_verify(iscsi, 2, &recs, 41, 100);
	th_logout(iscsi);
	/* The reads were served from the fetches' ranges as they arrived; a
	 * segment counts as fetched when its whole fetch has ended, which
	 * may be a moment after the last read (seen under load in CI). */
	cr_assert_eq(vp_status_until(&vtl, "fetched_segments", 2, out, sizeof(out)), 2, "%s", out);
	unload(2);
	free(rec);
	free(back);
}

struct writer {
	struct vtld_proc *p;
	int done;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	struct iscsi_context *iscsi = vp_login(w->p, false);
	th_tur_clear(iscsi, 1);
	th_records_write(iscsi, 1, &recs, 33, 32);
	th_logout(iscsi);
	__atomic_store_n(&w->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

Test(cache_vtld, writes_wait_while_the_cache_is_full_of_unsent_data_then_go_on)
{
	char out[16384];
	setenv("VTL_SEGMENT_SIZE", "4194304", 1);
	setenv("VTL_UPLOAD_PART_DELAY_MS", "700", 1); /* a slow store */
	vp_start(&vtl, CACHE_CONFIG);
	vp_ctl_ok(&vtl, "tape create BPR001L8", out, sizeof(out));
	load("BPR001L8", 1);
	struct writer w = {.p = &vtl};
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, writer_main, &w), 0);
	/* vtlctl status shows the writes waiting and why. */
	bool seen = false;
	char text[16384] = "";
	for (int i = 0; i < 300 && !seen && !__atomic_load_n(&w.done, __ATOMIC_SEQ_CST); i++) {
		usleep(50000);
		vp_ctl_ok(&vtl, "--json status", out, sizeof(out));
		if (vp_jint(out, "writes_waiting") > 0) {
			vp_ctl_ok(&vtl, "status", text, sizeof(text));
			seen = strstr(text, "writes waiting") != NULL;
		}
	}
	cr_assert(seen, "no write waited for the cache; last status: %s", out);
	cr_assert(strstr(text, "not yet in the object store"), "%s", text);
	cr_assert(strstr(text, "BPR001L8"), "%s", text);
	/* Not an error: the writer finishes as uploads make room. */
	pthread_join(th, NULL);
	cr_assert(w.done);
	vp_ctl_ok(&vtl, "--json status", out, sizeof(out));
	cr_assert_eq(vp_jint(out, "writes_waiting"), 0, "%s", out);
	unsetenv("VTL_UPLOAD_PART_DELAY_MS");
	unload(1);
	load("BPR001L8", 2);
	struct iscsi_context *iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 2);
	th_records_verify(iscsi, 2, &recs, 33, 32);
	th_logout(iscsi);
	unload(2);
}

/* What a bucket may hold besides tapes: a prefix without a manifest, and
 * one whose name is no barcode. */
static void put_junk(void)
{
	struct store *st;
	struct store_err se;
	cr_assert_eq(store_local_open(store_dir, &st, &se), 0, "%s", se.msg);
	cr_assert_eq(
	    store_put(st, "tapes/NOMANIFEST1/state", "state=AVAILABLE\n", 16, NULL, NULL, &se), 0,
	    "%s", se.msg);
	cr_assert_eq(store_put(st, "tapes/not-a-tape/readme", "x", 1, NULL, NULL, &se), 0, "%s",
		     se.msg);
	store_close(st);
}

/* After a rebuild: DRA001L8 AVAILABLE in slot 1 and readable, DRB001L8
 * ARCHIVED, and nothing uploaded again. */
static void check_rebuilt(void)
{
	char out[16384];
	vp_ctl_ok(&vtl, "--json tape show DRA001L8", out, sizeof(out));
	cr_assert(strstr(out, "\"AVAILABLE\"") && strstr(out, "\"slot:1\""), "%s", out);
	cr_assert_gt(vp_jint(out, "used_bytes"), 0, "%s", out);
	vp_ctl_ok(&vtl, "--json tape show DRB001L8", out, sizeof(out));
	cr_assert(strstr(out, "\"ARCHIVED\""), "%s", out);
	vp_ctl_ok(&vtl, "events --tape DRA001L8", out, sizeof(out));
	cr_assert(strstr(out, "recovered from the object store"), "%s", out);
	/* The uploader knows what is there: every segment complete. */
	vp_wait_uploaded(&vtl, "DRA001L8");
	vp_ctl_ok(&vtl, "--json status", out, sizeof(out));
	cr_assert_eq(vp_jint(out, "parts_sent"), 0, "%s", out);
	load("DRA001L8", 1);
	struct iscsi_context *iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 1);
	th_records_verify(iscsi, 1, &recs, 51, 9);
	th_logout(iscsi);
	unload(1);
}

/* DRB001L8's tape id in the catalog, for catalog_int. */
#define DRB_ID "(SELECT id FROM tapes WHERE barcode = 'DRB001L8')"

/* sqlite3 on the catalog: the number sql prints first (-1 if none). */
static int catalog_int(const char *sql)
{
	char cmd[PATH_MAX + 1200];
	snprintf(cmd, sizeof(cmd), "sqlite3 %s/catalog.db \"%s\"", vtl.dir, sql);
	FILE *p = popen(cmd, "r");
	int n = -1;
	cr_assert_not_null(p, "%s", cmd);
	if (fscanf(p, "%d", &n) != 1)
		n = -1;
	pclose(p);
	return n;
}

/* Disaster recovery: the data directory is lost; a new vtld on an empty
 * one with the same store gets every tape back with its state and data,
 * with `vtlctl catalog rebuild` while it runs or `vtld --rebuild-catalog`
 * at start. */
Test(cache_vtld, catalog_rebuild_on_an_empty_data_dir_brings_back_states_and_data)
{
	char out[16384], config[256], dir[PATH_MAX + 64], tmp[PATH_MAX + 80];
	tmpdir_make(store_dir, sizeof(store_dir), "drstore");
	snprintf(config, sizeof(config),
		 "[store]\ntype = local\npath = %s\npart_size = 5M\nidle_complete = 1\n"
		 "archive_storage_class = GLACIER\n",
		 store_dir);
	vp_start(&vtl, config);
	vp_ctl_ok(&vtl, "tape create DRA001L8", out, sizeof(out));
	vp_ctl_ok(&vtl, "tape create DRB001L8", out, sizeof(out));
	load("DRA001L8", 1);
	load("DRB001L8", 2);
	struct iscsi_context *iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 1);
	th_tur_clear(iscsi, 2);
	th_records_write(iscsi, 1, &recs, 51, 9);
	th_records_write(iscsi, 2, &recs, 52, 6);
	th_logout(iscsi);
	unload(1);
	unload(2);
	vp_wait_uploaded(&vtl, "DRA001L8");
	vp_ctl_ok(&vtl, "tape archive DRB001L8 --wait", out, sizeof(out));
	vp_stop(&vtl);
	put_junk();

	/* The machine is gone: a new vtld on an empty data directory, and
	 * the catalog rebuilt while it runs. */
	vp_start(&vtl, config);
	vp_ctl_ok(&vtl, "catalog rebuild", out, sizeof(out));
	cr_assert(strstr(out, "DRA001L8          recovered: AVAILABLE in slot:1 (1 segment, "),
		  "%s", out);
	cr_assert(strstr(out, "DRB001L8          recovered: ARCHIVED on the shelf ("), "%s", out);
	cr_assert(strstr(out, "NOMANIFEST1       skipped: no manifest in the store"), "%s", out);
	cr_assert(strstr(out, "not-a-tape        skipped: barcode 'not-a-tape'"), "%s", out);
	cr_assert(strstr(out, "total: 2 recovered, 0 kept, 2 skipped, 0 failed"), "%s", out);
	check_rebuilt();

	/* Again: nothing is recreated, the tapes are kept. */
	vp_ctl_ok(&vtl, "--json catalog rebuild", out, sizeof(out));
	cr_assert_eq(vp_jint(out, "recovered"), 0, "%s", out);
	cr_assert_eq(vp_jint(out, "kept"), 2, "%s", out);
	cr_assert_eq(vp_jint(out, "skipped"), 2, "%s", out);
	cr_assert(strstr(out, "\"result\": \"kept\""), "%s", out);
	cr_assert(strstr(out, "\"reason\": \"known to the catalog\""), "%s", out);

	/* vtld stopped after the tapes were added but before DRA001L8's
	 * medium was put in place and DRB001L8's segments were recorded
	 * (without them its retrieved copy would look like another tape of
	 * the same barcode to the uploader): the next rebuild finishes both. */
	cr_assert_eq(vp_terminate(&vtl), 0);
	snprintf(dir, sizeof(dir), "%s/tapes/DRA001L8", vtl.dir);
	snprintf(tmp, sizeof(tmp), "%s.download", dir);
	cr_assert_eq(rename(dir, tmp), 0, "%s", dir);
	cr_assert_eq(catalog_int("DELETE FROM upl_segments WHERE tape = " DRB_ID
				 "; DELETE FROM upl_tapes WHERE tape = " DRB_ID "; SELECT 0"),
		     0);
	vp_restart(&vtl);
	vp_ctl_ok(&vtl, "catalog rebuild", out, sizeof(out));
	cr_assert(strstr(out, "DRA001L8          recovered: AVAILABLE in slot:1"), "%s", out);
	cr_assert(strstr(out, "DRB001L8          recovered: ARCHIVED on the shelf ("), "%s", out);
	cr_assert(strstr(out, "total: 2 recovered, 0 kept, 2 skipped, 0 failed"), "%s", out);
	cr_assert_gt(catalog_int("SELECT COUNT(*) FROM upl_segments WHERE tape = " DRB_ID), 0);
	check_rebuilt();

	/* At start: vtld --rebuild-catalog on another empty directory. */
	vp_stop(&vtl);
	vp_start_with(&vtl, config, "--rebuild-catalog");
	check_rebuilt();

	/* Deleting an ARCHIVED tape deletes its objects: only with --force. */
	cr_assert_neq(vp_ctl(&vtl, out, sizeof(out), "tape delete DRB001L8"), 0, "%s", out);
	cr_assert(strstr(out, "DRB001L8 is ARCHIVED"), "%s", out);
	cr_assert(strstr(out, "--force"), "%s", out);

	vp_ctl_ok(&vtl, "tape retrieve DRB001L8 --wait", out, sizeof(out));
	vp_ctl_ok(&vtl, "--json tape show DRB001L8", out, sizeof(out));
	cr_assert(strstr(out, "\"RETRIEVED\""), "%s", out);
	load("DRB001L8", 2);
	iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 2);
	th_records_verify(iscsi, 2, &recs, 52, 6);
	th_logout(iscsi);
	/* A restart without the flag keeps what recovery made. */
	vtl.extra[0] = 0;
}

/* Remove a data directory's catalog (and its -wal, -shm). */
static void lose_catalog(void)
{
	static const char *const names[] = {"catalog.db", "catalog.db-wal", "catalog.db-shm"};
	for (size_t i = 0; i < 3; i++) {
		char path[PATH_MAX + 64];
		snprintf(path, sizeof(path), "%s/%s", vtl.dir, names[i]);
		unlink(path);
	}
}

static void load_and_verify(const char *bc, int drive, uint32_t seed, int big)
{
	load(bc, drive);
	struct iscsi_context *iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, drive);
	th_records_verify(iscsi, drive, &recs, seed, big);
	th_logout(iscsi);
	unload(drive);
}

/* The catalog is lost, the media are not: vtld refuses to start a new
 * library over them, --rebuild-catalog brings every tape back with its
 * data from the media, and tape create never formats over a cartridge. */
Test(cache_vtld, a_lost_catalog_is_rebuilt_from_the_media_never_started_afresh)
{
	char out[16384], log[16384], cmd[3 * PATH_MAX];
	const char *config = "[store]\npart_size = 5M\nidle_complete = 1\n";
	vp_start(&vtl, config);
	vp_ctl_ok(&vtl, "tape create DLA001L8 DLB001L8", out, sizeof(out));
	load("DLA001L8", 1);
	load("DLB001L8", 2);
	struct iscsi_context *iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 1);
	th_tur_clear(iscsi, 2);
	th_records_write(iscsi, 1, &recs, 71, 9);
	th_records_write(iscsi, 2, &recs, 72, 2);
	th_logout(iscsi);
	unload(1);
	unload(2);
	vp_wait_uploaded(&vtl, "DLA001L8");
	vp_wait_uploaded(&vtl, "DLB001L8");
	cr_assert_eq(vp_terminate(&vtl), 0);

	lose_catalog();
	int st = vp_start_fails(&vtl, log, sizeof(log));
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) != 0, "status 0x%x; log:\n%s", st, log);
	cr_assert(strstr(log, "holds no library, but"), "%s", log);
	cr_assert(strstr(log, "2 cartridges"), "%s", log);
	cr_assert(strstr(log, "vtld --rebuild-catalog"), "%s", log);
	cr_assert_gt(local_segments("DLA001L8"), 0);

	snprintf(vtl.extra, sizeof(vtl.extra), "--rebuild-catalog");
	vp_restart(&vtl);
	vtl.extra[0] = 0;
	vp_ctl_ok(&vtl, "--json tape show DLA001L8", out, sizeof(out));
	cr_assert(strstr(out, "\"AVAILABLE\""), "%s", out);
	vp_ctl_ok(&vtl, "events --tape DLB001L8", out, sizeof(out));
	cr_assert(strstr(out, "recovered from the local medium"), "%s", out);
	load_and_verify("DLA001L8", 1, 71, 9);
	load_and_verify("DLB001L8", 2, 72, 2);
	/* What the store held is known: nothing is sent again. */
	vp_wait_uploaded(&vtl, "DLA001L8");
	vp_wait_uploaded(&vtl, "DLB001L8");
	vp_ctl_ok(&vtl, "--json status", out, sizeof(out));
	cr_assert_eq(vp_jint(out, "parts_sent"), 0, "%s", out);

	/* A cartridge the catalog does not know is never formatted over. */
	snprintf(cmd, sizeof(cmd), "cp -a %s/tapes/DLB001L8 %s/tapes/DLC001L8", vtl.dir, vtl.dir);
	cr_assert_eq(system(cmd), 0);
	cr_assert_neq(vp_ctl(&vtl, out, sizeof(out), "tape create DLC001L8"), 0, "%s", out);
	cr_assert(strstr(out, "already holds a cartridge DLC001L8"), "%s", out);
	snprintf(cmd, sizeof(cmd), "%s/tapes/DLC001L8/MANIFEST", vtl.dir);
	cr_assert_eq(access(cmd, F_OK), 0);
	cr_assert_neq(vp_ctl(&vtl, out, sizeof(out), "tape show DLC001L8"), 0, "%s", out);
}

/* One flipped byte in a MANIFEST: repaired at start from the records and
 * MANIFEST.prev, said once in the log, and the tape loads and reads. A
 * tape marked IRRECOVERABLE because its medium was missing comes back as
 * soon as the medium is there again. */
Test(cache_vtld, a_damaged_manifest_is_repaired_and_irrecoverable_is_not_frozen)
{
	char out[16384], path[PATH_MAX + 64], away[PATH_MAX + 80];
	vp_start(&vtl, "[store]\npart_size = 5M\nidle_complete = 1\n");
	vp_ctl_ok(&vtl, "tape create DMA001L8", out, sizeof(out));
	load("DMA001L8", 1);
	struct iscsi_context *iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 1);
	th_records_write(iscsi, 1, &recs, 81, 16);
	th_logout(iscsi);
	unload(1);
	vp_wait_uploaded(&vtl, "DMA001L8");
	cr_assert_eq(vp_terminate(&vtl), 0);

	snprintf(path, sizeof(path), "%s/tapes/DMA001L8/MANIFEST", vtl.dir);
	int fd = open(path, O_RDWR);
	cr_assert_geq(fd, 0);
	uint8_t b;
	cr_assert_eq(pread(fd, &b, 1, 70), 1);
	b ^= 0x01;
	cr_assert_eq(pwrite(fd, &b, 1, 70), 1);
	close(fd);

	vp_restart(&vtl);
	load_and_verify("DMA001L8", 1, 81, 16);
	FILE *f = fopen(vtl.log, "r");
	cr_assert_not_null(f);
	char line[2048];
	int said = 0, bad = 0;
	while (fgets(line, sizeof(line), f)) {
		said += strstr(line, "DMA001L8/MANIFEST was damaged") != NULL;
		bad += strstr(line, "Bad message") != NULL;
	}
	fclose(f);
	cr_assert_eq(said, 1, "the repair is logged once");
	cr_assert_eq(bad, 0, "no error left behind");
	snprintf(path, sizeof(path), "%s/tapes/DMA001L8/MANIFEST.damaged", vtl.dir);
	cr_assert_eq(access(path, F_OK), 0);

	/* In a drive at a start that cannot find its medium: IRRECOVERABLE
	 * (the uploader held back, so that the store's copy stays out of
	 * it). Put back, it is what it was, in its drive, and reads. */
	char pause[PATH_MAX + 64];
	snprintf(pause, sizeof(pause), "%s/pause", vtl.dir);
	fd = open(pause, O_CREAT | O_WRONLY, 0600);
	cr_assert_geq(fd, 0);
	close(fd);
	setenv("VTL_UPLOAD_PAUSE_FILE", pause, 1);
	load("DMA001L8", 1);
	cr_assert_eq(vp_terminate(&vtl), 0);
	snprintf(path, sizeof(path), "%s/tapes/DMA001L8", vtl.dir);
	snprintf(away, sizeof(away), "%s/away", vtl.dir);
	cr_assert_eq(rename(path, away), 0);
	vp_restart(&vtl);
	vp_ctl_ok(&vtl, "--json tape show DMA001L8", out, sizeof(out));
	cr_assert(strstr(out, "\"IRRECOVERABLE\""), "%s", out);
	cr_assert_eq(vp_terminate(&vtl), 0);
	cr_assert_eq(rename(away, path), 0);
	vp_restart(&vtl);
	vp_ctl_ok(&vtl, "--json tape show DMA001L8", out, sizeof(out));
	cr_assert(strstr(out, "\"AVAILABLE\"") && strstr(out, "\"drive:1\""), "%s", out);
	iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 1);
	th_records_verify(iscsi, 1, &recs, 81, 16);
	th_logout(iscsi);

	/* Lost for good here, but in the store: it comes back from there,
	 * into its drive, byte for byte; the lost directory's leftovers are
	 * kept aside. */
	cr_assert_eq(vp_terminate(&vtl), 0);
	unlink(pause);
	unsetenv("VTL_UPLOAD_PAUSE_FILE");
	snprintf(away, sizeof(away), "rm -rf %s/tapes/DMA001L8/seg-*", vtl.dir);
	cr_assert_eq(system(away), 0);
	vp_restart(&vtl);
	bool back = false;
	for (int i = 0; i < 600 && !back; i++) {
		vp_ctl_ok(&vtl, "--json tape show DMA001L8", out, sizeof(out));
		back = strstr(out, "\"AVAILABLE\"") != NULL;
		if (!back)
			usleep(100000);
	}
	cr_assert(back && strstr(out, "\"drive:1\""), "%s", out);
	vp_ctl_ok(&vtl, "events --tape DMA001L8", out, sizeof(out));
	cr_assert(strstr(out, "restored from the object store"), "%s", out);
	iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 1);
	th_records_verify(iscsi, 1, &recs, 81, 16);
	th_logout(iscsi);
	snprintf(path, sizeof(path), "%s/tapes", vtl.dir);
	DIR *d = opendir(path);
	cr_assert_not_null(d);
	struct dirent *de;
	bool kept = false;
	while ((de = readdir(d)))
		kept |= strncmp(de->d_name, "DMA001L8.damaged-", 17) == 0;
	closedir(d);
	cr_assert(kept, "the damaged directory is kept aside");
}

/* A walk's findings: how many entries have a group or other permission
 * bit, and the first of them. */
static int walk_bad;
static char walk_found[8192];

static int walk_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)type;
	(void)ftw;
	if (!(sb->st_mode & 077))
		return 0;
	size_t n = strlen(walk_found);
	if (walk_bad++ < 20)
		snprintf(walk_found + n, sizeof(walk_found) - n, "\n  %04o %.300s",
			 (unsigned)(sb->st_mode & 07777), path);
	return 0;
}

static void assert_private(const char *root)
{
	walk_bad = 0;
	walk_found[0] = 0;
	cr_assert_eq(nftw(root, walk_entry, 16, FTW_PHYS), 0, "cannot walk %s", root);
	cr_assert_eq(walk_bad, 0, "%d entries under %s are not private to the user:%s", walk_bad,
		     root, walk_found);
}

/* ARCHITECTURE.md, Security: every file and directory vtld creates is
 * private to its user, whatever the umask. The walk covers the catalog
 * (and SQLite's -wal and -shm, which take the database file's mode), the
 * media, segments fetched back into the cache, the local store and a
 * shelf of its own, created by vtld under a umask that would leave them
 * readable by everyone. */
Test(cache_vtld, everything_vtld_creates_is_private_under_umask_022)
{
	char out[16384], config[512];
	mode_t old = umask(022);
	tmpdir_make(store_dir, sizeof(store_dir), "private");
	snprintf(config, sizeof(config),
		 "[store]\ntype = local\npath = %s/lib\narchive_path = %s/shelf\n"
		 "part_size = 5M\nidle_complete = 1\ncache_limit = 12M\nlink_segments = no\n",
		 store_dir, store_dir);
	setenv("VTL_SEGMENT_SIZE", "4194304", 1);
	vp_start(&vtl, config);
	vp_ctl_ok(&vtl, "tape create PRV001L8", out, sizeof(out));
	vp_ctl_ok(&vtl, "tape create PRV002L8", out, sizeof(out));
	load("PRV001L8", 1);
	struct iscsi_context *iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 1);
	th_records_write(iscsi, 1, &recs, 61, 24); /* 24 MiB: segments evicted past 12 MiB */
	th_logout(iscsi);
	unload(1);
	vp_wait_uploaded(&vtl, "PRV001L8");
	cr_assert_gt(vp_status_until(&vtl, "evicted_segments", 1, out, sizeof(out)), 0, "%s", out);

	/* Read-through: evicted segments come back into the cache. */
	load("PRV001L8", 2);
	iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 2);
	th_records_verify(iscsi, 2, &recs, 61, 24);
	th_logout(iscsi);
	unload(2);
	vp_ctl_ok(&vtl, "--json status", out, sizeof(out));
	cr_assert_gt(vp_jint(out, "fetched_segments"), 0, "%s", out);

	/* The shelf: archived to its own store, retrieved back into the data
	 * directory. */
	load("PRV002L8", 1);
	iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 1);
	th_records_write(iscsi, 1, &recs, 62, 2);
	th_logout(iscsi);
	unload(1);
	vp_ctl_ok(&vtl, "tape archive PRV002L8 --wait", out, sizeof(out));
	vp_ctl_ok(&vtl, "tape retrieve PRV002L8 --wait", out, sizeof(out));

	/* While vtld runs (the -wal and -shm exist, the socket is bound).
	 * The configuration file is the test's own (vtld_proc.c writes it). */
	char conf[PATH_MAX + 16];
	snprintf(conf, sizeof(conf), "%s/vtld.conf", vtl.dir);
	cr_assert_eq(chmod(conf, 0600), 0);
	assert_private(vtl.dir);
	assert_private(store_dir);
	umask(old);
}
