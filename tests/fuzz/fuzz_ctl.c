/*
 * fuzz_ctl.c - the control socket's request handler (vtl/ctl.c,
 * ctl_handle_line): the JSON line vtlctl sends, turned into a call into a
 * real library on a fresh copy of the template (fuzz_util.h) and a JSON
 * answer.
 *
 * Input: request lines separated by '\n', at most MAX_LINES, each handled
 * in turn (so that a create, a move and a delete can meet). Beyond "no
 * crash", every answer must be one JSON object with a boolean "ok": an
 * answer vtlctl cannot read is a finding.
 *
 * Requests that create more than MAX_CREATE tapes are skipped: the socket
 * is the operator's (mode 0600), who may create 100000 tapes at once, and
 * that is slow, not wrong.
 */
#include "config.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz_util.h"
#include "vtl/ctl.h"
#include "vtl/library.h"

enum { MAX_LINES = 16, MAX_CREATE = 16 };

static bool too_big(const char *line)
{
	json_t *req = json_loads(line, 0, NULL);
	if (!req)
		return false;
	json_t *count = json_object_get(req, "count");
	bool big = json_is_integer(count) && json_integer_value(count) > MAX_CREATE;
	json_decref(req);
	return big;
}

static void check_answer(const char *line, const char *resp)
{
	if (!resp) {
		fprintf(stderr, "no answer to the request: %s\n", line);
		abort();
	}
	json_error_t jerr;
	json_t *r = json_loads(resp, 0, &jerr);
	if (!json_is_object(r) || !json_is_boolean(json_object_get(r, "ok"))) {
		fprintf(stderr, "the answer is not a JSON object with \"ok\" (%s):\n%s\n",
			jerr.text, resp);
		abort();
	}
	json_decref(r);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_lib_template();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		fz_die("out of memory");
	memcpy(text, data, size);
	text[size] = 0;
	struct lib *lib = fz_lib_open_copy();
	char *line = text;
	for (int i = 0; i < MAX_LINES && line; i++) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = 0;
		if (!too_big(line)) {
			char *resp = ctl_handle_line(lib, NULL, line, NULL);
			check_answer(line, resp);
			free(resp);
		}
		line = nl ? nl + 1 : NULL;
	}
	fz_lib_close(lib);
	free(text);
	return 0;
}
