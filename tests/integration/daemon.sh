#!/bin/bash
# Integration: build/ksmd -f with a temporary config and socket, driven by
# build/ksmdctl: status, get/set, bad input, a second instance, SIGHUP with a
# broken file and a good one, SIGTERM (exit 0, KSM settings restored).
. "$(dirname "$0")/../lib/common.sh"
need_bins

T=$(mktemp -d /tmp/ksmd-test.XXXXXX)
cleanup_add "rm -rf $T"
SOCK=$T/ksmd.sock
CONF=$T/ksmd.conf
write_conf() { # $1 = pages_per_sec, $2 = extra lines
    cat > $CONF <<CONF
[daemon]
control_socket = $SOCK
tick = 200ms
[scanner]
pages_per_sec = $1
pass_interval = 1s
[stats]
listen = unix:$T/stats.sock
$2
CONF
}
write_conf 5000 ""

ctl() { "$KSMDCTL" -s "$SOCK" "$@"; }

# ---- -n and --help agree with the man pages' synopsis ----
check "ksmd -n accepts a good file" "$KSMD" -n -c $CONF
printf '[scanner]\nthreads = 0\nbogus = 1\n' > $T/bad.conf
out=$("$KSMD" -n -c $T/bad.conf 2>&1); rc=$?
[ $rc -ne 0 ] || fail "ksmd -n accepted a bad file"
echo "$out" | grep -q "^$T/bad.conf:2: scanner.threads: '0' is out of range" || fail "no line-numbered error: $out"
echo "$out" | grep -q "^$T/bad.conf:3: unknown key 'bogus' in \[scanner\]" || fail "second error missing: $out"
pass_msg "ksmd -n reports every error with FILE:LINE"
out=$("$KSMD" -n -c $T/missing.conf 2>&1) && fail "missing file accepted"
echo "$out" | grep -q "missing.conf: cannot read: No such file" || fail "missing-file message: $out"
check "ksmd --version" bash -c "'$KSMD' --version | grep -q '^ksmd '"
check "ksmd --help" bash -c "'$KSMD' --help | grep -q 'Usage: ksmd'"
check "ksmdctl --help" bash -c "'$KSMDCTL' --help | grep -q 'Usage: ksmdctl'"

# ---- unreachable daemon: exit 2 ----
ctl status >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || fail "ksmdctl against no daemon exited $rc, want 2"
pass_msg "ksmdctl exits 2 when the daemon is unreachable"

# ---- start ----
KSM_BEFORE=""
if [ -w $KSM/run ]; then ksm_save; cleanup_add ksm_restore; KSM_BEFORE=$(ksm_snapshot); fi
# a systemd-style notification socket records what ksmd says (Type=notify)
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as f:
    while True:
        f.write(s.recv(4096).decode().replace("\n", " ") + "\n")
' $T/notify.sock $T/notify.log &
NPID=$!
cleanup_add "kill $NPID 2>/dev/null"
for i in $(seq 50); do [ -S $T/notify.sock ] && break; sleep 0.1; done
NOTIFY_SOCKET=$T/notify.sock "$KSMD" -f -c $CONF > $T/log 2>&1 &
PID=$!
cleanup_add "kill -9 $PID 2>/dev/null"
wait_for 10 "daemon answers on its control socket" ctl status
wait_for 5 "sd_notify READY=1 with MAINPID" grep -q "READY=1 .*MAINPID=$PID" $T/notify.log

# ---- a second instance refuses ----
"$KSMD" -f -c $CONF > $T/log2 2>&1; rc=$?
[ $rc -ne 0 ] || fail "a second instance started"
grep -q "another ksmd is running on $SOCK" $T/log2 || fail "second instance message: $(cat $T/log2)"
ctl status >/dev/null || fail "first instance hurt by the second"
pass_msg "a second instance on the same socket refuses to start"

# ---- get / set ----
[ "$(ctl get scanner.pages_per_sec)" = "scanner.pages_per_sec = 5000" ] || fail "get: $(ctl get scanner.pages_per_sec)"
check "set a live key" ctl set scanner.pages_per_sec 2000
[ "$(ctl get scanner.pages_per_sec)" = "scanner.pages_per_sec = 2000" ] || fail "set not visible"
pass_msg "ksmdctl set scanner.pages_per_sec 2000 is visible in get"
ctl --json get scanner.pages_per_sec | grep -q '"value": "2000"' || fail "get --json"
wait_for 5 "the change is visible in the published snapshot" \
    bash -c "'$KSMDCTL' -s '$SOCK' --json status | grep -q '\"pages_per_sec_limit\": 2000'"
