/*
 * tape_compress.c - per-record compression of the medium, as LTO drives
 * compress (docs/medium-format.md, "Record"; the host turns it on with
 * DCE of the Data Compression mode page, SSC-4 8.3.2, scsi/ssc_pages.c).
 *
 * A block is stored compressed only when that makes it shorter; its
 * record's flags (REC_COMP_MASK) then say which codec, and capacity
 * counts the compressed bytes. Every record is compressed on its own, so
 * any one can be read back alone after a LOCATE: LZ4 from a stream reset
 * before each record, ZSTD with one context reused.
 *
 * Invariants:
 *   - The output goes to the tape's scratch (t->cbuf) or nowhere: a
 *     record that does not shrink is stored as the host sent it, so the
 *     caller's data is never changed and never copied for nothing.
 *   - Skipping tries (comp_skip, after comp_misses misses in a row) only
 *     ever changes capacity, never what a READ returns; MODE SELECT's
 *     choice (tape_set_compression) stays what the host set, and resets
 *     the count.
 *   - The codec contexts (t->zc, t->zd, t->lz4) belong to the tape and
 *     are used under the caller's exclusion only; the read-ahead opened
 *     off the lock (tape_readahead.c) brings a ZSTD_DCtx of its own to
 *     tape_decompress.
 */
#include "config.h"

#include "tape_int.h"

#include <errno.h>
#include <lz4.h>
#include <stdbool.h>
#include <zstd.h>

#define ZSTD_FAST_LEVEL 1
#define COMP_MIN_LEN	64 /* shorter records are never worth compressing */
#define COMP_SKIP_MAX	31 /* raw records at most between two tries (tape_compress()) */

/*
 * Compress into scratch when enabled and when it actually shrinks the
 * record (as LTO drives do, per record); else store as is.
 *
 * A try that does not shrink the record costs as much as one that does
 * (LZ4 on 256 KiB of incompressible data: 0.05 to 0.08 CPU seconds a GB,
 * as much as the checksum and the copy into the segment together), and
 * backup software mostly sends data it has compressed or encrypted
 * itself. So after a try that did not shrink, the next records are stored
 * raw without a try: 1, then 3, 7, 15, up to COMP_SKIP_MAX after tries
 * that keep failing in a row; any try that shrinks starts over. A stream
 * that turns compressible is stored raw for at most COMP_SKIP_MAX records
 * before it is compressed again; a record that shrinks even a little keeps
 * every try. Only capacity depends on it: a raw record is what a try that
 * does not shrink leaves anyway, and it reads back the same (LTO drives'
 * compression, ECMA-321 SLDC, likewise stores data that does not compress
 * in its pass-through scheme); compression stays what MODE SELECT set.
 */
static void comp_result(struct tape *t, bool shrank)
{
	if (shrank) {
		t->comp_misses = 0;
		return;
	}
	if (t->comp_misses < 5)
		t->comp_misses++;
	uint32_t skip = (1u << t->comp_misses) - 1;
	t->comp_skip = skip < COMP_SKIP_MAX ? skip : COMP_SKIP_MAX;
}

void tape_compress(struct tape *t, const void *buf, uint32_t len, const void **out,
		   uint32_t *stored, uint8_t *flags)
{
	*out = buf;
	*stored = len;
	*flags = TAPE_COMP_NONE;
	if (t->comp == TAPE_COMP_NONE || len < COMP_MIN_LEN)
		return;
	if (t->comp_skip > 0) {
		t->comp_skip--;
		return;
	}
	if (tape_scratch(&t->cbuf) < 0)
		return;
	if (t->comp == TAPE_COMP_LZ4) {
		/* One stream kept for the tape and reset before each record,
		 * so every record is an independent LZ4 block as
		 * LZ4_compress_default makes it, without its zeroing of a
		 * fresh 16 KiB state per call (lz4.h, LZ4_resetStream_fast). */
		if (!t->lz4 && !(t->lz4 = LZ4_createStream()))
			return;
		LZ4_resetStream_fast(t->lz4);
		int n = LZ4_compress_fast_continue(t->lz4, buf, (char *)t->cbuf, (int)len,
						   (int)len - 1, 1);

		if (n > 0) {
			*out = t->cbuf;
			*stored = (uint32_t)n;
			*flags = TAPE_COMP_LZ4;
		}
		comp_result(t, n > 0);
		return;
	}
	if (t->comp == TAPE_COMP_ZSTD) {
		if (!t->zc && !(t->zc = ZSTD_createCCtx()))
			return;
		size_t n = ZSTD_compressCCtx(t->zc, t->cbuf, len - 1, buf, len, ZSTD_FAST_LEVEL);

		if (!ZSTD_isError(n) && n < len) {
			*out = t->cbuf;
			*stored = (uint32_t)n;
			*flags = TAPE_COMP_ZSTD;
		}
		comp_result(t, !ZSTD_isError(n) && n < len);
	}
}
int tape_decompress(void **zd, unsigned comp, const uint8_t *src, uint32_t stored, uint8_t *dst,
		    uint32_t len)
{
	if (comp == TAPE_COMP_LZ4) {
		int n = LZ4_decompress_safe((const char *)src, (char *)dst, (int)stored, (int)len);

		return n == (int)len ? 0 : -EBADMSG;
	}
	if (!*zd && !(*zd = ZSTD_createDCtx()))
		return -ENOMEM;
	size_t n = ZSTD_decompressDCtx(*zd, dst, len, src, stored);

	return !ZSTD_isError(n) && n == len ? 0 : -EBADMSG;
}

void tape_set_compression(struct tape *t, enum tape_compression c)
{
	t->comp = c;
	t->comp_skip = 0;
	t->comp_misses = 0;
}

enum tape_compression tape_get_compression(const struct tape *t)
{
	return t->comp;
}

void tape_comp_free(struct tape *t)
{
	ZSTD_freeCCtx(t->zc);
	ZSTD_freeDCtx(t->zd);
	LZ4_freeStream(t->lz4);
}
