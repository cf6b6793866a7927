/*
 * SigV4 against AWS's published examples, never against values computed
 * here:
 *  - the SigV4 test suite (AWS General Reference, "Signature Version 4 test
 *    suite": AKIDEXAMPLE, 20150830T123600Z, us-east-1, service "service"),
 *    the cases where S3's single encoding and the generic rules agree;
 *  - the four examples of the S3 API Reference, "Signature Calculations for
 *    the Authorization Header: Transferring Payload in a Single Chunk"
 *    (AKIAIOSFODNN7EXAMPLE, 20130524T000000Z, us-east-1, examplebucket).
 */
#include "config.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "s3/sigv4.h"

#define SUITE_DATE "20150830T123600Z"
#define SUITE_HOST "example.amazonaws.com"
#define SUITE_PREFIX                                                                               \
	"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "

static const struct sigv4_key suite_key = {
    .access_key = "AKIDEXAMPLE",
    .secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    .region = "us-east-1",
    .service = "service",
};

static const struct sigv4_key s3_key = {
    .access_key = "AKIAIOSFODNN7EXAMPLE",
    .secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    .region = "us-east-1",
    .service = "s3",
};

static void sign(const char *method, const char *path, const struct sigv4_pair *q, size_t nq,
		 const struct sigv4_pair *h, size_t nh, const char *payload_hash,
		 const struct sigv4_key *key, const char *date, char *auth, struct sigv4_debug *dbg)
{
	struct sigv4_request req = {
	    .method = method,
	    .path = path,
	    .query = q,
	    .nquery = nq,
	    .headers = h,
	    .nheaders = nh,
	    .payload_hash = payload_hash,
	};
	cr_assert_eq(sigv4_sign(&req, key, date, auth, 512, dbg), 0);
}

static void suite_case(const char *method, const char *path, const struct sigv4_pair *q, size_t nq,
		       const char *expect)
{
	const struct sigv4_pair h[] = {{"Host", SUITE_HOST}, {"X-Amz-Date", SUITE_DATE}};
	char auth[512];
	sign(method, path, q, nq, h, 2, SIGV4_EMPTY_SHA256, &suite_key, SUITE_DATE, auth, NULL);
	cr_assert_str_eq(auth, expect);
}

