# tests/scanner_lib.bash — shared start of the scanner's integration tests
# (sourced from the repository root; not a test itself).
#
# scanner_test_init: BUILD from KSMD_BUILD (default build); skips (exit 77)
# without root; builds the helpers (scanner_memhog, scanner_probe) if absent.
# field LINE KEY: the value of KEY=... in a "key=value" line of scanner_probe.
scanner_test_init() {
    BUILD=${KSMD_BUILD:-build}
    if [ "$(id -u)" != 0 ]; then echo "skip: needs root (pagemap PFNs, reading other processes)"; exit 77; fi
    if [ ! -x "$BUILD/tests/scanner_memhog" ] || [ ! -x "$BUILD/tests/scanner_probe" ]; then
        make -s B="$BUILD" scanner-tools >/dev/null || { echo "cannot build scanner-tools"; exit 1; }
    fi
}

field() { sed -n "s/.* $2=\([0-9.-]*\).*/\1/p" <<<"$1"; }

# Cleanups run at exit through tests/lib/common.sh (cleanup_add).
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

# KSM tests: scanner_ksm_init skips (exit 77) without a writable KSM or
# smaps `KSM:`, saves KSM's settings and restores them at exit.
scanner_ksm_init() {
    if [ ! -w /sys/kernel/mm/ksm/run ]; then echo "skip: /sys/kernel/mm/ksm absent or read-only (kernel without KSM)"; exit 77; fi
    if ! grep -q '^KSM:' /proc/self/smaps; then echo "skip: smaps has no KSM: field on this kernel"; exit 77; fi
    ksm_save
    cleanup_add ksm_restore
}

# memhog_start ARGS...: run scanner_memhog ARGS (see tests/scanner_memhog.c;
# killed at exit), wait until its memory is filled, and set HOG_PID,
# HOG_ADDR, HOG_SIZE from what it prints.
memhog_start() {
    local out pid
    out=$(mktemp /tmp/ksmd-memhog.XXXXXX)
    "$BUILD/tests/scanner_memhog" "$@" >"$out" &
    pid=$!
    cleanup_add "kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f $out"
    for _ in $(seq 300); do [ -s "$out" ] && break; sleep 0.1; done
    read -r HOG_PID HOG_ADDR HOG_SIZE <"$out" || { echo "FAIL: scanner_memhog $* not ready"; exit 1; }
    [ "$HOG_PID" = "$pid" ] && kill -0 "$pid" 2>/dev/null ||
        { echo "FAIL: scanner_memhog $* is not running"; exit 1; }
}

# pread_agrees NAME PID SIZE PROBE_OUTPUT: a pread-only pass over the guest
# counts what the last pass in PROBE_OUTPUT counted (pages are read either
# way; only how differs).
pread_agrees() {
    local p
    p=$($BUILD/tests/scanner_probe -n 1 -P "$1:$2:qemu:$3") || { echo "FAIL: scanner_probe -P"; exit 1; }
    [ "$(grep "^guest=$1 " <<<"$p" | sed 's/ unread=.*//')" = "$(grep "^guest=$1 " <<<"$4" | tail -1 | sed 's/ unread=.*//')" ] ||
        { echo "FAIL: pread-only pass counts differ"; echo "$4"; echo "$p"; exit 1; }
}
# scanner_ksm_kb PID: kB of PID's memory mapped to KSM pages (smaps, live).
scanner_ksm_kb() { awk '/^KSM:/ { s += $2 } END { print s + 0 }' /proc/$1/smaps; }
