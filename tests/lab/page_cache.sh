#!/bin/bash
# Lab test of a tenant that holds page cache (issue 12): a real QEMU guest of
# 320 MiB with a lab disk (LAB_DISK_MIB: ext4, one file of seeded data,
# cache=none so the cache is the guest's own) reads 200 MiB of it with the
# agent's `cache 200`. Asserts:
#   1. the guest's Cached (/proc/meminfo, the agent's `pagecache`) rose by
#      about the 200 MiB read (at least 90%, at most 200 + 16 MiB);
#   2. re-reading the cached 200 MiB (twice, the faster counts) is faster
#      than the first, cold read;
#   3. ksmd (`ksmdctl balloon g0 120M`, policy off, the guest's min set
#      below that) takes the guest from 320 to 120 MiB: the balloon's actual
#      reaches 120 MiB, and the guest got there by dropping its page cache -
#      Cached fell by at least 60% of what was read - not by an OOM kill (no
#      "Out of memory" in its kernel log, the agent still answers, the disk
#      still mounted);
#   4. re-reading the same 200 MiB after the drop is slower than the cached
#      re-read (at least 1.5x): the data has to come from the disk again.
# Figures (read times, Cached before/after, balloon time) are printed.
# Needs root. Skips (77) only when the lab cannot run here.
. "$(dirname "$0")/../lib/common.sh"
need_bins
need_root
command -v jq >/dev/null || skip "jq is missing (make deps)"
source "$ROOT/tests/guest/lab.sh"
lab_atexit _run_cleanups
lab_require || exit $?

T=$(mktemp -d /tmp/ksmd-lab-pagecache.XXXXXX)
cleanup_add "rm -rf $T"
fail() {
    echo "FAIL: $*"
    [ -f "$T/ksmd.log" ] && { echo "--- ksmd log, last lines:"; tail -n 25 "$T/ksmd.log"; }
    [ -n "${LAB_AGENT[0]:-}" ] && { echo "--- guest meminfo:"; lab_agent 0 meminfo 2>/dev/null | sed -n 1,8p; }
    exit 1
}
MiB=1048576
SIZE=320 DISK=224 CACHE=200 TARGET=120 MIN=96
LAB_DISK_MIB=$DISK lab_start 1 $SIZE 7 || fail "lab guest with a disk did not boot"
echo "boot: g0 ${LAB_BOOT_SEC[0]} s ($LAB_ACCEL), ${SIZE} MiB, disk ${LAB_DISK[0]} ($DISK MiB of data)"

# field NAME: the value of NAME=... in the reply on stdin
field() { sed -n "s/.*\\b$1=\\([-0-9.]*\\).*/\\1/p"; }
pagecache() { lab_agent 0 pagecache | field cached_mib; }
# cache_read: `cache $CACHE` in the guest; sets R (reply), MS, GAINED
cache_read() {
    R=$(lab_agent 0 cache $CACHE) || fail "cache $CACHE: $R"
    MS=$(echo "$R" | field ms) GAINED=$(echo "$R" | field gained_mib)
    [ -n "$MS" ] && [ -n "$GAINED" ] || fail "cache reply without ms/gained_mib: $R"
}
# slower A B F: A > B * F (floats)
slower() { awk -v a="$1" -v b="$2" -v f="$3" 'BEGIN { exit !(a > b * f) }'; }

# error paths first: beyond the disk, and a bad argument
out=$(lab_agent 0 cache $((DISK + 1))); rc=$?
[ $rc = 1 ] && [[ $out == error:* ]] || fail "cache beyond the disk: rc $rc, '$out'"
out=$(lab_agent 0 cache many); rc=$?
[ $rc = 2 ] && [[ $out == error:* ]] || fail "cache with a bad size: rc $rc, '$out'"

# ---- 1. the page cache rises by what was read ----
PC0=$(pagecache)
[ -n "$PC0" ] || fail "no pagecache reply"
cache_read
MS_COLD=$MS
PC1=$(pagecache)
echo "  cold read: $R"
echo "  Cached: $PC0 -> $PC1 MiB"
[ "$GAINED" -ge $((CACHE * 9 / 10)) ] && [ $((PC1 - PC0)) -ge $((CACHE * 9 / 10)) ] ||
    fail "Cached rose by $((PC1 - PC0)) MiB (reply: gained $GAINED) after reading $CACHE MiB"
[ $((PC1 - PC0)) -le $((CACHE + 16)) ] || fail "Cached rose by $((PC1 - PC0)) MiB, more than the $CACHE MiB read"
pass_msg "reading $CACHE MiB of the disk raised the guest's Cached by $((PC1 - PC0)) MiB"

