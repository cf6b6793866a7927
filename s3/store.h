/*
 * The object store: one interface, two backends (ARCHITECTURE.md, "The
 * medium, the cache and the object store").
 *
 *   store_local_open()  objects as files under a directory (the embedded
 *                       default: the product runs with no cloud account)
 *   store_s3_open()     Amazon S3 or any S3-compatible service (s3/store_s3.c)
 *
 * Everything above this header is the same code for both. The contract is
 * S3's: keys are byte strings of 1..1024 bytes, a put replaces the whole
 * object atomically (a reader sees the old or the new object, never a mix),
 * ETags are the hex MD5 of the object or, for a multipart object, the MD5 of
 * the concatenated binary part MD5s followed by "-N" (N parts). ETags are
 * returned without the quotes that S3 puts around them.
 *
 * Multipart uploads are resumable by design: the upload id and, per part,
 * the number, size and ETag are plain values that the caller (the uploader)
 * persists in the catalog; after a restart it lists the parts the store has
 * (store_mpu_list_parts), sends only the missing ones and completes. Uploads
 * that the catalog does not know are found with store_mpu_list and aborted.
 *
 * Every operation may be called from several threads at once on the same
 * store. Every function returns 0 (or a count) on success and a negative
 * errno on failure; when `err` is not NULL it receives a message that says
 * what failed on which object, with the S3 error code and request id. Library
 * code never prints. The mapping of S3 error codes to errno values:
 *
 *   NoSuchKey, NoSuchUpload, NoSuchBucket              -ENOENT
 *   AccessDenied, SignatureDoesNotMatch,
 *   InvalidAccessKeyId                                 -EACCES
 *   InvalidRange                                       -ERANGE
 *   InvalidPart, InvalidPartOrder, EntityTooSmall,
 *   InvalidArgument, InvalidStorageClass, ...          -EINVAL
 *   InvalidObjectState (archived, restore it first)    -EAGAIN
 *   RestoreAlreadyInProgress                           -EINPROGRESS
 *   NotImplemented (HTTP 501)                          -EOPNOTSUPP
 *   BadDigest, XAmzContentSHA256Mismatch, a body whose
 *   MD5 is not its ETag (after the retries)            -EBADMSG
 *   QuotaExceeded                                      -EDQUOT
 *   a delete or overwrite refused because the object
 *   version is under Object Lock retention (S3's
 *   AccessDenied or InvalidRequest naming the lock)    -EPERM
 *   a bucket without Object Lock or versioning
 *   (store_lock_check)                                 -ENOLCK
 *   timeouts (after the retries)                       -ETIMEDOUT
 *   no connection (after the retries)                  -ECONNREFUSED
 *   a server certificate that does not verify          -EPROTO
 *   5xx, SlowDown and anything else                    -EIO
 *
 * err->fault says whether waiting can fix the error (enum store_fault).
 */
#ifndef VTL_S3_STORE_H
#define VTL_S3_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* S3 limits (Amazon S3 User Guide, "Multipart upload limits"). */
#define STORE_KEY_MAX	     1024	/* bytes in a key */
#define STORE_PART_MIN	     (5u << 20) /* every part but the last */
#define STORE_PART_MAX	     (5ull << 30)
#define STORE_PARTS_MAX	     10000
#define STORE_PUT_MAX	     (5ull << 30) /* a single PUT or CopyObject */
#define STORE_ETAG_MAX	     80		  /* "md5hex-10000" and then some */
#define STORE_UPLOAD_ID_MAX  256
#define STORE_CLASS_MAX	     32
#define STORE_ERR_MSG_MAX    512
#define STORE_VERSION_ID_MAX 1024 /* x-amz-version-id (S3 sets no limit; RGW's are ~32) */

struct store;

/*
 * Whether waiting can fix an error. A transient fault may go away by
 * itself, so the caller backs off and tries again; every other one needs a
 * person to change something first (a setting, a credential, the bucket, a
 * quota), and the same request fails the same way until then.
 */
