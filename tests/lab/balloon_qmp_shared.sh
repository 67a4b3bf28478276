#!/bin/bash
# Lab test of the QMP shared mode: ksmd and another client on ONE monitor.
# A real QEMU guest (tests/guest/lab.sh) is managed by ksmd with
# `qmp_mode = shared` on the socket another client uses too, the way
# Proxmox's qm and pvestatd use /var/run/qemu-server/VMID.qmp: a connection
# per command. While ksmd runs, a second client connects to the same socket
# every 200 ms for at least 20 s (connect, qmp_capabilities, query-status,
# query-balloon, close). Asserts:
#   1. every one of the other client's commands succeeded (>= 50, 0 failed):
#      ksmd never holds the monitor;
#   2. ksmd still drives the balloon: `ksmdctl balloon g0 256M` brings actual
#      to 256 MiB, seen by the other client's query-balloon and by ksmd;
#   3. ksmd still reports the guest's stats, fresh, and its state is ok.
#   4. with `[balloon] discover = yes` and no guest configured, ksmd finds
#      the guest itself, in shared mode, and the other client's commands
#      still all succeed.
# Skips (77) only when the lab cannot run here.
. "$(dirname "$0")/../lib/common.sh"
need_bins
need_root
command -v jq >/dev/null || skip "jq is missing (make deps)"
source "$ROOT/tests/guest/lab.sh"
lab_atexit _run_cleanups
lab_require || exit $?

T=$(mktemp -d /tmp/ksmd-lab-shared.XXXXXX)
cleanup_add "rm -rf $T"
fail() {
    echo "FAIL: $*"
    [ -f "$T/ksmd.log" ] && { echo "--- ksmd log, last lines:"; tail -n 25 "$T/ksmd.log"; }
    [ -f "$T/client.log" ] && { echo "--- other client, last lines:"; tail -n 10 "$T/client.log"; }
    exit 1
}
SIZE=384
lab_start 1 $SIZE || fail "lab guest did not boot"
echo "boot: g0 ${LAB_BOOT_SEC[0]} s ($LAB_ACCEL), QMP socket ${LAB_QMP[0]}"
cleanup_add ksmd_stop

cat > $T/ksmd.conf <<EOF
[daemon]
control_socket = $T/ksmd.sock
tick = 1s
[scanner]
enabled = no
[ksm]
manage = no
[balloon]
stats_interval = 2s
[policy]
# only the operator's override moves the balloon here
enabled = no
[stats]
enabled = no
[guest g0]
qmp = ${LAB_QMP[0]}
qmp_mode = shared
EOF
ksmd_start $T/ksmd.conf
MiB=1048576
wait_for 60 "g0 managed in shared mode, with stats" \
    snap_true '.guests[] | select(.name=="g0") | .state == "ok" and .qmp_mode == "shared" and .available_bytes != null'

# The other client: a connection per command, as Proxmox's tools do. It
# runs at least MIN_S seconds and until $T/stop exists (at most 120 s).
cat > $T/client.py <<'EOF'
import json, os, socket, sys, time

path, stop, min_s = sys.argv[1], sys.argv[2], float(sys.argv[3])
TIMEOUT = 5.0

def session(cmds):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    t0 = time.monotonic()
    try:
        s.connect(path)
        buf = b""
        def line():
            nonlocal buf
            while b"\n" not in buf:
                if time.monotonic() - t0 > TIMEOUT:
                    raise TimeoutError("no answer within %.0f s" % TIMEOUT)
                d = s.recv(65536)
                if not d:
                    raise EOFError("connection closed")
                buf += d
            l, buf = buf.split(b"\n", 1)
            return json.loads(l)
        if "QMP" not in line():
            raise ValueError("no greeting")
        greeted = time.monotonic() - t0
        out = []
        for i, c in enumerate(["qmp_capabilities"] + cmds):
            s.sendall(json.dumps({"execute": c, "id": i}).encode() + b"\n")
            while True:
                m = line()
                if "event" in m:
                    continue
                if m.get("id") != i or "return" not in m:
                    raise ValueError("%s: %s" % (c, m))
                out.append(m["return"])
                break
        return greeted, out[1:]
    finally:
        s.close()

