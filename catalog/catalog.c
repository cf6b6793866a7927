/*
 * catalog.c - the SQLite catalog (see catalog.h for the contract).
 *
 * The schema is created and upgraded by numbered migrations; PRAGMA
 * user_version holds the number of the last one applied, and each runs in
 * its own transaction, so a crash during an upgrade leaves the previous
 * version intact. The database runs in WAL mode with synchronous=FULL: a
 * committed move survives power loss, which is what lets the library model
 * promise that a tape is in exactly one place after a crash.
 *
 * Writers use BEGIN IMMEDIATE so that two processes on one catalog (vtld
 * and a test, or a future vtlctl that reads directly) never deadlock on a
 * lock upgrade; the busy timeout absorbs short waits.
 *
 * The catalog is private to its user (0600) whatever the umask, and so are
 * SQLite's -wal, -shm and -journal files: SQLite gives them the mode of the
 * database file, so cat_open creates that file itself before SQLite does.
 */
#include "config.h"

#include "catalog.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "catalog_int.h"
#include "util/escape.h"
#include "util/metrics.h"

static const char *const state_names[CAT_N_STATES] = {
    "CREATING",	 "AVAILABLE", "IN_TRANSIT_TO_SHELF", "ARCHIVING", "ARCHIVED", "RETRIEVING",
    "RETRIEVED", "DELETED",   "IRRECOVERABLE",
};

const char *cat_state_name(enum cat_state s)
{
	return (unsigned)s < CAT_N_STATES ? state_names[s] : "?";
}

int cat_state_parse(const char *name, enum cat_state *s)
{
	for (int i = 0; i < CAT_N_STATES; i++) {
		if (strcasecmp(name, state_names[i]) == 0) {
			*s = (enum cat_state)i;
			return 0;
		}
	}
	return -EINVAL;
}

static const char *const lock_names[] = {"none", "governance", "compliance"};

const char *cat_lock_name(enum cat_lock l)
{
	return (unsigned)l < 3 ? lock_names[l] : "none";
}

int cat_lock_parse(const char *name, enum cat_lock *l)
{
	for (int i = 0; i < 3; i++)
		if (strcmp(name, lock_names[i]) == 0) {
			*l = (enum cat_lock)i;
			return 0;
		}
	return -EINVAL;
}

const char *cat_kind_name(enum cat_kind k)
{
	switch (k) {
	case CAT_TRANSPORT:
		return "transport";
	case CAT_STORAGE:
		return "slot";
	case CAT_IE:
		return "ie";
	case CAT_DRIVE:
		return "drive";
	}
	return "?";
}

void cat_loc_format(enum cat_kind kind, uint32_t ordinal, char *buf)
{
	snprintf(buf, CAT_LOC_MAX, "%s:%u", cat_kind_name(kind), ordinal);
}

int64_t cat_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* SQLite result code to a negative errno. */
int cat_sq_err(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return 0;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EAGAIN;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_CONSTRAINT:
		return -EINVAL;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_CANTOPEN:
		return -ENOENT;
	case SQLITE_READONLY:
	case SQLITE_PERM:
		return -EACCES;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return -EUCLEAN;
	default:
		return -EIO;
	}
}

int cat_prepare(struct cat *c, const char *sql, sqlite3_stmt **st)
{
	for (size_t i = 0; i < c->n_stmts; i++) {
		struct cat_stmt_slot *s = &c->stmts[i];
		if (s->sql != sql)
			continue;
		if (s->busy) /* nested: a statement of its own */
			return sqlite3_prepare_v2(c->db, sql, -1, st, NULL);
		s->busy = true;
		*st = s->st;
		return SQLITE_OK;
	}
	if (c->n_stmts == CAT_STMT_CACHE)
		return sqlite3_prepare_v2(c->db, sql, -1, st, NULL);
	/* SQLITE_PREPARE_PERSISTENT: SQLite's hint for a statement kept and
	 * run many times (its memory comes from the heap, not the lookaside
	 * of short-lived ones). */
	int rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
	if (rc == SQLITE_OK)
		c->stmts[c->n_stmts++] =
		    (struct cat_stmt_slot){.sql = sql, .st = *st, .busy = true};
	return rc;
}

void cat_release(struct cat *c, sqlite3_stmt *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < c->n_stmts; i++) {
		struct cat_stmt_slot *s = &c->stmts[i];
		if (s->st == st && s->busy) {
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			s->busy = false;
			return;
		}
	}
	sqlite3_finalize(st);
}

/* Every kept statement finalized: sqlite3_close refuses a connection
 * that still has some. */
static void stmts_drop(struct cat *c)
{
	for (size_t i = 0; i < c->n_stmts; i++)
		sqlite3_finalize(c->stmts[i].st);
	c->n_stmts = 0;
}

int cat_exec(struct cat *c, const char *sql)
{
	return cat_sq_err(sqlite3_exec(c->db, sql, NULL, NULL, NULL));
}

/* Inside a batch each transaction is a savepoint: its rollback undoes it
 * alone, and nothing is durable before the batch commits. */
int cat_begin(struct cat *c)
{
	return cat_exec(c, c->batch ? "SAVEPOINT one" : "BEGIN IMMEDIATE");
}

int cat_commit(struct cat *c)
{
	return cat_exec(c, c->batch ? "RELEASE one" : "COMMIT");
}

void cat_rollback(struct cat *c)
{
	sqlite3_exec(c->db, c->batch ? "ROLLBACK TO one; RELEASE one" : "ROLLBACK", NULL, NULL,
		     NULL);
}

int cat_batch_begin(struct cat *c)
{
	if (c->batch)
		return -EBUSY;
	int rc = cat_exec(c, "BEGIN IMMEDIATE");
	c->batch = rc == 0;
	return rc;
}

