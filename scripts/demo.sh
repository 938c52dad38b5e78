#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Install what is missing, build dslab and run the demo: 4 lcores on the
# machine's cores, no hugepages, no NIC; first with DPDK's topology, then
# with two LOGICAL sockets (DSLAB_TOPOLOGY), so that frees cross sockets.
# Arguments are passed to dslab_demo instead (e.g. scripts/demo.sh -- -t 5).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
build=${DSLAB_BUILD_ROOT:-build-test}/normal
scripts/build.sh "$build" -- examples/dslab_demo

demo=$build/examples/dslab_demo
if [ $# -gt 0 ]; then
	exec "$demo" "$@"
fi
echo "=== dslab_demo: DPDK's topology"
"$demo"
echo
echo "=== dslab_demo: 2 LOGICAL sockets (DSLAB_TOPOLOGY=0:0,1:0,2:1,3:1)"
DSLAB_TOPOLOGY=0:0,1:0,2:1,3:1 "$demo"
