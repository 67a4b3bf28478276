#!/bin/bash
# ksmdctl's errors name the fix. Without a daemon: the socket tried and
# where its path came from (default, -s, KSMD_SOCKET), whether ksmd runs,
# -s PATH and KSMD_SOCKET; a socket nobody listens on; a path that is no
# socket; the socket a running ksmd (started here with a configuration of
# its own: no guests, no scanner, no balloon, KSM left alone) listens on
# when another path was tried. An unknown command, key, guest or --list
# names the nearest one. As root, through a user who may not (nobody):
# a socket of mode 0600 says root, one of mode 0660 names its group, a
# folder that may not be searched names the folder.
. "$(dirname "$0")/../lib/common.sh"
need_bins
T=$(mktemp -d /tmp/ksmd-test.XXXXXX)
cleanup_add "rm -rf $T"
chmod 755 $T

# run_ctl ARGS...: ksmdctl's stderr into $T/err, its exit status into rc
run_ctl() { rc=0; "$KSMDCTL" "$@" >$T/out 2>$T/err || rc=$?; }
# has TEXT: ksmdctl's stderr has the line TEXT (fixed string, whole line)
has() { grep -qxF -- "$1" $T/err || fail "no line '$1' in: $(cat $T/err)"; }
# userland ksmd processes (not the kernel's KSM thread), as ksmdctl counts them
ksmd_running() {
    local p a
    for p in /proc/[0-9]*; do
        a=$(tr '\0' '\n' < $p/cmdline 2>/dev/null | head -n 1)
        [ "${a##*/}" = ksmd ] && return 0
    done
    return 1
}

# ---- no socket at all ----
run_ctl -s $T/missing.sock status
[ $rc -eq 2 ] || fail "exit $rc for a missing socket, want 2"
has "ksmdctl: cannot reach ksmd at $T/missing.sock (from -s): No such file or directory"
# whether a ksmd runs is the host's business (another worktree's tests may
# start one): the message must agree with what the host has right then
if ! ksmd_running && ! grep -q 'ksmd is running' $T/err; then
    has "ksmdctl: ksmd is not running: start it (systemctl start ksmd), or, for a ksmd listening elsewhere, give its socket with -s PATH or KSMD_SOCKET=PATH"
    pass_msg "missing socket: not running, start it, or -s PATH / KSMD_SOCKET=PATH"
else
    grep -q '^ksmdctl: ksmd is running (pid [0-9]*)' $T/err || fail "a ksmd runs here, the message does not say so: $(cat $T/err)"
    pass_msg "missing socket: a ksmd running on this host is named"
fi
KSMD_SOCKET=$T/env.sock run_ctl status
has "ksmdctl: cannot reach ksmd at $T/env.sock (from KSMD_SOCKET): No such file or directory"
KSMD_SOCKET=$T/env.sock run_ctl -s $T/opt.sock status
has "ksmdctl: cannot reach ksmd at $T/opt.sock (from -s): No such file or directory"
KSMD_SOCKET= run_ctl status
grep -q "^ksmdctl: cannot reach ksmd at /run/ksmd/ksmd.sock (the default): " $T/err ||
    [ -S /run/ksmd/ksmd.sock ] || fail "the default path is not named as the default: $(cat $T/err)"
pass_msg "the path tried and where it came from: -s, KSMD_SOCKET, the default"

# ---- a socket nobody listens on; a path that is not a socket ----
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' $T/dead.sock
run_ctl -s $T/dead.sock status
[ $rc -eq 2 ] || fail "exit $rc for a dead socket, want 2"
has "ksmdctl: cannot reach ksmd at $T/dead.sock (from -s): Connection refused"
has "ksmdctl: the socket is there but nobody listens: the ksmd that made it has stopped"
grep -qE '^ksmdctl: ksmd is (not running|running \(pid)' $T/err || fail "no word on a running ksmd: $(cat $T/err)"
pass_msg "a dead socket: nobody listens, is ksmd running"
touch $T/file
run_ctl -s $T/file status
has "ksmdctl: $T/file is not a socket: give ksmd's control socket with -s PATH or KSMD_SOCKET=PATH"
pass_msg "a path that is not a socket"

# ---- unknown command, --list ----
run_ctl stauts
[ $rc -eq 2 ] || fail "exit $rc for an unknown command, want 2"
has "ksmdctl: unknown command 'stauts'; did you mean 'status'? (see ksmdctl --help)"
run_ctl relaod
has "ksmdctl: unknown command 'relaod'; did you mean 'reload'? (see ksmdctl --help)"
run_ctl frobnicate
has "ksmdctl: unknown command 'frobnicate' (see ksmdctl --help)"
run_ctl --list key
[ $rc -eq 2 ] || fail "exit $rc for --list key, want 2"
has "ksmdctl: --list takes verbs, keys, live-keys or guests, not 'key'; did you mean 'keys'?"
pass_msg "an unknown command or --list names the nearest"

