/*
 * tape.h - the medium: one virtual cartridge as a sequence of logical
 * objects (data blocks and filemarks) ending at end-of-data, stored in a
 * directory of checksummed, self-describing segment files.
 *
 * Positions are logical object numbers as SSC-4 4.2.4 counts them: every
 * block and every filemark is one object, numbered from 0 at BOT; EOD is the
 * object number one past the last object. The position lies *before* the
 * object it names.
 *
 * Semantics the drive (ssc.c) relies on:
 *   - Writing (a block or filemarks) at position p discards every object at
 *     or after p first (SSC-4 4.2.7: writing makes later data unreachable),
 *     then appends. No data is copied to do it (ARCHITECTURE.md).
 *   - tape_write() may return before the data is on stable storage.
 *     tape_flush() returns only when every object written so far is on
 *     stable storage and recorded in the manifest, so that after a crash at
 *     any instant the medium reopens with all of it, byte for byte, and EOD
 *     right after the last complete object. tape_write_filemarks() does
 *     not flush by itself: the caller flushes for IMMED=0.
 *   - Positioning (locate, space) costs O(log n) in the number of objects
 *     plus at most one read of a record header.
 *   - Every record carries a CRC32C; a record that fails it is reported as
 *     -EBADMSG and never returned as data.
 *
 * A struct tape is not thread-safe; the owning drive serialises access.
 * All functions return 0 or a negative errno.
 */
#ifndef VTL_TAPE_H
#define VTL_TAPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tape;

enum tape_obj {
	TAPE_BLOCK,
	TAPE_FILEMARK,
	TAPE_EOD,
	TAPE_BOT, /* only as a stop reason of backward spacing */
};

enum tape_compression {
	TAPE_COMP_NONE = 0,
	TAPE_COMP_LZ4 = 1,
	TAPE_COMP_ZSTD = 2,
};

/* LTO generations and their native capacities (LTO program figures). */
enum tape_media {
	TAPE_LTO5 = 5, /* 1.5 TB, density code 0x58 */
	TAPE_LTO6 = 6, /* 2.5 TB, 0x5a */
	TAPE_LTO7 = 7, /* 6 TB, 0x5c */
	TAPE_LTO8 = 8, /* 12 TB, 0x5e */
	TAPE_LTO9 = 9, /* 18 TB, 0x60 */
};

/* Persistent facts about a cartridge (part of the manifest; also the MAM). */
struct tape_info {
	char barcode[17];
	char serial[33]; /* medium serial number */
	enum tape_media media;
	uint64_t capacity; /* native capacity in bytes, or a test override */
	uint64_t load_count;
	bool write_protect; /* the cartridge's write-protect tab */
	bool worm;	    /* write once, read many: data is only ever appended */
	bool at_rest;	    /* records encrypted at rest under a data key (below) */
	uint64_t created;   /* seconds since the epoch */
};

/* Native capacity and density code of an LTO generation; 0 if unknown. */
uint64_t tape_media_capacity(enum tape_media media);
uint8_t tape_media_density(enum tape_media media);
const char *tape_media_name(enum tape_media media); /* "LTO-5".. */
int tape_media_parse(const char *name, enum tape_media *media);

/* Create a blank cartridge in directory `dir` (created; must not exist). */
int tape_format(const char *dir, const struct tape_info *info);
/* The same without any fsync, for many cartridges at once: the caller
 * makes them durable together (syncfs(2) of the file system) before it
 * records them anywhere. Until then a crash may leave a directory with an
 * incomplete cartridge, which tape_probe() reports as none. */
int tape_format_nosync(const char *dir, const struct tape_info *info);

