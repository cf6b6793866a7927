/*
 * The store interface: argument checks common to both backends, then the
 * backend's operation; plus the helpers both backends share (MD5, the
 * multipart ETag, error messages). The checks live here so that the two
 * backends reject the same things with the same errors. The copy between
 * two stores lives here too: a backend copies server side when it can
 * (copy_from), and any pair of backends falls back to streaming through
 * the interface.
 */
#include "config.h"

#include "s3/store.h"
#include "util/metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

int store_set_err(struct store_err *err, int rc, int http_status, const char *code,
		  const char *request_id, const char *fmt, ...)
{
	if (!err)
		return rc;
	memset(err, 0, sizeof(*err));
	err->rc = rc;
	err->fault = store_fault_of(rc, code);
	err->http_status = http_status;
	if (code)
		snprintf(err->code, sizeof(err->code), "%s", code);
	if (request_id)
		snprintf(err->request_id, sizeof(err->request_id), "%s", request_id);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return rc;
}

enum store_fault store_fault_of(int rc, const char *code)
{
	/* S3 error codes (Amazon S3 API Reference, "Error responses"). */
	static const struct {
		const char *code;
		enum store_fault fault;
	} codes[] = {
	    {"AccessDenied", STORE_FAULT_ACCESS},
	    {"SignatureDoesNotMatch", STORE_FAULT_ACCESS},
	    {"InvalidAccessKeyId", STORE_FAULT_ACCESS},
	    {"InvalidToken", STORE_FAULT_ACCESS},
	    {"ExpiredToken", STORE_FAULT_ACCESS},
	    {"AccountProblem", STORE_FAULT_ACCESS},
	    {"AllAccessDisabled", STORE_FAULT_ACCESS},
	    {"NoCredentials", STORE_FAULT_ACCESS},
	    {"NoSuchBucket", STORE_FAULT_BUCKET},
	    {"QuotaExceeded", STORE_FAULT_SPACE},
	};
	if (!rc)
		return STORE_FAULT_NONE;
	/* A version under Object Lock retention: S3 says AccessDenied, but no
	 * credential will change its date (store_delete_version). */
	if (rc == -EPERM && code &&
	    (!strcmp(code, "AccessDenied") || !strcmp(code, "InvalidRequest")))
		return STORE_FAULT_REFUSED;
	for (size_t i = 0; code && i < sizeof(codes) / sizeof(codes[0]); i++)
		if (!strcmp(code, codes[i].code))
			return codes[i].fault;
	switch (-rc) {
	case EACCES:
	case EPERM:
	case EROFS:
		return STORE_FAULT_ACCESS;
	case ENOSPC:
	case EDQUOT:
		return STORE_FAULT_SPACE;
	case EINVAL:
	case ENOENT:
	case ERANGE:
	case EFBIG:
	case EEXIST:
	case ENAMETOOLONG:
	case EOPNOTSUPP:
	case ENOLCK:
		return STORE_FAULT_REFUSED;
	default:
		return STORE_FAULT_TRANSIENT;
	}
}

const char *store_fault_name(enum store_fault f)
{
	switch (f) {
	case STORE_FAULT_NONE:
		return "none";
	case STORE_FAULT_TRANSIENT:
		return "transient";
	case STORE_FAULT_TLS:
		return "certificate";
	case STORE_FAULT_ACCESS:
		return "access";
	case STORE_FAULT_BUCKET:
		return "bucket";
	case STORE_FAULT_SPACE:
		return "space";
	case STORE_FAULT_REFUSED:
		return "refused";
	}
	return "?";
}

static int check_key(struct store_err *err, const char *what, const char *key)
{
	if (!key || !*key)
		return store_set_err(err, -EINVAL, 0, "InvalidArgument", NULL,
				     "%s: empty object key", what);
	if (strlen(key) > STORE_KEY_MAX)
		return store_set_err(err, -ENAMETOOLONG, 0, "KeyTooLongError", NULL,
				     "%s: object key longer than %d bytes: %.64s...", what,
				     STORE_KEY_MAX, key);
	return 0;
}