int cat_batch_end(struct cat *c, bool commit)
{
	if (!c->batch)
		return -EINVAL;
	c->batch = false;
	int rc = commit ? cat_exec(c, "COMMIT") : 0;
	if (!commit || rc)
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/*
 * Migrations. Index i brings the schema from version i to i + 1. Never edit
 * one that has shipped: add the next.
 */
static const char *const migrations[] = {
    /* 1: library, elements, drives, tapes, events. */
    "CREATE TABLE library ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  vendor TEXT NOT NULL, product TEXT NOT NULL, revision TEXT NOT NULL,"
    "  serial TEXT NOT NULL, drive_vendor TEXT NOT NULL, drive_media TEXT NOT NULL,"
    "  created INTEGER NOT NULL);"
    /* Element kinds use the SMC-3 element type codes. */
    "CREATE TABLE elements ("
    "  address INTEGER PRIMARY KEY CHECK (address BETWEEN 0 AND 65535),"
    "  kind INTEGER NOT NULL CHECK (kind BETWEEN 1 AND 4),"
    "  ordinal INTEGER NOT NULL CHECK (ordinal >= 1),"
    "  UNIQUE (kind, ordinal));"
    "CREATE TABLE drives ("
    "  address INTEGER PRIMARY KEY REFERENCES elements(address),"
    "  lun INTEGER NOT NULL UNIQUE,"
    "  serial TEXT NOT NULL UNIQUE);"
    "CREATE TABLE tapes ("
    "  id INTEGER PRIMARY KEY,"
    "  barcode TEXT NOT NULL UNIQUE,"
    "  media TEXT NOT NULL,"
    "  capacity INTEGER NOT NULL CHECK (capacity > 0),"
    "  used INTEGER NOT NULL DEFAULT 0,"
    "  state TEXT NOT NULL CHECK (state IN ('CREATING','AVAILABLE',"
    "    'IN_TRANSIT_TO_SHELF','ARCHIVING','ARCHIVED','RETRIEVING','RETRIEVED',"
    "    'DELETED','IRRECOVERABLE')),"
    "  write_protect INTEGER NOT NULL DEFAULT 0,"
    "  worm INTEGER NOT NULL DEFAULT 0,"
    "  pool TEXT NOT NULL DEFAULT 'default',"
    /* The one place a tape is: UNIQUE makes two tapes in one element
     * impossible, one column makes one tape in two elements impossible. */
    "  element INTEGER UNIQUE REFERENCES elements(address),"
    "  source INTEGER REFERENCES elements(address),"
    "  created INTEGER NOT NULL, changed INTEGER NOT NULL,"
    "  CHECK (element IS NOT NULL OR state NOT IN ('CREATING','AVAILABLE','RETRIEVED')),"
    "  CHECK (element IS NULL OR state IN ('CREATING','AVAILABLE','RETRIEVED',"
    "    'IN_TRANSIT_TO_SHELF','IRRECOVERABLE')));"
    "CREATE TABLE events ("
    "  id INTEGER PRIMARY KEY,"
    "  time INTEGER NOT NULL,"
    "  tape INTEGER NOT NULL REFERENCES tapes(id),"
    "  from_state TEXT, to_state TEXT NOT NULL,"
    "  from_loc TEXT NOT NULL, to_loc TEXT NOT NULL,"
    "  cause TEXT NOT NULL);"
    "CREATE INDEX events_tape ON events(tape, id);"
    "CREATE INDEX tapes_state ON tapes(state);",
    /* 2: the uploader's state (catalog/catalog_upl.h): per tape
     * the manifest generation in the store, per segment its multipart
     * upload or finished object, per part its number, size and ETag. */
    "CREATE TABLE upl_tapes ("
    "  tape INTEGER PRIMARY KEY REFERENCES tapes(id),"
    "  manifest_gen INTEGER NOT NULL DEFAULT 0,"
    "  store_state TEXT NOT NULL DEFAULT '');"
    "CREATE TABLE upl_segments ("
    "  tape INTEGER NOT NULL REFERENCES tapes(id),"
    "  seg INTEGER NOT NULL,"
    "  part_size INTEGER NOT NULL CHECK (part_size > 0),"
    "  valid INTEGER NOT NULL DEFAULT 0,"
    "  upload_id TEXT,"
    "  object_size INTEGER NOT NULL DEFAULT 0,"
    "  object_etag TEXT NOT NULL DEFAULT '',"
    "  PRIMARY KEY (tape, seg));"
    "CREATE TABLE upl_parts ("
    "  tape INTEGER NOT NULL, seg INTEGER NOT NULL,"
    "  number INTEGER NOT NULL CHECK (number BETWEEN 1 AND 10000),"
    "  size INTEGER NOT NULL, etag TEXT NOT NULL,"
    "  PRIMARY KEY (tape, seg, number),"
    "  FOREIGN KEY (tape, seg) REFERENCES upl_segments(tape, seg) ON DELETE CASCADE);",
    /* 3: pools (catalog/catalog_pool.c): where archived tapes go and how
     * long they are locked; a tape's lock and its end, fixed when it is
     * archived. The built-in pools are AWS Tape Gateway's. */
    "CREATE TABLE pools ("
    "  name TEXT PRIMARY KEY,"
    "  storage_class TEXT NOT NULL DEFAULT '',"
    "  lock_mode TEXT NOT NULL DEFAULT 'none'"
    "    CHECK (lock_mode IN ('none','governance','compliance')),"
    "  retention_days INTEGER NOT NULL DEFAULT 0 CHECK (retention_days BETWEEN 0 AND 36500),"
    "  builtin INTEGER NOT NULL DEFAULT 0,"
    "  created INTEGER NOT NULL,"
    "  CHECK ((lock_mode = 'none') = (retention_days = 0)));"
    "INSERT INTO pools (name, storage_class, builtin, created) VALUES"
    "  ('default', '', 1, 0), ('GLACIER', 'GLACIER', 1, 0),"
    "  ('DEEP_ARCHIVE', 'DEEP_ARCHIVE', 1, 0);"
    "ALTER TABLE tapes ADD COLUMN lock_mode TEXT NOT NULL DEFAULT 'none';"
    "ALTER TABLE tapes ADD COLUMN retain_until INTEGER NOT NULL DEFAULT 0;"
    /* A tape's pool exists; a pool a live tape names stays. */
    "CREATE TRIGGER tapes_pool_insert BEFORE INSERT ON tapes"
    "  WHEN NOT EXISTS (SELECT 1 FROM pools WHERE name = NEW.pool)"
    "  BEGIN SELECT RAISE(ABORT, 'no such pool'); END;"
    "CREATE TRIGGER tapes_pool_update BEFORE UPDATE OF pool ON tapes"
    "  WHEN NOT EXISTS (SELECT 1 FROM pools WHERE name = NEW.pool)"
    "  BEGIN SELECT RAISE(ABORT, 'no such pool'); END;"
    "CREATE TRIGGER pools_in_use BEFORE DELETE ON pools"
    "  WHEN EXISTS (SELECT 1 FROM tapes WHERE pool = OLD.name AND state != 'DELETED')"
    "  OR EXISTS (SELECT 1 FROM autocreate WHERE pool = OLD.name)"
    "  BEGIN SELECT RAISE(ABORT, 'pool in use'); END;"
    /* Automatic tape creation: keep `minimum` blank AVAILABLE tapes of
     * the prefix in the library (vtl/autocreate.c). */
    "CREATE TABLE autocreate ("
    "  prefix TEXT PRIMARY KEY,"
    "  pool TEXT NOT NULL REFERENCES pools(name),"
    "  media TEXT NOT NULL,"
    "  size INTEGER NOT NULL DEFAULT 0 CHECK (size >= 0),"
    "  minimum INTEGER NOT NULL CHECK (minimum BETWEEN 1 AND 1000),"
    "  created INTEGER NOT NULL);",
    /* 4: where an archived tape's objects are, as the uploader left
     * them (vtl/shelf.c, shelf_reclass): their storage class (NULL: not
     * recorded, archived before this column) and the retain-until date
     * (ms) the store's Object Lock holds them to, so that a tape assigned
     * to another pool while ARCHIVED is moved to that pool's class and
     * lock. */
    "ALTER TABLE upl_tapes ADD COLUMN shelf_class TEXT;"
    "ALTER TABLE upl_tapes ADD COLUMN locked_until INTEGER NOT NULL DEFAULT 0;",
    /* 5: each tape's data key wrapped by the master key, and the id of
     * that master key (catalog/catalog_key.h; docs/design.md, "Encryption
     * of cartridges at rest"). No key is stored in clear. */
    "CREATE TABLE tape_keys ("
    "  tape INTEGER PRIMARY KEY REFERENCES tapes(id),"
    "  wrapped TEXT NOT NULL CHECK (length(wrapped) > 0),"
    "  master_id TEXT NOT NULL CHECK (length(master_id) = 16));"
    "CREATE INDEX tape_keys_master ON tape_keys(master_id);",
    /* ---- 6: cleaning cartridges (own block: renumber freely at a merge) ----
     * clean_max > 0 marks a cleaning cartridge and is the number of
     * cleanings it is good for (LTO universal cleaning cartridge: 50);
     * clean_uses counts the cleanings done, one per load into a drive
     * while it was not expired (vtl/library.c). */
    "ALTER TABLE tapes ADD COLUMN clean_max INTEGER NOT NULL DEFAULT 0"
    "  CHECK (clean_max BETWEEN 0 AND 65535);"
    "ALTER TABLE tapes ADD COLUMN clean_uses INTEGER NOT NULL DEFAULT 0"
    "  CHECK (clean_uses >= 0);",
    /* ---- end of 6 ---- */
    /* ---- 7: media made at the first load (own block: renumber freely at
     * a merge) ----
     * medium = 1: the tape's medium is in DATA_DIR/tapes (every tape
     * before this column); 0: a blank tape whose medium is not made yet,
     * made at its first load or export (vtl/library.c, lib_make_medium;
     * docs/design.md, "Inventory at scale"). */
    "ALTER TABLE tapes ADD COLUMN medium INTEGER NOT NULL DEFAULT 1"
    "  CHECK (medium IN (0, 1));",
    /* ---- end of 7 ---- */
    /* ---- 8: each tape's change number (own block: renumber freely at a
     * merge) ----
     * tape_changes.seq counts the changes of tape rows, and a tape's
     * change_seq is the count at its last insert or update, set by these
     * triggers in the transaction of the change itself, whichever
     * connection or code path makes it. The uploader asks for the tapes
     * changed since the number it last read (cat_tape_list_changed), so
     * that its rounds look at those and not at every tape (vtl/uploader.c;
     * docs/design.md, "A tape in a drive no longer makes every round
     * full"). A counter of its own rather than MAX(change_seq) + 1: that
     * would go back when the row holding the maximum is deleted. The
     * WHEN clauses keep the triggers' own update from firing them.
     * tape_changes.record counts the changes of what the library record
     * says (vtl/record.c: pools, automatic creation, each tape's pool,
     * lock, state, blank medium and key), so that the uploader builds the
     * record again only when one happened (cat_record_changes), not
     * every few seconds while a drive writes. */
    "CREATE TABLE tape_changes ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  seq INTEGER NOT NULL,"
    "  record INTEGER NOT NULL);"
    "INSERT INTO tape_changes (id, seq, record) VALUES (1, 0, 0);"
    "ALTER TABLE tapes ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX tapes_change_seq ON tapes(change_seq);"
    "CREATE TRIGGER tapes_changed_insert AFTER INSERT ON tapes"
    "  BEGIN"
    "    UPDATE tape_changes SET seq = seq + 1, record = record + 1 WHERE id = 1;"
    "    UPDATE tapes SET change_seq = (SELECT seq FROM tape_changes WHERE id = 1)"
    "      WHERE id = NEW.id;"
    "  END;"
    "CREATE TRIGGER tapes_changed_update AFTER UPDATE ON tapes"
    "  WHEN NEW.change_seq = OLD.change_seq"
    "  BEGIN"
    "    UPDATE tape_changes SET seq = seq + 1 WHERE id = 1;"
    "    UPDATE tapes SET change_seq = (SELECT seq FROM tape_changes WHERE id = 1)"
    "      WHERE id = NEW.id;"
    "  END;"
    "CREATE TRIGGER tapes_record_update AFTER UPDATE OF barcode, state, pool, lock_mode,"
    "  retain_until, medium, media, capacity, worm, clean_max ON tapes"
    "  BEGIN UPDATE tape_changes SET record = record + 1 WHERE id = 1; END;"
    "CREATE TRIGGER tapes_record_delete AFTER DELETE ON tapes"
    "  BEGIN UPDATE tape_changes SET record = record + 1 WHERE id = 1; END;"
    "CREATE TRIGGER pools_record_insert AFTER INSERT ON pools"
    "  BEGIN UPDATE tape_changes SET record = record + 1 WHERE id = 1; END;"
    "CREATE TRIGGER pools_record_update AFTER UPDATE ON pools"
    "  BEGIN UPDATE tape_changes SET record = record + 1 WHERE id = 1; END;"
    "CREATE TRIGGER pools_record_delete AFTER DELETE ON pools"
    "  BEGIN UPDATE tape_changes SET record = record + 1 WHERE id = 1; END;"
    "CREATE TRIGGER autocreate_record_insert AFTER INSERT ON autocreate"
    "  BEGIN UPDATE tape_changes SET record = record + 1 WHERE id = 1; END;"
    "CREATE TRIGGER autocreate_record_update AFTER UPDATE ON autocreate"
    "  BEGIN UPDATE tape_changes SET record = record + 1 WHERE id = 1; END;"
    "CREATE TRIGGER autocreate_record_delete AFTER DELETE ON autocreate"
    "  BEGIN UPDATE tape_changes SET record = record + 1 WHERE id = 1; END;"
    "CREATE TRIGGER tape_keys_record_insert AFTER INSERT ON tape_keys"
    "  BEGIN UPDATE tape_changes SET record = record + 1 WHERE id = 1; END;"
    "CREATE TRIGGER tape_keys_record_update AFTER UPDATE ON tape_keys"
    "  BEGIN UPDATE tape_changes SET record = record + 1 WHERE id = 1; END;"
    "CREATE TRIGGER tape_keys_record_delete AFTER DELETE ON tape_keys"
    "  BEGIN UPDATE tape_changes SET record = record + 1 WHERE id = 1; END;",
    /* ---- end of 8 ---- */
};

enum { N_MIGRATIONS = sizeof(migrations) / sizeof(migrations[0]) };

static int user_version(struct cat *c)
{
	sqlite3_stmt *st;
	int v = -EIO;
	if (cat_prepare(c, "PRAGMA user_version", &st) != SQLITE_OK)
		return -EIO;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	cat_release(c, st);
	return v;
}

int cat_schema_version(struct cat *c)
{
	return user_version(c);
}

int cat_data_version(struct cat *c, int64_t *v)
{
	sqlite3_stmt *st;
	int rc = cat_prepare(c, "PRAGMA data_version", &st);
	if (rc != SQLITE_OK)
		return cat_sq_err(rc);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*v = sqlite3_column_int64(st, 0);
	cat_release(c, st);
	return rc == SQLITE_ROW ? 0 : cat_sq_err(rc);
}

static int migrate(struct cat *c)
{
	for (;;) {
		int rc = cat_begin(c);
		if (rc)
			return rc;
		int v = user_version(c);
		if (v < 0) {
			cat_rollback(c);
			return v;
		}
		if (v > N_MIGRATIONS) {
			/* Written by a newer vtld: refuse rather than guess. */
			cat_rollback(c);
			return -EPROTO;
		}
		if (v == N_MIGRATIONS) {
			cat_rollback(c);
			return 0;
		}
		char pragma[64];
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", v + 1);
		rc = cat_exec(c, migrations[v]);
		if (!rc)
			rc = cat_exec(c, pragma);
		if (!rc)
			rc = cat_commit(c);
		if (rc) {
			cat_rollback(c);
			return rc;
		}
	}
}

/* Take group and other bits off path, created if `create`; a catalog
 * (or a -wal or -shm left by one) from before files were private is
 * tightened too. A file of another user is left to SQLite to refuse.
 *
 * An existing file is only ever opened O_PATH here: closing any other
 * descriptor of a file drops every POSIX lock this process holds on it
 * (fcntl(2)), SQLite's among them, and vtld opens several connections
 * (the library's first, then the uploader's, ops', a key job's). A
 * connection that lost its locks lets another process reset the -shm
 * under it (vtld then died of SIGBUS) or write past its locks ("How To
 * Corrupt An SQLite Database File", 2.2.1). Closing an O_PATH descriptor
 * removes no lock; a file this call creates has none to lose. */
static int make_private(const char *path, bool create)
{
	int fd;
	if (create) {
		fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0) {
			close(fd);
			return 0;
		}
		if (errno != EEXIST)
			return -errno;
	}
	fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	struct stat sb;
	int rc = 0;
	if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && (sb.st_mode & 077) &&
	    sb.st_uid == geteuid()) {
		/* fchmod refuses an O_PATH descriptor; its /proc link is the
		 * same file, whatever the path now names. */
		char self[64];
		snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
		if (chmod(self, sb.st_mode & 0700))
			rc = -errno;
	}
	close(fd);
	return rc;
}

