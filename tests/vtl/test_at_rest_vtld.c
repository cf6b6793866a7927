/*
 * test_at_rest_vtld.c - library-managed encryption of cartridges at rest
 * ([encryption] mode = library; docs/design.md, "Encryption of cartridges
 * at rest") through the real vtld (tests/iscsi/vtld_proc.c) and libiscsi,
 * with the local-directory store outside the data directory:
 *   - records written through iSCSI read back, while the medium, the store,
 *     the catalog and vtld's log hold neither the plaintext nor the master
 *     key; the store holds the tape's wrapped key as tapes/BC/KEY;
 *   - without the master key the tape does not load, and vtld refuses to
 *     start when the key named cannot be read;
 *   - `vtlctl key rotate` rewraps every tape under a new master key, is
 *     resumed after vtld is killed in the middle, and the data reads back
 *     with the new key alone;
 *   - disaster recovery: a catalog rebuild without the master key, or with
 *     another one, refuses and adds nothing; with it, the tape comes back
 *     and reads;
 *   - a deleted tape's data key leaves the catalog once its objects have
 *     left the store (crypto-shredding), and no other tape's key does.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <iscsi.h>
#include <scsi-lowlevel.h>
#include <sqlite3.h>

#include "tests/iscsi/harness.h"
#include "tests/iscsi/vtld_proc.h"
#include "tests/vtl/tree_search.h"
#include "tests/tmpdir.h"

static struct vtld_proc vtl, vtl2;
static char keys[256], store[256];

static void setup(void)
{
	tmpdir_make(keys, sizeof(keys), "atrest-keys");
	tmpdir_make(store, sizeof(store), "atrest-store");
}

static void stop(void)
{
	vp_stop(&vtl);
	vp_stop(&vtl2);
	tmpdir_remove(keys);
	tmpdir_remove(store);
}

TestSuite(at_rest_vtld, .init = setup, .fini = stop, .timeout = 240);

#define NREC 8
static const char marker[] = "vtl at-rest plaintext marker; ";

/* Master key n (1, 2, 3): 32 bytes no other key shares. */
static void master_key(int n, uint8_t k[32])
{
	for (int i = 0; i < 32; i++)
		k[i] = (uint8_t)(0x5a ^ (n * 37) ^ (i * 11));
}

/* Key file KEYS/kN (raw, mode 0600); its path into path. */
static void key_file(int n, char *path, size_t cap)
{
	uint8_t k[32];
	master_key(n, k);
	snprintf(path, cap, "%s/k%d", keys, n);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, k, 32), 32);
	close(fd);
}

/* vtld.conf: the store outside the data directory, and [encryption] with
 * master key `cur` (0: mode none) and previous key `prev` (0: none). */
static void config(char *buf, size_t cap, int cur, int prev)
{
	char kc[PATH_MAX], kp[PATH_MAX];
	int n = snprintf(buf, cap,
			 "[store]\ntype = local\npath = %s\npart_size = 5M\nidle_complete = 1\n",
			 store);
	if (cur) {
		key_file(cur, kc, sizeof(kc));
		n += snprintf(buf + n, cap - (size_t)n,
			      "[encryption]\nmode = library\nmaster_key_file = %s\n", kc);
	}
	if (prev) {
		key_file(prev, kp, sizeof(kp));
		snprintf(buf + n, cap - (size_t)n, "previous_key_file = %s\n", kp);
	}
}

static void write_config(struct vtld_proc *p, int cur, int prev)
{
	char text[4 * PATH_MAX];
	config(text, sizeof(text), cur, prev);
	FILE *f = fopen(p->config, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

static void pattern(uint8_t *buf, size_t len, int rec)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)marker[i % (sizeof(marker) - 1)];
	buf[len - 1] = (uint8_t)rec;
}

static void write_tape(struct vtld_proc *p, const char *bc)
{
	char out[8192], cmd[128];
	static uint8_t buf[65536];
	snprintf(cmd, sizeof(cmd), "tape move %s --to drive:1", bc);
	vp_ctl_ok(p, cmd, out, sizeof(out));
	struct iscsi_context *iscsi = vp_login(p, false);
	th_tur_clear(iscsi, 1);
	for (int i = 0; i < NREC; i++) {
		pattern(buf, sizeof(buf), i);
		th_write6(iscsi, 1, buf, sizeof(buf));
	}
	th_filemarks(iscsi, 1, 1);
	th_logout(iscsi);
	vp_ctl_ok(p, "drive unload 1", out, sizeof(out));
	vp_wait_uploaded(p, bc);
}

static void read_tape(struct vtld_proc *p, const char *bc)
{
	char out[8192], cmd[128];
	static uint8_t buf[65536], want[65536];
	snprintf(cmd, sizeof(cmd), "tape move %s --to drive:1", bc);
	vp_ctl_ok(p, cmd, out, sizeof(out));
	struct iscsi_context *iscsi = vp_login(p, false);
	th_tur_clear(iscsi, 1);
	th_rewind(iscsi, 1);
	for (int i = 0; i < NREC; i++) {
		pattern(want, sizeof(want), i);
		th_read6(iscsi, 1, buf, sizeof(buf));
		cr_assert_eq(memcmp(buf, want, sizeof(buf)), 0, "record %d of %s differs", i, bc);
	}
	th_logout(iscsi);
	vp_ctl_ok(p, "drive unload 1", out, sizeof(out));
}

