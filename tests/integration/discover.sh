#!/bin/bash
# Integration: balloon.discover = yes against a real QEMU (-machine none,
# nothing booted) and a process that only calls itself qemu: the QEMU
# becomes a guest, the impostor (a script whose name is "qemu-evil", with
# -qmp on its command line and a socket there) never does, and the guest is
# pruned once its QEMU is gone. Run under flock /tmp/ksmd-lab.lock (QEMU).
. "$(dirname "$0")/../lib/common.sh"
need_bins
need_root
QEMU=$(command -v qemu-system-x86_64) || skip "needs qemu-system-x86_64"
command -v jq >/dev/null || skip "needs jq"

T=$(mktemp -d /tmp/ksmd-test.XXXXXX)
cleanup_add "rm -rf $T"
CONF=$T/ksmd.conf
cat > $CONF <<CONF
[daemon]
control_socket = $T/ksmd.sock
tick = 100ms
[ksm]
manage = no
[balloon]
discover = yes
[stats]
listen = unix:$T/stats.sock
CONF

"$QEMU" -machine none -S -nodefaults -display none -name dg1 \
    -qmp unix:$T/dg1.sock,server=on,wait=off > $T/qemu.log 2>&1 &
QPID=$!
cleanup_add "kill $QPID 2>/dev/null"
# the impostor: any user can name a process qemu-* and list a -qmp socket
python3 - -qmp unix:$T/evil.sock,server=on -name evil > $T/evil.log 2>&1 <<'PY' &
import ctypes, socket, sys, time
ctypes.CDLL(None).prctl(15, b"qemu-evil", 0, 0, 0)  # PR_SET_NAME
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[2].split(":", 1)[1].split(",")[0]); s.listen(4)
time.sleep(600)
PY
EPID=$!
cleanup_add "kill $EPID 2>/dev/null"
wait_for 10 "QEMU's QMP socket is up" test -S $T/dg1.sock
wait_for 10 "the impostor is up" test -S $T/evil.sock
[ "$(cat /proc/$EPID/comm)" = qemu-evil ] || fail "the impostor is named $(cat /proc/$EPID/comm)"

ksmd_start $CONF
cleanup_add ksmd_stop
wait_for 10 "the QEMU is discovered as guest dg1" \
    snap_true '.guests[] | select(.name == "dg1" and .discovered == true)'
sleep 2 # two more discoveries
snap_true '[.guests[] | select(.name == "evil" or .pid == '$EPID')] | length == 0' ||
    fail "the impostor became a guest: $(snap '[.guests[].name]')"
grep -q "evil.sock" "$KSMD_LOG" && fail "ksmd went for the impostor's socket: $(grep evil.sock "$KSMD_LOG")"
pass_msg "a process that only calls itself qemu is not a guest"

kill $QPID; wait $QPID 2>/dev/null
wait_for 10 "the guest whose QEMU is gone is pruned" \
    snap_true '[.guests[] | select(.name == "dg1")] | length == 0'
grep -q "guest dg1: its QEMU is gone" "$KSMD_LOG" || fail "no line says why dg1 went"
ksmd_stop || fail "ksmd exited with an error"
echo "PASS"
