/*
 * tape_int.h - private to the medium (scsi/tape*.c): the in-memory
 * state of an open cartridge and the on-disk encodings.
 *
 * The on-disk format is described byte by byte in docs/medium-format.md;
 * the constants here are that document's, and a change to one is a change
 * to the other.
 *
 * Invariants of struct tape (checked by the tests, relied on everywhere):
 *   - segs[0..nseg-1] is never empty; segs[nseg-1] is the active segment,
 *     the only one ever appended to; every other segment is sealed and
 *     holds at least one object.
 *   - segs[i+1].first == segs[i].first + segs[i].nobj and
 *     segs[i+1].base == segs[i].base + segs[i].len; EOD is
 *     active.first + active.nobj.
 *   - aoff holds the offset of every record of the active segment
 *     (aoff.n == active.nobj); sealed segments keep theirs in the index
 *     sidecar, loaded on demand into a small cache.
 *   - fm holds the object number of every filemark before EOD, sorted.
 *   - synced <= active.len: bytes of the active segment known to be on
 *     stable storage. The manifest never names more of the active segment
 *     than synced.
 */
#ifndef VTL_TAPE_INT_H
#define VTL_TAPE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "tape.h"

/* Record header: 32 bytes, little-endian (docs/medium-format.md). */
#define REC_MAGIC     0x5254564cu /* "LVTR" as bytes: 'L' 'V' 'T' 'R' */
#define REC_HDR_LEN   32u
#define REC_BLOCK     1u
#define REC_FILEMARK  2u
#define REC_COMP_MASK 0x03u /* flags bits 0-1: enum tape_compression */
#define REC_ENCRYPTED 0x04u /* flags bit 2: the payload is an encryption envelope */
#define REC_AT_REST   0x08u /* flags bit 3: the payload is encrypted at rest */
#define REC_FLAGS     (REC_COMP_MASK | REC_ENCRYPTED | REC_AT_REST)

struct rec_hdr {
	uint8_t type;
	uint8_t flags;
	uint64_t obj;	 /* logical object number */
	uint32_t len;	 /* logical (host) length */
	uint32_t stored; /* payload bytes that follow the header */
	uint32_t crc;	 /* CRC32C of the stored payload */
};

void rec_encode(uint8_t out[REC_HDR_LEN], const struct rec_hdr *h);
/* 0, or -EBADMSG if the magic, the header CRC or a field is wrong. */
int rec_decode(const uint8_t in[REC_HDR_LEN], struct rec_hdr *h);

/* pread of up to len bytes at off, short only at the end of the file:
 * bytes read, or -errno (tape_files.c). */
ssize_t tape_pread_full(int fd, uint8_t *buf, size_t len, uint64_t off);

/*
 * tape_crypt.c: the encryption envelope of a block (docs/medium-format.md,
 * "Encrypted records"). The payload of a record with REC_ENCRYPTED is
 *   0 u8 algorithm (1: AES-256-GCM)   1 u8 A-KAD length a   2 u8 U-KAD length u
 *   3 u8 reserved (0)   4 key check value (8)   12 IV (12)
 *   24 A-KAD (a)   24+a U-KAD (u)   ciphertext   tag (16)
 */
#define ENV_FIXED   24u
#define ENV_TAG	    16u
#define ENV_AES_GCM 1u

struct tape_cipher;

struct tcrypt_env {
	const uint8_t *kcv, *iv, *akad, *ukad, *body, *tag;
	uint8_t alen, ulen;
	uint32_t body_len; /* ciphertext: the (compressed) data's length */
};

/* Parse the envelope of a stored payload of `stored` bytes, of which the
 * first `avail` are at p (avail >= ENV_FIXED + a + u suffices for the
 * fields before the body). -EBADMSG when it does not parse. */
int tcrypt_parse(const uint8_t *p, uint32_t avail, uint32_t stored, struct tcrypt_env *e);
/* Set the keys (NULL: none); *c is created on first use. */
int tcrypt_set(struct tape_cipher **c, const struct tape_key *enc, const struct tape_key *dec,
	       enum tape_decrypt mode);
void tcrypt_free(struct tape_cipher *c);
/* Envelope bytes a block written now takes; 0 when writes are plain. */
uint32_t tcrypt_overhead(const struct tape_cipher *c);
enum tape_decrypt tcrypt_mode(const struct tape_cipher *c);
bool tcrypt_key_matches(const struct tape_cipher *c, const uint8_t *kcv);
/* Encrypt n bytes of in into out (n + tcrypt_overhead() bytes). The tag
 * covers the object number, the logical length and the compression flags
 * of the record besides the envelope's fixed part and A-KAD. */
