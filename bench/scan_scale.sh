#!/bin/bash
# bench/scan_scale.sh — `make bench-scale`: the scanner benchmark
# (bench/scan_bench) at several sizes of memory, and from the measured
# points a model of the cost at the sizes of real hosts (64 and 400 GiB).
#
#   SCALE_MIBS   the sizes, MiB per kind of memory (default 1024 4096 16384;
#                16 GiB needs that much free memory besides this machine's
#                other work)
#   SCALE_RUNS   passes (and kernel windows) per figure (default 3)
#   SCALE_OUT    where the results go (default bench/results/scale)
#
# For each size: bench/scan_bench -m MIB (every figure of `make
# bench-scanner`, whole-process CPU included) into SCALE_OUT/scanner-MIB.json
# and .md; then bench/scale_summary.py writes SCALE_OUT/scale.json and
# scale.md: per size, the CPU-seconds and wall seconds of one pass over
# unique memory (the steady state: memory that does not change is read
# again every pass), the daemon's bytes per tracked page, and the model.
set -u
cd "$(dirname "$0")/.." || exit 2
B=${B:-build}
OUT=${SCALE_OUT:-bench/results/scale}
RUNS=${SCALE_RUNS:-3}
MIBS=${SCALE_MIBS:-1024 4096 16384}
[ -x "$B/bench/scan_bench" ] || { echo "missing $B/bench/scan_bench (make scanner-tools)"; exit 2; }
if [ "$(id -u)" != 0 ]; then echo "skip: needs root (pagemap PFNs, /sys/kernel/mm/ksm)"; exit 77; fi
mkdir -p "$OUT"
for mib in $MIBS; do
    # the child holds mib MiB at a time; the scanner's own memory is small
    avail=$(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo)
    if [ "$avail" -lt $((mib + mib / 4 + 512)) ]; then
        echo "scale: $mib MiB left out: only $avail MiB available"
        rm -f "$OUT/scanner-$mib.json" "$OUT/scanner-$mib.md"
        continue
    fi
    echo "==== $mib MiB"
    "$B/bench/scan_bench" -m "$mib" -r "$RUNS" -o "$OUT/scanner-$mib.json" -M "$OUT/scanner-$mib.md" || exit $?
done
bench/scale_summary.py "$OUT"
