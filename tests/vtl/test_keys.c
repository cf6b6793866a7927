/*
 * test_keys.c - the key hierarchy of library-managed encryption
 * (vtl/keys.h): master keys from a private file and from a command (a
 * real /bin/sh), wrapping bound to a tape, and the rotation that rewraps
 * every tape's data key, on a real SQLite catalog, publishing to a real
 * local-directory store, killed in the middle with SIGKILL and resumed.
 * After each run the catalog and the store are searched for every key's
 * bytes, raw and as base64.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "catalog/catalog.h"
#include "catalog/catalog_key.h"
#include "s3/store.h"
#include "tests/tmpdir.h"
#include "vtl/keys.h"

#define NTAPES 5

static char dir[64], dbpath[128], storedir[128];
static struct cat *C;
static char barcodes[NTAPES][16];
static unsigned char dks[NTAPES][KEY_BYTES];

static void random_master(struct key_master *m)
{
	unsigned char k[KEY_BYTES];
	cr_assert_eq(RAND_bytes(k, KEY_BYTES), 1);
	cr_assert_eq(key_master_set(m, k), 0);
}

/* A catalog with NTAPES tapes, each with a data key wrapped by `m`. */
static void catalog_with_keys(const struct key_master *m)
{
	struct cat_library l = {.vendor = "STK",
				.product = "L700",
				.revision = "0107",
				.serial = "VLKEY0001",
				.drive_vendor = "IBM",
				.drive_media = "LTO-8"};
	l.base[CAT_TRANSPORT] = 1;
	l.count[CAT_TRANSPORT] = 1;
	l.base[CAT_IE] = 10;
	l.count[CAT_IE] = 1;
	l.base[CAT_DRIVE] = 500;
	l.count[CAT_DRIVE] = 1;
	l.base[CAT_STORAGE] = 1000;
	l.count[CAT_STORAGE] = NTAPES;
	struct cat_drive d = {.lun = 1, .serial = "D1"};
	cr_assert_eq(cat_library_create(C, &l, &d, 1), 0);
	struct cat_tape t[NTAPES];
	memset(t, 0, sizeof(t));
	for (int i = 0; i < NTAPES; i++) {
		snprintf(t[i].barcode, sizeof(t[i].barcode), "KEY%03dL8", i);
		snprintf(barcodes[i], sizeof(barcodes[i]), "%s", t[i].barcode);
		strcpy(t[i].media, "LTO-8");
		t[i].capacity = 12000000000000ull;
	}
	cr_assert_eq(cat_tape_create(C, t, NTAPES, "test", NULL), 0);
	for (int i = 0; i < NTAPES; i++) {
		char w[KEY_WRAPPED_MAX];
		cr_assert_eq(key_data_new(dks[i]), 0);
		cr_assert_eq(key_wrap(m, barcodes[i], dks[i], w), 0);
		cr_assert_eq(cat_key_set(C, barcodes[i], w, m->id), 0);
	}
}

static void setup(void)
{
	tmpdir_make(dir, sizeof(dir), "keys");
	snprintf(dbpath, sizeof(dbpath), "%s/catalog.db", dir);
	snprintf(storedir, sizeof(storedir), "%s/store", dir);
	cr_assert_eq(cat_open(dbpath, &C), 0);
}

static void teardown(void)
{
	if (C)
		cat_close(C);
	C = NULL;
	tmpdir_remove(dir);
}

TestSuite(keys, .init = setup, .fini = teardown, .timeout = 60);

/* ---- where master keys live ------------------------------------------- */

/* From /proc/self/smaps, the mapping that holds addr: its Locked: kB and
 * whether its VmFlags has "dd" (do not dump). */
static void mapping_of(const void *addr, long *locked_kb, bool *dontdump)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	cr_assert_not_null(f);
	char line[512];
	bool in = false, found = false;
	*locked_kb = -1;
	*dontdump = false;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			in = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
			found |= in;
		} else if (in && strncmp(line, "Locked:", 7) == 0) {
			*locked_kb = strtol(line + 7, NULL, 10);
		} else if (in && strncmp(line, "VmFlags:", 8) == 0) {
			*dontdump = strstr(line, " dd") != NULL;
		}
	}
	fclose(f);
	cr_assert(found, "no mapping holds %p", addr);
}