static int private_files(const char *path)
{
	/* SQLite's names for a temporary and an in-memory database. */
	if (!path[0] || strcmp(path, ":memory:") == 0)
		return 0;
	int rc = make_private(path, true);
	char side[PATH_MAX];
	static const char *const suffix[] = {"-wal", "-shm", "-journal"};
	for (size_t i = 0; !rc && i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		if (snprintf(side, sizeof(side), "%s%s", path, suffix[i]) >= (int)sizeof(side))
			return -ENAMETOOLONG;
		rc = make_private(side, false);
	}
	return rc;
}

/*
 * The time until a write is durable, for vtl_catalog_write_seconds
 * (util/metrics.h): SQLite's profile trace reports each statement's run
 * time when it ends; a write counts when it leaves the connection in
 * autocommit mode, i.e. it was its own transaction or it was the COMMIT
 * (which sqlite3_stmt_readonly calls read-only, as it changes no row
 * itself). Reads and writes inside an open transaction do not count.
 */
static int trace_write(unsigned type, void *ctx, void *p, void *x)
{
	(void)ctx;
	if (type != SQLITE_TRACE_PROFILE)
		return 0;
	sqlite3_stmt *st = p;
	sqlite3 *db = sqlite3_db_handle(st);
	if (!sqlite3_get_autocommit(db))
		return 0;
	const char *sql = sqlite3_sql(st);
	bool commit =
	    sql && (strncasecmp(sql, "COMMIT", 6) == 0 || strncasecmp(sql, "END", 3) == 0);
	const sqlite3_int64 *ns = x;
	if (commit || !sqlite3_stmt_readonly(st))
		met_catalog_write((uint64_t)*ns);
	return 0;
}

