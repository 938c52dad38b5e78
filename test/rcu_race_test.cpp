/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The dslab authors
 */
/*
 * Barrier races opened wide: dslab calls a test callback at named points
 * of its slow paths (dslab_race_hook_set(), dslab_fault.h); these tests stop
 * one thread there and drive another through the window, so that an
 * interleaving a few instructions wide happens in every run.
 *
 * In the dslab_rcu_test binary (4 lcores, 2 LOGICAL sockets); no lcore is
 * online in dslab's QSBR unless a test puts it there.
 */
#include <atomic>
#include <cstdint>

#include <unistd.h>

#include <gtest/gtest.h>

#include <rte_cycles.h>
#include <rte_lcore.h>

#include <dslab.h>
#include <dslab_fault.h>
#include <dslab_nolock.h>

#include "test_util.h"

namespace {

using dslab_test::launch;
using dslab_test::stats_of;
using dslab_test::StopWorkers;

/* One stop at a race point: the first thread to reach (point, arg) while it
 * is armed waits there until the test releases it. Static storage: a thread
 * that loaded the callback may still run it after a test has cleared it. */
struct RaceStop {
	dslab_race_point point;
	unsigned arg;
	std::atomic<bool> armed{false}, inside{false}, released{false}, passed{false};

	void reset(dslab_race_point p, unsigned a)
	{
		point = p;
		arg = a;
		inside = false;
		released = false;
		passed = false;
		armed = false;
	}
};
RaceStop g_stops[2];

void race_cb(dslab_race_point point, unsigned arg, void *)
{
	for (RaceStop &s : g_stops) {
		if (s.point != point || s.arg != arg || !s.armed.exchange(false))
			continue;
		s.inside.store(true, std::memory_order_seq_cst);
		/* Sleeping: the thread stopped here may share a core with the
		 * one the test drives (4 lcores on 2 cores). */
		while (!s.released.load(std::memory_order_acquire))
			usleep(200);
		s.passed.store(true, std::memory_order_release);
		s.inside.store(false, std::memory_order_seq_cst);
	}
}

/* Installs the callback; when the test ends, failed or not, releases every
 * stop, waits for the threads stopped there and clears the callback.
 * Declared after StopWorkers, so that it runs before the lcores are joined. */
struct RaceHook {
	RaceHook() { dslab_race_hook_set(race_cb, nullptr); }
	~RaceHook()
	{
		for (RaceStop &s : g_stops) {
			s.armed = false;
			s.released.store(true, std::memory_order_release);
		}
		for (RaceStop &s : g_stops)
			while (s.inside.load())
				sched_yield();
		dslab_race_hook_set(nullptr, nullptr);
	}
};

/* Waits (yielding) until f() holds, at most s seconds. */
template <class F> bool wait_until(F f, double s)
{
	uint64_t end = rte_get_timer_cycles() + (uint64_t)(s * rte_get_timer_hz());
	while (!f()) {
		if (rte_get_timer_cycles() > end)
			return false;
		sched_yield();
	}
	return true;
}

/* How long the test leaves a barrier to return while the other thread is
 * stopped: a barrier that does not wait for it returns in microseconds
 * (milliseconds under QEMU). A correct one cannot return at all. */
constexpr double kWrongReturn = 0.5;
/* Generous bounds for what must happen (QEMU's TCG guest, sanitizers). */
constexpr double kMustHappen = 60;

/*
 * A poller (an lcore that is not online: its dslab_quiescent() polls the
 * global lists and is never asked by a barrier) takes expired work off a
 * global list and is stopped there, holding the list's lock, before it has
 * freed the work. A per-cache barrier on another lcore must not return
 * until the poller has freed it: when it returns, no object of the cache
 * may be waiting. Before commit 8823380 the barrier read the orphan list as
 * empty, skipped its lock, found no poller counted in flight (the poller
 * counted itself only after taking) and returned with the sheaves still
 * held; a destroy then freed the cache under the poller.
 * list 0: orphaned rcu sheaves (the producer was online, went offline):
 * fails in every run with the old order of the poller and the barrier;
 * list 1: fallback batches (the producer was never online): the barrier
 * takes the fallback's lock anyway to close its open batch, so this one held
 * before that commit too; it guards the same property.
 */
void barrier_vs_poller(unsigned list)
{
	dslab_test::CachePtr c(dslab_cache_create(list == 0 ? "race_orph" : "race_fb", 64, nullptr));
	ASSERT_NE(c, nullptr);
	constexpr unsigned kObjs = 1000;
	auto producer = [&]() {
		if (list == 0 && dslab_rcu_online() != 0)
			return -1;
		for (unsigned i = 0; i < kObjs; i++)
			dslab_kvfree_rcu(dslab_alloc(c.get(), 0));
		if (list == 0)
			dslab_rcu_offline(); /* submits, hands the pending sheaves over */
		return 0;
	};
	launch(2, &producer);
	ASSERT_EQ(rte_eal_wait_lcore(2), 0);
	ASSERT_EQ(stats_of(c.get()).objects_pending_rcu, kObjs);

	std::atomic<bool> stop{false}, done{false};
	std::atomic<uint64_t> pending_at_return{UINT64_MAX};
	std::atomic<bool> returned_while_held{false};
	StopWorkers workers{stop};
	RaceHook hook;
	RaceStop &taken = g_stops[0];
	taken.reset(DSLAB_RACE_GLOBAL_TAKEN, list);
	g_stops[1].reset(DSLAB_RACE_NR_POINTS, 0);
	taken.armed = true;

	auto poller = [&]() {
		while (!stop.load(std::memory_order_acquire)) {
			dslab_quiescent();
			sched_yield();
		}
		return 0;
	};
	launch(1, &poller);
	ASSERT_TRUE(wait_until([&] { return taken.inside.load(); }, kMustHappen))
		<< "the poller never took expired work off list " << list;

	auto barrier = [&]() {
		dslab_rcu_barrier_on_cache(c.get());
		returned_while_held = taken.inside.load();
		pending_at_return = stats_of(c.get()).objects_pending_rcu;
		done = true;
		return 0;
	};
	launch(3, &barrier);
	wait_until([&] { return done.load(); }, kWrongReturn);
	EXPECT_FALSE(done.load()) << "the barrier returned while a poller held list " << list
				  << "'s work";
	taken.released.store(true, std::memory_order_release);
	ASSERT_TRUE(wait_until([&] { return done.load(); }, kMustHappen));
	EXPECT_TRUE(taken.passed.load());
	EXPECT_FALSE(returned_while_held.load());
	EXPECT_EQ(pending_at_return.load(), 0u);
	stop = true;
	rte_eal_mp_wait_lcore();
	struct dslab_cache_stats s = stats_of(c.get());
	EXPECT_EQ(s.objects_pending_rcu, 0u);
	EXPECT_EQ(s.objects_in_use, 0u);
}

TEST(RcuRace, BarrierWaitsForAPollerFreeingOrphanedSheaves) { barrier_vs_poller(0); }

TEST(RcuRace, BarrierWaitsForAPollerFreeingFallbackBatches) { barrier_vs_poller(1); }

/*
 * An lcore goes offline and straight back online while a barrier that saw
 * it online has not yet posted its request (the barrier is stopped there).
 * The lcore is then stopped in dslab_rcu_online() between publishing
 * itself online and reading its request, and the barrier goes on: it posts
 * the request and must wait for the lcore's answer, since the lcore will
 * read that request. Before commit 44739c6 dslab_rcu_online() read the
 * request before publishing: the barrier then saw the lcore offline,
 * stopped waiting and returned, and the lcore came online holding the
 * request of a barrier that had returned (naming, for a cache barrier, a
 * cache that may be freed). Test with the deferred-work barrier, which
 * waits for no grace period (the rcu barrier would also wait for the
 * stopped lcore's quiescent report and hide the window).
 */
TEST(RcuRace, AnLcoreBackOnlineDuringABarrierIsWaitedFor)
{
	constexpr unsigned kL = 1;
	std::atomic<bool> stop{false}, cycle{false}, done{false};
	std::atomic<int> phase{0};
	std::atomic<bool> returned_while_held{false};
	StopWorkers workers{stop};
	RaceHook hook;
	RaceStop &ask = g_stops[0], &online = g_stops[1];
	ask.reset(DSLAB_RACE_BARRIER_ASK, kL);
	online.reset(DSLAB_RACE_RCU_ONLINE, kL);

	auto lcore = [&]() {
		if (dslab_rcu_online() != 0)
			return -1;
		phase = 1;
		while (!cycle.load(std::memory_order_acquire))
			dslab_quiescent();
		dslab_rcu_offline();
		if (dslab_rcu_online() != 0) /* stopped inside */
			return -1;
		while (!stop.load(std::memory_order_acquire)) {
			dslab_quiescent();
			sched_yield();
		}
		dslab_rcu_offline();
		return 0;
	};
	launch(kL, &lcore);
	ASSERT_TRUE(wait_until([&] { return phase.load() == 1; }, kMustHappen));

	ask.armed = true;
	auto barrier = [&]() {
		dslab_deferred_barrier();
		returned_while_held = online.inside.load();
		done = true;
		return 0;
	};
	launch(3, &barrier);
	ASSERT_TRUE(wait_until([&] { return ask.inside.load(); }, kMustHappen))
		<< "the barrier never asked lcore " << kL;
	online.armed = true;
	cycle = true;
	ASSERT_TRUE(wait_until([&] { return online.inside.load(); }, kMustHappen))
		<< "lcore " << kL << " never came back online";
	ask.released.store(true, std::memory_order_release);
	wait_until([&] { return done.load(); }, kWrongReturn);
	EXPECT_FALSE(done.load()) << "the barrier returned before lcore " << kL
				  << " read its request";
	online.released.store(true, std::memory_order_release);
	ASSERT_TRUE(wait_until([&] { return done.load(); }, kMustHappen));
	EXPECT_TRUE(ask.passed.load());
	EXPECT_TRUE(online.passed.load());
	EXPECT_FALSE(returned_while_held.load());
}

} // namespace
