/*
 * test_shelf_rgw.c - the uploader and the shelf under store faults:
 * the real vtld with [store] type = s3 pointed at the fault proxy of the
 * tests (tests/s3/faultproxy.c) in front of Ceph's radosgw, started by
 * main() with tests/s3/rgw.sh. A store outage mid-upload (the proxy drops
 * every request for a while), a wrong secret key, and AWS's archive
 * restore flow (emulated by the proxy: radosgw answers RestoreObject 501).
 */
#include "config.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <iscsi.h>
#include <scsi-lowlevel.h>

#include "s3/store.h"
#include "tests/s3/rgw_fixture.h"
#include "scsi/be.h"
#include "tests/iscsi/harness.h"
#include "tests/iscsi/rawpdu.h"
#include "tests/iscsi/vtld_proc.h"
#include "tests/vtl/backlog_check.h"
#include "tests/vtl/shelf_check.h"
#include "tests/s3/faultproxy.h"

#define BUCKET "vtl-shelf-faults"
#define MB     1048576u

static struct vtld_proc vtl;
static struct faultproxy *proxy;

static void stop(void)
{
	vp_stop(&vtl);
	faultproxy_stop(proxy);
	proxy = NULL;
}

/* The tests run in parallel on one bucket, each vtld under a prefix of its
 * own: a vtld aborts at start the multipart uploads under its prefix that
 * its catalog does not know, which would be another test's. */
TestSuite(shelf_rgw, .fini = stop, .timeout = 150);

static void read_log(char *log, size_t cap)
{
	FILE *f = fopen(vtl.log, "r");
	size_t n = f ? fread(log, 1, cap - 1, f) : 0;
	log[n] = 0;
	if (f)
		fclose(f);
}

/* n records of 1 MiB (seeds seed..seed+n-1), written or read back. */
static void mib_records(struct iscsi_context *iscsi, int lun, uint32_t seed, int n, bool write)
{
	uint8_t *rec = malloc(MB), *back = malloc(MB);
	for (int i = 0; i < n; i++) {
		th_pattern(rec, MB, seed + (uint32_t)i);
		if (write) {
			th_write6(iscsi, lun, rec, MB);
		} else {
			th_read6(iscsi, lun, back, MB);
			cr_assert_arr_eq(rec, back, MB, "record %d", i);
		}
	}
	free(rec);
	free(back);
}

/* The proxy in front of radosgw; its endpoint in ep. */
static void start_proxy(char *ep, size_t cap)
{
	if (getenv("VTL_RGW_ERROR"))
		cr_assert_fail("radosgw is not available: %s", getenv("VTL_RGW_ERROR"));
	const char *rgw = getenv("RGW_ENDPOINT");
	const char *colon = strrchr(rgw, ':');
	cr_assert_not_null(colon, "%s", rgw);
	proxy = faultproxy_start("127.0.0.1", atoi(colon + 1));
	cr_assert_not_null(proxy);
	snprintf(ep, cap, "http://127.0.0.1:%d", faultproxy_port(proxy));
}

static void start_vtld(const char *ep, const char *secret, const char *extra)
{
	char config[1024];
	snprintf(config, sizeof(config),
		 "[store]\ntype = s3\nendpoint = %s\nbucket = %s\naddressing = path\n"
		 "region = us-east-1\naccess_key_id = %s\nsecret_access_key = %s\n"
		 "part_size = 5M\nidle_complete = 1\n%s",
		 ep, BUCKET, getenv("RGW_ACCESS_KEY"), secret, extra);
	vp_start(&vtl, config);
}

struct count_ctx {
	int n;
};

static int count_cb(void *arg, const struct store_upload *e)
{
	(void)e;
	((struct count_ctx *)arg)->n++;
	return 0;
}

