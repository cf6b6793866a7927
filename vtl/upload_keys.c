/*
 * upload_keys.c - the store's copy of a tape's wrapped data key (docs/design.md,
 * "Encryption of cartridges at rest"; docs/object-store.md, "The KEY
 * object"): tapes/BARCODE/KEY holds the text of the cartridge's KEY file,
 * the data key wrapped by a master key, never a key in clear.
 *
 * Invariants:
 *   - a manifest of a tape encrypted at rest goes up only after its KEY
 *     object (upl_put_key, called by upl_sync_tape just before the
 *     manifest's PUT), so that whatever disaster recovery finds in the store
 *     it can open with the master key;
 *   - the KEY object moves with the tape's manifest to the shelf apart
 *     (shelf.c) and is deleted with the tape's other objects;
 *   - a rotation (upl_key_publish, from the control thread) and the
 *     uploader's thread write a tape's KEY file and KEY object only under
 *     u->key_mu, so that an older wrap read before a rotation's publish
 *     never overwrites the newer one after it. This is the one exception to
 *     "only the uploader's thread writes a tape's objects" (upload_int.h).
 */
#include "config.h"

#include "upload_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "catalog/catalog_key.h"
#include "keys.h"
#include "library.h"

/* A KEY file's text: one wrap, no more than KEY_WRAPPED_MAX bytes. */
int upl_read_key_file(const char *path, char *wrapped, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, wrapped, cap - 1);
	int e = errno;
	close(fd);
	if (n < 0)
		return -e;
	wrapped[n] = 0;
	char *nl = strchr(wrapped, '\n');
	if (nl)
		*nl = 0;
	char id[KEY_ID_LEN + 1];
	return key_wrapped_master(wrapped, id) ? -EINVAL : 0;
}

int upl_get_key(struct store *st, const struct store_config *c, const char *bc, char *wrapped,
		size_t cap, struct store_err *se)
{
	char key[STORE_KEY_MAX];
	size_t got = 0;
	upl_key_tape(c, bc, "KEY", key);
	memset(se, 0, sizeof(*se));
	int rc = store_get(st, key, 0, cap - 1, wrapped, &got, NULL, se);
	if (rc)
		return rc;
	wrapped[got] = 0;
	char *nl = strchr(wrapped, '\n');
	if (nl)
		*nl = 0;
	char id[KEY_ID_LEN + 1];
	if (key_wrapped_master(wrapped, id)) {
		snprintf(se->msg, sizeof(se->msg), "tapes/%.64s/KEY holds no wrapped key", bc);
		return -EBADMSG;
	}
	return 0;
}

/* The wrap to put: the cartridge's KEY file, else the catalog's row (a
 * crash may have left the file unwritten; the library writes it again). */
static int current_wrap(struct upl *u, const char *bc, char *wrapped, size_t cap)
{
	char path[PATH_MAX];
	if (datadir_tape_key(lib_data_dir(u->lib), bc, path, sizeof(path)) == 0 &&
	    upl_read_key_file(path, wrapped, cap) == 0)
		return 0;
	struct cat_key_row row;
	pthread_mutex_lock(&u->cat_mu);
	int rc = cat_key_get(u->cat, bc, &row);
	pthread_mutex_unlock(&u->cat_mu);
	if (!rc)
		upl_copy_str(wrapped, cap, row.wrapped);
	return rc;
}

int upl_put_key(struct upl *u, const struct cat_tape *t)
{
	char wrapped[KEY_WRAPPED_MAX + 2], key[STORE_KEY_MAX];
	struct store_err se;
	memset(&se, 0, sizeof(se));
	upl_key_tape(&u->cfg, t->barcode, "KEY", key);
	pthread_mutex_lock(&u->key_mu);
	int rc = current_wrap(u, t->barcode, wrapped, sizeof(wrapped));
	if (rc) {
		pthread_mutex_unlock(&u->key_mu);
		return upl_errf(u, NULL, rc, FAULT_LOCAL,
				"tape %s is encrypted at rest but neither its KEY file nor the "
				"catalog holds its wrapped data key (%s), so its manifest is not "
				"uploaded: without the key the store's copy could not be read",
				t->barcode, strerror(-rc));
	}
	size_t len = strlen(wrapped);
	wrapped[len] = '\n';
	rc = store_put(u->st, key, wrapped, len + 1, NULL, NULL, &se);
	pthread_mutex_unlock(&u->key_mu);
	if (rc)
		return upl_errf(u, &se, rc, 0, "put of %s failed: %s", key, se.msg);
	return 0;
}

