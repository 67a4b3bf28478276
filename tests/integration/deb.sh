#!/bin/bash
# The Debian package (make deb, debian/): lintian finds no error or warning;
# dpkg-buildflags reached the compiler; apt-get installs it; ksmd and ksmdctl
# run from /usr/sbin and /usr/bin; /etc/ksmd.conf is a conffile; the unit is
# enabled and not started; apt-get purge leaves nothing behind in /usr, /etc
# and systemd's enablement state. Installs and purges the package on this
# host: skips where a ksmd not from the package (make install) is in its
# paths, or where the package is installed already.
. "$(dirname "$0")/../lib/common.sh"
need_root
export LC_ALL=C
[ -z "${SAN:-}" ] || skip "the package is built without sanitizers (make check runs this test, not check-asan)"
for t in dpkg-buildpackage dh lintian apt-get readelf flock; do
    command -v $t >/dev/null || skip "$t is not installed (deps/deb.txt, deps/build.txt: make deps)"
done
unmet=$(cd "$ROOT" && dpkg-checkbuilddeps 2>&1) || skip "$unmet"
T=$(mktemp -d); cleanup_add "rm -rf $T"

# One such test at a time on a host (worktrees of the same machine share it).
# What it runs gets the lock's fd 9 closed (9>&-): a process left behind
# (a unit test's child in the package build) must not hold the lock.
exec 9>/tmp/ksmd-deb-test.lock
flock -w 300 9 || skip "another deb test held /tmp/ksmd-deb-test.lock for 5 minutes"
st=$(dpkg-query -W -f='${db:Status-Status}' ksmd 2>/dev/null)
[ -z "$st" ] || [ "$st" = not-installed ] ||
    skip "the ksmd package is here already ($st): this test installs and purges its own"
# A path the package would take over: dpkg would adopt a file that make
# install put there, and the purge would delete it.
taken() {
    local f owner
    for f in "$@"; do
        [ -e "$f" ] || [ -L "$f" ] || continue
        owner=$(dpkg-query -S "$f" 2>/dev/null | cut -d: -f1)
        [ -n "$owner" ] && skip "$f is there, from package $owner: the ksmd package would take it over"
        skip "$f is there, from no package (make install? make uninstall PREFIX=/usr and remove /etc/ksmd.conf first): the package would take it over and its purge delete it"
    done
}
taken /usr/sbin/ksmd /usr/bin/ksmdctl /etc/ksmd.conf /lib/systemd/system/ksmd.service \
      /etc/systemd/system/multi-user.target.wants/ksmd.service

