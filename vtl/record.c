/*
 * record.c - the library record (see record.h).
 *
 * Pools and policies are listed whole (the built-in pools too, so that a
 * reader sees what the writer had); tapes only when they say something a
 * tape's own objects do not: a pool other than `default`, a retention
 * lock, or that the tape is blank and its medium not made yet (such a
 * tape has no object of its own in the store: its type, capacity, WORM
 * and cleaning uses are here, under "blank", so that a rebuild from the
 * store finds it; docs/object-store.md, "Disaster recovery"). The text is
 * canonical (sorted keys, compact), so that the writer can tell a change
 * by comparing texts.
 */
#include "config.h"

#include "record.h"
#include "upload_int.h"

#include "catalog/catalog_key.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECORD_VERSION 1

static int cmp_key(const void *key, const void *elem)
{
	return strcmp(key, ((const struct cat_key_row *)elem)->barcode);
}

char *record_build(struct cat *c, int *rc)
{
	struct cat_pool *pools = NULL;
	struct cat_autocreate *pol = NULL;
	struct cat_tape *tapes = NULL;
	size_t np = 0, na = 0, nt = 0;
	char *text = NULL;
	*rc = cat_pools(c, &pools, &np);
	if (!*rc)
		*rc = cat_autocreates(c, &pol, &na);
	if (!*rc)
		*rc = cat_tape_list(c, -1, false, &tapes, &nt);
	json_t *o = *rc ? NULL : json_object(), *ap = json_array(), *aa = json_array(),
	       *at = json_object();
	for (size_t i = 0; o && i < np; i++)
		json_array_append_new(
		    ap, json_pack("{s:s, s:s, s:s, s:i, s:b, s:I}", "name", pools[i].name,
				  "storage_class", pools[i].storage_class, "retention_lock",
				  cat_lock_name(pools[i].lock), "retention_days",
				  (int)pools[i].retention_days, "builtin", pools[i].builtin,
				  "created", (json_int_t)pools[i].created));
	for (size_t i = 0; o && i < na; i++)
		json_array_append_new(aa, json_pack("{s:s, s:s, s:s, s:I, s:i}", "prefix",
						    pol[i].prefix, "pool", pol[i].pool, "type",
						    pol[i].media, "size", (json_int_t)pol[i].size,
						    "minimum", (int)pol[i].minimum));
	/* Which blank tapes are encrypted at rest: their data key is in the
	 * catalog only (a medium's KEY file and KEY object come with the
	 * medium), one list of them rather than a query a tape. */
	struct cat_key_row *keys = NULL;
	size_t nk = 0;
	bool listed = false;
	for (size_t i = 0; o && i < nt && !listed; i++) {
		if (!tapes[i].unmade)
			continue;
		listed = true;
		*rc = cat_key_list(c, NULL, &keys, &nk);
	}
	for (size_t i = 0; o && !*rc && i < nt; i++) {
		const struct cat_tape *t = &tapes[i];
		bool blank = t->unmade && (t->state == CAT_AVAILABLE || t->state == CAT_CREATING);
		if (strcmp(t->pool, "default") == 0 && t->lock == CAT_LOCK_NONE && !blank)
			continue;
		json_t *v =
		    json_pack("{s:s, s:s, s:I}", "pool", t->pool, "retention_lock",
			      cat_lock_name(t->lock), "retain_until", (json_int_t)t->retain_until);
		if (v && blank)
			json_object_set_new(
			    v, "blank",
			    json_pack("{s:s, s:I, s:b, s:i, s:b}", "type", t->media, "capacity",
				      (json_int_t)t->capacity, "worm", t->worm, "clean_max",
				      (int)t->clean_max, "at_rest",
				      nk && bsearch(t->barcode, keys, nk, sizeof(*keys), cmp_key)));
		json_object_set_new(at, t->barcode, v);
	}
	free(keys);
	if (o && *rc) {
		json_decref(o); /* ap, aa and at are not in it yet */
		o = NULL;
	}
	if (o) {
		json_object_set_new(o, "version", json_integer(RECORD_VERSION));
		json_object_set_new(o, "pools", ap);
		json_object_set_new(o, "autocreate", aa);
		json_object_set_new(o, "tapes", at);
		text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
		if (!text)
			*rc = -ENOMEM;
		json_decref(o);
	} else {
		json_decref(ap);
		json_decref(aa);
		json_decref(at);
	}
	free(pools);
	free(pol);
	free(tapes);
	return text;
}

static int str_into(json_t *o, const char *key, char *dst, size_t cap)
{
	json_t *v = json_object_get(o, key);
	const char *s = json_is_string(v) ? json_string_value(v) : NULL;
	if (!s || strlen(s) >= cap)
		return -EBADMSG;
	snprintf(dst, cap, "%s", s);
	return 0;
}

static int lock_of(json_t *o, enum cat_lock *l)
{
	json_t *v = json_object_get(o, "retention_lock");
	return json_is_string(v) && cat_lock_parse(json_string_value(v), l) == 0 ? 0 : -EBADMSG;
}