enum store_fault {
	STORE_FAULT_NONE,      /* no error */
	STORE_FAULT_TRANSIENT, /* timeouts, no connection, HTTP 5xx, SlowDown, a body
				* corrupted on the way, anything not listed below */
	STORE_FAULT_TLS,       /* the server's certificate does not verify (its CA
				* unknown, its name not the endpoint's, expired) */
	STORE_FAULT_ACCESS,    /* AccessDenied, SignatureDoesNotMatch,
				* InvalidAccessKeyId, an expired token; a local
				* directory's permissions */
	STORE_FAULT_BUCKET,    /* NoSuchBucket */
	STORE_FAULT_SPACE,     /* QuotaExceeded; a full file system */
	STORE_FAULT_REFUSED,   /* any other refusal of the request itself (HTTP 4xx,
				* a bad argument, an object under Object Lock
				* retention, a bucket without Object Lock): sent
				* again, it fails again */
};

/* The fault of an error from its errno and S3 code (may be NULL). */
enum store_fault store_fault_of(int rc, const char *code);
/* "certificate", "access", ...: a short name for messages and JSON. */
const char *store_fault_name(enum store_fault f);

/* What went wrong, for a person to read. */
struct store_err {
	int rc;			     /* the negative errno also returned */
	enum store_fault fault;	     /* whether waiting can fix it */
	int http_status;	     /* 0 when no HTTP answer (or local) */
	char code[64];		     /* S3 error code ("NoSuchKey"), or "" */
	char request_id[128];	     /* x-amz-request-id, or "" */
	char msg[STORE_ERR_MSG_MAX]; /* "GET s3://bucket/key: NoSuchKey (HTTP 404) ..." */
};

/*
 * S3 Object Lock (Amazon S3 User Guide, "Locking objects with Object
 * Lock"): a retention mode and a retain-until date on one object version.
 * Until that date the version cannot be deleted or its retention shortened;
 * GOVERNANCE yields to a request that says x-amz-bypass-governance-retention
 * (and holds the s3:BypassGovernanceRetention permission), COMPLIANCE yields
 * to nobody.
 */
enum store_lock_mode {
	STORE_LOCK_NONE,       /* no retention */
	STORE_LOCK_GOVERNANCE, /* removable with the bypass */
	STORE_LOCK_COMPLIANCE, /* removable by nobody before `until` */
};

struct store_retention {
	enum store_lock_mode mode;
	int64_t until; /* retain-until date, seconds since the epoch (UTC); 0 with NONE */
};

/* "GOVERNANCE", "COMPLIANCE", "NONE". */
const char *store_lock_mode_name(enum store_lock_mode m);

struct store_object_info {
	uint64_t size;
	char etag[STORE_ETAG_MAX];
	char storage_class[STORE_CLASS_MAX]; /* "STANDARD" when the store says nothing */
	int64_t mtime;			     /* seconds since the epoch, 0 if unknown */
	/* x-amz-restore as S3 sends it ('ongoing-request="true"', or
	 * 'ongoing-request="false", expiry-date="..."'), "" when absent. */
	char restore[160];
	/* x-amz-version-id: "" on an unversioned bucket and on the local
	 * backend (which keeps one version per key). */
	char version_id[STORE_VERSION_ID_MAX];
	/* x-amz-object-lock-mode and -retain-until-date of this version. */
	struct store_retention retention;
	/* How the service says the object is encrypted at rest: "AES256",
	 * "aws:kms" (x-amz-server-side-encryption), "SSE-C" (x-amz-server-
	 * side-encryption-customer-algorithm), "" for none said. */
	char sse[16];
	char sse_kms_key_id[256]; /* x-amz-server-side-encryption-aws-kms-key-id */
};

/*
 * Server-side encryption of the objects a store writes (Amazon S3 User
 * Guide, "Protecting data with server-side encryption"): the service keeps
 * them encrypted at rest, under its own key (SSE-S3, x-amz-server-side-
 * encryption: AES256), under a key of its key management service (SSE-KMS,
 * aws:kms and x-amz-server-side-encryption-aws-kms-key-id), or under a key
 * the client sends with every request that writes or reads the object
 * (SSE-C, x-amz-server-side-encryption-customer-algorithm, -key and
 * -key-MD5). With SSE-C the service keeps only a salted hash of the key:
 * an object cannot be read, not even by the bucket's owner, without it.
 */
