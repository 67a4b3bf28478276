#!/bin/bash
# converge.sh — how fast, and at what CPU cost, does KSM merge what there is
# to merge, under the ksmd daemon as shipped and under the anchors a user
# would pick?
#
# Workload: N processes x MIB MiB (bench/ksm_fill; default 4 x 512 MiB: half
# of each page-for-page identical across them, a quarter 16 patterns
# repeated within each, a quarter unique); for 4 x 512 MiB 327,168 pages can
# be saved (max_page_sharing 256). Fresh fillers for every run.
#
# Strategies (CONVERGE_ONLY, default all), each from the same start: KSM
# fully unmerged (run=2), then the kernel's defaults (advisor_mode none,
# smart_scan 1, 100 pages / 20 ms, run 0), then:
#   a    ksmd: build/ksmd with the project's ksmd.conf, changed only in the
#        control socket, the stats endpoint (off) and the fillers added as
#        guests by pid, not ballooned
#   a0   the same with [scanner] enabled = no: KSM pacing alone
#   b    KSM at kernel defaults, smart_scan = 1 (100 pages / 20 ms)
#   c    advisor_mode = scan-time, advisor_target_scan_time 200 s (default)
#   c10  the same, 10 s;  c30  the same, 30 s
#   d    Debian's ksmtuned, its threshold forced (KSM_THRES_COEF=100) and a
#        KSMTUNED_INTERVAL (default 10 s) monitor interval, in its
#        environment (its config file is left untouched)
#   d0   Debian's ksmtuned at its own defaults
#   e    KSM at full speed (100000 pages / 0 ms)
#   m    oVirt MOM's KSM rule, ported verbatim (bench/ksm_mom.sh)
#   mf   the same with its pressure forced (ksm_free_percent 1.0)
#   n    naive: full speed until pages_sharing stops growing, then defaults
#        (bench/ksm_naive.sh)
# Method: CONVERGE_RUNS (default 3) repetitions; in each, the strategies in
# a random order (shuf). Every run lasts CONVERGE_TIMEOUT (default 300) s,
# sampled every CONVERGE_INTERVAL_MS (default 100) by bench/ksm_sample
# (the fillers' own ksm_merging_pages, pages_sharing, the strategy's CPU and
# the kernel ksmd thread's). CPU = the strategy's own processes (ksmd whole,
# all threads; ksmtuned and the drivers with their waited-for children) +
# the kernel's ksmd thread, for every strategy.
# The same disturbance checks for every strategy, every second: another KSM
# driver running (a ksmd or ksmtuned not ours, momd), a KSM knob that the
# strategy does not set changed, the fillers' merged pages falling to half
# (someone else unmerged); a disturbed run is repeated CONVERGE_RETRIES
# (default 1) times and reported as not valid if it stays disturbed.
#
# Results (CONVERGE_OUT, default bench/results): converge-rows.jsonl (one
# line per run of a strategy, each with the run id), converge-S-R.csv (the
# samples of strategy S in repetition R, the run id on every line),
# converge.json and converge.md (medians with min-max, built by
# bench/converge_summary.py from the rows of one run id only). A new run id
# (CONVERGE_RUN_ID, default the date and pid) drops the rows and samples of
# earlier ones; given the id of an earlier run, this run adds to it.
# CONVERGE_N and CONVERGE_MIB change the workload (for smoke runs).
#
# New duplicates: CONVERGE_LATE_AT (default 150) s into every run,
# CONVERGE_LATE_N (default 2) more fillers start (the next indices: their
# half identical across processes is the same content as the first ones',
# their patterns and unique quarter their own), as new guests would on a
# host that has converged. ksmd learns of them as an operator would tell
# it: their [guest] sections added to its file and a SIGHUP (reload); the
# kernel's strategies see them as any new mergeable memory; MOM's rule
# keeps the pids it was started with. A second sampler follows their own
# ksm_merging_pages (converge-S-R-late.csv, seconds from their start);
# the figure is the time until 90% of what they can merge is merged
# (late_90_sec, none when not within the run). 0 turns this off.
set -u
cd "$(dirname "$0")/.." || exit 2
BUILD=${KSMD_BUILD:-build}
TIMEOUT=${CONVERGE_TIMEOUT:-300}
LATE_AT=${CONVERGE_LATE_AT:-150}
LATE_N=${CONVERGE_LATE_N:-2}
[ "$LATE_AT" -lt "$TIMEOUT" ] || LATE_AT=0
RUNS=${CONVERGE_RUNS:-3}
INTERVAL_MS=${CONVERGE_INTERVAL_MS:-100}
ALL="a a0 b c c10 c30 d d0 e m mf n"
ONLY=${CONVERGE_ONLY:-}
[ -n "$ONLY" ] || ONLY=$ALL
KSMTUNED_INTERVAL=${KSMTUNED_INTERVAL:-10}
KSMTUNED=${KSMTUNED:-/usr/sbin/ksmtuned}
OUT=${CONVERGE_OUT:-bench/results}
RUN_ID=${CONVERGE_RUN_ID:-$(date -u +%Y%m%dT%H%M%SZ)-$$}
KSM=/sys/kernel/mm/ksm
N=${CONVERGE_N:-4}; MIB=${CONVERGE_MIB:-512}
PAGES=$((MIB * 256))
# Saveable: (N-1) x n/2 across processes, plus per process the n/4 pattern
# pages less the KSM pages the 16 patterns need (max_page_sharing 256).
TARGET=$(( (N - 1) * PAGES / 2 + N * (PAGES / 4 - 16 * ((PAGES / 64 + 255) / 256)) ))
# KSM is host-wide: other mergeable processes inflate pages_sharing. Progress
# is the fillers' own ksm_merging_pages: every non-unique page, kept copies
# included, N x 3n/4 when all are merged; the goal is 90% of that.
MERGING_ALL=$((N * PAGES * 3 / 4))
MERGING_WANT=$((MERGING_ALL * 9 / 10))
LATE_WANT=$((LATE_N * PAGES * 3 / 4 * 9 / 10))
mkdir -p "$OUT"

