# vtl/: the library model, configuration, control socket, vtld and vtlctl
# (docs/library.md). The tests of the changer, the catalog and the CLI are
# registered here too, since they need all of these parts.
noinst_LIBRARIES += libvtl.a
libvtl_a_SOURCES = vtl/library.c vtl/library.h vtl/library_int.h vtl/admin.c \
	vtl/lifecycle.c vtl/lifecycle.h vtl/datadir.c vtl/datadir.h vtl/autocreate.c \
	vtl/record.c vtl/record.h \
	vtl/store_config.c vtl/store_config.h vtl/keyfile.c vtl/keyfile.h \
	vtl/keys.c vtl/keys.h vtl/keys_rotate.c \
	vtl/ctl.c vtl/ctl.h vtl/ctl_int.h vtl/ctl_requests.c vtl/ctl_keys.c vtl/vtld_config.c vtl/vtld_config.h \
	vtl/uploader.c vtl/uploader.h vtl/upload_int.h vtl/upload_sync.c vtl/upload_backlog.c \
	vtl/upload_util.c vtl/upload_keys.c \
	vtl/shelf.c vtl/rebuild.h vtl/rebuild.c \
	vtl/cache.c vtl/cache.h vtl/media.c vtl/media.h vtl/drive_worker.c vtl/drive_worker.h \
	vtl/tcmu.c vtl/tcmu.h vtl/tcmu_int.h vtl/tcmu_ring.c
libvtl_a_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(INIH_CFLAGS) $(SQLITE_CFLAGS)

VTL_LIBS = libvtl.a $(CAT_LIBS) $(SCSI_LIBS) $(S3_LIBS) $(JANSSON_LIBS) $(INIH_LIBS) $(UTIL_LIBS)

bin_PROGRAMS += vtld vtlctl
vtld_SOURCES = vtl/vtld.c vtl/ops.c vtl/ops.h vtl/metrics_http.c vtl/metrics_http.h
vtld_CFLAGS = $(AM_CFLAGS) $(MHD_CFLAGS) $(SYSTEMD_CFLAGS)
vtld_LDADD = $(ISCSI_LIBS) $(VTL_LIBS) $(MHD_LIBS) $(SYSTEMD_LIBS)
vtlctl_SOURCES = vtl/vtlctl.c vtl/vtlctl_pool.c vtl/vtlctl_top.c vtl/vtlctl_keys.c vtl/vtlctl_int.h
vtlctl_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
vtlctl_LDADD = $(JANSSON_LIBS)

# Tests: the changer at CDB level, the catalog at SQL level (with a crash
# in the middle of moves), and the CLI against the real vtld and vtlctl.
LIB_TEST_CFLAGS = $(AM_CFLAGS) $(CRITERION_CFLAGS) $(SQLITE_CFLAGS)
LIB_TEST_LIBS = $(VTL_LIBS) $(CRITERION_LIBS)

check_PROGRAMS += tests/vtl/test_library tests/catalog/test_catalog
TESTS += tests/vtl/test_library tests/catalog/test_catalog tests/cli/test_cli.sh
EXTRA_DIST += tests/cli/test_cli.sh
# A restart of 3,000 tapes after a crash: what the start defers is done.
TESTS += tests/cli/test_restart.sh
EXTRA_DIST += tests/cli/test_restart.sh

tests_vtl_test_library_SOURCES = tests/vtl/test_library.c tests/catalog/libtest.h \
	tests/scsi/cdb_harness.c tests/scsi/cdb_harness.h
tests_vtl_test_library_CFLAGS = $(LIB_TEST_CFLAGS)
tests_vtl_test_library_LDADD = $(LIB_TEST_LIBS)

# Cleaning cartridges and TapeAlert through library, changer and drive
# (tests/vtl/test_cleaning.c).
check_PROGRAMS += tests/vtl/test_cleaning
TESTS += tests/vtl/test_cleaning
tests_vtl_test_cleaning_SOURCES = tests/vtl/test_cleaning.c tests/catalog/libtest.h \
	tests/scsi/cdb_harness.c tests/scsi/cdb_harness.h
tests_vtl_test_cleaning_CFLAGS = $(LIB_TEST_CFLAGS)
tests_vtl_test_cleaning_LDADD = $(LIB_TEST_LIBS)

tests_catalog_test_catalog_SOURCES = tests/catalog/test_catalog.c tests/catalog/libtest.h \
	tests/scsi/cdb_harness.c tests/scsi/cdb_harness.h
tests_catalog_test_catalog_CFLAGS = $(LIB_TEST_CFLAGS)
tests_catalog_test_catalog_LDADD = $(LIB_TEST_LIBS)

