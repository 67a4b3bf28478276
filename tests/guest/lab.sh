# shellcheck shell=bash
# lab.sh — start and drive real QEMU lab guests from bash tests.
#
#   source tests/guest/lab.sh        (installs an EXIT/INT/TERM trap)
#   lab_require || exit $?           (77 + a "skip:" line when QEMU cannot run)
#   lab_start 2 256 7 7              (2 guests of 256 MiB, both seed 7)
#   lab_agent 0 fill 64 image        (fill 64 MiB, pattern image, guest's seed)
#   lab_qmp 1 '{"execute":"query-balloon"}'
#
# Functions (all return 0 on success, nonzero on error or timeout):
#   lab_require               check/install QEMU, busybox-static, cpio, python3,
#                             gcc; build the image; pick the accelerator.
#                             Returns 77 after printing "skip: REASON" when the
#                             lab cannot run here.
#   lab_start N SIZE_MIB [SEED...]
#                             start guests 0..N-1 (guest i gets SEED number i,
#                             default i+1) and wait until all are ready.
#   lab_add SIZE_MIB SEED     start one more guest (index LAB_N-1), wait ready.
#   lab_agent I CMD [ARG...]  run an agent command in guest I, print its reply;
#                             returns the command's status (124 = timeout).
#   lab_qmp I JSON...         send QMP commands on guest I's observer socket,
#                             print one reply line each (1 = QMP error).
#   lab_qmp_wait I EVENT [S]  wait for a QMP event on the observer socket.
#   lab_balloon I MIB         QMP balloon guest I to MIB.
#   lab_balloon_actual I      print the balloon's "actual" in MiB.
#   lab_wait_balloon I MIB [S]  wait (default 30 s) until actual == MIB.
#   lab_ram_mapping I         print "START-END" of guest I's RAM in
#                             /proc/PID/maps (size = -m, VmFlags has mg).
#   lab_kill I                kill -9 guest I (LAB_PID[I] becomes empty).
#   lab_restart I             kill guest I if alive, boot it again (same
#                             size, seed and sockets), wait until ready.
#   lab_stop                  tear every guest down (runs from the trap too),
#                             print the total lab time.
#   lab_json EXPR             read JSON on stdin, print the value at EXPR
#                             (python subscripts), e.g.
#                             lab_qmp 0 '{"execute":"query-balloon"}' |
#                                 lab_json '["return"]["actual"]'
#   lab_census I              print pages.py's JSON census of guest I's RAM
#                             (present, zero, distinct, max_copies); root.
#   lab_atexit CMD            run CMD (eval) at exit before the guests are
#                             stopped, e.g. to stop a daemon that holds
#                             LAB_QMP sockets or restore /sys/kernel/mm/ksm.
#                             Do not replace the EXIT trap; use this.
#   lab_attach DIR            adopt a lab started elsewhere (tests/guest/lab up)
#                             from DIR/lab.env; lab_stop then leaves it alone.
#   lab_limit MIB             a memory cgroup limited to MIB (v1 or v2, swap
#                             allowed behind it) that every guest started
#                             after it runs in, as libvirt confines guests in
#                             machine.slice; sets LAB_CGROUP (its directory)
#                             and LAB_CGROUP_PATH (as /proc/PID/cgroup names
#                             it). 77 + "skip: REASON" when none can be made.
#                             lab_stop removes it once the guests are gone.
#   lab_limit_set MIB         change that limit (the guests stay in it).
#   lab_cgroup_stat           print "usage_mib swap_mib oom_kills swap_kib" of it.
#   lab_swap MIB              a zram swap device of MIB (/dev/zram0, which
#                             must be unused); 77 + "skip: REASON" when it
#                             cannot be had. lab_stop turns it off and resets
#                             it.
#   lab_swap_used             print the swap device's used KiB.
#
# Variables after lab_start (arrays indexed by guest number):
#   LAB_N                number of guests
#   LAB_PID[i]           QEMU's PID (from -pidfile; empty once killed)
#   LAB_QMP[i]           QMP socket reserved for the daemon under test
#   LAB_QMP_OBS[i]       second QMP socket, used by lab_qmp (tests observe)
#   LAB_AGENT[i]         serial socket of the guest agent (ttyS1)
#   LAB_CONSOLE[i]       console log file (ttyS0, kernel messages)
#   LAB_NAME[i]          guest name (g0, g1, ...)
#   LAB_SIZE_MIB[i], LAB_SEED[i], LAB_BOOT_SEC[i] (boot time of the last boot)
#   LAB_DISK[i]          the guest's disk image (LAB_DISK_MIB), or empty
#   LAB_ACCEL            tcg or kvm, LAB_ACCEL_REASON why
#   LAB_DIR              runtime folder (sockets, logs); removed by lab_stop
#                        unless LAB_KEEP=1
# Settings (environment, read when a guest starts):
#   LAB_IMAGE_DIR (build/guest), LAB_BOOT_TIMEOUT (120 s), LAB_AGENT_TIMEOUT
#   (60 s), LAB_FPR=1 (balloon free-page-reporting=on), LAB_SMP (1),
#   LAB_ACCEL_FORCE=tcg|kvm, LAB_QEMU_ARGS (extra QEMU arguments),
#   LAB_APPEND (extra kernel parameters, e.g. loglevel=7 for a full boot log),
#   LAB_DISK_MIB (a disk for the guest's page cache, see below).
#
# The lab disk (LAB_DISK_MIB=MIB when a guest is started): a virtio-blk disk,
# /dev/vda in the guest, an ext4 image holding one file, "data", of MIB
# mebibytes made by memfill from the guest's seed (page i of the file is a
# function of SEED and i: repeatable, no zero page, no two pages alike).
# Guests with the same seed and size share one image in LAB_DIR, attached
# read-only with cache=none (O_DIRECT: the host keeps no page cache of it, so
# what a guest caches is the guest's own memory). The agent's "cache MIB
# [SKIP_MIB]" mounts it (read-only, /mnt/disk) and reads MIB of the file
# into the guest's page cache; "pagecache" reports Cached. Needs mke2fs.
#
# Guests are started in the calling shell with a parent-death signal, so they
# die with it even on SIGKILL: call lab_start in the test's main shell, not in
# $(...) or a pipeline. Every QEMU is found by its PID, never by its name.

