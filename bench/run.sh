#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Run dslab_alloc_bench the way bench/README.md reports it.
#
# Usage: bench/run.sh [BUILD_DIR] [BENCHMARK_ARG...]
#   BUILD_DIR       a build directory with the benchmark (default: build-bench,
#                   made with: meson setup build-bench --buildtype=release -Dtests=disabled)
#   BENCHMARK_ARG   extra arguments for every run (e.g. --smoke, or
#                   --benchmark_repetitions=1)
# Environment:
#   BENCH_OUT=DIR   also write each run's JSON to DIR/<part>.json
#   WS_ROUNDS=N     rounds of the working set over all peers (default 3)
#
# Two parts:
#   1. every benchmark but the working set, in one process;
#   2. BM_WorkingSet, each peer in a process of its own, so that the RSS
#      growth it reports (rss_first_B) is that peer's alone; WS_ROUNDS
#      (default 3) rounds over the peers.
# Every run: 5 repetitions, aggregates only (quote the medians).
#
# GLIBC_TUNABLES: Debian's libjemalloc.so.2 is built with the initial-exec
# TLS model; dlopen'ed, it needs static TLS space that glibc only reserves
# when asked (otherwise dlopen fails with "cannot allocate memory in static
# TLS block" and the jemalloc benchmarks are skipped).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=build-bench
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
	build=$1
	shift
fi
case $build in /*) ;; *) build=$top/$build ;; esac
exe=$build/bench/dslab_alloc_bench
[ -x "$exe" ] || { echo "run.sh: $exe not built" >&2; exit 1; }

export GLIBC_TUNABLES=glibc.rtld.optional_static_tls=16384
common=(--benchmark_repetitions=5 --benchmark_report_aggregates_only=true)

run() { # part filter [args...]
	local part=$1 filter=$2 out=()
	shift 2
	if [ -n "${BENCH_OUT:-}" ]; then
		mkdir -p "$BENCH_OUT"
		out=(--benchmark_out="$BENCH_OUT/$part.json" --benchmark_out_format=json)
	fi
	echo "+ $exe ${common[*]} --benchmark_filter='$filter' ${out[*]} $*"
	"$exe" "${common[@]}" --benchmark_filter="$filter" "${out[@]}" "$@"
}

run main '^BM_(Pair|Burst|BurstBulk|Kmalloc|ProdCons)/' "$@"
# The working set is memory-bound and what it costs drifts with the VM's
# placement over minutes (dslab's free took 11.6 ns in one run, 20.4 in the
# next): WS_ROUNDS rounds over all peers, so that each is compared with the
# others of its round (bench/table.py prints every round).
for round in $(seq 1 "${WS_ROUNDS:-3}"); do
	for peer in dslab mempool glibc jemalloc mimalloc tcmalloc; do
		run "ws_r${round}_$peer" "^BM_WorkingSet/$peer/" "$@"
	done
done
