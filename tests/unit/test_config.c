/* Unit tests for conf/ (keys.c, parse.c): the key table, the parser, set/get. */
#include "conf/config.h"
#include "tests/unit/alloc_fail.h"
#include "tests/unit/harness.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int parse(const char *text, struct ksmd_config *cfg, struct conf_errors *e)
{
	memset(e, 0, sizeof *e);
	return config_parse("t.conf", text, cfg, e);
}

/* The first error message, or "". */
static const char *first(const struct conf_errors *e) { return e->n ? e->msg[0] : ""; }

static void test_table_defaults(void)
{
	size_t n;
	const struct conf_key *k = config_keys(&n);
	struct ksmd_config cfg;
	char err[300];
	CU_ASSERT_TRUE(n > 20);
	for (size_t i = 0; i < n; i++) {
		CU_ASSERT_PTR_NOT_NULL(k[i].help);
		CU_ASSERT_PTR_NOT_NULL(k[i].unit);
		union { char s[CONF_STR_MAX]; uint64_t u; double d; bool b; } v;
		if (k[i].type == CONF_UINT && !strcmp(k[i].def, "0") && k[i].min > 0)
			continue; /* "unset" */
		int r = config_parse_value(&k[i], k[i].def, &v, err, sizeof err);
		if (r)
			fprintf(stderr, "default of %s.%s: %s\n", k[i].section, k[i].name, err);
		CU_ASSERT_EQUAL(r, 0);
		/* no duplicate rows */
		for (size_t j = 0; j < i; j++)
			CU_ASSERT_FALSE(!strcmp(k[i].section, k[j].section) && !strcmp(k[i].name, k[j].name));
	}
	config_defaults(&cfg);
	CU_ASSERT_STRING_EQUAL(cfg.control_socket, "/run/ksmd/ksmd.sock");
	CU_ASSERT_STRING_EQUAL(cfg.stats_listen, "127.0.0.1:9403");
	CU_ASSERT_EQUAL(cfg.tick_usec, USEC_PER_SEC);
	CU_ASSERT_EQUAL(cfg.scanner_pages_per_sec, 2000000);
	CU_ASSERT_EQUAL(cfg.ksm_min_savings_bytes, 16 * MIB);
	CU_ASSERT_TRUE(cfg.restore_ksm);
	CU_ASSERT_STRING_EQUAL(cfg.balloon_on_exit, "keep");
	CU_ASSERT_EQUAL(cfg.n_guests, 0);
	/* the policy module's own defaults agree with the table's */
	struct policy_conf pc;
	policy_conf_defaults(&pc);
	CU_ASSERT_EQUAL(cfg.policy.reserve_bytes, pc.reserve_bytes);
	CU_ASSERT_DOUBLE_EQUAL(cfg.policy.idle_tax_percent, pc.idle_tax_percent, 1e-9);
	CU_ASSERT_EQUAL(cfg.policy.dry_run, pc.dry_run);
}

static void test_units(void)
{
	struct ksmd_config cfg;
	struct conf_errors e;
	int r = parse("[scanner]\npages_per_sec = 5000\ncpu_percent = 25%\npass_interval = 500ms\n"
		      "[ksm]\nmin_savings = 1.5G\n[daemon]\ntick = 2s\n[policy]\nbudget = 12G\n", &cfg, &e);
	CU_ASSERT_EQUAL(r, 0);
	CU_ASSERT_EQUAL(e.n, 0);
	CU_ASSERT_EQUAL(cfg.scanner_pages_per_sec, 5000);
	CU_ASSERT_DOUBLE_EQUAL(cfg.scanner_cpu_percent, 25, 1e-9);
	CU_ASSERT_EQUAL(cfg.scanner_pass_interval_usec, 500 * USEC_PER_MSEC);
	CU_ASSERT_EQUAL(cfg.ksm_min_savings_bytes, 3 * GIB / 2);
	CU_ASSERT_EQUAL(cfg.tick_usec, 2 * USEC_PER_SEC);
	CU_ASSERT_EQUAL(cfg.policy.budget_bytes, 12 * GIB);
	config_free(&cfg);
}

