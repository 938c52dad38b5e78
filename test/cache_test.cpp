/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The dslab authors
 */
/*
 * Caches: create/destroy, names, lookup, walk, object size and alignment,
 * the zeroing flags on every allocation path, destroy with a leak, shrink.
 * Runs on the main lcore (lcore 0, LOGICAL socket 0).
 */
#include <algorithm>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <dslab.h>
#include <dslab_rcu.h>
#include <rte_errno.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define LSAN_DISABLE() __lsan_disable()
#define LSAN_ENABLE() __lsan_enable()
#else
#define LSAN_DISABLE() ((void)0)
#define LSAN_ENABLE() ((void)0)
#endif

#include "test_util.h"

namespace {

using namespace dslab_test;

/* Objects sorted by address are at least obj_size apart. */
void expect_disjoint(std::vector<void *> v, size_t obj_size, const char *what)
{
	std::sort(v.begin(), v.end());
	for (size_t i = 1; i < v.size(); i++)
		ASSERT_GE((uintptr_t)v[i] - (uintptr_t)v[i - 1], obj_size)
			<< what << ": objects " << v[i - 1] << " and " << v[i] << " overlap";
}

TEST(Cache, CreateNameLookupDuplicateWalk)
{
	dslab_cache *c = dslab_cache_create("cache_geo", 40, nullptr);
	ASSERT_NE(c, nullptr);
	EXPECT_STREQ(dslab_cache_name(c), "cache_geo");
	EXPECT_EQ(dslab_cache_lookup("cache_geo"), c);
	EXPECT_GE(dslab_cache_obj_size(c), 40u);

	rte_errno = 0;
	EXPECT_EQ(dslab_cache_create("cache_geo", 40, nullptr), nullptr);
	EXPECT_EQ(rte_errno, EEXIST);
	rte_errno = 0;
	EXPECT_EQ(dslab_cache_create("cache_geo", 1000, nullptr), nullptr) << "other size, same name";
	EXPECT_EQ(rte_errno, EEXIST);
	EXPECT_EQ(dslab_cache_lookup("cache_geo"), c) << "the failed create did not replace it";

	rte_errno = 0;
	EXPECT_EQ(dslab_cache_lookup("cache_none"), nullptr);
	EXPECT_EQ(rte_errno, ENOENT);

	/* Longest name: DSLAB_NAME_SIZE - 1 characters. */
	std::string longest(DSLAB_NAME_SIZE - 1, 'L');
	dslab_cache *l = dslab_cache_create(longest.c_str(), 8, nullptr);
	ASSERT_NE(l, nullptr);
	EXPECT_EQ(std::string(dslab_cache_name(l)), longest);
	EXPECT_EQ(dslab_cache_lookup(longest.c_str()), l);

	/* The walk sees ours and the kmalloc classes, in creation order. */
	std::vector<std::string> names;
	EXPECT_EQ(dslab_cache_walk(
			  [](dslab_cache *x, void *a) {
				  static_cast<std::vector<std::string> *>(a)->push_back(dslab_cache_name(x));
				  return 0;
			  },
			  &names),
		  0);
	auto at = [&](const std::string &n) { return std::find(names.begin(), names.end(), n); };
	ASSERT_NE(at("cache_geo"), names.end());
	ASSERT_NE(at(longest), names.end());
	EXPECT_LT(at("cache_geo"), at(longest));
	EXPECT_NE(at("kmalloc-8"), names.end());
	EXPECT_NE(at("kmalloc-32768"), names.end());
	/* A walk stops at the first non-zero return and returns it. */
	int calls = 0;
	EXPECT_EQ(dslab_cache_walk([](dslab_cache *, void *a) { return ++*static_cast<int *>(a) == 2 ? 7 : 0; },
				   &calls),
		  7);
	EXPECT_EQ(calls, 2);

	dslab_cache_destroy(c);
	dslab_cache_destroy(l);
	EXPECT_EQ(dslab_cache_lookup("cache_geo"), nullptr);
	EXPECT_EQ(dslab_cache_lookup(longest.c_str()), nullptr);
	c = dslab_cache_create("cache_geo", 40, nullptr); /* the name is free again */
	EXPECT_NE(c, nullptr);
	dslab_cache_destroy(c);
}

/* A walk callback runs under the registry lock: the calls that take it, or
 * wait for a grace period under it, are refused there with EDEADLK (without
 * that, the first of them would deadlock the test) and change nothing. */
TEST(Cache, WalkCallbackCallsAreRefused)
{
	dslab_cache *v = dslab_cache_create("walk_victim", 32, nullptr);
	ASSERT_NE(v, nullptr);
	struct Seen {
		dslab_cache *victim;
		int calls;
		dslab_cache *created, *found;
		int create_errno, lookup_errno, destroy_errno, async_rc, walk_rc;
		int barrier_errno, barrier_on_errno, fini_errno;
	} seen{};
	seen.victim = v;
	EXPECT_EQ(dslab_cache_walk(
			  [](dslab_cache *, void *arg) {
				  auto *s = static_cast<Seen *>(arg);
				  s->calls++;
				  rte_errno = 0;
				  s->created = dslab_cache_create("walk_new", 32, nullptr);
				  s->create_errno = rte_errno;
				  rte_errno = 0;
				  s->found = dslab_cache_lookup("walk_victim");
				  s->lookup_errno = rte_errno;
				  rte_errno = 0;
				  dslab_cache_destroy(s->victim);
				  s->destroy_errno = rte_errno;
				  s->async_rc = dslab_cache_destroy_async(s->victim);
				  s->walk_rc = dslab_cache_walk([](dslab_cache *, void *) { return 0; }, nullptr);
				  rte_errno = 0;
				  dslab_rcu_barrier();
				  s->barrier_errno = rte_errno;
				  rte_errno = 0;
				  dslab_rcu_barrier_on_cache(s->victim);
				  s->barrier_on_errno = rte_errno;
				  rte_errno = 0;
				  dslab_fini();
				  s->fini_errno = rte_errno;
				  return 5;
			  },
			  &seen),
		  5);
	EXPECT_EQ(seen.calls, 1);
	EXPECT_EQ(seen.created, nullptr);
	EXPECT_EQ(seen.create_errno, EDEADLK);
	EXPECT_EQ(seen.found, nullptr);
	EXPECT_EQ(seen.lookup_errno, EDEADLK);
	EXPECT_EQ(seen.destroy_errno, EDEADLK);
	EXPECT_EQ(seen.async_rc, -EDEADLK);
	EXPECT_EQ(seen.walk_rc, -EDEADLK);
	EXPECT_EQ(seen.barrier_errno, EDEADLK);
	EXPECT_EQ(seen.barrier_on_errno, EDEADLK);
	EXPECT_EQ(seen.fini_errno, EDEADLK);
	/* Nothing changed, and after the walk the same calls work. */
	EXPECT_EQ(dslab_cache_lookup("walk_victim"), v);
	EXPECT_EQ(dslab_cache_lookup("walk_new"), nullptr);
	EXPECT_EQ(dslab_caches_dying(), 0u);
	void *p = dslab_alloc(v, 0);
	ASSERT_NE(p, nullptr);
	dslab_free(v, p);
	EXPECT_EQ(dslab_cache_walk([](dslab_cache *, void *) { return 0; }, nullptr), 0);
	dslab_cache_destroy(v);
	EXPECT_EQ(dslab_cache_lookup("walk_victim"), nullptr);
}

TEST(Cache, ObjectSizeAndAlignment)
{
	/* Explicit alignment: every object aligned, size rounded up to it. */
	for (size_t align : {8ul, 16ul, 32ul, 64ul, 128ul, 256ul, 1024ul, 4096ul}) {
		std::string name = "cache_al" + std::to_string(align);
		CachePtr c = make_cache(name.c_str(), 100, DSLAB_SHEAF_CAPACITY_AUTO, 0, 0, 0, align);
		ASSERT_TRUE(c);
		size_t os = dslab_cache_obj_size(c.get());
		EXPECT_GE(os, 100u) << align;
#if !DSLAB_CHECKED
		EXPECT_EQ(os, RTE_ALIGN_CEIL((size_t)100, align)) << "size rounded to alignment " << align;
#endif
		EXPECT_EQ(stats_of(c.get()).object_size, os);
		std::vector<void *> v(300);
		ASSERT_EQ(dslab_alloc_bulk(c.get(), 0, 300, v.data()), 300u);
		for (void *p : v) {
			ASSERT_EQ((uintptr_t)p % align, 0u) << "align " << align << " object " << p;
			memset(p, 0x5c, os); /* the whole usable size is writable */
		}
		expect_disjoint(v, os, name.c_str());
		dslab_free_bulk(c.get(), 300, v.data());
		EXPECT_EQ(stats_of(c.get()).objects_in_use, 0u);
	}

	/* Default alignment: 8, or the largest power of two dividing the size,
	 * up to 64. */
	struct {
		size_t size, align;
	} defaults[] = {{1, 8}, {12, 8}, {40, 8}, {48, 16}, {96, 32}, {64, 64}, {128, 64}, {4096, 64}};
	for (auto d : defaults) {
		std::string name = "cache_da" + std::to_string(d.size);
		CachePtr c = make_cache(name.c_str(), d.size, DSLAB_SHEAF_CAPACITY_AUTO);
		ASSERT_TRUE(c);
		EXPECT_GE(dslab_cache_obj_size(c.get()), d.size);
		std::vector<void *> v(100);
		ASSERT_EQ(dslab_alloc_bulk(c.get(), 0, 100, v.data()), 100u);
		for (void *p : v)
			ASSERT_EQ((uintptr_t)p % d.align, 0u) << "size " << d.size << " object " << p;
		expect_disjoint(v, dslab_cache_obj_size(c.get()), name.c_str());
		dslab_free_bulk(c.get(), 100, v.data());
	}

	/* DSLAB_CACHE_HWCACHE_ALIGN: cache-line aligned and rounded. */
	CachePtr hw = make_cache("cache_hw", 24, DSLAB_SHEAF_CAPACITY_AUTO, 0, 0,
				 DSLAB_CACHE_HWCACHE_ALIGN);
	ASSERT_TRUE(hw);
	EXPECT_GE(dslab_cache_obj_size(hw.get()), 24u);
#if !DSLAB_CHECKED
	EXPECT_EQ(dslab_cache_obj_size(hw.get()), (size_t)RTE_CACHE_LINE_SIZE);
#endif
	std::vector<void *> v(200);
	for (auto &p : v) {
		p = dslab_alloc(hw.get(), 0);
		ASSERT_NE(p, nullptr);
		ASSERT_EQ((uintptr_t)p % RTE_CACHE_LINE_SIZE, 0u) << p;
	}
	expect_disjoint(v, RTE_CACHE_LINE_SIZE, "hwcache");
	for (void *p : v)
		dslab_free(hw.get(), p);

	/* The largest object size works. */
	CachePtr big = make_cache("cache_maxobj", DSLAB_CACHE_MAX_OBJ_SIZE, DSLAB_SHEAF_CAPACITY_AUTO);
	ASSERT_TRUE(big);
	EXPECT_GE(dslab_cache_obj_size(big.get()), (size_t)DSLAB_CACHE_MAX_OBJ_SIZE);
	void *b1 = dslab_alloc(big.get(), 0), *b2 = dslab_alloc(big.get(), 0);
	ASSERT_NE(b1, nullptr);
	ASSERT_NE(b2, nullptr);
	memset(b1, 1, DSLAB_CACHE_MAX_OBJ_SIZE);
	memset(b2, 2, DSLAB_CACHE_MAX_OBJ_SIZE);
	EXPECT_EQ(static_cast<char *>(b1)[DSLAB_CACHE_MAX_OBJ_SIZE - 1], 1);
	dslab_free(big.get(), b1);
	dslab_free(big.get(), b2);
	EXPECT_EQ(stats_of(big.get()).objects_in_use, 0u);
}

/*
 * DSLAB_CACHE_ZERO and DSLAB_F_ZERO: memory is zero even when the object
 * was dirtied and freed before, on every allocation path (main sheaf, bulk,
 * remote socket, prefilled sheaf, thread with no lcore id).
 */
void check_zero_paths(dslab_cache *c, unsigned flags, const char *what)
{
	const size_t sz = dslab_cache_obj_size(c);
	auto zero = [&](void *p) {
		auto *b = static_cast<unsigned char *>(p);
		for (size_t i = 0; i < sz; i++)
			if (b[i] != 0)
				return false;
		return true;
	};
	std::set<void *> dirtied;
	/* Single objects, three rounds: each round gets the objects the last
	 * one dirtied and freed. */
	size_t reused = 0;
	for (int round = 0; round < 3; round++) {
		std::vector<void *> v(300);
		for (auto &p : v) {
			p = dslab_alloc(c, flags);
			ASSERT_NE(p, nullptr);
			ASSERT_TRUE(zero(p)) << what << " round " << round << " object " << p;
			reused += dirtied.count(p);
			memset(p, 0xa5, sz);
		}
		for (void *p : v) {
			dirtied.insert(p);
			dslab_free(c, p);
		}
	}
	EXPECT_GT(reused, 0u) << what << ": the test never saw a dirtied object again";

	std::vector<void *> v(40);
	ASSERT_EQ(dslab_alloc_bulk(c, flags, 40, v.data()), 40u);
	for (void *p : v) {
		ASSERT_TRUE(zero(p)) << what << " bulk " << p;
		memset(p, 0xa5, sz);
	}
	dslab_free_bulk(c, 40, v.data());
	ASSERT_EQ(dslab_alloc_bulk(c, flags, 40, v.data()), 40u);
	for (void *p : v)
		ASSERT_TRUE(zero(p)) << what << " bulk again " << p;
	dslab_free_bulk(c, 40, v.data());

	/* Remote socket (logical socket 1), twice. */
	for (int i = 0; i < 2; i++) {
		void *p = dslab_alloc_node(c, flags, 1);
		ASSERT_NE(p, nullptr);
		ASSERT_TRUE(zero(p)) << what << " alloc_node";
		memset(p, 0xa5, sz);
		dslab_free(c, p);
	}

	/* Prefilled sheaf: objects dirtied and freed, then prefilled. */
	ASSERT_EQ(dslab_alloc_bulk(c, 0, 40, v.data()), 40u);
	for (void *p : v)
		memset(p, 0xa5, sz);
	dslab_free_bulk(c, 40, v.data());
	dslab_sheaf *sh = dslab_prefill_sheaf(c, flags, 10);
	ASSERT_NE(sh, nullptr);
	for (int i = 0; i < 10; i++) {
		void *p = dslab_alloc_from_sheaf(c, flags, sh);
		ASSERT_NE(p, nullptr);
		EXPECT_TRUE(zero(p)) << what << " alloc_from_sheaf";
		v[i] = p;
	}
	dslab_return_sheaf(c, sh);
	dslab_free_bulk(c, 10, v.data());

	/* A thread with no lcore id. */
	std::thread t([&] {
		for (int i = 0; i < 2; i++) {
			void *p = dslab_alloc(c, flags);
			ASSERT_NE(p, nullptr);
			EXPECT_TRUE(zero(p)) << what << " no lcore id";
			memset(p, 0xa5, sz);
			dslab_free(c, p);
		}
	});
	t.join();
	EXPECT_EQ(stats_of(c).objects_in_use, 0u);
}

TEST(Cache, ZeroingCacheFlag)
{
	CachePtr z = make_cache("cache_zero", 200, 16, 2, 2, DSLAB_CACHE_ZERO);
	ASSERT_TRUE(z);
	check_zero_paths(z.get(), 0, "DSLAB_CACHE_ZERO");
}

TEST(Cache, ZeroingAllocFlag)
{
	CachePtr n = make_cache("cache_fzero", 200, 16, 2, 2);
	ASSERT_TRUE(n);
	check_zero_paths(n.get(), DSLAB_F_ZERO, "DSLAB_F_ZERO");
}

TEST(Cache, DestroyReportsLeakAndKeepsMemory)
{
	LogCapture log;
	/* The cache's descriptors are kept on purpose (dslab.h: leaked
	 * objects' memory is kept): not LeakSanitizer's business. */
	std::vector<void *> v(500);
	LSAN_DISABLE();
	dslab_cache *c = dslab_cache_create("cache_leak", 256, nullptr);
	auto *kept = c ? static_cast<char *>(dslab_alloc(c, 0)) : nullptr;
	unsigned got = c ? dslab_alloc_bulk(c, 0, 500, v.data()) : 0;
	LSAN_ENABLE();
	ASSERT_NE(c, nullptr);
	ASSERT_NE(kept, nullptr);
	ASSERT_EQ(got, 500u);
	dslab_free_bulk(c, 500, v.data());
	dslab_cache_destroy(c);
	std::string t = log.text();
	EXPECT_NE(t.find("cache_leak"), std::string::npos) << t;
	EXPECT_NE(t.find("leaked"), std::string::npos) << t;
	EXPECT_EQ(dslab_cache_lookup("cache_leak"), nullptr);
	memset(kept, 0x5a, 256); /* the memory is still there */
	EXPECT_EQ(kept[255], 0x5a);

	/* Without leaks destroy says nothing. */
	LogCapture quiet;
	c = dslab_cache_create("cache_noleak", 256, nullptr);
	ASSERT_NE(c, nullptr);
	ASSERT_EQ(dslab_alloc_bulk(c, 0, 500, v.data()), 500u);
	dslab_free_bulk(c, 500, v.data());
	dslab_cache_destroy(c);
	EXPECT_EQ(quiet.text().find("leak"), std::string::npos) << quiet.text();
}

TEST(Cache, ShrinkGivesMemoryBack)
{
	CachePtr c = make_cache("cache_shrink", 512, DSLAB_SHEAF_CAPACITY_AUTO);
	ASSERT_TRUE(c);
	std::vector<void *> v(20000); /* about 10 MiB: several chunks */
	ASSERT_EQ(dslab_alloc_bulk(c.get(), 0, (unsigned)v.size(), v.data()), v.size());
	struct dslab_cache_stats full = stats_of(c.get());
	EXPECT_GE(full.bytes_held, v.size() * 512);
	EXPECT_EQ(full.objects_in_use, v.size());
	void *keep = v.back(); /* one live object survives the shrink */
	memset(keep, 0x77, 512);
	v.pop_back();
	for (void *p : v)
		dslab_free(c.get(), p);

	struct dslab_cache_stats before = stats_of(c.get());
	EXPECT_GT(before.objects_in_sheaves, 0u) << "frees went into sheaves first";
	size_t released = dslab_cache_shrink(c.get());
	struct dslab_cache_stats after = stats_of(c.get());
	EXPECT_GT(released, 0u);
	EXPECT_LT(after.bytes_held, before.bytes_held);
	EXPECT_GE(released, before.bytes_held - after.bytes_held);
	EXPECT_LT(after.slabs, before.slabs);
	EXPECT_GT(after.free_slab, before.free_slab);
	EXPECT_EQ(after.objects_in_use, 1u);
	EXPECT_EQ(after.objects_in_sheaves, 0u) << "only this lcore used the cache";
	EXPECT_EQ(static_cast<unsigned char *>(keep)[511], 0x77);

	/* Nothing left to give back but the live object's chunk. */
	EXPECT_EQ(dslab_cache_shrink(c.get()), 0u);
	/* The cache still works, and all of it goes back at the end. */
	std::vector<void *> w(5000);
	ASSERT_EQ(dslab_alloc_bulk(c.get(), 0, 5000, w.data()), 5000u);
	dslab_free_bulk(c.get(), 5000, w.data());
	dslab_free(c.get(), keep);
	EXPECT_GT(dslab_cache_shrink(c.get()), 0u);
	EXPECT_EQ(stats_of(c.get()).objects_in_use, 0u);
	EXPECT_EQ(stats_of(c.get()).bytes_held, 0u);
}

} // namespace
