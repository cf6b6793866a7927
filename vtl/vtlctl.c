/*
 * vtlctl.c - the admin CLI: turns a command line into one control-socket
 * request (vtl/ctl.h) and prints the answer as an aligned table for people
 * or as JSON (--json) for scripts.
 *
 * Exit codes: 0 done, 1 refused or failed (the reason on stderr names the
 * object and the fix), 2 usage.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "vtlctl_int.h"

#define DEFAULT_SOCKET "/var/lib/vtl/vtld.sock"

static const char *sock_path;
bool want_json;

static void usage(FILE *f)
{
	fprintf(f, "usage: vtlctl [--socket PATH] [--json] COMMAND ...\n"
		   "\n"
		   "  tape create [--type LTO-5..LTO-9] [--size N] [--pool P] [--worm] BARCODE...\n"
		   "  tape create [--type T] [--size N] [--pool P] [--worm] --prefix P --count N\n"
		   "  tape create --cleaning [--uses N] BARCODE...  (CLN...: cleaning, 50 uses)\n"
		   "  tape list [--state STATE] [--pool P] [--json]\n"
		   "  tape show BARCODE [--json]\n"
		   "  tape delete BARCODE [--force] [--bypass-governance]\n"
		   "  tape assign-pool BARCODE POOL [--bypass-governance]\n"
		   "  tape move BARCODE --to slot:N|drive:N|ie:N\n"
		   "  tape archive BARCODE [--wait]\n"
		   "  tape retrieve BARCODE [--wait]\n"
		   "  drive unload N [--force]\n"
		   "  pool create NAME [--storage-class C] [--lock governance|compliance\n"
		   "                   --retention-days 1..36500]\n"
		   "  pool list [--json]\n"
		   "  pool show NAME [--json]\n"
		   "  pool delete NAME\n"
		   "  autocreate set PREFIX --minimum N [--pool P] [--type T] [--size N]\n"
		   "                          keep N blank tapes PREFIX... in the library\n"
		   "  autocreate list [--json]\n"
		   "  autocreate remove PREFIX\n"
		   "  library show [--json]\n"
		   "  status [--json]         object store: what is not yet in it, and why\n"
		   "  top [--count N]         live view, once a second: drives (tape, MB/s),\n"
		   "                          uploads (backlog, rate, ETA), cache, shelf\n"
		   "                          (status --watch is the same)\n"
		   "  store retry [--json]    once what held uploads back is fixed: read the\n"
		   "                          [store] credentials and ca_bundle again, try now\n"
		   "  events [--tape BARCODE] [--limit N] [--json]\n"
		   "  catalog rebuild [--json]  add the tapes the object store holds and the\n"
		   "                          catalog lacks (disaster recovery; safe to repeat)\n"
		   "  key status [--json]     the master key of encryption at rest, and how\n"
		   "                          many tapes each master key wraps\n"
		   "  key rotate [--json]     rewrap every tape's data key under the configured\n"
		   "                          master key (resumable; data is not re-encrypted)\n"
		   "\n"
		   "The socket is --socket, else $VTL_SOCKET, else " DEFAULT_SOCKET ".\n"
		   "Sizes take K, M, G, T (powers of 1000) or KiB, MiB, GiB, TiB.\n");
}

int usage_error(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "vtlctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(vtlctl --help lists the commands)\n");
	return EXIT_USAGE;
}

/* ---- Talking to vtld ------------------------------------------------------ */

/* Send one request; returns the response object or NULL (message printed). */
static json_t *call(json_t *req)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(sock_path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "vtlctl: socket path too long: %s\n", sock_path);
		json_decref(req);
		return NULL;
	}
	memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		fprintf(
		    stderr,
		    "vtlctl: cannot connect to vtld at %s: %s; is vtld running? (set --socket or "
		    "VTL_SOCKET)\n",
		    sock_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		json_decref(req);
		return NULL;
	}
	char *line = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	size_t len = line ? strlen(line) : 0;
	bool sent = line != NULL;
	for (size_t off = 0; sent && off <= len;) {
		const char *p = off < len ? line + off : "\n";
		size_t n = off < len ? len - off : 1;
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			sent = false;
			break;
		}
		off += (size_t)w;
		if (off == len + 1)
			break;
	}
	free(line);
	char *buf = NULL;
	size_t blen = 0, cap = 0;
	while (sent) {
		if (blen + 4096 > cap) {
			cap = cap ? cap * 2 : 65536;
			char *nb = realloc(buf, cap);
			if (!nb)
				break;
			buf = nb;
		}
		ssize_t r = recv(fd, buf + blen, cap - blen - 1, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		blen += (size_t)r;
		if (memchr(buf + blen - (size_t)r, '\n', (size_t)r))
			break;
	}
	close(fd);
	json_t *resp = NULL;
	if (buf && blen) {
		buf[blen] = 0;
		resp = json_loads(buf, JSON_DISABLE_EOF_CHECK, NULL);
	}
	free(buf);
	if (!json_is_object(resp)) {
		fprintf(stderr,
			"vtlctl: vtld at %s closed the connection without an answer; see its "
			"log\n",
			sock_path);
		json_decref(resp);
		return NULL;
	}
	return resp;
}

/* Run a request; on refusal print the reason and return NULL. */
json_t *request(json_t *req)
{
	json_t *r = call(req);
	if (!r)
		return NULL;
	if (!json_is_true(json_object_get(r, "ok"))) {
		const char *e = json_string_value(json_object_get(r, "error"));
		fprintf(stderr, "vtlctl: %s\n", e ? e : "request failed");
		json_decref(r);
		return NULL;
	}
	return r;
}

void print_json(json_t *v)
{
	char *s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (s) {
		puts(s);
		free(s);
	}
}

/* ---- Tables ------------------------------------------------------------- */

#define MAX_COLS 8

