/*
 * store_config.c - the [store] keys: defaults, opening the store they
 * name, and the shelf apart (see store_config.h).
 */
#include "config.h"

#include "store_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "datadir.h"
#include "keyfile.h"

#define MIB (1ull << 20)

static void copy_str(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src);
}

/* ---- The store --------------------------------------------------------- */

void store_config_defaults(struct store_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->type, sizeof(c->type), "local");
	snprintf(c->addressing, sizeof(c->addressing), "auto");
	c->part_size = 16 * MIB;
	c->parallel_parts = 4;
	c->idle_secs = 5;
	c->upload_nice = 19;
	c->link_segments = true;
	c->restore_days = 7;
	snprintf(c->restore_tier, sizeof(c->restore_tier), "Standard");
}

/* The S3 backend's configuration for c (its strings stay c's). */
static void s3_config_of(const struct store_config *c, struct store_s3_config *sc)
{
	memset(sc, 0, sizeof(*sc));
	sc->bucket = c->bucket;
	sc->endpoint = c->endpoint[0] ? c->endpoint : NULL;
	sc->region = c->region[0] ? c->region : NULL;
	sc->profile = c->profile[0] ? c->profile : NULL;
	sc->access_key = c->access_key[0] ? c->access_key : NULL;
	sc->secret_key = c->secret_key[0] ? c->secret_key : NULL;
	sc->ca_bundle = c->ca_bundle[0] ? c->ca_bundle : NULL;
	sc->addressing = strcmp(c->addressing, "path") == 0	 ? STORE_S3_PATH
			 : strcmp(c->addressing, "virtual") == 0 ? STORE_S3_VIRTUAL
								 : STORE_S3_AUTO;
}

/* The [store] encryption keys into sc; with SSE-C the key is read into
 * key (which sc then points at). */
static int sse_config_of(const struct store_config *c, struct store_s3_config *sc,
			 unsigned char key[STORE_SSE_C_KEY_BYTES], char *err, size_t errlen)
{
	if (c->sse_customer_key_file[0]) {
		if (c->sse[0]) {
			snprintf(err, errlen,
				 "[store] sse = %s and sse_customer_key_file name two "
				 "encryptions; S3 applies one: keep sse_customer_key_file for "
				 "SSE-C, or sse for the service's keys",
				 c->sse);
			return -EINVAL;
		}
		int rc = keyfile_read(c->sse_customer_key_file, key, STORE_SSE_C_KEY_BYTES,
				      "[store] sse_customer_key_file", err, errlen);
		if (rc)
			return rc;
		sc->sse = STORE_SSE_C;
		sc->sse_c_key = key;
		return 0;
	}
	if (c->sse_kms_key_id[0] && strcmp(c->sse, "aws:kms")) {
		snprintf(err, errlen,
			 "[store] sse_kms_key_id = %s is for sse = aws:kms, but sse is %s: set "
			 "sse = aws:kms, or remove the key id",
			 c->sse_kms_key_id, c->sse[0] ? c->sse : "not set");
		return -EINVAL;
	}
	if (!strcmp(c->sse, "AES256")) {
		sc->sse = STORE_SSE_S3;
	} else if (!strcmp(c->sse, "aws:kms")) {
		sc->sse = STORE_SSE_KMS;
		sc->sse_kms_key_id = c->sse_kms_key_id[0] ? c->sse_kms_key_id : NULL;
	}
	return 0;
}

void store_config_sse_probe_key(const struct store_config *c, char *out, size_t outsz)
{
	snprintf(out, outsz, "%ssse-probe", c->prefix);
}

