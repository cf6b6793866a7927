/*
 * ctl_requests.c - the control protocol's requests (see ctl.h): each
 * one call into the library model or the uploader, its answer a JSON
 * object. The server that reads them off the socket is ctl.c.
 *
 * Requests are JSON objects {"op": "...", ...}; responses are
 * {"ok": true, ...} or {"ok": false, "error": "sentence", "errno": "EBUSY"}.
 * Field names in responses are part of the interface (vtlctl --json prints
 * them): barcode, state, location, type, capacity_bytes, used_bytes, ...
 *
 * One thread serves every client side by side with poll(), so that no
 * client, silent, half-way through a line or not reading its answers,
 * makes another wait ("The server" below). Requests themselves are
 * handled one at a time: each is short, one call into the library model.
 * The one long job, rebuilding the catalog from the object store, runs in
 * a thread of its own and the client polls it ("Catalog rebuild" below).
 */
#include "config.h"

#include "ctl_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "library.h"
#include "rebuild.h"
#include "uploader.h"
#include "util/escape.h"
#include "util/metrics.h"

/* ---- JSON helpers ------------------------------------------------------- */

static void iso_time(int64_t ms, char *buf, size_t cap)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&s, &tm);
	strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/*
 * Strings in answers that may come from outside (request strings quoted in
 * an error, store error text, keys and activity) go through the escaper
 * (util/escape.h): valid UTF-8 without controls, which jansson never
 * refuses and no terminal obeys.
 */
json_t *ctl_text(const char *s)
{
	char safe[4096]; /* the longest: an upload's wait, with the error and its fix */
	return json_string(esc_show(safe, sizeof(safe), s ? s : ""));
}

static json_t *text(const char *s)
{
	return ctl_text(s);
}

/* A request string quoted in an error: escaped, and short enough that the
 * sentence around it always fits. */
static const char *quote(char buf[64], const char *s)
{
	return esc_show(buf, 64, s);
}

/* The keys of a tape object, in the order an answer has them; a request
 * may ask for some of them only ("fields" of tape.list and tape.create): a mask of
 * 1 << TK_*. */
enum tk {
	TK_BARCODE,
	TK_STATE,
	TK_LOCATION,
	TK_TYPE,
	TK_CAPACITY,
	TK_USED,
	TK_WRITE_PROTECTED,
	TK_POOL,
	TK_CREATED,
	TK_CHANGED,
	TK_WORM,
	TK_CLEANING,
	TK_CLEANING_USES,
	TK_CLEANING_MAX_USES,
	TK_CLEANING_EXPIRED,
	TK_ELEMENT_ADDRESS,
	TK_RETENTION_LOCK,
	TK_RETAIN_UNTIL,
	TK_MEDIUM_MADE,
	TK_UPLOADED,
	TK_PENDING,
	TK_PENDING_UPLOADS,
	TK_MANIFEST_GENERATION,
	TK_UPLOAD_WAIT,
	TK_UPLOAD_HELD_BY,
	TK_SHELF_ACTIVITY,
	TK_N
};

static const char *const tape_key_name[TK_N] = {
    "barcode",
    "state",
    "location",
    "type",
    "capacity_bytes",
    "used_bytes",
    "write_protected",
    "pool",
    "created",
    "changed",
    "worm",
    "cleaning",
    "cleaning_uses",
    "cleaning_max_uses",
    "cleaning_expired",
    "element_address",
    "retention_lock",
    "retain_until",
    "medium_made",
    "uploaded_bytes",
    "pending_bytes",
    "pending_uploads",
    "manifest_generation",
    "upload_wait",
    "upload_held_by",
    "shelf_activity",
};

#define TK_ALL ((1u << TK_N) - 1)
#define TK(k)  (1u << (k))
#define TK_UPLOAD_ANY                                                                              \
	(TK(TK_UPLOADED) | TK(TK_PENDING) | TK(TK_PENDING_UPLOADS) | TK(TK_MANIFEST_GENERATION) |  \
	 TK(TK_UPLOAD_WAIT) | TK(TK_UPLOAD_HELD_BY))

/* Key k of o set to v when mask asks for it (v dropped otherwise); a
 * value that could not be made fails the whole object (*ok false), as
 * json_pack does. */
static void put(json_t *o, uint32_t mask, enum tk k, json_t *v, bool *ok)
{
	if (!(mask & TK(k))) {
		json_decref(v);
		return;
	}
	if (!v || json_object_set_new(o, tape_key_name[k], v))
		*ok = false;
}

static json_t *tape_json_plain(const struct cat_tape *t, uint32_t mask);

/* The tape object plus, with an object store, what of it is safe there
 * and, when some is not, what that waits for (upl_tape_totals; from snap,
 * the uploader's rows of every tape read at once, when not NULL); the
 * keys of mask only, the figures of the store not counted when none of
 * theirs is asked for. */
