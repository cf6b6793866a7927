/*
 * keys_rotate.c - master-key rotation (see keys.h, key_rotate; the
 * procedure is in docs/design.md, "Rotation").
 *
 * Per tape, in this order: open the wrap the catalog holds, wrap the data
 * key under the current master, publish the new wrap (where a disaster
 * recovery reads it), commit the catalog row. A crash before the commit
 * leaves the row naming the old master, so the next run does that tape
 * again; the published copy may then be the newer wrap, which opens with
 * the current key. Nothing is re-encrypted: the data key is the same.
 */
#include "config.h"

#include "keys.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "catalog/catalog_key.h"
#include "util/escape.h"

int key_rotate(struct cat *c, const struct key_master *cur, const struct key_master *prev,
	       key_publish_fn publish, void *publish_arg, key_progress_fn progress,
	       void *progress_arg, struct key_rotation *out, char *err, size_t errlen)
{
	struct cat_key_row *rows;
	size_t n;
	memset(out, 0, sizeof(*out));
	int rc = cat_key_list(c, cur->id, &rows, &n);
	if (rc) {
		snprintf(err, errlen, "cannot list the tapes' keys in the catalog: %s",
			 strerror(-rc));
		return rc;
	}
	out->total = n;
	/* Every key must open with a key we hold before any is touched, so
	 * that a missing previous_key stops the rotation before it starts. */
	for (size_t i = 0; i < n; i++) {
		if (prev && !strcmp(rows[i].master_id, prev->id))
			continue;
		char bc[64];
		esc_show(bc, sizeof(bc), rows[i].barcode);
		snprintf(err, errlen,
			 "tape %s: its data key is wrapped by master key %s, which is neither the "
			 "configured key (%s) nor the previous one (%s); configure the key with "
			 "id %s as previous_key_file (or previous_key_command) and rotate again",
			 bc, rows[i].master_id, cur->id, prev ? prev->id : "none set",
			 rows[i].master_id);
		free(rows);
		return -ENOKEY;
	}
	for (size_t i = 0; i < n && !rc; i++) {
		struct cat_key_row *r = &rows[i];
		unsigned char dk[KEY_BYTES];
		char wrapped[KEY_WRAPPED_MAX], bc[64];
		esc_show(bc, sizeof(bc), r->barcode);
		rc = key_unwrap(prev, r->barcode, r->wrapped, dk);
		if (rc) {
			snprintf(err, errlen,
				 "tape %s: its data key does not open with master key %s (%s); the "
				 "catalog row is damaged or was altered; nothing of it was changed",
				 bc, prev->id, strerror(-rc));
			break;
		}
		rc = key_wrap(cur, r->barcode, dk, wrapped);
		OPENSSL_cleanse(dk, sizeof(dk));
		if (rc) {
			snprintf(err, errlen, "tape %s: cannot wrap its data key: %s", bc,
				 strerror(-rc));
			break;
		}
		if (publish && (rc = publish(publish_arg, r->barcode, wrapped, err, errlen)))
			break;
		rc = cat_key_set(c, r->barcode, wrapped, cur->id);
		if (rc) {
			snprintf(err, errlen,
				 "tape %s: cannot record its new wrap in the catalog: %s", bc,
				 strerror(-rc));
			break;
		}
		out->rewrapped++;
		if (progress && progress(progress_arg, out->rewrapped, n, r->barcode)) {
			snprintf(err, errlen,
				 "rotation stopped after %zu of %zu tapes; run it again "
				 "to go on",
				 out->rewrapped, n);
			rc = -ECANCELED;
		}
	}
	free(rows);
	return rc;
}