/*
 * Rebuild the MANIFEST of the cartridge in `dir` when it is missing or fails
 * its checks, from the segment files' own records and MANIFEST.prev (the
 * generation kept beside it), else the hint's facts (scsi/tape_repair.c).
 * The new manifest's generation is at least min_generation + 1. Returns 0
 * with rep->repaired false when the manifest is sound, 0 with it true when
 * it was rebuilt (the damaged file kept as MANIFEST.damaged), -EBADMSG when
 * what survives here cannot say what the tape holds, -EBUSY when the
 * cartridge is open.
 */
struct tape_repair {
	bool repaired;
	int cause;	  /* -ENOENT: it was missing; -EBADMSG: it failed its checks */
	bool from_prev;	  /* the tape's facts from MANIFEST.prev, else the hint's */
	size_t segments;  /* named by the rebuilt manifest */
	size_t stepped;	  /* segments trusted past a damaged record */
	size_t unplaced;  /* segment files whose first record is unreadable */
	uint64_t objects; /* EOD */
	uint64_t bytes;	  /* stored bytes, headers included */
	char barcode[17];
};
int tape_repair(const char *dir, const struct tape_info *hint, uint64_t min_generation,
		struct tape_repair *rep);

/*
 * The files of a cartridge in its directory (docs/medium-format.md), for
 * the layers that move them to and from the object store: a segment's
 * records (TAPE_SEG_DATA) and index sidecar (TAPE_SEG_INDEX), a segment
 * being fetched back into the directory (TAPE_SEG_FETCH: written aside,
 * then renamed to its data file; tape_open ignores it), the manifest and
 * the copies tape_repair keeps. seg is ignored for the manifest's files;
 * dir NULL gives the name alone (for the *at() calls). -ENAMETOOLONG when
 * buf cannot hold it.
 */
enum tape_file {
	TAPE_SEG_DATA,
	TAPE_SEG_INDEX,
	TAPE_SEG_FETCH,
	TAPE_FILE_MANIFEST,
	TAPE_FILE_MANIFEST_PREV,
	TAPE_FILE_MANIFEST_DAMAGED,
};
int tape_file_path(const char *dir, enum tape_file f, uint64_t seg, char *buf, size_t cap);
/* The name alone ("MANIFEST.prev"), for messages. */
const char *tape_file_name(enum tape_file f);
/* Remove the TAPE_SEG_FETCH files a crash left in dir (nothing may be
 * fetching into it); 0 or a negative errno. */
int tape_remove_fetches(const char *dir);

/* Does dir hold a cartridge's files (a manifest, a segment with data, a
 * sidecar)? 1 yes, 0 no (or no such directory), or a negative errno. An
 * unfinished tape_format's empty segment is no cartridge. */
int tape_probe(const char *dir);

/* Open a cartridge, recovering from a crash if need be; position at BOT. */
int tape_open(const char *dir, struct tape **out);

/* Flush and close. */
int tape_close(struct tape *t);

const struct tape_info *tape_get_info(const struct tape *t);
int tape_set_write_protect(struct tape *t, bool wp);
int tape_count_load(struct tape *t); /* load_count++, persisted */

/* Position. */
uint64_t tape_pos(const struct tape *t);  /* logical object number */
uint64_t tape_file(const struct tape *t); /* filemarks before the position */
uint64_t tape_eod(const struct tape *t);  /* object number of EOD */
int tape_rewind(struct tape *t);
/* Move to object `obj`; past EOD positions at EOD and returns -ENODATA. */
int tape_locate(struct tape *t, uint64_t obj);
int tape_seek_eod(struct tape *t);

/*
 * Read the object at the position.
 *   TAPE_BLOCK: copies min(cap, record length) bytes to buf (buf may be NULL
 *     with cap 0 to verify only), *len = the record's full length, moves past.
 *   TAPE_FILEMARK: moves past the filemark, *len = 0.
 *   TAPE_EOD: does not move.
 * -EBADMSG: the record failed its checksum or does not parse; no move.
 */
