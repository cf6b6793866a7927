/*
 * vtlctl_top.c - `vtlctl top` (also `vtlctl status --watch`): a live view
 * of the library, refreshed once a second, for the operator who watches a
 * backup run: each drive's tape and MB/s, the upload backlog with its
 * rate and an estimate of when it is done, the cache, and the tapes on
 * their way to or from the shelf.
 *
 * Every figure comes from the control socket, the answers `library show`,
 * `status` and `tape list` give; the drives' rates are the differences of
 * the byte counters in `status` (util/metrics.h) between two answers over
 * the time between them. On a terminal the screen is redrawn in place;
 * otherwise (a pipe, a log) each view is printed after the previous one.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vtlctl_int.h"

#define MAX_IO 80

struct io {
	char device[32];
	uint64_t rd, wr, cmds;
};

struct sample {
	struct io io[MAX_IO];
	size_t n;
	double at; /* CLOCK_MONOTONIC, seconds */
};

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t jint(json_t *o, const char *k)
{
	json_int_t v = json_integer_value(json_object_get(o, k));
	return v > 0 ? (uint64_t)v : 0;
}

/* 1.5 GiB, 12.0 MiB, 512 B */
static const char *size_text(char *buf, size_t cap, double b)
{
	static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	int u = 0;
	while (b >= 1024 && u < 5) {
		b /= 1024;
		u++;
	}
	snprintf(buf, cap, u ? "%.1f %s" : "%.0f %s", b, unit[u]);
	return buf;
}

static const struct io *io_of(const struct sample *s, const char *device)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->io[i].device, device) == 0)
			return &s->io[i];
	return NULL;
}

static void take_io(json_t *status, struct sample *s)
{
	json_t *arr = json_object_get(status, "io"), *o;
	size_t i;
	s->n = 0;
	s->at = mono_s();
	json_array_foreach(arr, i, o)
	{
		if (s->n == MAX_IO)
			break;
		struct io *x = &s->io[s->n++];
		snprintf(x->device, sizeof(x->device), "%s",
			 jstr(o, "device") ? jstr(o, "device") : "");
		x->rd = jint(o, "read_bytes");
		x->wr = jint(o, "write_bytes");
		x->cmds = jint(o, "commands");
	}
}

static void show_drives(json_t *lib, const struct sample *now, const struct sample *before)
{
	double dt = before && now->at > before->at ? now->at - before->at : 0;
	printf("%-6s %-4s %-10s %-9s %10s %10s %10s\n", "DRIVE", "LUN", "TAPE", "STATE",
	       "READ MB/s", "WRITE MB/s", "CMDS/s");
	json_t *drives = json_object_get(lib, "drives"), *d;
	size_t i;
	json_array_foreach(drives, i, d)
	{
		char dev[32];
		json_int_t n = json_integer_value(json_object_get(d, "drive"));
		snprintf(dev, sizeof(dev), "drive%" JSON_INTEGER_FORMAT, n);
		const struct io *a = io_of(now, dev), *b = before ? io_of(before, dev) : NULL;
		double r = 0, w = 0, c = 0;
		if (a && b && dt > 0) {
			r = (double)(a->rd - b->rd) / dt / 1e6;
			w = (double)(a->wr - b->wr) / dt / 1e6;
			c = (double)(a->cmds - b->cmds) / dt;
		}
		const char *bc = jstr(d, "barcode");
		printf("%-6" JSON_INTEGER_FORMAT " %-4" JSON_INTEGER_FORMAT " %-10s %-9s ", n,
		       json_integer_value(json_object_get(d, "lun")), bc ? bc : "-",
		       jstr(d, "status") ? jstr(d, "status") : "?");
		if (dt > 0)
			printf("%10.1f %10.1f %10.0f\n", r, w, c);
		else
			printf("%10s %10s %10s\n", "...", "...", "...");
	}
}

