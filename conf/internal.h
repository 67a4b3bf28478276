/* internal.h — what keys.c and parse.c share: defaults, key lookup, field sizes. */
#ifndef KSMD_CONF_INTERNAL_H
#define KSMD_CONF_INTERNAL_H

#include "conf/config.h"

/* Sets every key of section ("guest", or any other for the global keys) at base to its default. */
void config_set_defaults(const char *section, void *base);
/* The key named name in section, or NULL. */
const struct conf_key *config_find_key(const char *section, const char *name);
/* Bytes of a string or enum key's buffer, NUL included. */
size_t config_field_size(const struct conf_key *k);
/* The checks some keys add to their type's (keys.c: stats.user names a
 * user that exists and is not root): 0, or -EINVAL with err. */
int config_key_check(const struct conf_key *k, const void *p, char *err, size_t errlen);

#endif
