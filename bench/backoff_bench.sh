#!/bin/bash
# bench/backoff_bench.sh — the scanner's cost per pass once converged, on
# memory that does not change, with the rescan backoff off and on
# (docs/PERFORMANCE.md, "Rescan backoff"). Needs root; starts a process
# whose memory is MADV_MERGEABLE, so run it under the KSM lab lock with KSM
# stopped.
#
# BACKOFF_MIB (1024) of 4 KiB pages, 90% unique and 10% in pairs of equal
# pages (bench/../tests/scanner_memhog); BACKOFF_PASSES (40) passes
# BACKOFF_INTERVAL_MS (200) apart, one thread; the backoff bounded by
# BACKOFF_MAX_MS (6000: about 20 passes, as 10 min is at the shipped 30 s
# pass interval). Prints, for each mode, the median over the second half of
# the passes of: CPU-seconds per pass, pages read, pages left unread; then
# the last pass's oldest unread page and the bytes per tracked page.
set -u
cd "$(dirname "$0")/.." || exit 2
B=${B:-build}
[ "$(id -u)" = 0 ] || { echo "skip: needs root (pagemap PFNs, reading another process)"; exit 77; }
[ -x "$B/tests/scanner_probe" ] && [ -x "$B/tests/scanner_memhog" ] ||
    make -s B="$B" scanner-tools >/dev/null || exit 1
mib=${BACKOFF_MIB:-1024} passes=${BACKOFF_PASSES:-40}
interval=${BACKOFF_INTERVAL_MS:-200} max=${BACKOFF_MAX_MS:-6000}
pages=$((mib * 256)) pairs=$((mib * 256 / 20))
unique=$((pages - 2 * pairs))
tmp=$(mktemp -d /tmp/ksmd-backoff-bench.XXXXXX)
hog=
trap '[ -n "$hog" ] && kill $hog 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT

median() { sort -n | awk '{ v[NR] = $1 } END { print NR ? v[int((NR + 1) / 2)] : "-" }'; }
col() { sed -n "s/^pass=.* $1=\([0-9.]*\).*/\1/p" "$2" | tail -n $((passes / 2)); }

printf '%-4s %12s %12s %12s %16s %12s %10s %10s\n' mode cpu_s/pass read/pass unread/pass oldest_unread_s max_passes B/page peak_B/pp
for mode in off on; do
    "$B/tests/scanner_memhog" -m 0 0 0 $unique 0 0 $pairs 5 >"$tmp/hog" &
    hog=$!
    for _ in $(seq 600); do [ -s "$tmp/hog" ] && break; sleep 0.1; done
    read -r pid _ size <"$tmp/hog" || { echo "scanner_memhog not ready"; exit 1; }
    k=0; [ $mode = on ] && k=$max
    "$B/tests/scanner_probe" -n "$passes" -i "$interval" -k "$k" "g:$pid:qemu:$size" >"$tmp/$mode" ||
        { echo "scanner_probe failed"; exit 1; }
    kill $hog; wait $hog 2>/dev/null; hog=
    last=$(grep '^pass=' "$tmp/$mode" | tail -1)
    oldest=$(grep '^guest=' "$tmp/$mode" | tail -1 | sed -n 's/.* oldest_unscanned_ms=\([0-9]*\).*/\1/p')
    printf '%-4s %12s %12s %12s %16s %12s %10s %10s\n' $mode \
        "$(col cpu_sec "$tmp/$mode" | median)" "$(col scanned "$tmp/$mode" | median)" \
        "$(col backoff "$tmp/$mode" | median)" "$(awk -v ms="${oldest:-0}" 'BEGIN { printf "%.1f", ms / 1000 }')" \
        "$(sed -n 's/.* backoff_max_passes=\([0-9]*\).*/\1/p' <<<"$last")" \
        "$(sed -n 's/.* bytes_per_page=\([0-9.]*\).*/\1/p' <<<"$last")" \
        "$(sed -n 's/.* peak_bytes_per_page=\([0-9.]*\).*/\1/p' <<<"$last")"
    [ -n "${BACKOFF_KEEP:-}" ] && cp "$tmp/$mode" "$BACKOFF_KEEP.$mode"
done
