/*
 * The S3 XML reader (see xml.h for the subset and why it is enough).
 */
#include "config.h"

#include "s3/xml.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int name_char(char c)
{
	return c && !strchr(" \t\r\n/>", c);
}

/* At '<' of a tag: does its name (after an optional "prefix:") equal name? */
static int tag_is(const char *p, const char *end, const char *name, size_t nlen)
{
	const char *s = p;
	while (s < end && name_char(*s))
		s++;
	const char *colon = memchr(p, ':', (size_t)(s - p));
	if (colon)
		p = colon + 1;
	return (size_t)(s - p) == nlen && !memcmp(p, name, nlen);
}

/* Skip a comment, CDATA section, processing instruction or declaration
 * starting at '<'; returns the position after it, or p when it is a tag. */
static const char *skip_special(const char *p, const char *end)
{
	const char *close = NULL;
	if (end - p >= 4 && !memcmp(p, "<!--", 4))
		close = "-->";
	else if (end - p >= 9 && !memcmp(p, "<![CDATA[", 9))
		close = "]]>";
	else if (end - p >= 2 && (p[1] == '?' || p[1] == '!'))
		close = ">";
	if (!close)
		return p;
	size_t clen = strlen(close);
	for (const char *s = p + 2; s + clen <= end; s++)
		if (!memcmp(s, close, clen))
			return s + clen;
	return end;
}

int xml_next(struct xml_span in, const char **cursor, const char *name, struct xml_span *inner)
{
	size_t nlen = strlen(name);
	const char *p = *cursor ? *cursor : in.p;
	while (p < in.end) {
		const char *lt = memchr(p, '<', (size_t)(in.end - p));
		if (!lt)
			break;
		const char *after = skip_special(lt, in.end);
		if (after != lt) {
			p = after;
			continue;
		}
		if (lt + 1 < in.end && lt[1] != '/' && tag_is(lt + 1, in.end, name, nlen)) {
			const char *gt = memchr(lt, '>', (size_t)(in.end - lt));
			if (!gt)
				return 0;
			if (gt[-1] == '/') { /* <Name/> */
				inner->p = inner->end = gt + 1;
				*cursor = gt + 1;
				return 1;
			}
			/* Find the matching close tag, skipping CDATA and comments. */
			const char *s = gt + 1;
			while (s < in.end) {
				const char *c = memchr(s, '<', (size_t)(in.end - s));
				if (!c)
					return 0;
				const char *a = skip_special(c, in.end);
				if (a != c) {
					s = a;
					continue;
				}
				if (c + 1 < in.end && c[1] == '/' &&
				    tag_is(c + 2, in.end, name, nlen)) {
					const char *cgt = memchr(c, '>', (size_t)(in.end - c));
					if (!cgt)
						return 0;
					inner->p = gt + 1;
					inner->end = c;
					*cursor = cgt + 1;
					return 1;
				}
				s = c + 1;
			}
			return 0;
		}
		p = lt + 1;
	}
	return 0;
}

int xml_find(struct xml_span in, const char *name, struct xml_span *inner)
{
	const char *cur = NULL;
	return xml_next(in, &cur, name, inner);
}

static int put_utf8(char *out, size_t outsz, size_t *o, uint32_t cp)
{
	char buf[4];
	size_t n;
	if (cp < 0x80) {
		buf[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		buf[0] = (char)(0xc0 | cp >> 6);
		buf[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		buf[0] = (char)(0xe0 | cp >> 12);
		buf[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		buf[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		buf[0] = (char)(0xf0 | cp >> 18);
		buf[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		buf[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		buf[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	if (*o + n >= outsz)
		return -1;
	memcpy(out + *o, buf, n);
	*o += n;
	return 0;
}

/* The text did not fit: out holds "" rather than a prefix that a caller
 * could take for the value, and never bytes without a terminator. */
static int too_long(char *out)
{
	out[0] = 0;
	return -1;
}

int xml_text(struct xml_span in, char *out, size_t outsz)
{
	static const struct {
		const char *ent;
		char c;
	} ents[] = {
	    {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
	size_t o = 0;
	if (!outsz)
		return -1;
	out[0] = 0;
	const char *p = in.p;
	while (p < in.end) {
		if (*p == '<') {
			if (in.end - p >= 9 && !memcmp(p, "<![CDATA[", 9)) {
				const char *s = p + 9;
				while (s + 3 <= in.end && memcmp(s, "]]>", 3))
					s++;
				size_t n = (size_t)(s - (p + 9));
				if (o + n >= outsz)
					return too_long(out);
				memcpy(out + o, p + 9, n);
				o += n;
				p = s + 3 <= in.end ? s + 3 : in.end;
				continue;
			}
			const char *a = skip_special(p, in.end);
			p = a != p ? a : p + 1;
			continue;
		}
		if (*p == '&') {
			int done = 0;
			for (size_t i = 0; i < sizeof(ents) / sizeof(ents[0]); i++) {
				size_t n = strlen(ents[i].ent);
				if ((size_t)(in.end - p) >= n && !memcmp(p, ents[i].ent, n)) {
					if (o + 1 >= outsz)
						return too_long(out);
					out[o++] = ents[i].c;
					p += n;
					done = 1;
					break;
				}
			}
			if (!done && in.end - p > 3 && p[1] == '#') {
				const char *semi = memchr(p, ';', (size_t)(in.end - p));
				if (semi) {
					char num[16];
					size_t n = (size_t)(semi - p - 2);
					if (n > 0 && n < sizeof(num)) {
						memcpy(num, p + 2, n);
						num[n] = 0;
						unsigned long cp = num[0] == 'x'
								       ? strtoul(num + 1, NULL, 16)
								       : strtoul(num, NULL, 10);
						if (cp > 0 && cp <= 0x10ffff) {
							if (put_utf8(out, outsz, &o, (uint32_t)cp))
								return too_long(out);
							p = semi + 1;
							done = 1;
						}
					}
				}
			}
			if (done)
				continue;
		}
		if (o + 1 >= outsz)
			return too_long(out);
		out[o++] = *p++;
	}
	out[o] = 0;
	return (int)o;
}

int xml_get(struct xml_span in, const char *name, char *out, size_t outsz)
{
	struct xml_span inner;
	if (outsz)
		out[0] = 0;
	if (!xml_find(in, name, &inner))
		return 0;
	return xml_text(inner, out, outsz);
}

int xml_escape(const char *s, char *out, size_t outsz)
{
	size_t o = 0;
	for (; *s; s++) {
		const char *rep = NULL;
		switch (*s) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '"':
			rep = "&quot;";
			break;
		case '\'':
			rep = "&apos;";
			break;
		}
		size_t n = rep ? strlen(rep) : 1;
		if (o + n >= outsz)
			return -1;
		if (rep)
			memcpy(out + o, rep, n);
		else
			out[o] = *s;
		o += n;
	}
	if (o >= outsz)
		return -1;
	out[o] = 0;
	return (int)o;
}
