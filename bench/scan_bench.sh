#!/bin/bash
# bench/scan_bench.sh — `make bench-scanner`: the page scanner against the
# kernel's KSM thread on the same memory (see bench/scan_bench.c).
# Writes bench/results/scanner.json and bench/results/scanner.md.
# SCAN_BENCH_MIB (1024) and SCAN_BENCH_RUNS (5) override the defaults.
set -u
cd "$(dirname "$0")/.." || exit 2
B=${B:-build}
mkdir -p bench/results
"$B/bench/scan_bench" -m "${SCAN_BENCH_MIB:-1024}" -r "${SCAN_BENCH_RUNS:-5}" \
    -o bench/results/scanner.json -M bench/results/scanner.md
rc=$?
[ $rc -eq 0 ] && cat bench/results/scanner.md
exit $rc
