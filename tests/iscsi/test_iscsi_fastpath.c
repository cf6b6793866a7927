/*
 * test_iscsi_fastpath.c - commands run on the connection's receiving
 * thread (docs/iscsi.md, "Threading model"): a command that blocks there
 * must stop neither the changer nor another drive of the same session,
 * commands queued behind it on its own LUN must keep their order, an
 * ABORT TASK of it must be answered after it, a Logout after a LUN RESET
 * that waited for it must be answered, and a session that ends while it
 * runs must leave vtld serving.
 *
 * The long command is a real one: a WRITE that waits because the cache is
 * full of data not yet in the object store (docs/object-store.md,
 * "Back-pressure"), with the uploader held by its test hook
 * (VTL_UPLOAD_PAUSE_FILE) for as long as the test wants. Nothing here is
 * timed: the write provably waits until the test removes the pause file,
 * and every other command is expected to be answered meanwhile.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <iscsi.h>
#include <scsi-lowlevel.h>

#include "harness.h"
#include "rawpdu.h"
#include "scsi/be.h"
#include "tests/tmpdir.h"
#include "vtld_proc.h"

static struct vtld_proc vtl;
static char scratch[64];
static char pause_file[128];

static void stop(void)
{
	vp_stop(&vtl);
	if (scratch[0]) {
		cr_expect_eq(tmpdir_remove(scratch), 0);
		scratch[0] = 0;
	}
	unsetenv("VTL_SEGMENT_SIZE");
	unsetenv("VTL_UPLOAD_PAUSE_FILE");
}

TestSuite(fastpath, .fini = stop, .timeout = 180);

#define MB 1048576u

/* Small segments and a 12 MiB cache: a few MiB written with the uploader
 * paused fill it, and the next WRITE waits. */
#define HELD_CONFIG                                                                                \
	"[store]\npart_size = 5M\nidle_complete = 1\ncache_limit = 12M\n"                          \
	"link_segments = no\n"

/* Start vtld with the uploader paused, a tape in drives 1 and 2 (LUN 1
 * and 2; the changer is LUN 0), and a session with its unit attentions
 * taken. */
static struct iscsi_context *start_held(void)
{
	tmpdir_make(scratch, sizeof(scratch), "fastpath");
	snprintf(pause_file, sizeof(pause_file), "%s/pause", scratch);
	int fd = open(pause_file, O_CREAT | O_WRONLY, 0600);
	cr_assert_geq(fd, 0);
	close(fd);
	setenv("VTL_SEGMENT_SIZE", "4194304", 1);
	setenv("VTL_UPLOAD_PAUSE_FILE", pause_file, 1);
	vp_start(&vtl, HELD_CONFIG);
	char out[8192];
	vp_ctl_ok(&vtl, "tape create FST001L8 FST002L8", out, sizeof(out));
	vp_ctl_ok(&vtl, "tape move FST001L8 --to drive:1", out, sizeof(out));
	vp_ctl_ok(&vtl, "tape move FST002L8 --to drive:2", out, sizeof(out));
	struct iscsi_context *iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 0);
	th_tur_clear(iscsi, 1);
	th_tur_clear(iscsi, 2);
	return iscsi;
}

/* ---- commands sent without waiting for them ---- */

static int completions; /* order in which answers arrived */

struct pending {
	volatile int done;
	int status;
	int order;
	struct scsi_task *task;
	struct iscsi_data data;
};

static void pending_cb(struct iscsi_context *iscsi, int status, void *data, void *priv)
{
	(void)iscsi;
	(void)data;
	struct pending *p = priv;
	p->status = status;
	p->order = ++completions;
	p->done = 1;
}

static void send_async(struct iscsi_context *iscsi, int lun, const uint8_t *cdb, int cdb_len,
		       int dir, int xfer, void *out, size_t out_len, struct pending *p)
{
	memset(p, 0, sizeof(*p));
	p->task = scsi_create_task(cdb_len, (unsigned char *)cdb, dir, xfer);
	cr_assert_not_null(p->task);
	p->data = (struct iscsi_data){.size = out_len, .data = out};
	cr_assert_eq(
	    iscsi_scsi_command_async(iscsi, lun, p->task, pending_cb, out ? &p->data : NULL, p), 0,
	    "%s", iscsi_get_error(iscsi));
}

