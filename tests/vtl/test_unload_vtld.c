/*
 * test_unload_vtld.c - taking a cartridge out of a drive never drops what
 * the host was told is written, through the real vtld (tests/iscsi/
 * vtld_proc.c), libiscsi and real write failures: vtld's file-size limit
 * (RLIMIT_FSIZE, set with prlimit) makes the kernel fail its writes with
 * EFBIG, as a full file system would.
 *   - A block of a cartridge encrypted at rest written behind a WRITE's GOOD
 *     (buffered mode, SSC-4 8.3.1) that fails: `vtlctl drive unload` refuses,
 *     naming the drive, the tape, the block and the fix, until the writer
 *     has had the deferred error (SPC-4 4.5.5); `--force` discards it on the
 *     record (log and event name the block), and the next cartridge in the
 *     drive does not inherit it.
 *   - A flush that fails at unload (the manifest cannot be written): the
 *     tape stays in its drive, where the catalog has it, through SMC MOVE
 *     MEDIUM and `vtlctl drive unload`; a retry once the cause is gone
 *     unloads it, and after a restart every record reads back.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <iscsi.h>
#include <scsi-lowlevel.h>

#include "scsi/be.h"
#include "tests/iscsi/harness.h"
#include "tests/iscsi/vtld_proc.h"
#include "tests/tmpdir.h"

static struct vtld_proc vtl;
static char keys[256], store[256];

static void setup(void)
{
	tmpdir_make(keys, sizeof(keys), "unload-keys");
	tmpdir_make(store, sizeof(store), "unload-store");
}

static void stop(void)
{
	vp_stop(&vtl);
	tmpdir_remove(keys);
	tmpdir_remove(store);
}

TestSuite(unload_vtld, .init = setup, .fini = stop, .timeout = 240);

enum { DRIVE1 = 500, SLOT1 = 1000 }; /* the STK L700's element addresses */
#define REC 65536u

/* vtld.conf: the store outside the data directory; with at_rest, the
 * library's encryption at rest under a master key in KEYS/k1. */
static void config(char *buf, size_t cap, bool at_rest)
{
	int n = snprintf(buf, cap,
			 "[store]\ntype = local\npath = %s\npart_size = 5M\nidle_complete = 1\n",
			 store);
	if (at_rest) {
		char path[PATH_MAX];
		uint8_t k[32];
		for (int i = 0; i < 32; i++)
			k[i] = (uint8_t)(0x3c ^ (i * 7));
		snprintf(path, sizeof(path), "%s/k1", keys);
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		cr_assert_geq(fd, 0);
		cr_assert_eq(write(fd, k, 32), 32);
		close(fd);
		snprintf(buf + n, cap - (size_t)n,
			 "[encryption]\nmode = library\nmaster_key_file = %s\n", path);
	}
}

/* vtld's files may not grow past `bytes` (RLIM_INFINITY: no limit again). */
static void file_limit(rlim_t bytes)
{
	struct rlimit rl;
	cr_assert_eq(prlimit(vtl.pid, RLIMIT_FSIZE, NULL, &rl), 0);
	rl.rlim_cur = bytes == RLIM_INFINITY ? rl.rlim_max : bytes;
	cr_assert_eq(prlimit(vtl.pid, RLIMIT_FSIZE, &rl, NULL), 0);
}

static off_t seg_size(const char *bc)
{
	char path[PATH_MAX + 64];
	struct stat sb;
	snprintf(path, sizeof(path), "%s/tapes/%s/seg-0000000000000001.dat", vtl.dir, bc);
	cr_assert_eq(stat(path, &sb), 0, "%s", path);
	return sb.st_size;
}

static void write_rec(struct iscsi_context *iscsi, uint32_t seed)
{
	static uint8_t buf[REC];
	th_pattern(buf, REC, seed);
	th_write6(iscsi, 1, buf, REC);
}

