/* page.c — the live page's files, embedded at build time, and the chart
 * library, read from where Debian installs it.
 *
 * The page is three files of the product in stats/page/, kept as files so
 * that they are read, diffed and checked as HTML, JavaScript and CSS, not
 * as C strings. The assembler's .incbin puts each into .rodata as it is
 * (paths are relative to the top of the tree, where every build runs;
 * mk/stats.mk makes page.o depend on them). They hold no secret and no
 * inline script: the server's Content-Security-Policy allows scripts and
 * styles from the endpoint itself only (stats/http.c).
 *
 * The chart library is not ours: the page loads it from
 * STATS_PAGE_LIBRARY_URL, which serves KSMD_CHART_JS, opened at each
 * request (a package installed or upgraded later is served without a
 * restart; nobody who does not open the page pays for its 200 KB). The
 * path is fixed at build time, never taken from a request. */
#include "stats/page.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Embed FILE as the bytes page_NAME .. page_NAME_end (a NUL follows, not
 * counted). Local labels: nothing outside this file sees them. */
#define PAGE_EMBED(name, file)                                                 \
	__asm__(".pushsection .rodata\n"                                       \
		".balign 16\n"                                                 \
		"page_" #name ":\n"                                            \
		".incbin \"" file "\"\n"                                       \
		"page_" #name "_end:\n"                                        \
		".byte 0\n"                                                    \
		".popsection\n");                                              \
	extern const char page_##name[] __attribute__((visibility("hidden"))); \
	extern const char page_##name##_end[] __attribute__((visibility("hidden")))

PAGE_EMBED(index_html, "stats/page/index.html");
PAGE_EMBED(ksmd_js, "stats/page/ksmd.js");
PAGE_EMBED(ksmd_css, "stats/page/ksmd.css");

bool stats_page_asset(const char *path, struct stats_asset *out)
{
	const struct stats_asset assets[] = {
		{ "/", "text/html; charset=utf-8", page_index_html,
		  (size_t)(page_index_html_end - page_index_html) },
		{ "/ksmd.js", "text/javascript; charset=utf-8", page_ksmd_js,
		  (size_t)(page_ksmd_js_end - page_ksmd_js) },
		{ "/ksmd.css", "text/css; charset=utf-8", page_ksmd_css,
		  (size_t)(page_ksmd_css_end - page_ksmd_css) },
	};
	for (size_t i = 0; i < sizeof assets / sizeof assets[0]; i++)
		if (strcmp(path, assets[i].path) == 0) {
			*out = assets[i];
			return true;
		}
	return false;
}

static const char *library_path = KSMD_CHART_JS;

const char *stats_page_library(void)
{
	return library_path;
}

int stats_page_chroot(char *root, size_t len)
{
	static char below[sizeof KSMD_CHART_JS + 1];
	char dir[sizeof KSMD_CHART_JS];
	snprintf(dir, sizeof dir, "%s", KSMD_CHART_JS);
	for (;;) {
		char *slash = strrchr(dir, '/');
		if (!slash || slash == dir)
			return -ENOENT; /* "/" itself: no confinement */
		*slash = '\0';
		struct stat st;
		if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
			break;
	}
	if (chroot(dir) < 0 || chdir("/") < 0)
		return -errno;
	snprintf(below, sizeof below, "%s", KSMD_CHART_JS + strlen(dir));
	library_path = below;
	snprintf(root, len, "%s", dir);
	return 0;
}

int stats_page_file_open(const char *path, uint64_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	struct stat st;
	int r = 0;
	if (fstat(fd, &st) < 0)
		r = -errno;
	else if (!S_ISREG(st.st_mode))
		r = -EINVAL;
	else if ((uint64_t)st.st_size > STATS_PAGE_FILE_MAX_BYTES)
		r = -EFBIG;
	if (r < 0) {
		close(fd);
		return r;
	}
	*size = (uint64_t)st.st_size;
	return fd;
}