enum store_sse {
	STORE_SSE_NONE,
	STORE_SSE_S3,  /* AES256 */
	STORE_SSE_KMS, /* aws:kms */
	STORE_SSE_C,   /* customer-provided key */
};

#define STORE_SSE_C_KEY_BYTES 32 /* SSE-C: an AES-256 key */

/* "none", "AES256", "aws:kms", "SSE-C". */
const char *store_sse_name(enum store_sse sse);

/* Options of a new object: store_put, store_mpu_create and the copies
 * (store_copy_opts). */
struct store_put_opts {
	const char *storage_class; /* NULL: the bucket's default (STANDARD) */
	/* Object Lock retention of the new version (x-amz-object-lock-mode and
	 * x-amz-object-lock-retain-until-date); mode NONE: none (the bucket's
	 * default retention, if it has one, applies). The bucket must have
	 * Object Lock enabled (store_lock_check). */
	struct store_retention retention;
	/* When not NULL, receives the new version's id (STORE_VERSION_ID_MAX
	 * bytes; "" when the bucket is unversioned). Set by store_put and the
	 * copies; store_mpu_create leaves it alone. */
	char *version_id;
};

/* Listing (ListObjectsV2). Entries arrive in key order (byte order). With a
 * delimiter, keys that share the part of the key up to it are rolled into one
 * entry with is_prefix set (S3's CommonPrefixes), delivered in order too. */
struct store_list_entry {
	const char *key; /* the key, or the common prefix */
	int is_prefix;
	uint64_t size;
	const char *etag;
	const char *storage_class;
	int64_t mtime;
};

struct store_list_opts {
	const char *prefix;	 /* NULL or "" for all */
	const char *delimiter;	 /* NULL for none */
	const char *start_after; /* NULL to start at the beginning */
	unsigned page_size;	 /* keys per request, 1..1000; 0 means 1000 */
	unsigned pages;		 /* out: requests made */
};

/* Return 0 to continue, anything else to stop the listing (store_list
 * then returns that value). */
/* A caller's name for a file's bytes (store_put_file). */
typedef int (*store_digest_fn)(int fd, uint64_t len, char *out, void *arg);
typedef int (*store_list_cb)(void *arg, const struct store_list_entry *e);

struct store_part {
	int number; /* 1..10000 */
	uint64_t size;
	char etag[STORE_ETAG_MAX];
};

typedef int (*store_part_cb)(void *arg, const struct store_part *p);

struct store_upload {
	const char *key;
	const char *upload_id;
	int64_t initiated; /* seconds since the epoch, 0 if unknown */
};

typedef int (*store_upload_cb)(void *arg, const struct store_upload *u);

/* The backend vtable; callers use the store_* functions below. */
/* One version of an object, or a delete marker (ListObjectVersions). */
struct store_version_entry {
	const char *key;
	/* As store_delete_version takes it: "null" for the null version of
	 * an S3 bucket that was never versioned, "" on the local backend. */
	const char *version_id;
	bool delete_marker;
	bool latest;
	uint64_t size;
};
typedef int (*store_version_cb)(void *arg, const struct store_version_entry *e);

