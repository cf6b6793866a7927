/*
 * A fault-injecting TCP proxy for the object-store tests: it relays
 * 127.0.0.1:port to a real S3 server (radosgw) and, on request, answers
 * 503 SlowDown, drops a connection, stalls, flips a byte in a request or
 * response body, or answers a listing with a page that never ends. HTTP/1.1
 * messages are framed by Content-Length; a chunked message is relayed
 * untouched.
 */
#ifndef VTL_TESTS_FAULTPROXY_H
#define VTL_TESTS_FAULTPROXY_H

#include <stddef.h>

struct faultproxy;

struct faultproxy *faultproxy_start(const char *target_host, int target_port);
int faultproxy_port(const struct faultproxy *p);
void faultproxy_stop(struct faultproxy *p);

/* Each applies to the next `count` requests (counted as they arrive). */
void faultproxy_slowdown(struct faultproxy *p, int count);	   /* 503 SlowDown, then close */
void faultproxy_drop(struct faultproxy *p, int count);		   /* close without answer */
void faultproxy_delay(struct faultproxy *p, int count, int ms);	   /* stall before relaying */
void faultproxy_corrupt_request(struct faultproxy *p, int count);  /* flip a body byte */
void faultproxy_corrupt_response(struct faultproxy *p, int count); /* flip a body byte */
/* The next `count` listings (ListObjectsV2, ListParts, ListMultipartUploads)
 * answered here with a truncated, empty page whose next marker never moves
 * on, as some S3 services have answered. */
void faultproxy_stuck_listing(struct faultproxy *p, int count);

/* AWS's archive restore flow (it exists on no local server) for the objects
 * whose URL path starts with path_prefix ("/BUCKET/KEYPREFIX", path-style),
 * NULL to end it: a GET answers 403 InvalidObjectState until a RestoreObject
 * (POST ?restore, answered here: 202, then 409 RestoreAlreadyInProgress
 * while it runs, 200 after) is restore_ms old; a HeadObject is relayed with
 * x-amz-restore: ongoing-request="true", then "false" with an expiry-date. */
void faultproxy_archive(struct faultproxy *p, const char *path_prefix, int restore_ms);
int faultproxy_restores(const struct faultproxy *p);	    /* RestoreObject requests */
int faultproxy_archive_refused(const struct faultproxy *p); /* GETs refused */
/* The body of the last RestoreObject request (the proxy reads it before it
 * answers): <Days>, <Tier>. */
void faultproxy_restore_body(struct faultproxy *p, char *buf, size_t cap);

/* Requests seen, and faults actually injected, since the start. */
int faultproxy_requests(const struct faultproxy *p);
int faultproxy_injected(const struct faultproxy *p);

#endif
