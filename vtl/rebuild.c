/*
 * rebuild.c - disaster recovery: the catalog rebuilt from the object store
 * alone (rebuild.h; docs/object-store.md, "Disaster recovery: rebuilding
 * the catalog"). vtld --rebuild-catalog runs it on an empty data directory
 * before the library starts; `vtlctl catalog rebuild` runs it on the
 * running vtld, keeping the tapes the catalog knows. The downloads are the
 * shelf's (shelf.c); the uploader's rows it records for each recovered
 * tape tell the uploader's thread that its segments are in the store
 * already, so nothing is sent again.
 */
#include "config.h"

#include "rebuild.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "catalog/catalog_key.h"
#include "keys.h"
#include "library.h"
#include "scsi/tape.h"
#include "upload_int.h"
#include "record.h"
#include "util/metrics.h"

/* ---- Disaster recovery ----------------------------------------------------- */

/*
 * Rebuilding the catalog runs in two passes. The first looks at every
 * tapes/NAME/ prefix without changing anything: a name that is no barcode
 * or has no manifest is skipped, a barcode the catalog knows is kept, the
 * others are planned AVAILABLE or ARCHIVED as the store's state object
 * says; if the AVAILABLE ones need more free storage slots than there are,
 * nothing is done. The second pass recovers the planned tapes one by one.
 *
 * On a running vtld the uploader's thread must not see a recovered tape
 * before its segments are recorded as complete objects, or it would send
 * them all again. Its rows need the tape in the catalog (upl_segments
 * refers to tapes), so the order is: download into tapes/BARCODE.download,
 * HEAD every segment, add the tape (lib_tape_adopt), record the segments,
 * and only then put the medium in place. Until then the tape has no
 * MANIFEST, which the uploader takes as nothing to do, and a load fails
 * cleanly. If vtld stops between the two, the tape is AVAILABLE with its
 * complete download beside it: the next rebuild finishes the job. An
 * ARCHIVED tape is added, then its segments recorded, in two transactions
 * too: one stopped between them is ARCHIVED with no local medium and no
 * uploader rows (which would make its retrieved copy look like a foreign
 * tape to the uploader), and the next rebuild records them.
 */
enum plan_kind {
	PLAN_DONE,
	PLAN_AVAILABLE,
	PLAN_ARCHIVED,
	PLAN_FINISH,
	PLAN_ARCHIVED_FINISH,
	PLAN_LOCAL,
	PLAN_LOCAL_STORE,
	PLAN_BLANK
};

struct plan {
	enum plan_kind kind;
	bool shelf;			   /* from the shelf apart, else the library's location */
	bool local;			   /* DATA_DIR/tapes/BARCODE holds a cartridge */
	bool no_store;			   /* the store has no such prefix */
	bool decided;			   /* PLAN_DONE before plan_one (t says why) */
	const struct record_tape *blank;   /* only in the library record, blank */
	char wrapped[KEY_WRAPPED_MAX + 2]; /* its KEY (encrypted at rest), or "" */
	struct upl_rebuild_tape t;	   /* PLAN_DONE: the outcome, reported in order */
};

struct plan_list {
	struct plan *v;
	size_t n, cap;
	size_t plen;
};

static int tape_prefix_cb(void *arg, const struct store_list_entry *e)
{
	struct plan_list *l = arg;
	if (!e->is_prefix)
		return 0;
	const char *b = e->key + l->plen;
	size_t len = strlen(b);
	if (len < 2)
		return 0;
	void *v = upl_grow(l->v, &l->cap, l->n, sizeof(*l->v));
	if (!v)
		return -ENOMEM;
	l->v = v;
	struct plan *p = &l->v[l->n++];
	memset(p, 0, sizeof(*p));
	snprintf(p->t.barcode, sizeof(p->t.barcode), "%.*s", (int)(len - 1), b);
	return 0;
}

struct rebuild {
	struct lib *lib;
	struct store *st; /* the location of the plan at hand: */
	const struct store_config *c;
	struct store *lib_st; /* the library's objects */
	const struct store_config *lib_c;
	struct store *shelf_st; /* the shelf apart, or NULL */
	const struct store_config *shelf_c;
	upl_log_fn log;
	struct upl_rebuild *r;
	struct cat *cat;     /* its own connection, for the uploader's rows */
	const char *wrapped; /* the KEY of the tape at hand, or "" */
	/* The prefixes that could not be listed ("" when all were) and why,
	 * for the report (see "A store that cannot be listed" below). */
	char unlisted[2 * STORE_KEY_MAX];
	char unlisted_why[512];
};