struct store_ops {
	const char *name;
	int (*put)(struct store *st, const char *key, const void *buf, size_t len,
		   const struct store_put_opts *opts, char *etag, struct store_err *err);
	int (*get)(struct store *st, const char *key, uint64_t off, size_t len, void *buf,
		   size_t *got, struct store_object_info *info, struct store_err *err);
	int (*head)(struct store *st, const char *key, struct store_object_info *info,
		    struct store_err *err);
	int (*del)(struct store *st, const char *key, struct store_err *err);
	int (*list)(struct store *st, struct store_list_opts *opts, store_list_cb cb, void *arg,
		    struct store_err *err);
	int (*copy)(struct store *st, const char *src, const char *dst,
		    const struct store_put_opts *opts, char *etag, struct store_err *err);
	/* Optional: a copy from another store that this backend does without
	 * moving the bytes through this process; -EXDEV when it cannot for
	 * this pair (store.c then streams). */
	int (*copy_from)(struct store *st, struct store *from, const char *src, const char *dst,
			 const struct store_put_opts *opts, char *etag, struct store_err *err);
	int (*restore)(struct store *st, const char *key, int days, const char *tier,
		       struct store_err *err);
	/* Optional (store_put_file): NULL where an object cannot share a
	 * local file's bytes. */
	int (*put_file)(struct store *st, const char *key, const char *path, uint64_t len,
			store_digest_fn digest, void *digest_arg, char *etag,
			struct store_err *err);
	/* Optional, with put_file: false where files under dir cannot be
	 * shared (store_takes_files). */
	bool (*takes_files)(struct store *st, const char *dir);
	int (*mpu_create)(struct store *st, const char *key, const struct store_put_opts *opts,
			  char *upload_id, struct store_err *err);
	int (*mpu_put_part)(struct store *st, const char *key, const char *upload_id, int number,
			    const void *buf, size_t len, char *etag, struct store_err *err);
	int (*mpu_copy_part)(struct store *st, const char *key, const char *upload_id, int number,
			     const char *src, uint64_t off, uint64_t len, char *etag,
			     struct store_err *err);
	int (*mpu_list_parts)(struct store *st, const char *key, const char *upload_id,
			      store_part_cb cb, void *arg, struct store_err *err);
	int (*mpu_complete)(struct store *st, const char *key, const char *upload_id,
			    const struct store_part *parts, size_t nparts, char *etag,
			    struct store_err *err);
	int (*mpu_abort)(struct store *st, const char *key, const char *upload_id,
			 struct store_err *err);
	int (*mpu_list)(struct store *st, const char *prefix, store_upload_cb cb, void *arg,
			struct store_err *err);
	/* Object Lock (store_lock_check ... store_delete_version). */
	int (*lock_check)(struct store *st, struct store_err *err);
	int (*set_retention)(struct store *st, const char *key, const char *version_id,
			     const struct store_retention *r, int bypass_governance,
			     struct store_err *err);
	int (*get_retention)(struct store *st, const char *key, const char *version_id,
			     struct store_retention *r, struct store_err *err);
	int (*del_version)(struct store *st, const char *key, const char *version_id,
			   int bypass_governance, struct store_err *err);
	int (*list_versions)(struct store *st, const char *prefix, store_version_cb cb, void *arg,
			     struct store_err *err);
	/* Optional: store_sse_check and store_etags_are_md5 (absent: no
	 * encryption, MD5 ETags). */
	int (*sse_check)(struct store *st, const char *probe_key, struct store_err *err);
	int (*etags_md5)(const struct store *st);
	/* Where key is, for a person: "s3://BUCKET/KEY", "ROOT/KEY". */
	void (*where)(struct store *st, const char *key, char *out, size_t outsz);
	void (*close)(struct store *st);
};

struct store {
	const struct store_ops *ops;
};

/* --- Opening ------------------------------------------------------------ */

/* The local-directory backend; `root` is created when missing. */
int store_local_open(const char *root, struct store **out, struct store_err *err);

enum store_s3_addressing {
	STORE_S3_AUTO,	  /* virtual-hosted for AWS endpoints, path-style otherwise */
	STORE_S3_PATH,	  /* http://endpoint/bucket/key */
	STORE_S3_VIRTUAL, /* http://bucket.endpoint/key */
};

