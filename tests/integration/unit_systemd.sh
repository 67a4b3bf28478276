#!/bin/bash
# The systemd unit under a real systemd (issue 15, least privilege): this
# machine's PID 1 is not systemd, so the test boots one, systemd 252 of
# Debian 12, as PID 1 of a container (systemd-nspawn over this machine's
# own /usr, an empty /etc on a tmpfs, a private network), with the unit as
# `make install` renders it (ExecStart pointing at build/ksmd) and a probe
# unit ordered after it. Inside, the probe records and the test asserts:
#   - the start handshake: Type=notify reaches "active" with the status
#     text ksmd sends ("running");
#   - the confinement as systemd applied it: ksmd's bounding set is the
#     unit's CapabilityBoundingSet, exactly; NoNewPrivs 1; a seccomp filter
#     (the unit's SystemCallFilter) that ksmd lives with: it serves its
#     control socket in /run/ksmd (RuntimeDirectory) and its stats;
#   - the stats endpoint's process under that filter: it changes its root,
#     drops to nobody, has no capability and its own filter (chroot,
#     setresuid, capset and seccomp are what the unit allows it);
#   - `systemctl reload` (SIGHUP: RELOADING=1, READY=1) leaves it active;
#     `systemctl stop` ends it with Result=success and no process left.
# ksm.manage = no: the container's /sys is read-only, and KSM is the
# host's. Skips without root, systemd-nspawn or systemd itself.
. "$(dirname "$0")/../lib/common.sh"
need_root
need_bins
command -v systemd-nspawn >/dev/null || skip "needs systemd-nspawn (Debian package systemd-container, deps/security.txt)"
[ -x /usr/lib/systemd/systemd ] || skip "needs systemd (Debian package systemd, deps/security.txt)"
command -v curl >/dev/null || skip "needs curl"
# the unit's filter refuses ptrace, which LeakSanitizer needs at exit
[ -z "${SAN:-}" ] || skip "the unit confines the daemon as shipped: its seccomp filter refuses the sanitizers' ptrace (make check runs this test, not check-asan)"

T=$(mktemp -d /tmp/ksmd-test.XXXXXX)
cleanup_add "rm -rf $T"
# nspawn leaves its runtime folders behind: remove the ones it makes here
for d in /run/systemd/nspawn /run/systemd/nspawn-root; do
    [ -e $d ] || cleanup_add "rm -rf $d"
done
# the build inside the container, at a path of its own: a checkout under
# /tmp would be hidden by the container's /tmp and by the unit's PrivateTmp
BUILD=/opt/ksmd-build
sed "s|@SBINDIR@|$BUILD|g; s|@SYSCONFDIR@|/etc|g" "$ROOT/systemd/ksmd.service.in" > $T/ksmd.service
cat > $T/ksmd.conf <<EOF
[ksm]
manage = no
[stats]
listen = 127.0.0.1:9403
EOF
cat > $T/probe.sh <<EOF
#!/bin/sh
# runs inside the container, after ksmd.service; KEY=VALUE lines for the test
out=/out/probe
say() { echo "\$1=\$2" >> \$out; }
# the first value of a /proc status line (sed: awk is an alternative, and
# /etc/alternatives is not in the container's empty /etc)
field() { sed -n "s/^\$1:[[:space:]]*\([^[:space:]]*\).*/\1/p" "\$2"; }
say active "\$(systemctl is-active ksmd)"
say status_text "\$(systemctl show -p StatusText --value ksmd)"
pid=\$(systemctl show -p MainPID --value ksmd)
say main_comm "\$(cat /proc/\$pid/comm)"
for k in CapBnd CapEff NoNewPrivs Seccomp; do
    say main_\$k "\$(field \$k /proc/\$pid/status)"