/* No plaintext and no byte run of any master key under dir. */
static void assert_nothing_in_clear(const char *dir)
{
	char found[PATH_MAX] = "";
	tree_search(dir, marker, sizeof(marker) - 1, found, sizeof(found));
	cr_assert_str_eq(found, "", "plaintext is in %s", found);
	for (int n = 1; n <= 3; n++) {
		uint8_t k[32];
		master_key(n, k);
		for (int off = 0; off + 8 <= 32; off += 8) {
			tree_search(dir, k + off, 8, found, sizeof(found));
			cr_assert_str_eq(found, "", "bytes %d..%d of master key %d are in %s", off,
					 off + 7, n, found);
		}
	}
}

static void read_text(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "cannot read %s", path);
	size_t n = fread(buf, 1, cap - 1, f);
	buf[n] = 0;
	fclose(f);
}

/* The master id a KEY file or object names ("v1:ID:..."). */
static void key_id_of(const char *path, char *id)
{
	char text[512];
	read_text(path, text, sizeof(text));
	cr_assert(strncmp(text, "v1:", 3) == 0 && strlen(text) > 20, "%s: %s", path, text);
	memcpy(id, text + 3, 16);
	id[16] = 0;
}

/* The file of object tapes/BC/KEY in the local-directory store
 * (s3/store_local.c: objects/, each '/' of a key as "@d/"). */
static void store_key_path(const char *bc, char *path, size_t cap)
{
	snprintf(path, cap, "%s/objects/tapes@d/%s@d/KEY", store, bc);
}

static void log_text(struct vtld_proc *p, char *buf, size_t cap)
{
	read_text(p->log, buf, cap);
}

Test(at_rest_vtld, writes_no_plaintext_nor_key_and_a_tape_needs_its_master_key)
{
	char out[16384], conf[4 * PATH_MAX], path[PATH_MAX + 64], id[17], logbuf[65536];
	struct stat st;
	config(conf, sizeof(conf), 1, 0);
	vp_start(&vtl, conf);
	log_text(&vtl, logbuf, sizeof(logbuf));
	cr_assert(strstr(logbuf, "encryption at rest: master key "), "%s", logbuf);
	vp_ctl_ok(&vtl, "tape create AR0001L8", out, sizeof(out));
	write_tape(&vtl, "AR0001L8");
	read_tape(&vtl, "AR0001L8");

	/* The wrapped key: in the cartridge (private) and in the store. */
	snprintf(path, sizeof(path), "%s/tapes/AR0001L8/KEY", vtl.dir);
	cr_assert_eq(stat(path, &st), 0, "%s", path);
	cr_assert_eq(st.st_mode & 077, 0, "%s has mode %o", path, st.st_mode & 0777);
	key_id_of(path, id);
	store_key_path("AR0001L8", path, sizeof(path));
	cr_assert_eq(stat(path, &st), 0, "the store has no %s", path);
	char id2[17];
	key_id_of(path, id2);
	cr_assert_str_eq(id, id2);
	cr_assert(strstr(logbuf, id), "the log names master key %s", id);
	vp_ctl_ok(&vtl, "key status", out, sizeof(out));
	cr_assert(strstr(out, id) && strstr(out, "current"), "%s", out);
	assert_nothing_in_clear(vtl.dir);
	assert_nothing_in_clear(store);

	/* Without the master key the tape does not load, with a clear word. */
	cr_assert_eq(vp_terminate(&vtl), 0);
	write_config(&vtl, 0, 0);
	vp_restart(&vtl);
	cr_assert_neq(vp_ctl(&vtl, out, sizeof(out), "tape move AR0001L8 --to drive:1"), 0, "%s",
		      out);
	cr_assert(strstr(out, "tape AR0001L8 is encrypted at rest and no master key is configured; "
			      "set [encryption] mode = library"),
		  "%s", out);
	log_text(&vtl, logbuf, sizeof(logbuf));
	cr_assert(strstr(logbuf, "tape AR0001L8 is encrypted at rest and no master key is "
				 "configured"),
		  "%s", logbuf);
	cr_assert_neq(vp_ctl(&vtl, out, sizeof(out), "key rotate"), 0, "%s", out);
	cr_assert(strstr(out, "no master key is configured"), "%s", out);
	vp_ctl_ok(&vtl, "key status", out, sizeof(out));
	cr_assert(strstr(out, "none configured") && strstr(out, "not configured"), "%s", out);

	/* A key file that cannot be read: vtld does not start. */
	cr_assert_eq(vp_terminate(&vtl), 0);
	write_config(&vtl, 1, 0);
	snprintf(path, sizeof(path), "%s/k1", keys);
	chmod(path, 0644);
	cr_assert_neq(vp_start_fails(&vtl, logbuf, sizeof(logbuf)), 0);
	cr_assert(strstr(logbuf, path) && strstr(logbuf, "chmod 600") &&
		      strstr(logbuf, "does not start"),
		  "%s", logbuf);
	chmod(path, 0600);
	vp_restart(&vtl);
	read_tape(&vtl, "AR0001L8");
	assert_nothing_in_clear(vtl.dir);
}

