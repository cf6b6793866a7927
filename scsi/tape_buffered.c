/*
 * tape_buffered.c - writes in buffered mode (SSC-4 8.3.1: GOOD before the
 * data is on the medium) held back after the call that made them: the
 * block left behind for the drive's thread on a cartridge encrypted at
 * rest (struct tape's wb), and the small blocks of a cartridge stored
 * clear gathered and written 64 KiB at a time (struct tape's wc), with
 * the deferred error of either (docs/design.md, "Write-behind and
 * read-ahead of records encrypted at rest" and "Small records: gathered
 * writes"; the contract is tape.h, tape_write_buffered).
 *
 * A held record is accounted for at once, exactly as tape_write would
 * have: its offset, object number, the position, EOD, space used and the
 * statistics are those of the record written. Only its bytes wait.
 *
 * Invariants:
 *   - What is held is always the last records of the active segment, at
 *     most one block left behind or the gathered ones, never both; so no
 *     record is ever written after a hole.
 *   - Every other call on the tape that reads, writes, moves, commits,
 *     changes keys or closes calls wb_finish first, so it sees the medium
 *     as the host wrote it, and a commit never names a byte not written.
 *     The drive's thread writes them too, under the drive's lock
 *     (ssc_write_behind, tape_write_behind): a block left behind while
 *     the frontend receives the next WRITE's data, the gathered ones
 *     within a second of the host going quiet (vtl/drive_worker.c).
 *   - A write that fails takes back everything it held: the position is
 *     after the last record written, EOD and the accounting as before the
 *     first record taken back; the first error, and the blocks and bytes
 *     lost since, wait for tape_write_behind_lost (the deferred error the
 *     drive reports, SPC-4 4.5.5).
 *   - A crash loses at most what is held, acknowledged in buffered mode
 *     and never flushed, which the durability contract allows.
 */
#include "config.h"

#include "tape_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "crc32c.h"

/*
 * tape_write_buffered: the block is compressed and checked now, and its
 * record is reserved, whole, at the end of the active segment: the
 * offset, the object number, the position, the space accounting and the
 * statistics are those of the record written. Its bytes (what tape_compress()
 * left, in cbuf) are encrypted, checksummed and written by wb_finish(),
 * from the drive's thread (tape_write_behind) or first thing in any other
 * call that reads, writes, moves or commits. One block at most is
 * pending, and it is always the last record, so no other record is ever
 * written after a hole, and a commit never names a byte not yet written.
 */
static int wc_flush(struct tape *t);

int wb_finish(struct tape *t)
{
	struct seg *a = tape_active(t);
	const void *payload = t->wb.in_buf ? t->wb.buf : t->cbuf;
	uint32_t stored = t->wb.stored, crc;
	uint8_t flags = t->wb.flags, hb[REC_HDR_LEN];
	uint64_t obj = a->first + a->nobj - 1;
	struct rec_hdr h;
	int r;

	if (!t->wb.pending)
		return wc_flush(t); /* a cartridge stored clear, if anything */
	t->wb.pending = false;
	r = tape_encrypt_payload(t, obj, t->wb.len, &payload, &stored, &flags);
	if (r == 0 && REC_HDR_LEN + (uint64_t)stored != t->wb.need)
		r = -EIO; /* the keys changed under it: cannot happen, see above */
	if (r == 0) {
		crc = crc32c(payload, stored);
		h = (struct rec_hdr){.type = REC_BLOCK,
				     .flags = flags,
				     .obj = obj,
				     .len = t->wb.len,
				     .stored = stored,
				     .crc = crc};
		rec_encode(hb, &h);
		struct iovec iov[2] = {{hb, REC_HDR_LEN}, {(void *)payload, stored}};
		r = tape_pwritev_all(t->afd, iov, 2, t->wb.off);
	}
	if (r < 0) {
		/* Not written: the record is taken back, and the position is
		 * where it was to go (what a drive reports after a deferred
		 * write error: the blocks before it are on the medium). */
		t->aoff.n--;
		a->len = t->wb.off;
		a->nobj--;
		t->pos = obj;
		t->st.blocks_written--;
		t->st.bytes_written_host -= t->wb.len;
		t->st.bytes_written_stored -= t->wb.need - REC_HDR_LEN;
		t->wb.lost_blocks++;
		t->wb.lost_bytes += t->wb.len;
		if (!t->wb.err)
			t->wb.err = r; /* for the drive to report, whoever met it */
		return r;
	}
	tape_kick_writeback(t);
	return 0;
}

