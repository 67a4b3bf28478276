#!/usr/bin/python3
"""The scanner at scale: bench/scan_scale.sh's points and a model.

  scale_summary.py OUT

Reads OUT/scanner-MIB.json (bench/scan_bench at each size) and writes
OUT/scale.json and OUT/scale.md. Per size, on unique memory (the steady
state: ksmd reads again, every pass, each page that is not merged):

  pass_cpu_sec      CPU-seconds of one pass, the whole process (pages /
                    pages per CPU-second, one thread)
  pass_wall_sec     wall seconds of one pass with two threads
  cpu_per_gib_hour  steady-state CPU-seconds per GiB of memory per hour at
                    the shipped pass_interval (30 s after a pass ends) and
                    cpu_percent (50% of each of two threads: a pass takes at
                    least twice its CPU time over two threads)
  bytes_per_page    the daemon's counted allocations (steady, peak) and its
                    RSS growth (steady, VmHWM), per tracked page; the
                    kernel's, measured beside it

The model: CPU per pass and daemon memory grow with the pages read; it takes
the per-page cost of the largest size measured (the least optimistic of a
cost that falls with size as fixed costs spread) and states the result at 64
and 400 GiB next to the measured points, with the pass interval the 50% CPU
cap would impose there.
"""
import glob
import json
import os
import sys

PASS_INTERVAL = 30.0
CPU_CAP = 0.5 * 2  # cpu_percent 50 on each of two threads, in cores
MODEL_GIB = (64, 400)


def point(path):
    with open(path) as f:
        d = json.load(f)
    mib = d["memory_mib"]
    u = d.get("unique") or {}
    pages = mib * 256
    rate = u.get("ours_process_hashed_per_cpu_sec") or u.get("ours_hashed_per_cpu_sec")
    wall = u.get("ours_wall_pages_per_sec_2t")
    bp = d.get("bytes_per_tracked_page") or {}
    # the kernel's thread on the same memory: steady state (windows after two
    # full scans) only in results that say so; older ones took the windows
    # from the start, in whichever scan the size put them
    steady = "kernel_full_scans_before_windows" in u
    p = {"mib": mib, "pages": pages, "rate_per_cpu_sec": rate, "wall_pages_per_sec_2t": wall,
         "kernel_per_cpu_sec": u.get("kernel_pages_per_cpu_sec"), "kernel_steady": steady,
         "kernel_decided_per_cpu_sec": u.get("kernel_decided_per_cpu_sec") if steady else None,
         "kernel_first_scan_per_cpu_sec": u.get("kernel_first_scan_pages_per_cpu_sec") if steady else None,
         "load": d.get("loadavg_1min_at_end"),
         "bytes_per_page": {k: bp.get(k) for k in ("counted_steady", "counted_peak", "rss_steady", "rss_peak",
                                                    "kernel")}}
    if rate:
        p["pass_cpu_sec"] = pages / rate
    if wall:
        p["pass_wall_sec"] = pages / wall
    if rate and wall:
        # a pass at the 50% cap takes at least twice its CPU over two threads
        span = max(p["pass_wall_sec"], p["pass_cpu_sec"] / CPU_CAP)
        passes_per_hour = 3600.0 / (span + PASS_INTERVAL)
        p["cpu_per_gib_hour"] = p["pass_cpu_sec"] * passes_per_hour / (mib / 1024)
        p["steady_cpu_percent"] = 100 * p["pass_cpu_sec"] * passes_per_hour / 3600
    return p


def model(pt, gib):
    pages = gib * 262144
    cpu = pages / pt["rate_per_cpu_sec"]
    wall = max(pages / pt["wall_pages_per_sec_2t"], cpu / CPU_CAP)
    per_hour = 3600.0 / (wall + PASS_INTERVAL)
    b = pt["bytes_per_page"]
    return {"gib": gib, "pass_cpu_sec": cpu, "pass_span_sec": wall,
            "prediction_age_sec": wall + PASS_INTERVAL,
            "steady_cpu_percent": 100 * cpu * per_hour / 3600,
            "daemon_mib_steady": (b.get("counted_steady") or 0) * pages / 2**20,
            "daemon_mib_peak": (b.get("rss_peak") or 0) * pages / 2**20}


