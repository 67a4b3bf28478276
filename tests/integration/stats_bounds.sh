#!/bin/bash
# Integration: the stats endpoint's resource bounds (issue 15, item 5).
# A ksmd without KSM management and without guests, its endpoint on
# 127.0.0.1, and hostile local clients; meanwhile a scraper (curl, from
# 127.0.0.1 like a Prometheus on the host) must get /metrics in 3 s:
#   - 16 connections from 127.0.0.1 dripping a byte of a request every
#     second (the idle timeout never fires): each is closed at the request
#     deadline, however often it drips;
#   - 500 connections from 38 loopback addresses (127.0.0.2-39), dripping,
#     reopened as soon as they are closed;
#   - `listen` on a non-loopback address logs a warning naming that the
#     endpoint has no authentication; on loopback it does not.
# Each prints its figures ("figure: ...") for the record.
. "$(dirname "$0")/../lib/common.sh"
need_bins
command -v curl >/dev/null || skip "needs curl"

T=$(mktemp -d /tmp/ksmd-test.XXXXXX)
cleanup_add "rm -rf $T"
write_conf() { # $1 = file, $2 = control socket, $3 = listen
    cat > $1 <<CONF
[daemon]
control_socket = $2
tick = 1s
[ksm]
manage = no
[scanner]
enabled = no
[stats]
listen = $3
CONF
}
write_conf $T/ksmd.conf $T/ksmd.sock 127.0.0.1:0
"$KSMD" -f -c $T/ksmd.conf > $T/log 2>&1 &
PID=$!
cleanup_add "kill -9 $PID 2>/dev/null"
cleanup_add '[ -n "${BG:-}" ] && kill $BG 2>/dev/null'
wait_for 10 "daemon answers on its control socket" "$KSMDCTL" -s $T/ksmd.sock status
PORT=$(sed -n 's/.*stats: serving on 127.0.0.1:0 (port \([0-9]*\)).*/\1/p' $T/log | head -1)
[ -n "$PORT" ] || fail "no port in the log: $(cat $T/log)"
URL=http://127.0.0.1:$PORT/metrics
wait_for 10 "/metrics answers" curl -sf -m 3 -o /dev/null $URL

# The misbehaving clients: N connections spread over ADDRS source addresses,
# each sending one byte of a request every EVERY seconds, never a whole one;
# a connection closed by the server is counted, its lifetime noted, and
# opened again 0.2 s later (at once, it would only make the machine, shared
# with other tests, busier). Prints its figures on SIGTERM or after SECS.
cat > $T/drip.py <<'PY'
import selectors, signal, socket, sys, time
port, n, addrs, every, secs = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].split(','), float(sys.argv[4]), float(sys.argv[5])
req = b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nX-Drip: " + b"a" * 4000
sel = selectors.DefaultSelector()
conns = {}   # socket -> [opened at, bytes sent]
closed, lifetimes, refused = 0, [], 0
reopen = []  # (when, index)
def open_one(i):
    global refused
    s = socket.socket(); s.setblocking(False)
    s.bind((addrs[i % len(addrs)], 0))
    try:
        s.connect(('127.0.0.1', port))
    except BlockingIOError:
        pass
    except OSError:
        refused += 1; s.close(); return
    conns[s] = [time.monotonic(), 0, i]
    sel.register(s, selectors.EVENT_READ)
stop = [False]
signal.signal(signal.SIGTERM, lambda *a: stop.__setitem__(0, True))
for i in range(n):
    open_one(i)
t0 = last = time.monotonic()
while not stop[0] and time.monotonic() - t0 < secs:
    for key, _ in sel.select(timeout=0.1):
        s = key.fileobj
        try:
            d = s.recv(4096)
        except OSError:
            d = b''
        if not d:
            opened, _, i = conns.pop(s)
            sel.unregister(s); s.close()
            closed += 1; lifetimes.append(time.monotonic() - opened)
            reopen.append((time.monotonic() + 0.2, i))
    while reopen and reopen[0][0] <= time.monotonic():
        open_one(reopen.pop(0)[1])
    if time.monotonic() - last >= every:
        last = time.monotonic()
        for s, st in list(conns.items()):
            if st[1] < len(req):
                try:
                    st[1] += s.send(req[st[1]:st[1] + 1])
                except OSError:
                    pass
longest = max([time.monotonic() - c[0] for c in conns.values()] + lifetimes + [0])
print(f"{n} connections from {len(addrs)} addresses, one byte every {every:g} s: "
      f"{closed} closed by the server, {refused} refused at connect, "
      f"longest open {longest:.1f} s", flush=True)
PY