static void write6_async(struct iscsi_context *iscsi, int lun, uint8_t *rec, uint32_t len,
			 struct pending *p)
{
	uint8_t cdb[6] = {0x0a, 0x00};
	put_be24(cdb + 2, len);
	send_async(iscsi, lun, cdb, 6, SCSI_XFER_WRITE, (int)len, rec, len, p);
}

/* Write 1 MiB records (pattern seed + i) to lun until one waits for the
 * cache, as `vtlctl status` reports; returns how many were written, the
 * waiting one (still unanswered, in *held) included. */
static uint32_t write_until_held(struct iscsi_context *iscsi, int lun, uint32_t seed, uint8_t *rec,
				 struct pending *held)
{
	char out[16384] = "";
	for (uint32_t i = 0; i < 64; i++) {
		th_pattern(rec, MB, seed + i);
		write6_async(iscsi, lun, rec, MB, held);
		while (!held->done) {
			th_service_until(iscsi, &held->done, 200);
			if (held->done)
				break;
			vp_ctl_ok(&vtl, "--json status", out, sizeof(out));
			if (vp_jint(out, "writes_waiting") > 0)
				return i + 1;
		}
		cr_assert_eq(held->status, SCSI_STATUS_GOOD, "WRITE(6) of record %u", i);
		scsi_free_scsi_task(held->task);
	}
	cr_assert_fail("64 MiB written and no write waited for the cache: %s", out);
	return 0;
}

struct tmf_state {
	volatile int done;
	int order;
	uint32_t response;
};

static void tmf_cb(struct iscsi_context *iscsi, int status, void *data, void *priv)
{
	(void)iscsi;
	struct tmf_state *tmf = priv;
	cr_assert_eq(status, SCSI_STATUS_GOOD, "TMF status %d", status);
	if (data)
		tmf->response = *(uint32_t *)data;
	tmf->order = ++completions;
	tmf->done = 1;
}

/* A session of another initiator (another I_T nexus), so that it is no
 * reinstatement of the first. */
static struct iscsi_context *login_other(void)
{
	struct iscsi_context *iscsi = iscsi_create_context("iqn.2024-01.test.initiator:other");
	cr_assert_not_null(iscsi);
	iscsi_set_noautoreconnect(iscsi, 1);
	iscsi_set_timeout(iscsi, 20);
	iscsi_set_session_type(iscsi, ISCSI_SESSION_NORMAL);
	iscsi_set_targetname(iscsi, vtl.iqn);
	cr_assert_eq(iscsi_connect_sync(iscsi, vtl.portal), 0, "connect: %s",
		     iscsi_get_error(iscsi));
	cr_assert_eq(iscsi_login_sync(iscsi), 0, "login: %s", iscsi_get_error(iscsi));
	return iscsi;
}

static void release_uploads(void)
{
	cr_assert_eq(unlink(pause_file), 0);
}

