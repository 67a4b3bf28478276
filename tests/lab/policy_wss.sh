#!/bin/bash
# Lab test of the host-side working-set collector (collect/wss.c) on a real
# QEMU guest: the guest RAM mapping is found the way the daemon finds it
# (wss_qemu_ram_range via wss_touch's sampler, checked against
# lab_ram_mapping), and a live working set started inside the guest (the
# agent's `hold 128`: 128 MiB of pages, each rewritten every second) shows
# in the referenced bytes: at least 128 MiB while it runs, and at least
# 100 MiB less once it is freed. Figures are printed. Needs root.
# Skips (77) only when the lab cannot run here.
set -u
. "$(dirname "$0")/../guest/lab.sh"
fail() { echo "FAIL: $*"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "skip: needs root (clear_refs of QEMU)"; exit 77; }

B=${KSMD_BUILD:-build}
lab_require || exit $?
make -s -C "$LAB_ROOT" B="$B" "$B/tests/wss_touch" >/dev/null || fail "cannot build wss_touch"
TOUCH=$LAB_ROOT/$B/tests/wss_touch

lab_start 1 512 || fail "guest did not boot"
echo "boot: ${LAB_BOOT_SEC[0]} s ($LAB_ACCEL)"
pid=${LAB_PID[0]}
range=$(lab_ram_mapping 0) || fail "no RAM mapping"
start=${range%-*}; end=${range#*-}
read -r s2 e2 < <("$TOUCH" ram "$pid" 512) || fail "wss_qemu_ram_range found no RAM mapping"
[ "$s2-$e2" = "$range" ] || fail "wss_qemu_ram_range $s2-$e2 != lab_ram_mapping $range"
echo "guest RAM mapping $start-$end ($(( (0x$end - 0x$start) / 1048576 )) MiB)"

sample() { "$TOUCH" sample "$pid" "$start" "$end" "$1"; }
mib() { echo $(($1 / 1048576)); }

sleep 3
idle=$(sample 5) || fail "sample of the idle guest"
echo "idle guest: $(mib "$idle") MiB referenced in 5 s"
lab_agent 0 hold 128 >/dev/null || fail "hold 128 in the guest"
sleep 2
busy=$(sample 5) || fail "sample of the busy guest"
echo "guest holding 128 MiB live: $(mib "$busy") MiB referenced in 5 s"
[ "$busy" -ge $((128 * 1048576)) ] || fail "referenced $(mib "$busy") MiB < the 128 MiB working set"
lab_agent 0 free all >/dev/null || fail "free all"
sleep 2
after=$(sample 5) || fail "sample after free"
echo "after free: $(mib "$after") MiB referenced in 5 s"
[ "$after" -le $((busy - 100 * 1048576)) ] || fail "referenced did not fall after the hold was freed"
echo "policy_wss: all checks passed"
