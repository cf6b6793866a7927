/*
 * harness.c - see harness.h. Real parts only: the server is the library
 * vtld links, the LUNs are real tape drives on real cartridges, the
 * initiator is libiscsi.
 */
#include "config.h"

#include "harness.h"

#include <criterion/criterion.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scsi/be.h"
#include "scsi/ssc.h"
#include "scsi/tape.h"
#include "tests/tmpdir.h"

static struct iscsi_server *srv;
static struct scsi_dev drives[TH_MAX_DRIVES];
static int n_drives;
static char root[PATH_MAX];
static char portal[64];
static char drive_iqn[TH_MAX_DRIVES][64];

static void make_drive(int i)
{
	struct ssc_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.generation = TAPE_LTO6;
	cfg.vendor = SSC_VENDOR_IBM;
	snprintf(cfg.serial, sizeof(cfg.serial), "10130001%02d", i);
	cfg.naa = 0x5000e11100000100ull + (uint64_t)i;
	cfg.rel_port = 1;
	cr_assert_eq(ssc_drive_init(&drives[i], &cfg), 0, "ssc_drive_init %d", i);

	struct tape_info info;
	memset(&info, 0, sizeof(info));
	snprintf(info.barcode, sizeof(info.barcode), "ISC%03dL6", i);
	snprintf(info.serial, sizeof(info.serial), "MSNISC%03d", i);
	info.media = TAPE_LTO6;
	info.created = 1700000000;
	char dir[PATH_MAX + 32];
	snprintf(dir, sizeof(dir), "%s/%s", root, info.barcode);
	cr_assert_eq(tape_format(dir, &info), 0, "tape_format %s", dir);
	cr_assert_eq(ssc_insert(&drives[i], dir), 0, "ssc_insert %s", dir);
}

static void add_target(const char *iqn, const struct iscsi_lun *luns, size_t n,
		       const struct iscsi_chap *chap, const char *const *allow, size_t n_allow)
{
	struct iscsi_target_config t;
	memset(&t, 0, sizeof(t));
	snprintf(t.iqn, sizeof(t.iqn), "%s", iqn);
	snprintf(t.alias, sizeof(t.alias), "test %s", iqn + 21);
	t.luns = luns;
	t.n_luns = n;
	if (chap)
		t.chap = *chap;
	t.allow = allow;
	t.n_allow = n_allow;
	cr_assert_eq(iscsi_server_add_target(srv, &t), 0, "add target %s", iqn);
}

static void log_stderr(void *arg, const char *msg)
{
	(void)arg;
	fprintf(stderr, "%s\n", msg);
}

void th_start(const struct th_options *opt)
{
	struct th_options o = {0};
	if (opt)
		o = *opt;
	n_drives = o.drives ? o.drives : 2;
	cr_assert_leq(n_drives, TH_MAX_DRIVES);

	tmpdir_make(root, sizeof(root), "iscsi");
	for (int i = 0; i < n_drives; i++)
		make_drive(i);

	struct iscsi_server_config cfg;
	iscsi_server_config_defaults(&cfg);
	snprintf(cfg.listen, sizeof(cfg.listen), "127.0.0.1:0");
	cfg.nop_interval_s = o.nop_interval_s;
	cfg.nop_timeout_s = o.nop_timeout_s;
	if (o.max_recv_data_segment)
		cfg.max_recv_data_segment = o.max_recv_data_segment;
	if (o.first_burst)
		cfg.first_burst = o.first_burst;
	if (o.max_burst)
		cfg.max_burst = o.max_burst;
	if (getenv("TH_DEBUG"))
		cfg.log = log_stderr;
	cr_assert_eq(iscsi_server_create(&cfg, &srv), 0);

	struct iscsi_lun luns[TH_MAX_DRIVES];
	for (int i = 0; i < n_drives; i++)
		luns[i] = (struct iscsi_lun){.lun = (uint64_t)i, .dev = &drives[i]};
	add_target(TH_LIB, luns, (size_t)n_drives, NULL, NULL, 0);
	for (int i = 0; i < n_drives; i++) {
		struct iscsi_lun one = {.lun = 0, .dev = &drives[i]};
		snprintf(drive_iqn[i], sizeof(drive_iqn[i]), TH_DRIVE_FMT, i);
		add_target(drive_iqn[i], &one, 1, NULL, NULL, 0);
	}
	struct iscsi_chap chap;
	memset(&chap, 0, sizeof(chap));
	snprintf(chap.user, sizeof(chap.user), TH_USER);
	snprintf(chap.secret, sizeof(chap.secret), TH_SECRET);
	snprintf(chap.mutual_user, sizeof(chap.mutual_user), TH_MUTUAL_USER);
	snprintf(chap.mutual_secret, sizeof(chap.mutual_secret), TH_MUTUAL_SECRET);
	add_target(TH_CHAP, luns, 1, &chap, NULL, 0);
	static const char *const allow[] = {TH_INITIATOR_OK};
	add_target(TH_ACL, luns, 1, NULL, allow, 1);

	cr_assert_eq(iscsi_server_start(srv), 0);
	cr_assert_neq(iscsi_server_port(srv), 0);
	snprintf(portal, sizeof(portal), "127.0.0.1:%u", iscsi_server_port(srv));
}