Test(fastpath, a_write_waiting_for_the_cache_stops_neither_the_changer_nor_another_drive)
{
	struct iscsi_context *iscsi = start_held();
	uint8_t *rec = malloc(MB), *back = malloc(MB);
	cr_assert(rec && back);
	struct pending held;
	uint32_t n = write_until_held(iscsi, 1, 100, rec, &held);

	/* The same session: the changer answers, and drive 2 writes and
	 * reads a record back byte for byte, while drive 1's WRITE waits. */
	th_tur_clear(iscsi, 0);
	uint8_t inq[6] = {0x12, 0, 0, 0, 96, 0};
	struct scsi_task *t = th_cmd(iscsi, 0, inq, 6, SCSI_XFER_READ, 96, NULL, 0);
	cr_assert_not_null(t);
	cr_assert_eq(t->status, SCSI_STATUS_GOOD);
	cr_assert_eq(t->datain.data[0] & 0x1f, 0x08, "the changer is LUN 0");
	scsi_free_scsi_task(t);
	uint8_t *other = malloc(64 * 1024);
	cr_assert_not_null(other);
	th_pattern(other, 64 * 1024, 7);
	th_write6(iscsi, 2, other, 64 * 1024);
	th_filemarks(iscsi, 2, 1);
	th_rewind(iscsi, 2);
	th_read6(iscsi, 2, back, 64 * 1024);
	cr_assert_eq(memcmp(back, other, 64 * 1024), 0, "drive 2 reads back what it wrote");
	free(other);
	cr_assert_not(held.done, "drive 1's WRITE waits while the uploads are paused");

	/* Behind it on its own LUN: a READ POSITION, answered after it; an
	 * ABORT TASK of it finds it running and is answered after it. */
	struct pending rp;
	uint8_t rpos[10] = {0x34, 0};
	send_async(iscsi, 1, rpos, 10, SCSI_XFER_READ, 20, NULL, 0, &rp);
	struct tmf_state tmf = {0};
	cr_assert_eq(iscsi_task_mgmt_abort_task_async(iscsi, held.task, tmf_cb, &tmf), 0);
	/* Drive 2 still answers with both of them outstanding. */
	cr_assert_eq(th_read_position(iscsi, 2), 1u, "after the record read back");
	cr_assert_not(held.done);
	cr_assert_not(rp.done);

	release_uploads();
	cr_assert(th_service_until(iscsi, &held.done, 60000), "the WRITE ends once uploads go on");
	cr_assert(th_service_until(iscsi, &rp.done, 30000));
	cr_assert(th_service_until(iscsi, &tmf.done, 30000));
	cr_assert_eq(held.status, SCSI_STATUS_GOOD, "the WRITE ran to completion");
	cr_assert_eq(tmf.response, 0u, "ABORT TASK: function complete");
	cr_assert_lt(held.order, tmf.order, "the TMF answers after the task it found running");
	cr_assert_lt(held.order, rp.order, "the LUN's commands keep their order");
	cr_assert_eq(rp.status, SCSI_STATUS_GOOD);
	cr_assert_eq(get_be32(rp.task->datain.data + 4), n, "READ POSITION after %u records", n);
	scsi_free_scsi_task(rp.task);
	scsi_free_scsi_task(held.task);

	/* Every record is on the tape, byte for byte. */
	th_filemarks(iscsi, 1, 1);
	th_rewind(iscsi, 1);
	for (uint32_t i = 0; i < n; i++) {
		th_pattern(rec, MB, 100 + i);
		th_read6(iscsi, 1, back, MB);
		cr_assert_eq(memcmp(back, rec, MB), 0, "record %u", i);
	}
	th_logout(iscsi);
	free(rec);
	free(back);
}

/* Nothing queued behind the held WRITE: unless an earlier command of the
 * LUN went to a worker (a hand-over just before it), the LUN has none,
 * and the thread that ran the WRITE answers the ABORT TASK after it. */
Test(fastpath, an_abort_task_of_a_held_write_alone_on_its_lun_is_answered_after_it)
{
	struct iscsi_context *iscsi = start_held();
	uint8_t *rec = malloc(MB), *back = malloc(MB);
	cr_assert(rec && back);
	struct pending held;
	uint32_t n = write_until_held(iscsi, 1, 200, rec, &held);
	struct tmf_state tmf = {0};
	cr_assert_eq(iscsi_task_mgmt_abort_task_async(iscsi, held.task, tmf_cb, &tmf), 0);
	/* The changer answers in between: the TMF was read. */
	th_tur_clear(iscsi, 0);
	cr_assert_not(held.done);
	cr_assert_not(tmf.done, "the TMF waits for the task it found running");

	release_uploads();
	cr_assert(th_service_until(iscsi, &tmf.done, 60000), "no TMF response");
	cr_assert(held.done, "the WRITE's response comes before the TMF's");
	cr_assert_eq(held.status, SCSI_STATUS_GOOD);
	cr_assert_eq(tmf.response, 0u, "ABORT TASK: function complete");
	cr_assert_lt(held.order, tmf.order);
	scsi_free_scsi_task(held.task);
	cr_assert_eq(th_read_position(iscsi, 1), n);
	th_logout(iscsi);
	free(rec);
	free(back);
}

