/*
 * test_linked_vtld.c - the default store holds no second copy: with the
 * embedded local store under the data directory (same file system as the
 * cache), the uploader makes each segment that can no longer change an
 * object by a hard link of its file (store_put_file, s3/store.h), and the
 * medium never changes such an inode in place (docs/object-store.md, "No
 * second copy"). The real vtld and vtlctl (tests/iscsi/vtld_proc.c), data
 * written and read through a drive with libiscsi, small segments (the test
 * hook VTL_SEGMENT_SIZE) so that a few tens of MiB make several.
 *
 * What is checked is space and identity (st_blocks of distinct inodes,
 * st_ino, st_nlink) and the bytes, never time.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <iscsi.h>

#include "s3/store.h"
#include "scsi/tape.h"
#include "tests/iscsi/harness.h"
#include "tests/iscsi/vtld_proc.h"
#include "tests/vtl/backlog_check.h"
#include "tests/vtl/shelf_check.h"
#include "tests/tmpdir.h"

#define MB	 (1024LL * 1024)
#define SEG_SIZE "4194304"

static struct vtld_proc vtl;
static char other_fs[64];

static void stop(void)
{
	vp_stop(&vtl);
	unsetenv("VTL_SEGMENT_SIZE");
	if (other_fs[0]) {
		cr_expect_eq(tmpdir_remove(other_fs), 0);
		other_fs[0] = 0;
	}
}

TestSuite(store_linked, .fini = stop, .timeout = 180);

static const uint32_t sizes[] = {1, 512, 80000, 262144, 7, 4096};
static const struct th_records recs = {sizes, sizeof(sizes) / sizeof(sizes[0])};
static const struct shelf_suite suite = {&vtl, &recs, false};

static struct store *open_store(const char *root)
{
	char path[PATH_MAX + 16];
	struct store *st;
	struct store_err se;
	if (!root) {
		snprintf(path, sizeof(path), "%s/store", vtl.dir);
		root = path;
	}
	cr_assert_eq(store_local_open(root, &st, &se), 0, "%s", se.msg);
	return st;
}

/* Bytes on disk under dir, each inode counted once (as du does). */
struct inodes {
	ino_t v[4096];
	int n;
};

static long long disk_use(const char *dir, struct inodes *seen)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	long long sum = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		char p[PATH_MAX];
		struct stat sb;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (lstat(p, &sb))
			continue;
		if (S_ISDIR(sb.st_mode)) {
			sum += disk_use(p, seen);
			continue;
		}
		bool dup = false;
		for (int i = 0; i < seen->n && !dup; i++)
			dup = seen->v[i] == sb.st_ino;
		if (dup)
			continue;
		cr_assert_lt(seen->n, 4096);
		seen->v[seen->n++] = sb.st_ino;
		sum += (long long)sb.st_blocks * 512;
	}
	closedir(d);
	return sum;
}

/* Disk used by tapes/ and store/ of the data directory together. */
static long long data_dir_use(void)
{
	static struct inodes seen;
	char p[PATH_MAX + 16];
	seen.n = 0;
	snprintf(p, sizeof(p), "%s/tapes", vtl.dir);
	long long n = disk_use(p, &seen);
	snprintf(p, sizeof(p), "%s/store", vtl.dir);
	return n + disk_use(p, &seen);
}

/* Segment files of tape bc; for each, whether the store's object is the
 * same inode. Returns how many files; *linked how many share. With
 * settling, a segment the uploader is linking right now (two names, but
 * the object not yet in place) makes it return -1 instead of failing. */
static int segments_of(const char *bc, const char *store_root, int *linked, bool settling)
{
	char dir[PATH_MAX + 64];
	snprintf(dir, sizeof(dir), "%s/tapes/%s", vtl.dir, bc);
	DIR *d = opendir(dir);
	cr_assert_not_null(d, "%s", dir);
	struct dirent *de;
	int n = 0;
	*linked = 0;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (l != 24 || strcmp(de->d_name + 20, ".dat"))
			continue;
		char seg[PATH_MAX + 128], obj[PATH_MAX + 256];
		struct stat a, b;
		snprintf(seg, sizeof(seg), "%s/%s", dir, de->d_name);
		snprintf(obj, sizeof(obj), "%s/objects/tapes@d/%s@d/seg@d/%.16s", store_root, bc,
			 de->d_name + 4);
		cr_assert_eq(stat(seg, &a), 0);
		n++;
		bool same = stat(obj, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev;
		if (settling && a.st_nlink != (same ? 2u : 1u)) {
			closedir(d);
			return -1;
		}
		if (same) {
			cr_assert_eq(a.st_nlink, 2, "%s has %ju names", seg, (uintmax_t)a.st_nlink);
			(*linked)++;
		} else {
			cr_assert_eq(a.st_nlink, 1, "%s has %ju names", seg, (uintmax_t)a.st_nlink);
		}
	}
	closedir(d);
	return n;
}