int tcrypt_seal(struct tape_cipher *c, uint64_t obj, uint32_t len, uint8_t flags, const uint8_t *in,
		uint32_t n, uint8_t *out);
/* Decrypt a parsed envelope into out (e->body_len bytes): 0, -ENOKEY,
 * -EKEYREJECTED or -EILSEQ (see tape.h). */
int tcrypt_open(struct tape_cipher *c, uint64_t obj, uint32_t len, uint8_t flags,
		const struct tcrypt_env *e, uint8_t *out);

/*
 * tape_crypt.c, encryption at rest (docs/medium-format.md, "Records
 * encrypted at rest"): the stored payload of a record with REC_AT_REST is
 *   0 nonce (12: a per-key random 64-bit prefix, a 32-bit counter)
 *   12 AES-256-GCM ciphertext of the inner payload   end - 16 tag (16)
 * with the record header's bytes 0..23 as additional authenticated data.
 */
#define REST_NONCE 12u
#define REST_AAD   24u

struct tape_rest;

/* A data key's contexts (the key is copied; *r replaced, the old one
 * wiped). */
int trest_set(struct tape_rest **r, const uint8_t key[TAPE_KEY_LEN]);
void trest_free(struct tape_rest *r);
/* Encrypt n bytes of in into out (n + TAPE_AT_REST_OVERHEAD bytes). */
int trest_seal(struct tape_rest *r, const uint8_t aad[REST_AAD], const uint8_t *in, uint32_t n,
	       uint8_t *out);
/* A context of its own that opens what r opens (a copy of r's decryption
 * context, keyed; *out replaced, the old one wiped); it cannot seal. */
int trest_opener(struct tape_rest **out, const struct tape_rest *r);
/* Decrypt a stored payload of `stored` bytes at in into out (stored -
 * TAPE_AT_REST_OVERHEAD bytes; out may be in + REST_NONCE, in place).
 * -EBADMSG when the tag fails (out is then wiped). */
int trest_open(struct tape_rest *r, const uint8_t aad[REST_AAD], const uint8_t *in, uint32_t stored,
	       uint8_t *out);

/*
 * Wipe n bytes of plaintext from a buffer, in a way the compiler may not
 * drop as a dead store. glibc's explicit_bzero is its memset (vectorised)
 * behind a barrier: about 2 us for a 256 KiB record where OPENSSL_cleanse,
 * eight bytes a loop turn, takes about 20 us, which a read of a record
 * encrypted at rest paid on every block. Keys keep OPENSSL_cleanse (tens
 * of bytes, where the speed does not matter).
 */
static inline void tape_wipe(void *p, size_t n)
{
	explicit_bzero(p, n);
}

/* Defaults. */
#define TAPE_SEG_MAX_OBJ (1u << 20) /* records per segment: bounds index memory */

struct u64vec {
	uint64_t *v;
	size_t n, cap;
};

int u64vec_push(struct u64vec *a, uint64_t x);
void u64vec_free(struct u64vec *a);
/* Number of elements < x in the sorted vector (lower bound). */
size_t u64vec_lower(const struct u64vec *a, uint64_t x);

struct seg {
	uint64_t id;	/* file seg-<id as 16 hex digits>.dat, never reused */
	uint64_t first; /* object number of its first record */
	uint64_t nobj;	/* valid records */
	uint64_t len;	/* valid bytes */
	uint64_t base;	/* stored bytes of all earlier segments */
};

/* One host attribute as the manifest keeps it (tape_set_attrs). */
struct attr_slot {
	uint16_t id;
	uint16_t len;
	uint8_t val[TAPE_ATTR_MAX_LEN];
};

#define TAPE_FD_CACHE  4
#define TAPE_IDX_CACHE 4

/* Blocks read ahead at most (tape_prefetch): 1 MiB of 256 KiB records. */
#define TAPE_PF_DEPTH 4u
/* Records of at most TAPE_WC_REC_MAX bytes (header included) written in
 * buffered mode to a cartridge stored clear are gathered and written
 * TAPE_WC_FLUSH bytes at a time (struct tape's wc): a 4 KiB record then
 * costs a sixteenth of a system call instead of one. */
