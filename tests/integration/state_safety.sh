#!/bin/bash
# Integration: a root ksmd trusts nothing it finds on disk (issue 15).
#   state_file     the state file is a regular file of mode 0600
#   tmp_symlink    a symlink planted at the state file's temporary is not followed
#   lock_symlink   a symlink planted at the lock file is not followed (nor is a
#                  dangling one: its target is never created)
#   runtime_dir    a control socket folder writable by others, or owned by
#                  another user, is refused with a message naming it
#   cgroup_fake    a "cgroup" folder on tmpfs (memory.high a symlink) is refused
#   cgroup_bind    a file bind-mounted over a real cgroup's limit file is not
#                  written (cgroupfs itself refuses symlinks: tried and said)
#   cgroup_restore restore writes back the limits' original text ("max",
#                  v1's unlimited), not MemTotal
#   two_daemons    two daemons with their sockets in one folder keep two state files
#   failed_start   a start that fails (stats port busy) keeps the state file
#   manage_no      ksm.manage = no after a crashed ksmd (SIGKILL, ksm.manage =
#                  yes) does not lose the KSM settings that ksmd saved
# STATE_SAFETY_ONLY="a b" runs only those sections. manage_no writes KSM's
# knobs (restored as found): run this test under the lab's lock.
. "$(dirname "$0")/../lib/common.sh"
need_bins
need_root

T=$(mktemp -d /tmp/ksmd-safety.XXXXXX)
cleanup_add "rm -rf $T"
VICTIM=$T/victim
printf 'precious\n' > $VICTIM
chmod 600 $VICTIM
victim_intact() { [ "$(cat "${1:-$VICTIM}")" = precious ] && [ "$(stat -c %a "${1:-$VICTIM}")" = 600 ]; }
section_skip() { echo "SKIP section $1: $2"; }

# conf DIR NAME [EXTRA]: a ksmd that touches nothing but what a test gives it
conf() {
    cat <<EOF
[daemon]
control_socket = $1/$2.sock
tick = 200ms
[scanner]
enabled = no
[stats]
listen = unix:$1/$2-stats.sock
[ksm]
manage = ${MANAGE:-no}
${3:-}
EOF
}
# run_ksmd CONF LOG: start ksmd in the background (KPID); 0 once it answers,
# 1 when it exited first (its status in KRC)
run_ksmd() {
    "$KSMD" -f -c "$1" > "$2" 2>&1 &
    KPID=$!
    cleanup_add "kill -9 $KPID 2>/dev/null"
    local sock i
    sock=$(awk -F' *= *' '$1=="control_socket"{print $2}' "$1")
    for i in $(seq 100); do
        "$KSMDCTL" -s "$sock" status > /dev/null 2>&1 && return 0
        if ! kill -0 $KPID 2>/dev/null; then KRC=0; wait $KPID || KRC=$?; return 1; fi
        sleep 0.1
    done
    fail "ksmd ($1) neither answered nor exited within 10 s: $(tail -5 "$2")"
}
# stop_ksmd PID LOG: SIGTERM; a clean exit is status 0
stop_ksmd() {
    local rc=0
    kill -TERM $1 2>/dev/null
    wait $1 2>/dev/null || rc=$?
    [ $rc = 0 ] || fail "ksmd exited $rc after SIGTERM: $(tail -5 "$2")"
}

# ---- memory cgroups (v1 here; v2 where that is what the host has) ----
CGV=
if [ -w /sys/fs/cgroup/memory/cgroup.procs ]; then
    CGV=1 CGROOT=/sys/fs/cgroup/memory MAXF=memory.limit_in_bytes BALLOONF="memory.soft_limit_in_bytes memory.limit_in_bytes"
elif grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
    CGV=2 CGROOT=/sys/fs/cgroup MAXF=memory.max BALLOONF=memory.high
fi
# cg_make NAME [LIMIT]: a memory cgroup of this test (removed at exit); CG is its path
cg_make() {
    CG=$CGROOT/ksmd-safety-$$-$1
    mkdir "$CG" || fail "mkdir $CG"
    cleanup_add "rmdir $CG 2>/dev/null"
    [ -z "${2:-}" ] || echo "$2" > "$CG/$MAXF" || fail "limit of $CG"
}
# the build folder as given (its objects' dependency files name it so: an
# absolute path for a relative build would not rebuild them for a header)
probe() {
    make -s -C "$ROOT" B="${KSMD_BUILD:-build}" qmp-probe > /dev/null || fail "cannot build qmp-probe"
    "$B/balloon/qmp-probe" "$@" 2>&1 | tee -a $T/probe.log
}