static int segments(const char *bc, const char *store_root, int *linked)
{
	return segments_of(bc, store_root, linked, false);
}

/* Every segment object of bc reads back whole: every record's CRC32C
 * checks, and its ETag is what it says it is, the medium's digest of its
 * record headers for a linked segment (tape_segment_digest), the MD5 of
 * its bytes for a copied one. */
struct objs {
	char key[32][STORE_KEY_MAX];
	int n;
};

static int collect(void *arg, const struct store_list_entry *e)
{
	struct objs *o = arg;
	if (o->n < 32)
		snprintf(o->key[o->n++], STORE_KEY_MAX, "%s", e->key);
	return 0;
}

static int objects_verify(struct store *st, const char *bc, long long *bytes)
{
	char pfx[64];
	struct objs o = {.n = 0};
	snprintf(pfx, sizeof(pfx), "tapes/%s/seg/", bc);
	struct store_list_opts lo = {.prefix = pfx};
	cr_assert_eq(store_list(st, &lo, collect, &o, NULL), 0);
	*bytes = 0;
	for (int i = 0; i < o.n; i++) {
		struct store_object_info info;
		cr_assert_eq(store_head(st, o.key[i], &info, NULL), 0);
		uint8_t *buf = malloc(info.size + 1);
		size_t got = 0;
		cr_assert_eq(store_get(st, o.key[i], 0, info.size, buf, &got, NULL, NULL), 0);
		cr_assert_eq(got, info.size);
		cr_assert_eq(tape_records_verify(buf, got), 0, "%s: a record is damaged", o.key[i]);
		char want[STORE_ETAG_MAX];
		if (!strncmp(info.etag, TAPE_DIGEST_PREFIX, strlen(TAPE_DIGEST_PREFIX))) {
			int fd = memfd_create("seg", MFD_CLOEXEC);
			cr_assert_geq(fd, 0);
			cr_assert_eq(write(fd, buf, got), (ssize_t)got);
			cr_assert_eq(tape_segment_digest(fd, got, want), 0);
			close(fd);
		} else {
			store_md5_hex(buf, got, want);
		}
		cr_assert_str_eq(want, info.etag, "%s changed after it was put", o.key[i]);
		free(buf);
		*bytes += (long long)info.size;
	}
	return o.n;
}

static long long tape_used(const char *bc)
{
	char out[8192], args[64];
	snprintf(args, sizeof(args), "--json tape show %s", bc);
	vp_ctl_ok(&vtl, args, out, sizeof(out));
	return vp_jint(out, "used_bytes");
}

static long long status_int(const char *key)
{
	char out[16384];
	vp_ctl_ok(&vtl, "--json status", out, sizeof(out));
	return vp_jint(out, key);
}

static long long manifest_gen(const char *bc)
{
	char out[8192], args[64];
	snprintf(args, sizeof(args), "--json tape show %s", bc);
	vp_ctl_ok(&vtl, args, out, sizeof(out));
	return vp_jint(out, "manifest_generation");
}

static int count_objects(struct store *st, const char *bc)
{
	char pfx[64];
	struct objs o = {.n = 0};
	snprintf(pfx, sizeof(pfx), "tapes/%s/seg/", bc);
	struct store_list_opts lo = {.prefix = pfx};
	cr_assert_eq(store_list(st, &lo, collect, &o, NULL), 0);
	return o.n;
}

/* After a change to tape bc whose manifest in the store was generation
 * gen: wait until a newer one is up and the segments it no longer names
 * are gone from the store (the uploader deletes them right after). */
static void wait_settled(struct store *st, const char *bc, long long gen, const char *root)
{
	int linked, n = -1, objs = -2;
	for (int i = 0; i < 600 && (manifest_gen(bc) <= gen || objs != n); i++) {
		usleep(100000);
		/* The uploader is at work: a segment may be mid-link. */
		n = segments_of(bc, root, &linked, true);
		objs = count_objects(st, bc);
	}
	cr_assert_gt(manifest_gen(bc), gen, "no newer manifest of %s in 60 s", bc);
	cr_assert_eq(objs, n, "%d objects for %d segment files", objs, n);
	vp_wait_uploaded(&vtl, bc);
}

