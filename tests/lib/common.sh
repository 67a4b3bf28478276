# tests/lib/common.sh — shared helpers for the shell tests (source it).
#   KSMD_BUILD     build folder holding ksmd and ksmdctl (default build)
#   skip MSG       print "SKIP: MSG" and exit 77
#   fail MSG       print "FAIL: MSG" and exit 1
#   check DESC CMD...   run CMD, fail with DESC when it fails
#   wait_for SECS DESC CMD...  poll CMD every 0.2 s until it succeeds
#   ksm_save / ksm_restore     save and restore /sys/kernel/mm/ksm settings
#   cleanup_add CMD            run CMD at exit (in reverse order)
#   ksmd_quiet_conf, ksmd_start, ksmd_stop   a ksmd under test (below)

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
B=${KSMD_BUILD:-build}
case $B in /*) ;; *) B=$ROOT/$B ;; esac
KSMD=$B/ksmd
KSMDCTL=$B/ksmdctl
KSM=/sys/kernel/mm/ksm

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
pass_msg() { echo "ok: $*"; }

check() {
    local desc=$1; shift
    if "$@"; then pass_msg "$desc"; else fail "$desc (command: $*)"; fi
}

wait_for() {
    local secs=$1 desc=$2; shift 2
    local end=$(( $(date +%s%N) + secs * 1000000000 ))
    while [ "$(date +%s%N)" -lt $end ]; do
        if "$@" >/dev/null 2>&1; then pass_msg "$desc"; return 0; fi
        sleep 0.2
    done
    # WAIT_DIAG names a function that prints what explains a miss
    [ -n "${WAIT_DIAG:-}" ] && "$WAIT_DIAG" 2>&1 | sed 's/^/  diag: /'
    fail "$desc: not within ${secs}s"
}

_cleanups=()
cleanup_add() { _cleanups+=("$*"); }
_run_cleanups() {
    local i
    for (( i=${#_cleanups[@]}-1; i>=0; i-- )); do eval "${_cleanups[$i]}" || true; done
}
trap _run_cleanups EXIT

# Settings of /sys/kernel/mm/ksm a test may change; restored in this order
# (advisor first, run last, so nothing runs with half-restored knobs).
KSM_KEYS="advisor_mode pages_to_scan sleep_millisecs use_zero_pages max_page_sharing smart_scan merge_across_nodes run"
declare -A _ksm_saved
# ksm_value TEXT: "[none] scan-time" -> none; a plain number stays as it is
ksm_value() { sed -n 's/.*\[\(.*\)\].*/\1/p; /\[/!p' <<<"$1"; }
ksm_save() {
    local k
    for k in $KSM_KEYS; do [ -r $KSM/$k ] && _ksm_saved[$k]=$(cat $KSM/$k); done
    return 0
}
ksm_snapshot() {
    local k
    for k in run pages_to_scan sleep_millisecs use_zero_pages max_page_sharing smart_scan; do
        [ -r $KSM/$k ] && printf '%s=%s ' $k "$(cat $KSM/$k)"
    done
}
ksm_restore() {
    local k
    for k in $KSM_KEYS; do
        [ -n "${_ksm_saved[$k]:-}" ] || continue
        [ "$(cat $KSM/$k)" = "${_ksm_saved[$k]}" ] ||
            ksm_value "${_ksm_saved[$k]}" > $KSM/$k 2>/dev/null || true
    done
}

need_root() { [ "$(id -u)" = 0 ] || skip "needs root"; }
need_ksm() { [ -w $KSM/run ] || skip "needs writable $KSM (KSM not built in, or not root)"; }
need_bins() { [ -x "$KSMD" ] && [ -x "$KSMDCTL" ] || fail "build $KSMD and $KSMDCTL first (make)"; }

# ---- a ksmd under test, against lab guests (tests/e2e) ----
# ksmd_start CONF: start $KSMD -f -c CONF in the background, wait for its
# control socket; KSMD_PID, KSMD_LOG, KSMD_SOCK are set. ksmd_stop: SIGTERM,
# wait, return its exit status.
ksmd_start() {
    local conf=$1
    KSMD_SOCK=$(awk -F' *= *' '$1=="control_socket"{print $2}' "$conf")
    KSMD_LOG=${KSMD_LOG:-$(dirname "$conf")/ksmd.log}
    "$KSMD" -f -c "$conf" ${KSMD_EXTRA_CONF:+-c "$KSMD_EXTRA_CONF"} >> "$KSMD_LOG" 2>&1 &
    KSMD_PID=$!
    local i
    for i in $(seq 100); do
        "$KSMDCTL" -s "$KSMD_SOCK" status >/dev/null 2>&1 && return 0
        kill -0 $KSMD_PID 2>/dev/null || { tail -20 "$KSMD_LOG"; fail "ksmd exited at start"; }
        sleep 0.1
    done
    fail "ksmd did not answer on $KSMD_SOCK within 10 s"
}
# ksmd_quiet_conf FILE SOCKET [NAME PID]...: a configuration for a ksmd
# that only answers ksmdctl: no scanner, no balloon, no stats endpoint, KSM
# left alone; each NAME PID a plain process managed as a guest
ksmd_quiet_conf() {
    local f=$1 sock=$2
    shift 2
    printf '[daemon]\ncontrol_socket = %s\nrestore_ksm = no\n[scanner]\nenabled = no\n[ksm]\nmanage = no\n' "$sock" > "$f"
    printf '[balloon]\nenabled = no\n[stats]\nenabled = no\n' >> "$f"
    while [ $# -ge 2 ]; do
        printf '[guest %s]\npid = %s\n' "$1" "$2" >> "$f"
        shift 2
    done
}
# ksmd_stats_conf FILE SOCKET LISTEN [NAME PID]...: ksmd_quiet_conf with
# the stats endpoint on LISTEN and a 1 s tick
ksmd_stats_conf() {
    local f=$1 sock=$2 listen=$3
    shift 3
    ksmd_quiet_conf "$f" "$sock" "$@"
    sed -i "/^\[stats\]/,/^\[/ s|^enabled = no$|enabled = yes\nlisten = $listen|; s|^control_socket = .*|&\ntick = 1s|" "$f"
}
ksmd_stop() {
    [ -n "${KSMD_PID:-}" ] || return 0
    kill -TERM $KSMD_PID 2>/dev/null
    local rc=0
    wait $KSMD_PID || rc=$?
    KSMD_PID=
    return $rc
}
ctl() { "$KSMDCTL" -s "$KSMD_SOCK" "$@"; }
# snap JQ: evaluate a jq expression on the daemon's current snapshot
snap() { "$KSMDCTL" -s "$KSMD_SOCK" --json status | jq -r "$1"; }
# snap_is JQ VALUE: the snapshot's JQ is VALUE; snap_true JQ: jq -e JQ holds
# (both for wait_for, which runs its command in the test's own shell)
snap_is() { [ "$(snap "$1")" = "$2" ]; }
# (no answer is no: jq -e on empty input exits 0)
snap_true() { local s; s=$("$KSMDCTL" -s "$KSMD_SOCK" --json status) && [ -n "$s" ] && jq -e "$1" <<<"$s" >/dev/null; }
# ksm_stat PID FIELD
ksm_stat() { awk -v f="$2" '$1==f || $1==f":" {print $2}' /proc/$1/ksm_stat 2>/dev/null; }
