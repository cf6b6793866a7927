/*
 * library.c - the library model (see library.h): builds the changer and the
 * drives from the catalog, implements the changer's backend, and carries
 * out every operator action.
 *
 * One lock guards everything here: the changer's dev->lock. spc_dispatch
 * holds it while a changer command runs (and so while the backend below
 * runs); operator actions take it themselves. The catalog connection is
 * used only under it. Drives are locked after the changer (spc.h), inside
 * ssc_insert/ssc_remove/ssc_state.
 *
 * Coupling with the drives, and why it is crash-safe:
 *   - into a drive: ssc_insert first, then the catalog transaction; if the
 *     transaction fails the cartridge is taken out again. A crash between
 *     the two leaves the catalog saying "slot", and the drive (which has no
 *     state of its own across a restart) empty: consistent.
 *   - out of a drive: ssc_remove (refused unless the host unloaded it),
 *     then the transaction. A crash between them leaves the catalog saying
 *     "drive", and lib_open loads the cartridge into that drive again.
 * So after a crash at any instant the catalog names one place for every
 * tape, and lib_open makes the drives agree with it.
 *
 * The shelf: a tape moved to an import/export element is exported and goes
 * IN_TRANSIT_TO_SHELF there; the uploader (vtl/uploader.c) archives it to
 * the object store. Without an uploader attached (lib_config.object_store
 * false, which only the tests use) the shelf is local: the cartridge stays
 * in the port until the operator takes it (vtlctl tape archive), which
 * makes it ARCHIVED at once since its data is already on stable local
 * storage under DIR/tapes.
 */
#include "config.h"

#include "library.h"
#include "media.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "scsi/sense.h"
#include "scsi/smc.h"
#include "scsi/spc.h"
#include "scsi/tape.h"
#include "uploader.h"
#include "util/escape.h"

struct lib {
	struct lib_config cfg;
	struct cat *cat;
	struct cat_library info;
	struct scsi_dev changer;
	bool changer_ok;
	struct scsi_dev *drives;
	struct cat_drive *cdrives;
	size_t n_drives;
	size_t n_drives_ok;
	struct upl *upl; /* the object store's uploader, or NULL (local shelf) */
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Messages quote barcodes, prefixes and places from requests and store
 * keys: escaped, and cut between characters when long (util/escape.h). */
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || !errlen)
		return;
	char raw[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	esc_show(err, errlen, raw);
}

void lib_config_defaults(struct lib_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->data_dir, sizeof(cfg->data_dir), "/var/lib/vtl");
	/* STK L700: Linux, Windows, Bacula and Amanda all know it; element
	 * addresses from the L700e/L180 SCSI reference (as mhVTL's stklxx):
	 * transport 1, CAP (I/E) from 10, drives from 500, storage from 1000. */
	snprintf(cfg->vendor, sizeof(cfg->vendor), "STK");
	snprintf(cfg->product, sizeof(cfg->product), "L700");
	snprintf(cfg->revision, sizeof(cfg->revision), "0107");
	cfg->n_drives = 4;
	cfg->n_slots = 40;
	cfg->n_ie = 4;
	cfg->transport_base = 1;
	cfg->ie_base = 10;
	cfg->drive_base = 500;
	cfg->storage_base = 1000;
	cfg->drive_media = TAPE_LTO8;
	cfg->drive_vendor = SSC_VENDOR_IBM;
	cfg->default_media = TAPE_LTO8;
	cfg->auto_unload = true;
}

struct scsi_dev *lib_changer(struct lib *lib)
{
	return &lib->changer;
}

size_t lib_n_drives(const struct lib *lib)
{
	return lib->n_drives;
}

struct scsi_dev *lib_drive(struct lib *lib, size_t i)
{
	return i < lib->n_drives ? &lib->drives[i] : NULL;
}

uint32_t lib_drive_lun(const struct lib *lib, size_t i)
{
	return lib->cdrives[i].lun;
}

struct cat *lib_catalog(struct lib *lib)
{
	return lib->cat;
}

const char *lib_data_dir(const struct lib *lib)
{
	return lib->cfg.data_dir;
}

static void lock(struct lib *lib)
{
	pthread_mutex_lock(&lib->changer.lock);
}

static void unlock(struct lib *lib)
{
	pthread_mutex_unlock(&lib->changer.lock);
}

static void tape_dir(const struct lib *lib, const char *barcode, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "%s/tapes/%s", lib->cfg.data_dir, barcode);
	if (n < 0 || (size_t)n >= cap)
		buf[0] = 0; /* lib_open refuses data directories this long */
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path) ? -errno : 0;
}

static int rm_rf(const char *path)
{
	struct stat st;
	if (lstat(path, &st))
		return errno == ENOENT ? 0 : -errno;
	return nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (; *s; s++) {
		h ^= (uint8_t)*s;
		h *= 0x100000001b3ull;
	}
	return h;
}

/* NAA 6 designator (SPC-4 7.8.6.6.6), derived from the serial so it is
 * stable across restarts. */
static uint64_t naa_for(const char *serial)
{
	return 0x6000000000000000ull | (fnv1a(serial) & 0x0fffffffffffffffull);
}

static int drive_index(const struct lib *lib, uint16_t addr)
{
	for (size_t i = 0; i < lib->n_drives; i++)
		if (lib->cdrives[i].address == addr)
			return (int)i;
	return -1;
}

/* ---- Barcodes and media ------------------------------------------------- */

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
		set_err(err, errlen,
			"barcode '%s' has %zu characters; a barcode has 5 to 16 characters A-Z 0-9 "
			"(e.g. ABC123L8)",
			shown, chars);
		return -EINVAL;
	}
	char what[8];
	esc_mem(what, sizeof(what), barcode + bad_at, bad_len);
	set_err(err, errlen,
		"barcode '%s' has '%s' at position %zu; only A-Z and 0-9 are allowed (upper case)",
		shown, what, bad);
	return -EINVAL;
}

/* LTO labels end in L5..L9 for LTO-5..LTO-9 (LTO cartridge label spec). */
static bool media_from_barcode(const char *barcode, enum tape_media *m)
{
	size_t n = strlen(barcode);
	if (n < 2 || barcode[n - 2] != 'L' || barcode[n - 1] < '5' || barcode[n - 1] > '9')
		return false;
	*m = (enum tape_media)(barcode[n - 1] - '0');
	return true;
}

/* ---- Element helpers ---------------------------------------------------- */

static int element_by_addr(struct lib *lib, uint16_t addr, struct cat_element *out)
{
	struct cat_element *els;
	size_t n;
	int rc = cat_elements(lib->cat, &els, &n);
	if (rc)
		return rc;
	rc = -ENOENT;
	for (size_t i = 0; i < n; i++) {
		if (els[i].address == addr) {
			*out = els[i];
			rc = 0;
			break;
		}
	}
	free(els);
	return rc;
}

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

