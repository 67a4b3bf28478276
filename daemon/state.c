/* state.c — what must survive a crash of ksmd: the KSM settings found when
 * the first ksmd started (so that a restarted ksmd still restores the
 * operator's, not its predecessor's pacing) and the operator's balloon
 * overrides. One small JSON file beside the control socket, written
 * atomically (temp file + rename), removed at a clean exit. */
#include "daemon/state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const ksm_fields[] = {
	"run", "pages_to_scan", "sleep_millisecs", "use_zero_pages",
	"max_page_sharing", "smart_scan", "advisor_mode",
};

static int64_t *ksm_field(struct ksm_settings *s, size_t i)
{
	int64_t *f[] = { &s->run, &s->pages_to_scan, &s->sleep_millisecs, &s->use_zero_pages,
			 &s->max_page_sharing, &s->smart_scan, &s->advisor_mode };
	return f[i];
}

void state_path(const char *control_socket, char *buf, size_t len)
{
	const char *slash = strrchr(control_socket, '/');
	int dir = slash ? (int)(slash - control_socket) : 0;
	if (slash)
		snprintf(buf, len, "%.*s/ksmd.state", dir, control_socket);
	else
		snprintf(buf, len, "ksmd.state");
}

int state_load(const char *path, struct daemon_state *st)
{
	json_error_t jerr;
	memset(st, 0, sizeof *st);
	json_t *j = json_load_file(path, 0, &jerr);
	if (!j)
		return access(path, F_OK) == 0 ? -EBADMSG : -ENOENT;
	json_t *k = json_object_get(j, "ksm_saved");
	if (json_is_object(k)) {
		ksm_settings_clear(&st->ksm_saved);
		for (size_t i = 0; i < ARRAY_SIZE(ksm_fields); i++) {
			json_t *v = json_object_get(k, ksm_fields[i]);
			if (json_is_integer(v))
				*ksm_field(&st->ksm_saved, i) = json_integer_value(v);
		}
		st->ksm_saved_valid = true;
	}
	json_t *o = json_object_get(j, "overrides");
	st->overrides = json_is_object(o) ? json_incref(o) : json_object();
	json_decref(j);
	return 0;
}

int state_save(const char *path, const struct daemon_state *st)
{
	json_t *j = json_object();
	if (st->ksm_saved_valid) {
		json_t *k = json_object();
		struct ksm_settings s = st->ksm_saved;
		for (size_t i = 0; i < ARRAY_SIZE(ksm_fields); i++)
			if (*ksm_field(&s, i) >= 0)
				json_object_set_new(k, ksm_fields[i], json_integer(*ksm_field(&s, i)));
		json_object_set_new(j, "ksm_saved", k);
	}
	json_object_set_new(j, "overrides", st->overrides ? json_incref(st->overrides) : json_object());
	char tmp[300];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	int r = json_dump_file(j, tmp, JSON_INDENT(2)) == 0 && rename(tmp, path) == 0 ? 0 : -errno;
	json_decref(j);
	if (r < 0)
		unlink(tmp);
	return r;
}

void state_free(struct daemon_state *st)
{
	json_decref(st->overrides);
	st->overrides = NULL;
}
