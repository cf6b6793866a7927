/*
 * test_store_rgw.c - the uploader and the shelf against a real S3 server
 * Ceph's radosgw started by main() with tests/s3/rgw.sh (as
 * tests/s3/test_store.c does), the real vtld configured with [store]
 * type = s3 and its keys in the config file, data written through a drive
 * with libiscsi. What arrives in the bucket is read back by the test with
 * its own S3 client and compared byte for byte, with the checks of the
 * shelf that tests/vtl/test_store_vtld.c runs too (tests/vtl/shelf_check.c).
 *
 * Set RGW_ENDPOINT, RGW_ACCESS_KEY and RGW_SECRET_KEY to use a running
 * server. When radosgw cannot start, the test fails with the reason.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <iscsi.h>
#include <openssl/evp.h>

#include "s3/store.h"
#include "tests/s3/rgw_fixture.h"
#include "tests/iscsi/harness.h"
#include "tests/iscsi/vtld_proc.h"
#include "tests/vtl/backlog_check.h"
#include "tests/vtl/shelf_check.h"

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

static const struct th_records recs = {sizes, NREC};

/* This suite's vtld and records for the shelf checks (shelf_check.h). */
static const struct shelf_suite suite = {&vtl, &recs, false};

static size_t magic_at_rest(const char *bc);

Test(store_rgw_vtld, tape_written_through_a_drive_is_in_radosgw_archived_and_retrieved_intact)
{
	char out[8192], config[1024];
	struct store *st = rgw_store(BUCKET, NULL);
	snprintf(config, sizeof(config),
		 "[store]\ntype = s3\nendpoint = %s\nbucket = %s\naddressing = path\n"
		 "region = us-east-1\naccess_key_id = %s\nsecret_access_key = %s\n"
		 "part_size = 5M\nidle_complete = 1\narchive_storage_class = GLACIER\n",
		 getenv("RGW_ENDPOINT"), BUCKET, getenv("RGW_ACCESS_KEY"),
		 getenv("RGW_SECRET_KEY"));
	vp_start(&vtl, config);
	vp_ctl_ok(&vtl, "tape create RGW001L8", out, sizeof(out));
	shelf_write_tape(&suite, "RGW001L8", 77, 12); /* about 12.5 MiB: three 5 MiB parts */
	vp_wait_uploaded(&vtl, "RGW001L8");
	compare_store(&vtl, st, "RGW001L8");
	/* Without SSE, RADOS holds the records in clear: the check the SSE
	 * tests make sees them. */
	size_t most = magic_at_rest("RGW001L8");
	cr_assert_gt(most, 1, "%zu record magics in one object of a tape in clear", most);
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
	struct iscsi_context *iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 2);
	th_records_verify(iscsi, 2, &recs, 77, 12);
	th_logout(iscsi);
	store_close(st);
}

/* ---- The shelf apart from the library's objects ------------------------- */

#define SHELF_BUCKET "vtl-shelf"

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

/* archive_bucket: the shelf is another bucket of the same service, under
 * the library's prefix (archive_prefix defaults to it), in GLACIER; a new
 * vtld on an empty data directory finds the tape there (disaster
 * recovery). */
Test(store_rgw_vtld, shelf_in_another_bucket_holds_the_tape_in_glacier_and_a_rebuild_finds_it)
{
	char conf[1024];
	struct store_err err;
	struct place lib = {rgw_store(BUCKET, NULL), "lib/"},
		     shelf = {rgw_store(SHELF_BUCKET, NULL), "lib/"};
	cr_assert_eq(store_s3_create_bucket(shelf.st, &err), 0, "%s", err.msg);
	struct segs s;
	struct tape_keys shelved;
	start_apart(conf, sizeof(conf), "lib/",
		    "archive_bucket = " SHELF_BUCKET "\narchive_storage_class = GLACIER\n");
	archive_apart(&suite, "RGA001L8", 61, 6, &lib, &shelf, "GLACIER", SHELF_BUCKET, &s,
		      &shelved);
	retrieve_apart(&suite, "RGA001L8", 61, 6, &lib, &shelf, &shelved);

	/* Archived again, then the machine is lost. */
	char out[8192];
	struct tape_keys k;
	vp_ctl_ok(&vtl, "tape archive RGA001L8 --wait", out, sizeof(out));
	only_on_shelf("RGA001L8", &s, &lib, &shelf, "GLACIER", &k);
	cr_assert_str_eq(k.text, shelved.text, "the shelf's keys changed at the second archive");
	vp_stop(&vtl);
	vp_start_with(&vtl, conf, "--rebuild-catalog");
	tape_in_state(&vtl, "RGA001L8", "ARCHIVED");
	retrieve_apart(&suite, "RGA001L8", 61, 6, &lib, &shelf, &shelved);
	segs_free(&s);
	store_close(lib.st);
	store_close(shelf.st);
}

/* archive_prefix alone: the shelf is the library's own bucket under
 * pfx-shelf/, the objects' class unchanged. The library's prefix is its
 * own (pfx/), as each test's here: a vtld aborts at start the multipart
 * uploads under its prefix that its catalog does not know, and the tests
 * run in parallel on one bucket. */
Test(store_rgw_vtld, shelf_under_another_prefix_of_the_bucket_holds_the_tape_until_retrieval)
{
	char conf[1024];
	struct place lib = {rgw_store(BUCKET, NULL), "pfx/"}, shelf = {lib.st, "pfx-shelf/"};
	struct segs s;
	struct tape_keys shelved;
	start_apart(conf, sizeof(conf), "pfx/", "archive_prefix = pfx-shelf/\n");
	archive_apart(&suite, "RGP001L8", 67, 6, &lib, &shelf, NULL, "pfx-shelf/", &s, &shelved);
	retrieve_apart(&suite, "RGP001L8", 67, 6, &lib, &shelf, &shelved);
	segs_free(&s);
	store_close(lib.st);
}

/* ---- HTTPS ------------------------------------------------------------------ */

/* radosgw's TLS endpoints (tests/s3/rgw.sh): RGW_HTTPS_ENDPOINT's certificate
 * names IP:127.0.0.1 and DNS:localhost, RGW_HTTPS_OTHER_ENDPOINT's another
 * host; both come from the CA in RGW_CA_BUNDLE, which the test made. */
static const char *tls_env(const char *name)
{
	const char *why = getenv("VTL_RGW_ERROR");
	if (why)
		cr_assert_fail("radosgw is not available, so this S3 test cannot run: %s", why);
	const char *v = getenv(name);
	cr_assert_not_null(v, "%s is not set: this radosgw serves no HTTPS", name);
	return v;
}

/* The test's own client of `bucket` over HTTPS (created when missing). */
static struct store *open_tls(const char *bucket)
{
	struct store_s3_config cfg;
	rgw_s3_config(&cfg, bucket, tls_env("RGW_HTTPS_ENDPOINT"));
	cfg.ca_bundle = tls_env("RGW_CA_BUNDLE");
	struct store *st = rgw_open(&cfg);
	struct store_err err;
	cr_assert_eq(store_s3_create_bucket(st, &err), 0, "%s", err.msg);
	return st;
}

/* vtld's [store] for `bucket` at `endpoint`, with the test's CA as
 * ca_bundle when with_ca; extra keys after. */
