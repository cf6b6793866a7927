/*
 * rgw_fixture.c - Ceph's radosgw around a Criterion test program: started
 * by tests/s3/rgw.sh before the tests, a bucket created, stopped after.
 * The tests read RGW_ENDPOINT, RGW_ACCESS_KEY and RGW_SECRET_KEY from the
 * environment (and, for HTTPS, RGW_HTTPS_ENDPOINT, RGW_HTTPS_OTHER_ENDPOINT
 * and RGW_CA_BUNDLE; RGW_DIR for rgw_set_quota); when radosgw cannot
 * start, VTL_RGW_ERROR says why and every
 * test that needs it fails with that message (nothing is skipped).
 * An RGW_ENDPOINT already set means a server the caller runs.
 */
#include "config.h"

#include "tests/s3/rgw_fixture.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "s3/store.h"

static char rgw_dir[256];

void rgw_fail(const char *why, const char *detail)
{
	char msg[4096];
	snprintf(msg, sizeof(msg), "%s%s%s", why, detail && *detail ? ": " : "",
		 detail ? detail : "");
	setenv("VTL_RGW_ERROR", msg, 1);
	fprintf(stderr, "%s: %s\n", program_invocation_short_name, msg);
}

static void rgw_start(void)
{
	if (getenv("RGW_ENDPOINT"))
		return; /* a server the caller runs */
	const char *shm = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(rgw_dir, sizeof(rgw_dir), "%s/vtl-rgw-XXXXXX", shm);
	if (!mkdtemp(rgw_dir)) {
		rgw_fail("cannot create a directory for radosgw", rgw_dir);
		return;
	}
	char cmd[1024], errfile[300];
	snprintf(errfile, sizeof(errfile), "%s.err", rgw_dir);
	/* Up to three attempts, after waiting for another test program's
	 * cluster to finish starting (rgw.sh). */
	snprintf(cmd, sizeof(cmd), "timeout 900 sh '%s' start '%s' 2>'%s'", RGW_SH, rgw_dir,
		 errfile);
	fprintf(stderr, "%s: starting radosgw in %s\n", program_invocation_short_name, rgw_dir);
	FILE *p = popen(cmd, "r");
	char line[512];
	while (p && fgets(line, sizeof(line), p)) {
		line[strcspn(line, "\n")] = 0;
		char *eq = strchr(line, '=');
		if (!eq || strncmp(line, "RGW_", 4))
			continue;
		*eq = 0;
		char *v = eq + 1;
		if (*v == '\'') {
			v++;
			v[strcspn(v, "'")] = 0;
		}
		setenv(line, v, 1);
	}
	int status = p ? pclose(p) : -1;
	if (status != 0 || !getenv("RGW_ENDPOINT")) {
		char detail[2048] = "";
		FILE *e = fopen(errfile, "r");
		if (e) {
			/* The end: what the last attempt said. */
			if (fseek(e, -(long)(sizeof(detail) - 1), SEEK_END) != 0)
				rewind(e);
			size_t n = fread(detail, 1, sizeof(detail) - 1, e);
			detail[n] = 0;
			fclose(e);
		}
		unlink(errfile);
		rgw_fail("tests/s3/rgw.sh start failed (install radosgw ceph-mon ceph-osd with "
			 "scripts/install-deps.sh test)",
			 detail);
		return;
	}
	unlink(errfile);
	setenv("RGW_DIR", rgw_dir, 1);
	fprintf(stderr, "%s: radosgw at %s and %s\n", program_invocation_short_name,
		getenv("RGW_ENDPOINT"), getenv("RGW_HTTPS_ENDPOINT"));
}

void rgw_set_quota(const char *bucket, long long bytes)
{
	const char *dir = getenv("RGW_DIR");
	cr_assert_not_null(dir, "no quota without radosgw-admin: this radosgw was not started "
				"by the tests (RGW_ENDPOINT was set)");
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "sh '%s' quota '%s' '%s' %lld", RGW_SH, dir, bucket, bytes);
	cr_assert_eq(system(cmd), 0, "%s failed", cmd);
}

static void read_whole(const char *path, struct rgw_raw_obj *o)
{
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	cr_assert_eq(fseek(f, 0, SEEK_END), 0);
	long sz = ftell(f);
	cr_assert_geq(sz, 0);
	rewind(f);
	o->len = (size_t)sz;
	o->data = malloc(o->len + 1);
	cr_assert_not_null(o->data);
	cr_assert_eq(fread(o->data, 1, o->len, f), o->len, "%s: short read", path);
	fclose(f);
}

