#!/bin/bash
# End to end, a real limit: lab guests in a memory cgroup with a hard limit
# and zram swap behind it, so that going over costs what it costs on a host.
#
#  1. follow the limit: two guests in a cgroup limited to 768 MiB, ksmd with
#     policy.budget = cgroup:PATH. ksmd's budget is the limit less
#     policy.limit_headroom_percent; lowered to 640 MiB with the guests
#     holding more, the budget follows within 3 s, the host is critical
#     ("cgroup limit") and every balloon is lowered within 10 s, with no
#     guest or QEMU killed. (How far the cost falls is printed: a balloon
#     lowers the host's RSS only by the guest pages it takes that the host
#     backs.)
#  2. 2x overcommit: bench/overcommit.sh ksmd 2 (three 1024 MiB tenants
#     under 1536 MiB; identical images, a live working set, two 400 MiB
#     bursts), for 100 s, held to the goal: no QEMU killed by the cgroup's
#     OOM killer, no guest OOM kill, both bursts completed, the guests'
#     memory in swap below 64 MiB at its peak and 32 MiB at the end
#     (OVERCOMMIT_SWAP_MIB and OVERCOMMIT_SWAP_END_MIB change the bounds).
# Skips with a reason where no memory cgroup, swap device or QEMU can be had.
. "$(dirname "$0")/../lib/common.sh"
need_bins
need_root
need_ksm
command -v jq >/dev/null || fail "jq is missing (make deps)"
source "$ROOT/tests/guest/lab.sh"
lab_atexit _run_cleanups
lab_require || exit $?
MiB=1048576

T=$(mktemp -d /tmp/ksmd-e2e-overcommit.XXXXXX)
cleanup_add "rm -rf $T"
fail() {
    echo "FAIL: $*"
    [ -f "$T/ksmd.log" ] && { echo "--- ksmd log, last lines:"; tail -n 25 "$T/ksmd.log" | cut -c1-300; }
    exit 1
}

# ---- 1. the budget follows the cgroup's limit ----
# (in this shell: they set the variables lab_stop cleans up with)
lab_swap 512 > "$T/swap.out" || skip "$(sed 's/^skip: //' "$T/swap.out")"
lab_limit 768 > "$T/limit.out" || skip "$(sed 's/^skip: //' "$T/limit.out")"
lab_start 2 384 7 7 || fail "lab guests did not start"
ksm_save
cleanup_add ksm_restore
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
budget = cgroup:$LAB_CGROUP_PATH
idle_trim_percent = 0
[stats]
enabled = no
[guest g0]
qmp = ${LAB_QMP[0]}
min = 160M
[guest g1]
qmp = ${LAB_QMP[1]}
min = 160M
EOF
ksmd_start $T/ksmd.conf
wait_for 30 "both guests connected with fresh stats" \
    snap_is '[.guests[] | select(.state=="ok" and .available_bytes != null)] | length' 2
wait_for 5 "the budget is the cgroup's limit less 10%" \
    snap_is '.host.budget_bytes' $(( 768 * MiB - 768 * MiB / 10 ))
# the guests hold memory: 100 MiB each, touched
for i in 0 1; do lab_agent $i fill 100 unique >/dev/null || fail "g$i: fill"; done
sleep 3
used=$(snap '.policy.guest_used_bytes')
echo "guests cost $((used / MiB)) MiB before the limit is lowered"
lab_limit_set 640 || fail "cannot lower the limit"
t0=$EPOCHREALTIME
wait_for 3 "the budget followed the limit to 640 MiB (less 10%)" \
    snap_is '.host.budget_bytes' $(( 640 * MiB - 640 * MiB / 10 ))
snap_is '.host.cgroup.limit_bytes' $(( 640 * MiB )) || fail "host.cgroup.limit_bytes: $(snap .host.cgroup)"
wait_for 10 "over the new budget: ksmd sheds, saying why" \
    snap_true '.policy.host_level == "critical" and (.policy.host_reason | test("cgroup limit"))'
wait_for 10 "every balloon target lowered" \
    snap_true "[.guests[] | .balloon_target_bytes < $((384 * MiB))] | all"
sleep 15
echo "after $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s: $(snap '.policy.host_reason')"
read -r _ swap oom _ < <(lab_cgroup_stat)
[ "$oom" = 0 ] || fail "the cgroup's OOM killer killed $oom process(es)"
for i in 0 1; do
    kill -0 "${LAB_PID[$i]}" 2>/dev/null || fail "g$i's QEMU is gone"
    lab_agent $i list | grep -q 'state=oom-killed' && fail "g$i: a fill was OOM-killed"
done
pass_msg "no OOM kill, no QEMU lost; cgroup swap ${swap} MiB"
ksmd_stop || fail "ksmd exited with an error"
lab_stop

# ---- 2. 2x overcommit, three tenants ----
OC_SECONDS=${OC_SECONDS:-100} OC_LOG=$T/ksmd.log "$ROOT/bench/overcommit.sh" ksmd 2 "$T/oc.json" > "$T/oc.out" 2>&1
rc=$?
[ $rc = 77 ] && { grep '^skip' "$T/oc.out"; skip "the overcommit scenario cannot run here"; }
[ $rc = 0 ] || { tail -n 20 "$T/oc.out"; fail "bench/overcommit.sh exited with $rc"; }
jq -c . "$T/oc.json"
v() { jq -r ".$1" "$T/oc.json"; }
[ "$(v cgroup_oom_kills)" = 0 ] || fail "cgroup OOM kills: $(v cgroup_oom_kills)"
[ "$(v qemu_killed)" = 0 ] || fail "QEMU killed: $(v qemu_killed)"
pass_msg "2x overcommit: no QEMU killed, no cgroup OOM kill"
[ "$(v guest_oom_kills)" = 0 ] || fail "guest OOM kills: $(v guest_oom_kills)"
bursts=$(jq -r '[.workload_seconds | to_entries[] | select(.key | endswith("burst"))] | length' "$T/oc.json")
failed=$(jq -r '[.workload_seconds | to_entries[] | select((.key | endswith("burst")) and .value == "fail")] | length' "$T/oc.json")
[ "$bursts" = 2 ] || fail "expected 2 bursts, found $bursts: $(jq -c .workload_seconds "$T/oc.json")"
[ "$failed" = 0 ] || fail "$failed burst(s) did not complete: $(jq -c .workload_seconds "$T/oc.json")"
pass_msg "no guest OOM kill, both bursts done: $(jq -c .workload_seconds "$T/oc.json")"
bound=${OVERCOMMIT_SWAP_MIB:-64}
end_bound=${OVERCOMMIT_SWAP_END_MIB:-32}
[ "$(v swap_peak_mib)" -lt "$bound" ] || fail "guest memory in swap peaked at $(v swap_peak_mib) MiB (bound $bound)"
[ "$(v swap_end_mib)" -lt "$end_bound" ] || fail "guest memory in swap at the end $(v swap_end_mib) MiB (bound $end_bound)"
pass_msg "guest memory in swap: peak $(v swap_peak_mib) MiB < $bound, end $(v swap_end_mib) MiB < $end_bound"
[ "$(v merged_mib)" -gt 64 ] || fail "merged only $(v merged_mib) MiB of the tenants' identical 128 MiB"
pass_msg "merged $(v merged_mib) MiB, ballooned $(v ballooned_mib) MiB"
echo "e2e overcommit: all checks passed"