Test(shelf_rgw, store_down_mid_upload_writes_go_on_into_the_cache_and_uploads_resume)
{
	char ep[64], out[8192];
	start_proxy(ep, sizeof(ep));
	struct store *st = rgw_store(BUCKET, getenv("RGW_ENDPOINT"));
	setenv("VTL_UPLOAD_PART_DELAY_MS", "500", 1); /* slow parts: an outage mid-upload */
	start_vtld(ep, getenv("RGW_SECRET_KEY"), "");
	unsetenv("VTL_UPLOAD_PART_DELAY_MS");
	vp_ctl_ok(&vtl, "tape create OUT001L8", out, sizeof(out));
	vp_ctl_ok(&vtl, "tape move OUT001L8 --to drive:1", out, sizeof(out));
	struct iscsi_context *iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 1);
	mib_records(iscsi, 1, 500, 21, true);
	th_filemarks(iscsi, 1, 1);
	/* Mid-upload: a 5 MiB part is in the store, the upload open. */
	cr_assert_geq(vp_status_until(&vtl, "parts_sent", 1, out, sizeof(out)), 1,
		      "no part uploaded in 30 s: %s", out);
	/* The outage: every request is dropped unanswered. */
	faultproxy_drop(proxy, 1 << 30);
	int before = faultproxy_injected(proxy);
	mib_records(iscsi, 1, 521, 7, true); /* into the cache, at disk speed */
	th_filemarks(iscsi, 1, 1);
	th_logout(iscsi);
	vp_ctl_ok(&vtl, "drive unload 1", out, sizeof(out));
	int i;
	for (i = 0; i < 300; i++) {
		vp_ctl_ok(&vtl, "--json status", out, sizeof(out));
		if (faultproxy_injected(proxy) > before + 2 && strstr(out, "\"last_error\": \"") &&
		    !strstr(out, "\"last_error\": \"\""))
			break;
		usleep(100000);
	}
	cr_assert_lt(i, 300, "the uploader did not report the outage: %s", out);
	cr_assert(strstr(out, "\"last_error_current\": true"), "%s", out);
	/* A part failed: what the store acknowledged before is safe, every
	 * other byte waits, and every place says the same. */
	struct tape_view t;
	tape_view_read(&vtl, "OUT001L8", &t);
	cr_assert_geq(t.uploaded, 5 * MB, "%s", t.json);
	cr_assert_eq(t.pending, t.used - t.uploaded, "%s", t.json);
	cr_assert_gt(t.pending, 7 * MB, "%s", t.json);
	struct backlog_view v;
	backlog_read(&vtl, &v);
	cr_assert_eq(v.backlog, t.pending, "%s", v.status);
	cr_assert_null(strstr(v.status, "\"activity\": \"idle"), "%s", v.status);
	/* Waiting can fix it: no hold, and the log says it once a minute, not
	 * at every round and part. */
	cr_assert(strstr(v.status, "\"action_needed\": \"\""), "%s", v.status);
	cr_assert_eq(log_count(&vtl, "error: store:"), 1);
	/* The store is back: the upload resumes and completes. */
	faultproxy_drop(proxy, 0);
	vp_wait_uploaded(&vtl, "OUT001L8");
	compare_store(&vtl, st, "OUT001L8");
	/* The error stays as history, said to be over. */
	vp_ctl_ok(&vtl, "--json status", out, sizeof(out));
	cr_assert(strstr(out, "\"last_error_current\": false"), "%s", out);
	cr_assert_null(strstr(out, "\"last_error\": \"\""), "%s", out);
	vp_ctl_ok(&vtl, "status", out, sizeof(out));
	cr_assert(strstr(out, "; uploads have succeeded since)"), "%s", out);
	struct count_ctx cc = {0};
	struct store_err err;
	cr_assert_eq(store_mpu_list(st, "tapes/OUT001L8/", count_cb, &cc, &err), 0, "%s", err.msg);
	cr_assert_eq(cc.n, 0, "%d multipart uploads left open", cc.n);
	/* And it reads back whole after the cache is dropped. */
	vp_ctl_ok(&vtl, "tape move OUT001L8 --to drive:2", out, sizeof(out));
	iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 2);
	th_rewind(iscsi, 2);
	mib_records(iscsi, 2, 500, 21, false);
	th_space(iscsi, 2, 1, 1); /* over the filemark */
	mib_records(iscsi, 2, 521, 7, false);
	th_logout(iscsi);
	store_close(st);
}