static int check_class(struct store_err *err, const char *what, const char *key, const char *sc)
{
	if (sc && !store_class_valid(sc))
		return store_set_err(err, -EINVAL, 0, "InvalidStorageClass", NULL,
				     "%s %s: unknown storage class '%s'", what, key, sc);
	return 0;
}

static int check_retention(struct store_err *err, const char *what, const char *key,
			   const struct store_retention *r, int required)
{
	if (!r || (r->mode == STORE_LOCK_NONE && !required))
		return 0;
	if (r->mode != STORE_LOCK_GOVERNANCE && r->mode != STORE_LOCK_COMPLIANCE)
		return store_set_err(err, -EINVAL, 0, "InvalidArgument", NULL,
				     "%s %s: retention mode must be GOVERNANCE or COMPLIANCE", what,
				     key);
	/* S3 refuses a retain-until date that is not in the future. */
	if (r->until <= (int64_t)time(NULL))
		return store_set_err(err, -EINVAL, 0, "InvalidArgument", NULL,
				     "%s %s: the retain-until date %" PRId64
				     " is not in the future",
				     what, key, r->until);
	return 0;
}

static int check_part(struct store_err *err, const char *what, const char *key,
		      const char *upload_id, int number)
{
	if (!upload_id || !*upload_id)
		return store_set_err(err, -EINVAL, 0, "InvalidArgument", NULL,
				     "%s %s: empty upload id", what, key);
	if (number < 1 || number > STORE_PARTS_MAX)
		return store_set_err(err, -EINVAL, 0, "InvalidArgument", NULL,
				     "%s %s: part number %d is outside 1..%d", what, key, number,
				     STORE_PARTS_MAX);
	return 0;
}

const char *store_backend(const struct store *st)
{
	return st->ops->name;
}

bool store_takes_files(struct store *st, const char *dir)
{
	if (!st->ops->put_file)
		return false;
	return !st->ops->takes_files || st->ops->takes_files(st, dir);
}

void store_close(struct store *st)
{
	if (st)
		st->ops->close(st);
}

int store_put(struct store *st, const char *key, const void *buf, size_t len,
	      const struct store_put_opts *opts, char *etag, struct store_err *err)
{
	int rc = check_key(err, "put", key);
	if (!rc)
		rc = check_class(err, "put", key, opts ? opts->storage_class : NULL);
	if (!rc)
		rc = check_retention(err, "put", key, opts ? &opts->retention : NULL, 0);
	if (!rc && len > STORE_PUT_MAX)
		rc = store_set_err(err, -EFBIG, 0, "EntityTooLarge", NULL,
				   "put %s: %zu bytes is more than a single PUT takes (5 GiB); "
				   "use a multipart upload",
				   key, len);
	if (rc)
		return rc;
	char tmp[STORE_ETAG_MAX];
	return st->ops->put(st, key, buf, len, opts, etag ? etag : tmp, err);
}

int store_put_file(struct store *st, const char *key, const char *path, uint64_t len,
		   store_digest_fn digest, void *digest_arg, char *etag, struct store_err *err)
{
	int rc = check_key(err, "put", key);
	if (!rc && len > STORE_PUT_MAX)
		rc = store_set_err(
		    err, -EFBIG, 0, "EntityTooLarge", NULL,
		    "put %s: %" PRIu64 " bytes is more than a single PUT takes (5 GiB)", key, len);
	if (rc)
		return rc;
	if (!st->ops->put_file)
		return store_set_err(err, -EOPNOTSUPP, 0, NULL, NULL,
				     "put %s: the %s store cannot share a file's bytes", key,
				     st->ops->name);
	char tmp[STORE_ETAG_MAX];
	return st->ops->put_file(st, key, path, len, digest, digest_arg, etag ? etag : tmp, err);
}

