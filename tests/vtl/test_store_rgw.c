/*
 * test_store_rgw.c - the uploader and the shelf against a real S3 server
 * (issue 7): Ceph's radosgw started by main() with tests/s3/rgw.sh (as
 * tests/s3/test_store.c does), the real vtld configured with [store]
 * type = s3 and its keys in the config file, data written through a drive
 * with libiscsi. What arrives in the bucket is read back by the test with
 * its own S3 client and compared byte for byte.
 *
 * Set RGW_ENDPOINT, RGW_ACCESS_KEY and RGW_SECRET_KEY to use a running
 * server. When radosgw cannot start, the test fails with the reason.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <iscsi.h>
#include <scsi-lowlevel.h>

#include "s3/store.h"
#include "tests/s3/rgw_fixture.h"
#include "tests/iscsi/harness.h"
#include "tests/iscsi/vtld_proc.h"

#define BUCKET "vtl-uploader"

static struct vtld_proc vtl;

static void stop(void)
{
	vp_stop(&vtl);
}

TestSuite(store_rgw_vtld, .fini = stop, .timeout = 120);

#define MB 1048576u
static const uint32_t sizes[] = {1, 512, 80000, 262144, 7, 4096, 100000};
enum { NREC = sizeof(sizes) / sizeof(sizes[0]) };

static void records(struct iscsi_context *iscsi, int lun, uint32_t seed, int big, bool write)
{
	uint8_t *rec = malloc(MB), *back = malloc(MB);
	if (!write)
		th_rewind(iscsi, lun);
	for (uint32_t i = 0; i < NREC + (uint32_t)big; i++) {
		uint32_t len = i < NREC ? sizes[i] : MB;
		th_pattern(rec, len, seed + i);
		if (write) {
			th_write6(iscsi, lun, rec, len);
		} else {
			th_read6(iscsi, lun, back, len);
			cr_assert_arr_eq(rec, back, len, "record %u", i);
		}
	}
	if (write)
		th_filemarks(iscsi, lun, 1);
	free(rec);
	free(back);
}

static struct store *open_rgw(const char *bucket)
{
	const char *why = getenv("VTL_RGW_ERROR");
	if (why)
		cr_assert_fail("radosgw is not available, so this S3 test cannot run: %s", why);
	struct store_s3_config cfg = {.bucket = bucket,
				      .endpoint = getenv("RGW_ENDPOINT"),
				      .region = "us-east-1",
				      .addressing = STORE_S3_PATH,
				      .access_key = getenv("RGW_ACCESS_KEY"),
				      .secret_key = getenv("RGW_SECRET_KEY")};
	struct store *st;
	struct store_err err;
	cr_assert_eq(store_s3_open(&cfg, &st, &err), 0, "%s", err.msg);
	return st;
}

/* The segment files of a tape in the data directory, as the drive wrote
 * them: read while the tape is in the library, since archiving drops them. */
struct segs {
	int n;
	uint64_t id[64];
	size_t len[64];
	uint8_t *data[64];
};

static void segs_read(struct segs *s, const char *bc)
{
	memset(s, 0, sizeof(*s));
	for (uint64_t id = 1; id < 64; id++) {
		char path[PATH_MAX + 128];
		snprintf(path, sizeof(path), "%s/tapes/%s/seg-%016" PRIx64 ".dat", vtl.dir, bc, id);
		int fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		struct stat sb;
		fstat(fd, &sb);
		size_t len = (size_t)sb.st_size;
		uint8_t *a = malloc(len + 1);
		cr_assert_eq(pread(fd, a, len, 0), (ssize_t)len);
		close(fd);
		s->id[s->n] = id;
		s->len[s->n] = len;
		s->data[s->n++] = a;
	}
	cr_assert_gt(s->n, 0, "no local segment of %s", bc);
}

static void segs_free(struct segs *s)
{
	for (int i = 0; i < s->n; i++)
		free(s->data[i]);
	s->n = 0;
}

