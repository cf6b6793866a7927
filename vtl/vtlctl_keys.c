/*
 * vtlctl_keys.c - `vtlctl key status` and `vtlctl key rotate`: the master
 * key of library-managed encryption (docs/operations.md, "Rotating the
 * master key"). Only key ids are shown: an id names a key and reveals
 * nothing of it.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "vtlctl_int.h"

static int key_status(void)
{
	json_t *r = request(json_pack("{s:s}", "op", "key.status"));
	if (!r)
		return EXIT_FAIL;
	if (want_json) {
		json_object_del(r, "ok");
		print_json(r);
		json_decref(r);
		return EXIT_OK;
	}
	const char *cur = jstr(r, "master"), *prev = jstr(r, "previous");
	json_int_t tapes = json_integer_value(json_object_get(r, "tapes"));
	json_int_t todo = json_integer_value(json_object_get(r, "to_rotate"));
	printf("encryption at rest: %s\n", jstr(r, "mode"));
	printf("master key:         %s\n", cur ? cur : "none configured");
	if (prev)
		printf("previous key:       %s\n", prev);
	printf("tapes with a key:   %" JSON_INTEGER_FORMAT "\n", tapes);
	size_t i;
	json_t *m;
	json_array_foreach(json_object_get(r, "masters"), i, m)
	{
		printf("  %s  %6" JSON_INTEGER_FORMAT " tape%s  (%s)\n", jstr(m, "id"),
		       json_integer_value(json_object_get(m, "tapes")),
		       json_integer_value(json_object_get(m, "tapes")) == 1 ? " " : "s",
		       jstr(m, "role"));
	}
	if (cur && todo)
		printf("%" JSON_INTEGER_FORMAT " tape%s still under another master key: run "
		       "vtlctl key rotate\n",
		       todo, todo == 1 ? " is" : "s are");
	json_decref(r);
	return EXIT_OK;
}

/*
 * Start the rotation in vtld (or join the one running) and poll it,
 * printing a line each time more tapes are rewrapped. Interrupting vtlctl
 * does not stop it; running the command again waits for it, or, once it
 * stopped, goes on where it left off.
 */
static int key_rotate(void)
{
	json_t *r = request(json_pack("{s:s}", "op", "key.rotate"));
	if (!r)
		return EXIT_FAIL;
	json_t *o = json_object_get(r, "rotation");
	json_int_t id = json_integer_value(json_object_get(o, "id")), shown = 0;
	for (;;) {
		o = json_object_get(r, "rotation");
		json_int_t done = json_integer_value(json_object_get(o, "rewrapped"));
		json_int_t total = json_integer_value(json_object_get(o, "total"));
		if (!want_json && done > shown) {
			printf("rewrapped %" JSON_INTEGER_FORMAT " of %" JSON_INTEGER_FORMAT
			       " tapes (last: %s)\n",
			       done, total, jstr(o, "tape"));
			fflush(stdout);
			shown = done;
		}
		if (json_is_true(json_object_get(o, "done")))
			break;
		json_decref(r);
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
		r = request(json_pack("{s:s, s:I}", "op", "key.rotate.status", "id", id));
		if (!r)
			return EXIT_FAIL;
	}
	const char *e = jstr(o, "error");
	if (want_json) {
		json_object_del(r, "ok");
		json_object_del(o, "id");
		json_object_del(o, "tape");
		print_json(r);
	} else if (!e) {
		json_int_t total = json_integer_value(json_object_get(o, "total"));
		if (total)
			printf("done: every tape's data key is now wrapped by master key %s; "
			       "previous_key_file (or previous_key_command) may be removed\n",
			       jstr(r, "master"));
		else
			printf("nothing to do: every tape's data key is already wrapped by master "
			       "key %s\n",
			       jstr(r, "master"));
	}
	if (e)
		fprintf(stderr, "vtlctl: %s\n", e);
	json_decref(r);
	return e ? EXIT_FAIL : EXIT_OK;
}

int cmd_key(const char *verb, int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			want_json = true;
		else
			return usage_error("key %s: unexpected argument '%s'", verb, argv[i]);
	}
	if (strcmp(verb, "status") == 0)
		return key_status();
	if (strcmp(verb, "rotate") == 0)
		return key_rotate();
	return usage_error("unknown command 'key %s' (key status, key rotate)", verb);
}
