#!/bin/bash
# overcommit.sh — one run of the overcommit scenario: real lab guests in a
# real memory cgroup limit with zram swap behind it, driven by one memory
# manager, and what the host paid.
#
#   bench/overcommit.sh MANAGER RATIO OUT.json
#
# MANAGER is one of
#   none     no manager at all;
#   ksmd     build/ksmd with the project's ksmd.conf, only the control
#            socket, the stats endpoint (off), the guests and policy.budget =
#            cgroup:PATH of the limit changed, as an operator would set it;
#   proxmox  Proxmox VE's auto-ballooning rule, ported (policy/anchor_proxmox.c),
#            run every 10 s by build/bench/balloon_anchor as pvestatd does;
#   mom      oVirt MOM's 02-balloon.policy, ported likewise, every 10 s.
# RATIO is the overcommit: the guests' configured memory / the limit
# (0: no real limit, for the workloads' reference times).
#
# The guests (OC_N = 3, seeds 7 7 9; 1024 MiB each at 2x, 768 at 1.5x under
# a 1536 MiB limit, see OC_LIMIT_MIB below) play tenants,
# from the lab's filler, seeded and repeatable:
#   t = 0   g0 and g1 fill OC_IMAGE_MIB (128) of identical content (the same
#           "image" seed: identical OS images); g2 starts holding OC_HOLD_MIB
#           (200) of unique pages, rewritten every second (a live working set);
#   t = 15  g0 writes OC_BURST_MIB (400) of unique pages as fast as it can
#           (a burst), then frees them (a working set that grows then shrinks);
#   t = 35  g1 does the same.
# With OC_CACHE_MIB > 0 (the page-cache scenario) every guest gets a lab
# disk (LAB_DISK_MIB = OC_CACHE_MIB + 24, ext4, read with cache=none so the
# cache is the guest's own) and g2 also plays an idle tenant holding page
# cache: at t = 0, after its hold, it reads OC_CACHE_MIB of its disk
# (g2_cache), and at t = 100 reads the same again (g2_cache_reread: what
# the tenant paid if its cache was dropped to make room; compared with the
# same re-read with no limit).
# A sampler reads the cgroup once a second. Written to OUT.json:
#   swap_peak_mib, swap_end_mib   the guests' memory in swap (the cgroup's
#                                 swap counter; VmSwap summed agrees);
#   seconds_over_limit            samples in which the guests' memory
#                                 (charged + swapped) was above the limit;
#   cgroup_oom_kills, qemu_killed, guest_oom_kills;
#   workload_seconds              each burst's fill time (agent round trip);
#   merged_mib                    saved by KSM at the end: the smaller of
#                                 pages_sharing and the guests' merged pages
#                                 (0 when KSM is not running);
#   ballooned_mib                 sum over guests of max - balloon actual;
#   fpr                           free page reporting on (LAB_FPR=1);
#   cache_mib                     OC_CACHE_MIB (0: no page-cache tenant);
#   fpr_reported_mib              what it gave back, by ksmd's meter
#                                 (guests[].free_page_reported_bytes;
#                                 ksmd runs only, 0 otherwise).
# Exit 0 when the run happened (whatever its figures), 77 with "skip: ..."
# when the lab, a cgroup limit or a swap device cannot be had here, 1 on an
# error of the run itself.
#
# Settings: OC_SECONDS (180), OC_CACHE_MIB (0), OC_N, OC_LIMIT_MIB (1536), OC_GUEST_MIB (unset:
# from the limit and the ratio; set: the limit from it), OC_IMAGE_MIB, OC_HOLD_MIB,
# OC_BURST_MIB, OC_MIN_MIB (each guest's floor under Proxmox's and MOM's
# rules: half its memory, ksmd's default), OC_SWAP_MIB (the limit), OC_LOG (keep the manager's log
# there), KSMD_BUILD.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../tests/lib/common.sh"
source "$ROOT/tests/guest/lab.sh"
lab_atexit _run_cleanups

