#!/usr/bin/python3
"""The convergence benchmark's figures, from bench/converge.sh's rows and
bench/ksm_sample's CSVs.

  converge_summary.py --check OUT RUN_ID STRATEGY REPETITION
      one run's figures on stdout; exit 1 when it was disturbed
  converge_summary.py OUT RUN_ID
      OUT/converge.json and converge.md: per strategy, the median with
      min-max over the valid runs of RUN_ID (rows of other runs are ignored)

Per run, from the samples (columns run, seconds, fillers_merging_pages,
pages_sharing, strategy_cpu_sec, kthread_cpu_sec):
  time_to_90_sec, cpu_to_90_sec  first sample at 90% of the fillers'
                                 mergeable pages, and the CPU by then
  fraction_at_end                the fillers' merged pages at the end
  cpu_span_sec                   strategy + kernel thread over the run
  cpu_first_300_sec              the same over the first 300 s (when the run
                                 lasted that long)
  cpu_at                         the cumulative CPU at 10, 30, 60, 120, 300 s
  gib_s_saved                    memory saved integrated over the run: the
                                 fillers' merged pages x saveable/mergeable
                                 (an estimate: their own kept copies are not
                                 known per process) x 4 KiB, in GiB x seconds
  gib_s_saved_per_cpu_sec        that over cpu_span_sec
  unmerged_by_other              times the merged pages fell to half after
                                 passing half of all (someone ran run=2)
  late_90_sec                    new duplicates: seconds from the start of
                                 the late fillers (converge.sh,
                                 CONVERGE_LATE_AT) until 90% of their own
                                 mergeable pages are merged (their sampler,
                                 converge-S-R-late.csv); None when not within
                                 the run, absent when there were none
"""
import csv
import datetime
import json
import math
import os
import statistics
import sys

WINDOW = 300
MARKS = (10, 30, 60, 120, 300)
ORDER = ("a", "a0", "b", "c", "c10", "c30", "d", "d0", "e", "m", "mf", "n")


def rows(out, run_id):
    try:
        with open(os.path.join(out, "converge-rows.jsonl")) as f:
            rs = [json.loads(line) for line in f if line.strip()]
    except OSError:
        return []
    return [r for r in rs if r.get("run_id") == run_id]


def late_figure(out, r):
    """Seconds from the late fillers' start to 90% of their mergeable pages
    merged, None when never; absent (no key) when the run had none."""
    if not r.get("late_csv"):
        return {}
    t90 = None
    try:
        with open(os.path.join(out, r["late_csv"])) as f:
            for line in csv.DictReader(f):
                if line.get("run") == r["run_id"] and int(line["fillers_merging_pages"]) >= r["late_goal_merging_pages"]:
                    t90 = float(line["seconds"])
                    break
    except OSError:
        pass
    return {"late_90_sec": t90}


def figures(out, r):
    """r's figures from its samples (only the lines of its run id)."""
    samples = []
    with open(os.path.join(out, r["csv"])) as f:
        for line in csv.DictReader(f):
            if line.get("run") != r["run_id"]:
                continue
            samples.append((float(line["seconds"]), int(line["fillers_merging_pages"]),
                            int(line["pages_sharing"]), float(line["strategy_cpu_sec"]),
                            float(line["kthread_cpu_sec"])))
    g = dict(r)
    if not samples:
        g.update(valid=False, note="no samples")
        return g
    goal, allm, save = r["goal_merging_pages"], r["mergeable_pages"], r["saveable_pages"]
    t90 = cpu90 = None
    gib_s, prev = 0.0, None
    mg_max, drops = 0, 0
    cpu_at = {}
    for t, mg, sh, sc, kc in samples:
        if t90 is None and mg >= goal:
            t90, cpu90 = t, sc + kc
        for m in MARKS:
            if t <= m + 1e-6:
                cpu_at[m] = sc + kc
        if prev:
            saved = (prev[1] + mg) / 2 * save / allm * 4096 / 2**30
            gib_s += saved * (t - prev[0])
        prev = (t, mg)
        mg_max = max(mg_max, mg)
        if mg_max > allm // 2 and mg < mg_max // 2:
            drops += 1
            mg_max = mg
    t, mg, sh, sc, kc = samples[-1]
    cpu_at = {str(m): round(v, 2) for m, v in cpu_at.items() if t >= m - 0.5}
    g.update(time_to_90_sec=t90, cpu_to_90_sec=None if cpu90 is None else round(cpu90, 2),
             fraction_at_end=round(mg / allm, 4), pages_sharing_at_end=sh, span_sec=round(t, 1),
             cpu_span_sec=round(sc + kc, 2), kthread_cpu_span_sec=round(kc, 2), own_cpu_span_sec=round(sc, 2),
             cpu_first_300_sec=cpu_at.get(str(WINDOW)), cpu_at=cpu_at, gib_s_saved=round(gib_s, 1),
             gib_s_saved_per_cpu_sec=round(gib_s / (sc + kc), 1) if sc + kc > 0 else None,
             unmerged_by_other=drops, samples=len(samples))
    g.update(late_figure(out, r))
    notes = []
    if r.get("foreign_driver_sec"):
        notes.append(f"another KSM driver ran for {r['foreign_driver_sec']}s")
    if r.get("knobs_changed_by_other_sec"):
        notes.append(f"KSM knobs changed by someone else for {r['knobs_changed_by_other_sec']}s")
    if drops:
        notes.append(f"someone else unmerged everything {drops} time(s)")
    g["valid"] = not notes
    g["note"] = "; ".join(notes) + (": not valid" if notes else "")
    return g