/*
 * The drive's read-ahead (docs/design.md, "Write-behind and read-ahead of records encrypted
 * at rest") runs on vtld's own thread between the host's commands, at
 * whatever moment the scheduler gives it: whatever it has read ahead, the
 * host reads exactly what a drive without it would, at the positions READ
 * POSITION reports, through LOCATE, SPACE, a write in the middle and an
 * unload, with two initiators taking turns on the drive.
 */
#define RA_REC 262144u
#define RA_N   24u

static void ra_read_is(struct iscsi_context *iscsi, uint32_t k)
{
	static uint8_t buf[RA_REC], want[RA_REC];
	th_pattern(want, RA_REC, 500 + k);
	th_read6(iscsi, 1, buf, RA_REC);
	cr_assert_eq(memcmp(buf, want, RA_REC), 0, "block %u differs", k);
}

Test(at_rest_vtld, read_ahead_hands_out_exactly_what_the_host_asks_for)
{
	char out[8192], conf[4 * PATH_MAX];
	static uint8_t buf[RA_REC];
	config(conf, sizeof(conf), 1, 0);
	vp_start(&vtl, conf);
	vp_ctl_ok(&vtl, "tape create AR0009L8", out, sizeof(out));
	vp_ctl_ok(&vtl, "tape move AR0009L8 --to drive:1", out, sizeof(out));
	struct iscsi_context *a = vp_login(&vtl, false);
	th_tur_clear(a, 1);
	for (uint32_t k = 0; k < RA_N; k++) {
		th_pattern(buf, RA_REC, 500 + k);
		th_write6(a, 1, buf, RA_REC);
	}
	th_filemarks(a, 1, 1);

	for (uint32_t pass = 0; pass < 3; pass++) {
		/* Streaming, with READ POSITION now and then. */
		th_rewind(a, 1);
		for (uint32_t k = 0; k < RA_N; k++) {
			ra_read_is(a, k);
			if (k % 5 == pass)
				cr_assert_eq(th_read_position(a, 1), k + 1);
		}
		cr_assert_eq(th_read_position(a, 1), RA_N);
		/* Back and forth inside what may have been read ahead. */
		th_locate(a, 1, 3);
		ra_read_is(a, 3);
		th_space(a, 1, 0, 2); /* two blocks forward */
		ra_read_is(a, 6);
		th_space(a, 1, 0, -5);
		ra_read_is(a, 2);
		th_locate(a, 1, 20);
		ra_read_is(a, 20);
		ra_read_is(a, 21);
	}

	/* Another initiator reads in between: each gets the block at the
	 * drive's one position, in turn. */
	struct iscsi_context *b = vp_login(&vtl, false);
	th_tur_clear(b, 1);
	th_rewind(a, 1);
	for (uint32_t k = 0; k < 8; k++)
		ra_read_is(k % 2 ? b : a, k);
	th_logout(b);

	/* A write in the middle: what followed is gone, read ahead or not. */
	th_rewind(a, 1);
	ra_read_is(a, 0);
	ra_read_is(a, 1);
	th_pattern(buf, RA_REC, 900);
	th_write6(a, 1, buf, RA_REC);
	th_filemarks(a, 1, 1);
	th_locate(a, 1, 1);
	ra_read_is(a, 1);
	static uint8_t got[RA_REC];
	th_read6(a, 1, got, RA_REC);
	cr_assert_eq(memcmp(got, buf, RA_REC), 0, "the block written in the middle");
	cr_assert_eq(th_read_position(a, 1), 3);
	th_logout(a);

	/* Unloaded with blocks read ahead, loaded again: the same data. */
	vp_ctl_ok(&vtl, "drive unload 1", out, sizeof(out));
	vp_ctl_ok(&vtl, "tape move AR0009L8 --to drive:1", out, sizeof(out));
	a = vp_login(&vtl, false);
	th_tur_clear(a, 1);
	ra_read_is(a, 0);
	ra_read_is(a, 1);
	th_read6(a, 1, got, RA_REC);
	cr_assert_eq(memcmp(got, buf, RA_REC), 0, "the block written in the middle");
	th_logout(a);
	assert_nothing_in_clear(vtl.dir);
}

/*
 * Write-behind (docs/design.md, "Write-behind and read-ahead of records
 * encrypted at rest"): WRITEs in buffered mode return GOOD before their
 * block is encrypted and written by vtld's drive thread; WRITE FILEMARKS
 * (IMMED=0) returns only once all of them are on stable storage. vtld
 * killed with SIGKILL right after that GOOD, with more blocks sent after
 * it, loses nothing before the filemark, and the tape ends cleanly at EOD.
 */
