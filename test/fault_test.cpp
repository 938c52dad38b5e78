/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The dslab authors
 */
/*
 * Out of memory, by fault injection (dslab_fault.h): every API returns its
 * documented error, nothing is handed out twice or lost, and the allocator
 * works fully once memory returns. Runs on the main lcore (EAL and dslab are
 * initialised by the suite's main()).
 */
#include <algorithm>
#include <chrono>
#include <set>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <dslab.h>
#include <dslab_fault.h>

#include "test_util.h"

namespace {

using dslab_test::stats_of;

class Fault : public ::testing::Test {
protected:
	void TearDown() override
	{
		for (int s = 0; s < DSLAB_FAULT_NR_SITES; s++)
			dslab_fault_set((dslab_fault_site)s, 0, 0);
	}
};

TEST_F(Fault, BadSiteRejected)
{
	EXPECT_EQ(dslab_fault_set(DSLAB_FAULT_NR_SITES, 0, 1), -EINVAL);
	EXPECT_EQ(rte_errno, EINVAL);
}

TEST_F(Fault, NoMemoryAtAllThenRecovery)
{
	dslab_cache *c = dslab_cache_create("fault_nomem", 256, nullptr);
	ASSERT_NE(c, nullptr);
	uint64_t before = dslab_fault_injected(DSLAB_FAULT_MEMSRC);
	ASSERT_EQ(dslab_fault_set(DSLAB_FAULT_MEMSRC, 0, UINT64_MAX), 0);

	rte_errno = 0;
	EXPECT_EQ(dslab_alloc(c, 0), nullptr);
	EXPECT_EQ(rte_errno, ENOMEM);
	void *objs[8];
	rte_errno = 0;
	EXPECT_EQ(dslab_alloc_bulk(c, 0, 8, objs), 0u);
	EXPECT_EQ(rte_errno, ENOMEM);
	EXPECT_EQ(dslab_alloc_node(c, 0, 1), nullptr); /* logical socket 1 */
	EXPECT_EQ(dslab_kvmalloc(4u << 20, 0), nullptr);
	EXPECT_EQ(rte_errno, ENOMEM);
	EXPECT_EQ(dslab_prefill_sheaf(c, 0, 4), nullptr);
	EXPECT_EQ(rte_errno, ENOMEM);
	EXPECT_GT(dslab_fault_injected(DSLAB_FAULT_MEMSRC), before);

	struct dslab_cache_stats s = stats_of(c);
	EXPECT_EQ(s.objects_in_use, 0u);
	EXPECT_GE(s.alloc_fail, 4u);
	EXPECT_EQ(s.bytes_held, 0u);

	ASSERT_EQ(dslab_fault_set(DSLAB_FAULT_MEMSRC, 0, 0), 0);
	void *p = dslab_alloc(c, 0);
	ASSERT_NE(p, nullptr);
	void *big = dslab_kvmalloc(4u << 20, 0);
	ASSERT_NE(big, nullptr);
	memset(big, 1, 4u << 20);
	dslab_kvfree(big);
	dslab_free(c, p);
	EXPECT_EQ(stats_of(c).objects_in_use, 0u);
	dslab_cache_destroy(c);
}

/* Memory runs out part-way: every object handed out is distinct and
 * usable, the counts add up, and all of it can be freed and reused. */
TEST_F(Fault, RunsOutPartWay)
{
	dslab_cache *c = dslab_cache_create("fault_partway", 4096, nullptr);
	ASSERT_NE(c, nullptr);
	ASSERT_EQ(dslab_fault_set(DSLAB_FAULT_MEMSRC, 2, UINT64_MAX), 0); /* two chunks */

	std::vector<void *> got;
	std::set<void *> seen;
	for (;;) {
		void *p = dslab_alloc(c, 0);
		if (p == nullptr)
			break;
		ASSERT_TRUE(seen.insert(p).second) << "object handed out twice: " << p;
		memset(p, (int)(got.size() & 0xff), 4096);
		got.push_back(p);
		ASSERT_LT(got.size(), 100000u) << "the fault never fired";
	}
	EXPECT_EQ(rte_errno, ENOMEM);
	/* Two 2 MiB chunks of 4 KiB objects: at most 1024 objects. */
	EXPECT_GT(got.size(), 0u);
	EXPECT_LE(got.size(), 1024u);
	for (size_t i = 0; i < got.size(); i++)
		ASSERT_EQ(static_cast<unsigned char *>(got[i])[4095], (unsigned char)(i & 0xff));

	struct dslab_cache_stats s = stats_of(c);
	EXPECT_EQ(s.objects_in_use, got.size());
	EXPECT_EQ(s.bytes_held, 2u * (2u << 20));

	/* A bulk request that cannot be met takes nothing. */
	void *objs[64];
	EXPECT_EQ(dslab_alloc_bulk(c, 0, 64, objs), 0u);
	EXPECT_EQ(stats_of(c).objects_in_use, got.size());

	for (void *p : got)
		dslab_free(c, p);
	EXPECT_EQ(stats_of(c).objects_in_use, 0u);

	/* Memory returns: more than before can be allocated. */
	ASSERT_EQ(dslab_fault_set(DSLAB_FAULT_MEMSRC, 0, 0), 0);
	std::vector<void *> again(got.size() + 100);
	ASSERT_EQ(dslab_alloc_bulk(c, 0, (unsigned)again.size(), again.data()), again.size());
	dslab_free_bulk(c, (unsigned)again.size(), again.data());
	EXPECT_EQ(stats_of(c).objects_in_use, 0u);
	dslab_cache_destroy(c);
}

/* No sheaf can be allocated: the lcore falls back to the slabs. */
TEST_F(Fault, NoSheavesFallsBackToSlabs)
{
	dslab_cache *c = dslab_cache_create("fault_nosheaf", 64, nullptr);
	ASSERT_NE(c, nullptr);
	ASSERT_EQ(dslab_fault_set(DSLAB_FAULT_SHEAF, 0, UINT64_MAX), 0);
	std::vector<void *> v(100);
	for (auto &p : v)
		ASSERT_NE(p = dslab_alloc(c, 0), nullptr);
	for (void *p : v)
		dslab_free(c, p);
	struct dslab_cache_stats s = stats_of(c);
	EXPECT_EQ(s.alloc_slowpath, 100u);
	EXPECT_EQ(s.free_slowpath, 100u);
	EXPECT_EQ(s.alloc_cpu_sheaf, 0u);
	EXPECT_EQ(s.objects_in_use, 0u);
	EXPECT_EQ(dslab_prefill_sheaf(c, 0, 4), nullptr);
	EXPECT_EQ(rte_errno, ENOMEM);

	ASSERT_EQ(dslab_fault_set(DSLAB_FAULT_SHEAF, 0, 0), 0);
	void *p = dslab_alloc(c, 0);
	ASSERT_NE(p, nullptr);
	dslab_free(c, p);
	s = stats_of(c);
	EXPECT_EQ(s.alloc_cpu_sheaf, 1u);
	EXPECT_EQ(s.free_cpu_sheaf, 1u);
	dslab_cache_destroy(c);
}

/* Threads with no lcore id: with no memory for their shared sheaf they are
 * served by the slabs; when memory for sheaves returns, by the sheaf. */
TEST_F(Fault, NoLcoreIdWithoutSheavesUsesSlabs)
{
	dslab_cache_args a{};
	a.sheaf_capacity = 8;
	dslab_cache *c = dslab_cache_create("fault_nolcore", 64, &a);
	ASSERT_NE(c, nullptr);
	std::thread t([&] {
		ASSERT_EQ(dslab_fault_set(DSLAB_FAULT_SHEAF, 0, UINT64_MAX), 0);
		std::vector<void *> v(20);
		ASSERT_EQ(dslab_alloc_bulk(c, 0, 20, v.data()), 20u);
		std::set<void *> u(v.begin(), v.end());
		EXPECT_EQ(u.size(), 20u);
		for (void *p : v)
			dslab_free(c, p);
		struct dslab_cache_stats s = stats_of(c);
		EXPECT_EQ(s.sheaf_alloc, 0u);
		EXPECT_EQ(s.objects_in_use, 0u);
		EXPECT_EQ(s.objects_in_sheaves, 0u) << "no sheaf: all went to the slabs";
		ASSERT_EQ(dslab_fault_set(DSLAB_FAULT_SHEAF, 0, 0), 0);
		void *p = dslab_alloc(c, 0);
		ASSERT_NE(p, nullptr);
		dslab_free(c, p);
		s = stats_of(c);
		EXPECT_EQ(s.sheaf_alloc, 1u);
		EXPECT_EQ(s.objects_in_sheaves, 8u) << "the shared sheaf, refilled";
		EXPECT_EQ(s.alloc_slowpath, 21u);
		EXPECT_EQ(s.free_slowpath, 21u);
	});
	t.join();
	dslab_cache_destroy(c);
}

/* Frees never fail: with no memory for sheaves, a full main is flushed. */
TEST_F(Fault, FreesNeverFail)
{
	dslab_cache_args a{};
	a.sheaf_capacity = 4;
	dslab_cache *c = dslab_cache_create("fault_frees", 64, &a);
	ASSERT_NE(c, nullptr);
	std::vector<void *> v(64);
	ASSERT_EQ(dslab_alloc_bulk(c, 0, 64, v.data()), 64u);
	ASSERT_EQ(dslab_fault_set(DSLAB_FAULT_SHEAF, 0, UINT64_MAX), 0);
	for (void *p : v)
		dslab_free(c, p);
	struct dslab_cache_stats s = stats_of(c);
	EXPECT_EQ(s.objects_in_use, 0u);
	EXPECT_GT(s.sheaf_flush, 0u);
	dslab_cache_destroy(c);
}

/* The reaper thread of dslab_cache_destroy_async() starts on its first call
 * (no test of this binary calls it before): when it cannot, the call fails
 * and the cache stays alive and linked, so nothing is lost. */
TEST_F(Fault, AsyncDestroyWithoutReaperLeavesCacheAlive)
{
	dslab_cache *c = dslab_cache_create("fault_reaper", 64, nullptr);
	ASSERT_NE(c, nullptr);
	void *p = dslab_alloc(c, 0);
	ASSERT_NE(p, nullptr);
	ASSERT_EQ(dslab_fault_set(DSLAB_FAULT_THREAD, 0, 1), 0);
	const uint64_t injected = dslab_fault_injected(DSLAB_FAULT_THREAD);
	rte_errno = 0;
	EXPECT_EQ(dslab_cache_destroy_async(c), -EAGAIN);
	EXPECT_EQ(rte_errno, EAGAIN);
	ASSERT_EQ(dslab_fault_injected(DSLAB_FAULT_THREAD), injected + 1)
		<< "the reaper already ran: the failure was not exercised";
	EXPECT_EQ(dslab_cache_lookup("fault_reaper"), c) << "still linked";
	EXPECT_EQ(dslab_caches_dying(), 0u);
	dslab_free(c, p); /* still usable */
	EXPECT_EQ(stats_of(c).objects_in_use, 0u);
	/* Once the thread can start, the same call works. */
	ASSERT_EQ(dslab_cache_destroy_async(c), 0);
	EXPECT_EQ(dslab_cache_lookup("fault_reaper"), nullptr);
	for (int i = 0; i < 10000 && dslab_caches_dying() != 0; i++)
		std::this_thread::sleep_for(std::chrono::milliseconds(1));
	EXPECT_EQ(dslab_caches_dying(), 0u) << "reaped";
}

TEST_F(Fault, DescriptorFailureLeavesNameFree)
{
	ASSERT_EQ(dslab_fault_set(DSLAB_FAULT_META, 0, 1), 0);
	rte_errno = 0;
	EXPECT_EQ(dslab_cache_create("fault_meta", 64, nullptr), nullptr);
	EXPECT_EQ(rte_errno, ENOMEM);
	dslab_cache *c = dslab_cache_create("fault_meta", 64, nullptr);
	ASSERT_NE(c, nullptr);
	dslab_cache_destroy(c);
}

/* A refill that must grow the sheaf and cannot: the caller's sheaf comes back
 * exactly as it was, nothing leaks, and the refill works once memory returns. */
TEST_F(Fault, RefillThatMustGrowKeepsSheaf)
{
	dslab_cache *c = dslab_cache_create("fault_refill", 256, nullptr);
	ASSERT_NE(c, nullptr);
	dslab_sheaf *sh = dslab_prefill_sheaf(c, 0, 4);
	ASSERT_NE(sh, nullptr);
	dslab_sheaf *const orig = sh;
	const uint32_t size = sh->size, cap = sh->capacity;
	std::vector<void *> held(sh->objects, sh->objects + size);

	/* One chunk (2 MiB of 256 B objects) cannot cover this: */
	const unsigned want = 20000;
	ASSERT_GT(want, cap);
	const struct dslab_cache_stats before = stats_of(c);
	ASSERT_EQ(dslab_fault_set(DSLAB_FAULT_MEMSRC, 0, UINT64_MAX), 0);
	rte_errno = 0;
	EXPECT_EQ(dslab_refill_sheaf(c, 0, &sh, want), -ENOMEM);
	EXPECT_EQ(rte_errno, ENOMEM);
	EXPECT_EQ(sh, orig);
	EXPECT_EQ(sh->size, size);
	EXPECT_EQ(sh->capacity, cap);
	EXPECT_TRUE(std::equal(held.begin(), held.end(), sh->objects));
	const struct dslab_cache_stats after = stats_of(c);
	EXPECT_EQ(after.objects_in_use, before.objects_in_use);
	EXPECT_EQ(after.objects_in_sheaves, before.objects_in_sheaves)
		<< "the grown sheaf's extra objects went back to the slabs";
	EXPECT_EQ(after.bytes_held, before.bytes_held);

	ASSERT_EQ(dslab_fault_set(DSLAB_FAULT_MEMSRC, 0, 0), 0);
	ASSERT_EQ(dslab_refill_sheaf(c, 0, &sh, want), 0);
	EXPECT_GE(sh->size, want);
	std::set<void *> uniq(sh->objects, sh->objects + sh->size);
	EXPECT_EQ(uniq.size(), sh->size) << "no object handed out twice";
	dslab_return_sheaf(c, sh);
	EXPECT_EQ(stats_of(c).objects_in_use, 0u);
	dslab_cache_destroy(c);
}

} // namespace
