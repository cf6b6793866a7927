# catalog/: the SQLite catalog (docs/library.md).
noinst_LIBRARIES += libvtlcat.a
libvtlcat_a_SOURCES = catalog/catalog.c catalog/catalog.h catalog/catalog_int.h \
	catalog/catalog_upl.c catalog/catalog_upl.h catalog/catalog_pool.c \
	catalog/catalog_key.c catalog/catalog_key.h
libvtlcat_a_CFLAGS = $(AM_CFLAGS) $(SQLITE_CFLAGS)

CAT_LIBS = libvtlcat.a $(UTIL_LIBS) $(SQLITE_LIBS)

# The uploader's tables at SQL level: what survives a reopen (the resume
# contract of uploads), parts, totals, forgetting a tape, bad input.
check_PROGRAMS += tests/catalog/test_catalog_upl
TESTS += tests/catalog/test_catalog_upl
tests_catalog_test_catalog_upl_SOURCES = tests/catalog/test_catalog_upl.c
tests_catalog_test_catalog_upl_CFLAGS = $(AM_CFLAGS) $(CRITERION_CFLAGS) $(SQLITE_CFLAGS)
tests_catalog_test_catalog_upl_LDADD = $(CAT_LIBS) $(CRITERION_LIBS)
