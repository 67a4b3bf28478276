/* fuzz_config.c — libFuzzer target of the configuration parser
 * (conf/parse.c) on raw bytes, NUL bytes included, as ksmd reads
 * a file: config_parse_buf(). A file with a NUL byte must be refused (it
 * once ended the text there, dropping the rest); every refused file comes
 * with a message; an accepted one is freed. */
#include "conf/config.h"
#include "tests/fuzz/fuzz_quiet.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ksmd_config cfg;
	struct conf_errors errs = { 0 };
	int r = config_parse_buf("fuzz.conf", (const char *)data, size, &cfg, &errs);
	if (r == 0) {
		if (memchr(data, 0, size))
			abort(); /* a NUL byte accepted */
		config_free(&cfg);
	} else if (r == -EINVAL && errs.n == 0) {
		abort(); /* refused without a message */
	}
	conf_errors_free(&errs);
	return 0;
}
