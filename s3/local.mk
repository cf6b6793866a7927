# s3/: the object store interface, its local-directory and S3 backends, and
# AWS SigV4 signing. Others link $(S3_LIBS).
noinst_LIBRARIES += libvtls3.a
libvtls3_a_SOURCES = \
	s3/store.h s3/store.c \
	s3/store_local.c \
	s3/sigv4.h s3/sigv4.c \
	s3/xml.h s3/xml.c \
	s3/store_s3.c
libvtls3_a_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS) $(CRYPTO_CFLAGS) $(INIH_CFLAGS)

S3_LIBS = libvtls3.a $(UTIL_LIBS) $(CURL_LIBS) $(CRYPTO_LIBS) $(INIH_LIBS)

# Unit tests: signing against AWS's published examples and botocore.
check_PROGRAMS += tests/s3/test_sigv4 tests/s3/test_store
TESTS += tests/s3/test_sigv4 tests/s3/test_store
tests_s3_test_sigv4_SOURCES = tests/s3/test_sigv4.c
tests_s3_test_sigv4_CFLAGS = $(AM_CFLAGS) $(CRITERION_CFLAGS) \
	-DBOTOCORE_SIGN='"$(abs_top_srcdir)/tests/s3/botocore_sign.py"'
tests_s3_test_sigv4_LDADD = $(S3_LIBS) $(CRITERION_LIBS)

# Integration: one conformance suite run against the local-directory backend
# and against Ceph's radosgw (started and stopped by the test itself through
# tests/s3/rgw.sh), with a fault-injecting TCP proxy in between.
tests_s3_test_store_SOURCES = tests/s3/test_store.c tests/s3/faultproxy.c tests/s3/faultproxy.h \
	tests/s3/rgw_fixture.c tests/s3/rgw_fixture.h
tests_s3_test_store_CFLAGS = $(AM_CFLAGS) $(CRITERION_CFLAGS) -DRGW_SH='"$(abs_top_srcdir)/tests/s3/rgw.sh"'
tests_s3_test_store_LDADD = $(S3_LIBS) $(CRITERION_LIBS) -lpthread

# Object Lock: retention, locked deletes and the bucket check against
# radosgw (a bucket of its own created with Object Lock), and what the
# local-directory backend enforces.
check_PROGRAMS += tests/s3/test_object_lock
TESTS += tests/s3/test_object_lock
tests_s3_test_object_lock_SOURCES = tests/s3/test_object_lock.c \
	tests/s3/rgw_fixture.c tests/s3/rgw_fixture.h
tests_s3_test_object_lock_CFLAGS = $(AM_CFLAGS) $(CRITERION_CFLAGS) \
	-DRGW_SH='"$(abs_top_srcdir)/tests/s3/rgw.sh"'
tests_s3_test_object_lock_LDADD = $(S3_LIBS) $(CRITERION_LIBS)

# Server-side encryption (SSE-C, SSE-KMS, SSE-S3) against radosgw, what it
# keeps at rest read from RADOS below S3.
check_PROGRAMS += tests/s3/test_sse
TESTS += tests/s3/test_sse
tests_s3_test_sse_SOURCES = tests/s3/test_sse.c \
	tests/s3/rgw_fixture.c tests/s3/rgw_fixture.h
tests_s3_test_sse_CFLAGS = $(AM_CFLAGS) $(CRITERION_CFLAGS) \
	-DRGW_SH='"$(abs_top_srcdir)/tests/s3/rgw.sh"' \
	-DSSE_S3_PUT='"$(abs_top_srcdir)/tests/s3/sse_s3_put.py"'
tests_s3_test_sse_LDADD = $(S3_LIBS) $(CRITERION_LIBS)

EXTRA_DIST += tests/s3/rgw.sh tests/s3/botocore_sign.py tests/s3/sse_s3_put.py docs/object-store.md

# `make bench`: store throughput, local directory and radosgw.
# Built with the tests (check_PROGRAMS: bench/local.mk assigns EXTRA_PROGRAMS).
check_PROGRAMS += tests/s3/bench_store
tests_s3_bench_store_SOURCES = tests/s3/bench_store.c bench/bench_util.c bench/bench_util.h
tests_s3_bench_store_CFLAGS = $(AM_CFLAGS) -DRGW_SH='"$(abs_top_srcdir)/tests/s3/rgw.sh"'
tests_s3_bench_store_LDADD = $(S3_LIBS) -lpthread
BENCHES += tests/s3/bench_store
