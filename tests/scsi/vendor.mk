# tests/scsi build fragment: the tape drive's vendor VPD pages, the volume
# statistics and the other LTO log pages (decoded with sg_logs from
# sg3-utils), informational exception reporting of TapeAlert
# flags and the drive asking for cleaning, at CDB level through
# spc_dispatch() on a real medium.
check_PROGRAMS += tests/scsi/test_vendor
TESTS += tests/scsi/test_vendor

tests_scsi_test_vendor_SOURCES = tests/scsi/test_vendor.c tests/scsi/cdb_harness.c tests/scsi/cdb_harness.h
tests_scsi_test_vendor_CFLAGS = $(AM_CFLAGS) $(CRITERION_CFLAGS)
tests_scsi_test_vendor_LDADD = libvtlscsi.a $(ISAL_LIBS) $(ZSTD_LIBS) $(LZ4_LIBS) $(CRYPTO_LIBS) $(CRITERION_LIBS) \
	-lpthread
