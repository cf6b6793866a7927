/*
 * tape_readahead.c - the medium's reads ahead of the host: blocks of a
 * cartridge encrypted at rest read and opened before the host asks for
 * them, and the window of small records of a cartridge stored clear
 * (docs/design.md, "Write-behind and read-ahead of records encrypted at
 * rest" and "Small records: gathered writes"; the contract is tape.h).
 *
 * Read-ahead (struct tape's pf): blocks pos, pos + 1, ... pos + pf.n - 1,
 * read whole and opened into a ring of TAPE_PF_DEPTH buffers, each with
 * what reading it added to the statistics. tape_prefetch reads one under
 * the caller's exclusion (the drive's lock); a job (struct tape_pf_job)
 * opens one off it: tape_prefetch_begin and tape_prefetch_end run under
 * the exclusion, tape_prefetch_open between them touches nothing of the
 * tape (its own descriptor, key copy and buffers).
 *
 * Invariants:
 *   - What is read ahead is exactly what tape_read would return at those
 *     positions now: every move, write, key change and close calls
 *     pf_drop, which wipes the ring, disarms and draws a new generation
 *     (pf.gen), a number no tape of the process had before. A job
 *     publishes its block only if the generation is still the one it
 *     began under and its block is still the next one after the ring, so
 *     a block opened across a move, a write, a rekey or a close (and
 *     another tape loaded since) is wiped, never shown.
 *   - Reading ahead never moves the host's position and never counts as
 *     a read: nothing is kept for a block that fails (CRC, tag, key), a
 *     filemark or EOD, and the host's own READ meets it and gets its
 *     sense, as without read-ahead.
 *   - Every copy of plaintext is wiped when taken, dropped or freed; a
 *     buffer exchanged with a lender (tape_read_lent) leaves ours empty.
 *   - The window (struct tape's rw) holds bytes of a segment below its
 *     valid length only, which never change while the segment is named
 *     (docs/medium-format.md); it is emptied all the same by pf_drop and
 *     whenever a segment's files are dropped (tape_drop_caches,
 *     tape_segcache.c).
 */
#include "config.h"

#include "tape_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zstd.h>

#include "crc32c.h"

/* A read-ahead generation no tape of this process had before. */
static uint64_t pf_gen_next(void)
{
	static atomic_uint_fast64_t gens;

	return (uint64_t)atomic_fetch_add(&gens, 1) + 1;
}

/* Forget the block read ahead (plaintext: wiped) and disarm; a job still
 * opening a block (tape_prefetch_begin) will find the generation changed
 * and drop it. Empty the window of small records (rw_read) too. */
void pf_drop(struct tape *t)
{
	for (unsigned i = 0; i < t->pf.n; i++) {
		unsigned k = (t->pf.head + i) % TAPE_PF_DEPTH;

		tape_wipe(t->pf.e[k].buf, t->pf.e[k].len);
	}
	t->pf.head = 0;
	t->pf.n = 0;
	t->pf.armed = false;
	t->rw.len = 0; /* and the window of small records: read anew after a move */
	t->pf.gen = pf_gen_next();
	t->pf.job_out = false;
}

void pf_free(struct tape *t)
{
	pf_drop(t);
	for (unsigned i = 0; i < TAPE_PF_DEPTH; i++)
		free(t->pf.e[i].buf);
	if (t->rw.buf) {
		tape_wipe(t->rw.buf, TAPE_RW_LEN);
		free(t->rw.buf);
	}
}

/* ---- the window of small records ------------------------------------------ */

/* Copy [off, off + total) of the window into iov as preadv would. */
static void rw_copy(const struct tape *t, struct iovec *iov, int cnt, uint64_t off)
{
	const uint8_t *p = t->rw.buf + (off - t->rw.off);

	for (int k = 0; k < cnt; k++) {
		if (iov[k].iov_len)
			memcpy(iov[k].iov_base, p, iov[k].iov_len);
		p += iov[k].iov_len;
	}
}

/*
 * tape_read_record's read of the record [off, end) of segment si, open as fd:
 * tape_preadv_all, but a small record of a cartridge stored clear comes from
 * the window (struct tape's rw), which one pread fills with it and what
 * follows it in the segment, as far as the segment is valid and readable:
 * at 4 KiB a record that is one system call for sixteen records.
 */