/* Every segment of s equals its object {prefix}tapes/BC/seg/ID in the
 * bucket up to the segment's length. */
static void segs_in_bucket(const struct segs *s, struct store *st, const char *prefix,
			   const char *bc)
{
	for (int i = 0; i < s->n; i++) {
		char key[256];
		snprintf(key, sizeof(key), "%stapes/%s/seg/%016" PRIx64, prefix, bc, s->id[i]);
		size_t len = s->len[i], got = 0;
		uint8_t *b = malloc(len + 1);
		struct store_object_info info;
		struct store_err err;
		int rc = store_get(st, key, 0, len, b, &got, &info, &err);
		cr_assert_eq(rc, 0, "%s: %s", key, err.msg);
		cr_assert_eq(got, len, "%s: %zu bytes in the bucket, %zu local", key, got, len);
		cr_assert_arr_eq(s->data[i], b, len, "%s differs from the local segment", key);
		free(b);
	}
}

/* Every local segment file equals its object in the bucket. */
static void compare_bucket(struct store *st, const char *bc)
{
	struct segs s;
	segs_read(&s, bc);
	segs_in_bucket(&s, st, "", bc);
	segs_free(&s);
}

Test(store_rgw_vtld, tape_written_through_a_drive_is_in_radosgw_archived_and_retrieved_intact)
{
	char out[8192], config[1024];
	struct store *st = open_rgw(BUCKET);
	snprintf(config, sizeof(config),
		 "[store]\ntype = s3\nendpoint = %s\nbucket = %s\naddressing = path\n"
		 "region = us-east-1\naccess_key_id = %s\nsecret_access_key = %s\n"
		 "part_size = 5M\nidle_complete = 1\narchive_storage_class = GLACIER\n",
		 getenv("RGW_ENDPOINT"), BUCKET, getenv("RGW_ACCESS_KEY"),
		 getenv("RGW_SECRET_KEY"));
	vp_start(&vtl, config);
	vp_ctl_ok(&vtl, "tape create RGW001L8", out, sizeof(out));
	vp_ctl_ok(&vtl, "tape move RGW001L8 --to drive:1", out, sizeof(out));
	struct iscsi_context *iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 1);
	records(iscsi, 1, 77, 12, true); /* about 12.5 MiB: three 5 MiB parts */
	th_logout(iscsi);
	vp_ctl_ok(&vtl, "drive unload 1", out, sizeof(out));
	vp_wait_uploaded(&vtl, "RGW001L8");
	compare_bucket(st, "RGW001L8");
	vp_ctl_ok(&vtl, "status", out, sizeof(out));
	cr_assert(strstr(out, "s3"), "%s", out);
	/* The secret never shows, not even in the log. */
	FILE *f = fopen(vtl.log, "r");
	char log[65536] = "";
	size_t n = f ? fread(log, 1, sizeof(log) - 1, f) : 0;
	log[n] = 0;
	if (f)
		fclose(f);
	cr_assert_null(strstr(log, getenv("RGW_SECRET_KEY")), "the secret is in the log");

	vp_ctl_ok(&vtl, "tape archive RGW001L8 --wait", out, sizeof(out));
	vp_ctl_ok(&vtl, "--json tape show RGW001L8", out, sizeof(out));
	cr_assert(strstr(out, "\"ARCHIVED\""), "%s", out);
	struct store_object_info info;
	struct store_err err;
	cr_assert_eq(store_head(st, "tapes/RGW001L8/seg/0000000000000001", &info, &err), 0, "%s",
		     err.msg);
	cr_assert_str_eq(info.storage_class, "GLACIER");

	vp_ctl_ok(&vtl, "tape retrieve RGW001L8 --wait", out, sizeof(out));
	vp_ctl_ok(&vtl, "--json tape show RGW001L8", out, sizeof(out));
	cr_assert(strstr(out, "\"RETRIEVED\""), "%s", out);
	vp_ctl_ok(&vtl, "tape move RGW001L8 --to drive:2", out, sizeof(out));
	iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 2);
	records(iscsi, 2, 77, 12, false);
	th_logout(iscsi);
	store_close(st);
}