static int cmp_tape(const void *a, const void *b)
{
	return strcmp(((const struct record_tape *)a)->barcode,
		      ((const struct record_tape *)b)->barcode);
}

int record_parse(const char *text, size_t len, struct record *r, char *why, size_t cap)
{
	json_error_t je;
	memset(r, 0, sizeof(*r));
	json_t *o = json_loadb(text, len, 0, &je);
	if (!json_is_object(o)) {
		snprintf(why, cap, "not JSON: %s", o ? "not an object" : je.text);
		json_decref(o);
		return -EBADMSG;
	}
	json_t *ver = json_object_get(o, "version");
	if (!json_is_integer(ver) || json_integer_value(ver) != RECORD_VERSION) {
		snprintf(why, cap, "version %lld, this vtld reads %d",
			 json_is_integer(ver) ? (long long)json_integer_value(ver) : -1LL,
			 RECORD_VERSION);
		json_decref(o);
		return -EBADMSG;
	}
	json_t *ap = json_object_get(o, "pools"), *aa = json_object_get(o, "autocreate"),
	       *at = json_object_get(o, "tapes");
	int rc = json_is_array(ap) && json_is_array(aa) && json_is_object(at) ? 0 : -EBADMSG;
	r->pools = rc ? NULL : calloc(json_array_size(ap) + 1, sizeof(*r->pools));
	r->policies = rc ? NULL : calloc(json_array_size(aa) + 1, sizeof(*r->policies));
	r->tapes = rc ? NULL : calloc(json_object_size(at) + 1, sizeof(*r->tapes));
	if (!rc && (!r->pools || !r->policies || !r->tapes))
		rc = -ENOMEM;
	size_t i;
	json_t *v;
	json_array_foreach(rc ? NULL : ap, i, v)
	{
		struct cat_pool *p = &r->pools[r->n_pools];
		json_t *d = json_object_get(v, "retention_days");
		if (rc || str_into(v, "name", p->name, sizeof(p->name)) ||
		    str_into(v, "storage_class", p->storage_class, sizeof(p->storage_class)) ||
		    lock_of(v, &p->lock) || !json_is_integer(d) || json_integer_value(d) < 0 ||
		    json_integer_value(d) > CAT_RETENTION_MAX_DAYS) {
			rc = -EBADMSG;
			break;
		}
		p->retention_days = (uint32_t)json_integer_value(d);
		p->builtin = json_is_true(json_object_get(v, "builtin"));
		p->created = json_integer_value(json_object_get(v, "created"));
		r->n_pools++;
	}
	json_array_foreach(rc ? NULL : aa, i, v)
	{
		struct cat_autocreate *a = &r->policies[r->n_policies];
		json_t *m = json_object_get(v, "minimum"), *s = json_object_get(v, "size");
		if (str_into(v, "prefix", a->prefix, sizeof(a->prefix)) ||
		    str_into(v, "pool", a->pool, sizeof(a->pool)) ||
		    str_into(v, "type", a->media, sizeof(a->media)) || !json_is_integer(m) ||
		    !json_is_integer(s) || json_integer_value(s) < 0) {
			rc = -EBADMSG;
			break;
		}
		a->minimum = (uint32_t)json_integer_value(m);
		a->size = (uint64_t)json_integer_value(s);
		r->n_policies++;
	}
	const char *bc;
	json_object_foreach(rc ? NULL : at, bc, v)
	{
		struct record_tape *t = &r->tapes[r->n_tapes];
		json_t *u = json_object_get(v, "retain_until");
		if (strlen(bc) >= sizeof(t->barcode) ||
		    str_into(v, "pool", t->pool, sizeof(t->pool)) || lock_of(v, &t->lock) ||
		    !json_is_integer(u)) {
			rc = -EBADMSG;
			break;
		}
		snprintf(t->barcode, sizeof(t->barcode), "%s", bc);
		t->retain_until = json_integer_value(u);
		json_t *b = json_object_get(v, "blank");
		if (b) {
			json_t *capa = json_object_get(b, "capacity"),
			       *cm = json_object_get(b, "clean_max");
			if (!json_is_object(b) || str_into(b, "type", t->media, sizeof(t->media)) ||
			    !json_is_integer(capa) || json_integer_value(capa) <= 0 ||
			    !json_is_integer(cm) || json_integer_value(cm) < 0 ||
			    json_integer_value(cm) > 65535) {
				rc = -EBADMSG;
				break;
			}
			t->blank = true;
			t->capacity = (uint64_t)json_integer_value(capa);
			t->worm = json_is_true(json_object_get(b, "worm"));
			t->clean_max = (uint32_t)json_integer_value(cm);
			t->at_rest = json_is_true(json_object_get(b, "at_rest"));
		}
		r->n_tapes++;
	}
	json_decref(o);
	if (!rc)
		qsort(r->tapes, r->n_tapes, sizeof(*r->tapes), cmp_tape);
	if (rc) {
		snprintf(why, cap, "%s",
			 rc == -ENOMEM ? "out of memory" : "a field is missing or bad");
		record_free(r);
	}
	return rc;
}