int cat_open(const char *path, struct cat **out)
{
	int prc = private_files(path);
	if (prc)
		return prc;
	struct cat *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	int rc = sqlite3_open_v2(
	    path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		rc = cat_sq_err(rc);
		goto fail;
	}
	sqlite3_busy_timeout(c->db, 5000);
	sqlite3_trace_v2(c->db, SQLITE_TRACE_PROFILE, trace_write, NULL);
	/* WAL for concurrent readers; FULL so that a commit is durable on
	 * return (SQLite's WAL default, NORMAL, may lose the last commits on
	 * power loss); foreign keys are per connection and off by default. */
	rc = cat_exec(c, "PRAGMA journal_mode = WAL");
	if (!rc)
		rc = cat_exec(c, "PRAGMA synchronous = FULL");
	if (!rc)
		rc = cat_exec(c, "PRAGMA foreign_keys = ON");
	if (!rc)
		rc = migrate(c);
	if (rc)
		goto fail;
	*out = c;
	return 0;
fail:
	stmts_drop(c);
	sqlite3_close(c->db);
	free(c);
	return rc;
}

void cat_close(struct cat *c)
{
	if (!c)
		return;
	stmts_drop(c);
	sqlite3_close(c->db);
	free(c);
}

void cat_copy_text(char *dst, size_t cap, const unsigned char *src)
{
	snprintf(dst, cap, "%s", src ? (const char *)src : "");
}

int cat_library_get(struct cat *c, struct cat_library *lib)
{
	sqlite3_stmt *st;
	memset(lib, 0, sizeof(*lib));
	int rc = cat_prepare(c,
			     "SELECT vendor, product, revision, serial, drive_vendor, "
			     "drive_media, created FROM library WHERE id = 1",
			     &st);
	if (rc != SQLITE_OK)
		return cat_sq_err(rc);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		cat_release(c, st);
		return rc == SQLITE_DONE ? -ENOENT : cat_sq_err(rc);
	}
	cat_copy_text(lib->vendor, sizeof(lib->vendor), sqlite3_column_text(st, 0));
	cat_copy_text(lib->product, sizeof(lib->product), sqlite3_column_text(st, 1));
	cat_copy_text(lib->revision, sizeof(lib->revision), sqlite3_column_text(st, 2));
	cat_copy_text(lib->serial, sizeof(lib->serial), sqlite3_column_text(st, 3));
	cat_copy_text(lib->drive_vendor, sizeof(lib->drive_vendor), sqlite3_column_text(st, 4));
	cat_copy_text(lib->drive_media, sizeof(lib->drive_media), sqlite3_column_text(st, 5));
	lib->created = sqlite3_column_int64(st, 6);
	cat_release(c, st);

	rc = cat_prepare(c, "SELECT kind, min(address), count(*) FROM elements GROUP BY kind", &st);
	if (rc != SQLITE_OK)
		return cat_sq_err(rc);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int k = sqlite3_column_int(st, 0);
		if (k >= 1 && k <= 4) {
			lib->base[k] = (uint16_t)sqlite3_column_int(st, 1);
			lib->count[k] = (uint16_t)sqlite3_column_int(st, 2);
		}
	}
	cat_release(c, st);
	return rc == SQLITE_DONE ? 0 : cat_sq_err(rc);
}

int cat_step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : cat_sq_err(rc);
}

int cat_library_create(struct cat *c, const struct cat_library *lib, const struct cat_drive *drives,
		       size_t n_drives)
{
	sqlite3_stmt *st = NULL, *el = NULL, *dr = NULL;
	int rc = cat_begin(c);
	if (rc)
		return rc;
	rc = cat_sq_err(cat_prepare(c,
				    "INSERT INTO library (id, vendor, product, revision, serial, "
				    "drive_vendor, drive_media, created) VALUES (1,?,?,?,?,?,?,?)",
				    &st));
	if (!rc)
		rc = cat_sq_err(cat_prepare(
		    c, "INSERT INTO elements (address, kind, ordinal) VALUES (?,?,?)", &el));
	if (!rc)
		rc = cat_sq_err(cat_prepare(
		    c, "INSERT INTO drives (address, lun, serial) VALUES (?,?,?)", &dr));
	if (rc)
		goto out;
	sqlite3_bind_text(st, 1, lib->vendor, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, lib->product, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, lib->revision, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, lib->serial, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, lib->drive_vendor, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, lib->drive_media, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, lib->created ? lib->created : cat_now_ms());
	rc = cat_step_done(st);
	for (int k = CAT_TRANSPORT; !rc && k <= CAT_DRIVE; k++) {
		for (uint32_t i = 0; !rc && i < lib->count[k]; i++) {
			uint32_t addr = (uint32_t)lib->base[k] + i;
			if (addr > 0xffff) {
				rc = -ERANGE;
				break;
			}
			sqlite3_bind_int(el, 1, (int)addr);
			sqlite3_bind_int(el, 2, k);
			sqlite3_bind_int(el, 3, (int)(i + 1));
			rc = cat_step_done(el);
		}
	}
	if (!rc && n_drives != lib->count[CAT_DRIVE])
		rc = -EINVAL;
	for (size_t i = 0; !rc && i < n_drives; i++) {
		sqlite3_bind_int(dr, 1, (int)(lib->base[CAT_DRIVE] + i));
		sqlite3_bind_int64(dr, 2, drives[i].lun);
		sqlite3_bind_text(dr, 3, drives[i].serial, -1, SQLITE_STATIC);
		rc = cat_step_done(dr);
	}
	if (!rc)
		rc = cat_commit(c);
out:
	cat_release(c, st);
	cat_release(c, el);
	cat_release(c, dr);
	if (rc)
		cat_rollback(c);
	return rc;
}

