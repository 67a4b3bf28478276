#!/bin/bash
# Integration: ksmd beside another manager of KSM, on the real kernel KSM.
#  1. Debian's ksmtuned (fetched with apt-get download and run from the
#     build folder, never installed) drives KSM; a ksmd started beside it
#     reports it (ksmdctl status, the snapshot's owners), logs once that it
#     yields, and writes none of KSM's knobs.
#  2. ksmdctl set ksm.manage force: ksmd writes them.
#  3. ksm.manage = yes again, then ksmtuned stops: ksmd takes the knobs back.
#  4. A process writes pages_to_scan behind ksmd's back: reported (knob,
#     old -> new), ksmd yields and leaves the value, and takes the knobs back
#     a minute later.
# Every process the test starts is stopped by its pid; KSM's settings are
# restored as found.
. "$(dirname "$0")/../lib/common.sh"
need_bins
need_root
need_ksm
command -v jq >/dev/null || skip "jq is not installed (make deps)"

# A host where another program already drives KSM cannot show ksmd's own
# choices: the test needs one where nothing else does.
foreign_managers() {
    local p
    for p in $(pgrep -x 'ksmtuned|ksmd|momd|vdsmd|virt-handler') $(pgrep -f '(^|/)ksmtuned( |$)'); do
        [ -n "$(tr -d '\0' < /proc/$p/cmdline 2>/dev/null)" ] || continue   # the kernel's KSM thread
        echo "$(cat /proc/$p/comm 2>/dev/null) (pid $p)"
    done | sort -u
}
# (one that is about to end is waited for, up to KSMD_QUIET_WAIT seconds)
for _ in $(seq "${KSMD_QUIET_WAIT:-120}"); do
    others=$(foreign_managers)
    [ -z "$others" ] && break
    sleep 1
done
[ -z "$others" ] && [ ! -e /etc/ksmtuned.conf ] ||
    skip "another manager of KSM runs on this host (${others:-/etc/ksmtuned.conf exists}); this test needs a host where none does"

BUILD_REL=${KSMD_BUILD:-build}
KSMTUNED=$B/tools/ksmtuned
if [ ! -x "$KSMTUNED" ]; then
    (cd "$ROOT" && make -s B="$BUILD_REL" "$BUILD_REL/tools/ksmtuned") >/dev/null 2>&1
    [ -x "$KSMTUNED" ] || skip "Debian's ksmtuned cannot be fetched (apt-get download ksmtuned failed)"
fi
if [ ! -x "$B/bench/ksm_fill" ]; then
    (cd "$ROOT" && make -s B="$BUILD_REL" "$BUILD_REL/bench/ksm_fill") >/dev/null || fail "cannot build ksm_fill"
fi

T=$(mktemp -d /tmp/ksmd-managers.XXXXXX)
# a failure shows what ksmd logged
fail() { echo "FAIL: $*"; [ -f "$T/ksmd.log" ] && sed 's/^/    ksmd: /' "$T/ksmd.log" | tail -40; exit 1; }
cleanup_add "rm -rf $T"
ksm_save
cleanup_add ksm_restore

# ---- a process with duplicates for ksmd to merge (64 MiB, ~16 MiB of them) ----
"$B/bench/ksm_fill" -m 64 -i 0 > $T/fill.out &
FILL=$!
cleanup_add "kill $FILL 2>/dev/null; wait $FILL 2>/dev/null"
wait_for 20 "ksm_fill ready" grep -q ready $T/fill.out

# ---- ksmtuned drives KSM: always on (threshold = all memory), every second ----
[ -e $KSM/advisor_mode ] && echo none > $KSM/advisor_mode
echo 0 > $KSM/run
echo 4321 > $KSM/pages_to_scan
echo 4321 > $KSM/sleep_millisecs
TPID=
# ksmtuned's loop and everything below it (its sleep, its $(...) subshells,
# which bear its name too): stopped first, so that none forks meanwhile.
descendants() {
    local c
    for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do echo "$c"; descendants "$c"; done
}
stop_ksmtuned() {
    [ -n "$TPID" ] || return 0
    kill -STOP "$TPID" 2>/dev/null
    local all
    all="$TPID $(descendants "$TPID")"
    kill -KILL $all 2>/dev/null
    for _ in $(seq 50); do kill -0 "$TPID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$TPID" 2>/dev/null && return 1
    TPID=
}
cleanup_add stop_ksmtuned
PIDFILE=$T/ksmtuned.pid KSM_THRES_COEF=100 KSM_MONITOR_INTERVAL=1 "$KSMTUNED" > $T/ksmtuned.out 2>&1 ||
    fail "ksmtuned did not start: $(cat $T/ksmtuned.out)"