struct table {
	size_t ncols;
	size_t nrows, cap;
	char ***cells; /* [row][col], row 0 the header */
	size_t width[MAX_COLS];
};

static void table_row(struct table *t, const char *const *vals)
{
	if (t->nrows == t->cap) {
		/* Doubling: a list of 10,000 tapes is 14 reallocations. */
		size_t ncap = t->cap ? 2 * t->cap : 64;
		char ***nc = realloc(t->cells, ncap * sizeof(*nc));
		if (!nc)
			return;
		t->cells = nc;
		t->cap = ncap;
	}
	char **row = calloc(t->ncols, sizeof(*row));
	if (!row)
		return;
	for (size_t i = 0; i < t->ncols; i++) {
		row[i] = strdup(vals[i] ? vals[i] : "-");
		size_t w = row[i] ? strlen(row[i]) : 0;
		if (w > t->width[i])
			t->width[i] = w;
	}
	t->cells[t->nrows++] = row;
}

static void table_print(struct table *t)
{
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *v = t->cells[r][c] ? t->cells[r][c] : "";
			if (c + 1 == t->ncols)
				printf("%s\n", v);
			else
				printf("%-*s  ", (int)t->width[c], v);
			free(t->cells[r][c]);
		}
		free(t->cells[r]);
	}
	free(t->cells);
	memset(t, 0, sizeof(*t));
}

const char *jstr(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static void human_bytes(uint64_t b, char *buf, size_t cap)
{
	static const char *const units[] = {"B", "kB", "MB", "GB", "TB", "PB"};
	double v = (double)b;
	int u = 0;
	while (v >= 1000.0 && u < 5) {
		v /= 1000.0;
		u++;
	}
	if (u == 0)
		snprintf(buf, cap, "%" PRIu64 " B", b);
	else
		snprintf(buf, cap, "%.1f %s", v, units[u]);
}

static void print_tapes(json_t *tapes)
{
	struct table t = {.ncols = 8};
	const char *hdr[] = {"BARCODE",	 "STATE", "LOCATION", "TYPE",
			     "CAPACITY", "USED",  "UPLOADED", "PENDING"};
	table_row(&t, hdr);
	size_t i;
	json_t *o;
	json_array_foreach(tapes, i, o)
	{
		char cap[32], used[32], up[32] = "-", pend[48] = "-", type[48];
		json_t *u = json_object_get(o, "uploaded_bytes");
		/* A cleaning cartridge shows its cleanings done of those it is
		 * good for instead of its generation. */
		if (json_is_true(json_object_get(o, "cleaning")))
			snprintf(type, sizeof(type),
				 "cleaning %" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT,
				 json_integer_value(json_object_get(o, "cleaning_uses")),
				 json_integer_value(json_object_get(o, "cleaning_max_uses")));
		else
			snprintf(type, sizeof(type), "%s", jstr(o, "type") ? jstr(o, "type") : "-");
		if (u) {
			/* Bytes not yet safe in the store; "!" when they wait for
			 * a person (tape show says why). */
			human_bytes((uint64_t)json_integer_value(u), up, sizeof(up));
			human_bytes(
			    (uint64_t)json_integer_value(json_object_get(o, "pending_bytes")), pend,
			    sizeof(pend));
			if (jstr(o, "upload_held_by"))
				strcat(pend, " !");
		}
		human_bytes((uint64_t)json_integer_value(json_object_get(o, "capacity_bytes")), cap,
			    sizeof(cap));
		human_bytes((uint64_t)json_integer_value(json_object_get(o, "used_bytes")), used,
			    sizeof(used));
		const char *row[] = {jstr(o, "barcode"),
				     jstr(o, "state"),
				     jstr(o, "location"),
				     type,
				     cap,
				     used,
				     up,
				     pend};
		table_row(&t, row);
	}
	table_print(&t);
}

/* ---- Commands ----------------------------------------------------------- */

int parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || s[0] == '-')
		return -1;
	static const struct {
		const char *suffix;
		uint64_t mult;
	} units[] = {
	    {"", 1},
	    {"K", 1000ull},
	    {"M", 1000000ull},
	    {"G", 1000000000ull},
	    {"T", 1000000000000ull},
	    {"KB", 1000ull},
	    {"MB", 1000000ull},
	    {"GB", 1000000000ull},
	    {"TB", 1000000000000ull},
	    {"KiB", 1ull << 10},
	    {"MiB", 1ull << 20},
	    {"GiB", 1ull << 30},
	    {"TiB", 1ull << 40},
	};
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcasecmp(end, units[i].suffix) == 0) {
			if (v == 0 || v > UINT64_MAX / units[i].mult)
				return -1;
			*out = v * units[i].mult;
			return 0;
		}
	}
	return -1;
}

/* Take "--name VALUE" or "--name=VALUE" at argv[*i]; NULL if not it. */
const char *opt_value(int argc, char **argv, int *i, const char *name, int *missing)
{
	size_t n = strlen(name);
	if (strncmp(argv[*i], name, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] != 0)
		return NULL;
	if (*i + 1 >= argc) {
		*missing = 1;
		return NULL;
	}
	return argv[++*i];
}

/* A request answers with these tape keys only ("fields", vtl/ctl_requests.c). */
static void ask_fields(json_t *req, const char *const *keys, size_t n)
{
	json_t *f = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(f, json_string(keys[i]));
	json_object_set_new(req, "fields", f);
}