int store_get(struct store *st, const char *key, uint64_t off, size_t len, void *buf, size_t *got,
	      struct store_object_info *info, struct store_err *err)
{
	size_t n = 0;
	int rc = check_key(err, "get", key);
	if (rc)
		return rc;
	struct store_object_info tmp;
	uint64_t t0 = met_now_ns();
	rc = st->ops->get(st, key, off, len, buf, &n, info ? info : &tmp, err);
	met_store_get(rc ? 0 : n, met_now_ns() - t0, rc == 0);
	if (got)
		*got = rc ? 0 : n;
	return rc;
}

int store_head(struct store *st, const char *key, struct store_object_info *info,
	       struct store_err *err)
{
	int rc = check_key(err, "head", key);
	if (rc)
		return rc;
	struct store_object_info tmp;
	return st->ops->head(st, key, info ? info : &tmp, err);
}

int store_delete(struct store *st, const char *key, struct store_err *err)
{
	int rc = check_key(err, "delete", key);
	return rc ? rc : st->ops->del(st, key, err);
}

int store_list(struct store *st, struct store_list_opts *opts, store_list_cb cb, void *arg,
	       struct store_err *err)
{
	struct store_list_opts def = {0};
	if (!opts)
		opts = &def;
	if (opts->page_size > 1000)
		return store_set_err(err, -EINVAL, 0, "InvalidArgument", NULL,
				     "list: page size %u is more than 1000", opts->page_size);
	opts->pages = 0;
	return st->ops->list(st, opts, cb, arg, err);
}

int store_copy(struct store *st, const char *src, const char *dst, const char *storage_class,
	       char *etag, struct store_err *err)
{
	int rc = check_key(err, "copy", src);
	if (!rc)
		rc = check_key(err, "copy", dst);
	if (!rc)
		rc = check_class(err, "copy", dst, storage_class);
	if (rc)
		return rc;
	char tmp[STORE_ETAG_MAX];
	struct store_put_opts opts = {.storage_class = storage_class};
	return st->ops->copy(st, src, dst, &opts, etag ? etag : tmp, err);
}

/* Read [off, off+len) of src into buf, all of it, from the object that
 * `want` describes: an object replaced during a streamed copy would
 * otherwise be spliced from two versions. */
static int read_exact(struct store *from, const char *src, uint64_t off, size_t len, void *buf,
		      const struct store_object_info *want, struct store_err *err)
{
	struct store_object_info info;
	size_t got;
	int rc = store_get(from, src, off, len, buf, &got, &info, err);
	if (rc)
		return rc;
	char name[STORE_KEY_MAX + 256];
	from->ops->where(from, src, name, sizeof(name));
	if (got != len)
		return store_set_err(err, -EIO, 0, NULL, NULL,
				     "get %s: %zu of %zu bytes at offset %" PRIu64
				     "; the object is shorter than its HEAD said (%" PRIu64
				     " bytes)",
				     name, got, len, off, want->size);
	if (info.etag[0] && want->etag[0] && strcmp(info.etag, want->etag))
		return store_set_err(
		    err, -EIO, 0, NULL, NULL,
		    "get %s: the object changed during the copy (ETag %s, then %s); "
		    "copy it again",
		    name, want->etag, info.etag);
	return 0;
}

/* The copy between any two stores: through this process, one part in
 * memory at a time. An object of up to STORE_COPY_PART is one GET and one
 * PUT; a larger one a multipart upload whose parts are ranged GETs. The
 * first part is read before the upload is created, so that a source that
 * cannot be read (-ENOENT, -EAGAIN) leaves nothing to abort. */
