/*
 * shelf_check.h - the checks of the shelf shared by the suites
 * that run the real vtld on each kind of store: the local directory
 * (tests/vtl/test_store_vtld.c) and radosgw (tests/vtl/test_store_rgw.c).
 * A tape is written through a drive, uploaded, archived to a shelf kept
 * apart from the library's objects (another bucket, directory or prefix)
 * and retrieved; what the stores hold is compared byte for byte with the
 * segment files the drive wrote. One copy, so that both backends are held
 * to the same assertions.
 *
 * What differs per suite (its vtld, how it writes a tape and reads the
 * records back) comes in a struct shelf_suite. The helpers fail the test
 * (Criterion asserts) rather than return errors.
 */
#ifndef VTL_TESTS_VTL_SHELF_CHECK_H
#define VTL_TESTS_VTL_SHELF_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "s3/store.h"
#include "tests/iscsi/harness.h"
#include "tests/iscsi/vtld_proc.h"

struct iscsi_context;

/* A suite's vtld and the records it writes (tests/iscsi/harness.h). */
struct shelf_suite {
	struct vtld_proc *vtl;
	const struct th_records *records;
	/* shelf_write_tape reads the records back before it unloads. */
	bool read_back;
};

/* Write tape bc (in the library) through drive 1: the suite's records from
 * seed, then big records of 1 MiB, then a filemark; unload it. */
void shelf_write_tape(const struct shelf_suite *su, const char *bc, uint32_t seed, int big);

/* The segment files of a tape in the data directory, as the drive wrote
 * them: read while the tape is in the library, since archiving drops them. */
struct segs {
	int n;
	uint64_t id[64];
	size_t len[64];
	uint8_t *data[64];
};

/* Read the segment files of tape bc in vtl's data directory into s (at
 * least one, else the test fails); segs_free releases them. */
void segs_read(const struct vtld_proc *vtl, struct segs *s, const char *bc);
void segs_free(struct segs *s);
/* Every segment of s equals its object {prefix}tapes/BC/seg/ID in st up
 * to the segment's length. */
void segs_in_store(const struct segs *s, struct store *st, const char *prefix, const char *bc);
/* Every local segment file of bc equals its object in st (no prefix). */
void compare_store(const struct vtld_proc *vtl, struct store *st, const char *bc);

/* Where a tape's objects are kept: a store (a directory or a bucket) and
 * the key prefix in it. */
struct place {
	struct store *st;
	const char *prefix;
};

/* A tape's objects under {prefix}tapes/BC/: their keys, one a line in key
 * order, and how many of each kind. */
struct tape_keys {
	char text[8192];
	int n, seg, manifest, state;
};

/* List the objects of tape bc in pl into k. */
void tape_keys(const struct place *pl, const char *bc, struct tape_keys *k);

/* An archived tape is on the shelf alone: nothing under the library's
 * tapes/BC/; on the shelf every segment byte for byte (in class cls unless
 * NULL), one manifest and state=ARCHIVED. The shelf's keys go to *k. */
void only_on_shelf(const char *bc, const struct segs *s, const struct place *lib,
		   const struct place *shelf, const char *cls, struct tape_keys *k);

/* WRITE(6) of one 512-byte record answers DATA PROTECT: the medium is
 * write-protected (SSC-4 4.2.14). */
void write_refused(struct iscsi_context *iscsi, int lun);

/* `vtlctl tape show bc` reports state (ARCHIVED, RETRIEVED, ...). */
void tape_in_state(struct vtld_proc *vtl, const char *bc, const char *state);

/* Create and write a tape, archive it, and check that it went to the
 * shelf alone (only_on_shelf), its local copy gone and an event naming the
 * shelf (`named`). The segments written go to *s, the shelf's keys to *k. */
void archive_apart(const struct shelf_suite *su, const char *bc, uint32_t seed, int big,
		   const struct place *lib, const struct place *shelf, const char *cls,
		   const char *named, struct segs *s, struct tape_keys *k);

/* Retrieve an archived tape: RETRIEVED, write-protected, its records read
 * back byte for byte through drive 2; the shelf still holds the keys of
 * *shelved, the library's store nothing of it. */
void retrieve_apart(const struct shelf_suite *su, const char *bc, uint32_t seed, int big,
		    const struct place *lib, const struct place *shelf,
		    const struct tape_keys *shelved);

#endif
