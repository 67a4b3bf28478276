#!/bin/bash
# demo.sh — ksmd live on three real QEMU guests (`make demo`).
#
# What it shows. Three lab guests (tests/guest/) boot: g0 and g1 from the
# same "image" seed, g2 from another, together more memory than the budget
# the demo gives ksmd. ksmd starts with the repository's ksmd.conf plus an
# overlay (scripts/demo.conf.in: a control socket and state file in a
# temporary folder, a stats address, a short pass interval, the guests and
# policy.budget below their total). The guests' agents then play a script:
#   t = 0        (once ksmd's first scanner pass and two policy ticks are
#                done) every guest fills memory with duplicate content: g0 and g1
#                the same pages (seed 7), g2 its own pages plus one page
#                repeated; ksmd's scanner finds the duplicates and paces KSM,
#                and the policy balloons the guests down toward the budget;
#   t = 40% of the run   g2 starts allocating (an agent `hold`, sized from
#                its MemAvailable so that it runs short but is never OOM):
#                ksmd sees it in distress and gives it memory back, taking it
#                from the others (never below their floor, DEMO_MIN_MIB);
#   t = 65%      g2 allocates a second time, same rule.
# The live view is `ksmdctl top` (full screen on a terminal; on a pipe or a
# log, one plain frame every DEMO_FRAME seconds) with the demo's last step
# and the policy's latest decisions under it.
#
# The end. After DEMO_SECONDS (default 180) or on Ctrl-C (or 'q'), a
# summary: memory saved by merging (KSM pages_sharing, beside the scanner's
# prediction and the guests' own merged pages), by ballooning (sum of max -
# actual over the guests), guest OOMs (the agents' reports and the guests'
# kernel logs), host swap-outs (/proc/vmstat pswpout delta), whether the
# limit held (the guests' memory in swap, sampled every second, and the
# cgroup's OOM kills) and why not where it did not (ksmd's own words at the
# worst moment), the guests' cost against the limit, the QEMU PIDs checked
# gone, /sys/kernel/mm/ksm back as it was. Exit status 0 when there was no
# OOM, the limit held (without a limit: no swap, the cost within the budget)
# and nothing was left behind, 1 otherwise, 77 when the lab cannot run here.
#
# On libvirt (`make demo-libvirt`, or DEMO_LIBVIRT=1): the same guests are
# domains a real libvirtd runs (tests/guest/libvirt.sh starts one when none
# answers on qemu:///system, and stops it after), named ksmd-demo-g0..2;
# ksmd's overlay has a [libvirt] section instead of the guests' QMP
# sockets, and each frame shows `virsh list` and `virsh dommemstat` beside
# `ksmdctl top`. libvirt puts each QEMU in a cgroup of its own, so this
# variant runs without the common limit: its budget is host memory.
#
# Packages: deps/*.txt (`make deps`; jq and iproute2 from deps/demo.txt).
# Settings (environment): DEMO_SECONDS (180), DEMO_GUEST_MIB (320),
# DEMO_LIMIT_MIB (five sixths of the guests' memory: under TCG each guest's
# QEMU and booted kernel keep about 250 MiB resident that no manager can
# take, and at four fifths the three booted guests alone sometimes passed
# the limit before ksmd started; DEMO_BUDGET_MIB is
# taken as its old name): the memory cgroup limit the guests run under, with
# zram swap behind it, and ksmd's budget (cgroup:PATH); where no cgroup or
# swap device can be had, a budget of that much host memory, DEMO_MIN_MIB (each
# guest's floor, 5/8 of its memory: room for its fill), DEMO_FRAME (seconds
# between frames when not on a terminal; 10), DEMO_PORT (first stats port
# tried; 9403), KSMD_BUILD (build folder of ksmd and ksmdctl; build),
# DEMO_KEEP=1 keeps the temporary folder (config, ksmd log).
set -uo pipefail
. "$(dirname "$0")/../tests/lib/common.sh"

DEMO_SECONDS=${DEMO_SECONDS:-180}
DEMO_GUEST_MIB=${DEMO_GUEST_MIB:-320}
DEMO_LIMIT_MIB=${DEMO_LIMIT_MIB:-${DEMO_BUDGET_MIB:-$((DEMO_GUEST_MIB * 3 * 5 / 6))}}
DEMO_MIN_MIB=${DEMO_MIN_MIB:-$((DEMO_GUEST_MIB * 5 / 8))}
DEMO_FRAME=${DEMO_FRAME:-10}
NG=3
DEMO_LIBVIRT=${DEMO_LIBVIRT:-0}

