# iscsi/: the built-in iSCSI target (RFC 7143). See docs/iscsi.md.
noinst_LIBRARIES += libvtliscsi.a
libvtliscsi_a_SOURCES = \
	iscsi/iscsi.h iscsi/internal.h iscsi/pdu.h \
	iscsi/text.c iscsi/text.h \
	iscsi/chap.c iscsi/chap.h \
	iscsi/admit.c \
	iscsi/login.c \
	iscsi/conn.c \
	iscsi/server.c
libvtliscsi_a_CPPFLAGS = $(AM_CPPFLAGS) $(CRYPTO_CFLAGS)

# What a program linking the target needs besides libvtlscsi.a.
ISCSI_LIBS = libvtliscsi.a $(UTIL_LIBS) $(CRYPTO_LIBS)

# Tests: a real target on 127.0.0.1 with real tape drives, driven by
# libiscsi (tests/iscsi/harness.c). libiscsi's headers are included as
# <iscsi.h> / <scsi-lowlevel.h> from their own directory, because
# <iscsi/iscsi.h> would find ours first (-I$(top_srcdir)).
ISCSI_TEST_CPPFLAGS = $(AM_CPPFLAGS) $(LIBISCSI_CFLAGS) $(CRITERION_CFLAGS) \
	-I`$(PKG_CONFIG) --variable=includedir libiscsi`/iscsi
ISCSI_TEST_LDADD = $(ISCSI_LIBS) libvtlscsi.a $(ISAL_LIBS) $(ZSTD_LIBS) $(LZ4_LIBS) \
	$(CRYPTO_LIBS) $(LIBISCSI_LIBS) $(CRITERION_LIBS) -lpthread

check_PROGRAMS += tests/iscsi/test_iscsi_session
TESTS += tests/iscsi/test_iscsi_session
tests_iscsi_test_iscsi_session_SOURCES = tests/iscsi/test_iscsi_session.c \
	tests/iscsi/harness.c tests/iscsi/harness.h
tests_iscsi_test_iscsi_session_CPPFLAGS = $(ISCSI_TEST_CPPFLAGS)
tests_iscsi_test_iscsi_session_LDADD = $(ISCSI_TEST_LDADD)

check_PROGRAMS += tests/iscsi/test_iscsi_tape
TESTS += tests/iscsi/test_iscsi_tape
tests_iscsi_test_iscsi_tape_SOURCES = tests/iscsi/test_iscsi_tape.c \
	tests/iscsi/harness.c tests/iscsi/harness.h
tests_iscsi_test_iscsi_tape_CPPFLAGS = $(ISCSI_TEST_CPPFLAGS)
tests_iscsi_test_iscsi_tape_LDADD = $(ISCSI_TEST_LDADD)

check_PROGRAMS += tests/iscsi/test_iscsi_raw
TESTS += tests/iscsi/test_iscsi_raw
tests_iscsi_test_iscsi_raw_SOURCES = tests/iscsi/test_iscsi_raw.c \
	tests/iscsi/harness.c tests/iscsi/harness.h \
	tests/iscsi/rawpdu.c tests/iscsi/rawpdu.h
tests_iscsi_test_iscsi_raw_CPPFLAGS = $(ISCSI_TEST_CPPFLAGS)
tests_iscsi_test_iscsi_raw_LDADD = $(ISCSI_TEST_LDADD)

# The real vtld, started by the test on a temporary data directory.
check_PROGRAMS += tests/iscsi/test_iscsi_vtld
TESTS += tests/iscsi/test_iscsi_vtld
tests_iscsi_test_iscsi_vtld_SOURCES = tests/iscsi/test_iscsi_vtld.c \
	tests/iscsi/vtld_proc.c tests/iscsi/vtld_proc.h
tests_iscsi_test_iscsi_vtld_CPPFLAGS = $(ISCSI_TEST_CPPFLAGS)
tests_iscsi_test_iscsi_vtld_LDADD = $(LIBISCSI_LIBS) $(CRITERION_LIBS)
EXTRA_tests_iscsi_test_iscsi_vtld_DEPENDENCIES = vtld$(EXEEXT)

# The whole library through the real vtld and vtlctl (tests/iscsi/vtld_proc.c
# starts them), driven by libiscsi and by a raw-socket initiator
# (tests/iscsi/rawpdu.c): changer, drives, restart, robustness, CHAP.
ISCSI_VTLD_TEST_SOURCES = tests/iscsi/harness.c tests/iscsi/harness.h \
	tests/iscsi/vtld_proc.c tests/iscsi/vtld_proc.h \
	tests/iscsi/rawpdu.c tests/iscsi/rawpdu.h

check_PROGRAMS += tests/iscsi/test_iscsi_library
TESTS += tests/iscsi/test_iscsi_library
tests_iscsi_test_iscsi_library_SOURCES = tests/iscsi/test_iscsi_library.c \
	$(ISCSI_VTLD_TEST_SOURCES)