def f(v, d=1):
    return "—" if v is None else f"{v:,.{d}f}"


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = argv[1]
    pts = sorted((point(p) for p in glob.glob(os.path.join(out, "scanner-*.json"))), key=lambda p: p["mib"])
    pts = [p for p in pts if p.get("rate_per_cpu_sec")]
    if not pts:
        print(f"scale: no scanner-MIB.json in {out}", file=sys.stderr)
        return 1
    base = pts[-1]
    models = [model(base, g) for g in MODEL_GIB]
    with open(os.path.join(out, "scale.json"), "w") as fh:
        json.dump({"points": pts, "model_from_mib": base["mib"], "model": models,
                   "pass_interval_sec": PASS_INTERVAL}, fh, indent=1)
    lines = ["# The scanner at scale (bench/scan_scale.sh)", "",
             "Unique memory, the steady state: a page that is not merged is read again every pass. "
             "CPU is the whole ksmd scanner process's (every thread). Steady state at the shipped "
             f"settings: the next pass {PASS_INTERVAL:.0f} s after one ends, two threads at 50%.", "",
             "| memory | pages/CPU-s | CPU-s per pass | wall s per pass (2 threads) | steady CPU, % of a core "
             "| CPU-s per GiB-hour | daemon B/page steady (counted / RSS) | peak (counted / VmHWM) | kernel B/page "
             "| load |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for p in pts:
        b = p["bytes_per_page"]
        lines.append(f"| {p['mib'] / 1024:g} GiB | {f(p['rate_per_cpu_sec'] / 1e6, 2)} M | "
                     f"{f(p.get('pass_cpu_sec'), 2)} | {f(p.get('pass_wall_sec'), 2)} | "
                     f"{f(p.get('steady_cpu_percent'), 2)} | {f(p.get('cpu_per_gib_hour'), 1)} | "
                     f"{f(b['counted_steady'], 1)} / {f(b['rss_steady'], 1)} | "
                     f"{f(b['counted_peak'], 1)} / {f(b['rss_peak'], 1)} | {f(b['kernel'], 0)} | "
                     f"{f(p.get('load'), 2)} |")
    lines += ["", "The kernel's KSM thread on the same unique memory (pages_to_scan=100000, sleep_millisecs=0; "
              "pages per CPU-second of its thread). Its first full scan only takes checksums; the steady "
              "state is taken once it has ended its first two full scans (bench/scan_bench.c, run_kernel).", "",
              "| memory | kernel, steady state: scanned/CPU-s | ours / kernel | kernel decided/CPU-s "
              "(scanned + smart_scan skipped) | kernel first scan (checksum only)/CPU-s |",
              "|---|---:|---:|---:|---:|"]
    for p in pts:
        k = p.get("kernel_per_cpu_sec")
        ratio = f"{p['rate_per_cpu_sec'] / k:.1f}x" if k else "—"
        if p["kernel_steady"]:
            lines.append(f"| {p['mib'] / 1024:g} GiB | {f((k or 0) / 1e6, 2)} M | {ratio} | "
                         f"{f((p.get('kernel_decided_per_cpu_sec') or 0) / 1e6, 2)} M | "
                         f"{f((p.get('kernel_first_scan_per_cpu_sec') or 0) / 1e6, 2)} M |")
        else:
            lines.append(f"| {p['mib'] / 1024:g} GiB | {f((k or 0) / 1e6, 2)} M (older run: windows from the "
                         f"start, phase not known) | {ratio} | — | — |")
    if len(pts) > 1 and pts[0].get("cpu_per_gib_hour") and base.get("cpu_per_gib_hour"):
        lines += ["", f"Steady-state CPU per GiB-hour at {base['mib'] / 1024:g} GiB over that at "
                  f"{pts[0]['mib'] / 1024:g} GiB: {base['cpu_per_gib_hour'] / pts[0]['cpu_per_gib_hour']:.2f} "
                  "(the goal is at most 0.5: cost sub-linear in memory that does not change; 1.0 is linear)."]
    lines += ["", f"Model, from the {base['mib'] / 1024:g} GiB point (per-page cost constant; today's scanner "
              "reads every unmerged page every pass):", "",
              "| memory | CPU-s per pass | pass span s (at the 50% cap) | prediction age s | steady CPU, % of a core "
              "| daemon MiB steady | daemon MiB peak (VmHWM) |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for m in models:
        lines.append(f"| {m['gib']} GiB (model) | {f(m['pass_cpu_sec'])} | {f(m['pass_span_sec'])} | "
                     f"{f(m['prediction_age_sec'])} | {f(m['steady_cpu_percent'])} | {f(m['daemon_mib_steady'], 0)} | "
                     f"{f(m['daemon_mib_peak'], 0)} |")
    md = "\n".join(lines) + "\n"
    with open(os.path.join(out, "scale.md"), "w") as fh:
        fh.write(md)
    print(md, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