static int first_free(struct lib *lib, enum cat_kind kind, uint16_t prefer, uint16_t *addr,
		      uint32_t *ordinal)
{
	struct cat_element *els;
	size_t n;
	int rc = cat_elements(lib->cat, &els, &n);
	if (rc)
		return rc;
	rc = -ENOSPC;
	for (size_t i = 0; i < n; i++) {
		if (els[i].kind == kind && !els[i].full && els[i].address == prefer) {
			*addr = els[i].address;
			*ordinal = els[i].ordinal;
			rc = 0;
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (els[i].kind == kind && !els[i].full) {
			*addr = els[i].address;
			*ordinal = els[i].ordinal;
			rc = 0;
			break;
		}
	}
out:
	free(els);
	return rc;
}

/* Record the bytes a cartridge holds, read from the medium itself. */
static void refresh_used(struct lib *lib, const char *barcode)
{
	char dir[PATH_MAX];
	struct tape *t;
	tape_dir(lib, barcode, dir, sizeof(dir));
	if (tape_open(dir, &t) == 0) {
		cat_tape_set_used(lib->cat, barcode, tape_used_bytes(t));
		tape_close(t);
	}
}

/* Does the medium hold any data (any object before EOD)? */
static bool holds_data(struct lib *lib, const char *barcode, uint64_t *bytes)
{
	char dir[PATH_MAX];
	struct tape *t;
	bool any = false;
	*bytes = 0;
	tape_dir(lib, barcode, dir, sizeof(dir));
	if (tape_open(dir, &t) == 0) {
		any = tape_eod(t) > 0;
		*bytes = tape_used_bytes(t);
		tape_close(t);
	}
	return any;
}

/*
 * The state a move gives a tape: into an import/export element is an export
 * (toward the shelf); out of one into the library is an import, which
 * cancels an export not yet archived.
 */
static enum cat_state state_after_move(const struct cat_tape *t, enum cat_kind from,
				       enum cat_kind to)
{
	if (to == CAT_IE && from != CAT_IE)
		return CAT_IN_TRANSIT_TO_SHELF;
	if (from == CAT_IE && to != CAT_IE && t->state == CAT_IN_TRANSIT_TO_SHELF)
		return t->write_protect ? CAT_RETRIEVED : CAT_AVAILABLE;
	return t->state;
}

/*
 * The one move: drive coupling plus one catalog transaction. Called with
 * the lock held; src holds t, dst is empty. On refusal fills *why.
 */
static int move_core(struct lib *lib, const struct cat_tape *t, enum cat_kind src_kind,
		     uint16_t dst, enum cat_kind dst_kind, const char *cause,
		     struct smc_refusal *why)
{
	char dir[PATH_MAX];
	int src_drive = src_kind == CAT_DRIVE ? drive_index(lib, t->element) : -1;
	int dst_drive = dst_kind == CAT_DRIVE ? drive_index(lib, dst) : -1;
	int rc;

	tape_dir(lib, t->barcode, dir, sizeof(dir));
	if (src_drive >= 0 && lib->cfg.auto_unload) {
		rc = ssc_library_unload(&lib->drives[src_drive]);
		if (rc == -EPERM) {
			/* SMC-3 6.x: a host prevented removal from the drive. */
			why->key = SK_ILLEGAL_REQUEST;
			why->asc_ascq = ASC_MEDIUM_REMOVAL_PREVENTED;
			return rc;
		}
		if (rc) {
			why->key = SK_HARDWARE_ERROR;
			why->asc_ascq = ASC_MEDIUM_LOAD_OR_EJECT_FAILED;
			return rc;
		}
	}
	if (src_drive >= 0) {
		rc = ssc_remove(&lib->drives[src_drive], false);
		if (rc == -EBUSY) {
			/* The host has not unloaded it (LOAD UNLOAD). */
			why->key = SK_ILLEGAL_REQUEST;
			why->asc_ascq = ASC_UNLOAD_TAPE_FAILURE;
			return rc;
		}
		if (rc && rc != -ENOENT) {
			why->key = SK_HARDWARE_ERROR;
			why->asc_ascq = ASC_MEDIUM_LOAD_OR_EJECT_FAILED;
			return rc;
		}
		refresh_used(lib, t->barcode);
	}
	if (dst_drive >= 0) {
		rc = ssc_insert(&lib->drives[dst_drive], dir);
		/* A damaged manifest is rebuilt from the records, then the
		 * load goes on (vtl/media.c). */
		if (rc == -EBADMSG && media_repair(lib, t) == 1)
			rc = ssc_insert(&lib->drives[dst_drive], dir);
		if (rc == -EBADMSG && t->state != CAT_IRRECOVERABLE) {
			/* Damaged beyond repair here: IRRECOVERABLE, which the
			 * uploader answers with the store's copy if it has one. */
			struct cat_change bad = {.from = t->state,
						 .keep_element = true,
						 .to = CAT_IRRECOVERABLE,
						 .write_protect = -1,
						 .cause = "the medium cannot be opened at a load"};
			if (cat_tape_change(lib->cat, t->barcode, &bad) == 0)
				lib_say(
				    lib, 0,
				    "tape %s is IRRECOVERABLE: its medium %s cannot be opened or "
				    "repaired; it comes back from the object store if the store "
				    "holds it",
				    t->barcode, dir);
		}
		if (rc) {
			if (src_drive >= 0)
				ssc_insert(&lib->drives[src_drive], dir);
			why->key = SK_HARDWARE_ERROR;
			why->asc_ascq = ASC_MEDIUM_LOAD_OR_EJECT_FAILED;
			return rc;
		}
	}
	struct cat_change ch = {
	    .from = t->state,
	    .check_element = true,
	    .at = t->element,
	    .to = state_after_move(t, src_kind, dst_kind),
	    .dest = dst,
	    .write_protect = -1,
	    .cause = cause,
	};
	rc = cat_tape_change(lib->cat, t->barcode, &ch);
	if (rc) {
		/* Undo the drive side so the catalog stays the truth. */
		if (dst_drive >= 0)
			ssc_remove(&lib->drives[dst_drive], true);
		if (src_drive >= 0)
			ssc_insert(&lib->drives[src_drive], dir);
		why->key = rc == -EBUSY ? SK_ILLEGAL_REQUEST : SK_HARDWARE_ERROR;
		why->asc_ascq = rc == -EBUSY ? ASC_MEDIUM_DESTINATION_ELEMENT_FULL
					     : ASC_INTERNAL_TARGET_FAILURE;
		return rc;
	}
	return 0;
}

/* ---- The changer backend (called under the changer lock) --------------- */

static int be_inventory(void *ctx, struct smc_element *els, size_t n)
{
	struct lib *lib = ctx;
	struct cat_element *ce;
	size_t m;
	int rc = cat_elements(lib->cat, &ce, &m);
	if (rc)
		return rc;
	size_t j = 0;
	for (size_t i = 0; i < n; i++) {
		struct smc_element *e = &els[i];
		while (j < m && ce[j].address < e->addr)
			j++;
		if (j == m || ce[j].address != e->addr)
			continue; /* not in the catalog: reported empty */
		const struct cat_element *c = &ce[j];
		int d = e->type == SMC_ET_DRIVE ? drive_index(lib, e->addr) : -1;
		if (d >= 0) {
			snprintf(e->dvcid, sizeof(e->dvcid), "%s", lib->cdrives[d].serial);
			e->lu_valid = true;
			e->lun = (uint8_t)lib->cdrives[d].lun;
		}
		if (!c->full)
			continue;
		e->full = true;
		snprintf(e->barcode, sizeof(e->barcode), "%s", c->tape.barcode);
		e->svalid = c->tape.has_source;
		e->source = c->tape.source;
		/* In a port: placed by the operator when it came back from the
		 * shelf, by the picker when it was exported. */
		e->impexp = e->type == SMC_ET_IE && c->tape.state == CAT_RETRIEVED;
		if (d >= 0)
			e->loaded = ssc_state(&lib->drives[d]) == SSC_LOADED;
		if (c->tape.state == CAT_IRRECOVERABLE) {
			e->except = true;
			e->asc_ascq = ASC_MEDIUM_FORMAT_CORRUPTED;
		}
	}
	free(ce);
	return 0;
}

static int be_move(void *ctx, uint16_t src, uint16_t dst, struct smc_refusal *why)
{
	struct lib *lib = ctx;
	struct cat_element s, d;
	int rc = element_by_addr(lib, src, &s);
	if (!rc)
		rc = element_by_addr(lib, dst, &d);
	if (rc) {
		why->key = SK_ILLEGAL_REQUEST;
		why->asc_ascq = ASC_INVALID_ELEMENT_ADDRESS;
		return rc;
	}
	if (!s.full) {
		why->key = SK_ILLEGAL_REQUEST;
		why->asc_ascq = ASC_MEDIUM_SOURCE_ELEMENT_EMPTY;
		return -ENOENT;
	}
	if (d.full) {
		why->key = SK_ILLEGAL_REQUEST;
		why->asc_ascq = ASC_MEDIUM_DESTINATION_ELEMENT_FULL;
		return -EBUSY;
	}
	if (s.tape.state == CAT_IRRECOVERABLE) {
		why->key = SK_HARDWARE_ERROR;
		why->asc_ascq = ASC_MEDIUM_LOAD_OR_EJECT_FAILED;
		return -EIO;
	}
	const char *cause = d.kind == CAT_IE   ? "MOVE MEDIUM by initiator (export)"
			    : s.kind == CAT_IE ? "MOVE MEDIUM by initiator (import)"
					       : "MOVE MEDIUM by initiator";
	return move_core(lib, &s.tape, s.kind, dst, d.kind, cause, why);
}

/* ---- Opening: create, recover, build ------------------------------------ */

static void random_hex(char *out, size_t nhex)
{
	uint8_t b[16];
	size_t nb = (nhex + 1) / 2;
	if (nb > sizeof(b))
		nb = sizeof(b);
	if (getrandom(b, nb, 0) != (ssize_t)nb) {
		uint64_t x = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 20;
		memcpy(b, &x, nb < 8 ? nb : 8);
	}
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < nhex && i / 2 < nb; i++)
		out[i] = hex[(i & 1) ? (b[i / 2] & 0xf) : (b[i / 2] >> 4)];
	out[nhex] = 0;
}

