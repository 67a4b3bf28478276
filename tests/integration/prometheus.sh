#!/bin/bash
# Integration: ksmd's alert rules and a real Prometheus scraping ksmd
# (issue 18). No KSM management, no scanner, a plain process as the only
# guest: nothing here needs /tmp/ksmd-lab.lock.
#   1. promtool check rules and promtool test rules on
#      contrib/prometheus/ksmd.rules.yml (ksmd.rules.test.yml); every ksmd_
#      metric the rules and their tests name is one of ctl/fields.h;
#   2. ksmd with its stats endpoint on 127.0.0.1 (ephemeral port), and
#      Prometheus (Debian's `prometheus`, its own loopback port and data
#      folder) scraping it every second with the rules loaded;
#   3. after at least two scrapes, through Prometheus's query API:
#      rate(ksmd_policy_ticks_total) matches the rate ksmd's own /metrics
#      shows (two reads of the counter, timed), ksmd_policy_ticks_total lies
#      between ksmd's values before and after; rate() of the counter of
#      Prometheus's own scrapes, ksmd_http_requests_total{path="/metrics",
#      code="200"}, is the rate ksmd's snapshot shows (read from /v1/stats,
#      which that counter does not count); ksmd_control_requests_total
#      {verb="status",result="ok"} is what ksmd reports after one `ksmdctl
#      status`; `promtool check metrics` passes on the live /metrics; the
#      per-guest gauges
#      ksmd_guest_pid and ksmd_guest_shares and the host gauge
#      ksmd_host_budget_bytes equal what `ksmdctl --json status` and
#      /metrics report; the rule group is loaded and healthy, and ALERTS has
#      no KsmdDown, pending or firing; once ksmd is stopped, KsmdDown goes
#      pending.
# Prometheus and ksmd are killed by pid at exit. Skips (77) without
# promtool/prometheus (deps/prometheus.txt), curl or python3.
. "$(dirname "$0")/../lib/common.sh"
need_bins
for c in promtool prometheus curl python3; do
    command -v $c >/dev/null || { echo "skip: needs $c (make deps: deps/prometheus.txt)"; exit 77; }
done
START=$(date +%s%N)
RULES=$ROOT/contrib/prometheus/ksmd.rules.yml

# ---- 1. the rules ----
check "promtool check rules" promtool check rules "$RULES"
check "promtool test rules (each rule firing and not firing)" \
    bash -c "cd '$ROOT/contrib/prometheus' && promtool test rules ksmd.rules.test.yml"
rule_metrics_exported() {
    local n bad=0
    for n in $(grep -oh 'ksmd_[a-z0-9_]*' "$RULES" "$ROOT/contrib/prometheus/ksmd.rules.test.yml" | sort -u); do
        grep -q "\"$n\"" "$ROOT/ctl/fields.h" || { echo "not a metric of ctl/fields.h: $n"; bad=1; }
    done
    return $bad
}
check "the rules and their tests name only metrics of ctl/fields.h" rule_metrics_exported

# ---- 2. ksmd and Prometheus ----
T=$(mktemp -d /tmp/ksmd-test.XXXXXX)
cleanup_add "rm -rf $T"
sleep 300 &
GUEST=$!
cleanup_add "kill $GUEST 2>/dev/null"
cat > $T/ksmd.conf <<CONF
[daemon]
control_socket = $T/ksmd.sock
tick = 1s
[ksm]
manage = no
[scanner]
enabled = no
[stats]
listen = 127.0.0.1:0
[guest g1]
pid = $GUEST
shares = 1234
CONF
cleanup_add ksmd_stop
ksmd_start $T/ksmd.conf
KPORT=$(sed -n 's/.*stats: serving on 127.0.0.1:0 (port \([0-9]*\)).*/\1/p' $KSMD_LOG | head -1)
[ -n "$KPORT" ] || fail "no stats port in ksmd's log: $(cat $KSMD_LOG)"
METRICS=http://127.0.0.1:$KPORT/metrics

# A free loopback port for Prometheus (never 9090, which a packaged
# Prometheus started by its init script would hold).
PPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > $T/prometheus.yml <<CONF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $RULES
scrape_configs:
  - job_name: ksmd
    static_configs:
      - targets: ['127.0.0.1:$KPORT']
CONF
prometheus --config.file=$T/prometheus.yml --storage.tsdb.path=$T/data \
    --web.listen-address=127.0.0.1:$PPORT > $T/prometheus.log 2>&1 &
