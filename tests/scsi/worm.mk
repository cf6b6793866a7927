# tests/scsi build fragment: WORM cartridges, at CDB level through
# spc_dispatch() and on the medium, in a temporary directory.
check_PROGRAMS += tests/scsi/test_worm
TESTS += tests/scsi/test_worm

tests_scsi_test_worm_SOURCES = tests/scsi/test_worm.c tests/scsi/cdb_harness.c tests/scsi/cdb_harness.h
tests_scsi_test_worm_CFLAGS = $(AM_CFLAGS) $(CRITERION_CFLAGS)
tests_scsi_test_worm_LDADD = libvtlscsi.a $(ISAL_LIBS) $(ZSTD_LIBS) $(LZ4_LIBS) $(CRYPTO_LIBS) $(CRITERION_LIBS) \
	-lpthread
