/* fuzz_state.c — libFuzzer target of the state file reader
 * (daemon/state.c: state_parse, what state_load does after opening the
 * file). Whatever the file holds, the result is usable: overrides an
 * object, freed without a leak. */
#include "daemon/state.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct daemon_state st;
	int r = state_parse((const char *)data, size, &st);
	if (r == 0 && !json_is_object(st.overrides))
		abort();
	if (r != 0 && r != -EBADMSG)
		abort();
	if (r == 0)
		state_free(&st);
	return 0;
}
