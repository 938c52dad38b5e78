/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The dslab authors
 */
/*
 * Prefilled sheaves (kmem_cache_prefill_sheaf family): prefill N below and
 * above the capacity, exactly N allocations that cannot fail, the size,
 * refill (growing to an oversize sheaf), return; the sheaf_prefill_* and
 * sheaf_return_* counters prove the path. Capacity 8, barn limits 2.
 */
#include <set>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <dslab.h>

#include "test_util.h"

namespace {

using namespace dslab_test;

/* Take exactly n objects from the sheaf; none may fail. */
void take(dslab_cache *c, dslab_sheaf *sh, unsigned n, std::vector<void *> &out)
{
	for (unsigned i = 0; i < n; i++) {
		void *p = dslab_alloc_from_sheaf(c, 0, sh);
		ASSERT_NE(p, nullptr) << "allocation " << i << " of " << n << " from a prefilled sheaf";
		memset(p, 0x3c, dslab_cache_obj_size(c));
		out.push_back(p);
	}
}

TEST(Prefill, BelowAndAboveCapacityRefillReturn)
{
	CachePtr cp = make_cache("prefill_main", 64, 8, 2, 2);
	ASSERT_TRUE(cp);
	dslab_cache *c = cp.get();
	std::vector<void *> got;
	dslab_sheaf *sh = nullptr;

	step(c, "prefill 5 < capacity, nothing in the barn: filled from slabs",
	     {{"sheaf_prefill_slow", 1}, {"barn_get_fail", 2}, {"sheaf_alloc", 1}, {"sheaf_refill", 1},
	      {"alloc_slab", 1}},
	     [&] { ASSERT_NE(sh = dslab_prefill_sheaf(c, 0, 5), nullptr); });
	ASSERT_NE(sh, nullptr);
	unsigned size = dslab_sheaf_size(sh);
	EXPECT_GE(size, 5u);
	EXPECT_EQ(stats_of(c).objects_in_use, 0u) << "objects in a prefilled sheaf are not in use";
	step(c, "5 allocations from the sheaf", {{"alloc_from_sheaf", 5}}, [&] { take(c, sh, 5, got); });
	EXPECT_EQ(dslab_sheaf_size(sh), size - 5);
	EXPECT_EQ(stats_of(c).objects_in_use, 5u);

	step(c, "refill to 8 = capacity", {{"sheaf_refill", size - 5 < 8 ? 1u : 0u}},
	     [&] { EXPECT_EQ(dslab_refill_sheaf(c, 0, &sh, 8), 0); });
	EXPECT_GE(dslab_sheaf_size(sh), 8u);
	size = dslab_sheaf_size(sh);
	take(c, sh, size, got);
	EXPECT_EQ(dslab_sheaf_size(sh), 0u);
	rte_errno = 0;
	EXPECT_EQ(dslab_alloc_from_sheaf(c, 0, sh), nullptr) << "empty sheaf";
	EXPECT_EQ(rte_errno, ENOENT);

	dslab_sheaf *old = sh;
	step(c, "refill to 20 > capacity: grows into an oversize sheaf",
	     {{"sheaf_prefill_oversize", 1}, {"sheaf_alloc", 1}, {"sheaf_refill", 1}, {"barn_put", 1}},
	     [&] { EXPECT_EQ(dslab_refill_sheaf(c, 0, &sh, 20), 0); });
	(void)old;
	EXPECT_GE(dslab_sheaf_size(sh), 20u);
	take(c, sh, 20, got);
	unsigned left = dslab_sheaf_size(sh);
	step(c, "return an oversize sheaf: flushed and freed",
	     {{"sheaf_return_slow", 1}, {"sheaf_flush", left ? 1u : 0u}, {"sheaf_free", 1}},
	     [&] { dslab_return_sheaf(c, sh); });

	step(c, "prefill 30 > capacity: oversize",
	     {{"sheaf_prefill_oversize", 1}, {"sheaf_alloc", 1}, {"sheaf_refill", 1}, {"alloc_slab", kAny}},
	     [&] { ASSERT_NE(sh = dslab_prefill_sheaf(c, 0, 30), nullptr); });
	ASSERT_NE(sh, nullptr);
	EXPECT_GE(dslab_sheaf_size(sh), 30u);
	step(c, "exactly 30 allocations", {{"alloc_from_sheaf", 30}}, [&] { take(c, sh, 30, got); });
	left = dslab_sheaf_size(sh);
	step(c, "return", {{"sheaf_return_slow", 1}, {"sheaf_flush", left ? 1u : 0u}, {"sheaf_free", 1}},
	     [&] { dslab_return_sheaf(c, sh); });

	/* The barn holds the empty sheaf the growing refill left (E=1). */
	step(c, "prefill 8 = capacity: the barn's empty sheaf, filled from slabs",
	     {{"sheaf_prefill_slow", 1}, {"barn_get_fail", 1}, {"barn_get", 1}, {"sheaf_refill", 1},
	      {"alloc_slab", kAny}},
	     [&] { ASSERT_NE(sh = dslab_prefill_sheaf(c, 0, 8), nullptr); });
	ASSERT_NE(sh, nullptr);
	EXPECT_EQ(dslab_sheaf_size(sh), 8u) << "at least 8, at most the capacity";
	step(c, "return a full sheaf: kept whole in the barn", {{"sheaf_return_fast", 1}, {"barn_put", 1}},
	     [&] { dslab_return_sheaf(c, sh); });
	step(c, "prefill 3: a full sheaf from the barn", {{"sheaf_prefill_fast", 1}, {"barn_get", 1}},
	     [&] { ASSERT_NE(sh = dslab_prefill_sheaf(c, 0, 3), nullptr); });
	ASSERT_NE(sh, nullptr);
	EXPECT_GE(dslab_sheaf_size(sh), 3u);
	take(c, sh, 3, got);
	step(c, "return a partly used sheaf: flushed, the empty sheaf kept in the barn",
	     {{"sheaf_return_slow", 1}, {"sheaf_flush", 1}, {"barn_put", 1}},
	     [&] { dslab_return_sheaf(c, sh); }); /* E=1 */
	step(c, "return NULL: nothing", {}, [&] { dslab_return_sheaf(c, nullptr); });

	/* Three sheaves at once; returned partly used they fill the barn's
	 * empty list (limit 2) and the third is freed. */
	dslab_sheaf *h[3];
	step(c, "three prefills of 4",
	     {{"sheaf_prefill_slow", 3}, {"barn_get_fail", 5}, {"barn_get", 1}, {"sheaf_alloc", 2},
	      {"sheaf_refill", 3}, {"alloc_slab", kAny}},
	     [&] {
		     for (auto &x : h)
			     ASSERT_NE(x = dslab_prefill_sheaf(c, 0, 4), nullptr);
	     });
	for (auto *x : h)
		take(c, x, 1, got);
	step(c, "returns: two empty sheaves kept, the third over the limit freed",
	     {{"sheaf_return_slow", 3}, {"sheaf_flush", 3}, {"barn_put", 2}, {"barn_put_fail", 1},
	      {"sheaf_free", 1}},
	     [&] {
		     for (auto *x : h)
			     dslab_return_sheaf(c, x);
	     });

	std::set<void *> u(got.begin(), got.end());
	EXPECT_EQ(u.size(), got.size()) << "an object was handed out twice";
	EXPECT_EQ(stats_of(c).objects_in_use, got.size());
	EXPECT_EQ(stats_of(c).alloc_from_sheaf, got.size());
	for (void *p : got)
		dslab_free(c, p);
	EXPECT_EQ(stats_of(c).objects_in_use, 0u);
	EXPECT_EQ(stats_of(c).alloc_fail, 0u);
}

/* A prefilled sheaf belongs to its holder and may be used from any thread. */
TEST(Prefill, FromThreadWithoutLcoreId)
{
	CachePtr cp = make_cache("prefill_thr", 128, 16, 2, 2);
	ASSERT_TRUE(cp);
	dslab_cache *c = cp.get();
	std::vector<void *> got;
	std::thread t([&] {
		dslab_sheaf *sh = dslab_prefill_sheaf(c, 0, 12);
		ASSERT_NE(sh, nullptr);
		EXPECT_GE(dslab_sheaf_size(sh), 12u);
		take(c, sh, 12, got);
		EXPECT_EQ(dslab_refill_sheaf(c, 0, &sh, 40), 0);
		EXPECT_GE(dslab_sheaf_size(sh), 40u);
		take(c, sh, 40, got);
		dslab_return_sheaf(c, sh);
	});
	t.join();
	/* Handed over to the main lcore, used and returned there. */
	dslab_sheaf *sh = nullptr;
	std::thread t2([&] { sh = dslab_prefill_sheaf(c, 0, 7); });
	t2.join();
	ASSERT_NE(sh, nullptr);
	take(c, sh, 7, got);
	dslab_return_sheaf(c, sh);
	struct dslab_cache_stats s = stats_of(c);
	EXPECT_EQ(s.alloc_from_sheaf, 59u);
	EXPECT_EQ(s.sheaf_prefill_slow, 2u);
	EXPECT_EQ(s.sheaf_prefill_oversize, 1u);
	EXPECT_EQ(s.objects_in_use, 59u);
	std::set<void *> u(got.begin(), got.end());
	EXPECT_EQ(u.size(), 59u);
	for (void *p : got)
		dslab_free(c, p);
	EXPECT_EQ(stats_of(c).objects_in_use, 0u);
}

} // namespace
