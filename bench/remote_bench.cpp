/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The dslab authors
 */
/*
 * dslab_remote_bench: remote frees and the nolock calls, in one run.
 *
 * EAL lcores 0 and 1 on their own cores, as 2 LOGICAL sockets through the
 * topology override (lcore 0 socket 0, lcore 1 socket 1; one NUMA node
 * underneath: no cross-socket memory traffic is measured, only the
 * software's cost). Lcore 1 plays the home socket: it calls
 * dslab_quiescent() in a loop (which drains its ring) while lcore 0 frees.
 *
 *   BM_Free/<what>        lcore 0 frees 1024 objects, timed (manual time,
 *                         steady_clock around the free loop); allocated
 *                         untimed before each round:
 *     local               dslab objects of socket 0 (dslab_alloc)
 *     remote_ring         socket 1's objects (dslab_alloc_node(c, 0, 1)),
 *                         DSLAB_REMOTE_RING: batched, one ring enqueue per
 *                         DSLAB_REMOTE_BATCH; between rounds (untimed) the home lcore takes
 *                         every object home, so the ring has room: this is
 *                         the sender's cost, the home lcore's is its own
 *     remote_direct       the same objects, DSLAB_REMOTE_DIRECT: into
 *                         socket 1's slabs under their lock
 *     mempool             rte_mempool_put of objects got from a pool with a
 *                         512-object lcore cache (rte_mempool keeps no
 *                         socket rule: a put from any lcore lands in that
 *                         lcore's cache)
 *   BM_KPair/<what>       32 x kmalloc(64) then 32 frees, per object:
 *     kfree               dslab_kmalloc + dslab_kfree
 *     kfree_nolock        dslab_kmalloc + dslab_kfree_nolock
 *     nolock              dslab_kmalloc_nolock + dslab_kfree_nolock
 *     mempool             rte_mempool_get + rte_mempool_put
 *
 * The ring and direct runs re-initialise dslab (untimed). Flags: --smoke
 * (a few iterations, for meson test).
 */
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <unistd.h>

#include <benchmark/benchmark.h>
#include <rte_eal.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mempool.h>
#include <rte_pause.h>

#include <dslab.h>

#include "line_latency.h"

#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define RB_COLLECT() CALLGRIND_TOGGLE_COLLECT
#else
#define RB_COLLECT() do { } while (0)
#endif

