/*
 * test_lifecycle.c - every (state, event) pair of the tape lifecycle
 * (vtl/lifecycle.c) against a real catalog: an allowed event moves the
 * tape to the state and place this file expects and records its event; a
 * refused one leaves the tape as it was, says why naming the tape and its
 * state, and returns the errno this file expects.
 *
 * The expectations are written out here by hand, apart from the table
 * they check, so that a row added or dropped there by mistake fails here.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog.h"
#include "catalog/catalog_upl.h"
#include "tests/tmpdir.h"
#include "vtl/lifecycle.h"

#define N_SLOTS 8
#define N_IE	4

static char dir[256];
static struct cat *cat;

static void open_catalog(void)
{
	char path[300];
	tmpdir_make(dir, sizeof(dir), "lifecycle");
	snprintf(path, sizeof(path), "%s/catalog.db", dir);
	cr_assert_eq(cat_open(path, &cat), 0);
	struct cat_library info;
	memset(&info, 0, sizeof(info));
	snprintf(info.vendor, sizeof(info.vendor), "STK");
	snprintf(info.product, sizeof(info.product), "L700");
	snprintf(info.revision, sizeof(info.revision), "0107");
	snprintf(info.serial, sizeof(info.serial), "LCTEST");
	snprintf(info.drive_vendor, sizeof(info.drive_vendor), "IBM");
	snprintf(info.drive_media, sizeof(info.drive_media), "LTO-8");
	info.base[CAT_TRANSPORT] = 1;
	info.count[CAT_TRANSPORT] = 1;
	info.base[CAT_IE] = 10;
	info.count[CAT_IE] = N_IE;
	info.base[CAT_DRIVE] = 500;
	info.count[CAT_DRIVE] = 1;
	info.base[CAT_STORAGE] = 1000;
	info.count[CAT_STORAGE] = N_SLOTS;
	struct cat_drive d = {.lun = 1};
	snprintf(d.serial, sizeof(d.serial), "LCDRIVE01");
	cr_assert_eq(cat_library_create(cat, &info, &d, 1), 0);
	struct cat_pool p = {.name = "POOL2", .storage_class = "GLACIER"};
	cr_assert_eq(cat_pool_create(cat, &p), 0);
	struct cat_pool g = {.name = "GOV30",
			     .storage_class = "GLACIER",
			     .lock = CAT_LOCK_GOVERNANCE,
			     .retention_days = 30};
	cr_assert_eq(cat_pool_create(cat, &g), 0);
	struct cat_pool k = {.name = "COMP10",
			     .storage_class = "DEEP_ARCHIVE",
			     .lock = CAT_LOCK_COMPLIANCE,
			     .retention_days = 10};
	cr_assert_eq(cat_pool_create(cat, &k), 0);
}

static void close_catalog(void)
{
	cat_close(cat);
	cat = NULL;
	tmpdir_remove(dir);
}

static struct cat_tape get(const char *bc)
{
	struct cat_tape t;
	cr_assert_eq(cat_tape_get(cat, bc, &t), 0, "tape %s", bc);
	return t;
}

/* The first empty element of kind. */
static uint16_t free_element(enum cat_kind kind)
{
	struct cat_element *els;
	size_t n;
	uint16_t addr = 0;
	cr_assert_eq(cat_elements(cat, &els, &n), 0);
	for (size_t i = 0; i < n && !addr; i++)
		if (els[i].kind == kind && !els[i].full)
			addr = els[i].address;
	free(els);
	cr_assert_neq(addr, 0, "no free element of kind %d", kind);
	return addr;
}

static int apply(const char *bc, enum lc_event ev, const struct lc_facts *f, uint16_t element,
		 char *err, size_t errlen)
{
	struct cat_tape t = get(bc);
	return lc_apply(cat, &t, ev, f, element, "test", err, errlen);
}

static void must(const char *bc, enum lc_event ev, uint16_t element)
{
	char err[512] = "";
	int rc = apply(bc, ev, NULL, element, err, sizeof(err));
	cr_assert_eq(rc, 0, "%s on %s: %d %s", lc_event_name(ev), bc, rc, err);
}

/* A new tape in a slot, brought to state s by a path of allowed events;
 * IN_TRANSIT_TO_SHELF is reached by an export, so it is in a port. */
