/*
 * fuzz_tape.c - the medium's recovery from damaged files (scsi/tape.c,
 * scsi/tape_disk.c): a real cartridge written once per process (several
 * segments with their indexes, compressed and plain records, filemarks,
 * host attributes, a rewrite in the middle), then for every input a fresh
 * copy of it damaged as the input says and opened, read, positioned,
 * written and reopened through the public tape API.
 *
 * A damaged medium may fail to open or read (-EBADMSG and the like); it
 * must never crash, hang or make the medium API return what is not there
 * (ARCHITECTURE.md: a corrupted segment yields a clear error).
 *
 * Input: up to MAX_EDITS edits, each
 *   u8   what (% 6): flip the bits of one byte, overwrite bytes, truncate,
 *        delete the file, append bytes, set a 32-bit little-endian value
 *   u8   which file (index into the cartridge's files in name order)
 *   u32  offset (modulo the file's size + 1)
 *   then per edit: u8 mask | u8 n + n bytes | - | - | u8 n + n bytes | u32
 * and after the edits (marked by an edit byte of 0xff), u8 and u32 values
 * that steer the reads, locates and spaces.
 *
 * Built with FUZZ_AT_REST (the target fuzz_tape_rest), the cartridge is
 * encrypted at rest (docs/medium-format.md, "Records encrypted at rest")
 * and its data key installed after every open: the damage then meets the
 * record layer's decryption, and a first block that no longer opens makes
 * the key refused, so the key-less refusals run too.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scsi/tape.h"
#include "tests/fuzz/fuzz_util.h"

enum { MAX_EDITS = 16, MAX_FILES = 64, MAX_STEPS = 4000 };

static char template_dir[PATH_MAX];

#ifdef FUZZ_AT_REST
static const uint8_t data_key[TAPE_KEY_LEN] = {
    0x21, 0x9b, 0x3e, 0x70, 0xc4, 0x58, 0x0d, 0xf2, 0x6a, 0x17, 0xe9, 0x84, 0x3b, 0xd6, 0x45, 0xa0,
    0x7c, 0x12, 0xbe, 0x59, 0x03, 0xf8, 0x8d, 0x26, 0x91, 0x4f, 0xe2, 0x6b, 0x38, 0xc7, 0x05, 0xda};
#endif

/* Install the data key of a cartridge encrypted at rest; its refusal of a
 * damaged cartridge is a result like any other. */
static int key_on(struct tape *t)
{
#ifdef FUZZ_AT_REST
	return tape_set_data_key(t, data_key);
#else
	(void)t;
	return 0;
#endif
}
static char files[MAX_FILES][64];
static size_t n_files;

static void must(int rc, const char *what)
{
	if (rc < 0)
		fz_die("template cartridge: %s: %s", what, strerror(-rc));
}

static void write_template(void)
{
	snprintf(template_dir, sizeof(template_dir), "%s/tape", fz_scratch());
	struct tape_info info = {.barcode = "FZT001L8",
				 .serial = "MSNFZT001",
				 .media = TAPE_LTO8,
				 .created = 1700000000};
#ifdef FUZZ_AT_REST
	info.at_rest = true;
#endif
	must(tape_format(template_dir, &info), "format");
	struct tape *t;
	must(tape_open(template_dir, &t), "open");
	must(key_on(t), "data key");
	tape_set_segment_size(t, 8192);
	static uint8_t rec[20000];
	for (size_t i = 0; i < sizeof(rec); i++)
		rec[i] = (uint8_t)(i % 251 < 120 ? 'A' + i % 7 : i * 13);
	static const enum tape_compression comp[] = {TAPE_COMP_NONE, TAPE_COMP_LZ4, TAPE_COMP_ZSTD};
	for (int i = 0; i < 18; i++) {
		tape_set_compression(t, comp[i % 3]);
		must(tape_write(t, rec + i, (uint32_t)(i % 4 == 0 ? 20000 - i : 100 + 300 * i)),
		     "write");
		if (i % 5 == 4)
			must(tape_write_filemarks(t, 1 + (uint32_t)(i % 2)), "filemarks");
	}
	static const uint8_t vendor[] = "VTLFUZZ ";
	struct tape_attr a = {.id = 0x0800, .len = 8, .val = vendor};
	must(tape_set_attrs(t, &a, 1), "attributes");
	must(tape_flush(t), "flush");
	/* Writing in the middle: a shorter valid length, a new segment. */
	must(tape_locate(t, 9), "locate");
	tape_set_compression(t, TAPE_COMP_NONE);
	for (int i = 0; i < 4; i++)
		must(tape_write(t, rec + 100 * i, 3000), "rewrite");
	must(tape_write_filemarks(t, 1), "filemark");
	must(tape_flush(t), "flush");
	must(tape_close(t), "close");

	DIR *d = opendir(template_dir);
	if (!d)
		fz_die("template cartridge: %s", strerror(errno));
	struct dirent *de;
	while ((de = readdir(d)) && n_files < MAX_FILES)
		if (de->d_name[0] != '.')
			snprintf(files[n_files++], sizeof(files[0]), "%s", de->d_name);
	closedir(d);
	qsort(files, n_files, sizeof(files[0]), (int (*)(const void *, const void *))strcmp);
	if (getenv("FUZZ_VERBOSE"))
		for (size_t i = 0; i < n_files; i++) {
			char path[PATH_MAX];
			struct stat sb;
			snprintf(path, sizeof(path), "%s/%s", template_dir, files[i]);
			stat(path, &sb);
			fprintf(stderr, "file %zu: %s, %lld bytes\n", i, files[i],
				(long long)sb.st_size);
		}
}

