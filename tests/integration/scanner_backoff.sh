#!/bin/bash
# Rescan backoff on a real process: its unique pages back off (the scanner
# leaves them unread on most passes, the counts stay exact), then the
# process rewrites that backed-off region so that half of it duplicates the
# other half, and the scanner finds the new duplicates within the bound.
#
# hog: 4096 unique pages (16 MiB, one chunk of the scanner's state: they
# back off together). The probe passes every 100 ms with the backoff
# bounded by 2 s (about 18 passes). Once the pages are left unread, SIGUSR1
# makes the hog copy pages 0..2047 over 2048..4095: 2048 new pairs.
# Bound: the rewritten pages are read again within backoff_max_passes
# passes of their last read (a changed page counts as volatile on that
# read) and indexed on the next, so the duplicates show at most
# backoff_max_passes + 2 passes after the rewrite.
set -u
cd "$(dirname "$0")/../.." || exit 2
. tests/scanner_lib.bash
scanner_test_init
if [ "$(cat /sys/kernel/mm/ksm/run 2>/dev/null || echo 0)" = 1 ]; then
    echo "skip: KSM is running on this host (its merges would move the hog's pages out of the counts)"
    exit 77
fi
fail=0
expect() {  # what actual wanted
    if [ "$2" != "$3" ]; then echo "FAIL: $1 = $2, want $3"; fail=1; else echo "ok: $1 = $2"; fi
}

tmp=$(mktemp -d /tmp/ksmd-scan-backoff.XXXXXX)
cleanup_add "rm -rf $tmp"
hogout=$tmp/hog
"$BUILD/tests/scanner_memhog" -m -w 0 0 0 4096 0 0 0 7 >"$hogout" &
hog=$!
cleanup_add "kill $hog 2>/dev/null; wait $hog 2>/dev/null"
for _ in $(seq 300); do [ -s "$hogout" ] && break; sleep 0.1; done
read -r pid _ size <"$hogout" || { echo "FAIL: scanner_memhog not ready"; exit 1; }

"$BUILD/tests/scanner_probe" -n 80 -i 100 -k 2000 "hog:$pid:qemu:$size" >"$tmp/probe" 2>&1 &
probe=$!
cleanup_add "kill $probe 2>/dev/null; wait $probe 2>/dev/null"

last_pass() { sed -n 's/^pass=\([0-9]*\) .*/\1/p' "$tmp/probe" | tail -1; }
# pass N's line, and its guest line
pass_line() { grep "^pass=$1 " "$tmp/probe"; }
guest_line() { awk -v p="pass=$1" '$1 == p { on = 1; next } /^pass=/ { on = 0 } on && /^guest=hog /' "$tmp/probe"; }

# Wait until the pages are well backed off: a pass after the 24th left
# all of them unread.
ok=
for _ in $(seq 600); do
    p=$(last_pass)
    if [ -n "$p" ] && [ "$p" -ge 24 ] && [ "$(field "$(pass_line "$p")" backoff)" = 4096 ]; then ok=1; break; fi
    kill -0 $probe 2>/dev/null || break
    sleep 0.05
done
[ -n "$ok" ] || { cat "$tmp/probe"; echo "FAIL: the unique pages never backed off"; exit 1; }
echo "ok: pass $p left the 4096 unique pages unread"

# Until now every pass counted exactly: 4096 unique, nothing else.
for q in $(seq 1 "$p"); do
    l=$(guest_line "$q")
    [ "$(field "$l" unique)" = 4096 ] && [ "$(field "$l" dup_intra)" = 0 ] &&
        [ "$(field "$l" volatile)" = 0 ] && [ "$(field "$l" unread)" = 0 ] ||
        { echo "FAIL: pass $q counted: $l"; fail=1; }
done
oldest=$(field "$(guest_line "$p")" oldest_unscanned_ms)
[ "${oldest:-0}" -gt 0 ] && [ "$oldest" -le 2000 ] ||
    { echo "FAIL: oldest_unscanned_ms = $oldest, want 1..2000"; fail=1; }

kill -USR1 $hog
for _ in $(seq 100); do grep -q rewritten "$hogout" && break; sleep 0.02; done
grep -q rewritten "$hogout" || { echo "FAIL: the hog did not rewrite"; exit 1; }
t0=$(date +%s.%N)
pw=$(last_pass)
maxp=$(field "$(pass_line "$pw")" backoff_max_passes)
echo "rewritten after pass $pw (backoff_max_passes $maxp)"

found=
for _ in $(seq 600); do
    for q in $(seq $((pw + 1)) "$(last_pass)"); do
        if [ "$(field "$(guest_line "$q")" dup_intra)" = 4096 ]; then found=$q; break 2; fi
    done
    kill -0 $probe 2>/dev/null || break
    sleep 0.05
done
t1=$(date +%s.%N)
wait $probe
[ -n "$found" ] || { cat "$tmp/probe"; echo "FAIL: the new duplicates were never found"; exit 1; }
echo "found at pass $found, $((found - pw)) passes and $(echo "$t1 - $t0" | bc) s after the rewrite"
[ $((found - pw)) -le $((maxp + 2)) ] ||
    { echo "FAIL: found $((found - pw)) passes after the rewrite, bound $((maxp + 2))"; fail=1; }

# Never a false duplicate on the way; exact once found.
for q in $(seq $((pw + 1)) "$(last_pass)"); do
    l=$(guest_line "$q")
    d=$(field "$l" dup_intra)
    [ "$d" -le 4096 ] || { echo "FAIL: pass $q: dup_intra $d > 4096"; fail=1; }
    [ "$(field "$(pass_line "$q")" saveable)" -le 2048 ] || { echo "FAIL: pass $q: saveable > 2048"; fail=1; }
done
l=$(guest_line "$(last_pass)")
expect "last pass dup_intra" "$(field "$l" dup_intra)" 4096
expect "last pass unique" "$(field "$l" unique)" 0
expect "last pass volatile" "$(field "$l" volatile)" 0
expect "last pass mergeable" "$(field "$l" mergeable)" 2048
[ $fail = 0 ] && echo "scanner_backoff: all checks passed"
exit $fail
