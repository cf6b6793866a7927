/*
 * escape.c - see escape.h for the rule. One pass over the input, one unit
 * (a byte, a character or an escape) at a time; a unit that does not fit
 * stops the output there, while the count goes on to the end so the caller
 * learns the full length.
 */
#include "config.h"

#include "escape.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* The longest unit written: "\uNNNN". */
enum { UNIT_MAX = 6 };

static const char hex[] = "0123456789abcdef";

size_t esc_utf8_len(const void *s, size_t n)
{
	const unsigned char *p = s;
	if (n == 0)
		return 0;
	unsigned char b = p[0];
	/* RFC 3629 section 4, UTF8-2 to UTF8-4: the second byte's range
	 * depends on the first (this is what rules out overlong forms,
	 * surrogates and code points above U+10FFFF). */
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len;
	if (b < 0x80)
		return 1;
	if (b >= 0xc2 && b <= 0xdf) {
		len = 2;
	} else if (b >= 0xe0 && b <= 0xef) {
		len = 3;
		if (b == 0xe0)
			lo = 0xa0;
		else if (b == 0xed)
			hi = 0x9f;
	} else if (b >= 0xf0 && b <= 0xf4) {
		len = 4;
		if (b == 0xf0)
			lo = 0x90;
		else if (b == 0xf4)
			hi = 0x8f;
	} else {
		return 0; /* 0x80-0xc1 (continuation, overlong lead), 0xf5-0xff */
	}
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return len;
}

static uint32_t decode(const unsigned char *p, size_t len)
{
	static const unsigned char lead_mask[] = {0, 0x7f, 0x1f, 0x0f, 0x07};
	uint32_t cp = p[0] & lead_mask[len];
	for (size_t i = 1; i < len; i++)
		cp = cp << 6 | (p[i] & 0x3fu);
	return cp;
}

/* Well formed, yet a control in effect (escape.h lists them). */
static bool acts_as_control(uint32_t cp)
{
	return (cp >= 0x80 && cp <= 0x9f) || cp == 0x061c || cp == 0x200e || cp == 0x200f ||
	       (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

/* The escaped form of the unit at p (n > 0 bytes left) into out; *used
 * gets the input bytes it stands for. Returns its length. */
static size_t unit(const unsigned char *p, size_t n, char out[UNIT_MAX], size_t *used)
{
	unsigned char b = p[0];
	if (b >= 0x20 && b < 0x7f) {
		*used = 1;
		out[0] = (char)b;
		return 1;
	}
	size_t len = b < 0x80 ? 0 : esc_utf8_len(p, n);
	if (len == 0) {
		*used = 1;
		out[0] = '\\';
		out[1] = 'x';
		out[2] = hex[b >> 4];
		out[3] = hex[b & 15];
		return 4;
	}
	*used = len;
	uint32_t cp = decode(p, len);
	if (acts_as_control(cp)) {
		out[0] = '\\';
		out[1] = 'u';
		for (int i = 0; i < 4; i++)
			out[2 + i] = hex[(cp >> (12 - 4 * i)) & 15];
		return 6;
	}
	memcpy(out, p, len);
	return len;
}

size_t esc_mem(char *dst, size_t cap, const void *src, size_t len)
{
	const unsigned char *p = src;
	size_t total = 0, o = 0;
	bool cut = false;
	for (size_t i = 0; i < len;) {
		char u[UNIT_MAX];
		size_t used;
		size_t ulen = unit(p + i, len - i, u, &used);
		/* Once a unit did not fit, none after it is written either,
		 * even a shorter one: the output is a prefix. */
		if (!cut && o + ulen < cap) {
			memcpy(dst + o, u, ulen);
			o += ulen;
		} else {
			cut = true;
		}
		total += ulen;
		i += used;
	}
	if (cap)
		dst[o] = '\0';
	return total;
}

size_t esc_str(char *dst, size_t cap, const char *src)
{
	return esc_mem(dst, cap, src, strlen(src));
}

const char *esc_show(char *dst, size_t cap, const char *src)
{
	size_t len = strlen(src);
	if (esc_mem(dst, cap, src, len) < cap || cap < 4)
		return dst;
	/* Again with room for "..." after the last unit that fits. */
	esc_mem(dst, cap - 3, src, len);
	memcpy(dst + strlen(dst), "...", 4);
	return dst;
}