struct store_s3_config {
	const char *bucket;   /* required */
	const char *endpoint; /* "https://host[:port]"; NULL: https://s3.REGION.amazonaws.com */
	const char *region;   /* NULL: AWS_REGION, AWS_DEFAULT_REGION, the profile, us-east-1 */
	enum store_s3_addressing addressing;
	/* Credentials: these when set, else AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/
	 * AWS_SESSION_TOKEN, else the profile (`profile`, else AWS_PROFILE, else
	 * "default") in AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials) and
	 * AWS_CONFIG_FILE (~/.aws/config). */
	const char *access_key;
	const char *secret_key;
	const char *session_token;
	const char *profile;
	const char *ca_bundle;	     /* NULL: the system's */
	int unsigned_payload;	     /* sign UNSIGNED-PAYLOAD; honoured over https only */
	int no_get_md5_check;	     /* skip the MD5 check of whole-object GETs (SSE-KMS ETags) */
	unsigned max_retries;	     /* 0: 6 */
	unsigned retry_base_ms;	     /* 0: 100; backoff base, doubled per try, full jitter */
	unsigned retry_max_ms;	     /* 0: 10000 */
	unsigned connect_timeout_ms; /* 0: 10000 */
	unsigned timeout_ms;	     /* 0: no total limit; see low_speed_secs */
	unsigned low_speed_secs;     /* abort a transfer slower than 1 KiB/s for this long; 0: 30 */
	/* Server-side encryption of every object written: PutObject and
	 * CreateMultipartUpload carry it, and with SSE-C UploadPart, the
	 * copies (x-amz-copy-source-server-side-encryption-customer-* too),
	 * GetObject and HeadObject carry the key. Copies within the service
	 * are multipart uploads of UploadPartCopy parts, which re-encrypt as
	 * asked (radosgw 16 refuses CopyObject of an encrypted source and
	 * ignores the encryption asked for a CopyObject's copy). */
	enum store_sse sse;
	const char *sse_kms_key_id; /* SSE-KMS: NULL for the service's default key */
	/* SSE-C: STORE_SSE_C_KEY_BYTES bytes, copied by store_s3_open (and
	 * wiped at close); it is sent only in the encryption headers and
	 * appears in no message. */
	const unsigned char *sse_c_key;
};

/* The S3 backend. Fails (with the reason in err) when no credentials are
 * found; it does not contact the service. */
int store_s3_open(const struct store_s3_config *cfg, struct store **out, struct store_err *err);

/* Takes the credentials (the chain of store_s3_open: explicit keys, the
 * environment, the profile files, read again) and ca_bundle of cfg for the
 * requests that start from now on, while others run; the rest of cfg is
 * ignored (bucket, endpoint, region stay). -EACCES when cfg gives no
 * credentials (the old ones stay). */
int store_s3_reconfigure(struct store *st, const struct store_s3_config *cfg,
			 struct store_err *err);

/* Creates the bucket (a convenience for tests and `vtlctl`); an existing
 * bucket owned by the caller is not an error. */
int store_s3_create_bucket(struct store *st, struct store_err *err);

/* Creates the bucket with Object Lock enabled (x-amz-bucket-object-lock-
 * enabled: true, which also enables versioning; radosgw cannot turn it on
 * later for a bucket made without it), then checks it with
 * store_lock_check: an existing bucket of the caller made without Object
 * Lock is -ENOLCK, with the message saying so. */
int store_s3_create_bucket_locked(struct store *st, struct store_err *err);

/* --- Operations --------------------------------------------------------- */

const char *store_backend(const struct store *st);
/* Can this store make an object of the own bytes of a local file under
 * dir (store_put_file)? S3 cannot, nor a local store on another file
 * system than dir. A true is a maybe: store_put_file says for each file. */
bool store_takes_files(struct store *st, const char *dir);
void store_close(struct store *st);

/* PutObject: the whole object from buf, with Content-MD5. etag (may be
 * NULL) receives the new ETag. */
int store_put(struct store *st, const char *key, const void *buf, size_t len,
	      const struct store_put_opts *opts, char *etag, struct store_err *err);