/* From BOT: records seed0.. seed0+n-1, a filemark if `fm`, then EOD. */
static void read_back(struct iscsi_context *iscsi, uint32_t seed0, uint32_t n, bool fm)
{
	static uint8_t buf[REC], want[REC];
	th_rewind(iscsi, 1);
	for (uint32_t k = 0; k < n; k++) {
		th_pattern(want, REC, seed0 + k);
		th_read6(iscsi, 1, buf, REC);
		cr_assert_eq(memcmp(buf, want, REC), 0, "record %u differs", k);
	}
	uint8_t cdb[6] = {0x08, 0, (REC >> 16) & 0xff, (REC >> 8) & 0xff, REC & 0xff, 0};
	struct scsi_task *t = th_cmd(iscsi, 1, cdb, 6, SCSI_XFER_READ, REC, NULL, 0);
	cr_assert_not_null(t);
	cr_assert_eq(t->status, SCSI_STATUS_CHECK_CONDITION, "a record past the last one");
	if (fm) {
		cr_assert(t->sense.key == SCSI_SENSE_NO_SENSE && t->sense.ascq == 0x0001,
			  "the filemark: key %d ascq %04x", t->sense.key, t->sense.ascq);
		scsi_free_scsi_task(t);
		t = th_cmd(iscsi, 1, cdb, 6, SCSI_XFER_READ, REC, NULL, 0);
		cr_assert_not_null(t);
	}
	cr_assert(t->sense.key == SCSI_SENSE_BLANK_CHECK && t->sense.ascq == 0x0005,
		  "end of data: key %d ascq %04x", t->sense.key, t->sense.ascq);
	scsi_free_scsi_task(t);
}

static struct scsi_task *tur(struct iscsi_context *iscsi, int lun)
{
	static const uint8_t cdb[6] = {0};
	struct scsi_task *t = th_cmd(iscsi, lun, cdb, 6, SCSI_XFER_NONE, 0, NULL, 0);
	cr_assert_not_null(t, "TUR: %s", iscsi_get_error(iscsi));
	return t;
}

static struct scsi_task *move_medium(struct iscsi_context *iscsi, uint16_t src, uint16_t dst)
{
	uint8_t cdb[12] = {0xa5, 0};
	put_be16(cdb + 4, src);
	put_be16(cdb + 6, dst);
	struct scsi_task *t = th_cmd(iscsi, 0, cdb, 12, SCSI_XFER_NONE, 0, NULL, 0);
	cr_assert_not_null(t, "MOVE MEDIUM: %s", iscsi_get_error(iscsi));
	return t;
}

static void assert_in_drive(const char *bc, struct iscsi_context *iscsi)
{
	char out[8192], cmd[64];
	snprintf(cmd, sizeof(cmd), "tape show %s", bc);
	vp_ctl_ok(&vtl, cmd, out, sizeof(out));
	cr_assert(strstr(out, "drive:1"), "the catalog has %s elsewhere: %s", bc, out);
	/* and the drive holds it: ready, not NOT READY, MEDIUM NOT PRESENT */
	struct scsi_task *t = tur(iscsi, 1);
	cr_assert_eq(t->status, SCSI_STATUS_GOOD,
		     "drive 1 after the failed unload: key %d ascq %04x", t->sense.key,
		     t->sense.ascq);
	scsi_free_scsi_task(t);
}

/* Load bc into drive 1 and write two records and a filemark (flushed),
 * then, under a limit that fails its write behind, a third record, which
 * gets GOOD; the operator's unload meets the failure and refuses. */
static struct iscsi_context *untold_write_error(const char *bc)
{
	char out[8192], cmd[128];
	snprintf(cmd, sizeof(cmd), "tape create %s", bc);
	vp_ctl_ok(&vtl, cmd, out, sizeof(out));
	snprintf(cmd, sizeof(cmd), "tape move %s --to drive:1", bc);
	vp_ctl_ok(&vtl, cmd, out, sizeof(out));
	struct iscsi_context *a = vp_login(&vtl, false);
	th_tur_clear(a, 1);
	write_rec(a, 10);
	write_rec(a, 11);
	th_filemarks(a, 1, 1);
	file_limit((rlim_t)seg_size(bc));
	write_rec(a, 12); /* GOOD: its block waits to be written behind */
	cr_assert_neq(vp_ctl(&vtl, out, sizeof(out), "drive unload 1"), 0, "%s", out);
	file_limit(RLIM_INFINITY);
	char want[160];
	snprintf(want, sizeof(want),
		 "drive 1: block 3 of tape %s was acknowledged to the host but "
		 "could not be written (File too large)",
		 bc);
	cr_assert(strstr(out, want) && strstr(out, "vtlctl drive unload 1 --force"), "%s", out);
	/* The cause gone, the error still waits for the writer. */
	cr_assert_neq(vp_ctl(&vtl, out, sizeof(out), "drive unload 1"), 0, "%s", out);
	cr_assert(strstr(out, want), "%s", out);
	snprintf(cmd, sizeof(cmd), "tape show %s", bc);
	vp_ctl_ok(&vtl, cmd, out, sizeof(out));
	cr_assert(strstr(out, "drive:1"), "%s", out);
	return a;
}

