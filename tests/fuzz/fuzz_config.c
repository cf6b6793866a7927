/*
 * fuzz_config.c - vtld's configuration file parser (vtl/vtld_config.c on
 * libinih): the input is the file, handed to vtl_config_load() through a
 * memfd so that nothing touches the disk.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tests/fuzz/fuzz_util.h"
#include "vtl/vtld_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	if (fd < 0) {
		fd = memfd_create("vtld.conf", MFD_CLOEXEC);
		if (fd < 0)
			fz_die("memfd_create failed");
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) || pwrite(fd, data, size, 0) != (ssize_t)size)
		fz_die("cannot write the config to the memfd");
	struct vtl_config *cfg = malloc(sizeof(*cfg));
	if (!cfg)
		fz_die("out of memory");
	vtl_config_defaults(cfg);
	char err[512];
	err[0] = 0;
	int rc = vtl_config_load(path, cfg, err, sizeof(err));
	/* An error names the file and line, and is a C string. */
	if (rc && !memchr(err, 0, sizeof(err)))
		abort();
	free(cfg);
	return 0;
}
