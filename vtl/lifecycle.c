/*
 * lifecycle.c - the tape lifecycle as one table (see lifecycle.h).
 *
 * A row is (state, event) -> (state, place, write-protect, guard). A pair
 * with no row is refused: by a row of `refusals` when the refusal has its
 * own sentence (a tape on the shelf is not in the library, an ARCHIVED
 * tape is archived already), else by a sentence made from the table itself
 * ("only AVAILABLE, RETRIEVED or IN_TRANSIT_TO_SHELF tapes can be
 * archived"), so that the message cannot drift from what is allowed.
 *
 * Events the library's own threads raise (a format finished, an upload
 * verified, a medium lost) are refused with -ESTALE: the tape moved on
 * while the work was done, and the caller drops what it was about to do.
 * A person's events are refused with -EINVAL unless a refusal row says
 * otherwise.
 */
#include "config.h"

#include "lifecycle.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* A row's `to` when the guard decides the state. */
#define TO_GUARD CAT_N_STATES

/* What an allowed event does besides the state: a guard may set it. */
struct lc_effect {
	enum cat_state to;
	const char *pool; /* NULL: kept */
	bool set_lock;
	enum cat_lock lock;
	int64_t retain_until;
};

typedef int (*lc_guard)(const struct cat_tape *t, const struct lc_facts *f, struct lc_effect *e,
			char *err, size_t errlen);

struct lc_row {
	enum cat_state from;
	enum lc_event ev;
	enum cat_state to; /* or TO_GUARD */
	enum lc_place place;
	int write_protect; /* -1 keep, 0 or 1 set */
	lc_guard guard;	   /* NULL: always allowed */
};

