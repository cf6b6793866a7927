/*
 * test_sse.c - server-side encryption of the S3 backend against Ceph's
 * radosgw (Debian 12: Ceph 16.2), started by main() with tests/s3/rgw.sh:
 * SSE-C over its HTTPS endpoint, SSE-KMS with radosgw's "testing" KMS
 * backend (key ids vtl-test-key-1 and vtl-test-key-2, set by rgw.sh), and
 * SSE-S3, which radosgw 16 accepts and ignores. What the server holds at
 * rest is read below S3, from RADOS (rgw_raw), so that "encrypted" is seen
 * in the bytes and not taken from a header.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "s3/store.h"
#include "tests/s3/rgw_fixture.h"

#define BUCKET "vtl-sse"
#define MIB    (1u << 20)

TestSuite(sse, .timeout = 120);

static const char *env(const char *name)
{
	const char *why = getenv("VTL_RGW_ERROR");
	if (why)
		cr_assert_fail("radosgw is not available, so this S3 test cannot run: %s", why);
	const char *v = getenv(name);
	cr_assert_not_null(v, "%s is not set", name);
	return v;
}

static const unsigned char key_a[STORE_SSE_C_KEY_BYTES] = "vtl test SSE-C key A, 32 bytes!";
static const unsigned char key_b[STORE_SSE_C_KEY_BYTES] = "vtl test SSE-C key B, 32 bytes!";

/* A client of BUCKET over HTTPS with the given encryption. */
static struct store *open_sse(enum store_sse sse, const char *kms, const unsigned char *key)
{
	struct store_s3_config cfg;
	rgw_s3_config(&cfg, BUCKET, env("RGW_HTTPS_ENDPOINT"));
	cfg.ca_bundle = env("RGW_CA_BUNDLE");
	cfg.sse = sse;
	cfg.sse_kms_key_id = kms;
	cfg.sse_c_key = key;
	return rgw_open(&cfg);
}

/* `len` bytes of text in which `marker` recurs, so that any of it left in
 * clear at rest is found. */
static char *marked(size_t len, const char *marker)
{
	char *b = malloc(len);
	cr_assert_not_null(b);
	size_t m = strlen(marker);
	for (size_t i = 0; i < len; i++)
		b[i] = marker[i % m];
	return b;
}

/* Does what RADOS holds for objects named like `name` contain `needle`? */
static bool at_rest_contains(const char *name, const void *needle, size_t n)
{
	struct rgw_raw raw;
	rgw_raw(name, &raw);
	bool found = false;
	for (size_t i = 0; i < raw.n && !found; i++)
		found = memmem(raw.obj[i].data, raw.obj[i].len, needle, n) != NULL;
	rgw_raw_free(&raw);
	return found;
}

static void put_ok(struct store *st, const char *key, const void *buf, size_t len)
{
	struct store_err err;
	char etag[STORE_ETAG_MAX];
	cr_assert_eq(store_put(st, key, buf, len, NULL, etag, &err), 0, "%s", err.msg);
}