static int cmd_tape_create(int argc, char **argv)
{
	const char *type = NULL, *prefix = NULL, *size_s = NULL, *count_s = NULL, *pool = NULL;
	bool worm = false, cleaning = false;
	const char *uses_s = NULL;
	json_t *codes = json_array();
	for (int i = 0; i < argc; i++) {
		int missing = 0;
		const char *v;
		if ((v = opt_value(argc, argv, &i, "--type", &missing)))
			type = v;
		else if ((v = opt_value(argc, argv, &i, "--pool", &missing)))
			pool = v;
		else if ((v = opt_value(argc, argv, &i, "--size", &missing)))
			size_s = v;
		else if ((v = opt_value(argc, argv, &i, "--prefix", &missing)))
			prefix = v;
		else if ((v = opt_value(argc, argv, &i, "--count", &missing)))
			count_s = v;
		else if (strcmp(argv[i], "--json") == 0)
			want_json = true;
		else if (strcmp(argv[i], "--worm") == 0)
			worm = true;
		else if (strcmp(argv[i], "--cleaning") == 0)
			cleaning = true;
		else if ((v = opt_value(argc, argv, &i, "--uses", &missing)))
			uses_s = v;
		else if (missing || argv[i][0] == '-') {
			json_decref(codes);
			return usage_error("tape create: %s '%s'",
					   missing ? "missing value for" : "unknown option",
					   argv[i]);
		} else
			json_array_append_new(codes, json_string(argv[i]));
	}
	json_t *req = json_pack("{s:s}", "op", "tape.create");
	if (prefix || count_s) {
		char *end;
		long long cnt = count_s ? strtoll(count_s, &end, 10) : 0;
		if (!prefix || !count_s || *end || cnt < 1 || json_array_size(codes)) {
			json_decref(codes);
			json_decref(req);
			return usage_error("tape create: --prefix P --count N (N >= 1) go together "
					   "and replace the barcodes");
		}
		json_object_set_new(req, "prefix", json_string(prefix));
		json_object_set_new(req, "count", json_integer(cnt));
		json_decref(codes);
	} else {
		if (json_array_size(codes) == 0) {
			json_decref(codes);
			json_decref(req);
			return usage_error("tape create: give barcodes, or --prefix P --count N");
		}
		size_t i;
		json_t *c;
		json_array_foreach(codes, i, c)
		{
			size_t len = strlen(json_string_value(c));
			if (len > 8 && len <= 16)
				fprintf(
				    stderr,
				    "vtlctl: warning: barcode %s has %zu characters; some backup "
				    "software reads only 8\n",
				    json_string_value(c), len);
		}
		json_object_set_new(req, "barcodes", codes);
	}
	if (type)
		json_object_set_new(req, "type", json_string(type));
	if (pool)
		json_object_set_new(req, "pool", json_string(pool));
	if (worm)
		json_object_set_new(req, "worm", json_true());
	if (uses_s && !cleaning) {
		json_decref(req);
		return usage_error("tape create: --uses N goes with --cleaning");
	}
	if (cleaning) {
		char *end;
		long long uses = uses_s ? strtoll(uses_s, &end, 10) : 50;
		if (uses_s && (*end || uses < 1 || uses > 65535)) {
			json_decref(req);
			return usage_error("tape create: bad --uses '%s' (1 to 65535 cleanings; "
					   "an LTO cleaning cartridge is good for 50)",
					   uses_s);
		}
		json_object_set_new(req, "cleaning_uses", json_integer(uses));
	}
	if (size_s) {
		uint64_t sz;
		if (parse_size(size_s, &sz) || sz > INT64_MAX) {
			json_decref(req);
			return usage_error("tape create: bad --size '%s' (e.g. 500G, 2T, 100GiB)",
					   size_s);
		}
		json_object_set_new(req, "size", json_integer((json_int_t)sz));
	}
	if (!want_json) {
		/* The keys the lines below print: no count of the bytes in
		 * the store for each new tape (10,000 manifests). */
		static const char *const keys[] = {
		    "barcode", "type",	   "worm",     "capacity_bytes",
		    "pool",    "location", "cleaning", "cleaning_max_uses"};
		ask_fields(req, keys, sizeof(keys) / sizeof(keys[0]));
	}
	json_t *r = request(req);
	if (!r)
		return EXIT_FAIL;
	json_t *tapes = json_object_get(r, "tapes");
	if (want_json) {
		print_json(tapes);
	} else {
		size_t i;
		json_t *o;
		json_array_foreach(tapes, i, o)
		{
			char cap[32];
			human_bytes(
			    (uint64_t)json_integer_value(json_object_get(o, "capacity_bytes")), cap,
			    sizeof(cap));
			const char *in = jstr(o, "pool");
			bool other = in && strcmp(in, "default") != 0;
			if (json_is_true(json_object_get(o, "cleaning"))) {
				printf(
				    "created cleaning cartridge %s (good for %" JSON_INTEGER_FORMAT
				    " cleanings) in %s\n",
				    jstr(o, "barcode"),
				    json_integer_value(json_object_get(o, "cleaning_max_uses")),
				    jstr(o, "location"));
				continue;
			}
			printf("created tape %s (%s%s, %s%s%s) in %s\n", jstr(o, "barcode"),
			       jstr(o, "type"),
			       json_is_true(json_object_get(o, "worm")) ? " WORM" : "", cap,
			       other ? ", pool " : "", other ? in : "", jstr(o, "location"));
		}
	}
	json_decref(r);
	return EXIT_OK;
}

static int cmd_tape_list(int argc, char **argv)
{
	const char *state = NULL, *pool = NULL;
	for (int i = 0; i < argc; i++) {
		int missing = 0;
		const char *v;
		if ((v = opt_value(argc, argv, &i, "--state", &missing)))
			state = v;
		else if ((v = opt_value(argc, argv, &i, "--pool", &missing)))
			pool = v;
		else if (strcmp(argv[i], "--json") == 0)
			want_json = true;
		else
			return usage_error("tape list: %s '%s'",
					   missing ? "missing value for" : "unexpected argument",
					   argv[i]);
	}
	json_t *req = json_pack("{s:s}", "op", "tape.list");
	if (state)
		json_object_set_new(req, "state", json_string(state));
	if (pool)
		json_object_set_new(req, "pool", json_string(pool));
	if (!want_json) {
		/* The table's keys only (print_tapes): half the answer of
		 * 10,000 tapes to build, send and parse. */
		static const char *const keys[] = {
		    "barcode",	      "state",	    "location",	      "type",
		    "capacity_bytes", "used_bytes", "uploaded_bytes", "pending_bytes",
		    "upload_held_by", "cleaning",   "cleaning_uses",  "cleaning_max_uses"};
		ask_fields(req, keys, sizeof(keys) / sizeof(keys[0]));
	}
	json_t *r = request(req);
	if (!r)
		return EXIT_FAIL;
	if (want_json)
		print_json(json_object_get(r, "tapes"));
	else
		print_tapes(json_object_get(r, "tapes"));
	json_decref(r);
	return EXIT_OK;
}