tests_iscsi_test_iscsi_library_CPPFLAGS = $(ISCSI_TEST_CPPFLAGS)
tests_iscsi_test_iscsi_library_LDADD = $(ISCSI_TEST_LDADD)
EXTRA_tests_iscsi_test_iscsi_library_DEPENDENCIES = vtld$(EXEEXT) vtlctl$(EXEEXT)

# Drive features enterprise software sets (logical block protection,
# append-only mode, READ/WRITE BUFFER, log pages 14h/32h) through vtld.
check_PROGRAMS += tests/iscsi/test_iscsi_drive_features
TESTS += tests/iscsi/test_iscsi_drive_features
tests_iscsi_test_iscsi_drive_features_SOURCES = tests/iscsi/test_iscsi_drive_features.c \
	$(ISCSI_VTLD_TEST_SOURCES)
tests_iscsi_test_iscsi_drive_features_CPPFLAGS = $(ISCSI_TEST_CPPFLAGS)
tests_iscsi_test_iscsi_drive_features_LDADD = $(ISCSI_TEST_LDADD)
EXTRA_tests_iscsi_test_iscsi_drive_features_DEPENDENCIES = vtld$(EXEEXT) vtlctl$(EXEEXT)

# RFC 7143 protocol families (what libiscsi's iscsi-test-cu covers for
# disks) against the real vtld: CmdSN, DataSN and unsolicited data,
# residuals, task management, NOP, SendTargets.
check_PROGRAMS += tests/iscsi/test_iscsi_protocol
TESTS += tests/iscsi/test_iscsi_protocol
tests_iscsi_test_iscsi_protocol_SOURCES = tests/iscsi/test_iscsi_protocol.c \
	$(ISCSI_VTLD_TEST_SOURCES)
tests_iscsi_test_iscsi_protocol_CPPFLAGS = $(ISCSI_TEST_CPPFLAGS)
tests_iscsi_test_iscsi_protocol_LDADD = $(ISCSI_TEST_LDADD)
EXTRA_tests_iscsi_test_iscsi_protocol_DEPENDENCIES = vtld$(EXEEXT) vtlctl$(EXEEXT)

# Connections that never log in (floods, slow headers, stalled logins) and
# the session table's limit, against the real vtld.
check_PROGRAMS += tests/iscsi/test_iscsi_flood
TESTS += tests/iscsi/test_iscsi_flood
tests_iscsi_test_iscsi_flood_SOURCES = tests/iscsi/test_iscsi_flood.c \
	$(ISCSI_VTLD_TEST_SOURCES)
tests_iscsi_test_iscsi_flood_CPPFLAGS = $(ISCSI_TEST_CPPFLAGS)
tests_iscsi_test_iscsi_flood_LDADD = $(ISCSI_TEST_LDADD)
EXTRA_tests_iscsi_test_iscsi_flood_DEPENDENCIES = vtld$(EXEEXT) vtlctl$(EXEEXT)

# What a Windows backup server sends (the Microsoft initiator's login at
# AWS's recommended values, the changer and tape class drivers' start
# sequences), replayed at PDU and CDB level against the real vtld for every
# changer personality.
check_PROGRAMS += tests/iscsi/test_iscsi_windows
TESTS += tests/iscsi/test_iscsi_windows
tests_iscsi_test_iscsi_windows_SOURCES = tests/iscsi/test_iscsi_windows.c \
	$(ISCSI_VTLD_TEST_SOURCES)
tests_iscsi_test_iscsi_windows_CPPFLAGS = $(ISCSI_TEST_CPPFLAGS)
tests_iscsi_test_iscsi_windows_LDADD = $(ISCSI_TEST_LDADD)
EXTRA_tests_iscsi_test_iscsi_windows_DEPENDENCIES = vtld$(EXEEXT) vtlctl$(EXEEXT)

# Commands run on the receiving thread: a command that waits there (a
# WRITE held by a full cache) against the changer, another drive, the
# LUN's own queue, ABORT TASK and a dropped session, on the real vtld.
check_PROGRAMS += tests/iscsi/test_iscsi_fastpath
TESTS += tests/iscsi/test_iscsi_fastpath
tests_iscsi_test_iscsi_fastpath_SOURCES = tests/iscsi/test_iscsi_fastpath.c \
	$(ISCSI_VTLD_TEST_SOURCES)
tests_iscsi_test_iscsi_fastpath_CPPFLAGS = $(ISCSI_TEST_CPPFLAGS)
tests_iscsi_test_iscsi_fastpath_LDADD = $(ISCSI_TEST_LDADD)
EXTRA_tests_iscsi_test_iscsi_fastpath_DEPENDENCIES = vtld$(EXEEXT) vtlctl$(EXEEXT)