start=$(date +%s)
make -C "$ROOT" B="$B" deb >$T/build.log 2>&1 9>&- || { tail -40 $T/build.log; fail "make deb"; }
debs=("$B"/deb/ksmd_*.deb)
[ ${#debs[@]} = 1 ] && [ -f "${debs[0]}" ] || fail "make deb: not one ksmd_*.deb in $B/deb: ${debs[*]}"
deb=${debs[0]}
pass_msg "make deb built $(basename "$deb") in $(( $(date +%s) - start ))s"
version=$(dpkg-deb -f "$deb" Version)
taken $(dpkg-deb -c "$deb" | awk '$1 !~ /^d/ {sub(/^\./, "", $6); print $6}')

lintian --fail-on error,warning "$B"/deb/ksmd_*.changes >$T/lintian.log 2>&1 ||
    { cat $T/lintian.log; fail "lintian reports errors or warnings"; }
grep -v 'running with root privileges' $T/lintian.log | sed 's/^/  lintian: /'
pass_msg "lintian: no error, no warning"

depends=$(dpkg-deb -f "$deb" Depends)
echo "  Depends: $depends"
grep -q 'libc6' <<<"$depends" || fail "Depends has no shared library (shlibs): $depends"
grep -q -- '-dev\b' <<<"$depends" && fail "Depends names a -dev package: $depends"
pass_msg "Depends: runtime libraries, by shlibs"
# Every library and tool of deps/build.txt is in Build-Depends, but those the
# package build does without (implicit, or for tests the build runs not).
for p in $(grep -hv '^\s*#' "$ROOT/deps/build.txt" | awk 'NF {print $1}'); do
    case $p in build-essential|curl|man-db|groff-base) continue ;; esac
    grep -q "^ *\(Build-Depends: \)\?$p\b" "$ROOT/debian/control" ||
        fail "$p is in deps/build.txt, not in debian/control's Build-Depends"
done
pass_msg "debian/control's Build-Depends cover deps/build.txt"

# Snapshots of what apt and dpkg may touch (/lib is /usr/lib on Debian 12).
dirs=(/usr /etc /var/lib/systemd)
[ -L /lib ] || dirs+=(/lib)
snapshot() { find "${dirs[@]}" -xdev 2>/dev/null | sort > "$1"; }
snapshot $T/before
export DEBIAN_FRONTEND=noninteractive
cleanup_add "apt-get purge -y -q ksmd >/dev/null 2>&1 9>&-"
apt-get install -y -q -o DPkg::Lock::Timeout=120 "$deb" >$T/install.log 2>&1 9>&- ||
    { cat $T/install.log; fail "apt-get install $deb"; }
pass_msg "apt-get install ./$(basename "$deb")"

[ "$(/usr/sbin/ksmd --version)" = "ksmd $version" ] || fail "/usr/sbin/ksmd --version: $(/usr/sbin/ksmd --version)"
/usr/sbin/ksmd -n -c /etc/ksmd.conf >$T/n.log 2>&1 || { cat $T/n.log; fail "/usr/sbin/ksmd -n -c /etc/ksmd.conf"; }
/usr/bin/ksmdctl --version | grep -qx "ksmdctl $version" || fail "/usr/bin/ksmdctl --version: $(/usr/bin/ksmdctl --version)"
pass_msg "ksmd -n -c /etc/ksmd.conf and ksmdctl --version from /usr/sbin and /usr/bin"
dpkg-query -W -f='${Conffiles}\n' ksmd | grep -q '^ /etc/ksmd.conf ' || fail "/etc/ksmd.conf is not a conffile"
for m in man8/ksmd.8 man8/ksmdctl.8 man5/ksmd.conf.5; do
    [ -f /usr/share/man/$m.gz ] || fail "no /usr/share/man/$m.gz"
done
[ -f /usr/share/bash-completion/completions/ksmdctl ] || fail "no /usr/share/bash-completion/completions/ksmdctl"
pass_msg "/etc/ksmd.conf a conffile, the man pages and the bash completion in place"
grep -qx 'ExecStart=/usr/sbin/ksmd -c /etc/ksmd.conf' /lib/systemd/system/ksmd.service ||
    fail "the unit's ExecStart: $(grep ExecStart= /lib/systemd/system/ksmd.service)"
[ "$(readlink /etc/systemd/system/multi-user.target.wants/ksmd.service)" = /lib/systemd/system/ksmd.service ] ||
    fail "ksmd.service not enabled (no link in /etc/systemd/system/multi-user.target.wants)"
for p in /proc/[0-9]*; do
    [ "$(readlink $p/exe 2>/dev/null)" = /usr/sbin/ksmd ] && fail "the package started ksmd (pid ${p#/proc/})"
done
if [ -d /run/systemd/system ]; then
    systemctl is-active -q ksmd.service && fail "the package started ksmd.service"
fi
pass_msg "ksmd.service installed and enabled, not started"
# the stats endpoint's process runs as this system user (debian/ksmd.postinst)
pw=$(getent passwd ksmd) || fail "the install created no ksmd user"
uid=$(cut -d: -f3 <<<"$pw")
[ "$uid" -gt 0 ] && [ "$uid" -lt 1000 ] || fail "the ksmd user is not a system user: $pw"
[ "$(cut -d: -f7 <<<"$pw")" != /bin/bash ] && [ "$(cut -d: -f7 <<<"$pw")" != /bin/sh ] ||
    fail "the ksmd user has a login shell: $pw"
pass_msg "the ksmd system user exists (uid $uid, no login)"
# dpkg-buildflags (hardening=+all) reached the compiler and the linker
for f in /usr/sbin/ksmd /usr/bin/ksmdctl; do
    readelf -d $f | grep -q 'FLAGS.*BIND_NOW' || fail "$f: not linked with -z now"
    readelf -lW $f | grep -q GNU_RELRO || fail "$f: no RELRO"
    readelf -sW --dyn-syms $f | grep -q __stack_chk_fail || fail "$f: no stack protector"
done
readelf -sW --dyn-syms /usr/sbin/ksmd | grep -q '__[a-z]*_chk@' || fail "/usr/sbin/ksmd: no fortified function (_FORTIFY_SOURCE)"
pass_msg "hardened: relro, bind now, stack protector, fortify"

# What the install added: the package's files and the unit's enablement.
snapshot $T/installed
dpkg -L ksmd | while read -r p; do echo "$(realpath -m "$(dirname "$p")")/$(basename "$p")"; done |
    sed 's|^//|/|' | sort > $T/listed
comm -13 $T/before $T/installed | comm -23 - $T/listed |
    grep -v '^/etc/systemd/system\(/multi-user.target.wants\(/ksmd.service\)\?\)\?$' |
    grep -v '^/var/lib/systemd/deb-systemd-helper-enabled\(/multi-user.target.wants\)\?\(/ksmd.service\(.dsh-also\)\?\)\?$' \
    > $T/extra || true
[ -s $T/extra ] && { cat $T/extra; fail "the install added paths dpkg -L does not list"; }
grep -qx /usr/sbin/ksmd $T/installed || fail "the snapshot misses /usr/sbin/ksmd"
pass_msg "the install added the package's $(wc -l < $T/listed) paths and the unit's enablement, nothing else"

apt-get purge -y -q -o DPkg::Lock::Timeout=120 ksmd >$T/purge.log 2>&1 9>&- || { cat $T/purge.log; fail "apt-get purge ksmd"; }
st=$(dpkg-query -W -f='${db:Status-Status}' ksmd 2>/dev/null)
[ -z "$st" ] || [ "$st" = not-installed ] || fail "ksmd is $st after the purge"
snapshot $T/after
# a path another package brought meanwhile (another apt on this host) is not ours
comm -13 $T/before $T/after | while read -r p; do dpkg-query -S "$p" >/dev/null 2>&1 || echo "left: $p"; done > $T/left
comm -23 $T/before $T/after | sed 's/^/gone: /' >> $T/left
[ -s $T/left ] && { cat $T/left; fail "the purge does not give back /usr, /etc and /var/lib/systemd as they were"; }
pass_msg "apt-get purge ksmd leaves nothing behind"
echo "deb: all checks passed in $(( $(date +%s) - start ))s"
