/*
 * crc32c.h - CRC32C (Castagnoli), the checksum of every medium record and
 * of iSCSI header and data digests (RFC 7143 13.1).
 *
 * Backed by ISA-L's crc32_iscsi, which picks the fastest kernel for the CPU
 * (SSE4.2 crc32 with PCLMULQDQ folding); see docs/design.md.
 */
#ifndef VTL_CRC32C_H
#define VTL_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Standard CRC32C of buf; crc32c("123456789") == 0xe3069283. */
uint32_t crc32c(const void *buf, size_t len);

/* Incremental form: start with crc = 0, feed pieces, the result equals
 * crc32c() of the concatenation. */
uint32_t crc32c_update(uint32_t crc, const void *buf, size_t len);

#endif