say() { printf 'demo: %s\n' "$*"; }
die() { printf 'demo: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (it boots guests and drives /sys/kernel/mm/ksm)"
[ -w $KSM/run ] || { echo "skip: $KSM is not writable (KSM not built in?)"; exit 77; }
[ -x "$KSMD" ] && [ -x "$KSMDCTL" ] || die "build $KSMD and $KSMDCTL first (make)"
command -v jq >/dev/null || die "jq is missing (make deps)"
[ -r "$ROOT/ksmd.conf" ] || die "$ROOT/ksmd.conf is missing"

TTY=0
[ -t 1 ] && TTY=1

# ---- the lab: guests die with this shell; lab.sh owns the EXIT trap ----
source "$ROOT/tests/guest/lab.sh"
lab_atexit _run_cleanups
ksm_save
cleanup_add ksm_restore
T=$(mktemp -d /tmp/ksmd-demo.XXXXXX)
cleanup_add '[ "${DEMO_KEEP:-0}" = 1 ] || rm -rf "$T"'
SWAP0=$(awk '$1=="pswpout"{print $2}' /proc/vmstat)

say "preparing the lab (QEMU, guest image; the first run downloads a Debian kernel)"
lab_require
rc=$?
[ $rc = 77 ] && exit 77
[ $rc = 0 ] || die "the lab guests cannot run"
# A real limit, as on a host: the guests run in a memory cgroup limited to
# DEMO_LIMIT_MIB with swap behind it, and ksmd's budget is that limit. Where
# no cgroup or swap device can be had, the demo says so and runs without.
LIMIT=none
if [ "$DEMO_LIBVIRT" = 1 ]; then
    source "$ROOT/tests/guest/libvirt.sh"
    ( lv_require ) >"$T/lv.out" 2>&1 || { sed -n 's/^SKIP: /skip: /p' "$T/lv.out"; exit 77; }
    BUDGET="${DEMO_LIMIT_MIB}M"
    say "libvirt: no common limit (libvirt gives each QEMU a cgroup of its own): the budget is $DEMO_LIMIT_MIB MiB of host memory"
elif lab_swap "$DEMO_LIMIT_MIB" >"$T/swap.out" && lab_limit "$DEMO_LIMIT_MIB" >"$T/limit.out"; then
    LIMIT=cgroup
    BUDGET="cgroup:$LAB_CGROUP_PATH"
    say "a real limit: the guests run in memory cgroup $LAB_CGROUP, limited to $DEMO_LIMIT_MIB MiB, swap on /dev/zram0 behind it"
else
    _lab_swap_remove
    BUDGET="${DEMO_LIMIT_MIB}M"
    say "no real limit here ($(cat "$T/swap.out" "$T/limit.out" 2>/dev/null | sed -n 's/^skip: //p' | head -n 1)): the budget is $DEMO_LIMIT_MIB MiB of host memory"
fi
say "booting 3 guests of $DEMO_GUEST_MIB MiB with $LAB_ACCEL: g0 and g1 from image seed 7, g2 from seed 9"
if [ "$DEMO_LIBVIRT" = 1 ]; then
    cleanup_add lv_stop
    lv_daemon_start
    seeds=(7 7 9)
    for i in 0 1 2; do
        lv_define ksmd-demo-g$i "$DEMO_GUEST_MIB" "${seeds[$i]}" || die "libvirt cannot start ksmd-demo-g$i"
    done
    for i in 0 1 2; do
        lv_wait_ready ksmd-demo-g$i || die "ksmd-demo-g$i did not boot"
        LAB_AGENT[$i]=$LV_DIR/ksmd-demo-g$i.agent
        LAB_PID[$i]=$(lv_pid ksmd-demo-g$i)
    done
    say "libvirt runs them: $(virsh_ list --name | grep -c '^ksmd-demo-') domains, QEMU as user $(ps -o user= -p "${LAB_PID[0]}")"
else
    lab_start 3 "$DEMO_GUEST_MIB" 7 7 9 || die "the guests did not boot"
fi
PIDS=("${LAB_PID[@]}")
# balloon_mib I: guest I's balloon size now, in MiB
balloon_mib() {
    if [ "$DEMO_LIBVIRT" = 1 ]; then
        local k
        k=$(lv_actual_kib ksmd-demo-g$1) && [ -n "$k" ] && echo $((k / 1024))
    else
        lab_balloon_actual "$1"
    fi
}

# ---- ksmd: ksmd.conf + the demo's overlay ----
PORT=${DEMO_PORT:-9403}
while command -v ss >/dev/null && ss -Hltn "sport = :$PORT" | grep -q .; do PORT=$((PORT + 1)); done
sed -e "s|@DIR@|$T|g" -e "s|@BUDGET@|$BUDGET|" -e "s|@PORT@|$PORT|" -e "s|@MIN@|${DEMO_MIN_MIB}M|" \
    -e "s|@QMP0@|${LAB_QMP[0]:-}|" -e "s|@QMP1@|${LAB_QMP[1]:-}|" -e "s|@QMP2@|${LAB_QMP[2]:-}|" \
    "$ROOT/scripts/demo.conf.in" >"$T/demo.conf"
if [ "$DEMO_LIBVIRT" = 1 ]; then
    # the domains, through libvirt: their sections keep only the floors
    sed -i -e '/^qmp = /d' -e 's/^\[guest g\([0-9]\)\]/[guest ksmd-demo-g\1]/' "$T/demo.conf"
    printf '\n[libvirt]\nuri = %s\ndomains = ksmd-demo-*\n' "$LV_URI" >>"$T/demo.conf"
fi
KSMD_SOCK=$T/ksmd.sock
KSMD_LOG=$T/ksmd.log
URL=http://127.0.0.1:$PORT
# its own session: a Ctrl-C on the terminal must not reach it before the summary
setsid "$KSMD" -f -c "$ROOT/ksmd.conf" -c "$T/demo.conf" >>"$KSMD_LOG" 2>&1 </dev/null &
KSMD_PID=$!
cleanup_add ksmd_stop
for i in $(seq 100); do
    ctl status >/dev/null 2>&1 && break
    kill -0 $KSMD_PID 2>/dev/null || { tail -n 20 "$KSMD_LOG"; die "ksmd exited at start"; }
    sleep 0.1
done
ctl status >/dev/null 2>&1 || die "ksmd did not answer on $KSMD_SOCK"
say "ksmd runs (PID $KSMD_PID): $KSMD -f -c ksmd.conf -c $T/demo.conf"
say "limit $DEMO_LIMIT_MIB MiB ($LIMIT) for $((DEMO_GUEST_MIB * NG)) MiB of guests; stats: $URL/v1/stats  $URL/metrics"
say "control: $KSMDCTL -s $KSMD_SOCK status|top|decisions"
# The tenants start their work once ksmd runs, as on a host where ksmd is a
# service: its first scanner pass done and two policy ticks taken (at most
# 10 s). Started together, the fills raced ksmd's very first decisions and
# the limit held or not by a second.
for i in $(seq 100); do
    st=$(ctl --json status 2>/dev/null) &&
        [ "$(jq '.scanner.passes // 0' <<<"$st")" -ge 1 ] && [ "$(jq '.policy.tick // 0' <<<"$st")" -ge 2 ] && break
    sleep 0.1
done
say "ksmd is running (scanner pass $(ctl --json status | jq '.scanner.passes // 0'), policy tick $(ctl --json status | jq '.policy.tick // 0')): the guests start their work"

# ---- the script the guests play (a background driver) ----
EV=$T/events
: >"$EV"
T0=$(date +%s)
event() { printf '%4ds  %s\n' $(($(date +%s) - T0)) "$*" >>"$EV"; }
# agent I CMD...: run an agent command; stops at once with the driver
agent() {
    local out rc
    lab_agent "$@" >"$T/agent.out" 2>&1 &
    _child=$!
    wait $_child
    rc=$?
    _child=
    out=$(head -n 1 "$T/agent.out")
    [ $rc = 0 ] || event "g$1: '${*:2}' failed ($rc): $out"
    return $rc
}
# hold_short I: make guest I allocate until it runs short (not out) of
# memory, in chunks of at most 48 MiB each sized from a fresh MemAvailable:
# it stops 20 MiB above nothing (under the overlay's distress level, 10% of
# 320 MiB), or 36 MiB while the balloon may still take memory before the
# guest's floor (a shrink can land while the chunk is being allocated).
hold_short() {
    local i=$1 avail actual mib margin total=0 n
    event "g$i starts allocating (a working set, in chunks, until it runs short of memory)"
    for n in 1 2 3 4 5 6; do
        avail=$(lab_agent "$i" meminfo 2>/dev/null | awk '$1=="MemAvailable:"{print int($2/1024)}')
        actual=$(balloon_mib "$i")
        [ -n "$avail" ] && [ -n "$actual" ] || { event "g$i: no meminfo or balloon"; return 1; }
        margin=20
        [ "$actual" -gt $((DEMO_MIN_MIB + 8)) ] && margin=36
        mib=$((avail - margin))
        [ $mib -gt 48 ] && mib=48
        [ $mib -ge 4 ] || break
        agent "$i" hold "$mib" || break
        total=$((total + mib))
        event "g$i holds $total MiB (it had $avail MiB available in $actual MiB)"
        sleep 2
    done
}
driver() {
    _child=
    trap '[ -n "$_child" ] && kill $_child 2>/dev/null; exit 0' TERM
    event "filling duplicate content: g0 and g1 96 MiB of image 7 each, g2 64 MiB of image 9 + 32 MiB of one page"
    agent 0 fill 96 image
    agent 1 fill 96 image
    agent 2 fill 64 image
    agent 2 fill 32 same
    event "filled; the scanner finds the duplicates, KSM merges them, balloons shrink toward the budget"
    local t
    for t in $((DEMO_SECONDS * 40 / 100)) $((DEMO_SECONDS * 65 / 100)); do
        while [ $(($(date +%s) - T0)) -lt $t ]; do sleep 1; done
        hold_short 2
    done
    while :; do sleep 1; done
}
driver &
DRIVER=$!
cleanup_add "kill $DRIVER 2>/dev/null; wait $DRIVER 2>/dev/null"

# ---- the live view ----
# From here Ctrl-C ends the demo with a summary. On a terminal the keys are
# read by the demo itself (no signals from the keyboard: QEMU would quit on
# SIGINT before it could be measured); elsewhere SIGINT/SIGTERM set STOP.
STOP=0
trap 'STOP=1' INT TERM
KEYS=0
if [ -t 0 ] && STTY=$(stty -g 2>/dev/null); then
    KEYS=1
    cleanup_add "stty '$STTY' 2>/dev/null"
    # no signals from the keyboard, and a read returns after 1 s without a key
    stty -isig -icanon -echo min 0 time 10 2>/dev/null || KEYS=0
fi
# pause S: wait S seconds, or less when q or Ctrl-C is pressed. (Not bash's
# `read -n`: it puts the terminal back into a mode where Ctrl-C signals.)
pause() {
    local key n
    if [ $KEYS = 1 ]; then
        for ((n = 0; n < $1; n++)); do
            key=$(dd bs=1 count=1 2>/dev/null)
            case $key in q | Q | $'\x03') STOP=1; return ;; esac
        done
    else
        sleep "$1"
    fi
}
COLS=${COLUMNS:-$([ $TTY = 1 ] && tput cols 2>/dev/null || echo 160)}
frame() {
    local el=$(($(date +%s) - T0))
    printf 'ksmd demo  %ds of %ds  limit %d MiB, guests 3 x %d MiB  stats %s/v1/stats  (%s)\n' \
        "$el" "$DEMO_SECONDS" "$DEMO_LIMIT_MIB" "$DEMO_GUEST_MIB" "$URL" \
        "$([ $KEYS = 1 ] && echo "q or Ctrl-C ends" || echo "SIGINT ends")"
    printf 'step %s\n\n' "$(tail -n 1 "$EV" | sed 's/^ *//')"
    COLUMNS=$COLS ctl top -n 1 </dev/null 2>&1
    echo
    if [ "$DEMO_LIBVIRT" = 1 ]; then
        echo "libvirt (virsh list; virsh dommemstat: actual, usable, rss):"
        virsh_ list 2>/dev/null | grep ksmd-demo- | sed 's/^/  /'
        local i
        for i in 0 1 2; do
            virsh_ dommemstat ksmd-demo-g$i 2>/dev/null |
                awk -v n=ksmd-demo-g$i '{ v[$1] = $2 } END { printf "  %-14s actual %4d MiB  usable %4d MiB  rss %4d MiB\n", n, v["actual"]/1024, v["usable"]/1024, v["rss"]/1024 }'
        done
        echo
    fi
    echo "latest decisions:"
    ctl --json decisions 2>/dev/null | jq -r '[if type == "array" then .[] else .decisions[]? end] | sort_by(.time) | .[-4:][]
        | "\(.time | floor | strflocaltime("%H:%M:%S"))  \(.target)  \(.action)  \(.reason)"' |
        cut -c1-"$COLS"
}
# merged: the guests' own merged pages now (ksm_stat); PEAK_MERGED the most seen
PEAK_MERGED=0
merged() {
    local i v sum=0
    for i in 0 1 2; do
        v=$(ksm_stat "${PIDS[$i]}" ksm_merging_pages)
        sum=$((sum + ${v:-0}))
    done
    [ $sum -gt $PEAK_MERGED ] && PEAK_MERGED=$sum
    echo $sum
}
# sample_limit: the guests' memory in swap, and ksmd's word at the worst moment
SWAP_PEAK=0 OVER_S=0 WORST=
sample_limit() {
    [ $LIMIT = cgroup ] || return 0
    local u s o k
    read -r u s o k < <(lab_cgroup_stat)
    [ "$s" -gt 0 ] && OVER_S=$((OVER_S + 1))
    if [ "$k" -gt $SWAP_PEAK ]; then
        SWAP_PEAK=$k
        WORST=$(ctl --json status 2>/dev/null | jq -r '.policy.host_reason // empty')
    fi
}
shown=0
last=-1000
while [ $STOP = 0 ] && [ $(($(date +%s) - T0)) -lt "$DEMO_SECONDS" ]; do
    kill -0 $KSMD_PID 2>/dev/null || { tail -n 20 "$KSMD_LOG"; say "ksmd exited"; break; }
    merged >/dev/null
    sample_limit
    if [ $TTY = 1 ]; then
        f=$(frame)
        printf '\033[H\033[2J%s\n' "$f"
        pause 2
    else
        # the driver's steps as they happen, a frame every DEMO_FRAME s
        n=$(wc -l <"$EV")
        [ "$n" -gt $shown ] && { sed -n "$((shown + 1)),${n}p" "$EV" | sed 's/^/step /'; shown=$n; }
        now=$(date +%s)
        if [ $((now - last)) -ge "$DEMO_FRAME" ]; then
            echo "---- $(date +%T)"
            frame
            last=$now
        fi
        pause 1
    fi