# The key hierarchy of library-managed encryption: master keys from a file
# and a command, wrapping, rotation on a real catalog killed and resumed
# (tests/vtl/test_keys.c).
check_PROGRAMS += tests/vtl/test_keys
TESTS += tests/vtl/test_keys
tests_vtl_test_keys_SOURCES = tests/vtl/test_keys.c
tests_vtl_test_keys_CFLAGS = $(LIB_TEST_CFLAGS)
tests_vtl_test_keys_LDADD = $(LIB_TEST_LIBS)

# The cache's bookkeeping while an eviction pass runs (tests/vtl/test_cache.c).
check_PROGRAMS += tests/vtl/test_cache
TESTS += tests/vtl/test_cache
tests_vtl_test_cache_SOURCES = tests/vtl/test_cache.c
tests_vtl_test_cache_CFLAGS = $(LIB_TEST_CFLAGS)
tests_vtl_test_cache_LDADD = $(LIB_TEST_LIBS)

# The uploader and the shelf end to end: the real vtld and vtlctl, a drive
# written with libiscsi, the local-directory store checked by the test
# (tests/vtl/test_store_vtld.c; docs/object-store.md).
check_PROGRAMS += tests/vtl/test_store_vtld
TESTS += tests/vtl/test_store_vtld
tests_vtl_test_store_vtld_SOURCES = tests/vtl/test_store_vtld.c \
	tests/vtl/backlog_check.c tests/vtl/backlog_check.h \
	tests/vtl/shelf_check.c tests/vtl/shelf_check.h \
	tests/iscsi/harness.c tests/iscsi/harness.h \
	tests/iscsi/vtld_proc.c tests/iscsi/vtld_proc.h
tests_vtl_test_store_vtld_CPPFLAGS = $(ISCSI_TEST_CPPFLAGS)
tests_vtl_test_store_vtld_LDADD = $(ISCSI_TEST_LDADD) $(S3_LIBS)
EXTRA_tests_vtl_test_store_vtld_DEPENDENCIES = vtld$(EXEEXT) vtlctl$(EXEEXT)

# Drive encryption through the real vtld: no key nor plaintext in the data
# directory, no key after a restart (tests/vtl/test_crypto_vtld.c).
check_PROGRAMS += tests/vtl/test_crypto_vtld
TESTS += tests/vtl/test_crypto_vtld
tests_vtl_test_crypto_vtld_SOURCES = tests/vtl/test_crypto_vtld.c \
	tests/vtl/tree_search.c tests/vtl/tree_search.h \
	tests/iscsi/harness.c tests/iscsi/harness.h \
	tests/iscsi/vtld_proc.c tests/iscsi/vtld_proc.h
tests_vtl_test_crypto_vtld_CPPFLAGS = $(ISCSI_TEST_CPPFLAGS)
tests_vtl_test_crypto_vtld_LDADD = $(ISCSI_TEST_LDADD)
EXTRA_tests_vtl_test_crypto_vtld_DEPENDENCIES = vtld$(EXEEXT) vtlctl$(EXEEXT)

# Encryption of cartridges at rest through the real vtld: no plaintext nor
# key anywhere, rotation resumed after a kill, disaster recovery with and
# without the master key (tests/vtl/test_at_rest_vtld.c).
check_PROGRAMS += tests/vtl/test_at_rest_vtld
TESTS += tests/vtl/test_at_rest_vtld
tests_vtl_test_at_rest_vtld_SOURCES = tests/vtl/test_at_rest_vtld.c \
	tests/vtl/tree_search.c tests/vtl/tree_search.h \
	tests/iscsi/harness.c tests/iscsi/harness.h \
	tests/iscsi/vtld_proc.c tests/iscsi/vtld_proc.h
tests_vtl_test_at_rest_vtld_CPPFLAGS = $(ISCSI_TEST_CPPFLAGS)
tests_vtl_test_at_rest_vtld_LDADD = $(ISCSI_TEST_LDADD) $(SQLITE_LIBS)
EXTRA_tests_vtl_test_at_rest_vtld_DEPENDENCIES = vtld$(EXEEXT) vtlctl$(EXEEXT)

# Unloading a drive never drops what the host was told is written: an
# untold write error behind a WRITE's GOOD, a flush that fails at unload
# (tests/vtl/test_unload_vtld.c).
check_PROGRAMS += tests/vtl/test_unload_vtld
TESTS += tests/vtl/test_unload_vtld
tests_vtl_test_unload_vtld_SOURCES = tests/vtl/test_unload_vtld.c \
	tests/iscsi/harness.c tests/iscsi/harness.h \
	tests/iscsi/vtld_proc.c tests/iscsi/vtld_proc.h