static void tls_config(char *conf, size_t cap, const char *endpoint, const char *bucket,
		       bool with_ca, const char *extra)
{
	char ca[PATH_MAX + 16] = "";
	if (with_ca)
		snprintf(ca, sizeof(ca), "ca_bundle = %s\n", tls_env("RGW_CA_BUNDLE"));
	snprintf(conf, cap,
		 "[store]\ntype = s3\nendpoint = %s\nbucket = %s\naddressing = path\n"
		 "region = us-east-1\naccess_key_id = %s\nsecret_access_key = %s\n"
		 "part_size = 5M\nidle_complete = 1\n%s%s",
		 endpoint, bucket, getenv("RGW_ACCESS_KEY"), getenv("RGW_SECRET_KEY"), ca, extra);
}

/* Replace vtld's configuration file (vtlctl store retry reads it again). */
static void rewrite_config(const char *conf)
{
	FILE *f = fopen(vtl.config, "w");
	cr_assert_not_null(f, "%s", vtl.config);
	fputs(conf, f);
	cr_assert_eq(fclose(f), 0);
}

/* Read the tape back through drive 2 (fetching what the cache evicted). */
static void read_back(const char *bc, uint32_t seed, int big)
{
	char out[8192], args[128];
	snprintf(args, sizeof(args), "tape move %s --to drive:2", bc);
	vp_ctl_ok(&vtl, args, out, sizeof(out));
	struct iscsi_context *iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 2);
	th_records_verify(iscsi, 2, &recs, seed, big);
	th_logout(iscsi);
	vp_ctl_ok(&vtl, "drive unload 2", out, sizeof(out));
}

/* Everything vtld does with the store, over HTTPS with a private CA: the
 * upload (parts, completion, HEAD), ranged reads of evicted segments,
 * disaster recovery onto an empty data directory, the shelf. */
Test(store_rgw_vtld, over_https_with_ca_bundle_uploads_ranged_reads_rebuild_and_shelf_work)
{
	static const char bucket[] = "vtl-tls";
	char conf[2048], out[8192];
	struct store *st = open_tls(bucket);
	tls_config(conf, sizeof(conf), tls_env("RGW_HTTPS_ENDPOINT"), bucket, true,
		   "cache_limit = 12M\narchive_storage_class = GLACIER\n");
	setenv("VTL_SEGMENT_SIZE", "4194304", 1); /* sealed segments to evict */
	vp_start(&vtl, conf);
	vp_ctl_ok(&vtl, "tape create TLS001L8", out, sizeof(out));
	shelf_write_tape(&suite, "TLS001L8", 31, 24);
	vp_wait_uploaded(&vtl, "TLS001L8");
	compare_store(&vtl, st, "TLS001L8");
	cr_assert_geq(vp_status_until(&vtl, "evicted_segments", 1, out, sizeof(out)), 1,
		      "nothing evicted: %s", out);
	read_back("TLS001L8", 31, 24);
	vp_ctl_ok(&vtl, "--json status", out, sizeof(out));
	cr_assert_geq(vp_jint(out, "fetched_segments"), 1, "%s", out);
	cr_assert(strstr(out, "\"last_error\": \"\""), "%s", out);

	/* The machine is lost: a new data directory, the same bucket. */
	vp_stop(&vtl);
	vp_start(&vtl, conf);
	vp_ctl_ok(&vtl, "catalog rebuild", out, sizeof(out));
	cr_assert(strstr(out, "TLS001L8") && strstr(out, "recovered: AVAILABLE"), "%s", out);
	read_back("TLS001L8", 31, 24);

	vp_ctl_ok(&vtl, "tape archive TLS001L8 --wait", out, sizeof(out));
	struct store_object_info info;
	struct store_err err;
	cr_assert_eq(store_head(st, "tapes/TLS001L8/seg/0000000000000001", &info, &err), 0, "%s",
		     err.msg);
	cr_assert_str_eq(info.storage_class, "GLACIER");
	vp_ctl_ok(&vtl, "tape retrieve TLS001L8 --wait", out, sizeof(out));
	read_back("TLS001L8", 31, 24);
	unsetenv("VTL_SEGMENT_SIZE");
	store_close(st);
}

/*
 * Regression: without ca_bundle, nothing reached the store (right), but
 * `vtlctl status` said "upload backlog 0 B" and "idle", `tape list` showed
 * PENDING 0 (uploads, not bytes), and the log repeated the error twice a
 * second. Now every byte of the tape waits, everywhere, the log says it
 * once with the fix, and once ca_bundle is set the tape goes up.
 */
Test(store_rgw_vtld, without_ca_bundle_every_byte_waits_with_one_error_until_it_is_set)
{
	static const char bucket[] = "vtl-tls-fix";
	char conf[2048], out[16384];
	struct store *st = open_tls(bucket);
	tls_config(conf, sizeof(conf), tls_env("RGW_HTTPS_ENDPOINT"), bucket, false, "");
	vp_start(&vtl, conf);
	vp_ctl_ok(&vtl, "tape create NCA001L8", out, sizeof(out));
	shelf_write_tape(&suite, "NCA001L8", 41, 32); /* 32 MiB and some */
	struct tape_view t;
	tape_wait_held(&vtl, "NCA001L8", "certificate", 30, "no certificate error", &t);
	cr_assert_gt(t.used, 32 * MB, "%s", t.json);
	cr_assert_eq(t.pending, t.used, "%s", t.json);
	cr_assert_eq(t.uploaded, 0, "%s", t.json);
	cr_assert(strstr(t.json, "ca_bundle"), "the fix is not named: %s", t.json);
	struct backlog_view v;
	backlog_read(&vtl, &v);
	cr_assert_eq(v.backlog, t.used, "%s", v.status);
	cr_assert_geq(vp_jint(v.status, "pending_uploads"), 2, "%s", v.status);
	cr_assert(strstr(v.status, "\"activity\": \"waiting for a person"), "%s", v.status);
	cr_assert(strstr(v.status, "\"held_by\": \"certificate\""), "%s", v.status);
	cr_assert(strstr(v.status, tls_env("RGW_HTTPS_ENDPOINT")), "%s", v.status);
	/* The table an operator reads: bytes waiting, marked as held. */
	vp_ctl_ok(&vtl, "status", out, sizeof(out));
	cr_assert(strstr(out, "not yet in the store"), "%s", out);
	cr_assert(strstr(out, "activity         waiting for a person"), "%s", out);
	cr_assert(strstr(out, "action needed    the store's certificate does not verify"), "%s",
		  out);
	vp_ctl_ok(&vtl, "tape list", out, sizeof(out));
	char row[128];
	snprintf(row, sizeof(row), "%.1f MB  0 B       %.1f MB !", (double)t.used / 1e6,
		 (double)t.used / 1e6); /* USED, UPLOADED, PENDING */
	cr_assert(strstr(out, "UPLOADED  PENDING"), "%s", out);
	cr_assert(strstr(out, row), "no \"%s\" in\n%s", row, out);
	sleep(2); /* rounds go by */
	cr_assert_eq(log_count(&vtl, "error:"), 1);
	cr_assert_eq(log_count(&vtl, "certificate does not verify"), 1);

	/* The operator sets ca_bundle and tells vtld: the tape goes up. */
	tls_config(conf, sizeof(conf), tls_env("RGW_HTTPS_ENDPOINT"), bucket, true, "");
	rewrite_config(conf);
	vp_ctl_ok(&vtl, "store retry", out, sizeof(out));
	cr_assert(strstr(out, "credentials and ca_bundle read again"), "%s", out);
	cr_assert(strstr(out, "the store takes uploads"), "%s", out);
	vp_wait_uploaded(&vtl, "NCA001L8");
	compare_store(&vtl, st, "NCA001L8");
	backlog_read(&vtl, &v);
	cr_assert_eq(v.backlog, 0, "%s", v.status);
	cr_assert(strstr(v.status, "\"action_needed\": \"\""), "%s", v.status);
	store_close(st);
}

