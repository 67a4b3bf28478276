#!/bin/bash
# overcommit_all.sh — `make bench-overcommit`: every manager (none, ksmd,
# proxmox, mom) on the same tenants, limit and swap (bench/overcommit.sh),
# at each ratio of OC_RATIOS (2 1.5), OC_RUNS (3) runs each, the runs in a
# random order (shuf), after one reference run (no manager, no limit to
# speak of) for the workloads' own times. OC_REPORT_ONLY=1 only rewrites
# the table from the runs kept. Writes bench/results/overcommit/RUN.json per run and
# bench/results/overcommit.md: per ratio and manager, medians over the runs
# of each figure (min-max beside them). A run that skips (77) stops the
# benchmark with its reason.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
R=$HERE/results/overcommit
mkdir -p "$R"
RATIOS=${OC_RATIOS:-2 1.5}
RUNS=${OC_RUNS:-3}
MANAGERS=${OC_MANAGERS:-none ksmd proxmox mom}
plan=$(for r in $RATIOS; do for m in $MANAGERS; do for k in $(seq "$RUNS"); do echo "$m $r $k"; done; done; done | shuf)
# the workloads' reference times: no manager, no limit to speak of (ratio 0)
plan=$(printf 'none 0 ref\n%s\n' "$plan")
[ "${OC_REPORT_ONLY:-0}" = 1 ] && plan=
[ -n "$plan" ] || plan=$'\n'
n=0
total=$(echo "$plan" | wc -l)
while read -r m r k; do
    [ -n "$m" ] || continue
    [ "$k" = ref ] && [ -f "$R/reference.json" ] && continue
    n=$((n + 1))
    echo "overcommit: run $n of $total: $m at ${r}x (#$k)"
    out=$R/$m-$r-$k.json
    [ "$k" = ref ] && out=$R/reference.json
    OC_LOG=$R/$m-$r-$k.log "$HERE/overcommit.sh" "$m" "$r" "$out" > "$R/$m-$r-$k.out" 2>&1
    rc=$?
    [ $rc = 77 ] && { grep '^skip' "$R/$m-$r-$k.out"; exit 77; }
    [ $rc = 0 ] || { tail -n 5 "$R/$m-$r-$k.out"; echo "overcommit: run failed ($rc)"; }
done <<<"$plan"
python3 - "$R" "$HERE/results/overcommit.md" <<'PY'
import json, glob, os, statistics, sys
files = sorted(glob.glob(os.path.join(sys.argv[1], "*.json")))
runs = [json.load(open(f)) for f in files if not f.endswith("reference.json")]
ref = {}
rf = os.path.join(sys.argv[1], "reference.json")
if os.path.exists(rf):
    ref = {k: float(v) for k, v in json.load(open(rf))["workload_seconds"].items() if v != "fail"}
def burst_ratio(r):
    # each burst's time against the same burst with no limit; a failed one counts as missed
    out = []
    for k, v in r["workload_seconds"].items():
        if k.endswith("burst") and k in ref:
            out.append(None if v == "fail" else float(v) / ref[k])
    return out
keys = ["swap_peak_mib", "swap_end_mib", "seconds_over_limit", "guest_oom_kills", "cgroup_oom_kills",
        "qemu_killed", "merged_mib", "ballooned_mib"]
out = ["# Overcommit under a real limit (bench/overcommit.sh)", "",
       "Three lab tenants (identical 128 MiB images, a 200 MiB live working set, two 400 MiB bursts",
       "written then freed) in a memory cgroup with a hard limit and zram swap behind it; the guests are",
       "sized to the ratio (their memory = ratio x the limit). Median over the runs (min-max). Bursts:",
       "bursts that completed / bursts, median seconds, and",
       "the median of each burst's time over its time with no limit (reference run: no manager,",
       f"no limit to speak of; {', '.join(f'{k} {v:.2f} s' for k, v in sorted(ref.items())) or 'not run'}).", ""]
for ratio in sorted({r["ratio"] for r in runs}, reverse=True):
    r0 = next(r for r in runs if r["ratio"] == ratio)
    out += [f"## {ratio}x (limit {r0['limit_mib']} MiB, {r0['guests']} guests of {r0['guest_mib']} MiB)", "",
            "| manager | runs | " + " | ".join(keys) + " | bursts ok | burst s | burst / no limit |",
            "|---" * (len(keys) + 5) + "|"]
    for m in ["none", "ksmd", "proxmox", "mom"]:
        rs = [r for r in runs if r["ratio"] == ratio and r["manager"] == m]
        if not rs:
            continue
        cells = []
        for k in keys:
            v = [r[k] for r in rs]
            cells.append(f"{statistics.median(v):g} ({min(v):g}-{max(v):g})")
        b = [w for r in rs for n, w in r["workload_seconds"].items() if n.endswith("burst")]
        ok = [float(w) for w in b if w != "fail"]
        rat = [x for r in rs for x in burst_ratio(r) if x is not None]
        out.append(f"| {m} | {len(rs)} | " + " | ".join(cells) +
                   f" | {len(ok)}/{len(b)} | {f'{statistics.median(ok):.2f}' if ok else '-'}"
                   f" | {f'{statistics.median(rat):.2f}x' if rat else '-'} |")
    out.append("")
open(sys.argv[2], "w").write("\n".join(out) + "\n")
print("\n".join(out))
PY
