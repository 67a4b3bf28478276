/* view.h — ksmdctl's human-readable renderings of a stats snapshot.
 *
 * Every view_* function below is pure: it reads a snapshot in the schema
 * of docs/STATS.md (version 1; any field may be missing and is then shown
 * as "-") and writes text to a FILE*. Sizes are human-readable (KiB, MiB,
 * GiB) unless view_set_raw(true) asks for plain bytes. They return 0, or
 * -ENOENT (view_guest: no such guest), -EINVAL (snap not an object). */
#ifndef KSMD_CLI_VIEW_H
#define KSMD_CLI_VIEW_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

/* Print sizes as plain byte counts instead of KiB/MiB/GiB (for scripts). */
void view_set_raw(bool raw);

/* Overview: version, uptime, host memory and pressure, KSM savings,
 * scanner state, policy state, guest count by state. */
int view_status(const json_t *snap, FILE *f);
/* One line per guest: name, backend, state, size, balloon target/actual,
 * merged, stats age. */
int view_guests(const json_t *snap, FILE *f);
/* Every field of one guest; -ENOENT if name is not in the snapshot. */
int view_guest(const json_t *snap, const char *name, FILE *f);
/* KSM counters, savings, pacing, and the scanner's prediction. */
int view_ksm(const json_t *snap, FILE *f);
/* The policy's recent decisions, oldest first, with their reasons. */
int view_decisions(const json_t *snap, FILE *f);

/* One frame of `ksmdctl top`, at most width columns (min 40) per line:
 * host line (budget, available, PSI, swap, KSM rate and savings), then a
 * table of guests sorted by size. No escape codes. */
int view_top_frame(const json_t *snap, FILE *f, int width);

/* Fetch a snapshot for `top` (the CLI asks the daemon's control socket).
 * Returns a new reference the caller owns, or NULL on error (with errno or
 * a message already printed by the callback). */
typedef json_t *(*view_fetch_fn)(void *ctx);

/* Run `top`: fetch, draw to stdout, sleep interval_ms, until iterations
 * frames were drawn (0 = forever), 'q' is pressed, or SIGINT/SIGTERM.
 * Clears the screen (ANSI) only when stdout is a tty, and then puts the
 * terminal (when stdin is a tty) in non-canonical mode to read 'q',
 * restoring it on exit. Width comes from TIOCGWINSZ, else $COLUMNS, else 80.
 * A failed fetch prints a message line and keeps trying. Returns 0. */
int view_top_loop(view_fetch_fn fetch, void *ctx, int interval_ms, int iterations);

#endif
