/* balloon_anchor_args.c — balloon_anchor's command line: the options,
 * the VMs (NAME=QMP_SOCKET, into vms[]) and the per-VM settings (--min,
 * --shares), checked; the run itself is balloon_anchor.c. */
#include "bench/balloon_anchor.h"
#include "common/util.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char usage_text[] =
"usage: balloon_anchor --rule proxmox|mom [options] NAME=QMP_SOCKET ...\n"
"\n"
"Run another memory manager's balloon rule, ported verbatim (policy/anchor_*.c),\n"
"against QEMU guests through ksmd's QMP balloon backend. One log line per\n"
"round for the host and one per VM: inputs, target, reason, what was sent.\n"
"\n"
"  --rule proxmox|mom   proxmox: pve-manager PVE/AutoBalloon.pm as pvestatd runs it\n"
"                       mom: vdsm mom.d/02-balloon.policy as MOM evaluates it\n"
"  --interval S         seconds between rounds [proxmox 10, mom 15: the originals']\n"
"  --cgroup PATH        the host is this memory cgroup directory (v1 or v2):\n"
"                       total = its limit, used/free from its usage [/proc/meminfo]\n"
"  --min NAME=MIB       the VM's floor: Proxmox `balloon`, oVirt guaranteed memory\n"
"                       [proxmox: unset, the VM is not auto-ballooned; mom: 0]\n"
"  --shares NAME=N      Proxmox `shares`, 0..50000 [1000; 0 = not auto-ballooned]\n"
"  --target-percent P   Proxmox `ballooning-target`, 0..100 [80]\n"
"  --balloon-enabled 0|1  MOM balloonEnabled [1; vdsm's 00-defines.policy says 0\n"
"                       until the engine turns cluster ballooning on; 0 = grow only]\n"
"  --duration S         stop after S seconds [until SIGINT/SIGTERM]\n"
"  --log FILE           append the log to FILE [stdout]\n"
"  --dry-run            decide and log, set nothing\n"
"  -v, --verbose        debug messages of the balloon backend on stderr\n"
"  -h, --help           this text\n"
"\n"
"Targets are clamped to [min, the guest's RAM size]. On exit (SIGINT, SIGTERM,\n"
"--duration) every balloon stays where it is.\n";

static struct vm *find_vm(const char *name, size_t len)
{
	for (size_t k = 0; k < n_vms; k++)
		if (strlen(vms[k].name) == len && !strncmp(vms[k].name, name, len))
			return &vms[k];
	return NULL;
}

struct named_opt { const char *arg; int kind; }; /* kind 0 = --min, 1 = --shares */

static int parse_named(const struct named_opt *o, enum rule rule)
{
	const char *eq = strchr(o->arg, '=');
	struct vm *v = eq ? find_vm(o->arg, (size_t)(eq - o->arg)) : NULL;
	int64_t n;
	if (!v) {
		fprintf(stderr, "balloon_anchor: %s: no VM of that name\n", o->arg);
		return -EINVAL;
	}
	if (parse_int64(eq + 1, &n) < 0 || n < 0 ||
	    (o->kind == 1 && n > ANCHOR_PVE_MAX_SHARES) || (o->kind == 0 && n > (1 << 24))) {
		fprintf(stderr, "balloon_anchor: %s: bad value\n", o->arg);
		return -EINVAL;
	}
	if (o->kind == 0) {
		v->min_bytes = (uint64_t)n * MIB;
		v->min_set = true;
	} else {
		if (rule != RULE_PROXMOX)
			fprintf(stderr, "balloon_anchor: --shares is a Proxmox setting, ignored by mom\n");
		v->shares = (unsigned)n;
	}
	return 0;
}


static int usage_error(void)
{
	fputs(usage_text, stderr);
	return 2;
}

/* The VMs, NAME=QMP_SOCKET each, into vms[]. Returns 0, -EINVAL (not
 * that form, or too many) or -EEXIST (a name twice, a message printed). */
