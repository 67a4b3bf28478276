/* main.c — ksmd's command line: parse, check, run. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "stats/sep_wire.h"
#include "stats/stats.h"
#include "daemon/daemon.h"

#define DEFAULT_CONFIG "/etc/ksmd.conf"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: ksmd [-fnv] [-c FILE]... [--dry-run] [--dump-config]\n"
		"       ksmd -h | --help\n"
		"       ksmd -V | --version\n"
		"\n"
		"Memory-overcommit daemon for KVM hosts: finds duplicate guest pages and\n"
		"drives the kernel's KSM to merge them, and drives guests' balloons.\n"
		"\n"
		"  -c, --config FILE   configuration file (default " DEFAULT_CONFIG ");\n"
		"                      given again, each file overrides keys of the ones before\n"
		"  -f, --foreground    log to standard error instead of syslog\n"
		"  -n, --check         check the configuration file and exit\n"
		"  -v, --verbose       log debug messages too\n"
		"      --dry-run       decide and report, act on nothing\n"
		"      --dump-config   print the effective configuration and exit\n"
		"  -h, --help          show this help and exit\n"
		"  -V, --version       show the version and exit\n");
}

/* Parse the command line into opts, *check (-n) and *dump (--dump-config).
 * Returns -1 to go on, or the exit code of a run that ends here: help,
 * version, the key reference, or a usage error. */
static int parse_args(int argc, char **argv, struct daemon_opts *opts, bool *check, bool *dump)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "check", no_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "dry-run", no_argument, NULL, 'D' },
		{ "dump-config", no_argument, NULL, 'P' },
		{ "man-keys", no_argument, NULL, 'M' },
		{ "list-keys", no_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "c:fnvhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (opts->n_configs == DAEMON_MAX_CONFIGS) {
				fprintf(stderr, "ksmd: at most %d -c files\n", DAEMON_MAX_CONFIGS);
				return 2;
			}
			opts->config_paths[opts->n_configs++] = optarg;
			break;
		case 'f': opts->foreground = true; break;
		case 'n': *check = true; break;
		case 'v': opts->log_level = LOG_DEBUG; break;
		case 'D': opts->dry_run = true; break;
		case 'P': *dump = true; break;
		case 'M': config_man(stdout); return 0; /* for man/ksmd.conf.5 */
		case 'L': config_list(stdout); return 0; /* for ksmdctl's key list */
		case 'h': usage(stdout); return 0;
		case 'V': printf("ksmd %s\n", KSMD_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ksmd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}

	if (opts->n_configs == 0)
		opts->config_paths[opts->n_configs++] = DEFAULT_CONFIG;
	opts->config_path = opts->config_paths[0];
	return -1;
}

/* -n and --dump-config: load the files, then print their errors (exit 1),
 * the effective configuration (dump) or that they are fine (exit 0). */
static int check_config(const struct daemon_opts *opts, bool dump)
{
	struct ksmd_config cfg;
	struct conf_errors errs = { 0 };
	if (config_load_files(opts->config_paths, opts->n_configs, &cfg, &errs) < 0) {
		for (size_t i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msg[i]);
		if (errs.total > errs.n)
			fprintf(stderr, "%zu more errors (no memory for their text)\n", errs.total - errs.n);
		conf_errors_free(&errs);
		return 1;
	}
	/* what would make the daemon exit at start is an error here too */
	char warn[512] = "";
	int w = cfg.stats_enabled ? stats_listen_warning(cfg.stats_listen, warn, sizeof warn) : 0;
	if (w < 0) {
		fprintf(stderr, "stats.listen: '%s': not HOST:PORT or unix:PATH, or HOST does not resolve\n",
			cfg.stats_listen);
		config_free(&cfg);
		return 1;
	}
	if (w > 0)
		fprintf(stderr, "warning: stats.%s\n", warn);
	if (dump) {
		config_dump(&cfg, stdout);
	} else {
		for (size_t i = 0; i < opts->n_configs; i++)
			printf("%s%s", i ? " + " : "", opts->config_paths[i]);
		printf(": configuration OK (%zu guests)\n", cfg.n_guests);
	}
	config_free(&cfg);
	return 0;
}

int main(int argc, char **argv)
{
	struct daemon_opts opts = { .config_path = DEFAULT_CONFIG, .log_level = LOG_INFO };
	bool check = false, dump = false;

	if (argc >= 2 && !strcmp(argv[1], SEP_CHILD_ARG)) /* the stats endpoint's process */
		stats_http_child_main(argc, argv);
	int code = parse_args(argc, argv, &opts, &check, &dump);
	if (code >= 0)
		return code;
	if (check || dump)
		return check_config(&opts, dump);

	log_open(opts.foreground ? LOG_TO_STDERR : LOG_TO_SYSLOG, opts.log_level);
	struct daemon d;
	int r = daemon_init(&d, &opts);
	if (r < 0) {
		daemon_fini(&d);
		return 1;
	}
	code = daemon_run(&d);
	daemon_fini(&d);
	log_info("stopped");
	return code;
}