int upl_fetch_key(struct store *st, const struct store_config *c, const char *bc, const char *tmp,
		  char *err, size_t errlen)
{
	char wrapped[KEY_WRAPPED_MAX + 2], path[PATH_MAX + 8];
	struct store_err se;
	int rc = upl_get_key(st, c, bc, wrapped, sizeof(wrapped), &se);
	if (rc == -ENOENT)
		return 0;
	if (rc) {
		upl_errmsg(err, errlen, "cannot read the KEY object of tape %s: %s", bc,
			   se.msg[0] ? se.msg : strerror(-rc));
		return rc;
	}
	snprintf(path, sizeof(path), "%s/KEY", tmp);
	strcat(wrapped, "\n");
	rc = datadir_write_private(tmp, path, wrapped);
	if (rc)
		upl_errmsg(err, errlen, "cannot write %s: %s", path, strerror(-rc));
	return rc;
}

int upl_key_publish(struct upl *u, const char *bc, const char *wrapped, char *err, size_t errlen)
{
	char dir[PATH_MAX], path[PATH_MAX], text[KEY_WRAPPED_MAX + 2], key[STORE_KEY_MAX];
	struct stat sb;
	struct cat_tape t;
	struct store_err se;
	memset(&se, 0, sizeof(se));
	snprintf(text, sizeof(text), "%s\n", wrapped);
	int rc = lib_tape_get(u->lib, bc, &t);
	if (rc) {
		upl_errmsg(err, errlen, "tape %s: cannot read it from the catalog: %s", bc,
			   strerror(-rc));
		return rc;
	}
	if (t.state == CAT_IN_TRANSIT_TO_SHELF || t.state == CAT_ARCHIVING ||
	    t.state == CAT_RETRIEVING) {
		upl_errmsg(err, errlen,
			   "tape %s is %s, on its way to or from the shelf; run vtlctl key rotate "
			   "again when it has arrived (the tapes done so far stay done)",
			   bc, cat_state_name(t.state));
		return -EBUSY;
	}
	pthread_mutex_lock(&u->key_mu);
	/* The store's copy first: a disaster recovery reads it. Only where
	 * the store holds the tape: a first KEY put before the tape's first
	 * upload would look like another tape's objects (claim_prefix). */
	char sstate[32] = "";
	uint64_t gen = 0;
	pthread_mutex_lock(&u->cat_mu);
	int known = cat_upl_tape_get(u->cat, bc, &gen, sstate, sizeof(sstate)) == 0 && sstate[0];
	pthread_mutex_unlock(&u->cat_mu);
	/* An archived tape whose objects are locked ([store] object_lock,
	 * shelf.c lock_objects): the new version is locked until the same
	 * date, in the mode of the tape's lock; the one it replaces stays
	 * locked too. */
	struct store_put_opts opts;
	memset(&opts, 0, sizeof(opts));
	int64_t locked = 0;
	if (known && u->cfg.object_lock && t.lock != CAT_LOCK_NONE) {
		char cls[STORE_CLASS_MAX];
		bool have = false;
		pthread_mutex_lock(&u->cat_mu);
		if (cat_upl_shelf_get(u->cat, bc, cls, sizeof(cls), &have, &locked))
			locked = 0;
		pthread_mutex_unlock(&u->cat_mu);
	}
	if (locked / 1000 > (int64_t)time(NULL)) {
		opts.retention.mode =
		    t.lock == CAT_LOCK_COMPLIANCE ? STORE_LOCK_COMPLIANCE : STORE_LOCK_GOVERNANCE;
		opts.retention.until = locked / 1000;
	}
	if (known) {
		bool shelf = shelf_holds_tape(u, &t);
		upl_key_tape(shelf ? &u->shelf_cfg : &u->cfg, bc, "KEY", key);
		rc = store_put(shelf ? u->shelf_st : u->st, key, text, strlen(text),
			       opts.retention.mode != STORE_LOCK_NONE ? &opts : NULL, NULL, &se);
		if (rc)
			upl_errmsg(err, errlen, "tape %s: put of %s failed: %s", bc, key,
				   se.msg[0] ? se.msg : strerror(-rc));
	}
	/* Then the cartridge's KEY file, if the tape has a medium here. */
	lib_tape_dir(u->lib, bc, dir, sizeof(dir));
	if (!rc && stat(dir, &sb) == 0 &&
	    datadir_tape_key(lib_data_dir(u->lib), bc, path, sizeof(path)) == 0) {
		rc = datadir_write_private(dir, path, text);
		if (rc)
			upl_errmsg(err, errlen, "tape %s: cannot write %s: %s", bc, path,
				   strerror(-rc));
	}
	pthread_mutex_unlock(&u->key_mu);
	return rc;
}