static void make_tape(const char *bc, enum cat_state s)
{
	struct cat_tape t;
	size_t bad;
	memset(&t, 0, sizeof(t));
	snprintf(t.barcode, sizeof(t.barcode), "%s", bc);
	snprintf(t.media, sizeof(t.media), "LTO-8");
	t.capacity = 1 << 20;
	cr_assert_eq(cat_tape_create(cat, &t, 1, "test", &bad), 0);
	if (s == CAT_CREATING)
		return;
	must(bc, LC_FORMATTED, 0);
	switch (s) {
	case CAT_AVAILABLE:
		break;
	case CAT_IN_TRANSIT_TO_SHELF:
		must(bc, LC_EXPORT, free_element(CAT_IE));
		break;
	case CAT_ARCHIVING:
	case CAT_ARCHIVED:
	case CAT_RETRIEVING:
	case CAT_RETRIEVED:
		must(bc, LC_ARCHIVE, 0);
		must(bc, LC_UPLOADED, 0);
		if (s == CAT_ARCHIVING)
			break;
		must(bc, LC_SHELVED, 0);
		if (s == CAT_ARCHIVED)
			break;
		must(bc, LC_RETRIEVE, 0);
		if (s == CAT_RETRIEVING)
			break;
		must(bc, LC_DOWNLOADED, free_element(CAT_IE));
		break;
	case CAT_DELETED:
		must(bc, LC_DELETE, 0);
		break;
	case CAT_IRRECOVERABLE:
		must(bc, LC_MEDIUM_LOST, 0);
		break;
	default:
		cr_assert_fail("no path to state %d", s);
	}
	cr_assert_eq(get(bc).state, s);
}

/* ---- The expected table ------------------------------------------------- */

/* Where an allowed event leaves the tape. */
enum where { STAYS, OUT, SLOT, PORT };

struct expect {
	enum cat_state from;
	enum lc_event ev;
	int rc;		   /* 0: allowed */
	enum cat_state to; /* when allowed */
	enum where where;
};

#define OK(f, e, t, w)                                                                             \
	{                                                                                          \
		CAT_##f, LC_##e, 0, CAT_##t, w                                                     \
	}
#define NO(f, e, errno)                                                                            \
	{                                                                                          \
		CAT_##f, LC_##e, -errno, CAT_##f, STAYS                                            \
	}

static const struct expect allowed[] = {
    OK(CREATING, FORMATTED, AVAILABLE, STAYS),
    OK(CREATING, FOUND_IN_SLOT, AVAILABLE, STAYS),
    OK(CREATING, FOUND_ON_SHELF, ARCHIVED, OUT),
    OK(CREATING, DELETE, DELETED, OUT),

    OK(AVAILABLE, MOVE, AVAILABLE, SLOT),
    OK(AVAILABLE, EXPORT, IN_TRANSIT_TO_SHELF, PORT),
    OK(AVAILABLE, RETURN_HOME, AVAILABLE, SLOT),
    OK(AVAILABLE, ARCHIVE, IN_TRANSIT_TO_SHELF, OUT),
    OK(AVAILABLE, DELETE, DELETED, OUT),
    OK(AVAILABLE, MEDIUM_LOST, IRRECOVERABLE, STAYS),

    OK(IN_TRANSIT_TO_SHELF, MOVE, IN_TRANSIT_TO_SHELF, PORT),
    OK(IN_TRANSIT_TO_SHELF, IMPORT, AVAILABLE, SLOT),
    OK(IN_TRANSIT_TO_SHELF, RETURN_HOME, IN_TRANSIT_TO_SHELF, SLOT),
    OK(IN_TRANSIT_TO_SHELF, ARCHIVE, IN_TRANSIT_TO_SHELF, OUT),
    OK(IN_TRANSIT_TO_SHELF, UPLOADED, ARCHIVING, OUT),
    OK(IN_TRANSIT_TO_SHELF, DELETE, DELETED, OUT),
    OK(IN_TRANSIT_TO_SHELF, MEDIUM_LOST, IRRECOVERABLE, STAYS),

    OK(ARCHIVING, SHELVED, ARCHIVED, OUT),
    OK(ARCHIVED, RETRIEVE, RETRIEVING, OUT),
    OK(RETRIEVING, DOWNLOADED, RETRIEVED, PORT),

    OK(RETRIEVED, MOVE, RETRIEVED, SLOT),
    OK(RETRIEVED, EXPORT, IN_TRANSIT_TO_SHELF, PORT),
    OK(RETRIEVED, RETURN_HOME, RETRIEVED, SLOT),
    OK(RETRIEVED, ARCHIVE, IN_TRANSIT_TO_SHELF, OUT),
    OK(RETRIEVED, DELETE, DELETED, OUT),
    OK(RETRIEVED, MEDIUM_LOST, IRRECOVERABLE, STAYS),

    OK(IRRECOVERABLE, RETURN_HOME, IRRECOVERABLE, SLOT),
    OK(IRRECOVERABLE, DELETE, DELETED, OUT),
    OK(IRRECOVERABLE, MEDIUM_BACK, AVAILABLE, STAYS),

    OK(AVAILABLE, ASSIGN_POOL, AVAILABLE, STAYS),
    OK(IN_TRANSIT_TO_SHELF, ASSIGN_POOL, IN_TRANSIT_TO_SHELF, STAYS),
    OK(ARCHIVED, ASSIGN_POOL, ARCHIVED, STAYS),
    OK(RETRIEVED, ASSIGN_POOL, RETRIEVED, STAYS),

    OK(AVAILABLE, RESTORED, AVAILABLE, STAYS),
    OK(ARCHIVED, RESTORED, ARCHIVED, STAYS),
};

