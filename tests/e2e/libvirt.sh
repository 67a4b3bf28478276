#!/bin/bash
# End to end, guests owned by libvirt: a real libvirtd runs three TCG
# domains of the lab image (two with a balloon, one with
# <memballoon model='none'/>); ksmd has only `[libvirt]` and no guest of its
# own. It must find the domains, take their pids from libvirt's pid files,
# make KSM merge their identical content (each QEMU's /proc/PID/ksm_stat),
# balloon them through libvirt (virsh dommemstat agrees), take an outside
# `virsh setmem` as an override until `auto`, shrink both under a lowered
# budget but never below their floors (one from a [guest] section, one from
# the domain's <metadata>), ride out libvirtd killed and started again
# (nothing forgotten, nothing re-ballooned), and forget a destroyed domain
# then find it again, started, with its new pid.
. "$(dirname "$0")/../lib/common.sh"
need_bins
need_root
need_ksm
command -v jq >/dev/null || fail "jq is missing (make deps)"
source "$ROOT/tests/guest/libvirt.sh"
lv_require
cleanup_add lv_stop
ksm_save
cleanup_add ksm_restore
echo 2 > $KSM/run
echo 0 > $KSM/run
lv_daemon_start

T=$(mktemp -d /tmp/ksmd-e2e.XXXXXX)
cleanup_add "rm -rf $T"
A=ksmdt-a B=ksmdt-b C=ksmdt-c
META="<metadata><ksmd:guest xmlns:ksmd='urn:ksmd:guest:1' min='240M' shares='2000'/></metadata>"
lv_define $A 384 7 || fail "libvirt cannot start domain $A"
lv_define $B 384 7 "" "$META" || fail "libvirt cannot start domain $B"
lv_define $C 256 7 "<memballoon model='none'/>" || fail "libvirt cannot start domain $C"
for d in $A $B $C; do lv_wait_ready $d || fail "domain $d did not boot"; done
pass_msg "three libvirt domains booted (pids $(lv_pid $A) $(lv_pid $B) $(lv_pid $C), user $(ps -o user= -p "$(lv_pid $A)"))"

cat > $T/ksmd.conf <<EOF
[daemon]
control_socket = $T/ksmd.sock
tick = 500ms
[scanner]
pass_interval = 1s
[libvirt]
uri = $LV_URI
domains = ksmdt-*
[policy]
budget = 64G
[stats]
enabled = no
[guest $A]
min = 200M
EOF
# ksmd runs with only the capabilities the shipped systemd unit gives it
# (its CapabilityBoundingSet): libvirt's QEMU belongs to libvirt-qemu
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$ROOT/systemd/ksmd.service.in" | tr 'A-Z ' 'a-z\n' |
    sed -n 's/^cap_\(.*\)/+\1/p' | paste -sd, -)
[ -n "$caps" ] || fail "no CapabilityBoundingSet in systemd/ksmd.service.in"
printf '#!/bin/sh\nexec setpriv --bounding-set=-all,%s %s "$@"\n' "$caps" "$KSMD" > $T/ksmd-unit-caps
chmod +x $T/ksmd-unit-caps
KSMD=$T/ksmd-unit-caps
cleanup_add ksmd_stop
ksmd_start $T/ksmd.conf
grep -q "^CapBnd:.*" /proc/$KSMD_PID/status
pass_msg "ksmd runs with the unit's bounding set ($caps): CapEff $(awk '/^CapEff/{print $2}' /proc/$KSMD_PID/status)"

guest() { snap ".guests[] | select(.name == \"$1\") | $2"; }
diag() { ctl decisions | tail -n 12; ctl guests; tail -n 30 "$KSMD_LOG"; }
WAIT_DIAG=diag

# ---- found, with libvirt's pids --------------------------------------------
wait_for 15 "ksmd manages the three domains" snap_is '[.guests[] | select(.backend == "libvirt")] | length' 3
for d in $A $B $C; do
    check "$d: pid from libvirt's pid file ($(lv_pid $d))" [ "$(guest $d .pid)" = "$(lv_pid $d)" ]
done
wait_for 15 "$A and $B: balloon ready through libvirt" \
    snap_is "[.guests[] | select(.state == \"ok\" and .backend == \"libvirt\")] | length" 2
