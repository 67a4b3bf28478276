#!/bin/bash
# ksmd's own writes to KSM's knobs are its own: from its very first tick
# (taken at start, before the loop runs) it must not see them as another
# program's, yield KSM to nobody, and leave KSM running at exit. With one
# guest and nothing else driving KSM: owners.ksm is ksmd, no outside change
# is logged, and SIGTERM gives KSM back the settings ksmd found.
. "$(dirname "$0")/../lib/common.sh"
need_bins
need_root
need_ksm
command -v jq >/dev/null || fail "jq is missing (make deps)"
T=$(mktemp -d /tmp/ksmd-ownw.XXXXXX)
cleanup_add "rm -rf $T"
ksm_save
cleanup_add ksm_restore
echo 0 > $KSM/run
BEFORE=$(ksm_snapshot)
sleep 600 &
GUEST=$!
cleanup_add "kill $GUEST 2>/dev/null"
cat > $T/ksmd.conf <<CONF
[daemon]
control_socket = $T/ksmd.sock
tick = 200ms
[stats]
enabled = no
[guest g]
pid = $GUEST
CONF
cleanup_add ksmd_stop
ksmd_start $T/ksmd.conf
sleep 2
snap_is .ksm.managed true || fail "ksmd does not drive KSM: owners $(snap .owners.ksm)"
snap_is .owners.ksm ksmd || fail "owners.ksm is '$(snap .owners.ksm)', not ksmd"
grep -q "changed by another program" "$KSMD_LOG" && fail "ksmd took its own writes for another program's: $(grep -m1 'another program' "$KSMD_LOG")"
pass_msg "ksmd's first writes are its own: it drives KSM, nothing logged as an outside change"
ksmd_stop || fail "ksmd exited with an error"
[ "$(ksm_snapshot)" = "$BEFORE" ] || fail "KSM not restored at exit: before '$BEFORE', after '$(ksm_snapshot)'"
pass_msg "KSM restored at exit ($BEFORE)"