LAB_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB_ROOT=$(cd "$LAB_HERE/../.." && pwd)
LAB_IMAGE_DIR=${LAB_IMAGE_DIR:-$LAB_ROOT/build/guest}
LAB_PYTHON=/usr/bin/python3
[ -x "$LAB_PYTHON" ] || LAB_PYTHON=python3
LAB_BOOT_TIMEOUT=${LAB_BOOT_TIMEOUT:-120}
LAB_AGENT_TIMEOUT=${LAB_AGENT_TIMEOUT:-60}
LAB_READY_MARKER=KSMD-LAB-READY
LAB_N=0
LAB_DIR=${LAB_DIR:-}
LAB_ACCEL=${LAB_ACCEL:-}
LAB_ACCEL_REASON=${LAB_ACCEL_REASON:-}
LAB_ATTACHED=0
LAB_CGROUP= LAB_CGROUP_PATH= LAB_CGROUP_VER= LAB_SWAP=
declare -a LAB_PID=() LAB_QMP=() LAB_QMP_OBS=() LAB_AGENT=() LAB_CONSOLE=() \
    LAB_NAME=() LAB_SIZE_MIB=() LAB_SEED=() LAB_BOOT_SEC=() LAB_DISK=() _LAB_ATEXIT=()
_LAB_T0=

lab_log() { echo "lab: $*" >&2; }
_lab_now() { date +%s.%N; }
_lab_since() { LC_ALL=C printf '%.1f' "$(echo "$(_lab_now) - $1" | bc)"; }

# _lab_missing: print the tools the lab needs that are not on this host.
_lab_missing() {
    local c
    for c in qemu-system-x86_64 cpio gzip gcc bc setpriv "$LAB_PYTHON"; do
        command -v "$c" >/dev/null 2>&1 || echo "$c"
    done
    [ -n "$(_lab_mke2fs)" ] || echo mke2fs
    [ -x /bin/busybox ] || echo busybox
}