void th_stop(void)
{
	if (srv) {
		iscsi_server_destroy(srv);
		srv = NULL;
	}
	for (int i = 0; i < n_drives; i++)
		ssc_drive_destroy(&drives[i]);
	n_drives = 0;
	if (root[0])
		tmpdir_remove(root);
	root[0] = '\0';
}

struct iscsi_server *th_server(void)
{
	return srv;
}

uint16_t th_port(void)
{
	return iscsi_server_port(srv);
}

const char *th_portal(void)
{
	return portal;
}

const char *th_drive_iqn(int i)
{
	return drive_iqn[i];
}

struct iscsi_context *th_context(const char *initiator, const char *target)
{
	struct iscsi_context *iscsi = iscsi_create_context(initiator);
	cr_assert_not_null(iscsi);
	iscsi_set_noautoreconnect(iscsi, 1);
	iscsi_set_timeout(iscsi, 20);
	if (target) {
		iscsi_set_targetname(iscsi, target);
		iscsi_set_session_type(iscsi, ISCSI_SESSION_NORMAL);
	} else {
		iscsi_set_session_type(iscsi, ISCSI_SESSION_DISCOVERY);
	}
	return iscsi;
}

struct iscsi_context *th_login(const char *target)
{
	struct iscsi_context *iscsi = th_context(TH_INITIATOR, target);
	cr_assert_eq(iscsi_connect_sync(iscsi, portal), 0, "connect: %s", iscsi_get_error(iscsi));
	cr_assert_eq(iscsi_login_sync(iscsi), 0, "login: %s", iscsi_get_error(iscsi));
	return iscsi;
}

void th_logout(struct iscsi_context *iscsi)
{
	cr_expect_eq(iscsi_logout_sync(iscsi), 0, "logout: %s", iscsi_get_error(iscsi));
	iscsi_destroy_context(iscsi);
}

struct scsi_task *th_cmd(struct iscsi_context *iscsi, int lun, const uint8_t *cdb, int cdb_len,
			 int dir, int xfer, const void *out, size_t out_len)
{
	struct scsi_task *task = scsi_create_task(cdb_len, (unsigned char *)cdb, dir, xfer);
	cr_assert_not_null(task);
	struct iscsi_data d = {.size = out_len, .data = (unsigned char *)out};
	struct scsi_task *r = iscsi_scsi_command_sync(iscsi, lun, task, out ? &d : NULL);
	if (!r) {
		scsi_free_scsi_task(task);
		return NULL;
	}
	return r;
}

int th_status(struct scsi_task *task)
{
	if (!task)
		return -1;
	int s = task->status;
	scsi_free_scsi_task(task);
	return s;
}

