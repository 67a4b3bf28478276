#!/bin/bash
# overcommit_all.sh — `make bench-overcommit`: every manager (none, ksmd,
# proxmox, mom) on the same tenants, limit and swap (bench/overcommit.sh),
# at each ratio of OC_RATIOS (2 1.5), OC_RUNS (3) runs each, the runs in a
# random order (shuf), with OC_REF_RUNS (3) reference runs (no manager, no
# limit to speak of) among them for the workloads' own times: kept runs are
# not made again, and the workloads are compared with their medians. OC_REPORT_ONLY=1 only rewrites
# the table from the runs kept. Writes bench/results/overcommit/RUN.json per run and
# bench/results/overcommit.md: per ratio and manager, medians over the runs
# of each figure (min-max beside them), and with gnuplot a plot per ratio,
# overcommit-RATIOx.png: the first run of each manager over time, the
# guests' memory (charged + swapped) against the limit and what is in swap.
# A run that skips (77) stops the benchmark with its reason.
# OC_RUN_FIRST (1) numbers the runs from there: OC_RUNS=1 OC_RUN_FIRST=3
# adds a third run to each cell and keeps the first two. LAB_FPR=1 (free
# page reporting on) and OC_CACHE_MIB > 0 (the page-cache scenario, see
# bench/overcommit.sh) are scenarios of their own: their runs are named
# MANAGER-RATIO-fpr-K, MANAGER-RATIO-cacheMIB-K, each has its own
# reference run (the same guests, no limit) and its own table.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
R=$HERE/results/overcommit
mkdir -p "$R"
RATIOS=${OC_RATIOS:-2 1.5}
RUNS=${OC_RUNS:-3}
REF_RUNS=${OC_REF_RUNS:-3}
MANAGERS=${OC_MANAGERS:-none ksmd proxmox mom}
FIRST=${OC_RUN_FIRST:-1}
SUF=
[ "${LAB_FPR:-0}" = 1 ] && SUF=-fpr
[ "${OC_CACHE_MIB:-0}" -gt 0 ] && SUF=$SUF-cache$OC_CACHE_MIB
# the workloads' reference times: no manager, no limit to speak of (ratio
# 0); the first is reference$SUF.json, the K-th reference$SUF-K.json
plan=$( (for r in $RATIOS; do for m in $MANAGERS; do for k in $(seq "$FIRST" $((FIRST + RUNS - 1))); do
             echo "$m $r $k"; done; done; done
         for k in $(seq 1 "$REF_RUNS"); do echo "none 0 ref$k"; done) | shuf)