static json_t *tape_json_keys(struct upl *u, const struct upl_snapshot *snap,
			      const struct cat_tape *t, uint32_t mask)
{
	json_t *o = tape_json_plain(t, mask);
	struct upl_totals tot;
	bool ok = true;
	if (o && u && (mask & TK_UPLOAD_ANY) &&
	    (snap ? upl_tape_totals_in(u, snap, t, &tot) : upl_tape_totals(u, t, &tot)) == 0) {
		put(o, mask, TK_UPLOADED, json_integer((json_int_t)tot.uploaded), &ok);
		put(o, mask, TK_PENDING, json_integer((json_int_t)tot.pending), &ok);
		put(o, mask, TK_PENDING_UPLOADS, json_integer(tot.uploads), &ok);
		put(o, mask, TK_MANIFEST_GENERATION, json_integer((json_int_t)tot.manifest_gen),
		    &ok);
		if (tot.wait[0])
			put(o, mask, TK_UPLOAD_WAIT, text(tot.wait), &ok);
		if (tot.held_by[0])
			put(o, mask, TK_UPLOAD_HELD_BY, text(tot.held_by), &ok);
	}
	char act[256];
	if (o && u && (mask & TK(TK_SHELF_ACTIVITY)) &&
	    upl_tape_activity(u, t->barcode, act, sizeof(act)) == 0)
		put(o, mask, TK_SHELF_ACTIVITY, text(act), &ok);
	if (o && !ok) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

static json_t *tape_json_in(struct upl *u, const struct upl_snapshot *snap,
			    const struct cat_tape *t)
{
	return tape_json_keys(u, snap, t, TK_ALL);
}

#define tape_json(t) tape_json_in(u, NULL, t)

static json_t *tape_json_plain(const struct cat_tape *t, uint32_t mask)
{
	json_t *o = json_object();
	bool ok = o != NULL;
	if (!o)
		return NULL;
	char when[32];
	put(o, mask, TK_BARCODE, json_string(t->barcode), &ok);
	put(o, mask, TK_STATE, json_string(cat_state_name(t->state)), &ok);
	put(o, mask, TK_LOCATION, json_string(t->location), &ok);
	put(o, mask, TK_TYPE, json_string(t->media), &ok);
	put(o, mask, TK_CAPACITY, json_integer((json_int_t)t->capacity), &ok);
	put(o, mask, TK_USED, json_integer((json_int_t)t->used), &ok);
	put(o, mask, TK_WRITE_PROTECTED, json_boolean(t->write_protect), &ok);
	put(o, mask, TK_POOL, json_string(t->pool), &ok);
	if (mask & TK(TK_CREATED)) {
		iso_time(t->created, when, sizeof(when));
		put(o, mask, TK_CREATED, json_string(when), &ok);
	}
	if (mask & TK(TK_CHANGED)) {
		iso_time(t->changed, when, sizeof(when));
		put(o, mask, TK_CHANGED, json_string(when), &ok);
	}
	put(o, mask, TK_WORM, json_boolean(t->worm), &ok);
	if (t->clean_max) {
		put(o, mask, TK_CLEANING, json_true(), &ok);
		put(o, mask, TK_CLEANING_USES, json_integer(t->clean_uses), &ok);
		put(o, mask, TK_CLEANING_MAX_USES, json_integer(t->clean_max), &ok);
		put(o, mask, TK_CLEANING_EXPIRED, json_boolean(t->clean_uses >= t->clean_max), &ok);
	}
	if (t->in_library)
		put(o, mask, TK_ELEMENT_ADDRESS, json_integer(t->element), &ok);
	if (t->lock != CAT_LOCK_NONE) {
		put(o, mask, TK_RETENTION_LOCK, json_string(cat_lock_name(t->lock)), &ok);
		if (mask & TK(TK_RETAIN_UNTIL)) {
			iso_time(t->retain_until, when, sizeof(when));
			put(o, mask, TK_RETAIN_UNTIL, json_string(when), &ok);
		}
	}
	/* false: a blank tape never loaded, whose medium is made at its
	 * first load (docs/library.md). */
	put(o, mask, TK_MEDIUM_MADE, json_boolean(!t->unmade), &ok);
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* tape.list's and tape.create's "fields": the keys of each tape object
 * they answer with, all of them when absent. 0 and *mask, or -EINVAL and msg. */
static int parse_fields(json_t *req, uint32_t *mask, char *msg, size_t cap)
{
	json_t *f = json_object_get(req, "fields");
	*mask = TK_ALL;
	if (!f)
		return 0;
	if (!json_is_array(f)) {
		snprintf(msg, cap,
			 "fields must be an array of the keys of a tape (as tape.show "
			 "answers)");
		return -EINVAL;
	}
	*mask = 0;
	size_t i;
	json_t *v;
	json_array_foreach(f, i, v)
	{
		const char *k = json_string_value(v);
		size_t j = 0;
		while (k && j < TK_N && strcmp(k, tape_key_name[j]) != 0)
			j++;
		if (!k || j == TK_N) {
			char q[64];
			snprintf(msg, cap,
				 "unknown field '%s'; the fields are the keys of a tape "
				 "(as tape.show answers), such as barcode, state, location",
				 quote(q, k ? k : "(not a string)"));
			return -EINVAL;
		}
		*mask |= TK(j);
	}
	return 0;
}

static const char *errno_name(int e)
{
	switch (e) {
	case EINVAL:
		return "EINVAL";
	case ENOENT:
		return "ENOENT";
	case EEXIST:
		return "EEXIST";
	case EBUSY:
		return "EBUSY";
	case ENOSPC:
		return "ENOSPC";
	case ENOTEMPTY:
		return "ENOTEMPTY";
	case EALREADY:
		return "EALREADY";
	case ESTALE:
		return "ESTALE";
	case ENOMEM:
		return "ENOMEM";
	case ENODEV:
		return "ENODEV";
	case ECANCELED:
		return "ECANCELED";
	case EMSGSIZE:
		return "EMSGSIZE";
	case EPERM:
		return "EPERM";
	default:
		return "EIO";
	}
}

static json_t *fail(int rc, const char *msg)
{
	return json_pack("{s:b, s:o, s:s}", "ok", 0, "error", text(msg), "errno", errno_name(-rc));
}

json_t *ctl_fail(int rc, const char *msg)
{
	return fail(rc, msg);
}

static json_t *ok(void)
{
	return json_pack("{s:b}", "ok", 1);
}

static const char *str_arg(json_t *req, const char *key)
{
	json_t *v = json_object_get(req, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* ---- Requests ----------------------------------------------------------- */

static json_t *autocreate_json(const struct cat_autocreate *a)
{
	return json_pack("{s:s, s:s, s:s, s:I, s:i}", "prefix", a->prefix, "pool", a->pool, "type",
			 a->media, "size", (json_int_t)a->size, "minimum", (int)a->minimum);
}

static json_t *do_autocreate(struct lib *lib, const char *op, json_t *req)
{
	char err[LIB_ERR_MAX] = "";
	const char *prefix = str_arg(req, "prefix");
	if (strcmp(op, "autocreate.list") == 0) {
		struct cat_autocreate *v;
		size_t n;
		int rc = lib_autocreates(lib, &v, &n);
		if (rc)
			return fail(rc, "cannot list the autocreate policies in the catalog");
		json_t *arr = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, autocreate_json(&v[i]));
		free(v);
		json_t *r = ok();
		json_object_set_new(r, "policies", arr);
		return r;
	}
	if (!prefix || strlen(prefix) > 12)
		return fail(-EINVAL,
			    "autocreate needs a barcode prefix of 1 to 12 characters A-Z 0-9");
	int rc;
	if (strcmp(op, "autocreate.remove") == 0) {
		rc = lib_autocreate_remove(lib, prefix, err, sizeof(err));
		return rc ? fail(rc, err) : ok();
	}
	struct cat_autocreate a;
	memset(&a, 0, sizeof(a));
	const char *pool = str_arg(req, "pool"), *type = str_arg(req, "type");
	json_t *min = json_object_get(req, "minimum"), *size = json_object_get(req, "size");
	if (!json_is_integer(min) || json_integer_value(min) < 1 ||
	    json_integer_value(min) > CAT_AUTOCREATE_MAX)
		return fail(-EINVAL, "autocreate.set needs a minimum from 1 to 1000");
	if (size && (!json_is_integer(size) || json_integer_value(size) < 0))
		return fail(-EINVAL, "size must be a positive integer");
	if ((pool && strlen(pool) >= sizeof(a.pool)) || (type && strlen(type) >= sizeof(a.media)))
		return fail(-EINVAL, "pool or type too long");
	snprintf(a.prefix, sizeof(a.prefix), "%s", prefix);
	snprintf(a.pool, sizeof(a.pool), "%s", pool ? pool : "");
	snprintf(a.media, sizeof(a.media), "%s", type ? type : "");
	a.minimum = (uint32_t)json_integer_value(min);
	a.size = size ? (uint64_t)json_integer_value(size) : 0;
	rc = lib_autocreate_set(lib, &a, err, sizeof(err));
	if (rc)
		return fail(rc, err);
	return ok();
}

static json_t *pool_json(const struct cat_pool *p)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:b, s:i}", "name", p->name, "storage_class",
			      p->storage_class[0] ? p->storage_class : "", "retention_lock",
			      cat_lock_name(p->lock), "retention_days", (int)p->retention_days,
			      "builtin", p->builtin, "tapes", (int)p->tapes);
	if (o && p->created) {
		char created[32];
		iso_time(p->created, created, sizeof(created));
		json_object_set_new(o, "created", json_string(created));
	}
	return o;
}

