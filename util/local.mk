# util/: the lowest layer, below catalog/ and s3/ alike; it calls nothing
# of ours. escape.c makes text from outside safe to log, store and answer.
noinst_LIBRARIES += libvtlutil.a
libvtlutil_a_SOURCES = util/escape.c util/escape.h util/metrics.c util/metrics.h

UTIL_LIBS = libvtlutil.a

check_PROGRAMS += tests/util/test_escape
TESTS += tests/util/test_escape
tests_util_test_escape_SOURCES = tests/util/test_escape.c
tests_util_test_escape_CFLAGS = $(AM_CFLAGS) $(CRITERION_CFLAGS)
tests_util_test_escape_LDADD = $(UTIL_LIBS) $(CRITERION_LIBS)

check_PROGRAMS += tests/util/test_metrics
TESTS += tests/util/test_metrics
tests_util_test_metrics_SOURCES = tests/util/test_metrics.c
tests_util_test_metrics_CFLAGS = $(AM_CFLAGS) $(CRITERION_CFLAGS)
tests_util_test_metrics_LDADD = $(UTIL_LIBS) $(CRITERION_LIBS) -lpthread