summary() {
    bench/converge_summary.py "$OUT" "$RUN_ID"
}
if [ -n "${CONVERGE_REPORT_ONLY:-}" ]; then
    RUN_ID=$(tail -n1 "$OUT/converge-rows.jsonl" 2>/dev/null | sed -n 's/.*"run_id": *"\([^"]*\)".*/\1/p')
    summary; exit $?
fi

if [ "$(id -u)" != 0 ]; then echo "skip: needs root to drive KSM"; exit 77; fi
if [ ! -w $KSM/run ]; then echo "skip: no writable $KSM"; exit 77; fi
for t in bench/ksm_fill bench/ksm_sample ksmd; do
    [ -x "$BUILD/$t" ] || { echo "missing $BUILD/$t (make all ksm-tools)"; exit 2; }
done
for s in $ONLY; do
    case " $ALL " in *" $s "*) ;; *) echo "unknown strategy $s (of: $ALL)"; exit 2 ;; esac
    case $s in d|d0) [ -x "$KSMTUNED" ] || { echo "missing $KSMTUNED"; exit 2; } ;; esac
done

# A new run id starts afresh: rows and samples of other runs never mix.
if ! grep -qs "\"run_id\": \"$RUN_ID\"" "$OUT/converge-rows.jsonl"; then
    rm -f "$OUT"/converge-rows.jsonl "$OUT"/converge-*.csv "$OUT"/converge-?.row.* "$OUT"/converge-a-drive.log
fi

FILES="advisor_mode advisor_target_scan_time pages_to_scan sleep_millisecs use_zero_pages max_page_sharing smart_scan merge_across_nodes run"
declare -A saved
for f in $FILES; do [ -e $KSM/$f ] && saved[$f]=$(cat $KSM/$f); done
if [ "${saved[max_page_sharing]}" != 256 ]; then
    echo "max_page_sharing is ${saved[max_page_sharing]}; the target assumes 256"; exit 2
fi
word() { sed -n 's/.*\[\(.*\)\].*/\1/p; /\[/!p' <<<"$1"; }
restore() {
    for f in $FILES; do
        [ -n "${saved[$f]:-}" ] || continue
        v=${saved[$f]}; [ $f = advisor_mode ] && v=$(word "$v")
        [ "$(cat $KSM/$f)" = "${saved[$f]}" ] || echo "$v" > $KSM/$f 2>/dev/null
    done
}

