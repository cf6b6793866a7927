/*
 * ctl.h - the control socket: vtld's side of the vtlctl protocol.
 *
 * A UNIX stream socket (mode 0600, so only vtld's user may administer the
 * library). The client sends one JSON object per line and reads one JSON
 * object per line back; docs/library.md lists the requests. Every request
 * that changes something is one call into the library model, which makes
 * it one catalog transaction under the changer's lock and raises the unit
 * attentions initiators need.
 */
#ifndef VTL_CTL_H
#define VTL_CTL_H

#include <stddef.h>

struct lib;
struct upl;
struct ctl_server;

/* Protocol version, reported by the "hello" request. */
#define CTL_PROTOCOL 1

/*
 * Limits (docs/library.md, "Control protocol"). Clients are served side by
 * side: at most CTL_MAX_CLIENTS connections (a new one beyond that closes
 * the one idle longest); a request line holds at most CTL_MAX_REQUEST
 * bytes (a longer one is refused and skipped); a client must send each
 * request within CTL_IDLE_MS of connecting or of its last answer, and read
 * an answer with no pause longer than that, or it is closed.
 */
#define CTL_MAX_CLIENTS 16
#define CTL_MAX_REQUEST (1 << 20)
#define CTL_IDLE_MS	5000

/* Called for each request handled (level 2: info, 1: refused, 0: error). */
typedef void (*ctl_log_fn)(int level, const char *msg);

/* Bind path (replacing a stale socket, refusing a live one) and serve
 * lib, and upl, its object store's side (NULL: none), in a background
 * thread. */
int ctl_server_start(struct lib *lib, struct upl *upl, const char *path, ctl_log_fn log,
		     struct ctl_server **out, char *err, size_t errlen);
/* Stop serving, join the thread and remove the socket. */
void ctl_server_stop(struct ctl_server *s);

/* Handle one request line; returns a malloc'd response line (no newline). */
char *ctl_handle_line(struct lib *lib, struct upl *upl, const char *line, ctl_log_fn log);

#endif