PPID_=$!
cleanup_add "kill $PPID_ 2>/dev/null; wait $PPID_ 2>/dev/null"
API=http://127.0.0.1:$PPORT/api/v1
wait_for 30 "Prometheus is ready on 127.0.0.1:$PPORT" curl -sf -m 2 http://127.0.0.1:$PPORT/-/ready

# query EXPR: the values of an instant query, one line per series:
# "{labels} value" (labels as JSON, sorted), nothing when empty
query() {
    curl -sf -m 5 --data-urlencode "query=$1" $API/query | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["status"] == "success", d
for r in d["data"]["result"]:
    print(json.dumps(r["metric"], sort_keys=True), r["value"][1])'
}
# scalar EXPR: the value of the one series EXPR gives, empty if none
scalar() { query "$1" | awk 'END { if (NR == 1) print $NF }'; }
# ksmd_value NAME_WITH_LABELS: the value ksmd's /metrics shows
ksmd_value() { curl -sf -m 3 $METRICS | awk -v n="$1" '$1 == n { print $2 }'; }

two_scrapes() { [ "$(scalar 'count_over_time(ksmd_policy_ticks_total{job="ksmd"}[1m])')" -ge 3 ] 2>/dev/null; }
wait_for 30 "Prometheus has scraped ksmd at least three times" two_scrapes
check "up{job=\"ksmd\"} is 1" [ "$(scalar 'up{job="ksmd"}')" = 1 ]

# ---- 3. the values ----
# the live /metrics, with every family a running ksmd writes (the control
# and HTTP request counters appear with their first request: both are in
# by now)
curl -sf -m 3 $METRICS > $T/metrics.txt || fail "cannot read $METRICS"
check "live /metrics has ksmd_http_requests_total" grep -q '^ksmd_http_requests_total{path="/metrics",code="200"} ' $T/metrics.txt
check "promtool check metrics passes on ksmd's live /metrics" bash -c "promtool check metrics < $T/metrics.txt"

# ksmd's own rate: its counter read twice, 3 s apart
t0=$(date +%s.%N); c0=$(ksmd_value ksmd_policy_ticks_total)
sleep 3
t1=$(date +%s.%N); c1=$(ksmd_value ksmd_policy_ticks_total)
own=$(python3 -c "print(($c1 - $c0) / ($t1 - $t0))")
prom=$(scalar 'rate(ksmd_policy_ticks_total{job="ksmd"}[5s])')
echo "figure: rate(ksmd_policy_ticks_total): Prometheus $prom/s, ksmd's /metrics $own/s (ticks $c0 -> $c1)"
check "Prometheus's rate() of ksmd_policy_ticks_total is ksmd's own (within 25%)" \
    python3 -c "import sys; p, o = float('$prom'), float('$own'); sys.exit(not (o > 0 and abs(p - o) <= 0.25 * o))"
last=$(scalar 'ksmd_policy_ticks_total{job="ksmd"}')
c2=$(ksmd_value ksmd_policy_ticks_total)
check "ksmd_policy_ticks_total in Prometheus ($last) is a value ksmd reported ($c0..$c2)" \
    python3 -c "import sys; sys.exit(not ($c0 <= float('$last') <= $c2))"

# rate() of a new counter: Prometheus's own scrapes of /metrics, counted by
# ksmd; ksmd's figure read from /v1/stats (a path that counter leaves out),
# 8 s apart, and nothing else reads /metrics meanwhile
http_metrics_200() {
    curl -sf -m 3 http://127.0.0.1:$KPORT/v1/stats | python3 -c '
import json, sys
print(sum(e["count"] for e in json.load(sys.stdin).get("http_requests", [])
          if e["path"] == "/metrics" and e["code"] == "200"))'
}
t0=$(date +%s.%N); h0=$(http_metrics_200)
sleep 8
t1=$(date +%s.%N); h1=$(http_metrics_200)
own=$(python3 -c "print(($h1 - $h0) / ($t1 - $t0))")
sel='ksmd_http_requests_total{job="ksmd",path="/metrics",code="200"}'
prom=$(scalar "rate(${sel}[8s])")
echo "figure: rate(ksmd_http_requests_total{path=\"/metrics\",code=\"200\"}): Prometheus $prom/s, ksmd's snapshot $own/s ($h0 -> $h1)"
check "Prometheus's rate() of ksmd_http_requests_total (its own scrapes) is ksmd's own (within 25%)" \
    python3 -c "import sys; p, o = float('$prom'), float('$own'); sys.exit(not (o > 0 and abs(p - o) <= 0.25 * o))"