static void rebuild_say(struct rebuild *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void rebuild_say(struct rebuild *x, const char *fmt, ...)
{
	char what[256];
	va_list ap;
	if (!x->r->progress)
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	x->r->progress(x->r->arg, what);
}

static void rebuild_report(struct rebuild *x, const struct upl_rebuild_tape *t)
{
	char msg[800];
	x->r->n[t->result]++;
	if (t->result == UPL_RECOVERED)
		snprintf(msg, sizeof(msg), "recovered tape %s (%s, %s, %zu segment%s) from %s",
			 t->barcode, t->state, t->location, t->segments,
			 t->segments == 1 ? "" : "s", t->reason[0] ? t->reason : "the store");
	else
		snprintf(msg, sizeof(msg), "catalog rebuild: %s %s: %s", t->barcode,
			 t->result == UPL_KEPT	    ? "kept"
			 : t->result == UPL_SKIPPED ? "skipped"
						    : "not recovered",
			 t->reason);
	if (x->log)
		x->log(t->result == UPL_FAILED ? 0 : 2, msg);
	if (x->r->tape)
		x->r->tape(x->r->arg, t);
}

static void set_where(struct rebuild *x, struct upl_rebuild_tape *t, const struct cat_tape *ct)
{
	struct cat_tape now;
	if (!ct && lib_tape_get(x->lib, t->barcode, &now) == 0)
		ct = &now;
	if (!ct)
		return;
	upl_copy_str(t->state, sizeof(t->state), cat_state_name(ct->state));
	upl_copy_str(t->location, sizeof(t->location), ct->location);
}

static bool has_manifest(const char *dir)
{
	char path[PATH_MAX + 32];
	tape_file_path(dir, TAPE_FILE_MANIFEST, 0, path, sizeof(path));
	return access(path, F_OK) == 0;
}

/* The state a tape's state object in (st, c) records: "AVAILABLE" when
 * there is none. */
static int read_state(struct store *st, const struct store_config *c, const char *bc,
		      char state[32], char *why, size_t cap)
{
	char key[STORE_KEY_MAX];
	uint8_t *text = NULL;
	size_t tlen = 0;
	struct store_err se;
	memset(&se, 0, sizeof(se));
	snprintf(state, 32, "AVAILABLE");
	upl_key_tape(c, bc, "state", key);
	int rc = shelf_get_all(st, key, &text, &tlen, &se);
	if (rc == 0) {
		char *s = strndup((const char *)text, tlen);
		char *at = s ? strstr(s, "state=") : NULL;
		if (at)
			sscanf(at + 6, "%31[A-Z_]", state);
		free(s);
		free(text);
	} else if (rc != -ENOENT) {
		upl_errmsg(why, cap, "cannot read %s: %s", key, se.msg[0] ? se.msg : strerror(-rc));
		return rc;
	}
	return 0;
}

/*
 * A store that cannot be listed (refused, down, a directory that does not
 * open) is not an empty one: a tape whose only copy is there would look
 * gone. So the rebuild goes on with what survives, the local media, and
 * changes nothing of what only the store could tell: no tape is planned
 * from a missing prefix, no blank tape of the library record is added (it
 * may have been written since the record was), no local medium is set
 * aside for a store copy that cannot be had. A tape recovered from its
 * local medium then has no uploader rows, so the uploader, once the store
 * answers, holds it as a foreign tape rather than write over what the
 * store holds of it (claim_prefix in upload_sync.c); its adoption event
 * says why (UNLISTED_CAUSE), and the next rebuild, with the store listed,
 * records what the store holds of it (PLAN_LOCAL_STORE). The report names
 * the prefix, the tapes the library record names that are not in the
 * catalog, and that next rebuild.
 */
#define UNLISTED_CAUSE "recovered from the local medium; the object store could not be listed"

static void note_unlisted(struct rebuild *x, const char *pfx, const struct store_err *se, int rc)
{
	size_t l = strlen(x->unlisted), w = strlen(x->unlisted_why);
	snprintf(x->unlisted + l, sizeof(x->unlisted) - l, "%s%s", l ? " and " : "", pfx);
	snprintf(x->unlisted_why + w, sizeof(x->unlisted_why) - w, "%scannot list %s: %s",
		 w ? "; " : "", pfx, se->msg[0] ? se->msg : strerror(-rc));
	if (x->log) {
		char msg[800];
		snprintf(msg, sizeof(msg),
			 "catalog rebuild: cannot list %s in the object store (%s); going on with "
			 "the local media only for it",
			 pfx, se->msg[0] ? se->msg : strerror(-rc));
		x->log(1, msg);
	}
}

/* The tape's first event says it was recovered from its local medium
 * while the store could not be listed. */
static bool recovered_unlisted(struct rebuild *x, const char *bc)
{
	struct cat_event *ev;
	size_t n = 0;
	if (lib_events(x->lib, bc, 0, &ev, &n))
		return false;
	bool yes = n && strcmp(ev[0].cause, UNLISTED_CAUSE) == 0;
	free(ev);
	return yes;
}

/* r->warning, after the tapes: what the store could not say, the tapes
 * the library record names that the catalog still lacks, and the way to
 * them. */
static void unlisted_warning(struct rebuild *x, const struct record *rec, bool have_rec)
{
	char names[512] = "";
	size_t len = 0, missing = 0;
	if (!x->unlisted[0])
		return;
	for (size_t i = 0; have_rec && i < rec->n_tapes; i++) {
		struct cat_tape ct;
		if (lib_tape_get(x->lib, rec->tapes[i].barcode, &ct) == 0)
			continue;
		if (x->r->missing)
			x->r->missing(x->r->arg, rec->tapes[i].barcode);
		if (missing++ < 16 && len < sizeof(names) - 40) {
			int k = snprintf(names + len, sizeof(names) - len, "%s%s", len ? ", " : "",
					 rec->tapes[i].barcode);
			len += k > 0 ? (size_t)k : 0;
		} else if (missing == 17) {
			snprintf(names + len, sizeof(names) - len, ", ...");
		}
	}
	/* The record names only the tapes with something of their own to say
	 * (record.c): the blank ones, and those with a pool or a lock. */
	char which[640];
	if (!have_rec)
		snprintf(which, sizeof(which), "; the library record cannot be read either");
	else if (missing)
		snprintf(which, sizeof(which),
			 "; of them the library record (which names blank tapes and those with a "
			 "pool or lock) names %zu: %s",
			 missing, names);
	else
		which[0] = 0;
	/* After the library record's own warning, if any. */
	size_t wl = strlen(x->r->warning);
	if (wl)
		wl += (size_t)snprintf(x->r->warning + wl, sizeof(x->r->warning) - wl, "; and ");
	upl_errmsg(x->r->warning + wl, sizeof(x->r->warning) - wl,
		   "the object store could not be listed (%s), so the tapes whose only copy is "
		   "there are not in the catalog and nothing of them was changed; which ones "
		   "cannot be known until it is listed: any tape whose medium is not on this "
		   "disk (archived, evicted from the cache, or written elsewhere)%s; the tapes "
		   "recovered from local media do not upload until what the store holds of them "
		   "is recorded; once the store answers, run vtlctl catalog rebuild, which adds "
		   "only what the catalog lacks and records what the store holds of the tapes "
		   "recovered from local media",
		   x->unlisted_why, which);
	upl_copy_str(x->r->unlisted, sizeof(x->r->unlisted), x->unlisted);
	if (x->log)
		x->log(1, x->r->warning + wl);
}

/*
 * The local media: every DATA_DIR/tapes/NAME that holds a cartridge joins
 * the plan, beside the store's prefixes (a catalog lost alone leaves the
 * media in place; a tape not uploaded yet exists only here).
 */
static int plan_local(struct rebuild *x, struct plan_list *pl, char *err, size_t errlen)
{
	char path[PATH_MAX];
	datadir_tapes(lib_data_dir(x->lib), path, sizeof(path));
	DIR *d = opendir(path);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		upl_errmsg(err, errlen, "cannot read %s: %s", path, strerror(errno));
		return -errno;
	}
	int rc = 0;
	struct dirent *de;
	size_t nstore = pl->n;
	while (!rc && (de = readdir(d))) {
		char sub[PATH_MAX + 256];
		if (lib_barcode_check(de->d_name, NULL, 0))
			continue; /* ".", a download, a damaged copy kept aside */
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		if (tape_probe(sub) != 1)
			continue;
		struct plan *p = NULL;
		for (size_t j = 0; j < nstore && !p; j++)
			if (strcmp(pl->v[j].t.barcode, de->d_name) == 0)
				p = &pl->v[j];
		if (!p) {
			void *v = upl_grow(pl->v, &pl->cap, pl->n, sizeof(*pl->v));
			if (!v) {
				rc = -ENOMEM;
				break;
			}
			pl->v = v;
			p = &pl->v[pl->n++];
			memset(p, 0, sizeof(*p));
			upl_copy_str(p->t.barcode, sizeof(p->t.barcode), de->d_name);
			p->no_store = true;
		}
		p->local = true;
	}
	closedir(d);
	return rc;
}

/* First pass for a barcode with a local medium. true: decided (local, or
 * failed); false: go on with the store's copy. */
static bool plan_local_one(struct rebuild *x, struct plan *p, size_t *need)
{
	struct upl_rebuild_tape *t = &p->t;
	char dir[PATH_MAX], kept[PATH_MAX + 64];
	struct tape_repair rep;
	lib_tape_dir(x->lib, t->barcode, dir, sizeof(dir));
	int rc = tape_repair(dir, NULL, 0, &rep);
	if (rc == 0 && rep.repaired && x->log) {
		char msg[PATH_MAX + 200];
		snprintf(msg, sizeof(msg),
			 "catalog rebuild: %s/MANIFEST was %s; rebuilt it from the records and "
			 "MANIFEST.prev (the old file is kept as MANIFEST.damaged)",
			 dir, rep.cause == -ENOENT ? "missing" : "damaged");
		x->log(1, msg);
	}
	if (rc == 0) {
		char state[32] = "AVAILABLE";
		if ((!p->no_store || x->unlisted[0]) &&
		    read_state(x->st, x->c, t->barcode, state, t->reason, sizeof(t->reason)) == 0 &&
		    strcmp(state, "ARCHIVED") == 0)
			return false; /* on the shelf: the store's copy says so */
		t->reason[0] = 0;
		p->kind = PLAN_LOCAL;
		(*need)++;
		return true;
	}
	if (p->no_store) {
		t->result = UPL_FAILED;
		upl_errmsg(
		    t->reason, sizeof(t->reason),
		    "the medium in %s cannot be read (%s) and the store %s; it is left as it "
		    "is",
		    dir, strerror(-rc),
		    x->unlisted[0] ? "could not be listed for a copy (run vtlctl catalog "
				     "rebuild again once it answers)"
				   : "has no copy");
		return true;
	}
	/* The store's copy is what survives: the local one is kept aside. */
	if (upl_set_aside(dir, "damaged", kept, sizeof(kept)) == 0 && x->log) {
		char msg[2 * PATH_MAX + 200];
		snprintf(msg, sizeof(msg),
			 "catalog rebuild: the medium in %s cannot be read (%s); kept as %s, the "
			 "tape comes from the store",
			 dir, strerror(-rc), kept);
		x->log(1, msg);
	}
	p->local = false;
	return false;
}

