/*
 * ctl_keys.c - the control requests of library-managed encryption
 * (docs/design.md, "Encryption of cartridges at rest"; docs/operations.md,
 * "Rotating the master key"):
 *
 *   key.status          the configured master key ids and how many tapes'
 *                       data keys each master key wraps
 *   key.rotate          start a rotation (vtl/keys_rotate.c) in a thread of
 *                       its own, or join the one running
 *   key.rotate.status   poll it: done, rewrapped of total, the last tape
 *
 * The rotation works on its own catalog connection; each tape's new wrap is
 * published by the uploader (upl_key_publish: the store's KEY object, then
 * the cartridge's KEY file) before its catalog row names the new master
 * key, so a crash or a shutdown at any point leaves a rotation that the
 * next `vtlctl key rotate` finishes. Master ids name keys and reveal
 * nothing; no key's bytes reach an answer or the log.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog_key.h"
#include "ctl_int.h"
#include "datadir.h"
#include "keys.h"
#include "uploader.h"

struct key_job {
	pthread_mutex_t mu;
	pthread_t thread;
	bool joinable, running, cancel;
	json_int_t id;
	size_t total, rewrapped;
	char tape[CAT_BARCODE_MAX + 1]; /* the last one rewrapped */
	int rc;
	char err[LIB_ERR_MAX];
	struct ctl_server *s;
};

static json_t *key_ids(struct lib *lib, json_t *o)
{
	const struct key_master *cur = lib_master_key(lib, false);
	const struct key_master *prev = lib_master_key(lib, true);
	json_object_set_new(o, "mode", json_string(cur ? "library" : "none"));
	json_object_set_new(o, "master", cur ? json_string(cur->id) : json_null());
	json_object_set_new(o, "previous", prev ? json_string(prev->id) : json_null());
	return o;
}

static json_t *do_key_status(struct lib *lib)
{
	struct cat_key_row *rows;
	size_t n;
	struct cat *c = NULL;
	char path[4096];
	/* Its own connection: the library's is the changer's, under its lock. */
	int rc = datadir_catalog(lib_data_dir(lib), path, sizeof(path));
	if (!rc)
		rc = cat_open(path, &c);
	if (!rc)
		rc = cat_key_list(c, NULL, &rows, &n);
	if (c)
		cat_close(c);
	if (rc)
		return ctl_fail(rc, "cannot read the tapes' keys from the catalog");
	const struct key_master *cur = lib_master_key(lib, false);
	const struct key_master *prev = lib_master_key(lib, true);
	json_t *masters = json_array();
	size_t other = 0;
	for (size_t i = 0; i < n; i++) {
		json_t *m = NULL;
		size_t k;
		json_t *e;
		json_array_foreach(masters, k, e)
		{
			if (strcmp(json_string_value(json_object_get(e, "id")),
				   rows[i].master_id) == 0)
				m = e;
		}
		if (!m) {
			bool is_cur = cur && strcmp(cur->id, rows[i].master_id) == 0;
			bool is_prev = prev && strcmp(prev->id, rows[i].master_id) == 0;
			m = json_pack("{s:s, s:I, s:s}", "id", rows[i].master_id, "tapes",
				      (json_int_t)0, "role",
				      is_cur	? "current"
				      : is_prev ? "previous"
						: "not configured");
			json_array_append_new(masters, m);
		}
		json_object_set_new(
		    m, "tapes", json_integer(json_integer_value(json_object_get(m, "tapes")) + 1));
		if (!cur || strcmp(cur->id, rows[i].master_id))
			other++;
	}
	free(rows);
	json_t *r = json_pack("{s:b, s:I, s:I, s:o}", "ok", 1, "tapes", (json_int_t)n, "to_rotate",
			      (json_int_t)(cur ? other : 0), "masters", masters);
	return key_ids(lib, r);
}

static int publish_cb(void *arg, const char *barcode, const char *wrapped, char *err, size_t errlen)
{
	struct key_job *j = arg;
	return upl_key_publish(j->s->upl, barcode, wrapped, err, errlen);
}

static int progress_cb(void *arg, size_t done, size_t total, const char *barcode)
{
	struct key_job *j = arg;
	pthread_mutex_lock(&j->mu);
	j->rewrapped = done;
	j->total = total;
	snprintf(j->tape, sizeof(j->tape), "%s", barcode);
	bool stop = j->cancel;
	pthread_mutex_unlock(&j->mu);
	return stop;
}

