/*
 * tape_util.h - helpers shared by the medium's tests: scratch directories
 * (tests/tmpdir.h; the cartridge directory is <scratch>/tape) and
 * deterministic record contents, so a reader can check every byte without
 * keeping a copy.
 */
#ifndef VTL_TEST_TAPE_UTIL_H
#define VTL_TEST_TAPE_UTIL_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scsi/tape.h"
#include "tests/tmpdir.h"

static inline uint64_t tu_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/*
 * Contents of a record from a seed: random bytes, or (compressible) a
 * short random phrase repeated, so compression has something to do.
 */
static inline void tu_fill(uint8_t *buf, size_t len, uint64_t seed, int compressible)
{
	uint64_t s = tu_mix(seed);

	if (compressible) {
		uint8_t phrase[16];

		for (size_t i = 0; i < sizeof(phrase); i++)
			phrase[i] = (uint8_t)tu_mix(s + i);
		for (size_t i = 0; i < len; i++)
			buf[i] = phrase[i % sizeof(phrase)] ^ (uint8_t)(i / 4096);
		return;
	}
	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = tu_mix(s + i);
		size_t n = len - i < 8 ? len - i : 8;

		memcpy(buf + i, &v, n);
	}
}

/* Number of files in dir whose name ends with suffix. */
static inline int tu_count(const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t sl = strlen(suffix);
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);

		if (l >= sl && !strcmp(de->d_name + l - sl, suffix))
			n++;
	}
	closedir(d);
	return n;
}

static inline struct tape_info tu_info(enum tape_media media, uint64_t capacity)
{
	struct tape_info info;

	memset(&info, 0, sizeof(info));
	snprintf(info.barcode, sizeof(info.barcode), "TST%03dL%d", 1, (int)media);
	snprintf(info.serial, sizeof(info.serial), "SN-TEST-0001");
	info.media = media;
	info.capacity = capacity;
	return info;
}

#endif