section_state_file() {
    [ -n "$CGV" ] || { section_skip state_file "no writable memory cgroup"; return; }
    mkdir -m 700 $T/b
    cg_make b $((256 << 20))
    conf $T/b ksmd "[guest g]
cgroup = $CG" > $T/b.conf
    run_ksmd $T/b.conf $T/b.log || fail "ksmd did not start: $(tail -5 $T/b.log)"
    wait_for 10 "an override of a cgroup guest is taken" "$KSMDCTL" -s $T/b/ksmd.sock balloon g 200M
    [ -f $T/b/ksmd.state ] && [ ! -L $T/b/ksmd.state ] || fail "no state file $T/b/ksmd.state: $(ls -l $T/b)"
    local mode
    mode=$(stat -c %a $T/b/ksmd.state)
    [ "$mode" = 600 ] || fail "the state file has mode $mode, want 600"
    pass_msg "the state file is a regular file of mode 0600"
    stop_ksmd $KPID $T/b.log
}

section_tmp_symlink() {
    [ -n "$CGV" ] || { section_skip tmp_symlink "no writable memory cgroup"; return; }
    mkdir -m 700 $T/a
    ln -s $VICTIM $T/a/ksmd.state.tmp
    cg_make a $((256 << 20))
    conf $T/a ksmd "[guest g]
cgroup = $CG" > $T/a.conf
    run_ksmd $T/a.conf $T/a.log || fail "ksmd did not start: $(tail -5 $T/a.log)"
    wait_for 10 "an override of a cgroup guest is taken" "$KSMDCTL" -s $T/a/ksmd.sock balloon g 200M
    victim_intact || fail "the state's temporary followed a planted symlink: $VICTIM now holds '$(head -c 60 $VICTIM)'"
    [ -f $T/a/ksmd.state ] && [ ! -L $T/a/ksmd.state ] || fail "the state file is not a regular file: $(ls -l $T/a)"
    grep -q '"g": 209715200' $T/a/ksmd.state || fail "the state file lacks the override: $(cat $T/a/ksmd.state)"
    pass_msg "a symlink at the state's temporary is not followed; the state is saved"
    stop_ksmd $KPID $T/a.log
}

# locked_by PID FILE: PID holds a lock on FILE's inode (/proc/locks)
locked_by() { grep -qE "^[0-9]+: .* $1 [0-9a-f]+:[0-9a-f]+:$(stat -c %i "$2") " /proc/locks; }

section_lock_symlink() {
    mkdir -m 700 $T/c
    ln -s $VICTIM $T/c/ksmd.sock.lock
    conf $T/c ksmd > $T/c.conf
    if run_ksmd $T/c.conf $T/c.log; then
        locked_by $KPID $VICTIM && fail "ksmd took its lock on $VICTIM through a planted symlink"
        stop_ksmd $KPID $T/c.log
    else
        grep -q "$T/c/ksmd.sock.lock" $T/c.log || fail "refused without naming the lock file: $(cat $T/c.log)"
    fi
    victim_intact || fail "the lock file followed a planted symlink: $VICTIM changed"
    pass_msg "a symlink at the lock file is not followed: $(grep -o "$T/c/ksmd.sock.lock.*" $T/c.log | head -1)"
    rm $T/c/ksmd.sock.lock
    ln -s $T/c/created $T/c/ksmd.sock.lock
    if run_ksmd $T/c.conf $T/c2.log; then stop_ksmd $KPID $T/c2.log; fi
    [ -e $T/c/created ] && fail "ksmd created $T/c/created through a dangling symlink at its lock file"
    pass_msg "a dangling symlink at the lock file creates nothing"
}

section_runtime_dir() {
    mkdir -m 777 $T/d1
    conf $T/d1 ksmd > $T/d1.conf
    if run_ksmd $T/d1.conf $T/d1.log; then stop_ksmd $KPID $T/d1.log; fail "ksmd started in the world-writable $T/d1"; fi
    grep -q "$T/d1.*writable" $T/d1.log || fail "no message naming $T/d1: $(cat $T/d1.log)"
    pass_msg "a world-writable folder is refused: $(grep -o "$T/d1.*" $T/d1.log | head -1)"
    mkdir -m 755 $T/d2
    chown 65534 $T/d2
    conf $T/d2 ksmd > $T/d2.conf
    if run_ksmd $T/d2.conf $T/d2.log; then stop_ksmd $KPID $T/d2.log; fail "ksmd started in $T/d2, owned by uid 65534"; fi
    grep -q "$T/d2.*owned by" $T/d2.log || fail "no message naming $T/d2: $(cat $T/d2.log)"
    pass_msg "a folder owned by another user is refused: $(grep -o "$T/d2.*" $T/d2.log | head -1)"
}

