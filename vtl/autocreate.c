/*
 * autocreate.c - automatic tape creation, as AWS Tape Gateway's: a policy
 * per barcode prefix keeps at least `minimum` blank AVAILABLE tapes of its
 * pool in the library; when the backup software uses one up (writes to it,
 * exports it), the next barcode is created (see library.h).
 *
 * A tape is blank while its catalog row says no byte is used and, when it
 * is in a drive, the drive says so too (a write there is not in the
 * catalog until the unload). vtld looks once a second (lib_autocreate_tick);
 * the new barcodes are the lowest never used, as `tape create --prefix`
 * gives, so a barcode is never reused. A full library is said once, until
 * it has room again.
 */
#include "config.h"

#include "library_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scsi/tape.h"

/* Blank tapes of the policy, drives' live counts taken into account.
 * Called with the lock. */
static int blank_tapes(struct lib *lib, const struct cat_autocreate *a, uint32_t *n)
{
	int rc = cat_autocreate_blank(lib->cat, a, n);
	for (size_t i = 0; !rc && i < lib->n_drives_ok; i++) {
		struct cat_element e;
		uint64_t used;
		if (lib_element_at(lib, lib->cdrives[i].address, &e) || !e.full)
			continue;
		if (e.tape.state == CAT_AVAILABLE && e.tape.used == 0 &&
		    strcmp(e.tape.pool, a->pool) == 0 &&
		    strncmp(e.tape.barcode, a->prefix, strlen(a->prefix)) == 0 &&
		    ssc_used_bytes(&lib->drives[i], e.tape.barcode, &used) && used > 0 && *n > 0)
			(*n)--;
	}
	return rc;
}

void lib_autocreate_tick(struct lib *lib)
{
	struct cat_autocreate *v;
	size_t n;
	lib_lock(lib);
	int rc = cat_autocreates(lib->cat, &v, &n);
	uint32_t *want = rc || !n ? NULL : calloc(n, sizeof(*want));
	for (size_t i = 0; want && i < n; i++) {
		uint32_t have = 0;
		if (blank_tapes(lib, &v[i], &have) == 0 && have < v[i].minimum)
			want[i] = v[i].minimum - have;
	}
	lib_unlock(lib);
	for (size_t i = 0; want && i < n; i++) {
		if (!want[i])
			continue;
		char err[LIB_ERR_MAX], cause[64];
		char(*made)[17] = NULL;
		size_t n_made = 0;
		snprintf(cause, sizeof(cause), "created by autocreate policy %s", v[i].prefix);
		struct lib_create req = {.prefix = v[i].prefix,
					 .count = want[i],
					 .media = v[i].media,
					 .size = v[i].size,
					 .pool = v[i].pool,
					 .cause = cause};
		rc = lib_tape_create(lib, &req, &made, &n_made, err, sizeof(err));
		if (rc) {
			/* Said once per policy until it succeeds again. */
			if (!lib->autocreate_failing) {
				lib_say(lib, 0, "autocreate policy %s: %s", v[i].prefix, err);
				lib->autocreate_failing = true;
			}
			continue;
		}
		lib->autocreate_failing = false;
		for (size_t j = 0; j < n_made; j++)
			lib_say(lib, 2, "autocreate policy %s: created tape %s (pool %s)",
				v[i].prefix, made[j], v[i].pool);
		free(made);
	}
	free(want);
	free(v);
}

int lib_autocreate_set(struct lib *lib, const struct cat_autocreate *a, char *err, size_t errlen)
{
	struct cat_autocreate p = *a;
	enum tape_media m = lib->cfg.default_media;
	if (a->media[0] && tape_media_parse(a->media, &m)) {
		lib_err(err, errlen,
			"unknown tape type '%s'; use LTO-5, LTO-6, LTO-7, LTO-8 or LTO-9",
			a->media);
		return -EINVAL;
	}
	snprintf(p.media, sizeof(p.media), "%s", tape_media_name(m));
	if (!p.pool[0])
		snprintf(p.pool, sizeof(p.pool), "default");
	size_t plen = strlen(p.prefix);
	char probe[32];
	snprintf(probe, sizeof(probe), "%sL0000", p.prefix);
	if (plen < 1 || plen > 12 || lib_barcode_check(probe, NULL, 0)) {
		lib_err(err, errlen, "prefix '%s' must have 1 to 12 characters A-Z 0-9", p.prefix);
		return -EINVAL;
	}
	/* The barcodes it will make: prefix, number, "L" and generation. */
	snprintf(probe, sizeof(probe), "%s%0*dL0", p.prefix, plen < 6 ? (int)(6 - plen) : 1, 1);
	if (lib_barcode_fits(lib, probe, err, errlen))
		return -EINVAL;
	if (p.minimum < 1 || p.minimum > CAT_AUTOCREATE_MAX) {
		lib_err(err, errlen, "--minimum takes 1 to %d tapes", CAT_AUTOCREATE_MAX);
		return -EINVAL;
	}
	lib_lock(lib);
	struct cat_pool pool;
	int rc = lib_pool_get_locked(lib, p.pool, &pool, err, errlen);
	if (!rc) {
		rc = cat_autocreate_set(lib->cat, &p);
		if (rc)
			lib_err(err, errlen, "cannot record the policy of prefix %s: %s", p.prefix,
				strerror(-rc));
	}
	lib_unlock(lib);
	return rc;
}

int lib_autocreates(struct lib *lib, struct cat_autocreate **out, size_t *n)
{
	lib_lock(lib);
	int rc = cat_autocreates(lib->cat, out, n);
	lib_unlock(lib);
	return rc;
}

int lib_autocreate_remove(struct lib *lib, const char *prefix, char *err, size_t errlen)
{
	lib_lock(lib);
	int rc = cat_autocreate_remove(lib->cat, prefix);
	lib_unlock(lib);
	if (rc == -ENOENT)
		lib_err(err, errlen, "no autocreate policy for prefix %s (vtlctl autocreate list)",
			prefix);
	else if (rc)
		lib_err(err, errlen, "cannot remove the policy of prefix %s: %s", prefix,
			strerror(-rc));
	return rc;
}