namespace {

constexpr unsigned kRound = 1024;
constexpr unsigned kBurst = 32;
constexpr unsigned kHome = 1; /* lcore of logical socket 1 */
bool g_smoke;
/* --callgrind: no home lcore (one thread, for instruction counts): a
 * deferred-work barrier takes the ring home between rounds; callgrind's
 * collection is on during the timed loops only (run valgrind with
 * --collect-atstart=no). */
bool g_callgrind;

int g_mode = -1; /* DSLAB_REMOTE_* dslab runs in */
dslab_cache *g_cache;
rte_mempool *g_mp;
std::atomic<bool> g_stop{false};
bool g_home_running;

int home_loop(void *)
{
	while (!g_stop.load(std::memory_order_relaxed)) {
		dslab_quiescent();
		rte_pause();
	}
	dslab_quiescent();
	return 0;
}

void stop_home()
{
	if (!g_home_running)
		return;
	g_stop.store(true);
	rte_eal_wait_lcore(kHome);
	g_home_running = false;
}

bool start_home()
{
	g_stop.store(false);
	if (rte_eal_remote_launch(home_loop, nullptr, kHome) != 0)
		return false;
	g_home_running = true;
	return true;
}

bool ensure_mode(int mode)
{
	if (g_mode == mode)
		return true;
	stop_home();
	if (g_cache != nullptr)
		dslab_cache_destroy(g_cache);
	g_cache = nullptr;
	dslab_fini();
	dslab_config cfg{};
	cfg.remote_free = (uint32_t)mode;
	if (dslab_init(&cfg) != 0)
		return false;
	g_cache = dslab_cache_create("bench_remote", 64, nullptr);
	if (g_cache == nullptr)
		return false;
	if (!g_callgrind && !start_home())
		return false;
	g_mode = mode;
	return true;
}

/* The machine's state this benchmark starts in (line_latency.h), measured
 * with the home lcore stopped. */
double line_ns_now()
{
	stop_home();
	double ns = line_latency::before_run(kHome);
	start_home();
	return ns;
}

enum What { LOCAL, REMOTE_RING, REMOTE_DIRECT, MEMPOOL };
const char *const kWhat[] = {"local", "remote_ring", "remote_direct", "mempool"};

void BM_Free(benchmark::State &state, int what)
{
	if (!ensure_mode(what == REMOTE_DIRECT ? DSLAB_REMOTE_DIRECT : DSLAB_REMOTE_RING)) {
		state.SkipWithError("dslab re-init failed");
		return;
	}
	if (!g_smoke && !g_callgrind)
		state.counters["line_ns"] = line_ns_now();
	std::vector<void *> objs(kRound);
	for (auto _ : state) {
		for (unsigned i = 0; i < kRound; i++) {
			void *o = nullptr;
			switch (what) {
			case LOCAL: o = dslab_alloc(g_cache, 0); break;
			case REMOTE_RING:
			case REMOTE_DIRECT: o = dslab_alloc_node(g_cache, 0, 1); break;
			case MEMPOOL:
				if (rte_mempool_get(g_mp, &o) != 0)
					o = nullptr;
				break;
			}
			if (o == nullptr) {
				state.SkipWithError("allocation failed");
				return;
			}
			objs[i] = o;
		}
		auto t0 = std::chrono::steady_clock::now();
		RB_COLLECT();
		if (what == MEMPOOL) {
			for (void *o : objs)
				rte_mempool_put(g_mp, o);
		} else {
			for (void *o : objs)
				dslab_free(g_cache, o);
		}
		RB_COLLECT();
		auto t1 = std::chrono::steady_clock::now();
		state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
		if (what == REMOTE_RING && g_callgrind) {
			dslab_quiescent();
			dslab_deferred_barrier();
		} else if (what == REMOTE_RING) {
			/* Untimed: send the partial batch and let the home lcore
			 * take everything home, so that each round measures the
			 * sender with room in the ring (the steady state of a
			 * home socket that keeps up). */
			dslab_quiescent();
			for (;;) {
				struct dslab_cache_stats s;
				dslab_cache_stats(g_cache, &s);
				if (s.objects_in_transit == 0)
					break;
				rte_pause();
			}
		}
	}
	state.SetItemsProcessed(state.iterations() * kRound);
	state.counters["t_free"] = benchmark::Counter(double(state.iterations()) * kRound,
						      benchmark::Counter::kIsRate |
							      benchmark::Counter::kInvert);
	if (what != MEMPOOL) {
		struct dslab_cache_stats s;
		dslab_cache_stats(g_cache, &s);
		state.counters["ring_full"] = double(s.remote_ring_full);
	}
}

enum KWhat { K_KFREE, K_KFREE_NOLOCK, K_NOLOCK, K_MEMPOOL };
const char *const kKWhat[] = {"kfree", "kfree_nolock", "nolock", "mempool"};

void BM_KPair(benchmark::State &state, int what)
{
	if (!ensure_mode(DSLAB_REMOTE_RING)) {
		state.SkipWithError("dslab re-init failed");
		return;
	}
	void *objs[kBurst];
	/* A run-time size, as an application's. */
	volatile size_t vsize = 64;
	const size_t size = vsize;
	/* Warm: the main sheaf holds a burst (kmalloc_nolock never refills
	 * it; kfree_nolock puts the burst back). */
	for (auto &o : objs)
		o = dslab_kmalloc(size, 0);
	for (void *o : objs)
		dslab_kfree(o);
	for (auto _ : state) {
		RB_COLLECT();
		switch (what) {
		case K_KFREE:
			for (auto &o : objs)
				o = dslab_kmalloc(size, 0);
			benchmark::ClobberMemory();
			for (void *o : objs)
				dslab_kfree(o);
			break;
		case K_KFREE_NOLOCK:
			for (auto &o : objs)
				o = dslab_kmalloc(size, 0);
			benchmark::ClobberMemory();
			for (void *o : objs)
				dslab_kfree_nolock(o);
			break;
		case K_NOLOCK:
			for (auto &o : objs)
				o = dslab_kmalloc_nolock(size, 0, -1);
			benchmark::ClobberMemory();
			for (void *o : objs)
				dslab_kfree_nolock(o);
			break;
		case K_MEMPOOL:
			for (auto &o : objs)
				if (rte_mempool_get(g_mp, &o) != 0)
					o = nullptr;
			benchmark::ClobberMemory();
			for (void *o : objs)
				rte_mempool_put(g_mp, o);
			break;
		}
		RB_COLLECT();
		if (objs[0] == nullptr || objs[kBurst - 1] == nullptr) {
			state.SkipWithError("allocation failed");
			return;
		}
		benchmark::ClobberMemory();
	}
	state.SetItemsProcessed(state.iterations() * kBurst);
	state.counters["t_pair"] = benchmark::Counter(double(state.iterations()) * kBurst,
						      benchmark::Counter::kIsRate |
							      benchmark::Counter::kInvert);
}

} // namespace