#define TAPE_WC_FLUSH	(64u << 10)
#define TAPE_WC_REC_MAX (16u << 10)
/* Read the other way round: records of at most TAPE_WC_REC_MAX bytes are
 * read from a window of TAPE_RW_LEN bytes of their segment (struct
 * tape's rw), one pread for the records in it. */
#define TAPE_RW_LEN (64u << 10)

struct tape {
	int dirfd;
	struct tape_info info;
	uint64_t generation; /* manifest generation, +1 per commit */
	uint64_t next_id;    /* id of the next segment file */

	struct seg *segs;
	size_t nseg, segcap;

	int afd;	    /* active segment, O_RDWR */
	struct u64vec aoff; /* offsets of the active segment's records */
	uint64_t synced;    /* active bytes on stable storage */
	uint64_t kicked;    /* active bytes whose writeback was started */
	bool dirty;	    /* the manifest is behind the active segment */
	/* The active segment's inode has another name (the local object store
	 * linked it while the tape was out of a drive, store_put_file): it is
	 * sealed before the next append, never written. */
	bool shared;
	bool nosync; /* tape_format_nosync: commits skip their fsyncs */

	struct attr_slot attrs[TAPE_ATTR_MAX]; /* host attributes, by ascending id */
	size_t nattr;

	struct u64vec fm; /* object numbers of filemarks, sorted */
	uint64_t pos;

	uint64_t seg_limit;
	enum tape_compression comp;
	/* Records stored raw without trying to compress them, after
	 * comp_misses tries in a row that did not shrink (tape_compress()). */
	uint32_t comp_skip, comp_misses;

	struct {
		uint64_t id;
		int fd;
		/* Bytes [lo, avail) are readable: [0, UINT64_MAX) for a
		 * local file, less while it is fetched. */
		uint64_t lo, avail;
	} rfd[TAPE_FD_CACHE];
	unsigned rfd_next;

	struct {
		uint64_t id;
		uint64_t *off;
	} idx[TAPE_IDX_CACHE];
	unsigned idx_next;

	uint8_t *cbuf;		    /* compression output / stored payload scratch */
	uint8_t *dbuf;		    /* decompression scratch for short reads */
	uint8_t *ebuf;		    /* encryption output / decrypted payload scratch */
	struct tape_cipher *cipher; /* keys of tape_set_crypto, NULL: none */
	struct tape_rest *rest;	    /* data key of tape_set_data_key, NULL: none */
	bool rest_tag_failed;	    /* the last tape_read's block failed its tag at rest */
	void *zc, *zd;		    /* ZSTD_CCtx, ZSTD_DCtx, created on first use */
	void *lz4;		    /* LZ4_stream_t, created on first use */
	/* tape_prefetch: blocks pos, pos + 1, ... pos + pf.n - 1 read ahead,
	 * in e[head], e[head + 1], ... (a ring), each with what reading it
	 * added to the statistics, applied when the host takes it. */
	struct {
		bool armed;
		unsigned head, n;
		/* Drawn from a process-wide counter at open and at every
		 * pf_drop (a move, a write, a key change, the close): a block
		 * opened off the lock by a job (struct tape_pf_job) is
		 * published only if gen is still the one it began under, and
		 * no two tapes ever share one. */
		uint64_t gen;
		/* A job began on block job_obj and has not ended. */
		bool job_out;
		uint64_t job_obj;
		struct {
			uint64_t obj;
			uint32_t len;
			uint8_t *buf; /* malloc'd, allocated on first use */
			size_t size;  /* bytes of buf: TAPE_MAX_BLOCK, or less
					 after tape_read_lent exchanged it */
			struct tape_stats st;
		} e[TAPE_PF_DEPTH];
	} pf;

	/* tape_write_buffered: the last record of the active segment, at
	 * offset off and need bytes long, is reserved and not yet written;
	 * its payload (len bytes for the host, stored after compression,
	 * compression flags) is in cbuf, or in buf when a lender's buffer
	 * was kept for it (tape_write_buffered_lent). */
	struct {
		bool pending;
		bool in_buf;  /* the payload is in buf, not in cbuf */
		uint8_t *buf; /* a lender's buffer, malloc'd, size bytes */
		size_t size;
		uint64_t off;
		uint32_t need, len, stored;
		uint8_t flags;
		int err; /* the first failure not yet taken by tape_write_behind */
		/* What the records taken back since then held: blocks, and
		 * bytes for the host (what INFORMATION reports). */
		uint64_t lost_blocks, lost_bytes;
	} wb;