static int parse_vms(int n, char **arg)
{
	for (int k = 0; k < n; k++) {
		const char *eq = strchr(arg[k], '=');
		if (!eq || eq == arg[k] || !eq[1] || (size_t)(eq - arg[k]) >= sizeof vms[0].name ||
		    n_vms == ANCHOR_MAX_VMS)
			return -EINVAL;
		struct vm *v = &vms[n_vms];
		memcpy(v->name, arg[k], (size_t)(eq - arg[k]));
		if (find_vm(v->name, strlen(v->name))) {
			fprintf(stderr, "balloon_anchor: %s: duplicate VM name\n", v->name);
			return -EEXIST;
		}
		v->qmp_path = eq + 1;
		v->shares = ANCHOR_PVE_DEFAULT_SHARES;
		n_vms++;
	}
	return 0;
}

/* The long options (usage_text says what each means). */
static const struct option long_opts[] = {
	{ "rule", required_argument, NULL, 'r' },
	{ "interval", required_argument, NULL, 'i' },
	{ "cgroup", required_argument, NULL, 'c' },
	{ "min", required_argument, NULL, 'm' },
	{ "shares", required_argument, NULL, 's' },
	{ "target-percent", required_argument, NULL, 'T' },
	{ "balloon-enabled", required_argument, NULL, 'E' },
	{ "duration", required_argument, NULL, 'd' },
	{ "log", required_argument, NULL, 'l' },
	{ "dry-run", no_argument, NULL, 'n' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* Parse the options and the VMs (into vms[]). Returns 0, 1 after --help,
 * or 2 after a message (usage or a bad name). */
int parse_args(int argc, char **argv, struct args *a)
{
	int rule = -1;
	struct named_opt named[2 * ANCHOR_MAX_VMS];
	size_t n_named = 0;
	int r;
	*a = (struct args){ .target_percent = ANCHOR_PVE_TARGET_PERCENT, .balloon_enabled = true };
	int o;
	while ((o = getopt_long(argc, argv, "vh", long_opts, NULL)) != -1) {
		switch (o) {
		case 'r':
			if (!strcmp(optarg, "proxmox"))
				rule = RULE_PROXMOX;
			else if (!strcmp(optarg, "mom"))
				rule = RULE_MOM;
			else
				goto usage;
			break;
		case 'i':
			if (parse_double(optarg, &a->interval_s) < 0 || a->interval_s < 0.1)
				goto usage;
			break;
		case 'd':
			if (parse_double(optarg, &a->duration_s) < 0 || a->duration_s <= 0)
				goto usage;
			break;
		case 'c': a->cgroup = optarg; break;
		case 'l': a->log_path = optarg; break;
		case 'm':
		case 's':
			if (n_named == ARRAY_SIZE(named))
				goto usage;
			named[n_named++] = (struct named_opt){ optarg, o == 's' };
			break;
		case 'T':
			if (parse_int64(optarg, &a->target_percent) < 0 || a->target_percent < 0 ||
			    a->target_percent > 100)
				goto usage;
			break;
		case 'E':
			if (parse_bool(optarg, &a->balloon_enabled) < 0)
				goto usage;
			break;
		case 'n': a->dry_run = true; break;
		case 'v': a->verbose = true; break;
		case 'h':
			fputs(usage_text, stdout);
			return 1;
		default:
			goto usage;
		}
	}
	if (rule < 0 || optind >= argc)
		goto usage;
	a->rule = (enum rule)rule;
	if ((r = parse_vms(argc - optind, argv + optind)) < 0)
		return r == -EEXIST ? 2 : usage_error();
	for (size_t k = 0; k < n_named; k++)
		if (parse_named(&named[k], a->rule) < 0)
			return 2;
	if (a->interval_s == 0)
		a->interval_s = (double)(a->rule == RULE_PROXMOX ? ANCHOR_PVE_INTERVAL_USEC
								 : ANCHOR_MOM_INTERVAL_USEC) / 1e6;
	return 0;
usage:
	return usage_error();
}
