#!/bin/bash
# End to end, the live page: ksmd with two real QEMU guests serves its page
# at / on loopback; headless Chromium (Debian chromium) loads it as a person
# would, runs its script and the chart library (Debian libjs-chart.js, from
# its installed path), and the test reads the page Chromium built: the
# guests' names and sizes in the guest table, both charts drawn by the
# library from the daemon's hour of history (points the page cannot have
# seen itself), the host figures filled, no form, and nothing in the
# browser's console (a script error or a Content-Security-Policy violation
# is a console message; the page itself logs nothing). Then the same page
# without the library (a proxy answers 404 for it): the tables, and a note
# naming the package. A screenshot is kept in $KSMD_BUILD/e2e/page.png.
. "$(dirname "$0")/../lib/common.sh"
need_bins
need_root
need_ksm
for c in jq curl timeout; do
    command -v $c >/dev/null || fail "$c is missing (make deps)"
done
CHROMIUM=$(command -v chromium) || skip "chromium is missing (make deps installs it: deps/e2e.txt)"
CHART_JS=/usr/share/javascript/chart.js/chart.min.js
[ -r $CHART_JS ] || skip "libjs-chart.js is missing (make deps installs it: deps/stats.txt)"
source "$ROOT/tests/guest/lab.sh"
lab_atexit _run_cleanups
lab_require || exit $?

ksm_save
cleanup_add ksm_restore
T=$(mktemp -d /tmp/ksmd-e2e.XXXXXX)
cleanup_add "rm -rf $T"
SHOT_DIR=$B/e2e
mkdir -p "$SHOT_DIR"
lab_start 2 256 7 9 || fail "lab guests did not start"
cleanup_add ksmd_stop

cat > $T/ksmd.conf <<EOF
[daemon]
control_socket = $T/ksmd.sock
tick = 500ms
[scanner]
pass_interval = 1s
[stats]
listen = 127.0.0.1:0
[guest web-1]
qmp = ${LAB_QMP[0]}
min = 128M
[guest db.2]
qmp = ${LAB_QMP[1]}
min = 128M
EOF
ksmd_start $T/ksmd.conf
PORT=$(sed -n 's/.*stats: serving on 127\.0\.0\.1:0 (port \([0-9]*\)).*/\1/p' $KSMD_LOG | tail -1)
[ -n "$PORT" ] || fail "no stats port in $KSMD_LOG"
URL=http://127.0.0.1:$PORT/
wait_for 30 "both guests managed" snap_is '[.guests[].state] | join(" ")' "ok ok"

# The history is the daemon's: a point every 10 s. Two points before the
# browser opens the page, which then runs for less than one step: a chart
# with two points drew an hour it did not see itself.
history_points() { curl -sf ${URL}v1/history | jq '.points | length'; }
history_has() { [ "$(history_points)" -ge "$1" ]; }
wait_for 30 "the daemon's history holds two points" history_has 2

# What the server answers around the page: every file with the policy,
# the library from its installed path, no write anywhere.
hdrs=$(curl -sfI $URL) || fail "HEAD /"
grep -qi "^Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self';" <<<"$hdrs" ||
    fail "no strict Content-Security-Policy on /: $hdrs"
grep -qi '^Content-Type: text/html' <<<"$hdrs" || fail "/ is not HTML: $hdrs"
curl -sf ${URL}js/chart.min.js | cmp -s - $CHART_JS || fail "/js/chart.min.js is not $CHART_JS"
pass_msg "/ served with a strict CSP; /js/chart.min.js is $CHART_JS as installed"
for m in POST PUT DELETE; do
    st=$(curl -s -o /dev/null -w '%{http_code}' -X $m $URL)
    [ "$st" = 405 ] || fail "$m / answered $st, not 405"
done
pass_msg "POST, PUT, DELETE on /: 405"

# Chromium as root needs --no-sandbox; a profile of its own, removed after.
PROFILE=$(mktemp -d /tmp/ksmd-chromium.XXXXXX)
cleanup_add "rm -rf $PROFILE"
browse() {
    timeout 40 "$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run \
        --disable-extensions --disable-background-networking --user-data-dir=$PROFILE \
        --enable-logging=stderr --v=0 --virtual-time-budget=4000 --window-size=1280,1500 "$@"
}
t0=$(date +%s%N)
browse --dump-dom $URL > $T/dom.html 2> $T/chromium.log || {
    tail -20 $T/chromium.log; fail "chromium --dump-dom failed"; }
browse --screenshot=$SHOT_DIR/page.png $URL > /dev/null 2>> $T/chromium.log || {
    tail -20 $T/chromium.log; fail "chromium --screenshot failed"; }
pass_msg "chromium loaded the page twice in $(( ($(date +%s%N) - t0) / 1000000 )) ms"

# Nothing in the console: the page logs nothing itself, so any message is
# the browser's (a script error, a refused inline script or style).
if grep -E 'CONSOLE|Uncaught|Content Security Policy' $T/chromium.log; then
    fail "the browser logged the messages above"
