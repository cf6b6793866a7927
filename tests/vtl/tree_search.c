/*
 * tree_search.c - see tree_search.h.
 */
#include "config.h"

#include "tests/vtl/tree_search.h"

#include <dirent.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static bool holds(const uint8_t *hay, size_t n, const void *needle, size_t m)
{
	for (size_t i = 0; i + m <= n; i++)
		if (hay[i] == *(const uint8_t *)needle && memcmp(hay + i, needle, m) == 0)
			return true;
	return false;
}

void tree_search(const char *dir, const void *needle, size_t m, char *found, size_t cap)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	if (!d)
		return;
	while (!found[0] && (e = readdir(d))) {
		char path[PATH_MAX];
		struct stat st;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (lstat(path, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			tree_search(path, needle, m, found, cap);
			continue;
		}
		if (!S_ISREG(st.st_mode))
			continue;
		FILE *f = fopen(path, "rb");
		if (!f)
			continue;
		uint8_t *buf = malloc((size_t)st.st_size + 1);
		size_t n = buf ? fread(buf, 1, (size_t)st.st_size, f) : 0;
		fclose(f);
		if (buf && holds(buf, n, needle, m))
			snprintf(found, cap, "%s", path);
		free(buf);
	}
	closedir(d);
}
