# tests/scsi build fragment: the tape drive (scsi/ssc*.c), driven at CDB
# level through spc_dispatch() on a real medium in a temporary directory.
check_PROGRAMS += tests/scsi/test_ssc
TESTS += tests/scsi/test_ssc

tests_scsi_test_ssc_SOURCES = tests/scsi/test_ssc.c tests/scsi/cdb_harness.c tests/scsi/cdb_harness.h
tests_scsi_test_ssc_CFLAGS = $(AM_CFLAGS) $(CRITERION_CFLAGS)
tests_scsi_test_ssc_LDADD = libvtlscsi.a $(ISAL_LIBS) $(ZSTD_LIBS) $(LZ4_LIBS) $(CRYPTO_LIBS) $(CRITERION_LIBS) \
	-lpthread
