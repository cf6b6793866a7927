/*
 * keyfile.c - a secret key from a private file (see keyfile.h). The
 * file's bytes pass through one stack buffer, wiped before return.
 */
#include "config.h"

#include "keyfile.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#define KEYFILE_MAX 256 /* a base64 line of a 128-byte key and then some */

int keyfile_decode(const unsigned char *buf, size_t n, unsigned char *key, size_t len)
{
	if (n == len) {
		memcpy(key, buf, len);
		return 0;
	}
	/* One line of base64: trailing white space is not part of it. */
	while (n && isspace(buf[n - 1]))
		n--;
	size_t pad = 0;
	while (pad < n && pad < 2 && buf[n - 1 - pad] == '=')
		pad++;
	unsigned char out[KEYFILE_MAX];
	int m = n > KEYFILE_MAX || n % 4 ? -1 : EVP_DecodeBlock(out, buf, (int)n);
	int rc = 0;
	if (m < 0 || (size_t)m - pad != len)
		rc = -EINVAL;
	else
		memcpy(key, out, len);
	OPENSSL_cleanse(out, sizeof(out));
	return rc;
}

int keyfile_read(const char *path, unsigned char *key, size_t len, const char *what, char *err,
		 size_t errlen)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "%s %s: cannot open it: %s", what, path,
			 e == ELOOP ? "it is a symbolic link; name the file itself" : strerror(e));
		return -e;
	}
	struct stat st;
	if (fstat(fd, &st)) {
		int e = errno;
		close(fd);
		snprintf(err, errlen, "%s %s: %s", what, path, strerror(e));
		return -e;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(err, errlen, "%s %s is not a regular file", what, path);
		return -EINVAL;
	}
	if (st.st_uid != geteuid() || (st.st_mode & 077)) {
		close(fd);
		snprintf(err, errlen,
			 "%s %s has mode %04o and owner uid %u: a key must be private to vtld's "
			 "user (uid %u); chown it and chmod 600 %s",
			 what, path, (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid,
			 (unsigned)geteuid(), path);
		return -EPERM;
	}
	unsigned char buf[KEYFILE_MAX + 1];
	size_t n = 0;
	ssize_t got;
	while (n < sizeof(buf) && (got = read(fd, buf + n, sizeof(buf) - n)) != 0) {
		if (got < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			close(fd);
			OPENSSL_cleanse(buf, sizeof(buf));
			snprintf(err, errlen, "%s %s: cannot read it: %s", what, path, strerror(e));
			return -e;
		}
		n += (size_t)got;
	}
	close(fd);
	int rc = keyfile_decode(buf, n, key, len);
	if (rc)
		snprintf(err, errlen,
			 "%s %s holds neither %zu raw bytes nor one line of base64 of "
			 "%zu bytes; make one with openssl rand -base64 %zu > %s",
			 what, path, len, len, len, path);
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}
