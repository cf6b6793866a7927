/*
 * keys.c - master keys, data keys, wrapping (see keys.h).
 *
 * Wrapping is AES-256-GCM (NIST SP 800-38D) through OpenSSL's EVP
 * interface with a random 96-bit nonce per wrap: a master key wraps one
 * key per tape and per rotation, far below the 2^32 wraps SP 800-38D 8.3
 * allows with random nonces. GCM rather than AES Key Wrap (RFC 3394/5649)
 * because it authenticates the barcode as additional data, binding a wrap
 * to its tape.
 */
#include "config.h"

#include "keys.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "keyfile.h"

#define NONCE_LEN 12
#define TAG_LEN	  16
#define WRAP_RAW  (NONCE_LEN + KEY_BYTES + TAG_LEN)
#define WRAP_AAD  "vtl tape data key v1"
#define ID_LABEL  "vtl master key id v1"

int key_master_set(struct key_master *m, const unsigned char key[KEY_BYTES])
{
	unsigned char mac[32];
	unsigned int maclen = 0;
	memcpy(m->key, key, KEY_BYTES);
	if (!HMAC(EVP_sha256(), m->key, KEY_BYTES, (const unsigned char *)ID_LABEL,
		  strlen(ID_LABEL), mac, &maclen)) {
		key_master_wipe(m);
		return -EIO;
	}
	for (int i = 0; i < KEY_ID_LEN / 2; i++)
		snprintf(m->id + 2 * i, 3, "%02x", mac[i]);
	return 0;
}

static size_t vault_len(size_t n)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	return (n * sizeof(struct key_master) + page - 1) / page * page;
}

struct key_master *key_master_alloc(size_t n, bool *locked)
{
	size_t len = vault_len(n ? n : 1);
	/* A mapping of its own: nothing else shares its pages, so that
	 * munlock and MADV_DONTDUMP concern the keys alone. */
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (madvise(p, len, MADV_DONTDUMP)) {
		int e = errno;
		munmap(p, len);
		errno = e;
		return NULL;
	}
	*locked = mlock(p, len) == 0;
	return p;
}

void key_master_free(struct key_master *m, size_t n)
{
	if (!m)
		return;
	size_t len = vault_len(n ? n : 1);
	OPENSSL_cleanse(m, len);
	munlock(m, len);
	munmap(m, len);
}

void key_master_wipe(struct key_master *m)
{
	OPENSSL_cleanse(m, sizeof(*m));
}

int key_master_from_file(const char *path, struct key_master *m, char *err, size_t errlen)
{
	unsigned char k[KEY_BYTES];
	int rc = keyfile_read(path, k, KEY_BYTES, "[encryption] master_key_file", err, errlen);
	if (!rc && (rc = key_master_set(m, k)))
		snprintf(err, errlen, "[encryption] master_key_file %s: cannot derive the key's id",
			 path);
	OPENSSL_cleanse(k, sizeof(k));
	return rc;
}

static long ms_since(const struct timespec *t0)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t0->tv_sec) * 1000L + (now.tv_nsec - t0->tv_nsec) / 1000000L;
}

/* The first line of a command's stderr, printable, for a message. */
static void first_line(const char *in, size_t n, char *out, size_t cap)
{
	size_t j = 0;
	for (size_t i = 0; i < n && in[i] != '\n' && j + 1 < cap; i++)
		out[j++] = in[i] >= 0x20 && in[i] < 0x7f ? in[i] : '?';
	out[j] = 0;
}

int key_master_from_command(const char *command, unsigned timeout_secs, struct key_master *m,
			    char *err, size_t errlen)
{
	int out[2], errp[2];
	if (pipe2(out, O_CLOEXEC))
		return -errno;
	if (pipe2(errp, O_CLOEXEC)) {
		int e = errno;
		close(out[0]);
		close(out[1]);
		return -e;
	}
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(out[0]);
		close(out[1]);
		close(errp[0]);
		close(errp[1]);
		snprintf(err, errlen, "[encryption] key_command: cannot fork: %s", strerror(e));
		return -e;
	}
	if (pid == 0) {
		/* Only async-signal-safe calls until execve: vtld has threads. The
		 * command gets no descriptor of vtld's but its three. */
		int null = open("/dev/null", O_RDONLY);
		if (null < 0 || dup2(null, 0) < 0 || dup2(out[1], 1) < 0 || dup2(errp[1], 2) < 0)
			_exit(127);
		closefrom(3);
		char *const argv[] = {"sh", "-c", (char *)command, NULL};
		execve("/bin/sh", argv, environ);
		_exit(127);
	}
	close(out[1]);
	close(errp[1]);
	unsigned char buf[512];
	char ebuf[512];
	size_t n = 0, en = 0;
	bool open_out = true, open_err = true, timed_out = false;
	long limit = (long)(timeout_secs ? timeout_secs : 30) * 1000L;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (open_out || open_err) {
		long left = limit - ms_since(&t0);
		if (left <= 0) {
			timed_out = true;
			break;
		}
		struct pollfd p[2] = {{open_out ? out[0] : -1, POLLIN, 0},
				      {open_err ? errp[0] : -1, POLLIN, 0}};
		int r = poll(p, 2, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;
		if (p[0].revents) {
			ssize_t got = read(out[0], buf + n, sizeof(buf) - n);
			if (got > 0) {
				n += (size_t)got;
				if (n == sizeof(buf))
					open_out = false; /* more than any key: refused below */
			} else if (got == 0 || errno != EINTR) {
				open_out = false;
			}
		}
		if (p[1].revents) {
			char tmp[256];
			ssize_t got = read(errp[0], tmp, sizeof(tmp));
			if (got > 0) {
				size_t take = (size_t)got < sizeof(ebuf) - en ? (size_t)got
									      : sizeof(ebuf) - en;
				memcpy(ebuf + en, tmp, take);
				en += take;
			} else if (got == 0 || errno != EINTR) {
				open_err = false;
			}
		}
	}
	close(out[0]);
	close(errp[0]);
	if (timed_out)
		kill(pid, SIGKILL); /* the child this call started, by its pid */
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	int rc = 0;
	char said[160];
	first_line(ebuf, en, said, sizeof(said));
	if (timed_out) {
		snprintf(err, errlen,
			 "[encryption] key_command did not finish within %u s and was killed; "
			 "check the command and the key service it asks",
			 timeout_secs ? timeout_secs : 30);
		rc = -ETIMEDOUT;
	} else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		snprintf(err, errlen, "[encryption] key_command failed (%s %d)%s%s",
			 WIFEXITED(status) ? "exit status" : "signal",
			 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
			 said[0] ? ": " : "", said);
		rc = -ECHILD;
	} else {
		unsigned char k[KEY_BYTES];
		if (n >= sizeof(buf) || keyfile_decode(buf, n, k, KEY_BYTES)) {
			snprintf(err, errlen,
				 "[encryption] key_command printed %zu bytes that are neither %d "
				 "raw bytes nor one line of base64 of %d bytes",
				 n, KEY_BYTES, KEY_BYTES);
			rc = -EINVAL;
		} else if ((rc = key_master_set(m, k))) {
			snprintf(err, errlen, "[encryption] key_command: cannot derive the id");
		}
		OPENSSL_cleanse(k, sizeof(k));
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}