int rw_read(struct tape *t, size_t si, int fd, struct iovec *iov, int cnt, uint64_t off,
	    uint64_t end)
{
	const struct seg *s = &t->segs[si];

	if (t->info.at_rest || end - off > TAPE_WC_REC_MAX)
		return tape_preadv_all(fd, iov, cnt, off);
	if (t->rw.len && t->rw.id == s->id && off >= t->rw.off && end <= t->rw.off + t->rw.len) {
		rw_copy(t, iov, cnt, off);
		return 0;
	}
	uint64_t stop = off + TAPE_RW_LEN < s->len ? off + TAPE_RW_LEN : s->len;
	if (si != t->nseg - 1) {
		/* A segment fetched back is readable up to its avail. */
		for (unsigned k = 0; k < TAPE_FD_CACHE; k++)
			if (t->rfd[k].fd == fd && t->rfd[k].id == s->id && t->rfd[k].avail < stop)
				stop = t->rfd[k].avail;
	}
	if (stop < end)
		return tape_preadv_all(fd, iov, cnt, off);
	if (!t->rw.buf && !(t->rw.buf = malloc(TAPE_RW_LEN)))
		return tape_preadv_all(fd, iov, cnt, off);
	t->rw.len = 0;
	ssize_t n = tape_pread_full(fd, t->rw.buf, (size_t)(stop - off), off);
	if (n < 0)
		return (int)n;
	size_t got = (size_t)n;
	if (got < end - off)
		return -EBADMSG; /* the record ends early: damaged */
	t->rw.id = s->id;
	t->rw.off = off;
	t->rw.len = got;
	rw_copy(t, iov, cnt, off);
	return 0;
}

/* ---- read-ahead under the drive's lock ------------------------------------ */

/* The host's read of the first block read ahead: what tape_read would have
 * done, from the copy, which is then wiped; or, with a lent buffer (lent
 * non-NULL, tape_read_lent), by exchanging the buffers when the block fits
 * whole in cap and the read-ahead's buffer has the room the lender needs. */
int pf_take(struct tape *t, uint8_t **lent, size_t *lent_size, uint8_t *buf, uint32_t cap,
	    size_t room, uint32_t *len, enum tape_obj *kind)
{
	unsigned k = t->pf.head;
	uint32_t n = t->pf.e[k].len;

	if (lent && *lent_size && n <= cap && t->pf.e[k].size >= room) {
		uint8_t *mine = t->pf.e[k].buf;
		size_t mine_size = t->pf.e[k].size;

		/* The lender's old buffer may hold what it sent before; it is
		 * only ever overwritten by the next read ahead into it. */
		t->pf.e[k].buf = *lent;
		t->pf.e[k].size = *lent_size;
		*lent = mine;
		*lent_size = mine_size;
		n = 0; /* nothing of ours left to wipe */
		*len = t->pf.e[k].len;
	} else {
		if (cap)
			memcpy(buf, t->pf.e[k].buf, cap < n ? cap : n);
		*len = n;
	}
	*kind = TAPE_BLOCK;
	t->pos++;
	t->st.blocks_read += t->pf.e[k].st.blocks_read;
	t->st.bytes_read_host += t->pf.e[k].st.bytes_read_host;
	t->st.bytes_read_stored += t->pf.e[k].st.bytes_read_stored;
	tape_wipe(t->pf.e[k].buf, n);
	t->pf.head = (k + 1) % TAPE_PF_DEPTH;
	t->pf.n--;
	return 0;
}

bool tape_prefetch_arm(struct tape *t)
{
	t->pf.armed =
	    t->info.at_rest && t->rest && t->pf.n < TAPE_PF_DEPTH && t->pos + t->pf.n < tape_eod(t);
	return t->pf.armed;
}

int tape_prefetch(struct tape *t)
{
	uint64_t pos = t->pos, next = t->pos + t->pf.n;
	struct tape_stats st = t->st;
	bool tag_failed = t->rest_tag_failed;
	unsigned k = (t->pf.head + t->pf.n) % TAPE_PF_DEPTH;
	enum tape_obj kind;
	uint32_t len;
	int r;

	if (!t->pf.armed)
		return 0;
	if (!t->info.at_rest || !t->rest || t->wb.pending || t->pf.n >= TAPE_PF_DEPTH ||
	    next >= tape_eod(t)) {
		t->pf.armed = false;
		return 0;
	}
	if (t->pf.e[k].size < TAPE_MAX_BLOCK) {
		/* First use, or a smaller buffer a lender left in exchange
		 * (tape_read_lent): a block may be as long as TAPE_MAX_BLOCK.
		 * The lender then keeps buffers of this size, so this stops
		 * after the first exchanges of a stream. */
		free(t->pf.e[k].buf);
		t->pf.e[k].size = 0;
		t->pf.e[k].buf = malloc(TAPE_MAX_BLOCK);
		if (!t->pf.e[k].buf) {
			t->pf.armed = false;
			return -ENOMEM;
		}
		t->pf.e[k].size = TAPE_MAX_BLOCK;
	}
	t->pos = next;
	r = tape_read_record(t, t->pf.e[k].buf, TAPE_MAX_BLOCK, &len, &kind);
	if (r == 0 && kind == TAPE_BLOCK) {
		t->pf.e[k].obj = next;
		t->pf.e[k].len = len;
		t->pf.e[k].st = (struct tape_stats){
		    .blocks_read = t->st.blocks_read - st.blocks_read,
		    .bytes_read_host = t->st.bytes_read_host - st.bytes_read_host,
		    .bytes_read_stored = t->st.bytes_read_stored - st.bytes_read_stored,
		};
		t->pf.n++;
	}
	/* Not a read the host made: no move, nothing counted, and an error
	 * is the host's own READ's to meet and report. */
	t->pos = pos;
	t->st = st;
	t->rest_tag_failed = tag_failed;
	if (r < 0 || kind != TAPE_BLOCK)
		t->pf.armed = false;
	else
		tape_prefetch_arm(t);
	return r < 0 ? r : t->pf.armed;
}

