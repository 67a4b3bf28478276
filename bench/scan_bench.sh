#!/bin/bash
# bench/scan_bench.sh — `make bench-scanner`: the page scanner against the
# kernel's KSM thread on the same memory (see bench/scan_bench.c), plus
# callgrind instruction counts per page of the scanner's user-space part
# (stable on a noisy machine; the kernel's copy in pread is not counted).
# Writes bench/results/scanner.json and bench/results/scanner.md.
# SCAN_BENCH_MIB (1024) and SCAN_BENCH_RUNS (5) override the defaults.
set -u
cd "$(dirname "$0")/.." || exit 2
B=${B:-build}
mkdir -p bench/results
"$B/bench/scan_bench" -m "${SCAN_BENCH_MIB:-1024}" -r "${SCAN_BENCH_RUNS:-5}" \
    -o bench/results/scanner.json -M bench/results/scanner.md
rc=$?
[ $rc -eq 0 ] || exit $rc

if command -v valgrind >/dev/null && command -v callgrind_annotate >/dev/null; then
    tmp=$(mktemp -d /tmp/ksmd-scan-cg.XXXXXX)
    hog=
    trap '[ -n "$hog" ] && kill $hog 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
    {
        echo
        echo "| callgrind, user space only (3 passes of 64 MiB) | instructions per page read |"
        echo "|---|---:|"
    } >>bench/results/scanner.md
    for kind in unique duplicate; do
        if [ $kind = unique ]; then lay="0 0 0 16384 0 0 0 9"; else lay="0 0 0 0 64 256 0 9"; fi
        "$B/tests/scanner_memhog" -m $lay >"$tmp/hog" &
        hog=$!
        for _ in $(seq 100); do [ -s "$tmp/hog" ] && break; sleep 0.1; done
        read -r pid _ size <"$tmp/hog"
        valgrind --tool=callgrind --callgrind-out-file="$tmp/cg" \
            "$B/tests/scanner_probe" -n 3 "g:$pid:qemu:$size" >"$tmp/probe" 2>/dev/null
        ir=$(callgrind_annotate "$tmp/cg" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
        pages=$(awk -F'scanned=' '/^pass=/ { split($2, a, " "); s += a[1] } END { print s }' "$tmp/probe")
        kill $hog; wait $hog 2>/dev/null; hog=
        [ -n "$ir" ] && [ "${pages:-0}" -gt 0 ] &&
            echo "| $kind | $((ir / pages)) |" >>bench/results/scanner.md
    done
fi
cat bench/results/scanner.md