int key_data_new(unsigned char dk[KEY_BYTES])
{
	return RAND_bytes(dk, KEY_BYTES) == 1 ? 0 : -EIO;
}

/* One AES-256-GCM pass: encrypt (enc 1) or decrypt and check the tag. */
static int gcm(int enc, const unsigned char key[KEY_BYTES], const unsigned char nonce[NONCE_LEN],
	       const char *barcode, const unsigned char *in, unsigned char *out,
	       unsigned char tag[TAG_LEN])
{
	EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
	int len = 0, ok = x != NULL;
	ok = ok && EVP_CipherInit_ex(x, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) == 1;
	ok = ok && EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) == 1;
	ok = ok && EVP_CipherInit_ex(x, NULL, NULL, key, nonce, enc) == 1;
	ok = ok && EVP_CipherUpdate(x, NULL, &len, (const unsigned char *)WRAP_AAD,
				    (int)strlen(WRAP_AAD)) == 1;
	ok = ok && EVP_CipherUpdate(x, NULL, &len, (const unsigned char *)barcode,
				    (int)strlen(barcode)) == 1;
	ok = ok && EVP_CipherUpdate(x, out, &len, in, KEY_BYTES) == 1;
	if (ok && !enc)
		ok = EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) == 1;
	int fin = ok && EVP_CipherFinal_ex(x, out + len, &len) == 1;
	if (fin && enc)
		fin = EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) == 1;
	EVP_CIPHER_CTX_free(x);
	if (!ok)
		return -EIO;
	return fin ? 0 : -EKEYREJECTED;
}

int key_wrap(const struct key_master *m, const char *barcode, const unsigned char dk[KEY_BYTES],
	     char *out)
{
	unsigned char raw[WRAP_RAW];
	if (RAND_bytes(raw, NONCE_LEN) != 1)
		return -EIO;
	int rc = gcm(1, m->key, raw, barcode, dk, raw + NONCE_LEN, raw + NONCE_LEN + KEY_BYTES);
	if (rc)
		return rc == -EKEYREJECTED ? -EIO : rc;
	int n = snprintf(out, KEY_WRAPPED_MAX, "v1:%s:", m->id);
	EVP_EncodeBlock((unsigned char *)out + n, raw, WRAP_RAW);
	return 0;
}

/* The raw bytes of a wrap and the id it names; -EINVAL if malformed. */
static int parse(const char *wrapped, char *id, unsigned char raw[WRAP_RAW])
{
	if (strncmp(wrapped, "v1:", 3) || strlen(wrapped) < 4 + KEY_ID_LEN ||
	    wrapped[3 + KEY_ID_LEN] != ':')
		return -EINVAL;
	for (int i = 0; i < KEY_ID_LEN; i++) {
		char ch = wrapped[3 + i];
		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
			return -EINVAL;
		id[i] = ch;
	}
	id[KEY_ID_LEN] = 0;
	const char *b64 = wrapped + 4 + KEY_ID_LEN;
	return keyfile_decode((const unsigned char *)b64, strlen(b64), raw, WRAP_RAW);
}

int key_wrapped_master(const char *wrapped, char *id)
{
	unsigned char raw[WRAP_RAW];
	return parse(wrapped, id, raw);
}

int key_unwrap(const struct key_master *m, const char *barcode, const char *wrapped,
	       unsigned char dk[KEY_BYTES])
{
	unsigned char raw[WRAP_RAW], out[KEY_BYTES];
	char id[KEY_ID_LEN + 1];
	int rc = parse(wrapped, id, raw);
	if (rc)
		return rc;
	if (strcmp(id, m->id))
		return -ENOKEY;
	rc = gcm(0, m->key, raw, barcode, raw + NONCE_LEN, out, raw + NONCE_LEN + KEY_BYTES);
	if (!rc)
		memcpy(dk, out, KEY_BYTES);
	OPENSSL_cleanse(out, sizeof(out));
	return rc;
}
