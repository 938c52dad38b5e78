/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The dslab authors
 */
/*
 * Races of the nolock calls' deferred and remote paths (deferred.cpp,
 * remote.cpp) against barriers: one held open by race windows
 * (DSLAB_RACE_HAND_OVER_*, dslab_fault.h), one by timer signals into lcores
 * doing remote frees. In dslab_nolock_test (4 lcores, 2 LOGICAL sockets).
 */
#define RTE_USE_C11_MEM_MODEL 1

#include <atomic>
#include <chrono>
#include <thread>

#include <csignal>
#include <cinttypes>
#include <ctime>
#include <unistd.h>

#include <gtest/gtest.h>

#include <rte_lcore.h>

#include <dslab.h>
#include <dslab_fault.h>
#include <dslab_nolock.h>
#include <dslab_rcu.h>

#include "test_util.h"

namespace {

using namespace dslab_test;

struct RvObj {
	uint64_t v[6];
	dslab_rcu_head head;
};
static_assert(sizeof(RvObj) == 64, "kmalloc-64");

struct HandOverCtx {
	RvObj *rcu_obj;
	void *plain_obj;
	std::atomic<unsigned> lc{~0u};
	std::atomic<bool> pushed{false}, taken{false}, barrier_done{false}, timed_out{false};
};
HandOverCtx g_ho;

void hand_over_cb(dslab_race_point point, unsigned arg, void *)
{
	if (arg != g_ho.lc.load())
		return;
	if (point == DSLAB_RACE_HAND_OVER_BEGIN && !g_ho.pushed.exchange(true)) {
		/* A signal handler's nolock calls landing here: lcore_uninit
		 * holds the busy mark, so both are deferred to the lcore's own
		 * list, which the hand-over then moves. */
		dslab_kfree_rcu_nolock(g_ho.rcu_obj, head);
		dslab_kfree_nolock(g_ho.plain_obj);
		return;
	}
	if (point == DSLAB_RACE_HAND_OVER_TAKEN && !g_ho.taken.exchange(true)) {
		/* Hold the hand-over here until the barrier is over (or 1 s,
		 * for a barrier that waits for us). */
		auto until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
		while (!g_ho.barrier_done.load()) {
			if (std::chrono::steady_clock::now() >= until) {
				g_ho.timed_out = true;
				break;
			}
			usleep(200);
		}
	}
}

/* A registered thread leaves (rte_thread_unregister(): dslab's lcore
 * callback); a signal handler's kfree_rcu_nolock and kfree_nolock land
 * after the callback ran its deferred list: deferred_hand_to_shared()
 * takes the list and pushes it onto the shared one. A barrier that begins
 * after those calls returned, while the hand-over holds the entries (in
 * neither list), must still cover them. */
TEST(NolockRace, BarrierCoversAHandOverInFlight)
{
	dslab_cache *k = dslab_cache_lookup("kmalloc-64");
	ASSERT_NE(k, nullptr);
	g_ho.rcu_obj = static_cast<RvObj *>(dslab_kmalloc(sizeof(RvObj), 0));
	g_ho.plain_obj = dslab_kmalloc(64, 0);
	ASSERT_NE(g_ho.rcu_obj, nullptr);
	ASSERT_NE(g_ho.plain_obj, nullptr);
	struct dslab_cache_stats s0 = stats_of(k);
	dslab_race_hook_set(hand_over_cb, nullptr);
	std::thread t([&] {
		if (rte_thread_register() != 0)
			return;
		g_ho.lc = rte_lcore_id();
		void *p = dslab_kmalloc(64, 0); /* some per-lcore state */
		dslab_kfree(p);
		rte_thread_unregister();
	});
	auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
	while (!g_ho.taken.load() && std::chrono::steady_clock::now() < until)
		usleep(100);
	if (!g_ho.taken.load()) {
		g_ho.barrier_done = true;
		t.join();
		dslab_race_hook_set(nullptr, nullptr);
		FAIL() << "the hand-over never took a list";
	}
	/* Both nolock calls returned before this barrier began. */
	dslab_rcu_barrier();
	const struct dslab_cache_stats s1 = stats_of(k);
	const struct dslab_cache_stats d = delta(s1, s0);
	g_ho.barrier_done = true;
	t.join();
	dslab_race_hook_set(nullptr, nullptr);
	if (g_ho.timed_out.load())
		printf("the barrier waited for the hand-over\n");
	EXPECT_EQ(d.objects_deferred, 0u)
		<< "dslab_rcu_barrier() returned with deferred frees from before it still in flight";
	EXPECT_EQ(d.objects_pending_rcu, 0u);
	EXPECT_EQ(s1.objects_in_use, s0.objects_in_use - 2)
		<< "both objects freed when the barrier returned";
	/* Clean up whatever is left. */
	dslab_quiescent();
	dslab_rcu_barrier();
}

} // namespace

