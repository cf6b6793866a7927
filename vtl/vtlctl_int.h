/*
 * vtlctl_int.h - what the files of vtlctl share: vtlctl.c (the command
 * line, the socket, the tape, drive, library, store and catalog commands)
 * and vtlctl_pool.c (pools and automatic tape creation).
 */
#ifndef VTL_VTLCTL_INT_H
#define VTL_VTLCTL_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

extern bool want_json; /* --json anywhere on the command line */

/* Say a usage error on stderr; returns EXIT_USAGE. */
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Send req (taken) and return the answer when it is ok, else say its error
 * and return NULL. */
json_t *request(json_t *req);
void print_json(json_t *v);
const char *jstr(json_t *o, const char *k); /* NULL when not a string */
/* "500G", "2T", "100GiB" */
int parse_size(const char *s, uint64_t *out);
/* The value of option name at argv[*i] ("--name V" or "--name=V"), moving
 * *i past it; NULL when argv[*i] is not it (*missing set when it is but
 * has no value). */
const char *opt_value(int argc, char **argv, int *i, const char *name, int *missing);

/* vtlctl_pool.c */
int cmd_pool(const char *verb, int argc, char **argv);
int cmd_autocreate(const char *verb, int argc, char **argv);

/* vtlctl_top.c: `top` and `status --watch`, a view refreshed each second. */
int cmd_top(int argc, char **argv);

/* vtlctl_keys.c: `key status`, `key rotate`. */
int cmd_key(const char *verb, int argc, char **argv);

#endif
