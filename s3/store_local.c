/*
 * The local-directory backend: S3's semantics on a POSIX file system, so
 * that the product runs with no cloud account and everything above the
 * store interface is the same code as with S3.
 *
 * Layout under the root:
 *
 *   objects/   one file per object. A key is split at '/' and each part is
 *              percent-encoded (everything but A-Z a-z 0-9 - _ . and a
 *              leading '.'); every part but the last is a directory named
 *              "<part>@d", an empty part is "@e". Because '@' is always
 *              encoded, "a" (object) and "a/b" (object under a@d/) never
 *              collide, as S3 allows both.
 *              Next to each object "<part>@m" is its sidecar: size, ETag,
 *              storage class, time, Object Lock retention (mode and
 *              retain-until date), and the inode number of the data file
 *              it describes.
 *   uploads/<id>/   a multipart upload: "info" (key, class, time) and one
 *              file per part, named "NNNNN.<md5 hex>".
 *   tmp/s-<id>/   files being written by one open store (struct
 *              local_store's tmp_fd), which holds the directory's flock
 *              while it is open. An open removes every session directory
 *              whose lock it can take (what a crash left) and nothing of
 *              the others: several processes may have the store open (a
 *              vtld, a tool, a test), and each one's files in flight are
 *              its own. Removed by store_close.
 *
 * Invariants (what a crash at any instant leaves):
 *  - An object is replaced by rename(2) of a complete, fsync'ed temporary
 *    file, then the directory is fsync'ed: a reader sees the old or the new
 *    object, never a part of one.
 *  - The sidecar is renamed into place just before the data. A sidecar is
 *    trusted only when its inode number is that of the data file; after a
 *    crash between the two renames it is not, and the ETag is recomputed
 *    from the data (the class falls back to STANDARD).
 *  - An object put from a local file (store_put_file) is a reflink of it
 *    (FICLONE) where the file system has them, else a hard link: the same
 *    inode as the file, which its writer promised never to change in
 *    place again (the size check and the link happen under the file's
 *    flock(LOCK_SH); the medium cuts a sealed segment only under
 *    LOCK_EX and only while it has one link). Replacing or deleting the
 *    object drops only the store's name. A copy of an object onto itself
 *    (a change of storage class) keeps its inode the same way.
 *  - A part is visible only once complete (same rename rule); when a part
 *    number is uploaded twice the newer file wins.
 *  - Renames, unlinks and directory creation/removal in objects/ and
 *    uploads/ happen under one mutex; data is written outside it.
 *  - Directories are created 0700 and files 0600, whatever the umask: an
 *    object is a byte-identical copy of a tape's data (ARCHITECTURE.md,
 *    Security).
 *  - Object Lock, as far as a directory can keep it: an object under
 *    retention (its sidecar says so and describes its data file) is not
 *    replaced, deleted or given a shorter retention before its date
 *    (GOVERNANCE yields to the bypass; COMPLIANCE to nothing), all checked
 *    under the mutex with the rename or unlink they guard, and its files
 *    are made read-only (0400). There is one version per key, so the
 *    refusal S3 makes only for a version is made here for the key. Anyone
 *    with write permission on the directory can still unlink the files:
 *    the lock binds this process, not the file system (docs/object-store.md).
 */
#include "config.h"

#include "s3/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/fs.h>
#include <openssl/evp.h>

#define IO_CHUNK (1u << 20)

struct local_store {
	struct store base;
	char *root;
	/* Directory fds; tmp_fd is this open's session directory under
	 * tmp/, flock'ed (LOCK_EX) for as long as it is open. */
	int objects_fd, uploads_fd, tmp_fd;
	int tmproot_fd;	   /* tmp/ */
	char tmp_name[40]; /* the session directory's name in tmp/ */
	pthread_mutex_t lock;
};

static void remove_tree(int parent, const char *name);

static struct local_store *L(struct store *st)
{
	return (struct local_store *)st;
}