TPID=$(cat $T/ksmtuned.pid)
[ -n "$TPID" ] && kill -0 "$TPID" || fail "ksmtuned's loop is not running"
ksmtuned_drives() { [ "$(cat $KSM/run)" = 1 ] && [ "$(cat $KSM/pages_to_scan)" != 4321 ]; }
wait_for 10 "ksmtuned (pid $TPID) drives KSM" ksmtuned_drives
# what ksmtuned writes: pages_to_scan 300 up to 1250 by 300, its sleep from MemTotal
total=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
TSLEEP=$((10 * 16 * 1024 * 1024 / total)); [ $TSLEEP -le 10 ] && TSLEEP=10

# ---- 1. ksmd beside it: reports it, yields, writes nothing ----
cat > $T/ksmd.conf <<CONF
[daemon]
control_socket = $T/ksmd.sock
tick = 200ms
[scanner]
pass_interval = 1s
[ksm]
manage = yes
min_savings = 1M
[stats]
listen = unix:$T/stats.sock
[guest fill]
pid = $FILL
CONF
KSMD_LOG=$T/ksmd.log
ksmd_start $T/ksmd.conf
cleanup_add "ksmd_stop >/dev/null 2>&1"
writes() { grep -c 'ksm: run=' $KSMD_LOG; }
ksm_decisions() { snap '[.decisions[] | select(.target == "ksm")] | length'; }

wait_for 5 "owners.ksm is ksmtuned (pid $TPID)" snap_is .owners.ksm "ksmtuned (pid $TPID)"
[ "$(snap '[.owners.managers[] | select(.name == "ksmtuned")][0] | "\(.pid) \(.drives)"')" = "$TPID ksm" ] ||
    fail "owners.managers lacks ksmtuned $TPID: $(snap '.owners | tostring')"
[ "$(snap .ksm.managed)" = false ] || fail "ksm.managed is not false beside ksmtuned"
out=$(ctl status)
echo "$out" | grep -q "owners    KSM: ksmtuned (pid $TPID); balloons: ksmd" || fail "status: $out"
echo "$out" | grep -q "other managers: ksmtuned (pid $TPID, ksm)" || fail "status lacks the managers: $out"
pass_msg "ksmdctl status: KSM driven by ksmtuned (pid $TPID)"
grep -q "KSM is driven by ksmtuned (pid $TPID): ksmd yields it (ksm.manage = force takes it)" $KSMD_LOG ||
    fail "no yield message: $(cat $KSMD_LOG)"
sleep 3   # 15 ticks of ksmd, 3 rounds of ksmtuned
[ "$(grep -c 'ksmd yields it' $KSMD_LOG)" = 1 ] || fail "the yield is not logged once: $(grep 'yields' $KSMD_LOG)"
[ "$(writes)" = 0 ] || fail "ksmd wrote KSM's knobs beside ksmtuned: $(grep 'ksm: run=' $KSMD_LOG)"
grep -q "KSM found at" $KSMD_LOG && fail "ksmd took KSM's settings beside ksmtuned"
[ "$(ksm_decisions)" = 0 ] || fail "ksmd decided KSM knobs beside ksmtuned: $(snap '.decisions | tostring')"
pts=$(cat $KSM/pages_to_scan); slp=$(cat $KSM/sleep_millisecs)
case $pts in 300|600|900|1200|1250) ;; *) fail "pages_to_scan $pts is not ksmtuned's" ;; esac
[ "$slp" = "$TSLEEP" ] || fail "sleep_millisecs $slp is not ksmtuned's $TSLEEP"
pass_msg "ksmd wrote none of KSM's knobs; they are ksmtuned's (pages_to_scan $pts, sleep_millisecs $slp)"

# ---- 2. ksm.manage = force: ksmd drives KSM all the same ----
check "ksmdctl set ksm.manage force" ctl set ksm.manage force
wait_for 10 "ksmd writes KSM's knobs (ksm.manage = force)" bash -c "grep -q 'ksm: run=' $KSMD_LOG"
grep -q "ksm.manage = force: ksmd drives KSM beside ksmtuned (pid $TPID)" $KSMD_LOG || fail "no force message"
wait_for 5 "owners.ksm is ksmd (ksm.manage = force)" snap_is .owners.ksm "ksmd (ksm.manage = force)"
[ "$(snap .ksm.managed)" = true ] || fail "ksm.managed is not true under force"
wait_for 5 "a KSM decision in the ring" bash -c "[ \"\$('$KSMDCTL' -s '$KSMD_SOCK' --json status | jq '[.decisions[] | select(.target == \"ksm\")] | length')\" -gt 0 ]"