static void test_guests(void)
{
	struct ksmd_config cfg;
	struct conf_errors e;
	int r = parse("# comment\n[guest web1]\nqmp = /run/web1.qmp\nmin = 1G\nmax = 4G\nshares = 2000\n"
		      "\n[guest batch]\npid = 4242\n"
		      "\n[guest 101]\nqmp = /var/run/qemu-server/101.qmp\nqmp_mode = shared\n", &cfg, &e);
	CU_ASSERT_EQUAL_FATAL(r, 0);
	CU_ASSERT_EQUAL_FATAL(cfg.n_guests, 3);
	CU_ASSERT_STRING_EQUAL(cfg.guests[0].qmp_mode, "own");   /* the default */
	CU_ASSERT_STRING_EQUAL(cfg.guests[2].qmp_mode, "shared");
	CU_ASSERT_STRING_EQUAL(cfg.guests[0].name, "web1");
	CU_ASSERT_STRING_EQUAL(cfg.guests[0].qmp, "/run/web1.qmp");
	CU_ASSERT_EQUAL(cfg.guests[0].min_bytes, GIB);
	CU_ASSERT_EQUAL(cfg.guests[0].max_bytes, 4 * GIB);
	CU_ASSERT_EQUAL(cfg.guests[0].shares, 2000);
	CU_ASSERT_EQUAL(cfg.guests[1].pid, 4242);
	CU_ASSERT_EQUAL(cfg.guests[1].shares, 1000);
	CU_ASSERT_PTR_NOT_NULL(config_guest(&cfg, "batch"));
	CU_ASSERT_PTR_NULL(config_guest(&cfg, "nope"));
	config_free(&cfg);
}

