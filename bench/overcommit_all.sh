#!/bin/bash
# overcommit_all.sh — `make bench-overcommit`: every manager (none, ksmd,
# proxmox, mom) on the same tenants, limit and swap (bench/overcommit.sh),
# at each ratio of OC_RATIOS (2 1.5), OC_RUNS (3) runs each, the runs in a
# random order (shuf), after one reference run (no manager, no limit to
# speak of) for the workloads' own times. OC_REPORT_ONLY=1 only rewrites
# the table from the runs kept. Writes bench/results/overcommit/RUN.json per run and
# bench/results/overcommit.md: per ratio and manager, medians over the runs
# of each figure (min-max beside them), and with gnuplot a plot per ratio,
# overcommit-RATIOx.png: the first run of each manager over time, the
# guests' memory (charged + swapped) against the limit and what is in swap.
# A run that skips (77) stops the benchmark with its reason.
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
runs = []
for f in files:
    if not f.endswith("reference.json"):
        r = json.load(open(f))
        r["_samples"] = f[:-len(".json")] + ".samples"
        runs.append(r)
ref = {}
rf = os.path.join(sys.argv[1], "reference.json")
if os.path.exists(rf):
    ref = {k: float(v) for k, v in json.load(open(rf))["workload_seconds"].items() if v != "fail"}
def plot(group, ratio, fpr, png):
    # the first run of each manager: the guests' memory (charged + swapped)
    # against the limit, and what of it is in swap, over the run (gnuplot)
    import shutil, subprocess
    if not shutil.which("gnuplot"):
        return False
    series = []
    for m in ["none", "ksmd", "proxmox", "mom"]:
        rs = [r for r in group if r["manager"] == m and os.path.exists(r["_samples"])]
        if rs:
            series.append((m, rs[0]["_samples"]))
    if not series:
        return False
    def using(col):
        # seconds from the run's first sample; MiB
        return ", ".join(f"'{f}' using ($1 - {float(open(f).readline().split()[0]):.3f}):{col} "
                         f"with lines lw 2 title '{m}'" for m, f in series)
    limit = group[0]["limit_mib"]
    script = f"""set terminal pngcairo size 900,700
set output '{png}'
set multiplot layout 2,1 title "{ratio:g}x overcommit{', free page reporting' if fpr else ''}: 3 guests of {group[0]['guest_mib']} MiB under a {limit} MiB limit"
set grid
set xrange [0:*]
set ylabel 'charged + swap (MiB)'
set arrow from graph 0, first {limit} to graph 1, first {limit} nohead dt 2
plot {using('($2 + $3)')}
unset arrow
set xlabel 'seconds'
set ylabel 'in swap (MiB)'
plot {using(3)}
unset multiplot
"""
    try:
        subprocess.run(["gnuplot"], input=script, text=True, check=True, capture_output=True)
        return True
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"overcommit: gnuplot failed: {getattr(e, 'stderr', e)}", file=sys.stderr)
        return False
def burst_ratio(r):
    # each burst's time against the same burst with no limit; a failed one counts as missed
    out = []
    for k, v in r["workload_seconds"].items():
        if k.endswith("burst") and k in ref:
            out.append(None if v == "fail" else float(v) / ref[k])
    return out
keys = ["swap_peak_mib", "swap_end_mib", "seconds_over_limit", "guest_oom_kills", "cgroup_oom_kills",
        "qemu_killed", "merged_mib", "ballooned_mib", "fpr_reported_mib"]
out = ["# Overcommit under a real limit (bench/overcommit.sh)", "",
       "Three lab tenants (identical 128 MiB images, a 200 MiB live working set, two 400 MiB bursts",
       "written then freed) in a memory cgroup with a hard limit and zram swap behind it; the guests are",
       "sized to the ratio (their memory = ratio x the limit). Median over the runs (min-max). Bursts:",
       "bursts that completed / bursts, median seconds, and",
       "the median of each burst's time over its time with no limit (reference run: no manager,",
       f"no limit to speak of; {', '.join(f'{k} {v:.2f} s' for k, v in sorted(ref.items())) or 'not run'}).", ""]
for ratio, fpr in sorted({(r["ratio"], r.get("fpr", 0)) for r in runs}, key=lambda x: (-x[0], x[1])):
    group = [r for r in runs if r["ratio"] == ratio and r.get("fpr", 0) == fpr]
    r0 = group[0]
    out += [f"## {ratio}x (limit {r0['limit_mib']} MiB, {r0['guests']} guests of {r0['guest_mib']} MiB"
            f"{', free page reporting on' if fpr else ''})", "",
            "| manager | runs | " + " | ".join(keys) + " | bursts ok | burst s | burst / no limit |",
            "|---" * (len(keys) + 5) + "|"]
    for m in ["none", "ksmd", "proxmox", "mom"]:
        rs = [r for r in group if r["manager"] == m]
        if not rs:
            continue
        cells = []
        for k in keys:
            v = [r.get(k, 0) for r in rs]
            cells.append(f"{statistics.median(v):g} ({min(v):g}-{max(v):g})")
        b = [w for r in rs for n, w in r["workload_seconds"].items() if n.endswith("burst")]
        ok = [float(w) for w in b if w != "fail"]
        rat = [x for r in rs for x in burst_ratio(r) if x is not None]
        out.append(f"| {m} | {len(rs)} | " + " | ".join(cells) +
                   f" | {len(ok)}/{len(b)} | {f'{statistics.median(ok):.2f}' if ok else '-'}"
                   f" | {f'{statistics.median(rat):.2f}x' if rat else '-'} |")
    png = f"overcommit-{ratio:g}x{'-fpr' if fpr else ''}.png"
    if plot(group, ratio, fpr, os.path.join(os.path.dirname(sys.argv[2]), png)):
        out += ["", f"![guests' memory against the limit, and in swap, at {ratio:g}x]({png})"]
    out.append("")
open(sys.argv[2], "w").write("\n".join(out) + "\n")
print("\n".join(out))
PY