done
trap - INT TERM
[ $KEYS = 1 ] && stty "$STTY" 2>/dev/null
[ $TTY = 1 ] && echo
el=$(($(date +%s) - T0))
kill $DRIVER 2>/dev/null
wait $DRIVER 2>/dev/null

# ---- the summary: measure before anything stops ----
say "ending after ${el}s; measuring"
S=$("$KSMDCTL" -s "$KSMD_SOCK" --json status 2>/dev/null)
[ -n "$S" ] || S='{}'
SHARING=$(echo "$S" | jq '.ksm.pages_sharing // 0')
[ "$SHARING" -gt 0 ] 2>/dev/null || SHARING=$(cat $KSM/pages_sharing)
PRED=$(echo "$S" | jq '.scanner.predicted_mergeable_pages // 0')
MERGING=$(merged)
[ "$MERGING" -gt $PEAK_MERGED ] && PEAK_MERGED=$MERGING
BAL=$(echo "$S" | jq '[.guests[]? | select(.mem_max_bytes and .balloon_actual_bytes)
    | .mem_max_bytes - .balloon_actual_bytes] | add // 0')
BALS=$(echo "$S" | jq -r '[.guests[]? | "\(.name) \(.mem_max_bytes / 1048576 | floor)->\(.balloon_actual_bytes / 1048576 | floor) MiB"] | join(", ")')
OOMS=0 OOMWHO=
for i in 0 1 2; do
    a=$(lab_agent "$i" list 2>/dev/null | grep -c 'state=oom-killed')
    k=$(lab_agent "$i" dmesg 2000 2>/dev/null | grep -i 'out of memory')
    [ -n "$k" ] && echo "g$i kernel: $k"
    k=$(echo -n "$k" | grep -c .)
    [ "${k:-0}" -gt "${a:-0}" ] && a=$k
    OOMS=$((OOMS + ${a:-0}))
    [ "${a:-0}" -gt 0 ] && OOMWHO+=" g$i: $a;"