# scrape NAME: time a curl of /metrics, fail unless it answers 200 in 3 s
scrape() {
    local t0=$(date +%s%N) code
    code=$(curl -s -m 3 -o $T/metrics -w '%{http_code}' $URL)
    local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    echo "figure: $1: curl $URL: HTTP $code in $ms ms"
    [ "$code" = 200 ] && grep -q '^ksmd_' $T/metrics || fail "$1: /metrics not served (HTTP $code, $ms ms)"
}

# ---- 16 connections from 127.0.0.1 dripping a byte a second ----
python3 $T/drip.py $PORT 16 127.0.0.1 1 14 > $T/drip16.out &
BG=$!
sleep 2
for i in 1 2 3; do scrape "16 dripping connections from 127.0.0.1, scrape $i"; sleep 3; done
wait $BG; BG=
echo "figure: $(cat $T/drip16.out)"
longest=$(sed -n 's/.*longest open \([0-9]*\)\..*/\1/p' $T/drip16.out)
[ -n "$longest" ] && [ $longest -le 9 ] || fail "a dripping connection stayed open too long: $(cat $T/drip16.out)"
pass_msg "16 dripping connections: /metrics served; none kept open past the deadline"

# ---- 500 connections from 38 loopback addresses ----
ADDRS=$(seq -s, -f '127.0.0.%g' 2 39)
cpu_ticks() { awk '{print $14 + $15}' /proc/$PID/stat; }
c0=$(cpu_ticks); t0=$(date +%s%N)
python3 $T/drip.py $PORT 500 $ADDRS 2 60 > $T/flood.out &
BG=$!
sleep 3
for i in 1 2 3 4 5; do scrape "500 connections from 38 addresses, scrape $i"; sleep 2; done
kill -TERM $BG; wait $BG; BG=
c1=$(cpu_ticks); t1=$(date +%s%N)
echo "figure: $(cat $T/flood.out); ksmd CPU meanwhile $(( (c1 - c0) * 100 * 1000000000 / $(getconf CLK_TCK) / (t1 - t0) ))%"
kill -0 $PID || fail "ksmd died"
scrape "after the flood"
pass_msg "500 connections from 38 addresses: /metrics served throughout"

# ---- the listen address: a warning unless loopback ----
grep -q "no authentication" $T/log && fail "warning on a loopback listen: $(grep 'no authentication' $T/log)"
write_conf $T/any.conf $T/any.sock 0.0.0.0:0
"$KSMD" -f -c $T/any.conf > $T/any.log 2>&1 &
APID=$!
cleanup_add "kill -9 $APID 2>/dev/null"
wait_for 10 "a second daemon on 0.0.0.0 answers" "$KSMDCTL" -s $T/any.sock status
kill -TERM $APID; wait $APID
grep "stats:.*0\.0\.0\.0.*no authentication" $T/any.log || fail "no warning for listen = 0.0.0.0: $(cat $T/any.log)"
pass_msg "listen = 0.0.0.0 logs that the endpoint has no authentication"
write_conf $T/lo.conf $T/lo.sock localhost:0
"$KSMD" -f -c $T/lo.conf > $T/lo.log 2>&1 &
APID=$!
wait_for 10 "a daemon on localhost answers" "$KSMDCTL" -s $T/lo.sock status
kill -TERM $APID; wait $APID
grep -q "no authentication" $T/lo.log && fail "warning on listen = localhost: $(cat $T/lo.log)"
pass_msg "listen = localhost: no warning"
# ksmd -n says the same, and refuses what would make the daemon exit at start
out=$("$KSMD" -n -c $T/any.conf 2>&1) || fail "ksmd -n refused listen = 0.0.0.0: $out"
echo "$out" | grep -q "warning: stats.listen = 0.0.0.0:0 .*no authentication" || fail "ksmd -n: no warning: $out"
"$KSMD" -n -c $T/lo.conf 2>&1 | grep -q "no authentication" && fail "ksmd -n warns on localhost"
write_conf $T/bad.conf $T/bad.sock nosuchhost.invalid:9
out=$("$KSMD" -n -c $T/bad.conf 2>&1) && fail "ksmd -n accepted an unresolvable stats.listen: $out"
echo "$out" | grep -q "stats.listen: 'nosuchhost.invalid:9'" || fail "ksmd -n: $out"
pass_msg "ksmd -n: the warning for 0.0.0.0, an error for a listen the daemon could not open"

kill -TERM $PID
wait $PID; rc=$?
[ $rc -eq 0 ] || { tail -20 $T/log; fail "exit status $rc after SIGTERM"; }
pass_msg "clean exit after the flood"
echo "stats bounds: all checks passed"
