/* modules.h — how the daemon drives scanner/, balloon/, policy/ and stats/:
 * their start, stop, live configuration, pause and resume (modules.c), the
 * tick (tick.c), and the guest registry's reload and `ksmdctl balloon`
 * (registry.c; its structs are guests.h). */
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
/* Hand a snapshot to the stats endpoint's process, if it runs (the caller
 * keeps its reference). */
void modules_publish(struct daemon *d, json_t *snap);

/* Control commands that need the modules. Each returns a control answer. */
json_t *modules_pause(struct daemon *d, const char *what, bool pause);
json_t *modules_balloon(struct daemon *d, const char *guest, const char *size);

#endif