static void say(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void say(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---- Guards ------------------------------------------------------------ */

#define DAY_MS (86400ll * 1000)

static bool on_shelf(enum cat_state s)
{
	return s == CAT_ARCHIVING || s == CAT_ARCHIVED || s == CAT_RETRIEVING;
}

static int64_t now_of(const struct lc_facts *f)
{
	struct timespec ts;
	if (f && f->now)
		return f->now;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "2027-01-05 14:03 UTC" */
static void date_of(int64_t ms, char *buf, size_t cap)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&s, &tm);
	strftime(buf, cap, "%Y-%m-%d %H:%M UTC", &tm);
}

/*
 * A retention lock holds until its date: compliance against everyone,
 * governance against everyone but an administrator who bypasses it.
 * what: "deleted", "assigned to another pool".
 */
static int retention(const struct cat_tape *t, const struct lc_facts *f, const char *what,
		     char *err, size_t errlen)
{
	char until[40];
	if (!lc_locked(t, f ? f->now : 0))
		return 0;
	date_of(t->retain_until, until, sizeof(until));
	if (t->lock == CAT_LOCK_COMPLIANCE) {
		say(err, errlen,
		    "tape %s is under COMPLIANCE retention until %s (pool %s): no one can have it "
		    "%s before then",
		    t->barcode, until, t->pool, what);
		return -EPERM;
	}
	if (f && f->bypass_governance)
		return 0;
	say(err, errlen,
	    "tape %s is under GOVERNANCE retention until %s (pool %s): it cannot be %s before "
	    "then, except with --bypass-governance by an administrator of a vtld whose "
	    "[library] governance_bypass = yes",
	    t->barcode, until, t->pool, what);
	return -EPERM;
}

bool lc_locked(const struct cat_tape *t, int64_t now)
{
	struct lc_facts at = {.now = now};
	return t->lock != CAT_LOCK_NONE && t->retain_until > now_of(&at);
}

/* Deleting a tape destroys its data, in the store too: never while it is
 * locked, and only with --force when there is any. */
static int guard_delete(const struct cat_tape *t, const struct lc_facts *f, struct lc_effect *e,
			char *err, size_t errlen)
{
	(void)e;
	int rc = retention(t, f, "deleted", err, errlen);
	if (rc)
		return rc;
	if (f && f->force)
		return 0;
	if (on_shelf(t->state)) {
		say(err, errlen,
		    "tape %s is %s: its data is only in the object store, and deleting the tape "
		    "deletes those objects; retrieve it first (vtlctl tape retrieve %s), or delete "
		    "it with --force to destroy the data",
		    t->barcode, cat_state_name(t->state), t->barcode);
		return -ENOTEMPTY;
	}
	if (f && f->has_data) {
		say(err, errlen,
		    "tape %s holds data (%" PRIu64 " bytes); delete it with --force to destroy "
		    "the data",
		    t->barcode, f->data);
		return -ENOTEMPTY;
	}
	return 0;
}

/* Taken out of a port before it left for the shelf: a tape that came back
 * from the shelf stays read-only, RETRIEVED. */
static int guard_import(const struct cat_tape *t, const struct lc_facts *f, struct lc_effect *e,
			char *err, size_t errlen)
{
	(void)f, (void)err, (void)errlen;
	e->to = t->write_protect ? CAT_RETRIEVED : CAT_AVAILABLE;
	return 0;
}

/* Back to the state it had, if that is one whose medium is here. */
static int guard_medium_back(const struct cat_tape *t, const struct lc_facts *f,
			     struct lc_effect *e, char *err, size_t errlen)
{
	(void)err, (void)errlen;
	enum cat_state was = f ? f->was : CAT_N_STATES;
	if (was == CAT_AVAILABLE || was == CAT_RETRIEVED || was == CAT_IN_TRANSIT_TO_SHELF)
		e->to = was;
	else
		e->to = t->write_protect ? CAT_RETRIEVED : CAT_AVAILABLE;
	return 0;
}

/* On the shelf it takes its pool's lock, from now on. */
static int guard_shelved(const struct cat_tape *t, const struct lc_facts *f, struct lc_effect *e,
			 char *err, size_t errlen)
{
	(void)t, (void)err, (void)errlen;
	if (f && f->pool && f->pool->lock != CAT_LOCK_NONE) {
		e->set_lock = true;
		e->lock = f->pool->lock;
		e->retain_until = f->retain_until
				      ? f->retain_until
				      : now_of(f) + (int64_t)f->pool->retention_days * DAY_MS;
	}
	return 0;
}

/* Another pool, unless its lock holds (AWS's AssignTapePool). */
static int guard_assign_pool(const struct cat_tape *t, const struct lc_facts *f,
			     struct lc_effect *e, char *err, size_t errlen)
{
	if (!f || !f->pool) {
		say(err, errlen, "tape %s: no pool named to assign it to", t->barcode);
		return -EINVAL;
	}
	if (strcmp(f->pool->name, t->pool) == 0) {
		say(err, errlen, "tape %s is in pool %s already", t->barcode, t->pool);
		return -EALREADY;
	}
	int rc = retention(t, f, "assigned to another pool", err, errlen);
	if (rc)
		return rc;
	e->pool = f->pool->name;
	/* An ARCHIVED tape is in its new pool's lock at once, counted from
	 * now (the uploader moves its objects to the pool's class and puts
	 * them under that lock, vtl/shelf.c). A move never shortens a lock:
	 * a later date it already has stays. Other tapes take their pool's
	 * lock when they are archived. */
	if (t->state == CAT_ARCHIVED && f->pool->lock != CAT_LOCK_NONE) {
		int64_t until = now_of(f) + (int64_t)f->pool->retention_days * 86400000;
		e->set_lock = true;
		e->lock = f->pool->lock;
		e->retain_until =
		    lc_locked(t, now_of(f)) && t->retain_until > until ? t->retain_until : until;
	}
	return 0;
}

/* A recovered tape gets back the pool and lock the record kept. */
static int guard_restored(const struct cat_tape *t, const struct lc_facts *f, struct lc_effect *e,
			  char *err, size_t errlen)
{
	if (!f || !f->pool) {
		say(err, errlen, "tape %s: no pool to restore", t->barcode);
		return -EINVAL;
	}
	e->pool = f->pool->name;
	e->set_lock = true;
	e->lock = f->lock;
	e->retain_until = f->lock == CAT_LOCK_NONE ? 0 : f->retain_until;
	return 0;
}

/* ---- The table --------------------------------------------------------- */

#define S(x) CAT_##x

static const struct lc_row rows[] = {
    /* A new tape. */
    {S(CREATING), LC_FORMATTED, S(AVAILABLE), LC_STAY, -1, NULL},
    {S(CREATING), LC_FOUND_IN_SLOT, S(AVAILABLE), LC_STAY, -1, NULL},
    {S(CREATING), LC_FOUND_ON_SHELF, S(ARCHIVED), LC_NOWHERE, -1, NULL},

    /* The picker. */
    {S(AVAILABLE), LC_MOVE, S(AVAILABLE), LC_ELEMENT, -1, NULL},
    {S(RETRIEVED), LC_MOVE, S(RETRIEVED), LC_ELEMENT, -1, NULL},
    {S(IN_TRANSIT_TO_SHELF), LC_MOVE, S(IN_TRANSIT_TO_SHELF), LC_ELEMENT, -1, NULL},
    {S(AVAILABLE), LC_EXPORT, S(IN_TRANSIT_TO_SHELF), LC_ELEMENT, -1, NULL},
    {S(RETRIEVED), LC_EXPORT, S(IN_TRANSIT_TO_SHELF), LC_ELEMENT, -1, NULL},
    {S(IN_TRANSIT_TO_SHELF), LC_IMPORT, TO_GUARD, LC_ELEMENT, -1, guard_import},
    /* A cartridge can always go back to a slot, a damaged one too. */
    {S(AVAILABLE), LC_RETURN_HOME, S(AVAILABLE), LC_ELEMENT, -1, NULL},
    {S(RETRIEVED), LC_RETURN_HOME, S(RETRIEVED), LC_ELEMENT, -1, NULL},
    {S(IN_TRANSIT_TO_SHELF), LC_RETURN_HOME, S(IN_TRANSIT_TO_SHELF), LC_ELEMENT, -1, NULL},
    {S(IRRECOVERABLE), LC_RETURN_HOME, S(IRRECOVERABLE), LC_ELEMENT, -1, NULL},

    /* The shelf: out when every byte is safe in the store, back in
     * read-only, as AWS Tape Gateway's retrieved tapes are. */
    {S(AVAILABLE), LC_ARCHIVE, S(IN_TRANSIT_TO_SHELF), LC_NOWHERE, -1, NULL},
    {S(RETRIEVED), LC_ARCHIVE, S(IN_TRANSIT_TO_SHELF), LC_NOWHERE, -1, NULL},
    {S(IN_TRANSIT_TO_SHELF), LC_ARCHIVE, S(IN_TRANSIT_TO_SHELF), LC_NOWHERE, -1, NULL},
    {S(IN_TRANSIT_TO_SHELF), LC_UPLOADED, S(ARCHIVING), LC_NOWHERE, -1, NULL},
    {S(ARCHIVING), LC_SHELVED, S(ARCHIVED), LC_NOWHERE, -1, guard_shelved},
    {S(ARCHIVED), LC_RETRIEVE, S(RETRIEVING), LC_NOWHERE, -1, NULL},
    {S(RETRIEVING), LC_DOWNLOADED, S(RETRIEVED), LC_ELEMENT, 1, NULL},

    /* Deletion retires the barcode, from any state. */
    {S(CREATING), LC_DELETE, S(DELETED), LC_NOWHERE, -1, guard_delete},
    {S(AVAILABLE), LC_DELETE, S(DELETED), LC_NOWHERE, -1, guard_delete},
    {S(IN_TRANSIT_TO_SHELF), LC_DELETE, S(DELETED), LC_NOWHERE, -1, guard_delete},
    {S(ARCHIVING), LC_DELETE, S(DELETED), LC_NOWHERE, -1, guard_delete},
    {S(ARCHIVED), LC_DELETE, S(DELETED), LC_NOWHERE, -1, guard_delete},
    {S(RETRIEVING), LC_DELETE, S(DELETED), LC_NOWHERE, -1, guard_delete},
    {S(RETRIEVED), LC_DELETE, S(DELETED), LC_NOWHERE, -1, guard_delete},
    {S(IRRECOVERABLE), LC_DELETE, S(DELETED), LC_NOWHERE, -1, guard_delete},

    /* Damage: only a tape whose medium is due here can lose it. */
    {S(AVAILABLE), LC_MEDIUM_LOST, S(IRRECOVERABLE), LC_STAY, -1, NULL},
    {S(RETRIEVED), LC_MEDIUM_LOST, S(IRRECOVERABLE), LC_STAY, -1, NULL},
    {S(IN_TRANSIT_TO_SHELF), LC_MEDIUM_LOST, S(IRRECOVERABLE), LC_STAY, -1, NULL},
    {S(IRRECOVERABLE), LC_MEDIUM_BACK, TO_GUARD, LC_STAY, -1, guard_medium_back},

    /* Pools: a tape changes pool in the library or on the shelf, where
     * its lock allows. */
    {S(AVAILABLE), LC_ASSIGN_POOL, S(AVAILABLE), LC_STAY, -1, guard_assign_pool},
    {S(IN_TRANSIT_TO_SHELF), LC_ASSIGN_POOL, S(IN_TRANSIT_TO_SHELF), LC_STAY, -1,
     guard_assign_pool},
    {S(ARCHIVED), LC_ASSIGN_POOL, S(ARCHIVED), LC_STAY, -1, guard_assign_pool},
    {S(RETRIEVED), LC_ASSIGN_POOL, S(RETRIEVED), LC_STAY, -1, guard_assign_pool},

    /* Disaster recovery, right after the tape is found. */
    {S(AVAILABLE), LC_RESTORED, S(AVAILABLE), LC_STAY, -1, guard_restored},
    {S(ARCHIVED), LC_RESTORED, S(ARCHIVED), LC_STAY, -1, guard_restored},
};

/* Refusals that say more than "only X tapes can be ...". */
struct lc_refusal {
	enum cat_state from;
	enum lc_event ev;
	int err;
	const char *fmt; /* %1$s the barcode, %2$s the state */
};

#define ON_SHELF_FMT   "tape %1$s is %2$s on the shelf, not in the library; "
#define RETRIEVE_FIRST "retrieve it first (vtlctl tape retrieve %1$s)"
#define WAIT_THEN      "wait until it is archived, then retrieve it (vtlctl tape retrieve %1$s)"
#define BROKEN_FMT                                                                                 \
	"tape %1$s is IRRECOVERABLE: its medium cannot be read; it can only go back to a slot "    \
	"or be deleted, or come back from the object store's copy (vtlctl tape show %1$s)"

static const struct lc_refusal refusals[] = {
    {S(ARCHIVED), LC_ARCHIVE, -EALREADY, "tape %1$s is already ARCHIVED on the shelf"},
    {S(ARCHIVING), LC_ARCHIVE, -EALREADY,
     "tape %1$s is ARCHIVING: it is in the store already and on its way to the shelf"},
    {S(ARCHIVED), LC_MOVE, -ENOENT, ON_SHELF_FMT RETRIEVE_FIRST},
    {S(ARCHIVING), LC_MOVE, -ENOENT, ON_SHELF_FMT WAIT_THEN},
    {S(RETRIEVING), LC_MOVE, -ENOENT,
     ON_SHELF_FMT "it comes into an import/export element when its download is over"},
    {S(IRRECOVERABLE), LC_MOVE, -EIO, BROKEN_FMT},
    {S(IRRECOVERABLE), LC_EXPORT, -EIO, BROKEN_FMT},
    {S(IRRECOVERABLE), LC_ARCHIVE, -EIO, BROKEN_FMT},
    {S(RETRIEVING), LC_RETRIEVE, -EALREADY,
     "tape %1$s is RETRIEVING already: it is being downloaded from the shelf"},
    {S(DELETED), LC_N_EVENTS, -ENOENT, "tape %1$s is DELETED: its barcode is retired"},
};

static const struct {
	const char *name;    /* the event, for messages */
	const char *passive; /* "only ... tapes can be %s" */
	bool internal;	     /* raised by vtld's own threads */
} events[LC_N_EVENTS] = {
    [LC_FORMATTED] = {"format", "formatted", true},
    [LC_FOUND_IN_SLOT] = {"recover into a slot", "recovered", true},
    [LC_FOUND_ON_SHELF] = {"recover onto the shelf", "recovered", true},
    [LC_MOVE] = {"move", "moved", false},
    [LC_EXPORT] = {"export", "exported", false},
    [LC_IMPORT] = {"import", "imported", false},
    [LC_RETURN_HOME] = {"return to a slot", "returned to a slot", false},
    [LC_ARCHIVE] = {"archive", "archived", false},
    [LC_UPLOADED] = {"finish uploading", "marked uploaded", true},
    [LC_SHELVED] = {"put on the shelf", "put on the shelf", true},
    [LC_RETRIEVE] = {"retrieve", "retrieved", false},
    [LC_DOWNLOADED] = {"finish downloading", "marked downloaded", true},
    [LC_DELETE] = {"delete", "deleted", false},
    [LC_MEDIUM_LOST] = {"mark irrecoverable", "marked IRRECOVERABLE", true},
    [LC_MEDIUM_BACK] = {"bring back", "brought back", true},
    [LC_ASSIGN_POOL] = {"assign to a pool", "assigned to another pool", false},
    [LC_RESTORED] = {"restore from the library record", "restored from the library record", true},
};

const char *lc_event_name(enum lc_event ev)
{
	return (unsigned)ev < LC_N_EVENTS ? events[ev].name : "?";
}

/* "AVAILABLE, RETRIEVED or IN_TRANSIT_TO_SHELF": the states ev is allowed
 * in, in the catalog's order. */
static void allowed_in(enum lc_event ev, char *buf, size_t cap)
{
	size_t n = 0, k = 0, len = 0;
	bool in[CAT_N_STATES] = {false};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (rows[i].ev == ev && !in[rows[i].from]) {
			in[rows[i].from] = true;
			n++;
		}
	buf[0] = 0;
	for (int s = 0; s < CAT_N_STATES; s++) {
		if (!in[s])
			continue;
		k++;
		const char *sep = k == 1 ? "" : k == n ? " or " : ", ";
		int w =
		    snprintf(buf + len, cap - len, "%s%s", sep, cat_state_name((enum cat_state)s));
		if (w < 0 || (size_t)w >= cap - len)
			break;
		len += (size_t)w;
	}
}

static const struct lc_row *row_of(enum cat_state from, enum lc_event ev)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (rows[i].from == from && rows[i].ev == ev)
			return &rows[i];
	return NULL;
}