static int write_buffered(struct tape *t, uint8_t **lent, size_t *lent_size, const void *buf,
			  uint32_t len);

/*
 * The gathered records (struct tape's wc) in one pwrite. If that fails
 * they are all taken back, as wb_finish takes back a block left behind:
 * the position, EOD and the accounting are as before the first of them,
 * and the error and what they held wait for tape_write_behind_lost().
 */
static int wc_flush(struct tape *t)
{
	struct seg *a = tape_active(t);
	struct iovec iov = {t->wc.buf, t->wc.used};
	int r;

	if (!t->wc.n)
		return 0;
	r = tape_pwritev_all(t->afd, &iov, 1, t->wc.off);
	if (r < 0) {
		t->aoff.n -= t->wc.n;
		a->len = t->wc.off;
		a->nobj -= t->wc.n;
		t->pos = a->first + a->nobj;
		t->st.blocks_written -= t->wc.n;
		t->st.bytes_written_host -= t->wc.host;
		t->st.bytes_written_stored -= t->wc.stored;
		t->wb.lost_blocks += t->wc.n;
		t->wb.lost_bytes += t->wc.host;
		if (!t->wb.err)
			t->wb.err = r;
	}
	t->wc.n = 0;
	t->wc.used = 0;
	t->wc.host = 0;
	t->wc.stored = 0;
	if (r == 0)
		tape_kick_writeback(t);
	return r;
}

/*
 * tape_write_buffered of a small block on a cartridge stored clear: the
 * same checks, record and accounting as tape_write, but the record, its
 * header and checksum made now, is gathered in wc and written with the
 * ones around it (in buffered mode, SSC-4 8.3.1, GOOD need not mean on
 * the medium). Any other call that reads, writes, moves or commits, and
 * tape_close, writes them first (wb_finish).
 */
static int write_combined(struct tape *t, const void *buf, uint32_t len)
{
	const void *payload;
	uint32_t stored;
	uint8_t flags;
	struct rec_hdr h;
	struct seg *a;
	int r;

	if (len == 0 || !buf)
		return -EINVAL;
	if (t->wb.pending) {
		r = wb_finish(t);
		if (r < 0)
			return r;
	}
	tape_compress(t, buf, len, &payload, &stored, &flags);
	uint64_t need = REC_HDR_LEN + (uint64_t)stored;
	r = tape_prepare_append(t, need);
	if (r == 0)
		r = tape_make_room(t, need); /* seals after writing what is gathered */
	if (r == 0 && !t->wc.buf && !(t->wc.buf = malloc(TAPE_WC_FLUSH + TAPE_WC_REC_MAX)))
		r = -ENOMEM;
	a = tape_active(t);
	if (r == 0)
		r = u64vec_push(&t->aoff, a->len);
	if (r < 0)
		return r;
	if (!t->wc.n)
		t->wc.off = a->len;
	h = (struct rec_hdr){.type = REC_BLOCK,
			     .flags = flags,
			     .obj = a->first + a->nobj,
			     .len = len,
			     .stored = stored,
			     .crc = crc32c(payload, stored)};
	rec_encode(t->wc.buf + t->wc.used, &h);
	memcpy(t->wc.buf + t->wc.used + REC_HDR_LEN, payload, stored);
	t->wc.used += need;
	t->wc.n++;
	t->wc.host += len;
	t->wc.stored += stored;
	a->len += need;
	a->nobj++;
	t->dirty = true;
	t->pos++;
	t->st.blocks_written++;
	t->st.bytes_written_host += len;
	t->st.bytes_written_stored += stored;
	return t->wc.used >= TAPE_WC_FLUSH ? wc_flush(t) : 0;
}

