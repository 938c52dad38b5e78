/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The dslab authors
 */
/*
 * Every SLUB path of alloc and free, reached deterministically from one
 * lcore (the main lcore, LOGICAL socket 0) with a sheaf capacity of 4 and
 * barn limits of 1, each step proven by the exact counters it moved (every
 * counter not named must not move). Also: caches without sheaves, bulk
 * operations.
 *
 * Notation in comments: M = objects in the main sheaf, S = the spare
 * (- none, else its size), F/E = full/empty sheaves in the socket's barn.
 */
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <dslab.h>
#include <dslab_fault.h>

#include "test_util.h"

namespace {

using namespace dslab_test;

class Paths : public ::testing::Test {
protected:
	static constexpr unsigned kCap = 4;
	void SetUp() override
	{
		c_ = make_cache(name(), 64, kCap, 1, 1);
		ASSERT_TRUE(c_);
	}
	static const char *name()
	{
		return ::testing::UnitTest::GetInstance()->current_test_info()->name();
	}
	dslab_cache *c() { return c_.get(); }
	void alloc(unsigned n)
	{
		for (unsigned i = 0; i < n; i++) {
			void *p = dslab_alloc(c(), 0);
			ASSERT_NE(p, nullptr);
			ASSERT_TRUE(live_.insert(p).second) << "handed out twice: " << p;
			out_.push_back(p);
		}
	}
	void free_(unsigned n)
	{
		for (unsigned i = 0; i < n; i++) {
			ASSERT_FALSE(out_.empty());
			void *p = out_.back();
			out_.pop_back();
			live_.erase(p);
			dslab_free(c(), p);
		}
	}
	void gauges(uint64_t in_use, uint64_t in_sheaves, const char *where)
	{
		struct dslab_cache_stats s = stats_of(c());
		EXPECT_EQ(s.objects_in_use, in_use) << where;
		EXPECT_EQ(s.objects_in_sheaves, in_sheaves) << where;
	}
	CachePtr c_;
	std::vector<void *> out_;
	std::set<void *> live_;
};

TEST_F(Paths, EverySheafPathOnOneLcore)
{
	EXPECT_EQ(stats_of(c()).sheaf_capacity, kCap);

	/* Phase 1: allocation with nothing cached refills main from the slabs.
	 * The lcore's empty spare cannot be had at set-up (injected), so that
	 * it starts as the kernel's does, with none, and every path below is
	 * reached; LcoreStartsWithAnEmptySpare is the default. */
	ASSERT_EQ(dslab_fault_set(DSLAB_FAULT_SHEAF, 1, 1), 0);
	step(c(), "first alloc: main set up (no spare), barn miss, refill from slabs",
	     {{"sheaf_alloc", 1}, {"barn_get_fail", 1}, {"sheaf_refill", 1}, {"alloc_cpu_sheaf", 1},
	      {"alloc_slab", 1}},
	     [&] { alloc(1); });
	ASSERT_EQ(dslab_fault_set(DSLAB_FAULT_SHEAF, 0, 0), 0);
	step(c(), "pops of main", {{"alloc_cpu_sheaf", 3}}, [&] { alloc(3); }); /* M=0 S=- */
	step(c(), "main empty, no spare, barn empty: refill",
	     {{"alloc_cpu_sheaf", 1}, {"barn_get_fail", 1}, {"sheaf_refill", 1}}, [&] { alloc(1); });
	step(c(), "refills every 4 objects",
	     {{"alloc_cpu_sheaf", 11}, {"barn_get_fail", 2}, {"sheaf_refill", 2}}, [&] { alloc(11); });
	gauges(16, 0, "16 out, M=0 S=- F=0 E=0");

	/* Phase 2: frees fill main, then a new sheaf, the barn, its limit. */
	step(c(), "pushes to main", {{"free_cpu_sheaf", 4}}, [&] { free_(4); }); /* M=4 */
	step(c(), "main full, no spare, no empty in barn: new sheaf (old main -> spare)",
	     {{"free_cpu_sheaf", 1}, {"barn_get_fail", 1}, {"sheaf_alloc", 1}},
	     [&] { free_(1); }); /* M=1 S=4 */
	step(c(), "pushes", {{"free_cpu_sheaf", 3}}, [&] { free_(3); }); /* M=4 S=4 */
	step(c(), "main and spare full: main to barn as full, new empty sheaf",
	     {{"free_cpu_sheaf", 1}, {"barn_put", 1}, {"barn_get_fail", 1}, {"sheaf_alloc", 1}},
	     [&] { free_(1); }); /* M=1 S=4 F=1 */
	step(c(), "pushes", {{"free_cpu_sheaf", 3}}, [&] { free_(3); }); /* M=4 S=4 F=1 */
	step(c(), "both full, barn at its limit of 1: flush to slabs",
	     {{"free_cpu_sheaf", 1}, {"barn_put_fail", 1}, {"sheaf_flush", 1}, {"sheaf_swap", 1}},
	     [&] { free_(1); }); /* M=1 S=4 F=1 */
	step(c(), "pushes", {{"free_cpu_sheaf", 3}}, [&] { free_(3); }); /* M=4 S=4 F=1 */
	gauges(0, 12, "0 out, M=4 S=4 F=1");

	/* Phase 3: allocation from what is cached: spare, barn, then slabs. */
	step(c(), "pops", {{"alloc_cpu_sheaf", 4}}, [&] { alloc(4); }); /* M=0 S=4 */
	step(c(), "main empty, spare full: swap", {{"alloc_cpu_sheaf", 1}, {"sheaf_swap", 1}},
	     [&] { alloc(1); }); /* M=3 S=0 */
	step(c(), "pops", {{"alloc_cpu_sheaf", 3}}, [&] { alloc(3); }); /* M=0 S=0 F=1 */
	step(c(), "main and spare empty: full sheaf from the barn, empty main to the barn",
	     {{"alloc_cpu_sheaf", 1}, {"barn_get", 1}, {"barn_put", 1}},
	     [&] { alloc(1); }); /* M=3 S=0 F=0 E=1 */
	step(c(), "pops", {{"alloc_cpu_sheaf", 3}}, [&] { alloc(3); });
	step(c(), "no full sheaf anywhere: refill from slabs",
	     {{"alloc_cpu_sheaf", 1}, {"barn_get_fail", 1}, {"sheaf_refill", 1}},
	     [&] { alloc(1); }); /* M=3 S=0 F=0 E=1 */
	step(c(), "pops", {{"alloc_cpu_sheaf", 3}}, [&] { alloc(3); }); /* M=0 */
	gauges(16, 0, "16 out, M=0 S=0 F=0 E=1");

	/* Phase 4: frees with an empty spare and an empty sheaf in the barn. */
	step(c(), "pushes", {{"free_cpu_sheaf", 4}}, [&] { free_(4); }); /* M=4 S=0 */
	step(c(), "main full, spare empty: swap", {{"free_cpu_sheaf", 1}, {"sheaf_swap", 1}},
	     [&] { free_(1); }); /* M=1 S=4 */
	step(c(), "pushes", {{"free_cpu_sheaf", 3}}, [&] { free_(3); });
	step(c(), "both full: main to barn, empty sheaf from barn",
	     {{"free_cpu_sheaf", 1}, {"barn_put", 1}, {"barn_get", 1}},
	     [&] { free_(1); }); /* M=1 S=4 F=1 E=0 */
	step(c(), "pushes", {{"free_cpu_sheaf", 3}}, [&] { free_(3); });
	step(c(), "both full, barn full: flush",
	     {{"free_cpu_sheaf", 1}, {"barn_put_fail", 1}, {"sheaf_flush", 1}, {"sheaf_swap", 1}},
	     [&] { free_(1); });
	step(c(), "pushes", {{"free_cpu_sheaf", 3}}, [&] { free_(3); });
	gauges(0, 12, "0 out, M=4 S=4 F=1");

	/* Destroy gives everything back: sheaves flushed and freed. */
	struct dslab_cache_stats s = stats_of(c());
	EXPECT_EQ(s.alloc_cpu_sheaf, 32u);
	EXPECT_EQ(s.free_cpu_sheaf, 32u);
	EXPECT_EQ(s.alloc_slowpath + s.free_slowpath + s.free_remote_node + s.alloc_node_remote, 0u);
	EXPECT_EQ(s.sheaf_alloc, 3u); /* main, and two for frees */
	EXPECT_EQ(s.sheaf_free, 0u);
	EXPECT_EQ(s.alloc_fail, 0u);
	LogCapture log;
	c_.reset();
	EXPECT_EQ(log.text().find("leak"), std::string::npos) << log.text();
}

/* By default an lcore gets an empty spare with its main (a place for
 * dslab_kfree_nolock() when main is full): the first full main swaps. */
TEST_F(Paths, LcoreStartsWithAnEmptySpare)
{
	step(c(), "first alloc: main and an empty spare set up, refill from slabs",
	     {{"sheaf_alloc", 2}, {"barn_get_fail", 1}, {"sheaf_refill", 1}, {"alloc_cpu_sheaf", 1},
	      {"alloc_slab", 1}},
	     [&] { alloc(1); }); /* M=3 S=0 */
	step(c(), "main empty, spare empty, barn empty: refill",
	     {{"alloc_cpu_sheaf", 4}, {"barn_get_fail", 1}, {"sheaf_refill", 1}},
	     [&] { alloc(4); }); /* M=3 S=0 */
	step(c(), "pushes", {{"free_cpu_sheaf", 1}}, [&] { free_(1); }); /* M=4 S=0 */
	step(c(), "main full, spare empty: swap, no new sheaf",
	     {{"free_cpu_sheaf", 1}, {"sheaf_swap", 1}}, [&] { free_(1); }); /* M=1 S=4 */
	free_(3);
	gauges(0, 8, "0 out, M=4 S=4");
}

/* A full sheaf in the barn is used by the next allocations. */
TEST_F(Paths, BarnFullSheavesServeAllocation)
{
	alloc(12);
	free_(12); /* M=4 S=4 F=1 (phase 2 above, from 12 objects) */
	gauges(0, 12, "M=4 S=4 F=1");
	step(c(), "12 allocations: main, spare, barn; no slab touched",
	     {{"alloc_cpu_sheaf", 12}, {"sheaf_swap", 1}, {"barn_get", 1}, {"barn_put", 1}},
	     [&] { alloc(12); });
	gauges(12, 0, "all out again");
	free_(12);
}

/* sheaf_capacity 0: every operation goes to the slabs under their lock. */
TEST(PathsNoSheaves, SlowpathOnly)
{
	CachePtr c = make_cache("paths_nosheaf", 64, 0);
	ASSERT_TRUE(c);
	EXPECT_EQ(stats_of(c.get()).sheaf_capacity, 0u);
	std::vector<void *> v(10), b(10);
	step(c.get(), "alloc", {{"alloc_slowpath", 10}, {"alloc_slab", 1}}, [&] {
		for (auto &p : v)
			ASSERT_NE(p = dslab_alloc(c.get(), 0), nullptr);
	});
	step(c.get(), "alloc_bulk", {{"alloc_slowpath", 10}},
	     [&] { ASSERT_EQ(dslab_alloc_bulk(c.get(), 0, 10, b.data()), 10u); });
	std::set<void *> u(v.begin(), v.end());
	u.insert(b.begin(), b.end());
	EXPECT_EQ(u.size(), 20u);
	EXPECT_EQ(stats_of(c.get()).objects_in_use, 20u);
	EXPECT_EQ(stats_of(c.get()).objects_in_sheaves, 0u);
	step(c.get(), "free", {{"free_slowpath", 10}}, [&] {
		for (void *p : v)
			dslab_free(c.get(), p);
	});
	step(c.get(), "free_bulk", {{"free_slowpath", 10}}, [&] { dslab_free_bulk(c.get(), 10, b.data()); });
	step(c.get(), "kfree of its object", {{"alloc_slowpath", 1}, {"free_slowpath", 1}}, [&] {
		void *p = dslab_alloc(c.get(), 0);
		ASSERT_NE(p, nullptr);
		dslab_kfree(p);
	});
	dslab_sheaf *sh = nullptr;
	step(c.get(), "prefill still works (any n is above capacity 0: oversize); frees to slabs",
	     {{"sheaf_prefill_oversize", 1}, {"alloc_from_sheaf", 2},
	      {"sheaf_alloc", kAny}, {"sheaf_free", kAny}, {"sheaf_refill", kAny}, {"sheaf_flush", kAny},
	      {"barn_get_fail", kAny}, {"barn_put", kAny}, {"barn_put_fail", kAny},
	      {"sheaf_return_slow", 1}, {"free_slowpath", 2}},
	     [&] {
		     ASSERT_NE(sh = dslab_prefill_sheaf(c.get(), 0, 2), nullptr);
		     void *p = dslab_alloc_from_sheaf(c.get(), 0, sh);
		     void *q = dslab_alloc_from_sheaf(c.get(), 0, sh);
		     ASSERT_NE(p, nullptr);
		     ASSERT_NE(q, nullptr);
		     dslab_return_sheaf(c.get(), sh);
		     dslab_free(c.get(), p);
		     dslab_free(c.get(), q);
	     });
	struct dslab_cache_stats s = stats_of(c.get());
	EXPECT_EQ(s.alloc_cpu_sheaf + s.free_cpu_sheaf, 0u);
	EXPECT_EQ(s.objects_in_use, 0u);
	EXPECT_EQ(s.objects_in_sheaves, 0u);
}

/* Bulk: n < capacity, n = capacity, n > capacity, n = 0; all or nothing. */
TEST(PathsBulk, SizesAroundTheCapacity)
{
	CachePtr cp = make_cache("paths_bulk", 64, 8, 2, 2);
	ASSERT_TRUE(cp);
	dslab_cache *c = cp.get();
	std::vector<void *> v(100, nullptr), w(100, nullptr);

	step(c, "n = 0 allocates nothing", {}, [&] {
		EXPECT_EQ(dslab_alloc_bulk(c, 0, 0, v.data()), 0u);
		dslab_free_bulk(c, 0, v.data());
	});
	EXPECT_EQ(v[0], nullptr);
	step(c, "5 < capacity from nothing: set up main and spare, refill, take 5",
	     {{"alloc_cpu_sheaf", 5}, {"sheaf_alloc", 2}, {"barn_get_fail", 1}, {"sheaf_refill", 1},
	      {"alloc_slab", 1}},
	     [&] { ASSERT_EQ(dslab_alloc_bulk(c, 0, 5, v.data()), 5u); }); /* M=3 */
	step(c, "3 from main", {{"alloc_cpu_sheaf", 3}},
	     [&] { ASSERT_EQ(dslab_alloc_bulk(c, 0, 3, v.data() + 5), 3u); }); /* M=0 */
	step(c, "free 8 = capacity into main", {{"free_cpu_sheaf", 8}},
	     [&] { dslab_free_bulk(c, 8, v.data()); }); /* M=8 */
	step(c, "20 > capacity: main, then two refills",
	     {{"alloc_cpu_sheaf", 20}, {"barn_get_fail", 2}, {"sheaf_refill", 2}},
	     [&] { ASSERT_EQ(dslab_alloc_bulk(c, 0, 20, v.data()), 20u); }); /* M=4 */
	std::set<void *> u(v.begin(), v.begin() + 20);
	EXPECT_EQ(u.size(), 20u);
	EXPECT_EQ(u.count(nullptr), 0u);
	EXPECT_EQ(stats_of(c).objects_in_use, 20u);
	step(c, "free 20 > capacity: main fills, swaps with the empty spare, then to the barn",
	     {{"free_cpu_sheaf", 20}, {"sheaf_swap", 1}, {"barn_put", 1}, {"barn_get_fail", 1},
	      {"sheaf_alloc", 1}},
	     [&] { dslab_free_bulk(c, 20, v.data()); }); /* M=8 S=8 F=1 */
	EXPECT_EQ(stats_of(c).objects_in_use, 0u);
	EXPECT_EQ(stats_of(c).objects_in_sheaves, 24u);

	for (unsigned n : {1u, 7u, 8u, 9u, 33u, 100u}) {
		ASSERT_EQ(dslab_alloc_bulk(c, 0, n, v.data()), n);
		std::set<void *> s(v.begin(), v.begin() + n);
		EXPECT_EQ(s.size(), n);
		for (unsigned i = 0; i < n; i++)
			memset(v[i], (int)i, 64);
		EXPECT_EQ(stats_of(c).objects_in_use, n);
		dslab_free_bulk(c, n, v.data());
		EXPECT_EQ(stats_of(c).objects_in_use, 0u);
	}

	/* NULL entries of a bulk free are skipped. */
	ASSERT_EQ(dslab_alloc_bulk(c, 0, 3, v.data()), 3u);
	void *with_null[5] = {v[0], nullptr, v[1], nullptr, v[2]};
	dslab_free_bulk(c, 5, with_null);
	EXPECT_EQ(stats_of(c).objects_in_use, 0u);

	/* Bulk free of objects from single allocations and vice versa. */
	for (int i = 0; i < 30; i++)
		ASSERT_NE(v[i] = dslab_alloc(c, 0), nullptr);
	dslab_free_bulk(c, 30, v.data());
	ASSERT_EQ(dslab_alloc_bulk(c, 0, 30, v.data()), 30u);
	for (int i = 0; i < 30; i++)
		dslab_free(c, v[i]);
	EXPECT_EQ(stats_of(c).objects_in_use, 0u);
}

/* All or nothing: a bulk allocation that cannot be met takes nothing, on
 * an lcore with sheaves (memory made to run out by fault injection). */
TEST(PathsBulk, AllOrNothing)
{
	CachePtr cp = make_cache("paths_bulk_aon", 1024, 8, 2, 2);
	ASSERT_TRUE(cp);
	dslab_cache *c = cp.get();
	std::vector<void *> v(5000);
	ASSERT_EQ(dslab_alloc_bulk(c, 0, 10, v.data()), 10u); /* one chunk mapped */
	struct dslab_cache_stats s0 = stats_of(c);
	ASSERT_EQ(dslab_fault_set(DSLAB_FAULT_MEMSRC, 0, UINT64_MAX), 0);
	rte_errno = 0;
	/* 2 MiB chunk of 1 KiB objects: 5000 cannot be met from it. */
	unsigned got = dslab_alloc_bulk(c, 0, 5000, v.data() + 10);
	int err = rte_errno;
	ASSERT_EQ(dslab_fault_set(DSLAB_FAULT_MEMSRC, 0, 0), 0);
	EXPECT_EQ(got, 0u);
	EXPECT_EQ(err, ENOMEM);
	struct dslab_cache_stats d = delta(stats_of(c), s0);
	expect_counters(d,
			{{"alloc_fail", 1}, {"sheaf_refill", kAny}, {"sheaf_flush", kAny}, {"sheaf_swap", kAny},
			 {"barn_get", kAny}, {"barn_get_fail", kAny}, {"barn_put", kAny},
			 {"barn_put_fail", kAny}, {"sheaf_alloc", kAny}, {"sheaf_free", kAny},
			 {"alloc_slab", kAny}, {"free_slab", kAny}},
			"failed bulk: no object counted as allocated or freed");
	EXPECT_EQ(stats_of(c).objects_in_use, 10u);
	/* With memory back the same request is met. */
	ASSERT_EQ(dslab_alloc_bulk(c, 0, 4990, v.data() + 10), 4990u);
	std::set<void *> u(v.begin(), v.end());
	EXPECT_EQ(u.size(), 5000u);
	dslab_free_bulk(c, 5000, v.data());
	EXPECT_EQ(stats_of(c).objects_in_use, 0u);
}

} // namespace