/*
 * --wait: poll tape.show until the tape reaches `want` (the uploader moves
 * it through ARCHIVING or RETRIEVING in the background), showing progress
 * on a terminal. No time limit: an upload over a slow link or an AWS
 * restore takes hours, and interrupting vtlctl leaves the job running.
 * Looks ten times a second for the first ten seconds, then once a second.
 * Takes r, returns the last answer or NULL on failure.
 */
static json_t *wait_for_state(json_t *r, const char *barcode, const char *want)
{
	const char *from = jstr(json_object_get(r, "tape"), "state");
	char first[32];
	snprintf(first, sizeof(first), "%s", from ? from : "");
	for (unsigned tries = 0;; tries++) {
		json_t *t = json_object_get(r, "tape");
		const char *st = jstr(t, "state");
		if (st && strcmp(st, want) == 0) {
			if (isatty(STDERR_FILENO))
				fprintf(stderr, "\n");
			return r;
		}
		if (st && strcmp(st, "IN_TRANSIT_TO_SHELF") != 0 && strcmp(st, "ARCHIVING") != 0 &&
		    strcmp(st, "RETRIEVING") != 0 && strcmp(st, first) != 0) {
			fprintf(stderr, "vtlctl: tape %s became %s (%s) instead of %s\n", barcode,
				st, jstr(t, "location"), want);
			json_decref(r);
			return NULL;
		}
		/* \33[K: erase the rest of the line the last one left. */
		if (isatty(STDERR_FILENO) && jstr(t, "shelf_activity"))
			fprintf(stderr, "\r%s: %s\33[K", st ? st : "?", jstr(t, "shelf_activity"));
		else if (isatty(STDERR_FILENO) && json_object_get(t, "uploaded_bytes"))
			fprintf(stderr,
				"\r%s: %s, %" JSON_INTEGER_FORMAT
				" bytes uploaded, %" JSON_INTEGER_FORMAT " pending\33[K",
				barcode, st ? st : "?",
				json_integer_value(json_object_get(t, "uploaded_bytes")),
				json_integer_value(json_object_get(t, "pending_bytes")));
		json_decref(r);
		struct timespec ts = {tries < 100 ? 0 : 1, tries < 100 ? 100 * 1000 * 1000 : 0};
		nanosleep(&ts, NULL);
		r = request(json_pack("{s:s, s:s}", "op", "tape.show", "barcode", barcode));
		if (!r)
			return NULL;
	}
}

/* The uploader's last error, with when it was met, and whether the store
 * has taken something since (then it is history, not the state). */
static void print_last_error(const char *e, json_int_t at, bool current)
{
	char when[64] = "";
	if (at > 0) {
		time_t t = (time_t)at;
		struct tm tm;
		long ago = (long)(time(NULL) - t);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %Z", localtime_r(&t, &tm));
		snprintf(when + strlen(when), sizeof(when) - strlen(when), ", %ld s ago",
			 ago < 0 ? 0 : ago);
	}
	printf("last error       %s (%s%s)\n", e, when[0] ? when : "time unknown",
	       current ? "" : "; uploads have succeeded since");
}

static int cmd_status(int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			want_json = true;
		else
			return usage_error("status: unexpected argument '%s'", argv[i]);
	}
	json_t *r = request(json_pack("{s:s}", "op", "status"));
	if (!r)
		return EXIT_FAIL;
	json_t *s = json_object_get(r, "store");
	if (want_json) {
		print_json(s);
	} else if (!json_is_object(s)) {
		printf("object store: none (local shelf)\n");
	} else {
		char backlog[32], sent[32], rate[32];
		human_bytes((uint64_t)json_integer_value(json_object_get(s, "backlog_bytes")),
			    backlog, sizeof(backlog));
		human_bytes((uint64_t)json_integer_value(json_object_get(s, "bytes_sent")), sent,
			    sizeof(sent));
		human_bytes(
		    (uint64_t)json_integer_value(json_object_get(s, "throughput_bytes_per_s")),
		    rate, sizeof(rate));
		printf("object store     %s\n", jstr(s, "backend"));
		json_int_t nt = json_integer_value(json_object_get(s, "backlog_tapes"));
		printf("upload backlog   %s of %" JSON_INTEGER_FORMAT
		       " tape%s not yet in the store "
		       "(%" JSON_INTEGER_FORMAT " upload%s to go)\n",
		       backlog, nt, nt == 1 ? "" : "s",
		       json_integer_value(json_object_get(s, "pending_uploads")),
		       json_integer_value(json_object_get(s, "pending_uploads")) == 1 ? "" : "s");
		printf("throughput       %s/s\n", rate);
		printf("sent since start %s in %" JSON_INTEGER_FORMAT " parts\n", sent,
		       json_integer_value(json_object_get(s, "parts_sent")));
		printf("activity         %s\n", jstr(s, "activity"));
		printf("shelf            %s\n", jstr(s, "shelf"));
		json_t *c = json_object_get(s, "cache");
		if (json_is_object(c)) {
			char used[32], limit[32], unsent[32], ev[32], fe[32];
			human_bytes((uint64_t)json_integer_value(json_object_get(c, "used_bytes")),
				    used, sizeof(used));
			human_bytes((uint64_t)json_integer_value(json_object_get(c, "limit_bytes")),
				    limit, sizeof(limit));
			human_bytes(
			    (uint64_t)json_integer_value(json_object_get(c, "unsent_bytes")),
			    unsent, sizeof(unsent));
			human_bytes(
			    (uint64_t)json_integer_value(json_object_get(c, "evicted_bytes")), ev,
			    sizeof(ev));
			human_bytes(
			    (uint64_t)json_integer_value(json_object_get(c, "fetched_bytes")), fe,
			    sizeof(fe));
			if (json_integer_value(json_object_get(c, "limit_bytes")))
				printf("cache            %s of %s, %s not yet in the store\n", used,
				       limit, unsent);
			else
				printf("cache            %s (no cache_limit), %s not yet in the "
				       "store\n",
				       used, unsent);
			printf("cache evictions  %" JSON_INTEGER_FORMAT " segment(s), %s; fetched "
			       "back %" JSON_INTEGER_FORMAT " segment(s), %s\n",
			       json_integer_value(json_object_get(c, "evicted_segments")), ev,
			       json_integer_value(json_object_get(c, "fetched_segments")), fe);
			const char *w = jstr(c, "write_wait");
			if (w && w[0])
				printf("writes waiting   %s\n", w);
		}
		const char *a = jstr(s, "action_needed");
		if (a && a[0]) {
			json_int_t next = json_integer_value(json_object_get(s, "next_try_s"));
			printf("action needed    %s (%s; next try in %" JSON_INTEGER_FORMAT
			       " s, or now with `vtlctl store retry`)\n",
			       a, jstr(s, "held_by"), next);
		}
		const char *e = jstr(s, "last_error");
		if (e && e[0])
			print_last_error(e, json_integer_value(json_object_get(s, "last_error_at")),
					 json_is_true(json_object_get(s, "last_error_current")));
	}
	json_decref(r);
	return EXIT_OK;
}

