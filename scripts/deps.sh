#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Install the Debian 12 packages dslab needs to build, test and benchmark,
# only those that are missing (apt-get, with sudo when not root).
set -euo pipefail

packages=(
	build-essential meson ninja-build pkg-config python3
	libdpdk-dev dpdk-dev libnuma-dev python3-pyelftools
	libgtest-dev libbenchmark-dev
	libjemalloc-dev libmimalloc-dev libgoogle-perftools-dev liburcu-dev
	clang-14 libclang-rt-14-dev libfuzzer-14-dev
	valgrind
)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "deps: all ${#packages[@]} packages installed"
	exit 0
fi

echo "deps: installing ${missing[*]}"
sudo=()
[ "$(id -u)" = 0 ] || sudo=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