Test(fastpath, a_session_that_drops_while_a_write_waits_leaves_vtld_serving)
{
	struct iscsi_context *iscsi = start_held();
	uint8_t *rec = malloc(MB), *back = malloc(MB);
	cr_assert(rec && back);
	struct pending held;
	uint32_t n = write_until_held(iscsi, 1, 300, rec, &held);

	/* The initiator goes away without a logout while its WRITE waits.
	 * The task is the caller's (scsi_create_task) and libiscsi only
	 * cancels its PDU: freed here, as a real initiator would, or
	 * LeakSanitizer reports it. */
	iscsi_destroy_context(iscsi);
	scsi_free_scsi_task(held.task);

	/* Another session reaches the changer and drive 2 at once. */
	struct iscsi_context *second = login_other();
	th_tur_clear(second, 0);
	th_tur_clear(second, 2);
	th_pattern(rec, 4096, 9);
	th_write6(second, 2, rec, 4096);

	/* The waiting WRITE ends when uploads go on (its answer has nobody
	 * to go to); drive 1 then holds every record up to it. */
	release_uploads();
	th_tur_clear(second, 1);
	th_rewind(second, 1);
	for (uint32_t i = 0; i < n; i++) {
		th_pattern(rec, MB, 300 + i);
		th_read6(second, 1, back, MB);
		cr_assert_eq(memcmp(back, rec, MB), 0, "record %u", i);
	}
	th_logout(second);
	cr_assert(vp_alive(&vtl));
	free(rec);
	free(back);
}

/* On the raw session, WRITE(6)s of 4 KiB with their data immediate (ready
 * on arrival, so run on the fast path) to LUN 1 until one waits for the
 * cache behind drive 2's, as `vtlctl status` counts; returns its ITT. */
static uint32_t raw_write_until_held(struct raw *r, uint8_t *rec)
{
	char out[16384] = "";
	uint8_t w6[6] = {0x0a, 0};
	put_be24(w6 + 2, 4096);
	for (uint32_t i = 0; i < 1024; i++) {
		th_pattern(rec, 4096, 500 + i);
		uint32_t itt = raw_cmd(r, 1, w6, 6, 0x80 | 0x20, 4096, rec, 4096, false);
		for (;;) {
			uint8_t bhs[48];
			if (raw_recv(r, bhs, NULL, 0, 200) >= 0) {
				cr_assert(bhs[0] == RAW_SCSI_RSP && get_be32(bhs + 16) == itt &&
					      bhs[3] == 0,
					  "WRITE %u: PDU %02x status %u", i, bhs[0], bhs[3]);
				break;
			}
			vp_ctl_ok(&vtl, "--json status", out, sizeof(out));
			if (vp_jint(out, "writes_waiting") >= 2)
				return itt;
		}
	}
	cr_assert_fail("4 MiB more written and no raw WRITE waited for the cache: %s", out);
	return 0;
}

/*
 * A Logout after a LUN RESET that waited for a command running on the fast
 * path, with the TMF answered by the LUN's worker (iscsi/conn.c,
 * slot_tmf_done): the Logout waits in quiesce() for the LUN to be idle and
 * must be woken when the TMF response goes out; it was not, and vtld held
 * the connection for ever (found by fuzz_iscsi,
 * tests/fuzz/corpus/iscsi/tmf-reset-then-logout). Made to happen on a raw
 * connection, in this order, with nothing timed:
 *   1. another session fills the cache (uploads paused), so that a WRITE
 *      waits for it;
 *   2. WRITE(6)s with their data immediate, ready on arrival, run on the
 *      receiving thread of LUN 1 (the fast path) until one waits; `vtlctl
 *      status` counts it;
 *   3. a TEST UNIT READY queued behind it starts LUN 1's worker;
 *   4. LUN RESET of LUN 1 finds the WRITE running and waits for it;
 *   5. Logout (close the session) waits for the LUN;
 *   6. the uploads go on: the WRITE completes on its thread, the worker
 *      answers the LUN RESET, and the Logout Response must follow, then the
 *      target closes the connection.
 */
