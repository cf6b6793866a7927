/*
 * rgw_fixture.h - radosgw started around a Criterion test program
 * (tests/s3/rgw_fixture.c). A test program's main() is
 *     int main(int argc, char *argv[]) { return rgw_main(argc, argv, BUCKET); }
 */
#ifndef VTL_TESTS_RGW_FIXTURE_H
#define VTL_TESTS_RGW_FIXTURE_H

/* Record why radosgw is unusable (VTL_RGW_ERROR) and say it on stderr. */
void rgw_fail(const char *why, const char *detail);

/* Set the quota of `bucket` to `bytes` (-1: none) with radosgw-admin
 * (tests/s3/rgw.sh quota); fails the test when radosgw is not the one
 * started here (RGW_DIR unset). */
void rgw_set_quota(const char *bucket, long long bytes);

/* Start radosgw, create `bucket`, run the tests, stop radosgw. */
int rgw_main(int argc, char *argv[], const char *bucket);

#endif
