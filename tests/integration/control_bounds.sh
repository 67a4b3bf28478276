#!/bin/bash
# Integration: the control socket's resource bounds (issue 15, item 4).
# A ksmd without KSM management and without guests, and misbehaving clients:
#   - pipelined requests, more than 64 KiB of them in one write: all answered;
#   - a request then a half-close (shutdown SHUT_WR): answered;
#   - 40 idle connections: a new `ksmdctl status` still answers at once
#     (the idle ones are evicted, not the newcomer refused);
#   - a client that pipelines requests and never reads its answers: the
#     daemon's RSS stays bounded, `ksmdctl status` answers meanwhile;
#   - a client that half-closes with answers pending and never reads: no
#     busy loop (the daemon's CPU over 3 s stays low);
#   - a client dripping a byte every 3 s, never a whole request: closed
#     after the idle timeout (30 s) however often it drips.
# Each prints its figures ("figure: ...") for the record.
. "$(dirname "$0")/../lib/common.sh"
need_bins

T=$(mktemp -d /tmp/ksmd-test.XXXXXX)
cleanup_add "rm -rf $T"
SOCK=$T/ksmd.sock
cat > $T/ksmd.conf <<CONF
[daemon]
control_socket = $SOCK
tick = 1s
[ksm]
manage = no
[stats]
enabled = no
CONF

# Under ASan, freed memory sits in a quarantine (256 MB by default) and
# would count as growth: keep it small, and judge growth, not the total.
ASAN=no
if ldd "$KSMD" | grep -q libasan; then
    ASAN=yes
    export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4:thread_local_quarantine_size_kb=256"
fi
"$KSMD" -f -c $T/ksmd.conf > $T/log 2>&1 &
PID=$!
cleanup_add "kill -9 $PID 2>/dev/null"
cleanup_add '[ -n "${BG:-}" ] && kill $BG 2>/dev/null'
wait_for 10 "daemon answers on its control socket" "$KSMDCTL" -s $SOCK status

rss_kb() { awk '/^VmRSS:/ {print $2}' /proc/$PID/status; }
cpu_ticks() { awk '{print $14 + $15}' /proc/$PID/stat; }
# ms_of CMD...: run CMD, print how long it took in ms; its status is CMD's
ms_of() {
    local t0=$(date +%s%N) rc
    "$@" >/dev/null 2>&1; rc=$?
    echo $(( ($(date +%s%N) - t0) / 1000000 ))
    return $rc
}
alive() { kill -0 $PID 2>/dev/null || { tail -20 $T/log; fail "ksmd died"; }; }

# ---- pipelined requests: 2000 in one write (94 KB), all answered ----
python3 - "$SOCK" <<'PY' || fail "pipelined requests not all answered"
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(10)
req = b'{"cmd":"get","args":["scanner.pages_per_sec"]}\n'
n = 2000
s.sendall(req * n)
buf = b''
while buf.count(b'\n') < n:
    d = s.recv(65536)
    if not d:
        break
    buf += d
ans = [json.loads(l) for l in buf.split(b'\n') if l]
ok = sum(1 for a in ans if a.get('ok') is True)
print(f"figure: pipelined: {len(req) * n} bytes of {n} requests, {ok} answered ok")
assert ok == n, f"{ok} of {n} answered ok; first: {ans[:1]}"
PY
pass_msg "2000 pipelined requests (94 KB in one write) all answered"
python3 - "$SOCK" <<'PY' || fail "a line over 64 KiB among good requests"
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(10)
s.sendall(b'{"cmd":"get","args":["scanner.pages_per_sec"]}\n' + b'x' * (70 * 1024) + b'\n')
buf = b''
while True:
    try:
        d = s.recv(65536)
    except OSError:
        break
    if not d:
        break
    buf += d
ans = [json.loads(l) for l in buf.split(b'\n') if l]
assert len(ans) == 2 and ans[0]['ok'] and not ans[1]['ok'] and 'longer than' in ans[1]['error'], ans
PY
pass_msg "a line over 64 KiB is refused with its own answer, the one before it answered"

# ---- half-close after a request: still answered ----
python3 - "$SOCK" <<'PY' || fail "request followed by a half-close not answered"
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(5)
s.sendall(b'{"cmd":"get","args":["scanner.pages_per_sec"]}\n{"cmd":"status"}\n')
s.shutdown(socket.SHUT_WR)
buf = b''
while True:
    d = s.recv(65536)
    if not d:
        break
    buf += d
ans = [json.loads(l) for l in buf.split(b'\n') if l]
assert len(ans) == 2 and all(a['ok'] for a in ans), buf[:200]
PY
pass_msg "requests then a half-close: both answered, then closed"

# ---- 40 idle connections: a new client is served at once ----
python3 - "$SOCK" $T/idle.ready <<'PY' &
import socket, sys, time
conns = []
for i in range(40):
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); conns.append(s)
    time.sleep(0.01)