[ "${OC_REPORT_ONLY:-0}" = 1 ] && plan=
[ -n "$plan" ] || plan=$'\n'
n=0
total=$(echo "$plan" | wc -l)
while read -r m r k; do
    [ -n "$m" ] || continue
    ref=
    case $k in ref1) ref=$R/reference$SUF.json ;; ref*) ref=$R/reference$SUF-${k#ref}.json ;; esac
    [ -n "$ref" ] && [ -f "$ref" ] && continue
    n=$((n + 1))
    echo "overcommit: run $n of $total: $m at ${r}x (#$k)${SUF:+ ($SUF)}"
    run=$m-$r$SUF-$k
    out=$R/$run.json
    [ -n "$ref" ] && out=$ref
    OC_LOG=$R/$run.log "$HERE/overcommit.sh" "$m" "$r" "$out" > "$R/$run.out" 2>&1
    rc=$?
    [ $rc = 77 ] && { grep '^skip' "$R/$run.out"; exit 77; }
    [ $rc = 0 ] || { tail -n 5 "$R/$run.out"; echo "overcommit: run failed ($rc)"; }
done <<<"$plan"
python3 - "$R" "$HERE/results/overcommit.md" <<'PY'
import json, glob, os, statistics, sys
files = sorted(glob.glob(os.path.join(sys.argv[1], "*.json")))
runs = []
refs = {}  # (fpr, cache_mib) -> the workloads' times with no limit: medians of the reference runs
ref_runs = {}  # (fpr, cache_mib) -> [each reference run's times]
def scenario(r):
    return (r.get("fpr", 0), r.get("cache_mib", 0))
for f in files:
    r = json.load(open(f))
    if os.path.basename(f).startswith("reference"):
        ref_runs.setdefault(scenario(r), []).append(
            {k: float(v) for k, v in r["workload_seconds"].items() if v != "fail"})
    else:
        r["_samples"] = f[:-len(".json")] + ".samples"
        runs.append(r)
for sc, rl in ref_runs.items():
    refs[sc] = {k: statistics.median([x[k] for x in rl if k in x]) for k in {k for x in rl for k in x}}
ref = refs.get((0, 0), {})
def plot(group, ratio, fpr, cache, png):
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
set multiplot layout 2,1 title "{ratio:g}x overcommit{', free page reporting' if fpr else ''}{f', {cache} MiB page cache' if cache else ''}: 3 guests of {group[0]['guest_mib']} MiB under a {limit} MiB limit"
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
def ratio_to_ref(r, suffix):
    # each such workload's time against the same one with no limit (the
    # reference of its scenario); a failed one counts as missed
    out = []
    rr = refs.get(scenario(r)) or refs.get((0, 0), {})
    for k, v in r["workload_seconds"].items():
        if k.endswith(suffix) and k in rr:
            out.append(None if v == "fail" else float(v) / rr[k])
    return out
keys = ["swap_peak_mib", "swap_end_mib", "seconds_over_limit", "guest_oom_kills", "cgroup_oom_kills",
        "qemu_killed", "merged_mib", "ballooned_mib", "fpr_reported_mib"]
out = ["# Overcommit under a real limit (bench/overcommit.sh)", "",
       "Three lab tenants (identical 128 MiB images, a 200 MiB live working set, two 400 MiB bursts",
       "written then freed) in a memory cgroup with a hard limit and zram swap behind it; the guests are",
       "sized to the ratio (their memory = ratio x the limit). Median over the runs (min-max). Bursts:",
       "bursts that completed / bursts, median seconds, and",
       "the median of each burst's time over its time with no limit (reference runs: no manager,",
       f"no limit to speak of; medians of {len(ref_runs.get((0, 0), []))}: "
       f"{', '.join(f'{k} {v:.2f} s' for k, v in sorted(ref.items())) or 'not run'}).",
       "`image / no limit` is the same for the images each tenant writes at the start (128 MiB).", ""]
if any(r.get("fpr", 0) for r in runs):
    fr = refs.get((1, 0))
    out += ["With free page reporting on, each burst is compared with the same burst in guests that have it",
            f"on too, with no limit (medians of {len(ref_runs.get((1, 0), []))}: " + (", ".join(f"{k} {v:.2f} s" for k, v in sorted(fr.items()))
                                         if fr else "reference not run: compared with the one above") + ").", ""]
cells = sorted({(r["ratio"], r.get("fpr", 0), r.get("cache_mib", 0)) for r in runs},
               key=lambda x: (x[2], -x[0], x[1]))
if any(c[2] for c in cells):
    out += ["The page-cache scenario (OC_CACHE_MIB): g2 also reads that much of its disk into its page",
            "cache at the start and re-reads it at 100 s; `re-read / no limit` is that re-read's time over",
            "the same re-read with no limit (medians: " +
            (", ".join(f"{c} MiB{' with free page reporting' if f else ''}: {v['g2_cache_reread']:.2f} s "
                       f"of {len(ref_runs[(f, c)])}" for (f, c), v in sorted(refs.items())
                       if c and "g2_cache_reread" in v) or "not run") + ").", ""]
for ratio, fpr, cache in cells:
    group = [r for r in runs if r["ratio"] == ratio and r.get("fpr", 0) == fpr and r.get("cache_mib", 0) == cache]
    r0 = group[0]
    out += [f"## {ratio}x (limit {r0['limit_mib']} MiB, {r0['guests']} guests of {r0['guest_mib']} MiB"
            f"{', free page reporting on' if fpr else ''}{f', g2 holding {cache} MiB of page cache' if cache else ''})", "",
            "| manager | runs | " + " | ".join(keys) + " | bursts ok | burst s | burst / no limit |" +
            " image / no limit |" + (" re-read / no limit |" if cache else ""),
            "|---" * (len(keys) + 6 + (1 if cache else 0)) + "|"]
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
        rat = [x for r in rs for x in ratio_to_ref(r, "burst") if x is not None]
        row = (f"| {m} | {len(rs)} | " + " | ".join(cells) +
               f" | {len(ok)}/{len(b)} | {f'{statistics.median(ok):.2f}' if ok else '-'}"
               f" | {f'{statistics.median(rat):.2f}x' if rat else '-'} |")
        im = [x for r in rs for x in ratio_to_ref(r, "image") if x is not None]
        row += f" {f'{statistics.median(im):.2f}x' if im else '-'} |"
        if cache:
            rr = [x for r in rs for x in ratio_to_ref(r, "cache_reread")]
            ok_rr = [x for x in rr if x is not None]
            failed = f" ({len(rr) - len(ok_rr)} failed)" if len(ok_rr) < len(rr) else ""
            row += (f" {statistics.median(ok_rr):.2f}x{failed} |" if ok_rr else f" -{failed} |")
        out.append(row)
    png = f"overcommit-{ratio:g}x{'-fpr' if fpr else ''}{f'-cache{cache}' if cache else ''}.png"
    if plot(group, ratio, fpr, cache, os.path.join(os.path.dirname(sys.argv[2]), png)):
        out += ["", f"![guests' memory against the limit, and in swap, at {ratio:g}x]({png})"]
    out.append("")
open(sys.argv[2], "w").write("\n".join(out) + "\n")
print("\n".join(out))
PY
