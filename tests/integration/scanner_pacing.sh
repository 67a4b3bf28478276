#!/bin/bash
# The scanner's rate limit and CPU budget hold on real memory: 65,536
# unique pages at 100,000 pages/s take at least 0.6 s; at a 25% CPU budget
# the pass uses at most about a third of a core (the machine may be busy:
# only upper bounds on the scanner's own speed are asserted).
set -u
cd "$(dirname "$0")/../.." || exit 2
. tests/scanner_lib.bash
scanner_test_init
memhog_start -m 0 0 0 65536 0 0 0 5
pid=$HOG_PID size=$HOG_SIZE

l=$($BUILD/tests/scanner_probe -r 100000 "g:$pid:qemu:$size" | grep '^pass=1') || { echo "FAIL: probe"; exit 1; }
echo "rate 100000: $l"
wall=$(field "$l" wall_usec)
[ "$(field "$l" scanned)" = 65536 ] || { echo "FAIL: scanned $(field "$l" scanned), want 65536"; exit 1; }
[ "$wall" -ge 600000 ] || { echo "FAIL: 65536 pages in $wall us at 100000 pages/s"; exit 1; }

l=$($BUILD/tests/scanner_probe -c 25 "g:$pid:qemu:$size" | grep '^pass=1') || { echo "FAIL: probe"; exit 1; }
echo "cpu 25%: $l"
ratio=$(awk -v c="$(field "$l" cpu_sec)" -v w="$(field "$l" wall_usec)" 'BEGIN { printf "%d", c * 1e6 * 100 / w }')
echo "CPU used: $ratio% of a core"
[ "$ratio" -le 35 ] || { echo "FAIL: the pass used $ratio% of a core with a 25% budget"; exit 1; }
echo PASS
