#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The dslab authors
#
# Build the libFuzzer target (clang, ASan + UBSan, checked build) and fuzz
# the dslab API for FUZZ_SECONDS (default 120) from the seed corpus. The
# corpus is copied to a temporary directory first: the repository is left
# as it is. Exits non-zero when the fuzzer finds a crash; the reproducer is
# left in FUZZ_ARTIFACTS (default build-fuzz/artifacts/).
#
# Environment:
#   FUZZ_SECONDS    run time (default 120)
#   FUZZ_CHECKED    true (default) or false: -Dchecked of the build
#   FUZZ_BUILD      build directory (default build-fuzz)
#   FUZZ_ARTIFACTS  where crash reproducers go (default $FUZZ_BUILD/artifacts)
#   FUZZ_ARGS       more libFuzzer arguments (e.g. "-jobs=2 -workers=2")
#   FUZZ_CORPUS     keep the working corpus in this directory (seeded from
#                   fuzz/corpus/, kept afterwards) instead of a temporary one
#   FUZZ_MEM=dpdk   slabs from DPDK memory instead of mmap
#   FUZZ_STRICT=1   contract notes (wrong error code...) become crashes too
# Needs clang-14, libclang-rt-14-dev and libfuzzer-14-dev.
#
# Reproduce a crash:
#   FUZZ_TRACE=1 build-fuzz/fuzz/dslab_api_fuzz build-fuzz/artifacts/crash-...
set -eu

cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-120}
checked=${FUZZ_CHECKED:-true}
build=${FUZZ_BUILD:-build-fuzz}
artifacts=${FUZZ_ARTIFACTS:-$build/artifacts}

if [ ! -f "$build/build.ninja" ]; then
	# Coverage feedback from the library too. Not -fsanitize=fuzzer-no-link:
	# its trace-cmp hooks in the library (whose comparisons are on internal
	# state, not on input bytes) halve the executions per second; the
	# target itself is built with -fsanitize=fuzzer (fuzz/meson.build).
	# -Wno-*: the project's GCC-only -Wno-volatile and DPDK's volatile ++.
	cov=-fsanitize-coverage=inline-8bit-counters,pc-table
	CC=${CC:-clang-14} CXX=${CXX:-clang++-14} meson setup "$build" -Dfuzz=true -Dtests=disabled \
		-Dbench=disabled -Dexamples=false -Db_sanitize=address,undefined \
		-Db_lundef=false -Dchecked="$checked" -Dbuildtype=debugoptimized \
		"-Dc_args=$cov" \
		"-Dcpp_args=$cov -Wno-unknown-warning-option -Wno-deprecated-volatile"
else
	meson configure "$build" -Dchecked="$checked" >/dev/null
fi
ninja -C "$build" fuzz/dslab_api_fuzz

if [ -n "${FUZZ_CORPUS:-}" ]; then
	corpus=$FUZZ_CORPUS
	mkdir -p "$corpus"
else
	corpus=$(mktemp -d "${TMPDIR:-/tmp}/dslab-fuzz-corpus.XXXXXX")
	trap 'rm -rf "$corpus"' EXIT INT TERM
fi
cp fuzz/corpus/* "$corpus/"
mkdir -p "$artifacts"

export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
rc=0
# shellcheck disable=SC2086 # FUZZ_ARGS is a list of arguments
"$build/fuzz/dslab_api_fuzz" "$corpus" -max_total_time="$seconds" \
	-rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$artifacts/" \
	${FUZZ_ARGS:-} || rc=$?
if [ "$rc" -ne 0 ]; then
	echo "fuzz.sh: the fuzzer failed (exit $rc); reproducers in $artifacts/:" >&2
	ls -l "$artifacts" >&2 || true
	exit "$rc"
fi
echo "fuzz.sh: no crash in ${seconds}s ($(find "$corpus" -type f | wc -l) corpus entries)"