/* Each kind of bad input gives its line number and refuses the file. */
static void test_errors(void)
{
	static const struct { const char *text; const char *msg; } cases[] = {
		{ "[scanner]\nbogus = 1\n", "t.conf:2: unknown key 'bogus' in [scanner]" },
		{ "[nosuch]\n", "t.conf:1: unknown section [nosuch]" },
		{ "[scanner]\n[scanner]\n", "t.conf:2: duplicate section [scanner]" },
		{ "[scanner]\nthreads = 2\nthreads = 3\n", "t.conf:3: duplicate key 'threads' in [scanner]" },
		{ "[scanner]\nthreads = 0\n", "t.conf:2: scanner.threads: '0' is out of range [1, 64]" },
		{ "[scanner]\nthreads = many\n", "t.conf:2: scanner.threads: 'many' is not a non-negative integer" },
		{ "[ksm]\nmin_savings = 12Q\n", "t.conf:2: ksm.min_savings: '12Q' is not a size (e.g. 4096, 512M, 2G)" },
		{ "\n\n[daemon]\ntick = 5 parsecs\n", "t.conf:4: daemon.tick: '5 parsecs' is not a duration (e.g. 500ms, 10s, 2m)" },
		{ "[daemon]\ntick = 1ms\n", "t.conf:2: daemon.tick: '1ms' is out of range [100ms, 60m]" },
		{ "[daemon]\nrestore_ksm = perhaps\n", "t.conf:2: daemon.restore_ksm: 'perhaps' is not a boolean (yes/no)" },
		{ "[balloon]\non_exit = explode\n", "t.conf:2: balloon.on_exit: 'explode' is not one of: keep, restore" },
		{ "[guest a]\nqmp = /x\nqmp_mode = borrowed\n",
		  "t.conf:3: guest.qmp_mode: 'borrowed' is not one of: own, shared" },
		{ "[scanner]\nthreads 2\n", "t.conf:2: expected 'key = value', got 'threads 2'" },
		{ "threads = 2\n", "t.conf:1: key 'threads' outside of a section" },
		{ "[scanner\n", "t.conf:1: malformed section header '[scanner'" },
		{ "[guest a]\nqmp = /x\n[guest a]\nqmp = /y\n", "t.conf:3: duplicate section [guest a] (first at line 1)" },
		{ "[guest a]\nmin = 1G\n", "t.conf:1: guest 'a' needs one of qmp, pid or cgroup" },
		{ "[guest a]\nqmp = /x\npid = 5\n", "t.conf:1: guest 'a' has more than one of qmp, pid and cgroup" },
		{ "[guest a]\nqmp = /x\nmin = 2G\nmax = 1G\n", "t.conf:1: guest 'a': min 2 GiB is above max 1 GiB" },
		{ "[guest a b]\n", "t.conf:1: guest name 'a b' must be 1-63 letters, digits, '-', '_' or '.'" },
		{ "[guest a]\nqmp = /x\ncolour = red\n", "t.conf:3: unknown key 'colour' in [guest]" },
		{ "[guest a]\nqmp = /x\n[guest b]\nqmp = /x\n", "t.conf:3: guest 'b' uses the QMP socket of guest 'a'" },
		{ "[policy]\nidle_tax_percent = 150\n", "t.conf:2: policy.idle_tax_percent: '150' is out of range" },
		{ "[policy]\nbudget = cgroup:machine.slice\n",
		  "t.conf:2: policy.budget: 'cgroup:machine.slice': the cgroup path must start with /" },
		{ "[policy]\nbudget = lots\n",
		  "t.conf:2: policy.budget: 'lots' is not a size (e.g. 512M, 2G) or cgroup:PATH" },
		{ "[libvirt]\nuri = system\n", "t.conf: libvirt.uri: 'system' is not a libvirt URI (e.g. qemu:///system)" },
		{ "[libvirt]\nuri = :///x\n", "t.conf: libvirt.uri: ':///x' is not a libvirt URI" },
		{ "[libvirt]\ndomains = web[12\n", "t.conf: libvirt.domains: pattern 'web[12' has an unclosed '['" },
		{ "[libvirt]\nexclude = a, [b\n", "t.conf: libvirt.exclude: pattern '[b' has an unclosed '['" },
		{ "[libvirt]\npid_dir = run/libvirt\n", "t.conf: libvirt.pid_dir: 'run/libvirt' is not an absolute path" },
		{ "[libvirt]\nenabled = no\n[guest a]\nmin = 1G\n", "t.conf:3: guest 'a' needs one of qmp, pid or cgroup" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct ksmd_config cfg;
		struct conf_errors e;
		int r = parse(cases[i].text, &cfg, &e);
		CU_ASSERT_EQUAL(r, -EINVAL);
		if (strncmp(first(&e), cases[i].msg, strlen(cases[i].msg))) {
			fprintf(stderr, "case %zu: got '%s'\n  want '%s'\n", i, first(&e), cases[i].msg);
			CU_FAIL("wrong message");
		}
		conf_errors_free(&e);
	}
}

/* Values print exactly (what is printed parses back to the same value),
 * and a key's value copies without text: 1234567us is not 1.2s. */
static void test_exact_values(void)
{
	struct ksmd_config a, b;
	struct conf_errors e = { 0 };
	CU_ASSERT_EQUAL_FATAL(parse("[daemon]\ntick = 1234567us\n[policy]\ndeadband_percent = 0.1234567\n"
				    "settle = 90s\n", &a, &e), 0);
	char buf[64];
	const struct conf_key *tick = config_find("daemon.tick"), *db = config_find("policy.deadband_percent");
	const struct conf_key *settle = config_find("policy.settle");
	CU_ASSERT_STRING_EQUAL(config_format(&a, tick, buf, sizeof buf), "1234567us");
	CU_ASSERT_STRING_EQUAL(config_format(&a, db, buf, sizeof buf), "0.1234567");
	CU_ASSERT_STRING_EQUAL(config_format(&a, settle, buf, sizeof buf), "90s");
	config_defaults(&b);
	CU_ASSERT(!config_key_equal(&a, &b, tick));
	config_copy_key(&b, &a, tick);
	config_copy_key(&b, &a, db);
	CU_ASSERT(config_key_equal(&a, &b, tick));
	CU_ASSERT_EQUAL(b.tick_usec, 1234567);
	CU_ASSERT_EQUAL(b.policy.deadband_percent, 0.1234567);
	config_free(&a);
	config_free(&b);
}

/* Without an error list, an invalid file is still refused. */
static void test_errors_without_list(void)
{
	struct ksmd_config c;
	CU_ASSERT_EQUAL(config_parse("t.conf", "[scanner]\nthreads = many\n", &c, NULL), -EINVAL);
	CU_ASSERT_EQUAL(config_parse("t.conf", "[nosuch]\n", &c, NULL), -EINVAL);
	CU_ASSERT_EQUAL(config_parse("t.conf", "[scanner]\nthreads = 2\n", &c, NULL), 0);
	config_free(&c);
	const char *missing = "/nonexistent/ksmd.conf";
	CU_ASSERT(config_load_files(&missing, 1, &c, NULL) < 0);
	struct conf_errors e = { 0 };
	CU_ASSERT_EQUAL(config_parse("t.conf", "[scanner]\nthreads = 0\nbogus = 1\n", &c, &e), -EINVAL);
	CU_ASSERT_EQUAL(e.total, 2);
	CU_ASSERT_EQUAL(e.n, 2);
	conf_errors_free(&e);
}

/* One allocation failure sweep over config_parse (with an error list or
 * not) or config_load_files (path set): each allocation fails in turn,
 * alone or with every later one; an invalid file is refused every time.
 * Returns how many runs injected a failure. */
static long sweep_invalid(const char *text, const char *path, bool with_list, bool sticky)
{
	long n;
	for (n = 0; n < 100000; n++) {
		struct ksmd_config c;
		struct conf_errors e = { 0 };
		alloc_fail_at(n, sticky);
		int r = path ? config_load_files(&path, 1, &c, with_list ? &e : NULL)
			     : config_parse("t.conf", text, &c, with_list ? &e : NULL);
		unsigned injected = alloc_fail_off();
		CU_ASSERT(r < 0);
		if (r == 0) {
			fprintf(stderr, "accepted with allocation %ld failing%s: %s", n,
				sticky ? " (and every later one)" : "", text);
			config_free(&c);
		}
		if (with_list && r == -EINVAL)
			CU_ASSERT(e.total > 0);
		conf_errors_free(&e);
		if (!injected)
			break;
	}
	CU_ASSERT(n < 100000);
	return n;
}

/* An allocation failure anywhere in parsing, an error's own message
 * included (add_error), never lets an invalid file through: the error
 * counts even when its text cannot be kept. */
static void test_alloc_failure_fails_closed(void)
{
	static const char *const bad[] = {
		"[scanner]\nthreads = many\n",
		"[nosuch]\n",
		"[daemon]\ntick = 1s\n[guest a]\npid = 1\ncgroup = /x\n", /* refused by validation */
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		for (int list = 0; list < 2; list++)
			for (int sticky = 0; sticky < 2; sticky++)
				CU_ASSERT(sweep_invalid(bad[i], NULL, list, sticky) > 0);
	char path[] = "/tmp/ksmd-test-conf.XXXXXX";
	int fd = mkstemp(path);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(write(fd, bad[0], strlen(bad[0])), (ssize_t)strlen(bad[0]));
	close(fd);
	for (int list = 0; list < 2; list++)
		CU_ASSERT(sweep_invalid(bad[0], path, list, false) > 0);
	unlink(path);
}

/* [libvirt]: on when the section is present, off without it or with
 * enabled = no; a [guest NAME] with only settings is then a domain's. */
static void test_libvirt(void)
{
	struct ksmd_config cfg;
	struct conf_errors e;
	CU_ASSERT_EQUAL(parse("[daemon]\ntick = 1s\n", &cfg, &e), 0);
	CU_ASSERT(!cfg.libvirt_enabled);
	config_free(&cfg);
	CU_ASSERT_EQUAL(parse("[libvirt]\n[guest web1]\nmin = 1G\nshares = 2000\n", &cfg, &e), 0);
	CU_ASSERT(cfg.libvirt_enabled);
	CU_ASSERT_STRING_EQUAL(cfg.libvirt_uri, "qemu:///system");
	CU_ASSERT_STRING_EQUAL(cfg.libvirt_domains, "*");
	CU_ASSERT_STRING_EQUAL(cfg.libvirt_pid_dir, "/run/libvirt/qemu");
	CU_ASSERT_EQUAL(cfg.libvirt_reconnect_usec, 5 * USEC_PER_SEC);
	const struct guest_conf *g = config_guest(&cfg, "web1");
	CU_ASSERT_FATAL(g != NULL);
	CU_ASSERT_EQUAL(g->min_bytes, 1ull << 30);
	CU_ASSERT_EQUAL(g->shares, 2000);
	config_free(&cfg);
	CU_ASSERT_EQUAL(parse("[libvirt]\nuri = qemu+ssh://root@h1/system\ndomains = web*, db?\n"
			      "exclude = web-test\nreconnect_interval = 30s\n", &cfg, &e), 0);
	CU_ASSERT_STRING_EQUAL(cfg.libvirt_uri, "qemu+ssh://root@h1/system");
	CU_ASSERT_EQUAL(cfg.libvirt_reconnect_usec, 30 * USEC_PER_SEC);
	config_free(&cfg);
	CU_ASSERT_EQUAL(parse("[libvirt]\nenabled = no\n", &cfg, &e), 0);
	CU_ASSERT(!cfg.libvirt_enabled);
	config_free(&cfg);
}

/* ksm.manage: yes (the default: yield to another manager of KSM), force, no;
 * live, and nothing else. */
static void test_ksm_manage(void)
{
	struct ksmd_config cfg;
	struct conf_errors e;
	char err[300];
	config_defaults(&cfg);
	CU_ASSERT_STRING_EQUAL(cfg.ksm_manage, "yes");
	CU_ASSERT_EQUAL(config_ksm_manage(&cfg), KSM_MANAGE_YES);
	CU_ASSERT_EQUAL_FATAL(parse("[ksm]\nmanage = force\n", &cfg, &e), 0);
	CU_ASSERT_EQUAL(config_ksm_manage(&cfg), KSM_MANAGE_FORCE);
	config_free(&cfg);
	CU_ASSERT_EQUAL_FATAL(parse("[ksm]\nmanage = no\n", &cfg, &e), 0);
	CU_ASSERT_EQUAL(config_ksm_manage(&cfg), KSM_MANAGE_NO);
	CU_ASSERT_EQUAL(config_set(&cfg, "ksm.manage", "force", err, sizeof err), 0);
	CU_ASSERT_EQUAL(config_ksm_manage(&cfg), KSM_MANAGE_FORCE);
	CU_ASSERT_EQUAL(config_set(&cfg, "ksm.manage", "sometimes", err, sizeof err), -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "ksm.manage: 'sometimes' is not one of: yes, force, no");
	CU_ASSERT_EQUAL(config_ksm_manage(&cfg), KSM_MANAGE_FORCE);
	CU_ASSERT_EQUAL(config_set(&cfg, "ksm.manage", "yes", err, sizeof err), 0);
	CU_ASSERT_EQUAL(config_ksm_manage(&cfg), KSM_MANAGE_YES);
	config_free(&cfg);
	CU_ASSERT_EQUAL(parse("[ksm]\nmanage = maybe\n", &cfg, &e), -EINVAL);
	CU_ASSERT_STRING_EQUAL(first(&e), "t.conf:2: ksm.manage: 'maybe' is not one of: yes, force, no");
	conf_errors_free(&e);
}

/* stats.user: "" (the default) is ksmd, else nobody, else 65534; a named
 * user must exist and must not be root; refused at its line, and not live. */
static void test_stats_user(void)
{
	struct ksmd_config cfg;
	struct conf_errors e;
	char err[300], shown[64];
	uid_t uid;
	gid_t gid;
	config_defaults(&cfg);
	CU_ASSERT_STRING_EQUAL(cfg.stats_user, "");
	CU_ASSERT_EQUAL(config_stats_user("", &uid, &gid, shown, sizeof shown, err, sizeof err), 0);
	CU_ASSERT(uid != 0 && gid != 0);
	CU_ASSERT(!strcmp(shown, "ksmd") || !strcmp(shown, "nobody") || !strcmp(shown, "65534"));
	config_free(&cfg);
	CU_ASSERT_EQUAL(parse("[stats]\nuser = nobody\n", &cfg, &e), 0);
	CU_ASSERT_STRING_EQUAL(cfg.stats_user, "nobody");
	CU_ASSERT_EQUAL(config_stats_user(cfg.stats_user, &uid, &gid, shown, sizeof shown, err,
					  sizeof err), 0);
	CU_ASSERT_STRING_EQUAL(shown, "nobody");
	CU_ASSERT_EQUAL(config_set(&cfg, "stats.user", "daemon", err, sizeof err), -EPERM);
	config_free(&cfg);
	CU_ASSERT_EQUAL(parse("[stats]\nenabled = yes\nuser = root\n", &cfg, &e), -EINVAL);
	CU_ASSERT_STRING_EQUAL(first(&e), "t.conf:3: stats.user: 'root' has uid 0 and gid 0; the HTTP "
			       "endpoint's process must not run as root or in group root");
	conf_errors_free(&e);
	CU_ASSERT_EQUAL(parse("[stats]\nuser = no-such-user-ksmd\n", &cfg, &e), -EINVAL);
	CU_ASSERT_STRING_EQUAL(first(&e), "t.conf:2: stats.user: no user 'no-such-user-ksmd'");
	conf_errors_free(&e);
	CU_ASSERT_EQUAL(config_stats_user("root", &uid, &gid, shown, sizeof shown, err, sizeof err),
			-EPERM);
	CU_ASSERT_EQUAL(config_stats_user("no-such-user-ksmd", &uid, &gid, shown, sizeof shown, err,
					  sizeof err), -ENOENT);
}

static void test_all_errors_reported(void)
{
	struct ksmd_config cfg;
	struct conf_errors e;
	int r = parse("[scanner]\nbogus = 1\nthreads = 0\n[ksm]\nmin_savings = x\n", &cfg, &e);
	CU_ASSERT_EQUAL(r, -EINVAL);
	CU_ASSERT_EQUAL(e.n, 3);
	conf_errors_free(&e);
}

static void test_missing_file(void)
{
	struct ksmd_config cfg;
	struct conf_errors e = { 0 };
	int r = config_load("/nonexistent/ksmd.conf", &cfg, &e);
	CU_ASSERT_EQUAL(r, -ENOENT);
	CU_ASSERT_EQUAL_FATAL(e.n, 1);
	CU_ASSERT_STRING_EQUAL(e.msg[0], "/nonexistent/ksmd.conf: cannot read: No such file or directory");
	conf_errors_free(&e);
}

static void test_set_get(void)
{
	struct ksmd_config cfg;
	char err[300], buf[CONF_STR_MAX];
	config_defaults(&cfg);
	CU_ASSERT_EQUAL(config_set(&cfg, "scanner.pages_per_sec", "2000", err, sizeof err), 0);
	CU_ASSERT_EQUAL(cfg.scanner_pages_per_sec, 2000);
	CU_ASSERT_STRING_EQUAL(config_format(&cfg, config_find("scanner.pages_per_sec"), buf, sizeof buf), "2000");
	CU_ASSERT_EQUAL(config_set(&cfg, "policy.budget", "6G", err, sizeof err), 0);
	CU_ASSERT_EQUAL(cfg.policy.budget_bytes, 6 * GIB);
	CU_ASSERT_STRING_EQUAL(config_format(&cfg, config_find("policy.budget"), buf, sizeof buf), "6G");
	/* the budget as a cgroup's limit, and back to a size */
	CU_ASSERT_EQUAL(config_set(&cfg, "policy.budget", "cgroup:/machine.slice", err, sizeof err), 0);
	CU_ASSERT_EQUAL(cfg.policy.budget_bytes, 0);
	CU_ASSERT_STRING_EQUAL(cfg.policy.budget_cgroup, "/machine.slice");
	CU_ASSERT_STRING_EQUAL(config_format(&cfg, config_find("policy.budget"), buf, sizeof buf),
			       "cgroup:/machine.slice");
	CU_ASSERT_EQUAL(config_set(&cfg, "policy.budget", "cgroup:", err, sizeof err), -EINVAL);
	CU_ASSERT_STRING_EQUAL(cfg.policy.budget_cgroup, "/machine.slice");
	CU_ASSERT_EQUAL(config_set(&cfg, "policy.budget", "6G", err, sizeof err), 0);
	CU_ASSERT_STRING_EQUAL(cfg.policy.budget_cgroup, "");
	CU_ASSERT_EQUAL(cfg.policy.budget_bytes, 6 * GIB);
	CU_ASSERT_EQUAL(config_set(&cfg, "daemon.tick", "500ms", err, sizeof err), 0);
	CU_ASSERT_STRING_EQUAL(config_format(&cfg, config_find("daemon.tick"), buf, sizeof buf), "500ms");
	/* refusals leave the value alone */
	CU_ASSERT_EQUAL(config_set(&cfg, "scanner.threads", "4", err, sizeof err), -EPERM);
	CU_ASSERT_EQUAL(cfg.scanner_threads, 2);
	CU_ASSERT_EQUAL(config_set(&cfg, "scanner.pages_per_sec", "-5", err, sizeof err), -EINVAL);
	CU_ASSERT_EQUAL(cfg.scanner_pages_per_sec, 2000);
	CU_ASSERT_EQUAL(config_set(&cfg, "no.such", "1", err, sizeof err), -ENOENT);
	CU_ASSERT_STRING_EQUAL(err, "unknown key 'no.such'");
	/* a near miss names the key meant */
	CU_ASSERT_EQUAL(config_set(&cfg, "scanner.page_per_sec", "1", err, sizeof err), -ENOENT);
	CU_ASSERT_STRING_EQUAL(err, "unknown key 'scanner.page_per_sec'; did you mean 'scanner.pages_per_sec'?");
	CU_ASSERT_EQUAL(config_set(&cfg, "pages_per_sec", "1", err, sizeof err), -ENOENT);
	CU_ASSERT_STRING_EQUAL(err, "unknown key 'pages_per_sec'; did you mean 'scanner.pages_per_sec'?");
	CU_ASSERT_EQUAL(cfg.scanner_pages_per_sec, 2000);
	CU_ASSERT_PTR_NULL(config_nearest("guest.qmp", buf, sizeof buf)); /* not a key of get/set */
	CU_ASSERT_PTR_NULL(config_find("guest.qmp"));
}

/* What --dump-config prints parses back to the same configuration. */
static void test_dump_roundtrip(void)
{
	struct ksmd_config a, b;
	struct conf_errors e;
	CU_ASSERT_EQUAL_FATAL(parse("[scanner]\npages_per_sec = 777\n[policy]\nbudget = cgroup:/sys/fs/cgroup/memory/vms\n"
				    "[guest g1]\nqmp = /q\nmax = 2G\nqmp_mode = shared\n", &a, &e), 0);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	config_dump(&a, f);
	fclose(f);
	int r = parse(buf, &b, &e);
	if (r)
		fprintf(stderr, "%s\n%s\n", buf, first(&e));
	CU_ASSERT_EQUAL_FATAL(r, 0);
	CU_ASSERT_EQUAL(b.scanner_pages_per_sec, 777);
	CU_ASSERT_STRING_EQUAL(b.policy.budget_cgroup, "/sys/fs/cgroup/memory/vms");
	CU_ASSERT_EQUAL_FATAL(b.n_guests, 1);
	CU_ASSERT_EQUAL(b.guests[0].max_bytes, 2 * GIB);
	CU_ASSERT_STRING_EQUAL(b.guests[0].qmp_mode, "shared");
	CU_ASSERT_EQUAL(memcmp(&a.policy, &b.policy, sizeof a.policy), 0);
	free(buf);
	config_free(&a);
	config_free(&b);
}

/* The shipped ksmd.conf is valid and equals the defaults. */
static void test_shipped_file(void)
{
	struct ksmd_config cfg, def;
	struct conf_errors e = { 0 };
	int r = config_load("ksmd.conf", &cfg, &e);
	if (r)
		fprintf(stderr, "%s\n", first(&e));
	CU_ASSERT_EQUAL_FATAL(r, 0);
	config_defaults(&def);
	CU_ASSERT_EQUAL(cfg.scanner_pages_per_sec, def.scanner_pages_per_sec);
	CU_ASSERT_EQUAL(cfg.tick_usec, def.tick_usec);
	CU_ASSERT_EQUAL(cfg.policy.reserve_bytes, def.policy.reserve_bytes);
	CU_ASSERT_STRING_EQUAL(cfg.stats_listen, def.stats_listen);
	config_free(&cfg);
}

/* Several files: each overrides keys of the ones before. */
static void test_overlay(void)
{
	char a[] = "/tmp/ksmd-test-a.XXXXXX", b[] = "/tmp/ksmd-test-b.XXXXXX";
	int fa = mkstemp(a), fb = mkstemp(b);
	CU_ASSERT_FATAL(fa >= 0 && fb >= 0);
	dprintf(fa, "[scanner]\npages_per_sec = 100\nthreads = 3\n[guest g1]\nqmp = /q1\n");
	dprintf(fb, "[scanner]\npages_per_sec = 200\n[guest g2]\npid = 7\n");
	close(fa);
	close(fb);
	const char *paths[] = { a, b };
	struct ksmd_config cfg;
	struct conf_errors e = { 0 };
	CU_ASSERT_EQUAL_FATAL(config_load_files(paths, 2, &cfg, &e), 0);
	CU_ASSERT_EQUAL(cfg.scanner_pages_per_sec, 200);
	CU_ASSERT_EQUAL(cfg.scanner_threads, 3);
	CU_ASSERT_EQUAL(cfg.n_guests, 2);
	config_free(&cfg);
	/* a guest defined twice across files, and a bad line in the second file */
	FILE *f = fopen(b, "w");
	fprintf(f, "[guest g1]\npid = 8\n[scanner]\nthreads = 99\n");
	fclose(f);
	CU_ASSERT_EQUAL(config_load_files(paths, 2, &cfg, &e), -EINVAL);
	CU_ASSERT_EQUAL_FATAL(e.n, 2);
	CU_ASSERT_TRUE(strstr(e.msg[0], ":1: duplicate section [guest g1] (first at line 4)") != NULL);
	CU_ASSERT_TRUE(strstr(e.msg[1], ":4: scanner.threads: '99' is out of range") != NULL);
	CU_ASSERT_TRUE(strncmp(e.msg[1], b, strlen(b)) == 0);
	conf_errors_free(&e);
	unlink(a);
	unlink(b);
}

/* A NUL byte anywhere, or a line that is not UTF-8, refuses the file with
 * its line; a value set at run time that is not UTF-8 is refused too. */
static void test_nul_and_utf8(void)
{
	char a[] = "/tmp/ksmd-test-n.XXXXXX";
	int fd = mkstemp(a);
	CU_ASSERT_FATAL(fd >= 0);
	static const char nul[] = "[scanner]\npages_per_sec = 100\n# x\0\n[guest g2]\npid = 7\n";
	CU_ASSERT_EQUAL(write(fd, nul, sizeof nul - 1), (ssize_t)sizeof nul - 1);
	close(fd);
	struct ksmd_config cfg;
	struct conf_errors e = { 0 };
	CU_ASSERT_EQUAL(config_load(a, &cfg, &e), -EINVAL);
	CU_ASSERT_EQUAL_FATAL(e.n, 1);
	char want[128];
	snprintf(want, sizeof want, "%s:3: a NUL byte", a);
	CU_ASSERT_TRUE(strncmp(e.msg[0], want, strlen(want)) == 0);
	conf_errors_free(&e);

	FILE *f = fopen(a, "w");
	fprintf(f, "# caf\xe9 in a comment is nobody's business\n[scanner]\n"
		   "pages_per_sec = 100\n[guest caf]\npid = 7\nqmp = /run/q\xe9.sock\n");
	fclose(f);
	CU_ASSERT_EQUAL(config_load(a, &cfg, &e), -EINVAL);
	CU_ASSERT_EQUAL_FATAL(e.n, 1);
	snprintf(want, sizeof want, "%s:6: not valid UTF-8", a);
	CU_ASSERT_STRING_EQUAL(e.msg[0], want);
	conf_errors_free(&e);
	/* the same in UTF-8 is fine */
	f = fopen(a, "w");
	fprintf(f, "[guest caf]\nqmp = /run/q\xc3\xa9.sock\n");
	fclose(f);
	CU_ASSERT_EQUAL(config_load(a, &cfg, &e), 0);
	CU_ASSERT_STRING_EQUAL(cfg.guests[0].qmp, "/run/q\xc3\xa9.sock");
	config_free(&cfg);
	unlink(a);

	char err[300];
	config_defaults(&cfg);
	CU_ASSERT_EQUAL(config_set(&cfg, "daemon.log_level", "d\xe9" "bug", err, sizeof err), -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "daemon.log_level: the value is not valid UTF-8");
	CU_ASSERT_EQUAL(config_set(&cfg, "scanner.pages_per_sec", "1\xc3", err, sizeof err), -EINVAL);
	CU_ASSERT_TRUE(text_utf8_valid(err, strlen(err)));
	config_free(&cfg);
}

int main(void)
{
	static const struct ksmd_test tests[] = {
		{ "table_defaults", test_table_defaults },
		{ "units", test_units },
		{ "guests", test_guests },
		{ "errors_with_line_numbers", test_errors },
		{ "libvirt_section", test_libvirt },
		{ "exact_values", test_exact_values },
		{ "errors_without_list", test_errors_without_list },
		{ "allocation failure never accepts an invalid file", test_alloc_failure_fails_closed },
		{ "all_errors_reported", test_all_errors_reported },
		{ "ksm_manage", test_ksm_manage },
		{ "stats.user refused at its line when root or unknown", test_stats_user },
		{ "missing_file", test_missing_file },
		{ "set_get", test_set_get },
		{ "dump_roundtrip", test_dump_roundtrip },
		{ "shipped_file", test_shipped_file },
		{ "overlay", test_overlay },
		{ "NUL byte and UTF-8 refused with FILE:LINE", test_nul_and_utf8 },
		{ NULL, NULL },
	};
	KSMD_TEST_INIT();
	ksmd_add_suite("config", tests);
	return ksmd_run_tests();
}
