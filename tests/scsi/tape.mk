# tests/scsi build fragment: the medium (scsi/tape*.c).
#
# The tests compile the medium's sources directly instead of linking
# libvtlscsi.a, so they build whatever state the drive emulation is in.
TAPE_TEST_SOURCES = scsi/tape.c scsi/tape_disk.c scsi/tape_files.c scsi/tape_repair.c \
	scsi/crc32c.c scsi/tape_crypt.c scsi/tape_compress.c scsi/tape_readahead.c \
	scsi/tape_buffered.c scsi/tape_segcache.c scsi/tape_read.c scsi/tape_position.c
TAPE_TEST_LIBS = $(ISAL_LIBS) $(ZSTD_LIBS) $(LZ4_LIBS) $(CRYPTO_LIBS) $(CRITERION_LIBS)
TAPE_TEST_CFLAGS = $(AM_CFLAGS) $(CRITERION_CFLAGS) $(ISAL_CFLAGS) $(ZSTD_CFLAGS) $(LZ4_CFLAGS) \
	$(CRYPTO_CFLAGS)

check_PROGRAMS += tests/scsi/test_tape tests/scsi/test_tape_crash tests/scsi/test_tape_repair \
	tests/scsi/test_tape_files
TESTS += tests/scsi/test_tape tests/scsi/test_tape_crash tests/scsi/test_tape_repair \
	tests/scsi/test_tape_files

tests_scsi_test_tape_SOURCES = tests/scsi/test_tape.c tests/scsi/tape_util.h $(TAPE_TEST_SOURCES)
tests_scsi_test_tape_CFLAGS = $(TAPE_TEST_CFLAGS)
tests_scsi_test_tape_LDADD = $(TAPE_TEST_LIBS)

tests_scsi_test_tape_crash_SOURCES = tests/scsi/test_tape_crash.c tests/scsi/tape_util.h \
	$(TAPE_TEST_SOURCES)
tests_scsi_test_tape_crash_CFLAGS = $(TAPE_TEST_CFLAGS)
tests_scsi_test_tape_crash_LDADD = $(TAPE_TEST_LIBS)

tests_scsi_test_tape_repair_SOURCES = tests/scsi/test_tape_repair.c tests/scsi/tape_util.h \
	$(TAPE_TEST_SOURCES)
tests_scsi_test_tape_repair_CFLAGS = $(TAPE_TEST_CFLAGS)
tests_scsi_test_tape_repair_LDADD = $(TAPE_TEST_LIBS)

tests_scsi_test_tape_files_SOURCES = tests/scsi/test_tape_files.c tests/scsi/tape_util.h \
	$(TAPE_TEST_SOURCES)
tests_scsi_test_tape_files_CFLAGS = $(TAPE_TEST_CFLAGS)
tests_scsi_test_tape_files_LDADD = $(TAPE_TEST_LIBS)
