#!/bin/bash
# Who takes part in KSM, as /proc/PID/ksm_stat tells it: a process that
# neither madvises nor runs under `ksmdctl run --` is not mergeable; one
# started with `ksmdctl run -- CMD` is (PR_SET_MEMORY_MERGE, kept across
# exec: ksm_merge_any yes), and so is one that madvises MADV_MERGEABLE.
# The test only reads ksm_stat: it leaves /sys/kernel/mm/ksm alone.
set -u
cd "$(dirname "$0")/../.." || exit 2
BUILD=${KSMD_BUILD:-build}
if [ ! -r /proc/self/ksm_stat ]; then echo "skip: kernel without /proc/PID/ksm_stat"; exit 77; fi
if [ ! -x $BUILD/bench/ksm_fill ]; then
    make -s B="$BUILD" ksm-tools >/dev/null || { echo "cannot build ksm-tools"; exit 1; }
fi
if [ ! -x $BUILD/ksmdctl ]; then
    make -s B="$BUILD" "$BUILD/ksmdctl" >/dev/null 2>&1 || { echo "skip: $BUILD/ksmdctl does not build yet"; exit 77; }
fi
tmp=$(mktemp -d /tmp/ksmd-mergeable.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

start() {   # start NAME CMD... ; sets $pid once the filler is ready
    local name=$1; shift
    "$@" > "$tmp/$name" 2>&1 &
    pids+=($!); pid=$!
    for _ in $(seq 100); do grep -q ready "$tmp/$name" && return 0; sleep 0.05; done
    echo "FAIL: $name not ready: $(cat "$tmp/$name")"; exit 1
}
field() { awk -v k="$2" '$1 == k || $1 == k":" {print $2}' /proc/$1/ksm_stat; }
fail=0
expect() {  # expect PID WHAT merge_any mergeable
    local a m; a=$(field "$1" ksm_merge_any); m=$(field "$1" ksm_mergeable)
    if [ "$a" = "$3" ] && [ "$m" = "$4" ]; then echo "ok: $2: merge_any $a, mergeable $m"
    else echo "FAIL: $2: merge_any $a (want $3), mergeable $m (want $4)"; fail=1; fi
}

start plain $BUILD/bench/ksm_fill -n -m 4
expect $pid "plain process" no no
start run $BUILD/ksmdctl run -- $BUILD/bench/ksm_fill -n -m 4
[ "$(tr '\0' ' ' < /proc/$pid/cmdline)" = "$BUILD/bench/ksm_fill -n -m 4 " ] || \
    { echo "FAIL: ksmdctl run did not exec the command in place"; fail=1; }
expect $pid "ksmdctl run --" yes yes
start madvise $BUILD/bench/ksm_fill -m 4
expect $pid "MADV_MERGEABLE" no yes
exit $fail