	/* tape_read_record on a cartridge stored clear: bytes [off, off + len) of
	 * segment id, read by one pread for the small records in them
	 * (TAPE_RW_LEN bytes at most). Emptied by every move and write
	 * (pf_drop) and whenever a segment's files change (tape_drop_caches). */
	struct {
		uint8_t *buf;
		uint64_t id, off;
		size_t len;
	} rw;

	/* tape_write_buffered on a cartridge stored clear: the last n records
	 * of the active segment, bytes [off, off + used), are reserved and
	 * held here whole (headers, checksums, payloads), to be written by
	 * one pwrite (wc_flush): when they reach TAPE_WC_FLUSH bytes, or
	 * first thing in any other call that reads, writes, moves or commits.
	 * host and stored are what they add to the statistics. */
	struct {
		uint8_t *buf; /* TAPE_WC_FLUSH + TAPE_WC_REC_MAX bytes */
		size_t used;
		uint64_t off;
		uint32_t n;
		uint64_t host, stored;
	} wc;

	struct tape_stats st;
};

static inline struct seg *tape_active(const struct tape *t)
{
	return &t->segs[t->nseg - 1];
}

/*
 * The read and the write of a record, shared by the files of the medium:
 * tape.c (segments, the write of a record), tape_position.c,
 * tape_segcache.c, tape_read.c, tape_compress.c, tape_readahead.c and
 * tape_buffered.c.
 * Each runs under the caller's exclusion, as every call on the tape does.
 */

/* tape.c. Scratch of TAPE_STORED_MAX bytes, allocated on first use. */
int tape_scratch(uint8_t **buf);
/* pwritev/preadv of all of iov at off, or -errno; a read that ends
 * early is -EBADMSG (the record is damaged). */
int tape_pwritev_all(int fd, struct iovec *iov, int cnt, uint64_t off);
int tape_preadv_all(int fd, struct iovec *iov, int cnt, uint64_t off);
/* The segment holding object obj (< EOD): the last one starting at or
 * before it. */
size_t tape_seg_find(const struct tape *t, uint64_t obj);
/* The checks and the SSC-4 4.2.7 discard before a write of `bytes`
 * stored bytes (tape_prepare_write), without first writing what is held
 * (tape_prepare_append, for a record that joins the gathered ones). */
int tape_prepare_write(struct tape *t, uint64_t bytes);
int tape_prepare_append(struct tape *t, uint64_t bytes);
/* Seal the active segment first if a record of need bytes does not fit. */
int tape_make_room(struct tape *t, uint64_t need);
/* Drive encryption, then encryption at rest, of a block's payload. */
int tape_encrypt_payload(struct tape *t, uint64_t obj, uint32_t len, const void **payload,
			 uint32_t *stored, uint8_t *flags);
/* Start writeback of the active segment when enough has piled up. */
void tape_kick_writeback(struct tape *t);

/* tape_segcache.c. The hooks of tape_set_hooks (zero: none), set before
 * any cartridge is opened and only read afterwards. */
extern struct tape_hooks tape_cache_hooks;
/* Byte range [*off, *end) of object obj (< EOD) in segment *seg. */
int tape_record_at(struct tape *t, uint64_t obj, size_t *seg, uint64_t *off, uint64_t *end);
/* A read descriptor for segment i on which [from, need) is readable. */
int tape_seg_fd(struct tape *t, size_t i, uint64_t from, uint64_t need);
/* Rebuild segment i's index sidecar by scanning the segment. */
int tape_seg_rebuild(struct tape *t, size_t i, struct u64vec *off, struct u64vec *fm);
/* Forget what is cached of segment id (descriptor, offsets, the read
 * window): before its files are shortened or removed. */
void tape_drop_caches(struct tape *t, uint64_t id);

/* tape_read.c. tape_read of the record at the position from the medium
 * itself. */
int tape_read_record(struct tape *t, void *buf, uint32_t cap, uint32_t *len, enum tape_obj *kind);

/* tape_compress.c. Compress buf into t->cbuf when it shrinks (*out is
 * then t->cbuf, *flags the codec), else *out = buf as is. */
void tape_compress(struct tape *t, const void *buf, uint32_t len, const void **out,
		   uint32_t *stored, uint8_t *flags);