int tape_read(struct tape *t, void *buf, uint32_t cap, uint32_t *len, enum tape_obj *kind);
/*
 * tape_read into a buffer the caller lends (struct scsi_cmd's in_size):
 * *buf was malloc'd with *size bytes, and the caller frees whatever *buf
 * is after the call. When the block at the position was read ahead
 * (tape_prefetch), is read whole (its length at most cap) and the buffer
 * it was read ahead into holds at least `room` bytes, the two buffers are
 * exchanged instead of the block being copied: *buf and *size then name
 * the read-ahead's buffer, which is the caller's from now on, and the
 * caller's old buffer joins the read-ahead's ring (its contents are
 * overwritten, never read). Otherwise, and with *size 0, it is tape_read
 * into *buf. Either way the same data, length, statistics and move.
 */
int tape_read_lent(struct tape *t, uint8_t **buf, size_t *size, uint32_t cap, size_t room,
		   uint32_t *len, enum tape_obj *kind);

/*
 * SPACE (SSC-4, "SPACE(6) command", "SPACE(16) command"). count > 0
 * forward, < 0 backward. *done = objects of the
 * counted kind actually passed (magnitude), *stop the reason it stopped
 * early (TAPE_FILEMARK, TAPE_EOD or TAPE_BOT) or TAPE_BLOCK when it did not.
 *   blocks forward: a filemark stops it, positioned after the filemark;
 *   blocks backward: a filemark stops it, positioned before the filemark;
 *   filemarks forward: ends after the count-th filemark; EOD stops it;
 *   filemarks backward: ends before the count-th filemark; BOT stops it.
 */
int tape_space_blocks(struct tape *t, int64_t count, int64_t *done, enum tape_obj *stop);
int tape_space_filemarks(struct tape *t, int64_t count, int64_t *done, enum tape_obj *stop);

/*
 * Write one block of len bytes (1..TAPE_MAX_BLOCK) at the position.
 * Writes (tape_write, tape_write_filemarks, tape_erase) fail with -EROFS on
 * a write-protected cartridge and -ENOSPC when the record would not fit in
 * tape_capacity(); neither changes the medium.
 */
#define TAPE_MAX_BLOCK (8u << 20)
int tape_write(struct tape *t, const void *buf, uint32_t len);
/*
 * Write-behind for a drive in buffered mode (SSC-4 8.3.1; docs/design.md,
 * "Write-behind and read-ahead of records encrypted at rest"). On a
 * cartridge encrypted at rest, tape_write_buffered() checks, compresses and accounts for the
 * block now, exactly as tape_write() (the same errors, and on success the
 * same position, EOD, space used and statistics), and leaves its
 * encryption, checksum and write to tape_write_behind(), which the
 * drive's thread calls; on any other cartridge it is tape_write(), but for
 * the gathering of small blocks below. One
 * block at most is pending: every other call on the tape (a read, a
 * write, a move, a flush, a key change, tape_close) writes it first, and
 * fails with its error if that fails. A pending block that cannot be
 * written is taken back: the position, EOD and the accounting are then
 * as before tape_write_buffered(), the error is returned to the call
 * that met it, and it is kept until tape_write_behind() returns it:
 * tape_write_behind() writes the block if one waits, then returns (and
 * forgets) the error of a block left behind that could not be written,
 * whichever call met it, or 0 (the drive reports it as a deferred error,
 * so that a failure met by, say, the library's flush is not lost).
 * tape_write_pending() says whether a block waits.
 */
int tape_write_buffered(struct tape *t, const void *buf, uint32_t len);
/*
 * tape_write_buffered of a buffer the caller lends (struct scsi_cmd's
 * out_size): *buf was malloc'd with *size bytes and holds the block (len
 * bytes), and the caller frees whatever *buf is after the call. When the
 * block is left behind as it is (not shrunk by compression), the medium
 * keeps the caller's buffer for it instead of copying the block, and
 * hands back in *buf and *size the one it kept for the block before,
 * written by then (NULL and 0 for the first); its contents are the
 * caller's own earlier block. Otherwise, and with *size 0, it is
 * tape_write_buffered of *buf. The same checks, errors and accounting.
 */