unsigned tape_prefetched(const struct tape *t)
{
	return t->pf.n;
}

/* ---- read-ahead opened off the drive's lock ---------------------------- */

struct tape_pf_job {
	int fd;			/* the segment's descriptor, duplicated; -1: none */
	uint64_t off;		/* of the record's header in it */
	uint32_t stored;	/* payload bytes after the header */
	uint64_t obj;		/* the block's logical object number */
	uint64_t gen;		/* the tape's pf.gen at begin */
	struct tape_rest *rest; /* the data key's opener, for this block only */
	void *zd;		/* ZSTD_DCtx of the job's own */
	uint8_t *sbuf;		/* the stored payload: TAPE_STORED_MAX */
	uint8_t *out;		/* the plaintext: out_size bytes */
	size_t out_size;
	uint32_t len;  /* the block's length, when opened */
	uint32_t wipe; /* plaintext bytes in out */
	struct tape_stats st;
	enum { PFJ_FAILED, PFJ_OPENED, PFJ_LOCKED } res;
};

struct tape_pf_job *tape_pf_job_new(void)
{
	struct tape_pf_job *j = calloc(1, sizeof(*j));

	if (j)
		j->fd = -1;
	return j;
}

void tape_pf_job_free(struct tape_pf_job *j)
{
	if (!j)
		return;
	if (j->fd >= 0)
		close(j->fd);
	trest_free(j->rest);
	if (j->out)
		tape_wipe(j->out, j->wipe);
	free(j->out);
	free(j->sbuf);
	ZSTD_freeDCtx(j->zd);
	free(j);
}

bool tape_prefetch_opening(const struct tape *t)
{
	return t->pf.job_out && t->pf.n == 0 && t->pf.job_obj == t->pos;
}

int tape_prefetch_begin(struct tape *t, struct tape_pf_job *j)
{
	uint64_t next = t->pos + t->pf.n, off, end;
	size_t si, fj;
	int fd, r;

	if (!t->pf.armed || t->pf.job_out)
		return 0;
	if (!t->info.at_rest || !t->rest || t->wb.pending || t->pf.n >= TAPE_PF_DEPTH ||
	    next >= tape_eod(t)) {
		t->pf.armed = false;
		return 0;
	}
	/* Only drive-encrypted blocks are read in this mode, and they need
	 * the drive's keys, which stay the drive's (tape_set_crypto). */
	if (tcrypt_mode(t->cipher) == TAPE_DECRYPT_ON) {
		r = tape_prefetch(t);
		return r > 0 ? 2 : r;
	}
	/* A filemark is the host's READ's to meet. */
	fj = u64vec_lower(&t->fm, next);
	if (fj < t->fm.n && t->fm.v[fj] == next) {
		t->pf.armed = false;
		return 0;
	}
	r = tape_record_at(t, next, &si, &off, &end);
	if (r == 0 && (end < off + REC_HDR_LEN || end - off - REC_HDR_LEN > TAPE_STORED_MAX))
		r = -EBADMSG;
	fd = r < 0 ? r : tape_seg_fd(t, si, off, end);
	if (fd >= 0) {
		/* The tape may close its own (an unload, the descriptor
		 * cache) while the job reads. */
		j->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		fd = j->fd < 0 ? -errno : 0;
	}
	r = fd < 0 ? fd : trest_opener(&j->rest, t->rest);
	if (r < 0) {
		if (j->fd >= 0)
			close(j->fd);
		j->fd = -1;
		t->pf.armed = false;
		return r;
	}
	j->off = off;
	j->stored = (uint32_t)(end - off - REC_HDR_LEN);
	j->obj = next;
	j->gen = t->pf.gen;
	j->res = PFJ_FAILED;
	t->pf.job_out = true;
	t->pf.job_obj = next;
	return 1;
}