Test(shelf_rgw, wrong_secret_key_is_a_clear_error_naming_bucket_and_key_id_never_the_secret)
{
	static const char secret[] = "WrongSecretKey0123456789abcdefWRONGxyz";
	char ep[64], out[8192], log[65536];
	start_proxy(ep, sizeof(ep));
	start_vtld(ep, secret, "");
	vp_ctl_ok(&vtl, "tape create KEY001L8", out, sizeof(out));
	vp_ctl_ok(&vtl, "tape move KEY001L8 --to drive:1", out, sizeof(out));
	struct iscsi_context *iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 1);
	mib_records(iscsi, 1, 900, 1, true);
	th_filemarks(iscsi, 1, 1);
	th_logout(iscsi);
	vp_ctl_ok(&vtl, "drive unload 1", out, sizeof(out));
	int i;
	for (i = 0; i < 300; i++) {
		vp_ctl_ok(&vtl, "status", out, sizeof(out));
		if (strstr(out, "SignatureDoesNotMatch") || strstr(out, "AccessDenied"))
			break;
		usleep(100000);
	}
	cr_assert_lt(i, 300, "no credential error in vtlctl status: %s", out);
	cr_assert(strstr(out, BUCKET), "the error does not name the bucket: %s", out);
	cr_assert(strstr(out, getenv("RGW_ACCESS_KEY")), "the error does not name the key id: %s",
		  out);
	cr_assert_null(strstr(out, secret), "the secret is in vtlctl status: %s", out);
	vp_ctl_ok(&vtl, "--json status", out, sizeof(out));
	cr_assert_null(strstr(out, secret), "the secret is in vtlctl status --json");
	vp_ctl_ok(&vtl, "--json tape show KEY001L8", out, sizeof(out));
	cr_assert_null(strstr(out, secret), "the secret is in vtlctl tape show");
	read_log(log, sizeof(log));
	cr_assert(strstr(log, BUCKET) && strstr(log, getenv("RGW_ACCESS_KEY")),
		  "the log does not name the bucket and key id: %s", log);
	cr_assert_null(strstr(log, secret), "the secret is in the log");
	/* Waiting for credentials: every byte of the tape waits, status says
	 * for what (not "idle"), and the log said it once. */
	struct tape_view t;
	tape_view_read(&vtl, "KEY001L8", &t);
	cr_assert_gt(t.used, MB, "%s", t.json);
	cr_assert_eq(t.pending, t.used, "%s", t.json);
	cr_assert_eq(t.uploaded, 0, "%s", t.json);
	cr_assert(strstr(t.json, "\"upload_held_by\": \"access\""), "%s", t.json);
	struct backlog_view v;
	backlog_read(&vtl, &v);
	cr_assert_eq(v.backlog, t.used, "%s", v.status);
	cr_assert(strstr(v.status, "\"activity\": \"waiting for a person"), "%s", v.status);
	cr_assert(strstr(v.status, "\"held_by\": \"access\""), "%s", v.status);
	sleep(2); /* rounds go by */
	cr_assert_eq(log_count(&vtl, "the store refuses vtld's credentials or access"), 1);
	/* and the start's look for an earlier library's tapes said that it
	 * could not tell, once */
	cr_assert_eq(log_count(&vtl, "whether the object store holds tapes of an earlier one is "
				     "not known"),
		     1);

	/* The secret corrected in the file, vtld told with SIGHUP: it reads
	 * the keys again, and the tape goes up. */
	char config[1024];
	snprintf(config, sizeof(config),
		 "[store]\ntype = s3\nendpoint = %s\nbucket = %s\naddressing = path\n"
		 "region = us-east-1\naccess_key_id = %s\nsecret_access_key = %s\n"
		 "part_size = 5M\nidle_complete = 1\n",
		 ep, BUCKET, getenv("RGW_ACCESS_KEY"), getenv("RGW_SECRET_KEY"));
	FILE *f = fopen(vtl.config, "w");
	cr_assert_not_null(f);
	fputs(config, f);
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(kill(vtl.pid, SIGHUP), 0);
	vp_wait_uploaded(&vtl, "KEY001L8");
	for (i = 0; i < 600; i++) { /* the round that answers the SIGHUP is over */
		vp_ctl_ok(&vtl, "--json status", out, sizeof(out));
		if (vp_jint(out, "retried") >= 1)
			break;
		usleep(100000);
	}
	cr_assert_lt(i, 600, "%s", out);
	backlog_read(&vtl, &v);
	cr_assert_eq(v.backlog, 0, "%s", v.status);
	cr_assert(strstr(v.status, "\"action_needed\": \"\""), "%s", v.status);
	cr_assert_eq(log_count(&vtl, "credentials and ca_bundle read again"), 2,
		     "SIGHUP's line and the uploader's");
	read_log(log, sizeof(log));
	cr_assert_null(strstr(log, getenv("RGW_SECRET_KEY")), "the secret is in the log");
}

