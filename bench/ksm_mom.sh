#!/bin/bash
# ksm_mom.sh — oVirt MOM's KSM rule, ported verbatim, as an anchor of the
# convergence benchmark (bench/converge.sh, strategies m and mf).
#
# usage: bench/ksm_mom.sh PID...     (the guests: their VSZ is ksm_shareable)
#
# Source: github.com/oVirt/mom, doc/ksm.rules at revision
# 3de1c8e6bcb9da716b0aec96f8c38df6e79ef55a (2025-07-07); vdsm ships the same
# rule as /etc/vdsm/mom.d/03-ksm.policy. The rule, in MOM's policy language:
#
#   (defvar ksm_pages_boost 300)   (defvar ksm_pages_decay -50)
#   (defvar ksm_npages_min 64)     (defvar ksm_npages_max 1250)
#   (defvar ksm_sleep_ms_baseline 10)
#   (defvar ksm_free_percent 0.20)
#   (def change_npages (delta) {
#       (defvar newval (+ Host.ksm_pages_to_scan delta))
#       (if (> newval ksm_npages_max) (set newval ksm_npages_max) 1)
#       (if (< newval ksm_npages_min) (set newval ksm_npages_min) 0)
#       (Host.Control "ksm_pages_to_scan" newval) })
#   (defvar ksm_pressure_threshold (* Host.mem_available ksm_free_percent))
#   (defvar ksm_committed Host.ksm_shareable)
#   (if (and (< (+ ksm_pressure_threshold ksm_committed) Host.mem_available)
#            (> (Host.StatAvg "mem_free") ksm_pressure_threshold))
#       (Host.Control "ksm_run" 0)
#       { (Host.Control "ksm_run" 1)
#         (Host.Control "ksm_sleep_millisecs"
#             (/ (* ksm_sleep_ms_baseline 16777216) Host.mem_available))
#         (if (< (Host.StatAvg "mem_free") ksm_pressure_threshold)
#             (change_npages ksm_pages_boost)
#             (change_npages ksm_pages_decay)) })
#
# Its inputs as MOM's collectors make them (mom/Collectors/HostMemory.py,
# HostKSM.py at that revision): mem_available = MemTotal (KiB), mem_free =
# MemFree + Buffers + Cached (KiB), sampled every host-monitor-interval (5 s)
# and averaged by StatAvg over sample-history-length (10) samples;
# ksm_shareable = the summed VSZ (KiB) of the QEMU processes (`pgrep qemu`),
# here the guests given as arguments; the rule runs every
# policy-engine-interval (10 s); its KSM controller (mom/Controllers/KSM.py)
# writes a knob only when the value differs from the one read, int() of it.
#
# MOM_FREE_PERCENT (default 0.20, the rule's ksm_free_percent) is the one
# knob: 1.0 forces the pressure branch (strategy mf), as KSM_THRES_COEF=100
# does for ksmtuned.
set -u
KSM=${KSM_SYSFS:-/sys/kernel/mm/ksm}
FREE_PERCENT=${MOM_FREE_PERCENT:-0.20}
HOST_INTERVAL=${MOM_HOST_INTERVAL:-5}
POLICY_INTERVAL=${MOM_POLICY_INTERVAL:-10}
HISTORY=${MOM_HISTORY:-10}
pids=("$@")
hist=()

collect() {
    awk '/^MemFree:/ {f += $2} /^Buffers:/ {f += $2} /^Cached:/ {f += $2}
         END {print f}' /proc/meminfo
}
mem_total() { awk '/^MemTotal:/ {print $2}' /proc/meminfo; }
shareable() {
    local s=0 v p
    for p in "${pids[@]}"; do
        v=$(ps -o vsz= -p "$p" 2>/dev/null) && s=$((s + v))
    done
    echo $s
}
control() {   # knob value: written only when it differs, as MOM's controller
    local v=$2
    [ "$(cat $KSM/$1)" = "$v" ] || echo "$v" > $KSM/$1
}

policy() {
    local avail committed thres avgfree n=0 sum=0 f cur newval
    avail=$(mem_total); committed=$(shareable)
    for f in "${hist[@]}"; do sum=$((sum + f)); n=$((n + 1)); done
    [ $n -gt 0 ] || return 0
    avgfree=$((sum / n))
    # floats as MOM computes them (Python); compared in awk
    thres=$(awk -v a="$avail" -v p="$FREE_PERCENT" 'BEGIN {printf "%.3f", a * p}')
    if awk -v t="$thres" -v c="$committed" -v a="$avail" -v f="$avgfree" \
           'BEGIN {exit !((t + c < a) && (f > t))}'; then
        control run 0
    else
        control run 1
        control sleep_millisecs $((10 * 16777216 / avail))
        cur=$(cat $KSM/pages_to_scan)
        if awk -v f="$avgfree" -v t="$thres" 'BEGIN {exit !(f < t)}'; then
            newval=$((cur + 300))
        else
            newval=$((cur - 50))
        fi
        [ $newval -gt 1250 ] && newval=1250
        [ $newval -lt 64 ] && newval=64
        control pages_to_scan $newval
    fi
}

trap 'exit 0' TERM INT
t=0
while :; do
    if [ $((t % HOST_INTERVAL)) = 0 ]; then
        hist+=("$(collect)")
        [ ${#hist[@]} -gt "$HISTORY" ] && hist=("${hist[@]:1}")
    fi
    [ $((t % POLICY_INTERVAL)) = 0 ] && policy
    sleep 1 & wait $!
    t=$((t + 1))
done