/* A bulk free with another socket's object in the middle: the local objects
 * still go into this lcore's sheaf, the remote one goes home, none is lost
 * (the fast path checks the whole burst first, then copies). Logical sockets:
 * the main lcore is on logical socket 0. */
TEST(PathsBulk, MixedBurstSendsTheRemoteObjectHome)
{
	if (dslab_socket_count() < 2)
		GTEST_SKIP() << "needs 2 (logical) sockets";
	CachePtr cp = make_cache("paths_bulk_mixed", 64, 32, 2, 2);
	ASSERT_TRUE(cp);
	dslab_cache *c = cp.get();
	void *v[9];
	ASSERT_EQ(dslab_alloc_bulk(c, 0, 8, v), 8u);
	v[8] = v[4];
	ASSERT_NE(v[4] = dslab_alloc_node(c, 0, 1), nullptr);
	step(c, "8 local objects into main, 1 remote home",
	     {{"free_cpu_sheaf", 8}, {"free_remote_node", 1}},
	     [&] { dslab_free_bulk(c, 9, v); });
	EXPECT_EQ(stats_of(c).objects_in_use, 0u);
	/* The next 8 from this lcore's sheaf are the 8 local objects. */
	std::set<void *> local(v, v + 9);
	local.erase(v[4]);
	void *w[8];
	ASSERT_EQ(dslab_alloc_bulk(c, 0, 8, w), 8u);
	EXPECT_EQ(std::set<void *>(w, w + 8), local) << "the main sheaf held exactly the local 8";
	dslab_free_bulk(c, 8, w);
}
