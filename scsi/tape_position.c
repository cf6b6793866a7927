/*
 * tape_position.c - the medium's position and its moves: REWIND, LOCATE
 * and SPACE (SSC-4 4.2.4 counts the logical objects; the contract is
 * tape.h). The position is a logical object number, 0 at BOT, EOD
 * (tape_eod) after the last object; READ and WRITE move it too
 * (tape_read.c, tape.c).
 *
 * No move reads a record: LOCATE checks the number against EOD, SPACE
 * answers from the sorted array of filemark object numbers (struct tape's
 * fm) with one binary search, so any move costs O(log n) on a tape of any
 * size and works without a key on an encrypted cartridge.
 *
 * Invariants:
 *   - Every move first writes what buffered mode holds (wb_finish,
 *     tape_buffered.c), so that EOD and the filemarks it counts are those
 *     the host wrote; a move made drops what was read ahead (pf_drop,
 *     tape_readahead.c), which holds the blocks from the old position on.
 *   - 0 <= pos <= EOD after every call; a LOCATE past EOD stops at EOD
 *     (-ENODATA), a SPACE at BOT, EOD or a filemark, as tape.h says.
 *
 * Locking: every function here runs under the caller's exclusion (the
 * drive's lock), as every call on the tape does.
 */
#include "config.h"

#include "tape_int.h"

#include <errno.h>
#include <stdint.h>

uint64_t tape_pos(const struct tape *t)
{
	return t->pos;
}

uint64_t tape_file(const struct tape *t)
{
	return u64vec_lower(&t->fm, t->pos);
}

int tape_rewind(struct tape *t)
{
	int r = wb_finish(t);

	pf_drop(t);
	t->pos = 0;
	return r;
}

int tape_locate(struct tape *t, uint64_t obj)
{
	int r = wb_finish(t);
	uint64_t eod = tape_eod(t);

	if (r < 0)
		return r;
	pf_drop(t);
	if (obj > eod) {
		t->pos = eod;
		return -ENODATA;
	}
	t->pos = obj;
	return 0;
}

int tape_seek_eod(struct tape *t)
{
	int r = wb_finish(t);

	pf_drop(t);
	t->pos = tape_eod(t);
	return r;
}

static uint64_t magnitude(int64_t count)
{
	return count < 0 ? -(uint64_t)count : (uint64_t)count;
}

/* SPACE (SSC-4, "SPACE(6) command", "SPACE(16) command"): every answer
 * comes from the filemark array; no record is read. */
static int space_blocks(struct tape *t, int64_t count, int64_t *done, enum tape_obj *stop);
static int space_filemarks(struct tape *t, int64_t count, int64_t *done, enum tape_obj *stop);

int tape_space_blocks(struct tape *t, int64_t count, int64_t *done, enum tape_obj *stop)
{
	int r = wb_finish(t);

	if (r < 0)
		return r;
	return space_blocks(t, count, done, stop);
}

static int space_blocks(struct tape *t, int64_t count, int64_t *done, enum tape_obj *stop)
{
	uint64_t n = magnitude(count), eod = tape_eod(t);
	size_t j = u64vec_lower(&t->fm, t->pos);

	pf_drop(t);
	*done = 0;
	*stop = TAPE_BLOCK;
	if (count > 0) {
		uint64_t next = j < t->fm.n ? t->fm.v[j] : eod;
		uint64_t avail = next - t->pos;

		if (n <= avail) {
			t->pos += n;
			*done = (int64_t)n;
		} else if (next < eod) {
			/* Stopped by a filemark, positioned after it. */
			t->pos = next + 1;
			*done = (int64_t)avail;
			*stop = TAPE_FILEMARK;
		} else {
			t->pos = eod;
			*done = (int64_t)avail;
			*stop = TAPE_EOD;
		}
	} else if (count < 0) {
		uint64_t start = j > 0 ? t->fm.v[j - 1] + 1 : 0;
		uint64_t avail = t->pos - start;

		if (n <= avail) {
			t->pos -= n;
			*done = (int64_t)n;
		} else if (j > 0) {
			/* Stopped by a filemark, positioned before it. */
			t->pos = start - 1;
			*done = (int64_t)avail;
			*stop = TAPE_FILEMARK;
		} else {
			t->pos = 0;
			*done = (int64_t)avail;
			*stop = TAPE_BOT;
		}
	}
	return 0;
}

int tape_space_filemarks(struct tape *t, int64_t count, int64_t *done, enum tape_obj *stop)
{
	int r = wb_finish(t);

	if (r < 0)
		return r;
	return space_filemarks(t, count, done, stop);
}

static int space_filemarks(struct tape *t, int64_t count, int64_t *done, enum tape_obj *stop)
{
	uint64_t n = magnitude(count);
	size_t j = u64vec_lower(&t->fm, t->pos); /* filemarks before pos */

	pf_drop(t);
	*done = 0;
	*stop = TAPE_BLOCK;
	if (count > 0) {
		uint64_t ahead = t->fm.n - j;

		if (n <= ahead) {
			t->pos = t->fm.v[j + n - 1] + 1;
			*done = (int64_t)n;
		} else {
			t->pos = tape_eod(t);
			*done = (int64_t)ahead;
			*stop = TAPE_EOD;
		}
	} else if (count < 0) {
		if (n <= j) {
			t->pos = t->fm.v[j - n];
			*done = (int64_t)n;
		} else {
			t->pos = 0;
			*done = (int64_t)j;
			*stop = TAPE_BOT;
		}
	}
	return 0;
}
