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

static struct store *open_rgw(void)
{
	const char *why = getenv("VTL_RGW_ERROR");
	if (why)
		cr_assert_fail("radosgw is not available, so this S3 test cannot run: %s", why);
	struct store_s3_config cfg = {.bucket = BUCKET,
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

/* Every local segment file equals its object in the bucket. */
static void compare_bucket(struct store *st, const char *bc)
{
	int nseg = 0;
	for (uint64_t id = 1; id < 64; id++) {
		char path[PATH_MAX + 128], key[256];
		snprintf(path, sizeof(path), "%s/tapes/%s/seg-%016" PRIx64 ".dat", vtl.dir, bc, id);
		int fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		struct stat sb;
		fstat(fd, &sb);
		size_t len = (size_t)sb.st_size;
		uint8_t *a = malloc(len + 1), *b = malloc(len + 1);
		cr_assert_eq(pread(fd, a, len, 0), (ssize_t)len);
		close(fd);
		snprintf(key, sizeof(key), "tapes/%s/seg/%016" PRIx64, bc, id);
		size_t got = 0;
		struct store_object_info info;
		struct store_err err;
		int rc = store_get(st, key, 0, len, b, &got, &info, &err);
		cr_assert_eq(rc, 0, "%s: %s", key, err.msg);
		cr_assert_eq(got, len, "%s: %zu bytes in the bucket, %zu local", key, got, len);
		cr_assert_arr_eq(a, b, len, "%s differs from the local segment", key);
		free(a);
		free(b);
		nseg++;
	}
	cr_assert_gt(nseg, 0, "no local segment of %s", bc);
}

Test(store_rgw_vtld, tape_written_through_a_drive_is_in_radosgw_archived_and_retrieved_intact)
{
	char out[8192], config[1024];
	struct store *st = open_rgw();
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

int main(int argc, char *argv[])
{
	return rgw_main(argc, argv, BUCKET);
}
