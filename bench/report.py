#!/usr/bin/python3
"""Collect every benchmark's results into one report, beside its anchor.

  bench/report.py RESULTS_DIR
  bench/report.py --stamp NAME RESULTS_DIR   (each bench-NAME target, after its run)

Reads RESULTS_DIR/{scanner,converge,policy,stats}.json (each written by its
own `make bench-*` target; a missing one is reported as not run), writes
RESULTS_DIR/latest.json (everything, plus a "summary" of ratios against the
anchors with each target and whether it was met) and RESULTS_DIR/latest.md
(the summary table, then each benchmark's own table), and renders PNG plots
with gnuplot when it is installed:
  converge.png        savings over time per KSM strategy (converge-S-1.csv)
  converge-cpu.png    cumulative CPU over time per KSM strategy (the same)
  stats-latency.png   latency percentiles of the stats endpoint under load
  policy.png          over-budget and distress seconds per policy
  scanner.png         pages per CPU-second, ksmd's scanner vs the kernel thread
Ratios, not absolute numbers, are what carry from machine to machine: the
anchor always ran on the same machine in the same run.
"""
import datetime
import glob
import json
import os
import shutil
import subprocess
import sys


def load(d, name):
    try:
        with open(os.path.join(d, name + ".json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


# What each benchmark's figures are made from: results made from other
# contents of these (NAME.sources holds their hash, written by --stamp after
# each run) are refused (a failed row), not reported as today's.
SOURCES = {
    "scanner": ["scanner", "bench/scan_bench.sh", "bench/scan_bench.c", "bench/scan_bench.h",
                "bench/scan_bench_report.c", "mk/scanner.mk"],
    "converge": ["bench/converge.sh", "bench/converge_summary.py", "bench/ksm_sample.c", "bench/ksm_fill.c",
                 "bench/ksm_mom.sh", "bench/ksm_naive.sh", "ksmd.conf", "daemon", "policy", "scanner", "act",
                 "collect", "common", "mk/ksm.mk"],
    "policy": ["policy", "tests/sim", "mk/policy.mk"],
    "stats": ["stats", "bench/stats_bench.sh", "bench/stats_load.c", "bench/stats_server.c",
              "bench/stats_scan.c", "mk/stats.mk"],
}


def sources_hash(name):
    """A hash of the contents of the files name's figures are made from
    (the tracked files under SOURCES[name]); None outside a git checkout."""
    import hashlib
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        files = subprocess.run(["git", "-C", top, "ls-files", "--"] + SOURCES[name],
                               capture_output=True, text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return None
    h = hashlib.sha256()
    for f in sorted(files):
        h.update(f.encode() + b"\0")
        try:
            with open(os.path.join(top, f), "rb") as fh:
                h.update(fh.read())
        except OSError:
            pass
    return h.hexdigest()


def stamp(d, name):
    """Records, beside name's results, what they were made from."""
    with open(os.path.join(d, name + ".sources"), "w") as f:
        f.write((sources_hash(name) or "") + "\n")


def stale(d, name):
    """True when name's results were made from other sources than today's
    (or nothing says what they were made from)."""
    now = sources_hash(name)
    if now is None:
        return False
    try:
        with open(os.path.join(d, name + ".sources")) as f:
            return f.read().strip() != now
    except OSError:
        return True


def row(name, ours, anchor, ratio, target, met, unit=""):
    return {"benchmark": name, "ours": ours, "anchor": anchor, "ratio": ratio,
            "target": target, "met": met, "unit": unit}


def fmt(v, digits=2):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def summarize(res):
    s = []
    sc = res.get("scanner")
    if sc:
        # (label, kind, our rate, the kernel's rate, target): duplicate-heavy
        # memory in both states, each beside the kernel in the same state;
        # ours over the whole process's CPU (main thread and liburcu's
        # workers included), pages decided (read + skipped) on both sides
        # once merged (the kernel's smart_scan skips counted as ours are)
        for label, kind, ours_key, kern_key, want in (
                ("unique memory", "unique", "ours_process_hashed_per_cpu_sec", "kernel_pages_per_cpu_sec", 6.0),
                ("duplicate memory, not merged yet (kernel: until it merged it)", "duplicate",
                 "ours_process_hashed_per_cpu_sec", "kernel_merging_pages_per_cpu_sec", 2.0),
                ("duplicate memory, once merged (pages decided, skips counted on both sides)", "duplicate",
                 "ours_process_merged_pages_per_cpu_sec", "kernel_decided_per_cpu_sec", 2.0)):
            k = sc.get(kind) or {}
            ours, kern = k.get(ours_key), k.get(kern_key)
            ratio = ours / kern if ours and kern else None
            s.append(row(f"scan rate, {label} (pages per CPU-second)", ours,
                         f"kernel ksmd thread: {fmt(kern)}" if kern else "kernel: not measured (disturbed)",
                         ratio, f">= {want}x", ratio is not None and ratio >= want))
        thp = sc.get("unique_thp") or {}
        if thp:
            ours, kern = thp.get("ours_process_hashed_per_cpu_sec"), thp.get("kernel_pages_per_cpu_sec")
            ratio = ours / kern if ours and kern else None
            s.append(row("scan rate, unique memory on huge pages (pages per CPU-second)", ours,
                         f"kernel ksmd thread: {fmt(kern)}" if kern else "kernel: not measured",
                         ratio, ">= 6.0x", ratio is not None and ratio >= 6.0))
            s.append(row("pages hashed per CPU-second, huge pages (1 thread)", ours, "", None, ">= 1.5 M",
                         (ours or 0) >= 1.5e6))
            s.append(row("pages per second of wall time, huge pages (2 threads)",
                         thp.get("ours_wall_pages_per_sec_2t"), "", None, ">= 2.5 M",
                         (thp.get("ours_wall_pages_per_sec_2t") or 0) >= 2.5e6))
        k = sc.get("unique") or {}
        ours, x = k.get("ours_hashed_per_cpu_sec"), sc.get("xxh3_alone_pages_per_cpu_sec")
        s.append(row("pages hashed per CPU-second (1 thread)", ours,
                     f"XXH3 alone, same run: {fmt(x)}" if x else "XXH3 alone: not measured",
                     ours / x if ours and x else None, ">= 1.5 M", (ours or 0) >= 1.5e6))
        s.append(row("pages per second of wall time (2 threads)", k.get("ours_wall_pages_per_sec_2t"),
                     "", None, ">= 2.5 M", (k.get("ours_wall_pages_per_sec_2t") or 0) >= 2.5e6))
        skip = sc.get("skipped_absent_per_sec")
        s.append(row("pages skipped through pagemap (absent) per second", skip, "", None,
                     ">= 20 M", (skip or 0) >= 20e6))
        merged = (sc.get("duplicate") or {}).get("skipped_merged_per_sec")
        s.append(row("pages skipped through pagemap (already merged) per second", merged, "", None,
                     ">= 20 M", (merged or 0) >= 20e6))
        bp = sc.get("bytes_per_tracked_page") or {}
        b, kb = bp.get("counted_steady"), bp.get("kernel")
        s.append(row("daemon bytes per tracked page", b,
                     f"kernel KSM, same run: {fmt(kb)}; ESX 16 (published)" if kb else
                     "kernel KSM: not measured; ESX 16 (published)",
                     b / kb if b and kb else None, "<= 16", b is not None and b <= 16))
    cv = res.get("converge")
    if cv:
        by = {r.get("strategy"): r for r in cv.get("results", [])}
        a, b, e = by.get("a"), by.get("b"), by.get("e")
        a, b, e = a or {}, b or {}, e or {}
        t_a, t_e = a.get("time_to_90_sec"), e.get("time_to_90_sec")
        ratio = t_a / t_e if t_a and t_e else None
        s.append(row("time to 90% merged (s)", t_a, f"KSM full speed: {fmt(t_e)}", ratio, "<= 2x full speed",
                     ratio is not None and ratio <= 2.0))
        # over the first 300 s; a shorter run (smoke) compares its whole span
        ours, anchor = a.get("cpu_first_300_sec") or a.get("cpu_span_sec"), \
            b.get("cpu_first_300_sec") or b.get("cpu_span_sec")
        ratio = ours / anchor if ours and anchor else None
        s.append(row("CPU-seconds over the run (scanner + kernel thread)", ours,
                     f"KSM defaults: {fmt(anchor)}", ratio, "<= 1x defaults",
                     ratio is not None and ratio <= 1.0))
        for k, label in (("b", "KSM defaults"), ("c", "advisor scan-time"), ("d", "ksmtuned"),
                         ("c10", "advisor scan-time 10 s"), ("c30", "advisor scan-time 30 s"),
                         ("d0", "ksmtuned at its defaults"), ("m", "MOM rule"), ("mf", "MOM rule, forced"),
                         ("n", "naive controller")):
            r = by.get(k)
            if r is None:
                s.append(row(f"time to 90% vs {label} (s)", a.get("time_to_90_sec"), f"{label}: not run",
                             None, "faster", False))
            else:
                t_a, t_k = a.get("time_to_90_sec"), r.get("time_to_90_sec")
                s.append(row(f"time to 90% vs {label} (s)", t_a,
                             f"{label}: {fmt(t_k) if t_k else 'not reached, ' + fmt(100 * (r.get('fraction_at_end') or 0), 0) + '% at ' + fmt(r.get('span_sec'), 0) + ' s'}",
                             t_k / t_a if t_a and t_k else None, "faster", bool(t_a and (not t_k or t_a < t_k))))
        # new duplicates after convergence (converge.sh CONVERGE_LATE_AT):
        # ksmd's time to 90% of them, against the goal of 60 s and KSM's defaults
        if "late_90_sec" in a or "late_90_sec" in b:
            t_a, t_b = a.get("late_90_sec"), b.get("late_90_sec")
            s.append(row("new duplicates after convergence: time to 90% merged (s)", t_a,
                         f"KSM defaults: {fmt(t_b) if t_b else 'not reached'}",
                         t_b / t_a if t_a and t_b else None, "<= 60 s, faster than defaults",
                         bool(t_a is not None and t_a <= 60 and (not t_b or t_a < t_b))))
        # memory saved per CPU-second over the run, against the best anchor
        # (ksmd with its scanner off, a0, is ksmd: not an anchor)
        anchors = [r for k, r in by.items() if k not in ("a", "a0") and r.get("gib_s_saved_per_cpu_sec")]
        if "gib_s_saved_per_cpu_sec" in a or anchors:
            best = max(anchors, key=lambda r: r["gib_s_saved_per_cpu_sec"], default={})
            ours, theirs = a.get("gib_s_saved_per_cpu_sec"), best.get("gib_s_saved_per_cpu_sec")
            s.append(row("memory saved per CPU-second over the run (GiB·s / CPU-s)", ours,
                         f"best anchor ({best.get('strategy', '-')}): {fmt(theirs)}",
                         ours / theirs if ours and theirs else None, "more than every anchor",
                         bool(ours and theirs and ours > theirs)))
    po = res.get("policy")
    if po:
        tot = {}
        for r in po.get("results", []):
            t = tot.setdefault(r["policy"], {"over_budget_s": 0, "distress_s": 0, "reclaimed_gib": 0.0, "n": 0})
            t["over_budget_s"] += r.get("over_budget_s", 0)
            t["distress_s"] += r.get("distress_s", 0)
            t["reclaimed_gib"] += r.get("reclaimed_gib", 0.0)
            t["n"] += 1
        k = tot.get("ksmd")
        for anchor in ("mom", "proxmox", "squeezed"):
            m = tot.get(anchor)
            if not (k and m):
                continue
            for field, better in (("over_budget_s", "lower"), ("distress_s", "lower"), ("reclaimed_gib", "higher")):
                ours, theirs = k[field], m[field]
                if field == "reclaimed_gib":
                    ours, theirs = ours / k["n"], theirs / m["n"]
                # strictly better: 0 against 0 is no win
                met = ours > theirs if better == "higher" else ours < theirs
                s.append(row(f"policy simulator: {field} (all scenarios)", round(ours, 3),
                             f"{anchor}: {round(theirs, 3)}", None, f"{better} than {anchor}", met))
    st = res.get("stats")
    if st:
        for p in (st.get("load") or {}).get("paths", []):
            p99 = (p.get("latency_ms") or {}).get("p99")
            s.append(row(f"stats endpoint {p['path']} p99 latency (ms) at {st.get('rate_per_path')}/s",
                         p99, f"errors: {p.get('errors')}", None, "<= 2 ms, 0 errors",
                         p99 is not None and p99 <= 2.0 and p.get("errors") == 0))
        # a figure that is missing is a failed row, never a row left out
        ch = (st.get("scanner") or {}).get("throughput_change_percent")
        s.append(row("scanner throughput under HTTP load (change, %)", ch,
                     "scanner without load", None, "within 5%", ch is not None and abs(ch) <= 5))
    return s


def markdown(res, summary, d, refused=()):
    out = ["# ksmd benchmark report", "",
           f"Generated {datetime.datetime.utcnow().strftime('%Y-%m-%d %H:%M')} UTC on "
           f"{os.uname().release}, {os.cpu_count()} CPUs (load average now: {os.getloadavg()[0]:.2f}). "
           "Every figure stands beside its anchor, measured on the same machine in the same run; "
           "how each is made: docs/PERFORMANCE.md.", "",
           "| benchmark | ksmd | anchor | ratio | target | met |", "|---|---:|---|---:|---|---|"]
    for r in summary:
        out.append(f"| {r['benchmark']} | {fmt(r['ours'])} | {r['anchor']} | {fmt(r['ratio'])} | "
                   f"{r['target']} | {'yes' if r['met'] else '**no**'} |")
    missing = [k for k in ("scanner", "converge", "policy", "stats") if not res.get(k) and k not in refused]
    if missing:
        out += ["", "Not run: " + ", ".join(missing) + "."]
    for name in ("scanner", "converge", "policy", "stats"):
        p = os.path.join(d, name + ".md")
        if os.path.exists(p):
            with open(p) as f:
                body = f.read().strip()
            if name in refused:
                out += ["", "---", "", f"*{name}: the results below were made from older sources "
                        f"({', '.join(SOURCES[name])}); `make bench-{name}` makes them again.*"]
                body = body.replace("\n---\n", "\n")
            out += ["", "---", "", body.replace("\n# ", "\n## ", 1) if body.startswith("#") else body]
    plots = [p for p in ("converge.png", "converge-cpu.png", "stats-latency.png", "policy.png", "scanner.png")
             if os.path.exists(os.path.join(d, p))]
    if plots:
        out += ["", "## Plots", ""] + [f"![{p}]({p})" for p in plots]
    return "\n".join(out) + "\n"


def gnuplot(script):
    try:
        subprocess.run(["gnuplot"], input=script, text=True, check=True, capture_output=True)
        return True
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"report: gnuplot failed: {getattr(e, 'stderr', e)}", file=sys.stderr)
        return False


def plots(res, d):
    if not shutil.which("gnuplot"):
        print("report: gnuplot not installed, no plots", file=sys.stderr)
        return
    head = "set terminal pngcairo size 900,540 noenhanced font 'sans,10'\n" \
        if "pngcairo" in subprocess.run(["gnuplot", "-e", "set terminal"], capture_output=True,
                                         text=True).stderr + subprocess.run(
            ["gnuplot", "-e", "set terminal"], capture_output=True, text=True).stdout \
        else "set terminal png size 900,540 noenhanced\n"
    cv = res.get("converge") or {}
    # the fillers' own merged pages, as the table: the global pages_sharing
    # also counts other KSM users of this shared host
    goal = (cv.get("workload") or {}).get("mergeable_pages") or 1
    labels = {r.get("strategy"): r.get("label", r.get("strategy")) for r in cv.get("results", [])}
    # the first repetition of each strategy (converge-S-1.csv: run, seconds,
    # merged pages, pages_sharing, strategy CPU, kernel thread CPU)
    csvs = sorted(glob.glob(os.path.join(d, "converge-*-1.csv")))
    w = cv.get("workload") or {}
    size = f"{w.get('processes', 4)} x {w.get('mib_each', 512)} MiB"
    if csvs:
        lines, cpu = [], []
        for c in csvs:
            k = os.path.basename(c)[len("converge-"):-len("-1.csv")]
            lines.append(f"'{c}' using 2:(100*$3/{goal}) with lines lw 2 title '({k}) {labels.get(k, k)}'")
            cpu.append(f"'{c}' using 2:($5+$6) with lines lw 2 title '({k}) {labels.get(k, k)}'")
        gnuplot(head + f"set output '{d}/converge.png'\nset datafile separator ','\n"
                "set key bottom right\nset xlabel 'seconds'\nset ylabel \"% of the fillers' mergeable pages merged\"\n"
                f"set yrange [0:110]\nset grid\nset title 'KSM convergence: {size}'\n"
                "plot " + ", ".join(lines) + "\n")
        gnuplot(head + f"set output '{d}/converge-cpu.png'\nset datafile separator ','\n"
                "set key top left\nset xlabel 'seconds'\n"
                "set ylabel 'CPU-seconds (strategy + kernel ksmd thread), cumulative'\n"
                f"set grid\nset title 'KSM convergence, CPU over time: {size}'\n"
                "plot " + ", ".join(cpu) + "\n")
    st = res.get("stats") or {}
    paths = (st.get("load") or {}).get("paths", [])
    if paths:
        dat = os.path.join(d, "stats-latency.dat")
        keys = ("p50", "p90", "p99", "p999", "max")
        with open(dat, "w") as f:
            f.write("pct " + " ".join(p["path"] for p in paths) + "\n")
            for k in keys:
                f.write(k + " " + " ".join(str((p.get("latency_ms") or {}).get(k, 0)) for p in paths) + "\n")
        cols = ", ".join(f"'{dat}' using {i + 2}:xtic(1) title '{p['path']}'" for i, p in enumerate(paths))
        gnuplot(head + f"set output '{d}/stats-latency.png'\nset style data histogram\n"
                "set style fill solid 0.8\nset logscale y\nset ylabel 'latency (ms)'\nset grid ytics\n"
                f"set title 'stats endpoint at {st.get('rate_per_path')} requests/s per path'\n"
                "set arrow from graph 0, first 2 to graph 1, first 2 nohead dt 2\n"
                f"plot {cols}\n")
        os.unlink(dat)
    po = res.get("policy") or {}
    if po.get("results"):
        tot = {}
        for r in po["results"]:
            t = tot.setdefault(r["policy"], [0, 0])
            t[0] += r.get("over_budget_s", 0)
            t[1] += r.get("distress_s", 0)
        dat = os.path.join(d, "policy.dat")
        with open(dat, "w") as f:
            f.write("policy over_budget_s distress_s\n")
            for k, (a, b) in tot.items():
                f.write(f"{k} {a} {b}\n")
        gnuplot(head + f"set output '{d}/policy.png'\nset style data histogram\nset style fill solid 0.8\n"
                "set ylabel 'seconds, all scenarios'\nset grid ytics\n"
                "set title 'policy simulator: seconds over budget and in distress'\n"
                f"plot '{dat}' using 2:xtic(1) title 'over budget', '' using 3 title 'guest distress'\n")
        os.unlink(dat)
    sc = res.get("scanner") or {}
    if sc.get("unique"):
        dat = os.path.join(d, "scanner.dat")
        with open(dat, "w") as f:
            f.write("# memory ksmd kernel\n")
            for label, kind, ours_key, kern_key in (
                    ("unique", "unique", "ours_hashed_per_cpu_sec", "kernel_pages_per_cpu_sec"),
                    ("duplicate", "duplicate", "ours_hashed_per_cpu_sec", "kernel_merging_pages_per_cpu_sec"),
                    ("dup.merged", "duplicate", "ours_merged_pages_per_cpu_sec", "kernel_pages_per_cpu_sec")):
                k = sc.get(kind) or {}
                f.write(f"{label} {k.get(ours_key, 0)} {k.get(kern_key, 0)}\n")
        gnuplot(head + f"set output '{d}/scanner.png'\nset style data histogram\nset style fill solid 0.8\n"
                "set ylabel 'pages per CPU-second (log scale)'\nset logscale y\nset grid ytics\n"
                "set format y '%.1s%c'\n"
                "set title 'scan rate: ksmd scanner vs kernel ksmd thread'\n"
                f"plot '{dat}' using 2:xtic(1) title 'ksmd scanner', '' using 3 title 'kernel ksmd thread'\n")
        os.unlink(dat)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--stamp" and sys.argv[2] in SOURCES:
        stamp(sys.argv[3], sys.argv[2])
        return 0
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    d = sys.argv[1]
    res = {k: load(d, k) for k in ("scanner", "converge", "policy", "stats")}
    old = [k for k in res if res[k] and stale(d, k)]
    for k in old:
        res[k] = None
    summary = [row(f"{k}: results made from older sources, refused", None,
                   "", None, f"make bench-{k}", False) for k in old] + summarize(res)
    plots(res, d)
    latest = {"generated": datetime.datetime.utcnow().isoformat() + "Z", "kernel": os.uname().release,
              "cpus": os.cpu_count(), "summary": summary, "results": res}
    with open(os.path.join(d, "latest.json"), "w") as f:
        json.dump(latest, f, indent=1)
    with open(os.path.join(d, "latest.md"), "w") as f:
        f.write(markdown(res, summary, d, old))
    met = sum(1 for r in summary if r["met"])
    print(f"bench: {met} of {len(summary)} targets met; report in {d}/latest.md and latest.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