static int copy_stream(struct store *st, struct store *from, const char *src, const char *dst,
		       const struct store_put_opts *popts, char *etag, struct store_err *err)
{
	struct store_object_info info;
	int rc = store_head(from, src, &info, err);
	if (rc)
		return rc;
	uint64_t size = info.size, part = STORE_COPY_PART;
	if (size > (uint64_t)STORE_PARTS_MAX * STORE_PART_MAX)
		return store_set_err(err, -EFBIG, 0, "EntityTooLarge", NULL,
				     "%" PRIu64 " bytes is more than 10000 parts of 5 GiB", size);
	if ((size + STORE_PARTS_MAX - 1) / STORE_PARTS_MAX > part)
		part = (size + STORE_PARTS_MAX - 1) / STORE_PARTS_MAX;
	size_t bufsz = (size_t)(size < part ? size : part);
	unsigned char *buf = malloc(bufsz ? bufsz : 1);
	if (!buf)
		return store_set_err(err, -ENOMEM, 0, NULL, NULL, "out of memory for %zu bytes",
				     bufsz);
	struct store_put_opts opts = *popts;
	if (size <= STORE_COPY_PART) {
		rc = read_exact(from, src, 0, bufsz, buf, &info, err);
		if (!rc)
			rc = store_put(st, dst, buf, bufsz, &opts, etag, err);
		free(buf);
		return rc;
	}
	size_t nparts = (size_t)((size + part - 1) / part);
	struct store_part *parts = calloc(nparts, sizeof(*parts));
	char id[STORE_UPLOAD_ID_MAX] = "";
	if (!parts)
		rc = store_set_err(err, -ENOMEM, 0, NULL, NULL, "out of memory");
	for (size_t i = 0; i < nparts && !rc; i++) {
		uint64_t off = i * part;
		size_t len = (size_t)(size - off < part ? size - off : part);
		rc = read_exact(from, src, off, len, buf, &info, err);
		if (!rc && i == 0)
			rc = store_mpu_create(st, dst, &opts, id, err);
		if (rc)
			break;
		parts[i].number = (int)i + 1;
		parts[i].size = len;
		rc = store_mpu_put_part(st, dst, id, parts[i].number, buf, len, parts[i].etag, err);
	}
	if (!rc)
		rc = store_mpu_complete(st, dst, id, parts, nparts, etag, err);
	if (!rc && (opts.version_id || opts.retention.mode != STORE_LOCK_NONE)) {
		/* CompleteMultipartUpload's version: the HEAD that follows it.
		 * radosgw 16 ignores the retention of CreateMultipartUpload,
		 * so it is set now when the object lacks it. */
		struct store_object_info now;
		rc = store_head(st, dst, &now, err);
		if (!rc && opts.version_id)
			snprintf(opts.version_id, STORE_VERSION_ID_MAX, "%s", now.version_id);
		if (!rc && opts.retention.mode != STORE_LOCK_NONE &&
		    (now.retention.mode != opts.retention.mode ||
		     now.retention.until != opts.retention.until))
			rc = store_set_retention(st, dst, now.version_id, &opts.retention, 0, err);
	}
	if (rc && id[0])
		store_mpu_abort(st, dst, id, NULL); /* err keeps the cause */
	free(parts);
	free(buf);
	return rc;
}

void store_where(struct store *st, const char *key, char *out, size_t outsz)
{
	st->ops->where(st, key, out, outsz);
}

int store_copy_from(struct store *st, struct store *from, const char *src, const char *dst,
		    const char *storage_class, char *etag, struct store_err *err)
{
	if (st == from)
		return store_copy(st, src, dst, storage_class, etag, err);
	struct store_put_opts opts = {.storage_class = storage_class};
	return store_copy_opts(st, from, src, dst, &opts, etag, err);
}

