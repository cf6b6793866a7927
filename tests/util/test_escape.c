/*
 * test_escape.c - util/escape.c: what passes, what is escaped and how, and
 * that a bounded output is a prefix cut between two units. The byte
 * sequences are those of RFC 3629 section 4 and of Markus Kuhn's UTF-8
 * decoder stress test (overlong forms, surrogates, truncated sequences).
 */
#include "config.h"

#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "util/escape.h"

static char out[4096];

/* esc_mem of a literal that may hold NULs (sizeof - 1 bytes). */
#define ESC(lit) (esc_mem(out, sizeof(out), lit, sizeof(lit) - 1), out)

Test(escape, printable_ascii_and_the_backslash_pass_unchanged)
{
	cr_expect_str_eq(ESC("iqn.1993-08.org.debian:01:abc ~!@#$%^&*()"),
			 "iqn.1993-08.org.debian:01:abc ~!@#$%^&*()");
	cr_expect_str_eq(ESC("C:\\tape\\x41"), "C:\\tape\\x41");
	cr_expect_eq(esc_str(out, sizeof(out), ""), 0u);
	cr_expect_str_eq(out, "");
}

Test(escape, every_c0_control_and_del_become_hex_escapes)
{
	cr_expect_str_eq(ESC("a\nb\rc\td"), "a\\x0ab\\x0dc\\x09d");
	cr_expect_str_eq(ESC("\x1b[31mred\x1b[0m"), "\\x1b[31mred\\x1b[0m");
	cr_expect_str_eq(ESC("\x7f\x01\x1f"), "\\x7f\\x01\\x1f");
	for (unsigned b = 0; b < 0x20; b++) {
		char in[1] = {(char)b}, want[8];
		snprintf(want, sizeof(want), "\\x%02x", b);
		esc_mem(out, sizeof(out), in, 1);
		cr_expect_str_eq(out, want, "byte 0x%02x", b);
	}
}

Test(escape, a_nul_inside_a_buffer_is_escaped_and_ends_a_string)
{
	cr_expect_str_eq(ESC("a\0b"), "a\\x00b");
	cr_expect_eq(esc_str(out, sizeof(out), "a\0b"), 1u);
	cr_expect_str_eq(out, "a");
}

Test(escape, well_formed_characters_of_two_three_and_four_bytes_pass)
{
	cr_expect_str_eq(ESC("FZ\xc3\xa9\xc3\xa9\xc3\xa9"), "FZ\xc3\xa9\xc3\xa9\xc3\xa9");
	cr_expect_str_eq(ESC("\xe2\x82\xac 5"), "\xe2\x82\xac 5");     /* U+20AC */
	cr_expect_str_eq(ESC("\xf0\x9f\x98\x80"), "\xf0\x9f\x98\x80"); /* U+1F600 */
	cr_expect_str_eq(ESC("\xf4\x8f\xbf\xbf"), "\xf4\x8f\xbf\xbf"); /* U+10FFFF */
	cr_expect_str_eq(ESC("\xc2\xa0\xdf\xbf"), "\xc2\xa0\xdf\xbf"); /* U+00A0, U+07FF */
	cr_expect_str_eq(ESC("\xe0\xa0\x80\xef\xbf\xbd"),
			 "\xe0\xa0\x80\xef\xbf\xbd"); /* U+0800, U+FFFD */
	cr_expect_str_eq(ESC("\xed\x9f\xbf\xee\x80\x80"),
			 "\xed\x9f\xbf\xee\x80\x80"); /* around the surrogates */
}

Test(escape, overlong_forms_are_escaped_byte_by_byte)
{
	cr_expect_str_eq(ESC("\xc0\xaf"), "\\xc0\\xaf"); /* '/' in two bytes */
	cr_expect_str_eq(ESC("\xc1\xbf"), "\\xc1\\xbf");
	cr_expect_str_eq(ESC("\xe0\x80\xaf"), "\\xe0\\x80\\xaf");
	cr_expect_str_eq(ESC("\xe0\x9f\xbf"), "\\xe0\\x9f\\xbf"); /* U+07FF in three */
	cr_expect_str_eq(ESC("\xf0\x80\x80\xaf"), "\\xf0\\x80\\x80\\xaf");
	cr_expect_str_eq(ESC("\xf0\x8f\xbf\xbf"), "\\xf0\\x8f\\xbf\\xbf");
	cr_expect_str_eq(ESC("\xc0\x80"), "\\xc0\\x80"); /* Java's NUL */
}