done
child=\$(cat /proc/\$pid/task/*/children | tr ' ' '\n' | grep . | head -1)
say child_comm "\$(cat /proc/\$child/comm)"
say child_root "\$(readlink /proc/\$child/root)"
for k in Uid CapBnd CapEff NoNewPrivs Seccomp; do
    say child_\$k "\$(field \$k /proc/\$child/status)"
done
say control "\$($BUILD/ksmdctl -s /run/ksmd/ksmd.sock status | grep -c '^ksmd ')"
say http "\$(curl -s -m 5 -o /dev/null -w '%{http_code}' http://127.0.0.1:9403/v1/stats)"
systemctl reload ksmd
sleep 2
say reload_active "\$(systemctl is-active ksmd)"
say reload_status_text "\$(systemctl show -p StatusText --value ksmd)"
systemctl stop ksmd
say stop_active "\$(systemctl is-active ksmd)"
say stop_result "\$(systemctl show -p Result --value ksmd)"
say stop_left "\$(pgrep -c -f '^$BUILD/ksmd|ksmd --http-child')"
journalctl -u ksmd --no-pager -o cat > /out/journal
say done 1
EOF
chmod +x $T/probe.sh
cat > $T/ksmd-probe.service <<EOF
[Unit]
Description=the test's probe of ksmd.service
Wants=ksmd.service
After=ksmd.service
[Service]
Type=oneshot
ExecStart=/probe.sh
ExecStartPost=/bin/systemctl --no-block poweroff
EOF
mkdir $T/out
timeout 120 systemd-nspawn --quiet --register=no --keep-unit --private-network -D / --volatile=yes \
    --bind-ro=$T/ksmd.service:/etc/systemd/system/ksmd.service \
    --bind-ro=$T/ksmd-probe.service:/etc/systemd/system/ksmd-probe.service \
    --bind-ro=$T/ksmd.conf:/etc/ksmd.conf --bind-ro=$T/probe.sh:/probe.sh \
    --bind=$T/out:/out --bind-ro="$(cd "$B" && pwd)":$BUILD \
    -b systemd.unit=ksmd-probe.service systemd.firstboot=off < /dev/null > $T/boot.log 2>&1
rc=$?
boot_tail() { sed 's/\x1b\[[0-9;]*[mK]//g' $T/boot.log | tail -25; }
[ $rc = 124 ] && { boot_tail; fail "the container did not power off within 120 s"; }
[ -f $T/out/probe ] && grep -qx 'done=1' $T/out/probe || { boot_tail; fail "the probe did not finish (nspawn exit $rc)"; }
v() { sed -n "s/^$1=//p" $T/out/probe | tail -1; }
show() { cat $T/out/probe; echo "--- ksmd's journal:"; cat $T/out/journal 2>/dev/null; }

[ "$(v active)" = active ] && [ "$(v status_text)" = running ] ||
    { show; fail "ksmd.service is $(v active) ('$(v status_text)'), not active with status 'running'"; }
pass_msg "Type=notify: active, status '$(v status_text)', under systemd $(/usr/lib/systemd/systemd --version | head -1 | cut -d' ' -f2)"

# the unit's CapabilityBoundingSet as a mask (linux/capability.h's numbers)
caps=$(sed -n 's/^CapabilityBoundingSet=//p' $T/ksmd.service)
want=0
for c in $caps; do
    case $c in
        CAP_DAC_OVERRIDE) n=1 ;; CAP_DAC_READ_SEARCH) n=2 ;; CAP_KILL) n=5 ;;
        CAP_SETGID) n=6 ;; CAP_SETUID) n=7 ;; CAP_SETPCAP) n=8 ;; CAP_SYS_CHROOT) n=18 ;;
        CAP_SYS_PTRACE) n=19 ;; CAP_SYS_ADMIN) n=21 ;;
        *) fail "the test does not know the number of $c" ;;
    esac
    want=$((want | (1 << n)))
done
got=$((16#$(v main_CapBnd)))
[ "$got" = "$want" ] || { show; fail "ksmd's bounding set is $(v main_CapBnd), the unit's is $(printf %016x $want)"; }
[ "$(v main_NoNewPrivs)" = 1 ] && [ "$(v main_Seccomp)" = 2 ] ||
    { show; fail "ksmd runs with NoNewPrivs $(v main_NoNewPrivs), Seccomp $(v main_Seccomp)"; }
[ "$(v control)" = 1 ] && [ "$(v http)" = 200 ] ||
    { show; fail "under the unit's filter: ksmdctl status gave $(v control) lines, /v1/stats $(v http)"; }
pass_msg "ksmd: bounding set $(v main_CapBnd) = the unit's, NoNewPrivs 1, the unit's seccomp filter; control socket and /v1/stats answer"

# its root: the chart library's folder, or the nearest above it (the same /usr)
CHART_ROOT=/usr/share/javascript/chart.js
while [ ! -d "$CHART_ROOT" ]; do CHART_ROOT=$(dirname "$CHART_ROOT"); done
[ "$(v child_comm)" = ksmd-http ] && [ "$(v child_root)" = "$CHART_ROOT" ] ||
    { show; fail "the stats process: '$(v child_comm)' with root '$(v child_root)', not $CHART_ROOT"; }
[ "$(v child_Uid)" = 65534 ] && [ "$(v child_CapEff)" = 0000000000000000 ] &&
    [ "$(v child_CapBnd)" = 0000000000000000 ] && [ "$(v child_NoNewPrivs)" = 1 ] && [ "$(v child_Seccomp)" = 2 ] ||
    { show; fail "the stats process keeps privileges under systemd"; }
pass_msg "ksmd-http under the unit: root $(v child_root), uid 65534, no capability, its own filter"

[ "$(v reload_active)" = active ] && [ "$(v reload_status_text)" = running ] ||
    { show; fail "after systemctl reload: $(v reload_active) ('$(v reload_status_text)')"; }
[ "$(v stop_active)" = inactive ] && [ "$(v stop_result)" = success ] && [ "$(v stop_left)" = 0 ] ||
    { show; fail "after systemctl stop: $(v stop_active), result $(v stop_result), $(v stop_left) processes left"; }
grep -qi "seccomp\|bad system call\|operation not permitted" $T/out/journal &&
    { show; fail "the journal reports a call the unit refused"; }
pass_msg "systemctl reload: active; systemctl stop: Result=success, nothing left; no refused call in the journal"
echo PASS