int tape_write_buffered_lent(struct tape *t, uint8_t **buf, size_t *size, uint32_t len);
int tape_write_behind(struct tape *t);
bool tape_write_pending(const struct tape *t);
/*
 * On a cartridge stored clear, tape_write_buffered() of a small block
 * (TAPE_WC_REC_MAX, tape_int.h) makes its record whole at once and
 * gathers it with the blocks written before it; they are written together,
 * by one system call, when they reach 64 KiB or first thing in any other
 * call on the tape, as a block left behind is. If that write fails, all of
 * them are taken back as one block left behind is, and the error is
 * returned to the call that met it and kept for tape_write_behind(). Such
 * a failure of a call that gathered its own block takes back that block
 * too. tape_write_pending() stays false for them: they need no thread.
 *
 * tape_write_held(): a block waits (left behind, or gathered).
 * tape_write_behind_lost(): tape_write_behind(), but with keep it writes
 * only a block left behind, not the gathered ones (for a WRITE, which
 * adds to them); and it returns in *blocks and *bytes (either may be NULL)
 * what the blocks taken back since the last call held: their number and
 * their bytes for the host, what a deferred error's INFORMATION reports.
 */
bool tape_write_held(const struct tape *t);
int tape_write_behind_lost(struct tape *t, bool keep, uint64_t *blocks, uint64_t *bytes);
/* Write count filemarks at the position (count 0 only truncates at it). */
int tape_write_filemarks(struct tape *t, uint32_t count);
/* Make EOD the position, discarding what follows (ERASE). Durable. */
int tape_erase(struct tape *t);

/*
 * WORM cartridges (tape_info.worm): data is only ever appended. A write
 * may start at EOD, or after a filemark when nothing but filemarks lies
 * between the position and EOD (the trailing filemarks a host closes a
 * session with may be overwritten, never the first of them); tape_erase
 * only at EOD. tape_worm_allows() says whether the write (erase false) or
 * the erase (erase true) may start at the position; always true on a
 * rewritable cartridge. A refused tape_write, tape_write_filemarks or
 * tape_erase returns -EPERM and leaves the medium unchanged.
 */
bool tape_worm_allows(const struct tape *t, bool erase);
/* Make everything written durable (see above). */
int tape_flush(struct tape *t);

/*
 * Segment size: once appending a record would take the active segment past
 * `bytes`, the segment is sealed (made durable, indexed) and a new one
 * started. Not persisted; 0 restores the default. For tests and tuning.
 */
#define TAPE_SEGMENT_SIZE (1ull << 30)
void tape_set_segment_size(struct tape *t, uint64_t bytes);

/*
 * The local cache (ARCHITECTURE.md, "The medium, the cache and the object
 * store"): fully uploaded sealed segments may be evicted from the cartridge
 * directory and fetched back from the object store when read. The medium
 * does no network I/O itself; it asks these hooks, which vtld's uploader
 * registers (vtl/cache.c). Without hooks (or with NULL members) the medium
 * is purely local and a missing segment file reads as -EBADMSG.
 *
 * Registered once per process, before any cartridge is opened; the
 * functions may be called from any drive's thread at the same time.
 */
struct tape_fetch_req {
	int dirfd;	     /* the cartridge's directory */
	const char *barcode; /* tape_info.barcode */
	uint64_t seg_id;     /* the file is seg-<id, 16 hex>.dat */
	uint64_t valid;	     /* the segment's valid bytes (manifest) */
	uint64_t from;	     /* a record's start: bytes [from, need) */
	uint64_t need;	     /* must be readable on return */
};

