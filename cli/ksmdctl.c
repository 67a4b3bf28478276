/* ksmdctl.c — the operator's CLI: a verb table over the control socket.
 *
 * Exit status: 0 done, 1 the daemon said no (its message is printed),
 * 2 the daemon cannot be reached or the command line is wrong. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/hint.h"
#include "cli/keys.h"
#include "cli/view.h"
#include "common/util.h"
#include "ctl/ctl.h"
#include "ctl/fields.h"

#define DEFAULT_SOCKET "/run/ksmd/ksmd.sock"
#define TIMEOUT_USEC (10 * USEC_PER_SEC)
#define LIST_TIMEOUT_USEC (2 * USEC_PER_SEC)   /* --list guests: a shell waits on it */

enum { EXIT_NO = 1, EXIT_UNREACHABLE = 2 };

static const char *sock_path = DEFAULT_SOCKET;
static enum hint_source sock_source = HINT_DEFAULT;
static bool json_out;

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: ksmdctl [-s SOCKET] [--json] [--raw] COMMAND [ARGS]\n"
		"       ksmdctl -h | --help\n"
		"       ksmdctl -V | --version\n"
		"       ksmdctl [-s SOCKET] --list verbs|keys|live-keys|guests\n"
		"\n"
		"Commands:\n");
	ctl_print_verbs(f);
	fprintf(f,
		"\n"
		"Options:\n"
		"  -s, --socket SOCKET      control socket (default " DEFAULT_SOCKET ", or $KSMD_SOCKET)\n"
		"  -j, --json               print the daemon's answer as JSON\n"
		"  -r, --raw                print sizes in bytes\n"
		"      --list WHAT          print the commands (verbs), the keys of get (keys), those of\n"
		"                           set (live-keys) or the guests of the running ksmd (guests),\n"
		"                           one a line, and exit (bash completion uses it)\n"
		"  -h, --help               show this help and exit\n"
		"  -V, --version            show the version and exit\n"
		"\n"
		"Exit status: 0 done, 1 the daemon refused (message shown), 2 cannot reach the daemon.\n");
}

/* One request; on success returns the "result" (new reference) and 0; else
 * prints the error and returns the exit code. */
static int call(const char *cmd, json_t *args, json_t **result)
{
	json_t *ans = NULL;
	int r = control_call(sock_path, cmd, args, TIMEOUT_USEC, &ans);
	json_decref(args);
	if (r < 0) {
		hint_unreachable(stderr, sock_path, sock_source, r);
		return EXIT_UNREACHABLE;
	}
	if (!json_is_true(json_object_get(ans, "ok"))) {
		const char *e = json_string_value(json_object_get(ans, "error"));
		fprintf(stderr, "ksmdctl: %s\n", e ? e : "the daemon refused");
		json_decref(ans);
		return EXIT_NO;
	}
	*result = json_incref(json_object_get(ans, "result"));
	json_decref(ans);
	if (!*result)
		*result = json_null();
	return 0;
}

static void print_json(const json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_ENCODE_ANY);
	if (s) {
		printf("%s\n", s);
		free(s);
	}
}

static json_t *strargs(int argc, char **argv)
{
	json_t *a = json_array();
	for (int i = 0; i < argc; i++)
		json_array_append_new(a, json_string(argv[i]));
	return a;
}

/* "unknown guest 'x'", and the nearest guest of the snapshot if one is
 * near. */
static int unknown_guest(const json_t *snap, const char *name)
{
	struct text_nearest near = { 0 };
	const json_t *g;
	size_t i;
	json_array_foreach(json_object_get(snap, snap_key(SF_GUESTS)), i, g) {
		const char *n = json_string_value(json_object_get(g, snap_key(SF_GUEST_NAME)));
		if (n)
			text_nearest_add(&near, name, n);
	}
	if (near.best)
		fprintf(stderr, "ksmdctl: unknown guest '%s'; did you mean '%s'?\n", name, near.best);
	else
		fprintf(stderr, "ksmdctl: unknown guest '%s' (ksmdctl guests lists them)\n", name);
	return EXIT_NO;
}

