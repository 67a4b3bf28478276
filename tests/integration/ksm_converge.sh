#!/bin/bash
# KSM executor against the real kernel KSM: three processes with known
# duplicate content (bench/ksm_fill, 64 MiB each), KSM driven by the executor
# loop (bench/ksm_drive, the same ksm_driver_tick() the daemon calls), must
# merge >= 90% of the known duplicates within 60 s; the KSM settings found at
# start must be back exactly afterwards.
#
# Known duplicates, 3 x 16384 pages: the first half is the same in all three
# (2 x 8192 saved), the third quarter is 16 patterns x 256 copies per
# process (4096 - 16 saved each, within max_page_sharing = 256):
# 16384 + 3 x 4080 = 28624 pages (what pages_sharing gains). The test
# counts the fillers' own ksm_merging_pages, which KSM's global counters
# cannot pollute (other KSM users, stale values from a run=0 period): every
# duplicate page, kept copies included, 8192 + 3 x 4096 = 20480 + 16384 =
# 36864 pages when all are merged.
set -u
cd "$(dirname "$0")/../.." || exit 2
. tests/lib/common.sh
BUILD=${KSMD_BUILD:-build}
if [ "$(id -u)" != 0 ]; then echo "skip: needs root to drive KSM"; exit 77; fi
if [ ! -w $KSM/run ]; then echo "skip: $KSM absent or read-only (kernel without KSM)"; exit 77; fi
if [ ! -x $BUILD/bench/ksm_fill ] || [ ! -x $BUILD/bench/ksm_drive ]; then
    make -s B="$BUILD" ksm-tools >/dev/null || { echo "cannot build ksm-tools"; exit 1; }
fi

ksm_save
pids=()
driver=
cleanup() {
    [ -n "$driver" ] && kill "$driver" 2>/dev/null && wait "$driver" 2>/dev/null
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    ksm_restore
}
trap cleanup EXIT

if [ "${_ksm_saved[max_page_sharing]:-256}" != 256 ]; then
    echo "skip: max_page_sharing is ${_ksm_saved[max_page_sharing]}, the known count assumes 256"; exit 77
fi
KNOWN=28624
fifo=$(mktemp -u /tmp/ksmd-ksmtest.XXXXXX)
for i in 0 1 2; do
    $BUILD/bench/ksm_fill -m 64 -i $i >"$fifo.$i" &
    pids+=($!)
done
for i in 0 1 2; do
    for _ in $(seq 100); do grep -q ready "$fifo.$i" 2>/dev/null && break; sleep 0.1; done
    grep -q ready "$fifo.$i" || { echo "FAIL: filler $i not ready"; exit 1; }
done
rm -f "$fifo".*
base=$(cat $KSM/pages_sharing)
echo "fillers ${pids[*]} ready; pages_sharing before: $base (stale if KSM was off)"

log=$(mktemp /tmp/ksmd-ksmtest-drive.XXXXXX)
# Progress from the fillers' own ksm_stat (other KSM users on the host must
# not count): merging pages less the 8192 + 3 x 16 kept copies.
$BUILD/bench/ksm_drive -p $KNOWN -d 8240 -g ${pids[0]} -g ${pids[1]} -g ${pids[2]} \
    -t 250 -T 90 >"$log" 2>&1 &
driver=$!
start=$(date +%s.%N); reached=
KNOWN_MERGING=36864
want=$((KNOWN_MERGING * 9 / 10))
for _ in $(seq 600); do
    # Only our fillers are mergeable in this test: count their merged pages.
    merged=0
    for p in "${pids[@]}"; do
        m=$(awk '/^ksm_merging_pages/ {print $2}' /proc/$p/ksm_stat)
        merged=$((merged + m))
    done
    sharing=$(cat $KSM/pages_sharing)
    if [ "$merged" -ge "$want" ]; then reached=$(echo "$(date +%s.%N) - $start" | bc); break; fi
    sleep 0.1
done
echo "fillers' ksm_merging_pages $merged of $KNOWN_MERGING; pages_sharing $sharing (all KSM users)"
[ -n "$reached" ] || { echo "FAIL: ksm_merging_pages $merged < $want after 60 s"; cat "$log"; rm -f "$log"; exit 1; }
printf 'reached 90%% (%d merging pages) after %.1f s\n' "$want" "$reached"

# The executor must have moved to trickle (or stop) once converged.
for _ in $(seq 40); do grep -q -E 'converged|stalled' "$log" && break; sleep 0.25; done
grep -q -E 'converged|stalled' "$log" || { echo "FAIL: executor did not leave full speed"; cat "$log"; exit 1; }

kill "$driver"; wait "$driver"; rc=$?; driver=
echo "driver log:"; sed 's/^/  /' "$log"; rm -f "$log"
[ $rc = 0 ] || { echo "FAIL: ksm_drive exited $rc"; exit 1; }
bad=0
for f in $KSM_KEYS; do
    [ -n "${_ksm_saved[$f]:-}" ] || continue
    now=$(cat $KSM/$f)
    if [ "$now" != "${_ksm_saved[$f]}" ]; then echo "FAIL: $f is '$now', was '${_ksm_saved[$f]}'"; bad=1; fi
done
[ $bad = 0 ] || exit 1
echo "settings restored exactly"
exit 0
