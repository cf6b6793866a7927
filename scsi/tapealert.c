/*
 * tapealert.c - TapeAlert flags and their log page, shared by the drive
 * and the changer (tapealert.h).
 */
#include "config.h"

#include "tapealert.h"

#include <errno.h>
#include <string.h>

#include "be.h"

void tapealert_raise(uint64_t *flags, unsigned n)
{
	if (n >= 1 && n <= 64)
		*flags |= 1ull << (n - 1);
}

uint64_t tapealert_msb_first(uint64_t flags)
{
	uint64_t v = 0;
	for (unsigned n = 1; n <= 64; n++)
		if (flags & (1ull << (n - 1)))
			v |= 1ull << (64 - n);
	return v;
}

uint32_t tapealert_log_page(uint64_t *flags, unsigned n_flags, uint8_t *buf, uint32_t cap)
{
	uint8_t tmp[4 + 64 * 5];
	uint8_t *p = tmp + 4;

	if (n_flags > 64)
		n_flags = 64;
	for (unsigned n = 1; n <= n_flags; n++) {
		put_be16(p, (uint16_t)n);
		p[2] = 0x00; /* DU 0, TSD 0, ETC 0, TMC 0, binary list format */
		p[3] = 1;
		p[4] = (*flags >> (n - 1)) & 1 ? 1 : 0;
		p += 5;
	}
	uint32_t len = (uint32_t)(p - tmp);
	tmp[0] = 0x2e;
	tmp[1] = 0;
	put_be16(tmp + 2, (uint16_t)(len - 4));
	memcpy(buf, tmp, len < cap ? len : cap);
	if (cap >= len)
		*flags = 0;
	return len;
}

int tapealert_test(uint64_t *flags, uint64_t supported, unsigned n_flags, int32_t number)
{
	if (number == TAPEALERT_TEST_ALL) {
		*flags |= supported;
		return 0;
	}
	int32_t n = number < 0 ? -number : number;
	if (n < 1 || (unsigned)n > n_flags || n > 64)
		return -EINVAL;
	if (number > 0)
		*flags |= 1ull << (n - 1);
	else
		*flags &= ~(1ull << (n - 1));
	return 0;
}