/* First pass for one prefix (see above). *need counts the tapes that will
 * take a storage slot. */
static void plan_one(struct rebuild *x, struct plan *p, size_t *need)
{
	struct upl_rebuild_tape *t = &p->t;
	const char *bc = t->barcode;
	char key[STORE_KEY_MAX], dir[PATH_MAX], tmp[PATH_MAX + 16];
	struct store_err se;
	struct cat_tape ct;
	memset(&se, 0, sizeof(se));
	p->kind = PLAN_DONE;
	if (lib_barcode_check(bc, t->reason, sizeof(t->reason))) {
		t->result = UPL_SKIPPED; /* the reason says why it is no barcode */
		return;
	}
	if (lib_tape_get(x->lib, bc, &ct) == 0) {
		lib_tape_dir(x->lib, bc, dir, sizeof(dir));
		snprintf(tmp, sizeof(tmp), "%s.download", dir);
		if (ct.state == CAT_AVAILABLE && !has_manifest(dir) && has_manifest(tmp)) {
			p->kind = PLAN_FINISH; /* stopped between adopt and install */
			return;
		}
		char sstate[32] = "";
		uint64_t gen;
		if (ct.state == CAT_ARCHIVED && !has_manifest(dir) &&
		    cat_upl_tape_get(x->cat, bc, &gen, sstate, sizeof(sstate)) == 0 && !sstate[0]) {
			p->kind = PLAN_ARCHIVED_FINISH; /* stopped between adopt and rows */
			return;
		}
		struct cat_upl_seg *rows = NULL;
		size_t nrows = 1;
		if (!p->no_store && !x->unlisted[0] && has_manifest(dir) &&
		    cat_upl_segs(x->cat, bc, &rows, &nrows) == 0 && nrows == 0 &&
		    cat_upl_tape_get(x->cat, bc, &gen, sstate, sizeof(sstate)) == 0 && !sstate[0] &&
		    recovered_unlisted(x, bc)) {
			free(rows);
			p->kind = PLAN_LOCAL_STORE; /* see "A store that cannot be listed" */
			return;
		}
		free(rows);
		t->result = UPL_KEPT;
		set_where(x, t, &ct);
		upl_errmsg(t->reason, sizeof(t->reason), "known to the catalog");
		return;
	}
	if (p->blank) {
		p->kind = PLAN_BLANK;
		(*need)++;
		return;
	}
	if (p->local && plan_local_one(x, p, need))
		return;
	struct shelf_last_key lk = {""};
	upl_key_tape(x->c, bc, "manifest/", key);
	struct store_list_opts lo = {.prefix = key};
	int rc = store_list(x->st, &lo, shelf_last_cb, &lk, &se);
	if (rc) {
		t->result = UPL_FAILED;
		upl_errmsg(t->reason, sizeof(t->reason), "cannot list %s: %s", key,
			   se.msg[0] ? se.msg : strerror(-rc));
		return;
	}
	if (!lk.key[0]) {
		t->result = UPL_SKIPPED;
		upl_errmsg(t->reason, sizeof(t->reason),
			   "no manifest in the store (nothing under %s)", key);
		return;
	}
	char state[32];
	rc = read_state(x->st, x->c, bc, state, t->reason, sizeof(t->reason));
	if (rc) {
		t->result = UPL_FAILED;
		return;
	}
	if (strcmp(state, "ARCHIVED") == 0) {
		p->kind = PLAN_ARCHIVED;
	} else {
		p->kind = PLAN_AVAILABLE;
		(*need)++;
	}
}

/* Enough free storage slots for the tapes to recover AVAILABLE? */
static int check_slots(struct rebuild *x, size_t need, char *err, size_t errlen)
{
	struct cat_element *els;
	struct cat_library info;
	size_t n, free_slots = 0;
	if (!need)
		return 0;
	int rc = lib_elements(x->lib, &els, &n);
	if (rc) {
		upl_errmsg(err, errlen, "cannot read the library's elements: %s", strerror(-rc));
		return rc;
	}
	for (size_t i = 0; i < n; i++)
		free_slots += els[i].kind == CAT_STORAGE && !els[i].full;
	free(els);
	if (need <= free_slots)
		return 0;
	lib_info(x->lib, &info);
	upl_errmsg(err, errlen,
		   "the store holds %zu tape%s to recover into storage slots (AVAILABLE) but the "
		   "library has %zu free: %zu more needed; make room (vtlctl tape archive or tape "
		   "delete) and run it again, or start on a new data directory with [library] "
		   "slots = %zu or more in vtld.conf (the layout is fixed when the catalog is "
		   "created); nothing was changed",
		   need, need == 1 ? "" : "s", free_slots, need - free_slots,
		   (size_t)info.count[CAT_STORAGE] + need - free_slots);
	return -ENOSPC;
}

/* HEAD every segment the manifest names: each must be a complete object
 * at least as long as its valid bytes. *out: their sizes and ETags. */
static int head_segments(struct rebuild *x, const char *bc, const struct manifest *m,
			 struct store_object_info **out, char *why, size_t cap)
{
	struct store_object_info *v = calloc(m->tm.nseg, sizeof(*v));
	if (!v)
		return -ENOMEM;
	int rc = 0;
	for (size_t j = 0; !rc && j < m->tm.nseg; j++) {
		char key[STORE_KEY_MAX];
		struct store_err se;
		memset(&se, 0, sizeof(se));
		upl_key_seg(x->c, bc, m->tm.segs[j].id, key);
		rc = store_head(x->st, key, &v[j], &se);
		if (rc) {
			upl_errmsg(why, cap, "segment %s is missing from the store: %s", key,
				   se.msg[0] ? se.msg : strerror(-rc));
		} else if (v[j].size < m->tm.segs[j].valid) {
			upl_errmsg(why, cap,
				   "segment %s holds %" PRIu64
				   " bytes but the manifest names %" PRIu64,
				   key, v[j].size, m->tm.segs[j].valid);
			rc = -EBADMSG;
		}
	}
	if (rc)
		free(v);
	else
		*out = v;
	return rc;
}

/* The uploader's memory of a recovered tape: every segment is a complete
 * object, the manifest of generation m->tm.generation is in the store. */
static int seed_rows(struct rebuild *x, const char *bc, const struct manifest *m,
		     const struct store_object_info *info, const char *state, char *why, size_t cap)
{
	int rc = 0;
	for (size_t j = 0; !rc && j < m->tm.nseg; j++) {
		struct cat_upl_seg s;
		memset(&s, 0, sizeof(s));
		s.seg = m->tm.segs[j].id;
		s.valid = m->tm.segs[j].valid;
		s.part_size = upl_adapt_part_size(x->c->part_size);
		s.object_size = info[j].size;
		upl_copy_str(s.object_etag, sizeof(s.object_etag), info[j].etag);
		rc = cat_upl_seg_put(x->cat, bc, &s);
	}
	if (!rc)
		rc = cat_upl_tape_set(x->cat, bc, m->tm.generation, state);
	if (rc)
		upl_errmsg(why, cap, "cannot record its segments in the catalog: %s",
			   strerror(-rc));
	return rc;
}