Test(store_rgw_vtld, a_certificate_for_another_name_is_refused_naming_endpoint_and_name)
{
	char conf[2048], out[16384];
	tls_config(conf, sizeof(conf), tls_env("RGW_HTTPS_OTHER_ENDPOINT"), "vtl-tls", true, "");
	vp_start(&vtl, conf);
	int i;
	for (i = 0; i < 300; i++) {
		vp_ctl_ok(&vtl, "--json status", out, sizeof(out));
		if (strstr(out, "\"held_by\": \"certificate\""))
			break;
		usleep(100000);
	}
	cr_assert_lt(i, 300, "no certificate error: %s", out);
	cr_assert(strstr(out, tls_env("RGW_HTTPS_OTHER_ENDPOINT")), "%s", out);
	cr_assert(strstr(out, "subject name"), "the name mismatch is not said: %s", out);
	cr_assert(strstr(out, "[store] endpoint"), "the fix is not named: %s", out);
	/* The endpoint is the store's place: a retry says it takes a restart. */
	tls_config(conf, sizeof(conf), tls_env("RGW_HTTPS_ENDPOINT"), "vtl-tls", true, "");
	rewrite_config(conf);
	cr_assert_eq(vp_ctl(&vtl, out, sizeof(out), "store retry"), 1, "%s", out);
	cr_assert(strstr(out, "[store] endpoint changed: they take a restart of vtld"), "%s", out);
	cr_assert(strstr(out, "uploads still wait for a person"), "%s", out);
}

/* ---- Server-side encryption --------------------------------------------- */

/* A 32-byte SSE-C key in a new private directory apart from vtld's (so that
 * the grep of vtld's data directory cannot find it there), as base64. */
static void sse_c_key_file(char *path, size_t cap, unsigned char key[32], mode_t mode)
{
	char dir[] = "/tmp/vtl-ssec-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	for (int i = 0; i < 32; i++)
		key[i] = (unsigned char)(rand() & 0xff);
	snprintf(path, cap, "%s/key", dir);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	char b64[64];
	EVP_EncodeBlock((unsigned char *)b64, key, 32);
	fprintf(f, "%s\n", b64);
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(chmod(path, mode), 0);
}

static void remove_key_file(const char *path)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", path);
	unlink(path);
	*strrchr(dir, '/') = 0;
	rmdir(dir);
}

/* Occurrences of needle in buf. */
static size_t count_in(const void *buf, size_t len, const void *needle, size_t n)
{
	size_t hits = 0;
	const char *b = buf;
	for (const char *p = b; (p = memmem(p, len - (size_t)(p - b), needle, n)); p++)
		hits++;
	return hits;
}

/* Occurrences of needle in the file at path. */
static size_t count_in_file(const char *path, const void *needle, size_t n)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return 0;
	size_t cap = 1 << 20, len = 0, hits = 0;
	char *buf = malloc(cap);
	size_t got;
	while ((got = fread(buf + len, 1, cap - len, f)) > 0) {
		len += got;
		if (len == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			cr_assert_not_null(buf);
		}
	}
	fclose(f);
	hits = count_in(buf, len, needle, n);
	free(buf);
	return hits;
}

static const void *grep_needle[2];
static size_t grep_len[2];
static char grep_hit[PATH_MAX];

static int grep_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	for (int i = 0; flag == FTW_F && i < 2 && !grep_hit[0]; i++)
		if (grep_needle[i] && count_in_file(path, grep_needle[i], grep_len[i]))
			snprintf(grep_hit, sizeof(grep_hit), "%s", path);
	return 0;
}

/* No file under dir (catalog, medium, cache, logs) holds the key, raw or as
 * base64. */
static void no_key_under(const char *dir, const unsigned char key[32])
{
	char b64[64];
	EVP_EncodeBlock((unsigned char *)b64, key, 32);
	grep_needle[0] = key;
	grep_len[0] = 32;
	grep_needle[1] = b64;
	grep_len[1] = strlen(b64);
	grep_hit[0] = 0;
	cr_assert_eq(nftw(dir, grep_one, 16, FTW_PHYS), 0);
	cr_assert_eq(grep_hit[0], 0, "the SSE-C key is in %s", grep_hit);
}

/* The most "LVTR" record magics (docs/medium-format.md) in one RADOS
 * object of a tape: every record of a segment in clear has one; ciphertext
 * has one by chance in 2^32 four-byte windows, so at most one is allowed.
 * Counted per object, since radosgw's SSE-C encryption is deterministic
 * (AES-256-CBC, the IV from the key and the offset): an archived copy, and
 * the data of a deleted object its garbage collector has not removed yet,
 * repeat a chance match of the original byte for byte. When key is not
 * NULL, RADOS must not hold it either, raw or as base64 (radosgw keeps only
 * a salted HMAC of an SSE-C key). */
static size_t magic_at_rest_without(const char *bc, const unsigned char *key)
{
	struct rgw_raw raw;
	rgw_raw(bc, &raw);
	char b64[64];
	if (key)
		EVP_EncodeBlock((unsigned char *)b64, key, 32);
	size_t most = 0;
	for (size_t i = 0; i < raw.n; i++) {
		const struct rgw_raw_obj *o = &raw.obj[i];
		size_t n = count_in(o->data, o->len, "LVTR", 4);
		most = n > most ? n : most;
		if (!key)
			continue;
		cr_assert_eq(count_in(o->data, o->len, key, 32), 0, "the SSE-C key is in RADOS");
		cr_assert_eq(count_in(o->data, o->len, b64, strlen(b64)), 0,
			     "the SSE-C key is in RADOS as base64");
	}
	rgw_raw_free(&raw);
	return most;
}

static size_t magic_at_rest(const char *bc)
{
	return magic_at_rest_without(bc, NULL);
}

/* [store] sse_customer_key_file: every object of a tape is kept by
 * radosgw under the key; the test's client without it is refused by the
 * server; vtld writes, evicts, fetches back with ranged reads, archives (a
 * copy under the key), retrieves and rebuilds with it; and the key is in
 * none of vtld's files, nor in what the server keeps. */