MANAGER=${1:?usage: overcommit.sh none|ksmd|proxmox|mom RATIO OUT.json}
RATIO=${2:?ratio}
OUT=${3:?out}
OC_SECONDS=${OC_SECONDS:-180}
OC_N=${OC_N:-3}
# The limit is fixed (OC_LIMIT_MIB, 1536 MiB: what the tenants really need
# at their peak, about 1.3 GiB with QEMU's own ~80 MiB each under TCG, fits
# under it) and the guests are sized to the ratio: 3 x 1024 MiB at 2x,
# 3 x 768 MiB at 1.5x. OC_GUEST_MIB fixes the guests' size instead and
# derives the limit (the earlier sizing: 768 MiB guests at 2x is a limit of
# 1152 MiB, under the tenants' peak needs, which no manager can meet).
OC_LIMIT_MIB=${OC_LIMIT_MIB:-1536}
if [ -z "${OC_GUEST_MIB:-}" ]; then
    OC_GUEST_MIB=$(awk -v l="$OC_LIMIT_MIB" -v n="$OC_N" -v r="$RATIO" \
        'BEGIN { g = (r > 0 ? l * r : 2 * l) / n; printf "%d", int(g / 4) * 4 }')
fi
OC_IMAGE_MIB=${OC_IMAGE_MIB:-128}
OC_HOLD_MIB=${OC_HOLD_MIB:-200}
OC_BURST_MIB=${OC_BURST_MIB:-400}
OC_CACHE_MIB=${OC_CACHE_MIB:-0}
OC_MIN_MIB=${OC_MIN_MIB:-$((OC_GUEST_MIB / 2))}
# RATIO 0: no limit to speak of (four times the guests' memory), for the
# workloads' reference times
LIMIT_MIB=$(awk -v n="$OC_N" -v s="$OC_GUEST_MIB" -v r="$RATIO" 'BEGIN { printf "%d", (r > 0 ? n * s / r : 4 * n * s) }')
OC_SWAP_MIB=${OC_SWAP_MIB:-$LIMIT_MIB}
SEEDS=(7 7 9 11 13 15 17 19)
MiB=1048576

case $MANAGER in none|ksmd|proxmox|mom) ;; *) echo "overcommit: unknown manager '$MANAGER'" >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "skip: the overcommit scenario needs root"; exit 77; }
[ -w $KSM/run ] || { echo "skip: $KSM is not writable"; exit 77; }
if [ "$MANAGER" = proxmox ] || [ "$MANAGER" = mom ]; then
    [ -x "$B/bench/balloon_anchor" ] || { echo "overcommit: build $B/bench/balloon_anchor first" >&2; exit 1; }
fi
lab_require || exit $?

T=$(mktemp -d /tmp/ksmd-overcommit.XXXXXX)
cleanup_add "rm -rf $T"
ksm_save
cleanup_add ksm_restore
# KSM stopped at the start; only ksmd turns it on
echo 0 > $KSM/run

lab_swap "$OC_SWAP_MIB" || exit $?
lab_limit "$LIMIT_MIB" || exit $?
[ "$OC_CACHE_MIB" -gt 0 ] && export LAB_DISK_MIB=$((OC_CACHE_MIB + 24))
lab_start "$OC_N" "$OC_GUEST_MIB" "${SEEDS[@]:0:$OC_N}" || { echo "overcommit: guests did not start" >&2; exit 1; }

MGR_PID=
stop_manager() {
    [ -n "$MGR_PID" ] || return 0
    kill -TERM "$MGR_PID" 2>/dev/null
    wait "$MGR_PID" 2>/dev/null
    MGR_PID=
    if [ -n "${OC_LOG:-}" ]; then
        cp "$T/manager.log" "$OC_LOG" 2>/dev/null
        cp "$T/ksmd.snapshots" "$OC_LOG.snapshots" 2>/dev/null
    fi
    return 0
}
cleanup_add stop_manager