/* The wrapped data key of the tape at hand (checked by check_keys) into
 * the catalog, once the tape is there and before its medium is in place. */
static int record_key(struct rebuild *x, const char *bc, char *reason, size_t cap)
{
	char id[KEY_ID_LEN + 1];
	if (!x->wrapped || !x->wrapped[0])
		return 0;
	int rc = key_wrapped_master(x->wrapped, id);
	if (!rc)
		rc = cat_key_set(x->cat, bc, x->wrapped, id);
	if (rc)
		upl_errmsg(reason, cap, "cannot record its wrapped data key in the catalog: %s",
			   strerror(-rc));
	return rc;
}

/* A tape encrypted at rest whose wrapped key was found nowhere is left
 * out before it is added: it could not be read. */
static int key_missing(struct rebuild *x, bool at_rest, char *reason, size_t cap)
{
	if (!at_rest || (x->wrapped && x->wrapped[0]))
		return 0;
	if (x->unlisted[0])
		upl_errmsg(reason, cap,
			   "it is encrypted at rest, its cartridge holds no wrapped data key (KEY) "
			   "and the store could not be listed for it; it is left out: run vtlctl "
			   "catalog rebuild again once the store answers");
	else
		upl_errmsg(
		    reason, cap,
		    "it is encrypted at rest but neither the store nor its cartridge holds "
		    "its wrapped data key (KEY), without which it cannot be read; it is left "
		    "out");
	return -ENOKEY;
}

/* An ARCHIVED tape: the manifest only; the data stays on the shelf.
 * finish: the tape is in the catalog already, its rows are not. */
static void recover_by_manifest(struct rebuild *x, struct upl_rebuild_tape *t, bool finish)
{
	const char *bc = t->barcode;
	char pfx[STORE_KEY_MAX];
	struct store_err se;
	struct manifest m;
	struct store_object_info *info = NULL;
	struct shelf_last_key lk = {""};
	memset(&se, 0, sizeof(se));
	memset(&m, 0, sizeof(m));
	rebuild_say(x, "reading the manifest of tape %s", bc);
	upl_key_tape(x->c, bc, "manifest/", pfx);
	struct store_list_opts lo = {.prefix = pfx};
	int rc = store_list(x->st, &lo, shelf_last_cb, &lk, &se);
	if (!rc && !lk.key[0])
		rc = -ENOENT;
	if (!rc)
		rc = shelf_get_all(x->st, lk.key, &m.buf, &m.len, &se);
	if (!rc)
		rc = upl_man_parse(&m);
	if (rc == -EAGAIN)
		upl_errmsg(
		    t->reason, sizeof(t->reason),
		    "its manifest %s is in archive storage and must be restored first, which "
		    "the rebuild does not do yet",
		    lk.key);
	else if (rc)
		upl_errmsg(t->reason, sizeof(t->reason),
			   "no readable manifest in the store (%s): %s", pfx,
			   se.msg[0] ? se.msg : strerror(-rc));
	if (!rc)
		rc = head_segments(x, bc, &m, &info, t->reason, sizeof(t->reason));
	if (!rc && !finish)
		rc = key_missing(x, m.tm.info.at_rest, t->reason, sizeof(t->reason));
	if (!rc && !finish) {
		const char *media = tape_media_name((enum tape_media)m.tm.info.media);
		rc = lib_tape_adopt(x->lib, bc, media ? media : "LTO-8", m.tm.info.capacity,
				    m.tm.info.worm, CAT_ARCHIVED, "recovered from the object store",
				    t->reason, sizeof(t->reason));
	}
	if (!rc)
		rc = record_key(x, bc, t->reason, sizeof(t->reason));
	/* The uploader leaves ARCHIVED tapes alone: no race here. */
	if (!rc)
		rc = seed_rows(x, bc, &m, info, "ARCHIVED", t->reason, sizeof(t->reason));
	t->result = rc == -EEXIST ? UPL_KEPT : rc ? UPL_FAILED : UPL_RECOVERED;
	if (rc == -EEXIST) {
		set_where(x, t, NULL);
		upl_errmsg(t->reason, sizeof(t->reason),
			   "known to the catalog (created while the rebuild ran)");
	} else if (!rc) {
		set_where(x, t, NULL);
		t->segments = m.tm.nseg;
		t->bytes = tape_manifest_bytes(&m.tm);
	}
	free(info);
	upl_man_free(&m);
}

/* An AVAILABLE tape: downloaded, verified, added, recorded, put in place
 * (in that order: see the top of this section). finish: the tape is in the
 * catalog already and its complete download waits in DIR.download. Returns
 * -ECANCELED when the rebuild is to stop. */
static int recover_by_download(struct rebuild *x, struct upl_rebuild_tape *t, bool finish)
{
	const char *bc = t->barcode;
	char dir[PATH_MAX], tmp[PATH_MAX + 16];
	struct manifest m;
	struct store_object_info *info = NULL;
	uint64_t used = 0;
	bool adopted = finish;
	lib_tape_dir(x->lib, bc, dir, sizeof(dir));
	snprintf(tmp, sizeof(tmp), "%s.download", dir);
	int rc;
	if (finish) {
		rc = upl_man_read(tmp, &m);
		if (rc)
			upl_errmsg(t->reason, sizeof(t->reason), "cannot read %s/MANIFEST: %s", tmp,
				   strerror(-rc));
	} else {
		rc = shelf_fetch_tape(x->st, x->c, bc, tmp, &m, x->r, t->reason, sizeof(t->reason));
	}
	if (!rc)
		rc = head_segments(x, bc, &m, &info, t->reason, sizeof(t->reason));
	if (!rc) {
		/* Used bytes from the medium itself, as lib_tape_adopt would
		 * if the medium were in place already. */
		struct tape *tp;
		rc = tape_open(tmp, &tp);
		if (!rc) {
			used = tape_used_bytes(tp);
			rc = tape_close(tp);
		}
		if (rc)
			upl_errmsg(t->reason, sizeof(t->reason), "the downloaded medium %s: %s",
				   tmp, strerror(-rc));
	}
	if (!rc && !finish)
		rc = key_missing(x, m.tm.info.at_rest, t->reason, sizeof(t->reason));
	if (!rc && !finish) {
		const char *media = tape_media_name((enum tape_media)m.tm.info.media);
		rc = lib_tape_adopt(
		    x->lib, bc, media ? media : "LTO-8", m.tm.info.capacity, m.tm.info.worm,
		    CAT_AVAILABLE, "recovered from the object store", t->reason, sizeof(t->reason));
		adopted = rc == 0;
		if (rc == -EEXIST) {
			/* Created by an operator while the rebuild ran. */
			t->result = UPL_KEPT;
			set_where(x, t, NULL);
			upl_errmsg(t->reason, sizeof(t->reason),
				   "known to the catalog (created while the rebuild ran)");
			datadir_rm_rf(tmp);
			free(info);
			upl_man_free(&m);
			return 0;
		}
	}
	if (!rc)
		rc = record_key(x, bc, t->reason, sizeof(t->reason));
	if (!rc)
		rc = seed_rows(x, bc, &m, info, "AVAILABLE", t->reason, sizeof(t->reason));
	if (!rc && (rc = lib_tape_record_used(x->lib, bc, used)) != 0)
		upl_errmsg(t->reason, sizeof(t->reason), "cannot record its used bytes: %s",
			   strerror(-rc));
	if (!rc)
		rc = shelf_install_tape(tmp, dir, t->reason, sizeof(t->reason));
	if (rc && adopted) {
		/* In the catalog, its complete download kept: the next rebuild
		 * finishes the job. */
		size_t l = strlen(t->reason);
		snprintf(t->reason + l, sizeof(t->reason) - l,
			 "; %s is kept and the next catalog rebuild finishes the tape", tmp);
	} else if (rc) {
		datadir_rm_rf(tmp);
	}
	t->result = rc ? UPL_FAILED : UPL_RECOVERED;
	if (!rc) {
		set_where(x, t, NULL);
		t->segments = m.tm.nseg;
		t->bytes = tape_manifest_bytes(&m.tm);
	}
	free(info);
	upl_man_free(&m);
	return rc == -ECANCELED ? rc : 0;
}

