#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Configure (or reconfigure) a build directory and build it.
# Usage: build.sh DIR [MESON_OPTION...] [-- NINJA_TARGET...]
# Extra options for every build can be given in DSLAB_MESON_OPTS.
set -euo pipefail
dir=$1
shift
opts=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do
	opts+=("$1")
	shift
done
[ $# -eq 0 ] || shift
# shellcheck disable=SC2206 # DSLAB_MESON_OPTS is a list of words
opts+=(${DSLAB_MESON_OPTS:-})

if [ -f "$dir/build.ninja" ]; then
	[ ${#opts[@]} -eq 0 ] || meson configure "$dir" "${opts[@]}"
else
	meson setup "$dir" "${opts[@]}"
fi
ninja -C "$dir" "$@"