static void *rotate_main(void *arg)
{
	struct key_job *j = arg;
	struct ctl_server *s = j->s;
	char err[LIB_ERR_MAX + 4200] = "", path[4096];
	struct key_rotation out = {0};
	struct cat *c = NULL;
	int rc = datadir_catalog(lib_data_dir(s->lib), path, sizeof(path));
	if (!rc && (rc = cat_open(path, &c)) != 0)
		snprintf(err, sizeof(err), "cannot open the catalog %s: %s", path, strerror(-rc));
	if (!rc) {
		/* The count before the first tape, for the first poll. */
		struct cat_key_row *rows;
		size_t n;
		if (cat_key_list(c, lib_master_key(s->lib, false)->id, &rows, &n) == 0) {
			pthread_mutex_lock(&j->mu);
			j->total = n;
			pthread_mutex_unlock(&j->mu);
			free(rows);
		}
		rc = key_rotate(c, lib_master_key(s->lib, false), lib_master_key(s->lib, true),
				publish_cb, j, progress_cb, j, &out, err, sizeof(err));
	}
	if (c)
		cat_close(c);
	if (s->log) {
		char msg[LIB_ERR_MAX + 160];
		snprintf(msg, sizeof(msg),
			 "control: key rotation to master key %s: %zu of %zu tapes rewrapped%s%s",
			 lib_master_key(s->lib, false)->id, out.rewrapped, out.total,
			 rc ? "; " : "", rc ? err : "");
		s->log(rc ? 1 : 2, msg);
	}
	pthread_mutex_lock(&j->mu);
	j->rc = rc;
	j->rewrapped = out.rewrapped;
	if (out.total)
		j->total = out.total;
	snprintf(j->err, sizeof(j->err), "%s", err[0] || !rc ? err : strerror(-rc));
	j->running = false;
	pthread_mutex_unlock(&j->mu);
	return NULL;
}

/* The job as an answer; under j->mu. */
static json_t *rotation_status(struct lib *lib, struct key_job *j)
{
	json_t *o =
	    json_pack("{s:I, s:b, s:I, s:I, s:s}", "id", j->id, "done", !j->running, "total",
		      (json_int_t)j->total, "rewrapped", (json_int_t)j->rewrapped, "tape", j->tape);
	if (!j->running && j->rc)
		json_object_set_new(o, "error", ctl_text(j->err));
	json_t *r = json_pack("{s:b}", "ok", 1);
	json_object_set_new(r, "rotation", o);
	return key_ids(lib, r);
}

static json_t *do_key_rotate(struct ctl_server *s, struct lib *lib)
{
	if (!s)
		return ctl_fail(-EINVAL, "key.rotate runs only through vtld's control socket");
	if (!lib_master_key(lib, false))
		return ctl_fail(
		    -ENOKEY, "no master key is configured, so there is nothing to rotate to; set "
			     "[encryption] mode = library with the new key as master_key_file "
			     "(or key_command) and the old one as previous_key_file, restart "
			     "vtld and run vtlctl key rotate");
	if (!s->upl)
		return ctl_fail(-ENODEV, "vtld runs without its uploader; a rotation publishes "
					 "each tape's new wrap to the object store through it");
	if (!s->keys) {
		s->keys = calloc(1, sizeof(*s->keys));
		if (!s->keys)
			return ctl_fail(-ENOMEM, "out of memory");
		pthread_mutex_init(&s->keys->mu, NULL);
		s->keys->s = s;
	}
	struct key_job *j = s->keys;
	pthread_mutex_lock(&j->mu);
	if (!j->running) {
		if (j->joinable)
			pthread_join(j->thread, NULL);
		j->joinable = false;
		j->total = j->rewrapped = 0;
		j->tape[0] = 0;
		j->rc = 0;
		j->err[0] = 0;
		j->cancel = false;
		j->running = true;
		j->id++;
		int rc = -pthread_create(&j->thread, NULL, rotate_main, j);
		if (rc) {
			j->running = false;
			pthread_mutex_unlock(&j->mu);
			return ctl_fail(rc, "cannot start a thread for the key rotation");
		}
		j->joinable = true;
		if (s->log)
			s->log(2, "control: key rotation started");
	}
	json_t *r = rotation_status(lib, j);
	pthread_mutex_unlock(&j->mu);
	return r;
}

json_t *ctl_keys_request(struct ctl_server *s, struct lib *lib, const char *op, json_t *req)
{
	(void)req;
	if (strcmp(op, "key.status") == 0)
		return do_key_status(lib);
	if (strcmp(op, "key.rotate") == 0)
		return do_key_rotate(s, lib);
	/* key.rotate.status */
	if (!s || !s->keys)
		return ctl_fail(-ENOENT, "no key rotation has run since vtld started; start one "
					 "with vtlctl key rotate");
	pthread_mutex_lock(&s->keys->mu);
	json_t *r = rotation_status(lib, s->keys);
	pthread_mutex_unlock(&s->keys->mu);
	return r;
}

void ctl_keys_stop(struct ctl_server *s)
{
	struct key_job *j = s->keys;
	if (!j)
		return;
	/* A rotation stops after the tape in hand; the next one goes on. */
	pthread_mutex_lock(&j->mu);
	j->cancel = true;
	pthread_mutex_unlock(&j->mu);
	if (j->joinable)
		pthread_join(j->thread, NULL);
	pthread_mutex_destroy(&j->mu);
	free(j);
	s->keys = NULL;
}
