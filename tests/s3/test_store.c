/*
 * One conformance suite for the store interface, run against both backends:
 * the local directory (store_local) and Ceph's radosgw (store_rgw), a real
 * S3 server that main() starts with tests/s3/rgw.sh before the tests and
 * stops after them. When radosgw cannot start, every store_rgw test fails
 * with the reason; none is skipped.
 *
 * A fault-injecting proxy (faultproxy.c) between the client and radosgw
 * proves the retries (SlowDown, dropped connections, stalls) and that a
 * corrupted body is caught (Content-MD5 refused by the server on upload,
 * the ETag check on download).
 *
 * Set RGW_ENDPOINT, RGW_ACCESS_KEY and RGW_SECRET_KEY to run against a
 * server that is already running instead of starting one.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "s3/store.h"
#include "tests/s3/rgw_fixture.h"
#include "tests/s3/faultproxy.h"
#include "tests/tmpdir.h"

#define BUCKET "vtl-test"
#define MiB    (1u << 20)

/* --- fixtures -------------------------------------------------------------- */

static char local_dir[256];

/* A local store in a new directory (its name into dir). */
static struct store *open_local_in(char *dir, size_t n)
{
	tmpdir_make(dir, n, "store");
	struct store *st;
	struct store_err err;
	int rc = store_local_open(dir, &st, &err);
	cr_assert_eq(rc, 0, "store_local_open: %s", err.msg);
	return st;
}

static void close_local_in(struct store *st, const char *dir)
{
	store_close(st);
	cr_assert_eq(tmpdir_remove(dir), 0);
}

static struct store *open_local(void)
{
	return open_local_in(local_dir, sizeof(local_dir));
}

static void close_local(struct store *st)
{
	close_local_in(st, local_dir);
}

static void rgw_config(struct store_s3_config *cfg)
{
	rgw_s3_config(cfg, BUCKET, NULL);
	cfg->retry_base_ms = 20;
	cfg->retry_max_ms = 500;
}

static struct store *open_rgw(void)
{
	rgw_require();
	struct store_s3_config cfg;
	rgw_config(&cfg);
	return rgw_open(&cfg);
}

static int rgw_port(void)
{
	const char *ep = getenv("RGW_ENDPOINT");
	const char *colon = strrchr(ep, ':');
	return colon ? atoi(colon + 1) : 80;
}

static void fill(unsigned char *buf, size_t n, unsigned seed)
{
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = (unsigned char)x;
	}
}

/* Each test uses its own prefix, so tests can share a bucket and run in
 * parallel; on S3 the prefix also carries the pid, so a rerun against a
 * server that kept objects starts clean. */
static void prefix_for(char *out, size_t n, const char *test, int s3)
{
	if (s3)
		snprintf(out, n, "t%d/%s/", (int)getpid(), test);
	else
		snprintf(out, n, "%s/", test);
}

#define KEY(buf, pfx, name) snprintf(buf, sizeof(buf), "%s%s", pfx, name)

