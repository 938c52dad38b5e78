/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The dslab authors
 */
/*
 * The machine's cache-line transfer time between two lcores, for a
 * benchmark's context: one line handed back and forth, ns per one-way
 * handoff. On a shared VM it is bimodal (about 40 ns or 200 ns on the
 * development machine, as its vCPUs land on nearby or distant host cores)
 * and every cross-lcore figure follows it, so each run records the one it
 * had, and each benchmark the one it started in (counter line_ns; 10000
 * handoffs, 2 ms at 200 ns; bench/by_state.py groups repetitions by it).
 */
#ifndef DSLAB_BENCH_LINE_LATENCY_H
#define DSLAB_BENCH_LINE_LATENCY_H

#include <atomic>
#include <chrono>
#include <cstdint>

#include <rte_launch.h>
#include <rte_lcore.h>

namespace line_latency {

constexpr uint64_t kHandoffs = 200000; /* default: 40 ms at 200 ns */
alignas(64) inline std::atomic<uint64_t> g_line{0};
inline uint64_t g_handoffs;

inline int responder(void *)
{
	for (uint64_t i = 1; i < g_handoffs; i += 2) {
		while (g_line.load(std::memory_order_acquire) != i)
			;
		g_line.store(i + 1, std::memory_order_release);
	}
	return 0;
}

/** ns per one-way handoff between the calling lcore and @p other (idle);
 *  -1 if it cannot be launched there. */
inline double measure(unsigned other, uint64_t handoffs = kHandoffs)
{
	g_handoffs = handoffs;
	g_line.store(0);
	if (rte_eal_remote_launch(responder, nullptr, other) != 0)
		return -1;
	auto t0 = std::chrono::steady_clock::now();
	for (uint64_t i = 0; i < handoffs; i += 2) {
		while (g_line.load(std::memory_order_acquire) != i)
			;
		g_line.store(i + 1, std::memory_order_release);
	}
	rte_eal_wait_lcore(other);
	auto t1 = std::chrono::steady_clock::now();
	return std::chrono::duration<double, std::nano>(t1 - t0).count() / double(handoffs);
}

/** The counter a benchmark records before its loop (@p other idle). */
inline double before_run(unsigned other) { return measure(other, 10000); }

} // namespace line_latency

#endif