struct tape_hooks {
	/*
	 * A sealed segment's file is not in the directory (evicted), or bytes
	 * outside what an earlier call made readable are needed. Return in
	 * *fd a new read descriptor (the medium closes it) on which at least
	 * [from, need) is readable and verified, and in *avail the end of
	 * what is from `from` on (need <= *avail <= valid); the medium asks
	 * again before reading before `from` or past *avail. `from` is where
	 * a record starts, so that a read after a LOCATE costs one ranged read
	 * from there, not the segment up to it. May block while bytes arrive.
	 * -ENOENT: the segment is nowhere (read as -EBADMSG).
	 */
	int (*fetch)(void *arg, const struct tape_fetch_req *req, int *fd, uint64_t *avail);
	/*
	 * Before `bytes` are appended: 0 (the bytes are counted) or, with
	 * wait false, -EAGAIN when the cache is full of data not yet in the
	 * store. The medium then commits what it holds (so that it can be
	 * uploaded) and calls again with wait true, which blocks until there
	 * is room (back-pressure) and returns 0.
	 */
	int (*room)(void *arg, const char *barcode, uint64_t bytes, bool wait);
	/* Segment size of cartridges opened from now on (0: TAPE_SEGMENT_SIZE). */
	uint64_t segment_size;
	void *arg;
};

/* Register (h) or remove (NULL) the hooks; the struct is copied. */
void tape_set_hooks(const struct tape_hooks *h);

/*
 * Drive encryption (SSC-4 4.2.26 "Data encryption", the tape data
 * encryption security protocol of SSC-4 8.5): the drive hands the medium
 * the key of the data encryption parameters in force for the command, and
 * the medium encrypts each block written (after compression, as LTO drives
 * do) with AES-256-GCM, one authentication tag per record, and decrypts on
 * read. The key itself is never written: a record carries an 8-byte key
 * check value (a one-way digest of the key) so that a read with another
 * key is told from a damaged record, its IV, its key-associated data and
 * its tag (docs/medium-format.md, "Encrypted records"). Filemarks are
 * never encrypted; positioning never needs a key.
 *
 * tape_set_crypto() installs the keys for the commands that follow: enc
 * NULL writes plain records; dec NULL reads no encrypted record. mode says
 * which records a read accepts. The keys are copied (and wiped from memory
 * when replaced and at tape_close). A read or verify that cannot return a
 * block leaves the position before it and returns:
 *   -ENOKEY       an encrypted block and no decryption key (or mode OFF);
 *   -ENOMSG       a plain block in mode ON (only encrypted ones accepted);
 *   -EKEYREJECTED an encrypted block written under another key;
 *   -EILSEQ       an encrypted block whose tag does not verify under the
 *                 right key (altered data or key-associated data).
 */
#define TAPE_KEY_LEN		32u
#define TAPE_UKAD_MAX		32u /* unauthenticated key-associated data */
#define TAPE_AKAD_MAX		12u /* authenticated key-associated data */
#define TAPE_KCV_LEN		8u
#define TAPE_CRYPT_OVERHEAD_MAX (24u + TAPE_AKAD_MAX + TAPE_UKAD_MAX + 16u)

struct tape_key {
	uint8_t key[TAPE_KEY_LEN];
	uint8_t ukad[TAPE_UKAD_MAX];
	uint8_t akad[TAPE_AKAD_MAX];
	uint8_t ukad_len, akad_len;
};

enum tape_decrypt {
	TAPE_DECRYPT_OFF,   /* plain blocks only */
	TAPE_DECRYPT_ON,    /* encrypted blocks only */
	TAPE_DECRYPT_MIXED, /* both */
};

int tape_set_crypto(struct tape *t, const struct tape_key *enc, const struct tape_key *dec,
		    enum tape_decrypt mode);

/* The key check value a record written under key carries. */
void tape_key_check(const uint8_t key[TAPE_KEY_LEN], uint8_t kcv[TAPE_KCV_LEN]);

/*
 * What the object at the position is, without reading its data (SSC-4
 * 8.5.2.8, next block encryption status): its kind, whether it is an
 * encrypted block, whether the installed decryption key is the one it was
 * written under, and its key-associated data. Does not move. -EBADMSG as
 * tape_read for a record that does not parse.
 */