/* Views: fetch the whole snapshot, render a part. */
static int do_view(const char *verb, int argc, char **argv)
{
	json_t *snap;
	int r = call("status", json_array(), &snap);
	if (r)
		return r;
	if (json_out) {
		const char *key = !strcmp(verb, "status") ? NULL : !strcmp(verb, "guest") ? snap_key(SF_GUESTS) : verb;
		json_t *part = key ? json_object_get(snap, key) : snap;
		if (!strcmp(verb, "guest")) {
			json_t *g, *found = NULL;
			size_t i;
			json_array_foreach(part, i, g)
				if (!strcmp(json_string_value(json_object_get(g, snap_key(SF_GUEST_NAME))) ?: "", argv[0]))
					found = g;
			if (!found) {
				r = unknown_guest(snap, argv[0]);
				json_decref(snap);
				return r;
			}
			part = found;
		}
		print_json(part ? part : json_null());
		json_decref(snap);
		return 0;
	}
	(void)argc;
	if (!strcmp(verb, "status"))
		r = view_status(snap, stdout);
	else if (!strcmp(verb, "guests"))
		r = view_guests(snap, stdout);
	else if (!strcmp(verb, "guest"))
		r = view_guest(snap, argv[0], stdout);
	else if (!strcmp(verb, "ksm"))
		r = view_ksm(snap, stdout);
	else
		r = view_decisions(snap, stdout);
	if (r == -ENOENT)
		r = unknown_guest(snap, argv[0]);
	else
		r = r < 0 ? EXIT_NO : 0;
	json_decref(snap);
	return r;
}

static json_t *top_fetch(void *ctx)
{
	(void)ctx;
	json_t *ans = NULL;
	if (control_call(sock_path, "status", NULL, TIMEOUT_USEC, &ans) < 0) {
		printf("ksmdctl: cannot reach ksmd at %s\n", sock_path);
		return NULL;
	}
	json_t *snap = json_incref(json_object_get(ans, "result"));
	json_decref(ans);
	return snap;
}

static int do_top(int argc, char **argv)
{
	int iterations = 0;
	double delay = 2;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "-n") && i + 1 < argc)
			iterations = atoi(argv[++i]);
		else if (!strcmp(argv[i], "-d") && i + 1 < argc)
			delay = atof(argv[++i]);
		else {
			fprintf(stderr, "ksmdctl: top: unexpected '%s'\n", argv[i]);
			return EXIT_UNREACHABLE;
		}
	}
	if (delay < 0.1)
		delay = 0.1;
	json_t *probe;
	int r = call("status", json_array(), &probe);
	if (r)
		return r;
	json_decref(probe);
	return view_top_loop(top_fetch, NULL, (int)(delay * 1000), iterations) < 0 ? EXIT_NO : 0;
}

static int do_plain(const struct ctl_verb *v, int argc, char **argv)
{
	const char *verb = v->name;
	json_t *res;
	int r = call(verb, strargs(argc, argv), &res);
	if (r)
		return r;
	if (json_out)
		print_json(res);
	else if (v->id == CTL_GET && argc == 0) {
		const char *k;
		json_t *v;
		json_object_foreach(res, k, v)
			printf("%s = %s\n", k, json_string_value(v));
	} else if (v->id == CTL_GET || v->id == CTL_SET) {
		printf("%s = %s\n", json_string_value(json_object_get(res, "key")),
		       json_string_value(json_object_get(res, "value")));
	} else if (v->id == CTL_CONFIG) {
		fputs(json_string_value(res) ?: "", stdout);
	} else if (v->id == CTL_BALLOON) {
		char buf[32];
		if (json_is_integer(res))
			printf("%s: balloon set to %s (the policy leaves it there until 'balloon %s auto')\n",
			       argv[0], format_size((uint64_t)json_integer_value(res), buf, sizeof buf), argv[0]);
		else
			printf("%s: balloon back under the policy\n", argv[0]);
	} else if (json_is_string(res)) {
		printf("%s\n", json_string_value(res));
	} else {
		print_json(res);
	}
	json_decref(res);
	return 0;
}

/* --list WHAT: names one a line, for scripts and bash completion (verbs
 * and keys need no daemon; guests ask it, as status does). */
