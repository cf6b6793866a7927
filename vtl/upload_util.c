/*
 * upload_util.c - the small helpers of vtld's object-store side that keep
 * no state (see upload_int.h): the keys of a tape's objects, a tape's
 * manifest as the uploader holds it, setting a medium aside,
 * messages for a person, the monotonic clock, strings and growing arrays.
 * The helpers that touch struct upl (the log, the counters, the thread's
 * record of a tape) are uploader.c's.
 */
#include "config.h"

#include "upload_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "scsi/tape.h"

/* ---- Strings and arrays ------------------------------------------------- */

void upl_copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, src, n);
	dst[n] = 0;
}

/* arr (n elements of elem bytes, room for *cap) with room for one more:
 * the same pointer, or a larger allocation (then *cap is updated); NULL
 * when out of memory (arr and *cap unchanged). */
void *upl_grow(void *arr, size_t *cap, size_t n, size_t elem)
{
	if (n < *cap)
		return arr;
	size_t nc = *cap ? 2 * *cap : 16;
	void *v = realloc(arr, nc * elem);
	if (v)
		*cap = nc;
	return v;
}

/* ---- Keys and the manifest ---------------------------------------------- */

void upl_key_seg(const struct store_config *c, const char *bc, uint64_t seg, char *k)
{
	snprintf(k, STORE_KEY_MAX, "%stapes/%s/seg/%016" PRIx64, c->prefix, bc, seg);
}

void upl_key_manifest(const struct store_config *c, const char *bc, uint64_t gen, char *k)
{
	snprintf(k, STORE_KEY_MAX, "%stapes/%s/manifest/%016" PRIx64, c->prefix, bc, gen);
}

void upl_key_tape(const struct store_config *c, const char *bc, const char *rest, char *k)
{
	snprintf(k, STORE_KEY_MAX, "%stapes/%s/%s", c->prefix, bc, rest);
}

/* Put a medium that cannot be used aside, under a name no barcode has. */
int upl_set_aside(const char *dir, const char *why, char *kept, size_t cap)
{
	snprintf(kept, cap, "%s.%s-%lld", dir, why, (long long)time(NULL));
	return rename(dir, kept) ? -errno : 0;
}

void upl_man_free(struct manifest *m)
{
	free(m->buf);
	tape_manifest_free(&m->tm);
	memset(m, 0, sizeof(*m));
}

/* What m->buf says, with every check the medium makes of its own. */
int upl_man_parse(struct manifest *m)
{
	return tape_manifest_parse(m->buf, m->len, &m->tm);
}

int upl_man_read(const char *dir, struct manifest *m)
{
	void *raw = NULL;
	memset(m, 0, sizeof(*m));
	int rc = tape_manifest_read(dir, &m->tm, &raw, &m->len);
	m->buf = raw;
	return rc;
}

int upl_man_facts(const char *dir, struct manifest *m)
{
	memset(m, 0, sizeof(*m));
	return tape_manifest_read(dir, &m->tm, NULL, NULL);
}

/* ---- Messages, time ----------------------------------------------------- */

/* A message for a person into buf, cut at cap if need be. */
void upl_errmsg(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, cap, fmt, ap);
	va_end(ap);
}

int64_t upl_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