static void logout_after_lun_reset_round(struct iscsi_context *iscsi, uint8_t *rec)
{
	struct pending held;
	write_until_held(iscsi, 2, 400, rec, &held);

	struct raw r;
	raw_login(&r, vtl.port, "iqn.2024-01.test.initiator:raw", vtl.iqn, NULL);
	raw_tur_clear(&r, 1);
	uint32_t write_itt = raw_write_until_held(&r, rec);
	static const uint8_t tur[6] = {0};
	raw_cmd(&r, 1, tur, 6, 0x80, 0, NULL, 0, false);

	/* LUN RESET (RFC 7143 11.5.1, function 5), immediate. */
	uint8_t tmf[48] = {RAW_TMF | RAW_IMMEDIATE, 0x80 | 5};
	tmf[9] = 1;
	uint32_t tmf_itt = ++r.itt;
	put_be32(tmf + 16, tmf_itt);
	put_be32(tmf + 20, 0xffffffff);
	put_be32(tmf + 24, r.cmdsn);
	put_be32(tmf + 28, r.statsn + 1);
	put_be32(tmf + 32, r.cmdsn);
	raw_send(&r, tmf, NULL, 0);
	/* Logout, close the session (11.14), immediate. */
	uint8_t lo[48] = {0x06 | RAW_IMMEDIATE, 0x80};
	uint32_t logout_itt = ++r.itt;
	put_be32(lo + 16, logout_itt);
	put_be32(lo + 24, r.cmdsn);
	put_be32(lo + 28, r.statsn + 1);
	raw_send(&r, lo, NULL, 0);

	release_uploads();
	int order = 0, write_at = 0, tmf_at = 0, logout_at = 0;
	while (!logout_at) {
		uint8_t bhs[48];
		int n = raw_recv(&r, bhs, NULL, 0, 60000);
		cr_assert_geq(n, 0,
			      "no Logout Response within 60 s of the uploads going on (WRITE "
			      "answered: %s, LUN RESET answered: %s)",
			      write_at ? "yes" : "no", tmf_at ? "yes" : "no");
		uint8_t op = bhs[0] & 0x3f;
		uint32_t itt = get_be32(bhs + 16);
		++order;
		if (op == RAW_SCSI_RSP && itt == write_itt) {
			cr_assert_eq(bhs[3], 0, "the WRITE's status");
			write_at = order;
		} else if (op == RAW_TMF_RSP && itt == tmf_itt) {
			cr_assert_eq(bhs[2], 0, "LUN RESET: function complete");
			tmf_at = order;
		} else if (op == 0x26 && itt == logout_itt) {
			cr_assert_eq(bhs[2], 0, "Logout: closed successfully");
			logout_at = order;
		} else {
			cr_assert_fail("unexpected PDU %02x for ITT %08x", op, itt);
		}
	}
	cr_assert(write_at && tmf_at, "the WRITE and the LUN RESET are answered first");
	cr_assert_lt(write_at, tmf_at, "the LUN RESET answers after the task it waited for");
	cr_assert(raw_closed_by_target(r.fd, 30000), "the target closes after the Logout");
	close(r.fd);

	cr_assert(th_service_until(iscsi, &held.done, 60000), "drive 2's WRITE ends");
	cr_assert_eq(held.status, SCSI_STATUS_GOOD);
	scsi_free_scsi_task(held.task);
}

/* The Logout's wait and the worker's answer race for the connection's
 * lock once the WRITE completes; without the wake-up the Logout is lost
 * when it looks first, which it did in 4 runs of 5 here: three rounds make
 * a miss unlikely (about 1 in 100). */
Test(fastpath, a_logout_after_a_lun_reset_that_waited_for_a_held_write_is_answered)
{
	struct iscsi_context *iscsi = start_held();
	uint8_t *rec = malloc(MB);
	cr_assert_not_null(rec);
	for (int round = 0; round < 3; round++) {
		if (round) {
			/* All but 2 MiB at most in the store, then the uploads
			 * paused again, so that the next round fills the cache
			 * from (nearly) empty. */
			char out[16384];
			int i = 0;
			do {
				usleep(100 * 1000);
				vp_ctl_ok(&vtl, "--json status", out, sizeof(out));
			} while (vp_jint(out, "unsent_bytes") > 2LL * MB && ++i < 600);
			cr_assert_leq(vp_jint(out, "unsent_bytes"), 2LL * MB, "%s", out);
			int fd = open(pause_file, O_CREAT | O_WRONLY, 0600);
			cr_assert_geq(fd, 0);
			close(fd);
		}
		logout_after_lun_reset_round(iscsi, rec);
	}
	th_logout(iscsi);
	free(rec);
}