Test(store_rgw_vtld, sse_c_tape_is_encrypted_at_rest_and_round_trips_without_the_key_leaking)
{
	static const char bucket[] = "vtl-ssec";
	char conf[4096], out[8192], keyfile[PATH_MAX], extra[PATH_MAX + 200];
	unsigned char key[32];
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	sse_c_key_file(keyfile, sizeof(keyfile), key, 0600);
	struct store *plain = open_tls(bucket);
	struct store_s3_config cfg;
	rgw_s3_config(&cfg, bucket, tls_env("RGW_HTTPS_ENDPOINT"));
	cfg.ca_bundle = tls_env("RGW_CA_BUNDLE");
	cfg.sse = STORE_SSE_C;
	cfg.sse_c_key = key;
	struct store *st = rgw_open(&cfg);
	snprintf(extra, sizeof(extra),
		 "sse_customer_key_file = %s\ncache_limit = 12M\narchive_storage_class = GLACIER\n",
		 keyfile);
	tls_config(conf, sizeof(conf), tls_env("RGW_HTTPS_ENDPOINT"), bucket, true, extra);
	setenv("VTL_SEGMENT_SIZE", "4194304", 1);
	vp_start(&vtl, conf);
	vp_ctl_ok(&vtl, "tape create SSC001L8", out, sizeof(out));
	shelf_write_tape(&suite, "SSC001L8", 53, 24);
	vp_wait_uploaded(&vtl, "SSC001L8");
	compare_store(&vtl, st, "SSC001L8");
	/* The server refuses the segment to a client without the key. */
	char tmp[64];
	size_t n;
	struct store_err err;
	cr_assert_neq(store_get(plain, "tapes/SSC001L8/seg/0000000000000001", 0, sizeof(tmp), tmp,
				&n, NULL, &err),
		      0, "the segment reads without the key");
	cr_assert_eq(err.http_status, 400, "%s", err.msg);
	size_t most = magic_at_rest("SSC001L8");
	cr_assert_leq(most, 1, "records in clear in RADOS: %zu in one object", most);
	cr_assert_geq(vp_status_until(&vtl, "evicted_segments", 1, out, sizeof(out)), 1,
		      "nothing evicted: %s", out);
	read_back("SSC001L8", 53, 24);

	vp_ctl_ok(&vtl, "tape archive SSC001L8 --wait", out, sizeof(out));
	struct store_object_info info;
	cr_assert_eq(store_head(st, "tapes/SSC001L8/seg/0000000000000001", &info, &err), 0, "%s",
		     err.msg);
	cr_assert_str_eq(info.storage_class, "GLACIER");
	cr_assert_str_eq(info.sse, "SSE-C");
	vp_ctl_ok(&vtl, "tape retrieve SSC001L8 --wait", out, sizeof(out));
	read_back("SSC001L8", 53, 24);
	most = magic_at_rest_without("SSC001L8", key);
	cr_assert_leq(most, 1, "records in clear in RADOS after archive: %zu in one object",
		      most);
	no_key_under(vtl.dir, key);

	/* A new machine with the key file rebuilds from the bucket. */
	vp_stop(&vtl);
	vp_start(&vtl, conf);
	vp_ctl_ok(&vtl, "catalog rebuild", out, sizeof(out));
	cr_assert(strstr(out, "SSC001L8") && strstr(out, "recovered"), "%s", out);
	read_back("SSC001L8", 53, 24);
	no_key_under(vtl.dir, key);
	unsetenv("VTL_SEGMENT_SIZE");
	store_close(st);
	store_close(plain);
	remove_key_file(keyfile);
}

/* [store] sse = aws:kms with radosgw's testing KMS: the tape is encrypted
 * at rest under the named key and reads back. */
Test(store_rgw_vtld, sse_kms_tape_is_encrypted_at_rest_under_the_named_key)
{
	static const char bucket[] = "vtl-ssekms";
	char conf[4096], out[8192];
	struct store *st = open_tls(bucket);
	tls_config(conf, sizeof(conf), tls_env("RGW_HTTPS_ENDPOINT"), bucket, true,
		   "sse = aws:kms\nsse_kms_key_id = vtl-test-key-2\ncache_limit = 12M\n");
	setenv("VTL_SEGMENT_SIZE", "4194304", 1);
	vp_start(&vtl, conf);
	vp_ctl_ok(&vtl, "tape create KMS001L8", out, sizeof(out));
	shelf_write_tape(&suite, "KMS001L8", 59, 12);
	vp_wait_uploaded(&vtl, "KMS001L8");
	compare_store(&vtl, st, "KMS001L8");
	struct store_object_info info;
	struct store_err err;
	cr_assert_eq(store_head(st, "tapes/KMS001L8/seg/0000000000000001", &info, &err), 0, "%s",
		     err.msg);
	cr_assert_str_eq(info.sse, "aws:kms");
	cr_assert_str_eq(info.sse_kms_key_id, "vtl-test-key-2");
	size_t most = magic_at_rest("KMS001L8");
	cr_assert_leq(most, 1, "records in clear in RADOS: %zu in one object", most);
	read_back("KMS001L8", 59, 12);
	cr_assert_eq(log_count(&vtl, "server-side encryption aws:kms"), 1);
	/* Another key takes a restart: the store was opened and checked with
	 * this one. */
	tls_config(conf, sizeof(conf), tls_env("RGW_HTTPS_ENDPOINT"), bucket, true,
		   "sse = aws:kms\nsse_kms_key_id = vtl-test-key-1\ncache_limit = 12M\n");
	rewrite_config(conf);
	vp_ctl(&vtl, out, sizeof(out), "store retry");
	cr_assert(strstr(out, "[store] sse_kms_key_id changed: they take a restart"), "%s", out);
	unsetenv("VTL_SEGMENT_SIZE");
	store_close(st);
}

/* An SSE-C store that cannot be asked at start (its certificate does not
 * verify without ca_bundle) does not stop vtld: nothing is written to it
 * until the check passes, and once ca_bundle is set the tape goes up,
 * under the key. */
Test(store_rgw_vtld, sse_not_checkable_at_start_holds_every_write_until_it_is_checked)
{
	static const char bucket[] = "vtl-ssec-later";
	char conf[4096], out[16384], keyfile[PATH_MAX], extra[PATH_MAX + 64];
	unsigned char key[32];
	sse_c_key_file(keyfile, sizeof(keyfile), key, 0600);
	struct store *plain = open_tls(bucket);
	snprintf(extra, sizeof(extra), "sse_customer_key_file = %s\n", keyfile);
	tls_config(conf, sizeof(conf), tls_env("RGW_HTTPS_ENDPOINT"), bucket, false, extra);
	vp_start(&vtl, conf);
	cr_assert_eq(log_count(&vtl, "server-side encryption not checked yet"), 1);
	vp_ctl_ok(&vtl, "tape create SSL001L8", out, sizeof(out));
	shelf_write_tape(&suite, "SSL001L8", 71, 2);
	int i;
	for (i = 0; i < 300; i++) {
		vp_ctl_ok(&vtl, "--json status", out, sizeof(out));
		if (strstr(out, "\"held_by\": \"certificate\""))
			break;
		usleep(100000);
	}
	cr_assert_lt(i, 300, "not held: %s", out);
	cr_assert(strstr(out, "server-side encryption"), "%s", out);
	struct store_object_info info;
	struct store_err err;
	cr_assert_eq(store_head(plain, "tapes/SSL001L8/seg/0000000000000001", &info, &err), -ENOENT,
		     "written before the check");
	tls_config(conf, sizeof(conf), tls_env("RGW_HTTPS_ENDPOINT"), bucket, true, extra);
	rewrite_config(conf);
	vp_ctl_ok(&vtl, "store retry", out, sizeof(out));
	vp_wait_uploaded(&vtl, "SSL001L8");
	struct store_s3_config cfg;
	rgw_s3_config(&cfg, bucket, tls_env("RGW_HTTPS_ENDPOINT"));
	cfg.ca_bundle = tls_env("RGW_CA_BUNDLE");
	cfg.sse = STORE_SSE_C;
	cfg.sse_c_key = key;
	struct store *st = rgw_open(&cfg);
	compare_store(&vtl, st, "SSL001L8");
	cr_assert_eq(store_head(st, "tapes/SSL001L8/seg/0000000000000001", &info, &err), 0, "%s",
		     err.msg);
	cr_assert_str_eq(info.sse, "SSE-C");
	vp_stop(&vtl);
	store_close(st);
	store_close(plain);
	remove_key_file(keyfile);
}