int tape_write_buffered(struct tape *t, const void *buf, uint32_t len)
{
	return write_buffered(t, NULL, NULL, buf, len);
}

int tape_write_buffered_lent(struct tape *t, uint8_t **buf, size_t *size, uint32_t len)
{
	return write_buffered(t, buf, size, *buf, len);
}

static int write_buffered(struct tape *t, uint8_t **lent, size_t *lent_size, const void *buf,
			  uint32_t len)
{
	const void *payload;
	uint32_t stored;
	uint8_t flags;
	int r;

	if (!t->info.at_rest) {
		if (len <= TAPE_WC_REC_MAX - REC_HDR_LEN && !tcrypt_overhead(t->cipher))
			return write_combined(t, buf, len);
		return tape_write(t, buf, len);
	}
	if (len == 0 || len > TAPE_MAX_BLOCK || !buf)
		return -EINVAL;
	r = wb_finish(t);
	if (r < 0)
		return r;
	tape_compress(t, buf, len, &payload, &stored, &flags);
	uint64_t need =
	    REC_HDR_LEN + (uint64_t)stored + tcrypt_overhead(t->cipher) + TAPE_AT_REST_OVERHEAD;
	r = tape_prepare_write(t, need);
	if (r == 0)
		r = tape_scratch(&t->cbuf);
	if (r == 0)
		r = tape_make_room(t, need);
	if (r == 0)
		r = u64vec_push(&t->aoff, tape_active(t)->len);
	if (r < 0)
		return r;
	t->wb.in_buf = false;
	if (payload == buf && lent && *lent_size >= len) {
		/* Keep the lender's buffer rather than copy the block out of
		 * it; the one kept before was written by wb_finish above and
		 * goes back (its plaintext is the lender's own, as in any
		 * buffer the lender receives into). */
		uint8_t *old = t->wb.buf;
		size_t old_size = t->wb.size;

		t->wb.buf = *lent;
		t->wb.size = *lent_size;
		*lent = old;
		*lent_size = old ? old_size : 0;
		t->wb.in_buf = true;
	} else if (payload != t->cbuf) {
		memcpy(t->cbuf, payload, stored);
	}

	struct seg *a = tape_active(t);
	t->wb.pending = true;
	t->wb.off = a->len;
	t->wb.need = (uint32_t)need;
	t->wb.len = len;
	t->wb.stored = stored;
	t->wb.flags = flags;
	a->len += need;
	a->nobj++;
	t->dirty = true;
	t->pos++;
	t->st.blocks_written++;
	t->st.bytes_written_host += len;
	t->st.bytes_written_stored += need - REC_HDR_LEN;
	return 0;
}

bool tape_write_pending(const struct tape *t)
{
	return t->wb.pending;
}

bool tape_write_held(const struct tape *t)
{
	return t->wb.pending || t->wc.n;
}

int tape_write_behind(struct tape *t)
{
	return tape_write_behind_lost(t, false, NULL, NULL);
}

int tape_write_behind_lost(struct tape *t, bool keep, uint64_t *blocks, uint64_t *bytes)
{
	int r;

	if (t->wb.pending || !keep)
		wb_finish(t);
	r = t->wb.err;
	if (blocks)
		*blocks = t->wb.lost_blocks;
	if (bytes)
		*bytes = t->wb.lost_bytes;
	t->wb.err = 0;
	t->wb.lost_blocks = 0;
	t->wb.lost_bytes = 0;
	return r;
}

void wb_free(struct tape *t)
{
	if (t->wb.buf) {
		/* A lender's buffer kept for a block left behind. */
		tape_wipe(t->wb.buf, t->wb.size);
		free(t->wb.buf);
	}
	if (t->wc.buf) {
		/* Records gathered for one write: the host's data. */
		tape_wipe(t->wc.buf, TAPE_WC_FLUSH + TAPE_WC_REC_MAX);
		free(t->wc.buf);
	}
}
