/*
 * tape_read.c - the read of a record at the position: the host's READ
 * (tape_read, tape_read_lent), the record read and checked from its
 * segment and decoded into the host's block (tape_read_record), and the
 * look at the next record's header and encryption envelope that the next
 * block encryption status page asks for (SSC-4 8.5.2.8, tape_peek).
 * The record's bytes are docs/medium-format.md's; where they are,
 * tape_segcache.c finds.
 *
 * Decoding undoes the write in reverse: encryption at rest (read_at_rest,
 * the data key of tape_set_data_key), then the drive's encryption
 * (read_encrypted, the keys of tape_set_crypto, SSC-4 4.2.26), then
 * compression (read_compressed, tape_compress.c).
 *
 * Invariants:
 *   - A block is returned (its length set, the position and the
 *     statistics moved) only after its record passed the CRC32C, the
 *     header's checks (object number, stored length, a filemark exactly
 *     where the filemark array has one) and, when encrypted, its tag. A
 *     failed CRC, header or tag at rest is -EBADMSG, counted in
 *     crc_errors; any failure leaves the position where it was.
 *   - At most cap bytes are written to the host's buffer; the rest of a
 *     longer block is still read and checked, in scratch (t->cbuf,
 *     t->dbuf, t->ebuf). The plaintext of a record encrypted at rest,
 *     opened in place in t->cbuf, is wiped there once taken out.
 *   - tape_read first writes what buffered mode holds (wb_finish,
 *     tape_buffered.c) and serves a block read ahead if there is one
 *     (pf_take, tape_readahead.c); tape_read_record reads the medium
 *     itself, and tape_readahead.c calls it for its blocks.
 *
 * Locking: every function here runs under the caller's exclusion (the
 * drive's lock), as every call on the tape does.
 */
#include "config.h"

#include "tape_int.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/uio.h>

#include "crc32c.h"

/*
 * The drive-encrypted block of header h, whose envelope is the n bytes at
 * src (in t->cbuf): check the envelope, decrypt it (then inflate it) into
 * buf, at most cap bytes. The plaintext passes through t->ebuf only when it
 * cannot go straight to buf.
 */
static int read_encrypted(struct tape *t, const struct rec_hdr *h, const uint8_t *src, uint32_t n,
			  uint8_t *buf, uint32_t cap)
{
	unsigned comp = h->flags & REC_COMP_MASK;
	struct tcrypt_env e;
	uint8_t *plain;
	int r;

	if (tcrypt_parse(src, n, n, &e) < 0)
		return -EBADMSG;
	if (comp == TAPE_COMP_NONE ? e.body_len != h->len : e.body_len == 0 || e.body_len >= h->len)
		return -EBADMSG;
	r = tape_scratch(&t->ebuf);
	if (r < 0)
		return r;
	plain = comp == TAPE_COMP_NONE && cap >= h->len ? buf : t->ebuf;
	r = tcrypt_open(t->cipher, h->obj, h->len, h->flags, &e, plain);
	if (r < 0)
		return r;
	if (comp != TAPE_COMP_NONE) {
		uint8_t *dst = buf;

		if (cap < h->len) {
			r = tape_scratch(&t->dbuf);
			if (r < 0)
				return r;
			dst = t->dbuf;
		}
		r = tape_decompress(&t->zd, comp, t->ebuf, e.body_len, dst, h->len);
		if (r < 0)
			return r;
		if (dst != buf && cap)
			memcpy(buf, dst, cap);
	} else if (plain != buf && cap) {
		memcpy(buf, plain, cap);
	}
	return 0;
}

/* A compressed block's n stored bytes at src (in t->cbuf): inflate into
 * buf if the whole block fits, else via scratch; at most cap bytes. */
static int read_compressed(struct tape *t, const struct rec_hdr *h, const uint8_t *src, uint32_t n,
			   uint8_t *buf, uint32_t cap)
{
	uint8_t *dst = buf;
	int r;

	if (cap < h->len) {
		r = tape_scratch(&t->dbuf);
		if (r < 0)
			return r;
		dst = t->dbuf;
	}
	r = tape_decompress(&t->zd, h->flags & REC_COMP_MASK, src, n, dst, h->len);
	if (r < 0)
		return r;
	if (dst != buf && cap)
		memcpy(buf, dst, cap);
	return 0;
}

/*
 * A block encrypted at rest, its stored payload whole in t->cbuf and its
 * header's bytes at hb: open it with the data key, then hand what it wraps
 * to the drive's decryption, the decompressor or buf. A plain block that
 * fits goes straight to buf; anything else is decrypted in place.
 */
