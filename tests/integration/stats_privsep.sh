#!/bin/bash
# Integration: the stats endpoint runs in a process without privileges
# (issue 15, "Least privilege": privilege separation; daemon/http_sep.c,
# stats/http_child.c). A ksmd as root, stats on 127.0.0.1, no KSM, one
# plain process as a guest (so that the child renders a guest's bodies):
#   - the endpoint is served by one child of ksmd named ksmd-http, whose
#     /proc status shows: uid and gid not 0, no supplementary group,
#     CapEff, CapPrm, CapBnd (and CapInh, CapAmb) zero, NoNewPrivs 1,
#     Seccomp 2 (filter); it holds no descriptor but its two sockets and
#     the standard three; its root is the chart library's folder (the
#     nearest that exists), and the library is still served from there;
#   - /v1/stats and /metrics answer with the current snapshot (its tick
#     moves, the metrics count the requests);
#   - the child killed with SIGKILL is logged, once, and the endpoint
#     answers again within 5 s, its request counters carried over;
#   - a stopped child (it answers no snapshot) does not stall the daemon;
#   - the snapshot's http object, read over the control socket, says who
#     serves (pid, user, uid) and, while the endpoint is down, since when
#     and how many children were lost; `ksmdctl status` says "DOWN";
#   - after SIGTERM of ksmd no child remains, and ksmd exits 0;
#   - stats.user: root and a user that does not exist are refused at
#     FILE:LINE by `ksmd -n`; a user made for the test is the one the
#     child becomes (and the snapshot names).
. "$(dirname "$0")/../lib/common.sh"
need_root
need_bins
command -v curl >/dev/null || skip "needs curl"

T=$(mktemp -d /tmp/ksmd-test.XXXXXX)
cleanup_add "rm -rf $T"
sleep 300 &
GUEST=$!
cleanup_add "kill $GUEST 2>/dev/null"
ksmd_stats_conf $T/ksmd.conf $T/ksmd.sock 127.0.0.1:0 g1 $GUEST
KSMD_LOG=$T/log
ksmd_start $T/ksmd.conf
PID=$KSMD_PID
cleanup_add "kill -9 $PID 2>/dev/null; pkill -9 -P $PID 2>/dev/null"
PORT=$(sed -n 's/.*stats: serving on 127.0.0.1:0 (port \([0-9]*\)).*/\1/p' $T/log | head -1)
[ -n "$PORT" ] || fail "no port in the log: $(cat $T/log)"
URL=http://127.0.0.1:$PORT
wait_for 10 "/v1/stats answers" curl -sf -m 3 -o /dev/null $URL/v1/stats

# The children of ksmd; exactly one, named ksmd-http.
children() { pgrep -P $PID; }
child() {
    local c
    c=$(children)
    [ "$(wc -w <<<"$c")" = 1 ] || return 1
    [ "$(cat /proc/$c/comm 2>/dev/null)" = ksmd-http ] || return 1
    echo $c
}
C=$(child) || fail "not one ksmd-http child of ksmd: '$(children)'"
# its root: the chart library's folder, or the nearest folder above it
CHART=/usr/share/javascript/chart.js/chart.min.js
CHART_ROOT=$(dirname $CHART)
while [ ! -d "$CHART_ROOT" ]; do CHART_ROOT=$(dirname "$CHART_ROOT"); done

field() { awk -v k="$1:" '$1 == k {print $2; exit}' /proc/$C/status; }
status_ok() {
    awk '$1 == "Uid:" { for (i = 2; i <= 5; i++) if ($i == 0) exit 1 }' /proc/$C/status ||
        fail "the child has a root uid: $(grep Uid /proc/$C/status)"
    awk '$1 == "Gid:" { for (i = 2; i <= 5; i++) if ($i == 0) exit 1 }' /proc/$C/status ||
        fail "the child has a root gid: $(grep Gid /proc/$C/status)"
    [ -z "$(awk '$1 == "Groups:" {$1 = ""; print}' /proc/$C/status | tr -d ' ')" ] ||
        fail "the child keeps supplementary groups: $(grep Groups /proc/$C/status)"
    for k in CapInh CapPrm CapEff CapBnd CapAmb; do
        [ "$(field $k)" = 0000000000000000 ] || fail "the child's $k is $(field $k), not 0"
    done
    [ "$(field NoNewPrivs)" = 1 ] || fail "the child's NoNewPrivs is $(field NoNewPrivs)"
    [ "$(field Seccomp)" = 2 ] || fail "the child's Seccomp is $(field Seccomp), not 2 (filter)"
    [ "$(readlink /proc/$C/root)" = "$CHART_ROOT" ] ||
        fail "the child's root is $(readlink /proc/$C/root), not $CHART_ROOT"
    local fds
    fds=$(ls /proc/$C/fd | sort -n | tr '\n' ' ')
    for fd in $fds; do
        [ $fd -le 4 ] || [[ $(readlink /proc/$C/fd/$fd) == anon_inode:* ]] ||
            fail "the child holds descriptor $fd -> $(readlink /proc/$C/fd/$fd)"
    done
}
status_ok
pass_msg "the endpoint's process $C: $(grep -E '^(Uid|Gid):' /proc/$C/status | tr -s '\t' ' ' | tr '\n' ';') no capability, NoNewPrivs 1, Seccomp 2"
# the snapshot names it
UID_C=$(awk '$1 == "Uid:" {print $2}' /proc/$C/status)
USER_C=$(getent passwd $UID_C | cut -d: -f1)
wait_for 5 "the snapshot names the serving process" snap_true \
    ".http.serving == true and .http.pid == $C and .http.uid == $UID_C and .http.user == \"$USER_C\" and .http.losses_total == 0 and .http.down_seconds == 0"
