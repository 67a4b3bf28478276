#!/bin/bash
# ksm_naive.sh — the naive KSM controller, an anchor of the convergence
# benchmark (bench/converge.sh, strategy n): KSM at full speed (100000
# pages / 0 ms) until pages_sharing stops growing, then the kernel's
# defaults (100 pages / 20 ms), which it leaves running. "Stops growing":
# no increase over NAIVE_STALL seconds (default 3), read every second.
set -u
KSM=${KSM_SYSFS:-/sys/kernel/mm/ksm}
STALL=${NAIVE_STALL:-3}
trap 'exit 0' TERM INT
echo 100000 > $KSM/pages_to_scan
echo 0 > $KSM/sleep_millisecs
echo 1 > $KSM/run
best=$(cat $KSM/pages_sharing); still=0
while [ "$still" -lt "$STALL" ]; do
    sleep 1 & wait $!
    now=$(cat $KSM/pages_sharing)
    if [ "$now" -gt "$best" ]; then best=$now; still=0; else still=$((still + 1)); fi
done
echo 100 > $KSM/pages_to_scan
echo 20 > $KSM/sleep_millisecs
echo "naive: pages_sharing stopped growing at $best, KSM defaults from now on"
while :; do sleep 60 & wait $!; done
