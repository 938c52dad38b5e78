/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The dslab authors
 */
/*
 * Threads that are not EAL lcores: a plain std::thread (no lcore id) shares
 * a sheaf per socket with the others, under a lock, exchanged through the
 * barn (alloc_slowpath / free_slowpath); a thread registered
 * with rte_thread_register() gets an lcore id and sheaves, flushed back when
 * it unregisters (inside a dslab_cache_walk() callback too).
 */
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <rte_lcore.h>

#include <dslab.h>

#include "test_util.h"

namespace {

using namespace dslab_test;

TEST(Threads, NoLcoreIdUsesSharedSheaf)
{
	CachePtr cp = make_cache("thr_nolcore", 64, DSLAB_SHEAF_CAPACITY_AUTO);
	ASSERT_TRUE(cp);
	dslab_cache *c = cp.get();
	dslab_cache *k384 = dslab_cache_lookup("kmalloc-384");
	ASSERT_NE(k384, nullptr);
	struct dslab_cache_stats k0 = stats_of(k384);
	struct dslab_cache_stats s0 = stats_of(c);
	std::thread t([&] {
		ASSERT_EQ(rte_lcore_id(), (unsigned)LCORE_ID_ANY);
		std::vector<void *> v(150);
		std::set<void *> u;
		for (int i = 0; i < 100; i++) {
			ASSERT_NE(v[i] = dslab_alloc(c, 0), nullptr);
			memset(v[i], i, 64);
		}
		ASSERT_EQ(dslab_alloc_bulk(c, 0, 50, v.data() + 100), 50u);
		u.insert(v.begin(), v.end());
		EXPECT_EQ(u.size(), 150u);
		EXPECT_EQ(stats_of(c).objects_in_use, 150u);
		for (int i = 0; i < 100; i++) {
			EXPECT_EQ(static_cast<unsigned char *>(v[i])[63], (unsigned char)i);
			dslab_free(c, v[i]);
		}
		dslab_free_bulk(c, 50, v.data() + 100);
		void *k = dslab_kmalloc(300, 0);
		ASSERT_NE(k, nullptr);
		EXPECT_GE(dslab_ksize(k), 300u);
		dslab_kfree(k);
	});
	t.join();
	expect_counters(delta(stats_of(c), s0),
			{{"alloc_slowpath", 150}, {"free_slowpath", 150}, {"alloc_slab", 1},
			 {"sheaf_alloc", kAny}, {"sheaf_refill", kAny}, {"barn_get", kAny},
			 {"barn_get_fail", kAny}, {"barn_put", kAny}},
			"thread with no lcore id");
	/* The shared sheaf is filled from the barn or from the slabs,
	 * whichever earlier tests left (barn_get seen under QEMU, where the
	 * thread's socket is the node of the CPU it runs on and the kmalloc
	 * tests ran first). */
	expect_counters(delta(stats_of(k384), k0),
			{{"alloc_slowpath", 1}, {"free_slowpath", 1}, {"alloc_slab", kAny}, {"free_slab", kAny},
			 {"sheaf_alloc", kAny}, {"sheaf_refill", kAny}, {"barn_get", kAny},
			 {"barn_get_fail", kAny}, {"barn_put", kAny}},
			"kmalloc from a thread with no lcore id");
	struct dslab_cache_stats s = stats_of(c);
	EXPECT_EQ(s.objects_in_use, 0u);
	EXPECT_GT(s.objects_in_sheaves, 0u) << "the threads' shared sheaf and the barn keep objects";
	dslab_cache_shrink(c);
	s = stats_of(c);
	EXPECT_EQ(s.objects_in_sheaves, 0u) << "shrink flushes the shared sheaf";
	EXPECT_EQ(s.sheaf_free, s.sheaf_alloc);
}

/* The shared sheaf of threads with no lcore id goes through the barn like
 * an lcore's main: path by path, with 8-object sheaves. */
TEST(Threads, NoLcoreIdSheafPathsAndBarn)
{
	CachePtr cp = make_cache("thr_paths", 64, 8);
	ASSERT_TRUE(cp);
	dslab_cache *c = cp.get();
	std::vector<void *> got(9);
	std::thread t([&] {
		step(c, "first alloc: a new sheaf, refilled from a new slab",
		     {{"alloc_slowpath", 1}, {"barn_get_fail", 1}, {"sheaf_alloc", 1}, {"sheaf_refill", 1},
		      {"alloc_slab", 1}},
		     [&] { ASSERT_NE(got[0] = dslab_alloc(c, 0), nullptr); });
		step(c, "7 more: from the shared sheaf", {{"alloc_slowpath", 7}}, [&] {
			for (int i = 1; i < 8; i++)
				ASSERT_NE(got[i] = dslab_alloc(c, 0), nullptr);
		});
		step(c, "9th: empty, no full sheaf in the barn: refilled",
		     {{"alloc_slowpath", 1}, {"barn_get_fail", 1}, {"sheaf_refill", 1}},
		     [&] { ASSERT_NE(got[8] = dslab_alloc(c, 0), nullptr); });
		step(c, "9 frees: the sheaf fills, goes to the barn full, a new empty one takes the rest",
		     {{"free_slowpath", 9}, {"barn_put", 1}, {"barn_get_fail", 1}, {"sheaf_alloc", 1}}, [&] {
			     for (void *p : got)
				     dslab_free(c, p);
		     });
	});
	t.join();
	std::set<void *> freed(got.begin(), got.end());
	/* This lcore's sheaves are empty: its allocation takes the full sheaf
	 * the thread put in the barn, no slab. */
	void *p = nullptr;
	step(c, "lcore alloc: the threads' full sheaf from the barn, the empty main into it",
	     {{"alloc_cpu_sheaf", 1}, {"barn_get", 1}, {"barn_put", 1}, {"sheaf_alloc", kAny}},
	     [&] { ASSERT_NE(p = dslab_alloc(c, 0), nullptr); });
	EXPECT_EQ(freed.count(p), 1u) << "an object the thread freed";
	dslab_free(c, p);
	dslab_cache_shrink(c);
	std::thread t2([&] { dslab_cache_shrink(c); });
	t2.join();
	struct dslab_cache_stats s = stats_of(c);
	EXPECT_EQ(s.objects_in_use, 0u);
	EXPECT_EQ(s.objects_in_sheaves, 0u);
}

/* Several threads with no lcore id at once: the shared sheaf's lock keeps
 * them apart (each object's contents are checked before it is freed). */
TEST(Threads, ConcurrentThreadsWithoutLcoreId)
{
	CachePtr cp = make_cache("thr_conc", 128, DSLAB_SHEAF_CAPACITY_AUTO);
	ASSERT_TRUE(cp);
	dslab_cache *c = cp.get();
	constexpr int kThreads = 4, kIters = 3000, kHold = 16;
	std::atomic<int> bad{0};
	std::vector<std::thread> ts;
	for (int t = 0; t < kThreads; t++)
		ts.emplace_back([&, t] {
			void *held[kHold] = {};
			for (int i = 0; i < kIters; i++) {
				int slot = i % kHold;
				if (held[slot] != nullptr) {
					auto *w = static_cast<uint64_t *>(held[slot]);
					for (int j = 0; j < 16; j++)
						if (w[j] != ((uint64_t)t << 32 | (uint64_t)(i - kHold)))
							bad++;
					dslab_free(c, held[slot]);
				}
				auto *w = static_cast<uint64_t *>(dslab_alloc(c, 0));
				if (w == nullptr) {
					bad++;
					held[slot] = nullptr;
					continue;
				}
				for (int j = 0; j < 16; j++)
					w[j] = (uint64_t)t << 32 | (uint64_t)i;
				held[slot] = w;
			}
			for (void *p : held)
				dslab_free(c, p);
		});
	for (auto &t : ts)
		t.join();
	EXPECT_EQ(bad.load(), 0);
	struct dslab_cache_stats s = stats_of(c);
	EXPECT_EQ(s.alloc_slowpath, (uint64_t)kThreads * kIters);
	EXPECT_EQ(s.free_slowpath, (uint64_t)kThreads * kIters);
	EXPECT_EQ(s.alloc_cpu_sheaf + s.free_cpu_sheaf, 0u);
	EXPECT_EQ(s.objects_in_use, 0u);
}

/* A registered thread uses sheaves; unregistering flushes them. */
TEST(Threads, RegisteredThreadUsesSheavesFlushedOnUnregister)
{
	CachePtr cp = make_cache("thr_reg", 64, 16, 2, 2);
	ASSERT_TRUE(cp);
	dslab_cache *c = cp.get();
	void *kept = nullptr;
	struct dslab_cache_stats before_unregister;
	memset(&before_unregister, 0, sizeof(before_unregister));

	std::thread t([&] {
		ASSERT_EQ(rte_thread_register(), 0) << rte_errno;
		unsigned lc = rte_lcore_id();
		ASSERT_LT(lc, (unsigned)RTE_MAX_LCORE);
		EXPECT_EQ(rte_eal_lcore_role(lc), ROLE_NON_EAL);
		std::vector<void *> v(24);
		step(c, "registered thread: allocations from sheaves",
		     {{"alloc_cpu_sheaf", 24}, {"sheaf_alloc", 2}, {"barn_get_fail", 2}, {"sheaf_refill", 2},
		      {"alloc_slab", 1}},
		     [&] {
			     for (auto &p : v)
				     ASSERT_NE(p = dslab_alloc(c, 0), nullptr);
		     }); /* M=8 */
		step(c, "registered thread: frees into sheaves",
		     {{"free_cpu_sheaf", 23}, {"sheaf_swap", 1}},
		     [&] {
			     for (size_t i = 1; i < v.size(); i++)
				     dslab_free(c, v[i]);
		     }); /* M=15 S=16, barn empty */
		kept = v[0];
		before_unregister = stats_of(c);
		EXPECT_EQ(before_unregister.objects_in_use, 1u);
		EXPECT_EQ(before_unregister.objects_in_sheaves, 31u);
		rte_thread_unregister();
		EXPECT_EQ(rte_lcore_id(), (unsigned)LCORE_ID_ANY);
	});
	t.join();
	struct dslab_cache_stats s = stats_of(c);
	expect_counters(delta(s, before_unregister), {{"sheaf_flush", 2}, {"sheaf_free", 2}},
			"rte_thread_unregister flushes and frees main and spare");
	EXPECT_EQ(s.objects_in_use, 1u) << "exact after the thread left";
	EXPECT_EQ(s.objects_in_sheaves, 0u) << "the thread's sheaves were flushed";
	EXPECT_EQ(s.sheaf_free, s.sheaf_alloc) << "and freed";
	EXPECT_EQ(s.alloc_slowpath + s.free_slowpath, 0u);

	/* A second registered thread (often the same lcore id) starts afresh. */
	std::thread t2([&] {
		ASSERT_EQ(rte_thread_register(), 0);
		step(c, "second registered thread sets its sheaves up again",
		     {{"alloc_cpu_sheaf", 1}, {"free_cpu_sheaf", 1}, {"sheaf_alloc", 2}, {"barn_get_fail", 1},
		      {"sheaf_refill", 1}},
		     [&] {
			     void *p = dslab_alloc(c, 0);
			     ASSERT_NE(p, nullptr);
			     dslab_free(c, p);
		     });
		rte_thread_unregister();
	});
	t2.join();
	s = stats_of(c);
	EXPECT_EQ(s.objects_in_sheaves, 0u);
	EXPECT_EQ(s.sheaf_free, s.sheaf_alloc);
	EXPECT_EQ(s.objects_in_use, 1u);
	dslab_free(c, kept);
	EXPECT_EQ(stats_of(c).objects_in_use, 0u);
}

/* A registered thread that leaves inside a dslab_cache_walk() callback: dslab's
 * lcore callback flushes its sheaves under the registry lock the walk holds
 * on that same thread, instead of locking it again (a self-deadlock). */
TEST(Threads, UnregisterInsideAWalkCallback)
{
	CachePtr cp = make_cache("thr_walk_leave", 64, 16, 2, 2);
	ASSERT_TRUE(cp);
	dslab_cache *c = cp.get();
	struct Seen {
		int calls;
		unsigned lcore_after;
	} seen{0, 0};
	std::atomic<bool> done{false};
	uint64_t in_sheaves = 0;

	std::thread t([&] {
		if (rte_thread_register() == 0) {
			void *p = dslab_alloc(c, 0);
			dslab_free(c, p);
			in_sheaves = stats_of(c).objects_in_sheaves;
			dslab_cache_walk(
				[](dslab_cache *, void *arg) {
					auto *s = static_cast<Seen *>(arg);
					if (s->calls++ == 0) {
						rte_thread_unregister();
						s->lcore_after = rte_lcore_id();
					}
					return 0;
				},
				&seen);
		}
		done.store(true);
	});
	/* Without the fix the thread never comes back, holding the registry:
	 * every later test would hang, so stop here. */
	for (int i = 0; i < 2000 && !done.load(); i++)
		std::this_thread::sleep_for(std::chrono::milliseconds(10));
	if (!done.load()) {
		fprintf(stderr, "rte_thread_unregister() inside a walk callback did not return\n");
		abort();
	}
	t.join();
	EXPECT_GT(in_sheaves, 0u) << "the thread had objects in its sheaves";
	EXPECT_GT(seen.calls, 1) << "the walk went on after the thread left";
	EXPECT_EQ(seen.lcore_after, (unsigned)LCORE_ID_ANY);
	struct dslab_cache_stats s = stats_of(c);
	EXPECT_EQ(s.objects_in_sheaves, 0u) << "the leaving thread's sheaves were flushed";
	EXPECT_EQ(s.objects_in_use, 0u);
	EXPECT_EQ(s.sheaf_free, s.sheaf_alloc);
}

} // namespace