open(sys.argv[2], 'w').close()
time.sleep(8)
PY
BG=$!
wait_for 5 "40 idle connections open" test -e $T/idle.ready
ms=$(ms_of "$KSMDCTL" -s $SOCK status) || fail "ksmdctl status refused with 40 idle connections: $("$KSMDCTL" -s $SOCK status 2>&1)"
echo "figure: idle: 40 idle connections open, ksmdctl status answered in $ms ms"
[ $ms -lt 3000 ] || fail "ksmdctl status took $ms ms with 40 idle connections"
for i in 1 2 3; do "$KSMDCTL" -s $SOCK status >/dev/null || fail "ksmdctl status #$i with idle connections"; done
pass_msg "40 idle connections do not lock ksmdctl out ($ms ms)"
kill $BG 2>/dev/null; wait $BG 2>/dev/null; BG=

# ---- a client dripping one byte every 3 s: closed after the idle timeout ----
python3 - "$SOCK" $T/drip.out <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(3)
t0 = time.monotonic()
res = "open after 50 s"
while time.monotonic() - t0 < 50:
    try:
        s.send(b'{')
        if s.recv(100) == b'':
            res = f"closed after {time.monotonic() - t0:.1f} s"
            break
    except socket.timeout:
        continue
    except OSError:
        res = f"closed after {time.monotonic() - t0:.1f} s"
        break
open(sys.argv[2], 'w').write(res + "\n")
PY
DRIP=$!
cleanup_add "kill $DRIP 2>/dev/null"
DRIP_T0=$(date +%s)

# ---- a client that pipelines and never reads: bounded memory ----
rss0=$(rss_kb)
python3 - "$SOCK" 8 > $T/noread.out <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(0.2)
batch = b'{"cmd":"status"}\n' * 20  # paced: never more than the daemon reads at once
sent, t0 = 0, time.monotonic()
while time.monotonic() - t0 < float(sys.argv[2]):
    try:
        sent += s.send(batch)
    except socket.timeout:
        pass
    except OSError:
        break
    time.sleep(0.002)
print(f"{sent}")
time.sleep(1)
PY
BG=$!
sleep 4
ms=$(ms_of "$KSMDCTL" -s $SOCK status) || fail "ksmdctl status failed beside a non-reading client"
sleep 4
rss1=$(rss_kb)
wait $BG; BG=
alive
echo "figure: non-reading client: sent $(cat $T/noread.out) bytes of requests in 8 s; RSS $rss0 -> $rss1 kB; ksmdctl status meanwhile: $ms ms"
[ $ms -lt 3000 ] || fail "ksmdctl status took $ms ms beside a non-reading client"
[ $ASAN = yes ] || [ $rss1 -lt 32768 ] || fail "RSS grew to $rss1 kB with a client that never reads"
[ $((rss1 - rss0)) -lt 16384 ] || fail "RSS grew by $((rss1 - rss0)) kB with a client that never reads"
pass_msg "a client that never reads: RSS $rss0 -> $rss1 kB, ksmdctl status in $ms ms"

# ---- half-close with answers pending, never reading: no busy loop ----
python3 - "$SOCK" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(2)
try:
    s.sendall(b'{"cmd":"status"}\n' * 400)   # ~1 MB of answers: more than the socket buffer
except OSError:
    pass
time.sleep(0.5)   # the daemon has read them and holds answers it cannot send
s.shutdown(socket.SHUT_WR)
time.sleep(6)
PY
BG=$!
sleep 1.5
HZ=$(getconf CLK_TCK)
c0=$(cpu_ticks); t0=$(date +%s%N)
sleep 3
c1=$(cpu_ticks); t1=$(date +%s%N)
pct=$(( (c1 - c0) * 100 * 1000000000 / HZ / (t1 - t0) ))
kill $BG 2>/dev/null; wait $BG 2>/dev/null; BG=
alive
echo "figure: half-closed non-reading client: daemon CPU ${pct}% over 3 s"
[ $pct -lt 20 ] || fail "daemon used ${pct}% CPU over 3 s beside a half-closed client"
pass_msg "a half-closed client with answers pending: ${pct}% CPU"
"$KSMDCTL" -s $SOCK status >/dev/null || fail "ksmdctl status after the half-closed client"

# ---- the dripping client's end ----
left=$(( DRIP_T0 + 45 - $(date +%s) ))
[ $left -gt 0 ] || left=1
wait_for $left "the dripping client's result" test -s $T/drip.out
res=$(cat $T/drip.out)
echo "figure: dripping client (one byte every 3 s, never a whole request): $res"
case $res in
    "closed after "*) s=${res#closed after }; s=${s%% *}; s=${s%.*}
        [ $s -ge 25 ] && [ $s -le 40 ] || fail "dripping client $res (idle timeout 30 s)" ;;
    *) fail "dripping client $res" ;;
esac
pass_msg "a client dripping bytes is closed after the idle timeout ($res)"

"$KSMDCTL" -s $SOCK status >/dev/null || fail "ksmdctl status at the end"
kill -TERM $PID
wait $PID; rc=$?
[ $rc -eq 0 ] || { tail -20 $T/log; fail "exit status $rc after SIGTERM"; }
pass_msg "clean exit after the misbehaving clients"
echo "control bounds: all checks passed"
