#!/bin/bash
# Lab agent: every fill pattern checked from the host side (same pages are
# identical, zero pages are zero), a held working set OOM-killed by a later
# fill and reported as such, QMP events on the observer socket while the
# daemon's socket is used, free-page-reporting, kill and restart.
set -u
. "$(dirname "$0")/../guest/lab.sh"
fail() { echo "FAIL: $*"; exit 1; }

lab_require || exit $?
[ "$(id -u)" = 0 ] || { echo "skip: the lab agent test reads /proc/PID/mem and needs root"; exit 77; }

LAB_FPR=1 lab_start 1 256 3 || fail "g0 did not boot"
lab_start 1 256 4 || fail "g1 did not boot"

census() { lab_census "$1" | lab_json "[\"$2\"]"; }

# same: 16 MiB = 4096 identical pages in g0
out=$(lab_agent 0 fill 16 same) || fail "fill same: $out"
[[ $out == "fill id=1 pid="*" pages=4096 mib=16 pattern=same seed=3" ]] || fail "fill same replied '$out'"
copies=$(census 0 max_copies) || fail census
echo "g0 after 'fill 16 same': max_copies $copies"
[ "$copies" -ge 4096 ] || fail "same pages: only $copies copies of one page"

# zero: the zero-filled page count grows by the fill
z0=$(census 0 zero)
lab_agent 0 fill 16 zero >/dev/null || fail "fill zero"
z1=$(census 0 zero)
echo "g0 zero pages: $z0 before 'fill 16 zero', $z1 after"
[ $((z1 - z0)) -ge $((4096 * 9 / 10)) ] || fail "zero fill not seen"

# unique and image fills, list, free all
lab_agent 0 fill 8 unique >/dev/null || fail "fill unique"
lab_agent 0 fill 8 image 11 >/dev/null || fail "fill image"
n=$(lab_agent 0 list | grep -c 'state=alive')
[ "$n" = 4 ] || fail "list shows $n live fills, want 4"
lab_agent 0 free all >/dev/null || fail "free all"
[ -z "$(lab_agent 0 list)" ] || fail "fills left after free all"

# hold: a held working set, then a fill that does not fit; the OOM killer
# takes the larger process, the hold, and status says so
out=$(lab_agent 1 hold 120) || fail "hold: $out"
echo "g1: $out"
id=$(sed 's/^hold id=\([0-9]*\) .*/\1/' <<<"$out")
[ "$(lab_agent 1 status "$id")" = "id=$id state=alive" ] || fail "hold not alive"
out=$(lab_agent 1 fill 110 unique) || echo "g1: second fill: $out"
state=$(lab_agent 1 status "$id")
echo "g1 hold after the second fill: $state"
[ "$state" = "id=$id state=oom-killed" ] || fail "hold not reported oom-killed"
lab_agent 1 dmesg 200 | grep -q "Killed process" || fail "no OOM kill in the guest log"
out=$(lab_agent 1 fill 4000 unique); rc=$?
echo "g1 'fill 4000' in a 256 MiB guest: rc $rc, $out"
[ $rc = 1 ] && [[ $out == "error: mmap 4000 MiB: "* ]] || fail "refused mapping not reported"
lab_agent 1 free all >/dev/null || fail "free all in g1"
out=$(lab_agent 1 fill 210 unique); rc=$?
echo "g1 'fill 210' in a 256 MiB guest: rc $rc, $out"
[ $rc = 1 ] && [ "$out" = "error: killed by signal 9" ] || fail "OOM-killed fill not reported"

# QMP: the daemon's socket and the observer's are independent
lab_qmp_wait 0 BALLOON_CHANGE 30 >"$LAB_DIR/event" &
waiter=$!
sleep 1
"$LAB_PYTHON" "$LAB_HERE/labio.py" qmp "${LAB_QMP[0]}" \
    '{"execute":"balloon","arguments":{"value":201326592}}' >/dev/null || fail "balloon on LAB_QMP"
wait $waiter || fail "no BALLOON_CHANGE event on the observer socket"
echo "event: $(cat "$LAB_DIR/event")"
lab_wait_balloon 0 192 30 || fail "balloon to 192 MiB"
fpr=$(lab_qmp 0 '{"execute":"qom-get","arguments":{"path":"/machine/peripheral/balloon0","property":"free-page-reporting"}}' |
    lab_json '["return"]') || fail "qom-get free-page-reporting"
[ "$fpr" = True ] || fail "LAB_FPR=1 guest has free-page-reporting=$fpr"

# kill and restart
old=${LAB_PID[1]}
lab_kill 1
[ -z "${LAB_PID[1]}" ] && [ ! -d "/proc/$old" ] || fail "lab_kill left PID $old"
lab_restart 1 || fail "restart"
[ "$(lab_agent 1 ping)" = "pong name=g1 seed=4" ] || fail "ping after restart"
[ -z "$(lab_agent 1 list)" ] || fail "fills survived a restart"
echo "g1 restarted in ${LAB_BOOT_SEC[1]} s as PID ${LAB_PID[1]}"

pids="${LAB_PID[*]}"
lab_stop
for pid in $pids; do [ -d "/proc/$pid" ] && fail "QEMU PID $pid left"; done
echo "pass: lab agent"