/* The newest manifest the store holds of tape bc: true with *sm filled. */
static bool store_manifest(struct rebuild *x, const char *bc, struct manifest *sm)
{
	char pfx[STORE_KEY_MAX];
	struct shelf_last_key lk = {""};
	struct store_err se;
	memset(&se, 0, sizeof(se));
	upl_key_tape(x->c, bc, "manifest/", pfx);
	struct store_list_opts lo = {.prefix = pfx};
	return store_list(x->st, &lo, shelf_last_cb, &lk, &se) == 0 && lk.key[0] &&
	       shelf_get_all(x->st, lk.key, &sm->buf, &sm->len, &se) == 0 && upl_man_parse(sm) == 0;
}

/* What the store holds already of a tape whose local medium is in use,
 * segment by segment, for the uploader, which then sends only the rest. */
static int record_store_copy(struct rebuild *x, const char *bc, const struct manifest *sm)
{
	int rc = 0;
	for (size_t j = 0; !rc && j < sm->tm.nseg; j++) {
		char key[STORE_KEY_MAX];
		struct store_object_info oi;
		struct store_err se;
		memset(&se, 0, sizeof(se));
		upl_key_seg(x->c, bc, sm->tm.segs[j].id, key);
		if (store_head(x->st, key, &oi, &se) || oi.size < sm->tm.segs[j].valid)
			continue; /* missing or short: the uploader sends it */
		struct cat_upl_seg s;
		memset(&s, 0, sizeof(s));
		s.seg = sm->tm.segs[j].id;
		s.valid = sm->tm.segs[j].valid;
		s.part_size = upl_adapt_part_size(x->c->part_size);
		s.object_size = oi.size;
		upl_copy_str(s.object_etag, sizeof(s.object_etag), oi.etag);
		rc = cat_upl_seg_put(x->cat, bc, &s);
	}
	if (!rc)
		rc = cat_upl_tape_set(x->cat, bc, sm->tm.generation, "AVAILABLE");
	return rc;
}

/*
 * A tape recovered from its local medium while the store could not be
 * listed, the store listed now (PLAN_LOCAL_STORE): what the store holds of
 * it is recorded as recover_local_medium would have, and the uploader
 * takes it as its own. A store copy of a later generation is another
 * history of the tape than the one in use: nothing is changed, the
 * uploader goes on holding it, and the reason says how to choose.
 */
static void recover_local_store(struct rebuild *x, struct upl_rebuild_tape *t)
{
	const char *bc = t->barcode;
	char dir[PATH_MAX], pfx[STORE_KEY_MAX];
	struct manifest lm, sm;
	memset(&sm, 0, sizeof(sm));
	lib_tape_dir(x->lib, bc, dir, sizeof(dir));
	upl_key_tape(x->c, bc, "", pfx);
	int rc = upl_man_read(dir, &lm);
	if (rc) {
		t->result = UPL_FAILED;
		upl_errmsg(t->reason, sizeof(t->reason), "cannot read %s/MANIFEST: %s", dir,
			   strerror(-rc));
		return;
	}
	t->result = UPL_KEPT;
	set_where(x, t, NULL);
	if (!store_manifest(x, bc, &sm)) {
		upl_errmsg(t->reason, sizeof(t->reason),
			   "known to the catalog; the store holds no manifest of it");
	} else if (sm.tm.generation > lm.tm.generation) {
		t->result = UPL_FAILED;
		upl_errmsg(
		    t->reason, sizeof(t->reason),
		    "the store holds generation %" PRIu64 " of it, later than the %" PRIu64
		    " of its local medium %s, which was recovered while the store could not "
		    "be listed; nothing is changed and its uploads stay held, so neither copy "
		    "is overwritten: to keep the local medium, move %s* out of the bucket "
		    "and run vtlctl store retry",
		    sm.tm.generation, lm.tm.generation, dir, pfx);
	} else if ((rc = record_store_copy(x, bc, &sm)) != 0) {
		t->result = UPL_FAILED;
		upl_errmsg(t->reason, sizeof(t->reason),
			   "cannot record what the store holds of it: %s", strerror(-rc));
	} else {
		upl_errmsg(t->reason, sizeof(t->reason),
			   "known to the catalog; what the store holds of it is recorded now, its "
			   "uploads go on (at once with vtlctl store retry)");
	}
	upl_man_free(&lm);
	upl_man_free(&sm);
}

/*
 * A tape whose local medium opens: it is the newest copy (the store holds
 * what was uploaded of it), so it is adopted as it is, with no download.
 * What the store holds of it is recorded for the uploader, which then
 * sends only the rest. A store copy of a later generation wins instead
 * (the local one is kept aside).
 */
static int recover_local_medium(struct rebuild *x, struct plan *p)
{
	struct upl_rebuild_tape *t = &p->t;
	const char *bc = t->barcode;
	char dir[PATH_MAX], kept[PATH_MAX + 64];
	struct manifest lm, sm;
	struct tape *tp;
	memset(&sm, 0, sizeof(sm));
	lib_tape_dir(x->lib, bc, dir, sizeof(dir));
	int rc = tape_open(dir, &tp);
	if (rc) {
		t->result = UPL_FAILED;
		upl_errmsg(t->reason, sizeof(t->reason), "the medium in %s does not open: %s", dir,
			   strerror(-rc));
		return 0;
	}
	struct tape_info info = *tape_get_info(tp);
	tape_close(tp);
	rc = upl_man_read(dir, &lm);
	if (rc) {
		t->result = UPL_FAILED;
		upl_errmsg(t->reason, sizeof(t->reason), "cannot read %s/MANIFEST: %s", dir,
			   strerror(-rc));
		return 0;
	}
	bool have_sm = !p->no_store && store_manifest(x, bc, &sm);
	if (have_sm && sm.tm.generation > lm.tm.generation &&
	    upl_set_aside(dir, "older", kept, sizeof(kept)) == 0) {
		upl_man_free(&lm);
		upl_man_free(&sm);
		if (x->log) {
			char msg[2 * PATH_MAX + 200];
			snprintf(msg, sizeof(msg),
				 "catalog rebuild: the store holds a later generation of tape %s "
				 "than %s; the local one is kept as %s",
				 bc, dir, kept);
			x->log(1, msg);
		}
		t->reason[0] = 0;
		return recover_by_download(x, t, false);
	}
	rc = key_missing(x, info.at_rest, t->reason, sizeof(t->reason));
	if (rc) {
		t->result = UPL_FAILED;
		upl_man_free(&lm);
		upl_man_free(&sm);
		return 0;
	}
	const char *media = tape_media_name(info.media);
	rc = lib_tape_adopt(
	    x->lib, bc, media ? media : "LTO-8", info.capacity, info.worm, CAT_AVAILABLE,
	    x->unlisted[0] && !have_sm ? UNLISTED_CAUSE : "recovered from the local medium",
	    t->reason, sizeof(t->reason));
	if (!rc)
		rc = record_key(x, bc, t->reason, sizeof(t->reason));
	if (!rc && have_sm)
		rc = record_store_copy(x, bc, &sm);
	if (rc && !t->reason[0])
		upl_errmsg(t->reason, sizeof(t->reason),
			   "cannot record what the store holds of it: %s", strerror(-rc));
	t->result = rc == -EEXIST ? UPL_KEPT : rc ? UPL_FAILED : UPL_RECOVERED;
	if (!rc) {
		set_where(x, t, NULL);
		t->segments = lm.tm.nseg;
		t->bytes = tape_manifest_bytes(&lm.tm);
		upl_copy_str(t->reason, sizeof(t->reason), "the local medium");
	}
	upl_man_free(&lm);
	upl_man_free(&sm);
	return 0;
}

