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

# KSM tests: scanner_ksm_init skips (exit 77) without a writable KSM or
# smaps `KSM:` and saves KSM's settings (tests/lib/common.sh ksm_save);
# scanner_ksm_restore (call it from the EXIT trap) puts them back.
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
trap - EXIT   # the scanner tests install their own cleanup trap
scanner_ksm_init() {
    if [ ! -w /sys/kernel/mm/ksm/run ]; then echo "skip: /sys/kernel/mm/ksm absent or read-only (kernel without KSM)"; exit 77; fi
    if ! grep -q '^KSM:' /proc/self/smaps; then echo "skip: smaps has no KSM: field on this kernel"; exit 77; fi
    ksm_save
}
scanner_ksm_restore() { ksm_restore; }
# scanner_ksm_kb PID: kB of PID's memory mapped to KSM pages (smaps, live).
scanner_ksm_kb() { awk '/^KSM:/ { s += $2 } END { print s + 0 }' /proc/$1/smaps; }
