/*
 * test_regress.c - what fuzzing found, as unit tests that run in every
 * build (make check, with gcc, and under ASan/UBSan in the sanitizer
 * build). Each test names the behaviour; the input that found it is in
 * tests/fuzz/corpus/<target>/regress-*, replayed by scripts/fuzz.sh.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "s3/xml.h"

static struct xml_span span(const char *s)
{
	return (struct xml_span){s, s + strlen(s)};
}

/* fuzz_s3_xml, fuzz_s3_response: a value longer than the caller's buffer
 * left it unterminated, and s3_list's strlen() of an ETag ran off its
 * stack buffer (a server answering a 200-character ETag). */
Test(xml_regress, text_too_long_for_the_buffer_is_empty_and_terminated)
{
	char doc[512], out[96];
	snprintf(doc, sizeof(doc), "<Contents><ETag>\"%0200d\"</ETag></Contents>", 0);
	memset(out, 'A', sizeof(out));
	cr_assert_eq(xml_get(span(doc), "ETag", out, sizeof(out)), -1);
	cr_assert_str_eq(out, "");

	/* The same through each way a byte is decoded: CDATA, entities,
	 * numeric references. */
	static const char *const docs[] = {
	    "<K><![CDATA[0123456789abcdef]]></K>",
	    "<K>&amp;&amp;&amp;&amp;&amp;&amp;&amp;&amp;&amp;&amp;</K>",
	    "<K>&#x20AC;&#x20AC;&#x20AC;&#x20AC;</K>",
	};
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		char small[8];
		memset(small, 'A', sizeof(small));
		cr_assert_eq(xml_get(span(docs[i]), "K", small, sizeof(small)), -1, "%s", docs[i]);
		cr_assert_str_eq(small, "", "%s", docs[i]);
	}
	/* What fits is decoded whole. */
	cr_assert_eq(xml_get(span("<K>&lt;a&gt;</K>"), "K", out, sizeof(out)), 3);
	cr_assert_str_eq(out, "<a>");
}