static int fail(struct store_err *err, int rc, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(struct store_err *err, int rc, const char *code, const char *fmt, ...)
{
	char msg[STORE_ERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return store_set_err(err, rc, 0, code, NULL, "%s", msg);
}

static int sys_fail(struct store_err *err, const char *what, const char *key)
{
	int e = errno ? errno : EIO;
	return fail(err, -e, NULL, "%s %s: %s", what, key, strerror(e));
}

/* --- key <-> path ------------------------------------------------------- */

static int keep_byte(unsigned char c, int first)
{
	if (c == '.' && first)
		return 0;
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.';
}

/* Encode one key part into out (NAME_MAX - 2 bytes at most, leaving room
 * for the "@d"/"@m" suffix). */
static int encode_part(const char *s, size_t n, char *out, size_t outsz)
{
	static const char digits[] = "0123456789ABCDEF";
	size_t o = 0;
	if (n == 0) {
		if (outsz < 3)
			return -ENAMETOOLONG;
		memcpy(out, "@e", 3);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (keep_byte(c, i == 0)) {
			if (o + 1 >= outsz)
				return -ENAMETOOLONG;
			out[o++] = (char)c;
		} else {
			if (o + 3 >= outsz)
				return -ENAMETOOLONG;
			out[o++] = '%';
			out[o++] = digits[c >> 4];
			out[o++] = digits[c & 15];
		}
	}
	out[o] = 0;
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decode a file name (without suffix) into out; returns length or -1. */
static int decode_part(const char *s, size_t n, char *out, size_t outsz)
{
	size_t o = 0;
	if (n == 2 && !memcmp(s, "@e", 2)) {
		out[0] = 0;
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (o + 1 >= outsz)
			return -1;
		if (s[i] == '%') {
			if (i + 2 >= n)
				return -1;
			int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else if (s[i] == '@') {
			return -1;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = 0;
	return (int)o;
}

/* Path of the object `key` relative to objects/, into out (PATH_MAX). */
static int key_path(const char *key, char *out, size_t outsz)
{
	size_t o = 0;
	const char *p = key;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		char part[NAME_MAX + 1];
		int rc = encode_part(p, n, part, NAME_MAX - 1);
		if (rc)
			return rc;
		size_t plen = strlen(part);
		if (o + plen + 4 >= outsz)
			return -ENAMETOOLONG;
		memcpy(out + o, part, plen);
		o += plen;
		if (!slash)
			break;
		memcpy(out + o, "@d/", 3);
		o += 3;
		p = slash + 1;
	}
	out[o] = 0;
	return 0;
}

/* fsync the directory that holds rel (relative to dirfd). */
static void fsync_parent(int dirfd, const char *rel)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s", rel);
	char *slash = strrchr(path, '/');
	int fd;
	if (slash) {
		*slash = 0;
		fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	} else {
		fd = dup(dirfd);
	}
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

/* Create the directories leading to rel (relative to dirfd); caller holds
 * the lock. New directories are made durable by fsync of their parent. */
static int make_parents(int dirfd, const char *rel)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s", rel);
	for (char *s = strchr(path, '/'); s; s = strchr(s + 1, '/')) {
		*s = 0;
		if (mkdirat(dirfd, path, 0700) == 0) {
			fsync_parent(dirfd, path);
		} else if (errno != EEXIST) {
			return -errno;
		}
		*s = '/';
	}
	return 0;
}

/* Remove now-empty directories above rel; caller holds the lock. */
static void prune_parents(int dirfd, const char *rel)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s", rel);
	for (char *slash = strrchr(path, '/'); slash; slash = strrchr(path, '/')) {
		*slash = 0;
		if (unlinkat(dirfd, path, AT_REMOVEDIR) != 0)
			break;
	}
}

/* --- temporary files ----------------------------------------------------- */

static void random_hex(char *out, size_t nbytes)
{
	unsigned char b[32];
	if (nbytes > sizeof(b))
		nbytes = sizeof(b);
	if (getrandom(b, nbytes, 0) != (ssize_t)nbytes) {
		/* Fall back to time and address entropy; names only need to be unique. */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uintptr_t)out;
		for (size_t i = 0; i < nbytes; i++) {
			x = x * 6364136223846793005ull + 1442695040888963407ull;
			b[i] = (unsigned char)(x >> 56);
		}
	}
	for (size_t i = 0; i < nbytes; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

static int tmp_create(struct local_store *ls, char name[64])
{
	char r[33];
	random_hex(r, 16);
	snprintf(name, 64, "t-%s", r);
	int fd = openat(ls->tmp_fd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	return fd < 0 ? -errno : fd;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static ssize_t pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	char *p = buf;
	size_t got = 0;
	while (got < len) {
		ssize_t n = pread(fd, p + got, len - got, (off_t)(off + got));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* --- sidecars ------------------------------------------------------------ */

struct meta {
	uint64_t ino, size;
	char etag[STORE_ETAG_MAX];
	char sc[STORE_CLASS_MAX];
	int64_t mtime;
	struct store_retention ret;
};

static int retention_active(const struct store_retention *r)
{
	return r->mode != STORE_LOCK_NONE && r->until > (int64_t)time(NULL);
}

/* "2026-12-07T18:00:00Z" for messages. */
static void iso_date(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The refusal of a change to an object under retention: -EPERM, saying
 * until when and what would let it through. */
static int locked_fail(struct store_err *err, const char *what, const char *key,
		       const struct store_retention *r, int bypass)
{
	char until[32];
	iso_date(r->until, until);
	const char *how = r->mode == STORE_LOCK_COMPLIANCE
			      ? "; COMPLIANCE retention yields to nobody before that date"
			  : bypass
			      ? ""
			      : "; GOVERNANCE retention yields only to a request that bypasses it";
	int rc =
	    fail(err, -EPERM, "AccessDenied", "%s %s: the object is under %s retention until %s%s",
		 what, key, store_lock_mode_name(r->mode), until, how);
	if (err)
		err->fault = STORE_FAULT_REFUSED;
	return rc;
}

static int meta_write_tmp(struct local_store *ls, const struct meta *m, char name[64])
{
	char text[512];
	int n = snprintf(text, sizeof(text),
			 "vtl-object 1\nino=%" PRIu64 "\nsize=%" PRIu64 "\netag=%s\nclass=%s\n"
			 "mtime=%" PRId64 "\nlock=%s\nuntil=%" PRId64 "\n",
			 m->ino, m->size, m->etag, m->sc, m->mtime,
			 store_lock_mode_name(m->ret.mode), m->ret.until);
	int fd = tmp_create(ls, name);
	if (fd < 0)
		return fd;
	int rc = write_all(fd, text, (size_t)n);
	if (!rc && m->ret.mode != STORE_LOCK_NONE && fchmod(fd, 0400))
		rc = -errno;
	if (!rc && fsync(fd))
		rc = -errno;
	close(fd);
	if (rc)
		unlinkat(ls->tmp_fd, name, 0);
	return rc;
}

static int meta_read(int dirfd, const char *rel, struct meta *m)
{
	char path[PATH_MAX + 4], text[512];
	snprintf(path, sizeof(path), "%s@m", rel);
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = pread_all(fd, text, sizeof(text) - 1, 0);
	close(fd);
	if (n <= 0)
		return -EINVAL;
	text[n] = 0;
	memset(m, 0, sizeof(*m));
	if (strncmp(text, "vtl-object 1\n", 13))
		return -EINVAL;
	for (char *line = strtok(text + 13, "\n"); line; line = strtok(NULL, "\n")) {
		if (!strncmp(line, "ino=", 4))
			m->ino = strtoull(line + 4, NULL, 10);
		else if (!strncmp(line, "size=", 5))
			m->size = strtoull(line + 5, NULL, 10);
		else if (!strncmp(line, "etag=", 5))
			snprintf(m->etag, sizeof(m->etag), "%s", line + 5);
		else if (!strncmp(line, "class=", 6))
			snprintf(m->sc, sizeof(m->sc), "%s", line + 6);
		else if (!strncmp(line, "mtime=", 6))
			m->mtime = strtoll(line + 6, NULL, 10);
		else if (!strcmp(line, "lock=GOVERNANCE"))
			m->ret.mode = STORE_LOCK_GOVERNANCE;
		else if (!strcmp(line, "lock=COMPLIANCE"))
			m->ret.mode = STORE_LOCK_COMPLIANCE;
		else if (!strncmp(line, "until=", 6))
			m->ret.until = strtoll(line + 6, NULL, 10);
	}
	return m->etag[0] ? 0 : -EINVAL;
}

static int md5_fd(int fd, uint64_t off, uint64_t len, char out[33])
{
	char *buf = malloc(IO_CHUNK);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int rc = 0;
	if (!buf || !ctx) {
		rc = -ENOMEM;
		goto out;
	}
	EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
	while (len) {
		size_t want = len < IO_CHUNK ? (size_t)len : IO_CHUNK;
		ssize_t n = pread_all(fd, buf, want, off);
		if (n < 0) {
			rc = (int)n;
			goto out;
		}
		if (n == 0)
			break;
		EVP_DigestUpdate(ctx, buf, (size_t)n);
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	unsigned char d[16];
	unsigned int dn = 16;
	EVP_DigestFinal_ex(ctx, d, &dn);
	for (int i = 0; i < 16; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
out:
	EVP_MD_CTX_free(ctx);
	free(buf);
	return rc;
}

/* Open the object's data and describe it. Returns the fd or -errno. */
static int object_open(struct local_store *ls, const char *key, const char *rel,
		       struct store_object_info *info, struct store_err *err, const char *what)
{
	struct meta m;
	pthread_mutex_lock(&ls->lock);
	int fd = openat(ls->objects_fd, rel, O_RDONLY | O_CLOEXEC);
	int mrc = fd >= 0 ? meta_read(ls->objects_fd, rel, &m) : 0;
	int e = errno;
	pthread_mutex_unlock(&ls->lock);
	if (fd < 0) {
		if (e == ENOENT || e == ENOTDIR || e == EISDIR)
			return fail(err, -ENOENT, "NoSuchKey", "%s %s: NoSuchKey: no such object",
				    what, key);
		errno = e;
		return sys_fail(err, what, key);
	}
	struct stat sb;
	if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
		close(fd);
		return fail(err, -ENOENT, "NoSuchKey", "%s %s: NoSuchKey: no such object", what,
			    key);
	}
	memset(info, 0, sizeof(*info));
	info->size = (uint64_t)sb.st_size;
	info->mtime = sb.st_mtime;
	if (mrc == 0 && m.ino == (uint64_t)sb.st_ino && m.size == (uint64_t)sb.st_size) {
		snprintf(info->etag, sizeof(info->etag), "%s", m.etag);
		snprintf(info->storage_class, sizeof(info->storage_class), "%s",
			 m.sc[0] ? m.sc : "STANDARD");
		if (m.mtime)
			info->mtime = m.mtime;
		info->retention = m.ret;
	} else {
		/* No trustworthy sidecar (a crash between the two renames). */
		int rc = md5_fd(fd, 0, info->size, info->etag);
		if (rc) {
			close(fd);
			errno = -rc;
			return sys_fail(err, what, key);
		}
		snprintf(info->storage_class, sizeof(info->storage_class), "STANDARD");
	}
	return fd;
}

/* The retention of the object at rel when its sidecar describes its data
 * file (mode NONE otherwise), and its ETag into etag (when not NULL, ""
 * then); caller holds the lock. */
static struct store_retention held_retention(struct local_store *ls, const char *rel, char *etag)
{
	struct store_retention none = {0};
	struct meta m;
	struct stat sb;
	if (etag)
		etag[0] = 0;
	if (fstatat(ls->objects_fd, rel, &sb, 0) || meta_read(ls->objects_fd, rel, &m) ||
	    m.ino != (uint64_t)sb.st_ino)
		return none;
	if (etag)
		snprintf(etag, STORE_ETAG_MAX, "%s", m.etag);
	return m.ret;
}

/* Make the complete temporary data file `tmpname` the object `rel`, with
 * the sidecar described by m (m->ino filled here). -EPERM, with *held the
 * retention, when the object there is under retention: it is not replaced,
 * unless by the same bytes (a copy onto itself that changes the storage
 * class, as the shelf does), which then keep the stronger retention. */
static int object_commit(struct local_store *ls, int datafd, const char *tmpname, const char *rel,
			 struct meta *m, struct store_retention *held)
{
	struct stat sb;
	char held_etag[STORE_ETAG_MAX];
	pthread_mutex_lock(&ls->lock);
	*held = held_retention(ls, rel, held_etag);
	pthread_mutex_unlock(&ls->lock);
	int as_strong = m->ret.until >= held->until &&
			(m->ret.mode == held->mode || m->ret.mode == STORE_LOCK_COMPLIANCE);
	if (retention_active(held) && !strcmp(held_etag, m->etag) && !as_strong)
		m->ret = *held;
	if (m->ret.mode != STORE_LOCK_NONE && fchmod(datafd, 0400))
		return -errno;
	if (fsync(datafd) || fstat(datafd, &sb))
		return -errno;
	m->ino = (uint64_t)sb.st_ino;
	m->size = (uint64_t)sb.st_size;
	char mtmp[64];
	int rc = meta_write_tmp(ls, m, mtmp);
	if (rc)
		return rc;
	char mpath[PATH_MAX + 4];
	snprintf(mpath, sizeof(mpath), "%s@m", rel);
	pthread_mutex_lock(&ls->lock);
	char now_etag[STORE_ETAG_MAX];
	*held = held_retention(ls, rel, now_etag);
	rc = retention_active(held) && strcmp(now_etag, m->etag)
		 ? -EPERM
		 : make_parents(ls->objects_fd, rel);
	if (!rc && renameat(ls->tmp_fd, mtmp, ls->objects_fd, mpath))
		rc = -errno;
	if (!rc && renameat(ls->tmp_fd, tmpname, ls->objects_fd, rel))
		rc = -errno;
	if (!rc)
		fsync_parent(ls->objects_fd, rel);
	pthread_mutex_unlock(&ls->lock);
	if (rc)
		unlinkat(ls->tmp_fd, mtmp, 0);
	return rc;
}

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

/* --- objects ------------------------------------------------------------- */

static int local_put(struct store *st, const char *key, const void *buf, size_t len,
		     const struct store_put_opts *opts, char *etag, struct store_err *err)
{
	struct local_store *ls = L(st);
	char rel[PATH_MAX], tmp[64];
	int rc = key_path(key, rel, sizeof(rel));
	if (rc)
		return fail(err, rc, "KeyTooLongError", "put %s: key too long for a file name",
			    key);
	int fd = tmp_create(ls, tmp);
	if (fd < 0) {
		errno = -fd;
		return sys_fail(err, "put", key);
	}
	struct meta m = {0};
	store_md5_hex(buf, len, m.etag);
	snprintf(m.sc, sizeof(m.sc), "%s",
		 opts && opts->storage_class ? opts->storage_class : "STANDARD");
	m.mtime = now_s();
	if (opts)
		m.ret = opts->retention;
	struct store_retention held;
	rc = write_all(fd, buf, len);
	if (!rc)
		rc = object_commit(ls, fd, tmp, rel, &m, &held);
	close(fd);
	if (rc) {
		unlinkat(ls->tmp_fd, tmp, 0);
		if (rc == -EPERM)
			return locked_fail(err, "put", key, &held, 0);
		errno = -rc;
		return sys_fail(err, "put", key);
	}
	snprintf(etag, STORE_ETAG_MAX, "%s", m.etag);
	if (opts && opts->version_id)
		opts->version_id[0] = 0;
	return 0;
}

/* A second name for the file open as sfd in tmp/ (a reflink where the
 * file system has them, else a hard link to path, relative to dirfd); its
 * fd, or -errno. */
static int share_tmp(struct local_store *ls, int sfd, int dirfd, const char *path, char tmp[64])
{
	struct stat a, b;
	int fd = tmp_create(ls, tmp);
	if (fd < 0)
		return fd;
	if (ioctl(fd, FICLONE, sfd) == 0)
		return fd;
	close(fd);
	unlinkat(ls->tmp_fd, tmp, 0);
	if (linkat(dirfd, path, ls->tmp_fd, tmp, 0))
		/* EXDEV: another file system; EPERM, EMLINK, ...: this one
		 * does not take (more) hard links. Either way: copy. */
		return errno == ENOENT || errno == EXDEV ? -errno : -EOPNOTSUPP;
	fd = openat(ls->tmp_fd, tmp, O_RDONLY | O_CLOEXEC);
	int rc = fd < 0 ? -errno : 0;
	/* The name may have been given to another file since sfd was opened. */
	if (!rc &&
	    (fstat(fd, &a) || fstat(sfd, &b) || a.st_ino != b.st_ino || a.st_dev != b.st_dev))
		rc = -EAGAIN;
	if (rc) {
		if (fd >= 0)
			close(fd);
		unlinkat(ls->tmp_fd, tmp, 0);
		return rc;
	}
	return fd;
}

static int local_put_file(struct store *st, const char *key, const char *path, uint64_t len,
			  store_digest_fn digest, void *digest_arg, char *etag,
			  struct store_err *err)
{
	struct local_store *ls = L(st);
	char rel[PATH_MAX], tmp[64];
	struct stat sb;
	int rc = key_path(key, rel, sizeof(rel));
	if (rc)
		return fail(err, rc, "KeyTooLongError", "put %s: key too long for a file name",
			    key);
	int sfd = open(path, O_RDONLY | O_CLOEXEC);
	if (sfd < 0)
		return fail(err, -errno, NULL, "put %s: cannot open %s: %s", key, path,
			    strerror(errno));
	/* Not waited for: the medium holds its active segment locked as long
	 * as it may append to it. */
	while ((rc = flock(sfd, LOCK_SH | LOCK_NB)) && errno == EINTR)
		;
	if (rc && errno == EWOULDBLOCK) {
		rc = -EBUSY;
	} else if (rc || fstat(sfd, &sb)) {
		rc = -errno;
	} else if (!S_ISREG(sb.st_mode)) {
		rc = -EINVAL;
	} else if ((uint64_t)sb.st_size != len) {
		rc = (uint64_t)sb.st_size > len ? -ERANGE : -EAGAIN;
	}
	int fd = rc ? rc : share_tmp(ls, sfd, AT_FDCWD, path, tmp);
	close(sfd); /* and its lock: the object has its own name now */
	if (fd < 0) {
		if (fd == -EXDEV || fd == -ERANGE || fd == -EAGAIN || fd == -EBUSY ||
		    fd == -EOPNOTSUPP)
			return fail(err, fd, NULL, "put %s: %s is %s", key, path,
				    fd == -EXDEV ? "on another file system than the store"
				    : fd == -EOPNOTSUPP
					? "on a file system that refuses a hard link"
				    : fd == -ERANGE ? "longer than expected"
				    : fd == -EBUSY  ? "locked by its writer"
						    : "shorter than expected");
		return fail(err, fd, NULL, "put %s: cannot link %s: %s", key, path, strerror(-fd));
	}
	/* The file has two names now (or is a clone of its own): its writer
	 * no longer changes it (s3/store.h), so what is read here is what
	 * the object holds. */
	struct meta m = {0};
	int drc = 0;
	if (digest) {
		char d[STORE_ETAG_MAX + 1] = "";
		drc = rc = digest(fd, len, d, digest_arg);
		if (!rc && (!d[0] || strlen(d) >= sizeof(m.etag) || strchr(d, '\n')))
			drc = rc = -EINVAL;
		if (!rc)
			memcpy(m.etag, d, strlen(d) + 1);
	} else {
		rc = md5_fd(fd, 0, len, m.etag);
	}
	snprintf(m.sc, sizeof(m.sc), "STANDARD");
	m.mtime = now_s();
	struct store_retention held;
	if (!rc)
		rc = object_commit(ls, fd, tmp, rel, &m, &held);
	close(fd);
	/* A name of the object's own inode already (a put again after a
	 * crash): rename(2) did nothing and left this one. */
	unlinkat(ls->tmp_fd, tmp, 0);
	if (rc) {
		if (drc)
			return fail(err, drc, NULL, "put %s: no digest of %s: %s", key, path,
				    strerror(-drc));
		if (rc == -EPERM)
			return locked_fail(err, "put", key, &held, 0);
		errno = -rc;
		return sys_fail(err, "put", key);
	}
	snprintf(etag, STORE_ETAG_MAX, "%s", m.etag);
	return 0;
}

/* A link or a reflink needs the store's own file system; what else may
 * refuse one (a file system without hard links) only trying tells. */
static bool local_takes_files(struct store *st, const char *dir)
{
	struct stat a, b;
	if (fstat(L(st)->tmp_fd, &a) || stat(dir, &b))
		return true; /* not known here: store_put_file says, file by file */
	return a.st_dev == b.st_dev;
}

static int local_get(struct store *st, const char *key, uint64_t off, size_t len, void *buf,
		     size_t *got, struct store_object_info *info, struct store_err *err)
{
	char rel[PATH_MAX];
	if (key_path(key, rel, sizeof(rel)))
		return fail(err, -ENOENT, "NoSuchKey", "get %s: NoSuchKey: no such object", key);
	int fd = object_open(L(st), key, rel, info, err, "get");
	if (fd < 0)
		return fd;
	int rc = 0;
	*got = 0;
	if (off >= info->size && info->size > 0) {
		rc = fail(err, -ERANGE, "InvalidRange",
			  "get %s: InvalidRange: offset %" PRIu64 " is past the end (%" PRIu64
			  " bytes)",
			  key, off, info->size);
	} else if (len) {
		uint64_t avail = info->size - off;
		size_t want = avail < len ? (size_t)avail : len;
		ssize_t n = pread_all(fd, buf, want, off);
		if (n < 0) {
			errno = (int)-n;
			rc = sys_fail(err, "get", key);
		} else {
			*got = (size_t)n;
		}
	}
	close(fd);
	return rc;
}

static int local_head(struct store *st, const char *key, struct store_object_info *info,
		      struct store_err *err)
{
	char rel[PATH_MAX];
	if (key_path(key, rel, sizeof(rel)))
		return fail(err, -ENOENT, "NoSuchKey", "head %s: NoSuchKey: no such object", key);
	int fd = object_open(L(st), key, rel, info, err, "head");
	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

/* One version per key, whose id is "": the objects themselves. */
struct local_versions {
	store_version_cb cb;
	void *arg;
};

static int local_version_of(void *arg, const struct store_list_entry *e)
{
	struct local_versions *lv = arg;
	if (e->is_prefix)
		return 0;
	struct store_version_entry v = {
	    .key = e->key, .version_id = "", .latest = true, .size = e->size};
	return lv->cb(lv->arg, &v);
}

static int local_list_versions(struct store *st, const char *prefix, store_version_cb cb, void *arg,
			       struct store_err *err)
{
	struct local_versions lv = {cb, arg};
	struct store_list_opts lo = {.prefix = prefix};
	return store_list(st, &lo, local_version_of, &lv, err);
}

static int local_del_version(struct store *st, const char *key, const char *version_id, int bypass,
			     struct store_err *err)
{
	struct local_store *ls = L(st);
	char rel[PATH_MAX], mpath[PATH_MAX + 4];
	/* One version per key, whose id is "": any other id names nothing. */
	if (version_id || key_path(key, rel, sizeof(rel)))
		return 0;
	snprintf(mpath, sizeof(mpath), "%s@m", rel);
	int rc = 0;
	pthread_mutex_lock(&ls->lock);
	struct store_retention held = held_retention(ls, rel, NULL);
	if (retention_active(&held) && (held.mode == STORE_LOCK_COMPLIANCE || !bypass))
		rc = -EPERM;
	if (!rc && unlinkat(ls->objects_fd, rel, 0) && errno != ENOENT && errno != ENOTDIR)
		rc = -errno;
	if (!rc && unlinkat(ls->objects_fd, mpath, 0) && errno != ENOENT && errno != ENOTDIR)
		rc = -errno;
	if (!rc) {
		fsync_parent(ls->objects_fd, rel);
		prune_parents(ls->objects_fd, rel);
	}
	pthread_mutex_unlock(&ls->lock);
	if (rc == -EPERM)
		return locked_fail(err, "delete", key, &held, bypass);
	if (rc) {
		errno = -rc;
		return sys_fail(err, "delete", key);
	}
	return 0;
}

static int local_del(struct store *st, const char *key, struct store_err *err)
{
	return local_del_version(st, key, NULL, 0, err);
}

/* --- Object Lock ---------------------------------------------------------- */

static int local_lock_check(struct store *st, struct store_err *err)
{
	(void)st;
	(void)err;
	return 0; /* enforced by this backend (the invariants above) */
}

static int local_get_retention(struct store *st, const char *key, const char *version_id,
			       struct store_retention *r, struct store_err *err)
{
	struct store_object_info info;
	char rel[PATH_MAX];
	if (version_id || key_path(key, rel, sizeof(rel)))
		return fail(err, -ENOENT, "NoSuchVersion",
			    "get retention %s: NoSuchVersion: no such object version", key);
	int fd = object_open(L(st), key, rel, &info, err, "get retention");
	if (fd < 0)
		return fd;
	close(fd);
	*r = info.retention;
	return 0;
}

/* S3's rules for PutObjectRetention (Amazon S3 User Guide, "Retention
 * modes"): extending is always allowed; shortening or changing the mode of
 * an active retention takes the bypass for GOVERNANCE and is refused for
 * COMPLIANCE. */
static int local_set_retention(struct store *st, const char *key, const char *version_id,
			       const struct store_retention *r, int bypass, struct store_err *err)
{
	struct local_store *ls = L(st);
	struct store_object_info info;
	char rel[PATH_MAX];
	if (version_id || key_path(key, rel, sizeof(rel)))
		return fail(err, -ENOENT, "NoSuchVersion",
			    "set retention %s: NoSuchVersion: no such object version", key);
	int fd = object_open(ls, key, rel, &info, err, "set retention");
	if (fd < 0)
		return fd;
	struct stat sb;
	int rc = fstat(fd, &sb) ? -errno : 0;
	struct meta m = {
	    .ino = (uint64_t)sb.st_ino, .size = info.size, .mtime = info.mtime, .ret = *r};
	snprintf(m.etag, sizeof(m.etag), "%s", info.etag);
	snprintf(m.sc, sizeof(m.sc), "%s", info.storage_class);
	struct store_retention held = {0};
	char mtmp[64], mpath[PATH_MAX + 4];
	snprintf(mpath, sizeof(mpath), "%s@m", rel);
	if (!rc && fchmod(fd, 0400))
		rc = -errno;
	if (!rc)
		rc = meta_write_tmp(ls, &m, mtmp);
	if (!rc) {
		pthread_mutex_lock(&ls->lock);
		struct stat now;
		if (fstatat(ls->objects_fd, rel, &now, 0) || now.st_ino != sb.st_ino) {
			rc = -ESTALE; /* replaced or deleted meanwhile */
		} else {
			held = held_retention(ls, rel, NULL);
			int weaker = r->until < held.until || r->mode != held.mode;
			if (retention_active(&held) && weaker &&
			    (held.mode == STORE_LOCK_COMPLIANCE || !bypass))
				rc = -EPERM;
		}
		if (!rc && renameat(ls->tmp_fd, mtmp, ls->objects_fd, mpath))
			rc = -errno;
		if (!rc)
			fsync_parent(ls->objects_fd, rel);
		pthread_mutex_unlock(&ls->lock);
		if (rc)
			unlinkat(ls->tmp_fd, mtmp, 0);
	}
	close(fd);
	if (rc == -EPERM)
		return locked_fail(err, "set retention on", key, &held, bypass);
	if (rc == -ESTALE)
		return fail(err, -ENOENT, "NoSuchKey",
			    "set retention %s: NoSuchKey: the object was replaced or deleted "
			    "meanwhile",
			    key);
	if (rc) {
		errno = -rc;
		return sys_fail(err, "set retention", key);
	}
	return 0;
}

/* --- listing ------------------------------------------------------------- */

struct keyvec {
	char **v;
	size_t n, cap;
};

static int kv_push(struct keyvec *kv, const char *s)
{
	if (kv->n == kv->cap) {
		size_t cap = kv->cap ? 2 * kv->cap : 256;
		char **v = realloc(kv->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		kv->v = v;
		kv->cap = cap;
	}
	if (!(kv->v[kv->n] = strdup(s)))
		return -ENOMEM;
	kv->n++;
	return 0;
}

static void kv_free(struct keyvec *kv)
{
	for (size_t i = 0; i < kv->n; i++)
		free(kv->v[i]);
	free(kv->v);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Collect the keys under directory `rel` (relative to objects/, "" for the
 * top) whose key starts with `keypfx` ("the key so far" is `sofar`). */
static int walk(int objects_fd, const char *rel, const char *sofar, const char *prefix,
		struct keyvec *out)
{
	/* openat(".") and not dup(): a dup shares the directory offset. */
	int fd = openat(objects_fd, *rel ? rel : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	int rc = 0;
	size_t plen = strlen(prefix), slen = strlen(sofar);
	for (struct dirent *e; !rc && (e = readdir(d));) {
		const char *name = e->d_name;
		size_t nlen = strlen(name);
		if (name[0] == '.')
			continue;
		int is_dir = nlen >= 2 && !strcmp(name + nlen - 2, "@d");
		int is_meta = nlen >= 2 && !strcmp(name + nlen - 2, "@m");
		if (is_meta)
			continue;
		char part[STORE_KEY_MAX + 1];
		if (decode_part(name, is_dir ? nlen - 2 : nlen, part, sizeof(part)) < 0)
			continue;
		char key[STORE_KEY_MAX + 2];
		if (slen + strlen(part) + 1 > STORE_KEY_MAX)
			continue;
		snprintf(key, sizeof(key), "%s%s%s", sofar, part, is_dir ? "/" : "");
		size_t klen = strlen(key);
		/* Descend or take only what can still match the prefix. */
		size_t cmp = klen < plen ? klen : plen;
		if (strncmp(key, prefix, cmp))
			continue;
		if (is_dir) {
			char sub[PATH_MAX];
			snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "", name);
			rc = walk(objects_fd, sub, key, prefix, out);
		} else if (klen >= plen) {
			if (e->d_type == DT_REG || e->d_type == DT_UNKNOWN)
				rc = kv_push(out, key);
		}
	}
	closedir(d);
	return rc;
}

static int local_list(struct store *st, struct store_list_opts *opts, store_list_cb cb, void *arg,
		      struct store_err *err)
{
	struct local_store *ls = L(st);
	const char *prefix = opts->prefix ? opts->prefix : "";
	const char *delim = opts->delimiter && *opts->delimiter ? opts->delimiter : NULL;
	unsigned page = opts->page_size ? opts->page_size : 1000;
	struct keyvec kv = {0};
	pthread_mutex_lock(&ls->lock);
	int rc = walk(ls->objects_fd, "", "", prefix, &kv);
	pthread_mutex_unlock(&ls->lock);
	if (rc) {
		kv_free(&kv);
		errno = -rc;
		return sys_fail(err, "list", prefix);
	}
	if (kv.n)
		qsort(kv.v, kv.n, sizeof(*kv.v), cmp_str);

	size_t plen = strlen(prefix);
	char last_prefix[STORE_KEY_MAX + 1] = "";
	unsigned in_page = 0;
	opts->pages = 1;
	for (size_t i = 0; i < kv.n && !rc; i++) {
		const char *key = kv.v[i];
		if (opts->start_after && strcmp(key, opts->start_after) <= 0)
			continue;
		struct store_list_entry e = {.key = key};
		struct store_object_info info;
		char common[STORE_KEY_MAX + 1];
		const char *d = delim ? strstr(key + plen, delim) : NULL;
		if (d) {
			size_t n = (size_t)(d - key) + strlen(delim);
			memcpy(common, key, n);
			common[n] = 0;
			if (!strcmp(common, last_prefix))
				continue;
			snprintf(last_prefix, sizeof(last_prefix), "%s", common);
			e.key = common;
			e.is_prefix = 1;
		} else {
			char rel[PATH_MAX];
			if (key_path(key, rel, sizeof(rel)))
				continue;
			int fd = object_open(ls, key, rel, &info, NULL, "list");
			if (fd < 0)
				continue; /* deleted meanwhile */
			close(fd);
			e.size = info.size;
			e.etag = info.etag;
			e.storage_class = info.storage_class;
			e.mtime = info.mtime;
		}
		if (in_page == page) {
			opts->pages++;
			in_page = 0;
		}
		in_page++;
		rc = cb(arg, &e);
	}
	kv_free(&kv);
	return rc;
}

/* --- copy and restore --------------------------------------------------- */

/* Copy [off, off+len) of src_fd into a new temp file; md5 hex of the copied
 * bytes into md5 (when not NULL). Returns the temp fd or -errno. */
static int copy_range_tmp(struct local_store *ls, int src_fd, uint64_t off, uint64_t len,
			  char tmp[64], char *md5)
{
	int fd = tmp_create(ls, tmp);
	if (fd < 0)
		return fd;
	char *buf = malloc(IO_CHUNK);
	EVP_MD_CTX *ctx = md5 ? EVP_MD_CTX_new() : NULL;
	int rc = 0;
	if (!buf || (md5 && !ctx)) {
		rc = -ENOMEM;
		goto out;
	}
	if (ctx)
		EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
	while (len && !rc) {
		size_t want = len < IO_CHUNK ? (size_t)len : IO_CHUNK;
		ssize_t n = pread_all(src_fd, buf, want, off);
		if (n <= 0) {
			rc = n < 0 ? (int)n : -EIO;
			break;
		}
		if (ctx)
			EVP_DigestUpdate(ctx, buf, (size_t)n);
		rc = write_all(fd, buf, (size_t)n);
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	if (!rc && ctx) {
		unsigned char d[16];
		unsigned int dn = 16;
		EVP_DigestFinal_ex(ctx, d, &dn);
		for (int i = 0; i < 16; i++)
			sprintf(md5 + 2 * i, "%02x", d[i]);
	}
out:
	EVP_MD_CTX_free(ctx);
	free(buf);
	if (rc) {
		close(fd);
		unlinkat(ls->tmp_fd, tmp, 0);
		return rc;
	}
	return fd;
}

static int local_copy(struct store *st, const char *src, const char *dst,
		      const struct store_put_opts *opts, char *etag, struct store_err *err)
{
	const char *sc = opts->storage_class;
	struct local_store *ls = L(st);
	char srel[PATH_MAX], drel[PATH_MAX], tmp[64];
	struct store_object_info info;
	if (key_path(src, srel, sizeof(srel)))
		return fail(err, -ENOENT, "NoSuchKey", "copy %s: NoSuchKey: no such object", src);
	if (key_path(dst, drel, sizeof(drel)))
		return fail(err, -ENAMETOOLONG, "KeyTooLongError", "copy to %s: key too long", dst);
	int sfd = object_open(ls, src, srel, &info, err, "copy");
	if (sfd < 0)
		return sfd;
	/* Onto itself (a change of storage class): a new sidecar for the same
	 * inode; objects are never changed in place, so no byte is copied. */
	int fd = strcmp(srel, drel) == 0 ? share_tmp(ls, sfd, ls->objects_fd, srel, tmp) : -EXDEV;
	if (fd < 0)
		fd = copy_range_tmp(ls, sfd, 0, info.size, tmp, NULL);
	close(sfd);
	if (fd < 0) {
		errno = -fd;
		return sys_fail(err, "copy", src);
	}
	struct meta m = {0};
	snprintf(m.etag, sizeof(m.etag), "%s", info.etag);
	snprintf(m.sc, sizeof(m.sc), "%s", sc ? sc : "STANDARD");
	m.mtime = now_s();
	m.ret = opts->retention;
	struct store_retention held;
	int rc = object_commit(ls, fd, tmp, drel, &m, &held);
	close(fd);
	unlinkat(ls->tmp_fd, tmp, 0); /* left when it named dst's inode already */
	if (rc) {
		if (rc == -EPERM)
			return locked_fail(err, "copy to", dst, &held, 0);
		errno = -rc;
		return sys_fail(err, "copy to", dst);
	}
	snprintf(etag, STORE_ETAG_MAX, "%s", m.etag);
	if (opts->version_id)
		opts->version_id[0] = 0;
	return 0;
}

static int local_restore(struct store *st, const char *key, int days, const char *tier,
			 struct store_err *err)
{
	(void)days;
	(void)tier;
	struct store_object_info info;
	/* Every class is readable at once on a local disk. */
	return local_head(st, key, &info, err);
}

/* --- multipart uploads --------------------------------------------------- */

struct upload_info {
	char key[STORE_KEY_MAX + 1];
	char sc[STORE_CLASS_MAX];
	int64_t initiated;
	struct store_retention ret; /* of the object it makes */
};

static int valid_upload_id(const char *id)
{
	size_t n = strlen(id);
	if (n != 32)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (hexval(id[i]) < 0 || (id[i] >= 'A' && id[i] <= 'F'))
			return 0;
	return 1;
}

static int upload_read(struct local_store *ls, const char *id, struct upload_info *u)
{
	char path[PATH_MAX], text[STORE_KEY_MAX + 256];
	if (!valid_upload_id(id))
		return -ENOENT;
	snprintf(path, sizeof(path), "%s/info", id);
	int fd = openat(ls->uploads_fd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = pread_all(fd, text, sizeof(text) - 1, 0);
	close(fd);
	if (n <= 0)
		return -EINVAL;
	text[n] = 0;
	memset(u, 0, sizeof(*u));
	/* "class=...\ninitiated=...\nkey=" then the key bytes to the end. */
	char *k = strstr(text, "\nkey=");
	if (!k)
		return -EINVAL;
	*k = 0;
	size_t klen = (size_t)(text + n - (k + 5));
	if (klen > STORE_KEY_MAX)
		return -EINVAL;
	memcpy(u->key, k + 5, klen);
	u->key[klen] = 0;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		if (!strncmp(line, "class=", 6))
			snprintf(u->sc, sizeof(u->sc), "%s", line + 6);
		else if (!strncmp(line, "initiated=", 10))
			u->initiated = strtoll(line + 10, NULL, 10);
		else if (!strcmp(line, "lock=GOVERNANCE"))
			u->ret.mode = STORE_LOCK_GOVERNANCE;
		else if (!strcmp(line, "lock=COMPLIANCE"))
			u->ret.mode = STORE_LOCK_COMPLIANCE;
		else if (!strncmp(line, "until=", 6))
			u->ret.until = strtoll(line + 6, NULL, 10);
	}
	return 0;
}

/* The upload exists and belongs to key (S3 answers NoSuchUpload otherwise). */
static int upload_check(struct local_store *ls, const char *key, const char *id,
			struct upload_info *u, struct store_err *err, const char *what)
{
	int rc = upload_read(ls, id, u);
	if (rc || strcmp(u->key, key))
		return fail(err, -ENOENT, "NoSuchUpload",
			    "%s %s: NoSuchUpload: no multipart upload %s for this key", what, key,
			    id);
	return 0;
}

static int local_mpu_create(struct store *st, const char *key, const struct store_put_opts *opts,
			    char *upload_id, struct store_err *err)
{
	struct local_store *ls = L(st);
	char id[33], tdir[64], text[STORE_KEY_MAX + 128];
	random_hex(id, 16);
	snprintf(tdir, sizeof(tdir), "u-%s", id);
	if (mkdirat(ls->tmp_fd, tdir, 0700))
		return sys_fail(err, "create multipart upload", key);
	struct store_retention ret = {0};
	if (opts)
		ret = opts->retention;
	int n = snprintf(text, sizeof(text),
			 "class=%s\ninitiated=%" PRId64 "\nlock=%s\nuntil=%" PRId64 "\nkey=%s",
			 opts && opts->storage_class ? opts->storage_class : "STANDARD", now_s(),
			 store_lock_mode_name(ret.mode), ret.until, key);
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/info", tdir);
	int fd = openat(ls->tmp_fd, path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	int rc = fd < 0 ? -errno : write_all(fd, text, (size_t)n);
	if (!rc && fsync(fd))
		rc = -errno;
	if (fd >= 0)
		close(fd);
	if (!rc) {
		int dfd = openat(ls->tmp_fd, tdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
		pthread_mutex_lock(&ls->lock);
		if (renameat(ls->tmp_fd, tdir, ls->uploads_fd, id))
			rc = -errno;
		else
			fsync(ls->uploads_fd);
		pthread_mutex_unlock(&ls->lock);
	}
	if (rc) {
		unlinkat(ls->tmp_fd, path, 0);
		unlinkat(ls->tmp_fd, tdir, AT_REMOVEDIR);
		errno = -rc;
		return sys_fail(err, "create multipart upload", key);
	}
	snprintf(upload_id, STORE_UPLOAD_ID_MAX, "%s", id);
	return 0;
}

struct part_file {
	int number;
	uint64_t size;
	char etag[33];
	char name[64];
	struct timespec mtime;
};

struct partvec {
	struct part_file *v;
	size_t n, cap;
};

static int cmp_part(const void *a, const void *b)
{
	const struct part_file *x = a, *y = b;
	if (x->number != y->number)
		return x->number < y->number ? -1 : 1;
	/* newest first within a number */
	if (x->mtime.tv_sec != y->mtime.tv_sec)
		return x->mtime.tv_sec > y->mtime.tv_sec ? -1 : 1;
	if (x->mtime.tv_nsec != y->mtime.tv_nsec)
		return x->mtime.tv_nsec > y->mtime.tv_nsec ? -1 : 1;
	return 0;
}

/* The parts of upload `id`, one per number (the newest), ascending. */
static int parts_read(struct local_store *ls, const char *id, struct partvec *pv)
{
	int fd = openat(ls->uploads_fd, id, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	int rc = 0;
	for (struct dirent *e; !rc && (e = readdir(d));) {
		int number;
		char etag[33];
		if (sscanf(e->d_name, "%5d.%32[0-9a-f]", &number, etag) != 2 ||
		    strlen(e->d_name) != 38)
			continue;
		struct stat sb;
		if (fstatat(dirfd(d), e->d_name, &sb, 0))
			continue;
		if (pv->n == pv->cap) {
			size_t cap = pv->cap ? 2 * pv->cap : 64;
			struct part_file *v = realloc(pv->v, cap * sizeof(*v));
			if (!v) {
				rc = -ENOMEM;
				break;
			}
			pv->v = v;
			pv->cap = cap;
		}
		struct part_file *p = &pv->v[pv->n++];
		p->number = number;
		p->size = (uint64_t)sb.st_size;
		p->mtime = sb.st_mtim;
		snprintf(p->etag, sizeof(p->etag), "%s", etag);
		memcpy(p->name, e->d_name, 39); /* "NNNNN." + 32 hex digits + NUL */
	}
	closedir(d);
	if (rc)
		return rc;
	if (pv->n)
		qsort(pv->v, pv->n, sizeof(*pv->v), cmp_part);
	size_t o = 0;
	for (size_t i = 0; i < pv->n; i++)
		if (!o || pv->v[o - 1].number != pv->v[i].number)
			pv->v[o++] = pv->v[i];
	pv->n = o;
	return 0;
}

/* Move a finished temp part into the upload; drop older files of the same
 * number. */
static int part_commit(struct local_store *ls, const char *id, int number, int fd, const char *tmp,
		       const char *md5)
{
	if (fsync(fd))
		return -errno;
	char name[PATH_MAX];
	snprintf(name, sizeof(name), "%s/%05d.%s", id, number, md5);
	int rc = 0;
	pthread_mutex_lock(&ls->lock);
	struct partvec pv = {0};
	parts_read(ls, id, &pv);
	if (renameat(ls->tmp_fd, tmp, ls->uploads_fd, name))
		rc = -errno;
	for (size_t i = 0; !rc && i < pv.n; i++) {
		if (pv.v[i].number != number || !strcmp(pv.v[i].etag, md5))
			continue;
		char old[PATH_MAX];
		snprintf(old, sizeof(old), "%s/%s", id, pv.v[i].name);
		unlinkat(ls->uploads_fd, old, 0);
	}
	if (!rc) {
		int dfd = openat(ls->uploads_fd, id, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
	}
	pthread_mutex_unlock(&ls->lock);
	free(pv.v);
	return rc;
}

static int local_mpu_put_part(struct store *st, const char *key, const char *id, int number,
			      const void *buf, size_t len, char *etag, struct store_err *err)
{
	struct local_store *ls = L(st);
	struct upload_info u;
	int rc = upload_check(ls, key, id, &u, err, "upload part");
	if (rc)
		return rc;
	char tmp[64], md5[33];
	int fd = tmp_create(ls, tmp);
	if (fd < 0) {
		errno = -fd;
		return sys_fail(err, "upload part", key);
	}
	store_md5_hex(buf, len, md5);
	rc = write_all(fd, buf, len);
	if (!rc)
		rc = part_commit(ls, id, number, fd, tmp, md5);
	close(fd);
	if (rc) {
		unlinkat(ls->tmp_fd, tmp, 0);
		if (rc == -ENOENT)
			return fail(err, -ENOENT, "NoSuchUpload",
				    "upload part %d of %s: NoSuchUpload: upload %s is gone", number,
				    key, id);
		errno = -rc;
		return sys_fail(err, "upload part", key);
	}
	snprintf(etag, STORE_ETAG_MAX, "%s", md5);
	return 0;
}

static int local_mpu_copy_part(struct store *st, const char *key, const char *id, int number,
			       const char *src, uint64_t off, uint64_t len, char *etag,
			       struct store_err *err)
{
	struct local_store *ls = L(st);
	struct upload_info u;
	int rc = upload_check(ls, key, id, &u, err, "upload part copy");
	if (rc)
		return rc;
	char srel[PATH_MAX], tmp[64], md5[33];
	struct store_object_info info;
	if (key_path(src, srel, sizeof(srel)))
		return fail(err, -ENOENT, "NoSuchKey", "upload part copy from %s: NoSuchKey", src);
	int sfd = object_open(ls, src, srel, &info, err, "upload part copy from");
	if (sfd < 0)
		return sfd;
	if (len == 0 && off == 0)
		len = info.size;
	if (off + len > info.size || len == 0) {
		close(sfd);
		return fail(err, -ERANGE, "InvalidRange",
			    "upload part copy from %s: InvalidRange: bytes %" PRIu64 "-%" PRIu64
			    " are not within its %" PRIu64 " bytes",
			    src, off, off + len - 1, info.size);
	}
	int fd = copy_range_tmp(ls, sfd, off, len, tmp, md5);
	close(sfd);
	if (fd < 0) {
		errno = -fd;
		return sys_fail(err, "upload part copy from", src);
	}
	rc = part_commit(ls, id, number, fd, tmp, md5);
	close(fd);
	if (rc) {
		unlinkat(ls->tmp_fd, tmp, 0);
		errno = -rc;
		return sys_fail(err, "upload part copy", key);
	}
	snprintf(etag, STORE_ETAG_MAX, "%s", md5);
	return 0;
}

static int local_mpu_list_parts(struct store *st, const char *key, const char *id, store_part_cb cb,
				void *arg, struct store_err *err)
{
	struct local_store *ls = L(st);
	struct upload_info u;
	int rc = upload_check(ls, key, id, &u, err, "list parts");
	if (rc)
		return rc;
	struct partvec pv = {0};
	pthread_mutex_lock(&ls->lock);
	rc = parts_read(ls, id, &pv);
	pthread_mutex_unlock(&ls->lock);
	if (rc) {
		free(pv.v);
		errno = -rc;
		return sys_fail(err, "list parts", key);
	}
	for (size_t i = 0; i < pv.n && !rc; i++) {
		struct store_part p = {.number = pv.v[i].number, .size = pv.v[i].size};
		snprintf(p.etag, sizeof(p.etag), "%s", pv.v[i].etag);
		rc = cb(arg, &p);
	}
	free(pv.v);
	return rc;
}

static void upload_remove(struct local_store *ls, const char *id)
{
	int fd = openat(ls->uploads_fd, id, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		DIR *d = fdopendir(fd);
		if (d) {
			for (struct dirent *e; (e = readdir(d));)
				if (e->d_name[0] != '.')
					unlinkat(dirfd(d), e->d_name, 0);
			closedir(d);
		} else {
			close(fd);
		}
	}
	unlinkat(ls->uploads_fd, id, AT_REMOVEDIR);
	fsync(ls->uploads_fd);
}

static int local_mpu_complete(struct store *st, const char *key, const char *id,
			      const struct store_part *parts, size_t nparts, char *etag,
			      struct store_err *err)
{
	struct local_store *ls = L(st);
	struct upload_info u;
	int rc = upload_check(ls, key, id, &u, err, "complete multipart upload");
	if (rc)
		return rc;
	char rel[PATH_MAX];
	if (key_path(key, rel, sizeof(rel)))
		return fail(err, -ENAMETOOLONG, "KeyTooLongError",
			    "complete multipart upload %s: key too long", key);
	struct partvec pv = {0};
	pthread_mutex_lock(&ls->lock);
	rc = parts_read(ls, id, &pv);
	pthread_mutex_unlock(&ls->lock);
	if (rc) {
		free(pv.v);
		errno = -rc;
		return sys_fail(err, "complete multipart upload", key);
	}
	/* Check every part as S3 does before writing anything. */
	struct part_file **use = calloc(nparts, sizeof(*use));
	if (!use) {
		free(pv.v);
		return fail(err, -ENOMEM, NULL, "complete multipart upload %s: out of memory", key);
	}
	for (size_t i = 0; i < nparts && !rc; i++) {
		char want[STORE_ETAG_MAX];
		store_etag_copy(want, parts[i].etag, strlen(parts[i].etag));
		for (char *c = want; *c; c++)
			if (*c >= 'A' && *c <= 'F')
				*c = (char)(*c - 'A' + 'a');
		struct part_file *found = NULL;
		for (size_t j = 0; j < pv.n; j++)
			if (pv.v[j].number == parts[i].number)
				found = &pv.v[j];
		if (!found || strcmp(found->etag, want))
			rc = fail(err, -EINVAL, "InvalidPart",
				  "complete multipart upload %s: InvalidPart: part %d %s", key,
				  parts[i].number,
				  found ? "has another ETag than the one given"
					: "was not uploaded");
		else if (i + 1 < nparts && found->size < STORE_PART_MIN)
			rc = fail(
			    err, -EINVAL, "EntityTooSmall",
			    "complete multipart upload %s: EntityTooSmall: part %d has %" PRIu64
			    " bytes; all but the last need at least 5 MiB",
			    key, parts[i].number, found->size);
		use[i] = found;
	}
	char tmp[64];
	int fd = -1;
	if (!rc) {
		fd = tmp_create(ls, tmp);
		if (fd < 0) {
			errno = -fd;
			rc = sys_fail(err, "complete multipart upload", key);
		}
	}
	for (size_t i = 0; i < nparts && !rc; i++) {
		char name[PATH_MAX];
		snprintf(name, sizeof(name), "%s/%s", id, use[i]->name);
		int pfd = openat(ls->uploads_fd, name, O_RDONLY | O_CLOEXEC);
		if (pfd < 0) {
			rc = fail(err, -EINVAL, "InvalidPart",
				  "complete multipart upload %s: InvalidPart: part %d vanished",
				  key, use[i]->number);
			break;
		}
		uint64_t left = use[i]->size;
		loff_t in_off = 0;
		while (left && !rc) {
			ssize_t n = copy_file_range(pfd, &in_off, fd, NULL, left, 0);
			if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL ||
				      errno == EOPNOTSUPP)) {
				/* No copy_file_range here: copy through user space. */
				char *buf = malloc(IO_CHUNK);
				if (!buf)
					rc = -ENOMEM;
				while (buf && left && !rc) {
					size_t want = left < IO_CHUNK ? (size_t)left : IO_CHUNK;
					ssize_t r = pread_all(pfd, buf, want, (uint64_t)in_off);
					if (r <= 0) {
						rc = r < 0 ? (int)r : -EIO;
						break;
					}
					rc = write_all(fd, buf, (size_t)r);
					in_off += r;
					left -= (uint64_t)r;
				}
				free(buf);
				break;
			}
			if (n <= 0) {
				rc = n < 0 ? -errno : -EIO;
				break;
			}
			left -= (uint64_t)n;
		}
		close(pfd);
		if (rc) {
			errno = -rc;
			sys_fail(err, "complete multipart upload", key);
		}
	}
	struct meta m = {0};
	if (!rc) {
		struct store_part *ps = calloc(nparts, sizeof(*ps));
		if (!ps) {
			rc = -ENOMEM;
		} else {
			for (size_t i = 0; i < nparts; i++)
				snprintf(ps[i].etag, sizeof(ps[i].etag), "%s", use[i]->etag);
			store_multipart_etag(ps, nparts, m.etag);
			free(ps);
		}
		snprintf(m.sc, sizeof(m.sc), "%s", u.sc[0] ? u.sc : "STANDARD");
		m.mtime = now_s();
		/* A date passed while the upload ran is no retention (S3 would
		 * have refused it at CreateMultipartUpload). */
		if (retention_active(&u.ret))
			m.ret = u.ret;
		struct store_retention held;
		if (!rc)
			rc = object_commit(ls, fd, tmp, rel, &m, &held);
		if (rc == -EPERM)
			locked_fail(err, "complete multipart upload", key, &held, 0);
		else if (rc) {
			errno = -rc;
			sys_fail(err, "complete multipart upload", key);
		}
	}
	if (fd >= 0) {
		close(fd);
		if (rc)
			unlinkat(ls->tmp_fd, tmp, 0);
	}
	if (!rc) {
		pthread_mutex_lock(&ls->lock);
		upload_remove(ls, id);
		pthread_mutex_unlock(&ls->lock);
		snprintf(etag, STORE_ETAG_MAX, "%s", m.etag);
	}
	free(use);
	free(pv.v);
	return rc;
}

static int local_mpu_abort(struct store *st, const char *key, const char *id, struct store_err *err)
{
	struct local_store *ls = L(st);
	struct upload_info u;
	int rc = upload_check(ls, key, id, &u, err, "abort multipart upload");
	if (rc)
		return rc;
	pthread_mutex_lock(&ls->lock);
	upload_remove(ls, id);
	pthread_mutex_unlock(&ls->lock);
	return 0;
}

struct upload_entry {
	struct upload_info info;
	char id[33];
};

static int cmp_upload(const void *a, const void *b)
{
	const struct upload_entry *x = a, *y = b;
	int c = strcmp(x->info.key, y->info.key);
	if (c)
		return c;
	return x->info.initiated < y->info.initiated ? -1 : x->info.initiated > y->info.initiated;
}

static int local_mpu_list(struct store *st, const char *prefix, store_upload_cb cb, void *arg,
			  struct store_err *err)
{
	struct local_store *ls = L(st);
	int fd = openat(ls->uploads_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return sys_fail(err, "list multipart uploads", prefix);
	}
	struct upload_entry *v = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	for (struct dirent *e; (e = readdir(d));) {
		if (!valid_upload_id(e->d_name))
			continue;
		struct upload_entry ue;
		if (upload_read(ls, e->d_name, &ue.info))
			continue;
		if (strncmp(ue.info.key, prefix, strlen(prefix)))
			continue;
		memcpy(ue.id, e->d_name, sizeof(ue.id)); /* 32 hex digits and NUL */
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			struct upload_entry *nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				rc = -ENOMEM;
				break;
			}
			v = nv;
		}
		v[n++] = ue;
	}
	closedir(d);
	if (rc) {
		free(v);
		return fail(err, rc, NULL, "list multipart uploads: out of memory");
	}
	if (n)
		qsort(v, n, sizeof(*v), cmp_upload);
	for (size_t i = 0; i < n && !rc; i++) {
		struct store_upload u = {
		    .key = v[i].info.key, .upload_id = v[i].id, .initiated = v[i].info.initiated};
		rc = cb(arg, &u);
	}
	free(v);
	return rc;
}

/* --- open and close ------------------------------------------------------ */

static void local_where(struct store *st, const char *key, char *out, size_t outsz)
{
	const char *root = L(st)->root;
	size_t n = strlen(root);
	snprintf(out, outsz, "%s%s%s", root, n && root[n - 1] == '/' ? "" : "/", key);
}

static void local_close(struct store *st)
{
	struct local_store *ls = L(st);
	if (ls->objects_fd >= 0)
		close(ls->objects_fd);
	if (ls->uploads_fd >= 0)
		close(ls->uploads_fd);
	if (ls->tmp_fd >= 0) {
		/* Empty unless a write failed half-way; the lock goes with
		 * the last fd after the name, so no other open removes a
		 * directory still in use. */
		remove_tree(ls->tmproot_fd, ls->tmp_name);
		close(ls->tmp_fd);
	}
	if (ls->tmproot_fd >= 0)
		close(ls->tmproot_fd);
	pthread_mutex_destroy(&ls->lock);
	free(ls->root);
	free(ls);
}

static const struct store_ops local_ops = {
    .name = "local",
    .put = local_put,
    .get = local_get,
    .head = local_head,
    .del = local_del,
    .list = local_list,
    .copy = local_copy,
    .restore = local_restore,
    .put_file = local_put_file,
    .takes_files = local_takes_files,
    .mpu_create = local_mpu_create,
    .mpu_put_part = local_mpu_put_part,
    .mpu_copy_part = local_mpu_copy_part,
    .mpu_list_parts = local_mpu_list_parts,
    .mpu_complete = local_mpu_complete,
    .mpu_abort = local_mpu_abort,
    .mpu_list = local_mpu_list,
    .lock_check = local_lock_check,
    .set_retention = local_set_retention,
    .get_retention = local_get_retention,
    .del_version = local_del_version,
    .list_versions = local_list_versions,
    .where = local_where,
    .close = local_close,
};

/* Remove name under parent: a file, or a directory with what it holds
 * (a session directory holds files and upload directories of files). */
static void remove_tree(int parent, const char *name)
{
	if (unlinkat(parent, name, 0) == 0 || errno != EISDIR)
		return;
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	for (struct dirent *e; (e = readdir(d));)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			remove_tree(dirfd(d), e->d_name);
	closedir(d);
	unlinkat(parent, name, AT_REMOVEDIR);
}

/* What crashes left in tmp/: every session directory no open store holds
 * (its flock is free), and the loose files and upload directories of the
 * layout before session directories. A session directory in use is left
 * alone: its owner may be renaming a file out of it right now. */
static void clean_tmp(int tmproot_fd)
{
	int fd = openat(tmproot_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	for (struct dirent *e; (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		if (strncmp(e->d_name, "s-", 2) != 0) {
			remove_tree(tmproot_fd, e->d_name);
			continue;
		}
		int sfd =
		    openat(tmproot_fd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sfd < 0)
			continue;
		/* Held while removing: its owner, were it still setting up,
		 * finds the directory gone and makes another (tmp_session). */
		if (flock(sfd, LOCK_EX | LOCK_NB) == 0)
			remove_tree(tmproot_fd, e->d_name);
		close(sfd);
	}
	closedir(d);
}

/* This open's session directory under tmp/, locked: its fd, or -errno. A
 * clean_tmp of another open may take the lock between the mkdir and the
 * flock and remove the directory; then it is made again under a new name. */
static int tmp_session(int tmproot_fd, char name[40])
{
	for (int tries = 0; tries < 8; tries++) {
		char r[33];
		struct stat a, b;
		random_hex(r, 16);
		snprintf(name, 40, "s-%s", r);
		if (mkdirat(tmproot_fd, name, 0700)) {
			if (errno == EEXIST)
				continue;
			return -errno;
		}
		int fd = openat(tmproot_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;
		int rc;
		while ((rc = flock(fd, LOCK_EX)) && errno == EINTR)
			;
		if (!rc && fstat(fd, &a) == 0 &&
		    fstatat(tmproot_fd, name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
		    a.st_ino == b.st_ino && a.st_dev == b.st_dev)
			return fd;
		rc = rc ? -errno : 0;
		close(fd);
		if (rc)
			return rc;
	}
	return -EAGAIN;
}

static int open_sub(int rootfd, const char *name)
{
	if (mkdirat(rootfd, name, 0700) && errno != EEXIST)
		return -errno;
	int fd = openat(rootfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int store_local_open(const char *root, struct store **out, struct store_err *err)
{
	*out = NULL;
	if (!root || !*root)
		return fail(err, -EINVAL, NULL, "local store: no directory given");
	if (mkdir(root, 0700) && errno != EEXIST)
		return fail(err, -errno, NULL, "local store %s: cannot create the directory: %s",
			    root, strerror(errno));
	int rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return fail(err, -errno, NULL, "local store %s: %s", root, strerror(errno));
	struct local_store *ls = calloc(1, sizeof(*ls));
	if (!ls) {
		close(rootfd);
		return fail(err, -ENOMEM, NULL, "local store %s: out of memory", root);
	}
	ls->base.ops = &local_ops;
	ls->objects_fd = ls->uploads_fd = ls->tmp_fd = ls->tmproot_fd = -1;
	pthread_mutex_init(&ls->lock, NULL);
	ls->root = strdup(root);
	ls->objects_fd = open_sub(rootfd, "objects");
	ls->uploads_fd = open_sub(rootfd, "uploads");
	ls->tmproot_fd = open_sub(rootfd, "tmp");
	fsync(rootfd);
	close(rootfd);
	if (ls->tmproot_fd >= 0) {
		clean_tmp(ls->tmproot_fd);
		ls->tmp_fd = tmp_session(ls->tmproot_fd, ls->tmp_name);
	}
	if (!ls->root || ls->objects_fd < 0 || ls->uploads_fd < 0 || ls->tmproot_fd < 0 ||
	    ls->tmp_fd < 0) {
		int e = ls->objects_fd < 0   ? ls->objects_fd
			: ls->uploads_fd < 0 ? ls->uploads_fd
			: ls->tmproot_fd < 0 ? ls->tmproot_fd
			: ls->tmp_fd < 0     ? ls->tmp_fd
					     : -ENOMEM;
		local_close(&ls->base);
		return fail(err, e, NULL,
			    "local store %s: cannot set up objects/, uploads/, tmp/: %s", root,
			    strerror(-e));
	}
	*out = &ls->base;
	return 0;
}