check "$C: reported without a balloon device" [ "$(guest $C .state)" = "no-balloon" ]
check "$C: its libvirt view says no balloon device" [ "$(guest $C .libvirt.balloon_device)" = false ]
check "$A: floor from its [guest] section (200 MiB)" [ "$(guest $A .mem_min_bytes)" = $((200 << 20)) ]
check "$B: floor from the domain's <metadata> (240 MiB)" [ "$(guest $B .mem_min_bytes)" = $((240 << 20)) ]
check "$B: shares from the metadata (2000)" [ "$(guest $B .shares)" = 2000 ]
check "$B: settings said to come from the metadata" [ "$(guest $B .libvirt.settings)" = metadata ]
check "libvirt connection shown" snap_is .libvirt.connected true

# ---- merged, as for any guest -------------------------------------------------
merged_mib() { echo $(( $(ksm_stat "$(lv_pid $1)" ksm_merging_pages || echo 0) * 4 / 1024 )); }
all_merged() { local d; for d in $A $B $C; do [ "$(merged_mib $d)" -ge 16 ] || return 1; done; }
wait_for 150 "KSM merges each domain's duplicates (>= 16 MiB each in /proc/PID/ksm_stat)" all_merged
pass_msg "merged: $A $(merged_mib $A) MiB, $B $(merged_mib $B) MiB, $C $(merged_mib $C) MiB"
check "the scanner found $A's duplicates" [ "$(guest $A .scan.duplicate_cross_pages)" -gt 1000 ]

# ---- ksmdctl balloon through libvirt ----------------------------------------
ctl balloon $A 256M >/dev/null || fail "ksmdctl balloon $A 256M refused"
near_kib() { local a; a=$(lv_actual_kib "$1"); [ -n "$a" ] && [ $((a > $2 ? a - $2 : $2 - a)) -le 4096 ]; }
wait_for 20 "virsh dommemstat: $A at 256 MiB" near_kib $A 262144
if ctl balloon $C 200M >/dev/null 2>&1; then fail "ksmdctl balloon accepted a domain without a balloon"; fi
pass_msg "ksmdctl balloon refuses $C (no balloon device)"
if ctl balloon $A 100M >/dev/null 2>&1; then fail "ksmdctl balloon accepted a size below the floor"; fi
pass_msg "ksmdctl balloon refuses a size below $A's floor"

# ---- an outside virsh setmem is an override until auto -----------------------
virsh_ setmem $B 300M --live || fail "virsh setmem $B failed"
wait_for 15 "$B: virsh setmem shown as an outside override" \
    snap_is ".guests[] | select(.name == \"$B\") | .override_by" outside
wait_for 10 "$B: override is the size virsh set (300 MiB)" \
    snap_is ".guests[] | select(.name == \"$B\") | .override_bytes" $((300 << 20))
sleep 3
check "$B: ksmd left it at 300 MiB" near_kib $B 307200
ctl balloon $B auto >/dev/null || fail "ksmdctl balloon $B auto refused"
wait_for 5 "$B: back under the policy after auto" \
    snap_is ".guests[] | select(.name == \"$B\") | .override_bytes" 0
ctl balloon $A auto >/dev/null

# ---- the policy shrinks both under a lowered budget, never below floors ------
# a budget below what the three guests cost even once KSM has merged them
# (about 225 MiB here), so the policy must shrink
ctl set policy.budget 120M >/dev/null || fail "ksmdctl set policy.budget refused"
at_floor() { [ "$(lv_actual_kib $A)" -le $((200 * 1024 + 4096)) ] && [ "$(lv_actual_kib $B)" -le $((240 * 1024 + 4096)) ]; }
end=$(( $(date +%s) + 120 ))
until at_floor; do
    [ "$(date +%s)" -lt $end ] || { diag; fail "the policy takes both to their floors under a 120 MiB budget: not within 120s"; }
    sleep 0.5
done
pass_msg "the policy takes both to their floors under a 120 MiB budget"
sleep 4
for pair in "$A 200" "$B 240"; do
    set -- $pair
    a=$(lv_actual_kib $1)
    check "$1 never below its floor ($((a / 1024)) MiB >= $2 MiB)" [ "$a" -ge $(($2 * 1024 - 1024)) ]
done

