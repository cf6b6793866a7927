/*
 * lifecycle.h - the tape lifecycle: which events may change a tape's state,
 * into which state, and where the tape is afterwards (vtl/lifecycle.c).
 *
 * The states are AWS Tape Gateway's (catalog.h, enum cat_state). Every
 * change of a tape's state or place goes through lc_apply, which looks the
 * (state, event) pair up in one table and either refuses it with a
 * sentence for a person or makes it one catalog transaction with its event
 * row. Pools, WORM and retention lock add rows and guards there, nowhere
 * else. docs/library.md, "Tape states", draws the table.
 *
 * lc_apply writes the catalog: its caller holds the library's lock (the
 * catalog writer rule of library.c). It knows nothing of drives, elements'
 * kinds or the object store: the library decides which event a thing that
 * happened is, and what the lifecycle cannot see (is a drive loaded, does
 * an initiator prevent removal) it checks itself.
 */
#ifndef VTL_LIFECYCLE_H
#define VTL_LIFECYCLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog/catalog.h"

enum lc_event {
	LC_FORMATTED,	   /* its new medium is formatted */
	LC_FOUND_IN_SLOT,  /* disaster recovery: its medium is here, put in a slot */
	LC_FOUND_ON_SHELF, /* disaster recovery: it is only in the store */
	LC_MOVE,	   /* the picker moves it inside the library */
	LC_EXPORT,	   /* the picker puts it into an import/export element */
	LC_IMPORT,	   /* taken out of an import/export element, export cancelled */
	LC_RETURN_HOME,	   /* a drive unload or a crash's picker returns it to a slot */
	LC_ARCHIVE,	   /* the operator sends it to the shelf */
	LC_UPLOADED,	   /* every byte is in the store and verified */
	LC_SHELVED,	   /* its objects are in the shelf's class or place */
	LC_RETRIEVE,	   /* the operator asks for it back */
	LC_DOWNLOADED,	   /* its medium is here again, read-only */
	LC_DELETE,	   /* the operator deletes it; its barcode is retired */
	LC_MEDIUM_LOST,	   /* its medium is missing or beyond repair */
	LC_MEDIUM_BACK,	   /* its medium opens again */
	LC_ASSIGN_POOL,	   /* the operator puts it in another pool */
	LC_RESTORED,	   /* disaster recovery: its pool and lock from the library record */
	LC_N_EVENTS
};

/* Where an allowed event leaves the tape. */
enum lc_place {
	LC_STAY,    /* where it is */
	LC_NOWHERE, /* out of the library (on the shelf, or gone) */
	LC_ELEMENT, /* in the element the caller names */
};

/* What the guards need to know beyond the tape's row. */
struct lc_facts {
	bool force;	    /* LC_DELETE: the operator said --force */
	bool has_data;	    /* LC_DELETE: its medium holds a record or filemark */
	uint64_t data;	    /* LC_DELETE: and this many bytes */
	enum cat_state was; /* LC_MEDIUM_BACK: the state before IRRECOVERABLE */
	/* LC_SHELVED: the tape's pool, whose lock it takes; LC_ASSIGN_POOL:
	 * the pool it goes to. */
	const struct cat_pool *pool;
	/* A governance lock does not hold (an administrator allowed to
	 * bypass it asked to: the caller checked both). */
	bool bypass_governance;
	/* LC_RESTORED: the lock the library record gives it (pool: its pool);
	 * LC_SHELVED: retain_until, when not 0, the date its objects were
	 * locked until. */
	enum cat_lock lock;
	int64_t retain_until;
	int64_t now; /* ms since the epoch; 0: the clock's */
};

/* Does t's retention lock hold at now (ms since the epoch; 0: the clock's)? */
bool lc_locked(const struct cat_tape *t, int64_t now);

/* The word for an event in messages: "archive", "move", ... */
const char *lc_event_name(enum lc_event ev);

/*
 * Is ev allowed for tape t (its state, write-protect tab and barcode are
 * read) with these facts (NULL: none)? 0 and *to, *place (either may be
 * NULL); or a negative errno and a sentence in err naming the tape, its
 * state and what to do.
 */
int lc_check(const struct cat_tape *t, enum lc_event ev, const struct lc_facts *facts,
	     enum cat_state *to, enum lc_place *place, char *err, size_t errlen);

/*
 * Apply ev to tape t (as read from the catalog under the caller's lock):
 * lc_check, then one catalog transaction moving it to its new state and
 * place (element: the destination when the row's place is LC_ELEMENT), with
 * an event whose cause is `cause`. The write-protect tab is set when the
 * row says so (a retrieved tape is read-only). -ESTALE when the catalog no
 * longer holds t as read; the catalog's errno otherwise (err says which).
 */
int lc_apply(struct cat *cat, const struct cat_tape *t, enum lc_event ev,
	     const struct lc_facts *facts, uint16_t element, const char *cause, char *err,
	     size_t errlen);

#endif