struct tape_next {
	enum tape_obj kind;
	bool encrypted;
	bool key_matches;
	uint8_t ukad[TAPE_UKAD_MAX];
	uint8_t akad[TAPE_AKAD_MAX];
	uint8_t ukad_len, akad_len;
};
int tape_peek(struct tape *t, struct tape_next *n);

/*
 * Library encryption at rest (docs/design.md, "Encryption of cartridges
 * at rest"; docs/medium-format.md, "Records encrypted at rest"): a
 * cartridge formatted with tape_info.at_rest stores every block's payload
 * (what compression and drive encryption left) as nonce || AES-256-GCM
 * ciphertext || tag under its own 256-bit data key, which the library
 * holds wrapped and hands the medium after tape_open. The mark is in the
 * manifest, so a reader that predates it refuses the cartridge. Headers,
 * filemarks, the index and the manifest stay clear: positioning, the
 * record checks of tape_records_verify and tape_repair need no key.
 *
 * tape_set_data_key() installs the key (copied; wiped at tape_close) and
 * checks it against the tape's first block when there is one: 0,
 * -EKEYREJECTED when that block does not open under it (another tape's
 * key), -EINVAL on a cartridge not formatted at rest. Until a key is
 * installed, tape_read of a block and every write (tape_write,
 * tape_write_filemarks, tape_erase) of an at-rest cartridge return
 * -EACCES and change nothing. A block whose tag fails reads as -EBADMSG,
 * never as data, as does a block stored clear on an at-rest cartridge.
 */
#define TAPE_AT_REST_OVERHEAD 28u /* nonce (12) and tag (16) per block */
int tape_set_data_key(struct tape *t, const uint8_t key[TAPE_KEY_LEN]);
bool tape_has_data_key(const struct tape *t);

/*
 * Read-ahead of a cartridge encrypted at rest (docs/design.md, "Write-
 * behind and read-ahead of records encrypted at rest"). The AES-GCM pass of a 256 KiB block costs
 * about a third of what the rest of a READ does; done by another thread
 * while the host takes the blocks before it, it leaves the command's path.
 *
 * tape_prefetch_arm() is called after a read the host made: it says the
 * host streams, and returns true when a read-ahead is worth doing (the
 * cartridge is encrypted at rest, has its key, fewer than a few blocks
 * are read ahead and there is more before EOD). Each tape_prefetch() then
 * reads the next block not yet read ahead, whole, into a buffer of the
 * tape's own, through the same checks as tape_read (CRC, tag), without
 * moving and without counting it as read, and returns 1 when another one
 * may follow (it stays armed), 0 when not, or the error of that read. A
 * tape_read at the position takes the first block read ahead from there
 * (the same data, length, statistics and move as reading it then) and
 * disarms. Nothing is kept for a filemark, EOD or a block that fails to
 * read: the host's READ reaches it itself and gets the error. A move
 * (rewind, locate, space), a write, an erase or a key change drops what
 * was read ahead and disarms; every copy is wiped when taken or dropped.
 * All run with the caller's exclusion (the drive's lock), like every
 * other call on the tape.
 */
