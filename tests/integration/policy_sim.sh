#!/bin/bash
# The policy's trace simulator: every scenario replayed through
# policy_decide(); the properties (floors, no OOM, bounded over-budget time,
# no oscillation, distress answered within 5 s) are asserted at every
# step. Builds the simulator in the caller's build directory if needed.
set -u
cd "$(dirname "$0")/../.." || exit 2
B=${KSMD_BUILD:-build}
# `make tests` builds it with the build's own flags; build it only if missing.
if [ ! -x "$B/tests/policy_sim" ]; then
    make -s B="$B" "$B/tests/policy_sim" >/dev/null || { echo "build of policy_sim failed"; exit 1; }
fi
exec "$B/tests/policy_sim" --check
