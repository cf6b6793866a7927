/*
 * crc32c.c - CRC32C through ISA-L.
 *
 * ISA-L's crc32_iscsi() neither inverts its seed nor its result; the
 * standard CRC32C (RFC 3720 B.4, the iSCSI digest) starts from all ones and
 * inverts at the end. Keeping that inversion here lets callers chain
 * crc32c_update() calls with the plain result of the previous one.
 */
#include "config.h"

#include "crc32c.h"

#include <isa-l/crc.h>
#include <limits.h>

uint32_t crc32c_update(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint32_t reg = ~crc;

	while (len > 0) {
		int n = len > INT_MAX ? INT_MAX : (int)len;
		reg = crc32_iscsi((unsigned char *)p, n, reg);
		p += n;
		len -= (size_t)n;
	}
	return ~reg;
}

uint32_t crc32c(const void *buf, size_t len)
{
	return crc32c_update(0, buf, len);
}
