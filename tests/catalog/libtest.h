/*
 * libtest.h - helpers shared by the changer and catalog tests: a real
 * library (catalog, changer, drives, media) in a temporary directory, and
 * the changer commands they send through the CDB harness
 * (tests/scsi/cdb_harness.h). No mocks: every test runs the code vtld runs.
 */
#ifndef VTL_TESTS_LIBTEST_H
#define VTL_TESTS_LIBTEST_H

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scsi/be.h"
#include "scsi/sense.h"
#include "scsi/smc.h"
#include "scsi/spc.h"
#include "scsi/ssc.h"
#include "tests/scsi/cdb_harness.h"
#include "tests/tmpdir.h"
#include "vtl/library.h"

struct tlib {
	char dir[256];
	struct lib_config cfg;
	struct lib *lib;
	char err[LIB_ERR_MAX];
};

static inline void tlib_config(struct tlib *t)
{
	lib_config_defaults(&t->cfg);
	snprintf(t->cfg.data_dir, sizeof(t->cfg.data_dir), "%s/data", t->dir);
	t->cfg.n_drives = 2;
	t->cfg.n_slots = 8;
	t->cfg.n_ie = 2;
}

static inline void tlib_mkdir(struct tlib *t)
{
	tmpdir_make(t->dir, sizeof(t->dir), "test");
	tlib_config(t);
}

static inline int tlib_open(struct tlib *t)
{
	t->err[0] = 0;
	return lib_open(&t->cfg, &t->lib, t->err, sizeof(t->err));
}

static inline void tlib_start(struct tlib *t)
{
	tlib_mkdir(t);
	int rc = tlib_open(t);
	cr_assert_eq(rc, 0, "lib_open: %d %s", rc, t->err);
}

static inline void tlib_stop(struct tlib *t)
{
	if (t->lib)
		lib_close(t->lib);
	t->lib = NULL;
	if (t->dir[0])
		tmpdir_remove(t->dir);
}

static inline void tlib_create(struct tlib *t, const char *barcode)
{
	const char *b[] = {barcode};
	struct lib_create c = {.barcodes = b, .n = 1};
	int rc = lib_tape_create(t->lib, &c, NULL, NULL, t->err, sizeof(t->err));
	cr_assert_eq(rc, 0, "create %s: %s", barcode, t->err);
}

/* A command with a data-in buffer of cap bytes. */
struct tcmd {
	struct scsi_cmd c;
	uint8_t buf[65536];
};

static inline struct scsi_cmd *tcmd_init(struct tcmd *t, uint64_t nexus, const uint8_t *cdb,
					 uint8_t len, uint32_t cap)
{
	memset(t->buf, 0, sizeof(t->buf));
	cdb_fill(&t->c, nexus, cdb, len, NULL, 0, t->buf,
		 cap > sizeof(t->buf) ? (uint32_t)sizeof(t->buf) : cap);
	return &t->c;
}

/* Send a command; returns the ASC/ASCQ (0 when GOOD). */
static inline uint16_t run(struct scsi_dev *dev, struct tcmd *t, uint64_t nexus, const uint8_t *cdb,
			   uint8_t len, uint32_t cap)
{
	spc_dispatch(dev, tcmd_init(t, nexus, cdb, len, cap));
	return cdb_asc(&t->c);
}

static inline uint16_t move_medium(struct scsi_dev *ch, struct tcmd *t, uint64_t nexus,
				   uint16_t src, uint16_t dst)
{
	uint8_t cdb[12] = {MOVE_MEDIUM};
	put_be16(cdb + 4, src);
	put_be16(cdb + 6, dst);
	return run(ch, t, nexus, cdb, 12, 0);
}

/* LOAD UNLOAD (SSC-4 7.2) with LOAD 0: the host unloads the drive. */
static inline uint16_t unload_drive(struct scsi_dev *drive, struct tcmd *t, uint64_t nexus)
{
	uint8_t cdb[6] = {LOAD_UNLOAD, 0, 0, 0, 0, 0};
	return run(drive, t, nexus, cdb, 6, 0);
}

/* READ ELEMENT STATUS. */
static inline uint16_t res(struct scsi_dev *ch, struct tcmd *t, uint64_t nexus, uint8_t type,
			   bool voltag, bool dvcid, uint16_t start, uint16_t count, uint32_t alloc)
{
	uint8_t cdb[12] = {READ_ELEMENT_STATUS};
	cdb[1] = (uint8_t)((voltag ? 0x10 : 0) | type);
	put_be16(cdb + 2, start);
	put_be16(cdb + 4, count);
	cdb[6] = dvcid ? 1 : 0;
	put_be24(cdb + 7, alloc);
	return run(ch, t, nexus, cdb, 12, alloc);
}

/* Walk an element status report: call fn for each descriptor. */
struct res_desc {
	uint8_t type;
	bool pvoltag;
	uint16_t len;
	const uint8_t *d;
};

static inline size_t res_walk(const uint8_t *buf, size_t len, struct res_desc *out, size_t max)
{
	size_t n = 0, off = 8;
	while (off + 8 <= len) {
		const uint8_t *page = buf + off;
		uint16_t dl = get_be16(page + 2);
		uint32_t bytes = get_be24(page + 5);
		off += 8;
		for (uint32_t k = 0; dl && k + dl <= bytes && off + dl <= len; k += dl, off += dl) {
			if (n < max) {
				out[n].type = page[0];
				out[n].pvoltag = page[1] & 0x80;
				out[n].len = dl;
				out[n].d = buf + off;
			}
			n++;
		}
		if (!dl)
			break;
	}
	return n;
}

/* The barcode in a descriptor's primary volume tag, trailing spaces cut. */
static inline void desc_barcode(const struct res_desc *d, char out[33])
{
	memcpy(out, d->d + 12, 32);
	out[32] = 0;
	for (int i = 31; i >= 0 && (out[i] == ' ' || out[i] == 0); i--)
		out[i] = 0;
}

#endif
