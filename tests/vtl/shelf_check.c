/*
 * shelf_check.c - see shelf_check.h. Only the store interface (s3/store.h)
 * reads the objects, so the same code checks a directory and a bucket.
 */
#include "config.h"

#include "shelf_check.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <iscsi.h>
#include <scsi-lowlevel.h>

#include "tests/iscsi/harness.h"

void segs_read(const struct vtld_proc *vtl, struct segs *s, const char *bc)
{
	memset(s, 0, sizeof(*s));
	for (uint64_t id = 1; id < 64; id++) {
		char path[PATH_MAX + 128];
		snprintf(path, sizeof(path), "%s/tapes/%s/seg-%016" PRIx64 ".dat", vtl->dir, bc,
			 id);
		int fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		struct stat sb;
		fstat(fd, &sb);
		size_t len = (size_t)sb.st_size;
		uint8_t *a = malloc(len + 1);
		cr_assert_eq(pread(fd, a, len, 0), (ssize_t)len);
		close(fd);
		s->id[s->n] = id;
		s->len[s->n] = len;
		s->data[s->n++] = a;
	}
	cr_assert_gt(s->n, 0, "no local segment of %s", bc);
}

void segs_free(struct segs *s)
{
	for (int i = 0; i < s->n; i++)
		free(s->data[i]);
	s->n = 0;
}

void segs_in_store(const struct segs *s, struct store *st, const char *prefix, const char *bc)
{
	for (int i = 0; i < s->n; i++) {
		char key[256];
		snprintf(key, sizeof(key), "%stapes/%s/seg/%016" PRIx64, prefix, bc, s->id[i]);
		size_t len = s->len[i], got = 0;
		uint8_t *b = malloc(len + 1);
		struct store_object_info info;
		struct store_err err = {0};
		/* Both backends answer a GET of 0 bytes (an empty segment) as a HEAD. */
		int rc = store_get(st, key, 0, len, b, &got, &info, &err);
		cr_assert_eq(rc, 0, "%s: %s", key, err.msg);
		cr_assert_eq(got, len, "%s: %zu bytes in the store, %zu local", key, got, len);
		cr_assert_arr_eq(s->data[i], b, len, "%s differs from the local segment", key);
		free(b);
	}
}

void compare_store(const struct vtld_proc *vtl, struct store *st, const char *bc)
{
	struct segs s;
	segs_read(vtl, &s, bc);
	segs_in_store(&s, st, "", bc);
	segs_free(&s);
}

static int tape_keys_cb(void *arg, const struct store_list_entry *e)
{
	struct tape_keys *k = arg;
	size_t len = strlen(k->text);
	snprintf(k->text + len, sizeof(k->text) - len, "%s\n", e->key);
	k->n++;
	k->seg += strstr(e->key, "/seg/") != NULL;
	k->manifest += strstr(e->key, "/manifest/") != NULL;
	k->state += strcmp(strrchr(e->key, '/'), "/state") == 0;
	return 0;
}

void tape_keys(const struct place *pl, const char *bc, struct tape_keys *k)
{
	char prefix[256];
	snprintf(prefix, sizeof(prefix), "%stapes/%s/", pl->prefix, bc);
	memset(k, 0, sizeof(*k));
	struct store_list_opts lo = {.prefix = prefix};
	struct store_err err = {0};
	cr_assert_eq(store_list(pl->st, &lo, tape_keys_cb, k, &err), 0, "list %s: %s", prefix,
		     err.msg);
}

void only_on_shelf(const char *bc, const struct segs *s, const struct place *lib,
		   const struct place *shelf, const char *cls, struct tape_keys *k)
{
	struct store_err err = {0};
	tape_keys(lib, bc, k);
	cr_assert_eq(k->n, 0, "the library's store still holds %s:\n%s", bc, k->text);
	tape_keys(shelf, bc, k);
	cr_assert_eq(k->seg, s->n, "%d segments on the shelf, %d written:\n%s", k->seg, s->n,
		     k->text);
	cr_assert_eq(k->manifest, 1, "%d manifests on the shelf:\n%s", k->manifest, k->text);
	cr_assert_eq(k->state, 1, "no state object on the shelf:\n%s", k->text);
	segs_in_store(s, shelf->st, shelf->prefix, bc);
	for (int i = 0; cls && i < s->n; i++) {
		char key[256];
		struct store_object_info info;
		snprintf(key, sizeof(key), "%stapes/%s/seg/%016" PRIx64, shelf->prefix, bc,
			 s->id[i]);
		cr_assert_eq(store_head(shelf->st, key, &info, &err), 0, "%s", err.msg);
		cr_assert_str_eq(info.storage_class, cls, "%s", key);
	}
	char key[256], state[256];
	size_t got = 0;
	snprintf(key, sizeof(key), "%stapes/%s/state", shelf->prefix, bc);
	cr_assert_eq(store_get(shelf->st, key, 0, sizeof(state) - 1, state, &got, NULL, &err), 0,
		     "%s", err.msg);
	state[got] = 0;
	cr_assert(strstr(state, "state=ARCHIVED"), "%s: %s", key, state);
}