Test(sigv4_suite, get_vanilla)
{
	suite_case("GET", "/", NULL, 0,
		   SUITE_PREFIX
		   "SignedHeaders=host;x-amz-date, "
		   "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

Test(sigv4_suite, get_vanilla_canonical_request_is_the_published_one)
{
	const struct sigv4_pair h[] = {{"Host", SUITE_HOST}, {"X-Amz-Date", SUITE_DATE}};
	char auth[512];
	struct sigv4_debug dbg = {0};
	sign("GET", "/", NULL, 0, h, 2, SIGV4_EMPTY_SHA256, &suite_key, SUITE_DATE, auth, &dbg);
	cr_assert_str_eq(dbg.canonical_request,
			 "GET\n/\n\nhost:example.amazonaws.com\n"
			 "x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" SIGV4_EMPTY_SHA256);
	cr_assert_str_eq(
	    dbg.string_to_sign,
	    "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
	    "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
	free(dbg.canonical_request);
	free(dbg.string_to_sign);
}

Test(sigv4_suite, post_vanilla)
{
	suite_case("POST", "/", NULL, 0,
		   SUITE_PREFIX
		   "SignedHeaders=host;x-amz-date, "
		   "Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
}

Test(sigv4_suite, get_vanilla_query_order_key_case_sorts_names)
{
	const struct sigv4_pair q[] = {{"Param2", "value2"}, {"Param1", "value1"}};
	suite_case("GET", "/", q, 2,
		   SUITE_PREFIX
		   "SignedHeaders=host;x-amz-date, "
		   "Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
}

Test(sigv4_suite, get_vanilla_query_order_key_sorts_equal_names_by_value)
{
	const struct sigv4_pair q[] = {{"Param1", "value2"}, {"Param1", "Value1"}};
	suite_case("GET", "/", q, 2,
		   SUITE_PREFIX
		   "SignedHeaders=host;x-amz-date, "
		   "Signature=eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1");
}

Test(sigv4_suite, get_vanilla_empty_query_key)
{
	const struct sigv4_pair q[] = {{"Param1", "value1"}};
	suite_case("GET", "/", q, 1,
		   SUITE_PREFIX
		   "SignedHeaders=host;x-amz-date, "
		   "Signature=a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb");
}

Test(sigv4_suite, post_vanilla_query)
{
	const struct sigv4_pair q[] = {{"Param1", "value1"}};
	suite_case("POST", "/", q, 1,
		   SUITE_PREFIX
		   "SignedHeaders=host;x-amz-date, "
		   "Signature=28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11");
}

#define UNRESERVED "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

Test(sigv4_suite, get_vanilla_query_unreserved_is_not_encoded)
{
	const struct sigv4_pair q[] = {{UNRESERVED, UNRESERVED}};
	suite_case("GET", "/", q, 1,
		   SUITE_PREFIX
		   "SignedHeaders=host;x-amz-date, "
		   "Signature=9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197");
}

Test(sigv4_suite, get_unreserved_path)
{
	suite_case("GET", "/" UNRESERVED, NULL, 0,
		   SUITE_PREFIX
		   "SignedHeaders=host;x-amz-date, "
		   "Signature=07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f");
}

Test(sigv4_suite, get_utf8_path_is_percent_encoded)
{
	suite_case("GET", "/\xe1\x88\xb4", NULL, 0,
		   SUITE_PREFIX
		   "SignedHeaders=host;x-amz-date, "
		   "Signature=8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85");
}

Test(sigv4_suite, get_vanilla_utf8_query)
{
	const struct sigv4_pair q[] = {{"\xe1\x88\xb4", "bar"}};
	suite_case("GET", "/", q, 1,
		   SUITE_PREFIX
		   "SignedHeaders=host;x-amz-date, "
		   "Signature=2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04");
}

Test(sigv4_suite, get_space_unnormalized_encodes_space_as_percent20)
{
	suite_case("GET", "/example space/", NULL, 0,
		   SUITE_PREFIX
		   "SignedHeaders=host;x-amz-date, "
		   "Signature=652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741");
}

Test(sigv4_suite, get_header_value_trim_collapses_spaces)
{
	const struct sigv4_pair h[] = {{"Host", SUITE_HOST},
				       {"My-Header1", " value1"},
				       {"My-Header2", " \"a   b   c\""},
				       {"X-Amz-Date", SUITE_DATE}};
	char auth[512];
	sign("GET", "/", NULL, 0, h, 4, SIGV4_EMPTY_SHA256, &suite_key, SUITE_DATE, auth, NULL);
	cr_assert_str_eq(
	    auth, SUITE_PREFIX
	    "SignedHeaders=host;my-header1;my-header2;x-amz-date, "
	    "Signature=acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736");
}

Test(sigv4_suite, get_header_key_duplicate_joins_values_in_order)
{
	const struct sigv4_pair h[] = {{"Host", SUITE_HOST},
				       {"My-Header1", "value2"},
				       {"My-Header1", "value2"},
				       {"My-Header1", "value1"},
				       {"X-Amz-Date", SUITE_DATE}};
	char auth[512];
	sign("GET", "/", NULL, 0, h, 5, SIGV4_EMPTY_SHA256, &suite_key, SUITE_DATE, auth, NULL);
	cr_assert_str_eq(
	    auth, SUITE_PREFIX
	    "SignedHeaders=host;my-header1;x-amz-date, "
	    "Signature=c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea");
}

Test(sigv4_suite, post_x_www_form_urlencoded_signs_the_body_hash)
{
	const struct sigv4_pair h[] = {{"Content-Type", "application/x-www-form-urlencoded"},
				       {"Host", SUITE_HOST},
				       {"X-Amz-Date", SUITE_DATE}};
	char auth[512], body_hash[65];
	sigv4_sha256_hex("Param1=value1", 13, body_hash);
	cr_assert_str_eq(body_hash,
			 "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e");
	sign("POST", "/", NULL, 0, h, 3, body_hash, &suite_key, SUITE_DATE, auth, NULL);
	cr_assert_str_eq(
	    auth, SUITE_PREFIX
	    "SignedHeaders=content-type;host;x-amz-date, "
	    "Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a");
}

Test(sigv4_suite, get_vanilla_with_session_token_signs_the_token)
{
	const struct sigv4_pair h[] = {
	    {"Host", SUITE_HOST},
	    {"X-Amz-Date", SUITE_DATE},
	    {"X-Amz-Security-Token",
	     "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"}};
	char auth[512];
	sign("GET", "/", NULL, 0, h, 3, SIGV4_EMPTY_SHA256, &suite_key, SUITE_DATE, auth, NULL);
	cr_assert_str_eq(
	    auth, SUITE_PREFIX
	    "SignedHeaders=host;x-amz-date;x-amz-security-token, "
	    "Signature=07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8");
}

/* --- S3 API Reference examples ------------------------------------------ */

#define S3_DATE "20130524T000000Z"
#define S3_HOST "examplebucket.s3.amazonaws.com"
#define S3_CRED                                                                                    \
	"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "

Test(sigv4_s3, get_object_with_range)
{
	const struct sigv4_pair h[] = {{"Host", S3_HOST},
				       {"Range", "bytes=0-9"},
				       {"x-amz-content-sha256", SIGV4_EMPTY_SHA256},
				       {"x-amz-date", S3_DATE}};
	char auth[512];
	struct sigv4_debug dbg = {0};
	sign("GET", "/test.txt", NULL, 0, h, 4, SIGV4_EMPTY_SHA256, &s3_key, S3_DATE, auth, &dbg);
	cr_assert_str_eq(dbg.string_to_sign,
			 "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
			 "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
	cr_assert_str_eq(
	    auth,
	    S3_CRED "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
		    "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
	free(dbg.canonical_request);
	free(dbg.string_to_sign);
}

Test(sigv4_s3, put_object_encodes_dollar_in_the_key)
{
	char body_hash[65];
	sigv4_sha256_hex("Welcome to Amazon S3.", 21, body_hash);
	cr_assert_str_eq(body_hash,
			 "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
	const struct sigv4_pair h[] = {{"Date", "Fri, 24 May 2013 00:00:00 GMT"},
				       {"Host", S3_HOST},
				       {"x-amz-content-sha256", body_hash},
				       {"x-amz-date", S3_DATE},
				       {"x-amz-storage-class", "REDUCED_REDUNDANCY"}};
	char auth[512];
	struct sigv4_debug dbg = {0};
	sign("PUT", "/test$file.text", NULL, 0, h, 5, body_hash, &s3_key, S3_DATE, auth, &dbg);
	cr_assert(!strncmp(dbg.canonical_request, "PUT\n/test%24file.text\n\n", 23));
	cr_assert_str_eq(dbg.string_to_sign,
			 "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
			 "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d");
	cr_assert_str_eq(
	    auth,
	    S3_CRED "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, "
		    "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
	free(dbg.canonical_request);
	free(dbg.string_to_sign);
}

Test(sigv4_s3, get_bucket_lifecycle_signs_a_valueless_parameter_as_name_equals)
{
	const struct sigv4_pair q[] = {{"lifecycle", NULL}};
	const struct sigv4_pair h[] = {{"Host", S3_HOST},
				       {"x-amz-content-sha256", SIGV4_EMPTY_SHA256},
				       {"x-amz-date", S3_DATE}};
	char auth[512];
	struct sigv4_debug dbg = {0};
	sign("GET", "/", q, 1, h, 3, SIGV4_EMPTY_SHA256, &s3_key, S3_DATE, auth, &dbg);
	cr_assert(!strncmp(dbg.canonical_request, "GET\n/\nlifecycle=\n", 17));
	cr_assert_str_eq(dbg.string_to_sign,
			 "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
			 "9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca");
	cr_assert_str_eq(
	    auth,
	    S3_CRED "SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
		    "Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
	free(dbg.canonical_request);
	free(dbg.string_to_sign);
}

Test(sigv4_s3, get_bucket_list_objects_sorts_the_query)
{
	const struct sigv4_pair q[] = {{"prefix", "J"}, {"max-keys", "2"}};
	const struct sigv4_pair h[] = {{"Host", S3_HOST},
				       {"x-amz-content-sha256", SIGV4_EMPTY_SHA256},
				       {"x-amz-date", S3_DATE}};
	char auth[512];
	sign("GET", "/", q, 2, h, 3, SIGV4_EMPTY_SHA256, &s3_key, S3_DATE, auth, NULL);
	cr_assert_str_eq(
	    auth,
	    S3_CRED "SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
		    "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

/* --- encoding helpers ---------------------------------------------------- */

Test(sigv4_encode, keeps_unreserved_and_slash_in_paths_and_escapes_the_rest)
{
	char out[64];
	cr_assert_eq(sigv4_uri_encode("a b/c+d=~", 9, 1, out, sizeof(out)), 15);
	cr_assert_str_eq(out, "a%20b/c%2Bd%3D~");
	sigv4_uri_encode("a/b", 3, 0, out, sizeof(out));
	cr_assert_str_eq(out, "a%2Fb");
	cr_assert_eq(sigv4_uri_encode("abc", 3, 0, out, 3), -ENOSPC);
}

Test(sigv4_encode, multipart_query_sorts_and_encodes_upload_ids)
{
	const struct sigv4_pair q[] = {{"uploadId", "a/b+c=="}, {"partNumber", "2"}};
	char *s = sigv4_canonical_query(q, 2);
	cr_assert_str_eq(s, "partNumber=2&uploadId=a%2Fb%2Bc%3D%3D");
	free(s);
	const struct sigv4_pair u[] = {{"uploads", ""}};
	s = sigv4_canonical_query(u, 1);
	cr_assert_str_eq(s, "uploads=");
	free(s);
}

Test(sigv4_encode, amz_date_is_compact_utc)
{
	char d[17];
	sigv4_amz_date(1369353600, d);
	cr_assert_str_eq(d, "20130524T000000Z");
}

/* --- cross-check with botocore (Debian's python3-botocore) ---------------- */

#include <stdio.h>
#include <unistd.h>

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* Sign with botocore; the request as our S3 backend builds it. */
static void botocore_auth(const char *method, const char *host, const char *path,
			  const struct sigv4_pair *q, size_t nq, const struct sigv4_pair *h,
			  size_t nh, const char *body, const char *token, char *out, size_t outsz)
{
	char in[] = "/tmp/vtl-boto-XXXXXX";
	int fd = mkstemp(in);
	cr_assert_geq(fd, 0);
	FILE *f = fdopen(fd, "w");
	fprintf(f, "{\"method\": \"%s\", \"host\": ", method);
	json_str(f, host);
	fprintf(f, ", \"path\": ");
	json_str(f, path);
	fprintf(f, ", \"query\": [");
	for (size_t i = 0; i < nq; i++) {
		fprintf(f, "%s[", i ? ", " : "");
		json_str(f, q[i].name);
		fprintf(f, ", ");
		json_str(f, q[i].value ? q[i].value : "");
		fprintf(f, "]");
	}
	fprintf(f, "], \"headers\": {");
	for (size_t i = 0; i < nh; i++) {
		fprintf(f, "%s", i ? ", " : "");
		json_str(f, h[i].name);
		fprintf(f, ": ");
		json_str(f, h[i].value);
	}
	fprintf(f, "}, \"body\": ");
	json_str(f, body);
	fprintf(f, ", \"access\": \"AKIAIOSFODNN7EXAMPLE\", "
		   "\"secret\": \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\", ");
	if (token) {
		fprintf(f, "\"token\": ");
		json_str(f, token);
		fprintf(f, ", ");
	}
	fprintf(f, "\"region\": \"eu-west-3\", \"amz_date\": \"20240229T235959Z\"}\n");
	fclose(f);
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "/usr/bin/python3 '%s' < '%s' 2>&1", BOTOCORE_SIGN, in);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	size_t n = fread(out, 1, outsz - 1, p);
	out[n] = 0;
	int status = pclose(p);
	unlink(in);
	cr_assert_eq(status, 0,
		     "botocore could not sign (install python3-botocore: scripts/install-deps.sh "
		     "test): %s",
		     out);
	out[strcspn(out, "\n")] = 0;
}

static void cross_check(const char *method, const char *host, const char *path,
			const struct sigv4_pair *q, size_t nq, const struct sigv4_pair *extra,
			size_t nextra, const char *body, const char *token)
{
	char payload[65];
	sigv4_sha256_hex(body, strlen(body), payload);
	struct sigv4_pair h[16];
	size_t nh = 0;
	h[nh++] = (struct sigv4_pair){"host", host};
	h[nh++] = (struct sigv4_pair){"x-amz-date", "20240229T235959Z"};
	h[nh++] = (struct sigv4_pair){"x-amz-content-sha256", payload};
	if (token)
		h[nh++] = (struct sigv4_pair){"x-amz-security-token", token};
	for (size_t i = 0; i < nextra; i++)
		h[nh++] = extra[i];
	struct sigv4_key key = {"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
				"eu-west-3", "s3"};
	struct sigv4_request req = {method, path, q, nq, h, nh, payload};
	char ours[512], theirs[1024];
	cr_assert_eq(sigv4_sign(&req, &key, "20240229T235959Z", ours, sizeof(ours), NULL), 0);
	botocore_auth(method, host, path, q, nq, extra, nextra, body, token, theirs,
		      sizeof(theirs));
	cr_assert_str_eq(ours, theirs, "%s %s", method, path);
}

Test(sigv4_botocore, put_object_with_awkward_key_md5_and_class)
{
	const struct sigv4_pair h[] = {{"content-md5", "XrY7u+Ae7tCTyyK7j1rNww=="},
				       {"x-amz-storage-class", "GLACIER"}};
	cross_check("PUT", "127.0.0.1:7480", "/vtl/tapes/ABC123L6/seg 0001$x+y=z(1)!*'", NULL, 0, h,
		    2, "hello world", NULL);
}

Test(sigv4_botocore, create_multipart_upload)
{
	const struct sigv4_pair q[] = {{"uploads", ""}};
	cross_check("POST", "vtl.s3.eu-west-3.amazonaws.com", "/tapes/T1/seg", q, 1, NULL, 0, "",
		    NULL);
}

Test(sigv4_botocore, upload_part_with_an_id_that_needs_encoding)
{
	const struct sigv4_pair q[] = {{"uploadId", "2~abc/def+ghi=="}, {"partNumber", "10000"}};
	cross_check("PUT", "127.0.0.1:7480", "/vtl/k", q, 2, NULL, 0, "part data", NULL);
}

Test(sigv4_botocore, list_objects_v2_page)
{
	const struct sigv4_pair q[] = {{"list-type", "2"},
				       {"prefix", "tapes/A B/"},
				       {"continuation-token", "1/abc+def=="},
				       {"delimiter", "/"},
				       {"max-keys", "1000"}};
	cross_check("GET", "127.0.0.1:7480", "/vtl", q, 5, NULL, 0, "", NULL);
}

Test(sigv4_botocore, upload_part_copy_with_a_session_token)
{
	const struct sigv4_pair q[] = {{"partNumber", "2"}, {"uploadId", "xyz"}};
	const struct sigv4_pair h[] = {{"x-amz-copy-source", "/vtl/src%20key"},
				       {"x-amz-copy-source-range", "bytes=0-5242879"}};
	cross_check("PUT", "127.0.0.1:7480", "/vtl/dst", q, 2, h, 2, "",
		    "FwoGZXIvYXdzEJr//////////wEaDAbCdEfGhIjKlMnOpQ==");
}

Test(sigv4_botocore, complete_multipart_upload_with_xml_body)
{
	const struct sigv4_pair q[] = {{"uploadId", "xyz"}};
	const struct sigv4_pair h[] = {{"content-type", "application/xml"}};
	cross_check("POST", "127.0.0.1:7480", "/vtl/dst", q, 1, h, 1,
		    "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>"
		    "<ETag>\"5eb63bbbe01eeed093cb22bb8f5acdc3\"</ETag></Part>"
		    "</CompleteMultipartUpload>",
		    NULL);
}