static int do_list(const char *what)
{
	static const char *const lists[] = { "verbs", "keys", "live-keys", "guests", NULL };
	if (!strcmp(what, "verbs")) {
		for (size_t i = 0; i < ctl_n_verbs; i++)
			printf("%s\n", ctl_verbs[i].name);
	} else if (!strcmp(what, "keys") || !strcmp(what, "live-keys")) {
		for (size_t i = 0; i < cli_n_keys; i++)
			if (cli_keys[i].live || !strcmp(what, "keys"))
				printf("%s\n", cli_keys[i].name);
	} else if (!strcmp(what, "guests")) {
		json_t *ans = NULL;
		int r = control_call(sock_path, "status", NULL, LIST_TIMEOUT_USEC, &ans);
		if (r < 0) {
			hint_unreachable(stderr, sock_path, sock_source, r);
			return EXIT_UNREACHABLE;
		}
		const json_t *g;
		size_t i;
		json_array_foreach(json_object_get(json_object_get(ans, "result"), snap_key(SF_GUESTS)), i, g) {
			const char *n = json_string_value(json_object_get(g, snap_key(SF_GUEST_NAME)));
			if (n)
				printf("%s\n", n);
		}
		json_decref(ans);
	} else {
		struct text_nearest near = { 0 };
		for (size_t i = 0; lists[i]; i++)
			text_nearest_add(&near, what, lists[i]);
		fprintf(stderr, "ksmdctl: --list takes verbs, keys, live-keys or guests, not '%s'%s%s%s\n", what,
			near.best ? "; did you mean '" : "", near.best ? near.best : "", near.best ? "'?" : "");
		return EXIT_UNREACHABLE;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "raw", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "list", required_argument, NULL, 'L' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	const char *list = NULL;
	if (getenv("KSMD_SOCKET") && *getenv("KSMD_SOCKET")) {
		sock_path = getenv("KSMD_SOCKET");
		sock_source = HINT_ENV;
	}
	while ((c = getopt_long(argc, argv, "+s:jrhV", longopts, NULL)) != -1) {
		switch (c) {
		case 's': sock_path = optarg; sock_source = HINT_OPTION; break;
		case 'L': list = optarg; break;
		case 'j': json_out = true; break;
		case 'r': view_set_raw(true); break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("ksmdctl %s\n", KSMD_VERSION); return 0;
		default: usage(stderr); return EXIT_UNREACHABLE;
		}
	}
	if (list)
		return do_list(list);
	if (optind >= argc) {
		usage(stderr);
		return EXIT_UNREACHABLE;
	}
	const char *verb = argv[optind];
	int nargs = argc - optind - 1;
	char **args = argv + optind + 1;

	const struct ctl_verb *v = ctl_verb_find(verb);
	if (!v) {
		struct text_nearest near = { 0 };
		for (size_t i = 0; i < ctl_n_verbs; i++)
			text_nearest_add(&near, verb, ctl_verbs[i].name);
		if (near.best)
			fprintf(stderr, "ksmdctl: unknown command '%s'; did you mean '%s'? (see ksmdctl --help)\n",
				verb, near.best);
		else
			fprintf(stderr, "ksmdctl: unknown command '%s' (see ksmdctl --help)\n", verb);
		return EXIT_UNREACHABLE;
	}
	if (v->id == CTL_RUN) {
		if (nargs > 0 && !strcmp(args[0], "--")) {
			args++;
			nargs--;
		}
		if (nargs < 1) {
			fprintf(stderr, "ksmdctl: usage: ksmdctl %s\n", v->usage);
			return EXIT_UNREACHABLE;
		}
		int r = ctl_exec_mergeable(args);
		fprintf(stderr, "ksmdctl: run %s: %s\n", args[0], strerror(-r));
		return r == -ENOENT ? 127 : 126;
	}
	if (v->id == CTL_TOP)
		return do_top(nargs, args);
	if (nargs < v->min_args || (v->max_args >= 0 && nargs > v->max_args)) {
		fprintf(stderr, "ksmdctl: wrong number of arguments for '%s': %s\n", verb, v->usage);
		return EXIT_UNREACHABLE;
	}
	return v->view ? do_view(verb, nargs, args) : do_plain(v, nargs, args);
}
