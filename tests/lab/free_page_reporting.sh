#!/bin/bash
# Lab test of the free page reporting meter (collect/wss.h, fpr_meter): a
# real QEMU guest with `free-page-reporting=on` (LAB_FPR=1) touches 200 MiB
# (the agent's `fill 200 unique`) and frees it; the guest reports the free
# pages, QEMU drops them, and ksmd's snapshot says how much came back that
# way: guests[].free_page_reported_bytes, at least 150 MiB, with no balloon
# step (the policy is off) and nothing swapped. A guest without the feature
# has no such key. Figures are printed. Needs root.
# Skips (77) only when the lab cannot run here.
. "$(dirname "$0")/../lib/common.sh"
need_bins
need_root
command -v jq >/dev/null || skip "jq is missing (make deps)"
source "$ROOT/tests/guest/lab.sh"
lab_atexit _run_cleanups
lab_require || exit $?

T=$(mktemp -d /tmp/ksmd-lab-fpr.XXXXXX)
cleanup_add "rm -rf $T"
fail() {
    echo "FAIL: $*"
    [ -f "$T/ksmd.log" ] && { echo "--- ksmd log, last lines:"; tail -n 25 "$T/ksmd.log"; }
    exit 1
}
MiB=1048576
LAB_FPR=1 lab_start 1 512 || fail "lab guest did not boot"
echo "boot: g0 ${LAB_BOOT_SEC[0]} s ($LAB_ACCEL), free page reporting on"
cleanup_add ksmd_stop

cat > $T/ksmd.conf <<EOF
[daemon]
control_socket = $T/ksmd.sock
tick = 1s
[scanner]
enabled = no
[ksm]
manage = no
[balloon]
stats_interval = 2s
[policy]
enabled = no
host_wss_interval = 2s
[stats]
enabled = no
[guest g0]
qmp = ${LAB_QMP[0]}
EOF
ksmd_start $T/ksmd.conf
g0() { snap ".guests[] | select(.name==\"g0\") | $1"; }
wait_for 60 "g0 managed, free page reporting seen" snap_true '.guests[0].free_page_reporting == true'
wait_for 20 "the meter has its first sample" snap_true '.guests[0].host_active_bytes != null'
before=$(g0 .free_page_reported_bytes)
[ -n "$before" ] && [ "$before" != null ] || fail "no free_page_reported_bytes for a guest with free page reporting"
actual0=$(g0 .balloon_actual_bytes)
rss0=$(g0 .rss_bytes)

id=$(lab_agent 0 fill 200 unique | sed -n 's/^fill id=\([0-9]*\).*/\1/p')
[ -n "$id" ] || fail "fill 200 in the guest"
wait_for 30 "the fill is resident on the host (rss +150 MiB)" \
    snap_true ".guests[0].rss_bytes >= $((rss0 + 150 * MiB))"
sleep 5   # two samples of the meter with the fill resident
rss1=$(g0 .rss_bytes)
lab_agent 0 free "$id" >/dev/null || fail "free $id in the guest"
wait_for 40 "at least 150 MiB given back by free page reporting" \
    snap_true ".guests[0].free_page_reported_bytes >= $((before + 150 * MiB))"
rep=$(g0 .free_page_reported_bytes)
rss2=$(g0 .rss_bytes)
[ "$(g0 .balloon_actual_bytes)" = "$actual0" ] || fail "the balloon moved: the meter must not need it"
[ "$(g0 .swap_bytes)" = 0 ] || fail "g0 has $(( $(g0 .swap_bytes) / MiB )) MiB in swap: the test needs none"
pass_msg "reported $(( (rep - before) / MiB )) MiB; QEMU rss $((rss0 / MiB)) -> $((rss1 / MiB)) (filled) -> $((rss2 / MiB)) MiB (freed)"
ksmd_stop || fail "ksmd exited with an error"
lab_stop

# without the feature: no key
lab_start 1 384 || fail "lab guest (no free page reporting) did not boot"
sed -i "s|^qmp = .*|qmp = ${LAB_QMP[0]}|" $T/ksmd.conf
ksmd_start $T/ksmd.conf
wait_for 60 "g0 managed, no free page reporting" snap_true '.guests[0].free_page_reporting == false'
[ "$(g0 .free_page_reported_bytes)" = null ] || fail "free_page_reported_bytes shown for a guest without the feature"
pass_msg "no free_page_reported_bytes without the feature"
echo "free_page_reporting: all checks passed"