# ---- libvirtd killed and started again -----------------------------------------
if [ "$LV_OWN_LIBVIRTD" = 1 ]; then
    before_a=$(lv_actual_kib $A) before_b=$(lv_actual_kib $B)
    pid_a=$(lv_pid $A)
    lv_kill_libvirtd
    wait_for 10 "ksmd sees libvirt gone" snap_is .libvirt.connected false
    sleep 3
    check "ksmd still running without libvirtd" kill -0 $KSMD_PID
    check "no guest forgotten while libvirt is away" \
        snap_is '[.guests[] | select(.backend == "libvirt")] | length' 3
    lv_start_libvirtd || fail "libvirtd did not start again"
    wait_for 20 "ksmd reconnected" snap_is .libvirt.connected true
    wait_for 15 "both balloons ready again" \
        snap_is "[.guests[] | select(.state == \"ok\" and .backend == \"libvirt\")] | length" 2
    check "same QEMU pid after the reconnect" [ "$(guest $A .pid)" = "$pid_a" ]
    check "$A not re-ballooned ($before_a KiB)" near_kib $A "$before_a"
    check "$B not re-ballooned ($before_b KiB)" near_kib $B "$before_b"
    grep -q "lost the connection" "$KSMD_LOG" || fail "the loss was not logged"
    [ "$(grep -c "lost the connection" "$KSMD_LOG")" = 1 ] || fail "the loss was logged more than once"
    pass_msg "the loss of libvirtd was logged once"
else
    echo "note: libvirtd was already running (not started by this test): restart case not run"
fi

# ---- a domain destroyed, then started again ------------------------------------
old_pid=$(lv_pid $B)
lv_destroy $B
wait_for 10 "$B forgotten once destroyed" snap_is "[.guests[] | select(.name == \"$B\")] | length" 0
lv_define $B 384 7 "" "$META" || fail "libvirt cannot start $B again"
wait_for 20 "$B found again once started" snap_is "[.guests[] | select(.name == \"$B\")] | length" 1
new_pid=$(lv_pid $B)
[ "$new_pid" != "$old_pid" ] || fail "libvirt reused the pid $old_pid"
wait_for 10 "$B has its new pid ($old_pid -> $new_pid)" snap_is ".guests[] | select(.name == \"$B\") | .pid" "$new_pid"

ksmd_stop || fail "ksmd exited with an error"
pass_msg "ksmd stopped cleanly"

# ---- another balloon manager on the host: ksmd yields, but for balloon = force
mkdir -p $T/bin
ln -s "$(command -v sleep)" $T/bin/pvestatd
$T/bin/pvestatd 600 &
FAKE=$!
cleanup_add "kill $FAKE 2>/dev/null"
echo "balloon = force" >> $T/ksmd.conf   # in [guest $A], the file's last section
ksmd_start $T/ksmd.conf
wait_for 10 "$B's balloon left to pvestatd (pid $FAKE)" \
    snap_is ".guests[] | select(.name == \"$B\") | .balloon_driver" "pvestatd (pid $FAKE)"
check "$A (balloon = force) driven by ksmd" [ "$(guest $A .balloon_driver)" = ksmd ]
snap .owners.balloon | grep -q "pvestatd (pid $FAKE)" || fail "owners.balloon: $(snap .owners.balloon)"
pass_msg "owners: balloon $(snap .owners.balloon)"
b0=$(lv_actual_kib $B)
ctl balloon $A 320M >/dev/null && ctl balloon $A auto >/dev/null || fail "ksmdctl balloon $A"
ctl set policy.budget 120M >/dev/null   # below the guests' cost, as above
wait_for 30 "the policy still takes $A (forced) to its floor" \
    eval '[ "$(lv_actual_kib $A)" -le $((200 * 1024 + 4096)) ]'
check "$B left alone by the policy (${b0} KiB)" near_kib $B "$b0"
ctl --json decisions | jq -e "[.. | objects | select(.target? == \"$B\")] | length == 0" >/dev/null ||
    fail "the policy acted on $B while pvestatd drives it"
pass_msg "no decision about $B while pvestatd drives it"
grep -q "guest $B: its balloon is driven by pvestatd" "$KSMD_LOG" || fail "the yield was not logged"
ksmd_stop || fail "ksmd exited with an error"