fillers=(); late=(); own=; sampler=; late_sampler=
tmp=$(mktemp -d /tmp/ksmd-converge.XXXXXX)
stop_own() {
    [ -n "$own" ] || return 0
    local kids; kids=$(ps -o pid= --ppid "$own" 2>/dev/null)   # a script's sleep
    kill "$own" 2>/dev/null
    for k in $kids; do kill "$k" 2>/dev/null; done
    wait "$own" 2>/dev/null
    own=
}
stop_fillers() {
    for p in "${fillers[@]}" "${late[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${fillers[@]}" "${late[@]}"; do wait "$p" 2>/dev/null; done
    fillers=(); late=()
}
cleanup() {
    [ -n "$sampler" ] && kill "$sampler" 2>/dev/null
    [ -n "$late_sampler" ] && kill "$late_sampler" 2>/dev/null
    stop_own
    stop_fillers
    wait 2>/dev/null
    echo 2 > $KSM/run 2>/dev/null
    for _ in $(seq 300); do [ "$(cat $KSM/pages_shared)" = 0 ] && break; sleep 0.2; done
    restore
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

kthread=
for d in /proc/[0-9]*; do
    if [ "$(cat $d/comm 2>/dev/null)" = ksmd ] && [ "$(awk '{print $4}' $d/stat 2>/dev/null)" = 2 ]; then
        kthread=${d#/proc/}; break
    fi
done
[ -n "$kthread" ] || { echo "kernel ksmd thread not found"; exit 2; }

# start_fillers FROM COUNT: fillers of indices FROM.. into the array "new"
start_fillers() {
    local i
    new=()
    for i in $(seq "$1" $(($1 + $2 - 1))); do
        "$BUILD/bench/ksm_fill" -m "$MIB" -i "$i" > "$tmp/fill.$i" &
        new+=($!)
    done
    for i in $(seq "$1" $(($1 + $2 - 1))); do
        for _ in $(seq 600); do grep -q ready "$tmp/fill.$i" && break; sleep 0.1; done
        grep -q ready "$tmp/fill.$i" || { echo "filler $i not ready"; exit 2; }
    done
}

# Other KSM drivers on this shared machine (a ksmd daemon of another test,
# a ksmtuned or momd not ours) make a run meaningless: wait for them to go
# before a run (up to QUIET_WAIT s), and count the seconds they were seen
# during it.
QUIET_WAIT=${CONVERGE_QUIET_WAIT:-180}
RETRIES=${CONVERGE_RETRIES:-1}
foreign() {
    { pgrep -x ksmd; pgrep -x ksmtuned; pgrep -x momd; pgrep -f '(^|/)momd( |$)'; } 2>/dev/null |
        grep -vx -e "$kthread" -e "${own:-0}" | head -1
}
# Test suites of other work that drive KSM (only waited for, never touched).
busy() {
    foreign
    pgrep -f '^(/bin/)?bash tests/(e2e|lab|integration)/' 2>/dev/null | head -1
}
wait_quiet() {
    local f w=0
    while f=$(busy) && [ -n "$f" ] && [ $w -lt "$QUIET_WAIT" ]; do
        f=${f%%$'\n'*}
        [ $w = 0 ] && echo "  waiting for other KSM work to end: $(tr '\0' ' ' < "/proc/$f/cmdline" 2>/dev/null | cut -c1-80)"
        sleep 5; w=$((w + 5))
    done
}

# The common start: everything unmerged, then the kernel's defaults.
baseline() {
    echo 2 > $KSM/run
    for _ in $(seq 600); do
        [ "$(cat $KSM/pages_shared)" = 0 ] && [ "$(cat $KSM/pages_sharing)" = 0 ] && break
        sleep 0.2
    done
    echo 0 > $KSM/run
    echo none > $KSM/advisor_mode
    echo 200 > $KSM/advisor_target_scan_time
    echo 1 > $KSM/smart_scan 2>/dev/null
    echo 100 > $KSM/pages_to_scan
    echo 20 > $KSM/sleep_millisecs
}

label() {
    case $1 in
        a) echo "ksmd (build/ksmd, shipped ksmd.conf)" ;;
        a0) echo "ksmd, scanner off (pacing only)" ;;
        b) echo "KSM kernel defaults, smart_scan=1 (100 pages / 20 ms)" ;;
        c) echo "KSM advisor_mode=scan-time, target 200 s (default)" ;;
        c10) echo "KSM advisor_mode=scan-time, target 10 s" ;;
        c30) echo "KSM advisor_mode=scan-time, target 30 s" ;;
        d) echo "ksmtuned (KSM_THRES_COEF=100, interval ${KSMTUNED_INTERVAL}s)" ;;
        d0) echo "ksmtuned at its defaults" ;;
        e) echo "KSM full speed (100000 pages / 0 ms)" ;;
        m) echo "MOM ksm rule (verbatim)" ;;
        mf) echo "MOM ksm rule, pressure forced (ksm_free_percent 1.0)" ;;
        n) echo "naive: full speed until pages_sharing stops growing, then defaults" ;;
    esac
}

