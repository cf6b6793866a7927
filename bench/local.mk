# Benchmarks: built by `make bench`, never run by `make check`.
EXTRA_PROGRAMS = bench/bench_stream
bench_bench_stream_SOURCES = bench/bench_stream.c
bench_bench_stream_LDADD = $(SCSI_LIBS) -lpthread
BENCHES += bench/bench_stream
CLEANFILES += $(BENCHES)

# The iSCSI target against Debian's tgt (issue 5, docs/benchmarks.md): starts
# ./vtld, ./vtlctl and tgtd itself. libiscsi's headers come from their own
# directory, as in iscsi/local.mk.
EXTRA_PROGRAMS += bench/bench_iscsi
bench_bench_iscsi_SOURCES = bench/bench_iscsi.c
bench_bench_iscsi_CPPFLAGS = $(AM_CPPFLAGS) $(LIBISCSI_CFLAGS) \
	-I`$(PKG_CONFIG) --variable=includedir libiscsi`/iscsi
bench_bench_iscsi_LDADD = $(LIBISCSI_LIBS) -lpthread -lm
EXTRA_bench_bench_iscsi_DEPENDENCIES = vtld$(EXEEXT) vtlctl$(EXEEXT)
BENCHES += bench/bench_iscsi