int store_copy_opts(struct store *st, struct store *from, const char *src, const char *dst,
		    const struct store_put_opts *opts, char *etag, struct store_err *err)
{
	struct store_put_opts none = {0};
	if (!opts)
		opts = &none;
	int rc = check_key(err, "copy", src);
	if (!rc)
		rc = check_key(err, "copy", dst);
	if (!rc)
		rc = check_class(err, "copy", dst, opts->storage_class);
	if (!rc)
		rc = check_retention(err, "copy to", dst, &opts->retention, 0);
	if (rc)
		return rc;
	char tmp[STORE_ETAG_MAX];
	if (!etag)
		etag = tmp;
	if (st == from)
		return st->ops->copy(st, src, dst, opts, etag, err);
	rc = -EXDEV;
	if (st->ops->copy_from)
		rc = st->ops->copy_from(st, from, src, dst, opts, etag, err);
	if (rc == -EXDEV)
		rc = copy_stream(st, from, src, dst, opts, etag, err);
	if (rc && err) {
		/* Whichever step failed, the message says which copy it was part of. */
		char a[STORE_KEY_MAX + 256], b[STORE_KEY_MAX + 256];
		struct store_err inner = *err;
		from->ops->where(from, src, a, sizeof(a));
		st->ops->where(st, dst, b, sizeof(b));
		store_set_err(err, rc, inner.http_status, inner.code, inner.request_id,
			      "copy %s to %s: %s", a, b, inner.msg);
		err->fault = inner.fault;
	}
	return rc;
}

int store_restore(struct store *st, const char *key, int days, const char *tier,
		  struct store_err *err)
{
	int rc = check_key(err, "restore", key);
	if (rc)
		return rc;
	if (days < 1)
		return store_set_err(err, -EINVAL, 0, "InvalidArgument", NULL,
				     "restore %s: %d days; at least 1", key, days);
	if (tier && strcmp(tier, "Standard") && strcmp(tier, "Bulk") && strcmp(tier, "Expedited"))
		return store_set_err(err, -EINVAL, 0, "InvalidArgument", NULL,
				     "restore %s: unknown tier '%s' (Standard, Bulk, Expedited)",
				     key, tier);
	return st->ops->restore(st, key, days, tier ? tier : "Standard", err);
}

int store_mpu_create(struct store *st, const char *key, const struct store_put_opts *opts,
		     char upload_id[STORE_UPLOAD_ID_MAX], struct store_err *err)
{
	int rc = check_key(err, "create multipart upload", key);
	if (!rc)
		rc = check_class(err, "create multipart upload", key,
				 opts ? opts->storage_class : NULL);
	if (!rc)
		rc = check_retention(err, "create multipart upload", key,
				     opts ? &opts->retention : NULL, 0);
	return rc ? rc : st->ops->mpu_create(st, key, opts, upload_id, err);
}

int store_mpu_put_part(struct store *st, const char *key, const char *upload_id, int number,
		       const void *buf, size_t len, char etag[STORE_ETAG_MAX],
		       struct store_err *err)
{
	int rc = check_key(err, "upload part", key);
	if (!rc)
		rc = check_part(err, "upload part", key, upload_id, number);
	if (!rc && len > STORE_PART_MAX)
		rc = store_set_err(err, -EFBIG, 0, "EntityTooLarge", NULL,
				   "upload part %d of %s: %zu bytes is more than 5 GiB", number,
				   key, len);
	return rc ? rc : st->ops->mpu_put_part(st, key, upload_id, number, buf, len, etag, err);
}

int store_mpu_copy_part(struct store *st, const char *key, const char *upload_id, int number,
			const char *src, uint64_t off, uint64_t len, char etag[STORE_ETAG_MAX],
			struct store_err *err)
{
	int rc = check_key(err, "upload part copy", key);
	if (!rc)
		rc = check_key(err, "upload part copy", src);
	if (!rc)
		rc = check_part(err, "upload part copy", key, upload_id, number);
	return rc ? rc
		  : st->ops->mpu_copy_part(st, key, upload_id, number, src, off, len, etag, err);
}

int store_mpu_list_parts(struct store *st, const char *key, const char *upload_id, store_part_cb cb,
			 void *arg, struct store_err *err)
{
	int rc = check_key(err, "list parts", key);
	if (!rc && (!upload_id || !*upload_id))
		rc = store_set_err(err, -EINVAL, 0, "InvalidArgument", NULL,
				   "list parts %s: empty upload id", key);
	return rc ? rc : st->ops->mpu_list_parts(st, key, upload_id, cb, arg, err);
}