Test(unload_vtld, an_untold_write_error_keeps_the_tape_until_its_writer_learns_it)
{
	char out[8192], conf[2 * PATH_MAX];
	config(conf, sizeof(conf), true);
	vp_start(&vtl, conf);
	struct iscsi_context *a = untold_write_error("UN0001L8");

	/* The changer's unload refuses too: MEDIUM LOAD OR EJECT FAILED. */
	struct iscsi_context *ch = vp_login(&vtl, false);
	th_tur_clear(ch, 0);
	struct scsi_task *t = move_medium(ch, DRIVE1, SLOT1);
	cr_assert(t->status == SCSI_STATUS_CHECK_CONDITION && t->sense.ascq == 0x5300,
		  "MOVE MEDIUM: status %d key %d ascq %04x", t->status, t->sense.key,
		  t->sense.ascq);
	scsi_free_scsi_task(t);

	/* The writer's next command gets the deferred error (SPC-4 4.5.5:
	 * response code 71h), MEDIUM ERROR, WRITE ERROR. */
	t = tur(a, 1);
	cr_assert_eq(t->status, SCSI_STATUS_CHECK_CONDITION);
	cr_assert(t->sense.error_type == 0x71 && t->sense.key == SCSI_SENSE_MEDIUM_ERROR &&
		      t->sense.ascq == 0x0c00,
		  "response %02x key %d ascq %04x", t->sense.error_type, t->sense.key,
		  t->sense.ascq);
	scsi_free_scsi_task(t);
	vp_ctl_ok(&vtl, "drive unload 1", out, sizeof(out));
	vp_ctl_ok(&vtl, "tape move UN0001L8 --to drive:1", out, sizeof(out));
	th_tur_clear(a, 1);
	read_back(a, 10, 2, true);
	th_logout(a);
	th_logout(ch);
}

Test(unload_vtld, force_discards_the_error_on_the_record_and_the_next_tape_starts_clean)
{
	char out[8192], conf[2 * PATH_MAX], logbuf[65536];
	config(conf, sizeof(conf), true);
	vp_start(&vtl, conf);
	struct iscsi_context *a = untold_write_error("UN0002L8");

	vp_ctl_ok(&vtl, "drive unload 1 --force", out, sizeof(out));
	FILE *f = fopen(vtl.log, "r");
	cr_assert_not_null(f);
	logbuf[fread(logbuf, 1, sizeof(logbuf) - 1, f)] = 0;
	fclose(f);
	cr_assert(strstr(logbuf, "drive 1 unloaded by operator with --force: block 3 of tape "
				 "UN0002L8, acknowledged to the host, was not written (File too "
				 "large)"),
		  "%s", logbuf);
	vp_ctl_ok(&vtl, "events --tape UN0002L8", out, sizeof(out));
	cr_assert(strstr(out, "drive unloaded by operator --force; block 3 lost (File too large)"),
		  "%s", out);
	vp_ctl_ok(&vtl, "tape show UN0002L8", out, sizeof(out));
	cr_assert(strstr(out, "slot:1"), "%s", out);

	/* The next cartridge: the writer sees it arrive (a unit attention),
	 * then GOOD, and not the error about the one gone. */
	vp_ctl_ok(&vtl, "tape create UN0003L8", out, sizeof(out));
	vp_ctl_ok(&vtl, "tape move UN0003L8 --to drive:1", out, sizeof(out));
	th_tur_clear(a, 1);
	write_rec(a, 20);
	th_filemarks(a, 1, 1);
	read_back(a, 20, 1, true);
	vp_ctl_ok(&vtl, "drive unload 1", out, sizeof(out));

	/* The forced tape ends before the block lost. */
	vp_ctl_ok(&vtl, "tape move UN0002L8 --to drive:1", out, sizeof(out));
	th_tur_clear(a, 1);
	read_back(a, 10, 2, true);
	th_logout(a);
}

