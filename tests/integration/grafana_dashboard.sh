#!/bin/bash
# Integration: contrib/grafana/ksmd.json is importable as is and reads only
# metrics ksmd exports (issue 18):
#   - valid JSON; a datasource input (__inputs, DS_PROMETHEUS, prometheus)
#     that every panel and query uses; unique panel ids; every panel has a
#     query;
#   - every ksmd_* name in a query or a variable is a metric of
#     ctl/fields.h (the table /metrics is rendered from);
#   - every query parses as PromQL: written (Grafana's $instance and
#     $__rate_interval replaced) as recording rules, `promtool check rules`
#     passes (when promtool is installed, deps/prometheus.txt).
. "$(dirname "$0")/../lib/common.sh"
command -v python3 >/dev/null || { echo "skip: needs python3"; exit 77; }
T=$(mktemp -d /tmp/ksmd-test.XXXXXX)
cleanup_add "rm -rf $T"
DASH=$ROOT/contrib/grafana/ksmd.json

check "dashboard: importable structure, metrics of ctl/fields.h" python3 - "$DASH" "$ROOT/ctl/fields.h" $T/exprs.yml <<'PY'
import json, re, sys
dash_path, fields_path, rules_path = sys.argv[1:4]
d = json.load(open(dash_path))
bad = []
inputs = {i["name"]: i for i in d.get("__inputs", [])}
ds = inputs.get("DS_PROMETHEUS")
if not ds or ds.get("type") != "datasource" or ds.get("pluginId") != "prometheus":
    bad.append("no __inputs DS_PROMETHEUS datasource of plugin prometheus")
want = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
exported = set(re.findall(r'"(ksmd_[a-z0-9_]+)"', open(fields_path).read()))
exprs, ids = [], set()
for p in d["panels"]:
    if p["id"] in ids:
        bad.append(f"panel id {p['id']} twice")
    ids.add(p["id"])
    if p.get("datasource") != want:
        bad.append(f"panel {p['title']!r}: datasource {p.get('datasource')}")
    if not p.get("targets"):
        bad.append(f"panel {p['title']!r}: no query")
    for t in p.get("targets", []):
        if t.get("datasource") != want:
            bad.append(f"panel {p['title']!r} query {t.get('refId')}: datasource {t.get('datasource')}")
        exprs.append((p["title"], t["expr"]))
for v in d.get("templating", {}).get("list", []):
    if v.get("type") == "query":
        q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
        exprs.append((f"variable {v['name']}", q))
names = set()
for where, e in exprs:
    for n in re.findall(r"\bksmd_[a-z0-9_]+", e):
        names.add(n)
        if n not in exported:
            bad.append(f"{where}: {n} is not a metric of ctl/fields.h")
with open(rules_path, "w") as f:
    f.write("groups:\n  - name: dashboard\n    rules:\n")
    for i, (where, e) in enumerate(exprs):
        if e.startswith("label_values("):
            continue
        e = e.replace("$__rate_interval", "1m").replace("$instance", ".*")
        f.write(f"      - record: dashboard:expr{i}\n        expr: {json.dumps(e)}\n")
print(f"figure: {len(d['panels'])} panels, {len(exprs)} queries, {len(names)} ksmd metrics, all in ctl/fields.h" if not bad else "")
for b in bad:
    print("bad:", b)
sys.exit(1 if bad else 0)
PY
if command -v promtool >/dev/null; then
    check "every dashboard query parses as PromQL (promtool check rules)" promtool check rules $T/exprs.yml
else
    echo "note: promtool not installed, queries not parsed (deps/prometheus.txt)"
fi