void th_tur_clear(struct iscsi_context *iscsi, int lun)
{
	static const uint8_t tur[6] = {0x00};
	for (int i = 0; i < 8; i++) {
		struct scsi_task *t = th_cmd(iscsi, lun, tur, 6, SCSI_XFER_NONE, 0, NULL, 0);
		cr_assert_not_null(t, "TUR: %s", iscsi_get_error(iscsi));
		bool ua = t->status == SCSI_STATUS_CHECK_CONDITION &&
			  t->sense.key == SCSI_SENSE_UNIT_ATTENTION;
		int st = th_status(t);
		if (st == SCSI_STATUS_GOOD)
			return;
		cr_assert(ua, "TUR status %d", st);
	}
	cr_assert_fail("unit attentions never cleared");
}

static void expect_good(struct scsi_task *t, const char *what, struct iscsi_context *iscsi)
{
	cr_assert_not_null(t, "%s: %s", what, iscsi_get_error(iscsi));
	cr_assert_eq(t->status, SCSI_STATUS_GOOD, "%s: status %d sense %x/%x", what, t->status,
		     t->sense.key, t->sense.ascq);
}

void th_write6(struct iscsi_context *iscsi, int lun, const void *buf, uint32_t len)
{
	uint8_t cdb[6] = {0x0a, 0};
	put_be24(cdb + 2, len);
	struct scsi_task *t = th_cmd(iscsi, lun, cdb, 6, SCSI_XFER_WRITE, (int)len, buf, len);
	expect_good(t, "WRITE(6)", iscsi);
	scsi_free_scsi_task(t);
}

void th_read6(struct iscsi_context *iscsi, int lun, void *buf, uint32_t len)
{
	uint8_t cdb[6] = {0x08, 0};
	put_be24(cdb + 2, len);
	struct scsi_task *t = th_cmd(iscsi, lun, cdb, 6, SCSI_XFER_READ, (int)len, NULL, 0);
	expect_good(t, "READ(6)", iscsi);
	cr_assert_eq(t->datain.size, (int)len, "READ(6) returned %d bytes", t->datain.size);
	memcpy(buf, t->datain.data, len);
	scsi_free_scsi_task(t);
}

void th_filemarks(struct iscsi_context *iscsi, int lun, uint32_t n)
{
	uint8_t cdb[6] = {0x10, 0};
	put_be24(cdb + 2, n);
	struct scsi_task *t = th_cmd(iscsi, lun, cdb, 6, SCSI_XFER_NONE, 0, NULL, 0);
	expect_good(t, "WRITE FILEMARKS", iscsi);
	scsi_free_scsi_task(t);
}

void th_rewind(struct iscsi_context *iscsi, int lun)
{
	uint8_t cdb[6] = {0x01, 0};
	struct scsi_task *t = th_cmd(iscsi, lun, cdb, 6, SCSI_XFER_NONE, 0, NULL, 0);
	expect_good(t, "REWIND", iscsi);
	scsi_free_scsi_task(t);
}

void th_space(struct iscsi_context *iscsi, int lun, int code, int32_t count)
{
	uint8_t cdb[6] = {0x11, (uint8_t)code};
	put_be24(cdb + 2, (uint32_t)count & 0xffffff);
	struct scsi_task *t = th_cmd(iscsi, lun, cdb, 6, SCSI_XFER_NONE, 0, NULL, 0);
	expect_good(t, "SPACE", iscsi);
	scsi_free_scsi_task(t);
}

void th_locate(struct iscsi_context *iscsi, int lun, uint32_t obj)
{
	uint8_t cdb[10] = {0x2b, 0};
	put_be32(cdb + 3, obj);
	struct scsi_task *t = th_cmd(iscsi, lun, cdb, 10, SCSI_XFER_NONE, 0, NULL, 0);
	expect_good(t, "LOCATE(10)", iscsi);
	scsi_free_scsi_task(t);
}

