#!/bin/bash
# A guest that maps no KSM page is read with process_vm_readv throughout,
# also on 4 KiB pages, and the counts equal pread's; once KSM merged part of
# it, the merged part is neither read nor unshared.
#
# A process holds 8192 unique 4 KiB pages and 64 contents x 64 pages
# (MADV_MERGEABLE, transparent huge pages off for it). With KSM stopped
# before it starts, /proc/PID/ksm_stat shows ksm_merging_pages 0: every page
# of a pass must be read with process_vm_readv (no kpageflags check needed)
# and none changed under the read; a pread-only pass must count the same.
# Then KSM merges the duplicates and stops (run=0): ksm_merging_pages > 0,
# so the scanner checks pages in kpageflags again; two passes must leave the
# merged amount (smaps KSM:) where it was. KSM settings are restored.
set -u
cd "$(dirname "$0")/../.." || exit 2
KSM=/sys/kernel/mm/ksm
. tests/scanner_lib.bash
scanner_test_init
scanner_ksm_init
[ -r /proc/self/ksm_stat ] || { echo "skip: no /proc/PID/ksm_stat on this kernel (the scanner checks every page in kpageflags there)"; exit 77; }

echo 0 > $KSM/run
memhog_start -m 0 0 0 8192 64 64 0 5
pid=$HOG_PID size=$HOG_SIZE
merging() { awk '/^ksm_merging_pages/ { print $2 }' /proc/$pid/ksm_stat; }
[ "$(merging)" = 0 ] || { echo "skip: KSM merged pages of the new process before the test (another process drives KSM)"; exit 77; }

probe=$($BUILD/tests/scanner_probe -n 2 "hog:$pid:qemu:$size") || { echo "FAIL: scanner_probe"; exit 1; }
p2=$(echo "$probe" | grep '^pass=2')
echo "$p2"
scanned=$(field "$p2" scanned)
vmr=$(field "$p2" vm_readv)
changed=$(field "$p2" vm_readv_changed)
pages=$((8192 + 64 * 64))
[ "$scanned" = "$pages" ] || { echo "FAIL: scanned $scanned pages, made $pages"; exit 1; }
[ "$vmr" = "$scanned" ] || { echo "FAIL: only $vmr of $scanned pages read with process_vm_readv although the guest maps no KSM page"; exit 1; }
[ "$changed" = 0 ] || { echo "FAIL: $changed pages changed under process_vm_readv with KSM stopped"; exit 1; }
[ "$(merging)" = 0 ] || { echo "FAIL: ksm_merging_pages $(merging) after the passes with KSM stopped"; exit 1; }
pread_agrees hog "$pid" "$size" "$probe"
echo "ok: all $scanned pages read with process_vm_readv, counts equal pread's"

# KSM merges the duplicates, then stops.
echo 100000 > $KSM/pages_to_scan
echo 0 > $KSM/sleep_millisecs
echo 1 > $KSM/run
want=$((64 * 64 * 4 * 9 / 10))
for _ in $(seq 300); do
    [ "$(scanner_ksm_kb "$pid")" -ge $want ] && break
    sleep 0.1
done
echo 0 > $KSM/run
m0=$(scanner_ksm_kb "$pid")
if [ "$m0" -lt $want ]; then
    echo "skip: KSM merged only $m0 kB within 30 s (another process may drive KSM on this host)"; exit 77
fi
echo "merged: $m0 kB, ksm_merging_pages $(merging)"
probe=$($BUILD/tests/scanner_probe -n 2 "hog:$pid:qemu:$size") || { echo "FAIL: scanner_probe"; exit 1; }
echo "$probe" | grep '^pass='
m1=$(scanner_ksm_kb "$pid")
if [ "$m1" -lt "$m0" ] && [ "$(cat $KSM/run)" != 0 ]; then
    echo "skip: another process restarted KSM during the passes, $m0 -> $m1 kB not attributable"; exit 77
fi
[ "$m1" -ge "$m0" ] || { echo "FAIL: merged amount dropped from $m0 to $m1 kB"; exit 1; }
last=$(echo "$probe" | grep '^guest=hog' | tail -1)
ksm=$(field "$last" ksm)
[ "$ksm" -ge $((m0 / 4)) ] || { echo "FAIL: the scanner saw $ksm merged pages, smaps shows $((m0 / 4))"; exit 1; }
echo "PASS: unmerged guest read with process_vm_readv throughout; merged amount stayed $m0 -> $m1 kB"
