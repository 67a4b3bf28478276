#!/bin/bash
# [libvirt] as an operator gets it wrong: a malformed URI or pattern is
# refused by `ksmd -n` with the file and the key; an unreachable libvirt
# leaves ksmd running, saying why, and retrying; a pattern that matches no
# domain and a domain whose pid file cannot be read are reported. Uses
# libvirt's in-process test driver (test:///default, one running domain
# named "test"); the real libvirtd is tests/e2e/libvirt.sh.
. "$(dirname "$0")/../lib/common.sh"
need_bins
command -v jq >/dev/null || fail "jq is missing (make deps)"
T=$(mktemp -d /tmp/ksmd-lvconf.XXXXXX)
cleanup_add "rm -rf $T"

base() {
    cat <<EOF
[daemon]
control_socket = $T/ksmd.sock
tick = 200ms
[scanner]
enabled = no
[ksm]
manage = no
[stats]
enabled = no
EOF
}

# ---- refused at parse time, with file and key -----------------------------------
{ base; printf '[libvirt]\nuri = localhost\n'; } > $T/bad-uri.conf
out=$("$KSMD" -n -c $T/bad-uri.conf 2>&1) && fail "ksmd -n accepted uri = localhost"
grep -q "bad-uri.conf: libvirt.uri: 'localhost' is not a libvirt URI" <<<"$out" || fail "message: $out"
pass_msg "malformed URI refused: $out"
{ base; printf '[libvirt]\ndomains = web[1\n'; } > $T/bad-pat.conf
out=$("$KSMD" -n -c $T/bad-pat.conf 2>&1) && fail "ksmd -n accepted domains = web[1"
grep -q "libvirt.domains: pattern 'web\[1' has an unclosed" <<<"$out" || fail "message: $out"
pass_msg "malformed pattern refused: $out"
{ base; printf '[guest web1]\nmin = 1G\n'; } > $T/no-lv.conf
out=$("$KSMD" -n -c $T/no-lv.conf 2>&1) && fail "ksmd -n accepted a guest with only settings and no [libvirt]"
grep -q "no-lv.conf:.*guest 'web1' needs one of qmp, pid or cgroup (or a \[libvirt\] section" <<<"$out" ||
    fail "message: $out"
pass_msg "settings-only guest without [libvirt] refused"
{ base; printf '[libvirt]\n[guest web1]\nmin = 1G\n'; } > $T/ok.conf
"$KSMD" -n -c $T/ok.conf >/dev/null 2>&1 || fail "ksmd -n refused a domain's settings section"
pass_msg "a [guest NAME] with only settings is accepted beside [libvirt]"

# ---- unreachable: ksmd runs, says why, retries ----------------------------------
{ base; printf '[libvirt]\nuri = qemu+unix:///system?socket=%s/none.sock\nreconnect_interval = 1s\n' "$T"; } > $T/unreach.conf
KSMD_LOG=$T/unreach.log ksmd_start $T/unreach.conf
wait_for 5 "libvirt shown unreachable" snap_is .libvirt.connected false
snap .libvirt.error | grep -q "cannot connect to qemu+unix:///system" || fail "error: $(snap .libvirt.error)"
sleep 3
check "ksmd keeps running" kill -0 $KSMD_PID
n=$(grep -c "cannot connect" $T/unreach.log)
[ "$n" = 1 ] || fail "the failure was logged $n times, not once"
pass_msg "logged once: $(grep -m1 'cannot connect' $T/unreach.log | cut -c1-160)"
ksmd_stop

# ---- a pattern matching nothing; a pid file that cannot be read ------------------
mkdir -p $T/pids
{ base; printf '[libvirt]\nuri = test:///default\ndomains = nomatch* test\npid_dir = %s/pids\n' "$T"; } > $T/test.conf
KSMD_LOG=$T/test.log ksmd_start $T/test.conf
wait_for 5 "the test driver's domain is managed" snap_is '.guests[] | select(.name == "test") | .backend' libvirt
grep -q "libvirt.domains: pattern 'nomatch\*' matches none of the 1 running domains" $T/test.log ||
    fail "no warning for the pattern that matches nothing"
pass_msg "pattern matching nothing reported"
snap '.guests[] | select(.name == "test") | .libvirt.pid_error' | grep -q "cannot read $T/pids/test.pid" ||
    fail "pid error not shown: $(snap '.guests[0].libvirt')"
grep -q "guest test: cannot read $T/pids/test.pid.*not scanned until the pid is known" $T/test.log ||
    fail "pid error not logged"
pass_msg "unreadable pid file reported in the log and the snapshot"
ksmd_stop || fail "ksmd exited with an error"
