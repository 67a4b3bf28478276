/* page.h — the live page and its hour of history (private to stats/).
 *
 * The page (GET /) is three files of the product, stats/page/index.html,
 * ksmd.js and ksmd.css, embedded in the binary at build time (page.c) and
 * served as they are. Its charts come from Chart.js as Debian packages it
 * (libjs-chart.js), read from its installed path at each request and never
 * part of ksmd; without it the page shows its tables only. The history the
 * charts draw is kept by the daemon (history.c): a ring of points, one
 * every STATS_HISTORY_STEP_SECONDS over the last hour, served as
 * GET /v1/history. docs/STATS.md documents both. */
#ifndef KSMD_STATS_PAGE_H
#define KSMD_STATS_PAGE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stats/sbuf.h"

/* The chart library, as Debian's libjs-chart.js installs it. */
#ifndef KSMD_CHART_JS
#define KSMD_CHART_JS "/usr/share/javascript/chart.js/chart.min.js"
#endif
#define STATS_PAGE_LIBRARY_URL "/js/chart.min.js"     /* where the page loads it */
#define STATS_PAGE_FILE_MAX_BYTES (4u << 20)          /* a served file, at most */
#define STATS_PAGE_NO_LIBRARY "chart library not installed (Debian package libjs-chart.js)\n"

/* The history ring: a point every STEP seconds of the snapshots' time,
 * POINTS of them (one hour). */
#define STATS_HISTORY_STEP_SECONDS 10
#define STATS_HISTORY_POINTS 360

/* One embedded file of the page. */
struct stats_asset {
	const char *path;         /* the URL path, e.g. "/" */
	const char *content_type; /* static string */
	const char *body;         /* embedded, never freed */
	size_t len;
};

/* The embedded file served at path in *out: true, or false when no file
 * of the page is served there. */
bool stats_page_asset(const char *path, struct stats_asset *out);

/* Open a file served as is (the chart library) for reading: a regular
 * file of at most STATS_PAGE_FILE_MAX_BYTES. Returns its descriptor
 * (O_CLOEXEC; the caller closes it) with its size in *size, or -ENOENT
 * (missing), -EINVAL (not a regular file), -EFBIG (too big), another
 * negative errno. Does not log. */
int stats_page_file_open(const char *path, uint64_t *size);

/* The chart library's path as this process opens it: KSMD_CHART_JS, or,
 * after stats_page_chroot, its path below the new root. */
const char *stats_page_library(void);

/* Make the nearest existing directory above KSMD_CHART_JS (its own folder
 * where the package is installed, else /usr/share/javascript, /usr/share,
 * ...) the root of the calling process, which must be able to chroot
 * (CAP_SYS_CHROOT), so that files below it, public ones, are all it can
 * still open; the library is then opened at its path below that root, and
 * an install or upgrade of the package is served without a restart. The
 * root's path in root. 0, or -errno (-ENOENT: no folder above it but /,
 * which would confine nothing). */
int stats_page_chroot(char *root, size_t len);

/* Offer a published snapshot to the history: a point is taken when the
 * snapshot's time is at least STATS_HISTORY_STEP_SECONDS after the newest
 * point's (a snapshot older than the newest point, the clock set back,
 * starts the ring over). Returns 1 when the ring changed, 0 when the
 * snapshot was skipped (too soon, or no time). Call from the publisher
 * only (one thread at a time). */
int stats_history_add(const json_t *snap);

/* Append the ring as the JSON body of GET /v1/history, oldest point
 * first, ending with a newline. Appends only (failure shows in
 * sb->failed). Publisher only. */
void stats_history_render(struct sbuf *sb);

/* Forget every point (stats_shutdown). */
void stats_history_reset(void);

#endif