# ---- 2. the cached re-read is fast ----
# twice, the faster counts (a TCG guest on a shared host has noisy clocks)
cache_read
MS_WARM=$MS
echo "  cached re-read: $R"
[ "$GAINED" -le 4 ] || fail "a re-read of cached data added $GAINED MiB to Cached"
cache_read
echo "  cached re-read: $R"
slower "$MS_WARM" "$MS" 1 && MS_WARM=$MS
slower "$MS_COLD" "$MS_WARM" 1 || fail "cached re-read ($MS_WARM ms) not faster than the cold read ($MS_COLD ms)"
pass_msg "cached re-read in $MS_WARM ms, cold read $MS_COLD ms"

# ---- 3. balloon 320 -> 120 MiB with ksmd: the page cache goes, no OOM ----
cleanup_add ksmd_stop
cat > $T/ksmd.conf <<EOF
[daemon]
control_socket = $T/ksmd.sock
tick = 1s
[scanner]
enabled = no
[ksm]
manage = no
[balloon]
stats_interval = 2s
[policy]
# only the operator's balloon command moves the balloon here
enabled = no
[stats]
enabled = no
[guest g0]
qmp = ${LAB_QMP[0]}
min = ${MIN}M
EOF
ksmd_start $T/ksmd.conf
g0() { snap ".guests[] | select(.name==\"g0\") | $1"; }
wait_for 60 "g0 managed by ksmd" snap_true '.guests[] | select(.name=="g0") | .state == "ok"'
[ "$(lab_balloon_actual 0)" = $SIZE ] || fail "balloon actual $(lab_balloon_actual 0) MiB before the squeeze, not $SIZE"
PC2=$(pagecache)
t0=$EPOCHREALTIME
out=$(ctl balloon g0 ${TARGET}M) || fail "ksmdctl balloon g0 ${TARGET}M: $out"
lab_wait_balloon 0 $TARGET 120 || fail "the balloon did not reach $TARGET MiB within 120 s (actual $(lab_balloon_actual 0) MiB)"
T_BALLOON=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
wait_for 20 "ksmd sees g0 at $TARGET MiB" snap_true ".guests[] | select(.name==\"g0\") | .balloon_actual_bytes == $((TARGET * MiB))"
PC3=$(pagecache)
echo "  balloon $SIZE -> $TARGET MiB in ${T_BALLOON} s; Cached $PC2 -> $PC3 MiB"
lab_agent 0 mem | sed 's/^/  | /'
[ $((PC2 - PC3)) -ge $((CACHE * 6 / 10)) ] ||
    fail "Cached fell by only $((PC2 - PC3)) MiB ($PC2 -> $PC3) at $TARGET MiB: the page cache was not dropped"
out=$(lab_agent 0 ping) || fail "the agent does not answer after the squeeze"
lab_agent 0 dmesg 400 | grep -qiE 'out of memory|oom-kill|killed process' &&
    fail "the guest's kernel OOM-killed: $(lab_agent 0 dmesg 400 | grep -iE 'out of memory|killed process' | head -3)"
lab_agent 0 sh "grep -q ' /mnt/disk ' /proc/mounts" || fail "the disk is no longer mounted"
pass_msg "ballooned to $TARGET MiB in ${T_BALLOON} s: the guest dropped $((PC2 - PC3)) MiB of page cache, no OOM kill"

# ---- 4. the re-read after the drop is slow again ----
cache_read
MS_AFTER=$MS
PC4=$(pagecache)
echo "  re-read after the drop: $R (Cached now $PC4 MiB)"
slower "$MS_AFTER" "$MS_WARM" 1.5 ||
    fail "re-read after the drop ($MS_AFTER ms) not slower than 1.5x the cached re-read ($MS_WARM ms)"
pass_msg "re-read after the drop in $MS_AFTER ms, $(awk -v a="$MS_AFTER" -v b="$MS_WARM" 'BEGIN { printf "%.1f", a / b }')x the cached re-read"
out=$(lab_agent 0 ping) || fail "the agent does not answer after the re-read"
lab_agent 0 dmesg 400 | grep -qiE 'out of memory|killed process' && fail "the guest OOM-killed during the re-read"

ksmd_stop || fail "ksmd exit status $?"
echo "page_cache: all checks passed (${CACHE} MiB read cold ${MS_COLD} ms, cached ${MS_WARM} ms," \
     "after the balloon to ${TARGET} MiB ${MS_AFTER} ms; Cached ${PC1} -> ${PC3} MiB; balloon ${T_BALLOON} s)"