static json_t *do_pool(struct lib *lib, const char *op, json_t *req)
{
	char err[LIB_ERR_MAX] = "";
	const char *name = str_arg(req, "name");
	if (strcmp(op, "pool.list") == 0) {
		struct cat_pool *v;
		size_t n;
		int rc = lib_pools(lib, &v, &n);
		if (rc)
			return fail(rc, "cannot list the pools in the catalog");
		json_t *arr = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, pool_json(&v[i]));
		free(v);
		json_t *r = ok();
		json_object_set_new(r, "pools", arr);
		return r;
	}
	if (!name) {
		char msg[128], q[64];
		snprintf(msg, sizeof(msg), "%s needs a pool name", quote(q, op));
		return fail(-EINVAL, msg);
	}
	struct cat_pool p;
	memset(&p, 0, sizeof(p));
	int rc;
	if (strcmp(op, "pool.create") == 0) {
		const char *cls = str_arg(req, "storage_class");
		const char *lock = str_arg(req, "retention_lock");
		json_t *days = json_object_get(req, "retention_days");
		if (!name[0] || strlen(name) >= sizeof(p.name)) {
			char msg[160];
			snprintf(msg, sizeof(msg),
				 "a pool name has 1 to %d characters A-Z a-z 0-9 _ - .",
				 CAT_POOL_MAX);
			return fail(-EINVAL, msg);
		}
		snprintf(p.name, sizeof(p.name), "%s", name);
		if (cls && strlen(cls) >= sizeof(p.storage_class))
			return fail(-EINVAL, "storage_class is too long");
		snprintf(p.storage_class, sizeof(p.storage_class), "%s", cls ? cls : "");
		if (lock && cat_lock_parse(lock, &p.lock)) {
			char msg[160], q[64];
			snprintf(msg, sizeof(msg),
				 "unknown retention_lock '%s'; use none, governance or compliance",
				 quote(q, lock));
			return fail(-EINVAL, msg);
		}
		if (days && (!json_is_integer(days) || json_integer_value(days) < 0 ||
			     json_integer_value(days) > CAT_RETENTION_MAX_DAYS))
			return fail(-EINVAL, "retention_days must be an integer from 1 to 36500");
		p.retention_days = days ? (uint32_t)json_integer_value(days) : 0;
		rc = lib_pool_create(lib, &p, err, sizeof(err));
		if (!rc)
			rc = lib_pool_get(lib, p.name, &p, err, sizeof(err));
	} else if (strcmp(op, "pool.show") == 0) {
		rc = lib_pool_get(lib, name, &p, err, sizeof(err));
	} else {
		rc = lib_pool_delete(lib, name, err, sizeof(err));
		if (!rc)
			return ok();
	}
	if (rc)
		return fail(rc, err);
	json_t *r = ok();
	json_object_set_new(r, "pool", pool_json(&p));
	return r;
}

