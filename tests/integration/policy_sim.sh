#!/bin/bash
# The policy's trace simulator: every scenario replayed through
# policy_decide(); the properties (floors, no OOM, bounded over-budget time,
# no oscillation, distress answered within 2 ticks) are asserted at every
# step. Builds the simulator in the caller's build directory if needed.
set -u
cd "$(dirname "$0")/../.." || exit 2
B=${KSMD_BUILD:-build}
make -s B="$B" "$B/tests/policy_sim" >/dev/null || { echo "build of policy_sim failed"; exit 1; }
exec "$B/tests/policy_sim" --check