/* ---- The shelf apart from the library's objects ------------------------- */

#define SHELF_BUCKET "vtl-shelf"

/* Where a tape's objects are kept: a bucket and the key prefix in it. */
struct place {
	struct store *st;
	const char *prefix;
};

/* A tape's objects under {prefix}tapes/BC/: their keys, one a line in key
 * order, and how many of each kind. */
struct tape_keys {
	char text[8192];
	int n, seg, manifest, state;
};

static int tape_keys_cb(void *arg, const struct store_list_entry *e)
{
	struct tape_keys *k = arg;
	size_t len = strlen(k->text);
	snprintf(k->text + len, sizeof(k->text) - len, "%s\n", e->key);
	k->n++;
	k->seg += strstr(e->key, "/seg/") != NULL;
	k->manifest += strstr(e->key, "/manifest/") != NULL;
	k->state += strcmp(strrchr(e->key, '/'), "/state") == 0;
	return 0;
}

static void tape_keys(const struct place *pl, const char *bc, struct tape_keys *k)
{
	char prefix[256];
	snprintf(prefix, sizeof(prefix), "%stapes/%s/", pl->prefix, bc);
	memset(k, 0, sizeof(*k));
	struct store_list_opts lo = {.prefix = prefix};
	struct store_err err = {0};
	cr_assert_eq(store_list(pl->st, &lo, tape_keys_cb, k, &err), 0, "%s", err.msg);
}

/* An archived tape is on the shelf alone: nothing under the library's
 * tapes/BC/; on the shelf every segment byte for byte (in class cls unless
 * NULL), one manifest and state=ARCHIVED. The shelf's keys go to *k. */
static void only_on_shelf(const char *bc, const struct segs *s, const struct place *lib,
			  const struct place *shelf, const char *cls, struct tape_keys *k)
{
	struct store_err err = {0};
	tape_keys(lib, bc, k);
	cr_assert_eq(k->n, 0, "the library's bucket still holds %s:\n%s", bc, k->text);
	tape_keys(shelf, bc, k);
	cr_assert_eq(k->seg, s->n, "%d segments on the shelf, %d written:\n%s", k->seg, s->n,
		     k->text);
	cr_assert_eq(k->manifest, 1, "%d manifests on the shelf:\n%s", k->manifest, k->text);
	cr_assert_eq(k->state, 1, "no state object on the shelf:\n%s", k->text);
	segs_in_bucket(s, shelf->st, shelf->prefix, bc);
	for (int i = 0; cls && i < s->n; i++) {
		char key[256];
		struct store_object_info info;
		snprintf(key, sizeof(key), "%stapes/%s/seg/%016" PRIx64, shelf->prefix, bc,
			 s->id[i]);
		cr_assert_eq(store_head(shelf->st, key, &info, &err), 0, "%s", err.msg);
		cr_assert_str_eq(info.storage_class, cls, "%s", key);
	}
	char key[256], state[256];
	size_t got = 0;
	snprintf(key, sizeof(key), "%stapes/%s/state", shelf->prefix, bc);
	cr_assert_eq(store_get(shelf->st, key, 0, sizeof(state) - 1, state, &got, NULL, &err), 0,
		     "%s", err.msg);
	state[got] = 0;
	cr_assert(strstr(state, "state=ARCHIVED"), "%s: %s", key, state);
}

/* WRITE(6) of one 512-byte record answers DATA PROTECT: the medium is
 * write-protected (SSC-4 4.2.14). */