Test(escape, surrogates_and_code_points_above_u10ffff_are_escaped)
{
	cr_expect_str_eq(ESC("\xed\xa0\x80"), "\\xed\\xa0\\x80"); /* U+D800 */
	cr_expect_str_eq(ESC("\xed\xbf\xbf"), "\\xed\\xbf\\xbf"); /* U+DFFF */
	cr_expect_str_eq(ESC("\xed\xa0\xbd\xed\xb8\x80"),
			 "\\xed\\xa0\\xbd\\xed\\xb8\\x80");		   /* CESU-8 U+1F600 */
	cr_expect_str_eq(ESC("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80"); /* U+110000 */
	cr_expect_str_eq(ESC("\xf5\x80\x80\x80"), "\\xf5\\x80\\x80\\x80");
	cr_expect_str_eq(ESC("\xfe\xff"), "\\xfe\\xff");
}

Test(escape, truncated_sequences_and_lone_continuation_bytes_are_escaped)
{
	cr_expect_str_eq(ESC("ab\xc3"), "ab\\xc3");
	cr_expect_str_eq(ESC("\xe2\x82"), "\\xe2\\x82");
	cr_expect_str_eq(ESC("\xe2\x82Z"), "\\xe2\\x82Z");
	cr_expect_str_eq(ESC("\xf0\x9f\x98x\xc3\xa9"), "\\xf0\\x9f\\x98x\xc3\xa9");
	cr_expect_str_eq(ESC("\x80\xbf"), "\\x80\\xbf");
	/* A lead byte followed by a new lead byte: the second starts over. */
	cr_expect_str_eq(ESC("\xc3\xc3\xa9"), "\\xc3\xc3\xa9");
}

Test(escape, well_formed_characters_that_act_as_controls_are_escaped)
{
	/* C1 CSI, which some terminals obey as ESC [ does. */
	cr_expect_str_eq(ESC("\xc2\x9b[31m"), "\\u009b[31m");
	cr_expect_str_eq(ESC("\xc2\x85"), "\\u0085"); /* NEL */
	cr_expect_str_eq(ESC("a\xe2\x80\xa8z\xe2\x80\xa9"), "a\\u2028z\\u2029");
	cr_expect_str_eq(ESC("\xe2\x80\xaezyx"), "\\u202ezyx"); /* RLO */
	cr_expect_str_eq(ESC("\xe2\x81\xa6\xe2\x81\xa9"), "\\u2066\\u2069");
	cr_expect_str_eq(ESC("\xd8\x9c\xe2\x80\x8f"), "\\u061c\\u200f");
}

Test(escape, utf8_len_follows_rfc_3629)
{
	cr_expect_eq(esc_utf8_len("A", 1), 1u);
	cr_expect_eq(esc_utf8_len("\n", 1), 1u);
	cr_expect_eq(esc_utf8_len("\xc3\xa9", 2), 2u);
	cr_expect_eq(esc_utf8_len("\xc3\xa9", 1), 0u, "cut short");
	cr_expect_eq(esc_utf8_len("\xe2\x82\xac", 3), 3u);
	cr_expect_eq(esc_utf8_len("\xf0\x9f\x98\x80", 4), 4u);
	cr_expect_eq(esc_utf8_len("\xf0\x9f\x98\x80", 3), 0u);
	cr_expect_eq(esc_utf8_len("\xc0\x80", 2), 0u);
	cr_expect_eq(esc_utf8_len("\xed\xa0\x80", 3), 0u);
	cr_expect_eq(esc_utf8_len("\xf4\x90\x80\x80", 4), 0u);
	cr_expect_eq(esc_utf8_len("\x80", 1), 0u);
	cr_expect_eq(esc_utf8_len("", 0), 0u);
}

/*
 * "A" ESC "é" U+2028 0xff: units of 1, 4, 2, 6 and 4 bytes out. For every
 * capacity the output is the longest run of whole units that leaves room
 * for the NUL, and the return value is the full length.
 */
Test(escape, a_bounded_output_is_cut_between_units_never_inside_one)
{
	static const char in[] = "A\x1b\xc3\xa9\xe2\x80\xa8\xff";
	static const char full[] = "A\\x1b\xc3\xa9\\u2028\\xff";
	static const size_t bound[] = {0, 1, 5, 7, 13, 17};
	cr_assert_eq(esc_mem(NULL, 0, in, sizeof(in) - 1), 17u);
	for (size_t cap = 1; cap <= 20; cap++) {
		char buf[32];
		memset(buf, '#', sizeof(buf));
		size_t want = 0;
		for (size_t i = 0; i < sizeof(bound) / sizeof(bound[0]); i++)
			if (bound[i] < cap)
				want = bound[i];
		cr_expect_eq(esc_mem(buf, cap, in, sizeof(in) - 1), 17u, "cap %zu", cap);
		cr_expect_eq(strlen(buf), want, "cap %zu: '%s'", cap, buf);
		cr_expect_eq(memcmp(buf, full, want), 0, "cap %zu", cap);
		cr_expect_eq(buf[cap], '#', "cap %zu: wrote past the end", cap);
	}
}

Test(escape, a_unit_that_does_not_fit_stops_the_output_even_if_a_later_one_would)
{
	char buf[4];
	/* "\x1b" needs 4 bytes + NUL; the "z" after it would fit but must not
	 * appear, or the output would not be a prefix. */
	esc_mem(buf, sizeof(buf), "a\x1bz", 3);
	cr_expect_str_eq(buf, "a");
}

Test(escape, show_marks_a_cut_with_dots_and_stays_within_its_buffer)
{
	char buf[16];
	cr_expect_str_eq(esc_show(buf, sizeof(buf), "ABC123L8"), "ABC123L8");
	cr_expect_str_eq(esc_show(buf, sizeof(buf), "ABCDEFGHIJKLMNOP"), "ABCDEFGHIJKL...");
	/* Five 'é' are ten bytes; the cut falls between two of them. */
	cr_expect_str_eq(esc_show(buf, 12, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"),
			 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9...");
	cr_expect_str_eq(esc_show(buf, 10, "x\n\n\n"), "x\\x0a...");
	cr_expect_str_eq(esc_show(buf, 3, "abcdef"), "ab");
	cr_expect_str_eq(esc_show(buf, 1, "abcdef"), "");
}

/* The output of anything: well-formed UTF-8, no control, and unchanged by
 * a second escape. */
static void expect_safe(const unsigned char *in, size_t n)
{
	char a[1024], b[1024];
	size_t la = esc_mem(a, sizeof(a), in, n);
	cr_assert_lt(la, sizeof(a));
	for (size_t i = 0; i < la;) {
		unsigned char c = (unsigned char)a[i];
		cr_assert(c >= 0x20 && c != 0x7f, "control 0x%02x in output", c);
		size_t k = esc_utf8_len(a + i, la - i);
		cr_assert_neq(k, 0u, "ill-formed UTF-8 in output at %zu", i);
		if (k == 2)
			cr_assert(!(c == 0xc2 && (unsigned char)a[i + 1] < 0xa0), "C1 in output");
		i += k;
	}
	size_t lb = esc_mem(b, sizeof(b), a, la);
	cr_assert_eq(lb, la);
	cr_assert_eq(memcmp(a, b, la), 0, "escaping is not idempotent");
}

Test(escape, any_input_comes_out_safe_and_escaping_twice_changes_nothing)
{
	unsigned char in[4];
	for (unsigned x = 0; x < 0x10000; x++) {
		in[0] = (unsigned char)(x >> 8);
		in[1] = (unsigned char)x;
		expect_safe(in, 2);
	}
	/* Pseudo-random buffers, biased towards bytes that start sequences. */
	uint32_t s = 12345;
	unsigned char buf[96];
	for (int round = 0; round < 20000; round++) {
		for (size_t i = 0; i < sizeof(buf); i++) {
			s = s * 1103515245u + 12345u;
			unsigned v = s >> 16;
			buf[i] = (unsigned char)(v & 1 ? 0x80 | (v >> 1) : v >> 1);
		}
		expect_safe(buf, sizeof(buf));
	}
}
