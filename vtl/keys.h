/*
 * keys.h - the key hierarchy of library-managed encryption (docs/design.md,
 * "Encryption of cartridges at rest"): a master key that vtld gets from a
 * private file or from a command, and per tape a random data key that is
 * kept only wrapped by the master key (vtl/keys.c); and the rotation that
 * rewraps every tape's data key under a new master key (vtl/keys_rotate.c).
 *
 * A wrapped data key is text, "v1:MASTERID:BASE64", where MASTERID is the
 * 16-hex-digit id of the master key that wrapped it and BASE64 holds a
 * 12-byte nonce, the AES-256-GCM ciphertext of the 32-byte data key and
 * the 16-byte tag; the additional authenticated data is
 * "vtl tape data key v1" and the tape's barcode, so that a wrap opens for
 * its own tape only. A master key's id is the first 8 bytes of
 * HMAC-SHA256(master key, "vtl master key id v1"): it names the key and
 * reveals nothing of it.
 *
 * Keys live in memory only, in these structs and arrays; callers wipe them
 * (key_master_wipe, OPENSSL_cleanse) when done, and vtld keeps its master
 * keys in locked memory that core dumps leave out (key_master_alloc). No function here prints or
 * puts a key's bytes in a message.
 */
#ifndef VTL_KEYS_H
#define VTL_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#include "catalog/catalog.h"

#define KEY_BYTES	32 /* AES-256 */
#define KEY_ID_LEN	16 /* hex digits of a master key id */
#define KEY_WRAPPED_MAX 128

struct key_master {
	unsigned char key[KEY_BYTES];
	char id[KEY_ID_LEN + 1];
};

/* The master key from a private file (vtl/keyfile.h: mode 0600, 32 bytes
 * raw or base64). 0, or a negative errno with err naming the file. */
int key_master_from_file(const char *path, struct key_master *m, char *err, size_t errlen);

/*
 * The master key from the standard output of `/bin/sh -c command` (32 bytes
 * raw or one line of base64), run with no input, within timeout_secs (0:
 * 30). Its standard error is kept for the message. -ETIMEDOUT (the command
 * is killed), -ECHILD (it failed: exit status and the start of its stderr
 * in err), -EINVAL (its output is not a key), or another negative errno.
 */
int key_master_from_command(const char *command, unsigned timeout_secs, struct key_master *m,
			    char *err, size_t errlen);

/*
 * Room for n master keys, zeroed, in memory of its own that is locked
 * (mlock: never written to swap) and left out of core dumps
 * (MADV_DONTDUMP). NULL with errno when the memory cannot be had. When the
 * lock is refused (RLIMIT_MEMLOCK), the keys are still kept out of core
 * dumps and *locked is false, for the caller to say so. key_master_free
 * wipes them, unlocks and unmaps.
 */
struct key_master *key_master_alloc(size_t n, bool *locked);
void key_master_free(struct key_master *m, size_t n);

/* The master key from KEY_BYTES bytes (its id computed). */
int key_master_set(struct key_master *m, const unsigned char key[KEY_BYTES]);
void key_master_wipe(struct key_master *m);

/* A new random data key (OpenSSL's RAND_bytes). 0 or -EIO. */
int key_data_new(unsigned char dk[KEY_BYTES]);

/* Wrap dk for tape `barcode` under m; out has KEY_WRAPPED_MAX bytes. */
int key_wrap(const struct key_master *m, const char *barcode, const unsigned char dk[KEY_BYTES],
	     char *out);

/*
 * Open a wrap made for `barcode`. -EINVAL: not a wrapped key; -ENOKEY: it
 * names another master key (key_wrapped_master says which); -EKEYREJECTED:
 * it names m but does not open (altered, or made for another tape).
 */
int key_unwrap(const struct key_master *m, const char *barcode, const char *wrapped,
	       unsigned char dk[KEY_BYTES]);

/* The id of the master key a wrap names into id (KEY_ID_LEN + 1 bytes);
 * -EINVAL when wrapped is not a wrapped key. */
int key_wrapped_master(const char *wrapped, char *id);

/* ---- Rotation (vtl/keys_rotate.c) ---------------------------------------- */

/* Make a tape's new wrap known where it must be before the catalog says so
 * (the store's KEY object, the cartridge's KEY file); non-zero stops the
 * rotation there, with err filled. */
typedef int (*key_publish_fn)(void *arg, const char *barcode, const char *wrapped, char *err,
			      size_t errlen);
/* After each tape: done of total, and the barcode. Non-zero stops. */
typedef int (*key_progress_fn)(void *arg, size_t done, size_t total, const char *barcode);

struct key_rotation {
	size_t total;	  /* tapes whose key was under another master at the start */
	size_t rewrapped; /* of them, rewrapped and committed */
};

/*
 * Rewrap, under `cur`, the data key of every tape in catalog c whose row
 * names another master: each is opened with `cur` or `prev` (prev may be
 * NULL), wrapped anew, published (publish may be NULL) and then committed
 * in one statement. Data is not touched. The catalog's master id per tape
 * is the progress marker: run again after a crash or a stop, it does only
 * what remains. -ENOKEY, with err naming the tape and both ids, when a key
 * is under a master neither given key is (nothing more is done);
 * -EKEYREJECTED when a wrap does not open; -ECANCELED when progress asked
 * to stop; a catalog error as it comes.
 */
int key_rotate(struct cat *c, const struct key_master *cur, const struct key_master *prev,
	       key_publish_fn publish, void *publish_arg, key_progress_fn progress,
	       void *progress_arg, struct key_rotation *out, char *err, size_t errlen);

#endif
