/*
 * media.c - the library's cartridges on local disk: finding them, telling
 * a cartridge from leftovers, and repairing a damaged one.
 *
 * What it keeps:
 *   - A damaged or missing MANIFEST is rebuilt from what survives
 *     (tape_repair, scsi/tape_repair.c) with the catalog's facts as the
 *     hint, after start for every cartridge and before a load that fails
 *     on it; what was done is logged once, at warning level, naming the
 *     file.
 *   - A tape the catalog marked IRRECOVERABLE because its medium could not
 *     be opened goes back to the state it had as soon as the medium opens
 *     again (repaired, or put back by a person): that state is never
 *     frozen.
 *   - A start does not wait for the check of every cartridge: the ones in
 *     drives are checked before they load, the others by a thread while
 *     the library serves (the media pass), each directory opened once: its
 *     manifest read and checked, the partial downloads of evicted segments
 *     a crash left removed (tape_manifest_read_sweep). A tape loaded before
 *     the pass came to it has its partial downloads removed by the load;
 *     the uploader, which acts on damaged and lost media, waits for the
 *     end of the pass. The records a crash left after the last manifest
 *     are recovered by tape_open, at the load (docs/design.md, "Start-up
 *     at scale").
 *   - A blank tape whose medium is not made yet (cat_tape.unmade) is
 *     not looked at: it has no medium to check until its first load.
 *   - A directory of DATA_DIR/tapes that holds a cartridge is somebody's
 *     data: nothing here or in the callers formats over it.
 *
 * Functions here take no lock: lib_open calls them before any thread
 * runs, the load path with the changer's lock held, and the pass's thread
 * takes that lock around each tape. State changes go through the
 * lifecycle (lc_apply) like every other.
 */
#include "config.h"

#include "media.h"

#include <pthread.h>
#include <stdatomic.h>

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "catalog/catalog_key.h"
#include "catalog/catalog_upl.h"
#include "datadir.h"
#include "library_int.h"
#include "scsi/tape.h"

int media_info_of(const struct cat_tape *t, struct tape_info *info)
{
	enum tape_media m = TAPE_LTO8;
	int rc = tape_media_parse(t->media, &m) ? -EINVAL : 0;

	memset(info, 0, sizeof(*info));
	snprintf(info->barcode, sizeof(info->barcode), "%s", t->barcode);
	snprintf(info->serial, sizeof(info->serial), "%s", t->barcode);
	info->media = m;
	info->capacity = t->capacity;
	info->write_protect = t->write_protect;
	info->worm = t->worm;
	info->created = (uint64_t)(t->created / 1000);
	return rc;
}

int media_repair(struct lib *lib, const struct cat_tape *t)
{
	char dir[PATH_MAX];
	struct tape_info hint;
	struct tape_repair rep;
	uint64_t gen = 0;
	char sstate[32];

	lib_tape_dir(lib, t->barcode, dir, sizeof(dir));
	/* An unknown media name leaves LTO-8: the records hold the data. */
	media_info_of(t, &hint);
	/* A tape with a data key is encrypted at rest, whatever is left of
	 * its manifests. */
	struct cat_key_row key;
	hint.at_rest = cat_key_get(lib_catalog(lib), t->barcode, &key) == 0;
	/* Above the store's generation, so that the uploader sends it. */
	cat_upl_tape_get(lib_catalog(lib), t->barcode, &gen, sstate, sizeof(sstate));
	int rc = tape_repair(dir, &hint, gen, &rep);
	if (rc == -ENOENT)
		return rc; /* no local medium: the caller knows whether one is due */
	if (rc < 0) {
		lib_say(lib, 0,
			"tape %s: the medium in %s cannot be opened and what survives of it "
			"cannot say what it holds (%s); it stays as it is for a person to look "
			"at (docs/library.md, \"Damaged media\")",
			t->barcode, dir, strerror(-rc));
		return rc;
	}
	if (!rep.repaired)
		return 0;
	lib_say(lib, 1,
		"tape %s: %s/MANIFEST was %s; rebuilt it from the records of %zu segment%s "
		"and %s: %" PRIu64 " objects, %" PRIu64 " bytes%s%s; the old file is kept as "
		"MANIFEST.damaged",
		t->barcode, dir, rep.cause == -ENOENT ? "missing" : "damaged (it fails its CRC)",
		rep.segments, rep.segments == 1 ? "" : "s",
		rep.from_prev ? "MANIFEST.prev" : "the catalog's facts", rep.objects, rep.bytes,
		rep.stepped ? "; a damaged record was stepped over (it reads as MEDIUM ERROR)" : "",
		rep.unplaced ? "; a segment file whose first record is unreadable was left out"
			     : "");
	return 1;
}

