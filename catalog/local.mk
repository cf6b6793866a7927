# catalog/: the SQLite catalog (docs/library.md).
noinst_LIBRARIES += libvtlcat.a
libvtlcat_a_SOURCES = catalog/catalog.c catalog/catalog.h catalog/catalog_int.h \
	catalog/catalog_upl.c catalog/catalog_upl.h
libvtlcat_a_CFLAGS = $(AM_CFLAGS) $(SQLITE_CFLAGS)

CAT_LIBS = libvtlcat.a $(UTIL_LIBS) $(SQLITE_LIBS)
