/* keys.h — the configuration keys ksmdctl knows offline (for `--list keys`,
 * and so for bash completion).
 *
 * The table is the daemon's (daemon/config.c), which ksmdctl does not link:
 * the build writes $(B)/gen/cli_keys.c from `ksmd --list-keys` each time
 * ksmd is linked, so this list is the table of the ksmd built beside it. */
#ifndef KSMD_CLI_KEYS_H
#define KSMD_CLI_KEYS_H

#include <stdbool.h>
#include <stddef.h>

struct cli_key {
	const char *name;   /* "section.name", as `ksmdctl get` takes it */
	bool live;          /* `ksmdctl set` may change it */
};

extern const struct cli_key cli_keys[];
extern const size_t cli_n_keys;

#endif
