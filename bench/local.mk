# Benchmarks: built by `make bench`, never run by `make check` (bench_iscsi
# is built and run small by it, measuring nothing: see below).
EXTRA_PROGRAMS = bench/bench_stream
bench_bench_stream_SOURCES = bench/bench_stream.c bench/bench_util.c bench/bench_util.h
bench_bench_stream_LDADD = $(SCSI_LIBS) -lpthread
BENCHES += bench/bench_stream
CLEANFILES += $(BENCHES)

# The iSCSI target against Debian's tgt (docs/benchmarks.md): starts
# ./vtld, ./vtlctl and tgtd itself. libiscsi's headers come from their own
# directory, as in iscsi/local.mk. Built with the tests too: run small,
# tests/bench/test_bench_iscsi.sh checks how it measures (never a speed).
check_PROGRAMS += bench/bench_iscsi
TESTS += tests/bench/test_bench_iscsi.sh
EXTRA_DIST += tests/bench/test_bench_iscsi.sh
bench_bench_iscsi_SOURCES = bench/bench_iscsi.c bench/bench_util.c bench/bench_util.h
bench_bench_iscsi_CPPFLAGS = $(AM_CPPFLAGS) $(LIBISCSI_CFLAGS) \
	-I`$(PKG_CONFIG) --variable=includedir libiscsi`/iscsi
bench_bench_iscsi_LDADD = $(LIBISCSI_LIBS) -lpthread -lm
EXTRA_bench_bench_iscsi_DEPENDENCIES = vtld$(EXEEXT) vtlctl$(EXEEXT)
BENCHES += bench/bench_iscsi

# Encryption at rest through iSCSI: a vtld with [encryption] mode = library
# against a plain one, 256 KiB records (docs/benchmarks.md). Starts ./vtld
# and ./vtlctl. Built with the tests too, as bench_inventory below:
# tests/bench/test_bench_stop.sh runs both small and stops them by signals
# (never a speed).
check_PROGRAMS += bench/bench_at_rest
TESTS += tests/bench/test_bench_stop.sh
EXTRA_DIST += tests/bench/test_bench_stop.sh
bench_bench_at_rest_SOURCES = bench/bench_at_rest.c bench/bench_util.c bench/bench_util.h
bench_bench_at_rest_CPPFLAGS = $(AM_CPPFLAGS) $(LIBISCSI_CFLAGS) \
	-I`$(PKG_CONFIG) --variable=includedir libiscsi`/iscsi
bench_bench_at_rest_LDADD = $(LIBISCSI_LIBS) -lpthread
EXTRA_bench_bench_at_rest_DEPENDENCIES = vtld$(EXEEXT) vtlctl$(EXEEXT)
BENCHES += bench/bench_at_rest

# The library through LIO (tcm_loop + TCMU, LIO iSCSI + TCMU) against the
# built-in target, in the QEMU guest of tests/e2e (docs/benchmarks.md). bench/tcmu/run-bench.sh prints one "skipped" line and
# succeeds when QEMU or a guest tool is missing, so the benchmarks after it
# still run. Makefile.am's bench loop runs ./$$b from the build directory,
# and CLEANFILES removes every $(BENCHES) entry: hence a wrapper made here
# that names this build's vtld and vtlctl, rather than the script itself.
bench/bench_tcmu: vtld$(EXEEXT) vtlctl$(EXEEXT) $(srcdir)/bench/local.mk
	$(AM_V_GEN)$(MKDIR_P) bench && \
	printf '#!/bin/sh\nVTLD=%s VTLCTL=%s exec %s "$$@"\n' '$(abs_top_builddir)/vtld$(EXEEXT)' \
		'$(abs_top_builddir)/vtlctl$(EXEEXT)' '$(abs_top_srcdir)/bench/tcmu/run-bench.sh' >$@ && \
	chmod +x $@
BENCHES += bench/bench_tcmu
EXTRA_DIST += bench/tcmu/run-bench.sh bench/tcmu/guest-bench.sh

# The uploader against `aws s3 cp` and boto3 on a radosgw it starts itself
# (docs/benchmarks.md): ./vtld, ./vtlctl, tests/s3/rgw.sh and the
# boto3 helper bench/bench_upload.py; the peers come with
# `scripts/install-deps.sh bench`.
EXTRA_PROGRAMS += bench/bench_upload
bench_bench_upload_SOURCES = bench/bench_upload.c bench/bench_util.c bench/bench_util.h
bench_bench_upload_CPPFLAGS = $(AM_CPPFLAGS) $(LIBISCSI_CFLAGS) $(JANSSON_CFLAGS) \
	-I`$(PKG_CONFIG) --variable=includedir libiscsi`/iscsi \
	-DRGW_SH='"$(abs_top_srcdir)/tests/s3/rgw.sh"' \
	-DBENCH_UPLOAD_PY='"$(abs_top_srcdir)/bench/bench_upload.py"'
bench_bench_upload_LDADD = $(S3_LIBS) $(LIBISCSI_LIBS) $(JANSSON_LIBS) -lpthread
EXTRA_bench_bench_upload_DEPENDENCIES = vtld$(EXEEXT) vtlctl$(EXEEXT)
BENCHES += bench/bench_upload
EXTRA_DIST += bench/bench_upload.py

# The inventory at scale (docs/benchmarks.md): tape create --count, tape
# list, READ ELEMENT STATUS and restart of a 10,000-slot library against
# the same library empty. Starts ./vtld and ./vtlctl.
check_PROGRAMS += bench/bench_inventory
bench_bench_inventory_SOURCES = bench/bench_inventory.c bench/bench_util.c bench/bench_util.h
bench_bench_inventory_CPPFLAGS = $(AM_CPPFLAGS) $(LIBISCSI_CFLAGS) \
	-I`$(PKG_CONFIG) --variable=includedir libiscsi`/iscsi
bench_bench_inventory_LDADD = $(LIBISCSI_LIBS) -lpthread
EXTRA_bench_bench_inventory_DEPENDENCIES = vtld$(EXEEXT) vtlctl$(EXEEXT)
BENCHES += bench/bench_inventory

# A cartridge with the segment count of an 18 TB LTO-9 tape, written and
# read through the medium (scsi/tape.c), the beginning against the end
# (docs/benchmarks.md, "Large tapes").
EXTRA_PROGRAMS += bench/bench_bigtape
bench_bench_bigtape_SOURCES = bench/bench_bigtape.c bench/bench_util.c bench/bench_util.h
bench_bench_bigtape_LDADD = $(SCSI_LIBS) -lpthread
BENCHES += bench/bench_bigtape
