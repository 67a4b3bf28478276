#!/bin/bash
# stats_bench.sh B RATE SECONDS — the bench-stats benchmark.
#
# 1. Starts bench/stats_server (50-guest snapshot, republished every second
#    as the daemon does) on 127.0.0.1, ephemeral port; as root its endpoint
#    is served by an unprivileged child as ksmd's is (daemon/http_sep.c),
#    else in process (STATS_BENCH_MODE=sep|inproc chooses).
# 2. Sends RATE requests/s to /v1/stats and RATE requests/s to /metrics
#    (open loop, fixed rate, 4 keep-alive connections each) for SECONDS.
#    Pass: zero errors and p99 <= 2 ms on both.
# 3. If the scanner is built (B/bench/stats_scan), measures scanner
#    throughput idle, under the same HTTP load (20 s), and idle again.
# Before all that, the machine's wake-up lateness (a 1 ms sleep, 5 s): the
# floor under any latency percentile measured here.
# Writes bench/results/stats.json and bench/results/stats.md.
set -u
B=${1:-build}; RATE=${2:-1000}; SECS=${3:-30}
cd "$(dirname "$0")/.." || exit 2
out=bench/results; mkdir -p "$out"
tmp=$(mktemp -d); srv_pid=
cleanup() { [ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

start_server() {
    "$B/bench/stats_server" 127.0.0.1:0 50 $(($1 + 5)) 1000 ${STATS_BENCH_MODE:-$mode} \
        >"$tmp/server.out" 2>"$tmp/server.err" &
    srv_pid=$!
    for _ in $(seq 50); do grep -q '^port' "$tmp/server.out" && break; sleep 0.1; done
    port=$(awk '/^port/{print $2}' "$tmp/server.out")
    [ -n "$port" ] || { echo "stats server did not start"; cat "$tmp/server.err"; exit 1; }
}

mode=inproc; [ "$(id -u)" = 0 ] && mode=sep

# The machine's wake-up lateness: the floor under any p99 measured below.
jitter=$("$B/bench/stats_load" --jitter 5) || jitter=null
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
start_server "$SECS"
"$B/bench/stats_load" 127.0.0.1 "$port" "$RATE" "$SECS" 4 /v1/stats /metrics >"$tmp/load.json"
load_rc=$?
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
kill -TERM "$srv_pid" 2>/dev/null; wait "$srv_pid" 2>/dev/null; srv_pid=
publish=$(grep publish_ms "$tmp/server.out" || echo "publish_ms n/a")
server_cpu=$(awk '$1 == "cpu_seconds" {print $2}' "$tmp/server.out"); server_cpu=${server_cpu:-null}
parent_cpu=$(awk '$1 == "cpu_seconds_parent" {print $2}' "$tmp/server.out"); parent_cpu=${parent_cpu:-null}
server_mode=$(awk '$1 == "mode" {print $2}' "$tmp/server.out")

scan_idle=null; scan_idle2=null; scan_load=null; scan_note="scanner benchmark not built"
SCAN_PASSES=15
if [ -x "$B/bench/stats_scan" ]; then
    # Idle before and after the loaded run: the machine is shared, and the
    # mean of the two brackets the drift of everything else running.
    scan_idle=$("$B/bench/stats_scan" 256 $SCAN_PASSES 2>"$tmp/scan.err") || scan_idle=null
    start_server 25
    "$B/bench/stats_load" 127.0.0.1 "$port" "$RATE" 20 4 /v1/stats /metrics >"$tmp/load2.json" &
    lpid=$!
    sleep 1
    scan_load=$("$B/bench/stats_scan" 256 $SCAN_PASSES 2>>"$tmp/scan.err") || scan_load=null
    wait "$lpid"
    kill -TERM "$srv_pid" 2>/dev/null; wait "$srv_pid" 2>/dev/null; srv_pid=
    scan_idle2=$("$B/bench/stats_scan" 256 $SCAN_PASSES 2>>"$tmp/scan.err") || scan_idle2=null
    scan_note="scanner_scan_once over a 256 MiB process, $SCAN_PASSES passes, median pages/s; idle = mean of the runs before and after the loaded one"
    [ "$scan_idle" = null ] && scan_note="scanner benchmark failed: $(head -c 200 "$tmp/scan.err")"
fi

python3 - "$tmp/load.json" "$RATE" "$SECS" "$load_before" "$load_after" "$publish" \
    "$scan_idle" "$scan_load" "$scan_note" "$load_rc" "$server_cpu" "$jitter" "$scan_idle2" \
    "$parent_cpu" "${server_mode:-inproc}" <<'PY'
import json, sys, platform, os, datetime
load = json.load(open(sys.argv[1]))
rate, secs, lb, la, publish, si, sl, note, rc, cpu, jit, si2, pcpu, mode = sys.argv[2:]
pcpu = json.loads(pcpu)
jit = json.loads(jit)
si2 = json.loads(si2)
cpu = json.loads(cpu)
si = json.loads(si); sl = json.loads(sl)
ok = all(p["errors"] == 0 and p["unanswered"] == 0 and p["latency_ms"]["p99"] <= 2.0 for p in load["paths"])
res = {"benchmark": "stats HTTP endpoint under fixed-rate load",
       "date": datetime.datetime.utcnow().isoformat() + "Z",
       "host": {"cpus": os.cpu_count(), "kernel": platform.release(),
                "loadavg_before": lb, "loadavg_after": la},
       "snapshot_guests": 50, "rate_per_path": int(rate), "seconds": int(secs),
       "load": load, "publish": publish, "server_cpu_seconds": cpu,
       "server_mode": mode, "server_parent_cpu_seconds": pcpu,
       "machine_wakeup_jitter": jit,
       "server_cpu_usec_per_request": round(cpu * 1e6 / sum(p["responses"] for p in load["paths"]), 1) if cpu else None,
       "server_parent_cpu_usec_per_request": round(pcpu * 1e6 / sum(p["responses"] for p in load["paths"]), 1) if pcpu is not None else None,
       "criteria": {"errors": 0, "p99_ms_max": 2.0}, "pass": ok,
       "scanner": {"note": note, "idle": si, "under_http_load": sl}}
res["scanner"]["idle_after"] = si2
idle = None
if si and si.get("pages_per_sec_median"):
    idle = si["pages_per_sec_median"]
    if si2 and si2.get("pages_per_sec_median"):
        idle = (idle + si2["pages_per_sec_median"]) / 2
    res["scanner"]["idle_pages_per_sec"] = round(idle)
if idle and sl:
    res["scanner"]["throughput_change_percent"] = round(
        100.0 * (sl["pages_per_sec_median"] - idle) / idle, 1)
json.dump(res, open("bench/results/stats.json", "w"), indent=1)
with open("bench/results/stats.md", "w") as f:
    f.write("# stats endpoint benchmark\n\n")
    f.write(f"`make bench-stats` — {res['date']}, {os.cpu_count()} CPUs (shared), load average "
            f"before {lb}, after {la}.\n\n")
    f.write(f"Open-loop load: {rate} requests/s to each path for {secs} s, 4 keep-alive "
            f"connections per path, against a 50-guest snapshot republished every second "
            f"({publish}). Server mode: {mode} ("
            + ("served by the unprivileged child, as ksmd does" if mode == "sep" else "served in process")
            + ").\n\n")
    f.write("| path | requests | errors | unanswered | bytes | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms |\n")
    f.write("|---|---|---|---|---|---|---|---|---|---|\n")
    for p in load["paths"]:
        l = p["latency_ms"]
        f.write(f"| {p['path']} | {p['requests']} | {p['errors']} | {p['unanswered']} | "
                f"{p['mean_response_bytes']:.0f} | {l['p50']:.3f} | {l['p90']:.3f} | {l['p99']:.3f} | "
                f"{l['p999']:.3f} | {l['max']:.3f} |\n")
    if cpu:
        f.write(f"\nServer CPU (serving + republishing): {cpu:.2f} s for "
                f"{sum(p['responses'] for p in load['paths'])} responses = "
                f"{res['server_cpu_usec_per_request']} us per request")
        if mode == "sep" and pcpu is not None:
            f.write(f"; of which the privileged process {pcpu:.2f} s = "
                    f"{res['server_parent_cpu_usec_per_request']} us per request")
        f.write(".\n")
    if load.get("generator_cpu_seconds") is not None:
        f.write(f"Load generator CPU: {load['generator_cpu_seconds']:.2f} s.\n")
    if jit:
        j = jit["sleep_1ms_late_ms"]
        f.write(f"\nMachine wake-up lateness (a 1 ms nanosleep, {j['samples']} samples, before the load): "
                f"p50 {j['p50']:.3f} ms, p99 {j['p99']:.3f} ms, max {j['max']:.3f} ms — the floor "
                f"under the p99 above.\n")
    f.write(f"\nCriteria: zero errors, p99 <= 2 ms: **{'PASS' if ok else 'FAIL'}**.\n\n")
    f.write(f"Scanner: {note}.\n")
    if si and sl:
        f.write(f"Idle {idle:.0f} pages/s, under HTTP load "
                f"{sl['pages_per_sec_median']:.0f} pages/s "
                f"({res['scanner'].get('throughput_change_percent')}%).\n")
print(json.dumps({"pass": ok, "paths": [(p["path"], p["errors"], p["latency_ms"]["p99"]) for p in load["paths"]],
                  "scanner": res["scanner"]}))
PY