out=$(ctl set scanner.pages_per_sec lots 2>&1); rc=$?
[ $rc -eq 1 ] || fail "bad value: exit $rc"
echo "$out" | grep -q "not a non-negative integer" || fail "bad value message: $out"
out=$(ctl set scanner.threads 4 2>&1); rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "cannot change while ksmd runs" || fail "non-live key: $rc $out"
out=$(ctl set no.such 1 2>&1); rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "unknown key 'no.such'" || fail "unknown key: $rc $out"
out=$(ctl frobnicate 2>&1); rc=$?
[ $rc -eq 2 ] || fail "unknown verb exit $rc"
out=$(ctl guest nosuch 2>&1); rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "unknown guest 'nosuch'" || fail "unknown guest: $rc $out"
out=$(ctl balloon nosuch 1G 2>&1); rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "unknown guest 'nosuch'" || fail "balloon unknown guest: $rc $out"
pass_msg "bad requests: exit 1 with the daemon's message"
check "pause scanner" ctl pause scanner
ctl --json status | grep -q '"state": "paused"' || wait_for 3 "paused visible" bash -c "'$KSMDCTL' -s '$SOCK' --json status | grep -q '\"state\": \"paused\"'"
check "resume scanner" ctl resume scanner
for v in status guests ksm decisions config; do check "ksmdctl $v" ctl $v; done
check "ksmdctl status --json parses" bash -c "'$KSMDCTL' -s '$SOCK' --json status | python3 -m json.tool >/dev/null"

# ---- a raw malformed request does not hurt it ----
python3 - "$SOCK" <<'PY' || fail "malformed request handling"
import socket, sys, json
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b'this is not json\n{"cmd": 5}\n{"cmd":"get","args":[1]}\n')
buf = b''
while buf.count(b'\n') < 3:
    d = s.recv(65536)
    if not d: break
    buf += d
ans = [json.loads(l) for l in buf.split(b'\n') if l]
assert len(ans) == 3 and all(a['ok'] is False for a in ans), ans
s2 = socket.socket(socket.AF_UNIX); s2.connect(sys.argv[1])
s2.sendall(b'x' * (200 * 1024))   # longer than any request may be
try:
    s2.recv(100)
except OSError:
    pass
PY
check "daemon alive after malformed requests" ctl status

# ---- SIGHUP with a broken file: still running on the old one ----
cp $CONF $T/good.conf
printf '[scanner]\npages_per_sec = many\n' > $CONF
kill -HUP $PID
wait_for 5 "broken reload logged with its line" grep -q "$CONF:2: scanner.pages_per_sec: 'many'" $T/log
kill -0 $PID || fail "daemon died on a broken reload"
[ "$(ctl get scanner.pages_per_sec)" = "scanner.pages_per_sec = 2000" ] || fail "value changed by a broken reload"
out=$(ctl reload 2>&1); rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "keeping the running configuration" || fail "ksmdctl reload of a broken file: $rc $out"
pass_msg "SIGHUP and reload with a broken file keep the old configuration"
# ---- SIGHUP with a good one ----
write_conf 3000 ""
kill -HUP $PID
grep -q "RELOADING=1" $T/notify.log || fail "no RELOADING=1 on reload"
wait_for 5 "good reload applied" bash -c "[ \"\$('$KSMDCTL' -s '$SOCK' get scanner.pages_per_sec)\" = 'scanner.pages_per_sec = 3000' ]"
# ---- reload takes values as they are written: no round trip through text ----
write_conf 3000 "[policy]
deadband_percent = 0.1234567
host_wss_interval = 1234567us"
kill -HUP $PID
wait_for 5 "reload keeps deadband_percent exact" \
    bash -c "[ \"\$('$KSMDCTL' -s '$SOCK' get policy.deadband_percent)\" = 'policy.deadband_percent = 0.1234567' ]"
[ "$(ctl get policy.host_wss_interval)" = "policy.host_wss_interval = 1234567us" ] ||
    fail "reload rounded a duration: $(ctl get policy.host_wss_interval)"
pass_msg "1234567us and 0.1234567 survive a reload exactly"

# ---- SIGTERM: exit 0, KSM restored ----
kill -TERM $PID
for i in $(seq 50); do kill -0 $PID 2>/dev/null || break; sleep 0.1; done
kill -0 $PID 2>/dev/null && fail "daemon still running 5 s after SIGTERM"
wait $PID; rc=$?
[ $rc -eq 0 ] || { cat $T/log; fail "exit status $rc after SIGTERM"; }
pass_msg "SIGTERM: clean exit 0"
grep -q "STOPPING=1" $T/notify.log || fail "no STOPPING=1 at shutdown"
[ -e $SOCK ] && fail "control socket left behind"
if [ -n "$KSM_BEFORE" ]; then
    [ "$(ksm_snapshot)" = "$KSM_BEFORE" ] || fail "KSM settings not restored: before '$KSM_BEFORE' after '$(ksm_snapshot)'"
    pass_msg "KSM settings as found: $KSM_BEFORE"
fi
echo "daemon integration: all checks passed"
