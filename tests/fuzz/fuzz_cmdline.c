/* fuzz_cmdline.c — libFuzzer target of discovery's QEMU command line
 * parser (balloon/discover.c: balloon_parse_qemu_cmdline) on the raw bytes
 * of a /proc/PID/cmdline, which need not end with a NUL (a process may
 * rewrite its arguments). What it returns is NUL-terminated and in bounds. */
#include "balloon/balloon.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qemu_guest g;
	int r = balloon_parse_qemu_cmdline((const char *)data, size, &g);
	if (r != 0 && r != -ENOENT && r != -EINVAL)
		abort();
	if (r == -EINVAL)
		return 0;
	if (!memchr(g.name, 0, sizeof g.name) || !memchr(g.qmp_path, 0, sizeof g.qmp_path))
		abort(); /* unterminated */
	if ((r == 0) != (g.qmp_path[0] != 0))
		abort();
	return 0;
}
