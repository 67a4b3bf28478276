/* fuzz_view.c — libFuzzer target of ksmdctl's rendering (cli/view.c) of
 * the daemon's answers: any JSON value (a daemon of another version, a
 * truncated or hostile answer) through every view, raw and formatted. */
#include "cli/view.h"
#include "ctl/fields.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *out;
	if (!out && !(out = fopen("/dev/null", "w")))
		abort();
	json_error_t err;
	json_t *snap = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
	if (!snap)
		return 0;
	for (int raw = 0; raw < 2; raw++) {
		view_set_raw(raw);
		view_status(snap, out);
		view_guests(snap, out);
		view_ksm(snap, out);
		view_decisions(snap, out);
		view_top_frame(snap, out, 80);
		view_top_frame(snap, out, 1);
		view_guest(snap, "g0", out);
		/* a guest's name as the answer spells it */
		const json_t *g0 = json_array_get(snap_get(snap, SF_GUESTS), 0);
		const char *name = json_string_value(snap_get(g0, SF_GUEST_NAME));
		if (name)
			view_guest(snap, name, out);
	}
	json_decref(snap);
	return 0;
}