/* Small blocks of a clear cartridge are gathered and written together
 * (tape_write_buffered): when that write fails they are lost together, and
 * the operator's unload names them all. */
Test(unload_vtld, small_blocks_lost_together_are_all_named_by_the_unload)
{
	char out[8192], conf[2 * PATH_MAX], logbuf[65536];
	static uint8_t small[4096];
	config(conf, sizeof(conf), false);
	vp_start(&vtl, conf);
	vp_ctl_ok(&vtl, "tape create UN0005L8", out, sizeof(out));
	vp_ctl_ok(&vtl, "tape move UN0005L8 --to drive:1", out, sizeof(out));
	struct iscsi_context *a = vp_login(&vtl, false);
	th_tur_clear(a, 1);
	write_rec(a, 10);
	write_rec(a, 11);
	th_filemarks(a, 1, 1);
	file_limit((rlim_t)seg_size("UN0005L8"));
	for (uint32_t k = 0; k < 3; k++) {
		th_pattern(small, sizeof(small), 40 + k);
		th_write6(a, 1, small, sizeof(small)); /* GOOD: gathered */
	}
	cr_assert_neq(vp_ctl(&vtl, out, sizeof(out), "drive unload 1"), 0, "%s", out);
	file_limit(RLIM_INFINITY);
	cr_assert(strstr(out, "drive 1: blocks 3 to 5 of tape UN0005L8 were acknowledged to the "
			      "host but could not be written (File too large)") &&
		      strstr(out, "lose them with vtlctl drive unload 1 --force"),
		  "%s", out);
	vp_ctl_ok(&vtl, "drive unload 1 --force", out, sizeof(out));
	FILE *f = fopen(vtl.log, "r");
	cr_assert_not_null(f);
	logbuf[fread(logbuf, 1, sizeof(logbuf) - 1, f)] = 0;
	fclose(f);
	cr_assert(strstr(logbuf, "drive 1 unloaded by operator with --force: blocks 3 to 5 of tape "
				 "UN0005L8, acknowledged to the host, were not written (File too "
				 "large)"),
		  "%s", logbuf);
	vp_ctl_ok(&vtl, "events --tape UN0005L8", out, sizeof(out));
	cr_assert(strstr(out, "drive unloaded by operator --force; blocks 3 to 5 lost (File too "
			      "large)"),
		  "%s", out);
	/* The tape ends before them. */
	vp_ctl_ok(&vtl, "tape move UN0005L8 --to drive:1", out, sizeof(out));
	th_tur_clear(a, 1);
	read_back(a, 10, 2, true);
	th_logout(a);
}

/* Small blocks gathered in memory (tape_write_buffered) reach the cache
 * file within a second or so when the host sends nothing more, as a
 * drive's buffer is forced to the medium after its write delay
 * (vtl/drive_worker.c): vtld killed after that loses none of them. */
Test(unload_vtld, small_blocks_gathered_reach_the_medium_when_the_host_goes_quiet)
{
	char out[8192], conf[2 * PATH_MAX];
	static uint8_t small[4096], got[4096];
	config(conf, sizeof(conf), false);
	vp_start(&vtl, conf);
	vp_ctl_ok(&vtl, "tape create UN0006L8", out, sizeof(out));
	vp_ctl_ok(&vtl, "tape move UN0006L8 --to drive:1", out, sizeof(out));
	struct iscsi_context *a = vp_login(&vtl, false);
	th_tur_clear(a, 1);
	off_t before = seg_size("UN0006L8");
	for (uint32_t k = 0; k < 3; k++) {
		th_pattern(small, sizeof(small), 60 + k);
		th_write6(a, 1, small, sizeof(small)); /* GOOD: gathered */
	}
	int i;
	for (i = 0; i < 200 && seg_size("UN0006L8") == before; i++)
		usleep(50000);
	cr_assert_lt(i, 200, "the gathered blocks never reached the cache file");
	vp_kill(&vtl);
	iscsi_destroy_context(a);

	vp_restart(&vtl);
	a = vp_login(&vtl, false);
	th_tur_clear(a, 1);
	th_rewind(a, 1);
	for (uint32_t k = 0; k < 3; k++) {
		th_pattern(small, sizeof(small), 60 + k);
		th_read6(a, 1, got, sizeof(got));
		cr_assert_eq(memcmp(got, small, sizeof(got)), 0, "block %u differs", k);
	}
	uint8_t cdb[6] = {0x08, 0, 0, 0x10, 0, 0};
	struct scsi_task *t = th_cmd(a, 1, cdb, 6, SCSI_XFER_READ, sizeof(got), NULL, 0);
	cr_assert(t->status == SCSI_STATUS_CHECK_CONDITION &&
		      t->sense.key == SCSI_SENSE_BLANK_CHECK,
		  "after the three blocks: status %d key %d ascq %04x", t->status, t->sense.key,
		  t->sense.ascq);
	scsi_free_scsi_task(t);
	th_logout(a);
}

