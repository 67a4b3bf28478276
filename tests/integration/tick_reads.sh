#!/bin/bash
# The tick reads each guest's /proc files once (collect/sample.c): ksmd runs
# under strace with two plain-process guests (one mergeable, one not), a
# 500 ms tick, the scanner passing back to back (pass_interval = 0) and the
# working set sampled, for about 4 s. The opens of /proc/meminfo mark the
# ticks (collect_host reads it once a tick); between two of them each
# guest's /proc/PID/statm, status and ksm_stat may be opened at most once,
# by any thread of ksmd. KSM is left alone (ksm.manage = no).
set -u
cd "$(dirname "$0")/../.." || exit 2
. tests/scanner_lib.bash
scanner_test_init
command -v strace >/dev/null || skip "strace is not installed (deps/build.txt)"
[ -r /proc/self/ksm_stat ] || skip "kernel without /proc/PID/ksm_stat"

T=$(mktemp -d /tmp/ksmd-tick-reads.XXXXXX)
cleanup_add "rm -rf $T"
memhog_start 0 0 0 4096 0 0 0 4        # not mergeable
plain=$HOG_PID
memhog_start -m 0 0 0 4096 0 0 0 5
merg=$HOG_PID

cat > "$T/ksmd.conf" <<EOF
[daemon]
control_socket = $T/ksmd.sock
tick = 500ms
[scanner]
pass_interval = 0
[ksm]
manage = no
[stats]
listen = unix:$T/stats.sock
[policy]
host_wss_interval = 1s
[guest plain]
pid = $plain
[guest other]
pid = $merg
EOF
strace -f -qq --seccomp-bpf -e trace=openat -o "$T/trace" "$KSMD" -f -c "$T/ksmd.conf" >"$T/log" 2>&1 &
SPID=$!
cleanup_add "pkill -P $SPID -x ksmd 2>/dev/null; kill $SPID 2>/dev/null; wait $SPID 2>/dev/null"
KSMD_SOCK=$T/ksmd.sock

wait_for 20 "ksmd under strace answers, its scanner passed" snap_true '(.scanner.passes // 0) >= 2'
sleep 4
snap_true '[.guests[] | select(.state == "ok")] | length == 2' || fail "both guests should be ok: $(snap '.guests')"
# what the sample read reaches the snapshot: 16 MiB resident each, the
# mergeable one mergeable, the other not (with its fix)
snap_true '[.guests[] | select(.rss_bytes >= 16777216)] | length == 2' ||
    fail "the guests' resident memory is not in the snapshot: $(snap '.guests')"
snap_true '(.guests[] | select(.name == "other") | .ksm_mergeable) == true and
           (.guests[] | select(.name == "plain") | .ksm_mergeable == false and (.ksm_fix | length) > 0)' ||
    fail "ksm_stat of the guests is not in the snapshot: $(snap '.guests')"
kpid=$(pgrep -P $SPID -x ksmd)
[ -n "$kpid" ] || fail "no ksmd under strace"
kill -TERM "$kpid"       # ksmd's own exit; strace ends with it
wait $SPID 2>/dev/null

# per tick window: the largest number of opens of each file of each guest
report=$(awk -v p1="$plain" -v p2="$merg" '
    /"\/proc\/meminfo"/ { ticks++; for (k in n) if (n[k] > max[k]) max[k] = n[k]; delete n; next }
    match($0, /"\/proc\/[0-9]+\/(statm|status|ksm_stat)"/) {
        f = substr($0, RSTART + 1, RLENGTH - 2); split(f, a, "/")
        if (a[3] == p1 || a[3] == p2) { n[f]++; total[f]++ }
    }
    END {
        for (k in n) if (n[k] > max[k]) max[k] = n[k]
        printf "ticks %d\n", ticks
        for (k in total) printf "%s opened %d times, at most %d in one tick\n", k, total[k], max[k]
    }' "$T/trace")
echo "$report"
ticks=$(awk '/^ticks/ {print $2}' <<<"$report")
[ "${ticks:-0}" -ge 6 ] || fail "only ${ticks:-0} ticks traced (the opens of /proc/meminfo)"
grep -q "/proc/$plain/status opened" <<<"$report" || fail "the guest's status was never read"
grep -q "/proc/$plain/ksm_stat opened" <<<"$report" || fail "the guest's ksm_stat was never read"
bad=$(awk '/opened/ { for (i = 1; i < NF; i++) if ($i == "most") n = $(i + 1); if (n > 1) print }' <<<"$report")
[ -z "$bad" ] || fail "opened more than once in a tick: $bad"
pass_msg "each guest's statm, status and ksm_stat opened at most once a tick over $ticks ticks"