/* The state a tape had before it was marked IRRECOVERABLE: the newest
 * event into that state says (cat_events lists oldest first). */
enum cat_state media_state_before(struct lib *lib, const struct cat_tape *t)
{
	struct cat_event *ev;
	size_t n;
	enum cat_state s = t->write_protect ? CAT_RETRIEVED : CAT_AVAILABLE;

	if (cat_events(lib_catalog(lib), t->barcode, 50, &ev, &n) == 0) {
		for (size_t i = n; i-- > 0;) {
			enum cat_state from, to;

			if (cat_state_parse(ev[i].to_state, &to) == 0 && to == CAT_IRRECOVERABLE &&
			    cat_state_parse(ev[i].from_state, &from) == 0 &&
			    from != CAT_IRRECOVERABLE) {
				s = from;
				break;
			}
		}
		free(ev);
	}
	return s; /* the lifecycle keeps only states whose medium is here */
}

/* States in which the tape's medium is in DATA_DIR/tapes. */
static bool holds_medium(enum cat_state s)
{
	return s == CAT_AVAILABLE || s == CAT_RETRIEVED || s == CAT_IN_TRANSIT_TO_SHELF;
}

/* A catalog rebuild stopped between adding the tape and putting its
 * download in place: the next rebuild finishes it (vtl/rebuild.c). */
static bool downloading(const char *dir)
{
	char tmp[PATH_MAX + 16];
	snprintf(tmp, sizeof(tmp), "%s.download", dir);
	return access(tmp, F_OK) == 0;
}

/* One tape's check (at start, or by the pass): t as the catalog has it
 * now. */
static void check_tape(struct lib *lib, const struct cat_tape *t)
{
	char dir[PATH_MAX];
	struct tape *m;

	/* A blank tape never loaded has no medium to check: it is made at
	 * its first load, which takes what a crash left of that (library.c,
	 * lib_make_medium). */
	if (t->state == CAT_DELETED || t->state == CAT_CREATING || t->unmade)
		return;
	lib_tape_dir(lib, t->barcode, dir, sizeof(dir));
	/* A manifest that reads and passes its checks needs no repair, and
	 * the tape nothing more here: one read of a small file, no catalog
	 * query. The same open of the directory removes the partial
	 * downloads of evicted segments a crash left (nothing fetches into a
	 * tape's directory before its check: media_pass_loading). */
	struct tape_manifest man;
	int mrc = tape_manifest_read_sweep(dir, &man, NULL);
	tape_manifest_free(&man);
	if (t->state != CAT_IRRECOVERABLE && mrc == 0)
		return;
	int rc = media_repair(lib, t);
	if (rc < 0 && holds_medium(t->state) && !downloading(dir)) {
		/* Neither here whole nor repairable: IRRECOVERABLE, which the
		 * uploader answers with the store's copy if there is one
		 * (vtl/shelf.c, shelf_restore_damaged). */
		if (lc_apply(lib_catalog(lib), t, LC_MEDIUM_LOST, NULL, 0,
			     rc == -ENOENT ? "recovery: the medium is missing"
					   : "recovery: the medium cannot be repaired",
			     NULL, 0) == 0)
			lib_say(lib, 0,
				"tape %s is IRRECOVERABLE: its medium %s is %s; it comes back "
				"from the object store if the store holds it",
				t->barcode, dir,
				rc == -ENOENT ? "missing" : "damaged beyond repair");
		return;
	}
	if (rc < 0 || t->state != CAT_IRRECOVERABLE)
		return;
	if (tape_open(dir, &m) != 0)
		return;
	tape_close(m);
	struct lc_facts facts = {.was = media_state_before(lib, t)};
	if (lc_apply(lib_catalog(lib), t, LC_MEDIUM_BACK, &facts, 0,
		     "recovery: the medium opens again", NULL, 0) == 0) {
		struct cat_tape now;
		if (cat_tape_get(lib_catalog(lib), t->barcode, &now) == 0)
			lib_say(lib, 1, "tape %s: its medium opens again; %s -> %s", t->barcode,
				cat_state_name(CAT_IRRECOVERABLE), cat_state_name(now.state));
	}
}

/* ---- The check of every tape, after start ------------------------------- */

/* The pass's nice increment over vtld's (setpriority(2)). */
#define PASS_NICE 10