/*
 * The shelf apart: its tapes/ prefixes join the plan. One whose state
 * object says ARCHIVED is recovered from there, even when the library's
 * location has the barcode too (an archive stopped before it deleted the
 * library's copies). One without is a copy to the shelf that did not
 * finish: the library's location has the tape, or nothing is to be had.
 */
static int plan_shelf(struct rebuild *x, struct plan_list *pl, char *err, size_t errlen)
{
	char pfx[STORE_KEY_MAX];
	struct store_err se;
	memset(&se, 0, sizeof(se));
	snprintf(pfx, sizeof(pfx), "%stapes/", x->shelf_c->prefix);
	rebuild_say(x, "listing the shelf's %s", pfx);
	struct plan_list ps = {.plen = strlen(pfx)};
	struct store_list_opts lo = {.prefix = pfx, .delimiter = "/"};
	(void)err;
	(void)errlen;
	int rc = store_list(x->shelf_st, &lo, tape_prefix_cb, &ps, &se);
	if (rc) {
		/* Nothing of the shelf is planned: its tapes may be missing. */
		char where[STORE_KEY_MAX + 16];
		snprintf(where, sizeof(where), "the shelf's %s", pfx);
		note_unlisted(x, where, &se, rc);
		ps.n = 0;
		rc = 0;
	}
	size_t nlib = pl->n;
	for (size_t i = 0; !rc && i < ps.n; i++) {
		struct plan *s = &ps.v[i], *p = NULL;
		char state[32];
		for (size_t j = 0; j < nlib && !p; j++)
			if (strcmp(pl->v[j].t.barcode, s->t.barcode) == 0)
				p = &pl->v[j];
		if (read_state(x->shelf_st, x->shelf_c, s->t.barcode, state, s->t.reason,
			       sizeof(s->t.reason)) == 0 &&
		    strcmp(state, "ARCHIVED") != 0) {
			if (p)
				continue; /* the library's location has it */
			s->decided = true;
			s->t.result = UPL_SKIPPED;
			upl_errmsg(
			    s->t.reason, sizeof(s->t.reason),
			    "an archive to the shelf (%s%s/) that did not finish: its state "
			    "object does not say ARCHIVED, and the library's location has no "
			    "such tape",
			    pfx, s->t.barcode);
		} else if (s->t.reason[0]) {
			s->decided = true; /* the state object is unreadable */
			s->t.result = UPL_FAILED;
		}
		s->shelf = true;
		if (p) {
			*p = *s;
			continue;
		}
		void *v = upl_grow(pl->v, &pl->cap, pl->n, sizeof(*pl->v));
		if (!v) {
			rc = -ENOMEM;
			break;
		}
		pl->v = v;
		pl->v[pl->n++] = *s;
	}
	free(ps.v);
	return rc;
}

/* Point x at the store (and its configuration) that holds the plan's
 * tape: the shelf's or the library's. */
static void use_store_of(struct rebuild *x, const struct plan *p)
{
	x->st = p->shelf ? x->shelf_st : x->lib_st;
	x->c = p->shelf ? x->shelf_c : x->lib_c;
}

/*
 * The library record (vtl/record.h): its pools before any tape is added,
 * so that each tape can be put back in its own, and the blank tapes it
 * names. When it cannot be had, r->warning says what may be missing and
 * how to get it, for the report: -ENOENT when the store has none (a
 * library of before pools, one whose record was never written, or a store
 * that is not the one the library wrote to), and every tape then goes to
 * `default`, unlocked, as it was.
 */
static int record_read(struct rebuild *x, struct record *rec)
{
	char key[STORE_KEY_MAX], why[256];
	uint8_t *text = NULL;
	size_t len = 0;
	struct store_err se;
	memset(&se, 0, sizeof(se));
	snprintf(key, sizeof(key), "%s%s", x->lib_c->prefix, RECORD_KEY);
	int rc = shelf_get_all(x->lib_st, key, &text, &len, &se);
	if (rc)
		upl_errmsg(why, sizeof(why), "%s",
			   rc == -ENOENT ? "the store holds none"
			   : se.msg[0]	 ? se.msg
					 : strerror(-rc));
	if (!rc) {
		rc = record_parse((const char *)text, len, rec, why, sizeof(why));
		free(text);
	}
	if (rc) {
		upl_errmsg(x->r->warning, sizeof(x->r->warning),
			   "the library record %s cannot be read (%s): tapes never loaded (blank, "
			   "with no medium and no object of their own, named only there) may be "
			   "missing from the catalog, and pools and locks are not restored; to get "
			   "them, make the store that holds the record reachable under [store] and "
			   "run vtlctl catalog rebuild, which adds only what the catalog lacks",
			   key, why);
		if (x->log)
			x->log(1, x->r->warning);
		rebuild_say(x, "the library record %s cannot be read (%s)", key, why);
		return rc;
	}
	for (size_t i = 0; i < rec->n_pools; i++) {
		struct cat_pool have;
		char err[LIB_ERR_MAX];
		if (rec->pools[i].builtin)
			continue;
		if (lib_pool_get(x->lib, rec->pools[i].name, &have, err, sizeof(err)) == 0) {
			if (have.lock != rec->pools[i].lock ||
			    have.retention_days != rec->pools[i].retention_days ||
			    strcmp(have.storage_class, rec->pools[i].storage_class) != 0)
				rebuild_say(x,
					    "pool %s exists here with other settings than the "
					    "library record's; it is kept as it is",
					    have.name);
			continue;
		}
		if (lib_pool_create(x->lib, &rec->pools[i], err, sizeof(err)))
			rebuild_say(x, "pool %s of the library record: %s", rec->pools[i].name,
				    err);
		else
			rebuild_say(x, "pool %s restored from the library record",
				    rec->pools[i].name);
	}
	return 0;
}

/* After the tapes: the automatic creation policies, which would otherwise
 * take barcodes the store's tapes still had to claim. */
static void record_policies(struct rebuild *x, const struct record *rec)
{
	struct cat_autocreate *have;
	size_t n = 0;
	if (lib_autocreates(x->lib, &have, &n))
		return;
	for (size_t i = 0; i < rec->n_policies; i++) {
		bool known = false;
		char err[LIB_ERR_MAX];
		for (size_t j = 0; j < n; j++)
			known |= strcmp(have[j].prefix, rec->policies[i].prefix) == 0;
		if (known)
			continue;
		if (lib_autocreate_set(x->lib, &rec->policies[i], err, sizeof(err)))
			rebuild_say(x, "autocreate policy %s of the library record: %s",
				    rec->policies[i].prefix, err);
		else
			rebuild_say(x, "autocreate policy %s restored from the library record",
				    rec->policies[i].prefix);
	}
	free(have);
}

/* A tape just recovered gets the pool and lock the record kept. */
static void record_tape_back(struct rebuild *x, const struct record *rec,
			     struct upl_rebuild_tape *t)
{
	const struct record_tape *rt = record_tape(rec, t->barcode);
	char err[LIB_ERR_MAX];
	if (!rt || t->result != UPL_RECOVERED)
		return;
	if (lib_tape_restore(x->lib, t->barcode, rt->pool, rt->lock, rt->retain_until, err,
			     sizeof(err)))
		rebuild_say(x, "tape %s: its pool %s and lock are not restored: %s", t->barcode,
			    rt->pool, err);
}