# ---- a running ksmd: the socket it listens on; unknown key and guest ----
sleep 600 & G1=$!
cleanup_add "kill $G1 2>/dev/null"
ksmd_quiet_conf $T/ksmd.conf $T/ksmd.sock web-alpha $G1
ksmd_start $T/ksmd.conf
cleanup_add ksmd_stop
run_ctl -s $T/elsewhere.sock status
[ $rc -eq 2 ] || fail "exit $rc for a socket elsewhere, want 2"
if [ "$(id -u)" = 0 ]; then
    has "ksmdctl: ksmd is running (pid $KSMD_PID) and listens at $T/ksmd.sock: use ksmdctl -s $T/ksmd.sock, or KSMD_SOCKET=$T/ksmd.sock"
    pass_msg "another path tried: the socket the running ksmd listens on"
else
    grep -q "^ksmdctl: ksmd is running (pid $KSMD_PID)" $T/err || fail "the running ksmd is not named: $(cat $T/err)"
    pass_msg "another path tried: the running ksmd is named (its socket only root may see)"
fi
run_ctl -s $T/ksmd.sock get scanner.page_per_sec
[ $rc -eq 1 ] || fail "exit $rc for an unknown key, want 1"
has "ksmdctl: unknown key 'scanner.page_per_sec'; did you mean 'scanner.pages_per_sec'?"
run_ctl -s $T/ksmd.sock set pages_per_sec 1000
has "ksmdctl: unknown key 'pages_per_sec'; did you mean 'scanner.pages_per_sec'?"
run_ctl -s $T/ksmd.sock set no.such 1
has "ksmdctl: unknown key 'no.such'"
pass_msg "an unknown key names the nearest"
run_ctl -s $T/ksmd.sock guest web-aplha
[ $rc -eq 1 ] || fail "exit $rc for an unknown guest, want 1"
has "ksmdctl: unknown guest 'web-aplha'; did you mean 'web-alpha'?"
run_ctl -s $T/ksmd.sock --json guest web-aplha
has "ksmdctl: unknown guest 'web-aplha'; did you mean 'web-alpha'?"
run_ctl -s $T/ksmd.sock guest db9
has "ksmdctl: unknown guest 'db9' (ksmdctl guests lists them)"
pass_msg "an unknown guest names the nearest"
ksmd_stop || fail "ksmd exited with an error: $(tail -5 $T/ksmd.log)"

# ---- permission denied, as a user who may not ----
[ "$(id -u)" = 0 ] || skip "the permission checks run ksmdctl as nobody: need root (the rest passed)"
command -v setpriv >/dev/null || skip "setpriv (util-linux) is missing (the rest passed)"
getent group daemon >/dev/null || skip "no group 'daemon' to own the test socket (the rest passed)"
cp "$KSMDCTL" $T/ksmdctl
as_nobody() { rc=0; setpriv --reuid=nobody --regid=nogroup --clear-groups $T/ksmdctl "$@" >$T/out 2>$T/err || rc=$?; }
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' $T/root.sock
chmod 0600 $T/root.sock
as_nobody -s $T/root.sock status
[ $rc -eq 2 ] || fail "exit $rc for permission denied, want 2"
has "ksmdctl: cannot reach ksmd at $T/root.sock (from -s): Permission denied"
has "ksmdctl: permission denied: the socket $T/root.sock belongs to root, group root, mode 0600"
has "ksmdctl: run ksmdctl as root (sudo ksmdctl ...): joining its group root would not help, mode 0600 gives the group no access"
pass_msg "mode 0600: run as root (the group would not help)"
chgrp daemon $T/root.sock
chmod 0660 $T/root.sock
as_nobody -s $T/root.sock status
has "ksmdctl: permission denied: the socket $T/root.sock belongs to root, group daemon, mode 0660"
has "ksmdctl: run ksmdctl as root (sudo ksmdctl ...), or join the group daemon (sudo usermod -aG daemon nobody, then log in again)"
pass_msg "mode 0660: run as root or join the socket's group, named"
mkdir -m 0750 $T/private
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' $T/private/ksmd.sock
as_nobody -s $T/private/ksmd.sock status
has "ksmdctl: permission denied: the folder $T/private belongs to root, group root, mode 0750"
has "ksmdctl: run ksmdctl as root (sudo ksmdctl ...)"
pass_msg "a folder that may not be searched: named; root's group is never offered"
chgrp daemon $T/private
as_nobody -s $T/private/ksmd.sock status
has "ksmdctl: permission denied: the folder $T/private belongs to root, group daemon, mode 0750"
has "ksmdctl: run ksmdctl as root (sudo ksmdctl ...), or join the group daemon (sudo usermod -aG daemon nobody, then log in again)"
pass_msg "a folder that may not be searched: named, with its group"
echo "cli_errors: all checks passed"
