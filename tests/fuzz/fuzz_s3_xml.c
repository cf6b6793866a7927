/*
 * fuzz_s3_xml.c - the XML reader of S3 answers (s3/xml.c): the input is a
 * document, walked the way store_s3.c walks ListObjectsV2, ListParts,
 * ListMultipartUploads, InitiateMultipartUpload, CopyObject and error
 * answers, with destination buffers both large and too small; then
 * escaped as CompleteMultipartUpload escapes ETags.
 * fuzz_s3_response reaches the same code through HTTP.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3/xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* xml.h: the text is always NUL-terminated, even when it did not fit. */
static void get_all(struct xml_span in, const char *const *names, size_t n)
{
	char small[8], big[2048];
	for (size_t i = 0; i < n; i++) {
		memset(big, 'A', sizeof(big));
		memset(small, 'A', sizeof(small));
		int a = xml_get(in, names[i], big, sizeof(big));
		int b = xml_get(in, names[i], small, sizeof(small));
		if ((a >= 0 && (size_t)a >= sizeof(big)) || (b >= 0 && (size_t)b >= sizeof(small)))
			abort();
		if (!memchr(big, 0, sizeof(big)) || !memchr(small, 0, sizeof(small))) {
			fprintf(stderr, "xml_get of <%s> left its buffer unterminated\n", names[i]);
			abort();
		}
	}
}

static void walk(struct xml_span doc, const char *elem, const char *const *names, size_t n)
{
	const char *cur = NULL;
	struct xml_span it;
	for (int i = 0; i < 10000 && xml_next(doc, &cur, elem, &it); i++) {
		if (it.p < doc.p || it.end > doc.end || it.p > it.end)
			abort();
		get_all(it, names, n);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Exactly the document's bytes: no terminator to lean on. */
	char *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	struct xml_span doc = {buf, buf + size};

	static const char *const top[] = {"IsTruncated",
					  "NextContinuationToken",
					  "NextPartNumberMarker",
					  "NextKeyMarker",
					  "NextUploadIdMarker",
					  "UploadId",
					  "Code",
					  "Message",
					  "RequestId",
					  "ETag"};
	get_all(doc, top, sizeof(top) / sizeof(top[0]));
	static const char *const contents[] = {"Key", "Size", "ETag", "StorageClass",
					       "LastModified"};
	walk(doc, "Contents", contents, 5);
	static const char *const prefixes[] = {"Prefix"};
	walk(doc, "CommonPrefixes", prefixes, 1);
	static const char *const part[] = {"PartNumber", "Size", "ETag"};
	walk(doc, "Part", part, 3);
	static const char *const upload[] = {"Key", "UploadId", "Initiated"};
	walk(doc, "Upload", upload, 3);
	struct xml_span e;
	if (xml_find(doc, "Error", &e)) {
		static const char *const err[] = {"Code", "Message", "RequestId"};
		get_all(e, err, 3);
	}
	static const char *const results[] = {"CopyObjectResult", "CopyPartResult",
					      "CompleteMultipartUploadResult"};
	for (size_t i = 0; i < 3; i++)
		if (xml_find(doc, results[i], &e))
			get_all(e, (const char *const[]){"ETag"}, 1);

	/* The input as a string to escape, into room for all of it and not. */
	char *s = malloc(size + 1);
	if (s) {
		memcpy(s, data, size);
		s[size] = 0;
		char esc[64];
		char *big = malloc(6 * size + 1);
		if (big && xml_escape(s, big, 6 * size + 1) < 0)
			abort(); /* six bytes ("&quot;") per byte always fit */
		xml_escape(s, esc, sizeof(esc));
		free(big);
		free(s);
	}
	free(buf);
	return 0;
}
