/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The dslab authors
 */
/*
 * kfree_rcu over DPDK QSBR: grace-period safety with a real reader lcore,
 * reuse through the barn, the flush-versus-fill race, per-cache barriers,
 * lingering destroy, headless kvfree_rcu, offline lcores, and remote frees
 * with 2 LOGICAL sockets (topology override 0:0,1:0,2:1,3:1).
 *
 * Its own binary: EAL (4 lcores on the machine's cores) and dslab are
 * initialised once in main(). Lcores 1-3 are workers.
 */
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include <dslab.h>
#include <dslab_fault.h>

#include "test_util.h"

namespace {

struct Obj {
	uint64_t stamp;
	struct dslab_rcu_head rh;
	uint64_t payload[5];
};

using dslab_test::launch;
using dslab_test::LogCapture;
using dslab_test::StopWorkers;
using dslab_test::stats_of;

/* Runs first: attaching needs no online lcore and nothing pending. */
TEST(Rcu, AttachApplicationQsbr)
{
	struct rte_rcu_qsbr *own = dslab_rcu_qsbr();
	ASSERT_NE(own, nullptr);
	size_t sz = rte_rcu_qsbr_get_memsize(RTE_MAX_LCORE);
	auto *v = static_cast<struct rte_rcu_qsbr *>(rte_zmalloc("app_qsbr", sz, RTE_CACHE_LINE_SIZE));
	ASSERT_NE(v, nullptr);
	ASSERT_EQ(rte_rcu_qsbr_init(v, RTE_MAX_LCORE), 0);
	EXPECT_EQ(dslab_rcu_attach(nullptr), -EINVAL);
	ASSERT_EQ(dslab_rcu_attach(v), 0);
	EXPECT_EQ(dslab_rcu_qsbr(), v);

	/* Shared with the application: dslab's reader shows up in it. */
	ASSERT_EQ(dslab_rcu_online(), 0);
	EXPECT_EQ(dslab_rcu_attach(own), -EBUSY);
	dslab_cache *c = dslab_cache_create("rcu_attach", 64, nullptr);
	ASSERT_NE(c, nullptr);
	auto *o = static_cast<Obj *>(dslab_alloc(c, 0));
	dslab_kfree_rcu(o, rh);
	uint64_t t = rte_rcu_qsbr_start(v);
	EXPECT_EQ(rte_rcu_qsbr_check(v, t, false), 0); /* we are online and have not reported */
	dslab_quiescent();
	EXPECT_EQ(rte_rcu_qsbr_check(v, t, false), 1);
	dslab_rcu_barrier();
	EXPECT_EQ(stats_of(c).objects_pending_rcu, 0u);
	dslab_rcu_offline();
	dslab_cache_destroy(c);
	ASSERT_EQ(dslab_rcu_attach(own), 0);
	rte_free(v);
}

/* An online lcore that calls dslab_rcu_attach() while a barrier runs: the
 * barrier holds its lock and waits for this lcore to report. The call must
 * answer EBUSY at once, not block on that lock (both would wait for ever). */
TEST(Rcu, AttachByAnOnlineLcoreDoesNotWaitForABarrier)
{
	ASSERT_EQ(dslab_rcu_online(), 0);
	std::atomic<int> done{0};
	auto waiter = [&]() {
		dslab_rcu_barrier();
		done.store(1);
		return 0;
	};
	launch(1, &waiter);
	/* Time for the barrier to take its lock and ask this lcore (if it has
	 * not yet, attach answers EBUSY all the same: the test then proves
	 * less, it does not fail). */
	rte_delay_ms(50);
	EXPECT_EQ(done.load(), 0) << "the barrier did not wait for this online lcore";
	EXPECT_EQ(dslab_rcu_attach(dslab_rcu_qsbr()), -EBUSY);
	while (done.load() == 0) {
		dslab_quiescent();
		sched_yield();
	}
	EXPECT_EQ(rte_eal_wait_lcore(1), 0);
	dslab_rcu_offline();
}

/* An lcore the application puts online in the QSBR variable itself, not
 * through dslab_rcu_online(): dslab_quiescent() reports for it, and no
 * dslab call may wait for a grace period on it without reporting for it.
 * A barrier reports for its caller; a destroy and a kvfree_rcu with no
 * pointer array fail with EDEADLK, as on a dslab reader; attach sees it
 * online. If a call hangs, a watchdog on lcore 1 reports for it after
 * 10 s, so that the test fails instead of hanging. */
TEST(Rcu, AnLcoreOnlineDirectlyInTheVariableNeverWaitsOnItself)
{
	struct rte_rcu_qsbr *v = dslab_rcu_qsbr();
	const unsigned self = rte_lcore_id();
	dslab_cache *c = dslab_cache_create("rcu_direct", 64, nullptr);
	ASSERT_NE(c, nullptr);
	void *remote = dslab_alloc_node(c, 0, 1); /* logical socket 1 */
	ASSERT_NE(remote, nullptr);
	ASSERT_EQ(rte_rcu_qsbr_thread_register(v, self), 0);
	rte_rcu_qsbr_thread_online(v, self);

	std::atomic<bool> done{false};
	std::atomic<unsigned> rescues{0};
	auto watchdog = [&]() {
		const uint64_t end = rte_get_timer_cycles() + 10 * rte_get_timer_hz();
		while (!done.load()) {
			if (rte_get_timer_cycles() > end) {
				rescues.fetch_add(1);
				rte_rcu_qsbr_quiescent(v, self);
			}
			sched_yield();
		}
		return 0;
	};
	launch(1, &watchdog);

	/* dslab_quiescent() is its report too. */
	uint64_t t = rte_rcu_qsbr_start(v);
	EXPECT_EQ(rte_rcu_qsbr_check(v, t, false), 0);
	dslab_quiescent();
	EXPECT_EQ(rte_rcu_qsbr_check(v, t, false), 1) << "dslab_quiescent() did not report";

	dslab_kvfree_rcu(dslab_alloc(c, 0)); /* no rcu sheaves here: the fallback */
	dslab_rcu_barrier();
	EXPECT_EQ(stats_of(c).objects_pending_rcu, 0u);

	rte_errno = 0;
	dslab_cache_destroy(c);
	EXPECT_EQ(rte_errno, EDEADLK);
	EXPECT_EQ(dslab_cache_lookup("rcu_direct"), c) << "destroyed";

	dslab_rcu_barrier(); /* no open pointer block left */
	ASSERT_EQ(dslab_fault_set(DSLAB_FAULT_META, 0, UINT64_MAX), 0);
	rte_errno = 0;
	dslab_kvfree_rcu(remote);
	const int kvfree_errno = rte_errno;
	dslab_fault_set(DSLAB_FAULT_META, 0, 0);
	EXPECT_EQ(kvfree_errno, EDEADLK);
	EXPECT_EQ(stats_of(c).kvfree_rcu_nomem, 1u);
	EXPECT_EQ(stats_of(c).objects_in_use, 1u); /* left allocated, not lost */

	EXPECT_EQ(dslab_rcu_attach(v), -EBUSY);

	done.store(true);
	EXPECT_EQ(rte_eal_wait_lcore(1), 0);
	EXPECT_EQ(rescues.load(), 0u) << "a call waited for this lcore's own report";
	rte_rcu_qsbr_thread_offline(v, self);
	rte_rcu_qsbr_thread_unregister(v, self);
	dslab_kvfree_rcu(remote);
	dslab_rcu_barrier();
	EXPECT_EQ(stats_of(c).objects_in_use, 0u);
	dslab_cache_destroy(c);
	EXPECT_EQ(dslab_cache_lookup("rcu_direct"), nullptr);
}

/* A reader lcore holds a reference across many reads; the writer retires
 * objects and reuses memory as fast as the spare and the barn hand it
 * back. A reused object would change under the reader. */
TEST(Rcu, GracePeriodSafetyAndReuseThroughSpareAndBarn)
{
	dslab_cache *c = dslab_cache_create("rcu_gp", sizeof(Obj), nullptr);
	ASSERT_NE(c, nullptr);
	std::atomic<Obj *> shared{nullptr};
	std::atomic<bool> stop{false};
	std::atomic<uint64_t> bad{0}, checks{0};

	auto reader = [&]() {
		dslab_rcu_online();
		while (!stop.load(std::memory_order_acquire)) {
			Obj *o = shared.load(std::memory_order_acquire);
			if (o != nullptr) {
				uint64_t s = o->stamp;
				/* Hold the reference over 64 reads, no quiescent state. */
				for (int i = 0; i < 64; i++) {
					if (o->stamp != s || o->payload[i % 5] != s)
						bad.fetch_add(1, std::memory_order_relaxed);
					checks.fetch_add(1, std::memory_order_relaxed);
				}
			}
			dslab_quiescent();
		}
		dslab_rcu_offline();
		return 0;
	};
	StopWorkers guard{stop};
	launch(1, &reader);

	ASSERT_EQ(dslab_rcu_online(), 0);
	const uint64_t n = 300000;
	for (uint64_t i = 1; i <= n; i++) {
		auto *o = static_cast<Obj *>(dslab_alloc(c, 0));
		ASSERT_NE(o, nullptr);
		memset(o, 0xa5, sizeof(*o)); /* what a reader must never see */
		o->stamp = i;
		for (auto &p : o->payload)
			p = i;
		Obj *old = shared.exchange(o, std::memory_order_acq_rel);
		dslab_kfree_rcu(old, rh);
		if ((i & 63) == 0)
			dslab_quiescent();
	}
	struct dslab_cache_stats s = stats_of(c);
	EXPECT_EQ(s.free_rcu_sheaf + s.free_rcu_sheaf_fail, n - 1);
	EXPECT_GT(s.free_rcu_sheaf, n / 2) << "the sheaf path was not taken";
	EXPECT_GT(s.rcu_sheaf_submit, 0u);
	EXPECT_GT(s.rcu_sheaf_reclaim, 0u);
	/* How many of the writer's allocations the reclaimed sheaves served
	 * (through the spare or the barn) depends on how often the reader ran
	 * (timing): asserted exactly below, on one lcore. */
	EXPECT_GT(s.barn_get + s.sheaf_swap, 0u);

	stop.store(true, std::memory_order_release);
	rte_eal_wait_lcore(1);
	dslab_kfree_rcu(shared.exchange(nullptr), rh);
	dslab_rcu_barrier();
	dslab_rcu_offline();
	s = stats_of(c);
	EXPECT_EQ(bad.load(), 0u);
	EXPECT_GT(checks.load(), 0u);
	EXPECT_EQ(s.objects_pending_rcu, 0u);
	EXPECT_EQ(s.objects_in_use, 0u);

	/* Exactly: a full rcu sheaf, once its grace period is over, serves
	 * the next allocations whole, without a refill: the lcore's own goes
	 * to its spare slot (no barn lock), or to the barn when the spare is
	 * full. Two sheaves: one of each. */
	dslab_cache_shrink(c); /* this lcore: no sheaves; the barn: empty */
	const unsigned cap = s.sheaf_capacity;
	std::vector<void *> a(2 * cap);
	for (void *&p : a)
		ASSERT_NE(p = dslab_alloc(c, 0), nullptr); /* refills, main emptied */
	ASSERT_EQ(dslab_rcu_online(), 0);
	struct dslab_cache_stats b = stats_of(c);
	for (void *p : a)
		dslab_kvfree_rcu(p);
	dslab_quiescent(); /* the only online reader: the tokens pass, */
	dslab_quiescent(); /* and the sheaves are reclaimed */
	s = stats_of(c);
	EXPECT_EQ(s.rcu_sheaf_submit - b.rcu_sheaf_submit, 2u);
	EXPECT_EQ(s.rcu_sheaf_reclaim - b.rcu_sheaf_reclaim, 2u);
	EXPECT_EQ(s.barn_put - b.barn_put, 1u) << "the second reclaimed sheaf went to the barn";
	EXPECT_EQ(s.objects_pending_rcu, 0u);
	b = s;
	std::vector<void *> again(2 * cap);
	for (void *&p : again)
		ASSERT_NE(p = dslab_alloc(c, 0), nullptr);
	s = stats_of(c);
	EXPECT_EQ(s.sheaf_swap - b.sheaf_swap, 1u) << "the first reclaimed sheaf was the spare";
	EXPECT_EQ(s.barn_get - b.barn_get, 1u) << "the second came from the barn";
	EXPECT_EQ(s.sheaf_refill - b.sheaf_refill, 0u) << "no slab refill";
	EXPECT_EQ(std::set<void *>(again.begin(), again.end()), std::set<void *>(a.begin(), a.end()));
	dslab_rcu_offline();
	for (void *p : again)
		dslab_free(c, p);
	dslab_cache_destroy(c);
}

TEST(Rcu, PartlyFilledSheafIsSubmittedAfterTheDelay)
{
	dslab_cache *c = dslab_cache_create("rcu_delay", 64, nullptr);
	ASSERT_NE(c, nullptr);
	ASSERT_EQ(dslab_rcu_online(), 0);
	const uint64_t t0 = rte_get_tsc_cycles();
	for (int i = 0; i < 5; i++)
		dslab_kvfree_rcu(dslab_alloc(c, 0));
	struct dslab_cache_stats s = stats_of(c);
	EXPECT_EQ(s.free_rcu_sheaf, 5u);
	EXPECT_EQ(s.objects_pending_rcu, 5u);
	EXPECT_EQ(s.rcu_sheaf_submit, 0u);
	dslab_quiescent(); /* too early: nothing submitted */
	/* Unless this thread was held up past the delay (valgrind, a loaded
	 * machine): then the submit is right, and the check says nothing. */
	if (rte_get_tsc_cycles() - t0 < rte_get_tsc_hz() / 2000) {
		EXPECT_EQ(stats_of(c).rcu_sheaf_submit, 0u);
	}
	std::this_thread::sleep_for(std::chrono::milliseconds(5)); /* > rcu_flush_us (1 ms) */
	dslab_quiescent(); /* submits; the only reader (us) just reported */
	dslab_quiescent(); /* reclaims */
	s = stats_of(c);
	EXPECT_EQ(s.rcu_sheaf_submit, 1u);
	EXPECT_EQ(s.rcu_sheaf_reclaim, 1u);
	EXPECT_EQ(s.objects_pending_rcu, 0u);
	dslab_rcu_offline();
	dslab_cache_destroy(c);
}

/* free_rcu_sheaf is an lcore's submitted sheaves' count plus its open
 * sheaf's size (kfree_rcu() stores no counter of its own), read inside a
 * seqcount: a reader on another lcore never sees a submitted sheaf counted
 * twice (more than was retired) or not at all (a count that goes down).
 * (On x86 the two fields share a line and the window is a cycle or two:
 * this catches a submit that moves the count wrongly, not the seqcount's
 * absence.) */
TEST(Rcu, SheafCountReadWhileSubmitting)
{
	dslab_cache *c = dslab_cache_create("rcu_count", sizeof(Obj), nullptr);
	ASSERT_NE(c, nullptr);
	std::atomic<uint64_t> retired{0};
	std::atomic<bool> stop{false};
	const uint64_t n = 300000;

	auto writer = [&]() {
		dslab_rcu_online();
		for (uint64_t i = 0; i < n && !stop.load(std::memory_order_relaxed); i++) {
			auto *o = static_cast<Obj *>(dslab_alloc(c, 0));
			if (o == nullptr)
				break;
			dslab_kfree_rcu(o, rh); /* the inline path */
			retired.store(i + 1, std::memory_order_release);
			if ((i & 63) == 0)
				dslab_quiescent();
		}
		dslab_rcu_offline();
		retired.store(UINT64_MAX, std::memory_order_release);
		return 0;
	};
	StopWorkers guard{stop};
	launch(1, &writer);

	uint64_t last = 0, reads = 0, drops = 0, over = 0;
	while (retired.load(std::memory_order_acquire) != UINT64_MAX) {
		struct dslab_cache_stats s = stats_of(c);
		uint64_t after = retired.load(std::memory_order_acquire);
		uint64_t got = s.free_rcu_sheaf + s.free_rcu_sheaf_fail;
		drops += got < last;
		/* The call in flight may be counted before it is published. */
		over += after != UINT64_MAX && got > after + 1;
		last = got;
		reads++;
	}
	rte_eal_wait_lcore(1);
	EXPECT_EQ(drops, 0u) << "a submitted sheaf went uncounted in a read";
	EXPECT_EQ(over, 0u) << "a submitted sheaf was counted twice in a read";
	EXPECT_GT(reads, 100u);
	struct dslab_cache_stats s = stats_of(c);
	EXPECT_EQ(s.free_rcu_sheaf + s.free_rcu_sheaf_fail, n);
	EXPECT_GT(s.free_rcu_sheaf, n / 2) << "the sheaf path was not taken";
	EXPECT_GT(s.rcu_sheaf_submit, n / 256);
	dslab_rcu_barrier();
	EXPECT_EQ(stats_of(c).objects_pending_rcu, 0u);
	EXPECT_EQ(stats_of(c).objects_in_use, 0u);
	dslab_cache_destroy(c);
}

/* seed 001's flush-versus-fill race: workers fill rcu sheaves while the
 * main lcore runs barriers. After each barrier, every kfree_rcu that had
 * returned before it began must be reclaimed. */
TEST(Rcu, BarrierCoversEveryReturnedCallFlushVsFill)
{
	dslab_cache_args a{};
	a.sheaf_capacity = 8; /* sheaves fill and detach often */
	dslab_cache *c = dslab_cache_create("rcu_race", 64, &a);
	ASSERT_NE(c, nullptr);
	std::atomic<bool> stop{false};
	std::atomic<uint64_t> returned[RTE_MAX_LCORE] = {};

	auto worker = [&]() {
		unsigned lc = rte_lcore_id();
		dslab_rcu_online();
		uint64_t i = 0;
		while (!stop.load(std::memory_order_acquire)) {
			void *o = dslab_alloc(c, 0);
			if (o != nullptr) {
				dslab_kvfree_rcu(o);
				returned[lc].fetch_add(1, std::memory_order_release);
			}
			if ((++i & 15) == 0)
				dslab_quiescent();
		}
		dslab_rcu_offline();
		return 0;
	};
	StopWorkers guard{stop};
	for (unsigned lc = 1; lc <= 3; lc++)
		launch(lc, &worker);

	/* Thousands of rounds; sanitizer runs set DSLAB_RACE_ROUNDS lower. */
	const unsigned rounds = dslab_test::race_rounds(2000);
	for (unsigned round = 0; round < rounds; round++) {
		uint64_t before = 0;
		for (unsigned lc = 1; lc <= 3; lc++)
			before += returned[lc].load(std::memory_order_acquire);
		dslab_rcu_barrier_on_cache(c);
		struct dslab_cache_stats s = stats_of(c);
		ASSERT_GE(s.rcu_reclaimed, before) << "round " << round;
	}
	stop.store(true, std::memory_order_release);
	rte_eal_mp_wait_lcore();
	dslab_rcu_barrier();
	struct dslab_cache_stats s = stats_of(c);
	EXPECT_EQ(s.objects_pending_rcu, 0u);
	EXPECT_EQ(s.objects_in_use, 0u);
	dslab_cache_destroy(c);
}

TEST(Rcu, PerCacheBarrierLeavesOtherCachesAlone)
{
	dslab_cache *a = dslab_cache_create("rcu_a", 64, nullptr);
	dslab_cache *b = dslab_cache_create("rcu_b", 64, nullptr);
	ASSERT_NE(a, nullptr);
	ASSERT_NE(b, nullptr);
	ASSERT_EQ(dslab_rcu_online(), 0);
	for (int i = 0; i < 10; i++) {
		dslab_kvfree_rcu(dslab_alloc(a, 0));
		dslab_kvfree_rcu(dslab_alloc(b, 0));
	}
	EXPECT_EQ(stats_of(a).objects_pending_rcu, 10u);
	EXPECT_EQ(stats_of(b).objects_pending_rcu, 10u);
	dslab_rcu_barrier_on_cache(a);
	EXPECT_EQ(stats_of(a).objects_pending_rcu, 0u);
	EXPECT_EQ(stats_of(b).objects_pending_rcu, 10u);
	EXPECT_EQ(stats_of(b).rcu_sheaf_submit, 0u); /* b's sheaf untouched */
	dslab_rcu_barrier();
	EXPECT_EQ(stats_of(b).objects_pending_rcu, 0u);
	dslab_rcu_offline();
	dslab_cache_destroy(a);
	dslab_cache_destroy(b);
}

TEST(Rcu, DestroyWithPendingFrees)
{
	LogCapture log;
	dslab_cache *c = dslab_cache_create("rcu_destroy", 64, nullptr);
	ASSERT_NE(c, nullptr);
	ASSERT_EQ(dslab_rcu_online(), 0);
	for (int i = 0; i < 20; i++)
		dslab_kvfree_rcu(dslab_alloc(c, 0));

	/* Synchronous destroy on an online reader would wait on itself. */
	rte_errno = 0;
	dslab_cache_destroy(c);
	EXPECT_EQ(rte_errno, EDEADLK);
	EXPECT_EQ(dslab_cache_lookup("rcu_destroy"), c); /* still alive */

	/* Lingering destroy: unlinked at once, reaped after its barrier. */
	ASSERT_EQ(dslab_cache_destroy_async(c), 0);
	EXPECT_EQ(dslab_cache_lookup("rcu_destroy"), nullptr);
	dslab_cache *again = dslab_cache_create("rcu_destroy", 64, nullptr);
	EXPECT_NE(again, nullptr) << "name not reusable";
	for (int i = 0; i < 2000 && dslab_caches_dying() != 0; i++) {
		dslab_quiescent(); /* the reaper's barrier waits for us */
		std::this_thread::sleep_for(std::chrono::milliseconds(1));
	}
	EXPECT_EQ(dslab_caches_dying(), 0u);
	EXPECT_EQ(log.text().find("leaked"), std::string::npos) << log.text();
	dslab_rcu_offline();

	/* Offline, the synchronous form waits for the barrier and frees. */
	for (int i = 0; i < 20; i++)
		dslab_kvfree_rcu(dslab_alloc(again, 0)); /* fallback: we are offline */
	EXPECT_EQ(stats_of(again).free_rcu_sheaf_fail, 20u);
	dslab_cache_destroy(again);
	EXPECT_EQ(dslab_cache_lookup("rcu_destroy"), nullptr);
	EXPECT_EQ(log.text().find("leaked"), std::string::npos) << log.text();
}

TEST(Rcu, DestroyWithARealLeakReportsAndKeepsMemory)
{
	LogCapture log;
	dslab_cache *c = dslab_cache_create("rcu_leak", 256, nullptr);
	ASSERT_NE(c, nullptr);
	auto *kept = static_cast<char *>(dslab_alloc(c, 0));
	ASSERT_NE(kept, nullptr);
	dslab_kvfree_rcu(dslab_alloc(c, 0));
	ASSERT_EQ(dslab_cache_destroy_async(c), 0);
	for (int i = 0; i < 2000 && dslab_caches_dying() != 0; i++)
		std::this_thread::sleep_for(std::chrono::milliseconds(1));
	ASSERT_EQ(dslab_caches_dying(), 0u);
	std::string t = log.text();
	EXPECT_NE(t.find("rcu_leak: 1 objects leaked in 1 slabs on socket 0"), std::string::npos) << t;
	memset(kept, 0x5a, 256); /* the memory is still there */
	EXPECT_EQ(kept[255], 0x5a);
}

TEST(Rcu, HeadlessKvfreeRcuOfEveryKind)
{
	dslab_cache *c = dslab_cache_create("rcu_headless", 128, nullptr);
	ASSERT_NE(c, nullptr);
	dslab_cache *k = dslab_cache_lookup("kmalloc-96");
	ASSERT_NE(k, nullptr);
	uint64_t k_before = stats_of(k).objects_in_use;
	for (unsigned online = 0; online < 2; online++) {
		if (online) {
			ASSERT_EQ(dslab_rcu_online(), 0);
		}
		for (int i = 0; i < 300; i++) {
			dslab_kvfree_rcu(dslab_alloc(c, 0));
			dslab_kvfree_rcu(dslab_kmalloc(90, 0));
		}
		void *big = dslab_kvmalloc(3u << 20, 0);
		ASSERT_NE(big, nullptr);
		memset(big, 1, 3u << 20);
		dslab_kvfree_rcu(big);
		dslab_rcu_barrier();
		EXPECT_EQ(stats_of(c).objects_in_use, 0u);
		EXPECT_EQ(stats_of(c).objects_pending_rcu, 0u);
		EXPECT_EQ(stats_of(k).objects_in_use, k_before);
		EXPECT_EQ(dslab_ksize(big), 0u); /* the large region is gone */
	}
	EXPECT_GT(stats_of(c).free_rcu_sheaf, 0u);      /* online: sheaves */
	EXPECT_GE(stats_of(c).free_rcu_sheaf_fail, 300u); /* offline: arrays */
	dslab_rcu_offline();
	dslab_kvfree_rcu(nullptr); /* no-op */
	int on_stack;
	LogCapture log;
	dslab_kvfree_rcu(&on_stack);
	EXPECT_NE(log.text().find("not memory dslab handed out"), std::string::npos);
	dslab_cache_destroy(c);
}

/* No memory for a pointer array: a caller that may wait synchronizes and
 * frees; an online reader gets an error instead of waiting on itself. */
TEST(Rcu, HeadlessWithoutArrayMemory)
{
	dslab_cache *c = dslab_cache_create("rcu_noarray", 64, nullptr);
	ASSERT_NE(c, nullptr);
	void *remote = dslab_alloc_node(c, 0, 1); /* logical socket 1: no sheaf path here */
	void *remote2 = dslab_alloc_node(c, 0, 1);
	ASSERT_NE(remote, nullptr);
	dslab_rcu_barrier(); /* no open pointer block left */
	ASSERT_EQ(dslab_fault_set(DSLAB_FAULT_META, 0, UINT64_MAX), 0);

	ASSERT_EQ(dslab_rcu_online(), 0);
	rte_errno = 0;
	dslab_kvfree_rcu(remote);
	EXPECT_EQ(rte_errno, EDEADLK);
	EXPECT_EQ(stats_of(c).kvfree_rcu_nomem, 1u);
	EXPECT_EQ(stats_of(c).objects_in_use, 2u); /* left allocated, not lost */
	dslab_rcu_offline();

	/* Offline but in a dslab_cache_walk() callback, under the registry
	 * lock: no wait there either. */
	struct Ctx {
		void *obj;
		int err;
	} ctx{remote, 0};
	EXPECT_EQ(dslab_cache_walk(
			  [](dslab_cache *, void *arg) {
				  auto *x = static_cast<Ctx *>(arg);
				  rte_errno = 0;
				  dslab_kvfree_rcu(x->obj);
				  x->err = rte_errno;
				  return 1;
			  },
			  &ctx),
		  1);
	EXPECT_EQ(ctx.err, EDEADLK);
	EXPECT_EQ(stats_of(c).kvfree_rcu_nomem, 2u);
	EXPECT_EQ(stats_of(c).objects_in_use, 2u);

	dslab_kvfree_rcu(remote); /* offline: synchronize, then free */
	dslab_kvfree_rcu(remote2);
	dslab_fault_set(DSLAB_FAULT_META, 0, 0);
	EXPECT_EQ(stats_of(c).objects_in_use, 0u);
	EXPECT_EQ(stats_of(c).objects_pending_rcu, 0u);
	dslab_cache_destroy(c);
}

TEST(Rcu, LcoreGoingOfflineWithAPartlyFilledSheaf)
{
	dslab_cache *c = dslab_cache_create("rcu_offline", 64, nullptr);
	ASSERT_NE(c, nullptr);
	std::atomic<int> phase{0};
	auto worker = [&]() {
		dslab_rcu_online();
		for (int i = 0; i < 7; i++)
			dslab_kvfree_rcu(dslab_alloc(c, 0));
		dslab_rcu_offline(); /* submits the partly filled sheaf */
		phase.store(1, std::memory_order_release);
		return 0;
	};
	launch(2, &worker);
	rte_eal_wait_lcore(2);
	ASSERT_EQ(phase.load(), 1);
	struct dslab_cache_stats s = stats_of(c);
	EXPECT_EQ(s.free_rcu_sheaf, 7u);
	EXPECT_EQ(s.rcu_sheaf_submit, 1u);
	/* No lcore reports any more, yet nothing waits on the gone one. */
	dslab_quiescent();
	dslab_rcu_barrier();
	s = stats_of(c);
	EXPECT_EQ(s.objects_pending_rcu, 0u);
	EXPECT_EQ(s.objects_in_use, 0u);
	dslab_cache_destroy(c);
}

/*
 * A barrier that saw an lcore online asks it, while the lcore goes offline
 * and acknowledges the request it had read just before: the barrier then
 * counts the lcore as gone and its cache is freed, and the lcore, offline,
 * holds a request naming that freed cache. Anything it then calls that
 * answers requests (dslab_quiescent, kvfree_rcu) must not follow it. The
 * window is a few instructions wide: many rounds, each worker going offline
 * at a random point of the main lcore's round. A stale cache read is a use
 * after free that ASan and TSan report (before the fix: ASan in every run,
 * TSan in 3 of 3); the normal build crashed with SIGSEGV in 8 of 30 runs
 * with MALLOC_PERTURB_=106 (meson test sets it), which fills freed memory.
 */
TEST(Rcu, OfflineLcoreNeverFollowsAStaleBarrierRequest)
{
	std::atomic<bool> stop{false};
	std::atomic<uint64_t> destroyed{0}, cycles{0};
	auto worker = [&]() {
		uint64_t x = rte_lcore_id() * 0x9e3779b97f4a7c15ull;
		while (!stop.load(std::memory_order_acquire)) {
			/* A random point in the main lcore's round, so that going
			 * offline meets its barrier's scan now and then. */
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			for (uint64_t spin = x % 4096; spin != 0; spin--)
				rte_pause();
			uint64_t d = destroyed.load(std::memory_order_acquire);
			dslab_rcu_online();
			dslab_rcu_offline();
			/* Wait until the cache a barrier may have named is freed. */
			while (destroyed.load(std::memory_order_acquire) == d &&
			       !stop.load(std::memory_order_acquire))
				sched_yield();
			dslab_quiescent(); /* offline: reports nothing */
			dslab_kvfree_rcu(dslab_kmalloc(32, 0)); /* fallback batch */
			cycles.fetch_add(1, std::memory_order_relaxed);
		}
		return 0;
	};
	StopWorkers guard{stop};
	for (unsigned lc = 1; lc <= 3; lc++)
		launch(lc, &worker);
	/* Cheap rounds (0.4 s under ASan, 6 s under TSan): the sanitizers'
	 * lower DSLAB_RACE_ROUNDS would leave the window rarely met. */
	const unsigned rounds = dslab_test::race_rounds(20000, 20000);
	for (unsigned round = 0; round < rounds; round++) {
		dslab_cache *c = dslab_cache_create("rcu_stale", 64, nullptr);
		ASSERT_NE(c, nullptr);
		dslab_free(c, dslab_alloc(c, 0)); /* its sheaves exist */
		dslab_cache_destroy(c); /* main lcore offline: waits for its barrier */
		destroyed.fetch_add(1, std::memory_order_release);
	}
	stop.store(true, std::memory_order_release);
	rte_eal_mp_wait_lcore();
	EXPECT_GT(cycles.load(), 0u);
	dslab_rcu_barrier();
}

/* 2 logical sockets: kfree_rcu of the other socket's objects never enters
 * the local rcu sheaf and every object comes home. */
TEST(Rcu, RemoteKfreeRcuWithLogicalSockets)
{
	ASSERT_EQ(dslab_socket_count(), 2u);
	dslab_cache *c = dslab_cache_create("rcu_remote", sizeof(Obj), nullptr);
	ASSERT_NE(c, nullptr);
	std::vector<Obj *> from0(200);
	for (auto &o : from0)
		ASSERT_NE(o = static_cast<Obj *>(dslab_alloc_node(c, 0, 0)), nullptr);
	std::atomic<bool> clean{true};
	auto worker = [&]() { /* lcore 2: logical socket 1 */
		dslab_rcu_online();
		for (Obj *o : from0)
			dslab_kfree_rcu(o, rh);
		for (int i = 0; i < 50; i++) /* local ones for comparison */
			dslab_kvfree_rcu(dslab_alloc(c, 0));
		dslab_pcs *p = &c->pcs[2];
		for (uint32_t i = 0; i < p->rcu_size; i++)
			for (Obj *o : from0)
				if (p->rcu_objs[i] == o)
					clean = false;
		dslab_rcu_offline();
		return 0;
	};
	launch(2, &worker);
	rte_eal_wait_lcore(2);
	EXPECT_TRUE(clean.load()) << "a socket-0 object sat in lcore 2's rcu sheaf";
	struct dslab_cache_stats s = stats_of(c);
	EXPECT_EQ(s.free_rcu_sheaf_fail, 200u);
	EXPECT_EQ(s.free_rcu_sheaf, 50u);
	dslab_rcu_barrier();
	s = stats_of(c);
	EXPECT_EQ(s.objects_pending_rcu, 0u);
	EXPECT_EQ(s.objects_in_use, 0u);
	dslab_cache_destroy(c);
}

/*
 * dslab_rcu_set_max_pending(): a reader lcore (1) takes a reference and
 * reports no quiescent state; a writer lcore (2) retires objects through
 * the slot the reader read. Bounded (bound sheaves), the writer must stop
 * with at most bound sheaves' worth waiting and wait there, reporting its
 * own quiescent state, until the reader reports; a barrier asked meanwhile
 * completes once the reader lets go. Unbounded (0), the writer never waits
 * and everything it retires waits. The reader checks that its object is
 * never reused under it either way.
 */
struct HoldResult {
	uint64_t cap, retired, at_release, held_peak, bad, waits, pending_after;
};

/* The writer bounded (bound != 0) by dslab_rcu_set_max_pending(), or with
 * at_quiescent by dslab_rcu_set_quiescent_bound(). */
HoldResult hold_run(unsigned bound, const char *name, bool at_quiescent = false)
{
	HoldResult r{};
	auto waits_of = [at_quiescent](const struct dslab_cache_stats &st) {
		return at_quiescent ? st.rcu_quiescent_bound_wait : st.rcu_max_pending_wait;
	};
	dslab_cache *c = dslab_cache_create(name, sizeof(Obj), nullptr);
	EXPECT_NE(c, nullptr);
	if (c == nullptr)
		return r;
	const uint64_t cap = stats_of(c).sheaf_capacity;
	const uint64_t n = (3 + 4) * cap;
	auto stamp = [](Obj *o, uint64_t v) {
		o->stamp = v;
		for (auto &p : o->payload)
			p = v;
	};
	std::atomic<Obj *> slot{nullptr};
	std::atomic<bool> stop{false};
	std::atomic<int> held{0};
	std::atomic<uint64_t> retired{0}, at_release{0}, held_peak{0}, bad{0};
	const uint64_t hz = rte_get_timer_hz();
	const uint64_t deadline = rte_get_timer_cycles() + 60 * hz;

	auto reader = [&]() {
		dslab_rcu_online();
		Obj *o;
		while ((o = slot.load(std::memory_order_acquire)) == nullptr)
			sched_yield();
		const uint64_t s = o->stamp;
		held.store(1, std::memory_order_release);
		/* From here no quiescent state until released. */
		auto check = [&]() {
			for (uint64_t &p : o->payload)
				if (__atomic_load_n(&p, __ATOMIC_RELAXED) != s)
					bad.fetch_add(1, std::memory_order_relaxed);
			uint64_t pend = stats_of(c).objects_pending_rcu;
			if (pend > held_peak.load(std::memory_order_relaxed))
				held_peak.store(pend, std::memory_order_relaxed);
			sched_yield();
		};
		/* Bounded: until the writer waits at its bound, then 50 ms in
		 * which it must not go on. Unbounded (or a writer that never
		 * waits): until it retired all. */
		while (!stop.load(std::memory_order_acquire) && rte_get_timer_cycles() < deadline &&
		       retired.load() < n && (bound == 0 || waits_of(stats_of(c)) == 0))
			check();
		const uint64_t until = rte_get_timer_cycles() + (bound != 0 ? hz / 20 : 0);
		while (rte_get_timer_cycles() < until)
			check();
		check();
		at_release.store(retired.load(), std::memory_order_release);
		held.store(2, std::memory_order_release);
		while (!stop.load(std::memory_order_acquire))
			dslab_quiescent();
		dslab_rcu_offline();
		return 0;
	};
	auto writer = [&]() {
		/* The writer's own object first: one of another (logical)
		 * socket would take the fallback, which is not bounded. */
		auto *first = static_cast<Obj *>(dslab_alloc(c, 0));
		if (first == nullptr) {
			ADD_FAILURE() << "dslab_alloc failed";
			return -1;
		}
		stamp(first, 1);
		slot.store(first, std::memory_order_release);
		dslab_test::wait_for(held, 1);
		dslab_rcu_online();
		if (at_quiescent)
			EXPECT_EQ(dslab_rcu_set_quiescent_bound(bound), 0);
		else
			EXPECT_EQ(dslab_rcu_set_max_pending(bound), 0);
		for (uint64_t i = 2; i < n + 2; i++) {
			auto *o = static_cast<Obj *>(dslab_alloc(c, 0));
			if (o == nullptr) {
				ADD_FAILURE() << "dslab_alloc failed";
				break;
			}
			stamp(o, i);
			Obj *old = slot.exchange(o, std::memory_order_acq_rel);
			dslab_kfree_rcu(old, rh);
			retired.fetch_add(1, std::memory_order_release);
			if ((i & 63) == 0)
				dslab_quiescent();
		}
		EXPECT_EQ(dslab_rcu_set_max_pending(0), 0);
		EXPECT_EQ(dslab_rcu_set_quiescent_bound(0), 0);
		dslab_rcu_offline();
		return 0;
	};
	{
		StopWorkers guard{stop};
		launch(1, &reader);
		launch(2, &writer);
		if (bound != 0) {
			/* A barrier while the writer waits: it needs the writer's
			 * answer, which comes after the wait, which needs the
			 * reader. */
			while (waits_of(stats_of(c)) == 0 && retired.load() < n &&
			       rte_get_timer_cycles() < deadline)
				sched_yield();
			dslab_rcu_barrier_on_cache(c);
			EXPECT_EQ(held.load(), 2) << "the barrier returned while the reader held";
		}
		EXPECT_EQ(rte_eal_wait_lcore(2), 0);
		EXPECT_LT(rte_get_timer_cycles(), deadline) << "timed out";
	}
	r.cap = cap;
	r.retired = retired.load();
	r.at_release = at_release.load();
	r.held_peak = held_peak.load();
	r.bad = bad.load();
	struct dslab_cache_stats st = stats_of(c);
	r.waits = waits_of(st);
	if (!at_quiescent)
		EXPECT_EQ(st.rcu_quiescent_bound_wait, 0u) << "dslab_quiescent() waited unbounded";
	else
		EXPECT_EQ(st.rcu_max_pending_wait, 0u) << "kfree_rcu() waited";
	dslab_kfree_rcu(slot.exchange(nullptr), rh);
	dslab_rcu_barrier();
	st = stats_of(c);
	r.pending_after = st.objects_pending_rcu + st.objects_in_use;
	dslab_cache_destroy(c);
	return r;
}

TEST(Rcu, MaxPendingBoundsTheWaitingObjectsWhileAReaderHolds)
{
	const unsigned bound = 3;
	HoldResult r = hold_run(bound, "rcu_bound");
	ASSERT_NE(r.cap, 0u);
	EXPECT_EQ(r.bad, 0u) << "the reader's object was reused under it";
	EXPECT_EQ(r.retired, 7 * r.cap);
	EXPECT_GE(r.waits, 1u);
	EXPECT_LE(r.at_release, bound * r.cap) << "retired past the bound while the reader held";
	EXPECT_LE(r.held_peak, bound * r.cap) << "waiting objects over the bound";
	EXPECT_EQ(r.pending_after, 0u);
}

TEST(Rcu, WithoutMaxPendingTheWriterNeverWaits)
{
	HoldResult r = hold_run(0, "rcu_unbound");
	ASSERT_NE(r.cap, 0u);
	EXPECT_EQ(r.bad, 0u) << "the reader's object was reused under it";
	EXPECT_EQ(r.waits, 0u);
	EXPECT_EQ(r.at_release, 7 * r.cap) << "the writer waited for the reader";
	EXPECT_EQ(r.held_peak, 7 * r.cap) << "everything retired waits while the reader holds";
	EXPECT_EQ(r.pending_after, 0u);
}

/* The bound at quiescent points: kfree_rcu never waits, dslab_quiescent()
 * does (the writer reports every 64 retires, under a sheaf's capacity), so
 * the objects waiting stay within the bound while the reader holds, and
 * the reader's object is never reused under it. */
TEST(Rcu, QuiescentBoundWaitsInDslabQuiescentWhileAReaderHolds)
{
	const unsigned bound = 3;
	HoldResult r = hold_run(bound, "rcu_qbound", true);
	ASSERT_NE(r.cap, 0u);
	EXPECT_EQ(r.bad, 0u) << "the reader's object was reused under it";
	EXPECT_EQ(r.retired, 7 * r.cap);
	EXPECT_GE(r.waits, 1u);
	EXPECT_LE(r.at_release, bound * r.cap) << "retired past the bound while the reader held";
	EXPECT_LE(r.held_peak, bound * r.cap) << "waiting objects over the bound";
	EXPECT_EQ(r.pending_after, 0u);
}

/* Only dslab_quiescent() waits at that bound: kfree_rcu goes on past it,
 * and the count is of every cache's sheaves. The lcore is the only online
 * one: the report passes every grace period started before it, so what
 * remains over the bound are open sheaves, which the wait submits, oldest
 * first, and waits for (its own reports end each wait). */
TEST(Rcu, QuiescentBoundLetsKfreeRcuGoOnAndWaitsAtTheReport)
{
	dslab_cache *a = dslab_cache_create("rcu_qb_a", 64, nullptr);
	dslab_cache *b = dslab_cache_create("rcu_qb_b", 64, nullptr);
	dslab_cache *c = dslab_cache_create("rcu_qb_c", 64, nullptr);
	ASSERT_TRUE(a != nullptr && b != nullptr && c != nullptr);
	ASSERT_EQ(dslab_rcu_online(), 0);
	ASSERT_EQ(dslab_rcu_set_quiescent_bound(2), 0);
	for (dslab_cache *x : {a, b, c}) /* three open sheaves */
		dslab_kvfree_rcu(dslab_alloc(x, 0));
	uint64_t waits = 0, pending = 0;
	for (dslab_cache *x : {a, b, c}) {
		waits += stats_of(x).rcu_quiescent_bound_wait + stats_of(x).rcu_max_pending_wait;
		pending += stats_of(x).objects_pending_rcu;
	}
	EXPECT_EQ(waits, 0u) << "kfree_rcu waited";
	EXPECT_EQ(pending, 3u);
	dslab_quiescent();
	EXPECT_EQ(stats_of(a).rcu_quiescent_bound_wait, 1u) << "counted on the oldest sheaf's cache";
	EXPECT_EQ(stats_of(b).rcu_quiescent_bound_wait + stats_of(c).rcu_quiescent_bound_wait, 0u);
	EXPECT_EQ(stats_of(a).objects_pending_rcu, 0u) << "the oldest two submitted and reclaimed";
	EXPECT_EQ(stats_of(b).objects_pending_rcu, 0u);
	EXPECT_EQ(stats_of(c).objects_pending_rcu, 1u) << "one sheaf left: under the bound";
	/* Under the bound: a report does not wait. */
	dslab_quiescent();
	EXPECT_EQ(stats_of(a).rcu_quiescent_bound_wait + stats_of(c).rcu_quiescent_bound_wait, 1u);
	/* Lifted: three sheaves again, no wait. */
	ASSERT_EQ(dslab_rcu_set_quiescent_bound(0), 0);
	for (dslab_cache *x : {a, b})
		dslab_kvfree_rcu(dslab_alloc(x, 0));
	dslab_quiescent();
	waits = 0;
	for (dslab_cache *x : {a, b, c})
		waits += stats_of(x).rcu_quiescent_bound_wait;
	EXPECT_EQ(waits, 1u);
	dslab_rcu_offline();
	dslab_rcu_barrier();
	for (dslab_cache *x : {a, b, c}) {
		EXPECT_EQ(stats_of(x).objects_pending_rcu + stats_of(x).objects_in_use, 0u);
		EXPECT_EQ(stats_of(x).rcu_max_pending_wait, 0u);
		dslab_cache_destroy(x);
	}
}

/* The bound counts every cache's open sheaf: with more caches in use than
 * the bound, the oldest open one is submitted and waited for. One online
 * lcore (this one): its own report ends the wait. */
TEST(Rcu, MaxPendingCountsTheOpenSheavesOfEveryCache)
{
	dslab_cache *a = dslab_cache_create("rcu_bound_a", 64, nullptr);
	dslab_cache *b = dslab_cache_create("rcu_bound_b", 64, nullptr);
	dslab_cache *c = dslab_cache_create("rcu_bound_c", 64, nullptr);
	ASSERT_TRUE(a != nullptr && b != nullptr && c != nullptr);
	ASSERT_EQ(dslab_rcu_online(), 0);
	ASSERT_EQ(dslab_rcu_set_max_pending(2), 0);
	dslab_kvfree_rcu(dslab_alloc(a, 0));
	dslab_kvfree_rcu(dslab_alloc(b, 0));
	EXPECT_EQ(stats_of(a).rcu_sheaf_submit + stats_of(b).rcu_sheaf_submit, 0u);
	dslab_kvfree_rcu(dslab_alloc(c, 0)); /* a third open sheaf: room first */
	EXPECT_EQ(stats_of(c).rcu_max_pending_wait, 1u);
	EXPECT_EQ(stats_of(a).rcu_sheaf_submit, 1u) << "the oldest open sheaf was submitted";
	EXPECT_EQ(stats_of(a).objects_pending_rcu, 0u) << "and reclaimed after its grace period";
	EXPECT_EQ(stats_of(b).objects_pending_rcu, 1u);
	EXPECT_EQ(stats_of(c).objects_pending_rcu, 1u);
	dslab_kvfree_rcu(dslab_alloc(c, 0)); /* into the open sheaf: no wait */
	EXPECT_EQ(stats_of(c).rcu_max_pending_wait, 1u);
	/* Lifted: no wait, three sheaves open. */
	ASSERT_EQ(dslab_rcu_set_max_pending(0), 0);
	dslab_kvfree_rcu(dslab_alloc(a, 0));
	EXPECT_EQ(stats_of(a).rcu_max_pending_wait, 0u);
	EXPECT_EQ(stats_of(a).objects_pending_rcu, 1u);
	dslab_rcu_offline();
	dslab_rcu_barrier();
	for (dslab_cache *x : {a, b, c}) {
		EXPECT_EQ(stats_of(x).objects_pending_rcu + stats_of(x).objects_in_use, 0u);
		dslab_cache_destroy(x);
	}
}

/* In a dslab_cache_walk() callback, which holds the registry lock, the bound
 * is not applied: its wait could need an online lcore blocked on that lock.
 * Outside, it applies as before. */
TEST(Rcu, MaxPendingDoesNotWaitInAWalkCallback)
{
	dslab_cache *a = dslab_cache_create("rcu_walk_a", 64, nullptr);
	dslab_cache *b = dslab_cache_create("rcu_walk_b", 64, nullptr);
	dslab_cache *c = dslab_cache_create("rcu_walk_c", 64, nullptr);
	ASSERT_TRUE(a != nullptr && b != nullptr && c != nullptr);
	ASSERT_EQ(dslab_rcu_online(), 0);
	ASSERT_EQ(dslab_rcu_set_max_pending(1), 0);
	struct Ctx {
		dslab_cache *a, *b;
		int calls;
	} ctx{a, b, 0};
	EXPECT_EQ(dslab_cache_walk(
			  [](dslab_cache *, void *arg) {
				  auto *x = static_cast<Ctx *>(arg);
				  x->calls++;
				  dslab_kvfree_rcu(dslab_alloc(x->a, 0));
				  /* A second open sheaf: over the bound of 1. */
				  dslab_kvfree_rcu(dslab_alloc(x->b, 0));
				  return 1;
			  },
			  &ctx),
		  1);
	EXPECT_EQ(ctx.calls, 1);
	EXPECT_EQ(stats_of(a).rcu_max_pending_wait + stats_of(b).rcu_max_pending_wait, 0u)
		<< "waited for a grace period under the registry lock";
	EXPECT_EQ(stats_of(a).objects_pending_rcu + stats_of(b).objects_pending_rcu, 2u);
	dslab_kvfree_rcu(dslab_alloc(c, 0)); /* a third open sheaf, outside: waits */
	EXPECT_EQ(stats_of(c).rcu_max_pending_wait, 1u);
	ASSERT_EQ(dslab_rcu_set_max_pending(0), 0);
	dslab_rcu_offline();
	dslab_rcu_barrier();
	for (dslab_cache *x : {a, b, c}) {
		EXPECT_EQ(stats_of(x).objects_pending_rcu + stats_of(x).objects_in_use, 0u);
		dslab_cache_destroy(x);
	}
}

/* The bound belongs to the thread, not to its lcore id: a registered thread
 * that sets it and leaves must not hand it to the next thread given the same
 * id, which would wait (reporting quiescent states) inside its read-side
 * sections. */
TEST(Rcu, MaxPendingIsNotInheritedByTheNextThreadOfAnLcoreId)
{
	dslab_cache *a = dslab_cache_create("rcu_reuse_a", 64, nullptr);
	dslab_cache *b = dslab_cache_create("rcu_reuse_b", 64, nullptr);
	ASSERT_TRUE(a != nullptr && b != nullptr);
	unsigned first = LCORE_ID_ANY, second = LCORE_ID_ANY;
	std::thread([&] {
		ASSERT_EQ(rte_thread_register(), 0) << rte_errno;
		first = rte_lcore_id();
		EXPECT_EQ(dslab_rcu_online(), 0);
		EXPECT_EQ(dslab_rcu_set_max_pending(1), 0);
		EXPECT_EQ(dslab_rcu_set_quiescent_bound(1), 0);
		dslab_rcu_offline();
		rte_thread_unregister();
	}).join();
	std::thread([&] {
		ASSERT_EQ(rte_thread_register(), 0) << rte_errno;
		second = rte_lcore_id();
		EXPECT_EQ(dslab_rcu_online(), 0);
		/* Two open sheaves: a bound of 1 would wait before the second. */
		dslab_kvfree_rcu(dslab_alloc(a, 0));
		dslab_kvfree_rcu(dslab_alloc(b, 0));
		dslab_quiescent(); /* a quiescent bound of 1 would wait here */
		dslab_rcu_offline();
		rte_thread_unregister();
	}).join();
	ASSERT_NE(first, (unsigned)LCORE_ID_ANY);
	ASSERT_EQ(second, first) << "DPDK gives a released non-EAL lcore id to the next thread";
	EXPECT_EQ(stats_of(a).rcu_max_pending_wait + stats_of(b).rcu_max_pending_wait, 0u)
		<< "the second thread waited under the first one's bound";
	EXPECT_EQ(stats_of(a).rcu_quiescent_bound_wait + stats_of(b).rcu_quiescent_bound_wait, 0u)
		<< "the second thread waited under the first one's quiescent bound";
	dslab_rcu_barrier();
	for (dslab_cache *x : {a, b}) {
		EXPECT_EQ(stats_of(x).objects_pending_rcu + stats_of(x).objects_in_use, 0u);
		dslab_cache_destroy(x);
	}
}

TEST(Rcu, BadInput)
{
	Obj *none = nullptr;
	dslab_kfree_rcu(none, rh); /* no-op */
	static Obj not_ours;
	LogCapture log;
	dslab_kfree_rcu(&not_ours, rh);
	EXPECT_NE(log.text().find("not memory dslab handed out"), std::string::npos);
	dslab_rcu_barrier_on_cache(nullptr); /* no-op */
	EXPECT_EQ(dslab_cache_destroy_async(nullptr), -EINVAL);
	int rc = 0, err = 0;
	std::thread([&] {
		rc = dslab_rcu_set_max_pending(4); /* not an lcore */
		err = rte_errno;
	}).join();
	EXPECT_EQ(rc, -EINVAL);
	EXPECT_EQ(err, EINVAL);
#if DSLAB_CHECKED
	dslab_cache *c = dslab_cache_create("rcu_double", sizeof(Obj), nullptr);
	auto *o = static_cast<Obj *>(dslab_alloc(c, 0));
	dslab_kfree_rcu(o, rh);
	dslab_kfree_rcu(o, rh);
	EXPECT_NE(log.text().find("double free"), std::string::npos) << log.text();
	dslab_rcu_barrier();
	EXPECT_EQ(stats_of(c).objects_in_use, 0u);
	dslab_cache_destroy(c);
#endif
}

} // namespace