int cat_drives(struct cat *c, struct cat_drive **out, size_t *n)
{
	sqlite3_stmt *st;
	*out = NULL;
	*n = 0;
	int rc = cat_prepare(c,
			     "SELECT d.address, e.ordinal, d.lun, d.serial FROM drives d "
			     "JOIN elements e ON e.address = d.address ORDER BY d.address",
			     &st);
	if (rc != SQLITE_OK)
		return cat_sq_err(rc);
	struct cat_drive *v = NULL;
	size_t cnt = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct cat_drive *nv = realloc(v, (cnt + 1) * sizeof(*v));
		if (!nv) {
			rc = SQLITE_NOMEM;
			break;
		}
		v = nv;
		struct cat_drive *d = &v[cnt++];
		memset(d, 0, sizeof(*d));
		d->address = (uint16_t)sqlite3_column_int(st, 0);
		d->ordinal = (uint32_t)sqlite3_column_int(st, 1);
		d->lun = (uint32_t)sqlite3_column_int64(st, 2);
		cat_copy_text(d->serial, sizeof(d->serial), sqlite3_column_text(st, 3));
	}
	cat_release(c, st);
	if (rc != SQLITE_DONE) {
		free(v);
		return cat_sq_err(rc);
	}
	*out = v;
	*n = cnt;
	return 0;
}

/* Columns every tape query selects, in this order, for read_tape(). */
#define TAPE_COLS                                                                                  \
	"t.id, t.barcode, t.media, t.capacity, t.used, t.state, t.write_protect, t.worm, "         \
	"t.pool, t.element, e.kind, e.ordinal, t.source, t.created, t.changed, t.lock_mode, "      \
	"t.retain_until, t.clean_max, t.clean_uses, t.medium"

static bool state_on_shelf(enum cat_state s)
{
	return s == CAT_IN_TRANSIT_TO_SHELF || s == CAT_ARCHIVING || s == CAT_ARCHIVED ||
	       s == CAT_RETRIEVING;
}

static void read_tape(sqlite3_stmt *st, int col, struct cat_tape *t)
{
	memset(t, 0, sizeof(*t));
	t->id = sqlite3_column_int64(st, col + 0);
	cat_copy_text(t->barcode, sizeof(t->barcode), sqlite3_column_text(st, col + 1));
	cat_copy_text(t->media, sizeof(t->media), sqlite3_column_text(st, col + 2));
	t->capacity = (uint64_t)sqlite3_column_int64(st, col + 3);
	t->used = (uint64_t)sqlite3_column_int64(st, col + 4);
	const char *s = (const char *)sqlite3_column_text(st, col + 5);
	if (!s || cat_state_parse(s, &t->state))
		t->state = CAT_IRRECOVERABLE;
	t->write_protect = sqlite3_column_int(st, col + 6) != 0;
	t->worm = sqlite3_column_int(st, col + 7) != 0;
	cat_copy_text(t->pool, sizeof(t->pool), sqlite3_column_text(st, col + 8));
	t->in_library = sqlite3_column_type(st, col + 9) != SQLITE_NULL;
	if (t->in_library) {
		t->element = (uint16_t)sqlite3_column_int(st, col + 9);
		t->kind = (enum cat_kind)sqlite3_column_int(st, col + 10);
		t->ordinal = (uint32_t)sqlite3_column_int(st, col + 11);
		cat_loc_format(t->kind, t->ordinal, t->location);
	} else {
		snprintf(t->location, sizeof(t->location), "%s",
			 state_on_shelf(t->state) ? "shelf" : "none");
	}
	t->has_source = sqlite3_column_type(st, col + 12) != SQLITE_NULL;
	if (t->has_source)
		t->source = (uint16_t)sqlite3_column_int(st, col + 12);
	t->created = sqlite3_column_int64(st, col + 13);
	t->changed = sqlite3_column_int64(st, col + 14);
	const char *lk = (const char *)sqlite3_column_text(st, col + 15);
	if (!lk || cat_lock_parse(lk, &t->lock))
		t->lock = CAT_LOCK_NONE;
	t->retain_until = sqlite3_column_int64(st, col + 16);
	t->clean_max = (uint32_t)sqlite3_column_int(st, col + 17);
	t->clean_uses = (uint32_t)sqlite3_column_int(st, col + 18);
	t->unmade = sqlite3_column_int(st, col + 19) == 0;
}

static void read_element(sqlite3_stmt *st, struct cat_element *e)
{
	memset(e, 0, sizeof(*e));
	e->address = (uint16_t)sqlite3_column_int(st, 0);
	e->kind = (enum cat_kind)sqlite3_column_int(st, 1);
	e->ordinal = (uint32_t)sqlite3_column_int(st, 2);
	e->full = sqlite3_column_type(st, 3) != SQLITE_NULL;
	if (e->full)
		read_tape(st, 3, &e->tape);
}

int cat_elements(struct cat *c, struct cat_element **out, size_t *n)
{
	sqlite3_stmt *st;
	*out = NULL;
	*n = 0;
	int rc = cat_prepare(c,
			     "SELECT e.address, e.kind, e.ordinal, " TAPE_COLS
			     " FROM elements e LEFT JOIN tapes t ON t.element = e.address "
			     "ORDER BY e.address",
			     &st);
	if (rc != SQLITE_OK)
		return cat_sq_err(rc);
	struct cat_element *v = NULL;
	size_t cnt = 0, cap = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (cnt == cap) {
			/* Doubling: 10,000 slots are 14 reallocations, not 10,000. */
			size_t ncap = cap ? 2 * cap : 64;
			struct cat_element *nv = realloc(v, ncap * sizeof(*v));
			if (!nv) {
				rc = SQLITE_NOMEM;
				break;
			}
			v = nv;
			cap = ncap;
		}
		read_element(st, &v[cnt++]);
	}
	cat_release(c, st);
	if (rc != SQLITE_DONE) {
		free(v);
		return cat_sq_err(rc);
	}
	*out = v;
	*n = cnt;
	return 0;
}

int cat_tape_media(struct cat *c, struct cat_tape_medium **out, size_t *n)
{
	sqlite3_stmt *st;
	*out = NULL;
	*n = 0;
	/* Barcode and state only, and only the tapes that have a medium:
	 * the list the check of the media makes after start, while vtld
	 * serves its first commands, allocates a few bytes a tape rather than
	 * a struct cat_tape of every one. */
	int rc = cat_prepare(c,
			     "SELECT barcode, state FROM tapes WHERE medium = 1 "
			     "AND state NOT IN ('DELETED', 'CREATING') ORDER BY barcode",
			     &st);
	if (rc != SQLITE_OK)
		return cat_sq_err(rc);
	struct cat_tape_medium *v = NULL;
	size_t cnt = 0, cap = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (cnt == cap) {
			size_t ncap = cap ? 2 * cap : 64; /* doubling, as cat_elements */
			struct cat_tape_medium *nv = realloc(v, ncap * sizeof(*v));
			if (!nv) {
				rc = SQLITE_NOMEM;
				break;
			}
			v = nv;
			cap = ncap;
		}
		struct cat_tape_medium *t = &v[cnt++];
		cat_copy_text(t->barcode, sizeof(t->barcode), sqlite3_column_text(st, 0));
		const unsigned char *s = sqlite3_column_text(st, 1);
		if (!s || cat_state_parse((const char *)s, &t->state))
			t->state = CAT_IRRECOVERABLE; /* not what it says: look at it */
	}
	cat_release(c, st);
	if (rc != SQLITE_DONE) {
		free(v);
		return cat_sq_err(rc);
	}
	*out = v;
	*n = cnt;
	return 0;
}

