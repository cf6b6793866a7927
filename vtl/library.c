/*
 * library.c - the library model (see library.h): builds the changer and the
 * drives from the catalog, recovers after a crash, implements the
 * changer's backend (the one move of a cartridge) and the steps the
 * shelf's worker asks for. The operator's actions are in admin.c, the
 * rules both keep (the lock, the catalog writer) in library_int.h, and
 * which state changes are allowed in lifecycle.c.
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
 * The shelf is the object store: a tape moved to an import/export element
 * is exported and goes IN_TRANSIT_TO_SHELF there; the shelf's worker
 * (vtl/shelf.c, woken through lib_set_shelf_worker) takes it out of the
 * library to the shelf once every byte is in the store and verified, as
 * AWS Tape Gateway archives an ejected tape; vtlctl tape archive sends a
 * tape there from anywhere in the library. The library never calls the
 * uploader: it only wakes whoever attached.
 */
#include "config.h"

#include "library_int.h"
#include "media.h"
#include "drive_worker.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <fcntl.h>
#include <openssl/crypto.h>

#include "catalog/catalog_key.h"
#include "datadir.h"
#include "keys.h"
#include "scsi/sense.h"
#include "scsi/tape.h"
#include "util/escape.h"

/* Messages quote barcodes, prefixes and places from requests and store
 * keys: escaped, and cut between characters when long (util/escape.h). */
void lib_err(char *err, size_t errlen, const char *fmt, ...)
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
	/* STK L700: Linux, Windows, Bacula and Amanda all know it; its
	 * element addresses are in scsi/personality.c. */
	cfg->n_drives = 4;
	cfg->n_slots = 40;
	cfg->n_ie = 4;
	lib_config_set_changer(cfg, smc_personality_default());
	cfg->drive_media = TAPE_LTO8;
	cfg->drive_vendor = SSC_VENDOR_IBM;
	cfg->default_media = TAPE_LTO8;
	cfg->auto_unload = true;
}

void lib_config_set_changer(struct lib_config *cfg, const struct smc_personality *p)
{
	cfg->changer = p;
	if (!(cfg->overrides & LIB_SET_TRANSPORT))
		cfg->transport_base = p->transport_base;
	if (!(cfg->overrides & LIB_SET_IE))
		cfg->ie_base = p->ie_base;
	if (!(cfg->overrides & LIB_SET_DRIVE))
		cfg->drive_base = p->drive_base;
	if (!(cfg->overrides & LIB_SET_STORAGE))
		cfg->storage_base = p->storage_base;
}

/* The changer's INQUIRY strings: the operator's override, else the
 * personality's. */
static const char *ident_str(const char *override, const char *personality)
{
	return override[0] ? override : personality;
}