static json_t *do_tape_list(struct lib *lib, struct upl *u, json_t *req)
{
	int state = -1;
	const char *s = str_arg(req, "state");
	if (s) {
		enum cat_state st;
		if (cat_state_parse(s, &st)) {
			char msg[256], q[64];
			snprintf(msg, sizeof(msg),
				 "unknown state '%s'; states are CREATING, AVAILABLE, "
				 "IN_TRANSIT_TO_SHELF, ARCHIVING, ARCHIVED, RETRIEVING, RETRIEVED, "
				 "DELETED, IRRECOVERABLE",
				 quote(q, s));
			return fail(-EINVAL, msg);
		}
		state = (int)st;
	}
	const char *pool = str_arg(req, "pool");
	struct cat_tape *tapes;
	size_t n;
	uint32_t mask;
	char msg[256];
	if (parse_fields(req, &mask, msg, sizeof(msg)))
		return fail(-EINVAL, msg);
	if (pool) {
		struct cat_pool p;
		char err[LIB_ERR_MAX];
		int rc = lib_pool_get(lib, pool, &p, err, sizeof(err));
		if (rc)
			return fail(rc, err);
	}
	int rc = lib_tape_list(lib, state, &tapes, &n);
	if (rc)
		return fail(rc, "cannot list the tapes in the catalog");
	json_t *arr = json_array();
	struct upl_snapshot *snap = u && n > 1 && (mask & TK_UPLOAD_ANY) ? upl_snapshot(u) : NULL;
	for (size_t i = 0; i < n; i++)
		if (!pool || strcmp(tapes[i].pool, pool) == 0)
			json_array_append_new(arr, tape_json_keys(u, snap, &tapes[i], mask));
	upl_snapshot_free(snap);
	free(tapes);
	json_t *r = ok();
	json_object_set_new(r, "tapes", arr);
	return r;
}

static json_t *do_tape_show(struct lib *lib, struct upl *u, json_t *req)
{
	const char *b = str_arg(req, "barcode");
	if (!b)
		return fail(-EINVAL, "tape.show needs a barcode");
	struct cat_tape t;
	int rc = lib_tape_get(lib, b, &t);
	if (rc) {
		char msg[256], q[64];
		snprintf(msg, sizeof(msg),
			 "no tape %s in the catalog (vtlctl tape list shows the tapes)",
			 quote(q, b));
		return fail(rc, msg);
	}
	json_t *r = ok();
	json_object_set_new(r, "tape", tape_json(&t));
	return r;
}

static int cmp_tape_barcode(const void *key, const void *elem)
{
	return strcmp(key, ((const struct cat_tape *)elem)->barcode);
}

static json_t *do_tape_create(struct lib *lib, struct upl *u, json_t *req, char *err, size_t errlen)
{
	json_t *arr = json_object_get(req, "barcodes");
	const char *prefix = str_arg(req, "prefix");
	json_t *count = json_object_get(req, "count");
	if (prefix ? !json_is_integer(count) : (!json_is_array(arr) || json_array_size(arr) == 0))
		return fail(-EINVAL, "tape.create needs barcodes, or a prefix and a count");
	uint32_t mask;
	char msg[256];
	if (parse_fields(req, &mask, msg, sizeof(msg)))
		return fail(-EINVAL, msg);
	size_t n = prefix ? 0 : json_array_size(arr);
	const char **b = calloc(n ? n : 1, sizeof(*b));
	if (!b)
		return fail(-ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		b[i] = json_string_value(json_array_get(arr, i));
		if (!b[i]) {
			free(b);
			return fail(-EINVAL, "barcodes must be strings");
		}
	}
	json_t *size = json_object_get(req, "size");
	json_int_t cnt = prefix ? json_integer_value(count) : 0;
	if (cnt < 0 || (size && (!json_is_integer(size) || json_integer_value(size) <= 0))) {
		free(b);
		return fail(-EINVAL, "count and size must be positive integers");
	}
	json_t *worm = json_object_get(req, "worm");
	if (worm && !json_is_boolean(worm)) {
		free(b);
		return fail(-EINVAL, "worm must be true or false");
	}
	json_t *clean = json_object_get(req, "cleaning_uses");
	if (clean && (!json_is_integer(clean) || json_integer_value(clean) < 1 ||
		      json_integer_value(clean) > LIB_CLEAN_USES_MAX)) {
		free(b);
		return fail(-EINVAL, "cleaning_uses must be an integer from 1 to 65535");
	}
	struct lib_create c = {
	    .clean_max = clean ? (uint32_t)json_integer_value(clean) : 0,
	    .barcodes = b,
	    .n = n,
	    .prefix = prefix,
	    .count = (size_t)cnt,
	    .media = str_arg(req, "type"),
	    .size = size ? (uint64_t)json_integer_value(size) : 0,
	    .pool = str_arg(req, "pool"),
	    .worm = json_is_true(worm),
	};
	char(*made)[17] = NULL;
	size_t n_made = 0;
	int rc = lib_tape_create(lib, &c, &made, &n_made, err, errlen);
	json_t *r;
	if (rc) {
		r = fail(rc, err);
	} else {
		json_t *tapes = json_array();
		struct upl_snapshot *snap =
		    u && n_made > 1 && (mask & TK_UPLOAD_ANY) ? upl_snapshot(u) : NULL;
		/* A batch's tapes from one list of the catalog (in barcode
		 * order, as SQLite's BINARY collation compares), not one
		 * query each. */
		struct cat_tape *all = NULL;
		size_t n_all = 0;
		if (n_made > 1 && lib_tape_list(lib, -1, &all, &n_all))
			n_all = 0;
		for (size_t i = 0; i < n_made; i++) {
			struct cat_tape t;
			const struct cat_tape *f =
			    n_all ? bsearch(made[i], all, n_all, sizeof(*all), cmp_tape_barcode)
				  : NULL;
			if (f)
				json_array_append_new(tapes, tape_json_keys(u, snap, f, mask));
			else if (lib_tape_get(lib, made[i], &t) == 0)
				json_array_append_new(tapes, tape_json_keys(u, snap, &t, mask));
		}
		free(all);
		upl_snapshot_free(snap);
		r = ok();
		json_object_set_new(r, "tapes", tapes);
	}
	free(made);
	free(b);
	return r;
}

static json_t *with_tape(struct lib *lib, struct upl *u, const char *barcode, int rc,
			 const char *err)
{
	if (rc)
		return fail(rc, err);
	json_t *r = ok();
	struct cat_tape t;
	if (lib_tape_get(lib, barcode, &t) == 0)
		json_object_set_new(r, "tape", tape_json(&t));
	return r;
}