static void write_tape(const char *bc, uint32_t seed, int big)
{
	char out[8192], args[64];
	snprintf(args, sizeof(args), "tape create %s", bc);
	vp_ctl_ok(&vtl, args, out, sizeof(out));
	shelf_write_tape(&suite, bc, seed, big);
	vp_wait_uploaded(&vtl, bc);
}

Test(store_linked, the_quick_start_uses_the_disk_space_of_the_data_once)
{
	char out[8192], root[PATH_MAX + 16];
	setenv("VTL_SEGMENT_SIZE", SEG_SIZE, 1);
	vp_start(&vtl, ""); /* the default configuration: the local store */
	snprintf(root, sizeof(root), "%s/store", vtl.dir);
	write_tape("LNK001L8", 3, 24); /* about 25 MiB: 7 segments of 4 MiB */

	int linked, n = segments("LNK001L8", root, &linked);
	cr_assert_geq(n, 6);
	cr_assert_eq(linked, n, "%d of %d segment files are the store's objects", linked, n);
	long long used = tape_used("LNK001L8"), disk = data_dir_use();
	/* The data once, plus metadata: manifests, index sidecars, the
	 * store's sidecars, the catalog's objects; a few blocks each. */
	cr_assert_geq(disk, used);
	cr_assert_leq(disk, used + 1 * MB, "%lld bytes on disk for %lld bytes of tape", disk, used);
	cr_assert_geq(status_int("bytes_linked"), used);
	struct store *st = open_store(NULL);
	compare_store(&vtl, st, "LNK001L8");

	/* Overwrite in the middle (object 14: inside a sealed segment, the
	 * records before it stay): the store's objects keep every byte until
	 * the manifest that drops them is up, then unnamed ones go. */
	long long gen = manifest_gen("LNK001L8");
	vp_ctl_ok(&vtl, "tape move LNK001L8 --to drive:1", out, sizeof(out));
	struct iscsi_context *iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 1);
	th_locate(iscsi, 1, 14);
	uint8_t rec[4096];
	th_pattern(rec, sizeof(rec), 99);
	th_write6(iscsi, 1, rec, sizeof(rec));
	th_filemarks(iscsi, 1, 1);
	th_logout(iscsi);
	vp_ctl_ok(&vtl, "drive unload 1", out, sizeof(out));
	wait_settled(st, "LNK001L8", gen, root);
	long long obytes;
	int nobj = objects_verify(st, "LNK001L8", &obytes);
	n = segments("LNK001L8", root, &linked);
	cr_assert_eq(nobj, n, "%d objects for %d segment files", nobj, n);
	cr_assert_eq(linked, n);
	disk = data_dir_use();
	cr_assert_leq(disk, obytes + 1 * MB, "%lld bytes on disk for %lld in objects", disk,
		      obytes);
	cr_assert_lt(disk, used, "the segments cut off still take space");
	compare_store(&vtl, st, "LNK001L8");
	/* Read back through a drive: the records before 14, the new one. */
	vp_ctl_ok(&vtl, "tape move LNK001L8 --to drive:2", out, sizeof(out));
	iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 2);
	th_locate(iscsi, 2, 13);
	uint8_t *back = malloc(1 << 20);
	th_read6(iscsi, 2, back, 1 << 20); /* object 13, a big record (6 small ones came first) */
	th_read6(iscsi, 2, back, sizeof(rec));
	cr_assert(memcmp(back, rec, sizeof(rec)) == 0);
	free(back);
	th_logout(iscsi);
	vp_ctl_ok(&vtl, "drive unload 2", out, sizeof(out));

	/* Delete: both names go, and the space with them. */
	vp_ctl_ok(&vtl, "tape delete LNK001L8 --force", out, sizeof(out));
	long long left = -1;
	for (int i = 0; i < 300 && left != 0; i++) {
		usleep(100000);
		struct objs o = {.n = 0};
		struct store_list_opts lo = {.prefix = "tapes/LNK001L8/"};
		cr_assert_eq(store_list(st, &lo, collect, &o, NULL), 0);
		char dir[PATH_MAX + 64];
		snprintf(dir, sizeof(dir), "%s/tapes/LNK001L8", vtl.dir);
		left = o.n + (access(dir, F_OK) == 0);
	}
	cr_assert_eq(left, 0, "the deleted tape is still in the cache or the store");
	disk = data_dir_use();
	cr_assert_lt(disk, 1 * MB, "%lld bytes still on disk after the delete", disk);
	store_close(st);
}