def spread(vals):
    """(median, min, max) of vals; None stands for "never" and sorts last."""
    if not vals:
        return None, None, None
    k = sorted(math.inf if v is None else v for v in vals)
    med = statistics.median_low(k) if len(k) % 2 == 0 and math.inf in k else statistics.median(k)
    fix = (lambda v: None if v == math.inf else v)
    return fix(med), fix(k[0]), fix(k[-1])


KEYS = ("time_to_90_sec", "cpu_to_90_sec", "fraction_at_end", "span_sec", "cpu_span_sec", "cpu_first_300_sec",
        "kthread_cpu_span_sec", "own_cpu_span_sec", "gib_s_saved", "gib_s_saved_per_cpu_sec", "late_90_sec")


def per_strategy(runs):
    out = []
    for s in sorted({r["strategy"] for r in runs}, key=lambda s: ORDER.index(s) if s in ORDER else 99):
        mine = [r for r in runs if r["strategy"] == s]
        use = [r for r in mine if r.get("valid")] or mine
        res = {"strategy": s, "label": mine[0].get("label", s), "runs": len(mine),
               "valid_runs": sum(1 for r in mine if r.get("valid"))}
        for k in KEYS:
            med, lo, hi = spread([r.get(k) for r in use])
            res[k], res[k + "_range"] = med, [lo, hi]
        res["cpu_at"] = {m: spread([r.get("cpu_at", {}).get(m) for r in use if m in r.get("cpu_at", {})])[0]
                         for m in map(str, MARKS) if any(m in r.get("cpu_at", {}) for r in use)}
        res["note"] = "" if res["valid_runs"] else "no valid run: figures from disturbed runs"
        out.append(res)
    return out


def fmt(med, rng, digits=1, pct=False, never="—"):
    if med is None:
        return never if rng and rng[1] is None else "—"
    f = (lambda v: "never" if v is None else f"{100 * v:.{digits}f}" if pct else f"{v:,.{digits}f}")
    s = f(med) + ("%" if pct else "")
    if rng and rng[0] is not None and rng != [med, med] and rng[0] != rng[1]:
        s += f" ({f(rng[0])}–{f(rng[1])})"
    return s