/* ---- signals into remote frees ------------------------------------------ */
namespace {

constexpr uint64_t kLive2 = 0x4c4956454f424a32ull, kFree2 = 0x46524545464f4f32ull;

struct RHState {
	volatile int armed;
	uint64_t signals, allocs, rcu_frees, frees, fails, dups, corrupt;
	unsigned n;
	RvObj *held[64];
	int other;
};
RHState g_rh[RTE_MAX_LCORE];

void rstamp(RvObj *o, uint64_t id)
{
	for (unsigned i = 1; i < 6; i++)
		o->v[i] = id * 31 + i;
	o->v[0] = kLive2;
}
bool rintact(const RvObj *o, uint64_t *id_out = nullptr)
{
	if (o->v[0] != kLive2)
		return false;
	uint64_t id = (o->v[1] - 1) / 31;
	for (unsigned i = 1; i < 6; i++)
		if (o->v[i] != id * 31 + i)
			return false;
	if (id_out)
		*id_out = id;
	return true;
}

void on_remote_timer(int)
{
	int se = errno, sr = rte_errno;
	unsigned lc = rte_lcore_id();
	if (lc < RTE_MAX_LCORE) {
		RHState &h = g_rh[lc];
		h.signals++;
		if (h.armed) {
			auto *o = static_cast<RvObj *>(dslab_kmalloc_nolock(64, 0, h.other));
			if (o != nullptr) {
				if (o->v[0] == kLive2)
					h.dups++;
				rstamp(o, (uint64_t)lc << 40 | h.allocs++);
				if (h.n < 64)
					h.held[h.n++] = o;
			} else {
				h.fails++;
			}
			if (h.n > 32) {
				RvObj *x = h.held[--h.n];
				if (!rintact(x))
					h.corrupt++;
				x->v[0] = kFree2;
				if (h.signals & 1) {
					dslab_kfree_rcu_nolock(x, head);
					h.rcu_frees++;
				} else {
					dslab_kfree_nolock(x);
					h.frees++;
				}
			}
		}
	}
	rte_errno = sr;
	errno = se;
}

std::atomic<uint64_t> g_rbad{0};

int remote_signal_loop(unsigned want)
{
	unsigned lc = rte_lcore_id();
	RHState &h = g_rh[lc];
	int other = dslab_lcore_socket(lc) == 0 ? 1 : 0;
	h.other = other;
	if (dslab_rcu_online() != 0)
		return -1;
	timer_t timer;
	h.armed = 1;
	if (!start_thread_timer(&timer, 30 * 1000)) /* 33 kHz */
		return -2;
	constexpr unsigned kLive = 512;
	RvObj *live[kLive] = {};
	unsigned hd = 0, cnt = 0;
	uint64_t it = 0, seq = 0;
	dslab_cache *k = dslab_cache_lookup("kmalloc-64");
	auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
	/* (Under QEMU, TCG, all of the signals took 29 s: a third of them there.) */
	while (h.signals < want && std::chrono::steady_clock::now() < deadline) {
		for (unsigned j = 0; j < 256; j++, it++) {
			if (cnt == kLive || (cnt > 0 && it % 3 == 0)) {
				RvObj *o = live[hd];
				hd = (hd + 1) % kLive;
				cnt--;
				if (!rintact(o))
					g_rbad++;
				o->v[0] = kFree2;
				if (it % 7 == 0)
					dslab_kfree_rcu(o, head);
				else
					dslab_free(k, o);
				continue;
			}
			/* Another socket's object: its free goes by ring. */
			auto *o = static_cast<RvObj *>(dslab_alloc_node(k, 0, other));
			if (o == nullptr)
				continue;
			if (o->v[0] == kLive2)
				g_rbad++;
			rstamp(o, (uint64_t)(lc + 64) << 40 | seq++);
			live[(hd + cnt) % kLive] = o;
			cnt++;
		}
		dslab_quiescent();
	}
	h.armed = 0;
	timer_delete(timer);
	while (cnt > 0) {
		dslab_free(k, live[hd]);
		hd = (hd + 1) % kLive;
		cnt--;
	}
	for (unsigned i = 0; i < h.n; i++)
		dslab_kfree(h.held[i]);
	h.n = 0;
	dslab_quiescent();
	dslab_rcu_offline();
	return 0;
}

TEST(NolockRace, SignalsIntoRemoteFreesLoseNothing)
{
	dslab_cache *k = dslab_cache_lookup("kmalloc-64");
	ASSERT_TRUE(set_timer_handler(on_remote_timer));
	for (auto &h : g_rh)
		h = RHState{};
	dslab_rcu_barrier();
	struct dslab_cache_stats s0 = stats_of(k);
	const unsigned want = race_rounds(20000, 2000);
	auto body = [&]() -> int { return remote_signal_loop(want); };
	run_on({1, 2}, body);
	signal(SIGRTMIN, SIG_DFL);
	dslab_rcu_barrier();
	dslab_rcu_barrier();
	struct dslab_cache_stats s = stats_of(k);
	struct dslab_cache_stats d = delta(s, s0);
	uint64_t sig = 0, dups = 0, corrupt = 0, rcu = 0, allocs = 0;
	for (unsigned lc : {1u, 2u}) {
		sig += g_rh[lc].signals;
		dups += g_rh[lc].dups;
		corrupt += g_rh[lc].corrupt;
		rcu += g_rh[lc].rcu_frees;
		allocs += g_rh[lc].allocs;
	}
	printf("%" PRIu64 " signals, %" PRIu64 " handler allocs, %" PRIu64 " handler kfree_rcu_nolock, "
	       "%" PRIu64 " free_rcu_remote_ring\n", sig, allocs, rcu, d.free_rcu_remote_ring);
	EXPECT_GT(rcu, 0u) << "no handler ran a kfree_rcu_nolock: nothing was tested";
	EXPECT_EQ(g_rbad.load(), 0u);
	EXPECT_EQ(dups, 0u);
	EXPECT_EQ(corrupt, 0u);
	EXPECT_EQ(s.objects_in_use, s0.objects_in_use) << "objects lost or freed twice";
	EXPECT_EQ(d.objects_deferred, 0u);
	EXPECT_EQ(d.objects_in_transit, 0u);
	EXPECT_EQ(s.objects_pending_rcu, 0u);
}

} // namespace