/* A clear cartridge, written in buffered mode without a filemark: the
 * unload's flush writes the manifest, which the limit fails. */
Test(unload_vtld, a_flush_that_fails_at_unload_keeps_the_tape_in_its_drive_until_a_retry)
{
	char out[8192], conf[2 * PATH_MAX];
	config(conf, sizeof(conf), false);
	vp_start(&vtl, conf);
	vp_ctl_ok(&vtl, "tape create UN0004L8", out, sizeof(out));
	vp_ctl_ok(&vtl, "tape move UN0004L8 --to drive:1", out, sizeof(out));
	struct iscsi_context *a = vp_login(&vtl, false);
	th_tur_clear(a, 1);
	th_tur_clear(a, 0);
	for (uint32_t k = 0; k < 3; k++)
		write_rec(a, 30 + k);

	/* Through the changer: MOVE MEDIUM fails, HARDWARE ERROR, MEDIUM LOAD
	 * OR EJECT FAILED; the tape stays where the catalog has it. */
	file_limit(1);
	struct scsi_task *t = move_medium(a, DRIVE1, SLOT1);
	file_limit(RLIM_INFINITY);
	cr_assert(t->status == SCSI_STATUS_CHECK_CONDITION &&
		      t->sense.key == SCSI_SENSE_HARDWARE_ERROR && t->sense.ascq == 0x5300,
		  "MOVE MEDIUM: status %d key %d ascq %04x", t->status, t->sense.key,
		  t->sense.ascq);
	scsi_free_scsi_task(t);
	assert_in_drive("UN0004L8", a);
	t = move_medium(a, DRIVE1, SLOT1); /* the retry */
	cr_assert_eq(t->status, SCSI_STATUS_GOOD, "MOVE MEDIUM again: key %d ascq %04x",
		     t->sense.key, t->sense.ascq);
	scsi_free_scsi_task(t);
	vp_ctl_ok(&vtl, "tape show UN0004L8", out, sizeof(out));
	cr_assert(strstr(out, "slot:1"), "%s", out);

	/* Through the operator's unload: refused with the cause and the fix,
	 * the tape left in the drive, loaded. */
	vp_ctl_ok(&vtl, "tape move UN0004L8 --to drive:1", out, sizeof(out));
	th_tur_clear(a, 1);
	read_back(a, 30, 3, false);
	for (uint32_t k = 3; k < 6; k++)
		write_rec(a, 30 + k);
	file_limit(1);
	int rc = vp_ctl(&vtl, out, sizeof(out), "drive unload 1");
	file_limit(RLIM_INFINITY);
	cr_assert_neq(rc, 0, "%s", out);
	cr_assert(strstr(out, "drive 1 could not write tape UN0004L8 to stable storage (File too "
			      "large); the tape stays in drive 1 with nothing lost") &&
		      strstr(out, "run vtlctl drive unload 1 again"),
		  "%s", out);
	assert_in_drive("UN0004L8", a);
	vp_ctl_ok(&vtl, "drive unload 1", out, sizeof(out));
	vp_ctl_ok(&vtl, "tape show UN0004L8", out, sizeof(out));
	cr_assert(strstr(out, "slot:1"), "%s", out);
	th_logout(a);

	/* Everything acknowledged is there after a restart. */
	cr_assert_eq(vp_terminate(&vtl), 0);
	vp_restart(&vtl);
	vp_ctl_ok(&vtl, "tape move UN0004L8 --to drive:1", out, sizeof(out));
	a = vp_login(&vtl, false);
	th_tur_clear(a, 1);
	read_back(a, 30, 6, false);
	th_logout(a);
}