static int read_at_rest(struct tape *t, const struct rec_hdr *h, const uint8_t *hb, uint8_t *buf,
			uint32_t cap)
{
	uint32_t n = h->stored - TAPE_AT_REST_OVERHEAD;
	uint8_t *inner = t->cbuf + REST_NONCE;
	bool plain = !(h->flags & (REC_COMP_MASK | REC_ENCRYPTED));
	uint8_t *dst = plain && cap >= h->len ? buf : inner;
	int r;

	if (!(h->flags & REC_ENCRYPTED) && tcrypt_mode(t->cipher) == TAPE_DECRYPT_ON)
		return -ENOMSG; /* SSC-4 4.2.26: only drive-encrypted blocks are read */
	r = trest_open(t->rest, hb, t->cbuf, h->stored, dst);
	if (r == -EBADMSG)
		t->rest_tag_failed = true;
	if (r < 0)
		return r;
	if (h->flags & REC_ENCRYPTED) {
		r = read_encrypted(t, h, inner, n, buf, cap);
		/* The drive's plaintext was in place here too. */
		tape_wipe(inner, n);
		return r;
	}
	if (h->flags & REC_COMP_MASK) {
		r = read_compressed(t, h, inner, n, buf, cap);
		tape_wipe(inner, n);
		return r;
	}
	if (dst != buf) {
		if (cap)
			memcpy(buf, inner, cap);
		tape_wipe(inner, n);
	}
	return 0;
}

static int read_at_pos(struct tape *t, uint8_t **lent, size_t *lent_size, uint8_t *buf,
		       uint32_t cap, size_t room, uint32_t *len, enum tape_obj *kind)
{
	int r = wb_finish(t);

	*len = 0;
	if (r < 0)
		return r;
	t->pf.armed = false;
	if (t->pf.n) {
		if (t->pf.e[t->pf.head].obj == t->pos)
			return pf_take(t, lent, lent_size, buf, cap, room, len, kind);
		pf_drop(t); /* cannot happen: every move drops them */
	}
	return tape_read_record(t, buf, cap, len, kind);
}

int tape_read(struct tape *t, void *buf, uint32_t cap, uint32_t *len, enum tape_obj *kind)
{
	return read_at_pos(t, NULL, NULL, buf, cap, 0, len, kind);
}

int tape_read_lent(struct tape *t, uint8_t **buf, size_t *size, uint32_t cap, size_t room,
		   uint32_t *len, enum tape_obj *kind)
{
	return read_at_pos(t, buf, size, *buf, cap, room, len, kind);
}

/* A block read with its first in_buf stored bytes in the caller's buf and
 * the rest at the start of t->cbuf: gather all stored bytes in t->cbuf,
 * for the decoder that needs them whole (drive decryption, inflation). */
static void gather_stored(struct tape *t, const void *buf, uint32_t in_buf, uint64_t stored)
{
	memmove(t->cbuf + in_buf, t->cbuf, stored - in_buf);
	if (in_buf)
		memcpy(t->cbuf, buf, in_buf);
}

/* tape_read from the medium. */
int tape_read_record(struct tape *t, void *buf, uint32_t cap, uint32_t *len, enum tape_obj *kind)
{
	uint64_t off, end, stored;
	uint8_t hb[REC_HDR_LEN];
	struct iovec iov[3];
	struct rec_hdr h;
	uint32_t in_buf, crc;
	unsigned comp;
	size_t si;
	int fd, r;

	*len = 0;
	t->rest_tag_failed = false;
	if (!buf)
		cap = 0;
	if (t->pos >= tape_eod(t)) {
		*kind = TAPE_EOD;
		return 0;
	}
	r = tape_record_at(t, t->pos, &si, &off, &end);
	if (r < 0)
		return r;
	fd = tape_seg_fd(t, si, off, end);
	if (fd < 0)
		return fd;
	if (end < off + REC_HDR_LEN || end - off - REC_HDR_LEN > TAPE_STORED_MAX)
		goto bad;
	stored = end - off - REC_HDR_LEN;
	r = tape_scratch(&t->cbuf);
	if (r < 0)
		return r;

	/* One preadv: header, then the payload straight into the caller's
	 * buffer, any excess into scratch (it must still be checked). A
	 * cartridge encrypted at rest has its payloads read whole into
	 * scratch, where they are opened. */
	in_buf = cap < stored ? cap : (uint32_t)stored;
	if (t->info.at_rest)
		in_buf = 0;
	iov[0].iov_base = hb;
	iov[0].iov_len = REC_HDR_LEN;
	iov[1].iov_base = buf;
	iov[1].iov_len = in_buf;
	iov[2].iov_base = t->cbuf;
	iov[2].iov_len = stored - in_buf;
	r = rw_read(t, si, fd, iov, 3, off, end);
	if (r == -EBADMSG)
		goto bad;
	if (r < 0)
		return r;
	if (rec_decode(hb, &h) < 0 || h.obj != t->pos || h.stored != stored)
		goto bad;
	crc = crc32c_update(crc32c(buf, in_buf), t->cbuf, stored - in_buf);
	if (crc != h.crc)
		goto bad;
	/* The header and the filemark array must agree on what this is. */
	{
		size_t j = u64vec_lower(&t->fm, t->pos);
		bool is_fm = j < t->fm.n && t->fm.v[j] == t->pos;

		if (is_fm != (h.type == REC_FILEMARK))
			goto bad;
	}
	if (h.type == REC_FILEMARK) {
		*kind = TAPE_FILEMARK;
		t->pos++;
		return 0;
	}

	comp = h.flags & REC_COMP_MASK;
	if (h.flags & REC_AT_REST) {
		if (!t->rest)
			return -EACCES;
		r = read_at_rest(t, &h, hb, buf, cap);
		if (r == -EBADMSG)
			goto bad;
		if (r < 0)
			return r;
	} else if (t->info.at_rest) {
		if (!t->rest)
			return -EACCES;
		goto bad; /* a clear block where only encrypted ones are written */
	} else if (h.flags & REC_ENCRYPTED) {
		gather_stored(t, buf, in_buf, stored);
		r = read_encrypted(t, &h, t->cbuf, h.stored, buf, cap);
		if (r == -EBADMSG)
			goto bad;
		if (r < 0)
			return r;
	} else if (tcrypt_mode(t->cipher) == TAPE_DECRYPT_ON) {
		return -ENOMSG; /* SSC-4 4.2.26: only encrypted blocks are read */
	} else if (comp != TAPE_COMP_NONE) {
		gather_stored(t, buf, in_buf, stored);
		r = read_compressed(t, &h, t->cbuf, h.stored, buf, cap);
		if (r == -EBADMSG)
			goto bad;
		if (r < 0)
			return r;
	}
	*len = h.len;
	*kind = TAPE_BLOCK;
	t->pos++;
	t->st.blocks_read++;
	t->st.bytes_read_host += h.len;
	t->st.bytes_read_stored += h.stored;
	return 0;
bad:
	t->st.crc_errors++;
	return -EBADMSG;
}

