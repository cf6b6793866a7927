/*
 * ctl_int.h - what the control server (ctl.c) and the request handlers
 * (ctl_requests.c, ctl_keys.c) share. Nothing else includes it.
 */
#ifndef VTL_CTL_INT_H
#define VTL_CTL_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/un.h>

#include <jansson.h>

#include "ctl.h"
#include "library.h"

/* The last catalog rebuild; everything under mu. */
struct rebuild_job {
	pthread_mutex_t mu;
	pthread_t thread;
	bool joinable; /* thread started and not joined */
	bool running, cancel;
	json_int_t id; /* 0: none yet */
	json_t *tapes; /* one object per tape, as reported */
	size_t n[4];   /* per upl_rebuild_result */
	char activity[256];
	int rc;
	char err[LIB_ERR_MAX];
	char warning[2048]; /* upl_rebuild.warning, once done */
	char unlisted[512]; /* upl_rebuild.unlisted, once done */
	json_t *missing;    /* barcodes upl_rebuild.missing named */
};

struct ctl_server {
	struct lib *lib;
	struct upl *upl; /* NULL: no object store */
	ctl_log_fn log;
	int fd;
	int stop_pipe[2];
	pthread_t thread;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct rebuild_job rb;
	struct key_job *keys; /* the last key rotation (ctl_keys.c), or NULL */
	int64_t busy_ms;      /* spent handling requests (the server thread's) */
};

/* The answer when the real one cannot be built or encoded (out of memory):
 * fixed and valid, so that even then a request is answered. */
#define CTL_ANSWER_FAILED                                                                          \
	"{\"ok\":false,\"error\":\"vtld could not build its answer (out of memory?); see its "     \
	"log\",\"errno\":\"ENOMEM\"}"

/* {"ok": false, "error": msg, "errno": name of -rc} */
json_t *ctl_fail(int rc, const char *msg);

/* A string of an answer that may hold text from outside (a store's error,
 * a path from the configuration), escaped (util/escape.h): json_string
 * alone refuses invalid UTF-8 (NULL: the key silently missing from the
 * answer) and passes controls on to vtlctl's terminal. */
json_t *ctl_text(const char *s);

/* The answer to one request line, malloc'd (no newline), or NULL only when
 * even a copy of CTL_ANSWER_FAILED could not be made. s: the server, NULL
 * when called without one (no catalog rebuild then). */
char *ctl_answer(struct ctl_server *s, struct lib *lib, struct upl *u, const char *line,
		 ctl_log_fn log);

/* ctl_keys.c: key.status, key.rotate, key.rotate.status. */
struct key_job;
json_t *ctl_keys_request(struct ctl_server *s, struct lib *lib, const char *op, json_t *req);
void ctl_keys_stop(struct ctl_server *s); /* joins a rotation running */

#endif