/*
 * A crash after the link and before the catalog recorded it (or before the
 * manifest went up): the store holds objects the catalog does not know.
 * The restart links them again, without a third name, a leftover or a
 * byte copied, and puts the manifest.
 */
Test(store_linked, a_crash_between_the_link_and_the_manifest_links_again_and_copies_nothing)
{
	char cmd[PATH_MAX + 512], root[PATH_MAX + 16];
	setenv("VTL_SEGMENT_SIZE", SEG_SIZE, 1);
	vp_start(&vtl, "");
	snprintf(root, sizeof(root), "%s/store", vtl.dir);
	write_tape("CRS001L8", 5, 14);
	vp_kill(&vtl);
	snprintf(cmd, sizeof(cmd),
		 "sqlite3 %s/catalog.db 'DELETE FROM upl_segments; UPDATE upl_tapes SET "
		 "manifest_gen = 0'",
		 vtl.dir);
	cr_assert_eq(system(cmd), 0);
	struct store *st = open_store(NULL);
	char pfx[64] = "tapes/CRS001L8/manifest/";
	struct objs o = {.n = 0};
	struct store_list_opts lo = {.prefix = pfx};
	cr_assert_eq(store_list(st, &lo, collect, &o, NULL), 0);
	cr_assert_eq(o.n, 1);
	cr_assert_eq(store_delete(st, o.key[0], NULL), 0);
	/* And a link left in the killed vtld's session under the store's
	 * tmp/ (its lock went with the process). */
	char seg[PATH_MAX + 64], sess[PATH_MAX + 64], tmpl[PATH_MAX + 96];
	snprintf(seg, sizeof(seg), "%s/tapes/CRS001L8/seg-0000000000000001.dat", vtl.dir);
	snprintf(sess, sizeof(sess), "%s/tmp/s-0123456789abcdef0123456789abcdef", root);
	cr_assert_eq(mkdir(sess, 0700), 0);
	snprintf(tmpl, sizeof(tmpl), "%s/t-0123456789abcdef", sess);
	cr_assert_eq(link(seg, tmpl), 0);

	vp_restart(&vtl);
	vp_wait_uploaded(&vtl, "CRS001L8");
	int linked, n = segments("CRS001L8", root, &linked);
	cr_assert_eq(linked, n);
	cr_assert_eq(access(sess, F_OK), -1, "the store's tmp/ was not emptied");
	cr_assert_eq(status_int("bytes_sent"), 0, "bytes were copied after the restart");
	cr_assert_eq(status_int("parts_sent"), 0);
	cr_assert_geq(status_int("objects_linked"), n);
	o.n = 0;
	cr_assert_eq(store_list(st, &lo, collect, &o, NULL), 0);
	cr_assert_eq(o.n, 1, "the manifest was not put again");
	long long b;
	cr_assert_eq(objects_verify(st, "CRS001L8", &b), n);
	compare_store(&vtl, st, "CRS001L8");
	store_close(st);
}

/* With cache_limit: segments the store holds as the same file cost the
 * cache nothing and are never evicted (that would free no space), and
 * back-pressure still lets the writes through. */
Test(store_linked, linked_segments_are_neither_counted_nor_evicted_by_the_cache)
{
	char root[PATH_MAX + 16];
	setenv("VTL_SEGMENT_SIZE", SEG_SIZE, 1);
	vp_start(&vtl, "[store]\ncache_limit = 6M\npart_size = 5M\n");
	snprintf(root, sizeof(root), "%s/store", vtl.dir);
	write_tape("EVI001L8", 7, 24);
	int linked, n = segments("EVI001L8", root, &linked);
	cr_assert_eq(linked, n);
	cr_assert_eq(status_int("evicted_segments"), 0);
	cr_assert_leq(status_int("used_bytes"), 6 * MB);
	long long used = tape_used("EVI001L8");
	cr_assert_leq(data_dir_use(), used + 1 * MB);
}