static void write_refused(struct iscsi_context *iscsi, int lun)
{
	uint8_t rec[512] = {0}, cdb[6] = {0x0a, 0, 0, 0x02, 0x00, 0};
	struct scsi_task *t =
	    th_cmd(iscsi, lun, cdb, 6, SCSI_XFER_WRITE, sizeof(rec), rec, sizeof(rec));
	cr_assert_not_null(t, "%s", iscsi_get_error(iscsi));
	cr_assert_eq(t->status, SCSI_STATUS_CHECK_CONDITION, "WRITE(6): status %d", t->status);
	cr_assert_eq(t->sense.key, SCSI_SENSE_DATA_PROTECTION, "WRITE(6): sense %x/%04x",
		     t->sense.key, t->sense.ascq);
	scsi_free_scsi_task(t);
}

static void tape_in_state(const char *bc, const char *state)
{
	char out[8192], args[64], want[32];
	snprintf(args, sizeof(args), "--json tape show %s", bc);
	snprintf(want, sizeof(want), "\"%s\"", state);
	vp_ctl_ok(&vtl, args, out, sizeof(out));
	cr_assert(strstr(out, want), "%s is not %s: %s", bc, state, out);
}

/* vtld on the library's bucket (prefix lib_prefix) with the shelf keys in
 * `shelf_keys`; the config into conf. */
static void start_apart(char *conf, size_t cap, const char *lib_prefix, const char *shelf_keys)
{
	snprintf(conf, cap,
		 "[store]\ntype = s3\nendpoint = %s\nbucket = %s\nprefix = %s\naddressing = path\n"
		 "region = us-east-1\naccess_key_id = %s\nsecret_access_key = %s\n"
		 "part_size = 5M\nidle_complete = 1\n%s",
		 getenv("RGW_ENDPOINT"), BUCKET, lib_prefix, getenv("RGW_ACCESS_KEY"),
		 getenv("RGW_SECRET_KEY"), shelf_keys);
	vp_start(&vtl, conf);
}

/* Create and write a tape, archive it, and check that it went to the
 * shelf alone (only_on_shelf), its local copy gone and an event naming the
 * shelf (`named`). The segments written go to *s, the shelf's keys to *k. */
static void archive_apart(const char *bc, uint32_t seed, int big, const struct place *lib,
			  const struct place *shelf, const char *cls, const char *named,
			  struct segs *s, struct tape_keys *k)
{
	char out[16384], args[128];
	snprintf(args, sizeof(args), "tape create %s", bc);
	vp_ctl_ok(&vtl, args, out, sizeof(out));
	snprintf(args, sizeof(args), "tape move %s --to drive:1", bc);
	vp_ctl_ok(&vtl, args, out, sizeof(out));
	struct iscsi_context *iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 1);
	records(iscsi, 1, seed, big, true);
	th_logout(iscsi);
	vp_ctl_ok(&vtl, "drive unload 1", out, sizeof(out));
	vp_wait_uploaded(&vtl, bc);
	segs_read(s, bc);
	segs_in_bucket(s, lib->st, lib->prefix, bc);
	snprintf(args, sizeof(args), "tape archive %s --wait", bc);
	vp_ctl_ok(&vtl, args, out, sizeof(out));
	tape_in_state(bc, "ARCHIVED");
	only_on_shelf(bc, s, lib, shelf, cls, k);
	char dir[PATH_MAX + 64];
	snprintf(dir, sizeof(dir), "%s/tapes/%s", vtl.dir, bc);
	cr_assert_neq(access(dir, F_OK), 0, "local copy of an ARCHIVED tape still there");
	snprintf(args, sizeof(args), "events --tape %s --json", bc);
	vp_ctl_ok(&vtl, args, out, sizeof(out));
	cr_assert(strstr(out, named), "no event names the shelf %s: %s", named, out);
}

/* Retrieve an archived tape: RETRIEVED, write-protected, its records read
 * back byte for byte through drive 2; the shelf still holds the keys of
 * *shelved, the library's bucket nothing of it. */