int main(int argc, char **argv)
{
	int out = 1;
	for (int i = 1; i < argc; i++) {
		if (std::string(argv[i]) == "--smoke")
			g_smoke = true;
		else if (std::string(argv[i]) == "--callgrind")
			g_callgrind = true;
		else
			argv[out++] = argv[i];
	}
	argc = out;
	argv[argc] = nullptr;

	std::string prefix = "--file-prefix=dslab_rbench" + std::to_string(getpid());
	const char *eal[] = {argv[0], "--no-huge", "--no-pci", "-m", "512", "--no-shconf",
			     prefix.c_str(), "--lcores=0@0,1@1", "--log-level=lib.eal:error"};
	if (rte_eal_init(int(sizeof(eal) / sizeof(eal[0])), const_cast<char **>(eal)) < 0) {
		fprintf(stderr, "rte_eal_init failed: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	setenv("DSLAB_TOPOLOGY", "0:0,1:1", 1); /* 2 LOGICAL sockets */
	if (dslab_init(nullptr) != 0) {
		fprintf(stderr, "dslab_init failed\n");
		return 1;
	}
	g_mp = rte_mempool_create("bench_rmp", 16383, 64, 512, 0, nullptr, nullptr, nullptr,
				  nullptr, SOCKET_ID_ANY, 0);
	if (g_mp == nullptr) {
		fprintf(stderr, "rte_mempool_create failed\n");
		return 1;
	}
	for (int w = LOCAL; w <= MEMPOOL; w++) {
		auto *b = benchmark::RegisterBenchmark((std::string("BM_Free/") + kWhat[w]).c_str(),
						       BM_Free, w);
		b->UseManualTime()->Unit(benchmark::kMicrosecond);
		if (g_smoke)
			b->Iterations(2);
		else if (g_callgrind)
			b->Iterations(100); /* Ir / (100 * 1024): per free */
	}
	for (int w = K_KFREE; w <= K_MEMPOOL; w++) {
		auto *b = benchmark::RegisterBenchmark((std::string("BM_KPair/") + kKWhat[w]).c_str(),
						       BM_KPair, w);
		if (g_smoke)
			b->Iterations(10);
		else if (g_callgrind)
			b->Iterations(10000); /* Ir / (10000 * 32): per pair */
	}
	benchmark::Initialize(&argc, argv);
	if (benchmark::ReportUnrecognizedArguments(argc, argv))
		return 2;
	benchmark::AddCustomContext("topology", "2 LOGICAL sockets (DSLAB_TOPOLOGY=0:0,1:1), one NUMA node");
	/* The run's state of the machine (line_latency.h): at the start in
	 * the context, at the end on stderr. */
	if (!g_smoke && !g_callgrind)
		benchmark::AddCustomContext("line_transfer_ns",
					    std::to_string(line_latency::measure(kHome)));
	benchmark::RunSpecifiedBenchmarks();
	benchmark::Shutdown();

	stop_home();
	if (!g_smoke && !g_callgrind)
		fprintf(stderr, "line_transfer_ns at the end: %.1f\n", line_latency::measure(kHome));
	if (g_cache != nullptr)
		dslab_cache_destroy(g_cache);
	rte_mempool_free(g_mp);
	dslab_fini();
	rte_eal_cleanup();
	return 0;
}