static int refuse(const struct cat_tape *t, enum lc_event ev, char *err, size_t errlen)
{
	for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
		const struct lc_refusal *r = &refusals[i];
		if (r->from != t->state || (r->ev != ev && r->ev != LC_N_EVENTS))
			continue;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		say(err, errlen, r->fmt, t->barcode, cat_state_name(t->state));
#pragma GCC diagnostic pop
		return r->err;
	}
	char states[160];
	allowed_in(ev, states, sizeof(states));
	if (events[ev].internal) {
		say(err, errlen, "tape %s is %s now; it can no longer be %s (only %s tapes can)",
		    t->barcode, cat_state_name(t->state), events[ev].passive, states);
		return -ESTALE;
	}
	say(err, errlen, "tape %s is %s; only %s tapes can be %s", t->barcode,
	    cat_state_name(t->state), states, events[ev].passive);
	return -EINVAL;
}

/* The row's effect for t, through its guard. */
static int effect_of(const struct cat_tape *t, enum lc_event ev, const struct lc_facts *facts,
		     const struct lc_row **row, struct lc_effect *e, char *err, size_t errlen)
{
	if ((unsigned)ev >= LC_N_EVENTS || (unsigned)t->state >= CAT_N_STATES) {
		say(err, errlen, "tape %s: unknown state or event", t->barcode);
		return -EINVAL;
	}
	const struct lc_row *r = row_of(t->state, ev);
	if (!r)
		return refuse(t, ev, err, errlen);
	memset(e, 0, sizeof(*e));
	e->to = r->to;
	*row = r;
	return r->guard ? r->guard(t, facts, e, err, errlen) : 0;
}