/* Run `name` against both backends. */
#define CONFORMANCE(name, ...)                                                                     \
	static void case_##name(struct store *st, const char *pfx, int s3);                        \
	Test(store_local, name, __VA_ARGS__)                                                       \
	{                                                                                          \
		struct store *st = open_local();                                                   \
		char pfx[128];                                                                     \
		prefix_for(pfx, sizeof(pfx), #name, 0);                                            \
		case_##name(st, pfx, 0);                                                           \
		close_local(st);                                                                   \
	}                                                                                          \
	Test(store_rgw, name, __VA_ARGS__)                                                         \
	{                                                                                          \
		struct store *st = open_rgw();                                                     \
		char pfx[128];                                                                     \
		prefix_for(pfx, sizeof(pfx), #name, 1);                                            \
		case_##name(st, pfx, 1);                                                           \
		store_close(st);                                                                   \
	}                                                                                          \
	static void case_##name(struct store *st, const char *pfx, int s3)

/* --- conformance ------------------------------------------------------------ */

CONFORMANCE(put_get_head_delete, .timeout = 120)
{
	(void)s3;
	char key[256], etag[STORE_ETAG_MAX], buf[64];
	struct store_err err;
	struct store_object_info info;
	size_t got;
	KEY(key, pfx, "hello");
	cr_assert_eq(store_put(st, key, "hello world", 11, NULL, etag, &err), 0, "%s", err.msg);
	cr_assert_str_eq(etag, "5eb63bbbe01eeed093cb22bb8f5acdc3"); /* md5("hello world") */
	cr_assert_eq(store_get(st, key, 0, sizeof(buf), buf, &got, &info, &err), 0, "%s", err.msg);
	cr_assert_eq(got, 11);
	cr_assert(!memcmp(buf, "hello world", 11));
	cr_assert_eq(info.size, 11);
	cr_assert_str_eq(info.etag, etag);
	cr_assert_eq(store_head(st, key, &info, &err), 0, "%s", err.msg);
	cr_assert_eq(info.size, 11);
	cr_assert_str_eq(info.etag, etag);
	cr_assert_str_eq(info.storage_class, "STANDARD");
	cr_assert_gt(info.mtime, 1600000000);
	/* Overwrite replaces the whole object. */
	cr_assert_eq(store_put(st, key, "bye", 3, NULL, etag, &err), 0, "%s", err.msg);
	cr_assert_eq(store_get(st, key, 0, sizeof(buf), buf, &got, &info, &err), 0, "%s", err.msg);
	cr_assert_eq(got, 3);
	cr_assert_eq(store_delete(st, key, &err), 0, "%s", err.msg);
	cr_assert_eq(store_head(st, key, &info, &err), -ENOENT);
	cr_assert_eq(store_get(st, key, 0, sizeof(buf), buf, &got, &info, &err), -ENOENT);
	cr_assert_str_eq(err.code, "NoSuchKey");
	cr_assert(strstr(err.msg, key), "the message names the key: %s", err.msg);
	cr_assert(strstr(err.msg, "NoSuchKey"), "%s", err.msg);
	/* Deleting what is not there succeeds, as on S3. */
	cr_assert_eq(store_delete(st, key, &err), 0, "%s", err.msg);
}

CONFORMANCE(empty_object, .timeout = 60)
{
	(void)s3;
	char key[256], etag[STORE_ETAG_MAX], buf[8];
	struct store_err err;
	struct store_object_info info;
	size_t got = 99;
	KEY(key, pfx, "empty");
	cr_assert_eq(store_put(st, key, "", 0, NULL, etag, &err), 0, "%s", err.msg);
	cr_assert_str_eq(etag, "d41d8cd98f00b204e9800998ecf8427e");
	cr_assert_eq(store_get(st, key, 0, sizeof(buf), buf, &got, &info, &err), 0, "%s", err.msg);
	cr_assert_eq(got, 0);
	cr_assert_eq(info.size, 0);
}

CONFORMANCE(ranged_reads, .timeout = 120)
{
	(void)s3;
	size_t n = MiB + 123;
	unsigned char *data = malloc(n), *buf = malloc(n);
	fill(data, n, 1);
	char key[256];
	struct store_err err;
	struct store_object_info info;
	size_t got;
	KEY(key, pfx, "ranged");
	cr_assert_eq(store_put(st, key, data, n, NULL, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(store_get(st, key, 0, 10, buf, &got, &info, &err), 0, "%s", err.msg);
	cr_assert_eq(got, 10);
	cr_assert(!memcmp(buf, data, 10));
	cr_assert_eq(info.size, n, "the size of the object, not of the range");
	cr_assert_eq(store_get(st, key, 4096, 70000, buf, &got, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(got, 70000);
	cr_assert(!memcmp(buf, data + 4096, 70000));
	/* A read past the end is short. */
	cr_assert_eq(store_get(st, key, n - 100, 1000, buf, &got, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(got, 100);
	cr_assert(!memcmp(buf, data + n - 100, 100));
	/* Whole object (checked against the ETag by the S3 backend). */
	cr_assert_eq(store_get(st, key, 0, n, buf, &got, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(got, n);
	cr_assert(!memcmp(buf, data, n));
	/* Starting past the end is InvalidRange. */
	cr_assert_eq(store_get(st, key, n, 10, buf, &got, NULL, &err), -ERANGE, "%s", err.msg);
	cr_assert_str_eq(err.code, "InvalidRange");
	free(data);
	free(buf);
}

CONFORMANCE(awkward_keys_round_trip, .timeout = 120)
{
	(void)s3;
	static const char *const names[] = {
	    "a b+c=d&e%f~g$h'i(j)k*l",
	    "x",
	    "x/y",
	    "x/y/",
	    "dir//double",
	    ".hidden",
	    "caf\xc3\xa9",
	    "q?r#s",
	    "@at@",
	};
	size_t nn = sizeof(names) / sizeof(names[0]);
	struct store_err err;
	char key[256], buf[256];
	size_t got;
	for (size_t i = 0; i < nn; i++) {
		KEY(key, pfx, names[i]);
		cr_assert_eq(store_put(st, key, names[i], strlen(names[i]), NULL, NULL, &err), 0,
			     "%s: %s", names[i], err.msg);
	}
	for (size_t i = 0; i < nn; i++) {
		KEY(key, pfx, names[i]);
		cr_assert_eq(store_get(st, key, 0, sizeof(buf), buf, &got, NULL, &err), 0, "%s: %s",
			     names[i], err.msg);
		cr_assert_eq(got, strlen(names[i]));
		cr_assert(!memcmp(buf, names[i], got), "%s", names[i]);
	}
}

struct collected {
	char keys[1200][128];
	int prefix[1200];
	size_t n;
	int stop_after;
};

static int collect(void *arg, const struct store_list_entry *e)
{
	struct collected *c = arg;
	cr_assert_lt(c->n, 1200);
	snprintf(c->keys[c->n], sizeof(c->keys[0]), "%s", e->key);
	c->prefix[c->n] = e->is_prefix;
	c->n++;
	if (!e->is_prefix) {
		cr_assert_eq(strlen(e->etag), 32, "ETag of %s: %s", e->key, e->etag);
		cr_assert_str_eq(e->storage_class, "STANDARD");
	}
	return c->stop_after && (int)c->n == c->stop_after ? 42 : 0;
}

CONFORMANCE(list_pages_in_key_order, .timeout = 120)
{
	(void)s3;
	struct store_err err;
	char key[256];
	/* Inserted out of order; "a/..." sorts between "a-" and "a0" in bytes. */
	static const char *const names[] = {"b", "a0", "a/2", "a-", "a/1", "c/x/y", "c/z", "aa"};
	for (int r = 0; r < 3; r++)
		for (size_t i = 0; i < 8; i++) {
			char nm[64];
			snprintf(nm, sizeof(nm), "%s%d", names[i], r);
			KEY(key, pfx, nm);
			cr_assert_eq(store_put(st, key, nm, strlen(nm), NULL, NULL, &err), 0, "%s",
				     err.msg);
		}
	struct collected *c = calloc(1, sizeof(*c));
	struct store_list_opts o = {.prefix = pfx, .page_size = 7};
	cr_assert_eq(store_list(st, &o, collect, c, &err), 0, "%s", err.msg);
	cr_assert_eq(c->n, 24);
	cr_assert_eq(o.pages, 4, "24 keys in pages of 7: %u pages", o.pages);
	for (size_t i = 1; i < c->n; i++)
		cr_assert_lt(strcmp(c->keys[i - 1], c->keys[i]), 0, "%s before %s", c->keys[i - 1],
			     c->keys[i]);
	/* With a delimiter: the keys at this level and the common prefixes, in order. */
	memset(c, 0, sizeof(*c));
	struct store_list_opts d = {.prefix = pfx, .delimiter = "/", .page_size = 3};
	int lrc = store_list(st, &d, collect, c, &err);
	cr_assert_eq(lrc, 0, "%s", err.msg);
	cr_assert_eq(c->n, 14, "12 keys + a/ and c/: got %zu", c->n);
	char want[128];
	snprintf(want, sizeof(want), "%sa-0", pfx);
	cr_assert_str_eq(c->keys[0], want);
	snprintf(want, sizeof(want), "%sa/", pfx);
	cr_assert_str_eq(c->keys[3], want);
	cr_assert(c->prefix[3]);
	/* start_after and stopping early. */
	memset(c, 0, sizeof(*c));
	c->stop_after = 2;
	snprintf(want, sizeof(want), "%sb0", pfx);
	struct store_list_opts s = {.prefix = pfx, .start_after = want};
	cr_assert_eq(store_list(st, &s, collect, c, &err), 42);
	snprintf(want, sizeof(want), "%sb1", pfx);
	cr_assert_str_eq(c->keys[0], want);
	free(c);
}

CONFORMANCE(list_more_than_1000_keys, .timeout = 300)
{
	(void)s3;
	struct store_err err;
	char key[256];
	for (int i = 0; i < 1005; i++) {
		char nm[32];
		snprintf(nm, sizeof(nm), "k%05d", i);
		KEY(key, pfx, nm);
		cr_assert_eq(store_put(st, key, "x", 1, NULL, NULL, &err), 0, "%s", err.msg);
	}
	struct collected *c = calloc(1, sizeof(*c));
	struct store_list_opts o = {.prefix = pfx};
	cr_assert_eq(store_list(st, &o, collect, c, &err), 0, "%s", err.msg);
	cr_assert_eq(c->n, 1005);
	cr_assert_eq(o.pages, 2);
	free(c);
}

struct parts {
	struct store_part p[16];
	size_t n;
};

static int collect_part(void *arg, const struct store_part *p)
{
	struct parts *ps = arg;
	cr_assert_lt(ps->n, 16);
	ps->p[ps->n++] = *p;
	return 0;
}

CONFORMANCE(multipart_round_trip, .timeout = 180)
{
	(void)s3;
	size_t sizes[3] = {5 * MiB, 5 * MiB + 17, 1000};
	size_t total = sizes[0] + sizes[1] + sizes[2];
	unsigned char *data = malloc(total), *back = malloc(total);
	fill(data, total, 7);
	char key[256], id[STORE_UPLOAD_ID_MAX], etag[STORE_ETAG_MAX];
	struct store_err err;
	struct store_put_opts o = {.storage_class = NULL};
	KEY(key, pfx, "segment");
	cr_assert_eq(store_mpu_create(st, key, &o, id, &err), 0, "%s", err.msg);
	struct store_part sent[3];
	size_t off = 0;
	/* Out of order on purpose: parts may arrive in any order. */
	int order[3] = {2, 0, 1};
	size_t offs[3] = {0, sizes[0], sizes[0] + sizes[1]};
	for (int k = 0; k < 3; k++) {
		int i = order[k];
		sent[i].number = i + 1;
		sent[i].size = sizes[i];
		cr_assert_eq(store_mpu_put_part(st, key, id, i + 1, data + offs[i], sizes[i],
						sent[i].etag, &err),
			     0, "%s", err.msg);
		char md5[33];
		store_md5_hex(data + offs[i], sizes[i], md5);
		cr_assert_str_eq(sent[i].etag, md5, "a part's ETag is its MD5");
	}
	(void)off;
	struct parts ps = {0};
	cr_assert_eq(store_mpu_list_parts(st, key, id, collect_part, &ps, &err), 0, "%s", err.msg);
	cr_assert_eq(ps.n, 3);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(ps.p[i].number, i + 1);
		cr_assert_eq(ps.p[i].size, sizes[i]);
		cr_assert_str_eq(ps.p[i].etag, sent[i].etag);
	}
	cr_assert_eq(store_mpu_complete(st, key, id, sent, 3, etag, &err), 0, "%s", err.msg);
	char want[STORE_ETAG_MAX];
	store_multipart_etag(sent, 3, want);
	cr_assert_str_eq(etag, want);
	cr_assert(strstr(etag, "-3"));
	struct store_object_info info;
	cr_assert_eq(store_head(st, key, &info, &err), 0, "%s", err.msg);
	cr_assert_eq(info.size, total);
	cr_assert_str_eq(info.etag, want);
	size_t got;
	cr_assert_eq(store_get(st, key, 0, total, back, &got, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(got, total);
	cr_assert(!memcmp(back, data, total));
	/* The upload is gone once completed. */
	cr_assert_eq(store_mpu_list_parts(st, key, id, collect_part, &ps, &err), -ENOENT);
	free(data);
	free(back);
}

CONFORMANCE(multipart_complete_rejects_a_wrong_etag_and_a_small_part, .timeout = 180)
{
	(void)s3;
	unsigned char *data = malloc(5 * MiB);
	fill(data, 5 * MiB, 3);
	char key[256], id[STORE_UPLOAD_ID_MAX], etag[STORE_ETAG_MAX];
	struct store_err err;
	KEY(key, pfx, "bad");
	cr_assert_eq(store_mpu_create(st, key, NULL, id, &err), 0, "%s", err.msg);
	struct store_part p[2] = {{.number = 1}, {.number = 2}};
	cr_assert_eq(store_mpu_put_part(st, key, id, 1, data, 5 * MiB, p[0].etag, &err), 0, "%s",
		     err.msg);
	cr_assert_eq(store_mpu_put_part(st, key, id, 2, data, 200, p[1].etag, &err), 0, "%s",
		     err.msg);
	struct store_part wrong[2];
	memcpy(wrong, p, sizeof(p));
	snprintf(wrong[1].etag, sizeof(wrong[1].etag), "00000000000000000000000000000000");
	int rc = store_mpu_complete(st, key, id, wrong, 2, etag, &err);
	cr_assert_eq(rc, -EINVAL, "wrong ETag: rc %d: %s", rc, err.msg);
	cr_assert_str_eq(err.code, "InvalidPart", "%s", err.msg);
	/* Part 1 again, 100 bytes: only the last part may be under 5 MiB. */
	cr_assert_eq(store_mpu_put_part(st, key, id, 1, data, 100, p[0].etag, &err), 0, "%s",
		     err.msg);
	rc = store_mpu_complete(st, key, id, p, 2, etag, &err);
	cr_assert_eq(rc, -EINVAL, "small part: rc %d: %s", rc, err.msg);
	cr_assert_str_eq(err.code, "EntityTooSmall", "%s", err.msg);
	/* Part 1 at 5 MiB once more: now it completes. */
	cr_assert_eq(store_mpu_put_part(st, key, id, 1, data, 5 * MiB, p[0].etag, &err), 0, "%s",
		     err.msg);
	cr_assert_eq(store_mpu_complete(st, key, id, p, 2, etag, &err), 0, "%s", err.msg);
	struct store_object_info info;
	cr_assert_eq(store_head(st, key, &info, &err), 0, "%s", err.msg);
	cr_assert_eq(info.size, 5 * MiB + 200);
	free(data);
}

struct uploads {
	char keys[16][256];
	char ids[16][STORE_UPLOAD_ID_MAX];
	size_t n;
};

static int collect_upload(void *arg, const struct store_upload *u)
{
	struct uploads *us = arg;
	cr_assert_lt(us->n, 16);
	snprintf(us->keys[us->n], sizeof(us->keys[0]), "%s", u->key);
	snprintf(us->ids[us->n], sizeof(us->ids[0]), "%s", u->upload_id);
	us->n++;
	return 0;
}

CONFORMANCE(multipart_abort_and_list_uploads, .timeout = 120)
{
	(void)s3;
	char k1[256], k2[256], id1[STORE_UPLOAD_ID_MAX], id2[STORE_UPLOAD_ID_MAX];
	char etag[STORE_ETAG_MAX];
	struct store_err err;
	KEY(k1, pfx, "one");
	KEY(k2, pfx, "two");
	cr_assert_eq(store_mpu_create(st, k2, NULL, id2, &err), 0, "%s", err.msg);
	cr_assert_eq(store_mpu_create(st, k1, NULL, id1, &err), 0, "%s", err.msg);
	cr_assert_eq(store_mpu_put_part(st, k1, id1, 1, "abc", 3, etag, &err), 0, "%s", err.msg);
	struct uploads us = {0};
	cr_assert_eq(store_mpu_list(st, pfx, collect_upload, &us, &err), 0, "%s", err.msg);
	cr_assert_eq(us.n, 2);
	cr_assert_str_eq(us.keys[0], k1, "uploads come in key order");
	cr_assert_str_eq(us.ids[0], id1);
	cr_assert_str_eq(us.keys[1], k2);
	cr_assert_eq(store_mpu_abort(st, k1, id1, &err), 0, "%s", err.msg);
	memset(&us, 0, sizeof(us));
	cr_assert_eq(store_mpu_list(st, pfx, collect_upload, &us, &err), 0, "%s", err.msg);
	cr_assert_eq(us.n, 1);
	cr_assert_str_eq(us.keys[0], k2);
	struct parts ps = {0};
	int rc = store_mpu_list_parts(st, k1, id1, collect_part, &ps, &err);
	cr_assert_eq(rc, -ENOENT, "an aborted upload is gone: rc %d %s", rc, err.msg);
	cr_assert_eq(store_mpu_abort(st, k2, id2, &err), 0, "%s", err.msg);
	memset(&us, 0, sizeof(us));
	cr_assert_eq(store_mpu_list(st, pfx, collect_upload, &us, &err), 0, "%s", err.msg);
	cr_assert_eq(us.n, 0);
}

CONFORMANCE(unknown_upload_ids_are_enoent, .timeout = 120)
{
	(void)s3;
	char key[256], etag[STORE_ETAG_MAX];
	struct store_err err;
	KEY(key, pfx, "nothing");
	const char *id = "2~0123456789abcdef0123456789abcdef";
	struct store_part p = {.number = 1, .etag = "5eb63bbbe01eeed093cb22bb8f5acdc3"};
	int rc = store_mpu_put_part(st, key, id, 1, "x", 1, etag, &err);
	cr_assert_eq(rc, -ENOENT, "upload part: %d %s", rc, err.msg);
	rc = store_mpu_abort(st, key, id, &err);
	cr_assert_eq(rc, -ENOENT, "abort: %d %s", rc, err.msg);
	struct parts ps = {0};
	rc = store_mpu_list_parts(st, key, id, collect_part, &ps, &err);
	cr_assert_eq(rc, -ENOENT, "list parts: %d %s", rc, err.msg);
	/* RGW answers 500 here; the client finds out that the upload is gone. */
	rc = store_mpu_complete(st, key, id, &p, 1, etag, &err);
	cr_assert_eq(rc, -ENOENT, "complete: %d %s", rc, err.msg);
	cr_assert_str_eq(err.code, "NoSuchUpload", "%s", err.msg);
}

CONFORMANCE(multipart_resumes_from_listed_parts, .timeout = 180)
{
	/* What the uploader does after a restart: the upload id comes from the
	 * catalog, the parts the store already has are listed, only the
	 * missing ones are sent. */
	size_t part = 5 * MiB;
	unsigned char *data = malloc(3 * part);
	fill(data, 3 * part, 11);
	char key[256], id[STORE_UPLOAD_ID_MAX], etag[STORE_ETAG_MAX];
	struct store_err err;
	KEY(key, pfx, "resumed");
	cr_assert_eq(store_mpu_create(st, key, NULL, id, &err), 0, "%s", err.msg);
	struct store_part p[3];
	for (int i = 0; i < 2; i++)
		cr_assert_eq(
		    store_mpu_put_part(st, key, id, i + 1, data + i * part, part, p[i].etag, &err),
		    0, "%s", err.msg);
	/* "Restart": a second store handle, nothing kept but the upload id. */
	struct store *st2;
	if (s3) {
		st2 = open_rgw();
	} else {
		cr_assert_eq(store_local_open(local_dir, &st2, &err), 0, "%s", err.msg);
	}
	struct parts ps = {0};
	cr_assert_eq(store_mpu_list_parts(st2, key, id, collect_part, &ps, &err), 0, "%s", err.msg);
	cr_assert_eq(ps.n, 2);
	p[0] = ps.p[0];
	p[1] = ps.p[1];
	p[2].number = 3;
	cr_assert_eq(store_mpu_put_part(st2, key, id, 3, data + 2 * part, part, p[2].etag, &err), 0,
		     "%s", err.msg);
	cr_assert_eq(store_mpu_complete(st2, key, id, p, 3, etag, &err), 0, "%s", err.msg);
	unsigned char *back = malloc(3 * part);
	size_t got;
	cr_assert_eq(store_get(st, key, 0, 3 * part, back, &got, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(got, 3 * part);
	cr_assert(!memcmp(back, data, 3 * part));
	store_close(st2);
	free(data);
	free(back);
}

CONFORMANCE(copy_sets_the_storage_class, .timeout = 120)
{
	(void)s3;
	char src[256], dst[256], etag[STORE_ETAG_MAX];
	struct store_err err;
	struct store_object_info info;
	KEY(src, pfx, "src");
	KEY(dst, pfx, "archived");
	cr_assert_eq(store_put(st, src, "tape data", 9, NULL, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(store_copy(st, src, dst, "GLACIER", etag, &err), 0, "%s", err.msg);
	cr_assert_eq(store_head(st, dst, &info, &err), 0, "%s", err.msg);
	cr_assert_str_eq(info.storage_class, "GLACIER");
	cr_assert_eq(info.size, 9);
	/* In place, to another class. */
	cr_assert_eq(store_copy(st, dst, dst, "DEEP_ARCHIVE", etag, &err), 0, "%s", err.msg);
	cr_assert_eq(store_head(st, dst, &info, &err), 0, "%s", err.msg);
	cr_assert_str_eq(info.storage_class, "DEEP_ARCHIVE");
	/* A class set at upload time. */
	struct store_put_opts o = {.storage_class = "STANDARD_IA"};
	cr_assert_eq(store_put(st, src, "tape data", 9, &o, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(store_head(st, src, &info, &err), 0, "%s", err.msg);
	cr_assert_str_eq(info.storage_class, "STANDARD_IA");
	/* Readable at once on these stores; restore is accepted or not needed. */
	char buf[16];
	size_t got;
	cr_assert_eq(store_get(st, dst, 0, sizeof(buf), buf, &got, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(got, 9);
	int rc = store_restore(st, dst, 1, NULL, &err);
	cr_assert(rc == 0 || rc == -EOPNOTSUPP, "restore: %d %s", rc, err.msg);
	if (rc)
		cr_assert_str_eq(err.code, "NotImplemented");
	/* Copy of a missing object. */
	KEY(src, pfx, "missing");
	cr_assert_eq(store_copy(st, src, dst, NULL, etag, &err), -ENOENT);
	/* An unknown class is refused before anything is sent. */
	cr_assert_eq(store_copy(st, dst, dst, "COLD", etag, &err), -EINVAL);
	cr_assert_str_eq(err.code, "InvalidStorageClass");
}

CONFORMANCE(upload_part_copy_builds_an_object_from_ranges, .timeout = 180)
{
	(void)s3;
	size_t n = 6 * MiB;
	unsigned char *data = malloc(n), *back = malloc(n);
	fill(data, n, 5);
	char src[256], dst[256], id[STORE_UPLOAD_ID_MAX], etag[STORE_ETAG_MAX];
	struct store_err err;
	KEY(src, pfx, "src");
	KEY(dst, pfx, "dst");
	cr_assert_eq(store_put(st, src, data, n, NULL, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(store_mpu_create(st, dst, NULL, id, &err), 0, "%s", err.msg);
	struct store_part p[2] = {{.number = 1}, {.number = 2}};
	/* Part 1: the last 5 MiB; part 2: the first 1 MiB. */
	cr_assert_eq(store_mpu_copy_part(st, dst, id, 1, src, MiB, 5 * MiB, p[0].etag, &err), 0,
		     "%s", err.msg);
	cr_assert_eq(store_mpu_copy_part(st, dst, id, 2, src, 0, MiB, p[1].etag, &err), 0, "%s",
		     err.msg);
	char md5[33];
	store_md5_hex(data + MiB, 5 * MiB, md5);
	cr_assert_str_eq(p[0].etag, md5);
	cr_assert_eq(store_mpu_complete(st, dst, id, p, 2, etag, &err), 0, "%s", err.msg);
	size_t got;
	cr_assert_eq(store_get(st, dst, 0, n, back, &got, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(got, n);
	cr_assert(!memcmp(back, data + MiB, 5 * MiB));
	cr_assert(!memcmp(back + 5 * MiB, data, MiB));
	free(data);
	free(back);
}

CONFORMANCE(bad_arguments_are_refused_before_any_request, .timeout = 60)
{
	(void)s3;
	(void)pfx;
	struct store_err err;
	char etag[STORE_ETAG_MAX], big[STORE_KEY_MAX + 2];
	cr_assert_eq(store_put(st, "", "x", 1, NULL, etag, &err), -EINVAL);
	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	cr_assert_eq(store_put(st, big, "x", 1, NULL, etag, &err), -ENAMETOOLONG);
	struct store_put_opts o = {.storage_class = "FROZEN"};
	cr_assert_eq(store_put(st, "k", "x", 1, &o, etag, &err), -EINVAL);
	cr_assert_eq(store_mpu_put_part(st, "k", "id", 0, "x", 1, etag, &err), -EINVAL);
	cr_assert_eq(store_mpu_put_part(st, "k", "id", 10001, "x", 1, etag, &err), -EINVAL);
	struct store_part p[2] = {{.number = 2, .etag = "a"}, {.number = 1, .etag = "b"}};
	cr_assert_eq(store_mpu_complete(st, "k", "id", p, 2, etag, &err), -EINVAL);
	cr_assert_str_eq(err.code, "InvalidPartOrder");
}

/* --- the local backend only ----------------------------------------------- */

Test(store_local, stale_sidecar_is_detected_and_the_etag_recomputed)
{
	struct store *st = open_local();
	struct store_err err;
	char etag[STORE_ETAG_MAX], path[512];
	cr_assert_eq(store_put(st, "t/seg", "hello world", 11, NULL, etag, &err), 0, "%s", err.msg);
	/* As a crash between the sidecar's rename and the data's would leave it. */
	snprintf(path, sizeof(path), "%s/objects/t@d/seg@m", local_dir);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fprintf(f, "vtl-object 1\nino=1\nsize=11\netag=ffffffffffffffffffffffffffffffff\n"
		   "class=GLACIER\n");
	fclose(f);
	struct store_object_info info;
	cr_assert_eq(store_head(st, "t/seg", &info, &err), 0, "%s", err.msg);
	cr_assert_str_eq(info.etag, etag);
	cr_assert_str_eq(info.storage_class, "STANDARD");
	close_local(st);
}

Test(store_local, leftovers_of_a_crash_are_removed_at_open)
{
	struct store *st = open_local();
	char path[512];
	snprintf(path, sizeof(path), "%s/tmp/t-deadbeef", local_dir);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("half a put", f);
	fclose(f);
	store_close(st);
	struct store_err err;
	cr_assert_eq(store_local_open(local_dir, &st, &err), 0, "%s", err.msg);
	cr_assert_neq(access(path, F_OK), 0);
	close_local(st);
}

/* The session directories in root/tmp/ (their names into names). */
static int sessions(const char *root, char names[][256], int cap)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/tmp", root);
	DIR *d = opendir(path);
	cr_assert_not_null(d, "%s", path);
	int n = 0;
	for (struct dirent *de; (de = readdir(d));)
		if (!strncmp(de->d_name, "s-", 2) && n < cap)
			snprintf(names[n++], 256, "%s", de->d_name);
	closedir(d);
	return n;
}

/* A second open of a store in use (a tool, a test, another vtld) once
 * emptied tmp/ under the first: its put then failed with ENOENT and its
 * tape was held back for a person (test_store_vtld under load). */
Test(store_local, an_open_leaves_the_files_in_flight_of_another_alone)
{
	struct store *a = open_local(), *b;
	struct store_err err;
	char names[4][256], path[1024];
	cr_assert_eq(sessions(local_dir, names, 4), 1);
	/* A file a's put is writing (it renames it into objects/ next). */
	snprintf(path, sizeof(path), "%s/tmp/%s/t-inflight", local_dir, names[0]);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("half a put", f);
	fclose(f);
	/* What a killed process left: its session, no longer locked. */
	char dead[1024], dead_file[1100];
	snprintf(dead, sizeof(dead), "%s/tmp/s-0123456789abcdef0123456789abcdef", local_dir);
	cr_assert_eq(mkdir(dead, 0700), 0);
	snprintf(dead_file, sizeof(dead_file), "%s/u-0123", dead);
	cr_assert_eq(mkdir(dead_file, 0700), 0);
	snprintf(dead_file, sizeof(dead_file), "%s/u-0123/info", dead);
	f = fopen(dead_file, "w");
	cr_assert_not_null(f);
	fclose(f);

	cr_assert_eq(store_local_open(local_dir, &b, &err), 0, "%s", err.msg);
	cr_assert_eq(access(path, F_OK), 0, "a second open removed the first's file in flight");
	cr_assert_neq(access(dead, F_OK), 0, "a crashed open's session is still there");
	cr_assert_eq(sessions(local_dir, names, 4), 2);
	/* Both work, each in its own directory. */
	char etag[STORE_ETAG_MAX];
	cr_assert_eq(store_put(a, "k/a", "a", 1, NULL, etag, &err), 0, "%s", err.msg);
	cr_assert_eq(store_put(b, "k/b", "b", 1, NULL, etag, &err), 0, "%s", err.msg);
	/* A close takes its own session away and nothing else. */
	store_close(b);
	cr_assert_eq(sessions(local_dir, names, 4), 1);
	cr_assert_eq(access(path, F_OK), 0);
	struct store_object_info info;
	cr_assert_eq(store_head(a, "k/b", &info, &err), 0, "%s", err.msg);
	close_local(a);
}

Test(store_local, keys_map_to_readable_paths)
{
	struct store *st = open_local();
	struct store_err err;
	char path[512];
	struct stat sb;
	cr_assert_eq(store_put(st, "tapes/ABC123L6/seg 1", "x", 1, NULL, NULL, &err), 0, "%s",
		     err.msg);
	snprintf(path, sizeof(path), "%s/objects/tapes@d/ABC123L6@d/seg%%201", local_dir);
	cr_assert_eq(stat(path, &sb), 0, "%s", path);
	/* Deleting the last object removes the empty directories. */
	cr_assert_eq(store_delete(st, "tapes/ABC123L6/seg 1", &err), 0);
	snprintf(path, sizeof(path), "%s/objects/tapes@d", local_dir);
	cr_assert_neq(stat(path, &sb), 0);
	close_local(st);
}

/* A file of n pseudo-random bytes at path; returns its MD5. */
static void write_file(const char *path, size_t n, unsigned seed, char md5[STORE_ETAG_MAX])
{
	unsigned char *buf = malloc(n);
	cr_assert_not_null(buf);
	fill(buf, n, seed);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "%s", path);
	cr_assert_eq(fwrite(buf, 1, n, f), n);
	fclose(f);
	store_md5_hex(buf, n, md5);
	free(buf);
}

/* Names under dir (not . and ..), and under its directories. */
static int count_tree(const char *dir)
{
	DIR *d = opendir(dir);
	cr_assert_not_null(d, "%s", dir);
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char sub[1024];
		struct stat sb;
		snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name);
		n += lstat(sub, &sb) == 0 && S_ISDIR(sb.st_mode) ? count_tree(sub) : 1;
	}
	closedir(d);
	return n;
}

/* Files in the local store's tmp/ (its open's session directory aside). */
static int count_tmp(void)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/tmp", local_dir);
	return count_tree(path);
}

Test(store_local, a_file_put_is_the_file_itself_until_either_name_goes)
{
	struct store *st = open_local();
	struct store_err err;
	char file[512], obj[512], md5[STORE_ETAG_MAX], etag[STORE_ETAG_MAX];
	struct stat fs, os;
	snprintf(file, sizeof(file), "%s/seg.dat", local_dir);
	write_file(file, 3 * MiB + 17, 5, md5);
	cr_assert_eq(store_put_file(st, "t/seg", file, 3 * MiB + 17, NULL, NULL, etag, &err), 0,
		     "%s", err.msg);
	cr_assert_str_eq(etag, md5);
	/* One inode, two names: no byte copied (ext4 has no reflinks). */
	snprintf(obj, sizeof(obj), "%s/objects/t@d/seg", local_dir);
	cr_assert_eq(stat(file, &fs), 0);
	cr_assert_eq(stat(obj, &os), 0);
	cr_assert_eq(fs.st_ino, os.st_ino);
	cr_assert_eq(fs.st_nlink, 2);
	cr_assert_eq(count_tmp(), 0);
	struct store_object_info info;
	cr_assert_eq(store_head(st, "t/seg", &info, &err), 0, "%s", err.msg);
	cr_assert_str_eq(info.etag, md5);
	cr_assert_eq(info.size, 3 * MiB + 17);
	unsigned char *a = malloc(3 * MiB + 17), *b = malloc(3 * MiB + 17);
	size_t got;
	fill(a, 3 * MiB + 17, 5);
	cr_assert_eq(store_get(st, "t/seg", 0, 3 * MiB + 17, b, &got, NULL, &err), 0);
	cr_assert_eq(got, 3 * MiB + 17);
	cr_assert_eq(memcmp(a, b, got), 0);
	/* Put again (a crash before the caller recorded the first): still
	 * two names, nothing left in tmp/. */
	cr_assert_eq(store_put_file(st, "t/seg", file, 3 * MiB + 17, NULL, NULL, etag, &err), 0,
		     "%s", err.msg);
	cr_assert_eq(stat(file, &fs), 0);
	cr_assert_eq(fs.st_nlink, 2);
	cr_assert_eq(count_tmp(), 0);
	/* A change of storage class in place keeps the inode: no copy. */
	cr_assert_eq(store_copy(st, "t/seg", "t/seg", "GLACIER", NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(stat(obj, &os), 0);
	cr_assert_eq(os.st_ino, fs.st_ino);
	cr_assert_eq(os.st_nlink, 2);
	cr_assert_eq(count_tmp(), 0);
	cr_assert_eq(store_head(st, "t/seg", &info, &err), 0, "%s", err.msg);
	cr_assert_str_eq(info.storage_class, "GLACIER");
	cr_assert_str_eq(info.etag, md5);
	/* The file's name goes (the cache evicts, the tape is deleted): the
	 * object stays whole. */
	cr_assert_eq(unlink(file), 0);
	cr_assert_eq(store_get(st, "t/seg", 0, 3 * MiB + 17, b, &got, NULL, &err), 0);
	cr_assert_eq(memcmp(a, b, 3 * MiB + 17), 0);
	/* Deleting the object frees the inode (no name left). */
	cr_assert_eq(store_delete(st, "t/seg", &err), 0);
	cr_assert_neq(stat(obj, &os), 0);
	free(a);
	free(b);
	close_local(st);
}

Test(store_local, a_file_put_refuses_a_file_that_can_still_change)
{
	struct store *st = open_local();
	struct store_err err;
	char file[512], md5[STORE_ETAG_MAX];
	struct stat sb;
	struct store_object_info info;
	snprintf(file, sizeof(file), "%s/seg.dat", local_dir);
	write_file(file, 100000, 9, md5);
	/* Longer than the caller's committed length, or shorter (cut since). */
	cr_assert_eq(store_put_file(st, "t/a", file, 99999, NULL, NULL, NULL, &err), -ERANGE);
	cr_assert(strstr(err.msg, "longer"), "%s", err.msg);
	cr_assert_eq(store_put_file(st, "t/a", file, 100001, NULL, NULL, NULL, &err), -EAGAIN);
	/* Held by its writer: the medium locks its active segment. */
	int fd = open(file, O_RDWR);
	cr_assert_geq(fd, 0);
	cr_assert_eq(flock(fd, LOCK_EX), 0);
	cr_assert_eq(store_put_file(st, "t/a", file, 100000, NULL, NULL, NULL, &err), -EBUSY);
	cr_assert(strstr(err.msg, "locked"), "%s", err.msg);
	close(fd);
	/* Nothing was made of any of them. */
	cr_assert_eq(store_head(st, "t/a", &info, &err), -ENOENT);
	cr_assert_eq(stat(file, &sb), 0);
	cr_assert_eq(sb.st_nlink, 1);
	cr_assert_eq(count_tmp(), 0);
	/* A missing file; then the file as it is. */
	char gone[600];
	snprintf(gone, sizeof(gone), "%s/none.dat", local_dir);
	cr_assert_eq(store_put_file(st, "t/a", gone, 1, NULL, NULL, NULL, &err), -ENOENT);
	cr_assert_eq(store_put_file(st, "t/a", file, 100000, NULL, NULL, NULL, &err), 0, "%s",
		     err.msg);
	close_local(st);
}

/* Whether files can be shared is known before the first one: on the
 * store's own file system a maybe (yes), on another one no (/dev/shm is
 * tmpfs, the store is under /tmp). */
Test(store_local, it_says_where_it_can_take_files)
{
	struct store *st = open_local();
	struct stat a, b;
	cr_assert(store_takes_files(st, local_dir));
	cr_assert_eq(stat(local_dir, &a), 0);
	cr_assert_eq(stat("/dev/shm", &b), 0);
	cr_assert_neq(a.st_dev, b.st_dev, "/dev/shm is not another file system here");
	cr_assert_not(store_takes_files(st, "/dev/shm"));
	/* A directory it cannot look at: store_put_file says, file by file. */
	cr_assert(store_takes_files(st, "/nonexistent/tapes"));
	close_local(st);
}

/* A digest given by the caller (the medium's, from its record headers):
 * counts its calls and checks it reads the object's own bytes. */
struct digest_probe {
	int calls;
	int fail; /* its return value when not 0 */
	unsigned char first;
};

static int probe_digest(int fd, uint64_t len, char *out, void *arg)
{
	struct digest_probe *p = arg;
	p->calls++;
	if (p->fail)
		return p->fail;
	cr_assert_eq(pread(fd, &p->first, 1, 0), 1);
	snprintf(out, STORE_ETAG_MAX, "digest-%" PRIu64 "-%02x", len, p->first);
	return 0;
}

Test(store_local, a_file_put_with_a_digest_is_named_by_it_and_reads_no_byte_more)
{
	struct store *st = open_local();
	struct store_err err;
	char file[512], md5[STORE_ETAG_MAX], etag[STORE_ETAG_MAX], want[64];
	struct store_object_info info;
	struct stat sb;
	snprintf(file, sizeof(file), "%s/seg.dat", local_dir);
	write_file(file, MiB + 3, 7, md5);
	/* A failing digest: its error, nothing made, the file alone. */
	struct digest_probe p = {.fail = -EBADMSG};
	cr_assert_eq(store_put_file(st, "t/d", file, MiB + 3, probe_digest, &p, etag, &err),
		     -EBADMSG);
	cr_assert(strstr(err.msg, "digest"), "%s", err.msg);
	cr_assert_eq(p.calls, 1);
	cr_assert_eq(store_head(st, "t/d", &info, &err), -ENOENT);
	cr_assert_eq(stat(file, &sb), 0);
	cr_assert_eq(sb.st_nlink, 1);
	cr_assert_eq(count_tmp(), 0);
	/* Its digest is the ETag, kept by HEAD, by a put again, by a change
	 * of class in place; the bytes are the file's. */
	p = (struct digest_probe){0};
	cr_assert_eq(store_put_file(st, "t/d", file, MiB + 3, probe_digest, &p, etag, &err), 0,
		     "%s", err.msg);
	cr_assert_eq(p.calls, 1);
	snprintf(want, sizeof(want), "digest-%llu-%02x", (unsigned long long)(MiB + 3), p.first);
	cr_assert_str_eq(etag, want);
	cr_assert_str_neq(etag, md5);
	cr_assert_eq(store_head(st, "t/d", &info, &err), 0, "%s", err.msg);
	cr_assert_str_eq(info.etag, want);
	cr_assert_eq(info.size, MiB + 3);
	cr_assert_eq(store_put_file(st, "t/d", file, MiB + 3, probe_digest, &p, etag, &err), 0,
		     "%s", err.msg);
	cr_assert_str_eq(etag, want);
	cr_assert_eq(store_copy(st, "t/d", "t/d", "GLACIER", NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(store_head(st, "t/d", &info, &err), 0, "%s", err.msg);
	cr_assert_str_eq(info.etag, want);
	unsigned char *a = malloc(MiB + 3), *b = malloc(MiB + 3);
	size_t got;
	fill(a, MiB + 3, 7);
	cr_assert_eq(store_get(st, "t/d", 0, MiB + 3, b, &got, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(got, MiB + 3);
	cr_assert_eq(memcmp(a, b, got), 0);
	free(a);
	free(b);
	close_local(st);
}

/* --- S3 only: credentials, addressing, faults ------------------------------ */

Test(store_rgw, wrong_secret_names_the_key_id_never_the_secret, .timeout = 60)
{
	rgw_require();
	struct store_s3_config cfg;
	rgw_config(&cfg);
	cfg.secret_key = "not-the-secret-0123456789abcdefghijklmn";
	struct store *st = rgw_open(&cfg);
	struct store_err err;
	int rc = store_put(st, "denied", "x", 1, NULL, NULL, &err);
	cr_assert_eq(rc, -EACCES, "rc %d: %s", rc, err.msg);
	cr_assert_str_eq(err.code, "SignatureDoesNotMatch", "%s", err.msg);
	cr_assert(strstr(err.msg, cfg.access_key), "%s", err.msg);
	cr_assert(strstr(err.msg, BUCKET), "%s", err.msg);
	cr_assert_null(strstr(err.msg, cfg.secret_key));
	store_close(st);
}

Test(store_rgw, credentials_from_a_shared_credentials_profile, .timeout = 60)
{
	rgw_require();
	char path[] = "/tmp/vtl-creds-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	FILE *f = fdopen(fd, "w");
	fprintf(f,
		"[default]\naws_access_key_id = WRONG\naws_secret_access_key = WRONG\n\n"
		"[vtl]\naws_access_key_id = %s\naws_secret_access_key = %s\n",
		getenv("RGW_ACCESS_KEY"), getenv("RGW_SECRET_KEY"));
	fclose(f);
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
	setenv("AWS_CONFIG_FILE", "/nonexistent", 1);
	struct store_s3_config cfg;
	rgw_config(&cfg);
	cfg.access_key = cfg.secret_key = NULL;
	cfg.profile = "vtl";
	struct store *st = rgw_open(&cfg);
	struct store_err err;
	cr_assert_eq(store_put(st, "profile-check", "x", 1, NULL, NULL, &err), 0, "%s", err.msg);
	store_close(st);
	/* And from the environment, which comes before the files. */
	setenv("AWS_ACCESS_KEY_ID", getenv("RGW_ACCESS_KEY"), 1);
	setenv("AWS_SECRET_ACCESS_KEY", getenv("RGW_SECRET_KEY"), 1);
	cfg.profile = "default"; /* the WRONG keys: the environment wins */
	st = rgw_open(&cfg);
	cr_assert_eq(store_put(st, "env-check", "x", 1, NULL, NULL, &err), 0, "%s", err.msg);
	store_close(st);
	unlink(path);
}

Test(store_rgw, no_credentials_is_a_clear_error, .timeout = 30)
{
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent", 1);
	setenv("AWS_CONFIG_FILE", "/nonexistent", 1);
	struct store_s3_config cfg = {.bucket = BUCKET, .endpoint = "http://127.0.0.1:1"};
	struct store *st;
	struct store_err err;
	cr_assert_eq(store_s3_open(&cfg, &st, &err), -EACCES);
	cr_assert(strstr(err.msg, "no credentials"), "%s", err.msg);
	cr_assert(strstr(err.msg, BUCKET), "%s", err.msg);
}

Test(store_rgw, unreachable_endpoint_fails_after_retries, .timeout = 60)
{
	struct store_s3_config cfg = {.bucket = BUCKET,
				      .endpoint = "http://127.0.0.1:1",
				      .access_key = "AK",
				      .secret_key = "SK",
				      .max_retries = 2,
				      .retry_base_ms = 10};
	struct store *st = rgw_open(&cfg);
	struct store_err err;
	int rc = store_put(st, "k", "x", 1, NULL, NULL, &err);
	cr_assert_eq(rc, -ECONNREFUSED, "rc %d: %s", rc, err.msg);
	cr_assert(strstr(err.msg, "after 3 tries"), "%s", err.msg);
	store_close(st);
}

/* --- Whether waiting can fix an error (store_err.fault) --------------------- */

Test(store_fault, each_error_says_whether_waiting_can_fix_it)
{
	cr_assert_eq(store_fault_of(0, NULL), STORE_FAULT_NONE);
	cr_assert_eq(store_fault_of(-EIO, "SlowDown"), STORE_FAULT_TRANSIENT);
	cr_assert_eq(store_fault_of(-EIO, "InternalError"), STORE_FAULT_TRANSIENT);
	cr_assert_eq(store_fault_of(-ETIMEDOUT, NULL), STORE_FAULT_TRANSIENT);
	cr_assert_eq(store_fault_of(-ECONNREFUSED, NULL), STORE_FAULT_TRANSIENT);
	cr_assert_eq(store_fault_of(-EBADMSG, "BadDigest"), STORE_FAULT_TRANSIENT);
	cr_assert_eq(store_fault_of(-EACCES, "SignatureDoesNotMatch"), STORE_FAULT_ACCESS);
	cr_assert_eq(store_fault_of(-EACCES, "InvalidAccessKeyId"), STORE_FAULT_ACCESS);
	cr_assert_eq(store_fault_of(-EACCES, "AccessDenied"), STORE_FAULT_ACCESS);
	cr_assert_eq(store_fault_of(-EACCES, "ExpiredToken"), STORE_FAULT_ACCESS);
	cr_assert_eq(store_fault_of(-EACCES, NULL), STORE_FAULT_ACCESS); /* a directory */
	cr_assert_eq(store_fault_of(-ENOENT, "NoSuchBucket"), STORE_FAULT_BUCKET);
	cr_assert_eq(store_fault_of(-EDQUOT, "QuotaExceeded"), STORE_FAULT_SPACE);
	cr_assert_eq(store_fault_of(-ENOSPC, NULL), STORE_FAULT_SPACE); /* a full disk */
	cr_assert_eq(store_fault_of(-EINVAL, "InvalidArgument"), STORE_FAULT_REFUSED);
	cr_assert_eq(store_fault_of(-ENOENT, "NoSuchKey"), STORE_FAULT_REFUSED);
	cr_assert_str_eq(store_fault_name(STORE_FAULT_TLS), "certificate");
}

/* --- S3 over HTTPS ------------------------------------------------------------ */

/* radosgw's TLS endpoint (tests/s3/rgw.sh: its certificate names IP:127.0.0.1
 * and DNS:localhost, from a CA the script makes), or the one whose
 * certificate names another host; with or without the CA as ca_bundle. */
static struct store *open_tls(const char *endpoint_var, bool with_ca)
{
	rgw_require();
	struct store_s3_config cfg;
	rgw_config(&cfg);
	cfg.endpoint = getenv(endpoint_var);
	cr_assert_not_null(cfg.endpoint, "%s is not set: this radosgw serves no HTTPS",
			   endpoint_var);
	cfg.ca_bundle = with_ca ? getenv("RGW_CA_BUNDLE") : NULL;
	return rgw_open(&cfg);
}

Test(store_rgw_tls, objects_multipart_uploads_and_ranged_reads_go_over_https_with_ca_bundle,
     .timeout = 120)
{
	struct store *st = open_tls("RGW_HTTPS_ENDPOINT", true);
	size_t n = 6 * MiB + 4321;
	unsigned char *data = malloc(n), *back = malloc(n);
	fill(data, n, 7);
	struct store_err err;
	char etag[STORE_ETAG_MAX], id[STORE_UPLOAD_ID_MAX];
	cr_assert_eq(store_put(st, "tls/small", data, 4096, NULL, etag, &err), 0, "%s", err.msg);
	struct store_part parts[2] = {{.number = 1, .size = 5 * MiB},
				      {.number = 2, .size = n - 5 * MiB}};
	cr_assert_eq(store_mpu_create(st, "tls/big", NULL, id, &err), 0, "%s", err.msg);
	cr_assert_eq(
	    store_mpu_put_part(st, "tls/big", id, 1, data, parts[0].size, parts[0].etag, &err), 0,
	    "%s", err.msg);
	cr_assert_eq(store_mpu_put_part(st, "tls/big", id, 2, data + parts[0].size, parts[1].size,
					parts[1].etag, &err),
		     0, "%s", err.msg);
	cr_assert_eq(store_mpu_complete(st, "tls/big", id, parts, 2, etag, &err), 0, "%s", err.msg);
	/* A ranged read across the parts' boundary, and one of the end. */
	size_t got = 0;
	cr_assert_eq(store_get(st, "tls/big", 5 * MiB - 1000, 3000, back, &got, NULL, &err), 0,
		     "%s", err.msg);
	cr_assert_eq(got, 3000);
	cr_assert_arr_eq(back, data + 5 * MiB - 1000, 3000);
	cr_assert_eq(store_get(st, "tls/big", n - 100, 1000, back, &got, NULL, &err), 0, "%s",
		     err.msg);
	cr_assert_eq(got, 100);
	cr_assert_arr_eq(back, data + n - 100, 100);
	struct store_object_info info;
	cr_assert_eq(store_head(st, "tls/big", &info, &err), 0, "%s", err.msg);
	cr_assert_eq(info.size, n);
	cr_assert_eq(store_delete(st, "tls/big", &err), 0, "%s", err.msg);
	cr_assert_eq(store_delete(st, "tls/small", &err), 0, "%s", err.msg);
	free(data);
	free(back);
	store_close(st);
}

Test(store_rgw_tls, without_the_ca_bundle_the_certificate_is_refused_and_not_retried, .timeout = 60)
{
	struct store *st = open_tls("RGW_HTTPS_ENDPOINT", false);
	struct store_err err;
	int rc = store_put(st, "tls/refused", "x", 1, NULL, NULL, &err);
	cr_assert_eq(rc, -EPROTO, "rc %d: %s", rc, err.msg);
	cr_assert_eq(err.fault, STORE_FAULT_TLS, "%s", err.msg);
	cr_assert(strstr(err.msg, "certificate"), "%s", err.msg);
	cr_assert(strstr(err.msg, getenv("RGW_HTTPS_ENDPOINT")), "no endpoint named: %s", err.msg);
	cr_assert(strstr(err.msg, "CAs of the system"), "no CA bundle named: %s", err.msg);
	cr_assert(strstr(err.msg, "after 1 tries"), "retried: %s", err.msg);
	store_close(st);
}

Test(store_rgw_tls, a_certificate_for_another_name_is_refused_even_from_the_right_ca, .timeout = 60)
{
	struct store *st = open_tls("RGW_HTTPS_OTHER_ENDPOINT", true);
	struct store_err err;
	int rc = store_put(st, "tls/other", "x", 1, NULL, NULL, &err);
	cr_assert_eq(rc, -EPROTO, "rc %d: %s", rc, err.msg);
	cr_assert_eq(err.fault, STORE_FAULT_TLS, "%s", err.msg);
	/* curl: "no alternative certificate subject name matches target host
	 * name '127.0.0.1'" */
	cr_assert(strstr(err.msg, "name"), "%s", err.msg);
	cr_assert(strstr(err.msg, getenv("RGW_HTTPS_OTHER_ENDPOINT")), "%s", err.msg);
	cr_assert(strstr(err.msg, getenv("RGW_CA_BUNDLE")), "%s", err.msg);
	store_close(st);
}

/* An operator fixes ca_bundle or a key while requests run: the same store
 * takes them for the next requests (store_s3_reconfigure). */
Test(store_rgw_tls, reconfigure_takes_a_new_ca_bundle_and_keys_for_the_next_requests, .timeout = 60)
{
	struct store *st = open_tls("RGW_HTTPS_ENDPOINT", false);
	struct store_err err;
	cr_assert_eq(store_put(st, "tls/reconf", "x", 1, NULL, NULL, &err), -EPROTO, "%s", err.msg);
	struct store_s3_config cfg;
	rgw_config(&cfg);
	cfg.ca_bundle = getenv("RGW_CA_BUNDLE");
	cfg.secret_key = "not-the-secret-0123456789abcdefghijklmn";
	cr_assert_eq(store_s3_reconfigure(st, &cfg, &err), 0, "%s", err.msg);
	cr_assert_eq(store_put(st, "tls/reconf", "x", 1, NULL, NULL, &err), -EACCES, "%s", err.msg);
	cr_assert_eq(err.fault, STORE_FAULT_ACCESS, "%s", err.msg);
	cfg.secret_key = getenv("RGW_SECRET_KEY");
	cr_assert_eq(store_s3_reconfigure(st, &cfg, &err), 0, "%s", err.msg);
	cr_assert_eq(store_put(st, "tls/reconf", "x", 1, NULL, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(store_delete(st, "tls/reconf", &err), 0, "%s", err.msg);
	store_close(st);
}

Test(store_rgw, a_full_quota_is_quotaexceeded_a_space_fault_not_a_credential_one, .timeout = 60)
{
	rgw_require();
	struct store_s3_config cfg;
	rgw_config(&cfg);
	cfg.bucket = "vtl-test-quota";
	struct store *st = rgw_open(&cfg);
	struct store_err err;
	cr_assert_eq(store_s3_create_bucket(st, &err), 0, "%s", err.msg);
	rgw_set_quota(cfg.bucket, 1 << 20);
	unsigned char *data = calloc(1, 2 * MiB);
	int rc = store_put(st, "too-big", data, 2 * MiB, NULL, NULL, &err);
	cr_assert_eq(rc, -EDQUOT, "rc %d: %s", rc, err.msg);
	cr_assert_str_eq(err.code, "QuotaExceeded", "%s", err.msg);
	cr_assert_eq(err.fault, STORE_FAULT_SPACE, "%s", err.msg);
	cr_assert_null(strstr(err.msg, "credentials"), "%s", err.msg);
	rgw_set_quota(cfg.bucket, -1);
	cr_assert_eq(store_put(st, "too-big", data, 2 * MiB, NULL, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(store_delete(st, "too-big", &err), 0, "%s", err.msg);
	free(data);
	store_close(st);
}

static struct faultproxy *proxy;

static struct store *open_via_proxy(unsigned timeout_ms)
{
	rgw_require();
	proxy = faultproxy_start("127.0.0.1", rgw_port());
	cr_assert_not_null(proxy);
	static char ep[64];
	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", faultproxy_port(proxy));
	struct store_s3_config cfg;
	rgw_config(&cfg);
	cfg.endpoint = ep;
	cfg.timeout_ms = timeout_ms;
	return rgw_open(&cfg);
}

static void put_and_check(struct store *st, const char *key, size_t n)
{
	unsigned char *data = malloc(n), *back = malloc(n);
	fill(data, n, (unsigned)n);
	struct store_err err;
	char etag[STORE_ETAG_MAX], md5[33];
	size_t got;
	cr_assert_eq(store_put(st, key, data, n, NULL, etag, &err), 0, "%s", err.msg);
	store_md5_hex(data, n, md5);
	cr_assert_str_eq(etag, md5);
	cr_assert_eq(store_get(st, key, 0, n, back, &got, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(got, n);
	cr_assert(!memcmp(data, back, n));
	free(data);
	free(back);
}

Test(store_rgw_faults, slowdown_is_retried, .timeout = 60)
{
	struct store *st = open_via_proxy(0);
	faultproxy_slowdown(proxy, 2);
	put_and_check(st, "faults/slowdown", 1000);
	cr_assert_eq(faultproxy_injected(proxy), 2);
	store_close(st);
	faultproxy_stop(proxy);
}

Test(store_rgw_faults, dropped_connections_are_retried, .timeout = 60)
{
	struct store *st = open_via_proxy(0);
	faultproxy_drop(proxy, 2);
	put_and_check(st, "faults/drop", 100000);
	cr_assert_eq(faultproxy_injected(proxy), 2);
	store_close(st);
	faultproxy_stop(proxy);
}

Test(store_rgw_faults, a_stalled_request_times_out_and_is_retried, .timeout = 60)
{
	struct store *st = open_via_proxy(3000);
	faultproxy_delay(proxy, 1, 8000);
	put_and_check(st, "faults/stall", 1000);
	cr_assert_eq(faultproxy_injected(proxy), 1);
	store_close(st);
	faultproxy_stop(proxy);
}

static int count_entry(void *arg, const struct store_list_entry *e)
{
	(void)e;
	++*(int *)arg;
	return 0;
}

static int count_part(void *arg, const struct store_part *p)
{
	(void)p;
	++*(int *)arg;
	return 0;
}

static int count_upload(void *arg, const struct store_upload *u)
{
	(void)u;
	++*(int *)arg;
	return 0;
}

/* A server whose truncated pages repeat their marker would keep a listing
 * going forever; cutting it short would hide keys from the orphan sweep
 * and the catalog rebuild. Each listing stops at the second page with a
 * message naming the marker. */
Test(store_rgw_faults, a_listing_whose_marker_does_not_move_on_is_an_error, .timeout = 60)
{
	struct store *st = open_via_proxy(0);
	struct store_err err;
	int n = 0;
	put_and_check(st, "faults/stuck/one", 100);
	faultproxy_stuck_listing(proxy, 100);

	struct store_list_opts lo = {.prefix = "faults/stuck/"};
	cr_assert_eq(store_list(st, &lo, count_entry, &n, &err), -EPROTO);
	cr_assert(strstr(err.msg, "NextContinuationToken repeats \"faultproxy-stuck\""), "%s",
		  err.msg);
	cr_assert_eq(faultproxy_injected(proxy), 2);

	cr_assert_eq(
	    store_mpu_list_parts(st, "faults/stuck/one", "no-such-upload", count_part, &n, &err),
	    -EPROTO);
	cr_assert(strstr(err.msg, "NextPartNumberMarker repeats \"7\""), "%s", err.msg);
	cr_assert_eq(faultproxy_injected(proxy), 4);

	cr_assert_eq(store_mpu_list(st, "faults/stuck/", count_upload, &n, &err), -EPROTO);
	cr_assert(strstr(err.msg, "NextKeyMarker+NextUploadIdMarker repeats"), "%s", err.msg);
	cr_assert_eq(faultproxy_injected(proxy), 6);
	cr_assert_eq(n, 0);

	/* The server mended: the same listing ends. */
	faultproxy_stuck_listing(proxy, 0);
	cr_assert_eq(store_list(st, &lo, count_entry, &n, &err), 0, "%s", err.msg);
	cr_assert_eq(n, 1);
	cr_assert_eq(store_delete(st, "faults/stuck/one", &err), 0, "%s", err.msg);
	store_close(st);
	faultproxy_stop(proxy);
}

struct numbers {
	int last, n, in_order;
};

static int number_part(void *arg, const struct store_part *p)
{
	struct numbers *ns = arg;
	ns->in_order &= p->number > ns->last;
	ns->last = p->number;
	ns->n++;
	return 0;
}

/* Past a page of 1,000: ListParts and ListMultipartUploads go on from the
 * markers the server gives (the uploader adopts parts and the orphan sweep
 * finds uploads through them). The local store has no pages. */
Test(store_rgw, listings_go_on_past_a_thousand, .timeout = 300)
{
	enum { N = 1001 };
	char key[256], etag[STORE_ETAG_MAX], pfx[128];
	static char ids[N][STORE_UPLOAD_ID_MAX];
	struct store_err err;
	struct store *st = open_rgw();
	prefix_for(pfx, sizeof(pfx), "listings_go_on_past_a_thousand", 1);
	KEY(key, pfx, "parts");
	cr_assert_eq(store_mpu_create(st, key, NULL, ids[0], &err), 0, "%s", err.msg);
	for (int i = 1; i <= N; i++)
		cr_assert_eq(store_mpu_put_part(st, key, ids[0], i, "p", 1, etag, &err), 0,
			     "part %d: %s", i, err.msg);
	struct numbers ns = {.in_order = 1};
	cr_assert_eq(store_mpu_list_parts(st, key, ids[0], number_part, &ns, &err), 0, "%s",
		     err.msg);
	cr_assert_eq(ns.n, N);
	cr_assert(ns.in_order);
	cr_assert_eq(store_mpu_abort(st, key, ids[0], &err), 0, "%s", err.msg);

	/* One key with many uploads: the upload-id marker moves, the key's does not. */
	KEY(key, pfx, "uploads");
	for (int i = 0; i < N; i++)
		cr_assert_eq(store_mpu_create(st, key, NULL, ids[i], &err), 0, "%s", err.msg);
	int n = 0;
	cr_assert_eq(store_mpu_list(st, pfx, count_upload, &n, &err), 0, "%s", err.msg);
	cr_assert_eq(n, N);
	for (int i = 0; i < N; i++)
		cr_assert_eq(store_mpu_abort(st, key, ids[i], &err), 0, "%s", err.msg);
	store_close(st);
}

Test(store_rgw_faults, a_corrupted_upload_is_refused_by_the_server_and_resent, .timeout = 60)
{
	struct store *st = open_via_proxy(0);
	faultproxy_corrupt_request(proxy, 1);
	put_and_check(st, "faults/corrupt-put", 300000);
	cr_assert_eq(faultproxy_injected(proxy), 1);
	/* A part too. */
	char id[STORE_UPLOAD_ID_MAX], etag[STORE_ETAG_MAX], md5[33];
	struct store_err err;
	unsigned char *data = malloc(5 * MiB);
	fill(data, 5 * MiB, 9);
	cr_assert_eq(store_mpu_create(st, "faults/corrupt-part", NULL, id, &err), 0, "%s", err.msg);
	faultproxy_corrupt_request(proxy, 1);
	cr_assert_eq(
	    store_mpu_put_part(st, "faults/corrupt-part", id, 1, data, 5 * MiB, etag, &err), 0,
	    "%s", err.msg);
	cr_assert_eq(faultproxy_injected(proxy), 2);
	store_md5_hex(data, 5 * MiB, md5);
	cr_assert_str_eq(etag, md5);
	struct store_part p = {.number = 1, .size = 5 * MiB};
	snprintf(p.etag, sizeof(p.etag), "%s", etag);
	cr_assert_eq(store_mpu_complete(st, "faults/corrupt-part", id, &p, 1, etag, &err), 0, "%s",
		     err.msg);
	free(data);
	store_close(st);
	faultproxy_stop(proxy);
}

Test(store_rgw_faults, a_corrupted_download_is_detected_and_read_again, .timeout = 60)
{
	struct store *st = open_via_proxy(0);
	size_t n = 200000;
	unsigned char *data = malloc(n), *back = malloc(n);
	fill(data, n, 77);
	struct store_err err;
	size_t got;
	cr_assert_eq(store_put(st, "faults/corrupt-get", data, n, NULL, NULL, &err), 0, "%s",
		     err.msg);
	faultproxy_corrupt_response(proxy, 1);
	cr_assert_eq(store_get(st, "faults/corrupt-get", 0, n, back, &got, NULL, &err), 0, "%s",
		     err.msg);
	cr_assert_eq(faultproxy_injected(proxy), 1);
	cr_assert_eq(got, n);
	cr_assert(!memcmp(data, back, n));
	/* Corrupted every time: a clear error, never wrong data. */
	faultproxy_corrupt_response(proxy, 100);
	int rc = store_get(st, "faults/corrupt-get", 0, n, back, &got, NULL, &err);
	cr_assert_eq(rc, -EBADMSG, "rc %d: %s", rc, err.msg);
	cr_assert(strstr(err.msg, "faults/corrupt-get"), "%s", err.msg);
	free(data);
	free(back);
	store_close(st);
	faultproxy_stop(proxy);
}

/* --- store_copy_from: another bucket or directory --------------------------- */

#define SHELF_BUCKET BUCKET "-shelf"
#define BIG	     (STORE_COPY_PART + 6 * MiB)

/* A second bucket on the same radosgw, as vtld opens its shelf: the same
 * configuration but the bucket. */
static struct store *open_rgw_shelf(const char *endpoint)
{
	rgw_require();
	struct store_s3_config cfg;
	rgw_config(&cfg);
	cfg.bucket = SHELF_BUCKET;
	if (endpoint)
		cfg.endpoint = endpoint;
	struct store *st = rgw_open(&cfg);
	struct store_err err;
	cr_assert_eq(store_s3_create_bucket(st, &err), 0, "%s", err.msg);
	return st;
}

/*
 * What store_copy_from promises for any pair: a small object and one above
 * STORE_COPY_PART arrive byte for byte in the class asked for, in `to` and
 * not in `from`; a missing source is -ENOENT and the message names both
 * objects ("copy FROM_NAME/src to TO_NAME/dst: ..."). The ETag of the big
 * copy tells the path taken: a server-side copy keeps the source's (its
 * MD5, one PUT), a streamed one is a multipart upload of STORE_COPY_PART
 * parts.
 */
static void copy_from_round_trip(struct store *to, const char *to_name, struct store *from,
				 const char *from_name, const char *pfx, int server_side)
{
	char src[256], dst[256], etag[STORE_ETAG_MAX], want[1024], buf[16];
	struct store_err err;
	struct store_object_info info;
	size_t got;
	KEY(src, pfx, "small");
	KEY(dst, pfx, "small-shelved");
	cr_assert_eq(store_put(from, src, "tape data", 9, NULL, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(store_copy_from(to, from, src, dst, "GLACIER", etag, &err), 0, "%s", err.msg);
	store_md5_hex("tape data", 9, want);
	cr_assert_str_eq(etag, want);
	cr_assert_eq(store_head(to, dst, &info, &err), 0, "%s", err.msg);
	cr_assert_str_eq(info.storage_class, "GLACIER");
	cr_assert_eq(info.size, 9);
	cr_assert_eq(store_get(to, dst, 0, sizeof(buf), buf, &got, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(got, 9);
	cr_assert(!memcmp(buf, "tape data", 9));
	cr_assert_eq(store_head(from, dst, &info, &err), -ENOENT, "the copy is in the other store");

	unsigned char *data = malloc(BIG), *back = malloc(BIG);
	fill(data, BIG, 21);
	char big[256], bigdst[256], srcetag[STORE_ETAG_MAX];
	KEY(big, pfx, "big");
	KEY(bigdst, pfx, "big-shelved");
	cr_assert_eq(store_put(from, big, data, BIG, NULL, srcetag, &err), 0, "%s", err.msg);
	cr_assert_eq(store_copy_from(to, from, big, bigdst, "DEEP_ARCHIVE", etag, &err), 0, "%s",
		     err.msg);
	cr_assert_eq(store_head(to, bigdst, &info, &err), 0, "%s", err.msg);
	cr_assert_eq(info.size, BIG);
	cr_assert_str_eq(info.storage_class, "DEEP_ARCHIVE");
	cr_assert_str_eq(info.etag, etag);
	if (server_side) {
		cr_assert_str_eq(etag, srcetag, "a server-side copy keeps the source's ETag");
	} else {
		struct store_part p[2] = {{.number = 1}, {.number = 2}};
		store_md5_hex(data, STORE_COPY_PART, p[0].etag);
		store_md5_hex(data + STORE_COPY_PART, BIG - STORE_COPY_PART, p[1].etag);
		store_multipart_etag(p, 2, want);
		cr_assert_str_eq(etag, want, "streamed in two parts of STORE_COPY_PART at most");
	}
	cr_assert_eq(store_get(to, bigdst, 0, BIG, back, &got, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(got, BIG);
	cr_assert(!memcmp(back, data, BIG), "the copy reads back byte for byte");
	/* radosgw keeps deleted data until its garbage collection: free what
	 * is big at once. */
	cr_assert_eq(store_delete(from, big, &err), 0, "%s", err.msg);
	cr_assert_eq(store_delete(to, bigdst, &err), 0, "%s", err.msg);
	free(data);
	free(back);

	KEY(src, pfx, "missing");
	int rc = store_copy_from(to, from, src, dst, NULL, etag, &err);
	cr_assert_eq(rc, -ENOENT, "rc %d: %s", rc, err.msg);
	cr_assert_str_eq(err.code, "NoSuchKey", "%s", err.msg);
	snprintf(want, sizeof(want), "copy %s/%s to %s/%s: ", from_name, src, to_name, dst);
	cr_assert(!strncmp(err.msg, want, strlen(want)), "'%s' does not start with '%s'", err.msg,
		  want);
}

Test(store_local, copy_from_another_directory, .timeout = 120)
{
	char dir_a[256], dir_b[256];
	struct store *a = open_local_in(dir_a, sizeof(dir_a));
	struct store *b = open_local_in(dir_b, sizeof(dir_b));
	copy_from_round_trip(b, dir_b, a, dir_a, "copy_from/", 0);
	/* st == from is store_copy: in the same directory, in place too. */
	struct store_err err;
	struct store_object_info info;
	cr_assert_eq(
	    store_copy_from(a, a, "copy_from/small", "copy_from/again", "STANDARD_IA", NULL, &err),
	    0, "%s", err.msg);
	cr_assert_eq(store_head(a, "copy_from/again", &info, &err), 0, "%s", err.msg);
	cr_assert_str_eq(info.storage_class, "STANDARD_IA");
	cr_assert_eq(
	    store_copy_from(a, a, "copy_from/again", "copy_from/again", "GLACIER", NULL, &err), 0,
	    "%s", err.msg);
	cr_assert_eq(store_head(a, "copy_from/again", &info, &err), 0, "%s", err.msg);
	cr_assert_str_eq(info.storage_class, "GLACIER");
	cr_assert_eq(store_head(b, "copy_from/again", &info, &err), -ENOENT);
	/* Arguments are checked as store_copy checks them. */
	cr_assert_eq(store_copy_from(b, a, "copy_from/small", "x", "COLD", NULL, &err), -EINVAL);
	cr_assert_str_eq(err.code, "InvalidStorageClass");
	close_local_in(a, dir_a);
	close_local_in(b, dir_b);
}

Test(store_rgw, copy_from_another_bucket_is_server_side, .timeout = 300)
{
	struct store *lib = open_rgw(), *shelf = open_rgw_shelf(NULL);
	char pfx[128];
	prefix_for(pfx, sizeof(pfx), "copy_from_bucket", 1);
	copy_from_round_trip(shelf, "s3://" SHELF_BUCKET, lib, "s3://" BUCKET, pfx, 1);
	store_close(lib);
	store_close(shelf);

	/* Seen through the proxy, a server-side copy is two requests (HEAD of
	 * the source, CopyObject); streaming would add a GET and a PUT. */
	struct store *plib = open_via_proxy(0);
	char ep[64], src[256], dst[256];
	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", faultproxy_port(proxy));
	struct store *pshelf = open_rgw_shelf(ep);
	struct store_err err;
	KEY(src, pfx, "counted");
	KEY(dst, pfx, "counted-shelved");
	cr_assert_eq(store_put(plib, src, "counted", 7, NULL, NULL, &err), 0, "%s", err.msg);
	int before = faultproxy_requests(proxy);
	cr_assert_eq(store_copy_from(pshelf, plib, src, dst, "GLACIER", NULL, &err), 0, "%s",
		     err.msg);
	cr_assert_eq(faultproxy_requests(proxy) - before, 2, "requests: %d",
		     faultproxy_requests(proxy) - before);
	/* Another endpoint (the proxy's port) is another service as far as the
	 * client can tell: the source is read through the proxy (HEAD, GET)
	 * and written directly. */
	shelf = open_rgw_shelf(NULL);
	KEY(dst, pfx, "streamed-shelved");
	before = faultproxy_requests(proxy);
	cr_assert_eq(store_copy_from(shelf, plib, src, dst, NULL, NULL, &err), 0, "%s", err.msg);
	cr_assert_eq(faultproxy_requests(proxy) - before, 2, "requests: %d",
		     faultproxy_requests(proxy) - before);
	char buf[16];
	size_t got;
	cr_assert_eq(store_get(shelf, dst, 0, sizeof(buf), buf, &got, NULL, &err), 0, "%s",
		     err.msg);
	cr_assert_eq(got, 7);
	cr_assert(!memcmp(buf, "counted", 7));
	store_close(shelf);
	store_close(pshelf);
	store_close(plib);
	faultproxy_stop(proxy);
}

Test(store_rgw, copy_from_between_a_directory_and_a_bucket_streams, .timeout = 300)
{
	char dir[256], pfx[128];
	struct store *local = open_local_in(dir, sizeof(dir)), *rgw = open_rgw();
	prefix_for(pfx, sizeof(pfx), "copy_from_local_to_rgw", 1);
	copy_from_round_trip(rgw, "s3://" BUCKET, local, dir, pfx, 0);
	prefix_for(pfx, sizeof(pfx), "copy_from_rgw_to_local", 1);
	copy_from_round_trip(local, dir, rgw, "s3://" BUCKET, pfx, 0);
	store_close(rgw);
	close_local_in(local, dir);
}

Test(store_rgw, copy_from_an_archived_object_is_eagain, .timeout = 120)
{
	struct store *rgw = open_via_proxy(0);
	char dir[256], pfx[128], src[256], path[300];
	struct store *local = open_local_in(dir, sizeof(dir));
	struct store_err err;
	prefix_for(pfx, sizeof(pfx), "copy_from_archived", 1);
	KEY(src, pfx, "seg");
	cr_assert_eq(store_put(rgw, src, "archived", 8, NULL, NULL, &err), 0, "%s", err.msg);
	/* As AWS answers for GLACIER: readable only once restored. */
	snprintf(path, sizeof(path), "/%s/%s", BUCKET, pfx);
	faultproxy_archive(proxy, path, 60000);
	int rc = store_copy_from(local, rgw, src, "seg", "GLACIER", NULL, &err);
	cr_assert_eq(rc, -EAGAIN, "rc %d: %s", rc, err.msg);
	cr_assert(strstr(err.msg, "InvalidObjectState"), "%s", err.msg);
	cr_assert(strstr(err.msg, dir), "%s", err.msg);
	struct store_object_info info;
	cr_assert_eq(store_head(local, "seg", &info, &err), -ENOENT, "nothing copied");
	faultproxy_archive(proxy, NULL, 0);
	close_local_in(local, dir);
	store_close(rgw);
	faultproxy_stop(proxy);
}

/* --- main: radosgw around the run ------------------------------------------ */

int main(int argc, char *argv[])
{
	return rgw_main(argc, argv, BUCKET);
}
