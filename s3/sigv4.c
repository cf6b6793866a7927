/*
 * AWS Signature Version 4 (see sigv4.h for the documents it follows).
 *
 *   CanonicalRequest = Method \n CanonicalURI \n CanonicalQuery \n
 *                      CanonicalHeaders \n SignedHeaders \n PayloadHash
 *   StringToSign     = "AWS4-HMAC-SHA256" \n amz_date \n scope \n hex(SHA256(CanonicalRequest))
 *   scope            = date/region/service/aws4_request
 *   SigningKey       = HMAC(HMAC(HMAC(HMAC("AWS4" secret, date), region), service), "aws4_request")
 *   Signature        = hex(HMAC(SigningKey, StringToSign))
 *
 * The secret key never leaves this file in any form but the derived HMAC.
 */
#include "config.h"

#include "s3/sigv4.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

/* A growable string; on allocation failure `oom` is set and appends stop. */
struct sbuf {
	char *p;
	size_t len, cap;
	int oom;
};

static void sb_addn(struct sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

static void sb_add(struct sbuf *b, const char *s)
{
	sb_addn(b, s, strlen(s));
}

static void sb_addc(struct sbuf *b, char c)
{
	sb_addn(b, &c, 1);
}

static void to_hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = 0;
}

void sigv4_sha256_hex(const void *buf, size_t len, char out[65])
{
	unsigned char d[32];
	unsigned int n = 32;
	EVP_Digest(buf, len, d, &n, EVP_sha256(), NULL);
	to_hex(d, 32, out);
}

static void hmac(const void *key, size_t keylen, const char *msg, size_t msglen,
		 unsigned char out[32])
{
	unsigned int n = 32;
	HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg, msglen, out, &n);
}

void sigv4_amz_date(time_t t, char out[17])
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

static int unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

int sigv4_uri_encode(const char *in, size_t inlen, int keep_slash, char *out, size_t outsz)
{
	static const char digits[] = "0123456789ABCDEF";
	size_t o = 0;
	for (size_t i = 0; i < inlen; i++) {
		unsigned char c = (unsigned char)in[i];
		if (unreserved(c) || (keep_slash && c == '/')) {
			if (o + 1 >= outsz)
				return -ENOSPC;
			out[o++] = (char)c;
		} else {
			if (o + 3 >= outsz)
				return -ENOSPC;
			out[o++] = '%';
			out[o++] = digits[c >> 4];
			out[o++] = digits[c & 15];
		}
	}
	if (o >= outsz)
		return -ENOSPC;
	out[o] = 0;
	return (int)o;
}

static void sb_encode(struct sbuf *b, const char *s, int keep_slash)
{
	size_t n = strlen(s);
	char *tmp = malloc(3 * n + 1);
	if (!tmp) {
		b->oom = 1;
		return;
	}
	sigv4_uri_encode(s, n, keep_slash, tmp, 3 * n + 1);
	sb_add(b, tmp);
	free(tmp);
}

struct enc_pair {
	char *name, *value;
};

static int cmp_pair(const void *a, const void *b)
{
	const struct enc_pair *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->value, y->value);
}

char *sigv4_canonical_query(const struct sigv4_pair *query, size_t n)
{
	struct enc_pair *v = calloc(n ? n : 1, sizeof(*v));
	struct sbuf out = {0};
	if (!v)
		return NULL;
	int oom = 0;
	for (size_t i = 0; i < n && !oom; i++) {
		struct sbuf a = {0}, b = {0};
		sb_encode(&a, query[i].name, 0);
		sb_addn(&a, "", 0);
		sb_encode(&b, query[i].value ? query[i].value : "", 0);
		sb_addn(&b, "", 0);
		v[i].name = a.p;
		v[i].value = b.p;
		oom = a.oom || b.oom || !a.p || !b.p;
	}
	if (!oom) {
		qsort(v, n, sizeof(*v), cmp_pair);
		sb_addn(&out, "", 0);
		for (size_t i = 0; i < n; i++) {
			if (i)
				sb_addc(&out, '&');
			sb_add(&out, v[i].name);
			sb_addc(&out, '=');
			sb_add(&out, v[i].value);
		}
	}
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].value);
	}
	free(v);
	if (oom || out.oom) {
		free(out.p);
		return NULL;
	}
	return out.p;
}

struct canon_header {
	char *name;  /* lower case */
	char *value; /* trimmed, sequential spaces collapsed */
	size_t order;
};