static json_t *do_library_show(struct lib *lib)
{
	struct cat_library info;
	lib_info(lib, &info);
	json_t *r = ok();
	json_object_set_new(r, "changer",
			    json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:s}", "personality",
				      lib_personality(lib)->name, "vendor", info.vendor, "product",
				      info.product, "revision", info.revision, "serial",
				      info.serial, "lun", 0, "data_dir", lib_data_dir(lib)));
	struct lib_drive_info *d;
	size_t nd;
	json_t *drives = json_array();
	if (lib_drives_info(lib, &d, &nd) == 0) {
		for (size_t i = 0; i < nd; i++) {
			const char *st = d[i].state == SSC_LOADED     ? "loaded"
					 : d[i].state == SSC_UNLOADED ? "unloaded"
								      : "empty";
			json_t *o = json_pack("{s:i, s:i, s:i, s:s, s:s, s:s}", "drive",
					      (int)d[i].ordinal, "lun", (int)d[i].lun,
					      "element_address", (int)d[i].address, "serial",
					      d[i].serial, "type", info.drive_media, "status", st);
			json_object_set_new(o, "barcode",
					    d[i].barcode[0] ? json_string(d[i].barcode)
							    : json_null());
			json_array_append_new(drives, o);
		}
		free(d);
	}
	json_object_set_new(r, "drives", drives);
	struct cat_inventory_entry *els;
	size_t n;
	json_t *slots = json_array(), *ie = json_array();
	/* Every slot's barcode and state, and nothing else of its tape
	 * (cat_inventory); each object built by hand, its keys our own
	 * literals: json_pack parsed its format string for each of 10,000
	 * slots, which was a third of the answer's time in vtld. The same
	 * keys in the same order as before. */
	if (lib_inventory(lib, &els, &n) == 0) {
		for (size_t i = 0; i < n; i++) {
			if (els[i].kind != CAT_STORAGE && els[i].kind != CAT_IE)
				continue;
			json_t *o = json_object();
			json_object_set_new_nocheck(o, els[i].kind == CAT_IE ? "ie" : "slot",
						    json_integer(els[i].ordinal));
			json_object_set_new_nocheck(o, "element_address",
						    json_integer(els[i].address));
			json_object_set_new_nocheck(
			    o, "barcode", els[i].full ? json_string(els[i].barcode) : json_null());
			if (els[i].full)
				json_object_set_new_nocheck(
				    o, "state", json_string_nocheck(cat_state_name(els[i].state)));
			json_array_append_new(els[i].kind == CAT_IE ? ie : slots, o);
		}
		free(els);
	}
	json_object_set_new(r, "slots", slots);
	json_object_set_new(r, "ie", ie);
	return r;
}

static json_t *do_events(struct lib *lib, json_t *req)
{
	const char *b = str_arg(req, "barcode");
	json_t *lim = json_object_get(req, "limit");
	struct cat_event *ev;
	size_t n;
	int rc =
	    lib_events(lib, b, json_is_integer(lim) ? (size_t)json_integer_value(lim) : 0, &ev, &n);
	if (rc)
		return fail(rc, "cannot read the events from the catalog");
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		char when[32];
		iso_time(ev[i].time, when, sizeof(when));
		json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s}", "id",
				      (json_int_t)ev[i].id, "time", when, "barcode", ev[i].barcode,
				      "from_state", ev[i].from_state, "to_state", ev[i].to_state,
				      "from", ev[i].from_loc, "to", ev[i].to_loc);
		json_object_set_new(o, "cause", text(ev[i].cause));
		json_array_append_new(arr, o);
	}
	free(ev);
	json_t *r = ok();
	json_object_set_new(r, "events", arr);
	return r;
}

/* The devices' counters since start (util/metrics.h), for `vtlctl top`:
 * it shows their rates between two answers. */
static json_t *io_json(void)
{
	struct met_dev_stats d[MET_MAX_DEVS];
	size_t n = met_dev_stats(d, MET_MAX_DEVS);
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{s:s, s:I, s:I, s:I, s:I}", "device",
						     d[i].name, "lun", (json_int_t)d[i].lun,
						     "read_bytes", (json_int_t)d[i].read_bytes,
						     "write_bytes", (json_int_t)d[i].write_bytes,
						     "commands", (json_int_t)d[i].commands));
	return arr;
}

static json_t *do_status(struct upl *u)
{
	json_t *r = ok();
	json_object_set_new(r, "iscsi_sessions", json_integer((json_int_t)met_iscsi_sessions()));
	json_object_set_new(r, "io", io_json());
	if (!u) {
		json_object_set_new(r, "store", json_null());
		return r;
	}
	struct upl_status s;
	upl_get_status(u, &s);
	json_object_set_new(
	    r, "store",
	    json_pack("{s:s, s:I, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o}", "backend",
		      s.backend, "backlog_bytes", (json_int_t)s.backlog_bytes, "pending_uploads",
		      (int)s.pending_segments, "bytes_sent", (json_int_t)s.bytes_sent, "parts_sent",
		      (json_int_t)s.parts_sent, "parts_copied", (json_int_t)s.parts_copied,
		      "objects_completed", (json_int_t)s.objects_completed, "manifests_put",
		      (json_int_t)s.manifests_put, "throughput_bytes_per_s",
		      (json_int_t)s.throughput, "activity", text(s.activity), "last_error",
		      text(s.last_error)));
	json_t *js = json_object_get(r, "store");
	json_object_set_new(js, "last_error_at", json_integer((json_int_t)s.last_error_at));
	json_object_set_new(js, "last_success_at", json_integer((json_int_t)s.last_success_at));
	json_object_set_new(js, "last_error_current", json_boolean(s.last_error_current));
	json_object_set_new(js, "parts_adopted", json_integer((json_int_t)s.parts_adopted));
	json_object_set_new(js, "objects_linked", json_integer((json_int_t)s.objects_linked));
	json_object_set_new(js, "bytes_linked", json_integer((json_int_t)s.bytes_linked));
	json_object_set_new(js, "parallel_parts", json_integer((json_int_t)s.parallel_parts));
	json_object_set_new(js, "part_size", json_integer((json_int_t)s.part_size));
	json_object_set_new(js, "shelf", text(s.shelf));
	json_object_set_new(js, "backlog_tapes", json_integer((json_int_t)s.backlog_tapes));
	json_object_set_new(js, "action_needed", text(s.action));
	json_object_set_new(js, "held_by", text(s.held_by));
	json_object_set_new(js, "held_tapes", json_integer((json_int_t)s.held_tapes));
	json_object_set_new(js, "next_try_s",
			    json_integer(s.next_try_ms < 0 ? -1 : (s.next_try_ms + 999) / 1000));
	json_object_set_new(js, "retry_requested", json_integer((json_int_t)s.retry_asked));
	json_object_set_new(js, "retried", json_integer((json_int_t)s.retried));
	json_object_set_new(js, "rounds",
			    json_pack("{s:I, s:I, s:I}", "full", (json_int_t)s.rounds_full,
				      "partial", (json_int_t)s.rounds_partial, "last_tapes",
				      (json_int_t)s.round_tapes));
	json_object_set_new(
	    json_object_get(r, "store"), "cache",
	    json_pack("{s:I, s:I, s:I, s:i, s:s, s:I, s:I, s:I, s:I, s:i}", "limit_bytes",
		      (json_int_t)s.cache_limit, "used_bytes", (json_int_t)s.cache_used,
		      "unsent_bytes", (json_int_t)s.cache_unsent, "writes_waiting",
		      (int)s.writes_waiting, "write_wait", s.write_wait, "evicted_segments",
		      (json_int_t)s.evicted_segments, "evicted_bytes", (json_int_t)s.evicted_bytes,
		      "fetched_segments", (json_int_t)s.fetched_segments, "fetched_bytes",
		      (json_int_t)s.fetched_bytes, "fetching", (int)s.fetching));
	return r;
}