static void show_store(json_t *st)
{
	char a[32], b[32], c[32];
	if (!json_is_object(st)) {
		printf("UPLOADS  none: no object store ([store] in the configuration)\n");
		return;
	}
	uint64_t backlog = jint(st, "backlog_bytes"), rate = jint(st, "throughput_bytes_per_s");
	uint64_t tapes = jint(st, "backlog_tapes");
	printf("UPLOADS  backlog %s of %" PRIu64 " tape%s (%" PRIu64 " upload%s to go), %s/s",
	       size_text(a, sizeof(a), (double)backlog), tapes, tapes == 1 ? "" : "s",
	       jint(st, "pending_uploads"), jint(st, "pending_uploads") == 1 ? "" : "s",
	       size_text(b, sizeof(b), (double)rate));
	if (backlog && rate) {
		uint64_t eta = backlog / rate;
		printf(", done in about %" PRIu64 ":%02" PRIu64 ":%02" PRIu64, eta / 3600,
		       eta / 60 % 60, eta % 60);
	}
	printf("\n         %s\n", jstr(st, "activity") ? jstr(st, "activity") : "");
	const char *action = jstr(st, "action_needed");
	if (action && action[0])
		printf("         ACTION NEEDED (%s): %s\n", jstr(st, "held_by"), action);
	json_t *cache = json_object_get(st, "cache");
	if (json_is_object(cache)) {
		uint64_t used = jint(cache, "used_bytes"), lim = jint(cache, "limit_bytes");
		uint64_t dirty = jint(cache, "unsent_bytes");
		printf("CACHE    used %s", size_text(a, sizeof(a), (double)used));
		if (lim)
			printf(" of %s (%.0f%%), not yet in the store %s (%.0f%%)",
			       size_text(b, sizeof(b), (double)lim),
			       100.0 * (double)used / (double)lim,
			       size_text(c, sizeof(c), (double)dirty),
			       100.0 * (double)dirty / (double)lim);
		else
			printf(" (no cache_limit), not yet in the store %s",
			       size_text(c, sizeof(c), (double)dirty));
		printf(", fetching %" PRIu64 "\n", jint(cache, "fetching"));
		const char *w = jstr(cache, "write_wait");
		if (w && w[0])
			printf("         WRITES WAIT: %s\n", w);
	}
}

/* The tapes on a trip to or from the shelf, with where each stands. */
static void show_shelf(void)
{
	static const char *const states[] = {"IN_TRANSIT_TO_SHELF", "ARCHIVING", "RETRIEVING"};
	int shown = 0;
	for (size_t s = 0; s < sizeof(states) / sizeof(states[0]); s++) {
		json_t *r = request(json_pack("{s:s, s:s}", "op", "tape.list", "state", states[s]));
		if (!r)
			continue;
		json_t *t;
		size_t i;
		json_array_foreach(json_object_get(r, "tapes"), i, t)
		{
			const char *bc = jstr(t, "barcode");
			if (!bc)
				continue;
			if (shown++ == 8) {
				printf("SHELF    ...\n");
				break;
			}
			const char *act = jstr(t, "shelf_activity");
			printf("SHELF    %-10s %-19s %s\n", bc, states[s], act ? act : "");
		}
		json_decref(r);
	}
	if (!shown)
		printf("SHELF    no tape on its way to or from the shelf\n");
}

int cmd_top(int argc, char **argv)
{
	long count = -1;
	for (int i = 0; i < argc; i++) {
		int missing = 0;
		const char *v = opt_value(argc, argv, &i, "--count", &missing);
		if (missing)
			return usage_error("top: --count needs a number");
		if (v) {
			char *end;
			count = strtol(v, &end, 10);
			if (*end || count < 1)
				return usage_error(
				    "top: --count %s: use a number of views, 1 or more", v);
			continue;
		}
		if (strcmp(argv[i], "--watch") == 0) /* status --watch */
			continue;
		return usage_error("top: unexpected argument '%s'", argv[i]);
	}
	bool tty = isatty(STDOUT_FILENO);
	struct sample prev, now;
	bool have_prev = false;
	for (long k = 0; count < 0 || k < count; k++) {
		if (k)
			sleep(1);
		json_t *st = request(json_pack("{s:s}", "op", "status"));
		json_t *lib = st ? request(json_pack("{s:s}", "op", "library.show")) : NULL;
		if (!st || !lib) {
			json_decref(st);
			return EXIT_FAIL;
		}
		take_io(st, &now);
		if (tty)
			printf("\033[H\033[2J");
		char when[32];
		time_t t = time(NULL);
		struct tm tm;
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
		printf("vtl top  %s  iSCSI sessions %" PRIu64 "%s\n\n", when,
		       jint(st, "iscsi_sessions"), tty ? "  (Ctrl-C to quit)" : "");
		show_drives(lib, &now, have_prev ? &prev : NULL);
		printf("\n");
		show_store(json_object_get(st, "store"));
		show_shelf();
		if (!tty)
			printf("\n");
		fflush(stdout);
		json_decref(st);
		json_decref(lib);
		prev = now;
		have_prev = true;
	}
	return EXIT_OK;
}