done

SWAP_END=0 CG_OOM=0
if [ $LIMIT = cgroup ]; then
    sample_limit
    read -r _ _ CG_OOM SWAP_END < <(lab_cgroup_stat)
fi
USED=$(echo "$S" | jq '.policy.guest_used_bytes // 0')
BUDGET_B=$(echo "$S" | jq '.host.budget_bytes // 0')

# ---- teardown: ksmd (it restores KSM), the safety net, the guests ----
ksmd_stop
KRC=$?
RESTORED=no
grep -q "KSM: settings restored" "$KSMD_LOG" && RESTORED="yes (by ksmd at exit)"
ksm_restore
# the safety net's check: another KSM driver on this host may change them too
diff=
for k in "${!_ksm_saved[@]}"; do
    v=$(cat $KSM/$k)
    [ "$v" = "${_ksm_saved[$k]}" ] || diff+=" $k=$v (was ${_ksm_saved[$k]})"
done
[ -n "$diff" ] && RESTORED+="; now differs:$diff"
lab_stop 2>/dev/null
[ "$DEMO_LIBVIRT" = 1 ] && lv_stop
left=()
for p in "${PIDS[@]}"; do
    [ -n "$p" ] && kill -0 "$p" 2>/dev/null &&
        [ -z "$(awk '/^State:/ && $2 == "Z"' /proc/$p/status 2>/dev/null)" ] && left+=("$p")