int store_mpu_complete(struct store *st, const char *key, const char *upload_id,
		       const struct store_part *parts, size_t nparts, char *etag,
		       struct store_err *err)
{
	int rc = check_key(err, "complete multipart upload", key);
	if (rc)
		return rc;
	if (nparts < 1 || nparts > STORE_PARTS_MAX)
		return store_set_err(err, -EINVAL, 0, "MalformedXML", NULL,
				     "complete multipart upload %s: %zu parts; 1..%d", key, nparts,
				     STORE_PARTS_MAX);
	for (size_t i = 0; i < nparts; i++) {
		rc = check_part(err, "complete multipart upload", key, upload_id, parts[i].number);
		if (rc)
			return rc;
		if (i && parts[i].number <= parts[i - 1].number)
			return store_set_err(err, -EINVAL, 0, "InvalidPartOrder", NULL,
					     "complete multipart upload %s: part %d after part %d; "
					     "parts must be in ascending order",
					     key, parts[i].number, parts[i - 1].number);
	}
	char tmp[STORE_ETAG_MAX];
	return st->ops->mpu_complete(st, key, upload_id, parts, nparts, etag ? etag : tmp, err);
}

int store_mpu_abort(struct store *st, const char *key, const char *upload_id, struct store_err *err)
{
	int rc = check_key(err, "abort multipart upload", key);
	if (!rc && (!upload_id || !*upload_id))
		rc = store_set_err(err, -EINVAL, 0, "InvalidArgument", NULL,
				   "abort multipart upload %s: empty upload id", key);
	return rc ? rc : st->ops->mpu_abort(st, key, upload_id, err);
}

int store_mpu_list(struct store *st, const char *prefix, store_upload_cb cb, void *arg,
		   struct store_err *err)
{
	return st->ops->mpu_list(st, prefix ? prefix : "", cb, arg, err);
}

/* --- Object Lock ---------------------------------------------------------- */

const char *store_lock_mode_name(enum store_lock_mode m)
{
	switch (m) {
	case STORE_LOCK_GOVERNANCE:
		return "GOVERNANCE";
	case STORE_LOCK_COMPLIANCE:
		return "COMPLIANCE";
	case STORE_LOCK_NONE:
		break;
	}
	return "NONE";
}

const char *store_sse_name(enum store_sse sse)
{
	switch (sse) {
	case STORE_SSE_S3:
		return "AES256";
	case STORE_SSE_KMS:
		return "aws:kms";
	case STORE_SSE_C:
		return "SSE-C";
	default:
		return "none";
	}
}

int store_sse_check(struct store *st, const char *probe_key, struct store_err *err)
{
	int rc = check_key(err, "encryption check", probe_key);
	if (rc)
		return rc;
	return st->ops->sse_check ? st->ops->sse_check(st, probe_key, err) : 0;
}

int store_etags_are_md5(const struct store *st)
{
	return st->ops->etags_md5 ? st->ops->etags_md5(st) : 1;
}

int store_lock_check(struct store *st, struct store_err *err)
{
	return st->ops->lock_check(st, err);
}

static const char *version_or_null(const char *v)
{
	return v && *v ? v : NULL;
}

int store_set_retention(struct store *st, const char *key, const char *version_id,
			const struct store_retention *r, int bypass_governance,
			struct store_err *err)
{
	int rc = check_key(err, "set retention", key);
	if (!rc && !r)
		rc = store_set_err(err, -EINVAL, 0, "InvalidArgument", NULL,
				   "set retention %s: no retention given", key);
	if (!rc)
		rc = check_retention(err, "set retention", key, r, 1);
	return rc ? rc
		  : st->ops->set_retention(st, key, version_or_null(version_id), r,
					   bypass_governance, err);
}