Test(at_rest_vtld, a_kill_after_a_filemark_loses_nothing_written_behind)
{
	char out[8192], conf[4 * PATH_MAX];
	static uint8_t buf[RA_REC];
	config(conf, sizeof(conf), 1, 0);
	vp_start(&vtl, conf);
	vp_ctl_ok(&vtl, "tape create AR0010L8", out, sizeof(out));
	vp_ctl_ok(&vtl, "tape move AR0010L8 --to drive:1", out, sizeof(out));
	struct iscsi_context *a = vp_login(&vtl, false);
	th_tur_clear(a, 1);
	for (uint32_t k = 0; k < RA_N; k++) {
		th_pattern(buf, RA_REC, 500 + k);
		th_write6(a, 1, buf, RA_REC);
	}
	th_filemarks(a, 1, 1);
	for (uint32_t k = 0; k < 3; k++) {
		th_pattern(buf, RA_REC, 700 + k);
		th_write6(a, 1, buf, RA_REC);
	}
	vp_kill(&vtl);
	iscsi_destroy_context(a);

	vp_restart(&vtl);
	a = vp_login(&vtl, false);
	th_tur_clear(a, 1);
	th_rewind(a, 1);
	for (uint32_t k = 0; k < RA_N; k++)
		ra_read_is(a, k);
	/* The filemark, then whatever of the blocks after it reached the
	 * cache file before the kill, each whole, then EOD. */
	uint8_t cdb[6] = {0x08, 0, 0x04, 0, 0, 0};
	struct scsi_task *t = th_cmd(a, 1, cdb, 6, SCSI_XFER_READ, RA_REC, NULL, 0);
	cr_assert_eq(t->status, SCSI_STATUS_CHECK_CONDITION);
	cr_assert(t->sense.key == SCSI_SENSE_NO_SENSE && t->sense.ascq == 0x0001,
		  "the filemark: key %d ascq %04x", t->sense.key, t->sense.ascq);
	scsi_free_scsi_task(t);
	static uint8_t want[RA_REC];
	uint32_t k = 0;
	for (;; k++) {
		t = th_cmd(a, 1, cdb, 6, SCSI_XFER_READ, RA_REC, NULL, 0);
		if (t->status != SCSI_STATUS_GOOD) {
			cr_assert(t->sense.key == SCSI_SENSE_BLANK_CHECK, "key %d ascq %04x",
				  t->sense.key, t->sense.ascq);
			scsi_free_scsi_task(t);
			break;
		}
		th_pattern(want, RA_REC, 700 + k);
		cr_assert_eq(t->datain.size, (int)RA_REC);
		cr_assert_eq(memcmp(t->datain.data, want, RA_REC), 0, "block %u after the mark", k);
		scsi_free_scsi_task(t);
	}
	cr_assert_leq(k, 3u);
	cr_assert_eq(th_read_position(a, 1), RA_N + 1 + k);
	th_logout(a);
}

/* Run `vtlctl key rotate` and kill vtld (SIGKILL) once it has rewrapped
 * a tape; returns what vtlctl printed. */
static void rotate_and_kill(struct vtld_proc *p, char *said, size_t cap)
{
	char cmd[PATH_MAX + 128];
	snprintf(cmd, sizeof(cmd), "%s --socket %s/vtld.sock key rotate 2>&1",
		 getenv("VTLCTL") ? getenv("VTLCTL") : "./vtlctl", p->dir);
	FILE *f = popen(cmd, "r");
	cr_assert_not_null(f);
	said[0] = 0;
	char line[512];
	while (fgets(line, sizeof(line), f)) {
		strncat(said, line, cap - strlen(said) - 1);
		if (strstr(line, "rewrapped ")) {
			kill(p->pid, SIGKILL);
			break;
		}
	}
	pclose(f);
	int st;
	waitpid(p->pid, &st, 0);
	p->pid = 0;
}

Test(at_rest_vtld, rotation_rewraps_every_tape_and_resumes_after_a_kill)
{
	char out[65536], conf[4 * PATH_MAX], path[PATH_MAX + 64], id1[17], id2[17];
	config(conf, sizeof(conf), 1, 0);
	vp_start(&vtl, conf);
	vp_ctl_ok(&vtl, "tape create RO0000L8", out, sizeof(out));
	write_tape(&vtl, "RO0000L8");
	vp_ctl_ok(&vtl, "tape create --prefix RT --count 38", out, sizeof(out));
	snprintf(path, sizeof(path), "%s/tapes/RO0000L8/KEY", vtl.dir);
	key_id_of(path, id1);

	/* The new key as master, the old one as previous. */
	cr_assert_eq(vp_terminate(&vtl), 0);
	write_config(&vtl, 2, 1);
	vp_restart(&vtl);
	vp_ctl_ok(&vtl, "--json key status", out, sizeof(out));
	cr_assert_eq(vp_jint(out, "tapes"), 39, "%s", out);
	cr_assert_eq(vp_jint(out, "to_rotate"), 39, "%s", out);
	cr_assert(strstr(out, "\"previous\""), "%s", out);
	read_tape(&vtl, "RO0000L8"); /* under the previous key */

	rotate_and_kill(&vtl, out, sizeof(out));
	cr_assert(strstr(out, "rewrapped ") && strstr(out, " of 39 tapes"), "%s", out);
	vp_restart(&vtl);
	vp_ctl_ok(&vtl, "--json key status", out, sizeof(out));
	long long left = vp_jint(out, "to_rotate");
	cr_log_info("killed with %lld of 39 tapes left to rewrap", left);
	cr_assert(left >= 0 && left < 39, "%s", out);
	vp_ctl_ok(&vtl, "key rotate", out, sizeof(out));
	cr_assert(left == 0 ? strstr(out, "nothing to do") != NULL : strstr(out, "done:") != NULL,
		  "%lld left: %s", left, out);
	vp_ctl_ok(&vtl, "--json key status", out, sizeof(out));
	cr_assert_eq(vp_jint(out, "to_rotate"), 0, "%s", out);
	cr_assert_eq(vp_jint(out, "tapes"), 39, "%s", out);

	/* The cartridge and the store name the new master key. */
	key_id_of(path, id2);
	cr_assert_str_neq(id1, id2);
	store_key_path("RO0000L8", path, sizeof(path));
	char id3[17];
	key_id_of(path, id3);
	cr_assert_str_eq(id2, id3);

	/* The old key is no longer needed. */
	cr_assert_eq(vp_terminate(&vtl), 0);
	write_config(&vtl, 2, 0);
	vp_restart(&vtl);
	read_tape(&vtl, "RO0000L8");
	assert_nothing_in_clear(vtl.dir);
	assert_nothing_in_clear(store);
}