n0=$(ksmd_value 'ksmd_control_requests_total{verb="status",result="ok"}')
json=$(ctl --json status)
gpid=$(python3 -c 'import json,sys; print([g for g in json.load(sys.stdin)["guests"] if g["name"]=="g1"][0]["pid"])' <<<"$json")
check "ksmdctl --json status names g1's pid ($gpid = $GUEST)" [ "$gpid" = "$GUEST" ]
# that status request, counted: one more answered ok (ksmd_start's own
# were counted long since), in ksmd's /metrics and then in Prometheus
[ -n "$n0" ] && [ "$n0" -ge 1 ] || fail "ksmd_control_requests_total{verb=\"status\",result=\"ok\"} is '$n0' after ksmd_start's status requests"
status_ok() { [ "$(ksmd_value 'ksmd_control_requests_total{verb="status",result="ok"}')" = $((n0 + 1)) ]; }
wait_for 10 "ksmd counts the status request ($n0 -> $((n0 + 1)))" status_ok
status_seen() { [ "$(scalar 'ksmd_control_requests_total{job="ksmd",verb="status",result="ok"}')" = $((n0 + 1)) ]; }
wait_for 10 "Prometheus has ksmd_control_requests_total{verb=\"status\",result=\"ok\"} $((n0 + 1)), as ksmd reports" status_seen
v=$(scalar 'ksmd_guest_pid{job="ksmd",guest="g1"}')
check "per-guest gauge ksmd_guest_pid{guest=\"g1\"} through Prometheus ($v) is ksmd's ($gpid)" [ "$v" = "$gpid" ]
v=$(scalar 'ksmd_guest_shares{job="ksmd",guest="g1"}')
own=$(ksmd_value 'ksmd_guest_shares{guest="g1"}')
check "per-guest gauge ksmd_guest_shares{guest=\"g1\"} through Prometheus ($v) is ksmd's ($own, configured 1234)" \
    [ "$v" = "$own" -a "$own" = 1234 ]
v=$(scalar 'ksmd_host_budget_bytes{job="ksmd"}')
own=$(ksmd_value ksmd_host_budget_bytes)
check "host gauge ksmd_host_budget_bytes through Prometheus ($v) is ksmd's ($own)" \
    python3 -c "import sys; sys.exit(not (float('$v') == float('$own') > 0))"

# ---- the rules, loaded into Prometheus ----
rules=$(curl -sf -m 5 $API/rules | python3 -c '
import json, sys
d = json.load(sys.stdin)
for g in d["data"]["groups"]:
    for r in g["rules"]:
        print(g["name"], r["name"], r["health"], r.get("lastError", ""))')
echo "$rules" | sed 's/^/rules: /'
n_rules=$(grep -c '^      - alert: Ksmd' "$RULES")
check "the $n_rules rules of group ksmd are loaded" [ "$(grep -c '^ksmd Ksmd' <<<"$rules")" = "$n_rules" ]
wait_for 10 "every rule evaluated healthy" bash -c "curl -sf -m 5 $API/rules | python3 -c '
import json, sys
d = json.load(sys.stdin)
sys.exit(not all(r[\"health\"] == \"ok\" for g in d[\"data\"][\"groups\"] for r in g[\"rules\"]))'"
check "ALERTS shows no KsmdDown (pending or firing) while ksmd runs" \
    [ -z "$(query 'ALERTS{alertname="KsmdDown"}')" ]
# the expression itself, evaluated now: no series (ksmd up, its job present)
check "KsmdDown's expression is empty while ksmd runs" \
    [ -z "$(query 'up{job="ksmd"} == 0 or absent(up{job="ksmd"})')" ]
alerts=$(query 'ALERTS')
[ -z "$alerts" ] || echo "alerts: $alerts"

# ksmd stopped: the next scrape fails and KsmdDown goes pending (it fires
# after its 2 minutes, longer than this test waits)
ksmd_stop || true
down_pending() { [ -n "$(query 'ALERTS{alertname="KsmdDown",alertstate="pending",job="ksmd"}')" ]; }
wait_for 15 "ksmd stopped: KsmdDown pending in ALERTS" down_pending

echo "figure: prometheus.sh took $(( ($(date +%s%N) - START) / 1000000 )) ms"