/* PutObject of the whole of a local file, without a second copy of its
 * bytes where the backend can: the local directory makes the object a
 * reflink of the file (FICLONE) where the file system has them, else a
 * hard link (one inode, two names). Only for a file that never changes
 * in place again. A writer that still might holds flock(LOCK_EX) on it
 * (the medium: its active segment while open, a sealed segment while it
 * cuts it, and then only a file of one link, scsi/tape.c); this holds
 * flock(LOCK_SH) from the size check to the link, so a file is never
 * changed once found whole and linked.
 * len is the file's size the caller expects: a longer file is -ERANGE, a
 * shorter one -EAGAIN (cut since the caller looked), nothing done either
 * way; -EBUSY when its writer holds it (flock LOCK_EX): it can still change.
 * -EXDEV: another file system; -EOPNOTSUPP: the backend cannot (S3).
 * In those cases the caller copies (store_put or a multipart upload).
 * The object's ETag is the MD5 of the bytes, as store_put's, when digest
 * is NULL; else what digest(fd, len, out, arg) writes into out (a string
 * of at most STORE_ETAG_MAX - 1 characters that changes when the bytes
 * do), called on the object's own file once it is linked and can no
 * longer change: a caller that knows a digest of its file cheaper than
 * reading every byte (the medium's, from its records' CRC32Cs) names the
 * object by it. A digest's error is returned as it is, nothing done.
 * etag (may be NULL) receives the ETag. */
int store_put_file(struct store *st, const char *key, const char *path, uint64_t len,
		   store_digest_fn digest, void *digest_arg, char *etag, struct store_err *err);

/* GetObject of bytes [off, off+len) into buf; *got receives the number of
 * bytes read, fewer than len at the end of the object. off at or past the
 * end of a non-empty object is -ERANGE (S3's InvalidRange). info (may be
 * NULL) receives the object's size, ETag and class. */
int store_get(struct store *st, const char *key, uint64_t off, size_t len, void *buf, size_t *got,
	      struct store_object_info *info, struct store_err *err);

int store_head(struct store *st, const char *key, struct store_object_info *info,
	       struct store_err *err);

/* DeleteObject; deleting a key that does not exist succeeds, as on S3. On a
 * versioned bucket S3 adds a delete marker and keeps the versions (those
 * under Object Lock stay until their date); the local backend removes the
 * object, and refuses one under retention (-EPERM). */
int store_delete(struct store *st, const char *key, struct store_err *err);

/* ListObjectsV2, following continuation tokens until the end or until cb
 * returns non-zero. */
int store_list(struct store *st, struct store_list_opts *opts, store_list_cb cb, void *arg,
	       struct store_err *err);

/* CopyObject within the bucket, setting the storage class of the copy (NULL
 * keeps STANDARD). src == dst changes the class in place. Objects larger
 * than 5 GiB are copied with a multipart upload of UploadPartCopy parts. */
int store_copy(struct store *st, const char *src, const char *dst, const char *storage_class,
	       char *etag, struct store_err *err);

/*
 * Copy src of store `from` to dst of store `st` (another bucket or
 * directory), setting the storage class of the copy as store_copy does.
 * Two buckets of one S3 service (the same endpoint and access key) copy
 * server side: CopyObject naming from's bucket in x-amz-copy-source, or
 * UploadPartCopy parts beyond 5 GiB. Any other pair is streamed: ranged
 * GETs from `from` into a PutObject, or a multipart upload for large
 * objects, one part in memory at a time. st == from is store_copy.
 * -ENOENT when src does not exist; -EAGAIN when src is in an archive class
 * and not restored (as store_get). Messages name both objects:
 * "copy s3://a/k to /srv/shelf/k: ...".
 */
int store_copy_from(struct store *st, struct store *from, const char *src, const char *dst,
		    const char *storage_class, char *etag, struct store_err *err);

/*
 * store_copy_from with all the options of a new object: the storage class
 * and the Object Lock retention of the copy (sent with the CopyObject or
 * CreateMultipartUpload, or the PutObject of a streamed copy), and its
 * version id back. opts NULL is STANDARD, no retention. On AWS the copy
 * has the retention opts says and not its source's; radosgw 16 first gives
 * it its source's, and the one asked is then set on the copy with
 * PutObjectRetention, which can only extend a COMPLIANCE one (-EPERM
 * otherwise). Where the service drops the retention headers of a copy
 * (radosgw 16 on CopyObject and CreateMultipartUpload), the S3 backend
 * sets it on the new version itself (a HEAD, then PutObjectRetention).
 */