/* [store] with a prefix holding the byte 0xff, which is not UTF-8 (an
 * operator's string that reaches error text), and master key cur, previous
 * key prev (0: none). */
static void config_odd_prefix(char *buf, size_t cap, int cur, int prev)
{
	char kc[PATH_MAX], kp[PATH_MAX];
	key_file(cur, kc, sizeof(kc));
	int n = snprintf(buf, cap,
			 "[store]\ntype = local\npath = %s\nprefix = rot\xff/\npart_size = 5M\n"
			 "idle_complete = 1\n[encryption]\nmode = library\nmaster_key_file = %s\n",
			 store, kc);
	if (prev) {
		key_file(prev, kp, sizeof(kp));
		snprintf(buf + n, cap - (size_t)n, "previous_key_file = %s\n", kp);
	}
}

/*
 * A rotation that fails on the store says so whatever the store's error
 * text holds. Here it quotes the [store] prefix, whose byte 0xff is not
 * UTF-8, and the tape's KEY object cannot be replaced (a directory stands
 * where it is). The answer's error is escaped like every other string of
 * an answer: before, json_string refused it, the answer carried no error,
 * and vtlctl said every key was rewrapped and the previous key could go.
 */
Test(at_rest_vtld, a_rotation_that_fails_on_the_store_says_so_whatever_its_error_text)
{
	char out[65536], conf[4 * PATH_MAX], key[PATH_MAX + 64], inside[PATH_MAX + 80];
	char cmd[2 * PATH_MAX];
	config_odd_prefix(conf, sizeof(conf), 1, 0);
	vp_start(&vtl, conf);
	vp_ctl_ok(&vtl, "tape create RK0001L8", out, sizeof(out));
	write_tape(&vtl, "RK0001L8");
	cr_assert_eq(vp_terminate(&vtl), 0);

	snprintf(cmd, sizeof(cmd), "find %s/objects -path '*RK0001L8@d/KEY'", store);
	FILE *f = popen(cmd, "r");
	cr_assert_not_null(f);
	cr_assert_not_null(fgets(key, sizeof(key), f), "no KEY object in %s", store);
	pclose(f);
	key[strcspn(key, "\n")] = 0;
	cr_assert_eq(unlink(key), 0, "%s", key);
	cr_assert_eq(mkdir(key, 0700), 0, "%s", key);
	snprintf(inside, sizeof(inside), "%s/x", key);
	cr_assert_eq(mkdir(inside, 0700), 0, "%s", inside);

	config_odd_prefix(conf, sizeof(conf), 2, 1);
	f = fopen(vtl.config, "w");
	cr_assert_not_null(f);
	fputs(conf, f);
	fclose(f);
	vp_restart(&vtl);
	cr_assert_neq(vp_ctl(&vtl, out, sizeof(out), "key rotate"), 0, "%s", out);
	cr_assert(strstr(out, "vtlctl: tape RK0001L8: put of rot\\xff/tapes/RK0001L8/KEY failed"),
		  "%s", out);
	cr_assert_null(strstr(out, "done:"), "%s", out);
	cr_assert_neq(vp_ctl(&vtl, out, sizeof(out), "--json key rotate"), 0, "%s", out);
	cr_assert(strstr(out, "\"error\": \"tape RK0001L8: put of rot\\\\xff/tapes/"), "%s", out);
	vp_ctl_ok(&vtl, "--json key status", out, sizeof(out));
	cr_assert_eq(vp_jint(out, "to_rotate"), 1, "%s", out);
}