/* Inflate stored bytes of codec comp into exactly len bytes, or -EBADMSG;
 * *zd is the ZSTD_DCtx, created on first use. */
int tape_decompress(void **zd, unsigned comp, const uint8_t *src, uint32_t stored, uint8_t *dst,
		    uint32_t len);
void tape_comp_free(struct tape *t);

/* tape_readahead.c. Forget what was read ahead (wiped), disarm, draw a
 * new generation, empty the window: every move, write and key change. */
void pf_drop(struct tape *t);
/* The host's read of the first block read ahead (tape_read_lent's
 * exchange of buffers when lent is non-NULL). */
int pf_take(struct tape *t, uint8_t **lent, size_t *lent_size, uint8_t *buf, uint32_t cap,
	    size_t room, uint32_t *len, enum tape_obj *kind);
/* tape_preadv_all of the record [off, end) of segment si, small records
 * of a cartridge stored clear through the window. */
int rw_read(struct tape *t, size_t si, int fd, struct iovec *iov, int cnt, uint64_t off,
	    uint64_t end);
void pf_free(struct tape *t);

/* tape_buffered.c. Write what is held (a block left behind or the
 * gathered records): first thing in every call that reads, writes,
 * moves, commits or changes keys. */
int wb_finish(struct tape *t);
void wb_free(struct tape *t);

/* tape_disk.c: files of a cartridge. */
#define TAPE_MANIFEST	   "MANIFEST"
#define TAPE_MANIFEST_TMP  "MANIFEST.tmp"
#define TAPE_MANIFEST_PREV "MANIFEST.prev"    /* the generation before (tape_repair) */
#define TAPE_MANIFEST_BAD  "MANIFEST.damaged" /* kept by tape_repair for a person */

void seg_name(char *buf, size_t n, uint64_t id, const char *ext);
/* Read a whole small file of the directory into memory (malloc'd);
 * -EBADMSG when it is longer than max bytes. */
int read_file_at(int dirfd, const char *name, size_t max, uint8_t **out, size_t *len);

/* Write the manifest naming segs[0..nseg-1] atomically and durably
 * (temp file, fsync, rename, fsync directory). */
int manifest_commit(struct tape *t, const struct seg *segs, size_t nseg);
/* Read and verify the manifest into t->info, t->segs, t->next_id. */
int manifest_load(struct tape *t);
/* The same from another file of the directory (MANIFEST.prev). */
int manifest_load_name(struct tape *t, const char *name);
/* The same from the manifest's bytes in memory: every check, the CRC and
 * the segment list's invariants included. t->segs is malloc'd (and may be
 * left set on failure: the caller frees it, as after manifest_load). */
int manifest_decode(struct tape *t, const uint8_t *buf, size_t len);
/* "seg-<16 hex>.<ext>": its id and extension. */
bool parse_seg_name(const char *name, uint64_t *id, const char **ext);

/*
 * Scan the records of a segment file. [0, trusted_len) was committed and
 * must hold trusted_nobj records: only headers are read, and a damaged
 * header is stepped over by searching for the next valid one (the objects
 * in between get offsets that fail on read). With `tail`, records past
 * trusted_len are accepted while complete, in sequence and CRC-valid
 * (payload included); the scan stops at the first that is not.
 * Fills off (offset of each record), fm (absolute object numbers of
 * filemarks), *len and *nobj (what is valid).
 */
int seg_scan(int fd, uint64_t first, uint64_t trusted_len, uint64_t trusted_nobj, bool tail,
	     struct u64vec *off, struct u64vec *fm, uint64_t *len, uint64_t *nobj);

/* Index sidecar seg-<id>.idx of a sealed segment (rebuildable, not fsynced). */
int idx_write(struct tape *t, const struct seg *s, const uint64_t *off, const uint64_t *fm,
	      size_t nfm);
/* Append the filemarks of segment s (those before its end) to fm. */
int idx_read_fm(struct tape *t, const struct seg *s, struct u64vec *fm);
/* Load the offsets of segment s's records (s->nobj of them, malloc'd). */
int idx_read_off(struct tape *t, const struct seg *s, uint64_t **off);
/* The header of sidecar seg-<id>.idx alone, checked by its CRC: the
 * segment's first object, records and bytes (tape_repair of an evicted
 * segment, whose .dat is in the store only). */
int idx_peek(int dirfd, uint64_t id, uint64_t *first, uint64_t *nobj, uint64_t *len);

#endif