tests_vtl_test_unload_vtld_CPPFLAGS = $(ISCSI_TEST_CPPFLAGS)
tests_vtl_test_unload_vtld_LDADD = $(ISCSI_TEST_LDADD)
EXTRA_tests_vtl_test_unload_vtld_DEPENDENCIES = vtld$(EXEEXT) vtlctl$(EXEEXT)

# No second copy: the default local store links sealed segments
# (tests/vtl/test_linked_vtld.c; docs/object-store.md).
check_PROGRAMS += tests/vtl/test_linked_vtld
TESTS += tests/vtl/test_linked_vtld
tests_vtl_test_linked_vtld_SOURCES = tests/vtl/test_linked_vtld.c \
	tests/vtl/backlog_check.c tests/vtl/backlog_check.h \
	tests/vtl/shelf_check.c tests/vtl/shelf_check.h \
	tests/iscsi/harness.c tests/iscsi/harness.h \
	tests/iscsi/vtld_proc.c tests/iscsi/vtld_proc.h
tests_vtl_test_linked_vtld_CPPFLAGS = $(ISCSI_TEST_CPPFLAGS)
tests_vtl_test_linked_vtld_LDADD = $(ISCSI_TEST_LDADD) $(S3_LIBS)
EXTRA_tests_vtl_test_linked_vtld_DEPENDENCIES = vtld$(EXEEXT) vtlctl$(EXEEXT)

# The cache (eviction, read-through, back-pressure) and disaster recovery
# end to end, local store (tests/vtl/test_cache_vtld.c).
check_PROGRAMS += tests/vtl/test_cache_vtld
TESTS += tests/vtl/test_cache_vtld
tests_vtl_test_cache_vtld_SOURCES = tests/vtl/test_cache_vtld.c \
	tests/iscsi/harness.c tests/iscsi/harness.h \
	tests/iscsi/vtld_proc.c tests/iscsi/vtld_proc.h
tests_vtl_test_cache_vtld_CPPFLAGS = $(ISCSI_TEST_CPPFLAGS)
tests_vtl_test_cache_vtld_LDADD = $(ISCSI_TEST_LDADD) $(S3_LIBS)
EXTRA_tests_vtl_test_cache_vtld_DEPENDENCIES = vtld$(EXEEXT) vtlctl$(EXEEXT)

# The uploader and the shelf against Ceph's radosgw, started around the run
# by tests/s3/rgw.sh (tests/vtl/test_store_rgw.c).
check_PROGRAMS += tests/vtl/test_store_rgw
TESTS += tests/vtl/test_store_rgw
tests_vtl_test_store_rgw_SOURCES = tests/vtl/test_store_rgw.c \
	tests/vtl/backlog_check.c tests/vtl/backlog_check.h \
	tests/vtl/shelf_check.c tests/vtl/shelf_check.h \
	tests/s3/rgw_fixture.c tests/s3/rgw_fixture.h \
	tests/iscsi/harness.c tests/iscsi/harness.h \
	tests/iscsi/vtld_proc.c tests/iscsi/vtld_proc.h
tests_vtl_test_store_rgw_CPPFLAGS = $(ISCSI_TEST_CPPFLAGS) \
	-DRGW_SH='"$(abs_top_srcdir)/tests/s3/rgw.sh"'
tests_vtl_test_store_rgw_LDADD = $(ISCSI_TEST_LDADD) $(S3_LIBS)
EXTRA_tests_vtl_test_store_rgw_DEPENDENCIES = vtld$(EXEEXT) vtlctl$(EXEEXT)

# The uploader and the shelf under store faults: the fault proxy in front of
# radosgw (an outage mid-upload, a wrong secret key, AWS's archive restore
# flow emulated by the proxy; tests/vtl/test_shelf_rgw.c).
check_PROGRAMS += tests/vtl/test_shelf_rgw
TESTS += tests/vtl/test_shelf_rgw
tests_vtl_test_shelf_rgw_SOURCES = tests/vtl/test_shelf_rgw.c \
	tests/vtl/backlog_check.c tests/vtl/backlog_check.h \
	tests/vtl/shelf_check.c tests/vtl/shelf_check.h \
	tests/s3/rgw_fixture.c tests/s3/rgw_fixture.h \
	tests/s3/faultproxy.c tests/s3/faultproxy.h \
	tests/iscsi/harness.c tests/iscsi/harness.h \
	tests/iscsi/rawpdu.c tests/iscsi/rawpdu.h \
	tests/iscsi/vtld_proc.c tests/iscsi/vtld_proc.h