/* Waiting for space: radosgw answers QuotaExceeded. The uploads of the
 * store stop (one log line, with the fix), every byte waits, and once the
 * quota is raised `vtlctl store retry` sends them at once. */
Test(shelf_rgw, a_full_quota_holds_uploads_with_one_error_until_raised_and_retried)
{
	static const char bucket[] = "vtl-quota";
	char out[8192], config[1024];
	struct store_s3_config cfg = {.bucket = bucket,
				      .endpoint = getenv("RGW_ENDPOINT"),
				      .region = "us-east-1",
				      .addressing = STORE_S3_PATH,
				      .access_key = getenv("RGW_ACCESS_KEY"),
				      .secret_key = getenv("RGW_SECRET_KEY")};
	if (getenv("VTL_RGW_ERROR"))
		cr_assert_fail("radosgw is not available: %s", getenv("VTL_RGW_ERROR"));
	struct store *st;
	struct store_err err;
	cr_assert_eq(store_s3_open(&cfg, &st, &err), 0, "%s", err.msg);
	cr_assert_eq(store_s3_create_bucket(st, &err), 0, "%s", err.msg);
	rgw_set_quota(bucket, MB);
	snprintf(config, sizeof(config),
		 "[store]\ntype = s3\nendpoint = %s\nbucket = %s\naddressing = path\n"
		 "region = us-east-1\naccess_key_id = %s\nsecret_access_key = %s\n"
		 "part_size = 5M\nidle_complete = 1\n",
		 getenv("RGW_ENDPOINT"), bucket, getenv("RGW_ACCESS_KEY"),
		 getenv("RGW_SECRET_KEY"));
	vp_start(&vtl, config);
	vp_ctl_ok(&vtl, "tape create FUL001L8", out, sizeof(out));
	vp_ctl_ok(&vtl, "tape move FUL001L8 --to drive:1", out, sizeof(out));
	struct iscsi_context *iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 1);
	mib_records(iscsi, 1, 700, 12, true);
	th_filemarks(iscsi, 1, 1);
	th_logout(iscsi);
	vp_ctl_ok(&vtl, "drive unload 1", out, sizeof(out));
	struct tape_view t;
	tape_wait_held(&vtl, "FUL001L8", "space", 60, "the full quota holds nothing back", &t);
	cr_assert_eq(t.uploaded, 0, "%s", t.json);
	cr_assert_eq(t.pending, t.used, "%s", t.json);
	cr_assert(strstr(t.json, "quota"), "no fix named: %s", t.json);
	struct backlog_view v;
	backlog_read(&vtl, &v);
	cr_assert_eq(v.backlog, t.used, "%s", v.status);
	cr_assert(strstr(v.status, "\"activity\": \"waiting for a person"), "%s", v.status);
	sleep(2); /* rounds go by */
	cr_assert_eq(log_count(&vtl, "QuotaExceeded"), 1);

	rgw_set_quota(bucket, -1);
	vp_ctl_ok(&vtl, "store retry", out, sizeof(out));
	cr_assert(strstr(out, "the store takes uploads"), "%s", out);
	vp_wait_uploaded(&vtl, "FUL001L8");
	compare_store(&vtl, st, "FUL001L8");
	backlog_read(&vtl, &v);
	cr_assert_eq(v.backlog, 0, "%s", v.status);
	cr_assert(strstr(v.status, "\"action_needed\": \"\""), "%s", v.status);
	store_close(st);
}

static int class_cb(void *arg, const struct store_list_entry *e)
{
	if (!e->is_prefix)
		snprintf(arg, STORE_CLASS_MAX, "%s", e->storage_class ? e->storage_class : "");
	return 0;
}