Test(at_rest_vtld, catalog_rebuild_needs_the_master_key_and_changes_nothing_without_it)
{
	char out[65536], conf[4 * PATH_MAX], logbuf[65536];
	config(conf, sizeof(conf), 1, 0);
	vp_start(&vtl, conf);
	vp_ctl_ok(&vtl, "tape create DR0001L8", out, sizeof(out));
	write_tape(&vtl, "DR0001L8");
	cr_assert_eq(vp_terminate(&vtl), 0);

	/* A new machine: empty data directory, the same store, no key. */
	config(conf, sizeof(conf), 0, 0);
	vp_start(&vtl2, conf);
	cr_assert_neq(vp_ctl(&vtl2, out, sizeof(out), "catalog rebuild"), 0, "%s", out);
	cr_assert(strstr(out, "refused, nothing was changed") && strstr(out, "DR0001L8") &&
		      strstr(out, "master_key_file"),
		  "%s", out);
	vp_ctl_ok(&vtl2, "tape list", out, sizeof(out));
	cr_assert_null(strstr(out, "DR0001L8"), "%s", out);

	/* Another master key: refused too, naming the id the tape needs. */
	cr_assert_eq(vp_terminate(&vtl2), 0);
	write_config(&vtl2, 3, 0);
	vp_restart(&vtl2);
	cr_assert_neq(vp_ctl(&vtl2, out, sizeof(out), "catalog rebuild"), 0, "%s", out);
	cr_assert(strstr(out, "DR0001L8 (master key "), "%s", out);
	vp_ctl_ok(&vtl2, "tape list", out, sizeof(out));
	cr_assert_null(strstr(out, "DR0001L8"), "%s", out);

	/* The start-up recovery refuses as well, and vtld does not start. */
	cr_assert_eq(vp_terminate(&vtl2), 0);
	snprintf(vtl2.extra, sizeof(vtl2.extra), "--rebuild-catalog");
	cr_assert_neq(vp_start_fails(&vtl2, logbuf, sizeof(logbuf)), 0);
	cr_assert(strstr(logbuf, "DR0001L8") && strstr(logbuf, "refused"), "%s", logbuf);
	vtl2.extra[0] = 0;

	/* With the key but without the tape's KEY object: that tape is left
	 * out, with the reason, rather than added unreadable. */
	write_config(&vtl2, 1, 0);
	vp_restart(&vtl2);
	char obj[PATH_MAX + 64], aside[PATH_MAX + 80];
	store_key_path("DR0001L8", obj, sizeof(obj));
	snprintf(aside, sizeof(aside), "%s.aside", obj);
	cr_assert_eq(rename(obj, aside), 0);
	cr_assert_neq(vp_ctl(&vtl2, out, sizeof(out), "catalog rebuild"), 0, "%s", out);
	cr_assert(strstr(out, "DR0001L8") && strstr(out, "encrypted at rest but neither the store "
							 "nor its cartridge holds its wrapped"),
		  "%s", out);
	vp_ctl_ok(&vtl2, "tape list", out, sizeof(out));
	cr_assert_null(strstr(out, "DR0001L8"), "%s", out);
	cr_assert_eq(rename(aside, obj), 0);

	/* With the key: the tape comes back and reads. */
	vp_ctl_ok(&vtl2, "catalog rebuild", out, sizeof(out));
	cr_assert(strstr(out, "DR0001L8") && strstr(out, "recovered"), "%s", out);
	read_tape(&vtl2, "DR0001L8");
	assert_nothing_in_clear(vtl2.dir);
}

/* The library's location and the shelf apart, both local directories
 * under the store's scratch directory. */
