/*
 * admin.c - the operator's actions (vtlctl, through vtl/ctl.c): create,
 * move, unload, delete, archive and retrieve tapes (see library.h).
 *
 * Each runs under the library's lock and is one or more lifecycle events
 * (vtl/lifecycle.h), each one catalog transaction; what the lifecycle
 * cannot see (a loaded drive, an initiator preventing removal, a full
 * library) is checked here first. Changes an initiator would not see
 * otherwise raise the changer's unit attention, as a real library does
 * when its door is opened.
 */
#include "config.h"

#include "library_int.h"
#include "media.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog_key.h"
#include "datadir.h"
#include "scsi/sense.h"
#include "scsi/tape.h"
#include "util/escape.h"

/* ---- Barcodes and media ------------------------------------------------- */

int lib_barcode_fits(const struct lib *lib, const char *barcode, char *err, size_t errlen)
{
	const struct smc_personality *p = lib->cfg.changer;
	size_t n = strlen(barcode);
	if (!p->max_barcode || n <= p->max_barcode)
		return 0;
	char shown[CAT_BARCODE_MAX * 6 + 1];
	esc_show(shown, sizeof(shown), barcode);
	lib_err(err, errlen,
		"barcode '%s' has %zu characters; the %s changer ([library] changer) takes at most "
		"%u: %s; use a barcode of at most %u characters (e.g. ABC123L8)",
		shown, n, p->name, p->max_barcode, p->max_barcode_why, p->max_barcode);
	return -EINVAL;
}