Test(shelf_rgw, archived_tape_is_restored_as_on_aws_then_retrieved_intact)
{
	char ep[64], out[8192], log[65536], body[1024];
	start_proxy(ep, sizeof(ep));
	struct store *st = rgw_store(BUCKET, ep);
	/* Not AWS's defaults (7 days, Standard), so that the request shows
	 * they come from the configuration. */
	start_vtld(ep, getenv("RGW_SECRET_KEY"),
		   "archive_storage_class = GLACIER\nrestore_days = 3\nrestore_tier = bulk\n"
		   "prefix = aws/\n");
	vp_ctl_ok(&vtl, "tape create ARC001L8", out, sizeof(out));
	vp_ctl_ok(&vtl, "tape move ARC001L8 --to drive:1", out, sizeof(out));
	struct iscsi_context *iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 1);
	mib_records(iscsi, 1, 300, 7, true);
	th_filemarks(iscsi, 1, 1);
	th_logout(iscsi);
	vp_ctl_ok(&vtl, "drive unload 1", out, sizeof(out));
	vp_wait_uploaded(&vtl, "ARC001L8");
	vp_ctl_ok(&vtl, "tape archive ARC001L8 --wait", out, sizeof(out));
	/* The manifest stays STANDARD (a rebuild reads it without a restore). */
	char man_class[STORE_CLASS_MAX] = "";
	struct store_list_opts lo = {.prefix = "aws/tapes/ARC001L8/manifest/"};
	cr_assert_eq(store_list(st, &lo, class_cb, man_class, NULL), 0);
	cr_assert_str_eq(man_class, "STANDARD");
	/* From here on the proxy answers for the tape's segments as AWS does
	 * for GLACIER: unreadable until restored, restores take 3 s. */
	faultproxy_archive(proxy, "/" BUCKET "/aws/tapes/ARC001L8/seg/", 3000);
	size_t got = 0;
	uint8_t b[16];
	struct store_err err;
	cr_assert_eq(store_get(st, "aws/tapes/ARC001L8/seg/0000000000000001", 0, sizeof(b), b, &got,
			       NULL, &err),
		     -EAGAIN, "an archived object is readable: %s", err.msg);
	vp_ctl_ok(&vtl, "tape retrieve ARC001L8", out, sizeof(out));
	int i;
	bool told = false; /* tape show said what the retrieval waits for */
	for (i = 0; i < 600; i++) {
		vp_ctl_ok(&vtl, "--json tape show ARC001L8", out, sizeof(out));
		if (strstr(out, "\"RETRIEVED\""))
			break;
		told |= strstr(out, "\"shelf_activity\": \"tape ARC001L8 is archived: restore "
				    "requested") &&
			strstr(out, "next look in");
		usleep(100000);
	}
	cr_assert_lt(i, 600, "tape not retrieved in 60 s: %s", out);
	cr_assert(told, "tape show never said the retrieval waits for restores");
	cr_assert_null(strstr(out, "shelf_activity"), "a retrieved tape still has one: %s", out);
	/* One per segment object (the tape has one), none for the STANDARD
	 * manifest, none asked twice while it runs. */
	cr_assert_eq(faultproxy_restores(proxy), 1, "RestoreObject requests: %d",
		     faultproxy_restores(proxy));
	/* Looked at again after 1, 2 and 4 s, not every round: a 500 ms
	 * round would have been refused six times in 3 s. */
	cr_assert_geq(faultproxy_archive_refused(proxy), 2, "refused GETs: %d",
		      faultproxy_archive_refused(proxy));
	cr_assert_leq(faultproxy_archive_refused(proxy), 4, "refused GETs: %d",
		      faultproxy_archive_refused(proxy));
	faultproxy_restore_body(proxy, body, sizeof(body));
	cr_assert(strstr(body, "<Days>3</Days>"), "RestoreObject body: %s", body);
	cr_assert(strstr(body, "<Tier>Bulk</Tier>"), "RestoreObject body: %s", body);
	struct store_object_info info;
	cr_assert_eq(store_head(st, "aws/tapes/ARC001L8/seg/0000000000000001", &info, &err), 0,
		     "%s", err.msg);
	cr_assert_str_eq(info.storage_class, "GLACIER");
	cr_assert(strstr(info.restore, "ongoing-request=\"false\""), "%s", info.restore);
	read_log(log, sizeof(log));
	cr_assert(strstr(log, "restore requested"), "the log says nothing of the restore");
	cr_assert(strstr(log, "(Bulk tier, 3 days)"), "the log does not name tier and days");
	vp_ctl_ok(&vtl, "tape move ARC001L8 --to drive:2", out, sizeof(out));
	iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 2);
	th_rewind(iscsi, 2);
	mib_records(iscsi, 2, 300, 7, false);
	th_logout(iscsi);
	store_close(st);
}