int store_config_open(const struct store_config *c, const char *data_dir, struct store **out,
		      char *err, size_t errlen)
{
	struct store_err se;
	memset(&se, 0, sizeof(se));
	int rc;
	if (strcmp(c->type, "local") == 0) {
		if (c->sse[0] || c->sse_customer_key_file[0]) {
			snprintf(err, errlen,
				 "[store] %s is server-side encryption, which only an S3 store "
				 "has (type = s3); a local store is a directory of vtld's "
				 "(mode 0700): remove the key",
				 c->sse[0] ? "sse" : "sse_customer_key_file");
			return -EINVAL;
		}
		char path[PATH_MAX];
		if (c->path[0])
			snprintf(path, sizeof(path), "%s", c->path);
		else if (datadir_store(data_dir, path, sizeof(path)))
			return -ENAMETOOLONG;
		rc = store_local_open(path, out, &se);
	} else if (strcmp(c->type, "s3") == 0) {
		struct store_s3_config sc;
		s3_config_of(c, &sc);
		if (!c->bucket[0]) {
			snprintf(err, errlen, "[store] type = s3 needs a bucket");
			return -EINVAL;
		}
		unsigned char key[STORE_SSE_C_KEY_BYTES];
		rc = sse_config_of(c, &sc, key, err, errlen);
		if (rc)
			return rc;
		rc = store_s3_open(&sc, out, &se);
		OPENSSL_cleanse(key, sizeof(key));
	} else {
		snprintf(err, errlen, "[store] type = %s: use local or s3", c->type);
		return -EINVAL;
	}
	if (rc)
		snprintf(err, errlen, "cannot open the object store: %s",
			 se.msg[0] ? se.msg : strerror(-rc));
	return rc;
}

/* ---- Where the shelf is ------------------------------------------------- */

int store_config_open_shelf(const struct store_config *c, const char *data_dir, struct store *st,
			    struct store **out, struct store_config *sc, char *err, size_t errlen)
{
	*out = NULL;
	*sc = *c;
	if (!c->archive_bucket[0] && !c->archive_path[0] && !c->archive_prefix_set)
		return 0;
	bool s3 = strcmp(c->type, "s3") == 0;
	if (c->archive_bucket[0] && !s3) {
		snprintf(err, errlen,
			 "[store] archive_bucket = %s needs type = s3; a local store's shelf is "
			 "another directory: set archive_path instead",
			 c->archive_bucket);
		return -EINVAL;
	}
	if (c->archive_path[0] && s3) {
		snprintf(err, errlen,
			 "[store] archive_path = %s is for type = local; an S3 store's shelf is "
			 "another bucket: set archive_bucket instead",
			 c->archive_path);
		return -EINVAL;
	}
	if (c->archive_prefix_set)
		copy_str(sc->prefix, sizeof(sc->prefix), c->archive_prefix);
	bool same;
	if (s3) {
		same = !c->archive_bucket[0] || strcmp(c->archive_bucket, c->bucket) == 0;
	} else {
		char lib_dir[PATH_MAX + 8], a[PATH_MAX], b[PATH_MAX];
		if (c->path[0])
			snprintf(lib_dir, sizeof(lib_dir), "%s", c->path);
		else
			datadir_store(data_dir, lib_dir, sizeof(lib_dir));
		same = !c->archive_path[0] ||
		       (realpath(c->archive_path, a) && realpath(lib_dir, b) && !strcmp(a, b)) ||
		       strcmp(c->archive_path, lib_dir) == 0;
	}
	if (same) {
		char a[160], b[160];
		snprintf(a, sizeof(a), "%stapes/", c->prefix);
		snprintf(b, sizeof(b), "%stapes/", sc->prefix);
		size_t la = strlen(a), lb = strlen(b);
		if (strncmp(a, b, la < lb ? la : lb) == 0) {
			snprintf(err, errlen,
				 "[store] archive_prefix = \"%s\" and prefix = \"%s\" name the "
				 "same keys (%s... and %s...) in one %s: the shelf needs keys of "
				 "its own; choose another archive_prefix, such as \"%sshelf/\"",
				 sc->prefix, c->prefix, b, a, s3 ? "bucket" : "directory",
				 c->prefix);
			return -EINVAL;
		}
		*out = st;
		return 0;
	}
	if (s3)
		copy_str(sc->bucket, sizeof(sc->bucket), c->archive_bucket);
	else
		copy_str(sc->path, sizeof(sc->path), c->archive_path);
	return store_config_open(sc, data_dir, out, err, errlen);
}

void store_config_close_shelf(struct store *shelf, struct store *st)
{
	if (shelf && shelf != st)
		store_close(shelf);
}

int store_config_reconfigure(const struct store_config *c, struct store *st, struct store_err *se)
{
	struct store_s3_config sc;
	s3_config_of(c, &sc);
	return store_s3_reconfigure(st, &sc, se);
}