tests_vtl_test_shelf_rgw_CPPFLAGS = $(ISCSI_TEST_CPPFLAGS) \
	-DRGW_SH='"$(abs_top_srcdir)/tests/s3/rgw.sh"'
tests_vtl_test_shelf_rgw_LDADD = $(ISCSI_TEST_LDADD) $(S3_LIBS)
EXTRA_tests_vtl_test_shelf_rgw_DEPENDENCIES = vtld$(EXEEXT) vtlctl$(EXEEXT)

# Text from peers (an initiator name, a control request) in vtld's log:
# escaped, never a line of its own (tests/vtl/test_log_vtld.c).
check_PROGRAMS += tests/vtl/test_log_vtld
TESTS += tests/vtl/test_log_vtld
tests_vtl_test_log_vtld_SOURCES = tests/vtl/test_log_vtld.c \
	tests/iscsi/rawpdu.c tests/iscsi/rawpdu.h \
	tests/iscsi/vtld_proc.c tests/iscsi/vtld_proc.h
tests_vtl_test_log_vtld_CPPFLAGS = $(ISCSI_TEST_CPPFLAGS)
tests_vtl_test_log_vtld_LDADD = $(ISCSI_TEST_LDADD)
EXTRA_tests_vtl_test_log_vtld_DEPENDENCIES = vtld$(EXEEXT)

# The control socket of the real vtld under hostile requests and clients
# (tests/vtl/test_ctl_vtld.c; docs/library.md, "Control protocol").
check_PROGRAMS += tests/vtl/test_ctl_vtld
TESTS += tests/vtl/test_ctl_vtld
tests_vtl_test_ctl_vtld_SOURCES = tests/vtl/test_ctl_vtld.c \
	tests/iscsi/vtld_proc.c tests/iscsi/vtld_proc.h
tests_vtl_test_ctl_vtld_CPPFLAGS = $(ISCSI_TEST_CPPFLAGS) $(JANSSON_CFLAGS)
tests_vtl_test_ctl_vtld_LDADD = $(LIBISCSI_LIBS) $(CRITERION_LIBS) $(JANSSON_LIBS)
EXTRA_tests_vtl_test_ctl_vtld_DEPENDENCIES = vtld$(EXEEXT) vtlctl$(EXEEXT)

# The tape lifecycle, every (state, event) pair against a real catalog
# (tests/vtl/test_lifecycle.c; docs/library.md, "Tape states").
check_PROGRAMS += tests/vtl/test_lifecycle
TESTS += tests/vtl/test_lifecycle
tests_vtl_test_lifecycle_SOURCES = tests/vtl/test_lifecycle.c
tests_vtl_test_lifecycle_CFLAGS = $(LIB_TEST_CFLAGS)
tests_vtl_test_lifecycle_LDADD = $(LIB_TEST_LIBS)

# Operations (docs/operations.md): Debian's Prometheus server scrapes the
# real vtld during a write and an upload to radosgw; promtool checks the
# exposition and contrib/prometheus's rules; systemd's notification
# protocol on a socket the test owns (tests/vtl/test_metrics_rgw.c).
check_PROGRAMS += tests/vtl/test_metrics_rgw
TESTS += tests/vtl/test_metrics_rgw
tests_vtl_test_metrics_rgw_SOURCES = tests/vtl/test_metrics_rgw.c \
	tests/vtl/shelf_check.c tests/vtl/shelf_check.h \
	tests/s3/rgw_fixture.c tests/s3/rgw_fixture.h \
	tests/iscsi/harness.c tests/iscsi/harness.h \
	tests/iscsi/vtld_proc.c tests/iscsi/vtld_proc.h
tests_vtl_test_metrics_rgw_CPPFLAGS = $(ISCSI_TEST_CPPFLAGS) $(JANSSON_CFLAGS) $(CURL_CFLAGS) \
	-DRGW_SH='"$(abs_top_srcdir)/tests/s3/rgw.sh"' -DSRCDIR='"$(abs_top_srcdir)"'
tests_vtl_test_metrics_rgw_LDADD = $(ISCSI_TEST_LDADD) $(S3_LIBS) $(JANSSON_LIBS)
EXTRA_tests_vtl_test_metrics_rgw_DEPENDENCIES = vtld$(EXEEXT) vtlctl$(EXEEXT)
EXTRA_DIST += contrib/prometheus/prometheus.yml contrib/prometheus/vtl-alerts.yml \
	contrib/grafana/vtl-dashboard.json
