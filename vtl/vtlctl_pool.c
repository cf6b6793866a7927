/*
 * vtlctl_pool.c - vtlctl's governance commands: pools (pool create, list,
 * show, delete) and automatic tape creation (autocreate set, list,
 * remove). docs/library.md, "Pools and retention lock".
 */
#include "config.h"

#include "vtlctl_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_pool(json_t *p)
{
	const char *cls = jstr(p, "storage_class");
	printf("%-16s %-14s %-11s %6" JSON_INTEGER_FORMAT " days %5" JSON_INTEGER_FORMAT
	       " tapes%s\n",
	       jstr(p, "name"), cls && cls[0] ? cls : "(store's)", jstr(p, "retention_lock"),
	       json_integer_value(json_object_get(p, "retention_days")),
	       json_integer_value(json_object_get(p, "tapes")),
	       json_is_true(json_object_get(p, "builtin")) ? "  built in" : "");
}

/* pool create|list|show|delete */
int cmd_pool(const char *verb, int argc, char **argv)
{
	const char *name = NULL, *cls = NULL, *lock = NULL, *days_s = NULL;
	bool create = strcmp(verb, "create") == 0, list = strcmp(verb, "list") == 0;
	if (!create && !list && strcmp(verb, "show") != 0 && strcmp(verb, "delete") != 0)
		return usage_error("unknown command 'pool %s'", verb);
	for (int i = 0; i < argc; i++) {
		int missing = 0;
		const char *v;
		if (create && (v = opt_value(argc, argv, &i, "--storage-class", &missing)))
			cls = v;
		else if (create && (v = opt_value(argc, argv, &i, "--lock", &missing)))
			lock = v;
		else if (create && (v = opt_value(argc, argv, &i, "--retention-days", &missing)))
			days_s = v;
		else if (strcmp(argv[i], "--json") == 0)
			want_json = true;
		else if (missing || argv[i][0] == '-' || name || list)
			return usage_error("pool %s: %s '%s'", verb,
					   missing	       ? "missing value for"
					   : argv[i][0] == '-' ? "unknown option"
							       : "unexpected argument",
					   argv[i]);
		else
			name = argv[i];
	}
	if (!list && !name)
		return usage_error("pool %s: which pool? give its name", verb);
	char op[32];
	snprintf(op, sizeof(op), "pool.%s", verb);
	json_t *req = json_pack("{s:s}", "op", op);
	if (name)
		json_object_set_new(req, "name", json_string(name));
	if (cls)
		json_object_set_new(req, "storage_class", json_string(cls));
	if (lock)
		json_object_set_new(req, "retention_lock", json_string(lock));
	if (days_s) {
		char *end;
		long long d = strtoll(days_s, &end, 10);
		if (*end || d < 1 || d > 36500) {
			json_decref(req);
			return usage_error("pool create: --retention-days takes 1 to 36500");
		}
		json_object_set_new(req, "retention_days", json_integer(d));
	}
	json_t *r = request(req);
	if (!r)
		return EXIT_FAIL;
	if (list) {
		json_t *pools = json_object_get(r, "pools"), *p;
		size_t i;
		if (want_json)
			print_json(pools);
		else
			json_array_foreach(pools, i, p) print_pool(p);
	} else if (strcmp(verb, "delete") == 0) {
		if (want_json)
			print_json(r);
		else
			printf("pool %s deleted\n", name);
	} else if (want_json) {
		print_json(json_object_get(r, "pool"));
	} else {
		print_pool(json_object_get(r, "pool"));
	}
	json_decref(r);
	return EXIT_OK;
}

/* autocreate set|list|remove */
int cmd_autocreate(const char *verb, int argc, char **argv)
{
	const char *prefix = NULL, *pool = NULL, *type = NULL, *min_s = NULL, *size_s = NULL;
	bool set = strcmp(verb, "set") == 0, list = strcmp(verb, "list") == 0;
	if (!set && !list && strcmp(verb, "remove") != 0)
		return usage_error("unknown command 'autocreate %s'", verb);
	for (int i = 0; i < argc; i++) {
		int missing = 0;
		const char *v;
		if (set && (v = opt_value(argc, argv, &i, "--minimum", &missing)))
			min_s = v;
		else if (set && (v = opt_value(argc, argv, &i, "--pool", &missing)))
			pool = v;
		else if (set && (v = opt_value(argc, argv, &i, "--type", &missing)))
			type = v;
		else if (set && (v = opt_value(argc, argv, &i, "--size", &missing)))
			size_s = v;
		else if (strcmp(argv[i], "--json") == 0)
			want_json = true;
		else if (missing || argv[i][0] == '-' || prefix || list)
			return usage_error("autocreate %s: %s '%s'", verb,
					   missing	       ? "missing value for"
					   : argv[i][0] == '-' ? "unknown option"
							       : "unexpected argument",
					   argv[i]);
		else
			prefix = argv[i];
	}
	if (!list && !prefix)
		return usage_error("autocreate %s: which barcode prefix?", verb);
	char op[32];
	snprintf(op, sizeof(op), "autocreate.%s", verb);
	json_t *req = json_pack("{s:s}", "op", op);
	if (prefix)
		json_object_set_new(req, "prefix", json_string(prefix));
	if (set) {
		char *end = NULL;
		long long m = min_s ? strtoll(min_s, &end, 10) : 0;
		if (!min_s || *end || m < 1 || m > 1000) {
			json_decref(req);
			return usage_error("autocreate set: --minimum takes 1 to 1000 tapes");
		}
		json_object_set_new(req, "minimum", json_integer(m));
		if (pool)
			json_object_set_new(req, "pool", json_string(pool));
		if (type)
			json_object_set_new(req, "type", json_string(type));
		if (size_s) {
			uint64_t sz;
			if (parse_size(size_s, &sz) || sz > INT64_MAX) {
				json_decref(req);
				return usage_error("autocreate set: bad --size '%s'", size_s);
			}
			json_object_set_new(req, "size", json_integer((json_int_t)sz));
		}
	}
	json_t *r = request(req);
	if (!r)
		return EXIT_FAIL;
	if (list) {
		json_t *pol = json_object_get(r, "policies"), *p;
		size_t i;
		if (want_json)
			print_json(pol);
		else
			json_array_foreach(pol, i, p) printf(
			    "%-12s keep %4" JSON_INTEGER_FORMAT " blank %s tapes in pool %s\n",
			    jstr(p, "prefix"), json_integer_value(json_object_get(p, "minimum")),
			    jstr(p, "type"), jstr(p, "pool"));
	} else if (want_json) {
		print_json(r);
	} else if (set) {
		printf("autocreate policy %s set\n", prefix);
	} else {
		printf("autocreate policy %s removed\n", prefix);
	}
	json_decref(r);
	return EXIT_OK;
}