lab_require() {
    local missing
    missing=$(_lab_missing)
    if [ -n "$missing" ] && [ "$(id -u)" = 0 ]; then
        lab_log "installing deps/lab.txt (missing: $(echo $missing))"
        "$LAB_ROOT/scripts/deps.sh" "$LAB_ROOT/deps/lab.txt" >&2 || true
        missing=$(_lab_missing)
    fi
    if [ -n "$missing" ]; then
        echo "skip: lab guests cannot run here: missing $(echo $missing)"
        return 77
    fi
    local rc=0
    "$LAB_HERE/build.sh" >/dev/null || rc=$?
    if [ $rc = 77 ]; then
        echo "skip: cannot fetch the guest kernel from the Debian archive"
        return 77
    elif [ $rc != 0 ]; then
        lab_log "guest image build failed"
        return 1
    fi
    _lab_pick_accel
}

# Use KVM only when a short probe boot with it succeeds; the result is cached
# in the image folder per host kernel, QEMU version and guest kernel.
_lab_pick_accel() {
    local key cache="$LAB_IMAGE_DIR/accel-probe" got
    if [ -n "${LAB_ACCEL_FORCE:-}" ]; then
        LAB_ACCEL=$LAB_ACCEL_FORCE LAB_ACCEL_REASON="forced by LAB_ACCEL_FORCE"
    elif [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
        LAB_ACCEL=tcg LAB_ACCEL_REASON="/dev/kvm not available"
    else
        key="$(uname -r)|$(qemu-system-x86_64 --version | head -n1)|$(cat "$LAB_IMAGE_DIR/kernel-version")"
        got=$(grep -F "$key|" "$cache" 2>/dev/null | tail -n1 | awk -F'|' '{print $4}')
        if [ -z "$got" ]; then
            lab_log "probing KVM with a short boot"
            if _lab_probe_kvm; then got=kvm; else got=tcg; fi
            echo "$key|$got" >>"$cache"
        fi
        LAB_ACCEL=$got
        if [ "$got" = kvm ]; then LAB_ACCEL_REASON="KVM probe boot succeeded"
        else LAB_ACCEL_REASON="KVM probe boot failed"; fi
    fi
    lab_log "accelerator: $LAB_ACCEL ($LAB_ACCEL_REASON)"
}

_lab_probe_kvm() {
    local d pid i ok=1
    d=$(mktemp -d /tmp/ksmd-lab-probe.XXXXXX)
    setpriv --pdeathsig KILL qemu-system-x86_64 -accel kvm -m 128 -display none \
        -monitor none -no-reboot -nic none -kernel "$LAB_IMAGE_DIR/vmlinuz" \
        -initrd "$LAB_IMAGE_DIR/initramfs.gz" -append "console=ttyS0 panic=-1 quiet" \
        -chardev file,id=con,path="$d/console" -serial chardev:con -serial null \
        -pidfile "$d/pid" >/dev/null 2>&1 </dev/null &
    pid=$!
    for ((i = 0; i < 150; i++)); do
        grep -q "$LAB_READY_MARKER" "$d/console" 2>/dev/null && { ok=0; break; }
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    rm -rf "$d"
    return $ok
}

# _lab_mke2fs: print mke2fs's path (often in /sbin, off a user's PATH).
_lab_mke2fs() {
    local c
    for c in "$(command -v mke2fs 2>/dev/null)" /usr/sbin/mke2fs /sbin/mke2fs; do
        [ -n "$c" ] && [ -x "$c" ] && { echo "$c"; return 0; }
    done
    return 1
}

# _lab_disk SEED MIB: print the path of the lab disk image for SEED and MIB
# (made in LAB_DIR when missing): ext4 with one file, "data", of MIB MiB of
# memfill's disk pattern for SEED. Room for ext4's own blocks: MIB/64 + 8 MiB.
_lab_disk() {
    local seed=$1 mib=$2 img stage mkfs t0 out
    img=$LAB_DIR/disk-s$seed-${mib}m.img
    [ -s "$img" ] && { echo "$img"; return 0; }
    mkfs=$(_lab_mke2fs) || { lab_log "mke2fs is missing (e2fsprogs)"; return 1; }
    t0=$(_lab_now)
    stage=$LAB_DIR/disk-s$seed-${mib}m.d
    rm -rf "$stage" && mkdir "$stage" || return 1
    out=$("$LAB_IMAGE_DIR/memfill" disk "$stage/data" "$mib" "$seed") ||
        { lab_log "disk data: $out"; rm -rf "$stage"; return 1; }
    if ! out=$("$mkfs" -q -t ext4 -b 4096 -N 16 -m 0 -O ^has_journal,^resize_inode \
                -L ksmdlab -d "$stage" -F "$img.tmp" "$((mib + mib / 64 + 8))M" 2>&1); then
        lab_log "mke2fs: $out"; rm -rf "$stage" "$img.tmp"; return 1
    fi
    rm -rf "$stage"
    mv "$img.tmp" "$img"
    lab_log "disk $img: ext4, data = $mib MiB of seed $seed, made in $(_lab_since "$t0") s"
    echo "$img"
}

# _lab_launch I: start QEMU for guest I (parameters already in the arrays).
_lab_launch() {
    local i=$1 d=$LAB_DIR/g$1 args=() bal=virtio-balloon-pci,id=balloon0
    rm -f "$d".qmp "$d".obs "$d".agent "$d".pid
    : >"$d.console"
    [ "${LAB_FPR:-0}" = 1 ] && bal+=",free-page-reporting=on"
    args=(-name "${LAB_NAME[$i]}" -machine pc,mem-merge=on -accel "$LAB_ACCEL"
        -m "${LAB_SIZE_MIB[$i]}" -smp "${LAB_SMP:-1}" -display none -monitor none
        -no-reboot -nic none -kernel "$LAB_IMAGE_DIR/vmlinuz"
        -initrd "$LAB_IMAGE_DIR/initramfs.gz"
        -append "console=ttyS0 panic=-1 quiet ksmdlab.seed=${LAB_SEED[$i]} ksmdlab.name=${LAB_NAME[$i]} ${LAB_APPEND:-}"
        -chardev file,id=con,path="$d.console" -serial chardev:con
        -chardev socket,id=agent,path="$d.agent",server=on,wait=off -serial chardev:agent
        -chardev socket,id=qmp0,path="$d.qmp",server=on,wait=off -mon chardev=qmp0,mode=control
        -chardev socket,id=qmp1,path="$d.obs",server=on,wait=off -mon chardev=qmp1,mode=control
        -device "$bal" -pidfile "$d.pid")
    if [ -n "${LAB_DISK[$i]:-}" ]; then
        # read-only (guests of one seed share the image) and cache=none: the
        # guest's page cache is the guest's, not the host's
        args+=(-drive "file=${LAB_DISK[$i]},format=raw,if=none,id=disk0,cache=none,readonly=on"
            -device virtio-blk-pci,drive=disk0)
    fi
    # shellcheck disable=SC2206
    [ -n "${LAB_QEMU_ARGS:-}" ] && args+=($LAB_QEMU_ARGS)
    if [ -n "${LAB_CGROUP:-}" ]; then
        # join the limited cgroup before exec, so all of QEMU is charged to it
        ( echo "$BASHPID" >"$LAB_CGROUP/cgroup.procs" &&
              exec setpriv --pdeathsig KILL qemu-system-x86_64 "${args[@]}" ) >"$d.err" 2>&1 </dev/null &
    else
        setpriv --pdeathsig KILL qemu-system-x86_64 "${args[@]}" >"$d.err" 2>&1 </dev/null &
    fi
    LAB_PID[$i]=$!
    disown "$!"   # bash still reaps it, but prints no "Killed" job notices
    LAB_QMP[$i]=$d.qmp LAB_QMP_OBS[$i]=$d.obs LAB_AGENT[$i]=$d.agent
    LAB_CONSOLE[$i]=$d.console
    _LAB_START[$i]=$(_lab_now)
}

# lab_wait_ready I [TIMEOUT_S]: wait for the agent's ready marker.
lab_wait_ready() {
    local i=$1 t=${2:-$LAB_BOOT_TIMEOUT} pid=${LAB_PID[$1]} end
    end=$(($(date +%s) + t))
    while ! grep -q "$LAB_READY_MARKER" "${LAB_CONSOLE[$i]}" 2>/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null; then
            lab_log "guest $i (${LAB_NAME[$i]}) died while booting:"
            tail -n 20 "$LAB_DIR/g$i.err" "${LAB_CONSOLE[$i]}" >&2
            LAB_PID[$i]=
            return 1
        fi
        if [ "$(date +%s)" -ge "$end" ]; then
            lab_log "guest $i (${LAB_NAME[$i]}) not ready after ${t}s; console tail:"
            tail -n 20 "${LAB_CONSOLE[$i]}" >&2
            return 1
        fi
        sleep 0.2
    done
    if [ "$(cat "$LAB_DIR/g$i.pid" 2>/dev/null)" != "$pid" ]; then
        lab_log "guest $i: pidfile does not match PID $pid"
        return 1
    fi
    LAB_BOOT_SEC[$i]=$(_lab_since "${_LAB_START[$i]}")
    lab_log "guest $i (${LAB_NAME[$i]}, ${LAB_SIZE_MIB[$i]} MiB, seed ${LAB_SEED[$i]}, $LAB_ACCEL) booted in ${LAB_BOOT_SEC[$i]} s, PID $pid"
}

_lab_write_env() {
    declare -p LAB_N LAB_PID LAB_QMP LAB_QMP_OBS LAB_AGENT LAB_CONSOLE LAB_NAME \
        LAB_SIZE_MIB LAB_SEED LAB_BOOT_SEC LAB_DISK LAB_ACCEL LAB_ACCEL_REASON LAB_DIR \
        2>/dev/null | sed 's/^declare -- /declare -g /; s/^declare -a /declare -ga /' \
        >"$LAB_DIR/lab.env"
}

_lab_new_guest() {
    local i=$LAB_N
    LAB_N=$((LAB_N + 1))
    LAB_NAME[$i]=g$i LAB_SIZE_MIB[$i]=$1 LAB_SEED[$i]=$2 LAB_DISK[$i]=
    if [ "${LAB_DISK_MIB:-0}" -gt 0 ]; then
        LAB_DISK[$i]=$(_lab_disk "$2" "$LAB_DISK_MIB") || return 1
    fi
    _lab_launch "$i"
}

lab_start() {
    local n=$1 size=$2 i rc=0 first=$LAB_N
    shift 2
    [ -n "$LAB_ACCEL" ] || lab_require || return $?
    if [ -z "$LAB_DIR" ]; then
        LAB_DIR=$(mktemp -d /tmp/ksmd-lab.XXXXXX)
    fi
    [ -n "$_LAB_T0" ] || _LAB_T0=$(_lab_now)
    for ((i = 0; i < n; i++)); do
        _lab_new_guest "$size" "${1:-$((first + i + 1))}" || return 1
        [ $# -gt 0 ] && shift
    done
    for ((i = first; i < LAB_N; i++)); do
        lab_wait_ready "$i" || rc=1
    done
    _lab_write_env
    return $rc
}

lab_add() {
    lab_start 1 "$1" "${2:-$((LAB_N + 1))}"
}

lab_agent() {
    local i=$1
    shift
    "$LAB_PYTHON" "$LAB_HERE/labio.py" agent "${LAB_AGENT[$i]}" --timeout "$LAB_AGENT_TIMEOUT" "$@"
}

lab_qmp() {
    local i=$1
    shift
    "$LAB_PYTHON" "$LAB_HERE/labio.py" qmp "${LAB_QMP_OBS[$i]}" "$@"
}

lab_qmp_wait() {
    "$LAB_PYTHON" "$LAB_HERE/labio.py" qmp-wait "${LAB_QMP_OBS[$1]}" "$2" --timeout "${3:-30}"
}

lab_json() {
    "$LAB_PYTHON" -c 'import json,sys; v=eval("json.load(sys.stdin)" + sys.argv[1]); print(json.dumps(v) if isinstance(v,(dict,list)) else v)' "$1"
}

lab_census() {
    local range
    range=$(lab_ram_mapping "$1") || return 1
    "$LAB_PYTHON" "$LAB_HERE/pages.py" census "${LAB_PID[$1]}" "$range"
}

lab_balloon() {
    lab_qmp "$1" "{\"execute\":\"balloon\",\"arguments\":{\"value\":$(($2 * 1048576))}}" >/dev/null
}

lab_balloon_actual() {
    local bytes
    bytes=$(lab_qmp "$1" '{"execute":"query-balloon"}' | lab_json '["return"]["actual"]') &&
        [ -n "$bytes" ] || return 1
    echo $((bytes / 1048576))
}

lab_wait_balloon() {
    local i=$1 mib=$2 t=${3:-30} end got
    end=$(($(date +%s) + t))
    while :; do
        got=$(lab_balloon_actual "$i") || return 1
        [ "$got" = "$mib" ] && return 0
        [ "$(date +%s)" -ge "$end" ] && { lab_log "guest $i: balloon actual $got MiB, wanted $mib"; return 1; }
        sleep 0.5
    done
}

lab_ram_mapping() {
    local i=$1 pid=${LAB_PID[$1]}
    [ -n "$pid" ] || return 1
    awk -v kb=$((LAB_SIZE_MIB[$1] * 1024)) '
        /^[0-9a-f]+-[0-9a-f]+ / { range = $1; size = 0; next }
        /^Size:/ { size = $2; next }
        /^VmFlags:/ { if (size == kb && / mg( |$)/) { print range; found = 1; exit } }
        END { exit !found }' "/proc/$pid/smaps"
}

# _lab_end I SIG: stop guest I's QEMU by PID (SIG first, SIGKILL after 5 s).
_lab_end() {
    local i=$1 pid=${LAB_PID[$1]} n
    [ -n "$pid" ] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill "-$2" "$pid" 2>/dev/null
        for ((n = 0; n < 50; n++)); do
            kill -0 "$pid" 2>/dev/null || break
            [ -n "$(awk '/^State:/ && $2 == "Z"' "/proc/$pid/status" 2>/dev/null)" ] && break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null
        for ((n = 0; n < 50; n++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    fi
    LAB_PID[$i]=
}

lab_kill() {
    _lab_end "$1" KILL
    [ -n "$LAB_DIR" ] && _lab_write_env
}

lab_restart() {
    local i=$1
    _lab_end "$i" KILL
    _lab_launch "$i"
    lab_wait_ready "$i" || return 1
    _lab_write_env
}

lab_stop() {
    local i
    [ "$LAB_ATTACHED" = 1 ] && return 0
    for ((i = 0; i < LAB_N; i++)); do
        _lab_end "$i" TERM
    done
    _lab_limit_remove
    _lab_swap_remove
    if [ -n "$_LAB_T0" ]; then
        lab_log "stopped $LAB_N guest(s); lab time $(_lab_since "$_LAB_T0") s"
        _LAB_T0=
    fi
    if [ -n "$LAB_DIR" ] && [ "${LAB_KEEP:-0}" != 1 ]; then
        rm -rf "$LAB_DIR"
        LAB_DIR=
    fi
    LAB_N=0
}

lab_atexit() { _LAB_ATEXIT+=("$*"); }

# ---- a real limit: a memory cgroup with swap behind it ----

# _lab_memcg_mount: the memory controller's mount and its version ("v1" or "v2").
_lab_memcg_mount() {
    local m
    m=$(awk '$0 ~ / - cgroup / && $NF ~ /(^|,)memory(,|$)/ { print $5; exit }' /proc/self/mountinfo)
    if [ -n "$m" ]; then echo "$m v1"; return 0; fi
    m=$(awk '$0 ~ / - cgroup2 / { print $5; exit }' /proc/self/mountinfo)
    if [ -n "$m" ] && grep -qw memory "$m/cgroup.controllers" 2>/dev/null; then
        grep -qw memory "$m/cgroup.subtree_control" || echo +memory >"$m/cgroup.subtree_control" 2>/dev/null
        echo "$m v2"; return 0
    fi
    return 1
}

lab_limit() {
    local mib=$1 mnt ver name
    [ "$(id -u)" = 0 ] || { echo "skip: a memory cgroup limit needs root"; return 77; }
    read -r mnt ver < <(_lab_memcg_mount) || { echo "skip: no memory cgroup controller is mounted"; return 77; }
    name=ksmd-lab-$$-$RANDOM
    mkdir "$mnt/$name" || { echo "skip: cannot create a memory cgroup under $mnt"; return 77; }
    LAB_CGROUP=$mnt/$name LAB_CGROUP_PATH=/$name LAB_CGROUP_VER=$ver
    lab_limit_set "$mib" || { rmdir "$LAB_CGROUP"; LAB_CGROUP=; echo "skip: cannot set a memory limit"; return 77; }
    lab_log "memory cgroup $LAB_CGROUP ($ver) limited to $mib MiB"
}

lab_limit_set() {
    local b=$(($1 * 1048576))
    if [ "$LAB_CGROUP_VER" = v1 ]; then
        # memsw (memory + swap) unlimited first, so that the limit can move
        # both ways and going over it swaps rather than OOM-kills
        [ -e "$LAB_CGROUP/memory.memsw.limit_in_bytes" ] &&
            echo -1 >"$LAB_CGROUP/memory.memsw.limit_in_bytes"
        echo "$b" >"$LAB_CGROUP/memory.limit_in_bytes"
    else
        echo "$b" >"$LAB_CGROUP/memory.max" && echo max >"$LAB_CGROUP/memory.swap.max" 2>/dev/null
        [ "$(cat "$LAB_CGROUP/memory.max")" = "$b" ]
    fi
}

lab_cgroup_stat() {
    local usage swap oom
    if [ "$LAB_CGROUP_VER" = v1 ]; then
        usage=$(cat "$LAB_CGROUP/memory.usage_in_bytes")
        swap=$(awk '$1 == "total_swap" { print $2 }' "$LAB_CGROUP/memory.stat")
        oom=$(awk '$1 == "oom_kill" { print $2 }' "$LAB_CGROUP/memory.oom_control")
    else
        usage=$(cat "$LAB_CGROUP/memory.current")
        swap=$(cat "$LAB_CGROUP/memory.swap.current" 2>/dev/null)
        oom=$(awk '$1 == "oom_kill" { print $2 }' "$LAB_CGROUP/memory.events")
    fi
    echo "$((usage / 1048576)) $((${swap:-0} / 1048576)) ${oom:-0} $((${swap:-0} / 1024))"
}

_lab_limit_remove() {
    [ -n "${LAB_CGROUP:-}" ] || return 0
    local n
    for ((n = 0; n < 50; n++)); do
        rmdir "$LAB_CGROUP" 2>/dev/null && break
        sleep 0.1
    done
    [ -d "$LAB_CGROUP" ] && lab_log "memory cgroup $LAB_CGROUP could not be removed: $(cat "$LAB_CGROUP/cgroup.procs" | tr '\n' ' ')"
    LAB_CGROUP=
}

lab_swap() {
    local mib=$1 z=/sys/block/zram0
    [ "$(id -u)" = 0 ] || { echo "skip: a swap device needs root"; return 77; }
    [ -e /dev/zram0 ] && [ -d $z ] || { echo "skip: no zram device (/dev/zram0) on this host"; return 77; }
    command -v mkswap >/dev/null && command -v swapon >/dev/null || { echo "skip: mkswap/swapon missing"; return 77; }
    if grep -q '^/dev/zram0 ' /proc/swaps || [ "$(cat $z/disksize)" != 0 ]; then
        echo "skip: /dev/zram0 is in use already"; return 77
    fi
    echo "${mib}M" >$z/disksize || { echo "skip: cannot size /dev/zram0"; return 77; }
    LAB_SWAP=/dev/zram0
    if ! mkswap /dev/zram0 >/dev/null 2>&1 || ! swapon /dev/zram0; then
        echo 1 >$z/reset; LAB_SWAP=
        echo "skip: cannot swap on /dev/zram0"; return 77
    fi
    lab_log "swap on /dev/zram0, $mib MiB"
}

lab_swap_used() { awk '$1 == "/dev/zram0" { print $4 }' /proc/swaps; }

_lab_swap_remove() {
    [ -n "${LAB_SWAP:-}" ] || return 0
    swapoff "$LAB_SWAP" 2>/dev/null
    echo 1 >/sys/block/zram0/reset 2>/dev/null
    LAB_SWAP=
}

lab_attach() {
    # shellcheck disable=SC1091
    source "$1/lab.env" || return 1
    LAB_ATTACHED=1
}

_lab_on_exit() {
    local rc=$? j
    trap - EXIT
    for ((j = ${#_LAB_ATEXIT[@]} - 1; j >= 0; j--)); do
        eval "${_LAB_ATEXIT[$j]}" || true
    done
    lab_stop
    exit $rc
}

declare -a _LAB_START=()
trap _lab_on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