int store_get_retention(struct store *st, const char *key, const char *version_id,
			struct store_retention *r, struct store_err *err)
{
	int rc = check_key(err, "get retention", key);
	if (rc)
		return rc;
	struct store_retention tmp;
	if (!r)
		r = &tmp;
	memset(r, 0, sizeof(*r));
	return st->ops->get_retention(st, key, version_or_null(version_id), r, err);
}

int store_delete_version(struct store *st, const char *key, const char *version_id,
			 int bypass_governance, struct store_err *err)
{
	int rc = check_key(err, "delete", key);
	return rc ? rc
		  : st->ops->del_version(st, key, version_or_null(version_id),
					 bypass_governance != 0, err);
}

int store_list_versions(struct store *st, const char *prefix, store_version_cb cb, void *arg,
			struct store_err *err)
{
	return st->ops->list_versions(st, prefix ? prefix : "", cb, arg, err);
}

/* --- helpers ------------------------------------------------------------- */

static void md5(const void *buf, size_t len, unsigned char out[16])
{
	unsigned int n = 16;
	EVP_Digest(buf, len, out, &n, EVP_md5(), NULL);
}

static void hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = 0;
}

void store_md5_hex(const void *buf, size_t len, char out[33])
{
	unsigned char d[16];
	md5(buf, len, d);
	hex(d, 16, out);
}

void store_md5_base64(const void *buf, size_t len, char out[25])
{
	unsigned char d[16];
	md5(buf, len, d);
	EVP_EncodeBlock((unsigned char *)out, d, 16);
}

static int unhex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int store_multipart_etag(const struct store_part *parts, size_t nparts, char *out)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx)
		return -ENOMEM;
	EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
	for (size_t i = 0; i < nparts; i++) {
		const char *e = parts[i].etag;
		unsigned char bin[16];
		if (strlen(e) != 32) {
			EVP_MD_CTX_free(ctx);
			return -EINVAL;
		}
		for (int j = 0; j < 16; j++) {
			int hi = unhex(e[2 * j]), lo = unhex(e[2 * j + 1]);
			if (hi < 0 || lo < 0) {
				EVP_MD_CTX_free(ctx);
				return -EINVAL;
			}
			bin[j] = (unsigned char)(hi << 4 | lo);
		}
		EVP_DigestUpdate(ctx, bin, 16);
	}
	unsigned char d[16];
	unsigned int n = 16;
	EVP_DigestFinal_ex(ctx, d, &n);
	EVP_MD_CTX_free(ctx);
	hex(d, 16, out);
	snprintf(out + 32, STORE_ETAG_MAX - 32, "-%zu", nparts);
	return 0;
}

int store_class_valid(const char *sc)
{
	/* Amazon S3 API Reference, PutObject, x-amz-storage-class. */
	static const char *const classes[] = {
	    "STANDARD",
	    "REDUCED_REDUNDANCY",
	    "STANDARD_IA",
	    "ONEZONE_IA",
	    "INTELLIGENT_TIERING",
	    "GLACIER",
	    "DEEP_ARCHIVE",
	    "OUTPOSTS",
	    "GLACIER_IR",
	    "SNOW",
	    "EXPRESS_ONEZONE",
	};
	for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
		if (!strcmp(sc, classes[i]))
			return 1;
	return 0;
}

void store_etag_copy(char *dst, const char *src, size_t srclen)
{
	while (srclen && (*src == '"' || *src == ' ')) {
		src++;
		srclen--;
	}
	while (srclen && (src[srclen - 1] == '"' || src[srclen - 1] == ' ' ||
			  src[srclen - 1] == '\r' || src[srclen - 1] == '\n'))
		srclen--;
	/* &quot; as XML bodies may carry it */
	if (srclen >= 12 && !strncmp(src, "&quot;", 6) && !strncmp(src + srclen - 6, "&quot;", 6)) {
		src += 6;
		srclen -= 12;
	}
	if (srclen >= STORE_ETAG_MAX)
		srclen = STORE_ETAG_MAX - 1;
	memcpy(dst, src, srclen);
	dst[srclen] = 0;
}
