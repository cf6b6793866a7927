/*
 * rgw_fixture.h - radosgw started around a Criterion test program
 * (tests/s3/rgw_fixture.c). A test program's main() is
 *     int main(int argc, char *argv[]) { return rgw_main(argc, argv, BUCKET); }
 */
#ifndef VTL_TESTS_RGW_FIXTURE_H
#define VTL_TESTS_RGW_FIXTURE_H

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

/* The bytes RADOS holds for the objects whose RADOS names contain `name`
 * (an S3 key names them), concatenated into the file `out`: what the
 * server keeps at rest (tests/s3/rgw.sh raw). Fails the test when there is
 * none, or when radosgw is not the one started here. */
void rgw_raw(const char *name, const char *out);

/* Start radosgw, create `bucket`, run the tests, stop radosgw. */
int rgw_main(int argc, char *argv[], const char *bucket);

#endif
