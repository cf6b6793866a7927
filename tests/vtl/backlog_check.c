/*
 * backlog_check.c - the bytes not yet safe in the object store, read where
 * an operator looks (see backlog_check.h): every place must give the same
 * figure, whatever holds the bytes back.
 */
#include "config.h"

#include "tests/vtl/backlog_check.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The sum of every integer after "key": in json. */
static long long sum_of(const char *json, const char *key)
{
	char pat[64];
	long long sum = 0;
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	for (const char *at = strstr(json, pat); at; at = strstr(at + 1, pat))
		sum += strtoll(at + strlen(pat), NULL, 10);
	return sum;
}

void backlog_read(struct vtld_proc *p, struct backlog_view *v)
{
	static char a[65536], b[65536];
	for (int i = 0; i < 300; i++) {
		if (i)
			usleep(100000);
		vp_ctl_ok(p, "--json tape list", a, sizeof(a));
		vp_ctl_ok(p, "--json status", v->status, sizeof(v->status));
		vp_ctl_ok(p, "--json tape list", b, sizeof(b));
		v->listed = sum_of(a, "pending_bytes");
		if (v->listed != sum_of(b, "pending_bytes"))
			continue; /* an upload moved on meanwhile */
		v->backlog = vp_jint(v->status, "backlog_bytes");
		v->unsent = vp_jint(v->status, "unsent_bytes");
		if (v->backlog == v->listed && v->unsent == v->listed)
			return;
	}
	cr_assert_fail("the bytes not yet in the store differ: tape list %lld, status backlog "
		       "%lld, cache unsent %lld\n%s\n%s",
		       v->listed, v->backlog, v->unsent, v->status, a);
}

void tape_view_read(struct vtld_proc *p, const char *barcode, struct tape_view *t)
{
	char args[64];
	snprintf(args, sizeof(args), "--json tape show %s", barcode);
	vp_ctl_ok(p, args, t->json, sizeof(t->json));
	t->used = vp_jint(t->json, "used_bytes");
	t->uploaded = vp_jint(t->json, "uploaded_bytes");
	t->pending = vp_jint(t->json, "pending_bytes");
	t->uploads = vp_jint(t->json, "pending_uploads");
}

void tape_wait_held(struct vtld_proc *p, const char *barcode, const char *held_by, int seconds,
		    const char *why, struct tape_view *t)
{
	char want[64];
	snprintf(want, sizeof(want), "\"upload_held_by\": \"%s\"", held_by);
	for (int i = 0; i < 10 * seconds; i++) {
		tape_view_read(p, barcode, t);
		if (strstr(t->json, want))
			return;
		usleep(100000);
	}
	cr_assert_fail("%s: %s", why, t->json);
}

int log_count(struct vtld_proc *p, const char *needle)
{
	FILE *f = fopen(p->log, "r");
	char line[8192];
	int n = 0;
	while (f && fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	if (f)
		fclose(f);
	return n;
}