Test(keys, master_keys_live_in_locked_memory_that_core_dumps_leave_out)
{
	bool locked = false;
	struct key_master *m = key_master_alloc(2, &locked);
	cr_assert_not_null(m);
	unsigned char k[KEY_BYTES];
	memset(k, 0x42, sizeof(k));
	cr_assert_eq(key_master_set(&m[1], k), 0);
	long kb;
	bool dd;
	mapping_of(&m[1], &kb, &dd);
	cr_assert(dd, "the keys' mapping is not left out of core dumps");
	/* mlock is refused only under a RLIMIT_MEMLOCK below one page.
	 * AddressSanitizer replaces mlock with a no-op that returns 0, so an
	 * ASan build cannot see the lock (CI's sanitizer pass). */
	struct rlimit rl;
	cr_assert_eq(getrlimit(RLIMIT_MEMLOCK, &rl), 0);
	if (rl.rlim_cur >= (rlim_t)sysconf(_SC_PAGESIZE)) {
		cr_assert(locked);
#ifndef __SANITIZE_ADDRESS__
		cr_assert_gt(kb, 0, "the keys' mapping is not locked");
#endif
	}
	key_master_free(m, 2);
}

/* ---- wrapping --------------------------------------------------------- */

Test(keys, a_wrap_opens_for_its_tape_under_its_master_only)
{
	struct key_master m, other;
	random_master(&m);
	random_master(&other);
	cr_assert_str_neq(m.id, other.id);
	cr_assert_eq(strlen(m.id), KEY_ID_LEN);
	unsigned char dk[KEY_BYTES], back[KEY_BYTES];
	char w[KEY_WRAPPED_MAX], w2[KEY_WRAPPED_MAX], id[KEY_ID_LEN + 1];
	cr_assert_eq(key_data_new(dk), 0);
	cr_assert_eq(key_wrap(&m, "AAA001L8", dk, w), 0);
	cr_assert_eq(key_wrap(&m, "AAA001L8", dk, w2), 0);
	cr_assert_str_neq(w, w2, "two wraps with one nonce");
	cr_assert_eq(key_wrapped_master(w, id), 0);
	cr_assert_str_eq(id, m.id);
	cr_assert_eq(key_unwrap(&m, "AAA001L8", w, back), 0);
	cr_assert(memcmp(dk, back, KEY_BYTES) == 0);
	/* Another tape's wrap, another master, a changed byte, not a wrap. */
	cr_assert_eq(key_unwrap(&m, "AAA002L8", w, back), -EKEYREJECTED);
	cr_assert_eq(key_unwrap(&other, "AAA001L8", w, back), -ENOKEY);
	char bad[KEY_WRAPPED_MAX];
	snprintf(bad, sizeof(bad), "%s", w);
	size_t at = strlen(bad) - 10;
	bad[at] = bad[at] == 'A' ? 'B' : 'A';
	cr_assert_eq(key_unwrap(&m, "AAA001L8", bad, back), -EKEYREJECTED);
	cr_assert_eq(key_unwrap(&m, "AAA001L8", "v1:nothex:AAAA", back), -EINVAL);
	cr_assert_eq(key_wrapped_master("not a wrap", id), -EINVAL);
	/* The same key gives the same id. */
	struct key_master again;
	cr_assert_eq(key_master_set(&again, m.key), 0);
	cr_assert_str_eq(again.id, m.id);
	key_master_wipe(&m);
	unsigned char zero[sizeof(m)] = {0};
	cr_assert(memcmp(&m, zero, sizeof(m)) == 0, "the master key was not wiped");
}

/* ---- master keys from a file and from a command ---------------------- */

static void write_file(const char *path, const void *data, size_t n, mode_t mode)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(data, 1, n, f), n);
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(chmod(path, mode), 0);
}

