# tests/scsi build fragment: drive encryption (scsi/ssc_crypto.c and the
# medium's encrypted records), at CDB level through spc_dispatch().
check_PROGRAMS += tests/scsi/test_crypto
TESTS += tests/scsi/test_crypto

tests_scsi_test_crypto_SOURCES = tests/scsi/test_crypto.c tests/scsi/cdb_harness.c \
	tests/scsi/cdb_harness.h
tests_scsi_test_crypto_CFLAGS = $(AM_CFLAGS) $(CRITERION_CFLAGS)
tests_scsi_test_crypto_LDADD = libvtlscsi.a $(ISAL_LIBS) $(ZSTD_LIBS) $(LZ4_LIBS) $(CRYPTO_LIBS) \
	$(CRITERION_LIBS) -lpthread

# Library encryption at rest: the medium's records and the drive over them.
check_PROGRAMS += tests/scsi/test_at_rest
TESTS += tests/scsi/test_at_rest

tests_scsi_test_at_rest_SOURCES = tests/scsi/test_at_rest.c tests/scsi/cdb_harness.c \
	tests/scsi/cdb_harness.h
tests_scsi_test_at_rest_CFLAGS = $(AM_CFLAGS) $(CRITERION_CFLAGS)
tests_scsi_test_at_rest_LDADD = libvtlscsi.a $(ISAL_LIBS) $(ZSTD_LIBS) $(LZ4_LIBS) $(CRYPTO_LIBS) \
	$(CRITERION_LIBS) -lpthread
