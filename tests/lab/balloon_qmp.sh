#!/bin/bash
# Lab test of ksmd's QMP balloon backend against real QEMU guests, through
# qmp-probe (tests/lab/balloon_qmp_probe.c: the backend in an epoll loop
# wired the way the daemon wires it). Asserts:
#   1. a target set through QMP reaches `actual` (seen on the observer socket)
#   2. query-balloon and the guest's own MemTotal agree: the guest's MemTotal
#      falls by the ballooned amount within 5% (MemTotal itself is always
#      lower than `actual` by the kernel's reserved memory)
#   3. guest stats are read every polling interval, fresh
#   4. a second client on a held QMP socket is reported busy, not fought over
#   5. killing one QEMU leaves the client of the other working; restarting
#      it reconnects
# Skips (77) only when the lab cannot run here.
set -u
. "$(dirname "$0")/../guest/lab.sh"
fail() { echo "FAIL: $*"; exit 1; }

B=${KSMD_BUILD:-build}
lab_require || exit $?
make -s -C "$LAB_ROOT" B="$B" qmp-probe >/dev/null || fail "cannot build qmp-probe"
PROBE=$LAB_ROOT/$B/balloon/qmp-probe
[ -x "$PROBE" ] || fail "no $PROBE"

lab_start 2 256 || fail "guests did not boot"
echo "boot: g0 ${LAB_BOOT_SEC[0]} s, g1 ${LAB_BOOT_SEC[1]} s ($LAB_ACCEL)"
memtotal() { lab_agent "$1" meminfo | awk '/^MemTotal:/ {print $2}'; }   # KiB

# 1 + 2: set 160 MiB through the backend; actual and MemTotal follow.
a0=$(lab_balloon_actual 0); mt0=$(memtotal 0)
out=$("$PROBE" -R 20 -t 160M -w 60 "${LAB_QMP[0]}" 2>&1) || { echo "$out"; fail "target not reached"; }
echo "$out" | grep -E '^(ready|target|final)'
a1=$(lab_balloon_actual 0)
[ "$a1" = 160 ] || fail "observer sees actual $a1 MiB, want 160"
sleep 1
mt1=$(memtotal 0)
drop_b=$(( (a0 - a1) * 1024 )); drop_g=$((mt0 - mt1))
echo "actual $a0 -> $a1 MiB (-$drop_b KiB); guest MemTotal $mt0 -> $mt1 KiB (-$drop_g KiB)"
awk -v b="$drop_b" -v g="$drop_g" 'BEGIN { d = g - b; if (d < 0) d = -d; exit !(d <= 0.05 * b) }' ||
    fail "MemTotal drop $drop_g KiB differs from the balloon's $drop_b KiB by more than 5%"

# 3: stats every polling interval (2 s) over 9 s, fresh.
out=$("$PROBE" -R 20 -i 2 -W 9 "${LAB_QMP[0]}" 2>&1) || { echo "$out"; fail "stats watch"; }
nstats=$(echo "$out" | grep -c '^stats .* free=')
maxage=$(echo "$out" | grep '^stats ' | tail -n +2 | sed 's/.*age_ms=\([0-9]*\).*/\1/' | sort -n | tail -1)
echo "stats: $nstats samples in 9 s at a 2 s interval, max age after the first ${maxage:-?} ms"
echo "$out" | grep '^stats ' | tail -1
[ "$nstats" -ge 4 ] || fail "only $nstats stats samples"
[ -n "$maxage" ] && [ "$maxage" -le 4500 ] || fail "stale stats (age ${maxage:-?} ms)"
echo "$out" | grep '^stats ' | tail -1 | grep -q 'total=' || fail "no total in the stats"

# 4 + 5: one long-running client on both guests.
log=$LAB_DIR/probe.log
"$PROBE" -R 30 -i 1 -W 150 "${LAB_QMP[0]}" "${LAB_QMP[1]}" >"$log" 2>&1 &
probe_pid=$!
lab_atexit "kill $probe_pid 2>/dev/null; wait $probe_pid 2>/dev/null"
wait_log() {  # wait_log REGEX SECONDS
    local end=$(($(date +%s) + $2))
    while ! grep -qE "$1" "$log"; do
        [ "$(date +%s)" -ge "$end" ] && return 1
        kill -0 "$probe_pid" 2>/dev/null || return 1
        sleep 0.5
    done
}
wait_log '^ready name=p1 ' 30 || { cat "$log"; fail "probe not ready on both guests"; }
wait_log '^ready name=p0 ' 5 || { cat "$log"; fail "probe not ready on g0"; }

out=$("$PROBE" -R 4 "${LAB_QMP[0]}" 2>&1); rc=$?
echo "$out" | grep -E '^notready'
[ $rc != 0 ] && echo "$out" | grep -q '^notready name=p0 .*state=busy' ||
    fail "second client on a held socket not reported busy: $out"

before=$(grep -c '^stats name=p0 ' "$log")
lab_kill 1
wait_log '^state name=p1 .*state=gone' 10 || { cat "$log"; fail "g1's death not noticed"; }
grep '^state name=p1 .*state=gone' "$log" | head -1
sleep 5
after=$(grep -c '^stats name=p0 ' "$log")
echo "g0 stats samples while g1 was dead: $((after - before))"
[ $((after - before)) -ge 3 ] || fail "g0's client stalled when g1 died"
grep -q '^state name=p0 .*state=gone' "$log" && fail "g0 marked gone"

ready_before=$(grep -c '^state name=p1 .*state=ready' "$log")
lab_restart 1 || fail "restart of g1"
end=$(($(date +%s) + 60))
while [ "$(grep -c '^state name=p1 .*state=ready' "$log")" -le "$ready_before" ]; do
    [ "$(date +%s)" -ge "$end" ] && { cat "$log"; fail "no reconnect to g1"; }
    sleep 0.5
done
grep '^state name=p1 .*state=ready' "$log" | tail -1
grep -q "pid=${LAB_PID[1]} " "$log" || fail "reconnected client does not report the new QEMU pid ${LAB_PID[1]}"
echo "g1 reconnected to the restarted QEMU (pid ${LAB_PID[1]})"
kill "$probe_pid" 2>/dev/null; wait "$probe_pid" 2>/dev/null
echo "PASS"
exit 0
