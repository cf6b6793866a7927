/*
 * fuzz_util.c - scratch directories, tree copies and the template library
 * the fuzz targets share (see fuzz_util.h).
 */
#include "config.h"

#include "tests/fuzz/fuzz_util.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scsi/be.h"
#include "scsi/scsi.h"
#include "scsi/spc.h"
#include "scsi/tape.h"
#include "vtl/library.h"

void fz_die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("fuzz harness: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

/* ---- Directories ------------------------------------------------------- */

static char scratch[PATH_MAX];

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(p);
	return 0;
}

int fz_rm_tree(const char *path)
{
	struct stat sb;
	if (lstat(path, &sb) < 0)
		return errno == ENOENT ? 0 : -errno;
	return nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) ? -errno : 0;
}

static void scratch_cleanup(void)
{
	if (scratch[0])
		fz_rm_tree(scratch);
}

const char *fz_scratch(void)
{
	if (scratch[0])
		return scratch;
	/* tmpfs where there is one: the medium and the catalog fsync, which
	 * costs nothing there and would dominate every run on a disk. */
	const char *base = getenv("FUZZ_SCRATCH");
	if (!base || !*base)
		base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
	if (!base || !*base)
		base = "/tmp";
	snprintf(scratch, sizeof(scratch), "%s/vtl-fuzz-XXXXXX", base);
	if (!mkdtemp(scratch))
		fz_die("cannot make a scratch directory under %s: %s", base, strerror(errno));
	atexit(scratch_cleanup);
	return scratch;
}

static const char *copy_src, *copy_dst;

static int copy_file(const char *from, const char *to)
{
	int in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -errno;
	int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0) {
		int e = -errno;
		close(in);
		return e;
	}
	char buf[65536];
	ssize_t n;
	int rc = 0;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			rc = -EIO;
			break;
		}
	if (n < 0)
		rc = -errno;
	close(in);
	close(out);
	return rc;
}

static int copy_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	char to[PATH_MAX];
	if (snprintf(to, sizeof(to), "%s%s", copy_dst, p + strlen(copy_src)) >= (int)sizeof(to))
		return -ENAMETOOLONG;
	if (flag == FTW_D)
		return mkdir(to, 0700) ? -errno : 0;
	if (flag == FTW_F)
		return copy_file(p, to);
	return 0; /* the control socket and the like are not copied */
}

int fz_copy_tree(const char *src, const char *dst)
{
	copy_src = src;
	copy_dst = dst;
	return nftw(src, copy_entry, 16, FTW_PHYS);
}

/* ---- The template library ---------------------------------------------- */

enum { NEXUS = 0x5eed };

static struct scsi_cmd *cmd_init(struct scsi_cmd *c, const uint8_t *cdb, uint8_t len,
				 const void *out, uint32_t out_len)
{
	memset(c, 0, sizeof(*c));
	memcpy(c->cdb, cdb, len);
	c->cdb_len = len;
	c->nexus = NEXUS;
	c->out = out;
	c->out_len = out_len;
	return c;
}

/* Run a command on the template's drive; unit attentions are taken first. */
static void drive_cmd(struct scsi_dev *d, const uint8_t *cdb, uint8_t len, const void *out,
		      uint32_t out_len)
{
	struct scsi_cmd c;
	static const uint8_t tur[6] = {TEST_UNIT_READY};
	for (int i = 0; i < 8; i++) {
		spc_dispatch(d, cmd_init(&c, tur, 6, NULL, 0));
		if (c.status == SAM_STAT_GOOD)
			break;
	}
	spc_dispatch(d, cmd_init(&c, cdb, len, out, out_len));
	if (c.status != SAM_STAT_GOOD)
		fz_die("template: command 0x%02x failed (sense key %x, %02x/%02x)", cdb[0],
		       c.sense_len > 2 ? c.sense[2] & 0xf : 0, c.sense_len > 12 ? c.sense[12] : 0,
		       c.sense_len > 13 ? c.sense[13] : 0);
}

