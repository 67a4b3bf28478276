#!/bin/bash
# Integration test of ksmd's cgroup balloon backend on a real memory cgroup:
# create /sys/fs/cgroup/memory/ksmd-test-$$ (v1; or the v2 equivalent), put
# a process in it that fills 200 MiB of page cache, attach the backend (the
# cgroup's limit of 256 MiB is its max, floor 50%), set a 160 MiB target:
# the limit files change, the kernel reclaims the cgroup down under the
# target, stats come from memory.stat; a target under the floor is refused;
# on exit the limit is restored to the max; the cgroup is removed.
# Skips (77) without root or without a writable memory cgroup.
set -u
fail() { echo "FAIL: $*"; exit 1; }
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=${KSMD_BUILD:-build}

[ "$(id -u)" = 0 ] || { echo "skip: needs root to create a memory cgroup"; exit 77; }
if [ -w /sys/fs/cgroup/memory/cgroup.procs ]; then
    V=1 CG=/sys/fs/cgroup/memory/ksmd-test-$$
    LIMIT=memory.limit_in_bytes USAGE=memory.usage_in_bytes
elif grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
    V=2 CG=/sys/fs/cgroup/ksmd-test-$$
    LIMIT=memory.high USAGE=memory.current
else
    echo "skip: no writable memory cgroup (v1 or v2) on this host"; exit 77
fi
make -s -C "$ROOT" B="$B" qmp-probe >/dev/null || fail "cannot build qmp-probe"
PROBE=$ROOT/$B/balloon/qmp-probe
DATA=$(mktemp -d /var/tmp/ksmd-cg-XXXXXX)
holder=
cleanup() {
    [ -n "$holder" ] && { kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null; }
    if [ -d "$CG" ]; then
        # move anything left back to the root, then remove the group
        while read -r p; do echo "$p" >"$(dirname "$CG")/cgroup.procs" 2>/dev/null; done <"$CG/cgroup.procs"
        rmdir "$CG" 2>/dev/null || echo "warning: could not remove $CG"
    fi
    rm -rf "$DATA"
}
trap cleanup EXIT

mkdir "$CG" || fail "mkdir $CG"
if [ $V = 1 ]; then echo $((256 << 20)) >"$CG/memory.limit_in_bytes"
else echo $((256 << 20)) >"$CG/memory.max"; fi
sleep 300 &
holder=$!
echo "$holder" >"$CG/cgroup.procs" || fail "cannot move $holder into $CG"
# 200 MiB of page cache charged to the cgroup
sh -c "echo \$\$ >$CG/cgroup.procs && exec dd if=/dev/zero of=$DATA/fill bs=1M count=200 status=none" ||
    fail "dd in the cgroup"
u0=$(cat "$CG/$USAGE")
echo "cgroup v$V $CG: usage $((u0 >> 20)) MiB before, limit $(( $(cat "$CG/$LIMIT") >> 20 )) MiB"
[ "$u0" -gt $((170 << 20)) ] || fail "page cache not charged to the cgroup ($u0)"

out=$("$PROBE" -c -m 50 -t 100M "$CG" 2>&1); rc=$?
echo "$out" | grep '^refused'
[ $rc != 0 ] && echo "$out" | grep -q 'below its floor (min 128 MiB)' || fail "target under the floor not refused: $out"

out=$("$PROBE" -c -t 160M -w 5 -W 1 -i 0.5 -r "$CG" 2>&1); rc=$?
echo "$out" | grep -E '^(ready|target|stats|final|restore)' | sed 's/^/  /' | head -8
[ $rc = 0 ] || fail "probe failed (rc $rc)"
echo "$out" | grep -q '^ready name=p0 .*max=268435456 min=134217728' || fail "max/floor not learned from the limit"
echo "$out" | grep -q '^final name=p0 .*actual=167772160 target=167772160' || fail "actual did not reach 160 MiB"
echo "$out" | grep '^stats ' | tail -1 | grep -q 'usage=' || fail "no usage in stats"
echo "$out" | grep '^stats ' | tail -1 | grep -q 'disk_caches=' || fail "no disk_caches in stats"
echo "$out" | grep -q '^restore failed=0' || fail "restore failed"
u1=$(cat "$CG/$USAGE")
# after restore the limit is back to 256 MiB; usage stayed under the 160 MiB target
lim=$(cat "$CG/$LIMIT")
echo "after: usage $((u1 >> 20)) MiB, $LIMIT $((lim >> 20)) MiB (restored)"
[ "$u1" -le $((160 << 20)) ] || fail "usage $u1 above the 160 MiB target: no reclaim"
[ "$lim" = $((256 << 20)) ] || fail "limit not restored to the max: $lim"
if [ $V = 1 ]; then
    soft=$(cat "$CG/memory.soft_limit_in_bytes")
    [ "$soft" = $((256 << 20)) ] || fail "soft limit not restored: $soft"
fi
echo "PASS"