void record_free(struct record *r)
{
	free(r->pools);
	free(r->policies);
	free(r->tapes);
	memset(r, 0, sizeof(*r));
}

const struct record_tape *record_tape(const struct record *r, const char *barcode)
{
	/* Sorted by record_parse: a rebuild of 10,000 blank tapes looks each
	 * up in log n. */
	struct record_tape key;
	if (!r->n_tapes || strlen(barcode) >= sizeof(key.barcode))
		return NULL;
	snprintf(key.barcode, sizeof(key.barcode), "%s", barcode);
	return bsearch(&key, r->tapes, r->n_tapes, sizeof(*r->tapes), cmp_tape);
}

/* ---- Put by the uploader's thread ---------------------------------------- */

/*
 * Before this vtld first writes the record: the one in the store may be
 * an earlier library's, the only copy of its pools and locks, waiting for
 * a catalog rebuild. It is overwritten only once every tape it names is in
 * this catalog; until then the log says why (at most once a minute).
 * *same: the store holds text already, byte for byte (the record the
 * last run put, at a restart): ours, and nothing to put.
 */
static bool record_ours(struct upl *u, const char *key, const char *text_now, bool *same)
{
	uint8_t *text = NULL;
	size_t len = 0;
	struct store_err se;
	struct record rec;
	char why[256];
	memset(&se, 0, sizeof(se));
	int rc = shelf_get_all(u->st, key, &text, &len, &se);
	if (rc == -ENOENT)
		return true;
	if (rc) {
		upl_logf(u, 1, "cannot read the library record %s: %s", key,
			 se.msg[0] ? se.msg : strerror(-rc));
		return false;
	}
	/* Built from this catalog, so every tape it names is in it: at a
	 * restart of 10,000 blank tapes this spares a parse of the record,
	 * a catalog query a tape and a put of the same bytes. */
	*same = len == strlen(text_now) && memcmp(text, text_now, len) == 0;
	if (*same) {
		free(text);
		return true;
	}
	rc = record_parse((const char *)text, len, &rec, why, sizeof(why));
	free(text);
	if (rc)
		return true; /* unreadable: nothing in it to keep */
	const char *unknown = NULL;
	pthread_mutex_lock(&u->cat_mu);
	for (size_t i = 0; i < rec.n_tapes && !unknown; i++) {
		struct cat_tape t;
		if (cat_tape_get(u->cat, rec.tapes[i].barcode, &t) == -ENOENT)
			unknown = rec.tapes[i].barcode;
	}
	pthread_mutex_unlock(&u->cat_mu);
	if (unknown)
		upl_logf(u, 1,
			 "the library record %s names tape %s, which this catalog does not know: "
			 "it is kept, not rewritten, until vtlctl catalog rebuild brings the "
			 "store's tapes in",
			 key, unknown);
	record_free(&rec);
	return !unknown;
}

bool upl_record_pass(struct upl *u)
{
	int64_t now = upl_mono_ms();
	if (u->record_ms && now - u->record_ms < RECORD_EVERY_S * 1000)
		return false;
	u->record_ms = now;
	int rc;
	/* Built again only when what it says changed since the record put
	 * (the catalog counts those changes): a library of 10,000 blank
	 * tapes is a record of 10,000 entries. The count is read before the
	 * build, so a change made meanwhile makes the next pass build it. */
	int64_t seq = -1;
	pthread_mutex_lock(&u->cat_mu);
	if (cat_record_changes(u->cat, &seq))
		seq = -1;
	if (u->record_last && seq >= 0 && seq == u->record_seq) {
		pthread_mutex_unlock(&u->cat_mu);
		return true;
	}
	char *text = record_build(u->cat, &rc);
	pthread_mutex_unlock(&u->cat_mu);
	if (!text) {
		upl_logf(u, 0, "cannot build the library record: %s", strerror(-rc));
		return false;
	}
	if (u->record_last && strcmp(text, u->record_last) == 0) {
		free(text);
		u->record_seq = seq;
		return true;
	}
	char key[STORE_KEY_MAX];
	struct store_err se;
	memset(&se, 0, sizeof(se));
	snprintf(key, sizeof(key), "%s%s", u->cfg.prefix, RECORD_KEY);
	bool same = false;
	if (!u->record_last && !record_ours(u, key, text, &same)) {
		free(text);
		return false;
	}
	rc = same ? 0 : store_put(u->st, key, text, strlen(text), NULL, NULL, &se);
	if (rc) {
		upl_logf(u, 1, "the library record %s is not in the store yet: %s", key,
			 se.msg[0] ? se.msg : strerror(-rc));
		free(text);
		return false;
	}
	free(u->record_last);
	u->record_last = text;
	u->record_seq = seq;
	return true;
}
