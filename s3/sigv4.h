/*
 * AWS Signature Version 4, header form ("Authorization: AWS4-HMAC-SHA256
 * Credential=..., SignedHeaders=..., Signature=...").
 *
 * Defined by the AWS General Reference, "Create a signed AWS API request",
 * and for S3 by the S3 API Reference, "Signature Calculations for the
 * Authorization Header: Transferring Payload in a Single Chunk". S3 differs
 * from other services in one point that matters here: the path is
 * URI-encoded once, not twice, and is not normalised. This module does the
 * S3 form; the generic test-suite cases used in the tests are those where
 * both forms agree.
 *
 * The caller passes the path and query unencoded; sigv4_sign() encodes them
 * as the canonical request wants, and the same encoding (sigv4_uri_encode,
 * sigv4_canonical_query) must build the URL that is sent.
 */
#ifndef VTL_S3_SIGV4_H
#define VTL_S3_SIGV4_H

#include <stddef.h>
#include <time.h>

#define SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SIGV4_UNSIGNED	   "UNSIGNED-PAYLOAD"

struct sigv4_pair {
	const char *name;
	const char *value; /* NULL is the same as "" */
};

struct sigv4_request {
	const char *method;		/* "GET", "PUT", ... */
	const char *path;		/* unencoded, starts with '/' */
	const struct sigv4_pair *query; /* unencoded; any order */
	size_t nquery;
	const struct sigv4_pair *headers; /* every header to sign, incl. host and x-amz-date */
	size_t nheaders;
	const char *payload_hash; /* hex SHA-256 of the body, or SIGV4_UNSIGNED */
};

struct sigv4_key {
	const char *access_key;
	const char *secret_key;
	const char *region;
	const char *service; /* "s3" */
};

/* Optional views of the intermediate strings, for tests. Each buffer is
 * malloc'ed and must be freed by the caller. */
struct sigv4_debug {
	char *canonical_request;
	char *string_to_sign;
};

/* Sign. amz_date is "YYYYMMDDTHHMMSSZ" and must also be the value of the
 * x-amz-date header in req->headers. Writes the Authorization header value
 * (without "Authorization: ") into auth. Returns 0, -ENOSPC when auth is too
 * small, -ENOMEM, or -EINVAL for a malformed request. */
int sigv4_sign(const struct sigv4_request *req, const struct sigv4_key *key, const char *amz_date,
	       char *auth, size_t authsz, struct sigv4_debug *dbg);

/* "YYYYMMDDTHHMMSSZ" for t (UTC); out has at least 17 bytes. */
void sigv4_amz_date(time_t t, char out[17]);

/* Percent-encode per the SigV4 rules: everything but A-Z a-z 0-9 - . _ ~ as
 * %XX with upper-case hex; '/' is kept when keep_slash. Returns the length
 * written (without the NUL), or -ENOSPC. */
int sigv4_uri_encode(const char *in, size_t inlen, int keep_slash, char *out, size_t outsz);

/* The canonical query string (encoded names and values, sorted by name then
 * value, "name=" for an empty value): malloc'ed, NULL on ENOMEM. */
char *sigv4_canonical_query(const struct sigv4_pair *query, size_t n);

/* Hex SHA-256 of buf (65 bytes out). */
void sigv4_sha256_hex(const void *buf, size_t len, char out[65]);

#endif