def markdown(run_id, runs, res):
    w = runs[0]
    lines = [f"# KSM convergence: {w['processes']} x {w['mib_each']} MiB, {w['saveable_pages']:,} pages saveable", "",
             f"Run `{run_id}`, kernel {os.uname().release}, {os.cpu_count()} CPUs (shared with other work: "
             f"load average given), {w['date'][:10]}. Each strategy ran {w['timeout_sec']} s from the same start "
             "(everything unmerged, KSM at the kernel's defaults), fresh fillers each time, in a random order per "
             f"repetition, sampled every {w['interval_ms']} ms.",
             "CPU = the strategy's own processes (ksmd whole, all threads; ksmtuned and the drivers with their "
             "children) + the kernel's ksmd thread. Goal: 90% of the fillers' own mergeable pages "
             f"({w['goal_merging_pages']:,} of {w['mergeable_pages']:,} ksm_merging_pages). GiB·s saved: the "
             "fillers' merged pages x saveable/mergeable, integrated over the run.",
             (f"New duplicates: {w['late_processes']} more fillers started {w['late_at_sec']} s into every run; "
              f"'new: s to 90%' is from their start until 90% of their own mergeable pages "
              f"({w['late_goal_merging_pages']:,}) are merged. " if w.get("late_csv") else "") +
             "Figures: median (min–max) over the valid runs.", "",
             "| | strategy | runs (valid) | s to 90% | CPU-s to 90% | merged at end | CPU-s over run | "
             "CPU-s over 300 s | GiB·s saved | GiB·s saved per CPU-s | new: s to 90% |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in res:
        g = lambda k, d=1, p=False: fmt(r[k], r[k + "_range"], d, p,
                                        "not reached" if k in ("time_to_90_sec", "cpu_to_90_sec", "late_90_sec")
                                        else "—")
        lines.append(f"| {r['strategy']} | {r['label']} | {r['runs']} ({r['valid_runs']}) | {g('time_to_90_sec')} | "
                     f"{g('cpu_to_90_sec', 2)} | {g('fraction_at_end', 1, True)} | {g('cpu_span_sec', 2)} | "
                     f"{g('cpu_first_300_sec', 2)} | {g('gib_s_saved', 0)} | {g('gib_s_saved_per_cpu_sec', 1)} | "
                     f"{g('late_90_sec') if any('late_90_sec' in x for x in runs if x['strategy'] == r['strategy']) else '—'} |")
    marks = [str(m) for m in MARKS if any(str(m) in r["cpu_at"] for r in res)]
    lines += ["", "Cumulative CPU-seconds over time (median; the whole curve: converge-S-R.csv, converge-cpu.png):", "",
              "| strategy | " + " | ".join(f"{m} s" for m in marks) + " |", "|---|" + "---|" * len(marks)]
    for r in res:
        lines.append(f"| {r['strategy']} | " + " | ".join(
            "—" if r["cpu_at"].get(m) is None else f"{r['cpu_at'][m]:.2f}" for m in marks) + " |")
    lines += ["", "Every run, in the order run:", "",
              "| repetition | strategy | s to 90% | CPU-s over run (kernel + own) | merged at end | load | note |",
              "|---|---|---|---|---|---|---|"]
    for r in runs:
        t90 = "not reached" if r.get("time_to_90_sec") is None else f"{r['time_to_90_sec']:.1f}"
        lines.append(f"| {r['repetition']} | {r['strategy']} | {t90} | {r.get('cpu_span_sec', 0):.2f} "
                     f"({r.get('kthread_cpu_span_sec', 0):.2f} + {r.get('own_cpu_span_sec', 0):.2f}) | "
                     f"{100 * r.get('fraction_at_end', 0):.1f}% | {r['load_start']}–{r['load_end']} | "
                     f"{r.get('note', '')} |")
    return "\n".join(lines) + "\n"


def main(argv):
    if len(argv) == 6 and argv[1] == "--check":
        out, run_id, s, rep = argv[2], argv[3], argv[4], int(argv[5])
        r = [x for x in rows(out, run_id) if x["strategy"] == s and x["repetition"] == rep][-1]
        g = figures(out, r)
        t90 = "not reached" if g.get("time_to_90_sec") is None else f"{g['time_to_90_sec']:.1f} s"
        if "late_90_sec" in g:
            t90 += ", new duplicates 90% " + ("not reached" if g["late_90_sec"] is None else f"{g['late_90_sec']:.1f} s")
        print(f"  {s}: 90% {t90}, {100 * g.get('fraction_at_end', 0):.1f}% at end, {g.get('cpu_span_sec')} CPU-s "
              f"(kernel {g.get('kthread_cpu_span_sec')} + own {g.get('own_cpu_span_sec')}), "
              f"{g.get('gib_s_saved_per_cpu_sec')} GiB·s saved per CPU-s{'; ' + g['note'] if g['note'] else ''}")
        return 0 if g["valid"] else 1
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    out, run_id = argv[1], argv[2]
    runs = [figures(out, r) for r in rows(out, run_id)]
    if not runs:
        print(f"converge: no rows of run {run_id} in {out}", file=sys.stderr)
        return 1
    res = per_strategy(runs)
    w = runs[0]
    doc = {"run_id": run_id,
           "workload": {k: w.get(k) for k in ("processes", "mib_each", "saveable_pages", "mergeable_pages",
                                              "goal_merging_pages", "late_processes", "late_at_sec",
                                              "late_goal_merging_pages")},
           "timeout_sec": w["timeout_sec"], "interval_ms": w["interval_ms"], "window_sec": WINDOW,
           "kernel": os.uname().release, "cpus": os.cpu_count(),
           "date": datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
           "results": res, "runs": runs}
    with open(os.path.join(out, "converge.json"), "w") as f:
        json.dump(doc, f, indent=1)
    md = markdown(run_id, runs, res)
    with open(os.path.join(out, "converge.md"), "w") as f:
        f.write(md)
    print(md, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