/* Wait for the status of itt on the raw session, answering the target's
 * NOP-In pings (RFC 7143 11.19) meanwhile; the Data-In into buf. Returns
 * the SCSI status; *pings counts the pings seen before it. */
static int status_answering_pings(struct raw *r, uint32_t itt, uint8_t *buf, size_t cap, int *pings)
{
	static uint8_t seg[1 << 18];
	for (;;) {
		uint8_t h[48];
		int n = raw_recv(r, h, seg, sizeof(seg), 30000);
		cr_assert_geq(n, 0, "the session ended while the command ran");
		uint8_t op = h[0] & 0x3f;
		if (op == RAW_NOP_IN && get_be32(h + 20) != 0xffffffffu) {
			(*pings)++;
			uint8_t nop[48] = {RAW_NOP_OUT | RAW_IMMEDIATE, 0x80};
			put_be32(nop + 16, 0xffffffffu);
			memcpy(nop + 20, h + 20, 4);
			put_be32(nop + 24, r->cmdsn);
			put_be32(nop + 28, r->statsn + 1);
			raw_send(r, nop, NULL, 0);
			continue;
		}
		if (get_be32(h + 16) != itt)
			continue;
		if (op == RAW_DATA_IN) {
			uint32_t off = get_be32(h + 40);
			if (off + (size_t)n <= cap)
				memcpy(buf + off, seg, (size_t)n);
			if (h[1] & 0x01)
				return h[3];
			continue;
		}
		cr_assert_eq(op, RAW_SCSI_RSP, "unexpected PDU 0x%02x", op);
		return h[3];
	}
}

/* A command that waits on the object store (every request stalled 6 s by
 * the proxy while the tape's first segments come back from radosgw) runs
 * on its LUN's worker; the connection's receiver keeps the session alive
 * meanwhile with NOP-In pings every nop_interval, and the record arrives
 * intact. What the Microsoft initiator needs (docs/iscsi.md, "Long
 * commands and keep-alive"): no connection lost while a long LOCATE or
 * READ runs. */
Test(shelf_rgw, a_read_waiting_on_the_store_keeps_the_session_alive_with_pings)
{
	char ep[64], out[8192];
	start_proxy(ep, sizeof(ep));
	setenv("VTL_SEGMENT_SIZE", "4194304", 1); /* sealed segments to evict */
	start_vtld(
	    ep, getenv("RGW_SECRET_KEY"),
	    "prefix = nop/\ncache_limit = 12M\n[iscsi]\nnop_interval = 1\nnop_timeout = 5\n");
	unsetenv("VTL_SEGMENT_SIZE");
	vp_ctl_ok(&vtl, "tape create NOP001L8", out, sizeof(out));
	vp_ctl_ok(&vtl, "tape move NOP001L8 --to drive:1", out, sizeof(out));
	struct iscsi_context *iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 1);
	mib_records(iscsi, 1, 700, 24, true);
	th_filemarks(iscsi, 1, 1);
	th_logout(iscsi);
	vp_ctl_ok(&vtl, "drive unload 1", out, sizeof(out));
	vp_wait_uploaded(&vtl, "NOP001L8");
	cr_assert_geq(vp_status_until(&vtl, "evicted_segments", 3, out, sizeof(out)), 3,
		      "not evicted: %s", out);
	vp_ctl_ok(&vtl, "tape move NOP001L8 --to drive:1", out, sizeof(out));

	struct raw r;
	raw_login(&r, vtl.port, VP_INITIATOR, vtl.iqn, NULL);
	raw_tur_clear(&r, 1);
	vp_ctl_ok(&vtl, "--json status", out, sizeof(out));
	long long fetched = vp_jint(out, "fetched_segments");
	faultproxy_delay(proxy, 1000, 6000);

	int pings = 0;
	uint8_t locate[10] = {0x2b};
	put_be32(locate + 3, 5);
	uint32_t itt = raw_cmd(&r, 1, locate, 10, 0x80, 0, NULL, 0, false);
	cr_assert_eq(status_answering_pings(&r, itt, NULL, 0, &pings), 0, "LOCATE to block 5");
	static const uint8_t read6[6] = {0x08, 0x00, 0x10, 0x00, 0x00, 0x00};
	uint8_t *rec = malloc(MB), *want = malloc(MB);
	cr_assert(rec && want);
	itt = raw_cmd(&r, 1, read6, 6, 0xc0, MB, NULL, 0, false);
	cr_assert_eq(status_answering_pings(&r, itt, rec, MB, &pings), 0, "READ of record 5");
	faultproxy_delay(proxy, 0, 0);
	th_pattern(want, MB, 705);
	cr_expect_arr_eq(rec, want, MB, "record 5 read back");
	cr_expect_geq(pings, 2, "NOP-In pings while the store held the command back");
	/* The read was answered from a ranged read; the segment's own fetch
	 * is counted when it ends, which may be after the answer. */
	cr_expect_gt(vp_status_until(&vtl, "fetched_segments", fetched + 1, out, sizeof(out)),
		     fetched, "a segment came from the store: %s", out);
	free(rec);
	free(want);
	close(r.fd);
}