/* Refusals with their own errno; every other pair not allowed is -ESTALE
 * for an event of vtld's own threads and -EINVAL for a person's. */
static const struct expect refused[] = {
    NO(ARCHIVING, DELETE, ENOTEMPTY),  NO(ARCHIVED, DELETE, ENOTEMPTY),
    NO(RETRIEVING, DELETE, ENOTEMPTY), NO(ARCHIVED, ARCHIVE, EALREADY),
    NO(ARCHIVING, ARCHIVE, EALREADY),  NO(RETRIEVING, RETRIEVE, EALREADY),
    NO(ARCHIVED, MOVE, ENOENT),	       NO(ARCHIVING, MOVE, ENOENT),
    NO(RETRIEVING, MOVE, ENOENT),      NO(IRRECOVERABLE, MOVE, EIO),
    NO(IRRECOVERABLE, EXPORT, EIO),    NO(IRRECOVERABLE, ARCHIVE, EIO),
};

static bool internal(enum lc_event ev)
{
	switch (ev) {
	case LC_FORMATTED:
	case LC_FOUND_IN_SLOT:
	case LC_FOUND_ON_SHELF:
	case LC_UPLOADED:
	case LC_SHELVED:
	case LC_DOWNLOADED:
	case LC_MEDIUM_LOST:
	case LC_MEDIUM_BACK:
	case LC_RESTORED:
		return true;
	default:
		return false;
	}
}

static struct expect expected(enum cat_state from, enum lc_event ev)
{
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		if (allowed[i].from == from && allowed[i].ev == ev)
			return allowed[i];
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		if (refused[i].from == from && refused[i].ev == ev)
			return refused[i];
	int rc = from == CAT_DELETED ? -ENOENT : internal(ev) ? -ESTALE : -EINVAL;
	return (struct expect){from, ev, rc, from, STAYS};
}

/* ---- One test per (state, event) ----------------------------------------- */

struct pair {
	enum cat_state from;
	enum lc_event ev;
};

ParameterizedTestParameters(lifecycle, every_state_and_event)
{
	static struct pair pairs[CAT_N_STATES * LC_N_EVENTS];
	size_t n = 0;
	for (int s = 0; s < CAT_N_STATES; s++)
		for (int e = 0; e < LC_N_EVENTS; e++)
			pairs[n++] = (struct pair){(enum cat_state)s, (enum lc_event)e};
	return cr_make_param_array(struct pair, pairs, n);
}

static uint16_t destination(enum lc_event ev)
{
	switch (ev) {
	case LC_EXPORT:
	case LC_DOWNLOADED:
		return free_element(CAT_IE);
	case LC_MOVE:
	case LC_IMPORT:
	case LC_RETURN_HOME:
		return free_element(CAT_STORAGE);
	default:
		return 0;
	}
}

