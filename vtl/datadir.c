/*
 * datadir.c - paths in vtld's data directory (see datadir.h).
 */
#include "config.h"

#include "datadir.h"

#include <errno.h>
#include <unistd.h>
#include <limits.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static int path_of(char *buf, size_t cap, const char *data_dir, const char *a, const char *b)
{
	int n = b ? snprintf(buf, cap, "%s/%s/%s", data_dir, a, b)
		  : snprintf(buf, cap, "%s/%s", data_dir, a);
	if (n < 0 || (size_t)n >= cap) {
		if (cap)
			buf[0] = 0;
		return -ENAMETOOLONG;
	}
	return 0;
}

int datadir_catalog(const char *data_dir, char *buf, size_t cap)
{
	return path_of(buf, cap, data_dir, "catalog.db", NULL);
}

int datadir_tapes(const char *data_dir, char *buf, size_t cap)
{
	return path_of(buf, cap, data_dir, "tapes", NULL);
}

int datadir_tape(const char *data_dir, const char *barcode, char *buf, size_t cap)
{
	return path_of(buf, cap, data_dir, "tapes", barcode);
}

int datadir_tape_key(const char *data_dir, const char *barcode, char *buf, size_t cap)
{
	char dir[4096];
	int rc = datadir_tape(data_dir, barcode, dir, sizeof(dir));
	if (rc)
		return rc;
	int n = snprintf(buf, cap, "%s/KEY", dir);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int datadir_store(const char *data_dir, char *buf, size_t cap)
{
	return path_of(buf, cap, data_dir, "store", NULL);
}

int datadir_lock(const char *data_dir, char *buf, size_t cap)
{
	return path_of(buf, cap, data_dir, "vtld.lock", NULL);
}

int datadir_socket(const char *data_dir, char *buf, size_t cap)
{
	return path_of(buf, cap, data_dir, "vtld.sock", NULL);
}

static int make_dir(const char *path, char *err, size_t errlen)
{
	if (mkdir(path, 0700) == 0 || errno == EEXIST)
		return 0;
	int rc = -errno;
	snprintf(err, errlen, "cannot create %s: %s", path, strerror(-rc));
	return rc;
}

int datadir_make(const char *data_dir, char *err, size_t errlen)
{
	char path[4096];
	int rc = make_dir(data_dir, err, errlen);
	if (!rc && (rc = datadir_tapes(data_dir, path, sizeof(path))) != 0)
		snprintf(err, errlen, "data directory path is too long: %s", data_dir);
	if (!rc)
		rc = make_dir(path, err, errlen);
	return rc;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(path) ? -errno : 0;
}

int datadir_rm_rf(const char *path)
{
	struct stat st;
	if (lstat(path, &st))
		return errno == ENOENT ? 0 : -errno;
	return nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int datadir_write_private(const char *dir, const char *path, const char *text)
{
	char tmp[PATH_MAX + 8];
	int n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -ENAMETOOLONG;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	size_t len = strlen(text);
	int rc = write(fd, text, len) == (ssize_t)len ? 0 : -EIO;
	if (!rc && fsync(fd) < 0)
		rc = -errno;
	close(fd);
	if (!rc && rename(tmp, path) < 0)
		rc = -errno;
	if (rc) {
		unlink(tmp);
		return rc;
	}
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	rc = fsync(dfd) < 0 ? -errno : 0;
	close(dfd);
	return rc;
}