int cat_long_barcodes(struct cat *c, unsigned max, char (*first)[CAT_BARCODE_MAX + 1], size_t want,
		      size_t *found)
{
	sqlite3_stmt *st;
	*found = 0;
	int rc = cat_prepare(c,
			     "SELECT barcode FROM tapes WHERE length(barcode) > ?1 "
			     "AND state <> 'DELETED' ORDER BY barcode",
			     &st);
	if (rc != SQLITE_OK)
		return cat_sq_err(rc);
	sqlite3_bind_int64(st, 1, max);
	size_t cnt = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (cnt < want)
			cat_copy_text(first[cnt], sizeof(first[cnt]), sqlite3_column_text(st, 0));
		cnt++;
	}
	cat_release(c, st);
	if (rc != SQLITE_DONE)
		return cat_sq_err(rc);
	*found = cnt;
	return 0;
}

int cat_inventory(struct cat *c, struct cat_inventory_entry **out, size_t *n)
{
	sqlite3_stmt *st;
	*out = NULL;
	*n = 0;
	/* Five columns rather than the tape's twenty: reading and copying
	 * those was most of what a full slot cost more than an empty one. */
	int rc = cat_prepare(c,
			     "SELECT e.address, e.kind, e.ordinal, t.barcode, t.state "
			     "FROM elements e LEFT JOIN tapes t ON t.element = e.address "
			     "ORDER BY e.address",
			     &st);
	if (rc != SQLITE_OK)
		return cat_sq_err(rc);
	struct cat_inventory_entry *v = NULL;
	size_t cnt = 0, cap = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (cnt == cap) {
			size_t ncap = cap ? 2 * cap : 64; /* doubling, as cat_elements */
			struct cat_inventory_entry *nv = realloc(v, ncap * sizeof(*v));
			if (!nv) {
				rc = SQLITE_NOMEM;
				break;
			}
			v = nv;
			cap = ncap;
		}
		struct cat_inventory_entry *e = &v[cnt++];
		e->address = (uint16_t)sqlite3_column_int(st, 0);
		e->kind = (enum cat_kind)sqlite3_column_int(st, 1);
		e->ordinal = (uint32_t)sqlite3_column_int(st, 2);
		e->full = sqlite3_column_type(st, 3) != SQLITE_NULL;
		e->barcode[0] = '\0';
		e->state = CAT_AVAILABLE;
		if (e->full) {
			cat_copy_text(e->barcode, sizeof(e->barcode), sqlite3_column_text(st, 3));
			const unsigned char *s = sqlite3_column_text(st, 4);
			if (!s || cat_state_parse((const char *)s, &e->state))
				e->state = CAT_AVAILABLE; /* the schema's CHECK allows none other */
		}
	}
	cat_release(c, st);
	if (rc != SQLITE_DONE) {
		free(v);
		return cat_sq_err(rc);
	}
	*out = v;
	*n = cnt;
	return 0;
}