int lib_barcode_check(const char *barcode, char *err, size_t errlen)
{
	/* Counted in characters, not bytes, and quoted escaped: a barcode
	 * from a request or a store key may hold anything. */
	size_t n = strlen(barcode), chars = 0, bad = 0, bad_at = 0, bad_len = 0;
	for (size_t i = 0; i < n; chars++) {
		size_t k = esc_utf8_len(barcode + i, n - i);
		char c = barcode[i];
		if (!bad && !((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) {
			bad = chars + 1;
			bad_at = i;
			bad_len = k ? k : 1;
		}
		i += k ? k : 1;
	}
	if (!bad && chars >= 5 && chars <= CAT_BARCODE_MAX)
		return 0;
	char shown[CAT_BARCODE_MAX * 6 + 1]; /* 16 of the longest escape */
	esc_show(shown, sizeof(shown), barcode);
	if (chars < 5 || chars > CAT_BARCODE_MAX) {
		lib_err(err, errlen,
			"barcode '%s' has %zu characters; a barcode has 5 to 16 characters A-Z 0-9 "
			"(e.g. ABC123L8)",
			shown, chars);
		return -EINVAL;
	}
	char what[8];
	esc_mem(what, sizeof(what), barcode + bad_at, bad_len);
	lib_err(err, errlen,
		"barcode '%s' has '%s' at position %zu; only A-Z and 0-9 are allowed (upper case)",
		shown, what, bad);
	return -EINVAL;
}

/* LTO labels end in L5..L9 for LTO-5..LTO-9 data cartridges and LV..LZ
 * for the WORM cartridges of the same generations (IBM's LTO bar code
 * label media identifiers: T and U are LTO-3 and LTO-4 WORM, V..Z
 * LTO-5..LTO-9 WORM). */
static bool media_from_barcode(const char *barcode, enum tape_media *m, bool *worm)
{
	size_t n = strlen(barcode);
	if (n < 2 || barcode[n - 2] != 'L')
		return false;
	char c = barcode[n - 1];
	if (c >= '5' && c <= '9') {
		*m = (enum tape_media)(c - '0');
		*worm = false;
		return true;
	}
	if (c >= 'V' && c <= 'Z') {
		*m = (enum tape_media)(TAPE_LTO5 + (c - 'V'));
		*worm = true;
		return true;
	}
	return false;
}

/* Libraries tell a cleaning cartridge by its label's "CLN" prefix (IBM's
 * and Dell's LTO library guides: CLNxxxL1, CLNUxxCU universal cleaning
 * cartridges; StorageTek likewise). */
static bool cleaning_label(const char *barcode)
{
	return strncmp(barcode, "CLN", 3) == 0;
}

/* The label suffix letter of a generation: '5'..'9', or 'V'..'Z' WORM. */
static char barcode_suffix(enum tape_media m, bool worm)
{
	return (char)(worm ? 'V' + ((int)m - TAPE_LTO5) : '0' + (int)m);
}

/* ---- Elements and media ------------------------------------------------- */

static const char *kind_word(enum cat_kind k)
{
	switch (k) {
	case CAT_STORAGE:
		return "slot";
	case CAT_IE:
		return "import/export element";
	case CAT_DRIVE:
		return "drive";
	default:
		return "transport";
	}
}

/* "drive 2", "slot 7", "ie 1": how messages name an element. */
static void elem_name(enum cat_kind k, uint32_t ordinal, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s %u", cat_kind_name(k), ordinal);
}

/* Does the medium hold any data (any object before EOD)? */
static bool holds_data(struct lib *lib, const char *barcode, uint64_t *bytes)
{
	char dir[PATH_MAX];
	struct tape *t;
	bool any = false;
	*bytes = 0;
	datadir_tape(lib->cfg.data_dir, barcode, dir, sizeof(dir));
	if (tape_open(dir, &t) == 0) {
		any = tape_eod(t) > 0;
		*bytes = tape_used_bytes(t);
		tape_close(t);
	}
	return any;
}

/* ---- Operator actions --------------------------------------------------- */

static int get_tape(struct lib *lib, const char *barcode, struct cat_tape *t, char *err,
		    size_t errlen)
{
	int rc = cat_tape_get(lib->cat, barcode, t);
	if (rc == -ENOENT)
		lib_err(err, errlen, "no tape %s in the catalog (vtlctl tape list shows the tapes)",
			barcode);
	else if (rc)
		lib_err(err, errlen, "cannot read tape %s from the catalog: %s", barcode,
			strerror(-rc));
	else if (t->state == CAT_DELETED) {
		lib_err(err, errlen, "tape %s was deleted; its barcode is retired", barcode);
		rc = -ENOENT;
	}
	return rc;
}

static void drive_refusal(const struct cat_tape *t, char *err, size_t errlen, const char *alt)
{
	lib_err(err, errlen, "tape %s is in drive %u; unload it first (vtlctl drive unload %u)%s",
		t->barcode, t->ordinal, t->ordinal, alt);
}

/* count barcodes PREFIX + number + "L" + generation, skipping every
 * barcode the catalog knows (live or deleted). Called with the lock held. */
static int generate_barcodes(struct lib *lib, const char *prefix, size_t count, enum tape_media m,
			     bool worm, char (*out)[17], char *err, size_t errlen)
{
	size_t plen = strlen(prefix);
	if (plen < 1 || plen > 12) {
		lib_err(err, errlen, "prefix '%s' must have 1 to 12 characters A-Z 0-9", prefix);
		return -EINVAL;
	}
	char probe[32];
	snprintf(probe, sizeof(probe), "%sL0000", prefix);
	int rc = lib_barcode_check(probe, NULL, 0);
	if (rc) {
		lib_err(err, errlen, "prefix '%s' must have only characters A-Z 0-9", prefix);
		return rc;
	}
	/* Six characters before the "Lx" suffix, as LTO labels have, and at
	 * least one digit. */
	int width = plen < 6 ? (int)(6 - plen) : 1;
	if (plen + (size_t)width + 2 > CAT_BARCODE_MAX)
		width = (int)(CAT_BARCODE_MAX - 2 - plen);
	uint64_t limit = 1;
	for (int i = 0; i < width; i++)
		limit *= 10;
	size_t made = 0;
	for (uint64_t num = 1; num < limit && made < count; num++) {
		struct cat_tape t;
		char code[64];
		snprintf(code, sizeof(code), "%s%0*" PRIu64 "L%c", prefix, width, num,
			 barcode_suffix(m, worm));
		if (strlen(code) > CAT_BARCODE_MAX)
			break;
		if (lib_barcode_fits(lib, code, err, errlen))
			return -EINVAL;
		if (cat_tape_get(lib->cat, code, &t) == -ENOENT)
			memcpy(out[made++], code, strlen(code) + 1);
	}
	if (made < count) {
		lib_err(err, errlen,
			"prefix %s has room for only %zu more barcodes; choose another prefix",
			prefix, made);
		return -ENOSPC;
	}
	return 0;
}

int lib_tape_create(struct lib *lib, const struct lib_create *req, char (**created)[17],
		    size_t *n_created, char *err, size_t errlen)
{
	enum tape_media forced = TAPE_LTO8;
	if (req->media && tape_media_parse(req->media, &forced)) {
		lib_err(err, errlen,
			"unknown tape type '%s'; use LTO-5, LTO-6, LTO-7, LTO-8 or LTO-9",
			req->media);
		return -EINVAL;
	}
	size_t n = req->prefix ? req->count : req->n;
	if (n == 0) {
		lib_err(err, errlen,
			req->prefix ? "--count must be at least 1" : "no barcode given");
		return -EINVAL;
	}
	if (n > 100000) {
		lib_err(err, errlen, "at most 100000 tapes at once");
		return -EINVAL;
	}
	char(*codes)[17] = calloc(n, sizeof(*codes));
	if (!codes)
		return -ENOMEM;
	if (req->prefix) {
		lib_lock(lib);
		int rc = generate_barcodes(lib, req->prefix, n,
					   req->media ? forced : lib->cfg.default_media, req->worm,
					   codes, err, errlen);
		lib_unlock(lib);
		if (rc) {
			free(codes);
			return rc;
		}
	} else {
		for (size_t i = 0; i < n; i++) {
			int rc = lib_barcode_check(req->barcodes[i], err, errlen);
			if (!rc)
				rc = lib_barcode_fits(lib, req->barcodes[i], err, errlen);
			if (rc) {
				free(codes);
				return rc;
			}
			snprintf(codes[i], 17, "%s", req->barcodes[i]);
			for (size_t j = 0; j < i; j++) {
				if (strcmp(codes[i], codes[j]) == 0) {
					lib_err(
					    err, errlen,
					    "barcode %s is given twice; each tape needs its own",
					    codes[i]);
					free(codes);
					return -EINVAL;
				}
			}
		}
	}
	struct cat_tape *tapes = calloc(n, sizeof(*tapes));
	if (!tapes) {
		free(codes);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		struct cat_tape *t = &tapes[i];
		enum tape_media m = lib->cfg.default_media, label_m;
		bool label_worm = false;
		bool labelled = media_from_barcode(codes[i], &label_m, &label_worm);
		if (req->media)
			m = forced;
		else if (labelled)
			m = label_m;
		if (req->worm && labelled && !label_worm) {
			lib_err(err, errlen,
				"barcode %s is the label of a rewritable LTO-%d cartridge; a WORM "
				"one ends in L%c (or drop --worm)",
				codes[i], (int)label_m, barcode_suffix(label_m, true));
			free(tapes);
			free(codes);
			return -EINVAL;
		}
		/* A WORM label makes a WORM cartridge, as on real media. */
		t->worm = req->worm || label_worm;
		t->clean_max = req->clean_max		  ? req->clean_max
			       : cleaning_label(codes[i]) ? LIB_CLEAN_USES_DEFAULT
							  : 0;
		if (t->clean_max && t->worm) {
			lib_err(err, errlen,
				"tape %s cannot be both a cleaning cartridge and WORM; drop --worm "
				"or choose a label that is not CLN... or L%c",
				codes[i], barcode_suffix(m, true));
			free(tapes);
			free(codes);
			return -EINVAL;
		}
		snprintf(t->barcode, sizeof(t->barcode), "%s", codes[i]);
		snprintf(t->media, sizeof(t->media), "%s", tape_media_name(m));
		snprintf(t->pool, sizeof(t->pool), "%s", req->pool ? req->pool : "default");
		t->capacity = req->size ? req->size : tape_media_capacity(m);
		t->unmade = true;
	}

	lib_lock(lib);
	size_t bad = 0;
	struct cat_pool pool;
	int rc = lib_pool_get_locked(lib, tapes[0].pool, &pool, err, errlen);
	/* A medium directory already holding a cartridge the catalog does
	 * not know (a lost catalog, a copied-in tape) is never replaced. The
	 * directory is looked at first: a new barcode has none, and costs no
	 * catalog query (a batch of 10,000). */
	for (size_t i = 0; i < n && !rc; i++) {
		char dir[PATH_MAX];
		datadir_tape(lib->cfg.data_dir, tapes[i].barcode, dir, sizeof(dir));
		if (tape_probe(dir) == 1 &&
		    cat_tape_get(lib->cat, tapes[i].barcode, &(struct cat_tape){0}) == -ENOENT) {
			lib_err(
			    err, errlen,
			    "%s already holds a cartridge %s that the catalog does not know; it "
			    "is not replaced: bring it into the catalog with vtld "
			    "--rebuild-catalog (or vtlctl catalog rebuild), or move the "
			    "directory away, then create the tape",
			    dir, tapes[i].barcode);
			rc = -EEXIST;
		}
	}
	if (rc) {
		lib_unlock(lib);
		free(tapes);
		free(codes);
		return rc;
	}
	rc = cat_tape_create(lib->cat, tapes, n, req->cause ? req->cause : "created by operator",
			     &bad);
	if (rc == -EEXIST) {
		struct cat_tape old;
		memset(&old, 0, sizeof(old));
		if (cat_tape_get(lib->cat, tapes[bad].barcode, &old) == 0 &&
		    old.state == CAT_DELETED)
			lib_err(
			    err, errlen,
			    "barcode %s belonged to a tape that was deleted; barcodes are never "
			    "reused, choose another",
			    tapes[bad].barcode);
		else
			lib_err(err, errlen,
				"tape %s already exists (%s, %s); choose another barcode",
				tapes[bad].barcode, cat_state_name(old.state), old.location);
	} else if (rc == -ENOSPC) {
		struct cat_element *els;
		size_t n_els, nfree = 0;
		if (cat_elements(lib->cat, &els, &n_els) == 0) {
			for (size_t i = 0; i < n_els; i++)
				nfree += els[i].kind == CAT_STORAGE && !els[i].full;
			free(els);
		}
		lib_err(
		    err, errlen,
		    "the library is full: %zu free storage slot%s for %zu new tape%s; archive or "
		    "delete tapes first (vtlctl tape archive / vtlctl tape delete)",
		    nfree, nfree == 1 ? "" : "s", n, n == 1 ? "" : "s");
	} else if (rc) {
		lib_err(err, errlen, "cannot create the tapes in the catalog: %s", strerror(-rc));
	}
	/* A new tape is a catalog row: its medium (directory, first segment,
	 * manifest) is made at its first load or export (lib_make_medium,
	 * library.c), so a batch of 10,000 makes no inode. The FORMATTED
	 * changes are one transaction; a crash before its commit leaves the
	 * tapes CREATING, and the next start finishes them
	 * (recover_after_crash). */
	size_t formatted = rc ? 0 : n;
	int brc = formatted > 1 ? cat_batch_begin(lib->cat) : 0;
	for (size_t i = 0; !brc && i < formatted; i++) {
		struct cat_tape made;
		struct cat_key_row key;
		int arc = cat_tape_get(lib->cat, tapes[i].barcode, &made);
		/* Encrypted at rest when the library is now: its data key is
		 * made with the row, its medium (and KEY file) at first load. */
		int krc = arc ? 0 : lib_creation_key(lib, &made, true, &key);
		if (krc && krc != -ENOENT) {
			lib_err(err, errlen, "cannot make the data key of tape %s: %s",
				made.barcode, strerror(-krc));
			arc = krc;
		}
		if (!arc)
			arc = lc_apply(lib->cat, &made, LC_FORMATTED, NULL, 0,
				       "created blank; its medium is made at its first load", err,
				       errlen);
		else
			lib_err(err, errlen, "cannot read tape %s back from the catalog: %s",
				tapes[i].barcode, strerror(-arc));
		if (arc) {
			rc = arc;
			break;
		}
	}
	if (formatted > 1 && !brc)
		brc = cat_batch_end(lib->cat, true);
	if (brc) {
		lib_err(err, errlen, "cannot record the new tapes as formatted in the catalog: %s",
			strerror(-brc));
		rc = brc;
	}
	/* New cartridges in the slots: tell the initiators. */
	smc_notify(&lib->changer, ASC_NOT_READY_TO_READY_CHANGE);
	lib_unlock(lib);
	free(tapes);
	if (rc || !created)
		free(codes);
	else
		*created = codes;
	if (n_created)
		*n_created = rc ? 0 : n;
	return rc;
}

int lib_tape_move(struct lib *lib, const char *barcode, enum cat_kind kind, uint32_t ordinal,
		  char *err, size_t errlen)
{
	lib_lock(lib);
	struct cat_tape t;
	struct cat_element d;
	uint16_t dst;
	char name[48];
	int rc = get_tape(lib, barcode, &t, err, errlen);
	if (rc)
		goto out;
	elem_name(kind, ordinal, name, sizeof(name));
	rc = cat_element_find(lib->cat, kind, ordinal, &dst);
	if (rc) {
		lib_err(err, errlen, "this library has no %s %u (%s 1-%u); see vtlctl library show",
			kind_word(kind), ordinal, cat_kind_name(kind), lib->info.count[kind]);
		goto out;
	}
	/* Shelf states, and a damaged tape, are refused before anything
	 * else is looked at. */
	rc = lc_check(&t, lib_move_event(&t, kind), NULL, NULL, NULL, err, errlen);
	if (rc)
		goto out;
	if (t.element == dst)
		goto out; /* already there */
	rc = lib_element_at(lib, dst, &d);
	if (rc)
		goto out;
	if (d.full) {
		lib_err(err, errlen, "%s holds tape %s; choose a free one (vtlctl library show)",
			name, d.tape.barcode);
		rc = -EBUSY;
		goto out;
	}
	if (t.kind == CAT_DRIVE) {
		int di = lib_drive_at(lib, t.element);
		if (di >= 0 && ssc_state(&lib->drives[di]) == SSC_LOADED) {
			drive_refusal(&t, err, errlen, "");
			rc = -EBUSY;
			goto out;
		}
	}
	struct smc_refusal why;
	err[0] = 0;
	rc = lib_move(lib, &t, dst, kind, "moved by operator", &why, err, errlen);
	if (rc == -EMEDIUMTYPE) {
		/* LTO compatibility (ssc.c media_access): a drive takes its own
		 * generation and the one before, older ones not at all (LTO-8
		 * and later) or read-only (up to LTO-7, two back). */
		lib_err(err, errlen,
			"tape %s is %s media, which %s (an %s drive) cannot load; "
			"use a tape of the drive's generation or the one before",
			barcode, t.media, name, lib->info.drive_media);
		goto out;
	}
	if (rc) {
		if (!err[0] && (rc == -ENOKEY || rc == -EKEYREJECTED) && lib->key_err[0])
			lib_err(err, errlen, "%s", lib->key_err); /* lib_insert's why */
		if (!err[0])
			lib_err(err, errlen, "moving tape %s to %s failed: %s", barcode, name,
				strerror(-rc));
		goto out;
	}
	smc_notify(&lib->changer, (kind == CAT_IE || t.kind == CAT_IE)
				      ? ASC_IMPORT_OR_EXPORT_ELEMENT_ACCESSED
				      : ASC_NOT_READY_TO_READY_CHANGE);
out:
	lib_unlock(lib);
	return rc;
}

/*
 * The operator's unload refuses to drop a write error the host has not
 * been told: a WRITE got GOOD in buffered mode (SSC-4 8.3.1) and its block,
 * written behind, failed; the drive keeps the error for the host's next
 * command (a deferred error, SPC-4 4.5.5). A physical drive cannot be
 * emptied before its buffer is written either; here the operator may let
 * the host learn it first, or, with --force, discard it on the record:
 * the log and the tape's event name the block lost.
 */
static int untold_error(struct lib *lib, size_t di, uint32_t drive, const char *barcode, bool force,
			char *cause, size_t causelen, char *err, size_t errlen)
{
	int werr;
	uint64_t block, count;
	char what[64];

	if (!ssc_untold_error(&lib->drives[di], force, &werr, &block, &count))
		return 0;
	if (count > 1)
		snprintf(what, sizeof(what), "blocks %" PRIu64 " to %" PRIu64, block,
			 block + count - 1);
	else
		snprintf(what, sizeof(what), "block %" PRIu64, block);
	bool one = count == 1;
	if (!force) {
		lib_err(err, errlen,
			"drive %u: %s of tape %s %s acknowledged to the host but could not be "
			"written (%s), and the host has not been told yet; let the backup "
			"application send drive %u its next command (it gets the error), then "
			"unload, or discard the error and lose %s with vtlctl drive unload %u "
			"--force",
			drive, what, barcode, one ? "was" : "were", strerror(-werr), drive,
			one ? "the block" : "them", drive);
		return -EIO;
	}
	lib_say(lib, 0,
		"drive %u unloaded by operator with --force: %s of tape %s, acknowledged to "
		"the host, %s not written (%s) and the host was never told; the tape ends "
		"before %s",
		drive, what, barcode, one ? "was" : "were", strerror(-werr), one ? "it" : "them");
	snprintf(cause, causelen, "drive unloaded by operator --force; %s lost (%s)", what,
		 strerror(-werr));
	return 0;
}

int lib_drive_unload(struct lib *lib, uint32_t drive, bool force, char *err, size_t errlen)
{
	lib_lock(lib);
	uint16_t addr, home;
	uint32_t home_ord;
	struct cat_element e;
	char cause[128] = "drive unloaded by operator";
	int rc = cat_element_find(lib->cat, CAT_DRIVE, drive, &addr);
	if (rc) {
		lib_err(err, errlen, "this library has no drive %u (drives 1-%u)", drive,
			lib->info.count[CAT_DRIVE]);
		goto out;
	}
	rc = lib_element_at(lib, addr, &e);
	if (rc)
		goto out;
	if (!e.full) {
		lib_err(err, errlen, "drive %u is empty; nothing to unload", drive);
		rc = -ENOENT;
		goto out;
	}
	rc = lc_check(&e.tape, LC_RETURN_HOME, NULL, NULL, NULL, err, errlen);
	if (rc)
		goto out;
	/* Home: the slot it came from if that is a free storage slot. */
	rc = lib_first_free(lib, CAT_STORAGE, e.tape.has_source ? e.tape.source : 0, &home,
			    &home_ord);
	if (rc) {
		lib_err(err, errlen,
			"no free storage slot to return tape %s to; free one first (vtlctl tape "
			"archive or tape move)",
			e.tape.barcode);
		goto out;
	}
	int di = lib_drive_at(lib, addr);
	if (di >= 0) {
		rc = untold_error(lib, (size_t)di, drive, e.tape.barcode, force, cause,
				  sizeof(cause), err, errlen);
		if (rc)
			goto out;
		/* The operator's unload: flushes and gives the cartridge up,
		 * whatever the host had set. If the flush fails the cartridge
		 * stays in the drive, where the catalog has it. */
		rc = ssc_remove(&lib->drives[di], true);
		if (rc == -EIO && ssc_untold_error(&lib->drives[di], false, &(int){0},
						   &(uint64_t){0}, &(uint64_t){0})) {
			lib_err(err, errlen,
				"drive %u: a write to tape %s failed behind the host's back just "
				"now; run vtlctl drive unload %u again to see it",
				drive, e.tape.barcode, drive);
			goto out;
		}
		if (rc && rc != -ENOENT) {
			lib_say(lib, 0,
				"drive %u could not unload tape %s: %s; it stays in the drive",
				drive, e.tape.barcode, strerror(-rc));
			lib_err(err, errlen,
				"drive %u could not write tape %s to stable storage (%s); the tape "
				"stays in drive %u with nothing lost: fix the cause (free space in "
				"%s, see vtld's log) and run vtlctl drive unload %u again",
				drive, e.tape.barcode, strerror(-rc), drive, lib->cfg.data_dir,
				drive);
			goto out;
		}
		lib_refresh_used(lib, e.tape.barcode);
	}
	rc = lc_apply(lib->cat, &e.tape, LC_RETURN_HOME, NULL, home, cause, err, errlen);
	if (rc) {
		char dir[PATH_MAX];
		datadir_tape(lib->cfg.data_dir, e.tape.barcode, dir, sizeof(dir));
		if (di >= 0)
			lib_insert(lib, (size_t)di, e.tape.barcode, dir);
		goto out;
	}
	smc_notify(&lib->changer, ASC_NOT_READY_TO_READY_CHANGE);
out:
	lib_unlock(lib);
	return rc;
}

/* --bypass-governance is honoured only where vtld.conf allows it. */
static int bypass_allowed(struct lib *lib, bool bypass, char *err, size_t errlen)
{
	if (!bypass || lib->cfg.governance_bypass)
		return 0;
	lib_err(err, errlen,
		"--bypass-governance is not allowed by this vtld: set [library] "
		"governance_bypass = yes in vtld.conf (compliance locks hold regardless)");
	return -EPERM;
}

int lib_tape_delete(struct lib *lib, const char *barcode, bool force, bool bypass_governance,
		    char *err, size_t errlen)
{
	int rc = bypass_allowed(lib, bypass_governance, err, errlen);
	if (rc)
		return rc;
	lib_lock(lib);
	struct cat_tape t;
	rc = get_tape(lib, barcode, &t, err, errlen);
	if (rc)
		goto out;
	int di = t.in_library && t.kind == CAT_DRIVE ? lib_drive_at(lib, t.element) : -1;
	if (di >= 0 && !force) {
		drive_refusal(&t, err, errlen, ", or delete it with --force");
		rc = -EBUSY;
		goto out;
	}
	if (t.in_library && t.kind == CAT_IE && lib->changer.prevent_removal && !force) {
		lib_err(
		    err, errlen,
		    "tape %s is in import/export element %u and an initiator prevents medium "
		    "removal on the changer; allow removal in the backup software, or use --force",
		    barcode, t.ordinal);
		rc = -EBUSY;
		goto out;
	}
	struct lc_facts facts = {.force = force, .bypass_governance = bypass_governance};
	if (!force)
		facts.has_data = holds_data(lib, barcode, &facts.data);
	rc = lc_check(&t, LC_DELETE, &facts, NULL, NULL, err, errlen);
	if (rc)
		goto out;
	if (di >= 0) {
		rc = ssc_remove(&lib->drives[di], true);
		if (rc && rc != -ENOENT) {
			lib_err(err, errlen, "drive %u could not give up tape %s: %s", t.ordinal,
				barcode, strerror(-rc));
			goto out;
		}
	}
	/* A bypassed lock is said in the event, for the auditor. */
	bool bypassed = bypass_governance && t.lock == CAT_LOCK_GOVERNANCE && lc_locked(&t, 0);
	char cause[128];
	snprintf(cause, sizeof(cause), "deleted by operator%s%s", force ? " (--force)" : "",
		 bypassed ? "; governance retention bypassed" : "");
	rc = lc_apply(lib->cat, &t, LC_DELETE, &facts, 0, cause, err, errlen);
	if (rc) {
		/* The drive gave the cartridge up: it goes back in. */
		char dir[PATH_MAX];
		datadir_tape(lib->cfg.data_dir, barcode, dir, sizeof(dir));
		if (di >= 0)
			lib_insert(lib, (size_t)di, barcode, dir);
		goto out;
	}
	/* After the commit: a crash before this leaves a DELETED tape's
	 * directory, which lib_open removes. */
	char dir[PATH_MAX];
	datadir_tape(lib->cfg.data_dir, barcode, dir, sizeof(dir));
	datadir_rm_rf(dir);
	if (t.in_library)
		smc_notify(&lib->changer, t.kind == CAT_IE ? ASC_IMPORT_OR_EXPORT_ELEMENT_ACCESSED
							   : ASC_NOT_READY_TO_READY_CHANGE);
out:
	lib_unlock(lib);
	return rc;
}

int lib_tape_archive(struct lib *lib, const char *barcode, char *err, size_t errlen)
{
	lib_lock(lib);
	struct cat_tape t;
	int rc = get_tape(lib, barcode, &t, err, errlen);
	if (rc)
		goto out;
	rc = lc_check(&t, LC_ARCHIVE, NULL, NULL, NULL, err, errlen);
	if (rc)
		goto out;
	if (t.in_library && t.kind == CAT_DRIVE) {
		drive_refusal(&t, err, errlen, "");
		rc = -EBUSY;
		goto out;
	}
	if (t.in_library && t.kind == CAT_IE && lib->changer.prevent_removal) {
		lib_err(err, errlen,
			"tape %s is in import/export element %u and an initiator prevents medium "
			"removal on the changer; allow removal in the backup software first",
			barcode, t.ordinal);
		rc = -EBUSY;
		goto out;
	}
	/* The object store is the shelf: the tape leaves the library now,
	 * and the shelf's worker (vtl/shelf.c) makes it ARCHIVING once every
	 * byte is in the store and verified, then ARCHIVED (ARCHITECTURE.md,
	 * durability contract). One already out of the library is on its way
	 * already. A blank tape never loaded gets its medium first: the shelf
	 * holds a tape's objects, and a retrieved copy is read like any. */
	if (t.unmade) {
		rc = lib_make_medium(lib, &t);
		if (rc) {
			lib_err(err, errlen,
				"tape %s: its medium cannot be made for the shelf: %s; see vtld's "
				"log, fix the cause and archive it again",
				barcode, strerror(-rc));
			goto out;
		}
	}
	if (t.in_library || t.state != CAT_IN_TRANSIT_TO_SHELF)
		rc = lc_apply(lib->cat, &t, LC_ARCHIVE, NULL, 0,
			      t.state == CAT_IN_TRANSIT_TO_SHELF
				  ? "taken from the import/export element by operator"
				  : "archived by operator; uploading to the shelf",
			      err, errlen);
	if (rc)
		goto out;
	lib_wake_shelf(lib);
	if (t.in_library)
		smc_notify(&lib->changer, t.kind == CAT_IE ? ASC_IMPORT_OR_EXPORT_ELEMENT_ACCESSED
							   : ASC_NOT_READY_TO_READY_CHANGE);
out:
	lib_unlock(lib);
	return rc;
}

int lib_tape_retrieve(struct lib *lib, const char *barcode, char *err, size_t errlen)
{
	lib_lock(lib);
	struct cat_tape t;
	uint16_t ie;
	uint32_t ie_ord;
	int rc = get_tape(lib, barcode, &t, err, errlen);
	if (rc)
		goto out;
	rc = lc_check(&t, LC_RETRIEVE, NULL, NULL, NULL, err, errlen);
	if (rc)
		goto out;
	/* Refused now rather than after the download: the tape would wait
	 * for a free port. */
	rc = lib_first_free(lib, CAT_IE, 0, &ie, &ie_ord);
	if (rc) {
		lib_err(err, errlen,
			"no free import/export element for tape %s; move a tape out of the ports "
			"first (vtlctl tape move BARCODE --to slot:N, or tape archive)",
			barcode);
		goto out;
	}
	/* The shelf's worker downloads the tape and then puts it, read-only,
	 * into a free import/export element (lib_shelf_step). */
	rc = lc_apply(lib->cat, &t, LC_RETRIEVE, NULL, 0,
		      "retrieval requested by operator; downloading from the shelf", err, errlen);
	if (!rc)
		lib_wake_shelf(lib);
out:
	lib_unlock(lib);
	return rc;
}

int lib_tape_assign_pool(struct lib *lib, const char *barcode, const char *pool,
			 bool bypass_governance, char *err, size_t errlen)
{
	int rc = bypass_allowed(lib, bypass_governance, err, errlen);
	if (rc)
		return rc;
	lib_lock(lib);
	struct cat_tape t;
	struct cat_pool p;
	rc = get_tape(lib, barcode, &t, err, errlen);
	if (!rc)
		rc = lib_pool_get_locked(lib, pool, &p, err, errlen);
	if (rc)
		goto out;
	struct lc_facts facts = {.pool = &p, .bypass_governance = bypass_governance};
	bool bypassed = bypass_governance && t.lock == CAT_LOCK_GOVERNANCE && lc_locked(&t, 0);
	char cause[160];
	snprintf(cause, sizeof(cause), "assigned by operator from pool %s to pool %s%s", t.pool,
		 p.name, bypassed ? "; governance retention bypassed" : "");
	rc = lc_apply(lib->cat, &t, LC_ASSIGN_POOL, &facts, 0, cause, err, errlen);
	/* An archived tape's objects move to the pool's class and lock
	 * (vtl/shelf.c, shelf_reclass). */
	if (!rc && t.state == CAT_ARCHIVED)
		lib_wake_shelf(lib);
out:
	lib_unlock(lib);
	return rc;
}

/* ---- Pools --------------------------------------------------------------- */

int lib_pool_get_locked(struct lib *lib, const char *name, struct cat_pool *p, char *err,
			size_t errlen)
{
	int rc = cat_pool_get(lib->cat, name, p);
	if (rc == -ENOENT)
		lib_err(err, errlen,
			"no pool %s (vtlctl pool list shows the pools; vtlctl pool create makes "
			"one)",
			name);
	else if (rc)
		lib_err(err, errlen, "cannot read pool %s from the catalog: %s", name,
			strerror(-rc));
	return rc;
}

int lib_pool_get(struct lib *lib, const char *name, struct cat_pool *p, char *err, size_t errlen)
{
	lib_lock(lib);
	int rc = lib_pool_get_locked(lib, name, p, err, errlen);
	lib_unlock(lib);
	return rc;
}

int lib_pools(struct lib *lib, struct cat_pool **out, size_t *n)
{
	lib_lock(lib);
	int rc = cat_pools(lib->cat, out, n);
	lib_unlock(lib);
	return rc;
}

/* Pool names: 1 to 32 of A-Z a-z 0-9 _ - . (AWS allows the same). */
static int pool_name_check(const char *name, char *err, size_t errlen)
{
	size_t n = strlen(name);
	bool ok = n >= 1 && n <= CAT_POOL_MAX;
	for (size_t i = 0; ok && i < n; i++) {
		char c = name[i];
		ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		     c == '_' || c == '-' || c == '.';
	}
	if (ok)
		return 0;
	char shown[CAT_POOL_MAX * 6 + 8];
	esc_show(shown, sizeof(shown), name);
	lib_err(err, errlen, "pool name '%s' is not valid: 1 to %d characters A-Z a-z 0-9 _ - .",
		shown, CAT_POOL_MAX);
	return -EINVAL;
}

int lib_pool_create(struct lib *lib, const struct cat_pool *p, char *err, size_t errlen)
{
	int rc = pool_name_check(p->name, err, errlen);
	if (rc)
		return rc;
	/* An S3 storage class name: STANDARD_IA, GLACIER, DEEP_ARCHIVE, or
	 * a class an S3-compatible store defines, in the same alphabet. */
	for (const char *c = p->storage_class; *c; c++) {
		if ((*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_')
			continue;
		char shown[200];
		esc_show(shown, sizeof(shown), p->storage_class);
		lib_err(err, errlen,
			"pool %s: storage class '%s' is not an S3 class name (A-Z 0-9 _, e.g. "
			"GLACIER, DEEP_ARCHIVE, STANDARD_IA)",
			p->name, shown);
		return -EINVAL;
	}
	if ((p->lock == CAT_LOCK_NONE) != (p->retention_days == 0) ||
	    p->retention_days > CAT_RETENTION_MAX_DAYS) {
		lib_err(err, errlen,
			"pool %s: a retention lock (governance or compliance) needs retention "
			"days from 1 to %d, and days need a lock",
			p->name, CAT_RETENTION_MAX_DAYS);
		return -EINVAL;
	}
	lib_lock(lib);
	rc = cat_pool_create(lib->cat, p);
	lib_unlock(lib);
	if (rc == -EEXIST)
		lib_err(err, errlen,
			"pool %s exists already (names are compared without case); a pool's "
			"settings are fixed once it is created: create another",
			p->name);
	else if (rc)
		lib_err(err, errlen, "cannot create pool %s: %s", p->name, strerror(-rc));
	return rc;
}

int lib_pool_delete(struct lib *lib, const char *name, char *err, size_t errlen)
{
	lib_lock(lib);
	struct cat_pool p;
	int rc = lib_pool_get_locked(lib, name, &p, err, errlen);
	if (!rc) {
		rc = cat_pool_delete(lib->cat, name);
		if (rc == -EPERM)
			lib_err(err, errlen, "pool %s is built in and cannot be deleted", name);
		else if (rc == -EBUSY && p.tapes)
			lib_err(err, errlen,
				"pool %s holds %u tape%s; assign them to another pool (vtlctl tape "
				"assign-pool) or delete them first",
				name, p.tapes, p.tapes == 1 ? "" : "s");
		else if (rc == -EBUSY)
			lib_err(err, errlen,
				"pool %s is named by an autocreate policy; remove it first (vtlctl "
				"autocreate list, vtlctl autocreate remove PREFIX)",
				name);
		else if (rc)
			lib_err(err, errlen, "cannot delete pool %s: %s", name, strerror(-rc));
	}
	lib_unlock(lib);
	return rc;
}