done
SWAP=$(($(awk '$1=="pswpout"{print $2}' /proc/vmstat) - SWAP0))

mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
echo
echo "==== ksmd demo summary: ${el}s live, 3 guests of $DEMO_GUEST_MIB MiB$([ "$DEMO_LIBVIRT" = 1 ] && echo " (libvirt domains)"), limit $DEMO_LIMIT_MIB MiB ($LIMIT) ===="
# the guests' share of KSM's savings: pages_sharing counts other KSM users
# too, the guests' merged pages count each shared page's first copy as well;
# neither is below the share, so the smaller of the two
SAVED=$SHARING
[ "$MERGING" -lt "$SAVED" ] && SAVED=$MERGING
echo "saved by merging: $(mib $((SAVED * 4096))) (the smaller of KSM pages_sharing $SHARING, host-wide, and the guests' merged pages $MERGING, $PEAK_MERGED at most; the scanner predicted $PRED pages)"
echo "saved by ballooning: $(mib "$BAL") (sum of max - actual: $BALS)"
echo "guest OOMs: $OOMS${OOMWHO:+ (${OOMWHO% ;})}"
echo "host swap: $SWAP pages swapped out (/proc/vmstat pswpout delta)"
if [ $LIMIT = cgroup ]; then
    # held: no OOM kill, and under 1 MiB of the guests' memory ever in swap
    HELD=yes
    { [ "$SWAP_PEAK" -ge 1024 ] || [ "$CG_OOM" != 0 ]; } && HELD=no
    echo "limit held: $HELD (guest memory in swap: peak $SWAP_PEAK KiB, end $SWAP_END KiB; $OVER_S s with 1 MiB or more in swap; cgroup OOM kills $CG_OOM)"
    [ $HELD = no ] && echo "why not: at the worst moment ksmd said: ${WORST:-nothing}"
