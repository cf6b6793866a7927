# tests/scsi build fragment: logical block protection, append-only mode,
# READ/WRITE BUFFER and the data compression log page of the tape drive,
# at CDB level through spc_dispatch() on a real medium.
check_PROGRAMS += tests/scsi/test_lbp
TESTS += tests/scsi/test_lbp

tests_scsi_test_lbp_SOURCES = tests/scsi/test_lbp.c tests/scsi/cdb_harness.c tests/scsi/cdb_harness.h
tests_scsi_test_lbp_CFLAGS = $(AM_CFLAGS) $(CRITERION_CFLAGS)
tests_scsi_test_lbp_LDADD = libvtlscsi.a $(ISAL_LIBS) $(ZSTD_LIBS) $(LZ4_LIBS) $(CRYPTO_LIBS) $(CRITERION_LIBS) \
	-lpthread
