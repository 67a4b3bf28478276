# tests/guest/libvirt.sh — lab guests owned by a real libvirtd (source it).
#
# The same lab kernel and initramfs as tests/guest/lab.sh, booted by libvirt
# as TCG domains (<domain type='qemu'>, direct kernel boot, a virtio balloon
# with a stats period), so ksmd meets them as an operator's host has them:
# QEMU started by libvirtd, running as libvirt-qemu, its monitor held by
# libvirt.
#
#   lv_require             skip (exit 77) with the reason when libvirtd,
#                          virsh or the lab image cannot be had
#   lv_daemon_start        use the libvirtd that answers on qemu:///system,
#                          else start one (and virtlogd) and stop it at exit
#   lv_define NAME MIB SEED [DEVICES_XML] [TOP_XML]
#                          start a transient domain (virsh create); DEVICES_XML
#                          replaces the default memballoon, TOP_XML is added
#                          under <domain> (e.g. <metadata>)
#   lv_wait_ready NAME [S] wait for the lab's ready marker on its console
#   lv_pid NAME            QEMU's pid (libvirt's pid file)
#   lv_actual_kib NAME     the balloon's actual size (virsh dommemstat)
#   lv_destroy NAME        virsh destroy
#   lv_libvirtd_restart    kill the libvirtd this file started, start it again
#   lv_stop                destroy every domain defined here, stop what
#                          lv_daemon_start started (by pid), remove LV_DIR
#
# The libvirtd started here runs in a private mount namespace that hides
# /dev/kvm and sets `namespaces = []` in its qemu.conf. On these machines
# /dev/kvm exists but is not usable by libvirt-qemu: libvirt's capability
# probe (as root) sees KVM, its check for the domain's user does not, and
# it probes QEMU again on every domain start (about 45 s each). The guests
# are TCG anyway. Nothing on the host is changed.

LV_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LV_ROOT=$(cd "$LV_HERE/../.." && pwd)
LV_IMAGE_DIR=${LV_IMAGE_DIR:-$LV_ROOT/build/guest}
LV_URI=qemu:///system
LV_DIR=
LV_OWN_LIBVIRTD=0 LV_LIBVIRTD_PID= LV_VIRTLOGD_PID=
declare -a LV_DOMAINS=()
declare -A LV_XML=()

lv_log() { echo "libvirt-lab: $*" >&2; }
virsh_() { virsh -q -c "$LV_URI" "$@"; }

lv_require() {
    local c
    for c in libvirtd virtlogd virsh unshare; do
        command -v "$c" >/dev/null 2>&1 ||
            { echo "SKIP: $c is missing (make deps installs libvirt-daemon-system, libvirt-clients)"; exit 77; }
    done
    [ "$(id -u)" = 0 ] || { echo "SKIP: a libvirtd for qemu:///system needs root"; exit 77; }
    if [ ! -r "$LV_IMAGE_DIR/vmlinuz" ] || [ ! -r "$LV_IMAGE_DIR/initramfs.gz" ]; then
        make -s -C "$LV_ROOT" guest-image >&2 ||
            { echo "SKIP: the lab image cannot be built (make guest-image)"; exit 77; }
    fi
}

_lv_answers() { timeout 10 virsh -q -c "$LV_URI" version >/dev/null 2>&1; }

lv_daemon_start() {
    LV_DIR=$(mktemp -d /tmp/ksmd-lv.XXXXXX)
    chmod 755 "$LV_DIR"
    cp "$LV_IMAGE_DIR/vmlinuz" "$LV_IMAGE_DIR/initramfs.gz" "$LV_DIR/"
    chmod 644 "$LV_DIR/vmlinuz" "$LV_DIR/initramfs.gz"
    if _lv_answers; then
        lv_log "using the libvirtd already running"
        return 0
    fi
    if ! pgrep -x virtlogd >/dev/null; then
        virtlogd -d -p "$LV_DIR/virtlogd.pid" || { echo "SKIP: virtlogd does not start"; exit 77; }
        LV_VIRTLOGD_PID=$(cat "$LV_DIR/virtlogd.pid" 2>/dev/null)
    fi
    : >"$LV_DIR/nokvm"
    chmod 600 "$LV_DIR/nokvm"
    { cat /etc/libvirt/qemu.conf 2>/dev/null; echo 'namespaces = [ ]'; } >"$LV_DIR/qemu.conf"
    _lv_spawn || { echo "SKIP: libvirtd does not start (see $LV_DIR/libvirtd.log)"; exit 77; }
    LV_OWN_LIBVIRTD=1
}