/* Encryption the service does not apply, and a key file others can read,
 * stop vtld at start with the reason and the fix; nothing is written. */
Test(store_rgw_vtld, sse_the_service_ignores_or_a_readable_key_file_stops_vtld_at_start)
{
	static const char bucket[] = "vtl-sse-refused";
	char conf[4096], log[16384], keyfile[PATH_MAX], extra[PATH_MAX + 64];
	struct store *st = open_tls(bucket);
	tls_config(conf, sizeof(conf), tls_env("RGW_HTTPS_ENDPOINT"), bucket, true, "");
	vp_start(&vtl, conf);
	vp_terminate(&vtl);
	/* radosgw 16 takes SSE-S3's header and stores in clear. */
	tls_config(conf, sizeof(conf), tls_env("RGW_HTTPS_ENDPOINT"), bucket, true,
		   "sse = AES256\n");
	rewrite_config(conf);
	cr_assert_neq(vp_start_fails(&vtl, log, sizeof(log)), 0);
	cr_assert(strstr(log, "[store] server-side encryption") && strstr(log, "AES256") &&
		      strstr(log, "stored in clear") && strstr(log, bucket),
		  "%s", log);
	struct store_object_info info;
	struct store_err err;
	cr_assert_eq(store_head(st, "sse-probe", &info, &err), -ENOENT, "probe left: %s", err.msg);
	/* A key file of mode 0644. */
	unsigned char key[32];
	sse_c_key_file(keyfile, sizeof(keyfile), key, 0644);
	snprintf(extra, sizeof(extra), "sse_customer_key_file = %s\n", keyfile);
	tls_config(conf, sizeof(conf), tls_env("RGW_HTTPS_ENDPOINT"), bucket, true, extra);
	rewrite_config(conf);
	cr_assert_neq(vp_start_fails(&vtl, log, sizeof(log)), 0);
	cr_assert(strstr(log, keyfile) && strstr(log, "chmod 600"), "%s", log);
	/* Both SSE-C and sse: S3 applies one. */
	chmod(keyfile, 0600);
	snprintf(extra, sizeof(extra), "sse = aws:kms\nsse_customer_key_file = %s\n", keyfile);
	tls_config(conf, sizeof(conf), tls_env("RGW_HTTPS_ENDPOINT"), bucket, true, extra);
	rewrite_config(conf);
	cr_assert_neq(vp_start_fails(&vtl, log, sizeof(log)), 0);
	cr_assert(strstr(log, "name two encryptions"), "%s", log);
	vp_stop(&vtl);
	remove_key_file(keyfile);
	store_close(st);
}

int main(int argc, char *argv[])
{
	return rgw_main(argc, argv, BUCKET);
}

/* The whole object at key, malloc'd; -errno. */
static int get_whole(struct store *st, const char *key, uint8_t **out, size_t *len)
{
	struct store_object_info info;
	struct store_err se;
	int rc = store_head(st, key, &info, &se);
	if (rc)
		return rc;
	*out = malloc(info.size + 1);
	cr_assert_not_null(*out);
	rc = store_get(st, key, 0, info.size, *out, len, NULL, &se);
	if (rc)
		free(*out);
	return rc;
}

/* Disaster recovery of governance: pools, an automatic creation policy
 * and a tape's retention lock are in the bucket (the library record), so a
 * catalog rebuilt from the bucket alone, on a new data directory, has them
 * exactly as they were. */
Test(store_rgw_vtld, a_rebuild_brings_back_pools_policies_and_a_tapes_retention_lock)
{
	char conf[1024], out[8192], before[8192];
	struct store *st = rgw_store(BUCKET, NULL);
	snprintf(conf, sizeof(conf),
		 "[store]\ntype = s3\nendpoint = %s\nbucket = %s\naddressing = path\n"
		 "region = us-east-1\naccess_key_id = %s\nsecret_access_key = %s\n"
		 "prefix = gov/\npart_size = 5M\nidle_complete = 1\n",
		 getenv("RGW_ENDPOINT"), BUCKET, getenv("RGW_ACCESS_KEY"),
		 getenv("RGW_SECRET_KEY"));
	vp_start(&vtl, conf);
	vp_ctl_ok(&vtl,
		  "pool create GOV30 --storage-class GLACIER --lock governance "
		  "--retention-days 30",
		  out, sizeof(out));
	vp_ctl_ok(&vtl, "tape create --pool GOV30 RGP001L8", out, sizeof(out));
	vp_wait_uploaded(&vtl, "RGP001L8");
	vp_ctl_ok(&vtl, "tape archive RGP001L8 --wait", out, sizeof(out));
	vp_ctl_ok(&vtl, "autocreate set RGQ --minimum 1 --pool GOV30", out, sizeof(out));
	vp_ctl_ok(&vtl, "tape show RGP001L8 --json", before, sizeof(before));
	cr_assert(strstr(before, "\"retention_lock\": \"governance\""), "%s", before);
	/* The record reaches the bucket within a round or two. */
	uint8_t *text = NULL;
	size_t len = 0;
	bool there = false;
	for (int i = 0; i < 600 && !there; i++) {
		free(text);
		text = NULL;
		if (get_whole(st, "gov/library/record.json", &text, &len) == 0)
			there = memmem(text, len, "RGQ", 3) && memmem(text, len, "RGP001L8", 8);
		if (!there)
			usleep(100000);
	}
	free(text);
	cr_assert(there, "no library record with the tape and the policy in the bucket");
	vp_stop(&vtl);

	/* A new machine: an empty data directory, the same bucket. */
	vp_start_with(&vtl, conf, "--rebuild-catalog");
	tape_in_state(&vtl, "RGP001L8", "ARCHIVED");
	vp_ctl_ok(&vtl, "tape show RGP001L8 --json", out, sizeof(out));
	cr_assert(strstr(out, "\"pool\": \"GOV30\""), "%s", out);
	const char *a = strstr(before, "\"retain_until\""), *b = strstr(out, "\"retain_until\"");
	cr_assert(a && b && strncmp(a, b, 40) == 0, "retain_until differs: %s vs %s", before, out);
	vp_ctl_ok(&vtl, "pool show GOV30 --json", out, sizeof(out));
	cr_assert(strstr(out, "\"retention_days\": 30") && strstr(out, "GLACIER"), "%s", out);
	vp_ctl_ok(&vtl, "autocreate list --json", out, sizeof(out));
	cr_assert(strstr(out, "\"prefix\": \"RGQ\""), "%s", out);
	/* And the lock holds. */
	cr_assert_neq(vp_ctl(&vtl, out, sizeof(out), "tape delete RGP001L8 --force"), 0);
	cr_assert(strstr(out, "GOVERNANCE"), "%s", out);
	store_close(st);
}

/* The first segment key of a tape under pfx (store_list callback). */
static int first_key(void *arg, const struct store_list_entry *e)
{
	char *out = arg;
	if (!out[0] && !e->is_prefix)
		snprintf(out, STORE_KEY_MAX, "%s", e->key);
	return 0;
}