case $MANAGER in
ksmd)
    cat > "$T/overlay.conf" <<EOF
[daemon]
control_socket = $T/ksmd.sock
[policy]
budget = cgroup:$LAB_CGROUP_PATH
[stats]
enabled = no
EOF
    for ((i = 0; i < OC_N; i++)); do
        printf '[guest g%d]\nqmp = %s\n' "$i" "${LAB_QMP[$i]}" >> "$T/overlay.conf"
    done
    "$KSMD" -f -c "$ROOT/ksmd.conf" -c "$T/overlay.conf" > "$T/manager.log" 2>&1 &
    MGR_PID=$!
    ;;
proxmox|mom)
    # as a user would set them up: each VM's floor is the same as ksmd's
    # default (balloon.default_min_percent, 50%): Proxmox's `balloon`,
    # oVirt's guaranteed memory (without one, Proxmox leaves a VM alone)
    args=()
    for ((i = 0; i < OC_N; i++)); do args+=(--min "g$i=$OC_MIN_MIB" "g$i=${LAB_QMP[$i]}"); done
    "$B/bench/balloon_anchor" --rule "$MANAGER" --cgroup "$LAB_CGROUP" "${args[@]}" > "$T/manager.log" 2>&1 &
    MGR_PID=$!
    ;;
esac
sleep 5
if [ -n "$MGR_PID" ] && ! kill -0 "$MGR_PID" 2>/dev/null; then
    tail -n 20 "$T/manager.log" >&2
    echo "overcommit: $MANAGER exited at start" >&2
    exit 1
fi

# The sampler: cgroup usage, swap and OOM kills once a second.
( while :; do
      read -r u s o _ < <(lab_cgroup_stat)
      echo "$(date +%s.%N) $u $s $o"
      # ksmd's own view beside it, for the log
      [ "$MANAGER" = ksmd ] && "$KSMDCTL" -s "$T/ksmd.sock" --json status 2>/dev/null |
          jq -c '{t: .uptime_seconds, p: .policy, g: [.guests[] | {n: .name, s: .state, a: .balloon_actual_bytes, t: .balloon_target_bytes, av: .available_bytes, r: .rss_bytes, sw: .swap_bytes}]}' \
              >> "$T/ksmd.snapshots" 2>/dev/null
      sleep 1
  done > "$T/samples" ) &
SAMPLER=$!
cleanup_add "kill $SAMPLER 2>/dev/null; wait $SAMPLER 2>/dev/null"

t0=$(date +%s)
# timed GUEST CMD...: the agent command's wall time in seconds, "fail" when it failed
timed() {
    local g=$1 a b
    shift
    a=$(date +%s.%N)
    if lab_agent "$g" "$@" > "$T/agent.$g.last" 2>&1; then
        b=$(date +%s.%N)
        awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", b - a }'
    else
        echo fail
        { echo "g$g $*:"; cat "$T/agent.$g.last"; } >> "$T/failures"
    fi
}
at() { local w=$(( t0 + $1 - $(date +%s) )); [ $w -gt 0 ] && sleep $w; return 0; }

declare -A W
W[g0_image]=$(timed 0 fill "$OC_IMAGE_MIB" image 7)
W[g1_image]=$(timed 1 fill "$OC_IMAGE_MIB" image 7)
lab_agent 2 hold "$OC_HOLD_MIB" > /dev/null || W[g2_hold]=fail
[ "$OC_CACHE_MIB" -gt 0 ] && W[g2_cache]=$(timed 2 cache "$OC_CACHE_MIB")
for g in 0 1; do
    at $((15 + 20 * g))
    W[g${g}_burst]=$(timed $g fill "$OC_BURST_MIB" unique)
    id=$(sed -n 's/^fill id=\([0-9]*\).*/\1/p' "$T/agent.$g.last")
    [ -n "$id" ] && lab_agent $g free "$id" > /dev/null
