# scsi/: transport-neutral device emulation and the medium.
noinst_LIBRARIES += libvtlscsi.a
libvtlscsi_a_SOURCES = \
	scsi/be.h scsi/scsi.h \
	scsi/sense.c scsi/sense.h \
	scsi/crc32c.c scsi/crc32c.h \
	scsi/dispatch.c scsi/spc.c scsi/spc.h \
	scsi/tape.c scsi/tape.h scsi/tape_disk.c scsi/tape_files.c scsi/tape_repair.c \
	scsi/tape_crypt.c scsi/tape_compress.c scsi/tape_readahead.c scsi/tape_buffered.c \
	scsi/tape_segcache.c scsi/tape_read.c scsi/tape_position.c \
	scsi/tape_int.h \
	scsi/ssc.c scsi/ssc.h scsi/ssc_pages.c scsi/ssc_priv.h scsi/ssc_crypto.c \
	scsi/ssc_lbp.c scsi/ssc_buffer.c scsi/ssc_logs.c scsi/ssc_vendor.c \
	scsi/smc.c scsi/smc.h scsi/personality.c scsi/personality.h \
	scsi/tapealert.c scsi/tapealert.h scsi/ssc_clean.c

libvtlscsi_a_CPPFLAGS = $(AM_CPPFLAGS) $(CRYPTO_CFLAGS)

SCSI_LIBS = libvtlscsi.a $(ISAL_LIBS) $(ZSTD_LIBS) $(LZ4_LIBS) $(CRYPTO_LIBS)
