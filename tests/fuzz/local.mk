# tests/fuzz: the libFuzzer targets (docs/security.md), one per parser of
# outside input. libFuzzer comes with clang, not gcc, so they are built only
# in a build directory configured with CC=clang --enable-fuzzing, which
# instruments the libraries too; scripts/fuzz.sh makes that directory
# (build-fuzz) and runs them. `make fuzz` in any build directory calls it.
FUZZ_TARGETS = \
	tests/fuzz/fuzz_iscsi \
	tests/fuzz/fuzz_iscsi_text \
	tests/fuzz/fuzz_scsi \
	tests/fuzz/fuzz_ctl \
	tests/fuzz/fuzz_config \
	tests/fuzz/fuzz_s3_xml \
	tests/fuzz/fuzz_s3_response \
	tests/fuzz/fuzz_tape \
	tests/fuzz/fuzz_tape_rest

EXTRA_PROGRAMS += $(FUZZ_TARGETS)
EXTRA_DIST += scripts/fuzz.sh tests/fuzz/make_corpus.py tests/fuzz/corpus tests/fuzz/dict

FUZZ_UTIL = tests/fuzz/fuzz_util.c tests/fuzz/fuzz_util.h
FUZZ_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(SQLITE_CFLAGS)
FUZZ_LINK = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)

# The built-in target in front of a real library, over TCP on 127.0.0.1.
tests_fuzz_fuzz_iscsi_SOURCES = tests/fuzz/fuzz_iscsi.c $(FUZZ_UTIL)
tests_fuzz_fuzz_iscsi_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_iscsi_LDFLAGS = $(FUZZ_LINK)
tests_fuzz_fuzz_iscsi_LDADD = $(ISCSI_LIBS) $(VTL_LIBS) -lpthread

# Login and Text keys and CHAP values, without a connection.
tests_fuzz_fuzz_iscsi_text_SOURCES = tests/fuzz/fuzz_iscsi_text.c
tests_fuzz_fuzz_iscsi_text_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_iscsi_text_LDFLAGS = $(FUZZ_LINK)
tests_fuzz_fuzz_iscsi_text_LDADD = $(ISCSI_LIBS) $(SCSI_LIBS)

# CDBs and parameter lists on the changer and the drives.
tests_fuzz_fuzz_scsi_SOURCES = tests/fuzz/fuzz_scsi.c $(FUZZ_UTIL)
tests_fuzz_fuzz_scsi_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_scsi_LDFLAGS = $(FUZZ_LINK)
tests_fuzz_fuzz_scsi_LDADD = $(VTL_LIBS) -lpthread

# Control socket requests.
tests_fuzz_fuzz_ctl_SOURCES = tests/fuzz/fuzz_ctl.c $(FUZZ_UTIL)
tests_fuzz_fuzz_ctl_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_ctl_LDFLAGS = $(FUZZ_LINK)
tests_fuzz_fuzz_ctl_LDADD = $(VTL_LIBS) -lpthread

# vtld.conf.
tests_fuzz_fuzz_config_SOURCES = tests/fuzz/fuzz_config.c $(FUZZ_UTIL)
tests_fuzz_fuzz_config_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_config_LDFLAGS = $(FUZZ_LINK)
tests_fuzz_fuzz_config_LDADD = $(VTL_LIBS) -lpthread

# S3's XML, alone and as the S3 backend reads it from a server.
tests_fuzz_fuzz_s3_xml_SOURCES = tests/fuzz/fuzz_s3_xml.c
tests_fuzz_fuzz_s3_xml_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_s3_xml_LDFLAGS = $(FUZZ_LINK)
tests_fuzz_fuzz_s3_xml_LDADD = $(S3_LIBS)

tests_fuzz_fuzz_s3_response_SOURCES = tests/fuzz/fuzz_s3_response.c $(FUZZ_UTIL)
tests_fuzz_fuzz_s3_response_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_s3_response_LDFLAGS = $(FUZZ_LINK)
tests_fuzz_fuzz_s3_response_LDADD = $(VTL_LIBS) -lpthread

# The medium opened from damaged files.
tests_fuzz_fuzz_tape_SOURCES = tests/fuzz/fuzz_tape.c $(FUZZ_UTIL)
tests_fuzz_fuzz_tape_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_tape_LDFLAGS = $(FUZZ_LINK)
tests_fuzz_fuzz_tape_LDADD = $(VTL_LIBS) -lpthread

# The same on a cartridge encrypted at rest, its data key installed.
tests_fuzz_fuzz_tape_rest_SOURCES = tests/fuzz/fuzz_tape.c $(FUZZ_UTIL)
tests_fuzz_fuzz_tape_rest_CFLAGS = $(FUZZ_CFLAGS) -DFUZZ_AT_REST
tests_fuzz_fuzz_tape_rest_LDFLAGS = $(FUZZ_LINK)
tests_fuzz_fuzz_tape_rest_LDADD = $(VTL_LIBS) -lpthread

fuzz-programs: $(FUZZ_TARGETS)

# FUZZ_TIME=N seconds per target (default 60); scripts/fuzz.sh --help.
fuzz:
if HAVE_FUZZ_CC
	FUZZ_CC='$(FUZZ_CC)' $(top_srcdir)/scripts/fuzz.sh run
else
	@echo "make fuzz needs clang and libFuzzer: scripts/install-deps.sh test" \
		"(Debian packages clang-14 libclang-rt-14-dev), then configure again" >&2; exit 1
endif
.PHONY: fuzz fuzz-programs

# The findings of fuzzing that a unit test shows best, run by `make check`
# under gcc like every suite (docs/security.md).
check_PROGRAMS += tests/fuzz/test_regress
TESTS += tests/fuzz/test_regress
tests_fuzz_test_regress_SOURCES = tests/fuzz/test_regress.c
tests_fuzz_test_regress_CFLAGS = $(AM_CFLAGS) $(CRITERION_CFLAGS)
tests_fuzz_test_regress_LDADD = $(S3_LIBS) $(SCSI_LIBS) $(CRITERION_LIBS)