# ---- 3. yes again, ksmtuned stops: ksmd takes the knobs back ----
check "ksmdctl set ksm.manage yes" ctl set ksm.manage yes
wait_for 5 "ksmd yields again" snap_is .owners.ksm "ksmtuned (pid $TPID)"
[ "$(grep -c "KSM is driven by ksmtuned (pid $TPID): ksmd yields it" $KSMD_LOG)" = 2 ] || fail "second yield not logged"
w0=$(writes)
tuned=$TPID
# ksmtuned's last word is left on KSM's knobs, one ksmd would not choose
# (run = 1 at pages_to_scan 4321), so that whatever ksmd then decides, on
# or off, it has to write: what KSM is found at when ksmtuned stops is
# otherwise a race (ksmd may find exactly its own choice and write nothing).
kill -STOP $TPID $(descendants $TPID) 2>/dev/null
echo 4321 > $KSM/pages_to_scan
echo 1 > $KSM/run
stop_ksmtuned || fail "ksmtuned (pid $TPID) does not stop"
pass_msg "ksmtuned stopped"
wait_for 10 "ksmd takes the KSM knobs back" grep -q "ksmtuned (pid $tuned) is gone: ksmd takes the KSM knobs back" $KSMD_LOG
wait_for 5 "owners.ksm is ksmd" snap_is .owners.ksm ksmd
[ "$(snap '.owners.managers | length')" = 0 ] || fail "managers still listed: $(snap '.owners.managers | tostring')"
[ "$(snap .ksm.managed)" = true ] || fail "ksm.managed is not true after the take-back"
[ "$(grep -c 'ksmd takes the KSM knobs back' $KSMD_LOG)" = 1 ] || fail "the take-back is not logged once"
wait_for 10 "ksmd writes KSM's knobs again" bash -c "[ \$(grep -c 'ksm: run=' $KSMD_LOG) -gt $w0 ]"

# ---- 4. a process writes pages_to_scan behind ksmd's back ----
sleep 2
[ "$(cat $KSM/pages_to_scan)" != 1234 ] || fail "pages_to_scan is already 1234"
bash -c "for i in 1 2 3; do echo 1234 > $KSM/pages_to_scan; sleep 0.5; done" &
WPID=$!
cleanup_add "kill $WPID 2>/dev/null"
wait_for 5 "the outside change is in the snapshot" \
    snap_true '.owners.ksm_outside_change | test("pages_to_scan [0-9]+ -> 1234")'
grep -qE "KSM knobs changed by another program: .*pages_to_scan [0-9]+ -> 1234" $KSMD_LOG ||
    fail "the outside change is not logged: $(grep -i 'changed' $KSMD_LOG)"
wait_for 5 "ksmd yields to the writer" snap_true '.owners.ksm | startswith("another program (")'
grep -q "KSM is driven by another program (.*pages_to_scan [0-9]* -> 1234.*): ksmd yields it" $KSMD_LOG ||
    fail "no yield message for the outside change"
ctl status | grep -qE "KSM knobs changed by another program: .*pages_to_scan [0-9]+ -> 1234" ||
    fail "ksmdctl status lacks the outside change: $(ctl status)"
pass_msg "ksmdctl status reports the outside change"
wait $WPID
w1=$(writes)
sleep 3
[ "$(cat $KSM/pages_to_scan)" = 1234 ] || fail "pages_to_scan is $(cat $KSM/pages_to_scan): ksmd wrote over the outside change"
[ "$(writes)" = "$w1" ] || fail "ksmd wrote KSM's knobs while yielding"
[ "$(snap .ksm.managed)" = false ] || fail "ksm.managed is not false while yielding"
pass_msg "ksmd leaves pages_to_scan = 1234 while it yields"
wait_for 75 "ksmd takes the knobs back a minute after the last outside change" \
    grep -q "no outside change of its knobs for a minute: ksmd takes the KSM knobs back" $KSMD_LOG
wait_for 5 "owners.ksm is ksmd again" snap_is .owners.ksm ksmd

# ---- stop: exit 0 ----
ksmd_stop || fail "ksmd exited $? at SIGTERM"
pass_msg "ksmd stopped cleanly"
echo "ksm_managers: all checks passed"