/* store.retry: the credentials and ca_bundle are read again from the
 * configuration and uploads held back by an error that needs a person are
 * tried again now; the answer's "retry" is reached by status's "retried"
 * once a round begun after it is over (vtlctl waits for that), "reload"
 * says what of the configuration was taken. */
static json_t *do_store_retry(struct upl *u)
{
	if (!u)
		return fail(-ENODEV, "vtld has no object store, so no upload waits to be retried");
	struct upl_retry rt;
	upl_retry(u, &rt);
	json_t *r = ok();
	json_object_set_new(r, "retry", json_integer((json_int_t)rt.id));
	json_object_set_new(r, "reload", text(rt.note));
	return r;
}

/* ---- Catalog rebuild ------------------------------------------------------ */

/*
 * catalog.rebuild downloads whole tapes, which may take hours. So the
 * request only starts the job in its own thread (or, while one runs, joins
 * it) and answers at once with its id; vtlctl then polls
 * catalog.rebuild.status, as `tape retrieve --wait` polls tape.show. The
 * server thread never waits for the store, the idle limit never
 * applies, and other requests are served meanwhile. A client that goes
 * away does not stop the job; the result stays until the next one starts.
 */
static const char *const rebuild_result_names[] = {"recovered", "kept", "skipped", "failed"};

#define NO_STORE                                                                                   \
	"vtld has no [store] configured; set [store] type = s3 with endpoint and bucket (or "      \
	"type = local with path = a directory) in vtld.conf and restart vtld"

static void rebuild_tape_cb(void *arg, const struct upl_rebuild_tape *t)
{
	struct rebuild_job *j = arg;
	json_t *o = json_pack("{s:o, s:s}", "barcode", text(t->barcode), "result",
			      rebuild_result_names[t->result]);
	if (!o)
		return;
	if (t->state[0]) {
		json_object_set_new(o, "state", text(t->state));
		json_object_set_new(o, "location", text(t->location));
	}
	if (t->result == UPL_RECOVERED) {
		json_object_set_new(o, "segments", json_integer((json_int_t)t->segments));
		json_object_set_new(o, "bytes", json_integer((json_int_t)t->bytes));
	}
	if (t->reason[0])
		json_object_set_new(o, "reason", text(t->reason));
	pthread_mutex_lock(&j->mu);
	json_array_append_new(j->tapes, o);
	j->n[t->result]++;
	pthread_mutex_unlock(&j->mu);
}

static void rebuild_progress_cb(void *arg, const char *what)
{
	struct rebuild_job *j = arg;
	pthread_mutex_lock(&j->mu);
	snprintf(j->activity, sizeof(j->activity), "%s", what);
	pthread_mutex_unlock(&j->mu);
}

static void rebuild_missing_cb(void *arg, const char *barcode)
{
	struct rebuild_job *j = arg;
	pthread_mutex_lock(&j->mu);
	json_array_append_new(j->missing, text(barcode));
	pthread_mutex_unlock(&j->mu);
}

static bool rebuild_cancelled_cb(void *arg)
{
	struct rebuild_job *j = arg;
	pthread_mutex_lock(&j->mu);
	bool c = j->cancel;
	pthread_mutex_unlock(&j->mu);
	return c;
}

static void *rebuild_main(void *arg)
{
	struct ctl_server *s = arg;
	struct rebuild_job *j = &s->rb;
	struct upl_rebuild r = {
	    .tape = rebuild_tape_cb,
	    .progress = rebuild_progress_cb,
	    .cancelled = rebuild_cancelled_cb,
	    .missing = rebuild_missing_cb,
	    .arg = j,
	};
	char err[LIB_ERR_MAX] = "";
	int rc = upl_rebuild_catalog(s->upl, &r, err, sizeof(err));
	if (s->log) {
		char msg[LIB_ERR_MAX + 160];
		snprintf(msg, sizeof(msg),
			 "control: catalog rebuild: %zu recovered, %zu kept, %zu skipped, %zu "
			 "failed%s%s",
			 r.n[UPL_RECOVERED], r.n[UPL_KEPT], r.n[UPL_SKIPPED], r.n[UPL_FAILED],
			 rc ? "; " : "", rc ? err : "");
		s->log(rc ? 1 : 2, msg);
	}
	/* The last touch of the job: do_rebuild joins under mu. */
	pthread_mutex_lock(&j->mu);
	j->rc = rc;
	snprintf(j->err, sizeof(j->err), "%s", err[0] || !rc ? err : strerror(-rc));
	snprintf(j->warning, sizeof(j->warning), "%s", r.warning);
	snprintf(j->unlisted, sizeof(j->unlisted), "%s", r.unlisted);
	snprintf(j->activity, sizeof(j->activity), "done");
	j->running = false;
	pthread_mutex_unlock(&j->mu);
	return NULL;
}