fi
pass_msg "the browser's console stayed empty"

dom=$(cat $T/dom.html)
for g in web-1 db.2; do
    row=$(grep -o "<tr data-guest=\"$g\">.*" <<<"$dom" | sed 's|</tr>.*||')
    [ -n "$row" ] || fail "guest $g is not in the guest table"
    grep -q "<td>$g</td>" <<<"$row" || fail "guest $g's row does not name it: $row"
    grep -q '<td class="num">256 MiB</td>' <<<"$row" || fail "guest $g's size (256 MiB) missing: $row"
done
pass_msg "both guests on the page, by name, with their size"
for c in chart-memory chart-saved; do
    canvas=$(grep -o "<canvas id=\"$c\"[^>]*>" <<<"$dom") || fail "no $c on the page"
    # the library takes the canvas over (it sizes it); the page counts the points drawn
    grep -q 'style="display: block; box-sizing: border-box;' <<<"$canvas" ||
        fail "$c was not drawn by the chart library: $canvas"
    n=$(sed -n 's/.*data-points="\([0-9]*\)".*/\1/p' <<<"$canvas")
    [ "${n:-0}" -ge 2 ] || fail "$c drew ${n:-no} points, the daemon's history has $(history_points)"
done
pass_msg "both charts drawn by Chart.js from the daemon's history (${n} points)"
grep -q '<p id="charts-missing" class="note" hidden="">' <<<"$dom" ||
    fail "the page says the chart library is missing"
budget=$(grep -o '<td id="budget"[^>]*>[^<]*</td>' <<<"$dom")
grep -q 'iB</td>' <<<"$budget" || fail "the host's budget is not shown: $budget"
grep -qi '<form' <<<"$dom" && fail "a form on the page: it is read only"
pass_msg "the host's budget shown ($budget), no form"

# Without the chart library: the same page from the same ksmd, through a
# proxy that answers 404 for the library, as ksmd does when the package is
# missing. The page says which package draws the charts and keeps its
# tables; the console stays empty.
cat > $T/proxy.py <<'EOF'
import http.server, sys, urllib.error, urllib.request
UPSTREAM = sys.argv[1]
class Proxy(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.split('?')[0] == '/js/chart.min.js':
            self.send_error(404)
            return
        try:
            with urllib.request.urlopen(UPSTREAM + self.path) as r:
                status, headers, body = r.status, r.getheaders(), r.read()
        except urllib.error.HTTPError as e:
            status, headers, body = e.code, e.headers.items(), e.read()
        self.send_response(status)
        for k, v in headers:
            if k.lower() not in ('connection', 'content-length', 'date', 'server', 'transfer-encoding'):
                self.send_header(k, v)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Proxy)
print(server.server_address[1], flush=True)
server.serve_forever()
EOF
python3 $T/proxy.py ${URL%/} > $T/proxy.port 2> $T/proxy.log &
PROXY_PID=$!
cleanup_add "kill $PROXY_PID 2>/dev/null; wait $PROXY_PID 2>/dev/null"
wait_for 10 "a proxy without the chart library" test -s $T/proxy.port
PROXY_URL=http://127.0.0.1:$(cat $T/proxy.port)/
st=$(curl -s -o /dev/null -w '%{http_code}' ${PROXY_URL}js/chart.min.js)
[ "$st" = 404 ] || fail "the proxy answered $st for the library"
browse --dump-dom $PROXY_URL > $T/dom-nolib.html 2> $T/chromium-nolib.log || {
    tail -20 $T/chromium-nolib.log; fail "chromium --dump-dom (no library) failed"; }
if grep -E 'CONSOLE|Uncaught|Content Security Policy' $T/chromium-nolib.log; then
    fail "without the library, the browser logged the messages above"
fi
dom=$(cat $T/dom-nolib.html)
grep -q '<p id="charts-missing" class="note">' <<<"$dom" ||
    fail "without the library the page does not say what draws the charts"
grep -q 'libjs-chart.js' <<<"$dom" || fail "the note does not name libjs-chart.js"
[ "$(grep -c '<figure hidden="">' <<<"$dom")" = 2 ] || fail "without the library the charts are not hidden"
for g in web-1 db.2; do
    grep -q "<tr data-guest=\"$g\"><td>$g</td>" <<<"$dom" || fail "without the library guest $g is missing"
done
grep -q '<td id="budget"[^>]*>[^<]*iB</td>' <<<"$dom" || fail "without the library the host's budget is missing"
pass_msg "without the chart library: the tables, and a note naming libjs-chart.js; console empty"

[ "$(head -c 8 $SHOT_DIR/page.png | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] ||
    fail "no PNG screenshot in $SHOT_DIR/page.png"
pass_msg "screenshot: $SHOT_DIR/page.png ($(stat -c %s $SHOT_DIR/page.png) bytes)"

ksmd_stop || fail "ksmd exit status"
echo "e2e page: all checks passed"