/* The uploader's rounds so far (vtlctl status: rounds.full + partial). */
static long long rounds_so_far(void)
{
	char out[16384];
	vp_ctl_ok(&vtl, "--json status", out, sizeof(out));
	const char *at = strstr(out, "\"rounds\"");
	cr_assert_not_null(at, "no rounds in the status: %s", out);
	return vp_jint(at, "full") + vp_jint(at, "partial");
}

/*
 * Right after a start nothing has been linked yet, and the first tape
 * written stays in its drive: its growing segment must not go up as parts
 * either (they would be thrown away at the seal or the unload, after
 * having written every byte a second time). Regression: the uploader sent
 * them until its first link succeeded.
 */
Test(store_linked, a_segment_growing_after_a_start_is_not_copied)
{
	char out[8192], root[PATH_MAX + 16];
	vp_start(&vtl, "[store]\npart_size = 5M\nidle_complete = 86400\n");
	snprintf(root, sizeof(root), "%s/store", vtl.dir);
	vp_ctl_ok(&vtl, "tape create GRO001L8", out, sizeof(out));
	vp_ctl_ok(&vtl, "tape move GRO001L8 --to drive:1", out, sizeof(out));
	struct iscsi_context *iscsi = vp_login(&vtl, false);
	th_tur_clear(iscsi, 1);
	/* About 15 MiB (two full parts) and a filemark: the manifest names
	 * them. */
	th_records_write(iscsi, 1, &recs, 11, 14);
	long long gen = manifest_gen("GRO001L8");
	/* Rounds that read that manifest: a tape in a drive is in each. */
	long long r0 = rounds_so_far();
	for (int i = 0; i < 600 && rounds_so_far() < r0 + 3; i++)
		usleep(100000);
	cr_assert_geq(rounds_so_far(), r0 + 3, "no three uploader rounds in 60 s");
	cr_assert_eq(manifest_gen("GRO001L8"), gen);
	cr_assert_geq(tape_used("GRO001L8"), 10 * MB);
	cr_assert_eq(status_int("parts_sent"), 0, "the growing segment went up as parts");
	cr_assert_eq(status_int("bytes_sent"), 0);
	vp_ctl_ok(&vtl, "--json tape show GRO001L8", out, sizeof(out));
	cr_assert(strstr(out, "becomes an object without a copy when it is full or the tape is "
			      "unloaded"),
		  "%s", out);
	/* Out of the drive it is linked, and nothing was copied. */
	th_logout(iscsi);
	vp_ctl_ok(&vtl, "drive unload 1", out, sizeof(out));
	vp_wait_uploaded(&vtl, "GRO001L8");
	int linked, n = segments("GRO001L8", root, &linked);
	cr_assert_eq(n, 1);
	cr_assert_eq(linked, 1);
	cr_assert_eq(status_int("parts_sent"), 0);
	cr_assert_eq(status_int("bytes_sent"), 0);
	struct store *st = open_store(NULL);
	compare_store(&vtl, st, "GRO001L8");
	store_close(st);
}

/* A local store on another file system (tmpfs here): known at start (the
 * devices differ), and every segment is copied; the cache is a cache. */
Test(store_linked, a_store_on_another_file_system_gets_copies)
{
	char conf[256];
	struct stat a, b;
	snprintf(other_fs, sizeof(other_fs), "/dev/shm/vtl-linked-%d", (int)getpid());
	cr_assert_eq(mkdir(other_fs, 0700), 0);
	cr_assert_eq(stat("/tmp", &a), 0);
	cr_assert_eq(stat(other_fs, &b), 0);
	cr_assert_neq(a.st_dev, b.st_dev, "/dev/shm is not another file system here");
	setenv("VTL_SEGMENT_SIZE", SEG_SIZE, 1);
	snprintf(conf, sizeof(conf), "[store]\npath = %s\npart_size = 5M\n", other_fs);
	vp_start(&vtl, conf);
	write_tape("XFS001L8", 9, 14);
	int linked, n = segments("XFS001L8", other_fs, &linked);
	cr_assert_geq(n, 3);
	cr_assert_eq(linked, 0);
	cr_assert_eq(status_int("objects_linked"), 0);
	cr_assert_gt(status_int("parts_sent"), 0);
	struct store *st = open_store(other_fs);
	compare_store(&vtl, st, "XFS001L8");
	store_close(st);
	/* Known at start, and said once. */
	cr_assert_eq(log_count(&vtl, "segments are copied to the store: its directory is on "
				     "another file system than"),
		     1, "the copies are not explained in %s", vtl.log);
}
