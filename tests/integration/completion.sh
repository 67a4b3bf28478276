#!/bin/bash
# ksmdctl's bash completion (contrib/bash-completion/ksmdctl), driven as
# bash drives it: COMP_WORDS and COMP_CWORD set, _ksmdctl called, COMPREPLY
# read. The commands are the verb table's, the keys of get and set are the
# key table of the ksmd built beside it (ksmd --list-keys), the guests
# those of a running ksmd: one started here with a configuration of its
# own (two plain processes as guests; no scanner, no balloon, KSM left
# alone), asked through -s SOCKET and through KSMD_SOCKET; with no daemon
# there is nothing to offer, quietly.
. "$(dirname "$0")/../lib/common.sh"
need_bins
COMPLETION=$ROOT/contrib/bash-completion/ksmdctl
T=$(mktemp -d /tmp/ksmd-test.XXXXXX)
cleanup_add "rm -rf $T"

. "$COMPLETION" || fail "sourcing $COMPLETION"
complete -p ksmdctl | grep -q -- '-F _ksmdctl ksmdctl$' || fail "no 'complete -F _ksmdctl ksmdctl'"
pass_msg "the completion file registers _ksmdctl for ksmdctl"

# comp WORDS...: complete the last word of the command line WORDS (the
# first is the ksmdctl under test); prints COMPREPLY sorted, one a line,
# and what the function wrote to stderr into $T/comp.err
comp() {
    COMP_WORDS=("$KSMDCTL" "$@")
    COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
    COMP_LINE="${COMP_WORDS[*]}"
    COMP_POINT=${#COMP_LINE}
    COMPREPLY=()
    _ksmdctl 2>$T/comp.err
    printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | sort
}
# expect DESC WANT WORDS...: the completion of WORDS is exactly WANT
# (words separated by spaces)
expect() {
    local desc=$1 want=$2; shift 2
    local got
    got=$(comp "$@" | tr '\n' ' ' | sed 's/ $//')
    want=$(tr ' ' '\n' <<<"$want" | sed '/^$/d' | sort | tr '\n' ' ' | sed 's/ $//')
    [ "$got" = "$want" ] || fail "$desc: completing '$*' gave '$got', want '$want'"
    [ -s $T/comp.err ] && fail "$desc: completing '$*' wrote to stderr: $(cat $T/comp.err)"
    pass_msg "$desc"
}

# ---- the commands: the verb table, as --help lists it ----
verbs=$("$KSMDCTL" --help | awk '/^Commands:/ {c = 1; next} /^$/ {c = 0} c {print $1}')
[ -n "$verbs" ] || fail "no commands in ksmdctl --help"
expect "the commands, from the verb table" "$verbs" ""
expect "a command from its start" "status" st
expect "commands after options" "get guest guests" -s /nowhere --json g
expect "nothing for what no command starts with" "" zzz
for o in --socket --json --raw --list --help --version; do
    comp - | grep -qx -- "$o" || fail "the options lack $o: $(comp - | tr '\n' ' ')"
done
pass_msg "the options, from --help"
expect "what --list takes" "verbs keys live-keys guests" --list ""

# ---- the keys: those of the ksmd built beside this ksmdctl ----
"$KSMD" --list-keys > $T/keys
[ "$(wc -l < $T/keys)" -ge 10 ] || fail "ksmd --list-keys lists $(wc -l < $T/keys) keys"
all=$(awk '{print $1}' $T/keys)
live=$(awk '$2 == "live" {print $1}' $T/keys)
expect "get: every key of the table" "$all" get ""
expect "set: the live keys of the table" "$live" set ""
grep -qx 'scanner.threads fixed' $T/keys || fail "scanner.threads is not a fixed key of the table"
comp set scanner. | grep -qx scanner.threads && fail "set offers scanner.threads, which cannot change while ksmd runs"
comp set scanner. | grep -qx scanner.pages_per_sec || fail "set does not offer scanner.pages_per_sec"
expect "get: keys from their start" "$(grep -o '^scanner\.p[a-z_]*' $T/keys)" get scanner.p
expect "no second key after get" "" get scanner.threads ""
expect "no key for the value of set" "" set scanner.pages_per_sec ""

# ---- the words a command's usage spells out ----
expect "pause: scanner|policy" "scanner policy" pause ""
expect "resume: from the start of a word" "scanner" resume s
expect "balloon: auto after the guest" "auto" balloon web1 a
expect "top: its options" "-n -d" top ""
expect "run: -- then a command" "--" run -
comp run -- bas | grep -qx bash || fail "run -- bas: no bash among $(comp run -- bas | tr '\n' ' ')"
pass_msg "run -- CMD: commands"
expect "reload takes nothing" "" reload ""

# ---- the guests: none without a daemon, quietly and at once ----
start=$(date +%s%N)
expect "no guests without a daemon (-s)" "" -s $T/none.sock guest ""
KSMD_SOCKET=$T/none.sock expect "no guests without a daemon (KSMD_SOCKET)" "" balloon ""
[ $(( ($(date +%s%N) - start) / 1000000 )) -lt 2000 ] || fail "completing guests without a daemon took over 2 s"

# ---- ... and those of a running ksmd ----
sleep 600 & G1=$!
sleep 600 & G2=$!
cleanup_add "kill $G1 $G2 2>/dev/null"
ksmd_quiet_conf $T/ksmd.conf $T/ksmd.sock web-alpha $G1 web-beta $G2
ksmd_start $T/ksmd.conf
cleanup_add ksmd_stop
expect "guest: the running daemon's guests (-s SOCKET)" "web-alpha web-beta" -s $T/ksmd.sock guest ""
expect "guest: from the start of a name (--socket SOCKET)" "web-beta" --socket $T/ksmd.sock guest web-b
expect "guest: --socket=SOCKET, split at =" "web-alpha web-beta" --socket = $T/ksmd.sock guest w
expect "guest: --socket=SOCKET, one word" "web-alpha web-beta" --socket=$T/ksmd.sock guest w
export KSMD_SOCKET=$T/ksmd.sock
expect "balloon: the guests (KSMD_SOCKET)" "web-alpha web-beta" balloon ""
expect "-s wins over KSMD_SOCKET" "" -s $T/none.sock balloon ""
unset KSMD_SOCKET
ksmd_stop || fail "ksmd exited with an error: $(tail -5 $T/ksmd.log)"
echo "completion: all checks passed"