section_cgroup_fake() {
    local fake
    fake=$(mktemp -d /dev/shm/ksmd-fakecg.XXXXXX)
    cleanup_add "rm -rf $fake"
    ln -s $VICTIM $fake/memory.high
    echo max > $fake/memory.max
    echo 0 > $fake/memory.current
    local out
    out=$(probe -c -m 1 -t 1G -R 2 -w 1 $fake)
    echo "$out" | grep -E '^(ready|notready|refused|target)' | sed 's/^/  /'
    victim_intact || fail "a fake cgroup's memory.high symlink was followed: $VICTIM now '$(head -c 60 $VICTIM)'"
    echo "$out" | grep -q '^ready' && fail "a folder on $(stat -f -c %T $fake) accepted as a cgroup"
    echo "$out" | grep -qi 'cgroup file system' || fail "no reason given: $out"
    pass_msg "a fake cgroup on $(stat -f -c %T $fake) is refused, its symlink untouched"
}

section_cgroup_bind() {
    [ -n "$CGV" ] || { section_skip cgroup_bind "no writable memory cgroup"; return; }
    cg_make bind $((256 << 20))
    if ln -s $VICTIM $CG/memory.planted 2>/dev/null; then
        fail "cgroupfs took a symlink ($CG/memory.planted): extend this test to plant one"
    fi
    pass_msg "cgroupfs refuses symlinks (ln -s: $(ln -s $VICTIM $CG/memory.planted 2>&1 | sed 's/.*: //'))"
    local f bv=$T/bind-victim
    f=${BALLOONF%% *}
    printf 'precious\n' > $bv
    chmod 600 $bv
    mount --bind $bv $CG/$f || { section_skip cgroup_bind "cannot bind-mount over $CG/$f"; return; }
    cleanup_add "umount $CG/$f 2>/dev/null"
    local out
    out=$(probe -c -t 200M -R 2 -w 1 $CG)
    umount $CG/$f
    echo "$out" | grep -E '^(ready|notready|refused|target)' | sed 's/^/  /'
    victim_intact $bv || fail "a file bind-mounted over $CG/$f was written: '$(head -c 60 $bv)'"
    echo "$out" | grep -qi 'cgroup file system' || fail "no reason given: $out"
    pass_msg "a file bind-mounted over $f is not written"
}

section_cgroup_restore() {
    [ -n "$CGV" ] || { section_skip cgroup_restore "no writable memory cgroup"; return; }
    cg_make restore
    local f before=() i=0
    for f in $BALLOONF; do before+=("$(cat $CG/$f)"); done
    local out
    out=$(probe -c -m 1 -t 512M -R 2 -w 3 -r $CG)
    echo "$out" | grep -E '^(ready|final|restore)' | sed 's/^/  /'
    echo "$out" | grep -q '^final name=p0 .*target=536870912' || fail "target 512M not set: $out"
    echo "$out" | grep -q '^restore failed=0' || fail "restore failed: $out"
    for f in $BALLOONF; do
        [ "$(cat $CG/$f)" = "${before[$i]}" ] || fail "$f restored to $(cat $CG/$f), not its original ${before[$i]}"
        i=$((i + 1))
    done
    pass_msg "restore writes back the original $BALLOONF (${before[*]})"
}