int store_copy_opts(struct store *st, struct store *from, const char *src, const char *dst,
		    const struct store_put_opts *opts, char *etag, struct store_err *err);

/* --- Object Lock ----------------------------------------------------------
 *
 * version_id NULL or "" names the current version of the key (on the local
 * backend, the object: it keeps one version per key).
 */

/*
 * Whether the store can lock objects: on S3 the bucket's Object Lock
 * configuration says ObjectLockEnabled=Enabled (GetObjectLockConfiguration)
 * and its versioning is Enabled (GetBucketVersioning). 0 when it can;
 * -ENOLCK when it cannot, with a message naming the bucket, what is
 * missing and the fix (a new bucket created with Object Lock, `aws s3api
 * create-bucket --object-lock-enabled-for-bucket`; on AWS also
 * put-object-lock-configuration on the versioned bucket; radosgw accepts
 * it only at creation); -EOPNOTSUPP when the service does
 * not implement the calls; any other error as usual (-EACCES: the key may
 * not read the bucket's configuration). The local backend always can.
 */
int store_lock_check(struct store *st, struct store_err *err);

/*
 * PutObjectRetention: put version `version_id` of key under `r` (mode
 * GOVERNANCE or COMPLIANCE, `until` in the future, else -EINVAL). S3's
 * rules apply: a retention can be extended; shortening it or changing its
 * mode needs bypass_governance on a GOVERNANCE one and is refused (-EPERM)
 * on a COMPLIANCE one. -ENOENT when the key (or version) does not exist.
 */
int store_set_retention(struct store *st, const char *key, const char *version_id,
			const struct store_retention *r, int bypass_governance,
			struct store_err *err);

/* GetObjectRetention of a version: *r receives its mode and date, mode
 * NONE when it has none (or the bucket has no Object Lock). -ENOENT when
 * the key or version does not exist. */
int store_get_retention(struct store *st, const char *key, const char *version_id,
			struct store_retention *r, struct store_err *err);

/*
 * DeleteObject of one version (?versionId=), which removes it for good;
 * bypass_governance sends x-amz-bypass-governance-retention: true. A
 * version under retention is refused: -EPERM, with a message naming the
 * object, the mode and the retain-until date (and, for GOVERNANCE, the
 * bypass). A version that does not exist is not an error, as with
 * store_delete. With version_id NULL or "" on a versioned S3 bucket this
 * is S3's plain DeleteObject: a delete marker, the versions stay.
 */
int store_delete_version(struct store *st, const char *key, const char *version_id,
			 int bypass_governance, struct store_err *err);

/*
 * Every version and delete marker of every key under prefix (S3's
 * ListObjectVersions, page after page); on the local backend, which keeps
 * one version per key, each object once. A callback's non-zero return
 * stops the listing and is returned. What deleting data for good needs
 * on a versioned bucket, where a plain DeleteObject only adds a marker.
 */
int store_list_versions(struct store *st, const char *prefix, store_version_cb cb, void *arg,
			struct store_err *err);
/* --- Server-side encryption ---------------------------------------------- */

/*
 * Whether the service encrypts as the store was opened to ask: a small
 * object is put at probe_key with the encryption headers, and the answer
 * must say the same encryption (x-amz-server-side-encryption and its KMS
 * key id, or the SSE-C algorithm and key MD5); a HEAD must say it again
 * and, with SSE-C, a HEAD without the key must be refused. The probe is
 * deleted. 0 when it does (or the store was opened without encryption);
 * -EPROTO with err->code STORE_SSE_NOT_APPLIED when the service ignored or
 * changed the request (radosgw 16 accepts SSE-S3's header and stores the
 * object in clear; a certificate that does not verify is -EPROTO too, with
 * another code), with a message
 * naming the bucket, what was asked and what the service answered; any
 * store error as usual (a refused KMS key id: -EACCES; SSE-C over plain
 * HTTP: the service's refusal). The local backend never encrypts: 0.
 */
