#!/bin/bash
# End to end, faults: a guest's QEMU killed mid-run (ksmd logs it, keeps the
# other guest managed, marks it gone) and restarted (rediscovered); SIGHUP
# with a broken ksmd.conf (still running on the old one); ksmd killed with
# SIGKILL and restarted (it re-reads the balloon sizes, keeps the operator's
# override, does not reset guests, and at exit restores KSM as it was before
# the first ksmd started).
. "$(dirname "$0")/../lib/common.sh"
need_bins
need_root
need_ksm
command -v jq >/dev/null || fail "jq is missing (make deps)"
source "$ROOT/tests/guest/lab.sh"
lab_atexit _run_cleanups
lab_require || exit $?

ksm_save
cleanup_add ksm_restore
echo 0 > $KSM/run            # the operator's KSM: stopped, kernel defaults
echo 100 > $KSM/pages_to_scan
echo 20 > $KSM/sleep_millisecs
KSM_BEFORE=$(ksm_snapshot)
T=$(mktemp -d /tmp/ksmd-e2e.XXXXXX)
cleanup_add "rm -rf $T"
lab_start 2 256 7 7 || fail "lab guests did not start"
cleanup_add ksmd_stop

cat > $T/ksmd.conf <<EOF
[daemon]
control_socket = $T/ksmd.sock
tick = 500ms
[scanner]
pass_interval = 1s
[ksm]
min_savings = 4M
[stats]
listen = unix:$T/stats.sock
[guest g0]
qmp = ${LAB_QMP[0]}
min = 128M
[guest g1]
qmp = ${LAB_QMP[1]}
min = 128M
EOF
ksmd_start $T/ksmd.conf
gstate() { snap ".guests[] | select(.name==\"$1\") | .state"; }
g0_actual_is() { [ "$(lab_balloon_actual 0)" = "$1" ]; }
gfield() { snap ".guests[] | select(.name==\"$1\") | .$2"; }
wait_for 30 "both guests managed" snap_is '[.guests[].state] | join(" ")' "ok ok"
lab_agent 0 fill 32 image >/dev/null && lab_agent 1 fill 32 image >/dev/null || fail "fills"
wait_for 30 "ksmd drives KSM (run=1)" grep -qx 1 $KSM/run

ctl balloon g0 192M >/dev/null || fail "override g0"
wait_for 30 "g0 balloon at 192 MiB" g0_actual_is 192

# ---- kill -9 one QEMU ----
old_pid=${LAB_PID[1]}
lab_kill 1
wait_for 10 "g1 marked gone" snap_is '.guests[] | select(.name=="g1") | .state' gone
kill -0 $KSMD_PID || fail "ksmd died with a guest"
grep -q "guest g1" $KSMD_LOG || fail "ksmd did not log g1's loss"
pass_msg "ksmd logged: $(grep 'guest g1' $KSMD_LOG | tail -1 | cut -c1-120)"
[ "$(gstate g0)" = ok ] || fail "g0 state $(gstate g0) after g1 died"
ctl balloon g0 200M >/dev/null || fail "g0 not managed any more"
wait_for 30 "g0 still managed (balloon to 200 MiB)" g0_actual_is 200

# ---- restart it ----
lab_restart 1 || fail "restart g1"
wait_for 30 "g1 rediscovered" snap_is '.guests[] | select(.name=="g1") | .state' ok
wait_for 10 "g1's new pid known" snap_is '.guests[] | select(.name=="g1") | .pid' "${LAB_PID[1]}"
[ "${LAB_PID[1]}" != "$old_pid" ] || fail "restart kept the pid?"

# ---- SIGHUP with a broken file ----
cp $T/ksmd.conf $T/good.conf
echo "[guest g2]" >> $T/ksmd.conf           # no qmp/pid/cgroup: an error
kill -HUP $KSMD_PID
wait_for 5 "broken reload refused" grep -q "guest 'g2' needs one of qmp, pid or cgroup" $KSMD_LOG
kill -0 $KSMD_PID || fail "ksmd died on a broken reload"
[ "$(snap '.guests | length')" = 2 ] || fail "guests changed by a broken reload"
cp $T/good.conf $T/ksmd.conf
pass_msg "SIGHUP with a broken ksmd.conf: still running on the old one"

# ---- SIGKILL ksmd, restart ----
KSM_PACED=$(ksm_snapshot)
[ "$KSM_PACED" != "$KSM_BEFORE" ] || fail "ksmd never changed KSM: the restart check would prove nothing"
kill -9 $KSMD_PID; wait $KSMD_PID 2>/dev/null; KSMD_PID=
[ -e $T/ksmd.state ] || fail "no state file left for a restarted ksmd"
a1_before=$(lab_balloon_actual 1)
ksmd_start $T/ksmd.conf
grep -q "a previous ksmd did not restore KSM's settings (a crash?)" $KSMD_LOG || fail "restart did not notice the crash"
wait_for 30 "both guests managed after the restart" snap_is '[.guests[].state] | join(" ")' "ok ok"
sleep 3
[ "$(lab_balloon_actual 0)" = 200 ] || fail "g0 balloon reset to $(lab_balloon_actual 0) MiB after the restart"
[ "$(gfield g0 override_bytes)" = $((200 * 1048576)) ] || fail "g0 override lost: $(gfield g0 override_bytes)"
[ "$(gfield g0 balloon_actual_bytes)" = $((200 * 1048576)) ] || fail "actual size not re-read"
a1_after=$(lab_balloon_actual 1)
[ "$a1_after" -le "$a1_before" ] || fail "g1 reset upwards: $a1_before -> $a1_after MiB"
pass_msg "after SIGKILL and restart: balloons re-read (g0 200 MiB, override kept; g1 $a1_before -> $a1_after MiB)"

ksmd_stop || fail "ksmd exit status"
[ "$(ksm_snapshot)" = "$KSM_BEFORE" ] || fail "KSM not restored to the settings before the first ksmd: '$KSM_BEFORE' vs '$(ksm_snapshot)' (the crashed ksmd paced '$KSM_PACED')"
pass_msg "at exit KSM is as the operator had it ($KSM_BEFORE), not as the crashed ksmd paced it"
[ -e $T/ksmd.state ] && fail "state file left after a clean exit"
sleep 2
[ "$(lab_balloon_actual 0)" = 200 ] || fail "balloon.on_exit = keep, but g0 moved to $(lab_balloon_actual 0) MiB at exit"
pass_msg "balloon.on_exit = keep: g0 left at 200 MiB"

# ---- balloon.on_exit = restore: every guest back to its maximum ----
printf '[balloon]\non_exit = restore\n' > $T/restore.conf
KSMD_EXTRA_CONF=$T/restore.conf ksmd_start $T/ksmd.conf
wait_for 30 "both guests managed again" snap_is '[.guests[].state] | join(" ")' "ok ok"
ksmd_stop || fail "ksmd exit status"
wait_for 15 "balloon.on_exit = restore: g0 back to 256 MiB" g0_actual_is 256
echo "e2e faults: all checks passed"