int cat_element_get(struct cat *c, uint16_t address, struct cat_element *out)
{
	sqlite3_stmt *st;
	int rc = cat_prepare(c,
			     "SELECT e.address, e.kind, e.ordinal, " TAPE_COLS
			     " FROM elements e LEFT JOIN tapes t ON t.element = e.address "
			     "WHERE e.address = ?",
			     &st);
	if (rc != SQLITE_OK)
		return cat_sq_err(rc);
	sqlite3_bind_int(st, 1, address);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		read_element(st, out);
	cat_release(c, st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : cat_sq_err(rc);
}

int cat_element_find(struct cat *c, enum cat_kind kind, uint32_t ordinal, uint16_t *address)
{
	sqlite3_stmt *st;
	int rc = cat_prepare(c, "SELECT address FROM elements WHERE kind = ? AND ordinal = ?", &st);
	if (rc != SQLITE_OK)
		return cat_sq_err(rc);
	sqlite3_bind_int(st, 1, (int)kind);
	sqlite3_bind_int64(st, 2, ordinal);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*address = (uint16_t)sqlite3_column_int(st, 0);
	cat_release(c, st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : cat_sq_err(rc);
}

int cat_tape_get(struct cat *c, const char *barcode, struct cat_tape *t)
{
	sqlite3_stmt *st;
	int rc = cat_prepare(c,
			     "SELECT " TAPE_COLS " FROM tapes t LEFT JOIN elements e "
			     "ON e.address = t.element WHERE t.barcode = ?",
			     &st);
	if (rc != SQLITE_OK)
		return cat_sq_err(rc);
	sqlite3_bind_text(st, 1, barcode, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		read_tape(st, 0, t);
	cat_release(c, st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : cat_sq_err(rc);
}

/* Every row of st (prepared with TAPE_COLS first) into *out, *n; st is
 * released. */
static int step_tapes(struct cat *c, sqlite3_stmt *st, struct cat_tape **out, size_t *n)
{
	struct cat_tape *v = NULL;
	size_t cnt = 0, cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (cnt == cap) {
			/* Doubling, as cat_elements: 10,000 tapes are 14
			 * reallocations, not 10,000. */
			size_t ncap = cap ? 2 * cap : 64;
			struct cat_tape *nv = realloc(v, ncap * sizeof(*v));
			if (!nv) {
				rc = SQLITE_NOMEM;
				break;
			}
			v = nv;
			cap = ncap;
		}
		read_tape(st, 0, &v[cnt++]);
	}
	cat_release(c, st);
	if (rc != SQLITE_DONE) {
		free(v);
		return cat_sq_err(rc);
	}
	*out = v;
	*n = cnt;
	return 0;
}

int cat_tape_list(struct cat *c, int state, bool with_deleted, struct cat_tape **out, size_t *n)
{
	sqlite3_stmt *st;
	*out = NULL;
	*n = 0;
	/* One state is its own statement: "?1 IS NULL OR t.state = ?1"
	 * keeps SQLite from using the index on state (EXPLAIN QUERY PLAN:
	 * a scan of every row in barcode order), and the recovery at start
	 * asks for the few CREATING and DELETED tapes of a library of
	 * 10,000 (docs/design.md, "Start-up at scale"). */
	int rc = state >= 0 ? cat_prepare(c,
					  "SELECT " TAPE_COLS " FROM tapes t LEFT JOIN elements e "
					  "ON e.address = t.element WHERE t.state = ?1 "
					  "ORDER BY t.barcode",
					  &st)
			    : cat_prepare(c,
					  "SELECT " TAPE_COLS " FROM tapes t LEFT JOIN elements e "
					  "ON e.address = t.element "
					  "WHERE (?1 OR t.state <> 'DELETED') ORDER BY t.barcode",
					  &st);
	if (rc != SQLITE_OK)
		return cat_sq_err(rc);
	if (state >= 0) /* DELETED asked for by name is listed */
		sqlite3_bind_text(st, 1, cat_state_name((enum cat_state)state), -1, SQLITE_STATIC);
	else
		sqlite3_bind_int(st, 1, with_deleted);
	return step_tapes(c, st, out, n);
}

static int cmp_tape_barcode(const void *a, const void *b)
{
	return strcmp(((const struct cat_tape *)a)->barcode, ((const struct cat_tape *)b)->barcode);
}

/* The one integer the statement sql reads from tape_changes' row. */
static int changes_col(struct cat *c, const char *sql, int64_t *seq)
{
	sqlite3_stmt *st;
	int rc = cat_prepare(c, sql, &st);
	if (rc != SQLITE_OK)
		return cat_sq_err(rc);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*seq = sqlite3_column_int64(st, 0);
	cat_release(c, st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -EIO : cat_sq_err(rc);
}

int cat_tape_changes(struct cat *c, int64_t *seq)
{
	return changes_col(c, "SELECT seq FROM tape_changes WHERE id = 1", seq);
}

int cat_record_changes(struct cat *c, int64_t *seq)
{
	return changes_col(c, "SELECT record FROM tape_changes WHERE id = 1", seq);
}

int cat_tape_list_changed(struct cat *c, int64_t since, struct cat_tape **out, size_t *n)
{
	sqlite3_stmt *st;
	*out = NULL;
	*n = 0;
	/* Each term of the OR has an index of its own (change_seq, the
	 * element's UNIQUE, state), so SQLite reads only the rows asked for
	 * (EXPLAIN QUERY PLAN: MULTI-INDEX OR), not the table. Sorted here:
	 * an ORDER BY barcode makes it walk the barcode index instead, every
	 * row of the table. */
	int rc = cat_prepare(c,
			     "SELECT " TAPE_COLS " FROM tapes t LEFT JOIN elements e "
			     "ON e.address = t.element WHERE t.change_seq > ?1 "
			     "OR t.element IN (SELECT address FROM elements WHERE kind = ?2) "
			     "OR t.state IN ('CREATING','IN_TRANSIT_TO_SHELF','ARCHIVING',"
			     "'RETRIEVING','IRRECOVERABLE')",
			     &st);
	if (rc != SQLITE_OK)
		return cat_sq_err(rc);
	sqlite3_bind_int64(st, 1, since);
	sqlite3_bind_int(st, 2, CAT_DRIVE);
	rc = step_tapes(c, st, out, n);
	if (rc == 0 && *n > 1)
		qsort(*out, *n, sizeof(**out), cmp_tape_barcode);
	return rc;
}

static int add_event(struct cat *c, int64_t tape_id, int64_t when, const char *from_state,
		     const char *to_state, const char *from_loc, const char *to_loc,
		     const char *cause)
{
	/* A cause may quote text from outside (a store's path or answer):
	 * stored escaped, it reaches no reader as a control or bad UTF-8. */
	const char *text = cause ? cause : "";
	size_t cap = esc_str(NULL, 0, text) + 1;
	char *safe = malloc(cap);
	if (!safe)
		return -ENOMEM;
	esc_str(safe, cap, text);
	sqlite3_stmt *st;
	int rc = cat_prepare(c,
			     "INSERT INTO events (time, tape, from_state, to_state, from_loc, "
			     "to_loc, cause) VALUES (?,?,?,?,?,?,?)",
			     &st);
	if (rc != SQLITE_OK) {
		free(safe);
		return cat_sq_err(rc);
	}
	sqlite3_bind_int64(st, 1, when);
	sqlite3_bind_int64(st, 2, tape_id);
	if (from_state)
		sqlite3_bind_text(st, 3, from_state, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, to_state, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, from_loc, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, to_loc, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, safe, -1, SQLITE_STATIC);
	rc = cat_step_done(st);
	cat_release(c, st);
	free(safe);
	return rc;
}

int cat_tape_create(struct cat *c, struct cat_tape *tapes, size_t n, const char *cause, size_t *bad)
{
	sqlite3_stmt *chk = NULL, *fr = NULL, *ins = NULL;
	int rc = cat_begin(c);
	if (rc)
		return rc;
	rc = cat_sq_err(cat_prepare(c, "SELECT 1 FROM tapes WHERE barcode = ?", &chk));
	if (!rc)
		rc = cat_sq_err(cat_prepare(
		    c,
		    "SELECT e.address, e.ordinal FROM elements e WHERE e.kind = 2 AND NOT EXISTS "
		    "(SELECT 1 FROM tapes t WHERE t.element = e.address) ORDER BY e.address",
		    &fr));
	if (!rc)
		rc = cat_sq_err(cat_prepare(
		    c,
		    "INSERT INTO tapes (barcode, media, capacity, used, state, write_protect, "
		    "worm, pool, element, created, changed, clean_max, medium) VALUES "
		    "(?,?,?,0,'CREATING',?,?,?,?,?,?,?,?)",
		    &ins));
	if (rc)
		goto out;
	for (size_t i = 0; i < n; i++) {
		sqlite3_bind_text(chk, 1, tapes[i].barcode, -1, SQLITE_STATIC);
		int r = sqlite3_step(chk);
		sqlite3_reset(chk);
		if (r == SQLITE_ROW) {
			if (bad)
				*bad = i;
			rc = -EEXIST;
			goto out;
		}
		if (r != SQLITE_DONE) {
			rc = cat_sq_err(r);
			goto out;
		}
	}
	int64_t when = cat_now_ms();
	/* The free slots, in address order, read once before any insert
	 * (one query, not one per tape: 10,000 tapes in one go). */
	for (size_t i = 0; i < n; i++) {
		int r = sqlite3_step(fr);
		if (r != SQLITE_ROW) {
			rc = r == SQLITE_DONE ? -ENOSPC : cat_sq_err(r);
			goto out;
		}
		tapes[i].element = (uint16_t)sqlite3_column_int(fr, 0);
		tapes[i].ordinal = (uint32_t)sqlite3_column_int(fr, 1);
	}
	sqlite3_reset(fr);
	for (size_t i = 0; i < n; i++) {
		struct cat_tape *t = &tapes[i];
		t->kind = CAT_STORAGE;
		t->in_library = true;
		t->state = CAT_CREATING;
		t->created = t->changed = when;
		cat_loc_format(CAT_STORAGE, t->ordinal, t->location);
		sqlite3_bind_text(ins, 1, t->barcode, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 2, t->media, -1, SQLITE_STATIC);
		sqlite3_bind_int64(ins, 3, (int64_t)t->capacity);
		sqlite3_bind_int(ins, 4, t->write_protect);
		sqlite3_bind_int(ins, 5, t->worm);
		sqlite3_bind_text(ins, 6, t->pool[0] ? t->pool : "default", -1, SQLITE_STATIC);
		sqlite3_bind_int(ins, 7, t->element);
		sqlite3_bind_int64(ins, 8, when);
		sqlite3_bind_int64(ins, 9, when);
		sqlite3_bind_int(ins, 10, (int)t->clean_max);
		sqlite3_bind_int(ins, 11, !t->unmade);
		rc = cat_step_done(ins);
		if (rc)
			goto out;
		t->id = sqlite3_last_insert_rowid(c->db);
		rc = add_event(c, t->id, when, NULL, "CREATING", "none", t->location, cause);
		if (rc)
			goto out;
	}
	rc = cat_commit(c);
out:
	cat_release(c, chk);
	cat_release(c, fr);
	cat_release(c, ins);
	if (rc)
		cat_rollback(c);
	return rc;
}

static int element_loc(struct cat *c, uint16_t address, char *loc)
{
	sqlite3_stmt *st;
	int rc = cat_prepare(c, "SELECT kind, ordinal FROM elements WHERE address = ?", &st);
	if (rc != SQLITE_OK)
		return cat_sq_err(rc);
	sqlite3_bind_int(st, 1, address);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		cat_loc_format((enum cat_kind)sqlite3_column_int(st, 0),
			       (uint32_t)sqlite3_column_int(st, 1), loc);
	cat_release(c, st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : cat_sq_err(rc);
}

int cat_tape_change(struct cat *c, const char *barcode, const struct cat_change *ch)
{
	struct cat_tape t;
	sqlite3_stmt *st = NULL;
	int rc = cat_begin(c);
	if (rc)
		return rc;
	rc = cat_tape_get(c, barcode, &t);
	if (rc)
		goto out;
	if (t.state != ch->from) {
		rc = -ESTALE;
		goto out;
	}
	if (ch->check_element &&
	    (ch->at_none ? t.in_library : (!t.in_library || t.element != ch->at))) {
		rc = -ESTALE;
		goto out;
	}
	bool to_none = ch->keep_element ? !t.in_library : ch->to_none;
	uint16_t dest = ch->keep_element ? t.element : ch->dest;
	char to_loc[CAT_LOC_MAX];
	if (to_none) {
		snprintf(to_loc, sizeof(to_loc), "%s", state_on_shelf(ch->to) ? "shelf" : "none");
	} else {
		rc = element_loc(c, dest, to_loc);
		if (rc)
			goto out;
		if (!t.in_library || t.element != dest) {
			sqlite3_stmt *occ;
			rc = cat_sq_err(
			    cat_prepare(c, "SELECT 1 FROM tapes WHERE element = ?", &occ));
			if (rc)
				goto out;
			sqlite3_bind_int(occ, 1, dest);
			int r = sqlite3_step(occ);
			cat_release(c, occ);
			if (r == SQLITE_ROW) {
				rc = -EBUSY;
				goto out;
			}
		}
	}
	bool moved = to_none ? t.in_library : (!t.in_library || t.element != dest);
	int64_t when = cat_now_ms();
	rc = cat_sq_err(
	    cat_prepare(c,
			"UPDATE tapes SET state = ?1, element = ?2, "
			"source = CASE WHEN ?3 THEN ?4 ELSE source END, "
			"write_protect = CASE WHEN ?5 < 0 THEN write_protect ELSE ?5 END, "
			"changed = ?6, pool = COALESCE(?8, pool), "
			"lock_mode = CASE WHEN ?9 THEN ?10 ELSE lock_mode END, "
			"retain_until = CASE WHEN ?9 THEN ?11 ELSE retain_until END "
			"WHERE id = ?7",
			&st));
	if (rc)
		goto out;
	sqlite3_bind_text(st, 1, cat_state_name(ch->to), -1, SQLITE_STATIC);
	if (!to_none)
		sqlite3_bind_int(st, 2, dest);
	/* SMC-3 6.10: the source element address is where the medium was
	 * last moved from; a move into or out of the library keeps the last
	 * element it was in. */
	sqlite3_bind_int(st, 3, moved && t.in_library);
	if (t.in_library)
		sqlite3_bind_int(st, 4, t.element);
	sqlite3_bind_int(st, 5, ch->write_protect);
	sqlite3_bind_int64(st, 6, when);
	sqlite3_bind_int64(st, 7, t.id);
	if (ch->pool)
		sqlite3_bind_text(st, 8, ch->pool, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 9, ch->set_lock);
	sqlite3_bind_text(st, 10, cat_lock_name(ch->lock), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 11, ch->retain_until);
	rc = cat_step_done(st);
	if (rc)
		goto out;
	rc = add_event(c, t.id, when, cat_state_name(t.state), cat_state_name(ch->to), t.location,
		       to_loc, ch->cause);
	if (!rc)
		rc = cat_commit(c);
out:
	cat_release(c, st);
	if (rc)
		cat_rollback(c);
	return rc;
}

int cat_tape_set_used(struct cat *c, const char *barcode, uint64_t used)
{
	sqlite3_stmt *st;
	int rc = cat_prepare(c, "UPDATE tapes SET used = ? WHERE barcode = ?", &st);
	if (rc != SQLITE_OK)
		return cat_sq_err(rc);
	sqlite3_bind_int64(st, 1, (int64_t)used);
	sqlite3_bind_text(st, 2, barcode, -1, SQLITE_STATIC);
	rc = cat_step_done(st);
	if (!rc && sqlite3_changes(c->db) == 0)
		rc = -ENOENT;
	cat_release(c, st);
	return rc;
}

int cat_tape_set_made(struct cat *c, const char *barcode)
{
	sqlite3_stmt *st;
	int rc = cat_prepare(c, "UPDATE tapes SET medium = 1 WHERE barcode = ?", &st);
	if (rc != SQLITE_OK)
		return cat_sq_err(rc);
	sqlite3_bind_text(st, 1, barcode, -1, SQLITE_STATIC);
	rc = cat_step_done(st);
	if (!rc && sqlite3_changes(c->db) == 0)
		rc = -ENOENT;
	cat_release(c, st);
	return rc;
}

int cat_tape_clean_use(struct cat *c, const char *barcode)
{
	sqlite3_stmt *st;
	int rc = cat_prepare(c,
			     "UPDATE tapes SET clean_uses = clean_uses + 1 "
			     "WHERE barcode = ? AND clean_max > 0 AND clean_uses < clean_max",
			     &st);
	if (rc != SQLITE_OK)
		return cat_sq_err(rc);
	sqlite3_bind_text(st, 1, barcode, -1, SQLITE_STATIC);
	rc = cat_step_done(st);
	if (!rc && sqlite3_changes(c->db) == 0)
		rc = -ENOENT;
	cat_release(c, st);
	return rc;
}

int cat_events(struct cat *c, const char *barcode, size_t limit, struct cat_event **out, size_t *n)
{
	sqlite3_stmt *st;
	*out = NULL;
	*n = 0;
	int rc = cat_prepare(
	    c,
	    "SELECT * FROM (SELECT ev.id, ev.time, t.barcode, ev.from_state, ev.to_state, "
	    "ev.from_loc, ev.to_loc, ev.cause FROM events ev JOIN tapes t ON t.id = ev.tape "
	    "WHERE (?1 IS NULL OR t.barcode = ?1) ORDER BY ev.id DESC LIMIT ?2) ORDER BY id",
	    &st);
	if (rc != SQLITE_OK)
		return cat_sq_err(rc);
	if (barcode)
		sqlite3_bind_text(st, 1, barcode, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, limit ? (int64_t)limit : -1);
	struct cat_event *v = NULL;
	size_t cnt = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct cat_event *nv = realloc(v, (cnt + 1) * sizeof(*v));
		if (!nv) {
			rc = SQLITE_NOMEM;
			break;
		}
		v = nv;
		struct cat_event *e = &v[cnt++];
		memset(e, 0, sizeof(*e));
		e->id = sqlite3_column_int64(st, 0);
		e->time = sqlite3_column_int64(st, 1);
		cat_copy_text(e->barcode, sizeof(e->barcode), sqlite3_column_text(st, 2));
		cat_copy_text(e->from_state, sizeof(e->from_state), sqlite3_column_text(st, 3));
		cat_copy_text(e->to_state, sizeof(e->to_state), sqlite3_column_text(st, 4));
		cat_copy_text(e->from_loc, sizeof(e->from_loc), sqlite3_column_text(st, 5));
		cat_copy_text(e->to_loc, sizeof(e->to_loc), sqlite3_column_text(st, 6));
		/* Escaped again (a no-op on what add_event wrote): cut between
		 * whole characters, and safe from rows older vtlds wrote raw. */
		const unsigned char *cause = sqlite3_column_text(st, 7);
		esc_str(e->cause, sizeof(e->cause), cause ? (const char *)cause : "");
	}
	cat_release(c, st);
	if (rc != SQLITE_DONE) {
		free(v);
		return cat_sq_err(rc);
	}
	*out = v;
	*n = cnt;
	return 0;
}
