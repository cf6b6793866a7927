/*
 * fuzz_util.h - what the libFuzzer targets in tests/fuzz share: a scratch
 * directory per process (on tmpfs when there is one, so that fsync costs
 * nothing), copying and removing directory trees, a real library built
 * once per process as a template and reopened from a fresh copy for every
 * input, and a cursor over the fuzzer's bytes.
 *
 * Reopening from a copy makes every input start from the same state, so a
 * crash found once reproduces from its file alone. Nothing here stands in
 * for a component of ours: the library, catalog, changer, drives and media
 * are the ones vtld runs.
 */
#ifndef VTL_TESTS_FUZZ_UTIL_H
#define VTL_TESTS_FUZZ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lib;

/* A set-up step failed: not a finding, the harness cannot run. Aborts. */
void fz_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* This process's scratch directory, made on first use and removed at exit. */
const char *fz_scratch(void);

/* rm -rf path (0, or a negative errno). */
int fz_rm_tree(const char *path);
/* Copy the tree at src to dst (which must not exist). */
int fz_copy_tree(const char *src, const char *dst);

/*
 * The template library, made once under fz_scratch()/template: a changer
 * with 2 drives, 6 slots and 2 I/E elements; tapes FZA001L8 (in drive 1,
 * holding a few records, filemarks and host attributes), FZA002L8,
 * FZA003L7 and FZB001L6 in slots; drive 2 empty.
 */
#define FZ_DRIVES 2
const char *fz_lib_template(void);
/* A fresh copy of the template at fz_scratch()/work, opened. */
struct lib *fz_lib_open_copy(void);
void fz_lib_close(struct lib *lib);

/* Consume the fuzzer's bytes front to back; past the end reads zeros. */
struct fz_in {
	const uint8_t *p;
	size_t n;
};
bool fz_more(const struct fz_in *in);
uint8_t fz_u8(struct fz_in *in);
uint16_t fz_u16(struct fz_in *in);
uint32_t fz_u32(struct fz_in *in);
/* Up to want bytes; *got how many there were. */
const uint8_t *fz_bytes(struct fz_in *in, size_t want, size_t *got);

#endif