/* [store] object_lock = yes: a tape archived from a compliance pool is
 * locked by the server itself. The test's own client, with the bucket's
 * credentials, cannot delete the segment's version, even asking to bypass
 * governance; vtld refuses too. A bucket without Object Lock is refused at
 * start, naming the key and the fix. */
Test(store_rgw_vtld, object_lock_makes_the_server_refuse_to_delete_a_locked_tapes_objects)
{
	char conf[1024], out[8192], log[8192];
	struct store_err se;
	struct store *st = rgw_store("vtl-locked", NULL);
	int rc = store_s3_create_bucket_locked(st, &se);
	cr_assert(rc == 0 || rc == -EEXIST, "%d %s", rc, se.msg);
	char creds[512];
	snprintf(creds, sizeof(creds),
		 "region = us-east-1\naddressing = path\naccess_key_id = %s\n"
		 "secret_access_key = %s\nendpoint = %s\n",
		 getenv("RGW_ACCESS_KEY"), getenv("RGW_SECRET_KEY"), getenv("RGW_ENDPOINT"));

	/* A bucket that cannot lock: refused at start. */
	snprintf(conf, sizeof(conf), "[store]\ntype = s3\nbucket = %s\nprefix = nolock/\n%s",
		 BUCKET, creds);
	vp_start(&vtl, conf);
	vp_terminate(&vtl);
	FILE *f = fopen(vtl.config, "a");
	cr_assert_not_null(f);
	fputs("object_lock = yes\n", f);
	fclose(f);
	cr_assert_neq(vp_start_fails(&vtl, log, sizeof(log)), 0);
	cr_assert(strstr(log, "object_lock = yes") && strstr(log, BUCKET), "%s", log);
	vp_stop(&vtl);

	snprintf(conf, sizeof(conf),
		 "[store]\ntype = s3\nbucket = vtl-locked\nprefix = lock/\nobject_lock = yes\n"
		 "part_size = 5M\nidle_complete = 1\n%s",
		 creds);
	vp_start(&vtl, conf);
	vp_ctl_ok(&vtl, "pool create KEEP1 --lock compliance --retention-days 1", out, sizeof(out));
	vp_ctl_ok(&vtl, "tape create --pool KEEP1 RGL001L8", out, sizeof(out));
	shelf_write_tape(&suite, "RGL001L8", 5, 2);
	vp_wait_uploaded(&vtl, "RGL001L8");
	vp_ctl_ok(&vtl, "tape archive RGL001L8 --wait", out, sizeof(out));

	char key[STORE_KEY_MAX] = "";
	struct store_list_opts lo = {.prefix = "lock/tapes/RGL001L8/seg/"};
	cr_assert_eq(store_list(st, &lo, first_key, key, &se), 0, "%s", se.msg);
	cr_assert(key[0], "no segment of the tape in the bucket");
	struct store_object_info info;
	cr_assert_eq(store_head(st, key, &info, &se), 0, "%s", se.msg);
	cr_assert(info.version_id[0], "the locked bucket is versioned");
	cr_assert_eq(info.retention.mode, STORE_LOCK_COMPLIANCE);
	cr_assert_gt(info.retention.until, (int64_t)time(NULL) + 86000);
	/* The server itself refuses, whatever the client asks. */
	cr_assert_eq(store_delete_version(st, key, info.version_id, 1, &se), -EPERM, "%s", se.msg);
	struct store_object_info again;
	cr_assert_eq(store_head(st, key, &again, &se), 0, "the version is gone: %s", se.msg);
	cr_assert_str_eq(again.version_id, info.version_id);
	/* And vtld's own guard, to the same date. */
	cr_assert_neq(vp_ctl(&vtl, out, sizeof(out), "tape delete RGL001L8 --force"), 0);
	cr_assert(strstr(out, "COMPLIANCE"), "%s", out);
	store_close(st);
}

/* The segment key of a tape under prefix, and its current version. */
static void first_segment(struct store *st, const char *prefix, const char *bc, char *key,
			  struct store_object_info *info)
{
	char pfx[STORE_KEY_MAX];
	struct store_err se;
	snprintf(pfx, sizeof(pfx), "%stapes/%s/seg/", prefix, bc);
	struct store_list_opts lo = {.prefix = pfx};
	key[0] = 0;
	cr_assert_eq(store_list(st, &lo, first_key, key, &se), 0, "%s", se.msg);
	cr_assert(key[0], "no segment of tape %s in the bucket", bc);
	cr_assert_eq(store_head(st, key, info, &se), 0, "%s", se.msg);
}

/* AWS's AssignTapePool of an archived tape: assigned to a pool of another
 * class and a governance lock, its segments move to that class and the
 * server locks them until the pool's date, counted from the assignment;
 * the versions in the old class are deleted (nothing locked them). */
Test(store_rgw_vtld, an_archived_tape_assigned_to_another_pool_moves_to_its_class_and_lock)
{
	char conf[1024], out[8192], key[STORE_KEY_MAX];
	struct store_err se;
	struct store *st = rgw_store("vtl-locked", NULL);
	int rc = store_s3_create_bucket_locked(st, &se);
	cr_assert(rc == 0 || rc == -EEXIST, "%d %s", rc, se.msg);
	snprintf(conf, sizeof(conf),
		 "[store]\ntype = s3\nbucket = vtl-locked\nprefix = move/\nobject_lock = yes\n"
		 "part_size = 5M\nidle_complete = 1\nregion = us-east-1\naddressing = path\n"
		 "access_key_id = %s\nsecret_access_key = %s\nendpoint = %s\n",
		 getenv("RGW_ACCESS_KEY"), getenv("RGW_SECRET_KEY"), getenv("RGW_ENDPOINT"));
	vp_start(&vtl, conf);
	vp_ctl_ok(&vtl, "tape create --pool GLACIER RGM001L8", out, sizeof(out));
	shelf_write_tape(&suite, "RGM001L8", 9, 2);
	vp_wait_uploaded(&vtl, "RGM001L8");
	vp_ctl_ok(&vtl, "tape archive RGM001L8 --wait", out, sizeof(out));
	struct store_object_info was, now;
	first_segment(st, "move/", "RGM001L8", key, &was);
	cr_assert_str_eq(was.storage_class, "GLACIER");
	cr_assert_eq(was.retention.mode, STORE_LOCK_NONE);

	vp_ctl_ok(&vtl,
		  "pool create KEEP2 --storage-class DEEP_ARCHIVE --lock governance "
		  "--retention-days 2",
		  out, sizeof(out));
	time_t t0 = time(NULL);
	vp_ctl_ok(&vtl, "tape assign-pool RGM001L8 KEEP2", out, sizeof(out));
	vp_ctl_ok(&vtl, "tape show RGM001L8", out, sizeof(out));
	cr_assert(strstr(out, "KEEP2") && strstr(out, "governance"), "%s", out);
	bool moved = false;
	for (int i = 0; i < 300 && !moved; i++) {
		first_segment(st, "move/", "RGM001L8", key, &now);
		moved = !strcmp(now.storage_class, "DEEP_ARCHIVE") &&
			now.retention.mode == STORE_LOCK_GOVERNANCE;
		if (!moved)
			usleep(100000);
	}
	cr_assert(moved, "%s is in %s, lock mode %d", key, now.storage_class,
		  (int)now.retention.mode);
	cr_assert_geq(now.retention.until, (int64_t)t0 + 2 * 86400 - 5);
	cr_assert_eq(now.size, was.size);
	cr_assert_str_neq(now.version_id, was.version_id);
	struct store_retention r;
	cr_assert_eq(store_get_retention(st, key, was.version_id, &r, &se), -ENOENT,
		     "the GLACIER version is deleted: %s", se.msg);
	/* The data is whole: retrieved, it reads back. */
	vp_ctl_ok(&vtl, "tape retrieve RGM001L8 --wait", out, sizeof(out));
	store_close(st);
}