ctl status | grep -qF "stats     127.0.0.1:0, served by pid $C as $USER_C (uid $UID_C)" ||
    fail "ksmdctl status does not name the endpoint's process: $(ctl status)"

# The current data: the tick moves from one read to the next.
tick() { curl -sf -m 3 $URL/v1/stats | jq -r .tick; }
t1=$(tick); sleep 2.2; t2=$(tick)
[ -n "$t1" ] && [ -n "$t2" ] && [ "$t2" -gt "$t1" ] || fail "/v1/stats does not follow the ticks: $t1 then $t2"
curl -sf -m 3 $URL/metrics > $T/m1 || fail "/metrics does not answer"
grep -q '^ksmd_build_info' $T/m1 || fail "/metrics has no ksmd_build_info: $(head -5 $T/m1)"
# the requests counted by the child reach the daemon's snapshot
wait_for 5 "ksmd_http_requests_total counts /v1/stats" \
    sh -c "curl -sf -m 3 $URL/metrics | grep -q 'ksmd_http_requests_total{path=\"/v1/stats\",code=\"200\"}'"
before=$(curl -sf -m 3 $URL/metrics | sed -n 's/^ksmd_http_requests_total{path="\/v1\/stats",code="200"} //p')
curl -sf -m 3 $URL/v1/guests/g1 | jq -e '.guest.name == "g1"' >/dev/null || fail "/v1/guests/g1 does not answer g1"
pass_msg "/v1/stats (tick $t1 -> $t2), /v1/guests/g1 and /metrics answer; /v1/stats counted $before times"
# the chart library, from inside the new root
code=$(curl -s -m 3 -o $T/chart.js -w '%{http_code}' $URL/js/chart.min.js)
if [ -f $CHART ]; then
    [ "$code" = 200 ] && cmp -s $T/chart.js $CHART ||
        fail "the chart library is not served from the child's root $CHART_ROOT: $code, $(stat -c %s $T/chart.js) bytes"
    pass_msg "root $CHART_ROOT: /js/chart.min.js served whole ($(stat -c %s $CHART) bytes)"
else
    [ "$code" = 404 ] || fail "no chart library installed, yet /js/chart.min.js answers $code"
    pass_msg "root $CHART_ROOT: no chart library installed, /js/chart.min.js 404"
fi

# SIGKILL: logged once, back within 5 s, the counters carried over.
kill -KILL $C
wait_for 5 "the endpoint answers again after SIGKILL of its process" curl -sf -m 1 -o /dev/null $URL/v1/stats
lines=$(grep -c "the HTTP process (pid $C) died (killed by signal 9" $T/log)
[ "$lines" = 1 ] || fail "the death of $C logged $lines times: $(grep 'HTTP process' $T/log)"
C2=$(child) || fail "not one ksmd-http child after the restart: '$(children)'"
[ "$C2" != "$C" ] || fail "the child was not restarted"
C=$C2
status_ok
wait_for 5 "the request counters survive the restart" sh -c \
    "n=\$(curl -sf -m 3 $URL/metrics | sed -n 's/^ksmd_http_requests_total{path=\"\\/v1\\/stats\",code=\"200\"} //p'); [ \"\${n:-0}\" -gt $before ]"
pass_msg "SIGKILL of the endpoint's process logged once, restarted as $C, counters carried over"

# A child that does not read: stopped, it answers no snapshot, and the
# daemon must not wait for it (it keeps the newest snapshot, sends none).
kill -STOP $C
sleep 2.5
"$KSMDCTL" -s $T/ksmd.sock status > /dev/null || fail "ksmd stops answering while its HTTP process is stopped"
kill -CONT $C
pass_msg "a stopped HTTP process does not stall the daemon"

