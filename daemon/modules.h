/* modules.h — how the daemon drives scanner/, balloon/, policy/ and stats/.
 *
 * The guest registry lives here: one struct guest per configured (or
 * discovered) guest, holding its balloon backend, its place in the scanner,
 * and the rates derived from two samples of its stats. */
#ifndef KSMD_MODULES_H
#define KSMD_MODULES_H

#include <jansson.h>
#include <stdbool.h>

struct daemon;

int modules_init(struct daemon *d);
void modules_tick(struct daemon *d);
void modules_apply_config(struct daemon *d);
/* After a reload: add new guests, drop removed ones, keep the others. */
void modules_reload_guests(struct daemon *d);
void modules_fini(struct daemon *d);

/* Control commands that need the modules. Each returns a control answer. */
json_t *modules_pause(struct daemon *d, const char *what, bool pause);
json_t *modules_balloon(struct daemon *d, const char *guest, const char *size);

#endif