static int create_library(struct lib *lib, char *err, size_t errlen)
{
	const struct lib_config *cfg = &lib->cfg;
	struct cat_library info;
	memset(&info, 0, sizeof(info));
	snprintf(info.vendor, sizeof(info.vendor), "%s", cfg->vendor);
	snprintf(info.product, sizeof(info.product), "%s", cfg->product);
	snprintf(info.revision, sizeof(info.revision), "%s", cfg->revision);
	char rnd[9];
	random_hex(rnd, 8);
	if (cfg->serial[0])
		snprintf(info.serial, sizeof(info.serial), "%s", cfg->serial);
	else
		snprintf(info.serial, sizeof(info.serial), "VL%s", rnd);
	snprintf(info.drive_vendor, sizeof(info.drive_vendor), "%s",
		 cfg->drive_vendor == SSC_VENDOR_HPE ? "HPE" : "IBM");
	snprintf(info.drive_media, sizeof(info.drive_media), "%s",
		 tape_media_name(cfg->drive_media));
	info.base[CAT_TRANSPORT] = cfg->transport_base;
	info.count[CAT_TRANSPORT] = 1;
	info.base[CAT_STORAGE] = cfg->storage_base;
	info.count[CAT_STORAGE] = cfg->n_slots;
	info.base[CAT_IE] = cfg->ie_base;
	info.count[CAT_IE] = cfg->n_ie;
	info.base[CAT_DRIVE] = cfg->drive_base;
	info.count[CAT_DRIVE] = cfg->n_drives;

	struct cat_drive *drives = calloc(cfg->n_drives ? cfg->n_drives : 1, sizeof(*drives));
	if (!drives)
		return -ENOMEM;
	for (uint16_t i = 0; i < cfg->n_drives; i++) {
		drives[i].lun = i + 1u;
		/* Ten characters, as IBM LTO drive serials have. */
		snprintf(drives[i].serial, sizeof(drives[i].serial), "VD%.6s%02u", rnd, i + 1u);
	}
	int rc = cat_library_create(lib->cat, &info, drives, cfg->n_drives);
	free(drives);
	if (rc)
		set_err(err, errlen,
			"cannot create the library in the catalog (%s); check the layout keys in "
			"[library] (element ranges must not overlap)",
			strerror(-rc));
	return rc;
}

static int format_tape(struct lib *lib, const struct cat_tape *t)
{
	char dir[PATH_MAX];
	struct tape_info info;
	tape_dir(lib, t->barcode, dir, sizeof(dir));
	if (media_info_of(t, &info))
		return -EINVAL;
	/* A cartridge already there is somebody's data, whatever the
	 * catalog says: never formatted over. The one exception is the
	 * blank this very tape got from a format that finished just before
	 * a crash. An unfinished format's leftovers hold no data. */
	int rc = tape_probe(dir);
	if (rc == 1) {
		struct tape *blank;
		bool ours = false;
		if (tape_open(dir, &blank) == 0) {
			ours = strcmp(tape_get_info(blank)->barcode, t->barcode) == 0 &&
			       tape_eod(blank) == 0 && t->state == CAT_CREATING;
			tape_close(blank);
		}
		return ours ? 0 : -EEXIST;
	}
	if (!rc)
		rc = rm_rf(dir);
	if (!rc)
		rc = tape_format(dir, &info);
	return rc;
}

/*
 * An empty catalog over a data directory that holds cartridges is a lost or
 * replaced catalog, never a new library: starting one would give the tapes'
 * barcodes to new, empty tapes. -ENOENT: nothing there, a new library may
 * be created.
 */
static int refuse_over_cartridges(struct lib *lib, const char *catalog, char *err, size_t errlen)
{
	const char *dd = lib->cfg.data_dir;
	char names[200], found[512] = "";
	size_t n = 0;
	int rc = media_scan(dd, &n, names, sizeof(names));
	if (rc) {
		set_err(err, errlen, "cannot look for cartridges in %s/tapes: %s", dd,
			strerror(-rc));
		return rc;
	}
	if (n) {
		set_err(err, errlen,
			"the catalog %s holds no library, but %s/tapes holds %zu cartridge%s "
			"(%s): the catalog was lost or replaced, and vtld will not start a new "
			"library over them; rebuild the catalog from them (and the object store): "
			"vtld --rebuild-catalog; to start a new library instead, move %s/tapes "
			"away first",
			catalog, dd, n, n == 1 ? "" : "s", names, dd);
		return -EEXIST;
	}
	/* Tapes of an earlier library in the store are safe from a new one
	 * (the uploader never writes over a prefix the catalog does not
	 * know) and are brought in by vtlctl catalog rebuild: say so. */
	if (lib->cfg.store_holds_tapes &&
	    lib->cfg.store_holds_tapes(lib->cfg.store_arg, found, sizeof(found)) > 0)
		lib_say(lib, 1,
			"a new library in %s, but the object store holds tapes of an earlier "
			"one (%s): bring them into this catalog with vtlctl catalog rebuild",
			dd, found);
	return -ENOENT;
}

