# tests/scsi build fragment: the SPC-4 command set shared by every device
# type (scsi/spc.c, scsi/dispatch.c), driven at CDB level through
# spc_dispatch() on the real tape drive type.
check_PROGRAMS += tests/scsi/test_spc
TESTS += tests/scsi/test_spc

tests_scsi_test_spc_SOURCES = tests/scsi/test_spc.c tests/scsi/cdb_harness.c tests/scsi/cdb_harness.h
tests_scsi_test_spc_CFLAGS = $(AM_CFLAGS) $(CRITERION_CFLAGS)
tests_scsi_test_spc_LDADD = libvtlscsi.a $(ISAL_LIBS) $(ZSTD_LIBS) $(LZ4_LIBS) $(CRYPTO_LIBS) $(CRITERION_LIBS)