ParameterizedTest(struct pair *p, lifecycle, every_state_and_event, .init = open_catalog,
		  .fini = close_catalog)
{
	const char *bc = "LCT001L8";
	make_tape(bc, p->from);
	struct expect x = expected(p->from, p->ev);
	/* A move inside the ports stays in the ports. */
	if (p->ev == LC_MOVE && p->from == CAT_IN_TRANSIT_TO_SHELF)
		x.where = PORT;
	struct cat_tape before = get(bc);
	struct cat_event *ev;
	size_t n_before, n_after;
	cr_assert_eq(cat_events(cat, bc, 0, &ev, &n_before), 0);
	free(ev);
	uint16_t dest = p->ev == LC_MOVE && p->from == CAT_IN_TRANSIT_TO_SHELF
			    ? free_element(CAT_IE)
			    : destination(p->ev);

	char err[512] = "";
	struct cat_pool pool2;
	cr_assert_eq(cat_pool_get(cat, "POOL2", &pool2), 0);
	struct lc_facts facts = {
	    .pool = &pool2, .lock = CAT_LOCK_GOVERNANCE, .retain_until = 1900000000000ll};
	bool pooled = p->ev == LC_ASSIGN_POOL || p->ev == LC_RESTORED;
	int rc =
	    lc_apply(cat, &before, p->ev, pooled ? &facts : NULL, dest, "test", err, sizeof(err));
	struct cat_tape after = get(bc);
	cr_assert_eq(cat_events(cat, bc, 0, &ev, &n_after), 0);

	const char *from = cat_state_name(p->from), *what = lc_event_name(p->ev);
	cr_assert_eq(rc, x.rc, "%s + %s: %d, expected %d (%s)", from, what, rc, x.rc, err);
	if (rc) {
		cr_assert_eq(after.state, before.state, "%s + %s: state changed", from, what);
		cr_assert_str_eq(after.location, before.location);
		cr_assert_eq(n_after, n_before, "%s + %s: an event was recorded", from, what);
		cr_assert(strstr(err, bc), "%s + %s: the error names no tape: %s", from, what, err);
		cr_assert(strstr(err, from), "%s + %s: the error names no state: %s", from, what,
			  err);
		free(ev);
		return;
	}
	cr_assert_eq(after.state, x.to, "%s + %s: %s, expected %s", from, what,
		     cat_state_name(after.state), cat_state_name(x.to));
	cr_assert_eq(n_after, n_before + 1, "%s + %s: one event", from, what);
	cr_assert_str_eq(ev[n_after - 1].from_state, from);
	cr_assert_str_eq(ev[n_after - 1].to_state, cat_state_name(x.to));
	cr_assert_str_eq(ev[n_after - 1].cause, "test");
	free(ev);
	switch (x.where) {
	case STAYS:
		cr_assert_str_eq(after.location, before.location, "%s + %s", from, what);
		break;
	case OUT:
		cr_assert_not(after.in_library, "%s + %s: still in %s", from, what, after.location);
		break;
	case SLOT:
	case PORT:
		cr_assert(after.in_library, "%s + %s: not in the library", from, what);
		cr_assert_eq(after.element, dest);
		cr_assert_eq(after.kind, x.where == SLOT ? CAT_STORAGE : CAT_IE);
		break;
	}
	/* A retrieved tape is read-only. */
	if (p->ev == LC_DOWNLOADED)
		cr_assert(after.write_protect);
	cr_assert_str_eq(after.pool, pooled ? "POOL2" : "default");
	if (p->ev == LC_RESTORED) {
		cr_assert_eq(after.lock, CAT_LOCK_GOVERNANCE);
		cr_assert_eq(after.retain_until, 1900000000000ll);
	}
}

/* ---- Guards -------------------------------------------------------------- */

TestSuite(lifecycle_guards, .init = open_catalog, .fini = close_catalog);