/* The job as an answer; under j->mu. */
static json_t *rebuild_status(struct rebuild_job *j)
{
	json_t *o =
	    json_pack("{s:I, s:b, s:o, s:I, s:I, s:I, s:I}", "id", j->id, "done", !j->running,
		      "activity", text(j->activity), "recovered", (json_int_t)j->n[UPL_RECOVERED],
		      "kept", (json_int_t)j->n[UPL_KEPT], "skipped", (json_int_t)j->n[UPL_SKIPPED],
		      "failed", (json_int_t)j->n[UPL_FAILED]);
	if (!o)
		return fail(-ENOMEM, "out of memory");
	json_object_set_new(o, "tapes", json_deep_copy(j->tapes));
	if (!j->running && j->warning[0])
		json_object_set_new(o, "warning", text(j->warning));
	/* The store could not be listed: the report is not the whole store. */
	if (!j->running && j->unlisted[0]) {
		json_object_set_new(o, "unlisted", text(j->unlisted));
		json_object_set_new(o, "may_be_missing", json_deep_copy(j->missing));
	}
	if (!j->running && j->rc) {
		json_object_set_new(o, "error", text(j->err));
		json_object_set_new(o, "errno", json_string(errno_name(-j->rc)));
	}
	json_t *r = ok();
	json_object_set_new(r, "rebuild", o);
	return r;
}

static json_t *do_rebuild(struct ctl_server *s)
{
	if (!s)
		return fail(-EINVAL, "catalog.rebuild runs only through vtld's control socket");
	if (!s->upl)
		return fail(-ENODEV, NO_STORE);
	struct rebuild_job *j = &s->rb;
	pthread_mutex_lock(&j->mu);
	if (!j->running) {
		if (j->joinable)
			pthread_join(j->thread, NULL);
		j->joinable = false;
		json_decref(j->tapes);
		j->tapes = json_array();
		json_decref(j->missing);
		j->missing = json_array();
		memset(j->n, 0, sizeof(j->n));
		j->rc = 0;
		j->err[0] = 0;
		j->warning[0] = 0;
		j->unlisted[0] = 0;
		snprintf(j->activity, sizeof(j->activity), "starting");
		j->cancel = false;
		j->running = true;
		j->id++;
		int rc = -pthread_create(&j->thread, NULL, rebuild_main, s);
		if (rc) {
			j->running = false;
			pthread_mutex_unlock(&j->mu);
			return fail(rc, "cannot start a thread for the catalog rebuild");
		}
		j->joinable = true;
		if (s->log)
			s->log(2, "control: catalog rebuild started");
	}
	json_t *r = rebuild_status(j);
	pthread_mutex_unlock(&j->mu);
	return r;
}

static json_t *do_rebuild_status(struct ctl_server *s, json_t *req)
{
	json_t *id = json_object_get(req, "id");
	if (!s)
		return fail(-EINVAL, "catalog.rebuild runs only through vtld's control socket");
	if (!json_is_integer(id))
		return fail(-EINVAL,
			    "catalog.rebuild.status needs the id catalog.rebuild answered");
	struct rebuild_job *j = &s->rb;
	pthread_mutex_lock(&j->mu);
	json_t *r;
	if (json_integer_value(id) != j->id || j->id == 0) {
		char msg[160];
		snprintf(msg, sizeof(msg),
			 "no catalog rebuild %" JSON_INTEGER_FORMAT
			 " in this vtld (was it restarted?); run vtlctl catalog rebuild again",
			 json_integer_value(id));
		r = fail(-ENOENT, msg);
	} else {
		r = rebuild_status(j);
	}
	pthread_mutex_unlock(&j->mu);
	return r;
}

/* "slot:N", "drive:N", "ie:N": vtlctl's way of naming an element. */
static int parse_where(const char *where, enum cat_kind *kind, uint32_t *ordinal)
{
	const char *colon = strchr(where, ':');
	if (!colon)
		return -EINVAL;
	size_t klen = (size_t)(colon - where);
	if (klen == 4 && strncmp(where, "slot", 4) == 0)
		*kind = CAT_STORAGE;
	else if (klen == 5 && strncmp(where, "drive", 5) == 0)
		*kind = CAT_DRIVE;
	else if (klen == 2 && strncmp(where, "ie", 2) == 0)
		*kind = CAT_IE;
	else
		return -EINVAL;
	char *end;
	errno = 0;
	unsigned long v = strtoul(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || v == 0 || v > 65535)
		return -EINVAL;
	*ordinal = (uint32_t)v;
	return 0;
}