done
if [ "$OC_CACHE_MIB" -gt 0 ]; then
    at 100
    W[g2_cache_reread]=$(timed 2 cache "$OC_CACHE_MIB")
fi
at "$OC_SECONDS"

# ---- what the host paid ----
kill "$SAMPLER" 2>/dev/null; wait "$SAMPLER" 2>/dev/null
read -r _ swap_end oom_end _ < <(lab_cgroup_stat)
swap_peak=$(awk 'BEGIN { m = 0 } $3 > m { m = $3 } END { print m }' "$T/samples")
over=$(awk -v l="$LIMIT_MIB" '$2 + $3 > l { n++ } END { print n + 0 }' "$T/samples")
vmswap=0
qemu_killed=0
guest_ooms=0
ballooned=0
for ((i = 0; i < OC_N; i++)); do
    p=${LAB_PID[$i]}
    if [ -z "$p" ] || ! kill -0 "$p" 2>/dev/null; then
        qemu_killed=$((qemu_killed + 1))
        continue
    fi
    vmswap=$((vmswap + $(awk '/^VmSwap:/ { print $2 }' /proc/$p/status)))
    n=$(lab_agent "$i" list 2>/dev/null | grep -c 'state=oom-killed')
    n2=$(lab_agent "$i" dmesg 200 2>/dev/null | grep -c 'Out of memory: Killed process')
    guest_ooms=$((guest_ooms + (n > n2 ? n : n2)))
    act=$(lab_qmp "$i" '{"execute":"query-balloon"}' | lab_json '["return"]["actual"]' 2>/dev/null)
    [ -n "$act" ] && ballooned=$((ballooned + OC_GUEST_MIB - act / MiB))
done
# KSM's counters go stale while it is stopped: count what it saves only
# while it runs, and never more than the guests' own merged pages
merged=0
if [ "$(cat $KSM/run)" = 1 ]; then
    mp=0
    for ((i = 0; i < OC_N; i++)); do
        [ -n "${LAB_PID[$i]}" ] || continue
        v=$(ksm_stat "${LAB_PID[$i]}" ksm_merging_pages)
        mp=$((mp + ${v:-0}))
    done
    ps=$(cat $KSM/pages_sharing)
    merged=$(( (ps < mp ? ps : mp) * 4096 / MiB ))
fi
# what free page reporting gave back, by ksmd's meter (ksmd runs with LAB_FPR=1)
fpr_rep=0
if [ "$MANAGER" = ksmd ] && [ "${LAB_FPR:-0}" = 1 ]; then
    fpr_rep=$("$KSMDCTL" -s "$T/ksmd.sock" --json status 2>/dev/null |
        jq '[.guests[].free_page_reported_bytes // 0] | add // 0')
    fpr_rep=$(( ${fpr_rep:-0} / MiB ))
fi
stop_manager
wjson=$(for k in "${!W[@]}"; do printf '"%s": "%s"\n' "$k" "${W[$k]}"; done | paste -sd, -)
cat > "$OUT" <<EOF
{"manager": "$MANAGER", "ratio": $RATIO, "limit_mib": $LIMIT_MIB, "guests": $OC_N,
 "guest_mib": $OC_GUEST_MIB, "seconds": $OC_SECONDS, "fpr": ${LAB_FPR:-0}, "cache_mib": $OC_CACHE_MIB,
 "swap_peak_mib": $swap_peak, "swap_end_mib": $swap_end, "vmswap_end_mib": $((vmswap / 1024)),
 "seconds_over_limit": $over, "cgroup_oom_kills": $oom_end, "qemu_killed": $qemu_killed,
 "guest_oom_kills": $guest_ooms, "merged_mib": $merged, "ballooned_mib": $ballooned,
 "fpr_reported_mib": $fpr_rep,
 "workload_seconds": {$wjson}}
EOF
cp "$T/samples" "${OUT%.json}.samples"
[ -f "$T/failures" ] && cat "$T/failures" >&2
cat "$OUT"