static int count_versions(void *arg, const struct store_version_entry *e)
{
	(void)e;
	(*(int *)arg)++;
	return 0;
}

/* A deleted tape's objects go for good on a versioned bucket: not hidden
 * behind delete markers but every version deleted, the ones its
 * governance lock holds with the bypass an administrator asked for. */
Test(store_rgw_vtld, a_deleted_tape_leaves_no_version_in_a_locked_bucket)
{
	char conf[1024], out[8192], pfx[128];
	struct store_err se;
	struct store *st = rgw_store("vtl-locked", NULL);
	int rc = store_s3_create_bucket_locked(st, &se);
	cr_assert(rc == 0 || rc == -EEXIST, "%d %s", rc, se.msg);
	snprintf(conf, sizeof(conf),
		 "[library]\ngovernance_bypass = yes\n"
		 "[store]\ntype = s3\nbucket = vtl-locked\nprefix = gone/\nobject_lock = yes\n"
		 "part_size = 5M\nidle_complete = 1\nregion = us-east-1\naddressing = path\n"
		 "access_key_id = %s\nsecret_access_key = %s\nendpoint = %s\n",
		 getenv("RGW_ACCESS_KEY"), getenv("RGW_SECRET_KEY"), getenv("RGW_ENDPOINT"));
	vp_start(&vtl, conf);
	vp_ctl_ok(&vtl, "pool create KEEP3 --lock governance --retention-days 1", out, sizeof(out));
	vp_ctl_ok(&vtl, "tape create --pool KEEP3 RGD001L8", out, sizeof(out));
	shelf_write_tape(&suite, "RGD001L8", 11, 2);
	vp_wait_uploaded(&vtl, "RGD001L8");
	vp_ctl_ok(&vtl, "tape archive RGD001L8 --wait", out, sizeof(out));
	snprintf(pfx, sizeof(pfx), "gone/tapes/RGD001L8/");
	int n = 0;
	cr_assert_eq(store_list_versions(st, pfx, count_versions, &n, &se), 0, "%s", se.msg);
	cr_assert_gt(n, 1, "the archived tape's versions are in the bucket");
	vp_ctl_ok(&vtl, "tape delete RGD001L8 --force --bypass-governance", out, sizeof(out));
	for (int i = 0; i < 300 && n; i++) {
		n = 0;
		cr_assert_eq(store_list_versions(st, pfx, count_versions, &n, &se), 0, "%s",
			     se.msg);
		if (n)
			usleep(100000);
	}
	cr_assert_eq(n, 0, "%d versions or markers left under %s", n, pfx);
	store_close(st);
}

/* ---- Encryption of cartridges at rest, the bucket radosgw's ---------- */

static const char at_rest_marker[] = "vtl at-rest plaintext in radosgw; ";

static void at_rest_records(struct vtld_proc *p, const char *bc, bool write)
{
	static uint8_t buf[65536], want[65536];
	char out[8192], args[128];
	for (size_t i = 0; i < sizeof(want); i++)
		want[i] = (uint8_t)at_rest_marker[i % (sizeof(at_rest_marker) - 1)];
	snprintf(args, sizeof(args), "tape move %s --to drive:1", bc);
	vp_ctl_ok(p, args, out, sizeof(out));
	struct iscsi_context *iscsi = vp_login(p, false);
	th_tur_clear(iscsi, 1);
	for (int i = 0; i < 4; i++) {
		if (write) {
			th_write6(iscsi, 1, want, sizeof(want));
			continue;
		}
		th_read6(iscsi, 1, buf, sizeof(buf));
		cr_assert_eq(memcmp(buf, want, sizeof(buf)), 0, "record %d of %s differs", i, bc);
	}
	if (write)
		th_filemarks(iscsi, 1, 1);
	th_logout(iscsi);
	vp_ctl_ok(p, "drive unload 1", out, sizeof(out));
}

struct at_rest_scan {
	struct store *st;
	const void *needle;
	size_t len;
	char found[STORE_KEY_MAX];
	int objects;
};

static int at_rest_scan_cb(void *arg, const struct store_list_entry *e)
{
	struct at_rest_scan *s = arg;
	uint8_t *buf;
	size_t n;
	if (e->is_prefix || get_whole(s->st, e->key, &buf, &n))
		return 0;
	s->objects++;
	for (size_t i = 0; i + s->len <= n && !s->found[0]; i++)
		if (memcmp(buf + i, s->needle, s->len) == 0)
			snprintf(s->found, sizeof(s->found), "%s", e->key);
	free(buf);
	return 0;
}

/* radosgw under prefix atrest/, and [encryption] with the master key file
 * `key` (NULL: none). */
static void at_rest_conf(char *conf, size_t cap, const char *key)
{
	snprintf(conf, cap,
		 "[store]\ntype = s3\nendpoint = %s\nbucket = %s\naddressing = path\n"
		 "region = us-east-1\naccess_key_id = %s\nsecret_access_key = %s\n"
		 "prefix = atrest/\nidle_complete = 1\n%s%s\n",
		 getenv("RGW_ENDPOINT"), BUCKET, getenv("RGW_ACCESS_KEY"), getenv("RGW_SECRET_KEY"),
		 key ? "[encryption]\nmode = library\nmaster_key_file = " : "", key ? key : "");
}