int lc_check(const struct cat_tape *t, enum lc_event ev, const struct lc_facts *facts,
	     enum cat_state *to, enum lc_place *place, char *err, size_t errlen)
{
	const struct lc_row *r;
	struct lc_effect e;
	int rc = effect_of(t, ev, facts, &r, &e, err, errlen);
	if (rc)
		return rc;
	if (to)
		*to = e.to;
	if (place)
		*place = r->place;
	return 0;
}

int lc_apply(struct cat *cat, const struct cat_tape *t, enum lc_event ev,
	     const struct lc_facts *facts, uint16_t element, const char *cause, char *err,
	     size_t errlen)
{
	const struct lc_row *r;
	struct lc_effect e;
	int rc = effect_of(t, ev, facts, &r, &e, err, errlen);
	if (rc)
		return rc;
	/* The tape must still be what the caller read: in its state and its
	 * place. */
	struct cat_change ch = {
	    .from = t->state,
	    .check_element = true,
	    .at_none = !t->in_library,
	    .at = t->element,
	    .to = e.to,
	    .to_none = r->place == LC_NOWHERE,
	    .dest = element,
	    .keep_element = r->place == LC_STAY,
	    .write_protect = r->write_protect,
	    .pool = e.pool,
	    .set_lock = e.set_lock,
	    .lock = e.lock,
	    .retain_until = e.retain_until,
	    .cause = cause,
	};
	rc = cat_tape_change(cat, t->barcode, &ch);
	if (rc == -ESTALE)
		say(err, errlen,
		    "tape %s changed while it was being %s; look again (vtlctl tape show %s)",
		    t->barcode, events[ev].passive, t->barcode);
	else if (rc == -EBUSY)
		say(err, errlen, "the destination of tape %s is full", t->barcode);
	else if (rc)
		say(err, errlen, "cannot record that tape %s was %s: %s", t->barcode,
		    events[ev].passive, strerror(-rc));
	return rc;
}