/* Bring the catalog and the media to a consistent state after a crash. */
static int recover(struct lib *lib)
{
	struct cat_tape *tapes;
	size_t n;
	int rc = cat_tape_list(lib->cat, -1, true, &tapes, &n);
	if (rc)
		return rc;
	for (size_t i = 0; i < n && !rc; i++) {
		struct cat_tape *t = &tapes[i];
		char dir[PATH_MAX];
		tape_dir(lib, t->barcode, dir, sizeof(dir));
		struct cat_change ch = {
		    .from = t->state, .keep_element = true, .write_protect = -1};
		switch (t->state) {
		case CAT_CREATING:
			/* Formatting did not finish: do it again. */
			ch.to = CAT_AVAILABLE;
			ch.cause = "recovery: creation finished after restart";
			int frc = format_tape(lib, t);
			if (frc == 0)
				rc = cat_tape_change(lib->cat, t->barcode, &ch);
			else
				lib_say(lib, 0,
					"tape %s stays CREATING: its medium %s cannot be formatted "
					"(%s)%s",
					t->barcode, dir, strerror(-frc),
					frc == -EEXIST
					    ? "; it holds another cartridge, which is never "
					      "formatted over: move it away and restart vtld"
					    : "");
			break;
		case CAT_DELETED:
			rm_rf(dir);
			break;
		case CAT_ARCHIVING:
		case CAT_RETRIEVING:
			if (lib->cfg.object_store)
				break; /* the uploader finishes them (shelf.c) */
			if (t->state == CAT_RETRIEVING) {
				ch.to = CAT_ARCHIVED;
				ch.cause = "recovery: retrieval interrupted; retrieve again";
				rc = cat_tape_change(lib->cat, t->barcode, &ch);
				break;
			}
			/* Local shelf: the data is already durable here. */
			ch.to = CAT_ARCHIVED;
			ch.cause = "recovery: archive finished after restart";
			rc = cat_tape_change(lib->cat, t->barcode, &ch);
			break;
		default:
			break;
		}
		if (!rc && t->in_library && t->kind == CAT_TRANSPORT) {
			/* Parked in the picker by an EXCHANGE MEDIUM that did not
			 * finish: put it in a free slot, as a library's recovery
			 * after power loss does. */
			uint16_t home;
			uint32_t ord;
			if (first_free(lib, CAT_STORAGE, t->has_source ? t->source : 0, &home,
				       &ord) == 0) {
				struct cat_change back = {.from = t->state,
							  .check_element = true,
							  .at = t->element,
							  .to = t->state,
							  .dest = home,
							  .write_protect = -1,
							  .cause =
							      "recovery: returned from the picker"};
				rc = cat_tape_change(lib->cat, t->barcode, &back);
			}
		}
	}
	free(tapes);
	return rc;
}

/* Load the cartridges the catalog puts in drives. */
static void load_drives(struct lib *lib)
{
	for (size_t i = 0; i < lib->n_drives; i++) {
		struct cat_element e;
		if (element_by_addr(lib, lib->cdrives[i].address, &e) || !e.full)
			continue;
		char dir[PATH_MAX];
		tape_dir(lib, e.tape.barcode, dir, sizeof(dir));
		if (ssc_insert(&lib->drives[i], dir)) {
			struct cat_change ch = {.from = e.tape.state,
						.keep_element = true,
						.to = CAT_IRRECOVERABLE,
						.write_protect = -1,
						.cause = "recovery: the medium cannot be opened"};
			cat_tape_change(lib->cat, e.tape.barcode, &ch);
		}
	}
}

int lib_open(const struct lib_config *cfg, struct lib **out, char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct lib *lib = calloc(1, sizeof(*lib));
	if (!lib)
		return -ENOMEM;
	lib->cfg = *cfg;
	int rc = 0;

	/* Room for "/tapes/" and a barcode, or "/catalog.db". */
	if (strlen(cfg->data_dir) + 8 + CAT_BARCODE_MAX >= sizeof(path)) {
		rc = -ENAMETOOLONG;
		set_err(err, errlen, "data directory path is too long: %s", cfg->data_dir);
		goto fail;
	}
	if (mkdir(cfg->data_dir, 0700) && errno != EEXIST) {
		rc = -errno;
		set_err(err, errlen, "cannot create data directory %s: %s", cfg->data_dir,
			strerror(errno));
		goto fail;
	}
	if (snprintf(path, sizeof(path), "%s/tapes", cfg->data_dir) >= (int)sizeof(path))
		goto fail;
	if (mkdir(path, 0700) && errno != EEXIST) {
		rc = -errno;
		set_err(err, errlen, "cannot create %s: %s", path, strerror(errno));
		goto fail;
	}
	if (snprintf(path, sizeof(path), "%s/catalog.db", cfg->data_dir) >= (int)sizeof(path))
		goto fail;
	rc = cat_open(path, &lib->cat);
	if (rc) {
		set_err(err, errlen, "cannot open the catalog %s: %s%s", path, strerror(-rc),
			rc == -EPROTO ? " (written by a newer vtld)" : "");
		goto fail;
	}
	rc = cat_library_get(lib->cat, &lib->info);
	if (rc == -ENOENT && !cfg->rebuild)
		rc = refuse_over_cartridges(lib, path, err, errlen);
	if (rc == -ENOENT) {
		rc = create_library(lib, err, errlen);
		if (!rc)
			rc = cat_library_get(lib->cat, &lib->info);
	}
	if (!rc)
		rc = cat_drives(lib->cat, &lib->cdrives, &lib->n_drives);
	if (rc) {
		if (err && !err[0])
			set_err(err, errlen, "cannot read the library from %s: %s", path,
				strerror(-rc));
		goto fail;
	}

	struct smc_config sc;
	memset(&sc, 0, sizeof(sc));
	for (int k = 1; k <= 4; k++) {
		sc.layout.base[k] = lib->info.base[k];
		sc.layout.count[k] = lib->info.count[k];
	}
	sc.backend.inventory = be_inventory;
	sc.backend.move = be_move;
	sc.backend.ctx = lib;
	rc = smc_changer_init(&lib->changer, &sc);
	if (rc) {
		set_err(err, errlen, "cannot set up the changer: %s", strerror(-rc));
		goto fail;
	}
	lib->changer_ok = true;
	struct spc_ident *id = &lib->changer.ident;
	snprintf(id->vendor, sizeof(id->vendor), "%s", cfg->vendor);
	snprintf(id->product, sizeof(id->product), "%s", cfg->product);
	snprintf(id->revision, sizeof(id->revision), "%s", cfg->revision);
	snprintf(id->serial, sizeof(id->serial), "%s", lib->info.serial);
	id->naa = naa_for(lib->info.serial);
	id->rel_port = 1;

	lib->drives = calloc(lib->n_drives ? lib->n_drives : 1, sizeof(*lib->drives));
	if (!lib->drives) {
		rc = -ENOMEM;
		goto fail;
	}
	enum tape_media gen = cfg->drive_media;
	tape_media_parse(lib->info.drive_media, &gen);
	for (size_t i = 0; i < lib->n_drives; i++) {
		struct ssc_config dc;
		memset(&dc, 0, sizeof(dc));
		dc.generation = gen;
		dc.vendor =
		    strcmp(lib->info.drive_vendor, "HPE") == 0 ? SSC_VENDOR_HPE : SSC_VENDOR_IBM;
		snprintf(dc.serial, sizeof(dc.serial), "%s", lib->cdrives[i].serial);
		dc.naa = naa_for(lib->cdrives[i].serial);
		dc.rel_port = 1;
		rc = ssc_drive_init(&lib->drives[i], &dc);
		if (rc) {
			set_err(err, errlen, "cannot set up drive %zu: %s", i + 1, strerror(-rc));
			goto fail;
		}
		lib->n_drives_ok++;
	}
	rc = recover(lib);
	if (rc) {
		set_err(err, errlen, "recovery of the catalog %s failed: %s", path, strerror(-rc));
		goto fail;
	}
	media_check_all(lib);
	load_drives(lib);
	*out = lib;
	return 0;
fail:
	lib_close(lib);
	return rc;
}