static void get_equals(struct store *st, const char *key, uint64_t off, const char *want,
		       size_t len)
{
	char *got = malloc(len);
	size_t n = 0;
	struct store_err err;
	cr_assert_eq(store_get(st, key, off, len, got, &n, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(n, len);
	cr_assert(memcmp(got, want, len) == 0, "%s: bytes at %llu differ", key,
		  (unsigned long long)off);
	free(got);
}

/* A two-part upload (5 MiB and 100 KiB) of buf. */
static void multipart(struct store *st, const char *key, const char *buf)
{
	struct store_err err;
	char id[STORE_UPLOAD_ID_MAX], etag[STORE_ETAG_MAX];
	struct store_part p[2] = {{1, 5 * MIB, ""}, {2, 100 * 1024, ""}};
	cr_assert_eq(store_mpu_create(st, key, NULL, id, &err), 0, "%s", err.msg);
	cr_assert_eq(store_mpu_put_part(st, key, id, 1, buf, p[0].size, p[0].etag, &err), 0, "%s",
		     err.msg);
	cr_assert_eq(
	    store_mpu_put_part(st, key, id, 2, buf + p[0].size, p[1].size, p[1].etag, &err), 0,
	    "%s", err.msg);
	cr_assert_eq(store_mpu_complete(st, key, id, p, 2, etag, &err), 0, "%s", err.msg);
}

Test(sse, sse_c_keeps_objects_unreadable_without_the_key_and_encrypted_at_rest)
{
	struct store *st = open_sse(STORE_SSE_C, NULL, key_a);
	struct store *plain = open_sse(STORE_SSE_NONE, NULL, NULL);
	struct store *other = open_sse(STORE_SSE_C, NULL, key_b);
	struct store_err err;
	cr_assert_eq(store_sse_check(st, "ssec/probe", &err), 0, "%s", err.msg);
	cr_assert_eq(store_etags_are_md5(st), 0);

	static const char marker[] = "SSE-C plaintext marker 7f3a; ";
	size_t len = 5 * MIB + 100 * 1024;
	char *buf = marked(len, marker);
	put_ok(st, "ssec/one", buf, 4096);
	struct store_object_info info;
	cr_assert_eq(store_head(st, "ssec/one", &info, &err), 0, "%s", err.msg);
	cr_assert_str_eq(info.sse, "SSE-C");
	get_equals(st, "ssec/one", 0, buf, 4096);
	get_equals(st, "ssec/one", 100, buf + 100, 1000);
	/* Without the key, or with another, the server itself refuses. */
	size_t n;
	char tmp[64];
	cr_assert_neq(store_get(plain, "ssec/one", 0, sizeof(tmp), tmp, &n, NULL, &err), 0);
	cr_assert_eq(err.http_status, 400, "%s", err.msg);
	cr_assert_neq(store_head(plain, "ssec/one", &info, &err), 0);
	cr_assert_neq(store_get(other, "ssec/one", 0, sizeof(tmp), tmp, &n, NULL, &err), 0);
	cr_assert_eq(err.http_status, 400, "%s", err.msg);
	cr_assert(!at_rest_contains("_ssec/one", marker, strlen(marker)),
		  "the SSE-C object is in clear in RADOS");

	/* Parts carry the key too; a ranged read across the parts. */
	multipart(st, "ssec/mpu", buf);
	get_equals(st, "ssec/mpu", 5 * MIB - 10, buf + 5 * MIB - 10, 20);
	cr_assert_neq(store_get(plain, "ssec/mpu", 0, sizeof(tmp), tmp, &n, NULL, &err), 0);
	cr_assert(!at_rest_contains("ssec/mpu", marker, strlen(marker)),
		  "a part of the SSE-C upload is in clear in RADOS");

	/* A copy (the shelf's class change) is encrypted under the key too. */
	char etag[STORE_ETAG_MAX];
	cr_assert_eq(store_copy(st, "ssec/mpu", "ssec/copy", "STANDARD_IA", etag, &err), 0, "%s",
		     err.msg);
	cr_assert_eq(store_head(st, "ssec/copy", &info, &err), 0, "%s", err.msg);
	cr_assert_str_eq(info.sse, "SSE-C");
	cr_assert_str_eq(info.storage_class, "STANDARD_IA");
	cr_assert_eq(info.size, len);
	get_equals(st, "ssec/copy", 0, buf, len);
	cr_assert_neq(store_get(plain, "ssec/copy", 0, sizeof(tmp), tmp, &n, NULL, &err), 0);
	/* And in place, as the shelf changes a class without moving a key. */
	cr_assert_eq(store_copy(st, "ssec/one", "ssec/one", "GLACIER", etag, &err), 0, "%s",
		     err.msg);
	cr_assert_eq(store_head(st, "ssec/one", &info, &err), 0, "%s", err.msg);
	cr_assert_str_eq(info.storage_class, "GLACIER");
	cr_assert_str_eq(info.sse, "SSE-C");
	get_equals(st, "ssec/one", 0, buf, 4096);

	/* An object written in clear before SSE-C was configured stays readable. */
	put_ok(plain, "ssec/older", buf, 512);
	get_equals(st, "ssec/older", 0, buf, 512);
	cr_assert_eq(store_head(st, "ssec/older", &info, &err), 0, "%s", err.msg);
	free(buf);
	store_close(st);
	store_close(plain);
	store_close(other);
}

/* The shelf in a bucket of its own: a copy between two buckets of one
 * service stays server side (UploadPartCopy with the source's SSE-C key)
 * and is encrypted in the destination too. */
Test(sse, sse_c_copy_to_another_bucket_is_encrypted_there)
{
	struct store *st = open_sse(STORE_SSE_C, NULL, key_a);
	struct store_s3_config cfg;
	rgw_s3_config(&cfg, "vtl-sse-shelf", env("RGW_HTTPS_ENDPOINT"));
	cfg.ca_bundle = env("RGW_CA_BUNDLE");
	cfg.sse = STORE_SSE_C;
	cfg.sse_c_key = key_a;
	struct store *shelf = rgw_open(&cfg);
	struct store_err err;
	cr_assert_eq(store_s3_create_bucket(shelf, &err), 0, "%s", err.msg);
	static const char marker[] = "SSE-C shelf marker 5b17; ";
	char *buf = marked(8192, marker);
	put_ok(st, "ssec/to-shelf", buf, 8192);
	char etag[STORE_ETAG_MAX];
	cr_assert_eq(
	    store_copy_from(shelf, st, "ssec/to-shelf", "ssec/shelved", "GLACIER", etag, &err), 0,
	    "%s", err.msg);
	struct store_object_info info;
	cr_assert_eq(store_head(shelf, "ssec/shelved", &info, &err), 0, "%s", err.msg);
	cr_assert_str_eq(info.sse, "SSE-C");
	cr_assert_str_eq(info.storage_class, "GLACIER");
	get_equals(shelf, "ssec/shelved", 0, buf, 8192);
	cr_assert(!at_rest_contains("ssec/shelved", marker, strlen(marker)),
		  "the shelved copy is in clear in RADOS");
	/* Under another key, the copy goes through vtld, re-encrypted. */
	cfg.sse_c_key = key_b;
	struct store *other = rgw_open(&cfg);
	cr_assert_eq(store_copy_from(other, st, "ssec/to-shelf", "ssec/rekeyed", NULL, etag, &err),
		     0, "%s", err.msg);
	get_equals(other, "ssec/rekeyed", 0, buf, 8192);
	size_t n;
	char tmp[16];
	cr_assert_neq(store_get(shelf, "ssec/rekeyed", 0, sizeof(tmp), tmp, &n, NULL, &err), 0,
		      "the copy under key B opens with key A");
	free(buf);
	store_close(st);
	store_close(shelf);
	store_close(other);
}

Test(sse, sse_c_is_refused_over_plain_http_before_the_key_is_sent)
{
	struct store_s3_config cfg;
	rgw_s3_config(&cfg, BUCKET, NULL);
	cfg.sse = STORE_SSE_C;
	cfg.sse_c_key = key_a;
	struct store *st = NULL;
	struct store_err err;
	cr_assert_eq(store_s3_open(&cfg, &st, &err), -EINVAL);
	cr_assert_null(st);
	cr_assert(strstr(err.msg, "must be https://"), "%s", err.msg);
}

Test(sse, sse_kms_encrypts_at_rest_under_the_named_key_for_puts_parts_and_copies)
{
	struct store *st = open_sse(STORE_SSE_KMS, "vtl-test-key-1", NULL);
	struct store *plain = open_sse(STORE_SSE_NONE, NULL, NULL);
	struct store_err err;
	cr_assert_eq(store_sse_check(st, "kms/probe", &err), 0, "%s", err.msg);
	cr_assert_eq(store_etags_are_md5(st), 0);
	static const char marker[] = "SSE-KMS plaintext marker 41c9; ";
	size_t len = 5 * MIB + 100 * 1024;
	char *buf = marked(len, marker);
	put_ok(st, "kms/one", buf, 4096);
	struct store_object_info info;
	cr_assert_eq(store_head(st, "kms/one", &info, &err), 0, "%s", err.msg);
	cr_assert_str_eq(info.sse, "aws:kms");
	cr_assert_str_eq(info.sse_kms_key_id, "vtl-test-key-1");
	/* The service decrypts for any reader the bucket allows ... */
	get_equals(plain, "kms/one", 0, buf, 4096);
	/* ... but keeps only ciphertext. */
	cr_assert(!at_rest_contains("_kms/one", marker, strlen(marker)),
		  "the SSE-KMS object is in clear in RADOS");
	multipart(st, "kms/mpu", buf);
	cr_assert_eq(store_head(st, "kms/mpu", &info, &err), 0, "%s", err.msg);
	cr_assert_str_eq(info.sse, "aws:kms");
	cr_assert(!at_rest_contains("kms/mpu", marker, strlen(marker)),
		  "a part of the SSE-KMS upload is in clear in RADOS");
	char etag[STORE_ETAG_MAX];
	cr_assert_eq(store_copy(st, "kms/one", "kms/copy", "STANDARD_IA", etag, &err), 0, "%s",
		     err.msg);
	cr_assert_eq(store_head(st, "kms/copy", &info, &err), 0, "%s", err.msg);
	cr_assert_str_eq(info.sse, "aws:kms");
	cr_assert_str_eq(info.storage_class, "STANDARD_IA");
	get_equals(st, "kms/copy", 0, buf, 4096);
	cr_assert(!at_rest_contains("kms/copy", marker, strlen(marker)),
		  "the copy is in clear in RADOS");
	free(buf);
	store_close(st);
	store_close(plain);
}

Test(sse, a_kms_key_the_service_does_not_know_is_refused_at_the_check)
{
	struct store *st = open_sse(STORE_SSE_KMS, "no-such-key", NULL);
	struct store_err err;
	cr_assert_eq(store_sse_check(st, "kms/probe-bad", &err), -EACCES, "%s", err.msg);
	cr_assert(strstr(err.msg, "no-such-key"), "%s", err.msg);
	store_close(st);
	/* radosgw has no default KMS key: it asks for one. */
	st = open_sse(STORE_SSE_KMS, NULL, NULL);
	cr_assert_eq(store_sse_check(st, "kms/probe-none", &err), -EINVAL, "%s", err.msg);
	cr_assert(strstr(err.msg, "InvalidArgument"), "%s", err.msg);
	store_close(st);
}

/* radosgw refuses SSE-KMS over plain HTTP unless rgw_crypt_require_ssl is
 * false (rgw.sh keeps its default, true). */
Test(sse, radosgw_refuses_sse_kms_over_plain_http)
{
	struct store_s3_config cfg;
	rgw_s3_config(&cfg, BUCKET, NULL);
	cfg.sse = STORE_SSE_KMS;
	cfg.sse_kms_key_id = "vtl-test-key-1";
	struct store *st = rgw_open(&cfg);
	struct store_err err;
	int rc = store_sse_check(st, "kms/probe-http", &err);
	cr_assert_eq(rc, -EINVAL, "%d %s", rc, err.msg);
	cr_assert_eq(err.http_status, 400, "%s", err.msg);
	store_close(st);
}

/* Ceph 16 (Pacific) has no SSE-S3: it answers a PutObject that asks
 * x-amz-server-side-encryption: AES256 with 200, without the header, and
 * stores the object in clear. The check says so and removes its probe. */
Test(sse, sse_s3_on_radosgw_16_is_stored_in_clear_and_the_check_refuses_it)
{
	struct store *st = open_sse(STORE_SSE_S3, NULL, NULL);
	struct store_err err;
	cr_assert_eq(store_sse_check(st, "s3/probe", &err), -EPROTO, "%s", err.msg);
	cr_assert(strstr(err.msg, "AES256") && strstr(err.msg, "stored in clear"), "%s", err.msg);
	cr_assert_eq(err.fault, STORE_FAULT_REFUSED);
	cr_assert_str_eq(err.code, STORE_SSE_NOT_APPLIED);
	struct store_object_info info;
	cr_assert_eq(store_head(st, "s3/probe", &info, &err), -ENOENT, "the probe is left: %s",
		     err.msg);
	/* Every put is checked as well, and what the service left in clear is
	 * deleted again. */
	static const char marker[] = "SSE-S3 plaintext marker 0d2e; ";
	char *buf = marked(4096, marker);
	char etag[STORE_ETAG_MAX];
	cr_assert_eq(store_put(st, "s3/one", buf, 4096, NULL, etag, &err), -EPROTO, "%s", err.msg);
	cr_assert_str_eq(err.code, STORE_SSE_NOT_APPLIED);
	cr_assert_eq(store_head(st, "s3/one", &info, &err), -ENOENT, "left in clear: %s", err.msg);
	char id[STORE_UPLOAD_ID_MAX] = "x";
	cr_assert_eq(store_mpu_create(st, "s3/mpu", NULL, id, &err), -EPROTO, "%s", err.msg);
	/* What radosgw keeps when another client (botocore) asks SSE-S3. */
	char body[] = "/tmp/vtl-sse-body-XXXXXX", cmd[2048], said[64] = "";
	int fd = mkstemp(body);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, buf, 4096), 4096);
	close(fd);
	snprintf(cmd, sizeof(cmd), "/usr/bin/python3 '%s' '%s' '%s' %s s3/by-botocore '%s'",
		 SSE_S3_PUT, env("RGW_HTTPS_ENDPOINT"), env("RGW_CA_BUNDLE"), BUCKET, body);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	cr_assert_not_null(fgets(said, sizeof(said), p));
	cr_assert_eq(pclose(p), 0, "%s failed", cmd);
	unlink(body);
	cr_assert_str_eq(said, "none\n", "radosgw now answers SSE-S3: update docs/object-store.md");
	cr_assert(at_rest_contains("_s3/by-botocore", marker, strlen(marker)),
		  "radosgw encrypted an SSE-S3 object: update docs/object-store.md");
	free(buf);
	store_close(st);
}

int main(int argc, char *argv[])
{
	return rgw_main(argc, argv, BUCKET);
}