Test(keys, a_master_key_file_must_be_private_and_hold_a_key)
{
	unsigned char k[KEY_BYTES];
	cr_assert_eq(RAND_bytes(k, KEY_BYTES), 1);
	struct key_master want, m;
	cr_assert_eq(key_master_set(&want, k), 0);
	char path[128], b64[64], err[512];
	EVP_EncodeBlock((unsigned char *)b64, k, KEY_BYTES);
	strcat(b64, "\n");
	snprintf(path, sizeof(path), "%s/master.key", dir);

	write_file(path, b64, strlen(b64), 0600);
	cr_assert_eq(key_master_from_file(path, &m, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(m.id, want.id);
	write_file(path, k, KEY_BYTES, 0400);
	cr_assert_eq(key_master_from_file(path, &m, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(m.id, want.id);

	write_file(path, b64, strlen(b64), 0640);
	cr_assert_eq(key_master_from_file(path, &m, err, sizeof(err)), -EPERM);
	cr_assert(strstr(err, path) && strstr(err, "chmod 600") && strstr(err, "0640"), "%s", err);
	cr_assert_null(strstr(err, b64), "the key is in the message");

	write_file(path, "c2hvcnQ=\n", 9, 0600);
	cr_assert_eq(key_master_from_file(path, &m, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "openssl rand -base64 32"), "%s", err);

	char link[160];
	write_file(path, b64, strlen(b64), 0600);
	snprintf(link, sizeof(link), "%s/link.key", dir);
	cr_assert_eq(symlink(path, link), 0);
	cr_assert_eq(key_master_from_file(link, &m, err, sizeof(err)), -ELOOP);
	cr_assert(strstr(err, "symbolic link"), "%s", err);
}

Test(keys, a_key_command_gives_the_key_on_stdout_and_its_failures_are_named)
{
	unsigned char k[KEY_BYTES];
	cr_assert_eq(RAND_bytes(k, KEY_BYTES), 1);
	struct key_master want, m;
	cr_assert_eq(key_master_set(&want, k), 0);
	char b64[64], cmd[256], err[512];
	EVP_EncodeBlock((unsigned char *)b64, k, KEY_BYTES);
	snprintf(cmd, sizeof(cmd), "echo 'from the vault' >&2; printf '%%s\\n' '%s'", b64);
	cr_assert_eq(key_master_from_command(cmd, 5, &m, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(m.id, want.id);

	cr_assert_eq(
	    key_master_from_command("echo 'vault sealed' >&2; exit 3", 5, &m, err, sizeof(err)),
	    -ECHILD);
	cr_assert(strstr(err, "exit status 3") && strstr(err, "vault sealed"), "%s", err);

	cr_assert_eq(key_master_from_command("echo 'not a key'", 5, &m, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "neither"), "%s", err);

	cr_assert_eq(key_master_from_command("sleep 30", 1, &m, err, sizeof(err)), -ETIMEDOUT);
	cr_assert(strstr(err, "within 1 s"), "%s", err);
}

/* ---- rotation --------------------------------------------------------- */

struct pub {
	struct store *st;
	int kill_after_publish; /* SIGKILL after publishing this many (0: never) */
	int published;
};

/* The new wrap to the store, as tapes/BC/KEY. */
static int publish(void *arg, const char *bc, const char *wrapped, char *err, size_t errlen)
{
	struct pub *p = arg;
	char key[128];
	struct store_err se;
	snprintf(key, sizeof(key), "tapes/%s/KEY", bc);
	int rc = store_put(p->st, key, wrapped, strlen(wrapped), NULL, NULL, &se);
	if (rc) {
		snprintf(err, errlen, "%s", se.msg);
		return rc;
	}
	if (p->kill_after_publish && ++p->published == p->kill_after_publish)
		raise(SIGKILL); /* before the catalog commit */
	return 0;
}

struct prog {
	size_t calls, last_done, last_total;
	size_t kill_at; /* SIGKILL after this many tapes (0: never) */
};

static int progress(void *arg, size_t done, size_t total, const char *bc)
{
	struct prog *p = arg;
	(void)bc;
	p->calls++;
	p->last_done = done;
	p->last_total = total;
	if (p->kill_at && done == p->kill_at)
		raise(SIGKILL); /* after the catalog commit of that tape */
	return 0;
}

static struct store *open_store(void)
{
	struct store *st;
	struct store_err se;
	cr_assert_eq(store_local_open(storedir, &st, &se), 0, "%s", se.msg);
	return st;
}

/* Every tape's key is wrapped by m, opens to the data key it had, and the
 * store's KEY (when published) opens too. */
static void all_under(const struct key_master *m, struct store *st)
{
	for (int i = 0; i < NTAPES; i++) {
		struct cat_key_row r;
		unsigned char dk[KEY_BYTES];
		cr_assert_eq(cat_key_get(C, barcodes[i], &r), 0);
		cr_assert_str_eq(r.master_id, m->id, "%s", barcodes[i]);
		cr_assert_eq(key_unwrap(m, barcodes[i], r.wrapped, dk), 0, "%s", barcodes[i]);
		cr_assert(memcmp(dk, dks[i], KEY_BYTES) == 0, "%s: another data key", barcodes[i]);
		if (st) {
			char key[128], text[KEY_WRAPPED_MAX];
			size_t got;
			struct store_err se;
			snprintf(key, sizeof(key), "tapes/%s/KEY", barcodes[i]);
			cr_assert_eq(store_get(st, key, 0, sizeof(text) - 1, text, &got, NULL, &se),
				     0, "%s", se.msg);
			text[got] = 0;
			cr_assert_eq(key_unwrap(m, barcodes[i], text, dk), 0, "%s", key);
		}
	}
}

/* No file under dir holds `len` bytes of k, nor their base64. */
static void nowhere(const unsigned char *k, size_t len, const char *what)
{
	char b64[64], cmd[512];
	EVP_EncodeBlock((unsigned char *)b64, k, (int)len);
	char hex[2 * KEY_BYTES + 1];
	for (size_t i = 0; i < len; i++)
		snprintf(hex + 2 * i, 3, "%02x", k[i]);
	/* grep -F with the raw bytes would need escaping: search with a small
	 * C scan instead, file by file. */
	snprintf(cmd, sizeof(cmd), "find '%s' -type f", dir);
	FILE *f = popen(cmd, "r");
	cr_assert_not_null(f);
	char path[512];
	while (fgets(path, sizeof(path), f)) {
		path[strcspn(path, "\n")] = 0;
		FILE *g = fopen(path, "rb");
		if (!g)
			continue;
		static char buf[4 << 20];
		size_t n = fread(buf, 1, sizeof(buf), g);
		fclose(g);
		cr_assert_null(memmem(buf, n, k, len), "%s in clear in %s", what, path);
		cr_assert_null(memmem(buf, n, b64, strlen(b64)), "%s as base64 in %s", what, path);
		cr_assert_null(memmem(buf, n, hex, strlen(hex)), "%s as hex in %s", what, path);
	}
	pclose(f);
}

Test(keys, rotation_rewraps_every_key_with_progress_and_no_key_lands_anywhere)
{
	struct key_master old, cur;
	random_master(&old);
	random_master(&cur);
	catalog_with_keys(&old);
	struct store *st = open_store();
	struct pub pb = {.st = st};
	struct prog pg = {0};
	struct key_rotation r;
	char err[512] = "";
	cr_assert_eq(key_rotate(C, &cur, &old, publish, &pb, progress, &pg, &r, err, sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(r.total, NTAPES);
	cr_assert_eq(r.rewrapped, NTAPES);
	cr_assert_eq(pg.calls, NTAPES);
	cr_assert_eq(pg.last_done, NTAPES);
	cr_assert_eq(pg.last_total, NTAPES);
	all_under(&cur, st);
	/* Done is done: a second run finds nothing to do. */
	cr_assert_eq(key_rotate(C, &cur, &old, publish, &pb, NULL, NULL, &r, err, sizeof(err)), 0);
	cr_assert_eq(r.total, 0);
	store_close(st);
	cat_close(C);
	C = NULL;
	nowhere(old.key, KEY_BYTES, "the old master key");
	nowhere(cur.key, KEY_BYTES, "the new master key");
	for (int i = 0; i < NTAPES; i++)
		nowhere(dks[i], KEY_BYTES, "a data key");
}

Test(keys, rotation_without_the_previous_key_refuses_and_changes_nothing)
{
	struct key_master old, cur, stranger;
	random_master(&old);
	random_master(&cur);
	random_master(&stranger);
	catalog_with_keys(&old);
	struct key_rotation r;
	char err[512] = "";
	cr_assert_eq(key_rotate(C, &cur, NULL, NULL, NULL, NULL, NULL, &r, err, sizeof(err)),
		     -ENOKEY);
	cr_assert(strstr(err, barcodes[0]) && strstr(err, old.id) && strstr(err, cur.id) &&
		      strstr(err, "previous_key_file"),
		  "%s", err);
	cr_assert_eq(key_rotate(C, &cur, &stranger, NULL, NULL, NULL, NULL, &r, err, sizeof(err)),
		     -ENOKEY);
	cr_assert_eq(r.rewrapped, 0);
	all_under(&old, NULL);
}

/* Run a rotation in a child that SIGKILLs itself as pub/prog say; the
 * parent's catalog connection is closed meanwhile, as after a crash. */
static void rotate_and_die(const struct key_master *cur, const struct key_master *old,
			   int kill_after_publish, size_t kill_at)
{
	cat_close(C);
	C = NULL;
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct cat *c;
		if (cat_open(dbpath, &c))
			_exit(2);
		struct store *st = open_store();
		struct pub pb = {.st = st, .kill_after_publish = kill_after_publish};
		struct prog pg = {.kill_at = kill_at};
		struct key_rotation r;
		char err[512];
		key_rotate(c, cur, old, publish, &pb, progress, &pg, &r, err, sizeof(err));
		_exit(3); /* should have been killed */
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "status %#x", status);
	cr_assert_eq(cat_open(dbpath, &C), 0);
}

static size_t count_under(const char *id)
{
	struct cat_key_row *rows;
	size_t n;
	cr_assert_eq(cat_key_list(C, NULL, &rows, &n), 0);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		k += !strcmp(rows[i].master_id, id);
	free(rows);
	return k;
}

Test(keys, rotation_killed_after_a_commit_or_before_one_resumes_where_it_stopped)
{
	struct key_master old, cur;
	random_master(&old);
	random_master(&cur);
	catalog_with_keys(&old);
	/* Killed right after the second tape's commit. */
	rotate_and_die(&cur, &old, 0, 2);
	cr_assert_eq(count_under(cur.id), 2);
	cr_assert_eq(count_under(old.id), NTAPES - 2);
	/* Killed after the next tape's wrap was published, before its commit:
	 * the store has the new wrap, the catalog the old one. */
	rotate_and_die(&cur, &old, 1, 0);
	cr_assert_eq(count_under(cur.id), 2);
	struct store *st = open_store();
	struct key_rotation r;
	char err[512] = "";
	struct prog pg = {0};
	struct pub pb = {.st = st};
	cr_assert_eq(key_rotate(C, &cur, &old, publish, &pb, progress, &pg, &r, err, sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(r.total, NTAPES - 2);
	cr_assert_eq(r.rewrapped, NTAPES - 2);
	cr_assert_eq(pg.last_total, NTAPES - 2);
	cr_assert_eq(count_under(cur.id), NTAPES);
	/* Every data key is the one it was; the two tapes done before the
	 * first kill were published then. */
	all_under(&cur, st);
	store_close(st);
}

Test(keys, the_catalog_refuses_a_key_row_for_an_unknown_tape_or_a_bad_id)
{
	struct key_master m;
	random_master(&m);
	catalog_with_keys(&m);
	cr_assert_eq(cat_key_set(C, "NOPE01L8", "v1:x", m.id), -ENOENT);
	cr_assert_eq(cat_key_set(C, barcodes[0], "", m.id), -EINVAL);
	cr_assert_eq(cat_key_set(C, barcodes[0], "v1:x", "short"), -EINVAL);
	struct cat_key_row r;
	cr_assert_eq(cat_key_get(C, "NOPE01L8", &r), -ENOENT);
	cat_close(C);
	C = NULL;
	cr_assert_eq(cat_open(dbpath, &C), 0);
	cr_assert_eq(cat_key_get(C, barcodes[3], &r), 0);
	cr_assert_str_eq(r.master_id, m.id);
}