Test(store_rgw_vtld, a_tape_encrypted_at_rest_is_ciphertext_in_radosgw_and_a_rebuild_needs_its_key)
{
	char conf[2048], out[16384], keydir[128], key1[256], key2[256];
	struct store *st = rgw_store(BUCKET, NULL);
	snprintf(keydir, sizeof(keydir), "/tmp/vtl-rgw-keys-XXXXXX");
	cr_assert_not_null(mkdtemp(keydir));
	uint8_t k1[32], k2[32];
	for (int i = 0; i < 32; i++) {
		k1[i] = (uint8_t)(0xa5 ^ (i * 7));
		k2[i] = (uint8_t)(0x3c ^ (i * 13));
	}
	snprintf(key1, sizeof(key1), "%s/k1", keydir);
	snprintf(key2, sizeof(key2), "%s/k2", keydir);
	FILE *f = fopen(key1, "w");
	cr_assert_eq(fwrite(k1, 1, 32, f), 32);
	fclose(f);
	f = fopen(key2, "w");
	cr_assert_eq(fwrite(k2, 1, 32, f), 32);
	fclose(f);
	chmod(key1, 0600);
	chmod(key2, 0600);
	at_rest_conf(conf, sizeof(conf), key1);
	vp_start(&vtl, conf);
	vp_ctl_ok(&vtl, "tape create RAT001L8", out, sizeof(out));
	at_rest_records(&vtl, "RAT001L8", true);
	vp_wait_uploaded(&vtl, "RAT001L8");

	/* The bucket: the wrapped key, and no plaintext nor master key. */
	uint8_t *kobj;
	size_t klen;
	cr_assert_eq(get_whole(st, "atrest/tapes/RAT001L8/KEY", &kobj, &klen), 0);
	cr_assert(klen > 20 && memcmp(kobj, "v1:", 3) == 0, "KEY: %.*s", (int)klen, kobj);
	free(kobj);
	struct store_list_opts lo = {.prefix = "atrest/tapes/RAT001L8/"};
	struct store_err se;
	struct at_rest_scan sc = {st, at_rest_marker, sizeof(at_rest_marker) - 1, "", 0};
	cr_assert_eq(store_list(st, &lo, at_rest_scan_cb, &sc, &se), 0, "%s", se.msg);
	cr_assert_geq(sc.objects, 4, "segment, manifest, state and KEY");
	cr_assert_str_eq(sc.found, "", "plaintext in %s", sc.found);
	struct at_rest_scan sk = {st, k1, 8, "", 0};
	cr_assert_eq(store_list(st, &lo, at_rest_scan_cb, &sk, &se), 0, "%s", se.msg);
	cr_assert_str_eq(sk.found, "", "the master key in %s", sk.found);

	/* The machine is lost; a new one without the key refuses to rebuild. */
	vp_stop(&vtl);
	at_rest_conf(conf, sizeof(conf), NULL);
	vp_start(&vtl, conf);
	cr_assert_neq(vp_ctl(&vtl, out, sizeof(out), "catalog rebuild"), 0, "%s", out);
	cr_assert(strstr(out, "RAT001L8") && strstr(out, "refused, nothing was changed"), "%s",
		  out);
	vp_ctl_ok(&vtl, "tape list", out, sizeof(out));
	cr_assert_null(strstr(out, "RAT001L8"), "%s", out);
	/* Another key: refused as well. */
	cr_assert_eq(vp_terminate(&vtl), 0);
	at_rest_conf(conf, sizeof(conf), key2);
	rewrite_config(conf);
	vp_restart(&vtl);
	cr_assert_neq(vp_ctl(&vtl, out, sizeof(out), "catalog rebuild"), 0, "%s", out);
	cr_assert(strstr(out, "RAT001L8 (master key "), "%s", out);
	/* With it: recovered, downloaded, and it reads. */
	cr_assert_eq(vp_terminate(&vtl), 0);
	at_rest_conf(conf, sizeof(conf), key1);
	rewrite_config(conf);
	vp_restart(&vtl);
	vp_ctl_ok(&vtl, "catalog rebuild", out, sizeof(out));
	cr_assert(strstr(out, "RAT001L8") && strstr(out, "recovered"), "%s", out);
	at_rest_records(&vtl, "RAT001L8", false);
	vp_stop(&vtl);
	unlink(key1);
	unlink(key2);
	rmdir(keydir);
	store_close(st);
}

/* The KEY object of a tape encrypted at rest is locked with the tape's
 * other objects when it is archived in a locked pool: the locked data is
 * worth nothing to a disaster recovery without it. A rotation puts its new
 * version locked until the same date, and the version it replaces stays
 * (and stays locked). */
Test(store_rgw_vtld, a_locked_tape_encrypted_at_rest_has_its_key_object_locked_through_a_rotation)
{
	char conf[2048], out[16384], keydir[128], key1[256], key2[256], creds[512];
	struct store_err se;
	struct store *st = rgw_store("vtl-locked", NULL);
	int rc = store_s3_create_bucket_locked(st, &se);
	cr_assert(rc == 0 || rc == -EEXIST, "%d %s", rc, se.msg);
	snprintf(keydir, sizeof(keydir), "/tmp/vtl-rgw-lockkeys-XXXXXX");
	cr_assert_not_null(mkdtemp(keydir));
	snprintf(key1, sizeof(key1), "%s/k1", keydir);
	snprintf(key2, sizeof(key2), "%s/k2", keydir);
	const char *paths[2] = {key1, key2};
	for (int k = 0; k < 2; k++) {
		uint8_t raw[32];
		for (int i = 0; i < 32; i++)
			raw[i] = (uint8_t)((k ? 0x5a : 0xc3) ^ (i * 11));
		FILE *f = fopen(paths[k], "w");
		cr_assert_not_null(f);
		cr_assert_eq(fwrite(raw, 1, 32, f), 32);
		fclose(f);
		chmod(paths[k], 0600);
	}
	snprintf(creds, sizeof(creds),
		 "[store]\ntype = s3\nbucket = vtl-locked\nprefix = lockkey/\nobject_lock = yes\n"
		 "part_size = 5M\nidle_complete = 1\nregion = us-east-1\naddressing = path\n"
		 "access_key_id = %s\nsecret_access_key = %s\nendpoint = %s\n",
		 getenv("RGW_ACCESS_KEY"), getenv("RGW_SECRET_KEY"), getenv("RGW_ENDPOINT"));
	snprintf(conf, sizeof(conf), "%s[encryption]\nmode = library\nmaster_key_file = %s\n",
		 creds, key1);
	vp_start(&vtl, conf);
	vp_ctl_ok(&vtl, "pool create KEEPK --lock governance --retention-days 1", out, sizeof(out));
	vp_ctl_ok(&vtl, "tape create --pool KEEPK RLK001L8", out, sizeof(out));
	at_rest_records(&vtl, "RLK001L8", true);
	vp_wait_uploaded(&vtl, "RLK001L8");
	vp_ctl_ok(&vtl, "tape archive RLK001L8 --wait", out, sizeof(out));

	const char *kkey = "lockkey/tapes/RLK001L8/KEY";
	struct store_object_info first;
	cr_assert_eq(store_head(st, kkey, &first, &se), 0, "%s", se.msg);
	cr_assert(first.version_id[0], "the locked bucket is versioned");
	cr_assert_eq(first.retention.mode, STORE_LOCK_GOVERNANCE, "the KEY object is not locked");
	cr_assert_gt(first.retention.until, (int64_t)time(NULL) + 86000);
	/* Without the bypass the server refuses to delete it. */
	cr_assert_eq(store_delete_version(st, kkey, first.version_id, 0, &se), -EPERM, "%s",
		     se.msg);

	/* A new master key, the old one as the previous: rotate. */
	cr_assert_eq(vp_terminate(&vtl), 0);
	snprintf(conf, sizeof(conf),
		 "%s[encryption]\nmode = library\nmaster_key_file = %s\nprevious_key_file = %s\n",
		 creds, key2, key1);
	rewrite_config(conf);
	vp_restart(&vtl);
	vp_ctl_ok(&vtl, "key rotate", out, sizeof(out));
	struct store_object_info now;
	cr_assert_eq(store_head(st, kkey, &now, &se), 0, "%s", se.msg);
	cr_assert_str_neq(now.version_id, first.version_id, "the rotation put a new version");
	cr_assert_eq(now.retention.mode, STORE_LOCK_GOVERNANCE, "the new version is not locked");
	cr_assert_eq(now.retention.until, first.retention.until);
	int n = 0;
	cr_assert_eq(store_list_versions(st, kkey, count_versions, &n, &se), 0, "%s", se.msg);
	cr_assert_eq(n, 2, "both wraps are kept: %d versions", n);
	cr_assert_eq(store_delete_version(st, kkey, first.version_id, 0, &se), -EPERM, "%s",
		     se.msg);
	vp_stop(&vtl);
	unlink(key1);
	unlink(key2);
	rmdir(keydir);
	store_close(st);
}
