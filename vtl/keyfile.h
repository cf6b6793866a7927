/*
 * keyfile.h - reading a secret key from a file (vtl/keyfile.c): the SSE-C
 * key of [store] sse_customer_key_file, a master key (vtl/keys.c). The file must be private to
 * vtld's user, as every secret of vtld is (ARCHITECTURE.md, "Security").
 */
#ifndef VTL_KEYFILE_H
#define VTL_KEYFILE_H

#include <stddef.h>

/*
 * Read a key of exactly `len` bytes from `path` into key: the file holds
 * it raw (exactly len bytes, `openssl rand 32 > FILE`) or as one line of
 * base64 (`openssl rand -base64 32 > FILE`). The file must be a regular
 * file owned by the caller's effective user with no group or other
 * permission bits (chmod 600); it is opened without following a symbolic
 * link in its last component. 0, or a negative errno with err saying what
 * is wrong with which file and the fix. The key's bytes appear in no
 * message; the caller wipes key (OPENSSL_cleanse) when done.
 */
int keyfile_read(const char *path, unsigned char *key, size_t len, const char *what, char *err,
		 size_t errlen);

/* A key of exactly len bytes from the n bytes at buf: raw (n == len) or
 * one line of base64. 0, or -EINVAL. */
int keyfile_decode(const unsigned char *buf, size_t n, unsigned char *key, size_t len);

#endif