_lv_spawn() {
    rm -f "$LV_DIR/libvirtd.pid"
    unshare -m --propagation private sh -c '
        mount --bind "$1/nokvm" /dev/kvm 2>/dev/null
        mount --bind "$1/qemu.conf" /etc/libvirt/qemu.conf &&
        exec libvirtd -d -p "$1/libvirtd.pid"' sh "$LV_DIR" >>"$LV_DIR/libvirtd.log" 2>&1 || return 1
    local i
    for i in $(seq 100); do
        _lv_answers && { LV_LIBVIRTD_PID=$(cat "$LV_DIR/libvirtd.pid"); return 0; }
        sleep 0.2
    done
    return 1
}

lv_libvirtd_restart() {
    [ "$LV_OWN_LIBVIRTD" = 1 ] || return 1
    kill -TERM "$LV_LIBVIRTD_PID" 2>/dev/null
    local i
    for i in $(seq 50); do kill -0 "$LV_LIBVIRTD_PID" 2>/dev/null || break; sleep 0.2; done
    _lv_spawn
}

lv_kill_libvirtd() {
    [ "$LV_OWN_LIBVIRTD" = 1 ] || return 1
    kill -KILL "$LV_LIBVIRTD_PID" 2>/dev/null
    local i
    for i in $(seq 50); do kill -0 "$LV_LIBVIRTD_PID" 2>/dev/null || return 0; sleep 0.1; done
}

lv_start_libvirtd() { _lv_spawn; }

lv_define() {
    local name=$1 mib=$2 seed=$3
    local devices=${4:-"<memballoon model='virtio'><stats period='2'/></memballoon>"} top=${5:-}
    local xml=$LV_DIR/$name.xml
    cat >"$xml" <<EOF
<domain type='qemu'>
  <name>$name</name>
  <memory unit='MiB'>$mib</memory>
  <currentMemory unit='MiB'>$mib</currentMemory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$LV_DIR/vmlinuz</kernel>
    <initrd>$LV_DIR/initramfs.gz</initrd>
    <cmdline>console=ttyS0 panic=-1 quiet ksmdlab.seed=$seed ksmdlab.name=$name</cmdline>
  </os>
  <on_reboot>destroy</on_reboot>
  $top
  <devices>
    <serial type='file'><source path='$LV_DIR/$name.console'/><target port='0'/></serial>
    <serial type='unix'><source mode='bind' path='$LV_DIR/$name.agent'/><target port='1'/></serial>
    $devices
  </devices>
</domain>
EOF
    rm -f "$LV_DIR/$name.console" "$LV_DIR/$name.agent"
    virsh_ create "$xml" >/dev/null || return 1
    local d
    for d in "${LV_DOMAINS[@]}"; do [ "$d" = "$name" ] && return 0; done
    LV_DOMAINS+=("$name")
}

lv_wait_ready() {
    local name=$1 t=${2:-120} end
    end=$(($(date +%s) + t))
    until grep -q KSMD-LAB-READY "$LV_DIR/$name.console" 2>/dev/null; do
        [ "$(date +%s)" -lt "$end" ] || { lv_log "$name not ready after ${t}s"; return 1; }
        sleep 0.3
    done
}

lv_pid() { cat "/run/libvirt/qemu/$1.pid" 2>/dev/null; }
lv_actual_kib() { virsh_ dommemstat "$1" 2>/dev/null | awk '$1=="actual"{print $2}'; }
lv_destroy() { virsh_ destroy "$1" >/dev/null 2>&1; }

lv_stop() {
    local d
    for d in "${LV_DOMAINS[@]}"; do lv_destroy "$d"; done
    LV_DOMAINS=()
    if [ "$LV_OWN_LIBVIRTD" = 1 ] && [ -n "$LV_LIBVIRTD_PID" ]; then
        kill -TERM "$LV_LIBVIRTD_PID" 2>/dev/null
        for d in $(seq 50); do kill -0 "$LV_LIBVIRTD_PID" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$LV_LIBVIRTD_PID" 2>/dev/null
    fi
    if [ -n "$LV_VIRTLOGD_PID" ]; then
        # waited for: a test started right after must not find it dying
        # (pgrep sees it, so none is started, and its socket goes away)
        kill -TERM "$LV_VIRTLOGD_PID" 2>/dev/null
        for d in $(seq 50); do kill -0 "$LV_VIRTLOGD_PID" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$LV_VIRTLOGD_PID" 2>/dev/null
    fi
    LV_OWN_LIBVIRTD=0 LV_LIBVIRTD_PID= LV_VIRTLOGD_PID=
    [ -n "$LV_DIR" ] && [ -z "${LV_KEEP:-}" ] && rm -rf "$LV_DIR"
    LV_DIR=
}