static void shelf_config(struct vtld_proc *p, int cur, int prev, bool start)
{
	char text[4 * PATH_MAX], kc[PATH_MAX], kp[PATH_MAX];
	key_file(cur, kc, sizeof(kc));
	int n = snprintf(text, sizeof(text),
			 "[store]\ntype = local\npath = %s/library\narchive_path = %s/vault\n"
			 "archive_prefix = shelf/\nidle_complete = 1\n"
			 "[encryption]\nmode = library\nmaster_key_file = %s\n",
			 store, store, kc);
	if (prev) {
		key_file(prev, kp, sizeof(kp));
		snprintf(text + n, sizeof(text) - (size_t)n, "previous_key_file = %s\n", kp);
	}
	if (start) {
		vp_start(p, text);
		return;
	}
	FILE *f = fopen(p->config, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

Test(at_rest_vtld, the_key_object_moves_with_the_tape_to_the_shelf_and_rotates_there)
{
	char out[65536], lib_key[PATH_MAX + 64], shelf_key[PATH_MAX + 64], id1[17], id2[17];
	struct stat st;
	shelf_config(&vtl, 1, 0, true);
	vp_ctl_ok(&vtl, "tape create SH0001L8", out, sizeof(out));
	write_tape(&vtl, "SH0001L8");
	snprintf(lib_key, sizeof(lib_key), "%s/library/objects/tapes@d/SH0001L8@d/KEY", store);
	snprintf(shelf_key, sizeof(shelf_key), "%s/vault/objects/shelf@d/tapes@d/SH0001L8@d/KEY",
		 store);
	key_id_of(lib_key, id1);
	vp_ctl_ok(&vtl, "tape archive SH0001L8 --wait", out, sizeof(out));
	cr_assert_neq(stat(lib_key, &st), 0, "%s is left in the library's location", lib_key);
	char moved[17];
	key_id_of(shelf_key, moved);
	cr_assert_str_eq(moved, id1);

	/* Rotated while on the shelf: the shelf's KEY gets the new wrap. */
	cr_assert_eq(vp_terminate(&vtl), 0);
	shelf_config(&vtl, 2, 1, false);
	vp_restart(&vtl);
	vp_ctl_ok(&vtl, "key rotate", out, sizeof(out));
	cr_assert(strstr(out, "rewrapped 1 of 1 tapes (last: SH0001L8)"), "%s", out);
	key_id_of(shelf_key, id2);
	cr_assert_str_neq(id1, id2);

	/* Retrieved with the new key alone: its KEY file comes with it. */
	cr_assert_eq(vp_terminate(&vtl), 0);
	shelf_config(&vtl, 2, 0, false);
	vp_restart(&vtl);
	vp_ctl_ok(&vtl, "tape retrieve SH0001L8 --wait", out, sizeof(out));
	char path[PATH_MAX + 64], id3[17];
	snprintf(path, sizeof(path), "%s/tapes/SH0001L8/KEY", vtl.dir);
	cr_assert_eq(stat(path, &st), 0, "%s", path);
	cr_assert_eq(st.st_mode & 077, 0, "%s has mode %o", path, st.st_mode & 0777);
	key_id_of(path, id3);
	cr_assert_str_eq(id3, id2);
	read_tape(&vtl, "SH0001L8");
	assert_nothing_in_clear(vtl.dir);
	assert_nothing_in_clear(store);
}

/* Rows of tape_keys for barcode in vtld's catalog (read-only: vtld may
 * be running; its catalog is in WAL mode). */
static int key_rows(const struct vtld_proc *p, const char *bc)
{
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/catalog.db", p->dir);
	sqlite3 *db;
	cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK, "%s", path);
	sqlite3_stmt *st;
	cr_assert_eq(sqlite3_prepare_v2(db,
					"SELECT count(*) FROM tape_keys k JOIN tapes t ON t.id = "
					"k.tape WHERE t.barcode = ?1",
					-1, &st, NULL),
		     SQLITE_OK, "%s", sqlite3_errmsg(db));
	sqlite3_bind_text(st, 1, bc, -1, SQLITE_STATIC);
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
	int n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

Test(at_rest_vtld, a_deleted_tapes_data_key_is_shredded_once_its_objects_are_gone)
{
	char out[16384], conf[4 * PATH_MAX], path[PATH_MAX + 64];
	struct stat st;
	config(conf, sizeof(conf), 1, 0);
	vp_start(&vtl, conf);
	vp_ctl_ok(&vtl, "tape create DK0001L8", out, sizeof(out));
	vp_ctl_ok(&vtl, "tape create DK0002L8", out, sizeof(out));
	write_tape(&vtl, "DK0001L8");
	write_tape(&vtl, "DK0002L8");
	store_key_path("DK0001L8", path, sizeof(path));
	cr_assert_eq(stat(path, &st), 0, "the store has no %s", path);
	vp_ctl_ok(&vtl, "tape delete DK0001L8 --force", out, sizeof(out));
	/* The store's objects go first (KEY among them), then the key. */
	int waited = 0;
	while ((stat(path, &st) == 0 || key_rows(&vtl, "DK0001L8")) && waited++ < 600)
		usleep(100 * 1000);
	cr_assert_neq(stat(path, &st), 0, "%s is still in the store after 60 s", path);
	cr_assert_eq(vp_terminate(&vtl), 0);
	cr_assert_eq(key_rows(&vtl, "DK0001L8"), 0, "the deleted tape's key is still there");
	cr_assert_eq(key_rows(&vtl, "DK0002L8"), 1, "the live tape lost its key");

	/* The other tape still reads. */
	vp_restart(&vtl);
	read_tape(&vtl, "DK0002L8");
}

/* A cleaning cartridge never holds data: in a library that encrypts at
 * rest it gets no data key (none in the catalog, the cartridge or the
 * store) and still cleans, while a data tape created beside it gets one. */
Test(at_rest_vtld, a_cleaning_cartridge_gets_no_data_key)
{
	char out[16384], conf[4 * PATH_MAX], path[PATH_MAX + 64];
	struct stat st;
	config(conf, sizeof(conf), 1, 0);
	vp_start(&vtl, conf);
	vp_ctl_ok(&vtl, "tape create CLN001L8", out, sizeof(out));
	vp_ctl_ok(&vtl, "tape create AR0020L8", out, sizeof(out));
	cr_assert_eq(key_rows(&vtl, "CLN001L8"), 0, "the cleaning cartridge has a data key");
	cr_assert_eq(key_rows(&vtl, "AR0020L8"), 1, "the data tape has no data key");

	/* Their media are made at their first load (docs/design.md,
	 * "Inventory at scale"), the KEY file with the data tape's. */
	vp_ctl_ok(&vtl, "tape move CLN001L8 --to drive:1", out, sizeof(out));
	vp_ctl_ok(&vtl, "drive unload 1", out, sizeof(out));
	vp_ctl_ok(&vtl, "tape show CLN001L8", out, sizeof(out));
	cr_assert(strstr(out, "1 of 50 used"), "%s", out);
	snprintf(path, sizeof(path), "%s/tapes/CLN001L8/KEY", vtl.dir);
	cr_assert_neq(stat(path, &st), 0, "%s exists", path);
	write_tape(&vtl, "AR0020L8");
	snprintf(path, sizeof(path), "%s/tapes/AR0020L8/KEY", vtl.dir);
	cr_assert_eq(stat(path, &st), 0, "%s is missing", path);
	vp_wait_uploaded(&vtl, "CLN001L8");
	store_key_path("AR0020L8", path, sizeof(path));
	cr_assert_eq(stat(path, &st), 0, "the store has no %s", path);
	store_key_path("CLN001L8", path, sizeof(path));
	cr_assert_neq(stat(path, &st), 0, "the store has %s", path);
	cr_assert_eq(key_rows(&vtl, "CLN001L8"), 0);
}

/* Every row of the tables a load could change (tapes, their elements,
 * events, tape_keys, the uploader's) as text, read-only while vtld runs. */
static void catalog_text(const struct vtld_proc *p, char *buf, size_t cap)
{
	static const char *const tables[] = {"tapes",	  "elements",  "events",
					     "tape_keys", "upl_tapes", "upl_segments"};
	char path[PATH_MAX + 16];
	size_t len = 0;
	snprintf(path, sizeof(path), "%s/catalog.db", p->dir);
	sqlite3 *db;
	cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK, "%s", path);
	buf[0] = 0;
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		char sql[64];
		sqlite3_stmt *st;
		snprintf(sql, sizeof(sql), "SELECT * FROM %s ORDER BY rowid", tables[i]);
		cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s: %s", sql,
			     sqlite3_errmsg(db));
		while (sqlite3_step(st) == SQLITE_ROW)
			for (int c = 0; c < sqlite3_column_count(st); c++) {
				const unsigned char *v = sqlite3_column_text(st, c);
				int n = snprintf(buf + len, cap - len, "%s%c",
						 v ? (const char *)v : "-",
						 c + 1 == sqlite3_column_count(st) ? '\n' : '|');
				cr_assert(n > 0 && (size_t)n < cap - len,
					  "the catalog outgrew the buffer");
				len += (size_t)n;
			}
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
}

