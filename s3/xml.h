/*
 * Just enough XML to read S3 responses (W3C XML 1.0, the subset S3 sends):
 * elements with or without attributes, self-closing elements, the XML
 * declaration, comments, CDATA and the five predefined entities plus
 * numeric character references. S3 never nests an element inside one of
 * the same name, which is what lets xml_next() find an element's end by
 * looking for the first matching close tag.
 *
 * A span is a [p, end) range of the document; nothing is copied until
 * xml_text() decodes an element's text into a caller buffer.
 */
#ifndef VTL_S3_XML_H
#define VTL_S3_XML_H

#include <stddef.h>

struct xml_span {
	const char *p, *end;
};

/* Find the next element named `name` (no namespace prefix) that starts at or
 * after *cursor inside `in`. On success fills *inner with its content,
 * advances *cursor past its end and returns 1; returns 0 when there is none. */
int xml_next(struct xml_span in, const char **cursor, const char *name, struct xml_span *inner);

/* The first element `name` inside `in` (1 found, 0 not). */
int xml_find(struct xml_span in, const char *name, struct xml_span *inner);

/* Decode the text of `in` (entities, CDATA) into out (always NUL-terminated).
 * Returns the decoded length, or -1 when it did not fit; out is then "". */
int xml_text(struct xml_span in, char *out, size_t outsz);

/* xml_find + xml_text; "" and 0 when the element is missing. */
int xml_get(struct xml_span in, const char *name, char *out, size_t outsz);

/* XML-escape s into out; returns the length or -1 when it did not fit. */
int xml_escape(const char *s, char *out, size_t outsz);

#endif