bool tape_prefetch_arm(struct tape *t);
int tape_prefetch(struct tape *t);
/*
 * The same read-ahead with the block opened off the caller's exclusion,
 * so that a command does not wait for its AES-GCM pass (docs/design.md,
 * "Write-behind and read-ahead of records encrypted at rest"). A job
 * (tape_pf_job_new, one per drive's thread) owns everything its block
 * needs: a duplicate of the segment's descriptor, a copy of the data
 * key's decryption context, its buffers; nothing of the tape is touched
 * between begin and end, so the tape may be moved, written, rekeyed or
 * closed meanwhile.
 *   tape_prefetch_begin (under the exclusion): 1 when the job was given
 *     the next block to open; 2 when that block was read ahead at once
 *     with tape_prefetch (it needs the drive's keys) and another may
 *     follow; 0 when nothing is to be read ahead, or a negative errno.
 *   tape_prefetch_open (no exclusion, the tape is not used): reads and
 *     checks the block (CRC, header, tag) and opens it into the job.
 *   tape_prefetch_end (under the exclusion, t the tape now in the drive
 *     or NULL): publishes the block as read ahead if nothing intervened
 *     (no move, write, key change or close since begin, and it is still
 *     the next block after those read ahead); otherwise, or when it
 *     failed to open, it is wiped and dropped (a failure is then the
 *     host's READ's to meet, as with tape_prefetch). The job's key copy
 *     is wiped either way. Returns 1 when another block may follow.
 * tape_prefetch_opening() says whether a job is opening the very block
 * at the position (nothing read ahead before it): a READ is better off
 * waiting for it than opening it a second time.
 */
struct tape_pf_job;
struct tape_pf_job *tape_pf_job_new(void);
void tape_pf_job_free(struct tape_pf_job *j);
int tape_prefetch_begin(struct tape *t, struct tape_pf_job *j);
void tape_prefetch_open(struct tape_pf_job *j);
int tape_prefetch_end(struct tape *t, struct tape_pf_job *j);
bool tape_prefetch_opening(const struct tape *t);
/* How many blocks read ahead wait for the host (tests). */
unsigned tape_prefetched(const struct tape *t);

/* Compression for subsequent writes (MODE SELECT page 0x0F DCE). */
void tape_set_compression(struct tape *t, enum tape_compression c);
enum tape_compression tape_get_compression(const struct tape *t);

/* Space accounting in stored (post-compression) bytes, including record
 * overhead, of the objects before EOD. */
uint64_t tape_used_bytes(const struct tape *t);
uint64_t tape_capacity(const struct tape *t);
/* Stored bytes in front of the position (for early warning). */
uint64_t tape_bytes_before_pos(const struct tape *t);

/*
 * Host attributes of the medium auxiliary memory: the values WRITE
 * ATTRIBUTE sets (SPC-4 7.4.2.4, identifiers 0800h-0BFFh: application
 * vendor and name, user medium text label, barcode, media pool...). A small
 * map from identifier to bytes kept in the manifest, so the values travel
 * with the cartridge and survive close, reopen and a crash like any other
 * commit. The medium does not interpret them.
 */
#define TAPE_ATTR_MAX_LEN 160 /* bytes in one value */
#define TAPE_ATTR_MAX	  32  /* attributes one cartridge keeps */

struct tape_attr {
	uint16_t id;
	uint16_t len;	    /* 0: delete (tape_set_attrs) */
	const uint8_t *val; /* len bytes */
};

/* Copy attribute id's value to buf (at most cap bytes); *len = its full
 * length. -ENOENT when the cartridge has no such attribute. */
int tape_get_attr(const struct tape *t, uint16_t id, void *buf, size_t cap, size_t *len);

/*
 * Set (len > 0) or delete (len 0) n attributes in one durable commit: all
 * of them or, on failure, none. -EINVAL for a value longer than
 * TAPE_ATTR_MAX_LEN, -ENOSPC when more than TAPE_ATTR_MAX would exist.
 */
int tape_set_attrs(struct tape *t, const struct tape_attr *a, size_t n);

/*
 * The cartridge's files as the layers above see them. vtld's uploader and
 * cache copy a cartridge's manifest and segments to and from the object
 * store, and must check what comes back before it is trusted; the bytes
 * of the format (docs/medium-format.md) are known only here, and these
 * functions are all the layers above need of them.
 */

/* The most bytes one record takes in a segment: its header, the largest
 * block, the envelope of a drive-encrypted one and the nonce and tag of
 * encryption at rest. */