/*
 * store retry: vtld reads the [store] credentials and ca_bundle again, and
 * uploads held back by an error that needed a person (a certificate,
 * credentials, the bucket, a quota, a foreign tape, a damaged file) are
 * tried again now rather than on the slow schedule. Waits until
 * a round begun after the request is over (at most a minute: a round that
 * uploads much takes longer, and goes on) and says where things stand:
 * exit 1 while a person is still needed.
 */
static int cmd_store_retry(int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			want_json = true;
		else
			return usage_error("store retry: unexpected argument '%s'", argv[i]);
	}
	json_t *r = request(json_pack("{s:s}", "op", "store.retry"));
	if (!r)
		return EXIT_FAIL;
	json_int_t id = json_integer_value(json_object_get(r, "retry"));
	char reload[1024];
	snprintf(reload, sizeof(reload), "%s", jstr(r, "reload") ? jstr(r, "reload") : "");
	json_decref(r);
	json_t *st = NULL;
	bool answered = false;
	for (int tries = 0; tries < 600 && !answered; tries++) {
		if (tries) {
			struct timespec ts = {0, 100 * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
		json_decref(st);
		st = request(json_pack("{s:s}", "op", "status"));
		if (!st)
			return EXIT_FAIL;
		answered = json_integer_value(
			       json_object_get(json_object_get(st, "store"), "retried")) >= id;
	}
	json_t *s = json_object_get(st, "store");
	const char *a = jstr(s, "action_needed");
	int rc = answered && a && a[0] ? EXIT_FAIL : EXIT_OK;
	if (want_json) {
		json_object_set_new(s, "reload", json_string(reload));
		print_json(s);
		json_decref(st);
		return rc;
	}
	if (reload[0])
		printf("configuration: %s\n", reload);
	if (!answered) {
		printf("retry requested; the uploader is still at work (see vtlctl status)\n");
	} else if (a && a[0]) {
		fprintf(stderr, "vtlctl: uploads still wait for a person: %s\n", a);
	} else {
		char backlog[32];
		human_bytes((uint64_t)json_integer_value(json_object_get(s, "backlog_bytes")),
			    backlog, sizeof(backlog));
		printf("the store takes uploads; %s not yet in it (vtlctl status: %s)\n", backlog,
		       jstr(s, "activity"));
	}
	json_decref(st);
	return rc;
}

/* Commands of the form "tape VERB BARCODE [flags]". */
static int cmd_tape_one(const char *verb, int argc, char **argv)
{
	const char *barcode = NULL, *to = NULL, *pool = NULL;
	bool force = false, wait = false, bypass = false;
	bool assign = strcmp(verb, "assign-pool") == 0;
	for (int i = 0; i < argc; i++) {
		int missing = 0;
		const char *v;
		if (strcmp(verb, "move") == 0 && (v = opt_value(argc, argv, &i, "--to", &missing)))
			to = v;
		else if (strcmp(verb, "delete") == 0 && strcmp(argv[i], "--force") == 0)
			force = true;
		else if ((strcmp(verb, "delete") == 0 || assign) &&
			 strcmp(argv[i], "--bypass-governance") == 0)
			bypass = true;
		else if (assign && barcode && !pool && argv[i][0] != '-')
			pool = argv[i];
		else if ((strcmp(verb, "archive") == 0 || strcmp(verb, "retrieve") == 0) &&
			 strcmp(argv[i], "--wait") == 0)
			wait = true;
		else if (strcmp(argv[i], "--json") == 0)
			want_json = true;
		else if (missing || argv[i][0] == '-' || barcode)
			return usage_error("tape %s: %s '%s'", verb,
					   missing	       ? "missing value for"
					   : argv[i][0] == '-' ? "unknown option"
							       : "one barcode only, not",
					   argv[i]);
		else
			barcode = argv[i];
	}
	if (!barcode)
		return usage_error("tape %s: which tape? give its barcode", verb);
	if (strcmp(verb, "move") == 0 && !to)
		return usage_error("tape move: where to? --to slot:N, drive:N or ie:N");
	if (assign && !pool)
		return usage_error("tape assign-pool: which pool? tape assign-pool BARCODE POOL");
	char op[32];
	snprintf(op, sizeof(op), "tape.%s", assign ? "assign_pool" : verb);
	json_t *req = json_pack("{s:s, s:s}", "op", op, "barcode", barcode);
	if (pool)
		json_object_set_new(req, "pool", json_string(pool));
	if (bypass)
		json_object_set_new(req, "bypass_governance", json_true());
	if (to)
		json_object_set_new(req, "to", json_string(to));
	if (force)
		json_object_set_new(req, "force", json_true());
	if (wait)
		json_object_set_new(req, "wait", json_true());
	json_t *r = request(req);
	if (!r)
		return EXIT_FAIL;
	if (wait)
		r = wait_for_state(r, barcode,
				   strcmp(verb, "archive") == 0 ? "ARCHIVED" : "RETRIEVED");
	if (!r)
		return EXIT_FAIL;
	json_t *t = json_object_get(r, "tape");
	if (want_json) {
		print_json(t);
	} else if (strcmp(verb, "show") == 0) {
		const char *keys[] = {"barcode", "state",   "location", "type",
				      "pool",	 "created", "changed"};
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			printf("%-16s %s\n", keys[i], jstr(t, keys[i]) ? jstr(t, keys[i]) : "-");
		printf("%-16s %" JSON_INTEGER_FORMAT "\n", "capacity_bytes",
		       json_integer_value(json_object_get(t, "capacity_bytes")));
		printf("%-16s %" JSON_INTEGER_FORMAT "\n", "used_bytes",
		       json_integer_value(json_object_get(t, "used_bytes")));
		printf("%-16s %s\n", "write_protected",
		       json_is_true(json_object_get(t, "write_protected")) ? "yes" : "no");
		printf("%-16s %s\n", "worm",
		       json_is_true(json_object_get(t, "worm")) ? "yes" : "no");
		if (json_is_true(json_object_get(t, "cleaning")))
			printf("%-16s %" JSON_INTEGER_FORMAT " of %" JSON_INTEGER_FORMAT
			       " used%s\n",
			       "cleaning", json_integer_value(json_object_get(t, "cleaning_uses")),
			       json_integer_value(json_object_get(t, "cleaning_max_uses")),
			       json_is_true(json_object_get(t, "cleaning_expired")) ? " (expired)"
										    : "");
		if (jstr(t, "retention_lock"))
			printf("%-16s %s until %s\n", "retention_lock", jstr(t, "retention_lock"),
			       jstr(t, "retain_until"));
		if (json_object_get(t, "uploaded_bytes")) {
			printf("%-16s %" JSON_INTEGER_FORMAT "\n", "uploaded_bytes",
			       json_integer_value(json_object_get(t, "uploaded_bytes")));
			printf("%-16s %" JSON_INTEGER_FORMAT "\n", "pending_bytes",
			       json_integer_value(json_object_get(t, "pending_bytes")));
			printf("%-16s %" JSON_INTEGER_FORMAT "\n", "pending_uploads",
			       json_integer_value(json_object_get(t, "pending_uploads")));
			if (jstr(t, "upload_wait"))
				printf("%-16s %s\n", "upload_wait", jstr(t, "upload_wait"));
			if (jstr(t, "upload_held_by"))
				printf("%-16s %s\n", "upload_held_by", jstr(t, "upload_held_by"));
		}
		if (jstr(t, "shelf_activity"))
			printf("%-16s %s\n", "shelf_activity", jstr(t, "shelf_activity"));
	} else if (strcmp(verb, "move") == 0) {
		printf("tape %s is in %s (%s)\n", barcode, jstr(t, "location"), jstr(t, "state"));
	} else if (strcmp(verb, "delete") == 0) {
		printf("tape %s deleted; its barcode is retired\n", barcode);
	} else if (assign) {
		printf("tape %s is in pool %s (%s)\n", barcode, jstr(t, "pool"), jstr(t, "state"));
	} else {
		printf("tape %s is %s (%s)\n", barcode, jstr(t, "state"), jstr(t, "location"));
	}
	json_decref(r);
	return EXIT_OK;
}

static int cmd_drive_unload(int argc, char **argv)
{
	bool force = false;
	const char *num = NULL;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--force") == 0)
			force = true;
		else if (!num)
			num = argv[i];
		else
			num = "";
	}
	if (!num || !*num)
		return usage_error(
		    "drive unload: give one drive number (e.g. vtlctl drive unload 2)");
	char *end;
	long d = strtol(num, &end, 10);
	if (*end || d < 1 || d > 65535)
		return usage_error("drive unload: '%s' is not a drive number", num);
	json_t *r = request(
	    json_pack("{s:s, s:i, s:b}", "op", "drive.unload", "drive", (int)d, "force", force));
	if (!r)
		return EXIT_FAIL;
	if (want_json) {
		json_t *o = json_pack("{s:i, s:b}", "drive", (int)d, "unloaded", 1);
		print_json(o);
		json_decref(o);
	} else {
		printf("drive %ld unloaded\n", d);
	}
	json_decref(r);
	return EXIT_OK;
}