static void write_records(struct scsi_dev *d)
{
	static uint8_t rec[40000];
	for (size_t i = 0; i < sizeof(rec); i++)
		rec[i] = (uint8_t)(i * 7 + (i >> 8));
	static const uint32_t sizes[] = {1, 512, 40000, 37, 40000, 4096, 40000, 80};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t w6[6] = {WRITE_6};
		put_be24(w6 + 2, sizes[i]);
		drive_cmd(d, w6, 6, rec, sizes[i]);
		if (i == 2 || i == 5) {
			uint8_t fm[6] = {WRITE_FILEMARKS_6, 0, 0, 0, 1, 0};
			drive_cmd(d, fm, 6, NULL, 0);
		}
	}
	/* Host attributes (SPC-4 7.4.2.4): application vendor and name. */
	uint8_t attrs[4 + 5 + 8 + 5 + 32];
	memset(attrs, 0, sizeof(attrs));
	put_be32(attrs, sizeof(attrs) - 4);
	put_be16(attrs + 4, 0x0800);
	attrs[6] = 0x01; /* ASCII */
	put_be16(attrs + 7, 8);
	memcpy(attrs + 9, "VTLFUZZ ", 8);
	put_be16(attrs + 17, 0x0801);
	attrs[19] = 0x01;
	put_be16(attrs + 20, 32);
	memset(attrs + 22, ' ', 32);
	memcpy(attrs + 22, "fuzz template", 13);
	uint8_t wa[16] = {WRITE_ATTRIBUTE};
	put_be32(wa + 10, sizeof(attrs));
	drive_cmd(d, wa, 16, attrs, sizeof(attrs));
	uint8_t rw[6] = {REWIND};
	drive_cmd(d, rw, 6, NULL, 0);
}

static char template_dir[PATH_MAX];

static void lib_config(struct lib_config *cfg, const char *dir)
{
	lib_config_defaults(cfg);
	snprintf(cfg->data_dir, sizeof(cfg->data_dir), "%s", dir);
	cfg->n_drives = FZ_DRIVES;
	cfg->n_slots = 6;
	cfg->n_ie = 2;
}

const char *fz_lib_template(void)
{
	if (template_dir[0])
		return template_dir;
	/* Small segments, so that a few records make several, each with its
	 * index: the paths of a long tape at the cost of a short one. */
	static const struct tape_hooks hooks = {.segment_size = 32768};
	tape_set_hooks(&hooks);

	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/template", fz_scratch());
	struct lib_config cfg;
	lib_config(&cfg, dir);
	char err[LIB_ERR_MAX];
	struct lib *lib;
	if (lib_open(&cfg, &lib, err, sizeof(err)))
		fz_die("template: lib_open %s: %s", dir, err);
	static const char *const b[] = {"FZA001L8", "FZA002L8", "FZA003L7", "FZB001L6"};
	struct lib_create c = {.barcodes = b, .n = 4};
	if (lib_tape_create(lib, &c, NULL, NULL, err, sizeof(err)) ||
	    lib_tape_move(lib, "FZA001L8", CAT_DRIVE, 1, err, sizeof(err)))
		fz_die("template: %s", err);
	write_records(lib_drive(lib, 0));
	lib_close(lib);
	/* The inputs write with larger segments: each seal rewrites the
	 * manifest, so thousands of 32 KiB segments (WRITE FILEMARKS may ask
	 * for 16 million filemarks) would measure the harness's setting, not
	 * the medium. */
	static const struct tape_hooks input_hooks = {.segment_size = 1u << 20};
	tape_set_hooks(&input_hooks);
	snprintf(template_dir, sizeof(template_dir), "%s", dir);
	return template_dir;
}

struct lib *fz_lib_open_copy(void)
{
	const char *tmpl = fz_lib_template();
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/work", fz_scratch());
	int rc = fz_rm_tree(dir);
	if (!rc)
		rc = fz_copy_tree(tmpl, dir);
	if (rc)
		fz_die("cannot copy %s to %s: %s", tmpl, dir, strerror(rc < 0 ? -rc : EIO));
	struct lib_config cfg;
	lib_config(&cfg, dir);
	char err[LIB_ERR_MAX];
	struct lib *lib;
	if (lib_open(&cfg, &lib, err, sizeof(err)))
		fz_die("lib_open %s: %s", dir, err);
	return lib;
}

void fz_lib_close(struct lib *lib)
{
	lib_close(lib);
}

/* ---- Input cursor ------------------------------------------------------ */

bool fz_more(const struct fz_in *in)
{
	return in->n > 0;
}

uint8_t fz_u8(struct fz_in *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

uint16_t fz_u16(struct fz_in *in)
{
	uint16_t hi = fz_u8(in);
	return (uint16_t)(hi << 8 | fz_u8(in));
}

uint32_t fz_u32(struct fz_in *in)
{
	uint32_t hi = fz_u16(in);
	return hi << 16 | fz_u16(in);
}

const uint8_t *fz_bytes(struct fz_in *in, size_t want, size_t *got)
{
	const uint8_t *p = in->p;
	*got = want < in->n ? want : in->n;
	in->p += *got;
	in->n -= *got;
	return p;
}