struct pass_tape {
	char bc[CAT_BARCODE_MAX + 1];
	bool irrecoverable; /* when listed */
};

/* The tapes to check, listed by the pass's thread after start ascending
 * by barcode; bc, done, n and listed under the library's lock. */
struct media_pass {
	struct pass_tape *bc;
	bool *done;
	size_t n;
	bool listed;
	pthread_t th;
	bool started;
	atomic_bool over;
	atomic_bool stop;
};

static int cmp_bc(const void *a, const void *b)
{
	return strcmp(((const struct pass_tape *)a)->bc, ((const struct pass_tape *)b)->bc);
}

static int cmp_key_bc(const void *key, const void *elem)
{
	return strcmp(key, ((const struct pass_tape *)elem)->bc);
}

/* Check tape i of the pass (library lock held, or no thread yet). */
static void pass_check(struct lib *lib, struct media_pass *p, size_t i)
{
	if (p->done[i])
		return; /* loaded since the list: its load did (media_pass_loading) */
	p->done[i] = true;
	char dir[PATH_MAX];
	struct tape_manifest man;
	lib_tape_dir(lib, p->bc[i].bc, dir, sizeof(dir));
	/* Not in a drive, so nothing fetches into its directory: the common
	 * case, a manifest that reads and a tape that was not IRRECOVERABLE,
	 * costs no catalog query. A tape marked IRRECOVERABLE since the list
	 * was by a failed load, which set done[i]. */
	if (!p->bc[i].irrecoverable) {
		int rc = tape_manifest_read_sweep(dir, &man, NULL);
		tape_manifest_free(&man);
		if (rc == 0)
			return;
	}
	/* Something to look at: the tape as the catalog has it now
	 * (deleted or moved since the list), then the whole check. */
	struct cat_tape t;
	if (cat_tape_get(lib_catalog(lib), p->bc[i].bc, &t) == 0 &&
	    !(t.in_library && t.kind == CAT_DRIVE))
		check_tape(lib, &t);
}

void media_check_tape(struct lib *lib, const struct cat_tape *t)
{
	check_tape(lib, t);
}

void media_pass_prepare(struct lib *lib)
{
	struct media_pass *p = calloc(1, sizeof(*p));

	if (!p) {
		/* Out of memory: every tape now, as before. */
		media_check_all(lib);
		return;
	}
	atomic_init(&p->over, false);
	atomic_init(&p->stop, false);
	lib->media = p;
}

/* The tapes with a medium to check, from cat: the list that grows with
 * the library, so it is read here, after start, on a connection of the
 * pass's own (no lock held), not in lib_open; barcode and state of the
 * made media only (cat_tape_media), so that it costs the commands served
 * meanwhile little memory traffic. */
static int pass_list(struct cat *cat, struct pass_tape **out, size_t *n)
{
	struct cat_tape_medium *tapes;
	size_t nt;
	*out = NULL;
	*n = 0;
	int rc = cat_tape_media(cat, &tapes, &nt);
	if (rc)
		return rc;
	struct pass_tape *v = calloc(nt ? nt : 1, sizeof(*v));
	if (!v) {
		free(tapes);
		return -ENOMEM;
	}
	for (size_t i = 0; i < nt; i++) {
		snprintf(v[i].bc, sizeof(v[i].bc), "%s", tapes[i].barcode);
		v[i].irrecoverable = tapes[i].state == CAT_IRRECOVERABLE;
	}
	free(tapes);
	qsort(v, nt, sizeof(*v), cmp_bc); /* the catalog's order is its collation's */
	*out = v;
	*n = nt;
	return 0;
}

/* List the tapes (on a connection of its own when it opens, else on the
 * library's under its lock) and install the list under the lock. */
static int pass_install(struct lib *lib, struct media_pass *p)
{
	char path[PATH_MAX];
	struct cat *own = NULL;
	struct pass_tape *v = NULL;
	size_t n = 0;
	int rc = -1;
	if (datadir_catalog(lib_data_dir(lib), path, sizeof(path)) == 0 &&
	    cat_open(path, &own) == 0) {
		rc = pass_list(own, &v, &n);
		cat_close(own);
	}
	lib_lock(lib);
	if (rc)
		rc = pass_list(lib_catalog(lib), &v, &n);
	bool *done = rc ? NULL : calloc(n ? n : 1, sizeof(*done));
	if (!rc && !done)
		rc = -ENOMEM;
	if (!rc) {
		/* The tapes in drives now were loaded before the list (at
		 * start, checked before, or since): swept by their loads and
		 * maybe being read, done like a load after the list. One that
		 * was loaded and unloaded before the list is not in a drive,
		 * so nothing fetches into it: checked like any other. */
		for (size_t d = 0; d < lib->n_drives; d++) {
			struct cat_element e;
			struct pass_tape *hit;
			if (lib_element_at(lib, lib->cdrives[d].address, &e) == 0 && e.full &&
			    (hit = bsearch(e.tape.barcode, v, n, sizeof(*v), cmp_key_bc)) != NULL)
				done[hit - v] = true;
		}
		p->bc = v;
		p->done = done;
		p->n = n;
		p->listed = true;
	} else {
		free(v);
	}
	lib_unlock(lib);
	return rc;
}