int tape_peek(struct tape *t, struct tape_next *n)
{
	uint8_t b[REC_HDR_LEN + ENV_FIXED + TAPE_AKAD_MAX + TAPE_UKAD_MAX];
	uint64_t off, end;
	struct rec_hdr h;
	struct tcrypt_env e;
	size_t si, j;
	int fd, r;

	memset(n, 0, sizeof(*n));
	r = wb_finish(t);
	if (r < 0)
		return r;
	if (t->pos >= tape_eod(t)) {
		n->kind = TAPE_EOD;
		return 0;
	}
	j = u64vec_lower(&t->fm, t->pos);
	if (j < t->fm.n && t->fm.v[j] == t->pos) {
		n->kind = TAPE_FILEMARK;
		return 0;
	}
	n->kind = TAPE_BLOCK;
	r = tape_record_at(t, t->pos, &si, &off, &end);
	if (r < 0)
		return r;
	if (end < off + REC_HDR_LEN)
		return -EBADMSG;
	fd = tape_seg_fd(t, si, off, end);
	if (fd < 0)
		return fd;
	uint64_t want = end - off < sizeof(b) ? end - off : sizeof(b);
	struct iovec iov = {b, (size_t)want};
	r = tape_preadv_all(fd, &iov, 1, off);
	if (r < 0)
		return r;
	if (rec_decode(b, &h) < 0 || h.obj != t->pos || h.type != REC_BLOCK)
		return -EBADMSG;
	if (!(h.flags & REC_ENCRYPTED))
		return 0;
	if (h.flags & REC_AT_REST) {
		/* The drive's envelope is inside encryption at rest: open the
		 * whole record (checked by its CRC and its tag) to see it. */
		uint32_t inner = h.stored - TAPE_AT_REST_OVERHEAD;

		if (!t->rest)
			return -EACCES;
		if (end - off != REC_HDR_LEN + (uint64_t)h.stored)
			return -EBADMSG;
		r = tape_scratch(&t->cbuf);
		if (r < 0)
			return r;
		iov = (struct iovec){t->cbuf, h.stored};
		r = tape_preadv_all(fd, &iov, 1, off + REC_HDR_LEN);
		if (r < 0)
			return r;
		if (crc32c(t->cbuf, h.stored) != h.crc ||
		    trest_open(t->rest, b, t->cbuf, h.stored, t->cbuf + REST_NONCE) < 0)
			return -EBADMSG;
		r = tcrypt_parse(t->cbuf + REST_NONCE, inner, inner, &e);
		if (r == 0) {
			n->encrypted = true;
			n->key_matches = tcrypt_key_matches(t->cipher, e.kcv);
			n->akad_len = e.alen;
			n->ukad_len = e.ulen;
			memcpy(n->akad, e.akad, e.alen);
			memcpy(n->ukad, e.ukad, e.ulen);
		}
		tape_wipe(t->cbuf + REST_NONCE, inner);
		return r < 0 ? -EBADMSG : 0;
	}
	if (tcrypt_parse(b + REC_HDR_LEN, (uint32_t)(want - REC_HDR_LEN), h.stored, &e) < 0)
		return -EBADMSG;
	n->encrypted = true;
	n->key_matches = tcrypt_key_matches(t->cipher, e.kcv);
	n->akad_len = e.alen;
	n->ukad_len = e.ulen;
	memcpy(n->akad, e.akad, e.alen);
	memcpy(n->ukad, e.ukad, e.ulen);
	return 0;
}