void rgw_raw(const char *name, struct rgw_raw *raw)
{
	const char *dir = getenv("RGW_DIR");
	cr_assert_not_null(dir, "no look at RADOS: this radosgw was not started by the tests "
				"(RGW_ENDPOINT was set)");
	char out[] = "/tmp/vtl-rgw-raw-XXXXXX";
	cr_assert_not_null(mkdtemp(out), "mkdtemp: %s", strerror(errno));
	char cmd[2048];
	snprintf(cmd, sizeof(cmd), "sh '%s' raw '%s' '%s' '%s'", RGW_SH, dir, name, out);
	cr_assert_eq(system(cmd), 0, "%s failed", cmd);
	*raw = (struct rgw_raw){0};
	/* rgw.sh names the files 0, 1, ... in the order it read them. */
	for (;; raw->n++) {
		char path[sizeof(out) + 24];
		snprintf(path, sizeof(path), "%s/%zu", out, raw->n);
		if (access(path, F_OK) != 0)
			break;
		raw->obj = realloc(raw->obj, (raw->n + 1) * sizeof(*raw->obj));
		cr_assert_not_null(raw->obj);
		read_whole(path, &raw->obj[raw->n]);
		unlink(path);
	}
	rmdir(out);
	cr_assert_gt(raw->n, 0, "RADOS holds nothing for %s", name);
}

void rgw_raw_free(struct rgw_raw *raw)
{
	for (size_t i = 0; i < raw->n; i++)
		free(raw->obj[i].data);
	free(raw->obj);
	*raw = (struct rgw_raw){0};
}

static void rgw_bucket(const char *bucket)
{
	if (getenv("VTL_RGW_ERROR"))
		return;
	struct store_s3_config cfg = {.bucket = bucket,
				      .endpoint = getenv("RGW_ENDPOINT"),
				      .addressing = STORE_S3_PATH,
				      .access_key = getenv("RGW_ACCESS_KEY"),
				      .secret_key = getenv("RGW_SECRET_KEY")};
	struct store *st;
	struct store_err err;
	if (store_s3_open(&cfg, &st, &err)) {
		rgw_fail("cannot open the S3 store", err.msg);
		return;
	}
	if (store_s3_create_bucket(st, &err))
		rgw_fail("cannot create the test bucket", err.msg);
	store_close(st);
}

static void rgw_stop(void)
{
	if (!rgw_dir[0])
		return;
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "sh '%s' stop '%s'", RGW_SH, rgw_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "%s: stopping radosgw in %s failed\n",
			program_invocation_short_name, rgw_dir);
}

/* Criterion 2.4's runner leaks a 48-byte event now and then when tests run
 * in parallel (seen under LeakSanitizer with --jobs 2, never with --jobs 1);
 * the leak is in libcriterion, not in code under test. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libcriterion.so\n";
}

int rgw_main(int argc, char *argv[], const char *bucket)
{
	struct criterion_test_set *tests = criterion_initialize();
	int result = 0;
	if (criterion_handle_args(argc, argv, true)) {
		rgw_start();
		rgw_bucket(bucket);
		result = !criterion_run_all_tests(tests);
		rgw_stop();
	}
	criterion_finalize(tests);
	return result;
}

void rgw_require(void)
{
	const char *why = getenv("VTL_RGW_ERROR");
	if (why)
		cr_assert_fail("radosgw is not available, so this S3 test cannot run: %s", why);
	cr_assert_not_null(getenv("RGW_ENDPOINT"), "RGW_ENDPOINT is not set");
}

void rgw_s3_config(struct store_s3_config *cfg, const char *bucket, const char *endpoint)
{
	rgw_require();
	memset(cfg, 0, sizeof(*cfg));
	cfg->bucket = bucket;
	cfg->endpoint = endpoint ? endpoint : getenv("RGW_ENDPOINT");
	cfg->region = "us-east-1";
	cfg->addressing = STORE_S3_PATH;
	cfg->access_key = getenv("RGW_ACCESS_KEY");
	cfg->secret_key = getenv("RGW_SECRET_KEY");
}

struct store *rgw_open(const struct store_s3_config *cfg)
{
	struct store *st;
	struct store_err err;
	int rc = store_s3_open(cfg, &st, &err);
	cr_assert_eq(rc, 0, "store_s3_open %s at %s: %s", cfg->bucket, cfg->endpoint, err.msg);
	return st;
}

struct store *rgw_store(const char *bucket, const char *endpoint)
{
	struct store_s3_config cfg;
	rgw_s3_config(&cfg, bucket, endpoint);
	return rgw_open(&cfg);
}