static json_t *dispatch(struct ctl_server *s, struct lib *lib, struct upl *u, json_t *req)
{
	char err[LIB_ERR_MAX] = "";
	const char *op = str_arg(req, "op");
	const char *b = str_arg(req, "barcode");
	if (!op)
		return fail(-EINVAL, "request without \"op\"");
	if (strcmp(op, "hello") == 0) {
		json_t *r = ok();
		json_object_set_new(r, "protocol", json_integer(CTL_PROTOCOL));
		return r;
	}
	if (strcmp(op, "tape.list") == 0)
		return do_tape_list(lib, u, req);
	if (strcmp(op, "tape.show") == 0)
		return do_tape_show(lib, u, req);
	if (strcmp(op, "tape.create") == 0)
		return do_tape_create(lib, u, req, err, sizeof(err));
	if (strcmp(op, "library.show") == 0)
		return do_library_show(lib);
	if (strcmp(op, "status") == 0)
		return do_status(u);
	if (strcmp(op, "store.retry") == 0)
		return do_store_retry(u);
	if (strcmp(op, "events") == 0)
		return do_events(lib, req);
	if (strcmp(op, "catalog.rebuild") == 0)
		return do_rebuild(s);
	if (strcmp(op, "catalog.rebuild.status") == 0)
		return do_rebuild_status(s, req);
	if (!strcmp(op, "key.status") || !strcmp(op, "key.rotate") ||
	    !strcmp(op, "key.rotate.status"))
		return ctl_keys_request(s, lib, op, req);
	if (strncmp(op, "pool.", 5) == 0 &&
	    (strcmp(op + 5, "list") == 0 || strcmp(op + 5, "create") == 0 ||
	     strcmp(op + 5, "show") == 0 || strcmp(op + 5, "delete") == 0))
		return do_pool(lib, op, req);
	if (strcmp(op, "autocreate.set") == 0 || strcmp(op, "autocreate.list") == 0 ||
	    strcmp(op, "autocreate.remove") == 0)
		return do_autocreate(lib, op, req);
	if (strcmp(op, "drive.unload") == 0) {
		json_t *d = json_object_get(req, "drive");
		if (!json_is_integer(d) || json_integer_value(d) < 1)
			return fail(-EINVAL, "drive.unload needs a drive number");
		json_t *f = json_object_get(req, "force");
		int rc = lib_drive_unload(lib, (uint32_t)json_integer_value(d), json_is_true(f),
					  err, sizeof(err));
		return rc ? fail(rc, err) : ok();
	}
	static const char *const tape_ops[] = {"tape.move", "tape.delete", "tape.archive",
					       "tape.retrieve", "tape.assign_pool"};
	bool known = false;
	for (size_t i = 0; i < sizeof(tape_ops) / sizeof(tape_ops[0]); i++)
		known |= strcmp(op, tape_ops[i]) == 0;
	if (!known) {
		char msg[160], q[64];
		snprintf(msg, sizeof(msg),
			 "unknown request \"%s\" (vtlctl and vtld of different versions?)",
			 quote(q, op));
		return fail(-EINVAL, msg);
	}
	if (!b) {
		char msg[128], q[64];
		snprintf(msg, sizeof(msg), "%s needs a barcode", quote(q, op));
		return fail(-EINVAL, msg);
	}
	if (strcmp(op, "tape.move") == 0) {
		const char *to = str_arg(req, "to");
		enum cat_kind kind;
		uint32_t ordinal;
		if (!to)
			return fail(-EINVAL, "tape.move needs \"to\"");
		if (parse_where(to, &kind, &ordinal)) {
			char msg[160], q[64];
			snprintf(msg, sizeof(msg),
				 "bad destination '%s'; use slot:N, drive:N or ie:N", quote(q, to));
			return fail(-EINVAL, msg);
		}
		return with_tape(lib, u, b, lib_tape_move(lib, b, kind, ordinal, err, sizeof(err)),
				 err);
	}
	if (strcmp(op, "tape.delete") == 0) {
		bool force = json_is_true(json_object_get(req, "force"));
		bool bypass = json_is_true(json_object_get(req, "bypass_governance"));
		return with_tape(lib, u, b,
				 lib_tape_delete(lib, b, force, bypass, err, sizeof(err)), err);
	}
	if (strcmp(op, "tape.assign_pool") == 0) {
		const char *pool = str_arg(req, "pool");
		bool bypass = json_is_true(json_object_get(req, "bypass_governance"));
		if (!pool)
			return fail(-EINVAL, "tape.assign_pool needs \"pool\"");
		return with_tape(lib, u, b,
				 lib_tape_assign_pool(lib, b, pool, bypass, err, sizeof(err)), err);
	}
	if (strcmp(op, "tape.archive") == 0) {
		/* With "wait" (vtlctl --wait polls for ARCHIVED), a tape already
		 * on its way to the shelf, or on it, is not an error. */
		struct cat_tape t;
		if (json_is_true(json_object_get(req, "wait")) && lib_tape_get(lib, b, &t) == 0 &&
		    (t.state == CAT_ARCHIVING || t.state == CAT_ARCHIVED ||
		     (t.state == CAT_IN_TRANSIT_TO_SHELF && !t.in_library)))
			return with_tape(lib, u, b, 0, "");
		return with_tape(lib, u, b, lib_tape_archive(lib, b, err, sizeof(err)), err);
	}
	return with_tape(lib, u, b, lib_tape_retrieve(lib, b, err, sizeof(err)), err);
}

/* ---- One request line (ctl_int.h) ---------------------------------------- */

char *ctl_answer(struct ctl_server *s, struct lib *lib, struct upl *u, const char *line,
		 ctl_log_fn log)
{
	json_error_t jerr;
	json_t *req = json_loads(line, 0, &jerr);
	json_t *resp;
	if (!json_is_object(req)) {
		char msg[256];
		snprintf(msg, sizeof(msg), "malformed request: %s",
			 req ? "not an object" : jerr.text);
		resp = fail(-EINVAL, msg);
	} else {
		resp = dispatch(s, lib, u, req);
	}
	const char *op = json_is_object(req) ? str_arg(req, "op") : NULL;
	bool good = json_is_true(json_object_get(resp, "ok"));
	/* vtlctl polls a rebuild several times a second for hours: only its
	 * start (do_rebuild) and its end (rebuild_main) are logged. */
	if (log && !(good && op && strncmp(op, "catalog.rebuild", 15) == 0)) {
		char msg[LIB_ERR_MAX + 128], q[64];
		const char *e = json_string_value(json_object_get(resp, "error"));
		snprintf(msg, sizeof(msg), "control: %s: %s%s", op ? quote(q, op) : "?",
			 good ? "done" : "refused: ", good ? "" : (e ? e : "?"));
		log(good ? 2 : 1, msg);
	}
	char *out = resp ? json_dumps(resp, JSON_COMPACT) : NULL;
	json_decref(req);
	json_decref(resp);
	if (!out) {
		if (log)
			log(0, "control: cannot build or encode an answer; answered that");
		out = strdup(CTL_ANSWER_FAILED);
	}
	return out;
}

char *ctl_handle_line(struct lib *lib, struct upl *upl, const char *line, ctl_log_fn log)
{
	return ctl_answer(NULL, lib, upl, line, log);
}
