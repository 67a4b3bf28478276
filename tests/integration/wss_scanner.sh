#!/bin/bash
# ksmd's own scanner does not show up in a guest's host-side working set.
# The scanner's reads mark every page they read accessed (get_user_pages
# with FOLL_TOUCH), which is what the working-set sample counts (smaps
# Referenced after clear_refs). A plain-process guest holds 64 MiB and
# touches none of it; ksmd samples its working set every second and scans
# it every 3 s. Every sample published over 15 s (five passes) must stay
# far below the 64 MiB the scanner reads, and samples must keep coming.
# Then the cycle's CPU bound (policy.host_wss_cpu_percent) spaces the
# cycles out, live, and gives the period back.
set -u
cd "$(dirname "$0")/../.." || exit 2
. tests/scanner_lib.bash
scanner_test_init

T=$(mktemp -d /tmp/ksmd-wss-scan.XXXXXX)
cleanup_add "rm -rf $T"
memhog_start 0 0 0 16384 0 0 0 4
pid=$HOG_PID

cat > "$T/ksmd.conf" <<EOF
[daemon]
control_socket = $T/ksmd.sock
tick = 250ms
[scanner]
pass_interval = 3s
# a pass every interval, quiet or not: the test counts passes
pass_interval_max = 0
[ksm]
manage = no
[policy]
host_wss_interval = 1s
[guest idle]
pid = $pid
EOF
cleanup_add ksmd_stop
ksmd_start "$T/ksmd.conf"
g='.guests[] | select(.name=="idle")'
passes() { snap '.scanner.passes'; }
wait_for 20 "a first working-set sample and scanner pass" \
    snap_true "($g | .host_active_bytes != null) and (.scanner.passes // 0) >= 1"

p0=$(passes)
max=0 n=0 ages=0
end=$((SECONDS + 15))
while [ $SECONDS -lt $end ]; do
    b=$(snap "$g | .host_active_bytes // 0")
    a=$(snap "$g | .host_active_age_seconds // 99")
    [ "$b" -gt "$max" ] && max=$b
    awk -v a="$a" 'BEGIN { exit !(a > 3.5) }' && ages=$((ages + 1))
    n=$((n + 1))
    sleep 0.25
done
p1=$(passes)
echo "scanner passes: $((p1 - p0)) in 15 s; $n looks at the guest's working set: largest $((max / 1024)) KiB, $ages older than 3.5 s"
[ $((p1 - p0)) -ge 3 ] || fail "the scanner made only $((p1 - p0)) passes in 15 s"
[ "$max" -lt $((8 * 1024 * 1024)) ] ||
    fail "the idle guest's working set reached $((max / 1024)) KiB: the scanner's reads counted as the guest's"
[ "$ages" -eq 0 ] || fail "the working-set sample went stale ($ages looks older than 3.5 s with a 1 s interval)"
pass_msg "the scanner's reads stay out of the working set, samples keep coming"

# The CPU bound (policy.host_wss_cpu_percent, live): the cycle of this
# 64 MiB guest costs some CPU (measured, in the snapshot); with a bound far
# below it a cycle starts once in 10 minutes (its cap), and every 1 s again at 1%.
cpu=$(snap "$g | .host_wss_cpu_seconds // 0")
awk -v c="$cpu" 'BEGIN { exit !(c > 0 && c < 1) }' || fail "a cycle's CPU time is '$cpu' s"
snap_true "$g | .host_active_period_seconds == 1" ||
    fail "the period is $(snap "$g | .host_active_period_seconds") s, not the configured 1 s interval"
check "set policy.host_wss_cpu_percent 0.00001" "$KSMDCTL" -s "$KSMD_SOCK" set policy.host_wss_cpu_percent 0.00001
wait_for 5 "a cycle of ${cpu} s over 0.00001% of a core starts once in 600 s" \
    snap_true "$g | .host_active_period_seconds == 600"
# the samples stop coming while the period lasts (a cycle under way may end first)
sleep 2
a0=$(snap "$g | .host_active_age_seconds")
sleep 3
awk -v a="$(snap "$g | .host_active_age_seconds")" -v b="$a0" 'BEGIN { exit !(a >= b + 2) }' ||
    fail "a sample came within the 600 s period (age $a0 s, then $(snap "$g | .host_active_age_seconds") s)"
check "set policy.host_wss_cpu_percent 1" "$KSMDCTL" -s "$KSMD_SOCK" set policy.host_wss_cpu_percent 1
wait_for 10 "at 1% of a core the cycle starts every 1 s again, and samples come" \
    snap_true "($g | .host_active_period_seconds == 1) and ($g | .host_active_age_seconds < 3.5)"