static void retrieve_apart(const char *bc, uint32_t seed, int big, const struct place *lib,
			   const struct place *shelf, const struct tape_keys *shelved)
{
	char out[8192], args[128];
	snprintf(args, sizeof(args), "tape retrieve %s --wait", bc);
	vp_ctl_ok(&vtl, args, out, sizeof(out));
	tape_in_state(bc, "RETRIEVED");
	snprintf(args, sizeof(args), "tape move %s --to drive:2", bc);
	vp_ctl_ok(&vtl, args, out, sizeof(out));
	struct iscsi_context *iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 2);
	records(iscsi, 2, seed, big, false);
	write_refused(iscsi, 2);
	th_logout(iscsi);
	vp_ctl_ok(&vtl, "drive unload 2", out, sizeof(out));
	struct tape_keys k;
	tape_keys(shelf, bc, &k);
	cr_assert_str_eq(k.text, shelved->text, "the shelf changed at retrieval");
	tape_keys(lib, bc, &k);
	cr_assert_eq(k.n, 0, "%s is back in the library's bucket:\n%s", bc, k.text);
}

/* archive_bucket: the shelf is another bucket of the same service, under
 * the library's prefix (archive_prefix defaults to it), in GLACIER; a new
 * vtld on an empty data directory finds the tape there (disaster
 * recovery). */
Test(store_rgw_vtld, shelf_in_another_bucket_holds_the_tape_in_glacier_and_a_rebuild_finds_it)
{
	char conf[1024];
	struct store_err err;
	struct place lib = {open_rgw(BUCKET), "lib/"}, shelf = {open_rgw(SHELF_BUCKET), "lib/"};
	cr_assert_eq(store_s3_create_bucket(shelf.st, &err), 0, "%s", err.msg);
	struct segs s;
	struct tape_keys shelved;
	start_apart(conf, sizeof(conf), "lib/",
		    "archive_bucket = " SHELF_BUCKET "\narchive_storage_class = GLACIER\n");
	archive_apart("RGA001L8", 61, 6, &lib, &shelf, "GLACIER", SHELF_BUCKET, &s, &shelved);
	retrieve_apart("RGA001L8", 61, 6, &lib, &shelf, &shelved);

	/* Archived again, then the machine is lost. */
	char out[8192];
	struct tape_keys k;
	vp_ctl_ok(&vtl, "tape archive RGA001L8 --wait", out, sizeof(out));
	only_on_shelf("RGA001L8", &s, &lib, &shelf, "GLACIER", &k);
	cr_assert_str_eq(k.text, shelved.text, "the shelf's keys changed at the second archive");
	vp_stop(&vtl);
	vp_start_with(&vtl, conf, "--rebuild-catalog");
	tape_in_state("RGA001L8", "ARCHIVED");
	retrieve_apart("RGA001L8", 61, 6, &lib, &shelf, &shelved);
	segs_free(&s);
	store_close(lib.st);
	store_close(shelf.st);
}

/* archive_prefix alone: the shelf is the library's own bucket under
 * shelf/, the objects' class unchanged. */
Test(store_rgw_vtld, shelf_under_another_prefix_of_the_bucket_holds_the_tape_until_retrieval)
{
	char conf[1024];
	struct place lib = {open_rgw(BUCKET), ""}, shelf = {lib.st, "shelf/"};
	struct segs s;
	struct tape_keys shelved;
	start_apart(conf, sizeof(conf), "", "archive_prefix = shelf/\n");
	archive_apart("RGP001L8", 67, 6, &lib, &shelf, NULL, "shelf/", &s, &shelved);
	retrieve_apart("RGP001L8", 67, 6, &lib, &shelf, &shelved);
	segs_free(&s);
	store_close(lib.st);
}

int main(int argc, char *argv[])
{
	return rgw_main(argc, argv, BUCKET);
}
