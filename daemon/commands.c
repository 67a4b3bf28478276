/* commands.c — the control socket's verbs (see ksmdctl(8)).
 *
 * A table maps each verb to its handler and its argument count; every
 * handler returns a control answer (control_ok / control_error). Reading
 * verbs answer from the published snapshot, never from live module state. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
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

static json_t *cmd_guests(struct daemon *d, json_t *a) { return cmd_part(d, a, "guests"); }
static json_t *cmd_ksm(struct daemon *d, json_t *a) { return cmd_part(d, a, "ksm"); }
static json_t *cmd_decisions(struct daemon *d, json_t *a) { return cmd_part(d, a, "decisions"); }

static json_t *cmd_guest(struct daemon *d, json_t *args)
{
	(void)d;
	const char *name = arg(args, 0);
	json_t *snap = stats_current();
	if (!snap)
		return control_error("no snapshot published yet");
	json_t *g, *found = NULL;
	size_t i;
	json_array_foreach(json_object_get(snap, "guests"), i, g)
		if (!strcmp(json_string_value(json_object_get(g, "name")) ?: "", name))
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
	if (!k)
		return control_error("unknown key '%s'", key);
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

/* The handlers of the verbs the daemon answers; the verbs themselves, with
 * their arguments and usage, are ctl/verbs.c. */
static const struct command {
	const char *name;
	json_t *(*fn)(struct daemon *d, json_t *args);
} commands[] = {
	{ "status", cmd_status },
	{ "guests", cmd_guests },
	{ "guest", cmd_guest },
	{ "ksm", cmd_ksm },
	{ "decisions", cmd_decisions },
	{ "get", cmd_get },
	{ "set", cmd_set },
	{ "reload", cmd_reload },
	{ "pause", cmd_pause },
	{ "resume", cmd_resume },
	{ "balloon", cmd_balloon },
	{ "config", cmd_config },
};

bool daemon_command_known(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(commands[i].name, name))
			return true;
	return false;
}

json_t *daemon_command(const char *cmd, json_t *args, void *data)
{
	struct daemon *d = data;
	const struct ctl_verb *v = ctl_verb_find(cmd);
	if (!v || v->where != CTL_DAEMON)
		return control_error("unknown command '%s'", cmd);
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		const struct command *c = &commands[i];
		if (strcmp(c->name, cmd))
			continue;
		size_t n = json_array_size(args);
		if (n < (size_t)v->min_args || (v->max_args >= 0 && n > (size_t)v->max_args))
			return control_error("usage: %s", v->usage);
		for (size_t j = 0; j < n; j++)
			if (!json_is_string(json_array_get(args, j)))
				return control_error("arguments must be strings");
		return c->fn(d, args);
	}
	return control_error("command '%s' is not served by this daemon", cmd);
}
