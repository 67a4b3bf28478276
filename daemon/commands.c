/* commands.c — the control socket's verbs (see ksmdctl(8)).
 *
 * A table maps each verb to its handler and its argument count; every
 * handler returns a control answer (control_ok / control_error). Reading
 * verbs answer from the published snapshot, never from live module state. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "ctl/fields.h"
#include "daemon/daemon.h"
#include "daemon/modules.h"
#include "stats/stats.h"

static const char *arg(json_t *args, size_t i)
{
	return json_string_value(json_array_get(args, i));
}

static json_t *snapshot_part(const char *key)
{
	json_t *snap = stats_current();
	if (!snap)
		return control_error("no snapshot published yet");
	json_t *part = key ? json_incref(json_object_get(snap, key)) : json_incref(snap);
	json_decref(snap);
	return control_ok(part ? part : json_null());
}

static json_t *cmd_status(struct daemon *d, json_t *args)
{
	(void)d;
	(void)args;
	return snapshot_part(NULL);
}

static json_t *cmd_part(struct daemon *d, json_t *args, const char *key)
{
	(void)d;
	(void)args;
	return snapshot_part(key);
}

static json_t *cmd_guests(struct daemon *d, json_t *a) { return cmd_part(d, a, snap_key(SF_GUESTS)); }
static json_t *cmd_ksm(struct daemon *d, json_t *a) { return cmd_part(d, a, snap_key(SF_KSM)); }
static json_t *cmd_decisions(struct daemon *d, json_t *a) { return cmd_part(d, a, snap_key(SF_DECISIONS)); }

static json_t *cmd_guest(struct daemon *d, json_t *args)
{
	(void)d;
	const char *name = arg(args, 0);
	json_t *snap = stats_current();
	if (!snap)
		return control_error("no snapshot published yet");
	json_t *g, *found = NULL;
	size_t i;
	json_array_foreach(json_object_get(snap, snap_key(SF_GUESTS)), i, g)
		if (!strcmp(json_string_value(json_object_get(g, snap_key(SF_GUEST_NAME))) ?: "", name))
			found = json_incref(g);
	json_decref(snap);
	return found ? control_ok(found) : control_error("unknown guest '%s'", name);
}

static json_t *cmd_get(struct daemon *d, json_t *args)
{
	char buf[CONF_STR_MAX];
	if (json_array_size(args) == 0) {
		json_t *all = json_object();
		size_t n;
		const struct conf_key *keys = config_keys(&n);
		for (size_t i = 0; i < n; i++) {
			if (!strcmp(keys[i].section, "guest"))
				continue;
			char dotted[128];
			snprintf(dotted, sizeof dotted, "%s.%s", keys[i].section, keys[i].name);
			json_object_set_new(all, dotted, json_string(config_format(&d->cfg, &keys[i], buf, sizeof buf)));
		}
		return control_ok(all);
	}
	const char *key = arg(args, 0);
	const struct conf_key *k = config_find(key);
	if (!k) {
		char err[300];
		config_unknown_key(key, err, sizeof err);
		return control_error("%s", err);
	}
	json_t *o = json_object();
	json_object_set_new(o, "key", json_string(key));
	json_object_set_new(o, "value", json_string(config_format(&d->cfg, k, buf, sizeof buf)));
	json_object_set_new(o, "unit", json_string(k->unit));
	json_object_set_new(o, "live", json_boolean(k->live));
	json_object_set_new(o, "default", json_string(k->def));
	json_object_set_new(o, "help", json_string(k->help));
	return control_ok(o);
}

static json_t *cmd_set(struct daemon *d, json_t *args)
{
	const char *key = arg(args, 0), *value = arg(args, 1);
	char err[300], buf[CONF_STR_MAX];
	/* validate the whole configuration as it would be, before touching it */
	struct ksmd_config next;
	if (config_copy(&next, &d->cfg) < 0)
		return control_error("out of memory");
	int r = config_set(&next, key, value, err, sizeof err);
	if (r == 0) {
		char perr[256];
		if (policy_conf_validate(&next.policy, perr, sizeof perr) < 0) {
			snprintf(err, sizeof err, "%s", perr);
			r = -EINVAL;
		}
	}
	if (r < 0) {
		config_free(&next);
		return control_error("%s", err);
	}
	config_free(&d->cfg);
	d->cfg = next;
	daemon_apply_config(d);
	const struct conf_key *k = config_find(key);
	config_format(&d->cfg, k, buf, sizeof buf);
	log_info("set %s = %s (ksmdctl)", key, buf);
	json_t *o = json_object();
	json_object_set_new(o, "key", json_string(key));
	json_object_set_new(o, "value", json_string(buf));
	return control_ok(o);
}