# The knobs each strategy sets itself (the kernel's advisor sets
# pages_to_scan); every other knob must keep its value through the run.
owned() {
    case $1 in
        b|e) echo "" ;;
        c|c10|c30) echo "pages_to_scan" ;;
        *) echo "run pages_to_scan sleep_millisecs" ;;
    esac
}
CHECKED="run pages_to_scan sleep_millisecs advisor_mode advisor_target_scan_time smart_scan use_zero_pages max_page_sharing merge_across_nodes"
knobs() {   # the values of the checked knobs the strategy does not set
    local f o=" $(owned "$1") "
    for f in $CHECKED; do
        case "$o" in *" $f "*) continue ;; esac
        printf '%s=%s ' $f "$(cat $KSM/$f 2>/dev/null)"
    done
}

ksmd_conf() {   # the project's ksmd.conf: socket, stats and guests changed
    local scanner=$1 i=0 p
    sed -e "s|^control_socket = .*|control_socket = $tmp/ksmd.sock|" \
        -e '/^\[stats\]/,/^\[/ s|^enabled = .*|enabled = no|' \
        -e "/^\[scanner\]/,/^\[/ s|^enabled = .*|enabled = $scanner|" ksmd.conf
    for p in "${fillers[@]}" "${late[@]}"; do
        printf '\n[guest filler%d]\npid = %d\nballoon = no\n' $i "$p"
        i=$((i + 1))
    done
}

# The new duplicates: more fillers, ksmd told by its file and a reload, and
# a sampler of their own merged pages from their start.
start_late() {
    local s=$1 rep=$2 p gargs=()
    start_fillers "$N" "$LATE_N"
    late=("${new[@]}")
    for p in "${late[@]}"; do gargs+=(-g "$p"); done
    "$BUILD/bench/ksm_sample" -r "$RUN_ID" -i "$INTERVAL_MS" -T $((TIMEOUT - LATE_AT)) -k "$kthread" \
        -o "$OUT/converge-$s-$rep-late.csv" "${gargs[@]}" &
    late_sampler=$!
    case $s in
        a|a0) ksmd_conf "$([ $s = a ] && echo yes || echo no)" > "$tmp/ksmd.conf"
              kill -HUP "$own" ;;
    esac
}

start() {   # starts strategy $1; sets own (its process, if any)
    own=
    case $1 in
        a|a0) ksmd_conf "$([ $1 = a ] && echo yes || echo no)" > "$tmp/ksmd.conf"
            "$BUILD/ksmd" -f -c "$tmp/ksmd.conf" > "$tmp/ksmd.log" 2>&1 &
            own=$! ;;
        b)  echo 1 > $KSM/run ;;
        c|c10|c30) local t=${1#c}; echo "${t:-200}" > $KSM/advisor_target_scan_time
            echo scan-time > $KSM/advisor_mode; echo 1 > $KSM/run ;;
        d)  PIDFILE=$tmp/ksmtuned.pid KSM_THRES_COEF=100 KSM_MONITOR_INTERVAL=$KSMTUNED_INTERVAL "$KSMTUNED"
            own=$(cat "$tmp/ksmtuned.pid") ;;
        d0) PIDFILE=$tmp/ksmtuned.pid "$KSMTUNED"
            own=$(cat "$tmp/ksmtuned.pid") ;;
        e)  echo 100000 > $KSM/pages_to_scan; echo 0 > $KSM/sleep_millisecs; echo 1 > $KSM/run ;;
        m)  bench/ksm_mom.sh "${fillers[@]}" > "$tmp/mom.log" 2>&1 &
            own=$! ;;
        mf) MOM_FREE_PERCENT=1.0 bench/ksm_mom.sh "${fillers[@]}" > "$tmp/mom.log" 2>&1 &
            own=$! ;;
        n)  bench/ksm_naive.sh > "$tmp/naive.log" 2>&1 &
            own=$! ;;
    esac
}