/*
 * Before anything changes: every tape to recover that is encrypted at rest
 * (a KEY in the store, or in its cartridge directory) must open with a
 * master key vtld holds (docs/design.md, "Disaster recovery"). Else the
 * rebuild refuses as a whole, naming the tapes, the master ids and the fix.
 */
static int check_keys(struct rebuild *x, struct plan_list *pl, char *err, size_t errlen)
{
	const struct key_master *cur = lib_master_key(x->lib, false);
	const struct key_master *prev = lib_master_key(x->lib, true);
	size_t bad = 0, len = 0;
	char names[1024] = "";
	int first = 0;
	for (size_t i = 0; i < pl->n; i++) {
		struct plan *p = &pl->v[i];
		if (p->kind == PLAN_DONE || p->kind == PLAN_BLANK || p->kind == PLAN_LOCAL_STORE)
			continue; /* a blank tape gets its data key at its first load */
		char path[PATH_MAX];
		struct store_err se;
		int rc = -ENOENT;
		if (p->kind == PLAN_LOCAL &&
		    datadir_tape_key(lib_data_dir(x->lib), p->t.barcode, path, sizeof(path)) == 0)
			rc = upl_read_key_file(path, p->wrapped, sizeof(p->wrapped));
		/* A local medium's KEY file may be what a crash left out: the
		 * store's copy then. */
		if (rc == -ENOENT && !(p->kind == PLAN_LOCAL && p->no_store)) {
			use_store_of(x, p);
			rc = upl_get_key(x->st, x->c, p->t.barcode, p->wrapped, sizeof(p->wrapped),
					 &se);
			if (rc && rc != -ENOENT) {
				upl_errmsg(
				    err, errlen,
				    "catalog rebuild refused, nothing was changed: cannot read "
				    "the KEY of tape %s in the store: %s",
				    p->t.barcode, se.msg[0] ? se.msg : strerror(-rc));
				return rc;
			}
		}
		if (rc) {
			p->wrapped[0] = 0; /* not encrypted at rest */
			continue;
		}
		unsigned char dk[KEY_BYTES];
		rc = cur ? key_unwrap(cur, p->t.barcode, p->wrapped, dk) : -ENOKEY;
		if (rc == -ENOKEY && prev)
			rc = key_unwrap(prev, p->t.barcode, p->wrapped, dk);
		OPENSSL_cleanse(dk, sizeof(dk));
		if (!rc)
			continue;
		char id[KEY_ID_LEN + 1] = "?";
		key_wrapped_master(p->wrapped, id);
		if (!bad++)
			first = rc;
		if (len < sizeof(names) - 64) {
			int n = snprintf(names + len, sizeof(names) - len, "%s%s (master key %s%s)",
					 len ? ", " : "", p->t.barcode, id,
					 rc == -ENOKEY ? "" : ", its wrap does not open with it");
			len += n > 0 ? (size_t)n : 0;
		}
	}
	if (!bad)
		return 0;
	upl_errmsg(err, errlen,
		   "catalog rebuild refused, nothing was changed: %zu tape%s encrypted at rest "
		   "whose data key does not open with %s%s%s%s: %s; configure [encryption] mode "
		   "= library with the master key of that id (master_key_file or key_command; "
		   "during a rotation the old one as previous_key_file), restart vtld and run "
		   "the rebuild again",
		   bad, bad == 1 ? " is" : "s are", cur ? "the configured master key " : "",
		   cur ? cur->id : "any configured master key (none is configured)",
		   prev ? " or the previous one " : "", prev ? prev->id : "", names);
	return first == -ENOKEY ? -ENOKEY : -EKEYREJECTED;
}

/*
 * The blank tapes the library record names (record.c): a tape whose medium
 * was never made has no prefix in the store and no local medium, and the
 * record is all that says it exists. One that has either is planned from
 * that, as before.
 */
static int plan_blanks(struct rebuild *x, struct plan_list *pl, const struct record *rec)
{
	size_t known = pl->n;
	if (x->unlisted[0])
		return 0; /* it may have been written since: "A store that cannot be listed" */
	for (size_t i = 0; i < rec->n_tapes; i++) {
		const struct record_tape *rt = &rec->tapes[i];
		bool there = false;
		if (!rt->blank)
			continue;
		for (size_t j = 0; j < known && !there; j++)
			there = strcmp(pl->v[j].t.barcode, rt->barcode) == 0;
		if (there)
			continue;
		void *v = upl_grow(pl->v, &pl->cap, pl->n, sizeof(*pl->v));
		if (!v)
			return -ENOMEM;
		pl->v = v;
		struct plan *p = &pl->v[pl->n++];
		memset(p, 0, sizeof(*p));
		upl_copy_str(p->t.barcode, sizeof(p->t.barcode), rt->barcode);
		p->no_store = true;
		p->blank = rt;
	}
	return 0;
}

/* A blank tape from the record: a catalog row, its medium made at its
 * first load, as when it was created. */
static void recover_blank(struct rebuild *x, struct plan *p)
{
	struct upl_rebuild_tape *t = &p->t;
	const struct record_tape *rt = p->blank;
	int rc = lib_tape_adopt_blank(x->lib, t->barcode, rt->media, rt->capacity, rt->worm,
				      rt->clean_max, rt->at_rest,
				      "recovered by catalog rebuild: a blank tape of the library "
				      "record",
				      t->reason, sizeof(t->reason));
	if (rc) {
		t->result = UPL_FAILED;
		return;
	}
	t->result = UPL_RECOVERED;
	t->segments = 0;
	upl_errmsg(t->reason, sizeof(t->reason), "the library record (a blank tape, never loaded)");
	set_where(x, t, NULL);
}

