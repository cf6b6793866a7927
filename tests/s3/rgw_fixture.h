/*
 * rgw_fixture.h - radosgw started around a Criterion test program
 * (tests/s3/rgw_fixture.c). A test program's main() is
 *     int main(int argc, char *argv[]) { return rgw_main(argc, argv, BUCKET); }
 */
#ifndef VTL_TESTS_RGW_FIXTURE_H
#define VTL_TESTS_RGW_FIXTURE_H

#include <stddef.h>

struct store;
struct store_s3_config;

/* Fail the test, saying why, unless the radosgw started here is usable
 * (VTL_RGW_ERROR unset, RGW_ENDPOINT set). */
void rgw_require(void);
/* The S3 client configuration of that radosgw for `bucket` at `endpoint`
 * (NULL: RGW_ENDPOINT): path addressing, us-east-1, its keys. Calls
 * rgw_require(). */
void rgw_s3_config(struct store_s3_config *cfg, const char *bucket, const char *endpoint);
/* store_s3_open(cfg); the test fails if it cannot. */
struct store *rgw_open(const struct store_s3_config *cfg);
/* rgw_s3_config and rgw_open in one. */
struct store *rgw_store(const char *bucket, const char *endpoint);

/* Record why radosgw is unusable (VTL_RGW_ERROR) and say it on stderr. */
void rgw_fail(const char *why, const char *detail);

/* Set the quota of `bucket` to `bytes` (-1: none) with radosgw-admin
 * (tests/s3/rgw.sh quota); fails the test when radosgw is not the one
 * started here (RGW_DIR unset). */
void rgw_set_quota(const char *bucket, long long bytes);

/* What RADOS holds at rest for the objects whose RADOS names contain
 * `name` (an S3 key names them), one entry per RADOS object
 * (tests/s3/rgw.sh raw): a part of a multipart upload, a stripe of a large
 * object, a copy, and a deleted object's data that radosgw's garbage
 * collector has not removed yet are each an object of their own. */
struct rgw_raw_obj {
	unsigned char *data;
	size_t len;
};
struct rgw_raw {
	size_t n;
	struct rgw_raw_obj *obj;
};
/* Fill raw; fails the test when RADOS holds none, or when radosgw is not
 * the one started here. rgw_raw_free releases it. */
void rgw_raw(const char *name, struct rgw_raw *raw);
void rgw_raw_free(struct rgw_raw *raw);

/* Start radosgw, create `bucket`, run the tests, stop radosgw. */
int rgw_main(int argc, char *argv[], const char *bucket);

#endif