static int cmd_library_show(int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			want_json = true;
		else
			return usage_error("library show: unexpected argument '%s'", argv[i]);
	}
	json_t *r = request(json_pack("{s:s}", "op", "library.show"));
	if (!r)
		return EXIT_FAIL;
	if (want_json) {
		json_object_del(r, "ok");
		print_json(r);
		json_decref(r);
		return EXIT_OK;
	}
	json_t *ch = json_object_get(r, "changer");
	printf("changer  %s %s rev %s (%s), serial %s, LUN 0\n", jstr(ch, "vendor"),
	       jstr(ch, "product"), jstr(ch, "revision"), jstr(ch, "personality"),
	       jstr(ch, "serial"));
	printf("data     %s\n\n", jstr(ch, "data_dir"));

	struct table t = {.ncols = 7};
	const char *dh[] = {"DRIVE", "LUN", "ADDRESS", "SERIAL", "TYPE", "STATUS", "TAPE"};
	table_row(&t, dh);
	size_t i;
	json_t *o;
	json_array_foreach(json_object_get(r, "drives"), i, o)
	{
		char d[16], lun[16], addr[16];
		snprintf(d, sizeof(d), "%" JSON_INTEGER_FORMAT,
			 json_integer_value(json_object_get(o, "drive")));
		snprintf(lun, sizeof(lun), "%" JSON_INTEGER_FORMAT,
			 json_integer_value(json_object_get(o, "lun")));
		snprintf(addr, sizeof(addr), "%" JSON_INTEGER_FORMAT,
			 json_integer_value(json_object_get(o, "element_address")));
		const char *row[] = {d,
				     lun,
				     addr,
				     jstr(o, "serial"),
				     jstr(o, "type"),
				     jstr(o, "status"),
				     jstr(o, "barcode")};
		table_row(&t, row);
	}
	table_print(&t);

	const char *groups[][2] = {{"ie", "IE"}, {"slots", "SLOT"}};
	for (int g = 0; g < 2; g++) {
		printf("\n");
		t.ncols = 4;
		const char *hh[] = {groups[g][1], "ADDRESS", "TAPE", "STATE"};
		table_row(&t, hh);
		json_array_foreach(json_object_get(r, groups[g][0]), i, o)
		{
			char n[16], addr[16];
			snprintf(n, sizeof(n), "%" JSON_INTEGER_FORMAT,
				 json_integer_value(json_object_get(o, g == 0 ? "ie" : "slot")));
			snprintf(addr, sizeof(addr), "%" JSON_INTEGER_FORMAT,
				 json_integer_value(json_object_get(o, "element_address")));
			const char *row[] = {n, addr, jstr(o, "barcode"), jstr(o, "state")};
			table_row(&t, row);
		}
		table_print(&t);
	}
	json_decref(r);
	return EXIT_OK;
}

