/* fuzz_control.c — libFuzzer target for the daemon's untrusted text edges.
 *
 * Input "C<line>": one control-socket request line, parsed by
 * control_dispatch() and handled by a handler that does what the daemon's
 * get/set verbs do (config_find, config_set, config_format on a live
 * configuration). Input "F<text>": a whole ksmd.conf, parsed by
 * config_parse(). Every answer must be a JSON object with an "ok" boolean;
 * every refused file must come with at least one message. Crashes, leaks
 * (ASan) and undefined behaviour (UBSan) are findings; so is an abort(). */
#include "conf/config.h"
#include "daemon/control.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static struct ksmd_config live;

static json_t *handler(const char *cmd, json_t *args, void *data)
{
	char err[300], buf[CONF_STR_MAX];
	(void)data;
	const char *a0 = json_string_value(json_array_get(args, 0));
	const char *a1 = json_string_value(json_array_get(args, 1));
	if (!strcmp(cmd, "get") && a0) {
		const struct conf_key *k = config_find(a0);
		return k ? control_ok(json_string(config_format(&live, k, buf, sizeof buf)))
			 : control_error("unknown key '%s'", a0);
	}
	if (!strcmp(cmd, "set") && a0 && a1) {
		if (config_set(&live, a0, a1, err, sizeof err) < 0)
			return control_error("%s", err);
		const struct conf_key *k = config_find(a0);
		if (!k)
			abort(); /* set succeeded on a key that does not exist */
		return control_ok(json_string(config_format(&live, k, buf, sizeof buf)));
	}
	return control_error("unknown command '%s'", cmd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	if (!init) {
		config_defaults(&live);
		init = 1;
	}
	if (size < 1)
		return 0;
	char *text = malloc(size);
	if (!text)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = 0;
	if (data[0] == 'F') {
		struct ksmd_config cfg;
		struct conf_errors errs = { 0 };
		int r = config_parse("fuzz.conf", text, &cfg, &errs);
		if (r == 0)
			config_free(&cfg);
		else if (r == -EINVAL && errs.n == 0)
			abort(); /* refused without a message */
		conf_errors_free(&errs);
	} else {
		json_t *ans = control_dispatch(text, handler, NULL);
		if (!json_is_object(ans) || !json_is_boolean(json_object_get(ans, "ok")))
			abort();
		json_decref(ans);
	}
	free(text);
	return 0;
}
