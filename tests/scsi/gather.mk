# tests/scsi build fragment: small blocks gathered into one write on a
# cartridge stored clear (scsi/tape_buffered.c, write_combined), at CDB level.
check_PROGRAMS += tests/scsi/test_gather
TESTS += tests/scsi/test_gather

tests_scsi_test_gather_SOURCES = tests/scsi/test_gather.c tests/scsi/cdb_harness.c tests/scsi/cdb_harness.h
tests_scsi_test_gather_CFLAGS = $(AM_CFLAGS) $(CRITERION_CFLAGS)
tests_scsi_test_gather_LDADD = libvtlscsi.a $(ISAL_LIBS) $(ZSTD_LIBS) $(LZ4_LIBS) $(CRYPTO_LIBS) $(CRITERION_LIBS) \
	-lpthread