ok = fail = 0
worst = 0.0
start = time.monotonic()
while True:
    el = time.monotonic() - start
    if el >= 120 or (el >= min_s and os.path.exists(stop)):
        break
    try:
        greeted, (st, bal) = session(["query-status", "query-balloon"])
        ok += 2  # query-status and query-balloon (qmp_capabilities aside)
        worst = max(worst, greeted)
        print("ok t=%.1f status=%s actual_mib=%d greeting_ms=%.0f"
              % (el, st["status"], bal["actual"] // 1048576, greeted * 1000), flush=True)
    except Exception as e:
        fail += 1
        print("failed t=%.1f %s: %s" % (el, type(e).__name__, e), flush=True)
    time.sleep(0.2)
print("summary commands_ok=%d sessions_failed=%d worst_greeting_ms=%.0f seconds=%.1f"
      % (ok, fail, worst * 1000, time.monotonic() - start), flush=True)
EOF
# start_client NAME MIN_S: the other client in the background, logging to
# $T/NAME.log, until $T/NAME.stop exists and MIN_S seconds passed.
start_client() {
    "$LAB_PYTHON" $T/client.py "${LAB_QMP[0]}" $T/$1.stop $2 > $T/$1.log 2>&1 &
    CLIENT=$!
    cleanup_add "touch $T/$1.stop; wait $CLIENT 2>/dev/null"
    sleep 2
    grep -q '^ok ' $T/$1.log || fail "the other client got no answer with ksmd running"
}
# check_client NAME MIN_OK: stop it; every command succeeded, at least MIN_OK.
check_client() {
    local sum n_ok n_fail
    touch $T/$1.stop
    wait $CLIENT || fail "the other client exited with $?"
    sum=$(grep '^summary ' $T/$1.log) || fail "no summary from the other client"
    echo "  other client: $sum"
    n_ok=$(echo "$sum" | sed 's/.*commands_ok=\([0-9]*\).*/\1/')
    n_fail=$(echo "$sum" | sed 's/.*sessions_failed=\([0-9]*\).*/\1/')
    [ "$n_fail" = 0 ] || { grep '^failed ' $T/$1.log | head -5; fail "$n_fail of the other client's sessions failed"; }
    [ "$n_ok" -ge "$2" ] || fail "only $n_ok commands of the other client succeeded (want >= $2)"
    pass_msg "the other client's $n_ok commands all succeeded alongside ksmd ($(echo "$sum" | sed 's/.*\(worst_greeting_ms=[0-9]*\).*/\1/'))"
}
start_client client 20

# ksmd balloons the guest through the shared monitor meanwhile.
t0=$EPOCHREALTIME
ctl balloon g0 256M >/dev/null || fail "ksmdctl balloon g0 256M"
g0() { snap ".guests[] | select(.name==\"g0\") | $1"; }
actual_is_256() { [ "$(g0 '.balloon_actual_bytes')" = $((256 * MiB)) ]; }
wait_for 90 "ksmd sees g0's balloon at 256 MiB" actual_is_256
T_BALLOON=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
client_saw_256() { grep -q '^ok .*actual_mib=256 ' $T/client.log; }
wait_for 10 "the other client's query-balloon sees actual 256 MiB" client_saw_256

# ksmd's view stays fresh: stats polled, state ok, target as asked.
sleep 5
S=$("$KSMDCTL" -s "$KSMD_SOCK" --json status) || fail "ksmdctl status"
G=$(echo "$S" | jq -c '.guests[] | select(.name=="g0")')
echo "  ksmd: $(echo "$G" | jq -c '{state, qmp_mode, balloon_target_bytes, balloon_actual_bytes, available_bytes, stats_age_seconds, reason}')"
[ "$(echo "$G" | jq -r .state)" = ok ] || fail "g0 state $(echo "$G" | jq -r .state) ($(echo "$G" | jq -r '.reason // ""'))"
[ "$(echo "$G" | jq -r .balloon_target_bytes)" = $((256 * MiB)) ] || fail "target $(echo "$G" | jq -r .balloon_target_bytes)"
echo "$G" | jq -e '.available_bytes > 0 and .stats_age_seconds != null and .stats_age_seconds <= 8' >/dev/null ||
    fail "ksmd's guest stats are missing or stale: $(echo "$G" | jq -c '{available_bytes, stats_age_seconds}')"
pass_msg "ksmd ballooned g0 to 256 MiB in ${T_BALLOON}s and reports fresh stats ($(echo "$G" | jq -r .stats_age_seconds | cut -c1-4) s old)"

check_client client 50
echo "  ksmd found the monitor busy $(grep -c 'balloon busy' $T/ksmd.log) time(s)"
ksmd_stop || fail "ksmd exit status $?"

# ---- discovered: no guest configured, [balloon] discover = yes ----
sed -e '/^\[guest g0\]$/,$d' -e 's/^stats_interval = 2s$/&\ndiscover = yes/' \
    -e "s|^control_socket = .*|control_socket = $T/ksmd2.sock|" $T/ksmd.conf > $T/discover.conf
grep -q '^discover = yes' $T/discover.conf && ! grep -q '^\[guest' $T/discover.conf ||
    fail "discover.conf: $(cat $T/discover.conf)"
ksmd_start $T/discover.conf
# found by its pid (other QEMUs on the host are discovered too)
ours=".guests[] | select(.pid == ${LAB_PID[0]})"
wait_for 30 "g0 discovered, in shared mode, with stats" \
    snap_true "$ours | .discovered and .qmp_mode == \"shared\" and .state == \"ok\" and .available_bytes != null"
start_client discovered 8
sleep 6
G=$("$KSMDCTL" -s "$KSMD_SOCK" --json status | jq -c "$ours")
echo "  ksmd: $(echo "$G" | jq -c '{name, discovered, state, qmp_mode, balloon_actual_bytes, stats_age_seconds}')"
echo "$G" | jq -e '.state == "ok" and .stats_age_seconds <= 8' >/dev/null ||
    fail "discovered g0 not ok with fresh stats: $G"
check_client discovered 20
ksmd_stop || fail "ksmd exit status $?"
echo "PASS"
exit 0