run_one() {
    local s=$1 rep=$2 foreign_sec=0 knob_sec=0 k0 k
    wait_quiet
    baseline
    start_fillers 0 "$N"
    fillers=("${new[@]}")
    local load0; load0=$(cut -d' ' -f1 /proc/loadavg)
    start "$s"
    k0=$(knobs "$s")
    local csv=$OUT/converge-$s-$rep.csv sargs=()
    for p in "${fillers[@]}"; do sargs+=(-g "$p"); done
    [ -n "$own" ] && sargs+=(-s "$own")
    "$BUILD/bench/ksm_sample" -r "$RUN_ID" -i "$INTERVAL_MS" -T "$TIMEOUT" -k "$kthread" \
        -o "$csv" "${sargs[@]}" &
    sampler=$!
    local t0=$SECONDS late_started=
    while kill -0 "$sampler" 2>/dev/null; do
        sleep 1
        if [ "$LATE_AT" -gt 0 ] && [ -z "$late_started" ] && [ $((SECONDS - t0)) -ge "$LATE_AT" ]; then
            start_late "$s" "$rep"; late_started=1
        fi
        [ -n "$(foreign)" ] && foreign_sec=$((foreign_sec + 1))
        k=$(knobs "$s")
        [ "$k" = "$k0" ] || knob_sec=$((knob_sec + 1))
    done
    wait "$sampler"; sampler=
    if [ -n "$late_sampler" ]; then kill "$late_sampler" 2>/dev/null; wait "$late_sampler"; late_sampler=; fi
    [ $s = a ] && [ "$rep" = 1 ] && cp "$tmp/ksmd.log" "$OUT/converge-a.log"
    stop_own
    echo 0 > $KSM/run
    stop_fillers
    local load1; load1=$(cut -d' ' -f1 /proc/loadavg)
    [ "$knob_sec" -gt 0 ] && echo "  knobs at start: $k0; at end: $k"
    local late_csv=; [ -n "$late_started" ] && late_csv=$(basename "$OUT/converge-$s-$rep-late.csv")
    printf '{"run_id": "%s", "repetition": %d, "strategy": "%s", "label": "%s", "csv": "%s", "late_csv": "%s", "late_at_sec": %d, "late_processes": %d, "late_goal_merging_pages": %d, "processes": %d, "mib_each": %d, "saveable_pages": %d, "mergeable_pages": %d, "goal_merging_pages": %d, "timeout_sec": %s, "interval_ms": %s, "load_start": %s, "load_end": %s, "foreign_driver_sec": %d, "knobs_changed_by_other_sec": %d, "date": "%s"}\n' \
        "$RUN_ID" "$rep" "$s" "$(label "$s")" "$(basename "$csv")" "$late_csv" "$LATE_AT" "$LATE_N" "$LATE_WANT" "$N" "$MIB" "$TARGET" "$MERGING_ALL" \
        "$MERGING_WANT" "$TIMEOUT" "$INTERVAL_MS" "$load0" "$load1" "$foreign_sec" "$knob_sec" \
        "$(date -u +%FT%TZ)" >> "$OUT/converge-rows.jsonl"
    bench/converge_summary.py --check "$OUT" "$RUN_ID" "$s" "$rep"
}

echo "run $RUN_ID: $N x $MIB MiB fillers ($LATE_N more at ${LATE_AT}s), ${TIMEOUT}s per strategy, $RUNS repetition(s) of: $ONLY"
for rep in $(seq 1 "$RUNS"); do
    for s in $(shuf -e $ONLY); do
        for try in $(seq 0 "$RETRIES"); do
            echo "repetition $rep, strategy $s: $(label $s)$([ "$try" -gt 0 ] && echo " (again)")"
            run_one "$s" "$rep" && break
            echo "  $s was disturbed by other work on this machine$([ "$try" -lt "$RETRIES" ] && echo ', once more')"
            [ "$try" -lt "$RETRIES" ] && sed -i '$d' "$OUT/converge-rows.jsonl"
        done
    done
done

summary