void lib_close(struct lib *lib)
{
	if (!lib)
		return;
	for (size_t i = 0; i < lib->n_drives_ok; i++) {
		/* The catalog keeps the cartridge in its drive element; the
		 * next start loads it again. */
		ssc_drive_destroy(&lib->drives[i]);
	}
	if (lib->changer_ok)
		smc_changer_destroy(&lib->changer);
	free(lib->drives);
	free(lib->cdrives);
	cat_close(lib->cat);
	free(lib);
}

/* ---- Operator actions --------------------------------------------------- */

static int get_tape(struct lib *lib, const char *barcode, struct cat_tape *t, char *err,
		    size_t errlen)
{
	int rc = cat_tape_get(lib->cat, barcode, t);
	if (rc == -ENOENT)
		set_err(err, errlen, "no tape %s in the catalog (vtlctl tape list shows the tapes)",
			barcode);
	else if (rc)
		set_err(err, errlen, "cannot read tape %s from the catalog: %s", barcode,
			strerror(-rc));
	else if (t->state == CAT_DELETED) {
		set_err(err, errlen, "tape %s was deleted; its barcode is retired", barcode);
		rc = -ENOENT;
	}
	return rc;
}

static void drive_refusal(const struct cat_tape *t, char *err, size_t errlen, const char *alt)
{
	set_err(err, errlen, "tape %s is in drive %u; unload it first (vtlctl drive unload %u)%s",
		t->barcode, t->ordinal, t->ordinal, alt);
}

/* count barcodes PREFIX + number + "L" + generation, skipping every
 * barcode the catalog knows (live or deleted). Called with the lock held. */