fi
if [ $LIMIT = cgroup ]; then
    echo "guests' cost at the end: $(mib "$USED") against the limit $DEMO_LIMIT_MIB MiB (ksmd aims $(mib "$BUDGET_B") at most, keeping policy.limit_headroom_percent for bursts)"
else
    echo "guests' cost at the end: $(mib "$USED") against ksmd's budget $(mib "$BUDGET_B")"
fi
echo "QEMU left: ${#left[@]} (PIDs ${PIDS[*]}${left[*]:+; alive: ${left[*]}})"
echo "KSM settings restored: $RESTORED"
echo "ksmd exit status: $KRC"
fights=$(grep -c "changed behind ksmd's back" "$KSMD_LOG")
[ "$fights" -gt 0 ] && echo "note: another program changed /sys/kernel/mm/ksm $fights times during the demo (see the ksmd log): KSM's pacing and host-wide counters were not ksmd's alone"
[ "${DEMO_KEEP:-0}" = 1 ] && echo "kept: $T (demo.conf, ksmd.log)"
ok=1
[ "$OOMS" = 0 ] && [ ${#left[@]} = 0 ] && [ "${RESTORED#yes}" != "$RESTORED" ] || ok=0
if [ $LIMIT = cgroup ]; then
    # the limit held, and the guests end within it
    [ "$HELD" = yes ] && [ "$USED" -le $((DEMO_LIMIT_MIB * 1048576)) ] || ok=0
else
    [ "$SWAP" = 0 ] && [ "$USED" -le "$BUDGET_B" ] || ok=0
fi
[ $ok = 1 ] && exit 0
if [ "${DEMO_KEEP:-0}" != 1 ] && cp "$KSMD_LOG" /tmp/ksmd-demo-last.log 2>/dev/null; then
    echo "ksmd log: /tmp/ksmd-demo-last.log"
fi
exit 1