int main(int argc, char *argv[])
{
	return rgw_main(argc, argv, BUCKET);
}

/* vtld's shutdown stops a retrieval between two ranged GETs rather than
 * waiting for the whole tape; the next start downloads it again. The
 * proxy slows every request so that the download is caught in the middle. */
Test(shelf_rgw, shutdown_stops_a_retrieval_and_the_next_start_finishes_it)
{
	char ep[64], out[8192], log[65536];
	start_proxy(ep, sizeof(ep));
	start_vtld(ep, getenv("RGW_SECRET_KEY"), "prefix = ret/\n");
	vp_ctl_ok(&vtl, "tape create RET001L8", out, sizeof(out));
	vp_ctl_ok(&vtl, "tape move RET001L8 --to drive:1", out, sizeof(out));
	struct iscsi_context *iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 1);
	mib_records(iscsi, 1, 500, 20, true); /* three 8 MiB GETs to fetch it */
	th_filemarks(iscsi, 1, 1);
	th_logout(iscsi);
	vp_ctl_ok(&vtl, "drive unload 1", out, sizeof(out));
	vp_wait_uploaded(&vtl, "RET001L8");
	vp_ctl_ok(&vtl, "tape archive RET001L8 --wait", out, sizeof(out));

	faultproxy_delay(proxy, 1000, 1500);
	vp_ctl_ok(&vtl, "tape retrieve RET001L8", out, sizeof(out));
	int i;
	for (i = 0; i < 300; i++) {
		vp_ctl_ok(&vtl, "--json tape show RET001L8", out, sizeof(out));
		if (strstr(out, "downloading tape RET001L8: segment 1 of"))
			break;
		usleep(100000);
	}
	cr_assert_lt(i, 300, "the download never started: %s", out);
	cr_assert_eq(vp_terminate(&vtl), 0);
	read_log(log, sizeof(log));
	cr_assert(strstr(log, "retrieval of tape RET001L8: download of tape RET001L8 stopped: "
			      "vtld is shutting down; it starts again at the next start"),
		  "the shutdown did not stop the download:\n%s", log);

	faultproxy_delay(proxy, 0, 0);
	vp_restart(&vtl);
	vp_ctl_ok(&vtl, "--json tape show RET001L8", out, sizeof(out));
	cr_assert(strstr(out, "\"RETRIEVING\""), "%s", out);
	for (i = 0; i < 600 && !strstr(out, "\"RETRIEVED\""); i++) {
		usleep(100000);
		vp_ctl_ok(&vtl, "--json tape show RET001L8", out, sizeof(out));
	}
	cr_assert_lt(i, 600, "not retrieved 60 s after the restart: %s", out);
	vp_ctl_ok(&vtl, "tape move RET001L8 --to drive:2", out, sizeof(out));
	iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 2);
	mib_records(iscsi, 2, 500, 20, false);
	th_logout(iscsi);
}