# Two more deaths soon after the first: the restarts wait 2 s, then 4 s
# (the backoff doubles), and meanwhile the control socket says the
# endpoint is down, since when, and which process was lost. The snapshot
# and the status text are read at one moment, within the 4 s.
kill -KILL $C
wait_for 5 "the endpoint answers again after a second SIGKILL" curl -sf -m 1 -o /dev/null $URL/v1/stats
C=$(child) || fail "not one ksmd-http child after the second restart: '$(children)'"
kill -KILL $C
down_state() {
    "$KSMDCTL" -s "$KSMD_SOCK" --json status > $T/snap.down 2>/dev/null &&
        "$KSMDCTL" -s "$KSMD_SOCK" status > $T/status.down 2>/dev/null &&
        jq -e ".http.serving == false and .http.pid == $C and .http.losses_total == 3" $T/snap.down >/dev/null &&
        grep -q '^stats .* DOWN for' $T/status.down
}
wait_for 4 "the control socket shows the endpoint down" down_state
grep -qE "^stats     127\.0\.0\.1:0 DOWN for [0-9.]+s: its process \(pid $C, as $USER_C, uid $UID_C\) was lost and is being restarted \(see the log\); lost 3 times$" $T/status.down ||
    fail "ksmdctl status does not show the endpoint down: $(cat $T/status.down)"
down=$(jq .http.down_seconds $T/snap.down)
awk -v d="$down" 'BEGIN { exit !(d > 0 && d < 5) }' || fail "http.down_seconds is $down while down"
wait_for 7 "the endpoint answers again after a third SIGKILL" curl -sf -m 1 -o /dev/null $URL/v1/stats
C=$(child) || fail "not one ksmd-http child after the third restart: '$(children)'"
wait_for 3 "the snapshot shows the endpoint served again" snap_true \
    ".http.serving == true and .http.pid == $C and .http.down_seconds == 0 and .http.losses_total == 3"
curl -sf -m 3 $URL/metrics | grep -qx 'ksmd_http_process_losses_total 3' ||
    fail "/metrics does not count the 3 losses: $(curl -sf -m 3 $URL/metrics | grep losses)"
pass_msg "the endpoint down: shown by ksmdctl status ($(sed -n 's/^stats *//p' $T/status.down | cut -c1-60)...), down_seconds $down, back as $C, /metrics counts 3 losses"

# The only deaths were the ones caused here (none by the seccomp filter).
deaths=$(grep -c "the HTTP process (pid [0-9]*) " $T/log)
[ "$deaths" = 3 ] || fail "the HTTP process died $deaths times: $(grep 'HTTP process' $T/log)"

# SIGTERM: ksmd exits 0 and leaves no child.
kill -TERM $PID
for _ in $(seq 50); do kill -0 $PID 2>/dev/null || break; sleep 0.1; done
kill -0 $PID 2>/dev/null && fail "ksmd still runs 5 s after SIGTERM"
wait $PID; rc=$?
[ $rc = 0 ] || fail "ksmd exited $rc: $(tail -5 $T/log)"
pgrep -f -- "--http-child" | while read -r p; do
    [ "$(awk '$1 == "PPid:" {print $2}' /proc/$p/status 2>/dev/null)" = 1 ] &&
        fail "an orphaned ksmd-http remains: $p"
done
kill -0 $C 2>/dev/null && [ "$(cat /proc/$C/comm 2>/dev/null)" = ksmd-http ] && fail "ksmd-http $C outlived ksmd"
pass_msg "SIGTERM: ksmd exited 0, no ksmd-http left"

# stats.user: refused at its line when it is root or names no user.
user_conf() { # FILE USER: the test's configuration with stats.user = USER
    sed "/^\[stats\]/a user = $2" $T/ksmd.conf > "$1"
}
line_of() { grep -n '^user = ' "$1" | cut -d: -f1; }
for u in root no-such-user-$$; do
    user_conf $T/u.conf $u
    out=$("$KSMD" -n -c $T/u.conf 2>&1) && fail "ksmd -n accepts stats.user = $u"
    grep -q "^$T/u.conf:$(line_of $T/u.conf): stats.user: " <<<"$out" ||
        fail "stats.user = $u: no FILE:LINE error: $out"
done
pass_msg "stats.user = root and = a missing user refused: $(head -1 <<<"$out")"

# a user of the operator's choosing
command -v useradd >/dev/null || skip "needs useradd for stats.user"
TU=ksmdt$$
useradd --system --no-create-home --shell /usr/sbin/nologin $TU || fail "useradd $TU failed"
cleanup_add "userdel $TU 2>/dev/null"
TUID=$(id -u $TU)
user_conf $T/u.conf $TU
ksmd_start $T/u.conf
PID=$KSMD_PID
cleanup_add "kill -9 $PID 2>/dev/null; pkill -9 -P $PID 2>/dev/null"
wait_for 10 "the endpoint served as $TU" snap_true ".http.serving == true and .http.user == \"$TU\" and .http.uid == $TUID"
C=$(child) || fail "not one ksmd-http child as $TU: '$(children)'"
awk -v u=$TUID '$1 == "Uid:" { for (i = 2; i <= 5; i++) if ($i != u) exit 1 }' /proc/$C/status ||
    fail "the child does not run as $TU ($TUID): $(grep Uid /proc/$C/status)"
status_ok
ksmd_stop || fail "ksmd with stats.user = $TU did not exit 0"
pass_msg "stats.user = $TU: the child runs as uid $TUID"
echo PASS
