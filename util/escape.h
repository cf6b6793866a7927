/*
 * escape.h - text from outside made safe to log, store and answer.
 *
 * Strings that come from outside vtld (an initiator's name and keys, a
 * barcode or an op in a control request, an object store's error text or
 * key) reach log lines, catalog events and JSON answers. Written as
 * received they could forge a log line (a newline followed by a fake
 * timestamp), drive the operator's terminal (ESC sequences, C1 controls,
 * bidirectional overrides) or, as invalid UTF-8, make the JSON encoder
 * refuse the whole answer. This module is the one place that turns such a
 * string into text that can do none of that.
 *
 * The output is well-formed UTF-8 that contains no control character:
 *   - printable ASCII (0x20-0x7e) passes unchanged, the backslash included;
 *   - a well-formed UTF-8 character (RFC 3629 section 4: no overlong form,
 *     no surrogate, nothing above U+10FFFF) passes unchanged;
 *   - each C0 control (NUL inside a buffer too), DEL, and each byte that
 *     does not begin a well-formed UTF-8 sequence becomes \xNN;
 *   - the characters that act like controls although they are well formed
 *     (C1 controls U+0080-U+009F, U+2028/U+2029 line and paragraph
 *     separators, the bidirectional marks and overrides of Unicode UAX #9:
 *     U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069) become \uNNNN.
 *
 * Escaping is idempotent: its output escaped again is unchanged, so a string
 * escaped where it is stored (an event's cause) and again where it is logged
 * or answered reads the same everywhere. The price is that a backslash is
 * not itself escaped: "\x0a" in a log line is either an escaped newline or
 * those four characters as the peer sent them; neither can start a line.
 *
 * Output is cut only between two units (a character or a whole escape),
 * never inside one, and is always NUL-terminated when cap > 0. No function
 * here allocates, prints or fails.
 */
#ifndef VTL_UTIL_ESCAPE_H
#define VTL_UTIL_ESCAPE_H

#include <stddef.h>

/* Escape len bytes of src into dst (cap bytes with the NUL). Returns the
 * length the whole escaped text has, as snprintf does: the output was cut
 * when the result is >= cap. dst may be NULL when cap is 0. */
size_t esc_mem(char *dst, size_t cap, const void *src, size_t len);

/* esc_mem of a NUL-terminated string. */
size_t esc_str(char *dst, size_t cap, const char *src);

/* For quoting src in a message: esc_str, but when the escaped text does
 * not fit it ends in "..." so the reader knows it was cut. cap must be at
 * least 1. Returns dst, to be used as a printf argument. */
const char *esc_show(char *dst, size_t cap, const char *src);

/* Length (1 to 4) of the well-formed UTF-8 character at s (n bytes
 * available), or 0 when s does not begin one (RFC 3629 section 4). */
size_t esc_utf8_len(const void *s, size_t n);

#endif