Test(lifecycle_guards, delete_of_a_tape_holding_data_needs_force)
{
	char err[512];
	make_tape("LCT001L8", CAT_AVAILABLE);
	struct lc_facts f = {.has_data = true, .data = 4096};
	cr_assert_eq(apply("LCT001L8", LC_DELETE, &f, 0, err, sizeof(err)), -ENOTEMPTY);
	cr_assert(strstr(err, "4096 bytes") && strstr(err, "--force"), "%s", err);
	f.force = true;
	cr_assert_eq(apply("LCT001L8", LC_DELETE, &f, 0, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(get("LCT001L8").state, CAT_DELETED);
}

Test(lifecycle_guards, delete_of_a_shelved_tape_needs_force)
{
	char err[512];
	make_tape("LCT001L8", CAT_ARCHIVED);
	cr_assert_eq(apply("LCT001L8", LC_DELETE, NULL, 0, err, sizeof(err)), -ENOTEMPTY);
	cr_assert(strstr(err, "only in the object store"), "%s", err);
	struct lc_facts f = {.force = true};
	cr_assert_eq(apply("LCT001L8", LC_DELETE, &f, 0, err, sizeof(err)), 0, "%s", err);
}

Test(lifecycle_guards, an_import_of_a_retrieved_tape_keeps_it_retrieved)
{
	char err[512];
	make_tape("LCT001L8", CAT_RETRIEVED);
	must("LCT001L8", LC_EXPORT, free_element(CAT_IE));
	cr_assert_eq(get("LCT001L8").state, CAT_IN_TRANSIT_TO_SHELF);
	cr_assert_eq(
	    apply("LCT001L8", LC_IMPORT, NULL, free_element(CAT_STORAGE), err, sizeof(err)), 0,
	    "%s", err);
	struct cat_tape t = get("LCT001L8");
	cr_assert_eq(t.state, CAT_RETRIEVED);
	cr_assert(t.write_protect);
}

Test(lifecycle_guards, a_medium_back_returns_to_the_state_it_had)
{
	char err[512];
	make_tape("LCT001L8", CAT_IN_TRANSIT_TO_SHELF);
	must("LCT001L8", LC_MEDIUM_LOST, 0);
	struct lc_facts f = {.was = CAT_IN_TRANSIT_TO_SHELF};
	cr_assert_eq(apply("LCT001L8", LC_MEDIUM_BACK, &f, 0, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(get("LCT001L8").state, CAT_IN_TRANSIT_TO_SHELF);
	/* A state whose medium is elsewhere is not one to return to. */
	must("LCT001L8", LC_MEDIUM_LOST, 0);
	f.was = CAT_ARCHIVED;
	cr_assert_eq(apply("LCT001L8", LC_MEDIUM_BACK, &f, 0, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(get("LCT001L8").state, CAT_AVAILABLE);
}

Test(lifecycle_guards, a_tape_changed_since_it_was_read_is_stale)
{
	char err[512] = "";
	make_tape("LCT001L8", CAT_AVAILABLE);
	struct cat_tape old = get("LCT001L8");
	must("LCT001L8", LC_MOVE, free_element(CAT_STORAGE));
	cr_assert_eq(lc_apply(cat, &old, LC_ARCHIVE, NULL, 0, "test", err, sizeof(err)), -ESTALE);
	cr_assert(strstr(err, "changed"), "%s", err);
	cr_assert_eq(get("LCT001L8").state, CAT_AVAILABLE);
}

Test(lifecycle_guards, refusals_list_the_states_that_allow_the_event)
{
	char err[512];
	make_tape("LCT001L8", CAT_CREATING);
	cr_assert_eq(apply("LCT001L8", LC_ARCHIVE, NULL, 0, err, sizeof(err)), -EINVAL);
	cr_assert_str_eq(err, "tape LCT001L8 is CREATING; only AVAILABLE, IN_TRANSIT_TO_SHELF or "
			      "RETRIEVED tapes can be archived");
}

/* ---- Pools and retention lock -------------------------------------------- */

#define T0  1800000000000ll /* 2027-01-15 08:00 UTC */
#define DAY (86400ll * 1000)

/* An ARCHIVED tape of pool, shelved at T0 with its pool's lock. */
static void shelve_in(const char *bc, const char *pool_name)
{
	struct cat_pool pool;
	char err[512];
	make_tape(bc, CAT_AVAILABLE);
	cr_assert_eq(cat_pool_get(cat, pool_name, &pool), 0);
	struct lc_facts f = {.pool = &pool, .now = T0};
	if (strcmp(pool_name, "default") != 0) /* a new tape is in it already */
		cr_assert_eq(apply(bc, LC_ASSIGN_POOL, &f, 0, err, sizeof(err)), 0, "%s", err);
	must(bc, LC_ARCHIVE, 0);
	must(bc, LC_UPLOADED, 0);
	cr_assert_eq(apply(bc, LC_SHELVED, &f, 0, err, sizeof(err)), 0, "%s", err);
}

Test(lifecycle_guards, shelving_takes_the_pools_lock_from_then_on)
{
	shelve_in("LCT001L8", "GOV30");
	struct cat_tape t = get("LCT001L8");
	cr_assert_eq(t.lock, CAT_LOCK_GOVERNANCE);
	cr_assert_eq(t.retain_until, T0 + 30 * DAY);
	/* A pool without a lock gives none. */
	shelve_in("LCT002L8", "POOL2");
	t = get("LCT002L8");
	cr_assert_eq(t.lock, CAT_LOCK_NONE);
	cr_assert_eq(t.retain_until, 0);
}

Test(lifecycle_guards, compliance_holds_against_everyone_until_its_date)
{
	char err[512];
	shelve_in("LCT001L8", "COMP10");
	struct lc_facts f = {.force = true, .bypass_governance = true, .now = T0 + 9 * DAY};
	cr_assert_eq(apply("LCT001L8", LC_DELETE, &f, 0, err, sizeof(err)), -EPERM);
	cr_assert(strstr(err, "COMPLIANCE") && strstr(err, "2027-01-25 08:00 UTC") &&
		      strstr(err, "LCT001L8") && strstr(err, "COMP10"),
		  "%s", err);
	struct cat_pool pool2;
	cr_assert_eq(cat_pool_get(cat, "POOL2", &pool2), 0);
	f.pool = &pool2;
	cr_assert_eq(apply("LCT001L8", LC_ASSIGN_POOL, &f, 0, err, sizeof(err)), -EPERM);
	cr_assert_eq(get("LCT001L8").state, CAT_ARCHIVED);
	cr_assert_str_eq(get("LCT001L8").pool, "COMP10");
	/* Its date passed: a tape like any other. */
	f.now = T0 + 10 * DAY + 1;
	cr_assert_eq(apply("LCT001L8", LC_ASSIGN_POOL, &f, 0, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(apply("LCT001L8", LC_DELETE, &f, 0, err, sizeof(err)), 0, "%s", err);
}

Test(lifecycle_guards, governance_holds_unless_bypassed)
{
	char err[512];
	shelve_in("LCT001L8", "GOV30");
	struct lc_facts f = {.force = true, .now = T0 + DAY};
	cr_assert_eq(apply("LCT001L8", LC_DELETE, &f, 0, err, sizeof(err)), -EPERM);
	cr_assert(strstr(err, "GOVERNANCE") && strstr(err, "--bypass-governance") &&
		      strstr(err, "governance_bypass"),
		  "%s", err);
	f.bypass_governance = true;
	cr_assert_eq(apply("LCT001L8", LC_DELETE, &f, 0, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(get("LCT001L8").state, CAT_DELETED);
}

Test(lifecycle_guards, a_tape_already_in_the_pool_is_not_assigned_again)
{
	char err[512];
	struct cat_pool def;
	make_tape("LCT001L8", CAT_AVAILABLE);
	cr_assert_eq(cat_pool_get(cat, "default", &def), 0);
	struct lc_facts f = {.pool = &def};
	cr_assert_eq(apply("LCT001L8", LC_ASSIGN_POOL, &f, 0, err, sizeof(err)), -EALREADY);
	cr_assert(strstr(err, "already"), "%s", err);
}

Test(lifecycle_guards, an_archived_tape_takes_its_new_pools_lock_from_the_assignment)
{
	char err[512];
	struct cat_pool gov, comp, pool2;
	cr_assert_eq(cat_pool_get(cat, "GOV30", &gov), 0);
	cr_assert_eq(cat_pool_get(cat, "COMP10", &comp), 0);
	cr_assert_eq(cat_pool_get(cat, "POOL2", &pool2), 0);
	/* Archived unlocked, assigned on day 5 to a compliance pool of 10
	 * days: locked until day 15. */
	shelve_in("LCT001L8", "POOL2");
	struct lc_facts f = {.pool = &comp, .now = T0 + 5 * DAY};
	cr_assert_eq(apply("LCT001L8", LC_ASSIGN_POOL, &f, 0, err, sizeof(err)), 0, "%s", err);
	struct cat_tape t = get("LCT001L8");
	cr_assert_str_eq(t.pool, "COMP10");
	cr_assert_eq(t.lock, CAT_LOCK_COMPLIANCE);
	cr_assert_eq(t.retain_until, T0 + 15 * DAY);
	/* Governance of 30 days bypassed on day 1 into a pool of 10: the
	 * later date stays, the new pool's mode. */
	shelve_in("LCT002L8", "GOV30");
	f = (struct lc_facts){.pool = &comp, .now = T0 + DAY, .bypass_governance = true};
	cr_assert_eq(apply("LCT002L8", LC_ASSIGN_POOL, &f, 0, err, sizeof(err)), 0, "%s", err);
	t = get("LCT002L8");
	cr_assert_eq(t.lock, CAT_LOCK_COMPLIANCE);
	cr_assert_eq(t.retain_until, T0 + 30 * DAY);
	/* Into a pool without a lock: the lock it has stays. */
	shelve_in("LCT003L8", "GOV30");
	f = (struct lc_facts){.pool = &pool2, .now = T0 + DAY, .bypass_governance = true};
	cr_assert_eq(apply("LCT003L8", LC_ASSIGN_POOL, &f, 0, err, sizeof(err)), 0, "%s", err);
	t = get("LCT003L8");
	cr_assert_eq(t.lock, CAT_LOCK_GOVERNANCE);
	cr_assert_eq(t.retain_until, T0 + 30 * DAY);
	/* A tape in the library takes no lock until it is archived. */
	make_tape("LCT004L8", CAT_AVAILABLE);
	f = (struct lc_facts){.pool = &gov, .now = T0};
	cr_assert_eq(apply("LCT004L8", LC_ASSIGN_POOL, &f, 0, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(get("LCT004L8").lock, CAT_LOCK_NONE);
}

/* What the uploader's round asks (catalog/catalog_upl.h): the ARCHIVED
 * tapes whose objects are not recorded in their pool's class, or not
 * under their lock's date when the store locks objects. */
Test(lifecycle_guards, reclass_due_lists_archived_tapes_out_of_their_pools_place)
{
	char(*bc)[CAT_BARCODE_MAX + 1];
	size_t n;
	char err[512];
	shelve_in("LCT001L8", "POOL2");	  /* GLACIER, no lock */
	shelve_in("LCT002L8", "GOV30");	  /* GLACIER, governance */
	shelve_in("LCT003L8", "default"); /* the [store] class */
	make_tape("LCT004L8", CAT_AVAILABLE);
	for (int i = 1; i <= 4; i++) {
		char b[16];
		snprintf(b, sizeof(b), "LCT00%dL8", i);
		cr_assert_eq(cat_upl_tape_set(cat, b, 1, "ARCHIVED"), 0);
	}
	/* Nothing recorded yet: every archived tape, never one in the library. */
	cr_assert_eq(cat_upl_reclass_due(cat, "", true, &bc, &n), 0);
	cr_assert_eq(n, 3);
	cr_assert_str_eq(bc[0], "LCT001L8");
	cr_assert_str_eq(bc[2], "LCT003L8");
	free(bc);
	/* In place: none. */
	cr_assert_eq(cat_upl_shelf_set(cat, "LCT001L8", "GLACIER", 0), 0);
	cr_assert_eq(cat_upl_shelf_set(cat, "LCT002L8", "GLACIER", T0 + 30 * DAY), 0);
	cr_assert_eq(cat_upl_shelf_set(cat, "LCT003L8", "DEEP_ARCHIVE", 0), 0);
	cr_assert_eq(cat_upl_reclass_due(cat, "DEEP_ARCHIVE", true, &bc, &n), 0);
	cr_assert_eq(n, 0);
	free(bc);
	/* Without a [store] class the default pool's tapes belong in STANDARD. */
	cr_assert_eq(cat_upl_reclass_due(cat, "", true, &bc, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(bc[0], "LCT003L8");
	free(bc);
	/* Assigned to a pool of another class and a lock: due, for both. */
	struct cat_pool comp;
	cr_assert_eq(cat_pool_get(cat, "COMP10", &comp), 0);
	struct lc_facts f = {.pool = &comp, .now = T0 + DAY};
	cr_assert_eq(apply("LCT001L8", LC_ASSIGN_POOL, &f, 0, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(cat_upl_reclass_due(cat, "DEEP_ARCHIVE", true, &bc, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(bc[0], "LCT001L8");
	free(bc);
	/* Its objects moved but not locked: still due while the store locks,
	 * not when it does not. */
	cr_assert_eq(cat_upl_shelf_set(cat, "LCT001L8", "DEEP_ARCHIVE", 0), 0);
	cr_assert_eq(cat_upl_reclass_due(cat, "DEEP_ARCHIVE", true, &bc, &n), 0);
	cr_assert_eq(n, 1);
	free(bc);
	cr_assert_eq(cat_upl_reclass_due(cat, "DEEP_ARCHIVE", false, &bc, &n), 0);
	cr_assert_eq(n, 0);
	free(bc);
}
