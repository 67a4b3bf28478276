#!/bin/bash
# make install into a DESTDIR: binaries, ksmd.conf, man pages, systemd unit,
# the alert rules and the Grafana dashboard (share/ksmd), ksmdctl's bash
# completion;
# an existing ksmd.conf is never overwritten; uninstall removes what it put.
. "$(dirname "$0")/../lib/common.sh"
need_bins
T=$(mktemp -d); cleanup_add "rm -rf $T"
make -s -C "$ROOT" B="$B" install DESTDIR=$T PREFIX=/usr SYSCONFDIR=/etc >$T/log 2>&1 || { cat $T/log; fail "make install"; }
for f in usr/sbin/ksmd usr/bin/ksmdctl etc/ksmd.conf usr/share/man/man8/ksmd.8 \
         usr/share/man/man8/ksmdctl.8 usr/share/man/man5/ksmd.conf.5 lib/systemd/system/ksmd.service \
         usr/share/ksmd/prometheus/ksmd.rules.yml usr/share/ksmd/grafana/ksmd.json \
         usr/share/bash-completion/completions/ksmdctl; do
    [ -e $T/$f ] || fail "make install did not install /$f"
done
[ -x $T/usr/sbin/ksmd ] && [ -x $T/usr/bin/ksmdctl ] || fail "binaries not executable"
"$T/usr/sbin/ksmd" -n -c $T/etc/ksmd.conf >/dev/null || fail "the installed ksmd.conf does not check"
grep -q '^ExecStart=/usr/sbin/ksmd -c /etc/ksmd.conf$' $T/lib/systemd/system/ksmd.service || fail "unit ExecStart"
grep -q '^Type=notify$' $T/lib/systemd/system/ksmd.service || fail "unit Type"
grep -q '^OOMScoreAdjust=-' $T/lib/systemd/system/ksmd.service || fail "unit OOM score"
if command -v systemd-analyze >/dev/null; then
    systemd-analyze verify $T/lib/systemd/system/ksmd.service 2>&1 | grep -v 'ksmd: command not found\|Failed to prepare filename\|/usr/sbin/ksmd' | grep -i 'error\|unknown' && fail "systemd-analyze verify"
fi
pass_msg "make install puts every file in place"
echo "# operator's edit" >> $T/etc/ksmd.conf
make -s -C "$ROOT" B="$B" install DESTDIR=$T PREFIX=/usr SYSCONFDIR=/etc >/dev/null 2>&1 || fail "second install"
grep -q "operator's edit" $T/etc/ksmd.conf || fail "install overwrote an existing ksmd.conf"
pass_msg "an existing ksmd.conf is kept"
make -s -C "$ROOT" B="$B" uninstall DESTDIR=$T PREFIX=/usr >/dev/null 2>&1 || fail "uninstall"
[ -e $T/usr/sbin/ksmd ] && fail "uninstall left ksmd"
[ -e $T/usr/share/bash-completion/completions/ksmdctl ] && fail "uninstall left the bash completion"
[ -e $T/usr/share/ksmd ] && fail "uninstall left /usr/share/ksmd: $(find $T/usr/share/ksmd)"
[ -e $T/etc/ksmd.conf ] || fail "uninstall removed the operator's ksmd.conf"
echo "install: all checks passed"