section_two_daemons() {
    [ -n "$CGV" ] || { section_skip two_daemons "no writable memory cgroup"; return; }
    mkdir -m 700 $T/h
    local pids=() n
    for n in a b; do
        cg_make h$n $((256 << 20))
        conf $T/h $n "[guest g$n]
cgroup = $CG" > $T/h$n.conf
        run_ksmd $T/h$n.conf $T/h$n.log || fail "ksmd $n did not start: $(tail -5 $T/h$n.log)"
        pids+=($KPID)
        wait_for 10 "daemon $n takes an override" "$KSMDCTL" -s $T/h/$n.sock balloon g$n 200M
    done
    kill -9 "${pids[@]}"
    wait "${pids[@]}" 2>/dev/null
    local files
    files=$(ls $T/h/*.state 2>/dev/null)
    [ "$(echo "$files" | grep -c .)" = 2 ] || fail "two daemons in $T/h keep $(echo $files) as state"
    grep -l '"ga"' $files | grep -q . && grep -l '"gb"' $files | grep -q . ||
        fail "the state files do not hold one daemon's override each: $(cat $files)"
    [ "$(grep -l '"ga"' $files)" != "$(grep -l '"gb"' $files)" ] || fail "one state file holds both"
    pass_msg "two daemons in one folder: two state files ($(basename -a $files | tr '\n' ' '))"
}

section_failed_start() {
    mkdir -m 700 $T/i
    printf '{"overrides": {"g": 209715200}}\n' > $T/i/ksmd.state
    chmod 600 $T/i/ksmd.state
    cp $T/i/ksmd.state $T/i.expected
    python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
print(s.getsockname()[1], flush=True)
time.sleep(60)' > $T/i.port &
    local lpid=$! port i
    cleanup_add "kill $lpid 2>/dev/null"
    for i in $(seq 50); do [ -s $T/i.port ] && break; sleep 0.1; done
    port=$(cat $T/i.port)
    conf $T/i ksmd | sed "s|^listen = .*|listen = 127.0.0.1:$port|" > $T/i.conf
    if run_ksmd $T/i.conf $T/i.log; then stop_ksmd $KPID $T/i.log; fail "ksmd started on a busy stats port"; fi
    [ "$KRC" != 0 ] || fail "a failed start exited 0"
    cmp -s $T/i/ksmd.state $T/i.expected || fail "a failed start lost the state file: $(ls -l $T/i)"
    kill $lpid
    pass_msg "a failed start (stats port busy, exit $KRC) keeps the state file"
}

section_manage_no() {
    [ -w $KSM/run ] && [ -w $KSM/pages_to_scan ] || { section_skip manage_no "needs a writable $KSM"; return; }
    ksm_save
    cleanup_add ksm_restore
    echo 111 > $KSM/pages_to_scan
    echo 77 > $KSM/sleep_millisecs
    mkdir -m 700 $T/j
    MANAGE=yes conf $T/j ksmd > $T/j1.conf
    run_ksmd $T/j1.conf $T/j1.log || fail "ksmd (ksm.manage = yes) did not start: $(tail -5 $T/j1.log)"
    wait_for 10 "ksmd saved KSM's settings in its state file" grep -q '"pages_to_scan": 111' $T/j/ksmd.state
    kill -9 $KPID
    wait $KPID 2>/dev/null
    echo 999 > $KSM/pages_to_scan   # what the crashed ksmd's pacing left
    echo 5 > $KSM/sleep_millisecs
    conf $T/j ksmd > $T/j2.conf
    run_ksmd $T/j2.conf $T/j2.log || fail "ksmd (ksm.manage = no) did not start: $(tail -5 $T/j2.log)"
    sleep 0.5
    stop_ksmd $KPID $T/j2.log
    local now
    now="$(cat $KSM/pages_to_scan)/$(cat $KSM/sleep_millisecs)"
    if [ "$now" = 111/77 ]; then
        pass_msg "ksm.manage = no restored what the crashed ksmd saved: $(grep -o 'KSM:.*restored.*' $T/j2.log | head -1)"
    elif grep -q '"pages_to_scan": 111' $T/j/ksmd.state 2>/dev/null; then
        pass_msg "ksm.manage = no kept the crashed ksmd's saved settings for the next ksmd"
    else
        fail "ksm.manage = no lost the crashed ksmd's saved settings: KSM at $now, state file: $(cat $T/j/ksmd.state 2>&1)"
    fi
}

ALL="state_file tmp_symlink lock_symlink runtime_dir cgroup_fake cgroup_bind cgroup_restore two_daemons failed_start manage_no"
for s in ${STATE_SAFETY_ONLY:-$ALL}; do
    echo "== $s"
    section_$s
done
# under ASan/UBSan: a report in any ksmd's log fails the test
bad=$(grep -l 'Sanitizer\|runtime error' $T/*.log 2>/dev/null)
[ -z "$bad" ] || fail "sanitizer reports in $bad: $(grep -h -A3 'Sanitizer\|runtime error' $bad | head -20)"
echo "state safety: all checks passed"
