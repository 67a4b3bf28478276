#!/bin/bash
# A guest's pid given to another process is never taken for the guest
# (collect/sample.h, docs/SECURITY.md). In a pid namespace of its own
# (unshare), ksmd watches a plain-process guest configured by pid, scans it
# and samples its working set (clear_refs). The guest is killed: ksmd must
# call it gone. Then /proc/sys/kernel/ns_last_pid makes the next process
# get the same pid: ksmd must keep calling the guest gone, and, under
# strace, open none of that process's files that it scans, writes or
# samples (mem, pagemap, maps, smaps, clear_refs, status, ksm_stat) from
# the moment it exists. KSM is left alone (ksm.manage = no).
set -u
cd "$(dirname "$0")/../.." || exit 2
if [ -z "${KSMD_PIDNS_INNER:-}" ]; then
    [ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
    command -v unshare >/dev/null || { echo "SKIP: no unshare"; exit 77; }
    command -v strace >/dev/null || { echo "SKIP: strace is not installed (deps/build.txt)"; exit 77; }
    [ -e /proc/self/clear_refs ] || { echo "SKIP: kernel has no /proc/PID/clear_refs"; exit 77; }
    unshare -fp --mount-proc true 2>/dev/null || { echo "SKIP: cannot make a pid namespace here"; exit 77; }
    exec unshare -fp --mount-proc env KSMD_PIDNS_INNER=1 bash "$0" "$@"
fi

. tests/scanner_lib.bash
scanner_test_init
[ -w /proc/sys/kernel/ns_last_pid ] || skip "cannot write /proc/sys/kernel/ns_last_pid"

T=$(mktemp -d /tmp/ksmd-pid-reuse.XXXXXX)
cleanup_add "[ -n \"${KEEP_T:-}\" ] || rm -rf $T"
memhog_start 0 0 0 4096 0 0 0 6
victim=$HOG_PID
vpid=$HOG_PID

cat > "$T/ksmd.conf" <<EOF
[daemon]
control_socket = $T/ksmd.sock
tick = 250ms
[scanner]
pass_interval = 2s
[ksm]
manage = no
[stats]
listen = unix:$T/stats.sock
[policy]
host_wss_interval = 1s
[guest victim]
pid = $victim
EOF
strace -f -qq -ttt --seccomp-bpf -e trace=openat -o "$T/trace" "$KSMD" -f -c "$T/ksmd.conf" >"$T/log" 2>&1 &
SPID=$!
cleanup_add "pkill -P $SPID -x ksmd 2>/dev/null; wait $SPID 2>/dev/null"
KSMD_SOCK=$T/ksmd.sock
g='.guests[] | select(.name == "victim")'
wait_for 30 "ksmd scans the guest and samples its working set" \
    snap_true "[$g | select(.state == \"ok\" and .host_active_bytes != null and .scan != null)] | length == 1"

# the guest's process exits
kill "$vpid"; wait "$vpid" 2>/dev/null
wait_for 10 "the guest is gone once its process exited" snap_is "$g | .state" gone

# the next process gets its pid (ksmd's own threads may take a pid first: try again)
hog_out=$T/hog.out
newpid=
for try in 1 2 3 4 5 6 7 8; do
    echo $((victim - 1)) > /proc/sys/kernel/ns_last_pid
    "$BUILD/tests/scanner_memhog" 0 0 0 4096 0 0 0 7 >"$hog_out" &
    p=$!
    if [ "$p" = "$victim" ]; then newpid=$p; break; fi
    # SIGKILL: a child not yet exec'd is still this shell, and SIGTERM would
    # make it run the EXIT trap (our cleanups: rm -rf $T) on its way out
    kill -KILL "$p"; wait "$p" 2>/dev/null
done
[ -n "$newpid" ] || skip "could not hand pid $victim to a new process in $try tries"
t_reused=$(date +%s.%N)
cleanup_add "kill $newpid 2>/dev/null; wait $newpid 2>/dev/null"
for _ in $(seq 100); do [ -s "$hog_out" ] && break; sleep 0.05; done
[ -s "$hog_out" ] || fail "the new process did not start"
echo "pid $victim now names another process (try $try)"

sleep 5   # 20 ticks, the working set's 1 s interval five times, two or three passes
state=$(snap "$g | .state")
rss=$(snap "$g | .rss_bytes")
errs=()
[ "$state" = gone ] || errs+=("the guest is '$state' again: the process that got its pid was taken for it")
[ "$rss" = 0 ] || errs+=("the guest's resident size is $rss: read from the process that got its pid")
[ ${#errs[@]} -gt 0 ] || pass_msg "the guest stays gone; the new process with its pid is not taken for it"

kill -TERM "$(pgrep -P $SPID -x ksmd)" 2>/dev/null
wait $SPID 2>/dev/null
# (strace writes its file when it ends) before: the guest itself was read and
# its clear_refs written
before=$(awk -v t="$t_reused" -v p="$victim" '
    { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+\.[0-9]+$/) { ts = $i; break } }
    ts + 0 < t + 0 && $0 ~ "\"/proc/" p "/(clear_refs|mem)\"" { n++ } END { print n + 0 }' "$T/trace")
[ "$before" -ge 2 ] || fail "the guest's mem and clear_refs were not opened while it ran ($before opens)"
opened=$(awk -v t="$t_reused" -v p="$victim" '
    { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+\.[0-9]+$/) { ts = $i; break } }
    ts + 0 > t + 0 && match($0, "\"/proc/" p "/(mem|pagemap|maps|smaps|clear_refs|status|ksm_stat)\"") {
        print substr($0, RSTART, RLENGTH)
    }' "$T/trace" | sort | uniq -c)
if [ -n "$opened" ]; then errs+=("ksmd opened files of the process that got the guest's pid: $(echo $opened)")
else pass_msg "nothing of the process that got the guest's pid was opened: no scan, no clear_refs"; fi
[ ${#errs[@]} -eq 0 ] || fail "$(printf '%s; ' "${errs[@]}")"
