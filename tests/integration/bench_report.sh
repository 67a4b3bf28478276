#!/bin/bash
# bench/report.py: results made from other sources than today's are
# refused (a failed row), a missing figure is a failed row, and "better
# than" is strict. Works on a copy of the committed results.
set -u
cd "$(dirname "$0")/../.." || exit 2
command -v python3 >/dev/null || { echo "skip: no python3"; exit 77; }
git rev-parse --git-dir >/dev/null 2>&1 || { echo "skip: not a git checkout (sources cannot be listed)"; exit 77; }
T=$(mktemp -d /tmp/ksmd-report.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; [ -f "$T/latest.md" ] && sed -n 1,20p "$T/latest.md"; exit 1; }
cp bench/results/policy.json bench/results/stats.json "$T/"
echo '{"results": []}' > "$T/converge.json"
# policy: stamped from today's sources, so reported
bench/report.py --stamp policy "$T" || fail "--stamp"
# stats: its figure left out, and stamped
python3 - "$T/stats.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); r.get("scanner", {}).pop("throughput_change_percent", None)
json.dump(r, open(sys.argv[1], "w"))
PY
bench/report.py --stamp stats "$T"
# converge: stamped from other sources
echo 0000 > "$T/converge.sources"
bench/report.py "$T" > "$T/out" || fail "report exited $?"
md=$T/latest.md
grep -q '^| policy simulator: over_budget_s' "$md" || fail "policy rows missing though stamped"
grep -q '^| converge: results made from older sources, refused .* \*\*no\*\* |$' "$md" || fail "stale converge not refused"
grep -q '^| scanner throughput under HTTP load (change, %) | - .* \*\*no\*\* |$' "$md" || fail "missing figure not a failed row"
# strict: 0 against 0 is no win
python3 - "$T/policy.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for x in r["results"]:
    x["distress_s"] = 0
json.dump(r, open(sys.argv[1], "w"))
PY
bench/report.py --stamp policy "$T"
bench/report.py "$T" > /dev/null
grep -q '^| policy simulator: distress_s (all scenarios) | 0 | mom: 0 | .* \*\*no\*\* |$' "$md" || fail "0 against 0 counted as a win"
echo "report: stale refused, missing figure failed, strict comparison"
