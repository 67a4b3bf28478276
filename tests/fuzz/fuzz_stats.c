/* fuzz_stats.c — libFuzzer target for the stats module's untrusted edges.
 *
 * Input: "METHOD PATH\0JSON". The JSON (any bytes) is parsed with jansson;
 * when it is an object it is rendered as Prometheus text, which must pass
 * the strict exposition checker of the unit tests (any snapshot, however
 * odd, renders valid text), then published. The request line is routed
 * against the current snapshot, as the HTTP server would: the reply must
 * be one of the statuses the endpoint documents and carry a body, and the
 * served snapshot must be byte for byte what json_dumps writes, and the
 * history (GET /v1/history) must parse as a JSON object. Without a
 * NUL byte the whole input is the path of a GET. Crashes, leaks (ASan)
 * and undefined behaviour (UBSan) are findings; so is an abort() below. */
#include "stats/stats.h"
#include "tests/unit/test_stats_expo.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check_route(const char *method, const char *path)
{
	struct stats_reply r;
	if (stats_route(method, path, &r) < 0)
		return; /* -ENOMEM */
	if (!r.body || strlen(r.body) != r.body_len || !r.content_type)
		abort();
	if (r.status != 200 && r.status != 404 && r.status != 405 && r.status != 503)
		abort();
	if ((r.status == 405) != (r.allow != NULL))
		abort();
	free(r.body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	char line[512];
	size_t ll = nul ? (size_t)(nul - data) : size;
	if (ll >= sizeof line)
		ll = sizeof line - 1;
	memcpy(line, data, ll);
	line[ll] = '\0';

	if (nul) {
		json_error_t err;
		json_t *snap = json_loadb((const char *)nul + 1, size - (size_t)(nul + 1 - data),
					  JSON_ALLOW_NUL, &err);
		if (json_is_object(snap)) {
			char *text;
			size_t len;
			if (stats_render_prometheus(snap, &text, &len) == 0) {
				const char *bad = expo_check(text, len);
				if (bad) {
					fprintf(stderr, "invalid exposition: %s\n", bad);
					abort();
				}
				free(text);
			}
		}
		/* The whole-snapshot body is assembled from pieces at publish
		 * time; it must be the bytes json_dumps writes, plus "\n". */
		char *want = json_is_object(snap) ? json_dumps(snap, JSON_COMPACT) : NULL;
		if (snap && stats_publish(snap) == 0 && want) {
			char *got;
			size_t len;
			if (stats_current_json(&got, &len) == 0) {
				if (len != strlen(want) + 1 || memcmp(got, want, len - 1) || got[len - 1] != '\n') {
					fprintf(stderr, "body differs from json_dumps\n");
					abort();
				}
				free(got);
			}
		}
		free(want);
		struct stats_reply h;
		if (stats_route("GET", "/v1/history", &h) == 0) {
			json_t *hist = h.status == 200 ? json_loadb(h.body, h.body_len, 0, NULL) : NULL;
			if (h.status == 200 && !json_is_object(hist)) {
				fprintf(stderr, "history is not a JSON object: %s\n", h.body);
				abort();
			}
			json_decref(hist);
			free(h.body);
		}
	}
	char *sp = nul ? strchr(line, ' ') : NULL;
	if (sp) {
		*sp = '\0';
		check_route(line, sp + 1);
	} else {
		check_route("GET", line);
	}
	static const char *const paths[] = { "/v1/stats", "/v1/guests", "/v1/decisions",
					     "/metrics", "/healthz", "/v1/guests/vm01", "/v1/history",
					     "/", "/ksmd.js" };
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
		check_route("GET", paths[i]);
	return 0;
}