static bool medium_there(const struct vtld_proc *p, const char *bc)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/tapes/%s", p->dir, bc);
	return access(path, F_OK) == 0;
}

static struct scsi_task *move_medium(struct iscsi_context *iscsi, uint16_t src, uint16_t dst)
{
	uint8_t cdb[12] = {0xa5, 0};
	cdb[4] = (uint8_t)(src >> 8);
	cdb[5] = (uint8_t)src;
	cdb[6] = (uint8_t)(dst >> 8);
	cdb[7] = (uint8_t)dst;
	struct scsi_task *t = th_cmd(iscsi, 0, cdb, 12, SCSI_XFER_NONE, 0, NULL, 0);
	cr_assert_not_null(t, "MOVE MEDIUM: %s", iscsi_get_error(iscsi));
	return t;
}

/*
 * A tape never loaded is a catalog row with its wrapped data key: its
 * medium is made at its first load. A load its key refuses (no master key
 * configured, or another one) is refused before the medium is made, by
 * vtlctl and by MOVE MEDIUM alike: no directory, the catalog as it was,
 * the sense and the message of a made tape's refusal. A tape the drive
 * cannot take is refused for that first, whatever the key.
 */
enum { SLOT1 = 1000, DRIVE1 = 500 }; /* the default STK L700's element addresses */

static void refused_and_nothing_made(struct vtld_proc *p, const char *want)
{
	static char before[1 << 17], after[1 << 17];
	char out[16384];
	catalog_text(p, before, sizeof(before));
	cr_assert_neq(vp_ctl(p, out, sizeof(out), "tape move NL0001L8 --to drive:1"), 0, "%s", out);
	cr_assert(strstr(out, want), "vtlctl said: %s", out);
	cr_assert_not(medium_there(p, "NL0001L8"), "a refused load made the medium");
	catalog_text(p, after, sizeof(after));
	cr_assert_str_eq(after, before, "a refused load changed the catalog");

	struct iscsi_context *iscsi = vp_login(p, false);
	th_tur_clear(iscsi, 0);
	struct scsi_task *t = move_medium(iscsi, SLOT1, DRIVE1);
	cr_assert(t->status == SCSI_STATUS_CHECK_CONDITION &&
		      t->sense.key == SCSI_SENSE_HARDWARE_ERROR && t->sense.ascq == 0x5300,
		  "MOVE MEDIUM: status %d key %d ascq %04x", t->status, t->sense.key,
		  t->sense.ascq);
	scsi_free_scsi_task(t);
	th_logout(iscsi);
	cr_assert_not(medium_there(p, "NL0001L8"), "a refused MOVE MEDIUM made the medium");
	catalog_text(p, after, sizeof(after));
	cr_assert_str_eq(after, before, "a refused MOVE MEDIUM changed the catalog");

	/* The drive generation's refusal comes first. */
	cr_assert_neq(vp_ctl(p, out, sizeof(out), "tape move NL0002L6 --to drive:1"), 0, "%s", out);
	cr_assert(strstr(out, "tape NL0002L6 is LTO-6 media, which drive 1"), "%s", out);
	cr_assert_not(medium_there(p, "NL0002L6"));
}

Test(at_rest_vtld, a_load_the_key_refuses_makes_no_medium)
{
	char out[16384], conf[4 * PATH_MAX];
	config(conf, sizeof(conf), 1, 0);
	vp_start(&vtl, conf);
	vp_ctl_ok(&vtl, "tape create NL0001L8 NL0002L6", out, sizeof(out));
	cr_assert_eq(key_rows(&vtl, "NL0001L8"), 1);
	cr_assert_not(medium_there(&vtl, "NL0001L8"));

	/* No master key configured. */
	cr_assert_eq(vp_terminate(&vtl), 0);
	write_config(&vtl, 0, 0);
	vp_restart(&vtl);
	refused_and_nothing_made(&vtl, "tape NL0001L8 is encrypted at rest and no master key is "
				       "configured; set [encryption] mode = library");

	/* Another master key. */
	cr_assert_eq(vp_terminate(&vtl), 0);
	write_config(&vtl, 2, 0);
	vp_restart(&vtl);
	refused_and_nothing_made(&vtl, "tape NL0001L8: its data key is wrapped by master key ");

	/* Its own key: the first load makes it, encrypted at rest. */
	cr_assert_eq(vp_terminate(&vtl), 0);
	write_config(&vtl, 1, 0);
	vp_restart(&vtl);
	write_tape(&vtl, "NL0001L8");
	read_tape(&vtl, "NL0001L8");
	assert_nothing_in_clear(vtl.dir);
}