static int generate_barcodes(struct lib *lib, const char *prefix, size_t count, enum tape_media m,
			     char (*out)[17], char *err, size_t errlen)
{
	size_t plen = strlen(prefix);
	if (plen < 1 || plen > 12) {
		set_err(err, errlen, "prefix '%s' must have 1 to 12 characters A-Z 0-9", prefix);
		return -EINVAL;
	}
	char probe[32];
	snprintf(probe, sizeof(probe), "%sL0000", prefix);
	int rc = lib_barcode_check(probe, NULL, 0);
	if (rc) {
		set_err(err, errlen, "prefix '%s' must have only characters A-Z 0-9", prefix);
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
		snprintf(code, sizeof(code), "%s%0*" PRIu64 "L%d", prefix, width, num, (int)m);
		if (strlen(code) > CAT_BARCODE_MAX)
			break;
		if (cat_tape_get(lib->cat, code, &t) == -ENOENT)
			memcpy(out[made++], code, strlen(code) + 1);
	}
	if (made < count) {
		set_err(err, errlen,
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
		set_err(err, errlen,
			"unknown tape type '%s'; use LTO-5, LTO-6, LTO-7, LTO-8 or LTO-9",
			req->media);
		return -EINVAL;
	}
	size_t n = req->prefix ? req->count : req->n;
	if (n == 0) {
		set_err(err, errlen,
			req->prefix ? "--count must be at least 1" : "no barcode given");
		return -EINVAL;
	}
	if (n > 100000) {
		set_err(err, errlen, "at most 100000 tapes at once");
		return -EINVAL;
	}
	char(*codes)[17] = calloc(n, sizeof(*codes));
	if (!codes)
		return -ENOMEM;
	if (req->prefix) {
		lock(lib);
		int rc = generate_barcodes(lib, req->prefix, n,
					   req->media ? forced : lib->cfg.default_media, codes, err,
					   errlen);
		unlock(lib);
		if (rc) {
			free(codes);
			return rc;
		}
	} else {
		for (size_t i = 0; i < n; i++) {
			int rc = lib_barcode_check(req->barcodes[i], err, errlen);
			if (rc) {
				free(codes);
				return rc;
			}
			snprintf(codes[i], 17, "%s", req->barcodes[i]);
			for (size_t j = 0; j < i; j++) {
				if (strcmp(codes[i], codes[j]) == 0) {
					set_err(
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
		enum tape_media m = lib->cfg.default_media;
		if (req->media)
			m = forced;
		else
			media_from_barcode(codes[i], &m);
		snprintf(t->barcode, sizeof(t->barcode), "%s", codes[i]);
		snprintf(t->media, sizeof(t->media), "%s", tape_media_name(m));
		t->capacity = req->size ? req->size : tape_media_capacity(m);
	}

	lock(lib);
	size_t bad = 0;
	int rc = 0;
	/* A medium directory already holding a cartridge the catalog does
	 * not know (a lost catalog, a copied-in tape) is never replaced. */
	for (size_t i = 0; i < n && !rc; i++) {
		char dir[PATH_MAX];
		tape_dir(lib, tapes[i].barcode, dir, sizeof(dir));
		if (cat_tape_get(lib->cat, tapes[i].barcode, &(struct cat_tape){0}) == -ENOENT &&
		    tape_probe(dir) == 1) {
			set_err(
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
		unlock(lib);
		free(tapes);
		free(codes);
		return rc;
	}
	rc = cat_tape_create(lib->cat, tapes, n, "created by operator", &bad);
	if (rc == -EEXIST) {
		struct cat_tape old;
		memset(&old, 0, sizeof(old));
		if (cat_tape_get(lib->cat, tapes[bad].barcode, &old) == 0 &&
		    old.state == CAT_DELETED)
			set_err(
			    err, errlen,
			    "barcode %s belonged to a tape that was deleted; barcodes are never "
			    "reused, choose another",
			    tapes[bad].barcode);
		else
			set_err(err, errlen,
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
		set_err(
		    err, errlen,
		    "the library is full: %zu free storage slot%s for %zu new tape%s; archive or "
		    "delete tapes first (vtlctl tape archive / vtlctl tape delete)",
		    nfree, nfree == 1 ? "" : "s", n, n == 1 ? "" : "s");
	} else if (rc) {
		set_err(err, errlen, "cannot create the tapes in the catalog: %s", strerror(-rc));
	}
	for (size_t i = 0; !rc && i < n; i++) {
		int frc = format_tape(lib, &tapes[i]);
		struct cat_change ch = {.from = CAT_CREATING,
					.keep_element = true,
					.to = CAT_AVAILABLE,
					.write_protect = -1,
					.cause = "medium formatted"};
		if (frc) {
			/* Leave it CREATING: the next start formats it again. */
			set_err(err, errlen, "cannot format the medium of tape %s in %s/tapes: %s",
				tapes[i].barcode, lib->cfg.data_dir, strerror(-frc));
			rc = frc;
			break;
		}
		rc = cat_tape_change(lib->cat, tapes[i].barcode, &ch);
		if (rc)
			set_err(err, errlen, "cannot record tape %s as AVAILABLE: %s",
				tapes[i].barcode, strerror(-rc));
	}
	/* New cartridges in the slots: tell the initiators. */
	smc_notify(&lib->changer, ASC_NOT_READY_TO_READY_CHANGE);
	unlock(lib);
	free(tapes);
	if (rc || !created)
		free(codes);
	else
		*created = codes;
	if (n_created)
		*n_created = rc ? 0 : n;
	return rc;
}

int lib_tape_move(struct lib *lib, const char *barcode, const char *where, char *err, size_t errlen)
{
	enum cat_kind kind;
	uint32_t ordinal;
	if (parse_where(where, &kind, &ordinal)) {
		set_err(err, errlen, "bad destination '%s'; use slot:N, drive:N or ie:N", where);
		return -EINVAL;
	}
	lock(lib);
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
		set_err(err, errlen, "this library has no %s %u (%s 1-%u); see vtlctl library show",
			kind_word(kind), ordinal, cat_kind_name(kind), lib->info.count[kind]);
		goto out;
	}
	if (!t.in_library) {
		set_err(err, errlen, "tape %s is %s on the shelf, not in the library; %s", barcode,
			cat_state_name(t.state),
			t.state == CAT_ARCHIVED ? "retrieve it first (vtlctl tape retrieve)"
						: "wait until it is archived, then retrieve it");
		rc = -ENOENT;
		goto out;
	}
	if (t.element == dst)
		goto out; /* already there */
	rc = element_by_addr(lib, dst, &d);
	if (rc)
		goto out;
	if (d.full) {
		set_err(err, errlen, "%s holds tape %s; choose a free one (vtlctl library show)",
			name, d.tape.barcode);
		rc = -EBUSY;
		goto out;
	}
	if (t.state == CAT_IRRECOVERABLE) {
		set_err(err, errlen, "tape %s is IRRECOVERABLE; it can only be deleted", barcode);
		rc = -EIO;
		goto out;
	}
	if (t.kind == CAT_DRIVE) {
		int di = drive_index(lib, t.element);
		if (di >= 0 && ssc_state(&lib->drives[di]) == SSC_LOADED) {
			drive_refusal(&t, err, errlen, "");
			rc = -EBUSY;
			goto out;
		}
	}
	struct smc_refusal why;
	rc = move_core(lib, &t, t.kind, dst, kind, "moved by operator", &why);
	if (rc == -EMEDIUMTYPE) {
		/* LTO compatibility (ssc.c media_access): a drive takes its own
		 * generation and the one before, older ones not at all (LTO-8
		 * and later) or read-only (up to LTO-7, two back). */
		set_err(err, errlen,
			"tape %s is %s media, which %s (an %s drive) cannot load; "
			"use a tape of the drive's generation or the one before",
			barcode, t.media, name, lib->info.drive_media);
		goto out;
	}
	if (rc) {
		set_err(err, errlen, "moving tape %s to %s failed: %s", barcode, name,
			strerror(-rc));
		goto out;
	}
	smc_notify(&lib->changer, (kind == CAT_IE || t.kind == CAT_IE)
				      ? ASC_IMPORT_OR_EXPORT_ELEMENT_ACCESSED
				      : ASC_NOT_READY_TO_READY_CHANGE);
out:
	unlock(lib);
	return rc;
}

int lib_drive_unload(struct lib *lib, uint32_t drive, char *err, size_t errlen)
{
	lock(lib);
	uint16_t addr, home;
	uint32_t home_ord;
	struct cat_element e;
	int rc = cat_element_find(lib->cat, CAT_DRIVE, drive, &addr);
	if (rc) {
		set_err(err, errlen, "this library has no drive %u (drives 1-%u)", drive,
			lib->info.count[CAT_DRIVE]);
		goto out;
	}
	rc = element_by_addr(lib, addr, &e);
	if (rc)
		goto out;
	if (!e.full) {
		set_err(err, errlen, "drive %u is empty; nothing to unload", drive);
		rc = -ENOENT;
		goto out;
	}
	/* Home: the slot it came from if that is a free storage slot. */
	rc = first_free(lib, CAT_STORAGE, e.tape.has_source ? e.tape.source : 0, &home, &home_ord);
	if (rc) {
		set_err(err, errlen,
			"no free storage slot to return tape %s to; free one first (vtlctl tape "
			"archive or tape move)",
			e.tape.barcode);
		goto out;
	}
	int di = drive_index(lib, addr);
	if (di >= 0) {
		/* The operator's unload: flushes and gives the cartridge up,
		 * whatever the host had set. */
		rc = ssc_remove(&lib->drives[di], true);
		if (rc && rc != -ENOENT) {
			set_err(err, errlen, "drive %u could not unload tape %s: %s", drive,
				e.tape.barcode, strerror(-rc));
			goto out;
		}
		refresh_used(lib, e.tape.barcode);
	}
	struct cat_change ch = {.from = e.tape.state,
				.check_element = true,
				.at = addr,
				.to = e.tape.state,
				.dest = home,
				.write_protect = -1,
				.cause = "drive unloaded by operator"};
	rc = cat_tape_change(lib->cat, e.tape.barcode, &ch);
	if (rc) {
		char dir[PATH_MAX];
		tape_dir(lib, e.tape.barcode, dir, sizeof(dir));
		if (di >= 0)
			ssc_insert(&lib->drives[di], dir);
		set_err(err, errlen, "cannot record the unload of drive %u: %s", drive,
			strerror(-rc));
		goto out;
	}
	smc_notify(&lib->changer, ASC_NOT_READY_TO_READY_CHANGE);
out:
	unlock(lib);
	return rc;
}

int lib_tape_delete(struct lib *lib, const char *barcode, bool force, char *err, size_t errlen)
{
	lock(lib);
	struct cat_tape t;
	int rc = get_tape(lib, barcode, &t, err, errlen);
	if (rc)
		goto out;
	int di = t.in_library && t.kind == CAT_DRIVE ? drive_index(lib, t.element) : -1;
	if (di >= 0 && !force) {
		drive_refusal(&t, err, errlen, ", or delete it with --force");
		rc = -EBUSY;
		goto out;
	}
	if (t.in_library && t.kind == CAT_IE && lib->changer.prevent_removal && !force) {
		set_err(
		    err, errlen,
		    "tape %s is in import/export element %u and an initiator prevents medium "
		    "removal on the changer; allow removal in the backup software, or use --force",
		    barcode, t.ordinal);
		rc = -EBUSY;
		goto out;
	}
	if (!force &&
	    (t.state == CAT_ARCHIVED || t.state == CAT_ARCHIVING || t.state == CAT_RETRIEVING)) {
		set_err(err, errlen,
			"tape %s is %s: its data is only in the object store, and deleting the "
			"tape deletes those objects; retrieve it first (vtlctl tape retrieve %s), "
			"or delete it with --force to destroy the data",
			barcode, cat_state_name(t.state), barcode);
		rc = -ENOTEMPTY;
		goto out;
	}
	uint64_t bytes;
	if (!force && holds_data(lib, barcode, &bytes)) {
		set_err(err, errlen,
			"tape %s holds data (%" PRIu64 " bytes); delete it with --force to destroy "
			"the data",
			barcode, bytes);
		rc = -ENOTEMPTY;
		goto out;
	}
	if (di >= 0) {
		rc = ssc_remove(&lib->drives[di], true);
		if (rc && rc != -ENOENT) {
			set_err(err, errlen, "drive %u could not give up tape %s: %s", t.ordinal,
				barcode, strerror(-rc));
			goto out;
		}
	}
	struct cat_change ch = {.from = t.state,
				.to = CAT_DELETED,
				.to_none = true,
				.write_protect = -1,
				.cause = force ? "deleted by operator (--force)"
					       : "deleted by operator"};
	rc = cat_tape_change(lib->cat, barcode, &ch);
	if (rc) {
		set_err(err, errlen, "cannot delete tape %s in the catalog: %s", barcode,
			strerror(-rc));
		goto out;
	}
	/* After the commit: a crash before this leaves a DELETED tape's
	 * directory, which lib_open removes. */
	char dir[PATH_MAX];
	tape_dir(lib, barcode, dir, sizeof(dir));
	rm_rf(dir);
	if (t.in_library)
		smc_notify(&lib->changer, t.kind == CAT_IE ? ASC_IMPORT_OR_EXPORT_ELEMENT_ACCESSED
							   : ASC_NOT_READY_TO_READY_CHANGE);
out:
	unlock(lib);
	return rc;
}

/* One transition; dest: an element address, STAY or NOWHERE. */
enum { STAY = -1, NOWHERE = -2 };

static int step(struct lib *lib, const char *barcode, enum cat_state from, enum cat_state to,
		int dest, int wp, const char *cause)
{
	struct cat_change ch = {
	    .from = from,
	    .to = to,
	    .to_none = dest == NOWHERE,
	    .dest = dest >= 0 ? (uint16_t)dest : 0,
	    .keep_element = dest == STAY,
	    .write_protect = wp,
	    .cause = cause,
	};
	return cat_tape_change(lib->cat, barcode, &ch);
}

int lib_tape_archive(struct lib *lib, const char *barcode, char *err, size_t errlen)
{
	lock(lib);
	struct cat_tape t;
	int rc = get_tape(lib, barcode, &t, err, errlen);
	if (rc)
		goto out;
	if (t.state == CAT_ARCHIVED) {
		set_err(err, errlen, "tape %s is already ARCHIVED on the shelf", barcode);
		rc = -EALREADY;
		goto out;
	}
	if (t.state != CAT_AVAILABLE && t.state != CAT_RETRIEVED &&
	    t.state != CAT_IN_TRANSIT_TO_SHELF) {
		set_err(err, errlen,
			"tape %s is %s; only AVAILABLE, RETRIEVED or IN_TRANSIT_TO_SHELF tapes can "
			"be archived",
			barcode, cat_state_name(t.state));
		rc = -EINVAL;
		goto out;
	}
	if (t.in_library && t.kind == CAT_DRIVE) {
		drive_refusal(&t, err, errlen, "");
		rc = -EBUSY;
		goto out;
	}
	if (t.in_library && t.kind == CAT_IE && lib->changer.prevent_removal) {
		set_err(err, errlen,
			"tape %s is in import/export element %u and an initiator prevents medium "
			"removal on the changer; allow removal in the backup software first",
			barcode, t.ordinal);
		rc = -EBUSY;
		goto out;
	}
	if (lib->upl) {
		/* The object store is the shelf: the tape leaves the library
		 * now and the uploader makes it ARCHIVING once every byte is
		 * in the store and verified, then ARCHIVED (ARCHITECTURE.md,
		 * durability contract). */
		if (t.state != CAT_IN_TRANSIT_TO_SHELF)
			rc = step(lib, barcode, t.state, CAT_IN_TRANSIT_TO_SHELF, NOWHERE, -1,
				  "archived by operator; uploading to the shelf");
		else if (t.in_library)
			rc = step(lib, barcode, t.state, CAT_IN_TRANSIT_TO_SHELF, NOWHERE, -1,
				  "taken from the import/export element by operator");
		if (rc) {
			set_err(err, errlen, "cannot archive tape %s: %s", barcode, strerror(-rc));
			goto out;
		}
		upl_kick(lib->upl);
		goto notify;
	}
	/* Each step is its own transaction and event, so a crash leaves a
	 * state that recover() knows how to finish. */
	if (t.state != CAT_IN_TRANSIT_TO_SHELF)
		rc = step(lib, barcode, t.state, CAT_IN_TRANSIT_TO_SHELF, STAY, -1,
			  "archived by operator");
	if (!rc)
		rc = step(lib, barcode, CAT_IN_TRANSIT_TO_SHELF, CAT_ARCHIVING, NOWHERE, -1,
			  "left the library for the shelf");
	if (!rc)
		rc = step(lib, barcode, CAT_ARCHIVING, CAT_ARCHIVED, NOWHERE, -1,
			  "on the local shelf (no object store configured)");
	if (rc) {
		set_err(err, errlen, "cannot archive tape %s: %s", barcode, strerror(-rc));
		goto out;
	}
notify:
	if (t.in_library)
		smc_notify(&lib->changer, t.kind == CAT_IE ? ASC_IMPORT_OR_EXPORT_ELEMENT_ACCESSED
							   : ASC_NOT_READY_TO_READY_CHANGE);
out:
	unlock(lib);
	return rc;
}

int lib_tape_retrieve(struct lib *lib, const char *barcode, char *err, size_t errlen)
{
	lock(lib);
	struct cat_tape t;
	uint16_t ie;
	uint32_t ie_ord;
	int rc = get_tape(lib, barcode, &t, err, errlen);
	if (rc)
		goto out;
	if (t.state != CAT_ARCHIVED) {
		set_err(err, errlen, "tape %s is %s (%s); only ARCHIVED tapes can be retrieved",
			barcode, cat_state_name(t.state), t.location);
		rc = -EINVAL;
		goto out;
	}
	rc = first_free(lib, CAT_IE, 0, &ie, &ie_ord);
	if (rc) {
		set_err(err, errlen,
			"no free import/export element for tape %s; move a tape out of the ports "
			"first (vtlctl tape move BARCODE --to slot:N, or tape archive)",
			barcode);
		goto out;
	}
	if (lib->upl) {
		/* The uploader downloads the tape and then puts it, read-only,
		 * into a free import/export element (lib_shelf_step). */
		rc = step(lib, barcode, CAT_ARCHIVED, CAT_RETRIEVING, NOWHERE, -1,
			  "retrieval requested by operator; downloading from the shelf");
		if (rc)
			set_err(err, errlen, "cannot retrieve tape %s: %s", barcode, strerror(-rc));
		else
			upl_kick(lib->upl);
		goto out;
	}
	/* A retrieved tape is read-only (AWS Tape Gateway): set the
	 * cartridge's write-protect tab, so the drive answers DATA PROTECT. */
	char dir[PATH_MAX];
	struct tape *m;
	tape_dir(lib, barcode, dir, sizeof(dir));
	rc = tape_open(dir, &m);
	if (!rc) {
		rc = tape_set_write_protect(m, true);
		int crc = tape_close(m);
		if (!rc)
			rc = crc;
	}
	if (rc) {
		set_err(err, errlen, "the medium of tape %s in %s cannot be opened: %s", barcode,
			dir, strerror(-rc));
		goto out;
	}
	rc = step(lib, barcode, CAT_ARCHIVED, CAT_RETRIEVING, NOWHERE, -1,
		  "retrieval requested by operator");
	if (!rc)
		rc = step(lib, barcode, CAT_RETRIEVING, CAT_RETRIEVED, ie, 1,
			  "retrieved into import/export element (read-only)");
	if (rc) {
		set_err(err, errlen, "cannot retrieve tape %s: %s", barcode, strerror(-rc));
		goto out;
	}
	smc_notify(&lib->changer, ASC_IMPORT_OR_EXPORT_ELEMENT_ACCESSED);
out:
	unlock(lib);
	return rc;
}

/* ---- The shelf in the object store -------------------------------------- */

void lib_set_uploader(struct lib *lib, struct upl *upl)
{
	lock(lib);
	lib->upl = upl;
	unlock(lib);
}

struct upl *lib_uploader(struct lib *lib)
{
	return lib->upl;
}

void lib_tape_dir(const struct lib *lib, const char *barcode, char *buf, size_t cap)
{
	tape_dir(lib, barcode, buf, cap);
}

void lib_say(struct lib *lib, int level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	if (!lib->cfg.log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	lib->cfg.log(lib->cfg.log_arg, level, msg);
}

int lib_shelf_step(struct lib *lib, const char *barcode, enum cat_state from, enum cat_state to,
		   const char *cause)
{
	lock(lib);
	struct cat_tape t;
	int rc = cat_tape_get(lib->cat, barcode, &t);
	if (!rc && t.state != from)
		rc = -ESTALE;
	if (rc)
		goto out;
	if (to == CAT_RETRIEVED) {
		uint16_t ie;
		uint32_t ord;
		rc = first_free(lib, CAT_IE, 0, &ie, &ord);
		if (!rc)
			rc = step(lib, barcode, from, to, ie, 1, cause);
		if (!rc)
			smc_notify(&lib->changer, ASC_IMPORT_OR_EXPORT_ELEMENT_ACCESSED);
		goto out;
	}
	rc = step(lib, barcode, from, to, NOWHERE, -1, cause);
	if (!rc && t.in_library)
		smc_notify(&lib->changer, t.kind == CAT_IE ? ASC_IMPORT_OR_EXPORT_ELEMENT_ACCESSED
							   : ASC_NOT_READY_TO_READY_CHANGE);
out:
	unlock(lib);
	return rc;
}

int lib_medium_back(struct lib *lib, const char *barcode, const char *cause)
{
	lock(lib);
	struct cat_tape t;
	int rc = cat_tape_get(lib->cat, barcode, &t);
	if (!rc && t.state != CAT_IRRECOVERABLE)
		rc = -ESTALE;
	int d = !rc && t.in_library && t.kind == CAT_DRIVE ? drive_index(lib, t.element) : -1;
	if (d >= 0) {
		/* The drive it is in has been empty since its load failed. */
		char dir[PATH_MAX];
		tape_dir(lib, barcode, dir, sizeof(dir));
		rc = ssc_insert(&lib->drives[d], dir);
	}
	if (!rc) {
		rc = step(lib, barcode, CAT_IRRECOVERABLE, media_state_before(lib, &t), STAY, -1,
			  cause);
		if (rc && d >= 0)
			ssc_remove(&lib->drives[d], true);
	}
	if (!rc && t.in_library)
		smc_notify(&lib->changer, ASC_NOT_READY_TO_READY_CHANGE);
	unlock(lib);
	return rc;
}

int lib_tape_adopt(struct lib *lib, const char *barcode, const char *media, uint64_t capacity,
		   enum cat_state state, const char *cause, char *err, size_t errlen)
{
	struct cat_tape t;
	memset(&t, 0, sizeof(t));
	snprintf(t.barcode, sizeof(t.barcode), "%s", barcode);
	snprintf(t.media, sizeof(t.media), "%s", media);
	t.capacity = capacity;
	lock(lib);
	size_t bad;
	int rc = cat_tape_create(lib->cat, &t, 1, cause, &bad);
	if (!rc)
		rc = step(lib, barcode, CAT_CREATING, state,
			  state == CAT_AVAILABLE ? STAY : NOWHERE, -1, cause);
	if (rc)
		set_err(err, errlen, "cannot add tape %s to the catalog: %s%s", barcode,
			strerror(-rc), rc == -ENOSPC ? " (no free storage slot)" : "");
	else if (state == CAT_AVAILABLE)
		refresh_used(lib, barcode);
	unlock(lib);
	return rc;
}

/* ---- Snapshots ---------------------------------------------------------- */

int lib_drives_info(struct lib *lib, struct lib_drive_info **out, size_t *n)
{
	struct lib_drive_info *v = calloc(lib->n_drives ? lib->n_drives : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	lock(lib);
	for (size_t i = 0; i < lib->n_drives; i++) {
		v[i].ordinal = lib->cdrives[i].ordinal;
		v[i].lun = lib->cdrives[i].lun;
		v[i].address = lib->cdrives[i].address;
		snprintf(v[i].serial, sizeof(v[i].serial), "%s", lib->cdrives[i].serial);
		struct cat_element e;
		if (element_by_addr(lib, lib->cdrives[i].address, &e) == 0 && e.full)
			snprintf(v[i].barcode, sizeof(v[i].barcode), "%s", e.tape.barcode);
		v[i].state = ssc_state(&lib->drives[i]);
	}
	unlock(lib);
	*out = v;
	*n = lib->n_drives;
	return 0;
}

int lib_elements(struct lib *lib, struct cat_element **out, size_t *n)
{
	lock(lib);
	int rc = cat_elements(lib->cat, out, n);
	unlock(lib);
	return rc;
}

/*
 * The catalog's bytes-used of a tape is brought up to date when the tape
 * leaves a drive (refresh_used). While it is in one, report what the drive
 * has written so far instead: one short drive lock, no catalog write per
 * WRITE. Called with the lock held (changer before drive, spc.h).
 */
static void live_used(struct lib *lib, struct cat_tape *t)
{
	uint64_t used;
	int i;

	if (!t->in_library || t->kind != CAT_DRIVE)
		return;
	i = drive_index(lib, t->element);
	if (i >= 0 && (size_t)i < lib->n_drives_ok &&
	    ssc_used_bytes(&lib->drives[i], t->barcode, &used))
		t->used = used;
}

int lib_tape_get(struct lib *lib, const char *barcode, struct cat_tape *t)
{
	lock(lib);
	int rc = cat_tape_get(lib->cat, barcode, t);
	if (rc == 0)
		live_used(lib, t);
	unlock(lib);
	return rc;
}

int lib_tape_list(struct lib *lib, int state, struct cat_tape **out, size_t *n)
{
	lock(lib);
	int rc = cat_tape_list(lib->cat, state, false, out, n);
	if (rc == 0)
		for (size_t i = 0; i < *n; i++)
			live_used(lib, &(*out)[i]);
	unlock(lib);
	return rc;
}

int lib_events(struct lib *lib, const char *barcode, size_t limit, struct cat_event **out,
	       size_t *n)
{
	lock(lib);
	int rc = cat_events(lib->cat, barcode, limit, out, n);
	unlock(lib);
	return rc;
}

int lib_info(struct lib *lib, struct cat_library *info)
{
	*info = lib->info;
	snprintf(info->vendor, sizeof(info->vendor), "%s", lib->changer.ident.vendor);
	snprintf(info->product, sizeof(info->product), "%s", lib->changer.ident.product);
	snprintf(info->revision, sizeof(info->revision), "%s", lib->changer.ident.revision);
	return 0;
}