/* The job's block, off the lock: what tape_read_record and read_at_rest check
 * of a block at rest, in the job's own buffers and context. Anything they
 * would refuse leaves PFJ_FAILED, and the host's READ meets it itself. */
static void pf_job_open(struct tape_pf_job *j)
{
	uint8_t hb[REC_HDR_LEN];
	struct iovec iov[2];
	struct rec_hdr h;
	unsigned comp;
	uint32_t n;

	if (!j->sbuf && !(j->sbuf = malloc(TAPE_STORED_MAX)))
		return;
	if (j->out_size < TAPE_MAX_BLOCK) {
		/* A smaller buffer a lender left in the ring (tape_read_lent),
		 * exchanged for ours at the last publication. */
		free(j->out);
		j->out_size = 0;
		if (!(j->out = malloc(TAPE_MAX_BLOCK)))
			return;
		j->out_size = TAPE_MAX_BLOCK;
	}
	iov[0].iov_base = hb;
	iov[0].iov_len = REC_HDR_LEN;
	iov[1].iov_base = j->sbuf;
	iov[1].iov_len = j->stored;
	if (tape_preadv_all(j->fd, iov, 2, j->off) < 0)
		return;
	if (rec_decode(hb, &h) < 0 || h.type != REC_BLOCK || h.obj != j->obj ||
	    h.stored != j->stored || crc32c(j->sbuf, j->stored) != h.crc)
		return;
	if (!(h.flags & REC_AT_REST))
		return; /* a clear block where only encrypted ones are written */
	if (h.flags & REC_ENCRYPTED) {
		j->res = PFJ_LOCKED; /* the drive's keys open what is inside */
		return;
	}
	n = h.stored - TAPE_AT_REST_OVERHEAD;
	comp = h.flags & REC_COMP_MASK;
	if (comp == TAPE_COMP_NONE) {
		if (n != h.len)
			return;
		j->wipe = n;
		if (trest_open(j->rest, hb, j->sbuf, h.stored, j->out) < 0)
			return;
	} else {
		uint8_t *inner = j->sbuf + REST_NONCE;
		int r = trest_open(j->rest, hb, j->sbuf, h.stored, inner);

		if (r == 0) {
			j->wipe = h.len;
			r = tape_decompress(&j->zd, comp, inner, n, j->out, h.len);
		}
		tape_wipe(inner, n);
		if (r < 0)
			return;
	}
	j->len = h.len;
	j->st = (struct tape_stats){
	    .blocks_read = 1,
	    .bytes_read_host = h.len,
	    .bytes_read_stored = h.stored,
	};
	j->res = PFJ_OPENED;
}

void tape_prefetch_open(struct tape_pf_job *j)
{
	pf_job_open(j);
	close(j->fd);
	j->fd = -1;
	trest_free(j->rest); /* no copy of the key outlives the job */
	j->rest = NULL;
}

int tape_prefetch_end(struct tape *t, struct tape_pf_job *j)
{
	bool valid = t && t->pf.job_out && t->pf.gen == j->gen && t->pf.job_obj == j->obj &&
		     j->obj == t->pos + t->pf.n && t->pf.n < TAPE_PF_DEPTH;
	unsigned k;

	if (t && t->pf.gen == j->gen)
		t->pf.job_out = false;
	if (!valid || j->res != PFJ_OPENED) {
		if (j->out)
			tape_wipe(j->out, j->wipe);
		j->wipe = 0;
		if (!valid)
			return 0;
		if (j->res == PFJ_LOCKED)
			return tape_prefetch(t);
		t->pf.armed = false; /* nothing kept for a block that fails */
		return 0;
	}
	k = (t->pf.head + t->pf.n) % TAPE_PF_DEPTH;
	{
		uint8_t *b = t->pf.e[k].buf;
		size_t size = t->pf.e[k].size;

		/* The ring's slot holds nothing of ours (wiped when taken or
		 * dropped) or a lender's earlier data: it becomes the job's. */
		t->pf.e[k].buf = j->out;
		t->pf.e[k].size = j->out_size;
		j->out = b;
		j->out_size = b ? size : 0;
	}
	j->wipe = 0;
	t->pf.e[k].obj = j->obj;
	t->pf.e[k].len = j->len;
	t->pf.e[k].st = j->st;
	t->pf.n++;
	return tape_prefetch_arm(t);
}