static int rebuild_run(struct lib *lib, struct store *st, const struct store_config *c,
		       struct store *shelf_st, const struct store_config *shelf_c, upl_log_fn log,
		       struct upl_rebuild *r, char *err, size_t errlen)
{
	char pfx[STORE_KEY_MAX], path[PATH_MAX + 16];
	struct store_err se;
	memset(&se, 0, sizeof(se));
	memset(r->n, 0, sizeof(r->n));
	r->warning[0] = 0;
	r->unlisted[0] = 0;
	err[0] = 0;
	if (!r->keep_known) {
		struct cat_tape *existing;
		size_t n_existing;
		int rc = lib_tape_list(lib, -1, &existing, &n_existing);
		if (rc)
			return rc;
		free(existing);
		if (n_existing) {
			upl_errmsg(
			    err, errlen,
			    "the catalog already holds %zu tape%s; --rebuild-catalog needs an "
			    "empty data directory (to add the store's other tapes to this "
			    "library, start vtld without it and run vtlctl catalog rebuild)",
			    n_existing, n_existing == 1 ? "" : "s");
			return -EEXIST;
		}
	}
	struct rebuild x = {.lib = lib,
			    .st = st,
			    .c = c,
			    .lib_st = st,
			    .lib_c = c,
			    .shelf_st = shelf_st,
			    .shelf_c = shelf_c,
			    .log = log,
			    .r = r};
	datadir_catalog(lib_data_dir(lib), path, sizeof(path));
	int rc = cat_open(path, &x.cat);
	if (rc) {
		upl_errmsg(err, errlen, "cannot open the catalog %s: %s", path, strerror(-rc));
		return rc;
	}
	struct record rec;
	memset(&rec, 0, sizeof(rec));
	bool have_rec = record_read(&x, &rec) == 0;
	snprintf(pfx, sizeof(pfx), "%stapes/", c->prefix);
	rebuild_say(&x, "listing %s", pfx);
	struct plan_list pl = {.plen = strlen(pfx)};
	struct store_list_opts lo = {.prefix = pfx, .delimiter = "/"};
	rc = store_list(st, &lo, tape_prefix_cb, &pl, &se);
	if (rc) {
		/* The prefixes listed before the failure are real: kept. */
		note_unlisted(&x, pfx, &se, rc);
		rc = 0;
	}
	if (shelf_st)
		rc = plan_shelf(&x, &pl, err, errlen);
	if (!rc)
		rc = plan_local(&x, &pl, err, errlen);
	if (!rc && plan_blanks(&x, &pl, &rec))
		rc = -ENOMEM;
	size_t need = 0;
	for (size_t i = 0; !rc && i < pl.n; i++) {
		if (shelf_rebuild_cancelled(r)) {
			rc = -ECANCELED;
			break;
		}
		if (pl.v[i].decided)
			continue;
		use_store_of(&x, &pl.v[i]);
		rebuild_say(&x, "looking at %stapes/%s/ (%zu of %zu)", x.c->prefix,
			    pl.v[i].t.barcode, i + 1, pl.n);
		plan_one(&x, &pl.v[i], &need);
	}
	if (!rc)
		rc = check_keys(&x, &pl, err, errlen);
	if (!rc)
		rc = check_slots(&x, need, err, errlen);
	met_rebuild(0, (uint32_t)pl.n);
	for (size_t i = 0; !rc && i < pl.n; i++) {
		struct plan *p = &pl.v[i];
		if (p->kind != PLAN_DONE && shelf_rebuild_cancelled(r)) {
			rc = -ECANCELED;
			break;
		}
		use_store_of(&x, p);
		x.wrapped = p->wrapped;
		if (p->kind == PLAN_ARCHIVED || p->kind == PLAN_ARCHIVED_FINISH)
			recover_by_manifest(&x, &p->t, p->kind == PLAN_ARCHIVED_FINISH);
		else if (p->kind == PLAN_LOCAL)
			rc = recover_local_medium(&x, p);
		else if (p->kind == PLAN_LOCAL_STORE)
			recover_local_store(&x, &p->t);
		else if (p->kind == PLAN_BLANK)
			recover_blank(&x, p);
		else if (p->kind != PLAN_DONE)
			rc = recover_by_download(&x, &p->t, p->kind == PLAN_FINISH);
		record_tape_back(&x, &rec, &p->t);
		rebuild_report(&x, &p->t);
		met_rebuild((uint32_t)(i + 1), (uint32_t)pl.n);
	}
	if (!rc)
		record_policies(&x, &rec);
	if (!rc)
		unlisted_warning(&x, &rec, have_rec);
	record_free(&rec);
	if (rc == -ECANCELED)
		upl_errmsg(
		    err, errlen,
		    "catalog rebuild stopped: vtld is shutting down (%zu tape%s recovered so "
		    "far); run vtlctl catalog rebuild again to go on",
		    r->n[UPL_RECOVERED], r->n[UPL_RECOVERED] == 1 ? "" : "s");
	if (!rc && r->n[UPL_FAILED]) {
		upl_errmsg(err, errlen,
			   "%zu tape%s could not be recovered (the reasons are above); %s",
			   r->n[UPL_FAILED], r->n[UPL_FAILED] == 1 ? "" : "s",
			   r->keep_known
			       ? "fix the cause and run vtlctl catalog rebuild again: it recovers "
				 "only what the catalog lacks"
			       : "the others are in the catalog: fix the cause, start vtld without "
				 "--rebuild-catalog and run vtlctl catalog rebuild");
		rc = -EIO;
	}
	free(pl.v);
	cat_close(x.cat);
	return rc;
}

int upl_recover_from_store(struct lib *lib, struct store *st, const struct store_config *c,
			   upl_log_fn log, struct upl_rebuild *r, char *err, size_t errlen)
{
	struct store *shelf;
	struct store_config sc;
	int rc = store_config_open_shelf(c, lib_data_dir(lib), st, &shelf, &sc, err, errlen);
	if (rc)
		return rc;
	rc = rebuild_run(lib, st, c, shelf, &sc, log, r, err, errlen);
	store_config_close_shelf(shelf, st);
	return rc;
}

int upl_rebuild_catalog(struct upl *u, struct upl_rebuild *r, char *err, size_t errlen)
{
	if (strcmp(u->cfg.type, "local") == 0 && !u->cfg.path[0]) {
		upl_errmsg(err, errlen,
			   "vtld has no [store] configured: its objects go to %s/store, inside the "
			   "data directory whose catalog would be rebuilt; set [store] type = s3 "
			   "with endpoint and bucket (or type = local with path = a directory "
			   "outside the data directory) in vtld.conf and restart vtld",
			   lib_data_dir(u->lib));
		return -ENODEV;
	}
	r->keep_known = true;
	return rebuild_run(u->lib, u->st, &u->cfg, u->shelf_st, &u->shelf_cfg, u->log, r, err,
			   errlen);
}

/*
 * An earlier library's record (record.h) in the store naming tapes: 1 with
 * found saying so. A library whose tapes were never loaded has no object
 * under tapes/, and its record is all that says they exist. 0: no record,
 * or one naming no tape (the uploader's record_ours writes over it).
 */
static int record_names_tapes(struct store *st, const struct store_config *c, char *found,
			      size_t cap)
{
	char key[STORE_KEY_MAX], why[256];
	uint8_t *text = NULL;
	size_t len = 0, blank = 0;
	struct store_err se;
	struct record rec;
	memset(&se, 0, sizeof(se));
	snprintf(key, sizeof(key), "%s%s", c->prefix, RECORD_KEY);
	int rc = shelf_get_all(st, key, &text, &len, &se);
	if (rc == -ENOENT)
		return 0;
	if (rc) {
		upl_errmsg(found, cap, "cannot read %s: %s", key,
			   se.msg[0] ? se.msg : strerror(-rc));
		return rc;
	}
	rc = record_parse((const char *)text, len, &rec, why, sizeof(why));
	free(text);
	if (rc || !rec.n_tapes) {
		if (!rc)
			record_free(&rec);
		return 0;
	}
	for (size_t i = 0; i < rec.n_tapes; i++)
		blank += rec.tapes[i].blank;
	upl_errmsg(found, cap, "its library record %s names %zu tape%s, %zu never loaded, first %s",
		   key, rec.n_tapes, rec.n_tapes == 1 ? "" : "s", blank, rec.tapes[0].barcode);
	record_free(&rec);
	return 1;
}

int upl_store_holds_tapes(struct store *st, const struct store_config *c, const char *data_dir,
			  char *found, size_t cap)
{
	struct store *shelf;
	struct store_config sc;
	char pfx[STORE_KEY_MAX], key[STORE_KEY_MAX] = "";
	int rc = store_config_open_shelf(c, data_dir, st, &shelf, &sc, found, cap);
	if (rc)
		return rc;
	for (int i = 0; i < 2 && !rc && !key[0]; i++) {
		struct store *where = i ? shelf : st;
		struct store_err se;
		memset(&se, 0, sizeof(se));
		if (!where)
			continue;
		snprintf(pfx, sizeof(pfx), "%stapes/", i ? sc.prefix : c->prefix);
		struct store_list_opts lo = {.prefix = pfx, .page_size = 1};
		rc = store_list(where, &lo, upl_any_key, key, &se);
		if (rc < 0)
			upl_errmsg(found, cap, "cannot list %s: %s", pfx,
				   se.msg[0] ? se.msg : strerror(-rc));
	}
	store_config_close_shelf(shelf, st);
	if (rc < 0)
		return rc;
	if (!key[0])
		return record_names_tapes(st, c, found, cap);
	upl_errmsg(found, cap, "%s", key);
	return 1;
}
