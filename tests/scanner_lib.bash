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