/* ---- Damage ------------------------------------------------------------ */

static void edit(const char *dir, struct fz_in *in)
{
	uint8_t what = fz_u8(in) % 6;
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", dir, files[fz_u8(in) % n_files]);
	uint32_t off = fz_u32(in);
	struct stat sb;
	if (stat(path, &sb) < 0)
		return; /* deleted by an earlier edit */
	off %= (uint32_t)sb.st_size + 1;
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return;
	uint8_t buf[256];
	size_t n = 0;
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "edit %u of %s (%lld bytes) at %u\n", what, strrchr(path, '/') + 1,
			(long long)sb.st_size, off);
	switch (what) {
	case 0: {
		uint8_t mask = fz_u8(in), b = 0;
		if (pread(fd, &b, 1, off) == 1) {
			b ^= mask ? mask : 1;
			n = pwrite(fd, &b, 1, off) == 1;
		}
		break;
	}
	case 1:
	case 4: {
		const uint8_t *p = fz_bytes(in, fz_u8(in), &n);
		memcpy(buf, p, n);
		n = (size_t)pwrite(fd, buf, n, what == 4 ? (off_t)sb.st_size : (off_t)off);
		break;
	}
	case 2:
		n = ftruncate(fd, off) == 0;
		break;
	case 3:
		unlink(path);
		break;
	default: {
		uint32_t v = fz_u32(in);
		uint8_t le[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
				 (uint8_t)(v >> 24)};
		n = (size_t)pwrite(fd, le, 4, off);
		break;
	}
	}
	(void)n;
	close(fd);
}

/* ---- Use --------------------------------------------------------------- */

static void read_all(struct tape *t, uint8_t *buf, uint32_t cap)
{
	for (int i = 0; i < MAX_STEPS; i++) {
		uint32_t len = 0;
		enum tape_obj kind;
		uint64_t before = tape_pos(t);
		int rc = tape_read(t, buf, cap, &len, &kind);
		if (rc) {
			/* Damaged: reported, and the position unchanged. */
			if (tape_pos(t) != before)
				abort();
			return;
		}
		if (kind == TAPE_EOD) {
			if (tape_pos(t) != tape_eod(t))
				abort();
			return;
		}
		if (tape_pos(t) != before + 1 || (kind == TAPE_FILEMARK && len != 0) ||
		    len > TAPE_MAX_BLOCK)
			abort();
	}
}

static void exercise(struct tape *t, struct fz_in *in)
{
	uint32_t cap = 20000;
	uint8_t *buf = malloc(cap);
	if (!buf)
		fz_die("out of memory");
	read_all(t, buf, cap);
	for (int i = 0; i < 8 && fz_more(in); i++) {
		uint8_t op = fz_u8(in);
		uint32_t v = fz_u32(in);
		int64_t done;
		enum tape_obj stop;
		uint32_t len;
		enum tape_obj kind;
		if (getenv("FUZZ_VERBOSE"))
			fprintf(stderr, "op %d value %u at %llu of %llu\n", op % 7, v,
				(unsigned long long)tape_pos(t), (unsigned long long)tape_eod(t));
		switch (op % 7) {
		case 0:
			tape_locate(t, v % 64);
			break;
		case 1:
			tape_space_blocks(t, (int32_t)v % 40, &done, &stop);
			break;
		case 2:
			tape_space_filemarks(t, (int32_t)v % 8, &done, &stop);
			break;
		case 3:
			tape_read(t, buf, v % (cap + 1), &len, &kind);
			break;
		case 4:
			tape_seek_eod(t);
			break;
		case 5: {
			uint8_t a[TAPE_ATTR_MAX_LEN];
			size_t alen;
			tape_get_attr(t, (uint16_t)(0x0800 + v % 8), a, sizeof(a), &alen);
			break;
		}
		default:
			/* Writing at the position of a damaged tape. */
			if (tape_write(t, buf, 1 + v % 5000) == 0 && (v & 1))
				tape_write_filemarks(t, 1);
			tape_flush(t);
			break;
		}
		if (tape_pos(t) > tape_eod(t))
			abort();
	}
	read_all(t, buf, cap);
	free(buf);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	write_template();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = {data, size};
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/work", fz_scratch());
	if (fz_rm_tree(dir) || fz_copy_tree(template_dir, dir))
		fz_die("cannot copy the template cartridge");
	for (int i = 0; i < MAX_EDITS && fz_more(&in); i++) {
		if (in.p[0] == 0xff) {
			fz_u8(&in);
			break;
		}
		edit(dir, &in);
	}
	struct tape *t;
	int rc = tape_open(dir, &t);
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "open: %d\n", rc);
	if (rc == 0) {
		int key = key_on(t);
		if (getenv("FUZZ_VERBOSE"))
			fprintf(stderr, "data key: %d\n", key);
		exercise(t, &in);
		rc = tape_close(t);
		/* What opened, and what was written to it since, opens again. */
		int again = tape_open(dir, &t);
		if (again) {
			fprintf(stderr,
				"the cartridge opened, was used and closed (%d), and no longer "
				"opens: %d\n",
				rc, again);
			abort();
		}
		uint8_t *buf = malloc(20000);
		if (!buf)
			fz_die("out of memory");
		key_on(t);
		read_all(t, buf, 20000);
		free(buf);
		tape_close(t);
	}
	return 0;
}