#define TAPE_STORED_MAX (TAPE_MAX_BLOCK + TAPE_CRYPT_OVERHEAD_MAX + TAPE_AT_REST_OVERHEAD)
#define TAPE_REC_MAX	(32u + TAPE_STORED_MAX)

/* One segment of a manifest, in tape order. */
struct tape_manifest_seg {
	uint64_t id;	  /* the file is seg-<id, 16 hex>.dat */
	uint64_t first;	  /* object number of its first record */
	uint64_t objects; /* valid records */
	uint64_t valid;	  /* valid bytes (the last segment: the commit point) */
};

/* What a manifest says. */
struct tape_manifest {
	uint64_t generation; /* +1 per commit */
	struct tape_info info;
	size_t nseg; /* >= 1 */
	struct tape_manifest_seg *segs;
};

/*
 * Parse a manifest held in memory (read from the object store, say), with
 * every check tape_open makes of one: its CRC, its version and the segment
 * list's invariants. 0 and *m filled (free it with tape_manifest_free),
 * -EBADMSG when it fails a check (truncated, damaged), -EPROTONOSUPPORT
 * for a version this code does not know; *m is then empty.
 */
int tape_manifest_parse(const void *buf, size_t len, struct tape_manifest *m);
/*
 * Read and parse the MANIFEST of the cartridge in dir. With raw non-NULL,
 * *raw (malloc'd, the caller frees it) and *rawlen are the file's bytes, to
 * copy elsewhere whole. Errors as tape_manifest_parse, or the errno of
 * opening it (-ENOENT: there is none).
 */
int tape_manifest_read(const char *dir, struct tape_manifest *m, void **raw, size_t *rawlen);
/* At start, before anything may fetch into dir: the manifest as
 * tape_manifest_read reads it (raw not kept) and the TAPE_SEG_FETCH files
 * removed, in one open of the directory. The manifest's result is
 * returned; *swept (may be NULL) gets 0 or the removal's negative errno. */
int tape_manifest_read_sweep(const char *dir, struct tape_manifest *m, int *swept);
void tape_manifest_free(struct tape_manifest *m);
/* Valid bytes of all its segments. */
uint64_t tape_manifest_bytes(const struct tape_manifest *m);

/*
 * Check the records of a run of segment bytes held in memory, from a
 * record's start: each header (magic, CRC, fields) and payload CRC32C.
 * tape_records_prefix: *ok = the length of the longest prefix made of
 * whole records that verify (a record cut by len ends it); -EBADMSG when
 * a record inside is damaged. tape_records_verify: 0 only when the whole
 * of [buf, buf + len) is such records, else -EBADMSG.
 */
int tape_records_prefix(const void *buf, size_t len, size_t *ok);
int tape_records_verify(const void *buf, size_t len);

/*
 * tape_segment_digest: a name of the first len bytes of the segment file
 * open as fd that changes when any of its records does, read from the
 * record headers only (each holds the CRC32C of its payload; the payloads
 * are not read): "crc32c-" and 32 hex digits of SHA-256 over the headers,
 * each checked by the decoder reads use. -EBADMSG when [0, len) is not a
 * run of whole records with valid headers (or the file is shorter),
 * -errno when reading fails. The local object store names a segment it
 * shares by it instead of an MD5 of every byte (docs/object-store.md,
 * "No second copy").
 */
#define TAPE_DIGEST_PREFIX "crc32c-"
#define TAPE_DIGEST_LEN	   (sizeof(TAPE_DIGEST_PREFIX) - 1 + 32)
int tape_segment_digest(int fd, uint64_t len, char out[TAPE_DIGEST_LEN + 1]);

/* Statistics since open, for log pages. */
struct tape_stats {
	uint64_t bytes_written_host, bytes_written_stored;
	uint64_t bytes_read_host, bytes_read_stored;
	uint64_t blocks_written, blocks_read;
	uint64_t crc_errors;
};
void tape_get_stats(const struct tape *t, struct tape_stats *st);

#endif