/* One line per tape of a catalog rebuild. */
static void print_rebuild_tape(json_t *o)
{
	const char *res = jstr(o, "result"), *state = jstr(o, "state");
	const char *loc = jstr(o, "location"), *why = jstr(o, "reason");
	printf("%-16s  ", jstr(o, "barcode"));
	if (res && strcmp(res, "recovered") == 0) {
		json_int_t segs = json_integer_value(json_object_get(o, "segments"));
		char bytes[32];
		human_bytes((uint64_t)json_integer_value(json_object_get(o, "bytes")), bytes,
			    sizeof(bytes));
		if (state && strcmp(state, "ARCHIVED") == 0)
			printf("recovered: ARCHIVED on the %s (%" JSON_INTEGER_FORMAT
			       " segment%s, %s; the data stays in the store until tape retrieve)\n",
			       loc, segs, segs == 1 ? "" : "s", bytes);
		else if (why && *why) /* from the local medium or the library record */
			printf("recovered: %s in %s (%" JSON_INTEGER_FORMAT
			       " segment%s, %s, from %s)\n",
			       state, loc, segs, segs == 1 ? "" : "s", bytes, why);
		else
			printf("recovered: %s in %s (%" JSON_INTEGER_FORMAT
			       " segment%s, %s downloaded and verified)\n",
			       state, loc, segs, segs == 1 ? "" : "s", bytes);
	} else if (state) {
		printf("%s: %s (%s, %s)\n", res, why ? why : "-", state, loc);
	} else {
		printf("%s: %s\n", res, why ? why : "-");
	}
}

/*
 * catalog rebuild: start the job in vtld (or join the one running), poll
 * it until done, showing what it does on a terminal, then print one line
 * per tape and the totals. Interrupting vtlctl does not stop the job;
 * running the command again waits for it.
 */
static int cmd_catalog_rebuild(int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			want_json = true;
		else
			return usage_error("catalog rebuild: unexpected argument '%s'", argv[i]);
	}
	json_t *r = request(json_pack("{s:s}", "op", "catalog.rebuild"));
	if (!r)
		return EXIT_FAIL;
	json_int_t id = json_integer_value(json_object_get(json_object_get(r, "rebuild"), "id"));
	bool tty = isatty(STDERR_FILENO);
	while (!json_is_true(json_object_get(json_object_get(r, "rebuild"), "done"))) {
		if (tty)
			fprintf(stderr, "\rcatalog rebuild: %-70.70s",
				jstr(json_object_get(r, "rebuild"), "activity"));
		json_decref(r);
		struct timespec ts = {0, 200 * 1000 * 1000};
		nanosleep(&ts, NULL);
		r = request(json_pack("{s:s, s:I}", "op", "catalog.rebuild.status", "id", id));
		if (!r)
			return EXIT_FAIL;
	}
	if (tty)
		fprintf(stderr, "\r%-87s\r", "");
	json_t *b = json_object_get(r, "rebuild");
	json_t *tapes = json_object_get(b, "tapes");
	const char *e = jstr(b, "error");
	if (want_json) {
		json_object_del(b, "id");
		json_object_del(b, "done");
		json_object_del(b, "activity");
		print_json(b);
	} else if (!e || json_array_size(tapes)) {
		size_t i;
		json_t *o;
		json_array_foreach(tapes, i, o) print_rebuild_tape(o);
		printf("total: %" JSON_INTEGER_FORMAT " recovered, %" JSON_INTEGER_FORMAT
		       " kept, %" JSON_INTEGER_FORMAT " skipped, %" JSON_INTEGER_FORMAT " failed\n",
		       json_integer_value(json_object_get(b, "recovered")),
		       json_integer_value(json_object_get(b, "kept")),
		       json_integer_value(json_object_get(b, "skipped")),
		       json_integer_value(json_object_get(b, "failed")));
	}
	if (jstr(b, "warning") && !want_json)
		fprintf(stderr, "vtlctl: warning: %s\n", jstr(b, "warning"));
	if (e)
		fprintf(stderr, "vtlctl: %s\n", e);
	/* A store that could not be listed makes the rebuild partial: exit 1,
	 * so that a script does not take it for the whole store. */
	const char *unlisted = jstr(b, "unlisted");
	if (!e && unlisted)
		fprintf(stderr,
			"vtlctl: the object store could not be listed (%s): the rebuild is not "
			"complete; run vtlctl catalog rebuild again once the store answers\n",
			unlisted);
	json_decref(r);
	return e || unlisted ? EXIT_FAIL : EXIT_OK;
}