static json_t *cmd_reload(struct daemon *d, json_t *args)
{
	(void)args;
	struct conf_errors errs = { 0 };
	if (daemon_reload(d, &errs) == 0) {
		conf_errors_free(&errs);
		return control_ok(json_string("reloaded"));
	}
	char msg[2048] = "";
	for (size_t i = 0; i < errs.n; i++)
		snprintf(msg + strlen(msg), sizeof msg - strlen(msg), "%s%s", i ? "\n" : "", errs.msg[i]);
	conf_errors_free(&errs);
	return control_error("%s\nkeeping the running configuration", msg);
}

static json_t *cmd_pause(struct daemon *d, json_t *args) { return modules_pause(d, arg(args, 0), true); }
static json_t *cmd_resume(struct daemon *d, json_t *args) { return modules_pause(d, arg(args, 0), false); }
static json_t *cmd_balloon(struct daemon *d, json_t *args)
{
	return modules_balloon(d, arg(args, 0), arg(args, 1));
}

static json_t *cmd_config(struct daemon *d, json_t *args)
{
	(void)args;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return control_error("out of memory");
	config_dump(&d->cfg, f);
	fclose(f);
	json_t *s = json_string(buf);
	free(buf);
	return control_ok(s);
}

/* The handlers of the verbs the daemon answers, by verb id; the verbs
 * themselves, with their names, arguments and usage, are ctl/verbs.c. */
typedef json_t *(*command_fn)(struct daemon *d, json_t *args);
static const command_fn commands[CTL_N_VERBS] = {
	[CTL_STATUS] = cmd_status,
	[CTL_GUESTS] = cmd_guests,
	[CTL_GUEST] = cmd_guest,
	[CTL_KSM] = cmd_ksm,
	[CTL_DECISIONS] = cmd_decisions,
	[CTL_GET] = cmd_get,
	[CTL_SET] = cmd_set,
	[CTL_RELOAD] = cmd_reload,
	[CTL_PAUSE] = cmd_pause,
	[CTL_RESUME] = cmd_resume,
	[CTL_BALLOON] = cmd_balloon,
	[CTL_CONFIG] = cmd_config,
};

bool daemon_command_known(const char *name)
{
	const struct ctl_verb *v = ctl_verb_find(name);
	return v && commands[v->id];
}

static json_t *command_answer(struct daemon *d, const struct ctl_verb *v, const char *cmd, json_t *args)
{
	if (!v || v->where != CTL_DAEMON)
		return control_error("unknown command '%s'", cmd);
	if (!commands[v->id])
		return control_error("command '%s' is not served by this daemon", cmd);
	size_t n = json_array_size(args);
	if (n < (size_t)v->min_args || (v->max_args >= 0 && n > (size_t)v->max_args))
		return control_error("usage: %s", v->usage);
	for (size_t j = 0; j < n; j++)
		if (!json_is_string(json_array_get(args, j)))
			return control_error("arguments must be strings");
	return commands[v->id](d, args);
}

json_t *daemon_command(const char *cmd, json_t *args, void *data)
{
	struct daemon *d = data;
	const struct ctl_verb *v = ctl_verb_find(cmd);
	json_t *answer = command_answer(d, v, cmd, args);
	if (d) /* NULL: a test of the refusals, no daemon to count in */
		d->ctl_requests[v ? v->id : CTL_N_VERBS][!json_is_true(json_object_get(answer, "ok"))]++;
	return answer;
}
