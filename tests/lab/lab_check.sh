#!/bin/bash
# Lab check: two real QEMU guests, 64 MiB of cross-guest-identical pages in
# each, seen from the host (KSM-mergeable QEMUs, the guest RAM mapping in
# smaps, the identical content itself), then a balloon to half the RAM.
# Skips (77) only when QEMU cannot run here; never passes without booting.
set -u
. "$(dirname "$0")/../guest/lab.sh"

SIZE_MIB=${LAB_CHECK_SIZE_MIB:-384}
FILL_MIB=64
FILL_PAGES=$((FILL_MIB * 256))
fail() { echo "FAIL: $*"; exit 1; }

lab_require || exit $?
[ "$(id -u)" = 0 ] || { echo "skip: lab check reads /proc/PID/mem and needs root"; exit 77; }

lab_start 2 "$SIZE_MIB" 7 7 || fail "guests did not boot"
echo "boot: g0 ${LAB_BOOT_SEC[0]} s, g1 ${LAB_BOOT_SEC[1]} s ($LAB_ACCEL)"

for i in 0 1; do
    out=$(lab_agent $i ping) || fail "guest $i: agent ping"
    [[ $out == "pong name=g$i seed=7" ]] || fail "guest $i: ping replied '$out'"
    out=$(lab_agent $i fill $FILL_MIB image) || fail "guest $i: fill: $out"
    echo "g$i: $out"
    [[ $out == *"pages=$FILL_PAGES"* && $out == *"pattern=image seed=7"* ]] ||
        fail "guest $i: unexpected fill reply"
done
out=$(lab_agent 0 list) || fail "list"
[[ $out == *"state=alive"* ]] || fail "fill not alive: $out"
out=$(lab_agent 0 frobnicate); rc=$?
[ $rc = 2 ] && [[ $out == error:* ]] || fail "unknown command: rc $rc, '$out'"

declare -a range=()
for i in 0 1; do
    pid=${LAB_PID[$i]}
    grep -qx 'ksm_mergeable: yes' "/proc/$pid/ksm_stat" ||
        fail "guest $i: /proc/$pid/ksm_stat does not say ksm_mergeable: yes"
    range[$i]=$(lab_ram_mapping $i) ||
        fail "guest $i: no $SIZE_MIB MiB mapping with VmFlags mg in /proc/$pid/smaps"
    echo "g$i: PID $pid mergeable, guest RAM at ${range[$i]}"
done

# The two fills must really be page-for-page identical across the guests.
census=$("$LAB_PYTHON" "$LAB_HERE/pages.py" common "${LAB_PID[0]}" "${range[0]}" \
    "${LAB_PID[1]}" "${range[1]}") || fail "page census"
echo "census: $census"
common=$("$LAB_PYTHON" -c 'import json,sys; print(json.loads(sys.argv[1])["common_pages"])' "$census")
[ "$common" -ge "$FILL_PAGES" ] || fail "only $common common pages, want >= $FILL_PAGES"

# Free the fill in guest 1 (the guest's free memory must grow by about the
# fill; its old content stays in host memory until the guest reuses the
# pages, so that is measured inside the guest).
memfree() { lab_agent 1 meminfo | awk '/^MemFree:/ {print int($2 / 1024)}'; }
before=$(memfree)
out=$(lab_agent 1 free 1) || fail "free: $out"
[ "$out" = "freed id=1" ] || fail "free replied '$out'"
after=$(memfree)
echo "g1 MemFree: $before MiB before free, $after MiB after"
[ $((after - before)) -ge $((FILL_MIB * 9 / 10)) ] || fail "free did not release the fill"
out=$(lab_agent 1 status 1); [ $? = 1 ] || fail "status of a freed fill: '$out'"

half=$((SIZE_MIB / 2))
t0=$(date +%s.%N)
for i in 0 1; do lab_balloon $i $half || fail "guest $i: balloon command"; done
for i in 0 1; do lab_wait_balloon $i $half 30 || fail "guest $i: balloon did not reach $half MiB"; done
echo "balloon: both guests at $half MiB after $(_lab_since "$t0") s"
lab_agent 0 mem

pids="${LAB_PID[*]}"
lab_stop
for pid in $pids; do
    [ -d "/proc/$pid" ] && fail "QEMU PID $pid still running after lab_stop"
done
echo "pass: lab check"