void write_refused(struct iscsi_context *iscsi, int lun)
{
	uint8_t rec[512] = {0}, cdb[6] = {0x0a, 0, 0, 0x02, 0x00, 0};
	struct scsi_task *t =
	    th_cmd(iscsi, lun, cdb, 6, SCSI_XFER_WRITE, sizeof(rec), rec, sizeof(rec));
	cr_assert_not_null(t, "%s", iscsi_get_error(iscsi));
	cr_assert_eq(t->status, SCSI_STATUS_CHECK_CONDITION, "WRITE(6): status %d", t->status);
	cr_assert_eq(t->sense.key, SCSI_SENSE_DATA_PROTECTION, "WRITE(6): sense %x/%04x",
		     t->sense.key, t->sense.ascq);
	scsi_free_scsi_task(t);
}

void tape_in_state(struct vtld_proc *vtl, const char *bc, const char *state)
{
	char out[8192], args[64], want[32];
	snprintf(args, sizeof(args), "--json tape show %s", bc);
	snprintf(want, sizeof(want), "\"%s\"", state);
	vp_ctl_ok(vtl, args, out, sizeof(out));
	cr_assert(strstr(out, want), "%s is not %s: %s", bc, state, out);
}

void shelf_write_tape(const struct shelf_suite *su, const char *bc, uint32_t seed, int big)
{
	char out[8192], args[128];
	snprintf(args, sizeof(args), "tape move %s --to drive:1", bc);
	vp_ctl_ok(su->vtl, args, out, sizeof(out));
	struct iscsi_context *iscsi = vp_login(su->vtl, false);
	th_tur_clear(iscsi, 1);
	th_records_write(iscsi, 1, su->records, seed, big);
	if (su->read_back)
		th_records_verify(iscsi, 1, su->records, seed, big);
	th_logout(iscsi);
	vp_ctl_ok(su->vtl, "drive unload 1", out, sizeof(out));
}

void archive_apart(const struct shelf_suite *su, const char *bc, uint32_t seed, int big,
		   const struct place *lib, const struct place *shelf, const char *cls,
		   const char *named, struct segs *s, struct tape_keys *k)
{
	char out[16384], args[128];
	snprintf(args, sizeof(args), "tape create %s", bc);
	vp_ctl_ok(su->vtl, args, out, sizeof(out));
	shelf_write_tape(su, bc, seed, big);
	vp_wait_uploaded(su->vtl, bc);
	segs_read(su->vtl, s, bc);
	segs_in_store(s, lib->st, lib->prefix, bc);
	snprintf(args, sizeof(args), "tape archive %s --wait", bc);
	vp_ctl_ok(su->vtl, args, out, sizeof(out));
	tape_in_state(su->vtl, bc, "ARCHIVED");
	only_on_shelf(bc, s, lib, shelf, cls, k);
	char dir[PATH_MAX + 64];
	snprintf(dir, sizeof(dir), "%s/tapes/%s", su->vtl->dir, bc);
	cr_assert_neq(access(dir, F_OK), 0, "local copy of an ARCHIVED tape still there");
	snprintf(args, sizeof(args), "events --tape %s --json", bc);
	vp_ctl_ok(su->vtl, args, out, sizeof(out));
	cr_assert(strstr(out, named), "no event names the shelf %s: %s", named, out);
}

void retrieve_apart(const struct shelf_suite *su, const char *bc, uint32_t seed, int big,
		    const struct place *lib, const struct place *shelf,
		    const struct tape_keys *shelved)
{
	char out[8192], args[128];
	snprintf(args, sizeof(args), "tape retrieve %s --wait", bc);
	vp_ctl_ok(su->vtl, args, out, sizeof(out));
	tape_in_state(su->vtl, bc, "RETRIEVED");
	snprintf(args, sizeof(args), "tape move %s --to drive:2", bc);
	vp_ctl_ok(su->vtl, args, out, sizeof(out));
	struct iscsi_context *iscsi = vp_login(su->vtl, false);
	th_tur_clear(iscsi, 2);
	th_records_verify(iscsi, 2, su->records, seed, big);
	write_refused(iscsi, 2);
	th_logout(iscsi);
	vp_ctl_ok(su->vtl, "drive unload 2", out, sizeof(out));
	struct tape_keys k;
	tape_keys(shelf, bc, &k);
	cr_assert_str_eq(k.text, shelved->text, "the shelf changed at retrieval");
	tape_keys(lib, bc, &k);
	cr_assert_eq(k.n, 0, "%s is back in the library's store:\n%s", bc, k.text);
}
