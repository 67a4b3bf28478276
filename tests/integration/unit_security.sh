#!/bin/bash
# The systemd unit is confined (issue 15, least privilege): rendered as
# `make install` renders it, `systemd-analyze security --offline=true`
# scores its exposure below 5 ("OK"; the unit scored 6.4 before), and it
# keeps what ksmd needs: CAP_KILL for the liveness check of guests owned by
# another user, write access to KSM's knobs, the cgroups and /run/ksmd.
. "$(dirname "$0")/../lib/common.sh"
command -v systemd-analyze >/dev/null || skip "systemd-analyze is missing (Debian package systemd, deps/security.txt)"
systemd-analyze --help 2>&1 | grep -q -- '--offline' || skip "systemd-analyze has no --offline (systemd < 250)"
T=$(mktemp -d); cleanup_add "rm -rf $T"
sed 's|@SBINDIR@|/usr/sbin|g; s|@SYSCONFDIR@|/etc|g' "$ROOT/systemd/ksmd.service.in" > $T/ksmd.service
out=$(systemd-analyze security --offline=true --no-pager $T/ksmd.service 2>&1)
score=$(sed -n 's/.*Overall exposure level for ksmd.service: \([0-9.]*\).*/\1/p' <<<"$out")
[ -n "$score" ] || { echo "$out" | tail -20; fail "no exposure level in systemd-analyze's output"; }
echo "$out" | grep -E '^✗' | sed 's/^/    /'
awk -v s="$score" 'BEGIN { exit !(s < 5) }' || fail "exposure $score is not below 5"
pass_msg "systemd-analyze security --offline: exposure $score (below 5, OK)"

unit() { grep -E "^$1=" $T/ksmd.service | tail -1 | cut -d= -f2-; }
caps=$(unit CapabilityBoundingSet)
for c in CAP_SYS_PTRACE CAP_SYS_ADMIN CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH CAP_KILL CAP_SETUID CAP_SETGID CAP_SETPCAP CAP_SYS_CHROOT; do
    grep -qw $c <<<"$caps" || fail "CapabilityBoundingSet lacks $c (ksmd needs it)"
done
rw=$(unit ReadWritePaths)
for p in /sys/kernel/mm/ksm /sys/fs/cgroup /run/ksmd; do
    grep -qw -- "$p" <<<"$rw" || fail "ReadWritePaths lacks $p"
done
[ "$(unit ProtectSystem)" = strict ] || fail "ProtectSystem is not strict"
[ "$(unit UMask)" = 0077 ] || fail "UMask is not 0077"
pass_msg "the unit keeps CAP_KILL, CAP_SYS_PTRACE, CAP_SYS_ADMIN, CAP_DAC_*, and CAP_SETUID, CAP_SETGID, CAP_SETPCAP, CAP_SYS_CHROOT for the stats process to confine itself and drop them; writes only $rw"
