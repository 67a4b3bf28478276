#!/bin/bash
# Run tests and print one closing line "check: N passed, N failed, N skipped".
# Each argument is an executable (a CUnit binary or a shell script).
# Exit status of a test: 0 passed, 77 skipped (it prints the reason), other failed.
# KSMD_TEST_FILTER=regex runs only the tests whose path matches.
cd "$(dirname "$0")/.." || exit 2
pass=0; fail=0; skip=0; failed=()
logdir=${KSMD_TEST_LOGS:-${KSMD_BUILD:-build}/test-logs}
mkdir -p "$logdir"
for t in "$@"; do
    [ -n "${KSMD_TEST_FILTER:-}" ] && ! [[ $t =~ $KSMD_TEST_FILTER ]] && continue
    name=$(basename "$t")
    log="$logdir/$name.log"
    start=$(date +%s.%N)
    if [ -x "$t" ]; then "$t" >"$log" 2>&1 </dev/null; rc=$?
    else echo "not executable: $t" >"$log"; rc=126; fi
    secs=$(printf '%.1f' "$(echo "$(date +%s.%N) - $start" | bc)")
    case $rc in
        0) pass=$((pass+1)); printf 'PASS  %-40s %6ss\n' "$name" "$secs" ;;
        77) skip=$((skip+1)); printf 'SKIP  %-40s %6ss  %s\n' "$name" "$secs" \
                "$(grep -m1 -i 'skip' "$log" | cut -c1-120)" ;;
        *) fail=$((fail+1)); failed+=("$t")
           printf 'FAIL  %-40s %6ss  (exit %d, log %s)\n' "$name" "$secs" "$rc" "$log"
           tail -n 40 "$log" | sed 's/^/    | /' ;;
    esac
done
echo "check: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
