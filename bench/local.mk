# Benchmarks: built by `make bench`, never run by `make check`.
EXTRA_PROGRAMS = bench/bench_stream
bench_bench_stream_SOURCES = bench/bench_stream.c
bench_bench_stream_LDADD = $(SCSI_LIBS) -lpthread
BENCHES += bench/bench_stream
CLEANFILES += $(BENCHES)