static int cmd_events(int argc, char **argv)
{
	const char *tape = NULL, *limit = NULL;
	for (int i = 0; i < argc; i++) {
		int missing = 0;
		const char *v;
		if ((v = opt_value(argc, argv, &i, "--tape", &missing)))
			tape = v;
		else if ((v = opt_value(argc, argv, &i, "--limit", &missing)))
			limit = v;
		else if (strcmp(argv[i], "--json") == 0)
			want_json = true;
		else
			return usage_error("events: %s '%s'",
					   missing ? "missing value for" : "unexpected argument",
					   argv[i]);
	}
	json_t *req = json_pack("{s:s}", "op", "events");
	if (tape)
		json_object_set_new(req, "barcode", json_string(tape));
	if (limit) {
		char *end;
		long long l = strtoll(limit, &end, 10);
		if (*end || l < 1) {
			json_decref(req);
			return usage_error("events: --limit takes a positive number");
		}
		json_object_set_new(req, "limit", json_integer(l));
	}
	json_t *r = request(req);
	if (!r)
		return EXIT_FAIL;
	json_t *ev = json_object_get(r, "events");
	if (want_json) {
		print_json(ev);
	} else {
		struct table t = {.ncols = 7};
		const char *hh[] = {"TIME", "BARCODE", "FROM_STATE", "TO_STATE",
				    "FROM", "TO",      "CAUSE"};
		table_row(&t, hh);
		size_t i;
		json_t *o;
		json_array_foreach(ev, i, o)
		{
			const char *fs = jstr(o, "from_state");
			const char *row[] = {jstr(o, "time"),	     jstr(o, "barcode"),
					     fs && fs[0] ? fs : "-", jstr(o, "to_state"),
					     jstr(o, "from"),	     jstr(o, "to"),
					     jstr(o, "cause")};
			table_row(&t, row);
		}
		table_print(&t);
	}
	json_decref(r);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	int i = 1;
	sock_path = getenv("VTL_SOCKET");
	for (; i < argc && argv[i][0] == '-'; i++) {
		int missing = 0;
		const char *v;
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return EXIT_OK;
		} else if ((v = opt_value(argc, argv, &i, "--socket", &missing))) {
			sock_path = v;
		} else if (strcmp(argv[i], "--json") == 0) {
			want_json = true;
		} else {
			return usage_error(
			    "%s '%s'", missing ? "missing value for" : "unknown option", argv[i]);
		}
	}
	if (!sock_path || !sock_path[0])
		sock_path = DEFAULT_SOCKET;
	if (i >= argc)
		return usage_error("no command given");
	const char *noun = argv[i++];
	const char *verb = i < argc ? argv[i] : NULL;
	int rest_c = argc - i - 1;
	char **rest_v = argv + i + 1;

	if (strcmp(noun, "tape") == 0 && verb) {
		if (strcmp(verb, "create") == 0)
			return cmd_tape_create(rest_c, rest_v);
		if (strcmp(verb, "list") == 0)
			return cmd_tape_list(rest_c, rest_v);
		if (strcmp(verb, "show") == 0 || strcmp(verb, "delete") == 0 ||
		    strcmp(verb, "move") == 0 || strcmp(verb, "archive") == 0 ||
		    strcmp(verb, "retrieve") == 0 || strcmp(verb, "assign-pool") == 0)
			return cmd_tape_one(verb, rest_c, rest_v);
		return usage_error("unknown command 'tape %s'", verb);
	}
	if (strcmp(noun, "pool") == 0 && verb)
		return cmd_pool(verb, rest_c, rest_v);
	if (strcmp(noun, "autocreate") == 0 && verb)
		return cmd_autocreate(verb, rest_c, rest_v);
	if (strcmp(noun, "drive") == 0 && verb && strcmp(verb, "unload") == 0)
		return cmd_drive_unload(rest_c, rest_v);
	if (strcmp(noun, "library") == 0 && verb && strcmp(verb, "show") == 0)
		return cmd_library_show(rest_c, rest_v);
	if (strcmp(noun, "top") == 0)
		return cmd_top(argc - i, argv + i);
	if (strcmp(noun, "status") == 0) {
		for (int k = i; k < argc; k++)
			if (strcmp(argv[k], "--watch") == 0)
				return cmd_top(argc - i, argv + i);
		return cmd_status(argc - i, argv + i);
	}
	if (strcmp(noun, "store") == 0 && verb && strcmp(verb, "retry") == 0)
		return cmd_store_retry(rest_c, rest_v);
	if (strcmp(noun, "events") == 0)
		return cmd_events(argc - i, argv + i);
	if (strcmp(noun, "catalog") == 0 && verb && strcmp(verb, "rebuild") == 0)
		return cmd_catalog_rebuild(rest_c, rest_v);
	if (strcmp(noun, "key") == 0 && verb)
		return cmd_key(verb, rest_c, rest_v);
	if (strcmp(noun, "help") == 0) {
		usage(stdout);
		return EXIT_OK;
	}
	return usage_error("unknown command '%s%s%s'", noun, verb ? " " : "", verb ? verb : "");
}