const struct smc_personality *lib_personality(const struct lib *lib)
{
	return lib->cfg.changer;
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

bool lib_media_checked(struct lib *lib)
{
	return media_pass_over(lib);
}

struct cat *lib_catalog(struct lib *lib)
{
	return lib->cat;
}

const char *lib_data_dir(const struct lib *lib)
{
	return lib->cfg.data_dir;
}

const struct key_master *lib_master_key(const struct lib *lib, bool previous)
{
	return previous ? lib->cfg.previous : lib->cfg.master;
}

void lib_lock(struct lib *lib)
{
	pthread_mutex_lock(&lib->changer.lock);
}

void lib_unlock(struct lib *lib)
{
	pthread_mutex_unlock(&lib->changer.lock);
}

/* lib_open refuses a data directory so long that this cannot fit. */
static void tape_dir(const struct lib *lib, const char *barcode, char *buf, size_t cap)
{
	datadir_tape(lib->cfg.data_dir, barcode, buf, cap);
}

/* A key's refusal of a load: said in the log, kept for the command. */
static void key_say(struct lib *lib, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void key_say(struct lib *lib, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(lib->key_err, sizeof(lib->key_err), fmt, ap);
	va_end(ap);
	lib_say(lib, 0, "%s", lib->key_err);
}

/*
 * The data key of a tape the catalog holds a wrapped key for, unwrapped
 * with the master key (or the previous one during a rotation). -ENOENT: the
 * catalog holds none (not encrypted at rest as far as it knows). A refusal
 * (-ENOKEY, -EKEYREJECTED) is said (key_say) naming the tape and the fix.
 */
static int tape_data_key(struct lib *lib, const char *barcode, unsigned char dk[KEY_BYTES])
{
	struct cat_key_row row;
	char named[KEY_ID_LEN + 1] = "";
	int rc = cat_key_get(lib->cat, barcode, &row);
	if (rc)
		return rc;
	if (!lib->cfg.master) {
		key_say(lib,
			"tape %s is encrypted at rest and no master key is configured; set "
			"[encryption] mode = library with master_key_file or key_command and "
			"restart vtld",
			barcode);
		return -ENOKEY;
	}
	rc = key_unwrap(lib->cfg.master, barcode, row.wrapped, dk);
	if (rc == -ENOKEY && lib->cfg.previous)
		rc = key_unwrap(lib->cfg.previous, barcode, row.wrapped, dk);
	if (rc == -ENOKEY) {
		key_wrapped_master(row.wrapped, named);
		key_say(lib,
			"tape %s: its data key is wrapped by master key %s, not by the configured "
			"%s; configure that master key (as previous_key_file during a rotation)",
			barcode, named, lib->cfg.master->id);
	} else if (rc) {
		key_say(lib,
			"tape %s: its wrapped data key in the catalog does not open with master "
			"key %s (altered, or another tape's)",
			barcode, lib->cfg.master->id);
		rc = -EKEYREJECTED;
	}
	if (rc)
		OPENSSL_cleanse(dk, KEY_BYTES);
	return rc;
}

int lib_insert(struct lib *lib, size_t i, const char *barcode, const char *dir)
{
	unsigned char dk[KEY_BYTES];

	/* Not yet checked since start: its partial downloads go first. */
	media_pass_loading(lib, barcode);
	lib->key_err[0] = 0;
	struct cat_tape ct;
	/* A cleaning cartridge cleans the drive (scsi/ssc_clean.c), or not
	 * when it has no cleaning left; lib_move counts the use. */
	if (cat_tape_get(lib->cat, barcode, &ct) == 0 && ct.clean_max > 0)
		return ssc_insert_cleaning(&lib->drives[i], dir, ct.clean_uses >= ct.clean_max);
	int rc = tape_data_key(lib, barcode, dk);
	if (rc == -ENOENT) {
		rc = ssc_insert(&lib->drives[i], dir);
		if (rc == -ENOKEY)
			key_say(lib,
				"tape %s is encrypted at rest but the catalog holds no key for it; "
				"rebuild the catalog with the master key configured "
				"(vtlctl catalog rebuild)",
				barcode);
		return rc;
	}
	if (rc)
		return rc;
	rc = ssc_insert_keyed(&lib->drives[i], dir, dk);
	if (rc == -EKEYREJECTED || rc == -EINVAL)
		key_say(lib,
			"tape %s: its cartridge %s does not match the data key the catalog "
			"holds for it (%s)",
			barcode, dir,
			rc == -EINVAL ? "the cartridge is not encrypted at rest"
				      : "its first block does not open under it");
	OPENSSL_cleanse(dk, sizeof(dk));
	return rc;
}

/*
 * Would tape t's data key open for a load (lib_insert's first step)? Asked
 * before a blank tape's medium is made for a drive, so that a load the key
 * refuses leaves no medium and no catalog change behind. 0: it opens, or
 * the tape has none (a cleaning cartridge, or not encrypted at rest).
 */
static int load_key_opens(struct lib *lib, const struct cat_tape *t)
{
	unsigned char dk[KEY_BYTES];
	if (t->clean_max > 0)
		return 0;
	lib->key_err[0] = 0;
	int rc = tape_data_key(lib, t->barcode, dk);
	OPENSSL_cleanse(dk, sizeof(dk));
	return rc == -ENOENT ? 0 : rc;
}

/* Is rc a key's refusal (lib_insert), not damage to the medium? */
static bool key_refused(int rc)
{
	return rc == -ENOKEY || rc == -EKEYREJECTED;
}

static uint64_t serial_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (; *s; s++) {
		h ^= (uint8_t)*s;
		h *= 0x100000001b3ull;
	}
	return h;
}

/* NAA 6 designator (SPC-4, "NAA IEEE Registered Extended designator
 * format"), derived from the serial (FNV-1a) so it is stable across
 * restarts. */
static uint64_t naa_for(const char *serial)
{
	return 0x6000000000000000ull | (serial_hash(serial) & 0x0fffffffffffffffull);
}

int lib_drive_at(const struct lib *lib, uint16_t addr)
{
	for (size_t i = 0; i < lib->n_drives; i++)
		if (lib->cdrives[i].address == addr)
			return (int)i;
	return -1;
}

/* ---- Element helpers ---------------------------------------------------- */

int lib_element_at(struct lib *lib, uint16_t addr, struct cat_element *out)
{
	return cat_element_get(lib->cat, addr, out);
}

int lib_first_free(struct lib *lib, enum cat_kind kind, uint16_t prefer, uint16_t *addr,
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
void lib_refresh_used(struct lib *lib, const char *barcode)
{
	char dir[PATH_MAX];
	struct tape *t;
	tape_dir(lib, barcode, dir, sizeof(dir));
	if (tape_open(dir, &t) == 0) {
		cat_tape_set_used(lib->cat, barcode, tape_used_bytes(t));
		tape_close(t);
	}
}

/*
 * The lifecycle's event for a move: into an import/export element is an
 * export (toward the shelf); out of one into the library is an import,
 * which cancels an export not yet archived.
 */
enum lc_event lib_move_event(const struct cat_tape *t, enum cat_kind to)
{
	enum cat_kind from = t->in_library ? t->kind : CAT_STORAGE;
	if (to == CAT_IE && from != CAT_IE)
		return LC_EXPORT;
	if (from == CAT_IE && to != CAT_IE && t->state == CAT_IN_TRANSIT_TO_SHELF)
		return LC_IMPORT;
	return LC_MOVE;
}

/*
 * A cleaning cartridge went into a drive: one use more in the catalog, as
 * the cartridge memory of a real one counts it (IBM TS4300 documentation,
 * "Cleaning cartridge": the LTO-CM chip tracks the uses), or, expired, a
 * word to the operator. The drive has cleaned already; a failure to count
 * is said, not undone.
 */
static void count_cleaning(struct lib *lib, const struct cat_tape *t, int drive)
{
	unsigned ord = lib->cdrives[drive].ordinal;
	if (t->clean_uses >= t->clean_max) {
		lib_say(lib, 0,
			"cleaning cartridge %s is expired (%u of %u cleanings used); drive %u was "
			"not cleaned: create a new one (vtlctl tape create --cleaning CLN...)",
			t->barcode, t->clean_uses, t->clean_max, ord);
		return;
	}
	int rc = cat_tape_clean_use(lib->cat, t->barcode);
	if (rc)
		lib_say(lib, 0,
			"cleaning cartridge %s cleaned drive %u but its use was not counted: %s",
			t->barcode, ord, strerror(-rc));
	else
		lib_say(lib, 1, "cleaning cartridge %s cleaned drive %u (%u of %u cleanings used)",
			t->barcode, ord, t->clean_uses + 1, t->clean_max);
}

/* The one move (library_int.h). */
int lib_move(struct lib *lib, const struct cat_tape *t, uint16_t dst, enum cat_kind dst_kind,
	     const char *cause, struct smc_refusal *why, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	enum lc_event ev = lib_move_event(t, dst_kind);
	int src_drive = t->kind == CAT_DRIVE ? lib_drive_at(lib, t->element) : -1;
	int dst_drive = dst_kind == CAT_DRIVE ? lib_drive_at(lib, dst) : -1;
	int rc = lc_check(t, ev, NULL, NULL, NULL, err, errlen);

	if (rc) {
		/* A damaged or unfinished cartridge cannot be handled. */
		why->key = SK_HARDWARE_ERROR;
		why->asc_ascq = ASC_MEDIUM_LOAD_OR_EJECT_FAILED;
		return rc;
	}
	tape_dir(lib, t->barcode, dir, sizeof(dir));
	/* A blank tape's medium is made when a drive or the shelf first
	 * needs it (lib_make_medium). */
	if (t->unmade && (dst_drive >= 0 || ev == LC_EXPORT)) {
		struct cat_tape made = *t;
		enum tape_media m;
		/* Not for a drive that cannot take it (ssc_insert's rule): a
		 * refused load leaves the tape as it was. Cleaning cartridges
		 * fit every drive. */
		if (dst_drive >= 0 && !t->clean_max && tape_media_parse(t->media, &m) == 0 &&
		    ssc_takes(&lib->drives[dst_drive], m)) {
			why->key = SK_HARDWARE_ERROR;
			why->asc_ascq = ASC_MEDIUM_LOAD_OR_EJECT_FAILED;
			return -EMEDIUMTYPE;
		}
		/* Nor for a drive whose load the tape's data key would refuse
		 * (no master key, or another one): refused as lib_insert
		 * refuses a made tape, before anything is made. */
		rc = dst_drive >= 0 ? load_key_opens(lib, t) : 0;
		if (rc) {
			why->key = SK_HARDWARE_ERROR;
			why->asc_ascq = ASC_MEDIUM_LOAD_OR_EJECT_FAILED;
			return rc;
		}
		rc = lib_make_medium(lib, &made);
		if (rc) {
			why->key = SK_HARDWARE_ERROR;
			why->asc_ascq = ASC_MEDIUM_LOAD_OR_EJECT_FAILED;
			lib_err(err, errlen, "tape %s: its medium cannot be made in %s: %s",
				t->barcode, dir, strerror(-rc));
			return rc;
		}
	}
	if (src_drive >= 0 && lib->cfg.auto_unload) {
		rc = ssc_library_unload(&lib->drives[src_drive]);
		if (rc == -EPERM) {
			/* PREVENT ALLOW MEDIUM REMOVAL (SSC-4 and SMC-3, "PREVENT ALLOW
			 * MEDIUM REMOVAL command"): a host prevented removal from the
			 * drive, 53h/02h. */
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
		lib_refresh_used(lib, t->barcode);
	}
	if (dst_drive >= 0) {
		rc = lib_insert(lib, (size_t)dst_drive, t->barcode, dir);
		/* A damaged manifest is rebuilt from the records, then the
		 * load goes on (vtl/media.c). */
		if (rc == -EBADMSG && media_repair(lib, t) == 1)
			rc = lib_insert(lib, (size_t)dst_drive, t->barcode, dir);
		if (rc == -EBADMSG) {
			/* Damaged beyond repair here: IRRECOVERABLE, which the
			 * uploader answers with the store's copy if it has one. */
			if (lc_apply(lib->cat, t, LC_MEDIUM_LOST, NULL, 0,
				     "the medium cannot be opened at a load", NULL, 0) == 0)
				lib_say(
				    lib, 0,
				    "tape %s is IRRECOVERABLE: its medium %s cannot be opened or "
				    "repaired; it comes back from the object store if the store "
				    "holds it",
				    t->barcode, dir);
		}
		if (rc) {
			if (src_drive >= 0)
				lib_insert(lib, (size_t)src_drive, t->barcode, dir);
			why->key = SK_HARDWARE_ERROR;
			why->asc_ascq = ASC_MEDIUM_LOAD_OR_EJECT_FAILED;
			return rc;
		}
	}
	rc = lc_apply(lib->cat, t, ev, NULL, dst, cause, err, errlen);
	if (rc) {
		/* Undo the drive side so the catalog stays the truth. */
		if (dst_drive >= 0)
			ssc_remove(&lib->drives[dst_drive], true);
		if (src_drive >= 0)
			lib_insert(lib, (size_t)src_drive, t->barcode, dir);
		why->key = rc == -EBUSY ? SK_ILLEGAL_REQUEST : SK_HARDWARE_ERROR;
		why->asc_ascq = rc == -EBUSY ? ASC_MEDIUM_DESTINATION_ELEMENT_FULL
					     : ASC_INTERNAL_TARGET_FAILURE;
		return rc;
	}
	if (dst_drive >= 0 && t->clean_max > 0)
		count_cleaning(lib, t, dst_drive);
	return 0;
}

/* ---- The changer's backend (smc.h; called under the changer lock) ------ */

static int changer_inventory(void *ctx, struct smc_element *els, size_t n)
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
		int d = e->type == SMC_ET_DRIVE ? lib_drive_at(lib, e->addr) : -1;
		if (d >= 0) {
			snprintf(e->dvcid, sizeof(e->dvcid), "%s", lib->cdrives[d].serial);
			e->lu_valid = true;
			e->lun = (uint8_t)lib->cdrives[d].lun;
		}
		if (!c->full)
			continue;
		e->full = true;
		snprintf(e->barcode, sizeof(e->barcode), "%s", c->tape.barcode);
		e->cleaning = c->tape.clean_max > 0;
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

static int changer_move(void *ctx, uint16_t src, uint16_t dst, struct smc_refusal *why)
{
	struct lib *lib = ctx;
	struct cat_element s, d;
	int rc = lib_element_at(lib, src, &s);
	if (!rc)
		rc = lib_element_at(lib, dst, &d);
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
	const char *cause = d.kind == CAT_IE   ? "MOVE MEDIUM by initiator (export)"
			    : s.kind == CAT_IE ? "MOVE MEDIUM by initiator (import)"
					       : "MOVE MEDIUM by initiator";
	return lib_move(lib, &s.tape, dst, d.kind, cause, why, NULL, 0);
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
	const struct smc_personality *p = cfg->changer;
	snprintf(info.vendor, sizeof(info.vendor), "%s", ident_str(cfg->vendor, p->vendor));
	snprintf(info.product, sizeof(info.product), "%s", ident_str(cfg->product, p->product));
	snprintf(info.revision, sizeof(info.revision), "%s", ident_str(cfg->revision, p->revision));
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
		lib_err(err, errlen,
			"cannot create the library in the catalog (%s); check the layout keys in "
			"[library] (element ranges must not overlap)",
			strerror(-rc));
	return rc;
}

/* Does dir hold only what a format writes (manifests, empty segments)? */
static bool format_leftovers(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	bool only = d != NULL;
	while (only && (de = readdir(d))) {
		size_t l = strlen(de->d_name);
		struct stat sb;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    strncmp(de->d_name, "MANIFEST", 8) == 0)
			continue;
		only = strncmp(de->d_name, "seg-", 4) == 0 && l > 4 &&
		       strcmp(de->d_name + l - 4, ".dat") == 0 &&
		       fstatat(dirfd(d), de->d_name, &sb, 0) == 0 && sb.st_size == 0;
	}
	if (d)
		closedir(d);
	return only;
}

/*
 * The wrapped data key of a tape being created (docs/design.md, "Encryption
 * of cartridges at rest"): the catalog's, or, with a master key and `make`,
 * a new one committed to the catalog before the cartridge is formatted, so
 * that a crash in between finds it at the next try. 0 and *wrapped set;
 * -ENOENT: the tape is not to be encrypted (no key, and no master key or
 * not `make`; or a cleaning cartridge: it never holds data, so it gets no
 * key to keep, upload, rotate and shred). A tape gets its key when it is
 * created, whether its medium is made then or at its first load: it is
 * encrypted at rest when the library was when it was created.
 */
int lib_creation_key(struct lib *lib, const struct cat_tape *t, bool make, struct cat_key_row *row)
{
	if (t->clean_max > 0)
		return -ENOENT;
	const char *barcode = t->barcode;
	int rc = cat_key_get(lib->cat, barcode, row);
	if (rc != -ENOENT || !lib->cfg.master || !make)
		return rc;
	unsigned char dk[KEY_BYTES];
	rc = key_data_new(dk);
	if (!rc)
		rc = key_wrap(lib->cfg.master, barcode, dk, row->wrapped);
	OPENSSL_cleanse(dk, sizeof(dk));
	if (!rc)
		rc = cat_key_set(lib->cat, barcode, row->wrapped, lib->cfg.master->id);
	return rc ? (rc == -ENOENT ? -EIO : rc) : 0;
}

int lib_format_medium(struct lib *lib, const struct cat_tape *t, bool sync)
{
	char dir[PATH_MAX], keyfile[PATH_MAX];
	struct tape_info info;
	struct cat_key_row row;
	tape_dir(lib, t->barcode, dir, sizeof(dir));
	if (media_info_of(t, &info))
		return -EINVAL;
	int krc = lib_creation_key(lib, t, t->state == CAT_CREATING, &row);
	if (krc && krc != -ENOENT)
		return krc;
	info.at_rest = krc == 0;
	if (info.at_rest &&
	    datadir_tape_key(lib->cfg.data_dir, t->barcode, keyfile, sizeof(keyfile)))
		return -ENAMETOOLONG;
	/* A cartridge already there is somebody's data, whatever the
	 * catalog says: never formatted over. The one exception is the
	 * blank this very tape got from a format that finished just before
	 * a crash. An unfinished format's leftovers hold no data. */
	int rc = tape_probe(dir);
	if (rc == 1) {
		struct tape *blank;
		if (tape_open(dir, &blank) == 0) {
			bool ours = strcmp(tape_get_info(blank)->barcode, t->barcode) == 0 &&
				    tape_eod(blank) == 0 &&
				    (t->state == CAT_CREATING || t->unmade) &&
				    tape_get_info(blank)->at_rest == info.at_rest;
			tape_close(blank);
			if (!ours)
				return -EEXIST;
			/* The KEY file may be what the crash left out. */
			return info.at_rest ? datadir_write_private(dir, keyfile, row.wrapped) : 0;
		}
		/* A format cut by a crash or a power loss can leave a manifest
		 * that does not read; a tape still CREATING, or whose medium
		 * the catalog has not recorded as made, never held data, so
		 * what is there with no byte in any segment is that format's,
		 * and it is done again. */
		if ((t->state != CAT_CREATING && !t->unmade) || !format_leftovers(dir))
			return -EEXIST;
		rc = 0;
	}
	if (!rc)
		rc = datadir_rm_rf(dir);
	if (!rc)
		rc = sync ? tape_format(dir, &info) : tape_format_nosync(dir, &info);
	if (!rc && info.at_rest)
		rc = datadir_write_private(dir, keyfile, row.wrapped);
	return rc;
}

/*
 * The medium of a blank tape made at its first use (a load into a drive, or
 * an export toward the shelf): formatted with its fsyncs, then recorded as
 * made. A crash between the two leaves the blank this tape's format wrote,
 * which the next try takes as its own (lib_format_medium); a crash inside
 * the format leaves leftovers with no data, formatted again. So every try
 * ends with the same blank, and the tape's state never changes here.
 */
int lib_make_medium(struct lib *lib, struct cat_tape *t)
{
	if (!t->unmade)
		return 0;
	int rc = lib_format_medium(lib, t, true);
	if (!rc)
		rc = cat_tape_set_made(lib->cat, t->barcode);
	if (rc) {
		char dir[PATH_MAX];
		tape_dir(lib, t->barcode, dir, sizeof(dir));
		lib_say(lib, 0, "tape %s: its medium cannot be made in %s (%s)%s", t->barcode, dir,
			strerror(-rc),
			rc == -EEXIST ? "; the directory holds another cartridge, which is never "
					"formatted over: move it away and load the tape again"
				      : "; fix the cause and load the tape again");
		return rc;
	}
	t->unmade = false;
	return 0;
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
	char names[200], found[512] = "", tapes[PATH_MAX];
	size_t n = 0;
	datadir_tapes(dd, tapes, sizeof(tapes));
	int rc = media_scan(dd, &n, names, sizeof(names));
	if (rc) {
		lib_err(err, errlen, "cannot look for cartridges in %s: %s", tapes, strerror(-rc));
		return rc;
	}
	if (n) {
		lib_err(err, errlen,
			"the catalog %s holds no library, but %s holds %zu cartridge%s (%s): the "
			"catalog was lost or replaced, and vtld will not start a new library over "
			"them; rebuild the catalog from them (and the object store): vtld "
			"--rebuild-catalog; to start a new library instead, move %s away first",
			catalog, tapes, n, n == 1 ? "" : "s", names, tapes);
		return -EEXIST;
	}
	/* Tapes of an earlier library in the store are safe from a new one
	 * (the uploader never writes over a prefix the catalog does not
	 * know, nor over a library record naming tapes it does not know)
	 * and are brought in by vtlctl catalog rebuild: say so. */
	rc = lib->cfg.store_holds_tapes
		 ? lib->cfg.store_holds_tapes(lib->cfg.store_arg, found, sizeof(found))
		 : 0;
	if (rc > 0)
		lib_say(lib, 1,
			"a new library in %s, but the object store holds tapes of an earlier "
			"one (%s): bring them into this catalog with vtlctl catalog rebuild",
			dd, found);
	else if (rc < 0)
		lib_say(lib, 1,
			"a new library in %s; whether the object store holds tapes of an earlier "
			"one is not known (%s): once it answers, vtlctl catalog rebuild brings "
			"any into this catalog",
			dd, found);
	return -ENOENT;
}

/*
 * After a crash, bring the catalog and the media to a consistent state:
 * finish creations, remove deleted tapes' media, return a cartridge left
 * in the picker. ARCHIVING and RETRIEVING tapes are the shelf's worker's
 * to finish (vtl/shelf.c).
 */
/* The tapes recover_after_crash looks at: CREATING, DELETED, and those in
 * a transport element, found by the catalog's indexes rather than a list
 * of every tape (a start of 10,000 tapes). */
static int tapes_to_recover(struct lib *lib, struct cat_tape **out, size_t *n)
{
	static const enum cat_state states[] = {CAT_CREATING, CAT_DELETED};
	struct cat_tape *v = NULL;
	size_t cnt = 0;
	int rc = 0;
	for (size_t k = 0; k < sizeof(states) / sizeof(states[0]) && !rc; k++) {
		struct cat_tape *some;
		size_t m;
		rc = cat_tape_list(lib->cat, (int)states[k], true, &some, &m);
		if (rc)
			break;
		struct cat_tape *nv = m ? realloc(v, (cnt + m) * sizeof(*v)) : v;
		if (m && !nv)
			rc = -ENOMEM;
		else if (m) {
			v = nv;
			memcpy(v + cnt, some, m * sizeof(*v));
			cnt += m;
		}
		free(some);
	}
	for (uint32_t a = 0; a < lib->info.count[CAT_TRANSPORT] && !rc; a++) {
		struct cat_element e;
		int erc =
		    cat_element_get(lib->cat, (uint16_t)(lib->info.base[CAT_TRANSPORT] + a), &e);
		if (erc == -ENOENT || (erc == 0 && (!e.full || e.tape.state == CAT_CREATING)))
			continue; /* empty, or listed above */
		if (erc) {
			rc = erc;
			break;
		}
		struct cat_tape *nv = realloc(v, (cnt + 1) * sizeof(*v));
		if (!nv) {
			rc = -ENOMEM;
			break;
		}
		v = nv;
		v[cnt++] = e.tape;
	}
	if (rc) {
		free(v);
		return rc;
	}
	*out = v;
	*n = cnt;
	return 0;
}

static int recover_after_crash(struct lib *lib)
{
	struct cat_tape *tapes;
	size_t n;
	int rc = tapes_to_recover(lib, &tapes, &n);
	if (rc)
		return rc;
	for (size_t i = 0; i < n && !rc; i++) {
		struct cat_tape *t = &tapes[i];
		char dir[PATH_MAX], why[LIB_ERR_MAX];
		tape_dir(lib, t->barcode, dir, sizeof(dir));
		if (t->state == CAT_CREATING) {
			/* Formatting did not finish: do it again (nothing to do
			 * for a medium made at the first load). */
			struct cat_key_row row;
			int frc = t->unmade ? lib_creation_key(lib, t, true, &row)
					    : lib_format_medium(lib, t, true);
			if (frc == -ENOENT && t->unmade)
				frc = 0; /* not encrypted at rest */
			if (frc == 0)
				rc = lc_apply(lib->cat, t, LC_FORMATTED, NULL, 0,
					      "recovery: creation finished after restart", why,
					      sizeof(why));
			else
				lib_say(lib, 0,
					"tape %s stays CREATING: its medium %s cannot be formatted "
					"(%s)%s",
					t->barcode, dir, strerror(-frc),
					frc == -EEXIST
					    ? "; it holds another cartridge, which is never "
					      "formatted over: move it away and restart vtld"
					    : "");
			if (!rc && frc == 0)
				rc = cat_tape_get(lib->cat, t->barcode, t);
		} else if (t->state == CAT_DELETED) {
			datadir_rm_rf(dir);
		}
		if (!rc && t->in_library && t->kind == CAT_TRANSPORT) {
			/* Parked in the picker by an EXCHANGE MEDIUM that did not
			 * finish: put it in a free slot, as a library's recovery
			 * after power loss does. */
			uint16_t home;
			uint32_t ord;
			if (lib_first_free(lib, CAT_STORAGE, t->has_source ? t->source : 0, &home,
					   &ord) == 0)
				rc = lc_apply(lib->cat, t, LC_RETURN_HOME, NULL, home,
					      "recovery: returned from the picker", why,
					      sizeof(why));
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
		if (lib_element_at(lib, lib->cdrives[i].address, &e) || !e.full)
			continue;
		/* Its medium checked before it loads (repaired, or marked
		 * IRRECOVERABLE), then the tape as that left it. */
		media_check_tape(lib, &e.tape);
		if (lib_element_at(lib, lib->cdrives[i].address, &e) || !e.full)
			continue;
		char dir[PATH_MAX];
		tape_dir(lib, e.tape.barcode, dir, sizeof(dir));
		int rc = lib_insert(lib, i, e.tape.barcode, dir);
		/* A key refused is said (lib_insert), not damage: the tape
		 * loads once the right master key is configured. */
		if (rc && !key_refused(rc) &&
		    lc_apply(lib->cat, &e.tape, LC_MEDIUM_LOST, NULL, 0,
			     "recovery: the medium cannot be opened", NULL, 0) == 0)
			lib_say(lib, 0,
				"tape %s is IRRECOVERABLE: its medium %s cannot be opened in drive "
				"%u; it comes back from the object store if the store holds it",
				e.tape.barcode, dir, lib->cdrives[i].ordinal);
	}
}

/*
 * A library switched to a personality whose software takes shorter
 * barcodes (IBM-03584L32-0402) keeps every tape; say which ones that
 * software will not use, so the operator can retire or relabel them.
 */
static void warn_long_barcodes(struct lib *lib)
{
	const struct smc_personality *p = lib->cfg.changer;
	if (!p->max_barcode)
		return;
	enum { SHOWN = 8 };
	char first[SHOWN][CAT_BARCODE_MAX + 1];
	size_t found;
	if (cat_long_barcodes(lib->cat, p->max_barcode, first, SHOWN, &found) || !found)
		return;
	size_t shown = found < SHOWN ? found : SHOWN;
	char list[SHOWN * (CAT_BARCODE_MAX + 2) + 1] = "";
	for (size_t i = 0, used = 0; i < shown; i++)
		used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "",
					 first[i]);
	lib_say(lib, 1,
		"%zu tape%s of this library ha%s barcodes longer than %u characters (%s%s), "
		"which the %s changer's software does not take: %s; they stay in the "
		"library, readable by hosts that take them",
		found, found == 1 ? "" : "s", found == 1 ? "s" : "ve", p->max_barcode, list,
		found > shown ? ", ..." : "", p->name, p->max_barcode_why);
}

int lib_open(const struct lib_config *cfg, struct lib **out, char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct lib *lib = calloc(1, sizeof(*lib));
	if (!lib)
		return -ENOMEM;
	lib->cfg = *cfg;
	if (!lib->cfg.changer)
		lib->cfg.changer = smc_personality_default();
	int rc = 0;

	/* Room for every tape's medium directory (and its ".download"). */
	char longest[CAT_BARCODE_MAX + 16];
	memset(longest, 'X', sizeof(longest) - 1);
	longest[sizeof(longest) - 1] = 0;
	if (datadir_tape(cfg->data_dir, longest, path, sizeof(path))) {
		rc = -ENAMETOOLONG;
		lib_err(err, errlen, "data directory path is too long: %s", cfg->data_dir);
		goto fail;
	}
	rc = datadir_make(cfg->data_dir, err, errlen);
	if (rc)
		goto fail;
	datadir_catalog(cfg->data_dir, path, sizeof(path));
	rc = cat_open(path, &lib->cat);
	if (rc) {
		lib_err(err, errlen, "cannot open the catalog %s: %s%s", path, strerror(-rc),
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
			lib_err(err, errlen, "cannot read the library from %s: %s", path,
				strerror(-rc));
		goto fail;
	}

	struct smc_config sc;
	memset(&sc, 0, sizeof(sc));
	for (int k = 1; k <= 4; k++) {
		sc.layout.base[k] = lib->info.base[k];
		sc.layout.count[k] = lib->info.count[k];
	}
	sc.backend.inventory = changer_inventory;
	sc.backend.move = changer_move;
	sc.backend.ctx = lib;
	rc = smc_changer_init(&lib->changer, &sc);
	if (rc) {
		lib_err(err, errlen, "cannot set up the changer: %s", strerror(-rc));
		goto fail;
	}
	lib->changer_ok = true;
	struct spc_ident *id = &lib->changer.ident;
	const struct smc_personality *per = lib->cfg.changer;
	snprintf(id->vendor, sizeof(id->vendor), "%s", ident_str(cfg->vendor, per->vendor));
	snprintf(id->product, sizeof(id->product), "%s", ident_str(cfg->product, per->product));
	snprintf(id->revision, sizeof(id->revision), "%s", ident_str(cfg->revision, per->revision));
	snprintf(id->serial, sizeof(id->serial), "%s", lib->info.serial);
	smc_personality_ident(per, id);
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
		dc.clean_interval = cfg->clean_interval;
		rc = ssc_drive_init(&lib->drives[i], &dc);
		if (rc) {
			lib_err(err, errlen, "cannot set up drive %zu: %s", i + 1, strerror(-rc));
			goto fail;
		}
		lib->n_drives_ok++;
	}
	/* Every library: cartridges encrypted at rest are written behind and
	 * read ahead by these threads, and any cartridge's small blocks
	 * gathered in memory are written by them when the host goes quiet
	 * (vtl/drive_worker.c). */
	rc = dw_start(&lib->workers, lib->drives, lib->n_drives);
	if (rc) {
		lib_err(err, errlen, "cannot start the drives' threads: %s", strerror(-rc));
		goto fail;
	}
	rc = recover_after_crash(lib);
	if (rc) {
		lib_err(err, errlen, "recovery of the catalog %s failed: %s", path, strerror(-rc));
		goto fail;
	}
	/* The tapes in drives are checked now, before they load
	 * (load_drives); the others by a thread while the library serves,
	 * which lists them itself (vtl/media.c, docs/design.md "Start-up at
	 * scale"). */
	media_pass_prepare(lib);
	load_drives(lib);
	media_pass_start(lib);
	warn_long_barcodes(lib);
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
	media_pass_stop(lib);
	dw_stop(lib->workers);
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

/* ---- The shelf in the object store -------------------------------------- */

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

int lib_shelf_step(struct lib *lib, const char *barcode, enum lc_event ev, int64_t retain_until,
		   const char *cause)
{
	lib_lock(lib);
	struct cat_tape t;
	uint16_t ie = 0;
	uint32_t ord;
	int rc = cat_tape_get(lib->cat, barcode, &t);
	enum lc_place place = LC_STAY;
	/* On the shelf, a tape takes its pool's retention lock. */
	struct cat_pool pool;
	struct lc_facts facts = {.retain_until = retain_until};
	if (!rc && ev == LC_SHELVED && cat_pool_get(lib->cat, t.pool, &pool) == 0)
		facts.pool = &pool;
	if (!rc)
		rc = lc_check(&t, ev, &facts, NULL, &place, NULL, 0);
	/* Into the first free import/export element (a retrieved tape). */
	if (!rc && place == LC_ELEMENT)
		rc = lib_first_free(lib, CAT_IE, 0, &ie, &ord);
	if (!rc)
		rc = lc_apply(lib->cat, &t, ev, &facts, ie, cause, NULL, 0);
	if (!rc && place == LC_ELEMENT)
		smc_notify(&lib->changer, ASC_IMPORT_OR_EXPORT_ELEMENT_ACCESSED);
	else if (!rc && place == LC_NOWHERE && t.in_library)
		smc_notify(&lib->changer, t.kind == CAT_IE ? ASC_IMPORT_OR_EXPORT_ELEMENT_ACCESSED
							   : ASC_NOT_READY_TO_READY_CHANGE);
	lib_unlock(lib);
	return rc;
}

int lib_medium_back(struct lib *lib, const char *barcode, const char *cause)
{
	lib_lock(lib);
	struct cat_tape t;
	int rc = cat_tape_get(lib->cat, barcode, &t);
	struct lc_facts facts = {.was = CAT_N_STATES};
	if (!rc)
		rc = lc_check(&t, LC_MEDIUM_BACK, NULL, NULL, NULL, NULL, 0);
	int d = !rc && t.in_library && t.kind == CAT_DRIVE ? lib_drive_at(lib, t.element) : -1;
	if (d >= 0) {
		/* The drive it is in has been empty since its load failed. */
		char dir[PATH_MAX];
		tape_dir(lib, barcode, dir, sizeof(dir));
		rc = lib_insert(lib, (size_t)d, barcode, dir);
	}
	if (!rc) {
		facts.was = media_state_before(lib, &t);
		rc = lc_apply(lib->cat, &t, LC_MEDIUM_BACK, &facts, 0, cause, NULL, 0);
		if (rc && d >= 0)
			ssc_remove(&lib->drives[d], true);
	}
	if (!rc && t.in_library)
		smc_notify(&lib->changer, ASC_NOT_READY_TO_READY_CHANGE);
	lib_unlock(lib);
	return rc;
}

static int adopt(struct lib *lib, struct cat_tape *t, enum cat_state state, const char *cause,
		 char *err, size_t errlen);

int lib_tape_adopt(struct lib *lib, const char *barcode, const char *media, uint64_t capacity,
		   bool worm, enum cat_state state, const char *cause, char *err, size_t errlen)
{
	struct cat_tape t;
	memset(&t, 0, sizeof(t));
	snprintf(t.barcode, sizeof(t.barcode), "%s", barcode);
	snprintf(t.media, sizeof(t.media), "%s", media);
	t.capacity = capacity;
	t.worm = worm;
	return adopt(lib, &t, state, cause, err, errlen);
}

int lib_tape_adopt_blank(struct lib *lib, const char *barcode, const char *media, uint64_t capacity,
			 bool worm, uint32_t clean_max, bool at_rest, const char *cause, char *err,
			 size_t errlen)
{
	struct cat_tape t;
	enum tape_media m;
	memset(&t, 0, sizeof(t));
	if (tape_media_parse(media, &m)) {
		lib_err(err, errlen, "tape %s: unknown tape type '%s'", barcode, media);
		return -EINVAL;
	}
	/* Its data key wrapped nothing yet and was in the lost catalog
	 * only: a new one, which needs the master key. */
	if (at_rest && !lib->cfg.master) {
		lib_err(err, errlen,
			"tape %s is a blank tape encrypted at rest and no master key is "
			"configured; set [encryption] mode = library with master_key_file or "
			"key_command, restart vtld and run the rebuild again",
			barcode);
		return -ENOKEY;
	}
	snprintf(t.barcode, sizeof(t.barcode), "%s", barcode);
	snprintf(t.media, sizeof(t.media), "%s", media);
	t.capacity = capacity;
	t.worm = worm;
	t.clean_max = clean_max;
	t.unmade = true;
	int rc = adopt(lib, &t, CAT_AVAILABLE, cause, err, errlen);
	if (!rc && at_rest) {
		struct cat_key_row row;
		lib_lock(lib);
		rc = lib_creation_key(lib, &t, true, &row);
		lib_unlock(lib);
		OPENSSL_cleanse(&row, sizeof(row));
		if (rc)
			lib_err(err, errlen, "tape %s: cannot make its data key: %s", barcode,
				strerror(-rc));
	}
	return rc;
}

static int adopt(struct lib *lib, struct cat_tape *tp, enum cat_state state, const char *cause,
		 char *err, size_t errlen)
{
	struct cat_tape t = *tp;
	const char *barcode = tp->barcode;
	if (state != CAT_AVAILABLE && state != CAT_ARCHIVED) {
		lib_err(err, errlen, "tape %s: a recovered tape is AVAILABLE or ARCHIVED, not %s",
			barcode, cat_state_name(state));
		return -EINVAL;
	}
	lib_lock(lib);
	size_t bad;
	int rc = cat_tape_create(lib->cat, &t, 1, cause, &bad);
	if (rc)
		lib_err(err, errlen, "cannot add tape %s to the catalog: %s%s", barcode,
			strerror(-rc), rc == -ENOSPC ? " (no free storage slot)" : "");
	if (!rc)
		rc = cat_tape_get(lib->cat, barcode, &t);
	if (!rc)
		rc = lc_apply(lib->cat, &t,
			      state == CAT_AVAILABLE ? LC_FOUND_IN_SLOT : LC_FOUND_ON_SHELF, NULL,
			      0, cause, err, errlen);
	if (!rc && state == CAT_AVAILABLE && !t.unmade)
		lib_refresh_used(lib, barcode);
	lib_unlock(lib);
	return rc;
}

int lib_tape_restore(struct lib *lib, const char *barcode, const char *pool, enum cat_lock lock,
		     int64_t retain_until, char *err, size_t errlen)
{
	lib_lock(lib);
	struct cat_tape t;
	struct cat_pool p;
	int rc = cat_tape_get(lib->cat, barcode, &t);
	if (!rc)
		rc = lib_pool_get_locked(lib, pool, &p, err, errlen);
	struct lc_facts facts = {.pool = &p, .lock = lock, .retain_until = retain_until};
	if (!rc)
		rc = lc_apply(lib->cat, &t, LC_RESTORED, &facts, 0,
			      "recovered: pool and retention lock from the library record", err,
			      errlen);
	lib_unlock(lib);
	return rc;
}

int lib_tape_record_used(struct lib *lib, const char *barcode, uint64_t used)
{
	lib_lock(lib);
	int rc = cat_tape_set_used(lib->cat, barcode, used);
	lib_unlock(lib);
	return rc;
}

void lib_set_shelf_worker(struct lib *lib, void (*wake)(void *arg), void *arg)
{
	lib_lock(lib);
	lib->shelf_wake = wake;
	lib->shelf_arg = arg;
	lib_unlock(lib);
}

void lib_wake_shelf(struct lib *lib)
{
	if (lib->shelf_wake)
		lib->shelf_wake(lib->shelf_arg);
}

/* ---- Snapshots ---------------------------------------------------------- */

int lib_drives_info(struct lib *lib, struct lib_drive_info **out, size_t *n)
{
	struct lib_drive_info *v = calloc(lib->n_drives ? lib->n_drives : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	lib_lock(lib);
	for (size_t i = 0; i < lib->n_drives; i++) {
		v[i].ordinal = lib->cdrives[i].ordinal;
		v[i].lun = lib->cdrives[i].lun;
		v[i].address = lib->cdrives[i].address;
		snprintf(v[i].serial, sizeof(v[i].serial), "%s", lib->cdrives[i].serial);
		struct cat_element e;
		if (lib_element_at(lib, lib->cdrives[i].address, &e) == 0 && e.full)
			snprintf(v[i].barcode, sizeof(v[i].barcode), "%s", e.tape.barcode);
		v[i].state = ssc_state(&lib->drives[i]);
	}
	lib_unlock(lib);
	*out = v;
	*n = lib->n_drives;
	return 0;
}

int lib_elements(struct lib *lib, struct cat_element **out, size_t *n)
{
	lib_lock(lib);
	int rc = cat_elements(lib->cat, out, n);
	lib_unlock(lib);
	return rc;
}

int lib_inventory(struct lib *lib, struct cat_inventory_entry **out, size_t *n)
{
	lib_lock(lib);
	int rc = cat_inventory(lib->cat, out, n);
	lib_unlock(lib);
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
	i = lib_drive_at(lib, t->element);
	if (i >= 0 && (size_t)i < lib->n_drives_ok &&
	    ssc_used_bytes(&lib->drives[i], t->barcode, &used))
		t->used = used;
}

int lib_tape_get(struct lib *lib, const char *barcode, struct cat_tape *t)
{
	lib_lock(lib);
	int rc = cat_tape_get(lib->cat, barcode, t);
	if (rc == 0)
		live_used(lib, t);
	lib_unlock(lib);
	return rc;
}

int lib_tape_list(struct lib *lib, int state, struct cat_tape **out, size_t *n)
{
	lib_lock(lib);
	int rc = cat_tape_list(lib->cat, state, false, out, n);
	if (rc == 0)
		for (size_t i = 0; i < *n; i++)
			live_used(lib, &(*out)[i]);
	lib_unlock(lib);
	return rc;
}

int lib_events(struct lib *lib, const char *barcode, size_t limit, struct cat_event **out,
	       size_t *n)
{
	lib_lock(lib);
	int rc = cat_events(lib->cat, barcode, limit, out, n);
	lib_unlock(lib);
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