uint32_t th_read_position(struct iscsi_context *iscsi, int lun)
{
	uint8_t cdb[10] = {0x34, 0};
	struct scsi_task *t = th_cmd(iscsi, lun, cdb, 10, SCSI_XFER_READ, 20, NULL, 0);
	expect_good(t, "READ POSITION", iscsi);
	cr_assert_eq(t->datain.size, 20);
	uint32_t pos = get_be32(t->datain.data + 4);
	scsi_free_scsi_task(t);
	return pos;
}

void th_pattern(void *buf, size_t len, uint32_t seed)
{
	uint8_t *p = buf;
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)x;
	}
}

bool th_service_until(struct iscsi_context *iscsi, const volatile int *done, int timeout_ms)
{
	int waited = 0;
	while (!done || !*done) {
		struct pollfd pfd = {.fd = iscsi_get_fd(iscsi),
				     .events = (short)iscsi_which_events(iscsi)};
		int r = poll(&pfd, 1, 50);
		if (r < 0)
			return false;
		if (iscsi_service(iscsi, r ? pfd.revents : 0) < 0)
			return false;
		waited += 50;
		if (waited >= timeout_ms)
			return done == NULL;
	}
	return true;
}

struct tmf_state {
	volatile int done;
	int status;
	uint32_t response;
};

static void tmf_cb(struct iscsi_context *iscsi, int status, void *data, void *priv)
{
	(void)iscsi;
	struct tmf_state *s = priv;
	s->status = status;
	if (data)
		s->response = *(uint32_t *)data;
	s->done = 1;
}

uint32_t th_tmf(struct iscsi_context *iscsi, int lun, enum iscsi_task_mgmt_funcs f,
		uint32_t ref_itt, uint32_t ref_cmdsn)
{
	struct tmf_state s = {0};
	cr_assert_eq(iscsi_task_mgmt_async(iscsi, lun, f, ref_itt, ref_cmdsn, tmf_cb, &s), 0);
	cr_assert(th_service_until(iscsi, &s.done, 10000), "no TMF response");
	cr_assert_eq(s.status, SCSI_STATUS_GOOD, "TMF status %d", s.status);
	return s.response;
}

enum { TH_BIG_RECORD = 1 << 20 };

void th_records_write(struct iscsi_context *iscsi, int lun, const struct th_records *r,
		      uint32_t seed, int big)
{
	uint8_t *rec = malloc(TH_BIG_RECORD);
	cr_assert_not_null(rec);
	for (size_t i = 0; i < r->n; i++) {
		cr_assert_leq(r->sizes[i], TH_BIG_RECORD);
		th_pattern(rec, r->sizes[i], seed + (uint32_t)i);
		th_write6(iscsi, lun, rec, r->sizes[i]);
	}
	for (int i = 0; i < big; i++) {
		th_pattern(rec, TH_BIG_RECORD, seed + 1000 + (uint32_t)i);
		th_write6(iscsi, lun, rec, TH_BIG_RECORD);
	}
	th_filemarks(iscsi, lun, 1);
	free(rec);
}

void th_records_verify(struct iscsi_context *iscsi, int lun, const struct th_records *r,
		       uint32_t seed, int big)
{
	uint8_t *rec = malloc(TH_BIG_RECORD), *back = malloc(TH_BIG_RECORD);
	cr_assert(rec && back);
	th_rewind(iscsi, lun);
	for (size_t i = 0; i < r->n; i++) {
		th_pattern(rec, r->sizes[i], seed + (uint32_t)i);
		th_read6(iscsi, lun, back, r->sizes[i]);
		cr_assert_arr_eq(rec, back, r->sizes[i], "record %zu", i);
	}
	for (int i = 0; i < big; i++) {
		th_pattern(rec, TH_BIG_RECORD, seed + 1000 + (uint32_t)i);
		th_read6(iscsi, lun, back, TH_BIG_RECORD);
		cr_assert_arr_eq(rec, back, TH_BIG_RECORD, "big record %d", i);
	}
	free(rec);
	free(back);
}
