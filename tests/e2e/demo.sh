#!/bin/bash
# End to end, the demo: `scripts/demo.sh` (what `make demo` runs) for 60 s,
# not on a terminal, must end by itself with a summary that shows memory
# saved by merging and by ballooning, no guest OOM, the guests' real limit
# held (a memory cgroup with swap behind it; without one, no host swap-out),
# no QEMU left and /sys/kernel/mm/ksm as it was; and it must print plain frames (no
# escape codes) on the way.
. "$(dirname "$0")/../lib/common.sh"
need_bins
need_root
need_ksm
command -v jq >/dev/null || fail "jq is missing (make deps)"

OUT=$(mktemp /tmp/ksmd-e2e-demo.XXXXXX)
cleanup_add "rm -f $OUT"
start=$(date +%s)
rc=0
DEMO_SECONDS=60 DEMO_FRAME=10 DEMO_LIBVIRT=${DEMO_LIBVIRT:-0} KSMD_BUILD=$B timeout 170 "$ROOT/scripts/demo.sh" </dev/null >"$OUT" 2>&1 || rc=$?
took=$(( $(date +%s) - start ))
if [ $rc = 77 ]; then
    grep -i skip "$OUT" | head -n 1
    skip "the demo cannot run here"
fi
sed -n '/==== ksmd demo summary/,$p' "$OUT"
[ $rc = 124 ] && { tail -n 30 "$OUT"; fail "the demo did not end within 170 s"; }
[ $rc = 0 ] || { tail -n 40 "$OUT"; fail "the demo exited with status $rc"; }
pass_msg "the demo ended by itself in ${took}s"

# value LABEL: the number after "LABEL: " in the summary
value() { sed -n "s/^$1: \([0-9.]*\).*/\1/p" "$OUT" | tail -n 1; }
gt0() { awk -v v="$1" 'BEGIN { exit !(v + 0 > 0) }'; }
grep -q '^==== ksmd demo summary' "$OUT" || fail "no summary"
m=$(value "saved by merging"); gt0 "$m" || fail "saved by merging: '$m', want > 0"
pass_msg "saved by merging $m MiB"
b=$(value "saved by ballooning"); gt0 "$b" || fail "saved by ballooning: '$b', want > 0"
pass_msg "saved by ballooning $b MiB"
[ "$(value "guest OOMs")" = 0 ] || fail "guest OOMs: $(value "guest OOMs")"
if grep -q '^limit held: ' "$OUT"; then
    # under a real limit: the demo says whether it held, with numbers
    grep -q '^limit held: yes' "$OUT" || fail "$(grep -A1 '^limit held' "$OUT")"
    pass_msg "$(grep '^limit held' "$OUT")"
else
    [ "$(value "host swap")" = 0 ] || fail "host swap: $(value "host swap") pages"
fi
grep -q "^guests' cost at the end: " "$OUT" || fail "no cost against the limit in the summary"
[ "$(value "QEMU left")" = 0 ] || fail "QEMU left: $(grep '^QEMU left' "$OUT")"
pass_msg "no guest OOM, the limit held, no QEMU left"
grep -q '^KSM settings restored: yes' "$OUT" || fail "$(grep '^KSM settings' "$OUT")"
pids=$(sed -n 's/^QEMU left: 0 (PIDs \([0-9 ]*\)).*/\1/p' "$OUT")
[ -n "$pids" ] || fail "no QEMU PIDs in the summary"
for p in $pids; do
    [ -d /proc/$p ] && [ "$(cat /proc/$p/comm)" = qemu-system-x86 ] && fail "QEMU $p is still running"
done
pass_msg "QEMU PIDs $pids are gone"

# the live view, as frames of ksmdctl top without escape codes
frames=$(grep -c '^ksmd demo ' "$OUT")
[ "$frames" -ge 4 ] || fail "only $frames frames in 60 s"
grep -q $'\033' "$OUT" && fail "escape codes in the output while not on a terminal"
grep -q '^GUEST ' "$OUT" || fail "no guest table in the frames"
grep -q 'starts allocating' "$OUT" || fail "the demo did not make a guest allocate"
if [ "${DEMO_LIBVIRT:-0}" = 1 ]; then
    grep -q '^==== ksmd demo summary: .*(libvirt domains)' "$OUT" || fail "the summary does not say libvirt"
    [ "$(grep -c '^  ksmd-demo-g[0-2] *actual' "$OUT")" -ge 12 ] || fail "no virsh dommemstat in the frames"
    grep -Eq '^   *[0-9]+ +ksmd-demo-g0 +running' "$OUT" || fail "no virsh list in the frames"
    pass_msg "frames show virsh list and virsh dommemstat beside ksmdctl top"
fi
[ $took -le 150 ] || fail "the demo took ${took}s (want <= 150 s)"
echo "e2e demo: all checks passed in ${took}s"