static void *pass_main(void *arg)
{
	struct lib *lib = arg;
	struct media_pass *p = lib->media;

	pthread_setname_np(pthread_self(), "vtl-mediacheck"); /* top -H, ps -L */
	/* Behind the commands the library serves meanwhile: the pass is
	 * nobody's wait but the uploader's (a best effort: refused, it runs
	 * at the daemon's priority). */
	id_t tid = (id_t)gettid();
	errno = 0;
	int prio = getpriority(PRIO_PROCESS, tid);
	if (prio != -1 || !errno)
		setpriority(PRIO_PROCESS, tid, prio + PASS_NICE);
	int rc = pass_install(lib, p);
	if (rc)
		lib_say(lib, 0,
			"the check of the media after start cannot list the tapes (%s); a tape's "
			"medium is checked when it loads, and at the next start",
			strerror(-rc));
	for (size_t i = 0; i < p->n && !atomic_load(&p->stop); i++) {
		lib_lock(lib);
		pass_check(lib, p, i);
		lib_unlock(lib);
	}
	atomic_store(&p->over, true);
	return NULL;
}

void media_pass_start(struct lib *lib)
{
	struct media_pass *p = lib->media;

	if (!p)
		return;
	if (pthread_create(&p->th, NULL, pass_main, lib) != 0) {
		/* No thread: every tape now. */
		media_check_all(lib);
		atomic_store(&p->over, true);
		return;
	}
	p->started = true;
}

bool media_pass_over(struct lib *lib)
{
	return !lib->media || atomic_load(&lib->media->over);
}

void media_pass_loading(struct lib *lib, const char *barcode)
{
	struct media_pass *p = lib->media;

	if (!p || atomic_load(&p->over))
		return;
	struct pass_tape *hit =
	    p->listed ? bsearch(barcode, p->bc, p->n, sizeof(*p->bc), cmp_key_bc) : NULL;
	if (p->listed && (!hit || p->done[hit - p->bc]))
		return;
	/* Loaded before the pass came to it (or before its list was made):
	 * its partial downloads go before a read can start one; a damaged
	 * manifest is the load's to repair (lib_move). */
	char dir[PATH_MAX];
	lib_tape_dir(lib, barcode, dir, sizeof(dir));
	tape_remove_fetches(dir);
	if (hit)
		p->done[hit - p->bc] = true;
}

void media_pass_stop(struct lib *lib)
{
	struct media_pass *p = lib->media;

	if (!p)
		return;
	atomic_store(&p->stop, true);
	if (p->started)
		pthread_join(p->th, NULL);
	free(p->bc);
	free(p->done);
	free(p);
	lib->media = NULL;
}

void media_check_all(struct lib *lib)
{
	struct cat_tape *tapes;
	size_t n;

	if (cat_tape_list(lib_catalog(lib), -1, true, &tapes, &n))
		return;
	for (size_t i = 0; i < n; i++)
		check_tape(lib, &tapes[i]);
	free(tapes);
}

int media_scan(const char *data_dir, size_t *count, char *names, size_t cap)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;

	*count = 0;
	if (cap)
		names[0] = 0;
	if (datadir_tapes(data_dir, path, sizeof(path)))
		return -ENAMETOOLONG;
	d = opendir(path);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		char sub[PATH_MAX];

		if (de->d_name[0] == '.')
			continue;
		if (snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name) >= (int)sizeof(sub))
			continue;
		if (tape_probe(sub) != 1)
			continue;
		size_t l = strlen(names);
		if (*count < 3 && l + strlen(de->d_name) + 3 < cap)
			snprintf(names + l, cap - l, "%s%s", l ? ", " : "", de->d_name);
		else if (*count == 3 && l + 5 < cap)
			snprintf(names + l, cap - l, ", ...");
		(*count)++;
	}
	closedir(d);
	return 0;
}
