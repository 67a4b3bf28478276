#!/bin/bash
# A KSM page mapped once is not undone by the scanner. Two processes hold
# the same 4096 contents (MADV_MERGEABLE); KSM merges them across the two,
# then stops (run=0); the second process exits, so each KSM page is mapped
# once, in the first, where pagemap shows it "exclusively mapped" (bit 56)
# although it is a KSM page. A read that pins it (process_vm_readv) would
# unshare it: the scanner must check /proc/kpageflags before such a read.
# Two full passes follow; the first process's smaps `KSM:` must not drop.
# KSM settings are restored.
set -u
cd "$(dirname "$0")/../.." || exit 2
. tests/scanner_lib.bash
scanner_test_init
scanner_ksm_init
# 4096 classes of one page each: the same contents in both (seed-independent)
memhog_start -m 0 0 0 0 4096 1 0 1
pid=$HOG_PID size=$HOG_SIZE
memhog_start -m 0 0 0 0 4096 1 0 2
b=$HOG_PID
ksm_kb() { scanner_ksm_kb "$pid"; }

echo 100000 > $KSM/pages_to_scan
echo 0 > $KSM/sleep_millisecs
echo 1 > $KSM/run
for _ in $(seq 300); do
    [ "$(ksm_kb)" -ge 16384 ] && break
    sleep 0.1
done
echo 0 > $KSM/run
kill "$b"; wait "$b" 2>/dev/null
sleep 0.2
m0=$(ksm_kb)
echo "KSM pages mapped once in the first process: $m0 kB"
if [ "$m0" -lt $((16384 * 9 / 10)) ]; then
    echo "skip: KSM merged only $m0 kB within 30 s (another process may drive KSM on this host)"; exit 77
fi
probe=$($BUILD/tests/scanner_probe -n 2 -t 2 "a:$pid:qemu:$size") || { echo "FAIL: scanner_probe"; exit 1; }
echo "$probe" | grep '^pass='
m1=$(ksm_kb)
echo "after two passes: $m1 kB"
if [ "$m1" -lt "$m0" ] && [ "$(cat $KSM/run)" != 0 ]; then
    echo "skip: another process restarted KSM during the passes (run=$(cat $KSM/run)), $m0 -> $m1 kB not attributable"
    exit 77
fi
[ "$m1" -ge "$m0" ] || { echo "FAIL: KSM pages mapped once were unshared: $m0 -> $m1 kB"; exit 1; }
changed=$(echo "$probe" | sed -n 's/.* vm_readv_changed=\([0-9]*\).*/\1/p' | awk '{ s += $1 } END { print s + 0 }')
[ "$changed" -eq 0 ] || { echo "FAIL: $changed pages changed under process_vm_readv"; exit 1; }
echo "PASS: KSM pages mapped once stayed $m0 -> $m1 kB"