static int cmp_header(const void *a, const void *b)
{
	const struct canon_header *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

static char *lower_dup(const char *s)
{
	char *d = strdup(s);
	if (d)
		for (char *p = d; *p; p++)
			*p = (char)tolower((unsigned char)*p);
	return d;
}

static char *trim_dup(const char *s)
{
	if (!s)
		s = "";
	char *d = malloc(strlen(s) + 1);
	if (!d)
		return NULL;
	size_t o = 0;
	while (*s == ' ' || *s == '\t')
		s++;
	for (; *s; s++) {
		char c = *s == '\t' ? ' ' : *s;
		if (c == ' ' && o && d[o - 1] == ' ')
			continue;
		d[o++] = c;
	}
	while (o && d[o - 1] == ' ')
		o--;
	d[o] = 0;
	return d;
}

int sigv4_sign(const struct sigv4_request *req, const struct sigv4_key *key, const char *amz_date,
	       char *auth, size_t authsz, struct sigv4_debug *dbg)
{
	if (!req->method || !req->path || req->path[0] != '/' || !req->payload_hash || !amz_date ||
	    strlen(amz_date) != 16 || !key->access_key || !key->secret_key || !key->region ||
	    !key->service)
		return -EINVAL;

	int rc = -ENOMEM;
	struct sbuf creq = {0}, signed_headers = {0}, sts = {0}, secret = {0};
	struct canon_header *h = calloc(req->nheaders ? req->nheaders : 1, sizeof(*h));
	char *query = NULL;
	if (!h)
		goto out;
	for (size_t i = 0; i < req->nheaders; i++) {
		h[i].name = lower_dup(req->headers[i].name);
		h[i].value = trim_dup(req->headers[i].value);
		h[i].order = i;
		if (!h[i].name || !h[i].value)
			goto out;
	}
	qsort(h, req->nheaders, sizeof(*h), cmp_header);
	query = sigv4_canonical_query(req->query, req->nquery);
	if (!query)
		goto out;

	sb_add(&creq, req->method);
	sb_addc(&creq, '\n');
	sb_encode(&creq, req->path, 1);
	sb_addc(&creq, '\n');
	sb_add(&creq, query);
	sb_addc(&creq, '\n');
	for (size_t i = 0; i < req->nheaders; i++) {
		int dup = i && !strcmp(h[i].name, h[i - 1].name);
		if (dup) {
			/* Same name again: values joined with ',' in the order given. */
			creq.len--; /* drop the '\n' */
			sb_addc(&creq, ',');
		} else {
			if (signed_headers.len)
				sb_addc(&signed_headers, ';');
			sb_add(&signed_headers, h[i].name);
			sb_add(&creq, h[i].name);
			sb_addc(&creq, ':');
		}
		sb_add(&creq, h[i].value);
		sb_addc(&creq, '\n');
	}
	sb_addc(&creq, '\n');
	sb_add(&creq, signed_headers.p ? signed_headers.p : "");
	sb_addc(&creq, '\n');
	sb_add(&creq, req->payload_hash);
	if (creq.oom || signed_headers.oom)
		goto out;

	char date[9];
	memcpy(date, amz_date, 8);
	date[8] = 0;
	char creq_hash[65];
	sigv4_sha256_hex(creq.p, creq.len, creq_hash);
	sb_add(&sts, "AWS4-HMAC-SHA256\n");
	sb_add(&sts, amz_date);
	sb_addc(&sts, '\n');
	sb_add(&sts, date);
	sb_addc(&sts, '/');
	sb_add(&sts, key->region);
	sb_addc(&sts, '/');
	sb_add(&sts, key->service);
	sb_add(&sts, "/aws4_request\n");
	sb_add(&sts, creq_hash);
	sb_add(&secret, "AWS4");
	sb_add(&secret, key->secret_key);
	if (sts.oom || secret.oom)
		goto out;

	unsigned char k[32];
	hmac(secret.p, secret.len, date, 8, k);
	hmac(k, 32, key->region, strlen(key->region), k);
	hmac(k, 32, key->service, strlen(key->service), k);
	hmac(k, 32, "aws4_request", 12, k);
	unsigned char sig[32];
	char sighex[65];
	hmac(k, 32, sts.p, sts.len, sig);
	to_hex(sig, 32, sighex);
	OPENSSL_cleanse(k, sizeof(k));
	OPENSSL_cleanse(secret.p, secret.len);

	int n = snprintf(auth, authsz,
			 "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, "
			 "SignedHeaders=%s, Signature=%s",
			 key->access_key, date, key->region, key->service,
			 signed_headers.p ? signed_headers.p : "", sighex);
	if (n < 0 || (size_t)n >= authsz) {
		rc = -ENOSPC;
		goto out;
	}
	if (dbg) {
		dbg->canonical_request = creq.p;
		dbg->string_to_sign = sts.p;
		creq.p = NULL;
		sts.p = NULL;
	}
	rc = 0;
out:
	if (h)
		for (size_t i = 0; i < req->nheaders; i++) {
			free(h[i].name);
			free(h[i].value);
		}
	free(h);
	free(query);
	free(creq.p);
	free(signed_headers.p);
	free(sts.p);
	free(secret.p);
	return rc;
}