int store_sse_check(struct store *st, const char *probe_key, struct store_err *err);

/* err->code of a write or check the service answered without the
 * encryption asked. */
#define STORE_SSE_NOT_APPLIED "EncryptionNotApplied"

/*
 * 1 when the ETags of this store's objects and parts are the MD5 of their
 * bytes (so that a part listed by the store can be recognised by its MD5,
 * and a multipart object's ETag computed from its parts); 0 when they are
 * not: AWS's ETags of SSE-C and SSE-KMS objects (Amazon S3 API Reference,
 * Common Response Headers, ETag), so a store opened with either says 0.
 */
int store_etags_are_md5(const struct store *st);

/* Where key is, for a person: "s3://BUCKET/KEY" or "ROOT/KEY". */
void store_where(struct store *st, const char *key, char *out, size_t outsz);

/* store_copy_from streams an object of up to this size with one GET and
 * one PUT; a larger one with parts of this size (more when the object
 * needs more than 10000 of them), the memory it holds at a time. */
#define STORE_COPY_PART (64u << 20)

/* RestoreObject for `days` at `tier` ("Standard", "Bulk", "Expedited"; NULL:
 * Standard). 0 when the restore was started or the object is readable
 * already; -EINPROGRESS when a restore is running; -EOPNOTSUPP when the
 * service has no restore (Ceph RGW: its archive classes are readable). */
int store_restore(struct store *st, const char *key, int days, const char *tier,
		  struct store_err *err);

int store_mpu_create(struct store *st, const char *key, const struct store_put_opts *opts,
		     char upload_id[STORE_UPLOAD_ID_MAX], struct store_err *err);
/* UploadPart with Content-MD5; number 1..10000; etag receives the part's. */
int store_mpu_put_part(struct store *st, const char *key, const char *upload_id, int number,
		       const void *buf, size_t len, char etag[STORE_ETAG_MAX],
		       struct store_err *err);
/* UploadPartCopy of src bytes [off, off+len); len 0 copies the whole src. */
int store_mpu_copy_part(struct store *st, const char *key, const char *upload_id, int number,
			const char *src, uint64_t off, uint64_t len, char etag[STORE_ETAG_MAX],
			struct store_err *err);
/* ListParts, in part-number order, all pages. */
int store_mpu_list_parts(struct store *st, const char *key, const char *upload_id, store_part_cb cb,
			 void *arg, struct store_err *err);
/* CompleteMultipartUpload; parts in ascending number order, each with the
 * ETag its upload returned (a wrong ETag is -EINVAL, InvalidPart). */
int store_mpu_complete(struct store *st, const char *key, const char *upload_id,
		       const struct store_part *parts, size_t nparts, char *etag,
		       struct store_err *err);
int store_mpu_abort(struct store *st, const char *key, const char *upload_id,
		    struct store_err *err);
/* ListMultipartUploads under prefix (NULL: all), all pages. */
int store_mpu_list(struct store *st, const char *prefix, store_upload_cb cb, void *arg,
		   struct store_err *err);

/* --- Helpers shared by the backends and the callers --------------------- */

/* The multipart ETag S3 computes from the part ETags: hex MD5 of the
 * concatenated binary MD5s, "-", the number of parts. -EINVAL when a part
 * ETag is not 32 hex digits. out has STORE_ETAG_MAX bytes. */
int store_multipart_etag(const struct store_part *parts, size_t nparts, char *out);

/* Hex MD5 of buf (33 bytes out) and the same as base64 (25 bytes out). */
void store_md5_hex(const void *buf, size_t len, char out[33]);
void store_md5_base64(const void *buf, size_t len, char out[25]);

/* 1 when `sc` is a storage class name S3 defines. */
int store_class_valid(const char *sc);

/* Fill err (when not NULL) and return rc. */
int store_set_err(struct store_err *err, int rc, int http_status, const char *code,
		  const char *request_id, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Copy an ETag without surrounding quotes (S3 quotes them; RGW's
 * UploadPartCopy does not). */
void store_etag_copy(char *dst, const char *src, size_t srclen);

#endif
