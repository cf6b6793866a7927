/*
 * tmpdir.h - scratch directories for the tests: one way to make a fresh
 * directory and one way to remove it with everything in it, so that no
 * suite leaves trees behind in /tmp and none has its own rm -rf.
 *
 * A directory is /tmp/vtl-<name>-XXXXXX, made by mkdtemp(3): new, empty
 * and private to the test. It is /tmp and not $TMPDIR because vtld's
 * control socket lives in its data directory and a socket path has room
 * for 107 bytes (unix(7)), which a long TMPDIR would exceed. Removal does not
 * follow symbolic links, so a link a test planted cannot take the removal
 * outside the scratch directory.
 */
#ifndef VTL_TESTS_TMPDIR_H
#define VTL_TESTS_TMPDIR_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Make a new scratch directory, its path into dir (cap bytes); the test
 * fails if it cannot. Returns dir. */
static inline char *tmpdir_make(char *dir, size_t cap, const char *name)
{
	int n = snprintf(dir, cap, "/tmp/vtl-%s-XXXXXX", name);
	cr_assert(n > 0 && (size_t)n < cap, "scratch directory name vtl-%s too long", name);
	cr_assert_not_null(mkdtemp(dir), "cannot make %s: %s", dir, strerror(errno));
	return dir;
}

/* Remove path and everything under it, as rm -rf does: 0, or the negative
 * errno of the first failure. A path that does not exist is 0. */
static inline int tmpdir_remove(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlink(path) < 0 ? -errno : 0;
	DIR *d = opendir(path);
	if (!d)
		return -errno;
	int rc = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		size_t n = strlen(path) + strlen(de->d_name) + 2;
		char *sub = malloc(n);
		if (!sub) {
			rc = rc ? rc : -ENOMEM;
			continue;
		}
		snprintf(sub, n, "%s/%s", path, de->d_name);
		int r = tmpdir_remove(sub);
		free(sub);
		if (r && !rc)
			rc = r;
	}
	closedir(d);
	if (rmdir(path) < 0 && !rc)
		rc = -errno;
	return rc;
}

#endif
